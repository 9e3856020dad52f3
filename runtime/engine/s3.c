/*
 * s3.c - the S3 client (s3.h): signed requests on one curl-multi loop.
 *
 * States.  An item (one queued operation) is carried by transfers (struct xfer,
 * one HTTP request each, retried in place):
 *
 *   HEAD/GET/PUT/DELETE   one MAIN transfer;
 *   PUT > threshold       MP_CREATE -> MP_PART x N (in parallel) -> MP_COMPLETE;
 *                         any final failure or a cancel -> MP_ABORT once no part is
 *                         in flight (the item has failed already);
 *   LIST                  LIST pages one after the other (continuation token).
 *
 * A transfer is in exactly one place: the ready queue, the delayed list (waiting
 * out a backoff), or the multi handle (active).  At most max_conns are active.  An
 * item is finished when it has a result and no transfer of it remains; the batch
 * is done when every item is.
 *
 * The loop: http.h's, libcurl's socket interface (curl_multi_socket_action) over one
 * epoll set with libcurl's timer in it, so a wakeup costs the ready sockets, not every
 * transfer; connections stay in the multi handle's pool between requests and batches
 * (keep-alive).
 *
 * Bodies: uploads are read with pread() at (offset + position) from the item's
 * file, so parts and retries need no shared file position; downloads go into a
 * store writer (or a capped buffer) only on a 2xx status, error bodies into a small
 * capped buffer for the XML error.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "runtime/engine/aws_config.h"
#include "runtime/engine/http.h"
#include "runtime/engine/s3.h"
#include "runtime/engine/sigv4.h"
#include "runtime/store/store.h"
#include "runtime/lib/util.h"

#define ERR_BODY_CAP (64u << 10)   /* error and XML answers kept at most */
#define LIST_BODY_CAP (8u << 20)   /* one ListObjectsV2 page (1000 keys) */
#define MIN_PART_SIZE (5ULL << 20) /* S3's minimum for every part but the last */
#define MAX_PARTS 10000
#define POLL_MS 100
#define GET_FETCHES 2              /* a mismatching download is fetched once more */

struct s3_client {
	struct aws_config cfg;
	struct aws_s3_url url;
	struct aws_endpoint ep;
	char *display;   /* s3://bucket[/prefix] */
	char *ca_file, *ca_path;
	struct http_loop *loop; /* the multi handle, its sockets and timer (http.h) */
	unsigned max_conns;
	struct s3_retry_policy retry;
	uint64_t mp_threshold, part_size;
	volatile sig_atomic_t *cancel;
	uint64_t rnd;
	CURL **pool; /* idle easy handles */
	size_t npool;
};

enum xkind { X_MAIN, X_MP_CREATE, X_MP_PART, X_MP_COMPLETE, X_MP_ABORT, X_LIST };

struct item;
struct s3_batch;

struct xfer {
	struct s3_batch *b;
	struct item *it;
	enum xkind kind;
	unsigned part;        /* MP_PART: 1-based */
	uint64_t off, len;    /* upload body: range of the item's source */
	uint64_t pos;         /* upload: bytes handed to curl; download: bytes received */
	unsigned attempts;
	uint64_t first_ms, not_before;
	CURL *easy;
	struct curl_slist *hdrs;
	struct sbuf resp;     /* error / XML answer (capped) */
	struct sbuf reqbody;  /* MP_COMPLETE's body */
	long status;          /* known once headers arrived */
	bool sink_ok;         /* 2xx: body goes to the item's sink */
	int local_err;        /* a callback's local failure (-errno), ends the item */
	char etag[128];
	char curl_err[CURL_ERROR_SIZE];
	struct xfer *next;             /* ready queue or delayed list */
	struct xfer *anext, *aprev;    /* the active list */
};

struct item {
	enum s3_op op;
	char *key;            /* full key: PREFIX/name */
	char *name;
	/* PUT source */
	int fd;
	const char *src_buf;  /* owned copy (put_buf) */
	uint64_t size;
	/* GET sink */
	struct store *st;
	struct gg_hash want;
	size_t max;
	struct store_writer w;
	bool writing;
	struct sbuf body;
	unsigned fetches;
	/* LIST */
	s3_list_fn *fn;
	void *ctx;
	char *start_after, *token, *last;
	unsigned pages, max_pages;
	unsigned page_keys;   /* max-keys of each page */
	/* multipart */
	char *upload_id;
	char **etags;
	unsigned nparts, parts_ok;
	bool aborting;
	/* bookkeeping */
	unsigned inflight;    /* transfers of this item anywhere (queued, delayed, active) */
	bool has_result;
	bool counted;         /* finished and counted in the progress */
	struct s3_result res;
	void *udata;
};

struct s3_batch {
	struct s3_client *c;
	struct item *items;
	size_t n, alloc;
	bool started;
	struct xfer *ready, *ready_tail; /* FIFO */
	struct xfer *delayed;            /* unordered, small */
	struct xfer *act;                /* active (in the multi handle) */
	unsigned active;
	size_t unfinished;
	size_t *finished, nfinished;     /* item indexes in the order they finished */
	int cancel_seen;
	struct s3_progress prog;
};

/* ---- time, randomness ---------------------------------------------------------- */

static uint64_t next_rand(struct s3_client *c)
{
	/* xorshift64*: jitter only, nothing secret */
	c->rnd ^= c->rnd >> 12;
	c->rnd ^= c->rnd << 25;
	c->rnd ^= c->rnd >> 27;
	return c->rnd * 0x2545F4914F6CDD1DULL;
}

/* ---- the client --------------------------------------------------------------- */

