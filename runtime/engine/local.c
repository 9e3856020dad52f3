/*
 * local.c - the local engine (engine.h): thunks in the sandbox (sandbox/sbx.h), run
 * by a pool of worker threads (pool.h), one sbx_run each.
 *
 * The plan, from the thunk:
 *   - every input, executable, interpreter and shared object bound read-only at its
 *     recorded path (the tree and the system hold their current contents; the
 *     scheduler made sure references were materialized first); an input recorded as
 *     a symbolic link is recreated as one;
 *   - every path probed and found missing declared absent (unless it exists now:
 *     then the command must see that something changed);
 *   - every path probed below a non-directory (ENOTDIR) gets that non-directory in
 *     place, so the kernel answers ENOTDIR again: usually it is an input already
 *     (Python stats /usr/bin/gettext after looking for /usr/bin/gettext/__init__.py);
 *     else the host's file is bound read-only there (its contents are no input: the
 *     command only learnt that it is not a directory).  Never a directory to create;
 *   - each directory holding an output is a writable directory of the job's staging
 *     area bound at that path; an output that is also an input (ranlib, ar r) is
 *     copied there first, so the command can rewrite it;
 *   - the locale data glibc's setlocale reads for the recorded LANG / LC_* (with
 *     its own internal open calls, which no preload library sees);
 *   - a private /tmp, /dev and /proc, the recorded environment plus TZ=UTC and a
 *     fixed SOURCE_DATE_EPOCH, the recorded cwd and umask, deterministic randomness.
 * The outputs are then read from the staging area into the store.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/engine/engines.h"
#include "runtime/engine/pool.h"
#include "runtime/ir/thunk.h"
#include "runtime/store/store.h"
#include "runtime/store/ggdir.h"
#include "sandbox/sbx.h"
#include "runtime/lib/util.h"

/* 1980-01-01, the earliest date zip and ar can store: reproducible-builds.org */
#define GG_SOURCE_DATE_EPOCH 315532800LL

struct plan_mounts {
	struct sbx_mount *v;
	size_t n, alloc;
	struct strset dsts; /* paths declared, to keep the first declaration */
	struct strlist owned; /* strings the mounts point to */
};

