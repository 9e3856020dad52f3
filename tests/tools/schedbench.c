/*
 * schedbench - the scheduling overhead of the plan (runtime/build/plan.h) over a
 * synthetic graph, with a no-op engine (tests/unit/fake_engine.h, delay 0: every
 * job completes at the next collect, signalled on its eventfd).
 *
 *   schedbench [NODES [SLOTS]]      (defaults 100000 and 64)
 *
 * The graph looks like a big build: groups of 100 nodes, 99 "compiles" with no
 * deps and one "link" that needs them and the previous group's link, so the links
 * form one long chain and each group is a fan-in; every tenth group also gets a
 * chain of 99 instead of a fan.  The builder loop is the one the real builder will
 * have: take READY nodes while the engine can start more, poll the engine's fd,
 * collect, report to the plan.  A second pass completes every node as a cache hit
 * without the engine (a fully cached build's scheduling cost).
 *
 * Then the same through the builder (runtime/build/build.h, build_run): a store
 * holding one thunk per node (/bin/true with its own argument) and a graph in a
 * temporary directory, build_run with the no-op engine as its engine (every node
 * runs: keys, the results cache, the plan, events), and build_run again (every
 * node is a hit: what a fully cached `gg build` costs besides loading the graph).
 * The setup is not timed.  SCHEDBENCH_BUILDER=0 skips this part.
 *
 * Prints one line per pass and the peak RSS of the process (graph included).
 * Numbers, no verdicts: tests/bench/schedule.sh compares them with the targets.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <sys/stat.h>
#include <unistd.h>

#include "runtime/build/build.h"
#include "runtime/build/plan.h"
#include "runtime/ir/graph.h"
#include "runtime/ir/thunk.h"
#include "runtime/lib/util.h"
#include "runtime/store/store.h"
#include "tests/unit/fake_engine.h"

struct graph_csr {
	size_t n, *start, *deps;  /* deps of i: deps[start[i] .. start[i + 1]) */
};

static size_t csr_deps(void *ctx, size_t node, const size_t **deps)
{
	struct graph_csr *g = ctx;
	*deps = g->deps + g->start[node];
	return g->start[node + 1] - g->start[node];
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noreturn)) static void bench_die(const char *what, int err)
{
	fprintf(stderr, "schedbench: %s: %s\n", what, strerror(err));
	exit(1);
}

static void make_graph(struct graph_csr *g, size_t n)
{
	size_t e = 0, prev_link = SIZE_MAX;
	g->n = n;
	g->start = calloc(n + 1, sizeof(*g->start));
	g->deps = calloc(2 * n + 1, sizeof(*g->deps));
	if (!g->start || !g->deps)
		bench_die("graph", ENOMEM);
	for (size_t i = 0; i < n; i++) {
		size_t group = i / 100, k = i % 100, first = group * 100;
		g->start[i] = e;
		if (k == 99 || i == n - 1) { /* the link */
			for (size_t j = first; j < i; j++)
				if (group % 10 || j == i - 1)
					g->deps[e++] = j;
			if (prev_link != SIZE_MAX)
				g->deps[e++] = prev_link;
			prev_link = i;
		} else if (group % 10 == 0 && k > 0) { /* a chain instead of a fan */
			g->deps[e++] = i - 1;
		}
	}
	g->start[n] = e;
}

static struct fake_outcome noop(void *ctx, uint64_t tag)
{
	return (struct fake_outcome){ FAKE_OK, 0 };
}

struct slot {
	size_t node;
	struct engine_result res;
};

