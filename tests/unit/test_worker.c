/*
 * test_worker.c - the relocatable worker (runtime/engine/worker.h): the input cache
 * (reuse, the LRU bound, verification by hash), the root it materializes (links,
 * symbolic links, rewritten inputs), the exact environment at levels 1 and 3, the
 * report's msgpack round trip, and making a thunk portable.
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

#include "runtime/engine/worker.h"
#include "runtime/ir/thunk.h"
#include "runtime/lib/util.h"
#include "runtime/store/store.h"
#include "sandbox/sbx.h"

static char tmpdir[PATH_MAX / 4];

static int setup(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "%s/test_worker.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmpdir))
		return -1;
	/* the root must be canonical (no symlink on the way): /tmp may be one */
	char *real = realpath(tmpdir, NULL);
	snprintf(tmpdir, sizeof(tmpdir), "%s", real);
	free(real);
	return 0;
}

static int teardown(void **state)
{
	rm_rf(tmpdir);
	return 0;
}

static void put(struct store *st, const char *s, struct gg_hash *h)
{
	assert_int_equal(store_put_buf(st, GG_HASH_VALUE, s, strlen(s), h), 0);
}

static bool cached(const struct wcache *c, const struct gg_hash *h)
{
	char path[PATH_MAX], hex[2 * GG_HASH_LEN + 1];
	snprintf(path, sizeof(path), "%s/%s", c->dir, hash_digest_hex(h, hex));
	return access(path, F_OK) == 0;
}

