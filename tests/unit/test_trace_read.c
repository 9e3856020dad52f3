/*
 * test_trace_read.c - the trace reader: records written with trace_enc and read
 * back, torn and corrupt logs, and the linking of images into a process tree.
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
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "runtime/trace/trace_read.h"

#include "trace_forge.h"

/* ---- roundtrip ------------------------------------------------------------------- */

static void test_trace_read__roundtrip_each_record_type(void **state)
{
	static struct forge f;
	struct tenc e;
	struct trace t;
	struct strlist w;
	const struct trace_image *im;
	const struct trace_event *ev;
	char *const objs[] = { (char *)"/lib/libc.so.6", (char *)"/lib/libm.so.6", NULL };
	char *const names[] = { (char *)"a.c", (char *)"b.h", NULL };
	char *const argv[] = { (char *)"cc", (char *)"-c", (char *)"a.c", NULL };
	char *const env[] = { (char *)"A=1", NULL };

	forge_init(&f);
	rec_proc(&f, 1000, 42, 41, GG_ORIGIN_ROOT, "/usr/bin/make", NULL);

	e = (struct tenc)TENC_INIT(rb, sizeof(rb));
	tenc_begin(&e, GG_REC_OBJS, 1001, 2);
	tenc_str(&e, "/lib64/ld-linux-x86-64.so.2");
	tenc_strv(&e, objs, 4096);
	forge_add(&f, &e);

	rec_open(&f, 1002, "/src/a.c", O_RDONLY | O_CLOEXEC, 3, 0);

	e = (struct tenc)TENC_INIT(rb, sizeof(rb));
	tenc_begin(&e, GG_REC_STAT, 1003, 7);
	tenc_uint(&e, GG_FN_readlink);
	tenc_str(&e, "/src/link");
	tenc_int(&e, 0);
	tenc_int(&e, 6);
	tenc_int(&e, 0);
	tenc_int(&e, S_IFLNK >> 12);
	tenc_str(&e, "target");
	forge_add(&f, &e);

	e = (struct tenc)TENC_INIT(rb, sizeof(rb));
	tenc_begin(&e, GG_REC_LIST, 1004, 5);
	tenc_uint(&e, GG_FN_opendir);
	tenc_str(&e, "/src");
	tenc_int(&e, 0);
	tenc_int(&e, 0);
	tenc_strv(&e, names, 4096);
	forge_add(&f, &e);

	e = (struct tenc)TENC_INIT(rb, sizeof(rb));
	tenc_begin(&e, GG_REC_NS, 1005, 6);
	tenc_uint(&e, GG_FN_rename);
	tenc_str(&e, "/src/a.tmp");
	tenc_str(&e, "/src/a.o");
	tenc_int(&e, 0);
	tenc_int(&e, -1);
	tenc_int(&e, EXDEV);
	forge_add(&f, &e);

	e = (struct tenc)TENC_INIT(rb, sizeof(rb));
	tenc_begin(&e, GG_REC_CHDIR, 1006, 4);
	tenc_uint(&e, GG_FN_chdir);
	tenc_str(&e, "/src/sub");
	tenc_int(&e, 0);
	tenc_int(&e, 0);
	forge_add(&f, &e);

	e = (struct tenc)TENC_INIT(rb, sizeof(rb));
	tenc_begin(&e, GG_REC_FD, 1007, 5);
	tenc_uint(&e, GG_FN_close_range);
	tenc_int(&e, 3);
	tenc_uint(&e, 0xffffffffu);
	tenc_int(&e, 0);
	tenc_int(&e, 0);
	forge_add(&f, &e);

	e = (struct tenc)TENC_INIT(rb, sizeof(rb));
	tenc_begin(&e, GG_REC_EXEC, 1008, 5);
	tenc_uint(&e, GG_FN_execvp);
	tenc_str(&e, "/usr/bin/cc");
	tenc_strv(&e, argv, 4096);
	tenc_strv(&e, env, 4096);
	tenc_bool(&e, true);
	forge_add(&f, &e);

	rec_execfail(&f, 1009, "/usr/bin/cc", ENOEXEC);

	e = (struct tenc)TENC_INIT(rb, sizeof(rb));
	tenc_begin(&e, GG_REC_SPAWN, 1010, 8);
	tenc_uint(&e, GG_FN_posix_spawn);
	tenc_str(&e, "/bin/sh");
	tenc_strv(&e, argv, 4096);
	tenc_strv(&e, env, 4096);
	tenc_int(&e, 77);
	tenc_int(&e, 0);
	tenc_array(&e, 2);
	tenc_array(&e, 6);
	tenc_uint(&e, GG_SPAWN_OPEN);
	tenc_int(&e, 1);
	tenc_int(&e, -1);
	tenc_str(&e, "/src/out.log");
	tenc_int(&e, O_WRONLY | O_CREAT);
	tenc_uint(&e, 0600);
	tenc_array(&e, 6);
	tenc_uint(&e, GG_SPAWN_DUP2);
	tenc_int(&e, 1);
	tenc_int(&e, 2);
	tenc_str(&e, NULL);
	tenc_int(&e, 0);
	tenc_uint(&e, 0);
	tenc_bool(&e, false);
	forge_add(&f, &e);

	rec_wait(&f, 1011, 77, 0x0100);
	rec_exit(&f, 1012, GG_EXIT_EXIT, 3);

	e = (struct tenc)TENC_INIT(rb, sizeof(rb));
	tenc_begin(&e, GG_REC_STDIN, 1013, 3);
	tenc_uint(&e, GG_FN_read);
	tenc_int(&e, S_IFCHR >> 12);
	tenc_bool(&e, true);
	forge_add(&f, &e);

	e = (struct tenc)TENC_INIT(rb, sizeof(rb));
	tenc_begin(&e, GG_REC_NET, 1014, 5);
	tenc_uint(&e, GG_FN_socket);
	tenc_int(&e, 10);
	tenc_int(&e, 1);
	tenc_int(&e, -1);
	tenc_uint(&e, EACCES);
	forge_add(&f, &e);

	assert_int_equal(forge_read(&t, &w, "/tr/42-18ec000000000001.ggt", f.buf, f.len), 0);
	assert_int_equal(w.n, 0);
	assert_int_equal(t.nimages, 1);
	im = t.images[0];

	assert_string_equal(im->log, "42-18ec000000000001");
	assert_string_equal(im->file, "/tr/42-18ec000000000001.ggt");
	assert_int_equal(im->pid, 42);
	assert_int_equal(im->ppid, 41);
	assert_int_equal(im->origin, GG_ORIGIN_ROOT);
	assert_int_equal(im->t, 1000);
	assert_int_equal(im->start_ns, 0x18ec000000000000ull + 1000);
	assert_string_equal(im->exe, "/usr/bin/make");
	assert_string_equal(im->execfn, "/usr/bin/make");
	assert_int_equal(im->argv.n, 3);
	assert_string_equal(im->argv.v[0], "make");
	assert_null(im->argv.v[3]);
	assert_int_equal(im->env.n, 2);
	assert_string_equal(im->env.v[1], "LANG=C");
	assert_string_equal(im->cwd, "/src");
	assert_int_equal(im->umask, 022);
	assert_int_equal(im->uid, 1000);
	assert_int_equal(im->gid, 100);
	assert_string_equal(im->parent_log, "");
	assert_int_equal(im->stdio[0], 2);
	assert_int_equal(im->stdio[1], 8);
	assert_int_equal(im->stdio[2], -1);
	assert_string_equal(im->interp, "/lib64/ld-linux-x86-64.so.2");
	assert_int_equal(im->objects.n, 2);
	assert_string_equal(im->objects.v[1], "/lib/libm.so.6");
	assert_int_equal(im->warnings.n, 0);
	assert_non_null(im->warnings.v);
	assert_int_equal(im->nevents, 14);

	ev = &im->events[0];
	assert_int_equal(ev->type, GG_REC_OBJS);
	assert_int_equal(ev->t, 1001);
	assert_int_equal(ev->u.objs.objects.n, 2);

	ev = &im->events[1];
	assert_int_equal(ev->type, GG_REC_OPEN);
	assert_int_equal(ev->fn, GG_FN_openat);
	assert_string_equal(ev->path, "/src/a.c");
	assert_int_equal(ev->u.open.flags, O_RDONLY | O_CLOEXEC);
	assert_int_equal(ev->u.open.mode, 0644);
	assert_int_equal(ev->ret, 3);
	assert_int_equal(ev->err, 0);

	ev = &im->events[2];
	assert_int_equal(ev->type, GG_REC_STAT);
	assert_int_equal(ev->fn, GG_FN_readlink);
	assert_int_equal(ev->ret, 6);
	assert_int_equal(ev->u.stat.ftype, S_IFLNK >> 12);
	assert_string_equal(ev->u.stat.target, "target");

	ev = &im->events[3];
	assert_int_equal(ev->type, GG_REC_LIST);
	assert_string_equal(ev->path, "/src");
	assert_int_equal(ev->u.list.names.n, 2);
	assert_string_equal(ev->u.list.names.v[1], "b.h");
	assert_false(ev->u.list.truncated); /* a 5-field record: no truncated field */

	ev = &im->events[4];
	assert_int_equal(ev->type, GG_REC_NS);
	assert_int_equal(ev->fn, GG_FN_rename);
	assert_string_equal(ev->u.ns.path2, "/src/a.o");
	assert_int_equal(ev->ret, -1);
	assert_int_equal(ev->err, EXDEV);

	ev = &im->events[5];
	assert_int_equal(ev->type, GG_REC_CHDIR);
	assert_string_equal(ev->path, "/src/sub");

	ev = &im->events[6];
	assert_int_equal(ev->type, GG_REC_FD);
	assert_int_equal(ev->fn, GG_FN_close_range);
	assert_int_equal(ev->u.fd.fd, 3);
	assert_int_equal(ev->u.fd.fd2, 0xffffffffu);

	ev = &im->events[7];
	assert_int_equal(ev->type, GG_REC_EXEC);
	assert_int_equal(ev->fn, GG_FN_execvp);
	assert_int_equal(ev->u.exec.argv.n, 3);
	assert_string_equal(ev->u.exec.argv.v[2], "a.c");
	assert_int_equal(ev->u.exec.env.n, 1);
	assert_true(ev->u.exec.opaque);

	ev = &im->events[8];
	assert_int_equal(ev->type, GG_REC_EXECFAIL);
	assert_int_equal(ev->err, ENOEXEC);

	ev = &im->events[9];
	assert_int_equal(ev->type, GG_REC_SPAWN);
	assert_int_equal(ev->ret, 77);
	assert_int_equal(ev->u.spawn.nactions, 2);
	assert_int_equal(ev->u.spawn.actions[0].op, GG_SPAWN_OPEN);
	assert_string_equal(ev->u.spawn.actions[0].path, "/src/out.log");
	assert_int_equal(ev->u.spawn.actions[0].flags, O_WRONLY | O_CREAT);
	assert_int_equal(ev->u.spawn.actions[0].mode, 0600);
	assert_int_equal(ev->u.spawn.actions[1].op, GG_SPAWN_DUP2);
	assert_int_equal(ev->u.spawn.actions[1].fd2, 2);
	assert_string_equal(ev->u.spawn.actions[1].path, "");
	assert_false(ev->u.spawn.opaque);

	ev = &im->events[10];
	assert_int_equal(ev->type, GG_REC_WAIT);
	assert_int_equal(ev->u.wait.pid, 77);
	assert_int_equal(ev->u.wait.status, 0x0100);

	ev = &im->events[11];
	assert_int_equal(ev->type, GG_REC_EXIT);
	assert_int_equal(ev->u.exit.how, GG_EXIT_EXIT);
	assert_int_equal(ev->u.exit.status, 3);

	ev = &im->events[12];
	assert_int_equal(ev->type, GG_REC_STDIN);
	assert_int_equal(ev->fn, GG_FN_read);
	assert_int_equal(ev->u.stdin_.ftype, S_IFCHR >> 12);
	assert_true(ev->u.stdin_.tty);

	ev = &im->events[13];
	assert_int_equal(ev->type, GG_REC_NET);
	assert_int_equal(ev->fn, GG_FN_socket);
	assert_int_equal(ev->u.net.domain, 10);
	assert_int_equal(ev->u.net.type, 1);
	assert_int_equal(ev->ret, -1);
	assert_int_equal(ev->err, EACCES);

	/* a root: no parent, exit from its own EXIT record */
	assert_null(im->parent);
	assert_int_equal(im->exit.kind, TRACE_EXIT_STATUS);
	assert_int_equal(im->exit.code, 3);
	assert_ptr_equal(trace_find(&t, "42-18ec000000000001"), im);
	assert_null(trace_find(&t, "nope"));
	forge_done(&t, &w);
}

