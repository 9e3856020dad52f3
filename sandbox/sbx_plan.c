/*
 * sbx_plan.c - turn a struct sbx_plan into a struct sbx_prep: the sorted setup
 * operations the child applies at level 1 and the declared-path table the
 * supervisor consults.  Everything that can fail on a plan fails here, in the
 * parent, with a message; the child only applies.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/lib/util.h"
#include "sandbox/sbx_int.h"

/* The dynamic loader probes it at every start; declared absent unless the plan says. */
static const char *const quiet_absent[] = { "/etc/ld.so.preload" };

/* One declared path while the plan is being compiled. */
struct item {
	const char *path; /* normalised, in the sandbox's view (NUL-terminated after len) */
	size_t len;
	int kind;         /* enum item_kind */
	int mount;        /* index in plan->mounts, or -1 */
	const char *src;  /* bind: canonical host path with SBX_OLDROOT; symlink: target */
	bool dir;         /* bind: source is a directory */
};

enum item_kind {
	IT_ANCESTOR,
	IT_RO,
	IT_RW,
	IT_TMPFS,
	IT_DIR,
	IT_SYMLINK,
	IT_ABSENT,
	IT_DEV,
	IT_PROC,
	IT_QUIET, /* a built-in ABSENT that yields to any declaration of the same path */
};

