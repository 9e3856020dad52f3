/*
 * tests/tools/lambda_sleepd.c - a stand-in for the Lambda Invoke API for the
 * benchmarks (tests/bench/lambda.sh): one epoll loop in C, so that thousands of
 * invocations held open at once cost the stand-in little CPU and it is not what a
 * fan-out measures.  A test fixture only: the product talks to Lambda.
 *
 *   lambda_sleepd --port-file FILE [--delay-ms D] [--ggdir DIR] [--concurrency K]
 *                 [--straggle-every N] [--straggle-factor F] [--parent PID]
 *                 [--access-key ID] [--secret KEY] [--region R] [--log FILE]
 *                 [--head-ms H] [--s3-ms L]
 *
 * Listens on 127.0.0.1 and a port the kernel picks (backlog: the kernel's
 * somaxconn), writes "http://127.0.0.1:PORT" to FILE.  Connections are kept
 * alive, requests answered one at a time per connection.
 *
 * POST /2015-03-31/functions/NAME/invocations: the SigV4 signature is checked
 * (recomputed with runtime/engine/sigv4.h from the headers the Authorization names,
 * the body's SHA-256 and X-Amz-Date; credentials S3RVER/S3RVER, us-east-1, service
 * lambda by default): 403 InvalidSignatureException when it differs.  Past K
 * invocations in flight (--concurrency, default 100000): 429
 * TooManyRequestsException.  Otherwise the answer, a worker's report
 * (lambda_proto.h: ran, status 0, level 3), is sent exactly D ms (--delay-ms)
 * after the request was read; with --ggdir, the payload's thunk is read from that
 * store and its arguments decide: "ms=N" sleeps N ms instead of D, each "out=HEX"
 * is the value of the thunk's next declared output (mode 0644), as if the worker
 * had run it and uploaded that blob.  With --straggle-every N, every N-th
 * invocation received (the N/2-th, then every N) sleeps F times longer
 * (--straggle-factor, 10): a straggler on purpose.  An invocation whose client
 * went away keeps its slot until its time is up, as a Lambda environment stays
 * busy until its function returns.  Every other request is the bucket's
 * (s3_answer below: blobs served from --ggdir's store, for the engine's S3
 * traffic).
 *
 * Stop keys (lambda_proto.h): a PUT of an object under stop/ ends the invocations
 * in flight whose payload names that key as the Lambda worker would: at its first
 * look for the key (lambda_stop_first, then lambda_stop_next from the invocation's
 * start) that comes after the PUT, plus --head-ms (20: an S3 HEAD from Lambda),
 * answered as the worker's error Gg.Superseded; the environment is free from then.
 *
 * --log FILE: a line per invocation taken, "RX_MS MS STRAGGLER LABEL" (CLOCK_MONOTONIC
 * ms when read, how long it is held, 1 for a planted straggler, the thunk's first
 * output's file name or "-"), for a look at a schedule after the fact; one
 * "RX_MS MS S LABEL" when a stop key ends an invocation read at RX_MS after MS ms;
 * and one "RX_MS 0 H LABEL" per HEAD, "RX_MS 0 P LABEL" per PUT, of a thunk's blob
 * (the engine puts a fresh portable thunk when it takes it from the builder,
 * before it invokes).
 *
 * GET /_stats: {"invocations":I,"answered":A,"throttled":T,"bad_signatures":B,
 * "stragglers":S,"inflight":F,"max_inflight":M,"first_rx_ms":X,"last_rx_ms":Y,
 * "cpu_ms":C} (X and Y: CLOCK_REALTIME ms of the first and last invocation read
 * since the last POST /_reset, which clears the counts).
 * Stops on SIGTERM/SIGINT, or when --parent is gone.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "runtime/engine/lambda_proto.h"
#include "runtime/engine/sigv4.h"
#include "runtime/ir/thunk.h"
#include "runtime/lib/util.h"
#include "runtime/store/store.h"

#define MAX_REQ (1u << 20)

struct conn {
	int fd;
	char *buf;
	size_t len, cap;
	char *out;              /* what is left to write */
	size_t outlen, outoff;
	bool waiting;           /* an answer is due on the heap */
	uint64_t gen;           /* bumped when the connection closes */
};

