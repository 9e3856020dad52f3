/* Unit tests for runtime/store.c: roundtrips, streaming, concurrency, killed writers,
 * corruption. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "runtime/ir/hash.h"
#include "runtime/store/store.h"
#include "runtime/store/blobpack.h"

struct fixture {
	char top[64];       /* mkdtemp'd directory */
	char ggdir[128];
	struct store st;
};

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path) < 0 ? -1 : 0;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	strcpy(f->top, "/tmp/gg-test-store-XXXXXX");
	if (!mkdtemp(f->top))
		return -1;
	snprintf(f->ggdir, sizeof(f->ggdir), "%s/.gg", f->top);
	if (store_init(&f->st, f->ggdir, STORE_CREATE) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	store_release(&f->st);
	nftw(f->top, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static struct store_stats stats(struct store *st)
{
	struct store_stats s;

	assert_int_equal(store_stats(st, &s), 0);
	return s;
}

static void test_store__init_requires_dirs(void **state)
{
	struct fixture *f = *state;
	struct store st = STORE_INIT;
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/absent", f->top);
	assert_int_equal(store_init(&st, path, 0), -ENOENT);
	assert_int_equal(st.dirfd, -1);
	/* an existing directory without blobs/ and tmp/ is not a store either */
	assert_int_equal(mkdir(path, 0755), 0);
	assert_int_equal(store_init(&st, path, 0), -ENOENT);
	assert_int_equal(store_init(&st, path, STORE_CREATE), 0);
	store_release(&st);
	assert_int_equal(store_init(&st, path, 0), 0);
	store_release(&st);
}

static void test_store__put_buf_roundtrip(void **state)
{
	struct fixture *f = *state;
	static const char data[] = "int main(void) { return 0; }\n";
	char path[PATH_MAX], hex[2 * GG_HASH_LEN + 1], want[PATH_MAX], *buf;
	struct gg_hash h, h2, expect;
	struct stat sb;
	size_t len;
	int fd;

	assert_int_equal(hash_buf(GG_HASH_VALUE, data, sizeof(data) - 1, &expect), 0);
	assert_false(store_has(&f->st, &expect));
	assert_int_equal(store_open(&f->st, &expect), -ENOENT);
	assert_int_equal(store_put_buf(&f->st, GG_HASH_VALUE, data, sizeof(data) - 1, &h), 0);
	assert_true(hash_equal(&h, &expect));
	assert_true(store_has(&f->st, &h));

	/* .gg/blobs/ab/cdef... with the blob read-only */
	assert_int_equal(store_path(&f->st, &h, path, sizeof(path)), 0);
	hash_digest_hex(&h, hex);
	snprintf(want, sizeof(want), "%s/blobs/%.2s/%s", f->ggdir, hex, hex + 2);
	assert_string_equal(path, want);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0444);

	fd = store_open(&f->st, &h);
	assert_true(fd >= 0);
	char got[64] = { 0 };
	assert_int_equal(read(fd, got, sizeof(got)), (ssize_t)sizeof(data) - 1);
	assert_memory_equal(got, data, sizeof(data) - 1);
	close(fd);

	assert_int_equal(store_get_buf(&f->st, &h, 1024, &buf, &len), 0);
	assert_int_equal(len, sizeof(data) - 1);
	assert_string_equal(buf, data);
	free(buf);
	assert_int_equal(store_get_buf(&f->st, &h, 4, &buf, &len), -EFBIG);

	/* storing again changes nothing */
	assert_int_equal(store_put_buf(&f->st, GG_HASH_VALUE, data, sizeof(data) - 1, &h2), 0);
	assert_true(hash_equal(&h, &h2));
	struct store_stats s = stats(&f->st);
	assert_int_equal(s.count, 1);
	assert_int_equal(s.bytes, sizeof(data) - 1);
	assert_int_equal(s.tmp_count, 0);
	assert_int_equal(store_verify_blob(&f->st, &h), 0);
}

/* The same bytes as a THUNK blob get another hash and another name. */
static void test_store__thunk_blobs_are_apart(void **state)
{
	struct fixture *f = *state;
	static const char data[] = "same bytes";
	char pv[PATH_MAX], pt[PATH_MAX];
	struct gg_hash v, t, l;

	assert_int_equal(store_put_buf(&f->st, GG_HASH_VALUE, data, 10, &v), 0);
	assert_int_equal(store_put_buf(&f->st, GG_HASH_THUNK, data, 10, &t), 0);
	assert_int_equal(t.kind, GG_HASH_THUNK);
	assert_false(hash_equal(&v, &t));
	assert_int_equal(store_path(&f->st, &v, pv, sizeof(pv)), 0);
	assert_int_equal(store_path(&f->st, &t, pt, sizeof(pt)), 0);
	assert_string_not_equal(pv, pt);
	assert_string_equal(pt + strlen(pt) - 2, ".t");
	assert_int_equal(store_verify_blob(&f->st, &t), 0);
	/* a VALUE hash with the thunk's digest names nothing */
	struct gg_hash fake = t;
	fake.kind = GG_HASH_VALUE;
	assert_false(store_has(&f->st, &fake));
	/* listings are not stored */
	assert_int_equal(hash_buf(GG_HASH_LIST, data, 10, &l), 0);
	assert_int_equal(store_put_buf(&f->st, GG_HASH_LIST, data, 10, &l), -EINVAL);
	assert_int_equal(store_path(&f->st, &l, pv, sizeof(pv)), -EINVAL);
	assert_int_equal(stats(&f->st).count, 2);
	assert_int_equal(store_verify_all(&f->st, 0, NULL, NULL, NULL), 0);
}

static void test_store__put_file_roundtrip(void **state)
{
	struct fixture *f = *state;
	char src[PATH_MAX], *buf;
	struct gg_hash h, want;
	uint64_t size;
	size_t len;

	snprintf(src, sizeof(src), "%s/hello.c", f->top);
	write_file(src, "hello\n", 6);
	assert_int_equal(store_put_file(&f->st, src, &h, &size), 0);
	assert_int_equal(size, 6);
	assert_int_equal(hash_file(src, &want, NULL), 0);
	assert_true(hash_equal(&h, &want));
	assert_int_equal(store_get_buf(&f->st, &h, 100, &buf, &len), 0);
	assert_int_equal(len, 6);
	assert_memory_equal(buf, "hello\n", 6);
	free(buf);
	/* the empty file is a blob too */
	write_file(src, "", 0);
	assert_int_equal(store_put_file(&f->st, src, &h, &size), 0);
	assert_int_equal(size, 0);
	assert_int_equal(store_verify_blob(&f->st, &h), 0);
	snprintf(src, sizeof(src), "%s/absent", f->top);
	assert_int_equal(store_put_file(&f->st, src, &h, NULL), -ENOENT);
	assert_int_equal(stats(&f->st).tmp_count, 0);
}

static long maxrss_kib(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

/* A 64 MiB file goes through a fixed buffer: peak RSS grows by far less than that. */
static void test_store__large_file_streamed(void **state)
{
	struct fixture *f = *state;
	const off_t size = 64 << 20;
	char src[PATH_MAX];
	struct gg_hash h, want;
	uint64_t got;
	long before, after;
	int fd;

	snprintf(src, sizeof(src), "%s/big.bin", f->top);
	fd = open(src, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, size), 0);
	/* sparse, with some data spread across it so the hash sees every region */
	for (off_t off = 0; off < size; off += 7 << 20)
		assert_int_equal(pwrite(fd, &off, sizeof(off), off), (ssize_t)sizeof(off));
	close(fd);

	before = maxrss_kib();
	assert_int_equal(store_put_file(&f->st, src, &h, &got), 0);
	assert_int_equal(hash_file(src, &want, NULL), 0);
	assert_int_equal(store_verify_blob(&f->st, &h), 0);
	after = maxrss_kib();
	assert_int_equal(got, (uint64_t)size);
	assert_true(hash_equal(&h, &want));
	print_message("# 64 MiB put: peak RSS grew by %ld KiB\n", after - before);
	assert_true(after - before < 8 * 1024);
	struct store_stats s = stats(&f->st);
	assert_int_equal(s.bytes, (uint64_t)size);
	assert_int_equal(s.tmp_count, 0);
}

/* Several processes storing the same content at once: one good blob, no leftovers. */
static void test_store__concurrent_puts(void **state)
{
	struct fixture *f = *state;
	enum { NPROC = 6, ROUNDS = 5, SIZE = 3 << 20 };
	char src[PATH_MAX];
	struct gg_hash want;
	pid_t pids[NPROC];
	char *data;

	data = malloc(SIZE);
	assert_non_null(data);
	for (size_t i = 0; i < SIZE; i++)
		data[i] = (char)(i * 31 + (i >> 11));
	snprintf(src, sizeof(src), "%s/shared.o", f->top);
	write_file(src, data, SIZE);
	assert_int_equal(hash_buf(GG_HASH_VALUE, data, SIZE, &want), 0);

	for (int i = 0; i < NPROC; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			struct store st;
			struct gg_hash h;
			int bad = 0;

			/* each child opens the store itself, as separate gg processes do */
			if (store_init(&st, f->ggdir, 0) < 0)
				_exit(2);
			for (int r = 0; r < ROUNDS; r++) {
				if (i % 2 == 0) {
					if (store_put_file(&st, src, &h, NULL) < 0)
						bad = 1;
				} else if (store_put_buf(&st, GG_HASH_VALUE, data, SIZE, &h) < 0) {
					bad = 1;
				}
				if (!hash_equal(&h, &want) || store_verify_blob(&st, &h) < 0)
					bad = 1;
			}
			store_release(&st);
			_exit(bad);
		}
	}
	for (int i = 0; i < NPROC; i++) {
		int status;

		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	assert_int_equal(store_verify_blob(&f->st, &want), 0);
	struct store_stats s = stats(&f->st);
	assert_int_equal(s.count, 1);
	assert_int_equal(s.bytes, SIZE);
	assert_int_equal(s.tmp_count, 0);
	free(data);
}

/* A writer killed between store_begin and store_commit leaves no visible blob, only
 * a temporary that gc removes once the writer is dead (and not before). */
static void test_store__killed_writer_leaves_no_blob(void **state)
{
	struct fixture *f = *state;
	int ready[2], status;
	uint64_t removed;
	char c;
	pid_t pid;

	assert_int_equal(pipe(ready), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct store_writer w;
		char chunk[4096];

		close(ready[0]);
		memset(chunk, 'x', sizeof(chunk));
		if (store_begin(&f->st, GG_HASH_VALUE, &w) < 0)
			_exit(2);
		for (int i = 0; i < 256; i++)
			if (store_write(&w, chunk, sizeof(chunk)) < 0)
				_exit(3);
		if (write(ready[1], "r", 1) != 1)
			_exit(4);
		for (;;)
			pause(); /* never commits */
	}
	close(ready[1]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);

	struct store_stats s = stats(&f->st);
	assert_int_equal(s.count, 0);
	assert_int_equal(s.tmp_count, 1);
	assert_int_equal(s.tmp_bytes, 256 * 4096);
	/* a live writer's temporary is locked: gc leaves it */
	assert_int_equal(store_gc_tmp(&f->st, 0, &removed), 0);
	assert_int_equal(removed, 0);
	assert_int_equal(stats(&f->st).tmp_count, 1);

	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));

	s = stats(&f->st);
	assert_int_equal(s.count, 0);
	assert_int_equal(s.tmp_count, 1);
	/* too young for a gc that waits 60 s */
	assert_int_equal(store_gc_tmp(&f->st, 60, &removed), 0);
	assert_int_equal(removed, 0);
	assert_int_equal(store_gc_tmp(&f->st, 0, &removed), 0);
	assert_int_equal(removed, 1);
	s = stats(&f->st);
	assert_int_equal(s.count, 0);
	assert_int_equal(s.tmp_count, 0);
}

