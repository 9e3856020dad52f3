/*
 * cachelog - show the results cache of $GG_DIR (runtime/store/cache.h) to the tests.
 *
 *   cachelog keys     the printed key of every live entry, one per line
 *   cachelog dump     every live entry: "KEY PATH VALUE MODE" per output ("KEY -" for
 *                     an entry without outputs, VALUE "-" when unset), sorted
 *
 * Exits 0, 1 when the log cannot be read, 2 on usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/store/cache.h"

static int show(void *ctx, const struct gg_hash *key, const struct cache_entry *e)
{
	bool dump = *(bool *)ctx;
	char k[GG_HASH_HEX_SIZE], v[GG_HASH_HEX_SIZE];

	hash_to_hex(key, k);
	if (!dump || !e->n) {
		printf(dump ? "%s -\n" : "%s\n", k);
		return 0;
	}
	for (size_t i = 0; i < e->n; i++)
		printf("%s %s %s %o\n", k, e->v[i].path,
		       hash_is_set(&e->v[i].value) ? hash_to_hex(&e->v[i].value, v) : "-",
		       (unsigned)e->v[i].mode);
	return 0;
}

int main(int argc, char **argv)
{
	const char *ggdir = getenv("GG_DIR");
	bool dump;

	if (argc != 2 || !ggdir || (strcmp(argv[1], "keys") && strcmp(argv[1], "dump"))) {
		fprintf(stderr, "usage: GG_DIR=DIR cachelog keys|dump\n");
		return 2;
	}
	dump = !strcmp(argv[1], "dump");
	if (cache_foreach(ggdir, show, &dump) < 0) {
		fprintf(stderr, "cachelog: cannot read the results cache of '%s'\n", ggdir);
		return 1;
	}
	return 0;
}
