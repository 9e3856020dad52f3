/*
 * thunk.c - the thunk IR, its canonical msgpack encoding and its strict decoder
 * (see thunk.h for the layout byte by byte).
 *
 * Encoding uses msgpack-c's packer (header-only, shortest forms) over a capped
 * buffer.  Decoding is hand-written rather than msgpack_unpack: it must reject every
 * non-canonical form (the packer's shortest-form choice is part of the format),
 * check each count against the bytes left before allocating, and never build a
 * generic object tree for untrusted input.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <msgpack.h>

#include "runtime/ir/thunk.h"
#include "runtime/lib/util.h"

#define HASH_BIN_LEN (1 + GG_HASH_LEN)
#define THUNK_FIELDS 16

/* Smallest encodings of list elements: used to bound counts before allocating. */
#define MIN_STR_BYTES 1     /* fixstr "" */
#define MIN_PATH_BYTES 2    /* fixstr of one byte */
#define MIN_INPUT_BYTES 24  /* 94, path (2), c4 11 + 17, output (1), mode (1) */
#define MIN_LISTING_BYTES 22 /* 92, path (2), c4 11 + 17 */

static const char *const local_names[] = {
	"stdin", "terminal", "network", "writes-outside-tree",
	"opaque-binary", "urandom", "outlived-driver", "deletes-foreign-files",
};

const char *thunk_local_name(unsigned bit)
{
	for (unsigned i = 0; i < sizeof(local_names) / sizeof(local_names[0]); i++)
		if (bit == 1u << i)
			return local_names[i];
	return NULL;
}

int thunk_local_from_name(const char *name)
{
	for (unsigned i = 0; i < sizeof(local_names) / sizeof(local_names[0]); i++)
		if (strcmp(name, local_names[i]) == 0)
			return (int)(1u << i);
	return -EINVAL;
}

/* ---- lifecycle ------------------------------------------------------------ */

void thunk_init(struct thunk *t)
{
	*t = (struct thunk)THUNK_INIT;
}

static void strv_release(struct thunk_strv *v)
{
	for (size_t i = 0; i < v->n; i++)
		free(v->v[i]);
	free(v->v);
	*v = (struct thunk_strv){ 0 };
}

static void inputs_release(struct thunk_inputs *v)
{
	for (size_t i = 0; i < v->n; i++)
		free(v->v[i].path);
	free(v->v);
	*v = (struct thunk_inputs){ 0 };
}

static void listings_release(struct thunk_listings *v)
{
	for (size_t i = 0; i < v->n; i++)
		free(v->v[i].path);
	free(v->v);
	*v = (struct thunk_listings){ 0 };
}

void thunk_release(struct thunk *t)
{
	free(t->exe.path);
	free(t->interp);
	strv_release(&t->argv);
	strv_release(&t->env);
	free(t->cwd);
	inputs_release(&t->inputs);
	strv_release(&t->missing);
	strv_release(&t->notdir);
	listings_release(&t->listings);
	inputs_release(&t->objects);
	strv_release(&t->outputs);
	thunk_init(t);
}

/* ---- builders ------------------------------------------------------------- */

/* Make room for one more element in an array of `elem`-byte elements. */
static int grow(void **v, size_t *alloc, size_t n, size_t elem)
{
	size_t want;
	void *p;

	if (n < *alloc)
		return 0;
	if (n >= THUNK_MAX_LIST)
		return -E2BIG;
	want = *alloc ? *alloc * 2 : 8;
	if (want > THUNK_MAX_LIST)
		want = THUNK_MAX_LIST;
	p = reallocarray(*v, want, elem);
	if (!p)
		return -ENOMEM;
	*v = p;
	*alloc = want;
	return 0;
}

static int dup_str(const char *s, bool nonempty, char **out)
{
	size_t len;

	if (!s)
		return -EINVAL;
	len = strlen(s);
	if ((nonempty && len == 0) || len > THUNK_MAX_STR)
		return -EINVAL;
	*out = strdup(s);
	return *out ? 0 : -ENOMEM;
}

static int strv_add(struct thunk_strv *v, const char *s, bool nonempty)
{
	char *copy;
	int ret;

	ret = grow((void **)&v->v, &v->alloc, v->n, sizeof(*v->v));
	if (ret < 0)
		return ret;
	ret = dup_str(s, nonempty, &copy);
	if (ret < 0)
		return ret;
	v->v[v->n++] = copy;
	return 0;
}

static bool input_hash_ok(const struct gg_hash *h, uint32_t output)
{
	return (h->kind == GG_HASH_VALUE && output == 0) || h->kind == GG_HASH_THUNK;
}

