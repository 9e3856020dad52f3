/*
 * thunk.h - the thunk IR: one replayable command, and its canonical encoding.
 *
 * A thunk names everything a command (a whole process subtree, design.md) depends
 * on: the executable, argv, environment, cwd and umask; every file it read, as a
 * content hash or as a reference to another thunk's output; every path it probed and
 * found missing (ENOENT) or below a non-directory (ENOTDIR); every directory it
 * listed; the loader and the shared objects of every binary it ran; and the paths it
 * is declared to produce.  Thunks that reference each other's outputs form the
 * graph.
 *
 * Identity.  A thunk's identity is the THUNK hash (hash.h, seed GG_HASH_SEED_THUNK)
 * of its canonical encoding below.  The encoding is canonical: every list is sorted,
 * every integer and length uses msgpack's shortest form, so the same thunk gives the
 * same bytes however it was recorded.  thunk_decode accepts exactly the canonical
 * encodings: if it succeeds, thunk_encode of the result gives back the same bytes.
 * The cache key (thunk_cache_key) is the THUNK hash of the encoding with every
 * reference replaced by the VALUE hash of the output it resolves to, so two thunks
 * whose inputs have the same contents share results however those were produced.
 *
 * Secrets.  The environment is filtered when it enters a thunk (thunk_add_env,
 * thunk_set_env): LD_PRELOAD and GG_* are always dropped; AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN and every name containing, in any case,
 * TOKEN, SECRET, PASSWORD, PASSWD, CREDENTIAL, API_KEY, APIKEY or PRIVATE_KEY are
 * dropped unless their exact name is in the caller's allow list.  Entries without
 * '=' or with an empty name are dropped; of two entries with the same name the
 * first is kept (getenv(3)'s choice).
 *
 * Encoding (format version 2).  One msgpack array of 16 elements, in this order:
 *
 *   #   field     msgpack                    contents
 *   0   magic     str                        "ggthunk" (fixstr: a7 67 67 74 68 75 6e 6b)
 *   1   version   uint                       THUNK_VERSION (2: positive fixint 02)
 *   2   exe       input                      the executable the command started with
 *   3   interp    str                        its ELF interpreter path, "" if static/none
 *   4   argv      array of str               as recorded (order kept)
 *   5   env       array of str               "NAME=VALUE", sorted, names unique
 *   6   cwd       str                        working directory
 *   7   umask     uint                       0 .. 0777
 *   8   inputs    array of input             sorted by path, paths unique
 *   9   missing   array of str               probed and not found (ENOENT); sorted,
 *                                            unique
 *   10  notdir    array of str               probed and found below a non-directory
 *                                            (ENOTDIR); sorted, unique, no path of
 *                                            missing
 *   11  listings  array of listing           sorted by path, unique
 *   12  objects   array of input             the loader and shared objects mapped by
 *                                            every binary the command ran; sorted
 *   13  outputs   array of str               declared output paths; sorted, unique
 *   14  local     uint                       enum thunk_local bits (0: none)
 *   15  pure      bool                       c3 true / c2 false; true only if local == 0
 *
 * Failed probes keep what they found, because a replay must show the command the
 * same thing: a path in `missing` does not exist (the sandbox declares it absent);
 * a path in `notdir` lies below something that is not a directory (Python started
 * as /usr/bin/meson looks for /usr/bin/gettext/__init__.py: /usr/bin/gettext is a
 * program), so the sandbox puts that non-directory in place and the kernel answers
 * ENOTDIR again; it never turns it into a directory.  A path whose lookup failed
 * with another errno (EACCES, ELOOP, ...) is neither.  Version 1 had no `notdir`
 * (15 elements; ENOTDIR probes were in `missing`): its thunks are refused like any
 * other version (-EPROTONOSUPPORT), so a store from it needs `gg infer` again.
 *
 *   input   = array(4) [path str, hash bin(17), output uint, mode uint]
 *   listing = array(2) [path str, hash bin(17)]
 *
 * A hash is bin8 of 17 bytes (c4 11): the kind letter ('V' 56, 'T' 54, 'L' 4c)
 * followed by the 16-byte XXH128 canonical digest.  An input's hash is 'V' (the
 * file's contents; output must be 0) or 'T' (a reference: the producing thunk's
 * hash, and output = the index of the path in that thunk's sorted outputs).  A
 * listing's hash is 'L' (thunk_listing_hash of the entry names).  mode is the
 * recorded st_mode (file type and permission bits), at most 0xffffffff.
 *
 * msgpack forms (the shortest is required, others are rejected):
 *   uint    00-7f positive fixint; cc u8 (>= 0x80); cd u16 (>= 0x100);
 *           ce u32 (>= 0x10000); cf u64 (>= 0x100000000)         big-endian
 *   str     a0-bf fixstr (< 32 bytes); d9 len8 (32..255); da len16 (256..65535);
 *           db len32 (>= 65536)                                    then the bytes
 *   bin     only hashes: c4 11 then the 17 bytes
 *   array   90-9f fixarray (< 16); dc n16 (16..65535); dd n32 (>= 65536)
 *   bool    c2 false, c3 true
 * Strings are raw bytes (paths need not be UTF-8) with no NUL byte.  Paths in
 * inputs, missing, notdir, listings, objects and outputs are non-empty; the exe path too.
 * "Sorted" is bytewise (memcmp / strcmp) ascending, strictly (no duplicates).  No
 * bytes may follow the array.  A decoder meeting a version it does not know refuses
 * the thunk (-EPROTONOSUPPORT); any change to this layout bumps THUNK_VERSION.
 *
 * Example: exe /bin/true ('V' + 16 zero bytes, mode 0100755), argv ["true"], no env,
 * cwd "/", umask 022, nothing else:
 *
 *   dc 00 10                    array(16)
 *   a7 67 67 74 68 75 6e 6b     "ggthunk"
 *   02                          version 2
 *   94 a9 2f 62 69 6e 2f 74 72 75 65 c4 11 56 00*16 00 cd 81 ed
 *                               exe ["/bin/true", V00.., 0, 0100755]
 *   a0                          interp ""
 *   91 a4 74 72 75 65           argv ["true"]
 *   90                          env []
 *   a1 2f                       cwd "/"
 *   12                          umask 022
 *   90 90 90 90 90 90           inputs, missing, notdir, listings, objects, outputs
 *   00                          local 0
 *   c2                          pure false
 *
 * Limits: an encoding is at most THUNK_MAX_ENCODED bytes; strings at most
 * THUNK_MAX_STR bytes; lists at most THUNK_MAX_LIST entries.  Decoding allocates
 * in proportion to the input (at most a few dozen bytes per input byte) and never
 * more than the input's own counts, each checked against the bytes left.
 *
 * Ownership: a struct thunk owns every string and array it points to; the builder
 * functions copy their arguments.  Errors: 0 or -errno (-ENOMEM; -EINVAL for bad
 * arguments or a thunk that cannot be encoded; -EBADMSG for bytes that are not a
 * canonical encoding).  Nothing here prints or exits.
 */
