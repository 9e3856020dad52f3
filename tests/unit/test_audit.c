/*
 * Unit tests for the dependency audit (inferer/audit*.c): make's database and
 * ninja's tool output parsed from fixture strings, reachability and the verdict on
 * edges on synthetic databases, dependency files, dpkg output, bear-style compile
 * commands and the dot writer, including odd names.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "inferer/audit/audit.h"
#include "inferer/audit/audit_db.h"
#include "inferer/audit/audit_dpkg.h"

/* ---- helpers ---------------------------------------------------------------------------- */

static long node(struct bdb *db, const char *rel)
{
	char *abs = NULL;
	long n;
	assert_int_equal(path_abs(rel, db->dir, &abs), 0);
	n = bdb_find(db, abs);
	free(abs);
	return n;
}

/* The kind of the dependency from -> to, or 0. */
static int dep_kind(struct bdb *db, const char *from, const char *to)
{
	long f = node(db, from), t = node(db, to);
	if (f < 0 || t < 0)
		return 0;
	for (uint32_t i = 0; i < db->nodes[f].ndeps; i++)
		if (db->nodes[f].deps[i].node == (uint32_t)t)
			return db->nodes[f].deps[i].kind;
	return 0;
}

static int reach(struct bdb *db, const char *from, const char *to, unsigned kinds)
{
	long goal = node(db, to);
	assert_true(goal >= 0);
	return bdb_reach(db, node(db, from), &goal, 1, kinds);
}

