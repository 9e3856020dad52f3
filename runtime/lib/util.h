/*
 * util.h - small helpers shared by the gg command and the runtime library.
 *
 * Two kinds of helpers live here, and the split matters (house style: library code
 * never prints and never exits):
 *
 *   - buffers and lists that report failure by return value (sbuf, strlist, strset,
 *     path_abs): usable from library code;
 *   - die(), warning(), x*alloc(): they print to stderr and may exit.  Only
 *     main()-level code (runtime/main.c and the cmd_* verbs) calls them.
 *
 * Every growable structure here has an owner (whoever holds the struct) and a cap,
 * written down at its declaration.
 */
#ifndef GG_UTIL_H
#define GG_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "runtime/lib/htab.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- main()-level only: print and exit ------------------------------------ */

/* Print "gg: <message>" to stderr and exit(1). */
__attribute__((noreturn, format(printf, 1, 2))) void die(const char *fmt, ...);
/* Print "gg: warning: <message>" to stderr. */
__attribute__((format(printf, 1, 2))) void warning(const char *fmt, ...);

/* A formatted string, malloc'd; NULL on ENOMEM. */
__attribute__((format(printf, 1, 2))) char *str_printf(const char *fmt, ...);

/* vsnprintf into an error buffer of len bytes; nothing when buf is NULL or len 0. */
__attribute__((format(printf, 3, 4))) void errbuf_set(char *buf, size_t len, const char *fmt, ...);

/* Length of the valid UTF-8 sequence at s (n bytes left, n >= 1): 1..4, or 0 when
 * s does not start one (overlong, surrogate, past U+10FFFF, cut short). */
size_t utf8_len(const unsigned char *s, size_t n);

/* The value of the hexadecimal digit c (either case), or -1. */
int hex_value(int c);
/* Allocate or die("out of memory"). */
void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

/* ---- sbuf: a growable byte buffer ------------------------------------------
 *
 * Owner: whoever holds the struct; sbuf_release() frees the bytes.  buf is always
 * NUL-terminated when non-NULL (the NUL is not counted in len).  Cap: len never
 * exceeds `cap`; an append that would is refused whole.  Errors are sticky: the
 * first failed append sets err (-ENOMEM or -E2BIG) and later appends do nothing,
 * so a writer may append freely and check err (or sbuf_error()) once at the end.
 */
struct sbuf {
	char *buf;
	size_t len;
	size_t alloc;
	size_t cap; /* maximum len; 0 means SBUF_DEFAULT_CAP */
	int err;    /* 0, or the first -errno */
};

#define SBUF_DEFAULT_CAP ((size_t)1 << 30)
#define SBUF_INIT { .buf = NULL, .len = 0, .alloc = 0, .cap = 0, .err = 0 }

void sbuf_init(struct sbuf *sb, size_t cap);
void sbuf_release(struct sbuf *sb);
/* Empty the buffer (keeps the allocation) and clear the error. */
void sbuf_reset(struct sbuf *sb);
/* Take the bytes (never NULL on success: "" for an empty buffer, caller frees);
 * the buffer is left empty.  NULL if the buffer is in error or out of memory. */
char *sbuf_detach(struct sbuf *sb, size_t *len);
int sbuf_add(struct sbuf *sb, const void *p, size_t n);
int sbuf_addstr(struct sbuf *sb, const char *s);
int sbuf_addch(struct sbuf *sb, char c);
__attribute__((format(printf, 2, 3))) int sbuf_addf(struct sbuf *sb, const char *fmt, ...);
int sbuf_vaddf(struct sbuf *sb, const char *fmt, va_list ap);
static inline int sbuf_error(const struct sbuf *sb) { return sb->err; }

/* ---- strlist: an owned list of strings (warnings, names) ------------------
 *
 * Owner: whoever holds the struct; the list owns copies of its strings.  v[n] is
 * NULL when v is non-NULL.  Cap: at most STRLIST_MAX entries; pushes past it are
 * counted in `dropped` and return 0 (a warning list must not stop a reader).
 */
struct strlist {
	char **v;
	size_t n;
	size_t alloc;
	size_t dropped;
};

#define STRLIST_MAX 100000
#define STRLIST_INIT { .v = NULL, .n = 0, .alloc = 0, .dropped = 0 }

int strlist_push(struct strlist *l, const char *s);
__attribute__((format(printf, 2, 3))) int strlist_pushf(struct strlist *l, const char *fmt, ...);
void strlist_release(struct strlist *l);

