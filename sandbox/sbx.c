/*
 * sbx.c - sbx_probe and sbx_run: choose the level, compile the plan (sbx_plan.c),
 * clone the child (sbx_child.c), then supervise and wait.
 *
 * The waiting loop of sbx_run has these states:
 *   running   poll(2) on the init's pidfd, the child's socket (messages: the
 *             seccomp listener, setup and exec errors, the command's status), the
 *             listener (notifications for the supervisor) and plan->cancel_fd,
 *             with the timeout as poll's deadline;
 *   killing   after the timeout or a cancellation: level 1 SIGKILLs the init (the
 *             PID namespace dies with it); levels 2 and 3 send SIGTERM, on which
 *             the init kills the tree and exits, and SIGKILL it 2 s later if not;
 *   reported  the init sent SBX_MSG_EXIT: the command exited and the init has
 *             killed and reaped everything else (its report carries the tree's
 *             rusage).  The result is written at once; the init itself, still
 *             exiting (at level 1 the kernel tears down its namespaces, ~2 ms
 *             here), is reaped by a later call (defer_reap);
 *   reaped    the pidfd became readable without a report (setup error, timeout,
 *             cancellation, a killed init): wait4 reaps it, the socket is drained.
 * Invariant: the supervisor keeps answering in every state until the report or
 * the reap, so no target stays blocked in a notification; after either, no
 * process of the command is alive.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runtime/lib/util.h"
#include "sandbox/sbx_int.h"

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef SECCOMP_ADDFD_FLAG_SEND
#define SECCOMP_ADDFD_FLAG_SEND (1UL << 1)
#endif

/* Linux 6.6: wake the supervisor synchronously, on the target's CPU (seccomp(2)). */
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

#define KILL_GRACE_NS (2ULL * 1000000000ULL)

const char *sbx_level_name(int level)
{
	switch (level) {
	case SBX_LEVEL_NS:
		return "1 (namespaces + seccomp)";
	case SBX_LEVEL_SECCOMP:
		return "2 (seccomp only)";
	case SBX_LEVEL_NONE:
		return "3 (no isolation)";
	default:
		return "none";
	}
}

/* fork(2) as a raw clone: no atfork handlers run in a threaded caller's child. */
static pid_t raw_clone(unsigned long flags, int *pidfd)
{
	return (pid_t)syscall(SYS_clone, flags | CLONE_PIDFD | SIGCHLD, NULL, pidfd, NULL, NULL);
}

/*
 * Stacks for the inits, which share the caller's memory (sbx_child.c).  One
 * mapping per init: a guard page, the intermediate's stack (a leased network
 * namespace, below), a guard page, the command's stack (used until its execve),
 * a guard page, the init's stack.  A stack is busy from stack_get until the kernel
 * clears its `tid` word when the init's use of the memory ends
 * (CLONE_CHILD_CLEARTID: at its exit, before its namespaces are torn down), so an
 * init still exiting after sbx_run returned keeps its stack.  Mappings are
 * reused, never unmapped; there are at most as many as inits alive at once
 * (threads in sbx_run plus DEFER_MAX exiting).
 */
/*
 * A stack is reused, and the frames left on it by a process that never returned
 * (the init exits from inside them) keep AddressSanitizer's poisoned redzones:
 * cleared before each reuse (make check builds with ASan).
 */
#if defined(__SANITIZE_ADDRESS__)
#define SBX_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SBX_ASAN 1
#endif
#endif
#ifdef SBX_ASAN
#include <sanitizer/asan_interface.h>
#define STACK_UNPOISON(p, n) __asan_unpoison_memory_region((p), (n))
#else
#define STACK_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define STACK_GUARD 4096
#define STACK_MID (16 * 1024)
#define STACK_CMD (64 * 1024)
#define STACK_INIT (128 * 1024)
#define STACK_CMD_AT (STACK_GUARD + STACK_MID + STACK_GUARD)
#define STACK_SIZE (STACK_CMD_AT + STACK_CMD + STACK_GUARD + STACK_INIT)
#define STACKS_MAX 1024

struct init_stack {
	char *base;
	pid_t tid; /* 0: free; set to -1 by stack_get, cleared by the kernel */
};

static pthread_mutex_t stack_lock = PTHREAD_MUTEX_INITIALIZER;
static struct init_stack *stacks[STACKS_MAX];
static size_t n_stacks;

static struct init_stack *stack_get(void)
{
	struct init_stack *s = NULL;
	char *base;

	pthread_mutex_lock(&stack_lock);
	for (size_t i = 0; i < n_stacks; i++) {
		if (__atomic_load_n(&stacks[i]->tid, __ATOMIC_ACQUIRE) == 0) {
			s = stacks[i];
			goto out_take;
		}
	}
	if (n_stacks == STACKS_MAX || !(s = calloc(1, sizeof(*s))))
		goto out_unlock;
	base = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED || mprotect(base, STACK_GUARD, PROT_NONE) < 0 ||
	    mprotect(base + STACK_GUARD + STACK_MID, STACK_GUARD, PROT_NONE) < 0 ||
	    mprotect(base + STACK_CMD_AT + STACK_CMD, STACK_GUARD, PROT_NONE) < 0) {
		if (base != MAP_FAILED)
			munmap(base, STACK_SIZE);
		free(s);
		s = NULL;
		goto out_unlock;
	}
	s->base = base;
	stacks[n_stacks++] = s;
