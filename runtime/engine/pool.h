/*
 * pool.h - the thread pool behind the engines that run processes on this machine
 * (local: the sandbox; host: the tree itself), so that both implement engine.h the
 * same way, and the one way they store outputs.
 *
 * A pool has `slots` places.  pool_start copies the job into a free place and
 * queues it; worker threads (started on demand, at most `slots`, living until
 * pool_free: sbx_run's init dies with the thread that started it) take queued
 * jobs in FIFO order and call run(ctx, job, cancel_fd, res), which blocks for the
 * whole job.  A finished job goes on the done list and the eventfd (pool_fd,
 * EFD_NONBLOCK) is written; pool_collect reads it and pops completions, writing it
 * again when it leaves some (level-triggered, as engine.h wants).  A place is free
 * again once its completion was collected: queued + running + done <= slots.
 *
 * pool_abort: queued jobs complete at once with -ECANCELED; running ones see
 * cancel_fd (a pipe) become readable and are expected to stop (sbx_run kills the
 * tree and returns -ECANCELED).  States of a place:
 *
 *   FREE --start--> QUEUED --worker--> RUNNING --run returns--> DONE --collect--> FREE
 *                   QUEUED --abort---------------------------> DONE (-ECANCELED)
 *
 * One mutex guards the queue, the done list and the counts; run() is called
 * without it.  Errors: 0 or -errno; nothing prints.
 */
#ifndef GG_ENGINE_POOL_H
#define GG_ENGINE_POOL_H

#include <stdbool.h>
#include <stddef.h>

#include "runtime/engine/engine.h"

struct pool;

/* One job, in a worker thread: 0 when the command ran (res says how), or -errno. */
typedef int pool_run_fn(void *ctx, const struct engine_job *job, int cancel_fd,
			struct engine_result *res);

/* slots 0: the cores.  -errno with err filled. */
int pool_create(unsigned slots, pool_run_fn *run, void *ctx, struct pool **out, char *err,
		size_t errlen);
/* Joins the workers: call after pool_abort and draining when jobs are in flight. */
void pool_free(struct pool *p);
bool pool_can_start_more(struct pool *p);
int pool_start(struct pool *p, const struct engine_job *job, struct engine_result *res);
int pool_fd(struct pool *p);
int pool_collect(struct pool *p, struct engine_done *done, size_t max);
void pool_abort(struct pool *p);

/*
 * Store the thunk's declared outputs, found at root + path (root "" : in the tree;
 * "<staging>/out": a sandbox's output directories), in res->outputs, in the
 * thunk's order.  A missing output fails with -ENOENT, unless `optional` (then it
 * is left out); res->err says what went wrong.  Regular files and symbolic links
 * (their target is the value) only.
 */
int engine_store_outputs(struct store *st, const char *root, const struct thunk *th,
			 bool optional, struct engine_result *res);

#endif
