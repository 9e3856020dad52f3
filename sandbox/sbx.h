/*
 * sbx.h - hermetic execution of ONE command from a plan.
 *
 * The sandbox knows nothing of thunks, blobs or traces: a caller describes a command
 * (argv, exact environment, cwd, umask, identity, hostname), the files it may see
 * (read-only inputs at their absolute paths, possibly backed by a different host
 * file, e.g. a blob of a content store), where it may write (output directories or
 * files), and how hard to lock it down.  sbx_run() turns the plan into a list of
 * setup operations (parse first), forks, applies them in the child (act later),
 * execs, waits with a timeout and reports.
 *
 * Levels (probed once per process by sbx_probe(); reported with every result):
 *
 *   1  user + mount + network + UTS + IPC + PID (+ cgroup) namespaces (one clone(2)
 *      with all the flags).  The network namespace is leased rather than made when
 *      the host allows: an empty one (`lo` only, down) owned by a user namespace
 *      of the caller's, reused by later runs but never by two runs at once, over
 *      which the command has no capability (it cannot bring `lo` up or change a
 *      sysctl: nothing it does there outlives its processes); else a fresh one
 *      per run.  The root is an empty tmpfs holding only what the plan declares:
 *      inputs bind-mounted read-only at their absolute paths, outputs bind-mounted
 *      writable, a private /tmp, a minimal /dev (null zero full random urandom, the
 *      fd/stdin/stdout/stderr links, an empty /dev/shm tmpfs) and a /proc of the new
 *      PID namespace.  Everything else, the root directory included, is read-only.
 *      Then the seccomp filter, then exec.  The mount namespace is the security
 *      boundary; the supervisor (below) only names what was missing.
 *   2  the same seccomp filter and supervisor without namespaces (the host refuses
 *      unshare(CLONE_NEWUSER)): the command sees the host's file system, so every
 *      input must already be at its declared path (a mount whose source differs
 *      from its destination is refused with -EXDEV); hostname, uid/gid, private
 *      /tmp and /dev cannot be provided (res->notes says so; SBX_TMP, SBX_DEV and
 *      SBX_PROC then declare the host's /tmp, /dev and /proc).  Only the
 *      supervisor keeps the command to its declared paths: level 2 catches
 *      mistakes (an undeclared header, a write outside the outputs), it does not
 *      contain a hostile command (see the supervisor's limits).
 *   3  neither (seccomp refused too, e.g. AWS Lambda): environment, cwd, umask,
 *      stdio, timeout and the process-tree kill only.  Deterministic by
 *      construction of the plan; callers verify results by hash.
 *
 * The seccomp filter (levels 1 and 2; x86_64 system calls; libseccomp):
 *   - socket(2) for AF_INET, AF_INET6, AF_NETLINK, AF_PACKET fails with EACCES
 *     (AF_UNIX and the rest are allowed);
 *   - ptrace, process_vm_readv/writev, mount, umount2, pivot_root, chroot, the new
 *     mount API (open_tree, move_mount, fsopen, fsconfig, fsmount, fspick,
 *     mount_setattr), unshare, setns, clone(2) with any CLONE_NEW* flag, bpf,
 *     perf_event_open, keyctl, add_key, request_key, userfaultfd,
 *     io_uring_setup/enter/register, clock_settime, clock_adjtime, settimeofday,
 *     adjtimex, sethostname, setdomainname, name_to_handle_at, open_by_handle_at,
 *     kexec_*, init/finit/delete_module, reboot, swapon/off, acct, syslog, iopl,
 *     ioperm, ioctl(TIOCSTI/TIOCLINUX) fail with EPERM;
 *   - clone3 fails with ENOSYS: its flags live in memory a filter cannot read, and
 *     glibc falls back to clone(2) on ENOSYS (as in Docker's and Flatpak's profiles);
 *   - randomness: see SBX_RANDOM below;
 *   - a non-x86_64 system call (a 32-bit program) kills the process (SIGSYS).
 *   With the supervisor on, the denials above reach the supervisor first, which
 *   answers the same errno and records the first one in res->denied
 *   ("socket(AF_INET)", "ptrace").
 *
 * The path supervisor (SBX_SUPERVISE; seccomp user notification, kernel >= 5.9 for
 * SECCOMP_USER_NOTIF_FLAG_CONTINUE): the open/stat/access/exec/readlink/chdir family
 * and the namespace-changing calls (mkdir, unlink, rename, link, symlink, chmod,
 * chown, truncate, utimensat...) stop in the kernel while the caller's thread (the
 * one inside sbx_run) reads the path from the target's memory (process_vm_readv),
 * makes it absolute against the target's cwd or dirfd (/proc/PID/cwd, /proc/PID/fd/N:
 * the kernel prints those as the target sees them, also inside the mount
 * namespace), normalises it lexically, follows the plan's declared symlinks, and
 * decides:
 *   - declared (an input, output, /tmp, /dev, /proc, an ancestor directory of a
 *     declared path): the call continues unchanged;
 *   - declared absent (SBX_MOUNT_ABSENT, and /etc/ld.so.preload which the dynamic
 *     loader probes at every start): ENOENT, nothing recorded;
 *   - undeclared read: ENOENT, and one is recorded in res->undeclared
 *     ("/usr/include/zconf.h") with the call's name in res->undeclared_op: the
 *     first file opened or executed, else the first path only probed (stat,
 *     access, readlink...: gcc stats hello.c.gch before it opens any header);
 *   - write outside the writable places: EROFS (the path or its parent is a
 *     declared read-only place) or ENOENT, recorded in res->denied
 *     ("write '/etc/passwd' (openat)").
 *   Limits, on purpose: this is a diagnostic, not a security boundary.  The path is
 *   read before the kernel reads it again (TOCTOU: another thread of the target
 *   can change it in between); resolution is lexical (symlinks on the host other
 *   than the plan's declared ones are followed by the kernel after the decision,
 *   and `..` is collapsed before symlinks are seen); fd-based calls (fstat, openat
 *   with a dirfd the kernel resolves, fchdir) are not inspected.  At level 1 the
 *   mount namespace enforces what the supervisor only names.  It costs two
 *   context switches per inspected system call, hence optional per plan.
 *
 * Randomness (SBX_RANDOM, with plan->random_seed):
 *   - level 1: /dev/urandom and /dev/random are read-only regular files holding the
 *     first SBX_RANDOM_FILE_SIZE bytes of a stream derived from the seed: every
 *     open reads the same bytes from offset 0, a read past the end returns 0 (EOF);
 *   - levels 1 and 2 with the supervisor: getrandom(2) is answered by the
 *     supervisor, which writes bytes of the seed's stream into the caller's buffer;
 *     each thread gets its own stream position (the n-th call of any thread returns
 *     the same bytes, so two processes may see equal values: mkstemp retries, it
 *     does not fail), capped at 1 MiB per call.  At level 2 an open of /dev/urandom
 *     or /dev/random is answered with a fresh descriptor of the deterministic bytes
 *     (SECCOMP_IOCTL_NOTIF_ADDFD, kernel >= 5.14);
 *   - without the supervisor: getrandom(2) fails with ENOSYS, which glibc's
 *     arc4random and runtimes such as Python's os.urandom answer by reading
 *     /dev/urandom; glibc's mkstemp then mixes in the clock instead, so temporary
 *     file NAMES are not deterministic (their contents are);
 *   - never controlled: the RDRAND instruction, the kernel's AT_RANDOM auxv bytes
 *     (stack protector canary, pointer guard), a libc answering getrandom from the
 *     vDSO without a system call (glibc >= 2.41 on Linux >= 6.11), ASLR unless
 *     SBX_NO_ASLR is set.
 *
 * Process tree.  The child of sbx_run is a small init: at level 1 it is PID 1 of
 * the new PID namespace; at levels 2 and 3 it is a child subreaper and the command
 * leads its own session and process group.  The command is a separate process
 * (PID 2 at level 1) with normal signal semantics.  When the command exits, the
 * init kills what it left (level 1: every process of the namespace; levels 2 and
 * 3: the group and every orphan reparented to it, found in
 * /proc/PID/task/TID/children) and reaps it all, then reports: when sbx_run
 * returns, no process of the command is alive, so its outputs are final.  On
 * timeout or cancellation the init is killed (level 1: SIGKILL, the namespace dies
 * with it) or told to do the same (SIGTERM, then SIGKILL after 2 s).  The init
 * dies with the thread that called sbx_run (PR_SET_PDEATHSIG): call sbx_run from
 * a thread that lives until it returns.  The init's own exit is not waited for (at
 * level 1 the kernel spends ~2 ms tearing its namespaces down): it stays a zombie
 * child of the caller until a later sbx_run reaps it (at most 64 are kept).  A
 * caller that reaps children it does not know (waitpid(-1, ...)) or ignores
 * SIGCHLD does no harm: the status comes from the init's report, and the init
 * resets SIGCHLD for itself (only the rusage of a killed run may then be lost).
 *
 * Threads.  sbx_run may be called from several threads at once: each call has its
 * own child, socket and supervisor (in the calling thread).  The init and the
 * command are spawned as posix_spawn spawns (clone(2) with CLONE_VM, on stacks of
 * their own; the command with CLONE_VFORK until its execve): the caller's memory
 * is never copied, so its size costs nothing, and the child makes raw system
 * calls only (no errno, no lazy symbol binding: sbx_child.c).  Everything it
 * needs (paths, the BPF program, the uid map) is prepared before the clone.  All
 * descriptors but stdio are closed in the child.
 *
 * Cost, on this project's 2-core VM (tests/bench/sandbox-overhead.sh; CPU time,
 * the steadier figure on a shared machine): a fork of the caller used to cost
 * more than the whole level-1 setup (page-table copies, then copy-on-write
 * faults in the caller for as long as the init lived); with the CLONE_VM spawn
 * and the leased network namespace, per /bin/true (medians of 200, load ~15):
 * plain posix_spawn 4.0 ms of CPU, level 1 5.0 ms (14.1 ms before), levels 2
 * and 3 4.0 ms (level 3 9.5 ms before).  The seccomp filter is compiled once per
 * process (sbx_filter.c); the supervisor adds ~16 us per inspected system call
 * (1400 for a small gcc -c).
 *
 * Errors: functions return 0 or -errno; the library never prints and never exits.
 * sbx_run fills res->err with a message in the house style
 * ("cannot bind input '/usr/include' at '/usr/include': No such file or directory").
 */