out_take:
	STACK_UNPOISON(s->base, STACK_SIZE);
	__atomic_store_n(&s->tid, -1, __ATOMIC_RELEASE);
out_unlock:
	pthread_mutex_unlock(&stack_lock);
	return s;
}

/* A stack whose clone failed: nobody will clear its word. */
static void stack_put(struct init_stack *s)
{
	__atomic_store_n(&s->tid, 0, __ATOMIC_RELEASE);
}

/*
 * Network namespaces, leased.  A fresh network namespace per run costs about
 * 0.5 ms in clone(2) and as much again in the kernel worker that tears it down
 * (cleanup_net), on this project's VM.  A level-1 run leases one instead: an
 * empty network namespace (only `lo`, down) owned by a user namespace U0 of this
 * process (identity-mapped: the caller's euid and egid only), made on first need
 * and reused by later runs, ONE run at a time: concurrent runs never share one
 * (no abstract socket name is seen by two running commands).  The init is
 * cloned from inside U0 (an intermediate process setns(2)es into U0 and the
 * network namespace, then clones the init with CLONE_PARENT), so the command's
 * user namespace is a child of U0 and has no capability over the network
 * namespace: it can configure no interface, sysctl or netfilter rule, so what a
 * command leaves there is only what dies with its processes (sockets), and they
 * are all dead before the run reports and the lease is given back.  If a lease
 * cannot be made or used (the probe tries: an old kernel, a policy refusing
 * setns), every run gets a fresh namespace (CLONE_NEWNET).
 */
#define NETNS_MAX 256

struct netns {
	int userfd, netfd; /* /proc/PID/ns/{user,net} of the helper that made them */
	bool busy;
};

static pthread_mutex_t netns_lock = PTHREAD_MUTEX_INITIALIZER;
static struct netns netns_v[NETNS_MAX];
static size_t n_netns;
static bool netns_off;

/*
 * Block every signal in this thread around a clone of a child that shares our
 * memory (the child inherits the mask: sbx_child.c); *old gets the mask to restore.
 */
static void block_all(sigset_t *old)
{
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, old);
}

static int write_proc(pid_t pid, const char *name, const char *s)
{
	char path[64];
	size_t n = strlen(s);
	int fd, ret = 0;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0)
		return -errno;
	if (write(fd, s, n) != (ssize_t)n)
		ret = -EIO;
	close(fd);
	return ret;
}

static int open_ns(pid_t pid, const char *name)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)pid, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* Make U0 and its network namespace into *n, with a helper that lives meanwhile. */
static int netns_make(struct netns *n)
{
	static char stack[16 * 1024] __attribute__((aligned(16))); /* under netns_lock */
	char map[64];
	int fds[2], ret, st;
	sigset_t mask;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	STACK_UNPOISON(stack, sizeof(stack));
	block_all(&mask);
	pid = clone(sbx_netns_helper_entry, stack + sizeof(stack),
		    CLONE_VM | CLONE_NEWUSER | CLONE_NEWNET | SIGCHLD, fds);
	ret = pid < 0 ? -errno : 0;
	pthread_sigmask(SIG_SETMASK, &mask, NULL);
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return ret;
	}
	close(fds[0]);
	n->userfd = n->netfd = -1;
	snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)geteuid(), (unsigned)geteuid());
	if ((ret = write_proc(pid, "uid_map", map)) < 0)
		goto out_reap;
	if ((ret = write_proc(pid, "setgroups", "deny")) < 0 && ret != -ENOENT)
		goto out_reap;
	snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)getegid(), (unsigned)getegid());
	if ((ret = write_proc(pid, "gid_map", map)) < 0)
		goto out_reap;
	if ((ret = n->userfd = open_ns(pid, "user")) < 0 || (ret = n->netfd = open_ns(pid, "net")) < 0)
		goto out_reap;
	ret = 0;
out_reap:
	close(fds[1]); /* the helper exits */
	while (waitpid(pid, &st, __WALL) < 0 && errno == EINTR)
		;
	if (ret < 0) {
		if (n->userfd >= 0)
			close(n->userfd);
		if (n->netfd >= 0)
			close(n->netfd);
		n->userfd = n->netfd = -1;
	}
	return ret;
}

/* A free lease, made if needed; NULL: use a fresh namespace. */
static struct netns *netns_take(void)
{
	struct netns *n = NULL;

	pthread_mutex_lock(&netns_lock);
	if (netns_off)
		goto out_unlock;
	for (size_t i = 0; i < n_netns; i++)
		if (!netns_v[i].busy) {
			n = &netns_v[i];
			goto out_take;
		}
	if (n_netns == NETNS_MAX)
		goto out_unlock;
	if (netns_make(&netns_v[n_netns]) < 0) {
		netns_off = true;
		goto out_unlock;
	}
	n = &netns_v[n_netns++];
out_take:
	n->busy = true;
out_unlock:
	pthread_mutex_unlock(&netns_lock);
	return n;
}

