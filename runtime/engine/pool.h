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

struct sbx_plan;
struct sbx_result;

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
 * Engines that are a pool and nothing more (local, host): engine.h's operations on
 * a struct engine made by pool_engine_create, whose run() gets cfg->st as its ctx.
 * POOL_ENGINE_OPS puts them into an engine_ops; only create and level are the
 * engine's.
 */
int pool_engine_create(const struct engine_config *cfg, pool_run_fn *run, struct engine **out,
		       char *err, size_t errlen);
void pool_engine_free(struct engine *e);
bool pool_engine_can_start_more(struct engine *e);
int pool_engine_start(struct engine *e, const struct engine_job *job, struct engine_result *res);
int pool_engine_fd(struct engine *e);
int pool_engine_collect(struct engine *e, struct engine_done *done, size_t max);
void pool_engine_abort(struct engine *e);
#define POOL_ENGINE_OPS                                                                         \
	.free = pool_engine_free, .can_start_more = pool_engine_can_start_more,                \
	.start = pool_engine_start, .fd = pool_engine_fd, .collect = pool_engine_collect,       \
	.abort = pool_engine_abort

/*
 * The sbx plan every pool engine's job starts from (local, host): the thunk's
 * executable, argv and envp as given, the thunk's cwd ("/" when none) and umask,
 * standard output and error into <staging>/stdout and <staging>/stderr (logs[0],
 * logs[1]: malloc'd, the caller frees them, also on failure), the job's timeout and
 * cancel_fd.  0 or -ENOMEM.
 */
int engine_plan_job(struct sbx_plan *plan, const struct engine_job *job, int cancel_fd,
		    char *const *argv, char *const *envp, char *logs[2]);

/*
 * What sbx_run returned (ret) and said (sr), in res: ret < 0 (the command could not
 * run) becomes res->err (sbx's message, else strerror(-ret)) and is returned; else
 * the command ran (res->ran), res->status is its exit status or 128 + the signal,
 * res->err says "timed out after <timeout_ms> ms" if it was killed for that, and
 * 0 is returned.  The supervisor's first undeclared and denied paths are copied
 * either way.  res->level and res->ms are the caller's.
 */
int engine_result_sbx(struct engine_result *res, int ret, const struct sbx_result *sr,
		      unsigned timeout_ms);

/*
 * The end of a run that exited 0 without error (else nothing): its outputs stored
 * as engine_store_outputs does, except that under a root other than "" (a staging
 * area of the job's own, which nothing writes any more) they are given away:
 * renamed into the store where the file system allows (store_adopt_file,
 * STORE_ADOPT_MOVE), so they may be gone from root afterwards.  When that fails,
 * res holds no outputs, res->err says why ("cannot collect the outputs" at least)
 * and res->status is 1.
 */
void engine_finish_outputs(struct store *st, const char *root, const struct thunk *th,
			   bool optional, struct engine_result *res);

/*
 * Store the thunk's declared outputs, found at root + path (root "" : in the tree;
 * "<staging>/out": a sandbox's output directories), in res->outputs, in the
 * thunk's order.  A missing output fails with -ENOENT, unless `optional` (then it
 * is left out); res->err says what went wrong.  Regular files and symbolic links
 * (their target is the value) only.  Files are written to the store at most once
 * (store_adopt_file without moving: nothing when the blob exists, a clone where
 * the file system can) and left where they are.
 */
int engine_store_outputs(struct store *st, const char *root, const struct thunk *th,
			 bool optional, struct engine_result *res);

#endif
