/*
 * audit_dpkg.h - which Debian package owns a file, and at which version, for the
 * bill of materials of `gg audit system`.
 *
 * Lookups run `dpkg -S PATH...` (many paths per run: dpkg reads its whole file
 * database on every run, so one run of N paths costs about what one run of one path
 * costs) and `dpkg-query -W` for the versions.  dpkg knows files by the path their
 * package ships them at, which on a merged-/usr system is often not the path a
 * build used (/usr/lib/x86_64-linux-gnu/libc.so.6 is shipped as
 * /lib/x86_64-linux-gnu/libc.so.6): a path dpkg does not know is tried again as its
 * realpath, and with /usr removed or added in front (dpkg_alternates).  Arguments
 * with the glob characters * [ ? \ are escaped with a backslash, since dpkg -S
 * treats them as patterns.
 *
 * Cache: results are kept in a file (<.gg>/dpkg-cache) keyed by the size and mtime
 * of dpkg's status file (/var/lib/dpkg/status), so that they are dropped whenever
 * a package is installed or removed.  Layout: a text line
 *
 *     ggdpkg 1 <status mtime ns> <status size>\n
 *
 * then records, each a type byte and two NUL-terminated strings:
 *
 *     'P' path owner      owner: "pkg[:arch][, pkg2...]" as dpkg prints it, or ""
 *                         when no package owns the path
 *     'V' package version
 *
 * A file that does not parse, or whose key does not match, is ignored whole.  It
 * is written whole with rename(2).
 *
 * Ownership: struct dpkg_db owns everything; returned strings live until
 * dpkg_free.  Errors: 0 or -errno with a message; nothing prints.
 */
#ifndef GG_AUDIT_DPKG_H
#define GG_AUDIT_DPKG_H

#include <stdbool.h>
#include <stddef.h>

#include "runtime/lib/util.h"

#define DPKG_STATUS_FILE "/var/lib/dpkg/status"
#define DPKG_CACHE_NAME "dpkg-cache"

struct dpkg_db;

struct dpkg_stats {
	size_t paths;        /* paths asked for */
	size_t cached;       /* answered from the cache */
	size_t dpkg_runs;    /* dpkg -S and dpkg-query runs */
	bool cache_loaded;   /* the cache file was valid */
};

/*
 * Open a lookup table, loading `cache_file` (may be NULL: no cache; a missing,
 * stale or unreadable file starts empty).  `status_file` is dpkg's status file
 * (NULL: DPKG_STATUS_FILE), whose size and mtime key the cache.  NULL on ENOMEM.
 */
struct dpkg_db *dpkg_open(const char *cache_file, const char *status_file);
void dpkg_free(struct dpkg_db *db);

/* Is dpkg there (an executable /usr/bin/dpkg)? */
bool dpkg_available(void);

/*
 * Find the owners of paths[0..n) (absolute) and the versions of those owners,
 * running dpkg only for what the cache does not know.  0, or -errno with err set
 * (-ENOENT when dpkg is not installed).
 */
int dpkg_resolve(struct dpkg_db *db, const char *const *paths, size_t n, char *err,
		 size_t errlen);

/* The owner of a resolved path: "pkg[:arch][, ...]", "" for none, NULL if unknown. */
const char *dpkg_owner(const struct dpkg_db *db, const char *path);
/* The version of a package as dpkg_owner names it ("libc6-dev:amd64"), or NULL. */
const char *dpkg_version(const struct dpkg_db *db, const char *pkg);

/* Write the cache back if anything was added.  0 or -errno. */
int dpkg_save(struct dpkg_db *db);

const struct dpkg_stats *dpkg_stats(const struct dpkg_db *db);

/* ---- parsing, exposed for tests ------------------------------------------------------- */

/*
 * Each "pkg[, pkg]: /path" line of `dpkg -S` output: fn(ctx, owner, path).
 * Diversion lines ("diversion by X from: /p") are skipped.  0 or fn's -errno.
 */
typedef int dpkg_found_fn(void *ctx, const char *owner, const char *path);
int dpkg_parse_search(const char *text, size_t len, dpkg_found_fn *fn, void *ctx);

/* The other names dpkg may know a path by, in the order they are tried: realpath,
 * then without /usr (or with it), for the path and for its realpath.  0 or -ENOMEM. */
int dpkg_alternates(const char *path, struct strlist *out);

/* "pkg:arch" -> "pkg" into buf (cap bytes); returns buf. */
char *dpkg_package_name(const char *owner, char *buf, size_t cap);

#endif
