/*
 * htab.h - the one hash table: a 64-bit hash -> uint32_t value index, open
 * addressing with linear probing.
 *
 * The table stores no keys.  Each slot holds the key's full 64-bit hash and a
 * value, normally the index of the entry in an array the caller owns; a lookup
 * compares hashes first and asks the caller's `eq(ctx, val, key)` only when they
 * match, so a miss almost never touches the caller's entries.  Keys, hashes and
 * equality are the caller's: strings (str_hash), interned pointers (htab_hash_ptr),
 * content hashes (their own bits).
 *
 * Invariants: cap is 0 or a power of two >= 16; n <= cap / 2 (the table doubles
 * before it would pass a load factor of 1/2); a slot is in use iff its gen equals
 * the table's, so htab_clear() empties the table in O(1) and keeps its memory.
 * Values are < HTAB_NONE (UINT32_MAX), which a lookup returns for "absent".
 * There is no removal of one key.
 *
 * Owner: whoever holds the struct; the table owns its slot array, nothing else.
 * Cap: n < UINT32_MAX (htab_add returns -E2BIG past it), else memory.
 * Errors: 0 or -ENOMEM / -E2BIG; lookups cannot fail.  Nothing here prints.
 */
#ifndef GG_HTAB_H
#define GG_HTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTAB_NONE UINT32_MAX

struct htab_slot {
	uint64_t hash;
	uint32_t val;
	uint32_t gen; /* in use iff == htab.gen */
};

struct htab {
	struct htab_slot *slot;
	size_t cap, n;
	uint32_t gen; /* 0 before the first allocation */
};

#define HTAB_INIT { .slot = NULL, .cap = 0, .n = 0, .gen = 0 }

/* Does the entry at `val` have the key `key`?  (ctx: the caller's container) */
typedef bool htab_eq_fn(const void *ctx, uint32_t val, const void *key);

/*
 * The value stored for the key with hash `hash` for which eq() says yes, or
 * HTAB_NONE.  Inline so a constant `eq` is inlined into the probe loop.
 */
static inline uint32_t *htab_ref(const struct htab *t, uint64_t hash, htab_eq_fn *eq,
				 const void *ctx, const void *key)
{
	size_t mask, i;

	if (!t->n)
		return NULL;
	mask = t->cap - 1;
	for (i = (size_t)hash & mask; t->slot[i].gen == t->gen; i = (i + 1) & mask)
		if (t->slot[i].hash == hash && eq(ctx, t->slot[i].val, key))
			return &t->slot[i].val;
	return NULL;
}

static inline uint32_t htab_find(const struct htab *t, uint64_t hash, htab_eq_fn *eq,
				 const void *ctx, const void *key)
{
	const uint32_t *v = htab_ref(t, hash, eq, ctx, key);
	return v ? *v : HTAB_NONE;
}

/*
 * Add `val` under `hash` without looking for an equal key (the caller knows there
 * is none, or wants the older one found first).  Grows the table: 0, -ENOMEM, or
 * -E2BIG when val is HTAB_NONE or the table is full.  Pointers from htab_ref() are
 * invalid afterwards.
 */
int htab_add(struct htab *t, uint64_t hash, uint32_t val);

/* Make room for n entries in all without growing again: 0, -ENOMEM, -E2BIG. */
int htab_reserve(struct htab *t, size_t n);

/* Empty the table in O(1), keeping its memory. */
void htab_clear(struct htab *t);

/* Free the slots; back to HTAB_INIT. */
void htab_release(struct htab *t);

/* A mix of a pointer's bits, for tables keyed by interned pointers. */
static inline uint64_t htab_hash_ptr(const void *p)
{
	uint64_t v = (uint64_t)(uintptr_t)p;
	v ^= v >> 33;
	v *= 0xff51afd7ed558ccdULL;
	v ^= v >> 33;
	return v;
}

#endif
