/*
 * engine_host.c - the host engine: a local-only thunk runs as make would run it, in
 * the tree itself, without a sandbox (it reads its terminal, uses the network,
 * removes a file another command made...: what the sandbox would forbid is what it
 * needs).  Its outputs are then read from the tree into the store.
 *
 * Standard input is inherited (a thunk that reads it needs it); standard output and
 * error are captured in the job's staging directory, like the sandbox's.
 *
 * Recorded (job->shim): the command runs with LD_PRELOAD=<shim> and
 * GG_TRACE_DIR=<staging>/trace, so its recording says what it read and wrote this
 * time (a new #include of a local-only compile is an input from now on); then only
 * the declared outputs that exist are stored, since the recording names the real
 * ones (engine.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runtime/engine/engine_sync.h"
#include "shim/trace_format.h"
#include "runtime/lib/util.h"

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Wait for pid, killing its process group on timeout or cancellation. */
static int wait_child(pid_t pid, const struct engine_job *job, int *status)
{
	uint64_t deadline = job->timeout_ms ? now_ms() + job->timeout_ms : 0;
	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);
		struct pollfd p = { .fd = job->cancel_fd, .events = POLLIN };
		if (r == pid)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
		if ((deadline && now_ms() > deadline) ||
		    (job->cancel_fd >= 0 && poll(&p, 1, 0) > 0)) {
			kill(-pid, SIGKILL);
			while (waitpid(pid, status, 0) < 0 && errno == EINTR)
				;
			return deadline && now_ms() > deadline ? -ETIMEDOUT : -ECANCELED;
		}
		poll(NULL, 0, 5);
	}
}

/* Store the declared outputs; a missing one fails, unless `lenient` (it is skipped). */
static int collect(struct store *st, const struct thunk *th, bool lenient,
		   struct engine_result *res)
{
	res->outputs.v = calloc(th->outputs.n + 1, sizeof(*res->outputs.v));
	if (!res->outputs.v)
		return -ENOMEM;
	for (size_t i = 0; i < th->outputs.n; i++) {
		struct cache_output *o = &res->outputs.v[res->outputs.n];
		const char *path = th->outputs.v[i];
		struct stat sb;
		int ret;

		if (lstat(path, &sb) < 0) {
			if (lenient)
				continue;
			snprintf(res->err, sizeof(res->err), "the command did not produce '%s'", path);
			return -ENOENT;
		}
		if (S_ISLNK(sb.st_mode)) {
			char target[PATH_MAX];
			ssize_t n = readlink(path, target, sizeof(target));
			if (n < 0)
				return -errno;
			ret = store_put_buf(st, GG_HASH_VALUE, target, (size_t)n, &o->value);
		} else {
			ret = store_put_file(st, path, &o->value, NULL);
		}
		if (ret < 0) {
			snprintf(res->err, sizeof(res->err), "cannot store output '%s': %s", path,
				 strerror(-ret));
			return ret;
		}
		if (!(o->path = strdup(path)))
			return -ENOMEM;
		o->mode = sb.st_mode;
		res->outputs.n++;
	}
	return 0;
}

/*
 * The environment of a recorded run: the thunk's, plus the shim and its trace
 * directory (a thunk's environment never holds LD_PRELOAD or GG_*: thunk.h).  The
 * strings are the thunk's or `extra`'s; free() the array only.
 */
static char **recorded_env(const struct thunk *th, char *extra[2])
{
	char **envp = calloc(th->env.n + 3, sizeof(*envp));
	size_t n = 0;
	if (!envp)
		return NULL;
	for (size_t i = 0; i < th->env.n; i++)
		envp[n++] = th->env.v[i];
	envp[n++] = extra[0];
	envp[n++] = extra[1];
	return envp;
}

static int host_run(void *ctx, const struct engine_job *job, struct engine_result *res)
{
	struct store *st = ctx;
	const struct thunk *th = job->th;
	char **argv = NULL, **envp = NULL, *extra[2] = { NULL, NULL }, tdir[PATH_MAX];
	int status = 0, ret;
	pid_t pid;

	memset(res, 0, sizeof(*res));
	res->status = -1;
	res->level = 0;
	snprintf(res->stdout_path, sizeof(res->stdout_path), "%s/stdout", job->staging);
	snprintf(res->stderr_path, sizeof(res->stderr_path), "%s/stderr", job->staging);
	argv = thunk_strv_dup(&th->argv);
	if (job->shim) {
		snprintf(tdir, sizeof(tdir), "%s/trace", job->staging);
		if (mkdir(tdir, 0755) < 0 && errno != EEXIST) {
			ret = -errno;
			snprintf(res->err, sizeof(res->err), "cannot create '%s': %s", tdir,
				 strerror(errno));
			goto out;
		}
		if (asprintf(&extra[0], "LD_PRELOAD=%s", job->shim) < 0)
			extra[0] = NULL;
		if (asprintf(&extra[1], "%s=%s", GG_ENV_TRACE_DIR, tdir) < 0)
			extra[1] = NULL;
		if (!extra[0] || !extra[1]) {
			ret = -ENOMEM;
			goto out;
		}
		envp = recorded_env(th, extra);
		res->recorded = true;
	} else {
		envp = thunk_strv_dup(&th->env);
	}
	if (!argv || !envp) {
		ret = -ENOMEM;
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		ret = -errno;
		snprintf(res->err, sizeof(res->err), "cannot fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		int o = open(res->stdout_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int e = open(res->stderr_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		setpgid(0, 0);
		if (o >= 0)
			dup2(o, 1);
		if (e >= 0)
			dup2(e, 2);
		umask(th->umask);
		if (th->cwd && th->cwd[0] && chdir(th->cwd) < 0)
			_exit(127);
		execve(th->exe.path, argv, envp);
		_exit(127);
	}
	setpgid(pid, pid);
	ret = wait_child(pid, job, &status);
	if (ret == -ETIMEDOUT) {
		snprintf(res->err, sizeof(res->err), "timed out after %u ms", job->timeout_ms);
		ret = 0;
	} else if (ret < 0) {
		snprintf(res->err, sizeof(res->err), "%s", strerror(-ret));
		goto out;
	}
	res->ran = true;
	res->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	if (res->status == 0 && !res->err[0] && collect(st, th, job->shim != NULL, res) < 0) {
		cache_entry_release(&res->outputs);
		if (!res->err[0])
			snprintf(res->err, sizeof(res->err), "cannot collect the outputs");
		res->status = 1;
	}
	ret = 0;
out:
	free(argv);
	free(envp);
	free(extra[0]);
	free(extra[1]);
	return ret;
}

const struct engine_ops engine_host = {
	.name = "host",
	.run = host_run,
};
