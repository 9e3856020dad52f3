/*
 * trace_forge.h - forge trace logs in memory with the shim's encoder, for unit
 * tests of the reader and of what consumes it.  Header-only (static functions);
 * include it after <cmocka.h>, whose assertions it uses.
 *
 *     static struct forge f;
 *     forge_init(&f);
 *     rec_proc(&f, t, pid, ppid, GG_ORIGIN_ROOT, "/bin/sh", NULL);
 *     rec_open(&f, t + 1, "/etc/hostname", O_RDONLY, 3, 0);
 *     ... f.buf[0 .. f.len) is the log; f.ends[i] is where record i ends.
 */
#ifndef GG_TEST_TRACE_FORGE_H
#define GG_TEST_TRACE_FORGE_H

#include <fcntl.h>
#include <string.h>

#define XXH_INLINE_ALL
#define XXH_NO_STREAM
#include <xxhash.h>

#include "trace_enc.h"
#include "util.h"

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

static inline void rec_proc(struct forge *f, uint64_t t, int pid, int ppid, enum gg_origin origin,
		     const char *exe, const char *parent_log)
{
	char *const argv[] = { (char *)path_base(exe), (char *)"-c", (char *)"x", NULL };
	char *const env[] = { (char *)"PATH=/usr/bin", (char *)"LANG=C", NULL };
	struct tenc e = TENC_INIT(rb, sizeof(rb));

	tenc_begin(&e, GG_REC_PROC, t, 14);
	tenc_int(&e, pid);
	tenc_int(&e, ppid);
	tenc_uint(&e, origin);
	tenc_uint(&e, 0x18ec000000000000ull + t);
	tenc_str(&e, exe);
	tenc_str(&e, exe);
	tenc_strv(&e, origin == GG_ORIGIN_FORK ? no_strv : argv, 4096);
	tenc_strv(&e, origin == GG_ORIGIN_FORK ? no_strv : env, 4096);
	tenc_str(&e, "/src");
	tenc_uint(&e, 022);
	tenc_uint(&e, 1000);
	tenc_uint(&e, 100);
	tenc_str(&e, parent_log ? parent_log : "");
	tenc_array(&e, 3);
	tenc_int(&e, 2);
	tenc_int(&e, 8);
	tenc_int(&e, -1);
	forge_add(f, &e);
}

static inline void rec_open(struct forge *f, uint64_t t, const char *path, int flags, int ret, int err)
{
	struct tenc e = TENC_INIT(rb, sizeof(rb));
	tenc_begin(&e, GG_REC_OPEN, t, 6);
	tenc_uint(&e, GG_FN_openat);
	tenc_str(&e, path);
	tenc_int(&e, flags);
	tenc_uint(&e, 0644);
	tenc_int(&e, ret);
	tenc_int(&e, err);
	forge_add(f, &e);
}

static inline void rec_exec(struct forge *f, uint64_t t, const char *path)
{
	char *const argv[] = { (char *)path_base(path), NULL };
	struct tenc e = TENC_INIT(rb, sizeof(rb));
	tenc_begin(&e, GG_REC_EXEC, t, 5);
	tenc_uint(&e, GG_FN_execve);
	tenc_str(&e, path);
	tenc_strv(&e, argv, 4096);
	tenc_strv(&e, no_strv, 4096);
	tenc_bool(&e, false);
	forge_add(f, &e);
}

static inline void rec_execfail(struct forge *f, uint64_t t, const char *path, int err)
{
	struct tenc e = TENC_INIT(rb, sizeof(rb));
	tenc_begin(&e, GG_REC_EXECFAIL, t, 3);
	tenc_uint(&e, GG_FN_execve);
	tenc_str(&e, path);
	tenc_int(&e, err);
	forge_add(f, &e);
}

static inline void rec_spawn(struct forge *f, uint64_t t, const char *path, int ret)
{
	char *const argv[] = { (char *)path_base(path), NULL };
	struct tenc e = TENC_INIT(rb, sizeof(rb));
	tenc_begin(&e, GG_REC_SPAWN, t, 8);
	tenc_uint(&e, GG_FN_posix_spawnp);
	tenc_str(&e, path);
	tenc_strv(&e, argv, 4096);
	tenc_strv(&e, no_strv, 4096);
	tenc_int(&e, ret);
	tenc_int(&e, 0);
	tenc_array(&e, 0);
	tenc_bool(&e, false);
	forge_add(f, &e);
}

static inline void rec_wait(struct forge *f, uint64_t t, int pid, int status)
{
	struct tenc e = TENC_INIT(rb, sizeof(rb));
	tenc_begin(&e, GG_REC_WAIT, t, 3);
	tenc_uint(&e, GG_FN_waitpid);
	tenc_int(&e, pid);
	tenc_int(&e, status);
	forge_add(f, &e);
}

static inline void rec_exit(struct forge *f, uint64_t t, enum gg_exit_how how, int status)
{
	struct tenc e = TENC_INIT(rb, sizeof(rb));
	tenc_begin(&e, GG_REC_EXIT, t, 2);
	tenc_uint(&e, how);
	tenc_int(&e, status);
	forge_add(f, &e);
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

#endif
