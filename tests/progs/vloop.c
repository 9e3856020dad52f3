/*
 * vloop stat|open|exec N PATH - N stat(2)s of PATH, N open+close of PATH, or N
 * fork+exec+wait of PATH (with the argument "true"-like: PATH must exit 0 by
 * itself); prints "<what> <ns per call>" on stdout.  For tests/bench/vroot.sh: the
 * cost of the shim's path mapping under GG_VROOT against the shim without it.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	struct stat st;
	long n;
	double t0;

	if (argc != 4 || (n = atol(argv[2])) <= 0) {
		fprintf(stderr, "usage: vloop stat|open|exec N PATH\n");
		return 2;
	}
	t0 = now();
	for (long i = 0; i < n; i++) {
		if (!strcmp(argv[1], "stat")) {
			if (stat(argv[3], &st) != 0)
				return perror(argv[3]), 1;
		} else if (!strcmp(argv[1], "open")) {
			int fd = open(argv[3], O_RDONLY);
			if (fd < 0)
				return perror(argv[3]), 1;
			close(fd);
		} else {
			int status;
			pid_t pid = fork();
			if (pid == 0) {
				execl(argv[3], argv[3], (char *)NULL);
				_exit(127);
			}
			if (pid < 0 || waitpid(pid, &status, 0) != pid || status != 0)
				return fprintf(stderr, "vloop: exec '%s' failed\n", argv[3]), 1;
		}
	}
	printf("%s %.0f\n", argv[1], (now() - t0) / (double)n);
	return 0;
}