/* The same through store_put_fd reading a pipe that a slow producer feeds. */
static void test_store__killed_while_streaming(void **state)
{
	struct fixture *f = *state;
	char chunk[65536];
	int feed[2], status;
	uint64_t removed;
	pid_t pid;

	assert_int_equal(pipe(feed), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct gg_hash h;

		close(feed[1]);
		store_put_fd(&f->st, feed[0], &h, NULL);
		_exit(0); /* not reached: the parent never closes the pipe */
	}
	close(feed[0]);
	memset(chunk, 'y', sizeof(chunk));
	for (int i = 0; i < 16; i++)
		assert_int_equal(write(feed[1], chunk, sizeof(chunk)), (ssize_t)sizeof(chunk));
	/* wait until the child has copied some of it into its temporary */
	for (int i = 0; i < 2000 && stats(&f->st).tmp_bytes == 0; i++)
		usleep(1000);
	assert_true(stats(&f->st).tmp_bytes > 0);
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	close(feed[1]);

	assert_int_equal(stats(&f->st).count, 0);
	assert_int_equal(store_gc_tmp(&f->st, 0, &removed), 0);
	assert_int_equal(removed, 1);
	assert_int_equal(stats(&f->st).tmp_count, 0);
}

static void test_store__abort_removes_temporary(void **state)
{
	struct fixture *f = *state;
	struct store_writer w;
	struct gg_hash h;

	assert_int_equal(store_begin(&f->st, GG_HASH_VALUE, &w), 0);
	assert_int_equal(store_write(&w, "partial", 7), 0);
	assert_int_equal(stats(&f->st).tmp_count, 1);
	store_abort(&w);
	store_abort(&w); /* idempotent */
	assert_int_equal(stats(&f->st).tmp_count, 0);
	assert_int_equal(stats(&f->st).count, 0);
	assert_int_equal(store_write(&w, "x", 1), -EBADF);
	assert_int_equal(store_commit(&w, &h), -EBADF);
	assert_int_equal(store_begin(&f->st, GG_HASH_LIST, &w), -EINVAL);

	/* begin / write / commit in pieces equals the one-shot hash */
	struct gg_hash want;
	assert_int_equal(store_begin(&f->st, GG_HASH_VALUE, &w), 0);
	assert_int_equal(store_write(&w, "hello, ", 7), 0);
	assert_int_equal(store_write(&w, "world", 5), 0);
	assert_int_equal(store_commit(&w, &h), 0);
	assert_int_equal(hash_buf(GG_HASH_VALUE, "hello, world", 12, &want), 0);
	assert_true(hash_equal(&h, &want));
	assert_int_equal(store_verify_blob(&f->st, &h), 0);
}

