/*
 * Unit tests for runtime/cache.c: an entry round-trips, outputs in order, and an
 * output the recorded build removed again (an unset value, written as nil) comes
 * back unset beside the known ones.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "runtime/store/cache.h"

static int setup(void **state)
{
	char *dir = strdup("/tmp/gg-test-cache-XXXXXX");
	if (!dir || !mkdtemp(dir))
		return -1;
	*state = dir;
	return 0;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", (char *)*state);
	free(*state);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_cache__removed_output_round_trips_unset(void **state)
{
	const char *ggdir = *state;
	struct gg_hash key, value;
	struct cache_output outs[2] = { { .path = "/t/x.o", .mode = 0100644 },
					{ .path = "/t/x.o.d", .mode = 0100644 } };
	struct cache_entry e = { .v = outs, .n = 2 }, got;

	assert_int_equal(hash_buf(GG_HASH_THUNK, "k", 1, &key), 0);
	assert_int_equal(hash_buf(GG_HASH_VALUE, "obj", 3, &value), 0);
	outs[0].value = value; /* outs[1].value stays unset: removed */
	assert_int_equal(cache_put(ggdir, &key, &e), 0);
	assert_int_equal(cache_get(ggdir, &key, &got), 0);
	assert_int_equal(got.n, 2);
	assert_string_equal(got.v[0].path, "/t/x.o");
	assert_true(hash_equal(&got.v[0].value, &value));
	assert_string_equal(got.v[1].path, "/t/x.o.d");
	assert_false(hash_is_set(&got.v[1].value));
	assert_int_equal(got.v[1].mode, 0100644);
	cache_entry_release(&got);
}

static void test_cache__missing_key_is_a_miss(void **state)
{
	struct gg_hash key;
	struct cache_entry got;

	assert_int_equal(hash_buf(GG_HASH_THUNK, "absent", 6, &key), 0);
	assert_false(cache_has(*state, &key));
	assert_int_equal(cache_get(*state, &key, &got), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_cache__removed_output_round_trips_unset, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_cache__missing_key_is_a_miss, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
