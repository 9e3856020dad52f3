/*
 * cmd_graph.c - the verbs that turn a recording into a graph and show it:
 * `gg infer`, `gg show`, `gg graph`.  Main-level code: prints and exits.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runtime/cli/cmds.h"
#include "runtime/store/ggdir.h"
#include "runtime/ir/graph.h"
#include "inferer/audit/audit.h"
#include "runtime/store/cache.h"
#include "inferer/infer.h"
#include "runtime/lib/json.h"
#include "inferer/merge.h"
#include "runtime/store/statcache.h"
#include "runtime/store/store.h"
#include "runtime/ir/thunk.h"
#include "runtime/trace/trace_read.h"
#include "runtime/lib/util.h"

static bool is_help(const char *a)
{
	return !strcmp(a, "-h") || !strcmp(a, "--help");
}

static char *graph_file(const char *ggdir)
{
	char *f;
	if (asprintf(&f, "%s/graph", ggdir) < 0)
		die("out of memory");
	return f;
}

void cmd_load_graph(const char *ggdir, struct graph *g)
{
	char *file = graph_file(ggdir);
	int ret = graph_load(g, file);
	if (ret == -ENOENT)
		die("no graph in '%s' (run 'gg infer' after 'gg record')", ggdir);
	if (ret < 0)
		die("cannot read graph '%s': %s", file, strerror(-ret));
	free(file);
}

/* ---- gg infer ------------------------------------------------------------------- */

/* Did a build driver (infer.h) run?  By program name, as the inferer cuts. */
static bool saw_driver(const struct trace *t)
{
	for (size_t i = 0; i < t->nimages; i++) {
		const struct trace_image *im = t->images[i];
		const char *names[2] = { path_base(im->exe ? im->exe : ""),
					 im->argv.n ? path_base(im->argv.v[0]) : "" };
		for (int k = 0; k < 2; k++)
			for (size_t d = 0; infer_default_drivers[d]; d++)
				if (!strcmp(names[k], infer_default_drivers[d]))
					return true;
	}
	return false;
}

/*
 * Say what a recording probably lacks (stderr): why it gave no thunk, or that the
 * recorded build failed (its graph then holds only what completed).
 */
static void infer_hint(const struct trace *t, const struct infer_stats *stats, const char *dir)
{
	const struct trace_image *root = NULL, *last;
	char cmd[128] = "";

	if (!t->nimages) {
		fprintf(stderr, "gg: hint: '%s' holds no recording: run the build under 'gg record "
				"-- make' (or your build command) first\n", dir);
		return;
	}
	for (size_t i = 0; i < t->nimages && !root; i++)
		if (!t->images[i]->parent)
			root = t->images[i];
	for (last = root; last && last->exec_next; last = last->exec_next)
		;
	for (uint32_t i = 0; last && i < last->argv.n && strlen(cmd) < 64; i++)
		snprintf(cmd + strlen(cmd), sizeof(cmd) - strlen(cmd), "%s%s", i ? " " : "",
			 last->argv.v[i]);
	if (last && last->exit.kind == TRACE_EXIT_STATUS && last->exit.code != 0 && stats->thunks)
		fprintf(stderr, "gg: hint: the recorded command '%s' exited with status %d: the "
				"graph holds only what completed\n", cmd, last->exit.code);
	else if (stats->thunks)
		return;
	else if (last && last->exit.kind == TRACE_EXIT_STATUS && last->exit.code != 0)
		fprintf(stderr, "gg: hint: the recorded command '%s' exited with status %d: the "
				"build failed before any command left a file; fix it and record "
				"again\n", cmd, last->exit.code);
	else if (last && last->exit.kind == TRACE_EXIT_SIGNAL)
		fprintf(stderr, "gg: hint: the recorded command '%s' was killed by signal %d\n",
			cmd, last->exit.code);
	else if (!saw_driver(t))
		fprintf(stderr, "gg: hint: no build driver (make, ninja, meson, cmake --build...) "
				"ran, and the recorded command '%s' left no file in the tree\n", cmd);
	else if (!stats->commands)
		fprintf(stderr, "gg: hint: the build driver ran no command: was everything up to "
				"date?  Record a build from a clean tree (e.g. after 'make clean')\n");
	else
		fprintf(stderr, "gg: hint: %zu commands ran but none left a file in the tree\n",
			stats->commands);
}