#ifndef GG_SBX_H
#define GG_SBX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

/* Sandbox levels: 1 is the strongest.  SBX_LEVEL_ANY in a plan: the best available. */
#define SBX_LEVEL_ANY 0
#define SBX_LEVEL_NS 1
#define SBX_LEVEL_SECCOMP 2
#define SBX_LEVEL_NONE 3

/* Bytes of deterministic data in /dev/urandom and /dev/random at level 1. */
#define SBX_RANDOM_FILE_SIZE (64 * 1024)

/* Limits of a plan (-E2BIG beyond). */
#define SBX_MAX_MOUNTS 65536
#define SBX_MAX_ARGS 65536

/* What the host allows, as found by sbx_probe(). */
struct sbx_caps {
	int level;         /* best level available: 1, 2 or 3 */
	bool userns;       /* level-1 setup (namespaces, tmpfs root, /proc, pivot_root) works */
	bool seccomp;      /* a seccomp filter can be installed */
	bool notify;       /* user notification with SECCOMP_USER_NOTIF_FLAG_CONTINUE works */
	bool addfd;        /* SECCOMP_IOCTL_NOTIF_ADDFD with SECCOMP_ADDFD_FLAG_SEND works */
	char why[256];     /* why the best level is not 1, or why notify is off; "" if nothing */
};