static int input_fill(struct thunk_input *in, const char *path, const struct gg_hash *h,
		      uint32_t output, uint32_t mode)
{
	int ret;

	if (!h || !input_hash_ok(h, output))
		return -EINVAL;
	ret = dup_str(path, true, &in->path);
	if (ret < 0)
		return ret;
	in->hash = *h;
	in->output = output;
	in->mode = mode;
	return 0;
}

static int inputs_add(struct thunk_inputs *v, const char *path, const struct gg_hash *h,
		      uint32_t output, uint32_t mode)
{
	int ret;

	ret = grow((void **)&v->v, &v->alloc, v->n, sizeof(*v->v));
	if (ret < 0)
		return ret;
	ret = input_fill(&v->v[v->n], path, h, output, mode);
	if (ret < 0)
		return ret;
	v->n++;
	return 0;
}

int thunk_set_exe(struct thunk *t, const char *path, const struct gg_hash *h,
		  uint32_t output, uint32_t mode)
{
	struct thunk_input in = { 0 };
	int ret;

	ret = input_fill(&in, path, h, output, mode);
	if (ret < 0)
		return ret;
	free(t->exe.path);
	t->exe = in;
	return 0;
}

static int set_str(char **field, const char *s)
{
	char *copy;
	int ret;

	ret = dup_str(s, false, &copy);
	if (ret < 0)
		return ret;
	free(*field);
	*field = copy;
	return 0;
}

int thunk_set_interp(struct thunk *t, const char *path)
{
	return set_str(&t->interp, path);
}

int thunk_set_cwd(struct thunk *t, const char *path)
{
	return set_str(&t->cwd, path);
}

int thunk_add_arg(struct thunk *t, const char *arg)
{
	return strv_add(&t->argv, arg, false);
}

int thunk_set_argv(struct thunk *t, char *const argv[])
{
	int ret = 0;

	strv_release(&t->argv);
	for (size_t i = 0; argv && argv[i]; i++) {
		ret = strv_add(&t->argv, argv[i], false);
		if (ret < 0) {
			strv_release(&t->argv);
			break;
		}
	}
	return ret;
}

int thunk_add_input(struct thunk *t, const char *path, const struct gg_hash *h,
		    uint32_t output, uint32_t mode)
{
	return inputs_add(&t->inputs, path, h, output, mode);
}

int thunk_add_object(struct thunk *t, const char *path, const struct gg_hash *h,
		     uint32_t output, uint32_t mode)
{
	return inputs_add(&t->objects, path, h, output, mode);
}

int thunk_add_missing(struct thunk *t, const char *path)
{
	return strv_add(&t->missing, path, true);
}

int thunk_add_notdir(struct thunk *t, const char *path)
{
	return strv_add(&t->notdir, path, true);
}

int thunk_add_output(struct thunk *t, const char *path)
{
	return strv_add(&t->outputs, path, true);
}

int thunk_add_listing(struct thunk *t, const char *path, const struct gg_hash *h)
{
	struct thunk_listings *v = &t->listings;
	char *copy;
	int ret;

	if (!h || h->kind != GG_HASH_LIST)
		return -EINVAL;
	ret = grow((void **)&v->v, &v->alloc, v->n, sizeof(*v->v));
	if (ret < 0)
		return ret;
	ret = dup_str(path, true, &copy);
	if (ret < 0)
		return ret;
	v->v[v->n].path = copy;
	v->v[v->n].hash = *h;
	v->n++;
	return 0;
}

/* ---- environment ---------------------------------------------------------- */

static bool contains_ci(const char *s, size_t len, const char *pat)
{
	size_t plen = strlen(pat);

	for (size_t i = 0; i + plen <= len; i++)
		if (strncasecmp(s + i, pat, plen) == 0)
			return true;
	return false;
}

static bool name_is(const char *name, size_t len, const char *want)
{
	return strlen(want) == len && memcmp(name, want, len) == 0;
}

bool thunk_env_is_secret(const char *name, size_t len)
{
	static const char *const exact[] = {
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
	};
	static const char *const parts[] = {
		"TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL",
		"API_KEY", "APIKEY", "PRIVATE_KEY",
	};

	for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
		if (name_is(name, len, exact[i]))
			return true;
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		if (contains_ci(name, len, parts[i]))
			return true;
	return false;
}

