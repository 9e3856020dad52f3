/*
 * test_htab.c - the one hash table: lookups by hash + equality, colliding hashes,
 * growth, O(1) clear and its generation wrap, the value cap.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "runtime/lib/htab.h"
#include "runtime/lib/util.h"

/* The entries live in a caller array; the table maps hash -> index. */
struct words {
	char name[64][16];
	size_t n;
	struct htab ix;
};

static bool words_eq(const void *ctx, uint32_t val, const void *key)
{
	const struct words *w = ctx;
	return !strcmp(w->name[val], key);
}

/* Find or add: the index of `s`, as a set would intern it. */
static uint32_t words_get(struct words *w, const char *s, uint64_t h)
{
	uint32_t i = htab_find(&w->ix, h, words_eq, w, s);
	if (i != HTAB_NONE)
		return i;
	snprintf(w->name[w->n], sizeof(w->name[w->n]), "%s", s);
	assert_int_equal(htab_add(&w->ix, h, (uint32_t)w->n), 0);
	return (uint32_t)w->n++;
}

static void test_htab__find_and_add_by_string(void **state)
{
	struct words w = { .ix = HTAB_INIT };
	char buf[16];

	assert_int_equal(htab_find(&w.ix, str_hash("a"), words_eq, &w, "a"), HTAB_NONE);
	for (int i = 0; i < 64; i++) {
		snprintf(buf, sizeof(buf), "w%d", i);
		assert_int_equal(words_get(&w, buf, str_hash(buf)), i);
	}
	assert_int_equal(w.ix.n, 64);
	/* grown past 16 slots, load factor <= 1/2, a power of two */
	assert_true(w.ix.cap >= 128);
	assert_int_equal(w.ix.cap & (w.ix.cap - 1), 0);
	for (int i = 63; i >= 0; i--) {
		snprintf(buf, sizeof(buf), "w%d", i);
		assert_int_equal(words_get(&w, buf, str_hash(buf)), i);
	}
	assert_int_equal(w.n, 64);
	assert_int_equal(htab_find(&w.ix, str_hash("w64"), words_eq, &w, "w64"), HTAB_NONE);
	htab_release(&w.ix);
	assert_null(w.ix.slot);
	assert_int_equal(w.ix.cap, 0);
}

static void test_htab__equal_hashes_are_told_apart_by_eq(void **state)
{
	struct words w = { .ix = HTAB_INIT };
	char buf[16];

	/* every key has hash 7: one probe chain, eq decides */
	for (int i = 0; i < 40; i++) {
		snprintf(buf, sizeof(buf), "k%d", i);
		assert_int_equal(words_get(&w, buf, 7), i);
	}
	for (int i = 0; i < 40; i++) {
		snprintf(buf, sizeof(buf), "k%d", i);
		assert_int_equal(htab_find(&w.ix, 7, words_eq, &w, buf), i);
		/* the same key under another hash is not found */
		assert_int_equal(htab_find(&w.ix, 8, words_eq, &w, buf), HTAB_NONE);
	}
	/* a hash of 0 is a hash like any other */
	assert_int_equal(words_get(&w, "zero", 0), 40);
	assert_int_equal(htab_find(&w.ix, 0, words_eq, &w, "zero"), 40);
	htab_release(&w.ix);
}

static void test_htab__add_keeps_the_first_of_equal_keys_first(void **state)
{
	struct words w = { .ix = HTAB_INIT };
	uint32_t *ref;

	strcpy(w.name[0], "dup");
	strcpy(w.name[1], "dup");
	w.n = 2;
	assert_int_equal(htab_add(&w.ix, 5, 0), 0);
	assert_int_equal(htab_add(&w.ix, 5, 1), 0);
	assert_int_equal(htab_find(&w.ix, 5, words_eq, &w, "dup"), 0);
	/* a value is replaced in place through its reference */
	ref = htab_ref(&w.ix, 5, words_eq, &w, "dup");
	assert_non_null(ref);
	*ref = 1;
	assert_int_equal(htab_find(&w.ix, 5, words_eq, &w, "dup"), 1);
	assert_null(htab_ref(&w.ix, 6, words_eq, &w, "dup"));
	htab_release(&w.ix);
}

