/*
 * thunk.c - the thunk IR, its canonical msgpack encoding and its strict decoder
 * (see thunk.h for the layout byte by byte).
 *
 * Encoding writes the shortest forms (those msgpack-c's packer picks) straight into
 * a capped buffer, the stack's when hashing.  Decoding is hand-written rather than
 * msgpack_unpack: it must reject every
 * non-canonical form (the packer's shortest-form choice is part of the format),
 * check each count against the bytes left before allocating, and never build a
 * generic object tree for untrusted input.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
	"cut-short",
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

/* Free one of t's strings: one thunk_decode put in t->strings goes with the block. */
static void str_free(const struct thunk *t, char *p)
{
	if (!t->strings || p < t->strings || p >= t->strings + t->strings_len)
		free(p);
}

static void strv_release(const struct thunk *t, struct thunk_strv *v)
{
	for (size_t i = 0; i < v->n; i++)
		str_free(t, v->v[i]);
	free(v->v);
	*v = (struct thunk_strv){ 0 };
}

static void inputs_release(const struct thunk *t, struct thunk_inputs *v)
{
	for (size_t i = 0; i < v->n; i++)
		str_free(t, v->v[i].path);
	free(v->v);
	*v = (struct thunk_inputs){ 0 };
}

static void listings_release(const struct thunk *t, struct thunk_listings *v)
{
	for (size_t i = 0; i < v->n; i++)
		str_free(t, v->v[i].path);
	free(v->v);
	*v = (struct thunk_listings){ 0 };
}

void thunk_release(struct thunk *t)
{
	str_free(t, t->exe.path);
	str_free(t, t->interp);
	strv_release(t, &t->argv);
	strv_release(t, &t->env);
	str_free(t, t->cwd);
	inputs_release(t, &t->inputs);
	strv_release(t, &t->missing);
	strv_release(t, &t->notdir);
	listings_release(t, &t->listings);
	inputs_release(t, &t->objects);
	strv_release(t, &t->outputs);
	free(t->strings);
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
	str_free(t, t->exe.path);
	t->exe = in;
	return 0;
}

static int set_str(struct thunk *t, char **field, const char *s)
{
	char *copy;
	int ret;

	ret = dup_str(s, false, &copy);
	if (ret < 0)
		return ret;
	str_free(t, *field);
	*field = copy;
	return 0;
}

int thunk_set_interp(struct thunk *t, const char *path)
{
	return set_str(t, &t->interp, path);
}

int thunk_set_cwd(struct thunk *t, const char *path)
{
	return set_str(t, &t->cwd, path);
}

int thunk_add_arg(struct thunk *t, const char *arg)
{
	return strv_add(&t->argv, arg, false);
}

