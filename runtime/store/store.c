/*
 * store.c - the content-addressed blob store (see store.h for layout and invariants).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "runtime/store/store.h"
#include "runtime/store/blobpack.h"
#include "runtime/lib/htab.h"
#include "runtime/lib/util.h"
#include "runtime/ir/thunk.h"

#define STORE_COPY_BUF (64 * 1024)
#define STORE_TMP_TRIES 32
#define THUNK_SUFFIX ".t"
/* "blobs/ab/" + 30 hex + ".t" + NUL */
#define BLOB_REL_SIZE 48

static bool stored_kind(int kind)
{
	return kind == GG_HASH_VALUE || kind == GG_HASH_THUNK;
}

/* "blobs/ab/cdef...[.t]" relative to the .gg directory. */
static int blob_relpath(const struct gg_hash *h, char buf[BLOB_REL_SIZE])
{
	char hex[2 * GG_HASH_LEN + 1];

	if (!stored_kind(h->kind))
		return -EINVAL;
	hash_digest_hex(h, hex);
	snprintf(buf, BLOB_REL_SIZE, "blobs/%.2s/%s%s", hex, hex + 2,
		 h->kind == GG_HASH_THUNK ? THUNK_SUFFIX : "");
	return 0;
}

/*
 * Parse a blob's name inside shard `shard` ("ab") back into its hash: 30 lower-case
 * hex digits, optionally followed by ".t".  Returns false for anything else.
 */
static bool blob_parse_name(const char *shard, const char *name, struct gg_hash *out)
{
	char text[GG_HASH_HEX_LEN + 1];
	size_t n = strlen(name);
	uint8_t kind = GG_HASH_VALUE;

	if (n == 30 + strlen(THUNK_SUFFIX) && strcmp(name + 30, THUNK_SUFFIX) == 0) {
		kind = GG_HASH_THUNK;
		n = 30;
	}
	if (n != 30 || strlen(shard) != 2)
		return false;
	for (size_t i = 0; i < 30; i++)
		if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
			return false;
	for (size_t i = 0; i < 2; i++)
		if (!((shard[i] >= '0' && shard[i] <= '9') || (shard[i] >= 'a' && shard[i] <= 'f')))
			return false;
	text[0] = (char)kind;
	memcpy(text + 1, shard, 2);
	memcpy(text + 3, name, 30);
	text[GG_HASH_HEX_LEN] = '\0';
	return hash_from_hex(text, GG_HASH_HEX_LEN, out) == 0;
}

static int mkdirat_ok(int dirfd, const char *name)
{
	if (mkdirat(dirfd, name, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int hexval(char c)
{
	return c <= '9' ? c - '0' : c - 'a' + 10;
}

static unsigned shard_of(const char *rel)
{
	return (unsigned)(hexval(rel[6]) << 4 | hexval(rel[7]));
}

static void shard_forget(struct store *st, const char *rel)
{
	unsigned b = shard_of(rel);
	__atomic_fetch_and(&st->shards[b >> 6], ~(1ull << (b & 63)), __ATOMIC_RELAXED);
}

/* Make the shard directory of blob path `rel` ("blobs/ab/..."), once per store (a
 * blob of each shard saves one mkdir per blob: 20,000 in a big `gg infer`). */
static int shard_make(struct store *st, char *rel)
{
	unsigned b = shard_of(rel);
	uint64_t bit = 1ull << (b & 63);
	int ret;

	if (__atomic_load_n(&st->shards[b >> 6], __ATOMIC_RELAXED) & bit)
		return 0;
	rel[8] = '\0'; /* "blobs/ab" */
	ret = mkdirat_ok(st->dirfd, rel);
	rel[8] = '/';
	if (ret == 0)
		__atomic_fetch_or(&st->shards[b >> 6], bit, __ATOMIC_RELAXED);
	return ret;
}

static uint64_t tmp_random(void)
{
	static unsigned counter;
	uint64_t r;
	struct timespec ts;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) == (ssize_t)sizeof(r))
		return r;
	/* No entropy yet (early boot): time and a counter still make names unique
	 * together with the pid, and O_EXCL catches the rest. */
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ULL ^ (uint64_t)ts.tv_sec ^
	       __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
}

/* A temporary's name suffix: the store's random seed plus a counter (one getrandom
 * per store, not per blob); the pid beside it tells forked children apart. */
static uint64_t tmp_next(struct store *st)
{
	return __atomic_add_fetch(&st->tmp_seed, 0x9e3779b97f4a7c15ULL, __ATOMIC_RELAXED);
}

int store_init(struct store *st, const char *ggdir, unsigned flags)
{
	struct stat sb;
	int ret;

	*st = (struct store)STORE_INIT;
	st->flags = flags;
	if (flags & STORE_CREATE) {
		if (mkdir(ggdir, 0755) < 0 && errno != EEXIST)
			return -errno;
	}
	st->tmp_seed = tmp_random();
	st->dirfd = open(ggdir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (st->dirfd < 0)
		return -errno;
	st->dir = strdup(ggdir);
	if (!st->dir) {
		ret = -ENOMEM;
		goto out_release;
	}
	if (flags & STORE_CREATE) {
		if ((ret = mkdirat_ok(st->dirfd, "blobs")) < 0 ||
		    (ret = mkdirat_ok(st->dirfd, "tmp")) < 0)
			goto out_release;
	}
	if (fstatat(st->dirfd, "blobs", &sb, 0) < 0 || fstatat(st->dirfd, "tmp", &sb, 0) < 0) {
		ret = -errno;
		goto out_release;
	}
	/* the thunks and small values `gg infer` made are there only (store_defer) */
	if ((ret = store_pack_reopen(st)) < 0 && ret != -ENOENT)
		goto out_release;
	return 0;

out_release:
	store_release(st);
	return ret;
}

static void pending_free(struct store_pending *p);
static int pending_write_loose(struct store *st);
static void vpacks_free(struct store_vpacks *v);
static int pack_reopen(struct store *st, bool populate);

void store_release(struct store *st)
{
	if (st->pending) {
		(void)pending_write_loose(st); /* never flushed: nothing may be lost */
		pending_free(st->pending);
	}
	blobpack_free(st->pack);
	vpacks_free(st->vpacks);
	if (st->dirfd >= 0)
		close(st->dirfd);
	free(st->dir);
	*st = (struct store)STORE_INIT;
}

int store_begin(struct store *st, enum gg_hash_kind kind, struct store_writer *w)
{
	int ret, fd = -1;

	*w = (struct store_writer)STORE_WRITER_INIT;
	if (!stored_kind(kind))
		return -EINVAL;
	w->hs = hash_stream_new(kind);
	if (!w->hs)
		return -ENOMEM;
	for (int i = 0; i < STORE_TMP_TRIES; i++) {
		snprintf(w->tmpname, sizeof(w->tmpname), "tmp/%ld-%016" PRIx64 ".tmp",
			 (long)getpid(), i ? tmp_random() : tmp_next(st));
		fd = openat(st->dirfd, w->tmpname, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0 || errno != EEXIST)
			break;
	}
	if (fd < 0) {
		ret = -errno;
		goto out_free_hash;
	}
	/* Held until commit or death: store_gc_tmp never removes a locked temporary. */
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			ret = -errno;
			goto out_unlink;
		}
	}
	w->st = st;
	w->fd = fd;
	w->kind = (uint8_t)kind;
	return 0;

out_unlink:
	unlinkat(st->dirfd, w->tmpname, 0);
	close(fd);
out_free_hash:
	hash_stream_free(w->hs);
	*w = (struct store_writer)STORE_WRITER_INIT;
	return ret;
}