struct pend {
	uint64_t due;
	struct conn *c;
	uint64_t gen;
	char *resp;
	size_t resp_len;
	bool dead;              /* replaced by an earlier answer (a stop key) */
	bool s3;                /* an S3 answer held --s3-ms, not an invocation */
	uint64_t rx;            /* when the invocation was read */
	unsigned check_ms;      /* its payload's stop_check_ms */
	char stop[LAMBDA_STOP_MAX]; /* its payload's stop key, "" for none */
	char label[64];
};

static struct {
	unsigned delay_ms, concurrency, straggle_every, straggle_factor, head_ms, s3_ms;
	const char *key, *secret, *region;
	struct store st;
	bool have_store;
	int ep;
	struct pend *heap;
	size_t nheap, aheap;
	uint64_t invocations, answered, throttled, bad_sig, stragglers, inflight, max_inflight;
	uint64_t stopped;       /* invocations ended by a stop key */
	struct lambda_payload pl; /* the last invocation's payload */
	uint64_t first_rx, last_rx;
	FILE *log;
	char label[256];        /* the last answered thunk's first output's file name */
} S;

/* Objects PUT under a blob's name (a fresh thunk's, the engine's): kept, as a
 * bucket would, for HEAD, GET and the invocations that name them. */
struct obj {
	struct obj *next;
	struct gg_hash h;
	size_t len;
	char data[];
};
#define OBJ_BUCKETS 65536
static struct obj *objs[OBJ_BUCKETS];

static struct obj **obj_slot(const struct gg_hash *h)
{
	uint32_t k;
	memcpy(&k, h->bytes, sizeof(k));
	return &objs[k % OBJ_BUCKETS];
}

static const struct obj *obj_find(const struct gg_hash *h)
{
	for (const struct obj *o = *obj_slot(h); o; o = o->next)
		if (hash_equal(&o->h, h))
			return o;
	return NULL;
}

static void obj_put(const struct gg_hash *h, const char *body, size_t len)
{
	struct obj **slot = obj_slot(h), *o;
	if (obj_find(h) || !(o = malloc(sizeof(*o) + len)))
		return;
	o->h = *h;
	o->len = len;
	memcpy(o->data, body, len);
	o->next = *slot;
	*slot = o;
}

/* Thunk h, from the objects PUT, else from the store.  0 or -errno. */
static int load_thunk(const struct gg_hash *h, struct thunk *th)
{
	const struct obj *o = obj_find(h);
	if (o)
		return thunk_decode(o->data, o->len, th);
	return S.have_store ? store_load_thunk(&S.st, h, th) : -ENOENT;
}

static volatile sig_atomic_t stop;
static void on_sig(int s) { (void)s; stop = 1; }

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- the heap of answers due --------------------------------------------------- */

static void heap_push(struct pend p)
{
	size_t i;
	if (S.nheap == S.aheap) {
		S.aheap = S.aheap ? 2 * S.aheap : 4096;
		S.heap = realloc(S.heap, S.aheap * sizeof(*S.heap));
		if (!S.heap)
			abort();
	}
	for (i = S.nheap++; i > 0 && S.heap[(i - 1) / 2].due > p.due; i = (i - 1) / 2)
		S.heap[i] = S.heap[(i - 1) / 2];
	S.heap[i] = p;
}

static struct pend heap_pop(void)
{
	struct pend top = S.heap[0], last = S.heap[--S.nheap];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= S.nheap)
			break;
		if (c + 1 < S.nheap && S.heap[c + 1].due < S.heap[c].due)
			c++;
		if (S.heap[c].due >= last.due)
			break;
		S.heap[i] = S.heap[c];
		i = c;
	}
	if (S.nheap)
		S.heap[i] = last;
	return top;
}

/* ---- connections ------------------------------------------------------------------- */

