/*
 * wrap_open.c - the open family: open*, creat*, fopen*, freopen*, fdopen, the fortify
 * variants __open*_2, the mkstemp family and tmpfile.  Each records one OPEN (FD for
 * fdopen) record after the real call; see trace_format.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "shim/shim.h"

/* fopen-style mode string -> open(2) flags */
static int mode_flags(const char *m)
{
	int f = 0;
	if (!m)
		return 0;
	switch (m[0]) {
	case 'r': f = O_RDONLY; break;
	case 'w': f = O_WRONLY | O_CREAT | O_TRUNC; break;
	case 'a': f = O_WRONLY | O_CREAT | O_APPEND; break;
	}
	for (const char *p = m + 1; *p && *p != ','; p++) {
		if (*p == '+')
			f = (f & ~O_ACCMODE) | O_RDWR;
		else if (*p == 'x')
			f |= O_EXCL;
		else if (*p == 'e')
			f |= O_CLOEXEC;
	}
	return f;
}

static bool needs_mode(int flags)
{
	return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
}

#define OPEN_WRAP(name, fn)                                                        \
	DECL_REAL(name);                                                           \
	GG_EXPORT int name(const char *path, int flags, ...)                       \
	{                                                                          \
		struct shim_call c_;                                               \
		mode_t mode = 0;                                                   \
		int ret;                                                           \
		if (needs_mode(flags)) {                                           \
			va_list ap;                                                \
			va_start(ap, flags);                                       \
			mode = va_arg(ap, mode_t);                                 \
			va_end(ap);                                                \
		}                                                                  \
		if (!shim_enter(&c_))                                              \
			return REAL(name)(path, flags, mode);                      \
		ret = REAL(name)(path, flags, mode);                               \
		c_.err = errno;                                                    \
		rec_open(fn, AT_FDCWD, path, flags, mode, ret, c_.err);            \
		shim_leave(&c_);                                                   \
		return ret;                                                        \
	}

#define OPENAT_WRAP(name, fn)                                                      \
	DECL_REAL(name);                                                           \
	GG_EXPORT int name(int dirfd, const char *path, int flags, ...)            \
	{                                                                          \
		struct shim_call c_;                                               \
		mode_t mode = 0;                                                   \
		int ret;                                                           \
		if (needs_mode(flags)) {                                           \
			va_list ap;                                                \
			va_start(ap, flags);                                       \
			mode = va_arg(ap, mode_t);                                 \
			va_end(ap);                                                \
		}                                                                  \
		if (!shim_enter(&c_))                                              \
			return REAL(name)(dirfd, path, flags, mode);               \
		ret = REAL(name)(dirfd, path, flags, mode);                        \
		c_.err = errno;                                                    \
		rec_open(fn, dirfd, path, flags, mode, ret, c_.err);               \
		shim_leave(&c_);                                                   \
		return ret;                                                        \
	}

OPEN_WRAP(open, GG_FN_open)
OPEN_WRAP(open64, GG_FN_open64)
OPENAT_WRAP(openat, GG_FN_openat)
OPENAT_WRAP(openat64, GG_FN_openat64)

/* Fortify variants (no mode argument: O_CREAT without one is rejected by them). */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);

SHIM_WRAP(int, __open_2, (const char *path, int flags), (path, flags),
	  rec_open(GG_FN___open_2, AT_FDCWD, path, flags, 0, ret, c_.err))
SHIM_WRAP(int, __open64_2, (const char *path, int flags), (path, flags),
	  rec_open(GG_FN___open64_2, AT_FDCWD, path, flags, 0, ret, c_.err))
SHIM_WRAP(int, __openat_2, (int dirfd, const char *path, int flags), (dirfd, path, flags),
	  rec_open(GG_FN___openat_2, dirfd, path, flags, 0, ret, c_.err))
SHIM_WRAP(int, __openat64_2, (int dirfd, const char *path, int flags), (dirfd, path, flags),
	  rec_open(GG_FN___openat64_2, dirfd, path, flags, 0, ret, c_.err))

SHIM_WRAP(int, creat, (const char *path, mode_t mode), (path, mode),
	  rec_open(GG_FN_creat, AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC, mode, ret, c_.err))
