/*
 * test_plan.c - the plan (runtime/build/plan.h) driven by a small builder loop over
 * the fake engine (fake_engine.h): completions arrive on the engine's eventfd,
 * which the loop polls together with a cancel eventfd, as the real builder will.
 * Diamond, failures with and without -k, cancel, 100k-node chain and fan,
 * critical-path order, cycles, selection, and every node counted exactly once.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <cmocka.h>

#include "runtime/build/plan.h"
#include "tests/unit/fake_engine.h"

/* ---- a DAG as arrays --------------------------------------------------------------- */

struct dag {
	size_t n;
	size_t **deps;
	size_t *ndeps, *alloc;
	uint64_t *weight;          /* NULL: all 1 */
};

static void dag_new(struct dag *d, size_t n)
{
	d->n = n;
	d->deps = calloc(n + 1, sizeof(*d->deps));
	d->ndeps = calloc(n + 1, sizeof(*d->ndeps));
	d->alloc = calloc(n + 1, sizeof(*d->alloc));
	d->weight = NULL;
	assert_non_null(d->deps);
	assert_non_null(d->ndeps);
	assert_non_null(d->alloc);
}

/* `user` depends on `dep`. */
static void dag_edge(struct dag *d, size_t user, size_t dep)
{
	if (d->ndeps[user] == d->alloc[user]) {
		d->alloc[user] = d->alloc[user] ? 2 * d->alloc[user] : 2;
		d->deps[user] = realloc(d->deps[user], d->alloc[user] * sizeof(**d->deps));
		assert_non_null(d->deps[user]);
	}
	d->deps[user][d->ndeps[user]++] = dep;
}

static void dag_free(struct dag *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->deps[i]);
	free(d->deps);
	free(d->ndeps);
	free(d->alloc);
	free(d->weight);
}

/* Every node's recorded weight, w[0..n-1]. */
static void dag_weigh(struct dag *d, const uint64_t *w)
{
	d->weight = calloc(d->n + 1, sizeof(*d->weight));
	assert_non_null(d->weight);
	memcpy(d->weight, w, d->n * sizeof(*w));
}

static size_t dag_deps(void *ctx, size_t node, const size_t **deps)
{
	struct dag *d = ctx;
	*deps = d->deps[node];
	return d->ndeps[node];
}

static uint64_t dag_weight(void *ctx, size_t node)
{
	struct dag *d = ctx;
	return d->weight[node];
}

static struct plan_dag plan_dag_of(struct dag *d)
{
	return (struct plan_dag){ .n = d->n, .deps = dag_deps, .weight = d->weight ? dag_weight : NULL,
				  .ctx = d };
}

/* ---- a builder loop over the fake engine --------------------------------------------- */

struct slot {
	size_t node;
	bool busy;
	struct engine_result res;   /* lives while the node runs */
};

struct tb {
	struct dag *d;
	struct plan p;
	struct engine *e;
	struct fake_outcome *script; /* per node; NULL: ok, delay 1 */
	bool *cached;               /* per node: a cache hit, never reaches the engine */
	unsigned *finals;           /* per node: final states reported (done + on_final) */
	enum plan_state *final;     /* per node: the last one */
	struct slot *slots;
	size_t nslots;
	int cancel_fd;
	size_t cancel_after;        /* write cancel_fd after this many completions (0: never) */
	size_t completions;
	size_t starts_after_cancel;
	bool canceled;
	size_t *order, norder;      /* nodes in the order they were handed out */
};

static struct fake_outcome tb_script(void *ctx, uint64_t tag)
{
	struct tb *b = ctx;
	size_t node = b->slots[tag].node;
	return b->script ? b->script[node] : (struct fake_outcome){ FAKE_OK, 1 };
}

static void tb_final(void *ctx, size_t node, enum plan_state st)
{
	struct tb *b = ctx;
	b->finals[node]++;
	b->final[node] = st;
}

static void tb_init(struct tb *b, struct dag *d, unsigned slots)
{
	struct engine_config cfg = { .slots = slots };
	char err[128];

	memset(b, 0, sizeof(*b));
	b->d = d;
	b->cached = calloc(d->n + 1, sizeof(*b->cached));
	b->finals = calloc(d->n + 1, sizeof(*b->finals));
	b->final = calloc(d->n + 1, sizeof(*b->final));
	b->slots = calloc(slots, sizeof(*b->slots));
	b->nslots = slots;
	b->order = calloc(d->n + 1, sizeof(*b->order));
	assert_non_null(b->order);
	assert_non_null(b->cached);
	assert_non_null(b->finals);
	assert_non_null(b->final);
	assert_non_null(b->slots);
	assert_int_equal(fake_engine.create(&cfg, &b->e, err, sizeof(err)), 0);
	fake_engine_script(b->e, tb_script, b, true);
	b->cancel_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(b->cancel_fd >= 0);
}

