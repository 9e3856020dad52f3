/*
 * gentrace - forge a large synthetic recording for the inferer benchmark.
 *
 *   gentrace [--logs] DIR NPROC NEVENTS
 *
 * Makes DIR/src with 200 source files and 50 headers, and DIR/.gg/trace with the
 * recording of one `make` spawning NPROC-1 commands, in one segment as the shim
 * writes it (or, with --logs, one version-1 log per image as older shims did;
 * shim/trace_format.h): 90% compiles (read one source and
 * a handful of headers, probe a few missing paths, write an object and remove a
 * temporary) and 10% links (read the objects of the previous compiles, write a
 * library).  Events are spread so that the whole trace holds about NEVENTS of them.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shim/trace_enc.h"

static char root[PATH_MAX];
static uint64_t clk = 1000;
static uint64_t img_start; /* the current image's start_ns */
static int seg_fd = -1;    /* the segment, or -1: one log per image (--logs) */
static char buf[64 << 20]; /* as large as make's log, which passes through it */
static size_t len;

static void put(struct tenc *e)
{
	ssize_t n = tenc_finish(e);
	if (n < 0 || len + (size_t)n > sizeof(buf)) {
		fprintf(stderr, "gentrace: record too large\n");
		exit(1);
	}
	memcpy(buf + len, e->buf, (size_t)n);
	len += (size_t)n;
}

/* Records are encoded by the shim's own encoders, generated from trace_schema.h. */
static void begin(int pid, int ppid, int origin, const char *exe, char *const *argv)
{
	char rec[8192];
	struct tenc e = TENC_INIT(rec, sizeof(rec));
	char *env[] = { "PATH=/usr/bin:/bin", "LANG=C", NULL };
	tenc_file_header(buf);
	len = GG_TRACE_HEADER_LEN;
	img_start = ++clk;
	tenc_rec_proc(&e, clk, &(struct gg_rec_proc){
		.pid = pid, .ppid = ppid, .origin = origin, .start_ns = clk, .exe = exe,
		.execfn = exe, .argv = { argv, 4096 }, .env = { env, 4096 }, .cwd = root,
		.umask = 022, .parent_log = "", .stdio = { 8, 8, 8 } });
	put(&e);
}

/* The records in buf (version 1) framed for the segment, appended to it. */
static void finish_seg(int pid, uint64_t start)
{
	static char out[sizeof(buf) + sizeof(buf) / 2];
	size_t n = 0;

	for (size_t off = GG_TRACE_HEADER_LEN; off + GG_TRACE_RECHDR_LEN <= len;) {
		uint32_t plen;
		memcpy(&plen, buf + off, 4);
		tenc_seg_frame(out + n, buf + off, (uint32_t)pid, start);
		n += GG_TRACE_SEG_RECHDR_LEN;
		memcpy(out + n, buf + off + GG_TRACE_RECHDR_LEN, plen);
		n += plen;
		off += GG_TRACE_RECHDR_LEN + plen;
	}
	if (write(seg_fd, out, n) != (ssize_t)n) {
		perror("segment");
		exit(1);
	}
}

static void finish(const char *dir, int pid, uint64_t start)
{
	char path[PATH_MAX + 64];
	int fd;
	if (seg_fd >= 0) {
		finish_seg(pid, start);
		return;
	}
	snprintf(path, sizeof(path), "%s/%d-%016llx.ggt", dir, pid, (unsigned long long)start);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, buf, len) != (ssize_t)len) {
		perror(path);
		exit(1);
	}
	close(fd);
}

static void ev_open(const char *path, int flags, int ret)
{
	char rec[PATH_MAX + 64];
	struct tenc e = TENC_INIT(rec, sizeof(rec));
	tenc_rec_open(&e, ++clk, &(struct gg_rec_open){ .fn = GG_FN_openat, .path = path,
							 .flags = flags, .mode = 0644, .ret = ret,
							 .err = ret < 0 ? ENOENT : 0 });
	put(&e);
}

static void ev_stat_missing(const char *path)
{
	char rec[PATH_MAX + 64];
	struct tenc e = TENC_INIT(rec, sizeof(rec));
	tenc_rec_stat(&e, ++clk, &(struct gg_rec_stat){ .fn = GG_FN_stat, .path = path,
							 .ret = -1, .err = ENOENT, .target = "" });
	put(&e);
}

static void ev_unlink(const char *path)
{
	char rec[PATH_MAX + 64];
	struct tenc e = TENC_INIT(rec, sizeof(rec));
	tenc_rec_ns(&e, ++clk, &(struct gg_rec_ns){ .fn = GG_FN_unlink, .path = path, .path2 = "" });
	put(&e);
}

static void ev_wait(int pid)
{
	char rec[64];
	struct tenc e = TENC_INIT(rec, sizeof(rec));
	tenc_rec_wait(&e, ++clk, &(struct gg_rec_wait){ .fn = GG_FN_waitpid, .pid = pid });
	put(&e);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		perror(path);
		exit(1);
	}
	fputs(text, f);
	fclose(f);
}

