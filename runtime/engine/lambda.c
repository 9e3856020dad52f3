/*
 * lambda.c - the lambda engine (lambda.h): Invoke API calls and S3 blob transfers
 * on one curl multi loop, driven by the builder through engine.h's ops.
 *
 * Where things are:
 *   - every job not yet collected is on the `live` list (UPLOAD, INVOKE, BACKOFF,
 *     DOWNLOAD) or on the `done` queue (DONE, waiting for collect());
 *   - an invocation (struct inv) is one HTTP request in the multi handle; a job has
 *     0 to 3 of them (a straggler's duplicates: at most JOB_DUPS);
 *   - blobs the engine has dealt with are in one table (struct blob) with their
 *     bucket state (UNKNOWN -> HEAD -> PRESENT | MISSING -> PUT -> PRESENT, or
 *     FAILED for one round) and their download state (NONE -> GET -> NONE);
 *   - at most one s3.h batch runs; it is rebuilt from the jobs waiting on S3
 *     whenever it finishes and something new is wanted (s3_dirty).
 * Invariants: a job on `live` is in exactly one state; the eventfd is raised while
 * `done` is not empty; the timerfd is armed for the earliest backoff, straggler
 * check or S3 tick.
 */
#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "runtime/engine/aws_config.h"
#include "runtime/engine/http.h"
#include "runtime/engine/lambda.h"
#include "runtime/engine/lambda_proto.h"
#include "runtime/engine/s3.h"
#include "runtime/engine/sigv4.h"
#include "runtime/engine/worker.h"
#include "runtime/ir/thunk.h"
#include "runtime/lib/util.h"
#include "runtime/store/store.h"

#define DEFAULT_SLOTS 1000
#define ERR_MAX 1024
#define RING 256                   /* durations (and ratios) kept for the straggler rule */
#define STRAGGLER_SAMPLES 8
#define JOB_DUPS 2                 /* duplicates of one attempt: a duplicate can straggle too */
#define S3_TICK_MS 20              /* stepping an S3 batch whose timers we cannot see */
#define CONNECT_TIMEOUT_MS 10000
#define POOL_MAX 256               /* idle easy handles kept */
#define KICK_EVERY 16              /* start()s between two kicks (kick below) */
#define LOOKAHEAD_DIV 8            /* jobs taken beyond -j: an eighth of it (lambda.h) */

/* L_WAIT: held back by -j or the account's limits, in the wait queue */
enum lstate { L_UPLOAD, L_INVOKE, L_BACKOFF, L_WAIT, L_DOWNLOAD, L_DONE };
enum bup { B_UNKNOWN, B_HEAD, B_MISSING, B_PUT, B_PRESENT, B_FAILED };
/* D_BAD: a GET found the bucket's copy corrupt (its bytes do not hash to its name,
 * s3.h refused them twice); D_DELETE: its DELETE is in flight, after which the
 * jobs that wanted it run their thunk again (a new upload replaces it) */
enum bdown { D_NONE, D_GET, D_FAILED, D_BAD, D_DELETE };

struct ljob;

/*
 * A stop key (lambda_proto.h): PUT when a job's answer won while its twins still
 * run, so that their workers stop; DELETEd once they have all answered.  Keys of
 * twins still running when the engine is freed stay in the bucket (they stop those
 * twins; lambda.h).
 */
enum mstate { M_PUT, M_PUTTING, M_UP, M_DEL, M_DELETING, M_GONE };
struct stopmark {
	char key[LAMBDA_STOP_MAX];
	unsigned orphans;           /* its job's invocations still running */
	enum mstate state;          /* M_PUT/M_DEL: wanted in the next batch; M_GONE:
				     * not in the bucket (never put, or deleted) */
	struct stopmark *next;
};

/* What an invocation is to its job. */
enum inv_kind {
	INV_FIRST,
	INV_DUP,    /* a straggler's duplicate: at most max_dups at once (stragglers()) */
	INV_BACKUP, /* a backup in the tail: room nobody waits for, under no cap */
};

struct inv {
	struct ljob *j;
	CURL *easy;
	struct curl_slist *hdrs;
	struct inv *onext;          /* an orphan (j NULL): the next on the engine's list */
	struct stopmark *mark;      /* an orphan's stop key, or NULL */
	struct sbuf body;           /* the answer, capped at LAMBDA_ANSWER_MAX */
	char fn_error[64];          /* X-Amz-Function-Error */
	char err_type[128];         /* x-amzn-ErrorType */
	uint64_t start_ms;
	enum inv_kind kind;         /* an orphan's: INV_FIRST (no longer anyone's duplicate) */
	char curl_err[CURL_ERROR_SIZE];
};

struct ljob {
	uint64_t tag;
	struct engine_result *res;
	enum lstate state;
	struct gg_hash thunk;
	uint32_t *blobs;            /* indexes in the blob table: UPLOAD's or DOWNLOAD's */
	size_t nblobs;
	char *payload;
	size_t payload_len;
	char payload_sha[SIGV4_SHA256_HEX_SIZE];
	unsigned timeout_ms;
	uint64_t expect_ms;         /* the thunk's recorded duration, 0: not known */
	char stop[LAMBDA_STOP_MAX]; /* the payload's stop key, "" for none */
	struct inv *inv[1 + JOB_DUPS];
	unsigned ninv;
	unsigned refusals, relaunches;
	unsigned dups;              /* duplicates launched since the attempt started */
	bool purge;                 /* DOWNLOAD: an output's copy in the bucket is corrupt */
	uint64_t rank;              /* engine_job.rank: the wait queue's order */
	uint64_t seq;               /* start()s before this one: ties go to the older */
	size_t wpos;                /* L_WAIT: its index in the wait queue + 1 */
	int ret;                    /* DONE: the completion's */
	uint64_t not_before;
	struct ljob *prev, *next;   /* live list, or the done queue (next only) */
	struct ljob *sprev, *snext; /* UPLOAD and DOWNLOAD: the S3 queue */
	bool on_s3;
};

struct blob {
	struct gg_hash h;
	uint64_t size;              /* local size, for HEAD's comparison */
	uint8_t up, down;
	char *msg;                  /* why it FAILED (this round) */
	char *mem;                  /* a thunk blob only in memory (its `size` bytes):
				       PUT from here, freed once the bucket has it */
};

struct engine {
	struct store *st;
	unsigned slots;             /* jobs taken at once: -j and the lookahead */
	unsigned max_run;           /* -j: jobs with an invocation in flight at most */
	/* configuration */
	char *function, *remote;
	unsigned attempts, retries, backoff_ms, backoff_max_ms;
	struct lambda_straggler_rule strag;
	unsigned invoke_timeout_ms;
	unsigned s3_conns;          /* the S3 client's connections (lambda.h) */
	struct ljob **backups;      /* a scan's candidates for a backup (slots entries) */
	struct aws_config cfg;
	struct aws_endpoint ep;
	char *invoke_url, *invoke_path;
	char *who;                  /* "function 'gg' at URL (key id ... from ...)" */
	char *ca_file, *ca_path;
	/* the loop */
	struct http_loop *loop;
	CURL *pool[POOL_MAX];
	unsigned npool;
	/* S3 */
	struct s3_client *s3;
	struct s3_batch *batch;
	size_t harvested;           /* of the batch's items, those s3_harvest took */
	bool s3_dirty;
	struct ljob *s3_head, *s3_tail; /* jobs in UPLOAD or DOWNLOAD, oldest first */
	uint64_t seq;               /* start()s: the wait queue's ties, kick() */
	uint32_t *failed;           /* blobs FAILED this round (indexes) */
	size_t nfailed, afailed;
	bool failed_all;            /* (out of memory for that list: look at every blob) */
	/* blobs: open addressing on the hash's first bytes, index+1 in slots */
	struct blob *blobs;
	size_t nblobs, ablobs;
	uint32_t *bslot;
	size_t bcap;
	/* jobs */
	struct ljob *live;
	struct ljob *done_head, *done_tail;
	size_t njobs;               /* live + done */
	unsigned ninv, ndups, nbackoff;
	unsigned nrunning;          /* jobs with an invocation in flight (duplicates not
				     * counted twice, orphans not at all): against -j */
	/* the account's limits (lambda.h): concurrency, new environments */
	unsigned concurrency, burst, env_rate;
	unsigned envs;              /* environments counted as started (warm) */
	struct lambda_bucket bucket;
	/* the wait queue: jobs held back by -j or the limits, a binary heap by rank
	 * (highest first), then by start() order; room for every job (slots) */
	struct ljob **wq;
	size_t nwq;
	/* orphans: the losing twins of answered stragglers, left to finish: the
	 * function keeps its environment until it answers, so they still count in
	 * ninv against the concurrency (dropping them made the service answer 429s) */
	struct inv *orphans;
	struct stopmark *marks;     /* the stop keys of answered jobs with orphans */
	/* stragglers: the last invocations' times (ms) and, for thunks with a recorded
	 * duration, their time / that duration (percent) and their time less its
	 * scaled duration (ms, the residual); the jobs found due at the last scan
	 * that wait for room (first invocations queue behind them) */
	uint32_t ring[RING], ratio[RING], resid[RING];
	size_t nring, ring_pos, nratio, ratio_pos, nresid, resid_pos;
	uint64_t next_scan, last_scan;
	unsigned nwant;
	uint64_t scan_peers, scan_scale; /* the medians at the last scan */
	struct lambda_straggler_rule scan_rule; /* the rule fitted then */
	/* state */
	bool aborted;
	int fatal;
	char *fatal_msg;
	uint64_t rnd;
	struct lambda_stats stats;
};

/* ---- small things ------------------------------------------------------------------ */

static uint64_t next_rand(struct engine *e)
{
	/* xorshift64*: jitter only, nothing secret */
	e->rnd ^= e->rnd >> 12;
	e->rnd ^= e->rnd << 25;
	e->rnd ^= e->rnd >> 27;
	return e->rnd * 0x2545F4914F6CDD1DULL;
}

