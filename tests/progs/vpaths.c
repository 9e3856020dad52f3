/*
 * vpaths - what a program sees of its paths; run by tests/e2e/vpath.sh under
 * GG_VROOT=R with R holding (virtual paths):
 *   /opt/vp/vpaths            this program, its cwd is /opt/vp, PATH=/opt/vp
 *   /opt/vp/data/file.txt     "data\n"
 *   /opt/vp/abs -> /opt/vp/data   (an absolute symlink, as recorded)
 *   /tmp                      writable
 *   /bin/sh                   a shell, /opt/vp/script a "#!/bin/sh" script
 * Prints one `name=value` line per probe; `vpaths child` prints its own exe and cwd.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void show_link(const char *name, const char *path)
{
	char buf[PATH_MAX];
	ssize_t n = readlink(path, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	printf("%s=%s\n", name, n >= 0 ? buf : strerror(errno));
}

static void show_cwd(const char *name)
{
	char buf[PATH_MAX];
	printf("%s=%s\n", name, getcwd(buf, sizeof(buf)) ? buf : strerror(errno));
}

static void show_file(const char *name, int dirfd, const char *path)
{
	char buf[64];
	int fd = openat(dirfd, path, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	buf[n > 0 ? n - 1 : 0] = '\0'; /* drop the newline */
	printf("%s=%s\n", name, n >= 0 ? buf : strerror(errno));
	if (fd >= 0)
		close(fd);
}

static void show_rc(const char *name, int rc)
{
	printf("%s=%s\n", name, rc == 0 ? "ok" : strerror(errno));
}

static void wait_child(pid_t pid)
{
	int st;
	fflush(stdout);
	waitpid(pid, &st, 0);
}

int main(int argc, char **argv)
{
	char buf[PATH_MAX], fdlink[64];
	struct stat st;
	int dfd, home;
	pid_t pid;

	if (argc > 1 && !strcmp(argv[1], "child")) {
		show_link("child_exe", "/proc/self/exe");
		show_cwd("child_cwd");
		return 0;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	show_cwd("cwd");
	show_link("exe", "/proc/self/exe");
	printf("realpath=%s\n", realpath("abs/file.txt", buf) ? buf : strerror(errno));
	printf("realpath_exe=%s\n", realpath("/proc/self/exe", buf) ? buf : strerror(errno));
	show_file("read_abs_link", AT_FDCWD, "abs/file.txt");
	show_file("read_dotdot", AT_FDCWD, "/../../opt/vp/data/../data/file.txt");
	dfd = open("/opt/vp/data", O_RDONLY | O_DIRECTORY);
	show_file("read_dirfd", dfd, "../abs/file.txt");
	snprintf(fdlink, sizeof(fdlink), "/proc/self/fd/%d", dfd);
	show_link("fd_link", fdlink);
	show_rc("stat_host_etc_passwd", stat("/etc/passwd", &st));
	show_rc("access_dev_null", access("/dev/null", W_OK));
	show_rc("stat_proc_self", stat("/proc/self/status", &st));
	home = open(".", O_RDONLY | O_DIRECTORY);
	show_rc("chdir_abs", chdir("abs"));
	show_cwd("cwd_after_chdir");
	show_link("proc_cwd", "/proc/self/cwd");
	show_rc("fchdir_home", fchdir(home));
	show_cwd("cwd_after_fchdir");
	show_rc("mkdir_tmp", mkdir("/tmp/vp-dir", 0755));
	show_rc("symlink_abs", symlink("/opt/vp/data/file.txt", "/tmp/vp-dir/l"));
	show_link("readlink_made", "/tmp/vp-dir/l");
	show_file("read_made_link", AT_FDCWD, "/tmp/vp-dir/l");
	show_rc("rename", rename("/tmp/vp-dir/l", "/tmp/vp-dir/m"));
	show_rc("lstat_renamed", lstat("/tmp/vp-dir/m", &st));
	show_rc("dlopen_abs", dlopen("/lib/x86_64-linux-gnu/libm.so.6", RTLD_NOW) ? 0 : -1);

	pid = fork();
	if (pid == 0) {
		char *const args[] = { "vpaths", "child", NULL };
		execvp("vpaths", args);
		printf("execvp=%s\n", strerror(errno));
		_exit(127);
	}
	wait_child(pid);
	pid = fork();
	if (pid == 0) {
		execl("/proc/self/exe", "vpaths", "child", (char *)NULL);
		printf("execl_self=%s\n", strerror(errno));
		_exit(127);
	}
	wait_child(pid);
	{
		char *const args[] = { "vpaths", "child", NULL };
		int rc = posix_spawnp(&pid, "vpaths", NULL, NULL, args, environ);
		if (rc)
			printf("posix_spawnp=%s\n", strerror(rc));
		else
			wait_child(pid);
	}
	fflush(stdout);
	printf("system=%d\n", WEXITSTATUS(system("echo \"system_pwd=$(pwd)\"; exit 3")));
	{
		FILE *p = popen("echo pop", "r");
		char line[64] = "";
		if (p && fgets(line, sizeof(line), p))
			line[strcspn(line, "\n")] = '\0';
		printf("popen=%s\n", line);
		printf("pclose=%d\n", p ? pclose(p) : -1);
	}
	pid = fork();
	if (pid == 0) {
		execl("/opt/vp/script", "script", "arg", (char *)NULL);
		printf("execl_script=%s\n", strerror(errno));
		_exit(127);
	}
	wait_child(pid);
	close(dfd);
	close(home);
	return 0;
}
