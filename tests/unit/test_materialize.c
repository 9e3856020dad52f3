/* Unit tests for runtime/materialize.c: whole files only, damaged and missing blobs
 * refused, temporaries of killed processes swept. */
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "runtime/ir/hash.h"
#include "runtime/store/materialize.h"
#include "runtime/store/statcache.h"
#include "runtime/store/store.h"

struct fixture {
	char top[64]; /* mkdtemp'd: the tree, with the .gg directory inside */
	char ggdir[128];
	struct store st;
	struct statcache *sc;
};

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	chmod(path, 0755);
	return remove(path) < 0 ? -1 : 0;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	strcpy(f->top, "/tmp/gg-test-mat-XXXXXX");
	if (!mkdtemp(f->top))
		return -1;
	snprintf(f->ggdir, sizeof(f->ggdir), "%s/.gg", f->top);
	if (store_init(&f->st, f->ggdir, STORE_CREATE) < 0 || statcache_open(&f->sc, f->ggdir) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	statcache_free(f->sc);
	store_release(&f->st);
	nftw(f->top, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static size_t read_file(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, cap);
	close(fd);
	assert_true(n >= 0);
	return (size_t)n;
}

static size_t count_entries(const char *dir)
{
	char cmd[256];
	FILE *p;
	size_t n = 0;
	int c;

	snprintf(cmd, sizeof(cmd), "ls -A '%s'", dir);
	p = popen(cmd, "r");
	assert_non_null(p);
	while ((c = fgetc(p)) != EOF)
		n += c == '\n';
	pclose(p);
	return n;
}

/* Flip one byte of a blob in the store. */
static void damage(struct fixture *f, const struct gg_hash *h)
{
	char path[PATH_MAX], c;
	int fd;

	assert_int_equal(store_path(&f->st, h, path, sizeof(path)), 0);
	assert_int_equal(chmod(path, 0644), 0);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, 3), 1);
	c ^= 0x20;
	assert_int_equal(pwrite(fd, &c, 1, 3), 1);
	close(fd);
}

static void test_materialize__writes_whole_file_with_mode(void **state)
{
	struct fixture *f = *state;
	static const char data[] = "hello, tree\n";
	char path[PATH_MAX], tmpdir[PATH_MAX], buf[64];
	struct gg_hash h;
	struct stat sb;
	bool changed;

	assert_int_equal(store_put_buf(&f->st, GG_HASH_VALUE, data, sizeof(data) - 1, &h), 0);
	snprintf(path, sizeof(path), "%s/sub/dir/out.txt", f->top);
	assert_int_equal(materialize(&f->st, f->sc, path, &h, S_IFREG | 0751, &changed), 0);
	assert_true(changed);
	assert_int_equal(read_file(path, buf, sizeof(buf)), sizeof(data) - 1);
	assert_memory_equal(buf, data, sizeof(data) - 1);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0751);
	/* the temporary went through <ggdir>/tmp and is gone; nothing else in the dir */
	snprintf(tmpdir, sizeof(tmpdir), "%s/tmp", f->ggdir);
	assert_int_equal(count_entries(tmpdir), 0);
	snprintf(tmpdir, sizeof(tmpdir), "%s/sub/dir", f->top);
	assert_int_equal(count_entries(tmpdir), 1);
	/* already there: left alone */
	assert_int_equal(materialize(&f->st, f->sc, path, &h, S_IFREG | 0751, &changed), 0);
	assert_false(changed);
}

/*
 * An output deleted and remade with the bytes it had when the stat cache last saw
 * it (the recorded build's) gets that mtime back: ninja's logs, which hold it, stay
 * true.  Other bytes get the current time.
 */