int store_write(struct store_writer *w, const void *buf, size_t len)
{
	const char *p = buf;
	size_t left = len;

	if (w->fd < 0)
		return -EBADF;
	while (left > 0) {
		ssize_t n = write(w->fd, p, left);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		left -= (size_t)n;
	}
	hash_stream_update(w->hs, buf, len);
	w->size += len;
	return 0;
}

void store_abort(struct store_writer *w)
{
	if (w->fd >= 0) {
		unlinkat(w->st->dirfd, w->tmpname, 0);
		close(w->fd);
	}
	hash_stream_free(w->hs);
	*w = (struct store_writer)STORE_WRITER_INIT;
}

static int fsync_dir(int dirfd, const char *rel)
{
	int fd, ret = 0;

	fd = openat(dirfd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/* Rename the writer's temporary to the name of h (whose bytes it holds) and finish it. */
static int commit_as(struct store_writer *w, const struct gg_hash *hh, struct gg_hash *out)
{
	struct gg_hash h = *hh;
	char rel[BLOB_REL_SIZE];
	int ret;

	blob_relpath(&h, rel);
	if ((w->st->flags & STORE_FSYNC) && fsync(w->fd) < 0) {
		ret = -errno;
		goto out_abort;
	}
	if (fchmod(w->fd, 0444) < 0) {
		ret = -errno;
		goto out_abort;
	}
	/* Atomic; replacing an existing blob of the same name replaces identical bytes.
	 * ENOENT: the shard directory went away since it was made: make it again. */
	for (int again = 1;; again--) {
		if ((ret = shard_make(w->st, rel)) < 0)
			goto out_abort;
		if (renameat(w->st->dirfd, w->tmpname, w->st->dirfd, rel) == 0)
			break;
		ret = -errno;
		if (ret != -ENOENT || !again)
			goto out_abort;
		shard_forget(w->st, rel);
	}
	if (w->st->flags & STORE_FSYNC) {
		rel[8] = '\0';
		ret = fsync_dir(w->st->dirfd, rel);
		if (ret < 0)
			goto out_abort; /* the blob is in place but maybe not durable */
	}
	close(w->fd); /* drops the lock */
	w->fd = -1;
	hash_stream_free(w->hs);
	*w = (struct store_writer)STORE_WRITER_INIT;
	*out = h;
	return 0;

out_abort:
	store_abort(w);
	return ret;
}

int store_commit(struct store_writer *w, struct gg_hash *out)
{
	struct gg_hash h;

	if (w->fd < 0)
		return -EBADF;
	hash_stream_final(w->hs, &h);
	return commit_as(w, &h, out);
}

static int writer_chunk(void *ctx, const void *p, size_t n)
{
	return store_write(ctx, p, n);
}

static int defer_fd(struct store *st, int fd, struct gg_hash *out, uint64_t *size,
		    struct store_writer *w);

int store_put_fd(struct store *st, int fd, struct gg_hash *out, uint64_t *size)
{
	struct store_writer w;
	char buf[STORE_COPY_BUF];
	int ret;

	if (st->pending && (ret = defer_fd(st, fd, out, size, &w)) != -EFBIG)
		return ret; /* deferred, or an error; -EFBIG: w holds what was read */
	if (!st->pending && (ret = store_begin(st, GG_HASH_VALUE, &w)) < 0)
		return ret;
	if ((ret = fd_read_each(fd, buf, sizeof(buf), writer_chunk, &w)) < 0)
		goto out_abort;
	if (size)
		*size = w.size;
	return store_commit(&w, out);

out_abort:
	store_abort(&w);
	return ret;
}

int store_put_file(struct store *st, const char *path, struct gg_hash *out, uint64_t *size)
{
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	ret = store_put_fd(st, fd, out, size);
	close(fd);
	return ret;
}

/*
 * store_adopt_file's move: rename `path` (open as fd, hashed as h) to h's name.  0,
 * or -errno when it cannot be moved (then it is where it was, or its blob name was
 * removed again: the caller copies from fd).
 */
static int adopt_move(struct store *st, const char *path, int fd, const struct stat *sb,
		      const struct gg_hash *h)
{
	char rel[BLOB_REL_SIZE];
	struct stat now;
	int ret;

	if (sb->st_nlink != 1)
		return -EMLINK; /* another name could still change the blob's bytes */
	blob_relpath(h, rel);
	if (((st->flags & STORE_FSYNC) && fsync(fd) < 0) || fchmod(fd, 0444) < 0)
		return -errno;
	if ((ret = shard_make(st, rel)) < 0)
		return ret;
	if (renameat(AT_FDCWD, path, st->dirfd, rel) < 0)
		return -errno; /* EXDEV: another file system */
	/* The name must have led to the inode hashed: else the blob is not h. */
	if (fstatat(st->dirfd, rel, &now, AT_SYMLINK_NOFOLLOW) < 0 || now.st_ino != sb->st_ino ||
	    now.st_dev != sb->st_dev) {
		unlinkat(st->dirfd, rel, 0);
		return -ESTALE;
	}
	if (st->flags & STORE_FSYNC) {
		rel[8] = '\0';
		return fsync_dir(st->dirfd, rel);
	}
	return 0;
}

/* store_adopt_file's clone: FICLONE fd into a temporary, hash it again, name it h. */
static int adopt_clone(struct store *st, int fd, const struct gg_hash *h)
{
	struct store_writer w;
	struct gg_hash got;
	int ret;

	if ((ret = store_begin(st, GG_HASH_VALUE, &w)) < 0)
		return ret;
	if (ioctl(w.fd, FICLONE, fd) < 0) {
		ret = -errno; /* EOPNOTSUPP (ext4, tmpfs), EXDEV, EINVAL */
		goto out_abort;
	}
	if ((ret = hash_fd_as(w.fd, GG_HASH_VALUE, &got, NULL)) < 0)
		goto out_abort;
	if (!hash_equal(&got, h)) {
		ret = -ESTALE; /* changed since it was hashed */
		goto out_abort;
	}
	return commit_as(&w, h, &got);
out_abort:
	store_abort(&w);
	return ret;
}

/* Can the file (fd, sb) be renamed (same file system) or cloned (and btrfs or XFS) into st? */
static void adopt_ways(const struct store *st, int fd, const struct stat *sb, bool *move,
		       bool *clone)
{
	struct stat blobs;
	struct statfs fs;

	*move = *clone = false;
	if (fstatat(st->dirfd, "blobs", &blobs, 0) < 0 || blobs.st_dev != sb->st_dev)
		return;
	*move = true;
	*clone = fstatfs(fd, &fs) == 0 &&
		 (fs.f_type == BTRFS_SUPER_MAGIC || fs.f_type == XFS_SUPER_MAGIC);
}

int store_adopt_file(struct store *st, const char *path, unsigned flags, struct gg_hash *out,
		     uint64_t *size)
{
	struct gg_hash h;
	struct stat sb;
	bool move, clone;
	uint64_t n;
	int fd, ret;

	if ((fd = open_regular(path, O_NOCTTY | O_NOFOLLOW, &sb)) < 0)
		return fd;
	if ((ret = hash_fd_as(fd, GG_HASH_VALUE, &h, &n)) < 0)
		goto out_close;
	adopt_ways(st, fd, &sb, &move, &clone);
	if (store_has(st, &h) ||
	    (move && (flags & STORE_ADOPT_MOVE) && adopt_move(st, path, fd, &sb, &h) == 0) ||
	    (clone && adopt_clone(st, fd, &h) == 0)) {
		*out = h;
		if (size)
			*size = n;
		ret = 0;
		goto out_close;
	}
	/* a plain copy, hashed again as it is written */
	if (lseek(fd, 0, SEEK_SET) < 0) {
		ret = -errno;
		goto out_close;
	}
	ret = store_put_fd(st, fd, out, size);
out_close:
	close(fd);
	return ret;
}

/* ---- deferred blobs and packs ------------------------------------------------------- */

struct pending_ent {
	struct gg_hash h;
	size_t off, len; /* in data */
};

struct store_pending {
	pthread_mutex_t lock;
	struct sbuf data;        /* the blobs' bytes, one after the other */
	struct pending_ent *v;
	size_t n, cap;
	struct htab ix;          /* hash_key64 -> index into v */
};

/*
 * The value packs under packs/, mapped: several, read in turn (any order will do).
 * A blob whose packed copy was found damaged is remembered as bad: the store then
 * no longer counts it as held (store_has), so the next copy of those bytes is
 * stored loose, and that copy serves from then on (loose copies are read first).
 */
struct store_vpacks {
	struct blobpack **p;
	char **path;
	size_t n;
	pthread_mutex_t lock; /* for bad */
	struct gg_hash *bad;
	size_t nbad;
};

static void vpacks_free(struct store_vpacks *v)
{
	if (!v)
		return;
	pthread_mutex_destroy(&v->lock);
	free(v->bad);
	for (size_t i = 0; i < v->n; i++) {
		blobpack_free(v->p[i]);
		free(v->path[i]);
	}
	free(v->p);
	free(v->path);
	free(v);
}

static bool pending_eq(const void *ctx, uint32_t val, const void *key)
{
	const struct store_pending *p = ctx;
	return hash_equal(&p->v[val].h, key);
}

static void pending_free(struct store_pending *p)
{
	pthread_mutex_destroy(&p->lock);
	sbuf_release(&p->data);
	htab_release(&p->ix);
	free(p->v);
	free(p);
}

int store_defer(struct store *st)
{
	if (st->pending)
		return 0;
	if (!(st->pending = calloc(1, sizeof(*st->pending))))
		return -ENOMEM;
	pthread_mutex_init(&st->pending->lock, NULL);
	sbuf_init(&st->pending->data, 0);
	return 0;
}

/* Copy of deferred blob h (malloc'd, NUL past *len) into *buf: 0, or -ENOENT. */
static int pending_get(const struct store *st, const struct gg_hash *h, char **buf, size_t *len)
{
	struct store_pending *p = st->pending;
	uint32_t i;
	int ret = -ENOENT;

	if (!p)
		return -ENOENT;
	pthread_mutex_lock(&p->lock);
	if ((i = htab_find(&p->ix, hash_key64(h), pending_eq, p, h)) != HTAB_NONE) {
		if (!(*buf = malloc(p->v[i].len + 1))) {
			ret = -ENOMEM;
		} else {
			memcpy(*buf, p->data.buf + p->v[i].off, p->v[i].len);
			(*buf)[p->v[i].len] = '\0';
			*len = p->v[i].len;
			ret = 0;
		}
	}
	pthread_mutex_unlock(&p->lock);
	return ret;
}

static bool vpacks_bad(struct store_vpacks *v, const struct gg_hash *h, bool mark)
{
	bool found = false;

	pthread_mutex_lock(&v->lock);
	for (size_t i = 0; i < v->nbad && !found; i++)
		found = hash_equal(&v->bad[i], h);
	if (!found && mark) {
		struct gg_hash *b = realloc(v->bad, (v->nbad + 1) * sizeof(*b));
		if (b) { /* (else only forgotten: the copy is still verified at every read) */
			v->bad = b;
			v->bad[v->nbad] = *h;
			__atomic_store_n(&v->nbad, v->nbad + 1, __ATOMIC_RELEASE);
		}
	}
	pthread_mutex_unlock(&v->lock);
	return found;
}

/* The packed copy of h, verified: 0, -ENOENT (in no pack), -EBADMSG (every copy bad). */
static int packed_get(const struct store *st, const struct gg_hash *h, const void **buf,
		      size_t *len)
{
	int ret = -ENOENT;

	if (h->kind == GG_HASH_THUNK)
		return st->pack ? blobpack_get(st->pack, h, buf, len) : -ENOENT;
	for (size_t i = 0; st->vpacks && i < st->vpacks->n && ret != 0; i++) {
		int r = blobpack_get(st->vpacks->p[i], h, buf, len);
		if (r != -ENOENT)
			ret = r; /* (a bad copy: another pack may hold a good one) */
	}
	if (ret == -EBADMSG)
		vpacks_bad(st->vpacks, h, true);
	return ret;
}

static bool packed_has(const struct store *st, const struct gg_hash *h)
{
	if (h->kind == GG_HASH_THUNK)
		return st->pack && blobpack_has(st->pack, h);
	for (size_t i = 0; st->vpacks && i < st->vpacks->n; i++)
		if (blobpack_has(st->vpacks->p[i], h))
			return !__atomic_load_n(&st->vpacks->nbad, __ATOMIC_ACQUIRE) ||
			       !vpacks_bad(st->vpacks, h, false);
	return false;
}

int store_walk_packed(const struct store *st, store_packed_fn *fn, void *ctx)
{
	size_t np = st->vpacks ? st->vpacks->n : 0;
	int ret;

	for (size_t k = 0; k <= np; k++) {
		const struct blobpack *p = k ? st->vpacks->p[k - 1] : st->pack;
		for (size_t i = 0; i < blobpack_count(p); i++) {
			struct gg_hash h;
			blobpack_hash_at(p, i, &h);
			if ((ret = fn(ctx, &h)) != 0)
				return ret;
		}
	}
	return 0;
}

/* store_repack_values, and without reopening the packs (the old mappings stay: other
 * threads may be reading them). */
static int repack_values(struct store *st, store_keep_fn *keep, void *ctx, bool dry_run,
			 uint64_t *removed, uint64_t *bytes)
{
	struct store_vpacks *vp = st->vpacks;
	struct gg_hash *kept = NULL;
	size_t cap = 0;
	int ret = 0;

	*removed = *bytes = 0;
	for (size_t k = 0; vp && k < vp->n && ret == 0; k++) {
		const struct blobpack *p = vp->p[k];
		size_t n = blobpack_count(p), m = 0;
		char written[PATH_MAX];
		if (n > cap) {
			struct gg_hash *v = realloc(kept, n * sizeof(*v));
			if (!v) {
				ret = -ENOMEM;
				break;
			}
			kept = v;
			cap = n;
		}
		for (size_t i = 0; i < n; i++) {
			blobpack_hash_at(p, i, &kept[m]);
			if (keep(ctx, &kept[m])) {
				m++;
			} else {
				(*removed)++;
				*bytes += blobpack_len_at(p, i);
			}
		}
		if (m == n || dry_run)
			continue;
		written[0] = '\0';
		if (m && (ret = blobpack_write(st, GG_HASH_VALUE, kept, m, written, sizeof(written))) < 0)
			break;
		if (strcmp(written, vp->path[k]) != 0 && unlink(vp->path[k]) < 0 && errno != ENOENT)
			ret = -errno;
		if (m) { /* (the mapping holds what the new file holds, and more) */
			char *copy = strdup(written);
			if (copy) {
				free(vp->path[k]);
				vp->path[k] = copy;
			}
		}
	}
	free(kept);
	return ret;
}

int store_repack_values(struct store *st, store_keep_fn *keep, void *ctx, bool dry_run,
			uint64_t *removed, uint64_t *bytes)
{
	int ret = repack_values(st, keep, ctx, dry_run, removed, bytes), r;

	if (!dry_run && (r = store_pack_reopen(st)) < 0 && !ret)
		ret = r;
	return ret;
}

static bool keep_other(void *ctx, const struct gg_hash *h)
{
	return !hash_equal(ctx, h);
}

int store_remove(struct store *st, const struct gg_hash *h)
{
	char rel[BLOB_REL_SIZE];
	uint64_t n, bytes;
	int ret = 0, r;

	if (blob_relpath(h, rel) < 0)
		return -EINVAL;
	if (unlinkat(st->dirfd, rel, 0) < 0 && errno != ENOENT)
		ret = -errno;
	if (h->kind == GG_HASH_VALUE && st->vpacks) {
		vpacks_bad(st->vpacks, h, true); /* (no longer held, for this process too) */
		if ((r = repack_values(st, keep_other, (void *)h, false, &n, &bytes)) < 0 && !ret)
			ret = r;
	}
	return ret;
}

int store_blob_bytes(const struct store *st, const struct gg_hash *h, size_t max,
		     const void **buf, size_t *len, char **owned)
{
	struct store_pending *p = st->pending;
	uint32_t i = HTAB_NONE;
	int ret;

	*owned = NULL;
	if (!stored_kind(h->kind))
		return -EINVAL;
	if (p) {
		pthread_mutex_lock(&p->lock);
		if ((i = htab_find(&p->ix, hash_key64(h), pending_eq, p, h)) != HTAB_NONE) {
			*buf = p->data.buf + p->v[i].off; /* (hashed when it was put) */
			*len = p->v[i].len;
		}
		pthread_mutex_unlock(&p->lock);
		if (i != HTAB_NONE)
			return *len > max ? -EFBIG : 0;
	}
	if (packed_get(st, h, buf, len) == 0)
		return *len > max ? -EFBIG : 0;
	if ((ret = store_get_buf(st, h, max, owned, len)) < 0)
		return ret;
	*buf = *owned;
	return 0;
}

static bool pending_has(const struct store *st, const struct gg_hash *h)
{
	struct store_pending *p = st->pending;
	bool has;

	if (!p)
		return false;
	pthread_mutex_lock(&p->lock);
	has = htab_find(&p->ix, hash_key64(h), pending_eq, p, h) != HTAB_NONE;
	pthread_mutex_unlock(&p->lock);
	return has;
}

/* Keep blob h (hashed from buf) for the packs: 0, or -EFBIG when the deferred bytes
 * would pass STORE_DEFER_MAX (the caller writes it loose), other -errno. */
static int pending_add(struct store *st, const struct gg_hash *h, const void *buf, size_t len)
{
	struct store_pending *p = st->pending;
	uint64_t key = hash_key64(h);
	int ret = 0;

	pthread_mutex_lock(&p->lock);
	if (htab_find(&p->ix, key, pending_eq, p, h) != HTAB_NONE)
		goto out;
	if (p->data.len + len > STORE_DEFER_MAX) {
		ret = -EFBIG;
		goto out;
	}
	if (p->n == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 1024;
		struct pending_ent *v = realloc(p->v, cap * sizeof(*v));
		if (!v) {
			ret = -ENOMEM;
			goto out;
		}
		p->v = v;
		p->cap = cap;
	}
	p->v[p->n] = (struct pending_ent){ .h = *h, .off = p->data.len, .len = len };
	if ((ret = sbuf_add(&p->data, buf, len)) < 0 ||
	    (ret = htab_add(&p->ix, key, (uint32_t)p->n)) < 0) {
		p->data.len = p->v[p->n].off;
		goto out;
	}
	p->n++;
out:
	pthread_mutex_unlock(&p->lock);
	return ret;
}

static int put_loose(struct store *st, const struct gg_hash *h, const void *buf, size_t len);
static bool store_has_loose(const struct store *st, const struct gg_hash *h);

static void pending_clear(struct store_pending *p)
{
	sbuf_reset(&p->data);
	htab_clear(&p->ix);
	p->n = 0;
}

/* Every deferred blob no pack holds, as a loose blob; the deferral goes on (empty). */
static int pending_write_loose(struct store *st)
{
	struct store_pending *p = st->pending;
	int ret = 0, r;

	for (size_t i = 0; i < p->n; i++)
		if (!packed_has(st, &p->v[i].h) && !store_has_loose(st, &p->v[i].h) &&
		    (r = put_loose(st, &p->v[i].h, p->data.buf + p->v[i].off, p->v[i].len)) < 0)
			ret = ret ? ret : r;
	pending_clear(p);
	return ret;
}

/*
 * store_put_fd's deferral: a regular file of at most BLOBPACK_MAX_BLOB bytes from
 * fd's offset is read whole and put as a buffer.  -EFBIG when it is not one, with w
 * begun and holding the bytes read so far (the caller goes on copying into it).
 */
static int defer_fd(struct store *st, int fd, struct gg_hash *out, uint64_t *size,
		    struct store_writer *w)
{
	char *buf = NULL;
	struct stat sb;
	ssize_t have = 0;
	int ret;

	if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size <= BLOBPACK_MAX_BLOB) {
		if (!(buf = malloc(BLOBPACK_MAX_BLOB + 1)))
			return -ENOMEM;
		/* one byte past the limit: a file that grew since fstat is copied instead */
		if ((have = fd_read_upto(fd, buf, BLOBPACK_MAX_BLOB + 1)) < 0) {
			ret = (int)have;
			goto out_free;
		}
		if (have <= BLOBPACK_MAX_BLOB) {
			if ((ret = store_put_buf(st, GG_HASH_VALUE, buf, (size_t)have, out)) == 0 &&
			    size)
				*size = (uint64_t)have;
			goto out_free;
		}
	}
	if ((ret = store_begin(st, GG_HASH_VALUE, w)) < 0)
		goto out_free;
	if (have && (ret = store_write(w, buf, (size_t)have)) < 0) {
		store_abort(w);
		goto out_free;
	}
	ret = -EFBIG;
out_free:
	free(buf);
	return ret;
}

/* The deferred blobs of `kind`, and the n hashes h: one array (caller frees). */
static struct gg_hash *pending_list(const struct store_pending *p, enum gg_hash_kind kind,
				    const struct gg_hash *h, size_t n, size_t *m)
{
	struct gg_hash *all = malloc((n + p->n + 1) * sizeof(*all));

	*m = 0;
	if (!all)
		return NULL;
	for (size_t i = 0; i < n; i++)
		all[(*m)++] = h[i];
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].h.kind == kind)
			all[(*m)++] = p->v[i].h;
	return all;
}

