/*
 * test_util.c - sbuf (cap, sticky errors), strlist (cap), strset, path_abs.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "runtime/lib/util.h"

static void test_util__sbuf_appends_and_formats(void **state)
{
	struct sbuf sb = SBUF_INIT;

	assert_int_equal(sbuf_addstr(&sb, "ab"), 0);
	assert_int_equal(sbuf_addch(&sb, 'c'), 0);
	assert_int_equal(sbuf_addf(&sb, "-%d-%s", 42, "x"), 0);
	assert_int_equal(sbuf_add(&sb, "", 0), 0);
	assert_string_equal(sb.buf, "abc-42-x");
	assert_int_equal(sb.len, 8);
	for (int i = 0; i < 1000; i++)
		sbuf_addstr(&sb, "0123456789");
	assert_int_equal(sb.len, 10008);
	assert_int_equal(sb.buf[sb.len], '\0');
	sbuf_reset(&sb);
	assert_int_equal(sb.len, 0);
	assert_string_equal(sb.buf, "");
	sbuf_release(&sb);
}

static void test_util__sbuf_cap_is_sticky_e2big(void **state)
{
	struct sbuf sb;

	sbuf_init(&sb, 5);
	assert_int_equal(sbuf_addstr(&sb, "12345"), 0);
	assert_int_equal(sbuf_addch(&sb, '6'), -E2BIG);
	assert_int_equal(sbuf_error(&sb), -E2BIG);
	assert_int_equal(sbuf_addstr(&sb, ""), -E2BIG); /* sticky */
	assert_string_equal(sb.buf, "12345");
	assert_null(sbuf_detach(&sb, NULL));
	sbuf_reset(&sb);
	assert_int_equal(sbuf_addf(&sb, "%s", "123456"), -E2BIG);
	sbuf_release(&sb);
}

static void test_util__sbuf_detach_empty(void **state)
{
	struct sbuf sb = SBUF_INIT;
	size_t len = 99;
	char *p = sbuf_detach(&sb, &len);

	assert_non_null(p);
	assert_string_equal(p, "");
	assert_int_equal(len, 0);
	free(p);
	sbuf_release(&sb);
}

static void test_util__strlist_push_and_cap(void **state)
{
	struct strlist l = STRLIST_INIT;

	assert_int_equal(strlist_push(&l, "a"), 0);
	assert_int_equal(strlist_pushf(&l, "%s:%d", "b", 2), 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.v[1], "b:2");
	assert_null(l.v[2]);
	for (size_t i = 2; i < STRLIST_MAX + 5; i++)
		assert_int_equal(strlist_push(&l, "x"), 0);
	assert_int_equal(l.n, STRLIST_MAX);
	assert_int_equal(l.dropped, 5);
	strlist_release(&l);
	assert_int_equal(l.n, 0);
	assert_null(l.v);
}

static void test_util__strset(void **state)
{
	struct strset s = STRSET_INIT;
	char names[3000][8];

	assert_false(strset_has(&s, "a"));
	for (int i = 0; i < 3000; i++) {
		snprintf(names[i], sizeof(names[i]), "n%d", i);
		assert_int_equal(strset_add(&s, names[i]), 1);
	}
	for (int i = 0; i < 3000; i += 7) {
		char copy[8];
		snprintf(copy, sizeof(copy), "n%d", i);
		assert_true(strset_has(&s, copy));
		assert_int_equal(strset_add(&s, copy), 0); /* by value */
	}
	assert_int_equal(s.n, 3000);
	assert_false(strset_has(&s, "n3000"));
	strset_release(&s);
}

static const struct {
	const char *path, *base, *out;
} abs_cases[] = {
	{ "/a/b/c", NULL, "/a/b/c" },
	{ "/a//b/./c/", NULL, "/a/b/c" },
	{ "/a/b/../c", NULL, "/a/c" },
	{ "/../..", NULL, "/" },
	{ "/", NULL, "/" },
	{ "x/y", "/base", "/base/x/y" },
	{ "../y", "/base/dir", "/base/y" },
	{ ".", "/base", "/base" },
	{ "/abs", "/ignored", "/abs" },
};

