/*
 * Unit tests for runtime/build/build.c, the builder: build_run over a hand-made
 * graph and store, with the fake engine (fake_engine.h) in place of the sandbox and
 * the host, so that outcomes, their order and cancellation are scripted.  What is
 * checked: counts (build.h, "Counting"), events, the order the engine saw, the
 * results cache (a second build is all hits), -k, the supervised retry, errors
 * that are not exit statuses, and Ctrl-C through the cancel descriptor.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "runtime/build/build.h"
#include "runtime/ir/graph.h"
#include "runtime/ir/thunk.h"
#include "runtime/lib/util.h"
#include "runtime/store/store.h"
#include "tests/unit/fake_engine.h"

#define MAXN 16

struct fx {
	char dir[PATH_MAX];
	char ggdir[PATH_MAX + 8];
	struct store st;
	struct graph g;
	/* the script, by node */
	struct fake_outcome outcome[MAXN];
	int cancel_on;          /* node whose start writes to the cancel pipe, or -1 */
	int cancel[2];
	/* what the builder did */
	size_t events[BUILD_EV_NOTE + 1];
	char failed_text[512];
	char skipped_label[64];
	unsigned slots;
	size_t started, max_in_flight, protocol_errors, staged;
	const struct engine_ops *ops; /* the engine: `wrapped` unless set */
	uint64_t log[64];
	size_t nlog;
	size_t engines;         /* instances created */
};

static struct fx *cur; /* the fake engine's create has no context of its own */

static struct fake_outcome script(void *ctx, uint64_t tag)
{
	struct fx *f = ctx;
	if ((int)tag == f->cancel_on) {
		char c = 'x';
		assert_int_equal(write(f->cancel[1], &c, 1), 1);
	}
	assert_true(tag < MAXN);
	return f->outcome[tag];
}

static int wrap_create(const struct engine_config *cfg, struct engine **out, char *err,
		       size_t errlen)
{
	struct engine_config c = *cfg;
	int ret;
	c.slots = cur->slots;
	if ((ret = fake_create(&c, out, err, errlen)) == 0) {
		fake_engine_script(*out, script, cur, true);
		cur->engines++;
	}
	return ret;
}

/* Before the engine goes: keep what the test checks. */
static void wrap_free(struct engine *e)
{
	cur->staged += e->staged;
	if (e->started) {
		cur->started += e->started;
		cur->protocol_errors += e->protocol_errors;
		if (e->max_in_flight > cur->max_in_flight)
			cur->max_in_flight = e->max_in_flight;
		for (size_t i = 0; i < e->nlog && cur->nlog < 64; i++)
			cur->log[cur->nlog++] = e->log[i];
	}
	cur->protocol_errors += e->protocol_errors;
	fake_free(e);
}

static const struct engine_ops wrapped = {
	.name = "fake",
	.create = wrap_create,
	.free = wrap_free,
	.can_start_more = fake_can_start_more,
	.start = fake_start,
	.fd = fake_fd,
	.collect = fake_collect,
	.abort = fake_abort,
};

static void observer(void *ctx, const struct build_event *ev)
{
	struct fx *f = ctx;
	f->events[ev->kind]++;
	if (ev->kind == BUILD_EV_FAILED && ev->text)
		snprintf(f->failed_text, sizeof(f->failed_text), "%s", ev->text);
	if (ev->kind == BUILD_EV_SKIPPED)
		snprintf(f->skipped_label, sizeof(f->skipped_label), "%s", ev->node->label);
}

/* Node `name` running /bin/true with its own argument (so every thunk differs),
 * depending on deps (-1 ends). */