int s3_client_new(const struct s3_opts *o, struct s3_client **out, char *err, size_t errlen)
{
	struct s3_client *c;
	const char *v;
	int ret;

	*out = NULL;
	if (!(c = calloc(1, sizeof(*c))))
		return -ENOMEM;
	c->cfg = (struct aws_config)AWS_CONFIG_INIT;
	c->url = (struct aws_s3_url)AWS_S3_URL_INIT;
	c->ep = (struct aws_endpoint)AWS_ENDPOINT_INIT;
	if ((ret = aws_s3_url_parse(o->url, &c->url, err, errlen)) < 0)
		goto out_free;
	if ((ret = aws_config_load(&c->cfg, AWS_CONFIG_NEED_CREDENTIALS, err, errlen)) < 0)
		goto out_free;
	if ((ret = aws_s3_endpoint(&c->cfg, c->url.bucket, &c->ep, err, errlen)) < 0)
		goto out_free;
	if (asprintf(&c->display, "s3://%s%s%s", c->url.bucket, *c->url.prefix ? "/" : "",
		     c->url.prefix) < 0) {
		c->display = NULL;
		ret = -ENOMEM;
		goto out_free;
	}
	/* libcurl's compiled-in CA bundle wins over OpenSSL's SSL_CERT_FILE: pass it on */
	if ((v = getenv("SSL_CERT_FILE")) && *v && !(c->ca_file = strdup(v))) {
		ret = -ENOMEM;
		goto out_free;
	}
	if ((v = getenv("SSL_CERT_DIR")) && *v && !(c->ca_path = strdup(v))) {
		ret = -ENOMEM;
		goto out_free;
	}
	c->max_conns = o->max_conns ? o->max_conns : S3_DEFAULT_CONNS;
	if (c->max_conns > S3_MAX_CONNS)
		c->max_conns = S3_MAX_CONNS;
	c->retry = o->retry;
	if (!c->retry.max_attempts)
		c->retry = (struct s3_retry_policy)S3_RETRY_POLICY_DEFAULT;
	c->mp_threshold = o->multipart_threshold ? o->multipart_threshold : S3_MULTIPART_THRESHOLD;
	c->part_size = o->part_size ? o->part_size : S3_PART_SIZE;
	if (c->part_size < MIN_PART_SIZE)
		c->part_size = MIN_PART_SIZE;
	c->cancel = o->cancel;
	if (getrandom(&c->rnd, sizeof(c->rnd), GRND_NONBLOCK) != (ssize_t)sizeof(c->rnd))
		c->rnd = clock_now_ms() ^ ((uint64_t)getpid() << 32);
	c->rnd |= 1;
	if ((ret = http_loop_new(c->max_conns, &c->loop)) < 0) {
		if (ret == -EIO)
			snprintf(err, errlen, "cannot initialise libcurl");
		else
			snprintf(err, errlen, "cannot make the transfer loop: %s", strerror(-ret));
		goto out_free;
	}
	*out = c;
	return 0;

out_free:
	s3_client_free(c);
	return ret;
}

void s3_client_free(struct s3_client *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->npool; i++)
		curl_easy_cleanup(c->pool[i]);
	free(c->pool);
	http_loop_free(c->loop);
	aws_endpoint_release(&c->ep);
	aws_s3_url_release(&c->url);
	aws_config_release(&c->cfg);
	free(c->display);
	free(c->ca_file);
	free(c->ca_path);
	free(c);
}

const char *s3_client_bucket(const struct s3_client *c) { return c->url.bucket; }
const char *s3_client_prefix(const struct s3_client *c) { return c->url.prefix; }
const char *s3_client_url(const struct s3_client *c) { return c->display; }
int s3_client_fd(const struct s3_client *c) { return http_loop_fd(c->loop); }

/* ---- batches: queuing --------------------------------------------------------- */

struct s3_batch *s3_batch_new(struct s3_client *c)
{
	struct s3_batch *b = calloc(1, sizeof(*b));
	if (b)
		b->c = c;
	return b;
}

static void item_release(struct item *it)
{
	if (it->fd >= 0)
		close(it->fd);
	if (it->writing)
		store_abort(&it->w);
	free((char *)it->src_buf);
	free(it->key);
	free(it->name);
	sbuf_release(&it->body);
	free(it->start_after);
	free(it->token);
	free(it->last);
	free(it->upload_id);
	for (unsigned i = 0; it->etags && i < it->nparts; i++)
		free(it->etags[i]);
	free(it->etags);
	free((char *)it->res.msg);
	free(it->res.body);
}

static void xfer_free(struct s3_client *c, struct xfer *x)
{
	if (x->easy) {
		http_loop_remove(c->loop, x->easy);
		curl_easy_reset(x->easy);
		if (c->npool < c->max_conns) {
			CURL **p = realloc(c->pool, (c->npool + 1) * sizeof(*p));
			if (p) {
				c->pool = p;
				c->pool[c->npool++] = x->easy;
				x->easy = NULL;
			}
		}
		if (x->easy)
			curl_easy_cleanup(x->easy);
	}
	curl_slist_free_all(x->hdrs);
	sbuf_release(&x->resp);
	sbuf_release(&x->reqbody);
	free(x);
}

void s3_batch_free(struct s3_batch *b)
{
	struct xfer *x, *nx;
	if (!b)
		return;
	/* transfers still in flight (a batch freed before it was done) */
	for (x = b->ready; x; x = nx) {
		nx = x->next;
		xfer_free(b->c, x);
	}
	for (x = b->delayed; x; x = nx) {
		nx = x->next;
		xfer_free(b->c, x);
	}
	while ((x = b->act)) {
		b->act = x->anext;
		xfer_free(b->c, x); /* removes its handle from the multi */
	}
	for (size_t i = 0; i < b->n; i++)
		item_release(&b->items[i]);
	free(b->items);
	free(b->finished);
	free(b);
}

static struct item *item_add(struct s3_batch *b, enum s3_op op, const char *name, long *idx)
{
	struct item *it;
	const char *prefix = b->c->url.prefix;
	int n;

	if (b->started) {
		*idx = -EBUSY;
		return NULL;
	}
	if (!name || (op != S3_OP_LIST && !*name) || strlen(name) > S3_KEY_MAX) {
		*idx = -EINVAL;
		return NULL;
	}
	if (b->n == b->alloc) {
		size_t na = b->alloc ? b->alloc * 2 : 64;
		struct item *v = realloc(b->items, na * sizeof(*v));
		if (!v) {
			*idx = -ENOMEM;
			return NULL;
		}
		b->items = v;
		b->alloc = na;
	}
	it = &b->items[b->n];
	memset(it, 0, sizeof(*it));
	it->op = op;
	it->fd = -1;
	it->w = (struct store_writer)STORE_WRITER_INIT;
	if (*prefix)
		n = asprintf(&it->key, "%s/%s", prefix, name);
	else
		n = asprintf(&it->key, "%s", name);
	if (n < 0 || !(it->name = strdup(name))) {
		if (n >= 0)
			free(it->key);
		*idx = -ENOMEM;
		return NULL;
	}
	if (strlen(it->key) > S3_KEY_MAX) {
		free(it->key);
		free(it->name);
		*idx = -ENAMETOOLONG;
		return NULL;
	}
	*idx = (long)b->n++;
	b->prog.total++;
	return it;
}

/* Undo the last item_add (a later step of queuing failed). */
static long item_drop(struct s3_batch *b, int err)
{
	item_release(&b->items[--b->n]);
	b->prog.total--;
	return err;
}

