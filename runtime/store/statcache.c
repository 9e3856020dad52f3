/*
 * statcache.c - path -> (stat data, content hash), persisted as an append-only log
 * (see statcache.h for the format).
 *
 * The table: ent[] in the order paths were first seen, ix: str_hash(path) -> index.
 * Paths read from the file live in one block (loaded: the file's bytes, the paths
 * moved to its front as they are read); paths added later are strdup'ed.
 * What a handle knows of the file: the inode it read or wrote last (dev, ino), the
 * end of the last good batch there (good_end; below HDR_LEN: nothing known), the
 * records before that end (nrec) and, as far as this handle can tell, how many
 * distinct paths they name (live).  An entry to be written at the next save has
 * `changed` (nchanged of them); `convert` asks for every entry (a version-1 file
 * was loaded).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "runtime/store/statcache.h"
#include "runtime/lib/util.h"

#define MAGIC "GGSTATC\n"
#define HDR_LEN 16u      /* magic, u32 version, u32 0 */
#define V1_HDR_LEN 24u   /* magic, u32 1, u32 count, i64 saved_ns */
#define BATCH_HDR 12u    /* u32 n, u64 check */
#define PAYLOAD_HDR 12u  /* i64 saved_ns, u32 count */
#define ENTRY_REST (8 * 5 + 4 + 1 + GG_HASH_LEN + 8) /* an entry after its path: 69 */
/* File timestamps are taken from a coarse clock (a jiffy, up to 10 ms): an mtime
 * closer than this to the moment of hashing could hide a later write. */
#define RACY_NS 50000000
#define LOCK_TRIES 64 /* reopenings after others' compactions before giving up */

struct sc_entry {
	char *path;
	uint64_t dev, ino, size;
	int64_t mtime_ns, ctime_ns;
	uint32_t mode;
	struct gg_hash hash;
	int64_t hashed_ns; /* when the hash was taken */
	bool checked;      /* validated (and stored, if asked) since statcache_open */
	bool stored;
	bool changed; /* to be written at the next save */
	bool in_file; /* some record of the file names the path */
};

struct statcache {
	char *file;
	char *loaded;   /* the paths of the entries read from the file, one block */
	size_t loaded_len, loaded_used;
	struct sc_entry *ent; /* in the order they were added */
	size_t n, alloc;
	struct htab ix; /* str_hash(path) -> index into ent */
	int64_t saved_ns; /* when the newest batch read was written */
	size_t nchanged;
	bool convert;
	dev_t dev;
	ino_t ino;
	uint64_t good_end, nrec, live;
	struct statcache_stats stats;
};

static int64_t ts_ns(struct timespec ts)
{
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t now_ns(void)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	return ts_ns(now);
}

static bool path_eq(const void *ctx, uint32_t val, const void *key)
{
	const struct statcache *sc = ctx;
	return !strcmp(sc->ent[val].path, key);
}

static bool path_loaded(const struct statcache *sc, const char *p)
{
	return sc->loaded && p >= sc->loaded && p < sc->loaded + sc->loaded_len;
}

/*
 * The entry for path, created empty (path set, rest zero) if absent and asked to:
 * with a copy of path, or with path itself when it lies in sc->loaded.
 */
static struct sc_entry *entry_get(struct statcache *sc, const char *path, bool create)
{
	uint64_t h = str_hash(path);
	uint32_t i = htab_find(&sc->ix, h, path_eq, sc, path);
	struct sc_entry *e;
	bool own = !path_loaded(sc, path);

	if (i != HTAB_NONE)
		return &sc->ent[i];
	if (!create)
		return NULL;
	if (sc->n == sc->alloc) {
		size_t na = sc->alloc ? sc->alloc * 2 : 1024;
		struct sc_entry *nv = realloc(sc->ent, na * sizeof(*nv));
		if (!nv)
			return NULL;
		sc->ent = nv;
		sc->alloc = na;
	}
	e = &sc->ent[sc->n];
	memset(e, 0, sizeof(*e));
	if (!(e->path = own ? strdup(path) : (char *)path))
		return NULL;
	if (htab_add(&sc->ix, h, (uint32_t)sc->n) < 0) {
		if (own)
			free(e->path);
		return NULL;
	}
	sc->n++;
	return e;
}

