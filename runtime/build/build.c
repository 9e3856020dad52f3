/*
 * build.c - the scheduler (see build.h for the states and invariants).
 *
 * One scheduling thread computes keys, consults the cache, materializes outputs and
 * updates the graph; `jobs` worker threads run engines.  They meet in two queues
 * protected by one mutex: `todo` (nodes to execute) and `finished` (their results).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <linux/magic.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include "runtime/build/build.h"
#include "runtime/build/driverlog.h"
#include "runtime/store/cache.h"
#include "runtime/engine/engine_sync.h"
#include "runtime/store/ggdir.h"
#include "inferer/infer.h"
#include "runtime/store/materialize.h"
#include "inferer/merge.h"
#include "sandbox/sbx.h"
#include "runtime/store/statcache.h"
#include "runtime/store/store.h"
#include "runtime/ir/thunk.h"
#include "shim/trace_format.h"
#include "runtime/trace/trace_read.h"
#include "runtime/lib/util.h"

enum bstate { B_WAIT, B_READY, B_RUNNING, B_DONE, B_FAILED, B_SKIPPED };

struct bnode {
	size_t idx;               /* in the graph */
	enum bstate state;
	bool selected, forced;
	size_t pending;           /* selected deps not DONE */
	size_t *users;            /* selected nodes that depend on this one */
	size_t nusers;
	struct thunk th;          /* as recorded */
	struct thunk cur;         /* with current values (valid while READY/RUNNING) */
	struct gg_hash key;
	bool must_run;            /* a missing probe now exists, an input is gone */
	bool edited;              /* a source input differs from the recording */
	bool keyless;             /* re-recorded, and its new key could not be computed */
	struct cache_entry result; /* outputs as they are now (DONE) */
	struct cache_entry ref;   /* verify: the known result for `key` */
	/* execution */
	char staging[PATH_MAX - 64]; /* room for "/stderr" and friends in PATH_MAX */
	struct engine_result res;
	int engine_ret;
	bool supervise;
	unsigned tries;
	bool looked_up, remote_hit; /* asked the remote (build_opts.remote); it had it */
};

struct sched {
	const char *ggdir;
	struct graph *g;
	const struct build_opts *o;
	struct build_stats *stats;
	char *err;
	size_t errlen;
	struct store st;
	struct statcache *sc;
	struct bnode *n;
	size_t nsel, ndone;

	pthread_mutex_t mu;
	pthread_cond_t cv_todo, cv_done;
	size_t *todo, ntodo;      /* FIFO */
	size_t *fin, nfin;
	size_t running;
	bool quit;
	pthread_t *workers;
	int nworkers;
	unsigned long long seq;
	char staging_base[PATH_MAX - 128]; /* where jobs get their scratch directories */
	char absent_ref[PATH_MAX]; /* verify: an input from another thunk the tree lacks */
	struct gg_hash *pub;      /* remote: keys of the nodes that ran, to publish */
	size_t npub, apub;
};

static int failf(struct sched *s, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int failf(struct sched *s, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->err, s->errlen, fmt, ap);
	va_end(ap);
	return err;
}

static void emit(struct sched *s, enum build_event_kind kind, const struct bnode *b,
		 const char *text, int status)
{
	struct build_event ev = {
		.kind = kind, .node = b ? &s->g->nodes[b->idx] : NULL, .text = text,
		.status = status, .level = s->stats->level, .done = s->ndone, .total = s->nsel,
		.running = s->running, .cached = s->stats->cached,
	};
	if (b && b->res.stderr_path[0] && (kind == BUILD_EV_FAILED || kind == BUILD_EV_DONE)) {
		ev.log = b->res.stderr_path;
		ev.stdout_log = b->res.stdout_path;
	}
	if (s->o->observer)
		s->o->observer(s->o->observer_ctx, &ev);
}