static void netns_give(struct netns *n)
{
	if (!n)
		return;
	pthread_mutex_lock(&netns_lock);
	n->busy = false;
	pthread_mutex_unlock(&netns_lock);
}

/* Leases do not work here: every run from now on gets a fresh namespace. */
static void netns_disable(void)
{
	pthread_mutex_lock(&netns_lock);
	netns_off = true;
	pthread_mutex_unlock(&netns_lock);
}

/*
 * Start the init of a run: clone(2) with CLONE_VM on a stack of its own, the
 * namespace flags of the level, a pidfd; with a lease (nn), through the
 * intermediate, in the lease's network namespace.  The pid, or -errno.
 */
static pid_t spawn_init(unsigned long ns_flags, struct sbx_child_arg *a, int *pidfd,
			struct netns *nn)
{
	struct init_stack *s = stack_get();
	unsigned long flags = ns_flags | CLONE_VM | CLONE_PIDFD | CLONE_CHILD_CLEARTID;
	sigset_t mask;
	pid_t pid;

	if (!s)
		return -ENOMEM;
	a->cmd_stack = s->base + STACK_CMD_AT + STACK_CMD;
	block_all(&mask);
	if (nn) {
		struct sbx_mid_arg m = { .child = a, .userfd = nn->userfd, .netfd = nn->netfd,
					 .flags = (flags & ~(unsigned long)CLONE_NEWNET) | CLONE_PARENT,
					 .stack = s->base + STACK_SIZE, .pidfd = pidfd, .tid = &s->tid,
					 .pid = 0, .err = -EIO };
		pid_t mid = clone(sbx_mid_entry, s->base + STACK_GUARD + STACK_MID,
				  CLONE_VM | CLONE_FILES | CLONE_VFORK | SIGCHLD, &m);

		if (mid < 0) {
			pid = -errno;
		} else {
			/* Suspended until it exited (CLONE_VFORK): reap it. */
			while (waitpid(mid, NULL, __WALL) < 0 && errno == EINTR)
				;
			pid = m.pid > 0 ? m.pid : m.err < 0 ? m.err : -EIO;
		}
	} else {
		pid = clone(sbx_child_entry, s->base + STACK_SIZE, (int)(flags | SIGCHLD), a, pidfd,
			    NULL, &s->tid);
		if (pid < 0)
			pid = -errno;
	}
	pthread_sigmask(SIG_SETMASK, &mask, NULL);
	if (pid < 0)
		stack_put(s);
	return pid;
}

