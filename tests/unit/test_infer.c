/*
 * Unit tests for inferer/infer.c: the cut rules on synthetic traces (forged with the
 * shim's encoder), over a real temporary tree and store.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "runtime/store/cache.h"
#include "inferer/infer.h"
#include "shim/trace_enc.h"
#include "runtime/ir/thunk.h"

/* ---- forging traces ------------------------------------------------------------- */

struct forge {
	char dir[PATH_MAX];  /* the build tree */
	char gg[PATH_MAX];   /* its .gg */
	struct trace t;
	uint64_t clock;
	/* the log being written */
	char buf[1 << 16];
	size_t len;
	char name[64];
	bool batched; /* img(): the image's PROC says it writes in batches */
};

static struct forge F;

static void put_rec(struct tenc *e)
{
	ssize_t n = tenc_finish(e);
	assert_true(n > 0);
	memcpy(F.buf + F.len, e->buf, (size_t)n);
	F.len += (size_t)n;
}

/* Start the log of an image; argv NULL-terminated. */
static void img(int pid, int ppid, int origin, const char *exe, const char *const *argv,
		const char *parent_log)
{
	char rec[8192];
	struct tenc e = TENC_INIT(rec, sizeof(rec));
	char *env[] = { "PATH=/usr/bin:/bin", "MAKEFLAGS=-j2", "AWS_SECRET_ACCESS_KEY=x", NULL };

	F.len = 0;
	tenc_file_header(F.buf);
	F.len = GG_TRACE_HEADER_LEN;
	snprintf(F.name, sizeof(F.name), "%d-%016llx.ggt", pid, (unsigned long long)++F.clock);
	++F.clock;
	tenc_rec_proc(&e, F.clock, &(struct gg_rec_proc){
		.pid = pid, .ppid = ppid, .origin = (uint64_t)origin, .start_ns = F.clock,
		.exe = exe, .execfn = exe, .argv = { (char *const *)argv, sizeof(rec) / 2 },
		.env = { env, 4096 }, .cwd = F.dir, .umask = 022,
		.parent_log = parent_log ? parent_log : "", .stdio = { 8, 8, 8 },
		.batched = F.batched });
	put_rec(&e);
}

static void end_img(void)
{
	assert_int_equal(trace_add_buf(&F.t, F.name, F.buf, F.len, NULL), 0);
}

static void ev_open_err(const char *rel, int flags, int ret, int err)
{
	char rec[PATH_MAX * 3], path[PATH_MAX * 2];
	struct tenc e = TENC_INIT(rec, sizeof(rec));
	snprintf(path, sizeof(path), "%s/%s", F.dir, rel);
	tenc_rec_open(&e, ++F.clock, &(struct gg_rec_open){ .fn = GG_FN_openat, .path = path,
							     .flags = flags, .mode = 0644,
							     .ret = ret, .err = err });
	put_rec(&e);
}

/* An L field's list, whole (struct tenc_fill). */
static void fill_strv(struct tenc *e, void *ctx)
{
	tenc_strv(e, ctx, PATH_MAX * 2);
}

/* The dynamic loader mapped a program of the tree (an executable it ran). */
static void ev_objs(const char *rel)
{
	char rec[PATH_MAX * 3], path[PATH_MAX * 2];
	struct tenc e = TENC_INIT(rec, sizeof(rec));
	char *objs[] = { path, NULL };
	snprintf(path, sizeof(path), "%s/%s", F.dir, rel);
	tenc_rec_objs(&e, ++F.clock, &(struct gg_rec_objs){ .interp = "",
							     .objects = { fill_strv, objs } });
	put_rec(&e);
}

static void ev_open(const char *rel, int flags, int ret)
{
	char rec[PATH_MAX * 3], path[PATH_MAX * 2];
	struct tenc e = TENC_INIT(rec, sizeof(rec));
	if (rel[0] == '/')
		snprintf(path, sizeof(path), "%s", rel);
	else
		snprintf(path, sizeof(path), "%s/%s", F.dir, rel);
	tenc_rec_open(&e, ++F.clock, &(struct gg_rec_open){ .fn = GG_FN_openat, .path = path,
							     .flags = flags, .mode = 0644, .ret = ret,
							     .err = ret < 0 ? ENOENT : 0 });
	put_rec(&e);
}

