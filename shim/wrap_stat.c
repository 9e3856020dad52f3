/*
 * wrap_stat.c - existence checks (the stat family, access, readlink, realpath) and
 * directory listings (opendir, fdopendir, scandir).  A failed check is as much a
 * dependency as a successful one: a header found in the 2nd include directory depends
 * on its absence from the 1st.  Under GG_VROOT the answers that carry paths
 * (readlink, realpath) are computed under R and mapped back (SHIM_WRAP_V).
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim/shim.h"
#include "shim/vpath.h"

#define FTYPE(ok, m) ((ok) ? (unsigned)(((m) & S_IFMT) >> 12) : 0u)
#define NOFOLLOW AT_SYMLINK_NOFOLLOW
#define VNF VPATH_NOFOLLOW
/* The *at calls' AT_SYMLINK_NOFOLLOW as a mapping flag. */
#define AT_VFL(fl) (((fl) & AT_SYMLINK_NOFOLLOW) ? VPATH_NOFOLLOW : 0)

/* The checks most images make (a shell's PATH search, a compiler's includes) in the
 * shim's hot text (shim.ld), with the code they call. */
SHIM_HOT int stat(const char *p, struct stat *st);
SHIM_HOT int fstatat(int d, const char *p, struct stat *st, int fl);
SHIM_HOT int access(const char *p, int mode);
SHIM_HOT int eaccess(const char *p, int mode);
SHIM_HOT int faccessat(int d, const char *p, int mode, int fl);

/* fstatat(fd, "", AT_EMPTY_PATH) is an fstat: not an existence check. */
#define IS_CHECK(p) ((p) && (p)[0])

SHIM_WRAP_P(int, stat, (const char *p, struct stat *st), (p, st), -1, AT_FDCWD, p, 0,
	    rec_stat(GG_FN_stat, AT_FDCWD, p, 0, ret, c_.err, FTYPE(!ret, st->st_mode), ""))
SHIM_WRAP_P(int, stat64, (const char *p, struct stat64 *st), (p, st), -1, AT_FDCWD, p, 0,
	    rec_stat(GG_FN_stat64, AT_FDCWD, p, 0, ret, c_.err, FTYPE(!ret, st->st_mode), ""))
SHIM_WRAP_P(int, lstat, (const char *p, struct stat *st), (p, st), -1, AT_FDCWD, p, VNF,
	    rec_stat(GG_FN_lstat, AT_FDCWD, p, NOFOLLOW, ret, c_.err, FTYPE(!ret, st->st_mode),
		     ""))
SHIM_WRAP_P(int, lstat64, (const char *p, struct stat64 *st), (p, st), -1, AT_FDCWD, p, VNF,
	    rec_stat(GG_FN_lstat64, AT_FDCWD, p, NOFOLLOW, ret, c_.err,
		     FTYPE(!ret, st->st_mode), ""))
SHIM_WRAP_P(int, fstatat, (int d, const char *p, struct stat *st, int fl), (d, p, st, fl), -1,
	    d, p, AT_VFL(fl),
	    if (IS_CHECK(p)) rec_stat(GG_FN_fstatat, d, p, fl, ret, c_.err,
				      FTYPE(!ret, st->st_mode), ""))
SHIM_WRAP_P(int, fstatat64, (int d, const char *p, struct stat64 *st, int fl), (d, p, st, fl),
	    -1, d, p, AT_VFL(fl),
	    if (IS_CHECK(p)) rec_stat(GG_FN_fstatat64, d, p, fl, ret, c_.err,
				      FTYPE(!ret, st->st_mode), ""))
SHIM_WRAP_P(int, statx, (int d, const char *p, int fl, unsigned mask, struct statx *sx),
	    (d, p, fl, mask, sx), -1, d, p, AT_VFL(fl),
	    if (IS_CHECK(p)) rec_stat(GG_FN_statx, d, p, fl, ret, c_.err,
				      FTYPE(!ret && (sx->stx_mask & STATX_TYPE), sx->stx_mode),
				      ""))