static int param_uint(const char *params, const char *key, unsigned *out)
{
	size_t kl = strlen(key);
	const char *p = params;
	while (p && *p) {
		if (!strncmp(p, key, kl) && p[kl] == '=') {
			char *end;
			unsigned long v = strtoul(p + kl + 1, &end, 10);
			if (end == p + kl + 1 || (*end && *end != ',') || v > UINT32_MAX)
				return -EINVAL;
			*out = (unsigned)v;
			return 1;
		}
		p = strchr(p, ',');
		if (p)
			p++;
	}
	return 0;
}

/* An unsigned from the environment variable name, if set: 1, 0, or -EINVAL. */
static int env_uint(const char *name, unsigned *out)
{
	const char *v = getenv(name);
	char *end;
	unsigned long n;
	if (!v || !*v)
		return 0;
	n = strtoul(v, &end, 10);
	if (*end || n > UINT32_MAX)
		return -EINVAL;
	*out = (unsigned)n;
	return 1;
}

static char *param_str(const char *params, const char *key)
{
	size_t kl = strlen(key);
	const char *p = params;
	while (p && *p) {
		const char *end = strchr(p, ',');
		if (!strncmp(p, key, kl) && p[kl] == '=')
			return strndup(p + kl + 1, end ? (size_t)(end - p - kl - 1) : strlen(p + kl + 1));
		p = end ? end + 1 : NULL;
	}
	return NULL;
}

/* ---- the new-environments bucket (lambda.h) ------------------------------------------ */

#define BUCKET_UNIT 10000u /* units per token: a millisecond refills per_10s units */

void lambda_bucket_init(struct lambda_bucket *b, unsigned burst, unsigned per_10s, uint64_t now_ms)
{
	b->cap = (uint64_t)burst * BUCKET_UNIT;
	b->units = b->cap;
	b->per_10s = per_10s;
	b->at_ms = now_ms;
}

static void bucket_refill(struct lambda_bucket *b, uint64_t now_ms)
{
	if (now_ms > b->at_ms) {
		uint64_t add = (now_ms - b->at_ms) * b->per_10s;
		b->units = add >= b->cap - b->units ? b->cap : b->units + add;
	}
	if (now_ms > b->at_ms)
		b->at_ms = now_ms;
}

bool lambda_bucket_take(struct lambda_bucket *b, uint64_t now_ms)
{
	bucket_refill(b, now_ms);
	if (b->units < BUCKET_UNIT)
		return false;
	b->units -= BUCKET_UNIT;
	return true;
}

uint64_t lambda_bucket_next(struct lambda_bucket *b, uint64_t now_ms)
{
	bucket_refill(b, now_ms);
	if (b->units >= BUCKET_UNIT)
		return now_ms;
	if (!b->per_10s || b->cap < BUCKET_UNIT)
		return UINT64_MAX;
	return b->at_ms + (BUCKET_UNIT - b->units + b->per_10s - 1) / b->per_10s;
}

/* ---- the blob table ---------------------------------------------------------------- */

static uint64_t blob_key(const struct gg_hash *h)
{
	uint64_t k;
	memcpy(&k, h->bytes, sizeof(k));
	return k ^ h->kind;
}

