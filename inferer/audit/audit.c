/*
 * audit.c - loading a recorded build for the audit, finding which driver ran each
 * thunk, and the edge check (audit.h).
 *
 * From a thunk to its driver: a thunk's argv and cwd are those of the first image
 * of the command's process (inferer/infer.c), so the process heads of the recording
 * are indexed by (cwd, argv); when several commands ran the same argv in the same
 * directory, the one whose process tree wrote the thunk's first output wins.  The
 * driver is the nearest ancestor image that runs make, ninja, ... and the enclosing
 * drivers of recursive builds follow the same way up.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "inferer/audit/audit.h"

/* The build drivers, as in infer.c's default list. */
static const char *const driver_names[] = { "make", "gmake", "ninja", "samu", "meson",
					    "cmake", NULL };

#define FILE_MAX ((size_t)64 << 20) /* dependency files and the like read whole */

struct head_ref {
	uint64_t hash;
	const struct trace_image *im;
};

struct dbent {
	char *key;   /* NUL-separated fields: compared by length and bytes */
	size_t keylen;
	struct bdb db;
	int err;     /* 0 or the query's -errno */
	char *error; /* its message */
};

struct audit_priv {
	const struct trace_image **node_head; /* per graph node: its command's first image */
	long *node_driver;                    /* per graph node: driver index or -1 */
	struct audit_driver *drivers;
	const struct trace_image **driver_im;
	size_t ndrivers, adrivers;
	struct dbent *dbs;
	size_t ndbs;
	bool mapped;
};

/* ---- small helpers --------------------------------------------------------------------------- */

static bool under(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	if (n == 1 && dir[0] == '/')
		return path[0] == '/';
	return !strncmp(path, dir, n) && (path[n] == '/' || path[n] == '\0');
}

static char *read_small(const char *path, size_t *len)
{
	struct sbuf sb = SBUF_INIT;
	char buf[65536];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	sbuf_init(&sb, FILE_MAX);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		sbuf_add(&sb, buf, (size_t)n);
	close(fd);
	if (n < 0 || sbuf_error(&sb)) {
		sbuf_release(&sb);
		return NULL;
	}
	return sbuf_detach(&sb, len);
}

enum audit_place audit_place(const struct audit *a, const char *path)
{
	if (a->tree && under(path, a->tree))
		return AUDIT_IN_TREE;
	for (size_t i = 0; i < a->sources.n; i++)
		if (under(path, a->sources.v[i]))
			return AUDIT_IN_SOURCE;
	return AUDIT_OUTSIDE;
}

const char *audit_rel(const struct audit *a, const char *path)
{
	size_t n = a->tree ? strlen(a->tree) : 0;
	if (!path)
		return "";
	if (n > 1 && !strncmp(path, a->tree, n) && path[n] == '/' && path[n + 1])
		return path + n + 1;
	return path;
}

const char *audit_status_name(enum audit_status s)
{
	static const char *const names[] = { "ok", "internal", "missing", "order-only",
					     "depfile-only", "unchecked" };
	return s < AUDIT__NSTATUS ? names[s] : "?";
}

/* ---- loading ----------------------------------------------------------------------------------- */

/* A value "KEY...=VALUE" line of a text file, or NULL. */
static char *line_value(const char *text, const char *prefix)
{
	size_t pl = strlen(prefix);
	for (const char *p = text; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		if (n > pl && !strncmp(p, prefix, pl))
			return strndup(p + pl, n - pl);
		p = nl ? nl + 1 : NULL;
	}
	return NULL;
}

/* The source tree of an out-of-tree build, from what the configure step left. */
static char *find_source_tree(const char *tree)
{
	char *f = NULL, *text = NULL, *val = NULL;
	size_t len;

	if (asprintf(&f, "%s/CMakeCache.txt", tree) >= 0 && (text = read_small(f, &len)))
		val = line_value(text, "CMAKE_HOME_DIRECTORY:INTERNAL=");
	free(f);
	free(text);
	f = text = NULL;
	if (!val && asprintf(&f, "%s/meson-info/meson-info.json", tree) >= 0 &&
	    (text = read_small(f, &len))) {
		const char *p = strstr(text, "\"source\": \"");
		if (p) {
			p += 11;
			val = strndup(p, strcspn(p, "\""));
		}
	}
	free(f);
	free(text);
	f = text = NULL;
	if (!val && asprintf(&f, "%s/Makefile", tree) >= 0 && (text = read_small(f, &len)))
		val = line_value(text, "abs_top_srcdir = ");
	free(f);
	free(text);
	if (val && (!val[0] || val[0] != '/')) {
		free(val);
		val = NULL;
	}
	return val;
}

/* The newest mtime of the trace's logs, in ns (0 if none). */
static long long newest_log(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	long long best = 0;
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		struct stat sb;
		size_t n = strlen(de->d_name);
		if (de->d_name[0] == '.' || n < 4 || strcmp(de->d_name + n - 4, ".ggt"))
			continue;
		if (fstatat(dirfd(d), de->d_name, &sb, 0) == 0) {
			long long t = (long long)sb.st_mtim.tv_sec * 1000000000LL + sb.st_mtim.tv_nsec;
			if (t > best)
				best = t;
		}
	}
	closedir(d);
	return best;
}

static int load_thunks(struct audit *a)
{
	a->thunks = calloc(a->g.n + 1, sizeof(*a->thunks));
	a->have_thunk = calloc(a->g.n + 1, sizeof(*a->have_thunk));
	if (!a->thunks || !a->have_thunk)
		return -ENOMEM;
	for (size_t i = 0; i < a->g.n; i++) {
		char hex[GG_HASH_HEX_SIZE];
		int ret = store_load_thunk(&a->st, &a->g.nodes[i].hash, &a->thunks[i]);
		if (ret == -ENOMEM)
			return ret;
		if (ret < 0) {
			strlist_pushf(&a->warnings, "cannot read thunk %s of '%s': %s",
				      hash_to_hex(&a->g.nodes[i].hash, hex), a->g.nodes[i].label,
				      strerror(-ret));
			continue;
		}
		a->have_thunk[i] = true;
	}
	return 0;
}