/* A failed open (ENOENT) as recorded: the path unjoined, of any length. */
static void ev_open_raw(const char *path)
{
	size_t cap = strlen(path) + 256;
	char *rec = malloc(cap);
	struct tenc e = TENC_INIT(rec, cap);
	assert_non_null(rec);
	tenc_rec_open(&e, ++F.clock, &(struct gg_rec_open){ .fn = GG_FN_openat, .path = path,
							     .flags = O_RDONLY, .mode = 0644, .ret = -1,
							     .err = ENOENT });
	put_rec(&e);
	free(rec);
}

static void ev_ns(int fn, const char *rel, long ret)
{
	char rec[PATH_MAX * 3], path[PATH_MAX * 2];
	struct tenc e = TENC_INIT(rec, sizeof(rec));
	snprintf(path, sizeof(path), "%s/%s", F.dir, rel);
	tenc_rec_ns(&e, ++F.clock, &(struct gg_rec_ns){ .fn = (unsigned)fn, .path = path, .path2 = "",
							 .ret = ret, .err = ret < 0 ? ENOENT : 0 });
	put_rec(&e);
}

static void ev_spawn(const char *exe, int child)
{
	char rec[4096];
	struct tenc e = TENC_INIT(rec, sizeof(rec));
	char *argv[] = { "sh", NULL };
	tenc_rec_spawn(&e, ++F.clock, &(struct gg_rec_spawn){ .fn = GG_FN_posix_spawn, .path = exe,
							       .argv = { argv, 1024 }, .ret = child });
	put_rec(&e);
}

static void ev_wait(int child, int status)
{
	char rec[256];
	struct tenc e = TENC_INIT(rec, sizeof(rec));
	tenc_rec_wait(&e, ++F.clock, &(struct gg_rec_wait){ .fn = GG_FN_waitpid, .pid = child,
							     .status = status });
	put_rec(&e);
}

static void ev_simple(enum gg_rec type, int a, int b)
{
	char rec[256];
	struct tenc e = TENC_INIT(rec, sizeof(rec));
	if (type == GG_REC_STDIN)
		tenc_rec_stdin(&e, ++F.clock, &(struct gg_rec_stdin){ .fn = GG_FN_read, .ftype = a,
								       .tty = b });
	else /* NET */
		tenc_rec_net(&e, ++F.clock, &(struct gg_rec_net){ .fn = GG_FN_socket, .domain = a,
								   .type = b, .ret = 3 });
	put_rec(&e);
}

static void ev_exit(int status)
{
	char rec[256];
	struct tenc e = TENC_INIT(rec, sizeof(rec));
	tenc_rec_exit(&e, ++F.clock, &(struct gg_rec_exit){ .how = GG_EXIT_EXIT, .status = status });
	put_rec(&e);
}

static void ev_exec(const char *path, bool opaque)
{
	char rec[4096];
	struct tenc e = TENC_INIT(rec, sizeof(rec));
	char *argv[] = { "static", NULL };
	tenc_rec_exec(&e, ++F.clock, &(struct gg_rec_exec){ .fn = GG_FN_execve, .path = path,
							     .argv = { argv, 1024 }, .opaque = opaque });
	put_rec(&e);
}

static void ev_exec_opaque(const char *path)
{
	ev_exec(path, true);
}

static void write_file(const char *rel, const char *content)
{
	char path[PATH_MAX * 2];
	FILE *f;
	snprintf(path, sizeof(path), "%s/%s", F.dir, rel);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
}

static const char *SH[] = { "sh", "-c", "cmd", NULL };
static const char *MAKE[] = { "make", NULL };