/* ---- strset: a set of strings, by value -----------------------------------
 *
 * Owner: whoever holds the struct; the set owns its table but NOT the strings: the
 * caller keeps every added string alive and unchanged while the set is used.
 * Cap: n < UINT32_MAX (htab.h), else memory.
 */
struct strset {
	struct htab ix;  /* str_hash -> index into v */
	const char **v;  /* the strings, in the order they were added */
	size_t n, alloc;
};

#define STRSET_INIT { .ix = HTAB_INIT, .v = NULL, .n = 0, .alloc = 0 }

/* Add s; returns 1 if it was added, 0 if already present, -ENOMEM. */
int strset_add(struct strset *s, const char *str);
bool strset_has(const struct strset *s, const char *str);
void strset_release(struct strset *s);

/* 64-bit XXH3 of a NUL-terminated string (for tables in memory: never stored). */
uint64_t str_hash(const char *s);

/* ---- paths ----------------------------------------------------------------- */

/*
 * The one lexical path normaliser: `path` made absolute against `base` (used when
 * path is relative; "/" when base is NULL; a relative base counts from "/") and
 * normalised into out[cap]: no "//", "." or "..", where ".." removes the previous
 * component ("/.." is "/"), no trailing slash; no symlink is followed, nothing is
 * touched, nothing allocated.  0, or -ENAMETOOLONG when the result (or a prefix of
 * it on the way) does not fit: never a truncated path.  out is "" on error.
 * (The shim's path_clean, shim/path.h, keeps ".." on purpose and is not this.)
 */
int path_normalize(const char *base, const char *path, char *out, size_t cap);

/*
 * Make `path` absolute and lexically normal ("." and empty components removed,
 * ".." removes the previous component; no symlink is followed, nothing is
 * touched).  A relative path is taken against `base` (itself taken against the
 * current directory when relative), or the current directory when base is NULL.  Returns a malloc'd string in *out, or -errno (getcwd's,
 * -ENOMEM, -EINVAL for an empty path).
 */
int path_abs(const char *path, const char *base, char **out);

/* ---- whole files ------------------------------------------------------------ */

/*
 * Read the file at `path` into `sb` (initialised here, with `cap` as its cap; the
 * caller releases it).  0, or -errno (-E2BIG past the cap).
 */
int file_read_all(const char *path, struct sbuf *sb, size_t cap);

/* open(path, O_RDONLY | O_CLOEXEC | extra) of a regular file, *sb its fstat: the fd,
 * or -errno (-EINVAL: not a regular file). */
int open_regular(const char *path, int extra, struct stat *sb);

/*
 * The one read loop: read fd to EOF through buf[cap] (EINTR retried), handing each
 * chunk to fn.  0, -errno of read(2), or fn's first non-zero return.
 */
typedef int fd_chunk_fn(void *ctx, const void *p, size_t n);
int fd_read_each(int fd, void *buf, size_t cap, fd_chunk_fn *fn, void *ctx);
/* Read fd into buf until EOF or `cap` bytes (EINTR retried): the count, or -errno. */
ssize_t fd_read_upto(int fd, void *buf, size_t cap);

/*
 * Replace the file at `path` with `len` bytes, atomically: written to a temporary
 * beside it (made for this process), optionally fsync'ed, then renamed over it.  A
 * reader sees the old file or the new one, never a mix.  0 or -errno.
 */
int file_write_atomic(const char *path, const void *buf, size_t len, bool sync);

/* Remove a directory tree (or a file); errors are ignored. */
void rm_rf(const char *path);

/*
 * The one directory walk: fn(ctx, dirfd, name) for every entry of the directory
 * open at `fd` but "." and ".."; fd is taken over (closed here).  Stops at fn's
 * first non-zero return and returns it; -errno when the directory cannot be read.
 * dir_walk opens atfd/path first (O_RDONLY | O_DIRECTORY | O_CLOEXEC | oflags,
 * e.g. O_NOFOLLOW): -errno if it cannot.
 */
typedef int dir_walk_fn(void *ctx, int dirfd, const char *name);
int dir_walk_fd(int fd, dir_walk_fn *fn, void *ctx);
int dir_walk(int atfd, const char *path, int oflags, dir_walk_fn *fn, void *ctx);

/* The last component of a path ("/usr/bin/cc" -> "cc"; "" and "/" -> themselves). */
const char *path_base(const char *path);

/* CLOCK_MONOTONIC in nanoseconds, milliseconds, seconds: the one clock for durations. */
uint64_t clock_now_ns(void);
static inline uint64_t clock_now_ms(void) { return clock_now_ns() / 1000000u; }
static inline double clock_now_s(void) { return (double)clock_now_ns() / 1e9; }

#endif
