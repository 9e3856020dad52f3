/*
 * ggdir.h - find (or create) the .gg directory and the trace directory in it.
 *
 * The .gg directory is found like git finds .git:
 *
 *   1. $GG_DIR, if set and not empty (made absolute against the current directory;
 *      it need not exist yet);
 *   2. else the nearest directory named ".gg" in the start directory or one of its
 *      parents, up to "/";
 *   3. else there is none: ggdir_find() fails with -ENOENT, and ggdir_create()
 *      (used by `gg init` and `gg record`) makes ./.gg in the start directory.
 *
 * The trace directory is <.gg>/trace (GGDIR_TRACE).  Every path handed out is
 * absolute and lexically normal, malloc'd, owned by the caller.
 *
 * Errors come back as -errno; nothing is printed.  -ENOENT from ggdir_find() means
 * "no .gg here or above"; -ENOTDIR means $GG_DIR (or the .gg found) is not a
 * directory.
 */
#ifndef GG_GGDIR_H
#define GG_GGDIR_H

#include <stdbool.h>

#define GGDIR_NAME ".gg"
#define GGDIR_TRACE "trace"

/*
 * Find the .gg directory for `start` (NULL: the current directory).  With $GG_DIR
 * set, that is the answer whether or not it exists.  *out is set on success only.
 */
int ggdir_find(const char *start, char **out);

/*
 * Find the .gg directory as ggdir_find() does, and create it if missing: $GG_DIR
 * (one level, like mkdir), else <start>/.gg when none was found upwards.  *created
 * (may be NULL) tells whether a directory was made.
 */
int ggdir_create(const char *start, char **out, bool *created);

/*
 * Create the .gg directory for `gg init`: $GG_DIR when set, else <start>/.gg (NULL:
 * the current directory), without looking upwards.  Also creates its trace
 * directory.  *created (may be NULL) tells whether the .gg directory was new.
 */
int ggdir_init(const char *start, char **out, bool *created);

/*
 * The name of the trace directory, touching nothing: `override` (made absolute)
 * when non-NULL, else <.gg>/trace of ggdir_find(), else -ENOENT, or with
 * `or_create` the <start>/.gg/trace that ggdir_create() would make.
 */
int ggdir_trace_path(const char *start, const char *override, bool or_create, char **out);

/*
 * The trace directory to use: `override` (made absolute) when non-NULL, else
 * <.gg>/trace of ggdir_find() (create false) or ggdir_create() (create true).
 * With create, the trace directory itself is made too, with its missing parents.
 */
int ggdir_trace_dir(const char *start, const char *override, bool create, char **out);

/* mkdir -p: create `path` and missing parents (mode 0777 & ~umask); -ENOTDIR when it
 * or a component is not a directory.  One stat when it exists. */
int ggdir_mkdirs(const char *path);

/*
 * Job scratch space of the .gg directory `ggdir` on a RAM file system:
 * /dev/shm/gg-<euid>/<16 hex digits of XXH64(ggdir)>, one per .gg directory so
 * that a build of one project never looks busy to `gg cache gc` of another.
 * Only builds the name (no I/O); -ENAMETOOLONG if it does not fit.
 */
int ggdir_ram_scratch(const char *ggdir, char *buf, size_t len);

#endif
