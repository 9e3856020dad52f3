/*
 * util.c - see util.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>
#include <time.h>
#include <unistd.h>

#include "runtime/lib/util.h"

/* ---- die / warning / x*alloc -------------------------------------------------- */

void die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("gg: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

void warning(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("gg: warning: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		die("out of memory");
	return p;
}

void *xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
	if (!p)
		die("out of memory");
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		die("out of memory");
	return p;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);
	if (!p)
		die("out of memory");
	return p;
}

/* ---- sbuf ----------------------------------------------------------------------- */

void sbuf_init(struct sbuf *sb, size_t cap)
{
	*sb = (struct sbuf)SBUF_INIT;
	sb->cap = cap;
}

void sbuf_release(struct sbuf *sb)
{
	free(sb->buf);
	sb->buf = NULL;
	sb->len = sb->alloc = 0;
	sb->err = 0;
}

void sbuf_reset(struct sbuf *sb)
{
	sb->len = 0;
	sb->err = 0;
	if (sb->buf)
		sb->buf[0] = '\0';
}

/* Make room for n more bytes plus the NUL.  Sets the sticky error on failure. */
static int sbuf_grow(struct sbuf *sb, size_t n)
{
	size_t cap = sb->cap ? sb->cap : SBUF_DEFAULT_CAP;
	size_t want, alloc;
	char *p;

	if (sb->err)
		return sb->err;
	if (n > cap || sb->len > cap - n) {
		sb->err = -E2BIG;
		return sb->err;
	}
	want = sb->len + n + 1;
	if (want <= sb->alloc)
		return 0;
	alloc = sb->alloc ? sb->alloc : 64;
	while (alloc < want)
		alloc = alloc < SIZE_MAX / 2 ? alloc * 2 : want;
	p = realloc(sb->buf, alloc);
	if (!p) {
		sb->err = -ENOMEM;
		return sb->err;
	}
	sb->buf = p;
	sb->alloc = alloc;
	return 0;
}

int sbuf_add(struct sbuf *sb, const void *p, size_t n)
{
	int ret = sbuf_grow(sb, n);
	if (ret)
		return ret;
	if (n)
		memcpy(sb->buf + sb->len, p, n);
	sb->len += n;
	sb->buf[sb->len] = '\0';
	return 0;
}

int sbuf_addstr(struct sbuf *sb, const char *s)
{
	return sbuf_add(sb, s, strlen(s));
}

int sbuf_addch(struct sbuf *sb, char c)
{
	return sbuf_add(sb, &c, 1);
}

int sbuf_vaddf(struct sbuf *sb, const char *fmt, va_list ap)
{
	va_list cp;
	int n;

	if (sb->err)
		return sb->err;
	va_copy(cp, ap);
	n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0) {
		sb->err = -EINVAL;
		return sb->err;
	}
	if (sbuf_grow(sb, (size_t)n))
		return sb->err;
	vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
	sb->len += (size_t)n;
	return 0;
}

int sbuf_addf(struct sbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = sbuf_vaddf(sb, fmt, ap);
	va_end(ap);
	return ret;
}

char *sbuf_detach(struct sbuf *sb, size_t *len)
{
	char *p;

	if (sb->err)
		return NULL;
	if (!sb->buf && sbuf_grow(sb, 0))
		return NULL;
	if (!sb->buf) {
		p = strdup("");
	} else {
		p = sb->buf;
		p[sb->len] = '\0';
	}
	if (!p)
		return NULL;
	if (len)
		*len = sb->len;
	sb->buf = NULL;
	sb->len = sb->alloc = 0;
	return p;
}

/* ---- strlist -------------------------------------------------------------------- */

static int strlist_take(struct strlist *l, char *s)
{
	if (l->n >= STRLIST_MAX) {
		free(s);
		l->dropped++;
		return 0;
	}
	if (l->n + 1 >= l->alloc) {
		size_t alloc = l->alloc ? l->alloc * 2 : 8;
		char **v = realloc(l->v, alloc * sizeof(*v));
		if (!v) {
			free(s);
			return -ENOMEM;
		}
		l->v = v;
		l->alloc = alloc;
	}
	l->v[l->n++] = s;
	l->v[l->n] = NULL;
	return 0;
}

