/*
 * path.c - lexical joining and cleaning of paths (see path.h).
 */
#include <errno.h>
#include <string.h>

#include "shim/path.h"

__attribute__((hot)) size_t path_clean(char *p)
{
	char *r = p, *w = p;

	if (*r == '/')
		*w++ = *r++;
	while (*r) {
		if (*r == '/') {
			r++;
			continue;
		}
		if (r[0] == '.' && (r[1] == '/' || r[1] == '\0')) {
			r++;
			continue;
		}
		if (w > p && w[-1] != '/')
			*w++ = '/';
		while (*r && *r != '/')
			*w++ = *r++;
	}
	if (w == p)
		*w++ = '.';
	*w = '\0';
	return (size_t)(w - p);
}

__attribute__((hot)) long path_join(const char *base, const char *rel, char *out, size_t cap)
{
	size_t bl = 0;

	if (cap == 0)
		return -ENAMETOOLONG;
	if (base && (!rel || rel[0] != '/'))
		bl = strnlen(base, cap - 1);
	memcpy(out, base ? base : "", bl);
	out[bl] = '\0';
	return path_join_in(out, cap, rel);
}

__attribute__((hot)) long path_join_in(char *out, size_t cap, const char *rel)
{
	size_t bl, rl = rel ? strlen(rel) : 0;

	if (cap == 0)
		return -ENAMETOOLONG;
	bl = rel && rel[0] == '/' ? 0 : strnlen(out, cap - 1);
	if (bl + 1 + rl + 1 > cap) {
		out[bl] = '\0';
		return -ENAMETOOLONG;
	}
	if (bl) {
		out[bl] = '/';
		memcpy(out + bl + 1, rel ? rel : "", rl + 1);
	} else {
		memcpy(out, rel ? rel : "", rl + 1);
	}
	return (long)path_clean(out);
}
