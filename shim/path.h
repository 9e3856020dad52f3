/*
 * path.h - lexical path helpers for the shim, pure functions on caller buffers.
 *
 * The shim records absolute paths.  A relative path is joined to the directory it is
 * relative to (the cwd or a dirfd's path); the result is cleaned lexically: repeated
 * slashes and "." components are removed, a trailing slash is dropped.  ".." is kept
 * as written, because resolving it lexically is wrong when the component before it
 * is a symlink; readers that need a canonical form resolve it themselves.
 *
 * No allocation, no libc calls beyond memcpy/strlen: safe in the shim's hot path and
 * between fork and exec.
 */
#ifndef GG_PATH_H
#define GG_PATH_H

#include <stddef.h>

/*
 * Write `base` + "/" + `rel` (or just `rel` when it is absolute or base is NULL)
 * cleaned as above into out[cap].  Returns the length written, or -ENAMETOOLONG
 * (out then holds a NUL-terminated prefix).  An empty `rel` yields `base`.
 */
long path_join(const char *base, const char *rel, char *out, size_t cap);

/*
 * path_join with the base already in out[cap] ("" for none): `rel` appended to it
 * (or put in its place when absolute), then cleaned.  The same results as
 * path_join, without a second buffer for the base.
 */
long path_join_in(char *out, size_t cap, const char *rel);

/* Clean an absolute path in place (same rules); returns its new length. */
size_t path_clean(char *p);

#endif
