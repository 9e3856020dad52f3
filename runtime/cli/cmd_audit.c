/*
 * cmd_audit.c - `gg audit`: dependency reports on a recorded build (inferer/audit.h).
 * Main-level code: prints, and dies on errors.
 *
 *   gg audit                      a summary of every report; exit 1 if an edge is missing
 *   gg audit edges                edges the build files do not declare (exit 1 if any)
 *   gg audit system               files from outside the trees, by Debian package
 *   gg audit why OUTPUT           the input closure of an output
 *   gg audit rdeps FILE           what would change if FILE changed
 *   gg audit local-only           commands that cannot run remotely, and why
 *   gg audit remote               local-only commands and those a worker cannot run
 *                                 (a static executable: no loader to virtualize it)
 *   gg audit compile-commands     compile_commands.json on stdout
 *   gg audit graph                the whole graph for Graphviz, clustered and coloured
 *
 * Human output is aligned and, on a terminal, coloured (NO_COLOR, TERM=dumb and
 * --color=never turn colour off); --json gives the same facts for tools.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "inferer/audit/audit.h"
#include "inferer/audit/audit_dpkg.h"
#include "runtime/cli/cmds.h"
#include "runtime/store/ggdir.h"
#include "runtime/lib/json.h"
#include "runtime/lib/util.h"

struct opts {
	const char *verb;
	const char *arg;       /* OUTPUT or FILE */
	const char *trace_dir;
	const char *source;
	bool json, dot, strict, all, files, no_audit, help;
	int color;             /* -1 auto, 0 never, 1 always */
};

static bool color;

#define C_RED "31"
#define C_GREEN "32"
#define C_YELLOW "33"
#define C_BOLD "1"
#define C_DIM "2"

static const char *on(const char *code)
{
	static char buf[8][16];
	static int k;
	if (!color)
		return "";
	k = (k + 1) % 8;
	snprintf(buf[k], sizeof(buf[k]), "\033[%sm", code);
	return buf[k];
}

static const char *off(void)
{
	return color ? "\033[0m" : "";
}

/* ---- printing odd names ---------------------------------------------------------------- */

static size_t utf8_ok(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len;
	if (c < 0x80)
		return 1;
	len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
	if (!len || n < len)
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

/* A name fit for a terminal: control characters and invalid bytes as \n, \xNN.
 * Rotating static buffers: valid until 16 more calls. */
static const char *shown(const char *s)
{
	static struct sbuf ring[16];
	static int k;
	struct sbuf *sb;
	const unsigned char *u = (const unsigned char *)(s ? s : "");
	size_t n = strlen((const char *)u);

	k = (k + 1) % 16;
	sb = &ring[k];
	sbuf_reset(sb);
	for (size_t i = 0; i < n;) {
		size_t l = utf8_ok(u + i, n - i);
		if (l == 1 && u[i] >= 0x20 && u[i] != 0x7f) {
			sbuf_addch(sb, (char)u[i]);
		} else if (l > 1) {
			sbuf_add(sb, u + i, l);
		} else if (u[i] == '\n') {
			sbuf_addstr(sb, "\\n");
			l = 1;
		} else {
			sbuf_addf(sb, "\\x%02x", u[i]);
			l = 1;
		}
		i += l;
	}
	if (sbuf_error(sb) || !sb->buf)
		return "?";
	return sb->buf;
}

/* The first line of a command, at most `max` characters. */
static const char *short_cmd(const char *cmd, size_t max)
{
	static char buf[4][256];
	static int k;
	size_t n = strcspn(cmd ? cmd : "", "\n");
	k = (k + 1) % 4;
	if (max > sizeof(buf[k]) - 4)
		max = sizeof(buf[k]) - 4;
	if (n > max || (cmd && cmd[n]))
		snprintf(buf[k], sizeof(buf[k]), "%.*s...", (int)(n > max ? max : n), cmd);
	else
		snprintf(buf[k], sizeof(buf[k]), "%s", cmd ? cmd : "");
	return buf[k];
}

/* ---- options ------------------------------------------------------------------------------ */

static const char usage[] =
	"usage: gg audit [edges|system|why OUTPUT|rdeps FILE|local-only|compile-commands|graph]\n"
	"                [--json] [--dot] [--strict] [--all] [--files] [--color=WHEN]\n"
	"                [--trace-dir D] [--source DIR]\n";

static const char help[] =
	"\nDependency reports on the recorded build (run 'gg record -- make' and 'gg infer'\n"
	"first).\n\n"
	"  (none)            a summary of the reports below; exit 1 if an edge is missing\n"
	"  edges             check every file a command read that another command of the\n"
	"                    build produced against the build system's own graph (make -pnq,\n"
	"                    ninja -t query/deps): missing dependencies, those that hold by\n"
	"                    luck of ordering (order-only, or only in a dependency file the\n"
	"                    build wrote); exit 1 if one is missing (--strict: or by luck,\n"
	"                    or unchecked); --dot draws the offending edges\n"
	"  system            files read from outside the source and build trees, by Debian\n"
	"                    package (dpkg -S, cached in .gg/dpkg-cache), with versions;\n"
	"                    --files lists every file\n"
	"  why OUTPUT        the input closure of OUTPUT as a tree (--all: system files too)\n"
	"  rdeps FILE        every output that would change if FILE changed\n"
	"  local-only        commands that cannot run remotely, with their reasons\n"
	"  remote            local-only commands plus those the worker (--engine\n"
	"                    isolated, Lambda) cannot run: static executables\n"
	"  compile-commands  compile_commands.json (the form bear writes) on stdout\n"
	"  graph             the graph for Graphviz: clusters by directory, local-only\n"
	"                    thunks orange, missing edges red (--no-audit: skip the check)\n\n"
	"  --json            machine-readable output\n"
	"  --color=WHEN      auto (default: on a terminal, unless NO_COLOR), always, never\n"
	"  --trace-dir D     the recording is in D\n"
	"  --source DIR      the source tree of an out-of-tree build (default: found from\n"
	"                    CMakeCache.txt, meson-info or the Makefile)\n";

static void parse(int argc, char **argv, struct opts *o)
{
	static const char *const verbs[] = { "edges", "system", "why", "rdeps", "local-only", "remote",
					     "compile-commands", "graph", NULL };
	memset(o, 0, sizeof(*o));
	o->color = -1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			o->help = true;
		} else if (!strcmp(a, "--json")) {
			o->json = true;
		} else if (!strcmp(a, "--dot")) {
			o->dot = true;
		} else if (!strcmp(a, "--strict")) {
			o->strict = true;
		} else if (!strcmp(a, "--all")) {
			o->all = true;
		} else if (!strcmp(a, "--files")) {
			o->files = true;
		} else if (!strcmp(a, "--no-audit")) {
			o->no_audit = true;
		} else if (!strcmp(a, "--color") || !strcmp(a, "--color=always")) {
			o->color = 1;
		} else if (!strcmp(a, "--color=never") || !strcmp(a, "--no-color")) {
			o->color = 0;
		} else if (!strcmp(a, "--color=auto")) {
			o->color = -1;
		} else if (!strcmp(a, "--trace-dir") && i + 1 < argc) {
			o->trace_dir = argv[++i];
		} else if (!strncmp(a, "--trace-dir=", 12)) {
			o->trace_dir = a + 12;
		} else if (!strcmp(a, "--source") && i + 1 < argc) {
			o->source = argv[++i];
		} else if (!strncmp(a, "--source=", 9)) {
			o->source = a + 9;
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr, "gg: unknown option '%s'\n%s", a, usage);
			exit(2);
		} else if (!o->verb) {
			size_t k;
			for (k = 0; verbs[k] && strcmp(verbs[k], a); k++)
				;
			if (!verbs[k]) {
				fprintf(stderr, "gg: unknown audit report '%s'\n%s", a, usage);
				exit(2);
			}
			o->verb = a;
		} else if (!o->arg && (!strcmp(o->verb, "why") || !strcmp(o->verb, "rdeps"))) {
			o->arg = a;
		} else {
			fprintf(stderr, "gg: unexpected argument '%s'\n%s", a, usage);
			exit(2);
		}
	}
	if (o->verb && (!strcmp(o->verb, "why") || !strcmp(o->verb, "rdeps")) && !o->arg &&
	    !o->help) {
		fprintf(stderr, "gg: 'gg audit %s' needs a path\n%s", o->verb, usage);
		exit(2);
	}
	if (o->color < 0) {
		const char *nc = getenv("NO_COLOR"), *term = getenv("TERM");
		color = isatty(1) && !(nc && nc[0]) && !(term && !strcmp(term, "dumb"));
	} else {
		color = o->color == 1;
	}
	if (o->json || o->dot)
		color = false;
}

