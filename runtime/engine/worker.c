/*
 * worker.c - one thunk from a blob source, at the best level the host allows
 * (worker.h).
 */
#include <dirent.h>
#include <msgpack.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "runtime/engine/mounts.h"
#include "runtime/engine/pool.h"
#include "runtime/engine/worker.h"
#include "runtime/lib/json.h"
#include "runtime/lib/util.h"
#include "runtime/store/ggdir.h"
#include "runtime/store/store.h"
#include "sandbox/sbx.h"
#include "shim/trace_format.h"
#include "shim/vexec.h"
#include "shim/vpath.h"

/* The local engine's SOURCE_DATE_EPOCH (local.c): 1980-01-01, the earliest date zip
 * and ar can store (reproducible-builds.org), so a worker's outputs match. */
#define WORKER_SOURCE_DATE_EPOCH 315532800LL

/* ---- the input cache ---------------------------------------------------------- */

static bool entry_name(const char *name, bool *exec)
{
	size_t n = strlen(name);

	if (n != 32 && !(n == 34 && !strcmp(name + 32, ".x")))
		return false;
	for (size_t i = 0; i < 32; i++)
		if (hex_value((unsigned char)name[i]) < 0)
			return false;
	if (exec)
		*exec = n == 34;
	return true;
}

static uint64_t ts_ns(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * 1000000000ull + (uint64_t)ts->tv_nsec;
}

int wcache_open(struct wcache *c, const char *dir, uint64_t max_bytes)
{
	struct dirent *de;
	DIR *d;
	int ret;

	*c = (struct wcache)WCACHE_INIT;
	c->max_bytes = max_bytes ? max_bytes : WORKER_CACHE_MAX;
	if ((ret = ggdir_mkdirs(dir)) < 0)
		return ret;
	if (!(c->dir = strdup(dir)))
		return -ENOMEM;
	if (!(d = opendir(dir))) {
		ret = -errno;
		wcache_close(c);
		return ret;
	}
	while ((de = readdir(d))) {
		struct stat sb;
		if (!entry_name(de->d_name, NULL) ||
		    fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(sb.st_mode))
			continue;
		c->bytes += (uint64_t)sb.st_size;
		if (ts_ns(&sb.st_mtim) > c->clock_ns)
			c->clock_ns = ts_ns(&sb.st_mtim);
	}
	closedir(d);
	return 0;
}

void wcache_close(struct wcache *c)
{
	free(c->dir);
	*c = (struct wcache)WCACHE_INIT;
}

/* Mark an entry used now: its mtime becomes the next tick of the cache's clock. */
static void touch(struct wcache *c, const char *path)
{
	struct timespec now, t[2];
	uint64_t ns;

	clock_gettime(CLOCK_REALTIME, &now);
	ns = ts_ns(&now);
	if (ns <= c->clock_ns)
		ns = c->clock_ns + 1;
	c->clock_ns = ns;
	t[0].tv_sec = 0;
	t[0].tv_nsec = UTIME_OMIT;
	t[1].tv_sec = (time_t)(ns / 1000000000ull);
	t[1].tv_nsec = (long)(ns % 1000000000ull);
	(void)utimensat(AT_FDCWD, path, t, 0); /* best effort: the order is a hint */
}

/* Copy fd to a new file at dst (mode), hashing the bytes; 0, -EBADMSG on mismatch. */
static int copy_verified(int in, const char *dst, mode_t mode, const struct gg_hash *want,
			 uint64_t *size)
{
	struct hash_stream *hs = hash_stream_new(GG_HASH_VALUE);
	char buf[65536];
	struct gg_hash got;
	int out = -1, ret = 0;
	ssize_t n;

	*size = 0;
	if (!hs)
		return -ENOMEM;
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0) {
		ret = -errno;
		goto out_free;
	}
	while ((n = read(in, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			goto out_close;
		}
		hash_stream_update(hs, buf, (size_t)n);
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));
			if (w < 0) {
				if (errno == EINTR)
					continue;
				ret = -errno;
				goto out_close;
			}
			off += w;
		}
		*size += (uint64_t)n;
	}
	hash_stream_final(hs, &got);
	if (want && !hash_equal(&got, want))
		ret = -EBADMSG;
	else if (fchmod(out, mode) < 0)
		ret = -errno;
out_close:
	if (close(out) < 0 && !ret)
		ret = -errno;
	if (ret)
		unlink(dst);
out_free:
	free(hs);
	return ret;
}

static int entry_path(const struct wcache *c, const struct gg_hash *h, bool exec, char *path,
		      size_t cap)
{
	char hex[2 * GG_HASH_LEN + 1];
	int n = snprintf(path, cap, "%s/%s%s", c->dir, hash_digest_hex(h, hex), exec ? ".x" : "");
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/*
 * Copy `in` into the cache entry `path` through a temporary and a rename, with the
 * entry's mode, verified against `want` when it is given (the size into *size).
 */
static int install_copy(struct wcache *c, int in, const char *path, bool exec,
			const struct gg_hash *want, uint64_t *size)
{
	static unsigned counter;
	char tmp[PATH_MAX];
	int ret;

	snprintf(tmp, sizeof(tmp), "%s/.tmp-%d-%u", c->dir, (int)getpid(),
		 __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED));
	if ((ret = copy_verified(in, tmp, exec ? 0555 : 0444, want, size)) < 0)
		return ret;
	if (rename(tmp, path) < 0) {
		ret = -errno;
		unlink(tmp);
	}
	return ret;
}

int wcache_fetch(struct wcache *c, const struct store *src, const struct gg_hash *h,
		 bool exec, char *path, size_t cap, struct wcache_stats *stats)
{
	uint64_t size = 0;
	struct stat sb;
	int in, ret;

	if (h->kind != GG_HASH_VALUE)
		return -EINVAL;
	if ((ret = entry_path(c, h, exec, path, cap)) < 0)
		return ret;
	if (lstat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
		touch(c, path);
		if (stats)
			stats->hits++;
		return 0;
	}
	in = store_open(src, h);
	if (in < 0)
		return in;
	ret = install_copy(c, in, path, exec, h, &size);
	close(in);
	if (ret < 0)
		return ret;
	touch(c, path);
	c->bytes += size;
	if (stats) {
		stats->misses++;
		stats->fetched_bytes += size;
	}
	return 0;
}

int wcache_adopt(struct wcache *c, const char *file, const struct gg_hash *h, bool exec,
		 struct wcache_stats *stats)
{
	char path[PATH_MAX];
	uint64_t size = 0;
	struct stat sb;
	int in, ret;

