/*
 * s3_store.h - the local blob store (store.h) mirrored in a bucket: push the blobs
 * a bucket lacks, pull the blobs the store lacks.
 *
 * Blobs live at s3://BUCKET/PREFIX/<printed hash> (s3_proto.h); the bytes are the
 * store's bytes, so an object is valid exactly when its contents hash to its name.
 *
 * Push: which blobs the bucket lacks is learnt from HEAD requests, or, for batches
 * of S3STORE_LIST_MIN blobs or more, from a listing of PREFIX (one request per 1000
 * keys instead of one per blob).  A listing stops after about one page per 100 blobs
 * pushed (a bucket far larger than the batch); blobs past its last key are then
 * looked up with HEAD.  An object whose size differs from the blob's (a write that
 * a stand-in server left half done) counts as missing and is uploaded again.
 *
 * Pull: every blob asked for that the store lacks is downloaded into the store and
 * verified (s3.h: a mismatch is refused, fetched once more, then an error).
 *
 * The caller's `fail` callback (may be NULL) hears about every blob that could not
 * be moved, with the S3 client's message; `progress` (may be NULL) is called after
 * every step of the loop (about every 100 ms and after each completion).
 *
 * The same calls serve the results cache of a build later: a build that wants
 * outputs from the bucket pulls their hashes, one that produced outputs pushes
 * them; small named objects (results entries) go through s3_batch_put_buf /
 * s3_batch_get_buf directly.
 *
 * Errors: 0 when every blob was moved or already there; -errno of the first
 * failure otherwise (the counts say how many), -ECANCELED after a cancel.  Nothing
 * prints.
 */
#ifndef GG_ENGINE_S3_STORE_H
#define GG_ENGINE_S3_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/engine/s3.h"
#include "runtime/ir/hash.h"

struct store;

#define S3STORE_LIST_MIN 64

struct s3store_stats {
	size_t total;       /* blobs asked about */
	size_t present;     /* already at the destination */
	size_t moved;       /* uploaded or downloaded */
	size_t missing;     /* pull: not in the bucket */
	size_t failed;      /* errors, missing ones included */
	size_t cancelled;   /* not moved because of a cancel */
	uint64_t bytes;     /* payload moved */
	bool listed;        /* push: presence came from a listing */
};

typedef void s3store_fail_fn(void *ctx, const struct gg_hash *h, int err, const char *msg);
typedef void s3store_progress_fn(void *ctx, const char *phase, const struct s3_progress *p);

struct s3store_cb {
	s3store_fail_fn *fail;
	s3store_progress_fn *progress;
	void *ctx;
};

/* Upload those of the n blobs (all in `st`) that the bucket lacks. */
int s3store_push(struct s3_client *c, struct store *st, const struct gg_hash *hs, size_t n,
		 const struct s3store_cb *cb, struct s3store_stats *out);

/* Download those of the n blobs that `st` lacks. */
int s3store_pull(struct s3_client *c, struct store *st, const struct gg_hash *hs, size_t n,
		 const struct s3store_cb *cb, struct s3store_stats *out);

/*
 * Every blob in the bucket (a full listing), as a malloc'd array in *out (*n
 * entries; the caller frees).  Keys under PREFIX that are not blob names are
 * skipped.  0 or -errno with the message in err.
 */
int s3store_list(struct s3_client *c, struct gg_hash **out, size_t *n, char *err, size_t errlen);

#endif /* GG_ENGINE_S3_STORE_H */
