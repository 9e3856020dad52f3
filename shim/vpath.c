/*
 * vpath.c - virtual <-> host path mapping under a root R (see vpath.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim/path.h"
#include "shim/vpath.h"

/* Passthrough prefixes: the path itself and everything under it stay host paths. */
static const char *const passthrough[] = {
	"/proc", "/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom",
	"/dev/tty", "/dev/fd", "/dev/stdin", "/dev/stdout", "/dev/stderr", "/dev/ptmx",
	"/dev/pts",
};

bool vpath_is_passthrough(const char *p)
{
	for (size_t i = 0; i < sizeof(passthrough) / sizeof(passthrough[0]); i++) {
		size_t n = strlen(passthrough[i]);
		if (strncmp(p, passthrough[i], n) == 0 && (p[n] == '/' || p[n] == '\0'))
			return true;
	}
	return false;
}

/* Copy a clean absolute path of length < VPATH_MAX; -EINVAL if relative. */
static int copy_abs(char *dst, const char *src)
{
	long n;

	if (!src || src[0] != '/')
		return -EINVAL;
	n = path_join(NULL, src, dst, VPATH_MAX);
	return n < 0 ? (int)n : 0;
}

int vpath_init(struct vpath *vp, const char *root, const char *cwd, const char *exe)
{
	int rc;

	rc = copy_abs(vp->root, root);
	if (rc)
		return rc;
	if (strcmp(vp->root, "/") == 0)
		return -EINVAL;
	vp->root_len = strlen(vp->root);
	rc = copy_abs(vp->cwd, cwd ? cwd : "/");
	if (rc)
		return rc;
	vp->exe[0] = '\0';
	if (exe && exe[0]) {
		size_t n = strlen(exe);
		if (n >= VPATH_MAX)
			return -ENAMETOOLONG;
		memcpy(vp->exe, exe, n + 1);
	}
	return 0;
}

/* readlinkat(2) without passing through the shim's own readlink wrappers. */
static long raw_readlink(const char *p, char *buf, size_t cap)
{
	long n = syscall(SYS_readlinkat, AT_FDCWD, p, buf, cap);
	return n < 0 ? -errno : n;
}

/*
 * A passthrough answer: the virtual prefix at out + root_len (a passthrough path)
 * joined with what is left unresolved, written to out[lim] as the host path.
 */
static long finish_passthrough(const struct vpath *vp, const char *left, char *out,
			       size_t lim)
{
	char tmp[VPATH_MAX];
	long n;

	while (*left == '/')
		left++;
	n = path_join(out + vp->root_len, left, tmp, sizeof(tmp));
	if (n < 0 || (size_t)n >= lim)
		return -ENAMETOOLONG;
	memcpy(out, tmp, (size_t)n + 1);
	return n;
}

/* The openat2 fast path works here (cleared, once for all, when the kernel refuses it). */
static volatile int fast_ok = 1;

/* True when `p` has a ".." component. */
static bool has_dotdot(const char *p)
{
	for (const char *s = p; (s = strstr(s, "..")); s += 2)
		if ((s == p || s[-1] == '/') && (s[2] == '/' || s[2] == '\0'))
			return true;
	return false;
}

/*
 * The fast path (vpath.h): out = R + the cleaned absolute virtual path when no
 * component is a symlink.  Returns the length, or -EAGAIN: walk instead.
 */
static long map_fast(const struct vpath *vp, const char *base, const char *path, int flags,
		     char *out, size_t lim)
{
	size_t n = strlen(path);
	bool nofollow = (flags & VPATH_NOFOLLOW) && path[n - 1] != '/' &&
			!(path[n - 1] == '.' && (n == 1 || path[n - 2] == '/'));
	struct open_how how = {
		.flags = O_PATH | O_CLOEXEC | (nofollow ? O_NOFOLLOW : 0),
		.resolve = RESOLVE_NO_SYMLINKS,
	};
	long len, fd;

	if (!fast_ok || has_dotdot(path))
		return -EAGAIN;
	len = path_join(path[0] == '/' ? NULL : base, path, out + vp->root_len,
			lim - vp->root_len);
	if (len < 0 || vpath_is_passthrough(out + vp->root_len))
		return -EAGAIN; /* the walk gives the error, or the passthrough */
	memcpy(out, vp->root, vp->root_len);
	if (len == 1) { /* "/": R itself */
		out[vp->root_len] = '\0';
		len = 0;
	}
	fd = syscall(SYS_openat2, AT_FDCWD, out, &how, sizeof(how));
	if (fd >= 0) {
		syscall(SYS_close, fd);
		return (long)vp->root_len + len;
	}
	switch (errno) {
	case ENOENT:
	case ENOTDIR:
	case EACCES: /* the walk stops at the same component: the rest is lexical */
		return (long)vp->root_len + len;
	case ENOSYS:
	case EPERM:
	case EINVAL:
	case E2BIG:
		fast_ok = 0;
		return -EAGAIN;
	default: /* ELOOP: a link on the way; EMFILE, ... */
		return -EAGAIN;
	}
}

/*
 * The walk: `out` holds R + the resolved virtual prefix (out[0..len)), `rest` the
 * components still to resolve.  One component at a time: "." is dropped, ".." pops
 * the prefix (never below R), a name is appended and, unless the walk already met a
 * missing directory, read as a link; a link's target replaces it (absolute: from the
 * virtual root) in front of the rest.
 */
