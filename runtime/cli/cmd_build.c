/*
 * cmd_build.c - `gg build`, `gg force`, `gg verify`: the scheduler (build.h) with a
 * ninja-style status line on a terminal and plain lines otherwise.  Main-level code.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "inferer/merge.h"
#include "runtime/build/build.h"
#include "runtime/cli/cmds.h"
#include "runtime/cli/lambda_meter.h"
#include "runtime/engine/engines.h"
#include "runtime/engine/remote_cache.h"
#include "runtime/store/ggdir.h"
#include "runtime/ir/graph.h"
#include "runtime/lib/json.h"
#include "runtime/lib/util.h"
#include "shim/trace_format.h"

static int cancel_pipe[2] = { -1, -1 };
static volatile sig_atomic_t remote_cancel; /* the S3 client's (s3.h) */
static const char *remote_url;              /* --remote, else $GG_REMOTE */
static bool remote_read_only;
static const char *engine_name = "local"; /* --engine NAME[:PARAMS] */
static const char *lambda_function;       /* --function NAME (engine lambda) */
static bool lambda_engine;                /* --engine lambda: lambda_meter.h counts */
static bool fallback_local;               /* --fallback-local */

static void on_signal(int sig)
{
	int saved = errno;
	char c = (char)sig;
	if (remote_cancel < 100)
		remote_cancel++;
	if (write(cancel_pipe[1], &c, 1) < 0) {
		/* nothing to do: the pipe is full, the build is stopping already */
	}
	errno = saved;
}

/* One thunk's line of --json's "thunks": where it ran, at what level, how long. */
struct thunk_rec {
	const struct graph_node *node;
	const char *engine;       /* an engine's name (static), "cached" */
	const char *result;       /* "ran", "failed", "cached", "corrected" */
	int level, status;
	uint64_t ms, fetch_ms, run_ms, upload_ms;
	bool times;
};

struct ui {
	bool tty;
	bool quiet;
	bool verify;
	size_t ran_lines;
	bool json;                /* keep a thunk_rec per finished thunk */
	struct thunk_rec *recs;   /* owned; grows by doubling */
	size_t nrecs, arecs;
};

static void record_thunk(struct ui *ui, const struct build_event *ev)
{
	struct thunk_rec *t;
	if (!ui->json || !ev->node)
		return;
	if (ui->nrecs == ui->arecs) {
		ui->arecs = ui->arecs ? 2 * ui->arecs : 64;
		ui->recs = xrealloc(ui->recs, ui->arecs * sizeof(*ui->recs));
	}
	t = &ui->recs[ui->nrecs++];
	memset(t, 0, sizeof(*t));
	t->node = ev->node;
	t->level = ev->level;
	t->status = ev->status;
	switch (ev->kind) {
	case BUILD_EV_CACHED:
		t->engine = "cached";
		t->result = "cached";
		return;
	case BUILD_EV_CORRECTED:
		t->engine = "host";
		t->result = "corrected";
		return;
	default:
		t->result = ev->kind == BUILD_EV_DONE ? "ran" : "failed";
		t->engine = ev->engine ? ev->engine : "none";
		break;
	}
	if (ev->res) {
		const struct engine_result *r = ev->res;
		t->times = true;
		t->ms = r->ms;
		if (r->level)
			t->level = r->level;
		/* a local engine's run is its whole time; a remote one says its parts */
		t->fetch_ms = r->fetch_ms;
		t->upload_ms = r->upload_ms;
		t->run_ms = r->fetch_ms || r->run_ms || r->upload_ms ? r->run_ms : r->ms;
		if (!r->ran)
			t->status = -1;
	}
}

static void thunks_json(struct json *j, const struct ui *ui, const char *main_engine)
{
	char hex[GG_HASH_HEX_SIZE];
	json_key(j, "thunks");
	json_arr_begin(j);
	for (size_t i = 0; i < ui->nrecs; i++) {
		const struct thunk_rec *t = &ui->recs[i];
		json_obj_begin(j);
		json_kv_str(j, "thunk", hash_to_hex(&t->node->hash, hex));
		json_kv_str(j, "label", t->node->label);
		json_kv_str(j, "engine", t->engine);
		json_kv_str(j, "result", t->result);
		/* ran on the fallback engine: neither the build's engine nor the host */
		json_kv_bool(j, "fallback", t->times && strcmp(t->engine, main_engine) &&
					    strcmp(t->engine, "host"));
		if (t->times) {
			json_kv_int(j, "level", t->level);
			json_kv_int(j, "status", t->status);
			json_key(j, "times_ms");
			json_obj_begin(j);
			json_kv_uint(j, "total", t->ms);
			json_kv_uint(j, "fetch", t->fetch_ms);
			json_kv_uint(j, "run", t->run_ms);
			json_kv_uint(j, "upload", t->upload_ms);
			json_obj_end(j);
		}
		json_obj_end(j);
	}
	json_arr_end(j);
}

