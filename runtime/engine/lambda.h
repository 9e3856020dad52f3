/*
 * lambda.h - the lambda engine: thunks run by AWS Lambda functions (the gg worker,
 * a custom runtime), invoked through the Invoke API, blobs in S3.  It implements
 * engine.h's asynchronous ops on ONE curl multi handle (http.h) from the builder's
 * thread: no thread per invocation, thousands in flight.
 *
 * Configuration (engine_config.params, "key=value,..."; defaults from the
 * environment, as issue 12 names them):
 *   function=NAME        GG_LAMBDA_FUNCTION, else "gg"
 *   remote=s3://B[/P]    GG_REMOTE; where blobs live.  Without one no blob moves:
 *                        only for stand-ins whose answers name no outputs, or
 *                        outputs already in the local store
 *   attempts=N           invocations of one job refused by the service (429, 5xx,
 *                        a dropped or refused connection) before it fails (12)
 *   retries=N            relaunches after the worker died or timed out (2)
 *   backoff_ms=B         full-jitter backoff: a wait drawn from [0, min(max, B*2^k)]
 *   backoff_max_ms=M     after the k-th refusal (100, 20000)
 *   straggler_pct=P      relaunch a job whose thunk has a recorded duration D
 *   straggler_margin_ms=M   (engine_job.expect_ms) once its invocation has run
 *                        max(P% of D', D' + M) ms (150, 300), D' being D scaled by
 *                        the median ratio of the invocations' times to their
 *                        recorded durations so far (this function's speed against
 *                        the recording's machine); P 0: never
 *   straggler_fit=0|1    (1) once the ratios are known, P and M are fitted to
 *                        their spread, never above the values given: P to the
 *                        95th percentile of the ratios over their median, 5
 *                        points more (at least LAMBDA_FIT_MIN_PCT), M to twice
 *                        the 95th percentile of the residuals, an invocation's
 *                        time less its D' (at least LAMBDA_FIT_MIN_MARGIN_MS): a function
 *                        whose times follow the recording closely gets its
 *                        duplicates soon after D', a noisy one as late as P and
 *                        M allow (lambda_straggler_fit below)
 *   straggler_spare_pct=Q   backups in the build's tail (MapReduce's backup
 *                        tasks): while no job waits and fewer invocations are
 *                        in flight than -j and the concurrency allow, a job
 *                        (with a recorded duration) whose one invocation that
 *                        is not late (its only one, or a straggler's relaunch,
 *                        which may straggle too) has run Q% of D' gets
 *                        another, the most critical
 *                        (engine_job.rank) first, as many as there is room
 *                        for; a backup never waits for room (first
 *                        invocations do not queue behind backups).  The
 *                        invocations of a job share their payload, so every
 *                        worker looks for its stop key from the soonest a
 *                        backup can start (a losing backup frees its
 *                        environment at once; on Lambda, an S3 HEAD more per
 *                        look).  0 (the default): once it has run S ms;
 *                        under 100 before the thunk is late, without M; 100:
 *                        D' + M; at P or above: none.  Each costs an
 *                        invocation (3.5% more on tests/bench/lambda.sh's
 *                        graph, up to one per job on a build narrower than -j)
 *                        and takes a straggler's duplicate slot of its job
 *   straggler=F          a job without one: relaunched once running F times
 *                        longer than the median of the last completed ones (4;
 *                        0: never)
 *   straggler_min_ms=S   ... either way never before S ms (500), nor before 8
 *                        completions (lambda_straggler_after below)
 *   priority_own_pct=P   the build's order (plan.h, plan_opts.own_pct): a job's
 *                        priority is its critical path plus P% of its own
 *                        recorded duration (LAMBDA_OWN_PCT; 0: the path alone).
 *                        A straggler costs about its own duration again (found
 *                        late at D', then run anew), and the jobs that go out
 *                        last have no slack left, so long jobs go out sooner
 *                        and the build's last seconds hold short ones
 *   invoke_timeout_ms=T  the client's limit for one invocation (the job's timeout
 *                        + 60 s, else 16 min: past Lambda's 15)
 *   concurrency=N        the account's concurrency: invocations in flight at most
 *                        (GG_LAMBDA_CONCURRENCY, else 1000, Lambda's default per
 *                        region); duplicates of stragglers count
 *   burst=N              new execution environments at once (GG_LAMBDA_BURST, else
 *   env_rate=N           1000) and per 10 s afterwards (GG_LAMBDA_ENV_RATE, else
 *                        1000): Lambda's scaling limit per function, a token bucket
 *                        (lambda_bucket below).  An invocation needs a new
 *                        environment when more are in flight than ever before
 *                        (environments are assumed to stay warm for the build)
 *   lookahead=K          jobs taken beyond -j N (N/8, at least 1; 0: none): the builder
 *                        hands over N + K jobs, at most N of them have an
 *                        invocation in flight (duplicates aside); the others have
 *                        their blobs checked and uploaded ahead and wait, so that
 *                        one is launched the moment an invocation ends, not a
 *                        builder's turn and an S3 round trip later
 *   s3_conns=C           the S3 client's connections, its HEADs and PUTs in flight
 *                        at most (a quarter of N + K, at least s3.h's default 64,
 *                        at most its 1024; lambda_s3_conns below): at the build's
 *                        start every job taken wants its thunk's HEAD before its
 *                        invocation, so with 64 at a real bucket's 20 to 30 ms a
 *                        thousand launches would wait up to half a second for
 *                        their HEADs alone
 *   A job held back by -j or these limits waits in the wait queue, highest
 *   engine_job.rank first (the plan's critical path: a link that just became
 *   ready goes before the compiles taken ahead), then the builder's order, and is
 *   launched as soon as they allow, without a request the service would refuse.
 * Region, endpoint and credentials: aws_config.h (AWS_REGION, AWS_ENDPOINT_URL_LAMBDA,
 * AWS_ENDPOINT_URL, profiles; credentials required).  RLIMIT_NOFILE is raised to
 * its hard limit at create: one connection per invocation in flight.
 *
 * A job's states (each job has at most three invocations in flight: the first and
 * a straggler's duplicates):
 *
 *   start --> UPLOAD --all blobs in the bucket--> INVOKE --answer--> DOWNLOAD --> DONE
 *               |  (thunk, exe, inputs, objects;      |  ^               (outputs the
 *               |   HEAD, then PUT what is missing)   |  | backoff        store lacks,
 *               +--an upload failed--> DONE           v  |                verified)
 *                                                  BACKOFF
 *
 *   - UPLOAD: the thunk is encoded (its blob is what the payload names), then
 *     every blob it needs is made present in the bucket before the function is
 *     invoked: a worker never meets a 404 (StanfordSNR/gg#24): each is asked
 *     about (HEAD) and PUT when missing, from the store, or for the thunk's own
 *     blob (new to the local store) from memory: no file is created per launch.
 *     A blob known present is not asked about again for the engine's lifetime.  S3
 *     work runs as s3.h batches, one at a time, of the jobs waiting on S3 in the
 *     order they came (the builder's), stepped from collect() and, every few
 *     start()s, from start() too (a builder starting a thousand jobs at once gets
 *     the first ones invoked while it starts the rest); the S3 client's epoll set
 *     is watched by the engine's descriptor.
 *   - INVOKE: POST /2015-03-31/functions/NAME/invocations, RequestResponse, SigV4
 *     (service "lambda", signed at each attempt), payload lambda_proto.h.
 *       200                      the worker's answer (lambda_proto.h) -> DOWNLOAD;
 *                                an answer naming another thunk is refused
 *       200 + X-Amz-Function-Error  Runtime.* / Sandbox.* (the worker died or
 *                                timed out) and Gg.Deadline (the worker stopped
 *                                the command for the function's deadline):
 *                                relaunched up to `retries` times;
 *                                other types: the job could not run, with the
 *                                function's type and message (ret -EREMOTEIO)
 *       429, 5xx, transport error  BACKOFF, up to `attempts`
 *       client timeout           as a dead worker (relaunched, bounded)
 *       403, 404, 413, other 4xx the job fails with the service's message, naming
 *                                the function, the endpoint and the key id; 403
 *                                and 404 are the configuration's fault: every later
 *                                start() fails at once with the same message, and
 *                                jobs already in flight that meet it again complete
 *                                with -ECANCELED (not run, no message), so the user
 *                                sees one clear line
 *   - stragglers: a job in INVOKE for longer than the threshold above gets a second
 *     invocation, and a third if the second runs past the threshold too (a
 *     duplicate can straggle as well; at most N/10 such duplicates at once,
 *     backups in the tail apart: they take room nobody waits for); the
 *     first answer that is a valid result wins; the others are left to finish
 *     as orphans, their answers ignored: a function keeps its environment until
 *     then, so they still count against the concurrency.  With a bucket, each job
 *     has a stop key (lambda_proto.h: "stop/T<hash>.<16 random hex>", its first
 *     look at the time the job could first get a duplicate): when orphans are
 *     left, the engine PUTs it (an empty object, in the next S3 batch), their
 *     workers find it and answer Gg.Superseded, and once all of them have
 *     answered it is DELETEd (at the latest when the engine is freed; the keys
 *     of orphans still running then stay, to stop them).  An attempt that fails
 *     while a twin still runs is forgotten.  A due duplicate goes before new
 *     work: while one waits for room under the account's limits, first
 *     invocations queue in the wait queue behind it (with -j equal to the
 *     concurrency, the builder refills every freed environment at once, and a
 *     duplicate would never get one).
 *   - DOWNLOAD: outputs whose blobs the local store lacks are fetched from the
 *     bucket into it (verified by hash, s3.h), so a completion's outputs are "in
 *     the store" as engine.h requires.  A blob whose bucket copy does not hash
 *     to its name (refused by s3.h, never stored) is deleted from the bucket and
 *     the thunk runs again (relaunched, bounded by `retries`), whose worker
 *     uploads it anew.
 *
 * Results: ran/status/level/outputs from the answer; res->ms is the invocation's
 * wall time (the scheduler's weight), res->fetch_ms/run_ms/upload_ms the worker's
 * times; res->err says why a job could not run, and res->infra is set when that
 * is the service's, the worker's or S3's doing past the bounds above (given up
 * after `attempts`, a worker dead `retries` + 1 times, a function or worker error,
 * an answer that is no report, a blob that would not move), not for 4xx errors of
 * the configuration nor for a command that ran and failed (ret 0);
 * stderr is not captured in the staging directory (logs false): the answer's tail
 * goes into res->err for a failed command.
 *
 * Deadlines (backoffs, straggler checks, libcurl's timers) arm one timerfd in the
 * engine's epoll set; completions waiting to be collected keep an eventfd raised.
 *
 * The other end is the function's bootstrap (gg itself, `gg lambda package`),
 * whose Runtime API loop is lambda_runtime.h.
 *
 * Errors: 0 or -errno with a message (lowercase, no final period) naming the
 * function, the endpoint and the access key id (never the secret nor a
 * signature).  Nothing prints.
 */