/* An event about one output of a node (DIFFERS, NONDETERMINISTIC). */
static void emit_output(struct sched *s, enum build_event_kind kind, const struct bnode *b,
			const char *text, const char *path)
{
	struct build_event ev = {
		.kind = kind, .node = &s->g->nodes[b->idx], .text = text, .path = path,
		.level = s->stats->level, .done = s->ndone, .total = s->nsel,
		.running = s->running, .cached = s->stats->cached,
	};
	if (s->o->observer)
		s->o->observer(s->o->observer_ctx, &ev);
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---- staging areas -------------------------------------------------------------- */

/* ---- workers ------------------------------------------------------------------- */

static void *worker(void *arg)
{
	struct sched *s = arg;
	for (;;) {
		size_t i;
		struct bnode *b;
		struct engine_job job;

		pthread_mutex_lock(&s->mu);
		while (!s->ntodo && !s->quit)
			pthread_cond_wait(&s->cv_todo, &s->mu);
		if (!s->ntodo && s->quit) {
			pthread_mutex_unlock(&s->mu);
			return NULL;
		}
		i = s->todo[0];
		memmove(s->todo, s->todo + 1, --s->ntodo * sizeof(*s->todo));
		pthread_mutex_unlock(&s->mu);

		b = &s->n[i];
		job = (struct engine_job){
			.th = &b->cur, .staging = b->staging, .timeout_ms = s->o->timeout_ms,
			.require_level = s->o->require_level, .cancel_fd = s->o->cancel_fd,
			.supervise = b->supervise, .seed = 0x6767 ^ (unsigned long long)b->idx,
		};
		if (!s->o->verify)
			job.shim = s->o->shim; /* a host run is recorded (engine.h) */
		b->engine_ret = s->g->nodes[b->idx].local
					? engine_host.run(&s->st, &job, &b->res)   /* local-only */
					: engine_local.run(&s->st, &job, &b->res); /* sandboxed */

		pthread_mutex_lock(&s->mu);
		s->fin[s->nfin++] = i;
		pthread_cond_signal(&s->cv_done);
		pthread_mutex_unlock(&s->mu);
	}
}

static void submit(struct sched *s, struct bnode *b)
{
	snprintf(b->staging, sizeof(b->staging), "%s/run-%d-%llu", s->staging_base, (int)getpid(),
		 ++s->seq);
	rm_rf(b->staging);
	mkdir(b->staging, 0755);
	b->state = B_RUNNING;
	s->running++;
	emit(s, BUILD_EV_START, b, NULL, 0);
	pthread_mutex_lock(&s->mu);
	s->todo[s->ntodo++] = (size_t)(b - s->n);
	pthread_cond_signal(&s->cv_todo);
	pthread_mutex_unlock(&s->mu);
}

/*
 * Can a node's result be reused?  Pure ones, and local-only ones whose reason says
 * nothing about their result (they removed a file another command made, or wrote
 * outside the tree: deterministic, just not hermetic).  One that read its terminal
 * or the network, used randomness, ran an opaque binary or outlived its driver
 * runs every time.
 */
static bool cacheable(const struct graph_node *gn)
{
	return !(gn->local & ~(uint32_t)(THUNK_LOCAL_DELETES_FOREIGN_FILES |
					  THUNK_LOCAL_WRITES_OUTSIDE_TREE));
}

/* ---- keys -------------------------------------------------------------------------- */

static int resolve_ref(void *ctx, const struct gg_hash *producer, uint32_t output,
		       struct gg_hash *value)
{
	struct sched *s = ctx;
	long pn = graph_find_hash(s->g, producer);
	struct bnode *p;
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
	p = &s->n[pn];
	if (p->state != B_DONE || output >= p->result.n)
		return -EAGAIN;
	*value = p->result.v[output].value;
	return 0;
}

/*
 * A directory the build makes: one holding an output of some thunk.  Directories
 * are not outputs (infer.h), and which command of a -j build makes such a directory
 * first (libtool's .libs/, made by whichever compile starts first) is a race: that
 * a command found it missing, or listed it, says nothing of the tree's shape.
 */
static bool build_made_dir(const struct graph *g, const char *path)
{
	size_t len = strlen(path);
	for (size_t i = 0; i < g->n; i++)
		for (size_t k = 0; k < g->nodes[i].noutputs; k++) {
			const char *o = g->nodes[i].outputs[k].path;
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
	const char **names = NULL;
	size_t n = 0, alloc = 0;
	int ret;
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char full[PATH_MAX];
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    snprintf(full, sizeof(full), "%s/%s", dir, de->d_name) < (int)sizeof(full) &&
		    (graph_find_path(s->g, full, NULL) >= 0 ||
		     (de->d_type == DT_DIR && build_made_dir(s->g, full))))
			continue;
		if (n == alloc) {
			const char **nn = realloc(names, (alloc = alloc ? alloc * 2 : 64) * sizeof(*nn));
			if (!nn) {
				closedir(d);
				free(names);
				return -ENOMEM;
			}
			names = nn;
		}
		names[n++] = strdup(de->d_name);
	}
	ret = thunk_listing_hash(names, n, out);
	for (size_t i = 0; i < n; i++)
		free((char *)names[i]);
	free(names);
	closedir(d);
	return ret;
}

static int copy_thunk(const struct thunk *from, struct thunk *to)
{
	char *buf = NULL;
	size_t len;
	struct thunk tmp = *from;
	int ret = thunk_encode(&tmp, &buf, &len);
	if (ret < 0)
		return ret;
	ret = thunk_decode(buf, len, to);
	free(buf);
	return ret;
}

static void update_value(struct sched *s, struct bnode *b, struct thunk_input *in)
{
	struct gg_hash h;
	uint32_t mode;
	if (in->hash.kind != GG_HASH_VALUE)
		return;
	if (statcache_hash(s->sc, NULL, in->path, 0, &h, &mode) == 0) {
		if (!hash_equal(&in->hash, &h))
			b->edited = true;
		in->hash = h;
		in->mode = mode;
	} else {
		b->must_run = true; /* gone or unreadable: let the command say */
	}
}

/* The thunk as the tree is now, and its cache key. */
static int compute_key(struct sched *s, struct bnode *b)
{
	struct stat sb;
	int ret;

	thunk_release(&b->cur);
	if ((ret = copy_thunk(&b->th, &b->cur)) < 0)
		return ret;
	b->must_run = false;
	b->edited = false;
	update_value(s, b, &b->cur.exe);
	for (size_t i = 0; i < b->cur.inputs.n; i++)
		update_value(s, b, &b->cur.inputs.v[i]);
	for (size_t i = 0; i < b->cur.objects.n; i++)
		update_value(s, b, &b->cur.objects.v[i]);
	for (size_t i = 0; i < b->cur.missing.n; i++)
		if (lstat(b->cur.missing.v[i], &sb) == 0 &&
		    graph_find_path(s->g, b->cur.missing.v[i], NULL) < 0 &&
		    !(S_ISDIR(sb.st_mode) && build_made_dir(s->g, b->cur.missing.v[i])))
			b->must_run = true; /* (a thunk's output is there by the graph's order) */
	/* probed below a non-directory (ENOTDIR): the same rule, it must not exist now */
	for (size_t i = 0; i < b->cur.notdir.n; i++)
		if (lstat(b->cur.notdir.v[i], &sb) == 0 &&
		    graph_find_path(s->g, b->cur.notdir.v[i], NULL) < 0)
			b->must_run = true;
	for (size_t i = 0; i < b->cur.listings.n; i++) {
		struct gg_hash h;
		if (list_hash(s, b->cur.listings.v[i].path, &h) == 0)
			b->cur.listings.v[i].hash = h;
		else
			b->must_run = true;
	}
	return thunk_cache_key(&b->cur, resolve_ref, s, &b->key);
}

/* ---- completion ---------------------------------------------------------------------- */

static void release_users(struct sched *s, struct bnode *b);

static void finish_ok(struct sched *s, struct bnode *b, struct cache_entry *outs)
{
	cache_entry_release(&b->result);
	b->result = *outs;
	memset(outs, 0, sizeof(*outs));
	b->state = B_DONE;
	s->ndone++;
	release_users(s, b);
}

static void skip_users(struct sched *s, struct bnode *b)
{
	for (size_t k = 0; k < b->nusers; k++) {
		struct bnode *u = &s->n[b->users[k]];
		if (u->state == B_WAIT) {
			u->state = B_SKIPPED;
			s->stats->skipped++;
			s->ndone++;
			emit(s, BUILD_EV_SKIPPED, u, NULL, 0);
			skip_users(s, u);
		}
	}
}

