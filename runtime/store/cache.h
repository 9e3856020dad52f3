/*
 * cache.h - the results cache: cache key (thunk_cache_key) -> what the thunk produced.
 *
 * A hit means "this command, on inputs with exactly these contents, produced these
 * files": the scheduler materializes them from the store without running anything.
 * Entries are written by `gg infer` (the recorded build's results) and by every
 * execution.  Several gg processes may share one cache: an entry is written to a
 * temporary file and renamed into place, so a reader sees a whole entry or none.
 *
 * File: <ggdir>/cache/ab/cdef...  (the key's 32 hex digits, split 2 + 30), holding
 * one msgpack array:
 *
 *   [ "ggcache", CACHE_VERSION, [ [path (str), value (bin 17: 'V' + digest),
 *                                  mode (uint)] ... ] ]
 *
 * outputs in the thunk's (sorted) output order.  A file that does not parse is a miss.
 * The value may be nil instead (then struct cache_output's value is unset): an output
 * the recorded build made and removed again, read by no other command (gg infer; the
 * depfile ninja deletes): there is nothing to put in the tree for it.
 *
 * Ownership: struct cache_entry owns its outputs.  Errors: 0 or -errno; nothing
 * prints.
 */
#ifndef GG_CACHE_H
#define GG_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/ir/hash.h"

#define CACHE_VERSION 1

struct cache_output {
	char *path;
	struct gg_hash value;
	uint32_t mode;
};

struct cache_entry {
	struct cache_output *v;
	size_t n;
};

void cache_entry_release(struct cache_entry *e);

/* Look up `key` (a THUNK-kind cache key): 0 and *e filled, -ENOENT on a miss. */
int cache_get(const char *ggdir, const struct gg_hash *key, struct cache_entry *e);

/* Is there an entry for `key` (not read, not checked)? */
bool cache_has(const char *ggdir, const struct gg_hash *key);

/* Record `e` under `key` (replacing any previous entry).  0 or -errno. */
int cache_put(const char *ggdir, const struct gg_hash *key, const struct cache_entry *e);

/*
 * A shared results cache in front of this one (implemented by
 * runtime/engine/remote_cache.h, consulted by the builder's scheduling thread only).  A cacheable node whose key misses the local results cache is looked
 * up with fetch, once, in one batch with the other READY nodes of that moment (hit:
 * the entry and its blobs are now local, and the node counts as cached, and in
 * remote_hits too); the keys of the nodes that ran are handed to
 * publish once, at the end of the build.  Failures of either are never a build
 * failure: a lookup that fails is a miss, a publish that fails is the caller's to
 * report (it holds the messages).
 */
struct cache_remote {
	/* Make the local results cache hold the remote entries of the n keys (with
	 * their blobs) where the remote has them; hit[i] tells.  0 or -errno. */
	int (*fetch)(void *ctx, const struct gg_hash *keys, size_t n, bool *hit);
	/* Upload the local entries of the n keys with their blobs; NULL: read-only. */
	int (*publish)(void *ctx, const struct gg_hash *keys, size_t n);
	void *ctx;
};

#endif
