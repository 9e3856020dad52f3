/* Unit tests for runtime/hash.c: XXH3-128 values, kinds, hex forms, streaming. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "runtime/ir/hash.h"

/* Known answers from libxxhash's XXH3_128bits (seed 0), canonical order. */
static void test_hash__known_values(void **state)
{
	static const struct { const char *in, *want; } cases[] = {
		{ "", "V99aa06d3014798d86001c324468d497f" },
		{ "abc", "V06b05ab6733a618578af5f94892f3950" },
	};
	char hex[GG_HASH_HEX_SIZE];
	struct gg_hash h;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(hash_buf(GG_HASH_VALUE, cases[i].in, strlen(cases[i].in), &h), 0);
		assert_int_equal(h.kind, 'V');
		assert_string_equal(hash_to_hex(&h, hex), cases[i].want);
	}
}

/* The same bytes hashed as a value, a thunk and a listing differ in digest too. */
static void test_hash__kinds_are_separated(void **state)
{
	static const char data[] = "\x9f\xa7ggthunk\x01";
	struct gg_hash v, t, l;

	assert_int_equal(hash_buf(GG_HASH_VALUE, data, sizeof(data) - 1, &v), 0);
	assert_int_equal(hash_buf(GG_HASH_THUNK, data, sizeof(data) - 1, &t), 0);
	assert_int_equal(hash_buf(GG_HASH_LIST, data, sizeof(data) - 1, &l), 0);
	assert_false(hash_equal(&v, &t));
	assert_false(hash_equal(&v, &l));
	assert_memory_not_equal(v.bytes, t.bytes, GG_HASH_LEN);
	assert_memory_not_equal(v.bytes, l.bytes, GG_HASH_LEN);
	assert_memory_not_equal(t.bytes, l.bytes, GG_HASH_LEN);
	/* same digest bytes, different kind: still not equal */
	t = v;
	t.kind = GG_HASH_THUNK;
	assert_false(hash_equal(&v, &t));
	assert_int_not_equal(hash_cmp(&v, &t), 0);
	assert_int_equal(hash_buf(GG_HASH_NONE, data, 1, &v), -EINVAL);
	assert_int_equal(hash_buf('X', data, 1, &v), -EINVAL);
}

static void test_hash__hex_roundtrip(void **state)
{
	char hex[GG_HASH_HEX_SIZE], hex2[GG_HASH_HEX_SIZE];
	struct gg_hash h, back;

	for (int kind = 0; kind < 3; kind++) {
		static const enum gg_hash_kind kinds[] = { GG_HASH_VALUE, GG_HASH_THUNK, GG_HASH_LIST };

		assert_int_equal(hash_buf(kinds[kind], "x", 1, &h), 0);
		hash_to_hex(&h, hex);
		assert_int_equal(strlen(hex), GG_HASH_HEX_LEN);
		assert_int_equal(hex[0], (char)kinds[kind]);
		assert_int_equal(hash_from_hex_str(hex, &back), 0);
		assert_true(hash_equal(&h, &back));
		/* upper-case digits are accepted, printed back lower-case */
		for (char *p = hex + 1; *p; p++)
			if (*p >= 'a' && *p <= 'f')
				*p = (char)(*p - 'a' + 'A');
		assert_int_equal(hash_from_hex_str(hex, &back), 0);
		assert_true(hash_equal(&h, &back));
		assert_string_equal(hash_to_hex(&back, hex2), hash_to_hex(&h, hex));
	}
}

static void test_hash__hex_rejects_bad_forms(void **state)
{
	static const char *const bad[] = {
		"",
		"V",
		"99aa06d3014798d86001c324468d497f",   /* no kind */
		"X99aa06d3014798d86001c324468d497f",  /* unknown kind */
		"v99aa06d3014798d86001c324468d497f",  /* kinds are upper-case */
		"V99aa06d3014798d86001c324468d497",   /* short */
		"V99aa06d3014798d86001c324468d497f0", /* long */
		"V99aa06d3014798d86001c324468d497g",  /* not hex */
		"V99aa06d3014798d86001c324468d49 f",
	};
	struct gg_hash h = GG_HASH_INIT;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(hash_from_hex_str(bad[i], &h), -EINVAL);
	assert_false(hash_is_set(&h)); /* untouched on failure */
	/* an embedded NUL within the given length is not hex either */
	assert_int_equal(hash_from_hex("V99aa06d3014798d8\0001c324468d497f", 33, &h), -EINVAL);
}

