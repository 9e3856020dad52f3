/*
 * test_driverlog.c - ninja's command hash and path canonicalization, and the
 * .ninja_log / .ninja_deps records written for commands run outside ninja, checked
 * with the real ninja: `ninja -n` has nothing to do (after an edit, a new #include,
 * a restat output left alone, an implicit input made after the output), `ninja -t
 * deps` lists the depfile's headers, the depfile is gone, a second commit appends
 * nothing.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "runtime/build/driverlog.h"
#include "runtime/lib/util.h"

#define CC_CMD "gcc -MD -MF a.o.d -c a.c -o a.o"
#define LINK_CMD "gcc a.o -o prog"
#define COPY_CMD "cmp -s a.h copy.h || cp a.h copy.h"

/* The hash ninja 1.11 wrote in .ninja_log for CC_CMD. */
static void test_driverlog__hash_is_ninjas(void **state)
{
	(void)state;
	assert_true(driverlog_ninja_hash(CC_CMD) == 0xed36089e3b2fb971ull);
	assert_true(driverlog_ninja_hash("") != driverlog_ninja_hash(" "));
}

static void canon(const char *in, const char *want)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", in);
	driverlog_canon(buf);
	assert_string_equal(buf, want);
}

static void test_driverlog__canon_is_ninjas(void **state)
{
	(void)state;
	canon("a.o", "a.o");
	canon("./a/./b.h", "a/b.h");
	canon("a//b/../c.h", "a/c.h");
	canon("../src/x.c", "../src/x.c");
	canon("../../a/../b", "../../b");
	canon("/usr/include/../include/stdio.h", "/usr/include/stdio.h");
	canon("a/..", ".");
}

/* ---- with the real ninja ------------------------------------------------------------ */

struct fixture {
	char dir[PATH_MAX];
	char manifest[PATH_MAX + 16];
	struct graph g;
};

static void put(const struct fixture *f, const char *name, const char *text)
{
	char p[PATH_MAX + 64];
	snprintf(p, sizeof(p), "%s/%s", f->dir, name);
	FILE *fp = fopen(p, "w");
	assert_non_null(fp);
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
}

static bool exists(const struct fixture *f, const char *name)
{
	char p[PATH_MAX + 64];
	snprintf(p, sizeof(p), "%s/%s", f->dir, name);
	return access(p, F_OK) == 0;
}

static off_t size_of(const struct fixture *f, const char *name)
{
	char p[PATH_MAX + 64];
	struct stat st;
	snprintf(p, sizeof(p), "%s/%s", f->dir, name);
	return stat(p, &st) == 0 ? st.st_size : -1;
}

/* Run a shell command in the fixture's directory; its stdout in *out (may be NULL). */
static int sh(const struct fixture *f, const char *cmd, struct sbuf *out)
{
	char full[3 * PATH_MAX], tmp[PATH_MAX + 32];
	snprintf(tmp, sizeof(tmp), "%s.out", f->dir);
	snprintf(full, sizeof(full), "cd '%s' && { %s; } >'%s' 2>&1", f->dir, cmd, tmp);
	int st = system(full);
	if (out)
		assert_int_equal(file_read_all(tmp, out, 1 << 20), 0);
	unlink(tmp);
	return st;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/gg-test-driverlog-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	put(f, "build.ninja",
	    "rule cc\n"
	    "  command = gcc -MD -MF $out.d -c $in -o $out\n"
	    "  deps = gcc\n"
	    "  depfile = $out.d\n"
	    "rule link\n"
	    "  command = gcc $in -o $out\n"
	    "rule copy\n"
	    "  command = cmp -s $in $out || cp $in $out\n"
	    "  restat = 1\n"
	    "build a.o: cc a.c\n"
	    "build prog: link a.o | copy.h\n"
	    "build copy.h: copy a.h\n");
	put(f, "a.c", "#include \"a.h\"\nint main(void) { return A; }\n");
	put(f, "a.h", "#define A 0\n");
	put(f, "b.h", "#define B 1\n");
	graph_init(&f->g);
	snprintf(f->manifest, sizeof(f->manifest), "%s/build.ninja", f->dir);
	f->g.driver_inputs = calloc(1, sizeof(*f->g.driver_inputs));
	assert_non_null(f->g.driver_inputs);
	f->g.driver_inputs[0].path = strdup(f->manifest);
	f->g.ndriver_inputs = 1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	graph_release(&f->g);
	rm_rf(f->dir);
	free(f);
	return 0;
}

