/*
 * mpread.c - msgpack read in place (see mpread.h).
 */
#include <errno.h>
#include <string.h>

#include "runtime/lib/mpread.h"

static size_t left(const struct mpr *r)
{
	return (size_t)(r->end - r->p);
}

/* n bytes big-endian (msgpack's order) into *v. */
static int be(struct mpr *r, unsigned n, uint64_t *v)
{
	uint64_t x = 0;
	if (left(r) < n)
		return -EBADMSG;
	for (unsigned i = 0; i < n; i++)
		x = x << 8 | r->p[i];
	r->p += n;
	*v = x;
	return 0;
}

static int tag(struct mpr *r, uint8_t *b)
{
	if (!left(r))
		return -EBADMSG;
	*b = *r->p++;
	return 0;
}

int mpr_array(struct mpr *r, size_t *n)
{
	uint64_t x;
	uint8_t b;
	int ret;

	if ((ret = tag(r, &b)) < 0)
		return ret;
	if (b >= 0x90 && b <= 0x9f)
		x = b & 0x0f;
	else if (b == 0xdc || b == 0xdd)
		ret = be(r, b == 0xdc ? 2 : 4, &x);
	else
		return -EBADMSG;
	if (ret < 0 || x > left(r))
		return -EBADMSG;
	*n = (size_t)x;
	return 0;
}

int mpr_uint(struct mpr *r, uint64_t *v)
{
	uint8_t b;
	int ret;

	if ((ret = tag(r, &b)) < 0)
		return ret;
	if (b <= 0x7f) {
		*v = b;
		return 0;
	}
	if (b >= 0xcc && b <= 0xcf)
		return be(r, 1u << (b - 0xcc), v);
	if (b >= 0xd0 && b <= 0xd3) { /* a signed form holding a non-negative value */
		uint64_t x;
		unsigned n = 1u << (b - 0xd0);
		if ((ret = be(r, n, &x)) < 0 || (n < 8 && (x >> (8 * n - 1))) || (n == 8 && (x >> 63)))
			return -EBADMSG;
		*v = x;
		return 0;
	}
	return -EBADMSG;
}

int mpr_bytes(struct mpr *r, const char **s, size_t *len)
{
	uint64_t x;
	uint8_t b;
	int ret = 0;

	if ((ret = tag(r, &b)) < 0)
		return ret;
	if (b >= 0xa0 && b <= 0xbf)
		x = b & 0x1f;
	else if (b >= 0xd9 && b <= 0xdb)
		ret = be(r, 1u << (b - 0xd9), &x);
	else if (b >= 0xc4 && b <= 0xc6)
		ret = be(r, 1u << (b - 0xc4), &x);
	else
		return -EBADMSG;
	if (ret < 0 || x > left(r))
		return -EBADMSG;
	*s = (const char *)r->p;
	*len = (size_t)x;
	r->p += x;
	return 0;
}

int mpr_bool(struct mpr *r, bool *v)
{
	if (!left(r) || (*r->p != 0xc2 && *r->p != 0xc3))
		return -EBADMSG;
	*v = *r->p++ == 0xc3;
	return 0;
}

bool mpr_nil(struct mpr *r)
{
	if (!left(r) || *r->p != 0xc0)
		return false;
	r->p++;
	return true;
}

/* One object, nested `depth` deep. */
static int skip_one(struct mpr *r, unsigned depth)
{
	static const uint8_t fixed[] = {
		/* 0xc0..0xdf: payload bytes of fixed-size forms; 0xff = look closer */
		0, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 4, 8, 1, 2, 4, 8,
		1, 2, 4, 8, 2, 3, 5, 9, 17, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	};
	uint64_t n = 0, skip = 0;
	uint8_t b;
	int ret;

	if (depth > MPR_MAX_DEPTH || (ret = tag(r, &b)) < 0)
		return -EBADMSG;
	if (b <= 0x7f || b >= 0xe0)
		return 0;
	if (b <= 0x8f || (b >= 0x90 && b <= 0x9f)) {
		n = (b & 0x0f) * (b <= 0x8f ? 2u : 1u);
	} else if (b <= 0xbf) {
		skip = b & 0x1f;
	} else if (fixed[b - 0xc0] != 0xff) {
		skip = fixed[b - 0xc0];
	} else if ((b >= 0xc4 && b <= 0xc6) || (b >= 0xd9 && b <= 0xdb)) {
		ret = be(r, 1u << (b >= 0xd9 ? b - 0xd9 : b - 0xc4), &skip);
	} else if (b >= 0xc7 && b <= 0xc9) { /* ext 8/16/32: length, type, data */
		ret = be(r, 1u << (b - 0xc7), &skip);
		skip++;
	} else if (b == 0xdc || b == 0xdd || b == 0xde || b == 0xdf) {
		ret = be(r, (b == 0xdc || b == 0xde) ? 2 : 4, &n);
		if (b >= 0xde)
			n *= 2;
	} else {
		return -EBADMSG; /* 0xc1: never used */
	}
	if (ret < 0 || skip > left(r) || n > left(r))
		return -EBADMSG;
	r->p += skip;
	for (uint64_t i = 0; i < n; i++)
		if ((ret = skip_one(r, depth + 1)) < 0)
			return ret;
	return 0;
}

int mpr_skip(struct mpr *r)
{
	return skip_one(r, 0);
}