/* File hashing crosses the 64 KiB read buffer and agrees with the one-shot hash. */
static void test_hash__file_matches_buffer(void **state)
{
	static const size_t sizes[] = { 0, 1, 65535, 65536, 65537, 200000 };
	char path[] = "/tmp/gg-test-hash-XXXXXX";
	struct gg_hash a, b;
	uint64_t size;
	char *data;
	int fd;

	data = malloc(200000);
	assert_non_null(data);
	for (size_t i = 0; i < 200000; i++)
		data[i] = (char)(i * 2654435761u >> 13);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		fd = mkstemp(path);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, data, sizes[i]), (ssize_t)sizes[i]);
		close(fd);
		assert_int_equal(hash_file(path, &a, &size), 0);
		assert_int_equal(size, sizes[i]);
		assert_int_equal(hash_buf(GG_HASH_VALUE, data, sizes[i], &b), 0);
		assert_true(hash_equal(&a, &b));
		unlink(path);
		strcpy(path, "/tmp/gg-test-hash-XXXXXX");
	}
	free(data);
	assert_int_equal(hash_file("/nonexistent/gg/file", &a, NULL), -ENOENT);
}

static void test_hash__stream_matches_oneshot(void **state)
{
	static const char data[] = "the quick brown fox jumps over the lazy dog, twice over";
	struct hash_stream *s;
	struct gg_hash a, b;

	s = hash_stream_new(GG_HASH_THUNK);
	assert_non_null(s);
	for (size_t i = 0; i < sizeof(data) - 1; i += 7)
		hash_stream_update(s, data + i, (sizeof(data) - 1 - i) < 7 ? sizeof(data) - 1 - i : 7);
	hash_stream_final(s, &a);
	hash_stream_free(s);
	assert_int_equal(hash_buf(GG_HASH_THUNK, data, sizeof(data) - 1, &b), 0);
	assert_true(hash_equal(&a, &b));
	assert_null(hash_stream_new(GG_HASH_NONE));
}

/*
 * Streams of every kind over inputs of every length up to 4 KiB, with heap churn in
 * between, hash like the one-shot function (xxHash 0.8.1's seeded streams reuse a
 * stale secret from uninitialised memory: hash_stream_new zeroes its state).
 */
static void test_hash__stream_matches_oneshot_with_churn(void **state)
{
	static char data[4096];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char)(i * 31);
	for (size_t len = 0; len <= sizeof(data); len += 97) {
		for (int k = 0; k < 3; k++) {
			enum gg_hash_kind kind = k == 0 ? GG_HASH_VALUE : k == 1 ? GG_HASH_THUNK : GG_HASH_LIST;
			struct gg_hash one, streamed;
			struct hash_stream *s = hash_stream_new(kind);
			void *junk = malloc(700);
			assert_non_null(s);
			assert_non_null(junk);
			memset(junk, (int)len, 700);
			free(junk);
			assert_int_equal(hash_buf(kind, data, len, &one), 0);
			hash_stream_update(s, data, len / 2);
			hash_stream_update(s, data + len / 2, len - len / 2);
			hash_stream_final(s, &streamed);
			assert_true(hash_equal(&one, &streamed));
			hash_stream_free(s);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash__stream_matches_oneshot_with_churn),
		cmocka_unit_test(test_hash__known_values),
		cmocka_unit_test(test_hash__kinds_are_separated),
		cmocka_unit_test(test_hash__hex_roundtrip),
		cmocka_unit_test(test_hash__hex_rejects_bad_forms),
		cmocka_unit_test(test_hash__file_matches_buffer),
		cmocka_unit_test(test_hash__stream_matches_oneshot),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