#ifndef GG_THUNK_H
#define GG_THUNK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/ir/hash.h"

#define THUNK_MAGIC "ggthunk"
#define THUNK_VERSION 2
#define THUNK_MAX_ENCODED (64u << 20)
#define THUNK_MAX_STR (1u << 20)
#define THUNK_MAX_LIST (1u << 20)

/* Why a thunk must run locally (bits of thunk.local). */
enum thunk_local {
	THUNK_LOCAL_STDIN = 1u << 0,                 /* read stdin */
	THUNK_LOCAL_TERMINAL = 1u << 1,              /* read or wrote a terminal */
	THUNK_LOCAL_NETWORK = 1u << 2,               /* used a network socket */
	THUNK_LOCAL_WRITES_OUTSIDE_TREE = 1u << 3,   /* wrote outside the build tree */
	THUNK_LOCAL_OPAQUE_BINARY = 1u << 4,         /* ran a static (uninterposed) binary */
	THUNK_LOCAL_URANDOM = 1u << 5,               /* read /dev/urandom or /dev/random */
	THUNK_LOCAL_OUTLIVED_DRIVER = 1u << 6,       /* still running when its driver ended */
	THUNK_LOCAL_DELETES_FOREIGN_FILES = 1u << 7, /* deleted files it did not create */
	THUNK_LOCAL_CUT_SHORT = 1u << 8,             /* a process's last records may be lost */
};
#define THUNK_LOCAL_ALL 0x1ffu

