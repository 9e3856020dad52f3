/*
 * audit.h - what a recorded build really depended on, checked against what its build
 * system declares (`gg audit`).
 *
 * Inputs: the graph (`gg infer`: .gg/graph, thunks in the store) and the recording
 * (.gg/trace: which build driver, make or ninja, ran each command, in which
 * directory, with which arguments and environment).  Reports:
 *
 *   edges      every edge of the graph into a pure thunk (the consumer read a file
 *              another command of the same build produced) checked against the build
 *              system's own graph, asked of the driver that ran the consumer
 *              (audit_db.h: `make -pnq`, `ninja -t query/deps`):
 *                OK          the consumer's target depends on the file (or on the
 *                            producer's target) through prerequisites that rebuild
 *                            and order it, directly or through intermediate targets;
 *                INTERNAL    both commands belong to one target's recipe (ar then
 *                            ranlib), or the file is a temporary of one recipe;
 *                MISSING     the target does not depend on it at all: a change to the
 *                            file does not rebuild the target, and a parallel build may
 *                            run the consumer first (the recorded order was luck);
 *                ORDER_ONLY  only order-only prerequisites lead there: clean builds are
 *                            ordered, but a change to the file does not rebuild the
 *                            target;
 *                DEPFILE_ONLY only a dependency file the build itself wrote declares
 *                            it (an included .d/.Po, ninja's deps log): rebuilds are
 *                            right, but on a clean build nothing orders the two
 *                            commands (unless an enclosing make ordered them: a
 *                            recursive make run after the file was made, or both
 *                            inside one recipe, which counts as OK);
 *                UNCHECKED   gg cannot tell: no driver ran the consumer, the driver
 *                            could not be queried, or its command builds no target the
 *                            build system names.
 *              ORDER_ONLY and DEPFILE_ONLY are the "works by luck of ordering" list.
 *   system     every file read from outside the build and source trees, by the Debian
 *              package that owns it (audit_dpkg.h), with versions.
 *   why        the input closure of an output.
 *   rdeps      every output that would change if a file changed.
 *   compile-commands  the Clang compilation database, from the recorded compiler
 *              runs, in the form bear writes.
 *   pictures   Graphviz drawings of the graph with clusters and colours.
 *
 * Ownership: struct audit owns what it loads and every result array it hands out
 * until the matching *_release.  Errors: 0 or -errno with a message in err; problems
 * that leave a usable answer (an old graph, a recording from elsewhere) are added to
 * audit.warnings.  Nothing here prints except audit_graph_dot, which writes the
 * drawing to the FILE it is given.
 */
#ifndef GG_AUDIT_H
#define GG_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "inferer/audit/audit_db.h"
#include "runtime/ir/graph.h"
#include "runtime/store/store.h"
#include "runtime/ir/thunk.h"
#include "runtime/trace/trace_read.h"
#include "runtime/lib/util.h"

struct audit_opts {
	const char *trace_dir;   /* NULL: <ggdir>/trace */
	const char *source_tree; /* NULL: found from CMakeCache.txt, meson-info, Makefile */
};

struct audit_priv;

struct audit {
	char *ggdir;
	struct graph g;
	bool have_graph;
	struct trace t;
	bool have_trace;
	struct store st;
	bool have_store;
	struct thunk *thunks;     /* per graph node, decoded; have_thunk says which */
	bool *have_thunk;
	char *tree;               /* the build tree */
	struct strlist sources;   /* source trees other than the build tree */
	struct strlist warnings;  /* problems the user should hear about */
	struct audit_priv *priv;
};

/*
 * Load what the .gg directory holds: the graph and its thunks, the recording.  Fails
 * (-ENOENT, "no recording in '<ggdir>' ...") only when there is neither; each report
 * says what it lacks with audit_need().
 */
int audit_open(struct audit *a, const char *ggdir, const struct audit_opts *o, char *err,
	       size_t errlen);
void audit_release(struct audit *a);

/* Needs: AUDIT_NEED_GRAPH, AUDIT_NEED_TRACE.  0 or -ENOENT with a hint in err. */
#define AUDIT_NEED_GRAPH 1u
#define AUDIT_NEED_TRACE 2u
int audit_need(const struct audit *a, unsigned what, char *err, size_t errlen);

/* Where a path is. */
enum audit_place { AUDIT_IN_TREE, AUDIT_IN_SOURCE, AUDIT_OUTSIDE };
enum audit_place audit_place(const struct audit *a, const char *path);
/* A path for people: relative to the build tree when inside it, else as is. */
const char *audit_rel(const struct audit *a, const char *path);

