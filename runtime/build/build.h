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
 * Counting: every selected node ends in exactly one of the counters of struct
 * build_stats: cached, ran, corrected (re-recorded), failed, or skipped (a
 * dependency failed, or it never started because the build stopped at a failure
 * without -k or was interrupted): total = cached + ran + corrected + failed + skipped.
 *
 * Verify (opts->verify) answers "does running each thunk again give the result
 * the cache holds for the inputs the tree holds now?", as a second run of a
 * build would, and leaves the tree alone.  A node's key is computed from the tree
 * as it is, every input made by another thunk included (that is what the
 * sandbox shows the command); the reference is the results-cache entry for that
 * key (written by `gg infer` for the recorded build, by `gg build` for every
 * execution).  Then:
 *
 *   READY --no entry for the key, a missing probe now exists, an input is gone,
 *           or local-only (it would run in the tree itself)--> DONE (not_compared)
 *   READY --entry--> RUN --ran--> DONE (ran; each output that is not the entry's is
 *                                 a BUILD_EV_DIFFERS naming the file; differs counts
 *                                 the nodes)
 *                            \-could not run or failed--> FAILED (failed)
 *
 * Nothing is run to make a missing reference: a tree edited since its last
 * `gg build` has nothing known to compare with, and the node says so.  A failure
 * does not stop a verify nor skip the node's users: their keys come from the tree.
 * total = ran + failed + not_compared + skipped (interrupted).
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
 * Engines share one asynchronous ops struct (runtime/engine/engine.h): the builder
 * hands every node to opts->engine (default: "local", the sandbox), a local-only
 * one to opts->host_engine (default: "host", the tree itself), and polls their
 * descriptors and the cancel descriptor from its one scheduling thread.  The
 * order comes from the plan (plan.h: longest critical path first); the parts and
 * their memory are described in runtime/build/README-plan.
 *
 * Host runs.  A local-only node, and a self-correction, runs on the host engine
 * recorded (opts->recorder; not in verify): the node's thunk becomes the one its
 * recording gives (recorder->adopt, which the caller implements with merge.h's
 * graph_adopt: inputs, outputs, local bits, users' references), its result is
 * cached under that thunk's key, and stats->graph_changed tells the caller to save
 * the graph.  Without a recorder nothing is re-recorded.  A missing probe, or a listed name, that is a directory
 * holding outputs of the graph or an output itself is made by the build: its
 * presence depends on the order of a -j build, so it changes neither the key nor
 * the shape of a node.
 *
 * Nothing here prints: progress goes to the caller's observer.
 */
#ifndef GG_BUILD_H
#define GG_BUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/ir/graph.h"
#include "runtime/ir/hash.h"

struct cache_entry;
struct cache_remote;
struct engine_ops;
struct engine_result;
struct statcache;
struct store;

enum build_event_kind {
	BUILD_EV_CACHED,      /* a hit: outputs materialized from the store */
	BUILD_EV_START,       /* an execution starts */
	BUILD_EV_DONE,        /* an execution succeeded */
	BUILD_EV_FAILED,      /* an execution failed (text: why; log: its stderr file) */
	BUILD_EV_SKIPPED,     /* not run: a dependency failed */
	BUILD_EV_CORRECTED,   /* failed in the sandbox, re-recorded under the shim: updated */
	BUILD_EV_NONDETERMINISTIC, /* --no-cache: a result differs from the cached one */
	BUILD_EV_DIFFERS,     /* verify: output `path` is not the known result (one per file) */
	BUILD_EV_NOT_COMPARED, /* verify: nothing known to compare with (text: why) */
	BUILD_EV_NOTE,        /* anything else worth saying (text) */
};

struct build_event {
	enum build_event_kind kind;
	const struct graph_node *node;
	const char *text;     /* a message, or NULL */
	const char *path;     /* DIFFERS, NONDETERMINISTIC: the output concerned */
	const char *log;      /* stderr of the command, or NULL */
	const char *stdout_log; /* stdout of the command, or NULL */
	int status;           /* exit status, or 128 + signal */
	int level;            /* sandbox level used */
	/* DONE, FAILED: the engine it ran on ("local", "host", "lambda", ...) and what it
	 * said (its times: ms, fetch_ms, run_ms, upload_ms; its level), or NULL */
	const char *engine;
	const struct engine_result *res;
	size_t done, total, running, cached; /* progress */
};

typedef void build_observer_fn(void *ctx, const struct build_event *ev);

/*
 * Re-recording, supplied by the caller (the CLI, which owns the shim and the
 * inferer): the builder runs the command on the host engine with the environment
 * record_env gives, then has adopt turn the recording into the node's new thunk.
 * Both are called from the scheduling thread.
 */
struct build_recorder {
	/* "NAME=VALUE" strings that make a run record into trace_dir (an empty
	 * directory the builder made), NULL-terminated, in one allocation: free() it.
	 * NULL on ENOMEM. */
	char **(*record_env)(void *ctx, const char *trace_dir);
	/* Put the thunk the recording in trace_dir gives in place of node `node` of g
	 * (its users renamed), its new thunk stored in st; *outs: the recorded outputs.
	 * 0, or -errno with err filled (g unchanged). */
	int (*adopt)(void *ctx, struct store *st, struct statcache *sc, struct graph *g,
		     size_t node, const char *trace_dir, struct cache_entry *outs, char *err,
		     size_t errlen);
	void *ctx;
};

struct build_opts {
	int jobs;                        /* thunks at once per engine; 0: the cores */
	bool keep_going;                 /* -k */
	bool no_cache;                   /* run every selected thunk */
	bool verify;                     /* run, compare with the known results, leave the tree */
	bool self_correct;               /* re-record a thunk that failed for an undeclared input */
	unsigned timeout_ms;             /* per thunk; 0: none */
	int require_level;               /* refuse sandbox levels weaker than this; 0: any */
	const char *const *targets;      /* absolute paths; NULL or empty: every node */
	size_t ntargets;
	const struct gg_hash *force;     /* thunk hashes to execute whatever the cache says */
	size_t nforce;
	const struct build_recorder *recorder; /* NULL: nothing is re-recorded */
	const struct engine_ops *engine; /* NULL: "local" (engines.h) */
	const char *engine_params;       /* engine_config.params, or NULL */
	const struct engine_ops *host_engine; /* local-only thunks; NULL: "host" */
	/* --fallback-local: a node the main engine could not run for the
	 * infrastructure's sake (engine_result.infra: retries exhausted, workers dead)
	 * runs once more on this engine (with its default slots); NULL: it fails.  A
	 * command that ran and failed is not run again here. */
	const struct engine_ops *fallback_engine;
	int cancel_fd;                   /* readable: stop (Ctrl-C); -1: none */
	build_observer_fn *observer;
	void *observer_ctx;
	const struct cache_remote *remote; /* NULL: no shared results cache */
};

struct build_stats {
	size_t total, cached, ran, failed, skipped, corrected; /* see "Counting" above */
	size_t nondeterministic;         /* ran, and differs from the cache (--no-cache) */
	size_t differs, not_compared;    /* verify: see above */
	size_t keys_ms;                  /* time spent computing keys (no-op cost) */
	size_t remote_hits;              /* of cached: fetched from opts->remote */
	size_t remote_published;         /* keys handed to opts->remote->publish */
	size_t fallbacks;                /* runs handed to opts->fallback_engine */
	bool graph_changed;              /* a thunk was re-recorded: the caller saves the graph */
	bool weights_changed;            /* a node's duration (graph_node.ms) was updated from
					    what its run took: the caller saves the graph */
	int level;                       /* sandbox level; 0: nothing needed a sandbox */
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
