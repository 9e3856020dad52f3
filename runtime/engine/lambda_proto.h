/*
 * lambda_proto.h - what goes over the wire between the lambda engine (lambda.h) and
 * the Lambda worker: the invocation's payload, the worker's answer, and the error
 * bodies of the Invoke API and of a failed function.  Pure: no I/O, no clock.
 *
 * Payload (the event, JSON, far below Lambda's 6 MB: the thunk travels by hash):
 *
 *   {"version":1,"thunk":"T<32 hex>","blobs":"s3://BUCKET[/PREFIX]",
 *    "timeout_ms":N,"level":L,"seed":S[,"stop":"stop/NAME","stop_check_ms":W]}
 *
 *   thunk       the thunk blob; it and every VALUE blob it names (exe, inputs,
 *               objects) are at blobs/<printed hash> before the invocation starts
 *   blobs       where blobs live ("" when the engine has no remote: a test stand-in)
 *   timeout_ms  the thunk's own limit (0: none; the worker also stops in time for
 *               Lambda-Runtime-Deadline-Ms)
 *   level       the sandbox level required (0: any)
 *   seed        deterministic randomness
 *   stop        optional: a key under the blobs' prefix that the engine PUTs once
 *               another invocation of the same job has answered (the first valid
 *               answer wins, lambda.h's stragglers): the worker looks for it while
 *               the command runs (HEAD), and when it is there stops the command
 *               and answers the error Gg.Superseded, so that the losing twin frees
 *               its environment instead of running to its end.  Unique to the
 *               job (the engine's random name: "stop/T<32 hex>.<16 hex>"), so
 *               a key left from another build stops nothing.  At most
 *               LAMBDA_STOP_MAX - 1 characters of [A-Za-z0-9./_-], no "..".
 *   stop_check_ms  when to look first (ms since the command started); later
 *               looks follow lambda_stop_next().  Absent or 0 with a stop key:
 *               LAMBDA_STOP_POLL_MS.
 *
 * Answer (the function's response body): the worker's report (worker.h,
 * worker_report_json) with the Lambda worker's upload time added:
 *
 *   {"thunk":"T..","ran":true,"status":0,"level":3,
 *    "outputs":[{"path":"/x/a.o","value":"V..","mode":33188}],
 *    "error":null,"undeclared":null,"stdout_tail":"","stderr_tail":"",
 *    "times_ms":{"fetch":1,"run":20,"store":1,"upload":3}, ...}
 *
 *   ran         the command ran (status is its exit status, or 128 + signal);
 *               false: it could not (error says why)
 *   outputs     when ran and status 0: every declared output, its VALUE hash (the
 *               blob is at blobs/<value> before the answer is sent) and st_mode;
 *               value may be null for an output the command did not leave
 *   level       the sandbox level it ran at (3 on Lambda)
 *   times_ms    fetch (inputs from S3), run, store (outputs hashed), upload
 *               (outputs to S3)
 * Unknown keys are ignored, so the worker may say more ("cache", "inputs", ...).
 *
 * Errors of the service (4xx/5xx, header x-amzn-ErrorType): {"Type":"User",
 * "message":"...","Reason":"..."} ("Message" in some answers).  A function error
 * (200 with X-Amz-Function-Error): {"errorMessage":"...","errorType":"..."}; the
 * worker's own types start with "Gg.", Lambda's with "Runtime." and "Sandbox.".
 *
 * Limits: an answer of at most LAMBDA_ANSWER_MAX bytes (Lambda's 6 MB response
 * limit), LAMBDA_MAX_OUTPUTS outputs, strings as long as the answer.  The parser
 * never reads past len, whatever the bytes.
 * Ownership: the caller owns the structs; release frees what parse allocated.
 * Errors: 0, -EBADMSG (not such a document), -ENOMEM.
 */
#ifndef GG_ENGINE_LAMBDA_PROTO_H
#define GG_ENGINE_LAMBDA_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/ir/hash.h"
#include "runtime/lib/util.h"
#include "runtime/store/cache.h"

#define LAMBDA_PROTO_VERSION 1
#define LAMBDA_PAYLOAD_MAX (6u << 20)
#define LAMBDA_ANSWER_MAX (6u << 20)
#define LAMBDA_MAX_OUTPUTS 65536

#define LAMBDA_STOP_MAX 96
#define LAMBDA_STOP_POLL_MS 250   /* the shortest time between two looks */

struct lambda_payload {
	struct gg_hash thunk;
	const char *blobs;       /* "s3://..." or "" */
	unsigned timeout_ms;
	int level;
	unsigned long long seed;
	char stop[LAMBDA_STOP_MAX]; /* "" or the stop key (above) */
	unsigned stop_check_ms;
};

/*
 * The worker's next look for the stop key, in ms since the command started, after
 * a look at elapsed_ms: an eighth of the time run so far later, at least
 * LAMBDA_STOP_POLL_MS (a twin's win is seen within about 12% of the loser's run,
 * with about 20 looks over a run 100 times longer than the first).  The first
 * look is at check_ms (0: LAMBDA_STOP_POLL_MS).  Pure; the benchmark's stand-in
 * (tests/tools/lambda_sleepd.c) follows it too.
 */
uint64_t lambda_stop_first(unsigned check_ms);
uint64_t lambda_stop_next(uint64_t elapsed_ms);

/* The payload as JSON, appended to out.  sbuf_error(out). */
int lambda_payload_write(const struct lambda_payload *p, struct sbuf *out);
/* Read a payload (the worker's side): p->blobs points to *blobs, malloc'd (the
 * caller frees).  -EBADMSG without a THUNK hash or with another version. */
int lambda_payload_parse(const char *buf, size_t len, struct lambda_payload *p, char **blobs);

struct lambda_answer {
	struct gg_hash thunk;    /* unset if absent */
	bool ran;
	int status;
	int level;
	struct cache_entry outputs;
	char *error;             /* malloc'd or NULL */
	char *undeclared;        /* malloc'd or NULL */
	char *stderr_tail;       /* malloc'd or NULL */
	uint64_t fetch_ms, run_ms, store_ms, upload_ms;
};

int lambda_answer_parse(const char *buf, size_t len, struct lambda_answer *out);
void lambda_answer_release(struct lambda_answer *a);

/*
 * An error body, either form: *type (errorType, else Type... the x-amzn-ErrorType
 * header is the caller's) and *message (errorMessage, message or Message), each
 * malloc'd or NULL.  -EBADMSG if it is not a JSON object.
 */
int lambda_error_parse(const char *buf, size_t len, char **type, char **message);

/*
 * The string members keys[0..n) of a JSON object, at its top level or, when
 * `within` is not NULL, inside its object member of that name too (the control
 * plane's answers: GetFunction nests the function's configuration in
 * "Configuration", CreateFunction and the updates answer it at the top level):
 * vals[i] malloc'd, or NULL when absent or not a string (the first one found
 * wins).  -EBADMSG if it is not a JSON object (vals all NULL), -ENOMEM.
 */
int lambda_json_strings(const char *buf, size_t len, const char *within,
			const char *const *keys, char **vals, size_t n);

#endif /* GG_ENGINE_LAMBDA_PROTO_H */
