/*
 * wrap_exec.c - processes: the exec family, posix_spawn[p], system, popen, vfork,
 * the wait family, exit, and dlopen.
 *
 * Every exec goes through exec_one(): record EXEC (with "opaque" for a static binary
 * that no preload library can see into), restore the shim's variables in the new
 * environment if the caller dropped them (env -i, unsetenv("LD_PRELOAD"), another
 * LD_PRELOAD), call the real execve, and record EXECFAIL if it returned.  execvp and
 * friends search PATH here, the way glibc does (posix/execvpe.c), so each candidate
 * is one EXEC record and the failures in between are visible.
 *
 * Under GG_VROOT every exec and spawn is planned through R's loader instead
 * (vexec_one, vspawn: shim/vexec.h), and system/popen, whose glibc versions run the
 * host's /bin/sh through internal calls, are rebuilt on that spawn.
 *
 * Everything here may run in a vfork child, on its parent's memory: only stack
 * buffers and syscalls, and records written as the child's own image (shim.c, "vfork
 * children").  Under GG_VROOT vfork is fork, so the level-3 plans' mmap'd buffers
 * are the child's own.
 *
 * fork and the functions that fork through libc's internal fork register the shim's
 * fork handlers before the first fork (shim_atfork_ensure).
 */
#include <elf.h>
#include <pty.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shim/path.h"
#include "shim/shim.h"
#include "shim/vexec.h"
#include "shim/vpath.h"

DECL_REAL(execve);
DECL_REAL(fexecve);
DECL_REAL(posix_spawn);
DECL_REAL(posix_spawnp);
DECL_REAL(system);
DECL_REAL(popen);
DECL_REAL(pclose);

/* ---- static ELF detection ------------------------------------------------------ */

/*
 * The first bytes of an executable, read once: a "#!" line (the kernel reads 256
 * bytes of it, BINPRM_BUF_SIZE), or the ELF header and the first program headers,
 * where a dynamic executable has its PT_INTERP (second, after PT_PHDR); the others
 * are read from the file when needed.  On the stack of a fork child about to exec,
 * so small: each stack page it writes is a copy-on-write fault.
 */
#define ELF_HEAD 256

/* The file's bytes [start, start + len) in buf[ELF_HEAD]. */
struct elf_window {
	unsigned char *buf;
	uint64_t start;
	size_t len;
};

/* The p_type of the program header at off into *t, the window moved over the
 * headers from off on (up to `left` bytes of them) when off is not in it; false if
 * the file ends first. */
static SHIM_HOT bool elf_ph_type(int fd, struct elf_window *w, uint64_t off, unsigned entsize,
			uint64_t left, uint32_t *t)
{
	if (off < w->start || off + entsize > w->start + w->len) {
		long n = shim_sys4(SYS_pread64, fd, (long)w->buf,
				   left < ELF_HEAD ? (long)left : ELF_HEAD, (long)off);
		if (n < (long)entsize)
			return false;
		w->start = off;
		w->len = (size_t)n;
	}
	memcpy(t, w->buf + (off - w->start), sizeof(*t));
	return true;
}

/*
 * An executable or a PIE of either ELF class with no PT_INTERP among its first 64
 * program headers (p_type is the first member in both classes).
 */
static SHIM_HOT bool elf_is_static(int fd, unsigned char *head, ssize_t n)
{
	struct elf_window w = { .buf = head, .start = 0, .len = n > 0 ? (size_t)n : 0 };
	uint64_t phoff;
	unsigned phnum, phentsize, type;
	uint32_t pt;

	if (n < (ssize_t)sizeof(Elf32_Ehdr) || memcmp(head, ELFMAG, SELFMAG))
		return false;
	if (head[EI_CLASS] == ELFCLASS64) {
		Elf64_Ehdr eh;
		if (n < (ssize_t)sizeof(eh))
			return false;
		memcpy(&eh, head, sizeof(eh));
		phoff = eh.e_phoff, phnum = eh.e_phnum, phentsize = eh.e_phentsize;
		type = eh.e_type;
		if (phentsize != sizeof(Elf64_Phdr))
			return false;
	} else if (head[EI_CLASS] == ELFCLASS32) {
		Elf32_Ehdr eh;
		memcpy(&eh, head, sizeof(eh));
		phoff = eh.e_phoff, phnum = eh.e_phnum, phentsize = eh.e_phentsize;
		type = eh.e_type;
		if (phentsize != sizeof(Elf32_Phdr))
			return false;
	} else {
		return false;
	}
	if (phnum > 64)
		phnum = 64;
	for (unsigned i = 0; i < phnum; i++)
		if (!elf_ph_type(fd, &w, phoff + (uint64_t)i * phentsize, phentsize,
				 (uint64_t)(phnum - i) * phentsize, &pt) ||
		    pt == PT_INTERP)
			return false;
	return type == ET_EXEC || type == ET_DYN;
}

/*
 * An exec of the file at fd that the kernel makes secure (AT_SECURE) for its set-user-ID
 * or set-group-ID bit: the new effective id differs from the real one (security/
 * commoncap.c cap_bprm_creds_from_file), and the loader then ignores an LD_PRELOAD
 * with a '/' (ld.so(8)): no shim sees into the image.  Bits on a nosuid mount, or
 * under no_new_privs, change nothing.  (File capabilities are not looked at.)
 */
static SHIM_HOT bool exec_is_secure(long fd)
{
	struct stat st;
	struct statfs sfs;
	bool uid_change, gid_change;
	int saved, nnp;

	if (shim_sys(SYS_fstat, fd, &st, 0) < 0 || !(st.st_mode & (S_ISUID | S_ISGID)))
		return false;
	uid_change = (st.st_mode & S_ISUID) && st.st_uid != (uid_t)shim_sys(SYS_getuid, 0, 0, 0);
	gid_change = (st.st_mode & S_ISGID) && (st.st_mode & S_IXGRP) &&
		     st.st_gid != (gid_t)shim_sys(SYS_getgid, 0, 0, 0);
	if (!uid_change && !gid_change)
		return false;
	if (shim_sys(SYS_fstatfs, fd, &sfs, 0) == 0 && (sfs.f_flags & ST_NOSUID))
		return false;
	saved = errno; /* prctl's five arguments: more than shim_sys4 passes */
	nnp = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
	errno = saved;
	return nnp != 1;
}