static void test_materialize__same_bytes_get_their_time_back(void **state)
{
	struct fixture *f = *state;
	static const char v1[] = "recorded\n", v2[] = "edited\n";
	struct timespec old[2] = { { .tv_sec = 1000000000 }, { .tv_sec = 1000000000, .tv_nsec = 5 } };
	char path[PATH_MAX];
	struct gg_hash h1, h2, got;
	struct stat sb;
	FILE *fp;

	assert_int_equal(store_put_buf(&f->st, GG_HASH_VALUE, v1, sizeof(v1) - 1, &h1), 0);
	assert_int_equal(store_put_buf(&f->st, GG_HASH_VALUE, v2, sizeof(v2) - 1, &h2), 0);
	/* the recorded build's output, hashed (gg infer does that) */
	snprintf(path, sizeof(path), "%s/out.o", f->top);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(v1, fp);
	fclose(fp);
	assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);
	assert_int_equal(statcache_hash(f->sc, NULL, path, 0, &got, NULL), 0);
	assert_true(hash_equal(&got, &h1));
	/* a later run (gg build): the cache reloaded, the output deleted */
	assert_int_equal(statcache_save(f->sc), 0);
	statcache_free(f->sc);
	assert_true(statcache_open(&f->sc, f->ggdir) >= 0);
	assert_int_equal(unlink(path), 0);
	/* remade with the same bytes: the old time */
	assert_int_equal(materialize(&f->st, f->sc, path, &h1, S_IFREG | 0644, NULL), 0);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mtim.tv_sec, old[1].tv_sec);
	assert_int_equal(sb.st_mtim.tv_nsec, old[1].tv_nsec);
	/* other bytes: now */
	assert_int_equal(materialize(&f->st, f->sc, path, &h2, S_IFREG | 0644, NULL), 0);
	assert_int_equal(stat(path, &sb), 0);
	assert_true(sb.st_mtim.tv_sec > old[1].tv_sec + 1000);
}

static void test_materialize__symlink(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX], target[64];
	struct gg_hash h;
	ssize_t n;

	assert_int_equal(store_put_buf(&f->st, GG_HASH_VALUE, "libz.so.1", 9, &h), 0);
	snprintf(path, sizeof(path), "%s/libz.so", f->top);
	assert_int_equal(materialize(&f->st, f->sc, path, &h, S_IFLNK | 0777, NULL), 0);
	n = readlink(path, target, sizeof(target));
	assert_int_equal(n, 9);
	assert_memory_equal(target, "libz.so.1", 9);
}

static void test_materialize__corrupt_blob_refused(void **state)
{
	struct fixture *f = *state;
	static const char old[] = "the old version\n", data[] = "the new version\n";
	char path[PATH_MAX], buf[64], dir[PATH_MAX], link[PATH_MAX];
	struct gg_hash h, hl;

	snprintf(path, sizeof(path), "%s/out.txt", f->top);
	{
		int fd = open(path, O_WRONLY | O_CREAT, 0644);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, old, sizeof(old) - 1), (ssize_t)sizeof(old) - 1);
		close(fd);
	}
	assert_int_equal(store_put_buf(&f->st, GG_HASH_VALUE, data, sizeof(data) - 1, &h), 0);
	damage(f, &h);
	assert_int_equal(materialize(&f->st, f->sc, path, &h, S_IFREG | 0644, NULL), -EBADMSG);
	/* the tree keeps its whole old file; no temporary anywhere */
	assert_int_equal(read_file(path, buf, sizeof(buf)), sizeof(old) - 1);
	assert_memory_equal(buf, old, sizeof(old) - 1);
	assert_int_equal(count_entries(f->top), 2); /* .gg and out.txt */
	snprintf(dir, sizeof(dir), "%s/tmp", f->ggdir);
	assert_int_equal(count_entries(dir), 0);

	/* a symbolic link's target is checked too */
	assert_int_equal(store_put_buf(&f->st, GG_HASH_VALUE, "target-name", 11, &hl), 0);
	damage(f, &hl);
	snprintf(link, sizeof(link), "%s/link", f->top);
	assert_int_equal(materialize(&f->st, f->sc, link, &hl, S_IFLNK | 0777, NULL), -EBADMSG);
	assert_int_equal(access(link, F_OK), -1);
}