static char *make_tmpdir(void)
{
	char tmpl[] = "/tmp/gg-test-audit.XXXXXX";
	char *d = mkdtemp(tmpl);
	assert_non_null(d);
	return strdup(d);
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX];
	FILE *f;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void rm_tree(const char *dir)
{
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/* ---- make's database ---------------------------------------------------------------------- */

/* Cut from real `make -pnq` output (GNU make 4.3), trimmed. */
static const char make_db[] =
	"# GNU Make 4.3\n"
	"# Make data base, printed on Sat Nov 28 01:38:13 2026\n"
	"\n"
	"# Variables\n"
	"\n"
	"# makefile\n"
	"CURDIR := /src/proj\n"
	"# makefile\n"
	"MAKEFILE_LIST :=  Makefile main.d extra.mk\n"
	"# makefile\n"
	".DEFAULT_GOAL := all\n"
	"# default\n"
	"MAKE = $(MAKE_COMMAND)\n"
	"\n"
	"# Implicit Rules\n"
	"\n"
	"%.c:\n"
	"\n"
	"%.o: %.c\n"
	"#  recipe to execute (from 'Makefile', line 14):\n"
	"\tcc -c $< -o $@\n"
	"\n"
	"%.h:: %.h.in\n"
	"#  recipe to execute (from 'Makefile', line 20):\n"
	"\tsed x $< > $@\n"
	"\n"
	"# 3 implicit rules, 1 (33.3%) terminal.\n"
	"# Files\n"
	"\n"
	"# Not a target:\n"
	".c.o:\n"
	"#  Builtin rule\n"
	"#  recipe to execute (built-in):\n"
	"\t$(COMPILE.c) $(OUTPUT_OPTION) $<\n"
	"\n"
	"prog: main.o util.o | outdir\n"
	"#  recipe to execute (from 'Makefile', line 5):\n"
	"\tcc -o $@ $^\n"
	"\n"
	"foo bar.o: foo bar.c gen.h\n"
	"\n"
	"# Not a target:\n"
	"foo bar.c:\n"
	"\n"
	"all: prog sub\n"
	"#  Phony target (prerequisite of .PHONY).\n"
	"#  recipe to execute (from 'Makefile', line 2):\n"
	"\t@echo done\n"
	"\n"
	"sub: gen.h\n"
	"#  Phony target (prerequisite of .PHONY).\n"
	"#  recipe to execute (from 'Makefile', line 30):\n"
	"\t$(MAKE) -C sub\n"
	"\n"
	"stamp:: a\n"
	"#  recipe to execute (from 'Makefile', line 10):\n"
	"\ttouch stamp\n"
	"\n"
	"stamp:: b\n"
	"#  recipe to execute (from 'Makefile', line 12):\n"
	"\ttouch stamp\n"
	"\n"
	"# makefile (from 'Makefile', line 6)\n"
	"main.o: CFLAGS += -DX\n"
	"main.o: main.c gen.h\n"
	"# variable set hash-table stats:\n"
	"# Load=1/32=3%, Rehash=0, Collisions=0/3=0%\n"
	"\n"
	"gen.h: gen.sh\n"
	"#  recipe to execute (from 'Makefile', line 20):\n"
	"\t./gen.sh > gen.h\n"
	"\n"
	".PHONY: all sub\n"
	"\n"
	".gg-audit-nothing:\n"
	"#  Command line target.\n"
	"\n"
	"# files hash-table stats:\n"
	"# Load=70/1024=7%, Rehash=0, Collisions=1/131=1%\n"
	"# VPATH Search Paths\n"
	"\n"
	"vpath %.h hdr:include\n"
	"\n"
	"# General ('VPATH' variable) search path:\n"
	"# src:inc\n"
	"\n"
	"# Finished Make data base on Sat Nov 28 01:38:13 2026\n";

static void test_audit__make_db_parses_rules(void **state)
{
	struct bdb db;
	long n;

	bdb_init(&db, BDB_MAKE, NULL);
	assert_int_equal(bdb_parse_make(&db, make_db, strlen(make_db), "/elsewhere"), 0);
	assert_string_equal(db.dir, "/src/proj");
	assert_string_equal(db.default_goal, "/src/proj/all");
	assert_int_equal(db.makefiles.n, 3);
	assert_string_equal(db.makefiles.v[1], "/src/proj/main.d");

	/* explicit prerequisites, order-only after '|' */
	assert_int_equal(dep_kind(&db, "prog", "main.o"), BDB_NORMAL);
	assert_int_equal(dep_kind(&db, "prog", "outdir"), BDB_ORDER);
	/* a target-specific variable is no prerequisite */
	assert_int_equal(dep_kind(&db, "main.o", "CFLAGS"), 0);
	assert_int_equal(dep_kind(&db, "main.o", "gen.h"), BDB_NORMAL);
	/* names with spaces: joined back by the names the database knows */
	assert_int_equal(dep_kind(&db, "foo bar.o", "foo bar.c"), BDB_NORMAL);
	assert_int_equal(dep_kind(&db, "foo bar.o", "gen.h"), BDB_NORMAL);
	assert_true(node(&db, "foo") < 0);
	/* double-colon rules merge */
	assert_int_equal(dep_kind(&db, "stamp", "a"), BDB_NORMAL);
	assert_int_equal(dep_kind(&db, "stamp", "b"), BDB_NORMAL);
	/* flags */
	n = node(&db, "all");
	assert_true(n >= 0);
	assert_true(db.nodes[n].flags & BDB_F_PHONY);
	assert_false(db.nodes[n].flags & BDB_F_SUBMAKE);
	assert_true(db.nodes[node(&db, "sub")].flags & BDB_F_SUBMAKE);
	assert_true(db.nodes[node(&db, "gen.h")].flags & BDB_F_RECIPE);
	assert_false(db.nodes[node(&db, "foo bar.c")].flags & BDB_F_TARGET);
	/* special targets and the dummy goal are not files */
	assert_true(node(&db, ".PHONY") < 0);
	assert_true(node(&db, ".gg-audit-nothing") < 0);
	/* pattern rules: the recipe-less one is kept but inert */
	assert_int_equal(db.nrules, 3);
	assert_false(db.rules[0].recipe);
	assert_true(db.rules[1].recipe);
	assert_string_equal(db.rules[1].targets.v[0], "%.o");
	assert_string_equal(db.rules[1].prereqs.v[0], "%.c");
	assert_true(db.rules[2].terminal);
	/* vpath and VPATH */
	assert_int_equal(db.nvpaths, 2);
	assert_string_equal(db.vpaths[0].pattern, "%.h");
	assert_string_equal(db.vpaths[0].dirs.v[1], "/src/proj/include");
	assert_null(db.vpaths[1].pattern);
	assert_string_equal(db.vpaths[1].dirs.v[0], "/src/proj/src");
	bdb_release(&db);
}

static void test_audit__make_implicit_rules(void **state)
{
	char *dir = make_tmpdir();
	struct sbuf text = SBUF_INIT;
	struct bdb db;

	char sub[PATH_MAX];
	write_file(dir, "util.c", "int x;\n");
	snprintf(sub, sizeof(sub), "%s/src", dir);
	assert_int_equal(mkdir(sub, 0755), 0);
	write_file(dir, "src/vp.c", "int y;\n");
	sbuf_addf(&text,
		  "# Variables\n# makefile\nCURDIR := %s\n\n"
		  "# Implicit Rules\n\n%%.o: %%.c | objdir\n#  recipe to execute (x):\n\tcc\n\n"
		  "# 1 implicit rules, 0 (0.0%%) terminal.\n"
		  "# Files\n\nprog: util.o nope.o vp.o lib/deep.o\n#  recipe to execute (x):\n\tld\n\n"
		  "# Not a target:\nobjdir:\n\n"
		  "# files hash-table stats:\n# VPATH Search Paths\n\n"
		  "# General ('VPATH' variable) search path:\n# src\n\n",
		  dir);
	bdb_init(&db, BDB_MAKE, NULL);
	assert_int_equal(bdb_parse_make(&db, text.buf, text.len, NULL), 0);
	/* util.o has no rule of its own: %.o: %.c applies since util.c exists */
	assert_true(bdb_is_target(&db, node(&db, "util.o")));
	assert_int_equal(dep_kind(&db, "util.o", "util.c"), BDB_NORMAL);
	assert_int_equal(dep_kind(&db, "util.o", "objdir"), BDB_ORDER);
	/* no nope.c anywhere: no rule applies */
	assert_false(bdb_is_target(&db, node(&db, "nope.o")));
	/* found through VPATH: the prerequisite is src/vp.c */
	assert_true(bdb_is_target(&db, node(&db, "vp.o")));
	assert_int_equal(dep_kind(&db, "vp.o", "src/vp.c"), BDB_NORMAL);
	/* reachability applies the rules on its way */
	assert_int_equal(reach(&db, "prog", "util.c", BDB_NORMAL), 1);
	bdb_release(&db);
	sbuf_release(&text);
	rm_tree(dir);
	free(dir);
}

static void test_audit__depfile_pairs_become_depfile(void **state)
{
	static const char depfile[] =
		"# a comment\n"
		"main.o: main.c gen.h \\\n"
		"  dir\\ with\\ space/x.h\n"
		"gen.h:\n"
		"\trecipe: not a rule\n"
		"VAR := a: b\n"
		"other.o: main.c\n";
	struct bdb db;

	bdb_init(&db, BDB_MAKE, "/p");
	assert_int_equal(bdb_add_dep(&db, "main.o", "gen.h", BDB_NORMAL, 0), 0);
	assert_int_equal(bdb_add_dep(&db, "main.o", "main.c", BDB_NORMAL, 0), 0);
	assert_int_equal(bdb_add_dep(&db, "other.o", "main.c", BDB_ORDER, 0), 0);
	assert_int_equal(bdb_mark_depfile(&db, "main.d", depfile, strlen(depfile)), 0);
	assert_int_equal(dep_kind(&db, "main.o", "gen.h"), BDB_DEPFILE);
	assert_int_equal(dep_kind(&db, "main.o", "dir with space/x.h"), BDB_DEPFILE);
	/* an order-only pair keeps its kind and gains the dependency file's */
	assert_int_equal(dep_kind(&db, "other.o", "main.c"), BDB_ORDER | BDB_DEPFILE);
	assert_true(node(&db, "recipe") < 0);
	assert_true(node(&db, "VAR") < 0);
	assert_string_equal(bdb_pair_depfile(&db, node(&db, "main.o"), node(&db, "gen.h")),
			    "main.d");
	/* rebuilds follow it, ordering does not */
	assert_int_equal(reach(&db, "main.o", "gen.h", BDB_NORMAL | BDB_DEPFILE), 1);
	assert_int_equal(reach(&db, "main.o", "gen.h", BDB_NORMAL | BDB_ORDER), 0);
	bdb_release(&db);
}

struct args_case {
	const char *argv[8];
	const char *want; /* the query's argv[1..] joined with '|' */
};

static void test_audit__make_args_keep_what_matters(void **state)
{
	static const struct args_case cases[] = {
		{ { "make", "-j2", NULL }, "-pnq|--no-print-directory|--eval=.gg-audit-nothing:|.gg-audit-nothing" },
		{ { "make", "all-am", "CFLAGS=-O0", NULL },
		  "CFLAGS=-O0|-pnq|--no-print-directory|--eval=.gg-audit-nothing:|.gg-audit-nothing" },
		{ { "make", "-C", "sub", "-f", "GNUmakefile", "install", NULL },
		  "-C|sub|-f|GNUmakefile|-pnq|--no-print-directory|--eval=.gg-audit-nothing:|.gg-audit-nothing" },
		{ { "make", "-kj4", "-l", "3", "--jobs=2", "-w", "x", NULL },
		  "-k|-pnq|--no-print-directory|--eval=.gg-audit-nothing:|.gg-audit-nothing" },
		{ { "make", "-sCdir", "--trace", "--", "goal", "V=1", NULL },
		  "-C|dir|V=1|-pnq|--no-print-directory|--eval=.gg-audit-nothing:|.gg-audit-nothing" },
	};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct bdb_invocation inv = { .exe = "/usr/bin/make", .argv = cases[c].argv,
					      .cwd = "/p" };
		struct strlist out = STRLIST_INIT;
		struct sbuf got = SBUF_INIT;
		while (cases[c].argv[inv.argc])
			inv.argc++;
		assert_int_equal(bdb_make_args(&inv, &out), 0);
		assert_string_equal(out.v[0], "/usr/bin/make");
		for (size_t i = 1; i < out.n; i++)
			sbuf_addf(&got, "%s%s", i > 1 ? "|" : "", out.v[i]);
		assert_string_equal(got.buf, cases[c].want);
		strlist_release(&out);
		sbuf_release(&got);
	}
	{
		/* read makefiles become -o NAME, relative to the directory of -C */
		const char *argv[] = { "make", "-C", "sub" };
		const char *reads[] = { "/p/sub/Makefile", "/elsewhere/x.mk" };
		struct bdb_invocation inv = { .exe = "make", .argv = argv, .argc = 3, .cwd = "/p",
					      .read_files = reads, .nread = 2 };
		struct strlist out = STRLIST_INIT;
		assert_int_equal(bdb_make_args(&inv, &out), 0);
		assert_string_equal(out.v[out.n - 5], "-o");
		assert_string_equal(out.v[out.n - 4], "Makefile");
		assert_string_equal(out.v[out.n - 2], "/elsewhere/x.mk");
		strlist_release(&out);
	}
	{
		const char *argv[] = { "make", "-f", "M", "a", "-Cd", "b", "X=1", "--", "c" };
		struct bdb_invocation inv = { .argv = argv, .argc = 9 };
		struct strlist goals = STRLIST_INIT;
		assert_int_equal(bdb_make_goals(&inv, &goals), 0);
		assert_int_equal(goals.n, 3);
		assert_string_equal(goals.v[0], "a");
		assert_string_equal(goals.v[1], "b");
		assert_string_equal(goals.v[2], "c");
		strlist_release(&goals);
	}
}