/* Strings are bytes: bin is accepted like str, and nothing is checked for UTF-8. */
static void test_trace_read__strings_are_bytes(void **state)
{
	static struct forge f;
	struct tenc e = TENC_INIT(rb, sizeof(rb));
	struct trace t;
	struct strlist w;
	unsigned char bin[] = { 0xc4, 3, '/', 0xff, 'x' }; /* bin8 "/\xffx" */

	forge_init(&f);
	rec_proc(&f, 1, 5, 4, GG_ORIGIN_ROOT, "/bin/\xe9t\xe9", NULL);
	tenc_begin(&e, GG_REC_OPEN, 2, 6);
	tenc_uint(&e, GG_FN_open);
	/* hand-written bin field in place of the path */
	memcpy(e.buf + e.len, bin, sizeof(bin));
	e.len += sizeof(bin);
	tenc_int(&e, 0);
	tenc_uint(&e, 0);
	tenc_int(&e, 3);
	tenc_int(&e, 0);
	forge_add(&f, &e);

	assert_int_equal(forge_read(&t, &w, "5-1.ggt", f.buf, f.len), 0);
	assert_int_equal(t.nimages, 1);
	assert_string_equal(t.images[0]->exe, "/bin/\xe9t\xe9");
	assert_int_equal(t.images[0]->nevents, 1);
	assert_string_equal(t.images[0]->events[0].path, "/\xffx");
	forge_done(&t, &w);
}

