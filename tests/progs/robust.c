/*
 * robust.c - programs that stress the gg shim, driven by tests/e2e/shim-robustness.sh.
 *
 *     robust threads N M          N threads each open, write and close M files
 *                                 th-<thread>-<i>.txt, at the same time
 *     robust fork-open            fork; the child (no exec) opens child-file.txt;
 *                                 pids on stderr: "parent-pid=P" "child-pid=C"
 *     robust fork-atfork          a pthread_atfork child handler (registered before
 *                                 the first fork) opens atfork-child.txt; then
 *                                 fork, the child opens child-file.txt; pids on
 *                                 stderr as for fork-open
 *     robust fork-threads N       while 4 threads open files in a loop, fork N
 *                                 children that each open fork-<i>.txt
 *     robust fork-chdir N         while a thread changes directory in a loop, fork N
 *                                 children that each open a relative path (each
 *                                 child is killed by SIGALRM if it hangs 5 s)
 *     robust errno-at-start       print errno as main found it (C11: zero)
 *     robust mark MARK            print MARK, open mark-MARK.txt (an event to find)
 *     robust exec PROG ARG...     execv
 *     robust exec-env0 PROG ARG...      execve with an empty environment
 *     robust exec-unsetenv PROG ARG...  unsetenv("LD_PRELOAD"), then execv
 *     robust exec-clearenv PROG ARG...  clearenv(), then execv
 *     robust bigargv N            exec `robust mark bigargv` with N more arguments
 *     robust bigdir N             create N files in big/, then list it
 *     robust fork-bigdir N        create N files in big/, fork; the child lists it (its
 *                                 first record); pids on stderr as for fork-open
 *     robust sigkill-child        fork a child that SIGKILLs itself, reap it
 *     robust selfkill             SIGKILL this process
 *     robust closeall             close every descriptor 3..1023 one by one, then
 *                                 close_range(3, ~0U), opening a file after each
 *     robust sigstorm N           N open/stat/close rounds while a 50 us timer's
 *                                 signal handler opens and closes a file too
 *     robust probes N R           stat N missing paths probe-<i>, R rounds over all
 *                                 of them (the shim's dedupe set of existence checks)
 *     robust extra-lib [exec]     say whether gg_extra_marker (the test's extra
 *                                 preloaded library) is loaded; with exec, exec
 *                                 `robust extra-lib` and let it say too
 *
 * Standard output holds only what is the same in every run; pids go to stderr.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static const char *self;

static void reap(const char *who, pid_t pid)
{
	int st = 0;

	if (waitpid(pid, &st, 0) != pid) {
		printf("%s: waitpid: %s\n", who, strerror(errno));
		return;
	}
	if (WIFEXITED(st))
		printf("%s: exited %d\n", who, WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		printf("%s: killed by signal %d\n", who, WTERMSIG(st));
}

/* ---- threads ---------------------------------------------------------------- */

static int per_thread;
static atomic_int open_failures;

static void *opener(void *arg)
{
	int id = (int)(long)arg;
	char name[64], text[64];

	for (int i = 0; i < per_thread; i++) {
		snprintf(name, sizeof name, "th-%02d-%03d.txt", id, i);
		int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0) {
			atomic_fetch_add(&open_failures, 1);
			continue;
		}
		int n = snprintf(text, sizeof text, "%d %d\n", id, i);
		if (write(fd, text, n) != n)
			atomic_fetch_add(&open_failures, 1);
		close(fd);
	}
	return NULL;
}

static int do_threads(int n, int m)
{
	pthread_t t[256];

	per_thread = m;
	if (n > 256)
		n = 256;
	for (int i = 0; i < n; i++)
		if (pthread_create(&t[i], NULL, opener, (void *)(long)i)) {
			printf("pthread_create failed\n");
			return 1;
		}
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	printf("threads: %d x %d opens, %d failures\n", n, m, atomic_load(&open_failures));
	return 0;
}

/* ---- fork ------------------------------------------------------------------- */