static void open_audit(struct audit *a, const struct opts *o)
{
	struct audit_opts ao = { o->trace_dir, o->source };
	char *ggdir = cli_need_ggdir(), err[1024];

	if (audit_open(a, ggdir, &ao, err, sizeof(err)) < 0)
		die("%s", err);
	for (size_t i = 0; i < a->warnings.n; i++)
		warning("%s", a->warnings.v[i]);
	free(ggdir);
}

static void need(const struct audit *a, unsigned what)
{
	char err[512];
	if (audit_need(a, what, err, sizeof(err)) < 0)
		die("%s", err);
}

static void print_json(struct json *j)
{
	if (json_error(j))
		die("cannot write JSON: %s", strerror(-json_error(j)));
	fwrite(j->sb.buf, 1, j->sb.len, stdout);
	putchar('\n');
	json_release(j);
}

static void hash_json(struct json *j, const char *key, const struct gg_hash *h)
{
	char hex[GG_HASH_HEX_SIZE];
	json_kv_str(j, key, hash_to_hex(h, hex));
}

/* ---- edges ------------------------------------------------------------------------------------ */

static void run_edges(struct audit *a, struct audit_edges *e)
{
	char err[1024];
	need(a, AUDIT_NEED_GRAPH);
	if (audit_edges_run(a, e, err, sizeof(err)) < 0)
		die("%s", err);
}

/* Who produced the file, for a sentence: its target, else its command. */
static const char *producer_name(const struct audit *a, const struct audit_edge *e)
{
	if (e->producer_target && strcmp(e->producer_target, e->path))
		return shown(audit_rel(a, e->producer_target));
	return shown(short_cmd(a->g.nodes[e->producer].command, 60));
}

static void edge_sentence(const struct audit *a, const struct audit_edge *e)
{
	const char *t = e->target ? audit_rel(a, e->target) : a->g.nodes[e->consumer].label;
	const char *f = audit_rel(a, e->path);
	switch (e->status) {
	case AUDIT_MISSING:
		printf("  target '%s%s%s' reads '%s%s%s' (produced by '%s') but does not depend on it\n",
		       on(C_BOLD), shown(t), off(), on(C_BOLD), shown(f), off(), producer_name(a, e));
		break;
	case AUDIT_ORDER_ONLY:
		printf("  target '%s' reads '%s' (produced by '%s') through order-only "
		       "prerequisites only: a change to it does not rebuild the target\n",
		       shown(t), shown(f), producer_name(a, e));
		break;
	case AUDIT_DEPFILE_ONLY:
		printf("  target '%s' reads '%s' (produced by '%s'): %s; a clean parallel build "
		       "may run them in either order\n",
		       shown(t), shown(f), producer_name(a, e), shown(e->why));
		break;
	default:
		printf("  %s '%s' reads '%s' (produced by '%s')%s%s\n",
		       audit_status_name(e->status), shown(t), shown(f), producer_name(a, e),
		       e->why ? ": " : "", e->why ? shown(e->why) : "");
		break;
	}
}