long vpath_map(const struct vpath *vp, const char *base, const char *path, int flags,
	       char *out, size_t cap)
{
	char rest[VPATH_MAX], link[VPATH_MAX];
	size_t len, rlen, pos = 0, lim = cap < VPATH_MAX ? cap : VPATH_MAX;
	int links = 0, saved = errno;
	bool missing = false;
	long ret;

	if (!path)
		return -EINVAL;
	if (!path[0])
		return -ENOENT;
	rlen = strlen(path);
	if (rlen >= VPATH_MAX)
		return -ENAMETOOLONG;
	memcpy(rest, path, rlen + 1);
	if (vp->root_len >= lim)
		return -ENAMETOOLONG;
	if (!(flags & VPATH_WALK)) {
		const char *b = base ? base : vp->cwd;
		if (path[0] == '/' || b[0] == '/') {
			ret = map_fast(vp, b, path, flags, out, lim);
			if (ret != -EAGAIN)
				goto out_restore_errno;
		}
	}
	memcpy(out, vp->root, vp->root_len);
	len = vp->root_len;
	if (path[0] != '/') {
		const char *b = base ? base : vp->cwd;
		size_t bl = strlen(b);
		if (b[0] != '/')
			return -EINVAL;
		while (bl > 0 && b[bl - 1] == '/')
			bl--;
		if (len + bl >= lim)
			return -ENAMETOOLONG;
		memcpy(out + len, b, bl);
		len += bl;
		out[len] = '\0';
		/* a passthrough base (a dirfd on /proc/self/fd): no mapping at all */
		if (vpath_is_passthrough(out + vp->root_len)) {
			ret = finish_passthrough(vp, path, out, lim);
			goto out_restore_errno;
		}
	}
	out[len] = '\0';

	while (rest[pos]) {
		size_t start, clen;
		bool last, trailing;

		while (rest[pos] == '/')
			pos++;
		if (!rest[pos])
			break;
		start = pos;
		while (rest[pos] && rest[pos] != '/')
			pos++;
		clen = pos - start;
		{
			size_t k = pos;
			while (rest[k] == '/')
				k++;
			last = rest[k] == '\0';
			trailing = last && k > pos;
		}
		if (clen == 1 && rest[start] == '.')
			continue;
		if (clen == 2 && rest[start] == '.' && rest[start + 1] == '.') {
			while (len > vp->root_len && out[len - 1] != '/')
				len--;
			if (len > vp->root_len)
				len--;
			out[len] = '\0';
			continue;
		}
		if (len + 1 + clen >= lim) {
			ret = -ENAMETOOLONG;
			goto out_restore_errno;
		}
		out[len++] = '/';
		memcpy(out + len, rest + start, clen);
		len += clen;
		out[len] = '\0';
		if (vpath_is_passthrough(out + vp->root_len)) {
			/* the rest is the kernel's business: /proc/self/fd/3/.. and all */
			ret = finish_passthrough(vp, rest + pos, out, lim);
			goto out_restore_errno;
		}
		if (missing || (last && !trailing && (flags & VPATH_NOFOLLOW)))
			continue;

		long n = raw_readlink(out, link, sizeof(link) - 1);
		if (n < 0) {
			if (n == -ENOENT || n == -ENOTDIR)
				missing = true;
			continue;
		}
		if (++links > VPATH_MAX_LINKS) {
			ret = -ELOOP;
			goto out_restore_errno;
		}
		/* target + "/" + what is left becomes the new rest */
		size_t left = strlen(rest + pos);
		if ((size_t)n + 1 + left >= sizeof(link)) {
			ret = -ENAMETOOLONG;
			goto out_restore_errno;
		}
		link[n] = '/';
		memcpy(link + n + 1, rest + pos, left + 1);
		memcpy(rest, link, (size_t)n + 1 + left + 1);
		pos = 0;
		if (link[0] == '/') {
			len = vp->root_len;
		} else {
			while (len > vp->root_len && out[len - 1] != '/')
				len--;
			if (len > vp->root_len)
				len--;
		}
		out[len] = '\0';
	}
	ret = (long)len;

out_restore_errno:
	errno = saved;
	return ret;
}

long vpath_unmap(const struct vpath *vp, const char *host, char *out, size_t cap)
{
	const char *v = host;
	size_t n;

	if (strncmp(host, vp->root, vp->root_len) == 0 &&
	    (host[vp->root_len] == '/' || host[vp->root_len] == '\0'))
		v = host[vp->root_len] ? host + vp->root_len : "/";
	n = strlen(v);
	if (n >= cap)
		return -ENAMETOOLONG;
	memmove(out, v, n + 1);
	return (long)n;
}

/* True when p is "/proc/<pid>/exe" for our own pid, "/proc/self/exe", "/proc/thread-self/exe". */
static bool is_self_exe(const char *p)
{
	const char *q;
	long pid = 0;

	if (strncmp(p, "/proc/", 6) != 0)
		return false;
	q = p + 6;
	if (strncmp(q, "self/", 5) == 0) {
		q += 5;
	} else if (strncmp(q, "thread-self/", 12) == 0) {
		q += 12;
	} else {
		if (*q < '0' || *q > '9')
			return false;
		while (*q >= '0' && *q <= '9')
			pid = pid * 10 + (*q++ - '0');
		if (*q++ != '/' || pid != syscall(SYS_getpid))
			return false;
	}
	return strcmp(q, "exe") == 0;
}

long vpath_readlink_self(const struct vpath *vp, const char *path, char *out, size_t cap)
{
	size_t n;

	if (!vp->exe[0] || !is_self_exe(path))
		return -ENOENT;
	n = strlen(vp->exe);
	if (n > cap)
		n = cap;
	memcpy(out, vp->exe, n);
	return (long)n;
}

int vpath_set_cwd(struct vpath *vp, const char *host)
{
	char tmp[VPATH_MAX];
	long n = vpath_unmap(vp, host, tmp, sizeof(tmp));

	if (n < 0)
		return (int)n;
	memcpy(vp->cwd, tmp, (size_t)n + 1);
	return 0;
}