/* A static ELF executable, or a script whose interpreter is one; or an executable
 * whose exec is secure (set-user-ID, set-group-ID): both opaque to the shim. */
static SHIM_HOT bool is_static_at(int dirfd, const char *path, int depth)
{
	unsigned char head[ELF_HEAD];
	bool st = false;
	long fd = shim_sys4(SYS_openat, dirfd, (long)path, O_RDONLY | O_CLOEXEC, 0);
	ssize_t n;

	if (fd < 0)
		return false;
	n = shim_sys4(SYS_pread64, fd, (long)head, sizeof(head) - 1, 0);
	if (n > 2 && head[0] == '#' && head[1] == '!' && depth == 0) {
		char *p = (char *)head + 2, *e;
		head[n] = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
		for (e = p; *e && *e != ' ' && *e != '\t' && *e != '\n'; e++)
			;
		*e = '\0';
		shim_sys(SYS_close, fd, 0, 0);
		return p[0] == '/' && is_static_at(AT_FDCWD, p, 1);
	}
	st = elf_is_static((int)fd, head, n) || exec_is_secure(fd);
	shim_sys(SYS_close, fd, 0, 0);
	return st;
}

SHIM_HOT bool shim_is_static_elf(const char *path)
{
	return is_static_at(AT_FDCWD, path, 0);
}

DECL_REAL(exit);
DECL_REAL(_exit);

SHIM_HOT void shim_exec_prepare(void)
{
	(void)REAL(execve);
	(void)REAL(exit); /* a subshell ends with exit, a failed exec with _exit */
	(void)REAL(_exit);
}

/* ---- environment ------------------------------------------------------------------ */

static size_t preload_len(char *const envp[])
{
	for (size_t i = 0; envp && envp[i]; i++)
		if (!strncmp(envp[i], "LD_PRELOAD=", 11))
			return strlen(envp[i]);
	return 0;
}

/* Declare the buffers for shim_env_fixup on the caller's stack, when envp needs it
 * (else a few bytes: the real exec's frame stays where the stack has pages). */
#define ENV_FIXUP(envp, out)                                                       \
	size_t nvec_ = shim_env_fixup_need(envp);                                  \
	size_t nstr_ = nvec_ ? preload_len(envp) + 3 * PATH_MAX + 64 : 1;          \
	char *vec_[nvec_ ? nvec_ : 1];                                             \
	char str_[nstr_];                                                          \
	char *const *out = nvec_ ? shim_env_fixup(envp, vec_, nvec_, str_, nstr_) : envp

/* ---- level 3: every exec through the recorded loader (GG_VROOT) -------------------- */

/*
 * One anonymous mapping per exec or spawn holds the plan (a struct vexec is ~30 KiB:
 * not for a thread's stack), the new argv, the new environment and its strings,
 * handed out by a bump allocator; unmapped when the exec returns.
 */
struct vx_buf {
	char *base, *p, *end;
};

static void *vx_alloc(struct vx_buf *b, size_t n)
{
	void *r;
	n = (n + 15) & ~(size_t)15;
	if ((size_t)(b->end - b->p) < n)
		return NULL;
	r = b->p;
	b->p += n;
	return r;
}

static int vx_map(struct vx_buf *b, size_t argc, char *const envp[], size_t extra)
{
	size_t envn = 0, sz;
	while (envp && envp[envn])
		envn++;
	sz = sizeof(struct vexec) + (argc + 1 + VEXEC_ARGV_EXTRA) * sizeof(char *) +
	     (envn + 16) * sizeof(char *) + 4 * (VPATH_MAX + 32) + preload_len(envp) + extra +
	     (64u << 10); /* slack: PATH candidates and "#!" fallbacks; pages never touched
			    * cost nothing */
	sz = (sz + 4095) & ~(size_t)4095;
	b->base = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b->base == MAP_FAILED)
		return -ENOMEM;
	b->p = b->base;
	b->end = b->base + sz;
	return 0;
}

static void vx_unmap(struct vx_buf *b)
{
	munmap(b->base, (size_t)(b->end - b->base));
}

static char *vx_str(struct vx_buf *b, const char *a, const char *c, const char *d)
{
	size_t na = strlen(a), nc = c ? strlen(c) : 0, nd = d ? strlen(d) : 0;
	char *s = vx_alloc(b, na + nc + nd + 1);
	if (!s)
		return NULL;
	memcpy(s, a, na);
	if (c)
		memcpy(s + na, c, nc);
	if (d)
		memcpy(s + na + nc, d, nd);
	s[na + nc + nd] = '\0';
	return s;
}

static bool env_is(const char *e, const char *key)
{
	size_t n = strlen(key);
	return !strncmp(e, key, n) && e[n] == '=';
}

/*
 * The environment of a level-3 child: envp (already fixed up for recording) with the
 * shim in LD_PRELOAD even when recording is off, GG_VROOT and GG_VLIBPATH kept, and
 * GG_VEXE naming the virtual executable (what /proc/self/exe answers in the child).
 */
static char **vx_env(struct vx_buf *b, char *const envp[], const char *vexe,
		     const char *execfn)
{
	size_t n = 0, k = 0;
	const char *lib = shim_lib_path(), *lp = shim_vlibpath();
	bool has_lib = !lib[0];
	char **out;

	while (envp && envp[n])
		n++;
	out = vx_alloc(b, (n + 9) * sizeof(char *));
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const char *e = envp[i];
		if (env_is(e, GG_ENV_VROOT) || env_is(e, GG_ENV_VEXE) ||
		    env_is(e, GG_ENV_VLIBPATH) || env_is(e, GG_ENV_VEXECFN))
			continue;
		if (env_is(e, "LD_PRELOAD") && !has_lib) {
			has_lib = true;
			if (!strstr(e + 11, lib)) {
				e = vx_str(b, "LD_PRELOAD=", lib, e[11] ? ":" : NULL);
				if (e && envp[i][11])
					e = vx_str(b, e, envp[i] + 11, NULL);
				if (!e)
					return NULL;
			}
		}
		out[k++] = (char *)e;
	}
	if (!has_lib && !(out[k++] = vx_str(b, "LD_PRELOAD=", lib, NULL)))
		return NULL;
	if (!(out[k++] = vx_str(b, GG_ENV_VROOT "=", shim_vp.root, NULL)) ||
	    !(out[k++] = vx_str(b, GG_ENV_VEXE "=", vexe, NULL)) ||
	    !(out[k++] = vx_str(b, GG_ENV_VEXECFN "=", execfn, NULL)))
		return NULL;
	if (lp && !(out[k++] = vx_str(b, GG_ENV_VLIBPATH "=", lp, NULL)))
		return NULL;
	out[k] = NULL;
	return out;
}

