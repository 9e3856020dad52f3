/*
 * audit_system.c - the files a build read from outside its trees, by Debian package
 * (`gg audit system`, audit.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inferer/audit/audit.h"
#include "inferer/audit/audit_dpkg.h"

/* One time a file was read or run; merged by path afterwards. */
struct use {
	const char *path; /* owned by the thunk or the trace */
	bool tool, reader;
};

struct collect {
	struct audit *a;
	struct use *v;
	size_t n, alloc;
};

static int add_use(struct collect *c, const char *path, bool tool, bool reader)
{
	if (!path || !path[0] || audit_place(c->a, path) != AUDIT_OUTSIDE)
		return 0;
	if (c->n == c->alloc) {
		size_t na = c->alloc ? c->alloc * 2 : 1024;
		struct use *nv = realloc(c->v, na * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		c->v = nv;
		c->alloc = na;
	}
	c->v[c->n++] = (struct use){ path, tool, reader };
	return 0;
}

static int use_cmp(const void *x, const void *y)
{
	return strcmp(((const struct use *)x)->path, ((const struct use *)y)->path);
}

/* Sorted uses -> one file each. */
static int merge_uses(struct collect *c, struct audit_system *s)
{
	if (c->n)
		qsort(c->v, c->n, sizeof(*c->v), use_cmp);
	s->files = calloc(c->n + 1, sizeof(*s->files));
	if (!s->files)
		return -ENOMEM;
	for (size_t i = 0; i < c->n; i++) {
		struct audit_sysfile *f;
		if (!s->nfiles || strcmp(s->files[s->nfiles - 1].path, c->v[i].path)) {
			f = &s->files[s->nfiles];
			if (!(f->path = strdup(c->v[i].path)))
				return -ENOMEM;
			s->nfiles++;
		}
		f = &s->files[s->nfiles - 1];
		f->tool |= c->v[i].tool;
		f->readers += c->v[i].reader;
	}
	return 0;
}

static int pkg_cmp(const void *x, const void *y)
{
	return strcmp(((const struct audit_package *)x)->name,
		      ((const struct audit_package *)y)->name);
}

static int add_to_package(struct audit_system *s, size_t *alloc, const char *name,
			  const char *version, size_t file)
{
	struct audit_package *p = NULL;
	size_t *nf;
	for (size_t i = 0; i < s->npkgs && !p; i++)
		if (!strcmp(s->pkgs[i].name, name))
			p = &s->pkgs[i];
	if (!p) {
		if (s->npkgs == *alloc) {
			size_t na = *alloc ? *alloc * 2 : 32;
			struct audit_package *nv = realloc(s->pkgs, na * sizeof(*nv));
			if (!nv)
				return -ENOMEM;
			s->pkgs = nv;
			*alloc = na;
		}
		p = &s->pkgs[s->npkgs];
		memset(p, 0, sizeof(*p));
		p->name = strdup(name);
		p->version = strdup(version ? version : "");
		s->npkgs++;
		if (!p->name || !p->version)
			return -ENOMEM;
	}
	nf = realloc(p->files, (p->nfiles + 1) * sizeof(*nf));
	if (!nf)
		return -ENOMEM;
	p->files = nf;
	p->files[p->nfiles++] = file;
	return 0;
}

int audit_system(struct audit *a, struct audit_system *out, char *err, size_t errlen)
{
	struct collect c = { a, NULL, 0, 0 };
	struct dpkg_db *db = NULL;
	char *cache = NULL, derr[512] = "";
	const char **paths = NULL;
	size_t palloc = 0;
	int ret;

	memset(out, 0, sizeof(*out));
	if ((ret = audit_need(a, AUDIT_NEED_GRAPH, err, errlen)) < 0)
		return ret;
	for (size_t n = 0; n < a->g.n; n++) {
		const struct thunk *th = &a->thunks[n];
		if (!a->have_thunk[n])
			continue;
		for (size_t i = 0; i < th->inputs.n && ret == 0; i++)
			if (th->inputs.v[i].hash.kind == GG_HASH_VALUE)
				ret = add_use(&c, th->inputs.v[i].path, false, true);
		for (size_t i = 0; i < th->objects.n && ret == 0; i++)
			if (th->objects.v[i].hash.kind == GG_HASH_VALUE)
				ret = add_use(&c, th->objects.v[i].path, true, true);
		if (!ret && th->exe.path && th->exe.hash.kind == GG_HASH_VALUE)
			ret = add_use(&c, th->exe.path, true, true);
		if (ret < 0)
			goto out_nomem;
	}
	/* the drivers themselves are part of the build's bill of materials */
	for (size_t i = 0; a->have_trace && i < a->t.nimages && ret == 0; i++) {
		const struct trace_image *im = a->t.images[i];
		if (!audit_is_driver(im, NULL, NULL))
			continue;
		ret = add_use(&c, im->exe, true, false);
		if (!ret && im->interp)
			ret = add_use(&c, im->interp, true, false);
		for (uint32_t k = 0; k < im->objects.n && ret == 0; k++)
			ret = add_use(&c, im->objects.v[k], true, false);
	}
	if (ret < 0 || merge_uses(&c, out) < 0)
		goto out_nomem;

	/* owners */
	if (asprintf(&cache, "%s/%s", a->ggdir, DPKG_CACHE_NAME) < 0 ||
	    !(db = dpkg_open(cache, NULL)) ||
	    !(paths = malloc((out->nfiles + 1) * sizeof(*paths))))
		goto out_nomem;
	for (size_t i = 0; i < out->nfiles; i++)
		paths[i] = out->files[i].path;
	ret = dpkg_resolve(db, paths, out->nfiles, derr, sizeof(derr));
	out->dpkg_runs = dpkg_stats(db)->dpkg_runs;
	out->cached = dpkg_stats(db)->cached;
	if (ret == -ENOMEM)
		goto out_nomem;
	if (ret < 0) {
		out->dpkg_error = strdup(derr);
		ret = 0;
		goto out;
	}
	out->dpkg = true;
	for (size_t i = 0; i < out->nfiles && ret == 0; i++) {
		const char *o = dpkg_owner(db, out->files[i].path);
		if (!o)
			continue;
		if (!(out->files[i].owner = strdup(o)))
			goto out_nomem;
		if (!o[0]) {
			out->unowned++;
			continue;
		}
		while (*o && ret == 0) {
			size_t l = strcspn(o, ",");
			char *pkg = strndup(o, l);
			if (!pkg)
				goto out_nomem;
			ret = add_to_package(out, &palloc, pkg, dpkg_version(db, pkg), i);
			free(pkg);
			o += l;
			while (*o == ',' || *o == ' ')
				o++;
		}
	}
	if (ret < 0)
		goto out_nomem;
	if (out->npkgs)
		qsort(out->pkgs, out->npkgs, sizeof(*out->pkgs), pkg_cmp);
	if ((ret = dpkg_save(db)) < 0) {
		strlist_pushf(&a->warnings, "cannot write the package cache '%s': %s", cache,
			      strerror(-ret));
		ret = 0;
	}
	goto out;
out_nomem:
	snprintf(err, errlen, "out of memory");
	ret = -ENOMEM;
	audit_system_release(out);
out:
	dpkg_free(db);
	free(cache);
	free(paths);
	free(c.v);
	return ret;
}

void audit_system_release(struct audit_system *s)
{
	for (size_t i = 0; i < s->nfiles; i++) {
		free(s->files[i].path);
		free(s->files[i].owner);
	}
	free(s->files);
	for (size_t i = 0; i < s->npkgs; i++) {
		free(s->pkgs[i].name);
		free(s->pkgs[i].version);
		free(s->pkgs[i].files);
	}
	free(s->pkgs);
	free(s->dpkg_error);
	memset(s, 0, sizeof(*s));
}
