/*
 * vexec_plan - the first exec of a level-3 run (the GG_VROOT contract, shim/vpath.h):
 * plan a command through the recorded loader under a root (shim/vexec.h) and print
 * the plan, or perform it.
 *
 *   vexec_plan [--exec [--chroot DIR] [--preload LIBS]] ROOT VCWD PATH ARGV0 [ARG...]
 *
 * Without --exec, prints the virtual executable (the GG_VEXE value) and then the argv
 * to execve (its first element is the file to execute), each followed by a NUL byte
 * (bash: mapfile -d '').  With --exec: chroot(2) into DIR first when given (ROOT is
 * then a path inside it), chdir to ROOT + VCWD, and execve the plan with this
 * environment plus GG_VROOT, GG_VEXE, GG_VEXECFN, PWD=VCWD (as a shell would) and,
 * with --preload, LD_PRELOAD=LIBS.
 * Environment: GG_VLIBPATH, the loader search list.  Exit status 1 with a message
 * when the plan or the exec fails.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shim/vexec.h"
#include "shim/vpath.h"

int main(int argc, char **argv)
{
	static struct vexec x;
	static struct vpath vp;
	static char cwd[2 * VPATH_MAX];
	const char *out[256 + VEXEC_ARGV_EXTRA], *chroot_dir = NULL, *preload = NULL;
	int rc, i = 1;
	int exec = 0;

	for (; i < argc && !strncmp(argv[i], "--", 2); i++) {
		if (!strcmp(argv[i], "--exec"))
			exec = 1;
		else if (!strcmp(argv[i], "--chroot") && i + 1 < argc)
			chroot_dir = argv[++i];
		else if (!strcmp(argv[i], "--preload") && i + 1 < argc)
			preload = argv[++i];
		else
			break;
	}
	if (argc - i < 4) {
		fprintf(stderr, "usage: vexec_plan [--exec [--chroot DIR] [--preload LIBS]] ROOT "
				"VCWD PATH ARGV0 [ARG...]\n");
		return 2;
	}
	if (chroot_dir && (chroot(chroot_dir) != 0 || chdir("/") != 0)) {
		fprintf(stderr, "vexec_plan: cannot enter '%s': %s\n", chroot_dir, strerror(errno));
		return 1;
	}
	rc = vpath_init(&vp, argv[i], argv[i + 1], NULL);
	if (!rc)
		rc = vexec_plan(&vp, argv[i + 2], argv + i + 3, getenv(GG_ENV_VLIBPATH), &x, out,
				sizeof(out) / sizeof(out[0]));
	if (rc) {
		fprintf(stderr, "vexec_plan: cannot plan '%s' under '%s': %s\n", argv[i + 2],
			argv[i], strerror(-rc));
		return 1;
	}
	if (!exec) {
		fwrite(x.vexe, 1, strlen(x.vexe) + 1, stdout);
		for (size_t k = 0; out[k]; k++)
			fwrite(out[k], 1, strlen(out[k]) + 1, stdout);
		return fflush(stdout) ? 1 : 0;
	}
	snprintf(cwd, sizeof(cwd), "%s%s", vp.root, vp.cwd);
	if (chdir(cwd) != 0 || setenv(GG_ENV_VROOT, vp.root, 1) != 0 ||
	    setenv(GG_ENV_VEXE, x.vexe, 1) != 0 || setenv(GG_ENV_VEXECFN, argv[i + 2], 1) != 0 ||
	    setenv("PWD", vp.cwd, 1) != 0 || (preload && setenv("LD_PRELOAD", preload, 1))) {
		fprintf(stderr, "vexec_plan: cannot prepare '%s': %s\n", cwd, strerror(errno));
		return 1;
	}
	execv(x.file, (char *const *)out);
	fprintf(stderr, "vexec_plan: cannot run '%s': %s\n", x.file, strerror(errno));
	return 1;
}
