/*
 * Unit tests for segments (versions 2 and 3, shim/trace_format.h): records of many
 * images interleaved in one file, torn tails, torn and corrupt records in the middle,
 * garbage between records, a directory mixing segments with version-1 logs, and
 * batched images cut short.
 * Segments are forged with the shim's encoder (tenc_seg_frame) from version-1
 * records made by trace_forge.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "runtime/trace/trace_read.h"

#include "trace_forge.h"

/* A segment being forged: bytes, and where each record starts and ends. */
struct seg {
	char buf[1 << 16];
	size_t len;
	size_t starts[64], ends[64];
	size_t nrec;
};

static void seg_init(struct seg *s)
{
	tenc_seg_header(s->buf);
	s->len = GG_TRACE_HEADER_LEN;
	s->nrec = 0;
}

/* Append record `i` of the version-1 log f, framed for the image (pid, start). */
static void seg_add(struct seg *s, const struct forge *f, size_t i, uint32_t pid, uint64_t start)
{
	size_t from = i ? f->ends[i - 1] : GG_TRACE_HEADER_LEN;
	size_t n = f->ends[i] - from - GG_TRACE_RECHDR_LEN;

	assert_true(i < f->nrec);
	assert_true(s->len + GG_TRACE_SEG_RECHDR_LEN + n <= sizeof(s->buf));
	s->starts[s->nrec] = s->len;
	tenc_seg_frame(s->buf + s->len, f->buf + from, pid, start);
	memcpy(s->buf + s->len + GG_TRACE_SEG_RECHDR_LEN, f->buf + from + GG_TRACE_RECHDR_LEN, n);
	s->len += GG_TRACE_SEG_RECHDR_LEN + n;
	s->ends[s->nrec++] = s->len;
}

/* Append raw bytes (garbage, the head of a torn write). */
static void seg_raw(struct seg *s, const void *p, size_t n)
{
	assert_true(s->len + n <= sizeof(s->buf));
	memcpy(s->buf + s->len, p, n);
	s->len += n;
}

#define START_A 0x18ec000000000001ull
#define START_B 0x18ec000000000002ull
#define LOG_A "10-18ec000000000001"
#define LOG_B "11-18ec000000000002"

/* Image A (pid 10, root): PROC, open, wait for B, exit.  Image B (pid 11, forked by
 * A): PROC, open, exit.  Each as a version-1 log. */
static struct forge fa, fb;

static void forge_ab(void)
{
	forge_init(&fa);
	rec_proc(&fa, 1, 10, 1, GG_ORIGIN_ROOT, "/bin/sh", NULL);
	rec_open(&fa, 3, "/a/in", O_RDONLY, 3, 0);
	rec_wait(&fa, 8, 11, 0);
	rec_exit(&fa, 9, GG_EXIT_EXIT, 0);
	forge_init(&fb);
	rec_proc(&fb, 2, 11, 10, GG_ORIGIN_FORK, "/bin/sh", LOG_A);
	rec_open(&fb, 4, "/b/out", O_WRONLY | O_CREAT, 4, 0);
	rec_exit(&fb, 7, GG_EXIT__EXIT, 0);
}

/* A0 B0 A1 B1 A2 B2 A3: the records of two images interleaved. */
static void seg_ab(struct seg *s)
{
	forge_ab();
	seg_init(s);
	for (size_t i = 0; i < 4; i++) {
		seg_add(s, &fa, i, 10, START_A);
		if (i < 3)
			seg_add(s, &fb, i, 11, START_B);
	}
}

static int read_seg(struct trace *t, struct strlist *w, const struct seg *s, size_t len)
{
	return forge_read(t, w, "/tr/seg-10-18ec000000000001.ggt", s->buf, len);
}

static void test_trace_seg__interleaved_images(void **state)
{
	static struct seg s;
	struct trace t;
	struct strlist w;
	const struct trace_image *a, *b;

	seg_ab(&s);
	assert_int_equal(read_seg(&t, &w, &s, s.len), 0);
	assert_int_equal(w.n, 0);
	assert_int_equal(t.nimages, 2);
	a = trace_find(&t, LOG_A);
	b = trace_find(&t, LOG_B);
	assert_non_null(a);
	assert_non_null(b);
	assert_string_equal(a->file, "/tr/seg-10-18ec000000000001.ggt");
	assert_int_equal(a->pid, 10);
	assert_int_equal(a->nevents, 3);
	assert_int_equal(a->events[0].type, GG_REC_OPEN);
	assert_string_equal(a->events[0].path, "/a/in");
	assert_int_equal(a->events[1].type, GG_REC_WAIT);
	assert_int_equal(a->events[2].type, GG_REC_EXIT);
	assert_int_equal(b->nevents, 2);
	assert_string_equal(b->events[0].path, "/b/out");
	assert_int_equal(b->events[1].type, GG_REC_EXIT);
	/* linked as separate logs would be: B forked by A, reaped by A */
	assert_ptr_equal(b->parent, a);
	assert_int_equal(b->link, TRACE_LINK_FORK);
	assert_int_equal(b->exit.kind, TRACE_EXIT_STATUS);
	forge_done(&t, &w);
}

