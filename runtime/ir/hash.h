/*
 * hash.h - gg's content hashes: XXH3-128 with a kind tag.
 *
 * Every hash gg stores or prints says what it is the hash of:
 *
 *     GG_HASH_VALUE  'V'  the bytes of a file (a blob in the store)
 *     GG_HASH_THUNK  'T'  the canonical encoding of a thunk (runtime/thunk.h)
 *     GG_HASH_LIST   'L'  the sorted entry names of a directory (thunk listings)
 *
 * The kind is part of the value (struct gg_hash.kind) and of the printed form, which
 * is the kind letter followed by the 32 lower-case hex digits of the digest in
 * XXH128's canonical (big-endian) byte order:
 *
 *     V99aa06d3014798d86001c324468d497f      (the empty file)
 *
 * Kinds are also separated in the digest itself: each kind hashes with its own
 * XXH3 seed (GG_HASH_SEED_*), so a thunk encoding that happens to equal some file's
 * bytes gets a different 128-bit digest as a thunk than as a value.  Value hashes use
 * seed 0, so a 'V' digest is what `xxhsum -H2` prints for the same file.
 *
 * XXH3-128 is fast and well distributed but not collision-resistant against an
 * adversary: whoever can write the store is trusted (design.md, Execution).
 *
 * Errors come back as -errno; nothing here prints, exits or keeps global state.
 * The streaming API allocates one state (XXH3 needs 64-byte alignment and ~600
 * bytes); hash_fd and hash_file read through a fixed 64 KiB buffer on the stack and
 * never load a file whole.
 */
#ifndef GG_HASH_H
#define GG_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum gg_hash_kind {
	GG_HASH_NONE = 0,    /* unset: struct gg_hash zero-initialised */
	GG_HASH_VALUE = 'V', /* file contents */
	GG_HASH_THUNK = 'T', /* canonical thunk encoding */
	GG_HASH_LIST = 'L',  /* directory listing (sorted names) */
};

#define GG_HASH_SEED_VALUE 0ULL
#define GG_HASH_SEED_THUNK 0x676754484e4b3031ULL /* "ggTHNK01" */
#define GG_HASH_SEED_LIST 0x67674c4953543031ULL  /* "ggLIST01" */

#define GG_HASH_LEN 16                       /* digest bytes */
#define GG_HASH_HEX_LEN (1 + 2 * GG_HASH_LEN) /* printed form, without NUL: 33 */
#define GG_HASH_HEX_SIZE (GG_HASH_HEX_LEN + 1)

struct gg_hash {
	uint8_t kind;              /* enum gg_hash_kind */
	uint8_t bytes[GG_HASH_LEN]; /* XXH128 canonical (big-endian) digest */
};

#define GG_HASH_INIT { .kind = GG_HASH_NONE }

/* True for the three kinds above; false for GG_HASH_NONE and anything else. */
bool hash_kind_valid(int kind);

/* Hash `len` bytes of `buf` as `kind` (VALUE, THUNK or LIST).  -EINVAL on a bad kind. */
int hash_buf(enum gg_hash_kind kind, const void *buf, size_t len, struct gg_hash *out);

/*
 * Hash everything readable from `fd` from its current offset to EOF as a VALUE,
 * through a fixed buffer.  EINTR is retried.  On success *size (if not NULL) is the
 * number of bytes hashed.  Returns 0, -errno from read(2), or -ENOMEM (the state).
 */
int hash_fd(int fd, struct gg_hash *out, uint64_t *size);
/* The same as any kind (a stored blob is checked as what it is). */
int hash_fd_as(int fd, enum gg_hash_kind kind, struct gg_hash *out, uint64_t *size);

/* Open `path` (following symlinks) and hash_fd() it.  Returns 0 or -errno. */
int hash_file(const char *path, struct gg_hash *out, uint64_t *size);

/* Equality and a total order (kind first, then digest bytes). */
bool hash_equal(const struct gg_hash *a, const struct gg_hash *b);
int hash_cmp(const struct gg_hash *a, const struct gg_hash *b);
/* True unless kind is GG_HASH_NONE. */
bool hash_is_set(const struct gg_hash *h);

/* 64 bits of a digest mixed with its kind: the key of a hash table (htab.h). */
uint64_t hash_key64(const struct gg_hash *h);

/*
 * The printed form into `buf` (GG_HASH_HEX_SIZE bytes, NUL-terminated); returns buf.
 * An unset or invalid hash prints as "?" followed by the hex digits.
 */
char *hash_to_hex(const struct gg_hash *h, char buf[GG_HASH_HEX_SIZE]);

/*
 * Parse exactly `len` characters of `s` (the printed form: kind letter + 32 hex
 * digits, either case).  Returns 0, or -EINVAL (wrong length, unknown kind, non-hex
 * digit).  hash_from_hex_str() takes a NUL-terminated string.
 */
int hash_from_hex(const char *s, size_t len, struct gg_hash *out);
int hash_from_hex_str(const char *s, struct gg_hash *out);

/* Lower-case hex of the 16 digest bytes only (32 digits + NUL), as used in blob names. */
char *hash_digest_hex(const struct gg_hash *h, char buf[2 * GG_HASH_LEN + 1]);

/*
 * Streaming: hash_stream_new(kind) -> update* -> final (may be called more than once,
 * the stream continues) -> free.  new returns NULL on ENOMEM or a bad kind.
 */
struct hash_stream;
struct hash_stream *hash_stream_new(enum gg_hash_kind kind);
void hash_stream_update(struct hash_stream *s, const void *buf, size_t len);
void hash_stream_final(const struct hash_stream *s, struct gg_hash *out);
void hash_stream_free(struct hash_stream *s);

#endif /* GG_HASH_H */
