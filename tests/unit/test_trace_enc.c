/*
 * test_trace_enc.c - the record encoder (shim/trace_enc.h): integer and string
 * widths at every boundary, the record frame, list truncation and overflow.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <msgpack.h>

#define XXH_INLINE_ALL
#define XXH_NO_STREAM
#include <xxhash.h>

#include "shim/trace_enc.h"

static char buf[1 << 18];

static uint32_t le32(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;
	return (uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 | (uint32_t)u[3] << 24;
}

/* Decode the payload of the record in buf (after tenc_finish) with msgpack-c. */
static void decode(const struct tenc *e, msgpack_unpacked *up)
{
	size_t off = 0;
	msgpack_unpacked_init(up);
	assert_int_equal(msgpack_unpack_next(up, e->buf + GG_TRACE_RECHDR_LEN,
					     e->len - GG_TRACE_RECHDR_LEN, &off),
			 MSGPACK_UNPACK_SUCCESS);
	assert_int_equal(off, e->len - GG_TRACE_RECHDR_LEN);
	assert_int_equal(up->data.type, MSGPACK_OBJECT_ARRAY);
}

static void test_trace_enc__file_header(void **state)
{
	char hdr[GG_TRACE_HEADER_LEN];

	tenc_file_header(hdr);
	assert_memory_equal(hdr, "GGTRACE\n", 8);
	assert_int_equal(le32(hdr + 8), GG_TRACE_VERSION_LOG);
	assert_int_equal(le32(hdr + 12), 0);
	tenc_seg_header(hdr);
	assert_memory_equal(hdr, "GGTRACE\n", 8);
	assert_int_equal(le32(hdr + 8), GG_TRACE_VERSION_BATCH);
	assert_int_equal(GG_TRACE_VERSION, GG_TRACE_VERSION_BATCH);
	assert_int_equal(le32(hdr + 12), 0);
}

/* The segment frame: sync, length, pid, start, header check, the payload's check. */
static void test_trace_enc__seg_frame(void **state)
{
	struct tenc e = TENC_INIT(buf, sizeof(buf));
	char hdr[GG_TRACE_SEG_RECHDR_LEN];
	ssize_t n;

	tenc_begin(&e, GG_REC_EXIT, 7, 2);
	tenc_uint(&e, GG_EXIT_EXIT);
	tenc_int(&e, 3);
	n = tenc_finish(&e);
	assert_true(n > GG_TRACE_RECHDR_LEN);
	tenc_seg_frame(hdr, buf, 4242, 0x18ee000000000001ull);
	assert_memory_equal(hdr, "\xf7gg\x1e", 4);
	assert_int_equal(le32(hdr + 4), (uint32_t)n - GG_TRACE_RECHDR_LEN);
	assert_int_equal(le32(hdr + 8), 4242);
	assert_int_equal(le32(hdr + 12), 0x00000001u);
	assert_int_equal(le32(hdr + 16), 0x18ee0000u);
	assert_int_equal(le32(hdr + 20), XXH32(hdr, 20, 0));
	assert_int_equal(le32(hdr + 24),
			 XXH32(buf + GG_TRACE_RECHDR_LEN, (size_t)n - GG_TRACE_RECHDR_LEN, 0));
}

/* The frame: length of the payload, its XXH32, then [type, t, ...]. */
static void test_trace_enc__record_frame(void **state)
{
	struct tenc e = TENC_INIT(buf, sizeof(buf));
	msgpack_unpacked up;
	ssize_t n;

	tenc_begin(&e, GG_REC_CHDIR, 123456789012ull, 4);
	tenc_uint(&e, GG_FN_chdir);
	tenc_str(&e, "/tmp");
	tenc_int(&e, 0);
	tenc_int(&e, 0);
	n = tenc_finish(&e);
	assert_true(n > GG_TRACE_RECHDR_LEN);
	assert_int_equal((size_t)n, e.len);
	assert_int_equal(le32(buf), (uint32_t)n - GG_TRACE_RECHDR_LEN);
	assert_int_equal(le32(buf + 4), XXH32(buf + GG_TRACE_RECHDR_LEN, (size_t)n - 8, 0));
	decode(&e, &up);
	assert_int_equal(up.data.via.array.size, 6);
	assert_int_equal(up.data.via.array.ptr[0].via.u64, GG_REC_CHDIR);
	assert_int_equal(up.data.via.array.ptr[1].via.u64, 123456789012ull);
	msgpack_unpacked_destroy(&up);
}