#ifndef GG_ENGINE_LAMBDA_H
#define GG_ENGINE_LAMBDA_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/engine/engine.h"

extern const struct engine_ops engine_lambda;

/* Counts since create, for the build's summary and the benchmarks. */
struct lambda_stats {
	uint64_t invocations;       /* requests sent (attempts, duplicates included) */
	uint64_t throttled;         /* 429 answers */
	uint64_t server_errors;     /* 5xx answers */
	uint64_t transport_errors;  /* no HTTP answer (refused, reset, dropped, timeout) */
	uint64_t worker_deaths;     /* Runtime.* / Sandbox.* function errors */
	uint64_t function_errors;   /* other function errors */
	uint64_t relaunched;        /* retries after a death, a timeout or a corrupt output */
	uint64_t corrupt_blobs;     /* downloads refused: the bucket's copy was corrupt */
	uint64_t stragglers;        /* duplicate invocations launched */
	uint64_t backups;           /* ... of them backups in the build's tail */
	uint64_t duplicate_wins;    /* jobs whose duplicate answered first */
	uint64_t stop_keys;         /* stop keys put: a job's twins told to stop */
	uint64_t stopped_early;     /* twins that stopped for one (Gg.Superseded) */
	uint64_t blobs_uploaded, bytes_uploaded;
	uint64_t blobs_downloaded, bytes_downloaded;
	uint64_t max_in_flight;     /* invocations at once */
	uint64_t limited;           /* launches held back by concurrency or the bucket */
	uint64_t environments;      /* environments the engine counts as started */
};