static void test_audit__makeflags_filtered(void **state)
{
	static const char *const cases[][2] = {
		{ "w -j2 --jobserver-auth=3,4", "" },
		{ " -j2 --jobserver-auth=3,4", "" },
		{ "ks -j4 --jobserver-auth=fifo:/tmp/x", "k" },
		{ "w -- CFLAGS=-O0 V=1", "-- CFLAGS=-O0 V=1" },
		{ "rR --no-print-directory -Idir", "rR -Idir" },
		{ "", "" },
	};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		char *f = bdb_make_flags(cases[c][0]);
		assert_non_null(f);
		assert_string_equal(f, cases[c][1]);
		free(f);
	}
}

static void test_audit__make_db_survives_garbage(void **state)
{
	char buf[4096];
	unsigned seed = 12345;
	for (int round = 0; round < 200; round++) {
		struct bdb db;
		size_t n = (size_t)(rand_r(&seed) % sizeof(buf));
		/* a prefix of the fixture with bytes flipped */
		memcpy(buf, make_db, n < sizeof(make_db) ? n : sizeof(make_db));
		for (size_t k = 0; k < n; k++)
			if (k >= sizeof(make_db) || rand_r(&seed) % 29 == 0)
				buf[k] = (char)(rand_r(&seed) & 0xff);
		bdb_init(&db, BDB_MAKE, NULL);
		assert_int_equal(bdb_parse_make(&db, buf, n, "/p"), 0);
		for (size_t i = 0; i < db.n; i++)
			bdb_is_target(&db, (long)i);
		bdb_release(&db);
	}
}

