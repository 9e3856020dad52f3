/*
 * mounts.c - a sandbox plan's mount list under construction (mounts.h).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/engine/mounts.h"
#include "runtime/ir/thunk.h"

int mounts_add(struct mounts *m, enum sbx_mount_kind kind, const char *src, const char *dst)
{
	int r = strset_add(&m->dsts, dst);
	if (r <= 0)
		return r; /* declared already (or -ENOMEM) */
	if (m->n == m->alloc) {
		size_t na = m->alloc ? m->alloc * 2 : 256;
		struct sbx_mount *nv = realloc(m->v, na * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		m->v = nv;
		m->alloc = na;
	}
	m->v[m->n++] = (struct sbx_mount){ .kind = kind, .src = src, .dst = dst };
	return 0;
}

const char *mounts_keep(struct mounts *m, const char *s)
{
	if (strlist_push(&m->owned, s) < 0 || !m->owned.n)
		return NULL;
	return m->owned.v[m->owned.n - 1];
}

bool mounts_under(const struct mounts *m, const char *dir)
{
	size_t dl = strlen(dir);
	for (size_t i = 0; i < m->n; i++)
		if (!strncmp(m->v[i].dst, dir, dl) && (m->v[i].dst[dl] == '/' || !m->v[i].dst[dl]))
			return true;
	return false;
}

int mounts_ancestor_kind(const struct mounts *m, const char *path)
{
	char buf[PATH_MAX * 2];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *slash = strrchr(buf, '/'); slash && slash != buf; slash = strrchr(buf, '/')) {
		*slash = '\0';
		if (!strset_has(&m->dsts, buf))
			continue;
		for (size_t i = 0; i < m->n; i++)
			if (!strcmp(m->v[i].dst, buf))
				return (int)m->v[i].kind;
	}
	return -1;
}

void mounts_release(struct mounts *m)
{
	free(m->v);
	strset_release(&m->dsts);
	strlist_release(&m->owned);
	*m = (struct mounts)MOUNTS_INIT;
}

bool mounts_is_output(const struct thunk *th, const char *path)
{
	size_t lo = 0, hi = th->outputs.n;
	while (lo < hi) { /* outputs are sorted (canonical thunk) */
		size_t mid = (lo + hi) / 2;
		int d = strcmp(th->outputs.v[mid], path);
		if (!d)
			return true;
		if (d < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

int mounts_locale_dirs(const char *e, char dirs[2][PATH_MAX])
{
	const char *v = strchr(e, '='), *dot;
	char norm[256];
	size_t n;

	if (!v || !(!strncmp(e, "LANG=", 5) || !strncmp(e, "LC_", 3)))
		return 0;
	v++;
	if (!*v || !strcmp(v, "C") || !strcmp(v, "POSIX") || strchr(v, '/') ||
	    strlen(v) >= sizeof(norm))
		return 0;
	snprintf(dirs[0], PATH_MAX, "/usr/lib/locale/%s", v);
	if (!(dot = strchr(v, '.')))
		return 1;
	n = (size_t)(dot - v) + 1;
	memcpy(norm, v, n);
	for (const char *c = dot + 1; *c && *c != '@' && n < sizeof(norm) - 1; c++)
		if ((*c >= '0' && *c <= '9') || ((*c | 0x20) >= 'a' && (*c | 0x20) <= 'z'))
			norm[n++] = (char)((*c >= 'A' && *c <= 'Z') ? *c | 0x20 : *c);
	norm[n] = '\0';
	snprintf(dirs[1], PATH_MAX, "/usr/lib/locale/%s%s", norm,
		 strchr(dot, '@') ? strchr(dot, '@') : "");
	return 2;
}
