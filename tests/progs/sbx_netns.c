/*
 * sbx_netns - what a sandboxed command sees and can do in its network namespace
 * (tests/unit/test_sbx.c):
 *   sbx_netns rendezvous DIR ME OTHER   create DIR/ME, wait (up to 60 s) until
 *                                       DIR/OTHER exists, print the inode of the
 *                                       network namespace: two runs that meet
 *                                       this way ran at the same time
 *   sbx_netns ifup                      try to bring `lo` up; print what happened
 *   sbx_netns ifflags                   print "lo up" or "lo down"
 * Exit status 0, 2 on usage, 3 when the other never came.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int lo_flags(int s, struct ifreq *ifr)
{
	memset(ifr, 0, sizeof(*ifr));
	strcpy(ifr->ifr_name, "lo");
	return ioctl(s, SIOCGIFFLAGS, ifr);
}

int main(int argc, char **argv)
{
	struct ifreq ifr;
	struct stat st;
	int s;

	if (argc == 5 && !strcmp(argv[1], "rendezvous")) {
		char me[4096], other[4096];
		struct timespec ten_ms = { 0, 10 * 1000 * 1000 };
		int fd;

		snprintf(me, sizeof(me), "%s/%s", argv[2], argv[3]);
		snprintf(other, sizeof(other), "%s/%s", argv[2], argv[4]);
		if ((fd = open(me, O_WRONLY | O_CREAT, 0644)) < 0) {
			perror(me);
			return 2;
		}
		close(fd);
		for (int i = 0; access(other, F_OK) < 0; i++) {
			if (i == 6000)
				return 3;
			nanosleep(&ten_ms, NULL);
		}
		if (stat("/proc/self/ns/net", &st) < 0) {
			perror("/proc/self/ns/net");
			return 2;
		}
		printf("%lu\n", (unsigned long)st.st_ino);
		return 0;
	}
	if (argc != 2 || (strcmp(argv[1], "ifup") && strcmp(argv[1], "ifflags")))
		return 2;
	if ((s = socket(AF_UNIX, SOCK_DGRAM, 0)) < 0 || lo_flags(s, &ifr) < 0) {
		perror("lo");
		return 2;
	}
	if (!strcmp(argv[1], "ifflags")) {
		printf("lo %s\n", (ifr.ifr_flags & IFF_UP) ? "up" : "down");
		return 0;
	}
	ifr.ifr_flags |= IFF_UP;
	printf("ifup: %s\n", ioctl(s, SIOCSIFFLAGS, &ifr) < 0 ? strerror(errno) : "done");
	return 0;
}
