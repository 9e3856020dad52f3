/*
 * shim.c - the core of libggshim.so: per-image state, the trace log, record emission.
 *
 * States of an image's recorder:
 *   OFF      GG_SHIM_OFF=1 at start, or recording failed: every wrapper passes through.
 *   LAZY     a fork child before its first event: no PROC record yet (origin FORK).
 *   LOGGING  PROC written: records are appended with one writev(2) each.
 * Transitions: start-up -> LOGGING (or OFF); fork -> LAZY in the child; first event in
 * LAZY -> LOGGING; any write/open failure -> OFF with one warning.
 *
 * The trace is one segment per recording (trace_format.h, version 2), shared by
 * every image: an exec'd image opens it by path at start-up (O_APPEND, no O_CREAT:
 * only the first image of a recording, or one that finds it missing, creates it,
 * whole, under a temporary name), a fork child keeps the descriptor it inherits.
 * Each record is framed with the image's (pid, start) and written with one
 * writev(2), whole or not at all: a short write stops recording.
 *
 * Invariants: the hot path (shim_enter .. rec_* .. shim_leave) calls no malloc, no
 * stdio and takes no lock; errno is what the real call left; the log descriptor lives
 * high (>= 900 when the fd limit allows), close-on-exec, and is protected from the
 * program's close/dup2/close_range by the wrappers in wrap_fd.c.
 */
#include <dirent.h>
#include <elf.h>
#include <link.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define XXH_INLINE_ALL
#define XXH_NO_STREAM
#include <xxhash.h>

#include "shim/path.h"
#include "shim/shim.h"
#include "shim/vpath.h"

#define TBUF_CAP (64u * 1024)
#define SEEN_SLOTS 8192u      /* dedupe set of existence checks, per image */
#define WFD_MAX 65536         /* descriptors tracked for writing */
#define LOG_FD_FLOOR 900

enum shim_mode { MODE_OFF = 0, MODE_LAZY = 1, MODE_LOGGING = 2 };

static struct {
	_Atomic int mode;
	pid_t pid;
	int origin;
	_Atomic int log_fd;
	uint64_t start_ns; /* with pid: the image's identity in the segment */
	char log_id[48];   /* "<pid>-<start_ns as 16 hex>" */
	char parent_log[48];
	char trace_dir[PATH_MAX];
	char seg_path[PATH_MAX + 64]; /* trace_dir/seg-<root>.ggt */
	bool seen_dirty; /* fork child: seen[] is the parent's until the first record */
	bool fsize_limited; /* RLIMIT_FSIZE set: SIGXFSZ blocked around writes */
	char lib_path[PATH_MAX];
	char exe[PATH_MAX];
	char **argv;
	char **envp;
	_Atomic unsigned cwd_seq;
	char cwd[PATH_MAX];
	bool warned;
	bool failed; /* recording stopped after a trace failure (not GG_SHIM_OFF at start) */
	bool top;    /* the top recorded process (GG_SHIM_ROOT): the one that warns */
	char root_env[48]; /* "GG_SHIM_ROOT=<root log id>" for the children */
	char trace_env[PATH_MAX + 16]; /* "GG_TRACE_DIR=..." set by the root */
	bool exit_recorded;
	_Atomic int opening; /* a thread is opening the log (log_open) */
	_Atomic int stdin_seen;    /* STDIN recorded */
	_Atomic uint64_t net_seen; /* NET recorded, by domain */
	pthread_key_t buf_key;
	bool have_key;
} g = { .log_fd = -1 };

static _Atomic uint64_t seen[SEEN_SLOTS];
static _Atomic uint64_t wfd[WFD_MAX / 64];

static __thread int t_guard;
static __thread char *t_buf;

/* ---- small async-signal-safe helpers ------------------------------------ */

static uint64_t now_ns(clockid_t clk)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static pid_t raw_getpid(void)
{
	return (pid_t)syscall(SYS_getpid);
}

static int raw_close(int fd)
{
	return (int)syscall(SYS_close, fd);
}