long s3_batch_head(struct s3_batch *b, const char *name)
{
	long idx;
	item_add(b, S3_OP_HEAD, name, &idx);
	return idx;
}

long s3_batch_delete(struct s3_batch *b, const char *name)
{
	long idx;
	item_add(b, S3_OP_DELETE, name, &idx);
	return idx;
}

long s3_batch_put_file(struct s3_batch *b, const char *name, const char *path)
{
	long idx;
	struct item *it = item_add(b, S3_OP_PUT, name, &idx);
	struct stat sb;

	if (!it)
		return idx;
	if ((it->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0)
		return item_drop(b, -errno);
	if (fstat(it->fd, &sb) < 0)
		return item_drop(b, -errno);
	if (!S_ISREG(sb.st_mode))
		return item_drop(b, -EINVAL);
	it->size = (uint64_t)sb.st_size;
	b->prog.bytes_total += it->size;
	return idx;
}

long s3_batch_put_buf(struct s3_batch *b, const char *name, const void *buf, size_t len)
{
	long idx;
	struct item *it = item_add(b, S3_OP_PUT, name, &idx);
	char *copy;

	if (!it)
		return idx;
	if (!(copy = malloc(len ? len : 1)))
		return item_drop(b, -ENOMEM);
	memcpy(copy, buf, len);
	it->src_buf = copy;
	it->size = len;
	b->prog.bytes_total += len;
	return idx;
}

long s3_batch_get_store(struct s3_batch *b, const char *name, struct store *st,
			const struct gg_hash *want)
{
	long idx;
	struct item *it;

	if (!want || (want->kind != GG_HASH_VALUE && want->kind != GG_HASH_THUNK))
		return -EINVAL;
	if (!(it = item_add(b, S3_OP_GET, name, &idx)))
		return idx;
	it->st = st;
	it->want = *want;
	return idx;
}

long s3_batch_get_buf(struct s3_batch *b, const char *name, size_t max,
		      const struct gg_hash *want)
{
	long idx;
	struct item *it = item_add(b, S3_OP_GET, name, &idx);

	if (!it)
		return idx;
	it->max = max;
	if (want)
		it->want = *want;
	sbuf_init(&it->body, max ? max : 1);
	return idx;
}

long s3_batch_list(struct s3_batch *b, const char *start_after, unsigned max_pages,
		   s3_list_fn *fn, void *ctx)
{
	long idx;
	struct item *it = item_add(b, S3_OP_LIST, "", &idx);

	if (!it)
		return idx;
	it->fn = fn;
	it->ctx = ctx;
	it->max_pages = max_pages;
	if (start_after && !(it->start_after = strdup(start_after)))
		return item_drop(b, -ENOMEM);
	return idx;
}

void s3_batch_set_udata(struct s3_batch *b, size_t idx, void *udata)
{
	if (idx < b->n)
		b->items[idx].udata = udata;
}

void *s3_batch_udata(const struct s3_batch *b, size_t idx)
{
	return idx < b->n ? b->items[idx].udata : NULL;
}

size_t s3_batch_count(const struct s3_batch *b) { return b->n; }

const struct s3_result *s3_batch_result(const struct s3_batch *b, size_t idx)
{
	return idx < b->n ? &b->items[idx].res : NULL;
}

size_t s3_batch_finished(const struct s3_batch *b, size_t k)
{
	return k < b->nfinished ? b->finished[k] : SIZE_MAX;
}

enum s3_op s3_batch_op(const struct s3_batch *b, size_t idx)
{
	return b->items[idx].op;
}

void s3_batch_progress(const struct s3_batch *b, struct s3_progress *p)
{
	*p = b->prog;
}

/* ---- transfers: queueing and results -------------------------------------------- */

static void enqueue(struct s3_batch *b, struct xfer *x)
{
	x->next = NULL;
	if (b->ready_tail)
		b->ready_tail->next = x;
	else
		b->ready = x;
	b->ready_tail = x;
}

static struct xfer *xfer_new(struct s3_batch *b, struct item *it, enum xkind kind)
{
	struct xfer *x = calloc(1, sizeof(*x));
	if (!x)
		return NULL;
	x->b = b;
	x->it = it;
	x->kind = kind;
	sbuf_init(&x->resp, kind == X_LIST ? LIST_BODY_CAP : ERR_BODY_CAP);
	sbuf_init(&x->reqbody, 1u << 20);
	it->inflight++;
	enqueue(b, x);
	return x;
}

static const char *op_verb(const struct xfer *x)
{
	switch (x->kind) {
	case X_MP_CREATE:
		return "start a multipart upload of";
	case X_MP_PART:
		return "upload a part of";
	case X_MP_COMPLETE:
		return "complete the multipart upload of";
	case X_MP_ABORT:
		return "abort the multipart upload of";
	case X_LIST:
		return "list";
	case X_MAIN:
		break;
	}
	switch (x->it->op) {
	case S3_OP_HEAD:
		return "look up";
	case S3_OP_GET:
		return "download";
	case S3_OP_PUT:
		return "upload";
	case S3_OP_DELETE:
		return "delete";
	case S3_OP_LIST:
		return "list";
	}
	return "?";
}

/* Record the item's result (the first one wins); __attribute__ printf. */
__attribute__((format(printf, 4, 5))) static void item_fail(struct s3_batch *b, struct item *it,
							    int err, const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;
	(void)b;
	if (it->has_result)
		return;
	it->has_result = true;
	it->res.err = err;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	it->res.msg = msg;
}

static void item_ok(struct item *it)
{
	if (it->has_result)
		return;
	it->has_result = true;
	it->res.err = 0;
}

/* Count a finished item once its last transfer is gone. */
static void item_settle(struct s3_batch *b, struct item *it)
{
	if (it->inflight || !it->has_result || it->counted)
		return;
	it->counted = true;
	b->unfinished--;
	b->finished[b->nfinished++] = (size_t)(it - b->items);
	b->prog.done++;
	if (it->res.err)
		b->prog.failed++;
	if (it->fd >= 0) {
		close(it->fd);
		it->fd = -1;
	}
	if (it->writing) {
		store_abort(&it->w);
		it->writing = false;
	}
}

/* ---- transfers: requests ------------------------------------------------------- */

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	struct xfer *x = ud;
	size_t len = size * n;
	if (len > 5 && !strncmp(p, "HTTP/", 5)) {
		x->etag[0] = '\0'; /* a new response (100 Continue, redirects) */
		return len;
	}
	s3_header_etag(p, len, x->etag, sizeof(x->etag));
	return len;
}

