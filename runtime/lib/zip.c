/*
 * zip.c - stored zip archives (zip.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/lib/zip.h"
#include "runtime/lib/util.h"

#define ZIP_DOS_TIME 0x0000u
#define ZIP_DOS_DATE 0x0021u /* 1980-01-01 */
#define ZIP_FLAGS 0x0800u    /* UTF-8 names */
#define ZIP_NEEDED 20u
#define ZIP_MADE_BY 0x0314u  /* UNIX, 2.0 */
#define ZIP_LIMIT 0xffffffffull

static uint32_t crc_table[256];
static bool crc_ready;

uint32_t zip_crc32(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	if (!crc_ready) { /* idempotent: racing threads write the same values */
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;
			for (int k = 0; k < 8; k++)
				c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
			crc_table[i] = c;
		}
		crc_ready = true;
	}
	crc = ~crc;
	while (len--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static void put16(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

static void put32(unsigned char *p, uint32_t v)
{
	put16(p, v & 0xffff);
	put16(p + 2, v >> 16);
}

static int write_all(struct zip_writer *z, const void *buf, size_t len)
{
	const char *p = buf;

	if (z->off + len > ZIP_LIMIT)
		return -EFBIG;
	while (len) {
		ssize_t w = write(z->fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		len -= (size_t)w;
		z->off += (uint64_t)w;
	}
	return 0;
}

int zip_open(struct zip_writer *z, const char *path)
{
	*z = (struct zip_writer)ZIP_WRITER_INIT;
	if (!(z->path = strdup(path)) || asprintf(&z->tmp, "%s.tmp", path) < 0) {
		z->tmp = NULL;
		zip_abort(z);
		return -ENOMEM;
	}
	z->fd = open(z->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (z->fd < 0) {
		int ret = -errno;
		zip_abort(z);
		return ret;
	}
	return 0;
}

static bool name_ok(const char *name)
{
	size_t len = strlen(name);

	if (!len || len > 0xffff || name[0] == '/' || name[len - 1] == '/' || strstr(name, "//"))
		return false;
	for (const char *c = name; c; c = strchr(c, '/')) {
		if (*c == '/')
			c++;
		if (!strncmp(c, "..", 2) && (c[2] == '/' || !c[2]))
			return false;
	}
	return true;
}

/* The local header of a new entry, with crc and sizes still zero. */
static int begin_entry(struct zip_writer *z, const char *name, mode_t mode,
		       struct zip_entry **out)
{
	unsigned char h[30];
	struct zip_entry *e;
	size_t nl = strlen(name);
	int ret;

	if (z->fd < 0)
		return -EBADF;
	if (!name_ok(name))
		return -EINVAL;
	if (z->n >= ZIP_MAX_ENTRIES)
		return -EFBIG;
	if (z->n == z->alloc) {
		size_t na = z->alloc ? z->alloc * 2 : 64;
		struct zip_entry *nv = realloc(z->v, na * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		z->v = nv;
		z->alloc = na;
	}
	e = &z->v[z->n];
	*e = (struct zip_entry){ .offset = (uint32_t)z->off, .mode = S_IFREG | (mode & 07777) };
	if (!(e->name = strdup(name)))
		return -ENOMEM;
	memset(h, 0, sizeof(h));
	put32(h, 0x04034b50u);
	put16(h + 4, ZIP_NEEDED);
	put16(h + 6, ZIP_FLAGS);
	put16(h + 8, 0);
	put16(h + 10, ZIP_DOS_TIME);
	put16(h + 12, ZIP_DOS_DATE);
	put16(h + 26, (uint32_t)nl);
	if ((ret = write_all(z, h, sizeof(h))) < 0 || (ret = write_all(z, name, nl)) < 0) {
		free(e->name);
		return ret;
	}
	z->n++;
	*out = e;
	return 0;
}

/* Patch crc and sizes into the entry's local header. */
static int end_entry(struct zip_writer *z, struct zip_entry *e)
{
	unsigned char f[12];

	put32(f, e->crc);
	put32(f + 4, e->size);
	put32(f + 8, e->size);
	if (pwrite(z->fd, f, sizeof(f), (off_t)e->offset + 14) != (ssize_t)sizeof(f))
		return errno ? -errno : -EIO;
	return 0;
}

int zip_add_buf(struct zip_writer *z, const char *name, const void *buf, size_t len,
		mode_t mode)
{
	struct zip_entry *e;
	int ret;

	if (len > ZIP_LIMIT)
		return -EFBIG;
	if ((ret = begin_entry(z, name, mode, &e)) < 0)
		return ret;
	if ((ret = write_all(z, buf, len)) < 0)
		return ret;
	e->crc = zip_crc32(0, buf, len);
	e->size = (uint32_t)len;
	return end_entry(z, e);
}

int zip_add_file(struct zip_writer *z, const char *name, const char *src, mode_t mode)
{
	char buf[65536];
	struct zip_entry *e;
	uint64_t size = 0;
	uint32_t crc = 0;
	struct stat sb;
	ssize_t n;
	int fd, ret;

	if ((fd = open_regular(src, 0, &sb)) < 0)
		return fd;
	if ((ret = begin_entry(z, name, mode, &e)) < 0)
		goto out_close;
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			goto out_close;
		}
		if ((ret = write_all(z, buf, (size_t)n)) < 0)
			goto out_close;
		crc = zip_crc32(crc, buf, (size_t)n);
		size += (uint64_t)n;
	}
	e->crc = crc;
	e->size = (uint32_t)size; /* write_all kept the archive, hence the member, < 4 GiB */
	ret = end_entry(z, e);
out_close:
	close(fd);
	return ret;
}

int zip_finish(struct zip_writer *z)
{
	uint64_t cd_start = z->off;
	unsigned char h[46], end[22];
	int ret = 0;

	for (size_t i = 0; i < z->n && !ret; i++) {
		const struct zip_entry *e = &z->v[i];
		size_t nl = strlen(e->name);
		memset(h, 0, sizeof(h));
		put32(h, 0x02014b50u);
		put16(h + 4, ZIP_MADE_BY);
		put16(h + 6, ZIP_NEEDED);
		put16(h + 8, ZIP_FLAGS);
		put16(h + 10, 0);
		put16(h + 12, ZIP_DOS_TIME);
		put16(h + 14, ZIP_DOS_DATE);
		put32(h + 16, e->crc);
		put32(h + 20, e->size);
		put32(h + 24, e->size);
		put16(h + 28, (uint32_t)nl);
		put32(h + 38, e->mode << 16);
		put32(h + 42, e->offset);
		if ((ret = write_all(z, h, sizeof(h))) == 0)
			ret = write_all(z, e->name, nl);
	}
	if (!ret) {
		memset(end, 0, sizeof(end));
		put32(end, 0x06054b50u);
		put16(end + 8, (uint32_t)z->n);
		put16(end + 10, (uint32_t)z->n);
		put32(end + 12, (uint32_t)(z->off - cd_start));
		put32(end + 16, (uint32_t)cd_start);
		ret = write_all(z, end, sizeof(end));
	}
	if (!ret && close(z->fd) < 0)
		ret = -errno;
	else if (ret)
		close(z->fd);
	z->fd = -1;
	if (!ret && rename(z->tmp, z->path) < 0)
		ret = -errno;
	zip_abort(z);
	return ret;
}

void zip_abort(struct zip_writer *z)
{
	if (z->fd >= 0)
		close(z->fd);
	if (z->tmp)
		unlink(z->tmp); /* gone already after a successful rename */
	for (size_t i = 0; i < z->n; i++)
		free(z->v[i].name);
	free(z->v);
	free(z->path);
	free(z->tmp);
	*z = (struct zip_writer)ZIP_WRITER_INIT;
}
