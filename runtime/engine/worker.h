/*
 * worker.h - the relocatable worker: run ONE thunk from a blob source on a host that
 * has nothing of the build machine but the kernel (`gg worker exec`, the Lambda
 * function's `bootstrap worker exec`, and every job of the isolated engine).
 *
 * One job, in order (worker_exec):
 *
 *   load     the thunk blob from the source store (verified by its hash).  It must be
 *            portable (worker_portable): every input a VALUE (no reference to another
 *            thunk's output), every symbolic link's target an input too.
 *   fetch    every input, executable and shared object into the input cache (below):
 *            a hit costs nothing, a miss copies the blob from the source, verifying
 *            its hash on the way.
 *   root     R = <root_base>/<job> (root_base: $TMPDIR/gg/r, else /tmp/gg/r): each
 *            input hard-linked from the cache at R + its recorded path (a symbolic
 *            link recreated with its recorded target; an input that is also an
 *            output is copied, so the command may rewrite it), an empty file at the
 *            nearest non-directory of each ENOTDIR probe, R + cwd, R/tmp (1777),
 *            every output's directory and the directory above each path probed
 *            missing (as the local sandbox makes them) created.  R holds no
 *            symbolic link of its own.
 *   run      at the best level the host allows (sandbox/sbx.h):
 *              1  namespaces work: sbx_run with a root of only the thunk's files,
 *                 each bound read-only from R at its recorded path, the output
 *                 directories writable (R's), missing paths absent;
 *              3  they do not (Lambda, the isolated engine's root): path
 *                 virtualization through the shim (shim/vpath.h, the GG_VROOT
 *                 contract): the first exec planned with vexec_plan through R's
 *                 recorded loader, LD_PRELOAD=<shim> GG_VROOT=R GG_VEXE GG_SHIM_OFF=1,
 *                 and LOCPATH=R/usr/lib/locale when R has one (glibc loads locales
 *                 with internal opens the shim never sees), cwd R + cwd; sbx_run
 *                 at level 3 for the timeout and the tree kill.
 *            (Level 2 needs the inputs at their real paths on the host: never here.)
 *            The environment is exactly the thunk's (plus TZ=UTC and
 *            SOURCE_DATE_EPOCH as the local engine sets them, plus at level 3 the
 *            variables above): nothing of the worker's own (LD_LIBRARY_PATH,
 *            LD_PRELOAD, AWS_*, ...) reaches the command.
 *   store    each declared output, read from R + path, into the output store
 *            (the source store unless another is given); stdout and stderr tails
 *            kept for the report; R removed (unless keep).
 *
 * The input cache (struct wcache) is a directory of whole files named by content:
 * <dir>/<32 hex digits of the VALUE hash> (mode 0444) and <hex>.x (0555, for inputs
 * recorded executable: hard links share their mode).  An entry appears only by
 * rename(2) of a complete, verified copy.  Use order is the entry's mtime: a hit
 * sets it to the cache's clock (now, or one nanosecond past the newest entry,
 * whichever is later, so the order is strict within a process).  Size: at most
 * max_bytes after wcache_trim, which removes the least recently used entries first
 * (entries a root still links stay alive there: R's links are their own names).
 * Several workers may share a directory; a concurrent trim can remove an entry
 * between fetch and link, which the worker answers by fetching it again.
 *
 * Errors: 0 or -errno, with rep->res.err saying why a job could not run.  Nothing
 * here prints or exits.
 */
#ifndef GG_ENGINE_WORKER_H
#define GG_ENGINE_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/engine/engine.h"
#include "runtime/ir/hash.h"
#include "runtime/ir/thunk.h"

struct store;
struct thunk;
struct json;
struct sbuf;

/* Default bound of the input cache: 2 GiB (Lambda's /tmp is 512 MB to 10 GB). */
#define WORKER_CACHE_MAX (2ull << 30)
/* Bytes of stdout/stderr kept in a report. */
#define WORKER_TAIL_MAX 4096

