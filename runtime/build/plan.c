/*
 * plan.c - the plan (see plan.h for the states, transitions and invariants).
 *
 * plan_init: select (depth-first from the targets), count pending deps and build
 * the reverse edges as one compressed array (ustart/users), order the selection
 * with Kahn's algorithm (what is left over lies on or behind a cycle), compute the
 * critical paths in reverse topological order, heapify the nodes without deps.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/build/plan.h"

#define NONE UINT32_MAX

static size_t deps_of(const struct plan_dag *dag, size_t i, const size_t **deps)
{
	size_t nd = dag->deps(dag->ctx, i, deps);
	if (!*deps)
		nd = 0;
	return nd;
}

/* ---- the ready heap ----------------------------------------------------------- */

/* Does a go before b?  The longer critical path, then the lower index. */
static bool before(const struct plan *p, uint32_t a, uint32_t b)
{
	return p->cp[a] > p->cp[b] || (p->cp[a] == p->cp[b] && a < b);
}

static void sift_down(struct plan *p, size_t k)
{
	uint32_t *h = p->heap;
	for (;;) {
		size_t l = 2 * k + 1, r = l + 1, best = k;
		uint32_t t;
		if (l < p->nheap && before(p, h[l], h[best]))
			best = l;
		if (r < p->nheap && before(p, h[r], h[best]))
			best = r;
		if (best == k)
			return;
		t = h[k];
		h[k] = h[best];
		h[best] = t;
		k = best;
	}
}

static void heap_push(struct plan *p, uint32_t node)
{
	uint32_t *h = p->heap;
	size_t k = p->nheap++;
	while (k > 0 && before(p, node, h[(k - 1) / 2])) {
		h[k] = h[(k - 1) / 2];
		k = (k - 1) / 2;
	}
	h[k] = node;
}

static uint32_t heap_pop(struct plan *p)
{
	uint32_t top = p->heap[0];
	p->heap[0] = p->heap[--p->nheap];
	sift_down(p, 0);
	return top;
}

/* ---- transitions -------------------------------------------------------------- */

static void tell(struct plan *p, size_t node, enum plan_state st)
{
	if (p->o.on_final)
		p->o.on_final(p->o.ctx, node, st);
}

/*
 * The WAIT users of a failed node, and theirs, become SKIPPED.  A SKIPPED node's
 * pending count means nothing any more, so it links the nodes still to visit: each
 * node is linked (and told of) once, without recursion or allocation.
 */
static void skip_users(struct plan *p, uint32_t failed)
{
	uint32_t head = NONE, x = failed;
	for (;;) {
		for (uint32_t k = p->ustart[x]; k < p->ustart[x + 1]; k++) {
			uint32_t u = p->users[k];
			if (p->state[u] != PLAN_WAIT)
				continue;
			p->state[u] = PLAN_SKIPPED;
			p->c.waiting--;
			p->c.skipped++;
			p->pending[u] = head;
			head = u;
		}
		if (head == NONE)
			return;
		x = head;
		head = p->pending[x];
		tell(p, x, PLAN_SKIPPED);
	}
}

/* Once per build: nothing more is handed out. */
static void stop(struct plan *p)
{
	if (p->stopped)
		return;
	p->stopped = true;
	p->nheap = 0;
	for (size_t i = 0; i < p->n; i++) {
		if (p->state[i] != PLAN_WAIT && p->state[i] != PLAN_READY)
			continue;
		if (p->state[i] == PLAN_WAIT)
			p->c.waiting--;
		else
			p->c.ready--;
		p->state[i] = PLAN_CANCELED;
		p->c.canceled++;
		tell(p, i, PLAN_CANCELED);
	}
}

bool plan_next_ready(struct plan *p, size_t *node)
{
	uint32_t i;
	if (p->stopped || !p->nheap)
		return false;
	i = heap_pop(p);
	p->state[i] = PLAN_RUNNING;
	p->c.ready--;
	p->c.running++;
	*node = i;
	return true;
}

