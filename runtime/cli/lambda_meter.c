/*
 * lambda_meter.c - the lambda engine's ops, forwarded and counted (lambda_meter.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/cli/lambda_meter.h"

/* A job in flight: its tag and the result the builder handed to start(). */
struct flight {
	uint64_t tag;
	struct engine_result *res;
};

static struct flight *flights;
static size_t nflights, capflights;
static struct lambda_meter_totals totals;
static bool freed;

static int m_create(const struct engine_config *cfg, struct engine **out, char *err,
		    size_t errlen)
{
	return engine_lambda.create(cfg, out, err, errlen);
}

static void m_free(struct engine *e)
{
	if (e) {
		lambda_engine_stats(e, &totals.st);
		freed = true;
	}
	engine_lambda.free(e);
}

static bool m_can_start_more(struct engine *e)
{
	return engine_lambda.can_start_more(e);
}

static int m_start(struct engine *e, const struct engine_job *job, struct engine_result *res)
{
	int ret;

	if (nflights == capflights) {
		size_t cap = capflights ? capflights * 2 : 64;
		struct flight *f = realloc(flights, cap * sizeof(*f));
		if (!f)
			return -ENOMEM;
		flights = f;
		capflights = cap;
	}
	ret = engine_lambda.start(e, job, res);
	if (ret == 0)
		flights[nflights++] = (struct flight){ .tag = job->tag, .res = res };
	return ret;
}

static int m_fd(struct engine *e)
{
	return engine_lambda.fd(e);
}

static int m_collect(struct engine *e, struct engine_done *done, size_t max)
{
	int n = engine_lambda.collect(e, done, max);

	for (int i = 0; i < n; i++) {
		for (size_t k = 0; k < nflights; k++) {
			if (flights[k].tag != done[i].tag)
				continue;
			if (done[i].ret == 0 && flights[k].res->ran)
				totals.jobs++;
			totals.ms += flights[k].res->ms;
			flights[k] = flights[--nflights];
			break;
		}
	}
	if (!nflights) {
		free(flights);
		flights = NULL;
		capflights = 0;
	}
	return n;
}

static void m_abort(struct engine *e)
{
	engine_lambda.abort(e);
}

static int m_level(struct engine *e, char *why, size_t whylen)
{
	return engine_lambda.level ? engine_lambda.level(e, why, whylen) : 0;
}

static const struct engine_ops metered = {
	.name = "lambda",
	.no_staging = true, /* engine_lambda's */
	.create = m_create,
	.free = m_free,
	.can_start_more = m_can_start_more,
	.start = m_start,
	.fd = m_fd,
	.collect = m_collect,
	.abort = m_abort,
	.level = m_level,
};

const struct engine_ops *lambda_meter_wrap(const struct engine_ops *ops)
{
	return ops == &engine_lambda ? &metered : ops;
}

size_t lambda_meter_in_flight(void)
{
	return nflights;
}

bool lambda_meter_totals(struct lambda_meter_totals *out)
{
	*out = totals;
	return freed;
}

double lambda_meter_cost(const struct lambda_meter_totals *t, unsigned memory_mb)
{
	double gb_s = (double)t->ms / 1000.0 * (double)memory_mb / 1024.0;
	return gb_s * LAMBDA_PRICE_GB_S + (double)t->st.invocations * LAMBDA_PRICE_REQUEST;
}
