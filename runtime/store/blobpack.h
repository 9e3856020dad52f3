/*
 * thunkpack.h - the thunks of a graph in one file, so a build reads them without
 * one open per thunk (issue 13: fewer files per thunk; git's packs are the model).
 *
 * File: <ggdir>/thunks.pack, little endian:
 *
 *   header   "GGTPACK\0" (8 bytes), u32 THUNKPACK_VERSION, u32 count
 *   index    count x { digest (16 bytes), u64 offset, u32 len }, sorted by digest,
 *            no duplicates; offset/len: the thunk's canonical encoding in the file
 *   data     the encodings
 *   trailer  16 bytes: the XXH3-128 digest (hash_buf VALUE) of everything before it
 *
 * Verification: the header and the index (sorted, in bounds) are checked when the
 * pack is opened (a pack that does not check is not used), and every thunk read
 * from it is hashed against its name like a loose blob (store_get_buf), so a read
 * is never less verified than from blobs/, and a damaged encoding costs that thunk
 * only.  The trailer is checked by `gg cache verify` (store_verify_all), which
 * also hashes every entry and, asked to remove what is bad, writes the pack again
 * without the entries that do not verify.  The pack is only ever written
 * whole (a temporary in <ggdir>/tmp renamed into place), from blobs that were
 * verified as they were read: concurrent readers keep the file they mapped.
 * `gg infer` writes the thunks it makes into the pack only (store_defer_thunks,
 * store.h): they are never loose unless a caller needs a file (store_open,
 * store_path write one), so the store treats a packed thunk as a blob like a
 * loose one.  The builder rewrites the pack when a build read at least
 * THUNKPACK_MIN thunks that it lacks (thunks re-recorded since, loose).
 *
 * Ownership: a struct thunkpack maps the file read-only; thunkpack_free unmaps it.
 * Thread-safe for lookups.  Errors: 0 or -errno; nothing prints.
 */
#ifndef GG_THUNKPACK_H
#define GG_THUNKPACK_H

#include <stdbool.h>
#include <stddef.h>

#include "runtime/ir/hash.h"

#define THUNKPACK_VERSION 1
#define THUNKPACK_MIN 256
#define THUNKPACK_MAX_FILE (4ull << 30)

struct store;
struct thunkpack;

/* Map <ggdir>/thunks.pack: 0 and *out (NULL when there is none), -EBADMSG when it
 * does not check (header, index order or bounds), other -errno. */
int thunkpack_open(const char *ggdir, struct thunkpack **out);
void thunkpack_free(struct thunkpack *p);

/* The encoding of THUNK h in the pack, verified against h: 0 and *buf, *len (into
 * the mapping, valid until thunkpack_free), -ENOENT when the pack lacks it,
 * -EBADMSG when the bytes do not match the name. */
int thunkpack_get(const struct thunkpack *p, const struct gg_hash *h, const void **buf,
		  size_t *len);

/* Does the pack (NULL: none) hold h? */
bool thunkpack_has(const struct thunkpack *p, const struct gg_hash *h);
/* The number of thunks (0 for NULL), the hash of the i-th (i < count, in index
 * order), and whether the trailer matches the bytes before it. */
size_t thunkpack_count(const struct thunkpack *p);
void thunkpack_hash_at(const struct thunkpack *p, size_t i, struct gg_hash *h);
bool thunkpack_trailer_ok(const struct thunkpack *p);

/*
 * Write the pack of the n THUNK blobs h (duplicates and kinds other than THUNK are
 * passed over; a blob that is missing or does not verify is left out), each read
 * from st's current pack or from blobs/, and rename it into place.  The caller
 * reopens it (store_pack_reopen).  0 or -errno.
 */
int thunkpack_write(const struct store *st, const struct gg_hash *h, size_t n);

#endif