bool thunk_env_keep(const char *entry, const char *const *allow)
{
	const char *eq = strchr(entry, '=');
	size_t len;

	if (!eq || eq == entry)
		return false;
	len = (size_t)(eq - entry);
	/* Never part of a command's meaning: the shim, and gg's own settings. */
	if (name_is(entry, len, "LD_PRELOAD") || (len >= 3 && memcmp(entry, "GG_", 3) == 0))
		return false;
	if (!thunk_env_is_secret(entry, len))
		return true;
	for (size_t i = 0; allow && allow[i]; i++)
		if (name_is(entry, len, allow[i]))
			return true;
	return false;
}

static size_t env_name_len(const char *entry)
{
	const char *eq = strchr(entry, '=');

	return eq ? (size_t)(eq - entry) : strlen(entry);
}

int thunk_add_env(struct thunk *t, const char *entry, const char *const *allow)
{
	size_t len;
	int ret;

	if (!entry)
		return -EINVAL;
	if (!thunk_env_keep(entry, allow))
		return 0;
	len = env_name_len(entry);
	for (size_t i = 0; i < t->env.n; i++)
		if (env_name_len(t->env.v[i]) == len && memcmp(t->env.v[i], entry, len) == 0)
			return 0; /* first wins, as for getenv(3) */
	ret = strv_add(&t->env, entry, false);
	return ret < 0 ? ret : 1;
}

int thunk_set_env(struct thunk *t, char *const envp[], const char *const *allow)
{
	int ret = 0;

	strv_release(&t->env);
	for (size_t i = 0; envp && envp[i]; i++) {
		ret = thunk_add_env(t, envp[i], allow);
		if (ret < 0) {
			strv_release(&t->env);
			return ret;
		}
	}
	return 0;
}

/* ---- listings ------------------------------------------------------------- */

static int cmp_strp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int thunk_listing_hash(const char *const *names, size_t n, struct gg_hash *out)
{
	const char **sorted;
	struct hash_stream *hs;

	sorted = n ? malloc(n * sizeof(*sorted)) : NULL;
	if (n && !sorted)
		return -ENOMEM;
	hs = hash_stream_new(GG_HASH_LIST);
	if (!hs) {
		free(sorted);
		return -ENOMEM;
	}
	if (n) {
		memcpy(sorted, names, n * sizeof(*sorted));
		qsort(sorted, n, sizeof(*sorted), cmp_strp);
	}
	for (size_t i = 0; i < n; i++) {
		if (strcmp(sorted[i], ".") == 0 || strcmp(sorted[i], "..") == 0)
			continue;
		hash_stream_update(hs, sorted[i], strlen(sorted[i]) + 1);
	}
	hash_stream_final(hs, out);
	hash_stream_free(hs);
	free(sorted);
	return 0;
}

/* ---- canonical form --------------------------------------------------------- */

static int cmp_input(const void *a, const void *b)
{
	return strcmp(((const struct thunk_input *)a)->path, ((const struct thunk_input *)b)->path);
}

static int cmp_listing(const void *a, const void *b)
{
	return strcmp(((const struct thunk_listing *)a)->path,
		      ((const struct thunk_listing *)b)->path);
}

static bool input_same(const void *x, const void *y)
{
	const struct thunk_input *a = x, *b = y;
	return hash_equal(&a->hash, &b->hash) && a->output == b->output && a->mode == b->mode;
}

static bool listing_same(const void *x, const void *y)
{
	return hash_equal(&((const struct thunk_listing *)x)->hash,
			  &((const struct thunk_listing *)y)->hash);
}

/*
 * Sort n elements unless they already are (the common case: a decoded or already
 * canonicalized thunk), so canonicalizing twice costs one pass.
 */
static void sort_if_needed(void *base, size_t n, size_t size,
			   int (*cmp)(const void *, const void *))
{
	for (size_t i = 1; i < n; i++) {
		if (cmp((char *)base + (i - 1) * size, (char *)base + i * size) > 0) {
			qsort(base, n, size, cmp);
			return;
		}
	}
}

/* Sort a string list; drop exact duplicates. */
static void strv_canon(struct thunk_strv *v)
{
	size_t out = 0;

	sort_if_needed(v->v, v->n, sizeof(*v->v), cmp_strp);
	for (size_t i = 0; i < v->n; i++) {
		if (out > 0 && strcmp(v->v[out - 1], v->v[i]) == 0) {
			free(v->v[i]);
			continue;
		}
		v->v[out++] = v->v[i];
	}
	v->n = out;
}

/*
 * Sort a list of `size`-byte elements that start with their owned path, and drop
 * the exact duplicates of a path; two of one path that differ otherwise (same()
 * says no) are -EINVAL.
 */
