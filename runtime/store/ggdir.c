/*
 * ggdir.c - see ggdir.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "shim/trace_format.h"
#include "runtime/store/ggdir.h"
#include "runtime/lib/util.h"

int ggdir_mkdirs(const char *path)
{
	struct stat sb;
	char *p, *s;
	int ret = 0;

	/* mostly there already (every output of a directory after its first): one
	 * stat, not a mkdir per component */
	if (stat(path, &sb) == 0)
		return S_ISDIR(sb.st_mode) ? 0 : -ENOTDIR;
	p = strdup(path);
	if (!p)
		return -ENOMEM;
	for (s = p + 1;; s++) {
		char c = *s;
		if (c != '/' && c != '\0')
			continue;
		*s = '\0';
		if (mkdir(p, 0777) < 0 && errno != EEXIST) {
			ret = -errno;
			goto out_free;
		}
		*s = c;
		if (!c)
			break;
	}
	/* EEXIST may have been a file: say so. */
	{
		struct stat st;
		if (stat(path, &st) < 0)
			ret = -errno;
		else if (!S_ISDIR(st.st_mode))
			ret = -ENOTDIR;
	}
out_free:
	free(p);
	return ret;
}

/* $GG_DIR made absolute, or NULL in *out when unset or empty. */
static int env_ggdir(char **out)
{
	const char *env = getenv(GG_ENV_DIR);

	*out = NULL;
	if (!env || !*env)
		return 0;
	return path_abs(env, NULL, out); /* like GIT_DIR: against the cwd */
}

/* Walk up from `start` looking for a .gg directory. */
static int find_upwards(const char *start, char **out)
{
	char *dir = NULL, *cand = NULL;
	int ret;

	ret = path_abs(start ? start : ".", NULL, &dir);
	if (ret)
		return ret;
	for (;;) {
		struct stat st;
		char *slash;

		free(cand);
		if (asprintf(&cand, "%s%s" GGDIR_NAME, dir, strcmp(dir, "/") ? "/" : "") < 0) {
			cand = NULL;
			ret = -ENOMEM;
			goto out_free;
		}
		if (stat(cand, &st) == 0 && S_ISDIR(st.st_mode)) {
			*out = cand;
			cand = NULL;
			ret = 0;
			goto out_free;
		}
		if (!strcmp(dir, "/")) {
			ret = -ENOENT;
			goto out_free;
		}
		slash = strrchr(dir, '/');
		if (slash == dir)
			slash[1] = '\0';
		else
			*slash = '\0';
	}
out_free:
	free(cand);
	free(dir);
	return ret;
}

int ggdir_find(const char *start, char **out)
{
	char *dir;
	int ret;

	ret = env_ggdir(&dir);
	if (ret)
		return ret;
	if (dir) {
		*out = dir;
		return 0;
	}
	return find_upwards(start, out);
}

/* mkdir dir (*created says if it was made) and check it is a directory: 0 or -errno. */
static int mkdir_here(const char *dir, bool *created)
{
	struct stat st;

	if (mkdir(dir, 0777) == 0) {
		if (created)
			*created = true;
	} else if (errno != EEXIST) {
		return -errno;
	}
	if (stat(dir, &st) < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int ggdir_create(const char *start, char **out, bool *created)
{
	char *dir = NULL;
	int ret;

	if (created)
		*created = false;
	ret = ggdir_find(start, &dir);
	if (ret == -ENOENT) {
		ret = path_abs(GGDIR_NAME, start, &dir);
	}
	if (ret)
		goto out_free;
	if ((ret = mkdir_here(dir, created)) < 0)
		goto out_free;
	*out = dir;
	return 0;
out_free:
	free(dir);
	return ret;
}

int ggdir_init(const char *start, char **out, bool *created)
{
	char *dir = NULL, *trace = NULL;
	int ret;

	if (created)
		*created = false;
	ret = env_ggdir(&dir);
	if (!ret && !dir)
		ret = path_abs(GGDIR_NAME, start, &dir);
	if (ret)
		return ret;
	if ((ret = mkdir_here(dir, created)) < 0)
		goto out_free;
	ret = path_abs(GGDIR_TRACE, dir, &trace);
	if (!ret)
		ret = ggdir_mkdirs(trace);
	free(trace);
	if (ret)
		goto out_free;
	*out = dir;
	return 0;
out_free:
	free(dir);
	return ret;
}

int ggdir_trace_path(const char *start, const char *override, bool or_create, char **out)
{
	char *gg = NULL;
	int ret;

	if (override)
		return path_abs(override, NULL, out);
	ret = ggdir_find(start, &gg);
	if (ret == -ENOENT && or_create)
		ret = path_abs(GGDIR_NAME, start, &gg);
	if (ret)
		return ret;
	ret = path_abs(GGDIR_TRACE, gg, out);
	free(gg);
	return ret;
}

int ggdir_trace_dir(const char *start, const char *override, bool create, char **out)
{
	char *gg = NULL, *trace = NULL;
	int ret;

	if (override) {
		ret = path_abs(override, NULL, &trace);
		if (ret)
			return ret;
	} else {
		ret = create ? ggdir_create(start, &gg, NULL) : ggdir_find(start, &gg);
		if (ret)
			return ret;
		ret = path_abs(GGDIR_TRACE, gg, &trace);
		free(gg);
		if (ret)
			return ret;
	}
	if (create) {
		ret = ggdir_mkdirs(trace);
		if (ret) {
			free(trace);
			return ret;
		}
	}
	*out = trace;
	return 0;
}

int ggdir_ram_scratch(const char *ggdir, char *buf, size_t len)
{
	unsigned long long h = XXH64(ggdir, strlen(ggdir), 0);
	int n = snprintf(buf, len, "/dev/shm/gg-%d/%016llx", (int)geteuid(), h);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}
