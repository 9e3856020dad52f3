/*
 * build.c - the builder (build.h): plan + engines, driven from one scheduling
 * thread (runtime/build/README-plan says how the parts fit).
 *
 * The plan (plan.h) says which node may start, longest critical path first.  The
 * builder takes a node from it, loads its thunk, computes its key, and either
 * finishes it from the results cache or gives it to an engine (engine.h); then it
 * waits in poll() on the cancel descriptor and the engines' descriptors, collects
 * completions and reports each node back to the plan.  Nothing rescans the graph
 * and nothing waits with a timeout.
 *
 * A job (struct bjob) exists only while its node is RUNNING in the plan:
 *
 *   handed out --key--> hit --materialized--> CACHED                    (job freed)
 *              \-> [must_run, recorder] PRE_CORRECT on host --adopted--> CORRECTED
 *              |                                            \-failed--> RUN
 *              \-> RUN (in its engine, or parked until that engine has room)
 *                   --ok, outputs materialized--> DONE
 *                   --failed--> RUN supervised (once) --failed--> CORRECT on host
 *                                                  --adopted--> CORRECTED
 *                                                  \-> FAILED (users SKIPPED by the plan)
 *                   --aborted--> CANCELED
 *
 * Per graph node the builder keeps the outputs a DONE or CACHED node left (its
 * users' references resolve to them), a "forced" byte and the node's job pointer;
 * thunks, staging paths and engine results live in jobs.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "runtime/build/build.h"
#include "runtime/build/build_int.h"
#include "runtime/build/driverlog.h"
#include "runtime/build/plan.h"
#include "runtime/engine/engine.h"
#include "runtime/engine/engines.h"
#include "runtime/ir/thunk.h"
#include "runtime/lib/util.h"
#include "runtime/store/cache.h"
#include "runtime/store/blobpack.h"
#include "runtime/lib/statahead.h"
#include "runtime/store/ggdir.h"
#include "runtime/store/materialize.h"
#include "runtime/store/statcache.h"
#include "runtime/store/store.h"

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

/* ---- events --------------------------------------------------------------------- */

static void emit_ev(struct sched *s, struct build_event *ev, size_t node, const struct bjob *j)
{
	char log[PATH_MAX], out[PATH_MAX];

	ev->node = node != SIZE_MAX ? &s->g->nodes[node] : NULL;
	ev->level = s->stats->level;
	ev->done = s->ndone;
	ev->total = s->nsel;
	ev->running = s->running;
	ev->cached = s->stats->cached;
	if (j && j->phase == PH_RUN && (ev->kind == BUILD_EV_FAILED || ev->kind == BUILD_EV_DONE)) {
		ev->engine = s->ops[j->eng]->name;
		ev->res = &j->res;
	}
	if (j && j->staging && j->res.logs &&
	    (ev->kind == BUILD_EV_FAILED || ev->kind == BUILD_EV_DONE)) {
		snprintf(log, sizeof(log), "%s/stderr", j->staging);
		snprintf(out, sizeof(out), "%s/stdout", j->staging);
		ev->log = log;
		ev->stdout_log = out;
	}
	if (s->o->observer)
		s->o->observer(s->o->observer_ctx, ev);
}

static void emit(struct sched *s, enum build_event_kind kind, size_t node, const struct bjob *j,
		 const char *text, int status)
{
	struct build_event ev = { .kind = kind, .text = text, .status = status };
	emit_ev(s, &ev, node, j);
}

/* An event about one output of a node (DIFFERS, NONDETERMINISTIC). */
static void emit_output(struct sched *s, enum build_event_kind kind, const struct bjob *j,
			const char *text, const char *path)
{
	struct build_event ev = { .kind = kind, .text = text, .path = path };
	emit_ev(s, &ev, j->node, NULL);
}

/*
 * Can a node's result be reused?  Pure ones, and local-only ones whose reason says
 * nothing about their result (they removed a file another command made, or wrote
 * outside the tree: deterministic, just not hermetic).  One that read its terminal
 * or the network, used randomness, ran an opaque binary, outlived its driver or
 * was cut short (what it read is not all known) runs every time.
 */
static bool cacheable(const struct graph_node *gn)
{
	return !(gn->local & ~(uint32_t)(THUNK_LOCAL_DELETES_FOREIGN_FILES |
					  THUNK_LOCAL_WRITES_OUTSIDE_TREE));
}

/* ---- jobs ---------------------------------------------------------------------------- */

static struct bjob *job_new(struct sched *s, size_t node, int *ret)
{
	struct bjob *j = calloc(1, sizeof(*j));
	char hex[GG_HASH_HEX_SIZE];
	const struct graph_node *gn = &s->g->nodes[node];

	if (!j) {
		*ret = failf(s, -ENOMEM, "out of memory");
		return NULL;
	}
	j->node = node;
	thunk_init(&j->th);
	if ((*ret = store_load_thunk(&s->st, &gn->hash, &j->th)) < 0) {
		failf(s, *ret, "cannot read thunk %s (%s): %s", hash_to_hex(&gn->hash, hex), gn->label,
		      *ret == -EBADMSG ? "corrupt blob"
		      : *ret == -ENOENT ? "its blob is missing from the store" : strerror(-*ret));
		free(j);
		return NULL;
	}
	s->job[node] = j;
	return j;
}

static void job_free(struct sched *s, struct bjob *j)
{
	if (!j)
		return;
	if (j->staging)
		rm_rf(j->staging);
	if (j->hstaging)
		rm_rf(j->hstaging);
	free(j->staging);
	free(j->hstaging);
	free(j->env_add);
	free(j->note);
	build_key_cur_release(&j->cur);
	thunk_release(&j->th);
	cache_entry_release(&j->ref);
	engine_result_release(&j->res);
	engine_result_release(&j->hres);
	s->job[j->node] = NULL;
	free(j);
}

/* ---- completion ---------------------------------------------------------------------- */


/* The node is done (executed, cached or corrected): keep its outputs, free its job. */
static void node_ok(struct sched *s, struct bjob *j, struct cache_entry *outs,
		    enum plan_state state)
{
	size_t node = j->node;

