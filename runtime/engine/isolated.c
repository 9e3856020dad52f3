/*
 * isolated.c - the isolated engine (isolated.h): the worker package and one thunk's
 * blobs in an otherwise empty root.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/engine/isolated.h"
#include "runtime/engine/mounts.h"
#include "runtime/engine/package.h"
#include "runtime/engine/pool.h"
#include "runtime/engine/worker.h"
#include "runtime/ir/thunk.h"
#include "runtime/lib/json.h"
#include "runtime/lib/util.h"
#include "runtime/store/ggdir.h"
#include "runtime/store/store.h"
#include "sandbox/sbx.h"

struct engine {
	struct store *st;
	struct pool *pool;
	struct package pkg;
	char **pkg_dst;       /* "/var/task/<name>" of each package file */
	int logfd;            /* log=FILE: one JSON line per job (O_APPEND), or -1 */
	/*
	 * The worker's /tmp/gg, shared by every job as a warm Lambda environment reuses
	 * its /tmp: <ggdir>/isolated/gg, holding the input cache (cache/, worker.h) and
	 * the jobs' roots (r/), bound read-write into each job's root (one mount: R's
	 * hard links to the cache stay on one file system).  Before a job the engine
	 * adopts the blobs it needs from the local store into the cache (wcache_adopt:
	 * hard links, the store verified them when it wrote them), so the worker finds
	 * them all there and only the thunk and its symbolic links' targets are bound
	 * under /tmp/blobs.
	 */
	char *shared;         /* <ggdir>/isolated/gg (owned) */
	struct wcache cache;  /* <shared>/cache, adopt only (under lock) */
	pthread_mutex_t lock;
	bool lock_init;
};

/* One line per job that reported, written with one write(2) (O_APPEND: whole lines). */
static void log_job(struct engine *e, const struct engine_job *job, const char *port,
		    const struct worker_report *rep, uint64_t total_ms)
{
	char line[512];
	struct sbuf out = SBUF_INIT;
	int n;

	if (e->logfd < 0)
		return;
	/* the first output names the job (escaped as JSON) */
	if (job->th->outputs.n)
		json_escape(&out, job->th->outputs.v[0], strlen(job->th->outputs.v[0]));
	n = snprintf(line, sizeof(line),
		     "{\"output\":\"%.200s\",\"portable\":\"%s\",\"level\":%d,\"status\":%d,"
		     "\"inputs\":%llu,\"fetch_ms\":%llu,\"run_ms\":%llu,\"store_ms\":%llu,"
		     "\"total_ms\":%llu}\n",
		     out.buf ? out.buf : "", port, rep->res.level, rep->res.status,
		     (unsigned long long)rep->inputs, (unsigned long long)rep->fetch_ms,
		     (unsigned long long)rep->run_ms, (unsigned long long)rep->store_ms,
		     (unsigned long long)total_ms);
	if (n > 0 && (size_t)n < sizeof(line) && write(e->logfd, line, (size_t)n) < 0)
		n = 0; /* a log, best effort */
	sbuf_release(&out);
}

/* Bind blob h of the store at /tmp/blobs/blobs/ab/cdef...[.t] (once). */
static int mount_blob(struct engine *e, struct mounts *m, const struct gg_hash *h);

/*
 * Input `in` of the portable thunk where the worker will find it: a file adopted into
 * the shared cache (nothing to bind; a failed adoption falls back to a bind), a
 * symbolic link's target bound (the worker reads it from the source store).
 */
static int provide_input(struct engine *e, struct mounts *m, const struct thunk_input *in)
{
	char src[PATH_MAX];
	int ret;

	if (S_ISLNK(in->mode) || in->hash.kind != GG_HASH_VALUE)
		return mount_blob(e, m, &in->hash);
	if ((ret = store_path(e->st, &in->hash, src, sizeof(src))) < 0)
		return ret;
	pthread_mutex_lock(&e->lock);
	ret = wcache_adopt(&e->cache, src, &in->hash, in->mode & 0111, NULL);
	pthread_mutex_unlock(&e->lock);
	return ret == 0 ? 0 : mount_blob(e, m, &in->hash);
}