/*
 * Plan the exec of virtual `path` with argv into b: *x and *out (argv for x->file).
 * With `try_shell`, a file that is neither an ELF nor a "#!" script runs with
 * /bin/sh (posix_spawnp's and execvp's fallback).  0 or -errno.
 */
static int vx_plan(struct vx_buf *b, const char *path, char *const argv[], bool try_shell,
		   struct vexec **x, const char ***out)
{
	size_t argc = 0, cap;
	char *self = strncmp(path, "/proc/", 6) ? NULL : vx_alloc(b, VPATH_MAX);
	long k;
	int rc;

	/* /proc/self/exe is the virtual executable here (the kernel's is R's loader) */
	if (self && (k = vpath_readlink_self(&shim_vp, path, self, VPATH_MAX - 1)) >= 0) {
		self[k] = '\0';
		path = self;
	}
	while (argv && argv[argc])
		argc++;
	cap = argc + VEXEC_ARGV_EXTRA;
	if (!*x && !(*x = vx_alloc(b, sizeof(**x))))
		return -ENOMEM;
	if (!*out && !(*out = vx_alloc(b, cap * sizeof(char *))))
		return -ENOMEM;
	rc = vexec_plan(&shim_vp, path, argv, shim_vlibpath(), *x, *out, cap);
	if (rc == -ENOEXEC && try_shell) {
		const char **sh = vx_alloc(b, (argc + 3) * sizeof(char *));
		if (!sh)
			return -ENOMEM;
		sh[0] = "/bin/sh";
		sh[1] = path;
		for (size_t i = 1; i <= argc; i++)
			sh[i + 1] = argv[i];
		if (!argc)
			sh[2] = NULL;
		rc = vexec_plan(&shim_vp, "/bin/sh", (char *const *)sh, shim_vlibpath(), *x, *out,
				cap);
	}
	return rc;
}

/* execve under GG_VROOT: the plan, then the real execve of the recorded loader. */
static int vexec_one(int fn, const char *path, char *const argv[], char *const envp[])
{
	struct vx_buf b;
	struct vexec *x = NULL;
	const char **out = NULL;
	size_t argc = 0;
	bool opaque, defer;
	int rc, err;

	while (argv && argv[argc])
		argc++;
	rc = vx_map(&b, argc, envp, 0);
	if (rc) {
		errno = -rc;
		return -1;
	}
	rc = vx_plan(&b, path, argv, false, &x, &out);
	opaque = !rc && x->kind == VEXEC_STATIC;
	defer = shim_log_pending() && !opaque;
	if (!defer)
		rec_exec(fn, path, argv, envp, opaque);
	if (!rc) {
		ENV_FIXUP(envp, env2);
		char **env3 = vx_env(&b, env2, x->vexe, path);
		if (env3) {
			shim_exec_begin();
			REAL(execve)(x->file, (char *const *)out, env3);
			err = errno;
			shim_exec_end();
		} else {
			err = E2BIG;
		}
	} else {
		err = -rc;
	}
	if (defer)
		rec_exec(fn, path, argv, envp, opaque);
	rec_execfail(fn, path, err);
	vx_unmap(&b);
	errno = err;
	return -1;
}

/*
 * A copy of glibc's file actions with every path mapped under R (relative ones
 * against the virtual cwd the earlier chdir actions leave); *vcwd is that cwd after
 * the actions ("" when unchanged).  NULL: fa unchanged (no paths, or none).
 */
static int vx_actions(struct vx_buf *b, const posix_spawn_file_actions_t *fa,
		      struct glibc_file_actions **out, char *vcwd)
{
	const struct glibc_file_actions *g = (const struct glibc_file_actions *)fa;
	struct glibc_file_actions *n;
	char host[SHIM_VPATH_CAP];

	*out = NULL;
	vcwd[0] = '\0';
	if (!g || g->used <= 0 || g->used > g->allocated)
		return 0;
	n = vx_alloc(b, sizeof(*n));
	if (!n)
		return -ENOMEM;
	*n = *g;
	if (!(n->actions = vx_alloc(b, (size_t)g->used * sizeof(n->actions[0]))))
		return -ENOMEM;
	for (int i = 0; i < g->used; i++) {
		struct glibc_spawn_action *a = &n->actions[i];
		char **pp = NULL;
		int vfl = 0;
		long len;
		*a = g->actions[i];
		if (a->tag == SA_OPEN) {
			int fl = a->action.open_action.oflag;
			pp = &a->action.open_action.path;
			if ((fl & O_NOFOLLOW) || (fl & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL))
				vfl = VPATH_NOFOLLOW;
		} else if (a->tag == SA_CHDIR) {
			pp = &a->action.chdir_action.path;
		} else if (a->tag == SA_FCHDIR) {
			char fdp[SHIM_PATH_CAP];
			shim_fdpath(a->action.fchdir_action.fd, fdp); /* virtual */
			if (strlen(fdp) < VPATH_MAX)
				memcpy(vcwd, fdp, strlen(fdp) + 1);
			continue;
		}
		if (!pp || !*pp)
			continue;
		len = vpath_map(&shim_vp, vcwd[0] ? vcwd : NULL, *pp, vfl, host, VPATH_MAX);
		if (len < 0)
			return (int)len;
		if (!(*pp = vx_str(b, host, NULL, NULL)))
			return -ENOMEM;
		if (a->tag == SA_CHDIR)
			vpath_unmap(&shim_vp, host, vcwd, VPATH_MAX);
	}
	*out = n;
	return 0;
}

