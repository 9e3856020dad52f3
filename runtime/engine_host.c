/*
 * engine_host.c - the host engine: a local-only thunk runs as make would run it, in
 * the tree itself, without a sandbox (it reads its terminal, uses the network,
 * removes a file another command made...: what the sandbox would forbid is what it
 * needs).  Its outputs are then read from the tree into the store.
 *
 * Standard input is inherited (a thunk that reads it needs it); standard output and
 * error are captured in the job's staging directory, like the sandbox's.
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

#include "engine.h"
#include "util.h"

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

static int collect(struct store *st, const struct thunk *th, struct engine_result *res)
{
	res->outputs.v = calloc(th->outputs.n + 1, sizeof(*res->outputs.v));
	if (!res->outputs.v)
		return -ENOMEM;
	for (size_t i = 0; i < th->outputs.n; i++) {
		struct cache_output *o = &res->outputs.v[i];
		const char *path = th->outputs.v[i];
		struct stat sb;
		int ret;

		if (lstat(path, &sb) < 0) {
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
		res->outputs.n = i + 1;
	}
	return 0;
}

static int host_run(void *ctx, const struct engine_job *job, struct engine_result *res)
{
	struct store *st = ctx;
	const struct thunk *th = job->th;
	char **argv = NULL, **envp = NULL;
	int status = 0, ret;
	pid_t pid;

	memset(res, 0, sizeof(*res));
	res->status = -1;
	res->level = 0;
	snprintf(res->stdout_path, sizeof(res->stdout_path), "%s/stdout", job->staging);
	snprintf(res->stderr_path, sizeof(res->stderr_path), "%s/stderr", job->staging);
	argv = thunk_strv_dup(&th->argv);
	envp = thunk_strv_dup(&th->env);
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
	if (res->status == 0 && !res->err[0] && collect(st, th, res) < 0) {
		cache_entry_release(&res->outputs);
		if (!res->err[0])
			snprintf(res->err, sizeof(res->err), "cannot collect the outputs");
		res->status = 1;
	}
	ret = 0;
out:
	free(argv);
	free(envp);
	return ret;
}

const struct engine_ops engine_host = {
	.name = "host",
	.run = host_run,
};