static int paths_canon(void *base, size_t *n, size_t size, int (*cmp)(const void *, const void *),
		       bool (*same)(const void *, const void *))
{
	char *v = base;
	size_t out = 0;

	sort_if_needed(base, *n, size, cmp);
	for (size_t i = 0; i < *n; i++) {
		char *prev = out ? v + (out - 1) * size : NULL, *cur = v + i * size;
		if (prev && strcmp(*(char **)prev, *(char **)cur) == 0) {
			if (!same(prev, cur))
				return -EINVAL;
			free(*(char **)cur);
			continue;
		}
		if (out != i)
			memcpy(v + out * size, cur, size);
		out++;
	}
	*n = out;
	return 0;
}

static int inputs_canon(struct thunk_inputs *v)
{
	return paths_canon(v->v, &v->n, sizeof(*v->v), cmp_input, input_same);
}

static int listings_canon(struct thunk_listings *v)
{
	return paths_canon(v->v, &v->n, sizeof(*v->v), cmp_listing, listing_same);
}

static int env_canon(struct thunk_strv *v)
{
	strv_canon(v);
	/* Entries of one name share the prefix "NAME=", so they are adjacent now. */
	for (size_t i = 1; i < v->n; i++) {
		size_t a = env_name_len(v->v[i - 1]), b = env_name_len(v->v[i]);

		if (a == b && memcmp(v->v[i - 1], v->v[i], a) == 0)
			return -EINVAL;
	}
	return 0;
}

/* Do two sorted string lists share an entry? */
static bool strv_overlap(const struct thunk_strv *a, const struct thunk_strv *b)
{
	size_t i = 0, j = 0;

	while (i < a->n && j < b->n) {
		int c = strcmp(a->v[i], b->v[j]);

		if (!c)
			return true;
		if (c < 0)
			i++;
		else
			j++;
	}
	return false;
}

int thunk_canonicalize(struct thunk *t)
{
	int ret;

	strv_canon(&t->missing);
	strv_canon(&t->notdir);
	strv_canon(&t->outputs);
	if (strv_overlap(&t->missing, &t->notdir))
		return -EINVAL;
	if ((ret = env_canon(&t->env)) < 0 || (ret = inputs_canon(&t->inputs)) < 0 ||
	    (ret = inputs_canon(&t->objects)) < 0 || (ret = listings_canon(&t->listings)) < 0)
		return ret;
	return 0;
}

/* ---- encoding ----------------------------------------------------------------- */

struct enc {
	char *buf;  /* owned until handed to the caller */
	size_t len, cap;
	int err;    /* first error: -ENOMEM, -E2BIG, -EINVAL */
	thunk_resolve_fn *resolve; /* NULL: encode references as they are */
	void *ctx;
};

static int enc_write(void *data, const char *p, size_t n)
{
	struct enc *e = data;

	if (e->err)
		return -1;
	if (n > THUNK_MAX_ENCODED - e->len) {
		e->err = -E2BIG;
		return -1;
	}
	if (e->len + n > e->cap) {
		size_t want = e->cap ? e->cap : 256;
		char *b;

		while (want < e->len + n)
			want *= 2;
		if (want > THUNK_MAX_ENCODED)
			want = THUNK_MAX_ENCODED;
		b = realloc(e->buf, want);
		if (!b) {
			e->err = -ENOMEM;
			return -1;
		}
		e->buf = b;
		e->cap = want;
	}
	memcpy(e->buf + e->len, p, n);
	e->len += n;
	return 0;
}

static void enc_fail(struct enc *e, int err)
{
	if (!e->err)
		e->err = err;
}

static void pack_strn(msgpack_packer *pk, const char *s, size_t len)
{
	msgpack_pack_str_with_body(pk, s, len);
}

static void pack_str(msgpack_packer *pk, const char *s, bool nonempty)
{
	struct enc *e = pk->data;
	size_t len = s ? strlen(s) : 0;

	if (len > THUNK_MAX_STR || (nonempty && len == 0))
		enc_fail(e, -EINVAL);
	pack_strn(pk, s ? s : "", len);
}

static void pack_hash(msgpack_packer *pk, const struct gg_hash *h)
{
	msgpack_pack_bin(pk, HASH_BIN_LEN);
	msgpack_pack_bin_body(pk, &h->kind, 1);
	msgpack_pack_bin_body(pk, h->bytes, GG_HASH_LEN);
}

