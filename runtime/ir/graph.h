/*
 * graph.h - the build graph: the thunks inferred from a recording, in dependency
 * order, with what each produced in the recorded build.  The thunks themselves live
 * in the store (runtime/store.h) as THUNK blobs; the graph names them by hash.
 *
 * Invariants: nodes are in topological order (a node's deps all come before it);
 * a node's outputs are its thunk's outputs in the thunk's (sorted) order, so output
 * index i of node n is what another thunk's reference (hash of n, output i) means;
 * graph_find_path() names the node that produced the *final* version of a path (a
 * file rewritten by several thunks belongs to the last writer, marked final).
 *
 * File: <ggdir>/graph, written whole with rename(2).  One msgpack array:
 *
 *   [ "gggraph", GRAPH_VERSION, tree, [node...], [driver input...] ]
 *   node   = [ thunk hash (bin 17), label (str), command (str), local (uint),
 *              deps [uint...], outputs [output...], ms (uint, optional) ]
 *   output = [ path (str), value (bin 17, or nil when the content is not known:
 *              a version that a later thunk overwrote), mode (uint), final (bool:
 *              this node wrote the path's last version) ]
 *
 * driver input = an output-shaped [path, value, mode, true]: a file the build
 * drivers themselves read (Makefile, build.ninja, CMakeLists.txt...) and no command
 * wrote; when one changes, the graph no longer describes the build (stale).
 *
 * tree is the build tree the graph was inferred for (absolute path); label is the
 * node's main output (for people), command its shell command or argv joined, local
 * the thunk's enum thunk_local bits, ms its recorded duration in milliseconds (0 or
 * absent: not known; the scheduler's weight, plan.h).  A reader skips the fields
 * of a node past those it knows, so a graph with ms reads in an older gg.  A hash
 * is the kind byte ('T' or 'V') and the 16 digest bytes.  A reader refuses another
 * version (-EPROTONOSUPPORT) and any malformed file (-EBADMSG).
 *
 * Ownership: struct graph owns its nodes and every string in them.  A node
 * graph_load read holds its deps, outputs and strings in one block (`block`): code
 * that replaces one of them calls graph_node_own first.  Errors: 0 or -errno;
 * nothing prints.
 */
#ifndef GG_GRAPH_H
#define GG_GRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/ir/hash.h"

#define GRAPH_MAGIC "gggraph"
#define GRAPH_VERSION 1

struct graph_output {
	char *path;
	struct gg_hash value; /* kind NONE when unknown */
	uint32_t mode;
	bool final;           /* the last version of the path in the recorded build */
};

struct graph_node {
	struct gg_hash hash; /* the thunk's */
	char *label;
	char *command;
	uint32_t local;
	uint32_t ms;  /* recorded duration (ms), 0 when not known */
	size_t *deps; /* indexes of earlier nodes */
	size_t ndeps;
	struct graph_output *outputs;
	size_t noutputs;
	void *block;  /* a loaded node: deps, outputs and strings in this one block */
};

struct graph_index; /* path -> (node, output) and hash -> node */

struct graph {
	char *tree;
	struct graph_node *nodes;
	size_t n, alloc;
	struct graph_output *driver_inputs; /* what the drivers read */
	size_t ndriver_inputs;
	struct graph_index *index; /* built on demand */
};

#define GRAPH_INIT { .tree = NULL, .nodes = NULL, .n = 0, .alloc = 0, .index = NULL }

void graph_init(struct graph *g);
void graph_release(struct graph *g);

/* Append a node; the graph takes ownership of its strings and arrays.  -ENOMEM. */
int graph_add(struct graph *g, struct graph_node *node);

int graph_save(const struct graph *g, const char *file);
int graph_load(struct graph *g, const char *file);

/*
 * Lookups (build the index on first use; -ENOMEM then yields "not found").
 * graph_find_path: the node producing the final version of path, and the output's
 * index, or -1.  graph_find_hash: the node whose thunk hash is h, or -1.
 */
long graph_find_path(struct graph *g, const char *path, size_t *output);
/* The same, for a caller that has str_hash(path) at hand already. */
long graph_find_path_hashed(struct graph *g, const char *path, uint64_t path_hash,
			    size_t *output);
long graph_find_hash(struct graph *g, const struct gg_hash *h);

/*
 * The recorded contents of output `output` of the node whose thunk hash is
 * `producer`, for thunk_cache_key() (a thunk_resolve_fn; ctx is the struct graph):
 * the cache key of a recorded result.  0, or -ENOENT when unknown.
 */
int graph_recorded_value(void *graph, const struct gg_hash *producer, uint32_t output,
			 struct gg_hash *value);

/* Forget the lookup index (after changing a node's hash or outputs in place). */
void graph_reindex(struct graph *g);

/* Free what a node owns (label, command, deps, outputs) and zero it. */
void graph_node_release(struct graph_node *n);

/* Give a loaded node its own label, command, deps, outputs and paths (each a
 * separate allocation, as graph_add takes them), so they can be replaced one by
 * one.  0 (also for a node that has them already) or -ENOMEM. */
int graph_node_own(struct graph_node *n);

/* Number of edges (sum of deps). */
size_t graph_edges(const struct graph *g);

#endif