static int mount_blob(struct engine *e, struct mounts *m, const struct gg_hash *h)
{
	char hex[2 * GG_HASH_LEN + 1], dst[128], src[PATH_MAX];
	const char *d, *s;
	int ret;

	if (h->kind != GG_HASH_VALUE && h->kind != GG_HASH_THUNK)
		return -EINVAL;
	hash_digest_hex(h, hex);
	snprintf(dst, sizeof(dst), "/tmp/blobs/blobs/%.2s/%s%s", hex, hex + 2,
		 h->kind == GG_HASH_THUNK ? ".t" : "");
	if (strset_has(&m->dsts, dst))
		return 0;
	if ((ret = store_path(e->st, h, src, sizeof(src))) < 0)
		return ret;
	if (!(d = mounts_keep(m, dst)) || !(s = mounts_keep(m, src)))
		return -ENOMEM;
	return mounts_add(m, SBX_MOUNT_RO, s, d);
}

/* The outputs the worker stored under <staging>/tmp/out, into the store. */
static int import_outputs(struct engine *e, const char *staging, const struct thunk *th,
			  struct worker_report *rep, struct engine_result *res)
{
	struct store out = STORE_INIT;
	char dir[PATH_MAX + 16], path[PATH_MAX];
	int ret;

	snprintf(dir, sizeof(dir), "%s/tmp/out", staging);
	if ((ret = store_init(&out, dir, 0)) < 0) {
		engine_result_errf(res, "cannot open the worker's output store '%s': %s", dir,
				   strerror(-ret));
		return ret;
	}
	if (rep->res.outputs.n != th->outputs.n) {
		engine_result_errf(res, "the worker stored %zu outputs of %zu", rep->res.outputs.n,
				   th->outputs.n);
		ret = -EBADMSG;
		goto out;
	}
	for (size_t i = 0; i < rep->res.outputs.n; i++) {
		struct cache_output *o = &rep->res.outputs.v[i];
		struct gg_hash got;
		if (strcmp(o->path, th->outputs.v[i])) {
			engine_result_errf(res, "the worker stored '%s' for output '%s'", o->path,
					   th->outputs.v[i]);
			ret = -EBADMSG;
			goto out;
		}
		if ((ret = store_path(&out, &o->value, path, sizeof(path))) < 0 ||
		    (ret = store_put_file(e->st, path, &got, NULL)) < 0) {
			engine_result_errf(res, "cannot store output '%s': %s", o->path, strerror(-ret));
			goto out;
		}
		if (!hash_equal(&got, &o->value)) {
			engine_result_errf(res, "output '%s' does not have the hash the worker reported",
					   o->path);
			ret = -EBADMSG;
			goto out;
		}
	}
	/* the outputs move to the result: same order as the thunk's */
	cache_entry_release(&res->outputs);
	res->outputs = rep->res.outputs;
	rep->res.outputs = (struct cache_entry){ 0 };
out:
	store_release(&out);
	return ret;
}

static int write_file(const char *path, const char *s)
{
	return file_write_atomic(path, s ? s : "", s ? strlen(s) : 0, false);
}

static int isolated_run(void *ctx, const struct engine_job *job, int cancel_fd,
			struct engine_result *res)
{
	struct engine *e = ctx;
	struct mounts m = MOUNTS_INIT;
	struct sbx_plan plan = SBX_PLAN_INIT;
	struct sbx_result *sr = calloc(1, sizeof(*sr));
	struct worker_report rep = { 0 };
	struct thunk port;
	struct gg_hash ph;
	struct sbuf report = SBUF_INIT;
	char err[PATH_MAX + 256] = "", hex[GG_HASH_HEX_SIZE];
	char tmp[PATH_MAX], path[PATH_MAX + 32], rpath[PATH_MAX + 16], wpath[PATH_MAX + 16];
	static unsigned jobs;
	char rbase[64], rhost[PATH_MAX + 64];
	char *buf = NULL, *argv[] = { (char *)PACKAGE_ROOT "/bootstrap", (char *)"worker",
				      (char *)"exec", hex, (char *)"--blobs", (char *)"/tmp/blobs",
				      (char *)"--out", (char *)"/tmp/out", (char *)"--cache",
				      (char *)"/tmp/gg/cache", (char *)"--root-base", rbase,
				      (char *)"--msgpack", NULL };
	char *envp[] = { NULL };
	uint64_t t0 = clock_now_ms();
	size_t len;
	int ret;