/* "stdin", "terminal", "network", "writes-outside-tree", "opaque-binary", "urandom",
 * "outlived-driver", "deletes-foreign-files", "cut-short"; NULL for anything but one
 * known bit. */
const char *thunk_local_name(unsigned bit);
/* The bit named `name`, or -EINVAL. */
int thunk_local_from_name(const char *name);

/* A file the thunk depends on (also the executable and the shared objects). */
struct thunk_input {
	char *path;          /* owned, non-empty */
	struct gg_hash hash; /* GG_HASH_VALUE: contents; GG_HASH_THUNK: producing thunk */
	uint32_t output;     /* for a reference: index in the producer's outputs; else 0 */
	uint32_t mode;       /* recorded st_mode */
	uint32_t at;         /* thunk_decode: where its hash is in the encoding; else 0 */
};

struct thunk_listing {
	char *path;          /* owned, non-empty */
	struct gg_hash hash; /* GG_HASH_LIST: thunk_listing_hash of the names */
	uint32_t at;         /* thunk_decode: where its hash is in the encoding; else 0 */
};

/* Growable arrays; each owns its elements.  n <= alloc.  A thunk_strv is not
 * NULL-terminated: thunk_strv_dup() makes an argv/envp-style copy. */
struct thunk_strv { char **v; size_t n, alloc; };
struct thunk_inputs { struct thunk_input *v; size_t n, alloc; };
struct thunk_listings { struct thunk_listing *v; size_t n, alloc; };

struct thunk {
	struct thunk_input exe;   /* path NULL and hash unset until thunk_set_exe */
	char *interp;             /* NULL = "" */
	struct thunk_strv argv;
	struct thunk_strv env;
	char *cwd;                /* NULL = "" */
	uint32_t umask;
	struct thunk_inputs inputs;
	struct thunk_strv missing;  /* probed: ENOENT */
	struct thunk_strv notdir;   /* probed: ENOTDIR (below a non-directory) */
	struct thunk_listings listings;
	struct thunk_inputs objects;
	struct thunk_strv outputs;
	uint32_t local;           /* enum thunk_local bits */
	bool pure;
	/* thunk_decode's block: a copy of the encoding (enc, enc_len bytes), then the
	 * strings (strings set later are their own allocations) */
	char *strings;
	size_t strings_len;
	const unsigned char *enc;
	size_t enc_len;
};

#define THUNK_INIT { .umask = 022 }

/* A NULL-terminated array of the strings (not copied): free() the array only.
 * NULL on ENOMEM. */
char **thunk_strv_dup(const struct thunk_strv *v);

/* Lifecycle: init to empty (umask 022), release everything (back to THUNK_INIT). */
void thunk_init(struct thunk *t);
void thunk_release(struct thunk *t);

/*
 * Builders.  Each copies its arguments.  `h` is a VALUE hash (output must be 0) or a
 * THUNK hash (a reference to output number `output` of that thunk); -EINVAL for an
 * empty path, a string with more than THUNK_MAX_STR bytes, or a bad hash kind;
 * -E2BIG past THUNK_MAX_LIST entries in one list; -ENOMEM.
 * Lists may be filled in any order; thunk_canonicalize sorts them.
 */
int thunk_set_exe(struct thunk *t, const char *path, const struct gg_hash *h,
		  uint32_t output, uint32_t mode);
int thunk_set_interp(struct thunk *t, const char *path);
int thunk_set_cwd(struct thunk *t, const char *path);
int thunk_add_arg(struct thunk *t, const char *arg);
int thunk_set_argv(struct thunk *t, char *const argv[]); /* NULL-terminated; replaces */
int thunk_add_input(struct thunk *t, const char *path, const struct gg_hash *h,
		    uint32_t output, uint32_t mode);
int thunk_add_object(struct thunk *t, const char *path, const struct gg_hash *h,
		     uint32_t output, uint32_t mode);
int thunk_add_missing(struct thunk *t, const char *path);
int thunk_add_notdir(struct thunk *t, const char *path);
int thunk_add_listing(struct thunk *t, const char *path, const struct gg_hash *h);
int thunk_add_output(struct thunk *t, const char *path);

