/*
 * statcache.h - content hashes of files, remembered by their stat data, so that an
 * unchanged tree costs no file reads (like git's index or ninja's deps log).
 *
 * An entry maps a path to (dev, ino, size, mtime, ctime, mode) and the VALUE hash of
 * the contents seen with exactly that stat data.  A lookup whose lstat(2) matches
 * returns the hash without reading the file.  "Racy" entries (mtime not older than
 * the moment the hash was taken, the same rule as git's racy-git check) are
 * re-hashed, since a write within the clock's granularity could hide behind them
 * (file times come from a coarse clock: an mtime within 50 ms of the hash counts).
 *
 * A path is looked at once per statcache_open: later lookups return the same answer
 * without a system call (a run works on a snapshot of the tree; statcache_forget
 * makes the next lookup look again).
 *
 * Symbolic links hash as the VALUE hash of their target string; directories and
 * other non-regular files are not hashed (-EISDIR / -EINVAL).
 *
 * File: <ggdir>/statcache, one append-only log (ninja's .ninja_log / deps log and
 * the results cache, cache.h, are the model), little endian:
 *
 *   header  magic "GGSTATC\n" (8 bytes), u32 version (STATCACHE_VERSION), u32 0
 *   batch   u32 n (payload bytes, 12 <= n <= STATCACHE_MAX_BATCH),
 *           u64 check (the first 8 digest bytes of the payload's hash_buf VALUE),
 *           payload: i64 saved_ns (CLOCK_REALTIME when the batch was written),
 *                    u32 count, then exactly `count` entries
 *   entry   u32 path length (1 .. PATH_MAX-1, no NUL byte), path bytes, u64 dev,
 *           u64 ino, u64 size, i64 mtime_ns, i64 ctime_ns, u32 mode, 17-byte hash
 *           (gg_hash kind + digest), i64 hashed_ns (CLOCK_REALTIME when it was hashed)
 *
 * Last record wins: a path written again replaces its earlier entry.  A forgotten
 * path is written like any other, with size UINT64_MAX (it never matches a file),
 * so that it supersedes the records before it: statcache_forget cannot be undone
 * by an older record.
 * Appending: statcache_save writes one batch of the entries that changed since
 * statcache_open (or the last save: made by statcache_hash or statcache_forget),
 * with one write(2) to an O_APPEND descriptor, holding flock(LOCK_EX) on the log
 * (a save of more than STATCACHE_MAX_BATCH bytes is split, one write per batch).
 * A batch is whole or ignored: two processes saving at once add one batch each,
 * and each keeps what it did not touch of the other's.
 * Torn tail: reading stops at the first batch whose length runs past the end of
 * the file or over the limit, whose check does not match or whose entries do not
 * parse; the batches before it are loaded and statcache_open says so
 * (STATCACHE_TORN).  Opening never writes: the next save, under the lock, reads
 * the bytes it has not seen (other processes' batches), truncates the file at the
 * first bad batch, then appends.
 * Compaction: when a save leaves more than STATCACHE_COMPACT_MIN superseded records
 * and more superseded than live ones, it reads the log again and writes its live
 * entries (batches with saved_ns now) to statcache.<pid>.tmp, then renames that over
 * the log, still holding the lock on the old file; a saver that then gets the lock
 * sees that its descriptor is no longer the file named statcache (inode) and opens
 * it again.  (Counts are exact at open; records other processes appended since
 * count as live unless they name a path the file had.  A compaction that fails
 * leaves the longer log, valid, for a later save to compact.)
 * saved_ns: kept per batch (statcache_open keeps the newest); the racy rule uses
 * each entry's own hashed_ns, which records carry unchanged, so re-writing an entry
 * later (another batch, compaction) never makes a racy entry look settled.
 * Version 1 (the file written whole: magic, u32 1, u32 count, i64 saved_ns, the
 * same entries) is still read, all or nothing, and converted: the first save
 * replaces it with a version-2 log of every entry (temporary + rename).  Any other
 * header, or a file too short for one, is ignored whole (STATCACHE_IGNORED) and
 * replaced at the first save.
 *
 * Ownership: struct statcache owns its table and path copies.  Not thread-safe.
 */
#ifndef GG_STATCACHE_H
#define GG_STATCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "runtime/ir/hash.h"
#include "runtime/store/store.h"

#define STATCACHE_VERSION 2u
#define STATCACHE_MAX_BATCH (4u << 20)  /* payload bytes of one batch */
#define STATCACHE_COMPACT_MIN 4096      /* superseded records tolerated */

/* statcache_open's non-error returns besides 0 */
#define STATCACHE_IGNORED 1 /* the file was not a stat cache: starts empty */
#define STATCACHE_TORN 2    /* a bad tail was left out: the batches before it loaded */

/* statcache_hash flags */
#define STATCACHE_STORE 0x1 /* also make sure the contents are in the store */

struct statcache;

struct statcache_stats {
	uint64_t hits, misses, bytes_hashed;
};

/* Load <ggdir>/statcache (missing: empty).  0, STATCACHE_IGNORED, STATCACHE_TORN,
 * or -errno (-ENOMEM; a file that cannot be read is ignored). */
int statcache_open(struct statcache **out, const char *ggdir);
/* Append what changed since open or the last save (nothing changed: no system
 * call), compacting when due.  0 or -errno (then it stays to be saved). */
int statcache_save(struct statcache *sc);
void statcache_free(struct statcache *sc);

/*
 * The VALUE hash and st_mode of `path` (absolute).  With STATCACHE_STORE the
 * contents are put in `st` when not already there (st may be NULL otherwise).
 * Returns 0, -ENOENT (and other lstat errors), -EISDIR for a directory, -EINVAL for
 * other non-regular files, or a store/read error.
 */
int statcache_hash(struct statcache *sc, struct store *st, const char *path, unsigned flags,
		   struct gg_hash *out, uint32_t *mode);

/*
 * lstat data `sb` of path, taken by the caller with nothing written to the path
 * since: when it matches what the cache holds (as statcache_hash would find), the
 * path counts as validated this run (statcache_hash answers it without looking
 * again) and true; else false and nothing changes.
 */
bool statcache_validate(struct statcache *sc, const char *path, const struct stat *sb);

/* Forget a path (after writing it, say). */
void statcache_forget(struct statcache *sc, const char *path);

/*
 * The mtime (ns since the epoch) `path` had when the cache last hashed it holding
 * `value`, without looking at the file (it may be gone since, or forgotten): true
 * and *mtime_ns set, or false when the cache's last word on the path is another
 * value or nothing.
 */
bool statcache_last_mtime(const struct statcache *sc, const char *path,
			  const struct gg_hash *value, int64_t *mtime_ns);

/*
 * What this run saw of `path` without looking again: true and *mode, *mtime_ns (ns
 * since the epoch) when statcache_hash validated the path since statcache_open and
 * nothing forgot it since (the run's snapshot of the file, as statcache_hash answers
 * it); false otherwise.  The stat data is lstat's.
 */
bool statcache_seen(const struct statcache *sc, const char *path, uint32_t *mode,
		    int64_t *mtime_ns);

const struct statcache_stats *statcache_stats(const struct statcache *sc);

/* Paths the cache holds an entry for (forgotten ones included). */
size_t statcache_count(const struct statcache *sc);

#endif