/* Cut the segment anywhere inside its last record (A's EXIT): the records before
 * it are kept, the cut one is reported torn with its offset and size, and the
 * warning is kept on the image it belongs to. */
static void test_trace_seg__torn_tail(void **state)
{
	static struct seg s;
	seg_ab(&s);
	size_t last = s.starts[s.nrec - 1];

	for (size_t len = last + 1; len < s.len; len++) {
		struct trace t;
		struct strlist w;
		const struct trace_image *a, *b;
		char want[256];

		assert_int_equal(read_seg(&t, &w, &s, len), 0);
		snprintf(want, sizeof(want),
			 "/tr/seg-10-18ec000000000001.ggt: torn record at offset %zu, skipped %zu bytes",
			 last, len - last);
		assert_int_equal(w.n, 1);
		assert_string_equal(w.v[0], want);
		a = trace_find(&t, LOG_A);
		b = trace_find(&t, LOG_B);
		assert_non_null(a);
		assert_non_null(b);
		assert_int_equal(a->nevents, 2); /* the EXIT is lost */
		assert_int_equal(b->nevents, 2);
		/* A's when its header (sync .. hcheck) made it, else B's, whose
		 * record came before */
		const struct trace_image *who = len - last >= 24 ? a : b;
		assert_int_equal(who->warnings.n, 1);
		assert_string_equal(who->warnings.v[0], want);
		assert_int_equal((who == a ? b : a)->warnings.n, 0);
		forge_done(&t, &w);
	}
}

/*
 * A record in the middle whose payload (or header) was damaged: only that record
 * is skipped, the reader resynchronises on the next good frame and every later
 * record of both images is kept.  Table: which byte of the record is flipped.
 */
static void test_trace_seg__checksum_mismatch(void **state)
{
	static const struct {
		size_t at; /* offset in the record */
		const char *what;
	} cases[] = {
		{ 0, "sync" },         { 5, "length" },   { 9, "pid" },
		{ 14, "start" },       { 21, "hcheck" },  { 26, "check" },
		{ GG_TRACE_SEG_RECHDR_LEN + 3, "payload" },
	};
	static struct seg s;

	for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
		struct trace t;
		struct strlist w;
		const struct trace_image *a, *b;
		char want[256];
		size_t bad;

		seg_ab(&s);
		bad = 3; /* B's open */
		s.buf[s.starts[bad] + cases[c].at] ^= 0x5a;
		assert_int_equal(read_seg(&t, &w, &s, s.len), 0);
		snprintf(want, sizeof(want),
			 "/tr/seg-10-18ec000000000001.ggt: torn record at offset %zu, skipped %zu bytes",
			 s.starts[bad], s.ends[bad] - s.starts[bad]);
		assert_int_equal(w.n, 1);
		assert_string_equal(w.v[0], want);
		a = trace_find(&t, LOG_A);
		b = trace_find(&t, LOG_B);
		assert_non_null(a);
		assert_non_null(b);
		assert_int_equal(a->nevents, 3);
		assert_int_equal(b->nevents, 1); /* its open is lost, its exit kept */
		assert_int_equal(b->events[0].type, GG_REC_EXIT);
		/* the image it belonged to keeps the warning: by its header when that
		 * is intact, else the image of the record before (A's open) */
		const struct trace_image *who = cases[c].at >= 24 ? b : a;
		assert_int_equal(who->warnings.n, 1);
		forge_done(&t, &w);
	}
}

/*
 * A short write in the middle (a process killed inside a large write, a full disk
 * freed again): the head of a record, then other processes' records.  The head is
 * skipped, everything after it is read.  Also pure garbage between records.
 */