static int signal_pidfd(int pidfd, int sig)
{
	return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

/* Receive one message (and a descriptor) without blocking; 0 if none, -errno. */
static int recv_msg(int sock, struct sbx_msg *m, int *fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { m, sizeof(*m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *c;
	ssize_t n;

	*fd = -1;
	n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
	if (n == 0)
		return -EPIPE;
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			memcpy(fd, CMSG_DATA(c), sizeof(int));
	if ((size_t)n != sizeof(*m)) {
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		return -EPROTO;
	}
	return 1;
}

/* Append to res->notes ("; "-separated). */
static void note(struct sbx_result *res, const char *s)
{
	size_t n = strlen(res->notes);

	snprintf(res->notes + n, sizeof(res->notes) - n, "%s%s", n ? "; " : "", s);
}

/* The path as the sandbox sees it, from an operation's prefixed strings. */
static const char *strip(const char *s, const char *prefix)
{
	size_t n = strlen(prefix);

	return s && !strncmp(s, prefix, n) ? s + n : s;
}

static void setup_message(const struct sbx_prep *p, const struct sbx_msg *m, char *err,
			  size_t len)
{
	const char *e = strerror(m->err);
	const struct sbx_op *op;

	switch (m->step) {
	case SBX_STEP_UIDMAP:
		snprintf(err, len, "cannot write the user namespace's uid/gid map: %s", e);
		return;
	case SBX_STEP_PRIVATE:
		snprintf(err, len, "cannot make mounts private: %s", e);
		return;
	case SBX_STEP_BASE:
		snprintf(err, len, "cannot mount the staging tmpfs: %s", e);
		return;
	case SBX_STEP_PIVOT:
		snprintf(err, len, "cannot pivot to the new root: %s", e);
		return;
	case SBX_STEP_HOSTNAME:
		snprintf(err, len, "cannot set hostname '%s': %s", p->hostname, e);
		return;
	case SBX_STEP_ROROOT:
		snprintf(err, len, "cannot make the root read-only: %s", e);
		return;
	case SBX_STEP_CHDIR:
		snprintf(err, len, "cannot change directory to '%s': %s", p->cwd, e);
		return;
	case SBX_STEP_SECCOMP:
		snprintf(err, len, "cannot install the seccomp filter: %s", e);
		return;
	case SBX_STEP_LISTENER:
		snprintf(err, len, "cannot pass the seccomp listener: %s", e);
		return;
	case SBX_STEP_FORK:
		snprintf(err, len, "cannot fork the command: %s", e);
		return;
	case SBX_STEP_STDIO:
		snprintf(err, len, "cannot set up stdio: %s", e);
		return;
	case SBX_STEP_OP:
		break;
	default:
		snprintf(err, len, "sandbox setup failed: %s", e);
		return;
	}
	if (m->index < 0 || (size_t)m->index >= p->n_ops) {
		snprintf(err, len, "sandbox setup failed: %s", e);
		return;
	}
	op = &p->ops[m->index];
	switch (op->type) {
	case SBX_OP_MKDIR:
		snprintf(err, len, "cannot create directory '%s': %s", strip(op->dst, SBX_NEWROOT), e);
		break;
	case SBX_OP_BIND:
		snprintf(err, len, "cannot bind %s '%s' at '%s': %s", op->rw ? "output" : "input",
			 strip(op->src, SBX_OLDROOT), strip(op->dst, SBX_NEWROOT), e);
		break;
	case SBX_OP_TMPFS:
		snprintf(err, len, "cannot mount tmpfs at '%s': %s", strip(op->dst, SBX_NEWROOT), e);
		break;
	case SBX_OP_SYMLINK:
		snprintf(err, len, "cannot create symlink '%s' -> '%s': %s",
			 strip(op->dst, SBX_NEWROOT), op->src, e);
		break;
	case SBX_OP_DEV:
		snprintf(err, len, "cannot set up '%s': %s", strip(op->dst, SBX_NEWROOT), e);
		break;
	case SBX_OP_PROC:
		snprintf(err, len, "cannot mount proc at '%s': %s", strip(op->dst, SBX_NEWROOT), e);
		break;
	}
}

/* Open the command's stdio (plan paths, else fds, else /dev/null) into p->stdio. */
static int open_stdio(struct sbx_prep *p, int owned[3], char *err, size_t len)
{
	const struct sbx_plan *plan = p->plan;
	const char *paths[3] = { plan->stdin_path, plan->stdout_path, plan->stderr_path };
	const int fds[3] = { plan->stdin_fd, plan->stdout_fd, plan->stderr_fd };

	for (int i = 0; i < 3; i++) {
		owned[i] = -1;
		if (paths[i]) {
			if (i == 2 && paths[1] && !strcmp(paths[1], paths[2])) {
				p->stdio[2] = p->stdio[1];
				continue;
			}
			owned[i] = open(paths[i],
					i ? O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC : O_RDONLY | O_CLOEXEC,
					0644);
			if (owned[i] < 0) {
				snprintf(err, len, "cannot open %s '%s': %s",
					 i ? (i == 1 ? "stdout" : "stderr") : "stdin", paths[i],
					 strerror(errno));
				return -errno;
			}
			p->stdio[i] = owned[i];
		} else if (fds[i] >= 0) {
			p->stdio[i] = fds[i];
		} else {
			owned[i] = open("/dev/null", (i ? O_WRONLY : O_RDONLY) | O_CLOEXEC);
			if (owned[i] < 0) {
				snprintf(err, len, "cannot open '/dev/null': %s", strerror(errno));
				return -errno;
			}
			p->stdio[i] = owned[i];
		}
	}
	return 0;
}

/*
 * Inits that reported but had not finished exiting when sbx_run returned: their
 * namespaces are being torn down by the kernel (a few milliseconds at level 1,
 * spent in the exiting init), with no process of the command left.  They are
 * reaped by later calls; past DEFER_MAX the oldest is waited for.
 */
#define DEFER_MAX 64
static pthread_mutex_t defer_lock = PTHREAD_MUTEX_INITIALIZER;
static pid_t deferred[DEFER_MAX];
static size_t n_deferred;

/* Reap what has exited; with pid > 0, also remember pid.  Takes the lock. */
static void defer_reap(pid_t pid)
{
	size_t w = 0;

	pthread_mutex_lock(&defer_lock);
	for (size_t i = 0; i < n_deferred; i++) {
		pid_t r = waitpid(deferred[i], NULL, WNOHANG);

		if (r == 0 || (r < 0 && errno == EINTR))
			deferred[w++] = deferred[i];
	}
	n_deferred = w;
	if (pid > 0) {
		if (n_deferred == DEFER_MAX) {
			while (waitpid(deferred[0], NULL, 0) < 0 && errno == EINTR)
				;
			memmove(deferred, deferred + 1, (DEFER_MAX - 1) * sizeof(*deferred));
			n_deferred--;
		}
		deferred[n_deferred++] = pid;
	}
	pthread_mutex_unlock(&defer_lock);
}

void sbx_reap(void)
{
	pthread_mutex_lock(&defer_lock);
	for (size_t i = 0; i < n_deferred; i++)
		while (waitpid(deferred[i], NULL, 0) < 0 && errno == EINTR)
			;
	n_deferred = 0;
	pthread_mutex_unlock(&defer_lock);
}

/* What the child said so far. */
struct run_state {
	bool got_exit;  /* SBX_MSG_EXIT: status is the command's */
	bool got_err;   /* a setup or exec error: rc and res->err are set */
	int status;
	int rc;
};

static void take_msg(const struct sbx_prep *p, const struct sbx_msg *m, struct run_state *st,
		     struct sbx_result *res)
{
	if (m->type == SBX_MSG_EXIT && !st->got_exit) {
		st->got_exit = true;
		st->status = m->status;
		res->rusage = m->ru;
	} else if ((m->type == SBX_MSG_SETUP_ERR || m->type == SBX_MSG_EXEC_ERR) && !st->got_err) {
		st->got_err = true;
		st->rc = m->err > 0 ? -m->err : -EIO;
		if (m->type == SBX_MSG_SETUP_ERR)
			setup_message(p, m, res->err, sizeof(res->err));
		else
			snprintf(res->err, sizeof(res->err), "cannot execute '%s': %s", p->path,
				 strerror(m->err));
	}
}

/* Take every pending message (descriptors among them are closed). */
static void drain(int sock, const struct sbx_prep *p, struct run_state *st, struct sbx_result *res)
{
	struct sbx_msg m;
	int fd;

	while (recv_msg(sock, &m, &fd) > 0) {
		if (fd >= 0)
			close(fd);
		take_msg(p, &m, st, res);
	}
}

/*
 * Fork the child for the prepared plan and wait for it (see the states above).
 * caps_addfd: the supervisor may use ADDFD.
 */
static int run_prepared(struct sbx_prep *p, bool caps_addfd, struct sbx_result *res)
{
	const struct sbx_plan *plan = p->plan;
	unsigned long flags = 0;
	int sv[2] = { -1, -1 }, owned[3] = { -1, -1, -1 };
	int pidfd = -1, listener = -1, rc = 0;
	bool killed = false, cancelled = false, reaped = false;
	uint64_t t0 = clock_now_ns(), deadline = 0, kill_at = 0;
	struct run_state st = { 0 };
	struct sbx_sup *sup = NULL;
	struct sbx_child_arg child;
	struct netns *nn = NULL;
	struct sbx_msg m;
	pid_t pid;

	if ((rc = open_stdio(p, owned, res->err, sizeof(res->err))) < 0)
		goto out_close;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		rc = -errno;
		snprintf(res->err, sizeof(res->err), "cannot create socket pair: %s", strerror(errno));
		goto out_close;
	}
	if (p->supervise && !(sup = sbx_sup_new(p, res, caps_addfd))) {
		rc = -ENOMEM;
		snprintf(res->err, sizeof(res->err), "out of memory");
		goto out_close;
	}
	if (p->level == SBX_LEVEL_NS) {
		flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC |
			CLONE_NEWPID | CLONE_NEWCGROUP;
		nn = netns_take();
	}
	if (plan->timeout_ms)
		deadline = t0 + (uint64_t)plan->timeout_ms * 1000000ULL;
	child.p = p;
	child.sock = sv[1];
	child.close_fd = sv[0];
	pid = spawn_init(flags, &child, &pidfd, nn);
	if (pid < 0 && nn) {
		/* the lease cannot be used here (setns refused): fresh namespaces from now on */
		netns_give(nn);
		nn = NULL;
		netns_disable();
		pid = spawn_init(flags, &child, &pidfd, NULL);
	}
	if (pid < 0) {
		rc = pid;
		snprintf(res->err, sizeof(res->err), "cannot clone the sandbox: %s", strerror(-rc));
		goto out_close;
	}
	close(sv[1]);
	sv[1] = -1;

	while (!reaped && !st.got_exit) {
		struct pollfd pf[4];
		int n = 0, wait_ms = -1, li = -1, ci = -1;
		uint64_t now = clock_now_ns(), next = 0;

		pf[n++] = (struct pollfd){ .fd = pidfd, .events = POLLIN };
		pf[n++] = (struct pollfd){ .fd = sv[0], .events = POLLIN };
		if (listener >= 0) {
			li = n;
			pf[n++] = (struct pollfd){ .fd = listener, .events = POLLIN };
		}
		if (plan->cancel_fd >= 0 && !killed) {
			ci = n;
			pf[n++] = (struct pollfd){ .fd = plan->cancel_fd, .events = POLLIN };
		}
		if (deadline && !killed)
			next = deadline;
		if (kill_at)
			next = kill_at;
		if (next)
			wait_ms = next > now ? (int)((next - now + 999999) / 1000000) : 0;
		if (poll(pf, (nfds_t)n, wait_ms) < 0) {
			if (errno == EINTR)
				continue;
			/* Cannot wait for events (ENOMEM): kill, reap, report. */
			st.rc = -errno;
			snprintf(res->err, sizeof(res->err), "poll: %s", strerror(errno));
			signal_pidfd(pidfd, SIGKILL);
			while (wait4(pid, NULL, 0, &res->rusage) < 0 && errno == EINTR)
				;
			reaped = killed = st.got_err = true;
			break;
		}
		/* Messages first: the listener arrives before the first notification. */
		for (;;) {
			int fd, r = recv_msg(sv[0], &m, &fd);

			if (r <= 0)
				break;
			if (m.type == SBX_MSG_LISTENER && fd >= 0 && listener < 0 && sup) {
				listener = fd;
				/* Older kernels: EINVAL, and the ordinary wake-up. */
				(void)ioctl(listener, SECCOMP_IOCTL_NOTIF_SET_FLAGS,
					    SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP);
				continue;
			}
			if (fd >= 0)
				close(fd);
			take_msg(p, &m, &st, res);
		}
		if (li >= 0 && listener >= 0 && (pf[li].revents & (POLLIN | POLLHUP | POLLERR))) {
			int r = (pf[li].revents & POLLIN) ? sbx_sup_handle(sup, listener) : 0;

			if (r < 0) {
				char why[128];

				snprintf(why, sizeof(why), "supervisor stopped: %s", strerror(-r));
				note(res, why);
			}
			if (r < 0 || !(pf[li].revents & POLLIN)) {
				/* POLLHUP: no task uses the filter any more. */
				close(listener);
				listener = -1;
			}
		}
		if (ci >= 0 && (pf[ci].revents & (POLLIN | POLLHUP | POLLERR)) && !killed) {
			cancelled = killed = true;
			signal_pidfd(pidfd, p->level == SBX_LEVEL_NS ? SIGKILL : SIGTERM);
			kill_at = p->level == SBX_LEVEL_NS ? 0 : clock_now_ns() + KILL_GRACE_NS;
		}
		now = clock_now_ns();
		if (deadline && !killed && !st.got_exit && now >= deadline) {
			res->timed_out = killed = true;
			signal_pidfd(pidfd, p->level == SBX_LEVEL_NS ? SIGKILL : SIGTERM);
			kill_at = p->level == SBX_LEVEL_NS ? 0 : now + KILL_GRACE_NS;
		}
		if (kill_at && now >= kill_at) {
			signal_pidfd(pidfd, SIGKILL);
			kill_at = 0;
		}
		if (!st.got_exit && (pf[0].revents & POLLIN)) {
			int ws;
			pid_t r = wait4(pid, &ws, 0, &res->rusage);

			if (r == pid || (r < 0 && errno == ECHILD))
				reaped = true;
			/* Its last words may have arrived with its death. */
			drain(sv[0], p, &st, res);
			if (r == pid && !killed && !p->dry) {
				if (!st.got_exit && !st.got_err) {
					st.got_err = true;
					st.rc = -EIO;
					snprintf(res->err, sizeof(res->err),
						 "the sandbox's init died (%s %d)",
						 WIFSIGNALED(ws) ? "signal" : "status",
						 WIFSIGNALED(ws) ? WTERMSIG(ws) : WEXITSTATUS(ws));
				}
			}
		}
	}
	drain(sv[0], p, &st, res);
	sbx_sup_finish(sup);
	/* Nothing of the command is left: the init's own exit need not be waited for. */
	if (!reaped)
		defer_reap(pid);
	res->wall_ns = clock_now_ns() - t0;
	if (cancelled) {
		rc = -ECANCELED;
		snprintf(res->err, sizeof(res->err), "cancelled");
	} else if (st.got_err) {
		rc = st.rc;
	} else if (st.got_exit) {
		/* It finished: a deadline passed meanwhile does not make it a timeout. */
		res->timed_out = false;
		if (WIFSIGNALED(st.status)) {
			res->signal = WTERMSIG(st.status);
		} else {
			res->exited = true;
			res->status = WEXITSTATUS(st.status);
		}
	} else if (res->timed_out) {
		res->signal = SIGKILL;
	} else {
		rc = -EIO;
		snprintf(res->err, sizeof(res->err), "the sandbox ended without a status");
	}
out_close:
	/* reported or reaped: no process of the command is left in the lease */
	netns_give(nn);
	if (listener >= 0)
		close(listener);
	if (pidfd >= 0)
		close(pidfd);
	for (int i = 0; i < 2; i++)
		if (sv[i] >= 0)
			close(sv[i]);
	for (int i = 0; i < 3; i++)
		if (owned[i] >= 0)
			close(owned[i]);
	sbx_sup_free(sup);
	return rc;
}

/* ---- the probe ---- */

static pthread_once_t probe_once = PTHREAD_ONCE_INIT;
static struct sbx_caps probe_caps;

/* In the probe's child: a filter notifying getppid and dup; report what worked. */
_Noreturn static void seccomp_probe_child(int sock)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_getppid, 2, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_dup, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
	};
	struct sock_filter allow[] = { BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW) };
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };
	struct sock_fprog prog_allow = { .len = 1, .filter = allow };
	struct sbx_msg m = { .type = SBX_MSG_EXIT };
	long ppid = syscall(__NR_getppid), fd, r;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		m.err = errno;
		goto out_send;
	}
	fd = syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
	if (fd < 0) {
		m.err = errno;
		if (syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog_allow) == 0)
			m.status = 1;
		goto out_send;
	}
	m.status = 1;
	{
		struct sbx_msg l = { .type = SBX_MSG_LISTENER };
		union {
			char buf[CMSG_SPACE(sizeof(int))];
			struct cmsghdr align;
		} u;
		struct iovec iov = { &l, sizeof(l) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
				     .msg_controllen = sizeof(u.buf) };
		struct cmsghdr *c;
		int ifd = (int)fd;

		memset(u.buf, 0, sizeof(u.buf));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &ifd, sizeof(int));
		if (sendmsg(sock, &mh, MSG_NOSIGNAL) < 0) {
			m.err = errno;
			goto out_send;
		}
		close(ifd);
	}
	r = syscall(__NR_getppid);
	if (r == ppid)
		m.status |= 2;
	else
		m.err = r < 0 ? errno : EPROTO;
	r = syscall(__NR_dup, -1);
	if (r >= 0 && fcntl((int)r, F_GETFD) >= 0)
		m.status |= 4;
