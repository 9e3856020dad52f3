/*
 * merge.c - the existing graph plus a new recording's (see merge.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "merge.h"
#include "thunk.h"

struct mnode {
	const struct graph_node *src; /* in old or cur */
	struct thunk th;
	size_t *deps;     /* indexes into the merge list */
	size_t ndeps;
	size_t *ref_node; /* per input: producing merge node, or SIZE_MAX */
	size_t indeg, order;
	bool done;
	struct gg_hash hash; /* final */
};

struct pmap { /* path -> (merge node, output) for final outputs */
	const char **key;
	size_t *node, *out;
	size_t slots;
};

static int pmap_put(struct pmap *m, const char *path, size_t node, size_t out)
{
	size_t i = str_hash(path) & (m->slots - 1);
	while (m->key[i] && strcmp(m->key[i], path))
		i = (i + 1) & (m->slots - 1);
	m->key[i] = path;
	m->node[i] = node;
	m->out[i] = out;
	return 0;
}

static bool pmap_get(const struct pmap *m, const char *path, size_t *node, size_t *out)
{
	size_t i = str_hash(path) & (m->slots - 1);
	while (m->key[i]) {
		if (!strcmp(m->key[i], path)) {
			*node = m->node[i];
			*out = m->out[i];
			return true;
		}
		i = (i + 1) & (m->slots - 1);
	}
	return false;
}

static int copy_node(const struct graph_node *from, struct graph_node *to)
{
	memset(to, 0, sizeof(*to));
	to->hash = from->hash;
	to->label = strdup(from->label);
	to->command = strdup(from->command);
	to->local = from->local;
	to->outputs = calloc(from->noutputs + 1, sizeof(*to->outputs));
	to->deps = calloc(1, sizeof(*to->deps));
	if (!to->label || !to->command || !to->outputs || !to->deps)
		return -ENOMEM;
	for (size_t i = 0; i < from->noutputs; i++) {
		to->outputs[i] = from->outputs[i];
		if (!(to->outputs[i].path = strdup(from->outputs[i].path)))
			return -ENOMEM;
		to->noutputs = i + 1;
	}
	return 0;
}

/* A min-heap of merge-list indexes: the ready nodes, earliest in the list first. */
static void heap_push(size_t *h, size_t *n, size_t v)
{
	size_t i = (*n)++;
	h[i] = v;
	while (i && h[(i - 1) / 2] > h[i]) {
		size_t p = (i - 1) / 2, t = h[p];
		h[p] = h[i];
		h[i] = t;
		i = p;
	}
}

static size_t heap_pop(size_t *h, size_t *n)
{
	size_t top = h[0], i = 0;
	h[0] = h[--*n];
	for (;;) {
		size_t l = 2 * i + 1, m = i, t;
		if (l < *n && h[l] < h[m])
			m = l;
		if (l + 1 < *n && h[l + 1] < h[m])
			m = l + 1;
		if (m == i)
			break;
		t = h[m];
		h[m] = h[i];
		h[i] = t;
		i = m;
	}
	return top;
}

int graph_merge(struct store *st, struct statcache *sc, const struct graph *old,
		struct graph *cur, struct merge_stats *stats, struct strlist *warnings)
{
	struct strset produced = STRSET_INIT;
	struct pmap pm = { 0 };
	struct mnode *mn = NULL;
	struct graph out;
	size_t n = 0, cap = old->n + cur->n + 1, nouts = 0, done = 0, nheap = 0;
	size_t **users = NULL, *nusers = NULL, *heap = NULL;
	int ret = 0;

