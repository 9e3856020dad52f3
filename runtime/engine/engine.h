/*
 * engine/engine.h - where thunks execute: one small asynchronous ops struct, so
 * the builder drives the local sandbox, the host, and (later) thousands of remote
 * invocations the same way, from one thread, without a thread per job.
 *
 * Lifecycle of an engine instance (per-engine state lives behind the opaque
 * struct engine; nothing is global):
 *
 *   create(cfg) -> [ start(job)... | poll(fd) -> collect()... | abort() ]* -> free()
 *
 * Lifecycle of a job:
 *
 *   start(job, res) == 0 --> IN FLIGHT --engine finishes--> COMPLETE --collect()--> gone
 *   start(job, res) <  0 --> never started (-EAGAIN: full, see can_start_more)
 *   IN FLIGHT --abort()--> COMPLETE with ret -ECANCELED (soon; the kill is asynchronous)
 *
 * Contract:
 *   - Every op is called from one thread, the builder's scheduling thread.  An
 *     engine may use threads, processes or sockets of its own behind them.
 *   - start() never blocks on the job: it queues or launches it and returns.  The
 *     caller keeps job->th, job->staging and *res alive and untouched until the
 *     job's completion has come out of collect(); the engine fills *res before it
 *     reports the completion and never touches it after.  So a result exists only
 *     for a running job, in storage the builder owns (a few hundred bytes plus the
 *     outputs list).
 *   - Every job that start() accepted comes out of collect() exactly once, aborted
 *     or not: the builder's accounting needs no timeouts.
 *   - fd() is one descriptor per engine, stable from create to free, that the
 *     builder polls for POLLIN together with its cancel descriptor and the other
 *     engines' fds.  Level-triggered: while a completion waits to be collected, or
 *     the engine has work to do on this thread (a curl socket is ready, a timer
 *     expired), the fd is readable.  collect() does that work, returns at most `max`
 *     completions and never blocks; it may return 0 (a spurious or internal
 *     wake-up).  The builder never polls with a timeout: an engine with deadlines
 *     (job timeouts, curl's timers) makes its fd readable when one expires.
 *   - can_start_more() is the backpressure: false while start() would refuse (the
 *     local pool is busy, the remote engine has its maximum of transfers in flight
 *     or its upload budget spent).  The builder stops taking nodes from the plan
 *     for that engine until a completion was collected.
 *   - abort() asks every job in flight to stop (process trees killed, transfers
 *     removed, remote invocations abandoned); their completions still arrive, with
 *     ret -ECANCELED.  start() after abort() fails with -ECANCELED.
 *   - free() may be called with jobs in flight only after abort() and after
 *     draining collect() (the builder does this on every exit path).
 *   - Errors: 0 or -errno; create() fills err.  Nothing prints.
 *
 * How the engines fit:
 *
 *   local (the sandbox, sbx_run; local.c on pool.h).  create() makes an eventfd
 *   (EFD_NONBLOCK); start() starts up to `slots` worker threads (0: the cores) as
 *   jobs need them (they live until free()), and appends the job to a queue under
 *   a mutex and signals a worker; a worker runs sbx_run() (blocking: that is why it
 *   is a thread), reads the outputs into the store, pushes the completion on a done
 *   list and writes 1 to the eventfd.  fd() is the eventfd; collect() reads it
 *   (resetting it) and pops up to max completions, writing the eventfd again if it
 *   left some.  can_start_more() is "queued + running + uncollected < slots".
 *   abort() completes the queued jobs at once and makes a pipe readable that every
 *   sbx_plan.cancel_fd points at: sbx_run kills the tree and returns -ECANCELED.  (A process pool without threads fits
 *   too: pidfds of the children in an epoll set, the epoll fd as fd().)
 *
 *   host (local-only thunks: no sandbox, sbx_run at level 3, "none"; host.c).  The
 *   same pool with its own slots, so a build can hold both engines at once: the
 *   builder sends a node marked local-only to host and every other node to
 *   --engine NAME.  A recorded run (self-correction) adds job->env_add.
 *
 *   remote (S3 + Lambda; the only libcurl user).  One curl multi handle carries
 *   every transfer: uploads of missing blobs, the invocation, downloads of outputs,
 *   each a small state machine per job.  fd() is an epoll fd: CURLMOPT_SOCKETFUNCTION
 *   adds and removes curl's sockets in it, CURLMOPT_TIMERFUNCTION arms a timerfd
 *   that is in it too, so the one fd wakes the builder for any socket or curl
 *   timeout.  collect() runs epoll_wait(…, 0) and curl_multi_socket_action() for
 *   what is ready, reads curl_multi_info_read() for finished transfers, advances
 *   their jobs, and returns the jobs that are complete.  can_start_more() bounds
 *   the jobs in flight (thousands) and the bytes being uploaded.  abort() removes
 *   every easy handle and completes the jobs with -ECANCELED.  No thread per job,
 *   and no thread at all is required.
 *
 *   fake (tests/unit/fake_engine.h).  An eventfd and a virtual clock: completions
 *   with scripted outcomes in a scripted order, for the plan's and the builder's
 *   tests.
 *
 * Engines are found by name (--engine NAME, "local" by default) in the table of
 * runtime/engine/engines.h; the builder only sees the ops and the handle.
 */
#ifndef GG_ENGINE_ENGINE_H
#define GG_ENGINE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "runtime/store/cache.h"