/*
 * The deferred values into a new value pack; with more than STORE_VALUE_PACKS packs
 * already, every value pack's blobs too, and the old packs removed once the new one
 * is in place (a process that mapped one keeps it; one that lists packs/ meanwhile
 * may miss the new pack and finds those blobs missing: a cache miss, never a wrong
 * blob).
 */
static int flush_values(struct store *st)
{
	struct store_pending *p = st->pending;
	struct store_vpacks *old = st->vpacks;
	char written[PATH_MAX];
	struct gg_hash *all = NULL;
	size_t m = 0, extra = 0;
	bool merge = old && old->n >= STORE_VALUE_PACKS;
	int ret;

	for (size_t k = 0; merge && k < old->n; k++)
		extra += blobpack_count(old->p[k]);
	if (!(all = pending_list(p, GG_HASH_VALUE, NULL, 0, &m)))
		return -ENOMEM;
	if (!m) {
		free(all);
		return 0;
	}
	if (merge) {
		struct gg_hash *more = realloc(all, (m + extra) * sizeof(*all));
		if (!more) {
			free(all);
			return -ENOMEM;
		}
		all = more;
		for (size_t k = 0; k < old->n; k++)
			for (size_t i = 0; i < blobpack_count(old->p[k]); i++)
				blobpack_hash_at(old->p[k], i, &all[m++]);
	}
	ret = blobpack_write(st, GG_HASH_VALUE, all, m, written, sizeof(written));
	for (size_t k = 0; ret == 0 && merge && k < old->n; k++)
		if (strcmp(old->path[k], written) != 0)
			unlink(old->path[k]);
	free(all);
	return ret;
}

