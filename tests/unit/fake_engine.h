/*
 * fake_engine.h - an engine (runtime/engine/engine.h) for tests and benchmarks: no
 * thunk runs, jobs complete on a virtual clock with scripted outcomes, and
 * completions are signalled on an eventfd exactly as a real engine's would be.
 *
 * Script: for each job, when it starts, script(ctx, tag) gives its outcome: ok
 * (ran, status 0), fail (ran, status 1), error (could not run: ret -EIO), and a
 * delay in ticks.  A job started at virtual time t completes at t + delay; each
 * collect() advances the clock to the earliest pending completion and returns the
 * jobs due then (lower start order first), so the order of completions is the
 * script's.  Delay 0 completes at the next collect (the no-op engine of the
 * scheduling benchmark).  abort() completes every job in flight with -ECANCELED at
 * the next collect.
 *
 * The eventfd is readable whenever a job is in flight (a completion is always due
 * at some virtual time), so a builder that polls it never waits for nothing and
 * never polls in vain for long.  The engine records what a test wants to check:
 * the tags in start order (log), the most jobs in flight at once, the jobs given a
 * staging directory, and protocol errors (a start past can_start_more, a start
 * after abort, a bad collect, a staging path that is not a directory).
 *
 * Header only, static functions: include it in one file.  Costs: O(log in flight)
 * per start and completion.
 */
#ifndef GG_TEST_FAKE_ENGINE_H
#define GG_TEST_FAKE_ENGINE_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/engine/engine.h"

/* FAKE_INFRA: could not run, the infrastructure's fault (engine_result.infra) */
enum fake_kind { FAKE_OK, FAKE_FAIL, FAKE_ERROR, FAKE_INFRA };

struct fake_outcome {
	enum fake_kind kind;
	unsigned delay;            /* ticks of virtual time */
};

typedef struct fake_outcome fake_script_fn(void *ctx, uint64_t tag);

struct fake_job {
	uint64_t due, seq, tag;
	enum fake_kind kind;
	unsigned delay;
	struct engine_result *res;
};

struct engine {
	int efd;
	bool armed;                /* efd holds a count */
	unsigned slots;
	bool aborted;
	uint64_t now, seq;
	struct fake_job *heap;     /* in flight, a min-heap on (due, seq); cap: slots */
	size_t nheap;
	fake_script_fn *script;
	void *script_ctx;
	/* what tests check */
	uint64_t *log;             /* tags in start order (grows; NULL with keep_log false) */
	size_t nlog, alloc_log;
	bool keep_log;
	size_t started, completed, max_in_flight, protocol_errors, staged;
};

