/*
 * libFuzzer target for the results-cache log (runtime/store/cache.h): any bytes
 * given as <ggdir>/cache/results.log must load without a crash, a leak or an
 * out-of-bounds access; every entry that comes out must be one cache_get returns
 * too, and an append after the (repaired) log must read back.  The same bytes are
 * also decoded as one entry (the S3 wire format).  Built and run briefly by
 * `make check`; seeds in tests/fuzz/corpus/cache/.
 */
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/store/cache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];
static char logpath[128];

static int check_one(void *ctx, const struct gg_hash *key, const struct cache_entry *e)
{
	struct gg_hash *keys = ctx;
	(void)e;
	keys[0] = *key; /* the last live key, looked up again below */
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cache_entry e;
	struct gg_hash key = { .kind = 0 }, mine;
	struct cache_output o = { .path = "/t/out", .mode = 0100644 };
	struct cache_entry put = { &o, 1 };
	int fd;

	if (cache_entry_decode(data, size, &e) == 0)
		cache_entry_release(&e);
	if (!dir[0]) {
		char sub[96];
		strcpy(dir, "/tmp/gg-fuzz-cache-XXXXXX");
		if (!mkdtemp(dir))
			abort();
		snprintf(sub, sizeof(sub), "%s/cache", dir);
		if (mkdir(sub, 0755) < 0)
			abort();
		snprintf(logpath, sizeof(logpath), "%s/cache/results.log", dir);
	}
	cache_reset();
	if ((fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0)
		abort();
	if (size && write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);
	if (cache_foreach(dir, check_one, &key) < 0)
		return 0;
	if (key.kind) {
		if (cache_get(dir, &key, &e) != 0)
			abort(); /* listed, so it must be found */
		cache_entry_release(&e);
	}
	hash_buf(GG_HASH_THUNK, "fuzz", 4, &mine);
	hash_buf(GG_HASH_VALUE, "v", 1, &o.value);
	if (cache_put(dir, &mine, &put) == 0) {
		cache_reset();
		if (cache_get(dir, &mine, &e) != 0 || e.n != 1 || !hash_equal(&e.v[0].value, &o.value))
			abort(); /* an append after whatever was there reads back */
		cache_entry_release(&e);
	}
	return 0;
}