/* Unknown record types and fields past the known ones are skipped silently. */
static void test_trace_read__ignores_unknown_types_and_fields(void **state)
{
	static struct forge f;
	struct tenc e = TENC_INIT(rb, sizeof(rb));
	struct trace t;
	struct strlist w;

	forge_init(&f);
	rec_proc(&f, 1, 5, 4, GG_ORIGIN_ROOT, "/bin/sh", NULL);
	tenc_begin(&e, (enum gg_rec)99, 2, 3);
	tenc_str(&e, "future");
	tenc_int(&e, 1);
	tenc_nil(&e);
	forge_add(&f, &e);
	e = (struct tenc)TENC_INIT(rb, sizeof(rb));
	tenc_begin(&e, GG_REC_CHDIR, 3, 6);
	tenc_uint(&e, GG_FN_chdir);
	tenc_str(&e, "/x");
	tenc_int(&e, 0);
	tenc_int(&e, 0);
	tenc_str(&e, "extra");
	tenc_array(&e, 0);
	forge_add(&f, &e);

	assert_int_equal(forge_read(&t, &w, "5-1.ggt", f.buf, f.len), 0);
	assert_int_equal(w.n, 0);
	assert_int_equal(t.images[0]->nevents, 1);
	assert_int_equal(t.images[0]->events[0].type, GG_REC_CHDIR);
	assert_string_equal(t.images[0]->events[0].path, "/x");
	forge_done(&t, &w);
}

/* Every msgpack type passes the structure check in fields the reader skips. */
static void test_trace_read__accepts_every_msgpack_type(void **state)
{
	static struct forge f;
	struct trace t;
	struct strlist w;
	static const unsigned char rec[] = {
		0xdc, 0x00, 0x0e,                   /* array16 of 14 */
		0x63, 0x02,                         /* type 99, t 2 */
		0x81, 0x01, 0xcb, 0x40, 0x04, 0, 0, 0, 0, 0, 0, /* {1: 2.5 (float64)} */
		0xca, 0x40, 0x20, 0, 0,             /* float32 2.5 */
		0xc4, 0x02, 'h', 'i',               /* bin8 */
		0xc7, 0x01, 0x05, 'x',              /* ext8 */
		0xd6, 0x01, 1, 2, 3, 4,             /* fixext4 */
		0xd8, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, /* fixext16 */
		0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0,    /* int64 min */
		0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* uint64 max */
		0xde, 0x00, 0x01, 0xa1, 'k', 0xc0,  /* map16 {"k": nil} */
		0xdd, 0, 0, 0, 1, 0xc3,             /* array32 [true] */
		0xda, 0x00, 0x01, 'z',              /* str16 */
		0xe0,                               /* -32 */
	};

	forge_init(&f);
	rec_proc(&f, 1, 5, 4, GG_ORIGIN_ROOT, "/bin/sh", NULL);
	forge_raw(&f, rec, sizeof(rec));
	rec_exit(&f, 3, GG_EXIT_EXIT, 0);
	assert_int_equal(forge_read(&t, &w, "5-1.ggt", f.buf, f.len), 0);
	assert_int_equal(w.n, 0);
	assert_int_equal(t.images[0]->nevents, 1);
	forge_done(&t, &w);
}

