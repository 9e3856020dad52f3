/*
 * test_ggdir.c - finding and creating .gg like .git: $GG_DIR, the nearest .gg
 * upwards, a new ./.gg; the trace directory inside it.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "runtime/store/ggdir.h"
#include "runtime/lib/util.h"

static char top[PATH_MAX]; /* a fresh temp dir, physical path */
static char oldcwd[PATH_MAX];

static int setup(void **state)
{
	char tmpl[] = "/tmp/gg-test-ggdir-XXXXXX";

	if (!mkdtemp(tmpl) || !realpath(tmpl, top) || !getcwd(oldcwd, sizeof(oldcwd)))
		return -1;
	unsetenv("GG_DIR");
	return chdir(top);
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	unsetenv("GG_DIR");
	if (chdir(oldcwd) < 0)
		return -1;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
	return system(cmd) == 0 ? 0 : -1;
}

static char *at(const char *rel)
{
	static char buf[4][PATH_MAX + 64];
	static int k;
	char *p = buf[k++ % 4];
	snprintf(p, PATH_MAX + 64, "%s/%s", top, rel);
	return p;
}

static bool is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void test_ggdir__none_found_is_enoent(void **state)
{
	char *out = NULL;

	/* assumes no .gg in /tmp or / */
	assert_int_equal(ggdir_find(NULL, &out), -ENOENT);
	assert_null(out);
	assert_int_equal(ggdir_trace_path(NULL, NULL, false, &out), -ENOENT);
	assert_int_equal(ggdir_trace_dir(NULL, NULL, false, &out), -ENOENT);
	assert_false(is_dir(at(".gg")));
}

static void test_ggdir__finds_nearest_upwards(void **state)
{
	char *out;

	assert_int_equal(ggdir_mkdirs(at("a/.gg")), 0);
	assert_int_equal(ggdir_mkdirs(at("a/b/c/d")), 0);
	assert_int_equal(ggdir_mkdirs(at("a/b/.gg")), 0);

	assert_int_equal(ggdir_find(at("a/b/c/d"), &out), 0);
	assert_string_equal(out, at("a/b/.gg"));
	free(out);
	assert_int_equal(ggdir_find(at("a"), &out), 0);
	assert_string_equal(out, at("a/.gg"));
	free(out);

	/* from the cwd, with a relative start too */
	assert_int_equal(chdir(at("a/b/c")), 0);
	assert_int_equal(ggdir_find(NULL, &out), 0);
	assert_string_equal(out, at("a/b/.gg"));
	free(out);
	assert_int_equal(ggdir_find("../..", &out), 0);
	assert_string_equal(out, at("a/.gg"));
	free(out);
	assert_int_equal(ggdir_trace_path(NULL, NULL, false, &out), 0);
	assert_string_equal(out, at("a/b/.gg/trace"));
	free(out);
}