static const char infer_usage[] =
	"usage: gg infer [--stats] [--json] [--replace] [--trace-dir D] [--tree DIR]\n"
	"                [--allow-env NAME]...\n";

int cmd_infer(int argc, char **argv)
{
	struct trace t;
	struct strlist warnings = STRLIST_INIT;
	struct store st = STORE_INIT;
	struct statcache *sc = NULL;
	struct graph g;
	struct infer_stats stats;
	struct infer_opts opts = { 0 };
	const char *allow[64] = { NULL };
	const char *trace_dir = NULL;
	char *ggdir, *tdir = NULL, *file, err[1024];
	bool show_stats = false, json = false, replace = false;
	struct merge_stats ms = { 0 };
	bool merged = false;
	size_t nallow = 0;
	double t0 = clock_now_s(), t1;
	int ret;

	for (int i = 1; i < argc; i++) {
		if (is_help(argv[i])) {
			fputs(infer_usage, stdout);
			fputs("\nRead the recording (.gg/trace), cut it into thunks, store them, their\n"
			      "inputs and outputs (small ones packed: .gg/thunks.pack, .gg/packs/;\n"
			      "others in .gg/blobs), and write the graph to .gg/graph.\n\n"
			      "  --stats          print processes, thunks, reasons, edges, bytes\n"
			      "  --json           the statistics as JSON\n"
			      "  --trace-dir D    read the recording from D\n"
			      "  --tree DIR       the build tree (default: where the build started)\n"
			      "  --replace        drop the existing graph instead of merging into it\n"
			      "  --allow-env N    let the secret-looking variable N into thunks\n",
			      stdout);
			return 0;
		} else if (!strcmp(argv[i], "--stats")) {
			show_stats = true;
		} else if (!strcmp(argv[i], "--replace")) {
			replace = true;
		} else if (!strcmp(argv[i], "--json")) {
			json = show_stats = true;
		} else if (!strcmp(argv[i], "--trace-dir") && i + 1 < argc) {
			trace_dir = argv[++i];
		} else if (!strcmp(argv[i], "--tree") && i + 1 < argc) {
			opts.tree = argv[++i];
		} else if (!strcmp(argv[i], "--allow-env") && i + 1 < argc && nallow < 63) {
			allow[nallow++] = argv[++i];
		} else {
			fprintf(stderr, "gg: unknown option '%s'\n%s", argv[i], infer_usage);
			return 2;
		}
	}
	opts.env_allow = allow;
	ggdir = cli_need_ggdir();
	opts.cache_dir = ggdir;
	if ((ret = ggdir_trace_path(NULL, trace_dir, false, &tdir)) < 0)
		die("cannot find the trace directory: %s", strerror(-ret));
	ret = trace_open_dir(&t, tdir, &warnings);
	if (ret < 0)
		die("%s", t.error);
	cli_open_store(&st, ggdir, STORE_CREATE | STORE_LAZY_PACKS);
	if (statcache_open(&sc, ggdir) < 0 || store_defer(&st) < 0)
		die("out of memory");
	(void)store_pack_reopen(&st); /* merges read the old graph's thunks from there */
	ret = infer_run(&t, &st, sc, &opts, &g, &stats, &warnings, err, sizeof(err));
	for (size_t i = 0; i < warnings.n; i++)
		warning("%s", warnings.v[i]);
	if (ret < 0)
		die("%s", err);
	infer_hint(&t, &stats, tdir);
	file = graph_file(ggdir);
	if (!replace) {
		/* an incremental recording refreshes the existing graph */
		struct graph old;
		if (graph_load(&old, file) == 0) {
			struct strlist mw = STRLIST_INIT;
			if ((ret = graph_merge(&st, sc, &old, &g, &ms, &mw)) < 0)
				die("cannot merge into the existing graph: %s", strerror(-ret));
			for (size_t i = 0; i < mw.n; i++)
				warning("%s", mw.v[i]);
			strlist_release(&mw);
			merged = ms.kept > 0;
			graph_release(&old);
			stats.thunks = g.n;
			stats.edges = graph_edges(&g);
		}
	}
	{
		/* the thunks go to the pack (one file) before the graph naming them */
		struct gg_hash *hs = malloc((g.n + 1) * sizeof(*hs));
		if (!hs)
			die("out of memory");
		for (size_t i = 0; i < g.n; i++)
			hs[i] = g.nodes[i].hash;
		if ((ret = store_flush(&st, hs, g.n)) < 0)
			die("cannot store the thunks: %s", strerror(-ret));
		free(hs);
	}
	if ((ret = graph_save(&g, file)) < 0)
		die("cannot write graph '%s': %s", file, strerror(-ret));
	if ((ret = statcache_save(sc)) < 0)
		warning("cannot write the stat cache: %s", strerror(-ret));
	t1 = clock_now_s();

	if (json) {
		struct json j;
		json_init(&j, 0);
		json_obj_begin(&j);
		json_kv_uint(&j, "images", stats.images);
		json_kv_uint(&j, "processes", stats.processes);
		json_kv_uint(&j, "commands", stats.commands);
		json_kv_uint(&j, "thunks", stats.thunks);
		json_kv_uint(&j, "pure", stats.pure);
		json_kv_uint(&j, "local_only", stats.local);
		json_key(&j, "local_by_reason");
		json_obj_begin(&j);
		for (int b = 0; b < 8; b++)
			json_kv_uint(&j, thunk_local_name(1u << b), stats.local_by_reason[b]);
		json_obj_end(&j);
		json_kv_uint(&j, "no_output", stats.no_output);
		json_kv_uint(&j, "edges", stats.edges);
		json_kv_uint(&j, "source_inputs", stats.inputs);
		json_kv_uint(&j, "missing_probes", stats.missing);
		json_kv_uint(&j, "objects", stats.objects);
		json_kv_uint(&j, "files_hashed", stats.sources_hashed);
		json_kv_uint(&j, "bytes_hashed", stats.bytes_hashed);
		json_kv_uint(&j, "warnings", warnings.n);
		json_kv_uint(&j, "ms", (uint64_t)((t1 - t0) * 1000));
		json_obj_end(&j);
		puts(j.sb.buf ? j.sb.buf : "{}");
		json_release(&j);
	} else if (show_stats) {
		struct store_stats ss = { 0 };
		store_stats(&st, &ss);
		printf("processes      %zu (%zu images)\n", stats.processes, stats.images);
		printf("commands       %zu (%zu without outputs, not in the graph)\n",
		       stats.commands, stats.no_output);
		printf("thunks         %zu\n", stats.thunks);
		printf("  pure         %zu\n", stats.pure);
		printf("  local-only   %zu\n", stats.local);
		for (int b = 0; b < 8; b++)
			if (stats.local_by_reason[b])
				printf("    %-22s %zu\n", thunk_local_name(1u << b),
				       stats.local_by_reason[b]);
		printf("edges          %zu\n", stats.edges);
		printf("source inputs  %zu, missing probes %zu, objects %zu\n", stats.inputs,
		       stats.missing, stats.objects);
		printf("files hashed   %zu (%.1f MiB read)\n", stats.sources_hashed,
		       stats.bytes_hashed / 1048576.0);
		printf("store          %llu blobs, %.1f MiB; %llu packed, %.1f MiB\n",
		       (unsigned long long)ss.count, ss.bytes / 1048576.0,
		       (unsigned long long)ss.packed, ss.packed_bytes / 1048576.0);
		printf("time           %.3f s\n", t1 - t0);
	} else {
		printf("gg: %zu thunks (%zu pure, %zu local-only) from %zu processes, %zu edges\n",
		       stats.thunks, stats.pure, stats.local, stats.processes, stats.edges);
	if (merged && !json)
		printf("gg: merged into the existing graph: %zu thunks kept, %zu replaced\n", ms.kept,
		       ms.replaced);
	}
	graph_release(&g);
	statcache_free(sc);
	store_release(&st);
	trace_release(&t);
	strlist_release(&warnings);
	free(file);
	free(tdir);
	free(ggdir);
	return 0;
}

