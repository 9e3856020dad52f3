/*
 * hash.c - XXH3-128 content hashes with a kind tag (see hash.h).
 *
 * xxHash is used header-only (XXH_INLINE_ALL): the functions become static to this
 * file, so libgg.a needs no libxxhash at link time and cannot clash with another
 * module's copy.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "runtime/ir/hash.h"
#include "runtime/lib/util.h"

#define HASH_READ_BUF (64 * 1024)

struct hash_stream {
	XXH3_state_t state; /* first: aligned_alloc gives it its 64-byte alignment */
	uint8_t kind;
};

static bool kind_seed(int kind, XXH64_hash_t *seed)
{
	switch (kind) {
	case GG_HASH_VALUE:
		*seed = GG_HASH_SEED_VALUE;
		return true;
	case GG_HASH_THUNK:
		*seed = GG_HASH_SEED_THUNK;
		return true;
	case GG_HASH_LIST:
		*seed = GG_HASH_SEED_LIST;
		return true;
	default:
		return false;
	}
}

bool hash_kind_valid(int kind)
{
	XXH64_hash_t seed;

	return kind_seed(kind, &seed);
}

static void digest_to_hash(XXH128_hash_t d, uint8_t kind, struct gg_hash *out)
{
	XXH128_canonical_t c;

	XXH128_canonicalFromHash(&c, d);
	out->kind = kind;
	memcpy(out->bytes, c.digest, GG_HASH_LEN);
}

int hash_buf(enum gg_hash_kind kind, const void *buf, size_t len, struct gg_hash *out)
{
	XXH64_hash_t seed;

	if (!kind_seed(kind, &seed))
		return -EINVAL;
	digest_to_hash(XXH3_128bits_withSeed(buf, len, seed), (uint8_t)kind, out);
	return 0;
}

struct fd_hash {
	struct hash_stream *hs;
	uint64_t total;
};

static int fd_hash_chunk(void *ctx, const void *p, size_t n)
{
	struct fd_hash *f = ctx;

	hash_stream_update(f->hs, p, n);
	f->total += n;
	return 0;
}

int hash_fd_as(int fd, enum gg_hash_kind kind, struct gg_hash *out, uint64_t *size)
{
	char buf[HASH_READ_BUF];
	struct fd_hash f = { hash_stream_new(kind), 0 };
	int ret;

	if (!f.hs)
		return -ENOMEM;
	if ((ret = fd_read_each(fd, buf, sizeof(buf), fd_hash_chunk, &f)) == 0) {
		hash_stream_final(f.hs, out);
		if (size)
			*size = f.total;
	}
	hash_stream_free(f.hs);
	return ret;
}

int hash_fd(int fd, struct gg_hash *out, uint64_t *size)
{
	return hash_fd_as(fd, GG_HASH_VALUE, out, size);
}

int hash_file(const char *path, struct gg_hash *out, uint64_t *size)
{
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	ret = hash_fd(fd, out, size);
	close(fd);
	return ret;
}

bool hash_equal(const struct gg_hash *a, const struct gg_hash *b)
{
	return a->kind == b->kind && memcmp(a->bytes, b->bytes, GG_HASH_LEN) == 0;
}

int hash_cmp(const struct gg_hash *a, const struct gg_hash *b)
{
	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	return memcmp(a->bytes, b->bytes, GG_HASH_LEN);
}

bool hash_is_set(const struct gg_hash *h)
{
	return h->kind != GG_HASH_NONE;
}

static const char hexdig[] = "0123456789abcdef";

char *hash_digest_hex(const struct gg_hash *h, char buf[2 * GG_HASH_LEN + 1])
{
	for (int i = 0; i < GG_HASH_LEN; i++) {
		buf[2 * i] = hexdig[h->bytes[i] >> 4];
		buf[2 * i + 1] = hexdig[h->bytes[i] & 15];
	}
	buf[2 * GG_HASH_LEN] = '\0';
	return buf;
}

char *hash_to_hex(const struct gg_hash *h, char buf[GG_HASH_HEX_SIZE])
{
	buf[0] = hash_kind_valid(h->kind) ? (char)h->kind : '?';
	hash_digest_hex(h, buf + 1);
	return buf;
}


int hash_from_hex(const char *s, size_t len, struct gg_hash *out)
{
	struct gg_hash h;

	if (len != GG_HASH_HEX_LEN || !hash_kind_valid((unsigned char)s[0]))
		return -EINVAL;
	h.kind = (uint8_t)s[0];
	for (int i = 0; i < GG_HASH_LEN; i++) {
		int hi = hex_value(s[1 + 2 * i]), lo = hex_value(s[2 + 2 * i]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		h.bytes[i] = (uint8_t)(hi << 4 | lo);
	}
	*out = h;
	return 0;
}

int hash_from_hex_str(const char *s, struct gg_hash *out)
{
	return hash_from_hex(s, strlen(s), out);
}

struct hash_stream *hash_stream_new(enum gg_hash_kind kind)
{
	struct hash_stream *s;
	XXH64_hash_t seed;
	size_t size = (sizeof(*s) + 63) & ~(size_t)63;

	if (!kind_seed(kind, &seed))
		return NULL;
	s = aligned_alloc(64, size);
	if (!s)
		return NULL;
	/*
	 * xxHash 0.8.1's reset_withSeed derives the seed's secret only when the state's
	 * previous seed differs: on reused heap memory that still holds our seed next to
	 * a clobbered secret it would hash with garbage.  A zeroed state is always
	 * re-derived (xxhash.h, XXH3_64bits_reset_withSeed).
	 */
	memset(s, 0, size);
	XXH3_128bits_reset_withSeed(&s->state, seed);
	s->kind = (uint8_t)kind;
	return s;
}

void hash_stream_update(struct hash_stream *s, const void *buf, size_t len)
{
	XXH3_128bits_update(&s->state, buf, len);
}

void hash_stream_final(const struct hash_stream *s, struct gg_hash *out)
{
	digest_to_hash(XXH3_128bits_digest(&s->state), s->kind, out);
}

void hash_stream_free(struct hash_stream *s)
{
	free(s);
}

uint64_t hash_key64(const struct gg_hash *h)
{
	uint64_t v;
	memcpy(&v, h->bytes, sizeof(v));
	return v ^ h->kind;
}