static void tb_script_all(struct tb *b, struct fake_outcome oc)
{
	b->script = calloc(b->d->n + 1, sizeof(*b->script));
	assert_non_null(b->script);
	for (size_t i = 0; i < b->d->n; i++)
		b->script[i] = oc;
}

static int tb_plan(struct tb *b, const size_t *targets, size_t ntargets, bool keep_going)
{
	struct plan_dag pd = plan_dag_of(b->d);
	struct plan_opts o = { .keep_going = keep_going, .on_final = tb_final, .ctx = b };
	return plan_init(&b->p, &pd, targets, ntargets, &o);
}

static void tb_release(struct tb *b)
{
	plan_release(&b->p);
	fake_engine.free(b->e);
	close(b->cancel_fd);
	free(b->script);
	free(b->cached);
	free(b->finals);
	free(b->final);
	free(b->slots);
	free(b->order);
}

static void tb_report(struct tb *b, size_t node, enum plan_state st)
{
	assert_int_equal(plan_node_done(&b->p, node, st), 0);
	b->finals[node]++;
	b->final[node] = st;
}

/* Hand out what the plan and the engine allow: cache hits at once, the rest to the engine. */
static void tb_start_ready(struct tb *b)
{
	size_t node;
	while (fake_engine.can_start_more(b->e) && plan_next_ready(&b->p, &node)) {
		struct engine_job job = { 0 };
		size_t s = 0;
		if (b->canceled)
			b->starts_after_cancel++;
		b->order[b->norder++] = node;
		if (b->cached[node]) {
			tb_report(b, node, PLAN_CACHED);
			continue;
		}
		while (s < b->nslots && b->slots[s].busy)
			s++;
		assert_true(s < b->nslots); /* the engine's slots bound ours */
		b->slots[s] = (struct slot){ .node = node, .busy = true };
		job.tag = s;
		assert_int_equal(fake_engine.start(b->e, &job, &b->slots[s].res), 0);
	}
}

static void tb_collect(struct tb *b)
{
	struct engine_done done[8];
	int n = fake_engine.collect(b->e, done, 8);
	assert_true(n >= 0);
	for (int k = 0; k < n; k++) {
		struct slot *sl = &b->slots[done[k].tag];
		enum plan_state st;
		assert_true(done[k].tag < b->nslots);
		assert_true(sl->busy);
		if (done[k].ret == -ECANCELED)
			st = PLAN_CANCELED;
		else if (done[k].ret == 0 && sl->res.ran && sl->res.status == 0)
			st = PLAN_DONE;
		else
			st = PLAN_FAILED;
		engine_result_release(&sl->res);
		sl->busy = false;
		tb_report(b, sl->node, st);
		if (++b->completions == b->cancel_after) {
			uint64_t one = 1;
			assert_int_equal(write(b->cancel_fd, &one, sizeof(one)), (ssize_t)sizeof(one));
		}
	}
}

/*
 * The builder's loop: start, then sleep in poll() on the engine's fd and the
 * cancel fd until something happens.  No timeout drives it: the 30 s bound only
 * turns a lost wake-up into a failure instead of a hang.  0, or -EDEADLK when the
 * plan is not finished and nothing runs, -ETIMEDOUT on a lost wake-up.
 */
static int tb_run(struct tb *b)
{
	for (;;) {
		struct pollfd pf[2] = {
			{ .fd = fake_engine.fd(b->e), .events = POLLIN },
			{ .fd = b->cancel_fd, .events = POLLIN },
		};
		if (!b->canceled)
			tb_start_ready(b);
		if (plan_finished(&b->p))
			return 0;
		if (!plan_counts(&b->p)->running)
			return -EDEADLK;
		if (poll(pf, 2, 30000) <= 0)
			return -ETIMEDOUT;
		if (pf[1].revents & POLLIN) {
			uint64_t v;
			assert_int_equal(read(b->cancel_fd, &v, sizeof(v)), (ssize_t)sizeof(v));
			b->canceled = true;
			plan_cancel(&b->p);
			fake_engine.abort(b->e);
		}
		if (pf[0].revents & POLLIN)
			tb_collect(b);
	}
}