/* Where the body of a 2xx answer goes: the item's sink. */
static int sink_write(struct s3_batch *b, struct xfer *x, const char *p, size_t len)
{
	struct item *it = x->it;
	int ret;

	if (x->kind != X_MAIN || it->op != S3_OP_GET)
		return sbuf_add(&x->resp, p, len);
	if (it->st) {
		if (!it->writing) {
			if ((ret = store_begin(it->st, it->want.kind, &it->w)) < 0)
				return ret;
			it->writing = true;
		}
		if ((ret = store_write(&it->w, p, len)) < 0)
			return ret;
	} else if ((ret = sbuf_add(&it->body, p, len)) < 0) {
		return ret == -E2BIG ? -EFBIG : ret;
	}
	b->prog.bytes_done += len;
	return 0;
}

static size_t on_write(char *p, size_t size, size_t n, void *ud)
{
	struct xfer *x = ud;
	struct s3_batch *b = x->b;
	size_t len = size * n;
	int ret;

	if (!x->status) {
		curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
		x->sink_ok = x->status >= 200 && x->status < 300;
	}
	if (x->sink_ok) {
		if ((ret = sink_write(b, x, p, len)) < 0) {
			x->local_err = ret;
			return 0; /* CURLE_WRITE_ERROR */
		}
		x->pos += len;
		return len;
	}
	sbuf_add(&x->resp, p, len); /* an error document: keep what fits */
	return len;
}

static size_t on_read(char *p, size_t size, size_t n, void *ud)
{
	struct xfer *x = ud;
	struct s3_batch *b = x->b;
	struct item *it = x->it;
	size_t want = size * n;
	ssize_t got;

	if (x->kind == X_MP_COMPLETE) {
		got = (ssize_t)(x->reqbody.len - x->pos);
		if ((size_t)got > want)
			got = (ssize_t)want;
		memcpy(p, x->reqbody.buf + x->pos, (size_t)got);
		x->pos += (uint64_t)got;
		return (size_t)got;
	}
	if (x->pos >= x->len)
		return 0;
	if (want > x->len - x->pos)
		want = (size_t)(x->len - x->pos);
	if (it->src_buf) {
		memcpy(p, it->src_buf + x->off + x->pos, want);
		got = (ssize_t)want;
	} else {
		do
			got = pread(it->fd, p, want, (off_t)(x->off + x->pos));
		while (got < 0 && errno == EINTR);
		if (got <= 0) {
			x->local_err = got < 0 ? -errno : -ENODATA; /* the file shrank */
			return CURL_READFUNC_ABORT;
		}
	}
	x->pos += (uint64_t)got;
	b->prog.bytes_done += (uint64_t)got;
	return (size_t)got;
}

static int on_seek(void *ud, curl_off_t off, int origin)
{
	struct xfer *x = ud;
	struct s3_batch *b = x->b;
	if (origin != SEEK_SET || off < 0 || (uint64_t)off > x->len)
		return CURL_SEEKFUNC_CANTSEEK;
	if (x->kind != X_MP_COMPLETE)
		b->prog.bytes_done -= x->pos - (uint64_t)off;
	x->pos = (uint64_t)off;
	return CURL_SEEKFUNC_OK;
}

/* The query of a transfer (encoded), into q. */
static int xfer_query(struct s3_batch *b, struct xfer *x, struct sbuf *q)
{
	struct item *it = x->it;
	const char *prefix = b->c->url.prefix;

	sbuf_reset(q);
	switch (x->kind) {
	case X_MP_CREATE:
		sbuf_addstr(q, "uploads=");
		break;
	case X_MP_PART:
		sbuf_addf(q, "partNumber=%u&uploadId=", x->part);
		sigv4_uri_encode(q, it->upload_id, strlen(it->upload_id), false);
		break;
	case X_MP_COMPLETE:
	case X_MP_ABORT:
		sbuf_addstr(q, "uploadId=");
		sigv4_uri_encode(q, it->upload_id, strlen(it->upload_id), false);
		break;
	case X_LIST:
		sbuf_addf(q, "list-type=2&max-keys=%u", it->page_keys ? it->page_keys : 1000);
		if (it->token) {
			sbuf_addstr(q, "&continuation-token=");
			sigv4_uri_encode(q, it->token, strlen(it->token), false);
		}
		if (*prefix) {
			sbuf_addstr(q, "&prefix=");
			sigv4_uri_encode(q, prefix, strlen(prefix), false);
			sbuf_addstr(q, "%2F");
		}
		if (it->start_after && !it->token) {
			char *sa = NULL;
			if (asprintf(&sa, "%s%s%s", prefix, *prefix ? "/" : "", it->start_after) < 0)
				return -ENOMEM;
			sbuf_addstr(q, "&start-after=");
			sigv4_uri_encode(q, sa, strlen(sa), false);
			free(sa);
		}
		break;
	case X_MAIN:
		break;
	}
	return sbuf_error(q);
}

