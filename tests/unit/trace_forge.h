/*
 * trace_forge.h - forge trace logs in memory with the shim's encoder, for unit
 * tests of the reader and of what consumes it.  Header-only (static functions);
 * include it after <cmocka.h>, whose assertions it uses.
 *
 *     static struct forge f;
 *     forge_init(&f);
 *     rec_proc(&f, t, pid, ppid, GG_ORIGIN_ROOT, "/bin/sh", NULL);
 *     rec_open(&f, t + 1, "/etc/hostname", O_RDONLY, 3, 0);
 *     forge_list(&f, t + 2, &(struct gg_rec_list){ .fn = GG_FN_opendir, .path = "/d" });
 *     ... f.buf[0 .. f.len) is the log; f.ends[i] is where record i ends.
 *
 * forge_<name>() exists for every record type (generated from trace_schema.h);
 * rec_*() are shorthands for the common ones.
 */
#ifndef GG_TEST_TRACE_FORGE_H
#define GG_TEST_TRACE_FORGE_H

#include <fcntl.h>
#include <string.h>

#define XXH_INLINE_ALL
#define XXH_NO_STREAM
#include <xxhash.h>

#include "shim/trace_enc.h"
#include "runtime/lib/util.h"
#include "runtime/trace/trace_read.h"

struct forge {
	char buf[1 << 16];
	size_t len;
	size_t ends[64]; /* end offset of each record */
	size_t nrec;
};

static char rb[1 << 14] __attribute__((unused));

static inline void forge_init(struct forge *f)
{
	tenc_file_header(f->buf);
	f->len = GG_TRACE_HEADER_LEN;
	f->nrec = 0;
}

static inline void forge_add(struct forge *f, struct tenc *e)
{
	ssize_t n = tenc_finish(e);
	assert_true(n > 0);
	assert_true(f->len + (size_t)n <= sizeof(f->buf));
	memcpy(f->buf + f->len, e->buf, (size_t)n);
	f->len += (size_t)n;
	f->ends[f->nrec++] = f->len;
}

static char *const no_strv[] __attribute__((unused)) = { NULL };

/*
 * Generated from shim/trace_schema.h: for every record type <name>,
 *
 *     forge_<name>(f, t, &(struct gg_rec_<name>){ .field = value, ... });
 *
 * encodes it with the shim's own encoder (tenc_rec_<name>) and appends it.
 * Fields left out are 0, "" or empty lists.
 */
#define FORGE_REC_(TYPE, number, name, head)                                      \
	static inline __attribute__((unused)) void forge_##name(                  \
		struct forge *f, uint64_t t, struct gg_rec_##name *r)             \
	{                                                                         \
		struct tenc e = TENC_INIT(rb, sizeof(rb));                        \
		tenc_rec_##name(&e, t, r);                                        \
		forge_add(f, &e);                                                 \
	}
FORGE_REC_(PROC, 1, proc, X)
GG_REC_SCHEMA(FORGE_REC_)
#undef FORGE_REC_

/* A string vector for a V field, with room to spare; for an L field, whole. */
#define FORGE_V(vec) ((struct tenc_vec){ (vec), 4096 })
#define FORGE_L(vec) ((struct tenc_fill){ forge_fill_strv, (void *)(vec) })

static inline __attribute__((unused)) void forge_fill_strv(struct tenc *e, void *ctx)
{
	tenc_strv(e, ctx, 1 << 20);
}

/* The common records, with the values most tests want. */
/* A PROC; batched: the image writes its records in batches (trace_format.h). */
static inline void rec_proc_b(struct forge *f, uint64_t t, int pid, int ppid, enum gg_origin origin,
			      const char *exe, const char *parent_log, bool batched)
{
	char *const argv[] = { (char *)path_base(exe), (char *)"-c", (char *)"x", NULL };
	char *const env[] = { (char *)"PATH=/usr/bin", (char *)"LANG=C", NULL };

	forge_proc(f, t, &(struct gg_rec_proc){
		.pid = pid, .ppid = ppid, .origin = origin, .start_ns = 0x18ec000000000000ull + t,
		.exe = exe, .execfn = exe,
		.argv = FORGE_V(origin == GG_ORIGIN_FORK ? no_strv : argv),
		.env = FORGE_V(origin == GG_ORIGIN_FORK ? no_strv : env),
		.cwd = "/src", .umask = 022, .uid = 1000, .gid = 100,
		.parent_log = parent_log ? parent_log : "", .stdio = { 2, 8, -1 },
		.batched = batched });
}

static inline void rec_proc(struct forge *f, uint64_t t, int pid, int ppid, enum gg_origin origin,
		     const char *exe, const char *parent_log)
{
	rec_proc_b(f, t, pid, ppid, origin, exe, parent_log, false);
}

static inline void rec_open(struct forge *f, uint64_t t, const char *path, int flags, int ret, int err)
{
	forge_open(f, t, &(struct gg_rec_open){ .fn = GG_FN_openat, .path = path, .flags = flags,
						 .mode = 0644, .ret = ret, .err = err });
}

static inline void rec_exec(struct forge *f, uint64_t t, const char *path)
{
	char *const argv[] = { (char *)path_base(path), NULL };
	forge_exec(f, t, &(struct gg_rec_exec){ .fn = GG_FN_execve, .path = path,
						 .argv = FORGE_V(argv), .env = FORGE_V(no_strv) });
}

static inline void rec_execfail(struct forge *f, uint64_t t, const char *path, int err)
{
	forge_execfail(f, t, &(struct gg_rec_execfail){ .fn = GG_FN_execve, .path = path, .err = err });
}

static inline void rec_spawn(struct forge *f, uint64_t t, const char *path, int ret)
{
	char *const argv[] = { (char *)path_base(path), NULL };
	forge_spawn(f, t, &(struct gg_rec_spawn){ .fn = GG_FN_posix_spawnp, .path = path,
						   .argv = FORGE_V(argv), .env = FORGE_V(no_strv),
						   .ret = ret });
}

static inline void rec_wait(struct forge *f, uint64_t t, int pid, int status)
{
	forge_wait(f, t, &(struct gg_rec_wait){ .fn = GG_FN_waitpid, .pid = pid, .status = status });
}

static inline void rec_exit(struct forge *f, uint64_t t, enum gg_exit_how how, int status)
{
	forge_exit(f, t, &(struct gg_rec_exit){ .how = how, .status = status });
}

/* Write a raw payload with a correct header and checksum. */
static inline void forge_raw(struct forge *f, const void *payload, uint32_t n)
{
	uint32_t check = XXH32(payload, n, 0);
	for (int i = 0; i < 4; i++) {
		f->buf[f->len + i] = (char)(n >> (8 * i));
		f->buf[f->len + 4 + i] = (char)(check >> (8 * i));
	}
	memcpy(f->buf + f->len + 8, payload, n);
	f->len += 8 + n;
	f->ends[f->nrec++] = f->len;
}

/* Read one log (or segment) from memory into a fresh trace, linked (the includer has
 * cmocka); forge_done releases what it made. */
static inline __attribute__((unused)) int forge_read(struct trace *t, struct strlist *w,
						     const char *name, const void *buf, size_t len)
{
	int ret;

	trace_init(t);
	*w = (struct strlist)STRLIST_INIT;
	ret = trace_add_buf(t, name, buf, len, w);
	if (ret == 0)
		assert_int_equal(trace_link(t), 0);
	return ret;
}

static inline __attribute__((unused)) void forge_done(struct trace *t, struct strlist *w)
{
	trace_release(t);
	strlist_release(w);
}

#endif