static void drivers_text(const struct audit *a, const struct audit_edges *e)
{
	int wn = 4, wd = 9;
	if (!e->ndrivers)
		return;
	for (size_t i = 0; i < e->ndrivers; i++) {
		int l = (int)strlen(e->drivers[i].name), m;
		const char *dir = e->drivers[i].dir ? e->drivers[i].dir : e->drivers[i].cwd;
		wn = l > wn ? l : wn;
		m = (int)strlen(shown(audit_rel(a, dir)));
		wd = m > wd && m < 50 ? m : wd;
	}
	printf("%sbuild drivers%s\n", on(C_BOLD), off());
	for (size_t i = 0; i < e->ndrivers; i++) {
		const struct audit_driver *d = &e->drivers[i];
		const char *dir = d->dir ? d->dir : d->cwd;
		printf("  %-*s  %-*s  %-28s  ", wn, d->name, wd, shown(audit_rel(a, dir)),
		       shown(short_cmd(d->argv, 28)));
		if (d->error)
			printf("%snot queried%s: %s\n", on(C_YELLOW), off(), shown(d->error));
		else if (d->db >= 0)
			printf("%zu commands\n", d->commands);
		else
			printf("%zu commands (not needed)\n", d->commands);
	}
	putchar('\n');
}

static void edges_text(const struct audit *a, const struct audit_edges *e, bool all)
{
	size_t luck = e->count[AUDIT_ORDER_ONLY] + e->count[AUDIT_DEPFILE_ONLY];
	size_t checked = e->n;

	printf("gg audit edges: %zu edges between the commands of '%s'\n\n", checked,
	       shown(a->tree));
	drivers_text(a, e);
	if (e->count[AUDIT_MISSING]) {
		printf("%s%smissing dependencies (%zu)%s\n", on(C_BOLD), on(C_RED),
		       e->count[AUDIT_MISSING], off());
		for (size_t i = 0; i < e->n; i++)
			if (e->v[i].status == AUDIT_MISSING)
				edge_sentence(a, &e->v[i]);
		putchar('\n');
	}
	if (luck) {
		printf("%s%sworks by luck of ordering (%zu)%s\n", on(C_BOLD), on(C_YELLOW), luck,
		       off());
		for (size_t i = 0; i < e->n; i++)
			if (e->v[i].status == AUDIT_ORDER_ONLY || e->v[i].status == AUDIT_DEPFILE_ONLY)
				edge_sentence(a, &e->v[i]);
		putchar('\n');
	}
	if (e->count[AUDIT_UNCHECKED]) {
		size_t shown_n = 0;
		printf("%snot checked (%zu)%s\n", on(C_BOLD), e->count[AUDIT_UNCHECKED], off());
		for (size_t i = 0; i < e->n; i++) {
			if (e->v[i].status != AUDIT_UNCHECKED)
				continue;
			if (!all && shown_n++ >= 10) {
				printf("  ... (--all lists every one)\n");
				break;
			}
			edge_sentence(a, &e->v[i]);
		}
		putchar('\n');
	}
	if (all) {
		printf("%sdeclared (%zu)%s\n", on(C_BOLD),
		       e->count[AUDIT_OK] + e->count[AUDIT_INTERNAL], off());
		for (size_t i = 0; i < e->n; i++)
			if (e->v[i].status == AUDIT_OK || e->v[i].status == AUDIT_INTERNAL)
				edge_sentence(a, &e->v[i]);
		putchar('\n');
	}
	printf("%-14s %s%zu%s\n", "declared", on(C_GREEN), e->count[AUDIT_OK], off());
	printf("%-14s %zu  (commands of one recipe)\n", "internal", e->count[AUDIT_INTERNAL]);
	printf("%-14s %s%zu%s\n", "missing", e->count[AUDIT_MISSING] ? on(C_RED) : "",
	       e->count[AUDIT_MISSING], e->count[AUDIT_MISSING] ? off() : "");
	printf("%-14s %zu\n", "by luck", luck);
	printf("%-14s %zu\n", "not checked", e->count[AUDIT_UNCHECKED]);
	if (e->skipped_local)
		printf("%-14s %zu  (into local-only commands)\n", "skipped", e->skipped_local);
}