/* The pre-2.33 glibc entry points, still called by binaries built against them. */
int __xstat(int ver, const char *p, struct stat *st);
int __xstat64(int ver, const char *p, struct stat64 *st);
int __lxstat(int ver, const char *p, struct stat *st);
int __lxstat64(int ver, const char *p, struct stat64 *st);
int __fxstatat(int ver, int d, const char *p, struct stat *st, int fl);
int __fxstatat64(int ver, int d, const char *p, struct stat64 *st, int fl);

SHIM_WRAP_P(int, __xstat, (int v, const char *p, struct stat *st), (v, p, st), -1, AT_FDCWD, p,
	    0, rec_stat(GG_FN___xstat, AT_FDCWD, p, 0, ret, c_.err, FTYPE(!ret, st->st_mode), ""))
SHIM_WRAP_P(int, __xstat64, (int v, const char *p, struct stat64 *st), (v, p, st), -1, AT_FDCWD,
	    p, 0,
	    rec_stat(GG_FN___xstat64, AT_FDCWD, p, 0, ret, c_.err, FTYPE(!ret, st->st_mode), ""))
SHIM_WRAP_P(int, __lxstat, (int v, const char *p, struct stat *st), (v, p, st), -1, AT_FDCWD, p,
	    VNF, rec_stat(GG_FN___lxstat, AT_FDCWD, p, NOFOLLOW, ret, c_.err,
			  FTYPE(!ret, st->st_mode), ""))
SHIM_WRAP_P(int, __lxstat64, (int v, const char *p, struct stat64 *st), (v, p, st), -1,
	    AT_FDCWD, p, VNF, rec_stat(GG_FN___lxstat64, AT_FDCWD, p, NOFOLLOW, ret, c_.err,
				       FTYPE(!ret, st->st_mode), ""))
SHIM_WRAP_P(int, __fxstatat, (int v, int d, const char *p, struct stat *st, int fl),
	    (v, d, p, st, fl), -1, d, p, AT_VFL(fl),
	    if (IS_CHECK(p)) rec_stat(GG_FN___fxstatat, d, p, fl, ret, c_.err,
				      FTYPE(!ret, st->st_mode), ""))
SHIM_WRAP_P(int, __fxstatat64, (int v, int d, const char *p, struct stat64 *st, int fl),
	    (v, d, p, st, fl), -1, d, p, AT_VFL(fl),
	    if (IS_CHECK(p)) rec_stat(GG_FN___fxstatat64, d, p, fl, ret, c_.err,
				      FTYPE(!ret, st->st_mode), ""))

SHIM_WRAP_P(int, access, (const char *p, int mode), (p, mode), -1, AT_FDCWD, p, 0,
	    rec_stat(GG_FN_access, AT_FDCWD, p, mode, ret, c_.err, 0, ""))
SHIM_WRAP_P(int, faccessat, (int d, const char *p, int mode, int fl), (d, p, mode, fl), -1, d,
	    p, AT_VFL(fl), rec_stat(GG_FN_faccessat, d, p, mode, ret, c_.err, 0, ""))
SHIM_WRAP_P(int, eaccess, (const char *p, int mode), (p, mode), -1, AT_FDCWD, p, 0,
	    rec_stat(GG_FN_eaccess, AT_FDCWD, p, mode, ret, c_.err, 0, ""))
SHIM_WRAP_P(int, euidaccess, (const char *p, int mode), (p, mode), -1, AT_FDCWD, p, 0,
	    rec_stat(GG_FN_euidaccess, AT_FDCWD, p, mode, ret, c_.err, 0, ""))