/*
 * A token bucket: `burst` tokens at most, refilled at `per_10s` tokens per 10 s
 * (exact integer arithmetic: a token is 10,000 units, a millisecond refills
 * per_10s units).  Times are the caller's milliseconds (clock_now_ms); pure.
 */
struct lambda_bucket {
	uint64_t units, cap;
	unsigned per_10s;
	uint64_t at_ms;
};

void lambda_bucket_init(struct lambda_bucket *b, unsigned burst, unsigned per_10s, uint64_t now_ms);
/* Take one token at now_ms: true, or false (nothing taken) when there is none. */
bool lambda_bucket_take(struct lambda_bucket *b, uint64_t now_ms);
/* When the next token is there (now_ms if it is; UINT64_MAX: never). */
uint64_t lambda_bucket_next(struct lambda_bucket *b, uint64_t now_ms);

/*
 * The straggler rule (the parameters above): how long (ms) an invocation may run
 * before its job gets a duplicate, or 0 for "no threshold yet".  expect_ms: the
 * thunk's recorded duration (0: not known); scale_pct: the median of the
 * completed invocations' time / recorded duration, in percent (0: fewer than 8
 * known); peers_ms: the median time of the completed invocations (0: fewer than
 * 8).  With a duration and a scale:
 * max(pct% of expect x scale, expect x scale + margin_ms, min_ms), without the
 * margin when pct is under 100 (a hedge); else with peers: max(peers x factor,
 * min_ms).  Pure.
 */
