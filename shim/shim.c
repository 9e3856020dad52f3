/*
 * shim.c - the core of libggshim.so: per-image state, the trace log, record emission.
 *
 * States of an image's recorder:
 *   OFF      GG_SHIM_OFF=1 at start, or recording failed: every wrapper passes through.
 *   LAZY     a fork child before its first event: no PROC record yet (origin FORK).
 *   LOGGING  PROC written: records are appended with one writev(2) each, or, in an
 *            image that batches them, gathered and appended a batch at a time.
 * Transitions: start-up -> LOGGING (or OFF); fork -> LAZY in the child; first event in
 * LAZY -> LOGGING; any write/open failure -> OFF with one warning.
 *
 * Batches (GG_SHIM_BATCH=1; off by default: on this project's 2-core VM they saved
 * some 2 ms of CPU per header-heavy compile but no time on curl's build, and Linux's
 * tinyconfig was recorded slower with them, 2 runs of 2).  An exec'd image (origin
 * EXEC or ROOT) whose stdout is not a pipe or a socket, and that runs
 * single-threaded, gathers its framed records in g.batch and
 * appends them with one write when the batch is full, before it execs or forks,
 * once it has a second thread, and with its EXIT record; its PROC, written at once,
 * says so (batched).  A compiler writes some 1,500 records: a handful of writes
 * instead of one system call each.  What such an image cannot write is the batch it
 * holds when it is killed: the reader takes an image that batched and ended without
 * its own EXIT record (and not by exec) as cut short (trace_read.h), and its
 * command runs locally (thunk.h's cut-short).  A fork child (a shell's subshell:
 * few records) and a pipe's writer (killed by SIGPIPE when its reader is done, as
 * in `grep x f | head -1`) write each record at once.
 *
 * The trace is one segment per recording (trace_format.h, version 3), shared by
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
#include <sys/single_threaded.h>
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

/* glibc's (posix/register-atfork.c, exported since 2.3.2): pthread_atfork(3) is
 * __register_atfork with the calling object's __dso_handle. */
extern int __register_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void),
			     void *dso_handle);
extern void *__dso_handle;

/*
 * The per-thread record buffer: a start-up PROC of at most TBUF_PROC_MAX bytes and
 * the OBJS after it share it (one writev for both), and every other record has at
 * least 64 KiB.  Pages never written cost nothing.
 */
#define TBUF_PROC_MAX (64u * 1024)
#define TBUF_CAP (TBUF_PROC_MAX + 64u * 1024)
#define SEEN_SLOTS 8192u      /* dedupe set of existence checks, per image (seen_claim) */
#define OBJS_SLOTS 64u        /* objects reported, per image (then seen_tab); in g's first page */
#define WFD_MAX 65536         /* descriptors tracked for writing */
#define LOG_FD_FLOOR 900
#define STRS_CAP (7 * PATH_MAX + 512) /* g.strs: six kept strings, then the cwd */
#define BATCH_CAP (32u * 1024)  /* g.batch: 8 pages, some 300 records of a compiler */
#define BATCH_REC_MAX (BATCH_CAP / 4) /* a bigger record is written at once */

enum shim_mode { MODE_OFF = 0, MODE_LAZY = 1, MODE_LOGGING = 2 };

/* The fork handlers (shim_atfork_ensure): not for an image that does not record. */
enum atfork_state { ATFORK_NONE = 0, ATFORK_WANTED, ATFORK_REGISTERING, ATFORK_DONE };

/*
 * The image's state.  Start-up cost on a virtual machine is mostly page faults
 * (some ten microseconds each): everything an image writes at start-up, at fork and
 * per record is packed at the start of this struct, the strings by their length in
 * strs[] (not one PATH_MAX array each), so that a short-lived image writes one page
 * of it.  It is the shim's only zero-initialised object in this file, so the first
 * in .bss, which starts in the page of the shim's few initialised variables (.data,
 * with real_* of the wrappers) and of its GOT (shim/shim.ld): a page the loader
 * writes anyway (relocations, and zeroing .bss's head).  What is written at
 * start-up (up to strs[] and the strings kept at its start) must stay in that page:
 * some 640 bytes are left for the strings.
 */
static struct {
	_Atomic int mode;
	pid_t pid;
	int origin;
	uint64_t start_ns; /* with pid: the image's identity in the segment */
	bool seen_dirty; /* fork child: seen_tab is the parent's until the first record */
	bool fsize_limited; /* RLIMIT_FSIZE set: SIGXFSZ blocked around writes */
	bool warned;
	bool failed; /* recording stopped after a trace failure (not GG_SHIM_OFF at start) */
	bool top;    /* the top recorded process (GG_SHIM_ROOT): the one that warns */
	bool exit_recorded;
	bool have_key;
	_Atomic bool batching; /* records go to g.batch (see "Batches" above) */
	bool batch_on;     /* GG_SHIM_BATCH=1 */
	bool batch_wiped; /* fork children get no copy of g.batch (scratch_wipe) */
	_Atomic unsigned cwd_seq;
	_Atomic int opening; /* a thread is opening the log (log_open) */
	_Atomic int stdin_seen;    /* STDIN recorded */
	_Atomic uint64_t net_seen; /* NET recorded, by domain */
	_Atomic unsigned clock_calls; /* now_ns */
	_Atomic int atfork; /* enum atfork_state */
	pthread_key_t buf_key;
	char **argv;
	char **envp;
	char *empty[1]; /* an empty string vector */
	char log_id[48];   /* "<pid>-<start_ns as 16 hex>" */
	char parent_log[48];
	char root_env[48]; /* "GG_SHIM_ROOT=<root log id>" for the children */
	/*
	 * The dedupe set of existence checks (seen_first): SEEN_SLOTS hashes, mapped
	 * at the first check, wiped in a fork child (scratch_wipe; seen_wiped: the
	 * kernel took the advice), whose set starts empty.
	 */
	_Atomic(_Atomic uint64_t *) seen_tab;
	bool seen_wiped;
	/* framed records not written yet, BATCH_CAP bytes mapped at the first */
	char *batch;
	_Atomic size_t batch_len;
	/* the objects OBJS reported (hashes, as seen_first); seen_tab past it */
	_Atomic uint64_t objs_seen[OBJS_SLOTS];
	/* set once at start-up (shim_init; "" from its start), in strs[] (str_keep) */
	const char *trace_dir;
	const char *seg_path;  /* trace_dir/seg-<root>.ggt */
	const char *lib_path;
	const char *exe;
	const char *trace_env; /* "GG_TRACE_DIR=..." set by the root */
	const char *vinterp;   /* GG_VROOT: the loader's virtual path, links resolved */
	char *cwd;             /* PATH_MAX bytes, the last in strs[]; under cwd_seq */
	size_t strs_len;
	char strs[STRS_CAP];
	_Atomic uint64_t wfd[WFD_MAX / 64]; /* descriptors open for writing */
} g;

/* -1 until start-up opens the segment. */
static _Atomic int log_fd = -1;

static __thread int t_guard;
/* Between the shim's prepare fork handler and its parent or child one: the handlers
 * the program registered before the shim's (at its first fork) run in the child
 * before atfork_child, and what they record is the child's (shim_enter). */
static __thread bool t_forking;
static __thread char *t_buf;
/* &errno, once per thread: a fork child's wrappers, which read it on entry, would
 * call libc's __errno_location, a page of code it has not run yet (a fault) */
static __thread int *t_errno;

static inline int *errno_ptr(void)
{
	int *p = t_errno;
	if (__builtin_expect(!p, 0))
		t_errno = p = &errno;
	return p;
}

/* ---- small async-signal-safe helpers ------------------------------------ */

/*
 * An image's first CLOCK_SYSCALLS clock readings come from the system call: the
 * vDSO's first call faults in its two data pages and libc's clock_gettime page
 * (three page faults, each worth some ten system calls on a virtual machine), and
 * most images write only a few records.  The later ones use the vDSO.
 */
#define CLOCK_SYSCALLS 16u