/* Each integer takes the smallest msgpack form, and decodes to itself. */
static void test_trace_enc__integer_widths(void **state)
{
	static const struct { int64_t v; bool is_signed; unsigned char tag; size_t size; } cases[] = {
		{ 0, false, 0x00, 1 },
		{ 127, false, 0x7f, 1 },
		{ 128, false, 0xcc, 2 },
		{ 255, false, 0xcc, 2 },
		{ 256, false, 0xcd, 3 },
		{ 65535, false, 0xcd, 3 },
		{ 65536, false, 0xce, 5 },
		{ 4294967295ll, false, 0xce, 5 },
		{ 4294967296ll, false, 0xcf, 9 },
		{ INT64_MAX, false, 0xcf, 9 },
		{ 5, true, 0x05, 1 },
		{ -1, true, 0xff, 1 },
		{ -32, true, 0xe0, 1 },
		{ -33, true, 0xd0, 2 },
		{ -128, true, 0xd0, 2 },
		{ -129, true, 0xd1, 3 },
		{ -32768, true, 0xd1, 3 },
		{ -32769, true, 0xd2, 5 },
		{ INT32_MIN, true, 0xd2, 5 },
		{ (int64_t)INT32_MIN - 1, true, 0xd3, 9 },
		{ INT64_MIN, true, 0xd3, 9 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tenc e = TENC_INIT(buf, sizeof(buf));
		msgpack_unpacked up;
		const msgpack_object *o;
		size_t before;

		tenc_begin(&e, GG_REC_EXIT, 1, 1);
		before = e.len;
		if (cases[i].is_signed)
			tenc_int(&e, cases[i].v);
		else
			tenc_uint(&e, (uint64_t)cases[i].v);
		assert_int_equal(e.len - before, cases[i].size);
		assert_int_equal((unsigned char)buf[before], cases[i].tag);
		assert_true(tenc_finish(&e) > 0);
		decode(&e, &up);
		o = &up.data.via.array.ptr[2];
		if (cases[i].v < 0) {
			assert_int_equal(o->type, MSGPACK_OBJECT_NEGATIVE_INTEGER);
			assert_true(o->via.i64 == cases[i].v);
		} else {
			assert_int_equal(o->type, MSGPACK_OBJECT_POSITIVE_INTEGER);
			assert_true(o->via.u64 == (uint64_t)cases[i].v);
		}
		msgpack_unpacked_destroy(&up);
	}
	/* the largest unsigned */
	{
		struct tenc e = TENC_INIT(buf, sizeof(buf));
		msgpack_unpacked up;
		tenc_begin(&e, GG_REC_EXIT, 1, 1);
		tenc_uint(&e, UINT64_MAX);
		assert_true(tenc_finish(&e) > 0);
		decode(&e, &up);
		assert_true(up.data.via.array.ptr[2].via.u64 == UINT64_MAX);
		msgpack_unpacked_destroy(&up);
	}
}

/* Strings: fixstr up to 31 bytes, then str8, str16, str32; bytes kept as they are. */
static void test_trace_enc__string_widths(void **state)
{
	static const struct { size_t n; unsigned char tag; size_t hdr; } cases[] = {
		{ 0, 0xa0, 1 },     { 31, 0xbf, 1 },      { 32, 0xd9, 2 },     { 255, 0xd9, 2 },
		{ 256, 0xda, 3 },   { 65535, 0xda, 3 },   { 65536, 0xdb, 5 },  { 200000, 0xdb, 5 },
	};
	char *s = malloc(200001);

	assert_non_null(s);
	for (size_t i = 0; i < 200000; i++)
		s[i] = (char)('a' + i % 26);
	s[7] = (char)0xff; /* not UTF-8: still a str */
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tenc e = TENC_INIT(buf, sizeof(buf));
		msgpack_unpacked up;
		const msgpack_object *o;
		size_t before;

		tenc_begin(&e, GG_REC_EXIT, 1, 1);
		before = e.len;
		tenc_strn(&e, s, cases[i].n);
		assert_int_equal(e.len - before, cases[i].hdr + cases[i].n);
		assert_int_equal((unsigned char)buf[before], cases[i].tag);
		assert_true(tenc_finish(&e) > 0);
		decode(&e, &up);
		o = &up.data.via.array.ptr[2];
		assert_int_equal(o->type, MSGPACK_OBJECT_STR);
		assert_int_equal(o->via.str.size, cases[i].n);
		assert_memory_equal(o->via.str.ptr, s, cases[i].n);
		msgpack_unpacked_destroy(&up);
	}
	free(s);
}

