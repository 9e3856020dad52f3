/*
 * sbx_supervisor.c - the path supervisor: answers seccomp user notifications for
 * the system calls of sbx_sys_table (see sbx.h for what it decides and its limits).
 *
 * One struct sbx_sup per sbx_run, used by the thread inside sbx_run only.  It
 * never blocks on the target: RECV is called when poll(2) says a notification is
 * pending; a target that dies meanwhile makes RECV or SEND fail with ENOENT, which
 * is not an error.  Memory of the target is read with process_vm_readv and
 * checked for validity afterwards (SECCOMP_IOCTL_NOTIF_ID_VALID): a pid reused
 * between RECV and the read cannot make us answer for the wrong process.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "sandbox/sbx_int.h"

#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef SECCOMP_ADDFD_FLAG_SEND
#define SECCOMP_ADDFD_FLAG_SEND (1UL << 1)
#endif

#define P(nr, name, dfd, path, dfd2, path2, flags, how) \
	{ nr, name, SBX_SYS_PATH, dfd, path, dfd2, path2, flags, how }
#define D(nr, name) { nr, name, SBX_SYS_DENY, -1, -1, -1, -1, -1, 0 }

#define R SBX_HOW_READ
#define W SBX_HOW_WRITE
#define NF SBX_HOW_NOFOLLOW
#define AT SBX_HOW_ATFLAGS
#define CR SBX_HOW_CREATE

/* x86_64.  socket, clone and ioctl are filtered on their arguments in sbx_filter.c. */
const struct sbx_sysinfo sbx_sys_table[] = {
	P(__NR_open, "open", -1, 0, -1, -1, 1, SBX_HOW_OPEN),
	P(__NR_openat, "openat", 0, 1, -1, -1, 2, SBX_HOW_OPEN),
	P(__NR_openat2, "openat2", 0, 1, -1, -1, 2, SBX_HOW_OPEN2),
	P(__NR_creat, "creat", -1, 0, -1, -1, -1, W),
	P(__NR_stat, "stat", -1, 0, -1, -1, -1, R),
	P(__NR_lstat, "lstat", -1, 0, -1, -1, -1, R | NF),
	P(__NR_newfstatat, "newfstatat", 0, 1, -1, -1, 3, R | AT),
	P(__NR_statx, "statx", 0, 1, -1, -1, 2, R | AT),
	P(__NR_statfs, "statfs", -1, 0, -1, -1, -1, R),
	P(__NR_access, "access", -1, 0, -1, -1, -1, R),
	P(__NR_faccessat, "faccessat", 0, 1, -1, -1, -1, R),
	P(__NR_faccessat2, "faccessat2", 0, 1, -1, -1, 3, R | AT),
	P(__NR_readlink, "readlink", -1, 0, -1, -1, -1, R | NF),
	P(__NR_readlinkat, "readlinkat", 0, 1, -1, -1, -1, R | NF),
	P(__NR_execve, "execve", -1, 0, -1, -1, -1, R | SBX_HOW_EXEC),
	P(__NR_execveat, "execveat", 0, 1, -1, -1, 4, R | AT | SBX_HOW_EXEC),
	P(__NR_chdir, "chdir", -1, 0, -1, -1, -1, R),
	P(__NR_truncate, "truncate", -1, 0, -1, -1, -1, W),
	P(__NR_mkdir, "mkdir", -1, 0, -1, -1, -1, W | NF | CR),
	P(__NR_mkdirat, "mkdirat", 0, 1, -1, -1, -1, W | NF | CR),
	P(__NR_mknod, "mknod", -1, 0, -1, -1, -1, W | NF | CR),
	P(__NR_mknodat, "mknodat", 0, 1, -1, -1, -1, W | NF | CR),
	P(__NR_unlink, "unlink", -1, 0, -1, -1, -1, W | NF),
	P(__NR_unlinkat, "unlinkat", 0, 1, -1, -1, -1, W | NF),
	P(__NR_rmdir, "rmdir", -1, 0, -1, -1, -1, W | NF),
	P(__NR_rename, "rename", -1, 0, -1, 1, -1, W | SBX_HOW_WRITE2 | NF),
	P(__NR_renameat, "renameat", 0, 1, 2, 3, -1, W | SBX_HOW_WRITE2 | NF),
	P(__NR_renameat2, "renameat2", 0, 1, 2, 3, -1, W | SBX_HOW_WRITE2 | NF),
	P(__NR_link, "link", -1, 0, -1, 1, -1, R | SBX_HOW_WRITE2 | NF | CR),
	P(__NR_linkat, "linkat", 0, 1, 2, 3, 4, R | SBX_HOW_WRITE2 | NF | SBX_HOW_ATFOLLOW | CR),
	P(__NR_symlink, "symlink", -1, -1, -1, 1, -1, SBX_HOW_WRITE2 | NF | CR),
	P(__NR_symlinkat, "symlinkat", -1, -1, 1, 2, -1, SBX_HOW_WRITE2 | NF | CR),
	P(__NR_chmod, "chmod", -1, 0, -1, -1, -1, W),
	P(__NR_fchmodat, "fchmodat", 0, 1, -1, -1, -1, W),
	P(__NR_chown, "chown", -1, 0, -1, -1, -1, W),
	P(__NR_lchown, "lchown", -1, 0, -1, -1, -1, W | NF),
	P(__NR_fchownat, "fchownat", 0, 1, -1, -1, 4, W | AT),
	P(__NR_utime, "utime", -1, 0, -1, -1, -1, W),
	P(__NR_utimes, "utimes", -1, 0, -1, -1, -1, W),
	P(__NR_futimesat, "futimesat", 0, 1, -1, -1, -1, W),
	P(__NR_utimensat, "utimensat", 0, 1, -1, -1, 3, W | AT),
	{ __NR_getrandom, "getrandom", SBX_SYS_RANDOM, -1, -1, -1, -1, -1, 0 },
	D(__NR_ptrace, "ptrace"),
	D(__NR_process_vm_readv, "process_vm_readv"),
	D(__NR_process_vm_writev, "process_vm_writev"),
	D(__NR_pidfd_getfd, "pidfd_getfd"),
	D(__NR_mount, "mount"),
	D(__NR_umount2, "umount2"),
	D(__NR_pivot_root, "pivot_root"),
	D(__NR_chroot, "chroot"),
	D(__NR_open_tree, "open_tree"),
	D(__NR_move_mount, "move_mount"),
	D(__NR_fsopen, "fsopen"),
	D(__NR_fsconfig, "fsconfig"),
	D(__NR_fsmount, "fsmount"),
	D(__NR_fspick, "fspick"),
	D(__NR_mount_setattr, "mount_setattr"),
	D(__NR_unshare, "unshare"),
	D(__NR_setns, "setns"),
	D(__NR_bpf, "bpf"),
	D(__NR_perf_event_open, "perf_event_open"),
	D(__NR_keyctl, "keyctl"),
	D(__NR_add_key, "add_key"),
	D(__NR_request_key, "request_key"),
	D(__NR_userfaultfd, "userfaultfd"),
	D(__NR_io_uring_setup, "io_uring_setup"),
	D(__NR_io_uring_enter, "io_uring_enter"),
	D(__NR_io_uring_register, "io_uring_register"),
	D(__NR_clock_settime, "clock_settime"),
	D(__NR_clock_adjtime, "clock_adjtime"),
	D(__NR_settimeofday, "settimeofday"),
	D(__NR_adjtimex, "adjtimex"),
	D(__NR_sethostname, "sethostname"),
	D(__NR_setdomainname, "setdomainname"),
	D(__NR_name_to_handle_at, "name_to_handle_at"),
	D(__NR_open_by_handle_at, "open_by_handle_at"),
	D(__NR_kexec_load, "kexec_load"),
	D(__NR_kexec_file_load, "kexec_file_load"),
	D(__NR_init_module, "init_module"),
	D(__NR_finit_module, "finit_module"),
	D(__NR_delete_module, "delete_module"),
	D(__NR_reboot, "reboot"),
	D(__NR_swapon, "swapon"),
	D(__NR_swapoff, "swapoff"),
	D(__NR_acct, "acct"),
	D(__NR_syslog, "syslog"),
	D(__NR_iopl, "iopl"),
	D(__NR_ioperm, "ioperm"),
};
const size_t sbx_sys_count = sizeof(sbx_sys_table) / sizeof(sbx_sys_table[0]);