int strlist_push(struct strlist *l, const char *s)
{
	char *p = strdup(s);
	if (!p)
		return -ENOMEM;
	return strlist_take(l, p);
}

int strlist_pushf(struct strlist *l, const char *fmt, ...)
{
	va_list ap;
	char *p;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	return strlist_take(l, p);
}

char *str_printf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

void strlist_release(struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	*l = (struct strlist)STRLIST_INIT;
}

/* ---- strset --------------------------------------------------------------------- */

uint64_t str_hash(const char *s)
{
	return XXH3_64bits(s, strlen(s));
}

static bool strset_eq(const void *ctx, uint32_t val, const void *key)
{
	const struct strset *s = ctx;
	return !strcmp(s->v[val], key);
}

int strset_add(struct strset *s, const char *str)
{
	uint64_t h = str_hash(str);
	int ret;

	if (htab_find(&s->ix, h, strset_eq, s, str) != HTAB_NONE)
		return 0;
	if (s->n == s->alloc) {
		size_t na = s->alloc ? s->alloc * 2 : 64;
		const char **nv = realloc(s->v, na * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		s->v = nv;
		s->alloc = na;
	}
	if ((ret = htab_add(&s->ix, h, (uint32_t)s->n)) < 0)
		return ret;
	s->v[s->n++] = str;
	return 1;
}

bool strset_has(const struct strset *s, const char *str)
{
	return htab_find(&s->ix, str_hash(str), strset_eq, s, str) != HTAB_NONE;
}

void strset_release(struct strset *s)
{
	htab_release(&s->ix);
	free(s->v);
	*s = (struct strset)STRSET_INIT;
}

/* ---- paths ---------------------------------------------------------------------- */

/* Append the components of s to out[0..*len), applying "." and "..". */
static int normalize_into(const char *s, char *out, size_t cap, size_t *len)
{
	size_t o = *len; /* a local: out (a char *) could alias *len */
	int ret = 0;

	while (*s) {
		const char *c;
		size_t n;

		while (*s == '/')
			s++;
		c = s;
		while (*s && *s != '/')
			s++;
		n = (size_t)(s - c);
		if (n == 0 || (n == 1 && c[0] == '.'))
			continue;
		if (n == 2 && c[0] == '.' && c[1] == '.') {
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--; /* the slash */
			continue;
		}
		if (o + 1 + n + 1 > cap) {
			ret = -ENAMETOOLONG;
			break;
		}
		out[o++] = '/';
		memcpy(out + o, c, n);
		o += n;
	}
	*len = o;
	return ret;
}

int path_normalize(const char *base, const char *path, char *out, size_t cap)
{
	size_t o = 0;
	int ret;

	if (cap < 2) {
		if (cap)
			out[0] = '\0';
		return -ENAMETOOLONG;
	}
	if ((path[0] != '/' && base && (ret = normalize_into(base, out, cap, &o)) < 0) ||
	    (ret = normalize_into(path, out, cap, &o)) < 0) {
		out[0] = '\0';
		return ret;
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = '\0';
	return 0;
}

int path_abs(const char *path, const char *base, char **out)
{
	char cwd[PATH_MAX];
	struct sbuf in = SBUF_INIT;
	char *res = NULL;
	int ret = 0;

	*out = NULL;
	if (!path || !*path)
		return -EINVAL;
	if (path[0] != '/') {
		if (!base || base[0] != '/') {
			if (!getcwd(cwd, sizeof(cwd)))
				return -errno;
			sbuf_addstr(&in, cwd);
			sbuf_addch(&in, '/');
		}
		if (base) {
			sbuf_addstr(&in, base);
			sbuf_addch(&in, '/');
		}
	}
	sbuf_addstr(&in, path);
	if (in.err) {
		ret = in.err;
		goto out_release;
	}

	/* The normal form is never longer than the joined path, plus "/" for "". */
	res = malloc(in.len + 2);
	if (!res) {
		ret = -ENOMEM;
		goto out_release;
	}
	if ((ret = path_normalize(NULL, in.buf, res, in.len + 2)) < 0) {
		free(res);
		goto out_release;
	}
	*out = res;

out_release:
	sbuf_release(&in);
	return ret;
}

const char *path_base(const char *path)
{
	const char *s = strrchr(path, '/');
	return s && s[1] ? s + 1 : path;
}

/* ---- whole files ------------------------------------------------------------ */

int fd_read_each(int fd, void *buf, size_t cap, fd_chunk_fn *fn, void *ctx)
{
	for (;;) {
		ssize_t n = read(fd, buf, cap);
		int ret;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return 0;
		if ((ret = fn(ctx, buf, (size_t)n)) != 0)
			return ret;
	}
}

ssize_t fd_read_upto(int fd, void *buf, size_t cap)
{
	size_t have = 0;

	while (have < cap) {
		ssize_t n = read(fd, (char *)buf + have, cap - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		have += (size_t)n;
	}
	return (ssize_t)have;
}

static int sbuf_chunk(void *ctx, const void *p, size_t n)
{
	return sbuf_add(ctx, p, n);
}

int file_read_all(const char *path, struct sbuf *sb, size_t cap)
{
	char buf[65536];
	struct stat st;
	int fd, ret;

	sbuf_init(sb, cap);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* a regular file is read straight into a buffer of its size (a 10 MB graph
	 * is not copied through 64 KB chunks and a doubling buffer); what it grew by
	 * meanwhile, or what a pipe holds, the chunked way */
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
	    sbuf_grow(sb, (size_t)st.st_size) == 0) {
		while (sb->len < (size_t)st.st_size) {
			ssize_t r = read(fd, sb->buf + sb->len, (size_t)st.st_size - sb->len);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0) {
				ret = -errno;
				goto out_close;
			}
			if (r == 0)
				break;
			sb->len += (size_t)r;
		}
		sb->buf[sb->len] = '\0';
	}
	ret = sbuf_error(sb) == -E2BIG ? -E2BIG
					: fd_read_each(fd, buf, sizeof(buf), sbuf_chunk, sb);
out_close:
	close(fd);
	return ret;
}

int open_regular(const char *path, int extra, struct stat *sb)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | extra);
	int ret;

	if (fd < 0)
		return -errno;
	if (fstat(fd, sb) < 0)
		ret = -errno;
	else if (!S_ISREG(sb->st_mode))
		ret = -EINVAL;
	else
		return fd;
	close(fd);
	return ret;
}