/*
 * posix_spawn[p] under GG_VROOT: the file actions mapped, the executable planned
 * (PATH searched with each entry mapped, when `search` and file has no '/'), the real
 * posix_spawn of the recorded loader.  Records SPAWN with the virtual path.  Returns
 * 0 or an errno value, as posix_spawn.
 */
static int vspawn(int fn, pid_t *pid, const char *file, bool search,
		  const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *attr,
		  char *const argv[], char *const envp[], int *err_out)
{
	struct vx_buf b;
	struct vexec *x = NULL;
	struct glibc_file_actions *fa2 = NULL;
	const char **out = NULL;
	char *vcwd, *cand;
	size_t argc = 0;
	pid_t child = 0;
	int rc;

	while (argv && argv[argc])
		argc++;
	rc = vx_map(&b, argc, envp, 2 * VPATH_MAX);
	if (rc)
		return -rc;
	vcwd = vx_alloc(&b, VPATH_MAX);
	cand = vx_alloc(&b, VPATH_MAX);
	rc = vx_actions(&b, fa, &fa2, vcwd);
	if (rc)
		goto out_record;
	if (!search || strchr(file, '/')) {
		/* relative to the cwd the actions left: the path made absolute */
		if (vcwd[0] && file[0] != '/') {
			if (path_join(vcwd, file, cand, VPATH_MAX) < 0)
				rc = -ENAMETOOLONG;
		} else if (strlen(file) < VPATH_MAX) {
			memcpy(cand, file, strlen(file) + 1);
		} else {
			rc = -ENAMETOOLONG;
		}
		if (!rc)
			rc = vx_plan(&b, cand, argv, search, &x, &out);
	} else {
		const char *path = shim_getenv("PATH"), *p;
		bool eacces = false;
		rc = -ENOENT;
		for (p = path ? path : "/bin:/usr/bin";; p++) {
			const char *sep = strchrnul(p, ':');
			size_t dlen = (size_t)(sep - p), flen = strlen(file);
			if (dlen + flen + 2 < VPATH_MAX) {
				memcpy(cand, p, dlen);
				if (dlen)
					cand[dlen++] = '/';
				memcpy(cand + dlen, file, flen + 1);
				if (vcwd[0] && cand[0] != '/') {
					char tmp[VPATH_MAX];
					if (path_join(vcwd, cand, tmp, sizeof(tmp)) >= 0)
						memcpy(cand, tmp, strlen(tmp) + 1);
				}
				rc = vx_plan(&b, cand, argv, true, &x, &out);
				if (rc == 0 || (rc != -ENOENT && rc != -EACCES && rc != -ENOTDIR))
					break;
				eacces |= rc == -EACCES;
			}
			p = sep;
			if (!*p)
				break;
		}
		if (rc && eacces)
			rc = -EACCES;
	}
	if (!rc) {
		ENV_FIXUP(envp, env2);
		char **env3 = vx_env(&b, env2, x->vexe, cand);
		rc = env3 ? -REAL(posix_spawn)(&child, x->file,
					       fa2 ? (posix_spawn_file_actions_t *)fa2 : fa, attr,
					       (char *const *)out, env3)
			  : -E2BIG;
		*err_out = errno; /* what glibc's posix_spawn leaves, as without GG_VROOT */
	}
	if (pid)
		*pid = child;

out_record: {
	char abs[SHIM_PATH_CAP];
	shim_abspath(AT_FDCWD, rc == 0 || cand[0] ? cand : file, abs);
	rec_spawn(fn, abs, argv, envp, rc ? -1 : child, -rc, fa, !rc && x->kind == VEXEC_STATIC);
	}
	vx_unmap(&b);
	return -rc;
}

/* ---- exec ------------------------------------------------------------------------------ */

/*
 * A fork child whose first act is a successful exec leaves no log of its own: the new
 * image's PROC says all there is (pid, ppid, execfn, argv), and a log file less per
 * command is most of the shim's cost per exec.  Its EXEC is written only if the exec
 * fails or the target is opaque (static: the new image will not log).
 */
static SHIM_HOT int exec_one(int fn, const char *path, char *const argv[], char *const envp[])
{
	if (__builtin_expect(shim_vr, 0))
		return vexec_one(fn, path, argv, envp);
	bool opaque = shim_is_static_elf(path);
	bool defer = shim_log_pending() && !opaque;
	int ret, err;
	ENV_FIXUP(envp, env2);

	if (!defer)
		rec_exec(fn, path, argv, envp, opaque);
	shim_exec_begin();
	ret = REAL(execve)(path, argv, env2);
	err = errno;
	shim_exec_end();
	if (defer)
		rec_exec(fn, path, argv, envp, opaque);
	rec_execfail(fn, path, err);
	errno = err;
	return ret;
}

/* glibc's fallback for a file without a #! line: run it with /bin/sh. */
static void exec_script(int fn, const char *file, char *const argv[], char *const envp[])
{
	size_t argc = 0;
	while (argv[argc])
		argc++;
	char *nargv[argc + 2];
	nargv[0] = (char *)"/bin/sh";
	nargv[1] = (char *)file;
	for (size_t i = 1; i <= argc; i++)
		nargv[i + 1] = argv[i];
	if (argc == 0)
		nargv[2] = NULL;
	exec_one(fn, "/bin/sh", nargv, envp);
}