static void release_users(struct sched *s, struct bnode *b)
{
	for (size_t k = 0; k < b->nusers; k++) {
		struct bnode *u = &s->n[b->users[k]];
		if (u->state == B_WAIT && --u->pending == 0)
			u->state = B_READY;
	}
}

/*
 * Put outputs in the tree.  When the store has lost one's blob (-ENOENT) or holds it
 * damaged (-EBADMSG: materialize() checks the bytes it copies), the error names the
 * blob, *store_fault (may be NULL) is set, and a damaged blob is removed from the
 * store: the next copy of those bytes is then stored afresh (store_put_buf keeps an
 * existing name).
 */
static int materialize_all(struct sched *s, const struct cache_entry *e, bool *store_fault)
{
	for (size_t i = 0; i < e->n; i++) {
		const struct cache_output *o = &e->v[i];
		char hex[GG_HASH_HEX_SIZE], blob[PATH_MAX];
		int ret;
		if (!hash_is_set(&o->value))
			continue; /* removed by the recorded build (cache.h) */
		ret = materialize(&s->st, s->sc, o->path, &o->value, o->mode, NULL);
		if (ret == 0)
			continue;
		if ((ret == -ENOENT && !store_has(&s->st, &o->value)) || ret == -EBADMSG) {
			if (store_fault)
				*store_fault = true;
			if (ret == -EBADMSG && store_path(&s->st, &o->value, blob, sizeof(blob)) == 0)
				unlink(blob);
			return failf(s, ret, "blob %s of '%s' is %s", hash_to_hex(&o->value, hex),
				     o->path, ret == -ENOENT ? "missing from the store"
							     : "corrupt (removed from the store)");
		}
		return failf(s, ret, "cannot write '%s': %s", o->path, strerror(-ret));
	}
	return 0;
}

/* ---- host runs and self-correction ---------------------------------------------------- */

/*
 * A command that ran on the host under the shim (a local-only thunk, or a
 * self-correction) left its recording in `tdir`: infer it and put the thunk it gives
 * in place of the node's, its users renamed (merge.h, graph_adopt), so that no
 * thunk keeps an input set that went stale.  *outs receives the recorded outputs.
 * The node's thunk (and that of every selected user renamed) is reloaded and its key
 * is the new thunk's (b->keyless when it cannot be computed: then its result is not
 * cached).
 */
static int adopt_recording(struct sched *s, struct bnode *b, const char *tdir,
			   struct cache_entry *outs, char *err, size_t errlen)
{
	struct gg_hash *before = malloc((s->g->n + 1) * sizeof(*before));
	int ret;

	if (!before)
		return -ENOMEM;
	for (size_t i = 0; i < s->g->n; i++)
		before[i] = s->g->nodes[i].hash;
	if ((ret = graph_adopt(&s->st, s->sc, s->g, b->idx, tdir, outs, err, errlen)) < 0)
		goto out;
	for (size_t i = b->idx; i < s->g->n && ret == 0; i++) {
		struct bnode *u = &s->n[i];
		if (hash_equal(&before[i], &s->g->nodes[i].hash) || (!u->selected && u != b))
			continue;
		s->stats->graph_changed = true;
		thunk_release(&u->th);
		if ((ret = store_load_thunk(&s->st, &s->g->nodes[i].hash, &u->th)) < 0)
			snprintf(err, errlen, "cannot read thunk of '%s': %s", s->g->nodes[i].label,
				 strerror(-ret));
	}
	if (ret == 0)
		b->keyless = compute_key(s, b) < 0;
	if (ret < 0)
		cache_entry_release(outs);
out:
	free(before);
	return ret;
}

/*
 * A host run was recorded (engine.h): its recording replaces the node's thunk and
 * its outputs are the recorded ones (adopt_recording).  A recording that cannot be
 * used leaves the node's thunk as it was, with a note, and the declared outputs the
 * engine stored (or an error when one is missing).
 */
static void adopt_host_run(struct sched *s, struct bnode *b)
{
	struct engine_result *r = &b->res;
	char tdir[PATH_MAX], err[1024], msg[sizeof(err) + 128];
	struct cache_entry outs;

	/* An output the command wrote with the bytes the stat cache last saw there gets
	 * that time back, as materialize() does for the sandbox's (materialize.h): the
	 * driver sees the order of the recorded build.  Asked before the recording is
	 * hashed, which replaces what the cache knew. */
	for (size_t i = 0; i < r->outputs.n; i++) {
		int64_t ns;
		if (statcache_last_mtime(s->sc, r->outputs.v[i].path, &r->outputs.v[i].value, &ns)) {
			struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT },
						  { .tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000 } };
			utimensat(AT_FDCWD, r->outputs.v[i].path, ts, AT_SYMLINK_NOFOLLOW);
			statcache_forget(s->sc, r->outputs.v[i].path);
		}
	}
	snprintf(tdir, sizeof(tdir), "%s/trace", b->staging);
	if (adopt_recording(s, b, tdir, &outs, err, sizeof(err)) == 0) {
		cache_entry_release(&r->outputs);
		r->outputs = outs;
		return;
	}
	snprintf(msg, sizeof(msg), "cannot use the recording of its run on the host: %s", err);
	emit(s, BUILD_EV_NOTE, b, msg, 0);
	for (size_t i = 0; i < b->th.outputs.n && !r->err[0]; i++)
		if (i >= r->outputs.n || strcmp(r->outputs.v[i].path, b->th.outputs.v[i]))
			snprintf(r->err, sizeof(r->err), "the command did not produce '%s'",
				 b->th.outputs.v[i]);
}

/*
 * Run the thunk's command on the host under the shim and put the thunk its recording
 * gives in place of the node's (adopt_recording): the typical case is an edited
 * source that now includes a header the recorded thunk never declared.  -ECHILD when
 * the command fails on the host too.
 */