int plan_node_done(struct plan *p, size_t node, enum plan_state result)
{
	if (node >= p->n || p->state[node] != PLAN_RUNNING ||
	    (result != PLAN_DONE && result != PLAN_CACHED && result != PLAN_FAILED &&
	     result != PLAN_CANCELED))
		return -EINVAL;
	p->state[node] = (uint8_t)result;
	p->c.running--;
	if (result == PLAN_CANCELED) {
		p->c.canceled++;
		stop(p);
		return 0;
	}
	if (result == PLAN_FAILED) {
		p->c.failed++;
		skip_users(p, (uint32_t)node);
		if (!p->o.keep_going)
			stop(p);
		return 0;
	}
	if (result == PLAN_DONE)
		p->c.ran++;
	else
		p->c.cached++;
	for (uint32_t k = p->ustart[node]; k < p->ustart[node + 1]; k++) {
		uint32_t u = p->users[k];
		if (p->state[u] != PLAN_WAIT || --p->pending[u])
			continue;
		p->state[u] = PLAN_READY;
		p->c.waiting--;
		p->c.ready++;
		heap_push(p, u);
	}
	return 0;
}

void plan_cancel(struct plan *p)
{
	stop(p);
}

bool plan_finished(const struct plan *p)
{
	return !p->c.waiting && !p->c.ready && !p->c.running;
}

const char *plan_state_name(enum plan_state s)
{
	static const char *const names[] = {
		[PLAN_UNSELECTED] = "unselected", [PLAN_WAIT] = "wait", [PLAN_READY] = "ready",
		[PLAN_RUNNING] = "running", [PLAN_DONE] = "done", [PLAN_CACHED] = "cached",
		[PLAN_FAILED] = "failed", [PLAN_SKIPPED] = "skipped", [PLAN_CANCELED] = "canceled",
	};
	return (unsigned)s < sizeof(names) / sizeof(*names) ? names[s] : "?";
}

/* ---- plan_init ------------------------------------------------------------------ */

/* Mark the targets and what they need PLAN_WAIT (stack: n scratch slots). */
static int select_nodes(struct plan *p, const struct plan_dag *dag, const size_t *targets,
			size_t ntargets, uint32_t *stack)
{
	size_t ns = 0;
	if (!targets || !ntargets) {
		memset(p->state, PLAN_WAIT, p->n);
		return 0;
	}
	for (size_t t = 0; t < ntargets; t++) {
		if (targets[t] >= p->n)
			return -EINVAL;
		if (p->state[targets[t]] == PLAN_UNSELECTED) {
			p->state[targets[t]] = PLAN_WAIT;
			stack[ns++] = (uint32_t)targets[t];
		}
	}
	while (ns) {
		const size_t *d;
		size_t nd = deps_of(dag, stack[--ns], &d);
		for (size_t k = 0; k < nd; k++) {
			if (d[k] >= p->n)
				return -EINVAL;
			if (p->state[d[k]] == PLAN_UNSELECTED) {
				p->state[d[k]] = PLAN_WAIT;
				stack[ns++] = (uint32_t)d[k];
			}
		}
	}
	return 0;
}