/* Every selected node reached exactly one final state, told once; counts add up. */
static void assert_counted_once(struct tb *b)
{
	const struct plan_counts *c = plan_counts(&b->p);
	size_t per[PLAN_CANCELED + 1] = { 0 }, sel = 0;

	assert_true(plan_finished(&b->p));
	for (size_t i = 0; i < b->d->n; i++) {
		enum plan_state st = plan_state_of(&b->p, i);
		if (st == PLAN_UNSELECTED) {
			assert_int_equal(b->finals[i], 0);
			continue;
		}
		sel++;
		assert_int_equal(b->finals[i], 1);
		assert_int_equal(b->final[i], st);
		assert_true(st >= PLAN_DONE);
		per[st]++;
	}
	assert_int_equal(c->selected, sel);
	assert_int_equal(c->waiting + c->ready + c->running, 0);
	assert_int_equal(c->ran, per[PLAN_DONE]);
	assert_int_equal(c->cached, per[PLAN_CACHED]);
	assert_int_equal(c->failed, per[PLAN_FAILED]);
	assert_int_equal(c->skipped, per[PLAN_SKIPPED]);
	assert_int_equal(c->canceled, per[PLAN_CANCELED]);
	assert_int_equal(c->ran + c->cached + c->failed + c->skipped + c->canceled, sel);
	assert_int_equal(b->e->protocol_errors, 0);
}

/* ---- cases ----------------------------------------------------------------------------- */

static void test_plan__diamond(void **state)
{
	struct dag d;
	struct tb b;
	/* 0 <- 1, 0 <- 2, {1, 2} <- 3 */
	dag_new(&d, 4);
	dag_edge(&d, 1, 0);
	dag_edge(&d, 2, 0);
	dag_edge(&d, 3, 1);
	dag_edge(&d, 3, 2);
	tb_init(&b, &d, 2);
	assert_int_equal(tb_plan(&b, NULL, 0, false), 0);
	assert_int_equal(plan_counts(&b.p)->ready, 1);
	assert_int_equal(plan_counts(&b.p)->waiting, 3);
	assert_int_equal(tb_run(&b), 0);
	assert_counted_once(&b);
	assert_int_equal(plan_counts(&b.p)->ran, 4);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(plan_state_of(&b.p, i), PLAN_DONE);
	/* 0 alone first, 1 and 2 together, 3 last */
	assert_int_equal(b.e->started, 4);
	assert_int_equal(b.e->max_in_flight, 2);
	tb_release(&b);
	dag_free(&d);
}

/*
 * Two chains a0 <- a1 <- a2 and b0 <- b1 <- b2 joined by j; b0 fails.  With -k the
 * a chain finishes, b1, b2 and j are skipped (each told once), the counts add up.
 */
static void test_plan__failure_keep_going_finishes_independent_branches(void **state)
{
	struct dag d;
	struct tb b;
	enum { A0, A1, A2, B0, B1, B2, J, N };
	dag_new(&d, N);
	dag_edge(&d, A1, A0);
	dag_edge(&d, A2, A1);
	dag_edge(&d, B1, B0);
	dag_edge(&d, B2, B1);
	dag_edge(&d, J, A2);
	dag_edge(&d, J, B2);
	tb_init(&b, &d, 1);
	tb_script_all(&b, (struct fake_outcome){ FAKE_OK, 1 });
	b.script[B0] = (struct fake_outcome){ FAKE_FAIL, 1 };
	assert_int_equal(tb_plan(&b, NULL, 0, true), 0);
	assert_int_equal(tb_run(&b), 0);
	assert_counted_once(&b);
	assert_int_equal(plan_state_of(&b.p, A0), PLAN_DONE);
	assert_int_equal(plan_state_of(&b.p, A1), PLAN_DONE);
	assert_int_equal(plan_state_of(&b.p, A2), PLAN_DONE);
	assert_int_equal(plan_state_of(&b.p, B0), PLAN_FAILED);
	assert_int_equal(plan_state_of(&b.p, B1), PLAN_SKIPPED);
	assert_int_equal(plan_state_of(&b.p, B2), PLAN_SKIPPED);
	assert_int_equal(plan_state_of(&b.p, J), PLAN_SKIPPED);
	assert_int_equal(plan_counts(&b.p)->ran, 3);
	assert_int_equal(plan_counts(&b.p)->failed, 1);
	assert_int_equal(plan_counts(&b.p)->skipped, 3);
	assert_int_equal(plan_counts(&b.p)->canceled, 0);
	assert_int_equal(b.e->started, 4);
	tb_release(&b);
	dag_free(&d);
}

