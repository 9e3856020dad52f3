/*
 * audit_db.c - the build database common to make and ninja (audit_db.h): files,
 * dependencies, make's implicit rules, reachability, and running the tools.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "inferer/audit/audit_db.h"

void bdb_init(struct bdb *db, enum bdb_kind kind, const char *dir)
{
	memset(db, 0, sizeof(*db));
	db->kind = kind;
	db->dir = dir ? strdup(dir) : NULL;
}

static void rule_release(struct bdb_rule *r)
{
	strlist_release(&r->targets);
	strlist_release(&r->prereqs);
	strlist_release(&r->order);
}

void bdb_release(struct bdb *db)
{
	for (size_t i = 0; i < db->n; i++) {
		free(db->nodes[i].path);
		free(db->nodes[i].deps);
	}
	free(db->nodes);
	htab_release(&db->ix);
	for (size_t i = 0; i < db->nrules; i++)
		rule_release(&db->rules[i]);
	free(db->rules);
	for (size_t i = 0; i < db->nvpaths; i++) {
		free(db->vpaths[i].pattern);
		strlist_release(&db->vpaths[i].dirs);
	}
	free(db->vpaths);
	strlist_release(&db->makefiles);
	strlist_release(&db->depfiles);
	free(db->seen);
	free(db->dir);
	free(db->default_goal);
	memset(db, 0, sizeof(*db));
}

/* ---- nodes ----------------------------------------------------------------------- */

static bool node_eq(const void *ctx, uint32_t val, const void *key)
{
	const struct bdb *db = ctx;
	return !strcmp(db->nodes[val].path, key);
}

long bdb_find(const struct bdb *db, const char *abs)
{
	uint32_t ni;
	if (!abs)
		return -1;
	ni = htab_find(&db->ix, str_hash(abs), node_eq, db, abs);
	return ni == HTAB_NONE ? -1 : (long)ni;
}