/* Build, sign and add the request of x to the multi handle. */
static int start_xfer(struct s3_batch *b, struct xfer *x)
{
	struct s3_client *c = b->c;
	struct item *it = x->it;
	struct sbuf url = SBUF_INIT, path = SBUF_INIT, q = SBUF_INIT;
	struct sigv4_header host = { "host", c->ep.host };
	struct sigv4_credentials cred = { c->cfg.cred.access_key_id,
					  c->cfg.cred.secret_access_key,
					  c->cfg.cred.session_token };
	struct sigv4_request req = { .headers = &host, .nheaders = 1, .region = c->cfg.region,
				     .service = "s3", .when = time(NULL),
				     .flags = SIGV4_RULES_S3 };
	struct strlist signed_hdrs = STRLIST_INIT;
	char body_sha[SIGV4_SHA256_HEX_SIZE];
	const char *method = "GET";
	bool upload = false;
	CURL *e;
	int ret;

	curl_slist_free_all(x->hdrs); /* a retry signs afresh */
	x->hdrs = NULL;
	if ((ret = xfer_query(b, x, &q)) < 0)
		goto out;
	if ((ret = s3_target(c->ep.url_base, c->ep.path_base, x->kind == X_LIST ? NULL : it->key,
			     q.buf, &url, &path)) < 0)
		goto out;
	switch (x->kind) {
	case X_MAIN:
		method = it->op == S3_OP_HEAD ? "HEAD" : it->op == S3_OP_PUT ? "PUT"
			 : it->op == S3_OP_DELETE ? "DELETE" : "GET";
		upload = it->op == S3_OP_PUT;
		break;
	case X_MP_CREATE:
	case X_MP_COMPLETE:
		method = "POST";
		break;
	case X_MP_PART:
		method = "PUT";
		upload = true;
		break;
	case X_MP_ABORT:
		method = "DELETE";
		break;
	case X_LIST:
		break;
	}
	req.method = method;
	req.path = path.buf;
	req.query = q.buf;
	if (upload) {
		req.payload_hash = SIGV4_UNSIGNED_PAYLOAD; /* streamed; downloads verify by hash */
	} else if (x->kind == X_MP_COMPLETE) {
		if ((ret = s3_complete_body(&x->reqbody, it->etags, it->nparts)) < 0 ||
		    (ret = sigv4_sha256_hex(x->reqbody.buf, x->reqbody.len, body_sha)) < 0)
			goto out;
		req.payload_hash = body_sha;
	}
	if ((ret = sigv4_sign_headers(&req, &cred, &signed_hdrs)) < 0)
		goto out;
	for (size_t i = 0; i < signed_hdrs.n; i++) {
		struct curl_slist *l = curl_slist_append(x->hdrs, signed_hdrs.v[i]);
		if (!l) {
			ret = -ENOMEM;
			goto out;
		}
		x->hdrs = l;
	}
	/* no 100-continue round trip; an unsigned Content-Type for the XML body */
	x->hdrs = curl_slist_append(x->hdrs, "Expect:");
	if (x->hdrs && x->kind == X_MP_COMPLETE)
		x->hdrs = curl_slist_append(x->hdrs, "Content-Type: application/xml");
	if (!x->hdrs) {
		ret = -ENOMEM;
		goto out;
	}

	if (x->easy) { /* a retry: its detached handle, not a second one (that leaked) */
		e = x->easy;
		curl_easy_reset(e);
	} else if (c->npool) {
		e = c->pool[--c->npool];
	} else if (!(e = curl_easy_init())) {
		ret = -ENOMEM;
		goto out;
	}
	x->easy = e;
	x->status = 0;
	x->sink_ok = false;
	x->local_err = 0;
	x->pos = 0;
	x->etag[0] = '\0';
	x->curl_err[0] = '\0';
	sbuf_reset(&x->resp);
	curl_easy_setopt(e, CURLOPT_URL, url.buf);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->hdrs);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->curl_err);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L); /* a stalled transfer is retried */
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, 30L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "gg");
	if (c->ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
	if (c->ca_path)
		curl_easy_setopt(e, CURLOPT_CAPATH, c->ca_path);
	if (!strcmp(method, "HEAD")) {
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	} else if (!strcmp(method, "DELETE")) {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "DELETE");
	} else if (!strcmp(method, "POST")) {
		curl_easy_setopt(e, CURLOPT_POST, 1L);
		if (x->kind == X_MP_COMPLETE) {
			x->len = x->reqbody.len;
			curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
			curl_easy_setopt(e, CURLOPT_READDATA, x);
			curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->reqbody.len);
		} else {
			curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
			curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L);
		}
	} else if (upload) {
		curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(e, CURLOPT_READDATA, x);
		curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, on_seek);
		curl_easy_setopt(e, CURLOPT_SEEKDATA, x);
		curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)x->len);
	}
	if (http_loop_add(c->loop, e) < 0) {
		ret = -EIO;
		goto out;
	}
	x->aprev = NULL;
	x->anext = b->act;
	if (b->act)
		b->act->aprev = x;
	b->act = x;
	b->active++;
	ret = 0;
out:
	strlist_release(&signed_hdrs);
	sbuf_release(&url);
	sbuf_release(&path);
	sbuf_release(&q);
	return ret;
}

/* ---- transfers: outcomes -------------------------------------------------------- */

static enum s3_net net_class(CURLcode rc)
{
	switch (rc) {
	case CURLE_OK:
		return S3_NET_OK;
	case CURLE_COULDNT_RESOLVE_HOST: /* resolvers fail transiently too */
	case CURLE_COULDNT_CONNECT:
	case CURLE_PARTIAL_FILE:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_WEIRD_SERVER_REPLY:
		return S3_NET_TRANSIENT;
	default:
		return S3_NET_FATAL;
	}
}

/* Take an active transfer out of the multi handle (its easy handle stays). */
static void xfer_detach(struct s3_batch *b, struct xfer *x)
{
	x->next = NULL;
	if (!x->easy)
		return;
	http_loop_remove(b->c->loop, x->easy);
	if (x->aprev)
		x->aprev->anext = x->anext;
	else
		b->act = x->anext;
	if (x->anext)
		x->anext->aprev = x->aprev;
	x->anext = x->aprev = NULL;
	b->active--;
}

/* Start the abort of a multipart upload once no part of it is in flight. */
static void maybe_abort(struct s3_batch *b, struct item *it)
{
	if (!it->upload_id || it->aborting || it->inflight || !it->has_result)
		return;
	it->aborting = true;
	if (!xfer_new(b, it, X_MP_ABORT))
		return; /* out of memory: the upload stays open (S3 lifecycle rules expire it) */
}

/*
 * Drop a transfer for good (after xfer_detach, or never started).  A failed
 * multipart upload whose last transfer this was gets its abort queued before the
 * item can count as finished.
 */
static void xfer_done(struct s3_batch *b, struct xfer *x)
{
	struct item *it = x->it;
	xfer_free(b->c, x);
	it->inflight--;
	maybe_abort(b, it);
	item_settle(b, it);
}

/* "s3://BUCKET/KEY" of the transfer's object, or "s3://BUCKET[/PREFIX]" for a listing. */
static void obj_name(struct s3_batch *b, struct xfer *x, char *buf, size_t size)
{
	if (x->kind == X_LIST)
		snprintf(buf, size, "%s", b->c->display);
	else
		snprintf(buf, size, "s3://%s/%s", b->c->url.bucket, x->it->key);
}

