/*
 * vexec.h - the exec step of level 3: run a virtual executable through the recorded loader.
 *
 * Under path virtualization (vpath.h) no process may start through the host's loader:
 * the kernel would read the ELF's PT_INTERP (/lib64/ld-linux-x86-64.so.2) on the host,
 * and that loader would read the host's libc and /etc/ld.so.cache.  vexec_plan turns
 * an execve(path, argv) of a virtual path into the host execve to perform instead:
 *
 *   dynamic ELF   R/<PT_INTERP> --inhibit-cache --library-path <LP under R>
 *                               [--inhibit-rpath R/<path>] --argv0 <argv[0]>
 *                               R/<path> argv[1..]
 *   static ELF    R/<path> argv (executed directly: there is no loader to redirect)
 *   "#!" script   the interpreter (mapped, itself planned again: at most
 *                 VEXEC_MAX_SCRIPTS levels, as the kernel's BINPRM recursion limit)
 *                 with argv [interp, optional arg, path as passed, argv[1..]], the
 *                 kernel's convention (binfmt_script)
 *
 * LP is the executable's own DT_RUNPATH (or DT_RPATH) entries, absolute ones mapped
 * under R and "$ORIGIN" ones expanded against the executable's host directory, then
 * the caller's colon-separated list of *virtual* library directories (the recorded
 * loader's search list; NULL = VEXEC_DEFAULT_LIBPATH), each mapped under R as
 * written.  An executable with a run path gets --inhibit-rpath: DT_RPATH is searched
 * before --library-path, as host paths (glibc elf/dl-load.c decompose_rpath).  The
 * loader (glibc >= 2.33 for --argv0) still applies the shared objects' own absolute
 * run paths as host paths, and searches its compiled-in trusted directories on the
 * host after LP: the shim refuses any object mapped from outside R (vroot.c), and
 * docs/level3.md lists what remains.
 *
 * The planned process's /proc/self/exe is the loader; `vexe` is the virtual path the
 * program believes it runs (what vpath_readlink_self must answer in the child).
 *
 * Like vpath: no malloc, no stdio, raw syscalls, errno preserved, 0/-errno returns.
 */
#ifndef GG_VEXEC_H
#define GG_VEXEC_H

#include <stddef.h>

#include "shim/vpath.h"

#define VEXEC_MAX_SCRIPTS 4	/* "#!" levels, as Linux (fs/exec.c) */
#define VEXEC_SHEBANG_MAX 256	/* bytes of a "#!" line read, as Linux BINPRM_BUF_SIZE */
/* out_argv needs argc (argv's length) + VEXEC_ARGV_EXTRA entries at most: the loader,
 * its 6 options and their values, one "#!" interpreter and argument per level, the NULL */
#define VEXEC_ARGV_EXTRA (10 + 2 * VEXEC_MAX_SCRIPTS)
#define VEXEC_DEFAULT_LIBPATH "/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu:/lib64:/lib:/usr/lib"

enum vexec_kind { VEXEC_LOADER, VEXEC_STATIC };

/*
 * The plan: strings it owns, and argv pointers into them or into the caller's path
 * and argv (which must outlive the plan).  Plain data, no cleanup; about 30 KiB: keep one per
 * thread, not on a small stack.
 */
struct vexec {
	enum vexec_kind kind;
	char file[VPATH_MAX];		/* host path to execve */
	char exe[VPATH_MAX];		/* host path of the final ELF */
	char vexe[VPATH_MAX];		/* its virtual path (for /proc/self/exe) */
	char libpath[VPATH_MAX];	/* mapped --library-path */
	char interp[VEXEC_MAX_SCRIPTS][VEXEC_SHEBANG_MAX]; /* "#!" lines, split in place */
	int scripts;			/* "#!" levels crossed */
};

/*
 * Plan the exec of virtual `path` (as given to execve: absolute or relative to the
 * virtual cwd; PATH search is the caller's) with `argv` (NULL-terminated).  Fills x
 * and out_argv[cap] (NULL-terminated; execve(x->file, out_argv, envp)).  Returns 0,
 * or -ENOENT / -EACCES (not executable) / -ENOEXEC (neither a 64-bit ELF nor a "#!"
 * script; an ELF whose loader is missing under R) / -ELOOP (too many "#!" levels or
 * symlinks) / -E2BIG (out_argv too small) / -ENAMETOOLONG.
 */
int vexec_plan(const struct vpath *vp, const char *path, char *const argv[],
	       const char *libpath, struct vexec *x, const char **out_argv, size_t cap);

#endif