static int count_found(void *ctx, const char *owner, const char *path)
{
	(*(size_t *)ctx)++;
	return owner && path ? 0 : -EINVAL;
}

/* Every parser of tool output, on mangled fixtures: no crash, no error but ENOMEM. */
static void test_audit__tool_output_garbage(void **state)
{
	static const char *const fixtures[] = {
		"a:\n  input: r\n    b\n    | c\n    || d\n  outputs:\n    e\n",
		"o: #deps 2, deps mtime 1 (VALID)\n    x\n    y\n\n",
		"t: rule\n: odd\n",
		"pkg:amd64: /usr/x\ndiversion by a from: /b\n",
		"t u: p \\\n q\\ r\n\tcmd\nV = 1\n",
	};
	char buf[512];
	unsigned seed = 777;
	for (int round = 0; round < 400; round++) {
		const char *f = fixtures[round % 5];
		size_t n = strlen(f), len = (size_t)(rand_r(&seed) % (n + 8));
		struct bdb db;
		struct strlist l = STRLIST_INIT;
		size_t found = 0;
		for (size_t k = 0; k < len; k++)
			buf[k] = k < n && rand_r(&seed) % 11 ? f[k] : (char)(rand_r(&seed) & 0xff);
		bdb_init(&db, BDB_NINJA, "/b");
		assert_int_equal(bdb_parse_ninja_query(&db, buf, len), 0);
		assert_int_equal(bdb_parse_ninja_deps(&db, buf, len), 0);
		assert_int_equal(bdb_parse_ninja_targets(buf, len, &l), 0);
		assert_int_equal(bdb_mark_depfile(&db, "d", buf, len), 0);
		assert_int_equal(dpkg_parse_search(buf, len, count_found, &found), 0);
		for (size_t i = 0; i < db.n; i++) {
			long g = 0;
			assert_true(bdb_reach(&db, (long)i, &g, 1, BDB_NORMAL | BDB_ORDER | BDB_DEPFILE) >= 0);
		}
		strlist_release(&l);
		bdb_release(&db);
	}
}

/* ---- ninja ------------------------------------------------------------------------------------ */

static const char ninja_query[] =
	"libz.so.1.2.13:\n"
	"  input: C_SHARED_LIBRARY_LINKER__zlib_Release\n"
	"    CMakeFiles/zlib.dir/adler32.o\n"
	"    CMakeFiles/zlib.dir/crc32.o\n"
	"  outputs:\n"
	"    libz.so.1\n"
	"example:\n"
	"  input: C_EXECUTABLE_LINKER__example_Release\n"
	"    CMakeFiles/example.dir/test/example.o\n"
	"    | libz.so.1.2.13\n"
	"    || libz.so\n"
	"  outputs:\n"
	"    all\n"
	"CMakeFiles/zlib.dir/adler32.o:\n"
	"  input: C_COMPILER__zlib_Release\n"
	"    /src/zlib/adler32.c\n"
	"    || cmake_object_order_depends_target_zlib\n"
	"  outputs:\n"
	"    libz.so.1.2.13\n"
	"  validations:\n"
	"    check\n"
	"cmake_object_order_depends_target_zlib:\n"
	"  input: phony\n"
	"  outputs:\n"
	"    CMakeFiles/zlib.dir/adler32.o\n"
	"dir with space/out put.o:\n"
	"  input: cc\n"
	"    in put.c\n";

static void test_audit__ninja_query_kinds(void **state)
{
	struct bdb db;
	bdb_init(&db, BDB_NINJA, "/src/zlib/build");
	assert_int_equal(bdb_parse_ninja_query(&db, ninja_query, strlen(ninja_query)), 0);
	assert_int_equal(dep_kind(&db, "libz.so.1.2.13", "CMakeFiles/zlib.dir/adler32.o"),
			 BDB_NORMAL);
	assert_int_equal(dep_kind(&db, "example", "libz.so.1.2.13"), BDB_NORMAL);
	assert_int_equal(dep_kind(&db, "example", "libz.so"), BDB_ORDER);
	assert_int_equal(dep_kind(&db, "CMakeFiles/zlib.dir/adler32.o", "/src/zlib/adler32.c"),
			 BDB_NORMAL);
	/* outputs and validations are not inputs */
	assert_int_equal(dep_kind(&db, "libz.so.1.2.13", "libz.so.1"), 0);
	assert_int_equal(dep_kind(&db, "CMakeFiles/zlib.dir/adler32.o", "check"), 0);
	assert_true(db.nodes[node(&db, "cmake_object_order_depends_target_zlib")].flags &
		    BDB_F_PHONY);
	assert_true(bdb_is_target(&db, node(&db, "example")));
	assert_false(bdb_is_target(&db, node(&db, "/src/zlib/adler32.c")));
	assert_int_equal(dep_kind(&db, "dir with space/out put.o", "in put.c"), BDB_NORMAL);
	/* through the library: example depends on the objects it links */
	assert_int_equal(reach(&db, "example", "CMakeFiles/zlib.dir/adler32.o", BDB_NORMAL), 1);
	bdb_release(&db);
}

