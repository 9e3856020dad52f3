/*
 * wrap_stat.c - existence checks (the stat family, access, readlink, realpath) and
 * directory listings (opendir, fdopendir, scandir).  A failed check is as much a
 * dependency as a successful one: a header found in the 2nd include directory depends
 * on its absence from the 1st.
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "shim/shim.h"

#define FTYPE(ok, m) ((ok) ? (unsigned)(((m) & S_IFMT) >> 12) : 0u)
#define NOFOLLOW AT_SYMLINK_NOFOLLOW

/* fstatat(fd, "", AT_EMPTY_PATH) is an fstat: not an existence check. */
#define IS_CHECK(p) ((p) && (p)[0])

SHIM_WRAP(int, stat, (const char *p, struct stat *st), (p, st),
	  rec_stat(GG_FN_stat, AT_FDCWD, p, 0, ret, c_.err, FTYPE(!ret, st->st_mode), ""))
SHIM_WRAP(int, stat64, (const char *p, struct stat64 *st), (p, st),
	  rec_stat(GG_FN_stat64, AT_FDCWD, p, 0, ret, c_.err, FTYPE(!ret, st->st_mode), ""))
SHIM_WRAP(int, lstat, (const char *p, struct stat *st), (p, st),
	  rec_stat(GG_FN_lstat, AT_FDCWD, p, NOFOLLOW, ret, c_.err, FTYPE(!ret, st->st_mode), ""))
SHIM_WRAP(int, lstat64, (const char *p, struct stat64 *st), (p, st),
	  rec_stat(GG_FN_lstat64, AT_FDCWD, p, NOFOLLOW, ret, c_.err, FTYPE(!ret, st->st_mode), ""))
SHIM_WRAP(int, fstatat, (int d, const char *p, struct stat *st, int fl), (d, p, st, fl),
	  if (IS_CHECK(p)) rec_stat(GG_FN_fstatat, d, p, fl, ret, c_.err,
				    FTYPE(!ret, st->st_mode), ""))
SHIM_WRAP(int, fstatat64, (int d, const char *p, struct stat64 *st, int fl), (d, p, st, fl),
	  if (IS_CHECK(p)) rec_stat(GG_FN_fstatat64, d, p, fl, ret, c_.err,
				    FTYPE(!ret, st->st_mode), ""))
SHIM_WRAP(int, statx, (int d, const char *p, int fl, unsigned mask, struct statx *sx),
	  (d, p, fl, mask, sx),
	  if (IS_CHECK(p)) rec_stat(GG_FN_statx, d, p, fl, ret, c_.err,
				    FTYPE(!ret && (sx->stx_mask & STATX_TYPE), sx->stx_mode), ""))

/* The pre-2.33 glibc entry points, still called by binaries built against them. */
int __xstat(int ver, const char *p, struct stat *st);
int __xstat64(int ver, const char *p, struct stat64 *st);
int __lxstat(int ver, const char *p, struct stat *st);
int __lxstat64(int ver, const char *p, struct stat64 *st);
int __fxstatat(int ver, int d, const char *p, struct stat *st, int fl);
int __fxstatat64(int ver, int d, const char *p, struct stat64 *st, int fl);

SHIM_WRAP(int, __xstat, (int v, const char *p, struct stat *st), (v, p, st),
	  rec_stat(GG_FN___xstat, AT_FDCWD, p, 0, ret, c_.err, FTYPE(!ret, st->st_mode), ""))
SHIM_WRAP(int, __xstat64, (int v, const char *p, struct stat64 *st), (v, p, st),
	  rec_stat(GG_FN___xstat64, AT_FDCWD, p, 0, ret, c_.err, FTYPE(!ret, st->st_mode), ""))
SHIM_WRAP(int, __lxstat, (int v, const char *p, struct stat *st), (v, p, st),
	  rec_stat(GG_FN___lxstat, AT_FDCWD, p, NOFOLLOW, ret, c_.err, FTYPE(!ret, st->st_mode), ""))
SHIM_WRAP(int, __lxstat64, (int v, const char *p, struct stat64 *st), (v, p, st),
	  rec_stat(GG_FN___lxstat64, AT_FDCWD, p, NOFOLLOW, ret, c_.err,
		   FTYPE(!ret, st->st_mode), ""))