/* An engine error (could not run) is a failure too, with the same cascade. */
static void test_plan__engine_error_fails_and_skips_users(void **state)
{
	struct dag d;
	struct tb b;
	dag_new(&d, 3);
	dag_edge(&d, 1, 0);
	dag_edge(&d, 2, 1);
	tb_init(&b, &d, 2);
	tb_script_all(&b, (struct fake_outcome){ FAKE_OK, 1 });
	b.script[0] = (struct fake_outcome){ FAKE_ERROR, 1 };
	assert_int_equal(tb_plan(&b, NULL, 0, true), 0);
	assert_int_equal(tb_run(&b), 0);
	assert_counted_once(&b);
	assert_int_equal(plan_state_of(&b.p, 0), PLAN_FAILED);
	assert_int_equal(plan_state_of(&b.p, 1), PLAN_SKIPPED);
	assert_int_equal(plan_state_of(&b.p, 2), PLAN_SKIPPED);
	tb_release(&b);
	dag_free(&d);
}

/*
 * Without -k: 12 independent nodes, 3 slots; node 0 fails first (shortest delay).
 * The two others in flight finish, nothing new starts, the rest is CANCELED.
 */
static void test_plan__failure_without_keep_going_starts_nothing_new(void **state)
{
	struct dag d;
	struct tb b;
	dag_new(&d, 12);
	tb_init(&b, &d, 3);
	tb_script_all(&b, (struct fake_outcome){ FAKE_OK, 5 });
	b.script[0] = (struct fake_outcome){ FAKE_FAIL, 1 };
	assert_int_equal(tb_plan(&b, NULL, 0, false), 0);
	assert_int_equal(tb_run(&b), 0);
	assert_counted_once(&b);
	assert_int_equal(b.e->started, 3);
	assert_int_equal(plan_state_of(&b.p, 0), PLAN_FAILED);
	assert_int_equal(plan_state_of(&b.p, 1), PLAN_DONE);
	assert_int_equal(plan_state_of(&b.p, 2), PLAN_DONE);
	for (size_t i = 3; i < 12; i++)
		assert_int_equal(plan_state_of(&b.p, i), PLAN_CANCELED);
	assert_int_equal(plan_counts(&b.p)->failed, 1);
	assert_int_equal(plan_counts(&b.p)->ran, 2);
	assert_int_equal(plan_counts(&b.p)->canceled, 9);
	assert_false(plan_next_ready(&b.p, &(size_t){ 0 }));
	tb_release(&b);
	dag_free(&d);
}

/*
 * Cancel (the cancel fd fires after the first completion): jobs in flight are
 * aborted and come back CANCELED, nothing starts after, every node is counted.
 */
static void test_plan__cancel_aborts_in_flight_and_starts_nothing(void **state)
{
	struct dag d;
	struct tb b;
	/* a chain 0..4 and 20 independent nodes */
	dag_new(&d, 25);
	for (size_t i = 1; i < 5; i++)
		dag_edge(&d, i, i - 1);
	tb_init(&b, &d, 4);
	tb_script_all(&b, (struct fake_outcome){ FAKE_OK, 3 });
	b.script[0] = (struct fake_outcome){ FAKE_OK, 1 };
	b.cancel_after = 1;
	assert_int_equal(tb_plan(&b, NULL, 0, false), 0);
	assert_int_equal(tb_run(&b), 0);
	assert_counted_once(&b);
	assert_true(b.canceled);
	assert_int_equal(b.starts_after_cancel, 0);
	assert_int_equal(plan_state_of(&b.p, 0), PLAN_DONE);
	/* 0 (longest path) and 5, 6, 7 start; 0 ends first and 1 takes its slot; then
	 * the cancel aborts 1, 5, 6 and 7 */
	assert_int_equal(plan_counts(&b.p)->ran, 1);
	assert_int_equal(plan_counts(&b.p)->canceled, 24);
	assert_int_equal(b.e->started, 5);
	assert_int_equal(b.e->completed, 5);
	assert_int_equal(plan_counts(&b.p)->failed + plan_counts(&b.p)->skipped, 0);
	tb_release(&b);
	dag_free(&d);
}

/* plan_cancel before anything ran: everything CANCELED, the plan finished. */
static void test_plan__cancel_before_start(void **state)
{
	struct dag d;
	struct tb b;
	size_t node;
	dag_new(&d, 3);
	dag_edge(&d, 2, 0);
	tb_init(&b, &d, 2);
	assert_int_equal(tb_plan(&b, NULL, 0, true), 0);
	plan_cancel(&b.p);
	assert_false(plan_next_ready(&b.p, &node));
	assert_int_equal(tb_run(&b), 0);
	assert_counted_once(&b);
	assert_int_equal(plan_counts(&b.p)->canceled, 3);
	assert_int_equal(b.e->started, 0);
	tb_release(&b);
	dag_free(&d);
}

#define BIG 100000