int store_flush(struct store *st, const struct gg_hash *h, size_t n)
{
	struct store_pending *p = st->pending;
	struct gg_hash *all = NULL;
	size_t m = 0, thunks = 0;
	int ret = 0, r;

	if (!p || !p->n)
		return 0;
	for (size_t i = 0; i < p->n; i++)
		thunks += p->v[i].h.kind == GG_HASH_THUNK;
	/* the graph's thunks, and every deferred one (merges may defer more) */
	if (thunks) {
		if (!(all = pending_list(p, GG_HASH_THUNK, h, n, &m)))
			ret = -ENOMEM;
		else
			ret = blobpack_write(st, GG_HASH_THUNK, all, m, NULL, 0);
		free(all);
	}
	if (thunks < p->n && (r = flush_values(st)) < 0)
		ret = ret ? ret : r;
	/* (only asked what they hold: `gg infer` reads no blob back) */
	if ((r = pack_reopen(st, false)) < 0)
		ret = ret ? ret : r;
	/* what a pack left out (it did not verify, or a pack could not be written) */
	for (size_t i = 0; i < p->n && !ret; i++)
		if (!packed_has(st, &p->v[i].h))
			ret = -EIO;
	return pending_write_loose(st) < 0 ? (ret ? ret : -EIO) : 0;
}