static SHIM_HOT uint64_t now_ns(clockid_t clk)
{
	struct timespec ts;

	if (atomic_load_explicit(&g.clock_calls, memory_order_relaxed) >= CLOCK_SYSCALLS ||
	    atomic_fetch_add_explicit(&g.clock_calls, 1, memory_order_relaxed) >= CLOCK_SYSCALLS ||
	    shim_sys(SYS_clock_gettime, clk, &ts, 0) != 0)
		clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static SHIM_HOT pid_t raw_getpid(void)
{
	return (pid_t)shim_sys(SYS_getpid, 0, 0, 0);
}

static SHIM_HOT int raw_close(int fd)
{
	return (int)shim_sys(SYS_close, fd, 0, 0);
}

/*
 * vfork children.  While this image records (without GG_VROOT), vfork is the real
 * one (wrap_exec.c's trampoline, shim_vfork_target): fork's copy of the page
 * tables, and the copy-on-write faults it leaves the parent, cost gcc's driver some
 * 2 ms for each program it starts on this project's VM.  The child runs on its
 * parent's memory and this thread's TLS until it execs or exits, so what it records
 * is an image of its own (a PROC with origin FORK at its first record, vchild_emit)
 * and nothing shared is changed: no dedupe set, no descriptor tracking, no cwd
 * cache, no batch, no log descriptor moved.  t_vforked is set before the vfork; the
 * first check after it (in_vchild) tells the child, another pid, from the parent
 * resumed, which clears it.  Under t_vforked each check costs a getpid: the
 * child's, and the parent's first.
 */
static __thread bool t_vforked;
static __thread pid_t t_vchild;     /* the vfork child's pid (0: none yet) */
static __thread uint64_t t_vstart;  /* its image start, 0 until its PROC is written */
static __thread int t_vfd;          /* its own descriptor of the segment, 0: none */
static __thread bool t_vcwd_moved;  /* it changed directory: the cwd cache is not its */

static int vchild_proc_with(const char *rec, size_t n);
static void vchild_emit(const char *rec, size_t n);

/* Under t_vforked: true in the vfork child; in the parent resumed, forget the child. */
static __attribute__((noinline, cold)) bool vchild_check(void)
{
	pid_t pid = raw_getpid();

	if (pid == g.pid) {
		t_vforked = false;
		t_vchild = 0;
		return false;
	}
	if (t_vchild != pid) {
		t_vchild = pid;
		t_vstart = 0;
		t_vfd = 0;
		t_vcwd_moved = false;
	}
	return true;
}

/* The caller is a vfork child (see above): one thread-local load when not. */
static inline bool in_vchild(void)
{
	return __builtin_expect(t_vforked, 0) && vchild_check();
}

SHIM_HOT bool shim_in_vchild(void)
{
	return in_vchild();
}

static SHIM_HOT size_t fmt_u64(char *out, uint64_t v, unsigned base, unsigned width)
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

static SHIM_HOT char *cat(char *p, const char *s)
{
	size_t n = strlen(s);
	memcpy(p, s, n + 1);
	return p + n;
}

/*
 * Around the shim's own writes once the program set RLIMIT_FSIZE (g.fsize_limited):
 * past the limit a write fails with EFBIG, and must not raise a SIGXFSZ that ends
 * the program.  The kernel sends it to the writing thread (send_sig in mm/filemap.c
 * generic_write_check_limits): blocked, it stays pending, and is taken back (unless
 * one of the program's was pending already) before the mask is restored.
 */
struct xfsz_guard {
	bool on, was_pending;
	sigset_t set, old;
};

static SHIM_HOT void xfsz_block(struct xfsz_guard *x)
{
	sigset_t pend;

	x->on = g.fsize_limited || t_vchild; /* a vfork child's limit may be its own */
	x->was_pending = false;
	if (!x->on)
		return;
	sigemptyset(&x->set);
	sigaddset(&x->set, SIGXFSZ);
	shim_sys4(SYS_rt_sigprocmask, SIG_BLOCK, (long)&x->set, (long)&x->old, sizeof(long));
	if (sigismember(&x->old, SIGXFSZ) &&
	    shim_sys(SYS_rt_sigpending, &pend, sizeof(long), 0) == 0)
		x->was_pending = sigismember(&pend, SIGXFSZ);
}

/* efbig: the write failed with EFBIG (the kernel sent SIGXFSZ). */
static SHIM_HOT void xfsz_unblock(struct xfsz_guard *x, bool efbig)
{
	struct timespec zero = { 0, 0 };

	if (!x->on)
		return;
	if (efbig && !x->was_pending)
		shim_sys4(SYS_rt_sigtimedwait, (long)&x->set, 0, (long)&zero, sizeof(long));
	shim_sys4(SYS_rt_sigprocmask, SIG_SETMASK, (long)&x->old, 0, sizeof(long));
}

static void write_all_stderr(const char *s)
{
	size_t n = strlen(s);
	struct xfsz_guard xg;
	long w = 0;

	xfsz_block(&xg); /* stderr may be a file past the program's RLIMIT_FSIZE */
	while (n) {
		w = shim_sys(SYS_write, 2, s, n);
		if (w == -EINTR)
			continue;
		if (w <= 0)
			break;
		s += w;
		n -= (size_t)w;
	}
	xfsz_unblock(&xg, w == -EFBIG);
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
SHIM_HOT const char *shim_getenv(const char *name)
{
	size_t n = strlen(name);
	for (char **e = environ; e && *e; e++)
		if (!strncmp(*e, name, n) && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

/* Put `entry` ("NAME=value", static storage) in environ, replacing NAME. */
static SHIM_HOT void shim_setenv(char *entry)
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

static bool has_prefix(const char *s, const char *prefix);

/*
 * The names a fork child looks for in every environment it execs (env_scan), kept
 * in RELRO by the GOT rather than in .rodata: fork copies no page tables of file
 * mappings, so the child would fault .rodata's page in, where the GOT's page is the
 * parent's relocated (anonymous) copy, mapped in the child too.
 */
#define ENV_KEY(name, str) static const char name[] __attribute__((section(".data.rel.ro"))) = str
ENV_KEY(key_preload, "LD_PRELOAD=");
ENV_KEY(key_trace_dir, GG_ENV_TRACE_DIR "=");
ENV_KEY(key_shim_off, GG_ENV_SHIM_OFF "=");
ENV_KEY(key_shim_root, GG_ENV_SHIM_ROOT "=");
ENV_KEY(key_ccache_disable, "CCACHE_DISABLE=");
ENV_KEY(key_ccache_nodisable, CCACHE_NODISABLE);

static SHIM_HOT bool env_is_passthrough(const char *entry)
{
	return has_prefix(entry, ccache_env) && !entry[sizeof(ccache_env) - 1];
}

static SHIM_HOT bool env_is_ccache_switch(const char *entry)
{
	return has_prefix(entry, key_ccache_disable) || has_prefix(entry, key_ccache_nodisable);
}

/* Put CCACHE_DISABLE=1 in environ, drop CCACHE_NODISABLE (in place, as unsetenv(3)
 * does).  true if environ changed. */
static SHIM_HOT bool shim_env_passthrough(void)
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

SHIM_HOT bool shim_enabled(void)
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
	atomic_store(&g.batching, false);
	atomic_store(&g.batch_len, 0);
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
static void batch_flush(void);

static void fork_fixup(void);

SHIM_HOT bool shim_enter(struct shim_call *c)
{
	c->saved_errno = *errno_ptr();
	if (__builtin_expect(t_forking, 0))
		fork_fixup();
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

SHIM_HOT bool shim_enter_v(struct shim_call *c)
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
SHIM_HOT void shim_check_alive(void)
{
	struct stat st;
	int fd = atomic_load_explicit(&log_fd, memory_order_relaxed);
	if (atomic_load_explicit(&g.mode, memory_order_relaxed) != MODE_LOGGING || fd < 0 ||
	    shim_in_detached_child())
		return;
	if (fstat(fd, &st) == 0 && st.st_nlink == 0)
		shim_disable(g.trace_dir, ENOENT);
}

SHIM_HOT bool shim_enter_proc(struct shim_call *c)
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

SHIM_HOT bool shim_log_pending(void)
{
	if (in_vchild()) /* a vfork child writes its PROC at its first record */
		return !t_vstart;
	return atomic_load_explicit(&g.mode, memory_order_relaxed) == MODE_LAZY;
}

/*
 * Around the real exec: a child that shares our memory (clone(CLONE_VM|CLONE_VFORK))
 * shares the guard too, and a successful exec never comes back to clear it.
 */
SHIM_HOT void shim_exec_begin(void)
{
	if (atomic_load_explicit(&g.batching, memory_order_relaxed) && !shim_in_detached_child())
		batch_flush();
	t_guard = 0;
}

SHIM_HOT void shim_exec_end(void)
{
	t_guard = 1;
}

SHIM_HOT void shim_leave(struct shim_call *c)
{
	t_guard = 0;
	errno = c->err;
}

/* ---- paths --------------------------------------------------------------- */

static void cwd_refresh(void)
{
	char tmp[PATH_MAX];
	long n = shim_sys(SYS_getcwd, tmp, sizeof(tmp), 0);
	if (n <= 0 || tmp[0] != '/')
		tmp[0] = '\0';
	if (shim_vr && tmp[0]) {
		vpath_set_cwd(&shim_vp, tmp); /* for the exec plans */
		shim_vunmap(tmp);	       /* recorded: the virtual cwd, R/x -> /x */
	}
	if (!g.cwd) /* before start-up */
		return;
	atomic_fetch_add(&g.cwd_seq, 1);
	memcpy(g.cwd, tmp, strlen(tmp) + 1);
	atomic_fetch_add(&g.cwd_seq, 1);
}

/* The recorded cwd into out[PATH_MAX]: up to its end only (the bytes after it in
 * g.strs would be pages more to touch). */
static SHIM_HOT void cwd_copy(char *out)
{
	unsigned s1, s2;
	if (in_vchild() && t_vcwd_moved) {
		out[0] = '\0';
		goto live;
	}
	do {
		size_t i = 0;
		s1 = atomic_load(&g.cwd_seq);
		if (g.cwd)
			for (; i < PATH_MAX - 1 && g.cwd[i]; i++)
				out[i] = g.cwd[i];
		out[i] = '\0';
		s2 = atomic_load(&g.cwd_seq);
	} while (s1 != s2 || (s1 & 1));
live:
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
	if (in_vchild()) {
		/* its PROC names the cwd it started in, still the cache's */
		(void)vchild_proc_with(NULL, 0);
		t_vcwd_moved = true;
		return;
	}
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

/* The base goes straight into out and the path is joined to it there: a buffer of
 * PATH_MAX on the stack here would put every record's callees a page deeper (a
 * page fault more in each image, a copy-on-write one in a fork child). */
SHIM_HOT void shim_abspath(int dirfd, const char *path, char *out)
{
	if (!path) {
		out[0] = '\0';
		return;
	}
	if (path[0] == '/') {
		path_join(NULL, path, out, SHIM_PATH_CAP);
		return;
	}
	if (dirfd == AT_FDCWD)
		cwd_copy(out);
	else
		shim_fdpath(dirfd, out);
	path_join_in(out, SHIM_PATH_CAP, path);
}

/* ---- the log -------------------------------------------------------------- */

/* An anonymous mapping for scratch state (scratch_wipe tells the kernel before a
 * fork that a fork child starts without it). */
static SHIM_HOT void *scratch_map(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static __thread bool t_buf_wiped;

/*
 * Before a fork: the scratch state a fork child never needs from its parent (this
 * thread's record buffer, the dedupe set) is wiped in the child (MADV_WIPEONFORK,
 * Linux 4.14), so that neither side takes a copy-on-write fault on it after the
 * fork (bash writes its WAIT record after every command it forks).  Advised at the
 * first fork rather than when mapped: most images never fork.  g.seen_wiped: the
 * kernel took the advice for g.seen_tab (the child's set starts empty).
 */
static SHIM_HOT void scratch_wipe(void)
{
	_Atomic uint64_t *tab = atomic_load(&g.seen_tab);

	if (t_buf && !t_buf_wiped)
		t_buf_wiped = shim_sys(SYS_madvise, t_buf, TBUF_CAP, MADV_WIPEONFORK) == 0;
	if (tab && !g.seen_wiped)
		g.seen_wiped = shim_sys(SYS_madvise, tab, SEEN_SLOTS * sizeof(*tab),
				      MADV_WIPEONFORK) == 0;
	if (g.batch && !g.batch_wiped)
		g.batch_wiped = shim_sys(SYS_madvise, g.batch, BATCH_CAP, MADV_WIPEONFORK) == 0;
}

static SHIM_HOT char *tbuf(void)
{
	void *p;
	if (t_buf)
		return t_buf;
	p = scratch_map(TBUF_CAP);
	if (!p)
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
 * Append iov[0..niov), want bytes of whole framed records, to the segment at fd: one
 * writev, whole or not at all.  A short write is not completed (its rest would land
 * after other processes' records: the reader skips the torn part, trace_format.h)
 * and counts as a full disk.  0 or -errno.
 */
static SHIM_HOT int seg_append(int fd, const struct iovec *iov, int niov, size_t want)
{
	struct xfsz_guard xg;
	ssize_t w;

	xfsz_block(&xg);
	do
		w = shim_sys(SYS_writev, fd, iov, niov);
	while (w == -EINTR);
	xfsz_unblock(&xg, w == -EFBIG);
	if (w < 0)
		return (int)w;
	return (size_t)w == want ? 0 : -ENOSPC;
}

/*
 * Append the records rec[0..n) and, if rec2, rec2[0..n2) (each finished by
 * tenc_finish()) to the segment at fd, framed for the image (pid, start), with
 * seg_append.  0 or -errno.
 */
static SHIM_HOT int rec_write2(int fd, const char *rec, size_t n, const char *rec2, size_t n2,
			       pid_t pid, uint64_t start)
{
	char hdr[2][GG_TRACE_SEG_RECHDR_LEN];
	struct iovec iov[4];
	size_t want = 0;
	int niov = 0;

	for (int i = 0; i < 2; i++) {
		const char *r = i ? rec2 : rec;
		size_t len = (i ? n2 : n) - GG_TRACE_RECHDR_LEN;
		if (!r)
			break;
		tenc_seg_frame(hdr[i], r, (uint32_t)pid, start);
		iov[niov++] = (struct iovec){ .iov_base = hdr[i], .iov_len = sizeof(hdr[i]) };
		iov[niov++] = (struct iovec){ .iov_base = (char *)r + GG_TRACE_RECHDR_LEN,
					      .iov_len = len };
		want += sizeof(hdr[i]) + len;
	}
	return seg_append(fd, iov, niov, want);
}

/* RLIMIT_FSIZE read again: at start-up, and after the program set a limit (the
 * segment is shared, so its offset soon passes a small limit: a write past it must
 * fail with EFBIG, not raise a SIGXFSZ that ends the program).  Keeps errno. */
SHIM_HOT void shim_fsize_changed(void)
{
	struct rlimit rl;

	if (in_vchild()) /* its writes are guarded anyway (xfsz_block) */
		return;
	g.fsize_limited = shim_sys4(SYS_prlimit64, 0, RLIMIT_FSIZE, 0, (long)&rl) == 0 &&
			  rl.rlim_cur != RLIM_INFINITY;
}

static SHIM_HOT int rec_write(int fd, const char *rec, size_t n, pid_t pid, uint64_t start)
{
	return rec_write2(fd, rec, n, NULL, GG_TRACE_RECHDR_LEN, pid, start);
}

static int seg_open(void);
static int log_open_with(const char *rec, size_t n, bool *rec_done);

/* The segment's descriptor fd was closed behind the wrappers' back (a raw close
 * system call): a new one in its place.  The descriptor, or -errno. */
static int log_reopen(int fd)
{
	int nfd = seg_open(), cur = fd;

	if (nfd >= 0 && !atomic_compare_exchange_strong(&log_fd, &cur, nfd)) {
		raw_close(nfd);
		nfd = cur;
	}
	return nfd;
}

/*
 * Write what g.batch holds.  Once the image has a second thread, any thread may
 * flush: each holding is taken by one (nothing is added to it any more).  Under the
 * guard: a signal handler's record must not land in the batch while it is written.
 */
static SHIM_HOT void batch_flush(void)
{
	int fd, r, guard = t_guard;
	struct iovec iov;
	size_t n;

	if (!atomic_load_explicit(&g.batch_len, memory_order_relaxed))
		return;
	t_guard = 1;
	n = atomic_exchange(&g.batch_len, 0);
	fd = atomic_load(&log_fd);
	if (!n || fd < 0)
		goto out;
	iov = (struct iovec){ .iov_base = g.batch, .iov_len = n };
	r = seg_append(fd, &iov, 1, n);
	if (r == -EBADF)
		r = (fd = log_reopen(fd)) < 0 ? fd : seg_append(fd, &iov, 1, n);
	if (r < 0)
		shim_disable(g.seg_path, -r);
out:
	t_guard = guard;
}

/* No more batches in this image: what g.batch holds is written, and every record
 * after it at once. */
static SHIM_HOT void batch_end(void)
{
	atomic_store(&g.batching, false);
	batch_flush();
}

/*
 * Take rec[0..n), a record finished by tenc_finish(), into g.batch, framed: true when
 * taken (or dropped, recording having failed), false when the caller writes it now
 * (after what the batch held): the image has a second thread, or the record is big.
 */
static SHIM_HOT bool batch_add(const char *rec, size_t n)
{
	size_t len = n - GG_TRACE_RECHDR_LEN, need = GG_TRACE_SEG_RECHDR_LEN + len, at;

	if (!__libc_single_threaded) {
		batch_end();
		return false;
	}
	if (need > BATCH_REC_MAX) {
		batch_flush();
		return false;
	}
	if (!g.batch && !(g.batch = scratch_map(BATCH_CAP))) {
		atomic_store(&g.batching, false);
		return false;
	}
	at = atomic_load_explicit(&g.batch_len, memory_order_relaxed);
	if (at + need > BATCH_CAP) {
		batch_flush();
		if (atomic_load_explicit(&g.mode, memory_order_relaxed) == MODE_OFF)
			return true;
		at = 0;
	}
	tenc_seg_frame(g.batch + at, rec, (uint32_t)g.pid, g.start_ns);
	memcpy(g.batch + at + GG_TRACE_SEG_RECHDR_LEN, rec + GG_TRACE_RECHDR_LEN, len);
	atomic_store_explicit(&g.batch_len, at + need, memory_order_relaxed);
	return true;
}

/* Emit rec[0..n), a record finished by tenc_finish() (n < 0: its error, nothing to
 * write), to the segment (or the batch), writing the PROC first in a fork child. */
static SHIM_HOT void emit_rec(const char *rec, ssize_t n)
{
	int fd, r;

	if (n < 0 || atomic_load_explicit(&g.mode, memory_order_relaxed) == MODE_OFF)
		return;
	if (in_vchild()) {
		vchild_emit(rec, (size_t)n);
		return;
	}
	if (atomic_load_explicit(&g.mode, memory_order_relaxed) == MODE_LAZY) {
		bool done = false; /* a fork child's first record goes with its PROC */
		if (log_open_with(rec, (size_t)n, &done) < 0 || done)
			return;
	}
	if (atomic_load_explicit(&g.batching, memory_order_relaxed) && batch_add(rec, (size_t)n))
		return;
	fd = atomic_load_explicit(&log_fd, memory_order_relaxed);
	if (fd < 0)
		return;
	r = rec_write(fd, rec, (size_t)n, g.pid, g.start_ns);
	if (r == -EBADF)
		r = (fd = log_reopen(fd)) < 0 ? fd : rec_write(fd, rec, (size_t)n, g.pid, g.start_ns);
	if (r < 0)
		shim_disable(g.seg_path, -r);
}

/* Finish the record in e and emit it. */
static SHIM_HOT void emit(struct tenc *e)
{
	emit_rec(e->buf, tenc_finish(e));
}

static SHIM_HOT int stdio_type(int fd)
{
	struct stat st;
	/* the system call: glibc's fstat is fstatat(fd, "", AT_EMPTY_PATH), whose ""
	 * the kernel reads from a page of libc's that is not mapped yet at start-up */
	if (shim_sys(SYS_fstat, fd, &st, 0) < 0)
		return -1;
	return (int)((st.st_mode & S_IFMT) >> 12);
}

/* The path the image was exec'd as: under GG_VROOT the kernel's is R's loader or the
 * resolved executable, the parent passes the path it gave in GG_VEXECFN. */
static SHIM_HOT const char *proc_execfn(void)
{
	const char *v = shim_vr ? shim_getenv(GG_ENV_VEXECFN) : NULL;
	return v && v[0] ? v : shim_vname((const char *)getauxval(AT_EXECFN));
}

/* Bytes a PROC with these vectors is encoded into (proc_encode's cap). */
static SHIM_HOT size_t proc_cap(char **argv, char **envp)
{
	size_t cap = 4096 + 2 * PATH_MAX + tenc_strv_size(argv) + tenc_strv_size(envp);

	cap = (cap + 4095) & ~(size_t)4095;
	return cap > GG_TRACE_MAX_RECORD ? GG_TRACE_MAX_RECORD : cap;
}

/* File types (stdio_type) of a pipe and a socket. */
#define STDIO_FIFO ((int)(S_IFIFO >> 12))
#define STDIO_SOCK ((int)(S_IFSOCK >> 12))

/* PROC: the first record of a log (see trace_format.h for the fields), encoded
 * into buf[cap], cap = proc_cap(argv, envp), cwd the recorded cwd.  batch: NULL,
 * or in, may the image batch its records, and out, does it (not when its stdout is
 * a pipe or a socket: see "Batches").  Its length, or -errno. */
static SHIM_HOT ssize_t proc_encode(char *buf, size_t cap, pid_t pid, int origin, uint64_t start_ns,
			   const char *log_parent, char **argv, char **envp, const char *cwd,
			   bool *batch)
{
	int sio[3] = { stdio_type(0), stdio_type(1), stdio_type(2) };
	mode_t um;

	um = (mode_t)shim_sys(SYS_umask, 022, 0, 0);
	shim_sys(SYS_umask, um, 0, 0);

	struct tenc e = TENC_INIT(buf, cap);
	size_t budget = cap - 4096 - 2 * PATH_MAX, argv_need = tenc_strv_size(argv);
	/* argv first, whole when it fits; the environment gets the rest */
	size_t argv_budget = argv_need < budget / 2 ? argv_need + 16 : budget / 2;
	if (argv_need + tenc_strv_size(envp) + 64 <= budget)
		argv_budget = argv_need + 16;
	struct gg_rec_proc rec = {
		.pid = pid, .ppid = shim_sys(SYS_getppid, 0, 0, 0), .origin = (uint64_t)origin,
		.start_ns = start_ns,
		.exe = g.exe, .execfn = proc_execfn(),
		.argv = { argv, argv_budget }, .env = { envp, budget - argv_budget },
		.cwd = cwd, .umask = um, .uid = (uint64_t)shim_sys(SYS_getuid, 0, 0, 0),
		.gid = (uint64_t)shim_sys(SYS_getgid, 0, 0, 0), .parent_log = log_parent,
		.stdio = { sio[0], sio[1], sio[2] },
		.batched = batch && *batch && sio[1] != STDIO_FIFO && sio[1] != STDIO_SOCK,
	};
	if (batch)
		*batch = rec.batched;
	tenc_rec_proc(&e, now_ns(CLOCK_MONOTONIC), &rec);
	return tenc_finish(&e);
}

/* PROC alone, from a buffer of its own (a fork child's first record may be waiting
 * in the per-thread buffer).  0 or -errno. */
static int write_proc(int fd, pid_t pid, int origin, uint64_t start_ns, const char *log_parent,
		      char **argv, char **envp)
{
	size_t cap = proc_cap(argv, envp);
	char *buf, cwd[PATH_MAX];
	ssize_t n;
	int r;

	buf = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		return -ENOMEM;
	cwd_copy(cwd);
	n = proc_encode(buf, cap, pid, origin, start_ns, log_parent, argv, envp, cwd, NULL);
	r = n < 0 ? (int)n : rec_write(fd, buf, (size_t)n, pid, start_ns);
	munmap(buf, cap);
	return r;
}

/*
 * A fork child's PROC and its first record rec[0..n), where REC_EMIT left it at the
 * start of the per-thread buffer: the PROC encoded after it in the same buffer and
 * both written with one writev, in that order (a fork child's first record, most
 * often bash's dup2 of a pipe end: one system call where write_proc's own mapping
 * took four).  1 when written, 0 when rec is elsewhere or the PROC has no room
 * (the caller writes them apart), or -errno.
 */
static SHIM_HOT int write_proc_with(int fd, const char *rec, size_t n, pid_t pid, int origin,
				    uint64_t start, const char *parent)
{
	size_t off = (n + 15) & ~(size_t)15;
	char *cwd = t_buf + off; /* the cwd too: a PATH_MAX buffer on the stack would be a
				  * page more to fault in, in a fork child a copied one */
	ssize_t pn;
	int r;

	if (!rec || rec != t_buf || off + PATH_MAX + proc_cap(g.empty, g.empty) > TBUF_CAP)
		return 0;
	cwd_copy(cwd);
	off += (strlen(cwd) + 16) & ~(size_t)15;
	pn = proc_encode(t_buf + off, TBUF_CAP - off, pid, origin, start, parent, g.empty, g.empty,
			 cwd, NULL);
	if (pn < 0)
		return (int)pn;
	r = rec_write2(fd, t_buf + off, (size_t)pn, rec, n, pid, start);
	return r < 0 ? r : 1;
}

static SHIM_HOT int write_fork_proc_with(int fd, const char *rec, size_t n)
{
	return write_proc_with(fd, rec, n, g.pid, g.origin, g.start_ns, g.parent_log);
}

static ssize_t objs_encode_init(char *buf, size_t cap);

/*
 * The start of an exec'd image: its PROC and its OBJS encoded one after the other
 * in the per-thread buffer (free at start-up) and written with one writev; the
 * image batches its records from then on if its PROC says so.  A PROC too big for
 * the buffer is written alone (and the image does not batch); *objs_done is then
 * false and the caller writes the OBJS once the image logs.  0 or -errno.
 */
static SHIM_HOT int write_start(int fd, bool *objs_done)
{
	size_t cap = proc_cap(g.argv, g.envp), off;
	char *buf = cap <= TBUF_PROC_MAX ? tbuf() : NULL, *cwd;
	ssize_t n, n2;
	bool batch;

	*objs_done = false;
	if (!buf)
		return write_proc(fd, g.pid, g.origin, g.start_ns, "", g.argv, g.envp);
	/* g.cwd as it is (start-up is single-threaded), unless it has no name: then
	 * cwd_copy's answer, at the end of the buffer (read before OBJS gets there) */
	cwd = g.cwd;
	if (!cwd[0]) {
		cwd = buf + TBUF_CAP - PATH_MAX;
		cwd_copy(cwd);
	}
	batch = g.batch_on;
	n = proc_encode(buf, cap, g.pid, g.origin, g.start_ns, "", g.argv, g.envp, cwd, &batch);
	if (n < 0)
		return (int)n;
	atomic_store(&g.batching, batch);
	*objs_done = true;
	off = ((size_t)n + 15) & ~(size_t)15;
	n2 = objs_encode_init(buf + off, TBUF_CAP - off); /* too big: lost, as from emit() */
	return rec_write2(fd, buf, (size_t)n, n2 > 0 ? buf + off : NULL,
			  n2 > 0 ? (size_t)n2 : GG_TRACE_RECHDR_LEN, g.pid, g.start_ns);
}

/* Move a new descriptor of the segment high, out of the program's way. */
static SHIM_HOT int fd_move_high(int fd)
{
	struct rlimit rl;
	int hi = LOG_FD_FLOOR, nfd;

	if (shim_sys4(SYS_prlimit64, 0, RLIMIT_NOFILE, 0, (long)&rl) == 0 &&
	    rl.rlim_cur < 2 * LOG_FD_FLOOR)
		hi = (int)(rl.rlim_cur / 2);
	if (hi <= fd)
		return fd;
	nfd = (int)shim_sys(SYS_fcntl, fd, F_DUPFD_CLOEXEC, hi);
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
	r = (int)shim_sys(SYS_fcntl, fd, F_SETFL, O_WRONLY | O_APPEND);
	if (r < 0)
		goto out_close;
	return fd;
out_close:
	raw_close(fd);
	return r;
}

/*
 * A new O_APPEND descriptor of the recording's segment, high and close-on-exec:
 * opened by path (no file is created per image), created if it is not there yet.
 */
static SHIM_HOT int seg_open(void)
{
	int fd = -EEXIST;

	for (int tries = 0; tries < 3 && fd == -EEXIST; tries++) {
		fd = (int)shim_sys(SYS_openat, AT_FDCWD, g.seg_path, O_WRONLY | O_APPEND | O_CLOEXEC);
		if (fd == -ENOENT)
			fd = seg_create();
	}
	return fd < 0 ? fd : fd_move_high(fd);
}

/* A new image identity (pid, start): log_id = "<pid>-<start as 16 hex>". */
static SHIM_HOT void image_id_new(pid_t pid)
{
	char *p;

	g.start_ns = now_ns(CLOCK_REALTIME);
	p = g.log_id + fmt_u64(g.log_id, (uint64_t)pid, 10, 0);
	*p++ = '-';
	fmt_u64(p, g.start_ns, 16, 16);
}

static void rec_objs_init(void);
static void seen_reset(void);

/* Write this image's PROC (and OBJS) records, opening the segment if this image
 * has no descriptor of it (an exec'd image; a fork child inherits one).  rec[0..n),
 * if not NULL, is the record that asked: a fork child writes it with its PROC, and
 * then sets *rec_done. */
static SHIM_HOT int log_open_with(const char *rec, size_t n, bool *rec_done)
{
	int fd, r;
	bool forked = g.origin == GG_ORIGIN_FORK, objs_done = true;
	int zero = 0;

	/* several threads of a fork child may race to the first record: one writes */
	if (!atomic_compare_exchange_strong(&g.opening, &zero, 1)) {
		while (atomic_load(&g.mode) == MODE_LAZY)
			sched_yield();
		return atomic_load(&log_fd) >= 0 ? 0 : -EIO;
	}
	fd = atomic_load(&log_fd);
	if (fd < 0) {
		fd = seg_open();
		if (fd < 0) {
			shim_disable(g.seg_path, -fd);
			goto out;
		}
		atomic_store(&log_fd, fd);
	}
	if (forked) {
		image_id_new(g.pid);
		if (g.seen_dirty)
			seen_reset();
		g.seen_dirty = false;
		r = write_fork_proc_with(fd, rec, n);
		if (r > 0)
			*rec_done = true;
		else if (r == 0)
			r = write_proc(fd, g.pid, g.origin, g.start_ns, g.parent_log, g.empty,
				       g.empty);
	} else {
		r = write_start(fd, &objs_done);
	}
	if (r < 0) {
		atomic_store(&log_fd, -1);
		raw_close(fd);
		shim_disable(g.seg_path, -r);
		fd = r;
		goto out;
	}
	atomic_store(&g.mode, MODE_LOGGING);
	if (!objs_done)
		rec_objs_init();
	fd = 0;
out:
	atomic_store(&g.opening, 0);
	return fd < 0 ? fd : 0;
}

static SHIM_HOT int log_open(void)
{
	bool done;
	return log_open_with(NULL, 0, &done);
}

SHIM_HOT int shim_log_fd(void)
{
	return atomic_load(&log_fd);
}

int shim_log_move_away(int fd)
{
	int cur = atomic_load(&log_fd);
	int nfd;
	if (cur < 0 || fd != cur)
		return 0;
	if (in_vchild()) { /* the number is its parent's too: the child gets its own */
		if (!t_vfd && (nfd = seg_open()) >= 0)
			t_vfd = nfd;
		return t_vfd ? 0 : -EMFILE;
	}
	nfd = (int)shim_sys(SYS_fcntl, cur, F_DUPFD_CLOEXEC, cur + 1);
	if (nfd < 0)
		nfd = (int)shim_sys(SYS_fcntl, cur, F_DUPFD_CLOEXEC, 3);
	if (nfd < 0 || nfd == fd)
		return -EMFILE;
	atomic_store(&log_fd, nfd);
	raw_close(cur);
	return 0;
}

/* ---- dedupe of existence checks -------------------------------------------- */

static SHIM_HOT uint64_t seen_hash(int fn, const char *path, size_t len, long flags, long ret)
{
	uint64_t h = XXH3_64bits_withSeed(path, len, ((uint64_t)fn << 48) ^
							 ((uint64_t)flags << 16) ^ (uint64_t)ret);
	return h ? h : 1;
}

/* Put h in the open-addressed set tab[slots]: 1 if it was not there, 0 if it was,
 * -1 if its neighbourhood is full (entries are never removed, so it stays full). */
static SHIM_HOT int set_claim(_Atomic uint64_t *tab, unsigned slots, uint64_t h)
{
	for (unsigned i = 0; i < 32; i++) {
		unsigned slot = (unsigned)(h + i) % slots;
		uint64_t cur = atomic_load_explicit(&tab[slot], memory_order_relaxed);
		if (cur == h)
			return 0;
		if (cur == 0) {
			uint64_t zero = 0;
			if (atomic_compare_exchange_strong(&tab[slot], &zero, h))
				return 1;
			if (zero == h)
				return 0;
		}
	}
	return -1;
}

/*
 * g.seen_tab is five regions of 512, 512, 1024, 2048 and 4096 slots, filled in that
 * order: a hash goes to the first region with room in its neighbourhood (set_claim;
 * entries are never removed, so a region found full for it stays so and a later
 * lookup walks the same way).  Each region takes the hash's bits in a different
 * rotation, so that keys crowded together in one region are scattered in the next.
 * An image touches only the pages of the regions it fills: most checks of a
 * compiler fit the first two pages, where one table hashed across all 16 pages
 * took a zero-fill page fault on nearly every one (a few microseconds each).
 */
static SHIM_HOT int seen_regions_claim(_Atomic uint64_t *tab, uint64_t h)
{
	unsigned base = 0, size = 512;

	for (unsigned r = 0; base < SEEN_SLOTS; r++) {
		uint64_t hr = r ? (h << (13 * r)) | (h >> (64 - 13 * r)) : h;
		int claimed = set_claim(tab + base, size, hr); /* hr: h rotated, not 0 */
		if (claimed >= 0)
			return claimed;
		base += size;
		if (r)
			size *= 2;
	}
	return -1;
}

/* h in g.seen_tab, mapped at the first use: true if it was not there. */
static SHIM_HOT bool seen_claim(uint64_t h)
{
	_Atomic uint64_t *tab = atomic_load(&g.seen_tab), *expect = NULL;

	if (!tab) {
		tab = scratch_map(SEEN_SLOTS * sizeof(*tab));
		if (!tab)
			return true;
		if (!atomic_compare_exchange_strong(&g.seen_tab, &expect, tab)) {
			munmap((void *)tab, SEEN_SLOTS * sizeof(*tab));
			tab = expect;
		}
	}
	return seen_regions_claim(tab, h) != 0; /* full: record again rather than lose it */
}

/* A fork child's first record: forget what the parent reported. */
static void seen_reset(void)
{
	_Atomic uint64_t *tab = atomic_load(&g.seen_tab);

	if (tab && !g.seen_wiped)
		memset((void *)tab, 0, SEEN_SLOTS * sizeof(*tab));
	memset((void *)g.objs_seen, 0, sizeof(g.objs_seen));
}

/* True the first time (fn, path, flags, ret) is seen in this image. */
static SHIM_HOT bool seen_first(int fn, const char *path, size_t len, long flags, long ret)
{
	if (in_vchild()) /* the set is its parent's: every check recorded */
		return true;
	/* a fork child's table is its parent's until its PROC is written (log_open) */
	if (atomic_load_explicit(&g.mode, memory_order_relaxed) == MODE_LAZY && log_open() < 0)
		return true;
	return seen_claim(seen_hash(fn, path, len, flags, ret));
}

/* True the first time the object `name` is reported in this image: a small set in
 * g (no page of its own at start-up), then g.seen_tab.  The caller has logged. */
static SHIM_HOT bool objs_first(const char *name)
{
	if (in_vchild())
		return true;
	size_t len = strlen(name);
	uint64_t h = seen_hash(GG_FN_dlopen, name, len, 0, 0);
	int r = set_claim(g.objs_seen, OBJS_SLOTS, h);

	return r < 0 ? seen_claim(h) : r == 1;
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

SHIM_HOT void rec_open(int fn, int dirfd, const char *path, int flags, mode_t mode, long ret,
		       int err)
{
	char abs[SHIM_PATH_CAP];
	shim_abspath(dirfd, path, abs);
	REC_EMIT(open, .fn = (unsigned)fn, .path = abs, .flags = flags, .mode = mode, .ret = ret,
		 .err = ret < 0 ? err : 0);
	if (ret >= 0)
		shim_fd_opened((int)ret, flags);
}

SHIM_HOT void rec_stat(int fn, int dirfd, const char *path, int flags, long ret, int err,
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
		shim_cwd_changed();
		cwd_copy(cwd);
	} else if (path) {
		shim_abspath(AT_FDCWD, path, cwd); /* the directory that was not there */
	} else {
		shim_fdpath(fd, cwd);
	}
	REC_EMIT(chdir, .fn = (unsigned)fn, .path = cwd, .ret = ret, .err = ret < 0 ? err : 0);
}

SHIM_HOT void rec_fd(int fn, int fd, int fd2, long ret, int err)
{
	REC_EMIT(fd, .fn = (unsigned)fn, .fd = fd, .fd2 = fd2, .ret = ret, .err = ret < 0 ? err : 0);
}

void rec_wait(int fn, pid_t pid, int status)
{
	REC_EMIT(wait, .fn = (unsigned)fn, .pid = pid, .status = status);
}

SHIM_HOT void rec_exit(int how, int status)
{
	if (in_vchild()) {
		REC_EMIT(exit, .how = (uint64_t)how, .status = status);
		return;
	}
	if (g.exit_recorded || raw_getpid() != g.pid)
		return;
	g.exit_recorded = true;
	/* a batch holding nothing: the EXIT alone, at once (no buffer to map for it) */
	if (!atomic_load_explicit(&g.batch_len, memory_order_relaxed))
		atomic_store(&g.batching, false);
	REC_EMIT(exit, .how = (uint64_t)how, .status = status);
	batch_end(); /* with the EXIT; what atexit handlers and destructors record after it, at once */
}

void shim_note_stdin(int fn)
{
	struct shim_call c;
	int expect = 0;

	if ((atomic_load_explicit(&g.stdin_seen, memory_order_relaxed) && !t_vforked) ||
	    !shim_enter(&c))
		return;
	/* a vfork child's read of stdin is its own image's, and leaves its parent's unseen */
	if (in_vchild() || atomic_compare_exchange_strong(&g.stdin_seen, &expect, 1)) {
		REC_EMIT(stdin, .fn = (unsigned)fn, .ftype = stdio_type(0), .tty = isatty(0));
	}
	c.err = c.saved_errno;
	shim_leave(&c);
}

void rec_net(int fn, int domain, int type, long ret, int err)
{
	uint64_t bit = 1ull << (domain & 63);
	if (!in_vchild() && (atomic_fetch_or(&g.net_seen, bit) & bit))
		return;
	REC_EMIT(net, .fn = (unsigned)fn, .domain = domain, .type = type, .ret = ret,
		 .err = ret < 0 ? err : 0);
}

/* ---- shared objects ----------------------------------------------------------- */

/* Under GG_VROOT, names are virtual (shim_vname), and neither the main program nor
 * the loader, which the loader run as a command names like any object, is one. */
static SHIM_HOT bool obj_skip(const char *name)
{
	return !name || name[0] != '/' || !strcmp(name, g.lib_path) ||
	       (shim_vr && (!strcmp(name, shim_vp.exe) || !strcmp(name, g.vinterp)));
}

struct objs_fill {
	const char *interp;
	struct tenc *e;
	struct tenc_list l;
	struct link_map *lm; /* objs_fill_handle: the namespace's first object */
};

/* Encode an object not reported yet (marking it reported); a full buffer ends the
 * list (the rest is lost, as a whole record too big for the buffer would be). */
static SHIM_HOT void objs_add(struct objs_fill *f, const char *name)
{
	if (f->l.cut || obj_skip(name) || !strcmp(name, f->interp) || !objs_first(name))
		return;
	tenc_list_str(f->e, &f->l, name, strlen(name), 0);
}

static SHIM_HOT int objs_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	objs_add(data, shim_vname(info->dlpi_name));
	return 0;
}

/* OBJS's objects (a tenc_fill): those dl_iterate_phdr shows, encoded as it goes
 * (names stay valid while mapped, and the loader's lock is held meanwhile). */
static SHIM_HOT void objs_fill_phdr(struct tenc *e, void *ctx)
{
	struct objs_fill *f = ctx;

	f->e = e;
	tenc_list_open(e, &f->l);
	dl_iterate_phdr(objs_cb, f);
	tenc_list_close(e, &f->l);
}

/* Encode an OBJS into buf[cap]: its length, or -errno; 0 if there was no object
 * to report and the record is not `always` wanted (after a dlopen). */
static SHIM_HOT ssize_t objs_encode(char *buf, size_t cap, const char *interp, bool always,
			   void (*fill)(struct tenc *, void *), struct objs_fill *f)
{
	struct tenc e = TENC_INIT(buf, cap);
	struct gg_rec_objs r = { .interp = interp, .objects = { .fill = fill, .ctx = f } };

	f->interp = interp;
	tenc_rec_objs(&e, now_ns(CLOCK_MONOTONIC), &r);
	if (!always && f->l.n == 0)
		return 0;
	return tenc_finish(&e);
}

static SHIM_HOT const char *main_interp(void)
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
 * The start-up OBJS into buf[cap]: every mapped object but the main program, the
 * interpreter and the shim.  Its length or -errno.
 */
static SHIM_HOT ssize_t objs_encode_init(char *buf, size_t cap)
{
	const char *interp = main_interp();
	struct objs_fill f = { .interp = "" };

	/* the loader is reported as interp: not as a new object after a dlopen */
	if (interp[0])
		objs_first(interp);
	return objs_encode(buf, cap, interp, true, objs_fill_phdr, &f);
}

/* Emit an OBJS objs_encode() left in buf (nothing when there was nothing new). */
static void objs_emit(const char *buf, ssize_t n)
{
	if (n != 0)
		emit_rec(buf, n);
}

/* The start-up OBJS on its own (write_start could not take it). */
static void rec_objs_init(void)
{
	char *buf = tbuf();

	if (buf)
		objs_emit(buf, objs_encode_init(buf, TBUF_CAP));
}

/* After a dlopen: the objects not reported before. */
void rec_objs_new(void)
{
	struct objs_fill f = { .interp = "" };
	char *buf;

	if (atomic_load_explicit(&g.mode, memory_order_relaxed) == MODE_LAZY && log_open() < 0)
		return;
	buf = tbuf();
	if (buf)
		objs_emit(buf, objs_encode(buf, TBUF_CAP, "", false, objs_fill_phdr, &f));
}

/* OBJS's objects (a tenc_fill): those of a dlmopen handle's namespace. */
static void objs_fill_handle(struct tenc *e, void *ctx)
{
	struct objs_fill *f = ctx;

	f->e = e;
	tenc_list_open(e, &f->l);
	for (struct link_map *lm = f->lm; lm; lm = lm->l_next)
		objs_add(f, shim_vname(lm->l_name));
	tenc_list_close(e, &f->l);
}

void rec_objs_handle(void *handle)
{
	struct objs_fill f = { .interp = "" };
	struct link_map *lm = NULL;
	char *buf;

	if (atomic_load_explicit(&g.mode, memory_order_relaxed) == MODE_LAZY && log_open() < 0)
		return;
	buf = tbuf();
	if (!buf || dlinfo(handle, RTLD_DI_LINKMAP, &lm) != 0 || !lm)
		return;
	while (lm->l_prev)
		lm = lm->l_prev;
	f.lm = lm;
	objs_emit(buf, objs_encode(buf, TBUF_CAP, "", false, objs_fill_handle, &f));
}

/* ---- exec records -------------------------------------------------------------- */

/*
 * In a child that shares our memory (vfork turned into fork is not one of them; a raw
 * clone(CLONE_VM) is), the image's state belongs to the parent: write a one-off log
 * for this pid (PROC with origin FORK, then the record) and touch nothing shared.
 */
SHIM_HOT bool shim_in_detached_child(void)
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
	int fd = atomic_load(&log_fd);
	bool own = fd < 0;

	if (n < 0)
		return;
	if (own && (fd = seg_open()) < 0)
		return;
	if (write_proc(fd, pid, GG_ORIGIN_FORK, start, g.log_id, g.empty, g.empty) == 0)
		rec_write(fd, e->buf, (size_t)n, pid, start);
	if (own)
		raw_close(fd);
}

/*
 * The segment's descriptor for a vfork child's records: the image's, unless the
 * child put something else at its number (dup2 onto it: shim_log_move_away), then
 * one of its own.  0 if there is none.
 */
static int vchild_fd(void)
{
	int fd = t_vfd ? t_vfd : atomic_load(&log_fd);

	if (fd < 0) {
		fd = seg_open();
		t_vfd = fd < 0 ? 0 : fd;
	}
	return fd < 0 ? 0 : fd;
}

/*
 * A vfork child's PROC (origin FORK, its parent the image it runs in), once, with
 * rec[0..n) if not NULL (one writev when rec is in the per-thread buffer, as a fork
 * child's first record: log_open_with).  1 when rec went with it, 0 when the PROC
 * is written, or -errno.
 */
static int vchild_proc_with(const char *rec, size_t n)
{
	uint64_t start;
	int fd, r;

	if (t_vstart)
		return 0;
	if (!(fd = vchild_fd()))
		return -EBADF;
	start = now_ns(CLOCK_REALTIME);
	r = write_proc_with(fd, rec, n, t_vchild, GG_ORIGIN_FORK, start, g.log_id);
	if (r == 0)
		r = write_proc(fd, t_vchild, GG_ORIGIN_FORK, start, g.log_id, g.empty, g.empty);
	if (r >= 0)
		t_vstart = start;
	return r;
}

/* A vfork child's record rec[0..n), finished by tenc_finish(): written at once, after
 * its PROC.  A failure loses the record, and stops nothing: the recording's state is
 * its parent's. */
static void vchild_emit(const char *rec, size_t n)
{
	if (vchild_proc_with(rec, n) == 0)
		(void)rec_write(vchild_fd(), rec, n, t_vchild, t_vstart);
}

static void emit_exec_like(struct tenc *e)
{
	if (atomic_load_explicit(&g.mode, memory_order_relaxed) == MODE_OFF)
		return;
	if (in_vchild()) {
		emit(e);
		return;
	}
	if (shim_in_detached_child()) {
		emit_detached(e);
		return;
	}
	emit(e);
}

/*
 * A buffer of cap bytes for one record that may be big (EXEC, SPAWN): the per-thread
 * buffer when it fits, its first pages already faulted in (a mapping of its own per
 * record cost gcc's driver a zero-fill fault and two system calls for each of the
 * dozen PATH candidates it tries for `as`), else a mapping of its own, which
 * rec_buf_put unmaps.  A child on its parent's memory (vfork, clone(CLONE_VM))
 * takes a new mapping rather than set up a per-thread buffer in its parent's name.
 */
static SHIM_HOT char *rec_buf_get(size_t cap)
{
	char *b;

	if (cap <= TBUF_CAP && (t_buf || !shim_in_detached_child()) && (b = tbuf()))
		return b;
	b = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return b == MAP_FAILED ? NULL : b;
}

static void rec_buf_put(char *b, size_t cap)
{
	if (b != t_buf)
		munmap(b, cap);
}

SHIM_HOT void rec_exec(int fn, const char *path, char *const argv[], char *const envp[],
		       bool opaque)
{
	char abs[SHIM_PATH_CAP];
	size_t cap = 1024 + SHIM_PATH_CAP + tenc_strv_size((char **)argv) +
		     (opaque ? tenc_strv_size((char **)envp) : 0);
	char *buf;

	cap = (cap + 4095) & ~(size_t)4095;
	if (cap > GG_TRACE_MAX_RECORD)
		cap = GG_TRACE_MAX_RECORD;
	buf = rec_buf_get(cap);
	if (!buf)
		return;
	shim_abspath(AT_FDCWD, path, abs);
	struct tenc e = TENC_INIT(buf, cap);
	size_t budget = cap - 1024 - SHIM_PATH_CAP;
	struct gg_rec_exec r = {
		.fn = (unsigned)fn, .path = abs,
		.argv = { argv, opaque ? budget / 2 : budget },
		.env = { opaque ? envp : g.empty, budget / 2 },
		.opaque = opaque,
	};
	tenc_rec_exec(&e, now_ns(CLOCK_MONOTONIC), &r);
	emit_exec_like(&e);
	rec_buf_put(buf, cap);
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
	buf = rec_buf_get(cap);
	if (!buf)
		return;
	struct tenc e = TENC_INIT(buf, cap);
	size_t budget = (cap - 2048 - SHIM_PATH_CAP) / 2;
	struct spawn_fill sf = { .fa = fa, .nact = nact };
	struct gg_rec_spawn r = {
		.fn = (unsigned)fn, .path = path,
		.argv = { argv, budget },
		.env = { opaque ? envp : g.empty, budget },
		.ret = ret, .err = ret < 0 ? err : 0,
		.actions = { .fill = spawn_fill, .ctx = &sf },
		.opaque = opaque,
	};
	tenc_rec_spawn(&e, now_ns(CLOCK_MONOTONIC), &r);
	emit(&e);
	rec_buf_put(buf, cap);
}

/* ---- descriptor write tracking --------------------------------------------------- */

void shim_fd_opened(int fd, int flags)
{
	/* a vfork child's descriptors are its own, the bits its parent's */
	if (fd < 0 || fd >= WFD_MAX || in_vchild())
		return;
	uint64_t bit = 1ull << (fd % 64);
	bool wr = (flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_TRUNC));
	/* written only when it changes: see shim_fd_closed */
	if (!(atomic_load_explicit(&g.wfd[fd / 64], memory_order_relaxed) & bit) == !wr)
		return;
	if (wr)
		atomic_fetch_or(&g.wfd[fd / 64], bit);
	else
		atomic_fetch_and(&g.wfd[fd / 64], ~bit);
}

SHIM_HOT bool shim_fd_closed(int fd)
{
	if (fd < 0 || fd >= WFD_MAX)
		return false;
	uint64_t bit = 1ull << (fd % 64);
	/* read first: a descriptor not open for writing (a fork child closing the
	 * pipe ends it inherited) leaves the page unwritten, without a copy-on-write
	 * fault on it in both the child and the parent */
	if (!(atomic_load_explicit(&g.wfd[fd / 64], memory_order_relaxed) & bit))
		return false;
	if (in_vchild()) /* its close ends its write, not its parent's */
		return true;
	return atomic_fetch_and(&g.wfd[fd / 64], ~bit) & bit;
}

void shim_fd_closed_range(unsigned first, unsigned last)
{
	if (in_vchild())
		return;
	if (last >= WFD_MAX)
		last = WFD_MAX - 1;
	for (unsigned fd = first; fd <= last;) {
		unsigned lo = fd % 64, hi = (last / 64 == fd / 64) ? last % 64 : 63;
		uint64_t mask = (hi == 63 ? ~0ull : ((1ull << (hi + 1)) - 1)) & ~((1ull << lo) - 1);
		atomic_fetch_and(&g.wfd[fd / 64], ~mask);
		fd = (fd / 64 + 1) * 64;
	}
}

SHIM_HOT void shim_fd_dup(int oldfd, int newfd)
{
	if (oldfd < 0 || oldfd >= WFD_MAX || newfd < 0 || newfd >= WFD_MAX)
		return;
	uint64_t w = atomic_load(&g.wfd[oldfd / 64]) & (1ull << (oldfd % 64));
	shim_fd_opened(newfd, w ? O_WRONLY : O_RDONLY);
}

/* ---- environment across exec ------------------------------------------------------- */

/*
 * String tests of the exec path as plain loops: a fork child about to exec faults in
 * every page of libc code it runs for the first time (fork copies no page tables of
 * file mappings), and these run in every one.
 */
static SHIM_HOT bool has_prefix(const char *s, const char *prefix)
{
	for (; *prefix; s++, prefix++)
		if (*s != *prefix)
			return false;
	return true;
}

static SHIM_HOT bool has_sub(const char *hay, const char *needle)
{
	for (; *hay; hay++)
		if (has_prefix(hay, needle))
			return true;
	return !*needle;
}

/* What an environment carries of the shim's variables (the first entry of each). */
struct env_scan {
	bool has_lib, has_dir, has_off, has_root, has_cc, cc_switch;
	bool seen_lib; /* an LD_PRELOAD entry was met */
};

/* Scan envp; true if it needs shim_env_fixup (the shim's variables restored). */
static SHIM_HOT bool env_scan(char *const envp[], bool off, struct env_scan *sc)
{
	*sc = (struct env_scan){ .has_root = !g.root_env[0], .has_cc = off };
	/* by the first letter: a build's environment has a hundred entries or more, and
	 * a shell scans it at every command it runs */
	for (size_t i = 0; envp && envp[i]; i++) {
		const char *e = envp[i];
		switch (e[0]) {
		case 'L':
			if (has_prefix(e, key_preload)) {
				if (!sc->seen_lib)
					sc->has_lib = has_sub(e + 11, g.lib_path);
				sc->seen_lib = true;
			}
			break;
		case 'G':
			if (has_prefix(e, key_trace_dir))
				sc->has_dir = true;
			else if (has_prefix(e, key_shim_off))
				sc->has_off = true;
			else if (has_prefix(e, key_shim_root))
				sc->has_root = true;
			break;
		case 'C':
			if (!off && env_is_ccache_switch(e)) {
				bool pass = env_is_passthrough(e);
				sc->has_cc |= pass;
				sc->cc_switch |= !pass;
			}
			break;
		}
	}
	return g.lib_path[0] && !((sc->has_lib || off) && sc->has_dir && sc->has_root &&
				  (!off || sc->has_off) && sc->has_cc && !sc->cc_switch);
}

SHIM_HOT size_t shim_env_fixup_need(char *const envp[])
{
	struct env_scan sc;
	size_t n = 0, bytes = 0;

	if (!env_scan(envp, !shim_enabled(), &sc))
		return 0;
	for (; envp && envp[n]; n++)
		if (has_prefix(envp[n], key_preload))
			bytes += strlen(envp[n]);
	return n + 6 + (bytes + 3 * PATH_MAX + 64) / sizeof(char *) + 1;
}

SHIM_HOT char *const *shim_env_fixup(char *const envp[], char **out, size_t cap, char *strbuf,
				     size_t strcap)
{
	bool off = !shim_enabled();
	struct env_scan sc;
	bool has_lib;
	size_t n = 0, k = 0;
	char *s = strbuf, *end = strbuf + strcap;

	if (!env_scan(envp, off, &sc))
		return envp;
	has_lib = sc.has_lib;
	for (; envp && envp[n]; n++) {
		if (k + 5 >= cap)
			return envp;
		if (!off && env_is_ccache_switch(envp[n]) && !env_is_passthrough(envp[n]))
			continue; /* CCACHE_NODISABLE, or CCACHE_DISABLE=<other>: replaced */
		if (has_prefix(envp[n], key_preload) && !has_lib && !off) {
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
	if (!sc.has_dir) {
		if ((size_t)(end - s) < strlen(g.trace_dir) + 32)
			return envp;
		out[k++] = s;
		s = cat(s, GG_ENV_TRACE_DIR "=");
		s = cat(s, g.trace_dir) + 1;
	}
	if (off && !sc.has_off) {
		if ((size_t)(end - s) < 16)
			return envp;
		out[k++] = s;
		s = cat(s, GG_ENV_SHIM_OFF "=1") + 1;
	}
	if (!sc.has_root)
		out[k++] = g.root_env;
	if (!sc.has_cc)
		out[k++] = ccache_env;
	out[k] = NULL;
	return out;
}

/* ---- start-up ------------------------------------------------------------------ */

static int mkdir_p(char *path)
{
	int r;

	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		shim_sys(SYS_mkdirat, AT_FDCWD, path, 0755);
		*p = '/';
	}
	r = (int)shim_sys(SYS_mkdirat, AT_FDCWD, path, 0755);
	return r == -EEXIST ? 0 : r;
}

/*
 * The trace directory into out[PATH_MAX], cwd the host's: GG_TRACE_DIR, else
 * $GG_DIR/trace, else the nearest .gg/ above the cwd, else a new ./.gg/.  The root
 * image exports it so that every descendant, whatever its cwd, writes to the same
 * place.
 */
static void find_gg_dir(const char *cwd, char *out);

static SHIM_HOT int find_trace_dir(const char *cwd, char *out, bool *is_root)
{
	const char *v = shim_getenv(GG_ENV_TRACE_DIR);

	*is_root = !(v && v[0]);
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
	find_gg_dir(cwd, out);
	return 0;
}

/* The nearest .gg/ above cwd, else a new ./.gg/: its trace directory into out.  Out
 * of line: its probe buffer is on the stack only for the root image. */
static __attribute__((noinline)) void find_gg_dir(const char *cwd, char *out)
{
	char probe[PATH_MAX + 16];
	struct stat st;

	for (const char *end = cwd + strlen(cwd);;) {
		memcpy(probe, cwd, (size_t)(end - cwd));
		strcpy(probe + (end - cwd), "/.gg");
		if (stat(probe, &st) == 0 && S_ISDIR(st.st_mode)) {
			path_join(NULL, probe, out, PATH_MAX - 8);
			strcat(out, "/trace");
			return;
		}
		if (end == cwd)
			break;
		while (end > cwd && *--end != '/')
			;
	}
	path_join(cwd, ".gg/trace", out, PATH_MAX);
}

/*
 * Before a fork or a vfork: an image that has not logged yet (a fork child, LAZY)
 * opens its log now, so that its children name it as their parent and start after
 * it (trace_read.h links a FORK image to the log its parent_log names).  bash's
 * subshell in `if (for ...; done | sort | sort -uc); then` forks the pipeline
 * before it records anything: its children were left without a parent, and their
 * commands (libtool's sort) outside any thunk.  Then the batch is written and the
 * calls a child makes to exec or exit are resolved.
 */
static SHIM_HOT void child_prepare(void)
{
	if (atomic_load(&g.mode) == MODE_LAZY && !t_guard) {
		t_guard = 1;
		log_open();
		t_guard = 0;
	}
	shim_check_alive();
	batch_flush(); /* the parent's: the child starts with none */
	shim_exec_prepare();
	shim_fd_prepare();
}

static SHIM_HOT void atfork_prepare(void)
{
	child_prepare();
	scratch_wipe();
	t_forking = true;
}

/*
 * Where vfork goes (wrap_exec.c's trampoline jumps there, with no frame of its own
 * on the stack the child shares): the real vfork while this image records, after
 * child_prepare, and marked for the child (t_vforked); fork under GG_VROOT (its
 * exec plans map buffers that must be the child's own) or when the real vfork is
 * not found.
 */
DECL_REAL(vfork);
SHIM_HOT void *shim_vfork_target(void)
{
	void *real = shim_vr || t_guard ? NULL : (void *)REAL(vfork);

	if (!real)
		return (void *)fork;
	if (atomic_load(&g.mode) == MODE_OFF)
		return real;
	child_prepare();
	t_vforked = true;
	return real;
}

static SHIM_HOT void atfork_parent(void)
{
	t_forking = false;
}

/* The fork child's state, once: from atfork_child, or from the first wrapper a fork
 * handler the program registered before the shim's calls in the child (t_forking). */
static SHIM_HOT void fork_child_reset(pid_t pid)
{
	char parent[48];
	unsigned seq = atomic_load(&g.cwd_seq);

	/* another thread of the parent was changing the cwd: its copy may be torn, and
	 * an odd count would keep cwd_copy waiting for a writer the child has not */
	if (seq & 1) {
		atomic_store(&g.cwd_seq, seq + 1);
		cwd_refresh();
	}
	if (atomic_load(&g.mode) == MODE_OFF) {
		g.pid = pid; /* a disabled image stays disabled, in its own name */
		return;
	}
	memcpy(parent, g.log_id, sizeof(parent));
	memcpy(g.parent_log, parent, sizeof(parent));
	g.log_id[0] = '\0';
	/* the segment's descriptor is kept: the child appends its own framed records */
	g.pid = pid;
	g.origin = GG_ORIGIN_FORK;
	g.exit_recorded = false;
	atomic_store(&g.batching, false); /* a fork child writes each record at once */
	atomic_store(&g.batch_len, 0);
	atomic_store(&g.opening, 0);
	atomic_store(&g.stdin_seen, 0);
	atomic_store(&g.net_seen, 0);
	/* the child's first clock readings by system call too (now_ns): the vDSO's
	 * pages and libc's are not mapped in a fresh child, and most children write
	 * a few records before they exec or exit */
	atomic_store(&g.clock_calls, 0);
	/* the dedupe sets are cleared at the first record (log_open), when the kernel
	 * has not wiped g.seen_tab already: most children exec first */
	g.seen_dirty = true;
	atomic_store(&g.mode, MODE_LAZY);
}

static void fork_fixup(void)
{
	pid_t pid = raw_getpid();

	if (pid != g.pid)
		fork_child_reset(pid);
}

static SHIM_HOT void atfork_child(void)
{
	fork_fixup();
	t_forking = false;
}

/*
 * The fork handlers are registered at the image's first fork, not at start-up:
 * most images never fork, and registering faults in two pages of libc's.  A thread
 * forking while another registers waits for it.
 */
SHIM_HOT void shim_atfork_ensure(void)
{
	int want = ATFORK_WANTED;

	if (atomic_load_explicit(&g.atfork, memory_order_acquire) != ATFORK_WANTED &&
	    atomic_load_explicit(&g.atfork, memory_order_acquire) != ATFORK_REGISTERING)
		return;
	if (atomic_compare_exchange_strong(&g.atfork, &want, ATFORK_REGISTERING)) {
		/* pthread_atfork(3), without its stub from libc_nonshared.a (linked into the
		 * shim it lands at the far end of its code: a page more to fault in) */
		__register_atfork(atfork_prepare, atfork_parent, atfork_child, &__dso_handle);
		atomic_store(&g.atfork, ATFORK_DONE);
		return;
	}
	while (atomic_load(&g.atfork) == ATFORK_REGISTERING)
		sched_yield();
}

/*
 * A copy of s in g.strs (at most PATH_MAX + 63 bytes of it), packed after the
 * strings kept before: start-up only, single-threaded.  STRS_CAP holds the five
 * strings kept and the cwd after them.
 */
static SHIM_HOT const char *str_keep(const char *s)
{
	char *p = g.strs + g.strs_len;
	size_t n = 0;

	while (n < PATH_MAX + 63 && s[n])
		n++;
	memcpy(p, s, n);
	p[n] = '\0';
	g.strs_len += n + 1;
	return p;
}

/* The cwd's room, the last in g.strs (it changes with chdir: cwd_refresh); host:
 * the host's cwd as getcwd gave it, "" to ask again. */
static SHIM_HOT void cwd_init(const char *host)
{
	g.cwd = g.strs + g.strs_len;
	if (shim_vr || !host[0])
		cwd_refresh(); /* the virtual cwd, or /proc's answer */
	else
		memcpy(g.cwd, host, strlen(host) + 1);
}

struct lib_find {
	uintptr_t me;     /* an address inside the shim */
	const char *name; /* the loader's name for the shim */
};

static SHIM_HOT int lib_path_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	struct lib_find *f = data;

	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
		if (ph->p_type == PT_LOAD && f->me >= lo && f->me < lo + ph->p_memsz) {
			f->name = info->dlpi_name;
			return 1;
		}
	}
	return 0;
}

/*
 * The shim's path, as the children's LD_PRELOAD will name it: the loader's name for
 * it when absolute (what LD_PRELOAD said: the children load the same file by it,
 * with no realpath walk per image), else made absolute (into scratch[PATH_MAX]).
 */
static SHIM_HOT void lib_path_init(char *scratch)
{
	struct lib_find f = { .me = (uintptr_t)&lib_path_init, .name = NULL };

	dl_iterate_phdr(lib_path_cb, &f);
	if (!f.name || !f.name[0] || (f.name[0] != '/' && !realpath(f.name, scratch)))
		g.lib_path = str_keep("");
	else
		g.lib_path = str_keep(f.name[0] == '/' ? f.name : scratch);
}

/* Under GG_VROOT: the loader's virtual path, its links resolved, for obj_skip (the
 * loader run as a command is named like any object); scratch[SHIM_VPATH_CAP]. */
static void vinterp_init(char *scratch)
{
	const char *interp = main_interp();
	char host[SHIM_VPATH_CAP];

	if (interp[0] && vpath_map(&shim_vp, NULL, interp, 0, host, sizeof(host)) > 0 &&
	    vpath_unmap(&shim_vp, host, scratch, SHIM_VPATH_CAP) >= 0)
		g.vinterp = str_keep(scratch);
}

/* The host's cwd into out[PATH_MAX] ("" if it has no name); false if getcwd did not
 * give it (then /proc/self/cwd's answer). */
static SHIM_HOT bool cwd_host(char *out)
{
	long n = shim_sys(SYS_getcwd, out, PATH_MAX, 0);
	if (n <= 0 || out[0] != '/') {
		n = shim_sys4(SYS_readlinkat, AT_FDCWD, (long)"/proc/self/cwd", (long)out,
			      PATH_MAX - 1);
		out[n > 0 ? n : 0] = '\0';
		return false;
	}
	return true;
}

/* A "/.." component in the absolute path p.  (Loops rather than strstr and memcmp
 * here: libc's would be pages of its code that start-up does not touch otherwise.) */
static SHIM_HOT bool has_dotdot(const char *p)
{
	for (; *p; p++)
		if (p[0] == '/' && p[1] == '.' && p[2] == '.' && (p[3] == '/' || p[3] == '\0'))
			return true;
	return false;
}

/*
 * The executable's path as /proc/self/exe would answer it, without /proc: the
 * kernel's first lookup of /proc/<pid> in a new process makes its dentry and inode
 * (some 40 us on a virtual machine, the most expensive step of a start-up).  The
 * path the image was exec'd by (AT_EXECFN) names the running executable when the
 * file there starts with the executable's own ELF header (not for a "#!" script,
 * whose exe is its interpreter, a binfmt_misc handler, an fexecve'd /dev/fd/N, or the
 * loader run as a command: AT_BASE is 0 then, and glibc passes the program's
 * AT_EXECFN on); its symbolic links are resolved here, one readlinkat per
 * component.  Into out[PATH_MAX], cwd the host's ("" if unknown).  false: ask /proc.
 */
static SHIM_HOT bool exe_host(const char *cwd, char *out)
{
	const char *fn = (const char *)getauxval(AT_EXECFN);
	const ElfW(Phdr) *ph = (const ElfW(Phdr) *)getauxval(AT_PHDR);
	unsigned long phnum = getauxval(AT_PHNUM);
	const unsigned char *ehdr = NULL;
	unsigned char head[sizeof(ElfW(Ehdr))];
	char lnk[256];
	uintptr_t bias = 0;
	int links = 0;
	long fd, n;

	if (!fn || !ph || !getauxval(AT_BASE) || (fn[0] != '/' && !cwd[0]) ||
	    !strncmp(fn, "/proc/", 6) || !strncmp(fn, "/dev/", 5))
		return false;
	for (unsigned long i = 0; i < phnum; i++)
		if (ph[i].p_type == PT_PHDR)
			bias = (uintptr_t)ph - ph[i].p_vaddr;
	for (unsigned long i = 0; i < phnum && !ehdr; i++)
		if (ph[i].p_type == PT_LOAD && ph[i].p_offset == 0)
			ehdr = (const unsigned char *)(bias + ph[i].p_vaddr);
	if (!ehdr)
		return false;
	fd = shim_sys4(SYS_openat, AT_FDCWD, (long)fn, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return false;
	n = shim_sys4(SYS_pread64, fd, (long)head, sizeof(head), 0);
	raw_close((int)fd);
	if (n != (long)sizeof(head))
		return false;
	for (size_t i = 0; i < sizeof(head); i++)
		if (head[i] != ehdr[i])
			return false;
	if (path_join(fn[0] == '/' ? NULL : cwd, fn, out, PATH_MAX) < 0 || has_dotdot(out))
		return false;
	/* each prefix of out, a link spliced in and the walk started again */
	for (char *p = out + 1;; p++) {
		char c = *p, *dst;
		size_t rest;

		if (c != '/' && c != '\0')
			continue;
		*p = '\0';
		n = shim_sys4(SYS_readlinkat, AT_FDCWD, (long)out, (long)lnk, sizeof(lnk));
		*p = c;
		if (n == -EINVAL) { /* not a link */
			if (!c)
				return true;
			continue;
		}
		if (n <= 0 || n >= (long)sizeof(lnk) || ++links > VPATH_MAX_LINKS)
			return false;
		for (dst = p; lnk[0] != '/' && dst[-1] != '/'; dst--)
			;
		if (lnk[0] == '/')
			dst = out;
		rest = strlen(p);
		if ((size_t)(dst - out) + (size_t)n + rest + 1 > PATH_MAX)
			return false;
		memmove(dst + n, p, rest + 1);
		memcpy(dst, lnk, (size_t)n);
		path_clean(out);
		if (out[0] != '/' || has_dotdot(out))
			return false;
		p = out;
	}
}

/* The top image's log id names the recording's segment: GG_SHIM_ROOT, or this
 * image's when it has none (then exported). */
static SHIM_HOT void root_init(void)
{
	const char *root = shim_getenv(GG_ENV_SHIM_ROOT);
	char *p = cat(g.root_env, GG_ENV_SHIM_ROOT "="), *q = p;
	unsigned long pid = 0;
	/* a log id is at most 27 characters: a longer value is cut to what fits */
	size_t max = sizeof(g.root_env) - sizeof(GG_ENV_SHIM_ROOT "=");

	for (size_t i = 0; root && i < max && ((root[i] >= '0' && root[i] <= '9') ||
					      (root[i] >= 'a' && root[i] <= 'f') ||
					      root[i] == '-'); i++)
		*q++ = root[i];
	*q = '\0';
	if (q > p) {
		/* its pid, the digits before '-' */
		for (size_t i = 0; i < 10 && p[i] >= '0' && p[i] <= '9'; i++)
			pid = pid * 10 + (unsigned long)(p[i] - '0');
		g.top = pid == (unsigned long)g.pid;
	} else {
		g.top = true;
		cat(p, g.log_id);
		shim_setenv(g.root_env);
	}
}

/*
 * Start-up.  Its path-sized scratch is the per-thread record buffer, which the
 * PROC takes next (its first page is written either way), not the stack: every
 * call made below a few PATH_MAX arrays would touch a new page of stack.
 */
__attribute__((constructor)) static void shim_init(int argc, char **argv, char **envp)
{
	const char *off = shim_getenv(GG_ENV_SHIM_OFF);
	char *cwd, *tmp;
	bool is_root, cwd_named;
	ssize_t n;
	int saved_errno = errno; /* main sees the errno the program starts with (C11 7.5) */

	t_guard = 1;
	g.trace_dir = g.seg_path = g.lib_path = g.exe = g.trace_env = g.vinterp = "";
	g.pid = raw_getpid();
	if (off && off[0] == '1') {
		/* not recording, but GG_VROOT still maps every path */
		if (shim_getenv(GG_ENV_VROOT) && (tmp = tbuf())) {
			lib_path_init(tmp);
			shim_vroot_init();
			cwd_init("");
		}
		goto out;
	}
	image_id_new(g.pid);
	root_init();
	off = shim_getenv(GG_ENV_SHIM_BATCH);
	g.batch_on = off && off[0] == '1';
	cwd = tbuf();
	if (!cwd) {
		shim_disable("start-up", ENOMEM);
		goto out;
	}
	g.argv = argv ? argv : g.empty;
	g.envp = envp ? envp : g.empty;
	if (shim_env_passthrough())
		g.envp = environ; /* what the program sees is what the thunk records */
	cwd_named = cwd_host(cwd); /* the trace directory is a host path: GG_VROOT after it */
	tmp = cwd + strlen(cwd) + 1; /* PATH_MAX + 64 bytes */
	lib_path_init(tmp);
	find_trace_dir(cwd, tmp, &is_root);
	g.trace_dir = str_keep(tmp);
	cat(cat(cat(cat(tmp, g.trace_dir), "/" GG_TRACE_SEG_PREFIX),
		g.root_env + sizeof(GG_ENV_SHIM_ROOT)), GG_TRACE_SUFFIX);
	g.seg_path = str_keep(tmp);
	shim_fsize_changed();
	shim_vroot_init();
	if (shim_vr || !exe_host(cwd_named ? cwd : "", tmp)) {
		n = shim_sys4(SYS_readlinkat, AT_FDCWD, (long)"/proc/self/exe", (long)tmp,
			      PATH_MAX - 1);
		tmp[n > 0 ? n : 0] = '\0';
	}
	if (shim_vr && shim_vp.exe[0]) /* the kernel's answer is R's loader */
		g.exe = str_keep(shim_vp.exe);
	else if (shim_vr)
		shim_vunmap(tmp);
	if (!g.exe[0])
		g.exe = str_keep(tmp);
	if (shim_vr)
		vinterp_init(tmp);
	g.origin = is_root ? GG_ORIGIN_ROOT : GG_ORIGIN_EXEC;
	if (is_root) {
		memcpy(tmp, g.trace_dir, strlen(g.trace_dir) + 1);
		mkdir_p(tmp);
		cat(cat(tmp, GG_ENV_TRACE_DIR "="), g.trace_dir);
		g.trace_env = str_keep(tmp);
		shim_setenv((char *)g.trace_env);
		g.envp = environ;
	}
	cwd_init(cwd_named ? cwd : ""); /* after GG_VROOT: the virtual cwd */
	if (pthread_key_create(&g.buf_key, tbuf_free) == 0) {
		g.have_key = true;
		pthread_setspecific(g.buf_key, t_buf);
	}
	atomic_store(&g.atfork, ATFORK_WANTED); /* registered before the first fork */
	atomic_store(&g.mode, MODE_LAZY);
	log_open();
out:
	t_guard = 0;
	errno = saved_errno;
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