struct bad_list {
	int n;
	char paths[8][128];
	int errs[8];
};

static void collect_bad(void *ctx, const char *relpath, int err)
{
	struct bad_list *b = ctx;

	if (b->n < 8) {
		snprintf(b->paths[b->n], sizeof(b->paths[0]), "%s", relpath);
		b->errs[b->n] = err;
	}
	b->n++;
}

/* A blob whose bytes no longer match its name is caught by every verified read. */
static void test_store__corrupt_blob_detected(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX], stray[PATH_MAX], hex[2 * GG_HASH_LEN + 1], *buf;
	struct gg_hash good, bad;
	struct store_stats s;
	struct bad_list list = { 0 };
	size_t len;
	int fd;

	assert_int_equal(store_put_buf(&f->st, GG_HASH_VALUE, "good blob", 9, &good), 0);
	assert_int_equal(store_put_buf(&f->st, GG_HASH_VALUE, "will rot", 8, &bad), 0);
	assert_int_equal(store_path(&f->st, &bad, path, sizeof(path)), 0);
	assert_int_equal(chmod(path, 0644), 0);
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "W", 1, 0), 1);
	close(fd);

	assert_int_equal(store_verify_blob(&f->st, &bad), -EBADMSG);
	assert_int_equal(store_get_buf(&f->st, &bad, 100, &buf, &len), -EBADMSG);
	assert_int_equal(store_verify_blob(&f->st, &good), 0);

	/* a stray file under blobs/ is reported too */
	snprintf(stray, sizeof(stray), "%s/blobs/zz", f->ggdir);
	write_file(stray, "?", 1);

	assert_int_equal(store_verify_all(&f->st, 0, collect_bad, &list, &s), 0);
	assert_int_equal(s.count, 1);
	assert_int_equal(s.bad, 2);
	assert_int_equal(list.n, 2);
	hash_digest_hex(&bad, hex);
	char want[128];
	snprintf(want, sizeof(want), "blobs/%.2s/%s", hex, hex + 2);
	for (int i = 0; i < 2; i++) {
		if (strcmp(list.paths[i], "blobs/zz") == 0) {
			assert_int_equal(list.errs[i], -EINVAL);
		} else {
			assert_string_equal(list.paths[i], want);
			assert_int_equal(list.errs[i], -EBADMSG);
		}
	}

	/* a truncated blob (a crash without STORE_FSYNC) is caught the same way */
	assert_int_equal(store_path(&f->st, &good, path, sizeof(path)), 0);
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(truncate(path, 0), 0);
	assert_int_equal(store_verify_blob(&f->st, &good), -EBADMSG);

	list.n = 0;
	assert_int_equal(store_verify_all(&f->st, STORE_VERIFY_REMOVE, collect_bad, &list, &s), 0);
	assert_int_equal(s.bad, 3);
	assert_int_equal(s.count, 0);
	assert_false(store_has(&f->st, &bad));
	assert_false(store_has(&f->st, &good));
	assert_int_equal(access(stray, F_OK), -1);
	assert_int_equal(store_verify_all(&f->st, 0, NULL, NULL, &s), 0);
	assert_int_equal(s.bad, 0);

	/* storing again repairs */
	assert_int_equal(store_put_buf(&f->st, GG_HASH_VALUE, "will rot", 8, &bad), 0);
	assert_int_equal(store_verify_blob(&f->st, &bad), 0);
}