static void test_plan__chain_100k(void **state)
{
	struct dag d;
	struct tb b;
	dag_new(&d, BIG);
	for (size_t i = 1; i < BIG; i++)
		dag_edge(&d, i, i - 1);
	tb_init(&b, &d, 8);
	b.e->keep_log = false;
	assert_int_equal(tb_plan(&b, NULL, 0, false), 0);
	assert_int_equal(plan_critical_path(&b.p, 0), BIG);
	assert_int_equal(plan_critical_path(&b.p, BIG - 1), 1);
	assert_int_equal(tb_run(&b), 0);
	assert_counted_once(&b);
	assert_int_equal(plan_counts(&b.p)->ran, BIG);
	assert_int_equal(b.e->max_in_flight, 1); /* a chain never runs two at once */
	tb_release(&b);
	dag_free(&d);
}

/* One root, BIG - 2 nodes using it, one node using them all; the tail of the chain fails with -k. */
static void test_plan__fan_100k(void **state)
{
	struct dag d;
	struct tb b;
	dag_new(&d, BIG);
	for (size_t i = 1; i < BIG - 1; i++) {
		dag_edge(&d, i, 0);
		dag_edge(&d, BIG - 1, i);
	}
	tb_init(&b, &d, 64);
	b.e->keep_log = false;
	assert_int_equal(tb_plan(&b, NULL, 0, false), 0);
	assert_int_equal(plan_counts(&b.p)->ready, 1);
	assert_int_equal(tb_run(&b), 0);
	assert_counted_once(&b);
	assert_int_equal(plan_counts(&b.p)->ran, BIG);
	assert_int_equal(b.e->max_in_flight, 64);
	tb_release(&b);

	/* the root fails: BIG - 1 nodes skipped in one cascade, each told once */
	tb_init(&b, &d, 64);
	tb_script_all(&b, (struct fake_outcome){ FAKE_OK, 1 });
	b.script[0] = (struct fake_outcome){ FAKE_FAIL, 1 };
	assert_int_equal(tb_plan(&b, NULL, 0, true), 0);
	assert_int_equal(tb_run(&b), 0);
	assert_counted_once(&b);
	assert_int_equal(plan_counts(&b.p)->failed, 1);
	assert_int_equal(plan_counts(&b.p)->skipped, BIG - 1);
	tb_release(&b);
	dag_free(&d);
}

/*
 * Critical path first: 20 independent nodes (indexes 0..19) and a chain of 10
 * (20..29), one slot, through the engine: the chain's head starts first although
 * its index is higher, and each chain node outranks the singletons while its
 * remaining path is longer than theirs (1); ties go by index.
 */
static void test_plan__critical_path_starts_long_chain_first(void **state)
{
	struct dag d;
	struct tb b;
	dag_new(&d, 30);
	for (size_t i = 21; i < 30; i++)
		dag_edge(&d, i, i - 1);
	tb_init(&b, &d, 1);
	assert_int_equal(tb_plan(&b, NULL, 0, false), 0);
	assert_int_equal(plan_critical_path(&b.p, 20), 10);
	assert_int_equal(plan_critical_path(&b.p, 29), 1);
	assert_int_equal(plan_critical_path(&b.p, 0), 1);
	assert_int_equal(tb_run(&b), 0);
	assert_counted_once(&b);
	assert_int_equal(b.norder, 30);
	for (size_t k = 0; k < 9; k++)
		assert_int_equal(b.order[k], 20 + k);
	for (size_t k = 9; k < 29; k++)
		assert_int_equal(b.order[k], k - 9);
	assert_int_equal(b.order[29], 29);
	tb_release(&b);
	dag_free(&d);
}

/*
 * Four slots: the chain 30..39 behind 30 singletons starts in the first batch, and
 * its next node opens the second batch (it became the longest path when 30 ended).
 */
static void test_plan__critical_path_fan_out_starts_chain_early(void **state)
{
	struct dag d;
	struct tb b;
	dag_new(&d, 40);
	for (size_t i = 31; i < 40; i++)
		dag_edge(&d, i, i - 1);
	tb_init(&b, &d, 4);
	assert_int_equal(tb_plan(&b, NULL, 0, false), 0);
	assert_int_equal(tb_run(&b), 0);
	assert_counted_once(&b);
	assert_int_equal(b.order[0], 30);
	assert_int_equal(b.order[1], 0);
	assert_int_equal(b.order[4], 31);
	assert_int_equal(b.order[8], 32);
	tb_release(&b);
	dag_free(&d);
}

/*
 * Weights: a node of recorded weight 100 beats a chain of three of weight 1; the
 * chain's head, of unknown weight (0), weighs the mean of the known ones (34).
 */