int audit_open(struct audit *a, const char *ggdir, const struct audit_opts *o, char *err,
	       size_t errlen)
{
	struct audit_opts none = { 0 };
	struct strlist tw = STRLIST_INIT;
	char *gfile = NULL, *tdir = NULL, *cwd = NULL;
	struct stat gst;
	int ret;

	memset(a, 0, sizeof(*a));
	graph_init(&a->g);
	trace_init(&a->t);
	if (!o)
		o = &none;
	if (!(a->ggdir = strdup(ggdir)) || !(a->priv = calloc(1, sizeof(*a->priv))))
		goto out_nomem;

	/* the graph and its thunks */
	if (asprintf(&gfile, "%s/graph", ggdir) < 0)
		goto out_nomem;
	ret = graph_load(&a->g, gfile);
	if (ret == 0) {
		a->have_graph = true;
	} else if (ret != -ENOENT) {
		strlist_pushf(&a->warnings, "cannot read graph '%s': %s", gfile, strerror(-ret));
	}
	if (a->have_graph) {
		if ((ret = store_init(&a->st, ggdir, 0)) < 0) {
			strlist_pushf(&a->warnings, "cannot open the store in '%s': %s", ggdir,
				      strerror(-ret));
		} else {
			a->have_store = true;
			if ((ret = load_thunks(a)) < 0)
				goto out_nomem;
		}
		if (a->g.tree && !(a->tree = strdup(a->g.tree)))
			goto out_nomem;
	}

	/* the recording */
	if (o->trace_dir)
		ret = path_abs(o->trace_dir, NULL, &tdir);
	else
		ret = asprintf(&tdir, "%s/trace", ggdir) < 0 ? -ENOMEM : 0;
	if (ret < 0)
		goto out_nomem;
	ret = trace_open_dir(&a->t, tdir, &tw);
	if (ret == 0 && a->t.nimages) {
		a->have_trace = true;
	} else if (ret < 0 && ret != -ENOENT) {
		strlist_pushf(&a->warnings, "%s", a->t.error);
	}
	if (tw.n)
		strlist_pushf(&a->warnings, "the recording has %zu damaged logs (first: %s)", tw.n,
			      tw.v[0]);
	if (!a->have_graph && !a->have_trace) {
		snprintf(err, errlen,
			 "no recording in '%s' (run 'gg record -- make', then 'gg infer')", ggdir);
		ret = -ENOENT;
		goto out;
	}
	if (!a->tree && a->have_trace) {
		for (size_t i = 0; i < a->t.nimages && !a->tree; i++)
			if (!a->t.images[i]->parent && a->t.images[i]->cwd &&
			    !(a->tree = strdup(a->t.images[i]->cwd)))
				goto out_nomem;
	}

	/* is it all about the same build, and about this place? */
	if (a->have_graph && a->have_trace) {
		const char *root_cwd = NULL;
		for (size_t i = 0; i < a->t.nimages && !root_cwd; i++)
			if (!a->t.images[i]->parent)
				root_cwd = a->t.images[i]->cwd;
		if (root_cwd && a->tree && !under(root_cwd, a->tree) && !under(a->tree, root_cwd))
			strlist_pushf(&a->warnings,
				      "the graph is of '%s' but the recording was made in '%s' "
				      "(run 'gg infer')", a->tree, root_cwd);
		else if (stat(gfile, &gst) == 0 &&
			 newest_log(tdir) > (long long)gst.st_mtim.tv_sec * 1000000000LL +
						    gst.st_mtim.tv_nsec)
			strlist_pushf(&a->warnings,
				      "the recording is newer than the graph (run 'gg infer')");
	}
	if (a->tree) {
		struct stat sb;
		if (stat(a->tree, &sb) < 0)
			strlist_pushf(&a->warnings, "the recorded build tree '%s' no longer exists",
				      a->tree);
		if ((cwd = getcwd(NULL, 0)) && !under(cwd, a->tree) && !under(a->tree, cwd) &&
		    (!o->source_tree || !under(cwd, o->source_tree)))
			strlist_pushf(&a->warnings,
				      "this directory is not in the recorded build tree '%s'",
				      a->tree);
	}
	/* source trees */
	if (o->source_tree) {
		char *s = NULL;
		if (path_abs(o->source_tree, NULL, &s) < 0 || strlist_push(&a->sources, s) < 0) {
			free(s);
			goto out_nomem;
		}
		free(s);
	} else if (a->tree) {
		char *s = find_source_tree(a->tree), *n = NULL;
		if (s && path_abs(s, NULL, &n) == 0 && strcmp(n, a->tree) &&
		    strlist_push(&a->sources, n) < 0) {
			free(s);
			free(n);
			goto out_nomem;
		}
		free(s);
		free(n);
	}
	ret = 0;
	goto out;
out_nomem:
	snprintf(err, errlen, "out of memory");
	ret = -ENOMEM;
out:
	free(gfile);
	free(tdir);
	free(cwd);
	strlist_release(&tw);
	if (ret < 0) {
		audit_release(a);
		memset(a, 0, sizeof(*a));
	}
	return ret;
}

static void driver_release(struct audit_driver *d)
{
	free(d->name);
	free(d->cwd);
	free(d->dir);
	free(d->argv);
	free(d->error);
}

void audit_release(struct audit *a)
{
	struct audit_priv *p = a->priv;
	if (p) {
		free(p->node_head);
		free(p->node_driver);
		for (size_t i = 0; i < p->ndrivers; i++)
			driver_release(&p->drivers[i]);
		free(p->drivers);
		free(p->driver_im);
		for (size_t i = 0; i < p->ndbs; i++) {
			free(p->dbs[i].key);
			free(p->dbs[i].error);
			bdb_release(&p->dbs[i].db);
		}
		free(p->dbs);
		free(p);
	}
	for (size_t i = 0; a->thunks && i < a->g.n; i++)
		if (a->have_thunk[i])
			thunk_release(&a->thunks[i]);
	free(a->thunks);
	free(a->have_thunk);
	if (a->have_store)
		store_release(&a->st);
	graph_release(&a->g);
	trace_release(&a->t);
	strlist_release(&a->sources);
	strlist_release(&a->warnings);
	free(a->tree);
	free(a->ggdir);
	memset(a, 0, sizeof(*a));
}

