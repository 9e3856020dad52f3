/*
 * tests/tools/lambda_launch.c - start one process the way AWS Lambda starts a custom
 * runtime's bootstrap, for the emulator (tests/fixtures/lambda_emu.py):
 *
 *     lambda_launch --root DIR --task PKG [--uid 993] [--tmp-mb 512] -- CMD [ARG...]
 *
 * Must run as root.  In new mount, PID, IPC and UTS namespaces it builds a root on a
 * tmpfs at DIR holding only the package PKG at /var/task (read-only), a private
 * /tmp (tmpfs of --tmp-mb MiB), /proc (of the new PID namespace) and /dev (null,
 * zero, full, random, urandom and the usual links); the root is read-only but for
 * /tmp.  It pivots into it, becomes uid/gid --uid (993, as Lambda's sbx_user1051
 * is an ordinary uid) with no supplementary groups and no capabilities, sets
 * no_new_privs and installs a seccomp filter that refuses what Lambda refuses
 * (public reports: no namespaces, no seccomp filter of one's own): unshare, setns,
 * clone with a CLONE_NEW* flag, mount, umount2, pivot_root, chroot, seccomp and
 * prctl(PR_SET_SECCOMP) fail with EPERM; clone3 fails with ENOSYS so that libc
 * falls back to clone, whose flags the filter can see.  Then CMD is executed as
 * PID 1 of the namespace with the environment this program was given.
 *
 * The parent waits and exits with CMD's status (128 + signal when killed).  When
 * the parent dies (the emulator kills the process group), CMD gets SIGKILL
 * (PR_SET_PDEATHSIG), and with it every process of the namespace.
 *
 * Errors: a message on stderr naming the step, exit 125.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <grp.h>

extern char **environ;

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("lambda_launch: ", stderr);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, ": %s\n", strerror(errno));
	va_end(ap);
	_exit(125);
}

static void mkdirs(const char *root, const char *sub, mode_t mode)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/%s", root, sub);
	if (mkdir(p, mode) < 0 && errno != EEXIST)
		die("mkdir '%s'", p);
	chmod(p, mode);
}

static void bind_dev(const char *root, const char *name)
{
	char p[4096], src[64];
	int fd;
	snprintf(p, sizeof(p), "%s/dev/%s", root, name);
	snprintf(src, sizeof(src), "/dev/%s", name);
	fd = open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
	if (fd < 0)
		die("create '%s'", p);
	close(fd);
	if (mount(src, p, NULL, MS_BIND, NULL) < 0)
		die("bind '%s'", src);
}

static void dev_link(const char *root, const char *name, const char *target)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/dev/%s", root, name);
	if (symlink(target, p) < 0 && errno != EEXIST)
		die("symlink '%s'", p);
}

/* Build the root at `root`: tmpfs, /var/task, /tmp, /proc, /dev. */
static void build_root(const char *root, const char *task, unsigned tmp_mb)
{
	char p[4096], opt[64];

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		die("make / private");
	if (mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=0755") < 0)
		die("tmpfs on '%s'", root);
	mkdirs(root, "var", 0755);
	mkdirs(root, "var/task", 0755);
	mkdirs(root, "var/runtime", 0755);
	mkdirs(root, "opt", 0755);
	mkdirs(root, "tmp", 01777);
	mkdirs(root, "proc", 0555);
	mkdirs(root, "dev", 0755);
	mkdirs(root, ".old", 0700);

	snprintf(p, sizeof(p), "%s/var/task", root);
	if (mount(task, p, NULL, MS_BIND | MS_REC, NULL) < 0)
		die("bind '%s'", task);
	if (mount(NULL, p, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
		die("read-only '%s'", p);

	snprintf(p, sizeof(p), "%s/tmp", root);
	snprintf(opt, sizeof(opt), "size=%um,mode=1777", tmp_mb);
	if (mount("tmpfs", p, "tmpfs", MS_NOSUID | MS_NODEV, opt) < 0)
		die("tmpfs on '%s'", p);

	snprintf(p, sizeof(p), "%s/proc", root);
	if (mount("proc", p, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		die("proc on '%s'", p);

	snprintf(p, sizeof(p), "%s/dev", root);
	if (mount("tmpfs", p, "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,mode=0755") < 0)
		die("tmpfs on '%s'", p);
	bind_dev(root, "null");
	bind_dev(root, "zero");
	bind_dev(root, "full");
	bind_dev(root, "random");
	bind_dev(root, "urandom");
	dev_link(root, "fd", "/proc/self/fd");
	dev_link(root, "stdin", "/proc/self/fd/0");
	dev_link(root, "stdout", "/proc/self/fd/1");
	dev_link(root, "stderr", "/proc/self/fd/2");
	/* /dev's tmpfs stays writable for the binds above; read-only from now on */
	if (mount(NULL, p, NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC, "size=64k,mode=0755") < 0)
		die("read-only '%s'", p);

	if (chdir(root) < 0)
		die("chdir '%s'", root);
	if (syscall(SYS_pivot_root, ".", ".old") < 0)
		die("pivot_root");
	if (chdir("/") < 0)
		die("chdir /");
	if (umount2("/.old", MNT_DETACH) < 0)
		die("detach the old root");
	if (rmdir("/.old") < 0)
		die("rmdir /.old");
	if (mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, "size=16m,mode=0755") < 0)
		die("read-only /");
}

static void install_filter(void)
{
	static const unsigned long ns_flags[] = {
		CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET,
		CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWCGROUP,
	};
	static const int refused[] = {
		SCMP_SYS(unshare), SCMP_SYS(setns), SCMP_SYS(mount), SCMP_SYS(umount2),
		SCMP_SYS(pivot_root), SCMP_SYS(chroot), SCMP_SYS(seccomp),
	};
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	int rc = 0;

	if (!ctx) {
		errno = ENOMEM;
		die("seccomp_init");
	}
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), refused[i], 0);
	for (size_t i = 0; i < sizeof(ns_flags) / sizeof(ns_flags[0]); i++)
		rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
				       SCMP_A0(SCMP_CMP_MASKED_EQ, ns_flags[i], ns_flags[i]));
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(prctl), 1,
			       SCMP_A0(SCMP_CMP_EQ, PR_SET_SECCOMP));
	if (rc) {
		errno = -rc;
		die("seccomp rules");
	}
	rc = seccomp_load(ctx);
	seccomp_release(ctx);
	if (rc) {
		errno = -rc;
		die("seccomp_load");
	}
}