static void pack_input(msgpack_packer *pk, const struct thunk_input *in)
{
	struct enc *e = pk->data;
	struct gg_hash h = in->hash;
	uint32_t output = in->output;

	if (!input_hash_ok(&h, output))
		enc_fail(e, -EINVAL);
	if (h.kind == GG_HASH_THUNK && e->resolve) {
		int ret = e->resolve(e->ctx, &in->hash, in->output, &h);

		if (ret < 0)
			enc_fail(e, ret);
		else if (h.kind != GG_HASH_VALUE)
			enc_fail(e, -EINVAL);
		output = 0;
	}
	msgpack_pack_array(pk, 4);
	pack_str(pk, in->path, true);
	pack_hash(pk, &h);
	msgpack_pack_uint32(pk, output);
	msgpack_pack_uint32(pk, in->mode);
}

static void pack_strv(msgpack_packer *pk, const struct thunk_strv *v, bool nonempty)
{
	if (v->n > THUNK_MAX_LIST)
		enc_fail(pk->data, -EINVAL);
	msgpack_pack_array(pk, v->n);
	for (size_t i = 0; i < v->n; i++)
		pack_str(pk, v->v[i], nonempty);
}

static void pack_inputs(msgpack_packer *pk, const struct thunk_inputs *v)
{
	if (v->n > THUNK_MAX_LIST)
		enc_fail(pk->data, -EINVAL);
	msgpack_pack_array(pk, v->n);
	for (size_t i = 0; i < v->n; i++)
		pack_input(pk, &v->v[i]);
}

static int encode(struct thunk *t, thunk_resolve_fn *resolve, void *ctx, char **buf,
		  size_t *len)
{
	struct enc e = { .resolve = resolve, .ctx = ctx };
	msgpack_packer pk;
	int ret;

	ret = thunk_canonicalize(t);
	if (ret < 0)
		return ret;
	if (!t->exe.path || t->umask > 0777 || (t->local & ~THUNK_LOCAL_ALL) ||
	    (t->pure && t->local) || t->listings.n > THUNK_MAX_LIST)
		return -EINVAL;
	msgpack_packer_init(&pk, &e, enc_write);
	msgpack_pack_array(&pk, THUNK_FIELDS);
	pack_strn(&pk, THUNK_MAGIC, strlen(THUNK_MAGIC));
	msgpack_pack_uint32(&pk, THUNK_VERSION);
	pack_input(&pk, &t->exe);
	pack_str(&pk, t->interp, false);
	pack_strv(&pk, &t->argv, false);
	pack_strv(&pk, &t->env, false);
	pack_str(&pk, t->cwd, false);
	msgpack_pack_uint32(&pk, t->umask);
	pack_inputs(&pk, &t->inputs);
	pack_strv(&pk, &t->missing, true);
	pack_strv(&pk, &t->notdir, true);
	msgpack_pack_array(&pk, t->listings.n);
	for (size_t i = 0; i < t->listings.n; i++) {
		const struct thunk_listing *l = &t->listings.v[i];

		if (l->hash.kind != GG_HASH_LIST)
			enc_fail(&e, -EINVAL);
		msgpack_pack_array(&pk, 2);
		pack_str(&pk, l->path, true);
		pack_hash(&pk, &l->hash);
	}
	pack_inputs(&pk, &t->objects);
	pack_strv(&pk, &t->outputs, true);
	msgpack_pack_uint32(&pk, t->local);
	if (t->pure)
		msgpack_pack_true(&pk);
	else
		msgpack_pack_false(&pk);
	if (e.err) {
		free(e.buf);
		return e.err;
	}
	*buf = e.buf;
	*len = e.len;
	return 0;
}

int thunk_encode(struct thunk *t, char **buf, size_t *len)
{
	return encode(t, NULL, NULL, buf, len);
}

static int hash_encoding(struct thunk *t, thunk_resolve_fn *resolve, void *ctx,
			 struct gg_hash *out)
{
	char *buf;
	size_t len;
	int ret;

	ret = encode(t, resolve, ctx, &buf, &len);
	if (ret < 0)
		return ret;
	ret = hash_buf(GG_HASH_THUNK, buf, len, out);
	free(buf);
	return ret;
}

int thunk_hash(struct thunk *t, struct gg_hash *out)
{
	return hash_encoding(t, NULL, NULL, out);
}

int thunk_cache_key(struct thunk *t, thunk_resolve_fn *resolve, void *ctx,
		    struct gg_hash *out)
{
	if (!resolve)
		return -EINVAL;
	return hash_encoding(t, resolve, ctx, out);
}

/* ---- decoding ----------------------------------------------------------------- */

