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
#include "runtime/engine/mounts.h"
#include "runtime/engine/pool.h"
#include "runtime/ir/thunk.h"
#include "runtime/store/store.h"
#include "runtime/store/ggdir.h"
#include "sandbox/sbx.h"
#include "runtime/lib/util.h"

/* 1980-01-01, the earliest date zip and ar can store: reproducible-builds.org */
#define GG_SOURCE_DATE_EPOCH 315532800LL

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
static int declare_path(struct mounts *m, const char *path, int depth)
{
	char target[PATH_MAX], next[PATH_MAX * 2];
	struct stat st;
	const char *t, *p;
	ssize_t n;
	int ret;

	if (depth > 16 || strset_has(&m->dsts, path) || lstat(path, &st) < 0 ||
	    S_ISDIR(st.st_mode))
		return 0; /* known, a loop, gone or a directory (made as a parent) */
	if (!(p = mounts_keep(m, path))) /* the set and the plan keep pointers */
		return -ENOMEM;
	if (!S_ISLNK(st.st_mode))
		return mounts_add(m, SBX_MOUNT_RO, NULL, p);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return mounts_add(m, SBX_MOUNT_RO, NULL, p);
	target[n] = '\0';
	if (!(t = mounts_keep(m, target)))
		return -ENOMEM;
	if ((ret = mounts_add(m, SBX_MOUNT_SYMLINK, t, p)) < 0)
		return ret;
	if (target[0] == '/') {
		snprintf(next, sizeof(next), "%s", target);
	} else {
		const char *slash = strrchr(path, '/');
		snprintf(next, sizeof(next), "%.*s/%s", (int)(slash ? slash - path : 0), path, target);
	}
	return declare_path(m, next, depth + 1);
}

static int declare_input(struct mounts *m, const char *staging, const struct thunk *th,
			 const struct thunk_input *in)
{
	struct stat st;

	if (mounts_is_output(th, in->path)) {
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

static int output_dirs(struct mounts *m, const char *staging, const struct thunk *th)
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
		if (!(d = mounts_keep(m, dir)) || !(s = mounts_keep(m, src)))
			return -ENOMEM;
		if ((ret = mounts_add(m, SBX_MOUNT_RW, s, d)) < 0)
			return ret;
	}
	return 0;
}

/* A directory of the host bound read-only at its place, if it exists. */
static int declare_dir(struct mounts *m, const char *dir)
{
	struct stat sb;
	const char *d;

	if (strset_has(&m->dsts, dir) || stat(dir, &sb) < 0 || !S_ISDIR(sb.st_mode))
		return 0;
	if (!(d = mounts_keep(m, dir)))
		return -ENOMEM;
	return mounts_add(m, SBX_MOUNT_RO, NULL, d);
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
static int declare_locales(struct mounts *m, const struct thunk *th)
{
	char dirs[2][PATH_MAX];
	int ret, n;

	for (size_t i = 0; i < th->env.n; i++) {
		if (!(n = mounts_locale_dirs(th->env.v[i], dirs)))
			continue;
		if ((ret = declare_path(m, "/usr/lib/locale/locale-archive", 0)) < 0)
			return ret;
		for (int k = 0; k < n; k++)
			if ((ret = declare_dir(m, dirs[k])) < 0)
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
static int declare_notdir(struct mounts *m, const char *path)
{
	char anc[PATH_MAX];
	struct stat sb;

	if (host_notdir_ancestor(path, anc, sizeof(anc)))
		return declare_path(m, anc, 0); /* a no-op when it is an input already */
	if (lstat(path, &sb) == 0 || strset_has(&m->dsts, path) ||
	    mounts_ancestor_kind(m, path) == SBX_MOUNT_ABSENT)
		return 0;
	return mounts_add(m, SBX_MOUNT_ABSENT, NULL, path);
}

static int local_run(void *ctx, const struct engine_job *job, int cancel_fd,
		     struct engine_result *res)
{
	struct store *st = ctx;
	const struct thunk *th = job->th;
	struct mounts m = MOUNTS_INIT;
	struct sbx_plan plan = SBX_PLAN_INIT;
	struct sbx_result *sr = calloc(1, sizeof(*sr));
	char **env = NULL, **envz = NULL, **argv = NULL, *logs[2] = { NULL, NULL };
	char root[PATH_MAX];
	int ret = 0;

	res->status = -1;
	if (!sr) {
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
		    mounts_ancestor_kind(&m, th->missing.v[i]) == SBX_MOUNT_ABSENT)
			continue;
		if ((ret = mounts_add(&m, SBX_MOUNT_ABSENT, NULL, th->missing.v[i])) < 0)
			goto out;
	}
	for (size_t i = 0; i < th->notdir.n; i++)
		if ((ret = declare_notdir(&m, th->notdir.v[i])) < 0)
			goto out;
	if (th->cwd && th->cwd[0] && !mounts_under(&m, th->cwd) &&
	    (ret = mounts_add(&m, SBX_MOUNT_DIR, NULL, th->cwd)) < 0)
		goto out;

	argv = thunk_strv_dup(&th->argv);
	envz = thunk_strv_dup(&th->env);
	env = envz ? sbx_env_defaults(envz, GG_SOURCE_DATE_EPOCH) : NULL;
	if (!env || !argv || engine_plan_job(&plan, job, cancel_fd, argv, env, logs) < 0) {
		ret = -ENOMEM;
		goto out;
	}
	plan.uid = geteuid();
	plan.gid = getegid();
	plan.mounts = m.v;
	plan.n_mounts = m.n;
	plan.flags = SBX_DEFAULTS | (job->supervise ? SBX_SUPERVISE : 0);
	plan.random_seed = job->seed;
	plan.require_level = job->require_level;

	ret = sbx_run(&plan, sr);
	res->level = sr->level;
	res->ms = sr->wall_ns / 1000000;
	if ((ret = engine_result_sbx(res, ret, sr, job->timeout_ms)) < 0)
		goto out;
	snprintf(root, sizeof(root), "%s/out", job->staging);
	engine_finish_outputs(st, root, th, false, res);
out:
	free(logs[0]);
	free(logs[1]);
	free(env);
	free(envz);
	free(argv);
	mounts_release(&m);
	free(sr);
	return ret;
}

static int local_create(const struct engine_config *cfg, struct engine **out, char *err,
			size_t errlen)
{
	return pool_engine_create(cfg, local_run, out, err, errlen);
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
	POOL_ENGINE_OPS,
	.level = local_level,
};