/* A command on one line, cut to about `max` bytes: enough to tell thunks apart. */
static void short_command(const char *cmd, char *buf, size_t size, size_t max)
{
	size_t n = 0;
	if (max + 4 > size)
		max = size - 4;
	for (; cmd && *cmd && n < max; cmd++)
		buf[n++] = *cmd == '\n' || *cmd == '\t' ? ' ' : *cmd;
	if (cmd && *cmd)
		memcpy(buf + n, "...", 3), n += 3;
	buf[n] = '\0';
}

static void print_file_tail(const char *path, FILE *to)
{
	FILE *f = path ? fopen(path, "r") : NULL;
	char line[4096];
	size_t n = 0;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f) && n++ < 200)
		fputs(line, to);
	fclose(f);
}

static void observer(void *ctx, const struct build_event *ev)
{
	struct ui *ui = ctx;
	const char *label = ev->node ? ev->node->label : "";
	char hex[GG_HASH_HEX_SIZE], cmd[96];

	if (ev->kind == BUILD_EV_DONE || ev->kind == BUILD_EV_FAILED || ev->kind == BUILD_EV_CACHED ||
	    ev->kind == BUILD_EV_CORRECTED)
		record_thunk(ui, ev);
	if (ui->tty)
		fputs("\r\033[K", stdout);
	switch (ev->kind) {
	case BUILD_EV_START:
		if (!ui->tty && !ui->quiet)
			printf("[%zu/%zu] %s\n", ev->done + 1, ev->total, label);
		break;
	case BUILD_EV_DONE:
		if (ev->log) { /* what the command printed, as make would show it */
			fflush(stdout);
			print_file_tail(ev->stdout_log, stdout);
			print_file_tail(ev->log, stderr);
		}
		break;
	case BUILD_EV_FAILED:
		fflush(stdout);
		fprintf(stderr, "gg: %s: %s: %s\n  %s\n", ui->verify ? "could not run" : "FAILED",
			label, ev->text ? ev->text : "", ev->node ? ev->node->command : "");
		print_file_tail(ev->log, stderr);
		break;
	case BUILD_EV_SKIPPED:
		if (!ui->quiet)
			fprintf(stderr, "gg: skipped %s: a dependency failed\n", label);
		break;
	case BUILD_EV_CORRECTED:
		fprintf(stderr, "gg: %s: re-recorded, the graph is updated\n", label);
		break;
	case BUILD_EV_NONDETERMINISTIC:
		fprintf(stderr, "gg: nondeterministic: %s: %s\n", label, ev->text);
		break;
	case BUILD_EV_DIFFERS: /* the thunk by hash and command, the file in the text */
		short_command(ev->node->command, cmd, sizeof(cmd), 72);
		printf("differs: thunk %s (%s): %s\n", hash_to_hex(&ev->node->hash, hex), cmd,
		       ev->text);
		break;
	case BUILD_EV_NOT_COMPARED:
		if (!ui->quiet)
			fprintf(stderr, "gg: not compared: %s: %s\n", label, ev->text);
		break;
	case BUILD_EV_NOTE:
		if (ev->node)
			fprintf(stderr, "gg: %s: %s\n", label, ev->text);
		else
			fprintf(stderr, "gg: %s\n", ev->text);
		break;
	case BUILD_EV_CACHED:
		break;
	}
	if (ui->tty) {
		printf("[%zu/%zu] %zu running, %zu cached", ev->done, ev->total, ev->running,
		       ev->cached);
		if (lambda_engine)
			printf(", %zu remote in flight", lambda_meter_in_flight());
		if (ev->node && ev->kind == BUILD_EV_START)
			printf("  %s", label);
	}
	fflush(stdout);
}