static int do_fork_open(void)
{
	pid_t pid;

	fprintf(stderr, "parent-pid=%d\n", (int)getpid());
	pid = fork();
	if (pid == 0) {
		int fd = open("child-file.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
		fprintf(stderr, "child-pid=%d\n", (int)getpid());
		printf("child: open fd=%d\n", fd);
		_exit(fd >= 0 ? 0 : 1);
	}
	reap("child", pid);
	int fd = open("parent-file.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	printf("parent: open fd=%d\n", fd);
	return 0;
}

/* Runs in the child before the shim's own child handler (registered at the first
 * fork, after this one): its open must still be the child's. */
static void atfork_child_opens(void)
{
	int fd = open("atfork-child.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd >= 0)
		close(fd);
}

static int do_fork_atfork(void)
{
	pid_t pid;

	pthread_atfork(NULL, NULL, atfork_child_opens);
	fprintf(stderr, "parent-pid=%d\n", (int)getpid());
	pid = fork();
	if (pid == 0) {
		int fd = open("child-file.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
		fprintf(stderr, "child-pid=%d\n", (int)getpid());
		printf("child: open fd=%d\n", fd);
		_exit(fd >= 0 ? 0 : 1);
	}
	reap("child", pid);
	printf("parent: atfork-child.txt %s\n", access("atfork-child.txt", F_OK) ? "missing" : "made");
	return 0;
}

static atomic_int stop_spinning;

static void *spinner(void *arg)
{
	char name[64];
	int id = (int)(long)arg;

	while (!atomic_load(&stop_spinning)) {
		snprintf(name, sizeof name, "spin-%d.txt", id);
		int fd = open(name, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd >= 0)
			close(fd);
		struct stat st;
		stat(name, &st);
	}
	return NULL;
}

static int do_fork_threads(int n)
{
	pthread_t t[4];
	int ok = 0;

	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, spinner, (void *)(long)i);
	for (int i = 0; i < n; i++) {
		pid_t pid = fork();
		if (pid == 0) {
			char name[64];
			snprintf(name, sizeof name, "fork-%d.txt", i);
			int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
			_exit(fd >= 0 ? 0 : 1);
		}
		int st = 0;
		if (pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0)
			ok++;
	}
	atomic_store(&stop_spinning, 1);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	printf("fork-threads: %d of %d children opened their file\n", ok, n);
	return 0;
}

/* Between a deep directory (a cwd of some 3800 bytes: a long copy each time the
 * shim notes it) and the start. */
static char chdir_base[PATH_MAX], chdir_deep[PATH_MAX];

static void *chdirer(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop_spinning)) {
		if (chdir(chdir_deep) != 0 || chdir(chdir_base) != 0)
			break;
	}
	return NULL;
}

static int do_fork_chdir(int n)
{
	pthread_t t;
	int ok = 0, hung = 0;

	if (!getcwd(chdir_base, sizeof chdir_base))
		return 1;
	strcpy(chdir_deep, chdir_base);
	for (size_t n = strlen(chdir_deep); n + 202 < 3800; n += 201) {
		chdir_deep[n] = '/';
		memset(chdir_deep + n + 1, 'd', 200);
		chdir_deep[n + 201] = '\0';
		mkdir(chdir_deep, 0755);
	}
	pthread_create(&t, NULL, chdirer, NULL);
	for (int i = 0; i < n; i++) {
		pid_t pid = fork();
		if (pid == 0) {
			alarm(5);
			int fd = open("relative.txt", O_RDONLY);
			_exit(fd >= 0 || errno == ENOENT ? 0 : 1);
		}
		int st = 0;
		if (pid > 0 && waitpid(pid, &st, 0) == pid) {
			ok += WIFEXITED(st) && WEXITSTATUS(st) == 0;
			hung += WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM;
		}
	}
	atomic_store(&stop_spinning, 1);
	pthread_join(t, NULL);
	printf("fork-chdir: %d of %d children done, %d hung\n", ok, n, hung);
	return 0;
}

/* ---- exec ------------------------------------------------------------------- */

static int do_mark(const char *mark)
{
	char name[PATH_MAX];
	int fd;

	snprintf(name, sizeof name, "mark-%s.txt", mark);
	fd = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	printf("mark %s: open fd=%d\n", mark, fd);
	return 0;
}

static int do_exec(const char *how, char **argv)
{
	if (!strcmp(how, "exec-env0")) {
		char *env[] = {NULL};
		execve(argv[0], argv, env);
	} else {
		if (!strcmp(how, "exec-unsetenv"))
			unsetenv("LD_PRELOAD");
		else if (!strcmp(how, "exec-clearenv"))
			clearenv();
		execv(argv[0], argv);
	}
	printf("%s %s: %s\n", how, argv[0], strerror(errno));
	return 127;
}

static int do_bigargv(int n)
{
	char **argv = calloc(n + 4, sizeof *argv);
	char *arg;

	argv[0] = "robust";
	argv[1] = "mark";
	argv[2] = "bigargv";
	for (int i = 0; i < n; i++) {
		if (asprintf(&arg, "argument-%05d-%s", i, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx") < 0)
			return 2;
		argv[3 + i] = arg;
	}
	execv(self, argv);
	printf("bigargv: exec: %s\n", strerror(errno));
	return 127;
}

/* big/entry-000000 ... big/entry-<n-1>, empty. */
static void make_bigdir(int n)
{
	char name[64];

	mkdir("big", 0755);
	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof name, "big/entry-%06d", i);
		int fd = open(name, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd >= 0)
			close(fd);
	}
}

/* A fork child whose first record is a listing, which the shim builds in buffers of
 * its own: the child's PROC is written apart from it. */
static int do_fork_bigdir(int n)
{
	pid_t pid;

	make_bigdir(n);
	fflush(stdout);
	fprintf(stderr, "parent-pid=%d\n", (int)getpid());
	pid = fork();
	if (pid == 0) {
		DIR *d = opendir("big");
		int count = 0;
		if (!d)
			_exit(1);
		while (readdir(d))
			count++;
		closedir(d);
		fprintf(stderr, "child-pid=%d\n", (int)getpid());
		printf("child: %d entries\n", count);
		fflush(stdout);
		_exit(0);
	}
	reap("child", pid);
	return 0;
}

static int do_bigdir(int n)
{
	struct dirent *de;
	DIR *d;
	int count = 0;

	make_bigdir(n);
	d = opendir("big");
	if (!d) {
		printf("opendir: %s\n", strerror(errno));
		return 1;
	}
	while ((de = readdir(d)))
		count += de->d_name[0] != '.';
	closedir(d);
	printf("bigdir: %d names\n", count);
	return 0;
}

/* ---- signals ----------------------------------------------------------------- */

static int do_sigkill_child(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		int fd = open("sigkill-child.txt", O_WRONLY | O_CREAT, 0644);
		(void)fd;
		raise(SIGKILL);
		_exit(99);
	}
	fprintf(stderr, "child-pid=%d\n", (int)pid);
	reap("child", pid);
	return 0;
}

