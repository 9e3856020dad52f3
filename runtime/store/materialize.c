/*
 * materialize.c - blobs into the tree, atomically (see materialize.h).
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/store/blobpack.h"
#include "runtime/store/ggdir.h"
#include "runtime/store/materialize.h"

/* write(2) all of buf[len] to fd: 0 or -errno. */
static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t k = write(fd, buf, len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		buf += k;
		len -= (size_t)k;
	}
	return 0;
}

/*
 * Copy `in` to `out` and check that the bytes copied are the blob `value` names: a
 * blob damaged in the store (a flipped byte, a truncation) must not reach the tree.
 * Returns 0, -EBADMSG on a mismatch, or -errno.  Hashing costs about what
 * copy_file_range(2) saved, and every blob gets read either way.
 */
static int copy_verified(int in, int out, const struct gg_hash *value)
{
	char buf[65536];
	struct hash_stream *hs = hash_stream_new(GG_HASH_VALUE);
	struct gg_hash got;
	int ret = 0;

	if (!hs)
		return -ENOMEM;
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			goto out_free;
		}
		if (n == 0)
			break;
		hash_stream_update(hs, buf, (size_t)n);
		if ((ret = write_all(out, buf, (size_t)n)) < 0)
			goto out_free;
	}
	hash_stream_final(hs, &got);
	if (!hash_equal(&got, value))
		ret = -EBADMSG;
out_free:
	hash_stream_free(hs);
	return ret;
}

/*
 * The bytes of a packed blob (verified when they were found: store_blob_bytes) at
 * `tmp`, as make_temp does from a file.
 */