static void errf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Keep s (malloc'd) as one of p's strings; NULL (and s freed) on ENOMEM. */
static char *prep_keep(struct sbx_prep *p, char *s)
{
	if (!s)
		return NULL;
	if (p->n_strs == p->cap_strs) {
		size_t cap = p->cap_strs ? 2 * p->cap_strs : 64;
		char **v = realloc(p->strs, cap * sizeof(*v));

		if (!v) {
			free(s);
			return NULL;
		}
		p->strs = v;
		p->cap_strs = cap;
	}
	p->strs[p->n_strs++] = s;
	return s;
}

/* prefix + the first len bytes of s, kept by p. */
static char *prep_cat(struct sbx_prep *p, const char *prefix, const char *s, size_t len)
{
	size_t pl = strlen(prefix);
	char *r = malloc(pl + len + 1);

	if (!r)
		return NULL;
	memcpy(r, prefix, pl);
	memcpy(r + pl, s, len);
	r[pl + len] = '\0';
	return prep_keep(p, r);
}

void sbx_prep_release(struct sbx_prep *p)
{
	for (size_t i = 0; i < p->n_strs; i++)
		free(p->strs[i]);
	free(p->strs);
	free(p->ops);
	free(p->decls);
	free(p->random);
	p->random = NULL;
	p->strs = NULL;
	p->ops = NULL;
	p->decls = NULL;
	p->n_strs = p->cap_strs = p->n_ops = p->n_decls = 0;
}

int sbx_path_normalize(const char *base, const char *path, char *out, size_t cap)
{
	return path_normalize(base, path, out, cap); /* runtime/lib/util.h */
}

/* Compare the first len bytes of key (as a string) with d->path, in strcmp order. */
static int decl_cmp(const char *key, size_t len, const char *path)
{
	int c = strncmp(key, path, len);

	if (c)
		return c;
	return path[len] ? -1 : 0;
}

static const struct sbx_decl *decl_find(const struct sbx_prep *p, const char *key, size_t len)
{
	size_t lo = 0, hi = p->n_decls;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = decl_cmp(key, len, p->decls[mid].path);

		if (c == 0)
			return &p->decls[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* Length of the parent of path[0..len): "/a/b" -> 2 ("/a"), "/a" -> 1 ("/"). */
static size_t parent_len(const char *path, size_t len)
{
	while (len > 1 && path[len - 1] != '/')
		len--;
	return len > 1 ? len - 1 : 1;
}

int sbx_decl_resolve(const struct sbx_prep *p, const char *path, bool follow_last, char *out,
		     size_t cap)
{
	char cur[PATH_MAX], tmp[PATH_MAX * 2];
	int hops = 0, rc;

	if (strlen(path) >= sizeof(cur))
		return -ENAMETOOLONG;
	strcpy(cur, path);
	for (bool changed = p->n_symlinks > 0; changed;) {
		changed = false;
		for (size_t i = 1;; i++) {
			bool last = cur[i] == '\0';
			const struct sbx_decl *d;
			size_t pl;
			int n;

			if (cur[i] != '/' && !last)
				continue;
			d = (!last || follow_last) ? decl_find(p, cur, i) : NULL;
			if (d && d->kind == SBX_DECL_SYMLINK) {
				if (++hops > 40)
					return -ELOOP;
				pl = parent_len(cur, i);
				if (d->target[0] == '/')
					n = snprintf(tmp, sizeof(tmp), "%s%s", d->target, cur + i);
				else
					n = snprintf(tmp, sizeof(tmp), "%.*s/%s%s", (int)pl, cur,
						     d->target, cur + i);
				if (n < 0 || (size_t)n >= sizeof(tmp))
					return -ENAMETOOLONG;
				rc = sbx_path_normalize("/", tmp, cur, sizeof(cur));
				if (rc < 0)
					return rc;
				changed = true;
				break;
			}
			if (last)
				break;
		}
	}
	if (strlen(cur) >= cap)
		return -ENAMETOOLONG;
	strcpy(out, cur);
	return 0;
}

enum sbx_verdict sbx_decl_check(const struct sbx_prep *p, const char *path, bool write)
{
	size_t len = strlen(path), l = len, plen = parent_len(path, len);
	bool absent = false;

	for (;;) {
		const struct sbx_decl *d = decl_find(p, path, l);
		bool exact = l == len;

		if (d) {
			switch (d->kind) {
			case SBX_DECL_WTREE:
			case SBX_DECL_WFILE:
				return SBX_ALLOW;
			case SBX_DECL_TREE:
			case SBX_DECL_FILE:
				if (write)
					return SBX_READONLY;
				return absent ? SBX_ABSENT : SBX_ALLOW;
			case SBX_DECL_ABSENT:
				absent = true; /* unless a writable tree above holds it */
				break;
			case SBX_DECL_ANCESTOR:
			case SBX_DECL_SYMLINK:
				if (exact && !absent)
					return write ? SBX_READONLY : SBX_ALLOW;
				if (write && l == plen && !absent)
					return SBX_READONLY;
				break;
			}
		}
		if (l <= 1)
			break;
		l = parent_len(path, l);
	}
	if (write)
		return SBX_NOWRITE;
	return absent ? SBX_ABSENT : SBX_UNDECLARED;
}

bool sbx_decl_exists(const struct sbx_prep *p, const char *path)
{
	const struct sbx_decl *d = decl_find(p, path, strlen(path));

	return d && d->kind != SBX_DECL_ABSENT;
}

static int item_cmp(const void *a, const void *b)
{
	const struct item *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->path, y->path, n);

	if (c)
		return c;
	return (x->len > y->len) - (x->len < y->len);
}

static int decl_sort_cmp(const void *a, const void *b)
{
	return strcmp(((const struct sbx_decl *)a)->path, ((const struct sbx_decl *)b)->path);
}

/* A growable array of items (owned by the caller of items_push: free(v->v)). */
struct items {
	struct item *v;
	size_t n, cap;
};

static int items_push(struct items *v, const struct item *it)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? 2 * v->cap : 64;
		struct item *nv = realloc(v->v, cap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		v->v = nv;
		v->cap = cap;
	}
	v->v[v->n++] = *it;
	return 0;
}

static const char *kind_word(int kind)
{
	switch (kind) {
	case IT_RW:
		return "output";
	case IT_SYMLINK:
		return "symlink";
	case IT_ABSENT:
		return "absent path";
	default:
		return "input";
	}
}

/*
 * The symlinks of the plan, their locations resolved through each other, as the
 * only decls of p (so that sbx_decl_resolve can place everything else).
 */
static int build_symlinks(struct sbx_prep *p, const struct sbx_plan *plan, char *err,
			  size_t errlen)
{
	char buf[PATH_MAX];
	size_t n = 0;
	int rc;

	for (size_t i = 0; i < plan->n_mounts; i++)
		n += plan->mounts[i].kind == SBX_MOUNT_SYMLINK;
	if (!n)
		return 0;
	p->decls = calloc(n, sizeof(*p->decls));
	if (!p->decls)
		return -ENOMEM;
	for (size_t i = 0; i < plan->n_mounts; i++) {
		const struct sbx_mount *m = &plan->mounts[i];
		struct sbx_decl *d;

		if (m->kind != SBX_MOUNT_SYMLINK)
			continue;
		if (!m->src || !m->src[0]) {
			errf(err, errlen, "symlink '%s' has no target", m->dst ? m->dst : "");
			return -EINVAL;
		}
		rc = sbx_path_normalize("/", m->dst, buf, sizeof(buf));
		if (rc < 0)
			return rc;
		d = &p->decls[p->n_decls++];
		d->kind = SBX_DECL_SYMLINK;
		d->target = m->src;
		if (!(d->path = prep_keep(p, strdup(buf))))
			return -ENOMEM;
	}
	p->n_symlinks = p->n_decls;
	/* Place each link through the others until nothing moves (a link below a link). */
	for (int round = 0;; round++) {
		bool moved = false;

		qsort(p->decls, p->n_decls, sizeof(*p->decls), decl_sort_cmp);
		if (round > 40) {
			errf(err, errlen, "declared symlinks loop");
			return -ELOOP;
		}
		for (size_t i = 0; i < p->n_decls; i++) {
			rc = sbx_decl_resolve(p, p->decls[i].path, false, buf, sizeof(buf));
			if (rc < 0) {
				errf(err, errlen, "cannot place symlink '%s': %s", p->decls[i].path,
				     strerror(-rc));
				return rc;
			}
			if (strcmp(buf, p->decls[i].path)) {
				if (!(p->decls[i].path = prep_keep(p, strdup(buf))))
					return -ENOMEM;
				moved = true;
			}
		}
		if (!moved)
			break;
	}
	return 0;
}

/*
 * The host source of a bind at level 1: SBX_OLDROOT + its canonical path (the
 * child binds it after the first pivot_root, where an absolute symlink on the
 * host would resolve against the wrong root), and whether it is a directory.
 */
static int canon_source(struct sbx_prep *p, struct item *it, const char *src, char *err,
			size_t errlen)
{
	char link[64], buf[PATH_MAX];
	struct stat st;
	ssize_t n;
	int fd, rc = 0;

	fd = open(src, O_PATH | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		errf(err, errlen, "cannot open %s '%s': %s", kind_word(it->kind), src,
		     strerror(errno));
		return rc;
	}
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		errf(err, errlen, "cannot stat %s '%s': %s", kind_word(it->kind), src,
		     strerror(errno));
		goto out_close;
	}
	it->dir = S_ISDIR(st.st_mode);
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, buf, sizeof(buf) - 1);
	if (n <= 0 || buf[0] != '/') {
		/* No /proc in the caller: realpath walks the components itself. */
		if (!realpath(src, buf)) {
			rc = -errno;
			errf(err, errlen, "cannot resolve %s '%s': %s", kind_word(it->kind), src,
			     strerror(errno));
			goto out_close;
		}
		n = (ssize_t)strlen(buf);
	}
	buf[n] = '\0';
	if (!(it->src = prep_cat(p, SBX_OLDROOT, buf, (size_t)n)))
		rc = -ENOMEM;