	res->status = -1;
	thunk_init(&port);
	/* this job's roots: /tmp/gg/r/<pid>-<n>, removed afterwards even if the worker
	 * was killed before it could */
	snprintf(rbase, sizeof(rbase), "/tmp/gg/r/%d-%u", (int)getpid(),
		 __atomic_add_fetch(&jobs, 1, __ATOMIC_RELAXED));
	snprintf(rhost, sizeof(rhost), "%s/r/%s", e->shared, rbase + strlen("/tmp/gg/r/"));
	if (!sr) {
		ret = -ENOMEM;
		goto out;
	}
	if (job->require_level && job->require_level < SBX_LEVEL_NONE) {
		engine_result_errf(res, "the isolated engine runs thunks at level 3, not %d",
				   job->require_level);
		ret = -EPERM;
		goto out;
	}
	/* 1. the portable thunk */
	if ((ret = worker_portable(e->st, job->th, NULL, NULL, &port, err, sizeof(err))) < 0) {
		engine_result_errf(res, "cannot make the thunk portable: %s",
				   err[0] ? err : strerror(-ret));
		goto out;
	}
	if ((ret = thunk_encode(&port, &buf, &len)) < 0 ||
	    (ret = store_put_buf(e->st, GG_HASH_THUNK, buf, len, &ph)) < 0) {
		engine_result_errf(res, "cannot store the portable thunk: %s", strerror(-ret));
		goto out;
	}
	hash_to_hex(&ph, hex);
	/* 2. the root: the package, /tmp with the thunk's blobs */
	snprintf(tmp, sizeof(tmp), "%s/tmp", job->staging);
	snprintf(path, sizeof(path), "%s/blobs/tmp", tmp);
	if ((ret = ggdir_mkdirs(path)) < 0) {
		engine_result_errf(res, "cannot make '%s': %s", path, strerror(-ret));
		goto out;
	}
	snprintf(path, sizeof(path), "%s/out", tmp);
	{
		struct store outst = STORE_INIT;
		if ((ret = store_init(&outst, path, STORE_CREATE)) < 0) {
			engine_result_errf(res, "cannot make '%s': %s", path, strerror(-ret));
			goto out;
		}
		store_release(&outst);
	}
	if ((ret = mounts_add(&m, SBX_MOUNT_RW, tmp, "/tmp")) < 0 ||
	    (ret = mounts_add(&m, SBX_MOUNT_RW, e->shared, "/tmp/gg")) < 0)
		goto out;
	for (size_t i = 0; i < e->pkg.n; i++)
		if ((ret = mounts_add(&m, SBX_MOUNT_RO, e->pkg.v[i].src, e->pkg_dst[i])) < 0)
			goto out;
	if ((ret = mount_blob(e, &m, &ph)) < 0 || (ret = provide_input(e, &m, &port.exe)) < 0)
		goto out_blob;
	for (size_t i = 0; i < port.objects.n; i++)
		if ((ret = provide_input(e, &m, &port.objects.v[i])) < 0)
			goto out_blob;
	for (size_t i = 0; i < port.inputs.n; i++)
		if ((ret = provide_input(e, &m, &port.inputs.v[i])) < 0)
			goto out_blob;
	/* 3. the worker */
	snprintf(rpath, sizeof(rpath), "%s/report", job->staging);
	snprintf(wpath, sizeof(wpath), "%s/worker.err", job->staging);
	plan.path = argv[0];
	plan.argv = argv;
	plan.envp = envp;
	plan.cwd = "/tmp";
	plan.uid = geteuid();
	plan.gid = getegid();
	plan.mounts = m.v;
	plan.n_mounts = m.n;
	plan.flags = SBX_DEV | SBX_PROC | SBX_NO_SECCOMP; /* as on Lambda: no nested sandbox */
	plan.level = SBX_LEVEL_NS;
	plan.stdout_path = rpath;
	plan.stderr_path = wpath;
	plan.timeout_ms = job->timeout_ms;
	plan.cancel_fd = cancel_fd;
	ret = sbx_run(&plan, sr);
	res->ms = clock_now_ms() - t0;
	if (ret < 0) {
		if (ret != -ECANCELED)
			engine_result_errf(res, "cannot start the worker: %s",
					   sr->err[0] ? sr->err : strerror(-ret));
		goto out;
	}
	if (sr->timed_out) {
		res->ran = true;
		res->status = 128 + sr->signal;
		engine_result_errf(res, "timed out after %u ms", job->timeout_ms);
		goto out;
	}
	/* 4. its report, and the outputs */
	if ((ret = file_read_all(rpath, &report, 1 << 24)) < 0 ||
	    (ret = worker_report_unpack(report.buf, report.len, &rep)) < 0) {
		struct sbuf werr = SBUF_INIT;
		(void)file_read_all(wpath, &werr, 4096);
		engine_result_errf(res, "the worker gave no report (exit %d): %s",
				   sr->exited ? sr->status : 128 + sr->signal,
				   werr.buf && werr.len ? werr.buf : strerror(-ret));
		sbuf_release(&werr);
		ret = -EIO;
		goto out;
	}
	log_job(e, job, hex, &rep, clock_now_ms() - t0);
	res->ran = rep.res.ran;
	res->status = rep.res.status;
	res->level = rep.res.level;
	res->logs = true;
	snprintf(path, sizeof(path), "%s/stdout", job->staging);
	(void)write_file(path, "");
	snprintf(path, sizeof(path), "%s/stderr", job->staging);
	(void)write_file(path, rep.stderr_tail);
	if (rep.res.undeclared)
		res->undeclared = strdup(rep.res.undeclared);
	if (rep.res.err)
		engine_result_errf(res, "%s", rep.res.err);
	if (!rep.res.ran) {
		ret = -EIO; /* it could not run: res->err says why */
		goto out;
	}
	ret = 0;
	if (rep.res.status == 0 && !rep.res.err && import_outputs(e, job->staging, &port, &rep, res) < 0)
		res->status = 1;
	goto out;
out_blob:
	engine_result_errf(res, "cannot bind the thunk's blobs: %s", strerror(-ret));
out:
	rm_rf(rhost);
	worker_report_release(&rep);
	sbuf_release(&report);
	free(buf);
	mounts_release(&m);
	thunk_release(&port);
	free(sr);
	return ret;
}

