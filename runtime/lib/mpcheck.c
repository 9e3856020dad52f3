/*
 * mpcheck.c - bounded msgpack structure check (see mpcheck.h).  The same check as
 * runtime/trace/trace_read.c's, which can use this one.
 */
#include "runtime/lib/mpcheck.h"

static uint64_t be(const unsigned char *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

/*
 * The size of the msgpack object at the start of p[0..n), or 0 when there is no
 * whole, well-formed object there.  Every container must announce no more elements
 * than there are bytes left (each element takes one byte at least), so the objects
 * msgpack-c allocates for the record are bounded by its size: a corrupt count
 * cannot ask for gigabytes.
 */
size_t mp_check(const unsigned char *p, size_t n)
{
	size_t off = 0, pending = 1;

	while (pending) {
		unsigned char b;
		uint64_t skip = 0, items = 0;

		if (off >= n)
			return 0;
		b = p[off++];
		pending--;
		if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
			/* fixint, nil, bool */
		} else if (b <= 0x8f) {
			items = 2 * (uint64_t)(b & 0x0f);
		} else if (b <= 0x9f) {
			items = b & 0x0f;
		} else if (b <= 0xbf) {
			skip = b & 0x1f;
		} else {
			static const unsigned char lenbytes[] = {
				/* c4..c9: bin8/16/32, ext8/16/32 */ 1, 2, 4, 1, 2, 4,
			};
			unsigned l;

			switch (b) {
			case 0xc4: case 0xc5: case 0xc6: case 0xc7: case 0xc8: case 0xc9:
				l = lenbytes[b - 0xc4];
				if (n - off < l)
					return 0;
				skip = be(p + off, l) + (b >= 0xc7); /* ext: + type byte */
				off += l;
				break;
			case 0xca: skip = 4; break;
			case 0xcb: skip = 8; break;
			case 0xcc: case 0xd0: skip = 1; break;
			case 0xcd: case 0xd1: skip = 2; break;
			case 0xce: case 0xd2: skip = 4; break;
			case 0xcf: case 0xd3: skip = 8; break;
			case 0xd4: skip = 2; break;
			case 0xd5: skip = 3; break;
			case 0xd6: skip = 5; break;
			case 0xd7: skip = 9; break;
			case 0xd8: skip = 17; break;
			case 0xd9: case 0xda: case 0xdb:
				l = b == 0xd9 ? 1 : b == 0xda ? 2 : 4;
				if (n - off < l)
					return 0;
				skip = be(p + off, l);
				off += l;
				break;
			case 0xdc: case 0xdd: case 0xde: case 0xdf:
				l = (b & 1) ? 4 : 2;
				if (n - off < l)
					return 0;
				items = be(p + off, l) * (b >= 0xde ? 2 : 1);
				off += l;
				break;
			default: /* 0xc1: never used */
				return 0;
			}
		}
		if (skip > n - off || items > n - off)
			return 0;
		off += skip;
		pending += items;
	}
	return off;
}
