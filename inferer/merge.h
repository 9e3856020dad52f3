/*
 * merge.h - fold a new recording's graph into the existing one, so that recording an
 * incremental rebuild (`gg record -- make` after an edit: make re-runs only what
 * changed) refreshes the graph instead of replacing it.
 *
 * The result holds every node of `cur` (the new recording), and every node of `old`
 * none of whose outputs `cur` produces (commands the driver did not re-run).  Then
 * references are re-pointed by path: an input naming a producer that is gone refers
 * to whoever produces that path now (or becomes a content hash of the file if
 * nobody does); an input of `cur` read as a plain file that a kept node produced,
 * with the same contents, becomes a reference to that node.  Nodes are ordered
 * topologically again and every thunk whose references changed is re-stored under
 * its new hash.  Drivers' inputs: those of `cur`, plus those of `old` it does not
 * name.
 *
 * On success `cur` is replaced by the merged graph.  Returns 0 or -errno; problems
 * that leave a usable graph are warnings.  Nothing prints.
 */
#ifndef GG_MERGE_H
#define GG_MERGE_H

#include "runtime/ir/graph.h"
#include "runtime/store/statcache.h"
#include "runtime/store/store.h"
#include "runtime/lib/util.h"

struct merge_stats {
	size_t kept, replaced, rewritten;
};

int graph_merge(struct store *st, struct statcache *sc, const struct graph *old,
		struct graph *cur, struct merge_stats *stats, struct strlist *warnings);

/*
 * One node re-recorded: the command of node `idx` of g ran again on the host under
 * the shim (a local-only thunk, or a self-correction), and `one` is the node that
 * recording was inferred to (graph_adopt).  The new thunk takes the node's place,
 * so that no thunk keeps an input set that went stale:
 *
 *  - its inputs, executable and objects are what the new recording read.  An input
 *    read as plain contents keeps a reference where the old thunk had one for the
 *    same path (same producer and output); else, when an earlier node of g produces
 *    the path's final version, it becomes a reference to that node (programs and
 *    shared objects stay contents, as the inferer makes them).  The node's deps
 *    are the producers of its references and of the programs the build made that
 *    it ran (graph_merge's rule), all earlier nodes: the order stays topological;
 *  - the node takes the new thunk's hash, local bits (a thunk whose recording is
 *    pure becomes pure), label and outputs;
 *  - every later node that referenced the old thunk is rewritten (outputs matched by
 *    path; a path the new thunk no longer produces becomes the file's contents,
 *    hashed through `sc`) and stored under its new hash, and so on transitively.
 *
 * Thunks go to `st`.  Returns 0 or -errno; g is left as it was when the new thunk
 * cannot be stored, and otherwise stays consistent (a failure while rewriting users
 * leaves the users not yet rewritten naming the old thunk, which stays in the store).
 */
int graph_replace_node(struct store *st, struct statcache *sc, struct graph *g, size_t idx,
		       const struct graph_node *one);

/*
 * Infer the recording in trace directory `tdir` (one command: the re-run of node
 * idx's thunk, made with GG_TRACE_DIR=tdir) and put it in place of the node
 * (graph_replace_node).  *outs receives the node's new outputs: paths, contents
 * (in `st`) and modes.  Returns 0, or -errno with errbuf set (-EPROTO: the
 * recording is not one command with outputs).
 */
struct cache_entry;
int graph_adopt(struct store *st, struct statcache *sc, struct graph *g, size_t idx,
		const char *tdir, struct cache_entry *outs, char *errbuf, size_t errlen);

#endif
