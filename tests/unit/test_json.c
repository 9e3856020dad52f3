/*
 * test_json.c - the JSON writer: structure and commas, string escaping (control
 * characters, valid and invalid UTF-8), the cap, misuse, reuse.
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

#include "runtime/lib/json.h"

static void test_json__nested_structure_and_commas(void **state)
{
	struct json j;
	const char *const argv[] = { "cc", "-c", "a.c" };

	json_init(&j, 0);
	json_obj_begin(&j);
	json_kv_str(&j, "log", "1-2");
	json_kv_int(&j, "pid", -5);
	json_kv_uint(&j, "t", UINT64_MAX);
	json_kv_bool(&j, "ok", false);
	json_key(&j, "parent");
	json_null(&j);
	json_key(&j, "argv");
	json_strv(&j, argv, 3);
	json_key(&j, "empty");
	json_arr_begin(&j);
	json_arr_end(&j);
	json_key(&j, "objs");
	json_arr_begin(&j);
	json_obj_begin(&j);
	json_obj_end(&j);
	json_obj_begin(&j);
	json_kv_int(&j, "a", 1);
	json_obj_end(&j);
	json_arr_end(&j);
	json_key(&j, "s");
	json_str(&j, NULL);
	json_obj_end(&j);
	assert_int_equal(json_error(&j), 0);
	assert_string_equal(j.sb.buf,
			    "{\"log\":\"1-2\",\"pid\":-5,\"t\":18446744073709551615,\"ok\":false,"
			    "\"parent\":null,\"argv\":[\"cc\",\"-c\",\"a.c\"],\"empty\":[],"
			    "\"objs\":[{},{\"a\":1}],\"s\":null}");
	json_release(&j);
}

static void test_json__int_extremes(void **state)
{
	struct json j;

	json_init(&j, 0);
	json_arr_begin(&j);
	json_int(&j, INT64_MIN);
	json_int(&j, INT64_MAX);
	json_uint(&j, 0);
	json_arr_end(&j);
	assert_string_equal(j.sb.buf, "[-9223372036854775808,9223372036854775807,0]");
	json_release(&j);
}

/* Table: input bytes -> escaped body. */
static const struct {
	const char *in;
	size_t n;
	const char *out;
} escapes[] = {
	{ "plain", 5, "plain" },
	{ "q\"b\\s/", 6, "q\\\"b\\\\s/" },
	{ "\n\t\r\b\f", 5, "\\n\\t\\r\\b\\f" },
	{ "\x01\x1f\x7f", 3, "\\u0001\\u001f\\u007f" },
	{ "nul\0in", 6, "nul\\u0000in" },
	/* valid UTF-8 passes through: é, €, U+10FFFF */
	{ "\xc3\xa9\xe2\x82\xac\xf4\x8f\xbf\xbf", 9, "\xc3\xa9\xe2\x82\xac\xf4\x8f\xbf\xbf" },
	/* Latin-1 é alone */
	{ "caf\xe9", 4, "caf\\u00e9" },
	/* lone continuation byte */
	{ "\x80x", 2, "\\u0080x" },
	/* overlong "/" (c0 af) and overlong 3-byte (e0 80 af) */
	{ "\xc0\xaf", 2, "\\u00c0\\u00af" },
	{ "\xe0\x80\xaf", 3, "\\u00e0\\u0080\\u00af" },
	/* UTF-16 surrogate U+D800 encoded (ed a0 80) */
	{ "\xed\xa0\x80", 3, "\\u00ed\\u00a0\\u0080" },
	/* past U+10FFFF (f4 90 80 80) and f5 */
	{ "\xf4\x90\x80\x80", 4, "\\u00f4\\u0090\\u0080\\u0080" },
	{ "\xf5", 1, "\\u00f5" },
	/* a sequence cut by the end of the string, and one cut by an ASCII byte */
	{ "a\xe2\x82", 3, "a\\u00e2\\u0082" },
	{ "\xe2\x82x", 3, "\\u00e2\\u0082x" },
	{ "\xff\xfe", 2, "\\u00ff\\u00fe" },
};

static void test_json__escapes_table(void **state)
{
	for (size_t i = 0; i < sizeof(escapes) / sizeof(escapes[0]); i++) {
		struct json j;
		char *want;

		json_init(&j, 0);
		json_strn(&j, escapes[i].in, escapes[i].n);
		assert_int_equal(json_error(&j), 0);
		assert_int_equal(asprintf(&want, "\"%s\"", escapes[i].out) > 0, 1);
		assert_string_equal(j.sb.buf, want);
		free(want);
		json_release(&j);
	}
}