int audit_need(const struct audit *a, unsigned what, char *err, size_t errlen)
{
	if ((what & AUDIT_NEED_GRAPH) && !a->have_graph) {
		snprintf(err, errlen, "no graph in '%s' (run 'gg infer' after 'gg record')",
			 a->ggdir);
		return -ENOENT;
	}
	if ((what & AUDIT_NEED_TRACE) && !a->have_trace) {
		snprintf(err, errlen, "no recording in '%s/trace' (run 'gg record -- make')",
			 a->ggdir);
		return -ENOENT;
	}
	return 0;
}

/* ---- from thunks to commands and drivers ---------------------------------------------------------- */

static enum bdb_kind driver_kind(const struct trace_image *im, const char **name)
{
	const char *names[2] = { path_base(im->exe ? im->exe : ""),
				 im->argv.n ? path_base(im->argv.v[0]) : "" };
	for (int k = 0; k < 2; k++) {
		for (size_t i = 0; driver_names[i]; i++) {
			if (strcmp(names[k], driver_names[i]))
				continue;
			if (!strcmp(driver_names[i], "cmake")) {
				bool build = false;
				for (uint32_t a = 0; a < im->argv.n && !build; a++)
					build = !strcmp(im->argv.v[a], "--build");
				if (!build)
					continue;
			}
			*name = driver_names[i];
			if (!strcmp(names[k], "make") || !strcmp(names[k], "gmake"))
				return BDB_MAKE;
			if (!strcmp(names[k], "ninja") || !strcmp(names[k], "samu"))
				return BDB_NINJA;
			return BDB_NONE;
		}
	}
	*name = NULL;
	return BDB_NONE;
}

bool audit_is_driver(const struct trace_image *im, enum bdb_kind *kind, const char **name)
{
	const char *n;
	enum bdb_kind k = driver_kind(im, &n);
	if (kind)
		*kind = k;
	if (name)
		*name = n;
	return n != NULL;
}

static bool is_driver(const struct trace_image *im)
{
	const char *name;
	driver_kind(im, &name);
	return name != NULL;
}

/* The first image of im's process (exec predecessors followed back). */
static const struct trace_image *proc_head(const struct trace_image *im)
{
	while (im->parent && im->link == TRACE_LINK_EXEC)
		im = im->parent;
	return im;
}

static uint64_t cmd_key_hash(const char *cwd, const char *const *argv, size_t argc)
{
	uint64_t h = str_hash(cwd ? cwd : "");
	for (size_t i = 0; i < argc; i++)
		h = (h * 1099511628211ULL) ^ str_hash(argv[i]);
	return h;
}

static int href_cmp(const void *x, const void *y)
{
	const struct head_ref *a = x, *b = y;
	if (a->hash != b->hash)
		return a->hash < b->hash ? -1 : 1;
	return a->im->index < b->im->index ? -1 : a->im->index > b->im->index;
}

static bool same_cmd(const struct trace_image *im, const struct thunk *th)
{
	if (strcmp(im->cwd ? im->cwd : "", th->cwd ? th->cwd : "") || im->argv.n != th->argv.n)
		return false;
	for (size_t i = 0; i < th->argv.n; i++)
		if (strcmp(im->argv.v[i], th->argv.v[i]))
			return false;
	return true;
}

static bool open_writes(int flags)
{
	return (flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_TRUNC));
}

/* Did the process tree of `im` write `path`? */
static bool subtree_wrote(const struct trace_image *im, const char *path, int depth)
{
	if (depth > 256)
		return false;
	for (size_t k = 0; k < im->nevents; k++) {
		const struct trace_event *e = &im->events[k];
		const char *p = NULL;
		char *abs = NULL;
		bool hit;
		if (e->type == GG_REC_OPEN && e->ret >= 0 && open_writes(e->u.open.flags))
			p = e->path;
		else if (e->type == GG_REC_NS && e->ret == 0 && e->u.ns.path2 && e->u.ns.path2[0] &&
			 e->fn != GG_FN_symlink && e->fn != GG_FN_symlinkat)
			p = e->u.ns.path2;
		else if (e->type == GG_REC_NS && e->ret == 0 &&
			 (e->fn == GG_FN_symlink || e->fn == GG_FN_symlinkat))
			p = e->path;
		if (!p || !p[0] || path_abs(p, im->cwd, &abs) < 0)
			continue;
		hit = !strcmp(abs, path);
		free(abs);
		if (hit)
			return true;
	}
	for (size_t c = 0; c < im->nchildren; c++)
		if (subtree_wrote(im->children[c], path, depth + 1))
			return true;
	return false;
}

static long add_driver(struct audit *a, const struct trace_image *im);

/*
 * The driver that ran the process of `im` (walking up from im's parent), and the
 * first image of the process directly below it (*child).  -1 if none.
 */
static long driver_above(struct audit *a, const struct trace_image *im,
			 const struct trace_image **child)
{
	const struct trace_image *cur = im;
	int guard = 0;
	while (cur->parent && guard++ < 100000) {
		const struct trace_image *par = cur->parent;
		if (is_driver(par)) {
			if (child)
				*child = proc_head(cur);
			return add_driver(a, par);
		}
		cur = par;
	}
	return -1;
}

static char *join_argv(const struct trace_strv *v)
{
	struct sbuf sb = SBUF_INIT;
	sbuf_init(&sb, 4096);
	for (uint32_t i = 0; i < v->n; i++) {
		if (i)
			sbuf_addch(&sb, ' ');
		sbuf_addstr(&sb, v->v[i]);
	}
	if (sbuf_error(&sb) == -E2BIG) {
		sbuf_release(&sb);
		sbuf_init(&sb, 0);
		sbuf_addstr(&sb, v->n ? v->v[0] : "");
		sbuf_addstr(&sb, " ...");
	}
	return sbuf_detach(&sb, NULL);
}

