/*
 * trace_enc.h - encode trace records (shim/trace_format.h) into a caller's buffer.
 *
 * Used by the shim's hot path and by tests that forge traces, so it allocates
 * nothing, calls no stdio and touches no global state: the caller owns the buffer.
 * Writing past the capacity sets `overflow` and drops the bytes; the caller checks
 * tenc_finish()'s result and retries with a larger buffer (or truncates lists).
 *
 * A record is built as
 *
 *     struct tenc e = TENC_INIT(buf, sizeof(buf));
 *     tenc_begin(&e, GG_REC_OPEN, now, 6);     // array of 2 + 6 elements
 *     tenc_uint(&e, GG_FN_open); tenc_str(&e, path); ...
 *     ssize_t n = tenc_finish(&e);              // header filled, n bytes in buf
 *
 * and written with one write(2).
 */
#ifndef GG_TRACE_ENC_H
#define GG_TRACE_ENC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "trace_format.h"

struct tenc {
	char *buf;     /* not owned */
	size_t cap;    /* bytes available in buf */
	size_t len;    /* bytes written so far, header included */
	bool overflow; /* a write did not fit; len stays <= cap */
};

#define TENC_INIT(b, c) { .buf = (char *)(b), .cap = (c), .len = 0, .overflow = false }

/* The 16-byte file header (magic, version, reserved). */
void tenc_file_header(char out[GG_TRACE_HEADER_LEN]);

/* Start a record of `type` stamped `t` with `nfields` fields after [type, t]. */
void tenc_begin(struct tenc *e, enum gg_rec type, uint64_t t, unsigned nfields);
void tenc_uint(struct tenc *e, uint64_t v);
void tenc_int(struct tenc *e, int64_t v);
void tenc_bool(struct tenc *e, bool v);
void tenc_nil(struct tenc *e);
void tenc_array(struct tenc *e, uint32_t n);
void tenc_strn(struct tenc *e, const char *s, size_t n);
void tenc_str(struct tenc *e, const char *s); /* NULL is encoded as "" */

/*
 * Encode a NULL-terminated string vector as an array.  If the whole vector would not
 * fit in `budget` bytes, as many entries as fit are kept and a final "..." marks the
 * cut (trace_format.h, Limits).  Returns the number of entries written.
 */
size_t tenc_strv(struct tenc *e, char *const *v, size_t budget);

/* Fill in the record header; returns the record's total length, or -ENOSPC on
 * overflow, or -EMSGSIZE past GG_TRACE_MAX_RECORD. */
ssize_t tenc_finish(struct tenc *e);

/* Bytes a string vector would take encoded (for sizing a buffer). */
size_t tenc_strv_size(char *const *v);

#endif
