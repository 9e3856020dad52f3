/*
 * s3_results.c - the results cache shared through a bucket (s3_results.h).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/store/cache.h"
#include "runtime/engine/s3_results.h"
#include "runtime/store/ggdir.h"
#include "runtime/store/store.h"
#include "runtime/lib/util.h"

/* "results/T..." */
static void entry_name(const struct gg_hash *key, char buf[GG_HASH_HEX_SIZE + 16])
{
	char hex[GG_HASH_HEX_SIZE];
	snprintf(buf, GG_HASH_HEX_SIZE + 16, "%s/%s", S3RESULTS_DIR, hash_to_hex(key, hex));
}

static void report(const struct s3store_cb *cb, const struct gg_hash *h, int err, const char *msg)
{
	if (cb && cb->fail)
		cb->fail(cb->ctx, h, err, msg ? msg : strerror(-err));
}

/* A growable array of hashes.  Owner: the caller (free(v)). */
struct hvec {
	struct gg_hash *v;
	size_t n, alloc;
};

static int hvec_add(struct hvec *hv, const struct gg_hash *h)
{
	if (!hash_is_set(h))
		return 0; /* an output removed by the recorded build (cache.h): no blob */
	if (hv->n == hv->alloc) {
		size_t na = hv->alloc ? hv->alloc * 2 : 256;
		struct gg_hash *p = realloc(hv->v, na * sizeof(*p));
		if (!p)
			return -ENOMEM;
		hv->v = p;
		hv->alloc = na;
	}
	hv->v[hv->n++] = *h;
	return 0;
}

static int run(struct s3_batch *b, const struct s3store_cb *cb)
{
	long left;
	struct s3_progress p;
	while ((left = s3_batch_step(b, -1)) > 0)
		if (cb && cb->progress) {
			s3_batch_progress(b, &p);
			cb->progress(cb->ctx, "results", &p);
		}
	return left < 0 ? (int)left : 0;
}

int s3results_fetch(struct s3_client *c, const char *ggdir, struct store *st,
		    const struct gg_hash *keys, size_t n, bool *hit, const struct s3store_cb *cb,
		    struct s3results_stats *out)
{
	struct s3_batch *b = NULL;
	struct hvec blobs = { 0 };
	struct cache_entry *ents = NULL;
	char name[GG_HASH_HEX_SIZE + 16];
	bool *parsed = NULL;
	int ret = 0;

	memset(out, 0, sizeof(*out));
	out->asked = n;
	if (!(b = s3_batch_new(c)) || !(parsed = calloc(n ? n : 1, sizeof(*parsed))) ||
	    !(ents = calloc(n ? n : 1, sizeof(*ents)))) {
		ret = -ENOMEM;
		goto out_free;
	}
	for (size_t i = 0; i < n; i++) {
		long idx;
		if (hit)
			hit[i] = cache_has(ggdir, &keys[i]);
		if (cache_has(ggdir, &keys[i]))
			continue;
		entry_name(&keys[i], name);
		if ((idx = s3_batch_get_buf(b, name, S3RESULTS_ENTRY_MAX, NULL)) < 0) {
			ret = (int)idx;
			goto out_free;
		}
		s3_batch_set_udata(b, (size_t)idx, (void *)(uintptr_t)i);
	}
	if (!s3_batch_count(b))
		goto out_free;
	if ((ret = run(b, cb)) < 0)
		goto out_free;
	/* Parse each entry, kept until its blobs are here. */
	for (size_t k = 0; k < s3_batch_count(b); k++) {
		const struct s3_result *r = s3_batch_result(b, k);
		size_t i = (uintptr_t)s3_batch_udata(b, k);
		struct cache_entry *e = &ents[i];
		if (r->err == -ENOENT)
			continue; /* a miss */
		if (r->err) {
			report(cb, &keys[i], r->err, r->msg);
			ret = ret ?: r->err;
			continue;
		}
		if (cache_entry_decode(r->body, r->len, e) < 0) {
			report(cb, &keys[i], -EBADMSG, "a results entry in the bucket does not parse");
			continue;
		}
		for (size_t o = 0; o < e->n; o++)
			if ((ret = hvec_add(&blobs, &e->v[o].value)) < 0)
				goto out_free;
		parsed[i] = true;
	}
	/* Their outputs, then each entry whose outputs are all here goes into place. */
	if (blobs.n) {
		int pr = s3store_pull(c, st, blobs.v, blobs.n, cb, &out->blobs);
		if (pr == -ECANCELED) {
			ret = pr;
			goto out_free;
		}
	}
	for (size_t i = 0; i < n; i++) {
		bool all = true;
		if (!parsed[i])
			continue;
		for (size_t o = 0; o < ents[i].n && all; o++)
			all = !hash_is_set(&ents[i].v[o].value) || store_has(st, &ents[i].v[o].value);
		if (!all || cache_put(ggdir, &keys[i], &ents[i]) < 0)
			continue;
		out->hits++;
		if (hit)
			hit[i] = true;
	}
out_free:
	if (ents)
		for (size_t i = 0; i < n; i++)
			cache_entry_release(&ents[i]);
	free(ents);
	free(parsed);
	free(blobs.v);
	s3_batch_free(b);
	return ret;
}

int s3results_publish(struct s3_client *c, const char *ggdir, struct store *st,
		      const struct gg_hash *keys, size_t n, const struct s3store_cb *cb,
		      struct s3results_stats *out)
{
	struct hvec blobs = { 0 }, have = { 0 };
	struct s3_batch *b = NULL;
	char name[GG_HASH_HEX_SIZE + 16];
	int ret = 0;

	memset(out, 0, sizeof(*out));
	out->asked = n;
	for (size_t i = 0; i < n; i++) {
		struct cache_entry e;
		if (cache_get(ggdir, &keys[i], &e) < 0)
			continue; /* nothing to publish for this one */
		for (size_t o = 0; o < e.n && !ret; o++)
			ret = hvec_add(&blobs, &e.v[o].value);
		cache_entry_release(&e);
		if (ret || (ret = hvec_add(&have, &keys[i])) < 0)
			goto out_free;
	}
	if (!have.n)
		goto out_free;
	/* blobs first: an entry must never name a blob the bucket lacks */
	if (blobs.n && (ret = s3store_push(c, st, blobs.v, blobs.n, cb, &out->blobs)) < 0)
		goto out_free;
	if (!(b = s3_batch_new(c))) {
		ret = -ENOMEM;
		goto out_free;
	}
	for (size_t i = 0; i < have.n; i++) {
		struct cache_entry e;
		char *body;
		size_t blen;
		long idx;
		if (cache_get(ggdir, &have.v[i], &e) < 0)
			continue; /* gone meanwhile */
		ret = cache_entry_encode(&e, &body, &blen);
		cache_entry_release(&e);
		if (ret < 0)
			goto out_free;
		entry_name(&have.v[i], name);
		idx = s3_batch_put_buf(b, name, body, blen);
		free(body);
		if (idx < 0) {
			ret = (int)idx;
			goto out_free;
		}
		s3_batch_set_udata(b, (size_t)idx, &have.v[i]);
	}
	if ((ret = run(b, cb)) < 0)
		goto out_free;
	for (size_t k = 0; k < s3_batch_count(b); k++) {
		const struct s3_result *r = s3_batch_result(b, k);
		if (r->err) {
			if (r->err != -ECANCELED)
				report(cb, s3_batch_udata(b, k), r->err, r->msg);
			ret = ret ?: r->err;
		} else {
			out->published++;
		}
	}
out_free:
	s3_batch_free(b);
	free(blobs.v);
	free(have.v);
	return ret;
}
