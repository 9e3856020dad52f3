/*
 * s3.h - the S3 client: batches of object operations on one curl-multi loop.
 *
 * One struct s3_client talks to one s3://BUCKET[/PREFIX]: its credentials, region
 * and endpoint come from aws_config.h (the environment and ~/.aws, as every AWS tool
 * finds them); every request is signed with SigV4 (sigv4.h, S3 rules).  Object names
 * in this API are relative to PREFIX ("V99aa06d3..." for a blob, see s3_proto.h).
 *
 * A struct s3_batch queues operations (HEAD, GET, PUT, DELETE, a paginated
 * listing), then runs them all on one curl-multi loop in the calling thread, with up
 * to max_conns transfers at once over kept-alive connections (no thread per
 * transfer).  The caller either runs it to the end (s3_batch_run) or drives it step
 * by step (s3_batch_step) between its own work: an engine that keeps thousands of
 * blobs moving while it schedules other things polls it the same way.  Results are
 * per item (s3_batch_result).
 *
 *   PUT   from a file (streamed with pread, never loaded whole) or from memory.
 *         Files larger than the multipart threshold (64 MiB) go up as a multipart
 *         upload (parts of 16 MiB or more, in parallel on the same loop); a multipart
 *         upload that fails or is cancelled is aborted, so nothing appears under its
 *         name.  A single PUT is atomic on S3.
 *   GET   into the local store (store.h), verified against the blob's hash while it
 *         is written: a mismatch is refused (the temporary is deleted), fetched once
 *         more, and then fails with -EBADMSG and a message naming both hashes; or
 *         into memory (capped), verified when a hash is given.
 *   HEAD  existence and size (-ENOENT when absent).
 *   LIST  every object under PREFIX (ListObjectsV2 with continuation tokens), each
 *         handed to a callback in key order; at most max_pages pages (0: all).
 *
 * Retries: 5xx, 429, S3's SlowDown/InternalError/RequestTimeout, and transport
 * errors (refused, reset or dropped connections, stalls, partial transfers) are
 * retried with exponential backoff and full jitter (s3_proto.h), bounded in attempts
 * and in time per request; a retried GET starts its temporary afresh, a retried PUT
 * re-reads its source from the start.
 *
 * Cancellation: opts.cancel points at a flag (set from a signal handler).  At 1 the
 * batch starts nothing new, lets single PUTs already in flight finish (S3 discards
 * an interrupted PUT, but stand-ins such as s3rver expose it half-written), drops
 * everything else and aborts open multipart uploads; at 2 or more it drops the PUTs
 * too.  Unfinished items end with -ECANCELED.
 *
 * Errors: 0 or -errno, plus a message (lowercase, no final period) naming the
 * operation, the object, the HTTP status and S3 error code, the bucket and the
 * access key id; never the secret, the session token or a signature.  The client
 * prints nothing and never exits.
 *
 * Ownership: the client owns its configuration and the curl multi handle (and so
 * the connection pool); a batch belongs to one client and one thread and owns its
 * items, their messages and bodies.  A client runs one batch at a time.
 */
#ifndef GG_ENGINE_S3_H
#define GG_ENGINE_S3_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/engine/s3_proto.h"
#include "runtime/ir/hash.h"

struct store;

#define S3_ERR_SIZE 1024
#define S3_DEFAULT_CONNS 64
#define S3_MAX_CONNS 1024
#define S3_MULTIPART_THRESHOLD (64ULL << 20)
#define S3_PART_SIZE (16ULL << 20)

struct s3_opts {
	const char *url;                /* s3://BUCKET[/PREFIX] */
	unsigned max_conns;             /* concurrent transfers and connections (0: 64) */
	struct s3_retry_policy retry;   /* all zero: S3_RETRY_POLICY_DEFAULT */
	uint64_t multipart_threshold;   /* 0: S3_MULTIPART_THRESHOLD */
	uint64_t part_size;             /* 0: S3_PART_SIZE (at least 5 MiB) */
	volatile sig_atomic_t *cancel;  /* NULL, or a flag: see Cancellation above */
};

struct s3_client;

/*
 * Parse the URL, load the AWS configuration (credentials required), set up the
 * endpoint and the curl multi handle.  -EINVAL (bad URL or configuration), -ENOENT
 * (no credentials: err lists the places looked at), -ENOMEM, -EIO (libcurl).
 */
int s3_client_new(const struct s3_opts *o, struct s3_client **out, char *err, size_t errlen);
void s3_client_free(struct s3_client *c);