/* execvpe as glibc does it (posix/execvpe.c): same errors, same order of candidates. */
static int exec_path(int fn, const char *file, char *const argv[], char *const envp[])
{
	const char *path, *p;
	bool got_eacces = false;
	size_t flen;

	if (!file || !*file) {
		errno = ENOENT;
		return -1;
	}
	if (strchr(file, '/')) {
		exec_one(fn, file, argv, envp);
		if (errno == ENOEXEC)
			exec_script(fn, file, argv, envp);
		return -1;
	}
	path = shim_getenv("PATH");
	if (!path)
		path = "/bin:/usr/bin";
	flen = strlen(file) + 1;
	if (flen > NAME_MAX + 1) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (p = path;; p++) {
		const char *sep = strchrnul(p, ':');
		size_t dlen = (size_t)(sep - p);
		char cand[PATH_MAX + NAME_MAX + 2];

		if (dlen < PATH_MAX) {
			memcpy(cand, p, dlen);
			if (dlen)
				cand[dlen++] = '/';
			memcpy(cand + dlen, file, flen);
			exec_one(fn, cand, argv, envp);
			if (errno == ENOEXEC)
				exec_script(fn, cand, argv, envp);
			switch (errno) {
			case EACCES:
				got_eacces = true;
				/* fallthrough */
			case ENOENT:
			case ESTALE:
			case ENOTDIR:
			case ENODEV:
			case ETIMEDOUT:
				break;
			default:
				return -1;
			}
		}
		p = sep;
		if (!*p)
			break;
	}
	if (got_eacces)
		errno = EACCES;
	return -1;
}

/* execve, execv, execl, execle: one body, the wrapper's shape (shim.h); fn names
 * the entry point in the record. */
static SHIM_HOT int execve_fn(int fn, const char *path, char *const argv[], char *const envp[])
{
	struct shim_call c;
	if (!shim_enter_proc(&c))
		return REAL(execve)(path, argv, envp);
	exec_one(fn, path, argv, envp);
	c.err = errno;
	shim_leave(&c);
	return -1;
}

GG_EXPORT SHIM_HOT int execve(const char *path, char *const argv[], char *const envp[])
{
	return execve_fn(GG_FN_execve, path, argv, envp);
}

GG_EXPORT int execv(const char *path, char *const argv[])
{
	return execve_fn(GG_FN_execv, path, argv, environ);
}

DECL_REAL(execvpe);

static int execvpe_fn(int fn, const char *file, char *const argv[], char *const envp[])
{
	struct shim_call c;
	if (!shim_enter_proc(&c))
		return REAL(execvpe)(file, argv, envp);
	exec_path(fn, file, argv, envp);
	c.err = errno;
	shim_leave(&c);
	return -1;
}

GG_EXPORT int execvp(const char *file, char *const argv[])
{
	return execvpe_fn(GG_FN_execvp, file, argv, environ);
}

GG_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	return execvpe_fn(GG_FN_execvpe, file, argv, envp);
}

/* The execl family: collect the variadic arguments into an argv on the stack. */
#define VA_ARGV(first, argv, envp_out)                                             \
	size_t n_ = 1;                                                             \
	va_list ap_;                                                               \
	va_start(ap_, first);                                                      \
	while (va_arg(ap_, char *))                                                \
		n_++;                                                              \
	va_end(ap_);                                                               \
	char *argv[n_ + 1];                                                        \
	argv[0] = (char *)(first);                                                 \
	va_start(ap_, first);                                                      \
	for (size_t i_ = 1; i_ <= n_; i_++)                                        \
		argv[i_] = va_arg(ap_, char *);                                    \
	envp_out;                                                                  \
	va_end(ap_)

GG_EXPORT int execl(const char *path, const char *arg, ...)
{
	VA_ARGV(arg, argv, (void)0);
	return execve_fn(GG_FN_execl, path, argv, environ);
}

GG_EXPORT int execle(const char *path, const char *arg, ...)
{
	char **envp;
	VA_ARGV(arg, argv, envp = va_arg(ap_, char **));
	return execve_fn(GG_FN_execle, path, argv, envp);
}

GG_EXPORT int execlp(const char *file, const char *arg, ...)
{
	VA_ARGV(arg, argv, (void)0);
	return execvpe_fn(GG_FN_execlp, file, argv, environ);
}

GG_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
	struct shim_call c;
	char path[SHIM_PATH_CAP];
	int ret;
	if (!shim_enter_proc(&c))
		return REAL(fexecve)(fd, argv, envp);
	shim_fdpath(fd, path);
	if (c.map) { /* the file's virtual path, planned: the kernel would use its PT_INTERP */
		ret = vexec_one(GG_FN_fexecve, path, argv, envp);
		c.err = errno;
		shim_leave(&c);
		return ret;
	}
	ENV_FIXUP(envp, env2);
	rec_exec(GG_FN_fexecve, path, argv, envp, shim_is_static_elf(path));
	shim_exec_begin();
	ret = REAL(fexecve)(fd, argv, env2);
	c.err = errno;
	shim_exec_end();
	rec_execfail(GG_FN_fexecve, path, c.err);
	shim_leave(&c);
	return ret;
}

int execveat(int dirfd, const char *path, char *const argv[], char *const envp[], int flags);
DECL_REAL(execveat);
GG_EXPORT int execveat(int dirfd, const char *path, char *const argv[], char *const envp[],
		       int flags)
{
	struct shim_call c;
	char abs[SHIM_PATH_CAP];
	int ret;
	if (!shim_enter_proc(&c))
		return REAL(execveat)(dirfd, path, argv, envp, flags);
	if ((flags & AT_EMPTY_PATH) && !path[0])
		shim_fdpath(dirfd, abs);
	else
		shim_abspath(dirfd, path, abs);
	if (c.map) {
		ret = vexec_one(GG_FN_execveat, abs, argv, envp);
		c.err = errno;
		shim_leave(&c);
		return ret;
	}
	ENV_FIXUP(envp, env2);
	rec_exec(GG_FN_execveat, abs, argv, envp, shim_is_static_elf(abs));
	shim_exec_begin();
	ret = REAL(execveat)(dirfd, path, argv, env2, flags);
	c.err = errno;
	shim_exec_end();
	rec_execfail(GG_FN_execveat, abs, c.err);
	shim_leave(&c);
	return ret;
}

/* ---- spawn ------------------------------------------------------------------------------ */

