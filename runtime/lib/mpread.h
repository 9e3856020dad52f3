/*
 * mpread.h - a cursor that reads msgpack in place, for decoders of files the
 * project writes itself (the graph): no object tree, no allocation, every length
 * checked against the bytes left.  Any msgpack form is accepted (not only the
 * shortest): decoders that need one canonical encoding (thunk.c) keep their own.
 *
 * Every reader returns 0 and advances, or -EBADMSG (the cursor is then
 * unspecified: give up on the buffer).  Strings are not NUL-terminated.
 */
#ifndef GG_MPREAD_H
#define GG_MPREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mpr {
	const uint8_t *p, *end;
};

/* An array header: *n elements, each at least one byte, so *n <= bytes left. */
int mpr_array(struct mpr *r, size_t *n);
/* A non-negative integer. */
int mpr_uint(struct mpr *r, uint64_t *v);
/* A str or a bin: *s points into the buffer, *len bytes. */
int mpr_bytes(struct mpr *r, const char **s, size_t *len);
int mpr_bool(struct mpr *r, bool *v);
/* Is the next object nil?  Consumed if so. */
bool mpr_nil(struct mpr *r);
/* Skip one object of any type (nesting at most MPR_MAX_DEPTH deep). */
#define MPR_MAX_DEPTH 64
int mpr_skip(struct mpr *r);

#endif