/* ---- the input cache ---------------------------------------------------------- */

struct wcache {
	char *dir;            /* owned */
	uint64_t max_bytes;
	uint64_t bytes;       /* size of the entries, as counted at open and since */
	uint64_t clock_ns;    /* newest use time handed out */
};

#define WCACHE_INIT { .dir = NULL, .max_bytes = 0, .bytes = 0, .clock_ns = 0 }

struct wcache_stats {
	uint64_t hits, misses;     /* entries found / fetched */
	uint64_t fetched_bytes;    /* bytes copied from the source */
	uint64_t evicted, evicted_bytes;
};

/* Open (creating it) the cache at dir, counting what it holds.  max_bytes 0: default. */
int wcache_open(struct wcache *c, const char *dir, uint64_t max_bytes);
void wcache_close(struct wcache *c);
/*
 * The cache entry of VALUE blob h (exec: the 0555 variant) into path[cap], fetched
 * from `src` on a miss and checked against h (-EBADMSG: the source's bytes do not
 * match; nothing is kept).  -ENOENT if the source has no such blob.
 */
int wcache_fetch(struct wcache *c, const struct store *src, const struct gg_hash *h,
		 bool exec, char *path, size_t cap, struct wcache_stats *stats);
/*
 * Put `file`, known to hold VALUE blob h (a blob of a local store, verified when it
 * was written: a trusted source), into the cache without reading it when it can: a
 * hard link when its mode is the entry's (0444; 0555 for exec), else a copy (not
 * checked against h).  0 also when the entry exists already; -EXDEV (another file
 * system) or another -errno when it cannot, nothing kept.  Not for an untrusted source:
 * wcache_fetch verifies what it copies.
 */
int wcache_adopt(struct wcache *c, const char *file, const struct gg_hash *h, bool exec,
		 struct wcache_stats *stats);
/* Remove least recently used entries until at most max_bytes remain. */
int wcache_trim(struct wcache *c, struct wcache_stats *stats);

/* ---- one job ----------------------------------------------------------------- */

struct worker_opts {
	const char *blobs;       /* the source: a directory holding blobs/ (a .gg directory or
				  * a copy of its blobs), or that blobs/ directory itself */
	const char *out;         /* store for the outputs (same layout); NULL: blobs */
	const char *cache_dir;   /* NULL: <root_base>/../cache */
	uint64_t cache_max;      /* 0: WORKER_CACHE_MAX */
	const char *root_base;   /* NULL: $TMPDIR/gg/r, else /tmp/gg/r */
	const char *shim;        /* libggshim.so for level 3 (host path) */
	int level;               /* 0: the best (1 if namespaces work, else 3); 1 or 3 */
	unsigned timeout_ms;     /* 0: none */
	bool cancellable;        /* cancel_fd is set: */
	int cancel_fd;           /* readable: the command is stopped (sbx_plan.cancel_fd);
				  * the job then could not run, res.err "cancelled" */
	unsigned long long seed; /* deterministic randomness (level 1) */
	bool keep;               /* leave R in place (its path is in the report) */
	bool trusted_source;     /* the source is this worker's own store, every blob
				  * verified when it was written (the Lambda worker's,
				  * filled by s3.h's verified GETs): inputs enter the
				  * cache as hard links of its blobs (wcache_adopt; an
				  * executable's blob is made 0555 for that), not as
				  * verified copies, so /tmp holds each blob once */
};

struct worker_report {
	struct gg_hash thunk;
	struct engine_result res;   /* ran, status, level, outputs, err, undeclared */
	char *root;                 /* R (malloc'd) */
	char *stdout_tail, *stderr_tail; /* last WORKER_TAIL_MAX bytes (malloc'd) or NULL */
	uint64_t fetch_ms, run_ms, store_ms;
	uint64_t upload_ms;         /* set by a caller that uploaded the outputs */
	bool uploaded;              /* upload_ms is set (the Lambda worker's answer) */
	uint64_t inputs;            /* files placed in R */
	bool timed_out;             /* the command was stopped at opts.timeout_ms (its
				     * status is then 128 + SIGKILL); not in the packed
				     * report */
	struct wcache_stats cache;
	bool probed;                /* the level was chosen by sbx_probe: */
	bool host_userns, host_seccomp; /* what the host allows (sbx_caps) */
};

