/*
 * lambda_deploy.h - create or update the gg function in AWS Lambda from the worker
 * package (package.h, `gg lambda package`) through the Lambda control plane API
 * (`gg lambda deploy`).
 *
 * The steps (lambda_deploy):
 *
 *   GetFunction --404--> CreateFunction ------------------------------+
 *        |                                                            v
 *        +--200--> UpdateFunctionConfiguration --wait--> UpdateFunctionCode --wait--> done
 *
 *   (the configuration first: a role Lambda cannot assume is refused before the
 *   code changes)
 *
 *   GET  /2015-03-31/functions/NAME                 -> {"Configuration": {...}, ...}
 *   POST /2015-03-31/functions                      CreateFunction: FunctionName,
 *        Runtime provided.al2023, Architectures ["x86_64"], Handler "bootstrap", Role,
 *        MemorySize, Timeout, EphemeralStorage {Size}, Code {ZipFile | S3Bucket+S3Key}
 *   PUT  /2015-03-31/functions/NAME/code            UpdateFunctionCode: ZipFile |
 *        S3Bucket+S3Key, Architectures
 *   PUT  /2015-03-31/functions/NAME/configuration   UpdateFunctionConfiguration: Role,
 *        Runtime, Handler, MemorySize, Timeout, EphemeralStorage
 *
 *   "wait": GetFunction (after 0.1 s, then twice as long each time up to poll_ms) until State is Active and LastUpdateStatus is
 *   Successful (a new function is Pending, an update InProgress; Lambda refuses a
 *   second update while one is in progress with 409 ResourceConflictException), at
 *   most wait_ms; Failed (or Inactive/Failed states) ends the deploy with Lambda's
 *   reason.
 *
 * The code goes inline (ZipFile, base64 in the JSON body) when the zip is at most
 * LAMBDA_DEPLOY_INLINE_MAX bytes, Lambda's documented limit for a deployment
 * package uploaded directly ("50 MB, zipped, when uploading through the Lambda API
 * or SDKs", AWS Lambda quotas); larger (or with via_bucket), it is put in the
 * bucket (s3.h, `remote`: s3://BUCKET[/PREFIX]) as PREFIX/lambda/NAME-<sha256>.zip
 * and passed as S3Bucket/S3Key (the bucket must be in the function's region).
 *
 * Requests are signed with SigV4 (service "lambda"), sent to the endpoint of
 * aws_config.h (the region's, or AWS_ENDPOINT_URL_LAMBDA / AWS_ENDPOINT_URL), one
 * at a time on a plain libcurl easy handle (a deploy is a handful of requests);
 * 429, 5xx and transport errors are retried LAMBDA_DEPLOY_ATTEMPTS times with a
 * growing pause.  Every other error ends the deploy with one message: the step, the
 * function, the endpoint, the key id (never the secret), the HTTP status, Lambda's
 * error type (x-amzn-ErrorType) and message.
 *
 * Blocking; nothing prints.  Errors: 0 or -errno with err filled: -EINVAL (bad
 * options, 400 InvalidParameterValueException / ValidationException), -EACCES
 * (401/403: credentials, signature, permissions), -ENOENT, -EBUSY (409 not resolved
 * by waiting), -ETIMEDOUT (not Active/Successful within wait_ms), -EIO (the service
 * kept failing, or a state Failed), -E2BIG (too large to go inline and no bucket).
 */
#ifndef GG_ENGINE_LAMBDA_DEPLOY_H
#define GG_ENGINE_LAMBDA_DEPLOY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/lib/util.h"

#define LAMBDA_DEPLOY_INLINE_MAX (50ull * 1000 * 1000) /* zip bytes sent as ZipFile */
#define LAMBDA_DEPLOY_RUNTIME "provided.al2023"
#define LAMBDA_DEPLOY_HANDLER "bootstrap"
#define LAMBDA_DEPLOY_ARCH "x86_64"
#define LAMBDA_DEPLOY_ATTEMPTS 5
/* Lambda's ranges (CreateFunction): MB, seconds, MB of /tmp */
#define LAMBDA_MEMORY_MIN 128
#define LAMBDA_MEMORY_MAX 10240
#define LAMBDA_TIMEOUT_MAX 900
#define LAMBDA_TMP_MIN 512
#define LAMBDA_TMP_MAX 10240