long bdb_node_get(struct bdb *db, const char *abs)
{
	long ni = bdb_find(db, abs);
	if (ni >= 0)
		return ni;
	if (db->n >= BDB_MAX_NODES)
		return -E2BIG;
	if (db->n == db->alloc) {
		size_t na = db->alloc ? db->alloc * 2 : 256;
		struct bdb_node *nv = realloc(db->nodes, na * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		db->nodes = nv;
		db->alloc = na;
	}
	memset(&db->nodes[db->n], 0, sizeof(db->nodes[db->n]));
	if (!(db->nodes[db->n].path = strdup(abs)))
		return -ENOMEM;
	if (htab_add(&db->ix, str_hash(abs), (uint32_t)db->n) < 0) {
		free(db->nodes[db->n].path);
		return -ENOMEM;
	}
	return (long)db->n++;
}

/* The node of a name relative to db->dir (or absolute). */
static long node_of(struct bdb *db, const char *name)
{
	char *abs = NULL;
	long ni;
	int ret = path_abs(name, db->dir ? db->dir : "/", &abs);
	if (ret < 0)
		return ret;
	ni = bdb_node_get(db, abs);
	free(abs);
	return ni;
}

/*
 * Add kind to the pair t -> p.  A pair holds a set of kinds: NORMAL makes the others
 * moot for reachability, but ORDER and DEPFILE together are the usual idiom (order
 * for the first build, the dependency file for the next ones) and must both stay.
 */
static int add_dep_nodes(struct bdb *db, long t, long p, enum bdb_dep kind, uint32_t origin)
{
	struct bdb_node *n = &db->nodes[t];
	for (uint32_t i = 0; i < n->ndeps; i++) {
		if (n->deps[i].node != (uint32_t)p)
			continue;
		if (kind == BDB_DEPFILE && !(n->deps[i].kind & BDB_DEPFILE))
			n->deps[i].origin = origin;
		n->deps[i].kind |= (uint8_t)kind;
		return 0;
	}
	if (n->ndeps == n->adeps) {
		uint32_t na = n->adeps ? n->adeps * 2 : 4;
		struct bdb_dep_ref *nv = realloc(n->deps, na * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		n->deps = nv;
		n->adeps = na;
	}
	n->deps[n->ndeps++] = (struct bdb_dep_ref){ (uint32_t)p, (uint8_t)kind,
						    kind == BDB_DEPFILE ? origin : 0 };
	db->nodes[p].flags |= BDB_F_NAMED;
	return 0;
}

int bdb_add_dep(struct bdb *db, const char *target, const char *prereq, enum bdb_dep kind,
		uint32_t origin)
{
	long t = node_of(db, target), p;
	/* a name that is no path (empty) is skipped: only -ENOMEM/-E2BIG fail */
	if (t < 0)
		return t == -EINVAL ? 0 : (int)t;
	p = node_of(db, prereq);
	if (p < 0)
		return p == -EINVAL ? 0 : (int)p;
	db->nodes[t].flags |= BDB_F_NAMED;
	return add_dep_nodes(db, t, p, kind, origin);
}

/* ---- dependency files ------------------------------------------------------------ */

/*
 * Read make rules "t1 t2: p1 p2 \" from a dependency file; call fn for each pair.
 * Backslash-newline joins lines; "\ " is a space inside a name; lines starting with a
 * tab (recipes) or '#' and variable assignments are skipped.
 */
typedef int pair_fn(void *ctx, const char *t, const char *p);

static int split_words(const char *s, size_t n, struct strlist *out)
{
	struct sbuf w = SBUF_INIT;
	int ret = 0;
	for (size_t i = 0; i <= n; i++) {
		char c = i < n ? s[i] : ' ';
		if (c == '\\' && i + 1 < n && (s[i + 1] == ' ' || s[i + 1] == '#' || s[i + 1] == ':')) {
			sbuf_addch(&w, s[++i]);
			continue;
		}
		if (c == ' ' || c == '\t') {
			if (w.len && (ret = strlist_push(out, w.buf)) < 0)
				break;
			sbuf_reset(&w);
			continue;
		}
		sbuf_addch(&w, c);
	}
	if (!ret && sbuf_error(&w))
		ret = sbuf_error(&w);
	sbuf_release(&w);
	return ret;
}

static int parse_rules(const char *text, size_t len, pair_fn *fn, void *ctx)
{
	struct sbuf line = SBUF_INIT;
	size_t i = 0;
	int ret = 0;

	while (i < len && !ret) {
		struct strlist tl = STRLIST_INIT, pl = STRLIST_INIT;
		size_t colon = SIZE_MAX;
		bool recipe = text[i] == '\t';

		sbuf_reset(&line);
		/* one logical line: join backslash-newlines */
		while (i < len && text[i] != '\n') {
			if (text[i] == '\\' && i + 1 < len && text[i + 1] == '\n') {
				sbuf_addch(&line, ' ');
				i += 2;
				continue;
			}
			sbuf_addch(&line, text[i++]);
		}
		i++;
		if ((ret = sbuf_error(&line)) < 0)
			break;
		if (recipe || !line.len || line.buf[0] == '#')
			continue;
		for (size_t k = 0; k < line.len; k++) {
			if (line.buf[k] == '\\' && k + 1 < line.len) {
				k++;
				continue;
			}
			if (line.buf[k] == '=' )
				break; /* an assignment before any colon */
			if (line.buf[k] == ':') {
				colon = k;
				break;
			}
		}
		if (colon == SIZE_MAX)
			continue;
		/* "a := b", "a ::= b", "a :: b" (double colon) */
		if (colon + 1 < line.len && line.buf[colon + 1] == '=')
			continue;
		{
			size_t rest = colon + 1;
			if (rest < line.len && line.buf[rest] == ':')
				rest++;
			if (rest < line.len && line.buf[rest] == '=')
				continue;
			if ((ret = split_words(line.buf, colon, &tl)) == 0)
				ret = split_words(line.buf + rest, line.len - rest, &pl);
		}
		for (size_t a = 0; !ret && a < tl.n; a++)
			for (size_t b = 0; !ret && b < pl.n; b++) {
				if (!strcmp(pl.v[b], "|"))
					break; /* order-only: not a dependency file's business */
				ret = fn(ctx, tl.v[a], pl.v[b]);
			}
		strlist_release(&tl);
		strlist_release(&pl);
	}
	sbuf_release(&line);
	return ret;
}

struct mark_ctx {
	struct bdb *db;
	uint32_t origin;
};

static int mark_pair(void *vctx, const char *t, const char *p)
{
	struct mark_ctx *c = vctx;
	long tn = node_of(c->db, t), pn;
	if (tn < 0)
		return tn == -EINVAL ? 0 : (int)tn;
	pn = node_of(c->db, p);
	if (pn < 0)
		return pn == -EINVAL ? 0 : (int)pn;
	if (tn == pn)
		return 0;
	{
		/* a NORMAL pair the file declares was (we must assume) declared only there */
		struct bdb_node *n = &c->db->nodes[tn];
		for (uint32_t i = 0; i < n->ndeps; i++) {
			if (n->deps[i].node != (uint32_t)pn)
				continue;
			if (!(n->deps[i].kind & BDB_DEPFILE))
				n->deps[i].origin = c->origin;
			n->deps[i].kind = (uint8_t)((n->deps[i].kind & ~BDB_NORMAL) | BDB_DEPFILE);
			return 0;
		}
	}
	return add_dep_nodes(c->db, tn, pn, BDB_DEPFILE, c->origin);
}

int bdb_mark_depfile(struct bdb *db, const char *name, const char *text, size_t len)
{
	struct mark_ctx c = { db, 0 };
	int ret = strlist_push(&db->depfiles, name ? name : "");
	if (ret < 0)
		return ret;
	c.origin = (uint32_t)db->depfiles.n;
	return parse_rules(text, len, mark_pair, &c);
}

/* ---- make's implicit rules ---------------------------------------------------------- */

/* The stem if `name` matches pattern `pat` (one '%'), else false. */
static bool pattern_match(const char *pat, const char *name, const char **stem, size_t *stemlen)
{
	const char *pct = strchr(pat, '%');
	size_t pre, suf, nl = strlen(name);
	if (!pct)
		return false;
	pre = (size_t)(pct - pat);
	suf = strlen(pct + 1);
	if (nl < pre + suf + 1 || strncmp(name, pat, pre) || strcmp(name + nl - suf, pct + 1))
		return false;
	*stem = name + pre;
	*stemlen = nl - pre - suf;
	return true;
}

static bool file_exists(const char *abs)
{
	struct stat sb;
	return stat(abs, &sb) == 0;
}

/*
 * The absolute path a prerequisite `name` (relative to db->dir) is found at: itself
 * when it exists or the database names it, else through vpath/VPATH.  NULL if not
 * found; else a malloc'd string.
 */
static char *find_prereq(struct bdb *db, const char *name)
{
	char *abs = NULL;
	long ni;

	if (path_abs(name, db->dir ? db->dir : "/", &abs) < 0)
		return NULL;
	ni = bdb_find(db, abs);
	if ((ni >= 0 && (db->nodes[ni].flags & BDB_F_NAMED)) || file_exists(abs))
		return abs;
	free(abs);
	if (name[0] == '/')
		return NULL;
	for (size_t v = 0; v < db->nvpaths; v++) {
		const struct bdb_vpath *vp = &db->vpaths[v];
		const char *st;
		size_t sl;
		if (vp->pattern && !pattern_match(vp->pattern, name, &st, &sl) &&
		    strcmp(vp->pattern, name))
			continue;
		for (size_t d = 0; d < vp->dirs.n; d++) {
			char *cand = NULL;
			if (path_abs(name, vp->dirs.v[d], &cand) < 0)
				return NULL;
			if (file_exists(cand))
				return cand;
			free(cand);
		}
	}
	return NULL;
}

/* Substitute the stem into a prerequisite pattern, with dir prepended (GNU make's
 * rule for target patterns without a slash). */
static char *subst(const char *pat, const char *dir, size_t dirlen, const char *stem,
		   size_t stemlen)
{
	const char *pct = strchr(pat, '%');
	struct sbuf sb = SBUF_INIT;
	if (!pct)
		return strdup(pat);
	sbuf_add(&sb, dir, dirlen);
	sbuf_add(&sb, pat, (size_t)(pct - pat));
	sbuf_add(&sb, stem, stemlen);
	sbuf_addstr(&sb, pct + 1);
	return sbuf_detach(&sb, NULL);
}

/*
 * Apply the first pattern rule that fits file `ni` (which has no recipe): add its
 * prerequisites and mark the file a target.  Returns 1 if a rule applied, 0 if none,
 * -ENOMEM.
 */
static int implicit_search(struct bdb *db, long ni)
{
	char *rel = NULL;
	const char *name, *base;
	size_t dlen = 0;
	int ret = 0;

	db->nodes[ni].flags |= BDB_F_IMPLICIT;
	if (db->kind != BDB_MAKE || (db->nodes[ni].flags & (BDB_F_RECIPE | BDB_F_PHONY)))
		return 0;
	/* make matches patterns against the name relative to CURDIR */
	name = db->nodes[ni].path;
	if (db->dir) {
		size_t l = strlen(db->dir);
		if (!strncmp(name, db->dir, l) && name[l] == '/')
			name += l + 1;
	}
	if (!(rel = strdup(name)))
		return -ENOMEM;
	base = strrchr(rel, '/');
	base = base ? base + 1 : rel;
	dlen = (size_t)(base - rel);

	for (size_t r = 0; r < db->nrules && ret == 0; r++) {
		const struct bdb_rule *ru = &db->rules[r];
		if (!ru->recipe)
			continue;
		for (size_t t = 0; t < ru->targets.n && ret == 0; t++) {
			const char *tp = ru->targets.v[t], *stem;
			bool slash = strchr(tp, '/') != NULL, ok = true;
			size_t stemlen;
			struct strlist found = STRLIST_INIT, foundo = STRLIST_INIT;

			if (!strcmp(tp, "%") && !ru->terminal)
				continue; /* non-terminal match-anything rules: not followed */
			if (!pattern_match(tp, slash ? rel : base, &stem, &stemlen))
				continue;
			for (int pass = 0; pass < 2 && ok; pass++) {
				const struct strlist *pl = pass ? &ru->order : &ru->prereqs;
				for (size_t p = 0; p < pl->n && ok; p++) {
					char *pn = subst(pl->v[p], slash ? "" : rel, slash ? 0 : dlen,
							 stem, stemlen);
					char *where = pn ? find_prereq(db, pn) : NULL;
					if (!pn) {
						ret = -ENOMEM;
						ok = false;
					} else if (!where) {
						ok = false;
					} else if (strlist_push(pass ? &foundo : &found, where) < 0) {
						ret = -ENOMEM;
						ok = false;
					}
					free(pn);
					free(where);
				}
			}
			if (ok) {
				for (size_t p = 0; p < found.n && ret >= 0; p++) {
					long pn = bdb_node_get(db, found.v[p]);
					ret = pn < 0 ? (int)pn : add_dep_nodes(db, ni, pn, BDB_NORMAL, 0);
				}
				for (size_t p = 0; p < foundo.n && ret >= 0; p++) {
					long pn = bdb_node_get(db, foundo.v[p]);
					ret = pn < 0 ? (int)pn : add_dep_nodes(db, ni, pn, BDB_ORDER, 0);
				}
				if (ret >= 0) {
					db->nodes[ni].flags |= BDB_F_TARGET | BDB_F_RECIPE;
					ret = 1;
				}
			}
			strlist_release(&found);
			strlist_release(&foundo);
		}
	}
	free(rel);
	return ret;
}

bool bdb_is_target(struct bdb *db, long ni)
{
	if (ni < 0 || (size_t)ni >= db->n)
		return false;
	if (db->kind == BDB_MAKE && !(db->nodes[ni].flags & BDB_F_IMPLICIT))
		implicit_search(db, ni);
	return (db->nodes[ni].flags & BDB_F_TARGET) != 0;
}

/* ---- reachability ------------------------------------------------------------------- */

static int seen_reset(struct bdb *db)
{
	if (db->seen_alloc < db->n) {
		size_t na = db->n * 2 + 64;
		uint32_t *ns = calloc(na, sizeof(*ns));
		if (!ns)
			return -ENOMEM;
		free(db->seen);
		db->seen = ns;
		db->seen_alloc = na;
		db->gen = 0;
	}
	if (++db->gen == 0) {
		memset(db->seen, 0, db->seen_alloc * sizeof(*db->seen));
		db->gen = 1;
	}
	return 0;
}

int bdb_reach(struct bdb *db, long from, const long *goals, size_t ngoals, unsigned kinds)
{
	uint32_t *stack = NULL;
	size_t sn = 0, sa = 0;
	int ret = 0;

	if (from < 0 || (size_t)from >= db->n)
		return 0;
	if ((ret = seen_reset(db)) < 0)
		return ret;
	stack = malloc(64 * sizeof(*stack));
	if (!stack)
		return -ENOMEM;
	sa = 64;
	stack[sn++] = (uint32_t)from;
	db->seen[from] = db->gen;
	while (sn && ret == 0) {
		uint32_t x = stack[--sn];
		if (db->kind == BDB_MAKE && !(db->nodes[x].flags & BDB_F_IMPLICIT)) {
			int r = implicit_search(db, x);
			if (r < 0) {
				ret = r;
				break;
			}
			/* nodes may have been added: the scratch array must cover them */
			if (db->seen_alloc < db->n) {
				size_t na = db->n * 2 + 64;
				uint32_t *ns = realloc(db->seen, na * sizeof(*ns));
				if (!ns) {
					ret = -ENOMEM;
					break;
				}
				memset(ns + db->seen_alloc, 0, (na - db->seen_alloc) * sizeof(*ns));
				db->seen = ns;
				db->seen_alloc = na;
			}
		}
		for (uint32_t d = 0; d < db->nodes[x].ndeps; d++) {
			const struct bdb_dep_ref *r = &db->nodes[x].deps[d];
			if (!(r->kind & kinds) || db->seen[r->node] == db->gen)
				continue;
			for (size_t g = 0; g < ngoals; g++)
				if (goals[g] == (long)r->node)
					ret = 1;
			if (ret)
				break;
			db->seen[r->node] = db->gen;
			if (sn == sa) {
				uint32_t *ns = realloc(stack, sa * 2 * sizeof(*ns));
				if (!ns) {
					ret = -ENOMEM;
					break;
				}
				stack = ns;
				sa *= 2;
			}
			stack[sn++] = r->node;
		}
	}
	free(stack);
	return ret;
}

const char *bdb_pair_depfile(const struct bdb *db, long from, long to)
{
	if (from < 0 || (size_t)from >= db->n)
		return NULL;
	for (uint32_t d = 0; d < db->nodes[from].ndeps; d++) {
		const struct bdb_dep_ref *r = &db->nodes[from].deps[d];
		if (r->node == (uint32_t)to && (r->kind & BDB_DEPFILE) && r->origin &&
		    r->origin <= db->depfiles.n)
			return db->depfiles.v[r->origin - 1];
	}
	return NULL;
}

long bdb_submake_after(struct bdb *db, const long *goals, size_t n, const long *roots,
		       size_t nroots)
{
	uint8_t *in = NULL;
	long found = -1;

	if (nroots) {
		/* the targets the recorded make was asked for, and what they depend on */
		uint32_t *stack = malloc((db->n + 1) * sizeof(*stack));
		size_t sn = 0;
		in = calloc(db->n + 1, 1);
		if (!stack || !in) {
			free(stack);
			free(in);
			return -1;
		}
		for (size_t r = 0; r < nroots; r++)
			if (roots[r] >= 0 && (size_t)roots[r] < db->n && !in[roots[r]]) {
				in[roots[r]] = 1;
				stack[sn++] = (uint32_t)roots[r];
			}
		while (sn) {
			uint32_t x = stack[--sn];
			for (uint32_t d = 0; d < db->nodes[x].ndeps; d++) {
				uint32_t y = db->nodes[x].deps[d].node;
				if (!in[y]) {
					in[y] = 1;
					stack[sn++] = y;
				}
			}
		}
		free(stack);
	}
	for (size_t i = 0; i < db->n && found < 0; i++) {
		if (!(db->nodes[i].flags & BDB_F_SUBMAKE) || (in && (i >= db->n || !in[i])))
			continue;
		if (bdb_reach(db, (long)i, goals, n, BDB_NORMAL | BDB_ORDER) == 1)
			found = (long)i;
	}
	free(in);
	return found;
}

/* ---- running a tool ------------------------------------------------------------------ */

int audit_spawn(const char *const *argv, const char *const *envp, const char *cwd,
		struct sbuf *out, struct sbuf *errout, int *status)
{
	posix_spawn_file_actions_t fa;
	int po[2] = { -1, -1 }, pe[2] = { -1, -1 }, ret = 0;
	pid_t pid = -1;
	char buf[65536];

	*status = 0;
	if (pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0) {
		ret = -errno;
		goto out_close;
	}
	if ((ret = posix_spawn_file_actions_init(&fa)) != 0) {
		ret = -ret;
		goto out_close;
	}
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, po[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
	if (cwd)
		posix_spawn_file_actions_addchdir_np(&fa, cwd);
	ret = posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv,
			  (char *const *)envp);
	posix_spawn_file_actions_destroy(&fa);
	close(po[1]);
	close(pe[1]);
	po[1] = pe[1] = -1;
	if (ret != 0) {
		ret = -ret;
		pid = -1;
		goto out_close;
	}
	{
		struct pollfd pf[2] = { { po[0], POLLIN, 0 }, { pe[0], POLLIN, 0 } };
		int open_fds = 2;
		while (open_fds) {
			if (poll(pf, 2, -1) < 0) {
				if (errno == EINTR)
					continue;
				ret = -errno;
				break;
			}
			for (int k = 0; k < 2; k++) {
				ssize_t n;
				if (pf[k].fd < 0 || !(pf[k].revents & (POLLIN | POLLHUP | POLLERR)))
					continue;
				n = read(pf[k].fd, buf, sizeof(buf));
				if (n < 0 && errno == EINTR)
					continue;
				if (n <= 0) {
					pf[k].fd = -1;
					open_fds--;
					continue;
				}
				if (k == 0) {
					sbuf_add(out, buf, (size_t)n);
				} else if (errout && errout->len < 4096) {
					sbuf_add(errout, buf, (size_t)n);
				}
			}
		}
	}
	if (!ret && sbuf_error(out))
		ret = sbuf_error(out);
out_close:
	for (int k = 0; k < 2; k++) {
		if (po[k] >= 0)
			close(po[k]);
		if (pe[k] >= 0)
			close(pe[k]);
	}
	if (pid > 0) {
		while (waitpid(pid, status, 0) < 0 && errno == EINTR)
			;
	}
	return ret;
}