#undef P
#undef D
#undef R
#undef W
#undef NF
#undef AT
#undef CR

#define SYS_MAX 512            /* x86_64 system call numbers are below this */
#define RANDOM_SLOTS 1024      /* threads whose getrandom position is remembered */
#define RANDOM_MAX (1u << 20)  /* bytes per getrandom answer */

struct sbx_sup {
	const struct sbx_prep *p;
	struct sbx_result *res;
	struct seccomp_notif *req;
	struct seccomp_notif_resp *resp;
	size_t req_size, resp_size;
	int16_t index[SYS_MAX];    /* nr -> sbx_sys_table index, -1 */
	struct {
		uint32_t tid;      /* 0: free */
		uint64_t off;
	} rnd[RANDOM_SLOTS];
	size_t n_rnd;
	int memfd;                 /* deterministic /dev/urandom for ADDFD (level 2), or -1 */
	char probe[PATH_MAX];      /* the first undeclared path only probed (stat, access...) */
	char probe_op[32];
	bool addfd;
	char *buf;                 /* scratch for getrandom answers (RANDOM_MAX bytes) */
};

struct sbx_sup *sbx_sup_new(const struct sbx_prep *p, struct sbx_result *res, bool addfd)
{
	struct seccomp_notif_sizes sizes = { 0 };
	struct sbx_sup *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->p = p;
	s->res = res;
	s->memfd = -1;
	s->addfd = addfd;
	/* The kernel's structures may be larger than our headers' (seccomp(2)). */
	if (syscall(__NR_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) < 0)
		memset(&sizes, 0, sizeof(sizes));
	s->req_size = sizes.seccomp_notif > sizeof(*s->req) ? sizes.seccomp_notif : sizeof(*s->req);
	s->resp_size = sizes.seccomp_notif_resp > sizeof(*s->resp) ? sizes.seccomp_notif_resp :
								      sizeof(*s->resp);
	s->req = calloc(1, s->req_size);
	s->resp = calloc(1, s->resp_size);
	if (!s->req || !s->resp) {
		sbx_sup_free(s);
		return NULL;
	}
	for (int i = 0; i < SYS_MAX; i++)
		s->index[i] = -1;
	for (size_t i = 0; i < sbx_sys_count; i++)
		if (sbx_sys_table[i].nr >= 0 && sbx_sys_table[i].nr < SYS_MAX)
			s->index[sbx_sys_table[i].nr] = (int16_t)i;
	return s;
}

