/*
 * blobpack.h - many blobs of one kind in one file, so that a build reads them, and
 * `gg infer` writes them, without one file each (issue 13: fewer files per thunk;
 * git's packs are the model).
 *
 * Two kinds of pack live in a .gg directory:
 *
 *   <ggdir>/thunks.pack               THUNK blobs: the thunks of the graph (one file,
 *                                     written whole again when the graph changes)
 *   <ggdir>/packs/values-<16 hex>.pack  small VALUE blobs `gg infer` stored (sources
 *                                     and outputs up to BLOBPACK_MAX_BLOB bytes), one
 *                                     pack per infer that stored new ones; the name is
 *                                     the first 16 hex digits of the pack's trailer
 *
 * File format, little endian:
 *
 *   header   magic (8 bytes: "GGTPACK\0" for thunks, "GGVPACK\0" for values),
 *            u32 BLOBPACK_VERSION, u32 count
 *   index    count x { digest (16 bytes), u64 offset, u32 len }, sorted by digest,
 *            no duplicates; offset/len: the blob's bytes in the file
 *   data     the blobs' bytes
 *   trailer  16 bytes: the XXH3-128 digest (hash_buf VALUE) of everything before it
 *
 * Verification: the header and the index (sorted, in bounds) are checked when the
 * pack is opened (a pack that does not check is not used), and every blob read
 * from it is hashed against its name like a loose blob (store_get_buf), so a read
 * is never less verified than from blobs/, and a damaged entry costs that blob
 * only.  The trailer is checked by `gg cache verify` (store_verify_all), which
 * also hashes every entry and, asked to remove what is bad, writes the pack again
 * without the entries that do not verify.  A pack is only ever written whole (a
 * temporary in <ggdir>/tmp renamed into place), from blobs that were verified as
 * they were read: concurrent readers keep the file they mapped.
 *
 * `gg infer` writes the thunks and small values it makes into packs only
 * (store_defer, store.h): they are never loose unless a caller needs a file
 * (store_open, store_path write one), so the store treats a packed blob as a blob
 * like a loose one.  The builder rewrites the thunk pack when a build read at
 * least BLOBPACK_MIN thunks that it lacks (thunks re-recorded since, loose).  When
 * more than STORE_VALUE_PACKS value packs exist, the next flush merges them all into
 * one (store.c).
 *
 * Ownership: a struct blobpack maps the file read-only; blobpack_free unmaps it.
 * Thread-safe for lookups.  Errors: 0 or -errno; nothing prints.
 */
#ifndef GG_BLOBPACK_H
#define GG_BLOBPACK_H

#include <stdbool.h>
#include <stddef.h>

#include "runtime/ir/hash.h"

#define BLOBPACK_VERSION 1
#define BLOBPACK_MIN 256
#define BLOBPACK_MAX_FILE (4ull << 30)
#define BLOBPACK_MAX_BLOB (64u << 10) /* a VALUE larger than this stays a file */
#define BLOBPACK_DIR "packs"          /* under the .gg directory: the value packs */

struct store;
struct blobpack;

/* Map the pack file `path` holding blobs of `kind`: 0 and *out (NULL when there is
 * no such file), -EBADMSG when it does not check (magic, header, index order or
 * bounds), other -errno.  With BLOBPACK_POPULATE the whole file is read in at once
 * (a build reads most of the thunk pack: one fault instead of one per 64 KiB);
 * else only the header and index are (value packs; `gg infer`, which only asks
 * what the packs hold). */
#define BLOBPACK_POPULATE 0x1
int blobpack_open(const char *path, enum gg_hash_kind kind, unsigned flags,
		  struct blobpack **out);
void blobpack_free(struct blobpack *p);

/* The bytes of blob h in the pack, verified against h: 0 and *buf, *len (into the
 * mapping, valid until blobpack_free), -ENOENT when the pack lacks it, -EBADMSG when
 * the bytes do not match the name. */
int blobpack_get(const struct blobpack *p, const struct gg_hash *h, const void **buf,
		 size_t *len);

/* Does the pack (NULL: none) hold h? */
bool blobpack_has(const struct blobpack *p, const struct gg_hash *h);
/* The number of blobs (0 for NULL), the hash of the i-th (i < count, in index
 * order), and whether the trailer matches the bytes before it. */
size_t blobpack_count(const struct blobpack *p);
void blobpack_hash_at(const struct blobpack *p, size_t i, struct gg_hash *h);
size_t blobpack_len_at(const struct blobpack *p, size_t i);
bool blobpack_trailer_ok(const struct blobpack *p);

/*
 * Write a pack of the blobs of `kind` among the n hashes h (duplicates and other
 * kinds are passed over; a blob that is missing, does not verify or would make
 * the file too large is left out), each read from what st holds (deferred, packed
 * or loose: store_blob_bytes), and rename it into place: thunks.pack for THUNK,
 * packs/values-<16 hex>.pack for VALUE.  The path written goes to `written` (may be
 * NULL).  The caller reopens the store's packs (store_pack_reopen).  0 or -errno.
 */
int blobpack_write(const struct store *st, enum gg_hash_kind kind, const struct gg_hash *h,
		   size_t n, char *written, size_t size);

#endif
