/*
 * infer.c - recording -> processes -> commands -> thunks -> graph (see infer.h).
 *
 * Memory: paths are interned once (normalised) in an arena owned by the run; per
 * command state lives in tables reused from command to command; everything is freed
 * at the end of infer_run.  Nothing here prints.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime/store/cache.h"
#include "inferer/infer.h"
#include "runtime/ir/thunk.h"
#include "inferer/wrapcache.h"

const char *const infer_default_drivers[] = { "make", "gmake", "ninja", "samu", "meson",
					      "cmake", NULL };

/* ---- small containers ---------------------------------------------------------- */

#define VEC(type) struct { type *v; size_t n, alloc; }

static int vec_grow_(void **v, size_t *alloc, size_t n, size_t size)
{
	size_t na;
	void *nv;
	if (n < *alloc)
		return 0;
	na = *alloc ? *alloc * 2 : 16;
	nv = realloc(*v, na * size);
	if (!nv)
		return -ENOMEM;
	*v = nv;
	*alloc = na;
	return 0;
}

#define VEC_PUSH(vec, val)                                                                \
	(vec_grow_((void **)&(vec).v, &(vec).alloc, (vec).n, sizeof(*(vec).v)) < 0        \
		 ? -ENOMEM                                                               \
		 : ((vec).v[(vec).n++] = (val), 0))
#define VEC_FREE(vec) (free((vec).v), (vec).v = NULL, (vec).n = (vec).alloc = 0)

struct arena_block {
	struct arena_block *next;
	char data[];
};

struct arena {
	struct arena_block *head;
	char *cur;
	size_t left;
};

static char *arena_alloc(struct arena *a, size_t n)
{
	char *p;
	if (n > a->left) {
		size_t sz = n > 1 << 20 ? n : 1 << 20;
		struct arena_block *b = malloc(sizeof(*b) + sz);
		if (!b)
			return NULL;
		b->next = a->head;
		a->head = b;
		a->cur = b->data;
		a->left = sz;
	}
	p = a->cur;
	a->cur += n;
	a->left -= n;
	return p;
}

static void arena_free(struct arena *a)
{
	while (a->head) {
		struct arena_block *b = a->head;
		a->head = b->next;
		free(b);
	}
	a->cur = NULL;
	a->left = 0;
}

/* ---- interned, normalised paths -------------------------------------------------- */

struct intern {
	struct htab ix;      /* str_hash -> index into v */
	VEC(const char *) v; /* the interned strings, in the arena */
	struct arena *a;
};

static bool intern_eq(const void *ctx, uint32_t val, const void *key)
{
	const struct intern *in = ctx;
	return !strcmp(in->v.v[val], key);
}

static const char *intern_str(struct intern *in, const char *s)
{
	uint64_t h = str_hash(s);
	uint32_t i = htab_find(&in->ix, h, intern_eq, in, s);
	size_t n;
	char *c;

	if (i != HTAB_NONE)
		return in->v.v[i];
	n = strlen(s) + 1;
	if (!(c = arena_alloc(in->a, n)))
		return NULL;
	memcpy(c, s, n);
	if (VEC_PUSH(in->v, c) < 0 || htab_add(&in->ix, h, (uint32_t)(in->v.n - 1)) < 0)
		return NULL;
	return c;
}

/*
 * The interned normal form of `path` taken against `cwd` when relative, in *out
 * (NULL for an empty path).  0, -ENOMEM, or -ENAMETOOLONG for a path whose normal
 * form does not fit in 4 * PATH_MAX bytes (more than any recorded path and cwd).
 */
static int intern_path(struct intern *in, const char *path, const char *cwd, const char **out)
{
	char buf[PATH_MAX * 4];
	int ret;

	*out = NULL;
	if (!path || !*path)
		return 0;
	if ((ret = path_normalize(cwd ? cwd : "/", path, buf, sizeof(buf))) < 0)
		return ret;
	return (*out = intern_str(in, buf)) ? 0 : -ENOMEM;
}

/* ---- processes --------------------------------------------------------------------- */

struct proc {
	struct trace_image *head; /* first image; exec_next links the rest */
	struct proc *parent;
	VEC(struct proc *) kids;
	bool driver; /* one of its images runs a driver */
	bool below;  /* a driver in its subtree (itself included) */
};

static bool argv_has(const struct trace_strv *a, const char *s)
{
	for (uint32_t i = 0; i < a->n; i++)
		if (!strcmp(a->v[i], s))
			return true;
	return false;
}

static bool image_is_driver(const struct trace_image *im, const char *const *drivers)
{
	const char *names[2] = { path_base(im->exe ? im->exe : ""),
				 im->argv.n ? path_base(im->argv.v[0]) : "" };
	for (int k = 0; k < 2; k++) {
		for (size_t i = 0; drivers[i]; i++) {
			size_t dl = strlen(drivers[i]);
			/* "make", but also "make-4.3"-style suffixes are not drivers */
			if (strncmp(names[k], drivers[i], dl) || names[k][dl])
				continue;
			if (!strcmp(drivers[i], "cmake"))
				return argv_has(&im->argv, "--build");
			return true;
		}
	}
	return false;
}

/* ---- per command state --------------------------------------------------------------- */

enum {
	P_READ = 1u << 0,     /* read before this command wrote it: an input */
	P_WROTE = 1u << 1,    /* written (or created) by this command */
	P_EXISTS = 1u << 2,   /* present at the end (meaningful with P_WROTE) */
	P_MISSING = 1u << 3,  /* probed and not found before this command made it */
	P_LISTED = 1u << 4,   /* listed */
	P_MKDIR = 1u << 5,    /* a directory this command created */
	P_OBJECT = 1u << 6,   /* an executable or shared object run */
	P_UNLINKED = 1u << 7, /* removed while it was not this command's */
	P_STAT = 1u << 8,     /* found by an existence check before this command wrote it */
	P_NOTDIR = 1u << 9,   /* with P_MISSING: the first failed probe said ENOTDIR */
};

struct pst {
	const char *path; /* interned */
	const char *raw;  /* as recorded, for reading the file */
	uint32_t flags;
	uint64_t t_read, t_write;
	struct gg_hash listing;
};

struct ptable {
	struct htab ix; /* htab_hash_ptr(path) -> index into used */
	VEC(struct pst) used; /* this command's entries, in first-use order */
};

/* Room for n more entries: pointers from ptable_get stay valid until then. */
static int ptable_reserve(struct ptable *t, size_t n)
{
	while (t->used.n + n > t->used.alloc)
		if (vec_grow_((void **)&t->used.v, &t->used.alloc, t->used.alloc, sizeof(*t->used.v)) < 0)
			return -ENOMEM;
	return 0;
}

static bool pst_eq(const void *ctx, uint32_t val, const void *key)
{
	const struct ptable *t = ctx;
	return t->used.v[val].path == key;
}

static struct pst *ptable_get(struct ptable *t, const char *path, const char *raw)
{
	uint64_t h = htab_hash_ptr(path);
	uint32_t i = htab_find(&t->ix, h, pst_eq, t, path);

