/*
 * driverlog.h - keep ninja's own records true after gg wrote outputs into its tree.
 *
 * After `gg build`, `ninja -n` must agree that the tree is up to date, as if ninja
 * had run the commands itself.  ninja (1.10+) calls an output dirty when its
 * .ninja_log entry is missing, has another command hash, or records an mtime older
 * than the edge's newest input; and, for a `deps = gcc|msvc` edge, when .ninja_deps
 * holds no record for the output or one older than the output.  It also deletes the
 * compiler's depfile once read.  So, for each node gg built whose command ran in a
 * ninja build directory (its thunk's cwd is D and D/build.ninja is a driver input of
 * the graph), driverlog writes what ninja would have:
 *
 *   times        first, an output of a build statement older than its newest input
 *                (what the thunk read, or an explicit or implicit input the
 *                statement names: Meson's links name a library's .symbols file
 *                the linker never reads) gets that input's mtime: ninja runs a
 *                command after every declared input, gg as soon as what it reads
 *                is there.  Not `restat` outputs (their log entry says when the
 *                command ran).  Repeated until no time moves (at most 8 passes).
 *
 *   .ninja_log   for each output of the node that is an output of a build statement
 *                of D/build.ninja (and the files it includes), unless the last entry
 *                has the command's hash and an mtime not older than T:
 *                "0\t0\t<T>\t<path>\t<hash hex>\n" appended, where T (ns) is the
 *                newest of the output's mtime and its inputs' (as above): ninja
 *                1.11 records max(command start, outputs' mtimes), and a `restat`
 *                output the command left unchanged keeps an mtime older than the
 *                input that made it run (ninja then compares the log's time with
 *                the inputs).  The hash is
 *                ninja's MurmurHash64A (seed 0xDECAFBADDECAFBAD) of the command, the
 *                `sh -c` argument of the thunk's argv, which is what ninja ran (ninja
 *                also hashes the contents of an edge's rspfile: such edges, which
 *                Meson and CMake do not write on POSIX, get another hash and ninja
 *                runs them once more).  The file is created with "# ninja log
 *                v5\n"; an existing file is appended to when its header says v5 or v6
 *                (same line format), else left alone (-EPROTONOSUPPORT).
 *   .ninja_deps  (binary, version 4) for each output of a deps-mode build statement
 *                (a rule, or the statement, binds `deps = gcc` or `msvc`): when one of
 *                the node's outputs is a depfile (a make rule) whose target is that
 *                output, its dependencies (canonicalized as ninja does, duplicates
 *                dropped) become a deps record with the output's mtime, and the
 *                depfile is deleted, as ninja does; without a depfile, a record older
 *                than the output is renewed with the same dependencies.  A record
 *                equal to the last one is not appended again, so a build that changed
 *                nothing appends nothing.
 *
 * .ninja_deps layout (ninja's src/deps_log.cc): "# ninjadeps\n", int32 version (4),
 * then records, each a uint32 size then `size` bytes; the high bit of size marks a
 * deps record: int32 output id, uint32 mtime low, uint32 mtime high, int32 id per
 * dependency.  Otherwise a path record: the path, NUL padding to a multiple of 4,
 * uint32 ~id, where id counts the path records before it.  A record that does not
 * parse ends the log: the file is truncated there (as ninja does) before appending.
 * Integers are little-endian (the host's, as ninja writes them).
 *
 * Paths in both logs are relative to D when below it, else absolute, as build.ninja
 * names them (Meson, CMake do).  Outputs named through variables in build.ninja are
 * not recognized (their edges keep ninja's view).
 *
 * A build driven by make needs nothing here: fresh mtimes are its whole record.
 *
 * Which nodes: every node the build left done, run or cached (a cached output
 * materialized again, a depfile among them, needs its records as much as a new
 * one); comparing with the last entries is what keeps a build that changed
 * nothing from appending anything.
 *
 * Use: driverlog_add() for each node built (in any order; a node not run in a
 * ninja directory is ignored), then driverlog_commit() once, which frees the state.
 * Errors: 0 or -errno; the first problem is described in errbuf, every other
 * directory and output is still handled.  Nothing prints.
 */
#ifndef GG_BUILD_DRIVERLOG_H
#define GG_BUILD_DRIVERLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/ir/graph.h"
#include "runtime/ir/thunk.h"

struct driverlog;

/*
 * Note node `node` (thunk `th`) of graph `g` as built: *dl is allocated on the first
 * node that ran in a ninja directory (stays NULL otherwise).  0 or -ENOMEM.
 */
int driverlog_add(struct driverlog **dl, const struct graph *g, const struct thunk *th,
		  const struct graph_node *node);

/*
 * Append the records of the noted nodes to each directory's .ninja_log and
 * .ninja_deps, delete consumed depfiles, free *dl (NULL: nothing to do, 0).
 */
int driverlog_commit(struct driverlog **dl, char *errbuf, size_t errlen);

/* Whether driverlog_add() keeps records for th: its command ran in a ninja
 * build directory of g.  The builder settles the times of the others itself. */
bool driverlog_owns(const struct graph *g, const struct thunk *th);

/* ninja's command hash (build_log.cc: MurmurHash64A, seed 0xDECAFBADDECAFBAD). */
uint64_t driverlog_ninja_hash(const char *command);

/* ninja's CanonicalizePath, in place: "." and empty components dropped, "x/.."
 * folded where x is not "..". */
void driverlog_canon(char *path);

#endif
