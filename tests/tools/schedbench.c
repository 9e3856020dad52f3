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
 * Prints one line per pass and the peak RSS of the process (graph included).
 * Numbers, no verdicts: tests/bench/schedule.sh compares them with the targets.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "runtime/build/plan.h"
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

__attribute__((noreturn)) static void die(const char *what, int err)
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
		die("graph", ENOMEM);
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
		die("slots", ENOMEM);
	if ((ret = fake_engine.create(&cfg, &e, err, sizeof(err))) < 0)
		die(err, -ret);
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
				die("start", -ret);
		}
		if (plan_finished(p))
			break;
		if (poll(&pf, 1, -1) < 0)
			die("poll", errno);
		(*wakeups)++;
		if ((n = fake_engine.collect(e, done, 64)) < 0)
			die("collect", -n);
		for (int k = 0; k < n; k++) {
			struct slot *sl = &slots[done[k].tag];
			bool ok = done[k].ret == 0 && sl->res.ran && sl->res.status == 0;
			engine_result_release(&sl->res);
			free_slots[nfree++] = done[k].tag;
			if ((ret = plan_node_done(p, sl->node, ok ? PLAN_DONE : PLAN_FAILED)) < 0)
				die("plan_node_done", -ret);
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
			die("plan_init", -ret);
		t_init = now_s() - t0;
		t_run = run_engine(&p, slots, &wakeups);
		if (plan_counts(&p)->ran != n)
			die("not every node ran", EPROTO);
		plan_release(&p);
	}
	{
		struct plan p = PLAN_INIT;
		t0 = now_s();
		if ((ret = plan_init(&p, &dag, NULL, 0, NULL)) < 0)
			die("plan_init", -ret);
		t_init2 = now_s() - t0;
		t_cached = run_cached(&p);
		if (plan_counts(&p)->cached != n)
			die("not every node was a hit", EPROTO);
		plan_release(&p);
	}
	getrusage(RUSAGE_SELF, &ru);
	printf("nodes %zu, edges %zu, slots %u\n", n, g.start[n], slots);
	printf("no-op engine:  plan_init %.3f s, schedule %.3f s (%zu wake-ups), total %.3f s\n",
	       t_init, t_run, wakeups, t_init + t_run);
	printf("all cached:    plan_init %.3f s, schedule %.3f s, total %.3f s\n", t_init2, t_cached,
	       t_init2 + t_cached);
	printf("peak RSS %.1f MB (graph included)\n", ru.ru_maxrss / 1024.0);
	free(g.start);
	free(g.deps);
	return 0;
}