/* ---- one-shot puts ---------------------------------------------------------------------- */

int store_put_buf(struct store *st, enum gg_hash_kind kind, const void *buf, size_t len,
		  struct gg_hash *out)
{
	struct gg_hash h;
	int ret;

	if (!stored_kind(kind))
		return -EINVAL;
	hash_buf(kind, buf, len, &h);
	*out = h;
	if (st->pending && (kind == GG_HASH_THUNK || len <= BLOBPACK_MAX_BLOB)) {
		/* (one a pack holds: store_flush copies a thunk from there) */
		if (packed_has(st, &h) || (kind == GG_HASH_VALUE && store_has_loose(st, &h)))
			return 0;
		if ((ret = pending_add(st, &h, buf, len)) != -EFBIG)
			return ret;
	}
	if (store_has_loose(st, &h))
		return 0;
	return put_loose(st, &h, buf, len);
}

/* Write blob h (its bytes: buf) loose. */
static int put_loose(struct store *st, const struct gg_hash *h, const void *buf, size_t len)
{
	struct store_writer w;
	struct gg_hash got;
	int ret;

	ret = store_begin(st, h->kind, &w);
	if (ret < 0)
		return ret;
	ret = store_write(&w, buf, len);
	if (ret < 0) {
		store_abort(&w);
		return ret;
	}
	return store_commit(&w, &got);
}

static bool store_has_loose(const struct store *st, const struct gg_hash *h)
{
	char rel[BLOB_REL_SIZE];
	struct stat sb;

	if (blob_relpath(h, rel) < 0)
		return false;
	return fstatat(st->dirfd, rel, &sb, 0) == 0 && S_ISREG(sb.st_mode);
}

/* Can any blob be deferred or packed (else only loose ones are, and no lookup of
 * the packs is worth making)? */
static bool holds_packed(const struct store *st)
{
	return st->pending || st->pack || st->vpacks;
}

bool store_packed(const struct store *st, const struct gg_hash *h)
{
	return pending_has(st, h) || packed_has(st, h);
}

bool store_has(const struct store *st, const struct gg_hash *h)
{
	if (pending_has(st, h) || packed_has(st, h))
		return true;
	return store_has_loose(st, h);
}

/* A blob only deferred or packed: written loose now (verified).  0 or -errno. */
static int blob_unpack(const struct store *st, const struct gg_hash *h)
{
	struct store *w = (struct store *)st; /* (writes files; the struct: atomics only) */
	const void *packed;
	char *buf = NULL;
	size_t len;
	int ret;

	if (!stored_kind(h->kind) || !holds_packed(st) ||
	    store_has_loose(st, h))
		return 0;
	if (pending_get(st, h, &buf, &len) == 0)
		ret = put_loose(w, h, buf, len);
	else if ((ret = packed_get(st, h, &packed, &len)) == 0)
		ret = put_loose(w, h, packed, len);
	else if (ret == -ENOENT)
		ret = 0; /* nowhere: the caller finds no file */
	free(buf);
	return ret;
}