static int make_temp_bytes(const void *bytes, size_t len, const char *tmp, uint32_t mode)
{
	int out, ret;

	if (S_ISLNK(mode)) {
		char target[PATH_MAX];
		if (len >= sizeof(target))
			return -EBADMSG;
		memcpy(target, bytes, len);
		target[len] = '\0';
		unlink(tmp);
		return symlink(target, tmp) < 0 ? -errno : 0;
	}
	if ((out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
		return -errno;
	ret = write_all(out, bytes, len);
	if (ret == 0 && fchmod(out, mode & 07777) < 0)
		ret = -errno;
	if (close(out) < 0 && ret == 0)
		ret = -errno;
	if (ret < 0)
		unlink(tmp);
	return ret;
}

/*
 * The bytes of blob `in` at `tmp`: a file of `mode` holding them, or a symbolic link
 * to them (S_IFLNK), checked against `value` on the way.  On failure nothing is left
 * at tmp.
 */
static int make_temp(int in, const char *tmp, const struct gg_hash *value, uint32_t mode)
{
	struct gg_hash got;
	int out, ret;

	if (S_ISLNK(mode)) {
		char target[PATH_MAX];
		ssize_t n = read(in, target, sizeof(target) - 1);
		if (n < 0)
			return -errno;
		target[n] = '\0';
		if (hash_buf(GG_HASH_VALUE, target, (size_t)n, &got) < 0 || !hash_equal(&got, value))
			return -EBADMSG; /* damaged in the store (or longer than a path) */
		unlink(tmp);
		return symlink(target, tmp) < 0 ? -errno : 0;
	}
	out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0)
		return -errno;
	/*
	 * A copy-on-write file system (btrfs, XFS) shares the blob's extents: the
	 * bytes are then only read, to check them.  Elsewhere FICLONE fails at once
	 * (EOPNOTSUPP, EXDEV) and they are copied.
	 */
	if (ioctl(out, FICLONE, in) == 0) {
		struct gg_hash got;

		ret = hash_fd_as(in, GG_HASH_VALUE, &got, NULL);
		if (ret == 0 && !hash_equal(&got, value))
			ret = -EBADMSG;
	} else {
		ret = copy_verified(in, out, value);
	}
	if (ret == 0 && fchmod(out, mode & 07777) < 0)
		ret = -errno;
	if (close(out) < 0 && ret == 0)
		ret = -errno; /* write-back errors show here (NFS) */
	if (ret < 0)
		unlink(tmp);
	return ret;
}

/*
 * Temporaries go to <ggdir>/tmp when that is on the file system of the path's
 * directory: a gg killed between writing and renaming then leaves nothing in the
 * tree (`gg cache gc` removes "mat-<pid>-<n>.tmp" of dead processes).
 */
static bool same_fs(const struct store *st, const char *dir)
{
	struct stat a, b;
	return st->dirfd >= 0 && fstatat(st->dirfd, "tmp", &a, 0) == 0 && stat(dir, &b) == 0 &&
	       a.st_dev == b.st_dev;
}

int materialize(struct store *st, struct statcache *sc, const char *path,
		const struct gg_hash *value, uint32_t mode, bool *changed)
{
	static unsigned long seq; /* names this process's temporaries in <ggdir>/tmp */
	char tmp[PATH_MAX + 64], *dir = NULL, *slash;
	struct gg_hash cur;
	uint32_t cur_mode = 0;
	int64_t was_ns = 0;
	bool in_store, was;
	const void *bytes = NULL; /* a packed blob's: no file to open */
	char *owned = NULL;
	size_t len = 0;
	int in = -1, ret;

	if (changed)
		*changed = false;
	/* asked before the lookup below, which replaces what the cache knew */
	was = statcache_last_mtime(sc, path, value, &was_ns);
	if (statcache_hash(sc, NULL, path, 0, &cur, &cur_mode) == 0 && hash_equal(&cur, value) &&
	    (cur_mode & S_IFMT) == (mode & S_IFMT) && (S_ISLNK(mode) || (cur_mode & 07777) == (mode & 07777)))
		return 0;
	if (snprintf(tmp, sizeof(tmp), "%s.gg-%d.tmp", path, (int)getpid()) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	dir = strdup(path);
	if (!dir)
		return -ENOMEM;
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if ((ret = ggdir_mkdirs(dir)) < 0)
			goto out;
	} else {
		strcpy(dir, "/");
	}
	if (!store_packed(st, value) ||
	    store_blob_bytes(st, value, BLOBPACK_MAX_BLOB, &bytes, &len, &owned) < 0) {
		bytes = NULL;
		if ((in = store_open(st, value)) < 0) { /* (also says why the bytes were not had) */
			ret = in;
			goto out;
		}
	}
	in_store = same_fs(st, dir);
	for (;;) {
		if (in_store &&
		    snprintf(tmp, sizeof(tmp), "%s/tmp/mat-%d-%lu.tmp", st->dir, (int)getpid(),
			     __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED)) >= (int)sizeof(tmp))
			in_store = false;
		if (!in_store)
			snprintf(tmp, sizeof(tmp), "%s.gg-%d.tmp", path, (int)getpid());
		if ((ret = bytes ? make_temp_bytes(bytes, len, tmp, mode)
				 : make_temp(in, tmp, value, mode)) < 0)
			goto out;
		if (rename(tmp, path) == 0)
			break;
		ret = -errno;
		unlink(tmp);
		if (ret != -EXDEV || !in_store)
			goto out;
		/* another mount of the same file system: next to the path, then */
		in_store = false;
		if (in >= 0 && lseek(in, 0, SEEK_SET) < 0) {
			ret = -errno;
			goto out;
		}
	}
	if (was) {
		/* the same bytes it held when the cache last saw it: their time too */
		struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT },
					  { .tv_sec = was_ns / 1000000000,
					    .tv_nsec = was_ns % 1000000000 } };

		utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW); /* best effort */
	}
	statcache_forget(sc, path);
	if (changed)
		*changed = true;
	ret = 0;
out:
	if (in >= 0)
		close(in);
	free(owned);
	free(dir);
	return ret;
}

/* "NAME.gg-<pid>.tmp" -> pid, or 0 when the name is not a materialize() temporary. */
static pid_t temp_pid(const char *name)
{
	const char *suffix = ".tmp", *p;
	size_t len = strlen(name), sl = strlen(suffix);
	long pid = 0;

	if (len <= sl || strcmp(name + len - sl, suffix))
		return 0;
	for (p = name + len - sl; p > name && p[-1] >= '0' && p[-1] <= '9'; p--)
		;
	if (p == name + len - sl || p - name < 4 || strncmp(p - 4, ".gg-", 4))
		return 0;
	for (; p < name + len - sl; p++) {
		pid = pid * 10 + (*p - '0');
		if (pid > 0x7fffffff)
			return 0;
	}
	return (pid_t)pid;
}

int materialize_sweep(const char *dir, unsigned *removed)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	unsigned n = 0;
	int ret = 0;

	if (removed)
		*removed = 0;
	if (!d)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
	while ((errno = 0, de = readdir(d))) {
		pid_t pid = temp_pid(de->d_name);
		/* kill(pid, 0): ESRCH says nobody has that pid now (EPERM: someone does) */
		if (!pid || (pid != getpid() && !(kill(pid, 0) < 0 && errno == ESRCH)))
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0)
			n++;
	}
	if (errno)
		ret = -errno;
	closedir(d);
	if (removed)
		*removed = n;
	return ret;
}