/* ---- damaged logs ---------------------------------------------------------------- */

/*
 * Cut a PROC + OPEN + EXIT log at every length: the records wholly inside the cut
 * are kept, and a cut inside a record is reported at that record's offset.
 */
static void test_trace_read__torn_tail_at_every_offset(void **state)
{
	static struct forge f;
	char want[256];

	forge_init(&f);
	rec_proc(&f, 10, 7, 6, GG_ORIGIN_ROOT, "/bin/cat", NULL);
	rec_open(&f, 11, "/etc/hostname", O_RDONLY, 3, 0);
	rec_exit(&f, 12, GG_EXIT_EXIT, 0);
	assert_int_equal(f.nrec, 3);

	for (size_t len = 0; len <= f.len; len++) {
		struct trace t;
		struct strlist w;
		size_t complete = 0, torn_at = GG_TRACE_HEADER_LEN;

		for (size_t r = 0; r < f.nrec; r++) {
			if (f.ends[r] <= len) {
				complete++;
				torn_at = f.ends[r];
			}
		}
		assert_int_equal(forge_read(&t, &w, "/d/7-1.ggt", f.buf, len), 0);

		if (len == 0) {
			assert_int_equal(t.nimages, 0);
			assert_int_equal(w.n, 1);
			assert_string_equal(w.v[0], "/d/7-1.ggt: empty log, skipped");
		} else if (len < GG_TRACE_HEADER_LEN) {
			assert_int_equal(t.nimages, 0);
			assert_int_equal(w.n, 1);
			assert_non_null(strstr(w.v[0], "truncated header"));
		} else if (complete == 0) {
			assert_int_equal(t.nimages, 0);
			if (len > GG_TRACE_HEADER_LEN) {
				snprintf(want, sizeof(want),
					 "/d/7-1.ggt: torn record at offset %d, skipped %zu bytes",
					 GG_TRACE_HEADER_LEN, len - GG_TRACE_HEADER_LEN);
				assert_int_equal(w.n, 2);
				assert_string_equal(w.v[0], want);
			} else {
				assert_int_equal(w.n, 1);
			}
			assert_string_equal(w.v[w.n - 1], "/d/7-1.ggt: no records, skipped");
		} else {
			const struct trace_image *im;

			assert_int_equal(t.nimages, 1);
			im = t.images[0];
			assert_int_equal(1 + im->nevents, complete);
			if (torn_at == len) {
				assert_int_equal(w.n, 0);
				assert_int_equal(im->warnings.n, 0);
			} else {
				snprintf(want, sizeof(want),
					 "/d/7-1.ggt: torn record at offset %zu, skipped %zu bytes",
					 torn_at, len - torn_at);
				assert_int_equal(w.n, 1);
				assert_string_equal(w.v[0], want);
				assert_int_equal(im->warnings.n, 1);
				assert_string_equal(im->warnings.v[0], want);
			}
		}
		forge_done(&t, &w);
	}
}

/* A checksum mismatch is a torn record: what follows is not trusted. */
static void test_trace_read__bad_checksum_stops_reading(void **state)
{
	static struct forge f;
	struct trace t;
	struct strlist w;
	char want[256];

	forge_init(&f);
	rec_proc(&f, 10, 7, 6, GG_ORIGIN_ROOT, "/bin/cat", NULL);
	rec_open(&f, 11, "/etc/hostname", O_RDONLY, 3, 0);
	rec_exit(&f, 12, GG_EXIT_EXIT, 0);
	f.buf[f.ends[0] + GG_TRACE_RECHDR_LEN + 3] ^= 0x20; /* inside OPEN's payload */

	assert_int_equal(forge_read(&t, &w, "7-1.ggt", f.buf, f.len), 0);
	assert_int_equal(t.nimages, 1);
	assert_int_equal(t.images[0]->nevents, 0);
	snprintf(want, sizeof(want), "7-1.ggt: torn record at offset %zu, skipped %zu bytes",
		 f.ends[0], f.len - f.ends[0]);
	assert_int_equal(w.n, 1);
	assert_string_equal(w.v[0], want);
	forge_done(&t, &w);
}

/* A length past GG_TRACE_MAX_RECORD is torn, not an allocation. */
static void test_trace_read__huge_length_is_torn(void **state)
{
	static struct forge f;
	struct trace t;
	struct strlist w;

	forge_init(&f);
	rec_proc(&f, 10, 7, 6, GG_ORIGIN_ROOT, "/bin/cat", NULL);
	memcpy(f.buf + f.len, "\xff\xff\xff\x7f\0\0\0\0xxxx", 12);
	f.len += 12;
	assert_int_equal(forge_read(&t, &w, "7-1.ggt", f.buf, f.len), 0);
	assert_int_equal(t.nimages, 1);
	assert_int_equal(w.n, 1);
	assert_non_null(strstr(w.v[0], "torn record at offset"));
	forge_done(&t, &w);
}

