/*
 * build_key.c - cache keys (build.h: "The cache key of a node"): the thunk as the
 * tree is now, what its references resolve to, the listings and probes that decide
 * whether it must run, and the modification times of what a build left done.  Files
 * the graph does not make are looked at once per build (struct build_memo).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "runtime/build/build_int.h"
#include "runtime/build/driverlog.h"
#include "runtime/store/statcache.h"

#define MEMO_HASH 1
#define MEMO_LSTAT 2
#define MEMO_STAT 4


static int resolve_ref(void *ctx, const struct gg_hash *producer, uint32_t output,
		       struct gg_hash *value)
{
	struct sched *s = ctx;
	long pn = graph_find_hash(s->g, producer);
	enum plan_state ps;
	if (pn < 0)
		return -ENOENT;
	if (s->o->verify) {
		/* what the tree holds (build.h, "Verify"): the sandbox shows it to the command */
		const struct graph_node *gn = &s->g->nodes[pn];
		uint32_t mode;
		int ret;
		if (output >= gn->noutputs)
			return -ENOENT;
		ret = statcache_hash(s->sc, NULL, gn->outputs[output].path, 0, value, &mode);
		if (ret < 0)
			snprintf(s->absent_ref, sizeof(s->absent_ref), "%s", gn->outputs[output].path);
		return ret;
	}
	ps = plan_state_of(&s->plan, (size_t)pn);
	if ((ps != PLAN_DONE && ps != PLAN_CACHED) || output >= s->result[pn].n)
		return -EAGAIN;
	*value = s->result[pn].v[output].value;
	return 0;
}

/*
 * A directory the build makes: one holding an output of some thunk.  Directories
 * are not outputs (infer.h), and which command of a -j build makes such a directory
 * first (libtool's .libs/, made by whichever compile starts first) is a race: that
 * a command found it missing, or listed it, says nothing of the tree's shape.  The
 * set of such directories is made on first use.
 */
static bool build_made_dir(struct sched *s, const char *path)
{
	if (!s->made_dirs_ok) {
		for (size_t i = 0; i < s->g->n; i++)
			for (size_t k = 0; k < s->g->nodes[i].noutputs; k++) {
				const char *o = s->g->nodes[i].outputs[k].path;
				size_t len = strlen(o);
				char dir[PATH_MAX];
				char *slash;
				if (len >= sizeof(dir))
					continue; /* (no such directory: a path is shorter) */
				memcpy(dir, o, len + 1);
				while ((slash = strrchr(dir, '/')) && slash != dir) {
					*slash = '\0';
					if (strset_has(&s->made_dirs, dir))
						break;
					if (strset_add(&s->made_dirs, dir) < 0)
						goto out_slow;
				}
			}
		s->made_dirs_ok = true;
	}
	return strset_has(&s->made_dirs, path);
out_slow: /* no memory for the set: look at every output */
	strset_release(&s->made_dirs);
	s->made_dirs = (struct strset)STRSET_INIT;
	for (size_t i = 0, len = strlen(path); i < s->g->n; i++)
		for (size_t k = 0; k < s->g->nodes[i].noutputs; k++) {
			const char *o = s->g->nodes[i].outputs[k].path;
			if (!strncmp(o, path, len) && o[len] == '/')
				return true;
		}
	return false;
}

/*
 * The listing of `dir` as a key sees it: the names of what the build does not make.
 * Whether an output of a thunk (its own, a sibling's, a later one's) or a directory
 * made for outputs is there when a command lists the directory depends on the
 * history of the tree and on the order of a -j build, not on the sources: libtool's
 * link lists .libs/, which holds its own outputs after the first build.
 */
static int list_hash(struct sched *s, const char *dir, struct gg_hash *out)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	struct strlist names = STRLIST_INIT;
	int ret = 0;
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char full[PATH_MAX];
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    (snprintf(full, sizeof(full), "%s/%s", dir, de->d_name) < (int)sizeof(full) &&
		     (graph_find_path(s->g, full, NULL) >= 0 ||
		      (de->d_type == DT_DIR && build_made_dir(s, full)))))
			continue;
		if ((ret = strlist_push(&names, de->d_name)) < 0)
			goto out_close;
	}
	ret = thunk_listing_hash((const char *const *)names.v, names.n, out);