	cache_entry_release(&s->result[node]);
	s->result[node] = *outs;
	memset(outs, 0, sizeof(*outs));
	s->ndone++;
	if (!s->o->verify) {
		build_key_settle_times(s, j, &s->result[node]);
		if (!s->dl_full && driverlog_add(&s->dl, s->g, &j->th, &s->g->nodes[node]) < 0)
			s->dl_full = true; /* out of memory: ninja's logs miss the rest */
	}
	job_free(s, j);
	plan_node_done(&s->plan, node, state);
}

/* An engine aborted it: not its failure, counted skipped (interrupted). */
static void node_canceled(struct sched *s, struct bjob *j)
{
	size_t node = j->node;
	s->stats->skipped++;
	s->ndone++;
	job_free(s, j);
	plan_node_done(&s->plan, node, PLAN_CANCELED);
}

/* Told by the plan of the nodes it skips (a dependency failed) or cancels. */
static void on_final(void *ctx, size_t node, enum plan_state state)
{
	struct sched *s = ctx;
	s->stats->skipped++;
	s->ndone++;
	if (state == PLAN_SKIPPED)
		emit(s, BUILD_EV_SKIPPED, node, NULL, NULL, 0);
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
		char hex[GG_HASH_HEX_SIZE];
		bool changed = false;
		int ret;
		if (!hash_is_set(&o->value))
			continue; /* removed by the recorded build (cache.h) */
		ret = materialize(&s->st, s->sc, o->path, &o->value, o->mode, &changed);
		if (changed)
			build_touched(s);
		if (ret == 0)
			continue;
		if ((ret == -ENOENT && !store_has(&s->st, &o->value)) || ret == -EBADMSG) {
			if (store_fault)
				*store_fault = true;
			if (ret == -EBADMSG)
				(void)store_remove(&s->st, &o->value);
			return failf(s, ret, "blob %s of '%s' is %s", hash_to_hex(&o->value, hex),
				     o->path, ret == -ENOENT ? "missing from the store"
							     : "corrupt (removed from the store)");
		}
		return failf(s, ret, "cannot write '%s': %s", o->path, strerror(-ret));
	}
	return 0;
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
 * Ask the remote, in one batch, about the nodes just handed out whose key the local
 * cache lacks: its hits are in the local cache when they are dispatched.
 */
static void remote_prefetch(struct sched *s, struct bjob **batch, size_t n)
{
	const struct build_opts *o = s->o;
	struct gg_hash *keys = NULL;
	struct bjob **asked = NULL;
	bool *hit = NULL;
	size_t na = 0;

	if (!o->remote || !o->remote->fetch || o->no_cache || o->verify)
		return;
	if (!(keys = calloc(n, sizeof(*keys))) || !(asked = calloc(n, sizeof(*asked))) ||
	    !(hit = calloc(n, sizeof(*hit))))
		goto out_free; /* then each node asks on its own */
	for (size_t i = 0; i < n; i++) {
		struct bjob *j = batch[i];
		if (s->forced[j->node] || !cacheable(&s->g->nodes[j->node]))
			continue;
		j->looked_up = true;
		if (build_key_compute(s, j) < 0 || j->must_run || cache_has(s->ggdir, &j->key))
			continue;
		keys[na] = j->key;
		asked[na++] = j;
	}
	s->absent_ref[0] = '\0';
	if (na) {
		(void)o->remote->fetch(o->remote->ctx, keys, na, hit);
		for (size_t k = 0; k < na; k++)
			asked[k]->remote_hit = hit[k];
	}
out_free:
	free(keys);
	free(asked);
	free(hit);
}

/* A local miss not asked about yet: bring the remote entry in; true and *hit filled
 * on a remote hit. */
static bool remote_lookup(struct sched *s, struct bjob *j, struct cache_entry *hit)
{
	bool found = false;
	if (!s->o->remote || !s->o->remote->fetch || j->looked_up)
		return false;
	j->looked_up = true;
	/* (an error that still left the entry in place is a hit all the same) */
	(void)s->o->remote->fetch(s->o->remote->ctx, &j->key, 1, &found);
	if (!found)
		return false;
	return cache_get(s->ggdir, &j->key, hit) == 0;
}