/* An error message for an HTTP answer: status, S3 code and message, bucket, key id. */
static void http_fail(struct s3_batch *b, struct xfer *x, const char *code, const char *msg,
		      unsigned attempts)
{
	struct s3_client *c = b->c;
	struct item *it = x->it;
	long st = x->status;
	int err = st == 404 ? -ENOENT : st == 403 ? -EACCES : -EIO;
	char tries[48] = "", what[S3_KEY_MAX + 128];

	if (attempts > 1)
		snprintf(tries, sizeof(tries), " (after %u attempts)", attempts);
	obj_name(b, x, what, sizeof(what));
	if (code && !strcmp(code, "NoSuchBucket"))
		item_fail(b, it, -ENOENT, "cannot %s '%s': %ld NoSuchBucket: bucket '%s' "
			  "does not exist (endpoint %s)%s", op_verb(x), what, st,
			  c->url.bucket, c->ep.url_base, tries);
	else if (code && *code)
		item_fail(b, it, err, "cannot %s '%s': %ld %s%s%s (bucket '%s', access key "
			  "id '%s')%s", op_verb(x), what, st, code,
			  msg && *msg ? ": " : "", msg ? msg : "", c->url.bucket,
			  c->cfg.cred.access_key_id, tries);
	else
		item_fail(b, it, err, "cannot %s '%s': HTTP %ld (bucket '%s', access key id "
			  "'%s')%s", op_verb(x), what, st, c->url.bucket,
			  c->cfg.cred.access_key_id, tries);
	it->res.status = st;
}

/* Put x back to wait out a backoff, or give up.  True if it will be retried. */
static bool retry_later(struct s3_batch *b, struct xfer *x)
{
	struct s3_client *c = b->c;
	uint64_t now = clock_now_ms(), delay = s3_backoff_ms(&c->retry, x->attempts, next_rand(c));

	if (x->it->has_result && x->kind != X_MP_ABORT)
		return false; /* the item failed meanwhile */
	if (c->cancel && *c->cancel && x->kind != X_MP_ABORT)
		return false;
	if (!s3_retry_allowed(&c->retry, x->attempts, now - x->first_ms, delay))
		return false;
	if (x->kind == X_MAIN && x->it->op == S3_OP_GET && x->it->writing) {
		store_abort(&x->it->w);
		x->it->writing = false;
		b->prog.bytes_done -= x->pos;
	} else if (x->kind == X_MAIN && x->it->op == S3_OP_GET) {
		sbuf_reset(&x->it->body);
		b->prog.bytes_done -= x->pos;
	}
	if (x->kind == X_MP_PART || (x->kind == X_MAIN && x->it->op == S3_OP_PUT))
		b->prog.bytes_done -= x->pos;
	x->not_before = now + delay;
	x->next = b->delayed;
	b->delayed = x;
	return true;
}

/*
 * A 2xx GET into the store or memory ended: verify and commit.  True when x went
 * back to the queue for a second fetch (the caller must not free it).
 */
static bool get_done(struct s3_batch *b, struct xfer *x)
{
	struct item *it = x->it;
	struct s3_client *c = b->c;
	struct gg_hash got;
	char a[GG_HASH_HEX_SIZE], g[GG_HASH_HEX_SIZE];
	int ret = 0; /* set when it is used: GCC's -O2 -fsanitize cannot tell */

	if (!it->want.kind) { /* into memory, unverified */
		it->res.len = it->body.len;
		it->res.size = it->body.len;
		if (!(it->res.body = sbuf_detach(&it->body, NULL)))
			item_fail(b, it, -ENOMEM, "out of memory");
		else
			item_ok(it);
		return false;
	}
	if (it->st) {
		if (!it->writing && (ret = store_begin(it->st, it->want.kind, &it->w)) == 0)
			it->writing = true; /* an empty object */
		if (!it->writing) {
			item_fail(b, it, ret, "cannot store a download: %s", strerror(-ret));
			return false;
		}
		hash_stream_final(it->w.hs, &got);
	} else {
		hash_buf((enum gg_hash_kind)it->want.kind, it->body.buf ? it->body.buf : "",
			 it->body.len, &got);
	}
	it->fetches++;
	if (!hash_equal(&got, &it->want)) {
		/* refused: the bytes are dropped; fetched once more, then an error */
		if (it->st) {
			store_abort(&it->w);
			it->writing = false;
		} else {
			sbuf_reset(&it->body);
		}
		b->prog.bytes_done -= x->pos;
		if (it->fetches < GET_FETCHES) {
			x->attempts = 0;
			x->first_ms = clock_now_ms();
			x->not_before = 0;
			x->next = b->delayed;
			b->delayed = x;
			return true;
		}
		item_fail(b, it, -EBADMSG, "'s3://%s/%s' does not match its hash: its bytes hash to "
			  "%s, not %s (refused %u times; the object in the bucket is corrupt: "
			  "delete it and push it again)", c->url.bucket, it->key, hash_to_hex(&got, g),
			  hash_to_hex(&it->want, a), it->fetches);
		return false;
	}
	if (it->st) {
		it->res.size = it->w.size;
		ret = store_commit(&it->w, &got);
		it->writing = false;
		if (ret < 0)
			item_fail(b, it, ret, "cannot store '%s': %s", it->name, strerror(-ret));
		else
			item_ok(it);
	} else {
		it->res.len = it->res.size = it->body.len;
		if (!(it->res.body = sbuf_detach(&it->body, NULL)))
			item_fail(b, it, -ENOMEM, "out of memory");
		else
			item_ok(it);
	}
	return false;
}

/* A LIST page came: hand its entries on, queue the next page. */
static void list_done(struct s3_batch *b, struct xfer *x)
{
	struct item *it = x->it;
	struct s3_list_page pg;
	size_t pl = strlen(b->c->url.prefix);
	int ret;

	if ((ret = s3_parse_list(x->resp.buf, x->resp.len, &pg)) < 0) {
		item_fail(b, it, -EPROTO, "cannot list '%s': the answer is not a ListBucketResult",
			  b->c->display);
		return;
	}
	it->pages++;
	for (size_t i = 0; i < pg.n; i++) {
		const char *name = pg.v[i].key;
		if (pl && !strncmp(name, b->c->url.prefix, pl) && name[pl] == '/')
			name += pl + 1;
		else if (pl)
			continue;
		if ((ret = it->fn(it->ctx, name, pg.v[i].size)) != 0) {
			item_fail(b, it, ret < 0 ? ret : -ECANCELED, "listing stopped");
			s3_list_page_release(&pg);
			return;
		}
		free(it->last);
		if (!(it->last = strdup(name))) {
			item_fail(b, it, -ENOMEM, "out of memory");
			s3_list_page_release(&pg);
			return;
		}
	}
	it->res.last = it->last;
	free(it->token);
	it->token = NULL;
	if (pg.truncated && pg.next_token) {
		if (it->max_pages && it->pages >= it->max_pages) {
			it->res.more = true;
			item_ok(it);
		} else {
			it->token = pg.next_token;
			pg.next_token = NULL;
			if (!xfer_new(b, it, X_LIST))
				item_fail(b, it, -ENOMEM, "out of memory");
		}
	} else {
		item_ok(it);
	}
	s3_list_page_release(&pg);
}

