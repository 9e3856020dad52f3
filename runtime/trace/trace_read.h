/*
 * trace_read.h - read a gg trace (shim/trace_format.h) into memory: process images,
 * their events, the process tree and each image's exit.
 *
 * Usage:
 *
 *     struct trace t = TRACE_INIT;
 *     struct strlist warnings = STRLIST_INIT;
 *     if (trace_open_dir(&t, ".gg/trace", &warnings) < 0)
 *             die("%s", t.error);
 *     for (size_t i = 0; i < t.nimages; i++) {
 *             const struct trace_image *im = t.images[i];
 *             for (size_t k = 0; k < im->nevents; k++)
 *                     use(&im->events[k]);
 *     }
 *     trace_release(&t);
 *     strlist_release(&warnings);
 *
 * Reading.  Every "*.ggt" file of the directory not starting with '.' is a trace
 * file, read with one read(2) into a scratch buffer; its header says its layout
 * (shim/trace_format.h).  A version-1 log is one image.  A version-2 segment holds
 * many: its records are framed first (sync, header check, length, payload check),
 * grouped by image identity (pid, start) in file order, and each image is then read
 * as a version-1 log is; images come out in the order of their first record.
 * Records are decoded one by one (checksum first, then msgpack-c's
 * msgpack_unpack_next) and validated before decoding so that a container length
 * cannot make the decoder allocate more than a small multiple of the record's size.
 * Problems are handled this way:
 *
 *   empty file, file shorter than the header, bad magic, no PROC record first
 *       the file (in a segment: the image) is skipped, with a warning;
 *   torn tail of a log (cut header, cut payload, bad length or bad checksum)
 *       the records before it are kept, the rest of the file is skipped, with the
 *       warning "<file>: torn record at offset N, skipped K bytes";
 *   torn record in a segment (anywhere: a process killed inside a write, a full
 *   disk, a cut tail)
 *       the bytes up to the next good frame are skipped with the same warning,
 *       kept also on the image the torn record belongs to (named by its header
 *       when sync and header check are intact, else the image of the record
 *       before it); every later record is read;
 *   a record that passes its checksum but is not a well-formed record
 *       that record is skipped, with the warning "<file>: malformed record at
 *       offset N, skipped"; reading goes on.  This includes a payload that is not
 *       exactly one msgpack array: an array that ends before the payload does is
 *       "<file>: malformed record at offset N: K bytes after its end, skipped".
 *       In a segment "<file>" reads "<file>: image <log id>";
 *   unknown record types and fields past the known ones
 *       ignored silently (trace_format.h: they do not bump the version);
 *   a version newer than GG_TRACE_VERSION
 *       the whole read fails with -EPROTONOSUPPORT: a partial view of a trace
 *       could yield a wrong build graph, so the user is asked to upgrade.
 *
 * Warnings are "<file>: <what>" strings, appended to the caller's strlist (when not
 * NULL) and also kept on the image they concern (trace_image.warnings).  Fatal
 * errors return -errno and leave a message in trace.error ("cannot open trace
 * directory '<dir>': No such file or directory"); nothing is ever printed.
 *
 * Linking (trace_link(), done by trace_open_dir()).  Images are sorted by the time
 * of their PROC record, then:
 *
 *   origin FORK  parent = the image named by parent_log                  (LINK_FORK)
 *   origin EXEC  parent = the latest earlier image of the same pid whose last EXEC
 *                record has no EXECFAIL after it and that no other image already
 *                continues                                            (LINK_EXEC)
 *                else the latest earlier image of pid == ppid holding a SPAWN
 *                record whose ret is this pid                        (LINK_SPAWN)
 *   any other    when the rules above find nothing and the origin is not ROOT:
 *                the latest earlier image of pid == ppid              (LINK_PPID)
 *                This is the common case of fork + exec: the shim writes no image
 *                for a fork child whose first act is a successful exec (see
 *                shim/wrap_exec.c), so the new image links straight to the
 *                process that forked it.  system(), popen() and children of
 *                unrecorded (static) programs land here too.
 *   origin ROOT  no parent                                            (LINK_NONE)
 *
 * An EXEC image for which these rules find no parent at all has no recorded
 * ancestor, which is what trace_format.h calls a root: its `origin` becomes ROOT
 * (`origin_recorded` keeps what the shim wrote).  This is how the command that
 * `gg record` starts is seen: gg exports GG_TRACE_DIR, so the shim in that first
 * image cannot tell it has no recorded parent.
 *
 * and each image's exit is, in order of preference: exec'd (another image
 * continues it: the path of its last EXEC record); the first WAIT record, in any
 * image of pid == ppid, for this pid at or after this image's start (signal or
 * status; stop/continue reports are ignored); its own EXIT record with a known
 * status (exit/_exit: status & 0xff); an EXIT from the library destructor (normal
 * termination, status unknown); else unknown.  An image that wrote its records in
 * batches (PROC's batched, trace format version 3) and has no EXIT record of its own
 * and no exec is cut short: killed before it wrote its last batch, maybe.
 *
 * Ownership.  The struct trace owns everything reachable from it: the image array,
 * the images, their events, every string and array they point to.  All of it lives
 * in an arena freed by trace_release(); pointers stay valid until then (adding
 * files and re-linking never moves an image or an event).  Strings are
 * NUL-terminated copies of the recorded bytes (not necessarily UTF-8); a string
 * vector's v[n] is NULL and v is never NULL.
 *
 * Memory.  Strings and events are copied once into the arena; a file's raw bytes
 * and msgpack's per-record zone are scratch, reused from file to file.  The arena
 * is capped at trace.mem_cap bytes (0: TRACE_DEFAULT_MEM_CAP); past it reading
 * fails with -EFBIG.
 */