static void test_audit__ninja_deps_and_targets(void **state)
{
	static const char deps[] =
		"CMakeFiles/zlib.dir/compress.o: #deps 3, deps mtime 1795829915299389388 (VALID)\n"
		"    /src/zlib/compress.c\n"
		"    /src/zlib/zlib.h\n"
		"    zconf.h\n"
		"\n"
		"stale.o: #deps 1, deps mtime 1 (STALE)\n"
		"    gen.h\n"
		"\n";
	static const char targets[] =
		"cmake_object_order_depends_target_zlib: phony\n"
		"CMakeFiles/zlib.dir/adler32.o: C_COMPILER__zlib_Release\n"
		"odd: name.o: cc\n"
		"garbage line\n";
	struct bdb db;
	struct strlist t = STRLIST_INIT;

	bdb_init(&db, BDB_NINJA, "/src/zlib/build");
	assert_int_equal(bdb_add_dep(&db, "CMakeFiles/zlib.dir/compress.o", "/src/zlib/compress.c",
				     BDB_NORMAL, 0), 0);
	assert_int_equal(bdb_parse_ninja_deps(&db, deps, strlen(deps)), 0);
	/* the manifest's own pair stays NORMAL; the deps log adds DEPFILE pairs */
	assert_true(dep_kind(&db, "CMakeFiles/zlib.dir/compress.o", "/src/zlib/compress.c") &
		    BDB_NORMAL);
	assert_int_equal(dep_kind(&db, "CMakeFiles/zlib.dir/compress.o", "zconf.h"), BDB_DEPFILE);
	assert_int_equal(dep_kind(&db, "stale.o", "gen.h"), BDB_DEPFILE);
	assert_string_equal(bdb_pair_depfile(&db, node(&db, "stale.o"), node(&db, "gen.h")), "");

	assert_int_equal(bdb_parse_ninja_targets(targets, strlen(targets), &t), 0);
	assert_int_equal(t.n, 3);
	assert_string_equal(t.v[1], "CMakeFiles/zlib.dir/adler32.o");
	assert_string_equal(t.v[2], "odd: name.o");
	strlist_release(&t);
	bdb_release(&db);
}

static void test_audit__ninja_args(void **state)
{
	const char *argv[] = { "ninja", "-j2", "-C", "build", "-f", "x.ninja", "-k", "0",
			       "-tquery", "all" };
	struct bdb_invocation inv = { .exe = "/usr/bin/ninja", .argv = argv, .argc = 10,
				      .cwd = "/src" };
	struct strlist out = STRLIST_INIT;
	char *dir = NULL;
	assert_int_equal(bdb_ninja_args(&inv, &out, &dir), 0);
	assert_int_equal(out.n, 5);
	assert_string_equal(out.v[1], "-C");
	assert_string_equal(out.v[2], "build");
	assert_string_equal(out.v[3], "-f");
	assert_string_equal(dir, "/src/build");
	free(dir);
	strlist_release(&out);
}

/* ---- the verdict on edges ------------------------------------------------------------------------ */

static void test_audit__edge_verdicts(void **state)
{
	struct bdb db;
	long t, goal;

	/*
	 * main.o: nothing          util.o: | gen.h      extra.o: gen.h (depfile)
	 * fixed.o: mid.h -> gen.h (two normal hops)     both.o: | gen.h + gen.h (depfile)
	 * late.o: | mid.h, mid.h: gen.h (order-only, then normal: ordered, not rebuilt)
	 */
	bdb_init(&db, BDB_MAKE, "/p");
	assert_int_equal(bdb_add_dep(&db, "main.o", "main.c", BDB_NORMAL, 0), 0);
	assert_int_equal(bdb_add_dep(&db, "util.o", "gen.h", BDB_ORDER, 0), 0);
	assert_int_equal(bdb_add_dep(&db, "extra.o", "gen.h", BDB_DEPFILE, 0), 0);
	assert_int_equal(bdb_add_dep(&db, "fixed.o", "mid.h", BDB_NORMAL, 0), 0);
	assert_int_equal(bdb_add_dep(&db, "mid.h", "gen.h", BDB_NORMAL, 0), 0);
	assert_int_equal(bdb_add_dep(&db, "both.o", "gen.h", BDB_ORDER, 0), 0);
	assert_int_equal(bdb_mark_depfile(&db, "both.d", "both.o: gen.h\n", 14), 0);
	assert_int_equal(bdb_add_dep(&db, "late.o", "mid.h", BDB_ORDER, 0), 0);
	goal = node(&db, "gen.h");

	static const struct {
		const char *target;
		enum audit_status want;
	} cases[] = {
		{ "main.o", AUDIT_MISSING },   { "util.o", AUDIT_ORDER_ONLY },
		{ "extra.o", AUDIT_DEPFILE_ONLY }, { "fixed.o", AUDIT_OK },
		{ "late.o", AUDIT_ORDER_ONLY },
	};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		t = node(&db, cases[c].target);
		assert_int_equal(audit_edge_status(&db, &t, 1, &goal, 1), cases[c].want);
	}
	/* order-only plus a dependency file: the usual idiom, rebuilt and ordered */
	t = node(&db, "both.o");
	assert_int_equal(dep_kind(&db, "both.o", "gen.h"), BDB_ORDER | BDB_DEPFILE);
	assert_int_equal(audit_edge_status(&db, &t, 1, &goal, 1), AUDIT_OK);
	/* no goal known at all: nothing declares it */
	assert_int_equal(audit_edge_status(&db, &t, 1, NULL, 0), AUDIT_MISSING);
	assert_string_equal(audit_status_name(AUDIT_DEPFILE_ONLY), "depfile-only");
	bdb_release(&db);
}