#define LAMBDA_OWN_PCT 30 /* priority_own_pct's default (above) */

struct lambda_straggler_rule {
	unsigned pct, margin_ms;    /* against the thunk's own duration (150, 300) */
	unsigned fit;               /* fitted to the times seen (1; lambda_straggler_fit) */
	unsigned spare_pct;         /* backups in the tail (0; stragglers() only) */
	unsigned factor;            /* against the peers' median (4) */
	unsigned min_ms;            /* a floor (500) */
};

uint64_t lambda_straggler_after(const struct lambda_straggler_rule *r, uint64_t expect_ms,
				unsigned scale_pct, uint64_t peers_ms);

/*
 * The rule fitted to the times seen (straggler_fit above): scale_pct the median of
 * the ratios (time / recorded duration, percent), tail_pct their 95th percentile,
 * resid_ms the 95th percentile of the residuals (time - D', ms; 0: not known, the
 * margin stays).  pct becomes max(LAMBDA_FIT_MIN_PCT, tail / median +
 * LAMBDA_FIT_CUSHION_PCT points) and margin_ms max(LAMBDA_FIT_MIN_MARGIN_MS, 2 x
 * resid_ms), each only if lower than r's; r as it is when r->fit is 0 or a ratio
 * is unknown (0).  The cushion is a few points, not a share of the tail: a
 * straggler found at 1.1 D' instead of 1.05 D' costs its job a tenth of its
 * duration more, and the last jobs of a build have no slack for it.  Pure.
 */
#define LAMBDA_FIT_CUSHION_PCT 5
#define LAMBDA_FIT_MIN_PCT 105
#define LAMBDA_FIT_MIN_MARGIN_MS 50
struct lambda_straggler_rule lambda_straggler_fit(const struct lambda_straggler_rule *r,
						  unsigned scale_pct, unsigned tail_pct,
						  uint64_t resid_ms);

/* The S3 client's connections for `slots` jobs taken at once (s3_conns above). */
#define LAMBDA_S3_CONNS_DIV 4
unsigned lambda_s3_conns(unsigned slots);

/* The counts of a lambda engine (e must come from engine_lambda.create). */
void lambda_engine_stats(struct engine *e, struct lambda_stats *out);

#endif /* GG_ENGINE_LAMBDA_H */
