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
 * Everything here may run in a vfork child: only stack buffers and syscalls.
 */
#include <elf.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shim/shim.h"

DECL_REAL(execve);
DECL_REAL(fexecve);
DECL_REAL(posix_spawn);
DECL_REAL(posix_spawnp);
DECL_REAL(system);
DECL_REAL(popen);
DECL_REAL(pclose);

/* ---- static ELF detection ------------------------------------------------------ */

static bool elf_is_static(int fd, const unsigned char *hdr, ssize_t n)
{
	if (n < (ssize_t)sizeof(Elf32_Ehdr) || memcmp(hdr, ELFMAG, SELFMAG))
		return false;
	if (hdr[EI_CLASS] == ELFCLASS64 && n >= (ssize_t)sizeof(Elf64_Ehdr)) {
		const Elf64_Ehdr *eh = (const Elf64_Ehdr *)hdr;
		Elf64_Phdr ph[64];
		size_t cnt = eh->e_phnum < 64 ? eh->e_phnum : 64;
		if (eh->e_phentsize != sizeof(Elf64_Phdr) ||
		    pread(fd, ph, cnt * sizeof(ph[0]), (off_t)eh->e_phoff) != (ssize_t)(cnt * sizeof(ph[0])))
			return false;
		for (size_t i = 0; i < cnt; i++)
			if (ph[i].p_type == PT_INTERP)
				return false;
		return eh->e_type == ET_EXEC || eh->e_type == ET_DYN;
	}
	if (hdr[EI_CLASS] == ELFCLASS32) {
		const Elf32_Ehdr *eh = (const Elf32_Ehdr *)hdr;
		Elf32_Phdr ph[64];
		size_t cnt = eh->e_phnum < 64 ? eh->e_phnum : 64;
		if (eh->e_phentsize != sizeof(Elf32_Phdr) ||
		    pread(fd, ph, cnt * sizeof(ph[0]), (off_t)eh->e_phoff) != (ssize_t)(cnt * sizeof(ph[0])))
			return false;
		for (size_t i = 0; i < cnt; i++)
			if (ph[i].p_type == PT_INTERP)
				return false;
		return eh->e_type == ET_EXEC || eh->e_type == ET_DYN;
	}
	return false;
}

