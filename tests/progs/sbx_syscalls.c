/* sbx_syscalls OP... - tries system calls a sandbox must refuse (or allow) and prints
 * one line per OP: "<op> ok" or "<op> errno=<NAME>".  getrandom/urandom print hex
 * bytes; read/write take a path.  Used by tests/unit/test_sbx.c and
 * tests/e2e/sandbox.sh.  Always exits 0 unless the arguments are wrong. */
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static const char *ename(int e)
{
	static char buf[16];

	switch (e) {
	case EPERM: return "EPERM";
	case EACCES: return "EACCES";
	case ENOSYS: return "ENOSYS";
	case ENOENT: return "ENOENT";
	case EROFS: return "EROFS";
	case EINVAL: return "EINVAL";
	case EFAULT: return "EFAULT";
	case EBADF: return "EBADF";
	case ESRCH: return "ESRCH";
	case EAFNOSUPPORT: return "EAFNOSUPPORT";
	case ENOTDIR: return "ENOTDIR";
	case EEXIST: return "EEXIST";
	}
	snprintf(buf, sizeof(buf), "%d", e);
	return buf;
}

static void report(const char *op, long r)
{
	if (r < 0)
		printf("%s errno=%s\n", op, ename(errno));
	else
		printf("%s ok\n", op);
}

static void hex(const char *op, const unsigned char *b, ssize_t n)
{
	printf("%s ", op);
	for (ssize_t i = 0; i < n; i++)
		printf("%02x", b[i]);
	printf("\n");
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *op = argv[i];
		long r;

		errno = 0;
		if (!strcmp(op, "socket-inet") || !strcmp(op, "socket-inet6") ||
		    !strcmp(op, "socket-netlink") || !strcmp(op, "socket-packet") ||
		    !strcmp(op, "socket-unix")) {
			int f = !strcmp(op, "socket-inet") ? AF_INET :
				!strcmp(op, "socket-inet6") ? AF_INET6 :
				!strcmp(op, "socket-netlink") ? AF_NETLINK :
				!strcmp(op, "socket-packet") ? AF_PACKET : AF_UNIX;
			r = socket(f, f == AF_PACKET || f == AF_NETLINK ? SOCK_RAW : SOCK_STREAM, 0);
			report(op, r);
		} else if (!strcmp(op, "unshare")) {
			report(op, unshare(CLONE_NEWNS));
		} else if (!strcmp(op, "clone-newuser")) {
			r = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, NULL);
			if (r == 0)
				_exit(0);
			report(op, r);
		} else if (!strcmp(op, "clone3")) {
			report(op, syscall(SYS_clone3, NULL, 0));
		} else if (!strcmp(op, "mount")) {
			report(op, mount("none", "/tmp", "tmpfs", 0, NULL));
		} else if (!strcmp(op, "ptrace")) {
			report(op, ptrace(PTRACE_ATTACH, getppid(), NULL, NULL));
		} else if (!strcmp(op, "bpf")) {
			report(op, syscall(SYS_bpf, BPF_PROG_LOAD, NULL, 0));
		} else if (!strcmp(op, "keyctl")) {
			report(op, syscall(SYS_keyctl, 0, 0, 0, 0, 0));
		} else if (!strcmp(op, "io_uring")) {
			report(op, syscall(SYS_io_uring_setup, 1, NULL));
		} else if (!strcmp(op, "userfaultfd")) {
			report(op, syscall(SYS_userfaultfd, 0));
		} else if (!strcmp(op, "perf")) {
			report(op, syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0));
		} else if (!strcmp(op, "clock_settime")) {
			struct timespec ts = { 0, 0 };
			report(op, clock_settime(CLOCK_REALTIME, &ts));
		} else if (!strcmp(op, "getrandom")) {
			unsigned char b[16];
			r = getrandom(b, sizeof(b), 0);
			if (r < 0)
				report(op, r);
			else
				hex(op, b, r);
		} else if (!strcmp(op, "urandom")) {
			unsigned char b[16];
			int fd = open("/dev/urandom", O_RDONLY);
			r = fd < 0 ? -1 : read(fd, b, sizeof(b));
			if (r < 0)
				report(op, r);
			else
				hex(op, b, r);
			if (fd >= 0)
				close(fd);
		} else if ((!strcmp(op, "read") || !strcmp(op, "write")) && i + 1 < argc) {
			const char *path = argv[++i];
			int fd = op[0] == 'r' ? open(path, O_RDONLY) :
						open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
			report(op, fd);
			if (fd >= 0)
				close(fd);
		} else {
			fprintf(stderr, "sbx_syscalls: unknown op '%s'\n", op);
			return 2;
		}
	}
	return 0;
}