/* A shard directory removed behind the store's back is made again. */
static void test_store__shard_removed_meanwhile(void **state)
{
	struct fixture *f = *state;
	struct gg_hash h;
	char path[PATH_MAX], *slash;

	assert_int_equal(store_put_buf(&f->st, GG_HASH_VALUE, "first", 5, &h), 0);
	assert_int_equal(store_path(&f->st, &h, path, sizeof(path)), 0);
	assert_int_equal(unlink(path), 0);
	slash = strrchr(path, '/');
	*slash = '\0';
	assert_int_equal(rmdir(path), 0);
	assert_int_equal(store_put_buf(&f->st, GG_HASH_VALUE, "first", 5, &h), 0);
	assert_int_equal(store_verify_blob(&f->st, &h), 0);
}

static uint64_t use_of(void *ctx, const struct gg_hash *h)
{
	const struct gg_hash *order = ctx; /* [4]: used at times 1..4 */
	for (int i = 0; i < 4; i++)
		if (hash_equal(&order[i], h))
			return (uint64_t)i + 1;
	return 0;
}

/* Over its budget, the store drops what was used longest ago (unknown first). */
static void test_store__trim_drops_least_recently_used(void **state)
{
	struct fixture *f = *state;
	struct gg_hash used[4], unknown;
	char buf[1000];
	uint64_t removed, left;

	memset(buf, 'a', sizeof(buf));
	for (int i = 0; i < 4; i++) {
		buf[0] = (char)('0' + i);
		assert_int_equal(store_put_buf(&f->st, GG_HASH_VALUE, buf, sizeof(buf), &used[i]), 0);
	}
	assert_int_equal(store_put_buf(&f->st, GG_HASH_VALUE, "never used", 10, &unknown), 0);
	/* under the budget: nothing goes */
	assert_int_equal(store_trim(&f->st, 5000, use_of, used, &removed, &left), 0);
	assert_int_equal(removed, 0);
	assert_int_equal(left, 4010);
	/* 2,500 bytes: the unknown one, then the two used first */
	assert_int_equal(store_trim(&f->st, 2500, use_of, used, &removed, &left), 0);
	assert_int_equal(removed, 3);
	assert_int_equal(left, 2000);
	assert_false(store_has(&f->st, &unknown));
	assert_false(store_has(&f->st, &used[0]));
	assert_false(store_has(&f->st, &used[1]));
	assert_true(store_has(&f->st, &used[2]));
	assert_true(store_has(&f->st, &used[3]));
}