static int self_correct(struct sched *s, struct bnode *b)
{
	struct engine_job job = {
		.th = &b->th, .staging = b->staging, .timeout_ms = s->o->timeout_ms,
		.cancel_fd = s->o->cancel_fd, .shim = s->o->shim,
	};
	struct engine_result hr;
	struct cache_entry outs;
	char tdir[PATH_MAX], err[1024];
	int ret;

	if (!s->o->shim || !s->o->self_correct)
		return -ENOTSUP;
	if ((ret = engine_host.run(&s->st, &job, &hr)) < 0)
		goto out;
	if (!hr.ran || hr.status != 0 || hr.err[0]) {
		ret = -ECHILD;
		goto out;
	}
	snprintf(tdir, sizeof(tdir), "%s/trace", b->staging);
	if ((ret = adopt_recording(s, b, tdir, &outs, err, sizeof(err))) < 0)
		goto out;
	if (!b->keyless && cacheable(&s->g->nodes[b->idx]))
		cache_put(s->ggdir, &b->key, &outs);
	finish_ok(s, b, &outs);
	cache_entry_release(&outs);
out:
	cache_entry_release(&hr.outputs);
	return ret;
}

/*
 * True when a failed job ran out of disk space: its error says ENOSPC (it could not
 * store its outputs), or the file system of its staging area or of the store has
 * less than DISK_MIN_FREE bytes left for unprivileged users (statvfs f_bavail).  A
 * job's partial outputs are still in its staging area, so a disk that filled up
 * during the run still looks full.
 */
#define DISK_MIN_FREE (1u << 20)
static bool disk_full(const char *path)
{
	struct statvfs v;
	return path[0] && statvfs(path, &v) == 0 &&
	       (unsigned long long)v.f_bavail * v.f_frsize < DISK_MIN_FREE;
}

static bool out_of_space(const struct sched *s, const struct bnode *b)
{
	return strstr(b->res.err, strerror(ENOSPC)) || disk_full(b->staging) ||
	       disk_full(s->ggdir);
}

/*
 * Is an undeclared path the supervisor named worth re-recording the command for?
 * Only a file that exists: programs probe many things that are no input of theirs
 * (sed looks at /sys/fs/selinux, bash at $OLDPWD), and a command that fails for its
 * own reasons must not be re-run in the real tree.
 */
static bool plausible_input(const char *path)
{
	struct stat sb;
	if (!strncmp(path, "/proc/", 6) || !strncmp(path, "/sys/", 5) || !strncmp(path, "/dev/", 5))
		return false;
	return lstat(path, &sb) == 0 && (S_ISREG(sb.st_mode) || S_ISLNK(sb.st_mode));
}

/* ---- verify ------------------------------------------------------------------------------- */

static const struct cache_output *find_output(const struct cache_entry *e, const char *path)
{
	for (size_t i = 0; i < e->n; i++)
		if (!strcmp(e->v[i].path, path))
			return &e->v[i];
	return NULL;
}

/*
 * Compare a run's outputs with the known result of its key (b->ref), by path: each
 * file that differs or is on one side only is a DIFFERS event.  True if any.
 */
static bool verify_outputs(struct sched *s, const struct bnode *b, const struct cache_entry *got)
{
	char msg[PATH_MAX + 128];
	bool differ = false;

	for (size_t i = 0; i < b->ref.n; i++) {
		const struct cache_output *o = find_output(got, b->ref.v[i].path);
		if ((o && hash_equal(&o->value, &b->ref.v[i].value)) ||
		    !hash_is_set(&b->ref.v[i].value)) /* removed: nothing to compare */
			continue;
		snprintf(msg, sizeof(msg), o ? "'%s' differs from the result known for its inputs"
					     : "'%s' was not produced this time", b->ref.v[i].path);
		emit_output(s, BUILD_EV_DIFFERS, b, msg, b->ref.v[i].path);
		differ = true;
	}
	for (size_t i = 0; i < got->n; i++) {
		if (find_output(&b->ref, got->v[i].path))
			continue;
		snprintf(msg, sizeof(msg), "'%s' is not in the result known for its inputs",
			 got->v[i].path);
		emit_output(s, BUILD_EV_DIFFERS, b, msg, got->v[i].path);
		differ = true;
	}
	return differ;
}

/*
 * Verify: find what a READY node's run is to be compared with (build.h, "Verify").
 * 0 and b->ref set: run it; 1: nothing to compare with, the node is DONE and
 * counted (not_compared); -errno on errors.  key_ret is compute_key()'s result.
 */
static int verify_prepare(struct sched *s, struct bnode *b, int key_ret)
{
	const struct graph_node *gn = &s->g->nodes[b->idx];
	char why[PATH_MAX + 256];
	struct cache_entry none = { 0 };

	if (key_ret < 0 && !s->absent_ref[0])
		return key_ret;
	if (key_ret < 0)
		snprintf(why, sizeof(why), "input '%s' is not in the tree (run 'gg build' first)",
			 s->absent_ref);
	else if (gn->local)
		snprintf(why, sizeof(why), "local-only, it runs in the tree itself");
	else if (b->must_run)
		snprintf(why, sizeof(why), "its inputs changed shape since it last ran (run 'gg build' first)");
	else if (cache_get(s->ggdir, &b->key, &b->ref) < 0)
		snprintf(why, sizeof(why), "no result is known for its current inputs (run 'gg build' first)");
	else
		return 0;
	s->absent_ref[0] = '\0';
	s->stats->not_compared++;
	emit(s, BUILD_EV_NOT_COMPARED, b, why, 0);
	finish_ok(s, b, &none);
	return 1;
}

/* ---- the shared results cache (build.h, struct cache_remote) ------------------------ */

/* A key to publish at the end (a key that cannot be remembered is just not shared). */
static void remote_remember(struct sched *s, const struct gg_hash *key)
{
	if (!s->o->remote || !s->o->remote->publish)
		return;
	if (s->npub == s->apub) {
		size_t a = s->apub ? 2 * s->apub : 64;
		struct gg_hash *v = realloc(s->pub, a * sizeof(*v));
		if (!v)
			return;
		s->pub = v;
		s->apub = a;
	}
	s->pub[s->npub++] = *key;
}

/*
 * Ask the remote, in one batch, about every READY node not asked yet whose key the
 * local cache lacks: its hits are in the local cache when the ready loop gets to
 * them.  (Their keys are computed again there, through the stat cache.)
 */