static const char build_help[] =
	"usage: gg build [-j N] [-k] [--no-cache] [--timeout S] [--require-sandbox=N]\n"
	"                [--remote s3://BUCKET[/PREFIX] [--remote-read-only]]\n"
	"                [--engine NAME[:P] [--function NAME] [--fallback-local]]\n"
	"                [--json] [--quiet] [TARGET...]\n"
	"\n"
	"Replay the recorded graph against the current tree and materialize the outputs:\n"
	"every thunk whose inputs are unchanged comes from the cache, the others run in\n"
	"the sandbox, in parallel.  A thunk that fails for an input it never declared is\n"
	"re-recorded under the shim and the graph is updated.\n"
	"\n"
	"  -j N                 thunks at once (default: the cores)\n"
	"  -k                   keep going past failures\n"
	"  --no-cache           run every thunk; report results that differ from the cache\n"
	"  --timeout S          kill a thunk after S seconds (default 3600)\n"
	"  --require-sandbox=N  refuse to run below sandbox level N (1 strongest)\n"
	"  --no-self-correct    fail instead of re-recording\n"
	"  --remote URL         a shared results cache in S3 (default: $GG_REMOTE): a\n"
	"                       thunk the local cache lacks is looked up there first and\n"
	"                       materialized from it; what ran is uploaded at the end\n"
	"  --remote-read-only   look up only, never upload (untrusted clients)\n"
	"  --engine NAME[:P]    where thunks run (default local: the sandbox); local-only\n"
	"                       thunks run on the host in any case.  lambda: AWS Lambda,\n"
	"                       blobs in the --remote bucket, endpoint from AWS_REGION\n"
	"                       or AWS_ENDPOINT_URL_LAMBDA / AWS_ENDPOINT_URL\n"
	"  --function NAME      the Lambda function (default: $GG_LAMBDA_FUNCTION, else gg)\n"
	"  --fallback-local     a thunk the remote engine cannot run (retries exhausted,\n"
	"                       workers dying, the service failing) runs in the local\n"
	"                       sandbox instead; a command that failed still fails\n"
	"  --json               a JSON summary at the end, with a \"thunks\" array: where\n"
	"                       each thunk ran (engine or cached), its level and times\n"
	"  --quiet              no progress lines\n"
	"  TARGET               files to build (with what they need); default: all\n";

static const char verify_help[] =
	"usage: gg verify [-j N] [--timeout S] [--json] [--quiet] [--all | TARGET...]\n"
	"\n"
	"Re-execute thunks in the sandbox and compare their outputs with the result the\n"
	"cache holds for the inputs the tree holds now (the recorded build's, or the last\n"
	"gg build's); the tree is left alone.  Every selected thunk runs, failures or not.\n"
	"A thunk with no known result for its current inputs (a source edited since the\n"
	"last gg build) or a local-only one is not compared, and said so.  Ends with\n"
	"'verified N thunks: D differ, F could not run'; exits 1 if D or F is not 0.\n"
	"\n"
	"  -j N                 thunks at once (default: the cores)\n"
	"  --timeout S          kill a thunk after S seconds (default 3600)\n"
	"  --json               a JSON summary at the end\n"
	"  --quiet              no progress lines\n"
	"  TARGET               files to verify (with what they need); default: all\n";

static int parse(int argc, char **argv, struct build_opts *o, bool *json, bool *quiet,
		 const char ***targets, struct gg_hash **force, bool hashes, const char *help)
{
	size_t nt = 0, nf = 0;
	*targets = calloc((size_t)argc + 1, sizeof(**targets));
	*force = calloc((size_t)argc + 1, sizeof(**force));
	if (!*targets || !*force)
		die("out of memory");
	o->self_correct = true;
	o->timeout_ms = 3600 * 1000;
	o->cancel_fd = -1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(help, stdout);
			exit(0);
		} else if (!strcmp(a, "-j") && i + 1 < argc) {
			o->jobs = atoi(argv[++i]);
		} else if (!strncmp(a, "-j", 2) && a[2]) {
			o->jobs = atoi(a + 2);
		} else if (!strcmp(a, "-k")) {
			o->keep_going = true;
		} else if (!strcmp(a, "--no-cache")) {
			o->no_cache = true;
		} else if (!strcmp(a, "--no-self-correct")) {
			o->self_correct = false;
		} else if (!strcmp(a, "--timeout") && i + 1 < argc) {
			o->timeout_ms = (unsigned)(atof(argv[++i]) * 1000);
		} else if (!strncmp(a, "--require-sandbox=", 18)) {
			o->require_level = atoi(a + 18);
		} else if (!strcmp(a, "--json")) {
			*json = true;
		} else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
			*quiet = true;
		} else if (!strcmp(a, "--all")) {
			/* every node: the default */
		} else if (!strcmp(a, "--remote") && i + 1 < argc && help == build_help) {
			remote_url = argv[++i];
		} else if (!strncmp(a, "--remote=", 9) && help == build_help) {
			remote_url = a + 9;
		} else if (!strcmp(a, "--engine") && i + 1 < argc) {
			engine_name = argv[++i];
		} else if (!strncmp(a, "--engine=", 9)) {
			engine_name = a + 9;
		} else if (!strcmp(a, "--function") && i + 1 < argc && help == build_help) {
			lambda_function = argv[++i];
		} else if (!strncmp(a, "--function=", 11) && help == build_help) {
			lambda_function = a + 11;
		} else if (!strcmp(a, "--fallback-local") && help == build_help) {
			fallback_local = true;
		} else if (!strcmp(a, "--remote-read-only") && help == build_help) {
			remote_read_only = true;
		} else if (a[0] == '-') {
			fprintf(stderr, "gg: unknown option '%s'\n", a);
			return -1;
		} else if (hashes) {
			if (hash_from_hex_str(a, &(*force)[nf]) < 0 || (*force)[nf].kind != GG_HASH_THUNK) {
				fprintf(stderr, "gg: '%s' is not a thunk hash (T + 32 hex digits)\n", a);
				return -1;
			}
			nf++;
		} else {
			char *abs = NULL;
			if (path_abs(a, NULL, &abs) < 0)
				die("cannot resolve '%s'", a);
			(*targets)[nt++] = abs;
		}
	}
	o->targets = *targets;
	o->ntargets = nt;
	o->force = *force;
	o->nforce = nf;
	return 0;
}

