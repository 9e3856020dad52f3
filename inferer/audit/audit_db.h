/*
 * audit_db.h - what a build system declares, in one form: files, the prerequisites
 * each target declares, and the questions the edge audit asks of them.
 *
 * Sources (each a parser of the tool's own text output, so that the parsers can be
 * tested on fixture strings and the tools are only run by bdb_query_*):
 *
 *   Make    `make -pnq` (GNU make's database: no recipe runs) in the directory and
 *           with the arguments and environment the recorded make had.  Explicit
 *           rules, double-colon rules, order-only prerequisites (after '|'), pattern
 *           and suffix rules (make prints suffix rules as pattern rules), vpath and
 *           VPATH, and every makefile it read (MAKEFILE_LIST), included dependency
 *           files (.d, .Po) among them.  Implicit rules are applied lazily, the way
 *           make would for a file without a recipe: the first pattern rule (in make's
 *           order) whose prerequisites exist or are named in the database.  Chains of
 *           implicit rules through files that do not exist are not followed.
 *   Ninja   `ninja -t targets all` (every output), `ninja -t query OUTPUT...`
 *           (explicit, implicit '|' and order-only '||' inputs) and `ninja -t deps`
 *           (the deps log: what depfiles reported).
 *
 * Dependency kinds (enum bdb_dep): NORMAL prerequisites rebuild their target and
 * order it; ORDER (order-only) prerequisites only order it; DEPFILE ones were
 * reported by a dependency file that the build itself wrote (an included .d/.Po that
 * is an output of the recording, or ninja's deps log): they rebuild the target on
 * the next build, but on a clean build they do not exist yet, so they order nothing.
 * A pair holds a set of kinds (order-only plus a dependency file is the usual idiom
 * for generated headers: ordered on the first build, rebuilt on the next ones).
 * bdb_mark_depfile() turns a NORMAL pair declared by such a file into DEPFILE; the
 * database cannot tell when the same pair was also written in a hand-written
 * makefile (make's database does not say where a prerequisite came from), so such
 * a pair counts as DEPFILE too.
 *
 * Names: every file is kept as an absolute, lexically normal path (relative names are
 * taken against the tool's directory, CURDIR for make).  Make prints names with
 * spaces unescaped: a prerequisite list is split greedily into the longest names the
 * database knows (every prerequisite has an entry of its own).
 *
 * Ownership: struct bdb owns every string and array in it.  Errors: 0 or -errno with
 * a message in the caller's buffer; nothing prints.  Limits: a database holds at most
 * BDB_MAX_NODES files; tool output is read up to BDB_MAX_OUTPUT bytes.
 */
#ifndef GG_AUDIT_DB_H
#define GG_AUDIT_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/lib/util.h"

#define BDB_MAX_NODES (1u << 24)
#define BDB_MAX_OUTPUT ((size_t)512 << 20)

enum bdb_kind { BDB_NONE = 0, BDB_MAKE = 1, BDB_NINJA = 2 };

enum bdb_dep {
	BDB_NORMAL = 1u << 0,  /* rebuilds and orders */
	BDB_ORDER = 1u << 1,   /* order-only */
	BDB_DEPFILE = 1u << 2, /* from a dependency file the build wrote */
};

/* struct bdb_node.flags */
#define BDB_F_TARGET 0x01   /* a rule builds it (make: an explicit target; ninja: an output) */
#define BDB_F_RECIPE 0x02   /* its rule has a recipe (make) */
#define BDB_F_PHONY 0x04    /* .PHONY (make) or the phony rule (ninja) */
#define BDB_F_SUBMAKE 0x08  /* its recipe runs $(MAKE) or has a '+' line (make) */
#define BDB_F_IMPLICIT 0x10 /* implicit rule search done (make) */
#define BDB_F_NAMED 0x20    /* named by a rule as target or prerequisite */

struct bdb_dep_ref {
	uint32_t node;
	uint8_t kind;    /* a set of enum bdb_dep bits */
	uint32_t origin; /* DEPFILE: 1 + index in bdb.depfiles, else 0 */
};

struct bdb_node {
	char *path;
	uint32_t flags;
	struct bdb_dep_ref *deps;
	uint32_t ndeps, adeps;
};

/* A pattern rule (make): "%.o: %.c | dir" */
struct bdb_rule {
	struct strlist targets, prereqs, order;
	bool terminal; /* double-colon */
	bool recipe;
};

struct bdb_vpath {
	char *pattern;        /* "%.c"; NULL for the general VPATH */
	struct strlist dirs;  /* absolute */
};

struct bdb {
	enum bdb_kind kind;
	char *dir;                  /* CURDIR (make) or the build directory (ninja) */
	bool dir_fixed;             /* make: dir was set before parsing, ignore CURDIR */
	struct bdb_node *nodes;
	size_t n, alloc;
	struct htab ix;             /* str_hash(path) -> node */
	struct bdb_rule *rules;     /* make's pattern rules, in search order */
	size_t nrules, arules;
	struct bdb_vpath *vpaths;
	size_t nvpaths;
	struct strlist makefiles;   /* MAKEFILE_LIST, absolute */
	char *default_goal;         /* .DEFAULT_GOAL (make), absolute, or NULL */
	struct strlist depfiles;    /* sources of DEPFILE pairs ("" for ninja's deps log) */
	uint32_t *seen;             /* reachability scratch: generation per node */
	uint32_t gen;
	size_t seen_alloc;
};