static void edges_json(const struct audit *a, const struct audit_edges *e, bool all)
{
	struct json j;
	json_init(&j, 0);
	json_obj_begin(&j);
	json_kv_str(&j, "tree", a->tree);
	json_key(&j, "drivers");
	json_arr_begin(&j);
	for (size_t i = 0; i < e->ndrivers; i++) {
		const struct audit_driver *d = &e->drivers[i];
		json_obj_begin(&j);
		json_kv_str(&j, "name", d->name);
		json_kv_str(&j, "cwd", d->cwd);
		json_kv_str(&j, "dir", d->dir);
		json_kv_str(&j, "argv", d->argv);
		json_kv_bool(&j, "queried", d->db >= 0);
		json_kv_str(&j, "error", d->error);
		json_kv_uint(&j, "commands", d->commands);
		json_key(&j, "parent");
		if (d->parent >= 0)
			json_int(&j, d->parent);
		else
			json_null(&j);
		json_obj_end(&j);
	}
	json_arr_end(&j);
	json_kv_uint(&j, "checked", e->n);
	json_kv_uint(&j, "skipped_local", e->skipped_local);
	json_key(&j, "counts");
	json_obj_begin(&j);
	for (int s = 0; s < AUDIT__NSTATUS; s++)
		json_kv_uint(&j, audit_status_name((enum audit_status)s), e->count[s]);
	json_obj_end(&j);
	json_key(&j, "edges");
	json_arr_begin(&j);
	for (size_t i = 0; i < e->n; i++) {
		const struct audit_edge *x = &e->v[i];
		if (!all && (x->status == AUDIT_OK || x->status == AUDIT_INTERNAL))
			continue;
		json_obj_begin(&j);
		json_kv_str(&j, "status", audit_status_name(x->status));
		json_kv_str(&j, "target", x->target ? audit_rel(a, x->target) : NULL);
		json_kv_str(&j, "reads", audit_rel(a, x->path));
		json_kv_str(&j, "path", x->path);
		json_kv_str(&j, "producer", a->g.nodes[x->producer].label);
		json_kv_str(&j, "producer_target",
			    x->producer_target ? audit_rel(a, x->producer_target) : NULL);
		json_kv_str(&j, "producer_command", a->g.nodes[x->producer].command);
		json_kv_str(&j, "consumer", a->g.nodes[x->consumer].label);
		json_kv_str(&j, "consumer_command", a->g.nodes[x->consumer].command);
		hash_json(&j, "producer_thunk", &a->g.nodes[x->producer].hash);
		hash_json(&j, "consumer_thunk", &a->g.nodes[x->consumer].hash);
		json_kv_str(&j, "why", x->why);
		json_key(&j, "driver");
		if (x->driver >= 0)
			json_int(&j, x->driver);
		else
			json_null(&j);
		json_obj_end(&j);
	}
	json_arr_end(&j);
	json_obj_end(&j);
	print_json(&j);
}

static int edges_status(const struct audit_edges *e, bool strict)
{
	if (e->count[AUDIT_MISSING])
		return 1;
	if (strict && (e->count[AUDIT_ORDER_ONLY] || e->count[AUDIT_DEPFILE_ONLY] ||
		       e->count[AUDIT_UNCHECKED]))
		return 1;
	return 0;
}

static int dot_out(const struct audit *a, const struct audit_edges *e, bool only_marked)
{
	uint8_t *marks = NULL;
	struct audit_dot_edge *edges = NULL;
	size_t n = 0;
	struct audit_dot d = { 0 };
	int ret = audit_dot_marks(&a->g, e, &marks, &edges, &n);
	if (ret < 0)
		die("out of memory");
	d.marks = marks;
	d.edges = edges;
	d.nedges = n;
	d.only_marked = only_marked;
	d.clusters = true;
	ret = audit_graph_dot(stdout, &a->g, &d);
	free(marks);
	free(edges);
	if (ret < 0)
		die("cannot write the graph: %s", strerror(-ret));
	return 0;
}

static int do_edges(struct audit *a, const struct opts *o)
{
	struct audit_edges e;
	int status;
	run_edges(a, &e);
	if (o->dot)
		dot_out(a, &e, true);
	else if (o->json)
		edges_json(a, &e, o->all);
	else
		edges_text(a, &e, o->all);
	status = edges_status(&e, o->strict);
	audit_edges_release(&e);
	return status;
}

static int do_graph(struct audit *a, const struct opts *o)
{
	struct audit_edges e;
	need(a, AUDIT_NEED_GRAPH);
	if (o->no_audit) {
		dot_out(a, NULL, false);
		return 0;
	}
	run_edges(a, &e);
	dot_out(a, &e, false);
	audit_edges_release(&e);
	return 0;
}

/* ---- system ------------------------------------------------------------------------------------ */

static void run_system(struct audit *a, struct audit_system *s)
{
	char err[1024];
	need(a, AUDIT_NEED_GRAPH);
	if (audit_system(a, s, err, sizeof(err)) < 0)
		die("%s", err);
	if (s->dpkg_error)
		warning("%s: packages are not known", s->dpkg_error);
}