out_close:
	close(fd);
	return rc;
}

static int decl_kind(const struct item *it)
{
	switch (it->kind) {
	case IT_ANCESTOR:
		return SBX_DECL_ANCESTOR;
	case IT_RO:
		return it->dir ? SBX_DECL_TREE : SBX_DECL_FILE;
	case IT_RW:
		return it->dir ? SBX_DECL_WTREE : SBX_DECL_WFILE;
	case IT_TMPFS:
	case IT_DEV:
	case IT_PROC:
		return SBX_DECL_WTREE;
	case IT_DIR:
		return SBX_DECL_FILE;
	case IT_SYMLINK:
		return SBX_DECL_SYMLINK;
	default:
		return SBX_DECL_ABSENT;
	}
}

/* Are a and b (same path) the same declaration? */
static bool item_same(const struct item *a, const struct item *b)
{
	if (a->kind != b->kind)
		return false;
	if (a->kind == IT_RO || a->kind == IT_RW || a->kind == IT_SYMLINK)
		return a->src && b->src && !strcmp(a->src, b->src);
	return true;
}

/* The declared (non-symlink) mounts of the plan and the built-in places, as items. */
static int collect_items(struct sbx_prep *p, const struct sbx_plan *plan, struct items *v,
			 char *err, size_t errlen)
{
	static const struct {
		unsigned flag;
		const char *path;
		int kind;
	} builtin[] = {
		{ SBX_DEV, "/dev", IT_DEV },
		{ SBX_PROC, "/proc", IT_PROC },
		{ SBX_TMP, "/tmp", IT_TMPFS },
	};
	char norm[PATH_MAX], buf[PATH_MAX];
	int rc;

	for (size_t i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++) {
		struct item it = { .path = builtin[i].path, .len = strlen(builtin[i].path),
				   .kind = builtin[i].kind, .mount = -1 };

		if ((plan->flags & builtin[i].flag) && (rc = items_push(v, &it)) < 0)
			return rc;
	}
	for (size_t i = 0; i < sizeof(quiet_absent) / sizeof(quiet_absent[0]); i++) {
		struct item it = { .path = quiet_absent[i], .len = strlen(quiet_absent[i]),
				   .kind = IT_QUIET, .mount = -1 };

		if ((rc = items_push(v, &it)) < 0)
			return rc;
	}
	for (size_t i = 0; i < plan->n_mounts; i++) {
		const struct sbx_mount *m = &plan->mounts[i];
		struct item it = { .mount = (int)i };
		const char *src;

		if (!m->dst || m->dst[0] != '/') {
			errf(err, errlen, "declared path '%s' is not absolute", m->dst ? m->dst : "");
			return -EINVAL;
		}
		if ((rc = sbx_path_normalize("/", m->dst, norm, sizeof(norm))) < 0) {
			errf(err, errlen, "declared path '%s' is too long", m->dst);
			return rc;
		}
		switch (m->kind) {
		case SBX_MOUNT_RO:
			it.kind = IT_RO;
			break;
		case SBX_MOUNT_RW:
			it.kind = IT_RW;
			break;
		case SBX_MOUNT_TMPFS:
			it.kind = IT_TMPFS;
			break;
		case SBX_MOUNT_DIR:
			it.kind = IT_DIR;
			break;
		case SBX_MOUNT_ABSENT:
			it.kind = IT_ABSENT;
			break;
		case SBX_MOUNT_SYMLINK:
			continue; /* placed by build_symlinks */
		default:
			errf(err, errlen, "declared path '%s' has an unknown kind %d", m->dst,
			     (int)m->kind);
			return -EINVAL;
		}
		if ((rc = sbx_decl_resolve(p, norm, false, buf, sizeof(buf))) < 0) {
			errf(err, errlen, "cannot place '%s': %s", m->dst, strerror(-rc));
			return rc;
		}
		if (!(it.path = prep_keep(p, strdup(buf))))
			return -ENOMEM;
		it.len = strlen(it.path);
		if (it.kind == IT_RO || it.kind == IT_RW) {
			src = m->src ? m->src : norm;
			if (p->level >= SBX_LEVEL_SECCOMP) {
				struct stat st;

				if (m->src) {
					if ((rc = sbx_path_normalize("/", m->src, buf, sizeof(buf))) < 0)
						return rc;
					if (strcmp(buf, norm)) {
						errf(err, errlen,
						     "%s '%s' cannot be placed at '%s' without a mount "
						     "namespace (level %d)",
						     kind_word(it.kind), m->src, m->dst, p->level);
						return -EXDEV;
					}
				}
				/* As strict as level 1: an input or output must exist. */
				if (stat(src, &st) < 0) {
					rc = -errno;
					errf(err, errlen, "cannot stat %s '%s': %s", kind_word(it.kind),
					     src, strerror(errno));
					return rc;
				}
				it.dir = S_ISDIR(st.st_mode);
				it.src = it.path;
			} else if ((rc = canon_source(p, &it, src, err, errlen)) < 0) {
				return rc;
			}
		}
		if ((rc = items_push(v, &it)) < 0)
			return rc;
	}
	/* The symlinks join the items, at their resolved places. */
	for (size_t i = 0; i < p->n_decls; i++) {
		struct item it = { .path = p->decls[i].path, .len = strlen(p->decls[i].path),
				   .kind = IT_SYMLINK, .mount = -1, .src = p->decls[i].target };

		if ((rc = items_push(v, &it)) < 0)
			return rc;
	}
	return 0;
}

