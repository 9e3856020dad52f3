/*
 * sigv4.h - AWS Signature Version 4, header form, over libcrypto.
 *
 * A pure signer: the time and the credentials are arguments, nothing here reads a
 * clock, the environment or the network, keeps global state, prints or exits.  It
 * computes, exactly as the AWS documentation and the awslabs signing test suite
 * (../shared/data/sigv4/) define them:
 *
 *   canonical request   METHOD \n URI \n QUERY \n HEADERS \n \n SIGNED-HEADERS \n PAYLOAD-HASH
 *   string to sign      AWS4-HMAC-SHA256 \n AMZ-DATE \n SCOPE \n hex(sha256(canonical))
 *   signature           hex(HMAC(kSigning, string to sign)), with
 *                       kSigning = HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request")
 *   Authorization       AWS4-HMAC-SHA256 Credential=KEYID/SCOPE, SignedHeaders=..., Signature=...
 *
 * Inputs (struct sigv4_request):
 *   - path: the URI path as it goes on the request line (already percent-encoded by
 *     the caller; sigv4_uri_encode() builds it from a raw S3 key).  How it becomes
 *     the canonical URI depends on the rules (flags):
 *       S3 (SIGV4_RULES_S3): no normalization, single URI encoding: escapes
 *         already in the path ("%xx") are kept (hex upper-cased), every other byte
 *         outside the RFC 3986 unreserved set and '/' is encoded, so an encoded
 *         wire path signs as itself and a raw path (no '%') as its encoding;
 *       other services (SIGV4_RULES_DEFAULT): "." / ".." segments and duplicate
 *         slashes removed (SIGV4_NORMALIZE_PATH), then the given path encoded
 *         once more (SIGV4_DOUBLE_ENCODE: the wire path is the first encoding).
 *     An empty path is "/".
 *   - query: NULL/"" or "name=value&name2&..." (with or without percent-encoding):
 *     each name and value is decoded, encoded with the unreserved set, and the
 *     pairs are sorted by name then value.  The caller sends the same query on the
 *     wire (encode it with sigv4_uri_encode() to be safe).
 *   - headers: every header the request sends that is to be signed, Host included
 *     (required; with libcurl it is "HOST[:PORT]" exactly as in the URL).  Names
 *     are lowercased, values trimmed with inner runs of white space (line folds
 *     included) collapsed to one space, sorted by name; repeated names are joined
 *     with ',' in the given order.  The caller must not pass the headers the signer
 *     adds (Authorization, X-Amz-Date, x-amz-content-sha256, x-amz-security-token):
 *     -EINVAL.
 *   - payload_hash: lower-case hex SHA-256 of the body, or "UNSIGNED-PAYLOAD";
 *     NULL means the empty body's hash.
 *   - credentials: key id, secret, optional session token, which is sent as
 *     x-amz-security-token and signed (unless SIGV4_OMIT_SESSION_TOKEN).
 *
 * The signer adds X-Amz-Date (always signed), x-amz-content-sha256 (added and
 * signed with SIGV4_SIGN_PAYLOAD_HEADER: S3 requires it on every request) and
 * x-amz-security-token; res->headers lists every header the caller must add to the
 * request, ready for curl_slist_append().  The secret never leaves this module
 * except inside the HMAC; res holds no secret (the session token, which is a
 * bearer credential too, is in res->headers: do not log that list).
 *
 * Errors: 0, -EINVAL (a missing or malformed input: no method, no Host header, a
 * reserved header passed in, a bad payload hash, a time before 1970 or past 9999,
 * a line break in the key id or the session token),
 * -ENOMEM, or -EIO (libcrypto failed).  On error res is released.
 */
#ifndef GG_ENGINE_SIGV4_H
#define GG_ENGINE_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "runtime/lib/util.h"

/* SHA-256 of the empty string: the payload hash of a request without a body. */
#define SIGV4_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
#define SIGV4_SHA256_HEX_SIZE 65 /* 64 hex digits and a NUL */
#define SIGV4_AMZ_DATE_SIZE 17   /* "20130524T000000Z" and a NUL */

/* Rules (struct sigv4_request.flags). */
enum {
	SIGV4_NORMALIZE_PATH = 1 << 0,      /* remove dot segments, duplicate slashes */
	SIGV4_DOUBLE_ENCODE = 1 << 1,       /* encode the (wire) path once more */
	SIGV4_SIGN_PAYLOAD_HEADER = 1 << 2, /* add and sign x-amz-content-sha256 */
	SIGV4_OMIT_SESSION_TOKEN = 1 << 3,  /* add x-amz-security-token unsigned */
};
#define SIGV4_RULES_S3 (SIGV4_SIGN_PAYLOAD_HEADER)
#define SIGV4_RULES_DEFAULT (SIGV4_NORMALIZE_PATH | SIGV4_DOUBLE_ENCODE)