static void test_json__keys_are_escaped(void **state)
{
	struct json j;

	json_init(&j, 0);
	json_obj_begin(&j);
	json_kv_int(&j, "a\"b", 1);
	json_obj_end(&j);
	assert_string_equal(j.sb.buf, "{\"a\\\"b\":1}");
	json_release(&j);
}

static void test_json__escape_into_any_sbuf(void **state)
{
	struct sbuf sb = SBUF_INIT;

	assert_int_equal(json_escape(&sb, "x\xff\n", 3), 0);
	assert_string_equal(sb.buf, "x\\u00ff\\n");
	sbuf_release(&sb);
}

/* Misuse is an error, not broken output. */
static void test_json__misuse_is_einval(void **state)
{
	struct json j;

	json_init(&j, 0);
	json_obj_begin(&j);
	json_int(&j, 1); /* value without a key */
	assert_int_equal(json_error(&j), -EINVAL);
	json_release(&j);

	json_init(&j, 0);
	json_arr_begin(&j);
	json_key(&j, "k"); /* key in an array */
	assert_int_equal(json_error(&j), -EINVAL);
	json_release(&j);

	json_init(&j, 0);
	json_arr_begin(&j);
	json_obj_end(&j); /* wrong close */
	assert_int_equal(json_error(&j), -EINVAL);
	json_release(&j);

	json_init(&j, 0);
	json_obj_begin(&j);
	json_key(&j, "k");
	json_obj_end(&j); /* key without a value */
	assert_int_equal(json_error(&j), -EINVAL);
	json_release(&j);

	json_init(&j, 0);
	json_arr_end(&j); /* nothing open */
	assert_int_equal(json_error(&j), -EINVAL);
	json_release(&j);

	json_init(&j, 0);
	json_int(&j, 1);
	json_int(&j, 2); /* two documents */
	assert_int_equal(json_error(&j), -EINVAL);
	json_release(&j);
}

static void test_json__depth_limit(void **state)
{
	struct json j;

	json_init(&j, 0);
	for (int i = 0; i < JSON_MAX_DEPTH; i++)
		json_arr_begin(&j);
	assert_int_equal(json_error(&j), 0);
	json_arr_begin(&j);
	assert_int_equal(json_error(&j), -EINVAL);
	json_release(&j);
}

/* The cap refuses the append that would pass it; the error sticks. */
static void test_json__cap_is_e2big(void **state)
{
	struct json j;

	json_init(&j, 16);
	json_arr_begin(&j);
	json_str(&j, "0123456789");
	assert_int_equal(json_error(&j), 0);
	assert_int_equal(j.sb.len, 13);
	json_str(&j, "abc");
	assert_int_equal(json_error(&j), -E2BIG);
	assert_true(j.sb.len <= 16);
	json_arr_end(&j);
	assert_int_equal(json_error(&j), -E2BIG);
	json_release(&j);
}

/* json_reset writes the next document into the same buffer. */
static void test_json__reset_reuses_buffer(void **state)
{
	struct json j;
	char *p;
	size_t len;

	json_init(&j, 0);
	json_obj_begin(&j);
	json_kv_int(&j, "a", 1);
	json_obj_end(&j);
	json_reset(&j);
	json_arr_begin(&j);
	json_bool(&j, true);
	json_arr_end(&j);
	assert_int_equal(json_error(&j), 0);
	assert_string_equal(j.sb.buf, "[true]");

	p = sbuf_detach(&j.sb, &len);
	assert_string_equal(p, "[true]");
	assert_int_equal(len, 6);
	assert_null(j.sb.buf);
	free(p);
	json_release(&j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json__nested_structure_and_commas),
		cmocka_unit_test(test_json__int_extremes),
		cmocka_unit_test(test_json__escapes_table),
		cmocka_unit_test(test_json__keys_are_escaped),
		cmocka_unit_test(test_json__escape_into_any_sbuf),
		cmocka_unit_test(test_json__misuse_is_einval),
		cmocka_unit_test(test_json__depth_limit),
		cmocka_unit_test(test_json__cap_is_e2big),
		cmocka_unit_test(test_json__reset_reuses_buffer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