static void remote_prefetch(struct sched *s)
{
	const struct build_opts *o = s->o;
	struct gg_hash *keys = NULL;
	size_t *idx = NULL, n = 0;
	bool *hit = NULL;

	if (!o->remote || !o->remote->fetch || o->no_cache || o->verify)
		return;
	for (size_t i = 0; i < s->g->n; i++) {
		struct bnode *b = &s->n[i];
		if (!b->selected || b->state != B_READY || b->looked_up || b->forced ||
		    !cacheable(&s->g->nodes[i]))
			continue;
		if (!keys && (!(keys = calloc(s->g->n, sizeof(*keys))) ||
			      !(idx = calloc(s->g->n, sizeof(*idx))) ||
			      !(hit = calloc(s->g->n, sizeof(*hit)))))
			goto out_free; /* then each node asks on its own */
		b->looked_up = true;
		if (compute_key(s, b) < 0 || b->must_run || cache_has(s->ggdir, &b->key))
			continue;
		keys[n] = b->key;
		idx[n++] = i;
	}
	s->absent_ref[0] = '\0';
	if (n) {
		(void)o->remote->fetch(o->remote->ctx, keys, n, hit);
		for (size_t k = 0; k < n; k++)
			s->n[idx[k]].remote_hit = hit[k];
	}
out_free:
	free(keys);
	free(idx);
	free(hit);
}

/* A local miss not asked about yet: bring the remote entry in; true and *hit filled
 * on a remote hit. */
static bool remote_lookup(struct sched *s, struct bnode *b, struct cache_entry *hit)
{
	bool found = false;
	if (!s->o->remote || !s->o->remote->fetch || b->looked_up)
		return false;
	b->looked_up = true;
	/* (an error that still left the entry in place is a hit all the same) */
	(void)s->o->remote->fetch(s->o->remote->ctx, &b->key, 1, &found);
	if (!found)
		return false;
	return cache_get(s->ggdir, &b->key, hit) == 0;
}

static void remote_publish(struct sched *s)
{
	if (!s->npub)
		return;
	s->stats->remote_published = s->npub;
	s->o->remote->publish(s->o->remote->ctx, s->pub, s->npub);
}

static void on_finished(struct sched *s, struct bnode *b)
{
	char msg[3 * PATH_MAX + 1024];
	struct engine_result *r = &b->res;
	bool full;
	int ret, corrected = 0;

	s->running--;
	if (r->level)
		s->stats->level = r->level;
	if (b->engine_ret == -ECANCELED) {
		b->state = B_FAILED;
		s->stats->skipped++; /* interrupted: not its failure */
		s->ndone++;
		return;
	}
	if (b->engine_ret == 0 && r->ran && r->status == 0 && !r->err[0] && r->recorded)
		adopt_host_run(s, b); /* (a declared output it did not make is an error) */
	if (b->engine_ret == 0 && r->ran && r->status == 0 && !r->err[0]) {
		if (s->o->verify) {
			if (verify_outputs(s, b, &r->outputs))
				s->stats->differs++;
		} else {
			struct cache_entry old;
			if (cache_get(s->ggdir, &b->key, &old) == 0) {
				for (size_t i = 0; i < old.n && i < r->outputs.n; i++) {
					if (!hash_equal(&old.v[i].value, &r->outputs.v[i].value)) {
						snprintf(msg, sizeof(msg),
							 "'%s' differs from the cached result of the same inputs",
							 r->outputs.v[i].path);
						s->stats->nondeterministic++;
						emit_output(s, BUILD_EV_NONDETERMINISTIC, b, msg,
							    r->outputs.v[i].path);
						break;
					}
				}
				cache_entry_release(&old);
			}
			if (cacheable(&s->g->nodes[b->idx]) && !b->keyless &&
			    cache_put(s->ggdir, &b->key, &r->outputs) == 0)
				remote_remember(s, &b->key);
			if ((ret = materialize_all(s, &r->outputs, NULL)) < 0) {
				b->state = B_FAILED;
				s->stats->failed++;
				s->ndone++;
				emit(s, BUILD_EV_FAILED, b, s->err, 1);
				skip_users(s, b);
				rm_rf(b->staging);
				return;
			}
		}
		s->stats->ran++; /* (after materialization: a node counts once) */
		emit(s, BUILD_EV_DONE, b, NULL, 0);
		finish_ok(s, b, &r->outputs);
		rm_rf(b->staging);
		return;
	}
	/* A command that failed with no room left for its outputs failed for that (its
	 * stderr, kept in the same place, may well be empty): say so, and neither run it
	 * again nor re-record it on the host, which would write the tree directly. */
	full = out_of_space(s, b);
	/* failed: find what it missed (supervised run), then re-record it; not a recorded
	 * host run, which failed in the tree itself */
	if (b->engine_ret == 0 && r->ran && !b->supervise && b->tries == 0 && s->o->self_correct &&
	    !s->o->verify && !full && !r->recorded) {
		b->supervise = true;
		b->tries++;
		cache_entry_release(&r->outputs);
		rm_rf(b->staging); /* submit() makes a new one */
		submit(s, b);
		return;
	}
	if (b->engine_ret == 0 && r->ran && s->o->self_correct && !s->o->verify && !full &&
	    !r->recorded && ((r->undeclared[0] && plausible_input(r->undeclared)) || b->must_run || b->edited)) {
		/* an edited source may read what the recording never saw (a new header in
		 * the tree, where the staging area hides it from the supervisor) */
		if (r->undeclared[0] && plausible_input(r->undeclared))
			snprintf(msg, sizeof(msg), "undeclared input '%s': re-recording the command",
				 r->undeclared);
		else
			snprintf(msg, sizeof(msg), "failed after its inputs changed: re-recording the command");
		emit(s, BUILD_EV_NOTE, b, msg, 0);
		if ((corrected = self_correct(s, b)) == 0) {
			s->stats->corrected++;
			emit(s, BUILD_EV_CORRECTED, b, msg, 0);
			rm_rf(b->staging);
			return;
		}
	}
	if (b->engine_ret < 0)
		snprintf(msg, sizeof(msg), "cannot run: %s", r->err);
	else if (full && strstr(r->err, strerror(ENOSPC)))
		snprintf(msg, sizeof(msg), "%s", r->err); /* it could not store its outputs */
	else if (full)
		snprintf(msg, sizeof(msg), "exit status %d%s%s; the disk holding '%s' is full (%s)",
			 r->status, r->err[0] ? ": " : "", r->err,
			 disk_full(s->ggdir) ? s->ggdir : s->staging_base, strerror(ENOSPC));
	else if (corrected == -ECHILD) /* the undeclared path was not why it failed */
		snprintf(msg, sizeof(msg), "exit status %d (outside the sandbox too)", r->status);
	else if (r->undeclared[0])
		snprintf(msg, sizeof(msg), "exit status %d; undeclared input '%s'", r->status,
			 r->undeclared);
	else if (r->denied[0])
		snprintf(msg, sizeof(msg), "exit status %d; denied: %s", r->status, r->denied);
	else if (r->err[0])
		snprintf(msg, sizeof(msg), "exit status %d: %s", r->status, r->err);
	else
		snprintf(msg, sizeof(msg), "exit status %d", r->status);
	b->state = B_FAILED;
	s->stats->failed++;
	s->ndone++;
	emit(s, BUILD_EV_FAILED, b, msg, r->status);
	if (s->o->verify)
		release_users(s, b); /* their keys come from the tree, not from this run */
	else
		skip_users(s, b);
	/* the staging area is kept until the end: the observer may show its stderr */
}

