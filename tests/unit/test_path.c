/* Unit tests for shim/path.c: lexical join and clean. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "shim/path.h"

static void test_path__join_table(void **state)
{
	static const struct { const char *base, *rel, *want; } cases[] = {
		{ "/a/b", "c.h", "/a/b/c.h" },
		{ "/a/b", "./c.h", "/a/b/c.h" },
		{ "/a/b/", "c//d/./e", "/a/b/c/d/e" },
		{ "/a/b", "/abs/x", "/abs/x" },
		{ "/a/b", "../c", "/a/b/../c" },
		{ "/", "x", "/x" },
		{ "/a", "", "/a" },
		{ "/a", ".", "/a" },
		{ "/a", "dir/", "/a/dir" },
		{ NULL, "rel/./x", "rel/x" },
		{ "/", "", "/" },
		{ "//x//", "y", "/x/y" },
	};
	char out[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		long n = path_join(cases[i].base, cases[i].rel, out, sizeof(out));
		assert_string_equal(out, cases[i].want);
		assert_int_equal(n, (long)strlen(cases[i].want));
	}
}

/* path_join_in, the base already in the buffer: path_join's answers, NULL as "" */
static void test_path__join_in_matches_join(void **state)
{
	static const struct { const char *base, *rel; } cases[] = {
		{ "/a/b", "c.h" },  { "/a/b/", "c//d/./e" }, { "/a/b", "/abs/x" },
		{ "/", "x" },       { "/a", "" },            { "/a", "dir/" },
		{ "", "rel/./x" },  { "//x//", "y" },        { "/a/b", "../c" },
		{ "/abc", NULL },
	};
	char want[256], got[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *base = cases[i].base[0] ? cases[i].base : NULL;
		long wn = path_join(base, cases[i].rel, want, sizeof(want));
		strcpy(got, cases[i].base);
		assert_int_equal(path_join_in(got, sizeof(got), cases[i].rel), wn);
		assert_string_equal(got, want);
	}
}

static void test_path__join_in_too_long(void **state)
{
	char out[8] = "/abcdef";
	assert_int_equal(path_join_in(out, sizeof(out), "ghijk"), -ENAMETOOLONG);
	assert_string_equal(out, "/abcdef");
	assert_int_equal(path_join_in(out, sizeof(out), "/0123456789"), -ENAMETOOLONG);
	assert_string_equal(out, "");
	strcpy(out, "/ab");
	assert_int_equal(path_join_in(out, sizeof(out), "c/d"), 7);
	assert_string_equal(out, "/ab/c/d");
}

static void test_path__join_too_long(void **state)
{
	char out[8];
	assert_int_equal(path_join("/abcdef", "ghijk", out, sizeof(out)), -ENAMETOOLONG);
	assert_true(strlen(out) < sizeof(out));
}

static void test_path__clean_in_place(void **state)
{
	char p[] = "/./a//./b/.";
	assert_int_equal(path_clean(p), 4);
	assert_string_equal(p, "/a/b");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path__join_table),
		cmocka_unit_test(test_path__join_too_long),
		cmocka_unit_test(test_path__join_in_matches_join),
		cmocka_unit_test(test_path__join_in_too_long),
		cmocka_unit_test(test_path__clean_in_place),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