static void test_worker__cache_reuses_entries(void **state)
{
	struct store st = STORE_INIT;
	struct wcache c;
	struct wcache_stats s = { 0 };
	struct gg_hash a;
	char dir[PATH_MAX], p1[PATH_MAX], p2[PATH_MAX], px[PATH_MAX];
	struct stat sb;

	snprintf(dir, sizeof(dir), "%s/gg", tmpdir);
	assert_int_equal(store_init(&st, dir, STORE_CREATE), 0);
	put(&st, "hello, cache\n", &a);
	snprintf(dir, sizeof(dir), "%s/cache", tmpdir);
	assert_int_equal(wcache_open(&c, dir, 0), 0);
	assert_int_equal(wcache_fetch(&c, &st, &a, false, p1, sizeof(p1), &s), 0);
	assert_int_equal(wcache_fetch(&c, &st, &a, false, p2, sizeof(p2), &s), 0);
	assert_string_equal(p1, p2);
	assert_int_equal(s.misses, 1);
	assert_int_equal(s.hits, 1);
	assert_int_equal(s.fetched_bytes, 13);
	assert_int_equal(c.bytes, 13);
	assert_int_equal(stat(p1, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0444);
	/* the executable variant is an entry of its own */
	assert_int_equal(wcache_fetch(&c, &st, &a, true, px, sizeof(px), &s), 0);
	assert_string_not_equal(px, p1);
	assert_int_equal(stat(px, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0555);
	wcache_close(&c);
	/* a reopened cache counts what it holds */
	assert_int_equal(wcache_open(&c, dir, 0), 0);
	assert_int_equal(c.bytes, 26);
	memset(&s, 0, sizeof(s));
	assert_int_equal(wcache_fetch(&c, &st, &a, false, p2, sizeof(p2), &s), 0);
	assert_int_equal(s.hits, 1);
	assert_int_equal(s.misses, 0);
	wcache_close(&c);
	store_release(&st);
}

/* A blob of the local store is adopted by a hard link (same inode, not read), the
 * executable variant by a copy of mode 0555; the entry is a hit afterwards. */
static void test_worker__cache_adopts_a_store_blob(void **state)
{
	struct store st = STORE_INIT;
	struct wcache c;
	struct wcache_stats s = { 0 };
	struct gg_hash a;
	char dir[PATH_MAX], blob[PATH_MAX], p[PATH_MAX], px[PATH_MAX];
	struct stat sb, sp, sx;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/gg", tmpdir);
	assert_int_equal(store_init(&st, dir, STORE_CREATE), 0);
	put(&st, "adopt me\n", &a);
	assert_int_equal(store_path(&st, &a, blob, sizeof(blob)), 0);
	snprintf(dir, sizeof(dir), "%s/cache", tmpdir);
	assert_int_equal(wcache_open(&c, dir, 0), 0);
	assert_int_equal(wcache_adopt(&c, blob, &a, false, &s), 0);
	assert_int_equal(wcache_adopt(&c, blob, &a, false, &s), 0); /* there already */
	assert_int_equal(wcache_adopt(&c, blob, &a, true, &s), 0);
	assert_int_equal(s.misses, 2);
	assert_int_equal(c.bytes, 18);
	memset(&s, 0, sizeof(s));
	assert_int_equal(wcache_fetch(&c, &st, &a, false, p, sizeof(p), &s), 0);
	assert_int_equal(wcache_fetch(&c, &st, &a, true, px, sizeof(px), &s), 0);
	assert_int_equal(s.hits, 2);
	assert_int_equal(s.misses, 0);
	assert_int_equal(stat(blob, &sb), 0);
	assert_int_equal(stat(p, &sp), 0);
	assert_int_equal(stat(px, &sx), 0);
	assert_true(sp.st_ino == sb.st_ino && sp.st_dev == sb.st_dev);
	assert_int_equal(sp.st_mode & 0777, 0444);
	assert_true(sx.st_ino != sb.st_ino);
	assert_int_equal(sx.st_mode & 0777, 0555);
	assert_int_equal(sb.st_mode & 0777, 0444); /* the store's blob is untouched */
	/* a missing file is refused, nothing kept */
	assert_int_equal(wcache_adopt(&c, "/nonexistent/blob", &(struct gg_hash){ .kind = GG_HASH_VALUE },
				      false, &s), -ENOENT);
	wcache_close(&c);
	store_release(&st);
}

static void test_worker__cache_evicts_least_recently_used(void **state)
{
	struct store st = STORE_INIT;
	struct wcache c;
	struct wcache_stats s = { 0 };
	struct gg_hash h[4];
	char dir[PATH_MAX], p[PATH_MAX], body[101];

	snprintf(dir, sizeof(dir), "%s/gg", tmpdir);
	assert_int_equal(store_init(&st, dir, STORE_CREATE), 0);
	for (int i = 0; i < 4; i++) {
		memset(body, 'a' + i, 100);
		body[100] = '\0';
		put(&st, body, &h[i]);
	}
	snprintf(dir, sizeof(dir), "%s/cache", tmpdir);
	assert_int_equal(wcache_open(&c, dir, 250), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(wcache_fetch(&c, &st, &h[i], false, p, sizeof(p), &s), 0);
	assert_int_equal(c.bytes, 300);
	assert_int_equal(wcache_trim(&c, &s), 0);
	assert_int_equal(c.bytes, 200);
	assert_int_equal(s.evicted, 1);
	assert_false(cached(&c, &h[0])); /* the oldest went */
	assert_true(cached(&c, &h[1]));
	assert_true(cached(&c, &h[2]));
	/* use 1 again: now 2 is the least recently used */
	assert_int_equal(wcache_fetch(&c, &st, &h[1], false, p, sizeof(p), &s), 0);
	assert_int_equal(wcache_fetch(&c, &st, &h[3], false, p, sizeof(p), &s), 0);
	assert_int_equal(wcache_trim(&c, &s), 0);
	assert_true(cached(&c, &h[1]));
	assert_false(cached(&c, &h[2]));
	assert_true(cached(&c, &h[3]));
	assert_true(c.bytes <= 250);
	/* an evicted entry comes back from the source */
	memset(&s, 0, sizeof(s));
	assert_int_equal(wcache_fetch(&c, &st, &h[0], false, p, sizeof(p), &s), 0);
	assert_int_equal(s.misses, 1);
	wcache_close(&c);
	store_release(&st);
}

static void test_worker__cache_refuses_a_corrupt_blob(void **state)
{
	struct store st = STORE_INIT;
	struct wcache c;
	struct gg_hash h, missing;
	char dir[PATH_MAX], p[PATH_MAX], blob[PATH_MAX];
	FILE *f;

	snprintf(dir, sizeof(dir), "%s/gg", tmpdir);
	assert_int_equal(store_init(&st, dir, STORE_CREATE), 0);
	put(&st, "the right bytes\n", &h);
	assert_int_equal(store_path(&st, &h, blob, sizeof(blob)), 0);
	assert_int_equal(chmod(blob, 0644), 0);
	assert_non_null(f = fopen(blob, "w"));
	fputs("the wrong bytes\n", f);
	fclose(f);
	snprintf(dir, sizeof(dir), "%s/cache", tmpdir);
	assert_int_equal(wcache_open(&c, dir, 0), 0);
	assert_int_equal(wcache_fetch(&c, &st, &h, false, p, sizeof(p), NULL), -EBADMSG);
	assert_false(cached(&c, &h));
	assert_int_equal(c.bytes, 0);
	assert_int_equal(hash_buf(GG_HASH_VALUE, "absent", 6, &missing), 0);
	assert_int_equal(wcache_fetch(&c, &st, &missing, false, p, sizeof(p), NULL), -ENOENT);
	wcache_close(&c);
	store_release(&st);
}

/*
 * A thunk made by hand around the host's dash: reads an input through a recorded
 * symbolic link, appends to an input that is also an output, writes an output
 * and dumps its environment (export -p, a builtin) into another.
 */
static void make_thunk(struct store *st, const char tree[64], struct gg_hash *out)
{
	struct thunk th, port;
	struct gg_hash h;
	char path[PATH_MAX + 128], script[PATH_MAX * 4], err[512] = "";
	char *buf;
	size_t len;

	thunk_init(&th);
	assert_int_equal(hash_file("/usr/bin/dash", &h, NULL), 0);
	assert_int_equal(thunk_set_exe(&th, "/usr/bin/dash", &h, 0, 0100755), 0);
	assert_int_equal(thunk_set_interp(&th, "/lib64/ld-linux-x86-64.so.2"), 0);
	/* the loader as recorded: a symbolic link worker_portable follows */
	put(st, "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", &h);
	assert_int_equal(thunk_add_object(&th, "/lib64/ld-linux-x86-64.so.2", &h, 0, 0120777), 0);
	assert_int_equal(hash_file("/lib/x86_64-linux-gnu/libc.so.6", &h, NULL), 0);
	assert_int_equal(thunk_add_object(&th, "/lib/x86_64-linux-gnu/libc.so.6", &h, 0, 0100755), 0);
	snprintf(path, sizeof(path), "%s/in/data", tree);
	put(st, "forty-two\n", &h);
	assert_int_equal(thunk_add_input(&th, path, &h, 0, 0100644), 0);
	snprintf(path, sizeof(path), "%s/in/link", tree);
	put(st, "data", &h);
	assert_int_equal(thunk_add_input(&th, path, &h, 0, 0120777), 0);
	snprintf(path, sizeof(path), "%s/out/log", tree);
	put(st, "old\n", &h);
	assert_int_equal(thunk_add_input(&th, path, &h, 0, 0100644), 0);
	assert_int_equal(thunk_add_output(&th, path), 0);
	snprintf(path, sizeof(path), "%s/out/result", tree);
	assert_int_equal(thunk_add_output(&th, path), 0);
	snprintf(path, sizeof(path), "%s/out/env", tree);
	assert_int_equal(thunk_add_output(&th, path), 0);
	snprintf(script, sizeof(script),
		 "read x < %s/in/link; echo \"got $x\" > %s/out/result; echo new >> %s/out/log; "
		 "export -p > %s/out/env",
		 tree, tree, tree, tree);
	assert_int_equal(thunk_add_arg(&th, "sh"), 0);
	assert_int_equal(thunk_add_arg(&th, "-c"), 0);
	assert_int_equal(thunk_add_arg(&th, script), 0);
	assert_int_equal(thunk_add_env(&th, "RECORDED=yes", NULL), 1);
	assert_int_equal(thunk_set_cwd(&th, tree), 0);
	/* portable: the loader link's target becomes an input too */
	assert_int_equal(worker_portable(st, &th, NULL, NULL, &port, err, sizeof(err)), 0);
	{
		bool found = false;
		for (size_t i = 0; i < port.inputs.n; i++)
			if (!strcmp(port.inputs.v[i].path, "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"))
				found = true;
		assert_true(found);
	}
	assert_int_equal(thunk_encode(&port, &buf, &len), 0);
	assert_int_equal(store_put_buf(st, GG_HASH_THUNK, buf, len, out), 0);
	free(buf);
	thunk_release(&port);
	thunk_release(&th);
}

/* trusted: worker_opts.trusted_source, with a cache of its own (see below) */
static void run_level(int level, bool trusted)
{
	struct store st = STORE_INIT;
	struct worker_opts o = { 0 };
	struct worker_report rep;
	struct gg_hash th, want;
	char gg[PATH_MAX], base[PATH_MAX], cache[PATH_MAX], shim[PATH_MAX], tree[64];
	char p[PATH_MAX * 2];
	struct sbuf env = SBUF_INIT;
	const char *build = getenv("BUILD") ? getenv("BUILD") : "build";

	snprintf(gg, sizeof(gg), "%s/gg", tmpdir);
	snprintf(base, sizeof(base), "%s/r", tmpdir);
	snprintf(cache, sizeof(cache), "%s/cache%s", tmpdir, trusted ? "-trusted" : "");
	snprintf(tree, sizeof(tree), "/gg-test-tree/%d", level); /* exists only in R */
	snprintf(shim, sizeof(shim), "%s/lib/libggshim.so", build);
	assert_int_equal(store_init(&st, gg, STORE_CREATE), 0);
	make_thunk(&st, tree, &th);

	/* the worker's own environment must not reach the command */
	setenv("AWS_SECRET_ACCESS_KEY", "leaked-secret", 1);
	setenv("LD_LIBRARY_PATH", "/leaked/lib", 1);
	setenv("WORKER_ONLY", "leaked", 1);
	o.blobs = gg;
	o.root_base = base;
	o.cache_dir = cache;
	o.level = level;
	o.shim = realpath(shim, NULL);
	o.keep = true;
	o.trusted_source = trusted;
	assert_non_null(o.shim);
	assert_int_equal(worker_exec(&o, &th, &rep), 0);
	if (rep.res.err)
		print_message("worker: %s\nstderr: %s\n", rep.res.err, rep.stderr_tail);
	assert_true(rep.res.ran);
	assert_int_equal(rep.res.status, 0);
	assert_int_equal(rep.res.level, level);
	assert_null(rep.res.err);
	assert_int_equal(rep.res.outputs.n, 3);
	/* sorted outputs: env, log, result */
	put(&st, "old\nnew\n", &want);
	assert_true(hash_equal(&rep.res.outputs.v[1].value, &want));
	put(&st, "got forty-two\n", &want);
	assert_true(hash_equal(&rep.res.outputs.v[2].value, &want));
	assert_int_equal(store_path(&st, &rep.res.outputs.v[0].value, p, sizeof(p)), 0);
	assert_int_equal(file_read_all(p, &env, 1 << 20), 0);
	assert_non_null(strstr(env.buf, "RECORDED"));
	assert_non_null(strstr(env.buf, "SOURCE_DATE_EPOCH"));
	assert_null(strstr(env.buf, "leaked"));
	assert_null(strstr(env.buf, "AWS_"));
	assert_null(strstr(env.buf, "LD_LIBRARY_PATH"));
	sbuf_release(&env);
	/* the root: a link of the cache entry, the symlink as recorded, the rewritten
	 * input a copy of its own (the cache entry unchanged) */
	{
		struct stat a, b;
		char data[PATH_MAX * 2], target[64];
		char hex[2 * GG_HASH_LEN + 1];
		ssize_t n;
		snprintf(data, sizeof(data), "%s%s/in/data", rep.root, tree);
		assert_int_equal(stat(data, &a), 0);
		put(&st, "forty-two\n", &want);
		snprintf(p, sizeof(p), "%s/%s", cache, hash_digest_hex(&want, hex));
		assert_int_equal(stat(p, &b), 0);
		assert_int_equal(a.st_ino, b.st_ino);
		snprintf(p, sizeof(p), "%s%s/in/link", rep.root, tree);
		assert_int_equal(n = readlink(p, target, sizeof(target) - 1), 4);
		target[n] = '\0';
		assert_string_equal(target, "data");
		put(&st, "old\n", &want);
		snprintf(p, sizeof(p), "%s/%s", cache, hash_digest_hex(&want, hex));
		assert_int_equal(hash_file(p, &want, NULL), 0);
		put(&st, "old\n", &th);
		assert_true(hash_equal(&want, &th));
	}
	if (trusted) {
		/* the cache entries are the store's blobs themselves: /tmp holds each once,
		 * the executable's made 0555 */
		struct stat a, b;
		char hex[2 * GG_HASH_LEN + 1];
		put(&st, "forty-two\n", &want);
		assert_int_equal(store_path(&st, &want, p, sizeof(p)), 0);
		assert_int_equal(stat(p, &a), 0);
		snprintf(p, sizeof(p), "%s/%s", cache, hash_digest_hex(&want, hex));
		assert_int_equal(stat(p, &b), 0);
		assert_int_equal(a.st_ino, b.st_ino);
		assert_int_equal(hash_file("/usr/bin/dash", &want, NULL), 0);
		assert_int_equal(store_path(&st, &want, p, sizeof(p)), 0);
		assert_int_equal(stat(p, &a), 0);
		snprintf(p, sizeof(p), "%s/%s.x", cache, hash_digest_hex(&want, hex));
		assert_int_equal(stat(p, &b), 0);
		assert_int_equal(a.st_ino, b.st_ino);
		assert_int_equal(b.st_mode & 07777, 0555);
	}
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("LD_LIBRARY_PATH");
	unsetenv("WORKER_ONLY");
	worker_report_release(&rep);
	free((char *)o.shim);
	store_release(&st);
}

static void test_worker__runs_at_level_1_with_its_recorded_environment(void **state)
{
	struct sbx_caps caps;
	sbx_probe(&caps);
	assert_true(caps.userns); /* this test machine has namespaces: see sbx.h */
	run_level(SBX_LEVEL_NS, false);
}

static void test_worker__runs_at_level_3_with_its_recorded_environment(void **state)
{
	run_level(SBX_LEVEL_NONE, false);
}

static void test_worker__trusted_source_links_its_blobs(void **state)
{
	(void)state;
	run_level(SBX_LEVEL_NONE, true);
}

static void test_worker__fails_on_a_reference(void **state)
{
	struct store st = STORE_INIT;
	struct worker_opts o = { 0 };
	struct worker_report rep;
	struct thunk th;
	struct gg_hash h, ref;
	char gg[PATH_MAX], base[PATH_MAX], *buf;
	size_t len;

	snprintf(gg, sizeof(gg), "%s/gg", tmpdir);
	snprintf(base, sizeof(base), "%s/r", tmpdir);
	assert_int_equal(store_init(&st, gg, STORE_CREATE), 0);
	thunk_init(&th);
	assert_int_equal(hash_file("/usr/bin/dash", &h, NULL), 0);
	assert_int_equal(store_put_file(&st, "/usr/bin/dash", &h, NULL), 0);
	assert_int_equal(thunk_set_exe(&th, "/usr/bin/dash", &h, 0, 0100755), 0);
	assert_int_equal(hash_buf(GG_HASH_THUNK, "x", 1, &ref), 0);
	assert_int_equal(thunk_add_input(&th, "/w/gen.h", &ref, 0, 0100644), 0);
	assert_int_equal(thunk_add_arg(&th, "sh"), 0);
	assert_int_equal(thunk_encode(&th, &buf, &len), 0);
	assert_int_equal(store_put_buf(&st, GG_HASH_THUNK, buf, len, &h), 0);
	o.blobs = gg;
	o.root_base = base;
	o.level = SBX_LEVEL_NONE;
	o.shim = "/nonexistent/libggshim.so";
	assert_int_equal(worker_exec(&o, &h, &rep), -EINVAL);
	assert_false(rep.res.ran);
	assert_non_null(rep.res.err);
	assert_non_null(strstr(rep.res.err, "not portable"));
	worker_report_release(&rep);
	free(buf);
	thunk_release(&th);
	store_release(&st);
}

static void test_worker__report_round_trips_as_msgpack(void **state)
{
	struct worker_report r = { 0 }, back;
	struct sbuf sb = SBUF_INIT;

	r.res.ran = true;
	r.res.status = 0;
	r.res.level = 3;
	r.res.outputs.v = calloc(2, sizeof(*r.res.outputs.v));
	r.res.outputs.n = 1;
	r.res.outputs.v[0].path = strdup("/w/a.o");
	r.res.outputs.v[0].mode = 0100644;
	assert_int_equal(hash_buf(GG_HASH_VALUE, "o", 1, &r.res.outputs.v[0].value), 0);
	r.stderr_tail = strdup("warning: x\n");
	r.fetch_ms = 1;
	r.run_ms = 20;
	r.store_ms = 3;
	r.inputs = 63;
	assert_int_equal(worker_report_pack(&r, &sb), 0);
	assert_int_equal(worker_report_unpack(sb.buf, sb.len, &back), 0);
	assert_true(back.res.ran);
	assert_int_equal(back.res.level, 3);
	assert_int_equal(back.res.outputs.n, 1);
	assert_string_equal(back.res.outputs.v[0].path, "/w/a.o");
	assert_true(hash_equal(&back.res.outputs.v[0].value, &r.res.outputs.v[0].value));
	assert_int_equal(back.res.outputs.v[0].mode, 0100644);
	assert_null(back.res.err);
	assert_string_equal(back.stderr_tail, "warning: x\n");
	assert_int_equal(back.run_ms, 20);
	assert_int_equal(back.inputs, 63);
	worker_report_release(&back);
	/* truncated, and trailing bytes: refused */
	assert_int_equal(worker_report_unpack(sb.buf, sb.len - 1, &back), -EBADMSG);
	sbuf_addch(&sb, 0);
	assert_int_equal(worker_report_unpack(sb.buf, sb.len, &back), -EBADMSG);
	sbuf_release(&sb);
	worker_report_release(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_worker__cache_reuses_entries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_worker__cache_adopts_a_store_blob, setup, teardown),
		cmocka_unit_test_setup_teardown(test_worker__cache_evicts_least_recently_used, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_worker__cache_refuses_a_corrupt_blob, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_worker__runs_at_level_1_with_its_recorded_environment,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_worker__runs_at_level_3_with_its_recorded_environment,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_worker__trusted_source_links_its_blobs, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_worker__fails_on_a_reference, setup, teardown),
		cmocka_unit_test(test_worker__report_round_trips_as_msgpack),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