enum sbx_mount_kind {
	SBX_MOUNT_RO,      /* bind host `src` (NULL: dst) read-only at dst: a file or a directory */
	SBX_MOUNT_RW,      /* bind host `src` (NULL: dst) writable at dst: an output directory or
	                    * file, which must exist on the host */
	SBX_MOUNT_TMPFS,   /* a private empty writable tmpfs at dst (src ignored) */
	SBX_MOUNT_DIR,     /* an empty read-only directory at dst (src ignored) */
	SBX_MOUNT_SYMLINK, /* a symbolic link at dst whose target is src (as readlink shows it) */
	SBX_MOUNT_ABSENT,  /* nothing at dst: a path known to be missing.  The supervisor
	                    * answers ENOENT without recording it (at level 2 even if the host
	                    * has the file).  A probe never fails a plan: an absent dst below
	                    * a declared file, symlink or absent path is dropped (the kernel
	                    * answers ENOTDIR or ENOENT there anyway), and one with declared
	                    * paths below it becomes their directory */
};

/*
 * One declared path.  dst is absolute in the sandbox's view and is normalised
 * (`//`, `.`, `..` collapsed).  A dst below a declared symlink is placed through it
 * (declare /lib -> usr/lib and /lib/x86_64-linux-gnu/libc.so.6 lands in /usr/lib/...).
 * Missing parent directories of every dst are created, read-only, in sorted order.
 * A dst declared twice is an error (-EINVAL), except identical declarations.
 * A source is resolved on the host (symlinks followed) before it is bound.
 * Nesting (level 1): a dst below a read-only directory input must already exist in
 * that directory (else EROFS: the host is never written); a dst below a writable
 * output directory gets an empty file or directory created there, on the host, as
 * its mount point, which stays after the run (collect outputs by name).
 */