static void test_trace_enc__null_string_is_empty(void **state)
{
	struct tenc e = TENC_INIT(buf, sizeof(buf));
	size_t before;

	tenc_begin(&e, GG_REC_EXIT, 1, 1);
	before = e.len;
	tenc_str(&e, NULL);
	assert_int_equal(e.len - before, 1);
	assert_int_equal((unsigned char)buf[before], 0xa0);
}

static void test_trace_enc__array_widths(void **state)
{
	static const struct { uint32_t n; unsigned char tag; size_t size; } cases[] = {
		{ 0, 0x90, 1 }, { 15, 0x9f, 1 }, { 16, 0xdc, 3 }, { 65535, 0xdc, 3 }, { 65536, 0xdd, 5 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tenc e = TENC_INIT(buf, sizeof(buf));
		tenc_array(&e, cases[i].n);
		assert_int_equal(e.len, cases[i].size);
		assert_int_equal((unsigned char)buf[0], cases[i].tag);
	}
}

static void test_trace_enc__bool_and_nil(void **state)
{
	struct tenc e = TENC_INIT(buf, sizeof(buf));
	tenc_bool(&e, true);
	tenc_bool(&e, false);
	tenc_nil(&e);
	assert_int_equal(e.len, 3);
	assert_memory_equal(buf, "\xc3\xc2\xc0", 3);
}

/* A vector that fits is written whole; strv_size is an upper bound of its size. */
static void test_trace_enc__strv_fits(void **state)
{
	char *const v[] = { (char *)"cc", (char *)"-c", (char *)"a.c", NULL };
	struct tenc e = TENC_INIT(buf, sizeof(buf));
	msgpack_unpacked up;
	size_t before;

	tenc_begin(&e, GG_REC_EXIT, 1, 1);
	before = e.len;
	assert_int_equal(tenc_strv(&e, v, 1000), 3);
	assert_true(e.len - before <= tenc_strv_size(v));
	assert_true(tenc_finish(&e) > 0);
	decode(&e, &up);
	assert_int_equal(up.data.via.array.ptr[2].via.array.size, 3);
	msgpack_unpacked_destroy(&up);
}

/* Over budget: as many entries as fit, then "..." (trace_format.h, Limits). */
static void test_trace_enc__strv_truncates_with_ellipsis(void **state)
{
	char *const v[] = { (char *)"aaaaaaaaaa", (char *)"bbbbbbbbbb", (char *)"cccccccccc", NULL };
	struct tenc e = TENC_INIT(buf, sizeof(buf));
	msgpack_unpacked up;
	const msgpack_object *a;
	size_t before;

	tenc_begin(&e, GG_REC_EXIT, 1, 1);
	before = e.len;
	/* 9 bytes reserved (array header + "..."), 11 per entry: two fit in 31 */
	assert_int_equal(tenc_strv(&e, v, 31), 2);
	assert_true(e.len - before <= 31);
	assert_true(tenc_finish(&e) > 0);
	decode(&e, &up);
	a = &up.data.via.array.ptr[2];
	assert_int_equal(a->via.array.size, 3);
	assert_int_equal(a->via.array.ptr[2].via.str.size, 3);
	assert_memory_equal(a->via.array.ptr[2].via.str.ptr, "...", 3);
	assert_memory_equal(a->via.array.ptr[1].via.str.ptr, "bbbbbbbbbb", 10);
	msgpack_unpacked_destroy(&up);

	/* nothing fits: just the marker */
	e = (struct tenc)TENC_INIT(buf, sizeof(buf));
	tenc_begin(&e, GG_REC_EXIT, 1, 1);
	assert_int_equal(tenc_strv(&e, v, 10), 0);
	assert_true(tenc_finish(&e) > 0);
	decode(&e, &up);
	a = &up.data.via.array.ptr[2];
	assert_int_equal(a->via.array.size, 1);
	assert_memory_equal(a->via.array.ptr[0].via.str.ptr, "...", 3);
	msgpack_unpacked_destroy(&up);
}

static void test_trace_enc__strv_null_is_empty(void **state)
{
	struct tenc e = TENC_INIT(buf, sizeof(buf));
	assert_int_equal(tenc_strv(&e, NULL, 100), 0);
	assert_int_equal(e.len, 1);
	assert_int_equal((unsigned char)buf[0], 0x90);
}

/* Overflow: nothing is written past the capacity and the record is refused. */
static void test_trace_enc__overflow_is_enospc(void **state)
{
	char small[32];
	struct tenc e = TENC_INIT(small, sizeof(small));

	memset(small, 0x55, sizeof(small));
	tenc_begin(&e, GG_REC_CHDIR, 1, 4);
	tenc_uint(&e, GG_FN_chdir);
	tenc_str(&e, "/a/path/that/is/far/too/long/for/the/buffer");
	assert_true(e.overflow);
	assert_true(e.len <= sizeof(small));
	tenc_int(&e, 0); /* further writes do nothing */
	assert_true(e.len <= sizeof(small));
	assert_int_equal(tenc_finish(&e), -ENOSPC);

	/* an exact fit is not an overflow */
	e = (struct tenc)TENC_INIT(small, 8 + 1 + 1 + 1 + 1);
	tenc_begin(&e, GG_REC_EXIT, 1, 1);
	tenc_uint(&e, 0);
	assert_false(e.overflow);
	assert_int_equal(tenc_finish(&e), 12);
	/* one byte more is */
	tenc_uint(&e, 0);
	assert_int_equal(tenc_finish(&e), -ENOSPC);

	/* tenc_begin starts over */
	tenc_begin(&e, GG_REC_EXIT, 1, 1);
	tenc_uint(&e, 0);
	assert_int_equal(tenc_finish(&e), 12);
}

/* A payload past GG_TRACE_MAX_RECORD is refused even when the buffer is bigger. */
static void test_trace_enc__record_too_big(void **state)
{
	size_t cap = GG_TRACE_MAX_RECORD + 1024;
	char *big = malloc(cap), *s = malloc(GG_TRACE_MAX_RECORD);
	struct tenc e = TENC_INIT(big, cap);

	assert_non_null(big);
	assert_non_null(s);
	memset(s, 'x', GG_TRACE_MAX_RECORD);
	tenc_begin(&e, GG_REC_EXIT, 1, 1);
	tenc_strn(&e, s, GG_TRACE_MAX_RECORD);
	assert_false(e.overflow);
	assert_int_equal(tenc_finish(&e), -EMSGSIZE);
	free(s);
	free(big);
}

/*
 * A list closed after its elements (a directory read in one pass) has the same
 * bytes as tenc_array(n) and the elements, at every header width.
 */
static void test_trace_enc__list_same_bytes_as_array(void **state)
{
	static char want[1 << 18];
	static const uint32_t counts[] = { 0, 1, 15, 16, 17, 65535, 65536, 70000 };
	char name[16];

	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		struct tenc a = TENC_INIT(want, sizeof(want)), b = TENC_INIT(buf, sizeof(buf));
		struct tenc_list l;

		tenc_begin(&a, GG_REC_LIST, 7, 6);
		tenc_str(&a, "/d");
		tenc_array(&a, counts[i]);
		tenc_begin(&b, GG_REC_LIST, 7, 6);
		tenc_str(&b, "/d");
		tenc_list_open(&b, &l);
		for (uint32_t k = 0; k < counts[i]; k++) {
			int n = snprintf(name, sizeof(name), "%x", k & 0xf);
			tenc_strn(&a, name, (size_t)n);
			assert_true(tenc_list_str(&b, &l, name, (size_t)n, 1));
		}
		tenc_list_close(&b, &l);
		tenc_bool(&a, false);
		tenc_bool(&b, false);
		assert_false(a.overflow);
		assert_false(b.overflow);
		assert_false(l.cut);
		assert_int_equal(l.n, counts[i]);
		assert_int_equal(b.len, a.len);
		assert_memory_equal(buf, want, a.len);
	}
}

