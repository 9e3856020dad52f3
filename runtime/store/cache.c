/*
 * cache.c - the results cache: one append-only log per .gg (see cache.h).
 *
 * States of a loaded log (struct rlog): `data` mirrors the file's bytes [0, len);
 * records in [HDR, parsed) are indexed (idx: key -> rec[]); len == parsed except
 * while a refresh runs.  The fd is O_APPEND (O_RDONLY when the .gg is read-only)
 * and names inode `ino`; when the file called results.log is another inode (compaction
 * by another process) the log is reloaded from scratch.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <msgpack.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/store/cache.h"
#include "runtime/lib/htab.h"
#include "runtime/lib/mpread.h"
#include "runtime/lib/util.h"

#define CACHE_MAGIC "ggcache"
#define LOG_MAGIC "GGRESLOG"
#define LOG_HDR 16u
#define REC_HDR 8u
#define KEY_LEN (1 + GG_HASH_LEN)
#define CACHE_LOG "cache/results.log"

void cache_entry_release(struct cache_entry *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->v[i].path);
	free(e->v);
	e->v = NULL;
	e->n = 0;
}

/* The rest of an array of n elements, `used` of them read. */
static int skip_rest(struct mpr *r, size_t n, size_t used)
{
	for (size_t i = used; i < n; i++)
		if (mpr_skip(r) < 0)
			return -EBADMSG;
	return 0;
}

int cache_entry_decode(const void *buf, size_t len, struct cache_entry *e)
{
	struct mpr r = { buf, (const uint8_t *)buf + len };
	size_t fields, nout;
	const char *magic;
	size_t mlen;
	uint64_t version;
	int ret = -EBADMSG;

	e->v = NULL;
	e->n = 0;
	if (mpr_array(&r, &fields) < 0 || fields < 3 || mpr_bytes(&r, &magic, &mlen) < 0 ||
	    mlen != strlen(CACHE_MAGIC) || memcmp(magic, CACHE_MAGIC, mlen) ||
	    mpr_uint(&r, &version) < 0 || version != CACHE_VERSION || mpr_array(&r, &nout) < 0)
		return -EBADMSG;
	if (!(e->v = calloc(nout + 1, sizeof(*e->v))))
		return -ENOMEM;
	for (size_t i = 0; i < nout; i++) {
		struct cache_output *co = &e->v[i];
		const char *path, *h;
		size_t n, plen, hlen;
		uint64_t mode;

		if (mpr_array(&r, &n) < 0 || n < 3 || mpr_bytes(&r, &path, &plen) < 0 ||
		    memchr(path, '\0', plen))
			goto out;
		if (!mpr_nil(&r)) { /* (nil: removed, value unset) */
			if (mpr_bytes(&r, &h, &hlen) < 0 || hlen != 1 + GG_HASH_LEN ||
			    h[0] != GG_HASH_VALUE)
				goto out;
			co->value.kind = GG_HASH_VALUE;
			memcpy(co->value.bytes, h + 1, GG_HASH_LEN);
		}
		if (mpr_uint(&r, &mode) < 0 || mode > UINT32_MAX || skip_rest(&r, n, 3) < 0)
			goto out;
		co->mode = (uint32_t)mode;
		if (!(co->path = strndup(path, plen))) {
			ret = -ENOMEM;
			goto out;
		}
		e->n = i + 1;
	}
	if (skip_rest(&r, fields, 3) < 0)
		goto out;
	return 0;
out:
	cache_entry_release(e);
	return ret;
}