void worker_report_release(struct worker_report *r);

/*
 * Run thunk `h` as described above, filling rep (zeroed here).  0 when the command
 * ran, whatever its status (rep->res.status; a missing output makes it 1 with
 * rep->res.err), or -errno when it could not (rep->res.err says why).
 */
int worker_exec(const struct worker_opts *o, const struct gg_hash *h,
		struct worker_report *rep);

/*
 * The report as one JSON object:
 *   {"thunk":"T..","ran":true,"status":0,"level":3,
 *    "outputs":[{"path":"/x/a.o","value":"V..","mode":33188}],
 *    "error":null,"undeclared":null,"stdout_tail":"","stderr_tail":"",
 *    "times_ms":{"fetch":1,"run":20,"store":1},
 *    "cache":{"hits":60,"misses":3,"fetched_bytes":123},"inputs":63,"root":"/tmp/gg/r/..",
 *    "host":{"userns":false,"seccomp":false}}     (host: when the level was probed)
 * An output's value is null when unset (a file the command removed); times_ms has
 * "upload" too when the report says it was uploaded (the Lambda worker's answer,
 * lambda_proto.h).
 */
int worker_report_json(const struct worker_report *r, struct json *j);

/*
 * The report for another process (the isolated engine reads its worker's stdout):
 * one msgpack array of 11 elements, format version 1:
 *   0 magic "ggwreport"  1 version 1  2 ran bool  3 status int  4 level int
 *   5 outputs: array of [path str, value str (printed hash), mode uint]
 *   6 error str|nil  7 undeclared str|nil  8 stderr tail str
 *   9 times: array [fetch_ms, run_ms, store_ms]  10 inputs uint
 * worker_report_pack appends it to sb (-ENOMEM); worker_report_unpack fills r
 * (zeroed first) and returns 0, -EBADMSG (not such an array, or trailing bytes),
 * -EPROTONOSUPPORT (another version) or -ENOMEM.
 */
int worker_report_pack(const struct worker_report *r, struct sbuf *sb);
int worker_report_unpack(const void *buf, size_t len, struct worker_report *r);

/* ---- making a thunk portable -------------------------------------------------- */

/*
 * A copy of `th` that a worker can run with nothing but blobs (into *out, initialised
 * here): every reference replaced by the VALUE `resolve` gives (thunk.h's resolver;
 * NULL: the contents the file at the input's path has now, put into `st`),
 * and every symbolic link among the exe, inputs and objects followed on THIS host
 * (the kernel follows them without the shim seeing it: /usr/bin/cc ->
 * /etc/alternatives/cc -> ..., libgmp.so.10 -> libgmp.so.10.4.1) with each target
 * that is a file or a link added as an input (its blob put into `st`), and the
 * locale files of its LANG / LC_* (/usr/lib/locale/C.utf8/...: glibc reads them
 * unseen) added as inputs.  Every blob the
 * copy names must be in `st` afterwards: those missing are put from the host's file
 * at their path, and -ESTALE is returned if that file no longer has the recorded
 * hash.  The copy is canonical; its hash is the caller's (thunk_hash).
 */
int worker_portable(struct store *st, const struct thunk *th, thunk_resolve_fn *resolve,
		    void *ctx, struct thunk *out, char *err, size_t errlen);

/*
 * Link (or copy) into the store at `dir` (created: blobs/ and tmp/) the thunk blob
 * `h` of `from` and every VALUE blob it names: what a worker needs.  *bytes (may be
 * NULL) gets the bytes of the blobs named.
 */
int worker_export(const struct store *from, const struct gg_hash *h, const char *dir,
		  uint64_t *bytes);

#endif
