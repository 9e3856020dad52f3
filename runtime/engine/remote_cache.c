/*
 * remote_cache.c - the shared results cache of `gg build --remote` (remote_cache.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/engine/remote_cache.h"
#include "runtime/engine/s3_results.h"
#include "runtime/store/store.h"

struct remote_cache {
	struct s3_client *c;
	struct store st;
	char *ggdir;
	struct cache_remote ops;
	struct remote_cache_stats stats;
	char err[S3_ERR_SIZE];
};

static void on_fail(void *ctx, const struct gg_hash *h, int err, const char *msg)
{
	struct remote_cache *rc = ctx;
	(void)h;
	if (err == -ENOENT)
		return; /* a blob the entry names is not there: the entry is a miss */
	rc->stats.errors++;
	if (!rc->err[0])
		snprintf(rc->err, sizeof(rc->err), "%s", msg ? msg : strerror(-err));
}

static void note(struct remote_cache *rc, int ret, const char *what)
{
	if (ret < 0 && !rc->err[0])
		snprintf(rc->err, sizeof(rc->err), "%s %s: %s", what, s3_client_url(rc->c),
			 strerror(-ret));
}

static int rc_fetch(void *ctx, const struct gg_hash *keys, size_t n, bool *hit)
{
	struct remote_cache *rc = ctx;
	struct s3store_cb cb = { .fail = on_fail, .ctx = rc };
	struct s3results_stats s;
	int ret = s3results_fetch(rc->c, rc->ggdir, &rc->st, keys, n, hit, &cb, &s);
	rc->stats.lookups += n;
	rc->stats.hits += s.hits;
	rc->stats.bytes_down += s.blobs.bytes;
	note(rc, ret, "lookup in");
	return ret;
}

static int rc_publish(void *ctx, const struct gg_hash *keys, size_t n)
{
	struct remote_cache *rc = ctx;
	struct s3store_cb cb = { .fail = on_fail, .ctx = rc };
	struct s3results_stats s;
	int ret = s3results_publish(rc->c, rc->ggdir, &rc->st, keys, n, &cb, &s);
	rc->stats.published += s.published;
	rc->stats.bytes_up += s.blobs.bytes;
	note(rc, ret, "publish to");
	return ret;
}

int remote_cache_open(const char *url, const char *ggdir, bool read_only,
		      volatile sig_atomic_t *cancel, struct remote_cache **out, char *err,
		      size_t errlen)
{
	struct s3_opts so = { .url = url, .cancel = cancel };
	struct remote_cache *rc;
	int ret;

	*out = NULL;
	if (!(rc = calloc(1, sizeof(*rc))) || !(rc->ggdir = strdup(ggdir))) {
		ret = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out_free;
	}
	rc->st = (struct store)STORE_INIT;
	if ((ret = store_init(&rc->st, ggdir, STORE_CREATE)) < 0) {
		snprintf(err, errlen, "cannot open the store in '%s': %s", ggdir, strerror(-ret));
		goto out_free;
	}
	if ((ret = s3_client_new(&so, &rc->c, err, errlen)) < 0)
		goto out_store;
	if ((ret = s3_client_check(rc->c, err, errlen)) < 0)
		goto out_client;
	rc->ops.fetch = rc_fetch;
	rc->ops.publish = read_only ? NULL : rc_publish;
	rc->ops.ctx = rc;
	*out = rc;
	return 0;
out_client:
	s3_client_free(rc->c);
out_store:
	store_release(&rc->st);
out_free:
	if (rc)
		free(rc->ggdir);
	free(rc);
	return ret;
}

void remote_cache_free(struct remote_cache *rc)
{
	if (!rc)
		return;
	s3_client_free(rc->c);
	store_release(&rc->st);
	free(rc->ggdir);
	free(rc);
}

const struct cache_remote *remote_cache_ops(struct remote_cache *rc)
{
	return &rc->ops;
}

void remote_cache_get_stats(const struct remote_cache *rc, struct remote_cache_stats *out)
{
	*out = rc->stats;
}

const char *remote_cache_error(const struct remote_cache *rc)
{
	return rc->err;
}

const char *remote_cache_url(const struct remote_cache *rc)
{
	return s3_client_url(rc->c);
}
