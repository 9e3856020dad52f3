/*
 * Unit tests for runtime/store/cache.c: an entry round-trips, outputs in order, and
 * an output the recorded build removed again (an unset value, written as nil) comes
 * back unset beside the known ones; the log: last record wins, a torn tail or a bad
 * record is cut off, a foreign header is an empty log, appends of other processes
 * (concurrent ones too) are seen, compaction keeps the live entries and an appender
 * of another process follows it, old per-file entries are misses.  cache_reset()
 * stands for "a new process".
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
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

static void key_of(const char *name, struct gg_hash *key)
{
	assert_int_equal(hash_buf(GG_HASH_THUNK, name, strlen(name), key), 0);
}

/* Record name -> one output whose value is the hash of val. */
static int put_val(const char *ggdir, const char *name, const char *val)
{
	struct gg_hash key;
	struct cache_output o = { .path = "/t/out", .mode = 0100644 };
	struct cache_entry e = { &o, 1 };

	key_of(name, &key);
	assert_int_equal(hash_buf(GG_HASH_VALUE, val, strlen(val), &o.value), 0);
	return cache_put(ggdir, &key, &e);
}

/* Does name hit with the value val?  (val NULL: is it a miss?) */
static bool has_val(const char *ggdir, const char *name, const char *val)
{
	struct gg_hash key, want;
	struct cache_entry e;
	bool ok;

	key_of(name, &key);
	if (cache_get(ggdir, &key, &e) < 0)
		return val == NULL;
	assert_int_equal(hash_buf(GG_HASH_VALUE, val ? val : "", val ? strlen(val) : 0, &want), 0);
	ok = val && e.n == 1 && hash_equal(&e.v[0].value, &want) && !strcmp(e.v[0].path, "/t/out");
	cache_entry_release(&e);
	return ok;
}

static off_t log_size(const char *ggdir)
{
	char path[PATH_MAX];
	struct stat st;
	snprintf(path, sizeof(path), "%s/cache/results.log", ggdir);
	return stat(path, &st) == 0 ? st.st_size : -1;
}

static void log_truncate(const char *ggdir, off_t size)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/cache/results.log", ggdir);
	assert_int_equal(truncate(path, size), 0);
}

static void log_poke(const char *ggdir, off_t off, const void *p, size_t n)
{
	char path[PATH_MAX];
	FILE *f;
	snprintf(path, sizeof(path), "%s/cache/results.log", ggdir);
	assert_non_null(f = fopen(path, "r+"));
	assert_int_equal(fseeko(f, off, SEEK_SET), 0);
	assert_int_equal(fwrite(p, 1, n, f), n);
	fclose(f);
}

static void test_cache__last_record_wins(void **state)
{
	const char *g = *state;

	cache_reset();
	assert_int_equal(put_val(g, "k", "one"), 0);
	assert_int_equal(put_val(g, "other", "x"), 0);
	assert_int_equal(put_val(g, "k", "two"), 0);
	assert_true(has_val(g, "k", "two"));
	cache_reset();
	assert_true(has_val(g, "k", "two"));
	assert_true(has_val(g, "other", "x"));
}

static void test_cache__torn_tail_is_cut_off(void **state)
{
	const char *g = *state;
	off_t one;

	cache_reset();
	assert_int_equal(put_val(g, "a", "1"), 0);
	one = log_size(g);
	assert_int_equal(put_val(g, "b", "2"), 0);
	assert_true(log_size(g) > one + 3);
	log_truncate(g, log_size(g) - 3); /* a crash in the middle of b's write */
	cache_reset();
	assert_true(has_val(g, "a", "1"));
	assert_true(has_val(g, "b", NULL));
	assert_int_equal(log_size(g), one); /* truncated to the last whole record */
	assert_int_equal(put_val(g, "c", "3"), 0);
	cache_reset();
	assert_true(has_val(g, "a", "1") && has_val(g, "c", "3") && has_val(g, "b", NULL));
}

static void test_cache__bad_record_drops_the_rest(void **state)
{
	const char *g = *state;

	cache_reset();
	assert_int_equal(put_val(g, "a", "1"), 0);
	assert_int_equal(put_val(g, "b", "2"), 0);
	log_poke(g, 16 + 8 + 20, "\xff\xfe", 2); /* inside a's payload: check fails */
	cache_reset();
	assert_true(has_val(g, "a", NULL));
	assert_true(has_val(g, "b", NULL));
	assert_int_equal(log_size(g), 16);
}