static long add_driver(struct audit *a, const struct trace_image *im)
{
	struct audit_priv *p = a->priv;
	struct audit_driver d = { 0 };
	const char *name;
	long idx;

	for (size_t i = 0; i < p->ndrivers; i++)
		if (p->driver_im[i] == im)
			return (long)i;
	if (p->ndrivers == p->adrivers) {
		size_t na = p->adrivers ? p->adrivers * 2 : 8;
		struct audit_driver *nd = realloc(p->drivers, na * sizeof(*nd));
		const struct trace_image **ni;
		if (!nd)
			return -1;
		p->drivers = nd;
		ni = realloc(p->driver_im, na * sizeof(*ni));
		if (!ni)
			return -1;
		p->driver_im = ni;
		p->adrivers = na;
	}
	d.kind = driver_kind(im, &name);
	d.name = strdup(name ? name : "?");
	d.cwd = strdup(im->cwd ? im->cwd : "/");
	d.argv = join_argv(&im->argv);
	d.db = -1;
	d.parent = -1;
	if (!d.name || !d.cwd || !d.argv) {
		driver_release(&d);
		return -1;
	}
	idx = (long)p->ndrivers;
	p->drivers[idx] = d;
	p->driver_im[idx] = im;
	p->ndrivers++;
	/* after the push: the recursion may add more drivers (and move the array) */
	{
		long parent = driver_above(a, proc_head(im), NULL);
		p->drivers[idx].parent = parent;
	}
	return idx;
}

/* Map every graph node to its command's first image and its driver. */
static int map_nodes(struct audit *a)
{
	struct audit_priv *p = a->priv;
	struct head_ref *refs = NULL;
	size_t nrefs = 0;
	int ret = 0;

	if (p->mapped)
		return 0;
	p->mapped = true;
	p->node_head = calloc(a->g.n + 1, sizeof(*p->node_head));
	p->node_driver = malloc((a->g.n + 1) * sizeof(*p->node_driver));
	if (!p->node_head || !p->node_driver)
		return -ENOMEM;
	for (size_t i = 0; i < a->g.n; i++)
		p->node_driver[i] = -1;
	if (!a->have_trace)
		return 0;
	refs = malloc((a->t.nimages + 1) * sizeof(*refs));
	if (!refs)
		return -ENOMEM;
	for (size_t i = 0; i < a->t.nimages; i++) {
		const struct trace_image *im = a->t.images[i];
		if (im->parent && im->link == TRACE_LINK_EXEC)
			continue;
		refs[nrefs].hash = cmd_key_hash(im->cwd, im->argv.v, im->argv.n);
		refs[nrefs++].im = im;
	}
	if (nrefs)
		qsort(refs, nrefs, sizeof(*refs), href_cmp);
	for (size_t n = 0; n < a->g.n; n++) {
		const struct thunk *th = &a->thunks[n];
		const struct trace_image *best = NULL;
		uint64_t h;
		size_t lo = 0, hi = nrefs, cands = 0;
		if (!a->have_thunk[n])
			continue;
		h = cmd_key_hash(th->cwd, (const char *const *)th->argv.v, th->argv.n);
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (refs[mid].hash < h)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (size_t k = lo; k < nrefs && refs[k].hash == h; k++) {
			if (!same_cmd(refs[k].im, th) || is_driver(refs[k].im))
				continue;
			if (!cands++)
				best = refs[k].im;
		}
		/* the same command run more than once: the run that wrote the output */
		for (size_t k = lo; cands > 1 && a->g.nodes[n].noutputs && k < nrefs &&
				    refs[k].hash == h; k++) {
			if (same_cmd(refs[k].im, th) && !is_driver(refs[k].im) &&
			    subtree_wrote(refs[k].im, a->g.nodes[n].outputs[0].path, 0)) {
				best = refs[k].im;
				break;
			}
		}
		p->node_head[n] = best;
		if (best) {
			long d = driver_above(a, best, NULL);
			p->node_driver[n] = d;
			if (d >= 0)
				p->drivers[d].commands++;
		}
	}
	free(refs);
	return ret;
}

/* ---- build-system databases -------------------------------------------------------------------------- */

/* The files the recorded make image read (its makefiles), for -o. */
static int make_read_files(const struct trace_image *im, struct strlist *out)
{
	struct strset seen = STRSET_INIT;
	int ret = 0;
	for (size_t k = 0; k < im->nevents && ret == 0; k++) {
		const struct trace_event *e = &im->events[k];
		if (e->type != GG_REC_OPEN || e->ret < 0 || open_writes(e->u.open.flags) ||
		    (e->u.open.flags & O_DIRECTORY) || !e->path || e->path[0] != '/' ||
		    !strncmp(e->path, "/proc/", 6) || !strncmp(e->path, "/dev/", 5) ||
		    !strncmp(e->path, "/sys/", 5))
			continue;
		if (strset_has(&seen, e->path))
			continue;
		if ((ret = strset_add(&seen, e->path)) >= 0)
			ret = strlist_push(out, e->path);
	}
	strset_release(&seen);
	return ret < 0 ? ret : 0;
}

static bool main_makefile(const char *path)
{
	const char *b = path_base(path);
	return !strcmp(b, "Makefile") || !strcmp(b, "makefile") || !strcmp(b, "GNUmakefile");
}

/* Dependency files among the makefiles make read that this build wrote. */
static int mark_depfiles(struct audit *a, struct bdb *db)
{
	int ret = 0;
	for (size_t i = 0; i < db->makefiles.n && ret == 0; i++) {
		const char *mf = db->makefiles.v[i];
		char *text;
		size_t len;
		if (main_makefile(mf) || graph_find_path(&a->g, mf, NULL) < 0)
			continue;
		if (!(text = read_small(mf, &len)))
			continue;
		ret = bdb_mark_depfile(db, audit_rel(a, mf), text, len);
		free(text);
	}
	return ret;
}

