/*
 * pool.c - worker threads for the engines that run processes here (pool.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/engine/pool.h"
#include "runtime/ir/thunk.h"
#include "runtime/store/store.h"
#include "sandbox/sbx.h"

struct pool_item {
	struct engine_job job;
	struct engine_result *res;
	int ret;
};

struct pool {
	pool_run_fn *run;
	void *ctx;
	unsigned slots;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct pool_item *queued; /* ring of slots: started, not yet picked by a thread */
	size_t queued_head, nqueued;
	struct pool_item *done;   /* ring of slots: finished, not collected */
	size_t done_head, ndone;
	size_t inflight;          /* queued + running + done */
	size_t idle;              /* workers waiting for a job */
	pthread_t *threads;
	size_t nthreads;
	bool quit, aborted;
	int efd;
	int cancel[2];            /* made readable by pool_abort */
};

static void push(struct pool_item *ring, size_t cap, size_t head, size_t *n,
		 const struct pool_item *it)
{
	ring[(head + (*n)++) % cap] = *it;
}

static struct pool_item pop(struct pool_item *ring, size_t cap, size_t *head, size_t *n)
{
	struct pool_item it = ring[*head];
	*head = (*head + 1) % cap;
	(*n)--;
	return it;
}

static void wake(struct pool *p)
{
	uint64_t one = 1;
	ssize_t r = write(p->efd, &one, sizeof(one));
	(void)r; /* a full counter is readable anyway */
}

