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

#include "shim/trace_format.h"

struct tenc {
	char *buf;     /* not owned */
	size_t cap;    /* bytes available in buf */
	size_t len;    /* bytes written so far, header included */
	bool overflow; /* a write did not fit; len stays <= cap */
};

#define TENC_INIT(b, c) { .buf = (char *)(b), .cap = (c), .len = 0, .overflow = false }

/* The 16-byte file header (magic, version, reserved) of a version-1 per-process
 * log, whose records are the bytes tenc_finish() leaves in the buffer. */
void tenc_file_header(char out[GG_TRACE_HEADER_LEN]);
/* The 16-byte file header of a segment, of the newest version (GG_TRACE_VERSION). */
void tenc_seg_header(char out[GG_TRACE_HEADER_LEN]);

/*
 * The version-2 record header (trace_format.h) of a record finished by
 * tenc_finish(): `rec` is that record (its version-1 header gives the length and
 * the payload's checksum, which is not computed again), pid and start name the
 * image.  A segment record is hdr[0..GG_TRACE_SEG_RECHDR_LEN) followed by the
 * payload rec + GG_TRACE_RECHDR_LEN, written together (writev).
 */
void tenc_seg_frame(char hdr[GG_TRACE_SEG_RECHDR_LEN], const char *rec, uint32_t pid,
		    uint64_t start);

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

/*
 * A list of strings whose length is known only once it is written (a directory
 * read in one pass, trace_format.h LIST):
 *
 *     struct tenc_list l;
 *     tenc_list_open(&e, &l);                  // room for the widest array header
 *     while (...)
 *             if (!tenc_list_str(&e, &l, name, len, reserve))
 *                     break;                   // full: l.cut is set
 *     tenc_list_close(&e, &l);                 // header in its smallest form
 *
 * The bytes are exactly those of tenc_array(l.n) followed by the strings: closing
 * moves the elements down over the unused header bytes.  tenc_list_str() adds a
 * string only if `reserve` bytes are left after it (what the record still needs
 * after the list), so a full buffer cuts the list instead of overflowing the
 * record; the caller says so in the record (l.cut).
 */
struct tenc_list {
	size_t mark; /* offset of the reserved header */
	uint32_t n;  /* strings written */
	bool cut;    /* a string did not fit and was left out */
};

void tenc_list_open(struct tenc *e, struct tenc_list *l);
bool tenc_list_str(struct tenc *e, struct tenc_list *l, const char *s, size_t n,
		   size_t reserve);
void tenc_list_close(struct tenc *e, struct tenc_list *l);

/* Bytes a string of n bytes takes encoded (header included). */
size_t tenc_str_size(size_t n);

/* Fill in the record header; returns the record's total length, or -ENOSPC on
 * overflow, or -EMSGSIZE past GG_TRACE_MAX_RECORD. */
ssize_t tenc_finish(struct tenc *e);

/* Bytes a string vector would take encoded (for sizing a buffer). */
size_t tenc_strv_size(char *const *v);

/*
 * Whole records, generated from trace_schema.h.  For each record type <name> there
 * is a struct gg_rec_<name> with one member per field, of the C type its kind
 * takes (below), and
 *
 *     void tenc_rec_<name>(struct tenc *e, uint64_t t, struct gg_rec_<name> *r);
 *
 * which starts the record (tenc_begin) and encodes the fields in wire order; the
 * caller then calls tenc_finish().  The members are read in field order, and a
 * fill function runs when its field is reached, so it may set the members after
 * it (LIST's names decide its truncated).  PROC is tenc_rec_proc; a spawn action
 * is struct gg_spawn_action, encoded by tenc_spawn_action (kind ACT's fill calls it).
 *
 *   FN unsigned   I int64_t   U HOW OP uint64_t   B bool   S const char * (NULL: "")
 *   V struct tenc_vec   L ACT struct tenc_fill   STDIO int[3]
 */
struct tenc_vec {
	char *const *v; /* NULL-terminated; NULL: empty */
	size_t budget;  /* bytes it may take: tenc_strv() */
};

struct tenc_fill {
	/* writes exactly one msgpack value (an array) */
	void (*fill)(struct tenc *e, void *ctx);
	void *ctx;
};

#define TENC_DECL_FN(n) unsigned n
#define TENC_DECL_I(n) int64_t n
#define TENC_DECL_U(n) uint64_t n
#define TENC_DECL_HOW(n) uint64_t n
#define TENC_DECL_OP(n) uint64_t n
#define TENC_DECL_B(n) bool n
#define TENC_DECL_S(n) const char *n
#define TENC_DECL_V(n) struct tenc_vec n
#define TENC_DECL_L(n) struct tenc_fill n
#define TENC_DECL_ACT(n) struct tenc_fill n
#define TENC_DECL_STDIO(n) int n[3]

#define TENC_MEMBER_(kind, name, presence, member, json, text) TENC_DECL_##kind(name);
#define TENC_STRUCT_(TYPE, number, name, head) \
	struct gg_rec_##name { GG_FIELDS_##TYPE(TENC_MEMBER_) };
#define TENC_PROTO_(TYPE, number, name, head) \
	void tenc_rec_##name(struct tenc *e, uint64_t t, struct gg_rec_##name *r);

struct gg_rec_proc { GG_FIELDS_PROC(TENC_MEMBER_) };
struct gg_spawn_action { GG_FIELDS_SPAWN_ACTION(TENC_MEMBER_) };
GG_REC_SCHEMA(TENC_STRUCT_)
void tenc_rec_proc(struct tenc *e, uint64_t t, struct gg_rec_proc *r);
void tenc_spawn_action(struct tenc *e, const struct gg_spawn_action *a);
GG_REC_SCHEMA(TENC_PROTO_)

#undef TENC_STRUCT_
#undef TENC_PROTO_

#endif
