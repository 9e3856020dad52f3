/*
 * materialize.c - blobs into the tree, atomically (see materialize.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ggdir.h"
#include "materialize.h"

static int copy_fd(int in, int out)
{
	char buf[65536];
	for (;;) {
		ssize_t n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
		if (n > 0)
			continue;
		if (n == 0)
			return 0;
		if (errno != EXDEV && errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP)
			return -errno;
		break;
	}
	for (;;) { /* fall back to read/write */
		ssize_t n = read(in, buf, sizeof(buf)), w = 0;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		while (w < n) {
			ssize_t k = write(out, buf + w, (size_t)(n - w));
			if (k < 0)
				return -errno;
			w += k;
		}
	}
}

int materialize(struct store *st, struct statcache *sc, const char *path,
		const struct gg_hash *value, uint32_t mode, bool *changed)
{
	char tmp[PATH_MAX + 32], *dir = NULL, *slash;
	struct gg_hash cur;
	uint32_t cur_mode = 0;
	int in = -1, out = -1, ret;

	if (changed)
		*changed = false;
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
	}
	in = store_open(st, value);
	if (in < 0) {
		ret = in;
		goto out;
	}
	if (S_ISLNK(mode)) {
		char target[PATH_MAX];
		ssize_t n = read(in, target, sizeof(target) - 1);
		if (n < 0) {
			ret = -errno;
			goto out;
		}
		target[n] = '\0';
		unlink(tmp);
		if (symlink(target, tmp) < 0) {
			ret = -errno;
			goto out;
		}
	} else {
		out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (out < 0) {
			ret = -errno;
			goto out;
		}
		if ((ret = copy_fd(in, out)) < 0 || (fchmod(out, mode & 07777) < 0 && (ret = -errno)))
			goto out_unlink;
		if (close(out) < 0) {
			out = -1;
			ret = -errno;
			goto out_unlink;
		}
		out = -1;
	}
	if (rename(tmp, path) < 0) {
		ret = -errno;
		goto out_unlink;
	}
	statcache_forget(sc, path);
	if (changed)
		*changed = true;
	ret = 0;
	goto out;
out_unlink:
	if (out >= 0)
		close(out);
	out = -1;
	unlink(tmp);
out:
	if (in >= 0)
		close(in);
	free(dir);
	return ret;
}
