/*
 * trace_enc.c - msgpack encoding of trace records into a fixed buffer.
 *
 * The encoding is plain msgpack (the smallest form of each integer, str8/16/32 for
 * strings, fixarray/array16/array32), written by hand so that the shim links nothing
 * but libc; readers decode it with msgpack-c.
 */
#include <errno.h>
#include <string.h>

#define XXH_INLINE_ALL
#define XXH_NO_STREAM
#include <xxhash.h>

#include "shim/trace_enc.h"

/* The shim encodes its start-up and exit records with these: grouped with the
 * shim's other start-up code (SHIM_HOT in shim/shim.h). */
#define TENC_HOT __attribute__((hot))

static TENC_HOT void put(struct tenc *e, const void *p, size_t n)
{
	if (e->overflow || n > e->cap - e->len) {
		e->overflow = true;
		return;
	}
	memcpy(e->buf + e->len, p, n);
	e->len += n;
}

static TENC_HOT void put_be(struct tenc *e, uint8_t tag, uint64_t v, unsigned bytes)
{
	unsigned char b[9];
	b[0] = tag;
	for (unsigned i = 0; i < bytes; i++)
		b[1 + i] = (unsigned char)(v >> (8 * (bytes - 1 - i)));
	put(e, b, 1 + bytes);
}

static TENC_HOT void put_le32(char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (char)(v >> (8 * i));
}

static TENC_HOT void file_header(char out[GG_TRACE_HEADER_LEN], uint32_t version)
{
	memcpy(out, GG_TRACE_MAGIC, GG_TRACE_MAGIC_LEN);
	put_le32(out + 8, version);
	put_le32(out + 12, 0);
}

TENC_HOT void tenc_file_header(char out[GG_TRACE_HEADER_LEN])
{
	file_header(out, GG_TRACE_VERSION_LOG);
}

TENC_HOT void tenc_seg_header(char out[GG_TRACE_HEADER_LEN])
{
	file_header(out, GG_TRACE_VERSION);
}

TENC_HOT void tenc_seg_frame(char hdr[GG_TRACE_SEG_RECHDR_LEN], const char *rec, uint32_t pid,
		    uint64_t start)
{
	put_le32(hdr, GG_TRACE_SEG_SYNC);
	memcpy(hdr + 4, rec, 4); /* len */
	put_le32(hdr + 8, pid);
	put_le32(hdr + 12, (uint32_t)start);
	put_le32(hdr + 16, (uint32_t)(start >> 32));
	put_le32(hdr + 20, XXH32(hdr, 20, 0));
	memcpy(hdr + 24, rec + 4, 4); /* check */
}

TENC_HOT void tenc_uint(struct tenc *e, uint64_t v)
{
	if (v < 128) {
		unsigned char b = (unsigned char)v;
		put(e, &b, 1);
	} else if (v <= UINT8_MAX) {
		put_be(e, 0xcc, v, 1);
	} else if (v <= UINT16_MAX) {
		put_be(e, 0xcd, v, 2);
	} else if (v <= UINT32_MAX) {
		put_be(e, 0xce, v, 4);
	} else {
		put_be(e, 0xcf, v, 8);
	}
}

TENC_HOT void tenc_int(struct tenc *e, int64_t v)
{
	if (v >= 0) {
		tenc_uint(e, (uint64_t)v);
	} else if (v >= -32) {
		unsigned char b = (unsigned char)(int8_t)v;
		put(e, &b, 1);
	} else if (v >= INT8_MIN) {
		put_be(e, 0xd0, (uint64_t)v & 0xff, 1);
	} else if (v >= INT16_MIN) {
		put_be(e, 0xd1, (uint64_t)v & 0xffff, 2);
	} else if (v >= INT32_MIN) {
		put_be(e, 0xd2, (uint64_t)v & 0xffffffff, 4);
	} else {
		put_be(e, 0xd3, (uint64_t)v, 8);
	}
}

TENC_HOT void tenc_bool(struct tenc *e, bool v)
{
	unsigned char b = v ? 0xc3 : 0xc2;
	put(e, &b, 1);
}

TENC_HOT void tenc_nil(struct tenc *e)
{
	unsigned char b = 0xc0;
	put(e, &b, 1);
}

TENC_HOT void tenc_array(struct tenc *e, uint32_t n)
{
	if (n < 16) {
		unsigned char b = (unsigned char)(0x90 | n);
		put(e, &b, 1);
	} else if (n <= UINT16_MAX) {
		put_be(e, 0xdc, n, 2);
	} else {
		put_be(e, 0xdd, n, 4);
	}
}

static TENC_HOT size_t str_hdr_size(size_t n)
{
	return n < 32 ? 1 : n <= UINT8_MAX ? 2 : n <= UINT16_MAX ? 3 : 5;
}

TENC_HOT void tenc_strn(struct tenc *e, const char *s, size_t n)
{
	if (n < 32) {
		unsigned char b = (unsigned char)(0xa0 | n);
		put(e, &b, 1);
	} else if (n <= UINT8_MAX) {
		put_be(e, 0xd9, n, 1);
	} else if (n <= UINT16_MAX) {
		put_be(e, 0xda, n, 2);
	} else {
		put_be(e, 0xdb, n, 4);
	}
	put(e, s, n);
}

TENC_HOT void tenc_str(struct tenc *e, const char *s)
{
	tenc_strn(e, s ? s : "", s ? strlen(s) : 0);
}

TENC_HOT size_t tenc_str_size(size_t n)
{
	return str_hdr_size(n) + n;
}

#define LIST_HDR_MAX 5 /* array32: 0xdd + 4 bytes */