/* A static ELF executable, or a script whose interpreter is one. */
static bool is_static_at(int dirfd, const char *path, int depth)
{
	unsigned char hdr[sizeof(Elf64_Ehdr) > 256 ? sizeof(Elf64_Ehdr) : 256];
	bool st = false;
	int fd = (int)syscall(SYS_openat, dirfd, path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return false;
	n = pread(fd, hdr, sizeof(hdr) - 1, 0);
	if (n > 2 && hdr[0] == '#' && hdr[1] == '!' && depth == 0) {
		char *p = (char *)hdr + 2, *e;
		hdr[n] = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
		for (e = p; *e && *e != ' ' && *e != '\t' && *e != '\n'; e++)
			;
		*e = '\0';
		syscall(SYS_close, fd);
		return p[0] == '/' && is_static_at(AT_FDCWD, p, 1);
	}
	st = elf_is_static(fd, hdr, n);
	syscall(SYS_close, fd);
	return st;
}

bool shim_is_static_elf(const char *path)
{
	return is_static_at(AT_FDCWD, path, 0);
}

/* ---- environment ------------------------------------------------------------------ */

static size_t preload_len(char *const envp[])
{
	for (size_t i = 0; envp && envp[i]; i++)
		if (!strncmp(envp[i], "LD_PRELOAD=", 11))
			return strlen(envp[i]);
	return 0;
}

/* Declare the buffers for shim_env_fixup on the caller's stack. */
#define ENV_FIXUP(envp, out)                                                       \
	size_t nvec_ = shim_env_fixup_need(envp);                                  \
	size_t nstr_ = preload_len(envp) + 3 * PATH_MAX + 64;                      \
	char *vec_[nvec_];                                                         \
	char str_[nstr_];                                                          \
	char *const *out = shim_env_fixup(envp, vec_, nvec_, str_, nstr_)

/* ---- exec ------------------------------------------------------------------------------ */

/*
 * A fork child whose first act is a successful exec leaves no log of its own: the new
 * image's PROC says all there is (pid, ppid, execfn, argv), and a log file less per
 * command is most of the shim's cost per exec.  Its EXEC is written only if the exec
 * fails or the target is opaque (static: the new image will not log).
 */
static int exec_one(int fn, const char *path, char *const argv[], char *const envp[])
{
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

GG_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	struct shim_call c;
	if (!shim_enter_proc(&c))
		return REAL(execve)(path, argv, envp);
	exec_one(GG_FN_execve, path, argv, envp);
	c.err = errno;
	shim_leave(&c);
	return -1;
}

GG_EXPORT int execv(const char *path, char *const argv[])
{
	struct shim_call c;
	if (!shim_enter_proc(&c))
		return REAL(execve)(path, argv, environ);
	exec_one(GG_FN_execv, path, argv, environ);
	c.err = errno;
	shim_leave(&c);
	return -1;
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
	struct shim_call c;
	if (!shim_enter_proc(&c))
		return REAL(execve)(path, argv, environ);
	exec_one(GG_FN_execl, path, argv, environ);
	c.err = errno;
	shim_leave(&c);
	return -1;
}

GG_EXPORT int execle(const char *path, const char *arg, ...)
{
	char **envp;
	VA_ARGV(arg, argv, envp = va_arg(ap_, char **));
	struct shim_call c;
	if (!shim_enter_proc(&c))
		return REAL(execve)(path, argv, envp);
	exec_one(GG_FN_execle, path, argv, envp);
	c.err = errno;
	shim_leave(&c);
	return -1;
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

GG_EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
			  const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	struct shim_call c;
	char abs[SHIM_PATH_CAP];
	pid_t child = 0;
	int ret;
	if (!shim_enter_proc(&c))
		return REAL(posix_spawn)(pid, path, fa, attr, argv, envp);
	ENV_FIXUP(envp, env2);
	ret = REAL(posix_spawn)(&child, path, fa, attr, argv, env2);
	c.err = errno;
	if (pid)
		*pid = child;
	shim_abspath(AT_FDCWD, path, abs);
	rec_spawn(GG_FN_posix_spawn, abs, argv, envp, ret ? -1 : child, ret, fa,
		  shim_is_static_elf(abs));
	shim_leave(&c);
	return ret;
}

GG_EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
			   const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	struct shim_call c;
	char found[PATH_MAX + 1];
	pid_t child = 0;
	int ret;
	if (!shim_enter_proc(&c))
		return REAL(posix_spawnp)(pid, file, fa, attr, argv, envp);
	ENV_FIXUP(envp, env2);
	ret = REAL(posix_spawnp)(&child, file, fa, attr, argv, env2);
	c.err = errno;
	if (pid)
		*pid = child;
	path_lookup(file, found);
	rec_spawn(GG_FN_posix_spawnp, found[0] ? found : file, argv, envp, ret ? -1 : child, ret,
		  fa, found[0] && shim_is_static_elf(found));
	shim_leave(&c);
	return ret;
}

/* system and popen run "/bin/sh -c cmd" with this process's environment. */
GG_EXPORT int system(const char *cmd)
{
	struct shim_call c;
	char *argv[] = { (char *)"sh", (char *)"-c", (char *)cmd, NULL };
	int ret;
	if (!shim_enter(&c))
		return REAL(system)(cmd);
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
	if (!shim_enter(&c))
		return REAL(popen)(cmd, type);
	ret = REAL(popen)(cmd, type);
	c.err = errno;
	rec_spawn(GG_FN_popen, "/bin/sh", argv, NULL, ret ? 0 : -1, ret ? 0 : c.err, NULL, false);
	shim_leave(&c);
	return ret;
}

SHIM_WRAP(int, pclose, (FILE *f), (f), if (ret != -1) rec_wait(GG_FN_pclose, 0, ret))

/*
 * vfork shares the parent's memory, including the shim's state, until the child
 * execs; turn it into fork so the child's records cannot disturb the parent's.  A
 * correct vfork program (the child only execs or _exits) cannot tell the difference.
 */
GG_EXPORT pid_t vfork(void)
{
	return fork();
}

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

DECL_REAL(exit);
DECL_REAL(_exit);
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

SHIM_WRAP(void *, dlopen, (const char *file, int mode), (file, mode),
	  if (ret) rec_objs_new())
/* dlmopen may load into another namespace, which dl_iterate_phdr does not walk. */
SHIM_WRAP(void *, dlmopen, (Lmid_t lm, const char *file, int mode), (lm, file, mode),
	  if (ret) rec_objs_handle(ret))
