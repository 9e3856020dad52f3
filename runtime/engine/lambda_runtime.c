/*
 * lambda_runtime.c - the Runtime API loop of the Lambda worker (lambda_runtime.h).
 * Blocking by design: one event at a time, in the function's one process.
 */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <unistd.h>

#include "runtime/engine/http.h"
#include "runtime/engine/lambda_proto.h"
#include "runtime/engine/lambda_runtime.h"
#include "runtime/engine/s3.h"
#include "runtime/engine/s3_store.h"
#include "runtime/engine/worker.h"
#include "runtime/ir/thunk.h"
#include "runtime/lib/htab.h"
#include "runtime/lib/json.h"
#include "runtime/lib/util.h"
#include "runtime/store/ggdir.h"
#include "runtime/store/store.h"

#define ERR_MAX 2048
#define EVENT_MAX (6u << 20)

struct rt {
	const struct lambda_runtime_opts *o;
	char base[512];          /* http://host:port/2018-06-01/runtime */
	char work[1024];
	CURL *easy;
	struct s3_client *s3;
	struct s3_client *s3w;   /* the stop watcher's (its thread's alone), same url */
	char *s3_url;
	struct store st;
	/* the event */
	char rid[128];
	uint64_t deadline_ms;    /* epoch ms, 0: none */
	/* which event last used each blob, for trimming the store (lambda_runtime.h) */
	uint64_t tick;           /* events so far */
	struct use { struct gg_hash h; uint64_t tick; } *use;
	size_t nuse, ause;
	struct htab use_ix;      /* hash_key64 -> index into use */
	uint64_t budget;         /* bytes; 0 until known */
};

static bool use_eq(const void *ctx, uint32_t val, const void *key)
{
	const struct rt *r = ctx;
	return hash_equal(&r->use[val].h, key);
}

/* h is used by this event (best effort: out of memory, it is simply not known). */
static void note_use(struct rt *r, const struct gg_hash *h)
{
	uint32_t *v = htab_ref(&r->use_ix, hash_key64(h), use_eq, r, h);

	if (!hash_is_set(h))
		return;
	if (v) {
		r->use[*v].tick = r->tick;
		return;
	}
	if (r->nuse == r->ause) {
		size_t na = r->ause ? 2 * r->ause : 1024;
		struct use *nu = realloc(r->use, na * sizeof(*nu));
		if (!nu)
			return;
		r->use = nu;
		r->ause = na;
	}
	if (htab_add(&r->use_ix, hash_key64(h), (uint32_t)r->nuse) < 0)
		return;
	r->use[r->nuse++] = (struct use){ .h = *h, .tick = r->tick };
}

static uint64_t last_use(void *ctx, const struct gg_hash *h)
{
	struct rt *r = ctx;
	uint32_t i = htab_find(&r->use_ix, hash_key64(h), use_eq, r, h);
	return i == HTAB_NONE ? 0 : r->use[i].tick;
}

/*
 * What the worker may keep in /tmp between events: cache_mb, else GG_WORKER_CACHE_MB,
 * else half of the file system.  Half of it for the store (blobs as they came from
 * S3), half for the worker's cache (worker.h: the copies its roots are made of,
 * trimmed by the worker after each job).
 */
static void set_budget(struct rt *r)
{
	const char *v = getenv("GG_WORKER_CACHE_MB");
	uint64_t mb = r->o->cache_mb ? r->o->cache_mb : v && *v ? strtoull(v, NULL, 10) : 0;
	struct statvfs fs;

	if (mb)
		r->budget = mb << 20;
	else if (statvfs(r->work, &fs) == 0)
		r->budget = (uint64_t)fs.f_blocks * fs.f_frsize / 2;
}

/* After an event: the file system past the budget, the store down to three quarters
 * of its half. */