/* With STORE_FSYNC the same operations work (durability itself is not observable). */
static void test_store__fsync_mode(void **state)
{
	struct fixture *f = *state;
	struct store st;
	struct gg_hash h;

	assert_int_equal(store_init(&st, f->ggdir, STORE_FSYNC), 0);
	assert_int_equal(store_put_buf(&st, GG_HASH_VALUE, "durable", 7, &h), 0);
	assert_int_equal(store_verify_blob(&st, &h), 0);
	store_release(&st);
}

/* An output given away is renamed into the store on the same file system, once. */
static void test_store__adopt_moves_on_same_fs(void **state)
{
	struct fixture *f = *state;
	char path[256], blob[PATH_MAX];
	struct gg_hash h, want;
	struct stat sb, bb;

	snprintf(path, sizeof(path), "%s/out.o", f->top);
	write_file(path, "object code\n", 12);
	assert_int_equal(stat(path, &sb), 0);
	hash_buf(GG_HASH_VALUE, "object code\n", 12, &want);
	assert_int_equal(store_adopt_file(&f->st, path, STORE_ADOPT_MOVE, &h, NULL), 0);
	assert_true(hash_equal(&h, &want));
	assert_int_equal(access(path, F_OK), -1); /* moved, not copied */
	assert_int_equal(store_path(&f->st, &h, blob, sizeof(blob)), 0);
	assert_int_equal(stat(blob, &bb), 0);
	assert_int_equal(bb.st_ino, sb.st_ino);
	assert_int_equal(bb.st_mode & 07777, 0444);
	assert_int_equal(store_verify_blob(&f->st, &h), 0);
	assert_int_equal(stats(&f->st).tmp_count, 0);
}

/* A blob that exists is not written again; without MOVE, or with another link, or
 * from another file system, the file stays where it is and the blob is a copy. */
static void test_store__adopt_copies_when_it_must(void **state)
{
	struct fixture *f = *state;
	char path[256], link2[256], shm[128], blob[PATH_MAX];
	struct gg_hash h, h2;
	struct stat sb, bb, top;
	uint64_t size = 0;

	snprintf(path, sizeof(path), "%s/kept", f->top);
	write_file(path, "kept bytes", 10);
	assert_int_equal(store_adopt_file(&f->st, path, 0, &h, &size), 0);
	assert_int_equal(size, 10);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(store_path(&f->st, &h, blob, sizeof(blob)), 0);
	assert_int_equal(stat(blob, &bb), 0);
	assert_true(bb.st_ino != sb.st_ino);
	/* the same bytes again, even given away: the blob is there, the file stays */
	assert_int_equal(store_adopt_file(&f->st, path, STORE_ADOPT_MOVE, &h2, NULL), 0);
	assert_true(hash_equal(&h, &h2));
	assert_int_equal(access(path, F_OK), 0);
	assert_int_equal(stat(blob, &sb), 0);
	assert_int_equal(sb.st_ino, bb.st_ino);

	/* a second name could change the blob's bytes later: copied */
	snprintf(path, sizeof(path), "%s/linked", f->top);
	snprintf(link2, sizeof(link2), "%s/linked2", f->top);
	write_file(path, "linked bytes", 12);
	assert_int_equal(link(path, link2), 0);
	assert_int_equal(store_adopt_file(&f->st, path, STORE_ADOPT_MOVE, &h, NULL), 0);
	assert_int_equal(access(path, F_OK), 0);
	assert_int_equal(store_verify_blob(&f->st, &h), 0);

	/* another file system (the RAM staging area): copied */
	assert_int_equal(stat(f->top, &top), 0);
	snprintf(shm, sizeof(shm), "/dev/shm/gg-test-store-%d", (int)getpid());
	write_file(shm, "from shm", 8);
	assert_int_equal(stat(shm, &sb), 0);
	assert_int_equal(store_adopt_file(&f->st, shm, STORE_ADOPT_MOVE, &h, NULL), 0);
	assert_int_equal(store_verify_blob(&f->st, &h), 0);
	assert_int_equal(access(shm, F_OK) == 0, sb.st_dev != top.st_dev);
	unlink(shm);

	/* not a regular file */
	assert_int_equal(store_adopt_file(&f->st, f->top, 0, &h, NULL), -EINVAL);
	assert_int_equal(stats(&f->st).tmp_count, 0);
}

/*
 * The thunk pack (blobpack.h): holds the THUNK blobs it was given (not VALUE ones,
 * not missing ones), serves them verified without their loose files, and one
 * damaged entry costs that thunk only; gg cache verify names it and packs the rest.
 */