/* ---- the run --------------------------------------------------------------------------- */

static int select_nodes(struct sched *s)
{
	struct graph *g = s->g;
	size_t *stack = NULL, ns = 0;
	bool all = !s->o->ntargets && !s->o->nforce;
	int ret = 0;

	stack = calloc(g->n + 1, sizeof(*stack));
	if (!stack)
		return -ENOMEM;
	if (all) {
		for (size_t i = 0; i < g->n; i++)
			s->n[i].selected = true;
	}
	for (size_t t = 0; t < s->o->ntargets; t++) {
		long n = graph_find_path(g, s->o->targets[t], NULL);
		if (n < 0) {
			ret = failf(s, -ENOENT, "no thunk produces '%s'", s->o->targets[t]);
			goto out;
		}
		stack[ns++] = (size_t)n;
	}
	for (size_t t = 0; t < s->o->nforce; t++) {
		long n = graph_find_hash(g, &s->o->force[t]);
		char hex[GG_HASH_HEX_SIZE];
		if (n < 0) {
			ret = failf(s, -ENOENT, "no thunk '%s' in the graph",
				    hash_to_hex(&s->o->force[t], hex));
			goto out;
		}
		s->n[n].forced = true;
		stack[ns++] = (size_t)n;
	}
	while (ns) { /* targets and what they need */
		size_t i = stack[--ns];
		if (s->n[i].selected)
			continue;
		s->n[i].selected = true;
		for (size_t k = 0; k < g->nodes[i].ndeps; k++)
			stack[ns++] = g->nodes[i].deps[k];
	}
out:
	free(stack);
	return ret;
}

static int check_stale(struct sched *s)
{
	for (size_t i = 0; i < s->g->ndriver_inputs; i++) {
		const struct graph_output *d = &s->g->driver_inputs[i];
		struct gg_hash h;
		uint32_t mode;
		int ret = statcache_hash(s->sc, NULL, d->path, 0, &h, &mode);
		if (ret < 0 || !hash_equal(&h, &d->value))
			return failf(s, -ESTALE, "%s", d->path);
	}
	return 0;
}

/*
 * A gg killed while materializing leaves "NAME.gg-<pid>.tmp" next to an output:
 * remove those of dead processes from the directories this build writes.  Best
 * effort: a directory that cannot be read keeps its leftovers.
 */
static int sweep_temps(struct sched *s)
{
	struct strlist dirs = STRLIST_INIT;
	struct strset seen = STRSET_INIT;
	int ret = 0;

	for (size_t i = 0; i < s->g->n && ret >= 0; i++) {
		const struct graph_node *gn = &s->g->nodes[i];
		if (!s->n[i].selected)
			continue;
		for (size_t k = 0; k < gn->noutputs && ret >= 0; k++) {
			const char *slash = strrchr(gn->outputs[k].path, '/');
			char dir[PATH_MAX];
			if (!slash || slash == gn->outputs[k].path ||
			    (size_t)(slash - gn->outputs[k].path) >= sizeof(dir))
				continue;
			snprintf(dir, sizeof(dir), "%.*s", (int)(slash - gn->outputs[k].path),
				 gn->outputs[k].path);
			if (strset_has(&seen, dir))
				continue;
			if ((ret = strlist_push(&dirs, dir)) < 0 ||
			    (ret = strset_add(&seen, dirs.v[dirs.n - 1])) < 0)
				break;
			materialize_sweep(dir, NULL);
		}
	}
	strset_release(&seen);
	strlist_release(&dirs);
	return ret < 0 ? ret : 0;
}

/*
 * Scratch space for jobs: a RAM file system when there is one (/dev/shm), since a
 * job creates and removes a dozen files and directories that never need to reach
 * a disk (outputs are copied into the store); else <ggdir>/tmp.
 */
static void pick_staging(struct sched *s)
{
	struct statfs fs;
	char top[64];
	snprintf(top, sizeof(top), "/dev/shm/gg-%d", (int)geteuid());
	if (ggdir_ram_scratch(s->ggdir, s->staging_base, sizeof(s->staging_base)) == 0 &&
	    statfs("/dev/shm", &fs) == 0 && fs.f_type == TMPFS_MAGIC &&
	    (mkdir(top, 0700) == 0 || errno == EEXIST) &&
	    (mkdir(s->staging_base, 0700) == 0 || errno == EEXIST) &&
	    access(s->staging_base, W_OK) == 0)
		return;
	snprintf(s->staging_base, sizeof(s->staging_base), "%s/tmp", s->ggdir);
	mkdir(s->staging_base, 0755);
}

/*
 * make's whole record is mtimes: an output older than one of its thunk's inputs
 * is out of date to it.  materialize() gives an output whose bytes did not change
 * the time the stat cache last saw (the recorded build's order), which is older
 * than an input edited since; so each output of a node the build left done that is
 * older than its newest input gets that input's time.  Nodes are in topological
 * order, so a producer's times are settled before its users are looked at.  Nodes
 * whose command ninja drives are left to driverlog (restat, .ninja_log).
 */