/* Self-correction and local-only runs are recorded under the shim (build.h). */
static char **record_env(void *ctx, const char *trace_dir)
{
	const char *shim = ctx;
	size_t len = strlen("LD_PRELOAD=") + strlen(shim) + 1 + strlen(GG_ENV_TRACE_DIR "=") +
		     strlen(trace_dir) + 1;
	char **env = malloc(3 * sizeof(*env) + len);
	if (!env)
		return NULL;
	env[0] = (char *)(env + 3);
	env[1] = env[0] + sprintf(env[0], "LD_PRELOAD=%s", shim) + 1;
	sprintf(env[1], "%s=%s", GG_ENV_TRACE_DIR, trace_dir);
	env[2] = NULL;
	return env;
}

static int adopt(void *ctx, struct store *st, struct statcache *sc, struct graph *g, size_t node,
		 const char *trace_dir, struct cache_entry *outs, char *err, size_t errlen)
{
	(void)ctx;
	return graph_adopt(st, sc, g, node, trace_dir, outs, err, errlen);
}

/* The function's memory for the cost estimate: $GG_LAMBDA_MEMORY_MB, else 3008. */
static unsigned lambda_memory_mb(void)
{
	const char *v = getenv("GG_LAMBDA_MEMORY_MB");
	return v && atoi(v) > 0 ? (unsigned)atoi(v) : 3008;
}

/* The lambda engine's line of the summary (lambda_meter.h). */
static void lambda_summary(void)
{
	struct lambda_meter_totals t;
	if (!lambda_meter_totals(&t))
		return;
	printf("gg: lambda: %llu thunks run remotely, %llu relaunched, %llu straggler relaunches "
	       "(%llu backups in the tail, %llu losers stopped early), %llu throttled; %.1f MB up, "
	       "%.1f MB down; estimated cost $%.4f (%.1f GB-s at %u MB, an estimate)\n",
	       (unsigned long long)t.jobs, (unsigned long long)t.st.relaunched,
	       (unsigned long long)t.st.stragglers, (unsigned long long)t.st.backups,
	       (unsigned long long)t.st.stopped_early,
	       (unsigned long long)t.st.throttled,
	       (double)t.st.bytes_uploaded / 1e6, (double)t.st.bytes_downloaded / 1e6,
	       lambda_meter_cost(&t, lambda_memory_mb()),
	       (double)t.ms / 1000.0 * lambda_memory_mb() / 1024.0, lambda_memory_mb());
}