static void test_audit__submake_after(void **state)
{
	struct bdb db;
	long goal, root, r;
	bdb_init(&db, BDB_MAKE, "/p");
	assert_int_equal(bdb_add_dep(&db, "check", "gen.h", BDB_NORMAL, 0), 0);
	assert_int_equal(bdb_add_dep(&db, "all", "gen.h", BDB_NORMAL, 0), 0);
	assert_int_equal(bdb_add_dep(&db, "all", "prog", BDB_NORMAL, 0), 0);
	db.nodes[node(&db, "check")].flags |= BDB_F_SUBMAKE;
	db.nodes[node(&db, "all")].flags |= BDB_F_SUBMAKE;
	goal = node(&db, "gen.h");
	/* without roots, the first sub-make target that comes after gen.h */
	r = bdb_submake_after(&db, &goal, 1, NULL, 0);
	assert_int_equal(r, node(&db, "check"));
	/* with the recorded goal 'all', that one */
	root = node(&db, "all");
	r = bdb_submake_after(&db, &goal, 1, &root, 1);
	assert_int_equal(r, root);
	/* a goal that runs no sub-make after gen.h */
	root = node(&db, "prog");
	assert_int_equal(bdb_submake_after(&db, &goal, 1, &root, 1), -1);
	bdb_release(&db);
}

/* ---- dpkg --------------------------------------------------------------------------------------- */

struct found {
	char owners[8][64], paths[8][128];
	int n;
};

static int on_found(void *ctx, const char *owner, const char *path)
{
	struct found *f = ctx;
	if (f->n < 8) {
		snprintf(f->owners[f->n], 64, "%s", owner);
		snprintf(f->paths[f->n], 128, "%s", path);
		f->n++;
	}
	return 0;
}

static void test_audit__dpkg_search_output(void **state)
{
	static const char out[] =
		"libc6-dev:amd64: /usr/include/stdio.h\n"
		"diversion by dash from: /bin/sh\n"
		"diversion by dash to: /bin/sh.distrib\n"
		"gcc-12, gcc-12-base:amd64: /usr/share/doc/gcc-12\n"
		"odd: /path/with: colon\n"
		"no separator here\n"
		"make: /usr/bin/make";
	struct found f = { 0 };
	char name[64];
	assert_int_equal(dpkg_parse_search(out, strlen(out), on_found, &f), 0);
	assert_int_equal(f.n, 4);
	assert_string_equal(f.owners[0], "libc6-dev:amd64");
	assert_string_equal(f.paths[0], "/usr/include/stdio.h");
	assert_string_equal(f.owners[1], "gcc-12, gcc-12-base:amd64");
	assert_string_equal(f.paths[2], "/path/with: colon");
	assert_string_equal(f.paths[3], "/usr/bin/make");
	assert_string_equal(dpkg_package_name("libc6-dev:amd64", name, sizeof(name)), "libc6-dev");
	assert_string_equal(dpkg_package_name("gcc-12", name, sizeof(name)), "gcc-12");
}

static bool has(const struct strlist *l, const char *s)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->v[i], s))
			return true;
	return false;
}

static void test_audit__dpkg_merged_usr_names(void **state)
{
	struct strlist a = STRLIST_INIT;
	assert_int_equal(dpkg_alternates("/usr/lib/nonexistent-gg/libc.so.6", &a), 0);
	assert_true(has(&a, "/lib/nonexistent-gg/libc.so.6"));
	strlist_release(&a);
	assert_int_equal(dpkg_alternates("/lib64/nonexistent-gg/ld.so", &a), 0);
	assert_true(has(&a, "/usr/lib64/nonexistent-gg/ld.so"));
	strlist_release(&a);
	assert_int_equal(dpkg_alternates("/usr/include/nonexistent-gg.h", &a), 0);
	assert_int_equal(a.n, 0);
	strlist_release(&a);
	/* /usr/libexec is not a merged directory: /usr/lib must not match it */
	assert_int_equal(dpkg_alternates("/usr/libexec/nonexistent-gg", &a), 0);
	assert_int_equal(a.n, 0);
	strlist_release(&a);
}

static void test_audit__dpkg_cache_keyed_by_status(void **state)
{
	char *dir = make_tmpdir(), status[PATH_MAX], cache[PATH_MAX];
	struct stat sb;
	struct dpkg_db *db;
	FILE *f;

	snprintf(status, sizeof(status), "%s/status", dir);
	snprintf(cache, sizeof(cache), "%s/dpkg-cache", dir);
	write_file(dir, "status", "Package: x\n");
	assert_int_equal(stat(status, &sb), 0);
	f = fopen(cache, "w");
	assert_non_null(f);
	fprintf(f, "ggdpkg 1 %lld %lld\n",
		(long long)sb.st_mtim.tv_sec * 1000000000LL + sb.st_mtim.tv_nsec,
		(long long)sb.st_size);
	fprintf(f, "P/usr/include/stdio.h%clibc6-dev:amd64%c", 0, 0);
	fprintf(f, "P/odd\nname%c%c", 0, 0);
	fprintf(f, "Vlibc6-dev:amd64%c2.36-9%c", 0, 0);
	fclose(f);

	db = dpkg_open(cache, status);
	assert_non_null(db);
	assert_true(dpkg_stats(db)->cache_loaded);
	assert_string_equal(dpkg_owner(db, "/usr/include/stdio.h"), "libc6-dev:amd64");
	assert_string_equal(dpkg_owner(db, "/odd\nname"), "");
	assert_null(dpkg_owner(db, "/not/asked"));
	assert_string_equal(dpkg_version(db, "libc6-dev:amd64"), "2.36-9");
	dpkg_free(db);

	/* a package installed since: the status file changed, the cache is dropped */
	write_file(dir, "status", "Package: x\nPackage: y\n");
	db = dpkg_open(cache, status);
	assert_non_null(db);
	assert_false(dpkg_stats(db)->cache_loaded);
	assert_null(dpkg_owner(db, "/usr/include/stdio.h"));
	dpkg_free(db);

	/* a truncated cache loads what is whole, and never crashes */
	assert_int_equal(truncate(cache, 30), 0);
	db = dpkg_open(cache, status);
	assert_non_null(db);
	dpkg_free(db);
	rm_tree(dir);
	free(dir);
}