out_send:
	(void)send(sock, &m, sizeof(m), MSG_NOSIGNAL);
	_exit(0);
}

/* Answer the probe child's notifications: getppid continues, dup gets /dev/null. */
static void seccomp_probe_answer(int listener)
{
	struct seccomp_notif_sizes sizes = { 0 };
	struct seccomp_notif *req;
	struct seccomp_notif_resp *resp;
	size_t rq, rs;

	if (syscall(__NR_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) < 0)
		memset(&sizes, 0, sizeof(sizes));
	rq = sizes.seccomp_notif > sizeof(*req) ? sizes.seccomp_notif : sizeof(*req);
	rs = sizes.seccomp_notif_resp > sizeof(*resp) ? sizes.seccomp_notif_resp : sizeof(*resp);
	req = calloc(1, rq);
	resp = calloc(1, rs);
	if (!req || !resp)
		goto out_free;
	if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, req) < 0)
		goto out_free;
	resp->id = req->id;
	if (req->data.nr == __NR_dup) {
		struct seccomp_notif_addfd add = { .id = req->id, .flags = SECCOMP_ADDFD_FLAG_SEND };
		int nfd = open("/dev/null", O_RDONLY | O_CLOEXEC);

		add.srcfd = (uint32_t)(nfd < 0 ? 0 : nfd);
		if (nfd >= 0 && ioctl(listener, SECCOMP_IOCTL_NOTIF_ADDFD, &add) >= 0) {
			close(nfd);
			goto out_free;
		}
		if (nfd >= 0)
			close(nfd);
		resp->error = -ENOSYS;
	} else {
		resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
	}
	(void)ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, resp);