int main(int argc, char **argv)
{
	const char *root = NULL, *task = NULL;
	unsigned uid = 993, tmp_mb = 512;
	int i, status;
	pid_t pid;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--") ) {
			i++;
			break;
		}
		if (i + 1 >= argc)
			break;
		if (!strcmp(argv[i], "--root"))
			root = argv[++i];
		else if (!strcmp(argv[i], "--task"))
			task = argv[++i];
		else if (!strcmp(argv[i], "--uid"))
			uid = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--tmp-mb"))
			tmp_mb = (unsigned)strtoul(argv[++i], NULL, 10);
		else
			break;
	}
	if (!root || !task || i >= argc) {
		fprintf(stderr, "usage: lambda_launch --root DIR --task PKG [--uid N] [--tmp-mb N] -- CMD [ARG...]\n");
		return 125;
	}
	if (unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS) < 0)
		die("unshare");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
			die("PR_SET_PDEATHSIG");
		build_root(root, task, tmp_mb);
		if (sethostname("localhost", 9) < 0)
			die("sethostname");
		if (chdir("/var/task") < 0)
			die("chdir /var/task");
		if (setgroups(0, NULL) < 0 || setresgid(uid, uid, uid) < 0 || setresuid(uid, uid, uid) < 0)
			die("become uid %u", uid);
		/* a change of credentials clears the parent-death signal: set it again */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
			die("PR_SET_PDEATHSIG");
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
			die("PR_SET_NO_NEW_PRIVS");
		install_filter();
		execve(argv[i], argv + i, environ);
		die("exec '%s'", argv[i]);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			die("waitpid");
	/* _exit: the status is CMD's, and no exit-time check of a sanitizer build
	 * (make check's LeakSanitizer, which cannot stop this process's world here)
	 * may put its own in its place */
	_exit(WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status));
}