static void test_plan__critical_path_uses_weights(void **state)
{
	struct dag d;
	struct tb b;
	size_t node;
	dag_new(&d, 4);
	dag_edge(&d, 2, 1);
	dag_edge(&d, 3, 2);
	dag_weigh(&d, (const uint64_t[]){ 100, 0, 1, 1 });
	tb_init(&b, &d, 1);
	assert_int_equal(tb_plan(&b, NULL, 0, false), 0);
	assert_int_equal(plan_critical_path(&b.p, 0), 100);
	assert_int_equal(plan_critical_path(&b.p, 1), 36);
	assert_true(plan_next_ready(&b.p, &node));
	assert_int_equal(node, 0);
	assert_true(plan_next_ready(&b.p, &node));
	assert_int_equal(node, 1);
	assert_false(plan_next_ready(&b.p, &node)); /* 2 waits for 1 */
	tb_report(&b, 0, PLAN_DONE);
	tb_report(&b, 1, PLAN_DONE);
	assert_int_equal(tb_run(&b), 0);
	assert_counted_once(&b);
	tb_release(&b);
	dag_free(&d);
}

/*
 * The longest path in time goes first, not the longest in nodes (table-driven):
 * nodes 0..4 form a chain of five of weight w5 each, 5..6 a chain of two of weight
 * w2 each, 7 a singleton of weight w1.  One slot: the three heads are ready, and
 * the first started is the one whose path weighs most.
 */
static void test_plan__weights_pick_the_longest_time_path_first(void **state)
{
	static const struct {
		uint64_t w5, w2, w1;
		size_t first;
		uint64_t cp_first;
	} cases[] = {
		{ 10, 40, 30, 5, 80 },  /* 2 x 40 beats 5 x 10: fewer nodes, more time */
		{ 10, 20, 30, 0, 50 },  /* 5 x 10 beats 2 x 20 and 30 */
		{ 10, 20, 90, 7, 90 },  /* one long compile beats both chains */
		{ 1, 1, 1, 0, 5 },      /* equal weights: by node count, as without weights */
		{ 0, 0, 0, 0, 5 },      /* nothing known: every node weighs 1 */
	};
	for (size_t c = 0; c < sizeof(cases) / sizeof(*cases); c++) {
		struct dag d;
		struct tb b;
		size_t node;
		dag_new(&d, 8);
		for (size_t i = 1; i < 5; i++)
			dag_edge(&d, i, i - 1);
		dag_edge(&d, 6, 5);
		d.weight = calloc(8, sizeof(*d.weight));
		assert_non_null(d.weight);
		for (size_t i = 0; i < 5; i++)
			d.weight[i] = cases[c].w5;
		d.weight[5] = d.weight[6] = cases[c].w2;
		d.weight[7] = cases[c].w1;
		tb_init(&b, &d, 1);
		assert_int_equal(tb_plan(&b, NULL, 0, false), 0);
		assert_int_equal(plan_critical_path(&b.p, cases[c].first), cases[c].cp_first);
		assert_true(plan_next_ready(&b.p, &node));
		assert_int_equal(node, cases[c].first);
		tb_report(&b, node, PLAN_DONE);
		assert_int_equal(tb_run(&b), 0);
		assert_counted_once(&b);
		tb_release(&b);
		dag_free(&d);
	}
}

/*
 * plan_opts.own_pct: node 0 (weight 10, alone) against the chain 1 -> 2 (weights 2
 * then 9, a path of 11).  Without it the chain's head goes first; with 50% of its
 * own weight added, node 0 does (15 against 12: the share of node 2 is not in the
 * path through 1).  A share past UINT64_MAX saturates.
 */
static void test_plan__own_pct_puts_long_jobs_first(void **state)
{
	static const struct {
		unsigned own;
		size_t first;
		uint64_t p0, p1, p2;
	} cases[] = { { 0, 1, 10, 11, 9 }, { 50, 0, 15, 12, 13 }, { 200, 0, 30, 15, 27 } };
	for (size_t c = 0; c < sizeof(cases) / sizeof(*cases); c++) {
		struct dag d;
		struct plan p = PLAN_INIT;
		struct plan_dag pd;
		struct plan_opts o = { .own_pct = cases[c].own };
		size_t node;
		dag_new(&d, 3);
		dag_edge(&d, 2, 1);
		dag_weigh(&d, (const uint64_t[]){ 10, 2, 9 });
		pd = plan_dag_of(&d);
		assert_int_equal(plan_init(&p, &pd, NULL, 0, &o), 0);
		assert_int_equal(plan_critical_path(&p, 0), cases[c].p0);
		assert_int_equal(plan_critical_path(&p, 1), cases[c].p1);
		assert_int_equal(plan_critical_path(&p, 2), cases[c].p2);
		assert_true(plan_next_ready(&p, &node));
		assert_int_equal(node, cases[c].first);
		plan_release(&p);
		dag_free(&d);
	}
	{
		struct dag d;
		struct plan p = PLAN_INIT;
		struct plan_dag pd;
		struct plan_opts o = { .own_pct = UINT_MAX };
		dag_new(&d, 1);
		dag_weigh(&d, (const uint64_t[]){ UINT64_MAX / 2 });
		pd = plan_dag_of(&d);
		assert_int_equal(plan_init(&p, &pd, NULL, 0, &o), 0);
		assert_true(plan_critical_path(&p, 0) == UINT64_MAX);
		plan_release(&p);
		dag_free(&d);
	}
}