	memset(stats, 0, sizeof(*stats));
	graph_init(&out);
	mn = calloc(cap, sizeof(*mn));
	if (!mn)
		return -ENOMEM;
	/* what the new recording produced */
	for (size_t i = 0; i < cur->n; i++)
		for (size_t k = 0; k < cur->nodes[i].noutputs; k++)
			if (strset_add(&produced, cur->nodes[i].outputs[k].path) < 0)
				goto nomem;
	/* the merge list: kept old nodes, then the new ones */
	for (size_t i = 0; i < old->n; i++) {
		bool replaced = false;
		for (size_t k = 0; k < old->nodes[i].noutputs && !replaced; k++)
			replaced = strset_has(&produced, old->nodes[i].outputs[k].path);
		if (replaced) {
			stats->replaced++;
			continue;
		}
		mn[n++].src = &old->nodes[i];
		stats->kept++;
	}
	if (!stats->kept) { /* the new recording covers the old one: nothing to fold in */
		ret = 0;
		goto out;
	}
	for (size_t i = 0; i < cur->n; i++)
		mn[n++].src = &cur->nodes[i];
	for (size_t i = 0; i < n; i++) {
		if ((ret = thunk_load(st, &mn[i].src->hash, &mn[i].th)) < 0) {
			strlist_pushf(warnings, "cannot read thunk of '%s': %s", mn[i].src->label,
				      strerror(-ret));
			goto out;
		}
		nouts += mn[i].src->noutputs;
	}
	/* path -> producer (final versions; later nodes win, the new recording last) */
	pm.slots = 16;
	while (pm.slots < nouts * 2 + 2)
		pm.slots *= 2;
	pm.key = calloc(pm.slots, sizeof(*pm.key));
	pm.node = calloc(pm.slots, sizeof(*pm.node));
	pm.out = calloc(pm.slots, sizeof(*pm.out));
	if (!pm.key || !pm.node || !pm.out)
		goto nomem;
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < mn[i].src->noutputs; k++)
			if (mn[i].src->outputs[k].final)
				pmap_put(&pm, mn[i].src->outputs[k].path, i, k);
	/* references by path */
	for (size_t i = 0; i < n; i++) {
		struct mnode *m = &mn[i];
		m->ref_node = malloc((m->th.inputs.n + 1) * sizeof(*m->ref_node));
		m->deps = calloc(m->th.inputs.n + 1, sizeof(*m->deps));
		if (!m->ref_node || !m->deps)
			goto nomem;
		for (size_t k = 0; k < m->th.inputs.n; k++) {
			struct thunk_input *in = &m->th.inputs.v[k];
			size_t pn, po;
			bool dup = false;
			m->ref_node[k] = SIZE_MAX;
			if (!pmap_get(&pm, in->path, &pn, &po) || pn == i) {
				if (in->hash.kind == GG_HASH_THUNK) {
					/* its producer is gone: the file as it is */
					uint32_t mode;
					if (statcache_hash(sc, st, in->path, STATCACHE_STORE, &in->hash, &mode) < 0) {
						strlist_pushf(warnings, "input '%s' of '%s' has no producer and no file",
							      in->path, m->src->label);
						memset(&in->hash, 0, sizeof(in->hash));
						in->hash.kind = GG_HASH_VALUE;
					}
					in->output = 0;
					stats->rewritten++;
				}
				continue;
			}
			if (in->hash.kind == GG_HASH_VALUE) {
				const struct graph_output *o = &mn[pn].src->outputs[po];
				if (!hash_is_set(&o->value) || !hash_equal(&o->value, &in->hash))
					continue; /* a different version: keep the contents */
				stats->rewritten++;
			}
			m->ref_node[k] = pn;
			for (size_t d = 0; d < m->ndeps && !dup; d++)
				dup = m->deps[d] == pn;
			if (!dup) {
				m->deps[m->ndeps++] = pn;
				m->indeg++;
			}
		}
	}
	/* users, for Kahn's algorithm */
	users = calloc(n + 1, sizeof(*users));
	nusers = calloc(n + 1, sizeof(*nusers));
	heap = calloc(n + 1, sizeof(*heap));
	if (!users || !nusers || !heap)
		goto nomem;
	for (size_t i = 0; i < n; i++)
		for (size_t d = 0; d < mn[i].ndeps; d++) {
			size_t p = mn[i].deps[d];
			size_t *nu = realloc(users[p], (nusers[p] + 1) * sizeof(*nu));
			if (!nu)
				goto nomem;
			users[p] = nu;
			users[p][nusers[p]++] = i;
		}
	for (size_t i = 0; i < n; i++)
		if (!mn[i].indeg)
			heap_push(heap, &nheap, i);
	/* topological order (stable: the merge list's), then hashes and nodes */
	while (done < n) {
		size_t pick = SIZE_MAX;
		while (nheap && pick == SIZE_MAX) {
			pick = heap_pop(heap, &nheap);
			if (mn[pick].done)
				pick = SIZE_MAX;
		}
		if (pick == SIZE_MAX) { /* a cycle: take the first left, its refs become values */
			for (size_t i = 0; i < n && pick == SIZE_MAX; i++)
				if (!mn[i].done)
					pick = i;
			strlist_pushf(warnings, "dependency cycle through '%s' when merging",
				      mn[pick].src->label);
		}
		struct mnode *m = &mn[pick];
		struct graph_node gn;
		char *buf = NULL;
		size_t len;
		for (size_t k = 0; k < m->th.inputs.n; k++) {
			struct thunk_input *in = &m->th.inputs.v[k];
			size_t pn = m->ref_node[k], po;
			if (pn == SIZE_MAX)
				continue;
			if (!mn[pn].done) { /* cycle */
				uint32_t mode;
				if (statcache_hash(sc, st, in->path, STATCACHE_STORE, &in->hash, &mode) < 0)
					in->hash.kind = GG_HASH_VALUE;
				in->output = 0;
				continue;
			}
			pmap_get(&pm, in->path, &pn, &po);
			in->hash = mn[pn].hash;
			in->output = (uint32_t)po;
			in->mode = mn[pn].src->outputs[po].mode;
		}
		if ((ret = thunk_encode(&m->th, &buf, &len)) == 0)
			ret = store_put_buf(st, GG_HASH_THUNK, buf, len, &m->hash);
		free(buf);
		if (ret < 0)
			goto out;
		m->done = true;
		m->order = out.n;
		done++;
		for (size_t u = 0; u < nusers[pick]; u++) {
			struct mnode *um = &mn[users[pick][u]];
			if (um->indeg && --um->indeg == 0)
				heap_push(heap, &nheap, users[pick][u]);
		}
		if ((ret = copy_node(m->src, &gn)) < 0) {
			free(gn.label);
			free(gn.command);
			free(gn.deps);
			for (size_t o = 0; o < gn.noutputs; o++)
				free(gn.outputs[o].path);
			free(gn.outputs);
			goto out;
		}
		gn.hash = m->hash;
		free(gn.deps);
		gn.deps = calloc(m->ndeps + 1, sizeof(*gn.deps));
		if (!gn.deps)
			goto nomem;
		for (size_t d = 0; d < m->ndeps; d++)
			if (mn[m->deps[d]].done && mn[m->deps[d]].order < out.n)
				gn.deps[gn.ndeps++] = mn[m->deps[d]].order;
		if ((ret = graph_add(&out, &gn)) < 0)
			goto out;
	}
	/* drivers' inputs: the new ones, and the old ones not named again */
	out.tree = strdup(cur->tree ? cur->tree : (old->tree ? old->tree : "/"));
	out.driver_inputs = calloc(cur->ndriver_inputs + old->ndriver_inputs + 1,
				   sizeof(*out.driver_inputs));
	if (!out.tree || !out.driver_inputs)
		goto nomem;
	for (size_t i = 0; i < cur->ndriver_inputs + old->ndriver_inputs; i++) {
		const struct graph_output *d = i < cur->ndriver_inputs ? &cur->driver_inputs[i]
								  : &old->driver_inputs[i - cur->ndriver_inputs];
		bool seen = false;
		for (size_t k = 0; k < out.ndriver_inputs && !seen; k++)
			seen = !strcmp(out.driver_inputs[k].path, d->path);
		if (seen)
			continue;
		out.driver_inputs[out.ndriver_inputs] = *d;
		if (!(out.driver_inputs[out.ndriver_inputs].path = strdup(d->path)))
			goto nomem;
		out.ndriver_inputs++;
	}
	graph_release(cur);
	*cur = out;
	graph_init(&out);
	ret = 0;
	goto out;
nomem:
	ret = -ENOMEM;
out:
	for (size_t i = 0; mn && i < n; i++) {
		thunk_release(&mn[i].th);
		free(mn[i].deps);
		free(mn[i].ref_node);
	}
	for (size_t i = 0; users && i < n; i++)
		free(users[i]);
	free(users);
	free(nusers);
	free(heap);
	free(mn);
	free(pm.key);
	free(pm.node);
	free(pm.out);
	strset_release(&produced);
	graph_release(&out);
	return ret;
}