static bool fake_before(const struct fake_job *a, const struct fake_job *b)
{
	return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void fake_signal(struct engine *e)
{
	uint64_t one = 1;
	if (!e->armed && write(e->efd, &one, sizeof(one)) == sizeof(one))
		e->armed = true;
}

static int fake_create(const struct engine_config *cfg, struct engine **out, char *err, size_t errlen)
{
	struct engine *e = calloc(1, sizeof(*e));
	if (!e)
		goto out_nomem;
	e->slots = cfg->slots ? cfg->slots : 4;
	e->heap = calloc(e->slots, sizeof(*e->heap));
	if (!e->heap)
		goto out_free;
	e->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (e->efd < 0) {
		int ret = -errno;
		snprintf(err, errlen, "cannot make an eventfd: %s", strerror(errno));
		free(e->heap);
		free(e);
		return ret;
	}
	*out = e;
	return 0;
out_free:
	free(e);
out_nomem:
	snprintf(err, errlen, "out of memory");
	return -ENOMEM;
}

static void fake_free(struct engine *e)
{
	if (!e)
		return;
	close(e->efd);
	free(e->heap);
	free(e->log);
	free(e);
}

static bool fake_can_start_more(struct engine *e)
{
	return !e->aborted && e->nheap < e->slots;
}

static int fake_start(struct engine *e, const struct engine_job *job, struct engine_result *res)
{
	struct fake_outcome oc = { FAKE_OK, 1 };
	struct fake_job j;
	size_t k;

	if (e->aborted) {
		e->protocol_errors++;
		return -ECANCELED;
	}
	if (e->nheap >= e->slots) {
		e->protocol_errors++;
		return -EAGAIN;
	}
	if (e->keep_log) {
		if (e->nlog == e->alloc_log) {
			size_t na = e->alloc_log ? 2 * e->alloc_log : 1024;
			uint64_t *nl = realloc(e->log, na * sizeof(*nl));
			if (!nl)
				return -ENOMEM;
			e->log = nl;
			e->alloc_log = na;
		}
		e->log[e->nlog++] = job->tag;
	}
	if (job->staging) {
		struct stat sb;
		if (stat(job->staging, &sb) < 0 || !S_ISDIR(sb.st_mode))
			e->protocol_errors++;
		e->staged++;
	}
	if (e->script)
		oc = e->script(e->script_ctx, job->tag);
	j = (struct fake_job){ .due = e->now + oc.delay, .seq = e->seq++, .tag = job->tag,
			       .kind = oc.kind, .delay = oc.delay, .res = res };
	for (k = e->nheap++; k > 0 && fake_before(&j, &e->heap[(k - 1) / 2]); k = (k - 1) / 2)
		e->heap[k] = e->heap[(k - 1) / 2];
	e->heap[k] = j;
	e->started++;
	if (e->nheap > e->max_in_flight)
		e->max_in_flight = e->nheap;
	fake_signal(e);
	return 0;
}

static int fake_fd(struct engine *e)
{
	return e->efd;
}

static struct fake_job fake_pop(struct engine *e)
{
	struct fake_job top = e->heap[0], *h = e->heap;
	size_t k = 0;
	h[0] = h[--e->nheap];
	for (;;) {
		size_t l = 2 * k + 1, r = l + 1, best = k;
		struct fake_job t;
		if (l < e->nheap && fake_before(&h[l], &h[best]))
			best = l;
		if (r < e->nheap && fake_before(&h[r], &h[best]))
			best = r;
		if (best == k)
			break;
		t = h[k];
		h[k] = h[best];
		h[best] = t;
		k = best;
	}
	return top;
}

static int fake_collect(struct engine *e, struct engine_done *done, size_t max)
{
	uint64_t cnt;
	size_t n = 0;

	if (read(e->efd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
		return -errno;
	e->armed = false;
	if (e->nheap && e->heap[0].due > e->now && !e->aborted)
		e->now = e->heap[0].due;
	while (n < max && e->nheap && (e->aborted || e->heap[0].due <= e->now)) {
		struct fake_job j = fake_pop(e);
		struct engine_result *r = j.res;
		done[n].tag = j.tag;
		r->ms = j.delay;
		if (e->aborted) {
			done[n].ret = -ECANCELED;
		} else if (j.kind == FAKE_ERROR || j.kind == FAKE_INFRA) {
			done[n].ret = -EIO;
			r->err = strdup("scripted: cannot run");
			r->infra = j.kind == FAKE_INFRA;
		} else {
			done[n].ret = 0;
			r->ran = true;
			r->status = j.kind == FAKE_OK ? 0 : 1;
		}
		n++;
		e->completed++;
	}
	if (e->nheap)
		fake_signal(e);
	return (int)n;
}

static void fake_abort(struct engine *e)
{
	e->aborted = true;
	if (e->nheap)
		fake_signal(e);
}

static void fake_engine_script(struct engine *e, fake_script_fn *fn, void *ctx, bool keep_log)
{
	e->script = fn;
	e->script_ctx = ctx;
	e->keep_log = keep_log;
}

static const struct engine_ops fake_engine = {
	.name = "fake",
	.create = fake_create,
	.free = fake_free,
	.can_start_more = fake_can_start_more,
	.start = fake_start,
	.fd = fake_fd,
	.collect = fake_collect,
	.abort = fake_abort,
};

#endif