static void test_plan__cycle_rejected(void **state)
{
	struct dag d;
	struct plan p = PLAN_INIT;
	struct plan_dag pd;
	size_t target = 4;
	/* 0 <- 1 <- 2 <- 3 <- 1 (a cycle 1 -> 2 -> 3 -> 1), 4 alone, 5 <- 0 */
	dag_new(&d, 6);
	dag_edge(&d, 1, 0);
	dag_edge(&d, 1, 3);
	dag_edge(&d, 2, 1);
	dag_edge(&d, 3, 2);
	dag_edge(&d, 5, 0);
	pd = plan_dag_of(&d);
	assert_int_equal(plan_init(&p, &pd, NULL, 0, NULL), -ELOOP);
	assert_int_equal(p.ncycle, 3);
	/* each is a dep of the next, and the last a dep of the first */
	for (size_t k = 0; k < 3; k++) {
		size_t dep = p.cycle[k], user = p.cycle[(k + 1) % 3];
		bool found = false;
		assert_true(dep >= 1 && dep <= 3);
		for (size_t j = 0; j < d.ndeps[user]; j++)
			found |= d.deps[user][j] == dep;
		assert_true(found);
	}
	plan_release(&p);
	/* outside the selection, the cycle does not matter */
	assert_int_equal(plan_init(&p, &pd, &target, 1, NULL), 0);
	assert_int_equal(plan_counts(&p)->selected, 1);
	plan_release(&p);
	dag_free(&d);

	/* a node that depends on itself */
	dag_new(&d, 2);
	dag_edge(&d, 1, 1);
	pd = plan_dag_of(&d);
	assert_int_equal(plan_init(&p, &pd, NULL, 0, NULL), -ELOOP);
	assert_int_equal(p.ncycle, 1);
	assert_int_equal(p.cycle[0], 1);
	plan_release(&p);
	dag_free(&d);
}

static void test_plan__rejects_bad_input(void **state)
{
	struct dag d;
	struct plan p = PLAN_INIT;
	struct plan_dag pd;
	size_t bad = 7, node;
	dag_new(&d, 3);
	dag_edge(&d, 1, 5); /* out of range */
	pd = plan_dag_of(&d);
	assert_int_equal(plan_init(&p, &pd, NULL, 0, NULL), -EINVAL);
	plan_release(&p);
	assert_int_equal(plan_init(&p, &pd, &bad, 1, NULL), -EINVAL);
	plan_release(&p);
	d.ndeps[1] = 0;
	assert_int_equal(plan_init(&p, &pd, NULL, 0, NULL), 0);
	/* only RUNNING nodes can be reported, and only with a final result */
	assert_int_equal(plan_node_done(&p, 0, PLAN_DONE), -EINVAL);
	assert_true(plan_next_ready(&p, &node));
	assert_int_equal(plan_node_done(&p, node, PLAN_SKIPPED), -EINVAL);
	assert_int_equal(plan_node_done(&p, node, PLAN_READY), -EINVAL);
	assert_int_equal(plan_node_done(&p, 99, PLAN_DONE), -EINVAL);
	assert_int_equal(plan_node_done(&p, node, PLAN_DONE), 0);
	assert_int_equal(plan_node_done(&p, node, PLAN_DONE), -EINVAL); /* twice */
	plan_release(&p);
	dag_free(&d);
}

/* Targets select themselves and what they need, nothing else; cache hits wake users. */
static void test_plan__targets_select_their_deps(void **state)
{
	struct dag d;
	struct tb b;
	size_t targets[] = { 3, 3 }; /* twice: selected once */
	/* 0 <- 1 <- 3, 2 <- 4, 0 <- 4 */
	dag_new(&d, 5);
	dag_edge(&d, 1, 0);
	dag_edge(&d, 3, 1);
	dag_edge(&d, 4, 2);
	dag_edge(&d, 4, 0);
	tb_init(&b, &d, 2);
	b.cached[0] = true;
	assert_int_equal(tb_plan(&b, targets, 2, false), 0);
	assert_int_equal(plan_counts(&b.p)->selected, 3);
	assert_int_equal(tb_run(&b), 0);
	assert_counted_once(&b);
	assert_int_equal(plan_state_of(&b.p, 0), PLAN_CACHED);
	assert_int_equal(plan_state_of(&b.p, 1), PLAN_DONE);
	assert_int_equal(plan_state_of(&b.p, 3), PLAN_DONE);
	assert_int_equal(plan_state_of(&b.p, 2), PLAN_UNSELECTED);
	assert_int_equal(plan_state_of(&b.p, 4), PLAN_UNSELECTED);
	assert_int_equal(plan_counts(&b.p)->cached, 1);
	assert_int_equal(b.e->started, 2);
	tb_release(&b);
	dag_free(&d);
}

