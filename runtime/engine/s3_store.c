/*
 * s3_store.c - push and pull sets of blobs between the local store and a bucket
 * (s3_store.h).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime/engine/s3_store.h"
#include "runtime/store/store.h"

/* One blob of a push or pull, sorted by printed hash (= key order under PREFIX). */
struct entry {
	struct gg_hash h;
	char name[GG_HASH_HEX_SIZE];
	uint64_t size;   /* push: local size */
	bool present;    /* at the destination already */
	bool known;      /* push: presence decided (by the listing or a HEAD) */
};

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}

static struct entry *find(struct entry *v, size_t n, const char *name)
{
	struct entry key;
	snprintf(key.name, sizeof(key.name), "%s", name);
	return bsearch(&key, v, n, sizeof(*v), entry_cmp);
}

/* Sorted, deduplicated entries for the n hashes (VALUE and THUNK kinds only). */
static int entries_make(const struct gg_hash *hs, size_t n, struct entry **out, size_t *nout)
{
	struct entry *v = calloc(n ? n : 1, sizeof(*v));
	size_t k = 0;

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (hs[i].kind != GG_HASH_VALUE && hs[i].kind != GG_HASH_THUNK)
			continue;
		v[k].h = hs[i];
		hash_to_hex(&hs[i], v[k].name);
		k++;
	}
	qsort(v, k, sizeof(*v), entry_cmp);
	n = k;
	k = 0;
	for (size_t i = 0; i < n; i++)
		if (!k || strcmp(v[k - 1].name, v[i].name))
			v[k++] = v[i];
	*out = v;
	*nout = k;
	return 0;
}

/* Run a batch to the end, reporting progress. */
static int run(struct s3_batch *b, const struct s3store_cb *cb, const char *phase)
{
	long left;
	struct s3_progress p;

	while ((left = s3_batch_step(b, -1)) > 0) {
		if (cb && cb->progress) {
			s3_batch_progress(b, &p);
			cb->progress(cb->ctx, phase, &p);
		}
	}
	if (cb && cb->progress) {
		s3_batch_progress(b, &p);
		cb->progress(cb->ctx, phase, &p);
	}
	return left < 0 ? (int)left : 0;
}

static void report(const struct s3store_cb *cb, const struct gg_hash *h, int err, const char *msg)
{
	if (cb && cb->fail)
		cb->fail(cb->ctx, h, err, msg ? msg : strerror(-err));
}

/* ---- push ----------------------------------------------------------------------- */

struct list_ctx {
	struct entry *v;
	size_t n;
};

static int list_mark(void *ctx, const char *name, uint64_t size)
{
	struct list_ctx *l = ctx;
	struct entry *e;
	if (strlen(name) != GG_HASH_HEX_LEN || !(e = find(l->v, l->n, name)))
		return 0;
	e->present = e->size == size;
	return 0;
}

/* Learn which entries the bucket has: a listing for many, HEADs for the rest. */
static int push_presence(struct s3_client *c, struct entry *v, size_t n,
			 const struct s3store_cb *cb, struct s3store_stats *out)
{
	struct s3_batch *b = NULL;
	struct list_ctx lc = { v, n };
	int ret = 0;

	if (n >= S3STORE_LIST_MIN) {
		unsigned pages = (unsigned)(n / 100 + 4);
		const struct s3_result *r;
		long idx;

		if (!(b = s3_batch_new(c)))
			return -ENOMEM;
		if ((idx = s3_batch_list(b, NULL, pages, list_mark, &lc)) < 0) {
			ret = (int)idx;
			goto out_free;
		}
		if ((ret = run(b, cb, "listing")) < 0)
			goto out_free;
		r = s3_batch_result(b, (size_t)idx);
		if (r->err) {
			ret = r->err;
			if (ret != -ECANCELED)
				report(cb, NULL, r->err, r->msg);
			goto out_free;
		}
		out->listed = true;
		for (size_t i = 0; i < n; i++)
			v[i].known = !r->more || (r->last && strcmp(v[i].name, r->last) <= 0);
		s3_batch_free(b);
		b = NULL;
	}
	if (!(b = s3_batch_new(c)))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		long idx;
		if (v[i].known)
			continue;
		if ((idx = s3_batch_head(b, v[i].name)) < 0) {
			ret = (int)idx;
			goto out_free;
		}
		s3_batch_set_udata(b, (size_t)idx, &v[i]);
	}
	if (!s3_batch_count(b))
		goto out_free;
	if ((ret = run(b, cb, "checking")) < 0)
		goto out_free;
	for (size_t i = 0; i < s3_batch_count(b); i++) {
		const struct s3_result *r = s3_batch_result(b, i);
		struct entry *e = s3_batch_udata(b, i);
		if (!r->err) {
			e->present = r->size == e->size;
		} else if (r->err != -ENOENT) {
			ret = r->err;
			if (ret != -ECANCELED)
				report(cb, &e->h, r->err, r->msg);
			goto out_free;
		}
		e->known = true;
	}
out_free:
	s3_batch_free(b);
	return ret;
}

/*
 * Count the batch's outcomes into out (moved, failed, cancelled; with
 * count_missing, a 404 is also missing) and report each failure.  The first
 * error, -ECANCELED once anything was cancelled, or 0.
 */
static int tally(struct s3_batch *b, const struct s3store_cb *cb, bool count_missing,
		 struct s3store_stats *out)
{
	int first = 0;