/* The database of driver d, querying it once per distinct invocation.  -1 if none. */
static long driver_db(struct audit *a, long di)
{
	struct audit_priv *p = a->priv;
	struct audit_driver *d = &p->drivers[di];
	const struct trace_image *im = p->driver_im[di];
	struct bdb_invocation inv = { 0 };
	struct strlist args = STRLIST_INIT, reads = STRLIST_INIT;
	struct sbuf key = SBUF_INIT;
	char msg[1024] = "";
	long found = -1;
	int ret;

	if (d->db >= 0 || d->error)
		return d->db;
	if (d->kind == BDB_NONE) {
		if (asprintf(&d->error, "gg cannot ask %s for its dependency graph", d->name) < 0)
			d->error = NULL;
		return -1;
	}
	inv.exe = im->exe;
	inv.argv = im->argv.v;
	inv.argc = im->argv.n;
	inv.env = im->env.v;
	inv.envc = im->env.n;
	inv.cwd = im->cwd;
	/* the key: what decides the database (the goals and -j do not) */
	sbuf_addf(&key, "%d%c%s%c%s", d->kind, 0, im->exe ? im->exe : "", 0,
		  im->cwd ? im->cwd : "");
	if (d->kind == BDB_MAKE) {
		ret = bdb_make_args(&inv, &args);
		for (uint32_t i = 0; i < im->env.n; i++)
			if (!strncmp(im->env.v[i], "MAKEFLAGS=", 10)) {
				char *f = bdb_make_flags(im->env.v[i] + 10);
				sbuf_addf(&key, "%cMAKEFLAGS=%s", 0, f ? f : "");
				free(f);
			}
	} else {
		char *dir = NULL;
		ret = bdb_ninja_args(&inv, &args, &dir);
		free(dir);
	}
	for (size_t i = 0; i < args.n; i++)
		sbuf_addf(&key, "%c%s", 0, args.v[i]);
	if (ret < 0 || sbuf_error(&key))
		goto out;
	for (size_t i = 0; i < p->ndbs && found < 0; i++)
		if (p->dbs[i].keylen == key.len && !memcmp(p->dbs[i].key, key.buf, key.len))
			found = (long)i;
	if (found < 0) {
		struct dbent *nd = realloc(p->dbs, (p->ndbs + 1) * sizeof(*nd));
		if (!nd)
			goto out;
		p->dbs = nd;
		memset(&nd[p->ndbs], 0, sizeof(nd[p->ndbs]));
		nd[p->ndbs].key = malloc(key.len + 1);
		if (!nd[p->ndbs].key)
			goto out;
		memcpy(nd[p->ndbs].key, key.buf, key.len + 1);
		nd[p->ndbs].keylen = key.len;
		found = (long)p->ndbs++;
		if (d->kind == BDB_MAKE) {
			if (make_read_files(im, &reads) < 0)
				goto out;
			inv.read_files = (const char *const *)reads.v;
			inv.nread = reads.n;
			ret = bdb_query_make(&p->dbs[found].db, &inv, msg, sizeof(msg));
			if (ret == 0)
				ret = mark_depfiles(a, &p->dbs[found].db);
		} else {
			ret = bdb_query_ninja(&p->dbs[found].db, &inv, msg, sizeof(msg));
		}
		p->dbs[found].err = ret;
		if (ret < 0)
			p->dbs[found].error = strdup(msg[0] ? msg : strerror(-ret));
	}
	if (p->dbs[found].err < 0) {
		d->error = p->dbs[found].error ? strdup(p->dbs[found].error) : NULL;
		found = -1;
	} else {
		d->db = found;
		if (p->dbs[found].db.dir)
			d->dir = strdup(p->dbs[found].db.dir);
	}
out:
	if (found < 0 && !d->error)
		d->error = strdup("out of memory");
	strlist_release(&args);
	strlist_release(&reads);
	sbuf_release(&key);
	return found;
}

/* ---- edges ------------------------------------------------------------------------------------------ */

static bool weak_output(const char *p)
{
	static const char *const weak[] = { ".d", ".Po", ".Tpo", ".Plo", ".tmp", ".stamp",
					    ".dirstamp", NULL };
	size_t pl = strlen(p);
	for (size_t k = 0; weak[k]; k++) {
		size_t sl = strlen(weak[k]);
		if (pl > sl && !strcmp(p + pl - sl, weak[k]))
			return true;
	}
	return false;
}

/* The targets of node n in db: outputs the build system builds; the main one first. */
static int node_targets(struct audit *a, struct bdb *db, size_t n, long *out, size_t cap)
{
	const struct graph_node *nd = &a->g.nodes[n];
	size_t k = 0;
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < nd->noutputs && k < cap; i++) {
			long ni;
			if (weak_output(nd->outputs[i].path) != (pass == 1))
				continue;
			ni = bdb_find(db, nd->outputs[i].path);
			/* make: a file the database never names may still have an implicit rule */
			if (ni < 0 && db->kind == BDB_MAKE && under(nd->outputs[i].path, db->dir ? db->dir : "/"))
				ni = bdb_node_get(db, nd->outputs[i].path);
			if (ni >= 0 && bdb_is_target(db, ni))
				out[k++] = ni;
		}
	}
	return (int)k;
}

/* The chain of drivers above a node: drivers[i] ran child[i]. */
struct chain {
	long drv[64];
	const struct trace_image *child[64];
	size_t n;
};

static void node_chain(struct audit *a, size_t n, struct chain *c)
{
	struct audit_priv *p = a->priv;
	const struct trace_image *im = p->node_head[n];
	c->n = 0;
	while (im && c->n < 64) {
		const struct trace_image *child = NULL;
		long d = driver_above(a, im, &child);
		if (d < 0)
			break;
		c->drv[c->n] = d;
		c->child[c->n++] = child;
		im = proc_head(p->driver_im[d]);
	}
}