/* Queue the parts of a multipart upload whose UploadId came. */
static void mp_created(struct s3_batch *b, struct xfer *x)
{
	struct item *it = x->it;
	uint64_t part = b->c->part_size;
	int ret;

	if ((ret = s3_parse_upload_id(x->resp.buf, x->resp.len, &it->upload_id)) < 0) {
		item_fail(b, it, -EPROTO, "cannot upload 's3://%s/%s': no UploadId in the answer to "
			  "CreateMultipartUpload", b->c->url.bucket, it->key);
		return;
	}
	if (b->c->cancel && *b->c->cancel) {
		item_fail(b, it, -ECANCELED, "cancelled");
		return;
	}
	while ((it->size + part - 1) / part > MAX_PARTS)
		part *= 2;
	it->nparts = (unsigned)((it->size + part - 1) / part);
	if (!(it->etags = calloc(it->nparts, sizeof(*it->etags)))) {
		item_fail(b, it, -ENOMEM, "out of memory");
		return;
	}
	for (unsigned i = 0; i < it->nparts; i++) {
		struct xfer *p = xfer_new(b, it, X_MP_PART);
		if (!p) {
			item_fail(b, it, -ENOMEM, "out of memory");
			return;
		}
		p->part = i + 1;
		p->off = (uint64_t)i * part;
		p->len = it->size - p->off < part ? it->size - p->off : part;
	}
}