static void test_materialize__missing_blob(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX];
	struct gg_hash h;

	assert_int_equal(hash_buf(GG_HASH_VALUE, "never stored", 12, &h), 0);
	snprintf(path, sizeof(path), "%s/out.txt", f->top);
	assert_int_equal(materialize(&f->st, f->sc, path, &h, S_IFREG | 0644, NULL), -ENOENT);
	assert_int_equal(access(path, F_OK), -1);
}

static void test_materialize__sweep_dead_temporaries(void **state)
{
	struct fixture *f = *state;
	char dead[PATH_MAX], live[PATH_MAX], other[PATH_MAX];
	unsigned removed;
	pid_t pid;
	int st;

	/* a pid that surely is free now: a child that has exited and been reaped */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	snprintf(dead, sizeof(dead), "%s/out.o.gg-%d.tmp", f->top, (int)pid);
	snprintf(live, sizeof(live), "%s/out.o.gg-%d.tmp", f->top, (int)getppid());
	snprintf(other, sizeof(other), "%s/notes.gg-x.tmp", f->top);
	assert_int_equal(close(open(dead, O_WRONLY | O_CREAT, 0644)), 0);
	assert_int_equal(close(open(live, O_WRONLY | O_CREAT, 0644)), 0);
	assert_int_equal(close(open(other, O_WRONLY | O_CREAT, 0644)), 0);
	assert_int_equal(materialize_sweep(f->top, &removed), 0);
	assert_int_equal(removed, 1);
	assert_int_equal(access(dead, F_OK), -1);
	assert_int_equal(access(live, F_OK), 0);
	assert_int_equal(access(other, F_OK), 0);
	/* a directory that does not exist has nothing to sweep */
	snprintf(dead, sizeof(dead), "%s/nowhere", f->top);
	assert_int_equal(materialize_sweep(dead, &removed), 0);
	assert_int_equal(removed, 0);
}

/* A packed blob (`gg infer` packs small ones) goes into the tree from the pack's
 * bytes: no loose copy is written on the way; a file and a symbolic link. */
static void test_materialize__from_a_pack(void **state)
{
	struct fixture *f = *state;
	static const char data[] = "packed output\n";
	char path[PATH_MAX], link[PATH_MAX], blobs[PATH_MAX], buf[64];
	struct gg_hash h, target;
	struct stat sb;
	bool changed;

	assert_int_equal(store_defer(&f->st), 0);
	assert_int_equal(store_put_buf(&f->st, GG_HASH_VALUE, data, sizeof(data) - 1, &h), 0);
	assert_int_equal(store_put_buf(&f->st, GG_HASH_VALUE, "out.txt", 7, &target), 0);
	assert_int_equal(store_flush(&f->st, NULL, 0), 0);
	assert_true(store_packed(&f->st, &h));
	snprintf(blobs, sizeof(blobs), "%s/blobs", f->ggdir);
	assert_int_equal(count_entries(blobs), 0);

	snprintf(path, sizeof(path), "%s/sub/out.txt", f->top);
	assert_int_equal(materialize(&f->st, f->sc, path, &h, 0100640, &changed), 0);
	assert_true(changed);
	assert_int_equal(read_file(path, buf, sizeof(buf)), sizeof(data) - 1);
	assert_memory_equal(buf, data, sizeof(data) - 1);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0640);
	snprintf(link, sizeof(link), "%s/sub/link", f->top);
	assert_int_equal(materialize(&f->st, f->sc, link, &target, 0120777, &changed), 0);
	assert_int_equal(readlink(link, buf, sizeof(buf)), 7);
	assert_memory_equal(buf, "out.txt", 7);
	assert_int_equal(count_entries(blobs), 0); /* (nothing loose, no shard made) */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_materialize__writes_whole_file_with_mode, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_materialize__same_bytes_get_their_time_back, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_materialize__symlink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_materialize__from_a_pack, setup, teardown),
		cmocka_unit_test_setup_teardown(test_materialize__corrupt_blob_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_materialize__missing_blob, setup, teardown),
		cmocka_unit_test_setup_teardown(test_materialize__sweep_dead_temporaries, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