/* The goals a recorded make was asked for (else its default goal), as nodes of db. */
static size_t driver_roots(struct audit *a, long di, struct bdb *db, long *out, size_t cap)
{
	const struct trace_image *im = a->priv->driver_im[di];
	struct bdb_invocation inv = { .exe = im->exe, .argv = im->argv.v, .argc = im->argv.n,
				      .cwd = im->cwd };
	struct strlist goals = STRLIST_INIT;
	size_t n = 0;

	if (db->kind != BDB_MAKE)
		return 0;
	if (bdb_make_goals(&inv, &goals) == 0) {
		for (size_t i = 0; i < goals.n && n < cap; i++) {
			char *abs = NULL;
			if (path_abs(goals.v[i], db->dir ? db->dir : "/", &abs) == 0) {
				long ni = bdb_find(db, abs);
				if (ni >= 0)
					out[n++] = ni;
			}
			free(abs);
		}
		if (!goals.n && db->default_goal) {
			long ni = bdb_find(db, db->default_goal);
			if (ni >= 0)
				out[n++] = ni;
		}
	}
	strlist_release(&goals);
	return n;
}

/*
 * Does an enclosing driver order producer before consumer (DEPFILE_ONLY edges)?
 * 1 yes (*why set), 0 no.
 */
static int enclosing_order(struct audit *a, struct audit_edge *e, const long *tc, size_t ntc)
{
	struct audit_priv *p = a->priv;
	struct chain cc, cp;
	long dp = p->node_driver[e->producer];

	if (dp < 0 || dp == p->node_driver[e->consumer])
		return 0;
	node_chain(a, e->consumer, &cc);
	node_chain(a, e->producer, &cp);
	for (size_t i = 0; i < cc.n; i++) {
		long di = cc.drv[i];
		size_t j;
		for (j = 0; j < cp.n && cp.drv[j] != di; j++)
			;
		if (j == cp.n)
			continue;
		/* di encloses both: the lowest common driver */
		if (i == 0) {
			/*
			 * The consumer's own make ran the make that produced the file: the
			 * consumer's target is rebuilt and ordered after it when it depends on
			 * a target whose recipe runs a sub-make (which one ran the producer's
			 * make, the database does not say).
			 */
			long dbi = driver_db(a, di), *sub = NULL;
			size_t ns = 0;
			struct bdb *db;
			int hit = 0;
			if (dbi < 0)
				return 0;
			db = &p->dbs[dbi].db;
			if (!(sub = malloc((db->n + 1) * sizeof(*sub))))
				return -ENOMEM;
			for (size_t k = 0; k < db->n; k++)
				if (db->nodes[k].flags & BDB_F_SUBMAKE)
					sub[ns++] = (long)k;
			for (size_t t = 0; t < ntc && ns && !hit; t++) {
				for (size_t k = 0; k < ns && !hit; k++) {
					int r = bdb_reach(db, tc[t], &sub[k], 1, BDB_NORMAL);
					if (r < 0) {
						free(sub);
						return r;
					}
					if (r) {
						hit = 1;
						if (asprintf(&e->why, "made by the recursive make of '%s', a "
							     "prerequisite", audit_rel(a, db->nodes[sub[k]].path)) < 0)
							e->why = NULL;
					}
				}
			}
			free(sub);
			return hit;
		}
		if (e->status != AUDIT_DEPFILE_ONLY)
			return 0;
		if (j > 0 && cp.child[j] == cc.child[i]) {
			if (asprintf(&e->why, "ordered by one recipe of %s in '%s'",
				     p->drivers[di].name, audit_rel(a, p->drivers[di].cwd)) < 0)
				e->why = NULL;
			return 1;
		}
		{
			long dbi = driver_db(a, di), goals[65], r;
			size_t ng = 0;
			struct bdb *db;
			if (dbi < 0)
				return 0;
			db = &p->dbs[dbi].db;
			if ((r = bdb_find(db, e->path)) >= 0)
				goals[ng++] = r;
			ng += (size_t)node_targets(a, db, e->producer, goals + ng, 64);
			if (!ng)
				return 0;
			{
				long roots[64];
				size_t nr = driver_roots(a, di, db, roots, 64);
				r = bdb_submake_after(db, goals, ng, roots, nr);
			}
			if (r < 0)
				return 0;
			if (asprintf(&e->why, "built before the recursive make of '%s' runs",
				     audit_rel(a, db->nodes[r].path)) < 0)
				e->why = NULL;
			return 1;
		}
	}
	return 0;
}

static void set_why(struct audit_edge *e, const char *fmt, const char *arg)
{
	free(e->why);
	if (asprintf(&e->why, fmt, arg) < 0)
		e->why = NULL;
}

int audit_edge_status(struct bdb *db, const long *targets, size_t nt, const long *goals,
		      size_t ng)
{
	int rebuild = 0, ordered = 0;
	for (size_t i = 0; i < nt && ng; i++) {
		int r = bdb_reach(db, targets[i], goals, ng, BDB_NORMAL | BDB_DEPFILE);
		int o = bdb_reach(db, targets[i], goals, ng, BDB_NORMAL | BDB_ORDER);
		if (r < 0 || o < 0)
			return -ENOMEM;
		rebuild |= r;
		ordered |= o;
	}
	if (rebuild && ordered)
		return AUDIT_OK;
	if (!rebuild && !ordered)
		return AUDIT_MISSING;
	return rebuild ? AUDIT_DEPFILE_ONLY : AUDIT_ORDER_ONLY;
}

