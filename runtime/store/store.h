/*
 * store.h - the content-addressed blob store under a .gg/ directory.
 *
 * Layout (relative to the .gg directory given to store_init):
 *
 *     blobs/ab/cdef0123...        a VALUE blob: the file whose XXH3-128 digest is
 *                                 ab cdef0123... (2 + 30 lower-case hex digits)
 *     blobs/ab/cdef0123....t      a THUNK blob: a canonical thunk encoding
 *                                 (runtime/thunk.h) whose THUNK hash is abcdef...
 *     tmp/<pid>-<rand>.tmp        blobs being written
 *     thunks.pack                 THUNK blobs packed in one file (blobpack.h)
 *     packs/values-<hex>.pack     small VALUE blobs packed, one file per `gg infer`
 *                                 that stored new ones (blobpack.h)
 *
 * Invariants:
 *  - A blob is loose (a file under blobs/) or packed, or both; every function
 *    below finds either (store_defer).  A pack, like a loose blob, only ever
 *    appears by rename(2) of a complete temporary.
 *  - A name under blobs/ only ever appears by rename(2) of a complete temporary file
 *    in tmp/ (same filesystem) whose contents were hashed while they were written.
 *    A reader therefore never sees a half-written blob under a real name.
 *  - Several gg processes may write one store at once.  Two writers of the same
 *    content both rename onto the same name; the second rename atomically replaces
 *    an identical file, which readers cannot tell apart.
 *  - A writer holds an exclusive flock(2) on its temporary file for as long as it
 *    lives.  A writer killed between store_begin and store_commit leaves only its
 *    temporary, unlocked once the kernel closes its descriptors; store_gc_tmp()
 *    removes such leftovers.
 *  - Blobs are made read-only (0444).  Contents are never trusted blindly: readers
 *    that care use store_get_buf (always verifies) or store_verify_blob.
 *  - Durability is optional (STORE_FSYNC): the temporary is fsync'd before the
 *    rename and the shard directory after it.  Without it a crash can lose recent
 *    blobs (or leave one empty) but store_verify_all reports those.
 *
 * Ownership: struct store owns the path copy and a directory descriptor (O_PATH,
 * close-on-exec) for the .gg directory; everything is opened relative to it, so the
 * caller's cwd does not matter.  Functions return 0 or -errno; none prints or exits.
 * One struct store may be used by several threads at once and is inherited by forked
 * children; a struct store_writer belongs to one thread at a time.
 */
#ifndef GG_STORE_H
#define GG_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/ir/hash.h"

/* store_init flags */
#define STORE_CREATE 0x1 /* create blobs/ and tmp/ (and the .gg dir itself) if absent */
#define STORE_FSYNC 0x2  /* fsync blobs and their directory on commit */
#define STORE_LAZY_PACKS 0x4 /* map the packs without reading them in whole
				(blobpack.h BLOBPACK_POPULATE): for a process
				that reads few of their blobs (`gg infer`) */

struct blobpack;
struct store_vpacks;

struct store {
	char *dir;    /* the .gg directory, as given (owned) */
	int dirfd;    /* O_PATH descriptor of dir, or -1 */
	unsigned flags;
	struct blobpack *pack;  /* <ggdir>/thunks.pack mapped (blobpack.h), or NULL */
	struct store_vpacks *vpacks; /* the value packs mapped (packs/), or NULL */
	uint64_t shards[4];     /* blobs/ab directories known to exist (bit 0xab; atomic) */
	uint64_t tmp_seed;      /* random, for temporaries' names (with the pid, a counter) */
	struct store_pending *pending; /* blobs kept for the packs (store_defer) */
};

#define STORE_INIT { .dir = NULL, .dirfd = -1, .flags = 0, .pack = NULL, .vpacks = NULL, \
		     .tmp_seed = 0, .pending = NULL }

