/*
 * sbx_child.c - the child of sbx_run: it applies the prepared plan and becomes the
 * init of the sandbox; its own child execs the command.
 *
 * Both are spawned the way posix_spawn spawns (clone(2) with CLONE_VM): the init
 * shares the caller's memory and runs on a stack of its own (sbx.c), the command
 * is cloned from the init with CLONE_VM | CLONE_VFORK on a second stack and
 * replaces that memory at execve.  Nothing of the caller's address space is
 * copied (a fork of a large, threaded caller cost more page-table copies and
 * copy-on-write faults, in both processes, than the whole level-1 setup), which
 * is why this file keeps to rules stricter than async-signal safety:
 *   - every system call is made raw (sys() below), never through a libc wrapper:
 *     the init shares the calling thread's TLS, so a wrapper's errno would be
 *     that thread's errno; results come back as -errno in a local;
 *   - no library function but the string functions the caller has already
 *     called (their lazy binding is resolved: a first call here would resolve it
 *     in shared memory on the caller thread's TLS), no malloc, no stdio, no locks;
 *   - nothing is written to memory but this stack and the descriptor table and
 *     signal state, which are the child's own (no CLONE_FILES, no CLONE_SIGHAND);
 *   - every signal stays blocked (the caller blocks them around the clone): a
 *     handler of the caller's must not run here, and a core dump would kill the
 *     caller too.  The command unblocks them just before execve, in a session of
 *     its own.
 * The prep (sbx_int.h) is read, never written; the caller keeps it until the init
 * has reported or been reaped.  Errors go to the parent as a struct sbx_msg naming
 * the step and the errno; the parent writes the message.
 *
 * Level 1, in the order applied (after bubblewrap's setup_newroot):
 *   uid/gid maps (setgroups denied), every mount private, a tmpfs on /tmp (or
 *   /run, /mnt) as a staging root holding newroot/ and oldroot/, pivot_root into
 *   it (the host's
 *   root is now /oldroot, sources are named /oldroot/...), the operations in sorted
 *   order under /newroot, /dev made read-only, the hostname, /oldroot detached,
 *   pivot_root into /newroot, the root made read-only.
 * Then, at every level: the init spawns the command and waits (see sbx.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
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
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/sbx_int.h"

#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif

/* The kernel's sigset_t for rt_sig*: 64 signals, one bit each (x86_64). */
typedef uint64_t ksigset;
#define KSIG(sig) (1ULL << ((sig) - 1))

/* struct sigaction as rt_sigaction(2) takes it on x86_64 (no restorer: SIG_DFL only). */
struct ksigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	ksigset mask;
};

/*
 * A raw system call: the result, or -errno.  It touches no memory but what the
 * call itself does (no errno).  x86_64 is what the filter supports; elsewhere the
 * libc's syscall(3) serves, whose errno is then shared with the caller's thread.
 */
static inline long sys6(long n, long a, long b, long c, long d, long e, long f)
{
#if defined(__x86_64__)
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
#else
	long ret = syscall(n, a, b, c, d, e, f);

	return ret < 0 ? -errno : ret;
#endif
}

#define SYS_(n, a, b, c, d, e, f, ...)                                                         \
	sys6((n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f))
#define sys(...) SYS_(__VA_ARGS__, 0, 0, 0, 0, 0, 0)

_Noreturn static void die_now(int status)
{
	for (;;)
		sys(SYS_exit_group, status);
}

static void send_msg(int sock, int type, int step, int index, int err, int status)
{
	struct sbx_msg m = { .type = type, .step = step, .index = index, .err = err,
			     .status = status };

	sys(SYS_sendto, sock, &m, sizeof(m), MSG_NOSIGNAL, NULL, 0);
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

/* err: a -errno */
_Noreturn static void fail(int sock, int step, int index, long err)
{
	send_msg(sock, SBX_MSG_SETUP_ERR, step, index, (int)-err, 0);
	die_now(126);
}

static long send_fd(int sock, int fd)
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
	long r;

	memset(u.buf, 0, sizeof(u.buf));
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	r = sys(SYS_sendmsg, sock, &mh, MSG_NOSIGNAL);
	return r < 0 ? r : 0;
}

