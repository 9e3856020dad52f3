/*
 * wrap_open.c - the open family: open*, creat*, fopen*, freopen*, fdopen, the fortify
 * variants __open*_2, the mkstemp family and tmpfile.  Each records one OPEN (FD for
 * fdopen) record after the real call; see trace_format.h.  Under GG_VROOT the path
 * is mapped first (O_NOFOLLOW and O_CREAT|O_EXCL do not follow a last link).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim/shim.h"
#include "shim/vpath.h"

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

/* An open that does not follow a symlink in the last component (open(2)). */
static int open_vflags(int flags)
{
	return (flags & O_NOFOLLOW) || (flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL)
		       ? VPATH_NOFOLLOW
		       : 0;
}

/* fopen's mode as open_vflags. */
#define FOPEN_VFL(m) open_vflags(mode_flags(m))

/* The pre-call step of SHIM_WRAP_P for the open wrappers (declares v_). */
#define OPEN_VMAP(dirfd, path, flags)                                              \
	const char *const v_ = (path);                                             \
	if (__builtin_expect(c_.map, 0)) {                                         \
		const char *m_;                                                    \
		char *h_ = shim_vbuf();                                            \
		int e_ = h_ ? shim_vmap((dirfd), v_, open_vflags(flags), h_, &m_)  \
			    : -ENOMEM;                                             \
		if (e_ < 0) {                                                      \
			c_.err = -e_;                                              \
			shim_leave(&c_);                                           \
			return -1;                                                 \
		}                                                                  \
		path = m_;                                                         \
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
		if (!shim_enter_v(&c_))                                            \
			return REAL(name)(path, flags, mode);                      \
		OPEN_VMAP(AT_FDCWD, path, flags);                                  \
		ret = REAL(name)(path, flags, mode);                               \
		c_.err = errno;                                                    \
		path = v_;                                                         \
		if (c_.active)                                                     \
			rec_open(fn, AT_FDCWD, path, flags, mode, ret, c_.err);    \
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
		if (!shim_enter_v(&c_))                                            \
			return REAL(name)(dirfd, path, flags, mode);               \
		OPEN_VMAP(dirfd, path, flags);                                     \
		ret = REAL(name)(dirfd, path, flags, mode);                        \
		c_.err = errno;                                                    \
		path = v_;                                                         \
		if (c_.active)                                                     \
			rec_open(fn, dirfd, path, flags, mode, ret, c_.err);       \
		shim_leave(&c_);                                                   \
		return ret;                                                        \
	}

/* in the shim's hot text (shim.ld): every image opens files */
SHIM_HOT int open(const char *path, int flags, ...);
SHIM_HOT int openat(int dirfd, const char *path, int flags, ...);

OPEN_WRAP(open, GG_FN_open)
OPEN_WRAP(open64, GG_FN_open64)
OPENAT_WRAP(openat, GG_FN_openat)
OPENAT_WRAP(openat64, GG_FN_openat64)

/* Fortify variants (no mode argument: O_CREAT without one is rejected by them). */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);

SHIM_WRAP_P(int, __open_2, (const char *path, int flags), (path, flags), -1, AT_FDCWD, path,
	    open_vflags(flags), rec_open(GG_FN___open_2, AT_FDCWD, path, flags, 0, ret, c_.err))
SHIM_WRAP_P(int, __open64_2, (const char *path, int flags), (path, flags), -1, AT_FDCWD, path,
	    open_vflags(flags), rec_open(GG_FN___open64_2, AT_FDCWD, path, flags, 0, ret, c_.err))
SHIM_WRAP_P(int, __openat_2, (int dirfd, const char *path, int flags), (dirfd, path, flags), -1,
	    dirfd, path, open_vflags(flags),
	    rec_open(GG_FN___openat_2, dirfd, path, flags, 0, ret, c_.err))
SHIM_WRAP_P(int, __openat64_2, (int dirfd, const char *path, int flags), (dirfd, path, flags),
	    -1, dirfd, path, open_vflags(flags),
	    rec_open(GG_FN___openat64_2, dirfd, path, flags, 0, ret, c_.err))

SHIM_WRAP_P(int, creat, (const char *path, mode_t mode), (path, mode), -1, AT_FDCWD, path, 0,
	    rec_open(GG_FN_creat, AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC, mode, ret, c_.err))
