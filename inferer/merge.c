/*
 * merge.c - the existing graph plus a new recording's (see merge.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/store/cache.h"
#include "inferer/infer.h"
#include "inferer/merge.h"
#include "runtime/ir/thunk.h"
#include "runtime/trace/trace_read.h"

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

struct pmap { /* path -> (merge node, output) for final outputs; the last put wins */
	struct htab ix; /* str_hash(key) -> index into v */
	struct pmap_entry { const char *key; size_t node, out; } *v;
	size_t n; /* v has room for every output */
};

static bool pmap_eq(const void *ctx, uint32_t val, const void *key)
{
	const struct pmap *m = ctx;
	return !strcmp(m->v[val].key, key);
}

static int pmap_put(struct pmap *m, const char *path, size_t node, size_t out)
{
	uint64_t h = str_hash(path);
	uint32_t *ref = htab_ref(&m->ix, h, pmap_eq, m, path);
	int ret;

	if (ref) {
		m->v[*ref] = (struct pmap_entry){ path, node, out };
		return 0;
	}
	if ((ret = htab_add(&m->ix, h, (uint32_t)m->n)) < 0)
		return ret;
	m->v[m->n++] = (struct pmap_entry){ path, node, out };
	return 0;
}

static bool pmap_get(const struct pmap *m, const char *path, size_t *node, size_t *out)
{
	uint32_t i = htab_find(&m->ix, str_hash(path), pmap_eq, m, path);
	if (i == HTAB_NONE)
		return false;
	*node = m->v[i].node;
	*out = m->v[i].out;
	return true;
}

static int copy_node(const struct graph_node *from, struct graph_node *to)
{
	memset(to, 0, sizeof(*to));
	to->hash = from->hash;
	to->label = strdup(from->label);
	to->command = strdup(from->command);
	to->local = from->local;
	to->ms = from->ms;
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
		if ((ret = store_load_thunk(st, &mn[i].src->hash, &mn[i].th)) < 0) {
			strlist_pushf(warnings, "cannot read thunk of '%s': %s", mn[i].src->label,
				      strerror(-ret));
			goto out;
		}
		nouts += mn[i].src->noutputs;
	}
	/* path -> producer (final versions; later nodes win, the new recording last) */
	pm.v = malloc((nouts + 1) * sizeof(*pm.v));
	if (!pm.v || htab_reserve(&pm.ix, nouts) < 0)
		goto nomem;
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < mn[i].src->noutputs; k++)
			if (mn[i].src->outputs[k].final &&
			    pmap_put(&pm, mn[i].src->outputs[k].path, i, k) < 0)
				goto nomem;
	/* references by path */
	for (size_t i = 0; i < n; i++) {
		struct mnode *m = &mn[i];
		m->ref_node = malloc((m->th.inputs.n + 1) * sizeof(*m->ref_node));
		m->deps = calloc(m->th.inputs.n + m->th.objects.n + 1, sizeof(*m->deps));
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
		/* a program the build made (a generator): its producer runs first; the
		 * object stays a value, re-hashed from the tree when the key is computed */
		for (size_t k = 0; k < m->th.objects.n; k++) {
			size_t pn, po;
			bool dup = false;
			if (!pmap_get(&pm, m->th.objects.v[k].path, &pn, &po) || pn == i)
				continue;
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
			graph_node_release(&gn);
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
	htab_release(&pm.ix);
	free(pm.v);
	strset_release(&produced);
	graph_release(&out);
	return ret;
}

/* ---- one node re-recorded (graph_replace_node, graph_adopt) ---------------------------- */

static int input_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct thunk_input *)elem)->path);
}

/*
 * The reference a file read at `path` by node idx's new thunk gets (see merge.h;
 * programs and objects stay values, as the inferer makes them): the old thunk's for
 * the same path, else the final producer of the path when it is an earlier node.
 * False: it stays a value.
 */
static bool ref_for(struct graph *g, size_t idx, const struct thunk *old, const char *path,
		    struct gg_hash *h, uint32_t *output, uint32_t *mode)
{
	const struct thunk_input *was = NULL;
	size_t po;
	long pn;

	if (old->inputs.n) /* canonical: sorted by path */
		was = bsearch(path, old->inputs.v, old->inputs.n, sizeof(*old->inputs.v), input_cmp);
	if (was && was->hash.kind == GG_HASH_THUNK) {
		pn = graph_find_hash(g, &was->hash);
		if (pn >= 0 && (size_t)pn < idx) {
			*h = was->hash;
			*output = was->output;
			*mode = was->mode;
			return true;
		}
	}
	pn = graph_find_path(g, path, &po);
	if (pn < 0 || (size_t)pn >= idx)
		return false;
	*h = g->nodes[pn].hash;
	*output = (uint32_t)po;
	*mode = g->nodes[pn].outputs[po].mode;
	return true;
}

static void reref_input(struct graph *g, size_t idx, const struct thunk *old,
			struct thunk_input *in)
{
	uint32_t mode;
	if (in->hash.kind == GG_HASH_VALUE)
		ref_for(g, idx, old, in->path, &in->hash, &in->output, &mode);
}

