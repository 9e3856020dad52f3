/*
 * wrap_vroot.c - entry points wrapped for GG_VROOT only: the calls that take a path
 * but are not recorded (times, owners, special files, file-system statistics,
 * extended attributes), and getcwd, whose answer is mapped back.  With GG_VROOT
 * unset they pass straight through (the recording surface is wrap_*.c's).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/time.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <utime.h>

#include "shim/shim.h"
#include "shim/vpath.h"

#define VNF VPATH_NOFOLLOW
#define AT_VFL(fl) (((fl) & AT_SYMLINK_NOFOLLOW) ? VPATH_NOFOLLOW : 0)
#define NOREC (void)0

SHIM_WRAP_P(int, utime, (const char *p, const struct utimbuf *t), (p, t), -1, AT_FDCWD, p, 0,
	    NOREC)
SHIM_WRAP_P(int, utimes, (const char *p, const struct timeval t[2]), (p, t), -1, AT_FDCWD, p, 0,
	    NOREC)
SHIM_WRAP_P(int, lutimes, (const char *p, const struct timeval t[2]), (p, t), -1, AT_FDCWD, p,
	    VNF, NOREC)
SHIM_WRAP_P(int, futimesat, (int d, const char *p, const struct timeval t[2]), (d, p, t), -1, d,
	    p, 0, NOREC)
SHIM_WRAP_P(int, utimensat, (int d, const char *p, const struct timespec t[2], int fl),
	    (d, p, t, fl), -1, d, p, AT_VFL(fl), NOREC)
SHIM_WRAP_P(int, chown, (const char *p, uid_t u, gid_t g), (p, u, g), -1, AT_FDCWD, p, 0, NOREC)
SHIM_WRAP_P(int, lchown, (const char *p, uid_t u, gid_t g), (p, u, g), -1, AT_FDCWD, p, VNF,
	    NOREC)
SHIM_WRAP_P(int, fchownat, (int d, const char *p, uid_t u, gid_t g, int fl), (d, p, u, g, fl),
	    -1, d, p, AT_VFL(fl), NOREC)
SHIM_WRAP_P(int, mkfifo, (const char *p, mode_t m), (p, m), -1, AT_FDCWD, p, VNF, NOREC)
SHIM_WRAP_P(int, mkfifoat, (int d, const char *p, mode_t m), (d, p, m), -1, d, p, VNF, NOREC)
SHIM_WRAP_P(int, mknod, (const char *p, mode_t m, dev_t dev), (p, m, dev), -1, AT_FDCWD, p, VNF,
	    NOREC)
SHIM_WRAP_P(int, mknodat, (int d, const char *p, mode_t m, dev_t dev), (d, p, m, dev), -1, d, p,
	    VNF, NOREC)
SHIM_WRAP_P(int, statfs, (const char *p, struct statfs *b), (p, b), -1, AT_FDCWD, p, 0, NOREC)
SHIM_WRAP_P(long, pathconf, (const char *p, int name), (p, name), -1, AT_FDCWD, p, 0, NOREC)
SHIM_WRAP_P(ssize_t, getxattr, (const char *p, const char *n, void *v, size_t sz),
	    (p, n, v, sz), -1, AT_FDCWD, p, 0, NOREC)
SHIM_WRAP_P(ssize_t, lgetxattr, (const char *p, const char *n, void *v, size_t sz),
	    (p, n, v, sz), -1, AT_FDCWD, p, VNF, NOREC)
SHIM_WRAP_P(int, setxattr, (const char *p, const char *n, const void *v, size_t sz, int fl),
	    (p, n, v, sz, fl), -1, AT_FDCWD, p, 0, NOREC)
SHIM_WRAP_P(int, lsetxattr, (const char *p, const char *n, const void *v, size_t sz, int fl),
	    (p, n, v, sz, fl), -1, AT_FDCWD, p, VNF, NOREC)
SHIM_WRAP_P(ssize_t, listxattr, (const char *p, char *l, size_t sz), (p, l, sz), -1, AT_FDCWD, p,
	    0, NOREC)
SHIM_WRAP_P(ssize_t, llistxattr, (const char *p, char *l, size_t sz), (p, l, sz), -1, AT_FDCWD,
	    p, VNF, NOREC)
SHIM_WRAP_P(int, removexattr, (const char *p, const char *n), (p, n), -1, AT_FDCWD, p, 0, NOREC)
SHIM_WRAP_P(int, lremovexattr, (const char *p, const char *n), (p, n), -1, AT_FDCWD, p, VNF,
	    NOREC)

/*
 * getcwd answers the virtual cwd: the kernel's host cwd with R taken off, in the
 * caller's buffer (ERANGE if it does not fit) or in glibc's malloc'd one.
 */
DECL_REAL(getcwd);
static char *vgetcwd(char *buf, size_t size)
{
	char t[SHIM_VPATH_CAP];
	size_t n;
	char *r;

	if (!buf) {
		r = REAL(getcwd)(NULL, size);
		if (r)
			shim_vunmap(r);
		return r;
	}
	if (!size) {
		errno = EINVAL;
		return NULL;
	}
	if (!REAL(getcwd)(t, sizeof(t)))
		return NULL;
	shim_vunmap(t);
	n = strlen(t) + 1;
	if (n > size) {
		errno = ERANGE;
		return NULL;
	}
	memcpy(buf, t, n);
	return buf;
}

GG_EXPORT char *getcwd(char *buf, size_t size)
{
	struct shim_call c;
	char *ret;

	if (__builtin_expect(!shim_vr, 1) || !shim_enter_v(&c))
		return REAL(getcwd)(buf, size);
	ret = vgetcwd(buf, size);
	c.err = ret ? c.saved_errno : errno;
	shim_leave(&c);
	return ret;
}

/* glibc's trusts $PWD after a stat on the host: the virtual cwd instead. */
DECL_REAL(get_current_dir_name);
GG_EXPORT char *get_current_dir_name(void)
{
	struct shim_call c;
	char *ret;

	if (__builtin_expect(!shim_vr, 1) || !shim_enter_v(&c))
		return REAL(get_current_dir_name)();
	ret = vgetcwd(NULL, 0);
	c.err = ret ? c.saved_errno : errno;
	shim_leave(&c);
	return ret;
}