static void add_node(struct fx *f, const char *name, const int *deps)
{
	struct thunk th = THUNK_INIT;
	struct gg_hash exe, h;
	struct graph_node n;
	uint64_t size;
	char *buf = NULL, path[PATH_MAX + 64];
	size_t len, nd = 0;

	assert_int_equal(hash_file("/bin/true", &exe, &size), 0);
	assert_int_equal(thunk_set_exe(&th, "/bin/true", &exe, 0, 0100755), 0);
	assert_int_equal(thunk_add_arg(&th, "true"), 0);
	assert_int_equal(thunk_add_arg(&th, name), 0);
	assert_int_equal(thunk_set_cwd(&th, f->dir), 0);
	th.pure = true;
	assert_int_equal(thunk_encode(&th, &buf, &len), 0);
	assert_int_equal(store_put_buf(&f->st, GG_HASH_THUNK, buf, len, &h), 0);
	free(buf);
	thunk_release(&th);

	while (deps && deps[nd] >= 0)
		nd++;
	memset(&n, 0, sizeof(n));
	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	n.hash = h;
	n.label = strdup(name);
	n.command = strdup(name);
	n.outputs = calloc(1, sizeof(*n.outputs));
	n.deps = calloc(nd + 1, sizeof(*n.deps));
	assert_non_null(n.label);
	assert_non_null(n.outputs);
	assert_non_null(n.deps);
	n.outputs[0].path = strdup(path);
	n.outputs[0].mode = 0100644;
	n.noutputs = 1;
	for (size_t i = 0; i < nd; i++)
		n.deps[i] = (size_t)deps[i];
	n.ndeps = nd;
	assert_int_equal(graph_add(&f->g, &n), 0);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/gg-test-builder.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->ggdir, sizeof(f->ggdir), "%s/.gg", f->dir);
	f->st = (struct store)STORE_INIT;
	assert_int_equal(store_init(&f->st, f->ggdir, STORE_CREATE), 0);
	graph_init(&f->g);
	f->g.tree = strdup(f->dir);
	for (size_t i = 0; i < MAXN; i++)
		f->outcome[i] = (struct fake_outcome){ FAKE_OK, 1 };
	f->cancel_on = -1;
	f->slots = 2;
	assert_int_equal(pipe(f->cancel), 0);
	cur = f;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	graph_release(&f->g);
	store_release(&f->st);
	close(f->cancel[0]);
	close(f->cancel[1]);
	rm_rf(f->dir);
	free(f);
	cur = NULL;
	return 0;
}

/* A build of f's graph; the counts in *st, its return value back. */
static int build(struct fx *f, struct build_opts *o, struct build_stats *st)
{
	char err[1024];
	int ret;

	memset(f->events, 0, sizeof(f->events));
	f->started = f->nlog = f->max_in_flight = f->protocol_errors = f->staged = 0;
	o->engine = f->ops ? f->ops : &wrapped;
	o->host_engine = &wrapped;
	o->observer = observer;
	o->observer_ctx = f;
	if (!o->cancel_fd)
		o->cancel_fd = -1;
	ret = build_run(f->ggdir, &f->g, o, st, err, sizeof(err));
	assert_int_equal(f->protocol_errors, 0);
	/* every node is counted once */
	assert_int_equal(st->total, st->cached + st->ran + st->corrected + st->failed + st->skipped);
	return ret;
}

/* a -> {b, c} -> d, and the second build takes all four from the results cache. */
static void test_builder__diamond_runs_then_is_cached(void **state)
{
	struct fx *f = *state;
	struct build_opts o = { 0 };
	struct build_stats st;

	add_node(f, "a", NULL);
	add_node(f, "b", (const int[]){ 0, -1 });
	add_node(f, "c", (const int[]){ 0, -1 });
	add_node(f, "d", (const int[]){ 1, 2, -1 });
	assert_int_equal(build(f, &o, &st), 0);
	assert_int_equal(st.total, 4);
	assert_int_equal(st.ran, 4);
	assert_int_equal(st.cached, 0);
	assert_int_equal(f->events[BUILD_EV_START], 4);
	assert_int_equal(f->events[BUILD_EV_DONE], 4);
	assert_int_equal(f->nlog, 4);
	assert_int_equal(f->log[0], 0);       /* the only one ready at first */
	assert_int_equal(f->log[3], 3);       /* the only one left at the end */
	assert_true(f->max_in_flight == 2);   /* b and c together */

	memset(&o, 0, sizeof(o));
	assert_int_equal(build(f, &o, &st), 0);
	assert_int_equal(st.cached, 4);
	assert_int_equal(st.ran, 0);
	assert_int_equal(f->started, 0);
	assert_int_equal(f->events[BUILD_EV_CACHED], 4);
}