/*
 * A full buffer cuts the list: the strings that fit are kept, the list stays a
 * prefix (a shorter string after the cut is refused too), `reserve` bytes stay free
 * for what follows, and the record is well-formed.
 */
static void test_trace_enc__list_cut_keeps_reserve(void **state)
{
	char small[64];
	struct tenc e = TENC_INIT(small, sizeof(small));
	struct tenc_list l;
	msgpack_unpacked up;
	const msgpack_object *names;
	uint32_t kept = 0;
	ssize_t n;

	tenc_begin(&e, GG_REC_LIST, 1, 2);
	tenc_list_open(&e, &l);
	for (int k = 0; k < 100; k++) {
		if (!tenc_list_str(&e, &l, "abcdefg", 7, 1))
			break;
		kept++;
	}
	assert_true(l.cut);
	assert_int_equal(l.n, kept);
	assert_true(kept > 0);
	assert_false(tenc_list_str(&e, &l, "", 0, 0)); /* cut stays cut */
	assert_int_equal(l.n, kept);
	tenc_list_close(&e, &l);
	assert_true(sizeof(small) - e.len >= 1);
	tenc_bool(&e, l.cut);
	assert_false(e.overflow);
	n = tenc_finish(&e);
	assert_true(n > 0);
	decode(&e, &up);
	names = &up.data.via.array.ptr[2];
	assert_int_equal(names->type, MSGPACK_OBJECT_ARRAY);
	assert_int_equal(names->via.array.size, kept);
	assert_int_equal(names->via.array.ptr[kept - 1].via.str.size, 7);
	assert_true(up.data.via.array.ptr[3].via.boolean);
	msgpack_unpacked_destroy(&up);

	/* a string that fits only without the reserve is refused */
	e = (struct tenc)TENC_INIT(small, 8 + 1 + 1 + 1 + 5 + 4);
	tenc_begin(&e, GG_REC_LIST, 1, 2);
	tenc_list_open(&e, &l);
	assert_false(tenc_list_str(&e, &l, "abc", 3, 1));
	assert_true(l.cut);
	tenc_list_close(&e, &l);
	assert_int_equal(e.len, 8 + 1 + 1 + 1 + 1); /* the header shrank to 0x90 */
}