static double run_engine(struct plan *p, unsigned nslots, size_t *wakeups)
{
	struct engine_config cfg = { .slots = nslots };
	struct engine *e = NULL;
	struct slot *slots = calloc(nslots, sizeof(*slots));
	size_t *free_slots = calloc(nslots, sizeof(*free_slots)), nfree = nslots;
	struct engine_done done[64];
	char err[128];
	double t0 = now_s();
	int ret;

	if (!slots || !free_slots)
		bench_die("slots", ENOMEM);
	if ((ret = fake_engine.create(&cfg, &e, err, sizeof(err))) < 0)
		bench_die(err, -ret);
	fake_engine_script(e, noop, NULL, false);
	for (size_t s = 0; s < nslots; s++)
		free_slots[s] = nslots - 1 - s;
	while (!plan_finished(p)) {
		struct pollfd pf = { .fd = fake_engine.fd(e), .events = POLLIN };
		size_t node;
		int n;
		while (fake_engine.can_start_more(e) && plan_next_ready(p, &node)) {
			size_t s = free_slots[--nfree];
			struct engine_job job = { .tag = s };
			slots[s].node = node;
			memset(&slots[s].res, 0, sizeof(slots[s].res));
			if ((ret = fake_engine.start(e, &job, &slots[s].res)) < 0)
				bench_die("start", -ret);
		}
		if (plan_finished(p))
			break;
		if (poll(&pf, 1, -1) < 0)
			bench_die("poll", errno);
		(*wakeups)++;
		if ((n = fake_engine.collect(e, done, 64)) < 0)
			bench_die("collect", -n);
		for (int k = 0; k < n; k++) {
			struct slot *sl = &slots[done[k].tag];
			bool ok = done[k].ret == 0 && sl->res.ran && sl->res.status == 0;
			engine_result_release(&sl->res);
			free_slots[nfree++] = done[k].tag;
			if ((ret = plan_node_done(p, sl->node, ok ? PLAN_DONE : PLAN_FAILED)) < 0)
				bench_die("plan_node_done", -ret);
		}
	}
	fake_engine.free(e);
	free(slots);
	free(free_slots);
	return now_s() - t0;
}

static double run_cached(struct plan *p)
{
	double t0 = now_s();
	size_t node;
	while (plan_next_ready(p, &node))
		plan_node_done(p, node, PLAN_CACHED);
	return now_s() - t0;
}

static int noop_create(const struct engine_config *cfg, struct engine **out, char *err,
		       size_t errlen)
{
	int ret = fake_create(cfg, out, err, errlen);
	if (ret == 0)
		fake_engine_script(*out, noop, NULL, false);
	return ret;
}

static const struct engine_ops noop_engine = {
	.name = "noop",
	.create = noop_create,
	.free = fake_free,
	.can_start_more = fake_can_start_more,
	.start = fake_start,
	.fd = fake_fd,
	.collect = fake_collect,
	.abort = fake_abort,
};

/* The graph as gg's: one stored thunk per node, deps as the CSR's. */
static void make_gg_graph(const struct graph_csr *c, const char *dir, const char *ggdir,
			  struct graph *g)
{
	struct store st = STORE_INIT;
	struct gg_hash exe;
	uint64_t size;
	int ret;

	if ((ret = store_init(&st, ggdir, STORE_CREATE)) < 0)
		bench_die("store_init", -ret);
	if ((ret = hash_file("/bin/true", &exe, &size)) < 0)
		bench_die("/bin/true", -ret);
	graph_init(g);
	g->tree = strdup(dir);
	for (size_t i = 0; i < c->n; i++) {
		struct thunk th = THUNK_INIT;
		struct graph_node n = { 0 };
		char arg[64], out[PATH_MAX];
		char *buf = NULL;
		size_t len, nd = c->start[i + 1] - c->start[i];

		snprintf(arg, sizeof(arg), "node-%zu", i);
		snprintf(out, sizeof(out), "%s/%s", dir, arg);
		if (thunk_set_exe(&th, "/bin/true", &exe, 0, 0100755) < 0 || thunk_add_arg(&th, "true") < 0 ||
		    thunk_add_arg(&th, arg) < 0 || thunk_set_cwd(&th, dir) < 0)
			bench_die("thunk", ENOMEM);
		th.pure = true;
		if ((ret = thunk_encode(&th, &buf, &len)) < 0 ||
		    (ret = store_put_buf(&st, GG_HASH_THUNK, buf, len, &n.hash)) < 0)
			bench_die("store a thunk", -ret);
		free(buf);
		thunk_release(&th);
		n.label = strdup(arg);
		n.command = strdup(arg);
		n.outputs = calloc(1, sizeof(*n.outputs));
		n.deps = calloc(nd + 1, sizeof(*n.deps));
		if (!n.label || !n.command || !n.outputs || !n.deps || !(n.outputs[0].path = strdup(out)))
			bench_die("graph", ENOMEM);
		n.outputs[0].mode = 0100644;
		n.noutputs = 1;
		memcpy(n.deps, c->deps + c->start[i], nd * sizeof(*n.deps));
		n.ndeps = nd;
		if ((ret = graph_add(g, &n)) < 0)
			bench_die("graph_add", -ret);
	}
	store_release(&st);
}