/* An engine that keeps nothing on the local disk (engine_ops.no_staging, the lambda
 * engine) gets no staging directory; the others an empty one each. */
static void test_builder__staging_only_for_engines_that_want_it(void **state)
{
	struct fx *f = *state;
	struct build_opts o = { .no_cache = true };
	struct build_stats st;
	struct engine_ops remote = wrapped;

	add_node(f, "a", NULL);
	add_node(f, "b", (const int[]){ 0, -1 });
	assert_int_equal(build(f, &o, &st), 0);
	assert_int_equal(st.ran, 2);
	assert_int_equal(f->staged, 2);

	remote.no_staging = true;
	f->ops = &remote;
	memset(&o, 0, sizeof(o));
	o.no_cache = true;
	assert_int_equal(build(f, &o, &st), 0);
	assert_int_equal(st.ran, 2);
	assert_int_equal(f->staged, 0);
	f->ops = NULL;
}

/* What a run took becomes its node's weight for the next plan, unless it is close
 * to the one known (noise does not make the caller rewrite the graph). */
static void test_builder__durations_become_weights(void **state)
{
	struct fx *f = *state;
	struct build_opts o = { .no_cache = true };
	struct build_stats st;

	add_node(f, "unknown", NULL);
	add_node(f, "close", NULL);
	add_node(f, "slower", NULL);
	f->g.nodes[1].ms = 100;
	f->g.nodes[2].ms = 100;
	f->outcome[0] = (struct fake_outcome){ FAKE_OK, 40 };
	f->outcome[1] = (struct fake_outcome){ FAKE_OK, 150 };
	f->outcome[2] = (struct fake_outcome){ FAKE_OK, 450 };
	assert_int_equal(build(f, &o, &st), 0);
	assert_true(st.weights_changed);
	assert_int_equal(f->g.nodes[0].ms, 40);
	assert_int_equal(f->g.nodes[1].ms, 100);
	assert_int_equal(f->g.nodes[2].ms, 450);
	assert_int_equal(build(f, &o, &st), 0);
	assert_false(st.weights_changed); /* the same times again */
	f->outcome[1] = (struct fake_outcome){ FAKE_FAIL, 900 };
	assert_int_not_equal(build(f, &o, &st), 0);
	assert_false(st.weights_changed); /* (a failed run's time is not its weight) */
}

/* The longest chain starts first: x (alone) loses to the head of a -> b -> c. */
static void test_builder__critical_path_first(void **state)
{
	struct fx *f = *state;
	struct build_opts o = { 0 };
	struct build_stats st;

	f->slots = 1;
	add_node(f, "x", NULL);
	add_node(f, "a", NULL);
	add_node(f, "b", (const int[]){ 1, -1 });
	add_node(f, "c", (const int[]){ 2, -1 });
	assert_int_equal(build(f, &o, &st), 0);
	assert_int_equal(st.ran, 4);
	assert_int_equal(f->nlog, 4);
	assert_int_equal(f->log[0], 1);
	assert_int_equal(f->max_in_flight, 1);
}

/* -k: a failure skips its users and nothing else; the build says it is incomplete. */
static void test_builder__failure_keep_going(void **state)
{
	struct fx *f = *state;
	struct build_opts o = { .keep_going = true };
	struct build_stats st;

	add_node(f, "bad", NULL);
	add_node(f, "user", (const int[]){ 0, -1 });
	add_node(f, "other", NULL);
	add_node(f, "other2", (const int[]){ 2, -1 });
	f->outcome[0] = (struct fake_outcome){ FAKE_FAIL, 1 };
	assert_int_equal(build(f, &o, &st), -ENOTRECOVERABLE);
	assert_int_equal(st.failed, 1);
	assert_int_equal(st.skipped, 1);
	assert_int_equal(st.ran, 2);
	assert_int_equal(f->events[BUILD_EV_FAILED], 1);
	assert_int_equal(f->events[BUILD_EV_SKIPPED], 1);
	assert_string_equal(f->skipped_label, "user");
	assert_string_equal(f->failed_text, "exit status 1");
}