/* Pending counts and the compressed reverse edges of the selection. */
static int link_users(struct plan *p, const struct plan_dag *dag)
{
	size_t edges = 0, sum = 0;
	for (size_t i = 0; i < p->n; i++) {
		const size_t *d;
		size_t nd;
		if (p->state[i] == PLAN_UNSELECTED)
			continue;
		nd = deps_of(dag, i, &d);
		for (size_t k = 0; k < nd; k++)
			if (d[k] >= p->n)
				return -EINVAL;
		if (nd >= NONE - edges)
			return -E2BIG;
		edges += nd;
		p->pending[i] = (uint32_t)nd;
		for (size_t k = 0; k < nd; k++)
			p->ustart[d[k]]++;
	}
	p->users = malloc((edges ? edges : 1) * sizeof(*p->users));
	if (!p->users)
		return -ENOMEM;
	for (size_t i = 0; i < p->n; i++) { /* ustart[i]: the end of i's range */
		sum += p->ustart[i];
		p->ustart[i] = (uint32_t)sum;
	}
	p->ustart[p->n] = (uint32_t)sum;
	for (size_t i = 0; i < p->n; i++) { /* fill backwards: ustart[i] ends at the start */
		const size_t *d;
		size_t nd;
		if (p->state[i] == PLAN_UNSELECTED)
			continue;
		nd = deps_of(dag, i, &d);
		for (size_t k = 0; k < nd; k++)
			p->users[--p->ustart[d[k]]] = (uint32_t)i;
	}
	return 0;
}

/*
 * Kahn's order of the selection into order[] (left[] is scratch, n slots): the
 * number of nodes ordered, fewer than selected when there is a cycle.
 */
static size_t topo_order(struct plan *p, uint32_t *order, uint32_t *left)
{
	size_t tail = 0;
	memcpy(left, p->pending, p->n * sizeof(*left));
	for (size_t i = 0; i < p->n; i++)
		if (p->state[i] != PLAN_UNSELECTED && !left[i])
			order[tail++] = (uint32_t)i;
	for (size_t head = 0; head < tail; head++) {
		uint32_t x = order[head];
		for (uint32_t k = p->ustart[x]; k < p->ustart[x + 1]; k++)
			if (!--left[p->users[k]])
				order[tail++] = p->users[k];
	}
	return tail;
}

/*
 * Name one cycle among the nodes Kahn could not order (left[] > 0): each of them
 * has a dep that is also left over, so following such deps must come back to a
 * node already seen.  cp[] is free scratch here (the step a node was seen at, + 1).
 */
static int find_cycle(struct plan *p, const struct plan_dag *dag, const uint32_t *left)
{
	size_t x = 0, len = 0, *path;
	memset(p->cp, 0, p->n * sizeof(*p->cp));
	while (x < p->n && (p->state[x] == PLAN_UNSELECTED || !left[x]))
		x++;
	path = malloc(p->n * sizeof(*path));
	if (!path)
		return -ENOMEM;
	while (!p->cp[x]) {
		const size_t *d;
		size_t nd = deps_of(dag, x, &d), k = 0;
		path[len] = x;
		p->cp[x] = ++len;
		while (k < nd && !left[d[k]])
			k++;
		if (k == nd) { /* cannot happen (see above): say so rather than loop */
			free(path);
			return -EINVAL;
		}
		x = d[k];
	}
	/* path[j + 1] is a dep of path[j]; the cycle runs from path[cp[x] - 1] to the end */
	p->ncycle = len - (size_t)(p->cp[x] - 1);
	p->cycle = malloc(p->ncycle * sizeof(*p->cycle));
	if (!p->cycle) {
		free(path);
		return -ENOMEM;
	}
	for (size_t k = 0; k < p->ncycle; k++)
		p->cycle[k] = path[len - 1 - k];
	free(path);
	return -ELOOP;
}

/*
 * The weight of a node whose duration is not known (0): the mean of the known
 * ones, so that a node new since the recording ranks as a typical one rather than
 * as the lightest; 1 when none is known (or no weights: every node weighs 1).
 */
static uint64_t unknown_weight(const struct plan_dag *dag, const uint32_t *order, size_t nsel)
{
	uint64_t sum = 0, known = 0;
	if (!dag->weight)
		return 1;
	for (size_t k = 0; k < nsel; k++) {
		uint64_t w = dag->weight(dag->ctx, order[k]);
		if (!w)
			continue;
		sum = w > UINT64_MAX - sum ? UINT64_MAX : sum + w;
		known++;
	}
	return known && sum / known ? sum / known : 1;
}

