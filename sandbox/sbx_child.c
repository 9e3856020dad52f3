/*
 * sbx_child.c - the child of sbx_run: it applies the prepared plan and becomes the
 * init of the sandbox; its own child execs the command.
 *
 * The caller may be multi-threaded and the child is a raw clone(2) of it: from here
 * to execve only async-signal-safe functions run (system-call wrappers, string
 * copies), no malloc, no stdio, no locks.  Errors go to the parent as a struct
 * sbx_msg naming the step and the errno; the parent writes the message.
 *
 * Level 1, in the order applied (after bubblewrap's setup_newroot):
 *   uid/gid maps (setgroups denied), every mount private, a tmpfs on /tmp (or
 *   /run, /mnt) as a staging root holding newroot/ and oldroot/, pivot_root into
 *   it (the host's
 *   root is now /oldroot, sources are named /oldroot/...), the operations in sorted
 *   order under /newroot, /dev made read-only, the hostname, /oldroot detached,
 *   pivot_root into /newroot, the root made read-only.
 * Then, at every level: the init forks the command and waits (see sbx.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/sbx_int.h"

#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif

static void send_msg(int sock, int type, int step, int index, int err, int status)
{
	struct sbx_msg m = { .type = type, .step = step, .index = index, .err = err,
			     .status = status };

	(void)send(sock, &m, sizeof(m), MSG_NOSIGNAL);
}

static void tv_add(struct timeval *a, const struct timeval *b)
{
	a->tv_sec += b->tv_sec;
	a->tv_usec += b->tv_usec;
	if (a->tv_usec >= 1000000) {
		a->tv_sec++;
		a->tv_usec -= 1000000;
	}
}

/* Add the usage of a reaped child to the tree's. */
static void ru_add(struct rusage *sum, const struct rusage *ru)
{
	tv_add(&sum->ru_utime, &ru->ru_utime);
	tv_add(&sum->ru_stime, &ru->ru_stime);
	if (ru->ru_maxrss > sum->ru_maxrss)
		sum->ru_maxrss = ru->ru_maxrss;
	sum->ru_minflt += ru->ru_minflt;
	sum->ru_majflt += ru->ru_majflt;
	sum->ru_inblock += ru->ru_inblock;
	sum->ru_oublock += ru->ru_oublock;
	sum->ru_nvcsw += ru->ru_nvcsw;
	sum->ru_nivcsw += ru->ru_nivcsw;
}

_Noreturn static void fail(int sock, int step, int index, int err)
{
	send_msg(sock, SBX_MSG_SETUP_ERR, step, index, err, 0);
	_exit(126);
}