/*
 * A record with a good checksum but a bad shape (a string where an int belongs, a
 * container claiming 4G elements) is skipped alone; the next record is read.
 */
static void test_trace_read__malformed_record_is_skipped(void **state)
{
	static struct forge f;
	struct tenc e = TENC_INIT(rb, sizeof(rb));
	struct trace t;
	struct strlist w;
	/* [3, 5, <array32 of 0xffffffff elements> ...] */
	static const unsigned char bomb[] = { 0x93, 0x03, 0x05, 0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0 };
	char want[128];
	size_t at1, at2;

	forge_init(&f);
	rec_proc(&f, 10, 7, 6, GG_ORIGIN_ROOT, "/bin/cat", NULL);
	at1 = f.len;
	tenc_begin(&e, GG_REC_OPEN, 11, 6);
	tenc_uint(&e, GG_FN_open);
	tenc_int(&e, 12); /* path must be a string */
	tenc_int(&e, 0);
	tenc_int(&e, 0);
	tenc_int(&e, 3);
	tenc_int(&e, 0);
	forge_add(&f, &e);
	at2 = f.len;
	forge_raw(&f, bomb, sizeof(bomb));
	rec_exit(&f, 12, GG_EXIT_EXIT, 4);

	assert_int_equal(forge_read(&t, &w, "7-1.ggt", f.buf, f.len), 0);
	assert_int_equal(t.nimages, 1);
	assert_int_equal(t.images[0]->nevents, 1);
	assert_int_equal(t.images[0]->events[0].type, GG_REC_EXIT);
	assert_int_equal(w.n, 2);
	snprintf(want, sizeof(want), "7-1.ggt: malformed record at offset %zu, skipped", at1);
	assert_string_equal(w.v[0], want);
	snprintf(want, sizeof(want), "7-1.ggt: malformed record at offset %zu, skipped", at2);
	assert_string_equal(w.v[1], want);
	assert_int_equal(t.images[0]->exit.kind, TRACE_EXIT_STATUS);
	assert_int_equal(t.images[0]->exit.code, 4);
	forge_done(&t, &w);
}

/* Forge a LIST record whose names array announces `count` but holds `names`. */
static void forge_list_counted(struct forge *f, uint64_t t, uint32_t count, char *const *names,
		       int truncated)
{
	struct tenc e = TENC_INIT(rb, sizeof(rb));
	uint32_t n = 0;

	tenc_begin(&e, GG_REC_LIST, t, truncated < 0 ? 5 : 6);
	tenc_uint(&e, GG_FN_opendir);
	tenc_str(&e, "/src/d");
	tenc_int(&e, 0);
	tenc_int(&e, 0);
	tenc_array(&e, count);
	for (; names[n]; n++)
		tenc_str(&e, names[n]);
	if (truncated >= 0)
		tenc_bool(&e, truncated);
	forge_add(f, &e);
}

/* The LIST record's truncated field is read; a record without it is whole. */
static void test_trace_read__list_truncated_flag(void **state)
{
	static struct forge f;
	char *const names[] = { (char *)"a", (char *)"...", NULL };
	struct trace t;
	struct strlist w;
	const struct trace_image *im;

	forge_init(&f);
	rec_proc(&f, 10, 7, 6, GG_ORIGIN_ROOT, "/bin/ls", NULL);
	forge_list_counted(&f, 11, 2, names, 1);
	forge_list_counted(&f, 12, 2, names, 0);
	forge_list_counted(&f, 13, 2, names, -1);
	assert_int_equal(forge_read(&t, &w, "7-1.ggt", f.buf, f.len), 0);
	assert_int_equal(w.n, 0);
	im = t.images[0];
	assert_int_equal(im->nevents, 3);
	assert_true(im->events[0].u.list.truncated);
	assert_false(im->events[1].u.list.truncated);
	assert_false(im->events[2].u.list.truncated);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(im->events[i].u.list.names.n, 2);
		assert_string_equal(im->events[i].u.list.names.v[1], "..."); /* a name, no marker */
	}
	forge_done(&t, &w);
}

/*
 * A payload must be consumed exactly.  A names array whose count is smaller than
 * the names written (a directory that grew between counting and listing) leaves
 * bytes after the record's array; a bigger count runs out of payload.  Each record
 * is skipped with a warning; the records around them are read.
 */
static void test_trace_read__payload_not_consumed_exactly(void **state)
{
	static struct forge f;
	char *const names[] = { (char *)"a.c", (char *)"b.c", (char *)"c.c", NULL };
	struct trace t;
	struct strlist w;
	char want[160];
	size_t at1, at2, at3;

	forge_init(&f);
	rec_proc(&f, 10, 7, 6, GG_ORIGIN_ROOT, "/bin/ls", NULL);
	at1 = f.len;
	forge_list_counted(&f, 11, 2, names, -1); /* "c.c" (4 bytes) after the array */
	at2 = f.len;
	forge_list_counted(&f, 12, 2, names, 0); /* "c.c" where truncated belongs, then false */
	at3 = f.len;
	forge_list_counted(&f, 13, 4, names, -1); /* one name short */
	forge_list_counted(&f, 14, 3, names, 0);
	rec_exit(&f, 15, GG_EXIT_EXIT, 0);

	assert_int_equal(forge_read(&t, &w, "7-1.ggt", f.buf, f.len), 0);
	assert_int_equal(w.n, 3);
	snprintf(want, sizeof(want),
		 "7-1.ggt: malformed record at offset %zu: 4 bytes after its end, skipped", at1);
	assert_string_equal(w.v[0], want);
	snprintf(want, sizeof(want),
		 "7-1.ggt: malformed record at offset %zu: 1 bytes after its end, skipped", at2);
	assert_string_equal(w.v[1], want);
	snprintf(want, sizeof(want), "7-1.ggt: malformed record at offset %zu, skipped", at3);
	assert_string_equal(w.v[2], want);
	assert_int_equal(t.images[0]->nevents, 2);
	assert_int_equal(t.images[0]->events[0].type, GG_REC_LIST);
	assert_int_equal(t.images[0]->events[0].t, 14);
	assert_int_equal(t.images[0]->events[0].u.list.names.n, 3);
	assert_int_equal(t.images[0]->events[1].type, GG_REC_EXIT);
	/* the image keeps its warnings too */
	assert_int_equal(t.images[0]->warnings.n, 3);
	forge_done(&t, &w);
}

