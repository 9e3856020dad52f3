/*
 * s3_proto.h - the pure parts of the S3 protocol, as the S3 client (s3.h) uses them:
 * object keys of blobs, request targets (URL, Host, wire path), the XML S3 answers
 * with (errors, ListObjectsV2 pages, multipart uploads), and the retry policy.
 *
 * Nothing here touches the network, a clock, the environment or global state, so
 * every function is unit-tested on its own (tests/unit/test_s3.c).  libcurl is not
 * used here: transport failures come in as an enum (s3_net).
 *
 * Keys.  A blob lives at PREFIX/<printed hash> (hash.h: the kind letter and 32 hex
 * digits, e.g. "ggcache/V99aa06d3014798d86001c324468d497f"); PREFIX may be empty
 * (then the key is the printed hash alone).  Other objects of a remote (results
 * entries, graphs) live under PREFIX/<name> with names that never parse as hashes.
 *
 * Targets.  aws_config.h decides path-style or virtual-hosted addressing; keys are
 * percent-encoded once (sigv4_uri_encode with '/' kept), which is also how SigV4
 * signs them for S3.
 *
 * XML.  S3's answers are small, flat and machine-written; a tolerant scanner for
 * the few elements needed (no DTDs, no namespaces to resolve) is enough.  Entities
 * &amp; &lt; &gt; &quot; &apos; and &#N; / &#xN; are decoded.
 *
 * Errors: 0 or -errno (-EINVAL for malformed input, -ENOMEM, -ENAMETOOLONG);
 * nothing prints.
 */
#ifndef GG_ENGINE_S3_PROTO_H
#define GG_ENGINE_S3_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/ir/hash.h"
#include "runtime/lib/util.h"

/* Longest key S3 accepts (bytes). */
#define S3_KEY_MAX 1024

/* ---- keys and targets ------------------------------------------------------ */

/* The key of blob `h` under `prefix` ("" or NULL: none; one trailing '/' ignored). */
int s3_blob_key(const char *prefix, const struct gg_hash *h, char *buf, size_t size);

/*
 * The blob a listed key names: 0 and *out if `key` is PREFIX/<printed VALUE or
 * THUNK hash>, -EINVAL otherwise (another object under the prefix).
 */
int s3_key_blob(const char *prefix, const char *key, struct gg_hash *out);

/*
 * Where a request goes, given the bucket's endpoint (aws_config.h, aws_s3_endpoint:
 * url_base "scheme://host[:port]", path_base "" or "[/PATH]/BUCKET").  key NULL or
 * "": the bucket itself (path_base, or "/" when that is empty).  query: NULL or already encoded "a=b&c".
 * Fills url (the full URL for libcurl) and path (the wire path, what SigV4 signs:
 * path_base + "/" + the key percent-encoded once, '/' kept).  Both sbufs are reset
 * first; the caller owns and releases them.
 */
int s3_target(const char *url_base, const char *path_base, const char *key, const char *query,
	      struct sbuf *url, struct sbuf *path);

/* ---- XML answers ----------------------------------------------------------- */

/*
 * The Code and Message of an S3 <Error> document into code/msg (truncated to fit,
 * NUL-terminated; "" when absent).  -EINVAL when the body holds no <Error> element.
 */
int s3_xml_error(const char *body, size_t len, char *code, size_t codelen, char *msg,
		 size_t msglen);

/* One page of ListObjectsV2.  Owner: the caller; s3_list_page_release() frees. */
struct s3_list_entry {
	char *key;
	uint64_t size;
};

struct s3_list_page {
	struct s3_list_entry *v;
	size_t n;
	bool truncated;   /* <IsTruncated>true</IsTruncated> */
	char *next_token; /* <NextContinuationToken>, or NULL */
};

#define S3_LIST_PAGE_INIT { .v = NULL, .n = 0, .truncated = false, .next_token = NULL }

/* Parse a <ListBucketResult>; -EINVAL if the body is not one. */
int s3_parse_list(const char *body, size_t len, struct s3_list_page *out);
void s3_list_page_release(struct s3_list_page *p);

/* The <UploadId> of an <InitiateMultipartUploadResult> (malloc'd into *out). */
int s3_parse_upload_id(const char *body, size_t len, char **out);

/*
 * The body of CompleteMultipartUpload for parts 1..n with the given ETags (as the
 * server returned them, quotes included), into out (reset first).
 */
int s3_complete_body(struct sbuf *out, char *const *etags, size_t n);

/*
 * The value of the ETag header in a raw header line ("ETag: \"abc\"\r\n"): copied
 * into buf (trimmed).  false if the line is not an ETag header.
 */
bool s3_header_etag(const char *line, size_t len, char *buf, size_t size);

/* ---- retries ------------------------------------------------------------- */

/* How the transport ended (the client maps libcurl's codes onto these). */
enum s3_net {
	S3_NET_OK = 0,    /* an HTTP answer came */
	S3_NET_TRANSIENT, /* connection refused/reset/dropped, timeout, partial transfer */
	S3_NET_FATAL,     /* bad URL, TLS verification, out of memory, a local file error */
};

/*
 * Whether an attempt that ended so is worth repeating: transient transport errors,
 * HTTP 500, 502, 503, 504, 429, and the S3 codes SlowDown, InternalError,
 * RequestTimeout, ServiceUnavailable, RequestTimeTooSkewed (whatever the status).
 * Anything else (403, 404, 400 ...) is final.  code may be NULL or "".
 */
bool s3_retryable(enum s3_net net, long status, const char *code);

struct s3_retry_policy {
	unsigned max_attempts; /* attempts per request, the first included */
	uint64_t base_ms;      /* the first backoff's ceiling */
	uint64_t cap_ms;       /* no backoff ceiling above this */
	uint64_t budget_ms;    /* no new attempt starts later than this after the first */
};

#define S3_RETRY_POLICY_DEFAULT                                                           \
	{ .max_attempts = 10, .base_ms = 100, .cap_ms = 10000, .budget_ms = 120000 }

/*
 * Exponential backoff with full jitter (the AWS Architecture Blog's "Exponential
 * Backoff And Jitter"): a delay uniform in [0, min(cap, base * 2^(attempt-1))]
 * after the attempt-th failure (attempt >= 1), drawn from `rnd` (any 64 random bits).
 */
uint64_t s3_backoff_ms(const struct s3_retry_policy *p, unsigned attempt, uint64_t rnd);

/*
 * Whether another attempt may start: attempts made so far < max_attempts and the
 * next one would start (elapsed + delay) within the budget.
 */
bool s3_retry_allowed(const struct s3_retry_policy *p, unsigned attempts, uint64_t elapsed_ms,
		      uint64_t delay_ms);

#endif /* GG_ENGINE_S3_PROTO_H */