SHIM_WRAP_P(int, creat64, (const char *path, mode_t mode), (path, mode), -1, AT_FDCWD, path, 0,
	    rec_open(GG_FN_creat64, AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC, mode, ret,
		     c_.err))

#define FILE_FD(f) ((f) ? fileno(f) : -1)

SHIM_WRAP_P(FILE *, fopen, (const char *path, const char *mode), (path, mode), NULL, AT_FDCWD,
	    path, FOPEN_VFL(mode),
	    rec_open(GG_FN_fopen, AT_FDCWD, path, mode_flags(mode), 0666, FILE_FD(ret), c_.err))
SHIM_WRAP_P(FILE *, fopen64, (const char *path, const char *mode), (path, mode), NULL, AT_FDCWD,
	    path, FOPEN_VFL(mode),
	    rec_open(GG_FN_fopen64, AT_FDCWD, path, mode_flags(mode), 0666, FILE_FD(ret), c_.err))
SHIM_WRAP_P(FILE *, freopen, (const char *path, const char *mode, FILE *s), (path, mode, s),
	    NULL, AT_FDCWD, path, FOPEN_VFL(mode),
	    rec_open(GG_FN_freopen, AT_FDCWD, path, mode_flags(mode), 0666, FILE_FD(ret), c_.err))
SHIM_WRAP_P(FILE *, freopen64, (const char *path, const char *mode, FILE *s), (path, mode, s),
	    NULL, AT_FDCWD, path, FOPEN_VFL(mode),
	    rec_open(GG_FN_freopen64, AT_FDCWD, path, mode_flags(mode), 0666, FILE_FD(ret),
		     c_.err))
SHIM_WRAP(FILE *, fdopen, (int fd, const char *mode), (fd, mode),
	  rec_fd(GG_FN_fdopen, fd, mode_flags(mode), ret ? fd : -1, c_.err))

/*
 * mkstemp family: the template holds the created name on success.  Under GG_VROOT
 * the real call fills a mapped copy of the template; the name it chose (the last
 * component, same length in both) is copied back into the program's template.
 */
#define TMP_FLAGS (O_RDWR | O_CREAT | O_EXCL)

static void tmpl_copy_back(char *t, const char *host)
{
	size_t tl = strlen(t), hl = strlen(host), n;
	const char *slash = strrchr(t, '/');
	n = slash ? tl - (size_t)(slash + 1 - t) : tl;
	if (n <= hl)
		memcpy(t + tl - n, host + hl - n, n);
}

#define TMP_WRAP(rtype, name, params, args, t, fail, record)                      \
	DECL_REAL(name);                                                           \
	GG_EXPORT rtype name params                                                \
	{                                                                          \
		struct shim_call c_;                                               \
		char *const v_ = (t);                                              \
		char *h_ = NULL;                                                   \
		rtype ret;                                                         \
		if (!shim_enter_v(&c_))                                            \
			return REAL(name) args;                                    \
		if (__builtin_expect(c_.map, 0)) {                                 \
			const char *m_;                                            \
			int e_ = (h_ = shim_vbuf())                                \
				     ? shim_vmap(AT_FDCWD, v_, VPATH_NOFOLLOW, h_, &m_) \
				     : -ENOMEM;                                    \
			if (e_ < 0) {                                              \
				c_.err = -e_;                                      \
				shim_leave(&c_);                                   \
				return fail;                                       \
			}                                                          \
			if (m_ != v_)                                              \
				t = h_;                                            \
		}                                                                  \
		ret = REAL(name) args;                                             \
		c_.err = errno;                                                    \
		if (t != v_) {                                                     \
			if (ret != fail)                                           \
				tmpl_copy_back(v_, h_);                            \
			t = v_;                                                    \
		}                                                                  \
		if (c_.active) {                                                   \
			record;                                                    \
		}                                                                  \
		shim_leave(&c_);                                                   \
		return ret;                                                        \
	}

int mkstemp64(char *t);
int mkostemp64(char *t, int flags);
int mkstemps64(char *t, int suffixlen);
int mkostemps64(char *t, int suffixlen, int flags);

TMP_WRAP(int, mkstemp, (char *t), (t), t, -1,
	 rec_open(GG_FN_mkstemp, AT_FDCWD, t, TMP_FLAGS, 0600, ret, c_.err))
