/*
 * materialize.h - put a stored value at a path of the tree, atomically.
 *
 * The file appears whole or not at all: the blob is copied (cloned, FICLONE, on a
 * copy-on-write file system) to a temporary file,
 * given its mode, and renamed over the path (a symbolic link, mode S_IFLNK, is made
 * from the blob's bytes as its target).  The temporary is
 * <ggdir>/tmp/mat-<pid>-<n>.tmp when that directory is on the path's file system, so
 * that a killed gg leaves nothing in the tree, else "<path>.gg-<pid>.tmp" (see
 * materialize_sweep).  The bytes are checked against `value` as they are copied: a
 * blob damaged in the store gives -EBADMSG and never reaches the tree.  A path that
 * already holds the value (by the stat cache) is left alone, so its timestamp does
 * not move (an output its command left unchanged keeps its time, as ninja's
 * `restat` expects).  A path the stat cache last saw holding the same value (the
 * recorded build's output, deleted since) gets back the mtime it had then: the
 * driver's own records (ninja's .ninja_log and .ninja_deps store each output's
 * mtime, and call an output newer than its record out of date) stay true, and
 * gg only adds to them what ninja would have written (build/driverlog.h).  Any
 * other file gets the current time, which is after
 * every input it was made from, so make(1) and ninja see it up to date (caveat: an
 * output deleted, then remade with the same bytes after an input changed, gets its
 * old time back, older than that input: the driver runs its command once more).
 * Missing parent directories are created.
 *
 * Errors: 0 or -errno (-ENOENT: the blob is not in the store, -EBADMSG: it is
 * corrupt); nothing prints.
 */
#ifndef GG_MATERIALIZE_H
#define GG_MATERIALIZE_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/ir/hash.h"
#include "runtime/store/statcache.h"
#include "runtime/store/store.h"

/* *changed (may be NULL) tells whether the path was written. */
int materialize(struct store *st, struct statcache *sc, const char *path,
		const struct gg_hash *value, uint32_t mode, bool *changed);

/*
 * Remove the temporaries materialize() left in directory `dir` when its process died
 * between creating and renaming them ("NAME.gg-<pid>.tmp" whose pid is no longer
 * alive, or is the caller's: call this before materializing into dir).  Temporaries
 * of live processes are left alone.  *removed (may be NULL) gets the count.  Returns 0
 * (also when dir does not exist) or -errno.
 */
int materialize_sweep(const char *dir, unsigned *removed);

#endif