/* make (pid 100) spawns one `sh -c` per command, each pid 101.. with a script. */
struct step {
	const char *reads[4];
	const char *writes[4];
	const char *removes[4];
	const char *notdir[2];  /* opens that failed with ENOTDIR */
	const char *absent[2];  /* opens that failed with ENOENT */
	const char *runs[2];    /* programs of the tree it ran (OBJS records) */
	const char *denied[2];  /* opens that failed with EACCES */
	const char *raw;        /* a probe for a missing file, as recorded (ev_open_raw) */
	/* 1 stdin, 2 network, 3 opaque, 4 urandom, 5 no exit, 6 outside; batched images
	 * (trace_format.h): 7 killed (cut short), 8 ended with its EXIT record */
	int extra;
};

static struct graph G;
static struct infer_stats S;
static char ERR[512]; /* run_steps' error message */
static const char *cache_dir; /* run_steps' infer_opts.cache_dir (NULL: none) */

static int run_steps(const struct step *steps, size_t n)
{
	struct store st = STORE_INIT;
	struct statcache *sc = NULL;
	char err[512];
	char mlog[64];
	int ret;

	trace_init(&F.t);
	/* make's own log: spawns and waits, written last with the right times */
	uint64_t t0 = F.clock;
	(void)t0;
	img(100, 1, GG_ORIGIN_ROOT, "/usr/bin/make", MAKE, NULL);
	snprintf(mlog, sizeof(mlog), "%s", F.name);
	char mbuf[1 << 16];
	size_t mlen = F.len;
	memcpy(mbuf, F.buf, F.len);
	for (size_t i = 0; i < n; i++) {
		int pid = 101 + (int)i;
		/* make spawns */
		F.len = mlen;
		memcpy(F.buf, mbuf, mlen);
		ev_spawn("/bin/sh", pid);
		mlen = F.len;
		memcpy(mbuf, F.buf, F.len);
		F.batched = steps[i].extra >= 7;
		img(pid, 100, GG_ORIGIN_EXEC, "/bin/sh", SH, NULL);
		F.batched = false;
		for (int k = 0; k < 4 && steps[i].reads[k]; k++)
			ev_open(steps[i].reads[k], O_RDONLY, 3);
		for (int k = 0; k < 2 && steps[i].notdir[k]; k++)
			ev_open_err(steps[i].notdir[k], O_RDONLY, -1, ENOTDIR);
		for (int k = 0; k < 2 && steps[i].absent[k]; k++)
			ev_open_err(steps[i].absent[k], O_RDONLY, -1, ENOENT);
		for (int k = 0; k < 2 && steps[i].runs[k]; k++)
			ev_objs(steps[i].runs[k]);
		for (int k = 0; k < 2 && steps[i].denied[k]; k++)
			ev_open_err(steps[i].denied[k], O_RDONLY, -1, EACCES);
		if (steps[i].raw)
			ev_open_raw(steps[i].raw);
		for (int k = 0; k < 4 && steps[i].writes[k]; k++)
			ev_open(steps[i].writes[k], O_WRONLY | O_CREAT | O_TRUNC, 4);
		for (int k = 0; k < 4 && steps[i].removes[k]; k++)
			ev_ns(GG_FN_unlink, steps[i].removes[k], 0);
		switch (steps[i].extra) {
		case 1: ev_simple(GG_REC_STDIN, 1, 0); break;
		case 2: ev_simple(GG_REC_NET, 2, 1); break;
		case 3: ev_exec_opaque("/bin/true"); break;
		case 4: ev_open("/dev/urandom", O_RDONLY, 5); break;
		case 6: ev_open("/tmp/gg-test-outside", O_WRONLY | O_CREAT, 5); break;
		case 8: ev_exit(0); break;
		}
		end_img();
		F.len = mlen;
		memcpy(F.buf, mbuf, mlen);
		if (steps[i].extra != 5)
			ev_wait(pid, steps[i].extra == 7 ? SIGKILL : 0);
		mlen = F.len;
		memcpy(mbuf, F.buf, F.len);
	}
	memcpy(F.name, mlog, sizeof(mlog));
	memcpy(F.buf, mbuf, mlen);
	F.len = mlen;
	end_img();
	assert_int_equal(trace_link(&F.t), 0);

	assert_int_equal(store_init(&st, F.gg, STORE_CREATE), 0);
	assert_true(statcache_open(&sc, F.gg) >= 0);
	struct infer_opts o = { .tree = F.dir, .cache_dir = cache_dir };
	ret = infer_run(&F.t, &st, sc, &o, &G, &S, NULL, err, sizeof(err));
	memcpy(ERR, err, sizeof(ERR));
	statcache_free(sc);
	store_release(&st);
	trace_release(&F.t);
	return ret;
}

