/*
 * engine.h - where thunks execute.  Engines share this small ops struct, so the
 * scheduler (build.h) cannot tell the local sandbox from a remote backend.
 *
 * An engine runs one thunk, whose inputs are all present (in the tree at their
 * paths, or in the store), and puts every declared output into the store; it may be
 * called from several threads at once and must not touch the tree.  The thunk given
 * is the one to run: its source inputs carry the values they have now.
 */
#ifndef GG_ENGINE_H
#define GG_ENGINE_H

#include <limits.h>
#include <stdbool.h>

#include "runtime/store/cache.h"
#include "runtime/store/store.h"
#include "runtime/ir/thunk.h"

struct engine_job {
	const struct thunk *th;
	const char *staging;   /* an empty directory of this job's own (removed after) */
	unsigned timeout_ms;   /* 0: none */
	int require_level;     /* 0: any */
	int cancel_fd;         /* -1: none */
	bool supervise;        /* name the first undeclared path (slower) */
	unsigned long long seed; /* deterministic randomness */
	const char *shim;      /* host engine: libggshim.so to record the run with (NULL: none) */
};

struct engine_result {
	bool ran;              /* the command ran (status is valid) */
	int status;            /* exit status, or 128 + signal */
	int level;             /* sandbox level used */
	struct cache_entry outputs; /* when ran and status 0: the outputs, in the store */
	char undeclared[PATH_MAX]; /* first undeclared path the command wanted, if known */
	char denied[PATH_MAX + 64]; /* first operation denied */
	char stdout_path[PATH_MAX], stderr_path[PATH_MAX]; /* captured, in the staging dir */
	char err[4096 + 512];  /* why it could not run, or what is wrong with its outputs */
	bool recorded;         /* host engine: the run was recorded into <staging>/trace */
};

struct engine_ops {
	const char *name;
	/* 0 when the command ran (whatever its status), -errno (res->err) if it could not. */
	int (*run)(void *ctx, const struct engine_job *job, struct engine_result *res);
};

/* The local engine: the sandbox.  ctx is the struct store outputs go to. */
extern const struct engine_ops engine_local;
/*
 * Local-only thunks (and re-recordings): run in the tree itself, unsandboxed
 * (engine_host.c).  With job->shim, the command runs under the shim into the trace
 * directory <staging>/trace (res->recorded) and only the declared outputs that
 * exist are stored: the caller infers what it really read and wrote from the
 * recording (merge.h, graph_adopt).
 */
extern const struct engine_ops engine_host;

#endif
