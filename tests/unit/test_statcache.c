/* Unit tests for runtime/store/statcache.c: the append-only log round-trips, appends
 * only what changed, keeps the last record of a path across handles, recovers from
 * a torn or corrupt tail at every byte, compacts, and reads version-1 files. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "runtime/ir/hash.h"
#include "runtime/store/statcache.h"

#define NFILES 20
#define HDR_LEN 16
#define BATCH_OVERHEAD 24 /* u32 n, u64 check, i64 saved_ns, u32 count */
#define ENTRY_REST 69     /* an entry after its u32 length and path */

struct fixture {
	char top[64]; /* mkdtemp'd: NFILES files f0.. and the .gg directory */
	char ggdir[96];
	char file[128]; /* <ggdir>/statcache */
	char path[NFILES][96];
};

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 ? -1 : 0;
}

static void write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

static void write_str(const char *path, const char *s)
{
	write_file(path, s, strlen(s));
}

/* The whole file, malloc'd; *len its size. */
static char *read_file(const char *path, size_t *len)
{
	struct stat st;
	char *b;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	b = malloc((size_t)st.st_size + 1);
	assert_non_null(b);
	assert_int_equal(read(fd, b, (size_t)st.st_size), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return b;
}

static size_t file_size(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return (size_t)st.st_size;
}

/* Past the racy window (statcache.c's RACY_NS, 50 ms) of everything written so far. */
static void settle(void)
{
	struct timespec ts = { 0, 80 * 1000 * 1000 };
	nanosleep(&ts, NULL);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	strcpy(f->top, "/tmp/gg-test-statcache-XXXXXX");
	if (!mkdtemp(f->top))
		return -1;
	snprintf(f->ggdir, sizeof(f->ggdir), "%s/.gg", f->top);
	snprintf(f->file, sizeof(f->file), "%s/statcache", f->ggdir);
	if (mkdir(f->ggdir, 0755) < 0)
		return -1;
	for (int i = 0; i < NFILES; i++) {
		char body[32], top[sizeof(f->top)];
		memcpy(top, f->top, sizeof(top)); /* (snprintf from f into f: -Wrestrict) */
		snprintf(f->path[i], sizeof(f->path[i]), "%s/f%d", top, i);
		snprintf(body, sizeof(body), "contents %d", i);
		write_str(f->path[i], body);
	}
	settle();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	nftw(f->top, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static struct statcache *open_ok(const struct fixture *f, int want)
{
	struct statcache *sc;
	assert_int_equal(statcache_open(&sc, f->ggdir), want);
	assert_non_null(sc);
	return sc;
}

/* Hash files [0, n) through sc into h[]. */
static void hash_all(struct statcache *sc, const struct fixture *f, int n, struct gg_hash *h)
{
	for (int i = 0; i < n; i++) {
		uint32_t mode;
		assert_int_equal(statcache_hash(sc, NULL, f->path[i], 0, &h[i], &mode), 0);
		assert_true(S_ISREG(mode));
	}
}

/* The cache's last word on path is value h (read from the file, not looked at). */
static bool holds(const struct statcache *sc, const char *path, const struct gg_hash *h)
{
	int64_t ns;
	return statcache_last_mtime(sc, path, h, &ns);
}

static size_t entry_len(const char *path)
{
	return 4 + strlen(path) + ENTRY_REST;
}

/* A first save of every file: the file is the header and one batch. */
static void test_statcache__round_trip(void **state)
{
	struct fixture *f = *state;
	struct gg_hash h[NFILES], again[NFILES];
	struct statcache *sc = open_ok(f, 0);
	size_t want = HDR_LEN + BATCH_OVERHEAD;
	char *b;
	size_t len;

	hash_all(sc, f, NFILES, h);
	assert_int_equal(statcache_stats(sc)->misses, NFILES);
	assert_int_equal(statcache_save(sc), 0);
	statcache_free(sc);
	for (int i = 0; i < NFILES; i++)
		want += entry_len(f->path[i]);
	b = read_file(f->file, &len);
	assert_int_equal(len, want);
	assert_memory_equal(b, "GGSTATC\n\2\0\0\0\0\0\0\0", HDR_LEN);
	free(b);

	sc = open_ok(f, 0);
	assert_int_equal(statcache_count(sc), NFILES);
	for (int i = 0; i < NFILES; i++)
		assert_true(holds(sc, f->path[i], &h[i]));
	hash_all(sc, f, NFILES, again);
	assert_int_equal(statcache_stats(sc)->hits, NFILES);
	assert_int_equal(statcache_stats(sc)->misses, 0);
	assert_int_equal(statcache_stats(sc)->bytes_hashed, 0);
	for (int i = 0; i < NFILES; i++)
		assert_true(hash_equal(&h[i], &again[i]));
	/* nothing changed: nothing written */
	assert_int_equal(statcache_save(sc), 0);
	assert_int_equal(file_size(f->file), want);
	statcache_free(sc);
}

/* A save after three files changed appends one batch of those three, and leaves
 * every byte before it alone. */
static void test_statcache__append_changed_only(void **state)
{
	struct fixture *f = *state;
	struct gg_hash h[NFILES], h2[NFILES];
	struct statcache *sc = open_ok(f, 0);
	char *before, *after;
	size_t blen, alen, grow = BATCH_OVERHEAD;
	const int changed[] = { 2, 7, 19 };

	hash_all(sc, f, NFILES, h);
	assert_int_equal(statcache_save(sc), 0);
	statcache_free(sc);
	before = read_file(f->file, &blen);

	for (size_t k = 0; k < 3; k++) {
		write_str(f->path[changed[k]], "new contents, longer than before");
		grow += entry_len(f->path[changed[k]]);
	}
	settle();
	sc = open_ok(f, 0);
	hash_all(sc, f, NFILES, h2);
	assert_int_equal(statcache_stats(sc)->misses, 3);
	assert_int_equal(statcache_save(sc), 0);
	statcache_free(sc);

	after = read_file(f->file, &alen);
	assert_int_equal(alen, blen + grow);
	assert_memory_equal(after, before, blen);
	sc = open_ok(f, 0);
	assert_int_equal(statcache_count(sc), NFILES);
	for (int i = 0; i < NFILES; i++)
		assert_true(holds(sc, f->path[i], &h2[i]));
	assert_false(holds(sc, f->path[2], &h[2]));
	hash_all(sc, f, NFILES, h2);
	assert_int_equal(statcache_stats(sc)->misses, 0);
	statcache_free(sc);
	free(before);
	free(after);
}

/* Two handles open at once, both saving: the later save's record of a path they
 * share wins, and neither loses the paths only the other hashed. */
static void test_statcache__last_record_wins_across_handles(void **state)
{
	struct fixture *f = *state;
	struct statcache *a = open_ok(f, 0), *b = open_ok(f, 0), *c;
	struct gg_hash v1, v2, h1, h2;
	uint32_t mode;

	assert_int_equal(statcache_hash(a, NULL, f->path[0], 0, &v1, &mode), 0);
	assert_int_equal(statcache_hash(a, NULL, f->path[1], 0, &h1, &mode), 0);
	write_str(f->path[0], "second version");
	settle();
	assert_int_equal(statcache_hash(b, NULL, f->path[0], 0, &v2, &mode), 0);
	assert_int_equal(statcache_hash(b, NULL, f->path[2], 0, &h2, &mode), 0);
	assert_false(hash_equal(&v1, &v2));
	assert_int_equal(statcache_save(a), 0);
	assert_int_equal(statcache_save(b), 0);

	c = open_ok(f, 0);
	assert_int_equal(statcache_count(c), 3);
	assert_true(holds(c, f->path[0], &v2));
	assert_true(holds(c, f->path[1], &h1));
	assert_true(holds(c, f->path[2], &h2));
	statcache_free(c);

	/* the other order: a's newer record (after b's) wins now */
	write_str(f->path[0], "third version");
	settle();
	statcache_forget(a, f->path[0]);
	assert_int_equal(statcache_hash(a, NULL, f->path[0], 0, &v1, &mode), 0);
	assert_int_equal(statcache_save(a), 0);
	c = open_ok(f, 0);
	assert_true(holds(c, f->path[0], &v1));
	assert_true(holds(c, f->path[2], &h2));
	statcache_free(c);
	statcache_free(a);
	statcache_free(b);
}

/* A forgotten path is written as such: the older record of it does not come back,
 * though the last hash stays known (statcache_last_mtime). */
static void test_statcache__forget_not_resurrected(void **state)
{
	struct fixture *f = *state;
	struct gg_hash h[NFILES], x;
	struct statcache *sc = open_ok(f, 0);
	uint32_t mode;

	hash_all(sc, f, NFILES, h);
	assert_int_equal(statcache_save(sc), 0);
	statcache_free(sc);

	sc = open_ok(f, 0);
	statcache_forget(sc, f->path[3]);
	assert_int_equal(statcache_save(sc), 0);
	statcache_free(sc);

	sc = open_ok(f, 0);
	assert_true(holds(sc, f->path[3], &h[3]));
	assert_int_equal(statcache_hash(sc, NULL, f->path[3], 0, &x, &mode), 0);
	assert_int_equal(statcache_stats(sc)->misses, 1); /* looked at again */
	assert_true(hash_equal(&x, &h[3]));
	assert_int_equal(statcache_hash(sc, NULL, f->path[4], 0, &x, &mode), 0);
	assert_int_equal(statcache_stats(sc)->hits, 1);
	statcache_free(sc);
}

/* An entry hashed within the racy window stays racy after a save and a load: its
 * hashed_ns travels with it, not the time of the save. */
static void test_statcache__racy_entry_stays_racy(void **state)
{
	struct fixture *f = *state;
	struct statcache *sc = open_ok(f, 0);
	struct gg_hash h;
	uint32_t mode;

	write_str(f->path[5], "just written");
	assert_int_equal(statcache_hash(sc, NULL, f->path[5], 0, &h, &mode), 0);
	assert_int_equal(statcache_save(sc), 0);
	statcache_free(sc);
	settle();
	sc = open_ok(f, 0);
	assert_int_equal(statcache_hash(sc, NULL, f->path[5], 0, &h, &mode), 0);
	assert_int_equal(statcache_stats(sc)->misses, 1);
	assert_int_equal(statcache_save(sc), 0); /* hashed again, now settled */
	statcache_free(sc);
	sc = open_ok(f, 0);
	assert_int_equal(statcache_hash(sc, NULL, f->path[5], 0, &h, &mode), 0);
	assert_int_equal(statcache_stats(sc)->hits, 1);
	statcache_free(sc);
}

/* Two saves: all files, then five changed.  The file after each, and the hashes. */
struct two_batches {
	char *bytes;
	size_t first_end, len;
	struct gg_hash old[NFILES], cur[NFILES];
};

static void make_two_batches(struct fixture *f, struct two_batches *t)
{
	struct statcache *sc = open_ok(f, 0);

	hash_all(sc, f, NFILES, t->old);
	assert_int_equal(statcache_save(sc), 0);
	statcache_free(sc);
	t->first_end = file_size(f->file);
	for (int i = 10; i < 15; i++)
		write_str(f->path[i], "changed");
	settle();
	sc = open_ok(f, 0);
	hash_all(sc, f, NFILES, t->cur);
	assert_int_equal(statcache_save(sc), 0);
	statcache_free(sc);
	t->bytes = read_file(f->file, &t->len);
	assert_true(t->len > t->first_end);
}

/* The file holds the first batch's view: the second batch's five were ignored. */
static void assert_first_batch_view(const struct fixture *f, const struct statcache *sc,
				    const struct two_batches *t)
{
	assert_int_equal(statcache_count(sc), NFILES);
	for (int i = 0; i < NFILES; i++)
		assert_true(holds(sc, f->path[i], &t->old[i]));
	assert_false(holds(sc, f->path[10], &t->cur[10]));
}

/* Truncated at every byte of the last batch: the earlier batch loads; a save then
 * cuts the tail off and appends after the good part. */
static void test_statcache__torn_tail_every_offset(void **state)
{
	struct fixture *f = *state;
	struct two_batches t;
	struct statcache *sc;
	struct gg_hash h[NFILES];

	make_two_batches(f, &t);
	for (size_t cut = t.first_end; cut < t.len; cut++) {
		write_file(f->file, t.bytes, cut);
		sc = open_ok(f, cut == t.first_end ? 0 : STATCACHE_TORN);
		assert_first_batch_view(f, sc, &t);
		statcache_free(sc);
	}
	/* the torn file as left by the last cut: the next save repairs it */
	sc = open_ok(f, STATCACHE_TORN);
	hash_all(sc, f, NFILES, h);
	assert_int_equal(statcache_stats(sc)->misses, 5);
	assert_int_equal(statcache_save(sc), 0);
	statcache_free(sc);
	assert_int_equal(file_size(f->file), t.len); /* the same five again, after the cut */
	sc = open_ok(f, 0);
	for (int i = 0; i < NFILES; i++)
		assert_true(holds(sc, f->path[i], &t.cur[i]));
	statcache_free(sc);
	/* a header cut short is no log: ignored, then replaced whole */
	write_file(f->file, t.bytes, 10);
	sc = open_ok(f, STATCACHE_IGNORED);
	assert_int_equal(statcache_count(sc), 0);
	hash_all(sc, f, 2, h);
	assert_int_equal(statcache_save(sc), 0);
	statcache_free(sc);
	assert_int_equal(file_size(f->file),
			 HDR_LEN + BATCH_OVERHEAD + entry_len(f->path[0]) + entry_len(f->path[1]));
	free(t.bytes);
}

/* One byte changed anywhere in a batch makes that batch and all after it ignored. */
static void test_statcache__corrupt_byte(void **state)
{
	struct fixture *f = *state;
	struct two_batches t;
	struct statcache *sc;
	struct gg_hash h[NFILES];

	make_two_batches(f, &t);
	for (size_t at = t.first_end; at < t.len; at++) {
		t.bytes[at] ^= 0x20;
		write_file(f->file, t.bytes, t.len);
		t.bytes[at] ^= 0x20;
		sc = open_ok(f, STATCACHE_TORN);
		assert_first_batch_view(f, sc, &t);
		statcache_free(sc);
	}
	for (size_t at = HDR_LEN; at < t.first_end; at += 7) {
		t.bytes[at] ^= 0x01;
		write_file(f->file, t.bytes, t.len);
		t.bytes[at] ^= 0x01;
		sc = open_ok(f, STATCACHE_TORN);
		assert_int_equal(statcache_count(sc), 0);
		statcache_free(sc);
	}
	/* the last one (first batch corrupt): a save keeps the header, drops the rest */
	sc = open_ok(f, STATCACHE_TORN);
	hash_all(sc, f, 1, h);
	assert_int_equal(statcache_save(sc), 0);
	statcache_free(sc);
	assert_int_equal(file_size(f->file), HDR_LEN + BATCH_OVERHEAD + entry_len(f->path[0]));
	sc = open_ok(f, 0);
	assert_int_equal(statcache_count(sc), 1);
	assert_true(holds(sc, f->path[0], &t.cur[0]));
	statcache_free(sc);
	/* a corrupt header: another version, ignored whole */
	t.bytes[8] = 9;
	write_file(f->file, t.bytes, t.len);
	sc = open_ok(f, STATCACHE_IGNORED);
	assert_int_equal(statcache_count(sc), 0);
	statcache_free(sc);
	free(t.bytes);
}

/* Superseded records piling up (hash, forget, hash ...) are compacted away: the file
 * shrinks to one batch of the live entries, by rename; a handle opened before the
 * compaction appends to the new file. */
static void test_statcache__compaction(void **state)
{
	struct fixture *f = *state;
	struct statcache *sc = open_ok(f, 0), *other = open_ok(f, 0);
	struct gg_hash h[NFILES], x;
	size_t one_batch = HDR_LEN + BATCH_OVERHEAD, prev = 0, size;
	struct stat st0, st;
	bool compacted = false;
	uint32_t mode;
	int saves = 0;

	for (int i = 0; i < NFILES; i++)
		one_batch += entry_len(f->path[i]);
	hash_all(sc, f, NFILES, h);
	assert_int_equal(statcache_save(sc), 0);
	assert_int_equal(stat(f->file, &st0), 0);
	while (!compacted) {
		if (saves % 2 == 0)
			for (int i = 0; i < NFILES; i++)
				statcache_forget(sc, f->path[i]);
		else
			hash_all(sc, f, NFILES, h);
		assert_int_equal(statcache_save(sc), 0);
		saves++;
		size = file_size(f->file);
		if (size < prev) {
			compacted = true;
			assert_int_equal(size, one_batch);
		}
		prev = size;
		/* STATCACHE_COMPACT_MIN superseded records, more than the live ones */
		assert_true(saves * NFILES <= STATCACHE_COMPACT_MIN + 4 * NFILES);
	}
	assert_true(saves * NFILES > STATCACHE_COMPACT_MIN);
	assert_int_equal(stat(f->file, &st), 0);
	assert_true(st.st_ino != st0.st_ino);
	hash_all(sc, f, NFILES, h); /* (the last save may have been of forgotten ones) */
	assert_int_equal(statcache_save(sc), 0);
	statcache_free(sc);

	sc = open_ok(f, 0);
	assert_int_equal(statcache_count(sc), NFILES);
	hash_all(sc, f, NFILES, h);
	assert_int_equal(statcache_stats(sc)->misses, 0);
	statcache_free(sc);

	/* the handle from before: its save lands in the compacted file */
	write_str(f->path[0], "after compaction");
	settle();
	assert_int_equal(statcache_hash(other, NULL, f->path[0], 0, &x, &mode), 0);
	size = file_size(f->file);
	assert_int_equal(statcache_save(other), 0);
	statcache_free(other);
	assert_int_equal(file_size(f->file), size + BATCH_OVERHEAD + entry_len(f->path[0]));
	sc = open_ok(f, 0);
	assert_int_equal(statcache_count(sc), NFILES);
	assert_true(holds(sc, f->path[0], &x));
	assert_true(holds(sc, f->path[1], &h[1]));
	statcache_free(sc);
}

static void put32(unsigned char **p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		*(*p)++ = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char **p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p, (uint32_t)(v >> 32));
}

/* A version-1 file (written whole, by the gg before the log) loads and hits; the
 * first save converts it into a log of every entry. */
static void test_statcache__old_format(void **state)
{
	struct fixture *f = *state;
	unsigned char *buf = malloc(64 + NFILES * (4 + 96 + ENTRY_REST)), *p = buf;
	struct gg_hash h[NFILES], again[NFILES];
	struct timespec now;
	struct statcache *sc;
	char *b;
	size_t len;

	assert_non_null(buf);
	clock_gettime(CLOCK_REALTIME, &now);
	memcpy(p, "GGSTATC\n", 8);
	p += 8;
	put32(&p, 1);
	put32(&p, NFILES);
	put64(&p, (uint64_t)now.tv_sec * 1000000000u);
	for (int i = 0; i < NFILES; i++) {
		char body[32];
		struct stat st;
		int n = snprintf(body, sizeof(body), "contents %d", i);

		assert_int_equal(hash_buf(GG_HASH_VALUE, body, (size_t)n, &h[i]), 0);
		assert_int_equal(lstat(f->path[i], &st), 0);
		put32(&p, (uint32_t)strlen(f->path[i]));
		memcpy(p, f->path[i], strlen(f->path[i]));
		p += strlen(f->path[i]);
		put64(&p, st.st_dev);
		put64(&p, st.st_ino);
		put64(&p, (uint64_t)st.st_size);
		put64(&p, (uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec);
		put64(&p, (uint64_t)st.st_ctim.tv_sec * 1000000000u + (uint64_t)st.st_ctim.tv_nsec);
		put32(&p, st.st_mode);
		*p++ = h[i].kind;
		memcpy(p, h[i].bytes, GG_HASH_LEN);
		p += GG_HASH_LEN;
		put64(&p, (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec);
	}
	write_file(f->file, buf, (size_t)(p - buf));

	sc = open_ok(f, 0);
	assert_int_equal(statcache_count(sc), NFILES);
	hash_all(sc, f, NFILES, again);
	assert_int_equal(statcache_stats(sc)->hits, NFILES);
	assert_int_equal(statcache_stats(sc)->bytes_hashed, 0);
	for (int i = 0; i < NFILES; i++)
		assert_true(hash_equal(&h[i], &again[i]));
	assert_int_equal(statcache_save(sc), 0); /* nothing changed, but converted */
	statcache_free(sc);
	b = read_file(f->file, &len);
	assert_memory_equal(b, "GGSTATC\n\2\0\0\0\0\0\0\0", HDR_LEN);
	free(b);
	sc = open_ok(f, 0);
	assert_int_equal(statcache_count(sc), NFILES);
	hash_all(sc, f, NFILES, again);
	assert_int_equal(statcache_stats(sc)->hits, NFILES);
	statcache_free(sc);

	/* a damaged version-1 file is ignored whole */
	write_file(f->file, buf, (size_t)(p - buf) - 3);
	sc = open_ok(f, STATCACHE_IGNORED);
	assert_int_equal(statcache_count(sc), 0);
	statcache_free(sc);
	free(buf);
}

/* A save larger than STATCACHE_MAX_BATCH goes out as several batches, each whole;
 * all of them load. */
static void test_statcache__large_save_split(void **state)
{
	struct fixture *f = *state;
	char dir[PATH_MAX], name[PATH_MAX + 256], comp[241];
	size_t total = 0, len, first;
	struct statcache *sc = open_ok(f, 0);
	struct gg_hash h;
	uint32_t mode;
	int n = 0;
	char *b;

	memset(comp, 'd', sizeof(comp) - 1);
	comp[sizeof(comp) - 1] = '\0';
	snprintf(dir, sizeof(dir), "%s", f->top);
	for (int depth = 0; depth < 15; depth++) {
		size_t l = strlen(dir);
		snprintf(dir + l, sizeof(dir) - l, "/%s", comp);
		assert_int_equal(mkdir(dir, 0755), 0);
	}
	while (total <= STATCACHE_MAX_BATCH + 8192) {
		snprintf(name, sizeof(name), "%s/%.200s%d", dir, comp, n++);
		assert_true(strlen(name) < PATH_MAX);
		write_str(name, name + strlen(name) - 4);
		assert_int_equal(statcache_hash(sc, NULL, name, 0, &h, &mode), 0);
		total += entry_len(name);
	}
	assert_int_equal(statcache_save(sc), 0);
	statcache_free(sc);
	b = read_file(f->file, &len);
	first = (unsigned char)b[HDR_LEN] | (size_t)(unsigned char)b[HDR_LEN + 1] << 8 |
		(size_t)(unsigned char)b[HDR_LEN + 2] << 16 | (size_t)(unsigned char)b[HDR_LEN + 3] << 24;
	free(b);
	assert_true(first <= STATCACHE_MAX_BATCH);
	assert_true(HDR_LEN + 12 + first < len); /* another batch follows */
	assert_int_equal(len, HDR_LEN + total + 2 * BATCH_OVERHEAD);
	sc = open_ok(f, 0);
	assert_int_equal(statcache_count(sc), n);
	assert_true(holds(sc, name, &h));
	statcache_free(sc);
}

/* A path whose hashing found no stable contents (a /proc file: size 0, yet bytes
 * to read) has no hash to keep: forgetting it and saving writes nothing of it,
 * and the log stays whole. */
static void test_statcache__unhashed_entry_not_written(void **state)
{
	struct fixture *f = *state;
	struct statcache *sc = open_ok(f, 0);
	struct gg_hash h, x;
	uint32_t mode;
	int64_t ns;

	assert_int_equal(statcache_hash(sc, NULL, f->path[0], 0, &h, &mode), 0);
	assert_int_equal(statcache_hash(sc, NULL, "/proc/self/status", 0, &x, &mode), 0);
	statcache_forget(sc, "/proc/self/status");
	assert_int_equal(statcache_save(sc), 0);
	statcache_free(sc);
	assert_int_equal(file_size(f->file), HDR_LEN + BATCH_OVERHEAD + entry_len(f->path[0]));
	sc = open_ok(f, 0);
	assert_int_equal(statcache_count(sc), 1);
	assert_true(holds(sc, f->path[0], &h));
	assert_false(statcache_last_mtime(sc, "/proc/self/status", &x, &ns));
	statcache_free(sc);
	/* nor when every entry is written (a foreign file replaced whole) */
	write_str(f->file, "not a log");
	sc = open_ok(f, STATCACHE_IGNORED);
	assert_int_equal(statcache_hash(sc, NULL, "/proc/self/status", 0, &x, &mode), 0);
	assert_int_equal(statcache_hash(sc, NULL, f->path[0], 0, &h, &mode), 0);
	assert_int_equal(statcache_save(sc), 0);
	statcache_free(sc);
	sc = open_ok(f, 0);
	assert_int_equal(statcache_count(sc), 1);
	statcache_free(sc);
}

/* Processes saving at once (each its own paths, run after run, through a
 * compaction or more): every save succeeds, and the log loads whole with every
 * path's last record. */
static void test_statcache__concurrent_savers(void **state)
{
	struct fixture *f = *state;
	enum { PROCS = 4, ROUNDS = 250, EACH = NFILES / PROCS };
	struct gg_hash h[NFILES];
	struct statcache *sc;
	pid_t pid[PROCS];
	size_t appended = 0;

	for (int p = 0; p < PROCS; p++) {
		assert_true((pid[p] = fork()) >= 0);
		if (pid[p] == 0) {
			int bad = 0;
			for (int r = 0; r < ROUNDS && !bad; r++) { /* a gg run each */
				/* (TORN allowed: readers take no lock, and may see an
				 * append in progress) */
				if (statcache_open(&sc, f->ggdir) < 0)
					_exit(1);
				for (int i = p * EACH; i < (p + 1) * EACH; i++) {
					uint32_t mode;
					statcache_forget(sc, f->path[i]);
					if (r < ROUNDS - 1) /* the last run only forgets */
						bad |= statcache_hash(sc, NULL, f->path[i], 0, &h[i],
								      &mode) != 0;
				}
				bad |= statcache_save(sc) != 0;
				statcache_free(sc);
			}
			_exit(bad);
		}
	}
	for (int p = 0; p < PROCS; p++) {
		int status;
		assert_int_equal(waitpid(pid[p], &status, 0), pid[p]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	for (int i = 0; i < NFILES; i++)
		appended += ROUNDS * entry_len(f->path[i]);
	assert_true(file_size(f->file) < appended / 2); /* compacted on the way */
	sc = open_ok(f, 0);
	assert_int_equal(statcache_count(sc), NFILES);
	hash_all(sc, f, NFILES, h);
	/* every last run's forgetting is there: no batch was lost */
	assert_int_equal(statcache_stats(sc)->misses, NFILES);
	statcache_free(sc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_statcache__round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_statcache__append_changed_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_statcache__last_record_wins_across_handles, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_statcache__forget_not_resurrected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_statcache__racy_entry_stays_racy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_statcache__torn_tail_every_offset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_statcache__corrupt_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(test_statcache__compaction, setup, teardown),
		cmocka_unit_test_setup_teardown(test_statcache__old_format, setup, teardown),
		cmocka_unit_test_setup_teardown(test_statcache__large_save_split, setup, teardown),
		cmocka_unit_test_setup_teardown(test_statcache__concurrent_savers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_statcache__unhashed_entry_not_written, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