static long write_file(const char *path, const char *s)
{
	size_t n = strlen(s);
	long fd = sys(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CLOEXEC), w;

	if (fd < 0)
		return fd;
	w = sys(SYS_write, fd, s, n);
	sys(SYS_close, fd);
	return w < 0 ? w : w == (long)n ? 0 : -EIO;
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
static long ro_mount(const char *path, bool rec, unsigned long extra)
{
	struct mount_attr a = { .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID };
	struct statfs sv;
	unsigned long fl;
	long r;

	if (extra & MS_NODEV)
		a.attr_set |= MOUNT_ATTR_NODEV;
	r = sys(SYS_mount_setattr, AT_FDCWD, path, rec ? AT_RECURSIVE : 0, &a, sizeof(a));
	if (r != -ENOSYS)
		return r;
	/* Before Linux 5.12: a remount, keeping the flags locked by the user namespace. */
	if ((r = sys(SYS_statfs, path, &sv)) < 0)
		return r;
	fl = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | extra;
	if (sv.f_flags & ST_NODEV)
		fl |= MS_NODEV;
	if (sv.f_flags & ST_NOEXEC)
		fl |= MS_NOEXEC;
	if (sv.f_flags & ST_NOATIME)
		fl |= MS_NOATIME;
	if (sv.f_flags & ST_NODIRATIME)
		fl |= MS_NODIRATIME;
	if (sv.f_flags & ST_RELATIME)
		fl |= MS_RELATIME;
	return sys(SYS_mount, NULL, path, NULL, fl, NULL);
}

static long mkdir_ok(const char *path, mode_t mode)
{
	long r = sys(SYS_mkdir, path, mode);

	return r == -EEXIST ? 0 : r;
}

/* A file to mount on: an empty regular file (mknod S_IFREG needs no privilege). */
static long mkfile_ok(const char *path)
{
	long r = sys(SYS_mknod, path, S_IFREG | 0444, 0);

	return r == -EEXIST ? 0 : r;
}

/* /dev/urandom as a file of the seed's stream; /dev/random is a link to it. */
static long make_random(const struct sbx_prep *p, const char *dev)
{
	char path[4096], path2[4096];
	long fd, w;

	join(path, dev, "urandom");
	fd = sys(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
	if (fd < 0)
		return fd;
	w = sys(SYS_write, fd, p->random, SBX_RANDOM_FILE_SIZE);
	sys(SYS_close, fd);
	if (w != SBX_RANDOM_FILE_SIZE)
		return w < 0 ? w : -ENOSPC;
	return sys(SYS_link, path, join(path2, dev, "random"));
}

static long setup_dev(const struct sbx_prep *p, const char *dev)
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
	long r;

	if ((r = mkdir_ok(dev, 0755)) < 0 ||
	    (r = sys(SYS_mount, "tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC | MS_NODEV,
		     "mode=0755")) < 0)
		return r;
	for (size_t i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
		if (random && (!strcmp(nodes[i], "random") || !strcmp(nodes[i], "urandom")))
			continue;
		join(path, dev, nodes[i]);
		if ((r = mkfile_ok(path)) < 0 ||
		    (r = sys(SYS_mount, join(src, SBX_OLDROOT "/dev", nodes[i]), path, NULL, MS_BIND,
			     NULL)) < 0)
			return r;
	}
	if (random && (r = make_random(p, dev)) < 0)
		return r;
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++)
		if ((r = sys(SYS_symlink, links[i][1], join(path, dev, links[i][0]))) < 0)
			return r;
	join(path, dev, "shm");
	if ((r = mkdir_ok(path, 01777)) < 0)
		return r;
	return sys(SYS_mount, "tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777");
}