static void test_util__path_abs_table(void **state)
{
	for (size_t i = 0; i < sizeof(abs_cases) / sizeof(abs_cases[0]); i++) {
		char *out;
		assert_int_equal(path_abs(abs_cases[i].path, abs_cases[i].base, &out), 0);
		assert_string_equal(out, abs_cases[i].out);
		free(out);
	}
}

static void test_util__path_abs_relative_to_cwd(void **state)
{
	char cwd[PATH_MAX], want[PATH_MAX + 16], *out;

	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(want, sizeof(want), "%s/x", strcmp(cwd, "/") ? cwd : "");
	assert_int_equal(path_abs("x", NULL, &out), 0);
	assert_string_equal(out, want);
	free(out);
	/* a relative base is itself taken against the cwd */
	assert_int_equal(path_abs("../x", "sub", &out), 0);
	assert_string_equal(out, want);
	free(out);
	assert_int_equal(path_abs("", NULL, &out), -EINVAL);
}

static void test_util__path_normalize_table(void **state)
{
	static const struct {
		const char *base, *path, *want;
	} cases[] = {
		{ NULL, "/a/./b//c/", "/a/b/c" },
		{ NULL, "/..", "/" },
		{ NULL, "/a/../../b", "/b" },
		{ "/x/y", "../z", "/x/z" },
		{ "/x/y", "/abs", "/abs" }, /* an absolute path ignores the base */
		{ "x", "y", "/x/y" },     /* a relative base counts from "/" */
		{ NULL, "rel", "/rel" },
		{ "/", "", "/" },
	};
	char out[64], small[8];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		assert_int_equal(path_normalize(cases[i].base, cases[i].path, out, sizeof(out)), 0);
		assert_string_equal(out, cases[i].want);
	}
	/* too long: an error and an empty result, never a cut path */
	assert_int_equal(path_normalize(NULL, "/abc/defgh", small, sizeof(small)), -ENAMETOOLONG);
	assert_string_equal(small, "");
	/* what ".." removes again fits */
	assert_int_equal(path_normalize(NULL, "/abc/../d", small, sizeof(small)), 0);
	assert_string_equal(small, "/d");
	assert_int_equal(path_normalize(NULL, "/", small, 1), -ENAMETOOLONG);
}

/* fd_read_upto: stops at the cap or at EOF, whatever the pieces the pipe gives. */
static void test_util__fd_read_upto(void **state)
{
	char buf[16];
	int p[2];

	(void)state;
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "0123456789", 10), 10);
	assert_int_equal(fd_read_upto(p[0], buf, 4), 4);
	assert_memory_equal(buf, "0123", 4);
	assert_int_equal(write(p[1], "abc", 3), 3);
	close(p[1]);
	assert_int_equal(fd_read_upto(p[0], buf, sizeof(buf)), 9);
	assert_memory_equal(buf, "456789abc", 9);
	assert_int_equal(fd_read_upto(p[0], buf, sizeof(buf)), 0);
	close(p[0]);
	assert_int_equal(fd_read_upto(p[0], buf, sizeof(buf)), -EBADF);
}

static void test_util__path_base(void **state)
{
	assert_string_equal(path_base("/usr/bin/cc"), "cc");
	assert_string_equal(path_base("cc"), "cc");
	assert_string_equal(path_base("/"), "/");
	assert_string_equal(path_base(""), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_util__sbuf_appends_and_formats),
		cmocka_unit_test(test_util__sbuf_cap_is_sticky_e2big),
		cmocka_unit_test(test_util__sbuf_detach_empty),
		cmocka_unit_test(test_util__strlist_push_and_cap),
		cmocka_unit_test(test_util__strset),
		cmocka_unit_test(test_util__fd_read_upto),
		cmocka_unit_test(test_util__path_abs_table),
		cmocka_unit_test(test_util__path_abs_relative_to_cwd),
		cmocka_unit_test(test_util__path_normalize_table),
		cmocka_unit_test(test_util__path_base),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