static long node_of(const char *rel)
{
	char path[PATH_MAX * 2];
	snprintf(path, sizeof(path), "%s/%s", F.dir, rel);
	return graph_find_path(&G, path, NULL);
}

static bool depends(long a, long b) /* a depends on b */
{
	for (size_t i = 0; i < G.nodes[a].ndeps; i++)
		if ((long)G.nodes[a].deps[i] == b)
			return true;
	return false;
}

static int setup(void **state)
{
	char tmpl[] = "/tmp/gg-infer-XXXXXX";
	assert_non_null(mkdtemp(tmpl));
	memset(&F, 0, sizeof(F));
	snprintf(F.dir, sizeof(F.dir), "%s", tmpl);
	snprintf(F.gg, sizeof(F.gg), "%s/.gg", tmpl);
	F.clock = 1000;
	write_file("a.c", "int a;\n");
	write_file("b.c", "int b;\n");
	graph_init(&G);
	return 0;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 32];
	graph_release(&G);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", F.dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

/* ---- cases ---------------------------------------------------------------------- */

static void test_infer__compile_and_link_edges(void **state)
{
	struct step s[] = {
		{ .reads = { "a.c" }, .writes = { "a.o" } },
		{ .reads = { "b.c" }, .writes = { "b.o" } },
		{ .reads = { "a.o", "b.o" }, .writes = { "prog" } },
	};
	write_file("a.o", "A");
	write_file("b.o", "B");
	write_file("prog", "P");
	assert_int_equal(run_steps(s, 3), 0);
	assert_int_equal(G.n, 3);
	long a = node_of("a.o"), b = node_of("b.o"), p = node_of("prog");
	assert_true(a >= 0 && b >= 0 && p >= 0);
	assert_true(depends(p, a));
	assert_true(depends(p, b));
	assert_int_equal(G.nodes[a].ndeps, 0);
	assert_int_equal(S.pure, 3);
	assert_int_equal(S.edges, 2);
	assert_int_equal(G.nodes[a].ms, 1); /* a few ns of forged records, rounded up */
}

static void test_infer__temporaries_are_neither(void **state)
{
	struct step s[] = {
		{ .reads = { "a.c" }, .writes = { "a.o", "tmp.s" }, .removes = { "tmp.s" } },
	};
	write_file("a.o", "A");
	assert_int_equal(run_steps(s, 1), 0);
	assert_int_equal(G.n, 1);
	assert_int_equal(G.nodes[0].noutputs, 1);
	assert_true(strstr(G.nodes[0].outputs[0].path, "/a.o") != NULL);
	assert_true(node_of("tmp.s") < 0);
}

static void test_infer__rewritten_file_versions(void **state)
{
	struct step s[] = {
		{ .reads = { "a.c" }, .writes = { "gen.h" } },        /* A writes v1 */
		{ .reads = { "gen.h" }, .writes = { "x.o" } },        /* B reads v1 */
		{ .reads = { "b.c" }, .writes = { "gen.h" } },        /* C writes v2 */
		{ .reads = { "gen.h" }, .writes = { "y.o" } },        /* D reads v2 */
	};
	write_file("gen.h", "v2");
	write_file("x.o", "x");
	write_file("y.o", "y");
	assert_int_equal(run_steps(s, 4), 0);
	assert_int_equal(G.n, 4);
	long x = node_of("x.o"), y = node_of("y.o"), c = node_of("gen.h");
	assert_true(depends(y, c));
	assert_false(depends(x, c));
	assert_int_equal(G.nodes[x].ndeps, 1);
	/* the final gen.h belongs to C; its value is known, A's version is not */
	size_t out;
	assert_int_equal(graph_find_path(&G, G.nodes[c].outputs[0].path, &out), c);
	assert_true(hash_is_set(&G.nodes[c].outputs[out].value));
	long a = (long)G.nodes[x].deps[0];
	assert_false(hash_is_set(&G.nodes[a].outputs[0].value));
}

