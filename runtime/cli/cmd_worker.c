/*
 * cmd_worker.c - `gg worker exec` (one thunk from a blob directory, runtime/engine/
 * worker.h) and `gg worker prepare` (a recorded thunk made portable and exported
 * with its blobs, for a worker elsewhere).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/cli/cmds.h"
#include "runtime/engine/worker.h"
#include "runtime/ir/graph.h"
#include "runtime/lib/json.h"
#include "runtime/lib/util.h"
#include "runtime/store/ggdir.h"
#include "runtime/store/store.h"

#define WORKER_USAGE                                                                          \
	"usage: gg worker exec THUNK... --blobs DIR [--out DIR] [--cache DIR] [--cache-max BYTES]\n" \
	"                      [--root-base DIR] [--level 1|3] [--timeout MS] [--shim LIB]\n"    \
	"                      [--keep] [--msgpack]\n"                                           \
	"   or: gg worker prepare PATH|HASH --blobs DIR\n"

static const char worker_help[] =
	WORKER_USAGE
	"\n"
	"exec: run each THUNK (a T... hash), in order, in this one process, from the blobs\n"
	"in DIR (a directory holding blobs/, as .gg does, or blobs/ itself): its inputs\n"
	"are fetched into an input cache (--cache, default $TMPDIR/gg/cache, at most\n"
	"--cache-max bytes, least recently used first out) and linked under a root\n"
	"/tmp/gg/r/<job> at their recorded paths; the command runs in a namespace sandbox\n"
	"where the host allows one (level 1), else under the shim's path virtualization\n"
	"(level 3), with exactly its recorded environment.  Its outputs go into the store\n"
	"at --out (default DIR).  Prints one JSON report a line per thunk (--msgpack:\n"
	"worker.h's binary reports): output hashes, level, exit status, stderr tail,\n"
	"fetch/run/store times.  Exits 0 if every command succeeded and its outputs were\n"
	"stored, 1 if not, 2 on usage errors.\n"
	"\n"
	"prepare: the thunk that produced PATH (or thunk HASH) in this tree's graph, made\n"
	"portable (references replaced by their recorded values, symbolic links followed\n"
	"on this host), stored, and exported with every blob it names into DIR; prints\n"
	"the portable thunk's hash.\n";

static void usage(void)
{
	fputs(WORKER_USAGE, stderr);
	exit(2);
}

static const char *need_arg(int argc, char **argv, int *i)
{
	if (*i + 1 >= argc) {
		fprintf(stderr, "gg: option '%s' needs a value\n", argv[*i]);
		usage();
	}
	return argv[++*i];
}

/* The shim for level 3: --shim, $GG_SHIM_LIB, lib/ next to this program (the
 * Lambda package: /var/task/bootstrap and /var/task/lib/), or ../lib/ (a build). */
static char *find_shim(const char *opt)
{
	char exe[PATH_MAX], *p = NULL;
	ssize_t n;

	if (opt)
		return xstrdup(opt);
	if (!getenv("GG_SHIM_LIB") && (n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) > 0) {
		exe[n] = '\0';
		*strrchr(exe, '/') = '\0';
		if (asprintf(&p, "%s/lib/libggshim.so", exe) < 0)
			die("out of memory");
		if (access(p, R_OK) == 0)
			return p;
		free(p);
	}
	if (cmd_shim_path(&p) < 0)
		return NULL;
	return p;
}

