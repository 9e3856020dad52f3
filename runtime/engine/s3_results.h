/*
 * s3_results.h - the results cache (cache.h) shared through a bucket: what one
 * machine ran, another materializes without running it.
 *
 * Layout under s3://BUCKET/PREFIX/:
 *
 *     <printed hash>              a blob (s3_store.h)
 *     results/<printed key>       a results-cache entry: the bytes of the local entry
 *                                 (cache.h's entry format, cache_entry_encode: the msgpack
 *                                 array ["ggcache", CACHE_VERSION, outputs]), key
 *                                 printed as 'T' + 32 hex digits
 *
 * Publishing uploads an entry's output blobs first (those the bucket lacks) and the
 * entry only once every one of them is there, so an entry in the bucket never names
 * a blob the bucket does not have (short of someone deleting blobs).  Fetching
 * downloads the entries asked for (404: a miss), checks that each parses as an
 * entry, pulls its output blobs into the store (verified), and only then installs
 * the entry in the local results cache; an entry whose blobs cannot all be fetched
 * is a miss.  A client that should not write (sccache's and Bazel's read-only
 * mode) simply never publishes.
 *
 * Hook for the scheduler (build.c): before running a batch of ready thunks, fetch
 * their cache keys (hits then materialize like local hits); after thunks ran,
 * publish their keys.  Both calls are batched: one curl-multi loop per call.
 *
 * Errors: 0 or -errno, messages through the s3store_cb (fail); nothing prints.
 */
#ifndef GG_ENGINE_S3_RESULTS_H
#define GG_ENGINE_S3_RESULTS_H

#include <stdbool.h>
#include <stddef.h>

#include "runtime/engine/s3_store.h"

struct store;

#define S3RESULTS_DIR "results"
#define S3RESULTS_ENTRY_MAX (16u << 20) /* an entry larger than this is refused */

struct s3results_stats {
	size_t asked, hits, published; /* keys asked about; fetched; uploaded */
	struct s3store_stats blobs;    /* the blob transfers behind them */
};

/*
 * Fetch the entries of the n keys (THUNK-kind cache keys) that the local results
 * cache lacks; hit[i] (may be NULL) tells whether key i is now in the local cache
 * (it was already, or was fetched with all its blobs).  0 unless the transfers
 * themselves failed (misses are not errors).
 */
int s3results_fetch(struct s3_client *c, const char *ggdir, struct store *st,
		    const struct gg_hash *keys, size_t n, bool *hit, const struct s3store_cb *cb,
		    struct s3results_stats *out);

/*
 * Publish the local entries of the n keys (keys without a local entry are
 * skipped): their output blobs, then the entries.  0 or the first error.
 */
int s3results_publish(struct s3_client *c, const char *ggdir, struct store *st,
		      const struct gg_hash *keys, size_t n, const struct s3store_cb *cb,
		      struct s3results_stats *out);

#endif /* GG_ENGINE_S3_RESULTS_H */
