/*
 * libFuzzer target for the blob packs (runtime/store/blobpack.h): any bytes given as
 * a pack file, opened as a thunk pack and as a value pack, must open (or be refused)
 * without a crash, a leak or an out-of-bounds access, and a pack that opens must
 * answer lookups with verified bytes only, for every entry of its index (what `gg
 * cache verify` walks).  The trailer is not checked at open, but the input is also
 * tried with its trailer recomputed (blobpack_trailer_ok must then say so).  Built
 * and run briefly by `make check`; seeds in tests/fuzz/corpus/pack/.
 */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/store/blobpack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];

static void try_pack(const uint8_t *data, size_t size, enum gg_hash_kind kind)
{
	char path[128];
	struct blobpack *p;
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
	if (blobpack_open(path, kind, size & 1 ? BLOBPACK_POPULATE : 0, &p) < 0 || !p)
		return;
	/* the first index entry's digest, if any, looked up */
	h.kind = (uint8_t)kind;
	memcpy(h.bytes, size >= 16 + GG_HASH_LEN ? data + 16 : (const uint8_t *)"0123456789abcdef",
	       GG_HASH_LEN);
	if (blobpack_get(p, &h, &b, &len) == 0) {
		struct gg_hash got;
		if (hash_buf(kind, b, len, &got) < 0 || !hash_equal(&got, &h))
			abort(); /* served bytes always match their name */
	}
	for (size_t i = 0; i < blobpack_count(p); i++) {
		struct gg_hash got;
		blobpack_hash_at(p, i, &h);
		if (blobpack_get(p, &h, &b, &len) == 0 &&
		    (hash_buf(kind, b, len, &got) < 0 || !hash_equal(&got, &h)))
			abort();
	}
	(void)blobpack_trailer_ok(p);
	blobpack_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!dir[0]) {
		strcpy(dir, "/tmp/gg-fuzz-pack-XXXXXX");
		if (!mkdtemp(dir))
			abort();
	}
	try_pack(data, size, GG_HASH_THUNK);
	try_pack(data, size, GG_HASH_VALUE);
	if (size > GG_HASH_LEN) { /* the same with a trailer that checks */
		uint8_t *copy = malloc(size);
		struct gg_hash sum;
		if (!copy)
			abort();
		memcpy(copy, data, size);
		hash_buf(GG_HASH_VALUE, copy, size - GG_HASH_LEN, &sum);
		memcpy(copy + size - GG_HASH_LEN, sum.bytes, GG_HASH_LEN);
		try_pack(copy, size, GG_HASH_THUNK);
		try_pack(copy, size, GG_HASH_VALUE);
		free(copy);
	}
	return 0;
}