struct sbx_mount {
	enum sbx_mount_kind kind;
	const char *src;
	const char *dst;
};

/* plan->flags */
#define SBX_TMP 0x01       /* a private tmpfs at /tmp (level 1; host /tmp declared at level 2) */
#define SBX_DEV 0x02       /* a minimal /dev (level 1; host /dev declared at level 2) */
#define SBX_PROC 0x04      /* /proc of the PID namespace (level 1; host /proc at level 2) */
#define SBX_SUPERVISE 0x08 /* run the path supervisor (ignored if the host has no notify) */
#define SBX_RANDOM 0x10    /* deterministic randomness from plan->random_seed (see above) */
#define SBX_NO_ASLR 0x20   /* personality(ADDR_NO_RANDOMIZE) for the command */
#define SBX_NO_SECCOMP 0x40 /* levels 1, 2: seccomp(2) and prctl(PR_SET_SECCOMP) fail with
                            * EPERM inside, as on AWS Lambda (the isolated engine) */
#define SBX_DEFAULTS (SBX_TMP | SBX_DEV | SBX_PROC | SBX_RANDOM | SBX_NO_ASLR)

/*
 * The plan.  The caller owns every pointer; sbx_run does not keep any after it
 * returns.  Start from SBX_PLAN_INIT.
 */
struct sbx_plan {
	const char *path;          /* executable, in the sandbox's view; NULL: argv[0].  No PATH
	                            * search: absolute, or relative to cwd */
	char *const *argv;         /* NULL-terminated, at least argv[0] */
	char *const *envp;         /* the EXACT environment (NULL: empty): nothing is inherited */
	const char *cwd;           /* in the sandbox's view; NULL: "/" */
	mode_t umask;
	uid_t uid;                 /* identity inside (level 1): mapped to the caller's euid */
	gid_t gid;
	const char *hostname;      /* level 1; NULL: "gg" */
	const struct sbx_mount *mounts;
	size_t n_mounts;
	unsigned flags;            /* SBX_* above */
	uint64_t random_seed;      /* with SBX_RANDOM */
	int stdin_fd;              /* the caller's descriptors for the command's stdio: */
	int stdout_fd;             /* -1: /dev/null.  They are dup'ed, not closed */
	int stderr_fd;
	const char *stdin_path;    /* host files: stdin opened read-only, stdout/stderr */
	const char *stdout_path;   /* created or truncated (0644); override the fds */
	const char *stderr_path;   /* (stdout_path == stderr_path: one shared file) */
	unsigned timeout_ms;       /* 0: none.  On expiry the whole tree is killed */
	int level;                 /* SBX_LEVEL_ANY, or run at exactly this level (must be
	                            * available: a test or a caller may choose a weaker one) */
	int require_level;         /* 0: any; N: refuse (-EPERM) a level weaker than N */
	int cancel_fd;             /* -1, or a descriptor that becomes readable to cancel:
	                            * the tree is killed and sbx_run returns -ECANCELED */
};