static int blob_grow(struct engine *e)
{
	size_t ncap = e->bcap ? 2 * e->bcap : 1024;
	uint32_t *ns = calloc(ncap, sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	for (size_t i = 0; i < e->nblobs; i++) {
		size_t k = blob_key(&e->blobs[i].h) & (ncap - 1);
		while (ns[k])
			k = (k + 1) & (ncap - 1);
		ns[k] = (uint32_t)i + 1;
	}
	free(e->bslot);
	e->bslot = ns;
	e->bcap = ncap;
	return 0;
}

/* The index of h in the table, added (UNKNOWN, NONE) if absent; -ENOMEM. */
static long blob_get(struct engine *e, const struct gg_hash *h)
{
	size_t k;
	if (2 * (e->nblobs + 1) > e->bcap && blob_grow(e) < 0)
		return -ENOMEM;
	for (k = blob_key(h) & (e->bcap - 1); e->bslot[k]; k = (k + 1) & (e->bcap - 1))
		if (hash_equal(&e->blobs[e->bslot[k] - 1].h, h))
			return (long)e->bslot[k] - 1;
	if (e->nblobs == e->ablobs) {
		size_t na = e->ablobs ? 2 * e->ablobs : 1024;
		struct blob *nb = realloc(e->blobs, na * sizeof(*nb));
		if (!nb)
			return -ENOMEM;
		e->blobs = nb;
		e->ablobs = na;
	}
	e->blobs[e->nblobs] = (struct blob){ .h = *h, .up = B_UNKNOWN, .down = D_NONE };
	e->bslot[k] = (uint32_t)e->nblobs + 1;
	return (long)e->nblobs++;
}

/* ---- jobs: lists and completion ---------------------------------------------------- */

static void live_add(struct engine *e, struct ljob *j)
{
	j->prev = NULL;
	j->next = e->live;
	if (e->live)
		e->live->prev = j;
	e->live = j;
}

static void live_del(struct engine *e, struct ljob *j)
{
	if (j->prev)
		j->prev->next = j->next;
	else
		e->live = j->next;
	if (j->next)
		j->next->prev = j->prev;
	j->prev = j->next = NULL;
}

/* j's state, keeping the S3 queue (the jobs in UPLOAD or DOWNLOAD, in the order
 * they entered it: the builder's) up to date. */
static void set_state(struct engine *e, struct ljob *j, enum lstate st)
{
	bool s3 = st == L_UPLOAD || st == L_DOWNLOAD;
	j->state = st;
	if (s3 == j->on_s3)
		return;
	if (s3) {
		j->snext = NULL;
		j->sprev = e->s3_tail;
		if (e->s3_tail)
			e->s3_tail->snext = j;
		else
			e->s3_head = j;
		e->s3_tail = j;
	} else {
		if (j->sprev)
			j->sprev->snext = j->snext;
		else
			e->s3_head = j->snext;
		if (j->snext)
			j->snext->sprev = j->sprev;
		else
			e->s3_tail = j->sprev;
		j->sprev = j->snext = NULL;
	}
	j->on_s3 = s3;
}

static void job_free(struct ljob *j)
{
	free(j->blobs);
	free(j->payload);
	free(j);
}

static void inv_drop(struct engine *e, struct inv *v);

/* ---- the wait queue: a binary heap, highest rank first, then the oldest ---------- */

static bool wq_before(const struct ljob *a, const struct ljob *b)
{
	return a->rank != b->rank ? a->rank > b->rank : a->seq < b->seq;
}

static void wq_set(struct engine *e, size_t i, struct ljob *j)
{
	e->wq[i] = j;
	j->wpos = i + 1;
}

static void wq_up(struct engine *e, size_t i)
{
	struct ljob *j = e->wq[i];
	while (i && wq_before(j, e->wq[(i - 1) / 2])) {
		wq_set(e, i, e->wq[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	wq_set(e, i, j);
}

static void wq_down(struct engine *e, size_t i)
{
	struct ljob *j = e->wq[i];
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= e->nwq)
			break;
		if (c + 1 < e->nwq && wq_before(e->wq[c + 1], e->wq[c]))
			c++;
		if (!wq_before(e->wq[c], j))
			break;
		wq_set(e, i, e->wq[c]);
		i = c;
	}
	wq_set(e, i, j);
}

/* (never full: it has room for every job the engine takes) */
static void wq_push(struct engine *e, struct ljob *j)
{
	wq_set(e, e->nwq++, j);
	wq_up(e, e->nwq - 1);
}

static void wq_remove(struct engine *e, struct ljob *j)
{
	size_t i = j->wpos - 1;
	struct ljob *last = e->wq[--e->nwq];
	j->wpos = 0;
	if (last == j)
		return;
	wq_set(e, i, last);
	wq_up(e, i);
	wq_down(e, last->wpos - 1);
}

/*
 * The job is finished: ret and res->err as given (err is taken, may be NULL).  Any
 * invocation still in flight is dropped.
 */
static void complete(struct engine *e, struct ljob *j, int ret, char *err)
{
	while (j->ninv)
		inv_drop(e, j->inv[0]);
	if (j->state == L_BACKOFF)
		e->nbackoff--;
	if (j->state == L_WAIT)
		wq_remove(e, j);
	if (err) {
		free(j->res->err);
		j->res->err = err;
	}
	if (ret && ret != -ECANCELED && !j->res->err)
		j->res->err = str_printf("lambda: %s", strerror(-ret));
	set_state(e, j, L_DONE);
	j->ret = ret;
	live_del(e, j);
	if (e->done_tail)
		e->done_tail->next = j;
	else
		e->done_head = j;
	e->done_tail = j;
	http_loop_signal(e->loop);
}

/* ---- invocations ------------------------------------------------------------------- */

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct inv *v = ud;
	if (sbuf_add(&v->body, p, size * n) < 0)
		return 0; /* past the cap: the transfer fails */
	return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	struct inv *v = ud;
	size_t len = size * n;
	if (!http_header_value(p, len, "x-amz-function-error:", v->fn_error, sizeof(v->fn_error)))
		http_header_value(p, len, "x-amzn-errortype:", v->err_type, sizeof(v->err_type));
	return len;
}

static void inv_free(struct engine *e, struct inv *v)
{
	if (v->easy) {
		if (e->npool < POOL_MAX) {
			curl_easy_reset(v->easy);
			e->pool[e->npool++] = v->easy;
		} else {
			curl_easy_cleanup(v->easy);
		}
	}
	curl_slist_free_all(v->hdrs);
	sbuf_release(&v->body);
	free(v);
}

/* Detach v from its job (and the multi handle) and free it. */
static void inv_drop(struct engine *e, struct inv *v);

/*
 * An invocation ended: its environment is free.  With no job waiting for room, the
 * build's tail may have begun, and a backup waits for nobody: the next straggler
 * scan comes as soon as scans may (10 ms after the last), not when the rule next
 * finds a job late.
 */
static void room_freed(struct engine *e)
{
	uint64_t soon = e->last_scan + 10;
	if (!e->nwq && e->next_scan > soon)
		e->next_scan = soon;
}

/* Detach v from its job and leave it running as an orphan (still in ninv). */
static void inv_orphan(struct engine *e, struct inv *v)
{
	struct ljob *j = v->j;
	for (unsigned i = 0; i < j->ninv; i++)
		if (j->inv[i] == v) {
			j->inv[i] = j->inv[--j->ninv];
			break;
		}
	if (!j->ninv)
		e->nrunning--;
	if (v->kind == INV_DUP)
		e->ndups--;
	v->kind = INV_FIRST;
	v->j = NULL;
	v->onext = e->orphans;
	e->orphans = v;
}

/* Free the stop keys that are out of the bucket and of every orphan. */
static void marks_sweep(struct engine *e)
{
	struct stopmark **pp = &e->marks, *m;
	while ((m = *pp)) {
		if (m->state == M_GONE && !m->orphans) {
			*pp = m->next;
			free(m);
		} else {
			pp = &m->next;
		}
	}
}

/* j's answer won while its other n invocations still run: their stop key, to PUT
 * (NULL: j has none, or out of memory: they run to their end). */
static struct stopmark *mark_new(struct engine *e, const struct ljob *j, unsigned n)
{
	struct stopmark *m;
	if (!j->stop[0] || !e->s3 || !(m = calloc(1, sizeof(*m))))
		return NULL;
	memcpy(m->key, j->stop, sizeof(m->key));
	m->orphans = n;
	m->state = M_PUT;
	m->next = e->marks;
	e->marks = m;
	e->s3_dirty = true;
	return m;
}

/* One of m's orphans has answered (or was dropped). */
static void mark_unref(struct engine *e, struct stopmark *m)
{
	if (--m->orphans)
		return;
	if (m->state == M_PUT) {
		m->state = M_GONE; /* never sent: nothing to take back */
	} else if (m->state == M_UP) {
		m->state = M_DEL;
		e->s3_dirty = true;
	} /* M_PUTTING: s3_harvest deletes it once it is up */
	marks_sweep(e);
}

/* An orphan answered (or is dropped): out of the list, the loop and ninv. */
static void orphan_end(struct engine *e, struct inv *v)
{
	struct inv **pp = &e->orphans;
	while (*pp && *pp != v)
		pp = &(*pp)->onext;
	if (*pp)
		*pp = v->onext;
	if (v->mark)
		mark_unref(e, v->mark);
	http_loop_remove(e->loop, v->easy);
	e->ninv--;
	room_freed(e);
	inv_free(e, v);
}

static void inv_drop(struct engine *e, struct inv *v)
{
	struct ljob *j = v->j;
	for (unsigned i = 0; i < j->ninv; i++)
		if (j->inv[i] == v) {
			j->inv[i] = j->inv[--j->ninv];
			break;
		}
	if (!j->ninv)
		e->nrunning--;
	http_loop_remove(e->loop, v->easy);
	e->ninv--;
	if (v->kind == INV_DUP)
		e->ndups--;
	room_freed(e);
	inv_free(e, v);
}

/* Send one invocation of j.  0 or -errno (nothing sent). */
static int inv_launch(struct engine *e, struct ljob *j, enum inv_kind kind)
{
	struct sigv4_header sh[3] = {
		{ "Host", e->ep.host },
		{ "Content-Type", "application/json" },
		{ "X-Amz-Invocation-Type", "RequestResponse" },
	};
	struct sigv4_credentials cred = aws_credentials_sigv4(&e->cfg.cred);
	struct sigv4_request rq = {
		.method = "POST", .path = e->invoke_path, .headers = sh, .nheaders = 3,
		.payload_hash = j->payload_sha, .region = e->cfg.region, .service = "lambda",
		.when = time(NULL), .flags = SIGV4_RULES_DEFAULT,
	};
	struct strlist signed_hdrs = STRLIST_INIT;
	struct inv *v;
	unsigned tmo;
	int ret;

	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	sbuf_init(&v->body, LAMBDA_ANSWER_MAX);
	v->j = j;
	v->kind = kind;
	v->easy = e->npool ? e->pool[--e->npool] : curl_easy_init();
	ret = -ENOMEM;
	if (!v->easy)
		goto out_free;
	if ((ret = sigv4_sign_headers(&rq, &cred, &signed_hdrs)) < 0)
		goto out_free;
	ret = -ENOMEM;
	for (size_t i = 0; i < 3 + signed_hdrs.n; i++) {
		static const char *const fixed[3] = { "Content-Type: application/json",
						      "X-Amz-Invocation-Type: RequestResponse",
						      "Expect:" };
		/* on failure curl_slist_append returns NULL and leaves the list as it was */
		struct curl_slist *nl = curl_slist_append(v->hdrs, i < 3 ? fixed[i] : signed_hdrs.v[i - 3]);
		if (!nl)
			goto out_free;
		v->hdrs = nl;
	}
	strlist_release(&signed_hdrs);
	tmo = e->invoke_timeout_ms ? e->invoke_timeout_ms
				   : j->timeout_ms ? j->timeout_ms + 60000u : 16u * 60 * 1000;
	curl_easy_setopt(v->easy, CURLOPT_URL, e->invoke_url);
	curl_easy_setopt(v->easy, CURLOPT_POST, 1L);
	/* copied: a losing twin outlives its job (an orphan) and may not have sent
	 * its request yet when the job is freed (CURLOPT_POSTFIELDS is not copied) */
	curl_easy_setopt(v->easy, CURLOPT_POSTFIELDSIZE, (long)j->payload_len);
	ret = -ENOMEM;
	if (curl_easy_setopt(v->easy, CURLOPT_COPYPOSTFIELDS, j->payload) != CURLE_OK)
		goto out_free;
	curl_easy_setopt(v->easy, CURLOPT_HTTPHEADER, v->hdrs);
	curl_easy_setopt(v->easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(v->easy, CURLOPT_WRITEDATA, v);
	curl_easy_setopt(v->easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(v->easy, CURLOPT_HEADERDATA, v);
	curl_easy_setopt(v->easy, CURLOPT_PRIVATE, v);
	curl_easy_setopt(v->easy, CURLOPT_ERRORBUFFER, v->curl_err);
	curl_easy_setopt(v->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(v->easy, CURLOPT_TIMEOUT_MS, (long)tmo);
	curl_easy_setopt(v->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
	curl_easy_setopt(v->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	if (e->ca_file)
		curl_easy_setopt(v->easy, CURLOPT_CAINFO, e->ca_file);
	if (e->ca_path)
		curl_easy_setopt(v->easy, CURLOPT_CAPATH, e->ca_path);
	if ((ret = http_loop_add(e->loop, v->easy)) < 0)
		goto out_free;
	v->start_ms = clock_now_ms();
	if (!j->ninv)
		e->nrunning++;
	j->inv[j->ninv++] = v;
	e->ninv++;
	if (kind == INV_DUP)
		e->ndups++;
	e->stats.invocations++;
	if (e->ninv > e->stats.max_in_flight)
		e->stats.max_in_flight = e->ninv;
	return 0;
out_free:
	strlist_release(&signed_hdrs);
	inv_free(e, v);
	return ret;
}

/*
 * May one more invocation start now, within the account's limits (lambda.h)?  0,
 * a new environment's token taken if it needs one; else when to ask again (ms;
 * UINT64_MAX: when an invocation ends).
 */
static uint64_t limits_allow(struct engine *e, uint64_t now)
{
	if (e->ninv >= e->concurrency)
		return UINT64_MAX;
	if (e->ninv < e->envs)
		return 0; /* a warm environment is idle */
	if (!lambda_bucket_take(&e->bucket, now))
		return lambda_bucket_next(&e->bucket, now);
	e->envs++;
	e->stats.environments++;
	return 0;
}

/* The percentage of D' after which a job may get a backup (straggler_spare_pct; 0: at
 * the rule's floor). */
static unsigned backup_pct(const struct lambda_straggler_rule *r)
{
	return r->spare_pct ? r->spare_pct : 1;
}

/*
 * The soonest j's running invocation may get a duplicate (ms into it): the rule of
 * the last scan (the configured one before any) with the lower of its two
 * percentages, *rule.  0: no threshold yet.
 */
static uint64_t soonest_duplicate(const struct engine *e, const struct ljob *j,
				  struct lambda_straggler_rule *rule)
{
	*rule = e->scan_scale ? e->scan_rule : e->strag;
	if (rule->spare_pct < rule->pct) /* a backup's */
		rule->pct = backup_pct(rule);
	return lambda_straggler_after(rule, j->expect_ms,
				      e->scan_scale > UINT32_MAX ? UINT32_MAX : (unsigned)e->scan_scale,
				      e->scan_peers);
}

/*
 * A first invocation of j has just started: the straggler scan must come no later
 * than its threshold (by the medians of the last scan, with the lower of the two
 * percentages), however far off the scan planned for the jobs already running is.
 */
static void scan_by(struct engine *e, const struct ljob *j, uint64_t now)
{
	const struct lambda_straggler_rule *base = e->scan_scale ? &e->scan_rule : &e->strag;
	struct lambda_straggler_rule rule;
	uint64_t after, due;
	if (!(j->expect_ms ? base->pct : base->factor))
		return; /* this rule is off */
	after = soonest_duplicate(e, j, &rule);
	due = now + (after ? after : 100);
	if (e->next_scan && e->next_scan <= due)
		return;
	e->next_scan = due;
	http_loop_signal(e->loop); /* timers() arms the timer for it */
}

/* Launch j's invocation (state INVOKE) now, or complete it with the error. */
static void invoke_now(struct engine *e, struct ljob *j)
{
	int ret;
	set_state(e, j, L_INVOKE);
	j->dups = 0;
	if ((ret = inv_launch(e, j, INV_FIRST)) < 0)
		complete(e, j, ret, str_printf("cannot invoke %s: %s", e->who, strerror(-ret)));
	else
		scan_by(e, j, j->inv[0]->start_ms);
}

/* May one more job get its first invocation now?  0, or limits_allow's answer. */
static uint64_t room_for_first(struct engine *e, uint64_t now)
{
	if (e->nrunning >= e->max_run)
		return UINT64_MAX; /* -j: when a job's invocation ends */
	return limits_allow(e, now);
}

/* Launch j's invocation when -j and the account's limits allow: now, or from the
 * wait queue (after the due duplicates and the jobs of a higher rank waiting),
 * launched by timers(). */
static void invoke(struct engine *e, struct ljob *j)
{
	if (j->state == L_BACKOFF)
		e->nbackoff--;
	if (!e->nwq && !e->nwant && room_for_first(e, clock_now_ms()) == 0) {
		invoke_now(e, j);
		return;
	}
	if (e->nrunning < e->max_run)
		e->stats.limited++; /* the account's limits, not -j's */
	set_state(e, j, L_WAIT);
	wq_push(e, j);
	http_loop_signal(e->loop); /* timers() arms the wake-up for the bucket */
}

static void backoff(struct engine *e, struct ljob *j)
{
	uint64_t cap = e->backoff_ms, wait;
	for (unsigned k = 1; k < j->refusals && cap < e->backoff_max_ms; k++)
		cap *= 2;
	if (cap > e->backoff_max_ms)
		cap = e->backoff_max_ms;
	wait = cap ? next_rand(e) % (cap + 1) : 0;
	j->not_before = clock_now_ms() + wait;
	set_state(e, j, L_BACKOFF);
	e->nbackoff++;
}

/* v (clamped to 32 bits) into a ring of RING values: its next slot *pos, *n the count. */
static void ring_push(uint32_t *ring, size_t *pos, size_t *n, uint64_t v)
{
	ring[*pos] = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
	*pos = (*pos + 1) % RING;
	if (*n < RING)
		(*n)++;
}

/* An answered invocation of j that ran ms: into the rings of the straggler rule
 * (the residual against the scale of the last scan, when there was one). */
static void ring_add(struct engine *e, const struct ljob *j, uint64_t ms)
{
	if (j->expect_ms && e->scan_scale) {
		uint64_t want = j->expect_ms * e->scan_scale / 100;
		ring_push(e->resid, &e->resid_pos, &e->nresid, ms > want ? ms - want : 0);
	}
	ring_push(e->ring, &e->ring_pos, &e->nring, ms);
	if (j->expect_ms)
		ring_push(e->ratio, &e->ratio_pos, &e->nratio, ms * 100 / j->expect_ms);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* The pct-th percentile of the ring: 0 while fewer than STRAGGLER_SAMPLES are in, so
 * a known value is at least 1 (a median of 0 ms, answers faster than the clock's
 * tick, must not read as "not known yet": that turned the straggler rule off). */
static uint64_t ring_quantile(const uint32_t *ring, size_t n, unsigned pct)
{
	uint32_t tmp[RING], v;
	if (n < STRAGGLER_SAMPLES)
		return 0;
	memcpy(tmp, ring, n * sizeof(tmp[0]));
	qsort(tmp, n, sizeof(tmp[0]), cmp_u32);
	v = tmp[n * pct / 100 < n ? n * pct / 100 : n - 1];
	return v ? v : 1;
}

static uint64_t ring_median(const uint32_t *ring, size_t n)
{
	return ring_quantile(ring, n, 50);
}

struct lambda_straggler_rule lambda_straggler_fit(const struct lambda_straggler_rule *r,
						  unsigned scale_pct, unsigned tail_pct,
						  uint64_t resid_ms)
{
	struct lambda_straggler_rule f = *r;
	uint64_t pct, margin;
	if (!r->fit || !scale_pct || !tail_pct)
		return f;
	/* the spread of the ratios, tail over median, and a cushion */
	pct = (uint64_t)(tail_pct > scale_pct ? tail_pct : scale_pct) * 100 / scale_pct +
	      LAMBDA_FIT_CUSHION_PCT;
	if (pct < LAMBDA_FIT_MIN_PCT)
		pct = LAMBDA_FIT_MIN_PCT;
	if (pct < f.pct)
		f.pct = (unsigned)pct;
	if (!resid_ms || resid_ms > UINT32_MAX)
		return f; /* not known: the margin stays */
	margin = 2 * resid_ms;
	if (margin < LAMBDA_FIT_MIN_MARGIN_MS)
		margin = LAMBDA_FIT_MIN_MARGIN_MS;
	if (margin < f.margin_ms)
		f.margin_ms = (unsigned)margin;
	return f;
}

unsigned lambda_s3_conns(unsigned slots)
{
	unsigned n = slots / LAMBDA_S3_CONNS_DIV;
	return n < S3_DEFAULT_CONNS ? S3_DEFAULT_CONNS : n > S3_MAX_CONNS ? S3_MAX_CONNS : n;
}

uint64_t lambda_straggler_after(const struct lambda_straggler_rule *r, uint64_t expect_ms,
				unsigned scale_pct, uint64_t peers_ms)
{
	uint64_t t;
	if (expect_ms && r->pct) {
		/* clamped so that nothing overflows: 2^32 ms is 50 days, 1000x a lot */
		uint64_t d, pct = r->pct < 100000 ? r->pct : 100000;
		if (!scale_pct)
			return 0;
		if (expect_ms > UINT32_MAX)
			expect_ms = UINT32_MAX;
		d = expect_ms * (scale_pct < 100000 ? scale_pct : 100000) / 100;
		t = d * pct / 100;
		if (pct >= 100 && t < d + r->margin_ms) /* under 100: a hedge, no margin */
			t = d + r->margin_ms;
	} else if (!expect_ms && r->factor && peers_ms) {
		t = peers_ms * r->factor;
	} else {
		return 0;
	}
	return t < r->min_ms ? r->min_ms : t;
}

/* Does the store hold every output blob?  Those it lacks go into j->blobs. */
static int want_outputs(struct engine *e, struct ljob *j)
{
	const struct cache_entry *o = &j->res->outputs;
	free(j->blobs);
	j->blobs = NULL;
	j->nblobs = 0;
	if (!o->n)
		return 0;
	j->blobs = calloc(o->n, sizeof(*j->blobs));
	if (!j->blobs)
		return -ENOMEM;
	for (size_t i = 0; i < o->n; i++) {
		long b;
		if (!hash_is_set(&o->v[i].value) || store_has(e->st, &o->v[i].value))
			continue;
		if ((b = blob_get(e, &o->v[i].value)) < 0)
			return (int)b;
		j->blobs[j->nblobs++] = (uint32_t)b;
	}
	return 0;
}

/* A valid answer: fill res, then fetch what the store lacks, or complete. */
static void answered(struct engine *e, struct ljob *j, struct lambda_answer *a, uint64_t ms)
{
	struct engine_result *r = j->res;
	char hex[GG_HASH_HEX_SIZE], hex2[GG_HASH_HEX_SIZE];
	int ret;

	r->ms = ms;
	r->level = a->level;
	r->fetch_ms = a->fetch_ms;
	r->run_ms = a->run_ms;
	r->upload_ms = a->upload_ms;
	if (hash_is_set(&a->thunk) && !hash_equal(&a->thunk, &j->thunk)) {
		complete(e, j, -EBADMSG, str_printf("%s answered for thunk %s, not %s", e->who,
					      hash_to_hex(&a->thunk, hex), hash_to_hex(&j->thunk, hex2)));
		return;
	}
	if (!a->ran) {
		char *msg = str_printf("worker could not run thunk %s: %s", hash_to_hex(&j->thunk, hex),
				 a->error ? a->error : "no reason given");
		r->infra = true;
		complete(e, j, -EIO, msg);
		return;
	}
	r->ran = true;
	r->status = a->status;
	r->undeclared = a->undeclared;
	a->undeclared = NULL;
	if (a->status != 0) {
		r->err = str_printf("exit status %d%s%s", a->status,
			      a->stderr_tail && *a->stderr_tail ? "; stderr: " : "",
			      a->stderr_tail ? a->stderr_tail : "");
		complete(e, j, 0, NULL);
		return;
	}
	r->outputs = a->outputs;
	a->outputs = (struct cache_entry){ NULL, 0 };
	if ((ret = want_outputs(e, j)) < 0) {
		complete(e, j, ret, NULL);
		return;
	}
	if (!j->nblobs) {
		complete(e, j, 0, NULL);
		return;
	}
	if (!e->s3) {
		complete(e, j, -ENOENT, str_printf("output blob %s of thunk %s is not in the local store "
					     "and the lambda engine has no remote",
					     hash_to_hex(&e->blobs[j->blobs[0]].h, hex),
					     hash_to_hex(&j->thunk, hex2)));
		return;
	}
	set_state(e, j, L_DOWNLOAD);
	e->s3_dirty = true;
}

static int status_errno(long status)
{
	switch (status) {
	case 400: return -EINVAL;
	case 401:
	case 403: return -EACCES;
	case 404: return -ENOENT;
	case 413: return -E2BIG;
	default: return -EIO;
	}
}

/* A transfer finished (http_loop_run's callback). */
static void on_done(void *ctx, CURL *easy, CURLcode rc)
{
	struct engine *e = ctx;
	struct inv *v = NULL;
	struct ljob *j;
	struct lambda_answer a;
	char *type = NULL, *msg = NULL, *err = NULL;
	long status = 0;
	uint64_t ms;
	bool twin;

	curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&v);
	if (!v)
		return;
	if (!v->j) { /* an orphan's answer: nobody wants it */
		if (rc == CURLE_OK && v->fn_error[0] && v->body.buf &&
		    strstr(v->body.buf, "Gg.Superseded"))
			e->stats.stopped_early++;
		orphan_end(e, v);
		return;
	}
	j = v->j;
	ms = clock_now_ms() - v->start_ms;
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	twin = j->ninv > 1;

	if (rc == CURLE_OK && status == 200 && !v->fn_error[0]) {
		if (lambda_answer_parse(v->body.buf ? v->body.buf : "", v->body.len, &a) == 0) {
			bool dup = v->kind != INV_FIRST;
			ring_add(e, j, ms);
			inv_drop(e, v);
			if (dup)
				e->stats.duplicate_wins++;
			if (j->ninv) { /* the twins lose: told to stop, they run on until then */
				struct stopmark *m = mark_new(e, j, j->ninv);
				while (j->ninv) {
					struct inv *o = j->inv[0];
					inv_orphan(e, o);
					o->mark = m;
				}
			}
			answered(e, j, &a, ms);
			lambda_answer_release(&a);
			return;
		}
		err = str_printf("%s answered something that is not a worker report: %.120s", e->who,
			   v->body.buf ? v->body.buf : "");
		inv_drop(e, v);
		if (!twin) {
			j->res->infra = true;
			complete(e, j, -EBADMSG, err);
		} else {
			free(err); /* a twin still runs: its answer decides */
		}
		return;
	}
	if (rc == CURLE_OK && status == 200) {
		/* a function error: the worker's own ("Gg.*", ...) or Lambda's (the
		 * runtime died, the sandbox timed out) */
		lambda_error_parse(v->body.buf ? v->body.buf : "", v->body.len, &type, &msg);
		if (type && (!strncmp(type, "Runtime.", 8) || !strncmp(type, "Sandbox.", 8) ||
			     !strcmp(type, "Gg.Deadline") || !strcmp(type, "Gg.Superseded"))) {
			/* Gg.Deadline: the worker stopped the command for the function's
			 * deadline (lambda_runtime.h), as good as a timeout; Gg.Superseded
			 * reaches a job only if a stop key was found that this job did not
			 * put (someone else's doing): run it again, bounded, all the same */
			e->stats.worker_deaths++;
			err = str_printf("%s: the worker died: %s: %s", e->who, type, msg ? msg : "");
			goto dead;
		}
		e->stats.function_errors++;
		err = str_printf("%s failed (%s): %s: %s", e->who, v->fn_error, type ? type : "Unknown",
			   msg ? msg : "");
		inv_drop(e, v);
		if (!twin) {
			j->res->infra = true;
			complete(e, j, -EREMOTEIO, err);
		} else {
			free(err);
		}
		goto out_free;
	}
	if (rc == CURLE_OPERATION_TIMEDOUT && status == 0) {
		e->stats.transport_errors++;
		err = str_printf("%s: no answer within %.1f s", e->who, (double)ms / 1000.0);
		goto dead;
	}
	if (rc != CURLE_OK || status == 429 || status >= 500) {
		if (rc != CURLE_OK)
			e->stats.transport_errors++;
		else if (status == 429)
			e->stats.throttled++;
		else
			e->stats.server_errors++;
		if (rc == CURLE_OK)
			lambda_error_parse(v->body.buf ? v->body.buf : "", v->body.len, &type, &msg);
		err = rc != CURLE_OK ? str_printf("%s: %s", e->who, v->curl_err[0] ? v->curl_err
								     : curl_easy_strerror(rc))
				     : str_printf("%s: %ld %s: %s", e->who, status,
					    v->err_type[0] ? v->err_type : type ? type : "",
					    msg ? msg : "");
		inv_drop(e, v);
		if (twin) {
			free(err);
			goto out_free;
		}
		if (++j->refusals >= e->attempts) {
			char *full = str_printf("gave up after %u attempts: %s", j->refusals, err ? err : "");
			free(err);
			j->res->infra = true;
			complete(e, j, -EIO, full);
			goto out_free;
		}
		free(err);
		backoff(e, j);
		goto out_free;
	}
	/* another status: the request itself is wrong (credentials, function, size) */
	lambda_error_parse(v->body.buf ? v->body.buf : "", v->body.len, &type, &msg);
	err = str_printf("%s: %ld %s: %s", e->who, status,
		   v->err_type[0] ? v->err_type : type ? type : "",
		   msg ? msg : status == 202 ? "accepted as an asynchronous invocation" : "");
	inv_drop(e, v);
	if (twin) {
		free(err);
		goto out_free;
	}
	if (status == 401 || status == 403 || status == 404) {
		if (e->fatal) { /* said once by the first job: the others end unrun */
			free(err);
			complete(e, j, -ECANCELED, NULL);
			goto out_free;
		}
		e->fatal = status_errno(status);
		e->fatal_msg = err ? strdup(err) : NULL;
	}
	complete(e, j, status_errno(status), err);
	goto out_free;

dead:
	inv_drop(e, v);
	if (twin) {
		free(err);
		goto out_free;
	}
	if (j->relaunches < e->retries) {
		j->relaunches++;
		e->stats.relaunched++;
		free(err);
		invoke(e, j);
		goto out_free;
	}
	j->res->infra = true;
	complete(e, j, rc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -EREMOTEIO, err);
out_free:
	free(type);
	free(msg);
}

/* ---- S3: uploads before, downloads after ------------------------------------------- */

/* Blob b failed this round: s3_advance makes it UNKNOWN/NONE again afterwards. */
static void note_failed(struct engine *e, uint32_t b)
{
	if (e->nfailed == e->afailed) {
		size_t na = e->afailed ? 2 * e->afailed : 64;
		uint32_t *nf = realloc(e->failed, na * sizeof(*nf));
		if (!nf) {
			e->failed_all = true;
			return;
		}
		e->failed = nf;
		e->afailed = na;
	}
	e->failed[e->nfailed++] = b;
}

/* Queue what the waiting jobs need into a new batch. */
static int s3_build(struct engine *e)
{
	char hex[GG_HASH_HEX_SIZE], path[4096];
	struct s3_batch *b = NULL;
	long idx;

	for (struct ljob *j = e->s3_head; j; j = j->snext) {
		for (size_t i = 0; i < j->nblobs; i++) {
			struct blob *bl = &e->blobs[j->blobs[i]];
			int kind = 0; /* 1 HEAD, 2 PUT, 3 GET, 4 DELETE */
			if (j->state == L_UPLOAD && bl->up == B_UNKNOWN)
				kind = 1;
			else if (j->state == L_UPLOAD && bl->up == B_MISSING)
				kind = 2;
			else if (j->state == L_DOWNLOAD && bl->down == D_NONE && !store_has(e->st, &bl->h))
				kind = 3;
			else if (j->state == L_DOWNLOAD && bl->down == D_BAD)
				kind = 4;
			if (!kind)
				continue;
			if (!b && !(b = s3_batch_new(e->s3)))
				return -ENOMEM;
			hash_to_hex(&bl->h, hex);
			if (kind == 1) {
				idx = s3_batch_head(b, hex);
				bl->up = B_HEAD;
			} else if (kind == 2 && bl->mem) {
				idx = s3_batch_put_buf(b, hex, bl->mem, bl->size);
				bl->up = B_PUT;
			} else if (kind == 2) {
				if (store_path(e->st, &bl->h, path, sizeof(path)) < 0)
					idx = -ENAMETOOLONG;
				else
					idx = s3_batch_put_file(b, hex, path);
				bl->up = B_PUT;
			} else if (kind == 3) {
				idx = s3_batch_get_store(b, hex, e->st, &bl->h);
				bl->down = D_GET;
			} else {
				idx = s3_batch_delete(b, hex);
				bl->down = D_DELETE;
			}
			if (idx < 0) {
				free(bl->msg);
				bl->msg = str_printf("cannot queue blob %s: %s", hex, strerror((int)-idx));
				if (kind >= 3)
					bl->down = D_FAILED;
				else
					bl->up = B_FAILED;
				note_failed(e, j->blobs[i]);
				continue;
			}
			/* the blob's index, not its address: the table may grow meanwhile
			 * (shifted: an odd udata is a stop key's) */
			s3_batch_set_udata(b, (size_t)idx, (void *)(((uintptr_t)j->blobs[i] + 1) << 1));
		}
	}
	for (struct stopmark *m = e->marks; m; m = m->next) {
		if (m->state != M_PUT && m->state != M_DEL)
			continue;
		if (!b && !(b = s3_batch_new(e->s3)))
			return -ENOMEM;
		idx = m->state == M_PUT ? s3_batch_put_buf(b, m->key, "", 0) : s3_batch_delete(b, m->key);
		if (idx < 0) {
			m->state = M_GONE;
			continue;
		}
		m->state = m->state == M_PUT ? M_PUTTING : M_DELETING;
		s3_batch_set_udata(b, (size_t)idx, (void *)((uintptr_t)m | 1));
	}
	marks_sweep(e);
	e->batch = b;
	return 0;
}

/* Forget the batch (done, failed or abandoned) and what was harvested of it. */
static void batch_drop(struct engine *e)
{
	s3_batch_free(e->batch);
	e->batch = NULL;
	e->harvested = 0;
}

/* Item i's result r into the blob table (or its stop key's state), once. */
static void harvest_item(struct engine *e, size_t i, const struct s3_result *r)
{
	struct s3_batch *b = e->batch;
	uintptr_t u = (uintptr_t)s3_batch_udata(b, i);
	enum s3_op op = s3_batch_op(b, i);
	struct blob *bl;

	if (!u)
		return;
	s3_batch_set_udata(b, i, NULL);
	if (u & 1) { /* a stop key */
		struct stopmark *m = (struct stopmark *)(u & ~(uintptr_t)1);
		if (op == S3_OP_PUT && !r->err) {
			e->stats.stop_keys++;
			m->state = m->orphans ? M_UP : M_DEL;
		} else {
			/* not put (its twins run to their end), or deleted (a failed
			 * DELETE leaves a key that stops nothing: it is unique) */
			m->state = M_GONE;
		}
		return;
	}
	bl = &e->blobs[(u >> 1) - 1];
	if (op == S3_OP_HEAD) {
		if (!r->err)
			bl->up = r->size == bl->size ? B_PRESENT : B_MISSING;
		else if (r->err == -ENOENT)
			bl->up = B_MISSING;
		else
			bl->up = B_FAILED;
	} else if (op == S3_OP_PUT) {
		bl->up = r->err ? B_FAILED : B_PRESENT;
		if (!r->err) {
			e->stats.blobs_uploaded++;
			e->stats.bytes_uploaded += r->size;
		}
	} else if (op == S3_OP_GET) {
		bl->down = r->err == -EBADMSG ? D_BAD : r->err ? D_FAILED : D_NONE;
		if (!r->err) {
			e->stats.blobs_downloaded++;
			e->stats.bytes_downloaded += r->size;
		} else if (r->err == -EBADMSG) {
			e->stats.corrupt_blobs++;
		}
	} else if (op == S3_OP_DELETE) {
		/* gone (or already): the thunk's next run uploads it again */
		bl->down = r->err && r->err != -ENOENT ? D_FAILED : D_NONE;
		bl->up = B_UNKNOWN;
	}
	if (bl->up == B_PRESENT && bl->mem) {
		free(bl->mem); /* the bucket has it: no job puts it again */
		bl->mem = NULL;
	}
	if (r->err && (bl->up == B_FAILED || bl->down == D_FAILED)) {
		note_failed(e, (uint32_t)((u >> 1) - 1));
		free(bl->msg);
		bl->msg = str_printf("%s", r->msg ? r->msg : strerror(-r->err));
	}
}

/*
 * Blob states from the results of the batch's items finished since the last call,
 * in the order they finished (a job moves on as soon as its own blobs are known,
 * not when the last of a thousand HEADs is back).  How many it took.
 */
static size_t s3_harvest(struct engine *e)
{
	size_t i, took = 0;
	for (; (i = s3_batch_finished(e->batch, e->harvested)) != SIZE_MAX; e->harvested++, took++)
		harvest_item(e, i, s3_batch_result(e->batch, i));
	return took;
}

/* The batch is done, or failed (left < 0: its unfinished items fail with it): the
 * next one may start. */
static void batch_end(struct engine *e, long left)
{
	struct s3_result fail = { .err = (int)left, .msg = "the S3 requests' loop failed" };

	for (size_t i = 0; left < 0 && i < s3_batch_count(e->batch); i++)
		harvest_item(e, i, &fail); /* (those harvested are marked: skipped) */
	batch_drop(e);
	marks_sweep(e);
}

/* Move the jobs waiting on S3 that can move; forget this round's failures. */
static void s3_advance(struct engine *e)
{
	struct ljob *j, *nj;
	for (j = e->s3_head; j; j = nj) {
		const struct blob *failed = NULL;
		bool ready = true;
		nj = j->snext;
		for (size_t i = 0; i < j->nblobs; i++) {
			const struct blob *bl = &e->blobs[j->blobs[i]];
			if (j->state == L_UPLOAD) {
				if (bl->up == B_FAILED)
					failed = bl;
				else if (bl->up != B_PRESENT)
					ready = false;
			} else {
				if (bl->down == D_BAD || bl->down == D_DELETE)
					j->purge = true;
				if (bl->down == D_FAILED)
					failed = bl;
				else if (!store_has(e->st, &bl->h))
					ready = false;
			}
		}
		if (!failed && j->state == L_DOWNLOAD && j->purge) {
			/* a corrupt output in the bucket: once its deletions are done, the
			 * thunk runs again (bounded like a dead worker); nothing of the bad
			 * copy reached the store (s3.h refuses it) */
			bool deleting = false;
			char hex[GG_HASH_HEX_SIZE];
			for (size_t i = 0; i < j->nblobs; i++)
				if (e->blobs[j->blobs[i]].down == D_BAD ||
				    e->blobs[j->blobs[i]].down == D_DELETE)
					deleting = true;
			if (deleting)
				continue;
			j->purge = false;
			if (j->relaunches < e->retries) {
				j->relaunches++;
				e->stats.relaunched++;
				engine_result_release(j->res);
				*j->res = (struct engine_result){ 0 };
				invoke(e, j);
			} else {
				j->res->infra = true;
				complete(e, j, -EBADMSG, str_printf("thunk %s: its outputs in the bucket are "
							      "corrupt after %u runs",
							      hash_to_hex(&j->thunk, hex),
							      j->relaunches + 1));
			}
			continue;
		}
		if (failed) {
			char hex[GG_HASH_HEX_SIZE];
			j->res->infra = true;
			complete(e, j, -EIO, str_printf("cannot %s blob %s: %s",
						  j->state == L_UPLOAD ? "upload" : "download",
						  hash_to_hex(&failed->h, hex),
						  failed->msg ? failed->msg : "failed"));
		} else if (ready && j->state == L_UPLOAD) {
			invoke(e, j);
		} else if (ready) {
			complete(e, j, 0, NULL);
		}
	}
	for (size_t k = 0; k < (e->failed_all ? e->nblobs : e->nfailed); k++) {
		struct blob *bl = &e->blobs[e->failed_all ? k : e->failed[k]];
		if (bl->up == B_FAILED)
			bl->up = B_UNKNOWN;
		if (bl->down == D_FAILED)
			bl->down = D_NONE;
	}
	e->nfailed = 0;
	e->failed_all = false;
}

static void s3_pump(struct engine *e)
{
	size_t took;
	long left;
	if (!e->s3)
		return;
	for (int round = 0; round < 2; round++) {
		if (!e->batch) {
			if (!e->s3_dirty)
				return;
			e->s3_dirty = false;
			if (s3_build(e) < 0 || !e->batch) {
				s3_advance(e); /* nothing to move: what waits is ready or failed */
				return;
			}
		}
		left = s3_batch_step(e->batch, 0);
		took = s3_harvest(e);
		if (left > 0) {
			if (took)
				s3_advance(e); /* jobs whose blobs are all known move now */
			return;
		}
		batch_end(e, left);
		s3_advance(e);
		e->s3_dirty = true; /* what was MISSING is now wanted as a PUT */
	}
}

/* ---- the ops ------------------------------------------------------------------------- */

static int lambda_create(const struct engine_config *cfg, struct engine **out, char *err,
			 size_t errlen)
{
	struct engine *e;
	const char *p = cfg->params;
	char keybuf[256], *v;
	struct rlimit rl;
	struct sbuf path = SBUF_INIT;
	unsigned lookahead;
	int ret;

	e = calloc(1, sizeof(*e));
	if (!e) {
		errbuf_set(err, errlen, "out of memory");
		return -ENOMEM;
	}
	e->st = cfg->st;
	e->max_run = cfg->slots ? cfg->slots : DEFAULT_SLOTS;
	lookahead = e->max_run / LOOKAHEAD_DIV ? e->max_run / LOOKAHEAD_DIV : 1;
	e->attempts = 12;
	e->retries = 2;
	e->backoff_ms = 100;
	e->backoff_max_ms = 20000;
	e->strag = (struct lambda_straggler_rule){ .pct = 150, .spare_pct = 0, .margin_ms = 300,
						   .factor = 4, .min_ms = 500, .fit = 1 };
	e->concurrency = e->burst = e->env_rate = 1000;
	if ((ret = param_uint(p, "attempts", &e->attempts)) < 0 ||
	    (ret = param_uint(p, "retries", &e->retries)) < 0 ||
	    (ret = param_uint(p, "backoff_ms", &e->backoff_ms)) < 0 ||
	    (ret = param_uint(p, "backoff_max_ms", &e->backoff_max_ms)) < 0 ||
	    (ret = param_uint(p, "straggler", &e->strag.factor)) < 0 ||
	    (ret = param_uint(p, "straggler_pct", &e->strag.pct)) < 0 ||
	    (ret = param_uint(p, "straggler_spare_pct", &e->strag.spare_pct)) < 0 ||
	    (ret = param_uint(p, "straggler_margin_ms", &e->strag.margin_ms)) < 0 ||
	    (ret = param_uint(p, "straggler_min_ms", &e->strag.min_ms)) < 0 ||
	    (ret = param_uint(p, "straggler_fit", &e->strag.fit)) < 0 ||
	    (ret = param_uint(p, "invoke_timeout_ms", &e->invoke_timeout_ms)) < 0 ||
	    (ret = env_uint("GG_LAMBDA_CONCURRENCY", &e->concurrency)) < 0 ||
	    (ret = env_uint("GG_LAMBDA_BURST", &e->burst)) < 0 ||
	    (ret = env_uint("GG_LAMBDA_ENV_RATE", &e->env_rate)) < 0 ||
	    (ret = param_uint(p, "concurrency", &e->concurrency)) < 0 ||
	    (ret = param_uint(p, "burst", &e->burst)) < 0 ||
	    (ret = param_uint(p, "env_rate", &e->env_rate)) < 0 ||
	    (ret = param_uint(p, "lookahead", &lookahead)) < 0 ||
	    (ret = param_uint(p, "s3_conns", &e->s3_conns)) < 0 ||
	    (ret = param_uint(p, "priority_own_pct", &(unsigned){ 0 })) < 0) {
		errbuf_set(err, errlen, "bad lambda engine parameters '%s'", p);
		goto out_free;
	}
	if (!e->attempts)
		e->attempts = 1;
	e->slots = lookahead < UINT_MAX - e->max_run ? e->max_run + lookahead : UINT_MAX;
	if (!e->s3_conns)
		e->s3_conns = lambda_s3_conns(e->slots);
	if (!(e->wq = calloc(e->slots, sizeof(*e->wq))) ||
	    !(e->backups = calloc(e->slots, sizeof(*e->backups)))) {
		errbuf_set(err, errlen, "out of memory");
		ret = -ENOMEM;
		goto out_free;
	}
	if (!e->concurrency)
		e->concurrency = 1;
	if (!e->burst)
		e->burst = 1;
	lambda_bucket_init(&e->bucket, e->burst, e->env_rate, clock_now_ms());
	e->function = param_str(p, "function");
	if (!e->function && (v = getenv("GG_LAMBDA_FUNCTION")) && *v)
		e->function = strdup(v);
	if (!e->function)
		e->function = strdup("gg");
	e->remote = param_str(p, "remote");
	if (!e->remote && (v = getenv("GG_REMOTE")) && *v)
		e->remote = strdup(v);
	ret = -ENOMEM;
	if (!e->function) {
		errbuf_set(err, errlen, "out of memory");
		goto out_free;
	}
	if ((ret = aws_config_load(&e->cfg, AWS_CONFIG_NEED_CREDENTIALS, err, errlen)) < 0)
		goto out_free;
	if ((ret = aws_lambda_endpoint(&e->cfg, &e->ep, err, errlen)) < 0)
		goto out_free;
	sbuf_addstr(&path, e->ep.path_base);
	sbuf_addstr(&path, "/2015-03-31/functions/");
	sigv4_uri_encode(&path, e->function, strlen(e->function), false);
	sbuf_addstr(&path, "/invocations");
	if ((ret = sbuf_error(&path)) < 0 || !(e->invoke_path = sbuf_detach(&path, NULL)) ||
	    !(e->invoke_url = str_printf("%s%s", e->ep.url_base, e->invoke_path)) ||
	    !(e->who = str_printf("lambda function '%s' at %s (%s)", e->function, e->ep.url_base,
			    aws_credentials_describe(&e->cfg.cred, keybuf, sizeof(keybuf))))) {
		errbuf_set(err, errlen, "out of memory");
		ret = -ENOMEM;
		goto out_free;
	}
	if ((v = getenv("SSL_CERT_FILE")) && *v)
		e->ca_file = strdup(v);
	if ((v = getenv("SSL_CERT_DIR")) && *v)
		e->ca_path = strdup(v);
	/* one connection per invocation in flight, plus S3's and the builder's */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if ((ret = http_loop_new(e->slots + e->slots / 10 + 1, &e->loop)) < 0) {
		errbuf_set(err, errlen, "cannot set up the lambda engine's event loop: %s",
			   strerror(-ret));
		goto out_free;
	}
	if (e->remote) {
		struct s3_opts o = { .url = e->remote, .max_conns = e->s3_conns };
		if ((ret = s3_client_new(&o, &e->s3, err, errlen)) < 0)
			goto out_free;
		if ((ret = http_loop_watch(e->loop, s3_client_fd(e->s3))) < 0) {
			errbuf_set(err, errlen, "cannot watch the s3 client: %s", strerror(-ret));
			goto out_free;
		}
	}
	if (getrandom(&e->rnd, sizeof(e->rnd), GRND_NONBLOCK) != sizeof(e->rnd))
		e->rnd = clock_now_ns();
	e->rnd |= 1;
	*out = e;
	return 0;
out_free:
	sbuf_release(&path);
	e->aborted = true;
	engine_lambda.free(e);
	return ret;
}

/*
 * The build is over: the stop keys whose twins have all answered (a DELETE wanted
 * or in flight) are deleted now, in one blocking batch; those of twins still
 * running stay in the bucket, to stop them (lambda.h).
 */
static void marks_flush(struct engine *e)
{
	struct s3_batch *b;
	if (!e->s3 || !e->marks || e->aborted || !(b = s3_batch_new(e->s3)))
		return;
	for (struct stopmark *m = e->marks; m; m = m->next)
		if (!m->orphans && (m->state == M_DEL || m->state == M_DELETING))
			(void)s3_batch_delete(b, m->key);
	if (s3_batch_count(b))
		(void)s3_batch_run(b);
	s3_batch_free(b);
}

static void lambda_free(struct engine *e)
{
	struct ljob *j;
	if (!e)
		return;
	batch_drop(e);
	marks_flush(e);
	while (e->orphans)
		orphan_end(e, e->orphans);
	while ((j = e->live)) {
		while (j->ninv)
			inv_drop(e, j->inv[0]);
		live_del(e, j);
		job_free(j);
	}
	while ((j = e->done_head)) {
		e->done_head = j->next;
		job_free(j);
	}
	while (e->marks) {
		struct stopmark *m = e->marks;
		e->marks = m->next;
		free(m);
	}
	s3_client_free(e->s3);
	while (e->npool)
		curl_easy_cleanup(e->pool[--e->npool]);
	http_loop_free(e->loop);
	for (size_t i = 0; i < e->nblobs; i++) {
		free(e->blobs[i].msg);
		free(e->blobs[i].mem);
	}
	free(e->blobs);
	free(e->bslot);
	free(e->failed);
	free(e->wq);
	free(e->backups);
	aws_endpoint_release(&e->ep);
	aws_config_release(&e->cfg);
	free(e->function);
	free(e->remote);
	free(e->invoke_url);
	free(e->invoke_path);
	free(e->who);
	free(e->ca_file);
	free(e->ca_path);
	free(e->fatal_msg);
	free(e);
}

static bool lambda_can_start_more(struct engine *e)
{
	return !e->aborted && !e->fatal && e->njobs < e->slots;
}

/* The blobs a worker needs for th (the thunk blob first): into j->blobs. */
static int job_blobs(struct engine *e, struct ljob *j, const struct thunk *th, char *err,
		     size_t errlen)
{
	size_t n = 2 + th->inputs.n + th->objects.n, k = 0;
	char hex[GG_HASH_HEX_SIZE], hex2[GG_HASH_HEX_SIZE];

	j->blobs = calloc(n, sizeof(*j->blobs));
	if (!j->blobs)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct gg_hash *h = i == 0 ? &j->thunk : i == 1 ? &th->exe.hash
				       : i - 2 < th->inputs.n ? &th->inputs.v[i - 2].hash
							      : &th->objects.v[i - 2 - th->inputs.n].hash;
		long b;
		struct stat sb;
		char path[4096];
		if (i > 0 && h->kind != GG_HASH_VALUE) {
			errbuf_set(err, errlen, "thunk %s is not portable: it names %s, not a value",
				   hash_to_hex(&j->thunk, hex), hash_to_hex(h, hex2));
			return -EINVAL;
		}
		if ((b = blob_get(e, h)) < 0)
			return (int)b;
		if (e->blobs[b].up != B_PRESENT && e->blobs[b].size == 0) {
			if (store_path(e->st, h, path, sizeof(path)) < 0 || stat(path, &sb) < 0) {
				errbuf_set(err, errlen, "blob %s of thunk %s is not in the local store",
					   hash_to_hex(h, hex), hash_to_hex(&j->thunk, hex2));
				return -ENOENT;
			}
			e->blobs[b].size = (uint64_t)sb.st_size;
		}
		j->blobs[k++] = (uint32_t)b;
	}
	j->nblobs = k;
	return 0;
}

/*
 * Move what can move, from start(): a builder starting a thousand jobs before it
 * next collects would otherwise hold their S3 checks and invocations back until
 * then, every environment idle through the burst.  Every KICK_EVERY starts.
 */
static void kick(struct engine *e)
{
	if (e->seq % KICK_EVERY)
		return;
	s3_pump(e);
	(void)http_loop_run(e->loop, on_done, e); /* an error shows at the next collect */
}

/*
 * When j's worker first looks for its stop key (lambda_proto.h): when j could first
 * get a duplicate by the straggler rule as known now (scan_by's threshold), else at
 * its recorded duration, else at the rule's floor.  Before then no twin can exist.
 */
static unsigned stop_check_ms(const struct engine *e, const struct ljob *j)
{
	struct lambda_straggler_rule rule;
	uint64_t after = soonest_duplicate(e, j, &rule);
	if (!after)
		after = j->expect_ms > rule.min_ms ? j->expect_ms : rule.min_ms;
	return after < UINT32_MAX ? (unsigned)after : UINT32_MAX;
}

/*
 * The thunk blob the payload names (enc, enclen bytes), named in *h.  With a bucket
 * it is kept in the blob table, to be PUT from memory if the HEAD misses it, unless
 * the bucket is known to hold it: no file per launch (a portable thunk is new to
 * the local store, and a file creation costs the client more than the upload: on
 * ext4 after many deletions, a scan for a free inode).  Returns 1 when the table
 * took enc, 0 when the caller keeps it.  Without a bucket it goes into the local
 * store, where the stand-ins read it.  -errno.
 */
static int keep_thunk(struct engine *e, char *enc, size_t enclen, struct gg_hash *h)
{
	struct blob *bl;
	long b;
	int ret;

	if (!e->s3)
		return store_put_buf(e->st, GG_HASH_THUNK, enc, enclen, h);
	if ((ret = hash_buf(GG_HASH_THUNK, enc, enclen, h)) < 0)
		return ret;
	if ((b = blob_get(e, h)) < 0)
		return (int)b;
	bl = &e->blobs[b];
	if (bl->up == B_PRESENT || bl->mem)
		return 0;
	bl->mem = enc;
	bl->size = enclen;
	return 1;
}

static int lambda_start(struct engine *e, const struct engine_job *job, struct engine_result *res)
{
	struct lambda_payload pl = { .blobs = e->remote, .timeout_ms = job->timeout_ms,
				     .level = job->require_level, .seed = job->seed };
	struct sbuf sb = SBUF_INIT;
	char *enc = NULL, err[ERR_MAX] = "";
	size_t enclen;
	struct ljob *j;
	struct thunk port;
	const struct thunk *th = job->th;
	int ret;

	if (e->aborted)
		return -ECANCELED;
	if (e->fatal)
		return e->fatal;
	if (e->njobs >= e->slots)
		return -EAGAIN;
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	thunk_init(&port);
	j->tag = job->tag;
	j->res = res;
	j->timeout_ms = job->timeout_ms;
	j->expect_ms = job->expect_ms;
	j->rank = job->rank;
	j->seq = e->seq++;
	/* The thunk blob the payload names.  With a bucket, the portable copy
	 * (worker.h): references to other thunks' outputs become the values the tree
	 * holds now (the builder materialized them), symlink targets and locale files
	 * become inputs, every blob lands in the local store but the thunk's own, which
	 * stays in memory until it is in the bucket (keep_thunk).  Without one
	 * (stand-ins), job->th as it is: canonical, so encoding it in place changes
	 * nothing. */
	live_add(e, j);
	e->njobs++;
	set_state(e, j, L_INVOKE);
	if (e->s3) {
		char perr[ERR_MAX] = "";
		if ((ret = worker_portable(e->st, job->th, NULL, NULL, &port, perr,
					   sizeof(perr))) < 0) {
			snprintf(err, sizeof(err), "cannot make the thunk portable for lambda: %s",
				 perr[0] ? perr : strerror(-ret));
			goto out_fail;
		}
		th = &port;
	}
	if ((ret = thunk_encode((struct thunk *)th, &enc, &enclen)) < 0 ||
	    (ret = keep_thunk(e, enc, enclen, &j->thunk)) < 0) {
		snprintf(err, sizeof(err), "cannot store the thunk for lambda: %s", strerror(-ret));
		goto out_fail;
	}
	if (ret == 0)
		free(enc); /* (else the blob table's now) */
	enc = NULL;
	if (e->s3 && (ret = job_blobs(e, j, th, err, sizeof(err))) < 0)
		goto out_fail;
	thunk_release(&port);
	pl.thunk = j->thunk;
	if (e->s3 && (e->strag.pct || e->strag.factor)) {
		/* the twins' stop key: unique to this job (a key of another build's job
		 * must stop nothing), put only if a duplicate loses */
		char hex[GG_HASH_HEX_SIZE];
		snprintf(j->stop, sizeof(j->stop), "stop/%s.%016llx", hash_to_hex(&j->thunk, hex),
			 (unsigned long long)next_rand(e));
		memcpy(pl.stop, j->stop, sizeof(pl.stop));
		pl.stop_check_ms = stop_check_ms(e, j);
	}
	if ((ret = lambda_payload_write(&pl, &sb)) < 0)
		goto out_fail;
	j->payload = sbuf_detach(&sb, &j->payload_len);
	if (!j->payload) {
		ret = -ENOMEM;
		goto out_fail;
	}
	if ((ret = sigv4_sha256_hex(j->payload, j->payload_len, j->payload_sha)) < 0)
		goto out_fail;
	if (e->s3) {
		set_state(e, j, L_UPLOAD);
		e->s3_dirty = true;
		http_loop_signal(e->loop); /* collect() builds the batch */
	} else {
		set_state(e, j, L_INVOKE);
		invoke(e, j);
	}
	kick(e);
	return 0;
out_fail:
	/* accepted, and complete at once: the completion carries the reason */
	thunk_release(&port);
	sbuf_release(&sb);
	free(enc);
	complete(e, j, ret, err[0] ? strdup(err) : NULL);
	return 0;
}

static int lambda_fd(struct engine *e)
{
	return http_loop_fd(e->loop);
}

/* A duplicate invocation of j (a straggler's, or a backup), counted. */
static bool launch_duplicate(struct engine *e, struct ljob *j, enum inv_kind kind)
{
	if (inv_launch(e, j, kind) < 0)
		return false;
	j->dups++;
	e->stats.stragglers++;
	return true;
}

/* qsort: the most critical backup candidate first (the wait queue's order). */
static int backup_cmp(const void *a, const void *b)
{
	const struct ljob *x = *(const struct ljob *const *)a, *y = *(const struct ljob *const *)b;
	return wq_before(x, y) ? -1 : wq_before(y, x) ? 1 : 0;
}

/*
 * Stragglers (lambda.h): every job the straggler rule finds due gets its
 * duplicate while the account's limits allow; those left waiting for room are
 * counted in e->nwant, and first invocations queue behind them (invoke()).  A
 * scan walks every live job: at most every 10 ms, unless duplicates wait for
 * room (then at each call: an invocation may just have ended).  Sets
 * e->next_scan (0: none planned).
 *
 * Backups (the build's tail: no job waits, fewer invocations in flight than -j
 * and the concurrency allow): jobs with one invocation that is not late (its only
 * one, or a straggler's relaunch) and has run past the spare rule get another,
 * the most critical first, until the room is used or the limits refuse; none
 * waits for room (a first invocation never queues behind a backup).
 */
static void stragglers(struct engine *e, uint64_t now)
{
	unsigned max_dups = e->max_run / 10 ? e->max_run / 10 : 1, want = 0;
	uint64_t peers, scale, next = 0;
	unsigned scale32;
	struct lambda_straggler_rule rule = e->strag, spare;
	size_t nback = 0;
	unsigned room = e->concurrency < e->max_run ? e->concurrency : e->max_run;
	bool tail;

	if (!e->ninv || (!e->strag.pct && !e->strag.factor)) {
		e->nwant = 0;
		e->next_scan = 0;
		return;
	}
	if (now < e->next_scan && !e->nwant)
		return;
	e->last_scan = now;
	peers = e->scan_peers = ring_median(e->ring, e->nring);
	scale = e->scan_scale = ring_median(e->ratio, e->nratio);
	scale32 = scale > UINT32_MAX ? UINT32_MAX : (unsigned)scale;
	rule = e->scan_rule = lambda_straggler_fit(&e->strag, scale32,
						   (unsigned)ring_quantile(e->ratio, e->nratio, 95),
						   ring_quantile(e->resid, e->nresid, 95));
	/* nothing waiting and room under -j and the concurrency: the builder has no
	 * more work to give (the build's tail), a backup delays nobody */
	tail = rule.pct && !e->nwq && e->ninv < room && rule.spare_pct < rule.pct;
	spare = rule;
	spare.pct = backup_pct(&rule);
	for (struct ljob *j = e->live; j; j = j->next) {
		uint64_t after, due, at, last = 0, prev = 0;
		if (j->state != L_INVOKE || !j->ninv || j->dups >= JOB_DUPS ||
		    j->ninv >= 1 + JOB_DUPS)
			continue;
		for (unsigned k = 0; k < j->ninv; k++) { /* the newest invocation is judged */
			uint64_t st = j->inv[k]->start_ms;
			if (st > last) {
				prev = last;
				last = st;
			} else if (st > prev) {
				prev = st;
			}
		}
		after = lambda_straggler_after(&rule, j->expect_ms, scale32, peers);
		if (!after) {
			if (!(j->expect_ms ? e->strag.pct : e->strag.factor))
				continue; /* this rule is off */
			due = now + 100; /* no threshold before enough completions */
		} else if ((due = last + after) <= now) {
			if (e->ndups >= max_dups) {
				due = now + 10;
			} else if ((at = limits_allow(e, now)) != 0) {
				want++;
				due = at;
			} else {
				launch_duplicate(e, j, INV_DUP);
				continue;
			}
		} else if (tail && (j->ninv == 1 || prev + after <= now) && j->expect_ms &&
			   (after = lambda_straggler_after(&spare, j->expect_ms, scale32, peers)) != 0) {
			/* one invocation, or every other one is late: a straggler's
			 * relaunch is one hope too, and may straggle in its turn */
			if (last + after <= now && nback < e->slots)
				e->backups[nback++] = j;
			else if (last + after < due)
				due = last + after;
		}
		if (due != UINT64_MAX && (!next || due < next))
			next = due;
	}
	e->nwant = want;
	if (nback && !want) {
		size_t k = 0;
		qsort(e->backups, nback, sizeof(*e->backups), backup_cmp);
		for (; k < nback && e->ninv < room; k++) {
			struct ljob *j = e->backups[k];
			if (limits_allow(e, now) != 0)
				break;
			if (launch_duplicate(e, j, INV_BACKUP))
				e->stats.backups++;
		}
		if (k < nback) /* the rest when an invocation ends and leaves room */
			next = now + 10;
	}
	/* no sooner than 10 ms from now: a scan walks every live job */
	e->next_scan = next ? (next > now + 10 ? next : now + 10) : 0;
}

/* Due duplicates, the wait queue, due backoffs; arm the timer for the next deadline. */
static void timers(struct engine *e)
{
	uint64_t now = clock_now_ms(), wake = 0;

	stragglers(e, now); /* first: a straggler holds up its users */
	while (e->nwq) { /* then the wait queue: it was there before the backoffs */
		struct ljob *j = e->wq[0];
		uint64_t at = room_for_first(e, now);
		if (at) {
			if (at != UINT64_MAX && (!wake || at < wake))
				wake = at;
			break;
		}
		wq_remove(e, j);
		invoke_now(e, j);
	}
	if (e->nbackoff) {
		struct ljob *j, *nj;
		for (j = e->live; j; j = nj) {
			nj = j->next;
			if (j->state != L_BACKOFF)
				continue;
			if (j->not_before <= now)
				invoke(e, j);
			else if (!wake || j->not_before < wake)
				wake = j->not_before;
		}
	}
	if (e->next_scan && e->ninv && (!wake || e->next_scan < wake))
		wake = e->next_scan;
	if (e->batch && (!wake || now + S3_TICK_MS < wake))
		wake = now + S3_TICK_MS;
	http_loop_wake_at(e->loop, wake);
}

static int lambda_collect(struct engine *e, struct engine_done *done, size_t max)
{
	size_t n = 0;
	int ret;

	if ((ret = http_loop_run(e->loop, on_done, e)) < 0)
		return ret;
	if (!e->aborted) {
		s3_pump(e);
		timers(e);
	}
	while (n < max && e->done_head) {
		struct ljob *j = e->done_head;
		e->done_head = j->next;
		if (!e->done_head)
			e->done_tail = NULL;
		done[n].tag = j->tag;
		done[n].ret = j->ret;
		n++;
		e->njobs--;
		job_free(j);
	}
	if (e->done_head)
		http_loop_signal(e->loop);
	return (int)n;
}

static void lambda_abort(struct engine *e)
{
	struct ljob *j;
	e->aborted = true;
	batch_drop(e);
	while ((j = e->live))
		complete(e, j, -ECANCELED, NULL);
	while (e->orphans)
		orphan_end(e, e->orphans);
	http_loop_wake_at(e->loop, 0);
}

void lambda_engine_stats(struct engine *e, struct lambda_stats *out)
{
	*out = e->stats;
}

/* engine_ops.own_pct: priority_own_pct (lambda.h); a bad value is create()'s error. */
static unsigned lambda_own_pct(const char *params)
{
	unsigned pct = LAMBDA_OWN_PCT;
	return param_uint(params, "priority_own_pct", &pct) < 0 ? LAMBDA_OWN_PCT : pct;
}

const struct engine_ops engine_lambda = {
	.name = "lambda",
	.no_staging = true,
	.create = lambda_create,
	.free = lambda_free,
	.can_start_more = lambda_can_start_more,
	.start = lambda_start,
	.fd = lambda_fd,
	.collect = lambda_collect,
	.abort = lambda_abort,
	.own_pct = lambda_own_pct,
};