static void test_cache__foreign_header_is_an_empty_log(void **state)
{
	const char *g = *state;

	cache_reset();
	assert_int_equal(put_val(g, "a", "1"), 0);
	log_poke(g, 8, "\x63\0\0\0", 4); /* version 99 */
	cache_reset();
	assert_true(has_val(g, "a", NULL));
	assert_int_equal(put_val(g, "b", "2"), 0);
	cache_reset();
	assert_true(has_val(g, "b", "2"));
	assert_true(has_val(g, "a", NULL));
}

static void test_cache__appends_of_another_process_are_seen(void **state)
{
	const char *g = *state;
	pid_t pid;
	int st;

	cache_reset();
	assert_int_equal(put_val(g, "mine", "m"), 0);
	assert_true(has_val(g, "theirs", NULL)); /* loaded, and a miss */
	if ((pid = fork()) == 0) {
		cache_reset();
		_exit(put_val(g, "theirs", "t") == 0 ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_int_equal(st, 0);
	assert_true(has_val(g, "theirs", "t")); /* a miss looks at the file again */
	assert_true(has_val(g, "mine", "m"));
}

static void test_cache__concurrent_appends_all_land(void **state)
{
	const char *g = *state;
	enum { PROCS = 4, EACH = 300 };
	pid_t pids[PROCS];
	char name[32], val[32];
	int st;

	cache_reset();
	for (int p = 0; p < PROCS; p++) {
		if ((pids[p] = fork()) == 0) {
			int bad = 0;
			cache_reset();
			for (int i = 0; i < EACH; i++) {
				snprintf(name, sizeof(name), "p%d-%d", p, i);
				snprintf(val, sizeof(val), "v%d-%d", p, i);
				bad |= put_val(g, name, val) != 0;
			}
			_exit(bad);
		}
		assert_true(pids[p] > 0);
	}
	for (int p = 0; p < PROCS; p++) {
		assert_int_equal(waitpid(pids[p], &st, 0), pids[p]);
		assert_int_equal(st, 0);
	}
	cache_reset();
	for (int p = 0; p < PROCS; p++)
		for (int i = 0; i < EACH; i++) {
			snprintf(name, sizeof(name), "p%d-%d", p, i);
			snprintf(val, sizeof(val), "v%d-%d", p, i);
			assert_true(has_val(g, name, val));
		}
}

static int count_one(void *ctx, const struct gg_hash *key, const struct cache_entry *e)
{
	(void)key;
	(void)e;
	(*(size_t *)ctx)++;
	return 0;
}

static void test_cache__compaction_keeps_the_live_entries(void **state)
{
	const char *g = *state;
	char val[32];
	off_t before;
	size_t n = 0;
	pid_t pid;
	int st;

	cache_reset();
	assert_int_equal(put_val(g, "stays", "s"), 0);
	for (int i = 0; i < 2 * CACHE_COMPACT_MIN; i++) {
		snprintf(val, sizeof(val), "v%d", i);
		assert_int_equal(put_val(g, "churn", val), 0);
	}
	before = log_size(g);
	/* another process loads (and compacts) while this one holds the old file */
	if ((pid = fork()) == 0) {
		cache_reset();
		_exit(has_val(g, "stays", "s") ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_int_equal(st, 0);
	assert_true(log_size(g) < before / 100);
	/* this process's next append follows the rename into the new file */
	assert_int_equal(put_val(g, "after", "a"), 0);
	cache_reset();
	snprintf(val, sizeof(val), "v%d", 2 * CACHE_COMPACT_MIN - 1);
	assert_true(has_val(g, "churn", val));
	assert_true(has_val(g, "stays", "s"));
	assert_true(has_val(g, "after", "a"));
	assert_int_equal(cache_foreach(g, count_one, &n), 0);
	assert_int_equal(n, 3);
}

static void test_cache__old_entry_files_are_misses(void **state)
{
	const char *g = *state;
	char path[PATH_MAX], hex[2 * GG_HASH_LEN + 1];
	struct gg_hash key;
	FILE *f;

	cache_reset();
	key_of("old", &key);
	hash_digest_hex(&key, hex);
	snprintf(path, sizeof(path), "%s/cache", g);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/cache/%.2s", g, hex);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/cache/%.2s/%s", g, hex, hex + 2);
	assert_non_null(f = fopen(path, "w"));
	fputs("\x93\xa7ggcache\x01\x90", f); /* ["ggcache", 1, []]: a valid old entry */
	fclose(f);
	assert_false(cache_has(g, &key));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_cache__removed_output_round_trips_unset, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_cache__missing_key_is_a_miss, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache__last_record_wins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache__torn_tail_is_cut_off, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache__bad_record_drops_the_rest, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_cache__foreign_header_is_an_empty_log, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_cache__appends_of_another_process_are_seen,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache__concurrent_appends_all_land, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_cache__compaction_keeps_the_live_entries,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache__old_entry_files_are_misses, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
