/*
 * mpcheck.h - is there one whole, well-formed msgpack object at the start of a
 * buffer whose containers announce no more elements than there are bytes left?
 *
 * msgpack-c's unpacker allocates what a container's count asks for before it reads
 * the elements: a corrupt or hostile count (an entry read from a bucket, a torn log)
 * could ask for gigabytes.  Checking first bounds what msgpack_unpack_next allocates
 * by the input's size.  Nothing here allocates, prints or fails otherwise.
 */
#ifndef GG_MPCHECK_H
#define GG_MPCHECK_H

#include <stddef.h>
#include <stdint.h>

/* The size of the msgpack object at p[0..n), or 0 when there is none (see above). */
size_t mp_check(const unsigned char *p, size_t n);

#endif