static void *worker(void *arg)
{
	struct pool *p = arg;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		struct pool_item it;

		while (!p->nqueued && !p->quit) {
			p->idle++;
			pthread_cond_wait(&p->cv, &p->mu);
			p->idle--;
		}
		if (!p->nqueued)
			break;
		it = pop(p->queued, p->slots, &p->queued_head, &p->nqueued);
		pthread_mutex_unlock(&p->mu);
		it.ret = p->run(p->ctx, &it.job, p->cancel[0], it.res);
		pthread_mutex_lock(&p->mu);
		push(p->done, p->slots, p->done_head, &p->ndone, &it);
		wake(p);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

int pool_create(unsigned slots, pool_run_fn *run, void *ctx, struct pool **out, char *err,
		size_t errlen)
{
	struct pool *p;
	int ret;

	if (!slots) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		slots = n > 0 ? (unsigned)n : 1;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	p->run = run;
	p->ctx = ctx;
	p->slots = slots;
	p->efd = p->cancel[0] = p->cancel[1] = -1;
	p->queued = calloc(slots, sizeof(*p->queued));
	p->done = calloc(slots, sizeof(*p->done));
	p->threads = calloc(slots, sizeof(*p->threads));
	if (!p->queued || !p->done || !p->threads) {
		ret = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out_free;
	}
	p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (p->efd < 0 || pipe2(p->cancel, O_CLOEXEC | O_NONBLOCK) < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot make the engine's descriptors: %s", strerror(errno));
		goto out_close;
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	*out = p;
	return 0;
out_close:
	if (p->efd >= 0)
		close(p->efd);
out_free:
	free(p->queued);
	free(p->done);
	free(p->threads);
	free(p);
	return ret;
}

void pool_free(struct pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->quit = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (size_t i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	sbx_reap(); /* the sandboxes' inits still exiting (local engine) */
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	close(p->efd);
	close(p->cancel[0]);
	close(p->cancel[1]);
	free(p->queued);
	free(p->done);
	free(p->threads);
	free(p);
}

bool pool_can_start_more(struct pool *p)
{
	bool more;
	pthread_mutex_lock(&p->mu);
	more = !p->aborted && p->inflight < p->slots;
	pthread_mutex_unlock(&p->mu);
	return more;
}

int pool_start(struct pool *p, const struct engine_job *job, struct engine_result *res)
{
	struct pool_item it = { .job = *job, .res = res, .ret = 0 };
	int ret = 0;

	pthread_mutex_lock(&p->mu);
	if (p->aborted) {
		ret = -ECANCELED;
		goto out_unlock;
	}
	if (p->inflight >= p->slots) {
		ret = -EAGAIN;
		goto out_unlock;
	}
	if (!p->idle && p->nthreads < p->slots) {
		if ((ret = -pthread_create(&p->threads[p->nthreads], NULL, worker, p)) < 0 &&
		    !p->nthreads)
			goto out_unlock; /* no worker at all: nothing would run it */
		if (ret == 0)
			p->nthreads++;
		ret = 0;
	}
	push(p->queued, p->slots, p->queued_head, &p->nqueued, &it);
	p->inflight++;
	pthread_cond_signal(&p->cv);
out_unlock:
	pthread_mutex_unlock(&p->mu);
	return ret;
}

int pool_fd(struct pool *p)
{
	return p->efd;
}

int pool_collect(struct pool *p, struct engine_done *done, size_t max)
{
	uint64_t cnt;
	size_t n = 0;

	if (read(p->efd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
		return -errno;
	pthread_mutex_lock(&p->mu);
	while (n < max && p->ndone) {
		struct pool_item it = pop(p->done, p->slots, &p->done_head, &p->ndone);
		done[n].tag = it.job.tag;
		done[n].ret = it.ret;
		n++;
		p->inflight--;
	}
	if (p->ndone)
		wake(p);
	pthread_mutex_unlock(&p->mu);
	return (int)n;
}

void pool_abort(struct pool *p)
{
	char c = 'x';
	ssize_t r;

	pthread_mutex_lock(&p->mu);
	if (!p->aborted) {
		p->aborted = true;
		r = write(p->cancel[1], &c, 1);
		(void)r; /* a pipe with a byte in it stays readable */
	}
	while (p->nqueued) { /* never started: complete them now */
		struct pool_item it = pop(p->queued, p->slots, &p->queued_head, &p->nqueued);
		it.ret = -ECANCELED;
		push(p->done, p->slots, p->done_head, &p->ndone, &it);
	}
	if (p->ndone)
		wake(p);
	pthread_mutex_unlock(&p->mu);
}

/* engine_store_outputs; adopt: store_adopt_file's flags for regular files */
static int store_outputs(struct store *st, const char *root, const struct thunk *th,
			 bool optional, unsigned adopt, struct engine_result *res)
{
	res->outputs.v = calloc(th->outputs.n + 1, sizeof(*res->outputs.v));
	if (!res->outputs.v)
		return -ENOMEM;
	for (size_t i = 0; i < th->outputs.n; i++) {
		struct cache_output *o = &res->outputs.v[res->outputs.n];
		const char *out = th->outputs.v[i];
		char path[PATH_MAX * 2];
		struct stat sb;
		int ret;

		snprintf(path, sizeof(path), "%s%s", root, out);
		if (lstat(path, &sb) < 0) {
			if (optional)
				continue;
			engine_result_errf(res, "the command did not produce '%s'", out);
			return -ENOENT;
		}
		if (S_ISLNK(sb.st_mode)) {
			char target[PATH_MAX];
			ssize_t n = readlink(path, target, sizeof(target));
			if (n < 0)
				return -errno;
			ret = store_put_buf(st, GG_HASH_VALUE, target, (size_t)n, &o->value);
		} else if (S_ISREG(sb.st_mode)) {
			ret = store_adopt_file(st, path, adopt, &o->value, NULL);
		} else {
			engine_result_errf(res, "output '%s' is not a file", out);
			return -EINVAL;
		}
		if (ret < 0) {
			engine_result_errf(res, "cannot store output '%s': %s", out, strerror(-ret));
			return ret;
		}
		if (!(o->path = strdup(out)))
			return -ENOMEM;
		o->mode = sb.st_mode;
		res->outputs.n++;
	}
	return 0;
}

int engine_store_outputs(struct store *st, const char *root, const struct thunk *th,
			 bool optional, struct engine_result *res)
{
	return store_outputs(st, root, th, optional, 0, res);
}

int engine_plan_job(struct sbx_plan *plan, const struct engine_job *job, int cancel_fd,
		    char *const *argv, char *const *envp, char *logs[2])
{
	const struct thunk *th = job->th;

	if (asprintf(&logs[0], "%s/stdout", job->staging) < 0) {
		logs[0] = NULL;
		return -ENOMEM;
	}
	if (asprintf(&logs[1], "%s/stderr", job->staging) < 0) {
		logs[1] = NULL;
		return -ENOMEM;
	}
	plan->path = th->exe.path;
	plan->argv = argv;
	plan->envp = envp;
	plan->cwd = th->cwd && th->cwd[0] ? th->cwd : "/";
	plan->umask = th->umask;
	plan->stdout_path = logs[0];
	plan->stderr_path = logs[1];
	plan->timeout_ms = job->timeout_ms;
	plan->cancel_fd = cancel_fd;
	return 0;
}

void engine_finish_outputs(struct store *st, const char *root, const struct thunk *th,
			   bool optional, struct engine_result *res)
{
	/* a staging area's outputs are given away: moved into the store when they can be */
	if (res->status != 0 || res->err ||
	    store_outputs(st, root, th, optional, root[0] ? STORE_ADOPT_MOVE : 0, res) == 0)
		return;
	cache_entry_release(&res->outputs);
	if (!res->err)
		engine_result_errf(res, "cannot collect the outputs");
	res->status = 1;
}

int engine_result_sbx(struct engine_result *res, int ret, const struct sbx_result *sr,
		      unsigned timeout_ms)
{
	if (sr->undeclared[0])
		res->undeclared = strdup(sr->undeclared);
	if (sr->denied[0])
		res->denied = strdup(sr->denied);
	if (ret < 0) {
		engine_result_errf(res, "%s", sr->err[0] ? sr->err : strerror(-ret));
		return ret;
	}
	res->ran = true;
	res->status = sr->exited ? sr->status : 128 + sr->signal;
	if (sr->timed_out)
		engine_result_errf(res, "timed out after %u ms", timeout_ms);
	return 0;
}

/* ---- engines that are a pool ---------------------------------------------------- */

struct engine {
	struct pool *pool;
};

int pool_engine_create(const struct engine_config *cfg, pool_run_fn *run, struct engine **out,
		       char *err, size_t errlen)
{
	struct engine *e = calloc(1, sizeof(*e));
	int ret;

	if (!e) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if ((ret = pool_create(cfg->slots, run, cfg->st, &e->pool, err, errlen)) < 0) {
		free(e);
		return ret;
	}
	*out = e;
	return 0;
}

void pool_engine_free(struct engine *e)
{
	if (!e)
		return;
	pool_free(e->pool);
	free(e);
}

bool pool_engine_can_start_more(struct engine *e)
{
	return pool_can_start_more(e->pool);
}

int pool_engine_start(struct engine *e, const struct engine_job *job, struct engine_result *res)
{
	return pool_start(e->pool, job, res);
}

int pool_engine_fd(struct engine *e)
{
	return pool_fd(e->pool);
}

int pool_engine_collect(struct engine *e, struct engine_done *done, size_t max)
{
	return pool_collect(e->pool, done, max);
}

void pool_engine_abort(struct engine *e)
{
	pool_abort(e->pool);
}