static int do_system(struct audit *a, const struct opts *o)
{
	struct audit_system s;
	run_system(a, &s);
	if (o->json) {
		struct json j;
		char name[256];
		json_init(&j, 0);
		json_obj_begin(&j);
		json_kv_str(&j, "tree", a->tree);
		json_key(&j, "sources");
		json_strv(&j, (const char *const *)a->sources.v, a->sources.n);
		json_kv_bool(&j, "dpkg", s.dpkg);
		json_kv_str(&j, "dpkg_error", s.dpkg_error);
		json_kv_uint(&j, "dpkg_runs", s.dpkg_runs);
		json_kv_uint(&j, "cached", s.cached);
		json_key(&j, "packages");
		json_arr_begin(&j);
		for (size_t i = 0; i < s.npkgs; i++) {
			const struct audit_package *p = &s.pkgs[i];
			const char *colon = strchr(p->name, ':');
			json_obj_begin(&j);
			json_kv_str(&j, "package", dpkg_package_name(p->name, name, sizeof(name)));
			json_kv_str(&j, "name", p->name);
			json_kv_str(&j, "arch", colon ? colon + 1 : NULL);
			json_kv_str(&j, "version", p->version[0] ? p->version : NULL);
			json_key(&j, "files");
			json_arr_begin(&j);
			for (size_t k = 0; k < p->nfiles; k++)
				json_str(&j, s.files[p->files[k]].path);
			json_arr_end(&j);
			json_obj_end(&j);
		}
		json_arr_end(&j);
		json_key(&j, "unowned");
		json_arr_begin(&j);
		for (size_t i = 0; i < s.nfiles; i++)
			if (s.files[i].owner && !s.files[i].owner[0])
				json_str(&j, s.files[i].path);
		json_arr_end(&j);
		json_key(&j, "files");
		json_arr_begin(&j);
		for (size_t i = 0; i < s.nfiles; i++) {
			json_obj_begin(&j);
			json_kv_str(&j, "path", s.files[i].path);
			json_kv_str(&j, "owner", s.files[i].owner);
			json_kv_uint(&j, "readers", s.files[i].readers);
			json_kv_bool(&j, "tool", s.files[i].tool);
			json_obj_end(&j);
		}
		json_arr_end(&j);
		json_obj_end(&j);
		print_json(&j);
	} else {
		int wn = 7, wv = 7;
		printf("gg audit system: %zu files from outside '%s'", s.nfiles, shown(a->tree));
		if (s.dpkg)
			printf(", %zu packages, %zu owned by no package\n\n", s.npkgs, s.unowned);
		else
			printf(" (packages unknown)\n\n");
		for (size_t i = 0; i < s.npkgs; i++) {
			int l = (int)strlen(s.pkgs[i].name), m = (int)strlen(s.pkgs[i].version);
			wn = l > wn ? l : wn;
			wv = m > wv ? m : wv;
		}
		if (s.npkgs) {
			printf("%s%-*s  %-*s  %5s%s\n", on(C_BOLD), wn, "package", wv, "version",
			       "files", off());
			for (size_t i = 0; i < s.npkgs; i++) {
				const struct audit_package *p = &s.pkgs[i];
				printf("%-*s  %-*s  %5zu\n", wn, shown(p->name), wv, p->version, p->nfiles);
				for (size_t k = 0; o->files && k < p->nfiles; k++)
					printf("    %s\n", shown(s.files[p->files[k]].path));
			}
		}
		if (s.unowned || !s.dpkg) {
			printf("%s%s%s\n", on(C_BOLD), s.dpkg ? "owned by no package" : "files", off());
			for (size_t i = 0; i < s.nfiles; i++)
				if (!s.dpkg || (s.files[i].owner && !s.files[i].owner[0]))
					printf("    %s\n", shown(s.files[i].path));
		}
	}
	audit_system_release(&s);
	return 0;
}

/* ---- why --------------------------------------------------------------------------------------- */

struct why_ctx {
	struct audit *a;
	bool *printed;
	bool all;
};

static const char *kind_of(const struct audit *a, const struct thunk_input *in)
{
	if (in->hash.kind == GG_HASH_THUNK)
		return "generated";
	return audit_place(a, in->path) == AUDIT_OUTSIDE ? "system" : "source";
}

static void why_tree(struct why_ctx *c, size_t n, const char *prefix, int depth)
{
	const struct thunk *th = &c->a->thunks[n];
	size_t nsys = 0, ntools = 0, nlines = 0, k = 0;
	char sub[1024];

	c->printed[n] = true;
	if (!c->a->have_thunk[n])
		return;
	/* how many lines this node prints, to draw the last branch */
	for (size_t i = 0; i < th->inputs.n; i++) {
		const char *kind = kind_of(c->a, &th->inputs.v[i]);
		if (!strcmp(kind, "system") && !c->all)
			nsys++;
		else
			nlines++;
	}
	if (c->all)
		nlines += th->objects.n + (th->exe.path ? 1 : 0);
	else
		ntools = th->objects.n + (th->exe.path ? 1 : 0);
	if (nsys || ntools)
		nlines++;
	for (size_t i = 0; i < th->inputs.n; i++) {
		const struct thunk_input *in = &th->inputs.v[i];
		const char *kind = kind_of(c->a, in);
		bool last;
		if (!strcmp(kind, "system") && !c->all)
			continue;
		last = ++k == nlines;
		if (in->hash.kind == GG_HASH_THUNK) {
			long p = graph_find_hash(&c->a->g, &in->hash);
			printf("%s%s %s%s%s  <- %s%s\n", prefix, last ? "`--" : "|--", on(C_BOLD),
			       shown(audit_rel(c->a, in->path)), off(),
			       p >= 0 ? shown(short_cmd(c->a->g.nodes[p].command, 60)) : "?",
			       p >= 0 && c->printed[p] ? "  (see above)" : "");
			if (p >= 0 && !c->printed[p] && depth < 200) {
				snprintf(sub, sizeof(sub), "%s%s", prefix, last ? "    " : "|   ");
				why_tree(c, (size_t)p, sub, depth + 1);
			}
		} else {
			printf("%s%s %-40s %s%s%s\n", prefix, last ? "`--" : "|--",
			       shown(audit_rel(c->a, in->path)), on(C_DIM), kind, off());
		}
	}
	if (c->all) {
		for (size_t i = 0; i <= th->objects.n; i++) {
			const char *p = i < th->objects.n ? th->objects.v[i].path : th->exe.path;
			if (!p)
				continue;
			printf("%s%s %-40s %stool%s\n", prefix, ++k == nlines ? "`--" : "|--", shown(p),
			       on(C_DIM), off());
		}
	} else if (nsys || ntools) {
		char what[128];
		const char *fs = nsys == 1 ? "" : "s", *ts = ntools == 1 ? "" : "s";
		if (nsys && ntools)
			snprintf(what, sizeof(what), "%zu system file%s and %zu tool%s", nsys, fs,
				 ntools, ts);
		else if (nsys)
			snprintf(what, sizeof(what), "%zu system file%s", nsys, fs);
		else
			snprintf(what, sizeof(what), "%zu tool%s", ntools, ts);
		printf("%s`-- %s(%s: --all lists them)%s\n", prefix, on(C_DIM), what, off());
	}
}