static int send_fd(int sock, int fd)
{
	struct sbx_msg m = { .type = SBX_MSG_LISTENER };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { &m, sizeof(m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *c;

	memset(u.buf, 0, sizeof(u.buf));
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(sock, &mh, MSG_NOSIGNAL) < 0 ? -1 : 0;
}

static int write_file(const char *path, const char *s)
{
	size_t n = strlen(s);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t w;

	if (fd < 0)
		return -1;
	w = write(fd, s, n);
	close(fd);
	return w == (ssize_t)n ? 0 : -1;
}

/* dst + "/" + name into buf (cap PATH_MAX). */
static const char *join(char *buf, const char *dst, const char *name)
{
	size_t a = strlen(dst), b = strlen(name);

	if (a + 1 + b + 1 > 4096)
		return dst; /* cannot happen: the plan's paths are checked */
	memcpy(buf, dst, a);
	buf[a] = '/';
	memcpy(buf + a + 1, name, b + 1);
	return buf;
}

/* Make the mount at path read-only (and nosuid, nodev), its submounts too if rec. */
static int ro_mount(const char *path, bool rec, unsigned long extra)
{
	struct mount_attr a = { .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID };
	struct statvfs sv;
	unsigned long fl;

	if (extra & MS_NODEV)
		a.attr_set |= MOUNT_ATTR_NODEV;
	if (syscall(SYS_mount_setattr, AT_FDCWD, path, rec ? AT_RECURSIVE : 0, &a, sizeof(a)) == 0)
		return 0;
	if (errno != ENOSYS)
		return -1;
	/* Before Linux 5.12: a remount, keeping the flags locked by the user namespace. */
	if (statvfs(path, &sv) < 0)
		return -1;
	fl = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | extra;
	if (sv.f_flag & ST_NODEV)
		fl |= MS_NODEV;
	if (sv.f_flag & ST_NOEXEC)
		fl |= MS_NOEXEC;
	if (sv.f_flag & ST_NOATIME)
		fl |= MS_NOATIME;
	if (sv.f_flag & ST_NODIRATIME)
		fl |= MS_NODIRATIME;
	if (sv.f_flag & ST_RELATIME)
		fl |= MS_RELATIME;
	return mount(NULL, path, NULL, fl, NULL);
}

static int mkdir_ok(const char *path, mode_t mode)
{
	return mkdir(path, mode) == 0 || errno == EEXIST ? 0 : -1;
}

/* A file to mount on: an empty regular file (mknod S_IFREG needs no privilege). */
static int mkfile_ok(const char *path)
{
	return mknod(path, S_IFREG | 0444, 0) == 0 || errno == EEXIST ? 0 : -1;
}

/* /dev/urandom as a file of the seed's stream; /dev/random is a link to it. */
static int make_random(const struct sbx_prep *p, const char *dev)
{
	char path[4096], path2[4096];
	ssize_t w;
	int fd;

	join(path, dev, "urandom");
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
	if (fd < 0)
		return -1;
	w = write(fd, p->random, SBX_RANDOM_FILE_SIZE);
	close(fd);
	if (w != SBX_RANDOM_FILE_SIZE) {
		errno = w < 0 ? errno : ENOSPC;
		return -1;
	}
	return link(path, join(path2, dev, "random"));
}

static int setup_dev(const struct sbx_prep *p, const char *dev)
{
	static const char *const nodes[] = { "null", "zero", "full", "random", "urandom" };
	static const char *const links[][2] = {
		{ "fd", "/proc/self/fd" },
		{ "stdin", "/proc/self/fd/0" },
		{ "stdout", "/proc/self/fd/1" },
		{ "stderr", "/proc/self/fd/2" },
	};
	bool random = p->random != NULL;
	char path[4096], src[4096];

	if (mkdir_ok(dev, 0755) < 0 ||
	    mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC | MS_NODEV, "mode=0755") < 0)
		return -1;
	for (size_t i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
		if (random && (!strcmp(nodes[i], "random") || !strcmp(nodes[i], "urandom")))
			continue;
		join(path, dev, nodes[i]);
		if (mkfile_ok(path) < 0 ||
		    mount(join(src, SBX_OLDROOT "/dev", nodes[i]), path, NULL, MS_BIND, NULL) < 0)
			return -1;
	}
	if (random && make_random(p, dev) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++)
		if (symlink(links[i][1], join(path, dev, links[i][0])) < 0)
			return -1;
	join(path, dev, "shm");
	if (mkdir_ok(path, 01777) < 0 ||
	    mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777") < 0)
		return -1;
	return 0;
}

static int apply_op(const struct sbx_prep *p, const struct sbx_op *op)
{
	char buf[4096];
	ssize_t n;

	switch (op->type) {
	case SBX_OP_MKDIR:
		return mkdir_ok(op->dst, 0755);
	case SBX_OP_BIND:
		if ((op->dir ? mkdir_ok(op->dst, 0755) : mkfile_ok(op->dst)) < 0)
			return -1;
		if (mount(op->src, op->dst, NULL, MS_BIND | (op->dir ? MS_REC : 0), NULL) < 0)
			return -1;
		return op->rw ? 0 : ro_mount(op->dst, op->dir, MS_NODEV);
	case SBX_OP_TMPFS:
		if (mkdir_ok(op->dst, 0755) < 0)
			return -1;
		return mount("tmpfs", op->dst, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
	case SBX_OP_SYMLINK:
		if (symlink(op->src, op->dst) == 0)
			return 0;
		if (errno != EEXIST)
			return -1;
		n = readlink(op->dst, buf, sizeof(buf) - 1);
		if (n < 0)
			return -1;
		buf[n] = '\0';
		if (strcmp(buf, op->src)) {
			errno = EEXIST;
			return -1;
		}
		return 0;
	case SBX_OP_DEV:
		return setup_dev(p, op->dst);
	case SBX_OP_PROC:
		if (mkdir_ok(op->dst, 0555) < 0)
			return -1;
		return mount("proc", op->dst, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	}
	errno = EINVAL;
	return -1;
}

static void setup_ns(const struct sbx_prep *p, int sock)
{
	const struct sbx_op *dev = NULL;

	umask(0);
	if ((write_file("/proc/self/setgroups", "deny") < 0 && errno != ENOENT) ||
	    write_file("/proc/self/uid_map", p->uid_map) < 0 ||
	    write_file("/proc/self/gid_map", p->gid_map) < 0)
		fail(sock, SBX_STEP_UIDMAP, 0, errno);
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		fail(sock, SBX_STEP_PRIVATE, 0, errno);
	/* The staging root: a tmpfs on /tmp (bubblewrap's choice), else on /run or /mnt. */
	for (size_t i = 0;; i++) {
		static const char *const bases[] = { "/tmp", "/run", "/mnt" };

		if (i == sizeof(bases) / sizeof(bases[0]))
			fail(sock, SBX_STEP_BASE, 0, errno);
		if (mount("tmpfs", bases[i], "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") == 0 &&
		    chdir(bases[i]) == 0)
			break;
	}
	if (mkdir(SBX_NEWROOT + 1, 0755) < 0 || mkdir(SBX_OLDROOT + 1, 0755) < 0 ||
	    mount(SBX_NEWROOT + 1, SBX_NEWROOT + 1, NULL, MS_BIND, NULL) < 0)
		fail(sock, SBX_STEP_BASE, 0, errno);
	if (syscall(SYS_pivot_root, ".", SBX_OLDROOT + 1) < 0 || chdir("/") < 0)
		fail(sock, SBX_STEP_PIVOT, 0, errno);
	for (size_t i = 0; i < p->n_ops; i++) {
		if (apply_op(p, &p->ops[i]) < 0)
			fail(sock, SBX_STEP_OP, (int)i, errno);
		if (p->ops[i].type == SBX_OP_DEV)
			dev = &p->ops[i];
	}
	/* /dev read-only only now: declared paths below it needed mount points. */
	if (dev && ro_mount(dev->dst, false, MS_NODEV | MS_NOEXEC) < 0)
		fail(sock, SBX_STEP_OP, (int)(dev - p->ops), errno);
	if (sethostname(p->hostname, strlen(p->hostname)) < 0)
		fail(sock, SBX_STEP_HOSTNAME, 0, errno);
	if (umount2(SBX_OLDROOT, MNT_DETACH) < 0 || chdir(SBX_NEWROOT) < 0 ||
	    syscall(SYS_pivot_root, ".", ".") < 0 || umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
		fail(sock, SBX_STEP_PIVOT, 1, errno);
	if (ro_mount("/", false, MS_NODEV) < 0)
		fail(sock, SBX_STEP_ROROOT, 0, errno);
}

/*
 * Kill every process the command left and reap them all, adding their usage to
 * sum, so that nothing but the init is left when it reports.  Level 1: every
 * process of the PID namespace (we are its init).  Levels 2 and 3: the command's
 * process group and every orphan reparented to us (we are a subreaper).
 */
static void kill_tree(const struct sbx_prep *p, pid_t cmd, struct rusage *sum)
{
	char buf[4096];
	struct rusage ru;

	if (p->level == SBX_LEVEL_NS) {
		kill(-1, SIGKILL);
		while (wait4(-1, NULL, 0, &ru) > 0)
			ru_add(sum, &ru);
		return;
	}
	kill(-cmd, SIGKILL);
	for (;;) {
		int fd = open("/proc/thread-self/children", O_RDONLY | O_CLOEXEC);
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
		pid_t pid = 0, r;

		if (fd >= 0)
			close(fd);
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] >= '0' && buf[i] <= '9') {
				pid = pid * 10 + (buf[i] - '0');
			} else if (pid) {
				kill(pid, SIGKILL);
				pid = 0;
			}
		}
		if (pid)
			kill(pid, SIGKILL);
		/* Without /proc/PID/task/TID/children (CONFIG_PROC_CHILDREN) only the group dies. */
		r = wait4(-1, NULL, fd >= 0 ? 0 : WNOHANG, &ru);
		if (r > 0)
			ru_add(sum, &ru);
		else if (errno == ECHILD || fd < 0)
			break;
	}
}

_Noreturn static void run_command(const struct sbx_prep *p, int sock)
{
	static char *const empty_env[] = { NULL };
	const struct sbx_plan *plan = p->plan;
	struct rlimit core = { 0, 0 };
	struct sigaction dfl;
	sigset_t none;

	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			(void)sigaction(sig, &dfl, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (p->level != SBX_LEVEL_NS)
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	(void)setsid();
	(void)setrlimit(RLIMIT_CORE, &core);
	umask(plan->umask);
	if (chdir(p->cwd) < 0)
		fail(sock, SBX_STEP_CHDIR, 0, errno);
	if (plan->flags & SBX_NO_ASLR) {
		int persona = personality(0xffffffff);

		if (persona != -1)
			(void)personality((unsigned long)persona | ADDR_NO_RANDOMIZE);
	}
	if (p->filter) {
		long fd;

		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
			fail(sock, SBX_STEP_SECCOMP, 0, errno);
		fd = syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER,
			     p->supervise ? SECCOMP_FILTER_FLAG_NEW_LISTENER : 0, p->filter);
		if (fd < 0)
			fail(sock, SBX_STEP_SECCOMP, 0, errno);
		if (p->supervise) {
			if (send_fd(sock, (int)fd) < 0)
				fail(sock, SBX_STEP_LISTENER, 0, errno);
			close((int)fd);
		}
	}
	execve(p->path, plan->argv, plan->envp ? plan->envp : empty_env);
	send_msg(sock, SBX_MSG_EXEC_ERR, 0, 0, errno, 0);
	_exit(127);
}

_Noreturn void sbx_child_main(const struct sbx_prep *p, int sock)
{
	int hi[4];
	sigset_t all, wait_set;
	struct rusage sum;
	struct sbx_msg m;
	int status = 0;
	pid_t cmd;

	/* stdio to 0, 1, 2 and the socket to 3, whatever numbers they had; nothing else. */
	for (int i = 0; i < 3; i++)
		if ((hi[i] = fcntl(p->stdio[i], F_DUPFD_CLOEXEC, 10)) < 0)
			fail(sock, SBX_STEP_STDIO, i, errno);
	if ((hi[3] = fcntl(sock, F_DUPFD_CLOEXEC, 10)) < 0)
		fail(sock, SBX_STEP_STDIO, 3, errno);
	for (int i = 0; i < 3; i++)
		if (dup2(hi[i], i) < 0)
			fail(sock, SBX_STEP_STDIO, i, errno);
	if (dup3(hi[3], 3, O_CLOEXEC) < 0)
		fail(sock, SBX_STEP_STDIO, 3, errno);
	sock = 3;
	if (syscall(SYS_close_range, 4U, ~0U, 0) < 0)
		for (int fd = 4; fd < 1024; fd++)
			close(fd);

	(void)prctl(PR_SET_PDEATHSIG, p->level == SBX_LEVEL_NS ? SIGKILL : SIGTERM);
	if (p->level == SBX_LEVEL_NS)
		setup_ns(p, sock);
	if (p->dry) {
		send_msg(sock, SBX_MSG_EXIT, 0, 0, 0, 0);
		_exit(0);
	}
	if (p->level != SBX_LEVEL_NS)
		(void)prctl(PR_SET_CHILD_SUBREAPER, 1);

	/*
	 * The signals we wait for must not be ignored: a caller's SIG_IGN for SIGCHLD
	 * would discard the signal (and reap children by itself) even while blocked.
	 */
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	{
		static const int waited[] = { SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT };
		struct sigaction dfl;

		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		for (size_t i = 0; i < sizeof(waited) / sizeof(waited[0]); i++)
			(void)sigaction(waited[i], &dfl, NULL);
	}
	cmd = (pid_t)syscall(SYS_clone, SIGCHLD, NULL, NULL, NULL, NULL);
	if (cmd == 0)
		run_command(p, sock);
	if (cmd < 0)
		fail(sock, SBX_STEP_FORK, 0, errno);

	memset(&sum, 0, sizeof(sum));
	sigemptyset(&wait_set);
	sigaddset(&wait_set, SIGCHLD);
	sigaddset(&wait_set, SIGTERM);
	sigaddset(&wait_set, SIGINT);
	sigaddset(&wait_set, SIGHUP);
	sigaddset(&wait_set, SIGQUIT);
	for (bool done = false; !done;) {
		siginfo_t si;
		int sig = sigwaitinfo(&wait_set, &si);
		struct rusage ru;
		pid_t r;
		int st;

		if (sig < 0)
			continue;
		if (sig != SIGCHLD) {
			/* Our caller timed out, was cancelled or died. */
			kill_tree(p, cmd, &sum);
			_exit(128 + sig);
		}
		while ((r = wait4(-1, &st, WNOHANG, &ru)) > 0) {
			ru_add(&sum, &ru);
			if (r == cmd) {
				status = st;
				done = true;
			}
		}
	}
	kill_tree(p, cmd, &sum);
	memset(&m, 0, sizeof(m));
	m.type = SBX_MSG_EXIT;
	m.status = status;
	m.ru = sum;
	(void)send(sock, &m, sizeof(m), MSG_NOSIGNAL);
	_exit(0);
}