static int worker_exec_cmd(int argc, char **argv)
{
	struct worker_opts o = { 0 };
	struct worker_report rep;
	const char *shim_opt = NULL;
	struct strlist thunks = STRLIST_INIT;
	struct gg_hash h;
	bool msgpack = false;
	char *shim;
	int ret, rc = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			fputs(worker_help, stdout);
			return 0;
		} else if (!strcmp(a, "--blobs")) {
			o.blobs = need_arg(argc, argv, &i);
		} else if (!strcmp(a, "--out")) {
			o.out = need_arg(argc, argv, &i);
		} else if (!strcmp(a, "--cache")) {
			o.cache_dir = need_arg(argc, argv, &i);
		} else if (!strcmp(a, "--cache-max")) {
			o.cache_max = strtoull(need_arg(argc, argv, &i), NULL, 10);
		} else if (!strcmp(a, "--root-base")) {
			o.root_base = need_arg(argc, argv, &i);
		} else if (!strcmp(a, "--level")) {
			o.level = atoi(need_arg(argc, argv, &i));
		} else if (!strcmp(a, "--timeout")) {
			o.timeout_ms = (unsigned)strtoul(need_arg(argc, argv, &i), NULL, 10);
		} else if (!strcmp(a, "--shim")) {
			shim_opt = need_arg(argc, argv, &i);
		} else if (!strcmp(a, "--keep")) {
			o.keep = true;
		} else if (!strcmp(a, "--msgpack")) {
			msgpack = true;
		} else if (a[0] == '-') {
			fprintf(stderr, "gg: unexpected argument '%s'\n", a);
			usage();
		} else {
			if (hash_from_hex_str(a, &h) < 0 || h.kind != GG_HASH_THUNK)
				die("'%s' is not a thunk hash (T followed by 32 hex digits)", a);
			if (strlist_push(&thunks, a) < 0)
				die("out of memory");
		}
	}
	if (!thunks.n || !o.blobs)
		usage();
	shim = find_shim(shim_opt);
	o.shim = shim;
	/* one after the other, in one process (as a function instance takes invocations) */
	for (size_t i = 0; i < thunks.n; i++) {
		(void)hash_from_hex_str(thunks.v[i], &h);
		ret = worker_exec(&o, &h, &rep);
		if (!(ret == 0 && rep.res.ran && rep.res.status == 0 && !rep.res.err))
			rc = 1;
		if (msgpack) {
			struct sbuf sb = SBUF_INIT;
			if (worker_report_pack(&rep, &sb) < 0 ||
			    fwrite(sb.buf, 1, sb.len, stdout) != sb.len)
				die("cannot write the report");
			sbuf_release(&sb);
		} else {
			struct json j;
			json_init(&j, 0);
			if (worker_report_json(&rep, &j) < 0)
				die("cannot render the report");
			printf("%s\n", j.sb.buf);
			json_release(&j);
		}
		worker_report_release(&rep);
	}
	if (fflush(stdout) == EOF)
		die("cannot write output: %s", strerror(errno));
	strlist_release(&thunks);
	free(shim);
	return rc;
}

static int worker_prepare_cmd(int argc, char **argv)
{
	const char *what = NULL, *dir = NULL;
	struct graph g;
	struct store st = STORE_INIT;
	struct thunk th, port;
	struct gg_hash h;
	char *ggdir = NULL, *abs = NULL, err[PATH_MAX + 256] = "";
	char hex[GG_HASH_HEX_SIZE];
	uint64_t bytes = 0;
	long n = -1;
	int ret;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(worker_help, stdout);
			return 0;
		} else if (!strcmp(argv[i], "--blobs")) {
			dir = need_arg(argc, argv, &i);
		} else if (argv[i][0] == '-' || what) {
			fprintf(stderr, "gg: unexpected argument '%s'\n", argv[i]);
			usage();
		} else {
			what = argv[i];
		}
	}
	if (!what || !dir)
		usage();
	if ((ret = ggdir_find(NULL, &ggdir)) < 0)
		die("no .gg directory here or in any parent: run 'gg init'");
	cmd_load_graph(ggdir, &g);
	if (hash_from_hex_str(what, &h) == 0 && h.kind == GG_HASH_THUNK)
		n = graph_find_hash(&g, &h);
	else if (path_abs(what, NULL, &abs) == 0)
		n = graph_find_path(&g, abs, NULL);
	if (n < 0)
		die("no thunk produced '%s'", what);
	if ((ret = store_init(&st, ggdir, 0)) < 0)
		die("cannot open the store in '%s': %s", ggdir, strerror(-ret));
	if ((ret = store_load_thunk(&st, &g.nodes[n].hash, &th)) < 0)
		die("cannot read thunk of '%s': %s", what, strerror(-ret));
	if ((ret = worker_portable(&st, &th, graph_recorded_value, &g, &port, err, sizeof(err))) < 0)
		die("cannot make the thunk of '%s' portable: %s", what, err[0] ? err : strerror(-ret));
	{
		char *buf = NULL;
		size_t len;
		if ((ret = thunk_encode(&port, &buf, &len)) < 0 ||
		    (ret = store_put_buf(&st, GG_HASH_THUNK, buf, len, &h)) < 0)
			die("cannot store the portable thunk: %s", strerror(-ret));
		free(buf);
	}
	if ((ret = worker_export(&st, &h, dir, &bytes)) < 0)
		die("cannot export thunk %s into '%s': %s", hash_to_hex(&h, hex), dir, strerror(-ret));
	printf("%s\n", hash_to_hex(&h, hex));
	thunk_release(&port);
	thunk_release(&th);
	store_release(&st);
	graph_release(&g);
	free(abs);
	free(ggdir);
	return 0;
}

int cmd_worker(int argc, char **argv)
{
	if (argc < 2)
		usage();
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		fputs(worker_help, stdout);
		return 0;
	}
	if (!strcmp(argv[1], "exec"))
		return worker_exec_cmd(argc - 1, argv + 1);
	if (!strcmp(argv[1], "prepare"))
		return worker_prepare_cmd(argc - 1, argv + 1);
	fprintf(stderr, "gg: unknown worker command '%s'\n", argv[1]);
	usage();
	return 2;
}
