/*
 * test_mounts.c - a sandbox plan's mount list under construction: the first
 * declaration of a path wins, kept strings outlive their source, "under", the
 * nearest declared ancestor's kind, the output lookup, the locale directories.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "runtime/engine/mounts.h"
#include "runtime/ir/thunk.h"

static void test_mounts__first_declaration_wins(void **state)
{
	struct mounts m = MOUNTS_INIT;
	(void)state;

	assert_int_equal(mounts_add(&m, SBX_MOUNT_RW, "/stage/out/a", "/a"), 0);
	assert_int_equal(mounts_add(&m, SBX_MOUNT_RO, NULL, "/a"), 0);
	assert_int_equal(mounts_add(&m, SBX_MOUNT_ABSENT, NULL, "/b"), 0);
	assert_int_equal(m.n, 2);
	assert_int_equal(m.v[0].kind, SBX_MOUNT_RW);
	assert_string_equal(m.v[0].src, "/stage/out/a");
	assert_string_equal(m.v[0].dst, "/a");
	assert_int_equal(m.v[1].kind, SBX_MOUNT_ABSENT);
	assert_null(m.v[1].src);
	mounts_release(&m);
	assert_null(m.v);
	assert_int_equal(m.n, 0);
}

static void test_mounts__keep_copies_and_grows(void **state)
{
	struct mounts m = MOUNTS_INIT;
	char buf[32];
	(void)state;

	/* past the first allocation (256 mounts): every kept string still intact */
	for (int i = 0; i < 600; i++) {
		const char *d;
		snprintf(buf, sizeof(buf), "/in/f%d", i);
		assert_non_null(d = mounts_keep(&m, buf));
		assert_ptr_not_equal(d, buf);
		assert_int_equal(mounts_add(&m, SBX_MOUNT_RO, NULL, d), 0);
	}
	memset(buf, 0, sizeof(buf));
	assert_int_equal(m.n, 600);
	for (int i = 0; i < 600; i++) {
		snprintf(buf, sizeof(buf), "/in/f%d", i);
		assert_string_equal(m.v[i].dst, buf);
	}
	mounts_release(&m);
}

static void test_mounts__under_matches_whole_components(void **state)
{
	struct mounts m = MOUNTS_INIT;
	(void)state;

	assert_false(mounts_under(&m, "/src"));
	assert_int_equal(mounts_add(&m, SBX_MOUNT_RO, NULL, "/src/lib/a.c"), 0);
	assert_true(mounts_under(&m, "/src"));
	assert_true(mounts_under(&m, "/src/lib"));
	assert_true(mounts_under(&m, "/src/lib/a.c"));
	assert_false(mounts_under(&m, "/sr"));
	assert_false(mounts_under(&m, "/src/li"));
	assert_false(mounts_under(&m, "/src/lib/a"));
	mounts_release(&m);
}

static void test_mounts__ancestor_kind_is_the_nearest_declared(void **state)
{
	static const struct {
		const char *path;
		int kind;
	} cases[] = {
		{ "/gone/x", SBX_MOUNT_ABSENT },
		{ "/gone/x/y/z", SBX_MOUNT_ABSENT },
		{ "/out/obj.o", SBX_MOUNT_RW },
		{ "/out/sub/dir/obj.o", SBX_MOUNT_DIR }, /* the nearer one */
		{ "/out/sub/dir", SBX_MOUNT_RW },        /* the path itself is no ancestor */
		{ "/gone", -1 },
		{ "/elsewhere/x", -1 },
		{ "relative/x", -1 },
		{ "/", -1 },
	};
	struct mounts m = MOUNTS_INIT;
	(void)state;

	assert_int_equal(mounts_add(&m, SBX_MOUNT_ABSENT, NULL, "/gone"), 0);
	assert_int_equal(mounts_add(&m, SBX_MOUNT_RW, "/stage/out", "/out"), 0);
	assert_int_equal(mounts_add(&m, SBX_MOUNT_DIR, NULL, "/out/sub/dir"), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(mounts_ancestor_kind(&m, cases[i].path), cases[i].kind);
	}
	mounts_release(&m);
}

static void test_mounts__is_output_searches_the_sorted_outputs(void **state)
{
	char *outs[] = { "/b/lib.a", "/b/main.o", "/b/x", "/c" };
	struct thunk th;
	(void)state;

	memset(&th, 0, sizeof(th));
	assert_false(mounts_is_output(&th, "/b/x"));
	th.outputs.v = outs;
	th.outputs.n = th.outputs.alloc = sizeof(outs) / sizeof(outs[0]);
	for (size_t i = 0; i < th.outputs.n; i++)
		assert_true(mounts_is_output(&th, outs[i]));
	assert_false(mounts_is_output(&th, "/a"));
	assert_false(mounts_is_output(&th, "/b"));
	assert_false(mounts_is_output(&th, "/b/m"));
	assert_false(mounts_is_output(&th, "/d"));
}

static void test_mounts__locale_dirs_as_glibc_normalises(void **state)
{
	static const struct {
		const char *env;
		int n;
		const char *dir0, *dir1;
	} cases[] = {
		{ "LANG=C.UTF-8", 2, "/usr/lib/locale/C.UTF-8", "/usr/lib/locale/C.utf8" },
		{ "LC_ALL=de_DE.ISO-8859-1@euro", 2, "/usr/lib/locale/de_DE.ISO-8859-1@euro",
		  "/usr/lib/locale/de_DE.iso88591@euro" },
		{ "LC_CTYPE=en_US", 1, "/usr/lib/locale/en_US", NULL },
		{ "LANG=C", 0, NULL, NULL },
		{ "LANG=POSIX", 0, NULL, NULL },
		{ "LANG=", 0, NULL, NULL },
		{ "LANG=/tmp/evil", 0, NULL, NULL },
		{ "LANGUAGE=fr", 0, NULL, NULL },
		{ "PATH=/bin", 0, NULL, NULL },
		{ "LC_ALL", 0, NULL, NULL },
	};
	char dirs[2][PATH_MAX];
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(mounts_locale_dirs(cases[i].env, dirs), cases[i].n);
		if (cases[i].n > 0)
			assert_string_equal(dirs[0], cases[i].dir0);
		if (cases[i].n > 1)
			assert_string_equal(dirs[1], cases[i].dir1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mounts__first_declaration_wins),
		cmocka_unit_test(test_mounts__keep_copies_and_grows),
		cmocka_unit_test(test_mounts__under_matches_whole_components),
		cmocka_unit_test(test_mounts__ancestor_kind_is_the_nearest_declared),
		cmocka_unit_test(test_mounts__is_output_searches_the_sorted_outputs),
		cmocka_unit_test(test_mounts__locale_dirs_as_glibc_normalises),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