int thunk_set_argv(struct thunk *t, char *const argv[])
{
	int ret = 0;

	strv_release(t, &t->argv);
	for (size_t i = 0; argv && argv[i]; i++) {
		ret = strv_add(&t->argv, argv[i], false);
		if (ret < 0) {
			strv_release(t, &t->argv);
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

	strv_release(t, &t->env);
	for (size_t i = 0; envp && envp[i]; i++) {
		ret = thunk_add_env(t, envp[i], allow);
		if (ret < 0) {
			strv_release(t, &t->env);
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
static void strv_canon(const struct thunk *t, struct thunk_strv *v)
{
	size_t out = 0;

	sort_if_needed(v->v, v->n, sizeof(*v->v), cmp_strp);
	for (size_t i = 0; i < v->n; i++) {
		if (out > 0 && strcmp(v->v[out - 1], v->v[i]) == 0) {
			str_free(t, v->v[i]);
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
static int paths_canon(const struct thunk *t, void *base, size_t *n, size_t size,
		       int (*cmp)(const void *, const void *),
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
			str_free(t, *(char **)cur);
			continue;
		}
		if (out != i)
			memcpy(v + out * size, cur, size);
		out++;
	}
	*n = out;
	return 0;
}

static int inputs_canon(const struct thunk *t, struct thunk_inputs *v)
{
	return paths_canon(t, v->v, &v->n, sizeof(*v->v), cmp_input, input_same);
}

static int listings_canon(const struct thunk *t, struct thunk_listings *v)
{
	return paths_canon(t, v->v, &v->n, sizeof(*v->v), cmp_listing, listing_same);
}

static int env_canon(const struct thunk *t, struct thunk_strv *v)
{
	strv_canon(t, v);
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

	strv_canon(t, &t->missing);
	strv_canon(t, &t->notdir);
	strv_canon(t, &t->outputs);
	if (strv_overlap(&t->missing, &t->notdir))
		return -EINVAL;
	if ((ret = env_canon(t, &t->env)) < 0 || (ret = inputs_canon(t, &t->inputs)) < 0 ||
	    (ret = inputs_canon(t, &t->objects)) < 0 || (ret = listings_canon(t, &t->listings)) < 0)
		return ret;
	return 0;
}

/* ---- encoding ----------------------------------------------------------------- */

struct enc {
	char *buf;  /* owned until handed to the caller, when heap */
	size_t len, cap;
	bool heap;  /* buf is malloc'd (else the caller's, on its stack) */
	int err;    /* first error: -ENOMEM, -E2BIG, -EINVAL */
	thunk_resolve_fn *resolve; /* NULL: encode references as they are */
	void *ctx;
};

static int enc_grow_write(struct enc *e, const char *p, size_t n);

/* Bytes out: room is the usual case. */
static void put(struct enc *e, const void *p, size_t n)
{
	if (__builtin_expect(n <= e->cap - e->len && !e->err, 1)) {
		memcpy(e->buf + e->len, p, n);
		e->len += n;
		return;
	}
	(void)enc_grow_write(e, p, n);
}

static int enc_grow_write(struct enc *e, const char *p, size_t n)
{
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
		b = e->heap ? realloc(e->buf, want) : malloc(want);
		if (!b) {
			e->err = -ENOMEM;
			return -1;
		}
		if (!e->heap && e->len)
			memcpy(b, e->buf, e->len);
		e->heap = true;
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

/*
 * msgpack headers in their shortest form (the decoder accepts nothing else): the
 * fix form (tag fix | n, for n <= fix_max; fix < 0: none), then the 8-, 16- and
 * 32-bit forms (t8 < 0: none).
 */
static void put_hdr(struct enc *e, uint64_t n, int fix, uint64_t fix_max, int t8, uint8_t t16,
		    uint8_t t32)
{
	uint8_t b[5];
	size_t k;

	if (fix >= 0 && n <= fix_max) {
		b[0] = (uint8_t)(fix | (int)n);
		k = 1;
	} else if (t8 >= 0 && n < 0x100) {
		b[0] = (uint8_t)t8;
		b[1] = (uint8_t)n;
		k = 2;
	} else if (n < 0x10000) {
		b[0] = t16;
		b[1] = (uint8_t)(n >> 8);
		b[2] = (uint8_t)n;
		k = 3;
	} else {
		b[0] = t32;
		for (int i = 0; i < 4; i++)
			b[1 + i] = (uint8_t)(n >> (24 - 8 * i));
		k = 5;
	}
	put(e, b, k);
}

static void put_array(struct enc *e, size_t n)
{
	put_hdr(e, n, 0x90, 15, -1, 0xdc, 0xdd);
}

static void put_uint(struct enc *e, uint32_t v)
{
	put_hdr(e, v, 0x00, 0x7f, 0xcc, 0xcd, 0xce);
}

static void put_bool(struct enc *e, bool v)
{
	uint8_t b = v ? 0xc3 : 0xc2;
	put(e, &b, 1);
}

static void pack_strn(struct enc *e, const char *s, size_t len)
{
	put_hdr(e, len, 0xa0, 31, 0xd9, 0xda, 0xdb);
	put(e, s, len);
}

static void pack_str(struct enc *e, const char *s, bool nonempty)
{
	size_t len = s ? strlen(s) : 0;

	if (len > THUNK_MAX_STR || (nonempty && len == 0))
		enc_fail(e, -EINVAL);
	pack_strn(e, s ? s : "", len);
}

static void pack_hash(struct enc *e, const struct gg_hash *h)
{
	uint8_t b[2 + HASH_BIN_LEN] = { 0xc4, HASH_BIN_LEN, h->kind };

	memcpy(b + 3, h->bytes, GG_HASH_LEN);
	put(e, b, sizeof(b));
}

static void pack_input(struct enc *e, const struct thunk_input *in)
{
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
	put_array(e, 4);
	pack_str(e, in->path, true);
	pack_hash(e, &h);
	put_uint(e, output);
	put_uint(e, in->mode);
}

static void pack_strv(struct enc *e, const struct thunk_strv *v, bool nonempty)
{
	if (v->n > THUNK_MAX_LIST)
		enc_fail(e, -EINVAL);
	put_array(e, v->n);
	for (size_t i = 0; i < v->n; i++)
		pack_str(e, v->v[i], nonempty);
}

static void pack_inputs(struct enc *e, const struct thunk_inputs *v)
{
	if (v->n > THUNK_MAX_LIST)
		enc_fail(e, -EINVAL);
	put_array(e, v->n);
	for (size_t i = 0; i < v->n; i++)
		pack_input(e, &v->v[i]);
}

/* t's encoding into e (its buffer as the caller set it up); 0 or -errno (then the
 * caller frees e->buf when e->heap). */
static int encode(struct thunk *t, struct enc *e)
{
	int ret;

	ret = thunk_canonicalize(t);
	if (ret < 0)
		return ret;
	if (!t->exe.path || t->umask > 0777 || (t->local & ~THUNK_LOCAL_ALL) ||
	    (t->pure && t->local) || t->listings.n > THUNK_MAX_LIST)
		return -EINVAL;
	put_array(e, THUNK_FIELDS);
	pack_strn(e, THUNK_MAGIC, strlen(THUNK_MAGIC));
	put_uint(e, THUNK_VERSION);
	pack_input(e, &t->exe);
	pack_str(e, t->interp, false);
	pack_strv(e, &t->argv, false);
	pack_strv(e, &t->env, false);
	pack_str(e, t->cwd, false);
	put_uint(e, t->umask);
	pack_inputs(e, &t->inputs);
	pack_strv(e, &t->missing, true);
	pack_strv(e, &t->notdir, true);
	put_array(e, t->listings.n);
	for (size_t i = 0; i < t->listings.n; i++) {
		const struct thunk_listing *l = &t->listings.v[i];

		if (l->hash.kind != GG_HASH_LIST)
			enc_fail(e, -EINVAL);
		put_array(e, 2);
		pack_str(e, l->path, true);
		pack_hash(e, &l->hash);
	}
	pack_inputs(e, &t->objects);
	pack_strv(e, &t->outputs, true);
	put_uint(e, t->local);
	put_bool(e, t->pure);
	return e->err;
}

int thunk_encode(struct thunk *t, char **buf, size_t *len)
{
	struct enc e = { .heap = true };
	int ret = encode(t, &e);

	if (ret < 0) {
		free(e.buf);
		return ret;
	}
	*buf = e.buf;
	*len = e.len;
	return 0;
}

/* Hashed where it is encoded: a usual thunk fits the stack buffer, no allocation. */
static int hash_encoding(struct thunk *t, thunk_resolve_fn *resolve, void *ctx,
			 struct gg_hash *out)
{
	char local[8192];
	struct enc e = { .buf = local, .cap = sizeof(local), .resolve = resolve, .ctx = ctx };
	int ret = encode(t, &e);

	if (ret == 0)
		ret = hash_buf(GG_HASH_THUNK, e.buf, e.len, out);
	if (e.heap)
		free(e.buf);
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

/* The size of the msgpack unsigned integer at p (the encoder's forms), or 0. */
static size_t uint_size(const unsigned char *p, const unsigned char *end)
{
	static const uint8_t size[] = { 2, 3, 5, 9 };
	size_t n = p < end ? (*p <= 0x7f ? 1 : *p >= 0xcc && *p <= 0xcf ? size[*p - 0xcc] : 0) : 0;
	return n <= (size_t)(end - p) ? n : 0;
}

/*
 * In buf (a copy of th's encoding), the input whose hash starts at `at` gets cur's
 * value as pack_input writes it: 0, 1 when a field would change length (the caller
 * encodes), or -errno as encoding would fail.
 */
static int patch_input(unsigned char *buf, size_t len, const struct thunk_input *in,
		       uint32_t at, thunk_resolve_fn *resolve, void *ctx)
{
	unsigned char tail[16];
	struct enc t = { .buf = (char *)tail, .cap = sizeof(tail) };
	struct gg_hash h = in->hash;
	uint32_t output = in->output;
	size_t o1, o2;

	if (!input_hash_ok(&h, output))
		return -EINVAL;
	if (h.kind == GG_HASH_THUNK && resolve) {
		int ret = resolve(ctx, &in->hash, in->output, &h);
		if (ret < 0)
			return ret;
		if (h.kind != GG_HASH_VALUE)
			return -EINVAL;
		output = 0;
	}
	if (!at || len < 2 + HASH_BIN_LEN || at > len - (2 + HASH_BIN_LEN) ||
	    buf[at] != 0xc4 || buf[at + 1] != HASH_BIN_LEN)
		return 1;
	if (!(o1 = uint_size(buf + at + 2 + HASH_BIN_LEN, buf + len)) ||
	    !(o2 = uint_size(buf + at + 2 + HASH_BIN_LEN + o1, buf + len)))
		return 1;
	put_uint(&t, output);
	put_uint(&t, in->mode);
	if (t.err || t.len != o1 + o2)
		return 1;
	buf[at + 2] = h.kind;
	memcpy(buf + at + 3, h.bytes, GG_HASH_LEN);
	memcpy(buf + at + 2 + HASH_BIN_LEN, tail, t.len);
	return 0;
}

static bool same_paths(const struct thunk_inputs *a, const struct thunk_inputs *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (a->v[i].path != b->v[i].path)
			return false;
	return true;
}

int thunk_cache_key_like(struct thunk *cur, const struct thunk *th, thunk_resolve_fn *resolve,
			 void *ctx, struct gg_hash *out)
{
	unsigned char local[8192], *buf = local;
	size_t len = th->enc_len;
	int ret = 1;

	if (!resolve)
		return -EINVAL;
	if (!th->enc || !len || cur->exe.path != th->exe.path ||
	    !same_paths(&cur->inputs, &th->inputs) || !same_paths(&cur->objects, &th->objects) ||
	    cur->listings.n != th->listings.n || cur->argv.v != th->argv.v ||
	    cur->env.v != th->env.v || cur->outputs.v != th->outputs.v)
		goto out_encode;
	if (len > sizeof(local) && !(buf = malloc(len)))
		return -ENOMEM;
	memcpy(buf, th->enc, len);
	if ((ret = patch_input(buf, len, &cur->exe, th->exe.at, resolve, ctx)) != 0)
		goto out_free;
	for (size_t i = 0; i < cur->inputs.n && ret == 0; i++)
		ret = patch_input(buf, len, &cur->inputs.v[i], th->inputs.v[i].at, resolve, ctx);
	for (size_t i = 0; i < cur->objects.n && ret == 0; i++)
		ret = patch_input(buf, len, &cur->objects.v[i], th->objects.v[i].at, resolve, ctx);
	for (size_t i = 0; i < cur->listings.n && ret == 0; i++) {
		const struct thunk_listing *l = &cur->listings.v[i];
		uint32_t at = th->listings.v[i].at;
		if (l->path != th->listings.v[i].path || l->hash.kind != GG_HASH_LIST || !at ||
		    len < 2 + HASH_BIN_LEN || at > len - (2 + HASH_BIN_LEN) || buf[at] != 0xc4)
			ret = l->hash.kind != GG_HASH_LIST ? -EINVAL : 1;
		else
			memcpy(buf + at + 3, l->hash.bytes, GG_HASH_LEN);
	}
	if (ret == 0)
		ret = hash_buf(GG_HASH_THUNK, buf, len, out);
out_free:
	if (buf != local)
		free(buf);
	if (ret <= 0)
		return ret;
out_encode:
	return thunk_cache_key(cur, resolve, ctx, out);
}

/* ---- decoding ----------------------------------------------------------------- */

/*
 * A cursor over untrusted bytes.  Every reader checks the bytes left before
 * touching them and returns -EBADMSG on anything but the canonical form.
 */
struct rd {
	const uint8_t *p, *end;
	const uint8_t *base; /* the start of the encoding (offsets: thunk_input.at) */
	char *pool; /* where decoded strings go (each fits: see thunk_decode) */
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
	*out = r->pool;
	memcpy(r->pool, s, len);
	r->pool[len] = '\0';
	r->pool += len + 1;
	return 0;
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
	if ((ret = rd_strdup(r, true, &in->path)) < 0)
		return ret;
	in->at = (uint32_t)(r->p - r->base);
	if ((ret = rd_hash(r, &in->hash)) < 0 ||
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
		l->at = (uint32_t)(r->p - r->base);
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
	/* Every string, with its NUL, fits in the bytes that encode it (a header byte
	 * at least, then the body): after a copy of the encoding (thunk_cache_key_like
	 * patches it), len more bytes hold them all. */
	if (!(out->strings = malloc(2 * len)))
		return -ENOMEM;
	out->strings_len = 2 * len;
	memcpy(out->strings, buf, len);
	out->enc = (const unsigned char *)out->strings;
	out->enc_len = len;
	r.pool = out->strings + len;
	r.base = buf;
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