static int do_why(struct audit *a, const struct opts *o)
{
	size_t *nodes = NULL, n = 0;
	char err[PATH_MAX + 128];

	need(a, AUDIT_NEED_GRAPH);
	if (audit_why(a, o->arg, &nodes, &n, err, sizeof(err)) < 0)
		die("%s", err);
	if (o->json) {
		struct json j;
		json_init(&j, 0);
		json_obj_begin(&j);
		json_kv_str(&j, "output", o->arg);
		hash_json(&j, "thunk", &a->g.nodes[nodes[0]].hash);
		json_key(&j, "closure");
		json_arr_begin(&j);
		for (size_t i = 0; i < n; i++) {
			const struct graph_node *nd = &a->g.nodes[nodes[i]];
			const struct thunk *th = &a->thunks[nodes[i]];
			json_obj_begin(&j);
			hash_json(&j, "thunk", &nd->hash);
			json_kv_str(&j, "label", nd->label);
			json_kv_str(&j, "command", nd->command);
			json_key(&j, "outputs");
			json_arr_begin(&j);
			for (size_t k = 0; k < nd->noutputs; k++)
				json_str(&j, nd->outputs[k].path);
			json_arr_end(&j);
			json_key(&j, "inputs");
			json_arr_begin(&j);
			for (size_t k = 0; a->have_thunk[nodes[i]] && k < th->inputs.n; k++) {
				const struct thunk_input *in = &th->inputs.v[k];
				json_obj_begin(&j);
				json_kv_str(&j, "path", in->path);
				json_kv_str(&j, "kind", kind_of(a, in));
				if (in->hash.kind == GG_HASH_THUNK)
					hash_json(&j, "producer", &in->hash);
				json_obj_end(&j);
			}
			json_arr_end(&j);
			json_key(&j, "tools");
			json_arr_begin(&j);
			if (a->have_thunk[nodes[i]]) {
				if (th->exe.path)
					json_str(&j, th->exe.path);
				for (size_t k = 0; k < th->objects.n; k++)
					json_str(&j, th->objects.v[k].path);
			}
			json_arr_end(&j);
			json_obj_end(&j);
		}
		json_arr_end(&j);
		json_obj_end(&j);
		print_json(&j);
	} else {
		struct why_ctx c = { a, calloc(a->g.n + 1, sizeof(bool)), o->all };
		if (!c.printed)
			die("out of memory");
		printf("%s%s%s  <- %s\n", on(C_BOLD), shown(audit_rel(a, a->g.nodes[nodes[0]].label)),
		       off(), shown(short_cmd(a->g.nodes[nodes[0]].command, 70)));
		why_tree(&c, nodes[0], "", 0);
		printf("\n%zu commands in the closure of '%s'\n", n, shown(o->arg));
		free(c.printed);
	}
	free(nodes);
	return 0;
}

/* ---- rdeps -------------------------------------------------------------------------------------- */

static const char *how_name(enum audit_rdep_how h)
{
	return h == AUDIT_READS ? "reads" : h == AUDIT_RUNS ? "runs" : h == AUDIT_PROBES ? "probes" : "via";
}

static int do_rdeps(struct audit *a, const struct opts *o)
{
	struct audit_rdep *v = NULL;
	size_t n = 0, nout = 0;
	char resolved[PATH_MAX * 2];

	need(a, AUDIT_NEED_GRAPH);
	if (audit_rdeps(a, o->arg, &v, &n, resolved, sizeof(resolved)) < 0)
		die("out of memory");
	for (size_t i = 0; i < n; i++)
		nout += a->g.nodes[v[i].node].noutputs;
	if (o->json) {
		struct json j;
		json_init(&j, 0);
		json_obj_begin(&j);
		json_kv_str(&j, "file", resolved);
		json_key(&j, "affected");
		json_arr_begin(&j);
		for (size_t i = 0; i < n; i++) {
			const struct graph_node *nd = &a->g.nodes[v[i].node];
			json_obj_begin(&j);
			hash_json(&j, "thunk", &nd->hash);
			json_kv_str(&j, "label", nd->label);
			json_kv_str(&j, "how", how_name(v[i].how));
			json_kv_uint(&j, "depth", v[i].depth);
			json_kv_str(&j, "via", v[i].via >= 0 ? a->g.nodes[v[i].via].label : NULL);
			json_key(&j, "outputs");
			json_arr_begin(&j);
			for (size_t k = 0; k < nd->noutputs; k++)
				json_str(&j, nd->outputs[k].path);
			json_arr_end(&j);
			json_obj_end(&j);
		}
		json_arr_end(&j);
		json_obj_end(&j);
		print_json(&j);
	} else if (!n) {
		printf("gg audit rdeps: no recorded command read '%s'\n", shown(resolved));
	} else {
		/* one line per output that would change, and why */
		int w = 10;
		for (size_t i = 0; i < n; i++)
			for (size_t k = 0; k < a->g.nodes[v[i].node].noutputs; k++) {
				const char *p = a->g.nodes[v[i].node].outputs[k].path;
				int l = (int)strlen(shown(audit_rel(a, p)));
				w = l > w && l < 60 ? l : w;
			}
		printf("gg audit rdeps: %zu outputs of %zu commands depend on '%s'\n\n", nout, n,
		       shown(audit_rel(a, resolved)));
		for (size_t i = 0; i < n; i++) {
			const struct graph_node *nd = &a->g.nodes[v[i].node];
			for (size_t k = 0; k < nd->noutputs; k++) {
				printf("  %-*s  ", w, shown(audit_rel(a, nd->outputs[k].path)));
				if (v[i].how == AUDIT_VIA)
					printf("%svia %s%s\n", on(C_DIM), shown(a->g.nodes[v[i].via].label),
					       off());
				else
					printf("%s%s it%s\n", on(C_BOLD), how_name(v[i].how), off());
			}
		}
	}
	free(v);
	return 0;
}

