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

#include "graph.h"
#include "statcache.h"
#include "store.h"
#include "util.h"

struct merge_stats {
	size_t kept, replaced, rewritten;
};

int graph_merge(struct store *st, struct statcache *sc, const struct graph *old,
		struct graph *cur, struct merge_stats *stats, struct strlist *warnings);

#endif
