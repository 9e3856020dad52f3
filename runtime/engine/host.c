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
	struct store *st = ctx;
	const struct thunk *th = job->th;
	struct sbx_plan plan = SBX_PLAN_INIT;
	struct sbx_result *sr = calloc(1, sizeof(*sr));
	char **argv = thunk_strv_dup(&th->argv), **envp = host_env(th, job->env_add);
	char *logs[2] = { NULL, NULL };
	int ret;

	res->status = -1;
	if (!sr || !argv || !envp || engine_plan_job(&plan, job, cancel_fd, argv, envp, logs) < 0) {
		ret = -ENOMEM;
		goto out;
	}
	res->logs = true;
	plan.flags = 0;
	plan.level = SBX_LEVEL_NONE;
	plan.stdin_fd = 0;
	ret = sbx_run(&plan, sr);
	res->ms = sr->wall_ns / 1000000;
	if ((ret = engine_result_sbx(res, ret, sr, job->timeout_ms)) == 0)
		engine_finish_outputs(st, "", th, job->outputs_optional, res);
out:
	free(logs[0]);
	free(logs[1]);
	free(argv);
	free(envp);
	free(sr);
	return ret;
}

static int host_create(const struct engine_config *cfg, struct engine **out, char *err,
		       size_t errlen)
{
	return pool_engine_create(cfg, host_run, out, err, errlen);
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
	POOL_ENGINE_OPS,
	.level = host_level,
};