/*
 * A cursor over untrusted bytes.  Every reader checks the bytes left before
 * touching them and returns -EBADMSG on anything but the canonical form.
 */
struct rd {
	const uint8_t *p, *end;
};

static size_t rd_left(const struct rd *r)
{
	return (size_t)(r->end - r->p);
}

static int rd_be(struct rd *r, size_t n, uint64_t *v)
{
	uint64_t x = 0;

	if (rd_left(r) < n)
		return -EBADMSG;
	for (size_t i = 0; i < n; i++)
		x = x << 8 | r->p[i];
	r->p += n;
	*v = x;
	return 0;
}

static int rd_byte(struct rd *r, uint8_t *b)
{
	if (rd_left(r) < 1)
		return -EBADMSG;
	*b = *r->p++;
	return 0;
}

/* A msgpack unsigned integer in its shortest form, at most `max`. */
static int rd_uint(struct rd *r, uint64_t max, uint64_t *v)
{
	uint64_t x, min;
	uint8_t b;
	int ret;

	if ((ret = rd_byte(r, &b)) < 0)
		return ret;
	if (b <= 0x7f) {
		x = b;
		min = 0;
	} else if (b >= 0xcc && b <= 0xcf) {
		static const uint8_t size[] = { 1, 2, 4, 8 };
		static const uint64_t least[] = { 0x80, 0x100, 0x10000, 0x100000000ULL };

		if ((ret = rd_be(r, size[b - 0xcc], &x)) < 0)
			return ret;
		min = least[b - 0xcc];
	} else {
		return -EBADMSG;
	}
	if (x < min || x > max)
		return -EBADMSG;
	*v = x;
	return 0;
}

static int rd_u32(struct rd *r, uint32_t max, uint32_t *v)
{
	uint64_t x;
	int ret = rd_uint(r, max, &x);

	if (ret == 0)
		*v = (uint32_t)x;
	return ret;
}

/*
 * A msgpack length header: the fix form (tag fix_lo..fix_hi, the length in it) or
 * one of the wide forms, each only for a length no shorter form holds (canonical).
 */
struct len_form {
	uint8_t tag;
	unsigned bytes;
	uint64_t min;
};

static int rd_len(struct rd *r, uint8_t fix_lo, uint8_t fix_hi, const struct len_form *wide,
		  size_t nwide, uint64_t *x)
{
	uint8_t b;
	int ret;

	if ((ret = rd_byte(r, &b)) < 0)
		return ret;
	if (b >= fix_lo && b <= fix_hi) {
		*x = b - fix_lo;
		return 0;
	}
	for (size_t i = 0; i < nwide; i++) {
		if (b != wide[i].tag)
			continue;
		if ((ret = rd_be(r, wide[i].bytes, x)) < 0)
			return ret;
		return *x < wide[i].min ? -EBADMSG : 0;
	}
	return -EBADMSG;
}

/* An array header; its count times min_elem must fit in the bytes left. */
static int rd_array(struct rd *r, size_t min_elem, size_t *n)
{
	static const struct len_form forms[] = { { 0xdc, 2, 16 }, { 0xdd, 4, 0x10000 } };
	uint64_t x;
	int ret;

	if ((ret = rd_len(r, 0x90, 0x9f, forms, ARRAY_SIZE(forms), &x)) < 0)
		return ret;
	if (x > THUNK_MAX_LIST || x > rd_left(r) / min_elem)
		return -EBADMSG;
	*n = (size_t)x;
	return 0;
}

/* A str in its shortest form, without NUL bytes, pointing into the input. */
static int rd_str(struct rd *r, const char **s, size_t *len)
{
	static const struct len_form forms[] = { { 0xd9, 1, 32 }, { 0xda, 2, 0x100 },
						 { 0xdb, 4, 0x10000 } };
	uint64_t x;
	int ret;

	if ((ret = rd_len(r, 0xa0, 0xbf, forms, ARRAY_SIZE(forms), &x)) < 0)
		return ret;
	if (x > THUNK_MAX_STR || x > rd_left(r) || memchr(r->p, '\0', (size_t)x))
		return -EBADMSG;
	*s = (const char *)r->p;
	*len = (size_t)x;
	r->p += x;
	return 0;
}

static int rd_strdup(struct rd *r, bool nonempty, char **out)
{
	const char *s;
	size_t len;
	int ret;

	if ((ret = rd_str(r, &s, &len)) < 0)
		return ret;
	if (nonempty && len == 0)
		return -EBADMSG;
	*out = strndup(s, len);
	return *out ? 0 : -ENOMEM;
}