static void conn_close(struct conn *c)
{
	epoll_ctl(S.ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	c->gen++;
	free(c->buf);
	free(c->out);
	c->buf = c->out = NULL;
	if (!c->waiting)
		free(c);
	/* else the heap's entry frees it when it comes due (its gen no longer matches) */
}

static int conn_flush(struct conn *c)
{
	while (c->outoff < c->outlen) {
		ssize_t w = write(c->fd, c->out + c->outoff, c->outlen - c->outoff);
		if (w < 0 && errno == EAGAIN) {
			struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.ptr = c };
			epoll_ctl(S.ep, EPOLL_CTL_MOD, c->fd, &ev);
			return 0;
		}
		if (w <= 0)
			return -1;
		c->outoff += (size_t)w;
	}
	free(c->out);
	c->out = NULL;
	c->outlen = c->outoff = 0;
	{
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
		epoll_ctl(S.ep, EPOLL_CTL_MOD, c->fd, &ev);
	}
	return 0;
}

static char *response(int status, const char *reason, const char *extra, const char *body,
		      size_t *len)
{
	char *r = NULL;
	int n = asprintf(&r, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n%s"
			 "Content-Length: %zu\r\n\r\n%s", status, reason, extra ? extra : "",
			 strlen(body), body);
	if (n < 0)
		abort();
	*len = (size_t)n;
	return r;
}

/* Send now (no answer due on the heap). */
static int send_now(struct conn *c, char *resp, size_t len)
{
	c->out = resp;
	c->outlen = len;
	c->outoff = 0;
	return conn_flush(c);
}

/* The value of header `name` (lowercase) in the head [p, end), into out. */
static bool head_value(const char *p, const char *end, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name);
	const char *l = memchr(p, '\n', (size_t)(end - p));
	while (l && l + 1 < end) {
		const char *s = l + 1, *e = memchr(s, '\n', (size_t)(end - s));
		if (!e)
			e = end;
		if ((size_t)(e - s) > nl && !strncasecmp(s, name, nl) && s[nl] == ':') {
			const char *v = s + nl + 1, *ve = e;
			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && (ve[-1] == '\r' || ve[-1] == ' '))
				ve--;
			snprintf(out, cap, "%.*s", (int)(ve - v), v);
			return true;
		}
		l = e < end ? e : NULL;
	}
	return false;
}

