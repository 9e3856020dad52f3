/*
 * vpath.h - path virtualization for level 3: run a thunk under a root R as if R were /.
 *
 * A thunk's inputs are materialized under a host directory R (e.g. /tmp/gg/r/<job>) at
 * their recorded absolute paths: recorded /usr/include/stdio.h is R/usr/include/stdio.h.
 * Every path the program passes to the kernel is a *virtual* path; this module maps it
 * to the *host* path under R, and maps host answers (getcwd, readlink, realpath,
 * /proc/self/exe) back.  See docs/level3.md for why this lives in the shim.
 *
 * Invariants
 *  - The host path of a virtual path V (not a passthrough) is R + V: the virtual path
 *    is the host path with the first root_len bytes removed.  R itself maps to "/".
 *  - Resolution is chroot-like and never escapes R: ".." at the virtual root stays at
 *    the root; a symlink under R with an absolute target (as recorded: /usr/lib/x.so
 *    -> /lib/x.so) is resolved inside R; symlinks are followed component by component
 *    with readlinkat(2) on the host path, at most VPATH_MAX_LINKS times (-ELOOP).
 *    ".." is applied after the component before it was resolved, so "link/.." is the
 *    parent of the link's target, as the kernel does it.
 *  - A component that does not exist (or is not a symlink, or cannot be read) ends the
 *    symlink walk: the rest is joined lexically, and the real call reports the error
 *    (ENOENT, ENOTDIR, EACCES) itself.  Only -ENAMETOOLONG and -ELOOP come from here.
 *  - Fast path: a path without ".." is first checked in one openat2(2) with
 *    RESOLVE_NO_SYMLINKS (O_PATH, closed at once): when no component is a symlink
 *    (or the first missing one comes before any), R + the cleaned path is the
 *    answer the walk would give.  ELOOP (a link on the way) falls back to the walk;
 *    a kernel without openat2 (ENOSYS, or a seccomp policy's EPERM) turns the fast
 *    path off for the process.
 *  - Passthrough paths stay host paths, unmapped and unresolved:
 *        /proc (and everything under it)  the kernel's view of this process
 *        /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty
 *        /dev/fd /dev/stdin /dev/stdout /dev/stderr /dev/ptmx /dev/pts (and under them)
 *    /tmp is NOT passthrough: a compiler's temporaries (/tmp/ccXXXX.s) go to R/tmp,
 *    which keeps jobs apart and keeps the worker's own /tmp (its cache, other roots)
 *    out of the program's reach.  A host path that happens to start with R is not
 *    special either (it maps to R + R...): the mapping stays a bijection, and answers
 *    that could carry host paths are mapped back instead (vpath_unmap).
 *    /proc/self/exe (and /proc/<own pid>/exe) is passthrough for opening, but its
 *    readlink answer is the virtual executable (vpath_readlink_self), because every
 *    program runs under the recorded loader and the kernel would answer the loader.
 *
 * No malloc, no stdio, errno preserved (the functions return -errno and never set
 * errno), fixed caller buffers, raw syscalls only (readlinkat through syscall(2) so the
 * shim's own readlink wrapper is not re-entered): safe in the shim's hot path and
 * between fork and exec.
 *
 * The GG_VROOT contract (libggshim.so, docs/level3.md): how a caller (`gg worker
 * exec`, the isolated engine, tests/e2e/vpath.sh) runs a command at level 3.
 *  - R holds, at their recorded absolute paths: every file the command reads (the
 *    executables, their PT_INTERP loader, every shared object with its recorded
 *    symlinks, headers, ...), and the directories it writes to (R/tmp for compiler
 *    temporaries, the output directories).  GG_VROOT may reach R through symlinks
 *    (the shim canonicalizes it and accepts both spellings in the loader's object
 *    names); the shim's own NEEDED libraries (libc.so.6; libubsan in a sanitizer
 *    build) are loaded from R like any other.
 *    Passthrough paths (/proc, /dev/null, ...) are the host's.
 *  - Environment of the first process:
 *        LD_PRELOAD=<host path of libggshim.so>   (host path: never mapped)
 *        GG_VROOT=<R>                              (GG_ENV_VROOT, absolute host path)
 *        GG_VEXE=<virtual path of the executable>  (GG_ENV_VEXE: vexec.vexe of the plan)
 *        GG_VEXECFN=<the path as given to exec>    (optional, GG_ENV_VEXECFN: recorded as
 *                         the image's execfn, which the kernel's AT_EXECFN no longer is)
 *        GG_VLIBPATH=<virtual dirs, ':'-separated> (optional, GG_ENV_VLIBPATH: the
 *                         loader's search list for every exec; VEXEC_DEFAULT_LIBPATH)
 *        GG_TRACE_DIR=<host dir>  to record (a host path, never mapped), or
 *        GG_SHIM_OFF=1            not to record: virtualization is on either way.
 *    The shim keeps them (GG_VEXE updated) in every child's environment; the
 *    inferer drops GG_* and LD_PRELOAD from thunks, so a recording under R and
 *    on the host give the same thunks.
 *  - The host cwd of the first process is R + the virtual cwd (a cwd outside R is
 *    taken as "/").
 *  - The first exec is the caller's: plan it as the shim plans every later one,
 *        vpath_init(&vp, R, vcwd, NULL);
 *        vexec_plan(&vp, cmd_virtual_path, argv, libpath_or_NULL, &x, argv2, cap);
 *            (cap = argc + VEXEC_ARGV_EXTRA; x is ~30 KiB: not on a small stack)
 *        chdir(R + vcwd); execve(x.file, argv2, env + "GG_VEXE=" x.vexe
 *                                   [+ "GG_VEXECFN=" cmd_virtual_path, "PWD=" vcwd]);
 *    (PATH search is the caller's for the first exec; the shim does it, mapped,
 *    for execvp and posix_spawnp.)  tests/tools/vexec_plan prints a plan, or with
 *    --exec performs it (optionally after a chroot).  A static executable runs
 *    directly (VEXEC_STATIC): nothing virtualizes it, the inferer marks such thunks
 *    local-only (THUNK_LOCAL_OPAQUE_BINARY).
 *  - A process of the run that maps an object from outside R (the loader's trusted
 *    directories, a host run path) stops at once: "gg: level 3 (GG_VROOT): shared
 *    object loaded from outside the root: PATH", status 127.  So does a GG_VROOT
 *    that does not exist.
 */