out_close:
	closedir(d);
	strlist_release(&names);
	return ret;
}

/* ---- the memo: files this build does not make, looked at once ---------------------- */

static bool memoizable(struct sched *s, const char *path, uint64_t h)
{
	return graph_find_path_hashed(s->g, path, h, NULL) < 0 && !build_made_dir(s, path);
}

static bool memo_eq(const void *ctx, uint32_t val, const void *key)
{
	const struct build_memo *m = ctx;
	return !strcmp(m->v[val].path, key);
}

/*
 * path's entry, added empty when new if the build does not make the file; NULL for
 * a file it makes, or on ENOMEM (then the caller asks the file system itself).
 * Valid until the next memo_find.  A path found is one known not to be made.
 */
static struct memo_entry *memo_find(struct sched *s, const char *path)
{
	struct build_memo *m = &s->memo;
	uint64_t h = str_hash(path);
	uint32_t i = htab_find(&m->ix, h, memo_eq, m, path);
	struct memo_entry *e;

	if (i != HTAB_NONE)
		return &m->v[i];
	if (m->n >= UINT32_MAX - 1 || !memoizable(s, path, h))
		return NULL;
	if (m->n == m->alloc) {
		size_t na = m->alloc ? 2 * m->alloc : 256;
		struct memo_entry *nv = realloc(m->v, na * sizeof(*nv));
		if (!nv)
			return NULL;
		m->v = nv;
		m->alloc = na;
	}
	e = &m->v[m->n];
	memset(e, 0, sizeof(*e));
	if (!(e->path = strdup(path)))
		return NULL;
	if (htab_add(&m->ix, h, (uint32_t)m->n) < 0) {
		free(e->path);
		return NULL;
	}
	m->n++;
	return e;
}

void build_key_memo_release(struct build_memo *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->v[i].path);
	free(m->v);
	htab_release(&m->ix);
	memset(m, 0, sizeof(*m));
}

/* statcache_hash(path), once per build for a file the build does not make (e: its
 * memo entry, or NULL for one it makes). */
static int entry_hash(struct sched *s, struct memo_entry *e, const char *path,
		      struct gg_hash *h, uint32_t *mode)
{
	if (!e)
		return statcache_hash(s->sc, NULL, path, 0, h, mode);
	if (!(e->have & MEMO_HASH)) {
		e->hret = statcache_hash(s->sc, NULL, path, 0, &e->value, &e->mode);
		e->have |= MEMO_HASH;
	}
	*h = e->value;
	*mode = e->mode;
	return e->hret;
}

/* lstat(path): 0 (*dir: a directory) or -errno; once per build likewise. */
static int memo_lstat(struct sched *s, const char *path, bool *dir)
{
	struct memo_entry *e = memo_find(s, path);
	struct stat sb;
	if (!e) {
		if (lstat(path, &sb) < 0)
			return -errno;
		*dir = S_ISDIR(sb.st_mode);
		return 0;
	}
	if (!(e->have & MEMO_LSTAT)) {
		e->lret = lstat(path, &sb) < 0 ? -errno : 0;
		e->ldir = e->lret == 0 && S_ISDIR(sb.st_mode);
		e->have |= MEMO_LSTAT;
	}
	*dir = e->ldir;
	return e->lret;
}

/*
 * stat(path) as this run sees it: a regular file the stat cache validated this run
 * (hashed as an input, or an output materialized or checked in place) is not looked
 * at again; else stat.  0 or -errno.
 */
static int run_stat(struct sched *s, const char *path, bool *reg, struct timespec *mtime)
{
	struct stat sb;
	uint32_t mode;
	int64_t ns;

	if (statcache_seen(s->sc, path, &mode, &ns) && S_ISREG(mode)) {
		*reg = true;
		mtime->tv_sec = ns / 1000000000;
		mtime->tv_nsec = ns % 1000000000;
		return 0;
	}
	if (stat(path, &sb) < 0)
		return -errno;
	*reg = S_ISREG(sb.st_mode);
	*mtime = sb.st_mtim;
	return 0;
}