int main(int argc, char **argv)
{
	char dir[PATH_MAX + 32], path[PATH_MAX + 64], text[128];
	char *sh[] = { "sh", "-c", "cc -c", NULL }, *mk[] = { "make", NULL };
	int nproc, nev, per;
	static char make_log[64 << 20];
	size_t make_len;

	bool logs = argc > 1 && !strcmp(argv[1], "--logs");
	uint64_t make_start;

	if (logs)
		argc--, argv++;
	if (argc != 4) {
		fprintf(stderr, "usage: gentrace [--logs] DIR NPROC NEVENTS\n");
		return 2;
	}
	if (!realpath(argv[1], root)) {
		perror(argv[1]);
		return 1;
	}
	nproc = atoi(argv[2]);
	nev = atoi(argv[3]);
	per = nproc > 1 ? nev / (nproc - 1) : nev;
	if (per < 4)
		per = 4;
	snprintf(dir, sizeof(dir), "%s/src", root);
	mkdir(dir, 0755);
	for (int i = 0; i < 250; i++) {
		snprintf(path, sizeof(path), "%s/src/f%d.%c", root, i, i < 200 ? 'c' : 'h');
		snprintf(text, sizeof(text), "/* file %d */\n", i);
		write_file(path, text);
	}
	snprintf(dir, sizeof(dir), "%s/.gg", root);
	mkdir(dir, 0755);
	snprintf(dir, sizeof(dir), "%s/.gg/trace", root);
	mkdir(dir, 0755);

	/* make's log accumulates spawns and waits between the commands' logs */
	begin(1000, 1, GG_ORIGIN_ROOT, "/usr/bin/make", mk);
	make_start = img_start;
	if (!logs) {
		char hdr[GG_TRACE_HEADER_LEN];
		snprintf(path, sizeof(path), "%s/" GG_TRACE_SEG_PREFIX "1000-%016llx.ggt", dir,
			 (unsigned long long)make_start);
		seg_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
		tenc_seg_header(hdr);
		if (seg_fd < 0 || write(seg_fd, hdr, sizeof(hdr)) != (ssize_t)sizeof(hdr)) {
			perror(path);
			return 1;
		}
	}
	memcpy(make_log, buf, len);
	make_len = len;
	for (int c = 1; c < nproc; c++) {
		int pid = 1000 + c;
		bool link = c % 10 == 0;
		/* the spawn, in make's log */
		{
			char rec[256];
			struct tenc e = TENC_INIT(rec, sizeof(rec));
			char *a[] = { "sh", NULL };
			tenc_rec_spawn(&e, ++clk, &(struct gg_rec_spawn){
				.fn = GG_FN_posix_spawn, .path = "/bin/sh", .argv = { a, 64 },
				.ret = pid });
			ssize_t n = tenc_finish(&e);
			memcpy(make_log + make_len, rec, (size_t)n);
			make_len += (size_t)n;
		}
		begin(pid, 1000, GG_ORIGIN_EXEC, "/bin/sh", sh);
		int k = 0;
		if (link) {
			for (int j = c - 9; j < c && k < per - 1; j++, k++) {
				snprintf(path, sizeof(path), "%s/obj/o%d.o", root, j);
				ev_open(path, O_RDONLY, 3);
			}
			snprintf(path, sizeof(path), "%s/lib/l%d.a", root, c);
			ev_open(path, O_WRONLY | O_CREAT | O_TRUNC, 4);
		} else {
			snprintf(path, sizeof(path), "%s/src/f%d.c", root, c % 200);
			ev_open(path, O_RDONLY, 3);
			k = 3;
			for (; k < per; k++) {
				if (k % 3 == 0) {
					snprintf(path, sizeof(path), "%s/inc%d/f%d.h", root, k % 7, k);
					ev_stat_missing(path);
				} else {
					snprintf(path, sizeof(path), "%s/src/f%d.h", root, 200 + (c + k) % 50);
					ev_open(path, O_RDONLY, 3);
				}
			}
			snprintf(path, sizeof(path), "/tmp/cc%d.s", pid);
			ev_open(path, O_WRONLY | O_CREAT | O_TRUNC, 4);
			ev_unlink(path);
			snprintf(path, sizeof(path), "%s/obj/o%d.o", root, c);
			ev_open(path, O_WRONLY | O_CREAT | O_TRUNC, 4);
		}
		finish(dir, pid, img_start);
		{ /* make's wait, appended to its log (not the log copied through buf: quadratic) */
			len = 0;
			ev_wait(pid);
			memcpy(make_log + make_len, buf, len);
			make_len += len;
		}
	}
	memcpy(buf, make_log, make_len);
	len = make_len;
	finish(dir, 1000, make_start);
	/* the outputs exist, as after a real build */
	snprintf(dir, sizeof(dir), "%s/obj", root);
	mkdir(dir, 0755);
	snprintf(dir, sizeof(dir), "%s/lib", root);
	mkdir(dir, 0755);
	for (int c = 1; c < nproc; c++) {
		snprintf(path, sizeof(path), c % 10 ? "%s/obj/o%d.o" : "%s/lib/l%d.a", root, c);
		snprintf(text, sizeof(text), "out %d\n", c);
		write_file(path, text);
	}
	return 0;
}
