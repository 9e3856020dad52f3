/*
 * blobpack.c - many blobs of one kind in one file (see blobpack.h).
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/store/blobpack.h"
#include "runtime/store/store.h"
#include "runtime/ir/thunk.h"
#include "runtime/lib/util.h"

#define MAGIC_THUNK "GGTPACK" /* (8 bytes with the NUL) */
#define MAGIC_VALUE "GGVPACK"
#define PACK_HDR 16u
#define IDX_ENT 28u /* digest 16, u64 offset, u32 len */
#define TRAILER GG_HASH_LEN

struct blobpack {
	enum gg_hash_kind kind;
	const unsigned char *map;
	size_t size;
	uint32_t count;
	const unsigned char *idx;
};

static uint32_t get_u32(const unsigned char *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static uint64_t get_u64(const unsigned char *b)
{
	return (uint64_t)get_u32(b) | (uint64_t)get_u32(b + 4) << 32;
}

static void put_u32(unsigned char *b, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		b[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *b, uint64_t v)
{
	put_u32(b, (uint32_t)v);
	put_u32(b + 4, (uint32_t)(v >> 32));
}

void blobpack_free(struct blobpack *p)
{
	if (!p)
		return;
	munmap((void *)p->map, p->size);
	free(p);
}

static const char *pack_magic(enum gg_hash_kind kind)
{
	return kind == GG_HASH_THUNK ? MAGIC_THUNK : MAGIC_VALUE;
}

/* Header, index sorted and in bounds (the contents: blobpack_get, blobpack_check). */
static bool pack_checks(const unsigned char *m, size_t size, enum gg_hash_kind kind)
{
	uint32_t count;
	uint64_t data;

	if (size < PACK_HDR + TRAILER || memcmp(m, pack_magic(kind), 8) ||
	    get_u32(m + 8) != BLOBPACK_VERSION)
		return false;
	count = get_u32(m + 12);
	data = PACK_HDR + (uint64_t)count * IDX_ENT;
	if (data > size - TRAILER)
		return false;
	for (uint32_t i = 0; i < count; i++) {
		const unsigned char *e = m + PACK_HDR + (uint64_t)i * IDX_ENT;
		uint64_t off = get_u64(e + 16), len = get_u32(e + 24);
		if (off < data || off > size - TRAILER || len > size - TRAILER - off)
			return false;
		if (i && memcmp(e - IDX_ENT, e, GG_HASH_LEN) >= 0)
			return false;
	}
	return true;
}

int blobpack_open(const char *path, enum gg_hash_kind kind, unsigned flags,
		  struct blobpack **out)
{
	struct blobpack *p;
	struct stat sb;
	void *m;
	int fd, ret;

	*out = NULL;
	if (kind != GG_HASH_THUNK && kind != GG_HASH_VALUE)
		return -EINVAL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (fstat(fd, &sb) < 0) {
		ret = -errno;
		goto out_close;
	}
	if (sb.st_size < (off_t)(PACK_HDR + TRAILER) || (uint64_t)sb.st_size > BLOBPACK_MAX_FILE) {
		ret = -EBADMSG;
		goto out_close;
	}
	m = mmap(NULL, (size_t)sb.st_size, PROT_READ,
		 MAP_PRIVATE | (flags & BLOBPACK_POPULATE ? MAP_POPULATE : 0), fd, 0);
	if (m == MAP_FAILED) {
		ret = -errno;
		goto out_close;
	}
	if (!pack_checks(m, (size_t)sb.st_size, kind)) {
		munmap(m, (size_t)sb.st_size);
		ret = -EBADMSG;
		goto out_close;
	}
	if (!(p = calloc(1, sizeof(*p)))) {
		munmap(m, (size_t)sb.st_size);
		ret = -ENOMEM;
		goto out_close;
	}
	p->kind = kind;
	p->map = m;
	p->size = (size_t)sb.st_size;
	p->count = get_u32(p->map + 12);
	p->idx = p->map + PACK_HDR;
	*out = p;
	ret = 0;
out_close:
	close(fd);
	return ret;
}

/* The digest's first 8 bytes, big-endian: its place in the sorted index. */
static uint64_t digest_key(const unsigned char *d)
{
	uint64_t k;
	memcpy(&k, d, sizeof(k));
	return be64toh(k);
}

/*
 * Digests are uniform, so the index is searched by interpolation: the first probe is
 * where the digest's leading bytes say it is, and the window around it closes in a
 * few steps (binary search from there on, so a skewed index costs at most log n).
 */
static const unsigned char *pack_find(const struct blobpack *p, const struct gg_hash *h)
{
	size_t lo = 0, hi;
	uint64_t want;
	unsigned probes = 0;

	if (!p || h->kind != p->kind || !p->count)
		return NULL;
	hi = p->count;
	want = digest_key(h->bytes);
	while (lo < hi) {
		size_t mid;
		const unsigned char *e;
		int c;

		if (probes++ < 4) {
			uint64_t klo = digest_key(p->idx + lo * IDX_ENT);
			uint64_t khi = digest_key(p->idx + (hi - 1) * IDX_ENT);
			if (want <= klo)
				mid = lo;
			else if (want >= khi)
				mid = hi - 1;
			else
				mid = lo + (size_t)((unsigned __int128)(want - klo) * (hi - 1 - lo) /
						    (khi - klo));
		} else {
			mid = lo + (hi - lo) / 2;
		}
		e = p->idx + mid * IDX_ENT;
		c = memcmp(e, h->bytes, GG_HASH_LEN);
		if (!c)
			return e;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

bool blobpack_has(const struct blobpack *p, const struct gg_hash *h)
{
	return pack_find(p, h) != NULL;
}

int blobpack_get(const struct blobpack *p, const struct gg_hash *h, const void **buf,
		  size_t *len)
{
	const unsigned char *e = pack_find(p, h);
	struct gg_hash got;

	if (!e)
		return -ENOENT;
	*buf = p->map + get_u64(e + 16);
	*len = get_u32(e + 24);
	if (hash_buf(p->kind, *buf, *len, &got) < 0 || !hash_equal(&got, h))
		return -EBADMSG;
	return 0;
}

size_t blobpack_count(const struct blobpack *p)
{
	return p ? p->count : 0;
}

void blobpack_hash_at(const struct blobpack *p, size_t i, struct gg_hash *h)
{
	h->kind = p->kind;
	memcpy(h->bytes, p->idx + i * IDX_ENT, GG_HASH_LEN);
}

size_t blobpack_len_at(const struct blobpack *p, size_t i)
{
	return get_u32(p->idx + i * IDX_ENT + 24);
}

bool blobpack_trailer_ok(const struct blobpack *p)
{
	struct gg_hash sum;
	return hash_buf(GG_HASH_VALUE, p->map, p->size - TRAILER, &sum) == 0 &&
	       !memcmp(sum.bytes, p->map + p->size - TRAILER, TRAILER);
}

static int cmp_hash(const void *a, const void *b)
{
	return memcmp(((const struct gg_hash *)a)->bytes, ((const struct gg_hash *)b)->bytes,
		      GG_HASH_LEN);
}

/* Where the pack of `kind` whose trailer is `sum` goes: 0, or -ENAMETOOLONG. */
static int pack_path(const struct store *st, enum gg_hash_kind kind, const struct gg_hash *sum,
		     char *path, size_t size)
{
	int n;

	if (kind == GG_HASH_THUNK) {
		n = snprintf(path, size, "%s/thunks.pack", st->dir);
	} else {
		char hex[GG_HASH_HEX_LEN + 1];
		hash_to_hex(sum, hex);
		/* (hex[0] is the kind letter: the name is the first 16 digits of the digest) */
		n = snprintf(path, size, "%s/" BLOBPACK_DIR "/values-%.16s.pack", st->dir, hex + 1);
	}
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int blobpack_write(const struct store *st, enum gg_hash_kind kind, const struct gg_hash *h,
		   size_t n, char *written, size_t size)
{
	struct gg_hash *v = NULL, sum;
	struct sbuf owned = SBUF_INIT; /* char *: the encodings read from blobs/ */
	const void **src = NULL;       /* [k] where encoding k is */
	uint64_t total = 0;
	unsigned char *idx = NULL, hdr[PACK_HDR];
	char tmp[PATH_MAX], path[PATH_MAX];
	size_t m = 0, k = 0, max = kind == GG_HASH_THUNK ? THUNK_MAX_ENCODED : BLOBPACK_MAX_BLOB;
	uint64_t base;
	FILE *f = NULL;
	int ret = 0;

	if (written && size)
		written[0] = '\0';
	if (kind != GG_HASH_THUNK && kind != GG_HASH_VALUE)
		return -EINVAL;
	if (!(v = malloc((n ? n : 1) * sizeof(*v))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (h[i].kind == kind)
			v[m++] = h[i];
	qsort(v, m, sizeof(*v), cmp_hash);
	if (m >= UINT32_MAX || !(idx = malloc((m ? m : 1) * IDX_ENT))) {
		ret = -ENOMEM;
		goto out_free;
	}
	if (!(src = malloc((m ? m : 1) * sizeof(*src)))) {
		ret = -ENOMEM;
		goto out_free;
	}
	/* first pass: where each encoding is (verified as it is found); offsets relative */
	for (size_t i = 0; i < m; i++) {
		char *loose = NULL;
		size_t len;
		if (k && !memcmp(v[i].bytes, idx + (k - 1) * IDX_ENT, GG_HASH_LEN))
			continue; /* a duplicate */
		if (store_blob_bytes(st, &v[i], max, &src[k], &len, &loose) < 0)
			continue; /* missing or corrupt: left out */
		if (total + len > BLOBPACK_MAX_FILE / 2) {
			free(loose);
			continue; /* left where it is */
		}
		if (loose && (ret = sbuf_add(&owned, &loose, sizeof(loose))) < 0) {
			free(loose);
			goto out_free;
		}
		memcpy(idx + k * IDX_ENT, v[i].bytes, GG_HASH_LEN);
		put_u64(idx + k * IDX_ENT + 16, total);
		put_u32(idx + k * IDX_ENT + 24, (uint32_t)len);
		total += len;
		k++;
	}
	base = PACK_HDR + (uint64_t)k * IDX_ENT;
	for (size_t i = 0; i < k; i++)
		put_u64(idx + i * IDX_ENT + 16, base + get_u64(idx + i * IDX_ENT + 16));
	memcpy(hdr, pack_magic(kind), 8);
	put_u32(hdr + 8, BLOBPACK_VERSION);
	put_u32(hdr + 12, (uint32_t)k);
	{
		/* the trailer: one hash over header, index and data (streamed: no copy) */
		struct hash_stream *hs = hash_stream_new(GG_HASH_VALUE);
		if (!hs) {
			ret = -ENOMEM;
			goto out_free;
		}
		hash_stream_update(hs, hdr, PACK_HDR);
		hash_stream_update(hs, idx, k * IDX_ENT);
		for (size_t i = 0; i < k; i++)
			hash_stream_update(hs, src[i], get_u32(idx + i * IDX_ENT + 24));
		hash_stream_final(hs, &sum);
		hash_stream_free(hs);
		if (snprintf(tmp, sizeof(tmp), "%s/tmp/%s.pack.%ld.tmp", st->dir,
			     kind == GG_HASH_THUNK ? "thunks" : "values",
			     (long)getpid()) >= (int)sizeof(tmp) ||
		    pack_path(st, kind, &sum, path, sizeof(path)) < 0)
			ret = -ENAMETOOLONG;
		else if (kind == GG_HASH_VALUE && mkdirat(st->dirfd, BLOBPACK_DIR, 0755) < 0 &&
			 errno != EEXIST)
			ret = -errno;
		else if (!(f = fopen(tmp, "we")))
			ret = -errno;
		else if (fwrite(hdr, 1, PACK_HDR, f) != PACK_HDR || fwrite(idx, IDX_ENT, k, f) != k)
			ret = -EIO;
		for (size_t i = 0; f && !ret && i < k; i++) {
			size_t len = get_u32(idx + i * IDX_ENT + 24);
			if (fwrite(src[i], 1, len, f) != len)
				ret = -EIO;
		}
		if (f && !ret && fwrite(sum.bytes, 1, TRAILER, f) != TRAILER)
			ret = -EIO;
		if (f && fclose(f) != 0 && !ret)
			ret = -EIO;
		if (f && !ret && rename(tmp, path) < 0)
			ret = -errno;
		if (f && ret)
			unlink(tmp);
		if (!ret && written && snprintf(written, size, "%s", path) >= (int)size)
			ret = -ENAMETOOLONG;
	}
out_free:
	for (size_t i = 0; i < owned.len / sizeof(char *); i++)
		free(((char **)owned.buf)[i]);
	sbuf_release(&owned);
	free(src);
	free(idx);
	free(v);
	return ret;
}