struct entries_check {
	void (*check)(const struct cache_entry *);
	size_t n;
};

static int entries_one(void *ctx, const struct gg_hash *key, const struct cache_entry *e)
{
	struct entries_check *c = ctx;
	assert_int_equal(key->kind, GG_HASH_THUNK);
	c->check(e);
	c->n++;
	return 0;
}

/* The results entries gg infer wrote, each checked by check(entry). */
static size_t cache_entries(void (*check)(const struct cache_entry *))
{
	struct entries_check c = { check, 0 };

	assert_int_equal(cache_foreach(F.gg, entries_one, &c), 0);
	return c.n;
}

static bool saw_depfile;

static void check_removed_depfile(const struct cache_entry *e)
{
	for (size_t i = 0; i < e->n; i++) {
		bool depfile = strstr(e->v[i].path, "/a.o.d") != NULL;
		saw_depfile |= depfile;
		assert_true(strstr(e->v[i].path, "/b.tmp") == NULL); /* read by c.o's step */
		assert_int_equal(hash_is_set(&e->v[i].value), !depfile);
	}
}

static void test_infer__removed_output_recorded_as_removed(void **state)
{
	struct step s[] = {
		/* a depfile the driver reads and deletes (ninja, deps = gcc) */
		{ .reads = { "a.c" }, .writes = { "a.o", "a.o.d" } },
		/* a file another command reads, then gone: its result is unknown */
		{ .reads = { "b.c" }, .writes = { "b.o", "b.tmp" } },
		{ .reads = { "b.tmp" }, .writes = { "c.o" } },
	};
	write_file("a.o", "A");
	write_file("b.o", "B");
	write_file("c.o", "C");
	cache_dir = F.gg;
	assert_int_equal(run_steps(s, 3), 0);
	cache_dir = NULL;
	assert_int_equal(G.n, 3);
	/* a.o's, its depfile removed; not b.o's (b.tmp's bytes are unknown) nor c.o's
	 * (its input b.tmp has no recorded value) */
	saw_depfile = false;
	assert_int_equal(cache_entries(check_removed_depfile), 1);
	assert_true(saw_depfile);
}

static void test_infer__local_only_reasons(void **state)
{
	static const struct { int extra; unsigned bit; } cases[] = {
		{ 1, THUNK_LOCAL_STDIN },       { 2, THUNK_LOCAL_NETWORK },
		{ 3, THUNK_LOCAL_OPAQUE_BINARY }, { 4, THUNK_LOCAL_URANDOM },
		{ 5, THUNK_LOCAL_OUTLIVED_DRIVER }, { 6, THUNK_LOCAL_WRITES_OUTSIDE_TREE },
		{ 7, THUNK_LOCAL_CUT_SHORT },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct step s[] = { { .reads = { "a.c" }, .writes = { "a.o" }, .extra = cases[i].extra } };
		write_file("a.o", "A");
		graph_release(&G);
		assert_int_equal(run_steps(s, 1), 0);
		assert_int_equal(G.n, 1);
		assert_int_equal(G.nodes[0].local & cases[i].bit, cases[i].bit);
		assert_int_equal(S.local, 1);
	}
	/* deleting a file the command did not create */
	struct step d[] = { { .reads = { "a.c" }, .writes = { "a.o" }, .removes = { "b.c" } } };
	graph_release(&G);
	assert_int_equal(run_steps(d, 1), 0);
	assert_int_equal(G.nodes[0].local, THUNK_LOCAL_DELETES_FOREIGN_FILES);
	/* a batched image that wrote its EXIT lost nothing */
	struct step b[] = { { .reads = { "a.c" }, .writes = { "a.o" }, .extra = 8 } };
	graph_release(&G);
	assert_int_equal(run_steps(b, 1), 0);
	assert_int_equal(G.nodes[0].local, 0);
}