static size_t fmt_u64(char *out, uint64_t v, unsigned base, unsigned width)
{
	char tmp[24];
	size_t n = 0;
	do {
		tmp[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	while (n < width)
		tmp[n++] = '0';
	for (size_t i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	out[n] = '\0';
	return n;
}

static char *cat(char *p, const char *s)
{
	size_t n = strlen(s);
	memcpy(p, s, n + 1);
	return p + n;
}

static void write_all_stderr(const char *s)
{
	size_t n = strlen(s);
	while (n) {
		ssize_t w = write(2, s, n);
		if (w <= 0) {
			if (w < 0 && errno == EINTR)
				continue;
			return;
		}
		s += w;
		n -= (size_t)w;
	}
}

/* Keeps errno: the real call must see the errno the program left. */
void *shim_dlsym(const char *name)
{
	int saved = errno;
	void *p = dlsym(RTLD_NEXT, name);
	errno = saved;
	return p;
}

/* ---- the environment ------------------------------------------------------ */

/*
 * getenv and setenv of our own: an executable may define its own (bash does, over
 * its shell variables, and its getenv finds nothing before its main runs) and it
 * would be the one a preload library calls.
 */
const char *shim_getenv(const char *name)
{
	size_t n = strlen(name);
	for (char **e = environ; e && *e; e++)
		if (!strncmp(*e, name, n) && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

/* Put `entry` ("NAME=value", static storage) in environ, replacing NAME. */
static void shim_setenv(char *entry)
{
	size_t klen = (size_t)(strchr(entry, '=') - entry) + 1, n = 0;
	char **nv;

	for (; environ && environ[n]; n++) {
		if (!strncmp(environ[n], entry, klen)) {
			environ[n] = entry;
			return;
		}
	}
	nv = mmap(NULL, (n + 2) * sizeof(*nv), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		  -1, 0);
	if (nv == MAP_FAILED)
		return;
	if (n)
		memcpy(nv, environ, n * sizeof(*nv));
	nv[n] = entry;
	nv[n + 1] = NULL;
	environ = nv; /* the old array is the program's or ours: left alone */
}

/*
 * Compiler caches pass through while recording (README "Compiler caches",
 * inferer/wrapcache.h): a cache hit never runs the compiler, so the headers it would
 * read would be missing from the recording.  Every recorded process gets
 * CCACHE_DISABLE=1 (here for its own environ, from shim_env_fixup for the children
 * of a cleared or explicit environment); CCACHE_NODISABLE, which would override it,
 * is dropped.  The variable is recorded with the environment, so it stays in the
 * thunks and replays pass through too.
 */
static char ccache_env[] = "CCACHE_DISABLE=1";
#define CCACHE_NODISABLE "CCACHE_NODISABLE="

static bool env_is_passthrough(const char *entry)
{
	return !strcmp(entry, ccache_env);
}

static bool env_is_ccache_switch(const char *entry)
{
	return !strncmp(entry, "CCACHE_DISABLE=", 15) ||
	       !strncmp(entry, CCACHE_NODISABLE, sizeof(CCACHE_NODISABLE) - 1);
}

/* Put CCACHE_DISABLE=1 in environ, drop CCACHE_NODISABLE (in place, as unsetenv(3)
 * does).  true if environ changed. */
static bool shim_env_passthrough(void)
{
	size_t k = 0;
	bool has = false, changed = false;

	for (size_t i = 0; environ && environ[i]; i++) {
		if (!strncmp(environ[i], CCACHE_NODISABLE, sizeof(CCACHE_NODISABLE) - 1)) {
			changed = true;
			continue;
		}
		has |= env_is_passthrough(environ[i]);
		environ[k++] = environ[i];
	}
	if (environ)
		environ[k] = NULL;
	if (!has) {
		shim_setenv(ccache_env);
		changed = true;
	}
	return changed;
}

/* ---- enabling and disabling --------------------------------------------- */

bool shim_enabled(void)
{
	return atomic_load_explicit(&g.mode, memory_order_relaxed) != MODE_OFF;
}

/*
 * Stop recording this image after a trace failure, and tell the children (they
 * inherit GG_SHIM_OFF=1 in environ; children started with an
 * explicit environment get it from shim_env_fixup).  Only the top recorded process
 * warns, once: a full disk hits every running process, and each would say so.  The
 * top always learns: it writes again when it spawns, reaps or exits, and checks
 * that the trace still exists (shim_check_alive) before it forks or at its end.
 */
static void shim_disable(const char *what, int err)
{
	static char off_env[] = GG_ENV_SHIM_OFF "=1";
	char msg[PATH_MAX + 256], *p = msg;
	const char *desc = strerrordesc_np(err);

	atomic_store(&g.mode, MODE_OFF);
	g.failed = true;
	if (!shim_in_detached_child())
		shim_setenv(off_env);
	if (g.warned || !g.top)
		return;
	g.warned = true;
	p = cat(p, "gg: warning: cannot write trace '");
	p = cat(p, what);
	p = cat(p, "': ");
	p = cat(p, desc ? desc : "error");
	p = cat(p, "; this build is not recorded\n");
	write_all_stderr(msg);
}

/* ---- the guard ----------------------------------------------------------- */

static int log_open(void);

bool shim_enter(struct shim_call *c)
{
	c->saved_errno = errno;
	c->err = 0;
	c->active = false;
	c->map = false;
	if (t_guard || atomic_load_explicit(&g.mode, memory_order_acquire) == MODE_OFF)
		return false;
	t_guard = 1;
	c->active = true;
	c->map = shim_vr;
	return true;
}

bool shim_enter_v(struct shim_call *c)
{
	if (shim_enter(c))
		return true;
	if (__builtin_expect(!shim_vr, 1) || t_guard)
		return false;
	/* not recording (GG_SHIM_OFF, a trace failure): the paths are still mapped */
	t_guard = 1;
	c->map = true;
	return true;
}

/*
 * The trace directory deleted under a running build: our log has no name any more.
 * Noticed before a process starts another (fork, exec, spawn), so that one warning
 * is printed and the children are told (GG_SHIM_OFF) instead of each failing anew.
 */
void shim_check_alive(void)
{
	struct stat st;
	int fd = atomic_load_explicit(&g.log_fd, memory_order_relaxed);
	if (atomic_load_explicit(&g.mode, memory_order_relaxed) != MODE_LOGGING || fd < 0 ||
	    shim_in_detached_child())
		return;
	if (fstat(fd, &st) == 0 && st.st_nlink == 0)
		shim_disable(g.trace_dir, ENOENT);
}

bool shim_enter_proc(struct shim_call *c)
{
	shim_check_alive();
	if (shim_enter(c))
		return true;
	if (t_guard || (!g.failed && !shim_vr))
		return false;
	/* not recording any more, but the children must learn it from the environment,
	 * and under GG_VROOT every exec goes through the recorded loader */
	c->saved_errno = errno;
	c->err = 0;
	c->active = true;
	c->map = shim_vr;
	t_guard = 1;
	return true;
}

bool shim_log_pending(void)
{
	return atomic_load_explicit(&g.mode, memory_order_relaxed) == MODE_LAZY;
}

/*
 * Around the real exec: a child that shares our memory (clone(CLONE_VM|CLONE_VFORK))
 * shares the guard too, and a successful exec never comes back to clear it.
 */
void shim_exec_begin(void)
{
	t_guard = 0;
}

void shim_exec_end(void)
{
	t_guard = 1;
}

void shim_leave(struct shim_call *c)
{
	t_guard = 0;
	errno = c->err;
}

/* ---- paths --------------------------------------------------------------- */

static void cwd_refresh(void)
{
	char tmp[PATH_MAX];
	long n = syscall(SYS_getcwd, tmp, sizeof(tmp));
	if (n <= 0 || tmp[0] != '/')
		tmp[0] = '\0';
	if (shim_vr && tmp[0]) {
		vpath_set_cwd(&shim_vp, tmp); /* for the exec plans */
		shim_vunmap(tmp);	       /* recorded: the virtual cwd, R/x -> /x */
	}
	atomic_fetch_add(&g.cwd_seq, 1);
	memcpy(g.cwd, tmp, strlen(tmp) + 1);
	atomic_fetch_add(&g.cwd_seq, 1);
}

static void cwd_copy(char *out)
{
	unsigned s1, s2;
	do {
		s1 = atomic_load(&g.cwd_seq);
		memcpy(out, g.cwd, PATH_MAX);
		out[PATH_MAX - 1] = '\0';
		s2 = atomic_load(&g.cwd_seq);
	} while (s1 != s2 || (s1 & 1));
	if (!out[0]) {
		ssize_t n = readlink("/proc/self/cwd", out, PATH_MAX - 1);
		out[n > 0 ? n : 0] = '\0';
		if (shim_vr)
			shim_vunmap(out);
	}
}

void shim_cwd_copy(char *out)
{
	cwd_copy(out);
}

void shim_cwd_changed(void)
{
	cwd_refresh();
}

const char *shim_lib_path(void)
{
	return g.lib_path;
}

void shim_fdpath(int fd, char *out)
{
	char link[40], *p = cat(link, "/proc/self/fd/");
	ssize_t n;
	fmt_u64(p, (uint64_t)fd, 10, 0);
	n = readlink(link, out, SHIM_PATH_CAP - 1);
	out[n > 0 ? n : 0] = '\0';
	if (shim_vr && out[0] == '/')
		shim_vunmap(out);
}

void shim_abspath(int dirfd, const char *path, char *out)
{
	char base[PATH_MAX];

	if (!path) {
		out[0] = '\0';
		return;
	}
	if (path[0] == '/') {
		path_join(NULL, path, out, SHIM_PATH_CAP);
		return;
	}
	if (dirfd == AT_FDCWD)
		cwd_copy(base);
	else
		shim_fdpath(dirfd, base);
	path_join(base[0] ? base : NULL, path, out, SHIM_PATH_CAP);
}

/* ---- the log -------------------------------------------------------------- */

static char *tbuf(void)
{
	void *p;
	if (t_buf)
		return t_buf;
	p = mmap(NULL, TBUF_CAP, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	t_buf = p;
	if (g.have_key)
		pthread_setspecific(g.buf_key, p);
	return t_buf;
}

static void tbuf_free(void *p)
{
	if (p)
		munmap(p, TBUF_CAP);
	t_buf = NULL;
}

/*
 * Append one record finished by tenc_finish() (rec[0..n)) to the segment at fd,
 * framed for the image (pid, start): one writev, whole or not at all.  A short write
 * is not completed (its rest would land after other processes' records: the reader
 * skips the torn part, trace_format.h) and counts as a full disk.  0 or -errno.
 */
static int rec_write(int fd, const char *rec, size_t n, pid_t pid, uint64_t start)
{
	char hdr[GG_TRACE_SEG_RECHDR_LEN];
	struct iovec iov[2] = {
		{ .iov_base = hdr, .iov_len = sizeof(hdr) },
		{ .iov_base = (char *)rec + GG_TRACE_RECHDR_LEN, .iov_len = n - GG_TRACE_RECHDR_LEN },
	};
	sigset_t xfsz, old;
	ssize_t w;

	tenc_seg_frame(hdr, rec, (uint32_t)pid, start);
	if (g.fsize_limited) { /* past RLIMIT_FSIZE: EFBIG, not a SIGXFSZ that kills */
		sigemptyset(&xfsz);
		sigaddset(&xfsz, SIGXFSZ);
		syscall(SYS_rt_sigprocmask, SIG_BLOCK, &xfsz, &old, sizeof(long));
	}
	do
		w = writev(fd, iov, 2);
	while (w < 0 && errno == EINTR);
	if (w < 0)
		w = -errno;
	if (g.fsize_limited)
		syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old, NULL, sizeof(long));
	if (w < 0)
		return (int)w;
	return (size_t)w == sizeof(hdr) + n - GG_TRACE_RECHDR_LEN ? 0 : -ENOSPC;
}

static int seg_open(void);

/* Emit a finished record to the segment, writing the PROC first in a fork child. */
static void emit(struct tenc *e)
{
	ssize_t n = tenc_finish(e);
	int fd, r;

	if (n < 0 || atomic_load_explicit(&g.mode, memory_order_relaxed) == MODE_OFF)
		return;
	if (atomic_load_explicit(&g.mode, memory_order_relaxed) == MODE_LAZY && log_open() < 0)
		return;
	fd = atomic_load_explicit(&g.log_fd, memory_order_relaxed);
	if (fd < 0)
		return;
	r = rec_write(fd, e->buf, (size_t)n, g.pid, g.start_ns);
	if (r == -EBADF) {
		/* closed behind the wrappers' back (a raw close syscall): open it again */
		int nfd = seg_open(), cur = fd;
		if (nfd >= 0 && !atomic_compare_exchange_strong(&g.log_fd, &cur, nfd)) {
			raw_close(nfd);
			nfd = cur;
		}
		r = nfd < 0 ? nfd : rec_write(nfd, e->buf, (size_t)n, g.pid, g.start_ns);
	}
	if (r < 0)
		shim_disable(g.seg_path, -r);
}

static int stdio_type(int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -1;
	return (int)((st.st_mode & S_IFMT) >> 12);
}

/* The path the image was exec'd as: under GG_VROOT the kernel's is R's loader or the
 * resolved executable, the parent passes the path it gave in GG_VEXECFN. */
static const char *proc_execfn(void)
{
	const char *v = shim_vr ? shim_getenv(GG_ENV_VEXECFN) : NULL;
	return v && v[0] ? v : shim_vname((const char *)getauxval(AT_EXECFN));
}

/* PROC: the first record of a log (see trace_format.h for the fields). */
static int write_proc(int fd, pid_t pid, int origin, uint64_t start_ns, const char *log_parent,
		      char **argv, char **envp)
{
	char cwd[PATH_MAX];
	size_t cap = 4096 + 2 * PATH_MAX + tenc_strv_size(argv) + tenc_strv_size(envp);
	char *buf = NULL;
	mode_t um;
	int r;

	cap = (cap + 4095) & ~(size_t)4095;
	if (cap > GG_TRACE_MAX_RECORD)
		cap = GG_TRACE_MAX_RECORD;
	buf = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		return -ENOMEM;
	cwd_copy(cwd);
	um = (mode_t)syscall(SYS_umask, 022);
	syscall(SYS_umask, um);

	struct tenc e = TENC_INIT(buf, cap);
	size_t budget = cap - 4096 - 2 * PATH_MAX, argv_need = tenc_strv_size(argv);
	/* argv first, whole when it fits; the environment gets the rest */
	size_t argv_budget = argv_need < budget / 2 ? argv_need + 16 : budget / 2;
	if (argv_need + tenc_strv_size(envp) + 64 <= budget)
		argv_budget = argv_need + 16;
	struct gg_rec_proc rec = {
		.pid = pid, .ppid = getppid(), .origin = (uint64_t)origin, .start_ns = start_ns,
		.exe = g.exe, .execfn = proc_execfn(),
		.argv = { argv, argv_budget }, .env = { envp, budget - argv_budget },
		.cwd = cwd, .umask = um, .uid = getuid(), .gid = getgid(), .parent_log = log_parent,
		.stdio = { stdio_type(0), stdio_type(1), stdio_type(2) },
	};
	tenc_rec_proc(&e, now_ns(CLOCK_MONOTONIC), &rec);
	ssize_t n = tenc_finish(&e);
	r = n < 0 ? (int)n : rec_write(fd, buf, (size_t)n, pid, start_ns);
	munmap(buf, cap);
	return r;
}

/* Move a new descriptor of the segment high, out of the program's way. */
static int fd_move_high(int fd)
{
	struct rlimit rl;
	int hi = LOG_FD_FLOOR, nfd;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 2 * LOG_FD_FLOOR)
		hi = (int)(rl.rlim_cur / 2);
	if (hi <= fd)
		return fd;
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, hi);
	if (nfd < 0)
		return fd;
	raw_close(fd);
	return nfd;
}

/*
 * Create the segment whole: its header written under no name (O_TMPFILE) or a
 * hidden temporary name, then linked into place, so that no image ever appends to
 * a segment without its header.  Losing the race to another image gives -EEXIST
 * (the caller opens the winner's).  Returns an O_APPEND descriptor or -errno.
 */
static int seg_create(void)
{
	char hdr[GG_TRACE_HEADER_LEN], tmp[PATH_MAX + 64], *p;
	int fd, r;

	tenc_seg_header(hdr);
	fd = (int)syscall(SYS_openat, AT_FDCWD, g.trace_dir, O_TMPFILE | O_WRONLY | O_CLOEXEC,
			  0644);
	if (fd >= 0) {
		p = cat(tmp, "/proc/self/fd/");
		fmt_u64(p, (uint64_t)fd, 10, 0);
		if (write(fd, hdr, sizeof(hdr)) != (ssize_t)sizeof(hdr)) {
			r = -ENOSPC;
			goto out_close;
		}
		if (syscall(SYS_linkat, AT_FDCWD, tmp, AT_FDCWD, g.seg_path, AT_SYMLINK_FOLLOW) == 0)
			goto out_append;
		r = -errno;
		raw_close(fd);
		if (r == -EEXIST)
			return -EEXIST;
		/* no /proc: the named way below */
	} else if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
		return -errno;
	}
	p = cat(cat(tmp, g.trace_dir), "/.seg-");
	p += fmt_u64(p, (uint64_t)raw_getpid(), 10, 0);
	cat(p, ".tmp");
	fd = (int)syscall(SYS_openat, AT_FDCWD, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, hdr, sizeof(hdr)) != (ssize_t)sizeof(hdr)) {
		r = -ENOSPC;
		syscall(SYS_unlinkat, AT_FDCWD, tmp, 0);
		goto out_close;
	}
	r = syscall(SYS_linkat, AT_FDCWD, tmp, AT_FDCWD, g.seg_path, 0) == 0 ? 0 : -errno;
	syscall(SYS_unlinkat, AT_FDCWD, tmp, 0);
	if (r < 0)
		goto out_close;
out_append:
	if (fcntl(fd, F_SETFL, O_WRONLY | O_APPEND) < 0) {
		r = -errno;
		goto out_close;
	}
	return fd;
out_close:
	raw_close(fd);
	return r;
}

/*
 * A new O_APPEND descriptor of the recording's segment, high and close-on-exec:
 * opened by path (no file is created per image), created if it is not there yet.
 */
static int seg_open(void)
{
	int fd = -EEXIST;

	for (int tries = 0; tries < 3 && fd == -EEXIST; tries++) {
		fd = (int)syscall(SYS_openat, AT_FDCWD, g.seg_path, O_WRONLY | O_APPEND | O_CLOEXEC);
		if (fd < 0 && errno == ENOENT)
			fd = seg_create();
		else if (fd < 0)
			fd = -errno;
	}
	return fd < 0 ? fd : fd_move_high(fd);
}

/* A new image identity (pid, start): log_id = "<pid>-<start as 16 hex>". */
static void image_id_new(pid_t pid)
{
	char *p;

	g.start_ns = now_ns(CLOCK_REALTIME);
	p = g.log_id + fmt_u64(g.log_id, (uint64_t)pid, 10, 0);
	*p++ = '-';
	fmt_u64(p, g.start_ns, 16, 16);
}

static char *empty_vec[1] = { NULL };

static void rec_objs_init(void);

/* Write this image's PROC (and OBJS) records, opening the segment if this image
 * has no descriptor of it (an exec'd image; a fork child inherits one). */
static int log_open(void)
{
	int fd, r;
	bool forked = g.origin == GG_ORIGIN_FORK;
	int zero = 0;

	/* several threads of a fork child may race to the first record: one writes */
	if (!atomic_compare_exchange_strong(&g.opening, &zero, 1)) {
		while (atomic_load(&g.mode) == MODE_LAZY)
			sched_yield();
		return atomic_load(&g.log_fd) >= 0 ? 0 : -EIO;
	}
	fd = atomic_load(&g.log_fd);
	if (fd < 0) {
		fd = seg_open();
		if (fd < 0) {
			shim_disable(g.seg_path, -fd);
			goto out;
		}
		atomic_store(&g.log_fd, fd);
	}
	if (forked) {
		image_id_new(g.pid);
		if (g.seen_dirty)
			memset(seen, 0, sizeof(seen));
		g.seen_dirty = false;
	}
	r = write_proc(fd, g.pid, g.origin, g.start_ns, forked ? g.parent_log : "",
		       forked ? empty_vec : g.argv, forked ? empty_vec : g.envp);
	if (r < 0) {
		atomic_store(&g.log_fd, -1);
		raw_close(fd);
		shim_disable(g.seg_path, -r);
		fd = r;
		goto out;
	}
	atomic_store(&g.mode, MODE_LOGGING);
	if (!forked)
		rec_objs_init();
	fd = 0;
out:
	atomic_store(&g.opening, 0);
	return fd < 0 ? fd : 0;
}

int shim_log_fd(void)
{
	return atomic_load(&g.log_fd);
}

int shim_log_move_away(int fd)
{
	int cur = atomic_load(&g.log_fd);
	int nfd;
	if (cur < 0 || fd != cur)
		return 0;
	nfd = fcntl(cur, F_DUPFD_CLOEXEC, cur + 1);
	if (nfd < 0)
		nfd = fcntl(cur, F_DUPFD_CLOEXEC, 3);
	if (nfd < 0 || nfd == fd)
		return -EMFILE;
	atomic_store(&g.log_fd, nfd);
	raw_close(cur);
	return 0;
}

/* ---- dedupe of existence checks -------------------------------------------- */

/* True the first time (fn, path, flags, ret) is seen in this image. */
static bool seen_first(int fn, const char *path, size_t len, long flags, long ret)
{
	uint64_t h;

	/* a fork child's table is its parent's until its PROC is written (log_open) */
	if (atomic_load_explicit(&g.mode, memory_order_relaxed) == MODE_LAZY && log_open() < 0)
		return true;
	h = XXH3_64bits_withSeed(path, len,
					  ((uint64_t)fn << 48) ^ ((uint64_t)flags << 16) ^ (uint64_t)ret);
	if (h == 0)
		h = 1;
	for (unsigned i = 0; i < 32; i++) {
		unsigned slot = (unsigned)(h + i) % SEEN_SLOTS;
		uint64_t cur = atomic_load_explicit(&seen[slot], memory_order_relaxed);
		if (cur == h)
			return false;
		if (cur == 0) {
			uint64_t zero = 0;
			if (atomic_compare_exchange_strong(&seen[slot], &zero, h))
				return true;
			if (zero == h)
				return false;
		}
	}
	return true; /* table crowded: record again rather than lose it */
}

/* ---- record helpers ------------------------------------------------------------ */

/* Encode a record of type `name` (trace_schema.h) from designated initializers of
 * struct gg_rec_<name> into the per-thread buffer and emit it. */
#define REC_EMIT(name, ...)                                                       \
	do {                                                                      \
		char *buf_ = tbuf();                                              \
		if (buf_) {                                                       \
			struct tenc e_ = TENC_INIT(buf_, TBUF_CAP);               \
			struct gg_rec_##name r_ = { __VA_ARGS__ };                \
			tenc_rec_##name(&e_, now_ns(CLOCK_MONOTONIC), &r_);       \
			emit(&e_);                                                \
		}                                                                 \
	} while (0)

void rec_open(int fn, int dirfd, const char *path, int flags, mode_t mode, long ret, int err)
{
	char abs[SHIM_PATH_CAP];
	shim_abspath(dirfd, path, abs);
	REC_EMIT(open, .fn = (unsigned)fn, .path = abs, .flags = flags, .mode = mode, .ret = ret,
		 .err = ret < 0 ? err : 0);
	if (ret >= 0)
		shim_fd_opened((int)ret, flags);
}

void rec_stat(int fn, int dirfd, const char *path, int flags, long ret, int err,
	      unsigned ftype, const char *target)
{
	char abs[SHIM_PATH_CAP];
	size_t len;
	shim_abspath(dirfd, path, abs);
	len = strlen(abs);
	if (ret < 0)
		ret = -1;
	if (!seen_first(fn, abs, len, flags, ret >= 0 ? 0 : err))
		return;
	REC_EMIT(stat, .fn = (unsigned)fn, .path = abs, .flags = flags, .ret = ret,
		 .err = ret < 0 ? err : 0, .ftype = ftype, .target = target);
}

struct dent64 {
	uint64_t ino;
	int64_t off;
	unsigned short reclen;
	unsigned char type;
	char name[];
};

/*
 * Encode the names of the directory freshly opened at dfd (minus "." and
 * "..") as a list, in the one pass that reads them: a directory that changes
 * meanwhile still gives a well-formed list of names the kernel returned.  Returns
 * false when the list is not the whole directory: the buffer was full (`reserve`
 * bytes must stay free after the list) or reading failed partway.
 */
static bool list_names(int dfd, struct tenc *e, size_t reserve)
{
	char dbuf[8192];
	struct tenc_list l;
	bool whole = true;
	long n;

	tenc_list_open(e, &l);
	while (whole && (n = syscall(SYS_getdents64, dfd, dbuf, sizeof(dbuf))) != 0) {
		if (n < 0) {
			whole = false;
			break;
		}
		for (long off = 0; off < n;) {
			struct dent64 *d = (struct dent64 *)(dbuf + off);
			off += d->reclen;
			if (!strcmp(d->name, ".") || !strcmp(d->name, ".."))
				continue;
			if (!tenc_list_str(e, &l, d->name, strlen(d->name), reserve)) {
				whole = false;
				break;
			}
		}
	}
	tenc_list_close(e, &l);
	return whole;
}

/*
 * LIST: the buffer is a fixed GG_TRACE_MAX_RECORD-sized anonymous mapping with no
 * swap reserved (only the pages the names touch are ever allocated); if even that
 * mapping cannot be made, the per-thread buffer, and a directory too big for it is
 * recorded truncated (trace_format.h LIST).
 */
#define LIST_BUF_CAP ((size_t)GG_TRACE_RECHDR_LEN + GG_TRACE_MAX_RECORD)

struct list_fill {
	struct gg_rec_list *r;
	int dfd;
};

/* LIST's names (a tenc_fill): a list that is not whole sets the truncated after it. */
static void list_fill(struct tenc *e, void *ctx)
{
	struct list_fill *lf = ctx;

	if (lf->dfd < 0)
		tenc_array(e, 0);
	else if (!list_names(lf->dfd, e, 1)) /* 1: room for the truncated bool */
		lf->r->truncated = true;
}

void rec_list(int fn, int dirfd, const char *path, int fd_for_listing, long ret, int err)
{
	char abs[SHIM_PATH_CAP];
	size_t cap = LIST_BUF_CAP;
	bool mapped = true;
	int dfd = -1;
	char *buf;

	if (path)
		shim_abspath(dirfd, path, abs);
	else
		shim_fdpath(fd_for_listing, abs);
	if (!seen_first(fn, abs, strlen(abs), -1, ret < 0 ? err : 0))
		return;
	buf = mmap(NULL, cap, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (buf == MAP_FAILED) {
		mapped = false;
		buf = tbuf();
		cap = TBUF_CAP;
		if (!buf)
			return;
	}
	if (ret >= 0) {
		char host[SHIM_VPATH_CAP];
		const char *hp = path;
		if (path && shim_vr && shim_vmap(dirfd, path, 0, host, &hp) < 0)
			hp = NULL; /* the directory the call listed under R, read again */
		if (hp)
			dfd = (int)syscall(SYS_openat, dirfd, hp,
					   O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		else
			dfd = (int)syscall(SYS_openat, fd_for_listing, ".",
					   O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	struct tenc e = TENC_INIT(buf, cap);
	struct gg_rec_list r = {
		.fn = (unsigned)fn, .path = abs, .ret = ret < 0 ? -1 : 0, .err = ret < 0 ? err : 0,
		/* the call succeeded but the directory could not be read again: not whole */
		.truncated = ret >= 0 && dfd < 0,
	};
	struct list_fill lf = { .r = &r, .dfd = dfd };
	r.names = (struct tenc_fill){ .fill = list_fill, .ctx = &lf };
	tenc_rec_list(&e, now_ns(CLOCK_MONOTONIC), &r);
	emit(&e);
	if (mapped)
		munmap(buf, cap);
	if (dfd >= 0)
		raw_close(dfd);
}

void rec_ns(int fn, int dirfd, const char *path, int dirfd2, const char *path2,
	    int64_t arg, long ret, int err)
{
	char abs[SHIM_PATH_CAP], abs2[SHIM_PATH_CAP];
	shim_abspath(dirfd, path, abs);
	if (dirfd2 == INT_MIN) /* symlink target: as written */
		path_join(NULL, path2 ? path2 : "", abs2, sizeof(abs2));
	else
		shim_abspath(dirfd2, path2, abs2);
	if (dirfd2 == INT_MIN && path2) {
		size_t n = strlen(path2);
		if (n >= sizeof(abs2))
			n = sizeof(abs2) - 1;
		memcpy(abs2, path2, n);
		abs2[n] = '\0';
	}
	REC_EMIT(ns, .fn = (unsigned)fn, .path = abs, .path2 = abs2, .arg = arg,
		 .ret = ret < 0 ? -1 : ret, .err = ret < 0 ? err : 0);
}

void rec_chdir(int fn, const char *path, int fd, long ret, int err)
{
	char cwd[SHIM_PATH_CAP];
	if (ret == 0) {
		cwd_refresh();
		cwd_copy(cwd);
	} else if (path) {
		shim_abspath(AT_FDCWD, path, cwd); /* the directory that was not there */
	} else {
		shim_fdpath(fd, cwd);
	}
	REC_EMIT(chdir, .fn = (unsigned)fn, .path = cwd, .ret = ret, .err = ret < 0 ? err : 0);
}

void rec_fd(int fn, int fd, int fd2, long ret, int err)
{
	REC_EMIT(fd, .fn = (unsigned)fn, .fd = fd, .fd2 = fd2, .ret = ret, .err = ret < 0 ? err : 0);
}

void rec_wait(int fn, pid_t pid, int status)
{
	REC_EMIT(wait, .fn = (unsigned)fn, .pid = pid, .status = status);
}

void rec_exit(int how, int status)
{
	if (g.exit_recorded || raw_getpid() != g.pid)
		return;
	g.exit_recorded = true;
	REC_EMIT(exit, .how = (uint64_t)how, .status = status);
}

void shim_note_stdin(int fn)
{
	struct shim_call c;
	int expect = 0;

	if (atomic_load_explicit(&g.stdin_seen, memory_order_relaxed) || !shim_enter(&c))
		return;
	if (atomic_compare_exchange_strong(&g.stdin_seen, &expect, 1)) {
		REC_EMIT(stdin, .fn = (unsigned)fn, .ftype = stdio_type(0), .tty = isatty(0));
	}
	c.err = c.saved_errno;
	shim_leave(&c);
}

void rec_net(int fn, int domain, int type, long ret, int err)
{
	uint64_t bit = 1ull << (domain & 63);
	if (atomic_fetch_or(&g.net_seen, bit) & bit)
		return;
	REC_EMIT(net, .fn = (unsigned)fn, .domain = domain, .type = type, .ret = ret,
		 .err = ret < 0 ? err : 0);
}

/* ---- shared objects ----------------------------------------------------------- */

/* Under GG_VROOT: the loader's virtual path, its links resolved (rec_objs_init). */
static char vinterp[SHIM_VPATH_CAP];

/* Under GG_VROOT, names are virtual (shim_vname), and neither the main program nor
 * the loader, which the loader run as a command names like any object, is one. */
static bool obj_skip(const char *name)
{
	return !name || name[0] != '/' || !strcmp(name, g.lib_path) ||
	       (shim_vr && (!strcmp(name, shim_vp.exe) || !strcmp(name, vinterp)));
}

#define OBJS_MAX 1024

struct objs_snap {
	const char *interp;
	const char *names[OBJS_MAX];
	size_t n;
};

/* OBJS's objects (a tenc_fill): the names of a snapshot. */
static void objs_fill(struct tenc *e, void *ctx)
{
	const struct objs_snap *s = ctx;

	tenc_array(e, (uint32_t)s->n);
	for (size_t i = 0; i < s->n; i++)
		tenc_str(e, s->names[i]);
}

static void objs_emit(char *buf, struct objs_snap *s)
{
	struct tenc e = TENC_INIT(buf, TBUF_CAP);
	struct gg_rec_objs r = { .interp = s->interp, .objects = { .fill = objs_fill, .ctx = s } };

	tenc_rec_objs(&e, now_ns(CLOCK_MONOTONIC), &r);
	emit(&e);
}

/* Collect the objects not reported yet (marking them reported). */
static int objs_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	struct objs_snap *s = data;
	const char *name = shim_vname(info->dlpi_name);

	if (obj_skip(name) || !strcmp(name, s->interp) || s->n == OBJS_MAX)
		return 0;
	if (seen_first(GG_FN_dlopen, name, strlen(name), 0, 0))
		s->names[s->n++] = name;
	return 0;
}

static const char *main_interp(void)
{
	const ElfW(Phdr) *ph = (const ElfW(Phdr) *)getauxval(AT_PHDR);
	unsigned long n = getauxval(AT_PHNUM);
	uintptr_t bias = 0;

	if (!ph)
		return "";
	for (unsigned long i = 0; i < n; i++)
		if (ph[i].p_type == PT_PHDR)
			bias = (uintptr_t)ph - ph[i].p_vaddr;
	for (unsigned long i = 0; i < n; i++)
		if (ph[i].p_type == PT_INTERP)
			return (const char *)(bias + ph[i].p_vaddr);
	return "";
}

/*
 * OBJS: at start-up every mapped object but the main program, the interpreter and the
 * shim; after a dlopen only the objects not reported before (one snapshot pass over
 * dl_iterate_phdr, names stay valid while mapped).
 */
static void rec_objs(bool after_dlopen)
{
	struct objs_snap s = { .interp = after_dlopen ? "" : main_interp() };
	char *buf = tbuf();

	if (!buf)
		return;
	dl_iterate_phdr(objs_cb, &s);
	if (after_dlopen && !s.n)
		return;
	objs_emit(buf, &s);
}

static void rec_objs_init(void)
{
	const char *interp = main_interp();
	char host[SHIM_VPATH_CAP];
	if (shim_vr && interp[0] && vpath_map(&shim_vp, NULL, interp, 0, host, sizeof(host)) > 0)
		vpath_unmap(&shim_vp, host, vinterp, sizeof(vinterp));
	rec_objs(false);
	/* the loader is reported as interp: not as a new object after a dlopen */
	if (interp[0])
		seen_first(GG_FN_dlopen, interp, strlen(interp), 0, 0);
}

void rec_objs_handle(void *handle)
{
	struct objs_snap s = { .interp = "" };
	struct link_map *lm = NULL;
	char *buf = tbuf();

	if (!buf || dlinfo(handle, RTLD_DI_LINKMAP, &lm) != 0 || !lm)
		return;
	while (lm->l_prev)
		lm = lm->l_prev;
	for (; lm && s.n < OBJS_MAX; lm = lm->l_next) {
		const char *name = shim_vname(lm->l_name);
		if (!obj_skip(name) && seen_first(GG_FN_dlopen, name, strlen(name), 0, 0))
			s.names[s.n++] = name;
	}
	if (!s.n)
		return;
	objs_emit(buf, &s);
}

void rec_objs_new(void)
{
	rec_objs(true);
}

/* ---- exec records -------------------------------------------------------------- */

/*
 * In a child that shares our memory (vfork turned into fork is not one of them; a raw
 * clone(CLONE_VM) is), the image's state belongs to the parent: write a one-off log
 * for this pid (PROC with origin FORK, then the record) and touch nothing shared.
 */
bool shim_in_detached_child(void)
{
	return g.pid && raw_getpid() != g.pid;
}

/*
 * A record of a child that shares our memory: framed as its own image (a PROC with
 * origin FORK first, then the record) on the segment, touching nothing shared.
 */
static void emit_detached(struct tenc *e)
{
	pid_t pid = raw_getpid();
	uint64_t start = now_ns(CLOCK_REALTIME);
	ssize_t n = tenc_finish(e);
	int fd = atomic_load(&g.log_fd);
	bool own = fd < 0;

	if (n < 0)
		return;
	if (own && (fd = seg_open()) < 0)
		return;
	if (write_proc(fd, pid, GG_ORIGIN_FORK, start, g.log_id, empty_vec, empty_vec) == 0)
		rec_write(fd, e->buf, (size_t)n, pid, start);
	if (own)
		raw_close(fd);
}

static void emit_exec_like(struct tenc *e)
{
	if (atomic_load_explicit(&g.mode, memory_order_relaxed) == MODE_OFF)
		return;
	if (shim_in_detached_child()) {
		emit_detached(e);
		return;
	}
	emit(e);
}

void rec_exec(int fn, const char *path, char *const argv[], char *const envp[], bool opaque)
{
	char abs[SHIM_PATH_CAP];
	size_t cap = 1024 + SHIM_PATH_CAP + tenc_strv_size((char **)argv) +
		     (opaque ? tenc_strv_size((char **)envp) : 0);
	char *buf;

	cap = (cap + 4095) & ~(size_t)4095;
	if (cap > GG_TRACE_MAX_RECORD)
		cap = GG_TRACE_MAX_RECORD;
	buf = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		return;
	shim_abspath(AT_FDCWD, path, abs);
	struct tenc e = TENC_INIT(buf, cap);
	size_t budget = cap - 1024 - SHIM_PATH_CAP;
	struct gg_rec_exec r = {
		.fn = (unsigned)fn, .path = abs,
		.argv = { argv, opaque ? budget / 2 : budget },
		.env = { opaque ? envp : empty_vec, budget / 2 },
		.opaque = opaque,
	};
	tenc_rec_exec(&e, now_ns(CLOCK_MONOTONIC), &r);
	emit_exec_like(&e);
	munmap(buf, cap);
}

void rec_execfail(int fn, const char *path, int err)
{
	char abs[SHIM_PATH_CAP];
	shim_abspath(AT_FDCWD, path, abs);
	char *buf = tbuf();
	if (!buf)
		return;
	struct tenc e = TENC_INIT(buf, TBUF_CAP);
	struct gg_rec_execfail r = { .fn = (unsigned)fn, .path = abs, .err = err };
	tenc_rec_execfail(&e, now_ns(CLOCK_MONOTONIC), &r);
	emit_exec_like(&e);
}

struct spawn_fill {
	const struct glibc_file_actions *fa;
	int nact;
};

/* SPAWN's actions (a tenc_fill), translated from glibc's file actions. */
static void spawn_fill(struct tenc *e, void *ctx)
{
	const struct spawn_fill *sf = ctx;

	tenc_array(e, (uint32_t)sf->nact);
	for (int i = 0; i < sf->nact; i++) {
		const struct glibc_spawn_action *a = &sf->fa->actions[i];
		struct gg_spawn_action ga = { .op = 0, .fd = -1, .fd2 = -1 };
		const char *p = "";
		char abs[SHIM_PATH_CAP];
		switch (a->tag) {
		case SA_CLOSE: ga.op = GG_SPAWN_CLOSE; ga.fd = a->action.close_action.fd; break;
		case SA_DUP2:
			ga.op = GG_SPAWN_DUP2;
			ga.fd = a->action.dup2_action.fd;
			ga.fd2 = a->action.dup2_action.newfd;
			break;
		case SA_OPEN:
			ga.op = GG_SPAWN_OPEN;
			ga.fd = a->action.open_action.fd;
			p = a->action.open_action.path;
			ga.flags = a->action.open_action.oflag;
			ga.mode = a->action.open_action.mode;
			break;
		case SA_CHDIR: ga.op = GG_SPAWN_CHDIR; p = a->action.chdir_action.path; break;
		case SA_FCHDIR: ga.op = GG_SPAWN_FCHDIR; ga.fd = a->action.fchdir_action.fd; break;
		default: break;
		}
		/* relative paths in actions are relative to the child's cwd at that point,
		 * which earlier chdir actions may have changed: recorded as written */
		if (p && p[0] == '/')
			path_join(NULL, p, abs, sizeof(abs));
		else {
			size_t n = p ? strlen(p) : 0;
			if (n >= sizeof(abs))
				n = sizeof(abs) - 1;
			memcpy(abs, p ? p : "", n);
			abs[n] = '\0';
		}
		ga.path = abs;
		tenc_spawn_action(e, &ga);
	}
}

void rec_spawn(int fn, const char *path, char *const argv[], char *const envp[], long ret,
	       int err, const void *file_actions, bool opaque)
{
	const struct glibc_file_actions *fa = file_actions;
	int nact = fa && fa->used > 0 && fa->used <= fa->allocated ? fa->used : 0;
	size_t cap = 2048 + SHIM_PATH_CAP + tenc_strv_size((char **)argv) +
		     (opaque ? tenc_strv_size((char **)envp) : 0) + (size_t)nact * (PATH_MAX + 64);
	char *buf;

	cap = (cap + 4095) & ~(size_t)4095;
	if (cap > GG_TRACE_MAX_RECORD)
		cap = GG_TRACE_MAX_RECORD;
	buf = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		return;
	struct tenc e = TENC_INIT(buf, cap);
	size_t budget = (cap - 2048 - SHIM_PATH_CAP) / 2;
	struct spawn_fill sf = { .fa = fa, .nact = nact };
	struct gg_rec_spawn r = {
		.fn = (unsigned)fn, .path = path,
		.argv = { argv, budget },
		.env = { opaque ? envp : empty_vec, budget },
		.ret = ret, .err = ret < 0 ? err : 0,
		.actions = { .fill = spawn_fill, .ctx = &sf },
		.opaque = opaque,
	};
	tenc_rec_spawn(&e, now_ns(CLOCK_MONOTONIC), &r);
	emit(&e);
	munmap(buf, cap);
}

/* ---- descriptor write tracking --------------------------------------------------- */

void shim_fd_opened(int fd, int flags)
{
	if (fd < 0 || fd >= WFD_MAX)
		return;
	uint64_t bit = 1ull << (fd % 64);
	if ((flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_TRUNC)))
		atomic_fetch_or(&wfd[fd / 64], bit);
	else
		atomic_fetch_and(&wfd[fd / 64], ~bit);
}

bool shim_fd_closed(int fd)
{
	if (fd < 0 || fd >= WFD_MAX)
		return false;
	uint64_t bit = 1ull << (fd % 64);
	return atomic_fetch_and(&wfd[fd / 64], ~bit) & bit;
}

void shim_fd_closed_range(unsigned first, unsigned last)
{
	if (last >= WFD_MAX)
		last = WFD_MAX - 1;
	for (unsigned fd = first; fd <= last;) {
		unsigned lo = fd % 64, hi = (last / 64 == fd / 64) ? last % 64 : 63;
		uint64_t mask = (hi == 63 ? ~0ull : ((1ull << (hi + 1)) - 1)) & ~((1ull << lo) - 1);
		atomic_fetch_and(&wfd[fd / 64], ~mask);
		fd = (fd / 64 + 1) * 64;
	}
}

void shim_fd_dup(int oldfd, int newfd)
{
	if (oldfd < 0 || oldfd >= WFD_MAX || newfd < 0 || newfd >= WFD_MAX)
		return;
	uint64_t w = atomic_load(&wfd[oldfd / 64]) & (1ull << (oldfd % 64));
	shim_fd_opened(newfd, w ? O_WRONLY : O_RDONLY);
}

/* ---- environment across exec ------------------------------------------------------- */

static bool env_has(char *const envp[], const char *key, const char *want_sub)
{
	size_t kl = strlen(key);
	for (size_t i = 0; envp && envp[i]; i++) {
		if (strncmp(envp[i], key, kl) || envp[i][kl] != '=')
			continue;
		return !want_sub || strstr(envp[i] + kl + 1, want_sub);
	}
	return false;
}

size_t shim_env_fixup_need(char *const envp[])
{
	size_t n = 0, bytes = 0;
	for (; envp && envp[n]; n++)
		if (!strncmp(envp[n], "LD_PRELOAD=", 11))
			bytes += strlen(envp[n]);
	return n + 6 + (bytes + 3 * PATH_MAX + 64) / sizeof(char *) + 1;
}

char *const *shim_env_fixup(char *const envp[], char **out, size_t cap, char *strbuf,
			    size_t strcap)
{
	bool off = !shim_enabled();
	bool has_lib = env_has(envp, "LD_PRELOAD", g.lib_path);
	bool has_dir = env_has(envp, GG_ENV_TRACE_DIR, NULL);
	bool has_off = env_has(envp, GG_ENV_SHIM_OFF, NULL);
	bool has_root = !g.root_env[0] || env_has(envp, GG_ENV_SHIM_ROOT, NULL);
	bool has_cc = off, cc_switch = false; /* CCACHE_DISABLE=1 alone, when recording */
	size_t n = 0, k = 0;
	char *s = strbuf, *end = strbuf + strcap;

	for (size_t i = 0; !off && envp && envp[i]; i++) {
		has_cc |= env_is_passthrough(envp[i]);
		cc_switch |= env_is_ccache_switch(envp[i]) && !env_is_passthrough(envp[i]);
	}
	if (!g.lib_path[0] ||
	    ((has_lib || off) && has_dir && has_root && (!off || has_off) && has_cc && !cc_switch))
		return envp;
	for (; envp && envp[n]; n++) {
		if (k + 5 >= cap)
			return envp;
		if (!off && env_is_ccache_switch(envp[n]) && !env_is_passthrough(envp[n]))
			continue; /* CCACHE_NODISABLE, or CCACHE_DISABLE=<other>: replaced */
		if (!strncmp(envp[n], "LD_PRELOAD=", 11) && !has_lib && !off) {
			size_t need = 11 + strlen(g.lib_path) + 1 + strlen(envp[n] + 11) + 1;
			if ((size_t)(end - s) < need)
				return envp;
			out[k++] = s;
			s = cat(s, "LD_PRELOAD=");
			s = cat(s, g.lib_path);
			if (envp[n][11]) {
				s = cat(s, ":");
				s = cat(s, envp[n] + 11);
			}
			s++;
			has_lib = true;
			continue;
		}
		out[k++] = envp[n];
	}
	if (!has_lib && !off) {
		if ((size_t)(end - s) < strlen(g.lib_path) + 16)
			return envp;
		out[k++] = s;
		s = cat(s, "LD_PRELOAD=");
		s = cat(s, g.lib_path) + 1;
	}
	if (!has_dir) {
		if ((size_t)(end - s) < strlen(g.trace_dir) + 32)
			return envp;
		out[k++] = s;
		s = cat(s, GG_ENV_TRACE_DIR "=");
		s = cat(s, g.trace_dir) + 1;
	}
	if (off && !has_off) {
		if ((size_t)(end - s) < 16)
			return envp;
		out[k++] = s;
		s = cat(s, GG_ENV_SHIM_OFF "=1") + 1;
	}
	if (!has_root)
		out[k++] = g.root_env;
	if (!has_cc)
		out[k++] = ccache_env;
	out[k] = NULL;
	return out;
}

/* ---- start-up ------------------------------------------------------------------ */

static int mkdir_p(char *path)
{
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		syscall(SYS_mkdirat, AT_FDCWD, path, 0755);
		*p = '/';
	}
	if (syscall(SYS_mkdirat, AT_FDCWD, path, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/*
 * The trace directory: GG_TRACE_DIR, else $GG_DIR/trace, else the nearest .gg/ above
 * the cwd, else a new ./.gg/.  The root image exports it so that every descendant,
 * whatever its cwd, writes to the same place.
 */
static int find_trace_dir(char *out, bool *is_root)
{
	const char *v = shim_getenv(GG_ENV_TRACE_DIR);
	char cwd[PATH_MAX], probe[PATH_MAX + 16];
	struct stat st;

	*is_root = !(v && v[0]);
	cwd_copy(cwd); /* a host path: GG_VROOT is read after this */
	if (v && v[0]) {
		path_join(cwd[0] ? cwd : NULL, v, out, PATH_MAX);
		return 0;
	}
	v = shim_getenv(GG_ENV_DIR);
	if (v && v[0]) {
		path_join(cwd, v, out, PATH_MAX - 8);
		strcat(out, "/trace");
		return 0;
	}
	for (char *end = cwd + strlen(cwd);;) {
		memcpy(probe, cwd, (size_t)(end - cwd));
		strcpy(probe + (end - cwd), "/.gg");
		if (stat(probe, &st) == 0 && S_ISDIR(st.st_mode)) {
			path_join(NULL, probe, out, PATH_MAX - 8);
			strcat(out, "/trace");
			return 0;
		}
		if (end == cwd)
			break;
		while (end > cwd && *--end != '/')
			;
	}
	cwd_copy(cwd);
	path_join(cwd, ".gg/trace", out, PATH_MAX);
	return 0;
}

/*
 * Before fork: an image that has not logged yet (a fork child, LAZY) opens its log
 * now, so that its children name it as their parent and start after it
 * (trace_read.h links a FORK image to the log its parent_log names).  bash's
 * subshell in `if (for ...; done | sort | sort -uc); then` forks the pipeline
 * before it records anything: its children were left without a parent, and their
 * commands (libtool's sort) outside any thunk.
 */
static void atfork_prepare(void)
{
	if (atomic_load(&g.mode) == MODE_LAZY && !t_guard) {
		t_guard = 1;
		log_open();
		t_guard = 0;
	}
	shim_check_alive();
}

static void atfork_child(void)
{
	char parent[48];

	if (atomic_load(&g.mode) == MODE_OFF) {
		g.pid = raw_getpid(); /* a disabled image stays disabled, in its own name */
		return;
	}
	memcpy(parent, g.log_id, sizeof(parent));
	memcpy(g.parent_log, parent, sizeof(parent));
	g.log_id[0] = '\0';
	/* the segment's descriptor is kept: the child appends its own framed records */
	g.pid = raw_getpid();
	g.origin = GG_ORIGIN_FORK;
	g.exit_recorded = false;
	atomic_store(&g.opening, 0);
	atomic_store(&g.stdin_seen, 0);
	atomic_store(&g.net_seen, 0);
	/* cleared at the first record (log_open): most children exec first, and
	 * writing 64 KiB of the parent's pages would copy them all */
	g.seen_dirty = true;
	atomic_store(&g.mode, MODE_LAZY);
}

static int lib_path_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	uintptr_t me = (uintptr_t)data;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
		if (ph->p_type == PT_LOAD && me >= lo && me < lo + ph->p_memsz) {
			if (info->dlpi_name && info->dlpi_name[0])
				realpath(info->dlpi_name, g.lib_path);
			return 1;
		}
	}
	return 0;
}

__attribute__((constructor)) static void shim_init(int argc, char **argv, char **envp)
{
	const char *off = shim_getenv(GG_ENV_SHIM_OFF);
	bool is_root;
	ssize_t n;

	t_guard = 1;
	g.pid = raw_getpid();
	if (off && off[0] == '1') {
		/* not recording, but GG_VROOT still maps every path */
		if (shim_getenv(GG_ENV_VROOT)) {
			dl_iterate_phdr(lib_path_cb, (void *)(uintptr_t)&shim_init);
			shim_vroot_init();
			cwd_refresh();
		}
		goto out;
	}
	image_id_new(g.pid);
	{
		/* the top image's log id names the recording's segment */
		const char *root = shim_getenv(GG_ENV_SHIM_ROOT);
		char *p = cat(g.root_env, GG_ENV_SHIM_ROOT "="), *q = p;
		for (size_t i = 0; root && i < 40 && ((root[i] >= '0' && root[i] <= '9') ||
						      (root[i] >= 'a' && root[i] <= 'f') ||
						      root[i] == '-'); i++)
			*q++ = root[i];
		*q = '\0';
		if (q > p) {
			g.top = atol(root) == (long)g.pid;
		} else {
			g.top = true;
			cat(p, g.log_id);
			shim_setenv(g.root_env);
		}
	}
	g.argv = argv ? argv : empty_vec;
	g.envp = envp ? envp : empty_vec;
	if (shim_env_passthrough())
		g.envp = environ; /* what the program sees is what the thunk records */
	dl_iterate_phdr(lib_path_cb, (void *)(uintptr_t)&shim_init);
	n = readlink("/proc/self/exe", g.exe, sizeof(g.exe) - 1);
	g.exe[n > 0 ? n : 0] = '\0';
	cwd_refresh();
	find_trace_dir(g.trace_dir, &is_root);
	{
		char *p = cat(cat(g.seg_path, g.trace_dir), "/" GG_TRACE_SEG_PREFIX);
		cat(cat(p, g.root_env + sizeof(GG_ENV_SHIM_ROOT)), GG_TRACE_SUFFIX);
	}
	{
		struct rlimit rl;
		g.fsize_limited = getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY;
	}
	/* after the trace directory, which is a host path */
	shim_vroot_init();
	if (shim_vr) {
		cwd_refresh();
		if (shim_vp.exe[0]) /* the kernel's answer is R's loader */
			memcpy(g.exe, shim_vp.exe, sizeof(g.exe));
		else
			shim_vunmap(g.exe);
	}
	g.origin = is_root ? GG_ORIGIN_ROOT : GG_ORIGIN_EXEC;
	if (is_root) {
		mkdir_p(g.trace_dir);
		cat(cat(g.trace_env, GG_ENV_TRACE_DIR "="), g.trace_dir);
		shim_setenv(g.trace_env);
		g.envp = environ;
	}
	if (pthread_key_create(&g.buf_key, tbuf_free) == 0)
		g.have_key = true;
	pthread_atfork(atfork_prepare, NULL, atfork_child);
	atomic_store(&g.mode, MODE_LAZY);
	log_open();
out:
	t_guard = 0;
}

__attribute__((destructor)) static void shim_fini(void)
{
	if (atomic_load(&g.mode) != MODE_LOGGING || t_guard)
		return;
	t_guard = 1;
	if (g.top)
		shim_check_alive();
	rec_exit(GG_EXIT_DTOR, -1);
	t_guard = 0;
}
