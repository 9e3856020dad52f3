/*
 * cache.c - the results cache (see cache.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/store/cache.h"
#include "runtime/lib/util.h"

#define CACHE_MAGIC "ggcache"
#define CACHE_MAX_FILE (64u << 20)

void cache_entry_release(struct cache_entry *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->v[i].path);
	free(e->v);
	e->v = NULL;
	e->n = 0;
}

static int entry_path(const char *ggdir, const struct gg_hash *key, char *out, size_t cap,
		      size_t *dirlen)
{
	char hex[2 * GG_HASH_LEN + 1];
	int n;

	hash_digest_hex(key, hex);
	n = snprintf(out, cap, "%s/cache/%.2s", ggdir, hex);
	if (n < 0 || (size_t)n >= cap)
		return -ENAMETOOLONG;
	*dirlen = (size_t)n;
	n = snprintf(out + n, cap - (size_t)n, "/%s", hex + 2);
	return n < 0 || (size_t)n >= cap - *dirlen ? -ENAMETOOLONG : 0;
}

bool cache_has(const char *ggdir, const struct gg_hash *key)
{
	char path[PATH_MAX];
	size_t dl;
	return entry_path(ggdir, key, path, sizeof(path), &dl) == 0 && access(path, F_OK) == 0;
}

int cache_get(const char *ggdir, const struct gg_hash *key, struct cache_entry *e)
{
	char path[PATH_MAX];
	struct sbuf data = SBUF_INIT;
	msgpack_unpacked up;
	const msgpack_object *f, *outs;
	size_t dl, off = 0;
	int ret;

	e->v = NULL;
	e->n = 0;
	if ((ret = entry_path(ggdir, key, path, sizeof(path), &dl)) < 0)
		return ret;
	if ((ret = file_read_all(path, &data, CACHE_MAX_FILE)) < 0) {
		sbuf_release(&data);
		return ret == -ENOENT ? ret : -EIO;
	}
	msgpack_unpacked_init(&up);
	ret = -ENOENT; /* anything malformed is a miss */
	if (msgpack_unpack_next(&up, data.buf, data.len, &off) != MSGPACK_UNPACK_SUCCESS)
		goto out;
	f = up.data.via.array.ptr;
	if (up.data.type != MSGPACK_OBJECT_ARRAY || up.data.via.array.size < 3 ||
	    f[0].type != MSGPACK_OBJECT_STR || f[0].via.str.size != strlen(CACHE_MAGIC) ||
	    memcmp(f[0].via.str.ptr, CACHE_MAGIC, f[0].via.str.size) ||
	    f[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER || f[1].via.u64 != CACHE_VERSION ||
	    f[2].type != MSGPACK_OBJECT_ARRAY)
		goto out;
	outs = &f[2];
	e->v = calloc(outs->via.array.size + 1, sizeof(*e->v));
	if (!e->v) {
		ret = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < outs->via.array.size; i++) {
		const msgpack_object *o = &outs->via.array.ptr[i], *x;
		struct cache_output *co = &e->v[i];
		if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size < 3)
			goto out_bad;
		x = o->via.array.ptr;
		if (x[0].type != MSGPACK_OBJECT_STR ||
		    (x[1].type != MSGPACK_OBJECT_NIL &&
		     (x[1].type != MSGPACK_OBJECT_BIN || x[1].via.bin.size != 1 + GG_HASH_LEN ||
		      x[1].via.bin.ptr[0] != GG_HASH_VALUE)) ||
		    x[2].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
			goto out_bad;
		co->path = strndup(x[0].via.str.ptr, x[0].via.str.size);
		e->n = i + 1;
		if (!co->path) {
			ret = -ENOMEM;
			goto out;
		}
		if (x[1].type == MSGPACK_OBJECT_BIN) { /* (nil: removed, value unset) */
			co->value.kind = GG_HASH_VALUE;
			memcpy(co->value.bytes, x[1].via.bin.ptr + 1, GG_HASH_LEN);
		}
		co->mode = (uint32_t)x[2].via.u64;
	}
	ret = 0;
	goto out;
out_bad:
	ret = -ENOENT;
out:
	if (ret < 0)
		cache_entry_release(e);
	msgpack_unpacked_destroy(&up);
	sbuf_release(&data);
	return ret;
}

int cache_put(const char *ggdir, const struct gg_hash *key, const struct cache_entry *e)
{
	char path[PATH_MAX];
	msgpack_sbuffer sb;
	msgpack_packer pk;
	size_t dl;
	int ret;

	if ((ret = entry_path(ggdir, key, path, sizeof(path), &dl)) < 0)
		return ret;
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
	/* <ggdir>/cache, then the shard */
	path[dl] = '\0';
	{
		char *slash = strrchr(path, '/');
		*slash = '\0';
		mkdir(path, 0755);
		*slash = '/';
	}
	if (mkdir(path, 0755) < 0 && errno != EEXIST) {
		ret = -errno;
		goto out;
	}
	entry_path(ggdir, key, path, sizeof(path), &dl);
	ret = file_write_atomic(path, sb.data, sb.size, false);
out:
	msgpack_sbuffer_destroy(&sb);
	return ret;
}
