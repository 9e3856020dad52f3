/*
 * shim.h - what the wrappers (shim/wrap_*.c) share with the shim's core (shim.c).
 *
 * Every wrapper has one shape (SHIM_WRAP below): enter (re-entry guard, errno saved),
 * call the real function, record, leave (errno restored).  Recording functions encode
 * one record into a per-thread buffer and emit it with one write(2); they never
 * allocate with malloc, never use stdio and never take a lock.
 *
 * State: one struct shim_state per process image (g), reset in a fork child by the
 * atfork handler.  The recording's segment (trace_format.h) is opened by path at
 * start-up by an exec'd image (no file is created per image); a forked child keeps
 * the descriptor it inherits and writes its PROC record at its first event.  A failure to write the trace disables
 * recording for this image with one warning on stderr and passes GG_SHIM_OFF=1 on to
 * the children; the program itself never sees the difference.
 *
 * Level 3 (GG_VROOT, vroot.c, contract in vpath.h): the wrappers of calls that take
 * paths map them under the root before the real call (SHIM_WRAP_P), whether or not
 * the image records; the exec family and posix_spawn run through vexec_plan.  What
 * is recorded stays the program's (virtual) path.
 */
#ifndef GG_SHIM_H
#define GG_SHIM_H

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include "shim/trace_enc.h"

#define GG_EXPORT __attribute__((visibility("default")))

/*
 * Code of a process's start-up and exit, and of a fork child up to its exec: the
 * linker groups it (.text.hot) with the headers, .fini and .rodata (shim/shim.ld),
 * so that a new image or a fork child, which maps none of the shim's code yet,
 * faults it in a page-window or two (each fault some 10-50 microseconds on a
 * virtual machine) rather than wherever it lies.
 */
#define SHIM_HOT __attribute__((hot))

/*
 * Raw system calls that return -errno and leave errno alone, inline: a fork child
 * faults in each page of libc code it runs for the first time (fork copies no page
 * tables of file mappings), and the shim's fork and exec paths run in every child.
 */
static inline long shim_sys4(long n, long a, long b, long c, long d)
{
#if defined(__x86_64__)
	long r;
	register long r10 __asm__("r10") = d;
	__asm__ volatile("syscall"
			 : "=a"(r)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10)
			 : "rcx", "r11", "memory");
	return r;
#else
	int saved = errno;
	long r = syscall(n, a, b, c, d);
	if (r < 0)
		r = -errno;
	errno = saved;
	return r;
#endif
}
#define shim_sys(n, a, b, c) shim_sys4((n), (long)(a), (long)(b), (long)(c), 0)

/* The real function behind a wrapper, resolved once with dlsym(RTLD_NEXT).  The
 * pointers live in .data, by the shim's other small variables: a page written
 * anyway at start-up, where in .bss they would fault in one of their own. */
