/*
 * plan.h - what to build next: the states of the selected nodes of a DAG, their
 * pending-dependency counts, who uses whom, and a heap of the nodes that may start.
 * ninja's Plan is the model; the builder (keys, the cache, engines) drives it and
 * the plan knows nothing of thunks, files or engines.
 *
 * States of a node:
 *
 *   UNSELECTED                       not part of this build (never changes)
 *   WAIT     --last dep DONE/CACHED-->  READY   (pushed on the ready heap)
 *   READY    --plan_next_ready------->  RUNNING (popped; the builder owns it now)
 *   RUNNING  --plan_node_done(DONE)-->  DONE     executed, succeeded
 *   RUNNING  --plan_node_done(CACHED)-> CACHED   result reused, not executed
 *   RUNNING  --plan_node_done(FAILED)-> FAILED
 *   RUNNING  --plan_node_done(CANCELED)-> CANCELED  interrupted (the engine aborted it)
 *   WAIT     --a dep FAILED/SKIPPED-->  SKIPPED  (transitively, at once)
 *   WAIT, READY --the build stops---->  CANCELED never handed out: plan_cancel(), or
 *                                                the first failure without keep_going
 *
 * DONE, CACHED, FAILED, SKIPPED and CANCELED are final.  "RUNNING" means "handed to
 * the builder": computing its key, looking up the cache, running in an engine,
 * being retried or re-recorded are all RUNNING as far as the plan is concerned.
 *
 * Invariants:
 *   - the selection is closed: every dep of a selected node is selected;
 *   - pending(n) = number of deps of n (with repetition) not yet DONE or CACHED,
 *     while n is WAIT; a node is READY exactly when it is in the heap, and only a
 *     node with pending 0 gets there;
 *   - every selected node is in exactly one state, and each final state has one
 *     counter: waiting + ready + running + ran + cached + failed + skipped +
 *     canceled == selected at every moment, and a finished plan (plan_finished)
 *     has only final states, so each node was counted exactly once;
 *   - once stopped (plan_cancel, or a failure without keep_going) no node is handed
 *     out again and nothing is WAIT or READY; RUNNING nodes still report back;
 *   - the heap pops the node with the longest critical path first: the sum of the
 *     weights along the heaviest path from the node to the end of the build through
 *     its (selected) users, its own weight included.  Ties go to the lower index
 *     (graph order), so the order is deterministic.  A weight is the node's recorded
 *     duration when known (any unit, the same for all: the builder gives
 *     milliseconds), else the mean of the known weights of the selection (1 when
 *     none is known): list scheduling by the longest remaining path in time
 *     (HEFT's upward rank, on identical machines).  With plan_opts.own_pct, a node's
 *     own weight counts that much more (percent) in its priority, but not in the
 *     paths through it: among nodes with about as long a path, the longer ones go
 *     first, so that a slow run of one (a remote straggler, relaunched once it is
 *     late) still has room before the end of the build.
 *
 * Cost: plan_init is O(n + edges); plan_node_done is O(users of the node) plus
 * O(log ready) per node made READY, plus, once per build, O(n) when it stops; a
 * skip cascade visits each skipped node once.  Nothing rescans the graph.  Memory is
 * 21 bytes per graph node and 4 per edge (structure of arrays, 32-bit indexes: at
 * most UINT32_MAX - 1 nodes and edges), plus O(n) scratch freed before plan_init
 * returns.  No result, path or thunk lives here: those belong to the builder, and
 * only for RUNNING nodes.
 *
 * Single-threaded: the builder's scheduling thread owns the plan.  Errors: 0 or
 * -errno; nothing prints.
 */
#ifndef GG_BUILD_PLAN_H
#define GG_BUILD_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum plan_state {
	PLAN_UNSELECTED = 0,
	PLAN_WAIT,
	PLAN_READY,
	PLAN_RUNNING,
	PLAN_DONE,
	PLAN_CACHED,
	PLAN_FAILED,
	PLAN_SKIPPED,
	PLAN_CANCELED,
};

/*
 * The DAG, read during plan_init only.  Nodes are 0..n-1 (the graph's indexes);
 * deps is asked for the dependencies of each node (indexes < n, in any order,
 * repetitions allowed), so the caller's own node structures need no copy.  weight
 * (NULL: every node weighs 1) gives a node's recorded duration, 0 when unknown
 * (then the mean of the known ones, see above).
 */