/* Too few fields for the record type is malformed too. */
static void test_trace_read__short_record_is_malformed(void **state)
{
	static struct forge f;
	struct tenc e = TENC_INIT(rb, sizeof(rb));
	struct trace t;
	struct strlist w;

	forge_init(&f);
	rec_proc(&f, 10, 7, 6, GG_ORIGIN_ROOT, "/bin/cat", NULL);
	tenc_begin(&e, GG_REC_WAIT, 11, 2);
	tenc_uint(&e, GG_FN_wait);
	tenc_int(&e, 8);
	forge_add(&f, &e);
	assert_int_equal(forge_read(&t, &w, "7-1.ggt", f.buf, f.len), 0);
	assert_int_equal(t.images[0]->nevents, 0);
	assert_int_equal(w.n, 1);
	assert_non_null(strstr(w.v[0], "malformed record"));
	forge_done(&t, &w);
}

static void test_trace_read__bad_magic_skips_file(void **state)
{
	static struct forge f;
	struct trace t;
	struct strlist w;

	forge_init(&f);
	rec_proc(&f, 10, 7, 6, GG_ORIGIN_ROOT, "/bin/cat", NULL);
	f.buf[0] = 'X';
	assert_int_equal(forge_read(&t, &w, "7-1.ggt", f.buf, f.len), 0);
	assert_int_equal(t.nimages, 0);
	assert_int_equal(w.n, 1);
	assert_string_equal(w.v[0], "7-1.ggt: not a gg trace log (bad magic), skipped");
	forge_done(&t, &w);
}

static void test_trace_read__newer_version_is_refused(void **state)
{
	static struct forge f;
	struct trace t;
	struct strlist w;

	forge_init(&f);
	rec_proc(&f, 10, 7, 6, GG_ORIGIN_ROOT, "/bin/cat", NULL);
	f.buf[8] = (char)(GG_TRACE_VERSION + 1);
	assert_int_equal(forge_read(&t, &w, "/d/7-1.ggt", f.buf, f.len), -EPROTONOSUPPORT);
	assert_int_equal(t.nimages, 0);
	assert_non_null(strstr(t.error, "'/d/7-1.ggt'"));
	assert_non_null(strstr(t.error, "newer"));
	forge_done(&t, &w);
}

static void test_trace_read__empty_file(void **state)
{
	struct trace t;
	struct strlist w;

	assert_int_equal(forge_read(&t, &w, "7-1.ggt", "", 0), 0);
	assert_int_equal(t.nimages, 0);
	assert_int_equal(w.n, 1);
	assert_string_equal(w.v[0], "7-1.ggt: empty log, skipped");
	forge_done(&t, &w);
}

static void test_trace_read__truncated_header(void **state)
{
	char hdr[GG_TRACE_HEADER_LEN];
	struct trace t;
	struct strlist w;

	tenc_file_header(hdr);
	assert_int_equal(forge_read(&t, &w, "7-1.ggt", hdr, 10), 0);
	assert_int_equal(t.nimages, 0);
	assert_int_equal(w.n, 1);
	assert_string_equal(w.v[0], "7-1.ggt: truncated header (10 bytes), skipped");
	forge_done(&t, &w);
}

static void test_trace_read__first_record_must_be_proc(void **state)
{
	static struct forge f;
	struct trace t;
	struct strlist w;

	forge_init(&f);
	rec_exit(&f, 12, GG_EXIT_EXIT, 0);
	rec_proc(&f, 10, 7, 6, GG_ORIGIN_ROOT, "/bin/cat", NULL);
	assert_int_equal(forge_read(&t, &w, "7-1.ggt", f.buf, f.len), 0);
	assert_int_equal(t.nimages, 0);
	assert_int_equal(w.n, 1);
	assert_non_null(strstr(w.v[0], "not a proc record"));
	forge_done(&t, &w);
}

static void test_trace_read__memory_cap(void **state)
{
	static struct forge f;
	struct trace t;
	struct strlist w = STRLIST_INIT;

	forge_init(&f);
	rec_proc(&f, 10, 7, 6, GG_ORIGIN_ROOT, "/bin/cat", NULL);
	trace_init(&t);
	t.mem_cap = 1000; /* less than one arena chunk */
	assert_int_equal(trace_add_buf(&t, "7-1.ggt", f.buf, f.len, &w), -EFBIG);
	assert_non_null(strstr(t.error, "trace too large"));
	forge_done(&t, &w);
}

/* ---- directories and linking -------------------------------------------------------- */

static char tmpdir[64];