/* readlink's buffer is not NUL-terminated: copy what it returned. */
static void rec_readlink(int fn, int d, const char *p, ssize_t ret, int err, const char *buf)
{
	char target[SHIM_PATH_CAP];
	size_t n = ret > 0 ? (size_t)ret : 0;
	if (n >= sizeof(target))
		n = sizeof(target) - 1;
	memcpy(target, buf, n);
	target[n] = '\0';
	rec_stat(fn, d, p, 0, ret < 0 ? -1 : ret, err, ret >= 0 ? (S_IFLNK >> 12) : 0, target);
}

/*
 * A wrapper whose answer carries paths: under GG_VROOT `vcall` computes it (mapping
 * the arguments and the answer back) instead of the real call.
 */
#define SHIM_WRAP_V(rtype, name, params, args, vcall, record)                     \
	DECL_REAL(name);                                                          \
	GG_EXPORT rtype name params                                               \
	{                                                                         \
		struct shim_call c_;                                              \
		rtype ret;                                                        \
		if (!shim_enter_v(&c_))                                           \
			return REAL(name) args;                                   \
		if (__builtin_expect(c_.map, 0))                                  \
			ret = vcall;                                              \
		else                                                              \
			ret = REAL(name) args;                                    \
		c_.err = errno;                                                   \
		if (c_.active) {                                                  \
			record;                                                   \
		}                                                                 \
		shim_leave(&c_);                                                  \
		return ret;                                                       \
	}

/*
 * readlink under GG_VROOT: the link is looked up under R without following it.
 * /proc/self/exe answers the virtual executable (GG_VEXE: the kernel would name R's
 * loader); a passthrough link (/proc/self/cwd, /proc/self/fd/N) answers the kernel's
 * host path mapped back; a link under R answers its target as recorded.
 */
static ssize_t vreadlink(int d, const char *p, char *buf, size_t sz)
{
	char *h = shim_vbuf(), *t = h ? h + SHIM_VPATH_CAP : NULL;
	const char *m;
	long n;
	int e;

	if (p && p[0] == '/' && (n = vpath_readlink_self(&shim_vp, p, buf, sz)) >= 0)
		return n;
	e = h ? shim_vmap(d, p, VPATH_NOFOLLOW, h, &m) : -ENOMEM;
	if (e < 0) {
		errno = -e;
		return -1;
	}
	n = syscall(SYS_readlinkat, d, m, t, SHIM_VPATH_CAP - 1);
	if (n < 0)
		return -1;
	t[n] = '\0';
	if (m == h && shim_vname(h) == h && t[0] == '/') {
		shim_vunmap(t);
		n = (long)strlen(t);
	}
	if ((size_t)n > sz)
		n = (long)sz;
	memcpy(buf, t, (size_t)n);
	return n;
}

SHIM_WRAP_V(ssize_t, readlink, (const char *p, char *buf, size_t sz), (p, buf, sz),
	    vreadlink(AT_FDCWD, p, buf, sz),
	    rec_readlink(GG_FN_readlink, AT_FDCWD, p, ret, c_.err, buf))
SHIM_WRAP_V(ssize_t, readlinkat, (int d, const char *p, char *buf, size_t sz), (d, p, buf, sz),
	    vreadlink(d, p, buf, sz), rec_readlink(GG_FN_readlinkat, d, p, ret, c_.err, buf))

/*
 * realpath under GG_VROOT: the path resolved under R (every link followed there), the
 * real call on that (it checks existence; no link is left to follow) and its answer
 * mapped back, in the caller's buffer or glibc's malloc'd one.  /proc/self/exe is
 * the virtual executable, as for readlink.
 */
