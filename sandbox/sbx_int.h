/*
 * sbx_int.h - the sandbox's internals, shared by its files (not part of the API).
 *
 *   sbx_plan.c        plan -> struct sbx_prep: validated, normalised, sorted setup
 *                     operations, the declared-path table, lexical path resolution
 *   sbx_filter.c      the seccomp BPF programs (libseccomp), built once and cached
 *   sbx_child.c       the child: namespace setup, the init, the command (cloned with
 *                     CLONE_VM: raw system calls only, see there)
 *   sbx_supervisor.c  the path supervisor (seccomp user notification), the system
 *                     call table it and the filter share
 *   sbx.c             sbx_probe, sbx_run (fork, wait, timeout, kill), helpers
 *
 * A struct sbx_prep is built in the parent, read (never written) by the child and
 * by the supervisor, and released by sbx_prep_release.  It owns every string it
 * points to (prep->strs).
 */
#ifndef GG_SBX_INT_H
#define GG_SBX_INT_H

#include <linux/filter.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sandbox/sbx.h"

/* Where the child builds the new root, and where the host's root stays meanwhile. */
#define SBX_NEWROOT "/newroot"
#define SBX_OLDROOT "/oldroot"

/* Setup operations, applied in order by the child at level 1. */
enum sbx_op_type {
	SBX_OP_MKDIR,   /* an (ancestor or declared) empty directory */
	SBX_OP_BIND,    /* bind src at dst, read-only unless rw */
	SBX_OP_TMPFS,   /* a tmpfs at dst (writable) */
	SBX_OP_SYMLINK, /* symlink src at dst */
	SBX_OP_DEV,     /* the minimal /dev at dst */
	SBX_OP_PROC,    /* proc at dst */
};

struct sbx_op {
	uint8_t type;  /* enum sbx_op_type */
	bool rw;       /* SBX_OP_BIND: writable */
	bool dir;      /* SBX_OP_BIND: the source is a directory */
	int mount;     /* index in plan->mounts, or -1 for an implied operation */
	const char *src; /* SBX_OP_BIND: SBX_OLDROOT + canonical host path; SYMLINK: target */
	const char *dst; /* SBX_NEWROOT + the path in the sandbox */
};

/* Declared paths, for the supervisor; sorted by path (strcmp). */
enum sbx_decl_kind {
	SBX_DECL_ANCESTOR, /* a directory leading to declared paths: the path itself only */
	SBX_DECL_FILE,     /* a read-only file (or an empty directory): the path itself */
	SBX_DECL_TREE,     /* a read-only directory and everything below */
	SBX_DECL_WFILE,    /* a writable file */
	SBX_DECL_WTREE,    /* a writable directory and everything below */
	SBX_DECL_ABSENT,   /* known missing: ENOENT, not recorded (and everything below) */
	SBX_DECL_SYMLINK,  /* a symlink: target; the path itself is readable */
};

struct sbx_decl {
	const char *path;
	const char *target; /* SBX_DECL_SYMLINK */
	uint8_t kind;
};

/* Steps of the child, for error messages (struct sbx_msg.step). */
enum sbx_step {
	SBX_STEP_NONE,
	SBX_STEP_UIDMAP,
	SBX_STEP_PRIVATE,
	SBX_STEP_BASE,
	SBX_STEP_PIVOT,
	SBX_STEP_OP,        /* index = op index */
	SBX_STEP_HOSTNAME,
	SBX_STEP_ROROOT,
	SBX_STEP_CHDIR,
	SBX_STEP_SECCOMP,
	SBX_STEP_LISTENER,
	SBX_STEP_FORK,
	SBX_STEP_STDIO,
};

/* Messages from the child on the SOCK_SEQPACKET socket. */
enum sbx_msg_type {
	SBX_MSG_SETUP_ERR = 1, /* step, index, err */
	SBX_MSG_LISTENER,      /* with SCM_RIGHTS: the seccomp listener */
	SBX_MSG_EXEC_ERR,      /* err: execve failed */
	SBX_MSG_EXIT,          /* status: the command's wait status; ru: the tree's usage.
	                        * Sent when nothing but the init is left */
};

struct sbx_msg {
	int type;
	int step;
	int index;
	int err;
	int status;
	struct rusage ru;
};

struct sbx_prep {
	const struct sbx_plan *plan;
	int level;
	bool supervise;
	bool dry;                 /* the probe: set up, then report success without a command */
	const char *path;         /* the executable */
	const char *cwd;
	const char *hostname;
	struct sbx_op *ops;
	size_t n_ops;
	struct sbx_decl *decls;
	size_t n_decls;
	size_t n_symlinks;        /* SBX_DECL_SYMLINK entries among decls */
	const struct sock_fprog *filter; /* NULL at level 3 (cached, not owned) */
	int stdio[3];             /* descriptors to become 0, 1, 2 */
	unsigned char *random;    /* SBX_RANDOM_FILE_SIZE bytes for /dev/urandom (level 1) */
	char uid_map[64];
	char gid_map[64];
	char **strs;              /* owned strings */
	size_t n_strs, cap_strs;
};

/* sbx_plan.c */
int sbx_prep_build(struct sbx_prep *p, const struct sbx_plan *plan, int level, char *err,
		   size_t errlen);
void sbx_prep_release(struct sbx_prep *p);

