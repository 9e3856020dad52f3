/*
 * mounts.h - a sandbox plan's mount list under construction (sandbox/sbx.h's
 * struct sbx_mount), for the engines that plan one from a thunk: local (the host's
 * files at their paths) and the worker's level 1 (the files of its root R).
 *
 * The first declaration of a destination wins: mounts_add of a path declared
 * already does nothing.  The strings the mounts point to are the caller's, or
 * copies kept by mounts_keep that live until mounts_release.  Errors: -ENOMEM.
 */
#ifndef GG_ENGINE_MOUNTS_H
#define GG_ENGINE_MOUNTS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "runtime/lib/util.h"
#include "sandbox/sbx.h"

struct thunk;

struct mounts {
	struct sbx_mount *v;  /* the plan's mounts, in declaration order (v, n: the plan's) */
	size_t n, alloc;
	struct strset dsts;   /* destinations declared */
	struct strlist owned; /* strings kept for the mounts */
};

#define MOUNTS_INIT { 0 }

/* 0 when added, or when dst was declared already; -ENOMEM. */
int mounts_add(struct mounts *m, enum sbx_mount_kind kind, const char *src, const char *dst);
/* A copy of s that lives as long as m; NULL when out of memory. */
const char *mounts_keep(struct mounts *m, const char *s);
/* Is dir, or a path below it, declared? */
bool mounts_under(const struct mounts *m, const char *dir);
/* The kind of the nearest proper ancestor of path that is declared, or -1 if none is. */
int mounts_ancestor_kind(const struct mounts *m, const char *path);
void mounts_release(struct mounts *m);

/* Is path one of the thunk's declared outputs (sorted: a binary search)?  An input
 * that is also an output is copied into its writable output directory instead. */
bool mounts_is_output(const struct thunk *th, const char *path);

/*
 * The locale data a setlocale(LC_ALL, "") loads for one environment entry e
 * ("LANG=..." or "LC_...=..."): glibc opens /usr/lib/locale/locale-archive, else
 * /usr/lib/locale/NAME/LC_* with NAME as given and with its codeset normalised
 * (glibc's _nl_normalize_codeset: "C.UTF-8" -> "C.utf8"), all with its own internal
 * opens, which no preload library sees.  The directories, into dirs: 0 when e names
 * no locale to load (another variable, empty, C, POSIX, a path), else 1 or 2.
 */
int mounts_locale_dirs(const char *e, char dirs[2][PATH_MAX]);

#endif
