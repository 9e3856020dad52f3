/*
 * cache.h - the results cache: cache key (thunk_cache_key) -> what the thunk produced.
 *
 * A hit means "this command, on inputs with exactly these contents, produced these
 * files": the scheduler materializes them from the store without running anything.
 * Entries are written by `gg infer` (the recorded build's results) and by every
 * execution.
 *
 * File: <ggdir>/cache/results.log (removing <ggdir>/cache empties the cache), one
 * append-only log (ninja's .ninja_log / deps_log are the
 * model), little endian:
 *
 *   header  "GGRESLOG" (8 bytes), u32 CACHE_LOG_VERSION, u32 0
 *   record  u32 n (payload bytes, 17 < n <= CACHE_MAX_RECORD),
 *           u32 check (the first 4 bytes of the payload's XXH3-128, hash_buf VALUE),
 *           payload: key (1 kind byte + 16 digest bytes), then one entry (below)
 *
 * Entry (also the S3 wire format, runtime/engine/s3_results.h): one msgpack array
 *
 *   [ "ggcache", CACHE_VERSION, [ [path (str), value (bin 17: 'V' + digest),
 *                                  mode (uint)] ... ] ]
 *
 * outputs in the thunk's (sorted) output order.  The value may be nil instead (then
 * struct cache_output's value is unset): an output the recorded build made and removed
 * again, read by no other command (gg infer; the depfile ninja deletes): there is
 * nothing to put in the tree for it.  An entry that does not parse is a miss.
 *
 * Last record wins: a key written again replaces its earlier entry.  Reading: the log
 * is read once per process into an in-memory index (key -> record); a miss looks
 * again at the file (one stat) and reads what other processes appended since.
 * Torn tail: parsing stops at the first record whose length runs past the end of the
 * file, exceeds the limit or whose check does not match; the reader then takes the
 * lock (below) so that an append in progress completes, reads again, and truncates
 * the file to the last good record if it is still bad (a crash mid-append, or
 * corruption: everything after the first bad record is dropped).  A header with
 * another magic or version makes the log empty: it is reset when loaded writable.
 * Concurrency: several gg processes may share one log.  Appends, truncation and
 * compaction hold flock(LOCK_EX) on the log; each record goes out with one write(2)
 * to an O_APPEND descriptor; readers take no lock and tolerate a growing file.
 * Compaction: when a process first loads a log of more than CACHE_COMPACT_MIN records
 * of which more than half are superseded, it writes the live records to
 * results.log.<pid>.tmp and renames it over the log, under the lock; an appender checks
 * after taking the lock that its descriptor is still the file named results.log
 * (inode), and reopens if not; a reader that misses does the same check.
 * Old per-file entries (<ggdir>/cache/ab/..., before the log) are ignored: misses.
 *
 * Ownership: struct cache_entry owns its outputs.  The loaded logs are process-wide
 * state behind a mutex (any thread may call in); cache_reset() drops them.
 * Errors: 0 or -errno; nothing prints.
 */
#ifndef GG_CACHE_H
#define GG_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/ir/hash.h"

#define CACHE_VERSION 1
#define CACHE_LOG_VERSION 1
#define CACHE_MAX_RECORD (16u << 20)
#define CACHE_COMPACT_MIN 1024

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

/* The entry format above: encode into a malloc'd buffer (*buf, *len), or decode
 * (0, or -EBADMSG for anything malformed, -ENOMEM). */
int cache_entry_encode(const struct cache_entry *e, char **buf, size_t *len);
int cache_entry_decode(const void *buf, size_t len, struct cache_entry *e);

/* fn(ctx, key, entry) for every live entry of ggdir's log (entries that do not
 * parse are passed over); a nonzero return from fn stops and is returned.  fn runs
 * under the module's lock: it must not call back into cache_*. */
typedef int cache_each_fn(void *ctx, const struct gg_hash *key, const struct cache_entry *e);
int cache_foreach(const char *ggdir, cache_each_fn *fn, void *ctx);

/* Drop every log this process has loaded (tests; after a fork). */
void cache_reset(void);

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