/*
 * Open the store in the .gg directory `ggdir`, and its packs (store_pack_reopen).
 * Without STORE_CREATE, -ENOENT if ggdir, ggdir/blobs or ggdir/tmp does not exist.  store_release closes it.
 */
int store_init(struct store *st, const char *ggdir, unsigned flags);
void store_release(struct store *st);

/*
 * A blob being written.  store_begin creates and locks the temporary; store_write
 * appends; store_commit hashes, (fsyncs,) and renames it to its name; store_abort
 * (idempotent, also safe after a failed commit) removes the temporary.  After
 * store_commit, successful or not, the writer is finished: no store_abort needed.
 * The writer owns its fd and hash state; there is no size limit.
 */
struct store_writer {
	struct store *st;
	struct hash_stream *hs; /* owned */
	int fd;                 /* the temporary, or -1 */
	uint64_t size;          /* bytes written so far */
	uint8_t kind;           /* GG_HASH_VALUE or GG_HASH_THUNK */
	char tmpname[64];       /* relative to the .gg directory: tmp/<...>.tmp */
};

#define STORE_WRITER_INIT { .st = NULL, .hs = NULL, .fd = -1, .size = 0, .kind = 0 }

int store_begin(struct store *st, enum gg_hash_kind kind, struct store_writer *w);
int store_write(struct store_writer *w, const void *buf, size_t len);
int store_commit(struct store_writer *w, struct gg_hash *out);
void store_abort(struct store_writer *w);

/*
 * Copy the file at `path` (or everything from `fd`'s offset to EOF) into the store
 * as a VALUE blob, hashing the bytes as they are copied, through a fixed 64 KiB
 * buffer.  The hash names exactly the bytes stored, even if the file changes while
 * it is read.  *size (if not NULL) gets the byte count.
 */
int store_put_file(struct store *st, const char *path, struct gg_hash *out, uint64_t *size);
int store_put_fd(struct store *st, int fd, struct gg_hash *out, uint64_t *size);

/*
 * Take the regular file at `path` into the store as a VALUE blob, writing its bytes
 * at most once.  The file is hashed first; if a blob of that hash exists nothing is
 * written.  Else, with STORE_ADOPT_MOVE (the file is the caller's to give away: an
 * output in a sandbox's staging area, which no process writes any more), the file
 * itself is renamed to its blob name (made 0444) when it is on the store's file
 * system and has no other link, after checking that the name still led to the
 * inode that was hashed; else it is cloned (FICLONE, copy-on-write file systems:
 * btrfs, XFS) into a temporary that is hashed again before it is renamed; else it
 * is copied as store_put_file does.  Without STORE_ADOPT_MOVE the file is left
 * where it is.  *out gets the hash, *size (may be NULL) the byte count; 0 or
 * -errno (-EINVAL: not a regular file).
 */
#define STORE_ADOPT_MOVE 0x1
int store_adopt_file(struct store *st, const char *path, unsigned flags, struct gg_hash *out,
		     uint64_t *size);

/*
 * Store `len` bytes as a blob of `kind` (VALUE or THUNK).  If a blob of that hash
 * already exists nothing is written.
 */
int store_put_buf(struct store *st, enum gg_hash_kind kind, const void *buf, size_t len,
		  struct gg_hash *out);

/*
 * Deferred blobs (issue 13: `gg infer` stores 10,000 thunks and as many small
 * outputs, and a file each cost it most of its time).  After store_defer, THUNK
 * blobs and VALUE blobs of at most BLOBPACK_MAX_BLOB bytes given to store_put_buf,
 * store_put_fd or store_put_file are kept in memory (up to STORE_DEFER_MAX bytes in
 * all; past that they are written loose).  store_flush writes the deferred thunks,
 * with the other thunks of `h` (the graph's: from the current pack or blobs/), into
 * a new thunks.pack, and the deferred values into one new value pack (merged with
 * the existing ones when there are more than STORE_VALUE_PACKS), and reopens the
 * packs, so none of them ever exists as a loose file.  What a pack could not take
 * is written loose instead (and the error returned when that fails too).
 * store_release writes any still deferred loose.
 *
 * A blob that is only packed (or deferred) is still a blob like any other:
 * store_has finds it, store_get_buf and store_verify_blob read the packed copy
 * (verified), and store_open and store_path first write it loose, so callers that
 * need a file (uploads, copies between stores, materializing) get one.
 * 0 or -errno.
 */
