/*
 * statcache.c - path -> (stat data, content hash), persisted (see statcache.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "runtime/store/statcache.h"
#include "runtime/lib/util.h"

#define MAGIC "GGSTATC\n"
/* File timestamps are taken from a coarse clock (a jiffy, up to 10 ms): an mtime
 * closer than this to the moment of hashing could hide a later write. */
#define RACY_NS 50000000
#define MAX_ENTRIES (16u << 20)

struct sc_entry {
	char *path;
	uint64_t dev, ino, size;
	int64_t mtime_ns, ctime_ns;
	uint32_t mode;
	struct gg_hash hash;
	int64_t hashed_ns; /* when the hash was taken */
	bool checked;      /* validated (and stored, if asked) since statcache_open */
	bool stored;
};

struct statcache {
	char *file;
	char *loaded;   /* the paths of the entries read from the file, one block */
	size_t loaded_len;
	struct sc_entry *ent; /* in the order they were added */
	size_t n, alloc;
	struct htab ix; /* str_hash(path) -> index into ent */
	int64_t saved_ns; /* when the loaded file was written */
	bool dirty;
	struct statcache_stats stats;
};

static int64_t ts_ns(struct timespec ts)
{
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
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

static uint32_t rd32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const unsigned char *p)
{
	return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static int load(struct statcache *sc, const unsigned char *b, size_t len)
{
	size_t off = 24;
	uint32_t count;

	if (len < 24 || memcmp(b, MAGIC, 8) || rd32(b + 8) != STATCACHE_VERSION)
		return -EBADMSG;
	count = rd32(b + 12);
	sc->saved_ns = (int64_t)rd64(b + 16);
	if (count > MAX_ENTRIES || count > len / (4 + 1 + 8 * 6 + 4 + 17))
		return -EBADMSG;
	/* one block for the paths (each shorter than its record), room made once */
	if (!(sc->loaded = malloc(len)) || htab_reserve(&sc->ix, count) < 0 ||
	    !(sc->ent = malloc((count ? count : 1) * sizeof(*sc->ent))))
		return -ENOMEM;
	sc->loaded_len = len;
	sc->alloc = count ? count : 1;
	for (uint32_t i = 0, at = 0; i < count; i++) {
		uint32_t pl;
		char *path = sc->loaded + at;
		struct sc_entry *e;

		if (len - off < 4)
			return -EBADMSG;
		pl = rd32(b + off);
		off += 4;
		if (pl == 0 || pl >= PATH_MAX || len - off < pl + 8 * 6 + 4 + 17)
			return -EBADMSG;
		memcpy(path, b + off, pl);
		path[pl] = '\0';
		at += pl + 1;
		off += pl;
		e = entry_get(sc, path, true);
		if (!e)
			return -ENOMEM;
		e->dev = rd64(b + off);
		e->ino = rd64(b + off + 8);
		e->size = rd64(b + off + 16);
		e->mtime_ns = (int64_t)rd64(b + off + 24);
		e->ctime_ns = (int64_t)rd64(b + off + 32);
		e->mode = rd32(b + off + 40);
		e->hash.kind = b[off + 44];
		memcpy(e->hash.bytes, b + off + 45, GG_HASH_LEN);
		e->hashed_ns = (int64_t)rd64(b + off + 61);
		off += 44 + 17 + 8;
		if (!hash_kind_valid(e->hash.kind))
			return -EBADMSG;
	}
	return 0;
}

static void clear(struct statcache *sc)
{
	for (size_t i = 0; i < sc->n; i++)
		if (!path_loaded(sc, sc->ent[i].path))
			free(sc->ent[i].path);
	free(sc->loaded);
	sc->loaded = NULL;
	sc->loaded_len = 0;
	free(sc->ent);
	htab_release(&sc->ix);
	sc->ent = NULL;
	sc->n = sc->alloc = 0;
}

int statcache_open(struct statcache **out, const char *ggdir)
{
	struct statcache *sc = calloc(1, sizeof(*sc));
	struct sbuf data = SBUF_INIT;
	int ret = 0, rr;

	*out = NULL;
	if (!sc)
		return -ENOMEM;
	if (asprintf(&sc->file, "%s/statcache", ggdir) < 0) {
		free(sc);
		return -ENOMEM;
	}
	rr = file_read_all(sc->file, &data, 0);
	if (rr != -ENOENT) {
		if (rr < 0 || load(sc, (unsigned char *)data.buf, data.len) < 0) {
			clear(sc);
			sc->saved_ns = 0;
			ret = 1;
		}
	}
	sbuf_release(&data);
	*out = sc;
	return ret;
}

static void put32(struct sbuf *sb, uint32_t v)
{
	unsigned char b[4] = { (unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
			       (unsigned char)(v >> 24) };
	sbuf_add(sb, b, 4);
}

static void put64(struct sbuf *sb, uint64_t v)
{
	put32(sb, (uint32_t)v);
	put32(sb, (uint32_t)(v >> 32));
}

int statcache_save(struct statcache *sc)
{
	struct sbuf sb = SBUF_INIT;
	struct timespec now;
	int ret = 0;

	if (!sc->dirty)
		return 0;
	clock_gettime(CLOCK_REALTIME, &now);
	sbuf_add(&sb, MAGIC, 8);
	put32(&sb, STATCACHE_VERSION);
	put32(&sb, (uint32_t)sc->n);
	put64(&sb, (uint64_t)ts_ns(now));
	for (size_t i = 0; i < sc->n; i++) {
		const struct sc_entry *e = &sc->ent[i];
		put32(&sb, (uint32_t)strlen(e->path));
		sbuf_addstr(&sb, e->path);
		put64(&sb, e->dev);
		put64(&sb, e->ino);
		put64(&sb, e->size);
		put64(&sb, (uint64_t)e->mtime_ns);
		put64(&sb, (uint64_t)e->ctime_ns);
		put32(&sb, e->mode);
		sbuf_addch(&sb, (char)e->hash.kind);
		sbuf_add(&sb, e->hash.bytes, GG_HASH_LEN);
		put64(&sb, (uint64_t)e->hashed_ns);
	}
	if ((ret = sbuf_error(&sb)) < 0)
		goto out;
	if ((ret = file_write_atomic(sc->file, sb.buf, sb.len, false)) == 0)
		sc->dirty = false;
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

void statcache_forget(struct statcache *sc, const char *path)
{
	struct sc_entry *e = entry_get(sc, path, false);
	if (e) {
		e->size = UINT64_MAX; /* never matches again */
		e->checked = false;
		sc->dirty = true;
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
		sc->dirty = true;
	}
	return 0;
}