static int setup_dir(void **state)
{
	strcpy(tmpdir, "/tmp/gg-test-trace-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void write_log(const char *name, const struct forge *f)
{
	char path[256];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(fwrite(f->buf, 1, f->len, fp), f->len);
	assert_int_equal(fclose(fp), 0);
}

/*
 * make (100, root) forks 101, which execs sh (101); sh posix_spawns cc (102),
 * which is killed by SIGKILL; sh also runs system() whose /bin/sh (103) links to
 * it by ppid; make waits for 101 (status 2).  A failed exec (104 execve fails)
 * does not make a later same-pid image its continuation.
 */
static void test_trace_read__links_process_tree(void **state)
{
	static struct forge f;
	struct strlist w = STRLIST_INIT;
	struct trace t = TRACE_INIT;
	struct trace_image *make, *fork, *sh, *cc, *sys, *after_fail, *failer;

	forge_init(&f);
	rec_proc(&f, 100, 100, 1, GG_ORIGIN_ROOT, "/usr/bin/make", NULL);
	rec_wait(&f, 900, 101, 2 << 8);
	rec_exit(&f, 950, GG_EXIT_DTOR, -1);
	write_log("100-0000000000000001.ggt", &f);

	forge_init(&f);
	rec_proc(&f, 110, 101, 100, GG_ORIGIN_FORK, "/usr/bin/make", "100-0000000000000001");
	rec_exec(&f, 111, "/bin/nope");
	rec_execfail(&f, 112, "/bin/nope", ENOENT);
	rec_exec(&f, 113, "/bin/sh");
	write_log("101-0000000000000002.ggt", &f);

	forge_init(&f);
	rec_proc(&f, 120, 101, 100, GG_ORIGIN_EXEC, "/bin/dash", NULL);
	rec_spawn(&f, 130, "/usr/bin/cc", 102);
	rec_wait(&f, 200, 102, SIGKILL);
	rec_spawn(&f, 210, "/bin/sh", 0); /* system(): pid unknown */
	write_log("101-0000000000000003.ggt", &f);

	forge_init(&f);
	rec_proc(&f, 125, 102, 101, GG_ORIGIN_EXEC, "/usr/bin/cc", NULL);
	write_log("102-0000000000000004.ggt", &f);

	forge_init(&f);
	rec_proc(&f, 205, 103, 101, GG_ORIGIN_EXEC, "/bin/dash", NULL);
	rec_exit(&f, 206, GG_EXIT__EXIT, -1); /* exit(-1): 255 */
	write_log("103-0000000000000005.ggt", &f);

	/* 104: an exec that failed, then (pid reuse) an unrelated exec image */
	forge_init(&f);
	rec_proc(&f, 300, 104, 100, GG_ORIGIN_FORK, "/usr/bin/make", "100-0000000000000001");
	rec_exec(&f, 301, "/bin/missing");
	rec_execfail(&f, 302, "/bin/missing", ENOENT);
	write_log("104-0000000000000006.ggt", &f);

	forge_init(&f);
	rec_proc(&f, 400, 104, 55, GG_ORIGIN_EXEC, "/bin/true", NULL);
	write_log("104-0000000000000007.ggt", &f);

	/* not logs */
	forge_init(&f);
	write_log(".hidden.ggt", &f);
	write_log("notes.txt", &f);

	assert_int_equal(trace_open_dir(&t, tmpdir, &w), 0);
	assert_int_equal(w.n, 0);
	assert_int_equal(t.nimages, 7);

	make = trace_find(&t, "100-0000000000000001");
	fork = trace_find(&t, "101-0000000000000002");
	sh = trace_find(&t, "101-0000000000000003");
	cc = trace_find(&t, "102-0000000000000004");
	sys = trace_find(&t, "103-0000000000000005");
	failer = trace_find(&t, "104-0000000000000006");
	after_fail = trace_find(&t, "104-0000000000000007");
	assert_non_null(make && fork && sh && cc && sys && failer && after_fail);

	/* sorted by start */
	for (size_t i = 1; i < t.nimages; i++)
		assert_true(t.images[i - 1]->t <= t.images[i]->t);
	assert_ptr_equal(t.images[0], make);
	assert_int_equal(sh->index, 2);

	assert_null(make->parent);
	assert_int_equal(make->link, TRACE_LINK_NONE);
	assert_ptr_equal(fork->parent, make);
	assert_int_equal(fork->link, TRACE_LINK_FORK);
	assert_ptr_equal(sh->parent, fork);
	assert_int_equal(sh->link, TRACE_LINK_EXEC);
	assert_ptr_equal(fork->exec_next, sh);
	assert_ptr_equal(cc->parent, sh);
	assert_int_equal(cc->link, TRACE_LINK_SPAWN);
	assert_ptr_equal(sys->parent, sh);
	assert_int_equal(sys->link, TRACE_LINK_PPID);
	assert_ptr_equal(failer->parent, make);
	assert_null(failer->exec_next);
	assert_null(after_fail->parent); /* its ppid 55 was not recorded */
	assert_int_equal(after_fail->origin, GG_ORIGIN_ROOT);
	assert_int_equal(after_fail->origin_recorded, GG_ORIGIN_EXEC);
	assert_int_equal(sh->origin, GG_ORIGIN_EXEC);
	assert_int_equal(make->origin_recorded, GG_ORIGIN_ROOT);

	assert_int_equal(make->nchildren, 2);
	assert_ptr_equal(make->children[0], fork);
	assert_ptr_equal(make->children[1], failer);
	assert_int_equal(sh->nchildren, 2);
	assert_ptr_equal(sh->children[0], cc);
	assert_ptr_equal(sh->children[1], sys);

	assert_int_equal(make->exit.kind, TRACE_EXIT_NORMAL);
	assert_int_equal(fork->exit.kind, TRACE_EXIT_EXEC);
	assert_string_equal(fork->exit.path, "/bin/sh");
	assert_int_equal(sh->exit.kind, TRACE_EXIT_STATUS); /* make's WAIT for 101 */
	assert_int_equal(sh->exit.code, 2);
	assert_int_equal(cc->exit.kind, TRACE_EXIT_SIGNAL);
	assert_int_equal(cc->exit.code, SIGKILL);
	assert_int_equal(sys->exit.kind, TRACE_EXIT_STATUS);
	assert_int_equal(sys->exit.code, 255);
	assert_int_equal(failer->exit.kind, TRACE_EXIT_UNKNOWN);

	trace_release(&t);
	strlist_release(&w);
}

/* Warnings of a directory read come out in file name order, and an empty log is
 * not fatal; a newer version anywhere refuses the whole directory. */
static void test_trace_read__dir_warnings_and_newer_version(void **state)
{
	static struct forge f;
	struct strlist w = STRLIST_INIT;
	struct trace t = TRACE_INIT;
	char path[256];

	forge_init(&f);
	rec_proc(&f, 1, 9, 8, GG_ORIGIN_ROOT, "/bin/sh", NULL);
	write_log("9-1.ggt", &f);
	f.len = 0;
	write_log("8-1.ggt", &f);
	assert_int_equal(trace_open_dir(&t, tmpdir, &w), 0);
	assert_int_equal(t.nimages, 1);
	assert_int_equal(w.n, 1);
	snprintf(path, sizeof(path), "%s/8-1.ggt: empty log, skipped", tmpdir);
	assert_string_equal(w.v[0], path);
	trace_release(&t);
	strlist_release(&w);

	forge_init(&f);
	rec_proc(&f, 1, 9, 8, GG_ORIGIN_ROOT, "/bin/sh", NULL);
	f.buf[8] = 9;
	write_log("9-2.ggt", &f);
	assert_int_equal(trace_open_dir(&t, tmpdir, &w), -EPROTONOSUPPORT);
	assert_non_null(strstr(t.error, "version 9"));
	trace_release(&t);
	strlist_release(&w);

	/* trace_open_dir initialises the trace: an uninitialised one is fine */
	memset(&t, 0xa5, sizeof(t));
	assert_int_equal(trace_open_dir(&t, "/nonexistent", &w), -ENOENT);
	trace_release(&t);
	strlist_release(&w);
}

static void test_trace_read__missing_dir_is_an_error(void **state)
{
	struct trace t = TRACE_INIT;

	assert_int_equal(trace_open_dir(&t, "/nonexistent/gg/trace", NULL), -ENOENT);
	assert_string_equal(t.error,
			    "cannot open trace directory '/nonexistent/gg/trace': No such file or directory");
	trace_release(&t);
}

static void test_trace_read__empty_dir_has_no_images(void **state)
{
	struct trace t = TRACE_INIT;

	assert_int_equal(trace_open_dir(&t, tmpdir, NULL), 0);
	assert_int_equal(t.nimages, 0);
	assert_null(trace_find(&t, "x"));
	trace_release(&t);
}

static void test_trace_read__names(void **state)
{
	assert_string_equal(trace_fn_name(GG_FN_execve), "execve");
	assert_string_equal(trace_fn_name(GG_FN_openat), "openat");
	assert_string_equal(trace_fn_name(GG_FN___open_2), "__open_2");
	assert_string_equal(trace_fn_name(GG_FN__MAX), "?");
	assert_string_equal(trace_rec_name(GG_REC_EXECFAIL), "execfail");
	assert_string_equal(trace_rec_name(GG_REC_STDIN), "stdin");
	assert_string_equal(trace_rec_name(GG_REC_NET), "net");
	assert_string_equal(trace_rec_name(0), "?");
	assert_string_equal(trace_origin_name(GG_ORIGIN_FORK), "fork");
	assert_string_equal(trace_exit_how_name(GG_EXIT__EXIT), "_exit");
	assert_string_equal(trace_spawn_op_name(GG_SPAWN_FCHDIR), "fchdir");
	assert_string_equal(trace_link_name(TRACE_LINK_SPAWN), "spawn");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_trace_read__roundtrip_each_record_type),
		cmocka_unit_test(test_trace_read__strings_are_bytes),
		cmocka_unit_test(test_trace_read__ignores_unknown_types_and_fields),
		cmocka_unit_test(test_trace_read__accepts_every_msgpack_type),
		cmocka_unit_test(test_trace_read__torn_tail_at_every_offset),
		cmocka_unit_test(test_trace_read__bad_checksum_stops_reading),
		cmocka_unit_test(test_trace_read__huge_length_is_torn),
		cmocka_unit_test(test_trace_read__malformed_record_is_skipped),
		cmocka_unit_test(test_trace_read__short_record_is_malformed),
		cmocka_unit_test(test_trace_read__list_truncated_flag),
		cmocka_unit_test(test_trace_read__payload_not_consumed_exactly),
		cmocka_unit_test(test_trace_read__bad_magic_skips_file),
		cmocka_unit_test(test_trace_read__newer_version_is_refused),
		cmocka_unit_test(test_trace_read__empty_file),
		cmocka_unit_test(test_trace_read__truncated_header),
		cmocka_unit_test(test_trace_read__first_record_must_be_proc),
		cmocka_unit_test(test_trace_read__memory_cap),
		cmocka_unit_test_setup_teardown(test_trace_read__links_process_tree, setup_dir,
						teardown_dir),
		cmocka_unit_test_setup_teardown(test_trace_read__dir_warnings_and_newer_version,
						setup_dir, teardown_dir),
		cmocka_unit_test(test_trace_read__missing_dir_is_an_error),
		cmocka_unit_test_setup_teardown(test_trace_read__empty_dir_has_no_images, setup_dir,
						teardown_dir),
		cmocka_unit_test(test_trace_read__names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