/* A file named .gg is not a .gg directory. */
static void test_ggdir__skips_file_named_gg(void **state)
{
	char *out;
	FILE *f;

	assert_int_equal(ggdir_mkdirs(at("x/.gg")), 0);
	assert_int_equal(ggdir_mkdirs(at("x/y")), 0);
	f = fopen(at("x/y/.gg"), "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(ggdir_find(at("x/y"), &out), 0);
	assert_string_equal(out, at("x/.gg"));
	free(out);
}

/* $GG_DIR wins, made absolute against the cwd, existing or not. */
static void test_ggdir__env_wins(void **state)
{
	char *out;

	assert_int_equal(ggdir_mkdirs(at("p/.gg")), 0);
	assert_int_equal(ggdir_mkdirs(at("q")), 0);
	assert_int_equal(chdir(at("q")), 0);
	setenv("GG_DIR", "../elsewhere/./gg", 1);
	assert_int_equal(ggdir_find(at("p"), &out), 0);
	assert_string_equal(out, at("elsewhere/gg"));
	free(out);
	setenv("GG_DIR", "", 1); /* empty: unset */
	assert_int_equal(ggdir_find(at("p"), &out), 0);
	assert_string_equal(out, at("p/.gg"));
	free(out);
}

static void test_ggdir__create_makes_dot_gg_here(void **state)
{
	char *out;
	bool created;

	assert_int_equal(ggdir_create(NULL, &out, &created), 0);
	assert_true(created);
	assert_string_equal(out, at(".gg"));
	assert_true(is_dir(out));
	free(out);
	/* again: found, not created */
	assert_int_equal(ggdir_create(NULL, &out, &created), 0);
	assert_false(created);
	assert_string_equal(out, at(".gg"));
	free(out);
	/* from below: the existing one upwards */
	assert_int_equal(ggdir_mkdirs(at("sub")), 0);
	assert_int_equal(ggdir_create(at("sub"), &out, &created), 0);
	assert_false(created);
	assert_string_equal(out, at(".gg"));
	free(out);
}

/* gg init: here (not upwards), with its trace directory; $GG_DIR when set. */
static void test_ggdir__init_here_with_trace(void **state)
{
	char *out;
	bool created;

	assert_int_equal(ggdir_mkdirs(at(".gg")), 0);
	assert_int_equal(ggdir_mkdirs(at("inner")), 0);
	assert_int_equal(ggdir_init(at("inner"), &out, &created), 0);
	assert_true(created);
	assert_string_equal(out, at("inner/.gg"));
	assert_true(is_dir(at("inner/.gg/trace")));
	free(out);

	setenv("GG_DIR", at("custom"), 1);
	assert_int_equal(ggdir_init(NULL, &out, &created), 0);
	assert_true(created);
	assert_string_equal(out, at("custom"));
	assert_true(is_dir(at("custom/trace")));
	free(out);
}

static void test_ggdir__init_fails_on_file(void **state)
{
	char *out = NULL;
	FILE *f = fopen(at(".gg"), "w");

	assert_non_null(f);
	fclose(f);
	assert_int_equal(ggdir_init(NULL, &out, NULL), -ENOTDIR);
	assert_null(out);
}

static void test_ggdir__trace_dir_override_and_create(void **state)
{
	char *out;

	/* override: absolute, normalised, created with parents */
	assert_int_equal(ggdir_trace_dir(NULL, "deep/er/../trace", true, &out), 0);
	assert_string_equal(out, at("deep/trace"));
	assert_true(is_dir(out));
	free(out);

	/* ggdir_trace_path touches nothing */
	assert_int_equal(ggdir_trace_path(NULL, NULL, true, &out), 0);
	assert_string_equal(out, at(".gg/trace"));
	assert_false(is_dir(at(".gg")));
	free(out);

	/* create: a new ./.gg/trace */
	assert_int_equal(ggdir_trace_dir(NULL, NULL, true, &out), 0);
	assert_string_equal(out, at(".gg/trace"));
	assert_true(is_dir(out));
	free(out);
}

static void test_ggdir__mkdirs(void **state)
{
	FILE *f;

	assert_int_equal(ggdir_mkdirs(at("m/n/o")), 0);
	assert_true(is_dir(at("m/n/o")));
	assert_int_equal(ggdir_mkdirs(at("m/n/o")), 0); /* exists: fine */
	f = fopen(at("m/file"), "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(ggdir_mkdirs(at("m/file")), -ENOTDIR);
	assert_int_equal(ggdir_mkdirs(at("m/file/x")), -ENOTDIR);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_ggdir__none_found_is_enoent),
		T(test_ggdir__finds_nearest_upwards),
		T(test_ggdir__skips_file_named_gg),
		T(test_ggdir__env_wins),
		T(test_ggdir__create_makes_dot_gg_here),
		T(test_ggdir__init_here_with_trace),
		T(test_ggdir__init_fails_on_file),
		T(test_ggdir__trace_dir_override_and_create),
		T(test_ggdir__mkdirs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