SHIM_WRAP(int, __fxstatat, (int v, int d, const char *p, struct stat *st, int fl),
	  (v, d, p, st, fl),
	  if (IS_CHECK(p)) rec_stat(GG_FN___fxstatat, d, p, fl, ret, c_.err,
				    FTYPE(!ret, st->st_mode), ""))
SHIM_WRAP(int, __fxstatat64, (int v, int d, const char *p, struct stat64 *st, int fl),
	  (v, d, p, st, fl),
	  if (IS_CHECK(p)) rec_stat(GG_FN___fxstatat64, d, p, fl, ret, c_.err,
				    FTYPE(!ret, st->st_mode), ""))

SHIM_WRAP(int, access, (const char *p, int mode), (p, mode),
	  rec_stat(GG_FN_access, AT_FDCWD, p, mode, ret, c_.err, 0, ""))
SHIM_WRAP(int, faccessat, (int d, const char *p, int mode, int fl), (d, p, mode, fl),
	  rec_stat(GG_FN_faccessat, d, p, mode, ret, c_.err, 0, ""))
SHIM_WRAP(int, eaccess, (const char *p, int mode), (p, mode),
	  rec_stat(GG_FN_eaccess, AT_FDCWD, p, mode, ret, c_.err, 0, ""))
SHIM_WRAP(int, euidaccess, (const char *p, int mode), (p, mode),
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

SHIM_WRAP(ssize_t, readlink, (const char *p, char *buf, size_t sz), (p, buf, sz),
	  rec_readlink(GG_FN_readlink, AT_FDCWD, p, ret, c_.err, buf))
SHIM_WRAP(ssize_t, readlinkat, (int d, const char *p, char *buf, size_t sz), (d, p, buf, sz),
	  rec_readlink(GG_FN_readlinkat, d, p, ret, c_.err, buf))

char *__realpath_chk(const char *p, char *resolved, size_t len);
SHIM_WRAP(char *, realpath, (const char *p, char *resolved), (p, resolved),
	  rec_stat(GG_FN_realpath, AT_FDCWD, p, 0, ret ? 0 : -1, c_.err, 0, ret))
SHIM_WRAP(char *, __realpath_chk, (const char *p, char *resolved, size_t len),
	  (p, resolved, len),
	  rec_stat(GG_FN___realpath_chk, AT_FDCWD, p, 0, ret ? 0 : -1, c_.err, 0, ret))
SHIM_WRAP(char *, canonicalize_file_name, (const char *p), (p),
	  rec_stat(GG_FN_canonicalize_file_name, AT_FDCWD, p, 0, ret ? 0 : -1, c_.err, 0, ret))

/* statvfs answers for the file system of a path: an existence check too. */
SHIM_WRAP(int, statvfs, (const char *p, struct statvfs *b), (p, b),
	  rec_stat(GG_FN_statvfs, AT_FDCWD, p, 0, ret, c_.err, 0, ""))

/* Directory listings: the names are read separately when the directory is opened. */
typedef int (*scan_filter)(const struct dirent *);
typedef int (*scan_cmp)(const struct dirent **, const struct dirent **);
typedef int (*scan_filter64)(const struct dirent64 *);
typedef int (*scan_cmp64)(const struct dirent64 **, const struct dirent64 **);

SHIM_WRAP(DIR *, opendir, (const char *p), (p),
	  rec_list(GG_FN_opendir, AT_FDCWD, p, -1, ret ? 0 : -1, c_.err))
SHIM_WRAP(DIR *, fdopendir, (int fd), (fd),
	  rec_list(GG_FN_fdopendir, AT_FDCWD, NULL, fd, ret ? 0 : -1, c_.err))
SHIM_WRAP(int, scandir, (const char *p, struct dirent ***nl, scan_filter f, scan_cmp c),
	  (p, nl, f, c), rec_list(GG_FN_scandir, AT_FDCWD, p, -1, ret < 0 ? -1 : 0, c_.err))
SHIM_WRAP(int, scandir64,
	  (const char *p, struct dirent64 ***nl, scan_filter64 f, scan_cmp64 c), (p, nl, f, c),
	  rec_list(GG_FN_scandir64, AT_FDCWD, p, -1, ret < 0 ? -1 : 0, c_.err))
SHIM_WRAP(int, scandirat,
	  (int d, const char *p, struct dirent ***nl, scan_filter f, scan_cmp c),
	  (d, p, nl, f, c), rec_list(GG_FN_scandirat, d, p, -1, ret < 0 ? -1 : 0, c_.err))