static void test_trace_seg__torn_in_middle(void **state)
{
	static struct seg s, whole;
	static const char junk[] = "\xf7gg\x1e not a record at all \xf7gg";
	struct trace t;
	struct strlist w;
	const struct trace_image *a, *b;
	size_t head, at1, at2;

	seg_ab(&whole);
	forge_ab();
	seg_init(&s);
	seg_add(&s, &fa, 0, 10, START_A);
	seg_add(&s, &fb, 0, 11, START_B);
	/* the head of A's open (its frame and half its payload) */
	at1 = s.len;
	head = (whole.ends[2] - whole.starts[2]) / 2 + GG_TRACE_SEG_RECHDR_LEN / 2;
	seg_raw(&s, whole.buf + whole.starts[2], head);
	seg_add(&s, &fb, 1, 11, START_B);
	at2 = s.len;
	seg_raw(&s, junk, sizeof(junk) - 1);
	for (size_t i = 1; i < 4; i++)
		seg_add(&s, &fa, i, 10, START_A);
	seg_add(&s, &fb, 2, 11, START_B);

	assert_int_equal(read_seg(&t, &w, &s, s.len), 0);
	assert_int_equal(w.n, 2);
	char want[256];
	snprintf(want, sizeof(want),
		 "/tr/seg-10-18ec000000000001.ggt: torn record at offset %zu, skipped %zu bytes", at1,
		 head);
	assert_string_equal(w.v[0], want);
	snprintf(want, sizeof(want),
		 "/tr/seg-10-18ec000000000001.ggt: torn record at offset %zu, skipped %zu bytes", at2,
		 sizeof(junk) - 1);
	assert_string_equal(w.v[1], want);
	a = trace_find(&t, LOG_A);
	b = trace_find(&t, LOG_B);
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(a->nevents, 3); /* open (the whole copy), wait, exit */
	assert_int_equal(b->nevents, 2);
	assert_string_equal(b->events[0].path, "/b/out");
	forge_done(&t, &w);
}

/* An image whose PROC record is lost is skipped, named in the warning; the others
 * are read. */
static void test_trace_seg__image_without_proc(void **state)
{
	static struct seg s;
	struct trace t;
	struct strlist w;

	forge_ab();
	seg_init(&s);
	seg_add(&s, &fa, 0, 10, START_A);
	seg_add(&s, &fb, 1, 11, START_B); /* B's open, its PROC missing */
	seg_add(&s, &fa, 1, 10, START_A);
	assert_int_equal(read_seg(&t, &w, &s, s.len), 0);
	assert_int_equal(t.nimages, 1);
	assert_non_null(trace_find(&t, LOG_A));
	assert_int_equal(w.n, 1);
	assert_string_equal(w.v[0], "/tr/seg-10-18ec000000000001.ggt: image " LOG_B
				    ": first record is not a proc record, skipped");
	forge_done(&t, &w);
}

/* Header only, or nothing but garbage: no image, one warning, no error. */
static void test_trace_seg__empty_and_garbage(void **state)
{
	static struct seg s;
	struct trace t;
	struct strlist w;

	seg_init(&s);
	assert_int_equal(read_seg(&t, &w, &s, s.len), 0);
	assert_int_equal(t.nimages, 0);
	assert_int_equal(w.n, 1);
	assert_string_equal(w.v[0], "/tr/seg-10-18ec000000000001.ggt: no records, skipped");
	forge_done(&t, &w);

	for (int i = 0; i < 3; i++)
		seg_raw(&s, "\xf7gg\x1e", 4);
	for (int i = 0; i < 36; i++)
		seg_raw(&s, "x", 1);
	assert_int_equal(read_seg(&t, &w, &s, s.len), 0);
	assert_int_equal(t.nimages, 0);
	assert_int_equal(w.n, 2);
	assert_string_equal(w.v[0],
			    "/tr/seg-10-18ec000000000001.ggt: torn record at offset 16, skipped 48 bytes");
	forge_done(&t, &w);
}

/* A version newer than this reader is refused, as for version-1 logs. */
static void test_trace_seg__newer_version_refused(void **state)
{
	static struct seg s;
	struct trace t;
	struct strlist w;

	seg_ab(&s);
	s.buf[8] = (char)(GG_TRACE_VERSION + 1);
	assert_int_equal(read_seg(&t, &w, &s, s.len), -EPROTONOSUPPORT);
	assert_non_null(strstr(t.error, "newer than this gg reads"));
	forge_done(&t, &w);
}