#ifndef GG_TRACE_READ_H
#define GG_TRACE_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shim/trace_format.h"
#include "runtime/lib/util.h"

#define TRACE_DEFAULT_MEM_CAP ((size_t)8 << 30)

/* A vector of strings: v[0..n), v[n] == NULL, v never NULL. */
struct trace_strv {
	const char *const *v;
	uint32_t n;
};

/* One posix_spawn file action (SPAWN records). */
struct trace_action {
	uint8_t op; /* enum gg_spawn_op */
	int32_t fd, fd2;
	int32_t flags;
	uint32_t mode;
	const char *path; /* "" when the action has none */
};

/*
 * One record after the PROC record of a log.  The top-level fields are shared by
 * the record types that have them (else 0 / NULL); the union holds the rest.
 */
struct trace_event {
	uint8_t type; /* enum gg_rec */
	uint16_t fn;  /* enum gg_fn; 0 for OBJS and EXIT */
	int32_t err;  /* errno left by the call, 0 on success (also NET) */
	uint64_t t;   /* CLOCK_MONOTONIC ns */
	const char *path; /* OPEN STAT LIST NS CHDIR EXEC EXECFAIL SPAWN */
	int64_t ret;      /* OPEN STAT LIST NS CHDIR FD SPAWN NET */
	union {
		struct { int32_t flags; uint32_t mode; } open;
		struct { int32_t flags; int32_t ftype; const char *target; } stat;
		struct { struct trace_strv names; bool truncated; } list;
		struct { const char *path2; int64_t arg; } ns;
		struct { int64_t fd, fd2; } fd;
		struct { struct trace_strv argv, env; bool opaque; } exec;
		struct {
			struct trace_strv argv, env;
			bool opaque;
			uint32_t nactions;
			const struct trace_action *actions;
		} spawn;
		struct { int64_t pid; int32_t status; } wait; /* raw wait status */
		struct { uint8_t how; int32_t status; } exit; /* enum gg_exit_how */
		struct { const char *interp; struct trace_strv objects; } objs;
		struct { int32_t ftype; bool tty; } stdin_; /* fd 0's S_IFMT >> 12, isatty */
		struct { int32_t domain, type; } net;      /* socket(2)'s arguments */
	} u;
};

enum trace_link {
	TRACE_LINK_NONE = 0, /* a root, or nothing found */
	TRACE_LINK_FORK,     /* parent forked this image */
	TRACE_LINK_EXEC,     /* parent is the same process before it exec'd this image */
	TRACE_LINK_SPAWN,    /* parent posix_spawn'ed this image */
	TRACE_LINK_PPID,     /* parent is the parent process's image (fork + exec) */
};

enum trace_exit_kind {
	TRACE_EXIT_UNKNOWN = 0,
	TRACE_EXIT_STATUS, /* code = exit status */
	TRACE_EXIT_SIGNAL, /* code = signal number */
	TRACE_EXIT_EXEC,   /* path = what the image exec'd */
	TRACE_EXIT_NORMAL, /* terminated normally, status unknown */
};