static void mark_changed(struct statcache *sc, struct sc_entry *e)
{
	if (!e->changed) {
		e->changed = true;
		sc->nchanged++;
	}
}

static uint32_t rd32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const unsigned char *p)
{
	return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static void wr32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static void wr64(unsigned char *p, uint64_t v)
{
	wr32(p, (uint32_t)v);
	wr32(p + 4, (uint32_t)(v >> 32));
}

/* A batch's check: the first 8 digest bytes of its payload's VALUE hash. */
static uint64_t batch_check(const unsigned char *p, size_t n)
{
	struct gg_hash h;
	hash_buf(GG_HASH_VALUE, p, n, &h);
	return rd64(h.bytes);
}

/* ---- reading ---- */

/* The size of the entry at b[0, len), or 0 when it does not parse. */
static size_t entry_size(const unsigned char *b, size_t len)
{
	uint32_t pl;

	if (len < 4)
		return 0;
	pl = rd32(b);
	if (pl == 0 || pl >= PATH_MAX || len - 4 < (size_t)pl + ENTRY_REST ||
	    memchr(b + 4, '\0', pl) || !hash_kind_valid(b[4 + pl + 44]))
		return 0;
	return 4 + (size_t)pl + ENTRY_REST;
}

/*
 * Enter the entry at b (entry_size said it parses): its path is moved to the
 * front of sc->loaded (b lies in that block, at or after loaded_used; only bytes
 * already read are overwritten) unless the path is known; last record wins.
 */
static int entry_apply(struct statcache *sc, const unsigned char *b)
{
	uint32_t pl = rd32(b);
	char *path = sc->loaded + sc->loaded_used;
	const unsigned char *r = b + 4 + pl;
	struct sc_entry *e;

	memmove(path, b + 4, pl);
	path[pl] = '\0';
	if (!(e = entry_get(sc, path, true)))
		return -ENOMEM;
	if (e->path == path)
		sc->loaded_used += pl + 1;
	e->dev = rd64(r);
	e->ino = rd64(r + 8);
	e->size = rd64(r + 16);
	e->mtime_ns = (int64_t)rd64(r + 24);
	e->ctime_ns = (int64_t)rd64(r + 32);
	e->mode = rd32(r + 40);
	e->hash.kind = r[44];
	memcpy(e->hash.bytes, r + 45, GG_HASH_LEN);
	e->hashed_ns = (int64_t)rd64(r + 61);
	e->in_file = true;
	return 0;
}

/*
 * The good batches of b[off, len): the end of the last one (off if none); their
 * records are added to *nrec and *saved_ns is the newest batch's.  A batch is good
 * when it lies within len and the limit, its check matches and it holds exactly
 * `count` entries that parse.
 */
static size_t scan_batches(const unsigned char *b, size_t len, size_t off, uint64_t *nrec,
			   int64_t *saved_ns)
{
	while (len - off >= BATCH_HDR) {
		uint32_t n = rd32(b + off), count, i;
		const unsigned char *p = b + off + BATCH_HDR;
		size_t at = PAYLOAD_HDR, k = 1;

		if (n < PAYLOAD_HDR || n > STATCACHE_MAX_BATCH || n > len - off - BATCH_HDR ||
		    batch_check(p, n) != rd64(b + off + 4))
			break;
		count = rd32(p + 8);
		for (i = 0; i < count && k; i++, at += k)
			k = entry_size(p + at, n - at);
		if (!k || at != n)
			break;
		*nrec += count;
		*saved_ns = (int64_t)rd64(p);
		off += BATCH_HDR + n;
	}
	return off;
}

/* Room for `records` more entries: each needs a slot and may need a path. */
static int reserve(struct statcache *sc, uint64_t records)
{
	if (records > HTAB_NONE - 1 - sc->n)
		return -E2BIG;
	if (sc->n + records > sc->alloc) {
		struct sc_entry *nv = realloc(sc->ent, (sc->n + records) * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		sc->ent = nv;
		sc->alloc = sc->n + records;
	}
	return htab_reserve(&sc->ix, sc->n + records);
}

/* Enter the batches of b[off, end), which scan_batches found good.  (Entering
 * moves paths over bytes already read, batch headers included: each is read
 * before its entries are entered.) */
static int apply_batches(struct statcache *sc, const unsigned char *b, size_t off, size_t end)
{
	int ret;

	while (off < end) {
		const unsigned char *p = b + off + BATCH_HDR;
		uint32_t n = rd32(b + off), count = rd32(p + 8);
		size_t at = PAYLOAD_HDR;

		for (uint32_t i = 0; i < count; i++) {
			size_t k = entry_size(p + at, n - at);
			if ((ret = entry_apply(sc, p + at)) < 0)
				return ret;
			at += k;
		}
		off += BATCH_HDR + n;
	}
	return 0;
}

/* A version-1 file: every entry or none (-EBADMSG). */
static int load_v1(struct statcache *sc, const unsigned char *b, size_t len)
{
	size_t off = V1_HDR_LEN, k;
	uint32_t count;
	int ret;

	if (len < V1_HDR_LEN)
		return -EBADMSG;
	count = rd32(b + 12);
	for (uint32_t i = 0; i < count; i++, off += k)
		if (!(k = entry_size(b + off, len - off)))
			return -EBADMSG;
	if ((ret = reserve(sc, count)) < 0)
		return ret;
	sc->saved_ns = (int64_t)rd64(b + 16);
	off = V1_HDR_LEN;
	for (uint32_t i = 0; i < count; i++, off += k) {
		k = entry_size(b + off, len - off);
		if ((ret = entry_apply(sc, b + off)) < 0)
			return ret;
	}
	sc->convert = true;
	return 0;
}

/*
 * Load the file's bytes b[0, len) (the block becomes sc->loaded) read from the
 * inode st: 0, STATCACHE_IGNORED, STATCACHE_TORN or -errno.
 */
static int load(struct statcache *sc, char *buf, size_t len, const struct stat *st)
{
	const unsigned char *b = (const unsigned char *)buf;
	uint64_t nrec = 0;
	size_t end;
	int ret;

	sc->loaded = buf;
	sc->loaded_len = len;
	if (len >= 12 && !memcmp(b, MAGIC, 8) && rd32(b + 8) == 1) {
		ret = load_v1(sc, b, len);
		return ret == -EBADMSG ? STATCACHE_IGNORED : ret;
	}
	if (len < HDR_LEN || memcmp(b, MAGIC, 8) || rd32(b + 8) != STATCACHE_VERSION || rd32(b + 12))
		return len ? STATCACHE_IGNORED : 0;
	end = scan_batches(b, len, HDR_LEN, &nrec, &sc->saved_ns);
	if ((ret = reserve(sc, nrec)) < 0 || (ret = apply_batches(sc, b, HDR_LEN, end)) < 0)
		return ret;
	sc->dev = st->st_dev;
	sc->ino = st->st_ino;
	sc->good_end = end;
	sc->nrec = nrec;
	sc->live = sc->n;
	return end < len ? STATCACHE_TORN : 0;
}

/* The bytes of fd from `from` to its size st_size, in a malloc'd block (*buf, *len;
 * a few bytes more allocated so that an empty read is not NULL). */
static int read_from(int fd, const struct stat *st, size_t from, char **buf, size_t *len)
{
	size_t want = (size_t)st->st_size > from ? (size_t)st->st_size - from : 0, got = 0;
	char *b = malloc(want + 1);

	if (!b)
		return -ENOMEM;
	while (got < want) {
		ssize_t r = pread(fd, b + got, want - got, (off_t)(from + got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int ret = -errno;
			free(b);
			return ret;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	*buf = b;
	*len = got;
	return 0;
}

static void clear(struct statcache *sc)
{
	for (size_t i = 0; i < sc->n; i++)
		if (!path_loaded(sc, sc->ent[i].path))
			free(sc->ent[i].path);
	free(sc->loaded);
	sc->loaded = NULL;
	sc->loaded_len = sc->loaded_used = 0;
	free(sc->ent);
	htab_release(&sc->ix);
	sc->ent = NULL;
	sc->n = sc->alloc = sc->nchanged = 0;
	sc->convert = false;
	sc->good_end = sc->nrec = sc->live = 0;
	sc->saved_ns = 0;
}

int statcache_open(struct statcache **out, const char *ggdir)
{
	struct statcache *sc = calloc(1, sizeof(*sc));
	struct stat st;
	char *buf = NULL;
	size_t len;
	int fd, ret = 0;

	*out = NULL;
	if (!sc)
		return -ENOMEM;
	if (asprintf(&sc->file, "%s/statcache", ggdir) < 0) {
		free(sc);
		return -ENOMEM;
	}
	if ((fd = open(sc->file, O_RDONLY | O_CLOEXEC)) < 0) {
		ret = errno == ENOENT ? 0 : STATCACHE_IGNORED;
		goto out;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		ret = STATCACHE_IGNORED;
	else if ((ret = read_from(fd, &st, 0, &buf, &len)) < 0)
		ret = ret == -ENOMEM ? ret : STATCACHE_IGNORED;
	else
		ret = load(sc, buf, len, &st); /* buf is sc->loaded now */
	close(fd);
	if (ret == STATCACHE_IGNORED)
		clear(sc);
	if (ret < 0) {
		statcache_free(sc);
		return ret;
	}
out:
	*out = sc;
	return ret;
}

/* ---- writing ---- */

static void put32(struct sbuf *sb, uint32_t v)
{
	unsigned char b[4];
	wr32(b, v);
	sbuf_add(sb, b, 4);
}

static void put64(struct sbuf *sb, uint64_t v)
{
	unsigned char b[8];
	wr64(b, v);
	sbuf_add(sb, b, 8);
}

static void put_entry(struct sbuf *sb, const struct sc_entry *e, size_t pl)
{
	put32(sb, (uint32_t)pl);
	sbuf_add(sb, e->path, pl);
	put64(sb, e->dev);
	put64(sb, e->ino);
	put64(sb, e->size);
	put64(sb, (uint64_t)e->mtime_ns);
	put64(sb, (uint64_t)e->ctime_ns);
	put32(sb, e->mode);
	sbuf_addch(sb, (char)e->hash.kind);
	sbuf_add(sb, e->hash.bytes, GG_HASH_LEN);
	put64(sb, (uint64_t)e->hashed_ns);
}

/* Is e to be written (every entry when `all`)?  Never an entry whose hashing
 * failed (statcache_hash made it, found no stable contents: no hash to keep). */
static bool entry_to_write(const struct statcache *sc, const struct sc_entry *e, bool all)
{
	return (all || sc->convert || e->changed) && hash_kind_valid(e->hash.kind);
}

/* Fill in the header of the batch that starts at sb->buf + start. */
static void batch_close(struct sbuf *sb, size_t start, uint32_t count)
{
	unsigned char *b = (unsigned char *)sb->buf + start;
	size_t n = sb->len - start - BATCH_HDR;

	if (sbuf_error(sb))
		return;
	wr32(b, (uint32_t)n);
	wr32(b + BATCH_HDR + 8, count);
	wr64(b + 4, batch_check(b + BATCH_HDR, n));
}

/*
 * The log header, then batches of the entries (every one, or those changed) with
 * saved_ns `now`, into sb: the number of entries.  sb's error says if it failed.
 */
static uint64_t encode(const struct statcache *sc, struct sbuf *sb, bool all, int64_t now)
{
	unsigned char hdr[HDR_LEN] = MAGIC;
	size_t start = SIZE_MAX;
	uint32_t count = 0;
	uint64_t total = 0;

	wr32(hdr + 8, STATCACHE_VERSION);
	sbuf_add(sb, hdr, HDR_LEN);
	for (size_t i = 0; i < sc->n; i++) {
		const struct sc_entry *e = &sc->ent[i];
		size_t pl;

		if (!entry_to_write(sc, e, all))
			continue;
		pl = strlen(e->path);
		if (start == SIZE_MAX ||
		    sb->len - start - BATCH_HDR + 4 + pl + ENTRY_REST > STATCACHE_MAX_BATCH) {
			if (start != SIZE_MAX)
				batch_close(sb, start, count);
			start = sb->len;
			sbuf_add(sb, hdr, BATCH_HDR); /* placeholder */
			put64(sb, (uint64_t)now);
			put32(sb, 0);
			count = 0;
		}
		put_entry(sb, e, pl);
		count++;
		total++;
	}
	if (start != SIZE_MAX)
		batch_close(sb, start, count);
	return total;
}

/*
 * Append the batches of p[0, len), one write(2) each; with `hdr` the first write
 * also carries the HDR_LEN header bytes before them (p - HDR_LEN).  0, or -errno
 * (-EIO for a short write): the caller cuts the file back.
 */
static int write_batches(int fd, const char *p, size_t len, bool hdr)
{
	while (len) {
		size_t k = BATCH_HDR + rd32((const unsigned char *)p);
		const char *from = hdr ? p - HDR_LEN : p;
		size_t wlen = hdr ? k + HDR_LEN : k;
		ssize_t w = write(fd, from, wlen);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if ((size_t)w != wlen)
			return -EIO;
		hdr = false;
		p += k;
		len -= k;
	}
	return hdr ? (write(fd, p - HDR_LEN, HDR_LEN) == HDR_LEN ? 0 : -EIO) : 0;
}

/*
 * Open the log for appending and take flock(LOCK_EX): the descriptor, and *st its
 * fstat, once the file named statcache is the one locked (another process may
 * have renamed a compacted log over it meanwhile: open again).
 */
static int log_lock(const struct statcache *sc, struct stat *st)
{
	for (int tries = 0; tries < LOCK_TRIES; tries++) {
		struct stat cur;
		int fd = open(sc->file, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644), ret;

		if (fd < 0)
			return -errno;
		while ((ret = flock(fd, LOCK_EX)) < 0 && errno == EINTR)
			;
		if (ret < 0 || fstat(fd, st) < 0) {
			ret = -errno;
			close(fd);
			return ret;
		}
		if (stat(sc->file, &cur) == 0 && cur.st_dev == st->st_dev && cur.st_ino == st->st_ino)
			return fd;
		close(fd);
	}
	return -EAGAIN;
}

/*
 * Replace the log whole with sb (header and batches of `count` entries, every
 * entry of sc): a temporary renamed over it.  The caller holds the lock.
 */
static int log_replace(struct statcache *sc, const struct sbuf *sb, uint64_t count)
{
	struct stat st;
	int ret;

	if ((ret = file_write_atomic(sc->file, sb->buf, sb->len, false)) < 0)
		return ret;
	if (stat(sc->file, &st) < 0)
		return -errno;
	sc->dev = st.st_dev;
	sc->ino = st.st_ino;
	sc->good_end = sb->len;
	sc->nrec = sc->live = count;
	return 0;
}

/* Does the locked log (size st_size) start with our header? */
static bool log_header_ok(int fd, const struct stat *st)
{
	unsigned char h[HDR_LEN];

	return st->st_size >= (off_t)HDR_LEN && pread(fd, h, HDR_LEN, 0) == (ssize_t)HDR_LEN &&
	       !memcmp(h, MAGIC, 8) && rd32(h + 8) == STATCACHE_VERSION && !rd32(h + 12);
}

/*
 * Of the records in the good batches b[0, end) (appended by other processes),
 * how many name paths new to the file, as far as this handle can tell: with
 * `known`, a path the file had a record of already (in_file) is superseded;
 * otherwise (the whole file, after another process's compaction) every record
 * counts.  Paths of the table seen here are in the file now (in_file).
 */
static uint64_t count_unseen(struct statcache *sc, const unsigned char *b, size_t end, bool known)
{
	char path[PATH_MAX];
	uint64_t fresh = 0;

	for (size_t off = 0; off < end;) {
		const unsigned char *p = b + off + BATCH_HDR;
		uint32_t n = rd32(b + off), count = rd32(p + 8);
		size_t at = PAYLOAD_HDR;

		for (uint32_t i = 0; i < count; i++) {
			uint32_t pl = rd32(p + at);
			struct sc_entry *e;

			memcpy(path, p + at + 4, pl);
			path[pl] = '\0';
			e = entry_get(sc, path, false);
			fresh += !known || !e || !e->in_file;
			if (e)
				e->in_file = true;
			at += 4 + pl + ENTRY_REST;
		}
		off += BATCH_HDR + n;
	}
	return fresh;
}

/*
 * Append sb's batches (`count` entries) to the locked log fd (fstat st): first
 * check the bytes this handle has not seen and cut off a bad tail.
 */
static int log_append(struct statcache *sc, int fd, const struct stat *st, const struct sbuf *sb,
		      uint64_t count)
{
	bool same = sc->good_end >= HDR_LEN && st->st_dev == sc->dev && st->st_ino == sc->ino &&
		    (uint64_t)st->st_size >= sc->good_end;
	size_t from = same ? sc->good_end : HDR_LEN, end = from;
	uint64_t fresh = 0;
	int ret;

	if ((size_t)st->st_size > from) {
		uint64_t nrec = 0;
		int64_t saved;
		char *tail;
		size_t len;

		if ((ret = read_from(fd, st, from, &tail, &len)) < 0)
			return ret;
		end = from + scan_batches((unsigned char *)tail, len, 0, &nrec, &saved);
		if (!same)
			sc->nrec = sc->live = 0;
		sc->nrec += nrec;
		sc->live += count_unseen(sc, (unsigned char *)tail, end - from, same);
		free(tail);
		if (end < (size_t)st->st_size && ftruncate(fd, (off_t)end) < 0)
			return -errno;
	} else if (!same) {
		sc->nrec = sc->live = 0;
	}
	for (size_t i = 0; i < sc->n; i++)
		fresh += entry_to_write(sc, &sc->ent[i], false) && !sc->ent[i].in_file;
	if ((ret = write_batches(fd, sb->buf + HDR_LEN, sb->len - HDR_LEN, false)) < 0) {
		if (ftruncate(fd, (off_t)end) < 0)
			ret = -errno;
		return ret;
	}
	sc->dev = st->st_dev;
	sc->ino = st->st_ino;
	sc->good_end = end + sb->len - HDR_LEN;
	sc->nrec += count;
	sc->live += fresh;
	return 0;
}

/*
 * Rewrite the locked log fd with its live entries when superseded records
 * dominate: read it again whole (other processes may have appended), keep the
 * last record of each path, replace the file.
 */
static int log_compact(struct statcache *sc, int fd)
{
	struct statcache *tmp;
	struct sbuf sb = SBUF_INIT;
	struct stat st;
	uint64_t count;
	char *buf;
	size_t len;
	int ret;

	if (sc->live >= sc->nrec || sc->nrec - sc->live <= sc->live ||
	    sc->nrec - sc->live <= STATCACHE_COMPACT_MIN)
		return 0;
	if (!(tmp = calloc(1, sizeof(*tmp))))
		return -ENOMEM;
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		goto out_free;
	}
	if ((ret = read_from(fd, &st, 0, &buf, &len)) < 0)
		goto out_free;
	if ((ret = load(tmp, buf, len, &st)) < 0)
		goto out_free;
	if (ret != 0) { /* we checked it under this lock: the file is not what it was */
		ret = -EBADMSG;
		goto out_free;
	}
	count = encode(tmp, &sb, true, now_ns());
	if ((ret = sbuf_error(&sb)) == 0)
		ret = log_replace(sc, &sb, count);
	sbuf_release(&sb);
out_free:
	statcache_free(tmp);
	return ret;
}

/* Start the empty locked log fd with sb, header included. */
static int log_create(struct statcache *sc, int fd, const struct stat *st, const struct sbuf *sb,
		      uint64_t count)
{
	int ret = write_batches(fd, sb->buf + HDR_LEN, sb->len - HDR_LEN, true);

	if (ret < 0) {
		if (ftruncate(fd, 0) < 0)
			ret = -errno;
		return ret;
	}
	sc->dev = st->st_dev;
	sc->ino = st->st_ino;
	sc->good_end = sb->len;
	sc->nrec = sc->live = count;
	return 0;
}

int statcache_save(struct statcache *sc)
{
	struct sbuf sb = SBUF_INIT;
	struct stat st;
	uint64_t count;
	int fd, ret;

	if (!sc->nchanged && !sc->convert)
		return 0;
	count = encode(sc, &sb, sc->convert, now_ns());
	if ((ret = sbuf_error(&sb)) < 0)
		goto out;
	if ((fd = ret = log_lock(sc, &st)) < 0)
		goto out;
	if (st.st_size == 0) {
		ret = log_create(sc, fd, &st, &sb, count);
	} else if (!log_header_ok(fd, &st)) {
		/* another format, or a torn header: nothing of ours, replaced whole */
		if (!sc->convert) {
			sbuf_reset(&sb);
			count = encode(sc, &sb, true, now_ns());
		}
		if ((ret = sbuf_error(&sb)) == 0)
			ret = log_replace(sc, &sb, count);
	} else {
		ret = log_append(sc, fd, &st, &sb, count);
	}
	if (ret < 0)
		goto out_close;
	for (size_t i = 0; i < sc->n; i++) {
		struct sc_entry *e = &sc->ent[i];
		if (entry_to_write(sc, e, false))
			e->in_file = true;
		e->changed = false;
	}
	sc->nchanged = 0;
	sc->convert = false;
	/* a compaction that fails leaves a valid, longer log: tried again next save */
	(void)log_compact(sc, fd);
out_close:
	close(fd);
out:
	sbuf_release(&sb);
	return ret;
}

void statcache_free(struct statcache *sc)
{
	if (!sc)
		return;
	clear(sc);
	free(sc->file);
	free(sc);
}

size_t statcache_count(const struct statcache *sc)
{
	return sc->n;
}

void statcache_forget(struct statcache *sc, const char *path)
{
	struct sc_entry *e = entry_get(sc, path, false);
	if (e && hash_kind_valid(e->hash.kind) && (e->size != UINT64_MAX || e->checked)) {
		e->size = UINT64_MAX; /* never matches again */
		e->checked = false;
		mark_changed(sc, e);
	}
}

bool statcache_last_mtime(const struct statcache *sc, const char *path,
			  const struct gg_hash *value, int64_t *mtime_ns)
{
	/* entry_get only creates with create set: the cast does not write */
	struct sc_entry *e = entry_get((struct statcache *)sc, path, false);

	if (!e || !hash_equal(&e->hash, value))
		return false;
	*mtime_ns = e->mtime_ns;
	return true;
}

bool statcache_seen(const struct statcache *sc, const char *path, uint32_t *mode,
		    int64_t *mtime_ns)
{
	struct sc_entry *e = entry_get((struct statcache *)sc, path, false);

	if (!e || !e->checked)
		return false;
	*mode = e->mode;
	*mtime_ns = e->mtime_ns;
	return true;
}

const struct statcache_stats *statcache_stats(const struct statcache *sc)
{
	return &sc->stats;
}

static bool entry_matches(const struct statcache *sc, const struct sc_entry *e,
			  const struct stat *st)
{
	int64_t mt = ts_ns(st->st_mtim);
	return e->dev == (uint64_t)st->st_dev && e->ino == (uint64_t)st->st_ino &&
	       e->size == (uint64_t)st->st_size && e->mtime_ns == mt &&
	       e->ctime_ns == ts_ns(st->st_ctim) && e->mode == st->st_mode &&
	       mt < e->hashed_ns - RACY_NS && ts_ns(st->st_ctim) < e->hashed_ns - RACY_NS;
}

bool statcache_validate(struct statcache *sc, const char *path, const struct stat *sb)
{
	struct sc_entry *e = entry_get(sc, path, false);

	if (!e || (!S_ISREG(sb->st_mode) && !S_ISLNK(sb->st_mode)) || !entry_matches(sc, e, sb))
		return false;
	e->checked = true;
	return true;
}

int statcache_hash(struct statcache *sc, struct store *st, const char *path, unsigned flags,
		   struct gg_hash *out, uint32_t *mode)
{
	struct stat sb;
	struct sc_entry *e;
	struct timespec now;
	uint64_t size = 0;
	int ret;

	/* once per path and run: a run is a snapshot of the tree */
	e = entry_get(sc, path, false);
	if (e && e->checked && (e->stored || !(flags & STATCACHE_STORE))) {
		sc->stats.hits++;
		*out = e->hash;
		if (mode)
			*mode = e->mode;
		return 0;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	if (lstat(path, &sb) < 0)
		return -errno;
	if (mode)
		*mode = sb.st_mode;
	if (S_ISDIR(sb.st_mode))
		return -EISDIR;
	if (!S_ISREG(sb.st_mode) && !S_ISLNK(sb.st_mode))
		return -EINVAL;
	e = entry_get(sc, path, true);
	if (!e)
		return -ENOMEM;
	if (entry_matches(sc, e, &sb) &&
	    (!(flags & STATCACHE_STORE) || !S_ISREG(sb.st_mode) || store_has(st, &e->hash))) {
		sc->stats.hits++;
		e->checked = true;
		e->stored = e->stored || (flags & STATCACHE_STORE);
		*out = e->hash;
		return 0;
	}
	sc->stats.misses++;
	if (S_ISLNK(sb.st_mode)) {
		char target[PATH_MAX];
		ssize_t n = readlink(path, target, sizeof(target));
		if (n < 0)
			return -errno;
		ret = (flags & STATCACHE_STORE) ? store_put_buf(st, GG_HASH_VALUE, target, (size_t)n, out)
						: hash_buf(GG_HASH_VALUE, target, (size_t)n, out);
	} else if (flags & STATCACHE_STORE) {
		ret = store_put_file(st, path, out, &size);
	} else {
		ret = hash_file(path, out, &size);
	}
	if (ret < 0)
		return ret;
	sc->stats.bytes_hashed += size;
	/* stat again: the entry is valid only if nothing changed while hashing */
	if (lstat(path, &sb) == 0 && (uint64_t)sb.st_size == (S_ISLNK(sb.st_mode) ? (uint64_t)sb.st_size : size)) {
		e->dev = (uint64_t)sb.st_dev;
		e->ino = (uint64_t)sb.st_ino;
		e->size = (uint64_t)sb.st_size;
		e->mtime_ns = ts_ns(sb.st_mtim);
		e->ctime_ns = ts_ns(sb.st_ctim);
		e->mode = sb.st_mode;
		e->hash = *out;
		e->hashed_ns = ts_ns(now);
		e->checked = true;
		e->stored = (flags & STATCACHE_STORE) != 0;
		mark_changed(sc, e);
	}
	return 0;
}