static int classify(struct audit *a, struct audit_edge *e)
{
	struct audit_priv *p = a->priv;
	long dc = p->node_driver[e->consumer], dbi, tc[64], tp[64], goals[65], fn;
	int ntc, ntp, st;
	size_t ng = 0;
	struct bdb *db;

	e->driver = dc;
	if (!a->have_trace) {
		e->status = AUDIT_UNCHECKED;
		set_why(e, "%s", "no recording: gg cannot tell which build system ran it");
		return 0;
	}
	if (dc < 0) {
		e->status = AUDIT_UNCHECKED;
		set_why(e, "%s", p->node_head[e->consumer] ? "no build driver (make, ninja) ran it"
							  : "its command is not in the recording");
		return 0;
	}
	if ((dbi = driver_db(a, dc)) < 0) {
		e->status = AUDIT_UNCHECKED;
		set_why(e, "%s", p->drivers[dc].error ? p->drivers[dc].error : "no database");
		return 0;
	}
	db = &p->dbs[dbi].db;
	ntc = node_targets(a, db, e->consumer, tc, 64);
	ntp = node_targets(a, db, e->producer, tp, 64);
	if (ntc > 0 && !(e->target = strdup(db->nodes[tc[0]].path)))
		return -ENOMEM;
	if (ntp > 0 && !(e->producer_target = strdup(db->nodes[tp[0]].path)))
		return -ENOMEM;
	if (ntc <= 0) {
		e->status = AUDIT_UNCHECKED;
		set_why(e, "%s", "its command builds no target the build file names");
		return 0;
	}
	for (int i = 0; i < ntc; i++)
		for (int k = 0; k < ntp; k++)
			if (tc[i] == tp[k]) {
				e->status = AUDIT_INTERNAL;
				set_why(e, "both commands are in the recipe of '%s'",
					audit_rel(a, db->nodes[tc[i]].path));
				return 0;
			}
	fn = bdb_find(db, e->path);
	if (fn < 0 && ntp <= 0 && p->node_driver[e->producer] == dc) {
		e->status = AUDIT_INTERNAL;
		set_why(e, "%s", "a temporary file between commands of one recipe");
		return 0;
	}
	if (fn >= 0)
		goals[ng++] = fn;
	for (int k = 0; k < ntp; k++)
		goals[ng++] = tp[k];
	if ((st = audit_edge_status(db, tc, (size_t)ntc, goals, ng)) < 0)
		return st;
	e->status = (enum audit_status)st;
	/* across recursive makes, an enclosing make may decide (see enclosing_order) */
	if (e->status != AUDIT_OK) {
		int r = enclosing_order(a, e, tc, (size_t)ntc);
		if (r < 0)
			return r;
		if (r)
			e->status = AUDIT_OK;
	}
	if (e->status == AUDIT_DEPFILE_ONLY) {
		const char *df = NULL;
		for (int i = 0; i < ntc && !df; i++)
			for (size_t g = 0; g < ng && !df; g++)
				df = bdb_pair_depfile(db, tc[i], goals[g]);
		if (db->kind == BDB_NINJA)
			set_why(e, "%s", "only ninja's deps log names it");
		else if (df && df[0])
			set_why(e, "only '%s', written by this build, declares it", df);
		else
			set_why(e, "%s", "only dependency files written by this build declare it");
	}
	return 0;
}