static void settle_times(struct sched *s)
{
	for (size_t i = 0; i < s->g->n; i++) {
		const struct thunk *th = &s->n[i].th;
		struct timespec newest = { 0, 0 };
		struct stat sb;
		if (s->n[i].state != B_DONE || !th->outputs.n || driverlog_owns(s->g, th))
			continue;
		for (size_t k = 0; k < th->inputs.n; k++)
			if (stat(th->inputs.v[k].path, &sb) == 0 && S_ISREG(sb.st_mode) &&
			    (sb.st_mtim.tv_sec > newest.tv_sec ||
			     (sb.st_mtim.tv_sec == newest.tv_sec && sb.st_mtim.tv_nsec > newest.tv_nsec)))
				newest = sb.st_mtim;
		if (!newest.tv_sec)
			continue;
		for (size_t k = 0; k < th->outputs.n; k++) {
			struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, newest };
			if (lstat(th->outputs.v[k], &sb) < 0 || !S_ISREG(sb.st_mode) ||
			    sb.st_mtim.tv_sec > newest.tv_sec ||
			    (sb.st_mtim.tv_sec == newest.tv_sec && sb.st_mtim.tv_nsec >= newest.tv_nsec))
				continue;
			if (utimensat(AT_FDCWD, th->outputs.v[k], ts, AT_SYMLINK_NOFOLLOW) == 0)
				statcache_forget(s->sc, th->outputs.v[k]);
		}
	}
}

static bool cancelled(const struct sched *s)
{
	struct pollfd p = { .fd = s->o->cancel_fd, .events = POLLIN };
	return s->o->cancel_fd >= 0 && poll(&p, 1, 0) > 0;
}

int build_run(const char *ggdir, struct graph *g, const struct build_opts *opts,
	      struct build_stats *stats, char *errbuf, size_t errlen)
{
	struct sched s = { .ggdir = ggdir, .g = g, .o = opts, .stats = stats, .err = errbuf,
			   .errlen = errlen, .st = STORE_INIT };
	struct sbx_caps caps;
	double t0;
	int ret = 0;