static int do_selfkill(void)
{
	int fd = open("selfkill.txt", O_WRONLY | O_CREAT, 0644);

	printf("selfkill: open fd=%d\n", fd);
	raise(SIGKILL);
	return 99;
}

/* ---- signal handlers that call intercepted functions --------------------------- */

static volatile sig_atomic_t handler_runs;

static void on_alarm(int sig)
{
	int saved = errno;
	int fd = open("handler.txt", O_RDONLY); /* open and close are async-signal-safe */

	if (fd >= 0)
		close(fd);
	handler_runs++;
	errno = saved;
}

static int do_sigstorm(int n)
{
	struct itimerval it = {{0, 50}, {0, 50}};
	struct sigaction sa;
	struct stat st;
	int bad = 0;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &sa, NULL);
	close(open("handler.txt", O_WRONLY | O_CREAT, 0644));
	setitimer(ITIMER_REAL, &it, NULL);
	for (int i = 0; i < n; i++) {
		int fd = open("main.txt", O_WRONLY | O_CREAT, 0644);
		if (fd < 0 || stat("main.txt", &st) < 0 || close(fd) < 0)
			bad++;
	}
	memset(&it, 0, sizeof it);
	setitimer(ITIMER_REAL, &it, NULL);
	printf("sigstorm: %d rounds, %d failures, handler ran: %s\n", n, bad,
	       handler_runs > 0 ? "yes" : "no");
	return 0;
}

/* N missing paths, each looked up R times: the checks a compiler makes of its
 * include path, many more than the shim's dedupe set holds when N is large. */
