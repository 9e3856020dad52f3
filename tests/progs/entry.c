/*
 * entry.c - one case per libc entry point the gg shim intercepts (GG_FN_LIST in
 * shim/trace_format.h), driven by tests/e2e/shim-entrypoints.sh.
 *
 *     entry CASE          run one case in the current directory (a fresh, empty one)
 *     entry --list        print the case names, one a line
 *     entry show MARK...  exec target: print the arguments and $GGTEST, exit 100+
 *     entry spawnchild    posix_spawn target: report what the file actions did
 *
 * Every case prints what a program could observe (return values, errno as number and
 * name, fd numbers, contents, child statuses) to stdout and ends with a status of its
 * own, so that a run under the shim can be compared byte for byte with a plain run.
 * Paths printed are absolute only when both runs use the same directory.  Nothing
 * that differs between two plain runs (pids, times, random names) is printed, and a
 * parent prints nothing while a child it started may still be writing.
 *
 * The scaffolding (files and directories a case needs) is made with raw system calls
 * so that it leaves no event that a case's expected event could be mistaken for.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pty.h>
#include <sched.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Old and fortified entry points: not declared by the headers without
 * _FORTIFY_SOURCE or for new binaries, still exported by glibc 2.36. */
extern int __xstat(int ver, const char *path, struct stat *st);
extern int __xstat64(int ver, const char *path, struct stat64 *st);
extern int __lxstat(int ver, const char *path, struct stat *st);
extern int __lxstat64(int ver, const char *path, struct stat64 *st);
extern int __fxstatat(int ver, int dirfd, const char *path, struct stat *st, int flags);
extern int __fxstatat64(int ver, int dirfd, const char *path, struct stat64 *st, int flags);
extern int __open_2(const char *path, int flags);
extern int __open64_2(const char *path, int flags);
extern int __openat_2(int dirfd, const char *path, int flags);
extern int __openat64_2(int dirfd, const char *path, int flags);
extern char *__realpath_chk(const char *path, char *resolved, size_t resolvedlen);
#define STAT_VER 1 /* _STAT_VER_LINUX on x86_64 */
extern int __uflow(FILE *f);
extern int __underflow(FILE *f);
extern ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen);
extern ssize_t __pread_chk(int fd, void *buf, size_t n, off_t off, size_t buflen);
extern ssize_t __pread64_chk(int fd, void *buf, size_t n, off64_t off, size_t buflen);
extern size_t __fread_chk(void *p, size_t plen, size_t size, size_t n, FILE *f);
extern size_t __fread_unlocked_chk(void *p, size_t plen, size_t size, size_t n, FILE *f);
extern char *__fgets_chk(char *buf, size_t buflen, int n, FILE *f);
extern char *__fgets_unlocked_chk(char *buf, size_t buflen, int n, FILE *f);
extern int __isoc99_fscanf(FILE *f, const char *fmt, ...);
extern int __isoc99_scanf(const char *fmt, ...);
extern int __isoc99_vfscanf(FILE *f, const char *fmt, va_list ap);
/* the unredirected symbols, whatever the headers map scanf to */
extern int sym_fscanf(FILE *f, const char *fmt, ...) __asm__("fscanf");
extern int sym_scanf(const char *fmt, ...) __asm__("scanf");
extern int sym_vfscanf(FILE *f, const char *fmt, va_list ap) __asm__("vfscanf");
/* glibc's headers inline these at -O1 (bits/stdio.h); call the exported symbols */
extern ssize_t sym_getline(char **line, size_t *n, FILE *f) __asm__("getline");
extern int sym_getchar(void) __asm__("getchar");
extern int sym_fgetc_unlocked(FILE *f) __asm__("fgetc_unlocked");
extern int sym_getc_unlocked(FILE *f) __asm__("getc_unlocked");
extern int sym_getchar_unlocked(void) __asm__("getchar_unlocked");
extern size_t sym_fread_unlocked(void *p, size_t size, size_t n, FILE *f) __asm__("fread_unlocked");

static const char *self;     /* this program, as exec'd (an absolute path) */
static char progdir[PATH_MAX]; /* the directory holding it */

/* ---- output ---------------------------------------------------------------- */

static const char *errname(int e)
{
	const char *n = e ? strerrorname_np(e) : "0";
	return n ? n : "?";
}

static void report(const char *what, long ret, int err)
{
	printf("%s: ret=%ld errno=%d %s\n", what, ret, err, errname(err));
}

static void reportp(const char *what, const void *ret, int err)
{
	printf("%s: ret=%s errno=%d %s\n", what, ret ? "ptr" : "NULL", err, errname(err));
}

/* Run EXPR with errno cleared, print its result and the errno it left. */
#define CALL(var, what, expr)                              \
	do {                                               \
		errno = 0;                                 \
		var = (expr);                              \
		int e_ = errno;                            \
		report((what), (long)(var), e_);           \
	} while (0)
#define CALLP(var, what, expr)                             \
	do {                                               \
		errno = 0;                                 \
		var = (expr);                              \
		int e_ = errno;                            \
		reportp((what), (const void *)(var), e_);  \
	} while (0)