SHIM_WRAP(int, creat64, (const char *path, mode_t mode), (path, mode),
	  rec_open(GG_FN_creat64, AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC, mode, ret, c_.err))

#define FILE_FD(f) ((f) ? fileno(f) : -1)

SHIM_WRAP(FILE *, fopen, (const char *path, const char *mode), (path, mode),
	  rec_open(GG_FN_fopen, AT_FDCWD, path, mode_flags(mode), 0666, FILE_FD(ret), c_.err))
SHIM_WRAP(FILE *, fopen64, (const char *path, const char *mode), (path, mode),
	  rec_open(GG_FN_fopen64, AT_FDCWD, path, mode_flags(mode), 0666, FILE_FD(ret), c_.err))
SHIM_WRAP(FILE *, freopen, (const char *path, const char *mode, FILE *s), (path, mode, s),
	  rec_open(GG_FN_freopen, AT_FDCWD, path, mode_flags(mode), 0666, FILE_FD(ret), c_.err))
SHIM_WRAP(FILE *, freopen64, (const char *path, const char *mode, FILE *s), (path, mode, s),
	  rec_open(GG_FN_freopen64, AT_FDCWD, path, mode_flags(mode), 0666, FILE_FD(ret), c_.err))
SHIM_WRAP(FILE *, fdopen, (int fd, const char *mode), (fd, mode),
	  rec_fd(GG_FN_fdopen, fd, mode_flags(mode), ret ? fd : -1, c_.err))

/* mkstemp family: the template holds the created name on success. */
#define TMP_FLAGS (O_RDWR | O_CREAT | O_EXCL)
int mkstemp64(char *t);
int mkostemp64(char *t, int flags);
int mkstemps64(char *t, int suffixlen);
int mkostemps64(char *t, int suffixlen, int flags);

SHIM_WRAP(int, mkstemp, (char *t), (t),
	  rec_open(GG_FN_mkstemp, AT_FDCWD, t, TMP_FLAGS, 0600, ret, c_.err))
SHIM_WRAP(int, mkstemp64, (char *t), (t),
	  rec_open(GG_FN_mkstemp64, AT_FDCWD, t, TMP_FLAGS, 0600, ret, c_.err))
SHIM_WRAP(int, mkostemp, (char *t, int fl), (t, fl),
	  rec_open(GG_FN_mkostemp, AT_FDCWD, t, TMP_FLAGS | fl, 0600, ret, c_.err))
SHIM_WRAP(int, mkostemp64, (char *t, int fl), (t, fl),
	  rec_open(GG_FN_mkostemp64, AT_FDCWD, t, TMP_FLAGS | fl, 0600, ret, c_.err))
SHIM_WRAP(int, mkstemps, (char *t, int sl), (t, sl),
	  rec_open(GG_FN_mkstemps, AT_FDCWD, t, TMP_FLAGS, 0600, ret, c_.err))
SHIM_WRAP(int, mkstemps64, (char *t, int sl), (t, sl),
	  rec_open(GG_FN_mkstemps64, AT_FDCWD, t, TMP_FLAGS, 0600, ret, c_.err))
SHIM_WRAP(int, mkostemps, (char *t, int sl, int fl), (t, sl, fl),
	  rec_open(GG_FN_mkostemps, AT_FDCWD, t, TMP_FLAGS | fl, 0600, ret, c_.err))
SHIM_WRAP(int, mkostemps64, (char *t, int sl, int fl), (t, sl, fl),
	  rec_open(GG_FN_mkostemps64, AT_FDCWD, t, TMP_FLAGS | fl, 0600, ret, c_.err))

/* tmpfile: an unnamed file in P_tmpdir (O_TMPFILE; path is the directory). */
FILE *tmpfile64(void);
SHIM_WRAP(FILE *, tmpfile, (void), (),
	  rec_open(GG_FN_tmpfile, AT_FDCWD, P_tmpdir, O_TMPFILE | O_RDWR, 0600, FILE_FD(ret), c_.err))
SHIM_WRAP(FILE *, tmpfile64, (void), (),
	  rec_open(GG_FN_tmpfile64, AT_FDCWD, P_tmpdir, O_TMPFILE | O_RDWR, 0600, FILE_FD(ret), c_.err))