int store_path(const struct store *st, const struct gg_hash *h, char *buf, size_t size)
{
	char rel[BLOB_REL_SIZE];
	int n, ret;

	if (blob_relpath(h, rel) < 0)
		return -EINVAL;
	if ((ret = blob_unpack(st, h)) < 0)
		return ret;
	n = snprintf(buf, size, "%s/%s", st->dir, rel);
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	return 0;
}

int store_open(const struct store *st, const struct gg_hash *h)
{
	char rel[BLOB_REL_SIZE];
	int fd;

	if (blob_relpath(h, rel) < 0)
		return -EINVAL;
	if ((fd = blob_unpack(st, h)) < 0)
		return fd;
	fd = openat(st->dirfd, rel, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	return fd < 0 ? -errno : fd;
}

int store_verify_blob(const struct store *st, const struct gg_hash *h)
{
	struct gg_hash got;
	const void *packed;
	size_t len;
	int fd, ret;

	if (!store_has_loose(st, h)) {
		if (pending_has(st, h))
			return 0; /* (hashed when it was put) */
		if ((ret = packed_get(st, h, &packed, &len)) != -ENOENT)
			return ret;
	}

	fd = store_open(st, h);
	if (fd < 0)
		return fd;
	ret = hash_fd_as(fd, h->kind, &got, NULL);
	close(fd);
	if (ret < 0)
		return ret;
	return hash_equal(&got, h) ? 0 : -EBADMSG;
}

int store_get_buf(const struct store *st, const struct gg_hash *h, size_t max, char **buf,
		  size_t *len)
{
	struct gg_hash got;
	struct stat sb;
	const void *packed;
	char *data = NULL;
	size_t have = 0;
	ssize_t n;
	int fd, ret, packed_ret = -ENOENT;

	if (holds_packed(st)) { /* deferred or packed: no file to read */
		if ((ret = pending_get(st, h, buf, len)) != -ENOENT)
			return ret;
		if ((packed_ret = packed_get(st, h, &packed, len)) == 0) {
			if (*len > max)
				return -EFBIG;
			if (!(*buf = malloc(*len + 1)))
				return -ENOMEM;
			memcpy(*buf, packed, *len);
			(*buf)[*len] = '\0';
			return 0;
		}
	}

	fd = store_open(st, h);
	if (fd < 0)
		return fd == -ENOENT && packed_ret == -EBADMSG ? -EBADMSG : fd; /* (its packed copy) */
	if (fstat(fd, &sb) < 0) {
		ret = -errno;
		goto out_close;
	}
	if (sb.st_size < 0 || (uint64_t)sb.st_size > max) {
		ret = -EFBIG;
		goto out_close;
	}
	data = malloc((size_t)sb.st_size + 1);
	if (!data) {
		ret = -ENOMEM;
		goto out_close;
	}
	/* Read one byte past the expected size to notice a blob that grew. */
	if ((n = fd_read_upto(fd, data, (size_t)sb.st_size + 1)) < 0) {
		ret = (int)n;
		goto out_free;
	}
	have = (size_t)n;
	if (have != (size_t)sb.st_size) {
		ret = -EBADMSG;
		goto out_free;
	}
	hash_buf(h->kind, data, have, &got);
	if (!hash_equal(&got, h)) {
		ret = -EBADMSG;
		goto out_free;
	}
	data[have] = '\0';
	*buf = data;
	*len = have;
	close(fd);
	return 0;

out_free:
	free(data);
out_close:
	close(fd);
	return ret;
}

struct blob_walk {
	store_walk_fn *fn;
	void *ctx;
	const char *shard;
};

static int blob_entry(void *ctx, int shardfd, const char *name)
{
	struct blob_walk *w = ctx;
	struct gg_hash h;

	return w->fn(w->ctx, shardfd, w->shard, name, blob_parse_name(w->shard, name, &h) ? &h : NULL);
}

static int blob_shard(void *ctx, int topfd, const char *name)
{
	struct blob_walk *w = ctx;
	int fd = openat(topfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	char shard[3];

	if (fd < 0 || strlen(name) != 2) {
		if (fd >= 0)
			close(fd);
		return w->fn(w->ctx, topfd, name, NULL, NULL);
	}
	memcpy(shard, name, 3);
	w->shard = shard;
	return dir_walk_fd(fd, blob_entry, w);
}

int store_walk_blobs(const struct store *st, store_walk_fn *fn, void *ctx)
{
	struct blob_walk w = { fn, ctx, NULL };

	return dir_walk(st->dirfd, "blobs", 0, blob_shard, &w);
}

static int stats_one(void *ctx, int shardfd, const char *shard, const char *name,
		     const struct gg_hash *h)
{
	struct store_stats *s = ctx;
	struct stat sb;

	if (!h)
		return 0;
	if (fstatat(shardfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno; /* removed meanwhile */
	if (!S_ISREG(sb.st_mode))
		return 0;
	s->count++;
	s->bytes += (uint64_t)sb.st_size;
	return 0;
}

/* Apply fn to every regular file of tmp/ with its stat. */
typedef int tmp_fn(void *ctx, int tmpfd, const char *name, const struct stat *sb);

struct tmp_walk {
	tmp_fn *fn;
	void *ctx;
};

static int tmp_entry(void *ctx, int tmpfd, const char *name)
{
	struct tmp_walk *w = ctx;
	struct stat sb;

	if (fstatat(tmpfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	return S_ISREG(sb.st_mode) ? w->fn(w->ctx, tmpfd, name, &sb) : 0;
}

static int walk_tmp(const struct store *st, tmp_fn *fn, void *ctx)
{
	struct tmp_walk w = { fn, ctx };

	return dir_walk(st->dirfd, "tmp", 0, tmp_entry, &w);
}

static int stats_tmp(void *ctx, int tmpfd, const char *name, const struct stat *sb)
{
	struct store_stats *s = ctx;

	s->tmp_count++;
	s->tmp_bytes += (uint64_t)sb->st_size;
	return 0;
}

int store_stats(const struct store *st, struct store_stats *out)
{
	struct store_stats s = { 0 };
	int ret;

	ret = store_walk_blobs(st, stats_one, &s);
	if (ret == 0)
		ret = walk_tmp(st, stats_tmp, &s);
	for (size_t k = 0; k <= (st->vpacks ? st->vpacks->n : 0); k++) {
		const struct blobpack *p = k ? st->vpacks->p[k - 1] : st->pack;
		s.packed += blobpack_count(p);
		for (size_t i = 0; i < blobpack_count(p); i++)
			s.packed_bytes += blobpack_len_at(p, i);
	}
	if (ret == 0)
		*out = s;
	return ret;
}

struct verify_ctx {
	unsigned flags;
	store_bad_fn *bad;
	void *ctx;
	struct store_stats *s;
};

/*
 * Count and report one bad entry; with STORE_VERIFY_REMOVE unlink it if `removable`
 * (a corrupt blob or a stray file: never a directory, never a blob we merely failed
 * to read).
 */
static void verify_report(struct verify_ctx *v, int dirfd, const char *shard,
			  const char *name, int err, bool removable)
{
	char rel[PATH_MAX];

	if (name)
		snprintf(rel, sizeof(rel), "blobs/%s/%s", shard, name);
	else
		snprintf(rel, sizeof(rel), "blobs/%s", shard);
	v->s->bad++;
	if (v->bad)
		v->bad(v->ctx, rel, err);
	if ((v->flags & STORE_VERIFY_REMOVE) && removable)
		unlinkat(dirfd, name ? name : shard, 0);
}

static bool is_dir_at(int dirfd, const char *name)
{
	struct stat sb;

	return fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(sb.st_mode);
}

static int verify_one(void *ctx, int shardfd, const char *shard, const char *name,
		      const struct gg_hash *h)
{
	struct verify_ctx *v = ctx;
	struct gg_hash got;
	struct stat sb;
	uint64_t size;
	int fd, ret;

	if (!name || !h) {
		/* a name that is not a blob's, in blobs/ or in a shard */
		const char *what = name ? name : shard;

		verify_report(v, shardfd, shard, name, -EINVAL, !is_dir_at(shardfd, what));
		return 0;
	}
	fd = openat(shardfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0; /* removed meanwhile */
		/* ELOOP: a symlink where a blob should be, which is corrupt; else unreadable */
		ret = errno == ELOOP ? -EBADMSG : -errno;
		verify_report(v, shardfd, shard, name, ret, ret == -EBADMSG);
		return 0;
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		verify_report(v, shardfd, shard, name, -EBADMSG, !is_dir_at(shardfd, name));
		return 0;
	}
	ret = hash_fd_as(fd, h->kind, &got, &size);
	close(fd);
	if (ret == -ENOMEM)
		return ret;
	if (ret < 0) {
		verify_report(v, shardfd, shard, name, ret, false);
		return 0;
	}
	if (!hash_equal(&got, h)) {
		verify_report(v, shardfd, shard, name, -EBADMSG, true);
		return 0;
	}
	v->s->count++;
	v->s->bytes += size;
	return 0;
}

/*
 * One pack's entries, each hashed against its name: a bad one is reported as
 * "<pack> (T...)"; with STORE_VERIFY_REMOVE the pack is written again from the
 * entries that verify (the store's mapping keeps the old file) and, for a value
 * pack, the old file removed.  A trailer that does not match is reported as
 * "<pack>" (what is under it is judged entry by entry).  `name`: the pack's path
 * relative to the .gg directory, `path`: its full path (value packs).
 */
static int verify_pack(const struct store *st, const struct blobpack *p, enum gg_hash_kind kind,
		       const char *name, const char *path, struct verify_ctx *v)
{
	struct gg_hash *good = NULL;
	size_t n = blobpack_count(p), ngood = 0, nbad = 0;
	char written[PATH_MAX];
	int ret = 0;

	if (!n)
		return 0;
	if (!(good = malloc(n * sizeof(*good))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct gg_hash h;
		const void *b;
		size_t len;
		char hex[GG_HASH_HEX_LEN + 1], rel[PATH_MAX + GG_HASH_HEX_LEN + 8];
		blobpack_hash_at(p, i, &h);
		if (blobpack_get(p, &h, &b, &len) == 0) {
			good[ngood++] = h;
			v->s->count++;
			v->s->bytes += len;
			continue;
		}
		hash_to_hex(&h, hex);
		snprintf(rel, sizeof(rel), "%s (%s %s)", name,
			 kind == GG_HASH_THUNK ? "thunk" : "value", hex);
		v->s->bad++;
		nbad++;
		if (v->bad)
			v->bad(v->ctx, rel, -EBADMSG);
	}
	if (!blobpack_trailer_ok(p)) {
		v->s->bad++;
		if (v->bad)
			v->bad(v->ctx, name, -EBADMSG);
		nbad++;
	}
	if (nbad && (v->flags & STORE_VERIFY_REMOVE)) {
		ret = blobpack_write(st, kind, good, ngood, written, sizeof(written));
		if (ret == 0 && path && strcmp(path, written) != 0)
			unlink(path);
	}
	free(good);
	return ret;
}

/* Files in packs/ that are not an open value pack (one that did not check when it
 * was opened, or a stray file): reported, and removed when asked. */
static int verify_pack_dir(const struct store *st, struct verify_ctx *v)
{
	const struct store_vpacks *vp = st->vpacks;
	struct dirent *de;
	DIR *d;
	int fd;

	if ((fd = openat(st->dirfd, BLOBPACK_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!(d = fdopendir(fd))) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		char rel[PATH_MAX];
		bool known = false;
		if (de->d_name[0] == '.')
			continue;
		for (size_t i = 0; vp && i < vp->n && !known; i++) {
			const char *base = strrchr(vp->path[i], '/');
			known = base && !strcmp(base + 1, de->d_name);
		}
		if (known)
			continue;
		snprintf(rel, sizeof(rel), BLOBPACK_DIR "/%s", de->d_name);
		v->s->bad++;
		if (v->bad)
			v->bad(v->ctx, rel, -EBADMSG);
		if ((v->flags & STORE_VERIFY_REMOVE) && !is_dir_at(dirfd(d), de->d_name))
			unlinkat(dirfd(d), de->d_name, 0);
	}
	closedir(d);
	return 0;
}

/* The packs: any file in packs/ that is not one, the thunk pack, each value pack. */
static int verify_packs(const struct store *st, struct verify_ctx *v)
{
	const struct store_vpacks *vp = st->vpacks;
	int ret;

	/* (first: a pack written again below is not a stray) */
	if ((ret = verify_pack_dir(st, v)) < 0)
		return ret;
	if ((ret = verify_pack(st, st->pack, GG_HASH_THUNK, "thunks.pack", NULL, v)) < 0)
		return ret;
	for (size_t i = 0; vp && i < vp->n; i++) {
		const char *base = strrchr(vp->path[i], '/');
		char rel[PATH_MAX];
		snprintf(rel, sizeof(rel), BLOBPACK_DIR "/%s", base ? base + 1 : vp->path[i]);
		if ((ret = verify_pack(st, vp->p[i], GG_HASH_VALUE, rel, vp->path[i], v)) < 0)
			return ret;
	}
	return 0;
}

int store_verify_all(const struct store *st, unsigned flags, store_bad_fn *bad, void *ctx,
		     struct store_stats *out)
{
	struct store_stats s = { 0 };
	struct verify_ctx v = { .flags = flags, .bad = bad, .ctx = ctx, .s = &s };
	int ret;

	ret = store_walk_blobs(st, verify_one, &v);
	if (ret == 0)
		ret = verify_packs(st, &v);
	if (ret == 0)
		ret = walk_tmp(st, stats_tmp, &s);
	if (out)
		*out = s;
	return ret;
}

/* ---- trimming --------------------------------------------------------------------------- */

struct trim_ent {
	struct gg_hash h;
	uint64_t size, used;
};

struct trim_ctx {
	struct trim_ent *v;
	size_t n, cap;
	uint64_t total;
	store_last_use_fn *last_use;
	void *ctx;
};

static int trim_one(void *ctx, int shardfd, const char *shard, const char *name,
		    const struct gg_hash *h)
{
	struct trim_ctx *t = ctx;
	struct stat sb;

	if (!h || fstatat(shardfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(sb.st_mode))
		return 0;
	if (t->n == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 1024;
		struct trim_ent *v = realloc(t->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		t->v = v;
		t->cap = cap;
	}
	t->v[t->n++] = (struct trim_ent){ .h = *h, .size = (uint64_t)sb.st_size,
					  .used = t->last_use(t->ctx, h) };
	t->total += (uint64_t)sb.st_size;
	return 0;
}

static int trim_cmp(const void *a, const void *b)
{
	const struct trim_ent *x = a, *y = b;
	if (x->used != y->used)
		return x->used < y->used ? -1 : 1;
	return x->size > y->size ? -1 : x->size < y->size;
}

int store_trim(struct store *st, uint64_t keep, store_last_use_fn *last_use, void *ctx,
	       uint64_t *removed, uint64_t *left)
{
	struct trim_ctx t = { .last_use = last_use, .ctx = ctx };
	uint64_t gone = 0;
	int ret;

	if ((ret = store_walk_blobs(st, trim_one, &t)) < 0)
		goto out;
	if (t.total > keep) {
		qsort(t.v, t.n, sizeof(*t.v), trim_cmp);
		for (size_t i = 0; i < t.n && t.total > keep; i++) {
			char rel[BLOB_REL_SIZE];
			blob_relpath(&t.v[i].h, rel);
			if (unlinkat(st->dirfd, rel, 0) == 0 || errno == ENOENT) {
				t.total -= t.v[i].size;
				gone++;
			}
		}
	}
out:
	if (removed)
		*removed = gone;
	if (left)
		*left = t.total;
	free(t.v);
	return ret;
}

struct gc_ctx {
	time_t now;
	unsigned min_age;
	uint64_t removed;
};

static int gc_one(void *ctx, int tmpfd, const char *name, const struct stat *sb)
{
	struct gc_ctx *g = ctx;
	int fd;

	if (g->now - sb->st_mtime < (time_t)g->min_age)
		return 0;
	fd = openat(tmpfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return 0; /* committed or removed meanwhile */
	/* Taking the lock proves no writer holds it; unlinking under it is then safe. */
	if (flock(fd, LOCK_EX | LOCK_NB) == 0 && unlinkat(tmpfd, name, 0) == 0)
		g->removed++;
	close(fd);
	return 0;
}

int store_gc_tmp(const struct store *st, unsigned min_age, uint64_t *removed)
{
	struct gc_ctx g = { .now = time(NULL), .min_age = min_age };
	int ret;

	ret = walk_tmp(st, gc_one, &g);
	if (removed)
		*removed = g.removed;
	return ret;
}

/* Add pack p (now v's) found at path to v (grown by doubling; *cap: its room). */
static int vpacks_add(struct store_vpacks *v, size_t *cap, struct blobpack *p, const char *path)
{
	char *copy = strdup(path);

	if (copy && v->n == *cap) {
		size_t c = *cap ? 2 * *cap : 8;
		struct blobpack **np = realloc(v->p, c * sizeof(*np));
		char **pp;
		if (np)
			v->p = np;
		if (!np || !(pp = realloc(v->path, c * sizeof(*pp)))) {
			free(copy);
			copy = NULL;
		} else {
			v->path = pp;
			*cap = c;
		}
	}
	if (!copy) {
		blobpack_free(p);
		return -ENOMEM;
	}
	v->p[v->n] = p;
	v->path[v->n++] = copy;
	return 0;
}

/* packs/values-*.pack, each mapped if it checks (not read in: a process reads few of
 * their blobs, a no-op build none): 0 and *out (NULL when none), -errno. */
static int vpacks_open(const struct store *st, struct store_vpacks **out)
{
	struct store_vpacks *v = NULL;
	struct dirent *de;
	size_t cap = 0;
	DIR *d;
	int fd, ret = 0;

	*out = NULL;
	if ((fd = openat(st->dirfd, BLOBPACK_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!(d = fdopendir(fd))) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d)) && ret == 0) {
		size_t len = strlen(de->d_name);
		struct blobpack *p;
		char path[PATH_MAX];
		if (strncmp(de->d_name, "values-", 7) || len < 12 ||
		    strcmp(de->d_name + len - 5, ".pack"))
			continue;
		if (snprintf(path, sizeof(path), "%s/" BLOBPACK_DIR "/%s", st->dir, de->d_name) >=
		    (int)sizeof(path))
			continue;
		if (blobpack_open(path, GG_HASH_VALUE, 0, &p) < 0 || !p)
			continue; /* gone meanwhile, or does not check: not used */
		if (!v) {
			if (!(v = calloc(1, sizeof(*v)))) {
				blobpack_free(p);
				ret = -ENOMEM;
				continue;
			}
			pthread_mutex_init(&v->lock, NULL);
		}
		ret = vpacks_add(v, &cap, p, path);
	}
	closedir(d);
	if (ret < 0) {
		vpacks_free(v);
		return ret;
	}
	*out = v;
	return 0;
}

/* store_pack_reopen; `populate`: the thunk pack read in whole (BLOBPACK_POPULATE). */
static int pack_reopen(struct store *st, bool populate)
{
	char path[PATH_MAX];
	struct blobpack *p = NULL;
	struct store_vpacks *v = NULL;
	int ret;

	if (snprintf(path, sizeof(path), "%s/thunks.pack", st->dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	ret = blobpack_open(path, GG_HASH_THUNK, populate ? BLOBPACK_POPULATE : 0, &p);
	blobpack_free(st->pack);
	st->pack = ret == 0 ? p : NULL; /* -EBADMSG: not used, the loose blobs serve */
	if (ret < 0 && ret != -EBADMSG)
		return ret;
	ret = vpacks_open(st, &v);
	vpacks_free(st->vpacks);
	st->vpacks = v;
	return ret;
}

int store_pack_reopen(struct store *st)
{
	return pack_reopen(st, !(st->flags & STORE_LAZY_PACKS));
}

int store_load_thunk(const struct store *st, const struct gg_hash *h, struct thunk *out)
{
	char *buf = NULL;
	const void *packed;
	size_t len;
	int ret;

	if (st->pack && blobpack_get(st->pack, h, &packed, &len) == 0) {
		thunk_init(out);
		return thunk_decode(packed, len, out);
	}
	/* (store_get_buf also finds a deferred thunk) */
	/* not packed, or its packed copy does not verify: the loose blob decides */
	ret = store_get_buf(st, h, THUNK_MAX_ENCODED, &buf, &len);
	thunk_init(out);
	if (ret == 0)
		ret = thunk_decode(buf, len, out);
	free(buf);
	return ret;
}