static void test_store__thunk_pack_serves_verified_copies(void **state)
{
	struct fixture *f = *state;
	struct gg_hash t[3], v, absent, in[6];
	char path[PATH_MAX], packpath[PATH_MAX];
	const void *b;
	size_t len;
	FILE *fp;

	assert_int_equal(store_put_buf(&f->st, GG_HASH_THUNK, "thunk one", 9, &t[0]), 0);
	assert_int_equal(store_put_buf(&f->st, GG_HASH_THUNK, "thunk two", 9, &t[1]), 0);
	assert_int_equal(store_put_buf(&f->st, GG_HASH_THUNK, "thunk three", 11, &t[2]), 0);
	assert_int_equal(store_put_buf(&f->st, GG_HASH_VALUE, "a value", 7, &v), 0);
	assert_int_equal(hash_buf(GG_HASH_THUNK, "never stored", 12, &absent), 0);
	in[0] = t[2], in[1] = v, in[2] = t[0], in[3] = absent, in[4] = t[1], in[5] = t[0];
	assert_int_equal(blobpack_write(&f->st, GG_HASH_THUNK, in, 6, NULL, 0), 0);
	assert_int_equal(store_pack_reopen(&f->st), 0);
	assert_non_null(f->st.pack);
	for (int i = 0; i < 3; i++)
		assert_true(blobpack_has(f->st.pack, &t[i]));
	assert_false(blobpack_has(f->st.pack, &v));
	assert_false(blobpack_has(f->st.pack, &absent));
	/* the loose file is not read: gone, and the pack still serves it */
	assert_int_equal(store_path(&f->st, &t[1], path, sizeof(path)), 0);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(blobpack_get(f->st.pack, &t[1], &b, &len), 0);
	assert_int_equal(len, 9);
	assert_memory_equal(b, "thunk two", 9);
	assert_int_equal(blobpack_get(f->st.pack, &absent, &b, &len), -ENOENT);
	/* one flipped byte in the last encoding: that thunk does not verify, the others
	 * still serve; gg cache verify names it and, asked to, packs the rest again */
	snprintf(packpath, sizeof(packpath), "%s/thunks.pack", f->ggdir);
	assert_non_null(fp = fopen(packpath, "r+"));
	assert_int_equal(fseek(fp, -(long)(GG_HASH_LEN + 3), SEEK_END), 0);
	assert_int_equal(fputc('X', fp), 'X');
	fclose(fp);
	assert_int_equal(store_pack_reopen(&f->st), 0);
	assert_non_null(f->st.pack);
	assert_false(blobpack_trailer_ok(f->st.pack));
	int bad = 0;
	for (int i = 0; i < 3; i++) {
		int r = blobpack_get(f->st.pack, &t[i], &b, &len);
		assert_true(r == 0 || r == -EBADMSG);
		bad += r == -EBADMSG;
	}
	assert_int_equal(bad, 1);
	struct store_stats s;
	assert_int_equal(store_verify_all(&f->st, STORE_VERIFY_REMOVE, NULL, NULL, &s), 0);
	assert_int_equal(s.bad, 2); /* the entry and the trailer */
	assert_int_equal(store_pack_reopen(&f->st), 0);
	assert_int_equal(blobpack_count(f->st.pack), 2);
	assert_true(blobpack_trailer_ok(f->st.pack));
	assert_int_equal(store_verify_all(&f->st, 0, NULL, NULL, &s), 0);
	assert_int_equal(s.bad, 0);
}

/* Deferred thunks: in memory until flushed into the pack, never loose; readers find
 * them the whole time; a file is written only for a caller that needs one. */
static void test_store__deferred_thunks_go_to_the_pack(void **state)
{
	struct fixture *f = *state;
	struct gg_hash t[300], v;
	char buf[64], path[PATH_MAX], *got;
	size_t len;
	struct stat sb;

	assert_int_equal(store_defer(&f->st), 0);
	for (int i = 0; i < 300; i++) {
		int n = snprintf(buf, sizeof(buf), "deferred thunk %d", i);
		assert_int_equal(store_put_buf(&f->st, GG_HASH_THUNK, buf, (size_t)n, &t[i]), 0);
	}
	assert_int_equal(store_put_buf(&f->st, GG_HASH_VALUE, "a value", 7, &v), 0);
	assert_int_equal(stats(&f->st).count, 0); /* (the value: deferred too) */
	assert_true(store_has(&f->st, &t[7]));
	assert_int_equal(store_get_buf(&f->st, &t[7], 100, &got, &len), 0);
	assert_string_equal(got, "deferred thunk 7");
	free(got);
	assert_int_equal(store_verify_blob(&f->st, &t[8]), 0);

	assert_int_equal(store_flush(&f->st, t, 150), 0); /* (the rest: deferred too) */
	assert_int_equal(stats(&f->st).count, 0);
	assert_int_equal(blobpack_count(f->st.pack), 300);
	assert_int_equal(store_get_buf(&f->st, &t[299], 100, &got, &len), 0);
	assert_string_equal(got, "deferred thunk 299");
	free(got);

	/* a caller that needs a file gets one, verified */
	assert_int_equal(store_path(&f->st, &t[3], path, sizeof(path)), 0);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(store_verify_blob(&f->st, &t[3]), 0);
	assert_int_equal(stats(&f->st).count, 1);

	/* the pack is found by a store opened later */
	struct store again;
	assert_int_equal(store_init(&again, f->ggdir, 0), 0);
	assert_true(store_has(&again, &t[200]));
	store_release(&again);

	/* never flushed: store_release writes them loose, nothing is lost */
	assert_int_equal(store_defer(&f->st), 0);
	assert_int_equal(store_put_buf(&f->st, GG_HASH_THUNK, "late one", 8, &v), 0);
	store_release(&f->st);
	assert_int_equal(store_init(&f->st, f->ggdir, 0), 0);
	assert_int_equal(store_verify_blob(&f->st, &v), 0);
	assert_int_equal(stats(&f->st).count, 2);
}