	if (i != HTAB_NONE)
		return &t->used.v[i];
	if (ptable_reserve(t, 1) < 0 || htab_add(&t->ix, h, (uint32_t)t->used.n) < 0)
		return NULL;
	t->used.v[t->used.n] = (struct pst){ .path = path, .raw = raw };
	return &t->used.v[t->used.n++];
}

/* A new command: forget everything, keeping the memory. */
static void ptable_reset(struct ptable *t)
{
	htab_clear(&t->ix);
	t->used.n = 0;
}

struct inpath {
	const char *path, *raw;
	uint64_t t; /* first read */
};

struct outpath {
	const char *path;
	uint64_t t; /* last write */
};

struct listing {
	const char *path;
	struct gg_hash hash;
};

struct cmd {
	struct proc *root;
	uint64_t t_start;
	uint32_t local;
	VEC(struct inpath) inputs;
	VEC(const char *) missing;
	VEC(const char *) notdir;  /* probed below a non-directory (ENOTDIR) */
	VEC(struct listing) listings;
	VEC(struct inpath) objects;
	VEC(struct outpath) outputs; /* sorted by path once analysed */
	/* resolution */
	VEC(size_t) deps;        /* producer commands */
	size_t indeg;
	struct gg_hash hash;
	long node;               /* graph node, -1 if none */
	bool done;
};

/* Where a path was written: producers in time order. */
struct writer {
	size_t cmd;
	uint64_t t;
};

struct wlist {
	const char *path;
	VEC(struct writer) w;
	bool read; /* another command read it after a write (resolve()) */
};

struct run {
	const struct trace *t;
	struct store *st;
	struct statcache *sc;
	const struct infer_opts *o;
	struct infer_stats *stats;
	struct strlist *warnings;
	char *err;
	size_t errlen;

	struct arena arena;
	struct intern in;
	const char *tree; /* interned */
	size_t tree_len;
	struct wrapcache wc; /* compiler caches' directories: scratch (wrapcache.h) */
	const char *const *drivers;

	struct proc *procs; /* one per image (only heads used) */
	struct proc **head_of;
	VEC(struct proc *) roots;
	VEC(struct cmd) cmds;

	struct ptable pt;
	VEC(struct trace_image *) imgs; /* scratch: images of one command */
	struct evref { const struct trace_event *ev; const struct trace_image *im; size_t seq; } *evs;
	size_t nevs, aevs;

	/* path -> writers, for edges */
	struct htab wl_ix; /* htab_hash_ptr(path) -> index into wl */
	VEC(struct wlist) wl;
	/* directories holding an output (interned): the build makes them */
	struct strset made_dirs;
};

static int fail(struct run *r, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->err, r->errlen, fmt, ap);
	va_end(ap);
	return err;
}

static void warnf(struct run *r, const char *fmt, ...)
{
	char buf[PATH_MAX * 2 + 256];
	va_list ap;
	if (!r->warnings)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	strlist_push(r->warnings, buf);
}

/* ---- processes and the cut ------------------------------------------------------------ */

static int build_procs(struct run *r)
{
	const struct trace *t = r->t;

	r->procs = calloc(t->nimages + 1, sizeof(*r->procs));
	r->head_of = calloc(t->nimages + 1, sizeof(*r->head_of));
	if (!r->procs || !r->head_of)
		return -ENOMEM;
	/* heads: images not continuing another by exec */
	for (size_t i = 0; i < t->nimages; i++) {
		struct trace_image *im = t->images[i];
		if (im->link == TRACE_LINK_EXEC && im->parent)
			continue;
		r->procs[i].head = im;
		r->stats->processes++;
		for (struct trace_image *x = im; x; x = x->exec_next) {
			r->head_of[x->index] = &r->procs[i];
			if (image_is_driver(x, r->drivers))
				r->procs[i].driver = true;
		}
	}
	for (size_t i = 0; i < t->nimages; i++) {
		struct proc *p = &r->procs[i], *pp;
		if (!p->head)
			continue;
		if (!p->head->parent || !r->head_of[p->head->parent->index]) {
			if (VEC_PUSH(r->roots, p) < 0)
				return -ENOMEM;
			continue;
		}
		pp = r->head_of[p->head->parent->index];
		p->parent = pp;
		if (VEC_PUSH(pp->kids, p) < 0)
			return -ENOMEM;
	}
	/* below: images are sorted by start, so children come after parents */
	for (size_t i = t->nimages; i-- > 0;) {
		struct proc *p = &r->procs[i];
		if (!p->head)
			continue;
		if (p->driver)
			p->below = true;
		if (p->below && p->parent)
			p->parent->below = true;
	}
	return 0;
}

static int add_cmd(struct run *r, struct proc *p)
{
	struct cmd c = { .root = p, .t_start = p->head->t, .node = -1 };
	r->stats->commands++;
	return VEC_PUSH(r->cmds, c);
}

/* Commands: the driver-free children of drivers and of their glue ancestors. */
static int cut(struct run *r)
{
	VEC(struct proc *) stack = { 0 };
	int ret = 0;

	for (size_t i = 0; i < r->roots.n; i++) {
		struct proc *root = r->roots.v[i];
		if (!root->below) {
			if ((ret = add_cmd(r, root)) < 0)
				goto out;
			continue;
		}
		if ((ret = VEC_PUSH(stack, root)) < 0)
			goto out;
		while (stack.n) {
			struct proc *p = stack.v[--stack.n];
			for (size_t k = 0; k < p->kids.n; k++) {
				struct proc *kid = p->kids.v[k];
				ret = kid->below ? VEC_PUSH(stack, kid) : add_cmd(r, kid);
				if (ret < 0)
					goto out;
			}
		}
	}
out:
	VEC_FREE(stack);
	return ret;
}

/* ---- one command's effects ------------------------------------------------------------- */

static bool under(const char *path, const char *dir, size_t dlen)
{
	return !strncmp(path, dir, dlen) && (path[dlen] == '/' || path[dlen] == '\0' ||
					     (dlen == 1 && dir[0] == '/'));
}

static bool pseudo_fs(const char *p)
{
	return under(p, "/dev", 4) || under(p, "/proc", 5) || under(p, "/sys", 4);
}