out_free:
	free(req);
	free(resp);
}

static void probe_seccomp(struct sbx_caps *c)
{
	int sv[2], pidfd = -1, listener = -1, st;
	uint64_t deadline = clock_now_ns() + 5ULL * 1000000000ULL;
	struct sbx_msg m = { 0 };
	bool done = false;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		snprintf(c->why, sizeof(c->why), "seccomp probe: socketpair: %s", strerror(errno));
		return;
	}
	pid = raw_clone(0, &pidfd);
	if (pid == 0) {
		close(sv[0]);
		seccomp_probe_child(sv[1]);
	}
	close(sv[1]);
	if (pid < 0) {
		snprintf(c->why, sizeof(c->why), "seccomp probe: clone: %s", strerror(errno));
		close(sv[0]);
		return;
	}
	while (!done) {
		struct pollfd pf[2] = { { .fd = sv[0], .events = POLLIN },
					{ .fd = listener, .events = POLLIN } };
		uint64_t now = clock_now_ns();
		int fd;

		if (now >= deadline) {
			signal_pidfd(pidfd, SIGKILL);
			snprintf(c->why, sizeof(c->why), "seccomp probe: no answer");
			break;
		}
		if (poll(pf, listener >= 0 ? 2 : 1, (int)((deadline - now) / 1000000 + 1)) < 0 &&
		    errno != EINTR)
			break;
		if (listener >= 0 && (pf[1].revents & POLLIN))
			seccomp_probe_answer(listener);
		while (recv_msg(sv[0], &m, &fd) > 0) {
			if (m.type == SBX_MSG_LISTENER && fd >= 0 && listener < 0) {
				listener = fd;
				continue;
			}
			if (fd >= 0)
				close(fd);
			if (m.type == SBX_MSG_EXIT)
				done = true;
		}
		if (pf[0].revents & POLLHUP)
			break;
	}
	waitpid(pid, &st, 0);
	c->seccomp = m.status & 1;
	c->notify = (m.status & 2) != 0;
	c->addfd = (m.status & 4) != 0;
	if (!c->seccomp)
		snprintf(c->why, sizeof(c->why), "seccomp refused: %s", strerror(m.err ? m.err : EPERM));
	else if (!c->notify)
		snprintf(c->why, sizeof(c->why), "seccomp user notification unavailable: %s",
			 strerror(m.err ? m.err : ENOSYS));
	if (listener >= 0)
		close(listener);
	close(pidfd);
	close(sv[0]);
}

