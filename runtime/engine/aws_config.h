/*
 * aws_config.h - AWS credentials, region and endpoints, found the way every AWS tool
 * (the CLI, the SDKs) finds them, and s3:// URLs.
 *
 * Resolution (aws_config_load):
 *   profile      AWS_PROFILE, else AWS_DEFAULT_PROFILE (older SDKs), else "default".
 *   files        AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials (sections
 *                "[NAME]"); AWS_CONFIG_FILE, else ~/.aws/config (sections
 *                "[profile NAME]", and "[default]").  ~ is $HOME.
 *   credentials  the first of:
 *                  1. AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN);
 *                  2. the profile in the credentials file (aws_access_key_id,
 *                     aws_secret_access_key, aws_session_token);
 *                  3. the same keys in the profile in the config file;
 *                  4. credential_process in the profile (credentials file, then
 *                     config file): run with /bin/sh -c, its stdout is the JSON
 *                     {"Version": 1, "AccessKeyId", "SecretAccessKey",
 *                     "SessionToken"?, "Expiration"?}; its stderr is inherited.
 *                None: -ENOENT, and err lists every place looked at and why it gave
 *                nothing.  Container and instance-metadata credentials are not read.
 *   region       AWS_REGION, AWS_DEFAULT_REGION, the profile's `region` in the
 *                config file, else "us-east-1".
 *   endpoints    S3: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, the profile's
 *                `endpoint_url`, else AWS.  Lambda: AWS_ENDPOINT_URL_LAMBDA,
 *                AWS_ENDPOINT_URL, `endpoint_url`, else AWS.
 *
 * Addressing (aws_s3_endpoint): a custom endpoint is addressed path-style
 * (http://HOST:PORT[/PATH]/BUCKET/KEY); AWS is addressed virtual-hosted style
 * (https://BUCKET.s3.REGION.amazonaws.com/KEY), or path-style on the regional
 * endpoint for a bucket name that cannot be a host label (dots, upper case).
 *
 * Secrets: aws_credentials holds the secret and the session token; they are never
 * put in an error message, and aws_credentials_describe() names only the key id and
 * where it came from.  aws_credentials_release() wipes them.  Library code: nothing
 * here prints or exits; errors come back as -errno plus a message in an error
 * buffer (lowercase, no final period).
 */
#ifndef GG_ENGINE_AWS_CONFIG_H
#define GG_ENGINE_AWS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "runtime/engine/sigv4.h"

#define AWS_DEFAULT_REGION_NAME "us-east-1"
#define AWS_ERR_SIZE 2048 /* a comfortable size for the error buffers below */

/* Owner: the holder; every string malloc'd (session_token may be NULL). */
struct aws_credentials {
	char *access_key_id;
	char *secret_access_key;
	char *session_token;
	char *source; /* where they came from: "environment", "shared credentials file '...'
	               * (profile 'x')", "config file '...' (profile 'x')", "credential_process
	               * (profile 'x')" */
};

#define AWS_CREDENTIALS_INIT { .access_key_id = NULL }

/* The borrowed view the signer takes (sigv4.h), valid while *c is unchanged. */
static inline struct sigv4_credentials aws_credentials_sigv4(const struct aws_credentials *c)
{
	return (struct sigv4_credentials){ c->access_key_id, c->secret_access_key,
					   c->session_token };
}

/* Wipe the secret and token, free everything, leave the struct empty. */
void aws_credentials_release(struct aws_credentials *c);

/*
 * A redacted description for logs and messages: "key id AKIA... from environment"
 * (never the secret nor the token).  Writes into buf (truncating) and returns it.
 */
const char *aws_credentials_describe(const struct aws_credentials *c, char *buf, size_t n);

/* Owner: the holder; strings malloc'd.  Endpoints are NULL for AWS itself. */
struct aws_config {
	char *profile;          /* the profile used */
	char *region;
	char *endpoint_s3;      /* custom S3 endpoint URL, e.g. "http://127.0.0.1:4568" */
	char *endpoint_lambda;  /* custom Lambda endpoint URL */
	struct aws_credentials cred;
};

#define AWS_CONFIG_INIT { .profile = NULL, .cred = AWS_CREDENTIALS_INIT }

enum {
	AWS_CONFIG_NEED_CREDENTIALS = 1 << 0, /* fail (-ENOENT) when none are found */
};

/*
 * Resolve profile, region, endpoints and (with AWS_CONFIG_NEED_CREDENTIALS)
 * credentials from the environment and the files, as described above.  *cfg need
 * not be initialised; on error it is released.  0, -ENOENT (no credentials: err
 * lists the places looked at), -EINVAL (a malformed file or endpoint, or a
 * credential_process that failed or printed no credentials; err says which),
 * -ENOMEM.
 */
int aws_config_load(struct aws_config *cfg, unsigned flags, char *err, size_t errlen);
void aws_config_release(struct aws_config *cfg);

/* ---- s3:// URLs ------------------------------------------------------------ */

/* Owner: the holder.  prefix has no leading or trailing '/', "" for none. */
struct aws_s3_url {
	char *bucket;
	char *prefix;
};

#define AWS_S3_URL_INIT { .bucket = NULL, .prefix = NULL }

/*
 * Parse "s3://BUCKET[/PREFIX][/]": the bucket is 3-63 characters of [a-z0-9.-]
 * (upper case and '_' accepted too, for legacy buckets and test servers), the prefix
 * any bytes, with repeated and trailing slashes dropped.  0 or -EINVAL (err says
 * why), -ENOMEM.
 */
int aws_s3_url_parse(const char *url, struct aws_s3_url *out, char *err, size_t errlen);
void aws_s3_url_release(struct aws_s3_url *u);

/*
 * Where to send requests for a bucket.  Owner: the holder; strings malloc'd.
 *   url_base   scheme://host[:port], no trailing slash
 *   host       the Host header's value (host[:port], as libcurl sends it)
 *   path_base  "" (virtual-hosted) or "[/PATH]/BUCKET" (path-style); an object KEY
 *              is at url_base + path_base + "/" + encoded KEY, and the signed wire
 *              path is path_base + "/" + encoded KEY (sigv4_uri_encode, keep '/').
 *              A bucket-level request (ListObjectsV2, ...) uses path_base itself,
 *              WITHOUT a trailing slash ("/BUCKET?list-type=2", as botocore sends it),
 *              or "/" when path_base is "": s3rver signs the bucket's resource as
 *              "/BUCKET" and refuses "/BUCKET/" with SignatureDoesNotMatch.
 */
struct aws_endpoint {
	char *url_base;
	char *host;
	char *path_base;
	bool path_style;
	bool tls;
};

#define AWS_ENDPOINT_INIT { .url_base = NULL }

/* 0, -EINVAL (malformed endpoint URL or bucket; err says why), -ENOMEM. */
int aws_s3_endpoint(const struct aws_config *cfg, const char *bucket, struct aws_endpoint *out,
		    char *err, size_t errlen);
/* Lambda: path_base "" ; url_base https://lambda.REGION.amazonaws.com or the custom one. */
int aws_lambda_endpoint(const struct aws_config *cfg, struct aws_endpoint *out, char *err,
			size_t errlen);
void aws_endpoint_release(struct aws_endpoint *e);

#endif