static int evref_cmp(const void *a, const void *b)
{
	const struct evref *x = a, *y = b;
	if (x->ev->t != y->ev->t)
		return x->ev->t < y->ev->t ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void special_open(struct cmd *c, const char *p, int flags)
{
	if (!strcmp(p, "/dev/urandom") || !strcmp(p, "/dev/random"))
		c->local |= THUNK_LOCAL_URANDOM;
	else if (!strcmp(p, "/dev/tty") || under(p, "/dev/pts", 8))
		c->local |= THUNK_LOCAL_TERMINAL;
}

static void note_read(struct pst *s, uint64_t t)
{
	if (!(s->flags & (P_WROTE | P_READ))) {
		s->flags |= P_READ;
		s->t_read = t;
	}
}

static void note_write(struct pst *s, uint64_t t)
{
	s->flags |= P_WROTE | P_EXISTS;
	s->t_write = t;
}

/*
 * A failed lookup: ENOENT (nothing there) or ENOTDIR (a component on the way is not
 * a directory: Python started as /usr/bin/meson looks for
 * /usr/bin/gettext/__init__.py).  The first failure decides what the replay shows;
 * other errors (EACCES, ELOOP, ...) are not probes the sandbox can reproduce.
 */
static void note_missing(struct pst *s, int err)
{
	if (err != ENOENT && err != ENOTDIR)
		return;
	if (s->flags & (P_WROTE | P_READ | P_MISSING))
		return;
	s->flags |= P_MISSING;
	if (err == ENOTDIR)
		s->flags |= P_NOTDIR;
}

/*
 * A lookup of the path itself as a directory ("x.o/", open with O_DIRECTORY) that
 * failed with ENOTDIR found the path, a file: an existence check (P_STAT), not a
 * probe below it.  Normalised to "x.o", it would read as "nothing may be at x.o",
 * which the file there contradicts on every build.
 */
static bool notdir_itself(const struct trace_event *e, int err, bool odirectory)
{
	size_t n = e->path ? strlen(e->path) : 0;

	return err == ENOTDIR && (odirectory || (n > 1 && e->path[n - 1] == '/'));
}

static void note_stat(struct pst *s, uint64_t t)
{
	size_t n = s->raw ? strlen(s->raw) : 0;

	if (s->flags & (P_WROTE | P_READ))
		return;
	s->flags |= P_STAT;
	if (!s->t_read)
		s->t_read = t;
	if (n > 1 && s->raw[n - 1] == '/')
		s->raw = s->path; /* "x.o/" cannot be read: hash x.o */
}

/* A removal of what the command did not make is foreign, unless it makes the path
 * again (as(1) and ld(1) unlink an old output before writing the new one). */
static void note_remove(struct pst *s)
{
	if (!(s->flags & (P_WROTE | P_MKDIR)))
		s->flags |= P_UNLINKED;
	s->flags &= ~(uint32_t)P_EXISTS;
}

/* The images of a command: its process subtree. */
static int collect_images(struct run *r, struct proc *root)
{
	VEC(struct proc *) stack = { 0 };
	int ret;

	r->imgs.n = 0;
	if ((ret = VEC_PUSH(stack, root)) < 0)
		return ret;
	while (stack.n) {
		struct proc *p = stack.v[--stack.n];
		for (struct trace_image *x = p->head; x; x = x->exec_next)
			if ((ret = VEC_PUSH(r->imgs, x)) < 0)
				goto out;
		for (size_t k = 0; k < p->kids.n; k++)
			if ((ret = VEC_PUSH(stack, p->kids.v[k])) < 0)
				goto out;
	}
out:
	VEC_FREE(stack);
	return ret;
}

static bool stdin_redirected(const struct trace_image *im, const struct trace_image *top)
{
	for (const struct trace_image *x = im; x; x = x->parent) {
		for (size_t i = 0; i < x->nevents; i++) {
			const struct trace_event *e = &x->events[i];
			if ((e->type == GG_REC_FD && (e->fn == GG_FN_dup2 || e->fn == GG_FN_dup3) &&
			     e->u.fd.fd2 == 0 && e->ret == 0) ||
			    (e->type == GG_REC_OPEN && e->ret == 0))
				return true;
			if (e->type == GG_REC_SPAWN)
				for (uint32_t k = 0; k < e->u.spawn.nactions; k++) {
					const struct trace_action *a = &e->u.spawn.actions[k];
					if ((a->op == GG_SPAWN_DUP2 && a->fd2 == 0) ||
					    (a->op == GG_SPAWN_OPEN && a->fd == 0))
						return true;
				}
		}
		if (x == top)
			break;
	}
	return false;
}

/*
 * An executable or shared object run at time t.  The earliest time is kept: a
 * program the build made itself (a generator linked by another command) depends on
 * the command that wrote it before (see resolve()).
 */
static int add_object_at(struct run *r, const char *path, const char *cwd, uint64_t t)
{
	const char *p;
	struct pst *s;
	int ret = intern_path(&r->in, path, cwd, &p);
	if (ret < 0 || !p)
		return ret;
	s = ptable_get(&r->pt, p, path);
	if (!s)
		return -ENOMEM;
	if (!(s->flags & P_OBJECT) || t < s->t_read)
		s->t_read = t;
	s->flags |= P_OBJECT;
	return 0;
}

static int add_object(struct run *r, const char *path, uint64_t t)
{
	return add_object_at(r, path, "/", t);
}

static int apply_event(struct run *r, struct cmd *c, const struct trace_image *im,
		       const struct trace_event *e)
{
	const char *p = NULL, *p2 = NULL;
	struct pst *s = NULL, *s2 = NULL;
	int ret;

	/* room for the two entries an event may hold at once (pointers into the table) */
	if (ptable_reserve(&r->pt, 3) < 0)
		return -ENOMEM;
	if ((ret = intern_path(&r->in, e->path, im->cwd, &p)) < 0)
		return ret;
	switch (e->type) {
	case GG_REC_STDIN:
		if (!stdin_redirected(im, c->root->head))
			c->local |= e->u.stdin_.tty ? THUNK_LOCAL_TERMINAL : THUNK_LOCAL_STDIN;
		return 0;
	case GG_REC_NET:
		c->local |= THUNK_LOCAL_NETWORK;
		return 0;
	case GG_REC_OBJS:
		if (e->u.objs.interp && *e->u.objs.interp &&
		    add_object(r, e->u.objs.interp, e->t) < 0)
			return -ENOMEM;
		for (uint32_t i = 0; i < e->u.objs.objects.n; i++)
			if (add_object(r, e->u.objs.objects.v[i], e->t) < 0)
				return -ENOMEM;
		return 0;
	case GG_REC_EXEC:
		if (e->u.exec.opaque) {
			c->local |= THUNK_LOCAL_OPAQUE_BINARY;
			return add_object(r, e->path, e->t);
		}
		return 0;
	case GG_REC_SPAWN:
		if (e->u.spawn.opaque)
			c->local |= THUNK_LOCAL_OPAQUE_BINARY;
		for (uint32_t k = 0; k < e->u.spawn.nactions; k++) {
			const struct trace_action *a = &e->u.spawn.actions[k];
			const char *ap;
			if (a->op != GG_SPAWN_OPEN || !a->path[0])
				continue;
			if ((ret = intern_path(&r->in, a->path, im->cwd, &ap)) < 0)
				return ret;
			if (pseudo_fs(ap)) {
				special_open(c, ap, a->flags);
				continue;
			}
			if (!(s = ptable_get(&r->pt, ap, a->path)))
				return -ENOMEM;
			if ((a->flags & O_ACCMODE) == O_RDONLY && !(a->flags & (O_CREAT | O_TRUNC)))
				note_read(s, e->t);
			else
				note_write(s, e->t);
		}
		return 0;
	default:
		break;
	}
	if (!p)
		return 0;
	if (pseudo_fs(p)) {
		if (e->type == GG_REC_OPEN && e->ret >= 0)
			special_open(c, p, e->u.open.flags);
		return 0;
	}
	s = ptable_get(&r->pt, p, e->path);
	if (!s)
		return -ENOMEM;
	switch (e->type) {
	case GG_REC_OPEN: {
		int fl = e->u.open.flags, acc = fl & O_ACCMODE;
		if (e->ret < 0) {
			if (notdir_itself(e, e->err, fl & O_DIRECTORY))
				note_stat(s, e->t);
			else
				note_missing(s, e->err);
			break;
		}
		if ((fl & O_TMPFILE) == O_TMPFILE || (fl & O_DIRECTORY))
			break;
		if (acc == O_RDONLY && !(fl & (O_CREAT | O_TRUNC))) {
			note_read(s, e->t);
		} else {
			if (acc == O_RDWR && !(fl & O_TRUNC) && !(fl & O_EXCL))
				note_read(s, e->t); /* modified in place: the old version counts */
			note_write(s, e->t);
		}
		break;
	}
	case GG_REC_STAT:
		if (e->ret < 0) {
			if (notdir_itself(e, e->err, false))
				note_stat(s, e->t);
			else
				note_missing(s, e->err);
		} else if (e->fn == GG_FN_readlink || e->fn == GG_FN_readlinkat) {
			note_read(s, e->t);
		} else if (((e->u.stat.ftype << 12) == S_IFREG || (e->u.stat.ftype << 12) == S_IFLNK) &&
			   !(s->flags & (P_WROTE | P_READ))) {
			s->flags |= P_STAT; /* decided at the end: see analyse() */
			if (!s->t_read)
				s->t_read = e->t;
		}
		break;
	case GG_REC_LIST:
		if (e->ret >= 0 && !(s->flags & (P_MKDIR | P_LISTED))) {
			s->flags |= P_LISTED;
			if (thunk_listing_hash(e->u.list.names.v, e->u.list.names.n, &s->listing) < 0)
				return -ENOMEM;
		}
		break;
	case GG_REC_EXECFAIL:
		note_missing(s, e->err);
		break;
	case GG_REC_NS:
		if (e->ret < 0)
			break;
		if (e->u.ns.path2 && e->u.ns.path2[0] && e->fn != GG_FN_symlink &&
		    e->fn != GG_FN_symlinkat) {
			if ((ret = intern_path(&r->in, e->u.ns.path2, im->cwd, &p2)) < 0)
				return ret;
			if (!(s2 = ptable_get(&r->pt, p2, e->u.ns.path2)))
				return -ENOMEM;
			if (pseudo_fs(p2))
				s2 = NULL;
		}
		switch (e->fn) {
		case GG_FN_rename:
		case GG_FN_renameat:
		case GG_FN_renameat2:
			if (!s2)
				break;
			if (!(s->flags & P_WROTE))
				note_read(s, e->t);
			note_remove(s);
			note_write(s2, e->t);
			break;
		case GG_FN_link:
		case GG_FN_linkat:
			note_read(s, e->t);
			if (s2)
				note_write(s2, e->t);
			break;
		case GG_FN_symlink:
		case GG_FN_symlinkat:
		case GG_FN_truncate:
		case GG_FN_truncate64:
			note_write(s, e->t);
			break;
		case GG_FN_chmod:
		case GG_FN_fchmodat:
			if (!(s->flags & P_MKDIR)) {
				note_read(s, e->t);
				note_write(s, e->t);
			}
			break;
		case GG_FN_mkdir:
		case GG_FN_mkdirat:
			s->flags |= P_MKDIR;
			break;
		case GG_FN_unlinkat:
			if (e->u.ns.arg & AT_REMOVEDIR) {
				note_remove(s);
				break;
			}
			/* fallthrough */
		default: /* unlink, remove, rmdir */
			note_remove(s);
			break;
		}
		break;
	default:
		break;
	}
	return 0;
}

static int outpath_cmp(const void *a, const void *b)
{
	return strcmp(((const struct outpath *)a)->path, ((const struct outpath *)b)->path);
}

/* Replay one command's events and keep its inputs, outputs and reasons. */
static int analyse(struct run *r, struct cmd *c)
{
	size_t seq = 0;
	int ret;

	if ((ret = collect_images(r, c->root)) < 0)
		return ret;
	ptable_reset(&r->pt);
	r->nevs = 0;
	for (size_t i = 0; i < r->imgs.n; i++) {
		struct trace_image *im = r->imgs.v[i];
		if (im->exit.kind == TRACE_EXIT_UNKNOWN)
			c->local |= THUNK_LOCAL_OUTLIVED_DRIVER;
		else if (im->cut_short)
			c->local |= THUNK_LOCAL_CUT_SHORT; /* killed holding records, maybe */
		if (im->exe && im->exe[0] && add_object(r, im->exe, im->t) < 0)
			return -ENOMEM;
		/* the path it was started by (/usr/bin/cc, a chain of links to the exe) */
		if (im->execfn && im->execfn[0] && add_object_at(r, im->execfn, im->cwd, im->t) < 0)
			return -ENOMEM;
		if (r->nevs + im->nevents > r->aevs) {
			size_t na = (r->nevs + im->nevents) * 2;
			struct evref *ne = realloc(r->evs, na * sizeof(*ne));
			if (!ne)
				return -ENOMEM;
			r->evs = ne;
			r->aevs = na;
		}
		for (size_t k = 0; k < im->nevents; k++)
			r->evs[r->nevs++] = (struct evref){ &im->events[k], im, seq++ };
	}
	if (r->nevs)
		qsort(r->evs, r->nevs, sizeof(*r->evs), evref_cmp);
	for (size_t i = 0; i < r->nevs; i++)
		if ((ret = apply_event(r, c, r->evs[i].im, r->evs[i].ev)) < 0)
			return ret;

	for (size_t i = 0; i < r->pt.used.n; i++) {
		struct pst *s = &r->pt.used.v[i];
		/* a compiler cache's own files: not the build's (wrapcache.h) */
		if (!(s->flags & P_OBJECT) &&
		    wrapcache_is_scratch(&r->wc, s->path, !(s->flags & P_WROTE)))
			continue;
		if (s->flags & P_OBJECT) {
			if (!(s->flags & P_WROTE) &&
			    (ret = VEC_PUSH(c->objects, ((struct inpath){ s->path, s->raw, s->t_read }))) < 0)
				return ret;
			continue;
		}
		/*
		 * A file only checked for existence is an input (its contents stand for its
		 * metadata), unless the command then replaced it (`mv -f x.Tpo x.Po` checks the
		 * old x.Po first): what it depended on is gone, and it left its own version.
		 */
		if ((s->flags & P_STAT) && !(s->flags & P_READ) && !(s->flags & P_WROTE))
			s->flags |= P_READ;
		if ((s->flags & P_UNLINKED) && (s->flags & (P_WROTE | P_EXISTS)) != (P_WROTE | P_EXISTS))
			c->local |= THUNK_LOCAL_DELETES_FOREIGN_FILES;
		if ((s->flags & (P_WROTE | P_EXISTS)) == (P_WROTE | P_EXISTS)) {
			if (!under(s->path, r->tree, r->tree_len))
				c->local |= THUNK_LOCAL_WRITES_OUTSIDE_TREE;
			if ((ret = VEC_PUSH(c->outputs, ((struct outpath){ s->path, s->t_write }))) < 0)
				return ret;
		}
		if (s->flags & P_READ) {
			if ((ret = VEC_PUSH(c->inputs, ((struct inpath){ s->path, s->raw, s->t_read }))) < 0)
				return ret;
		} else if ((s->flags & P_MISSING) && !(s->flags & (P_WROTE | P_MKDIR))) {
			if (s->flags & P_NOTDIR)
				ret = VEC_PUSH(c->notdir, s->path);
			else
				ret = VEC_PUSH(c->missing, s->path);
			if (ret < 0)
				return ret;
		}
		if ((s->flags & P_LISTED) &&
		    (ret = VEC_PUSH(c->listings, ((struct listing){ s->path, s->listing }))) < 0)
			return ret;
	}
	if (c->outputs.n) /* qsort(NULL, 0) is undefined */
		qsort(c->outputs.v, c->outputs.n, sizeof(*c->outputs.v), outpath_cmp);
	return 0;
}

/* ---- writers and edges ------------------------------------------------------------------ */

static bool wl_eq(const void *ctx, uint32_t val, const void *key)
{
	const struct run *r = ctx;
	return r->wl.v[val].path == key;
}

static struct wlist *wl_get(struct run *r, const char *path, bool create)
{
	uint64_t h = htab_hash_ptr(path);
	uint32_t i = htab_find(&r->wl_ix, h, wl_eq, r, path);

	if (i != HTAB_NONE)
		return &r->wl.v[i];
	if (!create || VEC_PUSH(r->wl, ((struct wlist){ .path = path })) < 0)
		return NULL;
	if (htab_add(&r->wl_ix, h, (uint32_t)(r->wl.n - 1)) < 0) {
		r->wl.n--;
		return NULL;
	}
	return &r->wl.v[r->wl.n - 1];
}

static int writer_cmp(const void *a, const void *b)
{
	const struct writer *x = a, *y = b;
	return x->t < y->t ? -1 : x->t > y->t;
}

/* The command that last wrote `path` before time t (other than `self`), or -1. */
static long producer_of(struct run *r, const char *path, uint64_t t, size_t self)
{
	struct wlist *w = wl_get(r, path, false);
	long best = -1;
	if (!w)
		return -1;
	for (size_t i = 0; i < w->w.n && w->w.v[i].t < t; i++)
		if (w->w.v[i].cmd != self)
			best = (long)w->w.v[i].cmd;
	return best;
}

static bool is_final_writer(struct run *r, const char *path, size_t cmd)
{
	struct wlist *w = wl_get(r, path, false);
	return w && w->w.n && w->w.v[w->w.n - 1].cmd == cmd;
}

static long output_index(const struct cmd *c, const char *path)
{
	size_t lo = 0, hi = c->outputs.n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int d = strcmp(c->outputs.v[mid].path, path);
		if (!d)
			return (long)mid;
		if (d < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* ---- thunks ---------------------------------------------------------------------------------- */

static const char *const driver_env[] = { "MAKEFLAGS=", "MFLAGS=", "MAKELEVEL=",
					  "MAKEOVERRIDES=", "MAKE_TERMOUT=", "MAKE_TERMERR=",
					  NULL };

static bool driver_plumbing(const char *entry)
{
	for (size_t i = 0; driver_env[i]; i++)
		if (!strncmp(entry, driver_env[i], strlen(driver_env[i])))
			return true;
	return false;
}

static int hash_source(struct run *r, const char *path, const char *raw, struct gg_hash *h,
		       uint32_t *mode)
{
	int ret = statcache_hash(r->sc, r->st, raw ? raw : path,
				 r->o->hash_only ? 0 : STATCACHE_STORE, h, mode);
	if (ret == 0)
		r->stats->sources_hashed++;
	return ret;
}

static void label_of(const struct run *r, const struct cmd *c, char *out, size_t cap)
{
	static const char *const weak[] = { ".d", ".Po", ".Tpo", ".Plo", ".tmp", ".stamp", NULL };
	const char *best = NULL;
	for (size_t i = 0; i < c->outputs.n && !best; i++) {
		const char *p = c->outputs.v[i].path;
		bool w = false;
		size_t pl = strlen(p);
		for (size_t k = 0; weak[k] && !w; k++) {
			size_t sl = strlen(weak[k]);
			w = pl > sl && !strcmp(p + pl - sl, weak[k]);
		}
		if (!w)
			best = p;
	}
	if (!best)
		best = c->outputs.n ? c->outputs.v[0].path : "";
	if (under(best, r->tree, r->tree_len) && best[r->tree_len] == '/')
		best += r->tree_len + 1;
	snprintf(out, cap, "%s", best);
}

/*
 * The command line a person would name: the first image of the exec chain that has
 * an argv.  A driver's forked child (Python's subprocess: fork, then chdir, dup2,
 * exec) is an image of its own with no argv; its command is what it executed.
 */
static char *command_of(const struct trace_image *im)
{
	struct sbuf sb = SBUF_INIT;
	while (im->argv.n == 0 && im->exec_next)
		im = im->exec_next;
	sbuf_init(&sb, 4096);
	if (im->argv.n == 3 && !strcmp(im->argv.v[1], "-c")) {
		sbuf_addstr(&sb, im->argv.v[2]);
	} else {
		for (uint32_t i = 0; i < im->argv.n; i++) {
			if (i)
				sbuf_addch(&sb, ' ');
			sbuf_addstr(&sb, im->argv.v[i]);
		}
	}
	if (sbuf_error(&sb) == -E2BIG || sb.len >= 4000) {
		sbuf_release(&sb);
		sbuf_init(&sb, 0);
		sbuf_add(&sb, im->argv.n ? im->argv.v[0] : "", im->argv.n ? strlen(im->argv.v[0]) : 0);
		sbuf_addstr(&sb, " ...");
	}
	return sbuf_detach(&sb, NULL);
}

/*
 * An output the recorded build made and removed again before it ended, read by no
 * other command: the depfile ninja reads and deletes (deps = gcc).  Its bytes are
 * unknown, and the build left no file there: its result is "removed" (cache.h).
 */
static bool removed_output(struct run *r, const struct outpath *out, const struct graph_output *o)
{
	struct wlist *w = wl_get(r, out->path, false); /* (keyed by the interned path) */
	struct stat sb;

	return o->final && !hash_is_set(&o->value) && w && !w->read &&
	       lstat(o->path, &sb) < 0 && errno == ENOENT;
}

/* The recorded results of a node, as a cache entry (when every output is known, or
 * was removed again: removed_output). */
static void cache_recorded(struct run *r, const struct cmd *c, struct graph *g,
			   struct thunk *th, const struct graph_node *node)
{
	struct cache_entry e = { 0 };
	struct gg_hash key;

	if (!r->o->cache_dir)
		return;
	for (size_t i = 0; i < node->noutputs; i++)
		if (!(node->outputs[i].final && hash_is_set(&node->outputs[i].value)) &&
		    !removed_output(r, &c->outputs.v[i], &node->outputs[i]))
			return;
	if (thunk_cache_key(th, graph_recorded_value, g, &key) < 0 || cache_has(r->o->cache_dir, &key))
		return; /* (a re-inference of the same recording: the entry is there) */
	e.v = calloc(node->noutputs + 1, sizeof(*e.v));
	if (!e.v)
		return;
	for (size_t i = 0; i < node->noutputs; i++)
		e.v[i] = (struct cache_output){ .path = node->outputs[i].path,
						.value = node->outputs[i].value,
						.mode = node->outputs[i].mode };
	e.n = node->noutputs;
	cache_put(r->o->cache_dir, &key, &e);
	free(e.v); /* the paths belong to the node */
}

/* The last record time (CLOCK_MONOTONIC ns) of p's images and of its subtree's. */
static uint64_t proc_last_t(const struct proc *p)
{
	uint64_t last = 0;
	for (const struct trace_image *im = p->head; im; im = im->exec_next) {
		if (im->t > last)
			last = im->t;
		if (im->nevents && im->events[im->nevents - 1].t > last)
			last = im->events[im->nevents - 1].t; /* (records in time order) */
	}
	for (size_t k = 0; k < p->kids.n; k++) {
		uint64_t t = proc_last_t(p->kids.v[k]);
		if (t > last)
			last = t;
	}
	return last;
}

/* The command's recorded duration in ms (graph_node.ms): from its start to the
 * last record of its process tree, at least 1; 0 when the records tell nothing. */
static uint32_t cmd_ms(const struct cmd *c)
{
	uint64_t last = proc_last_t(c->root), ms;
	if (!c->t_start || last <= c->t_start)
		return 0;
	ms = (last - c->t_start + 999999) / 1000000;
	return ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
}

/* Build, hash and store the thunk of command ci; add its graph node. */
static int make_thunk(struct run *r, struct graph *g, size_t ci)
{
	struct cmd *c = &r->cmds.v[ci];
	const struct trace_image *im = c->root->head;
	struct thunk th;
	struct graph_node node = { 0 };
	struct gg_hash h;
	uint32_t mode = 0;
	char label[PATH_MAX], *buf = NULL;
	size_t len;
	int ret = 0;

	thunk_init(&th);
	if (!im->exe || !im->exe[0]) {
		warnf(r, "%s: no executable recorded; command skipped", im->log);
		r->stats->no_output++;
		goto out;
	}
	/* the program: the first image's executable */
	if ((ret = hash_source(r, im->exe, im->exe, &h, &mode)) < 0) {
		warnf(r, "cannot hash '%s': %s", im->exe, strerror(-ret));
		memset(&h, 0, sizeof(h));
		h.kind = GG_HASH_VALUE;
	}
	if ((ret = thunk_set_exe(&th, im->exe, &h, 0, mode)) < 0)
		goto out;
	if (im->interp && im->interp[0] && (ret = thunk_set_interp(&th, im->interp)) < 0)
		goto out;
	for (uint32_t i = 0; i < im->argv.n; i++)
		if ((ret = thunk_add_arg(&th, im->argv.v[i])) < 0)
			goto out;
	for (uint32_t i = 0; i < im->env.n; i++)
		if (!driver_plumbing(im->env.v[i]) &&
		    (ret = thunk_add_env(&th, im->env.v[i], r->o->env_allow)) < 0)
			goto out;
	if ((ret = thunk_set_cwd(&th, im->cwd)) < 0)
		goto out;
	th.umask = im->umask & 0777;

	for (size_t i = 0; i < c->inputs.n; i++) {
		const struct inpath *in = &c->inputs.v[i];
		long pi = producer_of(r, in->path, in->t, ci);
		if (pi >= 0 && r->cmds.v[pi].node >= 0) {
			const struct cmd *pc = &r->cmds.v[pi];
			long oi = output_index(pc, in->path);
			if (oi < 0)
				continue;
			ret = thunk_add_input(&th, in->path, &pc->hash, (uint32_t)oi,
					      g->nodes[pc->node].outputs[oi].mode);
			if (ret < 0)
				goto out;
			continue;
		}
		if (pi < 0 && r->o->producer) { /* made by a command of the existing graph */
			uint32_t oi;
			if (r->o->producer(r->o->producer_ctx, in->path, &h, &oi, &mode) == 0) {
				if ((ret = thunk_add_input(&th, in->path, &h, oi, mode)) < 0)
					goto out;
				continue;
			}
		}
		ret = hash_source(r, in->path, in->raw, &h, &mode);
		if (ret == -EISDIR || ret == -ENOENT || ret == -EINVAL) {
			/* a directory, gone since, or a device: existence is all we know */
			ret = 0;
			continue;
		}
		if (ret < 0) {
			warnf(r, "cannot hash input '%s': %s", in->path, strerror(-ret));
			ret = 0;
			continue;
		}
		if ((ret = thunk_add_input(&th, in->path, &h, 0, mode)) < 0)
			goto out;
		r->stats->inputs++;
	}
	for (size_t i = 0; i < c->objects.n; i++) {
		ret = hash_source(r, c->objects.v[i].path, c->objects.v[i].raw, &h, &mode);
		if (ret < 0) {
			warnf(r, "cannot hash '%s': %s", c->objects.v[i].path, strerror(-ret));
			ret = 0;
			continue;
		}
		if ((ret = thunk_add_object(&th, c->objects.v[i].path, &h, 0, mode)) < 0)
			goto out;
	}
	for (size_t i = 0; i < c->missing.n; i++)
		if (!strset_has(&r->made_dirs, c->missing.v[i]) && /* see note_made_dirs() */
		    (ret = thunk_add_missing(&th, c->missing.v[i])) < 0)
			goto out;
	for (size_t i = 0; i < c->notdir.n; i++)
		if ((ret = thunk_add_notdir(&th, c->notdir.v[i])) < 0)
			goto out;
	for (size_t i = 0; i < c->listings.n; i++)
		if ((ret = thunk_add_listing(&th, c->listings.v[i].path, &c->listings.v[i].hash)) < 0)
			goto out;
	for (size_t i = 0; i < c->outputs.n; i++)
		if ((ret = thunk_add_output(&th, c->outputs.v[i].path)) < 0)
			goto out;
	th.local = c->local;
	th.pure = c->local == 0;
	r->stats->missing += c->missing.n + c->notdir.n;
	r->stats->objects += c->objects.n;

	if ((ret = thunk_encode(&th, &buf, &len)) < 0)
		goto out;
	if ((ret = store_put_buf(r->st, GG_HASH_THUNK, buf, len, &c->hash)) < 0)
		goto out;

	/* the node: outputs in the thunk's (sorted) order, with what they hold now */
	label_of(r, c, label, sizeof(label));
	node.hash = c->hash;
	node.label = strdup(label);
	node.command = command_of(im);
	node.local = c->local;
	node.outputs = calloc(c->outputs.n + 1, sizeof(*node.outputs));
	node.deps = calloc(c->deps.n + 1, sizeof(*node.deps));
	if (!node.label || !node.command || !node.outputs || !node.deps) {
		ret = -ENOMEM;
		goto out_node;
	}
	for (size_t i = 0; i < c->deps.n; i++) {
		long dn = r->cmds.v[c->deps.v[i]].node;
		bool dup = false;
		if (dn < 0)
			continue;
		for (size_t k = 0; k < node.ndeps && !dup; k++)
			dup = node.deps[k] == (size_t)dn;
		if (!dup)
			node.deps[node.ndeps++] = (size_t)dn;
	}
	for (size_t i = 0; i < c->outputs.n; i++) {
		struct graph_output *o = &node.outputs[i];
		o->path = strdup(c->outputs.v[i].path);
		node.noutputs = i + 1;
		if (!o->path) {
			ret = -ENOMEM;
			goto out_node;
		}
		o->mode = 0100644;
		o->final = is_final_writer(r, c->outputs.v[i].path, ci);
		if (o->final &&
		    statcache_hash(r->sc, r->st, o->path, STATCACHE_STORE, &o->value, &o->mode) < 0)
			memset(&o->value, 0, sizeof(o->value));
		if (!hash_is_set(&o->value)) {
			struct stat sb;
			if (lstat(o->path, &sb) == 0)
				o->mode = sb.st_mode;
		}
	}
	r->stats->edges += node.ndeps;
	node.ms = cmd_ms(c);
	c->node = (long)g->n;
	ret = graph_add(g, &node);
	if (ret == 0)
		cache_recorded(r, c, g, &th, &g->nodes[g->n - 1]);
out_node:
	graph_node_release(&node);
	if (ret < 0)
		c->node = -1;
out:
	free(buf);
	thunk_release(&th);
	return ret;
}

/* ---- the run ---------------------------------------------------------------------------------- */

/* A min-heap of command indexes by start time (the ready set of resolve()). */
struct heap {
	size_t *v;
	size_t n, alloc;
};

static bool heap_less(const struct run *r, size_t a, size_t b)
{
	return r->cmds.v[a].t_start < r->cmds.v[b].t_start ||
	       (r->cmds.v[a].t_start == r->cmds.v[b].t_start && a < b);
}

static int heap_push(struct run *r, struct heap *h, size_t ci)
{
	size_t i;
	if (vec_grow_((void **)&h->v, &h->alloc, h->n, sizeof(*h->v)) < 0)
		return -ENOMEM;
	i = h->n++;
	h->v[i] = ci;
	while (i && heap_less(r, h->v[i], h->v[(i - 1) / 2])) {
		size_t p = (i - 1) / 2, tmp = h->v[p];
		h->v[p] = h->v[i];
		h->v[i] = tmp;
		i = p;
	}
	return 0;
}

static size_t heap_pop(struct run *r, struct heap *h)
{
	size_t top = h->v[0], i = 0;
	h->v[0] = h->v[--h->n];
	for (;;) {
		size_t l = 2 * i + 1, m = i, tmp;
		if (l < h->n && heap_less(r, h->v[l], h->v[m]))
			m = l;
		if (l + 1 < h->n && heap_less(r, h->v[l + 1], h->v[m]))
			m = l + 1;
		if (m == i)
			break;
		tmp = h->v[m];
		h->v[m] = h->v[i];
		h->v[i] = tmp;
		i = m;
	}
	return top;
}

/*
 * The directories holding an output of some command.  Directories are not outputs
 * (infer.h); one the build makes for its outputs exists or not when a command
 * probes it depending on which command of a -j build ran first (libtool makes
 * .libs/ in whichever compile starts first, and the others may have found it
 * missing a moment before their own mkdir failed with EEXIST): such a probe is no
 * missing-probe of the command.
 */
static int note_made_dirs(struct run *r)
{
	char dir[PATH_MAX];
	for (size_t ci = 0; ci < r->cmds.n; ci++) {
		const struct cmd *c = &r->cmds.v[ci];
		for (size_t k = 0; k < c->outputs.n; k++) {
			const char *p = c->outputs.v[k].path, *slash;
			for (slash = strchr(p + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
				const char *d;
				if ((size_t)(slash - p) >= sizeof(dir))
					break;
				memcpy(dir, p, (size_t)(slash - p));
				dir[slash - p] = '\0';
				if (!(d = intern_str(&r->in, dir)) || strset_add(&r->made_dirs, d) < 0)
					return -ENOMEM;
			}
		}
	}
	return 0;
}

static int resolve(struct run *r, struct graph *g)
{
	struct heap ready = { 0 };
	VEC(size_t) *users = NULL;
	size_t ndone = 0;
	int ret = 0;

	/* writers per path, in time order */
	for (size_t ci = 0; ci < r->cmds.n; ci++) {
		struct cmd *c = &r->cmds.v[ci];
		for (size_t k = 0; k < c->outputs.n; k++) {
			struct wlist *w = wl_get(r, c->outputs.v[k].path, true);
			if (!w || VEC_PUSH(w->w, ((struct writer){ ci, c->outputs.v[k].t })) < 0)
				return -ENOMEM;
		}
	}
	for (size_t i = 0; i < r->wl.n; i++)
		if (r->wl.v[i].w.n > 1)
			qsort(r->wl.v[i].w.v, r->wl.v[i].w.n, sizeof(struct writer), writer_cmp);
	if ((ret = note_made_dirs(r)) < 0)
		return ret;

	/* edges: each input read, and each program run (a generator the build linked),
	 * after another command wrote it */
	users = calloc(r->cmds.n + 1, sizeof(*users));
	if (!users)
		return -ENOMEM;
	for (size_t ci = 0; ci < r->cmds.n; ci++) {
		struct cmd *c = &r->cmds.v[ci];
		for (size_t k = 0; k < c->inputs.n + c->objects.n; k++) {
			const struct inpath *in = k < c->inputs.n ? &c->inputs.v[k]
								  : &c->objects.v[k - c->inputs.n];
			long pi = producer_of(r, in->path, in->t, ci);
			bool dup = false;
			if (pi < 0)
				continue;
			wl_get(r, in->path, false)->read = true;
			for (size_t d = 0; d < c->deps.n && !dup; d++)
				dup = c->deps.v[d] == (size_t)pi;
			if (dup)
				continue;
			if (VEC_PUSH(c->deps, (size_t)pi) < 0 || VEC_PUSH(users[pi], ci) < 0) {
				ret = -ENOMEM;
				goto out;
			}
			c->indeg++;
		}
	}
	/* Kahn, taking the earliest started of the ready ones (a min-heap) */
	for (size_t ci = 0; ci < r->cmds.n; ci++)
		if (!r->cmds.v[ci].indeg && (ret = heap_push(r, &ready, ci)) < 0)
			goto out;
	while (ndone < r->cmds.n) {
		size_t ci;
		if (!ready.n) {
			/* a cycle through concurrent commands: take the earliest left */
			size_t best = SIZE_MAX;
			for (size_t k = 0; k < r->cmds.n; k++)
				if (!r->cmds.v[k].done && (best == SIZE_MAX ||
							   r->cmds.v[k].t_start < r->cmds.v[best].t_start))
					best = k;
			warnf(r, "dependency cycle through '%s'; its inputs are taken as sources",
			      r->cmds.v[best].outputs.n ? r->cmds.v[best].outputs.v[0].path : "?");
			r->cmds.v[best].indeg = 0;
			if ((ret = heap_push(r, &ready, best)) < 0)
				goto out;
		}
		ci = heap_pop(r, &ready);
		if (r->cmds.v[ci].done)
			continue;
		r->cmds.v[ci].done = true;
		ndone++;
		if (r->cmds.v[ci].outputs.n) {
			if ((ret = make_thunk(r, g, ci)) < 0)
				goto out;
		} else {
			r->stats->no_output++;
		}
		for (size_t k = 0; k < users[ci].n; k++) {
			struct cmd *u = &r->cmds.v[users[ci].v[k]];
			if (u->indeg && --u->indeg == 0 &&
			    (ret = heap_push(r, &ready, users[ci].v[k])) < 0)
				goto out;
		}
	}
out:
	for (size_t ci = 0; users && ci < r->cmds.n; ci++)
		VEC_FREE(users[ci]);
	free(users);
	free(ready.v);
	return ret;
}

/*
 * What the drivers read themselves (Makefile, included fragments, build.ninja...),
 * minus what any command or driver wrote (.d files, .ninja_deps): if one of these
 * changes, the build itself changed and the graph is stale.
 */
static int driver_inputs(struct run *r, struct graph *g)
{
	struct strset written = STRSET_INIT, seen = STRSET_INIT;
	VEC(const char *) paths = { 0 };
	int ret = 0;

	for (size_t i = 0; i < r->wl.n; i++)
		if (strset_add(&written, r->wl.v[i].path) < 0)
			goto nomem;
	for (size_t pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < r->t->nimages; i++) {
			struct proc *p = &r->procs[i];
			if (!p->head || !p->driver)
				continue;
			for (struct trace_image *x = p->head; x; x = x->exec_next) {
				for (size_t k = 0; k < x->nevents; k++) {
					const struct trace_event *e = &x->events[k];
					const char *ip;
					int acc;
					if (e->type != GG_REC_OPEN || e->ret < 0 || !e->path[0])
						continue;
					acc = e->u.open.flags & O_ACCMODE;
					if ((ret = intern_path(&r->in, e->path, x->cwd, &ip)) < 0)
						goto out;
					if (pass == 0) { /* what drivers write is theirs */
						if ((acc != O_RDONLY || (e->u.open.flags & (O_CREAT | O_TRUNC))) &&
						    strset_add(&written, ip) < 0)
							goto nomem;
						continue;
					}
					if (acc != O_RDONLY || pseudo_fs(ip) || strset_has(&written, ip) ||
					    (e->u.open.flags & O_DIRECTORY))
						continue;
					if ((ret = strset_add(&seen, ip)) < 0)
						goto nomem;
					if (ret == 1 && VEC_PUSH(paths, ip) < 0)
						goto nomem;
				}
			}
		}
	}
	g->driver_inputs = calloc(paths.n + 1, sizeof(*g->driver_inputs));
	if (!g->driver_inputs)
		goto nomem;
	for (size_t i = 0; i < paths.n; i++) {
		struct graph_output *o = &g->driver_inputs[g->ndriver_inputs];
		if (hash_source(r, paths.v[i], paths.v[i], &o->value, &o->mode) < 0)
			continue; /* a directory, or gone */
		if (!(o->path = strdup(paths.v[i])))
			goto nomem;
		o->final = true;
		g->ndriver_inputs++;
	}
	ret = 0;
	goto out;
nomem:
	ret = -ENOMEM;
out:
	strset_release(&written);
	strset_release(&seen);
	VEC_FREE(paths);
	return ret;
}

int infer_run(const struct trace *t, struct store *st, struct statcache *sc,
	      const struct infer_opts *opts, struct graph *g, struct infer_stats *stats,
	      struct strlist *warnings, char *errbuf, size_t errlen)
{
	struct infer_opts defaults = { 0 };
	struct run r = { .t = t, .st = st, .sc = sc, .o = opts ? opts : &defaults,
			 .stats = stats, .warnings = warnings, .err = errbuf, .errlen = errlen };
	int ret;

	graph_init(g);
	memset(stats, 0, sizeof(*stats));
	if (errlen)
		errbuf[0] = '\0';
	r.in.a = &r.arena;
	r.drivers = r.o->drivers ? r.o->drivers : infer_default_drivers;
	stats->images = t->nimages;

	if ((ret = build_procs(&r)) < 0) {
		fail(&r, ret, "cannot build the process tree: %s", strerror(-ret));
		goto out;
	}
	ret = 0;
	if (r.o->tree)
		ret = intern_path(&r.in, r.o->tree, "/", &r.tree);
	else if (r.roots.n)
		ret = intern_path(&r.in, r.roots.v[0]->head->cwd, "/", &r.tree);
	if (ret == 0 && !r.tree && !(r.tree = intern_str(&r.in, "/")))
		ret = -ENOMEM;
	if (ret < 0) {
		fail(&r, ret, "cannot take the build tree: %s", strerror(-ret));
		goto out;
	}
	r.tree_len = strlen(r.tree);
	if (!(g->tree = strdup(r.tree))) {
		ret = fail(&r, -ENOMEM, "out of memory");
		goto out;
	}
	if ((ret = wrapcache_init(&r.wc, r.tree)) < 0) {
		fail(&r, ret, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < t->nimages; i++) {
		const struct trace_image *im = t->images[i];
		if ((ret = wrapcache_note_process(&r.wc, im->exe, im->env.v, im->env.n, im->cwd)) < 0) {
			fail(&r, ret, "out of memory");
			goto out;
		}
	}
	if ((ret = cut(&r)) < 0) {
		fail(&r, ret, "cannot cut the build into commands: %s", strerror(-ret));
		goto out;
	}
	for (size_t i = 0; i < r.cmds.n; i++) {
		if ((ret = analyse(&r, &r.cmds.v[i])) < 0) {
			fail(&r, ret, "cannot analyse command of '%s': %s",
			     r.cmds.v[i].root->head->log, strerror(-ret));
			goto out;
		}
	}
	if ((ret = resolve(&r, g)) < 0) {
		if (!r.err[0])
			fail(&r, ret, "cannot build the graph: %s", strerror(-ret));
		goto out;
	}
	if ((ret = driver_inputs(&r, g)) < 0) {
		fail(&r, ret, "cannot list the drivers' inputs: %s", strerror(-ret));
		goto out;
	}
	for (size_t i = 0; i < g->n; i++) {
		uint32_t l = g->nodes[i].local;
		stats->thunks++;
		if (!l)
			stats->pure++;
		else
			stats->local++;
		for (int b = 0; b < 8; b++)
			if (l & (1u << b))
				stats->local_by_reason[b]++;
	}
	stats->bytes_hashed = statcache_stats(sc)->bytes_hashed;
out:
	for (size_t i = 0; i < r.cmds.n; i++) {
		struct cmd *c = &r.cmds.v[i];
		VEC_FREE(c->inputs);
		VEC_FREE(c->missing);
		VEC_FREE(c->notdir);
		VEC_FREE(c->listings);
		VEC_FREE(c->objects);
		VEC_FREE(c->outputs);
		VEC_FREE(c->deps);
	}
	VEC_FREE(r.cmds);
	for (size_t i = 0; r.procs && i < t->nimages; i++)
		VEC_FREE(r.procs[i].kids);
	free(r.procs);
	free(r.head_of);
	VEC_FREE(r.roots);
	htab_release(&r.pt.ix);
	VEC_FREE(r.pt.used);
	VEC_FREE(r.imgs);
	free(r.evs);
	for (size_t i = 0; i < r.wl.n; i++)
		VEC_FREE(r.wl.v[i].w);
	VEC_FREE(r.wl);
	htab_release(&r.wl_ix);
	strset_release(&r.made_dirs);
	htab_release(&r.in.ix);
	VEC_FREE(r.in.v);
	arena_free(&r.arena);
	wrapcache_release(&r.wc);
	if (ret < 0)
		graph_release(g);
	return ret;
}