static void test_infer__no_output_commands_dropped(void **state)
{
	struct step s[] = { { .reads = { "a.c" } }, { .reads = { "a.c" }, .writes = { "a.o" } } };
	write_file("a.o", "A");
	assert_int_equal(run_steps(s, 2), 0);
	assert_int_equal(G.n, 1);
	assert_int_equal(S.no_output, 1);
}

static void test_infer__secrets_and_plumbing_not_in_thunk(void **state)
{
	struct step s[] = { { .reads = { "a.c" }, .writes = { "a.o" } } };
	struct store st = STORE_INIT;
	struct thunk th;
	char *buf;
	size_t len;
	write_file("a.o", "A");
	assert_int_equal(run_steps(s, 1), 0);
	assert_int_equal(store_init(&st, F.gg, 0), 0);
	assert_int_equal(store_get_buf(&st, &G.nodes[0].hash, 1 << 20, &buf, &len), 0);
	assert_int_equal(thunk_decode(buf, len, &th), 0);
	assert_int_equal(th.env.n, 1);
	assert_string_equal(th.env.v[0], "PATH=/usr/bin:/bin");
	assert_int_equal(th.inputs.n, 1);
	assert_true(strstr(th.inputs.v[0].path, "/a.c") != NULL);
	thunk_release(&th);
	free(buf);
	store_release(&st);
}

/* The thunk of node n, decoded (released by the caller). */
static void load_thunk(long n, struct thunk *th)
{
	struct store st = STORE_INIT;
	assert_int_equal(store_init(&st, F.gg, 0), 0);
	assert_int_equal(store_load_thunk(&st, &G.nodes[n].hash, th), 0);
	store_release(&st);
}

static bool strv_has(const struct thunk_strv *v, const char *rel)
{
	char path[PATH_MAX * 2];
	snprintf(path, sizeof(path), "%s/%s", F.dir, rel);
	for (size_t i = 0; i < v->n; i++)
		if (!strcmp(v->v[i], path))
			return true;
	return false;
}

/*
 * A recorded path is normalised whole, however long (".." as it comes, against
 * the cwd), and one whose normal form does not fit fails the inference: it is
 * never cut short into another path.  (Probes: a path that long cannot be read.)
 */
static void test_infer__long_paths_are_never_truncated(void **state)
{
	enum { REPEAT = 4000 }; /* "x/../" 4000 times: 20000 bytes, more than 4 * PATH_MAX */
	char *rel = malloc(REPEAT * 5 + 16), *abs = malloc(REPEAT * 5 + 16);
	struct step s[] = { { .writes = { "a.o" } } };
	struct thunk th = THUNK_INIT;

	assert_non_null(rel);
	assert_non_null(abs);
	rel[0] = '\0';
	for (int i = 0; i < REPEAT; i++)
		strcat(rel, "x/../");
	strcat(rel, "gone.h");
	write_file("a.o", "A");
	s[0].raw = rel;
	assert_int_equal(run_steps(s, 1), 0);
	assert_int_equal(G.n, 1);
	load_thunk(0, &th);
	assert_int_equal(th.missing.n, 1);
	snprintf(abs, REPEAT * 5 + 16, "%s/gone.h", F.dir);
	assert_string_equal(th.missing.v[0], abs);
	thunk_release(&th);
	graph_release(&G);

	/* 20000 bytes that do not shrink: an error that says so, no graph */
	abs[0] = '/';
	memset(abs + 1, 'd', REPEAT * 5);
	abs[REPEAT * 5 + 1] = '\0';
	s[0].raw = abs;
	assert_int_equal(run_steps(s, 1), -ENAMETOOLONG);
	assert_non_null(strstr(ERR, strerror(ENAMETOOLONG)));
	assert_int_equal(G.n, 0);
	free(rel);
	free(abs);
}

/*
 * Failed probes keep what they found: ENOTDIR (a path below a file, as Python
 * looks for /usr/bin/gettext/__init__.py) apart from ENOENT; the first failure of
 * a path decides; other errors (EACCES) are no probe.
 */
