/*
 * htab.c - the one hash table (see htab.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/lib/htab.h"

#define HTAB_MIN_CAP 16

/* Put (hash, val) in the first free slot of its probe sequence; room is known. */
static void place(struct htab_slot *slot, size_t cap, uint32_t gen, uint64_t hash, uint32_t val)
{
	size_t mask = cap - 1, i = (size_t)hash & mask;

	while (slot[i].gen == gen)
		i = (i + 1) & mask;
	slot[i] = (struct htab_slot){ .hash = hash, .val = val, .gen = gen };
}

static int resize(struct htab *t, size_t cap)
{
	struct htab_slot *ns = calloc(cap, sizeof(*ns));

	if (!ns)
		return -ENOMEM;
	/* calloc'd slots have gen 0: a live generation is never 0 */
	for (size_t i = 0; i < t->cap; i++)
		if (t->slot[i].gen == t->gen)
			place(ns, cap, 1, t->slot[i].hash, t->slot[i].val);
	free(t->slot);
	t->slot = ns;
	t->cap = cap;
	t->gen = 1;
	return 0;
}

int htab_reserve(struct htab *t, size_t n)
{
	size_t cap = t->cap ? t->cap : HTAB_MIN_CAP;

	if (n >= HTAB_NONE)
		return -E2BIG;
	while (n * 2 > cap)
		cap *= 2;
	return cap == t->cap ? 0 : resize(t, cap);
}

int htab_add(struct htab *t, uint64_t hash, uint32_t val)
{
	int ret;

	if (val == HTAB_NONE)
		return -E2BIG;
	if (!t->cap || (t->n + 1) * 2 > t->cap) {
		if ((ret = htab_reserve(t, t->n + 1)) < 0)
			return ret;
	}
	place(t->slot, t->cap, t->gen, hash, val);
	t->n++;
	return 0;
}

void htab_clear(struct htab *t)
{
	if (!t->cap)
		return;
	t->n = 0;
	if (++t->gen == 0) { /* wrapped: every old generation must read as free */
		memset(t->slot, 0, t->cap * sizeof(*t->slot));
		t->gen = 1;
	}
}

void htab_release(struct htab *t)
{
	free(t->slot);
	*t = (struct htab)HTAB_INIT;
}
