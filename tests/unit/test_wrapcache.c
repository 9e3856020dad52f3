/*
 * Unit tests for inferer/wrapcache.c: tool cache directories recognised by their
 * CACHEDIR.TAG or by a compiler cache's settings, never the build tree; and, through
 * infer_run on a forged trace, a compiler cache's writes are neither outputs nor a
 * reason for local-only while other writes outside the tree still are.
 */
#include <errno.h>
#include <fcntl.h>
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

#include "inferer/infer.h"
#include "shim/trace_enc.h"
#include "runtime/ir/thunk.h"
#include "inferer/wrapcache.h"

struct fixture {
	char top[64];  /* mkdtemp'd; holds tree/, cache/, plain/, home/ */
	char tree[128];
	char cache[128]; /* tagged */
	char plain[128]; /* not tagged */
	char home[128];
};

static void put(const char *path, const char *content)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
}

static void join(char *out, size_t cap, const char *a, const char *b)
{
	assert_true((size_t)snprintf(out, cap, "%s/%s", a, b) < cap);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char p[PATH_MAX];

	if (!f)
		return -1;
	strcpy(f->top, "/tmp/gg-test-wrapcache-XXXXXX");
	if (!mkdtemp(f->top))
		return -1;
	join(f->tree, sizeof(f->tree), f->top, "tree");
	join(f->cache, sizeof(f->cache), f->top, "cache");
	join(f->plain, sizeof(f->plain), f->top, "plain");
	join(f->home, sizeof(f->home), f->top, "home");
	if (mkdir(f->tree, 0755) || mkdir(f->cache, 0755) || mkdir(f->plain, 0755) ||
	    mkdir(f->home, 0755))
		return -1;
	join(p, sizeof(p), f->cache, "CACHEDIR.TAG");
	put(p, WRAPCACHE_TAG_SIGNATURE "\n# This file is a cache directory tag.\n");
	join(p, sizeof(p), f->tree, "a.c");
	put(p, "int a;\n");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[PATH_MAX];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->top);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void test_wrapcache__wrapper_by_executable_name(void **state)
{
	static const struct { const char *exe; bool is; } cases[] = {
		{ "/usr/bin/ccache", true },   { "/opt/x/bin/sccache", true },
		{ "ccache", true },            { "/usr/bin/cc", false },
		{ "/usr/bin/ccache-swig", false }, { "/usr/bin/ccache.sh", false },
		{ "", false },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(wrapcache_is_wrapper(cases[i].exe), cases[i].is);
	assert_false(wrapcache_is_wrapper(NULL));
}

static void test_wrapcache__tagged_directory_is_scratch(void **state)
{
	struct fixture *f = *state;
	struct wrapcache w;
	char p[PATH_MAX], bad[PATH_MAX];

	assert_int_equal(wrapcache_init(&w, f->tree), 0);
	join(p, sizeof(p), f->cache, "3/stats");
	assert_true(wrapcache_is_scratch(&w, p, true));
	assert_true(wrapcache_is_scratch(&w, f->cache, true)); /* the directory itself */
	assert_false(wrapcache_is_scratch(&w, f->cache, false)); /* (not probed: a file's name) */
	join(p, sizeof(p), f->plain, "x");
	assert_false(wrapcache_is_scratch(&w, p, true));
	assert_false(wrapcache_is_scratch(&w, "/usr/include/stdio.h", true));
	/* a tag without the signature is not one */
	join(bad, sizeof(bad), f->plain, "CACHEDIR.TAG");
	put(bad, "Signature: not the right one at all, sorry\n");
	join(p, sizeof(p), f->plain, "y");
	assert_false(wrapcache_is_scratch(&w, p, true));
	wrapcache_release(&w);
}

static void test_wrapcache__tagged_directory_in_tree_is_not_scratch(void **state)
{
	struct fixture *f = *state;
	struct wrapcache w;
	char target[PATH_MAX], p[PATH_MAX];

	/* cargo tags its target/: build outputs, not a tool's cache */
	join(target, sizeof(target), f->tree, "target");
	assert_int_equal(mkdir(target, 0755), 0);
	join(p, sizeof(p), target, "CACHEDIR.TAG");
	put(p, WRAPCACHE_TAG_SIGNATURE "\n");
	assert_int_equal(wrapcache_init(&w, f->tree), 0);
	join(p, sizeof(p), target, "release/prog");
	assert_false(wrapcache_is_scratch(&w, p, true));
	wrapcache_release(&w);

	/* a tree inside a tagged directory: the tree is still the build's, and the
	 * directories holding it are never a cache */
	join(p, sizeof(p), f->cache, "proj");
	assert_int_equal(wrapcache_init(&w, p), 0);
	join(target, sizeof(target), p, "x.o");
	assert_false(wrapcache_is_scratch(&w, target, true));
	join(target, sizeof(target), f->cache, "3/stats");
	assert_false(wrapcache_is_scratch(&w, target, true));
	wrapcache_release(&w);
}

static void test_wrapcache__settings_of_a_ccache_process(void **state)
{
	struct fixture *f = *state;
	struct wrapcache w;
	char env_dir[PATH_MAX + 32], env_home[PATH_MAX + 32], env_conf[PATH_MAX + 32], conf[PATH_MAX];
	char p[PATH_MAX];

	assert_int_equal(wrapcache_init(&w, f->tree), 0);
	/* a compiler is not a cache: its environment says nothing */
	snprintf(env_dir, sizeof(env_dir), "CCACHE_DIR=%s/cc-dir", f->plain);
	{
		const char *env[] = { env_dir };
		assert_int_equal(wrapcache_note_process(&w, "/usr/bin/gcc-12", env, 1, "/"), 0);
		assert_int_equal(w.dirs.n, 0);
	}
	/* CCACHE_DIR (relative: against the cwd), the defaults under HOME, and the
	 * cache_dir of the configuration file named by CCACHE_CONFIGPATH */
	join(conf, sizeof(conf), f->home, "ccache.conf");
	put(conf, "# comment\nmax_size = 5G\ncache_dir = $HOME/from-conf\n");
	snprintf(env_home, sizeof(env_home), "HOME=%s", f->home);
	snprintf(env_conf, sizeof(env_conf), "CCACHE_CONFIGPATH=%s", conf);
	{
		const char *env[] = { "PATH=/usr/bin", "CCACHE_DIR=../rel-cache", env_home, env_conf };
		assert_int_equal(wrapcache_note_process(&w, "/usr/bin/ccache", env, 4, f->tree), 0);
	}
	join(p, sizeof(p), f->top, "rel-cache/a/b/stats");
	assert_true(wrapcache_is_scratch(&w, p, true));
	join(p, sizeof(p), f->home, ".cache/ccache/0/stats");
	assert_true(wrapcache_is_scratch(&w, p, true));
	join(p, sizeof(p), f->home, "from-conf/tmp/x.i");
	assert_true(wrapcache_is_scratch(&w, p, true));
	join(p, sizeof(p), f->home, "other");
	assert_false(wrapcache_is_scratch(&w, p, true));
	join(p, sizeof(p), f->tree, "a.o");
	assert_false(wrapcache_is_scratch(&w, p, true));
	wrapcache_release(&w);

	/* an empty CCACHE_CONFIGPATH file; XDG_CONFIG_HOME's file, written without spaces */
	assert_int_equal(wrapcache_init(&w, f->tree), 0);
	join(conf, sizeof(conf), f->home, "empty.conf");
	put(conf, "");
	snprintf(env_conf, sizeof(env_conf), "CCACHE_CONFIGPATH=%s", conf);
	join(p, sizeof(p), f->home, "ccache");
	assert_int_equal(mkdir(p, 0755), 0);
	join(conf, sizeof(conf), p, "ccache.conf");
	{
		FILE *cf = fopen(conf, "w");
		assert_non_null(cf);
		fprintf(cf, "cache_dir=%s/xdg-conf-cache\n", f->plain);
		fclose(cf);
	}
	snprintf(env_dir, sizeof(env_dir), "XDG_CONFIG_HOME=%s", f->home);
	{
		const char *env[] = { env_conf, env_dir };
		assert_int_equal(wrapcache_note_process(&w, "/usr/bin/ccache", env, 2, "/"), 0);
	}
	join(p, sizeof(p), f->plain, "xdg-conf-cache/1/stats");
	assert_true(wrapcache_is_scratch(&w, p, true));
	wrapcache_release(&w);
}

static void test_wrapcache__tree_and_root_are_never_caches(void **state)
{
	struct fixture *f = *state;
	struct wrapcache w;
	char p[PATH_MAX];

	assert_int_equal(wrapcache_init(&w, f->tree), 0);
	assert_int_equal(wrapcache_add_dir(&w, "/"), 0);
	assert_int_equal(wrapcache_add_dir(&w, f->tree), 0);
	assert_int_equal(wrapcache_add_dir(&w, f->top), 0); /* holds the tree */
	assert_int_equal(w.dirs.n, 0);
	{
		const char *env[] = { "CCACHE_DIR=." };
		assert_int_equal(wrapcache_note_process(&w, "/usr/bin/ccache", env, 1, f->tree), 0);
		assert_int_equal(w.dirs.n, 0);
	}
	/* a cache inside the tree, named by the wrapper's settings, is scratch */
	join(p, sizeof(p), f->tree, "ccache");
	assert_int_equal(wrapcache_add_dir(&w, p), 0);
	assert_int_equal(w.dirs.n, 1);
	join(p, sizeof(p), f->tree, "ccache/1/stats");
	assert_true(wrapcache_is_scratch(&w, p, true));
	join(p, sizeof(p), f->tree, "ccache.c");
	assert_false(wrapcache_is_scratch(&w, p, true));
	wrapcache_release(&w);
}

/* ---- through infer_run ---------------------------------------------------------- */

struct log {
	char buf[1 << 15];
	size_t len;
	char name[64];
};

static void put_rec(struct log *l, struct tenc *e)
{
	ssize_t n = tenc_finish(e);
	assert_true(n > 0 && l->len + (size_t)n <= sizeof(l->buf));
	memcpy(l->buf + l->len, e->buf, (size_t)n);
	l->len += (size_t)n;
}

static void log_proc(struct log *l, uint64_t t, int pid, int ppid, int origin, const char *exe,
		     char *const *env, const char *cwd)
{
	char rec[8192];
	struct tenc e = TENC_INIT(rec, sizeof(rec));
	char *argv[] = { (char *)path_base(exe), NULL };

	tenc_file_header(l->buf);
	l->len = GG_TRACE_HEADER_LEN;
	snprintf(l->name, sizeof(l->name), "%d-%016llx.ggt", pid, (unsigned long long)t);
	/* the shim's own encoders, generated from trace_schema.h */
	tenc_rec_proc(&e, t, &(struct gg_rec_proc){
		.pid = pid, .ppid = ppid, .origin = (uint64_t)origin, .start_ns = t, .exe = exe,
		.execfn = exe, .argv = { argv, 1024 }, .env = { env, 4096 }, .cwd = cwd,
		.umask = 022, .parent_log = "", .stdio = { 8, 8, 8 } });
	put_rec(l, &e);
}

static void log_open(struct log *l, uint64_t t, const char *path, int flags)
{
	char rec[PATH_MAX * 2];
	struct tenc e = TENC_INIT(rec, sizeof(rec));

	tenc_rec_open(&e, t, &(struct gg_rec_open){ .fn = GG_FN_openat, .path = path,
						     .flags = flags, .mode = 0644, .ret = 3 });
	put_rec(l, &e);
}

static void log_spawn(struct log *l, uint64_t t, const char *exe, int child)
{
	char rec[4096];
	struct tenc e = TENC_INIT(rec, sizeof(rec));
	char *argv[] = { (char *)path_base(exe), NULL };

	tenc_rec_spawn(&e, t, &(struct gg_rec_spawn){ .fn = GG_FN_posix_spawn, .path = exe,
						       .argv = { argv, 1024 }, .ret = child });
	put_rec(l, &e);
}

static void log_wait(struct log *l, uint64_t t, int child)
{
	char rec[256];
	struct tenc e = TENC_INIT(rec, sizeof(rec));

	tenc_rec_wait(&e, t, &(struct gg_rec_wait){ .fn = GG_FN_waitpid, .pid = child });
	put_rec(l, &e);
}

static bool in_cache(const struct fixture *f, const char *ccdir, const char *path)
{
	char home_cache[PATH_MAX];

	join(home_cache, sizeof(home_cache), f->home, ".cache");
	return !strncmp(path, f->cache, strlen(f->cache)) || !strncmp(path, ccdir, strlen(ccdir)) ||
	       !strncmp(path, home_cache, strlen(home_cache));
}

/*
 * ninja spawns three commands: a ccache compile that writes its stats into the
 * cache named by CCACHE_DIR (untagged) and into a tagged directory, a ccache compile
 * with no CCACHE_DIR whose default cache ($HOME/.cache/ccache) gets a manifest, and
 * a tool that writes outside the tree into a plain directory.  Only the last one is
 * local-only; no cache file is an output or an input.
 */
static void test_wrapcache__infer_ignores_cache_files(void **state)
{
	struct fixture *f = *state;
	static struct log ninja, cc1, cc2, tool;
	char ccdir[PATH_MAX], env_ccdir[PATH_MAX + 32], env_home[PATH_MAX + 32], p[PATH_MAX];
	char ao[PATH_MAX], bo[PATH_MAX], co[PATH_MAX], ac[PATH_MAX], gg[PATH_MAX];
	char *env_plain[] = { "PATH=/usr/bin", NULL };
	char *env1[] = { "PATH=/usr/bin", env_ccdir, "CCACHE_DISABLE=1", NULL };
	char *env2[] = { "PATH=/usr/bin", env_home, "CCACHE_DISABLE=1", NULL };
	struct trace t;
	struct store st = STORE_INIT;
	struct statcache *sc = NULL;
	struct graph g;
	struct infer_stats stats;
	struct infer_opts o = { .tree = f->tree, .hash_only = true };
	char err[256];

	join(ccdir, sizeof(ccdir), f->plain, "ccache-dir");
	snprintf(env_ccdir, sizeof(env_ccdir), "CCACHE_DIR=%s", ccdir);
	snprintf(env_home, sizeof(env_home), "HOME=%s", f->home);
	join(ac, sizeof(ac), f->tree, "a.c");
	join(ao, sizeof(ao), f->tree, "a.o");
	join(bo, sizeof(bo), f->tree, "b.o");
	join(co, sizeof(co), f->tree, "c.out");
	join(gg, sizeof(gg), f->tree, ".gg");
	put(ao, "obj a\n");
	put(bo, "obj b\n");
	put(co, "out c\n");

	log_proc(&ninja, 10, 100, 1, GG_ORIGIN_ROOT, "/usr/bin/ninja", env_plain, f->tree);
	log_spawn(&ninja, 11, "/usr/bin/ccache", 101);
	log_spawn(&ninja, 12, "/usr/bin/ccache", 102);
	log_spawn(&ninja, 13, "/usr/bin/tool", 103);

	log_proc(&cc1, 20, 101, 100, GG_ORIGIN_EXEC, "/usr/bin/ccache", env1, f->tree);
	join(p, sizeof(p), ccdir, "ccache.conf");
	log_open(&cc1, 21, p, O_RDONLY);
	log_open(&cc1, 22, ac, O_RDONLY);
	log_open(&cc1, 23, ao, O_WRONLY | O_CREAT | O_TRUNC);
	join(p, sizeof(p), ccdir, "3/stats");
	log_open(&cc1, 24, p, O_WRONLY | O_CREAT | O_TRUNC);
	join(p, sizeof(p), f->cache, "5/stats");
	log_open(&cc1, 25, p, O_WRONLY | O_CREAT | O_TRUNC);

	log_proc(&cc2, 30, 102, 100, GG_ORIGIN_EXEC, "/usr/bin/ccache", env2, f->tree);
	log_open(&cc2, 31, ac, O_RDONLY);
	log_open(&cc2, 32, bo, O_WRONLY | O_CREAT | O_TRUNC);
	join(p, sizeof(p), f->home, ".cache/ccache/a/b/xyzM");
	log_open(&cc2, 33, p, O_WRONLY | O_CREAT | O_TRUNC);

	log_proc(&tool, 40, 103, 100, GG_ORIGIN_EXEC, "/usr/bin/tool", env_plain, f->tree);
	log_open(&tool, 41, co, O_WRONLY | O_CREAT | O_TRUNC);
	join(p, sizeof(p), f->plain, "leftover");
	log_open(&tool, 42, p, O_WRONLY | O_CREAT | O_TRUNC);

	log_wait(&ninja, 50, 101);
	log_wait(&ninja, 51, 102);
	log_wait(&ninja, 52, 103);

	trace_init(&t);
	assert_int_equal(trace_add_buf(&t, ninja.name, ninja.buf, ninja.len, NULL), 0);
	assert_int_equal(trace_add_buf(&t, cc1.name, cc1.buf, cc1.len, NULL), 0);
	assert_int_equal(trace_add_buf(&t, cc2.name, cc2.buf, cc2.len, NULL), 0);
	assert_int_equal(trace_add_buf(&t, tool.name, tool.buf, tool.len, NULL), 0);
	assert_int_equal(trace_link(&t), 0);
	assert_int_equal(store_init(&st, gg, STORE_CREATE), 0);
	assert_true(statcache_open(&sc, gg) >= 0);
	assert_int_equal(infer_run(&t, &st, sc, &o, &g, &stats, NULL, err, sizeof(err)), 0);

	assert_int_equal(g.n, 3);
	for (size_t i = 0; i < g.n; i++) {
		const struct graph_node *n = &g.nodes[i];
		struct thunk th = THUNK_INIT;
		bool is_tool = false;

		for (size_t k = 0; k < n->noutputs; k++)
			is_tool |= !strcmp(n->outputs[k].path, co);
		/* the tool's leftover outside the tree stays an output, and local-only */
		assert_int_equal(n->noutputs, is_tool ? 2 : 1);
		assert_int_equal(n->local, is_tool ? THUNK_LOCAL_WRITES_OUTSIDE_TREE : 0);
		for (size_t k = 0; k < n->noutputs && !is_tool; k++)
			assert_true(!strcmp(n->outputs[k].path, ao) || !strcmp(n->outputs[k].path, bo));
		assert_int_equal(store_load_thunk(&st, &n->hash, &th), 0);
		for (size_t k = 0; k < th.inputs.n; k++)
			assert_false(in_cache(f, ccdir, th.inputs.v[k].path));
		for (size_t k = 0; k < th.missing.n; k++)
			assert_false(in_cache(f, ccdir, th.missing.v[k]));
		thunk_release(&th);
	}
	graph_release(&g);
	statcache_free(sc);
	store_release(&st);
	trace_release(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wrapcache__wrapper_by_executable_name),
		cmocka_unit_test_setup_teardown(test_wrapcache__tagged_directory_is_scratch, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_wrapcache__tagged_directory_in_tree_is_not_scratch,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrapcache__settings_of_a_ccache_process, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_wrapcache__tree_and_root_are_never_caches, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_wrapcache__infer_ignores_cache_files, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