static int rd_hash(struct rd *r, struct gg_hash *h)
{
	if (rd_left(r) < 2 + HASH_BIN_LEN || r->p[0] != 0xc4 || r->p[1] != HASH_BIN_LEN ||
	    !hash_kind_valid(r->p[2]))
		return -EBADMSG;
	h->kind = r->p[2];
	memcpy(h->bytes, r->p + 3, GG_HASH_LEN);
	r->p += 2 + HASH_BIN_LEN;
	return 0;
}

static int rd_input(struct rd *r, struct thunk_input *in)
{
	size_t n;
	int ret;

	if ((ret = rd_array(r, 1, &n)) < 0)
		return ret;
	if (n != 4)
		return -EBADMSG;
	if ((ret = rd_strdup(r, true, &in->path)) < 0 || (ret = rd_hash(r, &in->hash)) < 0 ||
	    (ret = rd_u32(r, UINT32_MAX, &in->output)) < 0 ||
	    (ret = rd_u32(r, UINT32_MAX, &in->mode)) < 0)
		return ret;
	return input_hash_ok(&in->hash, in->output) ? 0 : -EBADMSG;
}

/* Allocate an array of n elements for a list being decoded (n already bounded). */
static int rd_alloc(void **v, size_t *alloc, size_t n, size_t elem)
{
	if (n == 0)
		return 0;
	*v = calloc(n, elem);
	if (!*v)
		return -ENOMEM;
	*alloc = n;
	return 0;
}

enum strv_rule { STRV_ANY, STRV_SORTED_PATHS, STRV_ENV };

static int rd_strv(struct rd *r, enum strv_rule rule, struct thunk_strv *v)
{
	size_t n;
	int ret;

	ret = rd_array(r, rule == STRV_SORTED_PATHS ? MIN_PATH_BYTES : MIN_STR_BYTES, &n);
	if (ret < 0)
		return ret;
	if ((ret = rd_alloc((void **)&v->v, &v->alloc, n, sizeof(*v->v))) < 0)
		return ret;
	for (size_t i = 0; i < n; i++) {
		char *s;

		if ((ret = rd_strdup(r, rule == STRV_SORTED_PATHS, &s)) < 0)
			return ret;
		v->v[v->n++] = s;
		if (rule == STRV_ENV) {
			size_t len = env_name_len(s);

			if (len == 0 || s[len] != '=')
				return -EBADMSG;
			if (i > 0 && env_name_len(v->v[i - 1]) == len &&
			    memcmp(v->v[i - 1], s, len) == 0)
				return -EBADMSG;
		}
		if (rule != STRV_ANY && i > 0 && strcmp(v->v[i - 1], s) >= 0)
			return -EBADMSG;
	}
	return 0;
}

static int rd_inputs(struct rd *r, struct thunk_inputs *v)
{
	size_t n;
	int ret;

	if ((ret = rd_array(r, MIN_INPUT_BYTES, &n)) < 0)
		return ret;
	if ((ret = rd_alloc((void **)&v->v, &v->alloc, n, sizeof(*v->v))) < 0)
		return ret;
	for (size_t i = 0; i < n; i++) {
		ret = rd_input(r, &v->v[i]);
		if (v->v[i].path)
			v->n++; /* owned from here on, even if the rest failed */
		if (ret < 0)
			return ret;
		if (i > 0 && strcmp(v->v[i - 1].path, v->v[i].path) >= 0)
			return -EBADMSG;
	}
	return 0;
}

static int rd_listings(struct rd *r, struct thunk_listings *v)
{
	size_t n, m;
	int ret;

	if ((ret = rd_array(r, MIN_LISTING_BYTES, &n)) < 0)
		return ret;
	if ((ret = rd_alloc((void **)&v->v, &v->alloc, n, sizeof(*v->v))) < 0)
		return ret;
	for (size_t i = 0; i < n; i++) {
		struct thunk_listing *l = &v->v[i];

		if ((ret = rd_array(r, 1, &m)) < 0)
			return ret;
		if (m != 2)
			return -EBADMSG;
		if ((ret = rd_strdup(r, true, &l->path)) < 0)
			return ret;
		v->n++;
		if ((ret = rd_hash(r, &l->hash)) < 0)
			return ret;
		if (l->hash.kind != GG_HASH_LIST)
			return -EBADMSG;
		if (i > 0 && strcmp(v->v[i - 1].path, l->path) >= 0)
			return -EBADMSG;
	}
	return 0;
}