static void test_infer__probes_keep_their_errno(void **state)
{
	struct step s[] = {
		{ .reads = { "a.c" }, .writes = { "a.o" }, .notdir = { "a.c/x.h", "b.c/y.h" },
		  .absent = { "none.h", "b.c/y.h" } },
	};
	struct thunk th;
	write_file("a.o", "A");
	assert_int_equal(run_steps(s, 1), 0);
	assert_int_equal(G.n, 1);
	load_thunk(0, &th);
	assert_int_equal(th.notdir.n, 2);
	assert_true(strv_has(&th.notdir, "a.c/x.h"));
	assert_true(strv_has(&th.notdir, "b.c/y.h")); /* ENOTDIR first */
	assert_true(strv_has(&th.missing, "none.h"));
	assert_false(strv_has(&th.missing, "b.c/y.h"));
	assert_false(strv_has(&th.missing, "a.c/x.h"));
	thunk_release(&th);

	/* "b.c/" looked up as a directory found the file b.c: an existence check */
	struct step f[] = { { .reads = { "a.c" }, .writes = { "a.o" }, .notdir = { "b.c/" } } };
	graph_release(&G);
	assert_int_equal(run_steps(f, 1), 0);
	load_thunk(0, &th);
	assert_int_equal(th.notdir.n, 0);
	assert_int_equal(th.missing.n, 0);
	assert_int_equal(th.inputs.n, 2);
	assert_non_null(strstr(th.inputs.v[1].path, "/b.c"));
	thunk_release(&th);

	/* permission denied: neither list */
	struct step d[] = { { .reads = { "a.c" }, .writes = { "a.o" }, .denied = { "locked.h" } } };
	graph_release(&G);
	assert_int_equal(run_steps(d, 1), 0);
	assert_int_equal(G.n, 1);
	load_thunk(0, &th);
	assert_false(strv_has(&th.missing, "locked.h"));
	assert_false(strv_has(&th.notdir, "locked.h"));
	thunk_release(&th);
}

/* A generator the build linked, then ran: its producer comes first (an edge). */
static void test_infer__program_of_the_tree_is_an_edge(void **state)
{
	struct step s[] = {
		{ .reads = { "a.c" }, .writes = { "gen" } },
		{ .reads = { "b.c" }, .runs = { "gen" }, .writes = { "out.h" } },
	};
	write_file("gen", "#!/bin/sh\n");
	write_file("out.h", "#define X 1\n");
	assert_int_equal(run_steps(s, 2), 0);
	assert_int_equal(G.n, 2);
	long g = node_of("gen"), o = node_of("out.h");
	assert_true(g >= 0 && o >= 0);
	assert_true(depends(o, g));
}

/*
 * A driver that forks, then execs (Python's subprocess, as Meson runs its
 * compiler checks): the command's first image is the forked child, with no argv;
 * the command named in the graph is what it executed, not "".
 */
static void test_infer__forked_child_named_by_its_exec(void **state)
{
	struct store st = STORE_INIT;
	struct statcache *sc = NULL;
	char err[256], l100[64], m100[64], b100[4096];
	const char *none[] = { NULL }, *meson[] = { "/usr/bin/meson", "setup", "build", NULL };
	size_t n100;

	write_file("a.o", "A");
	trace_init(&F.t);
	img(100, 1, GG_ORIGIN_ROOT, "/usr/bin/python3.11", meson, NULL);
	memcpy(m100, F.name, sizeof(m100));
	snprintf(l100, sizeof(l100), "%.*s", (int)(strlen(F.name) - 4), F.name); /* no .ggt */
	n100 = F.len;
	memcpy(b100, F.buf, n100);
	img(101, 100, GG_ORIGIN_FORK, "/usr/bin/python3.11", none, l100);
	ev_exec("/bin/sh", false);
	end_img();
	img(101, 100, GG_ORIGIN_EXEC, "/bin/sh", SH, NULL);
	ev_open("a.c", O_RDONLY, 3);
	ev_open("a.o", O_WRONLY | O_CREAT | O_TRUNC, 4);
	end_img();
	memcpy(F.buf, b100, n100);
	F.len = n100;
	memcpy(F.name, m100, sizeof(m100));
	ev_wait(101, 0);
	end_img();
	assert_int_equal(trace_link(&F.t), 0);
	assert_int_equal(store_init(&st, F.gg, STORE_CREATE), 0);
	assert_true(statcache_open(&sc, F.gg) >= 0);
	struct infer_opts o = { .tree = F.dir };
	assert_int_equal(infer_run(&F.t, &st, sc, &o, &G, &S, NULL, err, sizeof(err)), 0);
	assert_int_equal(G.n, 1);
	assert_string_equal(G.nodes[0].command, "cmd");
	statcache_free(sc);
	store_release(&st);
	trace_release(&F.t);
}