static uint64_t node_weight(const struct plan_dag *dag, uint32_t x, uint64_t unknown)
{
	uint64_t w = dag->weight ? dag->weight(dag->ctx, x) : 1;
	return w ? w : unknown;
}

/*
 * cp[x]: x's weight plus the heaviest cp of its users, in reverse topological order;
 * then, with own_pct, each plus that share of its own weight (once every path is
 * known: a path through x counts x's weight once).
 */
static void critical_paths(struct plan *p, const struct plan_dag *dag, const uint32_t *order,
			   size_t nsel)
{
	uint64_t unknown = unknown_weight(dag, order, nsel);
	for (size_t k = nsel; k-- > 0;) {
		uint32_t x = order[k];
		uint64_t w = node_weight(dag, x, unknown), m = 0;
		for (uint32_t j = p->ustart[x]; j < p->ustart[x + 1]; j++)
			if (p->cp[p->users[j]] > m)
				m = p->cp[p->users[j]];
		p->cp[x] = m > UINT64_MAX - w ? UINT64_MAX : m + w;
	}
	for (size_t k = 0; p->o.own_pct && k < nsel; k++) {
		uint32_t x = order[k];
		unsigned __int128 own =
			(unsigned __int128)node_weight(dag, x, unknown) * p->o.own_pct / 100;
		p->cp[x] = own > UINT64_MAX - p->cp[x] ? UINT64_MAX : p->cp[x] + (uint64_t)own;
	}
}

int plan_init(struct plan *p, const struct plan_dag *dag, const size_t *targets, size_t ntargets,
	      const struct plan_opts *opts)
{
	uint32_t *order = NULL, *left = NULL;
	size_t nsel = 0;
	int ret;

	memset(p, 0, sizeof(*p));
	if (opts)
		p->o = *opts;
	if (dag->n >= NONE)
		return -E2BIG;
	if (dag->n && !dag->deps)
		return -EINVAL;
	p->n = dag->n;
	p->state = calloc(p->n + 1, 1);
	p->pending = calloc(p->n + 1, sizeof(*p->pending));
	p->ustart = calloc(p->n + 1, sizeof(*p->ustart));
	p->cp = calloc(p->n + 1, sizeof(*p->cp));
	order = malloc((p->n + 1) * sizeof(*order));
	left = malloc((p->n + 1) * sizeof(*left));
	if (!p->state || !p->pending || !p->ustart || !p->cp || !order || !left) {
		ret = -ENOMEM;
		goto out_scratch;
	}
	if ((ret = select_nodes(p, dag, targets, ntargets, order)) < 0 ||
	    (ret = link_users(p, dag)) < 0)
		goto out_scratch;
	for (size_t i = 0; i < p->n; i++)
		nsel += p->state[i] != PLAN_UNSELECTED;
	if (topo_order(p, order, left) < nsel) {
		ret = find_cycle(p, dag, left);
		goto out_scratch;
	}
	critical_paths(p, dag, order, nsel);
	p->heap = malloc((nsel + 1) * sizeof(*p->heap));
	if (!p->heap) {
		ret = -ENOMEM;
		goto out_scratch;
	}
	p->c.selected = nsel;
	for (size_t i = 0; i < p->n; i++) {
		if (p->state[i] == PLAN_UNSELECTED)
			continue;
		if (p->pending[i]) {
			p->c.waiting++;
			continue;
		}
		p->state[i] = PLAN_READY;
		p->c.ready++;
		p->heap[p->nheap++] = (uint32_t)i;
	}
	for (size_t k = p->nheap / 2; k-- > 0;)
		sift_down(p, k);
	ret = 0;
out_scratch:
	free(order);
	free(left);
	return ret;
}

void plan_release(struct plan *p)
{
	free(p->state);
	free(p->pending);
	free(p->ustart);
	free(p->users);
	free(p->cp);
	free(p->heap);
	free(p->cycle);
	memset(p, 0, sizeof(*p));
}