struct lambda_deploy_opts {
	const char *function;   /* the function's name ("gg") */
	const char *role;       /* the execution role's ARN */
	unsigned memory_mb;     /* LAMBDA_MEMORY_MIN..MAX */
	unsigned timeout_s;     /* 1..LAMBDA_TIMEOUT_MAX */
	unsigned tmp_mb;        /* /tmp: LAMBDA_TMP_MIN..MAX */
	const char *zip;        /* the package (a zip file) */
	const char *remote;     /* s3://BUCKET[/PREFIX] for a package sent through S3, or NULL */
	bool via_bucket;        /* through the bucket whatever the size */
	unsigned wait_ms;       /* bound of each wait for Active/Successful (0: 300 s) */
	unsigned poll_ms;       /* longest pause between GetFunction calls while waiting (0: 2000) */
};

/* Where the code comes from, in a request body: inline or S3 (borrowed strings). */
struct lambda_deploy_code {
	const char *zip_b64;    /* base64 of the zip, or NULL */
	const char *s3_bucket, *s3_key;
};

/* What a control-plane answer says of the function (malloc'd strings or NULL). */
struct lambda_function_state {
	char *arn;              /* FunctionArn */
	char *state;            /* State: Pending, Active, Inactive, Failed */
	char *state_reason;     /* StateReason */
	char *update;           /* LastUpdateStatus: InProgress, Successful, Failed */
	char *update_reason;    /* LastUpdateStatusReason */
	char *code_sha256;      /* CodeSha256 (base64) */
	char *role;             /* Role */
};

void lambda_function_state_release(struct lambda_function_state *s);

/* What lambda_deploy did. */
struct lambda_deploy_result {
	bool created;           /* CreateFunction (else the updates) */
	bool via_bucket;        /* the code went through S3 */
	bool code_unchanged;    /* an update: the function's CodeSha256 was the package's,
				 * so its code was not sent again */
	uint64_t zip_bytes;
	char arn[256];
	char code_sha256[64];   /* as Lambda reports it */
	char s3_key[512];       /* via_bucket: the object */
	unsigned polls;         /* GetFunction calls spent waiting */
};

/* The whole deploy (above).  *res is filled as far as it went. */
int lambda_deploy(const struct lambda_deploy_opts *o, struct lambda_deploy_result *res,
		  char *err, size_t errlen);

/* ---- the parts, pure (unit-tested) ------------------------------------------ */

/* The options in Lambda's ranges, a function name and an ARN-shaped role: 0 or
 * -EINVAL with err saying which. */
int lambda_deploy_check(const struct lambda_deploy_opts *o, char *err, size_t errlen);

/* Does a zip of this size go inline? */
bool lambda_deploy_inline(uint64_t zip_bytes);

/* Request bodies (JSON, appended to out): CreateFunction, UpdateFunctionCode,
 * UpdateFunctionConfiguration.  sbuf_error(out). */
int lambda_deploy_create_body(const struct lambda_deploy_opts *o,
			      const struct lambda_deploy_code *code, struct sbuf *out);
int lambda_deploy_code_body(const struct lambda_deploy_code *code, struct sbuf *out);
int lambda_deploy_config_body(const struct lambda_deploy_opts *o, struct sbuf *out);

/* base64 (RFC 4648, padded) of n bytes, appended to out.  sbuf_error(out). */
int lambda_deploy_base64(const void *p, size_t n, struct sbuf *out);

/* An answer of GetFunction, CreateFunction or an update into *s (zeroed first).
 * -EBADMSG (not a JSON object), -ENOMEM. */
int lambda_deploy_parse_state(const char *body, size_t len, struct lambda_function_state *s);

/* Waiting: 1 ready (no Pending State nor InProgress LastUpdateStatus; Inactive
 * counts as ready: the next invocation wakes it), 0 still in progress, -EIO when
 * the State or the LastUpdateStatus is Failed. */
int lambda_deploy_ready(const struct lambda_function_state *s);

#endif /* GG_ENGINE_LAMBDA_DEPLOY_H */