/* ---- edges ---------------------------------------------------------------------------- */

enum audit_status {
	AUDIT_OK = 0,
	AUDIT_INTERNAL,
	AUDIT_MISSING,
	AUDIT_ORDER_ONLY,
	AUDIT_DEPFILE_ONLY,
	AUDIT_UNCHECKED,
	AUDIT__NSTATUS
};

/* "ok", "internal", "missing", "order-only", "depfile-only", "unchecked" */
const char *audit_status_name(enum audit_status s);

struct audit_edge {
	size_t consumer, producer; /* graph nodes */
	char *path;                /* the file read (absolute) */
	char *target;              /* the consumer's target (absolute), NULL if none */
	char *producer_target;     /* the producer's target in the same database, or NULL */
	enum audit_status status;
	char *why;                 /* detail: depfile, what ordered it, why unchecked; or NULL */
	long driver;               /* index in audit_edges.drivers, -1 */
};

struct audit_driver {
	enum bdb_kind kind;       /* BDB_NONE: a driver gg cannot query (cmake, meson, ...) */
	char *name;               /* "make", "ninja", ... (the program's base name) */
	char *cwd;                /* where it started */
	char *dir;                /* where it worked (make's CURDIR, ninja's -C), if known */
	char *argv;               /* its argv, joined with spaces (for messages) */
	long parent;              /* the driver that ran it, -1 */
	long db;                  /* internal: its database, -1 if none */
	char *error;              /* why it could not be queried, or NULL */
	size_t commands;          /* graph nodes it ran */
};

struct audit_edges {
	struct audit_edge *v;
	size_t n;
	struct audit_driver *drivers;
	size_t ndrivers;
	size_t count[AUDIT__NSTATUS];
	size_t skipped_local;     /* edges into local-only thunks (not checked) */
	size_t queries;           /* build-system databases read */
};

/*
 * The verdict on one edge from one database, before enclosing drivers are asked:
 * does one of targets[0..nt) reach one of goals[0..ng) (the file read, the producer's
 * targets) through prerequisites that rebuild (NORMAL, DEPFILE) and through ones that
 * order (NORMAL, ORDER)?  AUDIT_OK, AUDIT_MISSING, AUDIT_ORDER_ONLY or
 * AUDIT_DEPFILE_ONLY; -ENOMEM.
 */
int audit_edge_status(struct bdb *db, const long *targets, size_t nt, const long *goals,
		      size_t ng);

/* Check every edge (see the top of this file).  Edges are in graph order. */
int audit_edges_run(struct audit *a, struct audit_edges *out, char *err, size_t errlen);
void audit_edges_release(struct audit_edges *e);

/* ---- system files -------------------------------------------------------------------------- */

struct audit_sysfile {
	char *path;
	char *owner;        /* "pkg[:arch][, ...]", "" no package, NULL unknown (no dpkg) */
	size_t readers;     /* thunks that read or ran it */
	bool tool;          /* an executable, loader or shared object */
};

struct audit_package {
	char *name;         /* as dpkg names it: "libc6-dev:amd64" */
	char *version;      /* "" if unknown */
	size_t *files;      /* indexes into audit_system.files */
	size_t nfiles;
};

struct audit_system {
	struct audit_sysfile *files; /* sorted by path */
	size_t nfiles;
	struct audit_package *pkgs;  /* sorted by name */
	size_t npkgs;
	size_t unowned;              /* files no package owns */
	bool dpkg;                   /* ownership was looked up */
	char *dpkg_error;            /* why not, or NULL */
	size_t dpkg_runs, cached;    /* dpkg processes run; paths answered by the cache */
};

/* Files read from outside the trees, with their packages (cache: <ggdir>/dpkg-cache). */
int audit_system(struct audit *a, struct audit_system *out, char *err, size_t errlen);
void audit_system_release(struct audit_system *s);

/* Is this image a build driver (make, ninja, samu, meson, cmake --build)?  *kind says
 * whether gg can query it (BDB_NONE: no); *name (may be NULL) its program name. */
bool audit_is_driver(const struct trace_image *im, enum bdb_kind *kind, const char **name);

/* ---- why, rdeps ---------------------------------------------------------------------------- */

/*
 * The node producing `path` (absolute, or relative to the current directory or the
 * build tree) and its input closure: nodes[0] is that node, then every thunk whose
 * output it transitively read, each once (caller frees *nodes).  -ENOENT if no thunk
 * produced the path.
 */
