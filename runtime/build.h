/*
 * build.h - the scheduler: replay a graph against the current tree (`gg build`,
 * `gg force`, `gg verify`).
 *
 * States of a node (one per selected graph node):
 *
 *   WAIT --deps done--> READY --key computed--> HIT  --outputs materialized--> DONE
 *                                           \-> RUN  --engine ok, outputs stored--> DONE
 *                                                     \-engine failed--> (self-correct) --> DONE
 *                                                                                   \-> FAILED
 *   WAIT --a dep FAILED or SKIPPED--> SKIPPED
 *
 * Invariants: a node is READY only when every dep is DONE, so its references resolve
 * to the contents its producers left in the tree; keys, the stat cache, the results
 * cache and the tree are touched by the scheduling thread only; engines run in worker
 * threads and touch nothing but their own staging directory and the store (which is
 * safe for concurrent writers).  Outputs reach the tree only by materialize() (a
 * rename), so an interrupted build leaves whole files or none.
 *
 * The cache key of a node is thunk_cache_key() of its thunk with every source input,
 * executable and shared object re-hashed (through the stat cache) and every listing
 * re-read: an unchanged tree computes the same keys without reading a file.  A path
 * the thunk once probed and found missing that exists now forces a run.
 *
 * Engines share one ops struct (engine.h); the local one runs the thunk in the
 * sandbox (sandbox/sbx.h).
 *
 * Nothing here prints: progress goes to the caller's observer.
 */
#ifndef GG_BUILD_H
#define GG_BUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "graph.h"
#include "hash.h"

enum build_event_kind {
	BUILD_EV_CACHED,      /* a hit: outputs materialized from the store */
	BUILD_EV_START,       /* an execution starts */
	BUILD_EV_DONE,        /* an execution succeeded */
	BUILD_EV_FAILED,      /* an execution failed (text: why; log: its stderr file) */
	BUILD_EV_SKIPPED,     /* not run: a dependency failed */
	BUILD_EV_CORRECTED,   /* failed in the sandbox, re-recorded under the shim: updated */
	BUILD_EV_NONDETERMINISTIC, /* --no-cache: a result differs from the cached one */
	BUILD_EV_DIFFERS,     /* verify: a result differs from the recorded build's */
	BUILD_EV_NOTE,        /* anything else worth saying (text) */
};

struct build_event {
	enum build_event_kind kind;
	const struct graph_node *node;
	const char *text;     /* a message, or NULL */
	const char *log;      /* stderr of the command, or NULL */
	const char *stdout_log; /* stdout of the command, or NULL */
	int status;           /* exit status, or 128 + signal */
	int level;            /* sandbox level used */
	size_t done, total, running, cached; /* progress */
};

typedef void build_observer_fn(void *ctx, const struct build_event *ev);

struct build_opts {
	int jobs;                        /* threads running thunks; 0: the cores */
	bool keep_going;                 /* -k */
	bool no_cache;                   /* run every selected thunk */
	bool verify;                     /* run, compare with the recorded outputs, leave the tree */
	bool self_correct;               /* re-record a thunk that failed for an undeclared input */
	unsigned timeout_ms;             /* per thunk; 0: none */
	int require_level;               /* refuse sandbox levels weaker than this; 0: any */
	const char *const *targets;      /* absolute paths; NULL or empty: every node */
	size_t ntargets;
	const struct gg_hash *force;     /* thunk hashes to execute whatever the cache says */
	size_t nforce;
	const char *shim;                /* libggshim.so, for self-correction */
	int cancel_fd;                   /* readable: stop (Ctrl-C); -1: none */
	build_observer_fn *observer;
	void *observer_ctx;
};

struct build_stats {
	size_t total, cached, ran, failed, skipped, corrected, nondeterministic, differs;
	size_t keys_ms;                  /* time spent computing keys (no-op cost) */
	int level;                       /* sandbox level */
	char level_why[256];
};

/*
 * Build the selected nodes of `g` (loaded from <ggdir>/graph) and update the graph
 * in place for self-corrected nodes (the caller saves it).  Returns 0 when every
 * selected node is DONE, -ENOTRECOVERABLE when some failed or were skipped,
 * -ESTALE (errbuf names the file) when a driver input changed since the
 * recording, -ECANCELED when cancel_fd fired, other -errno on errors.
 */
int build_run(const char *ggdir, struct graph *g, const struct build_opts *opts,
	      struct build_stats *stats, char *errbuf, size_t errlen);

#endif