static int push_edge(struct audit_edges *out, size_t *alloc, size_t c, size_t pnode,
		     const char *path)
{
	if (out->n == *alloc) {
		size_t na = *alloc ? *alloc * 2 : 64;
		struct audit_edge *nv = realloc(out->v, na * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		out->v = nv;
		*alloc = na;
	}
	memset(&out->v[out->n], 0, sizeof(out->v[out->n]));
	out->v[out->n].consumer = c;
	out->v[out->n].producer = pnode;
	out->v[out->n].driver = -1;
	if (!(out->v[out->n].path = strdup(path)))
		return -ENOMEM;
	out->n++;
	return 0;
}

static int collect_refs(struct audit *a, struct audit_edges *out, size_t *alloc, size_t c,
			const struct thunk_inputs *in)
{
	for (size_t i = 0; i < in->n; i++) {
		long pn;
		int ret;
		if (in->v[i].hash.kind != GG_HASH_THUNK)
			continue;
		pn = graph_find_hash(&a->g, &in->v[i].hash);
		if (pn < 0 || (size_t)pn == c)
			continue;
		if (a->g.nodes[c].local) {
			out->skipped_local++;
			continue;
		}
		if ((ret = push_edge(out, alloc, c, (size_t)pn, in->v[i].path)) < 0)
			return ret;
	}
	return 0;
}

int audit_edges_run(struct audit *a, struct audit_edges *out, char *err, size_t errlen)
{
	struct audit_priv *p = a->priv;
	size_t alloc = 0;
	int ret;

	memset(out, 0, sizeof(*out));
	if ((ret = audit_need(a, AUDIT_NEED_GRAPH, err, errlen)) < 0)
		return ret;
	if ((ret = map_nodes(a)) < 0)
		goto out_nomem;
	for (size_t c = 0; c < a->g.n; c++) {
		const struct thunk *th = &a->thunks[c];
		struct thunk_inputs exe = { (struct thunk_input *)&th->exe, 1, 1 };
		if (!a->have_thunk[c])
			continue;
		if ((ret = collect_refs(a, out, &alloc, c, &th->inputs)) < 0 ||
		    (ret = collect_refs(a, out, &alloc, c, &th->objects)) < 0 ||
		    (th->exe.path && (ret = collect_refs(a, out, &alloc, c, &exe)) < 0))
			goto out_nomem;
	}
	for (size_t i = 0; i < out->n; i++) {
		if ((ret = classify(a, &out->v[i])) < 0)
			goto out_nomem;
		out->count[out->v[i].status]++;
	}
	/* a copy of the drivers for the caller */
	if (p->ndrivers) {
		out->drivers = calloc(p->ndrivers, sizeof(*out->drivers));
		if (!out->drivers)
			goto out_nomem;
		out->ndrivers = p->ndrivers;
		for (size_t i = 0; i < p->ndrivers; i++) {
			const struct audit_driver *d = &p->drivers[i];
			struct audit_driver *o = &out->drivers[i];
			*o = *d;
			o->name = strdup(d->name);
			o->cwd = strdup(d->cwd);
			o->dir = d->dir ? strdup(d->dir) : NULL;
			o->argv = strdup(d->argv);
			o->error = d->error ? strdup(d->error) : NULL;
			if (!o->name || !o->cwd || !o->argv)
				goto out_nomem;
		}
	}
	for (size_t i = 0; i < p->ndbs; i++)
		if (!p->dbs[i].err)
			out->queries++;
	return 0;
out_nomem:
	snprintf(err, errlen, "out of memory");
	audit_edges_release(out);
	return -ENOMEM;
}

void audit_edges_release(struct audit_edges *e)
{
	for (size_t i = 0; i < e->n; i++) {
		free(e->v[i].path);
		free(e->v[i].target);
		free(e->v[i].producer_target);
		free(e->v[i].why);
	}
	free(e->v);
	for (size_t i = 0; i < e->ndrivers; i++)
		driver_release(&e->drivers[i]);
	free(e->drivers);
	memset(e, 0, sizeof(*e));
}

/* ---- why and rdeps ------------------------------------------------------------------------------------ */

/* The node producing a path given by the user: absolute, or relative to the current
 * directory, or to the build tree. */
static long find_output(struct audit *a, const char *what)
{
	char *abs = NULL;
	long n = -1;
	if (path_abs(what, NULL, &abs) == 0)
		n = graph_find_path(&a->g, abs, NULL);
	free(abs);
	abs = NULL;
	if (n < 0 && a->tree && what[0] != '/' && path_abs(what, a->tree, &abs) == 0)
		n = graph_find_path(&a->g, abs, NULL);
	free(abs);
	return n;
}

int audit_why(struct audit *a, const char *path, size_t **nodes, size_t *n, char *err,
	      size_t errlen)
{
	size_t *v = NULL, head = 0, cnt = 0;
	bool *seen = NULL;
	long start;
	int ret;

	*nodes = NULL;
	*n = 0;
	if ((ret = audit_need(a, AUDIT_NEED_GRAPH, err, errlen)) < 0)
		return ret;
	start = find_output(a, path);
	if (start < 0) {
		snprintf(err, errlen, "no command of the recorded build produced '%s'", path);
		return -ENOENT;
	}
	v = malloc((a->g.n + 1) * sizeof(*v));
	seen = calloc(a->g.n + 1, sizeof(*seen));
	if (!v || !seen) {
		free(v);
		free(seen);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	v[cnt++] = (size_t)start;
	seen[start] = true;
	while (head < cnt) {
		const struct graph_node *nd = &a->g.nodes[v[head++]];
		for (size_t d = 0; d < nd->ndeps; d++)
			if (!seen[nd->deps[d]]) {
				seen[nd->deps[d]] = true;
				v[cnt++] = nd->deps[d];
			}
	}
	free(seen);
	*nodes = v;
	*n = cnt;
	return 0;
}

static int cmp_path_input(const void *path, const void *elem)
{
	return strcmp(path, ((const struct thunk_input *)elem)->path);
}

static int cmp_path_str(const void *path, const void *elem)
{
	return strcmp(path, *(char *const *)elem);
}

/* thunk lists are sorted (canonical form) */
static bool inputs_have(const struct thunk_inputs *in, const char *path)
{
	return in->n && bsearch(path, in->v, in->n, sizeof(*in->v), cmp_path_input);
}

static bool strv_have(const struct thunk_strv *s, const char *path)
{
	return s->n && bsearch(path, s->v, s->n, sizeof(*s->v), cmp_path_str);
}

int audit_rdeps(struct audit *a, const char *path, struct audit_rdep **out, size_t *n,
		char *resolved, size_t rcap)
{
	struct audit_rdep *v = NULL;
	size_t cnt = 0, head = 0, **users = NULL, *nusers = NULL;
	long *state = NULL;
	char *abs = NULL, *alt = NULL;
	int ret = 0;

	*out = NULL;
	*n = 0;
	if ((ret = path_abs(path, NULL, &abs)) < 0)
		return ret;
	/* a relative name that is no file here may be one of the build tree */
	if (path[0] != '/' && a->tree && access(abs, F_OK) < 0 &&
	    graph_find_path(&a->g, abs, NULL) < 0 && path_abs(path, a->tree, &alt) == 0) {
		free(abs);
		abs = alt;
	}
	if (resolved)
		snprintf(resolved, rcap, "%s", abs);
	v = calloc(a->g.n + 1, sizeof(*v));
	state = malloc((a->g.n + 1) * sizeof(*state));
	users = calloc(a->g.n + 1, sizeof(*users));
	nusers = calloc(a->g.n + 1, sizeof(*nusers));
	if (!v || !state || !users || !nusers) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < a->g.n; i++)
		state[i] = -1;
	/* reverse edges */
	for (size_t i = 0; i < a->g.n; i++)
		for (size_t d = 0; d < a->g.nodes[i].ndeps; d++) {
			size_t p = a->g.nodes[i].deps[d];
			size_t *nu = realloc(users[p], (nusers[p] + 1) * sizeof(*nu));
			if (!nu) {
				ret = -ENOMEM;
				goto out;
			}
			users[p] = nu;
			users[p][nusers[p]++] = i;
		}
	/* direct readers */
	for (size_t i = 0; i < a->g.n; i++) {
		const struct thunk *th = &a->thunks[i];
		enum audit_rdep_how how;
		if (!a->have_thunk[i])
			continue;
		if (inputs_have(&th->inputs, abs))
			how = AUDIT_READS;
		else if ((th->exe.path && !strcmp(th->exe.path, abs)) || inputs_have(&th->objects, abs))
			how = AUDIT_RUNS;
		else if (strv_have(&th->missing, abs) || strv_have(&th->notdir, abs))
			how = AUDIT_PROBES;
		else
			continue;
		v[cnt] = (struct audit_rdep){ i, 0, -1, how };
		state[i] = (long)cnt++;
	}
	/* and everything downstream */
	while (head < cnt) {
		struct audit_rdep cur = v[head++];
		for (size_t k = 0; k < nusers[cur.node]; k++) {
			size_t u = users[cur.node][k];
			if (state[u] >= 0)
				continue;
			v[cnt] = (struct audit_rdep){ u, cur.depth + 1, (long)cur.node, AUDIT_VIA };
			state[u] = (long)cnt++;
		}
	}
	*out = v;
	*n = cnt;
	v = NULL;
out:
	for (size_t i = 0; users && i < a->g.n; i++)
		free(users[i]);
	free(users);
	free(nusers);
	free(state);
	free(v);
	free(abs);
	return ret;
}