/* ---- gg show -------------------------------------------------------------------- */

/* The node named by a path (absolute or relative to the cwd) or a thunk hash. */
static long find_node(struct graph *g, const char *what, size_t *out_index)
{
	struct gg_hash h;
	char *abs = NULL;
	long n = -1;

	if (hash_from_hex_str(what, &h) == 0 && h.kind == GG_HASH_THUNK)
		return graph_find_hash(g, &h);
	if (path_abs(what, NULL, &abs) == 0) {
		n = graph_find_path(g, abs, out_index);
		if (n < 0 && g->tree) { /* relative to the build tree */
			free(abs);
			abs = NULL;
			if (path_abs(what, g->tree, &abs) == 0)
				n = graph_find_path(g, abs, out_index);
		}
	}
	free(abs);
	return n;
}


static const char *rel(const struct graph *g, const char *p)
{
	size_t n = g->tree ? strlen(g->tree) : 0;
	if (n > 1 && !strncmp(p, g->tree, n) && p[n] == '/')
		return p + n + 1;
	return p;
}

/* "local_only": [reason names] */
static void json_local_only(struct json *j, uint32_t local)
{
	json_key(j, "local_only");
	cli_local_json(j, local);
}

static void json_hash(struct json *j, const char *key, const struct gg_hash *h)
{
	char hex[GG_HASH_HEX_SIZE];
	json_key(j, key);
	if (hash_is_set(h))
		json_str(j, hash_to_hex(h, hex));
	else
		json_null(j);
}