static void trim_store(struct rt *r)
{
	struct statvfs fs;
	uint64_t used;

	if (!r->budget || statvfs(r->work, &fs) < 0)
		return;
	used = (uint64_t)(fs.f_blocks - fs.f_bfree) * fs.f_frsize;
	if (used > r->budget)
		(void)store_trim(&r->st, r->budget / 2 / 4 * 3, last_use, r, NULL, NULL);
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	return sbuf_add(ud, p, size * n) < 0 ? 0 : size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	struct rt *r = ud;
	size_t len = size * n;
	char num[32];
	if (!http_header_value(p, len, "lambda-runtime-aws-request-id:", r->rid, sizeof(r->rid)) &&
	    http_header_value(p, len, "lambda-runtime-deadline-ms:", num, sizeof(num)))
		r->deadline_ms = strtoull(num, NULL, 10);
	return len;
}

/* One request to the Runtime API: its status, or -errno (not reachable). */
static long request(struct rt *r, const char *method, const char *path, const char *body,
		    const char *error_type, struct sbuf *resp)
{
	char url[1024], hdr[256];
	struct curl_slist *h = NULL;
	long status = 0;
	CURLcode rc;

	snprintf(url, sizeof(url), "%s%s", r->base, path);
	curl_easy_reset(r->easy);
	curl_easy_setopt(r->easy, CURLOPT_URL, url);
	curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, resp);
	if (!strcmp(method, "GET")) {
		/* next: no timeout, Lambda freezes us between events */
		curl_easy_setopt(r->easy, CURLOPT_HEADERFUNCTION, on_header);
		curl_easy_setopt(r->easy, CURLOPT_HEADERDATA, r);
	} else {
		curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
		curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, 30000L);
		h = curl_slist_append(h, "Content-Type: application/json");
		h = h ? curl_slist_append(h, "Expect:") : NULL;
		if (h && error_type) {
			snprintf(hdr, sizeof(hdr), "Lambda-Runtime-Function-Error-Type: %s", error_type);
			h = curl_slist_append(h, hdr);
		}
		if (!h)
			return -ENOMEM;
		curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, h);
	}
	rc = curl_easy_perform(r->easy);
	curl_slist_free_all(h);
	if (rc != CURLE_OK)
		return -ECONNREFUSED;
	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
	return status;
}

/* POST {"errorMessage","errorType"} to path. */
static void post_error(struct rt *r, const char *path, const char *type, const char *msg)
{
	struct json j;
	struct sbuf resp = SBUF_INIT;
	json_init(&j, 0);
	json_obj_begin(&j);
	json_kv_str(&j, "errorMessage", msg);
	json_kv_str(&j, "errorType", type);
	json_obj_end(&j);
	if (!json_error(&j))
		request(r, "POST", path, j.sb.buf, type, &resp);
	json_release(&j);
	sbuf_release(&resp);
}

static void event_error(struct rt *r, const char *type, const char *msg)
{
	char path[256];
	snprintf(path, sizeof(path), "/invocation/%s/error", r->rid);
	post_error(r, path, type, msg);
}