/* ---- local-only ---------------------------------------------------------------------------------- */

static int do_local(struct audit *a, const struct opts *o)
{
	size_t n = 0;
	need(a, AUDIT_NEED_GRAPH);
	for (size_t i = 0; i < a->g.n; i++)
		n += a->g.nodes[i].local != 0;
	if (o->json) {
		struct json j;
		json_init(&j, 0);
		json_obj_begin(&j);
		json_kv_uint(&j, "thunks", a->g.n);
		json_kv_uint(&j, "local_only", n);
		json_key(&j, "commands");
		json_arr_begin(&j);
		for (size_t i = 0; i < a->g.n; i++) {
			const struct graph_node *nd = &a->g.nodes[i];
			if (!nd->local)
				continue;
			json_obj_begin(&j);
			hash_json(&j, "thunk", &nd->hash);
			json_kv_str(&j, "label", nd->label);
			json_kv_str(&j, "command", nd->command);
			json_key(&j, "reasons");
			cli_local_json(&j, nd->local);
			json_obj_end(&j);
		}
		json_arr_end(&j);
		json_obj_end(&j);
		print_json(&j);
		return 0;
	}
	printf("gg audit local-only: %zu of %zu commands cannot run remotely\n", n, a->g.n);
	if (n) {
		int wl = 6, wr = 7;
		char r[256];
		for (size_t i = 0; i < a->g.n; i++) {
			int l;
			if (!a->g.nodes[i].local)
				continue;
			l = (int)strlen(shown(a->g.nodes[i].label));
			wl = l > wl && l < 50 ? l : wl;
			cli_local_str(a->g.nodes[i].local, r, sizeof(r));
			wr = (int)strlen(r) > wr ? (int)strlen(r) : wr;
		}
		printf("\n%s%-*s  %-*s  %s%s\n", on(C_BOLD), wl, "output", wr, "reasons", "command",
		       off());
		for (size_t i = 0; i < a->g.n; i++) {
			if (!a->g.nodes[i].local)
				continue;
			cli_local_str(a->g.nodes[i].local, r, sizeof(r));
			printf("%-*s  %s%-*s%s  %s\n", wl, shown(a->g.nodes[i].label), on(C_YELLOW), wr,
			       r, off(), shown(short_cmd(a->g.nodes[i].command, 60)));
		}
	}
	return 0;
}

/* ---- remote ---------------------------------------------------------------------------------------- */

/*
 * Node i's exe is an ELF file without an interpreter: the worker's level 3 cannot run
 * it through the recorded loader, so the shim never sees its paths (issue 11).  A
 * recorded exe is read from the store, one the build produced from the tree.
 */
