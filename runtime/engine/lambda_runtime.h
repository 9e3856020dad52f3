/*
 * lambda_runtime.h - the worker side of the lambda engine: the Lambda Runtime API
 * loop of the function's `bootstrap` (a custom runtime), which runs each invocation
 * through the relocatable worker (worker.h).
 *
 * Loop (one event at a time, as Lambda gives them to an environment):
 *
 *   next      GET http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime/invocation/next,
 *             no client timeout (Lambda freezes the environment between events);
 *             the event is lambda_proto.h's payload, Lambda-Runtime-Aws-Request-Id
 *             names it, Lambda-Runtime-Deadline-Ms bounds it
 *   fetch     the thunk blob, then every VALUE blob it names (exe, inputs, objects),
 *             from the payload's s3://BUCKET[/PREFIX] into the worker's store
 *             (<work>/store), verified by hash (s3_store.h); what an earlier event
 *             of this environment fetched is not fetched again
 *   run       worker_exec (worker.h): input cache <work>/cache (hard links of the
 *             store's blobs: trusted_source, so /tmp holds each blob once), roots under <work>/r,
 *             the payload's level, and a timeout that ends the command margin_ms
 *             before the deadline (the payload's own timeout if sooner), so the
 *             answer still goes out in time; a command stopped for the deadline
 *             (not for its own timeout) is no result: it is POSTed to
 *             .../ID/error as Gg.Deadline, which the engine relaunches (bounded);
 *             with a stop key in the payload (lambda_proto.h), a second thread
 *             looks for it in the bucket (HEAD, its own S3 client) at
 *             lambda_stop_first/next while the command runs, and once it is
 *             there the command is stopped (worker_opts.cancel_fd) and the event
 *             answered Gg.Superseded: another invocation of the job won
 *   upload    the outputs' blobs, to the same bucket, before the answer
 *   answer    POST .../invocation/ID/response with lambda_proto.h's answer (the
 *             worker's report and the upload time); a fetch or upload that failed,
 *             or an event that is not a payload, is POSTed to .../ID/error with
 *             Lambda-Runtime-Function-Error-Type Gg.Fetch, Gg.Upload or Gg.BadEvent
 *             and {"errorMessage","errorType"} (the engine fails the job with it)
 *
 * A set-up failure before the first event (no AWS_LAMBDA_RUNTIME_API, the work
 * directory) is POSTed to /2018-06-01/runtime/init/error.  The loop ends when the
 * Runtime API cannot be reached (or after max_events): 0 after max_events,
 * -errno otherwise with err filled.  S3 credentials and endpoint come from the
 * environment Lambda gives the function (aws_config.h).  Nothing prints.
 *
 * Limits: the worker's store under <work>/store keeps the blobs fetched or made
 * for later invocations of the environment, within a budget: cache_mb, else
 * $GG_WORKER_CACHE_MB, else half of the size of the file system holding <work>
 * (Lambda's /tmp).  Half of it is the store's: after an event, when the file
 * system holds more than the budget, the store is trimmed (store_trim) to three
 * quarters of its half, least recently used blobs first (the runtime remembers
 * which event last used each blob: its thunk, inputs and outputs).  The other half
 * bounds the input cache (worker_opts.cache_max, trimmed by the worker after each
 * job).  Both hold hard links of the same files, so a blob's space comes back once
 * neither names it: trimming only one of them would free nothing.
 */
#ifndef GG_ENGINE_LAMBDA_RUNTIME_H
#define GG_ENGINE_LAMBDA_RUNTIME_H

#include <stddef.h>

struct lambda_runtime_opts {
	const char *api;        /* host:port; NULL: $AWS_LAMBDA_RUNTIME_API */
	const char *work;       /* the worker's directory; NULL: /tmp/gg */
	const char *shim;       /* libggshim.so for level 3 (worker.h) */
	unsigned max_events;    /* 0: until the Runtime API goes away */
	unsigned margin_ms;     /* 0: 2000 */
	unsigned cache_mb;      /* the store's budget (above); 0: the default */
};

int lambda_runtime_run(const struct lambda_runtime_opts *o, char *err, size_t errlen);

#endif /* GG_ENGINE_LAMBDA_RUNTIME_H */