struct trace_exit {
	enum trace_exit_kind kind;
	int code;
	const char *path;
};

/* One process image: a version-1 log, or the records of one image in a segment. */
struct trace_image {
	const char *log;  /* log id "<pid>-<start>": a log's file name without ".ggt" */
	const char *file; /* the path the log or segment was read from */

	/* from the PROC record */
	int64_t pid, ppid;
	uint8_t origin;          /* enum gg_origin, as linking found it (see above) */
	uint8_t origin_recorded; /* enum gg_origin, as the PROC record says */
	uint64_t t;     /* the PROC record's time (CLOCK_MONOTONIC) */
	uint64_t start_ns;
	const char *exe, *execfn, *cwd;
	const char *parent_log; /* "" unless origin FORK */
	struct trace_strv argv, env;
	uint32_t umask, uid, gid;
	int32_t stdio[3]; /* S_IFMT >> 12 of fds 0..2, -1 if closed */
	bool batched;     /* wrote its records in batches (trace_format.h) */

	/* from the OBJS records: the first non-empty interp (or NULL), all objects */
	const char *interp;
	struct trace_strv objects;

	struct trace_event *events; /* records after PROC, in log order */
	size_t nevents;
	struct trace_strv warnings; /* about this log */

	/* filled by trace_link() */
	size_t index;                  /* position in trace.images */
	struct trace_image *parent;    /* see enum trace_link; NULL for roots */
	enum trace_link link;
	struct trace_image *exec_next; /* the image that continued this one by exec */
	struct trace_image **children; /* images whose parent is this one, by start */
	size_t nchildren;
	struct trace_exit exit;
	/* batched, and ended neither by exec nor with its own EXIT record (killed, or
	 * still running when the trace was read): its last records may be missing */
	bool cut_short;
};

struct trace_priv;

struct trace {
	struct trace_image **images; /* sorted by start once linked */
	size_t nimages;
	size_t mem_cap;   /* arena cap in bytes; 0: TRACE_DEFAULT_MEM_CAP */
	char error[1024]; /* the message of the last fatal error */
	struct trace_priv *priv;
};

#define TRACE_INIT { .images = NULL, .nimages = 0, .mem_cap = 0, .error = "", .priv = NULL }

/* Empty trace (same as TRACE_INIT); set mem_cap after it if wanted. */
void trace_init(struct trace *t);
/* Free everything the trace owns; it is empty (and reusable) afterwards. */
void trace_release(struct trace *t);

/*
 * Read every log of `dir` (in name order) and link them.  Initialises *t first
 * (whatever it held is overwritten, not freed), so the default memory cap applies;
 * for another cap, trace_init(), set mem_cap, then trace_add_file() each log and
 * trace_link().  Returns 0, or -errno with t->error set; in both cases the caller
 * calls trace_release(t).  A directory without logs is not an error.
 */
int trace_open_dir(struct trace *t, const char *dir, struct strlist *warnings);

/*
 * Add one trace file (a log or a segment) to an initialised trace: a file, or bytes
 * already in memory (`path` then only names it: a log's base name gives its log id,
 * and it prefixes the warnings).  Returns 0 (also when the log was skipped with a warning) or -errno
 * with t->error set.  Call trace_link() after the last one.
 */
int trace_add_file(struct trace *t, const char *path, struct strlist *warnings);
int trace_add_buf(struct trace *t, const char *path, const void *data, size_t len,
		  struct strlist *warnings);

/* Sort the images and (re)compute parents, children and exits.  0 or -ENOMEM. */
int trace_link(struct trace *t);

/* The image with this log id, or NULL (needs trace_link()). */
struct trace_image *trace_find(const struct trace *t, const char *log);

/* Names for the enums, for dumps and messages.  Never NULL ("?" when unknown). */
const char *trace_fn_name(unsigned fn);       /* "openat" */
const char *trace_rec_name(unsigned type);    /* "open" */
const char *trace_origin_name(unsigned origin); /* "root" "fork" "exec" */
const char *trace_exit_how_name(unsigned how);  /* "exit" "_exit" "dtor" */
const char *trace_spawn_op_name(unsigned op);   /* "open" "close" "dup2" ... */
const char *trace_link_name(enum trace_link link);

#endif