TMP_WRAP(int, mkstemp64, (char *t), (t), t, -1,
	 rec_open(GG_FN_mkstemp64, AT_FDCWD, t, TMP_FLAGS, 0600, ret, c_.err))
TMP_WRAP(int, mkostemp, (char *t, int fl), (t, fl), t, -1,
	 rec_open(GG_FN_mkostemp, AT_FDCWD, t, TMP_FLAGS | fl, 0600, ret, c_.err))
TMP_WRAP(int, mkostemp64, (char *t, int fl), (t, fl), t, -1,
	 rec_open(GG_FN_mkostemp64, AT_FDCWD, t, TMP_FLAGS | fl, 0600, ret, c_.err))
TMP_WRAP(int, mkstemps, (char *t, int sl), (t, sl), t, -1,
	 rec_open(GG_FN_mkstemps, AT_FDCWD, t, TMP_FLAGS, 0600, ret, c_.err))
TMP_WRAP(int, mkstemps64, (char *t, int sl), (t, sl), t, -1,
	 rec_open(GG_FN_mkstemps64, AT_FDCWD, t, TMP_FLAGS, 0600, ret, c_.err))
TMP_WRAP(int, mkostemps, (char *t, int sl, int fl), (t, sl, fl), t, -1,
	 rec_open(GG_FN_mkostemps, AT_FDCWD, t, TMP_FLAGS | fl, 0600, ret, c_.err))
TMP_WRAP(int, mkostemps64, (char *t, int sl, int fl), (t, sl, fl), t, -1,
	 rec_open(GG_FN_mkostemps64, AT_FDCWD, t, TMP_FLAGS | fl, 0600, ret, c_.err))
/* mkdtemp: a directory; mapped, not recorded (the trace has no entry point for it). */
DECL_REAL(mkdtemp);
GG_EXPORT char *mkdtemp(char *t)
{
	struct shim_call c;
	char *h;
	const char *m;
	char *ret;
	int e;
	if (!shim_enter_v(&c) || !c.map || !t) {
		if (c.active || c.map) {
			c.err = c.saved_errno;
			shim_leave(&c);
		}
		return REAL(mkdtemp)(t);
	}
	h = shim_vbuf();
	e = h ? shim_vmap(AT_FDCWD, t, VPATH_NOFOLLOW, h, &m) : -ENOMEM;
	if (e < 0) {
		c.err = -e;
		shim_leave(&c);
		return NULL;
	}
	ret = REAL(mkdtemp)((char *)m);
	c.err = errno;
	if (ret) {
		if (m != t)
			tmpl_copy_back(t, m);
		ret = t;
	}
	shim_leave(&c);
	return ret;
}

/*
 * tmpfile: an unnamed file in P_tmpdir (O_TMPFILE; path is the directory).  glibc
 * opens it with internal calls: under GG_VROOT the unnamed file is made in R's
 * /tmp here instead.
 */
static FILE *vtmpfile(void)
{
	char *h = shim_vbuf();
	const char *m;
	FILE *f;
	int fd;
	if (!h || shim_vmap(AT_FDCWD, P_tmpdir, 0, h, &m) < 0)
		return NULL;
	fd = (int)syscall(SYS_openat, AT_FDCWD, m, O_TMPFILE | O_RDWR | O_EXCL, 0600);
	if (fd < 0)
		return NULL;
	f = fdopen(fd, "w+");
	if (!f)
		syscall(SYS_close, fd);
	return f;
}

#define TMPFILE_WRAP(name, fn)                                                     \
	DECL_REAL(name);                                                           \
	GG_EXPORT FILE *name(void)                                                 \
	{                                                                          \
		struct shim_call c_;                                               \
		FILE *ret;                                                         \
		if (!shim_enter_v(&c_))                                            \
			return REAL(name)();                                       \
		ret = c_.map ? vtmpfile() : REAL(name)();                          \
		c_.err = errno;                                                    \
		if (c_.active)                                                     \
			rec_open(fn, AT_FDCWD, P_tmpdir, O_TMPFILE | O_RDWR, 0600, \
				 FILE_FD(ret), c_.err);                            \
		shim_leave(&c_);                                                   \
		return ret;                                                        \
	}

FILE *tmpfile64(void);
TMPFILE_WRAP(tmpfile, GG_FN_tmpfile)
TMPFILE_WRAP(tmpfile64, GG_FN_tmpfile64)