static void json_inputs(struct json *j, struct graph *g, const char *key,
			const struct thunk_inputs *in)
{
	json_key(j, key);
	json_arr_begin(j);
	for (size_t i = 0; i < in->n; i++) {
		const struct thunk_input *x = &in->v[i];
		json_obj_begin(j);
		json_kv_str(j, "path", x->path);
		json_hash(j, "hash", &x->hash);
		json_kv_uint(j, "mode", x->mode);
		if (x->hash.kind == GG_HASH_THUNK) {
			long pn = graph_find_hash(g, &x->hash);
			json_kv_uint(j, "output", x->output);
			json_kv_str(j, "producer", pn >= 0 ? g->nodes[pn].label : NULL);
		}
		json_obj_end(j);
	}
	json_arr_end(j);
}

static void show_json(struct graph *g, long n, const struct thunk *th)
{
	const struct graph_node *nd = &g->nodes[n];
	struct json j;

	json_init(&j, 0);
	json_obj_begin(&j);
	json_hash(&j, "thunk", &nd->hash);
	json_kv_str(&j, "label", nd->label);
	json_kv_str(&j, "command", nd->command);
	json_kv_bool(&j, "pure", nd->local == 0);
	json_local_only(&j, nd->local);
	json_kv_str(&j, "exe", th->exe.path);
	json_hash(&j, "exe_hash", &th->exe.hash);
	json_kv_str(&j, "interp", th->interp);
	json_key(&j, "argv");
	json_strv(&j, (const char *const *)th->argv.v, th->argv.n);
	json_key(&j, "env");
	json_strv(&j, (const char *const *)th->env.v, th->env.n);
	json_kv_str(&j, "cwd", th->cwd);
	json_kv_uint(&j, "umask", th->umask);
	json_inputs(&j, g, "inputs", &th->inputs);
	json_key(&j, "missing");
	json_strv(&j, (const char *const *)th->missing.v, th->missing.n);
	json_key(&j, "notdir");
	json_strv(&j, (const char *const *)th->notdir.v, th->notdir.n);
	json_key(&j, "listings");
	json_arr_begin(&j);
	for (size_t i = 0; i < th->listings.n; i++) {
		json_obj_begin(&j);
		json_kv_str(&j, "path", th->listings.v[i].path);
		json_hash(&j, "hash", &th->listings.v[i].hash);
		json_obj_end(&j);
	}
	json_arr_end(&j);
	json_inputs(&j, g, "objects", &th->objects);
	json_key(&j, "outputs");
	json_arr_begin(&j);
	for (size_t i = 0; i < nd->noutputs; i++) {
		json_obj_begin(&j);
		json_kv_str(&j, "path", nd->outputs[i].path);
		json_hash(&j, "value", &nd->outputs[i].value);
		json_kv_uint(&j, "mode", nd->outputs[i].mode);
		json_kv_bool(&j, "final", nd->outputs[i].final);
		json_obj_end(&j);
	}
	json_arr_end(&j);
	json_key(&j, "deps");
	json_arr_begin(&j);
	for (size_t i = 0; i < nd->ndeps; i++) {
		char hex[GG_HASH_HEX_SIZE];
		json_str(&j, hash_to_hex(&g->nodes[nd->deps[i]].hash, hex));
	}
	json_arr_end(&j);
	json_obj_end(&j);
	puts(j.sb.buf ? j.sb.buf : "{}");
	json_release(&j);
}