/* Is the item a declaration of something that is not a directory? */
static bool item_notdir(const struct item *it)
{
	return ((it->kind == IT_RO || it->kind == IT_RW) && !it->dir) || it->kind == IT_SYMLINK ||
	       it->kind == IT_ABSENT || it->kind == IT_QUIET;
}

/* The item of a sorted, duplicate-free array at exactly path[0..len), or NULL. */
static const struct item *items_find(const struct items *v, const char *path, size_t len)
{
	struct item key = { .path = path, .len = len };
	size_t lo = 0, hi = v->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = item_cmp(&key, &v->v[mid]);

		if (!c)
			return &v->v[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/*
 * Drop the absent paths (probes) that lie below a declared non-directory: a file
 * (/usr/bin/gettext/__init__.py below the input /usr/bin/gettext: the kernel
 * answers ENOTDIR, as it did when the command was recorded), a symlink, or another
 * absent path.  Making their ancestors would turn the file into a directory.  v is
 * sorted and free of duplicates; the kept items stay in order.
 */
static void drop_shadowed_probes(struct items *v)
{
	size_t w = 0;

	for (size_t i = 0; i < v->n; i++) {
		const struct item *it = &v->v[i];
		bool shadowed = false;

		if (it->kind == IT_ABSENT || it->kind == IT_QUIET) {
			size_t l = it->len;

			while (!shadowed && (l = parent_len(it->path, l)) > 1) {
				const struct item *a = items_find(v, it->path, l);

				shadowed = a && item_notdir(a);
			}
		}
		if (!shadowed)
			v->v[w++] = v->v[i];
	}
	v->n = w;
}

/*
 * Sort, drop duplicates, check conflicts and add the missing ancestors; the result
 * replaces v.  A probe never makes a plan fail: an absent path below a
 * non-directory is dropped (drop_shadowed_probes), and an absent path with declared
 * paths below it yields to them (it becomes their ancestor directory).  Only
 * contradictory declarations of things that exist are refused (a file with inputs
 * below it).
 */
static int complete_items(struct items *v, char *err, size_t errlen)
{
	struct items out = { 0 };
	int rc = 0;

	qsort(v->v, v->n, sizeof(*v->v), item_cmp);
	/* Duplicates: identical ones collapse, a quiet built-in yields, others conflict. */
	for (size_t i = 0; i < v->n; i++) {
		struct item *it = &v->v[i];
		struct item *prev = out.n ? &out.v[out.n - 1] : NULL;

		if (prev && !item_cmp(prev, it)) {
			if (it->kind == IT_QUIET || item_same(prev, it))
				continue;
			if (prev->kind == IT_QUIET) {
				*prev = *it;
				continue;
			}
			errf(err, errlen, "'%.*s' is declared twice (%s and %s)", (int)it->len,
			     it->path, kind_word(prev->kind), kind_word(it->kind));
			rc = -EINVAL;
			goto out_free;
		}
		if ((rc = items_push(&out, it)) < 0)
			goto out_free;
	}
	drop_shadowed_probes(&out);
	/* Ancestors: every strict prefix directory not itself declared. */
	{
		size_t n = out.n;

		for (size_t i = 0; i < n; i++) {
			/* copied out: items_push may move out.v */
			const char *path = out.v[i].path;
			size_t l = out.v[i].len;

			while ((l = parent_len(path, l)) > 1) {
				struct item a = { .path = path, .len = l, .kind = IT_ANCESTOR,
						  .mount = -1 };

				if ((rc = items_push(&out, &a)) < 0)
					goto out_free;
			}
		}
	}
	qsort(out.v, out.n, sizeof(*out.v), item_cmp);
	/* Merge: an ancestor equal to a declared path is that path (which must be a dir). */
	{
		size_t w = 0;

		for (size_t i = 0; i < out.n; i++) {
			struct item *it = &out.v[i];
			struct item *prev = w ? &out.v[w - 1] : NULL;

			if (prev && !item_cmp(prev, it)) {
				struct item *decl = prev->kind == IT_ANCESTOR ? it : prev;

				if (decl->kind == IT_ANCESTOR)
					continue; /* two ancestors */
				if (decl->kind == IT_ABSENT || decl->kind == IT_QUIET) {
					/* a probe yields to what is declared below it */
					prev->kind = IT_ANCESTOR;
					prev->mount = -1;
					prev->src = NULL;
					continue;
				}
				if (((decl->kind == IT_RO || decl->kind == IT_RW) && !decl->dir) ||
				    decl->kind == IT_SYMLINK) {
					errf(err, errlen,
					     "%s '%.*s' is not a directory but has declared paths "
					     "below it",
					     kind_word(decl->kind), (int)decl->len, decl->path);
					rc = -EINVAL;
					goto out_free;
				}
				*prev = *decl;
				continue;
			}
			out.v[w++] = *it;
		}
		out.n = w;
	}
	free(v->v);
	*v = out;
	return 0;
out_free:
	free(out.v);
	return rc;
}

/* The level-1 operations, in sorted order (parents first). */
static int build_ops(struct sbx_prep *p, const struct items *v)
{
	p->ops = calloc(v->n ? v->n : 1, sizeof(*p->ops));
	if (!p->ops)
		return -ENOMEM;
	for (size_t i = 0; i < v->n; i++) {
		const struct item *it = &v->v[i];
		struct sbx_op *op = &p->ops[p->n_ops];

		switch (it->kind) {
		case IT_ANCESTOR:
		case IT_DIR:
			op->type = SBX_OP_MKDIR;
			break;
		case IT_RO:
		case IT_RW:
			op->type = SBX_OP_BIND;
			op->rw = it->kind == IT_RW;
			op->dir = it->dir;
			op->src = it->src;
			break;
		case IT_TMPFS:
			op->type = SBX_OP_TMPFS;
			break;
		case IT_SYMLINK:
			op->type = SBX_OP_SYMLINK;
			op->src = it->src;
			break;
		case IT_DEV:
			op->type = SBX_OP_DEV;
			break;
		case IT_PROC:
			op->type = SBX_OP_PROC;
			break;
		default:
			continue; /* absent: nothing to create */
		}
		op->mount = it->mount;
		if (!(op->dst = prep_cat(p, SBX_NEWROOT, it->path, it->len)))
			return -ENOMEM;
		p->n_ops++;
	}
	return 0;
}

static int build_decls(struct sbx_prep *p, const struct items *v)
{
	struct sbx_decl *d = calloc(v->n + 1, sizeof(*d));

	if (!d)
		return -ENOMEM;
	free(p->decls);
	p->decls = d;
	p->n_decls = 0;
	p->n_symlinks = 0;
	d[p->n_decls++] = (struct sbx_decl){ .path = "/", .kind = SBX_DECL_ANCESTOR };
	for (size_t i = 0; i < v->n; i++) {
		const struct item *it = &v->v[i];
		struct sbx_decl *e = &d[p->n_decls];

		if (it->len == 1)
			continue; /* "/" itself: its declaration replaces the ancestor */
		e->kind = (uint8_t)decl_kind(it);
		e->target = it->kind == IT_SYMLINK ? it->src : NULL;
		if (it->path[it->len] == '\0')
			e->path = it->path;
		else if (!(e->path = prep_cat(p, "", it->path, it->len)))
			return -ENOMEM;
		p->n_symlinks += e->kind == SBX_DECL_SYMLINK;
		p->n_decls++;
	}
	/* A declaration of "/" itself (a tree) covers everything. */
	if (v->n && v->v[0].len == 1)
		d[0].kind = (uint8_t)decl_kind(&v->v[0]);
	return 0;
}

int sbx_prep_build(struct sbx_prep *p, const struct sbx_plan *plan, int level, char *err,
		   size_t errlen)
{
	struct items v = { 0 };
	char buf[PATH_MAX];
	size_t nargs = 0;
	int rc;

	memset(p, 0, sizeof(*p));
	p->plan = plan;
	p->level = level;
	p->stdio[0] = p->stdio[1] = p->stdio[2] = -1;
	if (!plan->argv || !plan->argv[0] || !plan->argv[0][0]) {
		errf(err, errlen, "empty command");
		return -EINVAL;
	}
	while (plan->argv[nargs])
		if (++nargs > SBX_MAX_ARGS) {
			errf(err, errlen, "more than %d arguments", SBX_MAX_ARGS);
			return -E2BIG;
		}
	if (plan->n_mounts > SBX_MAX_MOUNTS) {
		errf(err, errlen, "%zu declared paths, more than %d", plan->n_mounts,
		     SBX_MAX_MOUNTS);
		return -E2BIG;
	}
	if (plan->n_mounts && !plan->mounts) {
		errf(err, errlen, "declared paths missing");
		return -EINVAL;
	}
	p->path = plan->path ? plan->path : plan->argv[0];
	if (plan->cwd && plan->cwd[0] != '/') {
		errf(err, errlen, "working directory '%s' is not absolute", plan->cwd);
		return -EINVAL;
	}
	if ((rc = sbx_path_normalize("/", plan->cwd ? plan->cwd : "/", buf, sizeof(buf))) < 0) {
		errf(err, errlen, "working directory is too long");
		return rc;
	}
	if (!(p->cwd = prep_keep(p, strdup(buf))))
		goto out_nomem;
	p->hostname = plan->hostname ? plan->hostname : "gg";
	if (strlen(p->hostname) > 64) {
		errf(err, errlen, "hostname '%s' is longer than 64 bytes", p->hostname);
		rc = -EINVAL;
		goto out_release;
	}
	snprintf(p->uid_map, sizeof(p->uid_map), "%u %u 1\n", (unsigned)plan->uid,
		 (unsigned)geteuid());
	snprintf(p->gid_map, sizeof(p->gid_map), "%u %u 1\n", (unsigned)plan->gid,
		 (unsigned)getegid());

	if ((rc = build_symlinks(p, plan, err, errlen)) < 0)
		goto out_release;
	if ((rc = collect_items(p, plan, &v, err, errlen)) < 0)
		goto out_release;
	if ((rc = complete_items(&v, err, errlen)) < 0)
		goto out_release;
	if (level == SBX_LEVEL_NS && (rc = build_ops(p, &v)) < 0)
		goto out_release;
	if (level == SBX_LEVEL_NS && (plan->flags & (SBX_RANDOM | SBX_DEV)) == (SBX_RANDOM | SBX_DEV)) {
		/* Generated here: the child only writes it (one system call). */
		if (!(p->random = malloc(SBX_RANDOM_FILE_SIZE)))
			goto out_nomem;
		sbx_random_fill(plan->random_seed, 0, 0, p->random, SBX_RANDOM_FILE_SIZE);
	}
	if ((rc = build_decls(p, &v)) < 0)
		goto out_release;
	free(v.v);
	return 0;
out_nomem:
	rc = -ENOMEM;
out_release:
	if (rc == -ENOMEM && err && errlen && !err[0])
		errf(err, errlen, "out of memory");
	free(v.v);
	sbx_prep_release(p);
	return rc;
}
