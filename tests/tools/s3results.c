/*
 * s3results - drive runtime/engine/s3_results.h from the tests until the scheduler
 * calls it (gg build --remote).
 *
 *   s3results publish URL      publish every entry of $GG_DIR's results cache (and its blobs)
 *   s3results fetch URL        fetch the entries of the keys read from stdin (one
 *                              printed 'T' hash per line) into $GG_DIR
 *
 * Prints "asked N hits H published P blobs B" and exits 0, or 1 on an error (each
 * message on stderr).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/engine/s3_results.h"
#include "runtime/store/cache.h"
#include "runtime/store/store.h"

static void on_fail(void *ctx, const struct gg_hash *h, int err, const char *msg)
{
	(void)ctx;
	(void)h;
	(void)err;
	fprintf(stderr, "s3results: %s\n", msg);
}

static void add(struct gg_hash **v, size_t *n, const struct gg_hash *h)
{
	*v = realloc(*v, (*n + 1) * sizeof(**v));
	if (!*v)
		exit(2);
	(*v)[(*n)++] = *h;
}

struct keyvec {
	struct gg_hash **v;
	size_t *n;
};

static int key_one(void *ctx, const struct gg_hash *key, const struct cache_entry *e)
{
	struct keyvec *k = ctx;
	(void)e;
	add(k->v, k->n, key);
	return 0;
}

/* Every key with an entry in <ggdir>'s results cache (cache.h). */
static void local_keys(const char *ggdir, struct gg_hash **v, size_t *n)
{
	struct keyvec k = { v, n };
	cache_foreach(ggdir, key_one, &k);
}

int main(int argc, char **argv)
{
	const char *ggdir = getenv("GG_DIR");
	struct s3_opts o = { 0 };
	struct s3_client *c;
	struct store st = STORE_INIT;
	struct s3store_cb cb = { .fail = on_fail };
	struct s3results_stats s;
	struct gg_hash *keys = NULL;
	size_t n = 0;
	char err[4096], line[256];
	int ret;

	if (argc != 3 || !ggdir || (strcmp(argv[1], "publish") && strcmp(argv[1], "fetch"))) {
		fprintf(stderr, "usage: GG_DIR=DIR s3results publish|fetch s3://BUCKET[/PREFIX]\n");
		return 2;
	}
	o.url = argv[2];
	if ((ret = s3_client_new(&o, &c, err, sizeof(err))) < 0) {
		fprintf(stderr, "s3results: %s\n", err);
		return 1;
	}
	if ((ret = store_init(&st, ggdir, STORE_CREATE)) < 0) {
		fprintf(stderr, "s3results: cannot open the store in '%s': %s\n", ggdir,
			strerror(-ret));
		return 1;
	}
	if (!strcmp(argv[1], "publish")) {
		local_keys(ggdir, &keys, &n);
		ret = s3results_publish(c, ggdir, &st, keys, n, &cb, &s);
	} else {
		while (fgets(line, sizeof(line), stdin)) {
			struct gg_hash h;
			line[strcspn(line, "\n")] = '\0';
			if (hash_from_hex_str(line, &h) < 0) {
				fprintf(stderr, "s3results: not a hash: '%s'\n", line);
				return 2;
			}
			add(&keys, &n, &h);
		}
		ret = s3results_fetch(c, ggdir, &st, keys, n, NULL, &cb, &s);
	}
	printf("asked %zu hits %zu published %zu blobs %zu\n", s.asked, s.hits, s.published,
	       s.blobs.moved);
	free(keys);
	store_release(&st);
	s3_client_free(c);
	return ret < 0 ? 1 : 0;
}