/* The generated encoder writes the fields in the schema's order, as hand-written calls would. */
static void test_trace_enc__record_from_schema_is_same_bytes(void **state)
{
	static char want[4096];
	struct tenc a = TENC_INIT(want, sizeof(want)), b = TENC_INIT(buf, sizeof(buf));
	char *const argv[] = { (char *)"cc", (char *)"-c", NULL };

	tenc_begin(&a, GG_REC_OPEN, 99, 6);
	tenc_uint(&a, GG_FN_openat);
	tenc_str(&a, "/src/a.c");
	tenc_int(&a, 0101);
	tenc_uint(&a, 0644);
	tenc_int(&a, -1);
	tenc_uint(&a, 13);
	tenc_rec_open(&b, 99, &(struct gg_rec_open){ .fn = GG_FN_openat, .path = "/src/a.c",
						      .flags = 0101, .mode = 0644, .ret = -1,
						      .err = 13 });
	assert_int_equal(tenc_finish(&a), tenc_finish(&b));
	assert_memory_equal(want, buf, a.len);

	a = (struct tenc)TENC_INIT(want, sizeof(want));
	b = (struct tenc)TENC_INIT(buf, sizeof(buf));
	tenc_begin(&a, GG_REC_PROC, 5, 15);
	tenc_uint(&a, 4242);
	tenc_uint(&a, 1);
	tenc_uint(&a, GG_ORIGIN_EXEC);
	tenc_uint(&a, 0x18ec000000000000ull);
	tenc_str(&a, "/bin/cc");
	tenc_str(&a, NULL);
	tenc_strv(&a, argv, 100);
	tenc_strv(&a, NULL, 100);
	tenc_str(&a, "/src");
	tenc_uint(&a, 022);
	tenc_uint(&a, 1000);
	tenc_uint(&a, 1000);
	tenc_str(&a, "");
	tenc_array(&a, 3);
	tenc_int(&a, 2);
	tenc_int(&a, -1);
	tenc_int(&a, 1);
	tenc_bool(&a, true);
	tenc_rec_proc(&b, 5, &(struct gg_rec_proc){
		.pid = 4242, .ppid = 1, .origin = GG_ORIGIN_EXEC, .start_ns = 0x18ec000000000000ull,
		.exe = "/bin/cc", .argv = { argv, 100 }, .env = { NULL, 100 }, .cwd = "/src",
		.umask = 022, .uid = 1000, .gid = 1000, .stdio = { 2, -1, 1 }, .batched = true });
	assert_int_equal(tenc_finish(&a), tenc_finish(&b));
	assert_memory_equal(want, buf, a.len);
}