/* stat(path): 0 (*reg: a regular file, *mtime) or -errno; once per build likewise
 * (e as for entry_hash). */
static int entry_stat(struct sched *s, struct memo_entry *e, const char *path, bool *reg,
		      struct timespec *mtime)
{
	if (!e)
		return run_stat(s, path, reg, mtime);
	if (!(e->have & MEMO_STAT)) {
		e->sret = run_stat(s, path, &e->sreg, &e->mtime);
		e->have |= MEMO_STAT;
	}
	*reg = e->sreg;
	*mtime = e->mtime;
	return e->sret;
}

static int memo_stat(struct sched *s, const char *path, bool *reg, struct timespec *mtime)
{
	return entry_stat(s, memo_find(s, path), path, reg, mtime);
}

/* cur: th's scalars and strings, with its own copies of the arrays a key rewrites. */
void build_key_cur_release(struct thunk *cur)
{
	free(cur->inputs.v);
	free(cur->objects.v);
	free(cur->listings.v);
	memset(cur, 0, sizeof(*cur));
}

static int cur_from(struct thunk *cur, const struct thunk *th)
{
	build_key_cur_release(cur);
	*cur = *th;
	cur->inputs.v = NULL;
	cur->objects.v = NULL;
	cur->listings.v = NULL;
	if (th->inputs.n && !(cur->inputs.v = malloc(th->inputs.n * sizeof(*th->inputs.v))))
		goto out_nomem;
	if (th->objects.n && !(cur->objects.v = malloc(th->objects.n * sizeof(*th->objects.v))))
		goto out_nomem;
	if (th->listings.n &&
	    !(cur->listings.v = malloc(th->listings.n * sizeof(*th->listings.v))))
		goto out_nomem;
	if (th->inputs.n)
		memcpy(cur->inputs.v, th->inputs.v, th->inputs.n * sizeof(*th->inputs.v));
	if (th->objects.n)
		memcpy(cur->objects.v, th->objects.v, th->objects.n * sizeof(*th->objects.v));
	if (th->listings.n)
		memcpy(cur->listings.v, th->listings.v, th->listings.n * sizeof(*th->listings.v));
	cur->inputs.alloc = th->inputs.n;
	cur->objects.alloc = th->objects.n;
	cur->listings.alloc = th->listings.n;
	return 0;
out_nomem:
	build_key_cur_release(cur);
	return -ENOMEM;
}

static bool later(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec > b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec > b->tv_nsec);
}

/* The input's value as the tree holds it now; newest (may be NULL): raised to its
 * mtime when it is a regular file. */
static void update_value(struct sched *s, struct bjob *j, struct thunk_input *in,
			 struct timespec *newest)
{
	struct memo_entry *e;
	struct gg_hash h;
	uint32_t mode;
	int ret;
	if (in->hash.kind != GG_HASH_VALUE)
		return;
	e = memo_find(s, in->path);
	ret = entry_hash(s, e, in->path, &h, &mode);
	if (newest) { /* (after the hash: the stat cache has looked then) */
		struct timespec mt;
		bool reg;
		if (entry_stat(s, e, in->path, &reg, &mt) == 0 && reg && later(&mt, newest))
			*newest = mt;
	}
	if (ret == 0) {
		if (!hash_equal(&in->hash, &h))
			j->edited = true;
		in->hash = h;
		in->mode = mode;
	} else {
		j->must_run = true; /* gone or unreadable: let the command say */
	}
}