#define VREALPATH(call)                                                            \
	({                                                                         \
		char *h_ = shim_vbuf(), *s_ = h_ ? h_ + SHIM_VPATH_CAP : NULL;      \
		const char *m_, *const p_ = p;                                     \
		char *r_ = NULL;                                                   \
		long k_ = p && s_ ? vpath_readlink_self(&shim_vp, p, s_, SHIM_VPATH_CAP - 1) \
				  : -1;                                            \
		int e_;                                                            \
		if (k_ >= 0) {                                                     \
			s_[k_] = '\0';                                             \
			p = s_;                                                    \
		}                                                                  \
		e_ = !h_ ? -ENOMEM : p ? shim_vmap(AT_FDCWD, p, 0, h_, &m_) : -EINVAL; \
		if (e_ < 0) {                                                      \
			errno = -e_;                                               \
		} else {                                                           \
			p = m_;                                                    \
			r_ = call;                                                 \
			if (r_)                                                    \
				shim_vunmap(r_);                                   \
		}                                                                  \
		p = p_;                                                            \
		r_;                                                                \
	})

char *__realpath_chk(const char *p, char *resolved, size_t len);
SHIM_WRAP_V(char *, realpath, (const char *p, char *resolved), (p, resolved),
	    VREALPATH(REAL(realpath)(p, resolved)),
	    rec_stat(GG_FN_realpath, AT_FDCWD, p, 0, ret ? 0 : -1, c_.err, 0, ret))
SHIM_WRAP_V(char *, __realpath_chk, (const char *p, char *resolved, size_t len),
	    (p, resolved, len), VREALPATH(REAL(__realpath_chk)(p, resolved, len)),
	    rec_stat(GG_FN___realpath_chk, AT_FDCWD, p, 0, ret ? 0 : -1, c_.err, 0, ret))
SHIM_WRAP_V(char *, canonicalize_file_name, (const char *p), (p),
	    VREALPATH(REAL(canonicalize_file_name)(p)),
	    rec_stat(GG_FN_canonicalize_file_name, AT_FDCWD, p, 0, ret ? 0 : -1, c_.err, 0, ret))

/* statvfs answers for the file system of a path: an existence check too. */
SHIM_WRAP_P(int, statvfs, (const char *p, struct statvfs *b), (p, b), -1, AT_FDCWD, p, 0,
	    rec_stat(GG_FN_statvfs, AT_FDCWD, p, 0, ret, c_.err, 0, ""))

/* Directory listings: the names are read separately when the directory is opened. */
typedef int (*scan_filter)(const struct dirent *);
typedef int (*scan_cmp)(const struct dirent **, const struct dirent **);
typedef int (*scan_filter64)(const struct dirent64 *);
typedef int (*scan_cmp64)(const struct dirent64 **, const struct dirent64 **);

SHIM_WRAP_P(DIR *, opendir, (const char *p), (p), NULL, AT_FDCWD, p, 0,
	    rec_list(GG_FN_opendir, AT_FDCWD, p, -1, ret ? 0 : -1, c_.err))
SHIM_WRAP(DIR *, fdopendir, (int fd), (fd),
	  rec_list(GG_FN_fdopendir, AT_FDCWD, NULL, fd, ret ? 0 : -1, c_.err))
SHIM_WRAP_P(int, scandir, (const char *p, struct dirent ***nl, scan_filter f, scan_cmp c),
	    (p, nl, f, c), -1, AT_FDCWD, p, 0,
	    rec_list(GG_FN_scandir, AT_FDCWD, p, -1, ret < 0 ? -1 : 0, c_.err))
SHIM_WRAP_P(int, scandir64,
	    (const char *p, struct dirent64 ***nl, scan_filter64 f, scan_cmp64 c), (p, nl, f, c),
	    -1, AT_FDCWD, p, 0,
	    rec_list(GG_FN_scandir64, AT_FDCWD, p, -1, ret < 0 ? -1 : 0, c_.err))
SHIM_WRAP_P(int, scandirat,
	    (int d, const char *p, struct dirent ***nl, scan_filter f, scan_cmp c),
	    (d, p, nl, f, c), -1, d, p, 0,
	    rec_list(GG_FN_scandirat, d, p, -1, ret < 0 ? -1 : 0, c_.err))