void sbx_sup_free(struct sbx_sup *s)
{
	if (!s)
		return;
	if (s->memfd >= 0)
		close(s->memfd);
	free(s->req);
	free(s->resp);
	free(s->buf);
	free(s);
}

/* Read a NUL-terminated string of the target at addr; -errno on failure. */
static int read_string(pid_t pid, uint64_t addr, char *buf, size_t cap)
{
	size_t got = 0;
	long page = sysconf(_SC_PAGESIZE);

	if (!addr)
		return -EFAULT;
	while (got < cap) {
		size_t chunk = (size_t)page - (size_t)(addr % (uint64_t)page);
		struct iovec l, r;
		ssize_t n;
		char *nul;

		if (chunk > cap - got)
			chunk = cap - got;
		l.iov_base = buf + got;
		l.iov_len = chunk;
		r.iov_base = (void *)(uintptr_t)addr;
		r.iov_len = chunk;
		n = process_vm_readv(pid, &l, 1, &r, 1, 0);
		if (n <= 0)
			return n < 0 ? -errno : -EFAULT;
		nul = memchr(buf + got, '\0', (size_t)n);
		if (nul)
			return 0;
		got += (size_t)n;
		addr += (uint64_t)n;
	}
	return -ENAMETOOLONG;
}

static int read_mem(pid_t pid, uint64_t addr, void *buf, size_t n)
{
	struct iovec l = { buf, n }, r = { (void *)(uintptr_t)addr, n };

	return process_vm_readv(pid, &l, 1, &r, 1, 0) == (ssize_t)n ? 0 : -EFAULT;
}

/* The directory a relative path of the target starts from: its cwd or dirfd. */
static int target_base(pid_t pid, int dfd, char *out, size_t cap)
{
	char link[64];
	ssize_t n;

	if (dfd == AT_FDCWD)
		snprintf(link, sizeof(link), "/proc/%d/cwd", (int)pid);
	else
		snprintf(link, sizeof(link), "/proc/%d/fd/%d", (int)pid, dfd);
	n = readlink(link, out, cap - 1);
	if (n <= 0)
		return -errno;
	out[n] = '\0';
	/* "pipe:[...]", "/x (deleted)", "(unreachable)/x": nothing we can judge. */
	if (out[0] != '/' || (n > 10 && !strcmp(out + n - 10, " (deleted)")))
		return -EINVAL;
	return 0;
}

