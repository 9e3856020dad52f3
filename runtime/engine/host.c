/*
 * host.c - the host engine (engine.h): a local-only thunk runs as make would run it,
 * in the tree itself, without isolation (it reads its terminal, uses the network,
 * removes a file another command made...: what the sandbox would forbid is what it
 * needs).  Its outputs are then read from the tree into the store.
 *
 * The child process is sbx_run's at level 3 (SBX_LEVEL_NONE): the thunk's exact
 * environment (plus job->env_add), cwd and umask; standard input inherited (a
 * thunk that reads it needs it), standard output and error captured in the job's
 * staging directory like the sandbox's; the timeout and cancellation kill the
 * whole process tree; an executable that cannot be executed is an error of its own
 * ("cannot execute '...'"), not an exit status 127.  A pool of worker threads
 * (pool.h) runs the jobs, as for the local engine.
 *
 * Recorded runs (engine.h: env_add carries LD_PRELOAD and GG_TRACE_DIR, and
 * outputs_optional): only the declared outputs that exist are stored, since the
 * recording names the real ones.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/engine/engines.h"
#include "runtime/engine/pool.h"
#include "runtime/ir/thunk.h"
#include "sandbox/sbx.h"

struct engine {
	struct store *st;
	struct pool *pool;
};

/* The thunk's environment and env_add: the strings are theirs; free() the array. */
static char **host_env(const struct thunk *th, char *const *add)
{
	size_t n = 0;
	char **envp;

	while (add && add[n])
		n++;
	envp = calloc(th->env.n + n + 1, sizeof(*envp));
	if (!envp)
		return NULL;
	for (size_t i = 0; i < th->env.n; i++)
		envp[i] = th->env.v[i];
	for (size_t i = 0; i < n; i++)
		envp[th->env.n + i] = add[i];
	return envp;
}

static int host_run(void *ctx, const struct engine_job *job, int cancel_fd,
		    struct engine_result *res)
{
	struct engine *e = ctx;
	const struct thunk *th = job->th;
	struct sbx_plan plan = SBX_PLAN_INIT;
	struct sbx_result *sr = calloc(1, sizeof(*sr));
	char **argv = thunk_strv_dup(&th->argv), **envp = host_env(th, job->env_add);
	char *outs = NULL, *errs = NULL;
	int ret;

	res->status = -1;
	if (!sr || !argv || !envp || asprintf(&outs, "%s/stdout", job->staging) < 0 ||
	    asprintf(&errs, "%s/stderr", job->staging) < 0) {
		ret = -ENOMEM;
		goto out;
	}
	res->logs = true;
	plan.path = th->exe.path;
	plan.argv = argv;
	plan.envp = envp;
	plan.cwd = th->cwd && th->cwd[0] ? th->cwd : "/";
	plan.umask = th->umask;
	plan.flags = 0;
	plan.level = SBX_LEVEL_NONE;
	plan.stdin_fd = 0;
	plan.stdout_path = outs;
	plan.stderr_path = errs;
	plan.timeout_ms = job->timeout_ms;
	plan.cancel_fd = cancel_fd;
	ret = sbx_run(&plan, sr);
	res->ms = sr->wall_ns / 1000000;
	if (ret < 0) {
		engine_result_errf(res, "%s", sr->err[0] ? sr->err : strerror(-ret));
		goto out;
	}
	res->ran = true;
	res->status = sr->exited ? sr->status : 128 + sr->signal;
	if (sr->timed_out)
		engine_result_errf(res, "timed out after %u ms", job->timeout_ms);
	if (res->status == 0 && !res->err &&
	    engine_store_outputs(e->st, "", th, job->outputs_optional, res) < 0) {
		cache_entry_release(&res->outputs);
		if (!res->err)
			engine_result_errf(res, "cannot collect the outputs");
		res->status = 1;
	}
out:
	free(outs);
	free(errs);
	free(argv);
	free(envp);
	free(sr);
	return ret;
}

static int host_create(const struct engine_config *cfg, struct engine **out, char *err,
		       size_t errlen)
{
	struct engine *e = calloc(1, sizeof(*e));
	int ret;

	if (!e) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	e->st = cfg->st;
	if ((ret = pool_create(cfg->slots, host_run, e, &e->pool, err, errlen)) < 0) {
		free(e);
		return ret;
	}
	*out = e;
	return 0;
}

static void host_free(struct engine *e)
{
	if (!e)
		return;
	pool_free(e->pool);
	free(e);
}

static bool host_can_start_more(struct engine *e)
{
	return pool_can_start_more(e->pool);
}

static int host_start(struct engine *e, const struct engine_job *job, struct engine_result *res)
{
	return pool_start(e->pool, job, res);
}

static int host_fd(struct engine *e)
{
	return pool_fd(e->pool);
}

static int host_collect(struct engine *e, struct engine_done *done, size_t max)
{
	return pool_collect(e->pool, done, max);
}

static void host_abort(struct engine *e)
{
	pool_abort(e->pool);
}

static int host_level(struct engine *e, char *why, size_t whylen)
{
	(void)e;
	snprintf(why, whylen, "local-only thunks run in the tree itself");
	return SBX_LEVEL_NONE;
}

const struct engine_ops engine_host = {
	.name = "host",
	.create = host_create,
	.free = host_free,
	.can_start_more = host_can_start_more,
	.start = host_start,
	.fd = host_fd,
	.collect = host_collect,
	.abort = host_abort,
	.level = host_level,
};