struct sigv4_header {
	const char *name;
	const char *value;
};

/* Borrowed strings; session_token NULL or "" when there is none. */
struct sigv4_credentials {
	const char *access_key_id;
	const char *secret_access_key;
	const char *session_token;
};

/* Every string is borrowed for the duration of the call. */
struct sigv4_request {
	const char *method;       /* "GET", "PUT", ... */
	const char *path;         /* wire path, e.g. "/bucket/key"; NULL or "" is "/" */
	const char *query;        /* NULL, "", or "a=b&c=d" (without '?') */
	const struct sigv4_header *headers;
	size_t nheaders;
	const char *payload_hash; /* hex sha256, SIGV4_UNSIGNED_PAYLOAD, or NULL (empty body) */
	const char *region;       /* "us-east-1" */
	const char *service;      /* "s3" */
	time_t when;              /* signing time, seconds since the epoch (UTC) */
	unsigned flags;           /* SIGV4_RULES_S3, SIGV4_RULES_DEFAULT, or SIGV4_* bits */
};

/*
 * The results.  Owner: the caller, who calls sigv4_result_release().  Strings are
 * NUL-terminated and malloc'd; the canonical request and string to sign have no
 * trailing newline (as in the test suite's files).
 */
struct sigv4_result {
	char amz_date[SIGV4_AMZ_DATE_SIZE]; /* X-Amz-Date value, "YYYYMMDDTHHMMSSZ" */
	char signature[SIGV4_SHA256_HEX_SIZE];
	char *canonical_request;
	char *string_to_sign;
	char *signed_headers;               /* "host;x-amz-content-sha256;x-amz-date" */
	char *authorization;                /* the Authorization header's value */
	struct strlist headers;             /* "Name: value" lines to add to the request */
};

#define SIGV4_RESULT_INIT { .amz_date = "", .signature = "", .headers = STRLIST_INIT }

/* Sign `req` with `cred`; fills *res (which need not be initialised). */
int sigv4_sign(const struct sigv4_request *req, const struct sigv4_credentials *cred,
	       struct sigv4_result *res);
void sigv4_result_release(struct sigv4_result *res);

/*
 * Sign and return only the headers to add to the request, "Name: value" each, in
 * *out (initialised here; the caller releases it with strlist_release()):
 * Authorization, X-Amz-Date, x-amz-content-sha256 (with SIGV4_SIGN_PAYLOAD_HEADER),
 * x-amz-security-token (with a session token).  Same errors as sigv4_sign().
 */
int sigv4_sign_headers(const struct sigv4_request *req, const struct sigv4_credentials *cred,
		       struct strlist *out);

/*
 * Percent-encode n bytes of s into out: every byte but the RFC 3986 unreserved set
 * (A-Z a-z 0-9 - _ . ~), and '/' when keep_slash, becomes %XX (upper-case hex).
 * This is how S3 wants keys in the path (keep_slash) and query names/values.
 * Returns sbuf_error(out).
 */
int sigv4_uri_encode(struct sbuf *out, const char *s, size_t n, bool keep_slash);

/* ---- SHA-256, lower-case hex ----------------------------------------------- */

/* One shot: out gets 64 hex digits and a NUL.  0, or -EIO (libcrypto failed). */
int sigv4_sha256_hex(const void *p, size_t n, char out[SIGV4_SHA256_HEX_SIZE]);

/*
 * Streaming.  Owner: the caller; init allocates, final or release frees (final
 * releases too; release after final is harmless).  0, -ENOMEM or -EIO.
 */
struct sigv4_sha256 {
	void *ctx; /* EVP_MD_CTX */
};
#define SIGV4_SHA256_INIT { .ctx = NULL }
int sigv4_sha256_init(struct sigv4_sha256 *h);
int sigv4_sha256_update(struct sigv4_sha256 *h, const void *p, size_t n);
int sigv4_sha256_final(struct sigv4_sha256 *h, char out[SIGV4_SHA256_HEX_SIZE]);
void sigv4_sha256_release(struct sigv4_sha256 *h);

/*
 * Hash a file through a fixed 64 KiB buffer (never loaded whole): from the fd's
 * current offset to EOF, or the whole file at `path`.  0, or -errno (read/open's,
 * -EIO from libcrypto).
 */
int sigv4_sha256_hex_fd(int fd, char out[SIGV4_SHA256_HEX_SIZE]);
int sigv4_sha256_hex_file(const char *path, char out[SIGV4_SHA256_HEX_SIZE]);

#endif