int audit_why(struct audit *a, const char *path, size_t **nodes, size_t *n, char *err,
	      size_t errlen);

enum audit_rdep_how { AUDIT_READS, AUDIT_RUNS, AUDIT_PROBES, AUDIT_VIA };

struct audit_rdep {
	size_t node;
	size_t depth;              /* 0: reads the file itself */
	long via;                  /* for depth > 0: the node whose output it read */
	enum audit_rdep_how how;
};

/*
 * Every thunk whose outputs would change if `path` changed (or appeared, for a path
 * a thunk probed and found missing): readers first, then their consumers, breadth
 * first (caller frees *out).  An unknown path gives 0 results, not an error.
 */
int audit_rdeps(struct audit *a, const char *path, struct audit_rdep **out, size_t *n,
		char *resolved, size_t rcap);

/* ---- compile_commands.json ----------------------------------------------------------------- */

struct audit_cc {
	char *file;       /* absolute */
	char *directory;
	char *output;     /* absolute, or NULL */
	struct strlist args;
};

/* Is `name` (a base name) a C/C++ compiler driver: cc, gcc, g++, clang, c++, with
 * version suffixes and target prefixes (x86_64-linux-gnu-gcc-12)? */
bool audit_cc_is_compiler(const char *name);

/*
 * The entries of one compiler run: `compiler` is argv[0] as bear writes it (the path
 * executed), argv[1..argc) its arguments, cwd its directory.  Appends to *v and *n (one
 * per source file; none for link-only, -E, -M/-MM without -MD, -fsyntax-only runs).
 * Arguments are put in bear's form: [compiler, flags..., -c|-S, -o OUTPUT, SOURCE],
 * without the dependency-file options (-M*, -MF/-MT/-MQ and their values).
 */
int audit_cc_entries(const char *compiler, const char *const *argv, size_t argc,
		     const char *cwd, struct audit_cc **v, size_t *n, size_t *alloc);

/* Every compile of the recording, in start order. */
int audit_compile_commands(const struct trace *t, struct audit_cc **v, size_t *n);
void audit_cc_free(struct audit_cc *v, size_t n);

/* ---- pictures --------------------------------------------------------------------------------- */

/* Node marks (bits) */
#define AUDIT_DOT_LOCAL 0x1    /* local-only thunk */
#define AUDIT_DOT_CACHED 0x2   /* its result is in the cache */
#define AUDIT_DOT_MISSING 0x4  /* reads a file its target does not depend on */
#define AUDIT_DOT_LUCK 0x8     /* an edge into it holds by luck of ordering */

struct audit_dot_edge {
	size_t from, to;          /* producer, consumer (graph nodes) */
	const char *path;         /* the file (label of the edge) */
	enum audit_status status; /* MISSING, ORDER_ONLY or DEPFILE_ONLY */
};

struct audit_dot {
	const uint8_t *marks;               /* per node, may be NULL */
	const struct audit_dot_edge *edges; /* highlighted edges */
	size_t nedges;
	bool only_marked;  /* draw only the nodes of highlighted edges (and say so) */
	bool clusters;     /* group nodes by the directory of their label */
};

/*
 * Write the graph as Graphviz dot: one box per thunk labelled with its main output,
 * clustered by directory (relative to the build tree), local-only thunks orange,
 * cached ones green, consumers of missing edges with a red border, missing edges
 * red and bold with the file as label, edges by luck orange and dashed, and a legend.
 * Labels are escaped for dot, invalid UTF-8 bytes shown as their Latin-1 reading.
 * 0 or -EIO.  `d` may be NULL (clusters and local-only colours only).
 *
 * Hook for `gg graph --dot`: audit_graph_dot(stdout, &g, &(struct audit_dot){
 * .marks = marks, .clusters = true }), with marks from audit_dot_marks() (local-only
 * bits from the graph alone when `e` is NULL).
 */
int audit_graph_dot(FILE *out, const struct graph *g, const struct audit_dot *d);

/*
 * Marks and highlighted edges from a graph and (optionally) an edge audit: *marks
 * (g->n bytes) and *edges (the MISSING, ORDER_ONLY and DEPFILE_ONLY edges); caller
 * frees both.  0 or -ENOMEM.
 */
int audit_dot_marks(const struct graph *g, const struct audit_edges *e, uint8_t **marks,
		    struct audit_dot_edge **edges, size_t *nedges);

/* Append `s` to sb as the body of a dot string (quotes, backslashes, newlines escaped). */
int audit_dot_escape(struct sbuf *sb, const char *s);

#endif