/* Where posix_spawnp will find `file` (for the opaque check only). */
static void path_lookup(const char *file, char *out)
{
	const char *path = shim_getenv("PATH"), *p;
	out[0] = '\0';
	if (strchr(file, '/')) {
		shim_abspath(AT_FDCWD, file, out);
		return;
	}
	for (p = path ? path : "/bin:/usr/bin";; p++) {
		const char *sep = strchrnul(p, ':');
		size_t dlen = (size_t)(sep - p), flen = strlen(file);
		if (dlen + flen + 2 < PATH_MAX) {
			memcpy(out, p, dlen);
			out[dlen] = '/';
			memcpy(out + dlen + 1, file, flen + 1);
			if (syscall(SYS_faccessat, AT_FDCWD, out, X_OK) == 0)
				return;
		}
		p = sep;
		if (!*p)
			break;
	}
	out[0] = '\0';
}

/*
 * posix_spawn and posix_spawnp (`search`: the file is looked up in PATH): one body,
 * the wrapper's shape (shim.h).  The executable recorded is the file's absolute
 * path, or where the PATH lookup finds it (the file as given when it finds none).
 */
static int spawn_one(int fn, bool search, pid_t *pid, const char *file,
		     const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *attr,
		     char *const argv[], char *const envp[])
{
	struct shim_call c;
	char abs[SHIM_PATH_CAP];
	pid_t child = 0;
	int ret;
	if (!shim_enter_proc(&c))
		return (search ? REAL(posix_spawnp) : REAL(posix_spawn))(pid, file, fa, attr, argv,
									 envp);
	if (c.map) {
		c.err = c.saved_errno;
		ret = vspawn(fn, pid, file, search, fa, attr, argv, envp, &c.err);
		shim_leave(&c);
		return ret;
	}
	ENV_FIXUP(envp, env2);
	ret = (search ? REAL(posix_spawnp) : REAL(posix_spawn))(&child, file, fa, attr, argv, env2);
	c.err = errno;
	if (pid)
		*pid = child;
	if (search)
		path_lookup(file, abs);
	else
		shim_abspath(AT_FDCWD, file, abs);
	rec_spawn(fn, abs[0] || !search ? abs : file, argv, envp, ret ? -1 : child, ret, fa,
		  abs[0] && shim_is_static_elf(abs));
	shim_leave(&c);
	return ret;
}

GG_EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
			  const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	return spawn_one(GG_FN_posix_spawn, false, pid, path, fa, attr, argv, envp);
}

GG_EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
			   const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	return spawn_one(GG_FN_posix_spawnp, true, pid, file, fa, attr, argv, envp);
}

/* The status of child pid, as waitpid: the raw syscall, retried on EINTR. */
static int vwait(pid_t pid)
{
	int st = 0;
	while (syscall(SYS_wait4, pid, &st, 0, NULL) < 0)
		if (errno != EINTR)
			return -1;
	return st;
}

/*
 * system(3) under GG_VROOT: glibc's runs the host's /bin/sh through its internal
 * posix_spawn, out of the wrappers' reach; this one spawns R's, with glibc's signal
 * handling (SIGINT and SIGQUIT ignored and SIGCHLD blocked while it waits, default
 * in the child).
 */
static int vsystem(const char *cmd)
{
	char *argv[] = { (char *)"sh", (char *)"-c", (char *)cmd, NULL };
	struct sigaction ign = { .sa_handler = SIG_IGN }, oint, oquit;
	sigset_t chld, omask, def;
	posix_spawnattr_t attr;
	pid_t pid = 0;
	int rc, st;

	if (!cmd) {
		struct vexec *x;
		struct vx_buf b;
		if (vx_map(&b, 0, NULL, 0))
			return 0;
		x = vx_alloc(&b, sizeof(*x));
		const char *out[20];
		rc = x ? vexec_plan(&shim_vp, "/bin/sh", argv, shim_vlibpath(), x, out, 20) : -1;
		vx_unmap(&b);
		return rc == 0;
	}
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigaction(SIGINT, &ign, &oint);
	sigaction(SIGQUIT, &ign, &oquit);
	sigprocmask(SIG_BLOCK, &chld, &omask);
	sigemptyset(&def);
	if (oint.sa_handler != SIG_IGN)
		sigaddset(&def, SIGINT);
	if (oquit.sa_handler != SIG_IGN)
		sigaddset(&def, SIGQUIT);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setsigmask(&attr, &omask);
	posix_spawnattr_setsigdefault(&attr, &def);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
	rc = vspawn(GG_FN_system, &pid, "/bin/sh", false, NULL, &attr, argv, environ, &st);
	st = rc ? 127 << 8 : vwait(pid);
	posix_spawnattr_destroy(&attr);
	sigaction(SIGINT, &oint, NULL);
	sigaction(SIGQUIT, &oquit, NULL);
	sigprocmask(SIG_SETMASK, &omask, NULL);
	return st;
}

/* popen'd streams under GG_VROOT and their shells, for pclose. */
#define VPOPEN_MAX 64
static struct {
	FILE *_Atomic f;
	pid_t pid;
} vpopen_tab[VPOPEN_MAX];

DECL_REAL(fdopen);

/* popen(3) under GG_VROOT: a pipe, R's /bin/sh spawned on it, a stream on our end. */
static FILE *vpopen(const char *cmd, const char *type)
{
	char *argv[] = { (char *)"sh", (char *)"-c", (char *)cmd, NULL };
	struct glibc_spawn_action act = { .tag = SA_DUP2 };
	struct glibc_file_actions fa = { .allocated = 1, .used = 1, .actions = &act };
	bool rd = type && type[0] == 'r';
	int p[2], mine, theirs, rc, st;
	pid_t pid = 0;
	FILE *f;

	if (!type || (type[0] != 'r' && type[0] != 'w') || (type[1] && type[1] != 'e')) {
		errno = EINVAL;
		return NULL;
	}
	if (pipe2(p, O_CLOEXEC) < 0)
		return NULL;
	mine = rd ? p[0] : p[1];
	theirs = rd ? p[1] : p[0];
	act.action.dup2_action.fd = theirs;
	act.action.dup2_action.newfd = rd ? 1 : 0;
	rc = vspawn(GG_FN_popen, &pid, "/bin/sh", false, (posix_spawn_file_actions_t *)&fa, NULL,
		    argv, environ, &st);
	syscall(SYS_close, theirs);
	if (rc) {
		syscall(SYS_close, mine);
		errno = rc;
		return NULL;
	}
	if (!type[1])
		fcntl(mine, F_SETFD, 0);
	f = REAL(fdopen)(mine, rd ? "r" : "w");
	if (!f) {
		syscall(SYS_close, mine);
		vwait(pid);
		return NULL;
	}
	for (int i = 0; i < VPOPEN_MAX; i++) {
		FILE *none = NULL;
		if (atomic_compare_exchange_strong(&vpopen_tab[i].f, &none, f)) {
			vpopen_tab[i].pid = pid;
			break;
		}
	}
	return f;
}

