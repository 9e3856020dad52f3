/*
 * wrap_io.c - what makes a command unfit to replay elsewhere: reading its standard
 * input (it may be a terminal or a pipe from outside the build) and opening network
 * sockets.  Both are recorded once per image, so after the first time the wrappers
 * cost one compare.  The stdio readers are wrapped as well as read(2) because glibc
 * reads a FILE through internal calls that no preload library sees.
 */
#include <stdarg.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "shim/shim.h"

/* <stdio.h> may define these as macros under optimisation; the functions exist too. */
#undef fread_unlocked
#undef fgets_unlocked
#undef getc
#undef getc_unlocked
#undef fgetc_unlocked
#undef getchar
#undef getchar_unlocked

#define STDIN_FD(fd, fn)                                                           \
	do {                                                                       \
		if (__builtin_expect((fd) == 0, 0))                                \
			shim_note_stdin(fn);                                       \
	} while (0)
#define STDIN_FILE(f, fn) STDIN_FD((f) ? (f)->_fileno : -1, fn)

#define FD_READER(rtype, name, params, args)                                      \
	DECL_REAL(name);                                                          \
	GG_EXPORT rtype name params                                               \
	{                                                                         \
		STDIN_FD(fd, GG_FN_##name);                                       \
		return REAL(name) args;                                           \
	}

#define FILE_READER(rtype, name, params, args)                                    \
	DECL_REAL(name);                                                          \
	GG_EXPORT rtype name params                                               \
	{                                                                         \
		STDIN_FILE(f, GG_FN_##name);                                      \
		return REAL(name) args;                                           \
	}

FD_READER(ssize_t, read, (int fd, void *b, size_t n), (fd, b, n))
FD_READER(ssize_t, readv, (int fd, const struct iovec *v, int n), (fd, v, n))
FD_READER(ssize_t, pread, (int fd, void *b, size_t n, off_t o), (fd, b, n, o))
FD_READER(ssize_t, pread64, (int fd, void *b, size_t n, off64_t o), (fd, b, n, o))

int __uflow(FILE *f);
int __underflow(FILE *f);
FILE_READER(size_t, fread, (void *p, size_t s, size_t n, FILE *f), (p, s, n, f))
FILE_READER(size_t, fread_unlocked, (void *p, size_t s, size_t n, FILE *f), (p, s, n, f))
FILE_READER(char *, fgets, (char *s, int n, FILE *f), (s, n, f))
FILE_READER(char *, fgets_unlocked, (char *s, int n, FILE *f), (s, n, f))
FILE_READER(ssize_t, getline, (char **l, size_t *n, FILE *f), (l, n, f))
FILE_READER(ssize_t, getdelim, (char **l, size_t *n, int d, FILE *f), (l, n, d, f))
FILE_READER(int, fgetc, (FILE *f), (f))
FILE_READER(int, getc, (FILE *f), (f))
FILE_READER(int, fgetc_unlocked, (FILE *f), (f))
FILE_READER(int, getc_unlocked, (FILE *f), (f))
FILE_READER(int, __uflow, (FILE *f), (f))
FILE_READER(int, __underflow, (FILE *f), (f))

DECL_REAL(getchar);
GG_EXPORT int getchar(void)
{
	STDIN_FILE(stdin, GG_FN_getchar);
	return REAL(getchar)();
}

DECL_REAL(getchar_unlocked);
GG_EXPORT int getchar_unlocked(void)
{
	STDIN_FILE(stdin, GG_FN_getchar_unlocked);
	return REAL(getchar_unlocked)();
}

/* The scanf family: variadic entry points funnel into the real v-forms. */
int __isoc99_vfscanf(FILE *f, const char *fmt, va_list ap);
DECL_REAL(__isoc99_vfscanf);
static int (*real_vfscanf)(FILE *, const char *, va_list);

GG_EXPORT int __isoc99_vfscanf(FILE *f, const char *fmt, va_list ap)
{
	STDIN_FILE(f, GG_FN___isoc99_vfscanf);
	return REAL(__isoc99_vfscanf)(f, fmt, ap);
}

/*
 * With C99 (the default) <stdio.h> renames scanf, fscanf and vfscanf to their
 * __isoc99_ forms at the assembler level, so the wrappers of the old names are
 * defined under other C names with explicit symbol names.
 */
#define SCANF_WRAP(cname, sym, fn, real, stream, params, last)                    \
	GG_EXPORT int cname params __asm__(sym);                                  \
	GG_EXPORT int cname params                                                \
	{                                                                         \
		va_list ap;                                                       \
		int r;                                                            \
		FILE *f_ = (stream);                                              \
		STDIN_FILE(f_, fn);                                               \
		va_start(ap, last);                                               \
		r = REAL(real)(f_, fmt, ap);                                      \
		va_end(ap);                                                       \
		return r;                                                         \
	}

SCANF_WRAP(gg_fscanf, "fscanf", GG_FN_fscanf, vfscanf, f, (FILE *f, const char *fmt, ...), fmt)
SCANF_WRAP(gg_scanf, "scanf", GG_FN_scanf, vfscanf, stdin, (const char *fmt, ...), fmt)
SCANF_WRAP(gg_isoc99_fscanf, "__isoc99_fscanf", GG_FN___isoc99_fscanf, __isoc99_vfscanf, f,
	   (FILE *f, const char *fmt, ...), fmt)
SCANF_WRAP(gg_isoc99_scanf, "__isoc99_scanf", GG_FN___isoc99_scanf, __isoc99_vfscanf, stdin,
	   (const char *fmt, ...), fmt)

GG_EXPORT int gg_vfscanf(FILE *f, const char *fmt, va_list ap) __asm__("vfscanf");
GG_EXPORT int gg_vfscanf(FILE *f, const char *fmt, va_list ap)
{
	static int (*real)(FILE *, const char *, va_list);
	STDIN_FILE(f, GG_FN_vfscanf);
	if (!real)
		real = (int (*)(FILE *, const char *, va_list))shim_dlsym("vfscanf");
	return real(f, fmt, ap);
}

/* Fortified forms (_FORTIFY_SOURCE, as Debian builds its packages). */
ssize_t __read_chk(int fd, void *b, size_t n, size_t bl);
ssize_t __pread_chk(int fd, void *b, size_t n, off_t o, size_t bl);
ssize_t __pread64_chk(int fd, void *b, size_t n, off64_t o, size_t bl);
size_t __fread_chk(void *p, size_t pl, size_t s, size_t n, FILE *f);
size_t __fread_unlocked_chk(void *p, size_t pl, size_t s, size_t n, FILE *f);
char *__fgets_chk(char *s, size_t sl, int n, FILE *f);
char *__fgets_unlocked_chk(char *s, size_t sl, int n, FILE *f);
FD_READER(ssize_t, __read_chk, (int fd, void *b, size_t n, size_t bl), (fd, b, n, bl))
FD_READER(ssize_t, __pread_chk, (int fd, void *b, size_t n, off_t o, size_t bl),
	  (fd, b, n, o, bl))
FD_READER(ssize_t, __pread64_chk, (int fd, void *b, size_t n, off64_t o, size_t bl),
	  (fd, b, n, o, bl))
FILE_READER(size_t, __fread_chk, (void *p, size_t pl, size_t s, size_t n, FILE *f),
	    (p, pl, s, n, f))
FILE_READER(size_t, __fread_unlocked_chk, (void *p, size_t pl, size_t s, size_t n, FILE *f),
	    (p, pl, s, n, f))
FILE_READER(char *, __fgets_chk, (char *s, size_t sl, int n, FILE *f), (s, sl, n, f))
FILE_READER(char *, __fgets_unlocked_chk, (char *s, size_t sl, int n, FILE *f), (s, sl, n, f))

SHIM_WRAP(int, socket, (int domain, int type, int proto), (domain, type, proto),
	  if (domain != AF_UNIX) rec_net(GG_FN_socket, domain, type, ret, c_.err))