static void show_text(struct graph *g, long n, const struct thunk *th)
{
	const struct graph_node *nd = &g->nodes[n];
	char hex[GG_HASH_HEX_SIZE], reasons[256];

	cli_local_str(nd->local, reasons, sizeof(reasons));
	printf("thunk    %s\n", hash_to_hex(&nd->hash, hex));
	printf("produces %s\n", nd->label);
	printf("command  %s\n", nd->command);
	printf("cwd      %s\n", th->cwd ? th->cwd : "");
	printf("exe      %s\n", th->exe.path);
	if (nd->local)
		printf("local-only: %s\n", reasons);
	else
		printf("pure     yes\n");
	printf("inputs (%zu):\n", th->inputs.n);
	for (size_t i = 0; i < th->inputs.n; i++) {
		const struct thunk_input *x = &th->inputs.v[i];
		if (x->hash.kind == GG_HASH_THUNK) {
			long pn = graph_find_hash(g, &x->hash);
			printf("  %-40s <- %s\n", rel(g, x->path),
			       pn >= 0 ? g->nodes[pn].label : hash_to_hex(&x->hash, hex));
		} else {
			printf("  %-40s %s\n", rel(g, x->path), hash_to_hex(&x->hash, hex));
		}
	}
	printf("objects (%zu):\n", th->objects.n);
	for (size_t i = 0; i < th->objects.n; i++)
		printf("  %s\n", th->objects.v[i].path);
	if (th->missing.n) {
		printf("probed, missing (%zu):\n", th->missing.n);
		for (size_t i = 0; i < th->missing.n; i++)
			printf("  %s\n", rel(g, th->missing.v[i]));
	}
	if (th->notdir.n) {
		printf("probed, below a non-directory (%zu):\n", th->notdir.n);
		for (size_t i = 0; i < th->notdir.n; i++)
			printf("  %s\n", rel(g, th->notdir.v[i]));
	}
	if (th->listings.n) {
		printf("listed (%zu):\n", th->listings.n);
		for (size_t i = 0; i < th->listings.n; i++)
			printf("  %s\n", rel(g, th->listings.v[i].path));
	}
	printf("outputs (%zu):\n", nd->noutputs);
	for (size_t i = 0; i < nd->noutputs; i++)
		printf("  %-40s %s\n", rel(g, nd->outputs[i].path),
		       hash_is_set(&nd->outputs[i].value) ? hash_to_hex(&nd->outputs[i].value, hex)
							  : "(overwritten later)");
}

int cmd_show(int argc, char **argv)
{
	struct graph g;
	struct store st = STORE_INIT;
	struct thunk th;
	const char *what = NULL;
	bool json = false;
	char *ggdir;
	long n;
	int ret;

	for (int i = 1; i < argc; i++) {
		if (is_help(argv[i])) {
			puts("usage: gg show PATH|HASH [--json]\n\n"
			     "Show the thunk that produced PATH (absolute, or relative to the cwd or\n"
			     "the build tree), or the thunk HASH: its command, inputs (and which\n"
			     "thunk produced each), outputs, and why it is local-only if it is.");
			return 0;
		} else if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!what) {
			what = argv[i];
		} else {
			fprintf(stderr, "gg: unexpected argument '%s'\nusage: gg show PATH|HASH [--json]\n",
				argv[i]);
			return 2;
		}
	}
	if (!what) {
		fputs("usage: gg show PATH|HASH [--json]\n", stderr);
		return 2;
	}
	ggdir = cli_need_ggdir();
	cmd_load_graph(ggdir, &g);
	n = find_node(&g, what, NULL);
	if (n < 0)
		die("no thunk produced '%s'", what);
	cli_open_store(&st, ggdir, STORE_CREATE);
	if ((ret = store_load_thunk(&st, &g.nodes[n].hash, &th)) < 0)
		die("cannot read thunk of '%s': %s", what, strerror(-ret));
	if (json)
		show_json(&g, n, &th);
	else
		show_text(&g, n, &th);
	thunk_release(&th);
	store_release(&st);
	graph_release(&g);
	free(ggdir);
	return 0;
}

/* ---- gg graph ------------------------------------------------------------------- */