/* pclose of a vpopen stream: -2 when f is not one. */
static int vpclose(FILE *f)
{
	for (int i = 0; i < VPOPEN_MAX; i++) {
		if (atomic_load(&vpopen_tab[i].f) != f)
			continue;
		pid_t pid = vpopen_tab[i].pid;
		atomic_store(&vpopen_tab[i].f, NULL);
		fclose(f);
		return vwait(pid);
	}
	return -2;
}

/* system and popen run "/bin/sh -c cmd" with this process's environment. */
GG_EXPORT int system(const char *cmd)
{
	struct shim_call c;
	char *argv[] = { (char *)"sh", (char *)"-c", (char *)cmd, NULL };
	int ret;
	if (!shim_enter_v(&c))
		return REAL(system)(cmd);
	if (c.map) {
		ret = vsystem(cmd);
		c.err = c.saved_errno;
		if (cmd)
			rec_wait(GG_FN_system, 0, ret);
		shim_leave(&c);
		return ret;
	}
	ret = REAL(system)(cmd);
	c.err = errno;
	if (cmd) {
		rec_spawn(GG_FN_system, "/bin/sh", argv, NULL, 0, 0, NULL, false);
		rec_wait(GG_FN_system, 0, ret);
	}
	shim_leave(&c);
	return ret;
}

GG_EXPORT FILE *popen(const char *cmd, const char *type)
{
	struct shim_call c;
	char *argv[] = { (char *)"sh", (char *)"-c", (char *)cmd, NULL };
	FILE *ret;
	if (!shim_enter_v(&c))
		return REAL(popen)(cmd, type);
	if (c.map) {
		ret = vpopen(cmd, type);
		c.err = ret ? c.saved_errno : errno;
		shim_leave(&c);
		return ret;
	}
	ret = REAL(popen)(cmd, type);
	c.err = errno;
	rec_spawn(GG_FN_popen, "/bin/sh", argv, NULL, ret ? 0 : -1, ret ? 0 : c.err, NULL, false);
	shim_leave(&c);
	return ret;
}

GG_EXPORT int pclose(FILE *f)
{
	struct shim_call c;
	int ret;
	if (!shim_enter_v(&c))
		return REAL(pclose)(f);
	ret = c.map ? vpclose(f) : -2;
	if (ret == -2)
		ret = REAL(pclose)(f);
	c.err = errno;
	if (ret != -1 && c.active)
		rec_wait(GG_FN_pclose, 0, ret);
	shim_leave(&c);
	return ret;
}

/*
 * vfork: the child runs on the parent's stack until it execs or exits, so no frame
 * of the shim's may be under it.  This trampoline calls shim_vfork_target (the
 * stack kept 16-byte aligned) and jumps to what it returns, the real vfork or fork,
 * as if called from the program.  Elsewhere than x86-64, vfork is fork: a correct vfork
 * program (the child only execs or _exits) cannot tell the difference.
 */
#if defined(__x86_64__)
__asm__(".text\n"
	".globl vfork\n"
	".type vfork, @function\n"
	"vfork:\n"
	"	.cfi_startproc\n"
	"	endbr64\n"
	"	subq $8, %rsp\n"
	"	.cfi_adjust_cfa_offset 8\n"
	"	call shim_vfork_target\n"
	"	addq $8, %rsp\n"
	"	.cfi_adjust_cfa_offset -8\n"
	"	jmp *%rax\n"
	"	.cfi_endproc\n"
	".size vfork, .-vfork\n");
#else
GG_EXPORT pid_t vfork(void)
{
	return fork();
}
#endif

/*
 * fork, and the libc functions that fork with the fork handlers run (glibc's daemon
 * and forkpty call its internal fork): the shim's handlers are registered before
 * the first of them (shim_atfork_ensure), so that an image that never forks does
 * not register them.  _Fork runs no handlers, with or without the shim.
 */
DECL_REAL(fork);
GG_EXPORT SHIM_HOT pid_t fork(void)
{
	shim_atfork_ensure();
	return REAL(fork)();
}

pid_t __fork(void);
DECL_REAL(__fork);
GG_EXPORT pid_t __fork(void)
{
	shim_atfork_ensure();
	return REAL(__fork)();
}

DECL_REAL(daemon);
GG_EXPORT int daemon(int nochdir, int noclose)
{
	shim_atfork_ensure();
	return REAL(daemon)(nochdir, noclose);
}

DECL_REAL(forkpty);
GG_EXPORT pid_t forkpty(int *amaster, char *name, const struct termios *termp,
			const struct winsize *winp)
{
	shim_atfork_ensure();
	return REAL(forkpty)(amaster, name, termp, winp);
}

/* ---- resource limits ----------------------------------------------------------------------- */

/*
 * A limit on the file size applies to the trace segment too, which every image of the
 * recording appends to (`ulimit -f` in a shell that then waits for a child): the shim
 * blocks SIGXFSZ around its writes once the limit is set.  Nothing is recorded.
 */
#define RLIMIT_WRAP(name, params, args)                                            \
	DECL_REAL(name);                                                           \
	GG_EXPORT int name params                                                  \
	{                                                                          \
		int ret = REAL(name) args;                                         \
		if (ret == 0)                                                      \
			shim_fsize_changed();                                      \
		return ret;                                                        \
	}