static double run_builder(const char *ggdir, struct graph *g, unsigned slots,
			  struct build_stats *bs)
{
	struct build_opts o = { .jobs = (int)slots, .engine = &noop_engine,
				.host_engine = &noop_engine, .cancel_fd = -1 };
	char err[1024];
	double t0 = now_s();
	int ret = build_run(ggdir, g, &o, bs, err, sizeof(err));
	if (ret < 0) {
		fprintf(stderr, "schedbench: build_run: %s\n", err[0] ? err : strerror(-ret));
		exit(1);
	}
	return now_s() - t0;
}

static void builder_passes(const struct graph_csr *c, unsigned slots)
{
	char dir[] = "/tmp/gg-schedbench.XXXXXX", ggdir[sizeof(dir) + 8];
	struct build_stats bs1, bs2;
	struct graph g;
	struct rusage ru;
	double t_setup, t_run, t_cached;

	if (!mkdtemp(dir))
		bench_die("mkdtemp", errno);
	snprintf(ggdir, sizeof(ggdir), "%s/.gg", dir);
	t_setup = now_s();
	make_gg_graph(c, dir, ggdir, &g);
	t_setup = now_s() - t_setup;
	t_run = run_builder(ggdir, &g, slots, &bs1);
	t_cached = run_builder(ggdir, &g, slots, &bs2);
	getrusage(RUSAGE_SELF, &ru);
	printf("builder setup: %zu thunks stored, %.3f s (not counted)\n", g.n, t_setup);
	printf("builder, no-op engine: %.3f s (%zu ran, keys %zu ms)\n", t_run, bs1.ran, bs1.keys_ms);
	printf("builder, all cached:   %.3f s (%zu cached, keys %zu ms)\n", t_cached, bs2.cached,
	       bs2.keys_ms);
	printf("peak RSS %.1f MB (after the builder passes)\n", ru.ru_maxrss / 1024.0);
	graph_release(&g);
	rm_rf(dir);
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000;
	unsigned slots = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 64;
	struct graph_csr g;
	struct plan_dag dag;
	struct rusage ru;
	double t0, t_init, t_run, t_init2, t_cached;
	size_t wakeups = 0;
	int ret;

	if (!n || !slots) {
		fprintf(stderr, "usage: schedbench [NODES [SLOTS]]\n");
		return 2;
	}
	make_graph(&g, n);
	dag = (struct plan_dag){ .n = n, .deps = csr_deps, .ctx = &g };

	{
		struct plan p = PLAN_INIT;
		t0 = now_s();
		if ((ret = plan_init(&p, &dag, NULL, 0, NULL)) < 0)
			bench_die("plan_init", -ret);
		t_init = now_s() - t0;
		t_run = run_engine(&p, slots, &wakeups);
		if (plan_counts(&p)->ran != n)
			bench_die("not every node ran", EPROTO);
		plan_release(&p);
	}
	{
		struct plan p = PLAN_INIT;
		t0 = now_s();
		if ((ret = plan_init(&p, &dag, NULL, 0, NULL)) < 0)
			bench_die("plan_init", -ret);
		t_init2 = now_s() - t0;
		t_cached = run_cached(&p);
		if (plan_counts(&p)->cached != n)
			bench_die("not every node was a hit", EPROTO);
		plan_release(&p);
	}
	getrusage(RUSAGE_SELF, &ru);
	printf("nodes %zu, edges %zu, slots %u\n", n, g.start[n], slots);
	printf("no-op engine:  plan_init %.3f s, schedule %.3f s (%zu wake-ups), total %.3f s\n",
	       t_init, t_run, wakeups, t_init + t_run);
	printf("all cached:    plan_init %.3f s, schedule %.3f s, total %.3f s\n", t_init2, t_cached,
	       t_init2 + t_cached);
	printf("peak RSS %.1f MB (graph included)\n", ru.ru_maxrss / 1024.0);
	fflush(stdout);
	if (!getenv("SCHEDBENCH_BUILDER") || strcmp(getenv("SCHEDBENCH_BUILDER"), "0"))
		builder_passes(&g, slots);
	free(g.start);
	free(g.deps);
	return 0;
}