#ifndef GG_VPATH_H
#define GG_VPATH_H

#include <stdbool.h>
#include <stddef.h>

/* Environment of a level-3 process (the contract above). */
#define GG_ENV_VROOT "GG_VROOT"
#define GG_ENV_VEXE "GG_VEXE"
#define GG_ENV_VLIBPATH "GG_VLIBPATH"
#define GG_ENV_VEXECFN "GG_VEXECFN"

#define VPATH_MAX 4096		/* PATH_MAX: host and virtual paths, NUL included */
#define VPATH_MAX_LINKS 40	/* symlinks followed per resolution, as the kernel (MAXSYMLINKS) */

/* Resolution flags. */
#define VPATH_NOFOLLOW 0x1	/* do not follow a symlink in the last component (lstat,
				 * readlink, unlink, rename, O_NOFOLLOW, AT_SYMLINK_NOFOLLOW) */
#define VPATH_WALK 0x2		/* always walk component by component (tests: the one-call
				 * check below must give the same answers) */

/*
 * One process's virtual view: the root, the virtual cwd, the virtual executable.
 * Owned by the caller (the shim keeps one static instance); plain data, no cleanup.
 */
struct vpath {
	char root[VPATH_MAX];	/* host root R, absolute, clean, no trailing slash */
	size_t root_len;
	char cwd[VPATH_MAX];	/* virtual cwd, absolute and resolved */
	char exe[VPATH_MAX];	/* virtual path of the running executable, or "" */
};

/*
 * Set the root (host path, absolute), the virtual cwd (absolute; "/" when NULL) and the
 * virtual executable (NULL or "" = unknown).  Returns 0, -EINVAL (relative root or cwd,
 * or root "/"), or -ENAMETOOLONG.  The cwd is stored as given (cleaned), not resolved.
 */
int vpath_init(struct vpath *vp, const char *root, const char *cwd, const char *exe);

/* True when the virtual path `p` (absolute, clean) is a passthrough host path. */
bool vpath_is_passthrough(const char *p);

/*
 * Map the path a program passed to its host path.  `base` is the virtual directory a
 * relative `path` is relative to: the dirfd's virtual path for *at calls, NULL for the
 * virtual cwd; it is ignored when `path` is absolute.  Writes the host path to
 * out[cap] and returns its length, or -ENAMETOOLONG (also when the host path would not
 * fit in VPATH_MAX), -ELOOP, -ENOENT (empty path, as the kernel), -EINVAL.
 * For a non-passthrough answer, out + vp->root_len is the resolved virtual path
 * ("/" when out is R itself: check vpath_virtual()).
 */
long vpath_map(const struct vpath *vp, const char *base, const char *path, int flags,
	       char *out, size_t cap);

/*
 * The virtual path of a host path produced by vpath_map (or answered by the kernel):
 * R/x -> /x, R -> /, anything outside R unchanged (passthrough, /proc).  Writes to
 * out[cap] (may equal host) and returns the length or -ENAMETOOLONG.  This is what
 * getcwd, realpath, readlink of /proc/self/{cwd,fd/N} and friends answer.
 */
long vpath_unmap(const struct vpath *vp, const char *host, char *out, size_t cap);

/*
 * The answer to readlink(`path`) when the path names this process's executable
 * (/proc/self/exe, /proc/<pid>/exe with pid == getpid(), /proc/thread-self/exe):
 * writes vp->exe (no NUL, as readlink) and returns its length, truncated to cap.
 * Returns -ENOENT when `path` is not such a path or the executable is unknown.
 */
long vpath_readlink_self(const struct vpath *vp, const char *path, char *out, size_t cap);

/*
 * The virtual path inside a host path returned by vpath_map: host + root_len, or "/"
 * for R itself.  Only meaningful when `host` is under R (not a passthrough answer).
 */
static inline const char *vpath_virtual(const struct vpath *vp, const char *host)
{
	return host[vp->root_len] ? host + vp->root_len : "/";
}

/*
 * After a successful host chdir(2) to `host` (a vpath_map answer), make its virtual
 * path the virtual cwd.  Returns 0, or -ENAMETOOLONG (cwd unchanged).
 */
int vpath_set_cwd(struct vpath *vp, const char *host);

#endif
