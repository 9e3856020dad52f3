/*
 * libFuzzer target for the trace reader (runtime/trace_read.h): any bytes given as a
 * trace file (a version-1 log or a version-2 or -3 segment, told apart by the header)
 * must be read without a crash, a leak or an out-of-bounds access, and the images
 * that come out must link.  Built and run briefly by `make check` (`make fuzz
 * FUZZ_SECONDS=N` for longer); seeds in tests/fuzz/corpus/trace/ (seed*.ggt logs,
 * seg*.ggt segments: interleaved images, a torn record in the middle, a cut tail;
 * seg3.ggt, version 3: batched images, one of them killed and cut short).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "runtime/trace/trace_read.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct trace t;
	struct strlist warnings = STRLIST_INIT;

	trace_init(&t);
	if (trace_add_buf(&t, "fuzz/4242-0000000000000001.ggt", data, size, &warnings) == 0)
		trace_link(&t);
	for (size_t i = 0; i < t.nimages; i++) {
		const struct trace_image *im = t.images[i];
		if (!im->log || !im->log[0] || !im->file)
			abort(); /* every image is named */
		for (size_t k = 0; k < im->nevents; k++)
			if (im->events[k].type == 0)
				abort(); /* events always have a known or kept type */
	}
	trace_release(&t);
	strlist_release(&warnings);
	return 0;
}