static void test_audit__dpkg_resolves_real_files(void **state)
{
	char *dir, cache[PATH_MAX], err[256];
	const char *paths[] = { "/usr/bin/dpkg", "/gg/no/such/file" };
	struct dpkg_db *db;

	if (!dpkg_available())
		skip();
	dir = make_tmpdir();
	snprintf(cache, sizeof(cache), "%s/dpkg-cache", dir);
	db = dpkg_open(cache, NULL);
	assert_int_equal(dpkg_resolve(db, paths, 2, err, sizeof(err)), 0);
	assert_string_equal(dpkg_owner(db, "/usr/bin/dpkg"), "dpkg");
	assert_string_equal(dpkg_owner(db, "/gg/no/such/file"), "");
	assert_non_null(dpkg_version(db, "dpkg"));
	assert_true(dpkg_stats(db)->dpkg_runs >= 1);
	assert_int_equal(dpkg_save(db), 0);
	dpkg_free(db);
	/* the second time, from the cache: no dpkg run */
	db = dpkg_open(cache, NULL);
	assert_int_equal(dpkg_resolve(db, paths, 2, err, sizeof(err)), 0);
	assert_int_equal(dpkg_stats(db)->dpkg_runs, 0);
	assert_int_equal(dpkg_stats(db)->cached, 2);
	dpkg_free(db);
	rm_tree(dir);
	free(dir);
}

/* ---- compile commands ----------------------------------------------------------------------------- */

static void test_audit__compiler_names(void **state)
{
	static const struct {
		const char *name;
		bool yes;
	} cases[] = {
		{ "gcc", true },      { "cc", true },           { "g++", true },
		{ "c++", true },      { "clang", true },        { "clang++", true },
		{ "gcc-12", true },   { "clang-14.0.6", true }, { "x86_64-linux-gnu-gcc-12", true },
		{ "cc1", false },     { "gcc-ar", false },      { "c++filt", false },
		{ "ccache", false },  { "collect2", false },    { "gcc-", false },
		{ "mygcc", false },   { "", false },
	};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++)
		assert_int_equal(audit_cc_is_compiler(cases[c].name), cases[c].yes);
}

static void test_audit__compile_entries_in_bear_form(void **state)
{
	/* what bear 3.1.1 writes for these runs (checked by hand, see audit_cc.c) */
	static const struct {
		const char *argv[24];
		int n;
		const char *args0, *args1; /* entries' arguments joined with '|' */
	} cases[] = {
		{ { "gcc", "-DX", "-I.", "-g", "-O2", "-MT", "a.o", "-MD", "-MP", "-MF", ".deps/a.Tpo",
		    "-c", "-o", "a.o", "a.c", NULL },
		  1, "/usr/bin/gcc|-DX|-I.|-g|-O2|-c|-o|a.o|a.c", NULL },
		{ { "gcc", "-o", "prog1", "a.c", NULL }, 1, "/usr/bin/gcc|-c|-o|prog1|a.c", NULL },
		{ { "gcc", "-c", "a.c", "b.c", NULL }, 2, "/usr/bin/gcc|-c|a.c", "/usr/bin/gcc|-c|b.c" },
		{ { "gcc", "-E", "a.c", NULL }, 0, NULL, NULL },
		{ { "gcc", "-M", "a.c", NULL }, 0, NULL, NULL },
		{ { "gcc", "-MM", "-MF", "x.d", "a.c", NULL }, 0, NULL, NULL },
		{ { "gcc", "-fsyntax-only", "a.c", NULL }, 0, NULL, NULL },
		{ { "gcc", "-o", "prog2", "a.o", "b.o", NULL }, 0, NULL, NULL },
		{ { "cc", "-x", "c", "-c", "a.c", "-o", "a3.o", NULL }, 1,
		  "/usr/bin/gcc|-x|c|-c|-o|a3.o|a.c", NULL },
		{ { "gcc", "-S", "a.c", "-o", "a.s", NULL }, 1, "/usr/bin/gcc|-S|-o|a.s|a.c", NULL },
		{ { "gcc", "-c", "-MD", "a.c", "-o", "a4.o", NULL }, 1, "/usr/bin/gcc|-c|-o|a4.o|a.c", NULL },
		{ { "gcc", "-c", "s.S", "-o", "s.o", "-I", "inc", NULL }, 1,
		  "/usr/bin/gcc|-I|inc|-c|-o|s.o|s.S", NULL },
		{ { "gcc", "-c", "-oa2.o", "a.c", "-Wall", NULL }, 1, "/usr/bin/gcc|-Wall|-c|-o|a2.o|a.c", NULL },
	};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct audit_cc *v = NULL;
		size_t n = 0, alloc = 0, argc = 0;
		while (cases[c].argv[argc])
			argc++;
		assert_int_equal(audit_cc_entries("/usr/bin/gcc", cases[c].argv, argc, "/w", &v, &n,
						  &alloc), 0);
		assert_int_equal(n, cases[c].n);
		for (size_t e = 0; e < n; e++) {
			struct sbuf got = SBUF_INIT;
			for (size_t i = 0; i < v[e].args.n; i++)
				sbuf_addf(&got, "%s%s", i ? "|" : "", v[e].args.v[i]);
			assert_string_equal(got.buf, e ? cases[c].args1 : cases[c].args0);
			assert_string_equal(v[e].directory, "/w");
			assert_true(v[e].file[0] == '/');
			sbuf_release(&got);
		}
		audit_cc_free(v, n);
	}
}

/* ---- pictures ------------------------------------------------------------------------------------- */

