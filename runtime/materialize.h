/*
 * materialize.h - put a stored value at a path of the tree, atomically.
 *
 * The file appears whole or not at all: the blob is copied to a temporary file in
 * the same directory, given its mode, and renamed over the path (a symbolic link,
 * mode S_IFLNK, is made from the blob's bytes as its target).  A path that already
 * holds the value (by the stat cache) is left alone, so its timestamp does not move;
 * a new file gets the current time, which is after every input it was made from, so
 * make(1) afterwards sees it up to date.  Missing parent directories are created.
 *
 * Errors: 0 or -errno (-ENOENT: the blob is not in the store); nothing prints.
 */
#ifndef GG_MATERIALIZE_H
#define GG_MATERIALIZE_H

#include <stdbool.h>
#include <stdint.h>

#include "hash.h"
#include "statcache.h"
#include "store.h"

/* *changed (may be NULL) tells whether the path was written. */
int materialize(struct store *st, struct statcache *sc, const char *path,
		const struct gg_hash *value, uint32_t mode, bool *changed);

#endif