/* What gg does for one node: run `cmd` in the tree (as the sandbox would have made
 * the same files), then note the node. */
static void run_node(struct fixture *f, struct driverlog **dl, const char *cmd,
		     const char *const *outs, const char *const *ins)
{
	struct gg_hash h = { 0 };
	struct thunk th;
	char p[PATH_MAX + 64];

	assert_int_equal(sh(f, cmd, NULL), 0);
	thunk_init(&th);
	assert_int_equal(thunk_set_cwd(&th, f->dir), 0);
	assert_int_equal(thunk_add_arg(&th, "/bin/sh"), 0);
	assert_int_equal(thunk_add_arg(&th, "-c"), 0);
	assert_int_equal(thunk_add_arg(&th, cmd), 0);
	for (size_t i = 0; outs[i]; i++) {
		snprintf(p, sizeof(p), "%s/%s", f->dir, outs[i]);
		assert_int_equal(thunk_add_output(&th, p), 0);
	}
	for (size_t i = 0; ins && ins[i]; i++) {
		snprintf(p, sizeof(p), "%s/%s", f->dir, ins[i]);
		h.kind = GG_HASH_VALUE;
		h.bytes[0] = (uint8_t)i; /* (not read: only the path matters here) */
		assert_int_equal(thunk_add_input(&th, p, &h, 0, 0100644), 0);
	}
	assert_int_equal(driverlog_add(dl, &f->g, &th, NULL), 0);
	thunk_release(&th);
}

static void build_both(struct fixture *f)
{
	static const char *const cc_outs[] = { "a.o", "a.o.d", NULL };
	static const char *const link_outs[] = { "prog", NULL };
	struct driverlog *dl = NULL;
	char err[512];

	static const char *const cc_ins[] = { "a.c", "a.h", NULL };
	static const char *const link_ins[] = { "a.o", NULL };
	static const char *const copy_outs[] = { "copy.h", NULL };
	static const char *const copy_ins[] = { "a.h", NULL };
	run_node(f, &dl, CC_CMD, cc_outs, cc_ins);
	run_node(f, &dl, LINK_CMD, link_outs, link_ins);
	run_node(f, &dl, COPY_CMD, copy_outs, copy_ins);
	assert_non_null(dl);
	assert_int_equal(driverlog_commit(&dl, err, sizeof(err)), 0);
	assert_null(dl);
}

static void assert_no_work(struct fixture *f)
{
	struct sbuf out = SBUF_INIT;
	assert_int_equal(sh(f, "ninja -n -d explain", &out), 0);
	if (!strstr(out.buf, "no work to do"))
		fail_msg("ninja -n: %s", out.buf);
	sbuf_release(&out);
}

/* No ninja ever ran here: the logs are created and ninja agrees. */
static void test_driverlog__cold_tree_satisfies_ninja(void **state)
{
	struct fixture *f = *state;
	struct sbuf out = SBUF_INIT;

	build_both(f);
	assert_false(exists(f, "a.o.d"));
	assert_no_work(f);
	assert_int_equal(sh(f, "ninja -t deps a.o", &out), 0);
	assert_non_null(strstr(out.buf, "a.h"));
	assert_null(strstr(out.buf, "b.h"));
	sbuf_release(&out);
}

/* ninja built the tree; a source gains an #include; gg runs the compile and the
 * link: ninja's logs get the new deps and mtimes, and a no-op commit adds nothing. */