static void test_audit__dot_escape_odd_names(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "plain/file.o", "plain/file.o" },
		{ "say \"hi\"\\", "say \\\"hi\\\"\\\\" },
		{ "two\nlines", "two\\nlines" },
		{ "tab\there", "tab?here" },
		{ "caf\xc3\xa9", "caf\xc3\xa9" },         /* valid UTF-8 kept */
		{ "bad\xff", "bad\xc3\xbf" },             /* invalid byte: its Latin-1 reading */
		{ "\xed\xa0\x80", "\xc3\xad\xc2\xa0\xc2\x80" }, /* a surrogate is invalid */
	};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct sbuf sb = SBUF_INIT;
		assert_int_equal(audit_dot_escape(&sb, cases[c].in), 0);
		assert_string_equal(sb.buf ? sb.buf : "", cases[c].out);
		sbuf_release(&sb);
	}
}

static void add_node(struct graph *g, const char *label, uint32_t local, const size_t *deps,
		     size_t ndeps)
{
	struct graph_node n = { 0 };
	n.label = strdup(label);
	n.command = strdup("cc -c \"x\"");
	n.local = local;
	n.hash.kind = GG_HASH_THUNK;
	n.hash.bytes[0] = (uint8_t)g->n;
	n.deps = calloc(ndeps + 1, sizeof(*n.deps));
	if (ndeps)
		memcpy(n.deps, deps, ndeps * sizeof(*deps));
	n.ndeps = ndeps;
	assert_int_equal(graph_add(g, &n), 0);
}

static void test_audit__graph_dot_clusters_and_marks(void **state)
{
	struct graph g;
	struct audit_edges e = { 0 };
	struct audit_edge v[1];
	struct audit_dot d = { 0 };
	uint8_t *marks = NULL;
	struct audit_dot_edge *edges = NULL;
	size_t nedges = 0, dep0 = 0, deps2[2] = { 0, 1 }, len = 0;
	char *text = NULL;
	FILE *f;

	graph_init(&g);
	add_node(&g, "include/config.h", 0, NULL, 0);
	add_node(&g, "src/we\"ird\xff.o", THUNK_LOCAL_NETWORK, &dep0, 1);
	add_node(&g, "prog", 0, deps2, 2);
	memset(v, 0, sizeof(v));
	v[0].consumer = 1;
	v[0].producer = 0;
	v[0].path = "/t/include/config.h";
	v[0].status = AUDIT_MISSING;
	e.v = v;
	e.n = 1;
	assert_int_equal(audit_dot_marks(&g, &e, &marks, &edges, &nedges), 0);
	assert_int_equal(nedges, 1);
	assert_true(marks[1] & AUDIT_DOT_LOCAL);
	assert_true(marks[1] & AUDIT_DOT_MISSING);
	assert_false(marks[2] & AUDIT_DOT_MISSING);

	d.marks = marks;
	d.edges = edges;
	d.nedges = nedges;
	d.clusters = true;
	f = open_memstream(&text, &len);
	assert_non_null(f);
	assert_int_equal(audit_graph_dot(f, &g, &d), 0);
	fclose(f);
	assert_non_null(strstr(text, "subgraph \"cluster_"));
	assert_non_null(strstr(text, "label=\"include\""));
	assert_non_null(strstr(text, "label=\"we\\\"ird\xc3\xbf.o\""));
	assert_non_null(strstr(text, "n0 -> n1 [label=\"config.h\", color=\"#d93025\""));
	assert_non_null(strstr(text, "n0 -> n2;"));
	/* the highlighted edge is not drawn twice */
	assert_null(strstr(text, "n0 -> n1;"));
	free(text);
	text = NULL;

	/* only the offending edges */
	d.only_marked = true;
	f = open_memstream(&text, &len);
	assert_int_equal(audit_graph_dot(f, &g, &d), 0);
	fclose(f);
	assert_null(strstr(text, "n2 ["));
	free(text);
	text = NULL;

	/* no marks at all (the hook for `gg graph --dot`) */
	f = open_memstream(&text, &len);
	assert_int_equal(audit_graph_dot(f, &g, NULL), 0);
	fclose(f);
	assert_non_null(strstr(text, "digraph gg {"));
	free(text);
	free(marks);
	free(edges);
	graph_release(&g);
}

/* ---- loading ---------------------------------------------------------------------------------------- */

static void test_audit__no_recording_is_an_error(void **state)
{
	char *dir = make_tmpdir(), err[512];
	struct audit a;
	assert_int_equal(audit_open(&a, dir, NULL, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "no recording"));
	rm_tree(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_audit__make_db_parses_rules),
		cmocka_unit_test(test_audit__make_implicit_rules),
		cmocka_unit_test(test_audit__depfile_pairs_become_depfile),
		cmocka_unit_test(test_audit__make_args_keep_what_matters),
		cmocka_unit_test(test_audit__makeflags_filtered),
		cmocka_unit_test(test_audit__make_db_survives_garbage),
		cmocka_unit_test(test_audit__tool_output_garbage),
		cmocka_unit_test(test_audit__ninja_query_kinds),
		cmocka_unit_test(test_audit__ninja_deps_and_targets),
		cmocka_unit_test(test_audit__ninja_args),
		cmocka_unit_test(test_audit__edge_verdicts),
		cmocka_unit_test(test_audit__submake_after),
		cmocka_unit_test(test_audit__dpkg_search_output),
		cmocka_unit_test(test_audit__dpkg_merged_usr_names),
		cmocka_unit_test(test_audit__dpkg_cache_keyed_by_status),
		cmocka_unit_test(test_audit__dpkg_resolves_real_files),
		cmocka_unit_test(test_audit__compiler_names),
		cmocka_unit_test(test_audit__compile_entries_in_bear_form),
		cmocka_unit_test(test_audit__dot_escape_odd_names),
		cmocka_unit_test(test_audit__graph_dot_clusters_and_marks),
		cmocka_unit_test(test_audit__no_recording_is_an_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
