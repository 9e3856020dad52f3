/*
 * libFuzzer target for thunk_decode (runtime/thunk.h): no input may crash, leak or
 * read out of bounds, and every accepted input must be canonical, i.e. encode back
 * to exactly the same bytes.  Not built by the Makefile.  Seeds are in
 * tests/fuzz/corpus/thunk/; libFuzzer writes new inputs into the first corpus
 * directory it is given, so give it one outside the tree:
 *
 *   clang -std=gnu11 -D_GNU_SOURCE -g -O1 -I. -Iruntime \
 *         -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
 *         tests/fuzz/fuzz_thunk_decode.c runtime/thunk.c runtime/hash.c \
 *         -o build/fuzz_thunk_decode
 *   mkdir -p /tmp/thunk-corpus && build/fuzz_thunk_decode -max_total_time=60 /tmp/thunk-corpus tests/fuzz/corpus/thunk
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/ir/hash.h"
#include "runtime/ir/thunk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct thunk t;
	struct gg_hash h;
	char *buf;
	size_t len;

	if (thunk_decode(data, size, &t) < 0)
		return 0;
	if (thunk_encode(&t, &buf, &len) < 0)
		abort(); /* a decoded thunk must be encodable */
	if (len != size || memcmp(buf, data, size) != 0)
		abort(); /* and canonical */
	free(buf);
	if (thunk_hash(&t, &h) < 0 || h.kind != GG_HASH_THUNK)
		abort();
	thunk_release(&t);
	return 0;
}