struct plan_dag {
	size_t n;
	size_t (*deps)(void *ctx, size_t node, const size_t **deps);
	uint64_t (*weight)(void *ctx, size_t node);
	void *ctx;
};

/*
 * Told of every node the plan itself moves to SKIPPED or CANCELED (the builder
 * reports those to its observer), from inside plan_node_done and plan_cancel.  It
 * must not call back into the plan.
 */
typedef void plan_final_fn(void *ctx, size_t node, enum plan_state state);

struct plan_opts {
	bool keep_going;             /* -k: a failure skips its users and nothing else */
	plan_final_fn *on_final;     /* or NULL */
	void *ctx;
	unsigned own_pct;            /* priority: the critical path + own_pct% of the node's
					own weight (0: the path alone; see above) */
};

struct plan_counts {
	size_t selected;
	size_t waiting, ready, running;                    /* not final */
	size_t ran, cached, failed, skipped, canceled;     /* final (ran: DONE) */
};

struct plan {
	size_t n;              /* graph nodes */
	uint8_t *state;        /* [n] enum plan_state */
	uint32_t *pending;     /* [n] deps not DONE/CACHED (WAIT); reused as a link when SKIPPED */
	uint32_t *ustart;      /* [n + 1] users of i: users[ustart[i] .. ustart[i + 1]) */
	uint32_t *users;       /* [edges] selected users of each node */
	uint64_t *cp;          /* [n] heap priority: critical path (+ own_pct%) */
	uint32_t *heap;        /* [selected] READY nodes, a binary max-heap on (cp, -index) */
	size_t nheap;
	bool stopped;
	struct plan_opts o;
	struct plan_counts c;
	size_t *cycle;         /* after -ELOOP: the nodes of one cycle, each a dep of the next */
	size_t ncycle;
};

#define PLAN_INIT { .n = 0 }

/*
 * Select targets (NULL or ntargets 0: every node) and what they need, and make the
 * nodes without selected deps READY.  -EINVAL for a target or dep out of range,
 * -E2BIG past the 32-bit limits, -ENOMEM, -ELOOP when the selection has a cycle:
 * then p->cycle lists one (a -> b meaning b depends on a, closing back on the
 * first), for the caller to name.  On error as on success, the caller calls
 * plan_release.
 */
int plan_init(struct plan *p, const struct plan_dag *dag, const size_t *targets, size_t ntargets,
	      const struct plan_opts *opts);
void plan_release(struct plan *p);

/*
 * The READY node with the longest critical path, now RUNNING: true and *node, or
 * false when none is READY (all are waiting on RUNNING nodes, or the plan stopped).
 */
bool plan_next_ready(struct plan *p, size_t *node);

/*
 * A RUNNING node ended: result is PLAN_DONE, PLAN_CACHED, PLAN_FAILED or
 * PLAN_CANCELED.  DONE and CACHED wake its users (the last dep makes a user READY);
 * FAILED makes every WAIT user SKIPPED, transitively, and without keep_going stops
 * the plan (every WAIT or READY node becomes CANCELED); CANCELED (the job was
 * interrupted) stops the plan.  -EINVAL when the node is not RUNNING or the result
 * is none of these.
 */
int plan_node_done(struct plan *p, size_t node, enum plan_state result);

/* Stop: hand out nothing more; every WAIT or READY node becomes CANCELED. */
void plan_cancel(struct plan *p);

/* Every selected node is final: nothing runs, nothing more will be handed out. */
bool plan_finished(const struct plan *p);

static inline enum plan_state plan_state_of(const struct plan *p, size_t node)
{
	return node < p->n ? (enum plan_state)p->state[node] : PLAN_UNSELECTED;
}

static inline const struct plan_counts *plan_counts(const struct plan *p)
{
	return &p->c;
}

/* The node's heap priority: its critical path (plus own_pct% of its own weight); 0
 * when not selected. */
static inline uint64_t plan_critical_path(const struct plan *p, size_t node)
{
	return node < p->n && p->state[node] != PLAN_UNSELECTED ? p->cp[node] : 0;
}

/* "wait", "ready", ...: for messages. */
const char *plan_state_name(enum plan_state s);

#endif