/* A fill runs when its field is reached and may set the fields after it. */
static void list_fill_two(struct tenc *e, void *ctx)
{
	struct gg_rec_list *r = ctx;
	struct tenc_list l;

	tenc_list_open(e, &l);
	tenc_list_str(e, &l, "a", 1, 1);
	tenc_list_str(e, &l, "b", 1, 1);
	tenc_list_close(e, &l);
	r->truncated = true;
}

static void action_fill(struct tenc *e, void *ctx)
{
	tenc_array(e, 1);
	tenc_spawn_action(e, &(struct gg_spawn_action){ .op = GG_SPAWN_OPEN, .fd = 5,
							 .fd2 = -1, .path = "in.txt", .flags = 0,
							 .mode = 0600 });
}

static void test_trace_enc__record_fills(void **state)
{
	struct tenc e = TENC_INIT(buf, sizeof(buf));
	struct gg_rec_list r = { .fn = GG_FN_opendir, .path = "/d" };
	msgpack_unpacked up;
	const msgpack_object *f, *act;

	r.names = (struct tenc_fill){ .fill = list_fill_two, .ctx = &r };
	tenc_rec_list(&e, 7, &r);
	assert_true(tenc_finish(&e) > 0);
	decode(&e, &up);
	f = up.data.via.array.ptr;
	assert_int_equal(up.data.via.array.size, 2 + 6);
	assert_int_equal(f[6].type, MSGPACK_OBJECT_ARRAY);
	assert_int_equal(f[6].via.array.size, 2);
	assert_int_equal(f[7].type, MSGPACK_OBJECT_BOOLEAN);
	assert_true(f[7].via.boolean);
	msgpack_unpacked_destroy(&up);

	/* an unset fill is an empty list */
	e = (struct tenc)TENC_INIT(buf, sizeof(buf));
	tenc_rec_spawn(&e, 8, &(struct gg_rec_spawn){ .fn = GG_FN_posix_spawn, .path = "/bin/x" });
	assert_true(tenc_finish(&e) > 0);
	decode(&e, &up);
	assert_int_equal(up.data.via.array.ptr[8].via.array.size, 0);
	msgpack_unpacked_destroy(&up);

	e = (struct tenc)TENC_INIT(buf, sizeof(buf));
	tenc_rec_spawn(&e, 8, &(struct gg_rec_spawn){ .fn = GG_FN_posix_spawn, .path = "/bin/x",
						       .actions = { .fill = action_fill } });
	assert_true(tenc_finish(&e) > 0);
	decode(&e, &up);
	act = &up.data.via.array.ptr[8];
	assert_int_equal(act->via.array.size, 1);
	assert_int_equal(act->via.array.ptr[0].via.array.size, 6);
	assert_int_equal(act->via.array.ptr[0].via.array.ptr[0].via.u64, GG_SPAWN_OPEN);
	assert_int_equal(act->via.array.ptr[0].via.array.ptr[5].via.u64, 0600);
	msgpack_unpacked_destroy(&up);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_trace_enc__file_header),
		cmocka_unit_test(test_trace_enc__seg_frame),
		cmocka_unit_test(test_trace_enc__record_frame),
		cmocka_unit_test(test_trace_enc__integer_widths),
		cmocka_unit_test(test_trace_enc__string_widths),
		cmocka_unit_test(test_trace_enc__null_string_is_empty),
		cmocka_unit_test(test_trace_enc__array_widths),
		cmocka_unit_test(test_trace_enc__bool_and_nil),
		cmocka_unit_test(test_trace_enc__strv_fits),
		cmocka_unit_test(test_trace_enc__strv_truncates_with_ellipsis),
		cmocka_unit_test(test_trace_enc__strv_null_is_empty),
		cmocka_unit_test(test_trace_enc__overflow_is_enospc),
		cmocka_unit_test(test_trace_enc__record_too_big),
		cmocka_unit_test(test_trace_enc__list_same_bytes_as_array),
		cmocka_unit_test(test_trace_enc__list_cut_keeps_reserve),
		cmocka_unit_test(test_trace_enc__record_from_schema_is_same_bytes),
		cmocka_unit_test(test_trace_enc__record_fills),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