static uint64_t epoch_ms(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

/* Fetch the thunk and every blob it names into the worker's store. */
static int fetch(struct rt *r, const struct gg_hash *th, char *err, size_t errlen)
{
	struct thunk t = THUNK_INIT;
	struct gg_hash *hs = NULL;
	struct s3store_stats stats;
	size_t n = 0;
	int ret;

	note_use(r, th);
	if ((ret = s3store_pull(r->s3, &r->st, th, 1, NULL, &stats)) < 0 || stats.missing) {
		errbuf_set(err, errlen, "cannot fetch thunk %s from %s: %s",
			   hash_to_hex(th, (char[GG_HASH_HEX_SIZE]){ 0 }), s3_client_url(r->s3),
			   stats.missing ? "not in the bucket" : strerror(-ret));
		return ret < 0 ? ret : -ENOENT;
	}
	if ((ret = store_load_thunk(&r->st, th, &t)) < 0) {
		errbuf_set(err, errlen, "cannot load thunk %s: %s",
			   hash_to_hex(th, (char[GG_HASH_HEX_SIZE]){ 0 }), strerror(-ret));
		return ret;
	}
	hs = calloc(1 + t.inputs.n + t.objects.n, sizeof(*hs));
	if (!hs) {
		ret = -ENOMEM;
		goto out_release;
	}
	hs[n++] = t.exe.hash;
	for (size_t i = 0; i < t.inputs.n; i++)
		hs[n++] = t.inputs.v[i].hash;
	for (size_t i = 0; i < t.objects.n; i++)
		hs[n++] = t.objects.v[i].hash;
	for (size_t i = 0; i < n; i++)
		note_use(r, &hs[i]);
	if ((ret = s3store_pull(r->s3, &r->st, hs, n, NULL, &stats)) < 0 || stats.missing) {
		errbuf_set(err, errlen, "cannot fetch the inputs of thunk %s from %s: %zu missing, %zu failed",
			   hash_to_hex(th, (char[GG_HASH_HEX_SIZE]){ 0 }), s3_client_url(r->s3),
			   stats.missing, stats.failed);
		if (ret >= 0)
			ret = -ENOENT;
	}
out_release:
	free(hs);
	thunk_release(&t);
	return ret;
}

/*
 * The stop watcher (lambda_proto.h, "stop"): a thread that, while the command runs,
 * looks for the payload's stop key in the bucket at lambda_stop_first/next and,
 * once it is there, raises `cancel` (the sandbox then kills the command).  It ends
 * when `quit` is raised.  A look that fails (the bucket unreachable, a 5xx) is
 * simply not a stop: the command runs on.
 */
struct watch {
	struct s3_client *s3;
	const char *key;
	unsigned check_ms;
	int cancel, quit;        /* eventfds */
	bool stopped;            /* the key was found, cancel raised */
	pthread_t th;
};

static void *watch_main(void *arg)
{
	struct watch *w = arg;
	uint64_t t0 = clock_now_ms(), at = lambda_stop_first(w->check_ms);
	for (;;) {
		struct pollfd pf = { .fd = w->quit, .events = POLLIN };
		uint64_t now = clock_now_ms() - t0;
		struct s3_batch *b;
		int r;
		if (now < at) {
			uint64_t wait = at - now;
			r = poll(&pf, 1, wait > INT32_MAX ? INT32_MAX : (int)wait);
			if (r > 0 || (r < 0 && errno != EINTR))
				break;
			continue;
		}
		if ((b = s3_batch_new(w->s3))) {
			if (s3_batch_head(b, w->key) >= 0 && s3_batch_run(b) == 0)
				w->stopped = true;
			s3_batch_free(b);
		}
		if (w->stopped) {
			uint64_t one = 1;
			if (write(w->cancel, &one, sizeof(one)) < 0)
				w->stopped = false; /* (an eventfd: cannot fail) */
			break;
		}
		at = lambda_stop_next(clock_now_ms() - t0);
	}
	return NULL;
}

/* Start watching for p's stop key: 0 (w->cancel is the command's cancel_fd) or
 * -errno (the command then runs unwatched). */
static int watch_start(struct rt *r, const struct lambda_payload *p, struct watch *w)
{
	struct s3_opts so = { .url = r->s3_url };
	char err[ERR_MAX];
	int ret;

	*w = (struct watch){ .key = p->stop, .check_ms = p->stop_check_ms, .cancel = -1, .quit = -1 };
	if (!r->s3w && s3_client_new(&so, &r->s3w, err, sizeof(err)) < 0)
		return -EIO;
	w->s3 = r->s3w;
	w->cancel = eventfd(0, EFD_CLOEXEC);
	w->quit = eventfd(0, EFD_CLOEXEC);
	if (w->cancel < 0 || w->quit < 0) {
		ret = -errno;
		goto fail;
	}
	if ((ret = -pthread_create(&w->th, NULL, watch_main, w)) < 0)
		goto fail;
	return 0;
fail:
	if (w->cancel >= 0)
		close(w->cancel);
	if (w->quit >= 0)
		close(w->quit);
	w->cancel = w->quit = -1;
	return ret;
}

static void watch_end(struct watch *w)
{
	uint64_t one = 1;
	if (w->quit < 0)
		return;
	if (write(w->quit, &one, sizeof(one)) == sizeof(one))
		pthread_join(w->th, NULL);
	else
		pthread_detach(w->th); /* (cannot happen) */
	close(w->quit);
	close(w->cancel);
	w->quit = w->cancel = -1;
}

/* One event, answered (or its error posted). */
static void event(struct rt *r, const char *body, size_t len)
{
	struct lambda_payload p;
	struct worker_opts wo = { 0 };
	struct worker_report w;
	struct s3_opts so = { 0 };
	struct s3store_stats stats;
	struct watch watch = { .cancel = -1, .quit = -1 };
	struct json j;
	struct sbuf resp = SBUF_INIT;
	char err[ERR_MAX] = "", *blobs = NULL, path[256], cache[1100], roots[1100];
	uint64_t t0 = clock_now_ms(), fetch_ms, upload_ms = 0, now;
	bool by_deadline = false;
	int ret;

	if (lambda_payload_parse(body, len, &p, &blobs) < 0 || !blobs || !*blobs) {
		event_error(r, "Gg.BadEvent", "the event is not a gg payload with a blobs url");
		goto out;
	}
	if (!r->s3 || strcmp(r->s3_url, blobs)) {
		s3_client_free(r->s3);
		s3_client_free(r->s3w);
		free(r->s3_url);
		r->s3 = r->s3w = NULL;
		r->s3_url = strdup(blobs);
		so.url = blobs;
		if (!r->s3_url || s3_client_new(&so, &r->s3, err, sizeof(err)) < 0) {
			event_error(r, "Gg.Fetch", err[0] ? err : "out of memory");
			goto out;
		}
	}
	if (fetch(r, &p.thunk, err, sizeof(err)) < 0) {
		event_error(r, "Gg.Fetch", err);
		goto out;
	}
	fetch_ms = clock_now_ms() - t0;
	snprintf(cache, sizeof(cache), "%s/cache", r->work);
	snprintf(roots, sizeof(roots), "%s/r", r->work);
	wo.blobs = r->st.dir;
	wo.cache_dir = cache;
	wo.root_base = roots;
	wo.cache_max = r->budget / 2; /* (0, no budget: the worker's default) */
	wo.shim = r->o->shim;
	wo.trusted_source = true; /* r->st: every blob verified by s3.h as it came in */
	wo.level = p.level;
	wo.seed = p.seed;
	wo.timeout_ms = p.timeout_ms;
	now = epoch_ms();
	if (r->deadline_ms) {
		unsigned margin = r->o->margin_ms ? r->o->margin_ms : 2000;
		uint64_t left = r->deadline_ms > now + margin ? r->deadline_ms - now - margin : 1;
		if (!wo.timeout_ms || left < wo.timeout_ms) {
			wo.timeout_ms = (unsigned)(left < UINT32_MAX ? left : UINT32_MAX);
			by_deadline = true;
		}
	}
	if (p.stop[0] && watch_start(r, &p, &watch) == 0) {
		wo.cancellable = true;
		wo.cancel_fd = watch.cancel;
	}
	ret = worker_exec(&wo, &p.thunk, &w);
	(void)ret; /* ran or not, the report says how it went */
	watch_end(&watch);
	if (watch.stopped && !w.res.ran) {
		/* a twin answered first: nothing of this run is wanted */
		snprintf(err, sizeof(err), "thunk %s stopped after %" PRIu64 " ms: another "
			 "invocation answered first (stop key %s)",
			 hash_to_hex(&p.thunk, (char[GG_HASH_HEX_SIZE]){ 0 }), w.run_ms, p.stop);
		event_error(r, "Gg.Superseded", err);
		worker_report_release(&w);
		goto out;
	}
	if (w.timed_out && by_deadline) {
		/* stopped for the function's deadline, not for the thunk's own limit:
		 * not the thunk's failure, so not an answer the engine would keep */
		snprintf(err, sizeof(err), "thunk %s stopped after %" PRIu64 " ms, %u ms before "
			 "the function's deadline", hash_to_hex(&p.thunk, (char[GG_HASH_HEX_SIZE]){ 0 }),
			 w.run_ms, r->o->margin_ms ? r->o->margin_ms : 2000);
		event_error(r, "Gg.Deadline", err);
		worker_report_release(&w);
		goto out;
	}
	if (w.res.ran && w.res.status == 0 && w.res.outputs.n) {
		struct gg_hash *hs = calloc(w.res.outputs.n, sizeof(*hs));
		size_t n = 0;
		uint64_t t1 = clock_now_ms();
		for (size_t i = 0; hs && i < w.res.outputs.n; i++)
			if (hash_is_set(&w.res.outputs.v[i].value)) {
				hs[n++] = w.res.outputs.v[i].value;
				note_use(r, &w.res.outputs.v[i].value);
			}
		ret = hs ? s3store_push(r->s3, &r->st, hs, n, NULL, &stats) : -ENOMEM;
		free(hs);
		upload_ms = clock_now_ms() - t1;
		if (ret < 0) {
			snprintf(err, sizeof(err), "cannot upload the outputs to %s: %zu of %zu failed",
				 s3_client_url(r->s3), stats.failed, stats.total);
			event_error(r, "Gg.Upload", err);
			worker_report_release(&w);
			goto out;
		}
	}
	/* the answer: the worker's report, with this fetch and the upload in its times */
	w.fetch_ms += fetch_ms;
	w.upload_ms = upload_ms;
	w.uploaded = true;
	json_init(&j, LAMBDA_ANSWER_MAX);
	if (worker_report_json(&w, &j) == 0) {
		snprintf(path, sizeof(path), "/invocation/%s/response", r->rid);
		request(r, "POST", path, j.sb.buf, NULL, &resp);
	} else {
		event_error(r, "Gg.Answer", "the answer does not fit in Lambda's 6 MB");
	}
	json_release(&j);
	worker_report_release(&w);
out:
	sbuf_release(&resp);
	free(blobs);
}

int lambda_runtime_run(const struct lambda_runtime_opts *o, char *err, size_t errlen)
{
	struct rt r = { .o = o, .st = STORE_INIT, .use_ix = HTAB_INIT };
	struct sbuf ev = SBUF_INIT;
	const char *api = o->api ? o->api : getenv("AWS_LAMBDA_RUNTIME_API");
	char store_dir[1100];
	unsigned events = 0;
	int ret;

	if (!api || !*api) {
		errbuf_set(err, errlen, "AWS_LAMBDA_RUNTIME_API is not set: not running in Lambda");
		return -EINVAL;
	}
	snprintf(r.base, sizeof(r.base), "http://%s/2018-06-01/runtime", api);
	snprintf(r.work, sizeof(r.work), "%s", o->work ? o->work : "/tmp/gg");
	snprintf(store_dir, sizeof(store_dir), "%s/store", r.work);
	if ((ret = http_global_init()) < 0 || !(r.easy = curl_easy_init())) {
		errbuf_set(err, errlen, "cannot set up libcurl");
		return -EIO;
	}
	if ((ret = ggdir_mkdirs(r.work)) < 0 || (ret = store_init(&r.st, store_dir, STORE_CREATE)) < 0) {
		errbuf_set(err, errlen, "cannot make the worker's store '%s': %s", store_dir,
			   strerror(-ret));
		post_error(&r, "/init/error", "Gg.Init", err);
		goto out;
	}
	set_budget(&r);
	for (;;) {
		long status;
		sbuf_init(&ev, EVENT_MAX);
		r.rid[0] = '\0';
		r.deadline_ms = 0;
		status = request(&r, "GET", "/invocation/next", NULL, NULL, &ev);
		if (status < 0 || status != 200 || !r.rid[0]) {
			errbuf_set(err, errlen, "the runtime API at '%s' %s", api,
				   status < 0 ? "cannot be reached" : "answered something else than an event");
			ret = status < 0 ? (int)status : -EPROTO;
			goto out;
		}
		r.tick++;
		event(&r, ev.buf ? ev.buf : "", ev.len);
		sbuf_release(&ev);
		trim_store(&r);
		if (o->max_events && ++events >= o->max_events)
			break;
	}
	ret = 0;
out:
	sbuf_release(&ev);
	s3_client_free(r.s3);
	s3_client_free(r.s3w);
	free(r.s3_url);
	htab_release(&r.use_ix);
	free(r.use);
	store_release(&r.st);
	curl_easy_cleanup(r.easy);
	return ret;
}