const char *s3_client_bucket(const struct s3_client *c);
const char *s3_client_prefix(const struct s3_client *c); /* "" for none */
/* "s3://BUCKET[/PREFIX]", for messages. */
const char *s3_client_url(const struct s3_client *c);
/* The client's descriptor (http.h's loop: readable when one of its transfers'
 * sockets is, or libcurl's next timeout is due): an engine that steps batches
 * with s3_batch_step(b, 0) watches it in its own poll set.  Its retry backoffs
 * are not visible there. */
int s3_client_fd(const struct s3_client *c);

/*
 * One cheap request (a listing of at most one key under PREFIX) that checks the
 * bucket, the credentials and the clock before a large batch: 0, or the error the
 * server gave (-EACCES for 403 SignatureDoesNotMatch / InvalidAccessKeyId,
 * -ENOENT for NoSuchBucket, ...) with its message.  AccessDenied on listing alone
 * is not an error (a key may be allowed to read objects but not to list).
 */
int s3_client_check(struct s3_client *c, char *err, size_t errlen);

/* ---- batches --------------------------------------------------------------- */

/* Called for each listed object, in key order; name is relative to PREFIX.  A
 * nonzero return stops the listing (the item then fails with that value). */
typedef int s3_list_fn(void *ctx, const char *name, uint64_t size);

enum s3_op { S3_OP_HEAD, S3_OP_GET, S3_OP_PUT, S3_OP_DELETE, S3_OP_LIST };

/* The outcome of one item.  Strings and body are owned by the batch. */
struct s3_result {
	int err;          /* 0, -ENOENT (no such object), -EBADMSG (hash mismatch twice),
			   * -ECANCELED, -EACCES (403), -EIO (other HTTP errors, retries
			   * exhausted), or -errno of a local failure */
	long status;      /* the last HTTP status (0: none came) */
	const char *msg;  /* why, when err != 0 */
	uint64_t size;    /* HEAD: object size; GET: bytes stored; PUT: bytes sent */
	char *body;       /* GET into memory: the bytes (NUL-terminated), else NULL */
	size_t len;
	bool more;        /* LIST: stopped at max_pages with more keys to come */
	const char *last; /* LIST: the last name handed to the callback, or NULL */
};

struct s3_progress {
	size_t total, done, failed;       /* items */
	uint64_t bytes_total, bytes_done; /* payload bytes of PUTs and GETs (GETs' total
					   * grows as their sizes become known) */
};

struct s3_batch;

struct s3_batch *s3_batch_new(struct s3_client *c);
void s3_batch_free(struct s3_batch *b);

/*
 * Queue an operation; each returns the item's index (>= 0, in queuing order) or
 * -errno (-ENOMEM, -EINVAL for a bad name, -EBUSY once the batch has started, -errno
 * of opening or sizing a PUT's file).  Strings are copied; a put_buf's bytes too.
 * `want` (GET) is the blob's hash, the key is usually its printed form.
 */
long s3_batch_head(struct s3_batch *b, const char *name);
long s3_batch_delete(struct s3_batch *b, const char *name);
long s3_batch_put_file(struct s3_batch *b, const char *name, const char *path);
long s3_batch_put_buf(struct s3_batch *b, const char *name, const void *buf, size_t len);
long s3_batch_get_store(struct s3_batch *b, const char *name, struct store *st,
			const struct gg_hash *want);
long s3_batch_get_buf(struct s3_batch *b, const char *name, size_t max,
		      const struct gg_hash *want /* NULL: not verified */);
long s3_batch_list(struct s3_batch *b, const char *start_after /* name or NULL */,
		   unsigned max_pages, s3_list_fn *fn, void *ctx);

/* Attach and read back a caller's pointer. */
void s3_batch_set_udata(struct s3_batch *b, size_t idx, void *udata);
void *s3_batch_udata(const struct s3_batch *b, size_t idx);

/*
 * Drive the loop for at most timeout_ms (-1: until something finishes or 100 ms
 * pass): returns the number of items not yet finished (0: the batch is done), or
 * -errno when the loop itself failed.  After 0, every result is final.
 */
long s3_batch_step(struct s3_batch *b, int timeout_ms);

/* Step until done.  0 if every item succeeded, else the err of the first failed one. */
int s3_batch_run(struct s3_batch *b);

size_t s3_batch_count(const struct s3_batch *b);
const struct s3_result *s3_batch_result(const struct s3_batch *b, size_t idx);
/*
 * The index of the k-th item to finish (k from 0), or SIZE_MAX when fewer have:
 * a finished item's result is final before the batch is done, so a caller that
 * steps the batch can act on each as it comes (k counts up to s3_batch_count).
 */
size_t s3_batch_finished(const struct s3_batch *b, size_t k);
enum s3_op s3_batch_op(const struct s3_batch *b, size_t idx);
void s3_batch_progress(const struct s3_batch *b, struct s3_progress *p);

#endif /* GG_ENGINE_S3_H */