TENC_HOT void tenc_list_open(struct tenc *e, struct tenc_list *l)
{
	static const char zero[LIST_HDR_MAX];

	l->mark = e->len;
	l->n = 0;
	l->cut = false;
	put(e, zero, LIST_HDR_MAX);
}

TENC_HOT bool tenc_list_str(struct tenc *e, struct tenc_list *l, const char *s, size_t n,
		   size_t reserve)
{
	size_t need = str_hdr_size(n) + n;

	if (l->cut || e->overflow || l->n == UINT32_MAX || need > e->cap - e->len ||
	    reserve > e->cap - e->len - need) {
		l->cut = true;
		return false;
	}
	tenc_strn(e, s, n);
	l->n++;
	return true;
}

TENC_HOT void tenc_list_close(struct tenc *e, struct tenc_list *l)
{
	char hdr[LIST_HDR_MAX];
	struct tenc h = TENC_INIT(hdr, sizeof(hdr));
	size_t body = l->mark + LIST_HDR_MAX;

	if (e->overflow)
		return;
	/* the smallest header, then the elements moved down to follow it */
	tenc_array(&h, l->n);
	memmove(e->buf + l->mark + h.len, e->buf + body, e->len - body);
	memcpy(e->buf + l->mark, hdr, h.len);
	e->len -= LIST_HDR_MAX - h.len;
}

TENC_HOT size_t tenc_strv_size(char *const *v)
{
	size_t total = 5;
	for (size_t i = 0; v && v[i]; i++) {
		size_t n = strlen(v[i]);
		total += str_hdr_size(n) + n;
	}
	return total;
}

TENC_HOT size_t tenc_strv(struct tenc *e, char *const *v, size_t budget)
{
	size_t n = 0, used = 5 + 4; /* array header + a possible "..." */
	bool cut = false;

	for (; v && v[n]; n++) {
		size_t l = strlen(v[n]);
		if (used + str_hdr_size(l) + l > budget) {
			cut = true;
			break;
		}
		used += str_hdr_size(l) + l;
	}
	tenc_array(e, (uint32_t)(n + cut));
	for (size_t i = 0; i < n; i++)
		tenc_str(e, v[i]);
	if (cut)
		tenc_strn(e, "...", 3);
	return n;
}

TENC_HOT void tenc_begin(struct tenc *e, enum gg_rec type, uint64_t t, unsigned nfields)
{
	char hdr[GG_TRACE_RECHDR_LEN] = { 0 };
	e->len = 0;
	e->overflow = false;
	put(e, hdr, sizeof(hdr));
	tenc_array(e, 2 + nfields);
	tenc_uint(e, (uint64_t)type);
	tenc_uint(e, t);
}

TENC_HOT ssize_t tenc_finish(struct tenc *e)
{
	size_t n;

	if (e->overflow)
		return -ENOSPC;
	n = e->len - GG_TRACE_RECHDR_LEN;
	if (n > GG_TRACE_MAX_RECORD)
		return -EMSGSIZE;
	put_le32(e->buf, (uint32_t)n);
	put_le32(e->buf + 4, XXH32(e->buf + GG_TRACE_RECHDR_LEN, n, 0));
	return (ssize_t)e->len;
}

/* ---- whole records, generated from trace_schema.h (see trace_enc.h) ---------------- */

#define TENC_PUT_FN(e_, x_) tenc_uint(e_, x_)
#define TENC_PUT_I(e_, x_) tenc_int(e_, x_)
#define TENC_PUT_U(e_, x_) tenc_uint(e_, x_)
#define TENC_PUT_HOW(e_, x_) tenc_uint(e_, x_)
#define TENC_PUT_OP(e_, x_) tenc_uint(e_, x_)
#define TENC_PUT_B(e_, x_) tenc_bool(e_, x_)
#define TENC_PUT_S(e_, x_) tenc_str(e_, x_)
#define TENC_PUT_V(e_, x_) tenc_strv(e_, (x_).v, (x_).budget)
#define TENC_PUT_L(e_, x_) put_fill(e_, &(x_))
#define TENC_PUT_ACT(e_, x_) put_fill(e_, &(x_))
#define TENC_PUT_STDIO(e_, x_) put_ints(e_, x_, 3)

/* A fill field the caller left unset is an empty array. */
static TENC_HOT void put_fill(struct tenc *e, const struct tenc_fill *f)
{
	if (f->fill)
		f->fill(e, f->ctx);
	else
		tenc_array(e, 0);
}

static TENC_HOT void put_ints(struct tenc *e, const int *v, uint32_t n)
{
	tenc_array(e, n);
	for (uint32_t i = 0; i < n; i++)
		tenc_int(e, v[i]);
}

#define TENC_PUT_(kind, name, presence, member, json, text) TENC_PUT_##kind(e, r->name);
#define TENC_REC_(TYPE, number, name, head)                                              \
	TENC_HOT void tenc_rec_##name(struct tenc *e, uint64_t t, struct gg_rec_##name *r) \
	{                                                                                 \
		tenc_begin(e, GG_REC_##TYPE, t, GG_SCHEMA_NFIELDS(GG_FIELDS_##TYPE));     \
		GG_FIELDS_##TYPE(TENC_PUT_)                                               \
	}

TENC_REC_(PROC, 1, proc, X)
GG_REC_SCHEMA(TENC_REC_)

TENC_HOT void tenc_spawn_action(struct tenc *e, const struct gg_spawn_action *r)
{
	tenc_array(e, GG_SCHEMA_NFIELDS(GG_FIELDS_SPAWN_ACTION));
	GG_FIELDS_SPAWN_ACTION(TENC_PUT_)
}