static void show_status(const char *who, int st)
{
	if (WIFEXITED(st))
		printf("%s: exited %d\n", who, WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		printf("%s: killed by signal %d\n", who, WTERMSIG(st));
	else
		printf("%s: status 0x%x\n", who, st);
}

static void reap(const char *who, pid_t pid)
{
	int st = 0;
	pid_t r;

	while ((r = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
		;
	if (r != pid) {
		printf("%s: waitpid failed: %s\n", who, errname(errno));
		return;
	}
	show_status(who, st);
}

static void show_file(const char *what, const char *path)
{
	char buf[256];
	int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0) {
		printf("%s: cannot read '%s': %s\n", what, path, errname(errno));
		return;
	}
	n = read(fd, buf, sizeof buf - 1);
	syscall(SYS_close, fd);
	buf[n > 0 ? n : 0] = 0;
	printf("%s: %zd bytes: %s", what, n, buf);
	if (n <= 0 || buf[n - 1] != '\n')
		printf("\n");
}

static void show_fd(const char *what, int fd)
{
	int r = fcntl(fd, F_GETFD);
	int e = errno;

	if (r < 0)
		printf("%s: fd %d closed (%s)\n", what, fd, errname(e));
	else
		printf("%s: fd %d open, cloexec=%d\n", what, fd, !!(r & FD_CLOEXEC));
}

/* ---- scaffolding through raw system calls (invisible to the shim) ----------- */

static void raw_put(const char *path, const char *text, mode_t mode)
{
	int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	if (fd < 0) {
		printf("setup: cannot create '%s': %s\n", path, errname(errno));
		exit(2);
	}
	if (write(fd, text, strlen(text)) < 0)
		exit(2);
	syscall(SYS_close, fd);
	syscall(SYS_fchmodat, AT_FDCWD, path, mode); /* despite the umask */
}

static void raw_mkdir(const char *path)
{
	if (syscall(SYS_mkdirat, AT_FDCWD, path, 0755) < 0 && errno != EEXIST) {
		printf("setup: cannot mkdir '%s': %s\n", path, errname(errno));
		exit(2);
	}
}

static void raw_symlink(const char *target, const char *path)
{
	if (syscall(SYS_symlinkat, target, AT_FDCWD, path) < 0) {
		printf("setup: cannot symlink '%s': %s\n", path, errname(errno));
		exit(2);
	}
}

/*
 * The tree most cases work in:
 *   f.txt  dir/  dir/rel.txt  dir/dlnk -> rel.txt  listdir/{a,b,c}  lnk -> target.txt
 *   target.txt  emptydir/  sub/input.txt  noexec.sh (mode 644)
 */
static void setup_tree(void)
{
	raw_put("f.txt", "hello\n", 0644);
	raw_put("target.txt", "target\n", 0644);
	raw_mkdir("dir");
	raw_put("dir/rel.txt", "rel\n", 0644);
	raw_symlink("rel.txt", "dir/dlnk");
	raw_mkdir("listdir");
	raw_put("listdir/a", "", 0644);
	raw_put("listdir/b", "", 0644);
	raw_put("listdir/c", "", 0644);
	raw_symlink("target.txt", "lnk");
	raw_mkdir("emptydir");
	raw_mkdir("sub");
	raw_put("sub/input.txt", "spawn-input\n", 0644);
	raw_put("noexec.sh", "#!/bin/sh\necho must not run\n", 0644);
}

/* environ plus one more variable (the caller's environment otherwise intact). */
static char **env_plus(const char *kv)
{
	size_t n = 0;
	char **env;

	while (environ[n])
		n++;
	env = calloc(n + 2, sizeof *env);
	if (!env)
		exit(2);
	memcpy(env, environ, n * sizeof *env);
	env[n] = (char *)kv;
	return env;
}

static int opendirfd(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0) {
		printf("setup: cannot open directory '%s': %s\n", path, errname(errno));
		exit(2);
	}
	return fd;
}

/* Standard output is unbuffered (see main), so nothing is pending before an exec. */
#define EXEC_FAILED(what) printf("%s returned: errno=%d %s\n", (what), errno, errname(errno))

/* ---- exec family ----------------------------------------------------------- */

static void c_execve(void)
{
	char *argv[] = {"entry", "show", "execve-child", "a b", NULL};

	execve(self, argv, env_plus("GGTEST=execve"));
	EXEC_FAILED("execve");
}

static void c_execve_missing(void)
{
	char *argv[] = {"no-such-prog", NULL};
	int r;

	CALL(r, "execve ./no-such-prog", execve("./no-such-prog", argv, environ));
}

static void c_execve_noexec(void)
{
	char *argv[] = {"noexec.sh", NULL};
	int r;

	setup_tree();
	CALL(r, "execve ./noexec.sh", execve("./noexec.sh", argv, environ));
}

static void c_execve_relative(void)
{
	char *argv[] = {"myentry", "show", "execve-relative-child", NULL};

	raw_symlink(self, "myentry");
	execve("./myentry", argv, environ);
	EXEC_FAILED("execve");
}

static void c_execve_envclear(void)
{
	char *argv[] = {"entry", "show", "execve-envclear-child", NULL};
	char *env[] = {"GGTEST=envclear", NULL};

	execve(self, argv, env);
	EXEC_FAILED("execve");
}

static void c_execv(void)
{
	char *argv[] = {"entry", "show", "execv-child", NULL};

	setenv("GGTEST", "execv", 1);
	execv(self, argv);
	EXEC_FAILED("execv");
}

static void c_execvp(void)
{
	char *argv[] = {"sh", "-c", "echo execvp-sh; exit 33", NULL};

	execvp("sh", argv);
	EXEC_FAILED("execvp");
}

static void c_execvp_missing_then_echo(void)
{
	char *argv1[] = {"gg-no-such-program", NULL};
	char *argv2[] = {"echo", "found", "after", "missing", NULL};
	int r;

	CALL(r, "execvp gg-no-such-program", execvp("gg-no-such-program", argv1));
	execvp("echo", argv2);
	EXEC_FAILED("execvp echo");
}

/* A non-executable `echo` first in PATH: glibc's execvp notes EACCES, goes on with
 * the PATH search and runs the real echo. */
static void c_execvp_noexec_then_echo(void)
{
	char *argv[] = {"echo", "real", "echo", NULL};
	char cwd[PATH_MAX], path[PATH_MAX * 2];
	const char *old = getenv("PATH");

	raw_mkdir("pathdir");
	raw_put("pathdir/echo", "#!/bin/sh\necho wrong echo\n", 0644);
	if (!getcwd(cwd, sizeof cwd))
		exit(2);
	snprintf(path, sizeof path, "%s/pathdir:%s", cwd, old ? old : "/usr/bin:/bin");
	setenv("PATH", path, 1);
	execvp("echo", argv);
	EXEC_FAILED("execvp echo");
}

/* ... and when nothing else is found, execvp reports that EACCES. */
static void c_execvp_noexec_only(void)
{
	char *argv[] = {"echo", "x", NULL};
	char cwd[PATH_MAX], path[PATH_MAX * 2];
	int r;

	raw_mkdir("pathdir");
	raw_put("pathdir/echo", "#!/bin/sh\necho wrong echo\n", 0644);
	if (!getcwd(cwd, sizeof cwd))
		exit(2);
	snprintf(path, sizeof path, "%s/pathdir", cwd);
	setenv("PATH", path, 1);
	CALL(r, "execvp echo (only a non-executable one)", execvp("echo", argv));
}

/* A name holding a slash is not searched for. */
static void c_execvp_slash(void)
{
	char *argv[] = {"myentry", "show", "execvp-slash-child", NULL};

	raw_symlink(self, "myentry");
	execvp("./myentry", argv);
	EXEC_FAILED("execvp");
}

static void c_execvpe(void)
{
	char *argv[] = {"sh", "-c", "echo execvpe GGTEST=$GGTEST; exit 34", NULL};

	execvpe("sh", argv, env_plus("GGTEST=execvpe"));
	EXEC_FAILED("execvpe");
}

static void c_execl(void)
{
	execl(self, "entry", "show", "execl-child", "x", (char *)NULL);
	EXEC_FAILED("execl");
}

static void c_execlp(void)
{
	execlp("sh", "sh", "-c", "echo execlp-sh; exit 35", (char *)NULL);
	EXEC_FAILED("execlp");
}

static void c_execle(void)
{
	execle(self, "entry", "show", "execle-child", (char *)NULL, env_plus("GGTEST=execle"));
	EXEC_FAILED("execle");
}

static void c_fexecve(void)
{
	char *argv[] = {"entry", "show", "fexecve-child", NULL};
	int fd = open(self, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		printf("open self: %s\n", errname(errno));
		return;
	}
	fexecve(fd, argv, environ);
	EXEC_FAILED("fexecve");
}

static void c_execveat(void)
{
	char *argv[] = {"entry", "show", "execveat-child", NULL};
	int dfd = opendirfd(progdir);

	execveat(dfd, "entry", argv, environ, 0);
	EXEC_FAILED("execveat");
}

static void c_execveat_empty(void)
{
	char *argv[] = {"entry", "show", "execveat-empty-child", NULL};
	int fd = open(self, O_RDONLY);

	execveat(fd, "", argv, environ, AT_EMPTY_PATH);
	EXEC_FAILED("execveat");
}

static void c_execveat_missing(void)
{
	char *argv[] = {"no-such-prog", NULL};
	int dfd = opendirfd(progdir), r;

	CALL(r, "execveat no-such-prog", execveat(dfd, "no-such-prog", argv, environ, 0));
}

/* ---- posix_spawn, system, popen, vfork, clone, fork -------------------------- */

static void c_posix_spawn(void)
{
	char *argv[] = {"entry", "spawnchild", NULL};
	posix_spawn_file_actions_t fa;
	pid_t pid = 0;
	int r, fd;

	setup_tree();
	/* fd 6 is inherited unless the close action works */
	fd = (int)syscall(SYS_openat, AT_FDCWD, "f.txt", O_RDONLY);
	if (fd < 0 || dup2(fd, 6) != 6)
		exit(2);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addchdir_np(&fa, "sub");
	posix_spawn_file_actions_addopen(&fa, 5, "input.txt", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, 1, 7);
	posix_spawn_file_actions_addclose(&fa, 6);
	errno = 0;
	r = posix_spawn(&pid, self, &fa, NULL, argv, environ);
	int e = errno;
	reap("spawnchild", pid);
	printf("posix_spawn: ret=%d pid>0=%d errno=%d %s\n", r, pid > 0, e, errname(e));
	posix_spawn_file_actions_destroy(&fa);
}

static void c_posix_spawn_fchdir(void)
{
	char *argv[] = {"entry", "spawnchild", NULL};
	posix_spawn_file_actions_t fa;
	pid_t pid = 0;
	int r, dfd;

	setup_tree();
	dfd = opendirfd("sub");
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addfchdir_np(&fa, dfd);
	posix_spawn_file_actions_addopen(&fa, 5, "input.txt", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, 1, 7);
	r = posix_spawn(&pid, self, &fa, NULL, argv, environ);
	reap("spawnchild", pid);
	printf("posix_spawn: ret=%d pid>0=%d\n", r, pid > 0);
	posix_spawn_file_actions_destroy(&fa);
}

static void c_posix_spawn_missing(void)
{
	char *argv[] = {"no-such-prog", NULL};
	pid_t pid = 0;
	int r;

	r = posix_spawn(&pid, "./no-such-prog", NULL, NULL, argv, environ);
	printf("posix_spawn ./no-such-prog: ret=%d %s\n", r, errname(r));
	if (r == 0)
		reap("no-such-prog", pid);
}

static void c_posix_spawn_envclear(void)
{
	char *argv[] = {"entry", "show", "spawn-envclear-child", NULL};
	char *env[] = {"GGTEST=spawn-envclear", NULL};
	pid_t pid = 0;
	int r;

	r = posix_spawn(&pid, self, NULL, NULL, argv, env);
	reap("child", pid);
	printf("posix_spawn: ret=%d\n", r);
}

static void c_posix_spawnp(void)
{
	char *argv[] = {"sh", "-c", "echo spawnp-sh; exit 36", NULL};
	posix_spawnattr_t at;
	pid_t pid = 0;
	int r;

	posix_spawnattr_init(&at);
	r = posix_spawnp(&pid, "sh", NULL, &at, argv, environ);
	reap("sh", pid);
	printf("posix_spawnp: ret=%d pid>0=%d\n", r, pid > 0);
	posix_spawnattr_destroy(&at);
}

static void c_posix_spawnp_missing(void)
{
	char *argv[] = {"gg-no-such-program", NULL};
	pid_t pid = 0;
	int r;

	r = posix_spawnp(&pid, "gg-no-such-program", NULL, NULL, argv, environ);
	printf("posix_spawnp gg-no-such-program: ret=%d %s\n", r, errname(r));
	if (r == 0)
		reap("gg-no-such-program", pid);
}

static void c_system(void)
{
	int r;

	CALL(r, "system", system("echo system-out; exit 3"));
	show_status("system", r);
}

static void c_popen(void)
{
	char line[128] = "";
	FILE *p;
	int r;

	CALLP(p, "popen", popen("echo popen-out; exit 4", "r"));
	if (!p)
		return;
	while (fgets(line, sizeof line, p))
		printf("read: %s", line);
	CALL(r, "pclose", pclose(p));
	show_status("pclose", r);
}

static void c_vfork(void)
{
	pid_t pid = vfork();

	if (pid == 0) {
		execl(self, "entry", "show", "vfork-child", (char *)NULL);
		_exit(127);
	}
	reap("vfork child", pid);
	printf("vfork: pid>0=%d\n", pid > 0);
}

/*
 * vfork is the real one under the shim: its child runs on this image's memory, so
 * what the child records must be its own image's and leave the parent's state as it
 * was.  The child opens its stdout, closes the parent's written descriptor, checks
 * a path the parent checked, moves and execs; a second child fails its exec and
 * _exits.  The parent then checks the path again (its dedupe set is its own), ends
 * its write (the close is recorded: the child's close did not take it) and opens
 * another file (recording goes on after a child that _exits in a wrapper).
 */
static void c_vfork_busy(void)
{
	struct stat st;
	int out = open("vfork-parent.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	pid_t pid;

	mkdir("sub", 0755);
	stat("vfork-seen", &st);
	pid = vfork();
	if (pid == 0) {
		int fd = open("vfork-child.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 1);
		close(fd);
		close(out);
		stat("vfork-seen", &st);
		if (chdir("sub") == 0)
			execl(self, "entry", "show", "vfork-busy-child", (char *)NULL);
		_exit(127);
	}
	reap("vfork child", pid);
	pid = vfork();
	if (pid == 0) {
		execl("no-such-prog", "no-such-prog", (char *)NULL);
		_exit(126);
	}
	reap("vfork child 2", pid);
	stat("vfork-seen", &st);
	printf("write: %zd\n", write(out, "parent\n", 7));
	printf("close: %d\n", close(out));
	close(open("vfork-after.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644));
	show_file("child's stdout", "vfork-child.txt");
}

static char clone_stack[256 * 1024] __attribute__((aligned(16)));

static int clone_child(void *arg)
{
	char *argv[] = {"entry", "show", "clone-vfork-child", NULL};

	execve(self, argv, environ);
	_exit(127);
}

static void c_clone_vfork(void)
{
	pid_t pid = clone(clone_child, clone_stack + sizeof clone_stack,
			  CLONE_VM | CLONE_VFORK | SIGCHLD, NULL);

	if (pid < 0) {
		printf("clone: %s\n", errname(errno));
		return;
	}
	reap("clone child", pid);
	printf("clone: pid>0=%d\n", pid > 0);
}

static void c_fork(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		int fd = open("fork-child.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
		printf("fork child: open fd=%d\n", fd);
		_exit(7);
	}
	reap("fork child", pid);
}

/* forkpty: the child is an image of origin fork, like fork's (the shim's fork
 * handlers are registered by its wrapper, at the first fork). */
static void c_forkpty(void)
{
	int master = -1;
	pid_t pid = forkpty(&master, NULL, NULL, NULL);

	if (pid == 0) {
		int fd = open("forkpty-child.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
		_exit(fd >= 0 ? 9 : 1);
	}
	if (pid < 0)
		printf("forkpty failed: %s\n", errname(errno));
	reap("forkpty child", pid);
	if (master >= 0)
		close(master);
}

/* daemon: its child (here a grandchild, so that this program can wait for it) is an
 * image of origin fork too. */
static void c_daemon(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		int fd;
		if (daemon(1, 1) < 0)
			_exit(1);
		fd = open("daemon-child.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd >= 0)
			close(fd);
		rename("daemon-child.txt", "daemon-done.txt");
		_exit(0);
	}
	reap("daemon parent", pid);
	for (int i = 0; i < 500 && access("daemon-done.txt", F_OK) < 0; i++)
		usleep(10000);
	printf("daemon child: %s\n", access("daemon-done.txt", F_OK) == 0 ? "done" : "not done");
}

/* ---- open family ----------------------------------------------------------- */

static void c_open(void)
{
	int fd, r;

	CALL(fd, "open f.txt O_WRONLY|O_CREAT|O_TRUNC", open("f.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644));
	if (write(fd, "written\n", 8) != 8)
		printf("write failed\n");
	CALL(r, "close", close(fd));
	show_file("f.txt", "f.txt");
	CALL(fd, "open f.txt O_RDONLY", open("f.txt", O_RDONLY));
}

static void c_open_missing(void)
{
	int fd;

	CALL(fd, "open missing.txt", open("missing.txt", O_RDONLY));
	CALL(fd, "open missing-dir/x O_CREAT", open("missing-dir/x", O_WRONLY | O_CREAT, 0644));
}

static void c_open_longpath(void)
{
	char path[5000];
	int fd;

	memset(path, 'a', sizeof path - 1);
	path[sizeof path - 1] = 0;
	CALL(fd, "open (4999-byte name)", open(path, O_RDONLY));
}

static void c_open_nonutf8(void)
{
	int fd;

	CALL(fd, "open caf\\xe9.txt", open("caf\xe9.txt", O_WRONLY | O_CREAT, 0644));
}

static void c_open64(void)
{
	int fd;

	CALL(fd, "open64 f64.txt", open64("f64.txt", O_RDWR | O_CREAT, 0600));
}

static void c_openat(void)
{
	int dfd, fd;

	raw_mkdir("dir");
	dfd = opendirfd("dir");
	CALL(fd, "openat dir rel.txt", openat(dfd, "rel.txt", O_WRONLY | O_CREAT, 0644));
	CALL(fd, "openat AT_FDCWD cwdrel.txt", openat(AT_FDCWD, "cwdrel.txt", O_WRONLY | O_CREAT, 0644));
	CALL(fd, "openat dir missing.txt", openat(dfd, "missing.txt", O_RDONLY));
}

static void c_openat64(void)
{
	int dfd, fd;

	raw_mkdir("dir");
	dfd = opendirfd("dir");
	CALL(fd, "openat64 dir rel64.txt", openat64(dfd, "rel64.txt", O_WRONLY | O_CREAT, 0644));
}

static void c_creat(void)
{
	int fd;

	CALL(fd, "creat cr.txt", creat("cr.txt", 0644));
}

static void c_creat64(void)
{
	int fd;

	CALL(fd, "creat64 cr64.txt", creat64("cr64.txt", 0644));
}

static void c_fopen(void)
{
	FILE *f;

	CALLP(f, "fopen fo.txt w", fopen("fo.txt", "w"));
	printf("fileno=%d\n", fileno(f));
	fputs("fopen\n", f);
	fclose(f);
	CALLP(f, "fopen fo.txt a+", fopen("fo.txt", "a+"));
	printf("fileno=%d\n", fileno(f));
	fclose(f);
	CALLP(f, "fopen fo.txt re", fopen("fo.txt", "re"));
	printf("fileno=%d\n", fileno(f));
	fclose(f);
	show_file("fo.txt", "fo.txt");
}

static void c_fopen_missing(void)
{
	FILE *f;

	CALLP(f, "fopen missing.txt r", fopen("missing.txt", "r"));
}

static void c_fopen64(void)
{
	FILE *f;

	CALLP(f, "fopen64 fo64.txt w", fopen64("fo64.txt", "w"));
	printf("fileno=%d\n", fileno(f));
}

static void c_freopen(void)
{
	FILE *f, *g;

	CALLP(f, "fopen fr1.txt w", fopen("fr1.txt", "w"));
	CALLP(g, "freopen fr2.txt w", freopen("fr2.txt", "w", f));
	printf("fileno=%d same=%d\n", fileno(g), f == g);
	fputs("freopen\n", g);
	fclose(g);
	show_file("fr2.txt", "fr2.txt");
}

static void c_freopen64(void)
{
	FILE *f, *g;

	CALLP(f, "fopen fr1.txt w", fopen("fr1.txt", "w"));
	CALLP(g, "freopen64 fr64.txt w", freopen64("fr64.txt", "w", f));
	printf("fileno=%d\n", fileno(g));
}

static void c_fdopen(void)
{
	FILE *f;
	int fd;

	CALL(fd, "open fd.txt", open("fd.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644));
	CALLP(f, "fdopen w", fdopen(fd, "w"));
	printf("fileno=%d\n", fileno(f));
	fputs("fdopen\n", f);
	fclose(f);
	show_file("fd.txt", "fd.txt");
}

static void c_open_2(void)
{
	int fd;

	setup_tree();
	CALL(fd, "__open_2 f.txt", __open_2("f.txt", O_RDONLY));
	CALL(fd, "__open_2 missing.txt", __open_2("missing.txt", O_RDONLY));
}

static void c_open64_2(void)
{
	int fd;

	setup_tree();
	CALL(fd, "__open64_2 f.txt", __open64_2("f.txt", O_RDONLY));
}

static void c_openat_2(void)
{
	int fd, dfd;

	setup_tree();
	dfd = opendirfd("dir");
	CALL(fd, "__openat_2 dir rel.txt", __openat_2(dfd, "rel.txt", O_RDONLY));
}

static void c_openat64_2(void)
{
	int fd, dfd;

	setup_tree();
	dfd = opendirfd("dir");
	CALL(fd, "__openat64_2 dir rel.txt", __openat64_2(dfd, "rel.txt", O_RDONLY));
}

static void c_o_tmpfile(void)
{
	int fd;

	CALL(fd, "open . O_TMPFILE", open(".", O_TMPFILE | O_RDWR, 0600));
}

/* The name mkstemp makes is random: print its shape, not the name. */
static void show_template(const char *what, int fd, const char *t, const char *prefix, const char *suffix)
{
	size_t lp = strlen(prefix), ls = strlen(suffix), l = strlen(t);
	struct stat st;

	printf("%s: fd=%d prefix_ok=%d suffix_ok=%d len=%zu exists=%d\n", what, fd,
	       strncmp(t, prefix, lp) == 0, l >= ls && strcmp(t + l - ls, suffix) == 0, l,
	       syscall(SYS_newfstatat, AT_FDCWD, t, &st, 0) == 0);
}

static void c_mkstemp(void)
{
	char t[] = "mkst-XXXXXX";
	int fd = mkstemp(t);

	show_template("mkstemp", fd, t, "mkst-", "");
}

static void c_mkstemp64(void)
{
	char t[] = "mkst64-XXXXXX";
	int fd = mkstemp64(t);

	show_template("mkstemp64", fd, t, "mkst64-", "");
}

static void c_mkostemp(void)
{
	char t[] = "mkost-XXXXXX";
	int fd = mkostemp(t, O_CLOEXEC);

	show_template("mkostemp", fd, t, "mkost-", "");
	show_fd("mkostemp", fd);
}

static void c_mkostemp64(void)
{
	char t[] = "mkost64-XXXXXX";
	int fd = mkostemp64(t, O_CLOEXEC);

	show_template("mkostemp64", fd, t, "mkost64-", "");
}

static void c_mkstemps(void)
{
	char t[] = "mkss-XXXXXX.c";
	int fd = mkstemps(t, 2);

	show_template("mkstemps", fd, t, "mkss-", ".c");
}

static void c_mkstemps64(void)
{
	char t[] = "mkss64-XXXXXX.c";
	int fd = mkstemps64(t, 2);

	show_template("mkstemps64", fd, t, "mkss64-", ".c");
}

static void c_mkostemps(void)
{
	char t[] = "mkoss-XXXXXX.c";
	int fd = mkostemps(t, 2, O_CLOEXEC);

	show_template("mkostemps", fd, t, "mkoss-", ".c");
}

static void c_mkostemps64(void)
{
	char t[] = "mkoss64-XXXXXX.c";
	int fd = mkostemps64(t, 2, O_CLOEXEC);

	show_template("mkostemps64", fd, t, "mkoss64-", ".c");
}

static void c_mkstemp_bad(void)
{
	char t[] = "mkst-bad";
	int fd;

	CALL(fd, "mkstemp without XXXXXX", mkstemp(t));
}

static void c_tmpfile(void)
{
	FILE *f;

	CALLP(f, "tmpfile", tmpfile());
	printf("fileno=%d\n", f ? fileno(f) : -1);
}

static void c_tmpfile64(void)
{
	FILE *f;

	CALLP(f, "tmpfile64", tmpfile64());
	printf("fileno=%d\n", f ? fileno(f) : -1);
}

/* ---- existence checks ------------------------------------------------------- */

static void show_stat(const struct stat *st)
{
	printf("  type=0%o size=%lld\n", st->st_mode & S_IFMT, (long long)st->st_size);
}

static void c_stat(void)
{
	struct stat st;
	int r;

	setup_tree();
	CALL(r, "stat f.txt", stat("f.txt", &st));
	show_stat(&st);
	CALL(r, "stat f.txt (again)", stat("f.txt", &st));
	CALL(r, "stat dir", stat("dir", &st));
	printf("  isdir=%d\n", S_ISDIR(st.st_mode));
	CALL(r, "stat lnk", stat("lnk", &st));
	show_stat(&st);
}

static void c_stat_missing(void)
{
	struct stat st;
	int r;

	setup_tree();
	CALL(r, "stat missing", stat("missing", &st));
	CALL(r, "stat f.txt/x", stat("f.txt/x", &st));
}

static void c_stat64(void)
{
	struct stat64 st;
	int r;

	setup_tree();
	CALL(r, "stat64 f.txt", stat64("f.txt", &st));
	printf("  size=%lld\n", (long long)st.st_size);
}

static void c_lstat(void)
{
	struct stat st;
	int r;

	setup_tree();
	CALL(r, "lstat lnk", lstat("lnk", &st));
	printf("  islnk=%d\n", S_ISLNK(st.st_mode));
	CALL(r, "lstat missing", lstat("missing", &st));
}

static void c_lstat64(void)
{
	struct stat64 st;
	int r;

	setup_tree();
	CALL(r, "lstat64 lnk", lstat64("lnk", &st));
	printf("  islnk=%d\n", S_ISLNK(st.st_mode));
}

static void c_fstatat(void)
{
	struct stat st;
	int r, dfd;

	setup_tree();
	dfd = opendirfd("dir");
	CALL(r, "fstatat dir rel.txt", fstatat(dfd, "rel.txt", &st, 0));
	show_stat(&st);
	CALL(r, "fstatat dir dlnk NOFOLLOW", fstatat(dfd, "dlnk", &st, AT_SYMLINK_NOFOLLOW));
	printf("  islnk=%d\n", S_ISLNK(st.st_mode));
	CALL(r, "fstatat dir missing", fstatat(dfd, "missing", &st, 0));
}

static void c_fstatat64(void)
{
	struct stat64 st;
	int r, dfd;

	setup_tree();
	dfd = opendirfd("dir");
	CALL(r, "fstatat64 dir rel.txt", fstatat64(dfd, "rel.txt", &st, 0));
	printf("  size=%lld\n", (long long)st.st_size);
}

static void c_statx(void)
{
	struct statx stx;
	int r, dfd;

	setup_tree();
	dfd = opendirfd("dir");
	CALL(r, "statx dir rel.txt", statx(dfd, "rel.txt", 0, STATX_BASIC_STATS, &stx));
	printf("  type=0%o size=%llu\n", stx.stx_mode & S_IFMT, (unsigned long long)stx.stx_size);
	CALL(r, "statx missing", statx(AT_FDCWD, "missing", 0, STATX_BASIC_STATS, &stx));
}

static void c_xstat(void)
{
	struct stat st;
	int r;

	setup_tree();
	CALL(r, "__xstat f.txt", __xstat(STAT_VER, "f.txt", &st));
	show_stat(&st);
	CALL(r, "__xstat missing", __xstat(STAT_VER, "missing", &st));
}

static void c_xstat64(void)
{
	struct stat64 st;
	int r;

	setup_tree();
	CALL(r, "__xstat64 f.txt", __xstat64(STAT_VER, "f.txt", &st));
	printf("  size=%lld\n", (long long)st.st_size);
}

static void c_lxstat(void)
{
	struct stat st;
	int r;

	setup_tree();
	CALL(r, "__lxstat lnk", __lxstat(STAT_VER, "lnk", &st));
	printf("  islnk=%d\n", S_ISLNK(st.st_mode));
}

static void c_lxstat64(void)
{
	struct stat64 st;
	int r;

	setup_tree();
	CALL(r, "__lxstat64 lnk", __lxstat64(STAT_VER, "lnk", &st));
	printf("  islnk=%d\n", S_ISLNK(st.st_mode));
}

static void c_fxstatat(void)
{
	struct stat st;
	int r, dfd;

	setup_tree();
	dfd = opendirfd("dir");
	CALL(r, "__fxstatat dir rel.txt", __fxstatat(STAT_VER, dfd, "rel.txt", &st, 0));
	show_stat(&st);
}

static void c_fxstatat64(void)
{
	struct stat64 st;
	int r, dfd;

	setup_tree();
	dfd = opendirfd("dir");
	CALL(r, "__fxstatat64 dir rel.txt", __fxstatat64(STAT_VER, dfd, "rel.txt", &st, 0));
	printf("  size=%lld\n", (long long)st.st_size);
}

static void c_access(void)
{
	int r;

	setup_tree();
	CALL(r, "access f.txt R_OK", access("f.txt", R_OK));
	CALL(r, "access f.txt X_OK", access("f.txt", X_OK));
	CALL(r, "access missing F_OK", access("missing", F_OK));
}

static void c_faccessat(void)
{
	int r, dfd;

	setup_tree();
	dfd = opendirfd("dir");
	CALL(r, "faccessat dir rel.txt W_OK", faccessat(dfd, "rel.txt", W_OK, 0));
	CALL(r, "faccessat dir missing F_OK", faccessat(dfd, "missing", F_OK, AT_EACCESS));
}

static void c_eaccess(void)
{
	int r;

	setup_tree();
	CALL(r, "eaccess f.txt R_OK", eaccess("f.txt", R_OK));
	CALL(r, "eaccess missing R_OK", eaccess("missing", R_OK));
}

static void c_euidaccess(void)
{
	int r;

	setup_tree();
	CALL(r, "euidaccess f.txt W_OK", euidaccess("f.txt", W_OK));
}

static void c_readlink(void)
{
	char buf[64];
	ssize_t n;

	setup_tree();
	memset(buf, 0, sizeof buf);
	CALL(n, "readlink lnk", readlink("lnk", buf, sizeof buf - 1));
	printf("  target=%s\n", buf);
	CALL(n, "readlink f.txt", readlink("f.txt", buf, sizeof buf - 1));
	CALL(n, "readlink missing", readlink("missing", buf, sizeof buf - 1));
	memset(buf, 0, sizeof buf);
	CALL(n, "readlink lnk (3-byte buffer)", readlink("lnk", buf, 3));
	printf("  target=%s\n", buf);
}

static void c_readlinkat(void)
{
	char buf[64];
	ssize_t n;
	int dfd;

	setup_tree();
	dfd = opendirfd("dir");
	memset(buf, 0, sizeof buf);
	CALL(n, "readlinkat dir dlnk", readlinkat(dfd, "dlnk", buf, sizeof buf - 1));
	printf("  target=%s\n", buf);
}

static void c_realpath(void)
{
	char buf[PATH_MAX], *p;

	setup_tree();
	CALLP(p, "realpath dir/../lnk", realpath("dir/../lnk", NULL));
	printf("  resolved=%s\n", p ? p : "(null)");
	free(p);
	CALLP(p, "realpath f.txt (buffer)", realpath("f.txt", buf));
	printf("  resolved=%s\n", p ? p : "(null)");
}

static void c_realpath_missing(void)
{
	char buf[PATH_MAX], *p;

	setup_tree();
	CALLP(p, "realpath nodir/x", realpath("nodir/x", buf));
}

static void c_canonicalize_file_name(void)
{
	char *p;

	setup_tree();
	CALLP(p, "canonicalize_file_name lnk", canonicalize_file_name("lnk"));
	printf("  resolved=%s\n", p ? p : "(null)");
}

static void c_realpath_chk(void)
{
	char buf[PATH_MAX], *p;

	setup_tree();
	CALLP(p, "__realpath_chk f.txt", __realpath_chk("f.txt", buf, sizeof buf));
	printf("  resolved=%s\n", p ? p : "(null)");
}

static void c_statvfs(void)
{
	struct statvfs sv;
	int r;

	CALL(r, "statvfs .", statvfs(".", &sv));
	CALL(r, "statvfs missing", statvfs("missing", &sv));
}

/* ---- directory listings ------------------------------------------------------ */

static int cmpstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void show_dir(DIR *d)
{
	char *names[64];
	struct dirent *de;
	int n = 0;

	while ((de = readdir(d)) && n < 64)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			names[n++] = strdup(de->d_name);
	qsort(names, n, sizeof *names, cmpstr);
	printf("  %d names:", n);
	for (int i = 0; i < n; i++)
		printf(" %s", names[i]);
	printf("\n");
}

static void c_opendir(void)
{
	DIR *d;

	setup_tree();
	CALLP(d, "opendir listdir", opendir("listdir"));
	show_dir(d);
	closedir(d);
	CALLP(d, "opendir listdir (again)", opendir("listdir"));
	closedir(d);
}

static void c_opendir_missing(void)
{
	DIR *d;

	setup_tree();
	CALLP(d, "opendir nodir", opendir("nodir"));
	CALLP(d, "opendir f.txt", opendir("f.txt"));
}

static void c_fdopendir(void)
{
	DIR *d;
	int fd;

	setup_tree();
	fd = opendirfd("listdir");
	CALLP(d, "fdopendir listdir", fdopendir(fd));
	show_dir(d);
}

static void show_namelist(struct dirent **nl, int n)
{
	printf("  names:");
	for (int i = 0; i < n; i++)
		printf(" %s", nl[i]->d_name);
	printf("\n");
}

static int not_dot(const struct dirent *de)
{
	return de->d_name[0] != '.';
}

static void c_scandir(void)
{
	struct dirent **nl;
	int n;

	setup_tree();
	CALL(n, "scandir listdir", scandir("listdir", &nl, not_dot, alphasort));
	show_namelist(nl, n);
	CALL(n, "scandir nodir", scandir("nodir", &nl, not_dot, alphasort));
}

static void c_scandir64(void)
{
	struct dirent64 **nl;
	int n;

	setup_tree();
	CALL(n, "scandir64 listdir", scandir64("listdir", &nl, NULL, alphasort64));
	printf("  n=%d\n", n);
}

static void c_scandirat(void)
{
	struct dirent **nl;
	int n, dfd;

	setup_tree();
	dfd = opendirfd(".");
	CALL(n, "scandirat . listdir", scandirat(dfd, "listdir", &nl, not_dot, alphasort));
	show_namelist(nl, n);
}

/* ---- namespace changes --------------------------------------------------------- */

static void c_rename(void)
{
	int r;

	raw_put("r1", "r\n", 0644);
	CALL(r, "rename r1 r2", rename("r1", "r2"));
	show_file("r2", "r2");
}

static void c_rename_missing_dir(void)
{
	int r;

	raw_put("r2", "r\n", 0644);
	CALL(r, "rename r2 nodir/r3", rename("r2", "nodir/r3"));
	CALL(r, "rename nope x", rename("nope", "x"));
}

static void c_renameat(void)
{
	int r, dfd;

	setup_tree();
	dfd = opendirfd("dir");
	CALL(r, "renameat dir/rel.txt ./moved.txt", renameat(dfd, "rel.txt", AT_FDCWD, "moved.txt"));
	show_file("moved.txt", "moved.txt");
}

static void c_renameat2(void)
{
	int r;

	raw_put("x", "x\n", 0644);
	raw_put("y", "y\n", 0644);
	CALL(r, "renameat2 x y NOREPLACE", renameat2(AT_FDCWD, "x", AT_FDCWD, "y", RENAME_NOREPLACE));
	CALL(r, "renameat2 x z NOREPLACE", renameat2(AT_FDCWD, "x", AT_FDCWD, "z", RENAME_NOREPLACE));
	show_file("z", "z");
}

static void c_link(void)
{
	struct stat st;
	int r;

	setup_tree();
	CALL(r, "link f.txt hl", link("f.txt", "hl"));
	syscall(SYS_newfstatat, AT_FDCWD, "f.txt", &st, 0);
	printf("  nlink=%ld\n", (long)st.st_nlink);
	CALL(r, "link f.txt hl (again)", link("f.txt", "hl"));
}

static void c_linkat(void)
{
	int r, dfd;

	setup_tree();
	dfd = opendirfd("dir");
	CALL(r, "linkat dir/rel.txt hl2", linkat(dfd, "rel.txt", AT_FDCWD, "hl2", 0));
}

static void c_symlink(void)
{
	char buf[64] = "";
	int r;

	CALL(r, "symlink target.txt sl", symlink("target.txt", "sl"));
	if (syscall(SYS_readlinkat, AT_FDCWD, "sl", buf, sizeof buf - 1) < 0)
		printf("  readlink failed\n");
	printf("  sl -> %s\n", buf);
}

static void c_symlinkat(void)
{
	int r, dfd;

	raw_mkdir("dir");
	dfd = opendirfd("dir");
	CALL(r, "symlinkat ../t dir/sl2", symlinkat("../t", dfd, "sl2"));
}

static void c_unlink(void)
{
	int r;

	setup_tree();
	CALL(r, "unlink f.txt", unlink("f.txt"));
	CALL(r, "unlink f.txt (again)", unlink("f.txt"));
}

static void c_unlinkat(void)
{
	int r, dfd;

	setup_tree();
	dfd = opendirfd("dir");
	CALL(r, "unlinkat dir rel.txt", unlinkat(dfd, "rel.txt", 0));
	CALL(r, "unlinkat emptydir AT_REMOVEDIR", unlinkat(AT_FDCWD, "emptydir", AT_REMOVEDIR));
}

static void c_remove(void)
{
	int r;

	setup_tree();
	CALL(r, "remove f.txt", remove("f.txt"));
	CALL(r, "remove emptydir", remove("emptydir"));
	CALL(r, "remove missing", remove("missing"));
}

static void c_mkdir(void)
{
	int r;

	CALL(r, "mkdir nd 0755", mkdir("nd", 0755));
	CALL(r, "mkdir nd (again)", mkdir("nd", 0755));
}

static void c_mkdirat(void)
{
	int r, dfd;

	raw_mkdir("dir");
	dfd = opendirfd("dir");
	CALL(r, "mkdirat dir nd2 0700", mkdirat(dfd, "nd2", 0700));
}

static void c_rmdir(void)
{
	int r;

	setup_tree();
	CALL(r, "rmdir emptydir", rmdir("emptydir"));
	CALL(r, "rmdir dir (not empty)", rmdir("dir"));
}

static void c_truncate(void)
{
	int r;

	setup_tree();
	CALL(r, "truncate f.txt 3", truncate("f.txt", 3));
	show_file("f.txt", "f.txt");
	CALL(r, "truncate missing 0", truncate("missing", 0));
}

static void c_truncate64(void)
{
	int r;

	setup_tree();
	CALL(r, "truncate64 f.txt 2", truncate64("f.txt", 2));
	show_file("f.txt", "f.txt");
}

static void c_chmod(void)
{
	struct stat st;
	int r;

	setup_tree();
	CALL(r, "chmod f.txt 0600", chmod("f.txt", 0600));
	syscall(SYS_newfstatat, AT_FDCWD, "f.txt", &st, 0);
	printf("  mode=0%o\n", st.st_mode & 07777);
}

static void c_fchmodat(void)
{
	int r, dfd;

	setup_tree();
	dfd = opendirfd("dir");
	CALL(r, "fchmodat dir rel.txt 0640", fchmodat(dfd, "rel.txt", 0640, 0));
}

/* ---- working directory ---------------------------------------------------------- */

static void show_cwd(void)
{
	char buf[PATH_MAX];

	printf("  cwd=%s\n", getcwd(buf, sizeof buf) ? buf : "?");
}

static void c_chdir(void)
{
	int r, fd;

	setup_tree();
	CALL(r, "chdir dir", chdir("dir"));
	show_cwd();
	/* a relative path now resolves against the new cwd */
	CALL(fd, "open rel.txt", open("rel.txt", O_RDONLY));
	CALL(r, "chdir ..", chdir(".."));
	show_cwd();
}

static void c_chdir_missing(void)
{
	int r;

	CALL(r, "chdir nodir", chdir("nodir"));
	show_cwd();
}

static void c_fchdir(void)
{
	int r, dfd, fd;

	setup_tree();
	dfd = opendirfd("dir");
	CALL(r, "fchdir dir", fchdir(dfd));
	show_cwd();
	CALL(fd, "open rel.txt", open("rel.txt", O_RDONLY));
}

/* ---- descriptors ------------------------------------------------------------------- */

static int wfd(void)
{
	int fd = open("w.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);

	printf("open w.txt: fd=%d\n", fd);
	return fd;
}

static void c_dup(void)
{
	int fd = wfd(), r;

	CALL(r, "dup", dup(fd));
}

static void c_dup2(void)
{
	int fd = wfd(), r;

	CALL(r, "dup2 fd 10", dup2(fd, 10));
	CALL(r, "dup2 fd fd", dup2(fd, fd));
	CALL(r, "dup2 99 12", dup2(99, 12));
	if (write(10, "via 10\n", 7) != 7)
		printf("write failed\n");
	show_file("w.txt", "w.txt");
}

static void c_dup3(void)
{
	int fd = wfd(), r;

	CALL(r, "dup3 fd 11 O_CLOEXEC", dup3(fd, 11, O_CLOEXEC));
	show_fd("dup3", 11);
	CALL(r, "dup3 fd fd", dup3(fd, fd, 0));
}

static void c_fcntl_dupfd(void)
{
	int fd = wfd(), r;

	CALL(r, "fcntl F_DUPFD 20", fcntl(fd, F_DUPFD, 20));
	CALL(r, "fcntl F_DUPFD 20 (again)", fcntl(fd, F_DUPFD, 20));
	CALL(r, "fcntl F_GETFL", fcntl(fd, F_GETFL));
	CALL(r, "fcntl F_GETFD", fcntl(fd, F_GETFD));
}

static void c_fcntl_dupfd_cloexec(void)
{
	int fd = wfd(), r;

	CALL(r, "fcntl F_DUPFD_CLOEXEC 30", fcntl(fd, F_DUPFD_CLOEXEC, 30));
	show_fd("dupfd_cloexec", 30);
}

static void c_fcntl64(void)
{
	int fd = wfd(), r;

	CALL(r, "fcntl64 F_DUPFD 40", fcntl64(fd, F_DUPFD, 40));
}

static void c_close(void)
{
	int fd = wfd(), r;

	CALL(r, "close", close(fd));
	CALL(r, "close (again)", close(fd));
	CALL(r, "close -1", close(-1));
	show_fd("close", fd);
}

static void c_close_range(void)
{
	int a = wfd(), b = dup(a), r, fd;

	printf("dup: %d\n", b);
	CALL(r, "close_range 3 100", close_range(3, 100, 0));
	show_fd("close_range", a);
	show_fd("close_range", b);
	/* recording goes on after the process closed every descriptor it knew of */
	CALL(fd, "open after-close-range.txt", open("after-close-range.txt", O_WRONLY | O_CREAT, 0644));
	CALL(r, "close_range 3 ~0", close_range(3, ~0U, 0));
	CALL(fd, "open after-close-range2.txt", open("after-close-range2.txt", O_WRONLY | O_CREAT, 0644));
}

static void c_closefrom(void)
{
	int a = wfd(), fd;

	closefrom(3);
	show_fd("closefrom", a);
	CALL(fd, "open after-closefrom.txt", open("after-closefrom.txt", O_WRONLY | O_CREAT, 0644));
}

/* ---- shared objects ------------------------------------------------------------------ */

/* libz: in no start-up set, not even a sanitizer runtime's (which pulls in libm) */
static void c_dlopen(void)
{
	const char *(*version)(void);
	void *h;

	CALLP(h, "dlopen libz.so.1", dlopen("libz.so.1", RTLD_NOW));
	version = h ? (const char *(*)(void))dlsym(h, "zlibVersion") : NULL;
	printf("  zlibVersion=%s\n", version ? version() : "?");
}

static void c_dlopen_missing(void)
{
	const char *msg;
	void *h;

	dlerror();
	CALLP(h, "dlopen libgg-no-such.so", dlopen("libgg-no-such.so", RTLD_NOW));
	msg = dlerror();
	printf("  dlerror: %s\n", msg ? msg : "(none)");
	msg = dlerror();
	printf("  dlerror again: %s\n", msg ? msg : "(none)");
}

static void c_dlmopen(void)
{
	double (*cosine)(double);
	void *h;

	CALLP(h, "dlmopen LM_ID_NEWLM libm.so.6", dlmopen(LM_ID_NEWLM, "libm.so.6", RTLD_NOW));
	cosine = h ? (double (*)(double))dlsym(h, "cos") : NULL;
	printf("  cos(0)=%g\n", cosine ? cosine(0.0) : -1.0);
}

/* ---- waiting, exiting ---------------------------------------------------------------- */

static pid_t child_exits(int status)
{
	pid_t pid = fork();

	if (pid == 0) {
		int fd = open("child.txt", O_WRONLY | O_CREAT, 0644);
		(void)fd;
		_exit(status);
	}
	return pid;
}

static pid_t child_raises(int sig)
{
	pid_t pid = fork();

	if (pid == 0) {
		/* an event first, so that the child has an image of its own in the trace */
		int fd = open("child.txt", O_WRONLY | O_CREAT, 0644);
		(void)fd;
		signal(sig, SIG_DFL);
		raise(sig);
		_exit(99);
	}
	return pid;
}

static void c_wait(void)
{
	int st = 0;
	pid_t pid = child_exits(5), r;

	r = wait(&st);
	printf("wait: same pid=%d\n", r == pid);
	show_status("wait", st);
}

static void c_waitpid_signal(void)
{
	int st = 0;
	pid_t pid = child_raises(SIGUSR1), r;

	r = waitpid(pid, &st, 0);
	printf("waitpid: same pid=%d\n", r == pid);
	show_status("waitpid", st);
}

static void c_waitpid_sigkill(void)
{
	int st = 0;
	pid_t pid = child_raises(SIGKILL), r;

	r = waitpid(pid, &st, 0);
	printf("waitpid: same pid=%d\n", r == pid);
	show_status("waitpid", st);
}

static void c_wait3(void)
{
	struct rusage ru;
	int st = 0;
	pid_t pid = child_exits(6), r;

	r = wait3(&st, 0, &ru);
	printf("wait3: same pid=%d\n", r == pid);
	show_status("wait3", st);
}

static void c_wait4_signal(void)
{
	struct rusage ru;
	int st = 0;
	pid_t pid = child_raises(SIGTERM), r;

	r = wait4(pid, &st, 0, &ru);
	printf("wait4: same pid=%d\n", r == pid);
	show_status("wait4", st);
}

static void c_waitid(void)
{
	siginfo_t si;
	pid_t pid = child_exits(8);
	int r;

	memset(&si, 0, sizeof si);
	CALL(r, "waitid", waitid(P_PID, pid, &si, WEXITED));
	printf("  same pid=%d code=%d status=%d\n", si.si_pid == pid, si.si_code, si.si_status);
}

static void c_exit(void)
{
	printf("calling exit(37)\n");
	exit(37);
}

static void c__exit(void)
{
	printf("calling _exit(38)\n");
	_exit(38);
}

static void c__Exit(void)
{
	printf("calling _Exit(39)\n");
	_Exit(39);
}

/* main returns: glibc's own call to exit is not interposable, the destructor runs */
static void c_return(void)
{
	printf("returning from main\n");
}

/* ---- standard input ------------------------------------------------------------------ */

/* fd 0 becomes a regular file holding this (through raw calls: the shim only sees
 * the reads). */
static void stdin_from_file(void)
{
	int fd;

	raw_put("stdin.txt", "first line 42\nsecond line\nthird\n", 0644);
	fd = (int)syscall(SYS_openat, AT_FDCWD, "stdin.txt", O_RDONLY);
	if (fd < 0 || syscall(SYS_dup2, fd, 0) < 0)
		exit(2);
	syscall(SYS_close, fd);
}

static void show_bytes(const char *what, long n, const char *buf)
{
	printf("%s: ret=%ld [", what, n);
	for (long i = 0; i < n; i++)
		if (buf[i] == '\n')
			printf("\\n");
		else
			putchar(buf[i]);
	printf("]\n");
}

static void show_str(const char *what, const char *p)
{
	show_bytes(what, p ? (long)strlen(p) : -1, p ? p : "");
}

/* A read of another descriptor is not a read of standard input. */
static void read_other(void)
{
	char buf[16];
	int fd;
	ssize_t n;

	raw_put("other.txt", "other\n", 0644);
	fd = open("other.txt", O_RDONLY);
	n = read(fd, buf, sizeof buf);
	show_bytes("read other.txt", n, buf);
	close(fd);
}

static void c_stdin_read(void)
{
	char buf[64];
	ssize_t n;

	stdin_from_file();
	read_other();
	n = read(0, buf, 10);
	show_bytes("read 0", n, buf);
	n = read(0, buf, 5);
	show_bytes("read 0 (again)", n, buf);
}

static void c_stdin_devnull(void)
{
	char buf[64];
	ssize_t n = read(0, buf, sizeof buf);

	show_bytes("read /dev/null", n, buf);
}

/* Standard input on a terminal: a pseudo-terminal whose master typed a line. */
static void c_stdin_tty(void)
{
	char buf[64];
	ssize_t n;
	int m, sl;

	m = posix_openpt(O_RDWR | O_NOCTTY);
	if (m < 0 || grantpt(m) || unlockpt(m)) {
		printf("no pseudo-terminal: %s\n", errname(errno));
		return;
	}
	sl = open(ptsname(m), O_RDWR | O_NOCTTY);
	if (sl < 0 || write(m, "typed\n", 6) != 6 || syscall(SYS_dup2, sl, 0) < 0) {
		printf("pseudo-terminal setup failed: %s\n", errname(errno));
		return;
	}
	printf("isatty(0)=%d\n", isatty(0));
	n = read(0, buf, sizeof buf);
	show_bytes("read tty", n, buf);
}

static void c_stdin_readv(void)
{
	char a[6], b[6];
	struct iovec iov[2] = {{a, 5}, {b, 5}};
	ssize_t n;

	stdin_from_file();
	n = readv(0, iov, 2);
	show_bytes("readv 0 first", n < 5 ? n : 5, a);
	show_bytes("readv 0 second", n > 5 ? n - 5 : 0, b);
}

static void c_stdin_pread(void)
{
	char buf[16];
	ssize_t n;

	stdin_from_file();
	n = pread(0, buf, 5, 6);
	show_bytes("pread 0 5@6", n, buf);
}

static void c_stdin_pread64(void)
{
	char buf[16];
	ssize_t n;

	stdin_from_file();
	n = pread64(0, buf, 5, 6);
	show_bytes("pread64 0 5@6", n, buf);
}

static void c_stdin_fread(void)
{
	char buf[16];
	size_t n;

	stdin_from_file();
	n = fread(buf, 1, 8, stdin);
	show_bytes("fread stdin", (long)n, buf);
}

static void c_stdin_fgets(void)
{
	char buf[64];

	stdin_from_file();
	show_str("fgets stdin", fgets(buf, sizeof buf, stdin));
	show_str("fgets stdin (again)", fgets(buf, sizeof buf, stdin));
}

static void c_stdin_getline(void)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	stdin_from_file();
	n = sym_getline(&line, &cap, stdin);
	show_bytes("getline stdin", n, line);
}

static void c_stdin_getdelim(void)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	stdin_from_file();
	n = getdelim(&line, &cap, ' ', stdin);
	show_bytes("getdelim ' ' stdin", n, line);
}

static void show_chars(const char *what, int a, int b)
{
	printf("%s: '%c' '%c'\n", what, a, b);
}

static void c_stdin_fgetc(void)
{
	stdin_from_file();
	int a = fgetc(stdin);
	int b = fgetc(stdin);
	show_chars("fgetc stdin", a, b);
}

static void c_stdin_getc(void)
{
	stdin_from_file();
	int a = getc(stdin);
	int b = getc(stdin);
	show_chars("getc stdin", a, b);
}

static void c_stdin_getchar(void)
{
	stdin_from_file();
	int a = sym_getchar();
	int b = sym_getchar();
	show_chars("getchar", a, b);
}

static void c_stdin_uflow(void)
{
	stdin_from_file();
	int a = __uflow(stdin);
	int b = getc(stdin);
	show_chars("__uflow stdin, then getc", a, b);
}

static void c_stdin_underflow(void)
{
	stdin_from_file();
	int a = __underflow(stdin);
	int b = getc(stdin);
	show_chars("__underflow stdin (peek), then getc", a, b);
}

static void show_scan(const char *what, int r, const char *w1, const char *w2, int num)
{
	printf("%s: ret=%d [%s] [%s] %d\n", what, r, w1, w2, num);
}

#define SCAN_FMT "%15s %15s %d"

static void c_stdin_fscanf(void)
{
	char w1[16] = "", w2[16] = "";
	int num = -1, r;

	stdin_from_file();
	r = sym_fscanf(stdin, SCAN_FMT, w1, w2, &num);
	show_scan("fscanf stdin", r, w1, w2, num);
}

static void c_stdin_scanf(void)
{
	char w1[16] = "", w2[16] = "";
	int num = -1, r;

	stdin_from_file();
	r = sym_scanf(SCAN_FMT, w1, w2, &num);
	show_scan("scanf", r, w1, w2, num);
}

static int call_vfscanf(int iso, FILE *f, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = iso ? __isoc99_vfscanf(f, fmt, ap) : sym_vfscanf(f, fmt, ap);
	va_end(ap);
	return r;
}

static void c_stdin_vfscanf(void)
{
	char w1[16] = "", w2[16] = "";
	int num = -1, r;

	stdin_from_file();
	r = call_vfscanf(0, stdin, SCAN_FMT, w1, w2, &num);
	show_scan("vfscanf stdin", r, w1, w2, num);
}

static void c_stdin_isoc99_fscanf(void)
{
	char w1[16] = "", w2[16] = "";
	int num = -1, r;

	stdin_from_file();
	r = __isoc99_fscanf(stdin, SCAN_FMT, w1, w2, &num);
	show_scan("__isoc99_fscanf stdin", r, w1, w2, num);
}

static void c_stdin_isoc99_scanf(void)
{
	char w1[16] = "", w2[16] = "";
	int num = -1, r;

	stdin_from_file();
	r = __isoc99_scanf(SCAN_FMT, w1, w2, &num);
	show_scan("__isoc99_scanf", r, w1, w2, num);
}

static void c_stdin_isoc99_vfscanf(void)
{
	char w1[16] = "", w2[16] = "";
	int num = -1, r;

	stdin_from_file();
	r = call_vfscanf(1, stdin, SCAN_FMT, w1, w2, &num);
	show_scan("__isoc99_vfscanf stdin", r, w1, w2, num);
}

static void c_stdin_fgetc_unlocked(void)
{
	stdin_from_file();
	int a = sym_fgetc_unlocked(stdin);
	int b = sym_fgetc_unlocked(stdin);
	show_chars("fgetc_unlocked stdin", a, b);
}

static void c_stdin_getc_unlocked(void)
{
	stdin_from_file();
	int a = sym_getc_unlocked(stdin);
	int b = sym_getc_unlocked(stdin);
	show_chars("getc_unlocked stdin", a, b);
}

static void c_stdin_getchar_unlocked(void)
{
	stdin_from_file();
	int a = sym_getchar_unlocked();
	int b = sym_getchar_unlocked();
	show_chars("getchar_unlocked", a, b);
}

static void c_stdin_fread_unlocked(void)
{
	char buf[16];
	size_t n;

	stdin_from_file();
	n = sym_fread_unlocked(buf, 1, 8, stdin);
	show_bytes("fread_unlocked stdin", (long)n, buf);
}

static void c_stdin_fgets_unlocked(void)
{
	char buf[64];

	stdin_from_file();
	show_str("fgets_unlocked stdin", fgets_unlocked(buf, sizeof buf, stdin));
}

static void c_stdin_read_chk(void)
{
	char buf[64];
	ssize_t n;

	stdin_from_file();
	n = __read_chk(0, buf, 10, sizeof buf);
	show_bytes("__read_chk 0", n, buf);
}

static void c_stdin_pread_chk(void)
{
	char buf[64];
	ssize_t n;

	stdin_from_file();
	n = __pread_chk(0, buf, 5, 6, sizeof buf);
	show_bytes("__pread_chk 0 5@6", n, buf);
}

static void c_stdin_pread64_chk(void)
{
	char buf[64];
	ssize_t n;

	stdin_from_file();
	n = __pread64_chk(0, buf, 5, 6, sizeof buf);
	show_bytes("__pread64_chk 0 5@6", n, buf);
}

static void c_stdin_fread_chk(void)
{
	char buf[16];
	size_t n;

	stdin_from_file();
	n = __fread_chk(buf, sizeof buf, 1, 8, stdin);
	show_bytes("__fread_chk stdin", (long)n, buf);
}

static void c_stdin_fread_unlocked_chk(void)
{
	char buf[16];
	size_t n;

	stdin_from_file();
	n = __fread_unlocked_chk(buf, sizeof buf, 1, 8, stdin);
	show_bytes("__fread_unlocked_chk stdin", (long)n, buf);
}

static void c_stdin_fgets_chk(void)
{
	char buf[64];

	stdin_from_file();
	show_str("__fgets_chk stdin", __fgets_chk(buf, sizeof buf, sizeof buf, stdin));
}

static void c_stdin_fgets_unlocked_chk(void)
{
	char buf[64];

	stdin_from_file();
	show_str("__fgets_unlocked_chk stdin", __fgets_unlocked_chk(buf, sizeof buf, sizeof buf, stdin));
}

/* Reads of other descriptors and of a FILE on another descriptor are not reads of
 * standard input. */
static void c_stdin_not(void)
{
	char buf[64];
	FILE *f;

	read_other();
	raw_put("other2.txt", "other two\n", 0644);
	f = fopen("other2.txt", "r");
	show_str("fgets other2.txt", fgets(buf, sizeof buf, f));
	printf("fgetc other2.txt: '%c'\n", fgetc(f));
}

/* ---- sockets ----------------------------------------------------------------------------- */

static void c_socket(void)
{
	int fd;

	CALL(fd, "socket AF_UNIX SOCK_STREAM", socket(AF_UNIX, SOCK_STREAM, 0));
	CALL(fd, "socket AF_INET SOCK_STREAM", socket(AF_INET, SOCK_STREAM, 0));
	CALL(fd, "socket AF_INET SOCK_DGRAM", socket(AF_INET, SOCK_DGRAM, 0));
	CALL(fd, "socket AF_INET6 SOCK_DGRAM", socket(AF_INET6, SOCK_DGRAM, 0));
	CALL(fd, "socket 12345 (no such domain)", socket(12345, SOCK_STREAM, 0));
}

/* ---- errno is left as glibc leaves it ----------------------------------------------- */

static void c_errno_keep(void)
{
	struct stat st;
	char buf[PATH_MAX];
	FILE *f;
	DIR *d;
	int fd;

	setup_tree();
#define KEEP(what, expr)                                                  \
	do {                                                              \
		errno = EXDEV;                                            \
		expr;                                                     \
		printf("%-28s errno=%d %s\n", what, errno, errname(errno)); \
	} while (0)
	KEEP("open f.txt", fd = open("f.txt", O_RDONLY));
	KEEP("close", close(fd));
	KEEP("open w.txt O_CREAT", fd = open("w.txt", O_WRONLY | O_CREAT, 0644));
	KEEP("dup2 fd 10", dup2(fd, 10));
	KEEP("close 10", close(10));
	KEEP("stat f.txt", stat("f.txt", &st));
	KEEP("lstat lnk", lstat("lnk", &st));
	KEEP("access f.txt", access("f.txt", R_OK));
	KEEP("readlink lnk", readlink("lnk", buf, sizeof buf));
	KEEP("realpath f.txt", realpath("f.txt", buf));
	KEEP("fopen f.txt r", f = fopen("f.txt", "r"));
	KEEP("fclose", fclose(f));
	KEEP("opendir listdir", d = opendir("listdir"));
	KEEP("closedir", closedir(d));
	KEEP("mkdir nd", mkdir("nd", 0755));
	KEEP("rename nd nd2", rename("nd", "nd2"));
	KEEP("rmdir nd2", rmdir("nd2"));
	KEEP("chdir .", chdir("."));
	KEEP("symlink x sl", symlink("x", "sl"));
	KEEP("unlink sl", unlink("sl"));
	KEEP("getcwd", getcwd(buf, sizeof buf));
	KEEP("dlopen libm.so.6", dlopen("libm.so.6", RTLD_NOW));
	/* failing calls: the errno of the failure */
	KEEP("open missing", open("missing", O_RDONLY));
	KEEP("stat missing", stat("missing", &st));
	KEEP("rename missing x", rename("missing", "x"));
#undef KEEP
}

/* ---- exec and spawn targets ------------------------------------------------------------- */

static int run_show(int argc, char **argv)
{
	const char *mark = argc > 2 ? argv[2] : "";
	const char *v = getenv("GGTEST");
	unsigned sum = 0;

	printf("show %s:", mark);
	for (int i = 3; i < argc; i++)
		printf(" [%s]", argv[i]);
	printf("\n  GGTEST=%s\n", v ? v : "(unset)");
	show_cwd();
	for (const char *p = mark; *p; p++)
		sum += (unsigned char)*p;
	return 100 + (int)(sum % 100);
}

static int run_spawnchild(void)
{
	char buf[64];
	ssize_t n;

	show_cwd();
	memset(buf, 0, sizeof buf);
	n = read(5, buf, sizeof buf - 1);
	printf("  fd 5: %zd bytes: %s", n, n > 0 ? buf : "\n");
	if (write(7, "  written to fd 7\n", 18) != 18)
		printf("  fd 7: write failed: %s\n", errname(errno));
	show_fd("  inherited", 6);
	return 44;
}

/* ---- the table --------------------------------------------------------------------------- */

struct ecase {
	const char *name;
	void (*run)(void);
};

static const struct ecase cases[] = {
	{"execve", c_execve},
	{"execve-missing", c_execve_missing},
	{"execve-noexec", c_execve_noexec},
	{"execve-relative", c_execve_relative},
	{"execve-envclear", c_execve_envclear},
	{"execv", c_execv},
	{"execvp", c_execvp},
	{"execvp-missing-then-echo", c_execvp_missing_then_echo},
	{"execvp-noexec-then-echo", c_execvp_noexec_then_echo},
	{"execvp-noexec-only", c_execvp_noexec_only},
	{"execvp-slash", c_execvp_slash},
	{"execvpe", c_execvpe},
	{"execl", c_execl},
	{"execlp", c_execlp},
	{"execle", c_execle},
	{"fexecve", c_fexecve},
	{"execveat", c_execveat},
	{"execveat-empty", c_execveat_empty},
	{"execveat-missing", c_execveat_missing},
	{"posix_spawn", c_posix_spawn},
	{"posix_spawn-fchdir", c_posix_spawn_fchdir},
	{"posix_spawn-missing", c_posix_spawn_missing},
	{"posix_spawn-envclear", c_posix_spawn_envclear},
	{"posix_spawnp", c_posix_spawnp},
	{"posix_spawnp-missing", c_posix_spawnp_missing},
	{"system", c_system},
	{"popen", c_popen},
	{"vfork", c_vfork},
	{"vfork-busy", c_vfork_busy},
	{"clone-vfork", c_clone_vfork},
	{"fork", c_fork},
	{"forkpty", c_forkpty},
	{"daemon", c_daemon},
	{"open", c_open},
	{"open-missing", c_open_missing},
	{"open-longpath", c_open_longpath},
	{"open-nonutf8", c_open_nonutf8},
	{"open64", c_open64},
	{"openat", c_openat},
	{"openat64", c_openat64},
	{"creat", c_creat},
	{"creat64", c_creat64},
	{"fopen", c_fopen},
	{"fopen-missing", c_fopen_missing},
	{"fopen64", c_fopen64},
	{"freopen", c_freopen},
	{"freopen64", c_freopen64},
	{"fdopen", c_fdopen},
	{"__open_2", c_open_2},
	{"__open64_2", c_open64_2},
	{"__openat_2", c_openat_2},
	{"__openat64_2", c_openat64_2},
	{"o_tmpfile", c_o_tmpfile},
	{"mkstemp", c_mkstemp},
	{"mkstemp64", c_mkstemp64},
	{"mkostemp", c_mkostemp},
	{"mkostemp64", c_mkostemp64},
	{"mkstemps", c_mkstemps},
	{"mkstemps64", c_mkstemps64},
	{"mkostemps", c_mkostemps},
	{"mkostemps64", c_mkostemps64},
	{"mkstemp-bad", c_mkstemp_bad},
	{"tmpfile", c_tmpfile},
	{"tmpfile64", c_tmpfile64},
	{"stat", c_stat},
	{"stat-missing", c_stat_missing},
	{"stat64", c_stat64},
	{"lstat", c_lstat},
	{"lstat64", c_lstat64},
	{"fstatat", c_fstatat},
	{"fstatat64", c_fstatat64},
	{"statx", c_statx},
	{"__xstat", c_xstat},
	{"__xstat64", c_xstat64},
	{"__lxstat", c_lxstat},
	{"__lxstat64", c_lxstat64},
	{"__fxstatat", c_fxstatat},
	{"__fxstatat64", c_fxstatat64},
	{"access", c_access},
	{"faccessat", c_faccessat},
	{"eaccess", c_eaccess},
	{"euidaccess", c_euidaccess},
	{"readlink", c_readlink},
	{"readlinkat", c_readlinkat},
	{"realpath", c_realpath},
	{"realpath-missing", c_realpath_missing},
	{"canonicalize_file_name", c_canonicalize_file_name},
	{"__realpath_chk", c_realpath_chk},
	{"statvfs", c_statvfs},
	{"opendir", c_opendir},
	{"opendir-missing", c_opendir_missing},
	{"fdopendir", c_fdopendir},
	{"scandir", c_scandir},
	{"scandir64", c_scandir64},
	{"scandirat", c_scandirat},
	{"rename", c_rename},
	{"rename-missing-dir", c_rename_missing_dir},
	{"renameat", c_renameat},
	{"renameat2", c_renameat2},
	{"link", c_link},
	{"linkat", c_linkat},
	{"symlink", c_symlink},
	{"symlinkat", c_symlinkat},
	{"unlink", c_unlink},
	{"unlinkat", c_unlinkat},
	{"remove", c_remove},
	{"mkdir", c_mkdir},
	{"mkdirat", c_mkdirat},
	{"rmdir", c_rmdir},
	{"truncate", c_truncate},
	{"truncate64", c_truncate64},
	{"chmod", c_chmod},
	{"fchmodat", c_fchmodat},
	{"chdir", c_chdir},
	{"chdir-missing", c_chdir_missing},
	{"fchdir", c_fchdir},
	{"dup", c_dup},
	{"dup2", c_dup2},
	{"dup3", c_dup3},
	{"fcntl-dupfd", c_fcntl_dupfd},
	{"fcntl-dupfd-cloexec", c_fcntl_dupfd_cloexec},
	{"fcntl64", c_fcntl64},
	{"close", c_close},
	{"close_range", c_close_range},
	{"closefrom", c_closefrom},
	{"dlopen", c_dlopen},
	{"dlopen-missing", c_dlopen_missing},
	{"dlmopen", c_dlmopen},
	{"wait", c_wait},
	{"waitpid-signal", c_waitpid_signal},
	{"waitpid-sigkill", c_waitpid_sigkill},
	{"wait3", c_wait3},
	{"wait4-signal", c_wait4_signal},
	{"waitid", c_waitid},
	{"exit", c_exit},
	{"_exit", c__exit},
	{"_Exit", c__Exit},
	{"return", c_return},
	{"errno-keep", c_errno_keep},
	{"stdin-read", c_stdin_read},
	{"stdin-devnull", c_stdin_devnull},
	{"stdin-tty", c_stdin_tty},
	{"stdin-readv", c_stdin_readv},
	{"stdin-pread", c_stdin_pread},
	{"stdin-pread64", c_stdin_pread64},
	{"stdin-fread", c_stdin_fread},
	{"stdin-fgets", c_stdin_fgets},
	{"stdin-getline", c_stdin_getline},
	{"stdin-getdelim", c_stdin_getdelim},
	{"stdin-fgetc", c_stdin_fgetc},
	{"stdin-getc", c_stdin_getc},
	{"stdin-getchar", c_stdin_getchar},
	{"stdin-__uflow", c_stdin_uflow},
	{"stdin-__underflow", c_stdin_underflow},
	{"stdin-fscanf", c_stdin_fscanf},
	{"stdin-scanf", c_stdin_scanf},
	{"stdin-vfscanf", c_stdin_vfscanf},
	{"stdin-__isoc99_fscanf", c_stdin_isoc99_fscanf},
	{"stdin-__isoc99_scanf", c_stdin_isoc99_scanf},
	{"stdin-__isoc99_vfscanf", c_stdin_isoc99_vfscanf},
	{"stdin-fgetc_unlocked", c_stdin_fgetc_unlocked},
	{"stdin-getc_unlocked", c_stdin_getc_unlocked},
	{"stdin-getchar_unlocked", c_stdin_getchar_unlocked},
	{"stdin-fread_unlocked", c_stdin_fread_unlocked},
	{"stdin-fgets_unlocked", c_stdin_fgets_unlocked},
	{"stdin-__read_chk", c_stdin_read_chk},
	{"stdin-__pread_chk", c_stdin_pread_chk},
	{"stdin-__pread64_chk", c_stdin_pread64_chk},
	{"stdin-__fread_chk", c_stdin_fread_chk},
	{"stdin-__fread_unlocked_chk", c_stdin_fread_unlocked_chk},
	{"stdin-__fgets_chk", c_stdin_fgets_chk},
	{"stdin-__fgets_unlocked_chk", c_stdin_fgets_unlocked_chk},
	{"stdin-not", c_stdin_not},
	{"socket", c_socket},
};

int main(int argc, char **argv)
{
	size_t n = sizeof cases / sizeof cases[0];
	char *slash;

	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc < 2) {
		fprintf(stderr, "usage: entry CASE | --list\n");
		return 2;
	}
	if (!strcmp(argv[1], "show"))
		return run_show(argc, argv);
	if (!strcmp(argv[1], "spawnchild"))
		return run_spawnchild();
	if (!strcmp(argv[1], "--list")) {
		for (size_t i = 0; i < n; i++)
			printf("%s\n", cases[i].name);
		return 0;
	}
	self = argv[0];
	if (self[0] != '/') {
		fprintf(stderr, "entry: run me by an absolute path\n");
		return 2;
	}
	snprintf(progdir, sizeof progdir, "%s", self);
	slash = strrchr(progdir, '/');
	*(slash == progdir ? slash + 1 : slash) = 0;
	umask(022);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(argv[1], cases[i].name))
			continue;
		cases[i].run();
		/* each case ends with a status of its own */
		return (int)(10 + i);
	}
	fprintf(stderr, "entry: no case '%s'\n", argv[1]);
	return 2;
}