/*
 * Environment.  thunk_add_env adds one "NAME=VALUE" entry if the filter above keeps
 * it: returns 1 if added, 0 if dropped (filtered, or a duplicate name), or -errno.
 * `allow` is a NULL-terminated list of names (may be NULL).  thunk_set_env replaces
 * the environment with the kept entries of `envp` (NULL-terminated).
 */
int thunk_add_env(struct thunk *t, const char *entry, const char *const *allow);
int thunk_set_env(struct thunk *t, char *const envp[], const char *const *allow);
/* The filter alone: would `entry` be kept? */
bool thunk_env_keep(const char *entry, const char *const *allow);
/* Is `name` (len bytes, no '=') a secret by the rules above (ignoring any allow list)? */
bool thunk_env_is_secret(const char *name, size_t len);

/*
 * The LIST hash of a directory: the names sorted bytewise, each followed by one NUL,
 * hashed with GG_HASH_SEED_LIST.  Order of `names` does not matter; "." and ".." are
 * skipped.  Returns 0 or -ENOMEM.
 */
int thunk_listing_hash(const char *const *names, size_t n, struct gg_hash *out);

/*
 * Put the thunk in canonical form in place: sort every list but argv, drop exact
 * duplicates.  -EINVAL (thunk unchanged in content, maybe reordered) if two inputs,
 * objects or listings share a path but differ, two env entries share a name, or a
 * path is both in missing and in notdir.
 * Idempotent; cheap on an already canonical thunk.
 */
int thunk_canonicalize(struct thunk *t);

/*
 * Canonicalize `t`, then encode it into a new buffer (*buf, caller frees; *len
 * bytes).  -EINVAL if the exe is unset, pure is set together with a local reason,
 * umask > 0777, a list exceeds THUNK_MAX_LIST or a local bit is unknown; -E2BIG past
 * THUNK_MAX_ENCODED.
 */
int thunk_encode(struct thunk *t, char **buf, size_t *len);

/*
 * Decode `len` bytes into `out` (initialised here; on error left released).
 * Never reads outside [buf, buf+len), whatever the bytes.  Returns 0, -EBADMSG (not
 * a canonical thunk encoding: bad magic, truncation, wrong type, non-shortest form,
 * unsorted list, NUL in a string, trailing bytes, ...), -EPROTONOSUPPORT (another
 * format version), -EINVAL (len > THUNK_MAX_ENCODED) or -ENOMEM.
 */
int thunk_decode(const void *buf, size_t len, struct thunk *out);

/* The thunk's identity: canonicalize, encode, hash as GG_HASH_THUNK. */
int thunk_hash(struct thunk *t, struct gg_hash *out);

/*
 * The cache key: like thunk_hash, but every reference (exe, input or object whose
 * hash is a THUNK hash) is first replaced by the VALUE hash `resolve` gives for it
 * (output 0).  resolve returns 0, or -errno which is passed back.  A thunk without
 * references has cache key == thunk hash.
 */
typedef int thunk_resolve_fn(void *ctx, const struct gg_hash *producer, uint32_t output,
			     struct gg_hash *value);
int thunk_cache_key(struct thunk *t, thunk_resolve_fn *resolve, void *ctx,
		    struct gg_hash *out);

/*
 * thunk_cache_key(cur) for a `cur` that is `th` (as thunk_decode made it, not changed
 * since) but for the hashes and modes of its executable, inputs, objects and
 * listings: a copy of the arrays of th (same elements, same path pointers) with
 * those fields rewritten.  The key comes from th's encoding with the new fields
 * patched in, the same bytes thunk_cache_key would encode, without encoding again;
 * when a patch would change a field's length (a mode or output needing another
 * msgpack form) or cur is not such a copy, it is thunk_cache_key(cur).
 */
int thunk_cache_key_like(struct thunk *cur, const struct thunk *th, thunk_resolve_fn *resolve,
			 void *ctx, struct gg_hash *out);

/* Field-by-field equality; lists compare in order (canonicalize both first). */
bool thunk_equal(const struct thunk *a, const struct thunk *b);

#endif /* GG_THUNK_H */