struct store;
struct thunk;
struct engine; /* one instance of an engine: opaque, per-engine state */

struct engine_config {
	struct store *st;          /* outputs go here (safe for concurrent writers) */
	const char *ggdir;
	unsigned slots;            /* jobs in flight at most; 0: the engine's default */
	const char *params;        /* engine-specific "key=value,..." (--engine NAME:PARAMS), or NULL */
};

struct engine_job {
	uint64_t tag;              /* the caller's: comes back with the completion (a node index) */
	const struct thunk *th;    /* the thunk as the tree is now; all its inputs present */
	const char *staging;       /* an empty directory of this job's own (the caller removes
				      it); NULL for an engine with no_staging */
	unsigned timeout_ms;       /* 0: none */
	int require_level;         /* 0: any */
	bool supervise;            /* name the first undeclared path (slower) */
	unsigned long long seed;   /* deterministic randomness */
	uint64_t expect_ms;        /* the thunk's recorded duration (graph_node.ms), 0: not
				      known; remote engines judge stragglers by it */
	uint64_t rank;             /* the plan's priority (plan.h: the recorded time of the
				      heaviest path from this job to the end of the
				      build); an engine that queues jobs starts the
				      highest first, 0 for all: in start() order */
	/* host engine (runs in the tree): a recorded run, for one.  Strings "NAME=VALUE"
	 * added to the thunk's environment (LD_PRELOAD, GG_TRACE_DIR: the caller's;
	 * NULL-terminated, kept alive like th), or NULL; and with outputs_optional the
	 * declared outputs that exist are stored and the others skipped (the recording
	 * names the real ones). */
	char *const *env_add;
	bool outputs_optional;
};

/*
 * What a job did, filled by the engine before its completion is reported.  The
 * caller zeroes it before start() and releases it with engine_result_release()
 * after collect().  stdout and stderr, when captured, are "<staging>/stdout" and
 * "<staging>/stderr" (logs true).
 */
struct engine_result {
	bool ran;                  /* the command ran (status is valid) */
	bool logs;                 /* stdout/stderr were captured in the staging dir */
	int status;                /* exit status, or 128 + signal */
	int level;                 /* sandbox level used (local engines) */
	uint64_t ms;               /* how long it ran: the plan's weight next time */
	uint64_t fetch_ms, run_ms, upload_ms; /* remote engines: the worker's own times
				      (inputs in, the command, outputs out); 0: not known */
	bool infra;                /* with a completion's ret < 0: the infrastructure could
				      not run it (the service refused or failed it past
				      the engine's retries, the worker died, blobs would
				      not move), so another engine may (--fallback-local);
				      never set for a command that ran and failed */
	struct cache_entry outputs; /* when ran and status 0: the outputs, in the store */
	char *undeclared;          /* malloc'd or NULL: first undeclared path it wanted */
	char *denied;              /* malloc'd or NULL: first operation denied */
	char *err;                 /* malloc'd or NULL: why it could not run, or what is
				      wrong with its outputs */
};

static inline void engine_result_release(struct engine_result *r)
{
	cache_entry_release(&r->outputs);
	free(r->undeclared);
	free(r->denied);
	free(r->err);
	r->undeclared = r->denied = r->err = NULL;
}

/* res->err = a formatted message, replacing any (engines.c); on ENOMEM, NULL. */
void engine_result_errf(struct engine_result *res, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* One completion, out of collect(). */
struct engine_done {
	uint64_t tag;              /* the job's */
	int ret;                   /* 0: the command ran (res->status says how it went);
				      -ECANCELED after abort(); other -errno: it could not
				      run (res->err says why) */
};

struct engine_ops {
	const char *name;
	/* Its jobs need no staging directory (engine_job.staging NULL): it keeps
	 * nothing of theirs on the local disk but the store's (a remote engine). */
	bool no_staging;
	/* A new instance (*out), or -errno with err filled. */
	int (*create)(const struct engine_config *cfg, struct engine **out, char *err, size_t errlen);
	void (*free)(struct engine *e);
	/* Would start() accept a job now? */
	bool (*can_start_more)(struct engine *e);
	/* Launch or queue the job; never waits for it.  0, -EAGAIN (full), -ECANCELED
	 * (aborted), other -errno (nothing was started, *res untouched). */
	int (*start)(struct engine *e, const struct engine_job *job, struct engine_result *res);
	/* The descriptor to poll for POLLIN. */
	int (*fd)(struct engine *e);
	/* Up to max completions into done[]: how many (0 is fine), or -errno. */
	int (*collect)(struct engine *e, struct engine_done *done, size_t max);
	/* Stop every job in flight; their completions follow with -ECANCELED. */
	void (*abort)(struct engine *e);
	/* The isolation its jobs get (sbx.h levels: 1 strongest, 3 none) and why not
	 * better (why may be ""); NULL op: 0, unknown (a fake or remote engine). */
	int (*level)(struct engine *e, char *why, size_t whylen);
	/* Before any instance exists (a build plans first): the share, in percent, of
	 * a job's own recorded duration that the plan adds to its priority when this
	 * engine runs the build (plan.h, plan_opts.own_pct), from the params it would
	 * be created with; NULL op: 0.  An engine whose runs may straggle wants long
	 * jobs started sooner. */
	unsigned (*own_pct)(const char *params);
};

#endif