	for (size_t i = 0; i < s3_batch_count(b); i++) {
		const struct s3_result *r = s3_batch_result(b, i);
		struct entry *e = s3_batch_udata(b, i);
		if (r->err == -ECANCELED) {
			out->cancelled++;
			first = -ECANCELED;
		} else if (r->err) {
			out->failed++;
			if (count_missing && r->err == -ENOENT && r->status == 404)
				out->missing++;
			report(cb, &e->h, r->err, r->msg);
			first = first ?: r->err;
		} else {
			out->moved++;
			out->bytes += r->size;
		}
	}
	return first;
}

int s3store_push(struct s3_client *c, struct store *st, const struct gg_hash *hs, size_t n,
		 const struct s3store_cb *cb, struct s3store_stats *out)
{
	struct entry *v = NULL;
	struct s3_batch *b = NULL;
	char path[PATH_MAX];
	size_t nv;
	int ret, first = 0;

	memset(out, 0, sizeof(*out));
	if ((ret = entries_make(hs, n, &v, &nv)) < 0)
		return ret;
	out->total = nv;
	for (size_t i = 0; i < nv; i++) {
		struct stat sb;
		if ((ret = store_path(st, &v[i].h, path, sizeof(path))) < 0)
			goto out_free;
		if (stat(path, &sb) < 0) {
			ret = -errno;
			report(cb, &v[i].h, ret, NULL);
			goto out_free;
		}
		v[i].size = (uint64_t)sb.st_size;
	}
	if ((ret = push_presence(c, v, nv, cb, out)) < 0)
		goto out_free;
	if (!(b = s3_batch_new(c))) {
		ret = -ENOMEM;
		goto out_free;
	}
	for (size_t i = 0; i < nv; i++) {
		long idx;
		if (v[i].present) {
			out->present++;
			continue;
		}
		store_path(st, &v[i].h, path, sizeof(path));
		if ((idx = s3_batch_put_file(b, v[i].name, path)) < 0) {
			out->failed++;
			report(cb, &v[i].h, (int)idx, NULL);
			first = first ?: (int)idx;
			continue;
		}
		s3_batch_set_udata(b, (size_t)idx, &v[i]);
	}
	if ((ret = run(b, cb, "uploading")) < 0)
		goto out_free;
	ret = tally(b, cb, false, out);
	if (ret != -ECANCELED && first) /* a file that could not be queued came first */
		ret = first;
out_free:
	s3_batch_free(b);
	free(v);
	return ret;
}

/* ---- pull ------------------------------------------------------------------------ */

int s3store_pull(struct s3_client *c, struct store *st, const struct gg_hash *hs, size_t n,
		 const struct s3store_cb *cb, struct s3store_stats *out)
{
	struct entry *v = NULL;
	struct s3_batch *b = NULL;
	size_t nv;
	int ret;

	memset(out, 0, sizeof(*out));
	if ((ret = entries_make(hs, n, &v, &nv)) < 0)
		return ret;
	out->total = nv;
	if (!(b = s3_batch_new(c))) {
		ret = -ENOMEM;
		goto out_free;
	}
	for (size_t i = 0; i < nv; i++) {
		long idx;
		if (store_has(st, &v[i].h)) {
			out->present++;
			continue;
		}
		if ((idx = s3_batch_get_store(b, v[i].name, st, &v[i].h)) < 0) {
			ret = (int)idx;
			goto out_free;
		}
		s3_batch_set_udata(b, (size_t)idx, &v[i]);
	}
	if ((ret = run(b, cb, "downloading")) < 0)
		goto out_free;
	ret = tally(b, cb, true, out);
out_free:
	s3_batch_free(b);
	free(v);
	return ret;
}

/* ---- list ------------------------------------------------------------------------ */

struct collect {
	struct gg_hash *v;
	size_t n, alloc;
};

static int collect_one(void *ctx, const char *name, uint64_t size)
{
	struct collect *cl = ctx;
	struct gg_hash h;
	(void)size;
	if (s3_key_blob(NULL, name, &h) < 0)
		return 0;
	if (cl->n == cl->alloc) {
		size_t na = cl->alloc ? cl->alloc * 2 : 1024;
		struct gg_hash *p = realloc(cl->v, na * sizeof(*p));
		if (!p)
			return -ENOMEM;
		cl->v = p;
		cl->alloc = na;
	}
	cl->v[cl->n++] = h;
	return 0;
}

int s3store_list(struct s3_client *c, struct gg_hash **out, size_t *n, char *err, size_t errlen)
{
	struct s3_batch *b = s3_batch_new(c);
	struct collect cl = { 0 };
	const struct s3_result *r;
	long idx;
	int ret;

	*out = NULL;
	*n = 0;
	if (!b)
		return -ENOMEM;
	if ((idx = s3_batch_list(b, NULL, 0, collect_one, &cl)) < 0) {
		ret = (int)idx;
		goto out_free;
	}
	if ((ret = run(b, NULL, "listing")) < 0)
		goto out_free;
	r = s3_batch_result(b, (size_t)idx);
	if ((ret = r->err) < 0) {
		snprintf(err, errlen, "%s", r->msg ? r->msg : strerror(-ret));
		goto out_free;
	}
	*out = cl.v;
	*n = cl.n;
	cl.v = NULL;
out_free:
	free(cl.v);
	s3_batch_free(b);
	return ret;
}