static void probe_run(void)
{
	static char *const argv[] = { "probe", NULL };
	struct sbx_caps *c = &probe_caps;
	struct sbx_plan plan = SBX_PLAN_INIT;
	struct sbx_result *res = calloc(1, sizeof(*res));
	struct sbx_prep p;
	char why[sizeof(c->why)] = "";

	memset(c, 0, sizeof(*c));
	probe_seccomp(c);
	memcpy(why, c->why, sizeof(why));
	plan.argv = argv;
	plan.flags = SBX_DEV | SBX_PROC | SBX_TMP; /* what every level-1 run mounts */
	if (!res) {
		snprintf(why, sizeof(why), "namespace probe: out of memory");
	} else if (sbx_prep_build(&p, &plan, SBX_LEVEL_NS, res->err, sizeof(res->err)) == 0) {
		p.dry = true;
		c->userns = run_prepared(&p, false, res) == 0;
		if (!c->userns) {
			/* maybe only the leased network namespace fails: without it */
			netns_disable();
			memset(res, 0, sizeof(*res));
			c->userns = run_prepared(&p, false, res) == 0;
		}
		sbx_prep_release(&p);
	}
	if (res && !c->userns)
		snprintf(why, sizeof(why), "namespaces refused: %.200s", res->err);
	free(res);
	c->level = c->seccomp ? (c->userns ? SBX_LEVEL_NS : SBX_LEVEL_SECCOMP) : SBX_LEVEL_NONE;
	memcpy(c->why, why, sizeof(c->why));
}