#define STORE_DEFER_MAX (256u << 20)
#define STORE_VALUE_PACKS 8
int store_defer(struct store *st);
int store_flush(struct store *st, const struct gg_hash *h, size_t n);
/*
 * The bytes of blob h (at most `max`), verified, without a copy where they are in
 * memory: the deferred blobs' or a pack's (*owned NULL; valid until the next
 * store_put_*, store_flush or store_pack_reopen: not while other threads put
 * blobs), else read from blobs/ into *owned (the caller frees it).  0 or -errno
 * (-ENOENT, -EBADMSG, -EFBIG).
 */
int store_blob_bytes(const struct store *st, const struct gg_hash *h, size_t max,
		     const void **buf, size_t *len, char **owned);
/*
 * Every packed blob's hash (the thunk pack's, then each value pack's; not
 * verified, duplicates possible): fn returns 0 to go on, anything else stops the
 * walk and is returned.
 */
typedef int store_packed_fn(void *ctx, const struct gg_hash *h);
int store_walk_packed(const struct store *st, store_packed_fn *fn, void *ctx);
/*
 * Drop from the value packs the blobs keep() refuses (`gg cache gc --blobs`): each
 * pack holding any is written again without them (and removed when none is left),
 * then the packs reopened.  With dry_run only counted.  *removed and *bytes get
 * the entries dropped and their size.  Not while another process uses the store
 * (it could be reading a pack this removes).  0 or -errno.
 */
typedef bool store_keep_fn(void *ctx, const struct gg_hash *h);
int store_repack_values(struct store *st, store_keep_fn *keep, void *ctx, bool dry_run,
			uint64_t *removed, uint64_t *bytes);
/*
 * Remove blob h from the store (one found damaged): its loose file, and its entry
 * of every value pack holding it (those packs are written again; this process
 * keeps its mappings, so other threads may go on reading them, but counts h as no
 * longer held).  0 or -errno.
 */
int store_remove(struct store *st, const struct gg_hash *h);

/* True if a blob named `h` exists (not verified). */
bool store_has(const struct store *st, const struct gg_hash *h);
/* True if blob h is deferred or in a pack (then store_blob_bytes has it without a
 * file; not verified). */
bool store_packed(const struct store *st, const struct gg_hash *h);

/*
 * The blob's path, "<ggdir>/blobs/ab/cdef...[.t]", into buf.  -ENAMETOOLONG if it does
 * not fit, -EINVAL for a hash kind that is not stored (NONE, LIST).  A blob held
 * only in a pack is written loose first (see store_defer).
 */
int store_path(const struct store *st, const struct gg_hash *h, char *buf, size_t size);

/* Open the blob read-only (O_CLOEXEC).  Returns an fd >= 0 or -errno (-ENOENT). */
int store_open(const struct store *st, const struct gg_hash *h);

/*
 * Read a whole blob of at most `max` bytes into a new buffer (caller frees *buf; one
 * NUL byte is appended past *len for convenience) and verify it against its hash.
 * -EFBIG if larger than max, -EBADMSG if the contents do not match the name.
 */
int store_get_buf(const struct store *st, const struct gg_hash *h, size_t max, char **buf,
		  size_t *len);

/*
 * Re-hash one blob and compare it with its name: 0 if it matches, -EBADMSG if not,
 * -ENOENT if absent, other -errno on read errors.
 */
int store_verify_blob(const struct store *st, const struct gg_hash *h);