static int decode(struct rd *r, struct thunk *t)
{
	const char *magic;
	size_t n, mlen;
	uint64_t version, x;
	uint8_t b;
	int ret;

	if ((ret = rd_array(r, 1, &n)) < 0)
		return ret;
	if (n < 2)
		return -EBADMSG;
	if ((ret = rd_str(r, &magic, &mlen)) < 0)
		return ret;
	if (mlen != strlen(THUNK_MAGIC) || memcmp(magic, THUNK_MAGIC, mlen) != 0)
		return -EBADMSG;
	if ((ret = rd_uint(r, UINT64_MAX, &version)) < 0)
		return ret;
	if (version != THUNK_VERSION)
		return -EPROTONOSUPPORT;
	if (n != THUNK_FIELDS)
		return -EBADMSG;
	if ((ret = rd_input(r, &t->exe)) < 0 || (ret = rd_strdup(r, false, &t->interp)) < 0 ||
	    (ret = rd_strv(r, STRV_ANY, &t->argv)) < 0 ||
	    (ret = rd_strv(r, STRV_ENV, &t->env)) < 0 ||
	    (ret = rd_strdup(r, false, &t->cwd)) < 0 ||
	    (ret = rd_u32(r, 0777, &t->umask)) < 0 || (ret = rd_inputs(r, &t->inputs)) < 0 ||
	    (ret = rd_strv(r, STRV_SORTED_PATHS, &t->missing)) < 0 ||
	    (ret = rd_strv(r, STRV_SORTED_PATHS, &t->notdir)) < 0 ||
	    (ret = rd_listings(r, &t->listings)) < 0 || (ret = rd_inputs(r, &t->objects)) < 0 ||
	    (ret = rd_strv(r, STRV_SORTED_PATHS, &t->outputs)) < 0)
		return ret;
	if (strv_overlap(&t->missing, &t->notdir))
		return -EBADMSG;
	if ((ret = rd_uint(r, THUNK_LOCAL_ALL, &x)) < 0)
		return ret;
	t->local = (uint32_t)x;
	if ((ret = rd_byte(r, &b)) < 0)
		return ret;
	if (b != 0xc2 && b != 0xc3)
		return -EBADMSG;
	t->pure = b == 0xc3;
	if (t->pure && t->local)
		return -EBADMSG;
	if (rd_left(r) != 0)
		return -EBADMSG;
	return 0;
}

int thunk_decode(const void *buf, size_t len, struct thunk *out)
{
	struct rd r = { .p = buf, .end = (const uint8_t *)buf + len };
	int ret;

	thunk_init(out);
	if (len > THUNK_MAX_ENCODED || (!buf && len))
		return -EINVAL;
	if (!buf)
		return -EBADMSG;
	ret = decode(&r, out);
	if (ret < 0)
		thunk_release(out);
	return ret;
}

/* ---- equality ----------------------------------------------------------------- */

static bool str_eq(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

static bool strv_eq(const struct thunk_strv *a, const struct thunk_strv *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i], b->v[i]) != 0)
			return false;
	return true;
}

static bool input_eq(const struct thunk_input *a, const struct thunk_input *b)
{
	return str_eq(a->path, b->path) && input_same(a, b);
}

static bool inputs_eq(const struct thunk_inputs *a, const struct thunk_inputs *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (!input_eq(&a->v[i], &b->v[i]))
			return false;
	return true;
}

bool thunk_equal(const struct thunk *a, const struct thunk *b)
{
	if (!input_eq(&a->exe, &b->exe) || !str_eq(a->interp, b->interp) ||
	    !strv_eq(&a->argv, &b->argv) || !strv_eq(&a->env, &b->env) ||
	    !str_eq(a->cwd, b->cwd) || a->umask != b->umask ||
	    !inputs_eq(&a->inputs, &b->inputs) || !strv_eq(&a->missing, &b->missing) ||
	    !strv_eq(&a->notdir, &b->notdir) ||
	    !inputs_eq(&a->objects, &b->objects) || !strv_eq(&a->outputs, &b->outputs) ||
	    a->local != b->local || a->pure != b->pure || a->listings.n != b->listings.n)
		return false;
	for (size_t i = 0; i < a->listings.n; i++)
		if (strcmp(a->listings.v[i].path, b->listings.v[i].path) != 0 ||
		    !hash_equal(&a->listings.v[i].hash, &b->listings.v[i].hash))
			return false;
	return true;
}

char **thunk_strv_dup(const struct thunk_strv *v)
{
	char **a = calloc(v->n + 1, sizeof(*a));
	if (!a)
		return NULL;
	for (size_t i = 0; i < v->n; i++)
		a[i] = v->v[i];
	return a;
}