static void lambda_json(struct json *j)
{
	struct lambda_meter_totals t;
	if (!lambda_meter_totals(&t))
		return;
	json_kv_uint(j, "lambda_jobs", t.jobs);
	json_kv_uint(j, "lambda_invocations", t.st.invocations);
	json_kv_uint(j, "lambda_throttled", t.st.throttled);
	json_kv_uint(j, "lambda_worker_deaths", t.st.worker_deaths);
	json_kv_uint(j, "lambda_relaunched", t.st.relaunched);
	json_kv_uint(j, "lambda_stragglers", t.st.stragglers);
	json_kv_uint(j, "lambda_backups", t.st.backups);
	json_kv_uint(j, "lambda_stop_keys", t.st.stop_keys);
	json_kv_uint(j, "lambda_stopped_early", t.st.stopped_early);
	json_kv_uint(j, "lambda_bytes_up", t.st.bytes_uploaded);
	json_kv_uint(j, "lambda_bytes_down", t.st.bytes_downloaded);
	json_kv_uint(j, "lambda_ms", t.ms);
}

static int run_verb(int argc, char **argv, bool verify, bool hashes)
{
	struct build_recorder recorder = { .record_env = record_env, .adopt = adopt };
	struct build_opts o = { 0 };
	struct build_stats st;
	struct graph g;
	struct ui ui = { .tty = isatty(1) };
	const char **targets = NULL;
	struct gg_hash *force = NULL;
	bool json = false;
	char *ggdir = NULL, *graphfile = NULL, *shim = NULL, err[PATH_MAX + 512];
	struct sigaction sa = { .sa_handler = on_signal };
	struct remote_cache *rc = NULL;
	size_t remote_published = 0;
	int ret, status = 0;

	if (parse(argc, argv, &o, &json, &ui.quiet, &targets, &force, hashes,
		  verify ? verify_help : build_help) < 0) {
		fputs(verify ? verify_help : build_help, stderr);
		return 2;
	}
	if (hashes && !o.nforce) {
		fputs("usage: gg force HASH...\n", stderr);
		return 2;
	}
	o.verify = ui.verify = verify;
	ui.json = json;
	if (verify)
		o.no_cache = true;
	ggdir = cli_need_ggdir();
	cmd_load_graph(ggdir, &g);
	/* the shim for self-correction, if there is one (else no thunk is re-recorded) */
	if (cmd_shim_path(&shim) < 0 || access(shim, R_OK) < 0) {
		free(shim);
		shim = NULL;
	} else {
		recorder.ctx = shim;
		o.recorder = &recorder;
	}
	if (!(o.engine = engines_find(engine_name))) {
		char names[256];
		engines_names(names, sizeof(names));
		die("no engine '%s' (engines: %s)", engine_name, names);
	}
	if (strchr(engine_name, ':'))
		o.engine_params = strchr(engine_name, ':') + 1;
	if (pipe2(cancel_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		die("cannot create a pipe: %s", strerror(errno));
	o.cancel_fd = cancel_pipe[0];
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	o.observer = observer;
	o.observer_ctx = &ui;
	if (!verify && (!remote_url || !*remote_url))
		remote_url = getenv("GG_REMOTE");
	if (!strcmp(o.engine->name, "lambda")) { /* the engine reads its defaults (lambda.h) */
		lambda_engine = true;
		o.engine = lambda_meter_wrap(o.engine);
		if (remote_url && *remote_url)
			setenv("GG_REMOTE", remote_url, 1);
		else if (!o.engine_params || !strstr(o.engine_params, "remote="))
			die("--engine lambda wants a bucket: --remote s3://BUCKET[/PREFIX] or GG_REMOTE");
		if (lambda_function && *lambda_function)
			setenv("GG_LAMBDA_FUNCTION", lambda_function, 1);
	} else if (lambda_function) {
		die("--function is for --engine lambda");
	}
	if (fallback_local) {
		if (!strcmp(o.engine->name, "local"))
			die("--fallback-local is for a remote engine (--engine lambda)");
		o.fallback_engine = engines_find("local");
	}
	if (!verify && remote_url && *remote_url) {
		if (remote_cache_open(remote_url, ggdir, remote_read_only, &remote_cancel, &rc, err,
				      sizeof(err)) < 0)
			die("%s", err);
		o.remote = remote_cache_ops(rc);
	} else if (remote_read_only) {
		die("--remote-read-only wants a remote: --remote s3://BUCKET[/PREFIX] or GG_REMOTE");
	}

	ret = build_run(ggdir, &g, &o, &st, err, sizeof(err));
	if (rc) {
		struct remote_cache_stats rs;
		remote_cache_get_stats(rc, &rs);
		if (remote_cache_error(rc)[0])
			fprintf(stderr, "gg: warning: remote cache: %zu transfers failed, first: %s\n",
				rs.errors, remote_cache_error(rc));
		if (st.remote_published > rs.published && ret != -ECANCELED)
			fprintf(stderr, "gg: warning: %zu of %zu results not uploaded to %s\n",
				st.remote_published - rs.published, st.remote_published,
				remote_cache_url(rc));
		remote_published = rs.published;
	}
	if (ui.tty)
		fputs("\r\033[K", stdout);
	if (ret == -ESTALE) {
		fprintf(stderr,
			"gg: the graph is stale: '%s' changed since the build was recorded\n"
			"gg: run 'gg record -- make' (or your build command) to refresh it; it only\n"
			"gg: re-runs what changed, and 'gg infer' merges it into the graph\n", err);
		status = 1;
		goto out;
	}
	if (ret < 0 && ret != -ENOTRECOVERABLE && ret != -ECANCELED) {
		fprintf(stderr, "gg: %s\n", err);
		status = 1;
		goto out;
	}
	if (st.corrected || st.graph_changed || st.weights_changed) {
		if (asprintf(&graphfile, "%s/graph", ggdir) < 0 || graph_save(&g, graphfile) < 0)
			warning("cannot save the updated graph");
	}
	if (json) {
		struct json j;
		json_init(&j, 0);
		json_obj_begin(&j);
		json_kv_uint(&j, "total", st.total);
		json_kv_uint(&j, "cached", st.cached);
		json_kv_uint(&j, "ran", st.ran);
		json_kv_uint(&j, "failed", st.failed);
		json_kv_uint(&j, "skipped", st.skipped);
		json_kv_uint(&j, "corrected", st.corrected);
		if (rc) {
			json_kv_str(&j, "remote", remote_cache_url(rc));
			json_kv_uint(&j, "remote_hits", st.remote_hits);
			json_kv_uint(&j, "remote_published", remote_published);
		}
		json_kv_uint(&j, "nondeterministic", st.nondeterministic);
		json_kv_uint(&j, "differs", st.differs);
		json_kv_uint(&j, "not_compared", st.not_compared);
		json_kv_int(&j, "sandbox_level", st.level);
		if (fallback_local)
			json_kv_uint(&j, "fallbacks", st.fallbacks);
		if (lambda_engine)
			lambda_json(&j);
		thunks_json(&j, &ui, o.engine->name);
		json_kv_bool(&j, "interrupted", ret == -ECANCELED);
		json_obj_end(&j);
		puts(j.sb.buf ? j.sb.buf : "{}");
		json_release(&j);
	} else if (verify) {
		/* total = ran + failed + not_compared + skipped (build.h) */
		printf("gg: verified %zu thunks: %zu differ, %zu could not run", st.total, st.differs,
		       st.failed);
		if (st.not_compared)
			printf(", %zu not compared (no result known for their inputs)", st.not_compared);
		if (st.skipped)
			printf(", %zu not run (interrupted)", st.skipped);
		printf(" (sandbox level %d)\n", st.level);
	} else if (!ui.quiet || st.failed) {
		/* total = cached + ran + corrected + failed + skipped (build.h) */
		printf("gg: %zu thunks: %zu cached, %zu ran, %zu re-recorded, %zu failed, %zu skipped",
		       st.total, st.cached, st.ran, st.corrected, st.failed, st.skipped);
		if (st.level) /* (0: nothing ran, no sandbox was started) */
			printf(" (sandbox level %d)", st.level);
		putchar('\n');
		if (lambda_engine)
			lambda_summary();
		if (st.fallbacks)
			printf("gg: %zu thunks ran in the local sandbox after %s could not run them "
			       "(--fallback-local)\n", st.fallbacks, o.engine->name);
		if (rc)
			printf("gg: remote %s: %zu of the cached from there, %zu results uploaded%s\n",
			       remote_cache_url(rc), st.remote_hits, remote_published,
			       remote_read_only ? " (read-only)" : "");
	}
	if (ret == -ECANCELED) {
		fprintf(stderr, "gg: interrupted\n");
		status = 130;
	} else if (ret < 0 || st.failed || st.skipped || (verify && st.differs)) {
		status = 1;
	}
out:
	for (size_t i = 0; i < o.ntargets; i++)
		free((char *)targets[i]);
	free(targets);
	free(force);
	free(shim);
	free(graphfile);
	free(ui.recs);
	remote_cache_free(rc);
	graph_release(&g);
	free(ggdir);
	return status;
}

int cmd_build(int argc, char **argv)
{
	return run_verb(argc, argv, false, false);
}

int cmd_force(int argc, char **argv)
{
	return run_verb(argc, argv, false, true);
}

int cmd_verify(int argc, char **argv)
{
	return run_verb(argc, argv, true, false);
}