/* A transfer ended (curl's code rc). */
static void xfer_finished(struct s3_batch *b, struct xfer *x, CURLcode rc)
{
	struct s3_client *c = b->c;
	struct item *it = x->it;
	enum s3_net net;
	char code[128] = "", msg[512] = "";
	bool ok;

	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
	xfer_detach(b, x);
	x->attempts++;
	if (x->local_err) {
		if (x->kind != X_MP_ABORT)
			item_fail(b, it, x->local_err, "cannot %s '%s': %s", op_verb(x), it->name,
				  x->local_err == -ENODATA ? "the file shrank while it was read"
							   : strerror(-x->local_err));
		goto out_done;
	}
	net = net_class(rc);
	ok = net == S3_NET_OK && x->status >= 200 && x->status < 300;
	if (ok && x->kind == X_MP_COMPLETE &&
	    s3_xml_error(x->resp.buf, x->resp.len, code, sizeof(code), msg, sizeof(msg)) == 0)
		ok = false; /* S3 may answer 200 and an <Error> to CompleteMultipartUpload */
	if (!ok && net == S3_NET_OK && !*code)
		s3_xml_error(x->resp.buf, x->resp.len, code, sizeof(code), msg, sizeof(msg));
	if (!ok) {
		if (net == S3_NET_OK && x->status == 404 && x->kind == X_MAIN &&
		    (it->op == S3_OP_HEAD || it->op == S3_OP_GET || it->op == S3_OP_DELETE) &&
		    strcmp(code, "NoSuchBucket")) {
			/* absent: a result, not a failure to retry; DELETE of nothing is done */
			if (it->op == S3_OP_DELETE) {
				item_ok(it);
			} else {
				it->res.status = 404;
				item_fail(b, it, -ENOENT, "'s3://%s/%s' does not exist", c->url.bucket,
					  it->key);
			}
			goto out_done;
		}
		if (s3_retryable(net, x->status, code) && retry_later(b, x))
			return;
		if (x->kind == X_MP_ABORT)
			goto out_done; /* best effort: S3 lifecycle rules expire what stays */
		if (it->has_result)
			goto out_done;
		if (net != S3_NET_OK) {
			char what[S3_KEY_MAX + 128];
			obj_name(b, x, what, sizeof(what));
			item_fail(b, it, -EIO, "cannot %s '%s': %s%s%s (endpoint %s, %u attempts)",
				  op_verb(x), what, curl_easy_strerror(rc),
				  x->curl_err[0] ? ": " : "", x->curl_err, c->ep.url_base, x->attempts);
		} else {
			http_fail(b, x, code, msg, x->attempts);
		}
		goto out_done;
	}
	it->res.status = x->status;
	switch (x->kind) {
	case X_MAIN:
		switch (it->op) {
		case S3_OP_HEAD: {
			curl_off_t len = -1;
			curl_easy_getinfo(x->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
			it->res.size = len > 0 ? (uint64_t)len : 0;
			item_ok(it);
			break;
		}
		case S3_OP_GET:
			if (get_done(b, x))
				return; /* queued for a second fetch */
			break;
		case S3_OP_PUT:
			it->res.size = it->size;
			item_ok(it);
			break;
		case S3_OP_DELETE:
			item_ok(it);
			break;
		case S3_OP_LIST:
			break;
		}
		break;
	case X_LIST:
		list_done(b, x);
		break;
	case X_MP_CREATE:
		mp_created(b, x);
		break;
	case X_MP_PART:
		if (!it->has_result) {
			if (!x->etag[0] || !(it->etags[x->part - 1] = strdup(x->etag))) {
				item_fail(b, it, x->etag[0] ? -ENOMEM : -EPROTO,
					  "cannot upload 's3://%s/%s': no ETag for part %u",
					  c->url.bucket, it->key, x->part);
			} else if (++it->parts_ok == it->nparts && !xfer_new(b, it, X_MP_COMPLETE)) {
				item_fail(b, it, -ENOMEM, "out of memory");
			}
		}
		break;
	case X_MP_COMPLETE:
		it->res.size = it->size;
		free(it->upload_id); /* nothing left to abort */
		it->upload_id = NULL;
		item_ok(it);
		break;
	case X_MP_ABORT:
		free(it->upload_id);
		it->upload_id = NULL;
		break;
	}
out_done:
	xfer_done(b, x);
}

/* ---- the loop --------------------------------------------------------------------- */

/* Start queued transfers, a PUT of a large file becoming a multipart upload. */
static int start_ready(struct s3_batch *b)
{
	struct s3_client *c = b->c;
	uint64_t now = clock_now_ms();
	int ret;

	/* transfers whose backoff is over go to the front of the queue */
	for (struct xfer **pp = &b->delayed; *pp;) {
		struct xfer *x = *pp;
		if (x->not_before <= now) {
			*pp = x->next;
			x->next = b->ready;
			b->ready = x;
			if (!b->ready_tail)
				b->ready_tail = x;
		} else {
			pp = &x->next;
		}
	}
	while (b->ready && b->active < c->max_conns) {
		struct xfer *x = b->ready;
		struct item *it = x->it;
		b->ready = x->next;
		if (!b->ready)
			b->ready_tail = NULL;
		x->next = NULL;
		if (it->has_result && x->kind != X_MP_ABORT) {
			xfer_done(b, x); /* the item failed meanwhile */
			continue;
		}
		if (x->kind == X_MAIN && it->op == S3_OP_PUT && it->size > c->mp_threshold) {
			x->kind = X_MP_CREATE;
		} else if (x->kind == X_MAIN && it->op == S3_OP_PUT) {
			x->off = 0;
			x->len = it->size;
		}
		if (!x->first_ms)
			x->first_ms = now;
		if ((ret = start_xfer(b, x)) < 0) {
			item_fail(b, it, ret, "cannot %s '%s': %s", op_verb(x), it->name,
				  strerror(-ret));
			if (x->easy) {
				curl_easy_cleanup(x->easy);
				x->easy = NULL;
			}
			xfer_done(b, x);
		}
	}
	return 0;
}

/* Begin: every item gets its first transfer. */
static int batch_start(struct s3_batch *b)
{
	if (!(b->finished = calloc(b->n ? b->n : 1, sizeof(*b->finished))))
		return -ENOMEM;
	b->started = true;
	b->unfinished = b->n;
	for (size_t i = 0; i < b->n; i++) {
		struct item *it = &b->items[i];
		if (!xfer_new(b, it, it->op == S3_OP_LIST ? X_LIST : X_MAIN)) {
			item_fail(b, it, -ENOMEM, "out of memory");
			item_settle(b, it);
		}
	}
	return 0;
}

/* Remove active transfers the cancel level no longer lets run. */
static void apply_cancel(struct s3_batch *b, int level)
{
	struct xfer *keep = NULL, *x, *nx;
	struct item *it;

	/*
	 * Queued and delayed transfers never start (aborts excepted).  The lists are
	 * taken first: dropping a part may queue its upload's abort (xfer_done).
	 */
	x = b->ready;
	b->ready = b->ready_tail = NULL;
	for (; x; x = nx) {
		nx = x->next;
		if (x->kind == X_MP_ABORT) {
			x->next = keep;
			keep = x;
			continue;
		}
		it = x->it;
		item_fail(b, it, -ECANCELED, "cancelled");
		xfer_done(b, x);
	}
	for (x = keep; x; x = nx) {
		nx = x->next;
		enqueue(b, x);
	}
	for (x = b->delayed, b->delayed = NULL; x; x = nx) {
		nx = x->next;
		if (x->kind == X_MP_ABORT) {
			x->next = b->delayed;
			b->delayed = x;
			continue;
		}
		it = x->it;
		item_fail(b, it, -ECANCELED, "cancelled");
		xfer_done(b, x);
	}
	/*
	 * Active ones: at level 1 single PUTs finish (an interrupted PUT is discarded by
	 * S3 but left half-written by some stand-ins) and a CreateMultipartUpload runs
	 * on so that its upload can be aborted; at 2 only aborts run on.
	 */
	for (x = b->act; x; x = nx) {
		nx = x->anext;
		if (x->kind == X_MP_ABORT ||
		    (level < 2 && (x->kind == X_MP_CREATE ||
				   (x->kind == X_MAIN && x->it->op == S3_OP_PUT))))
			continue;
		xfer_detach(b, x);
		it = x->it;
		item_fail(b, it, -ECANCELED, "cancelled");
		xfer_done(b, x);
	}
}

/* A finished transfer (http_loop_run's callback), to xfer_finished. */
static void on_done(void *ctx, CURL *easy, CURLcode rc)
{
	struct xfer *x = NULL;
	curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
	if (x)
		xfer_finished(ctx, x, rc);
}

long s3_batch_step(struct s3_batch *b, int timeout_ms)
{
	struct s3_client *c = b->c;
	struct pollfd pfd = { .fd = http_loop_fd(c->loop), .events = POLLIN };
	uint64_t wait = timeout_ms < 0 || timeout_ms > POLL_MS ? POLL_MS : (uint64_t)timeout_ms;
	uint64_t now;
	int n;

	if (!b->started && batch_start(b) < 0)
		return -ENOMEM;
	if (c->cancel && *c->cancel > b->cancel_seen) {
		b->cancel_seen = *c->cancel;
		apply_cancel(b, b->cancel_seen);
	}
	start_ready(b);
	if (http_loop_run(c->loop, on_done, b) < 0)
		return -EIO;
	start_ready(b);
	if (!b->unfinished)
		return 0;
	if (!b->active && !b->ready && !b->delayed)
		return -EPROTO; /* unfinished items and nothing to run: never wait forever */
	/* libcurl's timeouts arm the loop's timer: its descriptor wakes us for them */
	now = clock_now_ms();
	for (struct xfer *x = b->delayed; x; x = x->next)
		if (x->not_before <= now)
			wait = 0;
		else if (x->not_before - now < wait)
			wait = x->not_before - now;
	do
		n = poll(&pfd, 1, (int)wait);
	while (n < 0 && errno == EINTR && !(c->cancel && *c->cancel > b->cancel_seen));
	if (http_loop_run(c->loop, on_done, b) < 0)
		return -EIO;
	start_ready(b);
	return (long)b->unfinished;
}

int s3_batch_run(struct s3_batch *b)
{
	long n;
	while ((n = s3_batch_step(b, -1)) > 0)
		;
	if (n < 0)
		return (int)n;
	for (size_t i = 0; i < b->n; i++)
		if (b->items[i].res.err)
			return b->items[i].res.err;
	return 0;
}

/* ---- the probe -------------------------------------------------------------------- */

static int probe_one(void *ctx, const char *name, uint64_t size)
{
	(void)ctx;
	(void)name;
	(void)size;
	return 0;
}

int s3_client_check(struct s3_client *c, char *err, size_t errlen)
{
	struct s3_batch *b = s3_batch_new(c);
	const struct s3_result *r;
	long idx;
	int ret;

	if (!b)
		return -ENOMEM;
	if ((idx = s3_batch_list(b, NULL, 1, probe_one, NULL)) < 0) {
		ret = (int)idx;
		goto out;
	}
	b->items[idx].page_keys = 1;
	ret = s3_batch_run(b);
	r = s3_batch_result(b, (size_t)idx);
	if (ret == -EACCES && r->msg && strstr(r->msg, " AccessDenied"))
		ret = 0; /* a key allowed to read objects but not to list them */
	if (ret < 0)
		snprintf(err, errlen, "%s", r->msg ? r->msg : strerror(-ret));
out:
	s3_batch_free(b);
	return ret;
}