static bool valid(int fd, uint64_t id)
{
	return ioctl(fd, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0;
}

static void record_denied(struct sbx_sup *s, const char *fmt, const char *a, const char *b)
{
	s->res->n_denied++;
	if (!s->res->denied[0])
		snprintf(s->res->denied, sizeof(s->res->denied), fmt, a, b);
}

static const char *family_name(int f, char *buf, size_t cap)
{
	switch (f) {
	case AF_INET:
		return "AF_INET";
	case AF_INET6:
		return "AF_INET6";
	case AF_NETLINK:
		return "AF_NETLINK";
	case AF_PACKET:
		return "AF_PACKET";
	default:
		snprintf(buf, cap, "%d", f);
		return buf;
	}
}

static const char *clone_flag_name(uint64_t flags)
{
	static const struct {
		uint64_t flag;
		const char *name;
	} names[] = {
		{ CLONE_NEWUSER, "CLONE_NEWUSER" }, { CLONE_NEWNS, "CLONE_NEWNS" },
		{ CLONE_NEWPID, "CLONE_NEWPID" },   { CLONE_NEWNET, "CLONE_NEWNET" },
		{ CLONE_NEWUTS, "CLONE_NEWUTS" },   { CLONE_NEWIPC, "CLONE_NEWIPC" },
		{ CLONE_NEWCGROUP, "CLONE_NEWCGROUP" },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (flags & names[i].flag)
			return names[i].name;
	return "?";
}

/* getrandom(buf, count, flags): the next bytes of this thread's deterministic stream. */
static int answer_random(struct sbx_sup *s, const struct seccomp_notif *req, int64_t *val)
{
	uint64_t count = req->data.args[1];
	uint32_t tid = (uint32_t)req->pid;
	size_t slot = tid % RANDOM_SLOTS;
	struct iovec l, r;

	if (!s->buf && !(s->buf = malloc(RANDOM_MAX)))
		return -ENOMEM;
	if (count > RANDOM_MAX)
		count = RANDOM_MAX;
	/* Linear probing; when full, forget everything (positions restart at 0). */
	if (s->n_rnd * 4 >= RANDOM_SLOTS * 3) {
		memset(s->rnd, 0, sizeof(s->rnd));
		s->n_rnd = 0;
	}
	while (s->rnd[slot].tid && s->rnd[slot].tid != tid)
		slot = (slot + 1) % RANDOM_SLOTS;
	if (!s->rnd[slot].tid) {
		s->rnd[slot].tid = tid;
		s->rnd[slot].off = 0;
		s->n_rnd++;
	}
	sbx_random_fill(s->p->plan->random_seed, 1, s->rnd[slot].off, s->buf, (size_t)count);
	l.iov_base = s->buf;
	l.iov_len = (size_t)count;
	r.iov_base = (void *)(uintptr_t)req->data.args[0];
	r.iov_len = (size_t)count;
	if (count && process_vm_writev(req->pid, &l, 1, &r, 1, 0) != (ssize_t)count)
		return -EFAULT;
	s->rnd[slot].off += count;
	*val = (int64_t)count;
	return 0;
}

/*
 * Level 2: open("/dev/urandom") gets a fresh descriptor of the deterministic bytes.
 * 1 if answered (ADDFD with SEND answers the notification), 0 to go on normally.
 */
static int answer_urandom(struct sbx_sup *s, int fd, const struct seccomp_notif *req,
			  uint64_t oflags)
{
	struct seccomp_notif_addfd add = { 0 };
	char link[64];
	int nfd, rc;

	if (s->memfd < 0) {
		char *b = malloc(SBX_RANDOM_FILE_SIZE);
		int m;

		if (!b)
			return 0;
		m = memfd_create("sbx-urandom", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (m < 0) {
			free(b);
			return 0;
		}
		sbx_random_fill(s->p->plan->random_seed, 0, 0, b, SBX_RANDOM_FILE_SIZE);
		if (write(m, b, SBX_RANDOM_FILE_SIZE) != SBX_RANDOM_FILE_SIZE ||
		    fcntl(m, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL)) {
			free(b);
			close(m);
			s->addfd = false;
			return 0;
		}
		free(b);
		s->memfd = m;
	}
	/* A new open file description: its own offset, from 0, like a fresh open. */
	snprintf(link, sizeof(link), "/proc/self/fd/%d", s->memfd);
	nfd = open(link, O_RDONLY | O_CLOEXEC);
	if (nfd < 0)
		return 0;
	add.id = req->id;
	add.flags = SECCOMP_ADDFD_FLAG_SEND;
	add.srcfd = (uint32_t)nfd;
	add.newfd_flags = (uint32_t)(oflags & O_CLOEXEC);
	rc = ioctl(fd, SECCOMP_IOCTL_NOTIF_ADDFD, &add);
	close(nfd);
	if (rc < 0 && errno != ENOENT) {
		s->addfd = false; /* an older kernel: answer normally from now on */
		return 0;
	}
	return 1;
}

/* Judge the path arguments of req; 0 to continue, -errno to fail it, 1 if answered. */
static int answer_path(struct sbx_sup *s, int fd, const struct seccomp_notif *req,
		       const struct sbx_sysinfo *si)
{
	char raw[PATH_MAX], base[PATH_MAX], abs[PATH_MAX], res[PATH_MAX];
	uint64_t oflags = 0, atflags = 0;
	bool write1 = si->how & SBX_HOW_WRITE, follow = !(si->how & SBX_HOW_NOFOLLOW);

	if (si->flags >= 0)
		atflags = oflags = req->data.args[si->flags];
	if (si->how & SBX_HOW_OPEN2) {
		uint64_t how_flags;

		if (read_mem(req->pid, req->data.args[si->flags], &how_flags, sizeof(how_flags)) < 0)
			return 0;
		oflags = how_flags;
	}
	if (si->how & (SBX_HOW_OPEN | SBX_HOW_OPEN2)) {
		write1 = (oflags & O_ACCMODE) != O_RDONLY || (oflags & (O_CREAT | O_TRUNC));
		if ((oflags & O_NOFOLLOW) || (oflags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL))
			follow = false;
	}
	if (si->how & SBX_HOW_ATFLAGS) {
		if (atflags & AT_SYMLINK_NOFOLLOW)
			follow = false;
	}
	if ((si->how & SBX_HOW_ATFOLLOW) && (atflags & AT_SYMLINK_FOLLOW))
		follow = true;

	for (int k = 0; k < 2; k++) {
		int parg = k ? si->path2 : si->path, darg = k ? si->dfd2 : si->dfd;
		bool write = k ? (si->how & SBX_HOW_WRITE2) : write1;
		bool fol = k ? false : follow;
		enum sbx_verdict v;
		int rc;

		if (parg < 0)
			continue;
		if (read_string(req->pid, req->data.args[parg], raw, sizeof(raw)) < 0)
			return 0; /* the kernel answers EFAULT or ENAMETOOLONG itself */
		if (!raw[0])
			continue; /* AT_EMPTY_PATH (an fd), or ENOENT from the kernel */
		if (raw[0] != '/') {
			int dfd = darg >= 0 ? (int)req->data.args[darg] : AT_FDCWD;

			if (target_base(req->pid, dfd, base, sizeof(base)) < 0)
				continue;
		}
		if (sbx_path_normalize(base, raw, abs, sizeof(abs)) < 0)
			continue;
		if (sbx_decl_resolve(s->p, abs, fol, res, sizeof(res)) < 0)
			continue;
		if (!valid(fd, req->id))
			return 1; /* gone: nothing to answer */
		if (k == 0 && s->addfd && (si->how & (SBX_HOW_OPEN | SBX_HOW_OPEN2)) && !write &&
		    (s->p->plan->flags & SBX_RANDOM) && s->p->level >= SBX_LEVEL_SECCOMP &&
		    (!strcmp(res, "/dev/urandom") || !strcmp(res, "/dev/random")) &&
		    (rc = answer_urandom(s, fd, req, oflags)) != 0)
			return rc;
		v = sbx_decl_check(s->p, res, write);
		/* Creating what exists fails with EEXIST, harmlessly: `mkdir -p` does it. */
		if (v == SBX_READONLY && write && (si->how & SBX_HOW_CREATE) &&
		    sbx_decl_exists(s->p, res))
			v = SBX_ALLOW;
		switch (v) {
		case SBX_ALLOW:
			break;
		case SBX_ABSENT:
			return -ENOENT;
		case SBX_UNDECLARED:
			s->res->n_undeclared++;
			/* A file opened or executed says more than a probe (gcc stats x.c.gch). */
			if (si->how & (SBX_HOW_OPEN | SBX_HOW_OPEN2 | SBX_HOW_EXEC)) {
				if (!s->res->undeclared[0]) {
					snprintf(s->res->undeclared, sizeof(s->res->undeclared), "%s",
						 abs);
					snprintf(s->res->undeclared_op, sizeof(s->res->undeclared_op),
						 "%s", si->name);
				}
			} else if (!s->probe[0]) {
				snprintf(s->probe, sizeof(s->probe), "%s", abs);
				snprintf(s->probe_op, sizeof(s->probe_op), "%s", si->name);
			}
			return -ENOENT;
		case SBX_READONLY:
		case SBX_NOWRITE:
			record_denied(s, "write '%s' (%s)", abs, si->name);
			return v == SBX_READONLY ? -EROFS : -ENOENT;
		}
	}
	return 0;
}

void sbx_sup_finish(struct sbx_sup *s)
{
	if (s && !s->res->undeclared[0] && s->probe[0]) {
		snprintf(s->res->undeclared, sizeof(s->res->undeclared), "%s", s->probe);
		snprintf(s->res->undeclared_op, sizeof(s->res->undeclared_op), "%s", s->probe_op);
	}
}

int sbx_sup_handle(struct sbx_sup *s, int fd)
{
	struct seccomp_notif *req = s->req;
	struct seccomp_notif_resp *resp = s->resp;
	const struct sbx_sysinfo *si = NULL;
	int nr, rc = 0;
	int64_t val = 0;
	char buf[32];

	memset(req, 0, s->req_size);
	if (ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, req) < 0) {
		/* ENOENT: the target died before we received it (kernel >= 5.x). */
		if (errno == EINTR || errno == ENOENT || errno == EAGAIN)
			return 0;
		return -errno;
	}
	s->res->n_notified++;
	nr = req->data.nr;
	if (nr >= 0 && nr < SYS_MAX && s->index[nr] >= 0)
		si = &sbx_sys_table[s->index[nr]];
	if (nr == __NR_socket) {
		s->res->n_denied++;
		if (!s->res->denied[0])
			snprintf(s->res->denied, sizeof(s->res->denied), "socket(%s)",
				 family_name((int)(uint32_t)req->data.args[0], buf, sizeof(buf)));
		rc = -EACCES;
	} else if (nr == __NR_clone) {
		record_denied(s, "clone(%s)%s", clone_flag_name(req->data.args[0]), "");
		rc = -EPERM;
	} else if (nr == __NR_ioctl) {
		record_denied(s, "ioctl(%s)%s",
			      (uint32_t)req->data.args[1] == TIOCSTI ? "TIOCSTI" : "TIOCLINUX", "");
		rc = -EPERM;
	} else if (!si) {
		rc = 0; /* not ours: let it run */
	} else if (si->kind == SBX_SYS_DENY) {
		record_denied(s, "%s%s", si->name, "");
		rc = -EPERM;
	} else if (si->kind == SBX_SYS_RANDOM) {
		rc = answer_random(s, req, &val);
		if (rc == 0) {
			memset(resp, 0, s->resp_size);
			resp->id = req->id;
			resp->val = val;
			goto out_send;
		}
	} else {
		rc = answer_path(s, fd, req, si);
		if (rc == 1)
			return 0;
	}
	memset(resp, 0, s->resp_size);
	resp->id = req->id;
	if (rc < 0)
		resp->error = rc;
	else
		resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
out_send:
	if (ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, resp) < 0 && errno != ENOENT && errno != EINTR)
		return -errno;
	return 0;
}

/* splitmix64 (Steele, Lea, Flood 2014): a counter-based stream, any offset in O(1). */
static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void sbx_random_fill(uint64_t seed, uint64_t stream, uint64_t off, void *buf, size_t n)
{
	unsigned char *out = buf;
	uint64_t key = mix64(seed ^ mix64(stream + 0x9e3779b97f4a7c15ULL));

	while (n) {
		uint64_t block = off / 8, v = mix64(key + 0x9e3779b97f4a7c15ULL * (block + 1));
		unsigned skip = (unsigned)(off % 8);

		for (unsigned i = skip; i < 8 && n; i++, n--, off++)
			*out++ = (unsigned char)(v >> (8 * i));
	}
}