/* Without -k the first failure stops the build: what has not started never does. */
static void test_builder__failure_stops_without_keep_going(void **state)
{
	struct fx *f = *state;
	struct build_opts o = { 0 };
	struct build_stats st;

	f->slots = 1;
	add_node(f, "bad", NULL);                    /* heads the longest chain: first */
	add_node(f, "a", NULL);
	add_node(f, "b", (const int[]){ 0, -1 });
	add_node(f, "c", (const int[]){ 2, -1 });
	add_node(f, "d", (const int[]){ 3, -1 });
	add_node(f, "e", (const int[]){ 1, -1 });
	f->outcome[0] = (struct fake_outcome){ FAKE_FAIL, 1 };
	assert_int_equal(build(f, &o, &st), -ENOTRECOVERABLE);
	assert_int_equal(st.failed, 1);
	assert_int_equal(st.ran, 0);
	assert_int_equal(st.skipped, 5);
	assert_int_equal(f->started, 1);
	assert_int_equal(f->events[BUILD_EV_SKIPPED], 3); /* b, c, d: a dependency failed */
}

/* Self-correction on: a failed run is tried once more, supervised, before it fails. */
static void test_builder__failure_retried_supervised_once(void **state)
{
	struct fx *f = *state;
	struct build_opts o = { .self_correct = true };
	struct build_stats st;

	add_node(f, "bad", NULL);
	f->outcome[0] = (struct fake_outcome){ FAKE_FAIL, 1 };
	assert_int_equal(build(f, &o, &st), -ENOTRECOVERABLE);
	assert_int_equal(st.failed, 1);
	assert_int_equal(f->started, 2);
	assert_int_equal(f->events[BUILD_EV_START], 2);
	assert_int_equal(f->log[0], 0);
	assert_int_equal(f->log[1], 0);
}

/* An engine that cannot run a job is a failure that says why, not an exit status. */
static void test_builder__engine_error_is_reported(void **state)
{
	struct fx *f = *state;
	struct build_opts o = { .self_correct = true, .keep_going = true };
	struct build_stats st;

	add_node(f, "broken", NULL);
	f->outcome[0] = (struct fake_outcome){ FAKE_ERROR, 1 };
	assert_int_equal(build(f, &o, &st), -ENOTRECOVERABLE);
	assert_int_equal(st.failed, 1);
	assert_int_equal(f->started, 1); /* not retried: it did not run */
	assert_string_equal(f->failed_text, "cannot run: scripted: cannot run");
}

/* The fallback engine of --fallback-local: every job runs there and succeeds. */
static struct fake_outcome script_ok(void *ctx, uint64_t tag)
{
	(void)ctx;
	(void)tag;
	return (struct fake_outcome){ FAKE_OK, 1 };
}

static size_t fallback_started;

static int fallback_create(const struct engine_config *cfg, struct engine **out, char *err,
			   size_t errlen)
{
	int ret = fake_create(cfg, out, err, errlen);
	if (ret == 0)
		fake_engine_script(*out, script_ok, NULL, false);
	return ret;
}

static void fallback_free(struct engine *e)
{
	fallback_started += e->started;
	cur->protocol_errors += e->protocol_errors;
	fake_free(e);
}

static const struct engine_ops fallback_ops = {
	.name = "fallback",
	.create = fallback_create,
	.free = fallback_free,
	.can_start_more = fake_can_start_more,
	.start = fake_start,
	.fd = fake_fd,
	.collect = fake_collect,
	.abort = fake_abort,
};

/*
 * --fallback-local: a node the main engine could not run for the infrastructure's
 * sake runs on the fallback engine; one whose command failed, or that could not
 * run for another reason, fails as without it.
 */
