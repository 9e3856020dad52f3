/*
 * build_int.h - the builder's internals, shared by build.c (the loop, jobs,
 * completions) and build_key.c (cache keys and what they read of the tree).  Not an
 * API: build.h is.  One scheduling thread owns everything here.
 */
#ifndef GG_BUILD_INT_H
#define GG_BUILD_INT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "runtime/build/build.h"
#include "runtime/build/plan.h"
#include "runtime/engine/engine.h"
#include "runtime/ir/thunk.h"
#include "runtime/lib/htab.h"
#include "runtime/lib/util.h"
#include "runtime/store/cache.h"
#include "runtime/store/store.h"

struct driverlog;
struct statcache;

/*
 * What one build saw of a file the graph does not make (a source, a header, a
 * system file, a path probed and found missing): asked once per build, as ninja
 * stats each file once.  Files the build makes (outputs, the directories that
 * hold them) change while it runs and are never remembered.  Entries are added,
 * never removed; the table is freed with the build.
 */
struct memo_entry {
	char *path;
	uint8_t have;              /* MEMO_* bits: which answers are known */
	bool ldir, sreg;
	int hret, lret, sret;      /* statcache_hash, lstat, stat: 0 or -errno */
	uint32_t mode;
	struct gg_hash value;
	struct timespec mtime;     /* stat's */
};

struct build_memo {
	struct htab ix;            /* str_hash(path) -> index in v */
	struct memo_entry *v;
	size_t n, alloc;
};

enum phase {
	PH_RUN,          /* in its engine (or parked for it) */
	PH_PRE_CORRECT,  /* recorded on the host before any run: its inputs changed shape */
	PH_CORRECT,      /* recorded on the host after a failed run */
};

enum { ENG_MAIN, ENG_HOST, ENG_FALLBACK, NENG }; /* ENG_FALLBACK: build_opts.fallback_engine */

#define PARK_MAX 1024       /* jobs waiting for a full engine while another has room */
#define REMOTE_BATCH 4096   /* nodes asked of the remote results cache at once */
#define COLLECT_MAX 64

struct bjob {
	size_t node;
	struct thunk th;          /* as recorded (loaded when the node is handed out) */
	struct thunk cur;         /* th with current values: own input arrays, th's strings */
	struct gg_hash key;
	struct timespec newest_src; /* when keyed: newest mtime of its inputs the build
				       does not make (regular files; 0 when none) */
	bool keyed, must_run, edited, keyless, supervise, looked_up, remote_hit;
	bool recorded;            /* the run is a recorded host run (env_add) */
	enum phase phase;
	unsigned tries;
	int eng;                  /* ENG_MAIN, ENG_HOST or ENG_FALLBACK, for PH_RUN */
	char *staging;            /* of the run (its logs) */
	char *hstaging;           /* of a recorded host run that corrects it */
	char **env_add;           /* of the job in flight, when recorded */
	char *note;               /* why it is re-recorded (the CORRECTED event's text) */
	struct cache_entry ref;   /* verify: the known result for `key` */
	struct engine_result res, hres;
	struct bjob *next;        /* parked FIFO */
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
	struct plan plan;
	bool plan_ok;
	struct cache_entry *result; /* [n] outputs of DONE and CACHED nodes */
	uint8_t *forced;            /* [n] */
	struct bjob **job;          /* [n] the node's job while it has one */
	const struct engine_ops *ops[NENG];
	struct engine *eng[NENG];
	bool engines_open;          /* engines are opened for the first job that runs */
	size_t inflight[NENG];
	struct bjob *park_head[NENG], *park_tail[NENG];
	size_t nparked;
	size_t nsel, ndone, running;
	unsigned long long seq;
	bool canceled;
	bool any_local;             /* a selected node is local-only: the host engine is used */
	uint64_t keys_ns;
	struct strset made_dirs;    /* directories holding outputs (build_key.c) */
	bool made_dirs_ok;
	struct build_memo memo;     /* what this build saw of the files it does not make */
	struct driverlog *dl;
	bool dl_full;
	char staging_base[PATH_MAX - 128];
	char absent_ref[PATH_MAX];  /* verify: an input from another thunk the tree lacks */
	struct gg_hash *pub;        /* remote: keys of the nodes that ran, to publish */
	size_t npub, apub;
	/* Every output's lstat data, taken on another thread while nothing in the tree
	 * has changed (build_touched stops it): a cache hit's outputs are then checked
	 * in place without looking again.  ahead_first[i]: node i's first output. */
	struct statahead *ahead;
	const char **ahead_paths;
	size_t *ahead_first;
};

/* Something in the tree may have changed (a job started, an output was written or
 * given another time): the outputs' lstat data taken ahead are no longer used. */
void build_touched(struct sched *s);


/* ---- build_key.c ---- */

/* j->cur (the thunk with the tree's values), j->must_run, j->edited and j->key.
 * 0 or -errno (then j->keyed is false); verify's missing references name the path
 * in s->absent_ref. */
int build_key_compute(struct sched *s, struct bjob *j);
/* Free j->cur (its own arrays; the strings are j->th's). */
void build_key_cur_release(struct thunk *cur);
/* Give outputs of a done node older than its newest input that input's time (res:
 * the node's outputs as materialized, in th's output order). */
void build_key_settle_times(struct sched *s, const struct bjob *j,
			    const struct cache_entry *res);
void build_key_memo_release(struct build_memo *m);

#endif
