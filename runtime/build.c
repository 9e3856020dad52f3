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

#include "build.h"
#include "cache.h"
#include "engine.h"
#include "ggdir.h"
#include "infer.h"
#include "materialize.h"
#include "sbx.h"
#include "statcache.h"
#include "store.h"
#include "thunk.h"
#include "trace_format.h"
#include "trace_read.h"
#include "util.h"

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
	struct cache_entry result; /* outputs as they are now (DONE) */
	/* execution */
	char staging[PATH_MAX - 64]; /* room for "/stderr" and friends in PATH_MAX */
	struct engine_result res;
	int engine_ret;
	bool supervise;
	unsigned tries;
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
	p = &s->n[pn];
	if (p->state != B_DONE || output >= p->result.n)
		return -EAGAIN;
	*value = p->result.v[output].value;
	return 0;
}

static int list_hash(const char *dir, struct gg_hash *out)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	const char **names = NULL;
	size_t n = 0, alloc = 0;
	int ret;
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
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
		    graph_find_path(s->g, b->cur.missing.v[i], NULL) < 0)
			b->must_run = true; /* (a thunk's output is there by the graph's order) */
	for (size_t i = 0; i < b->cur.listings.n; i++) {
		struct gg_hash h;
		if (list_hash(b->cur.listings.v[i].path, &h) == 0)
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
		int ret = materialize(&s->st, s->sc, o->path, &o->value, o->mode, NULL);
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

/* ---- self-correction -------------------------------------------------------------------- */

struct rename { struct gg_hash from, to; size_t node; };

/*
 * A node's thunk changed (re-recorded): its users name it by hash, so rewrite them,
 * and their users in turn, in topological order (each gets a new hash too).
 */
static int rehash_users(struct sched *s, size_t first, const struct gg_hash *old)
{
	struct rename *map = calloc(s->g->n + 1, sizeof(*map));
	size_t nmap = 0;
	int ret = 0;

	if (!map)
		return -ENOMEM;
	map[nmap++] = (struct rename){ *old, s->g->nodes[first].hash, first };
	for (size_t j = first + 1; j < s->g->n; j++) {
		struct graph_node *gn = &s->g->nodes[j];
		struct bnode *b = &s->n[j];
		struct thunk tmp, *th = &b->th;
		bool touched = false, loaded = false;
		char *buf = NULL;
		size_t len;

		for (size_t k = 0; k < gn->ndeps && !touched; k++)
			for (size_t m = 0; m < nmap && !touched; m++)
				touched = gn->deps[k] == map[m].node;
		if (!touched)
			continue;
		if (!b->selected) { /* not loaded by this build */
			if ((ret = thunk_load(&s->st, &gn->hash, &tmp)) < 0)
				goto out;
			th = &tmp;
			loaded = true;
		}
		for (size_t i = 0; i < th->inputs.n; i++) {
			struct thunk_input *in = &th->inputs.v[i];
			for (size_t m = 0; m < nmap; m++) {
				const struct graph_node *p = &s->g->nodes[map[m].node];
				if (in->hash.kind != GG_HASH_THUNK || !hash_equal(&in->hash, &map[m].from))
					continue;
				in->hash = map[m].to;
				for (size_t o = 0; o < p->noutputs; o++)
					if (!strcmp(p->outputs[o].path, in->path))
						in->output = (uint32_t)o;
			}
		}
		buf = NULL;
		if ((ret = thunk_encode(th, &buf, &len)) == 0) {
			map[nmap].from = gn->hash;
			map[nmap].node = j;
			ret = store_put_buf(&s->st, GG_HASH_THUNK, buf, len, &gn->hash);
			map[nmap++].to = gn->hash;
		}
		free(buf);
		if (loaded)
			thunk_release(&tmp);
		if (ret < 0)
			goto out;
	}
out:
	graph_reindex(s->g);
	free(map);
	return ret;
}

/*
 * Run the thunk's command on the host under the shim, infer a thunk from that
 * recording and put it in place of the node's: the typical case is an edited source
 * that now includes a header the recorded thunk never declared.
 */
static int self_correct(struct sched *s, struct bnode *b)
{
	char tdir[PATH_MAX + 16], err[512], *env_pre = NULL, *env_dir = NULL;
	struct trace t;
	struct graph mini;
	struct infer_stats ist;
	struct infer_opts io = { .tree = s->g->tree };
	const struct thunk *th = &b->th;
	char **envp = NULL, **argv = NULL;
	size_t ne = 0;
	pid_t pid;
	int status = 0, ret;

	if (!s->o->shim || !s->o->self_correct)
		return -ENOTSUP;
	snprintf(tdir, sizeof(tdir), "%s/trace", b->staging);
	if ((ret = ggdir_mkdirs(tdir)) < 0)
		return ret;
	if (asprintf(&env_pre, "LD_PRELOAD=%s", s->o->shim) < 0 ||
	    asprintf(&env_dir, "%s=%s", GG_ENV_TRACE_DIR, tdir) < 0) {
		ret = -ENOMEM;
		goto out;
	}
	envp = calloc(th->env.n + 3, sizeof(*envp));
	argv = thunk_strv_dup(&th->argv);
	if (!envp || !argv) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < th->env.n; i++)
		envp[ne++] = th->env.v[i];
	envp[ne++] = env_pre;
	envp[ne++] = env_dir;
	pid = fork();
	if (pid < 0) {
		ret = -errno;
		goto out;
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDWR);
		int errfd = open(b->res.stderr_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (devnull >= 0) {
			dup2(devnull, 0);
			dup2(devnull, 1);
		}
		if (errfd >= 0)
			dup2(errfd, 2);
		umask(th->umask);
		if (th->cwd && chdir(th->cwd) < 0)
			_exit(127);
		execve(th->exe.path, argv, envp);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		ret = -ECHILD;
		goto out;
	}
	if ((ret = trace_open_dir(&t, tdir, NULL)) < 0) {
		trace_release(&t);
		goto out;
	}
	ret = infer_run(&t, &s->st, s->sc, &io, &mini, &ist, NULL, err, sizeof(err));
	trace_release(&t);
	if (ret < 0)
		goto out;
	if (mini.n != 1) {
		graph_release(&mini);
		ret = -EPROTO;
		goto out;
	}
	/* the new thunk replaces the node's: same place in the graph, new hash */
	{
		struct graph_node *gn = &s->g->nodes[b->idx], *nn = &mini.nodes[0];
		struct cache_entry outs = { 0 };
		thunk_release(&b->th);
		if ((ret = thunk_load(&s->st, &nn->hash, &b->th)) < 0) {
			graph_release(&mini);
			goto out;
		}
		struct gg_hash old = gn->hash;
		gn->hash = nn->hash;
		gn->local = nn->local;
		outs.v = calloc(nn->noutputs + 1, sizeof(*outs.v));
		if (!outs.v) {
			graph_release(&mini);
			ret = -ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < nn->noutputs; i++) {
			outs.v[i].path = strdup(nn->outputs[i].path);
			outs.v[i].value = nn->outputs[i].value;
			outs.v[i].mode = nn->outputs[i].mode;
			outs.n = i + 1;
		}
		/* the graph keeps its own outputs list: take the new one */
		for (size_t i = 0; i < gn->noutputs; i++)
			free(gn->outputs[i].path);
		free(gn->outputs);
		gn->outputs = nn->outputs;
		gn->noutputs = nn->noutputs;
		nn->outputs = NULL;
		nn->noutputs = 0;
		graph_release(&mini);
		graph_reindex(s->g); /* a hash and paths changed */
		if ((ret = rehash_users(s, b->idx, &old)) < 0) {
			cache_entry_release(&outs);
			goto out;
		}
		if (compute_key(s, b) == 0)
			cache_put(s->ggdir, &b->key, &outs);
		finish_ok(s, b, &outs);
		cache_entry_release(&outs);
	}
	ret = 0;
out:
	free(env_pre);
	free(env_dir);
	free(envp);
	free(argv);
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
		s->ndone++;
		return;
	}
	if (b->engine_ret == 0 && r->ran && r->status == 0 && !r->err[0]) {
		s->stats->ran++;
		if (s->o->verify) {
			const struct graph_node *gn = &s->g->nodes[b->idx];
			for (size_t i = 0; i < r->outputs.n && i < gn->noutputs; i++) {
				if (hash_is_set(&gn->outputs[i].value) &&
				    !hash_equal(&gn->outputs[i].value, &r->outputs.v[i].value)) {
					snprintf(msg, sizeof(msg), "'%s' differs from the recorded build's",
						 r->outputs.v[i].path);
					s->stats->differs++;
					emit(s, BUILD_EV_DIFFERS, b, msg, 0);
					break;
				}
			}
		} else {
			struct cache_entry old;
			if (cache_get(s->ggdir, &b->key, &old) == 0) {
				for (size_t i = 0; i < old.n && i < r->outputs.n; i++) {
					if (!hash_equal(&old.v[i].value, &r->outputs.v[i].value)) {
						snprintf(msg, sizeof(msg),
							 "'%s' differs from the cached result of the same inputs",
							 r->outputs.v[i].path);
						s->stats->nondeterministic++;
						emit(s, BUILD_EV_NONDETERMINISTIC, b, msg, 0);
						break;
					}
				}
				cache_entry_release(&old);
			}
			if (cacheable(&s->g->nodes[b->idx]))
				cache_put(s->ggdir, &b->key, &r->outputs);
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
		emit(s, BUILD_EV_DONE, b, NULL, 0);
		finish_ok(s, b, &r->outputs);
		rm_rf(b->staging);
		return;
	}
	/* A command that failed with no room left for its outputs failed for that (its
	 * stderr, kept in the same place, may well be empty): say so, and neither run it
	 * again nor re-record it on the host, which would write the tree directly. */
	full = out_of_space(s, b);
	/* failed: find what it missed (supervised run), then re-record it */
	if (b->engine_ret == 0 && r->ran && !b->supervise && b->tries == 0 && s->o->self_correct &&
	    !s->o->verify && !full) {
		b->supervise = true;
		b->tries++;
		cache_entry_release(&r->outputs);
		rm_rf(b->staging); /* submit() makes a new one */
		submit(s, b);
		return;
	}
	if (b->engine_ret == 0 && r->ran && s->o->self_correct && !s->o->verify && !full &&
	    ((r->undeclared[0] && plausible_input(r->undeclared)) || b->must_run || b->edited)) {
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
	snprintf(s->staging_base, sizeof(s->staging_base), "/dev/shm/gg-%d", (int)geteuid());
	if (statfs("/dev/shm", &fs) == 0 && fs.f_type == TMPFS_MAGIC &&
	    (mkdir(s->staging_base, 0700) == 0 || errno == EEXIST) &&
	    access(s->staging_base, W_OK) == 0)
		return;
	snprintf(s->staging_base, sizeof(s->staging_base), "%s/tmp", s->ggdir);
	mkdir(s->staging_base, 0755);
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
		if ((ret = thunk_load(&s.st, &g->nodes[i].hash, &b->th)) < 0) {
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
		bool stop = s.quit || cancelled(&s) || (!opts->keep_going && stats->failed);
		if (stop && !s.quit) {
			s.quit = true;
			pthread_mutex_lock(&s.mu);
			s.ntodo = 0; /* drop what has not started */
			pthread_mutex_unlock(&s.mu);
		}
		/* ready nodes, in graph (topological) order */
		for (size_t i = 0; i < g->n && !s.quit && s.running < (size_t)s.nworkers; i++) {
			struct bnode *b = &s.n[i];
			struct cache_entry hit;
			if (!b->selected || b->state != B_READY)
				continue;
			progressed = true;
			if ((ret = compute_key(&s, b)) < 0) {
				failf(&s, ret, "cannot compute the key of '%s': %s", g->nodes[i].label,
				      strerror(-ret));
				goto out_join;
			}
			if (!opts->no_cache && !opts->verify && !b->forced && !b->must_run &&
			    cacheable(&g->nodes[i]) && cache_get(ggdir, &b->key, &hit) == 0) {
				bool store_fault = false;
				char note[PATH_MAX + 512];
				if ((ret = materialize_all(&s, &hit, &store_fault)) == 0) {
					stats->cached++;
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
	ret = 0;
	if (cancelled(&s))
		ret = failf(&s, -ECANCELED, "interrupted");
	else if (stats->failed || stats->skipped || s.ndone < s.nsel)
		ret = -ENOTRECOVERABLE;
out_join:
	pthread_mutex_lock(&s.mu);
	s.quit = true;
	pthread_cond_broadcast(&s.cv_todo);
	pthread_mutex_unlock(&s.mu);
	for (int w = 0; w < s.nworkers; w++)
		if (s.workers[w])
			pthread_join(s.workers[w], NULL);
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
		cache_entry_release(&s.n[i].res.outputs);
		free(s.n[i].users);
	}
	free(s.n);
	free(s.todo);
	free(s.fin);
	free(s.workers);
	store_release(&s.st);
	pthread_mutex_destroy(&s.mu);
	pthread_cond_destroy(&s.cv_todo);
	pthread_cond_destroy(&s.cv_done);
	return ret;
}
