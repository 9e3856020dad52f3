/*
 * infer.h - from a recording to thunks and a graph (`gg infer`).
 *
 * 1. Processes.  Images linked by exec form one process; the trace's parent links
 *    (fork, spawn, ppid) form the process tree.
 * 2. Cut.  A process whose program is a build driver (make, gmake, ninja, samu,
 *    meson, `cmake --build`; opts->drivers replaces the list) spawns commands; each
 *    child of a driver whose subtree holds no driver is one command, and its whole
 *    subtree is one thunk (`sh -c 'gcc ...'` -> gcc -> cc1, as).  A child whose
 *    subtree does hold a driver (recursive make, `cd sub && make`) is descended
 *    into, its other children are commands too.  A recording without any driver is
 *    one command.
 * 3. Effects.  A command's events are replayed in time order, per path: what it read
 *    before writing it is an input; what it probed and found missing (and did not
 *    create itself) is a missing-probe; what it listed is a listing; what it wrote
 *    and left in place is an output; what it created and removed (temporaries) is
 *    neither.  Executables, interpreters and shared objects of every image are
 *    objects.  Directories are not inputs or outputs (they are created as needed).
 * 4. Versions and edges.  An input is the output of the command that last wrote the
 *    path before the read (a file rewritten during the build is tracked by version);
 *    the reference becomes an edge.  Other inputs are sources, hashed (and stored)
 *    with their current contents.
 * 5. Local-only.  A command that read its inherited stdin (stdin) or a terminal
 *    (terminal), opened a network socket (network), left a file outside the build
 *    tree (writes-outside-tree), ran a static binary (opaque-binary), read
 *    /dev/urandom or /dev/random (urandom), had a process with no known end
 *    (outlived-driver), a process killed while it held records it had not written
 *    (cut-short: trace_read.h) or removed a file it did not create
 *    (deletes-foreign-files) cannot be replayed elsewhere: its thunk carries the
 *    reasons, the others are pure.
 * 6. Commands with no output (echo, a failed `rm -f`) do not enter the graph.
 * 7. Compiler caches.  Paths at or below a compiler cache's own directory (ccache,
 *    sccache; recognised by a CACHEDIR.TAG or by the wrapper's settings, see
 *    wrapcache.h) are scratch: no input, output, missing probe or listing, and no
 *    reason for local-only.  The shim records with ccache passing through
 *    (CCACHE_DISABLE=1), so the compiler's own reads are the inputs.
 *
 * Environment entries of the driver's plumbing (MAKEFLAGS, MFLAGS, MAKELEVEL,
 * MAKEOVERRIDES) are dropped from thunks, since a thunk never contains a driver;
 * secrets, LD_PRELOAD and GG_* are dropped by thunk.h's filter.
 *
 * Paths are compared after lexical normalisation ("a/b/../c" is "a/c").
 *
 * Errors: 0 or -errno (with a message in errbuf); problems that leave a usable graph
 * (an input that cannot be hashed, a cycle through concurrent commands) are warnings.
 */
#ifndef GG_INFER_H
#define GG_INFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/ir/graph.h"
#include "runtime/store/statcache.h"
#include "runtime/store/store.h"
#include "runtime/trace/trace_read.h"
#include "runtime/lib/util.h"

struct infer_opts {
	const char *tree;              /* the build tree; NULL: the first root's cwd */
	const char *const *drivers;    /* program names; NULL: the defaults above */
	const char *const *env_allow;  /* secret names allowed into thunks; may be NULL */
	bool hash_only;                /* hash sources without copying them to the store */
	const char *cache_dir;         /* the .gg dir: record each thunk's recorded results in
	                                * its results cache (cache.h); NULL: don't */
	/* Re-recording a command of an existing graph (merge.h, graph_adopt): for a file
	 * read that no command of this recording made, the existing graph's producing
	 * thunk and output (return 0 with *h, *output, *mode set) or not (-ENOENT: a
	 * source).  A reference is kept even when the file is gone since (`mv a b`).
	 * NULL: every such file is a source. */
	int (*producer)(void *ctx, const char *path, struct gg_hash *h, uint32_t *output,
			uint32_t *mode);
	void *producer_ctx;
};

struct infer_stats {
	size_t images, processes, commands;
	size_t thunks, pure, local, no_output;
	size_t local_by_reason[8]; /* by bit number of enum thunk_local */
	size_t edges, inputs, missing, objects;
	size_t sources_hashed;     /* distinct source files and objects hashed */
	uint64_t bytes_hashed;     /* bytes read to hash them (stat cache misses) */
};

extern const char *const infer_default_drivers[];

/*
 * Infer the graph of trace `t` into `g` (initialised here).  Thunks and source
 * contents go to `st`; `sc` avoids re-reading unchanged files.  Warnings are
 * appended to `warnings` (may be NULL).  Returns 0 or -errno with errbuf set.
 */
int infer_run(const struct trace *t, struct store *st, struct statcache *sc,
	      const struct infer_opts *opts, struct graph *g, struct infer_stats *stats,
	      struct strlist *warnings, char *errbuf, size_t errlen);

#endif