static void test_driverlog__after_ninja_and_an_edit(void **state)
{
	struct fixture *f = *state;
	struct sbuf out = SBUF_INIT;
	struct driverlog *dl = NULL;
	char err[512];

	assert_int_equal(sh(f, "ninja", NULL), 0);
	assert_false(exists(f, "a.o.d"));
	put(f, "a.c", "#include \"a.h\"\n#include \"b.h\"\nint main(void) { return A + B; }\n");
	assert_int_equal(sh(f, "ninja -n | grep -q 'ninja: no work to do'", NULL) != 0, 1);
	build_both(f);
	assert_false(exists(f, "a.o.d"));
	assert_no_work(f);
	assert_int_equal(sh(f, "ninja -t deps a.o", &out), 0);
	assert_non_null(strstr(out.buf, "b.h"));
	sbuf_release(&out);

	/* the header edited: gg runs the compile again */
	put(f, "b.h", "#define B 2\n");
	build_both(f);
	assert_no_work(f);

	/* a.h rewritten with the same bytes: the restat copy leaves copy.h (and its
	 * old mtime) alone, yet ninja must see the edge as done */
	struct stat before, after;
	char copy[PATH_MAX + 16];
	snprintf(copy, sizeof(copy), "%s/copy.h", f->dir);
	assert_int_equal(stat(copy, &before), 0);
	put(f, "a.h", "#define A 0\n");
	build_both(f);
	assert_int_equal(stat(copy, &after), 0);
	assert_true(before.st_mtim.tv_sec == after.st_mtim.tv_sec &&
		    before.st_mtim.tv_nsec == after.st_mtim.tv_nsec);
	assert_no_work(f);

	/* a.h changes: gg links prog before it remakes copy.h, an implicit input of
	 * prog the link does not read (as Meson's .symbols files): ninja, which runs
	 * the link after it, must still see prog up to date */
	put(f, "a.h", "#define A 0 /* changed */\n");
	build_both(f);
	assert_no_work(f);

	/* nothing changed: nothing appended, even with the depfile back (a cached
	 * output gg materializes again) */
	off_t log = size_of(f, ".ninja_log"), deps = size_of(f, ".ninja_deps");
	assert_int_equal(sh(f, "gcc -MD -MF a.o.d -E a.c -o /dev/null -MQ a.o", NULL), 0);
	static const char *const cc_outs[] = { "a.o", "a.o.d", NULL };
	struct thunk th;
	char p[PATH_MAX + 64];
	thunk_init(&th);
	assert_int_equal(thunk_set_cwd(&th, f->dir), 0);
	assert_int_equal(thunk_add_arg(&th, "/bin/sh"), 0);
	assert_int_equal(thunk_add_arg(&th, "-c"), 0);
	assert_int_equal(thunk_add_arg(&th, CC_CMD), 0);
	for (size_t i = 0; cc_outs[i]; i++) {
		snprintf(p, sizeof(p), "%s/%s", f->dir, cc_outs[i]);
		assert_int_equal(thunk_add_output(&th, p), 0);
	}
	assert_int_equal(driverlog_add(&dl, &f->g, &th, NULL), 0);
	thunk_release(&th);
	assert_int_equal(driverlog_commit(&dl, err, sizeof(err)), 0);
	assert_int_equal(size_of(f, ".ninja_log"), log);
	assert_int_equal(size_of(f, ".ninja_deps"), deps);
	assert_false(exists(f, "a.o.d"));
	assert_no_work(f);
}

/* A command not run by ninja (no build.ninja among the driver inputs) is ignored. */
static void test_driverlog__ignores_other_drivers(void **state)
{
	struct fixture *f = *state;
	static const char *const cc_outs[] = { "a.o", "a.o.d", NULL };
	struct driverlog *dl = NULL;
	char err[64];

	free(f->g.driver_inputs[0].path);
	f->g.driver_inputs[0].path = strdup("/nonexistent/Makefile");
	run_node(f, &dl, CC_CMD, cc_outs, NULL);
	assert_null(dl);
	assert_int_equal(driverlog_commit(&dl, err, sizeof(err)), 0);
	assert_true(exists(f, "a.o.d"));
	assert_false(exists(f, ".ninja_log"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_driverlog__hash_is_ninjas),
		cmocka_unit_test(test_driverlog__canon_is_ninjas),
		cmocka_unit_test_setup_teardown(test_driverlog__cold_tree_satisfies_ninja, setup, teardown),
		cmocka_unit_test_setup_teardown(test_driverlog__after_ninja_and_an_edit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_driverlog__ignores_other_drivers, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