/* infer_opts.producer for graph_adopt: a file gone since keeps its reference */
struct adopt_ctx {
	struct graph *g;
	size_t idx;
	const struct thunk *old;
};

static int adopt_producer(void *ctx, const char *path, struct gg_hash *h, uint32_t *output,
			  uint32_t *mode)
{
	struct adopt_ctx *a = ctx;
	return ref_for(a->g, a->idx, a->old, path, h, output, mode) ? 0 : -ENOENT;
}

static int add_dep(size_t **deps, size_t *ndeps, size_t d)
{
	size_t *nd;
	for (size_t k = 0; k < *ndeps; k++)
		if ((*deps)[k] == d)
			return 0;
	if (!(nd = realloc(*deps, (*ndeps + 1) * sizeof(*nd))))
		return -ENOMEM;
	*deps = nd;
	nd[(*ndeps)++] = d;
	return 0;
}

/* The deps of a node whose thunk is th (see merge.h), all before idx. */
static int deps_of(struct graph *g, size_t idx, const struct thunk *th, size_t **deps,
		   size_t *ndeps)
{
	const struct thunk_input *prog[] = { &th->exe };
	int ret = 0;

	*deps = NULL;
	*ndeps = 0;
	for (size_t k = 0; k < th->inputs.n && ret == 0; k++) {
		long pn;
		if (th->inputs.v[k].hash.kind != GG_HASH_THUNK)
			continue;
		pn = graph_find_hash(g, &th->inputs.v[k].hash);
		if (pn >= 0 && (size_t)pn < idx)
			ret = add_dep(deps, ndeps, (size_t)pn);
	}
	for (size_t k = 0; k < th->objects.n + 1 && ret == 0; k++) {
		const struct thunk_input *o = k < th->objects.n ? &th->objects.v[k] : prog[0];
		long pn = o->path ? graph_find_path(g, o->path, NULL) : -1;
		if (o->hash.kind == GG_HASH_THUNK)
			pn = graph_find_hash(g, &o->hash);
		if (pn >= 0 && (size_t)pn < idx)
			ret = add_dep(deps, ndeps, (size_t)pn);
	}
	return ret;
}

static int store_thunk(struct store *st, const struct thunk *th, struct gg_hash *h)
{
	char *buf = NULL;
	size_t len;
	struct thunk tmp = *th; /* thunk_encode sorts the lists in place */
	int ret = thunk_encode(&tmp, &buf, &len);
	if (ret == 0)
		ret = store_put_buf(st, GG_HASH_THUNK, buf, len, h);
	free(buf);
	return ret;
}

struct rename { struct gg_hash from, to; size_t node; };

/* Point a reference to a renamed thunk at its new name (output matched by path). */
static int rename_ref(struct store *st, struct statcache *sc, const struct graph *g,
		      const struct rename *map, size_t nmap, struct thunk_input *in, bool *changed)
{
	if (in->hash.kind != GG_HASH_THUNK)
		return 0;
	for (size_t m = 0; m < nmap; m++) {
		const struct graph_node *p = &g->nodes[map[m].node];
		uint32_t mode;
		if (!hash_equal(&in->hash, &map[m].from))
			continue;
		*changed = true;
		for (size_t o = 0; o < p->noutputs; o++) {
			if (!strcmp(p->outputs[o].path, in->path)) {
				in->hash = map[m].to;
				in->output = (uint32_t)o;
				return 0;
			}
		}
		/* the new thunk no longer makes it: the file as it is */
		in->output = 0;
		if (statcache_hash(sc, st, in->path, STATCACHE_STORE, &in->hash, &mode) < 0) {
			memset(&in->hash, 0, sizeof(in->hash));
			in->hash.kind = GG_HASH_VALUE;
		}
		return 0;
	}
	return 0;
}

