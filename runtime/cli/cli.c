/*
 * cli.c - the verbs' common start: .gg directory, store, shim (see cli.h).
 */
#include <errno.h>
#include <malloc.h>
#include <sys/mman.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/cli/cli.h"
#include "runtime/ir/thunk.h"
#include "runtime/lib/json.h"
#include "runtime/store/ggdir.h"
#include "runtime/store/store.h"
#include "runtime/lib/util.h"
#include "shim/trace_format.h"

char *cli_need_ggdir(void)
{
	char *dir = NULL;
	int ret = ggdir_find(NULL, &dir);

	if (ret < 0)
		die("no .gg directory here or above (run 'gg record -- make' first): %s",
		    strerror(-ret));
	return dir;
}

char *cli_make_ggdir(void)
{
	char *dir = NULL;
	int ret = ggdir_create(NULL, &dir, NULL);

	if (ret < 0)
		die("cannot find or create the .gg directory: %s", strerror(-ret));
	return dir;
}

void cli_open_store(struct store *st, const char *ggdir, unsigned flags)
{
	int ret = store_init(st, ggdir, flags);

	if (ret == -ENOENT && !(flags & STORE_CREATE))
		die("no store in '%s' (run 'gg infer' first)", ggdir);
	if (ret < 0)
		die("cannot open the store in '%s': %s", ggdir, strerror(-ret));
}

int cmd_shim_path(char **out)
{
	const char *env = getenv(GG_ENV_SHIM_LIB);
	char exe[PATH_MAX], *slash, *rel;
	ssize_t n;
	int ret;

	if (env && *env)
		return path_abs(env, NULL, out);
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		return -errno;
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (!slash)
		return -ENOENT;
	*slash = '\0';
	if (asprintf(&rel, "%s/../lib/libggshim.so", exe) < 0)
		return -ENOMEM;
	/* /proc/self/exe has no symlinks left, so a lexical ".." is right. */
	ret = path_abs(rel, NULL, out);
	free(rel);
	return ret;
}

void cli_local_str(uint32_t local, char *out, size_t cap)
{
	out[0] = '\0';
	for (int b = 0; b < 8; b++) {
		if (!(local & (1u << b)))
			continue;
		if (out[0])
			strncat(out, ", ", cap - strlen(out) - 1);
		strncat(out, thunk_local_name(1u << b), cap - strlen(out) - 1);
	}
}

void cli_local_json(struct json *j, uint32_t local)
{
	json_arr_begin(j);
	for (int b = 0; b < 8; b++)
		if (local & (1u << b))
			json_str(j, thunk_local_name(1u << b));
	json_arr_end(j);
}

void cli_heap_policy(void)
{
	const size_t step = (size_t)256 << 20, huge = (size_t)2 << 20;
	uintptr_t lo, hi;
	struct mallinfo2 mi;
	void *p;

	if (!mallopt(M_TOP_PAD, (int)step) || !mallopt(M_TRIM_THRESHOLD, (int)step) ||
	    !mallopt(M_MMAP_THRESHOLD, 32 << 20))
		return;
	/* grow the heap now if its free top is small, so the step exists to advise */
	mi = mallinfo2();
	if (mi.keepcost < step / 2) {
		if (!(p = malloc(mi.keepcost + 4096)))
			return;
		free(p);
		mi = mallinfo2();
	}
	hi = (uintptr_t)sbrk(0);
	lo = hi - mi.arena; /* the main heap: what malloc took with sbrk */
	lo = (lo + huge - 1) & ~(uintptr_t)(huge - 1);
	hi &= ~(uintptr_t)(huge - 1);
	if (hi > lo)
		(void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
}
