/*
 * inroot - run a command in a root that holds only what is named on the command
 * line (sandbox/sbx.h, level 1): an empty read-only root, a minimal /dev, a /proc,
 * the given host directories bound at the given places, as the given uid/gid, with
 * an exact environment.  Inside, new namespaces and seccomp filters are refused
 * (the sandbox's seccomp filter, SBX_NO_SECCOMP), as on AWS Lambda.  For
 * tests/e2e/lambda-package.sh: "a root holding only /var/task, /tmp, /proc and
 * /dev, as uid 993".
 *
 *   inroot [--ro SRC:DST]... [--rw SRC:DST]... [--uid N] [--gid N] [--env K=V]...
 *          [--cwd DIR] -- CMD [ARGS...]
 *
 * CMD's stdout and stderr are inroot's; exits with CMD's status (128 + signal), or
 * 125 if it could not run.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sandbox/sbx.h"

int main(int argc, char **argv)
{
	struct sbx_mount mounts[64];
	char *env[64];
	size_t nm = 0, ne = 0;
	struct sbx_plan plan = SBX_PLAN_INIT;
	struct sbx_result *res = calloc(1, sizeof(*res));
	int i, ret;

	plan.uid = getuid();
	plan.gid = getgid();
	for (i = 1; i < argc && strcmp(argv[i], "--"); i++) {
		const char *a = argv[i];
		if (i + 1 >= argc)
			goto usage;
		if (!strcmp(a, "--ro") || !strcmp(a, "--rw")) {
			char *spec = argv[++i], *colon = strchr(spec, ':');
			if (!colon || nm == 64)
				goto usage;
			*colon = '\0';
			mounts[nm++] = (struct sbx_mount){
				.kind = a[3] == 'o' ? SBX_MOUNT_RO : SBX_MOUNT_RW, .src = spec, .dst = colon + 1
			};
		} else if (!strcmp(a, "--uid")) {
			plan.uid = (uid_t)atoi(argv[++i]);
		} else if (!strcmp(a, "--gid")) {
			plan.gid = (gid_t)atoi(argv[++i]);
		} else if (!strcmp(a, "--env")) {
			if (ne == 63)
				goto usage;
			env[ne++] = argv[++i];
		} else if (!strcmp(a, "--cwd")) {
			plan.cwd = argv[++i];
		} else {
			goto usage;
		}
	}
	if (i + 1 >= argc || !res)
		goto usage;
	env[ne] = NULL;
	plan.argv = argv + i + 1;
	plan.path = argv[i + 1];
	plan.envp = env;
	plan.mounts = mounts;
	plan.n_mounts = nm;
	plan.flags = SBX_DEV | SBX_PROC | SBX_NO_SECCOMP; /* /tmp: what --rw binds there */
	plan.level = SBX_LEVEL_NS;
	plan.stdout_fd = 1;
	plan.stderr_fd = 2;
	ret = sbx_run(&plan, res);
	if (ret < 0) {
		fprintf(stderr, "inroot: %s\n", res->err[0] ? res->err : strerror(-ret));
		ret = 125;
	} else {
		ret = res->exited ? res->status : 128 + res->signal;
	}
	goto out;
usage:
	fputs("usage: inroot [--ro SRC:DST]... [--rw SRC:DST]... [--uid N] [--gid N] [--env K=V]... "
	      "[--cwd DIR] -- CMD [ARGS...]\n",
	      stderr);
	ret = 125;
out:
	free(res);
	return ret;
}