static long apply_op(const struct sbx_prep *p, const struct sbx_op *op)
{
	char buf[4096];
	long r;

	switch (op->type) {
	case SBX_OP_MKDIR:
		return mkdir_ok(op->dst, 0755);
	case SBX_OP_BIND:
		if ((r = op->dir ? mkdir_ok(op->dst, 0755) : mkfile_ok(op->dst)) < 0)
			return r;
		if ((r = sys(SYS_mount, op->src, op->dst, NULL, MS_BIND | (op->dir ? MS_REC : 0),
			     NULL)) < 0)
			return r;
		return op->rw ? 0 : ro_mount(op->dst, op->dir, MS_NODEV);
	case SBX_OP_TMPFS:
		if ((r = mkdir_ok(op->dst, 0755)) < 0)
			return r;
		return sys(SYS_mount, "tmpfs", op->dst, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
	case SBX_OP_SYMLINK:
		if ((r = sys(SYS_symlink, op->src, op->dst)) != -EEXIST)
			return r;
		if ((r = sys(SYS_readlink, op->dst, buf, sizeof(buf) - 1)) < 0)
			return r;
		buf[r] = '\0';
		return strcmp(buf, op->src) ? -EEXIST : 0;
	case SBX_OP_DEV:
		return setup_dev(p, op->dst);
	case SBX_OP_PROC:
		if ((r = mkdir_ok(op->dst, 0555)) < 0)
			return r;
		return sys(SYS_mount, "proc", op->dst, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	}
	return -EINVAL;
}

static void setup_ns(const struct sbx_prep *p, int sock)
{
	const struct sbx_op *dev = NULL;
	long r;

	sys(SYS_umask, 0);
	if (((r = write_file("/proc/self/setgroups", "deny")) < 0 && r != -ENOENT) ||
	    (r = write_file("/proc/self/uid_map", p->uid_map)) < 0 ||
	    (r = write_file("/proc/self/gid_map", p->gid_map)) < 0)
		fail(sock, SBX_STEP_UIDMAP, 0, r);
	if ((r = sys(SYS_mount, NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) < 0)
		fail(sock, SBX_STEP_PRIVATE, 0, r);
	/* The staging root: a tmpfs on /tmp (bubblewrap's choice), else on /run or /mnt. */
	for (size_t i = 0;; i++) {
		static const char *const bases[] = { "/tmp", "/run", "/mnt" };

		if (i == sizeof(bases) / sizeof(bases[0]))
			fail(sock, SBX_STEP_BASE, 0, r);
		if ((r = sys(SYS_mount, "tmpfs", bases[i], "tmpfs", MS_NOSUID | MS_NODEV,
			     "mode=0755")) == 0 &&
		    (r = sys(SYS_chdir, bases[i])) == 0)
			break;
	}
	if ((r = sys(SYS_mkdir, SBX_NEWROOT + 1, 0755)) < 0 ||
	    (r = sys(SYS_mkdir, SBX_OLDROOT + 1, 0755)) < 0 ||
	    (r = sys(SYS_mount, SBX_NEWROOT + 1, SBX_NEWROOT + 1, NULL, MS_BIND, NULL)) < 0)
		fail(sock, SBX_STEP_BASE, 0, r);
	if ((r = sys(SYS_pivot_root, ".", SBX_OLDROOT + 1)) < 0 || (r = sys(SYS_chdir, "/")) < 0)
		fail(sock, SBX_STEP_PIVOT, 0, r);
	for (size_t i = 0; i < p->n_ops; i++) {
		if ((r = apply_op(p, &p->ops[i])) < 0)
			fail(sock, SBX_STEP_OP, (int)i, r);
		if (p->ops[i].type == SBX_OP_DEV)
			dev = &p->ops[i];
	}
	/* /dev read-only only now: declared paths below it needed mount points. */
	if (dev && (r = ro_mount(dev->dst, false, MS_NODEV | MS_NOEXEC)) < 0)
		fail(sock, SBX_STEP_OP, (int)(dev - p->ops), r);
	if ((r = sys(SYS_sethostname, p->hostname, strlen(p->hostname))) < 0)
		fail(sock, SBX_STEP_HOSTNAME, 0, r);
	if ((r = sys(SYS_umount2, SBX_OLDROOT, MNT_DETACH)) < 0 ||
	    (r = sys(SYS_chdir, SBX_NEWROOT)) < 0 || (r = sys(SYS_pivot_root, ".", ".")) < 0 ||
	    (r = sys(SYS_umount2, ".", MNT_DETACH)) < 0 || (r = sys(SYS_chdir, "/")) < 0)
		fail(sock, SBX_STEP_PIVOT, 1, r);
	if ((r = ro_mount("/", false, MS_NODEV)) < 0)
		fail(sock, SBX_STEP_ROROOT, 0, r);
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
		sys(SYS_kill, -1, SIGKILL);
		while (sys(SYS_wait4, -1, NULL, __WALL, &ru) > 0)
			ru_add(sum, &ru);
		return;
	}
	sys(SYS_kill, -cmd, SIGKILL);
	for (;;) {
		long fd = sys(SYS_openat, AT_FDCWD, "/proc/thread-self/children", O_RDONLY | O_CLOEXEC);
		long n = fd >= 0 ? sys(SYS_read, fd, buf, sizeof(buf) - 1) : -1, r;
		pid_t pid = 0;

		if (fd >= 0)
			sys(SYS_close, fd);
		for (long i = 0; i < n; i++) {
			if (buf[i] >= '0' && buf[i] <= '9') {
				pid = pid * 10 + (buf[i] - '0');
			} else if (pid) {
				sys(SYS_kill, pid, SIGKILL);
				pid = 0;
			}
		}
		if (pid)
			sys(SYS_kill, pid, SIGKILL);
		/* Without /proc/PID/task/TID/children (CONFIG_PROC_CHILDREN) only the group dies. */
		r = sys(SYS_wait4, -1, NULL, __WALL | (fd >= 0 ? 0 : WNOHANG), &ru);
		if (r > 0)
			ru_add(sum, &ru);
		else if (r == -ECHILD || fd < 0)
			break;
	}
}

struct cmd_arg {
	const struct sbx_prep *p;
	int sock;
};

/* The command, cloned with CLONE_VM | CLONE_VFORK: the init waits until execve. */
static int run_command(void *arg)
{
	const struct sbx_prep *p = ((const struct cmd_arg *)arg)->p;
	int sock = ((const struct cmd_arg *)arg)->sock;
	static char *const empty_env[] = { NULL };
	const struct sbx_plan *plan = p->plan;
	struct rlimit core = { 0, 0 };
	struct ksigaction dfl = { .handler = SIG_DFL };
	ksigset none = 0;
	long r;

	/*
	 * Every signal is blocked (the init's mask) until execve: a default action
	 * that dumps core here would take the caller with it (a core dump kills every
	 * process sharing the memory).  The command's own session first, so that no
	 * terminal signal reaches it; then every disposition back to the default (exec
	 * keeps ignored signals ignored); the mask is emptied just before execve.
	 */
	sys(SYS_setsid);
	for (int sig = 1; sig <= 64; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			sys(SYS_rt_sigaction, sig, &dfl, NULL, sizeof(ksigset));
	if (p->level != SBX_LEVEL_NS)
		sys(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	sys(SYS_prlimit64, 0, RLIMIT_CORE, &core, NULL);
	sys(SYS_umask, plan->umask);
	if ((r = sys(SYS_chdir, p->cwd)) < 0)
		fail(sock, SBX_STEP_CHDIR, 0, r);
	if (plan->flags & SBX_NO_ASLR) {
		long persona = sys(SYS_personality, 0xffffffff);

		if (persona >= 0)
			sys(SYS_personality, (unsigned long)persona | ADDR_NO_RANDOMIZE);
	}
	if (p->filter) {
		long fd;

		if ((r = sys(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) < 0)
			fail(sock, SBX_STEP_SECCOMP, 0, r);
		fd = sys(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
			 p->supervise ? SECCOMP_FILTER_FLAG_NEW_LISTENER : 0, p->filter);
		if (fd < 0)
			fail(sock, SBX_STEP_SECCOMP, 0, fd);
		if (p->supervise) {
			if ((r = send_fd(sock, (int)fd)) < 0)
				fail(sock, SBX_STEP_LISTENER, 0, r);
			sys(SYS_close, fd);
		}
	}
	sys(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof(ksigset));
	r = sys(SYS_execve, p->path, plan->argv, plan->envp ? plan->envp : empty_env);
	send_msg(sock, SBX_MSG_EXEC_ERR, 0, 0, (int)-r, 0);
	die_now(127);
}

_Noreturn static void child_main(const struct sbx_child_arg *a)
{
	const struct sbx_prep *p = a->p;
	int hi[4], sock = a->sock, status = 0;
	ksigset all = ~0ULL, wait_set;
	struct cmd_arg ca;
	struct rusage sum;
	struct sbx_msg m;
	long cmd, r;

	if (a->close_fd >= 0)
		sys(SYS_close, a->close_fd);
	/* stdio to 0, 1, 2 and the socket to 3, whatever numbers they had; nothing else. */
	for (int i = 0; i < 3; i++)
		if ((r = hi[i] = (int)sys(SYS_fcntl, p->stdio[i], F_DUPFD_CLOEXEC, 10)) < 0)
			fail(sock, SBX_STEP_STDIO, i, r);
	if ((r = hi[3] = (int)sys(SYS_fcntl, sock, F_DUPFD_CLOEXEC, 10)) < 0)
		fail(sock, SBX_STEP_STDIO, 3, r);
	for (int i = 0; i < 3; i++)
		if ((r = sys(SYS_dup2, hi[i], i)) < 0)
			fail(sock, SBX_STEP_STDIO, i, r);
	if ((r = sys(SYS_dup3, hi[3], 3, O_CLOEXEC)) < 0)
		fail(sock, SBX_STEP_STDIO, 3, r);
	sock = 3;
	if (sys(SYS_close_range, 4U, ~0U, 0) < 0)
		for (int fd = 4; fd < 1024; fd++)
			sys(SYS_close, fd);

	sys(SYS_prctl, PR_SET_PDEATHSIG, p->level == SBX_LEVEL_NS ? SIGKILL : SIGTERM, 0, 0, 0);
	if (p->level == SBX_LEVEL_NS)
		setup_ns(p, sock);
	if (p->dry) {
		send_msg(sock, SBX_MSG_EXIT, 0, 0, 0, 0);
		die_now(0);
	}
	if (p->level != SBX_LEVEL_NS)
		sys(SYS_prctl, PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

	/*
	 * Every signal has been blocked since the clone (sbx.c blocks them around it):
	 * no handler of the caller's ever runs here, the init takes signals with
	 * sigwaitinfo only.  The signals we wait for must not be ignored: a caller's
	 * SIG_IGN for SIGCHLD would discard the signal (and reap children by itself)
	 * even while blocked.
	 */
	sys(SYS_rt_sigprocmask, SIG_SETMASK, &all, NULL, sizeof(ksigset));
	{
		static const int waited[] = { SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT };
		struct ksigaction dfl = { .handler = SIG_DFL };

		for (size_t i = 0; i < sizeof(waited) / sizeof(waited[0]); i++)
			sys(SYS_rt_sigaction, waited[i], &dfl, NULL, sizeof(ksigset));
	}
	ca.p = p;
	ca.sock = sock;
	/* The libc's clone (resolved: the caller used it) writes errno only on failure. */
	cmd = clone(run_command, a->cmd_stack, CLONE_VM | CLONE_VFORK | SIGCHLD, &ca);
	if (cmd < 0)
		fail(sock, SBX_STEP_FORK, 0, -EAGAIN);

	memset(&sum, 0, sizeof(sum));
	wait_set = KSIG(SIGCHLD) | KSIG(SIGTERM) | KSIG(SIGINT) | KSIG(SIGHUP) | KSIG(SIGQUIT);
	for (bool done = false; !done;) {
		siginfo_t si;
		long sig = sys(SYS_rt_sigtimedwait, &wait_set, &si, NULL, sizeof(ksigset));
		struct rusage ru;
		int st;

		if (sig < 0)
			continue;
		if (sig != SIGCHLD) {
			/* Our caller timed out, was cancelled or died. */
			kill_tree(p, (pid_t)cmd, &sum);
			die_now(128 + (int)sig);
		}
		while ((r = sys(SYS_wait4, -1, &st, WNOHANG | __WALL, &ru)) > 0) {
			ru_add(&sum, &ru);
			if (r == cmd) {
				status = st;
				done = true;
			}
		}
	}
	kill_tree(p, (pid_t)cmd, &sum);
	memset(&m, 0, sizeof(m));
	m.type = SBX_MSG_EXIT;
	m.status = status;
	m.ru = sum;
	sys(SYS_sendto, sock, &m, sizeof(m), MSG_NOSIGNAL, NULL, 0);
	die_now(0);
}

int sbx_child_entry(void *arg)
{
	child_main(arg);
}

int sbx_mid_entry(void *arg)
{
	struct sbx_mid_arg *m = arg;
	long r, pid;

	if ((r = sys(SYS_setns, m->userfd, CLONE_NEWUSER)) < 0 ||
	    (r = sys(SYS_setns, m->netfd, CLONE_NEWNET)) < 0) {
		m->err = (int)r;
		die_now(1);
	}
	/* The caller is suspended (CLONE_VFORK): the libc's errno is ours to write. */
	pid = clone(sbx_child_entry, m->stack, (int)m->flags, m->child, m->pidfd, NULL, m->tid);
	if (pid < 0)
		m->err = -errno;
	else
		m->pid = (int)pid;
	die_now(0);
}

int sbx_netns_helper_entry(void *arg)
{
	const int *fds = arg; /* the pipe: read end, write end */
	char c;

	sys(SYS_close, fds[1]);
	sys(SYS_read, fds[0], &c, 1);
	die_now(0);
}