int cache_entry_encode(const struct cache_entry *e, char **buf, size_t *len)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 3);
	msgpack_pack_str_with_body(&pk, CACHE_MAGIC, strlen(CACHE_MAGIC));
	msgpack_pack_uint32(&pk, CACHE_VERSION);
	msgpack_pack_array(&pk, e->n);
	for (size_t i = 0; i < e->n; i++) {
		unsigned char h[1 + GG_HASH_LEN];
		h[0] = GG_HASH_VALUE;
		memcpy(h + 1, e->v[i].value.bytes, GG_HASH_LEN);
		msgpack_pack_array(&pk, 3);
		msgpack_pack_str_with_body(&pk, e->v[i].path, strlen(e->v[i].path));
		if (hash_is_set(&e->v[i].value))
			msgpack_pack_bin_with_body(&pk, h, sizeof(h));
		else
			msgpack_pack_nil(&pk);
		msgpack_pack_uint32(&pk, e->v[i].mode);
	}
	if (!sb.data) { /* msgpack's sbuffer fails silently: it never allocated */
		msgpack_sbuffer_destroy(&sb);
		return -ENOMEM;
	}
	*len = sb.size;
	*buf = msgpack_sbuffer_release(&sb);
	return 0;
}

/* ---- the log ---- */

struct rrec {
	uint64_t off; /* of the payload in data */
	uint32_t len; /* payload bytes */
	bool live;
};

struct rlog {
	struct rlog *next;
	char *path; /* <ggdir>/cache/results.log */
	int fd;     /* -1: no file yet */
	bool rdonly;
	dev_t dev;
	ino_t ino;
	char *data; /* the file's bytes [0, len); owner: this log; cap: the file */
	size_t len, cap, parsed;
	struct rrec *rec;
	size_t nrec, caprec, live;
	struct htab idx;
};

static pthread_mutex_t logs_lock = PTHREAD_MUTEX_INITIALIZER;
static struct rlog *logs;