#define BDB_INIT { .kind = BDB_NONE }

void bdb_init(struct bdb *db, enum bdb_kind kind, const char *dir);
void bdb_release(struct bdb *db);

/* The node of an absolute normal path, or -1.  bdb_node_get creates it. */
long bdb_find(const struct bdb *db, const char *abs);
long bdb_node_get(struct bdb *db, const char *abs);
/* Add a dependency target -> prereq (names relative to db->dir or absolute); the
 * kind is added to the kinds the pair already has. */
int bdb_add_dep(struct bdb *db, const char *target, const char *prereq, enum bdb_dep kind,
		uint32_t origin);

/*
 * Parsers.  bdb_parse_make reads the output of `make -pnq` (db->dir becomes CURDIR
 * when the database names it; `cwd` is the fallback).  bdb_parse_ninja_query reads
 * `ninja -t query` output, bdb_parse_ninja_deps `ninja -t deps` output (its pairs are
 * DEPFILE), bdb_parse_ninja_targets the outputs of `ninja -t targets all` into a
 * list of names.  Unknown lines are skipped.  0, -ENOMEM or -E2BIG.
 */
int bdb_parse_make(struct bdb *db, const char *text, size_t len, const char *cwd);
int bdb_parse_ninja_query(struct bdb *db, const char *text, size_t len);
int bdb_parse_ninja_deps(struct bdb *db, const char *text, size_t len);
int bdb_parse_ninja_targets(const char *text, size_t len, struct strlist *out);

/*
 * A dependency file the build wrote (make syntax: "t...: p... \" lines; variables,
 * recipes and comments ignored), named `name` in messages: each of its pairs that
 * the database holds becomes DEPFILE, and those it lacks are added as DEPFILE.
 */
int bdb_mark_depfile(struct bdb *db, const char *name, const char *text, size_t len);

/*
 * Is `node` built by a rule?  For make, a file without an explicit rule is a target
 * when an implicit rule applies to it (searched here, once).
 */
bool bdb_is_target(struct bdb *db, long node);

/*
 * Does `from` depend on one of goals[0..n), following only dependencies whose kind
 * is in `kinds` (a mask of enum bdb_dep), through any number of files?  Implicit
 * rules are applied on the way (make).  1 yes, 0 no, -ENOMEM.
 */
int bdb_reach(struct bdb *db, long from, const long *goals, size_t n, unsigned kinds);

/* The origin (depfile name) of the pair from -> to if it has DEPFILE, else NULL. */
const char *bdb_pair_depfile(const struct bdb *db, long from, long to);

/*
 * A target with a sub-make recipe that depends on a goal through NORMAL and ORDER
 * dependencies: a recursive make that runs only after the goal was built.  When
 * roots[0..nroots) are given (the goals the recorded make was asked for), only such
 * targets among the roots and what they depend on count.  The node, or -1.
 */
long bdb_submake_after(struct bdb *db, const long *goals, size_t n, const long *roots,
		       size_t nroots);

/* ---- running the tools ------------------------------------------------------------- */

/*
 * How the recorded driver ran: the executable, argv (argv[0] included), environment
 * and directory, as recorded.  For make, `read_files` are the files the recorded
 * make read (its makefiles): they are passed as -o FILE so that no makefile is
 * remade while the database is printed.
 */
struct bdb_invocation {
	const char *exe;
	const char *const *argv;
	size_t argc;
	const char *const *env;
	size_t envc;
	const char *cwd;
	const char *const *read_files;
	size_t nread;
};

/*
 * The arguments for the query: make's recorded argv without its goals and without
 * the options that would print or run anything (-j, -l, -d, -p, -n, -q, -t, -w, -O,
 * --trace, ...), then -p -n -q --no-print-directory, a dummy goal and -o for each
 * read file.  bdb_make_flags filters MAKEFLAGS the same way (jobserver, -j, w);
 * returns a new string (caller frees) or NULL on ENOMEM.
 */
int bdb_make_args(const struct bdb_invocation *inv, struct strlist *out);
char *bdb_make_flags(const char *makeflags);
/* The goals named on make's command line (not options, not VAR=value). */
int bdb_make_goals(const struct bdb_invocation *inv, struct strlist *out);
/* Ninja's argv without targets and tools: keeps -C DIR and -f FILE. */
int bdb_ninja_args(const struct bdb_invocation *inv, struct strlist *out, char **dir);

/*
 * Run the tool and parse what it printed into `db` (initialised here).  0, or
 * -errno with a message in err ("make -pnq in '/src' failed: ...").
 */
int bdb_query_make(struct bdb *db, const struct bdb_invocation *inv, char *err, size_t errlen);
int bdb_query_ninja(struct bdb *db, const struct bdb_invocation *inv, char *err, size_t errlen);

/*
 * Run argv (argv[0] the executable path) in `cwd` with `envp`, stdin /dev/null;
 * stdout into `out` (capped by its cap), stderr's first bytes into `errout` (may be
 * NULL).  *status gets the wait status.  0 or -errno (spawn failure, read error).
 */
int audit_spawn(const char *const *argv, const char *const *envp, const char *cwd,
		struct sbuf *out, struct sbuf *errout, int *status);

#endif
