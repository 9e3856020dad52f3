/*
 * lambda_graphgen - a synthetic recorded build for the lambda engine's makespan
 * benchmark (tests/bench/lambda.sh): thunks with recorded durations, for
 * `gg build --engine lambda` against tests/tools/lambda_sleepd.
 *
 *   lambda_graphgen [--lpt] [--shape=chain|libs] DIR [N [SCALE_PCT [SEED]]]
 *                                                (defaults 20000, 100, 1)
 *
 * Makes DIR/.gg (a store and a graph whose tree is DIR) with N thunks in groups of
 * 200: 190 "compiles" (no dependencies, durations log-normal: median 1.5 s, sigma
 * 0.7, as the compiles of a C project spread) fanning into a chain of 10 "links"
 * (the first needs the group's 190 compiles, each next one the previous; median
 * 1.0 s, sigma 0.5).  Durations are multiplied by SCALE_PCT / 100 (time-scaling).
 * Each thunk is /bin/true with the arguments lambda_sleepd reads: "ms=D" (its
 * duration in ms) and "out=VALUE" (its one output, DIR/out/nI, whose content
 * "node I\n" is put in the store now, as if a worker had already uploaded it).
 * The store holds the thunks in a pack and the outputs in a value pack, as `gg
 * infer` leaves it.  Each graph node carries D as its recorded duration (graph_node.ms), which the
 * builder gives the plan as its weight and the engine as the thunk's expected time.
 *
 * --shape=libs: the same nodes and durations, other edges: the group's k-th link
 * needs the k-th slice of 19 of its compiles and the link before it (a chain of
 * libraries, each archiving its own objects on top of the one before), so a
 * chain can start as soon as its first slice is done and runs alongside the
 * rest of the compiles.  The shape issue 12's bound fits: a schedule can come
 * close to max(critical path, work / 1000).  fluid_ms is that bound there (no
 * tighter one is computed for this shape).
 *
 * --lpt: the same durations, but the groups in the graph's order by their heaviest
 * path (longest first) and each group's compiles longest first: the order the
 * plan (runtime/build/plan.h) follows with the durations as weights, so a build of
 * either graph should take the same time (a check of the weights' effect).
 *
 * Prints one line:
 *     thunks N work_ms W critical_ms C bound_ms B fluid_ms F
 * W the sum of the durations, C the heaviest dependency path, B = max(C, W / 1000)
 * (issue 12's bound), and F a tighter one no scheduler can beat with 1,000
 * environments either: a group's chain cannot start before all its compiles are
 * done, so relax the compiles into work that 1,000 environments share perfectly
 * (any split, any order) and the chains into delays that need no environment;
 * the best makespan of that relaxation is Jackson's rule (the groups by their
 * chain, longest first): F = max over k of (the compile work of the first k
 * groups / 1000 + the k-th group's chain).  F >= W_compiles / 1000 + the shortest
 * chain, so with this graph's shape F exceeds B by about a shortest chain.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime/ir/graph.h"
#include "runtime/ir/thunk.h"
#include "runtime/lib/util.h"
#include "runtime/store/store.h"

#define GROUP 200
#define CHAIN 10

static uint64_t rng = 88172645463325252ULL;

static double uniform(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return ((double)(rng >> 11) + 0.5) / 9007199254740992.0;
}

/* e^x for |x| < 10, without libm (not linked): (Taylor of e^(x/32))^32. */
static double expo(double x)
{
	double y = x / 32, t = 1, s = 1;
	for (int k = 1; k < 12; k++) {
		t *= y / k;
		s += t;
	}
	for (int k = 0; k < 5; k++)
		s *= s;
	return s;
}

/* Log-normal with this median (ms) and sigma; the normal variate as the sum of 12
 * uniforms less 6 (Irwin-Hall: tails cut at 6 sigma, plenty here). */
static double lognormal(double median, double sigma)
{
	double z = -6;
	for (int k = 0; k < 12; k++)
		z += uniform();
	return median * expo(sigma * z);
}

static const uint64_t *sort_key;

static int by_key_desc(const void *a, const void *b);

/* Jackson's rule on the relaxation above: F for groups of compile work wc[g] and
 * chain q[g] (gorder: ng scratch slots). */
static uint64_t fluid_bound(const uint64_t *wc, const uint64_t *q, size_t ng, size_t *gorder)
{
	uint64_t acc = 0, f = 0;
	for (size_t g = 0; g < ng; g++)
		gorder[g] = g;
	sort_key = q;
	qsort(gorder, ng, sizeof(*gorder), by_key_desc);
	for (size_t k = 0; k < ng; k++) {
		acc += wc[gorder[k]];
		if (acc / 1000 + q[gorder[k]] > f)
			f = acc / 1000 + q[gorder[k]];
	}
	return f;
}