	memset(stats, 0, sizeof(*stats));
	errbuf[0] = '\0';
	pthread_mutex_init(&s.mu, NULL);
	pthread_cond_init(&s.cv_todo, NULL);
	pthread_cond_init(&s.cv_done, NULL);
	if ((ret = store_init(&s.st, ggdir, STORE_CREATE)) < 0) {
		failf(&s, ret, "cannot open the store in '%s': %s", ggdir, strerror(-ret));
		goto out;
	}
	if (statcache_open(&s.sc, ggdir) < 0) {
		ret = failf(&s, -ENOMEM, "out of memory");
		goto out;
	}
	if ((ret = check_stale(&s)) < 0)
		goto out;
	pick_staging(&s);
	sbx_probe(&caps);
	stats->level = caps.level;
	snprintf(stats->level_why, sizeof(stats->level_why), "%s", caps.why);
	if (opts->require_level && caps.level > opts->require_level) {
		ret = failf(&s, -EPERM, "the sandbox here is level %d (%s), level %d is required",
			    caps.level, caps.why, opts->require_level);
		goto out;
	}
	s.n = calloc(g->n + 1, sizeof(*s.n));
	s.todo = calloc(g->n + 1, sizeof(*s.todo));
	s.fin = calloc(g->n + 1, sizeof(*s.fin));
	if (!s.n || !s.todo || !s.fin) {
		ret = failf(&s, -ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < g->n; i++) {
		s.n[i].idx = i;
		thunk_init(&s.n[i].th);
		thunk_init(&s.n[i].cur);
	}
	if ((ret = select_nodes(&s)) < 0)
		goto out;
	if ((ret = sweep_temps(&s)) < 0) {
		failf(&s, ret, "out of memory");
		goto out;
	}
	/* load the thunks, count pending deps, list users */
	for (size_t i = 0; i < g->n; i++) {
		struct bnode *b = &s.n[i];
		if (!b->selected)
			continue;
		s.nsel++;
		thunk_release(&b->th);
		if ((ret = store_load_thunk(&s.st, &g->nodes[i].hash, &b->th)) < 0) {
			char hex[GG_HASH_HEX_SIZE];
			failf(&s, ret, "cannot read thunk %s (%s): %s", hash_to_hex(&g->nodes[i].hash, hex),
			      g->nodes[i].label,
			      ret == -EBADMSG ? "corrupt blob"
			      : ret == -ENOENT ? "its blob is missing from the store" : strerror(-ret));
			goto out;
		}
		for (size_t k = 0; k < g->nodes[i].ndeps; k++) {
			struct bnode *d = &s.n[g->nodes[i].deps[k]];
			size_t *nu = realloc(d->users, (d->nusers + 1) * sizeof(*nu));
			if (!nu) {
				ret = failf(&s, -ENOMEM, "out of memory");
				goto out;
			}
			d->users = nu;
			d->users[d->nusers++] = i;
			b->pending++;
		}
		b->state = b->pending ? B_WAIT : B_READY;
	}
	stats->total = s.nsel;
	s.nworkers = opts->jobs > 0 ? opts->jobs : (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (s.nworkers < 1)
		s.nworkers = 1;
	s.workers = calloc((size_t)s.nworkers, sizeof(*s.workers));
	if (!s.workers) {
		ret = failf(&s, -ENOMEM, "out of memory");
		goto out;
	}
	for (int w = 0; w < s.nworkers; w++)
		pthread_create(&s.workers[w], NULL, worker, &s);

	t0 = now_ms();
	while (s.ndone < s.nsel) {
		bool progressed = false;
		bool stop = s.quit || cancelled(&s) ||
			    (!opts->keep_going && !opts->verify && stats->failed);
		if (stop && !s.quit) {
			s.quit = true;
			pthread_mutex_lock(&s.mu);
			for (size_t k = 0; k < s.ntodo; k++) { /* drop what has not started */
				struct bnode *d = &s.n[s.todo[k]];
				d->state = B_READY; /* counted skipped at the end */
				s.running--;
				rm_rf(d->staging);
			}
			s.ntodo = 0;
			pthread_mutex_unlock(&s.mu);
		}
		if (!s.quit)
			remote_prefetch(&s); /* one round trip for all of them */
		/* ready nodes, in graph (topological) order */
		for (size_t i = 0; i < g->n && !s.quit && s.running < (size_t)s.nworkers; i++) {
			struct bnode *b = &s.n[i];
			struct cache_entry hit;
			if (!b->selected || b->state != B_READY)
				continue;
			progressed = true;
			s.absent_ref[0] = '\0';
			ret = compute_key(&s, b);
			if (opts->verify)
				ret = verify_prepare(&s, b, ret);
			if (ret < 0) {
				failf(&s, ret, "cannot compute the key of '%s': %s", g->nodes[i].label,
				      strerror(-ret));
				goto out_join;
			}
			if (ret > 0)
				continue; /* verify: nothing to compare with */
			bool remote_hit = false;
			if (!opts->no_cache && !opts->verify && !b->forced && !b->must_run &&
			    cacheable(&g->nodes[i]) && (cache_get(ggdir, &b->key, &hit) == 0 ||
							(remote_hit = remote_lookup(&s, b, &hit)))) {
				bool store_fault = false;
				char note[PATH_MAX + 512];
				if ((ret = materialize_all(&s, &hit, &store_fault)) == 0) {
					stats->cached++;
					stats->remote_hits += remote_hit || b->remote_hit;
					finish_ok(&s, b, &hit);
					emit(&s, BUILD_EV_CACHED, b, NULL, 0);
					continue;
				}
				cache_entry_release(&hit);
				if (!store_fault)
					goto out_join;
				/* The result is known but the store lost or damaged one of its
				 * blobs: a miss.  Running the thunk stores its outputs again. */
				snprintf(note, sizeof(note), "%s: running it again", errbuf);
				errbuf[0] = '\0';
				ret = 0;
				emit(&s, BUILD_EV_NOTE, b, note, 0);
			}
			if (b->must_run && opts->self_correct && !opts->verify) {
				/* a path it found missing exists now, or an input is gone: what
				 * it reads has changed beyond what the sandbox can show it */
				snprintf(b->staging, sizeof(b->staging), "%s/run-%d-%llu",
					 s.staging_base, (int)getpid(), ++s.seq);
				mkdir(b->staging, 0755);
				snprintf(b->res.stderr_path, sizeof(b->res.stderr_path), "%s/stderr",
					 b->staging);
				emit(&s, BUILD_EV_NOTE, b, "its inputs changed shape: re-recording the command", 0);
				if (self_correct(&s, b) == 0) {
					stats->corrected++;
					emit(&s, BUILD_EV_CORRECTED, b, NULL, 0);
					rm_rf(b->staging);
					continue;
				}
				rm_rf(b->staging);
			}
			submit(&s, b);
		}
		stats->keys_ms = (size_t)(now_ms() - t0);
		if (s.ndone >= s.nsel)
			break;
		if (s.quit && !s.running) {
			/* nothing will finish any more: count what never ran */
			break;
		}
		if (progressed && s.running < (size_t)s.nworkers)
			continue;
		/* wait for a result */
		pthread_mutex_lock(&s.mu);
		while (!s.nfin) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 100 * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&s.cv_done, &s.mu, &ts);
			if (!s.nfin && s.o->cancel_fd >= 0 && cancelled(&s))
				break;
		}
		size_t nfin = s.nfin;
		size_t fin[nfin + 1];
		memcpy(fin, s.fin, nfin * sizeof(*fin));
		s.nfin = 0;
		pthread_mutex_unlock(&s.mu);
		for (size_t k = 0; k < nfin; k++)
			on_finished(&s, &s.n[fin[k]]);
		if (!nfin && !s.running && !progressed) {
			/* nothing runs, nothing is ready: the rest waits on failures */
			break;
		}
	}
	/* what never started (the build stopped, or waits on failures) is skipped */
	for (size_t i = 0; i < g->n; i++)
		if (s.n[i].selected && (s.n[i].state == B_WAIT || s.n[i].state == B_READY))
			stats->skipped++;
	ret = 0;
	if (cancelled(&s))
		ret = failf(&s, -ECANCELED, "interrupted");
	else if (stats->failed || stats->skipped || s.ndone < s.nsel)
		ret = -ENOTRECOVERABLE;
	if (!opts->verify) { /* ninja's records of what was built (driverlog.h): a warning at worst */
		struct driverlog *dl = NULL;
		settle_times(&s);
		char why[1100] = "warning: ninja's logs not updated: ";
		for (size_t i = 0; i < g->n; i++)
			if (s.n[i].state == B_DONE && driverlog_add(&dl, g, &s.n[i].th, &g->nodes[i]) < 0)
				break;
		if (driverlog_commit(&dl, why + strlen(why), sizeof(why) - strlen(why)) < 0)
			emit(&s, BUILD_EV_NOTE, NULL, why, 0);
	}
out_join:
	pthread_mutex_lock(&s.mu);
	s.quit = true;
	pthread_cond_broadcast(&s.cv_todo);
	pthread_mutex_unlock(&s.mu);
	for (int w = 0; w < s.nworkers; w++)
		if (s.workers[w])
			pthread_join(s.workers[w], NULL);
	remote_publish(&s); /* what ran, once the workers are gone */
out:
	if (s.sc) {
		statcache_save(s.sc);
		statcache_free(s.sc);
	}
	for (size_t i = 0; s.n && i < g->n; i++) {
		if (s.n[i].state == B_FAILED || s.n[i].state == B_RUNNING)
			rm_rf(s.n[i].staging);
		thunk_release(&s.n[i].th);
		thunk_release(&s.n[i].cur);
		cache_entry_release(&s.n[i].result);
		cache_entry_release(&s.n[i].ref);
		cache_entry_release(&s.n[i].res.outputs);
		free(s.n[i].users);
	}
	free(s.n);
	free(s.todo);
	free(s.fin);
	free(s.workers);
	free(s.pub);
	store_release(&s.st);
	pthread_mutex_destroy(&s.mu);
	pthread_cond_destroy(&s.cv_todo);
	pthread_cond_destroy(&s.cv_done);
	return ret;
}