void *shim_dlsym(const char *name);
#define DECL_REAL(name) static __typeof__(name) *real_##name __attribute__((section(".data")))
#define REAL(name)                                                                \
	({                                                                        \
		if (__builtin_expect(real_##name == NULL, 0))                     \
			real_##name = (__typeof__(real_##name))shim_dlsym(#name); \
		real_##name;                                                      \
	})

struct shim_call {
	int saved_errno; /* errno at entry, restored at leave unless set */
	int err;         /* errno the real call left */
	bool active;     /* recording for this call */
	bool map;        /* GG_VROOT: map this call's paths (vroot.c) */
};

/* Enter a wrapper: false if this call must not be recorded (re-entry, disabled). */
bool shim_enter(struct shim_call *c);
/* Enter a wrapper that takes paths: true if this call is recorded (c->active) or its
 * paths are mapped under GG_VROOT (c->map), which goes on when recording is off. */
bool shim_enter_v(struct shim_call *c);
/* Enter a wrapper that starts a process: also true after a trace failure, so the
 * environment fixup can pass GG_SHIM_OFF on (the records go nowhere). */
bool shim_enter_proc(struct shim_call *c);
void shim_check_alive(void);
/* Leave: restore errno to what the real call left. */
void shim_leave(struct shim_call *c);
/* Drop the guard just before a real exec call, take it back if it returns. */
void shim_exec_begin(void);
void shim_exec_end(void);

#define SHIM_WRAP(rtype, name, params, args, record)                              \
	DECL_REAL(name);                                                          \
	GG_EXPORT rtype name params                                               \
	{                                                                         \
		struct shim_call c_;                                              \
		rtype ret;                                                        \
		if (!shim_enter(&c_))                                             \
			return REAL(name) args;                                   \
		ret = REAL(name) args;                                            \
		c_.err = errno;                                                   \
		record;                                                           \
		shim_leave(&c_);                                                  \
		return ret;                                                       \
	}

/*
 * The same shape for a call that takes a path `p` (a parameter name) relative to
 * dirfd `dfd`: under GG_VROOT one pre-call step maps it (shim_vmap into shim_vbuf,
 * `vfl`: 0 or VPATH_NOFOLLOW) and the real call gets the host path; `p` is the program's
 * (virtual) path again when `record` runs, so the trace holds the recorded paths.
 * A path that cannot be mapped fails the call with `fail` and the mapping's errno.
 * SHIM_WRAP_P2 maps a second path `p2` (rename, link) the same way.
 */
#define SHIM_WRAP_P(rtype, name, params, args, fail, dfd, p, vfl, record)         \
	DECL_REAL(name);                                                          \
	GG_EXPORT rtype name params                                               \
	{                                                                         \
		struct shim_call c_;                                              \
		rtype ret;                                                        \
		const char *const v_ = (p);                                       \
		if (!shim_enter_v(&c_))                                           \
			return REAL(name) args;                                   \
		if (__builtin_expect(c_.map, 0)) {                                \
			const char *m_;                                           \
			char *h_ = shim_vbuf();                                   \
			int e_ = h_ ? shim_vmap((dfd), v_, (vfl), h_, &m_) : -ENOMEM; \
			if (e_ < 0) {                                             \
				c_.err = -e_;                                     \
				shim_leave(&c_);                                  \
				return fail;                                      \
			}                                                         \
			p = m_;                                                   \
		}                                                                 \
		ret = REAL(name) args;                                            \
		c_.err = errno;                                                   \
		p = v_;                                                           \
		if (c_.active) {                                                  \
			record;                                                   \
		}                                                                 \
		shim_leave(&c_);                                                  \
		return ret;                                                       \
	}

#define SHIM_WRAP_P2(rtype, name, params, args, fail, dfd, p, vfl, dfd2, p2, vfl2, record) \
	DECL_REAL(name);                                                          \
	GG_EXPORT rtype name params                                               \
	{                                                                         \
		struct shim_call c_;                                              \
		rtype ret;                                                        \
		const char *const v_ = (p), *const v2_ = (p2);                    \
		if (!shim_enter_v(&c_))                                           \
			return REAL(name) args;                                   \
		if (__builtin_expect(c_.map, 0)) {                                \
			const char *m_, *m2_ = NULL;                              \
			char *h_ = shim_vbuf();                                   \
			int e_ = h_ ? shim_vmap((dfd), v_, (vfl), h_, &m_) : -ENOMEM; \
			if (e_ == 0)                                              \
				e_ = shim_vmap((dfd2), v2_, (vfl2),               \
					       h_ + SHIM_VPATH_CAP, &m2_);         \
			if (e_ < 0) {                                             \
				c_.err = -e_;                                     \
				shim_leave(&c_);                                  \
				return fail;                                      \
			}                                                         \
			p = m_;                                                   \
			p2 = m2_;                                                 \
		}                                                                 \
		ret = REAL(name) args;                                            \
		c_.err = errno;                                                   \
		p = v_;                                                           \
		p2 = v2_;                                                         \
		if (c_.active) {                                                  \
			record;                                                   \
		}                                                                 \
		shim_leave(&c_);                                                  \
		return ret;                                                       \
	}

/* ---- level 3: GG_VROOT (vroot.c; the contract is in shim/vpath.h) ---------------- */

#define SHIM_VPATH_CAP 4096 /* VPATH_MAX */

/* GG_VROOT is set for this image: fixed at start-up, never changes afterwards. */
extern bool shim_vr;
/* The image's virtual view (root, cwd, exe); valid when shim_vr. */
struct vpath;
extern struct vpath shim_vp;

/* Two SHIM_VPATH_CAP buffers for the mapped paths of one call, per thread (mmap'd at
 * its first mapped call: no stack for them in the wrappers); NULL if out of memory. */
char *shim_vbuf(void);
/* Start-up: read GG_VROOT, GG_VEXE, GG_VLIBPATH; a root that cannot be used ends the
 * process (level 3 must never run on the host's files). */
void shim_vroot_init(void);
/*
 * The host path the real call gets for the program's (dirfd, path): *out = path
 * itself for NULL or "" (AT_EMPTY_PATH, the kernel's own ENOENT) or a dirfd that
 * names no directory (pipe: the kernel's ENOTDIR), else the mapped path in
 * buf[SHIM_VPATH_CAP].  Returns 0 or -errno (ENAMETOOLONG, ELOOP).
 */
int shim_vmap(int dirfd, const char *path, int vflags, char *buf, const char **out);
/* A host path the kernel answered (getcwd, /proc/self/fd/N) as the virtual path, in
 * place: R/x -> /x; anything else unchanged. */
void shim_vunmap(char *p);
/* The virtual name of a loaded object (dl_iterate_phdr): a suffix of `name`. */
const char *shim_vname(const char *name);
/* The loader search list for every exec (GG_VLIBPATH), NULL for the default. */
const char *shim_vlibpath(void);
/* Level 3 refuses an object loaded from outside R (the loader's trusted-directory
 * fallback, a host DT_RPATH): prints one line and ends the process. */
void shim_vcheck_objects(void);
/* The shim's own path (LD_PRELOAD entry for the children). */
const char *shim_lib_path(void);
/* Refresh the recorded cwd after a chdir (virtual under GG_VROOT). */
void shim_cwd_changed(void);
/* The cwd paths are recorded relative to (virtual under GG_VROOT), out[PATH_MAX]. */
void shim_cwd_copy(char *out);

/* Absolute form of (dirfd, path) into out[PATH_MAX * 2]; "" for NULL. */
#define SHIM_PATH_CAP (PATH_MAX * 2)
void shim_abspath(int dirfd, const char *path, char *out);
/* Path of an open descriptor ("" if unknown). */
void shim_fdpath(int fd, char *out);

/* Record helpers, one per record type (fields as in trace_format.h). */
void rec_open(int fn, int dirfd, const char *path, int flags, mode_t mode, long ret, int err);
void rec_stat(int fn, int dirfd, const char *path, int flags, long ret, int err,
	      unsigned ftype, const char *target);
void rec_list(int fn, int dirfd, const char *path, int fd_for_listing, long ret, int err);
void rec_ns(int fn, int dirfd, const char *path, int dirfd2, const char *path2,
	    int64_t arg, long ret, int err);
/* path: what chdir was given (NULL for fchdir: fd names it); recorded on failure */
void rec_chdir(int fn, const char *path, int fd, long ret, int err);
void rec_fd(int fn, int fd, int fd2, long ret, int err);
void rec_wait(int fn, pid_t pid, int status);
void rec_exit(int how, int status);
void rec_objs_new(void);
void rec_objs_handle(void *handle); /* the link map of a dlmopen handle */
/* STDIN and NET: once per image (and per domain). */
void shim_note_stdin(int fn);
void rec_net(int fn, int domain, int type, long ret, int err);
/*
 * glibc's posix_spawn_file_actions_t layout (glibc posix/spawn_int.h, stable since
 * 2.2 with tags appended): read to record what the child sees, and rewritten with
 * host paths under GG_VROOT.
 */
struct glibc_spawn_action {
	enum { SA_CLOSE, SA_DUP2, SA_OPEN, SA_CHDIR, SA_FCHDIR, SA_CLOSEFROM, SA_TCSETPGRP } tag;
	union {
		struct { int fd; } close_action;
		struct { int fd, newfd; } dup2_action;
		struct { int fd; char *path; int oflag; mode_t mode; } open_action;
		struct { char *path; } chdir_action;
		struct { int fd; } fchdir_action;
		struct { int from; } closefrom_action;
	} action;
};

struct glibc_file_actions {
	int allocated, used;
	struct glibc_spawn_action *actions;
	int pad[16];
};

void rec_spawn(int fn, const char *path, char *const argv[], char *const envp[], long ret,
	       int err, const void *file_actions, bool opaque);

/* Write-tracking of descriptors (fd bookkeeping). */
void shim_fd_opened(int fd, int flags);
bool shim_fd_closed(int fd); /* true if fd was open for writing */
void shim_fd_dup(int oldfd, int newfd);
void shim_fd_closed_range(unsigned first, unsigned last);
int shim_log_fd(void);        /* the trace segment's descriptor, or -1 */
/* After the program set a resource limit: RLIMIT_FSIZE read again (keeps errno). */
void shim_fsize_changed(void);
int shim_log_move_away(int fd); /* if fd is the log's, move the log; 0 or -errno */

/* exec support (wrap_exec.c). */
/* The exec of path is opaque: a static ELF executable (or a script run by one), or
 * set-user-ID or set-group-ID to other ids (the loader ignores LD_PRELOAD). */
bool shim_is_static_elf(const char *path);
/* Before a fork, in the parent: resolve the real functions a fork child calls to
 * exec or exit, once, so that no child looks them up itself (dlsym reads pages of
 * every object's symbol tables, each a page fault in a fresh child). */
void shim_exec_prepare(void);
/* The same for the descriptor calls a fork child makes (dup2, close: wrap_fd.c). */
void shim_fd_prepare(void);
/* Register the fork handlers (shim.c) if this image records and has not yet: called
 * before every fork that runs them (fork, daemon, forkpty: wrap_exec.c). */
void shim_atfork_ensure(void);
/*
 * The environment to pass to an exec: envp itself if it already carries the shim,
 * else a copy in out[cap] with LD_PRELOAD, GG_TRACE_DIR (and GG_SHIM_OFF) restored,
 * and, while recording, CCACHE_DISABLE=1 in place of any CCACHE_DISABLE or
 * CCACHE_NODISABLE (compiler caches pass through: README "Compiler caches").
 * `strbuf` holds the new strings.  Async-signal-safe.
 */
char *const *shim_env_fixup(char *const envp[], char **out, size_t cap, char *strbuf,
			    size_t strcap);
/* The `cap` shim_env_fixup needs for envp, 0 if it would return envp itself. */
size_t shim_env_fixup_need(char *const envp[]);
bool shim_enabled(void);
/* A fork or vfork child that has not written its PROC yet (written at its first
 * record). */
bool shim_log_pending(void);
/* The caller is a child that shares the parent's memory (vfork, clone(CLONE_VM)). */
bool shim_in_detached_child(void);
/* The function vfork jumps to: the real vfork while recording (its child records as
 * an image of its own, touching nothing shared: shim.c, "vfork children"), else fork. */
void *shim_vfork_target(void);
/* The caller is a vfork child of this image (see shim_vfork_target). */
bool shim_in_vchild(void);
void rec_exec(int fn, const char *path, char *const argv[], char *const envp[], bool opaque);
void rec_execfail(int fn, const char *path, int err);

extern char **environ;
/* getenv on environ, whatever getenv the program defines */
const char *shim_getenv(const char *name);

#endif