#define SBX_PLAN_INIT                                                                      \
	{                                                                                      \
		.path = NULL, .argv = NULL, .envp = NULL, .cwd = NULL, .umask = 022, .uid = 0,   \
		.gid = 0, .hostname = NULL, .mounts = NULL, .n_mounts = 0, .flags = SBX_DEFAULTS, \
		.random_seed = 0, .stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1,               \
		.stdin_path = NULL, .stdout_path = NULL, .stderr_path = NULL, .timeout_ms = 0,    \
		.level = SBX_LEVEL_ANY, .require_level = 0, .cancel_fd = -1                       \
	}

/* The outcome of one sbx_run.  Strings are empty when there is nothing to say. */
struct sbx_result {
	int level;                 /* the level used (0 if none was chosen) */
	bool supervised;           /* the path supervisor ran */
	bool exited;               /* the command exited: status is valid */
	int status;                /* exit status (0..255) */
	int signal;                /* else: the signal that killed it (SIGKILL on timeout) */
	bool timed_out;            /* killed because plan->timeout_ms expired */
	char undeclared[4096];     /* first undeclared file opened or executed (else the first
	                            * undeclared path probed), e.g. "/usr/include/zconf.h" */
	char undeclared_op[32];    /* the system call, e.g. "openat" */
	unsigned n_undeclared;     /* how many undeclared accesses were denied */
	char denied[4096 + 64];    /* first denied operation: "socket(AF_INET)",
	                            * "write '/etc/passwd' (openat)" */
	unsigned n_denied;
	unsigned n_notified;       /* system calls the supervisor inspected */
	char notes[256];           /* what the level could not provide, e.g. "level 2: no private
	                            * /tmp, hostname, uid/gid" */
	struct rusage rusage;      /* of the whole tree (the init and all it reaped) */
	uint64_t wall_ns;          /* from fork to the last reap */
	char err[4096 + 256];      /* why sbx_run returned < 0 */
};

/*
 * Find what this host allows: in forked children, try the level-1 setup (a clone
 * with every namespace flag, a tmpfs root, /proc, pivot_root), install a seccomp
 * filter, and round-trip a user notification answered with CONTINUE.  The first
 * call does the work (a few milliseconds); later calls return the cached answer.
 * Thread-safe.  Returns 0 (the caps are always filled; level 3 at worst).
 */
int sbx_probe(struct sbx_caps *caps);

/*
 * Run plan's command and wait for it.  Returns 0 when the command ran, whatever
 * its status (res->exited/status/signal, res->timed_out); -errno when it could not
 * run, with res->err set:
 *   -EINVAL   a malformed plan (no argv, relative dst, conflicting declarations)
 *   -E2BIG    more than SBX_MAX_MOUNTS mounts or SBX_MAX_ARGS arguments
 *   -EPERM    the available level is weaker than plan->require_level, or
 *             plan->level is not available
 *   -EXDEV    level 2 or 3 with a mount whose source differs from its destination
 *   -ENOENT   (or another errno) an input's host source is missing; the executable
 *             cannot be executed (res->undeclared names it if the supervisor denied it)
 *   -ECANCELED  plan->cancel_fd became readable; the tree was killed
 *   -ENOMEM, or the errno of a failed setup step in the child
 * res is always filled (level, notes, wall time...).
 */
int sbx_run(const struct sbx_plan *plan, struct sbx_result *res);

/*
 * A deterministic environment from envp: a copy of envp (NULL: empty) in which
 * TZ=UTC and SOURCE_DATE_EPOCH=<source_date_epoch> replace any earlier value (a
 * negative epoch leaves SOURCE_DATE_EPOCH out).  Nothing else is added or removed:
 * removing secrets is the caller's business.  Returns a NULL-terminated array in
 * ONE allocation (pointers and strings): free() it.  NULL on ENOMEM.
 */
char **sbx_env_defaults(char *const *envp, long long source_date_epoch);

/*
 * Wait for the inits that reported but were still exiting when their sbx_run
 * returned (see Process tree), and reap them: an engine calls it when it shuts
 * down, so that no zombie outlives it and the whole tree's usage reaches the
 * caller's RUSAGE_CHILDREN.  Takes at most a few milliseconds per init.
 */
void sbx_reap(void);

/* "1 (namespaces + seccomp)", ... : a short description of a level for messages. */
const char *sbx_level_name(int level);

#endif /* GG_SBX_H */