	if (h->kind != GG_HASH_VALUE)
		return -EINVAL;
	if ((ret = entry_path(c, h, exec, path, sizeof(path))) < 0)
		return ret;
	if (lstat(path, &sb) == 0 && S_ISREG(sb.st_mode))
		return 0;
	if (lstat(file, &sb) < 0)
		return -errno;
	if (!S_ISREG(sb.st_mode))
		return -EINVAL;
	if ((sb.st_mode & 07777) == (exec ? 0555 : 0444)) {
		/* the entry's mode already: the same inode, nothing copied */
		if (link(file, path) < 0 && errno != EEXIST)
			return -errno;
		size = (uint64_t)sb.st_size;
		goto out_count;
	}
	if ((in = open(file, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	ret = install_copy(c, in, path, exec, NULL, &size);
	close(in);
	if (ret < 0)
		return ret;
out_count:
	c->bytes += size;
	if (stats) {
		stats->misses++;
		stats->fetched_bytes += size;
	}
	return 0;
}

struct centry {
	char name[40];
	uint64_t mtime, size;
};

static int centry_cmp(const void *a, const void *b)
{
	const struct centry *x = a, *y = b;
	if (x->mtime != y->mtime)
		return x->mtime < y->mtime ? -1 : 1;
	return strcmp(x->name, y->name);
}

int wcache_trim(struct wcache *c, struct wcache_stats *stats)
{
	struct centry *v = NULL;
	size_t n = 0, alloc = 0;
	uint64_t total = 0;
	struct dirent *de;
	int ret = 0;
	DIR *d;

	if (c->bytes <= c->max_bytes)
		return 0;
	if (!(d = opendir(c->dir)))
		return -errno;
	while ((de = readdir(d))) {
		struct stat sb;
		if (!entry_name(de->d_name, NULL) ||
		    fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(sb.st_mode))
			continue;
		if (n == alloc) {
			size_t na = alloc ? alloc * 2 : 256;
			struct centry *nv = realloc(v, na * sizeof(*nv));
			if (!nv) {
				ret = -ENOMEM;
				goto out;
			}
			v = nv;
			alloc = na;
		}
		snprintf(v[n].name, sizeof(v[n].name), "%.39s", de->d_name);
		v[n].mtime = ts_ns(&sb.st_mtim);
		v[n].size = (uint64_t)sb.st_size;
		total += v[n].size;
		n++;
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), centry_cmp);
	for (size_t i = 0; i < n && total > c->max_bytes; i++) {
		if (unlinkat(dirfd(d), v[i].name, 0) < 0 && errno != ENOENT)
			continue;
		total -= v[i].size;
		if (stats) {
			stats->evicted++;
			stats->evicted_bytes += v[i].size;
		}
	}
	c->bytes = total;
out:
	closedir(d);
	free(v);
	return ret;
}

/* ---- the root ------------------------------------------------------------------ */

/*
 * Open the directory `rel` (a virtual path, leading '/' allowed) below the root
 * descriptor, creating missing components (mode 0755), never following a symbolic
 * link: a component that is one (or a file) fails with -ENOTDIR.  An fd, or -errno.
 */
static int r_opendir(int rootfd, const char *rel, bool create)
{
	char comp[NAME_MAX + 1];
	int fd = dup(rootfd);
	const char *p = rel;

	if (fd < 0)
		return -errno;
	while (*p) {
		size_t len;
		int next;
		while (*p == '/')
			p++;
		len = strcspn(p, "/");
		if (!len)
			break;
		if (len > NAME_MAX || (len == 2 && !strncmp(p, "..", 2))) {
			close(fd);
			return len > NAME_MAX ? -ENAMETOOLONG : -EINVAL;
		}
		memcpy(comp, p, len);
		comp[len] = '\0';
		p += len;
		if (len == 1 && comp[0] == '.')
			continue;
		next = openat(fd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && errno == ENOENT && create) {
			if (mkdirat(fd, comp, 0755) < 0 && errno != EEXIST) {
				int ret = -errno;
				close(fd);
				return ret;
			}
			next = openat(fd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (next < 0) {
			int ret = errno == ELOOP ? -ENOTDIR : -errno;
			close(fd);
			return ret;
		}
		close(fd);
		fd = next;
	}
	return fd;
}

/* The parent directory of virtual `path` under the root (created) and its last name. */
static int r_parent(int rootfd, const char *path, const char **name)
{
	const char *slash = strrchr(path, '/');
	char dir[PATH_MAX];

	if (!slash || !slash[1] || (size_t)(slash - path) >= sizeof(dir))
		return -EINVAL;
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	*name = slash + 1;
	return r_opendir(rootfd, dir, true);
}

struct job {
	const struct worker_opts *o;
	struct worker_report *rep;
	struct store src, out;
	struct thunk th;
	struct wcache cache;
	char jobdir[PATH_MAX], root[PATH_MAX];
	int rootfd;
	struct strset placed;       /* virtual paths placed in R (strings: the thunk's) */
	const struct thunk_input **inputs; /* exe, objects, inputs: what was placed */
	size_t n_inputs;
};

static void errf(struct job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void errf(struct job *j, const char *fmt, ...)
{
	va_list ap;
	free(j->rep->res.err);
	va_start(ap, fmt);
	if (vasprintf(&j->rep->res.err, fmt, ap) < 0)
		j->rep->res.err = NULL;
	va_end(ap);
}

/* Place one input at R + its path: a link from the cache, a copy, or a symlink. */
/*
 * The cache entry of VALUE blob h into cpath, from a trusted source store
 * (worker_opts.trusted_source): a hard link of the store's blob, no copy, no
 * re-verification.  An executable's blob is given the entry's mode 0555 first
 * (the store reads blobs whatever their mode); where linking cannot be done,
 * wcache_adopt copies.
 */
static int cache_from_trusted(struct job *j, const struct gg_hash *h, bool exec, char *cpath,
			      size_t cap)
{
	char file[PATH_MAX];
	struct stat sb;
	int ret;

	if ((ret = entry_path(&j->cache, h, exec, cpath, cap)) < 0)
		return ret;
	if (lstat(cpath, &sb) == 0 && S_ISREG(sb.st_mode)) {
		touch(&j->cache, cpath);
		j->rep->cache.hits++;
		return 0;
	}
	if ((ret = store_path(&j->src, h, file, sizeof(file))) < 0)
		return ret;
	if (exec && stat(file, &sb) == 0 && (sb.st_mode & 07777) == 0444)
		(void)chmod(file, 0555); /* else wcache_adopt copies */
	if ((ret = wcache_adopt(&j->cache, file, h, exec, &j->rep->cache)) < 0)
		return ret;
	touch(&j->cache, cpath);
	return 0;
}

static int place(struct job *j, const struct thunk_input *in)
{
	char cpath[PATH_MAX];
	const char *name;
	int dfd, ret;

	if (strset_has(&j->placed, in->path))
		return 0; /* the exe is often an input too */
	if (in->hash.kind != GG_HASH_VALUE) {
		errf(j, "thunk is not portable: input '%s' is a reference to another thunk's output",
		     in->path);
		return -EINVAL;
	}
	if ((dfd = r_parent(j->rootfd, in->path, &name)) < 0) {
		errf(j, "cannot place input '%s' under '%s': %s", in->path, j->root, strerror(-dfd));
		return dfd;
	}
	if (S_ISLNK(in->mode)) {
		char *target = NULL;
		size_t len;
		ret = store_get_buf(&j->src, &in->hash, PATH_MAX, &target, &len);
		if (ret == 0 && (strlen(target) != len || !len))
			ret = -EBADMSG;
		if (ret == 0 && symlinkat(target, dfd, name) < 0 && errno != EEXIST)
			ret = -errno;
		free(target);
		if (ret < 0)
			errf(j, "cannot place symbolic link '%s': %s", in->path, strerror(-ret));
		goto out;
	}
	for (int tries = 0;; tries++) {
		ret = j->o->trusted_source
			      ? cache_from_trusted(j, &in->hash, in->mode & 0111, cpath, sizeof(cpath))
			      : wcache_fetch(&j->cache, &j->src, &in->hash, in->mode & 0111, cpath,
					     sizeof(cpath), &j->rep->cache);
		if (ret < 0) {
			errf(j, "cannot fetch input '%s' (%s): %s", in->path,
			     hash_to_hex(&in->hash, (char[GG_HASH_HEX_SIZE]){ 0 }), strerror(-ret));
			goto out;
		}
		if (mounts_is_output(&j->th, in->path)) {
			/* rewritten in place (ar r, ranlib): a writable copy of its own */
			int fd = open(cpath, O_RDONLY | O_CLOEXEC), w;
			uint64_t size;
			char tmp[PATH_MAX + 16];
			if (fd < 0) {
				ret = -errno;
			} else {
				snprintf(tmp, sizeof(tmp), "%s/copy.tmp", j->jobdir);
				ret = copy_verified(fd, tmp, (in->mode & 07777) | 0200, NULL, &size);
				close(fd);
				if (ret == 0 && (w = renameat(AT_FDCWD, tmp, dfd, name)) < 0)
					ret = -errno;
			}
		} else if (linkat(AT_FDCWD, cpath, dfd, name, 0) < 0) {
			ret = -errno;
			if (ret == -EEXIST) {
				ret = 0;
			} else if (ret == -EXDEV || ret == -EPERM || ret == -EMLINK) {
				int fd = open(cpath, O_RDONLY | O_CLOEXEC);
				uint64_t size;
				char tmp[PATH_MAX + 16];
				snprintf(tmp, sizeof(tmp), "%s/copy.tmp", j->jobdir);
				ret = fd < 0 ? -errno : copy_verified(fd, tmp, in->mode & 0555, NULL, &size);
				if (fd >= 0)
					close(fd);
				if (ret == 0 && renameat(AT_FDCWD, tmp, dfd, name) < 0)
					ret = -errno;
			}
		}
		if (ret != -ENOENT || tries) /* ENOENT: trimmed by another worker, fetch again */
			break;
	}
	if (ret < 0)
		errf(j, "cannot place input '%s' under '%s': %s", in->path, j->root, strerror(-ret));
out:
	close(dfd);
	if (ret == 0) {
		j->inputs[j->n_inputs++] = in;
		j->rep->inputs++;
		if (strset_add(&j->placed, in->path) < 0)
			return -ENOMEM;
	}
	return ret;
}

/* A probe below a non-directory: an empty file at the first component R lacks. */
static void place_notdir(struct job *j, const char *path)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len >= sizeof(buf))
		return;
	for (size_t i = 1; i <= len; i++) {
		struct stat sb;
		if (path[i] != '/' && path[i])
			continue;
		memcpy(buf, path, i);
		buf[i] = '\0';
		if (fstatat(j->rootfd, buf + 1, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
			if (!S_ISDIR(sb.st_mode))
				return; /* the non-directory is there (an input) */
			continue;
		}
		if (i < len) { /* a missing ancestor: make it the non-directory */
			const char *name;
			int dfd = r_parent(j->rootfd, buf, &name);
			if (dfd >= 0) {
				int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
				if (fd >= 0)
					close(fd);
				close(dfd);
			}
		}
		return;
	}
}

static int make_root(struct job *j)
{
	const struct thunk *th = &j->th;
	size_t n = 1 + th->objects.n + th->inputs.n;
	int ret, fd;

	if (!(j->inputs = calloc(n, sizeof(*j->inputs))))
		return -ENOMEM;
	if ((ret = place(j, &th->exe)) < 0)
		return ret;
	for (size_t i = 0; i < th->objects.n; i++)
		if ((ret = place(j, &th->objects.v[i])) < 0)
			return ret;
	for (size_t i = 0; i < th->inputs.n; i++)
		if ((ret = place(j, &th->inputs.v[i])) < 0)
			return ret;
	/*
	 * A probe that found nothing (ENOENT) saw the directory above it, as the local
	 * sandbox shows it (sbx.h: parents of every declared path, absent ones too):
	 * Python's import system lists dist-packages and then looks into ruamel/ there.
	 * Best effort: a parent that is a recorded link or file is left alone.
	 */
	for (size_t i = 0; i < th->missing.n; i++) {
		const char *name;
		if ((fd = r_parent(j->rootfd, th->missing.v[i], &name)) >= 0)
			close(fd);
	}
	for (size_t i = 0; i < th->notdir.n; i++)
		place_notdir(j, th->notdir.v[i]);
	for (size_t i = 0; i < th->outputs.n; i++) {
		const char *name;
		if ((fd = r_parent(j->rootfd, th->outputs.v[i], &name)) < 0) {
			errf(j, "cannot make the directory of output '%s': %s", th->outputs.v[i],
			     strerror(-fd));
			return fd;
		}
		close(fd);
	}
	if (th->cwd && th->cwd[0]) {
		if ((fd = r_opendir(j->rootfd, th->cwd, true)) < 0) {
			errf(j, "cannot make the working directory '%s': %s", th->cwd, strerror(-fd));
			return fd;
		}
		close(fd);
	}
	if ((fd = r_opendir(j->rootfd, "/tmp", true)) < 0)
		return fd;
	close(fd);
	if (fchmodat(j->rootfd, "tmp", 01777, 0) < 0)
		return -errno;
	return 0;
}

/* ---- running ------------------------------------------------------------------- */

/* Below a path declared absent or bound from R (not made), nothing of the host's. */
static bool absent_ancestor(const struct mounts *m, const char *path)
{
	int k = mounts_ancestor_kind(m, path);
	return k >= 0 && k != SBX_MOUNT_DIR && k != SBX_MOUNT_RW;
}

/* Level 1: the thunk's files bound from R at their recorded paths. */
static int plan_level1(struct job *j, struct mounts *m)
{
	const struct thunk *th = &j->th;
	char src[PATH_MAX * 2];
	const char *s;
	int ret;

	for (size_t i = 0; i < th->outputs.n; i++) { /* writable output directories first */
		const char *slash = strrchr(th->outputs.v[i], '/'), *d;
		char dir[PATH_MAX];
		if (!slash || slash == th->outputs.v[i] ||
		    (size_t)(slash - th->outputs.v[i]) >= sizeof(dir))
			continue;
		memcpy(dir, th->outputs.v[i], (size_t)(slash - th->outputs.v[i]));
		dir[slash - th->outputs.v[i]] = '\0';
		snprintf(src, sizeof(src), "%s%s", j->root, dir);
		if (!(d = mounts_keep(m, dir)) || !(s = mounts_keep(m, src)))
			return -ENOMEM;
		if ((ret = mounts_add(m, SBX_MOUNT_RW, s, d)) < 0)
			return ret;
	}
	for (size_t i = 0; i < j->n_inputs; i++) {
		const struct thunk_input *in = j->inputs[i];
		if (mounts_is_output(th, in->path))
			continue; /* its copy is in a writable output directory */
		if (S_ISLNK(in->mode)) {
			char target[PATH_MAX];
			ssize_t n;
			snprintf(src, sizeof(src), "%s%s", j->root, in->path);
			if ((n = readlink(src, target, sizeof(target) - 1)) < 0)
				return -errno;
			target[n] = '\0';
			if (!(s = mounts_keep(m, target)))
				return -ENOMEM;
			ret = mounts_add(m, SBX_MOUNT_SYMLINK, s, in->path);
		} else {
			snprintf(src, sizeof(src), "%s%s", j->root, in->path);
			if (!(s = mounts_keep(m, src)))
				return -ENOMEM;
			ret = mounts_add(m, SBX_MOUNT_RO, s, in->path);
		}
		if (ret < 0)
			return ret;
	}
	for (size_t i = 0; i < th->missing.n; i++) {
		if (strset_has(&m->dsts, th->missing.v[i]) || absent_ancestor(m, th->missing.v[i]))
			continue;
		if ((ret = mounts_add(m, SBX_MOUNT_ABSENT, NULL, th->missing.v[i])) < 0)
			return ret;
	}
	if (th->cwd && th->cwd[0] && !mounts_under(m, th->cwd) &&
	    (ret = mounts_add(m, SBX_MOUNT_DIR, NULL, th->cwd)) < 0)
		return ret;
	return 0;
}

/* Is NAME set in the NULL-terminated env? */
static bool getenv_in(char *const *env, const char *name)
{
	size_t len = strlen(name);
	for (; *env; env++)
		if (!strncmp(*env, name, len) && (*env)[len] == '=')
			return true;
	return false;
}

/* A NULL-terminated copy of env with `add` appended (pointers only: free() it). */
static char **env_plus(char *const *env, char *const *add)
{
	size_t n = 0, k = 0;
	char **v;

	while (env[n])
		n++;
	while (add[k])
		k++;
	if (!(v = calloc(n + k + 1, sizeof(*v))))
		return NULL;
	memcpy(v, env, n * sizeof(*v));
	memcpy(v + n, add, k * sizeof(*v));
	return v;
}

static char *read_tail(const char *path)
{
	char *buf;
	struct stat sb;
	off_t off = 0;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	if (fstat(fd, &sb) == 0 && sb.st_size > WORKER_TAIL_MAX)
		off = sb.st_size - WORKER_TAIL_MAX;
	buf = malloc(WORKER_TAIL_MAX + 1);
	n = buf ? pread(fd, buf, WORKER_TAIL_MAX, off) : -1;
	close(fd);
	if (n < 0) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

/* Open a store at dir: a directory holding blobs/, or blobs/ itself. */
static int open_store(struct store *st, const char *dir)
{
	char buf[PATH_MAX];
	struct stat sb;

	snprintf(buf, sizeof(buf), "%s/blobs", dir);
	if (stat(buf, &sb) < 0 && !strcmp(path_base(dir), "blobs")) {
		snprintf(buf, sizeof(buf), "%s", dir);
		*strrchr(buf, '/') = '\0';
		return store_init(st, buf[0] ? buf : "/", STORE_CREATE);
	}
	return store_init(st, dir, STORE_CREATE);
}

static int run(struct job *j, int level)
{
	const struct thunk *th = &j->th;
	struct engine_result *res = &j->rep->res;
	struct sbx_plan plan = SBX_PLAN_INIT;
	struct sbx_result *sr = calloc(1, sizeof(*sr));
	struct mounts m = { 0 };
	struct vpath *vp = NULL;
	struct vexec *x = NULL;
	const char **argv3 = NULL;
	char **argv = NULL, **envz = NULL, **env = NULL, **env3 = NULL;
	char *add[6] = { 0 }, cwd[PATH_MAX * 2], outp[PATH_MAX + 16], errp[PATH_MAX + 16];
	int ret = 0;

	if (!sr)
		return -ENOMEM;
	argv = thunk_strv_dup(&th->argv);
	envz = thunk_strv_dup(&th->env);
	env = envz ? sbx_env_defaults(envz, WORKER_SOURCE_DATE_EPOCH) : NULL;
	if (!argv || !env || !argv[0]) {
		ret = argv && env ? -EINVAL : -ENOMEM;
		goto out;
	}
	snprintf(outp, sizeof(outp), "%s/stdout", j->jobdir);
	snprintf(errp, sizeof(errp), "%s/stderr", j->jobdir);
	plan.umask = th->umask;
	plan.uid = geteuid();
	plan.gid = getegid();
	plan.random_seed = j->o->seed;
	plan.stdout_path = outp;
	plan.stderr_path = errp;
	plan.timeout_ms = j->o->timeout_ms;
	plan.cancel_fd = j->o->cancellable ? j->o->cancel_fd : -1;
	if (level == SBX_LEVEL_NS) {
		if ((ret = plan_level1(j, &m)) < 0) {
			errf(j, "cannot plan the sandbox: %s", strerror(-ret));
			goto out;
		}
		plan.path = th->exe.path;
		plan.argv = argv;
		plan.envp = env;
		plan.cwd = th->cwd && th->cwd[0] ? th->cwd : "/";
		plan.mounts = m.v;
		plan.n_mounts = m.n;
		plan.flags = SBX_DEFAULTS;
		plan.level = SBX_LEVEL_NS;
	} else {
		const char *vcwd = th->cwd && th->cwd[0] ? th->cwd : "/";
		size_t cap = th->argv.n + VEXEC_ARGV_EXTRA; /* argc + what vexec_plan adds */
		if (!j->o->shim || !j->o->shim[0]) {
			errf(j, "level 3 needs the shim library (libggshim.so)");
			ret = -ENOENT;
			goto out;
		}
		vp = calloc(1, sizeof(*vp));
		x = calloc(1, sizeof(*x));
		argv3 = calloc(cap, sizeof(*argv3));
		if (!vp || !x || !argv3) {
			ret = -ENOMEM;
			goto out;
		}
		if ((ret = vpath_init(vp, j->root, vcwd, NULL)) < 0 ||
		    (ret = vexec_plan(vp, th->exe.path, argv, NULL, x, argv3, cap)) < 0) {
			errf(j, "cannot plan the exec of '%s' under '%s': %s", th->exe.path, j->root,
			     strerror(-ret));
			goto out;
		}
		if (asprintf(&add[0], "LD_PRELOAD=%s", j->o->shim) < 0 ||
		    asprintf(&add[1], GG_ENV_VROOT "=%s", j->root) < 0 ||
		    asprintf(&add[2], GG_ENV_VEXE "=%s", x->vexe) < 0 ||
		    asprintf(&add[3], GG_ENV_SHIM_OFF "=1") < 0) {
			ret = -ENOMEM;
			goto out;
		}
		/* glibc opens locale files itself, unseen by the shim: R's copy, by host path */
		if (faccessat(j->rootfd, "usr/lib/locale", F_OK, 0) == 0 && !getenv_in(env, "LOCPATH") &&
		    asprintf(&add[4], "LOCPATH=%s/usr/lib/locale", j->root) < 0) {
			add[4] = NULL;
			ret = -ENOMEM;
			goto out;
		}
		if (!(env3 = env_plus(env, add))) {
			ret = -ENOMEM;
			goto out;
		}
		snprintf(cwd, sizeof(cwd), "%s%s", j->root, strcmp(vcwd, "/") ? vcwd : "");
		plan.path = x->file;
		plan.argv = (char *const *)argv3;
		plan.envp = env3;
		plan.cwd = cwd;
		plan.flags = SBX_NO_ASLR;
		plan.level = SBX_LEVEL_NONE;
	}
	ret = sbx_run(&plan, sr);
	res->level = sr->level ? sr->level : level;
	j->rep->timed_out = ret == 0 && sr->timed_out;
	ret = engine_result_sbx(res, ret, sr, j->o->timeout_ms);
out:
	for (size_t i = 0; i < ARRAY_SIZE(add); i++)
		free(add[i]);
	free(env3);
	free(argv3);
	free(x);
	free(vp);
	free(env);
	free(envz);
	free(argv);
	mounts_release(&m);
	free(sr);
	return ret;
}

static int choose_level(const struct worker_opts *o, struct worker_report *rep)
{
	struct sbx_caps caps;

	if (o->level == SBX_LEVEL_NS || o->level == SBX_LEVEL_NONE)
		return o->level;
	sbx_probe(&caps);
	rep->probed = true;
	rep->host_userns = caps.userns;
	rep->host_seccomp = caps.seccomp;
	return caps.userns ? SBX_LEVEL_NS : SBX_LEVEL_NONE;
}

int worker_exec(const struct worker_opts *o, const struct gg_hash *h,
		struct worker_report *rep)
{
	struct job *j = calloc(1, sizeof(*j));
	char base[PATH_MAX], cdir[PATH_MAX + 16];
	uint64_t t0, t1, t2;
	int ret, level;

	memset(rep, 0, sizeof(*rep));
	rep->thunk = *h;
	rep->res.status = -1;
	if (!j)
		return -ENOMEM;
	j->o = o;
	j->rep = rep;
	j->src = (struct store)STORE_INIT;
	j->out = (struct store)STORE_INIT;
	j->rootfd = -1;
	thunk_init(&j->th);
	t0 = clock_now_ms();

	if (o->level && o->level != SBX_LEVEL_NS && o->level != SBX_LEVEL_NONE) {
		errf(j, "level %d is not one a worker runs at (1 or 3)", o->level);
		ret = -EINVAL;
		goto out;
	}
	if ((ret = open_store(&j->src, o->blobs)) < 0) {
		errf(j, "cannot open the blob store '%s': %s", o->blobs, strerror(-ret));
		goto out;
	}
	if ((ret = open_store(&j->out, o->out ? o->out : o->blobs)) < 0) {
		errf(j, "cannot open the output store '%s': %s", o->out ? o->out : o->blobs,
		     strerror(-ret));
		goto out;
	}
	if ((ret = store_load_thunk(&j->src, h, &j->th)) < 0) {
		errf(j, "cannot load thunk %s from '%s': %s",
		     hash_to_hex(h, (char[GG_HASH_HEX_SIZE]){ 0 }), o->blobs, strerror(-ret));
		goto out;
	}
	if (o->root_base)
		snprintf(base, sizeof(base), "%s", o->root_base);
	else
		snprintf(base, sizeof(base), "%s/gg/r",
			 getenv("TMPDIR") && getenv("TMPDIR")[0] == '/' ? getenv("TMPDIR") : "/tmp");
	if (o->cache_dir)
		snprintf(cdir, sizeof(cdir), "%s", o->cache_dir);
	else
		snprintf(cdir, sizeof(cdir), "%s/../cache", base);
	if ((ret = ggdir_mkdirs(base)) < 0 || (ret = wcache_open(&j->cache, cdir, o->cache_max)) < 0) {
		errf(j, "cannot make the worker's directories '%s', '%s': %s", base, cdir,
		     strerror(-ret));
		goto out;
	}
	if (snprintf(j->jobdir, sizeof(j->jobdir), "%s/XXXXXX", base) >= (int)sizeof(j->jobdir) - 8 ||
	    !mkdtemp(j->jobdir) || !realpath(j->jobdir, j->root)) {
		ret = -errno;
		errf(j, "cannot make a root under '%s': %s", base, strerror(errno));
		j->jobdir[0] = '\0';
		goto out;
	}
	snprintf(j->jobdir, sizeof(j->jobdir), "%s", j->root); /* canonical: no symlink in R */
	strncat(j->root, "/root", sizeof(j->root) - strlen(j->root) - 1);
	if (mkdir(j->root, 0755) < 0 ||
	    (j->rootfd = open(j->root, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) {
		ret = -errno;
		errf(j, "cannot make root '%s': %s", j->root, strerror(errno));
		goto out;
	}
	rep->root = strdup(j->root);
	if ((ret = make_root(j)) < 0) {
		if (!rep->res.err)
			errf(j, "cannot make root '%s': %s", j->root, strerror(-ret));
		goto out;
	}
	t1 = clock_now_ms();
	rep->fetch_ms = t1 - t0;
	level = choose_level(o, rep);
	ret = run(j, level);
	t2 = clock_now_ms();
	rep->run_ms = t2 - t1;
	{
		char p[PATH_MAX + 16];
		snprintf(p, sizeof(p), "%s/stdout", j->jobdir);
		rep->stdout_tail = read_tail(p);
		snprintf(p, sizeof(p), "%s/stderr", j->jobdir);
		rep->stderr_tail = read_tail(p);
	}
	if (ret == 0 && rep->res.ran && rep->res.status == 0 &&
	    engine_store_outputs(&j->out, j->root, &j->th, false, &rep->res) < 0) {
		cache_entry_release(&rep->res.outputs);
		if (!rep->res.err)
			errf(j, "cannot collect the outputs");
		rep->res.status = 1;
	}
	rep->store_ms = clock_now_ms() - t2;
out:
	if (j->rootfd >= 0)
		close(j->rootfd);
	if (j->jobdir[0] && !o->keep)
		rm_rf(j->jobdir);
	if (j->cache.dir)
		(void)wcache_trim(&j->cache, &rep->cache);
	wcache_close(&j->cache);
	strset_release(&j->placed);
	free(j->inputs);
	thunk_release(&j->th);
	store_release(&j->src);
	store_release(&j->out);
	free(j);
	return ret;
}

void worker_report_release(struct worker_report *r)
{
	engine_result_release(&r->res);
	free(r->root);
	free(r->stdout_tail);
	free(r->stderr_tail);
	r->root = r->stdout_tail = r->stderr_tail = NULL;
}

/* ---- the report as JSON ------------------------------------------------------ */

int worker_report_json(const struct worker_report *r, struct json *j)
{
	char hex[GG_HASH_HEX_SIZE];

	json_obj_begin(j);
	json_kv_str(j, "thunk", hash_to_hex(&r->thunk, hex));
	json_kv_bool(j, "ran", r->res.ran);
	json_kv_int(j, "status", r->res.status);
	json_kv_int(j, "level", r->res.level);
	json_key(j, "outputs");
	json_arr_begin(j);
	for (size_t i = 0; i < r->res.outputs.n; i++) {
		const struct cache_output *o = &r->res.outputs.v[i];
		json_obj_begin(j);
		json_kv_str(j, "path", o->path);
		json_kv_str(j, "value", hash_is_set(&o->value) ? hash_to_hex(&o->value, hex) : NULL);
		json_kv_uint(j, "mode", o->mode);
		json_obj_end(j);
	}
	json_arr_end(j);
	json_kv_str(j, "error", r->res.err);
	json_kv_str(j, "undeclared", r->res.undeclared);
	json_kv_str(j, "stdout_tail", r->stdout_tail ? r->stdout_tail : "");
	json_kv_str(j, "stderr_tail", r->stderr_tail ? r->stderr_tail : "");
	json_key(j, "times_ms");
	json_obj_begin(j);
	json_kv_uint(j, "fetch", r->fetch_ms);
	json_kv_uint(j, "run", r->run_ms);
	json_kv_uint(j, "store", r->store_ms);
	if (r->uploaded)
		json_kv_uint(j, "upload", r->upload_ms);
	json_obj_end(j);
	json_key(j, "cache");
	json_obj_begin(j);
	json_kv_uint(j, "hits", r->cache.hits);
	json_kv_uint(j, "misses", r->cache.misses);
	json_kv_uint(j, "fetched_bytes", r->cache.fetched_bytes);
	json_kv_uint(j, "evicted", r->cache.evicted);
	json_obj_end(j);
	json_kv_uint(j, "inputs", r->inputs);
	json_kv_str(j, "root", r->root);
	if (r->probed) {
		json_key(j, "host");
		json_obj_begin(j);
		json_kv_bool(j, "userns", r->host_userns);
		json_kv_bool(j, "seccomp", r->host_seccomp);
		json_obj_end(j);
	}
	json_obj_end(j);
	return json_error(j);
}

/* ---- the report as msgpack --------------------------------------------------- */

#define REPORT_MAGIC "ggwreport"
#define REPORT_VERSION 1

static int sbuf_write_cb(void *data, const char *buf, size_t len)
{
	return sbuf_add(data, buf, len) < 0 ? -1 : 0;
}

static void pack_str(msgpack_packer *pk, const char *s)
{
	if (s)
		msgpack_pack_str_with_body(pk, s, strlen(s));
	else
		msgpack_pack_nil(pk);
}

int worker_report_pack(const struct worker_report *r, struct sbuf *sb)
{
	char hex[GG_HASH_HEX_SIZE];
	msgpack_packer pk;

	msgpack_packer_init(&pk, sb, sbuf_write_cb);
	msgpack_pack_array(&pk, 11);
	pack_str(&pk, REPORT_MAGIC);
	msgpack_pack_uint32(&pk, REPORT_VERSION);
	if (r->res.ran)
		msgpack_pack_true(&pk);
	else
		msgpack_pack_false(&pk);
	msgpack_pack_int(&pk, r->res.status);
	msgpack_pack_int(&pk, r->res.level);
	msgpack_pack_array(&pk, (uint32_t)r->res.outputs.n);
	for (size_t i = 0; i < r->res.outputs.n; i++) {
		msgpack_pack_array(&pk, 3);
		pack_str(&pk, r->res.outputs.v[i].path);
		pack_str(&pk, hash_to_hex(&r->res.outputs.v[i].value, hex));
		msgpack_pack_uint32(&pk, r->res.outputs.v[i].mode);
	}
	pack_str(&pk, r->res.err);
	pack_str(&pk, r->res.undeclared);
	pack_str(&pk, r->stderr_tail ? r->stderr_tail : "");
	msgpack_pack_array(&pk, 3);
	msgpack_pack_uint64(&pk, r->fetch_ms);
	msgpack_pack_uint64(&pk, r->run_ms);
	msgpack_pack_uint64(&pk, r->store_ms);
	msgpack_pack_uint64(&pk, r->inputs);
	return sbuf_error(sb);
}

static bool is_str(const msgpack_object *o)
{
	return o->type == MSGPACK_OBJECT_STR;
}

static char *dup_obj_str(const msgpack_object *o, int *ret)
{
	char *s;
	if (o->type == MSGPACK_OBJECT_NIL)
		return NULL;
	if (!is_str(o) || memchr(o->via.str.ptr, '\0', o->via.str.size)) {
		*ret = -EBADMSG;
		return NULL;
	}
	if (!(s = strndup(o->via.str.ptr, o->via.str.size)))
		*ret = -ENOMEM;
	return s;
}

static bool obj_int(const msgpack_object *o, int64_t *v)
{
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT64_MAX)
		*v = (int64_t)o->via.u64;
	else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
		*v = o->via.i64;
	else
		return false;
	return true;
}

int worker_report_unpack(const void *buf, size_t len, struct worker_report *r)
{
	const msgpack_object *a, *outs, *times;
	msgpack_unpacked up;
	size_t off = 0;
	int64_t v;
	int ret = 0;

	memset(r, 0, sizeof(*r));
	msgpack_unpacked_init(&up);
	if (msgpack_unpack_next(&up, buf, len, &off) != MSGPACK_UNPACK_SUCCESS || off != len ||
	    up.data.type != MSGPACK_OBJECT_ARRAY || up.data.via.array.size != 11) {
		ret = -EBADMSG;
		goto out;
	}
	a = up.data.via.array.ptr;
	if (!is_str(&a[0]) || a[0].via.str.size != strlen(REPORT_MAGIC) ||
	    memcmp(a[0].via.str.ptr, REPORT_MAGIC, a[0].via.str.size)) {
		ret = -EBADMSG;
		goto out;
	}
	if (!obj_int(&a[1], &v) || v != REPORT_VERSION) {
		ret = -EPROTONOSUPPORT;
		goto out;
	}
	outs = &a[5];
	times = &a[9];
	if (a[2].type != MSGPACK_OBJECT_BOOLEAN || outs->type != MSGPACK_OBJECT_ARRAY ||
	    times->type != MSGPACK_OBJECT_ARRAY || times->via.array.size != 3) {
		ret = -EBADMSG;
		goto out;
	}
	r->res.ran = a[2].via.boolean;
	if (!obj_int(&a[3], &v) || v < INT32_MIN || v > INT32_MAX) {
		ret = -EBADMSG;
		goto out;
	}
	r->res.status = (int)v;
	if (!obj_int(&a[4], &v) || v < 0 || v > 3) {
		ret = -EBADMSG;
		goto out;
	}
	r->res.level = (int)v;
	if (!(r->res.outputs.v = calloc(outs->via.array.size + 1, sizeof(*r->res.outputs.v)))) {
		ret = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < outs->via.array.size; i++) {
		const msgpack_object *o = &outs->via.array.ptr[i];
		struct cache_output *co = &r->res.outputs.v[i];
		if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 3 ||
		    !is_str(&o->via.array.ptr[0]) || !is_str(&o->via.array.ptr[1]) ||
		    !obj_int(&o->via.array.ptr[2], &v) || v < 0 || v > UINT32_MAX ||
		    hash_from_hex(o->via.array.ptr[1].via.str.ptr, o->via.array.ptr[1].via.str.size,
				  &co->value) < 0 || co->value.kind != GG_HASH_VALUE) {
			ret = -EBADMSG;
			goto out;
		}
		co->mode = (uint32_t)v;
		if (!(co->path = dup_obj_str(&o->via.array.ptr[0], &ret)))
			goto out;
		r->res.outputs.n = i + 1;
	}
	r->res.err = dup_obj_str(&a[6], &ret);
	r->res.undeclared = dup_obj_str(&a[7], &ret);
	r->stderr_tail = dup_obj_str(&a[8], &ret);
	if (ret < 0)
		goto out;
	for (int i = 0; i < 3; i++) {
		if (!obj_int(&times->via.array.ptr[i], &v) || v < 0) {
			ret = -EBADMSG;
			goto out;
		}
		(i == 0 ? &r->fetch_ms : i == 1 ? &r->run_ms : &r->store_ms)[0] = (uint64_t)v;
	}
	if (!obj_int(&a[10], &v) || v < 0) {
		ret = -EBADMSG;
		goto out;
	}
	r->inputs = (uint64_t)v;
out:
	msgpack_unpacked_destroy(&up);
	if (ret < 0)
		worker_report_release(r);
	return ret;
}

/* ---- portable thunks ----------------------------------------------------------- */

static int copy_strv(struct thunk_strv *dst, const struct thunk_strv *src)
{
	if (!src->n)
		return 0;
	if (!(dst->v = calloc(src->n, sizeof(*dst->v))))
		return -ENOMEM;
	dst->alloc = src->n;
	for (size_t i = 0; i < src->n; i++) {
		if (!(dst->v[i] = strdup(src->v[i])))
			return -ENOMEM;
		dst->n = i + 1;
	}
	return 0;
}

/* Make sure VALUE blob h (the file at `path` on this host, as recorded) is in st. */
static int ensure_blob(struct store *st, const char *path, uint32_t mode, const struct gg_hash *h,
		       char *err, size_t errlen)
{
	struct gg_hash got;
	char hex[GG_HASH_HEX_SIZE];
	int ret;

	if (store_has(st, h))
		return 0;
	if (S_ISLNK(mode)) {
		char target[PATH_MAX];
		ssize_t n = readlink(path, target, sizeof(target));
		ret = n < 0 ? -errno : store_put_buf(st, GG_HASH_VALUE, target, (size_t)n, &got);
	} else {
		ret = store_put_file(st, path, &got, NULL);
	}
	if (ret < 0) {
		errbuf_set(err, errlen, "cannot store input '%s' (%s): %s", path, hash_to_hex(h, hex),
			   strerror(-ret));
		return ret;
	}
	if (!hash_equal(&got, h)) {
		errbuf_set(err, errlen, "input '%s' changed since it was hashed (%s)", path,
			   hash_to_hex(h, hex));
		return -ESTALE;
	}
	return 0;
}

/* Follow the host's symbolic link at `path` (depth-bounded), adding its targets. */
static int close_link(struct store *st, struct thunk *out, struct strset *have, const char *path,
		      int depth, char *err, size_t errlen)
{
	char target[PATH_MAX], dir[PATH_MAX], *next = NULL;
	struct gg_hash h;
	struct stat sb;
	ssize_t n;
	int ret = 0;

	if (depth > VPATH_MAX_LINKS)
		return 0;
	if ((n = readlink(path, target, sizeof(target) - 1)) < 0)
		return 0; /* gone or not a link any more: the blob check will say */
	target[n] = '\0';
	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	if ((ret = path_abs(target, dir[0] ? dir : "/", &next)) < 0)
		return ret;
	if (strset_has(have, next) || lstat(next, &sb) < 0 ||
	    !(S_ISLNK(sb.st_mode) || S_ISREG(sb.st_mode)))
		goto out; /* known, missing, or a directory (nothing below it is recorded here) */
	if (S_ISLNK(sb.st_mode)) {
		char t2[PATH_MAX];
		ssize_t m = readlink(next, t2, sizeof(t2));
		ret = m < 0 ? -errno : store_put_buf(st, GG_HASH_VALUE, t2, (size_t)m, &h);
	} else if ((ret = hash_file(next, &h, NULL)) == 0 && !store_has(st, &h)) {
		ret = store_put_file(st, next, &h, NULL); /* hashing alone reads; this copies */
	}
	if (ret < 0) {
		errbuf_set(err, errlen, "cannot store '%s' (target of '%s'): %s", next, path,
			   strerror(-ret));
		goto out;
	}
	if ((ret = thunk_add_input(out, next, &h, 0, sb.st_mode)) < 0)
		goto out;
	if ((ret = strset_add(have, out->inputs.v[out->inputs.n - 1].path)) < 0)
		goto out;
	if (S_ISLNK(sb.st_mode))
		ret = close_link(st, out, have, out->inputs.v[out->inputs.n - 1].path, depth + 1, err,
				 errlen);
out:
	free(next);
	return ret;
}

/* Add the regular files of the host directory `dir` (and one level below) as inputs. */
static int add_dir_files(struct store *st, struct thunk *out, struct strset *have,
			 const char *dir, int depth)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int ret = 0;

	if (!d)
		return 0; /* the host has no such locale: the command will say */
	while ((de = readdir(d)) && ret == 0) {
		char path[PATH_MAX];
		struct gg_hash h;
		struct stat sb;
		if (de->d_name[0] == '.' ||
		    snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path) ||
		    lstat(path, &sb) < 0 || strset_has(have, path))
			continue;
		if (S_ISDIR(sb.st_mode) && depth < 1) {
			ret = add_dir_files(st, out, have, path, depth + 1);
			continue;
		}
		if (!S_ISREG(sb.st_mode))
			continue;
		if ((ret = hash_file(path, &h, NULL)) < 0 ||
		    (!store_has(st, &h) && (ret = store_put_file(st, path, &h, NULL)) < 0) ||
		    (ret = thunk_add_input(out, path, &h, 0, sb.st_mode)) < 0)
			break;
		ret = strset_add(have, out->inputs.v[out->inputs.n - 1].path);
		ret = ret < 0 ? ret : 0;
	}
	closedir(d);
	return ret;
}

/*
 * The locale a setlocale(LC_ALL, "") of the command loads (LANG, LC_*): glibc reads
 * /usr/lib/locale/NAME/LC_* with its own internal opens, which no preload library
 * sees, so the recording never names them (the local engine binds them from the
 * host, local.c).  A worker has no host to take them from: they travel as inputs,
 * NAME as given and with its codeset normalised as glibc does ("C.UTF-8" ->
 * "C.utf8", _nl_normalize_codeset).  The worker points LOCPATH at R's copy.
 */
static int add_locales(struct store *st, struct thunk *out, struct strset *have)
{
	char dirs[2][PATH_MAX];
	int ret, n;

	for (size_t i = 0; i < out->env.n; i++) {
		n = mounts_locale_dirs(out->env.v[i], dirs);
		for (int k = 0; k < n; k++)
			if ((ret = add_dir_files(st, out, have, dirs[k], 0)) < 0)
				return ret;
	}
	return 0;
}

static int resolve_input(struct store *st, struct thunk_input *in, thunk_resolve_fn *resolve,
			 void *ctx)
{
	struct gg_hash v;
	int ret;

	if (in->hash.kind != GG_HASH_THUNK)
		return 0;
	if (resolve)
		ret = resolve(ctx, &in->hash, in->output, &v);
	else if (S_ISLNK(in->mode)) {
		char target[PATH_MAX];
		ssize_t n = readlink(in->path, target, sizeof(target));
		ret = n < 0 ? -errno : store_put_buf(st, GG_HASH_VALUE, target, (size_t)n, &v);
	} else {
		ret = store_put_file(st, in->path, &v, NULL); /* the producer's output, in the tree */
	}
	if (ret < 0)
		return ret;
	in->hash = v;
	in->output = 0;
	return 0;
}

int worker_portable(struct store *st, const struct thunk *th, thunk_resolve_fn *resolve,
		    void *ctx, struct thunk *out, char *err, size_t errlen)
{
	struct strset have = STRSET_INIT;
	size_t n0;
	int ret;

	thunk_init(out);
	out->umask = th->umask;
	out->local = th->local;
	out->pure = th->pure;
	if ((ret = thunk_set_exe(out, th->exe.path, &th->exe.hash, th->exe.output, th->exe.mode)) < 0 ||
	    (th->interp && (ret = thunk_set_interp(out, th->interp)) < 0) ||
	    (th->cwd && (ret = thunk_set_cwd(out, th->cwd)) < 0) ||
	    (ret = copy_strv(&out->argv, &th->argv)) < 0 || (ret = copy_strv(&out->env, &th->env)) < 0 ||
	    (ret = copy_strv(&out->missing, &th->missing)) < 0 ||
	    (ret = copy_strv(&out->notdir, &th->notdir)) < 0 ||
	    (ret = copy_strv(&out->outputs, &th->outputs)) < 0)
		goto out;
	for (size_t i = 0; i < th->inputs.n; i++) {
		const struct thunk_input *in = &th->inputs.v[i];
		if ((ret = thunk_add_input(out, in->path, &in->hash, in->output, in->mode)) < 0)
			goto out;
	}
	for (size_t i = 0; i < th->objects.n; i++) {
		const struct thunk_input *in = &th->objects.v[i];
		if ((ret = thunk_add_object(out, in->path, &in->hash, in->output, in->mode)) < 0)
			goto out;
	}
	for (size_t i = 0; i < th->listings.n; i++)
		if ((ret = thunk_add_listing(out, th->listings.v[i].path, &th->listings.v[i].hash)) < 0)
			goto out;
	/* references become values */
	if ((ret = resolve_input(st, &out->exe, resolve, ctx)) < 0)
		goto out_unresolved;
	for (size_t i = 0; i < out->inputs.n; i++)
		if ((ret = resolve_input(st, &out->inputs.v[i], resolve, ctx)) < 0)
			goto out_unresolved;
	for (size_t i = 0; i < out->objects.n; i++)
		if ((ret = resolve_input(st, &out->objects.v[i], resolve, ctx)) < 0)
			goto out_unresolved;
	/* every blob in the store, then the links' targets */
	if ((ret = ensure_blob(st, out->exe.path, out->exe.mode, &out->exe.hash, err, errlen)) < 0)
		goto out;
	for (size_t i = 0; i < out->objects.n; i++)
		if ((ret = ensure_blob(st, out->objects.v[i].path, out->objects.v[i].mode,
				       &out->objects.v[i].hash, err, errlen)) < 0)
			goto out;
	for (size_t i = 0; i < out->inputs.n; i++)
		if ((ret = ensure_blob(st, out->inputs.v[i].path, out->inputs.v[i].mode,
				       &out->inputs.v[i].hash, err, errlen)) < 0)
			goto out;
	if ((ret = strset_add(&have, out->exe.path)) < 0)
		goto out;
	for (size_t i = 0; i < out->objects.n; i++)
		if ((ret = strset_add(&have, out->objects.v[i].path)) < 0)
			goto out;
	for (size_t i = 0; i < out->inputs.n; i++)
		if ((ret = strset_add(&have, out->inputs.v[i].path)) < 0)
			goto out;
	if (S_ISLNK(out->exe.mode) &&
	    (ret = close_link(st, out, &have, out->exe.path, 0, err, errlen)) < 0)
		goto out;
	for (size_t i = 0; i < out->objects.n; i++)
		if (S_ISLNK(out->objects.v[i].mode) &&
		    (ret = close_link(st, out, &have, out->objects.v[i].path, 0, err, errlen)) < 0)
			goto out;
	if ((ret = add_locales(st, out, &have)) < 0) {
		errbuf_set(err, errlen, "cannot add the locale files: %s", strerror(-ret));
		goto out;
	}
	n0 = out->inputs.n; /* close_link appends: its own additions are followed there */
	for (size_t i = 0; i < n0; i++)
		if (S_ISLNK(out->inputs.v[i].mode) &&
		    (ret = close_link(st, out, &have, out->inputs.v[i].path, 0, err, errlen)) < 0)
			goto out;
	ret = thunk_canonicalize(out);
	if (ret < 0)
		errbuf_set(err, errlen, "cannot make the thunk portable: %s", strerror(-ret));
	goto out;
out_unresolved:
	errbuf_set(err, errlen, "cannot resolve a reference to another thunk's output: %s",
		   strerror(-ret));
out:
	strset_release(&have);
	if (ret < 0)
		thunk_release(out);
	return ret;
}

/* Put blob h of `from` into `to`: a hard link when they share a file system. */
static int export_blob(const struct store *from, struct store *to, const struct gg_hash *h,
		       uint64_t *bytes)
{
	char src[PATH_MAX], dst[PATH_MAX];
	struct gg_hash got;
	struct stat sb;
	int ret;

	if ((ret = store_path(from, h, src, sizeof(src))) < 0 ||
	    (ret = store_path(to, h, dst, sizeof(dst))) < 0)
		return ret;
	if (stat(src, &sb) < 0)
		return -errno;
	if (bytes)
		*bytes += (uint64_t)sb.st_size;
	if (store_has(to, h))
		return 0;
	*strrchr(dst, '/') = '\0';
	if ((ret = ggdir_mkdirs(dst)) < 0)
		return ret;
	dst[strlen(dst)] = '/';
	if (link(src, dst) == 0 || errno == EEXIST)
		return 0;
	if (h->kind == GG_HASH_THUNK) {
		char *buf = NULL;
		size_t len;
		if ((ret = store_get_buf(from, h, THUNK_MAX_ENCODED, &buf, &len)) == 0)
			ret = store_put_buf(to, GG_HASH_THUNK, buf, len, &got);
		free(buf);
	} else {
		ret = store_put_file(to, src, &got, NULL);
	}
	if (ret == 0 && !hash_equal(&got, h))
		ret = -EBADMSG;
	return ret;
}

int worker_export(const struct store *from, const struct gg_hash *h, const char *dir,
		  uint64_t *bytes)
{
	struct store to = STORE_INIT;
	struct thunk th;
	int ret;

	if (bytes)
		*bytes = 0;
	thunk_init(&th);
	if ((ret = store_init(&to, dir, STORE_CREATE)) < 0)
		return ret;
	if ((ret = store_load_thunk(from, h, &th)) < 0 || (ret = export_blob(from, &to, h, NULL)) < 0)
		goto out;
	if (th.exe.hash.kind == GG_HASH_VALUE && (ret = export_blob(from, &to, &th.exe.hash, bytes)) < 0)
		goto out;
	for (size_t i = 0; i < th.objects.n; i++)
		if (th.objects.v[i].hash.kind == GG_HASH_VALUE &&
		    (ret = export_blob(from, &to, &th.objects.v[i].hash, bytes)) < 0)
			goto out;
	for (size_t i = 0; i < th.inputs.n; i++)
		if (th.inputs.v[i].hash.kind == GG_HASH_VALUE &&
		    (ret = export_blob(from, &to, &th.inputs.v[i].hash, bytes)) < 0)
			goto out;
out:
	thunk_release(&th);
	store_release(&to);
	return ret;
}