/* Is the request signed right?  Recomputed from what the Authorization names. */
static bool signed_right(const char *method, const char *path, const char *head,
			 const char *hend, const char *body, size_t blen)
{
	char auth[1024], date[32], names[512], vals[8][512], sha[SIGV4_SHA256_HEX_SIZE];
	char *cred, *sh, *sig, *tok, *save = NULL;
	struct sigv4_header hv[8];
	struct sigv4_credentials cr = { S.key, S.secret, NULL };
	struct sigv4_result res = SIGV4_RESULT_INIT;
	struct tm tm = { 0 };
	size_t nh = 0;
	bool ok;

	if (!head_value(head, hend, "authorization", auth, sizeof(auth)) ||
	    !head_value(head, hend, "x-amz-date", date, sizeof(date)) ||
	    !(cred = strstr(auth, "Credential=")) || !(sh = strstr(auth, "SignedHeaders=")) ||
	    !(sig = strstr(auth, "Signature=")))
		return false;
	cred += 11;
	if (strncmp(cred, S.key, strlen(S.key)) || cred[strlen(S.key)] != '/')
		return false;
	snprintf(names, sizeof(names), "%.*s", (int)strcspn(sh + 14, ", "), sh + 14);
	for (tok = strtok_r(names, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
		if (!strcmp(tok, "x-amz-date"))
			continue;
		if (nh == 8 || !head_value(head, hend, tok, vals[nh], sizeof(vals[nh])))
			return false;
		hv[nh].name = tok;
		hv[nh].value = vals[nh];
		nh++;
	}
	if (!strptime(date, "%Y%m%dT%H%M%SZ", &tm) || sigv4_sha256_hex(body, blen, sha) < 0)
		return false;
	struct sigv4_request rq = { .method = method, .path = path, .headers = hv, .nheaders = nh,
				    .payload_hash = sha, .region = S.region, .service = "lambda",
				    .when = timegm(&tm), .flags = SIGV4_RULES_DEFAULT };
	if (sigv4_sign(&rq, &cr, &res) < 0)
		return false;
	ok = !strncmp(sig + 10, res.signature, 64);
	sigv4_result_release(&res);
	return ok;
}

/* The report for the payload; *ms: how long to wait before sending it. */
static char *invocation_answer(const char *body, size_t blen, unsigned *ms)
{
	struct lambda_payload pl;
	char *blobs = NULL, hex[GG_HASH_HEX_SIZE];
	struct sbuf sb = SBUF_INIT;
	struct thunk th = THUNK_INIT;
	size_t nout = 0;

	*ms = S.delay_ms;
	strcpy(S.label, "-");
	if (lambda_payload_parse(body, blen, &pl, &blobs) < 0)
		return NULL;
	free(blobs);
	S.pl = pl;
	sbuf_addf(&sb, "{\"thunk\":\"%s\",\"ran\":true,\"status\":0,\"level\":3,\"outputs\":[",
		  hash_to_hex(&pl.thunk, hex));
	if (load_thunk(&pl.thunk, &th) == 0) {
		if (th.outputs.n) {
			const char *b = strrchr(th.outputs.v[0], '/');
			snprintf(S.label, sizeof(S.label), "%s", b ? b + 1 : th.outputs.v[0]);
		}
		for (size_t i = 0; i < th.argv.n; i++) {
			const char *a = th.argv.v[i];
			if (!strncmp(a, "ms=", 3))
				*ms = (unsigned)strtoul(a + 3, NULL, 10);
			else if (!strncmp(a, "out=", 4) && nout < th.outputs.n) {
				sbuf_addf(&sb, "%s{\"path\":\"%s\",\"value\":\"%s\",\"mode\":33188}",
					  nout ? "," : "", th.outputs.v[nout], a + 4);
				nout++;
			}
		}
		thunk_release(&th);
	}
	sbuf_addf(&sb, "],\"error\":null,\"undeclared\":null,\"stdout_tail\":\"\",\"stderr_tail\":\"\","
		       "\"times_ms\":{\"fetch\":0,\"run\":%u,\"store\":0,\"upload\":0}}", *ms);
	return sbuf_error(&sb) ? NULL : sbuf_detach(&sb, NULL);
}

static char *stats_json(void)
{
	struct rusage ru;
	char *s = NULL;
	getrusage(RUSAGE_SELF, &ru);
	if (asprintf(&s, "{\"invocations\":%llu,\"answered\":%llu,\"throttled\":%llu,"
		     "\"bad_signatures\":%llu,\"stragglers\":%llu,\"inflight\":%llu,"
		     "\"max_inflight\":%llu,\"first_rx_ms\":%llu,\"last_rx_ms\":%llu,\"cpu_ms\":%llu,"
		     "\"stopped\":%llu}",
		     (unsigned long long)S.invocations, (unsigned long long)S.answered,
		     (unsigned long long)S.throttled, (unsigned long long)S.bad_sig,
		     (unsigned long long)S.stragglers, (unsigned long long)S.inflight,
		     (unsigned long long)S.max_inflight, (unsigned long long)S.first_rx,
		     (unsigned long long)S.last_rx,
		     (unsigned long long)(ru.ru_utime.tv_sec * 1000 + ru.ru_utime.tv_usec / 1000 +
					  ru.ru_stime.tv_sec * 1000 + ru.ru_stime.tv_usec / 1000),
		     (unsigned long long)S.stopped) < 0)
		abort();
	return s;
}

/*
 * Stop key `key` was put now: every invocation in flight that watches it answers
 * Gg.Superseded at its worker's first look after now (+ head_ms), if that comes
 * before its own answer.
 */
static void stop_key(const char *key)
{
	uint64_t now = now_ms();
	size_t n = S.nheap;
	char *q = strchr(key, '?');
	size_t klen = q ? (size_t)(q - key) : strlen(key);
	for (size_t i = 0; i < n; i++) {
		struct pend *p = &S.heap[i], np;
		uint64_t look;
		size_t rlen;
		if (p->dead || !p->stop[0] || strlen(p->stop) != klen || memcmp(p->stop, key, klen))
			continue;
		look = lambda_stop_first(p->check_ms);
		while (p->rx + look < now)
			look = lambda_stop_next(look + S.head_ms);
		if (p->rx + look + S.head_ms >= p->due)
			continue;
		np = *p;
		np.dead = false;
		np.due = p->rx + look + S.head_ms;
		np.resp = response(200, "OK", "X-Amz-Function-Error: Unhandled\r\n",
				   "{\"errorMessage\":\"another invocation answered first\","
				   "\"errorType\":\"Gg.Superseded\"}", &rlen);
		np.resp_len = rlen;
		free(p->resp);
		p->resp = NULL;
		p->dead = true;
		S.stopped++;
		if (S.log)
			fprintf(S.log, "%llu %llu S %s\n", (unsigned long long)np.rx,
				(unsigned long long)(np.due - np.rx), np.label);
		heap_push(np); /* (may move the heap: p is not used after) */
	}
}

/* A log line for thunk h's blob, asked about (H) or put (P) when the engine takes
 * the thunk: "NOW 0 KIND LABEL". */
static void log_thunk(char kind, const struct gg_hash *h)
{
	struct thunk th = THUNK_INIT;
	if (load_thunk(h, &th) == 0 && th.outputs.n) {
		const char *b = strrchr(th.outputs.v[0], '/');
		fprintf(S.log, "%llu 0 %c %s\n", (unsigned long long)now_ms(), kind,
			b ? b + 1 : th.outputs.v[0]);
	}
	thunk_release(&th);
}

/*
 * The bucket, for the engine's S3 traffic (not checked: the benchmark is about
 * scheduling): an object whose name ends in a blob hash is there when it was PUT
 * (kept in memory) or the store (--ggdir) holds that blob (HEAD: its size; GET:
 * its bytes); anything else is absent (404 NoSuchKey), a listing is empty; PUT
 * and DELETE succeed (a PUT under another name, and DELETE, keep nothing).  With
 * --s3-ms L, every answer is sent L ms after its request was read (a real
 * bucket's latency; 0, the default: at once).
 */
static int s3_send(struct conn *c, char *resp, size_t len)
{
	if (!S.s3_ms)
		return send_now(c, resp, len);
	c->waiting = true;
	heap_push((struct pend){ .due = now_ms() + S.s3_ms, .c = c, .gen = c->gen, .resp = resp,
				 .resp_len = len, .s3 = true });
	return 0;
}

static int s3_answer(struct conn *c, const char *method, const char *path, const char *in,
		     size_t inlen)
{
	const char *name = strrchr(path, '/');
	char *resp, *body = NULL, extra[128];
	const struct obj *o = NULL;
	struct gg_hash h;
	size_t rlen = 0;
	long size = -1;

	if (!strcmp(method, "PUT")) {
		const char *k = strstr(path, "/stop/");
		if (k) {
			stop_key(k + 1);
		} else if (name && hash_from_hex_str(name + 1, &h) == 0) {
			obj_put(&h, in, inlen);
			if (S.log && h.kind == GG_HASH_THUNK)
				log_thunk('P', &h);
		}
		resp = response(200, "OK", "ETag: \"0\"\r\n", "", &rlen);
		return s3_send(c, resp, rlen);
	}
	if (!strcmp(method, "GET") && strstr(path, "list-type=2")) { /* an empty bucket */
		resp = response(200, "OK", NULL, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
				"<ListBucketResult><KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys>"
				"<IsTruncated>false</IsTruncated></ListBucketResult>", &rlen);
		return s3_send(c, resp, rlen);
	}
	if (!strcmp(method, "DELETE")) {
		resp = response(204, "No Content", NULL, "", &rlen);
		return s3_send(c, resp, rlen);
	}
	if (S.log && name && !strcmp(method, "HEAD") && hash_from_hex_str(name + 1, &h) == 0 &&
	    h.kind == GG_HASH_THUNK)
		log_thunk('H', &h);
	if (name && hash_from_hex_str(name + 1, &h) == 0 && (o = obj_find(&h))) {
		size = (long)o->len;
		if (!strcmp(method, "GET") && (body = malloc(o->len + 1)))
			memcpy(body, o->data, o->len);
	} else if (S.have_store && name && hash_from_hex_str(name + 1, &h) == 0) {
		/* from the pack where the blob is packed: a HEAD costs no file (as an
		 * S3 HEAD costs its client nothing but the round trip) */
		const void *bytes;
		size_t len;
		char *owned = NULL;
		if (store_blob_bytes(&S.st, &h, (size_t)1 << 30, &bytes, &len, &owned) == 0) {
			size = (long)len;
			if (!strcmp(method, "GET") && (body = malloc(len + 1)))
				memcpy(body, bytes, len);
			else if (!strcmp(method, "GET"))
				size = -1;
		}
		free(owned);
	}
	if (size < 0) {
		free(body);
		resp = response(404, "Not Found", "x-amz-error-code: NoSuchKey\r\n",
				!strcmp(method, "HEAD") ? "" : "<Error><Code>NoSuchKey</Code></Error>", &rlen);
		return s3_send(c, resp, rlen);
	}
	snprintf(extra, sizeof(extra), "Content-Length: %ld\r\n", size);
	if (!strcmp(method, "HEAD")) {
		if (asprintf(&resp, "HTTP/1.1 200 OK\r\nETag: \"0\"\r\n%s\r\n", extra) < 0)
			abort();
		rlen = strlen(resp);
	} else {
		if (asprintf(&resp, "HTTP/1.1 200 OK\r\nETag: \"0\"\r\n%s\r\n", extra) < 0)
			abort();
		rlen = strlen(resp);
		resp = realloc(resp, rlen + (size_t)size);
		if (!resp)
			abort();
		memcpy(resp + rlen, body, (size_t)size);
		rlen += (size_t)size;
	}
	free(body);
	return s3_send(c, resp, rlen);
}

/* One whole request is in c->buf (head ends at hend, body of blen bytes). */
static int handle(struct conn *c, char *hend, size_t blen)
{
	char method[16] = "", path[512] = "", *body = hend + 4, *resp, *ans;
	size_t rlen;
	unsigned ms;
	uint64_t now = now_ms();

	if (sscanf(c->buf, "%15s %511s", method, path) != 2)
		return -1;
	if (!strcmp(path, "/_stats")) {
		ans = stats_json();
		resp = response(200, "OK", NULL, ans, &rlen);
		free(ans);
		return send_now(c, resp, rlen);
	}
	if (!strcmp(path, "/_reset")) {
		S.invocations = S.answered = S.throttled = S.bad_sig = S.stragglers = S.stopped = 0;
		S.max_inflight = S.inflight;
		S.first_rx = S.last_rx = 0;
		resp = response(200, "OK", NULL, "{}", &rlen);
		return send_now(c, resp, rlen);
	}
	if (strcmp(method, "POST") || !strstr(path, "/invocations"))
		return s3_answer(c, method, path, body, blen);
	*hend = 0; /* the head as a string for the header lookups */
	if (!signed_right(method, path, c->buf, hend, body, blen)) {
		S.bad_sig++;
		resp = response(403, "Forbidden", "x-amzn-ErrorType: InvalidSignatureException\r\n",
				"{\"Type\":\"User\",\"message\":\"The request signature we calculated "
				"does not match the signature you provided.\"}", &rlen);
		return send_now(c, resp, rlen);
	}
	if (S.inflight >= S.concurrency) {
		S.throttled++;
		resp = response(429, "Too Many Requests", "x-amzn-ErrorType: TooManyRequestsException\r\n",
				"{\"Type\":\"User\",\"message\":\"Rate Exceeded.\",\"Reason\":"
				"\"ReservedFunctionConcurrentInvocationLimitExceeded\"}", &rlen);
		return send_now(c, resp, rlen);
	}
	S.invocations++;
	if (!S.first_rx)
		S.first_rx = wall_ms();
	S.last_rx = wall_ms();
	if (!(ans = invocation_answer(body, blen, &ms))) {
		resp = response(200, "OK", "X-Amz-Function-Error: Unhandled\r\n",
				"{\"errorMessage\":\"bad payload\",\"errorType\":\"Gg.BadPayload\"}", &rlen);
		return send_now(c, resp, rlen);
	}
	if (S.straggle_every && S.invocations % S.straggle_every == S.straggle_every / 2) {
		ms *= S.straggle_factor;
		S.stragglers++;
		if (S.log)
			fprintf(S.log, "%llu %u 1 %s\n", (unsigned long long)now, ms, S.label);
	} else if (S.log) {
		fprintf(S.log, "%llu %u 0 %s\n", (unsigned long long)now, ms, S.label);
	}
	resp = response(200, "OK", "X-Amz-Executed-Version: $LATEST\r\n", ans, &rlen);
	free(ans);
	S.inflight++;
	if (S.inflight > S.max_inflight)
		S.max_inflight = S.inflight;
	c->waiting = true;
	{
		struct pend p = { .due = now + ms, .c = c, .gen = c->gen, .resp = resp,
				  .resp_len = rlen, .rx = now, .check_ms = S.pl.stop_check_ms };
		memcpy(p.stop, S.pl.stop, sizeof(p.stop));
		snprintf(p.label, sizeof(p.label), "%s", S.label);
		heap_push(p);
	}
	return 0;
}

/* Parse what c->buf holds; handle a whole request.  -1: close the connection. */
static int conn_parse(struct conn *c)
{
	char *hend, cl[32];
	size_t blen = 0, need;

	if (c->waiting || c->out)
		return 0; /* one request at a time */
	if (!c->len || !(hend = memmem(c->buf, c->len, "\r\n\r\n", 4)))
		return c->len >= MAX_REQ ? -1 : 0;
	if (head_value(c->buf, hend, "content-length", cl, sizeof(cl)))
		blen = strtoul(cl, NULL, 10);
	need = (size_t)(hend - c->buf) + 4 + blen;
	if (need > MAX_REQ)
		return -1;
	if (c->len < need) {
		char ex[32];
		if (head_value(c->buf, hend, "expect", ex, sizeof(ex)) && !strcasecmp(ex, "100-continue") &&
		    c->len == (size_t)(hend - c->buf) + 4) {
			static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
			if (write(c->fd, cont, sizeof(cont) - 1) < 0)
				return -1;
		}
		return 0;
	}
	{
		char *copy = malloc(need + 1);
		int ret;
		if (!copy)
			return -1;
		memcpy(copy, c->buf, need);
		copy[need] = 0;
		memmove(c->buf, c->buf + need, c->len - need);
		c->len -= need;
		/* handle() works on a copy: c->buf may take the next request meanwhile */
		char *saved = c->buf;
		c->buf = copy;
		ret = handle(c, copy + (hend - saved), blen);
		c->buf = saved;
		free(copy);
		return ret;
	}
}

static void conn_read(struct conn *c)
{
	for (;;) {
		ssize_t r;
		if (c->cap - c->len < 4096) {
			size_t ncap = c->cap ? 2 * c->cap : 8192;
			char *nb = ncap > 2 * MAX_REQ ? NULL : realloc(c->buf, ncap);
			if (!nb) {
				conn_close(c);
				return;
			}
			c->buf = nb;
			c->cap = ncap;
		}
		r = read(c->fd, c->buf + c->len, c->cap - c->len);
		if (r < 0 && errno == EAGAIN)
			break;
		if (r <= 0) {
			conn_close(c);
			return;
		}
		c->len += (size_t)r;
	}
	if (conn_parse(c) < 0)
		conn_close(c);
}

static void fire_due(void)
{
	uint64_t now = now_ms();
	while (S.nheap && S.heap[0].due <= now) {
		struct pend p = heap_pop();
		struct conn *c = p.c;
		if (p.dead)
			continue; /* its stop key's answer is on the heap */
		if (!p.s3)
			S.inflight--;
		c->waiting = false;
		if (p.gen != c->gen || c->fd < 0) { /* the client went away */
			free(p.resp);
			if (c->fd < 0)
				free(c);
			continue;
		}
		S.answered += !p.s3;
		if (send_now(c, p.resp, p.resp_len) < 0 || conn_parse(c) < 0)
			conn_close(c);
	}
}

int main(int argc, char **argv)
{
	const char *port_file = NULL, *ggdir = NULL;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	struct rlimit rl;
	pid_t parent = 0;
	int lfd, one = 1;
	FILE *f;

	S.concurrency = 100000;
	S.straggle_factor = 10;
	S.head_ms = 20;
	S.key = "S3RVER";
	S.secret = "S3RVER";
	S.region = "us-east-1";
	for (int i = 1; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];
		if (!strcmp(k, "--port-file"))
			port_file = v;
		else if (!strcmp(k, "--delay-ms"))
			S.delay_ms = (unsigned)strtoul(v, NULL, 10);
		else if (!strcmp(k, "--ggdir"))
			ggdir = v;
		else if (!strcmp(k, "--head-ms"))
			S.head_ms = (unsigned)strtoul(v, NULL, 10);
		else if (!strcmp(k, "--s3-ms"))
			S.s3_ms = (unsigned)strtoul(v, NULL, 10);
		else if (!strcmp(k, "--concurrency"))
			S.concurrency = (unsigned)strtoul(v, NULL, 10);
		else if (!strcmp(k, "--straggle-every"))
			S.straggle_every = (unsigned)strtoul(v, NULL, 10);
		else if (!strcmp(k, "--straggle-factor"))
			S.straggle_factor = (unsigned)strtoul(v, NULL, 10);
		else if (!strcmp(k, "--parent"))
			parent = (pid_t)strtol(v, NULL, 10);
		else if (!strcmp(k, "--access-key"))
			S.key = v;
		else if (!strcmp(k, "--secret"))
			S.secret = v;
		else if (!strcmp(k, "--region"))
			S.region = v;
		else if (!strcmp(k, "--log")) {
			if (!(S.log = fopen(v, "w"))) {
				fprintf(stderr, "lambda_sleepd: cannot open '%s': %s\n", v, strerror(errno));
				return 2;
			}
		}
		else {
			fprintf(stderr, "lambda_sleepd: unknown option '%s'\n", k);
			return 2;
		}
	}
	if (!port_file) {
		fprintf(stderr, "usage: lambda_sleepd --port-file FILE [--delay-ms D] [--ggdir DIR] "
				"[--concurrency K] [--straggle-every N] [--straggle-factor F] "
				"[--parent PID] [--log FILE] [--head-ms H] [--s3-ms L]\n");
		return 2;
	}
	if (ggdir) {
		if (store_init(&S.st, ggdir, 0) < 0) {
			fprintf(stderr, "lambda_sleepd: cannot open the store '%s'\n", ggdir);
			return 2;
		}
		S.have_store = true;
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGTERM, on_sig);
	signal(SIGINT, on_sig);
	signal(SIGPIPE, SIG_IGN);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* the backlog: as deep as the kernel allows (net.core.somaxconn caps it) */
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lfd, 65535) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &al) < 0) {
		perror("lambda_sleepd: listen");
		return 2;
	}
	S.ep = epoll_create1(EPOLL_CLOEXEC);
	{
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
		epoll_ctl(S.ep, EPOLL_CTL_ADD, lfd, &ev);
	}
	f = fopen(port_file, "w");
	if (!f || fprintf(f, "http://127.0.0.1:%d\n", ntohs(a.sin_port)) < 0 || fclose(f)) {
		perror("lambda_sleepd: port file");
		return 2;
	}
	while (!stop) {
		struct epoll_event ev[512];
		int tmo = 1000, n;
		if (S.nheap) {
			uint64_t now = now_ms();
			tmo = S.heap[0].due <= now ? 0 : (int)(S.heap[0].due - now);
			if (tmo > 1000)
				tmo = 1000;
		}
		n = epoll_wait(S.ep, ev, 512, tmo);
		if (n < 0 && errno != EINTR)
			break;
		for (int i = 0; i < n; i++) {
			struct conn *c = ev[i].data.ptr;
			if (!c) {
				int fd;
				while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
					struct epoll_event cev = { .events = EPOLLIN };
					c = calloc(1, sizeof(*c));
					if (!c) {
						close(fd);
						continue;
					}
					c->fd = fd;
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					cev.data.ptr = c;
					epoll_ctl(S.ep, EPOLL_CTL_ADD, fd, &cev);
				}
				continue;
			}
			if (c->fd < 0)
				continue;
			if (ev[i].events & EPOLLOUT) {
				if (conn_flush(c) < 0) {
					conn_close(c);
					continue;
				}
				if (!c->out && conn_parse(c) < 0) {
					conn_close(c);
					continue;
				}
			}
			if (ev[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				conn_read(c);
		}
		fire_due();
		if (parent && kill(parent, 0) < 0 && errno == ESRCH)
			break;
	}
	return 0;
}