static int add_mount(struct plan_mounts *m, enum sbx_mount_kind kind, const char *src,
		     const char *dst)
{
	int r = strset_add(&m->dsts, dst);
	if (r <= 0)
		return r; /* declared already (or -ENOMEM) */
	if (m->n == m->alloc) {
		size_t na = m->alloc ? m->alloc * 2 : 256;
		struct sbx_mount *nv = realloc(m->v, na * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		m->v = nv;
		m->alloc = na;
	}
	m->v[m->n++] = (struct sbx_mount){ .kind = kind, .src = src, .dst = dst };
	return 0;
}

/* A string that lives as long as the plan. */
static const char *keep(struct plan_mounts *m, const char *s)
{
	if (strlist_push(&m->owned, s) < 0 || !m->owned.n)
		return NULL;
	return m->owned.v[m->owned.n - 1];
}

static bool is_output(const struct thunk *th, const char *path)
{
	size_t lo = 0, hi = th->outputs.n;
	while (lo < hi) { /* outputs are sorted (canonical thunk) */
		size_t mid = (lo + hi) / 2;
		int d = strcmp(th->outputs.v[mid], path);
		if (!d)
			return true;
		if (d < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static int copy_file(const char *from, const char *to, mode_t mode)
{
	char buf[65536];
	int in = open(from, O_RDONLY | O_CLOEXEC), out, ret = 0;
	ssize_t n;
	if (in < 0)
		return -errno;
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode & 07777);
	if (out < 0) {
		ret = -errno;
		close(in);
		return ret;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n) {
			ret = -EIO;
			break;
		}
	if (n < 0)
		ret = -errno;
	close(in);
	if (close(out) < 0 && !ret)
		ret = -errno;
	return ret;
}

/*
 * A path as the host has it: a file bound read-only, or a symbolic link recreated
 * and its target declared in turn (/usr/bin/cc -> /etc/alternatives/cc -> ...: the
 * kernel follows those without the shim seeing them).
 */
static int declare_path(struct plan_mounts *m, const char *path, int depth)
{
	char target[PATH_MAX], next[PATH_MAX * 2];
	struct stat st;
	const char *t, *p;
	ssize_t n;
	int ret;

	if (depth > 16 || strset_has(&m->dsts, path) || lstat(path, &st) < 0 ||
	    S_ISDIR(st.st_mode))
		return 0; /* known, a loop, gone or a directory (made as a parent) */
	if (!(p = keep(m, path))) /* the set and the plan keep pointers */
		return -ENOMEM;
	if (!S_ISLNK(st.st_mode))
		return add_mount(m, SBX_MOUNT_RO, NULL, p);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return add_mount(m, SBX_MOUNT_RO, NULL, p);
	target[n] = '\0';
	if (!(t = keep(m, target)))
		return -ENOMEM;
	if ((ret = add_mount(m, SBX_MOUNT_SYMLINK, t, p)) < 0)
		return ret;
	if (target[0] == '/') {
		snprintf(next, sizeof(next), "%s", target);
	} else {
		const char *slash = strrchr(path, '/');
		snprintf(next, sizeof(next), "%.*s/%s", (int)(slash ? slash - path : 0), path, target);
	}
	return declare_path(m, next, depth + 1);
}

static int declare_input(struct plan_mounts *m, const char *staging, const struct thunk *th,
			 const struct thunk_input *in)
{
	struct stat st;

	if (is_output(th, in->path)) {
		/* rewritten in place: a writable copy in the staging area */
		char *dst = NULL;
		int ret;
		if (asprintf(&dst, "%s/out%s", staging, in->path) < 0)
			return -ENOMEM;
		if (lstat(in->path, &st) == 0 && S_ISREG(st.st_mode)) {
			char *slash = strrchr(dst, '/');
			*slash = '\0';
			ret = ggdir_mkdirs(dst);
			*slash = '/';
			if (ret == 0)
				ret = copy_file(in->path, dst, st.st_mode);
		} else {
			ret = 0;
		}
		free(dst);
		return ret;
	}
	return declare_path(m, in->path, 0);
}

static int output_dirs(struct plan_mounts *m, const char *staging, const struct thunk *th)
{
	for (size_t i = 0; i < th->outputs.n; i++) {
		char dir[PATH_MAX], src[PATH_MAX * 2];
		const char *slash = strrchr(th->outputs.v[i], '/');
		size_t dl = slash ? (size_t)(slash - th->outputs.v[i]) : 0;
		const char *d, *s;
		int ret;
		if (!dl || dl >= sizeof(dir))
			continue;
		memcpy(dir, th->outputs.v[i], dl);
		dir[dl] = '\0';
		snprintf(src, sizeof(src), "%s/out%s", staging, dir);
		if ((ret = ggdir_mkdirs(src)) < 0)
			return ret;
		if (!(d = keep(m, dir)) || !(s = keep(m, src)))
			return -ENOMEM;
		if ((ret = add_mount(m, SBX_MOUNT_RW, s, d)) < 0)
			return ret;
	}
	return 0;
}

static bool under_any(const struct plan_mounts *m, const char *dir)
{
	size_t dl = strlen(dir);
	for (size_t i = 0; i < m->n; i++)
		if (!strncmp(m->v[i].dst, dir, dl) && (m->v[i].dst[dl] == '/' || !m->v[i].dst[dl]))
			return true;
	return false;
}

/* Below a path declared absent, everything is absent already. */
static bool absent_ancestor(const struct plan_mounts *m, const char *path)
{
	char buf[PATH_MAX * 2];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *slash = strrchr(buf, '/'); slash && slash != buf; slash = strrchr(buf, '/')) {
		*slash = '\0';
		if (strset_has(&m->dsts, buf)) {
			for (size_t i = 0; i < m->n; i++)
				if (!strcmp(m->v[i].dst, buf))
					return m->v[i].kind == SBX_MOUNT_ABSENT;
		}
	}
	return false;
}

/* A directory of the host bound read-only at its place, if it exists. */
static int declare_dir(struct plan_mounts *m, const char *dir)
{
	struct stat sb;
	const char *d;

	if (strset_has(&m->dsts, dir) || stat(dir, &sb) < 0 || !S_ISDIR(sb.st_mode))
		return 0;
	if (!(d = keep(m, dir)))
		return -ENOMEM;
	return add_mount(m, SBX_MOUNT_RO, NULL, d);
}

/*
 * The locale a setlocale(LC_ALL, "") of the command loads: glibc opens
 * /usr/lib/locale/locale-archive, else /usr/lib/locale/NAME/LC_* where NAME is the
 * value of LC_ALL, LC_xxx or LANG as given or with its codeset normalised
 * (glibc's _nl_normalize_codeset: "C.UTF-8" -> "C.utf8").  Those opens are
 * internal to libc (__open_nocancel), so the recording never names them, and a
 * program that finds no locale behaves differently: Python falls back to ASCII
 * and needs codecs it never loaded when it was recorded.  Like /etc/ld.so.cache,
 * they are system data outside the thunk's inputs.
 */
static int declare_locales(struct plan_mounts *m, const struct thunk *th)
{
	int ret;

	for (size_t i = 0; i < th->env.n; i++) {
		const char *e = th->env.v[i], *v = strchr(e, '='), *dot;
		char dir[PATH_MAX], norm[256];
		size_t n = 0;

		if (!v || !(!strncmp(e, "LANG=", 5) || !strncmp(e, "LC_", 3)))
			continue;
		v++;
		if (!*v || !strcmp(v, "C") || !strcmp(v, "POSIX") || strchr(v, '/') ||
		    strlen(v) >= sizeof(norm))
			continue;
		if ((ret = declare_path(m, "/usr/lib/locale/locale-archive", 0)) < 0)
			return ret;
		snprintf(dir, sizeof(dir), "/usr/lib/locale/%s", v);
		if ((ret = declare_dir(m, dir)) < 0)
			return ret;
		if (!(dot = strchr(v, '.')))
			continue;
		n = (size_t)(dot - v) + 1;
		memcpy(norm, v, n);
		for (const char *c = dot + 1; *c && *c != '@' && n < sizeof(norm) - 1; c++)
			if ((*c >= '0' && *c <= '9') ||
			    ((*c | 0x20) >= 'a' && (*c | 0x20) <= 'z'))
				norm[n++] = (char)((*c >= 'A' && *c <= 'Z') ? *c | 0x20 : *c);
		norm[n] = '\0';
		snprintf(dir, sizeof(dir), "/usr/lib/locale/%s%s", norm,
			 strchr(dot, '@') ? strchr(dot, '@') : "");
		if ((ret = declare_dir(m, dir)) < 0)
			return ret;
	}
	return 0;
}

/*
 * The nearest non-directory on the way to `path` on the host (stat(2) follows links,
 * as the lookup did), copied into out; false if every existing component is a
 * directory (the path is missing, or exists: a shape the recording did not see).
 */
static bool host_notdir_ancestor(const char *path, char *out, size_t cap)
{
	struct stat sb;
	size_t len = strlen(path);

	if (len >= cap)
		return false;
	for (size_t i = 1; i <= len; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		memcpy(out, path, i);
		out[i] = '\0';
		if (stat(out, &sb) < 0)
			return false;
		if (!S_ISDIR(sb.st_mode))
			return i < len; /* the path itself is no ancestor: it exists now */
	}
	return false;
}

/* A path probed below a non-directory: put that non-directory in place, or, when the
 * host has none any more, declare the path absent. */
static int declare_notdir(struct plan_mounts *m, const char *path)
{
	char anc[PATH_MAX];
	struct stat sb;

	if (host_notdir_ancestor(path, anc, sizeof(anc)))
		return declare_path(m, anc, 0); /* a no-op when it is an input already */
	if (lstat(path, &sb) == 0 || strset_has(&m->dsts, path) || absent_ancestor(m, path))
		return 0;
	return add_mount(m, SBX_MOUNT_ABSENT, NULL, path);
}

struct engine {
	struct store *st;
	struct pool *pool;
};

static int local_run(void *ctx, const struct engine_job *job, int cancel_fd,
		     struct engine_result *res)
{
	struct engine *e = ctx;
	const struct thunk *th = job->th;
	struct plan_mounts m = { 0 };
	struct sbx_plan plan = SBX_PLAN_INIT;
	struct sbx_result *sr = calloc(1, sizeof(*sr));
	char **env = NULL, **envz = NULL, **argv = NULL, *outs = NULL, *errs = NULL;
	int ret = 0;

	res->status = -1;
	if (!sr || asprintf(&outs, "%s/stdout", job->staging) < 0 ||
	    asprintf(&errs, "%s/stderr", job->staging) < 0) {
		ret = -ENOMEM;
		goto out;
	}
	res->logs = true;

	/* outputs first: their directories are writable, inputs land inside them */
	if ((ret = output_dirs(&m, job->staging, th)) < 0)
		goto out;
	if ((ret = declare_input(&m, job->staging, th, &th->exe)) < 0)
		goto out;
	if (th->interp && th->interp[0] && (ret = declare_path(&m, th->interp, 0)) < 0)
		goto out;
	/* read by the dynamic loader before any preload library can see it */
	if ((ret = declare_path(&m, "/etc/ld.so.cache", 0)) < 0)
		goto out;
	if ((ret = declare_locales(&m, th)) < 0)
		goto out;
	for (size_t i = 0; i < th->objects.n; i++)
		if ((ret = declare_input(&m, job->staging, th, &th->objects.v[i])) < 0)
			goto out;
	for (size_t i = 0; i < th->inputs.n; i++)
		if ((ret = declare_input(&m, job->staging, th, &th->inputs.v[i])) < 0)
			goto out;
	for (size_t i = 0; i < th->missing.n; i++) {
		struct stat sb;
		if (lstat(th->missing.v[i], &sb) == 0 || strset_has(&m.dsts, th->missing.v[i]) ||
		    absent_ancestor(&m, th->missing.v[i]))
			continue;
		if ((ret = add_mount(&m, SBX_MOUNT_ABSENT, NULL, th->missing.v[i])) < 0)
			goto out;
	}
	for (size_t i = 0; i < th->notdir.n; i++)
		if ((ret = declare_notdir(&m, th->notdir.v[i])) < 0)
			goto out;
	if (th->cwd && th->cwd[0] && !under_any(&m, th->cwd) &&
	    (ret = add_mount(&m, SBX_MOUNT_DIR, NULL, th->cwd)) < 0)
		goto out;

	argv = thunk_strv_dup(&th->argv);
	envz = thunk_strv_dup(&th->env);
	env = envz ? sbx_env_defaults(envz, GG_SOURCE_DATE_EPOCH) : NULL;
	if (!env || !argv) {
		ret = -ENOMEM;
		goto out;
	}
	plan.path = th->exe.path;
	plan.argv = argv;
	plan.envp = env;
	plan.cwd = th->cwd && th->cwd[0] ? th->cwd : "/";
	plan.umask = th->umask;
	plan.uid = geteuid();
	plan.gid = getegid();
	plan.mounts = m.v;
	plan.n_mounts = m.n;
	plan.flags = SBX_DEFAULTS | (job->supervise ? SBX_SUPERVISE : 0);
	plan.random_seed = job->seed;
	plan.stdout_path = outs;
	plan.stderr_path = errs;
	plan.timeout_ms = job->timeout_ms;
	plan.require_level = job->require_level;
	plan.cancel_fd = cancel_fd;

	ret = sbx_run(&plan, sr);
	res->level = sr->level;
	res->ms = sr->wall_ns / 1000000;
	if (sr->undeclared[0])
		res->undeclared = strdup(sr->undeclared);
	if (sr->denied[0])
		res->denied = strdup(sr->denied);
	if (ret < 0) {
		engine_result_errf(res, "%s", sr->err[0] ? sr->err : strerror(-ret));
		goto out;
	}
	res->ran = true;
	res->status = sr->exited ? sr->status : 128 + sr->signal;
	if (sr->timed_out)
		engine_result_errf(res, "timed out after %u ms", job->timeout_ms);
	if (res->status == 0 && !res->err) {
		char root[PATH_MAX];
		snprintf(root, sizeof(root), "%s/out", job->staging);
		if (engine_store_outputs(e->st, root, th, false, res) < 0) {
			cache_entry_release(&res->outputs);
			if (!res->err)
				engine_result_errf(res, "cannot collect the outputs");
			res->status = 1;
		}
	}
	ret = 0;
out:
	free(outs);
	free(errs);
	free(env);
	free(envz);
	free(argv);
	free(m.v);
	strset_release(&m.dsts);
	strlist_release(&m.owned);
	free(sr);
	return ret;
}

static int local_create(const struct engine_config *cfg, struct engine **out, char *err,
			size_t errlen)
{
	struct engine *e = calloc(1, sizeof(*e));
	int ret;

	if (!e) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	e->st = cfg->st;
	if ((ret = pool_create(cfg->slots, local_run, e, &e->pool, err, errlen)) < 0) {
		free(e);
		return ret;
	}
	*out = e;
	return 0;
}

static void local_free(struct engine *e)
{
	if (!e)
		return;
	pool_free(e->pool);
	free(e);
}

static bool local_can_start_more(struct engine *e)
{
	return pool_can_start_more(e->pool);
}

static int local_start(struct engine *e, const struct engine_job *job, struct engine_result *res)
{
	return pool_start(e->pool, job, res);
}

static int local_fd(struct engine *e)
{
	return pool_fd(e->pool);
}

static int local_collect(struct engine *e, struct engine_done *done, size_t max)
{
	return pool_collect(e->pool, done, max);
}

static void local_abort(struct engine *e)
{
	pool_abort(e->pool);
}

static int local_level(struct engine *e, char *why, size_t whylen)
{
	struct sbx_caps caps;
	(void)e;
	sbx_probe(&caps);
	snprintf(why, whylen, "%s", caps.why);
	return caps.level;
}

const struct engine_ops engine_local = {
	.name = "local",
	.create = local_create,
	.free = local_free,
	.can_start_more = local_can_start_more,
	.start = local_start,
	.fd = local_fd,
	.collect = local_collect,
	.abort = local_abort,
	.level = local_level,
};