static uint32_t get_u32(const void *p)
{
	const unsigned char *b = p;
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void put_u32(void *p, uint32_t v)
{
	unsigned char *b = p;
	b[0] = (unsigned char)v;
	b[1] = (unsigned char)(v >> 8);
	b[2] = (unsigned char)(v >> 16);
	b[3] = (unsigned char)(v >> 24);
}

static uint32_t payload_check(const void *p, size_t n)
{
	struct gg_hash h;
	hash_buf(GG_HASH_VALUE, p, n, &h);
	return get_u32(h.bytes);
}

static uint64_t key_hash(const struct gg_hash *key)
{
	uint64_t h;
	memcpy(&h, key->bytes, sizeof(h));
	return h ^ key->kind;
}

static bool rec_eq(const void *ctx, uint32_t val, const void *key)
{
	const struct rlog *l = ctx;
	const struct gg_hash *k = key;
	const unsigned char *p = (const unsigned char *)l->data + l->rec[val].off;
	return p[0] == k->kind && !memcmp(p + 1, k->bytes, GG_HASH_LEN);
}

static void log_clear(struct rlog *l)
{
	free(l->data);
	free(l->rec);
	htab_release(&l->idx);
	l->data = NULL;
	l->rec = NULL;
	l->len = l->cap = l->parsed = l->nrec = l->caprec = l->live = 0;
	l->idx = (struct htab)HTAB_INIT;
}

static void log_close(struct rlog *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	log_clear(l);
}

/* Open (creating unless the directory is read-only) the file named l->path. */
static int log_open(struct rlog *l)
{
	struct stat st;

	l->rdonly = false;
	l->fd = open(l->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (l->fd < 0 && (errno == EACCES || errno == EROFS || errno == EPERM)) {
		l->rdonly = true;
		l->fd = open(l->path, O_RDONLY | O_CLOEXEC);
	}
	if (l->fd < 0)
		return -errno;
	if (fstat(l->fd, &st) < 0) {
		int ret = -errno;
		close(l->fd);
		l->fd = -1;
		return ret;
	}
	l->dev = st.st_dev;
	l->ino = st.st_ino;
	return 0;
}

/* Index the whole records of data[parsed, len).  Returns true when the bytes end
 * on a record boundary, false at a torn or bad record (parsed stops before it). */
static int log_scan(struct rlog *l, bool *whole)
{
	*whole = true;
	if (l->parsed < LOG_HDR) {
		if (l->len < LOG_HDR)
			return 0; /* empty, or a header being written */
		if (memcmp(l->data, LOG_MAGIC, 8) || get_u32(l->data + 8) != CACHE_LOG_VERSION) {
			*whole = false; /* another format: treated as empty */
			return 0;
		}
		l->parsed = LOG_HDR;
	}
	while (l->parsed < l->len) {
		size_t rem = l->len - l->parsed;
		const char *p = l->data + l->parsed;
		uint32_t n;
		struct gg_hash key;
		uint32_t *slot;
		int ret;

		if (rem < REC_HDR || (n = get_u32(p)) <= KEY_LEN || n > CACHE_MAX_RECORD ||
		    n > rem - REC_HDR || payload_check(p + REC_HDR, n) != get_u32(p + 4)) {
			*whole = false;
			return 0;
		}
		if (l->nrec == l->caprec) {
			size_t nc = l->caprec ? 2 * l->caprec : 1024;
			struct rrec *nr = realloc(l->rec, nc * sizeof(*nr));
			if (!nr)
				return -ENOMEM;
			l->rec = nr;
			l->caprec = nc;
		}
		if (l->nrec >= HTAB_NONE - 1)
			return -E2BIG;
		l->rec[l->nrec] = (struct rrec){ l->parsed + REC_HDR, n, true };
		key.kind = (uint8_t)p[REC_HDR];
		memcpy(key.bytes, p + REC_HDR + 1, GG_HASH_LEN);
		slot = htab_ref(&l->idx, key_hash(&key), rec_eq, l, &key);
		if (slot) {
			l->rec[*slot].live = false; /* last record wins */
			*slot = (uint32_t)l->nrec;
		} else {
			if ((ret = htab_add(&l->idx, key_hash(&key), (uint32_t)l->nrec)) < 0)
				return ret;
			l->live++;
		}
		l->nrec++;
		l->parsed += REC_HDR + n;
	}
	return 0;
}

/* Room for `want` bytes of the file in data. */
static int log_reserve(struct rlog *l, size_t want)
{
	if (want > l->cap) {
		size_t nc = want + want / 4 + 4096;
		char *nd = realloc(l->data, nc);
		if (!nd)
			return -ENOMEM;
		l->data = nd;
		l->cap = nc;
	}
	return 0;
}

/* Read the file's bytes from l->len to its end into data. */
static int log_read_tail(struct rlog *l)
{
	struct stat st;
	size_t want;
	int ret;

	if (fstat(l->fd, &st) < 0)
		return -errno;
	if ((size_t)st.st_size < l->len) { /* truncated by a recovering process */
		l->len = (size_t)st.st_size;
		if (l->parsed > l->len) {
			log_clear(l);
			return log_read_tail(l);
		}
	}
	want = (size_t)st.st_size;
	if ((ret = log_reserve(l, want)) < 0)
		return ret;
	while (l->len < want) {
		ssize_t r = pread(l->fd, l->data + l->len, want - l->len, (off_t)l->len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		l->len += (size_t)r;
	}
	return 0;
}

/* Truncate a torn tail (or reset a foreign header) under the lock; the caller holds
 * flock(LOCK_EX) and has read the file to its end. */
static int log_repair_locked(struct rlog *l)
{
	char hdr[LOG_HDR];

	if (l->rdonly)
		return 0; /* cannot repair: the bad tail is simply not indexed */
	if (l->parsed >= LOG_HDR) {
		if (ftruncate(l->fd, (off_t)l->parsed) < 0)
			return -errno;
		l->len = l->parsed;
		return 0;
	}
	if (l->len < LOG_HDR && l->len > 0 && ftruncate(l->fd, 0) < 0)
		return -errno;
	if (l->len >= LOG_HDR && ftruncate(l->fd, 0) < 0) /* another magic or version */
		return -errno;
	if (l->cap < LOG_HDR) {
		char *nd = realloc(l->data, 4096);
		if (!nd)
			return -ENOMEM;
		l->data = nd;
		l->cap = 4096;
	}
	memcpy(hdr, LOG_MAGIC, 8);
	put_u32(hdr + 8, CACHE_LOG_VERSION);
	put_u32(hdr + 12, 0);
	if (write(l->fd, hdr, sizeof(hdr)) != (ssize_t)sizeof(hdr))
		return -EIO;
	memcpy(l->data, hdr, sizeof(hdr));
	l->len = LOG_HDR;
	l->parsed = LOG_HDR;
	return 0;
}

/* Read and index what was appended since the last look.  A torn tail is looked at
 * again under the lock (an append in progress completes first) and cut off. */
static int log_refresh(struct rlog *l)
{
	bool whole;
	int ret;

	if ((ret = log_read_tail(l)) < 0 || (ret = log_scan(l, &whole)) < 0)
		return ret;
	if (whole)
		return 0;
	if (flock(l->fd, LOCK_EX) < 0)
		return -errno;
	if ((ret = log_read_tail(l)) == 0 && (ret = log_scan(l, &whole)) == 0 && !whole)
		ret = log_repair_locked(l);
	flock(l->fd, LOCK_UN);
	return ret;
}

/* Is l->fd still the file named l->path?  (Compaction renames a new one in; an
 * `rm -rf <ggdir>/cache` empties the cache.) */
static bool log_current(struct rlog *l)
{
	struct stat st;
	return stat(l->path, &st) == 0 && st.st_dev == l->dev && st.st_ino == l->ino;
}

/* Reopen after a compaction (ours or another process's) and index from scratch. */
static int log_reload(struct rlog *l)
{
	int ret;

	log_close(l);
	if ((ret = log_open(l)) < 0)
		return ret;
	return log_refresh(l);
}

/*
 * Rewrite the log with its live records only, when superseded ones dominate.
 * Holds the lock on the current file while it writes results.log.<pid>.tmp and renames
 * it into place; appenders waiting for that lock see a new inode and reopen.
 */
static int log_compact(struct rlog *l)
{
	char tmp[PATH_MAX];
	int fd = -1, ret;
	bool whole;

	if (l->rdonly || l->nrec < CACHE_COMPACT_MIN || l->live * 2 >= l->nrec)
		return 0;
	if (flock(l->fd, LOCK_EX) < 0)
		return -errno;
	if (!log_current(l)) {
		flock(l->fd, LOCK_UN);
		return log_reload(l);
	}
	if ((ret = log_read_tail(l)) < 0 || (ret = log_scan(l, &whole)) < 0)
		goto out_unlock;
	if (snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", l->path, (long)getpid()) >= (int)sizeof(tmp)) {
		ret = -ENAMETOOLONG;
		goto out_unlock;
	}
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
		ret = -errno;
		goto out_unlock;
	}
	{
		struct sbuf out = SBUF_INIT;
		sbuf_add(&out, l->data, LOG_HDR);
		for (size_t i = 0; i < l->nrec; i++)
			if (l->rec[i].live)
				sbuf_add(&out, l->data + l->rec[i].off - REC_HDR, REC_HDR + l->rec[i].len);
		ret = sbuf_error(&out);
		if (!ret) {
			size_t done = 0;
			while (done < out.len && !ret) {
				ssize_t w = write(fd, out.buf + done, out.len - done);
				if (w < 0 && errno != EINTR)
					ret = -errno;
				else if (w > 0)
					done += (size_t)w;
			}
		}
		sbuf_release(&out);
	}
	if (ret < 0 || close(fd) < 0) {
		ret = ret ?: -errno;
		fd = -1;
		goto out_unlink;
	}
	fd = -1;
	if (rename(tmp, l->path) < 0) {
		ret = -errno;
		goto out_unlink;
	}
	flock(l->fd, LOCK_UN);
	return log_reload(l);
out_unlink:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
out_unlock:
	flock(l->fd, LOCK_UN);
	return ret;
}

/* The loaded log of ggdir (loading it on first use); called with logs_lock held.
 * NULL with *err set when it cannot be read (a missing log is an empty one). */
static struct rlog *log_get(const char *ggdir, int *err)
{
	struct rlog *l;
	int ret;

	*err = 0;
	for (l = logs; l; l = l->next)
		if (!strncmp(l->path, ggdir, strlen(ggdir)) && !strcmp(l->path + strlen(ggdir), "/" CACHE_LOG))
			return l;
	if (!(l = calloc(1, sizeof(*l)))) {
		*err = -ENOMEM;
		return NULL;
	}
	l->fd = -1;
	l->idx = (struct htab)HTAB_INIT;
	if (asprintf(&l->path, "%s/" CACHE_LOG, ggdir) < 0) {
		free(l);
		*err = -ENOMEM;
		return NULL;
	}
	if ((ret = log_open(l)) == 0 && (ret = log_refresh(l)) == 0)
		ret = log_compact(l);
	if (ret < 0 && ret != -ENOENT) {
		log_close(l);
		free(l->path);
		free(l);
		*err = ret;
		return NULL;
	}
	l->next = logs;
	logs = l;
	return l;
}

/* The record of key, looking at the file again on a miss; logs_lock held. */
static const struct rrec *log_find(struct rlog *l, const struct gg_hash *key)
{
	uint32_t v = htab_find(&l->idx, key_hash(key), rec_eq, l, key);

	if (v == HTAB_NONE && l->fd < 0 && log_open(l) < 0)
		return NULL;
	if (v == HTAB_NONE && l->fd >= 0) {
		if (!log_current(l)) {
			if (log_reload(l) < 0)
				return NULL;
		} else if (log_refresh(l) < 0) {
			return NULL;
		}
		v = htab_find(&l->idx, key_hash(key), rec_eq, l, key);
	}
	return v == HTAB_NONE ? NULL : &l->rec[v];
}

void cache_reset(void)
{
	pthread_mutex_lock(&logs_lock);
	while (logs) {
		struct rlog *l = logs;
		logs = l->next;
		log_close(l);
		free(l->path);
		free(l);
	}
	pthread_mutex_unlock(&logs_lock);
}

bool cache_has(const char *ggdir, const struct gg_hash *key)
{
	struct rlog *l;
	bool ret = false;
	int err;

	pthread_mutex_lock(&logs_lock);
	if ((l = log_get(ggdir, &err)))
		ret = log_find(l, key) != NULL;
	pthread_mutex_unlock(&logs_lock);
	return ret;
}

int cache_get(const char *ggdir, const struct gg_hash *key, struct cache_entry *e)
{
	const struct rrec *r;
	struct rlog *l;
	int ret;

	e->v = NULL;
	e->n = 0;
	pthread_mutex_lock(&logs_lock);
	if (!(l = log_get(ggdir, &ret)))
		goto out_unlock;
	ret = -ENOENT;
	if ((r = log_find(l, key))) {
		ret = cache_entry_decode(l->data + r->off + KEY_LEN, r->len - KEY_LEN, e);
		if (ret == -EBADMSG)
			ret = -ENOENT; /* anything malformed is a miss */
	}
out_unlock:
	pthread_mutex_unlock(&logs_lock);
	return ret;
}

int cache_put(const char *ggdir, const struct gg_hash *key, const struct cache_entry *e)
{
	char *body = NULL, *rec = NULL;
	size_t blen, n;
	struct rlog *l;
	int ret, tries = 0;
	bool fresh = false;

	if ((ret = cache_entry_encode(e, &body, &blen)) < 0)
		return ret;
	n = KEY_LEN + blen;
	if (n > CACHE_MAX_RECORD) {
		ret = -EFBIG;
		goto out_free;
	}
	if (!(rec = malloc(REC_HDR + n))) {
		ret = -ENOMEM;
		goto out_free;
	}
	put_u32(rec, (uint32_t)n);
	rec[REC_HDR] = (char)key->kind;
	memcpy(rec + REC_HDR + 1, key->bytes, GG_HASH_LEN);
	memcpy(rec + REC_HDR + KEY_LEN, body, blen);
	put_u32(rec + 4, payload_check(rec + REC_HDR, n));

	pthread_mutex_lock(&logs_lock);
	if (!(l = log_get(ggdir, &ret)))
		goto out_unlock;
	for (;;) {
		struct stat st;
		ssize_t w;
		if (l->fd < 0 && (ret = log_open(l)) == -ENOENT) { /* no <ggdir>/cache yet */
			char *slash = strrchr(l->path, '/');
			*slash = '\0';
			ret = mkdir(l->path, 0755) < 0 && errno != EEXIST ? -errno : 0;
			*slash = '/';
			if (!ret)
				ret = log_open(l);
		}
		if (ret < 0)
			goto out_unlock;
		if (l->rdonly) {
			ret = -EROFS;
			goto out_unlock;
		}
		if (flock(l->fd, LOCK_EX) < 0) {
			ret = -errno;
			goto out_unlock;
		}
		if (!log_current(l)) { /* compacted meanwhile: append to the new file */
			flock(l->fd, LOCK_UN);
			if (++tries > 8) {
				ret = -EAGAIN;
				goto out_unlock;
			}
			if ((ret = log_reload(l)) < 0)
				goto out_unlock;
			continue;
		}
		if (fstat(l->fd, &st) < 0) {
			ret = -errno;
		} else if ((size_t)st.st_size < LOG_HDR || (l->parsed < LOG_HDR && l->len >= LOG_HDR)) {
			/* a new file, or one in another format: (re)write the header */
			if ((ret = log_read_tail(l)) == 0)
				ret = log_repair_locked(l);
		} else {
			ret = 0;
		}
		if (!ret) {
			/* nobody appended since this process last read: index the record from
			 * memory below instead of reading it back */
			fresh = (size_t)st.st_size == l->len && l->parsed == l->len;
			w = write(l->fd, rec, REC_HDR + n);
			ret = w == (ssize_t)(REC_HDR + n) ? 0 : w < 0 ? -errno : -ENOSPC;
			if (w > 0 && ret < 0 && ftruncate(l->fd, st.st_size > (off_t)LOG_HDR ? st.st_size : (off_t)LOG_HDR) < 0)
				ret = -errno; /* a short write: cut it off again */
		}
		flock(l->fd, LOCK_UN);
		break;
	}
	if (!ret && fresh && log_reserve(l, l->len + REC_HDR + n) == 0) {
		bool whole;
		memcpy(l->data + l->len, rec, REC_HDR + n);
		l->len += REC_HDR + n;
		ret = log_scan(l, &whole);
	} else if (!ret) {
		ret = log_refresh(l);
	}
out_unlock:
	pthread_mutex_unlock(&logs_lock);
out_free:
	free(rec);
	free(body);
	return ret;
}

int cache_foreach(const char *ggdir, cache_each_fn *fn, void *ctx)
{
	struct rlog *l;
	int ret;

	pthread_mutex_lock(&logs_lock);
	if (!(l = log_get(ggdir, &ret)))
		goto out_unlock;
	if (l->fd >= 0 && (ret = log_current(l) ? log_refresh(l) : log_reload(l)) < 0)
		goto out_unlock;
	for (size_t i = 0; i < l->nrec && !ret; i++) {
		const unsigned char *p = (const unsigned char *)l->data + l->rec[i].off;
		struct gg_hash key;
		struct cache_entry e;
		if (!l->rec[i].live)
			continue;
		key.kind = p[0];
		memcpy(key.bytes, p + 1, GG_HASH_LEN);
		if (cache_entry_decode(p + KEY_LEN, l->rec[i].len - KEY_LEN, &e) < 0)
			continue;
		ret = fn(ctx, &key, &e);
		cache_entry_release(&e);
	}
out_unlock:
	pthread_mutex_unlock(&logs_lock);
	return ret;
}