struct store_stats {
	uint64_t count;     /* blobs */
	uint64_t bytes;     /* their total size (st_size) */
	uint64_t tmp_count; /* files in tmp/ (writers in progress or leftovers) */
	uint64_t tmp_bytes;
	uint64_t bad;       /* store_verify_all: corrupt, unreadable or stray entries */
	uint64_t packed;    /* store_stats: entries of the packs (not in count) */
	uint64_t packed_bytes;
};

/* Count loose blobs, packed ones and temporaries.  Entries under blobs/ that are not
 * blob names are ignored here (store_verify_all reports them). */
int store_stats(const struct store *st, struct store_stats *out);

/*
 * Walk blobs/: fn for every entry of every shard directory, with the hash its name
 * gives, or h NULL for a stray name (an entry of blobs/ that is not a shard
 * directory comes with shard = its name, name NULL).  fn returns 0 to go on or
 * -errno to stop; the walk returns that, or -errno if blobs/ cannot be read.
 */
typedef int store_walk_fn(void *ctx, int shardfd, const char *shard, const char *name,
			  const struct gg_hash *h);
int store_walk_blobs(const struct store *st, store_walk_fn *fn, void *ctx);

/*
 * Re-hash every blob (`gg cache verify`).  For each bad entry `bad` (may be NULL) is
 * called with the path relative to the .gg directory and the error: -EBADMSG
 * (contents do not match the name, or not a regular file), -EINVAL (a name under
 * blobs/ that is not a blob name), or the -errno of a failed read (such a blob is
 * never removed).  With STORE_VERIFY_REMOVE, corrupt blobs and
 * stray files are unlinked (a concurrent writer's fresh copy may be removed with
 * them: it is then simply missing and will be stored again).  out->count/bytes cover
 * good blobs, out->bad the rest.  Returns 0 if every blob was checked (even if some
 * were bad), or -errno if the walk itself failed.
 */
#define STORE_VERIFY_REMOVE 0x1
typedef void store_bad_fn(void *ctx, const char *relpath, int err);
int store_verify_all(const struct store *st, unsigned flags, store_bad_fn *bad, void *ctx,
		     struct store_stats *out);

/*
 * Keep the loose blobs under `keep` bytes (the Lambda worker's store in /tmp, which
 * later invocations of an environment reuse): when they take more, remove them
 * least recently used first until they take at most `keep`.  last_use(ctx, h) says
 * when h was last used (larger: more recent; 0: not known, removed first; ties: the
 * larger blob first).  The thunk pack is left alone.  *removed and *left (may be
 * NULL) get the count removed and the bytes that stay.  0 or -errno.
 */
typedef uint64_t store_last_use_fn(void *ctx, const struct gg_hash *h);
int store_trim(struct store *st, uint64_t keep, store_last_use_fn *last_use, void *ctx,
	       uint64_t *removed, uint64_t *left);

/*
 * Remove temporaries left by dead writers: files in tmp/ whose flock can be taken
 * (no live writer holds it) and whose mtime is at least `min_age` seconds old (a
 * writer locks its temporary right after creating it; a small min_age such as 60
 * closes that window).  *removed (if not NULL) gets the count.
 */
int store_gc_tmp(const struct store *st, unsigned min_age, uint64_t *removed);

struct thunk;
/*
 * Read the THUNK blob `h` (verified against its hash) and decode it into `out`
 * (initialised here): from the thunk pack when one is open and holds it, else from
 * blobs/.  0, or store_get_buf's and thunk_decode's errors (-ENOENT: no such blob,
 * -EBADMSG: corrupt).
 */
int store_load_thunk(const struct store *st, const struct gg_hash *h, struct thunk *out);

/*
 * (Re)open <ggdir>/thunks.pack and the value packs under <ggdir>/packs (blobpack.h);
 * no pack, or one that does not check, is not used (loose blobs serve): st->pack
 * stays NULL.  Not while other threads use st.  store_release closes them.
 * 0 or -errno.
 */
int store_pack_reopen(struct store *st);

#endif /* GG_STORE_H */