/* "key=value,..." -> the value of key (malloc'd) or NULL. */
static char *param(const char *params, const char *key)
{
	size_t kl = strlen(key);
	for (const char *p = params; p && *p;) {
		size_t len = strcspn(p, ",");
		if (len > kl && !strncmp(p, key, kl) && p[kl] == '=')
			return strndup(p + kl + 1, len - kl - 1);
		p += len + (p[len] == ',');
	}
	return NULL;
}

static void isolated_free(struct engine *e);

static int isolated_create(const struct engine_config *cfg, struct engine **out, char *err,
			   size_t errlen)
{
	struct engine *e = calloc(1, sizeof(*e));
	char *bootstrap = NULL, *shim = NULL;
	struct sbx_caps caps;
	int ret;

	if (!e) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	e->st = cfg->st;
	e->logfd = -1;
	{
		char *log = param(cfg->params, "log");
		if (log && (e->logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) < 0) {
			ret = -errno;
			snprintf(err, errlen, "cannot open log '%s': %s", log, strerror(errno));
			free(log);
			goto out_free;
		}
		free(log);
	}
	if (!cfg->ggdir || asprintf(&e->shared, "%s/isolated/gg", cfg->ggdir) < 0) {
		e->shared = NULL;
		snprintf(err, errlen, "the isolated engine needs the .gg directory");
		ret = -EINVAL;
		goto out_free;
	}
	{
		char cdir[PATH_MAX + 16];
		snprintf(cdir, sizeof(cdir), "%s/cache", e->shared);
		if ((ret = wcache_open(&e->cache, cdir, 0)) < 0) {
			snprintf(err, errlen, "cannot open the input cache '%s': %s", cdir,
				 strerror(-ret));
			goto out_free;
		}
	}
	if ((ret = -pthread_mutex_init(&e->lock, NULL)) < 0) {
		snprintf(err, errlen, "cannot make a lock: %s", strerror(-ret));
		goto out_free;
	}
	e->lock_init = true;
	sbx_probe(&caps);
	if (!caps.userns) {
		snprintf(err, errlen, "the isolated engine needs namespaces (level 1): %s", caps.why);
		ret = -EPERM;
		goto out_free;
	}
	if (!(bootstrap = param(cfg->params, "bootstrap")) &&
	    (ret = package_default_bootstrap(&bootstrap)) < 0)
		goto out_errno;
	if (!(shim = param(cfg->params, "shim")) && (ret = package_default_shim(&shim)) < 0)
		goto out_errno;
	if ((ret = package_collect(bootstrap, shim, &e->pkg, err, errlen)) < 0)
		goto out_free;
	if (!(e->pkg_dst = calloc(e->pkg.n, sizeof(*e->pkg_dst)))) {
		ret = -ENOMEM;
		goto out_errno;
	}
	for (size_t i = 0; i < e->pkg.n; i++)
		if (asprintf(&e->pkg_dst[i], PACKAGE_ROOT "/%s", e->pkg.v[i].name) < 0) {
			e->pkg_dst[i] = NULL;
			ret = -ENOMEM;
			goto out_errno;
		}
	if ((ret = pool_create(cfg->slots, isolated_run, e, &e->pool, err, errlen)) < 0)
		goto out_free;
	free(bootstrap);
	free(shim);
	*out = e;
	return 0;
out_errno:
	snprintf(err, errlen, "cannot find the worker package: %s", strerror(-ret));
out_free:
	free(bootstrap);
	free(shim);
	isolated_free(e);
	return ret;
}