/*
 * Random DAGs (fixed seeds), random outcomes, cache hits, delays, repeated deps,
 * targets, -k or not: every selected node ends in exactly one final state and is
 * told once, the counters add up, nothing deadlocks.
 */
static uint64_t rnd(uint64_t *s)
{
	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return *s >> 33;
}

static void test_plan__every_node_counted_once(void **state)
{
	for (uint64_t seed = 1; seed <= 60; seed++) {
		uint64_t s = seed;
		size_t n = 1 + rnd(&s) % 300, ntargets = rnd(&s) % 4, targets[4];
		bool keep_going = rnd(&s) % 2;
		unsigned slots = 1 + (unsigned)(rnd(&s) % 6);
		struct dag d;
		struct tb b;

		dag_new(&d, n);
		for (size_t i = 1; i < n; i++) {
			size_t nd = rnd(&s) % 4;
			for (size_t k = 0; k < nd; k++)
				dag_edge(&d, i, rnd(&s) % i);
		}
		tb_init(&b, &d, slots);
		tb_script_all(&b, (struct fake_outcome){ FAKE_OK, 1 });
		for (size_t i = 0; i < n; i++) {
			uint64_t r = rnd(&s) % 100;
			b.script[i].delay = (unsigned)(rnd(&s) % 5);
			b.script[i].kind = r < 5 ? FAKE_FAIL : r < 7 ? FAKE_ERROR : FAKE_OK;
			b.cached[i] = rnd(&s) % 4 == 0;
		}
		for (size_t t = 0; t < ntargets; t++)
			targets[t] = rnd(&s) % n;
		if (seed % 10 == 0)
			b.cancel_after = 1 + rnd(&s) % 5;
		assert_int_equal(tb_plan(&b, targets, ntargets, keep_going), 0);
		assert_int_equal(tb_run(&b), 0);
		assert_counted_once(&b);
		if (!keep_going && plan_counts(&b.p)->failed)
			assert_int_equal(plan_counts(&b.p)->skipped + plan_counts(&b.p)->canceled +
						 plan_counts(&b.p)->failed + plan_counts(&b.p)->ran +
						 plan_counts(&b.p)->cached,
					 plan_counts(&b.p)->selected);
		if (keep_going && !b.cancel_after)
			assert_int_equal(plan_counts(&b.p)->canceled, 0);
		/* a DONE or CACHED node's deps are all DONE or CACHED */
		for (size_t i = 0; i < n; i++) {
			enum plan_state st = plan_state_of(&b.p, i);
			if (st != PLAN_DONE && st != PLAN_CACHED)
				continue;
			for (size_t k = 0; k < d.ndeps[i]; k++) {
				enum plan_state ds = plan_state_of(&b.p, d.deps[i][k]);
				assert_true(ds == PLAN_DONE || ds == PLAN_CACHED);
			}
		}
		tb_release(&b);
		dag_free(&d);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan__diamond),
		cmocka_unit_test(test_plan__failure_keep_going_finishes_independent_branches),
		cmocka_unit_test(test_plan__engine_error_fails_and_skips_users),
		cmocka_unit_test(test_plan__failure_without_keep_going_starts_nothing_new),
		cmocka_unit_test(test_plan__cancel_aborts_in_flight_and_starts_nothing),
		cmocka_unit_test(test_plan__cancel_before_start),
		cmocka_unit_test(test_plan__chain_100k),
		cmocka_unit_test(test_plan__fan_100k),
		cmocka_unit_test(test_plan__critical_path_starts_long_chain_first),
		cmocka_unit_test(test_plan__critical_path_fan_out_starts_chain_early),
		cmocka_unit_test(test_plan__critical_path_uses_weights),
		cmocka_unit_test(test_plan__weights_pick_the_longest_time_path_first),
		cmocka_unit_test(test_plan__own_pct_puts_long_jobs_first),
		cmocka_unit_test(test_plan__cycle_rejected),
		cmocka_unit_test(test_plan__rejects_bad_input),
		cmocka_unit_test(test_plan__targets_select_their_deps),
		cmocka_unit_test(test_plan__every_node_counted_once),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
