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
 * File: <ggdir>/statcache, written whole with rename(2) (never torn):
 *
 *     offset 0   magic "GGSTATC\n" (8 bytes)
 *     offset 8   u32 version (STATCACHE_VERSION)
 *     offset 12  u32 entry count
 *     offset 16  i64 saved_ns: CLOCK_REALTIME when written
 *     offset 24  entries: u32 path length, path bytes, u64 dev, u64 ino, u64 size,
 *                i64 mtime_ns, i64 ctime_ns, u32 mode, 17-byte hash (gg_hash kind +
 *                digest), i64 hashed_ns (CLOCK_REALTIME when it was hashed)
 * all little endian.  A file that does not parse is ignored whole (the cache is only
 * a cache): statcache_open then starts empty and says so in its return value (1).
 *
 * Ownership: struct statcache owns its table and path copies.  Not thread-safe.
 */
#ifndef GG_STATCACHE_H
#define GG_STATCACHE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "runtime/ir/hash.h"
#include "runtime/store/store.h"

#define STATCACHE_VERSION 1u

/* statcache_hash flags */
#define STATCACHE_STORE 0x1 /* also make sure the contents are in the store */

struct statcache;

struct statcache_stats {
	uint64_t hits, misses, bytes_hashed;
};

/* Load <ggdir>/statcache (missing: empty).  0, 1 (unreadable file ignored), -errno. */
int statcache_open(struct statcache **out, const char *ggdir);
/* Write it back if anything changed.  0 or -errno. */
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

#endif
