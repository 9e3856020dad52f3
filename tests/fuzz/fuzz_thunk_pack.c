/*
 * libFuzzer target for the thunk pack (runtime/store/thunkpack.h): any bytes given
 * as <ggdir>/thunks.pack must open (or be refused) without a crash, a leak or an
 * out-of-bounds access, and a pack that opens must answer lookups with verified
 * bytes only, for every entry of its index (what `gg cache verify` walks).  The
 * trailer is not checked at open any more, but the input is also tried with its
 * trailer recomputed (thunkpack_trailer_ok must then say so).  Built and run briefly by `make check`; seeds
 * in tests/fuzz/corpus/pack/.
 */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/store/thunkpack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];

static void try_pack(const uint8_t *data, size_t size)
{
	char path[128];
	struct thunkpack *p;
	struct gg_hash h;
	const void *b;
	size_t len;
	int fd;

	snprintf(path, sizeof(path), "%s/thunks.pack", dir);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0)
		abort();
	if (size && write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);
	if (thunkpack_open(dir, &p) < 0 || !p)
		return;
	/* the first index entry's digest, if any, looked up as a THUNK */
	h.kind = GG_HASH_THUNK;
	memcpy(h.bytes, size >= 16 + GG_HASH_LEN ? data + 16 : (const uint8_t *)"0123456789abcdef",
	       GG_HASH_LEN);
	if (thunkpack_get(p, &h, &b, &len) == 0) {
		struct gg_hash got;
		if (hash_buf(GG_HASH_THUNK, b, len, &got) < 0 || !hash_equal(&got, &h))
			abort(); /* served bytes always match their name */
	}
	for (size_t i = 0; i < thunkpack_count(p); i++) {
		struct gg_hash got;
		thunkpack_hash_at(p, i, &h);
		if (thunkpack_get(p, &h, &b, &len) == 0 &&
		    (hash_buf(GG_HASH_THUNK, b, len, &got) < 0 || !hash_equal(&got, &h)))
			abort();
	}
	(void)thunkpack_trailer_ok(p);
	thunkpack_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!dir[0]) {
		strcpy(dir, "/tmp/gg-fuzz-pack-XXXXXX");
		if (!mkdtemp(dir))
			abort();
	}
	try_pack(data, size);
	if (size > GG_HASH_LEN) { /* the same with a trailer that checks */
		uint8_t *copy = malloc(size);
		struct gg_hash sum;
		if (!copy)
			abort();
		memcpy(copy, data, size);
		hash_buf(GG_HASH_VALUE, copy, size - GG_HASH_LEN, &sum);
		memcpy(copy + size - GG_HASH_LEN, sum.bytes, GG_HASH_LEN);
		try_pack(copy, size);
		free(copy);
	}
	return 0;
}