static void test_htab__clear_empties_and_keeps_memory(void **state)
{
	struct words w = { .ix = HTAB_INIT };
	struct htab_slot *slot;
	size_t cap;

	for (int round = 0; round < 3; round++) {
		w.n = 0;
		assert_int_equal(words_get(&w, "a", str_hash("a")), 0);
		assert_int_equal(words_get(&w, "b", str_hash("b")), 1);
		assert_int_equal(w.ix.n, 2);
		slot = w.ix.slot;
		cap = w.ix.cap;
		htab_clear(&w.ix);
		assert_int_equal(w.ix.n, 0);
		assert_ptr_equal(w.ix.slot, slot);
		assert_int_equal(w.ix.cap, cap);
		assert_int_equal(htab_find(&w.ix, str_hash("a"), words_eq, &w, "a"), HTAB_NONE);
	}
	/* the generation wraps: old slots must still read as free */
	htab_clear(&w.ix);
	w.ix.gen = UINT32_MAX;
	w.n = 0;
	assert_int_equal(words_get(&w, "a", str_hash("a")), 0);
	htab_clear(&w.ix);
	assert_int_equal(w.ix.gen, 1);
	assert_int_equal(htab_find(&w.ix, str_hash("a"), words_eq, &w, "a"), HTAB_NONE);
	w.n = 0;
	assert_int_equal(words_get(&w, "b", str_hash("b")), 0);
	assert_int_equal(htab_find(&w.ix, str_hash("b"), words_eq, &w, "b"), 0);
	htab_release(&w.ix);
	/* clearing an empty table is harmless */
	htab_clear(&w.ix);
	assert_int_equal(w.ix.cap, 0);
}

static void test_htab__reserve_and_the_value_cap(void **state)
{
	struct htab t = HTAB_INIT;
	struct htab_slot *slot;

	assert_int_equal(htab_reserve(&t, 1000), 0);
	assert_int_equal(t.cap, 2048);
	slot = t.slot;
	for (uint32_t i = 0; i < 1000; i++)
		assert_int_equal(htab_add(&t, htab_hash_ptr((void *)(uintptr_t)(i + 1)), i), 0);
	assert_ptr_equal(t.slot, slot); /* no growth after reserve */
	assert_int_equal(htab_add(&t, 1, HTAB_NONE), -E2BIG);
	assert_int_equal(htab_reserve(&t, (size_t)HTAB_NONE), -E2BIG);
	assert_int_equal(t.n, 1000);
	htab_release(&t);
}

static bool ptr_eq(const void *ctx, uint32_t val, const void *key)
{
	const void *const *keys = ctx;
	return keys[val] == key;
}

static void test_htab__pointer_keys_survive_growth(void **state)
{
	enum { N = 5000 };
	static int objs[N];
	static const void *keys[N];
	struct htab t = HTAB_INIT;

	for (uint32_t i = 0; i < N; i++) {
		keys[i] = &objs[i];
		assert_int_equal(htab_add(&t, htab_hash_ptr(keys[i]), i), 0);
	}
	assert_true(t.n * 2 <= t.cap);
	for (uint32_t i = 0; i < N; i++)
		assert_int_equal(htab_find(&t, htab_hash_ptr(&objs[i]), ptr_eq, keys, &objs[i]), i);
	htab_release(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_htab__find_and_add_by_string),
		cmocka_unit_test(test_htab__equal_hashes_are_told_apart_by_eq),
		cmocka_unit_test(test_htab__add_keeps_the_first_of_equal_keys_first),
		cmocka_unit_test(test_htab__clear_empties_and_keeps_memory),
		cmocka_unit_test(test_htab__reserve_and_the_value_cap),
		cmocka_unit_test(test_htab__pointer_keys_survive_growth),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