/*
 * Make path absolute against base (an absolute directory; used when path is
 * relative) and normalise it lexically into out: no `//`, `.` or `..`
 * (`/..` is `/`), no trailing slash.  -ENAMETOOLONG if it does not fit.
 */
int sbx_path_normalize(const char *base, const char *path, char *out, size_t cap);

/*
 * Rewrite a normalised absolute path through the plan's declared symlinks (every
 * component; the last one only when follow_last).  -ELOOP after 40 links.
 */
int sbx_decl_resolve(const struct sbx_prep *p, const char *path, bool follow_last, char *out,
		     size_t cap);

enum sbx_verdict {
	SBX_ALLOW,
	SBX_ABSENT,     /* ENOENT, quietly */
	SBX_UNDECLARED, /* ENOENT, recorded */
	SBX_READONLY,   /* a write to a declared read-only place: EROFS, recorded */
	SBX_NOWRITE,    /* a write to an undeclared place: ENOENT, recorded */
};

/* Judge a resolved path. */
enum sbx_verdict sbx_decl_check(const struct sbx_prep *p, const char *path, bool write);

/* Is path itself declared as something that exists (not absent)? */
bool sbx_decl_exists(const struct sbx_prep *p, const char *path);

/* sbx_filter.c: the cached program for (supervise, random, no_seccomp); -errno and err on
 * failure. */
int sbx_filter_get(bool supervise, bool random, bool no_seccomp, const struct sock_fprog **out,
		   char *err, size_t errlen);

/*
 * sbx_child.c: the init of a run, the entry function of a clone(2) with CLONE_VM
 * (see sbx_child.c for the rules that imposes); never returns.  arg is a struct
 * sbx_child_arg, which lives until the init has reported or been reaped.
 */
struct sbx_child_arg {
	const struct sbx_prep *p;
	int sock;        /* the init's end of the socket pair */
	int close_fd;    /* the caller's end: closed in the init (-1: none) */
	void *cmd_stack; /* the top of the stack the command's clone runs on until execve */
};
int sbx_child_entry(void *arg);

/*
 * sbx_child.c: the intermediate of a run that leases a network namespace (sbx.c),
 * cloned with CLONE_VM | CLONE_FILES | CLONE_VFORK: it joins the lease's user and
 * network namespaces (setns(2)), clones the init with `flags` (CLONE_PARENT among
 * them: the init is the caller's child) and exits.  pid or err (-errno) tell.
 */
struct sbx_mid_arg {
	struct sbx_child_arg *child;
	int userfd, netfd;
	unsigned long flags;
	void *stack;  /* the init's */
	int *pidfd;
	pid_t *tid;   /* CLONE_CHILD_CLEARTID */
	int pid;
	int err;
};
int sbx_mid_entry(void *arg);

/* sbx_child.c: the process whose namespaces a lease keeps (sbx.c); arg is its pipe
 * (read end, write end): it exits when the pipe is closed. */
int sbx_netns_helper_entry(void *arg);

/* sbx_supervisor.c */
struct sbx_sup;
struct sbx_sup *sbx_sup_new(const struct sbx_prep *p, struct sbx_result *res, bool addfd);
void sbx_sup_free(struct sbx_sup *s);
/* Answer one pending notification on fd.  0, or -errno if the listener is unusable. */
int sbx_sup_handle(struct sbx_sup *s, int fd);
/* At the end of the run: an undeclared probe is named if no undeclared open was. */
void sbx_sup_finish(struct sbx_sup *s);

/* The x86_64 system calls the filter sends to the supervisor, or denies. */
enum sbx_sys_kind {
	SBX_SYS_PATH,   /* inspect path arguments */
	SBX_SYS_RANDOM, /* getrandom */
	SBX_SYS_DENY,   /* fail with errno (EPERM) */
};

struct sbx_sysinfo {
	int nr;
	const char *name;
	uint8_t kind;
	int8_t dfd, path, dfd2, path2; /* argument indexes, -1: none */
	int8_t flags;                  /* argument index of open flags / AT_ flags, -1 */
	uint16_t how;                  /* SBX_HOW_* */
};

#define SBX_HOW_READ 0x01        /* path (1st) is read */
#define SBX_HOW_WRITE 0x02       /* path (1st) is written */
#define SBX_HOW_WRITE2 0x04      /* path2 is written (else read) */
#define SBX_HOW_OPEN 0x08        /* open flags decide read or write */
#define SBX_HOW_OPEN2 0x10       /* flags in struct open_how */
#define SBX_HOW_NOFOLLOW 0x20    /* the last component is not followed */
#define SBX_HOW_ATFLAGS 0x40     /* AT_SYMLINK_NOFOLLOW / AT_EMPTY_PATH at flags */
#define SBX_HOW_ATFOLLOW 0x80    /* linkat: AT_SYMLINK_FOLLOW at flags */
#define SBX_HOW_EXEC 0x100       /* execve, execveat: reads the file's contents */
#define SBX_HOW_CREATE 0x200     /* the written path is created (mkdir, mknod, symlink, link) */

extern const struct sbx_sysinfo sbx_sys_table[];
extern const size_t sbx_sys_count;

/* The deterministic byte stream: bytes [off, off + n) of stream `stream` of `seed`. */
void sbx_random_fill(uint64_t seed, uint64_t stream, uint64_t off, void *buf, size_t n);

#endif /* GG_SBX_INT_H */