/* The thunk as the tree is now, and its cache key. */
int build_key_compute(struct sched *s, struct bjob *j)
{
	uint64_t t0 = clock_now_ns();
	int ret;

	if ((ret = cur_from(&j->cur, &j->th)) < 0)
		return ret;
	j->must_run = false;
	j->edited = false;
	j->newest_src = (struct timespec){ 0, 0 };
	update_value(s, j, &j->cur.exe, NULL);
	for (size_t i = 0; i < j->cur.inputs.n; i++)
		update_value(s, j, &j->cur.inputs.v[i], &j->newest_src);
	for (size_t i = 0; i < j->cur.objects.n; i++)
		update_value(s, j, &j->cur.objects.v[i], NULL);
	for (size_t i = 0; i < j->cur.missing.n; i++) {
		const char *p = j->cur.missing.v[i];
		bool dir;
		/* (a thunk's output is there by the graph's order) */
		if (graph_find_path(s->g, p, NULL) < 0 && memo_lstat(s, p, &dir) == 0 &&
		    !(dir && build_made_dir(s, p)))
			j->must_run = true;
	}
	/* probed below a non-directory (ENOTDIR): the same rule, it must not exist now */
	for (size_t i = 0; i < j->cur.notdir.n; i++) {
		bool dir;
		if (graph_find_path(s->g, j->cur.notdir.v[i], NULL) < 0 &&
		    memo_lstat(s, j->cur.notdir.v[i], &dir) == 0)
			j->must_run = true;
	}
	for (size_t i = 0; i < j->cur.listings.n; i++) {
		struct gg_hash h;
		if (list_hash(s, j->cur.listings.v[i].path, &h) == 0)
			j->cur.listings.v[i].hash = h;
		else
			j->must_run = true;
	}
	ret = thunk_cache_key_like(&j->cur, &j->th, resolve_ref, s, &j->key);
	j->keyed = ret == 0;
	s->keys_ns += clock_now_ns() - t0;
	return ret;
}

/*
 * make's whole record is mtimes: an output older than one of its thunk's inputs
 * is out of date to it.  materialize() gives an output whose bytes did not change
 * the time the stat cache last saw (the recorded build's order), which is older
 * than an input edited since; so each output of a node the build left done that is
 * older than its newest input gets that input's time.  A node is settled when it
 * is done, after its producers: their times are final by then.  Nodes whose
 * command ninja drives are left to driverlog (restat, .ninja_log).
 */
void build_key_settle_times(struct sched *s, const struct bjob *j,
			    const struct cache_entry *res)
{
	const struct thunk *th = &j->th;
	struct timespec newest = j->newest_src, mt = { 0, 0 };
	struct stat sb;
	bool reg = false;

	if (!th->outputs.n || driverlog_owns(s->g, th))
		return;
	/* the inputs other thunks make (their times are final: they are done); the
	 * others were looked at for the key */
	for (size_t k = 0; k < th->inputs.n; k++)
		if ((!j->keyed || th->inputs.v[k].hash.kind != GG_HASH_VALUE) &&
		    memo_stat(s, th->inputs.v[k].path, &reg, &mt) == 0 && reg && later(&mt, &newest))
			newest = mt;
	if (!newest.tv_sec)
		return;
	for (size_t k = 0; k < th->outputs.n; k++) {
		struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, newest }, out;
		const struct cache_output *o = k < res->n && !strcmp(res->v[k].path, th->outputs.v[k])
						       ? &res->v[k] : NULL;
		int64_t ns;
		/* the time the stat cache saw when the output was materialized, else lstat */
		if (o && S_ISREG(o->mode) && statcache_last_mtime(s->sc, o->path, &o->value, &ns)) {
			out.tv_sec = ns / 1000000000;
			out.tv_nsec = ns % 1000000000;
		} else if (lstat(th->outputs.v[k], &sb) == 0 && S_ISREG(sb.st_mode)) {
			out = sb.st_mtim;
		} else {
			continue;
		}
		if (out.tv_sec > newest.tv_sec ||
		    (out.tv_sec == newest.tv_sec && out.tv_nsec >= newest.tv_nsec))
			continue;
		build_touched(s);
		if (utimensat(AT_FDCWD, th->outputs.v[k], ts, AT_SYMLINK_NOFOLLOW) == 0)
			statcache_forget(s->sc, th->outputs.v[k]);
	}
}