int graph_replace_node(struct store *st, struct statcache *sc, struct graph *g, size_t idx,
		       const struct graph_node *one)
{
	struct thunk old = THUNK_INIT, th = THUNK_INIT;
	struct graph_node *gn = &g->nodes[idx];
	struct graph_output *outputs = NULL;
	struct rename *map = NULL;
	size_t *deps = NULL, ndeps = 0, nmap = 0;
	char *label = NULL;
	struct gg_hash h;
	int ret;

	if ((ret = graph_node_own(gn)) < 0 || (ret = store_load_thunk(st, &gn->hash, &old)) < 0 ||
	    (ret = store_load_thunk(st, &one->hash, &th)) < 0)
		goto out;
	for (size_t k = 0; k < th.inputs.n; k++)
		reref_input(g, idx, &old, &th.inputs.v[k]);
	if ((ret = deps_of(g, idx, &th, &deps, &ndeps)) < 0 || (ret = store_thunk(st, &th, &h)) < 0)
		goto out;
	ret = -ENOMEM;
	outputs = calloc(one->noutputs + 1, sizeof(*outputs));
	map = calloc(g->n + 1, sizeof(*map));
	if (!outputs || !map || !(label = strdup(one->label)))
		goto out;
	for (size_t i = 0; i < one->noutputs; i++) {
		outputs[i] = one->outputs[i];
		if (!(outputs[i].path = strdup(one->outputs[i].path)))
			goto out_outputs;
	}
	/* the node: new thunk, outputs and deps, same place */
	map[nmap++] = (struct rename){ gn->hash, h, idx };
	for (size_t i = 0; i < gn->noutputs; i++)
		free(gn->outputs[i].path);
	free(gn->outputs);
	free(gn->deps);
	free(gn->label);
	gn->outputs = outputs;
	gn->noutputs = one->noutputs;
	gn->deps = deps;
	gn->ndeps = ndeps;
	gn->label = label;
	gn->hash = h;
	gn->local = one->local;
	outputs = NULL;
	deps = NULL;
	label = NULL;
	graph_reindex(g);
	ret = 0;
	/* later nodes naming a renamed thunk, in (topological) order */
	for (size_t j = idx + 1; j < g->n && ret == 0; j++) {
		struct graph_node *u = &g->nodes[j];
		struct thunk ut = THUNK_INIT;
		bool touched = false, changed = false;

		for (size_t k = 0; k < u->ndeps && !touched; k++)
			for (size_t m = 0; m < nmap && !touched; m++)
				touched = u->deps[k] == map[m].node;
		if (!touched)
			continue;
		if ((ret = store_load_thunk(st, &u->hash, &ut)) < 0)
			break;
		ret = rename_ref(st, sc, g, map, nmap, &ut.exe, &changed);
		for (size_t k = 0; k < ut.inputs.n && ret == 0; k++)
			ret = rename_ref(st, sc, g, map, nmap, &ut.inputs.v[k], &changed);
		for (size_t k = 0; k < ut.objects.n && ret == 0; k++)
			ret = rename_ref(st, sc, g, map, nmap, &ut.objects.v[k], &changed);
		if (ret == 0 && changed && (ret = store_thunk(st, &ut, &h)) == 0 &&
		    !hash_equal(&h, &u->hash)) {
			map[nmap++] = (struct rename){ u->hash, h, j };
			u->hash = h;
		}
		thunk_release(&ut);
	}
	graph_reindex(g);
	goto out;
out_outputs:
	for (size_t i = 0; i < one->noutputs; i++)
		free(outputs[i].path);
out:
	free(outputs);
	free(map);
	free(deps);
	free(label);
	thunk_release(&old);
	thunk_release(&th);
	return ret;
}

int graph_adopt(struct store *st, struct statcache *sc, struct graph *g, size_t idx,
		const char *tdir, struct cache_entry *outs, char *errbuf, size_t errlen)
{
	struct trace t = TRACE_INIT;
	struct graph one;
	struct infer_stats ist;
	struct thunk old = THUNK_INIT;
	struct adopt_ctx actx = { .g = g, .idx = idx, .old = &old };
	struct infer_opts io = { .tree = g->tree, .producer = adopt_producer, .producer_ctx = &actx };
	const struct graph_node *nn;
	int ret;

	memset(outs, 0, sizeof(*outs));
	graph_init(&one);
	if ((ret = store_load_thunk(st, &g->nodes[idx].hash, &old)) < 0) {
		snprintf(errbuf, errlen, "cannot read thunk of '%s': %s", g->nodes[idx].label,
			 strerror(-ret));
		return ret;
	}
	if ((ret = trace_open_dir(&t, tdir, NULL)) < 0) {
		snprintf(errbuf, errlen, "%s", t.error);
		trace_release(&t);
		thunk_release(&old);
		return ret;
	}
	ret = infer_run(&t, st, sc, &io, &one, &ist, NULL, errbuf, errlen);
	trace_release(&t);
	if (ret < 0)
		goto out;
	if (one.n != 1) {
		snprintf(errbuf, errlen, "the recording holds %zu commands with outputs, not one",
			 one.n);
		ret = -EPROTO;
		goto out;
	}
	nn = &one.nodes[0];
	ret = -ENOMEM;
	if (!(outs->v = calloc(nn->noutputs + 1, sizeof(*outs->v))))
		goto out;
	for (size_t i = 0; i < nn->noutputs; i++) {
		if (!hash_is_set(&nn->outputs[i].value)) {
			snprintf(errbuf, errlen, "cannot hash output '%s'", nn->outputs[i].path);
			ret = -EIO;
			goto out;
		}
		if (!(outs->v[i].path = strdup(nn->outputs[i].path)))
			goto out;
		outs->v[i].value = nn->outputs[i].value;
		outs->v[i].mode = nn->outputs[i].mode;
		outs->n = i + 1;
	}
	if ((ret = graph_replace_node(st, sc, g, idx, nn)) < 0)
		snprintf(errbuf, errlen, "cannot update the graph: %s", strerror(-ret));
out:
	if (ret < 0)
		cache_entry_release(outs);
	graph_release(&one);
	thunk_release(&old);
	return ret;
}