static void graph_json(const struct graph *g)
{
	struct json j;
	char hex[GG_HASH_HEX_SIZE];

	json_init(&j, 0);
	json_obj_begin(&j);
	json_kv_str(&j, "tree", g->tree);
	json_key(&j, "thunks");
	json_arr_begin(&j);
	for (size_t i = 0; i < g->n; i++) {
		const struct graph_node *nd = &g->nodes[i];
		json_obj_begin(&j);
		json_kv_str(&j, "hash", hash_to_hex(&nd->hash, hex));
		json_kv_str(&j, "label", nd->label);
		json_kv_str(&j, "command", nd->command);
		json_kv_bool(&j, "pure", nd->local == 0);
		json_local_only(&j, nd->local);
		json_key(&j, "deps");
		json_arr_begin(&j);
		for (size_t k = 0; k < nd->ndeps; k++)
			json_str(&j, hash_to_hex(&g->nodes[nd->deps[k]].hash, hex));
		json_arr_end(&j);
		json_key(&j, "outputs");
		json_arr_begin(&j);
		for (size_t k = 0; k < nd->noutputs; k++) {
			json_obj_begin(&j);
			json_kv_str(&j, "path", nd->outputs[k].path);
			json_key(&j, "value");
			if (hash_is_set(&nd->outputs[k].value))
				json_str(&j, hash_to_hex(&nd->outputs[k].value, hex));
			else
				json_null(&j);
			json_kv_bool(&j, "final", nd->outputs[k].final);
			json_obj_end(&j);
		}
		json_arr_end(&j);
		json_obj_end(&j);
	}
	json_arr_end(&j);
	json_key(&j, "driver_inputs");
	json_arr_begin(&j);
	for (size_t i = 0; i < g->ndriver_inputs; i++)
		json_str(&j, g->driver_inputs[i].path);
	json_arr_end(&j);
	json_obj_end(&j);
	puts(j.sb.buf ? j.sb.buf : "{}");
	json_release(&j);
}

/* Mark the thunks whose recorded result is in the results cache. */
static void mark_cached(const char *ggdir, struct graph *g, uint8_t *marks)
{
	struct store st = STORE_INIT;
	if (store_init(&st, ggdir, 0) < 0)
		return;
	for (size_t i = 0; i < g->n; i++) {
		struct thunk th;
		struct gg_hash key;
		if (store_load_thunk(&st, &g->nodes[i].hash, &th) < 0)
			continue;
		if (thunk_cache_key(&th, graph_recorded_value, g, &key) == 0 && cache_has(ggdir, &key))
			marks[i] |= AUDIT_DOT_CACHED;
		thunk_release(&th);
	}
	store_release(&st);
}

int cmd_graph(int argc, char **argv)
{
	struct graph g;
	bool dot = true;
	char *ggdir;

	for (int i = 1; i < argc; i++) {
		if (is_help(argv[i])) {
			puts("usage: gg graph [--dot|--json]\n\n"
			     "Print the graph of thunks: --dot for Graphviz (one node per thunk,\n"
			     "labelled with its main output; local-only thunks in orange), --json\n"
			     "for tools (every thunk with its hash, command, deps and outputs).");
			return 0;
		} else if (!strcmp(argv[i], "--dot")) {
			dot = true;
		} else if (!strcmp(argv[i], "--json")) {
			dot = false;
		} else {
			fprintf(stderr, "gg: unknown option '%s'\nusage: gg graph [--dot|--json]\n",
				argv[i]);
			return 2;
		}
	}
	ggdir = cli_need_ggdir();
	cmd_load_graph(ggdir, &g);
	if (dot) {
		/* clusters by directory, local-only thunks in orange (audit.h draws it;
		 * `gg audit graph` adds the missing edges in red) */
		uint8_t *marks = NULL;
		struct audit_dot_edge *edges = NULL;
		size_t nedges = 0;
		if (audit_dot_marks(&g, NULL, &marks, &edges, &nedges) < 0)
			die("out of memory");
		mark_cached(ggdir, &g, marks);
		audit_graph_dot(stdout, &g, &(struct audit_dot){ .marks = marks, .clusters = true });
		free(marks);
		free(edges);
	} else {
		graph_json(&g);
	}
	graph_release(&g);
	free(ggdir);
	return 0;
}