static void test_builder__fallback_only_for_infra_failures(void **state)
{
	struct fx *f = *state;
	struct build_opts o = { .keep_going = true, .fallback_engine = &fallback_ops };
	struct build_stats st;
	const int dep0[] = { 0, -1 };

	add_node(f, "infra", NULL);        /* 0: the service kept failing it */
	add_node(f, "user", dep0);         /* 1: runs on the main engine after 0 */
	add_node(f, "fails", NULL);        /* 2: its command failed */
	add_node(f, "broken", NULL);       /* 3: could not run, not the infrastructure */
	f->outcome[0] = (struct fake_outcome){ FAKE_INFRA, 1 };
	f->outcome[2] = (struct fake_outcome){ FAKE_FAIL, 1 };
	f->outcome[3] = (struct fake_outcome){ FAKE_ERROR, 1 };
	fallback_started = 0;
	assert_int_equal(build(f, &o, &st), -ENOTRECOVERABLE);
	assert_int_equal(st.fallbacks, 1);
	assert_int_equal(fallback_started, 1);
	assert_int_equal(st.ran, 2);       /* infra (on the fallback) and user */
	assert_int_equal(st.failed, 2);    /* fails and broken */
	assert_int_equal(f->events[BUILD_EV_NOTE], 1);

	/* without the option the infrastructure's failure is a failure */
	o.fallback_engine = NULL;
	o.no_cache = true;
	fallback_started = 0;
	assert_int_equal(build(f, &o, &st), -ENOTRECOVERABLE);
	assert_int_equal(st.failed, 3);
	assert_int_equal(st.skipped, 1);   /* user */
	assert_int_equal(st.fallbacks, 0);
	assert_int_equal(fallback_started, 0);
}

/* Ctrl-C (the cancel descriptor) aborts what runs and starts nothing more. */
static void test_builder__cancel_aborts(void **state)
{
	struct fx *f = *state;
	struct build_opts o = { 0 };
	struct build_stats st;

	f->slots = 2;
	add_node(f, "a", NULL);
	add_node(f, "b", NULL);
	add_node(f, "c", (const int[]){ 0, 1, -1 });
	add_node(f, "d", (const int[]){ 2, -1 });
	f->outcome[0] = (struct fake_outcome){ FAKE_OK, 100 };
	f->outcome[1] = (struct fake_outcome){ FAKE_OK, 100 };
	f->cancel_on = 1; /* as the second job starts */
	o.cancel_fd = f->cancel[0];
	assert_int_equal(build(f, &o, &st), -ECANCELED);
	assert_int_equal(st.ran, 0);
	assert_int_equal(st.skipped, 4);
	assert_int_equal(f->started, 2);
	assert_int_equal(f->events[BUILD_EV_DONE], 0);
}

/* --force: a forced node runs although the cache has it; the others are hits. */
static void test_builder__forced_runs_despite_cache(void **state)
{
	struct fx *f = *state;
	struct build_opts o = { 0 };
	struct build_stats st;

	add_node(f, "a", NULL);
	add_node(f, "b", (const int[]){ 0, -1 });
	assert_int_equal(build(f, &o, &st), 0);
	assert_int_equal(st.ran, 2);
	memset(&o, 0, sizeof(o));
	o.force = &f->g.nodes[1].hash;
	o.nforce = 1;
	assert_int_equal(build(f, &o, &st), 0);
	assert_int_equal(st.total, 2);
	assert_int_equal(st.cached, 1);
	assert_int_equal(st.ran, 1);
	assert_int_equal(f->nlog, 1);
	assert_int_equal(f->log[0], 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_builder__staging_only_for_engines_that_want_it,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_builder__diamond_runs_then_is_cached, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_builder__durations_become_weights, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_builder__critical_path_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_builder__failure_keep_going, setup, teardown),
		cmocka_unit_test_setup_teardown(test_builder__failure_stops_without_keep_going, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_builder__failure_retried_supervised_once, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_builder__engine_error_is_reported, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_builder__cancel_aborts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_builder__fallback_only_for_infra_failures, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_builder__forced_runs_despite_cache, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