/* A recursive make: make -> sh -c 'make -C sub' -> make -> sh -c 'cc': the inner
 * command is the thunk, the glue shell is not. */
static void test_infer__recursive_make_descends(void **state)
{
	struct store st = STORE_INIT;
	struct statcache *sc = NULL;
	char err[256], l100[64], l101[64], l102[64];
	const char *glue[] = { "sh", "-c", "make -C sub", NULL };

	write_file("a.o", "A");
	trace_init(&F.t);
	img(100, 1, GG_ORIGIN_ROOT, "/usr/bin/make", MAKE, NULL);
	ev_spawn("/bin/sh", 101);
	snprintf(l100, sizeof(l100), "%s", F.name);
	char b100[4096];
	size_t n100 = F.len;
	memcpy(b100, F.buf, n100);
	img(101, 100, GG_ORIGIN_EXEC, "/bin/sh", glue, NULL);
	ev_spawn("/usr/bin/make", 102);
	snprintf(l101, sizeof(l101), "%s", F.name);
	char b101[4096];
	size_t n101 = F.len;
	memcpy(b101, F.buf, n101);
	img(102, 101, GG_ORIGIN_EXEC, "/usr/bin/make", MAKE, NULL);
	ev_spawn("/bin/sh", 103);
	snprintf(l102, sizeof(l102), "%s", F.name);
	char b102[4096];
	size_t n102 = F.len;
	memcpy(b102, F.buf, n102);
	img(103, 102, GG_ORIGIN_EXEC, "/bin/sh", SH, NULL);
	ev_open("a.c", O_RDONLY, 3);
	ev_open("a.o", O_WRONLY | O_CREAT | O_TRUNC, 4);
	end_img();
	memcpy(F.buf, b102, n102);
	F.len = n102;
	memcpy(F.name, l102, sizeof(l102));
	ev_wait(103, 0);
	end_img();
	memcpy(F.buf, b101, n101);
	F.len = n101;
	memcpy(F.name, l101, sizeof(l101));
	ev_wait(102, 0);
	end_img();
	memcpy(F.buf, b100, n100);
	F.len = n100;
	memcpy(F.name, l100, sizeof(l100));
	ev_wait(101, 0);
	end_img();
	assert_int_equal(trace_link(&F.t), 0);
	assert_int_equal(store_init(&st, F.gg, STORE_CREATE), 0);
	assert_true(statcache_open(&sc, F.gg) >= 0);
	struct infer_opts o = { .tree = F.dir };
	assert_int_equal(infer_run(&F.t, &st, sc, &o, &G, &S, NULL, err, sizeof(err)), 0);
	assert_int_equal(S.processes, 4);
	assert_int_equal(S.commands, 1);
	assert_int_equal(G.n, 1);
	assert_string_equal(G.nodes[0].command, "cmd");
	statcache_free(sc);
	store_release(&st);
	trace_release(&F.t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_infer__compile_and_link_edges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_infer__long_paths_are_never_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_infer__temporaries_are_neither, setup, teardown),
		cmocka_unit_test_setup_teardown(test_infer__rewritten_file_versions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_infer__removed_output_recorded_as_removed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_infer__local_only_reasons, setup, teardown),
		cmocka_unit_test_setup_teardown(test_infer__no_output_commands_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_infer__secrets_and_plumbing_not_in_thunk, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_infer__recursive_make_descends, setup, teardown),
		cmocka_unit_test_setup_teardown(test_infer__probes_keep_their_errno, setup, teardown),
		cmocka_unit_test_setup_teardown(test_infer__forked_child_named_by_its_exec, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_infer__program_of_the_tree_is_an_edge, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