static int do_probes(int n, int rounds)
{
	char name[64];
	struct stat st;
	int found = 0;

	for (int r = 0; r < rounds; r++)
		for (int i = 0; i < n; i++) {
			snprintf(name, sizeof name, "probe-%06d", i);
			found += stat(name, &st) == 0;
		}
	printf("probes: %d paths, %d rounds, %d found\n", n, rounds, found);
	return 0;
}

/* ---- descriptors ------------------------------------------------------------- */

static int do_closeall(void)
{
	int fd;

	fd = open("before.txt", O_WRONLY | O_CREAT, 0644);
	printf("before: fd=%d\n", fd);
	/* how many were open is not printed: the shim's own log is one of them */
	for (int i = 3; i < 1024; i++)
		close(i);
	fd = open("after-close.txt", O_WRONLY | O_CREAT, 0644);
	printf("after close loop: fd=%d\n", fd);
	printf("close_range: %d\n", close_range(3, ~0U, 0));
	fd = open("after-close-range.txt", O_WRONLY | O_CREAT, 0644);
	printf("after close_range: fd=%d\n", fd);
	return 0;
}

/* ---- another preloaded library ---------------------------------------------------- */

static int do_extra_lib(int do_exec)
{
	void *sym = dlsym(RTLD_DEFAULT, "gg_extra_marker");
	int fd;

	printf("extra-lib%s: gg_extra_marker %s\n", do_exec ? " (before exec)" : "",
	       sym ? "found" : "missing");
	fd = open(do_exec ? "extra-parent.txt" : "extra-child.txt", O_WRONLY | O_CREAT, 0644);
	printf("  open fd=%d\n", fd);
	if (do_exec) {
		execl(self, "robust", "extra-lib", (char *)NULL);
		printf("exec: %s\n", strerror(errno));
		return 127;
	}
	return sym ? 0 : 1;
}

int main(int argc, char **argv)
{
	int errno_at_start = errno;
	const char *c = argc > 1 ? argv[1] : "";

	setvbuf(stdout, NULL, _IONBF, 0);
	self = argv[0];
	if (!strcmp(c, "threads") && argc > 3)
		return do_threads(atoi(argv[2]), atoi(argv[3]));
	if (!strcmp(c, "fork-open"))
		return do_fork_open();
	if (!strcmp(c, "fork-atfork"))
		return do_fork_atfork();
	if (!strcmp(c, "fork-threads") && argc > 2)
		return do_fork_threads(atoi(argv[2]));
	if (!strcmp(c, "fork-chdir") && argc > 2)
		return do_fork_chdir(atoi(argv[2]));
	if (!strcmp(c, "errno-at-start")) {
		printf("errno at start: %d\n", errno_at_start);
		return 0;
	}
	if (!strcmp(c, "mark") && argc > 2)
		return do_mark(argv[2]);
	if (!strncmp(c, "exec", 4) && argc > 2)
		return do_exec(c, argv + 2);
	if (!strcmp(c, "bigargv") && argc > 2)
		return do_bigargv(atoi(argv[2]));
	if (!strcmp(c, "bigdir") && argc > 2)
		return do_bigdir(atoi(argv[2]));
	if (!strcmp(c, "fork-bigdir") && argc > 2)
		return do_fork_bigdir(atoi(argv[2]));
	if (!strcmp(c, "sigkill-child"))
		return do_sigkill_child();
	if (!strcmp(c, "selfkill"))
		return do_selfkill();
	if (!strcmp(c, "sigstorm") && argc > 2)
		return do_sigstorm(atoi(argv[2]));
	if (!strcmp(c, "probes") && argc > 3)
		return do_probes(atoi(argv[2]), atoi(argv[3]));
	if (!strcmp(c, "closeall"))
		return do_closeall();
	if (!strcmp(c, "extra-lib"))
		return do_extra_lib(argc > 2 && !strcmp(argv[2], "exec"));
	fprintf(stderr, "usage: robust threads N M | fork-open | fork-atfork | fork-threads N | fork-chdir N | errno-at-start | mark M | exec* PROG ARG... |"
			" bigargv N | bigdir N | fork-bigdir N | probes N R | sigkill-child | selfkill | closeall | extra-lib [exec]\n");
	return 2;
}