static bool static_exe(struct audit *a, size_t i)
{
	const struct thunk *t;
	char magic[4];
	bool elf;
	int fd;

	if (!a->have_store || !a->have_thunk || !a->have_thunk[i])
		return false;
	t = &a->thunks[i];
	if (t->interp && t->interp[0])
		return false;
	fd = t->exe.hash.kind == GG_HASH_VALUE ? store_open(&a->st, &t->exe.hash)
					       : open(t->exe.path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	elf = read(fd, magic, 4) == 4 && !memcmp(magic, "\x7f" "ELF", 4);
	close(fd);
	return elf;
}

static int do_remote(struct audit *a, const struct opts *o)
{
	char (*why)[256];
	size_t n = 0;
	int wl = 6, wr = 7;
	struct json j;

	need(a, AUDIT_NEED_GRAPH);
	why = xcalloc(a->g.n ? a->g.n : 1, sizeof(*why));
	for (size_t i = 0; i < a->g.n; i++) {
		size_t len;
		if (a->g.nodes[i].local)
			cli_local_str(a->g.nodes[i].local, why[i], sizeof(why[i]));
		len = strlen(why[i]);
		if (static_exe(a, i))
			snprintf(why[i] + len, sizeof(why[i]) - len, "%sstatic-executable",
				 len ? ", " : "");
		if (!why[i][0])
			continue;
		n++;
		wl = (int)strlen(shown(a->g.nodes[i].label)) > wl &&
				     strlen(shown(a->g.nodes[i].label)) < 50
			     ? (int)strlen(shown(a->g.nodes[i].label))
			     : wl;
		wr = (int)strlen(why[i]) > wr ? (int)strlen(why[i]) : wr;
	}
	if (o->json) {
		json_init(&j, 0);
		json_obj_begin(&j);
		json_kv_uint(&j, "thunks", a->g.n);
		json_kv_uint(&j, "not_remote", n);
		json_key(&j, "commands");
		json_arr_begin(&j);
		for (size_t i = 0; i < a->g.n; i++) {
			if (!why[i][0])
				continue;
			json_obj_begin(&j);
			hash_json(&j, "thunk", &a->g.nodes[i].hash);
			json_kv_str(&j, "label", a->g.nodes[i].label);
			json_kv_str(&j, "command", a->g.nodes[i].command);
			json_kv_str(&j, "reasons", why[i]);
			json_obj_end(&j);
		}
		json_arr_end(&j);
		json_obj_end(&j);
		print_json(&j);
		free(why);
		return 0;
	}
	printf("gg audit remote: %zu of %zu commands cannot run remotely\n", n, a->g.n);
	if (n)
		printf("\n%s%-*s  %-*s  %s%s\n", on(C_BOLD), wl, "output", wr, "reasons", "command",
		       off());
	for (size_t i = 0; i < a->g.n; i++)
		if (why[i][0])
			printf("%-*s  %s%-*s%s  %s\n", wl, shown(a->g.nodes[i].label), on(C_YELLOW), wr,
			       why[i], off(), shown(short_cmd(a->g.nodes[i].command, 60)));
	free(why);
	return 0;
}

/* ---- compile-commands ------------------------------------------------------------------------------ */

static int do_cc(struct audit *a, const struct opts *o)
{
	struct audit_cc *v = NULL;
	size_t n = 0;
	struct json j;

	need(a, AUDIT_NEED_TRACE);
	if (audit_compile_commands(&a->t, &v, &n) < 0)
		die("out of memory");
	fputs("[", stdout);
	for (size_t i = 0; i < n; i++) {
		json_init(&j, 0);
		json_obj_begin(&j);
		json_key(&j, "arguments");
		json_strv(&j, (const char *const *)v[i].args.v, v[i].args.n);
		json_kv_str(&j, "directory", v[i].directory);
		json_kv_str(&j, "file", v[i].file);
		if (v[i].output)
			json_kv_str(&j, "output", v[i].output);
		json_obj_end(&j);
		if (json_error(&j))
			die("cannot write JSON: %s", strerror(-json_error(&j)));
		printf("%s\n  ", i ? "," : "");
		fwrite(j.sb.buf, 1, j.sb.len, stdout);
		json_release(&j);
	}
	fputs(n ? "\n]\n" : "]\n", stdout);
	(void)o;
	audit_cc_free(v, n);
	return 0;
}

/* ---- the summary -------------------------------------------------------------------------------- */

static int do_summary(struct audit *a, const struct opts *o)
{
	struct audit_edges e;
	struct audit_system s;
	struct audit_cc *cc = NULL;
	size_t ncc = 0, local = 0, luck;
	int status;

	need(a, AUDIT_NEED_GRAPH);
	run_edges(a, &e);
	run_system(a, &s);
	if (a->have_trace && audit_compile_commands(&a->t, &cc, &ncc) < 0)
		die("out of memory");
	for (size_t i = 0; i < a->g.n; i++)
		local += a->g.nodes[i].local != 0;
	luck = e.count[AUDIT_ORDER_ONLY] + e.count[AUDIT_DEPFILE_ONLY];
	if (o->json) {
		struct json j;
		json_init(&j, 0);
		json_obj_begin(&j);
		json_kv_str(&j, "tree", a->tree);
		json_kv_uint(&j, "thunks", a->g.n);
		json_key(&j, "edges");
		json_obj_begin(&j);
		json_kv_uint(&j, "checked", e.n);
		for (int k = 0; k < AUDIT__NSTATUS; k++)
			json_kv_uint(&j, audit_status_name((enum audit_status)k), e.count[k]);
		json_obj_end(&j);
		json_kv_uint(&j, "local_only", local);
		json_kv_uint(&j, "system_files", s.nfiles);
		json_kv_uint(&j, "packages", s.npkgs);
		json_kv_uint(&j, "unowned", s.unowned);
		json_kv_uint(&j, "compile_commands", ncc);
		json_obj_end(&j);
		print_json(&j);
	} else {
		printf("gg audit: '%s', %zu commands\n", shown(a->tree), a->g.n);
		printf("  %-12s %zu checked: %s%zu declared%s, %s%zu missing%s, %zu by luck, "
		       "%zu not checked\n",
		       "edges", e.n, on(C_GREEN), e.count[AUDIT_OK] + e.count[AUDIT_INTERNAL], off(),
		       e.count[AUDIT_MISSING] ? on(C_RED) : "", e.count[AUDIT_MISSING],
		       e.count[AUDIT_MISSING] ? off() : "", luck, e.count[AUDIT_UNCHECKED]);
		printf("  %-12s %zu of %zu commands\n", "local-only", local, a->g.n);
		if (s.dpkg)
			printf("  %-12s %zu files from %zu packages, %zu owned by none\n", "system",
			       s.nfiles, s.npkgs, s.unowned);
		else
			printf("  %-12s %zu files (packages unknown)\n", "system", s.nfiles);
		printf("  %-12s %zu compile commands\n", "compile", ncc);
		for (size_t i = 0; i < e.n; i++)
			if (e.v[i].status == AUDIT_MISSING)
				edge_sentence(a, &e.v[i]);
		if (e.count[AUDIT_MISSING] || luck || e.count[AUDIT_UNCHECKED])
			printf("see 'gg audit edges'\n");
	}
	status = edges_status(&e, o->strict);
	audit_cc_free(cc, ncc);
	audit_system_release(&s);
	audit_edges_release(&e);
	return status;
}

int cmd_audit(int argc, char **argv)
{
	struct opts o;
	struct audit a;
	int status;

	parse(argc, argv, &o);
	if (o.help) {
		fputs(usage, stdout);
		fputs(help, stdout);
		return 0;
	}
	open_audit(&a, &o);
	if (!o.verb)
		status = do_summary(&a, &o);
	else if (!strcmp(o.verb, "edges"))
		status = do_edges(&a, &o);
	else if (!strcmp(o.verb, "system"))
		status = do_system(&a, &o);
	else if (!strcmp(o.verb, "why"))
		status = do_why(&a, &o);
	else if (!strcmp(o.verb, "rdeps"))
		status = do_rdeps(&a, &o);
	else if (!strcmp(o.verb, "remote"))
		status = do_remote(&a, &o);
	else if (!strcmp(o.verb, "local-only"))
		status = do_local(&a, &o);
	else if (!strcmp(o.verb, "compile-commands"))
		status = do_cc(&a, &o);
	else
		status = do_graph(&a, &o);
	if (fflush(stdout) == EOF)
		die("cannot write output: %s", strerror(errno));
	audit_release(&a);
	return status;
}
