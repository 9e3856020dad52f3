/*
 * sbx_filter.c - the seccomp filter, built with libseccomp and exported as a BPF
 * program once per variant (with or without the supervisor, with or without
 * controlled randomness).  The child installs the exported program with a bare
 * seccomp(2): nothing of libseccomp runs between fork and exec.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sandbox/sbx_int.h"

#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sock_fprog cache[8]; /* [supervise | random << 1 | no_seccomp << 2], built on first use */

/* Export ctx's program into prog (its filter array malloc'd). */
static int export_bpf(scmp_filter_ctx ctx, struct sock_fprog *prog)
{
	struct sock_filter *f = NULL;
	off_t size;
	int fd, rc;

	fd = memfd_create("sbx-bpf", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if ((rc = seccomp_export_bpf(ctx, fd)) < 0)
		goto out_close;
	size = lseek(fd, 0, SEEK_END);
	if (size <= 0 || size % (off_t)sizeof(*f) || size / (off_t)sizeof(*f) > 0xffff) {
		rc = -EINVAL;
		goto out_close;
	}
	f = malloc((size_t)size);
	if (!f) {
		rc = -ENOMEM;
		goto out_close;
	}
	if (pread(fd, f, (size_t)size, 0) != size) {
		rc = -EIO;
		free(f);
		goto out_close;
	}
	prog->filter = f;
	prog->len = (unsigned short)(size / (off_t)sizeof(*f));
	rc = 0;
out_close:
	close(fd);
	return rc;
}

static int build(bool supervise, bool random, bool no_seccomp, struct sock_fprog *prog, char *err,
		 size_t errlen)
{
	static const int families[] = { AF_INET, AF_INET6, AF_NETLINK, AF_PACKET };
	static const unsigned long ns_flags[] = { CLONE_NEWNS,  CLONE_NEWUTS, CLONE_NEWIPC,
						  CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET,
						  CLONE_NEWCGROUP };
	static const unsigned long ttys[] = { TIOCSTI, TIOCLINUX };
	const uint32_t eperm = supervise ? SCMP_ACT_NOTIFY : SCMP_ACT_ERRNO(EPERM);
	scmp_filter_ctx ctx;
	const char *what = "init";
	int rc = 0;

	ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (!ctx) {
		snprintf(err, errlen, "cannot build seccomp filter: out of memory");
		return -ENOMEM;
	}
	if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS)) < 0) {
		what = "bad-arch action";
		goto out_release;
	}
	/* A binary tree of system calls: fewer comparisons per call (libseccomp >= 2.5). */
	(void)seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	for (size_t i = 0; i < sbx_sys_count; i++) {
		const struct sbx_sysinfo *s = &sbx_sys_table[i];
		uint32_t act;

		switch (s->kind) {
		case SBX_SYS_PATH:
			if (!supervise)
				continue;
			act = SCMP_ACT_NOTIFY;
			break;
		case SBX_SYS_RANDOM:
			if (!random)
				continue;
			act = supervise ? SCMP_ACT_NOTIFY : SCMP_ACT_ERRNO(ENOSYS);
			break;
		default:
			act = eperm;
			break;
		}
		what = s->name;
		if ((rc = seccomp_rule_add(ctx, act, s->nr, 0)) < 0)
			goto out_release;
	}
	what = "socket";
	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++)
		if ((rc = seccomp_rule_add(ctx, supervise ? SCMP_ACT_NOTIFY : SCMP_ACT_ERRNO(EACCES),
					   SCMP_SYS(socket), 1,
					   SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffu,
						   (scmp_datum_t)families[i]))) < 0)
			goto out_release;
	what = "clone";
	for (size_t i = 0; i < sizeof(ns_flags) / sizeof(ns_flags[0]); i++)
		if ((rc = seccomp_rule_add(ctx, eperm, SCMP_SYS(clone), 1,
					   SCMP_A0(SCMP_CMP_MASKED_EQ, ns_flags[i], ns_flags[i]))) < 0)
			goto out_release;
	what = "ioctl";
	for (size_t i = 0; i < sizeof(ttys) / sizeof(ttys[0]); i++)
		if ((rc = seccomp_rule_add(ctx, eperm, SCMP_SYS(ioctl), 1,
					   SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, ttys[i]))) < 0)
			goto out_release;
	/* SBX_NO_SECCOMP: no filter of the command's own (no nested sandbox) */
	what = "seccomp";
	if (no_seccomp &&
	    ((rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(seccomp), 0)) < 0 ||
	     (rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(prctl), 1,
				    SCMP_A0(SCMP_CMP_EQ, PR_SET_SECCOMP))) < 0))
		goto out_release;
	/* clone3's flags are in memory: ENOSYS makes glibc fall back to clone(2). */
	what = "clone3";
	if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0)) < 0)
		goto out_release;
	what = "export";
	rc = export_bpf(ctx, prog);
out_release:
	if (rc < 0)
		snprintf(err, errlen, "cannot build seccomp filter (%s): %s", what, strerror(-rc));
	seccomp_release(ctx);
	return rc;
}

int sbx_filter_get(bool supervise, bool random, bool no_seccomp, const struct sock_fprog **out,
		   char *err, size_t errlen)
{
	struct sock_fprog *prog = &cache[(supervise ? 1 : 0) | (random ? 2 : 0) | (no_seccomp ? 4 : 0)];
	int rc = 0;

	pthread_mutex_lock(&cache_lock);
	if (!prog->filter)
		rc = build(supervise, random, no_seccomp, prog, err, errlen);
	pthread_mutex_unlock(&cache_lock);
	if (rc == 0)
		*out = prog;
	return rc;
}