static void remote_publish(struct sched *s)
{
	if (!s->npub)
		return;
	s->stats->remote_published = s->npub;
	s->o->remote->publish(s->o->remote->ctx, s->pub, s->npub);
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
 * Compare a run's outputs with the known result of its key (j->ref), by path: each
 * file that differs or is on one side only is a DIFFERS event.  True if any.
 */
static bool verify_outputs(struct sched *s, const struct bjob *j, const struct cache_entry *got)
{
	char msg[PATH_MAX + 128];
	bool differ = false;

	for (size_t i = 0; i < j->ref.n; i++) {
		const struct cache_output *o = find_output(got, j->ref.v[i].path);
		if ((o && hash_equal(&o->value, &j->ref.v[i].value)) ||
		    !hash_is_set(&j->ref.v[i].value)) /* removed: nothing to compare */
			continue;
		snprintf(msg, sizeof(msg), o ? "'%s' differs from the result known for its inputs"
					     : "'%s' was not produced this time", j->ref.v[i].path);
		emit_output(s, BUILD_EV_DIFFERS, j, msg, j->ref.v[i].path);
		differ = true;
	}
	for (size_t i = 0; i < got->n; i++) {
		if (find_output(&j->ref, got->v[i].path))
			continue;
		snprintf(msg, sizeof(msg), "'%s' is not in the result known for its inputs",
			 got->v[i].path);
		emit_output(s, BUILD_EV_DIFFERS, j, msg, got->v[i].path);
		differ = true;
	}
	return differ;
}

/*
 * Verify: find what a node's run is to be compared with (build.h, "Verify").  0 and
 * j->ref set: run it; 1: nothing to compare with, the node is DONE and counted
 * (not_compared) and the job is gone; -errno on errors.  key_ret is build_key_compute()'s.
 */
static int verify_prepare(struct sched *s, struct bjob *j, int key_ret)
{
	const struct graph_node *gn = &s->g->nodes[j->node];
	char why[PATH_MAX + 256];
	struct cache_entry none = { 0 };

	if (key_ret < 0 && !s->absent_ref[0])
		return key_ret;
	if (key_ret < 0)
		snprintf(why, sizeof(why), "input '%s' is not in the tree (run 'gg build' first)",
			 s->absent_ref);
	else if (gn->local)
		snprintf(why, sizeof(why), "local-only, it runs in the tree itself");
	else if (j->must_run)
		snprintf(why, sizeof(why), "its inputs changed shape since it last ran (run 'gg build' first)");
	else if (cache_get(s->ggdir, &j->key, &j->ref) < 0)
		snprintf(why, sizeof(why), "no result is known for its current inputs (run 'gg build' first)");
	else
		return 0;
	s->absent_ref[0] = '\0';
	s->stats->not_compared++;
	emit(s, BUILD_EV_NOT_COMPARED, j->node, j, why, 0);
	node_ok(s, j, &none, PLAN_DONE);
	return 1;
}

/* ---- host runs and self-correction ---------------------------------------------------- */

/*
 * A command that ran on the host recorded (a local-only thunk, or a self-correction)
 * left its recording in `tdir`: have the recorder put the thunk it gives in place of
 * the node's (its users renamed), so that no thunk keeps an input set that went
 * stale.  *outs receives the recorded outputs.  The job's thunk is reloaded and its
 * key is the new thunk's (j->keyless when it cannot be computed: then its result is
 * not cached).  Users load their (renamed) thunks when they are handed out.
 */
static int adopt_recording(struct sched *s, struct bjob *j, const char *tdir,
			   struct cache_entry *outs, char *err, size_t errlen)
{
	const struct build_recorder *rec = s->o->recorder;
	struct gg_hash before = s->g->nodes[j->node].hash;
	int ret;

	if ((ret = rec->adopt(rec->ctx, &s->st, s->sc, s->g, j->node, tdir, outs, err, errlen)) < 0)
		return ret;
	if (!hash_equal(&before, &s->g->nodes[j->node].hash)) {
		s->stats->graph_changed = true;
		build_key_cur_release(&j->cur);
		thunk_release(&j->th);
		if ((ret = store_load_thunk(&s->st, &s->g->nodes[j->node].hash, &j->th)) < 0) {
			snprintf(err, errlen, "cannot read thunk of '%s': %s",
				 s->g->nodes[j->node].label, strerror(-ret));
			cache_entry_release(outs);
			return ret;
		}
	}
	j->keyless = build_key_compute(s, j) < 0;
	return 0;
}

/*
 * A host run was recorded: its recording replaces the node's thunk and its outputs
 * are the recorded ones (adopt_recording).  A recording that cannot be used leaves
 * the node's thunk as it was, with a note, and the declared outputs the engine
 * stored (or an error when one is missing).
 */
static void adopt_host_run(struct sched *s, struct bjob *j)
{
	struct engine_result *r = &j->res;
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
	snprintf(tdir, sizeof(tdir), "%s/trace", j->staging);
	if (adopt_recording(s, j, tdir, &outs, err, sizeof(err)) == 0) {
		cache_entry_release(&r->outputs);
		r->outputs = outs;
		return;
	}
	snprintf(msg, sizeof(msg), "cannot use the recording of its run on the host: %s", err);
	emit(s, BUILD_EV_NOTE, j->node, j, msg, 0);
	for (size_t i = 0; i < j->th.outputs.n && !r->err; i++)
		if (i >= r->outputs.n || strcmp(r->outputs.v[i].path, j->th.outputs.v[i]))
			engine_result_errf(r, "the command did not produce '%s'", j->th.outputs.v[i]);
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
	return path && path[0] && statvfs(path, &v) == 0 &&
	       (unsigned long long)v.f_bavail * v.f_frsize < DISK_MIN_FREE;
}

static bool out_of_space(const struct sched *s, const struct bjob *j)
{
	return (j->res.err && strstr(j->res.err, strerror(ENOSPC))) || disk_full(j->staging) ||
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
	if (!path || !strncmp(path, "/proc/", 6) || !strncmp(path, "/sys/", 5) ||
	    !strncmp(path, "/dev/", 5))
		return false;
	return lstat(path, &sb) == 0 && (S_ISREG(sb.st_mode) || S_ISLNK(sb.st_mode));
}

/* ---- starting jobs ---------------------------------------------------------------------- */

static void on_finished(struct sched *s, struct bjob *j, int ret);
static void on_corrected(struct sched *s, struct bjob *j, int ret);

static void park(struct sched *s, int e, struct bjob *j)
{
	j->next = NULL;
	if (s->park_tail[e])
		s->park_tail[e]->next = j;
	else
		s->park_head[e] = j;
	s->park_tail[e] = j;
	s->nparked++;
}

static struct bjob *unpark(struct sched *s, int e)
{
	struct bjob *j = s->park_head[e];
	if (!j)
		return NULL;
	if (!(s->park_head[e] = j->next))
		s->park_tail[e] = NULL;
	s->nparked--;
	return j;
}

/* A fresh, empty staging directory in *dir. */
static int new_staging(struct sched *s, char **dir)
{
	if (*dir) {
		rm_rf(*dir);
		free(*dir);
		*dir = NULL;
	}
	if (asprintf(dir, "%s/run-%d-%llu", s->staging_base, (int)getpid(), ++s->seq) < 0) {
		*dir = NULL;
		return -ENOMEM;
	}
	rm_rf(*dir);
	if (mkdir(*dir, 0755) < 0)
		return -errno;
	return 0;
}

/*
 * Hand the job to its engine, which has room: its run (PH_RUN, on j->eng) or a
 * recorded run on the host that corrects it.  A job the engine refuses ends at once.
 */
static void launch(struct sched *s, struct bjob *j)
{
	bool corr = j->phase != PH_RUN;
	int e = corr ? ENG_HOST : j->eng;
	struct engine_result *res = corr ? &j->hres : &j->res;
	bool record = corr || (e == ENG_HOST && s->o->recorder && !s->o->verify);
	char **dir = corr ? &j->hstaging : &j->staging;
	struct engine_job job;
	char tdir[PATH_MAX];
	int ret;

	build_touched(s);
	engine_result_release(res);
	memset(res, 0, sizeof(*res));
	free(j->env_add);
	j->env_add = NULL;
	if (!corr) {
		j->recorded = record;
		s->running++;
		emit(s, BUILD_EV_START, j->node, j, NULL, 0);
	}
	if (!s->ops[e]->no_staging && (ret = new_staging(s, dir)) < 0) {
		engine_result_errf(res, "cannot make a staging directory in '%s': %s",
				   s->staging_base, strerror(-ret));
		goto out_refused;
	}
	if (record) {
		snprintf(tdir, sizeof(tdir), "%s/trace", *dir);
		if (mkdir(tdir, 0755) < 0 && errno != EEXIST) {
			ret = -errno;
			engine_result_errf(res, "cannot create '%s': %s", tdir, strerror(errno));
			goto out_refused;
		}
		if (!(j->env_add = s->o->recorder->record_env(s->o->recorder->ctx, tdir))) {
			ret = -ENOMEM;
			goto out_refused;
		}
	}
	job = (struct engine_job){
		.tag = j->node, .th = corr ? &j->th : &j->cur, .staging = *dir,
		.timeout_ms = s->o->timeout_ms, .require_level = e != ENG_HOST ? s->o->require_level : 0,
		.supervise = !corr && j->supervise, .seed = 0x6767 ^ (unsigned long long)j->node,
		.expect_ms = s->g->nodes[j->node].ms, .rank = s->plan.cp[j->node],
		.env_add = j->env_add, .outputs_optional = record,
	};
	if ((ret = s->ops[e]->start(s->eng[e], &job, res)) < 0)
		goto out_refused;
	s->inflight[e]++;
	return;
out_refused:
	if (!res->err)
		engine_result_errf(res, "%s", strerror(-ret));
	if (corr)
		on_corrected(s, j, ret);
	else
		on_finished(s, j, ret);
}

/* Start the job's current phase now if its engine has room, else park it. */
static void start_or_park(struct sched *s, struct bjob *j)
{
	int e = j->phase != PH_RUN ? ENG_HOST : j->eng;
	if (s->ops[e]->can_start_more(s->eng[e]))
		launch(s, j);
	else
		park(s, e, j);
}

/* ---- completions --------------------------------------------------------------------- */

static void fail_node(struct sched *s, struct bjob *j, int ret, int corrected)
{
	char msg[3 * PATH_MAX + 1024];
	struct engine_result *r = &j->res;
	const char *err = r->err ? r->err : "";
	bool full = ret == 0 && out_of_space(s, j);
	size_t node = j->node;

	if (ret < 0)
		snprintf(msg, sizeof(msg), "cannot run: %s", r->err ? r->err : strerror(-ret));
	else if (full && strstr(err, strerror(ENOSPC)))
		snprintf(msg, sizeof(msg), "%s", err); /* it could not store its outputs */
	else if (full)
		snprintf(msg, sizeof(msg), "exit status %d%s%s; the disk holding '%s' is full (%s)",
			 r->status, err[0] ? ": " : "", err,
			 disk_full(s->ggdir) ? s->ggdir : s->staging_base, strerror(ENOSPC));
	else if (corrected == -ECHILD) /* the undeclared path was not why it failed */
		snprintf(msg, sizeof(msg), "exit status %d (outside the sandbox too)", r->status);
	else if (r->undeclared)
		snprintf(msg, sizeof(msg), "exit status %d; undeclared input '%s'", r->status,
			 r->undeclared);
	else if (r->denied)
		snprintf(msg, sizeof(msg), "exit status %d; denied: %s", r->status, r->denied);
	else if (err[0])
		snprintf(msg, sizeof(msg), "exit status %d: %s", r->status, err);
	else
		snprintf(msg, sizeof(msg), "exit status %d", r->status);
	s->stats->failed++;
	s->ndone++;
	emit(s, BUILD_EV_FAILED, node, j, msg, r->status);
	job_free(s, j);
	/* verify: its users' keys come from the tree, not from this run */
	plan_node_done(&s->plan, node, s->o->verify ? PLAN_DONE : PLAN_FAILED);
}

/*
 * What a run took becomes the node's weight for the next plan, as ninja's log keeps
 * the times of the last build: a remote worker's time for the command itself (not
 * its transfers), else the engine's.  A time close to the one known (within 20 ms,
 * or a factor of two) leaves it, so that noise does not rewrite the graph after
 * every build.
 */
static void note_duration(struct sched *s, size_t node, const struct engine_result *r)
{
	uint64_t ms = r->run_ms ? r->run_ms : r->ms, have = s->g->nodes[node].ms;

	ms = ms ? ms : 1; /* (0 in the graph: not known) */
	if (have && (ms < have + 20 && have < ms + 20)) /* (close in absolute terms) */
		return;
	if (have && ms <= 2 * have && have <= 2 * ms)
		return;
	s->g->nodes[node].ms = ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
	s->stats->weights_changed = true;
}

/* A run (PH_RUN) completed with engine ret `ret`. */
static void on_finished(struct sched *s, struct bjob *j, int ret)
{
	char msg[3 * PATH_MAX + 1024];
	struct engine_result *r = &j->res;
	bool full;

	s->running--;
	if (r->level && j->eng == ENG_MAIN)
		s->stats->level = r->level;
	if (ret == -ECANCELED) {
		node_canceled(s, j);
		return;
	}
	if (ret < 0 && r->infra && j->eng == ENG_MAIN && s->ops[ENG_FALLBACK]) {
		/* --fallback-local: the remote side kept failing it, not its command */
		snprintf(msg, sizeof(msg), "%s could not run it (%s): running it on the %s engine",
			 s->ops[ENG_MAIN]->name, r->err ? r->err : strerror(-ret),
			 s->ops[ENG_FALLBACK]->name);
		emit(s, BUILD_EV_NOTE, j->node, j, msg, 0);
		s->stats->fallbacks++;
		j->eng = ENG_FALLBACK;
		start_or_park(s, j); /* a new staging directory, a START event */
		return;
	}
	if (ret == 0 && r->ran && r->status == 0)
		note_duration(s, j->node, r);
	if (ret == 0 && r->ran && r->status == 0 && !r->err && j->recorded)
		adopt_host_run(s, j); /* (a declared output it did not make is an error) */
	if (ret == 0 && r->ran && r->status == 0 && !r->err) {
		if (s->o->verify) {
			if (verify_outputs(s, j, &r->outputs))
				s->stats->differs++;
		} else {
			struct cache_entry old;
			if (cache_get(s->ggdir, &j->key, &old) == 0) {
				for (size_t i = 0; i < old.n && i < r->outputs.n; i++) {
					if (!hash_equal(&old.v[i].value, &r->outputs.v[i].value)) {
						snprintf(msg, sizeof(msg),
							 "'%s' differs from the cached result of the same inputs",
							 r->outputs.v[i].path);
						s->stats->nondeterministic++;
						emit_output(s, BUILD_EV_NONDETERMINISTIC, j, msg,
							    r->outputs.v[i].path);
						break;
					}
				}
				cache_entry_release(&old);
			}
			if (cacheable(&s->g->nodes[j->node]) && !j->keyless &&
			    cache_put(s->ggdir, &j->key, &r->outputs) == 0)
				remote_remember(s, &j->key);
			if (materialize_all(s, &r->outputs, NULL) < 0) {
				size_t node = j->node;
				s->stats->failed++;
				s->ndone++;
				emit(s, BUILD_EV_FAILED, node, j, s->err, 1);
				job_free(s, j);
				plan_node_done(&s->plan, node, PLAN_FAILED);
				return;
			}
		}
		s->stats->ran++; /* (after materialization: a node counts once) */
		emit(s, BUILD_EV_DONE, j->node, j, NULL, 0);
		node_ok(s, j, &r->outputs, PLAN_DONE);
		return;
	}
	/* A command that failed with no room left for its outputs failed for that (its
	 * stderr, kept in the same place, may well be empty): say so, and neither run it
	 * again nor re-record it on the host, which would write the tree directly. */
	full = out_of_space(s, j);
	/* failed: find what it missed (supervised run), then re-record it; not a recorded
	 * host run, which failed in the tree itself */
	if (ret == 0 && r->ran && !j->supervise && j->tries == 0 && s->o->self_correct &&
	    !s->o->verify && !full && !j->recorded) {
		j->supervise = true;
		j->tries++;
		start_or_park(s, j); /* a new staging directory, a START event */
		return;
	}
	if (ret == 0 && r->ran && s->o->self_correct && !s->o->verify && !full && !j->recorded &&
	    ((r->undeclared && plausible_input(r->undeclared)) || j->must_run || j->edited)) {
		/* an edited source may read what the recording never saw (a new header in
		 * the tree, where the staging area hides it from the supervisor) */
		if (r->undeclared && plausible_input(r->undeclared))
			snprintf(msg, sizeof(msg), "undeclared input '%s': re-recording the command",
				 r->undeclared);
		else
			snprintf(msg, sizeof(msg), "failed after its inputs changed: re-recording the command");
		emit(s, BUILD_EV_NOTE, j->node, j, msg, 0);
		if (s->o->recorder) {
			free(j->note);
			j->note = strdup(msg);
			j->phase = PH_CORRECT;
			start_or_park(s, j);
			return;
		}
		fail_node(s, j, ret, -ENOTSUP);
		return;
	}
	fail_node(s, j, ret, 0);
}

/* A recorded host run that corrects the node (PH_PRE_CORRECT, PH_CORRECT) completed. */
static void on_corrected(struct sched *s, struct bjob *j, int ret)
{
	struct engine_result *h = &j->hres;
	struct cache_entry outs = { 0 };
	char tdir[PATH_MAX], err[1024];
	int corrected;

	if (ret == -ECANCELED) {
		node_canceled(s, j);
		return;
	}
	if (ret == 0 && h->ran && h->status == 0 && !h->err) {
		snprintf(tdir, sizeof(tdir), "%s/trace", j->hstaging);
		corrected = adopt_recording(s, j, tdir, &outs, err, sizeof(err));
	} else {
		corrected = ret < 0 ? ret : -ECHILD;
	}
	if (corrected == 0) {
		char *note = j->note;
		if (!j->keyless && cacheable(&s->g->nodes[j->node]))
			cache_put(s->ggdir, &j->key, &outs);
		s->stats->corrected++;
		j->note = NULL;
		emit(s, BUILD_EV_CORRECTED, j->node, j, j->phase == PH_CORRECT ? note : NULL, 0);
		free(note);
		node_ok(s, j, &outs, PLAN_DONE);
		return;
	}
	cache_entry_release(&outs);
	if (j->phase == PH_PRE_CORRECT) { /* run it in its engine after all */
		j->phase = PH_RUN;
		start_or_park(s, j);
		return;
	}
	fail_node(s, j, 0, corrected);
}

/* ---- handing nodes out ---------------------------------------------------------------- */

/*
 * A node just handed out: its key, then the cache, or a re-recording, or its
 * engine.  0 (the job may be gone already), or -errno: the build stops.
 */
/* ---- outputs looked at ahead (build_int.h, struct sched's ahead) -------------------- */

void build_touched(struct sched *s)
{
	statahead_free(s->ahead);
	s->ahead = NULL;
}

/* Start looking at every output of the graph, in the graph's order. */
static void start_ahead(struct sched *s)
{
	size_t n = 0;

	/* (a build of some targets looks at their outputs as it goes) */
	if (s->o->verify || s->o->no_cache || !s->g->n || s->o->ntargets)
		return;
	for (size_t i = 0; i < s->g->n; i++)
		n += s->g->nodes[i].noutputs;
	s->ahead_paths = malloc((n ? n : 1) * sizeof(*s->ahead_paths));
	s->ahead_first = malloc((s->g->n + 1) * sizeof(*s->ahead_first));
	if (!s->ahead_paths || !s->ahead_first)
		return; /* (freed with the build) no looking ahead */
	n = 0;
	for (size_t i = 0; i < s->g->n; i++) {
		s->ahead_first[i] = n;
		for (size_t k = 0; k < s->g->nodes[i].noutputs; k++)
			s->ahead_paths[n++] = s->g->nodes[i].outputs[k].path;
	}
	s->ahead_first[s->g->n] = n;
	(void)statahead_start(&s->ahead, s->ahead_paths, n);
}

/* A cache hit of `node`: its outputs' data taken ahead, handed to the stat cache. */
static void use_ahead(struct sched *s, size_t node, const struct cache_entry *hit)
{
	const struct graph_node *gn = &s->g->nodes[node];
	struct stat sb;

	if (!s->ahead)
		return;
	for (size_t i = 0; i < hit->n && i < gn->noutputs; i++)
		if (!strcmp(hit->v[i].path, gn->outputs[i].path) &&
		    statahead_get(s->ahead, s->ahead_first[node] + i, &sb))
			(void)statcache_validate(s->sc, hit->v[i].path, &sb);
}

static int open_engines(struct sched *s);

static int dispatch(struct sched *s, struct bjob *j)
{
	const struct graph_node *gn = &s->g->nodes[j->node];
	const struct build_opts *o = s->o;
	struct cache_entry hit;
	bool remote_hit = false;
	int ret = 0;

	if (!j->keyed || o->verify) {
		s->absent_ref[0] = '\0';
		ret = build_key_compute(s, j);
		if (o->verify)
			ret = verify_prepare(s, j, ret);
		if (ret < 0)
			return failf(s, ret, "cannot compute the key of '%s': %s", gn->label,
				     strerror(-ret));
		if (ret > 0)
			return 0; /* verify: nothing to compare with */
	}
	j->eng = gn->local ? ENG_HOST : ENG_MAIN;
	if (!o->no_cache && !o->verify && !s->forced[j->node] && !j->must_run && cacheable(gn) &&
	    (cache_get(s->ggdir, &j->key, &hit) == 0 || (remote_hit = remote_lookup(s, j, &hit)))) {
		bool store_fault = false;
		char note[PATH_MAX + 512];
		use_ahead(s, j->node, &hit);
		if ((ret = materialize_all(s, &hit, &store_fault)) == 0) {
			size_t node = j->node;
			s->stats->cached++;
			s->stats->remote_hits += remote_hit || j->remote_hit;
			node_ok(s, j, &hit, PLAN_CACHED);
			emit(s, BUILD_EV_CACHED, node, NULL, NULL, 0);
			return 0;
		}
		cache_entry_release(&hit);
		if (!store_fault)
			return ret;
		/* The result is known but the store lost or damaged one of its blobs: a
		 * miss.  Running the thunk stores its outputs again. */
		snprintf(note, sizeof(note), "%s: running it again", s->err);
		s->err[0] = '\0';
		emit(s, BUILD_EV_NOTE, j->node, j, note, 0);
	}
	if (j->must_run && o->self_correct && !o->verify && o->recorder) {
		/* a path it found missing exists now, or an input is gone: what it reads
		 * has changed beyond what the sandbox can show it */
		emit(s, BUILD_EV_NOTE, j->node, j, "its inputs changed shape: re-recording the command",
		     0);
		j->phase = PH_PRE_CORRECT;
	}
	if (!s->engines_open && (ret = open_engines(s)) < 0)
		return ret;
	start_or_park(s, j);
	return 0;
}

/* Every parked job of a stopped build is canceled. */
static void drop_parked(struct sched *s)
{
	for (int e = 0; e < NENG; e++) {
		struct bjob *j;
		while ((j = unpark(s, e))) {
			if (j->phase == PH_RUN)
				s->running++; /* (node_canceled by way of on_finished) */
			if (j->phase == PH_RUN)
				on_finished(s, j, -ECANCELED);
			else
				on_corrected(s, j, -ECANCELED);
		}
	}
}

/*
 * Take another node from the plan?  When the main engine has room; or when the
 * host has room, the graph has local-only nodes and no node waits for the main
 * engine already: at most one node is parked for the main engine, so the plan's
 * order (longest critical path first) is what the main engine sees, but for one.
 */
static bool room(struct sched *s)
{
	if (!s->engines_open)
		return true; /* (opened by the first node that runs) */
	return s->ops[ENG_MAIN]->can_start_more(s->eng[ENG_MAIN]) ||
	       (s->any_local && !s->park_head[ENG_MAIN] &&
		s->ops[ENG_HOST]->can_start_more(s->eng[ENG_HOST]));
}

/*
 * Start what can start: parked jobs first, then nodes from the plan while an
 * engine has room (cache hits take none, so a cached build runs through here).
 */
static int feed(struct sched *s)
{
	size_t batch_max = s->o->remote && s->o->remote->fetch && !s->o->no_cache ? REMOTE_BATCH : 1;
	struct bjob *one[1], **batch = one;
	int ret = 0;

	if (batch_max > 1 && !(batch = calloc(batch_max, sizeof(*batch))))
		batch_max = 1, batch = one;
	for (;;) {
		size_t n = 0, node;

		for (int e = 0; e < NENG; e++)
			while (s->park_head[e] && s->ops[e]->can_start_more(s->eng[e]))
				launch(s, unpark(s, e));
		if (s->plan.stopped || s->canceled) {
			drop_parked(s);
			break;
		}
		if (s->nparked >= PARK_MAX || !room(s))
			break;
		while (n < batch_max && plan_next_ready(&s->plan, &node)) {
			if (!(batch[n] = job_new(s, node, &ret)))
				goto out;
			n++;
		}
		if (!n)
			break;
		if (n > 1)
			remote_prefetch(s, batch, n);
		for (size_t i = 0; i < n; i++)
			if ((ret = dispatch(s, batch[i])) < 0)
				goto out; /* (the jobs left are freed with the others) */
	}
out:
	if (batch != one)
		free(batch);
	return ret;
}

/* ---- setup ---------------------------------------------------------------------------- */

static size_t dag_deps(void *ctx, size_t node, const size_t **deps)
{
	const struct graph *g = ctx;
	*deps = g->nodes[node].deps;
	return g->nodes[node].ndeps;
}

/* A node's recorded duration (ms; 0 when not known): the plan's weight. */
static uint64_t dag_weight(void *ctx, size_t node)
{
	const struct graph *g = ctx;
	return g->nodes[node].ms;
}

/*
 * Targets and forced hashes as node indexes; plan_init closes over the deps and
 * orders the ready nodes by their longest path in recorded time.
 */
static int select_nodes(struct sched *s)
{
	struct graph *g = s->g;
	size_t *t = calloc(s->o->ntargets + s->o->nforce + 1, sizeof(*t)), nt = 0;
	struct plan_dag dag = { .n = g->n, .deps = dag_deps, .weight = dag_weight, .ctx = g };
	const struct engine_ops *eng = s->o->engine; /* NULL: local, which has no own_pct */
	unsigned own = eng && eng->own_pct ? eng->own_pct(s->o->engine_params) : 0;
	struct plan_opts po = { .keep_going = s->o->keep_going || s->o->verify,
				.on_final = on_final, .ctx = s, .own_pct = own };
	int ret = 0;

	if (!t)
		return failf(s, -ENOMEM, "out of memory");
	for (size_t i = 0; i < s->o->ntargets; i++) {
		long n = graph_find_path(g, s->o->targets[i], NULL);
		if (n < 0) {
			ret = failf(s, -ENOENT, "no thunk produces '%s'", s->o->targets[i]);
			goto out;
		}
		t[nt++] = (size_t)n;
	}
	for (size_t i = 0; i < s->o->nforce; i++) {
		long n = graph_find_hash(g, &s->o->force[i]);
		char hex[GG_HASH_HEX_SIZE];
		if (n < 0) {
			ret = failf(s, -ENOENT, "no thunk '%s' in the graph",
				    hash_to_hex(&s->o->force[i], hex));
			goto out;
		}
		s->forced[n] = 1;
		t[nt++] = (size_t)n;
	}
	s->plan_ok = true;
	ret = plan_init(&s->plan, &dag, nt ? t : NULL, nt, &po);
	if (ret == -ELOOP && s->plan.ncycle)
		failf(s, ret, "the graph has a cycle through '%s'",
		      g->nodes[s->plan.cycle[0]].label);
	else if (ret < 0)
		failf(s, ret, "cannot plan the build: %s", strerror(-ret));
out:
	free(t);
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
	struct strset seen = STRSET_INIT;
	int ret = 0;

	for (size_t i = 0; i < s->g->n && ret >= 0; i++) {
		const struct graph_node *gn = &s->g->nodes[i];
		if (plan_state_of(&s->plan, i) == PLAN_UNSELECTED)
			continue;
		s->any_local |= gn->local != 0;
		for (size_t k = 0; k < gn->noutputs && ret >= 0; k++) {
			const char *slash = strrchr(gn->outputs[k].path, '/');
			char dir[PATH_MAX];
			if (!slash || slash == gn->outputs[k].path ||
			    (size_t)(slash - gn->outputs[k].path) >= sizeof(dir))
				continue;
			memcpy(dir, gn->outputs[k].path, (size_t)(slash - gn->outputs[k].path));
			dir[slash - gn->outputs[k].path] = '\0';
			if (strset_has(&seen, dir))
				continue;
			if ((ret = strset_add(&seen, dir)) < 0)
				break;
			materialize_sweep(dir, NULL);
		}
	}
	strset_release(&seen);
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
 * The engines: opts' or the registry's, one instance each, and the level check;
 * done for the first job that runs (a build that only takes results from the
 * cache starts no engine: the local one forks a helper and probes the sandbox).
 */
static int open_engines(struct sched *s)
{
	const struct build_opts *o = s->o;
	struct engine_config cfg = { .st = &s->st, .ggdir = s->ggdir,
				     .slots = o->jobs > 0 ? (unsigned)o->jobs : 0 };
	char why[256] = "";
	int ret, level;

	s->engines_open = true;
	pick_staging(s);
	s->ops[ENG_MAIN] = o->engine ? o->engine : engines_find("local");
	s->ops[ENG_HOST] = o->host_engine ? o->host_engine : engines_find("host");
	s->ops[ENG_FALLBACK] = o->fallback_engine; /* NULL: none */
	for (int e = 0; e < NENG; e++) {
		char err[512];
		if (!s->ops[e])
			continue;
		cfg.params = e == ENG_MAIN ? o->engine_params : NULL;
		if (e == ENG_FALLBACK)
			cfg.slots = 0; /* the engine's default (the cores), not the remote -j */
		if ((ret = s->ops[e]->create(&cfg, &s->eng[e], err, sizeof(err))) < 0)
			return failf(s, ret, "cannot start the %s engine: %s", s->ops[e]->name, err);
	}
	level = s->ops[ENG_MAIN]->level ? s->ops[ENG_MAIN]->level(s->eng[ENG_MAIN], why, sizeof(why))
					 : 0;
	s->stats->level = level;
	snprintf(s->stats->level_why, sizeof(s->stats->level_why), "%s", why);
	if (o->require_level && level > o->require_level)
		return failf(s, -EPERM, "the sandbox here is level %d (%s), level %d is required",
			     level, why, o->require_level);
	return 0;
}

/* Abort every engine and wait for what is in flight (their completions free jobs). */
static void drain_engines(struct sched *s)
{
	struct engine_done done[COLLECT_MAX];

	for (int e = 0; e < NENG; e++)
		if (s->eng[e] && s->inflight[e])
			s->ops[e]->abort(s->eng[e]);
	for (;;) {
		struct pollfd pfd[NENG];
		int map[NENG], npfd = 0;
		for (int e = 0; e < NENG; e++)
			if (s->eng[e] && s->inflight[e]) {
				pfd[npfd] = (struct pollfd){ .fd = s->ops[e]->fd(s->eng[e]), .events = POLLIN };
				map[npfd++] = e;
			}
		if (!npfd)
			break;
		if (poll(pfd, (nfds_t)npfd, -1) < 0 && errno != EINTR)
			break;
		for (int k = 0; k < npfd; k++) {
			int e = map[k], n;
			if (!(pfd[k].revents & (POLLIN | POLLERR | POLLHUP)))
				continue;
			n = s->ops[e]->collect(s->eng[e], done, COLLECT_MAX);
			for (int i = 0; i < n; i++) {
				s->inflight[e]--;
				job_free(s, s->job[done[i].tag]);
			}
			if (n < 0) { /* a broken engine: nothing more will come */
				s->inflight[e] = 0;
			}
		}
	}
}

static void cancel_all(struct sched *s)
{
	s->canceled = true;
	plan_cancel(&s->plan);
	drop_parked(s);
	for (int e = 0; e < NENG; e++)
		if (s->inflight[e])
			s->ops[e]->abort(s->eng[e]);
}

static bool cancelled(const struct sched *s)
{
	struct pollfd p = { .fd = s->o->cancel_fd, .events = POLLIN };
	return s->canceled || (s->o->cancel_fd >= 0 && poll(&p, 1, 0) > 0);
}

/* Wait for the cancel descriptor or a completion, and take what came. */
static int wait_and_collect(struct sched *s)
{
	struct engine_done done[COLLECT_MAX];
	struct pollfd pfd[NENG + 1];
	int map[NENG + 1], npfd = 0;

	if (s->o->cancel_fd >= 0 && !s->canceled) {
		pfd[npfd] = (struct pollfd){ .fd = s->o->cancel_fd, .events = POLLIN };
		map[npfd++] = -1;
	}
	for (int e = 0; e < NENG; e++)
		if (s->inflight[e]) {
			pfd[npfd] = (struct pollfd){ .fd = s->ops[e]->fd(s->eng[e]), .events = POLLIN };
			map[npfd++] = e;
		}
	if (!s->inflight[ENG_MAIN] && !s->inflight[ENG_HOST] && !s->inflight[ENG_FALLBACK])
		return failf(s, -EDEADLK, "nothing runs and nothing can start (%zu nodes unfinished)",
			     s->nsel - s->ndone);
	if (poll(pfd, (nfds_t)npfd, -1) < 0)
		return errno == EINTR ? 0 : failf(s, -errno, "poll: %s", strerror(errno));
	for (int k = 0; k < npfd; k++) {
		int e = map[k], n;
		if (!(pfd[k].revents & (POLLIN | POLLERR | POLLHUP)))
			continue;
		if (e < 0) {
			cancel_all(s);
			continue;
		}
		n = s->ops[e]->collect(s->eng[e], done, COLLECT_MAX);
		if (n < 0)
			return failf(s, n, "the %s engine failed: %s", s->ops[e]->name, strerror(-n));
		for (int i = 0; i < n; i++) {
			struct bjob *j = done[i].tag < s->g->n ? s->job[done[i].tag] : NULL;
			s->inflight[e]--;
			if (!j)
				continue;
			if (j->phase == PH_RUN)
				on_finished(s, j, done[i].ret);
			else
				on_corrected(s, j, done[i].ret);
		}
	}
	if (s->plan.stopped)
		drop_parked(s);
	return 0;
}

/*
 * Write the thunk pack (blobpack.h) of every thunk of the graph when at least
 * BLOBPACK_MIN of them are not in the current pack (a new graph, or the first
 * build), so the next build reads them from one file instead of one file each.
 * An optimisation: a failure changes nothing but the speed.
 */
static void pack_thunks(struct sched *s)
{
	struct gg_hash *h;
	size_t loose = 0;

	for (size_t i = 0; i < s->g->n && loose < BLOBPACK_MIN; i++)
		loose += !blobpack_has(s->st.pack, &s->g->nodes[i].hash);
	if (loose < BLOBPACK_MIN || !(h = malloc(s->g->n * sizeof(*h))))
		return;
	for (size_t i = 0; i < s->g->n; i++)
		h[i] = s->g->nodes[i].hash;
	(void)blobpack_write(&s->st, GG_HASH_THUNK, h, s->g->n, NULL, 0);
	free(h);
}

int build_run(const char *ggdir, struct graph *g, const struct build_opts *opts,
	      struct build_stats *stats, char *errbuf, size_t errlen)
{
	struct sched s = { .ggdir = ggdir, .g = g, .o = opts, .stats = stats, .err = errbuf,
			   .errlen = errlen, .st = STORE_INIT, .plan = PLAN_INIT,
			   .made_dirs = STRSET_INIT };
	int ret = 0;

	memset(stats, 0, sizeof(*stats));
	errbuf[0] = '\0';
	start_ahead(&s);
	if ((ret = store_init(&s.st, ggdir, STORE_CREATE)) < 0) {
		failf(&s, ret, "cannot open the store in '%s': %s", ggdir, strerror(-ret));
		goto out;
	}
	(void)store_pack_reopen(&s.st); /* no pack: every thunk from its loose blob */
	if (statcache_open(&s.sc, ggdir) < 0) {
		ret = failf(&s, -ENOMEM, "out of memory");
		goto out;
	}
	if ((ret = check_stale(&s)) < 0)
		goto out;
	s.result = calloc(g->n + 1, sizeof(*s.result));
	s.forced = calloc(g->n + 1, sizeof(*s.forced));
	s.job = calloc(g->n + 1, sizeof(*s.job));
	if (!s.result || !s.forced || !s.job) {
		ret = failf(&s, -ENOMEM, "out of memory");
		goto out;
	}
	if ((ret = select_nodes(&s)) < 0)
		goto out;
	if ((ret = sweep_temps(&s)) < 0) {
		failf(&s, ret, "out of memory");
		goto out;
	}
	s.nsel = stats->total = plan_counts(&s.plan)->selected;

	while (!plan_finished(&s.plan)) {
		if ((ret = feed(&s)) < 0)
			goto out_drain;
		if (plan_finished(&s.plan))
			break;
		if ((ret = wait_and_collect(&s)) < 0)
			goto out_drain;
	}
	stats->keys_ms = (size_t)(s.keys_ns / 1000000);
	ret = 0;
	if (cancelled(&s))
		ret = failf(&s, -ECANCELED, "interrupted");
	else if (stats->failed || stats->skipped)
		ret = -ENOTRECOVERABLE;
	if (!opts->verify) { /* ninja's records of what was built (driverlog.h): a warning at worst */
		char why[1100] = "warning: ninja's logs not updated: ";
		if (driverlog_commit(&s.dl, why + strlen(why), sizeof(why) - strlen(why)) < 0)
			emit(&s, BUILD_EV_NOTE, SIZE_MAX, NULL, why, 0);
	}
	remote_publish(&s); /* what ran */
	if (!cancelled(&s))
		pack_thunks(&s);
	goto out;
out_drain:
	drain_engines(&s);
	{
		char why[64];
		driverlog_commit(&s.dl, why, sizeof(why)); /* (frees it; the error is the build's) */
	}
out:
	build_touched(&s);
	free(s.ahead_paths);
	free(s.ahead_first);
	for (size_t i = 0; s.job && i < g->n; i++)
		job_free(&s, s.job[i]);
	for (int e = 0; e < NENG; e++)
		if (s.eng[e])
			s.ops[e]->free(s.eng[e]);
	if (s.sc) {
		statcache_save(s.sc);
		statcache_free(s.sc);
	}
	for (size_t i = 0; s.result && i < g->n; i++)
		cache_entry_release(&s.result[i]);
	free(s.result);
	free(s.forced);
	free(s.job);
	free(s.pub);
	strset_release(&s.made_dirs);
	build_key_memo_release(&s.memo);
	plan_release(&s.plan);
	store_release(&s.st);
	return ret;
}