int file_write_atomic(const char *path, const void *buf, size_t len, bool sync)
{
	char *tmp = NULL;
	const char *p = buf;
	int fd, ret = 0;

	if (asprintf(&tmp, "%s.%d.tmp", path, (int)getpid()) < 0)
		return -ENOMEM;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	while (len) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			goto out_unlink;
		}
		p += w;
		len -= (size_t)w;
	}
	if ((sync && fsync(fd) < 0) || close(fd) < 0) {
		ret = -errno;
		fd = -1;
		goto out_unlink;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		ret = -errno;
		goto out_unlink;
	}
	goto out;
out_unlink:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
out:
	free(tmp);
	return ret;
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(p);
	return 0;
}

static int rm_unlock(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)ftw;
	if (flag == FTW_D)
		chmod(p, (sb->st_mode & 07777) | S_IRWXU); /* read-only dirs keep their files */
	return 0;
}

int dir_walk_fd(int fd, dir_walk_fn *fn, void *ctx)
{
	DIR *d = fdopendir(fd);
	struct dirent *de;
	int ret = 0;

	if (!d) {
		ret = -errno;
		close(fd);
		return ret;
	}
	while (ret == 0 && (errno = 0, de = readdir(d))) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			ret = fn(ctx, dirfd(d), de->d_name);
	}
	if (ret == 0 && errno != 0)
		ret = -errno;
	closedir(d);
	return ret;
}

int dir_walk(int atfd, const char *path, int oflags, dir_walk_fn *fn, void *ctx)
{
	int fd = openat(atfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | oflags);

	return fd < 0 ? -errno : dir_walk_fd(fd, fn, ctx);
}

void rm_rf(const char *path)
{
	if (!path || !path[0])
		return;
	nftw(path, rm_unlock, 16, FTW_PHYS);
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void errbuf_set(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!buf || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07;
	} else {
		return 0; /* continuation byte, overlong lead (c0, c1) or past f4 */
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

int hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

uint64_t clock_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