/*
 * Batched images (version 3): one that ended neither by exec nor with its own EXIT
 * record is cut short; one with its EXIT, one that exec'd, and one that did not
 * batch are not.  pid 20: batched, killed; 21: batched, exits; 22: not batched, no
 * EXIT; 23: batched, execs 23 again (batched, killed).
 */
static void test_trace_seg__batched_image_cut_short(void **state)
{
	static struct seg s;
	static struct forge f[5];
	static const struct { int pid; bool batched; int end; } im[5] = {
		{ 20, true, 0 }, { 21, true, 1 }, { 22, false, 0 }, { 23, true, 2 }, { 23, true, 0 },
	};
	struct trace t;
	struct strlist w;
	char log[64];
	bool cut[5];

	seg_init(&s);
	for (size_t i = 0; i < 5; i++) {
		uint64_t t0 = 10 * (i + 1);
		forge_init(&f[i]);
		rec_proc_b(&f[i], t0, im[i].pid, 1, GG_ORIGIN_EXEC, "/bin/cc", NULL, im[i].batched);
		rec_open(&f[i], t0 + 1, "/src/a.c", O_RDONLY, 3, 0);
		if (im[i].end == 1)
			rec_exit(&f[i], t0 + 2, GG_EXIT_EXIT, 0);
		if (im[i].end == 2)
			rec_exec(&f[i], t0 + 2, "/bin/cc");
		for (size_t k = 0; k < f[i].nrec; k++)
			seg_add(&s, &f[i], k, (uint32_t)im[i].pid, 0x18ec000000000000ull + t0);
	}
	assert_int_equal(read_seg(&t, &w, &s, s.len), 0);
	assert_int_equal(w.n, 0);
	assert_int_equal(t.nimages, 5);
	for (size_t i = 0; i < 5; i++) {
		snprintf(log, sizeof(log), "%d-%016llx", im[i].pid,
			 0x18ec000000000000ull + 10 * (i + 1));
		const struct trace_image *x = trace_find(&t, log);
		assert_non_null(x);
		assert_int_equal(x->batched, im[i].batched);
		cut[i] = x->cut_short;
	}
	assert_true(cut[0]);
	assert_false(cut[1]);
	assert_false(cut[2]);
	assert_false(cut[3]); /* its exec continues it */
	assert_true(cut[4]);
	forge_done(&t, &w);
}

static void write_file(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	close(fd);
}

/* A directory holding a segment and a version-1 log (an older recording appended
 * to): both read, linked together. */
static void test_trace_seg__dir_mixes_layouts(void **state)
{
	static struct seg s;
	static struct forge fc;
	char dir[] = "/tmp/gg-test-seg-XXXXXX", path[256];
	struct trace t;
	struct strlist w = STRLIST_INIT;
	const struct trace_image *c;

	assert_non_null(mkdtemp(dir));
	seg_ab(&s);
	snprintf(path, sizeof(path), "%s/seg-" LOG_A ".ggt", dir);
	write_file(path, s.buf, s.len);
	/* C (pid 12) forked by B, in a log of its own */
	forge_init(&fc);
	rec_proc(&fc, 5, 12, 11, GG_ORIGIN_FORK, "/bin/sh", LOG_B);
	rec_exit(&fc, 6, GG_EXIT_EXIT, 0);
	snprintf(path, sizeof(path), "%s/12-18ec000000000005.ggt", dir);
	write_file(path, fc.buf, fc.len);

	assert_int_equal(trace_open_dir(&t, dir, &w), 0);
	assert_int_equal(w.n, 0);
	assert_int_equal(t.nimages, 3);
	c = trace_find(&t, "12-18ec000000000005");
	assert_non_null(c);
	assert_ptr_equal(c->parent, trace_find(&t, LOG_B));
	assert_ptr_equal(t.images[0], trace_find(&t, LOG_A)); /* in start order */
	trace_release(&t);
	strlist_release(&w);
	unlink(path);
	snprintf(path, sizeof(path), "%s/seg-" LOG_A ".ggt", dir);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_trace_seg__interleaved_images),
		cmocka_unit_test(test_trace_seg__torn_tail),
		cmocka_unit_test(test_trace_seg__checksum_mismatch),
		cmocka_unit_test(test_trace_seg__torn_in_middle),
		cmocka_unit_test(test_trace_seg__image_without_proc),
		cmocka_unit_test(test_trace_seg__empty_and_garbage),
		cmocka_unit_test(test_trace_seg__newer_version_refused),
		cmocka_unit_test(test_trace_seg__dir_mixes_layouts),
		cmocka_unit_test(test_trace_seg__batched_image_cut_short),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
