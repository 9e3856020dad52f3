/*
 * util.c - see util.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
	uint64_t h = 0xcbf29ce484222325ull;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ull;
	}
	return h;
}

static size_t strset_find(const char **slot, size_t nslots, const char *str)
{
	size_t mask = nslots - 1, i = (size_t)str_hash(str) & mask;
	while (slot[i] && strcmp(slot[i], str) != 0)
		i = (i + 1) & mask;
	return i;
}

int strset_add(struct strset *s, const char *str)
{
	size_t i;

	if ((s->n + 1) * 2 > s->nslots) {
		size_t nslots = s->nslots ? s->nslots * 2 : 64;
		const char **slot = calloc(nslots, sizeof(*slot));
		if (!slot)
			return -ENOMEM;
		for (size_t k = 0; k < s->nslots; k++)
			if (s->slot[k])
				slot[strset_find(slot, nslots, s->slot[k])] = s->slot[k];
		free(s->slot);
		s->slot = slot;
		s->nslots = nslots;
	}
	i = strset_find(s->slot, s->nslots, str);
	if (s->slot[i])
		return 0;
	s->slot[i] = str;
	s->n++;
	return 1;
}

bool strset_has(const struct strset *s, const char *str)
{
	return s->nslots && s->slot[strset_find(s->slot, s->nslots, str)] != NULL;
}

void strset_release(struct strset *s)
{
	free(s->slot);
	*s = (struct strset)STRSET_INIT;
}

/* ---- paths ---------------------------------------------------------------------- */

int path_abs(const char *path, const char *base, char **out)
{
	char cwd[PATH_MAX];
	struct sbuf in = SBUF_INIT;
	char *res = NULL, *p, *w;
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

	/* Rewrite the components into a buffer of the same size: never longer. */
	res = malloc(in.len + 2);
	if (!res) {
		ret = -ENOMEM;
		goto out_release;
	}
	w = res;
	for (p = in.buf; *p;) {
		char *end;
		size_t n;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		end = strchrnul(p, '/');
		n = (size_t)(end - p);
		if (n == 1 && p[0] == '.') {
			/* nothing */
		} else if (n == 2 && p[0] == '.' && p[1] == '.') {
			while (w > res && *--w != '/')
				;
		} else {
			*w++ = '/';
			memcpy(w, p, n);
			w += n;
		}
		p = end;
	}
	if (w == res)
		*w++ = '/';
	*w = '\0';
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

int file_read_all(const char *path, struct sbuf *sb, size_t cap)
{
	char buf[65536];
	ssize_t n;
	int fd, ret = 0;

	sbuf_init(sb, cap);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			break;
		}
		if ((ret = sbuf_add(sb, buf, (size_t)n)) < 0)
			break;
	}
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