RLIMIT_WRAP(setrlimit, (__rlimit_resource_t r, const struct rlimit *l), (r, l))
RLIMIT_WRAP(setrlimit64, (__rlimit_resource_t r, const struct rlimit64 *l), (r, l))
RLIMIT_WRAP(prlimit, (pid_t p, __rlimit_resource_t r, const struct rlimit *l, struct rlimit *o),
	    (p, r, l, o))
RLIMIT_WRAP(prlimit64,
	    (pid_t p, __rlimit_resource_t r, const struct rlimit64 *l, struct rlimit64 *o),
	    (p, r, l, o))

/* ---- wait ---------------------------------------------------------------------------------- */

SHIM_WRAP(pid_t, wait, (int *st), (st),
	  if (ret > 0 && st) rec_wait(GG_FN_wait, ret, *st))

DECL_REAL(waitpid);
GG_EXPORT pid_t waitpid(pid_t pid, int *st, int opt)
{
	struct shim_call c;
	int local;
	pid_t ret;
	if (!shim_enter(&c))
		return REAL(waitpid)(pid, st, opt);
	ret = REAL(waitpid)(pid, st ? st : &local, opt);
	c.err = errno;
	if (ret > 0 && !(opt & (WUNTRACED | WCONTINUED) &&
			 (WIFSTOPPED(st ? *st : local) || WIFCONTINUED(st ? *st : local))))
		rec_wait(GG_FN_waitpid, ret, st ? *st : local);
	shim_leave(&c);
	return ret;
}

DECL_REAL(wait3);
GG_EXPORT pid_t wait3(int *st, int opt, struct rusage *ru)
{
	struct shim_call c;
	int local;
	pid_t ret;
	if (!shim_enter(&c))
		return REAL(wait3)(st, opt, ru);
	ret = REAL(wait3)(st ? st : &local, opt, ru);
	c.err = errno;
	if (ret > 0 && !WIFSTOPPED(st ? *st : local) && !WIFCONTINUED(st ? *st : local))
		rec_wait(GG_FN_wait3, ret, st ? *st : local);
	shim_leave(&c);
	return ret;
}

DECL_REAL(wait4);
GG_EXPORT pid_t wait4(pid_t pid, int *st, int opt, struct rusage *ru)
{
	struct shim_call c;
	int local;
	pid_t ret;
	if (!shim_enter(&c))
		return REAL(wait4)(pid, st, opt, ru);
	ret = REAL(wait4)(pid, st ? st : &local, opt, ru);
	c.err = errno;
	if (ret > 0 && !WIFSTOPPED(st ? *st : local) && !WIFCONTINUED(st ? *st : local))
		rec_wait(GG_FN_wait4, ret, st ? *st : local);
	shim_leave(&c);
	return ret;
}

DECL_REAL(waitid);
GG_EXPORT int waitid(idtype_t idtype, id_t id, siginfo_t *info, int opt)
{
	struct shim_call c;
	int ret;
	if (!shim_enter(&c))
		return REAL(waitid)(idtype, id, info, opt);
	ret = REAL(waitid)(idtype, id, info, opt);
	c.err = errno;
	if (ret == 0 && info && info->si_pid > 0 && !(opt & WNOWAIT)) {
		int code = info->si_code, s = info->si_status;
		if (code == CLD_EXITED)
			rec_wait(GG_FN_waitid, info->si_pid, (s & 0xff) << 8);
		else if (code == CLD_KILLED || code == CLD_DUMPED)
			rec_wait(GG_FN_waitid, info->si_pid, (s & 0x7f) | (code == CLD_DUMPED ? 0x80 : 0));
	}
	shim_leave(&c);
	return ret;
}

/* ---- exit ---------------------------------------------------------------------------------- */

DECL_REAL(_Exit);

#define EXIT_WRAP(name, how)                                                       \
	GG_EXPORT __attribute__((noreturn)) void name(int status)                  \
	{                                                                          \
		struct shim_call c;                                                \
		if (shim_enter(&c)) {                                              \
			rec_exit(how, status & 0xff);                              \
			shim_leave(&c);                                            \
		}                                                                  \
		REAL(name)(status);                                                \
		__builtin_unreachable();                                           \
	}

EXIT_WRAP(exit, GG_EXIT_EXIT)
EXIT_WRAP(_exit, GG_EXIT__EXIT)
EXIT_WRAP(_Exit, GG_EXIT__EXIT)

/* ---- dlopen -------------------------------------------------------------------------------- */

/*
 * Under GG_VROOT a name with a '/' is a path: mapped (the loader opens it with its
 * own syscalls); a bare name is searched by R's loader in its --library-path.  Any
 * object then mapped from outside R ends the process (shim_vcheck_objects).
 */
#define DLOPEN_WRAP(name, params, args, file, record)                              \
	DECL_REAL(name);                                                           \
	GG_EXPORT void *name params                                                \
	{                                                                          \
		struct shim_call c_;                                               \
		const char *const v_ = (file);                                     \
		void *ret;                                                         \
		if (!shim_enter_v(&c_))                                            \
			return REAL(name) args;                                    \
		if (c_.map && v_ && strchr(v_, '/')) {                             \
			const char *m_;                                            \
			char *h_ = shim_vbuf();                                    \
			int e_ = h_ ? shim_vmap(AT_FDCWD, v_, 0, h_, &m_) : -ENOMEM; \
			if (e_ < 0) {                                              \
				c_.err = -e_;                                      \
				shim_leave(&c_);                                   \
				return NULL;                                       \
			}                                                          \
			file = m_;                                                 \
		}                                                                  \
		ret = REAL(name) args;                                             \
		c_.err = errno;                                                    \
		file = v_;                                                         \
		if (ret && c_.map)                                                 \
			shim_vcheck_objects();                                     \
		if (ret && c_.active)                                              \
			record;                                                    \
		shim_leave(&c_);                                                   \
		return ret;                                                        \
	}

DLOPEN_WRAP(dlopen, (const char *file, int mode), (file, mode), file, rec_objs_new())
/* dlmopen may load into another namespace, which dl_iterate_phdr does not walk. */
DLOPEN_WRAP(dlmopen, (Lmid_t lm, const char *file, int mode), (lm, file, mode), file,
	    rec_objs_handle(ret))