static void print_bad(void *ctx, const char *rel, int err)
{
	(void)ctx;
	print_message("bad: %s: %s\n", rel, strerror(-err));
}

/* The value packs under packs/, as paths (sorted), and their count. */
static size_t value_packs(const struct fixture *f, char paths[][PATH_MAX], size_t max)
{
	char dir[PATH_MAX];
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/" BLOBPACK_DIR, f->ggdir);
	if (!(d = opendir(dir)))
		return 0;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && n < max &&
		    snprintf(paths[n], PATH_MAX, "%s/%.200s", dir, de->d_name) < PATH_MAX)
			n++;
	closedir(d);
	return n;
}

/*
 * Deferred values: small ones (buffers and files) wait in memory and go into one
 * value pack per flush, never loose; a large one is a file at once; readers find
 * them all the whole time; past STORE_VALUE_PACKS packs a flush merges them; a
 * damaged entry costs that blob only and gg cache verify packs the rest again.
 */
static void test_store__deferred_values_go_to_value_packs(void **state)
{
	struct fixture *f = *state;
	struct gg_hash v[20], fv, big, late[STORE_VALUE_PACKS], h;
	char buf[64], path[PATH_MAX], packs[16][PATH_MAX], *got, *large;
	size_t len, large_len = BLOBPACK_MAX_BLOB + 1;
	struct store_stats s;
	uint64_t size;
	int fd;

	assert_int_equal(store_defer(&f->st), 0);
	for (int i = 0; i < 20; i++) {
		int n = snprintf(buf, sizeof(buf), "small output %d", i);
		assert_int_equal(store_put_buf(&f->st, GG_HASH_VALUE, buf, (size_t)n, &v[i]), 0);
	}
	snprintf(path, sizeof(path), "%s/src.c", f->top);
	write_file(path, "int main;\n", 10);
	assert_int_equal(store_put_file(&f->st, path, &fv, &size), 0);
	assert_int_equal(size, 10);
	assert_non_null(large = malloc(large_len));
	memset(large, 'x', large_len);
	snprintf(path, sizeof(path), "%s/large.o", f->top);
	write_file(path, large, large_len);
	assert_int_equal(store_put_file(&f->st, path, &big, &size), 0);
	assert_int_equal(size, large_len);
	assert_int_equal(stats(&f->st).count, 1); /* the large one only */
	assert_true(store_has(&f->st, &fv));
	assert_int_equal(store_get_buf(&f->st, &v[4], 100, &got, &len), 0);
	assert_string_equal(got, "small output 4");
	free(got);
	assert_int_equal(store_verify_blob(&f->st, &fv), 0);

	assert_int_equal(store_flush(&f->st, NULL, 0), 0);
	assert_int_equal(value_packs(f, packs, 16), 1);
	assert_int_equal(stats(&f->st).count, 1);
	assert_int_equal(store_get_buf(&f->st, &v[19], 100, &got, &len), 0);
	assert_string_equal(got, "small output 19");
	free(got);
	/* the same bytes again: already packed, nothing deferred or written */
	assert_int_equal(store_put_buf(&f->st, GG_HASH_VALUE, "small output 3", 14, &v[3]), 0);
	assert_int_equal(store_flush(&f->st, NULL, 0), 0);
	assert_int_equal(value_packs(f, packs, 16), 1);
	/* a caller that needs a file gets one, with the bytes */
	assert_true((fd = store_open(&f->st, &fv)) >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), 10);
	assert_memory_equal(buf, "int main;\n", 10);
	close(fd);
	assert_int_equal(stats(&f->st).count, 2);

	/* one pack per flush, until a flush finds STORE_VALUE_PACKS: then one in all */
	for (int i = 0; i < STORE_VALUE_PACKS; i++) {
		int n = snprintf(buf, sizeof(buf), "later output %d", i);
		assert_int_equal(store_put_buf(&f->st, GG_HASH_VALUE, buf, (size_t)n, &late[i]), 0);
		assert_int_equal(store_flush(&f->st, NULL, 0), 0);
		assert_int_equal(value_packs(f, packs, 16), i < STORE_VALUE_PACKS - 1 ? (size_t)i + 2 : 1);
	}
	struct store again;
	assert_int_equal(store_init(&again, f->ggdir, 0), 0);
	for (int i = 0; i < 20; i++)
		assert_int_equal(store_verify_blob(&again, &v[i]), 0);
	for (int i = 0; i < STORE_VALUE_PACKS; i++)
		assert_true(store_has(&again, &late[i]));
	assert_int_equal(store_get_buf(&again, &big, large_len, &got, &len), 0);
	assert_int_equal(len, large_len);
	free(got);
	store_release(&again);

	/* a flipped byte in the first blob's bytes (the data follows the index) */
	assert_int_equal(value_packs(f, packs, 16), 1);
	assert_true((fd = open(packs[0], O_RDWR)) >= 0);
	uint32_t count;
	assert_int_equal(pread(fd, &count, 4, 12), 4);
	assert_int_equal(pwrite(fd, "!", 1, 16 + (off_t)count * 28), 1);
	close(fd);
	struct blobpack *bp;
	struct gg_hash first;
	const void *b;
	assert_int_equal(blobpack_open(packs[0], GG_HASH_VALUE, 0, &bp), 0);
	blobpack_hash_at(bp, 0, &first);
	assert_int_equal(blobpack_count(bp), 20 + 1 + STORE_VALUE_PACKS);
	for (size_t i = 0; i < blobpack_count(bp); i++) {
		struct gg_hash h;
		blobpack_hash_at(bp, i, &h);
		assert_int_equal(blobpack_get(bp, &h, &b, &len), i ? 0 : -EBADMSG);
	}
	assert_false(blobpack_trailer_ok(bp));
	{
		struct blobpack *as_thunks;
		assert_int_equal(blobpack_open(packs[0], GG_HASH_THUNK, BLOBPACK_POPULATE, &as_thunks), -EBADMSG);
	}
	blobpack_free(bp);
	assert_int_equal(store_pack_reopen(&f->st), 0);
	/* the damaged one: held until a read finds it bad, then stored afresh, loose */
	char bytes[64];
	int blen = -1;
	for (int i = 0; i < 20 && blen < 0; i++)
		if (hash_equal(&v[i], &first))
			blen = snprintf(bytes, sizeof(bytes), "small output %d", i);
	for (int i = 0; i < STORE_VALUE_PACKS && blen < 0; i++)
		if (hash_equal(&late[i], &first))
			blen = snprintf(bytes, sizeof(bytes), "later output %d", i);
	if (blen < 0 && hash_equal(&fv, &first))
		blen = snprintf(bytes, sizeof(bytes), "int main;\n");
	assert_true(blen > 0);
	assert_int_equal(store_path(&f->st, &fv, path, sizeof(path)), 0);
	assert_int_equal(unlink(path), 0); /* (fv's loose copy: packed only again) */
	struct store plain; /* (a store that defers nothing, as the builder's) */
	assert_int_equal(store_init(&plain, f->ggdir, 0), 0);
	assert_true(store_has(&plain, &first));
	assert_int_equal(store_open(&plain, &first), -EBADMSG);
	assert_false(store_has(&plain, &first));
	assert_int_equal(store_put_buf(&plain, GG_HASH_VALUE, bytes, (size_t)blen, &h), 0);
	assert_true(hash_equal(&h, &first));
	assert_int_equal(store_verify_blob(&plain, &first), 0);
	assert_int_equal(store_get_buf(&plain, &first, 100, &got, &len), 0);
	assert_memory_equal(got, bytes, (size_t)blen);
	free(got);
	store_release(&plain);
	assert_int_equal(store_verify_all(&f->st, STORE_VERIFY_REMOVE, print_bad, NULL, &s), 0);
	assert_int_equal(s.bad, 2); /* the entry and the trailer */
	assert_int_equal(store_pack_reopen(&f->st), 0);
	assert_int_equal(value_packs(f, packs, 16), 1);
	assert_int_equal(store_verify_all(&f->st, 0, NULL, NULL, &s), 0);
	assert_int_equal(s.bad, 0);
	/* (20 + 1 + 8 packed, one of them dropped; the loose files: the large one and
	 * the damaged one stored again) */
	assert_int_equal(s.count, 20 + 1 + STORE_VALUE_PACKS - 1 + 2);

	/* a stray file in packs/ is reported, and removed when asked */
	snprintf(path, sizeof(path), "%s/" BLOBPACK_DIR "/values-junk.pack", f->ggdir);
	write_file(path, "junk", 4);
	assert_int_equal(store_pack_reopen(&f->st), 0);
	assert_int_equal(store_verify_all(&f->st, STORE_VERIFY_REMOVE, NULL, NULL, &s), 0);
	assert_int_equal(s.bad, 1);
	assert_int_equal(access(path, F_OK), -1);

	/* store_remove: out of its pack, for this store and the next one */
	assert_int_equal(store_pack_reopen(&f->st), 0);
	assert_true(store_has(&f->st, &late[1]));
	assert_int_equal(store_remove(&f->st, &late[1]), 0);
	assert_false(store_has(&f->st, &late[1]));
	assert_true(store_has(&f->st, &late[2]));
	assert_int_equal(store_init(&again, f->ggdir, 0), 0);
	assert_false(store_has(&again, &late[1]));
	assert_int_equal(store_verify_blob(&again, &late[2]), 0);
	store_release(&again);
	assert_int_equal(value_packs(f, packs, 16), 1);
	free(large);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_store__init_requires_dirs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store__put_buf_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store__thunk_blobs_are_apart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store__put_file_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store__large_file_streamed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store__concurrent_puts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store__killed_writer_leaves_no_blob, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_store__killed_while_streaming, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store__abort_removes_temporary, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store__corrupt_blob_detected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store__shard_removed_meanwhile, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store__trim_drops_least_recently_used, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_store__fsync_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store__adopt_moves_on_same_fs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store__adopt_copies_when_it_must, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store__deferred_values_go_to_value_packs, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_store__thunk_pack_serves_verified_copies, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_store__deferred_thunks_go_to_the_pack, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