static int by_key_desc(const void *a, const void *b)
{
	uint64_t x = sort_key[*(const size_t *)a], y = sort_key[*(const size_t *)b];
	return x < y ? 1 : x > y ? -1 : 0;
}

static void fail_on(const char *what, int err)
{
	fprintf(stderr, "lambda_graphgen: %s: %s\n", what, strerror(err));
	exit(1);
}

int main(int argc, char **argv)
{
	const char *dir;
	bool lpt = false, libs = false;
	size_t n = 20000, *order, *gorder, ng;
	unsigned scale = 100;
	char ggdir[PATH_MAX], outdir[PATH_MAX], file[PATH_MAX + 64];
	struct store st = STORE_INIT;
	struct graph g;
	struct gg_hash exe;
	uint64_t size, work = 0, crit = 0, *cp, *dur, *gwc, *gq;
	int ret;

	while (argc > 1 && !strncmp(argv[1], "--", 2)) {
		if (!strcmp(argv[1], "--lpt"))
			lpt = true;
		else if (!strcmp(argv[1], "--shape=libs"))
			libs = true;
		else if (strcmp(argv[1], "--shape=chain"))
			argc = 0; /* unknown: the usage */
		if (!argc)
			break;
		argv++;
		argc--;
	}
	if (argc < 2) {
		fprintf(stderr, "usage: lambda_graphgen [--lpt] [--shape=chain|libs] DIR [N [SCALE_PCT [SEED]]]\n");
		return 2;
	}
	if (argc < 2)
		return 2;
	dir = argv[1];
	if (argc > 2)
		n = strtoul(argv[2], NULL, 10);
	if (argc > 3)
		scale = (unsigned)strtoul(argv[3], NULL, 10);
	if (argc > 4)
		rng ^= strtoull(argv[4], NULL, 10) * 0x9E3779B97F4A7C15ULL;
	snprintf(ggdir, sizeof(ggdir), "%s/.gg", dir);
	snprintf(outdir, sizeof(outdir), "%s/out", dir);
	if ((mkdir(dir, 0755) < 0 && errno != EEXIST) || (mkdir(outdir, 0755) < 0 && errno != EEXIST))
		fail_on(dir, errno);
	/* thunks and outputs deferred, then packed, as `gg infer` leaves a store */
	if ((ret = store_init(&st, ggdir, STORE_CREATE)) < 0 || (ret = store_defer(&st)) < 0)
		fail_on("store", -ret);
	if ((ret = store_put_file(&st, "/bin/true", &exe, &size)) < 0)
		fail_on("/bin/true", -ret);
	cp = calloc(n, sizeof(*cp));
	dur = calloc(n, sizeof(*dur));
	order = calloc(n, sizeof(*order));
	ng = (n + GROUP - 1) / GROUP;
	gorder = calloc(ng + 1, sizeof(*gorder));
	gwc = calloc(ng + 1, sizeof(*gwc));
	gq = calloc(ng + 1, sizeof(*gq));
	if (!cp || !dur || !order || !gorder || !gwc || !gq)
		fail_on("memory", ENOMEM);
	/* the durations, in the graph's natural order; order[i]: whose duration node i
	 * gets (the identity, or --lpt's) */
	for (size_t i = 0; i < n; i++) {
		bool link = i % GROUP >= GROUP - CHAIN;
		dur[i] = (uint64_t)(link ? lognormal(1000, 0.5) : lognormal(1500, 0.7)) * scale / 100;
		if (!dur[i])
			dur[i] = 1;
		order[i] = i;
	}
	if (lpt) {
		size_t full = n / GROUP, *tmp = calloc(n, sizeof(*tmp));
		uint64_t *gcp = calloc(ng + 1, sizeof(*gcp));
		if (!tmp || !gcp)
			fail_on("memory", ENOMEM);
		for (size_t gi = 0; gi < full; gi++) {
			uint64_t m = 0, chain = 0;
			for (size_t k = gi * GROUP; k < gi * GROUP + GROUP - CHAIN; k++)
				m = dur[k] > m ? dur[k] : m;
			for (size_t k = gi * GROUP + GROUP - CHAIN; k < (gi + 1) * GROUP; k++)
				chain += dur[k];
			gcp[gi] = m + chain;
			gorder[gi] = gi;
		}
		sort_key = gcp;
		qsort(gorder, full, sizeof(*gorder), by_key_desc);
		sort_key = dur;
		for (size_t gi = 0; gi < full; gi++) {
			size_t src = gorder[gi] * GROUP, *o = tmp + gi * GROUP;
			for (size_t k = 0; k < GROUP; k++)
				o[k] = src + k;
			qsort(o, GROUP - CHAIN, sizeof(*o), by_key_desc);
		}
		memcpy(order, tmp, full * GROUP * sizeof(*order));
		free(tmp);
		free(gcp);
	}
	graph_init(&g);
	g.tree = strdup(dir);
	for (size_t i = 0; i < n; i++) {
		size_t in_group = i % GROUP, base = i - in_group, nd = 0;
		bool link = in_group >= GROUP - CHAIN;
		struct thunk th = THUNK_INIT;
		struct graph_node node = { 0 };
		struct gg_hash out;
		char arg_ms[32], arg_out[GG_HASH_HEX_SIZE + 8], content[64], hex[GG_HASH_HEX_SIZE];
		char *buf = NULL;
		size_t len;
		uint64_t before = 0;

		uint64_t d = dur[order[i]];
		node.deps = calloc(GROUP, sizeof(*node.deps));
		if (!node.deps)
			fail_on("memory", ENOMEM);
		if (link && libs) {
			size_t slice = (GROUP - CHAIN) / CHAIN, k0 = base + (in_group - (GROUP - CHAIN)) * slice;
			for (size_t k = k0; k < k0 + slice; k++)
				node.deps[nd++] = k;
			if (in_group > GROUP - CHAIN)
				node.deps[nd++] = i - 1;
		} else if (link && in_group == GROUP - CHAIN) {
			for (size_t k = base; k < i; k++)
				node.deps[nd++] = k;
		} else if (link) {
			node.deps[nd++] = i - 1;
		}
		for (size_t k = 0; k < nd; k++)
			if (cp[node.deps[k]] > before)
				before = cp[node.deps[k]];
		cp[i] = before + d;
		work += d;
		if (link)
			gq[i / GROUP] += d;
		else
			gwc[i / GROUP] += d;
		if (cp[i] > crit)
			crit = cp[i];
		node.ndeps = nd;
		node.ms = (uint32_t)d; /* the recorded duration: the plan's weight */

		snprintf(content, sizeof(content), "node %zu\n", i);
		if ((ret = store_put_buf(&st, GG_HASH_VALUE, content, strlen(content), &out)) < 0)
			fail_on("store an output", -ret);
		snprintf(arg_ms, sizeof(arg_ms), "ms=%llu", (unsigned long long)d);
		snprintf(arg_out, sizeof(arg_out), "out=%s", hash_to_hex(&out, hex));
		snprintf(file, sizeof(file), "%s/n%zu", outdir, i);
		if (thunk_set_exe(&th, "/bin/true", &exe, 0, 0100755) < 0 || thunk_add_arg(&th, "true") < 0 ||
		    thunk_add_arg(&th, arg_ms) < 0 || thunk_add_arg(&th, arg_out) < 0 ||
		    thunk_set_cwd(&th, dir) < 0 || thunk_add_output(&th, file) < 0)
			fail_on("thunk", ENOMEM);
		th.pure = true;
		if ((ret = thunk_canonicalize(&th)) < 0 || (ret = thunk_encode(&th, &buf, &len)) < 0 ||
		    (ret = store_put_buf(&st, GG_HASH_THUNK, buf, len, &node.hash)) < 0)
			fail_on("store a thunk", -ret);
		free(buf);
		thunk_release(&th);
		node.label = strdup(file + strlen(dir) + 1);
		node.command = strdup(arg_ms);
		node.outputs = calloc(1, sizeof(*node.outputs));
		if (!node.label || !node.command || !node.outputs || !(node.outputs[0].path = strdup(file)))
			fail_on("graph", ENOMEM);
		node.outputs[0].value = out;
		node.outputs[0].mode = 0100644;
		node.outputs[0].final = true;
		node.noutputs = 1;
		if ((ret = graph_add(&g, &node)) < 0)
			fail_on("graph_add", -ret);
	}
	{
		struct gg_hash *hs = calloc(g.n ? g.n : 1, sizeof(*hs));
		if (!hs)
			fail_on("memory", ENOMEM);
		for (size_t i = 0; i < g.n; i++)
			hs[i] = g.nodes[i].hash;
		if ((ret = store_flush(&st, hs, g.n)) < 0)
			fail_on("store_flush", -ret);
		free(hs);
	}
	snprintf(file, sizeof(file), "%s/graph", ggdir);
	if ((ret = graph_save(&g, file)) < 0)
		fail_on("graph_save", -ret);
	printf("thunks %zu work_ms %llu critical_ms %llu bound_ms %llu fluid_ms %llu\n", n,
	       (unsigned long long)work, (unsigned long long)crit,
	       (unsigned long long)(crit > work / 1000 ? crit : work / 1000),
	       (unsigned long long)(libs ? (crit > work / 1000 ? crit : work / 1000)
					 : fluid_bound(gwc, gq, ng, gorder)));
	graph_release(&g);
	store_release(&st);
	free(cp);
	free(dur);
	free(order);
	free(gorder);
	free(gwc);
	free(gq);
	return 0;
}