int sbx_probe(struct sbx_caps *caps)
{
	pthread_once(&probe_once, probe_run);
	*caps = probe_caps;
	return 0;
}

/* ---- running ---- */

int sbx_run(const struct sbx_plan *plan, struct sbx_result *res)
{
	struct sbx_caps caps;
	struct sbx_prep p;
	int level, rc;

	memset(res, 0, sizeof(*res));
	defer_reap(0);
	sbx_probe(&caps);
	level = plan->level ? plan->level : caps.level;
	if (level < SBX_LEVEL_NS || level > SBX_LEVEL_NONE) {
		snprintf(res->err, sizeof(res->err), "no sandbox level %d", level);
		return -EINVAL;
	}
	if (level < caps.level) {
		snprintf(res->err, sizeof(res->err),
			 "sandbox level %d is not available here (best: %d: %s)", level, caps.level,
			 caps.why);
		return -EPERM;
	}
	if (plan->require_level && level > plan->require_level) {
		snprintf(res->err, sizeof(res->err),
			 "sandbox level %d required, level %d used%s%s", plan->require_level, level,
			 level == caps.level && caps.why[0] ? ": " : "",
			 level == caps.level ? caps.why : "");
		return -EPERM;
	}
	res->level = level;
	if ((rc = sbx_prep_build(&p, plan, level, res->err, sizeof(res->err))) < 0)
		return rc;
	p.supervise = (plan->flags & SBX_SUPERVISE) && caps.notify && level <= SBX_LEVEL_SECCOMP;
	if ((plan->flags & SBX_SUPERVISE) && !p.supervise && level <= SBX_LEVEL_SECCOMP)
		note(res, "no path supervisor: user notification unavailable");
	if (level == SBX_LEVEL_SECCOMP)
		note(res, "level 2: host file system, no private /tmp or /dev, hostname or uid/gid");
	if (level == SBX_LEVEL_NONE)
		note(res, "level 3: no filter, no supervisor, host file system");
	if ((plan->flags & SBX_RANDOM) && !p.supervise && level <= SBX_LEVEL_SECCOMP)
		note(res, "getrandom fails with ENOSYS");
	if ((plan->flags & SBX_RANDOM) && level >= SBX_LEVEL_SECCOMP && !(p.supervise && caps.addfd))
		note(res, "/dev/urandom is not deterministic");
	if (level <= SBX_LEVEL_SECCOMP &&
	    (rc = sbx_filter_get(p.supervise, plan->flags & SBX_RANDOM, plan->flags & SBX_NO_SECCOMP,
				 &p.filter, res->err,
				 sizeof(res->err))) < 0)
		goto out_release;
	res->supervised = p.supervise;
	rc = run_prepared(&p, caps.addfd, res);
out_release:
	sbx_prep_release(&p);
	return rc;
}

/* ---- environment ---- */

char **sbx_env_defaults(char *const *envp, long long source_date_epoch)
{
	char epoch[64], **out, *s;
	const char *extra[2];
	size_t n = 0, bytes = 0, k = 0, n_extra = 0;

	extra[n_extra++] = "TZ=UTC";
	if (source_date_epoch >= 0) {
		snprintf(epoch, sizeof(epoch), "SOURCE_DATE_EPOCH=%lld", source_date_epoch);
		extra[n_extra++] = epoch;
	}
	for (size_t i = 0; envp && envp[i]; i++, n++)
		bytes += strlen(envp[i]) + 1;
	for (size_t i = 0; i < n_extra; i++)
		bytes += strlen(extra[i]) + 1;
	out = malloc((n + n_extra + 1) * sizeof(*out) + bytes);
	if (!out)
		return NULL;
	s = (char *)(out + n + n_extra + 1);
	for (size_t i = 0; i < n; i++) {
		bool replaced = false;

		for (size_t j = 0; j < n_extra; j++) {
			size_t kl = (size_t)(strchr(extra[j], '=') - extra[j]) + 1;

			replaced |= !strncmp(envp[i], extra[j], kl);
		}
		if (replaced)
			continue;
		out[k++] = strcpy(s, envp[i]);
		s += strlen(s) + 1;
	}
	for (size_t j = 0; j < n_extra; j++) {
		out[k++] = strcpy(s, extra[j]);
		s += strlen(s) + 1;
	}
	out[k] = NULL;
	return out;
}
