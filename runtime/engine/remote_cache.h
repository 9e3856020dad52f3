/*
 * remote_cache.h - the shared results cache of `gg build --remote`: the ops of
 * struct cache_remote (runtime/store/cache.h) over s3_results.h.
 *
 * A lookup fetches one key's entry from s3://BUCKET/PREFIX/results/<key> and, on a
 * hit, its output blobs (verified by hash) before the entry goes into the local
 * results cache, so a hit always materializes from the local store.  A publish
 * uploads the output blobs the bucket lacks, then the entries (s3_results.h: an
 * entry in the bucket never names a missing blob).  Read-only (sccache's and
 * Bazel's mode for untrusted clients) never writes to the bucket: its ops have no
 * publish.
 *
 * Faults: the S3 client retries (s3.h); what still fails is a miss (lookups) or a
 * key left unpublished, counted in errors with the first message kept for the
 * caller to print.  Credentials never appear in a message (s3.h).
 *
 * Ownership: the remote cache owns its S3 client and a handle on the local store;
 * one thread uses it (the build's scheduling thread).  Nothing prints.
 */
#ifndef GG_ENGINE_REMOTE_CACHE_H
#define GG_ENGINE_REMOTE_CACHE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/store/cache.h"

struct remote_cache;

struct remote_cache_stats {
	size_t lookups;     /* keys asked about */
	size_t hits;        /* of them: fetched with all their blobs */
	size_t published;   /* entries uploaded */
	size_t errors;      /* transfers that failed after their retries */
	uint64_t bytes_down, bytes_up; /* blob payload moved */
};

/*
 * Connect to `url` (s3://BUCKET[/PREFIX]) for the .gg directory `ggdir` and check
 * the bucket and credentials with one request.  `cancel` (may be NULL) is the S3
 * client's cancel flag (s3.h).  0, or -errno with the reason (S3's word for it:
 * NoSuchBucket, SignatureDoesNotMatch, the places looked at for credentials) in err.
 */
int remote_cache_open(const char *url, const char *ggdir, bool read_only,
		      volatile sig_atomic_t *cancel, struct remote_cache **out, char *err,
		      size_t errlen);
void remote_cache_free(struct remote_cache *rc);

/* The ops for build_opts.remote; valid as long as rc. */
const struct cache_remote *remote_cache_ops(struct remote_cache *rc);

void remote_cache_get_stats(const struct remote_cache *rc, struct remote_cache_stats *out);

/* The first failure's message ("" when none). */
const char *remote_cache_error(const struct remote_cache *rc);

/* "s3://BUCKET[/PREFIX]" */
const char *remote_cache_url(const struct remote_cache *rc);

#endif /* GG_ENGINE_REMOTE_CACHE_H */