static void isolated_free(struct engine *e)
{
	if (!e)
		return;
	if (e->pool)
		pool_free(e->pool);
	if (e->logfd >= 0)
		close(e->logfd);
	for (size_t i = 0; e->pkg_dst && i < e->pkg.n; i++)
		free(e->pkg_dst[i]);
	free(e->pkg_dst);
	package_release(&e->pkg);
	wcache_close(&e->cache);
	if (e->lock_init)
		pthread_mutex_destroy(&e->lock);
	free(e->shared);
	free(e);
}

static bool isolated_can_start_more(struct engine *e)
{
	return pool_can_start_more(e->pool);
}

static int isolated_start(struct engine *e, const struct engine_job *job, struct engine_result *res)
{
	return pool_start(e->pool, job, res);
}

static int isolated_fd(struct engine *e)
{
	return pool_fd(e->pool);
}

static int isolated_collect(struct engine *e, struct engine_done *done, size_t max)
{
	return pool_collect(e->pool, done, max);
}

static void isolated_abort(struct engine *e)
{
	pool_abort(e->pool);
}

static int isolated_level(struct engine *e, char *why, size_t whylen)
{
	(void)e;
	snprintf(why, whylen, "every thunk runs in an empty root through the worker: "
			      "path virtualization only, as on AWS Lambda");
	return SBX_LEVEL_NONE;
}

const struct engine_ops engine_isolated = {
	.name = "isolated",
	.create = isolated_create,
	.free = isolated_free,
	.can_start_more = isolated_can_start_more,
	.start = isolated_start,
	.fd = isolated_fd,
	.collect = isolated_collect,
	.abort = isolated_abort,
	.level = isolated_level,
};
