/*
 * lambda_meter.h - what `gg build --engine lambda` shows the user (main-level code).
 *
 * The builder owns its engine instances, so the CLI sees the lambda engine through a
 * thin wrapper of its ops (engine.h): every op is forwarded unchanged, and on the
 * way it counts the jobs in flight (start accepted, collect returned), sums the
 * invocations' wall time (engine_result.ms of each completion) and, at free(), keeps
 * the engine's counts (lambda.h).  One build per process: the state is static.
 *
 * The estimated cost is GB-seconds (the summed wall time x the function's memory)
 * at the published x86_64 price, plus the per-request price; an estimate only
 * (Lambda bills each invocation's duration, rounded up to 1 ms, not the client's
 * wall time; free tier and Savings Plans ignored).
 */
#ifndef GG_CLI_LAMBDA_METER_H
#define GG_CLI_LAMBDA_METER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/engine/lambda.h"

/* Published prices (us-east-1, x86_64): USD per GB-second and per request. */
#define LAMBDA_PRICE_GB_S 0.0000166667
#define LAMBDA_PRICE_REQUEST 0.0000002

struct lambda_meter_totals {
	struct lambda_stats st;  /* the engine's counts at free() */
	uint64_t jobs;           /* completions whose command ran remotely */
	uint64_t ms;             /* the invocations' wall time, summed over completions */
};

/* ops itself, or the metered lambda engine if ops is &engine_lambda. */
const struct engine_ops *lambda_meter_wrap(const struct engine_ops *ops);

/* Jobs of the metered engine started and not yet collected. */
size_t lambda_meter_in_flight(void);

/* The totals; false if no metered engine was freed (nothing to report). */
bool lambda_meter_totals(struct lambda_meter_totals *out);

/* The estimated cost in USD of `t` for a function of memory_mb. */
double lambda_meter_cost(const struct lambda_meter_totals *t, unsigned memory_mb);

#endif
