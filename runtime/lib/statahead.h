/*
 * statahead.h - lstat a list of paths ahead of the thread that needs the answers,
 * on a thread of its own (as readahead does for bytes).  A fully cached build looks
 * at every output once; with two cores, the looking happens beside the scheduling
 * rather than inside it.
 *
 * The answers are a snapshot: lstat data taken at some moment after
 * statahead_start.  A caller may use one only while it knows the file has not been
 * written since the start (the builder: while nothing has run or been written).
 * The path strings must outlive the statahead.  Nothing here prints; the thread
 * blocks no signals the caller relies on (it is created with all signals blocked).
 */
#ifndef GG_STATAHEAD_H
#define GG_STATAHEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

struct statahead;

/* Start looking at paths[0..n) in order.  0, or -errno (no thread: the caller
 * looks itself). */
int statahead_start(struct statahead **out, const char *const *paths, size_t n);

/* paths[i]'s lstat data, when the thread has taken it and lstat succeeded: true and
 * *sb; false when not yet there or lstat failed (then the caller looks itself). */
bool statahead_get(struct statahead *sa, size_t i, struct stat *sb);

/* Stop the thread (it finishes the path in hand) and free everything. */
void statahead_free(struct statahead *sa);

#endif
