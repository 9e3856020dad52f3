/*
 * main.c - the gg command: a table of verbs, each a function taking (argc, argv)
 * with argv[0] the verb's name, returning the process exit status.
 *
 * Exit statuses: 0 success, 1 failure (a message was printed), 2 usage error;
 * `gg record` exits with its command's status (128 + signal when it was killed).
 *
 * To add a verb: write `int cmd_<verb>(int argc, char **argv)` (here, or in
 * runtime/cmd_*.c declared in cmds.h), and add a row to `verbs` below with its
 * usage line, summary and help text (or NULL help when `VERB --help` prints it).  Only this level prints and
 * exits: library calls return -errno and their messages.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/cli/cmds.h"
#include "runtime/engine/lambda_runtime.h"
#include "runtime/store/ggdir.h"
#include "runtime/lib/json.h"
#include "runtime/trace/trace_dump.h"
#include "shim/trace_format.h"
#include "runtime/trace/trace_read.h"
#include "runtime/lib/util.h"

#define GG_VERSION "0.1.0"

extern char **environ;

struct verb {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *usage;   /* "gg record [...]": one line, or lines joined by \n */
	const char *summary; /* for `gg --help` */
	const char *help;    /* for `gg help VERB`, after the usage; NULL: the verb
			      * prints its own on `VERB --help` */
};

static const struct verb *find_verb(const char *name);

/* ---- option parsing ------------------------------------------------------------ */

__attribute__((noreturn)) static void usage_error(const struct verb *v, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void usage_error(const struct verb *v, const char *fmt, ...)
{
	va_list ap;

	fputs("gg: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nusage: %s\n", v->usage);
	exit(2);
}

static void print_verb_help(const struct verb *v, FILE *out)
{
	fprintf(out, "usage: %s\n\n%s", v->usage, v->help);
}

/* True for "-h" and "--help". */
static bool is_help(const char *arg)
{
	return !strcmp(arg, "-h") || !strcmp(arg, "--help");
}

/*
 * Match "--name VALUE" or "--name=VALUE" at argv[*i]; advances *i past what it
 * used.  Returns the value, or NULL when argv[*i] is not this option.
 */
static const char *opt_value(const struct verb *v, int argc, char **argv, int *i,
			     const char *name)
{
	size_t n = strlen(name);
	const char *a = argv[*i];

	if (strncmp(a, name, n) != 0)
		return NULL;
	if (a[n] == '=')
		return a + n + 1;
	if (a[n] != '\0')
		return NULL;
	if (*i + 1 >= argc)
		usage_error(v, "option '%s' needs a value", name);
	return argv[++*i];
}

/* A verb's option: a flag sets *flag, an option with a value stores it in *value. */
struct opt {
	const char *name;
	bool *flag;
	const char **value;
};

/*
 * Parse argv[1..] against opts (ended by a NULL name); -h/--help prints the verb's
 * help and exits 0.  With `args`, the options end at the first argument or after
 * "--", whose index is returned, and an unknown option is a usage error; without,
 * every argument must be an option (returns argc).
 */
static int parse_opts(const struct verb *v, int argc, char **argv, const struct opt *opts,
		      bool args)
{
	int i;

	for (i = 1; i < argc; i++) {
		const struct opt *o;
		const char *val;

		if (args && !strcmp(argv[i], "--"))
			return i + 1;
		if (args && argv[i][0] != '-')
			return i;
		if (is_help(argv[i])) {
			print_verb_help(v, stdout);
			exit(0);
		}
		for (o = opts; o->name; o++) {
			if (o->flag && !strcmp(argv[i], o->name)) {
				*o->flag = true;
				break;
			}
			if (o->value && (val = opt_value(v, argc, argv, &i, o->name))) {
				*o->value = val;
				break;
			}
		}
		if (!o->name)
			usage_error(v, args ? "unknown option '%s'" : "unexpected argument '%s'",
				    argv[i]);
	}
	return i;
}

/* ---- gg init ------------------------------------------------------------------ */

static int cmd_init(int argc, char **argv)
{
	const struct verb *v = find_verb("init");
	char *dir;
	int ret;

	parse_opts(v, argc, argv, (const struct opt[]){ { NULL } }, false);
	ret = ggdir_init(NULL, &dir, NULL);
	if (ret) {
		const char *env = getenv(GG_ENV_DIR);
		die("cannot create gg directory '%s': %s",
		    env && *env ? env : GGDIR_NAME, strerror(-ret));
	}
	printf("%s\n", dir);
	free(dir);
	return 0;
}

/* ---- gg record ----------------------------------------------------------------- */

static volatile sig_atomic_t child_pid;
static volatile sig_atomic_t pending_sig;

/*
 * Forward SIGINT/SIGTERM/SIGHUP/SIGQUIT to the command.  A signal the kernel
 * generated for the terminal's foreground process group (Ctrl-C: si_code
 * SI_KERNEL) already reached the command, which is in our group, so only signals
 * sent to gg itself (kill(2): si_code <= 0, see sigaction(2)) are passed on.
 */
static void forward_signal(int sig, siginfo_t *info, void *uctx)
{
	int saved = errno;

	if (child_pid > 0) {
		if (info->si_code <= 0)
			kill((pid_t)child_pid, sig);
	} else {
		pending_sig = sig;
	}
	errno = saved;
}

/*
 * Check that the shim loads (every symbol it needs resolves) before a whole build
 * is run under it: a broken libggshim.so would make every program of the build
 * fail with "symbol lookup error".  It is loaded here with GG_SHIM_OFF=1, so its
 * constructor stays passive, and RTLD_LOCAL, so it interposes nothing in gg.
 * Returns NULL, or dlerror()'s message.
 */
static const char *shim_load_error(const char *shim)
{
	const char *old = getenv(GG_ENV_SHIM_OFF);
	char *saved = old ? xstrdup(old) : NULL;
	const char *err = NULL;
	void *h;

	setenv(GG_ENV_SHIM_OFF, "1", 1);
	h = dlopen(shim, RTLD_NOW | RTLD_LOCAL);
	if (!h)
		err = dlerror();
	if (saved)
		setenv(GG_ENV_SHIM_OFF, saved, 1);
	else
		unsetenv(GG_ENV_SHIM_OFF);
	free(saved);
	return err;
}

/* Create the trace directory and prove it writable with a probe file. */
static int trace_dir_writable(const char *dir)
{
	char *probe;
	int fd, ret;

	ret = ggdir_mkdirs(dir);
	if (ret)
		return ret;
	if (asprintf(&probe, "%s/.gg-probe-%ld", dir, (long)getpid()) < 0)
		return -ENOMEM;
	fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = -errno;
	} else {
		close(fd);
		if (unlink(probe) < 0)
			ret = -errno;
	}
	free(probe);
	return ret;
}

/* Remove the logs of an earlier recording.  Returns the first error, if any. */
static int clear_logs(const char *dir, char **failed)
{
	struct dirent *de;
	DIR *dp;
	int ret = 0;

	dp = opendir(dir);
	if (!dp)
		return -errno;
	while ((de = readdir(dp))) {
		size_t n = strlen(de->d_name), s = strlen(GG_TRACE_SUFFIX);
		if (de->d_name[0] == '.' || n <= s || strcmp(de->d_name + n - s, GG_TRACE_SUFFIX))
			continue;
		if (unlinkat(dirfd(dp), de->d_name, 0) < 0 && errno != ENOENT && !ret) {
			ret = -errno;
			*failed = xstrdup(de->d_name);
		}
	}
	closedir(dp);
	return ret;
}

/* LD_PRELOAD with the shim first, dropping other copies of the same path. */
static char *preload_value(const char *shim)
{
	const char *old = getenv("LD_PRELOAD");
	struct sbuf sb = SBUF_INIT;
	char *copy, *tok, *save;

	sbuf_addstr(&sb, shim);
	if (old && *old) {
		copy = xstrdup(old);
		/* ld.so(8): the list is separated by spaces or colons */
		for (tok = strtok_r(copy, ": ", &save); tok; tok = strtok_r(NULL, ": ", &save)) {
			if (!strcmp(tok, shim))
				continue;
			sbuf_addch(&sb, ':');
			sbuf_addstr(&sb, tok);
		}
		free(copy);
	}
	if (sb.err)
		die("out of memory");
	return sbuf_detach(&sb, NULL);
}

static int cmd_record(int argc, char **argv)
{
	const struct verb *v = find_verb("record");
	const char *opt_dir = NULL;
	char *dir = NULL, *shim = NULL, *preload, *failed = NULL;
	bool append = false, recording = true;
	struct sigaction sa;
	char **cmd;
	pid_t pid;
	int i, ret, status;

	i = parse_opts(v, argc, argv,
		       (const struct opt[]){ { "--append", &append, NULL },
					     { "--trace-dir", NULL, &opt_dir },
					     { NULL } },
		       true);
	if (i >= argc)
		usage_error(v, "no command to record");
	cmd = argv + i;

	/* From here on nothing stops CMD from running: at worst it runs unrecorded. */
	ret = cmd_shim_path(&shim);
	if (ret) {
		warning("cannot find the shim library: %s; running without recording",
			strerror(-ret));
		recording = false;
	} else if (access(shim, R_OK) < 0) {
		warning("cannot find shim library '%s': %s; running without recording", shim,
			strerror(errno));
		recording = false;
	} else {
		const char *err = shim_load_error(shim);
		if (err) {
			warning("cannot load shim library '%s': %s; running without recording", shim,
				err);
			recording = false;
		}
	}
	if (recording) {
		ret = ggdir_trace_path(NULL, opt_dir, true, &dir);
		if (!ret)
			ret = trace_dir_writable(dir);
		if (ret) {
			warning("cannot write trace directory '%s': %s; running without recording",
				dir ? dir : opt_dir ? opt_dir : GGDIR_NAME "/" GGDIR_TRACE,
				strerror(-ret));
			recording = false;
		}
	}
	if (recording && !append) {
		ret = clear_logs(dir, &failed);
		if (ret)
			warning("cannot remove old log '%s/%s': %s", dir, failed ? failed : "",
				strerror(-ret));
		free(failed);
	}
	if (recording) {
		preload = preload_value(shim);
		if (setenv("LD_PRELOAD", preload, 1) || setenv(GG_ENV_TRACE_DIR, dir, 1) ||
		    setenv(GG_ENV_SHIM_LIB, shim, 1) || unsetenv(GG_ENV_SHIM_OFF))
			die("cannot set the environment: %s", strerror(errno));
		free(preload);
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = forward_signal;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);

	fflush(NULL);
	ret = posix_spawnp(&pid, cmd[0], NULL, NULL, cmd, environ);
	if (ret) {
		fprintf(stderr, "gg: cannot run '%s': %s\n", cmd[0], strerror(ret));
		return ret == ENOENT ? 127 : 126;
	}
	child_pid = pid;
	if (pending_sig)
		kill(pid, pending_sig);

	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			die("cannot wait for '%s': %s", cmd[0], strerror(errno));
	}
	free(dir);
	free(shim);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

/* ---- gg trace ------------------------------------------------------------------ */

/* Open the trace for dump/summary: print its warnings unless quiet. */
static void open_trace(struct trace *t, const char *opt_dir, char **dir,
		       struct strlist *warnings, bool print_warnings)
{
	int ret = ggdir_trace_path(NULL, opt_dir, false, dir);

	if (ret == -ENOENT)
		die("no .gg directory here or in any parent: run 'gg init' or pass --trace-dir");
	if (ret)
		die("cannot find the trace directory: %s", strerror(-ret));
	if (trace_open_dir(t, *dir, warnings) < 0)
		die("%s", t->error);
	if (print_warnings) {
		for (size_t i = 0; i < warnings->n; i++)
			warning("%s", warnings->v[i]);
		if (warnings->dropped)
			warning("%zu more warnings not shown", warnings->dropped);
	}
	if (!t->nimages)
		warning("no logs in trace directory '%s'", *dir);
}

static void write_out(const char *p, size_t n)
{
	if (n && fwrite(p, 1, n, stdout) != n)
		die("cannot write output: %s", strerror(errno));
}

/* The end of a trace verb: stdout flushed (or die), the trace and its warnings freed. */
static int trace_verb_end(struct trace *t, struct strlist *warnings, char *dir)
{
	if (fflush(stdout) == EOF)
		die("cannot write output: %s", strerror(errno));
	trace_release(t);
	strlist_release(warnings);
	free(dir);
	return 0;
}

static int trace_dump(const struct verb *v, int argc, char **argv)
{
	struct strlist warnings = STRLIST_INIT;
	const char *opt_dir = NULL;
	bool as_json = false;
	struct trace t = TRACE_INIT;
	struct json j;
	struct sbuf sb = SBUF_INIT;
	char *dir = NULL;

	parse_opts(v, argc, argv,
		   (const struct opt[]){ { "--json", &as_json, NULL },
					 { "--trace-dir", NULL, &opt_dir },
					 { NULL } },
		   false);
	open_trace(&t, opt_dir, &dir, &warnings, true);
	json_init(&j, 0);
	for (size_t i = 0; i < t.nimages; i++) {
		int ret;
		if (as_json) {
			json_reset(&j);
			ret = trace_dump_json(&j, t.images[i]);
			if (!ret)
				ret = sbuf_addch(&j.sb, '\n');
			if (ret)
				die("cannot render log '%s': %s", t.images[i]->log, strerror(-ret));
			write_out(j.sb.buf, j.sb.len);
		} else {
			sbuf_reset(&sb);
			ret = trace_dump_text(&sb, t.images[i]);
			if (ret)
				die("cannot render log '%s': %s", t.images[i]->log, strerror(-ret));
			write_out(sb.buf, sb.len);
		}
	}
	json_release(&j);
	sbuf_release(&sb);
	return trace_verb_end(&t, &warnings, dir);
}

static int trace_summary(const struct verb *v, int argc, char **argv)
{
	struct strlist warnings = STRLIST_INIT;
	struct sbuf sb = SBUF_INIT;
	const char *opt_dir = NULL;
	struct trace t = TRACE_INIT;
	char *dir = NULL;
	int ret;

	parse_opts(v, argc, argv,
		   (const struct opt[]){ { "--trace-dir", NULL, &opt_dir }, { NULL } }, false);
	open_trace(&t, opt_dir, &dir, &warnings, false);
	ret = trace_dump_summary(&sb, &t, dir, &warnings);
	if (ret)
		die("cannot summarize trace '%s': %s", dir, strerror(-ret));
	write_out(sb.buf, sb.len);
	sbuf_release(&sb);
	return trace_verb_end(&t, &warnings, dir);
}

static const struct verb trace_verbs[] = {
	{ "dump", NULL, "gg trace dump [--json] [--trace-dir D]",
	  "show the raw recording",
	  "Show every process image of the recording, in start order.  The text form\n"
	  "has one line per image (pid, executable, argv, cwd, exit, how it started)\n"
	  "followed by its events; --json prints one JSON object per image per line.\n"
	  "\n"
	  "  --json          one JSON object per line\n"
	  "  --trace-dir D   read the logs in D instead of .gg/trace\n" },
	{ "summary", NULL, "gg trace summary [--trace-dir D]",
	  "summarize the recording",
	  "Count the processes, the programs run, the files read, written, removed\n"
	  "and probed missing, list failed execs and torn logs.\n"
	  "\n"
	  "  --trace-dir D   read the logs in D instead of .gg/trace\n" },
};

static int cmd_trace(int argc, char **argv)
{
	const struct verb *v = find_verb("trace");

	if (argc < 2)
		usage_error(v, "which trace command?");
	if (is_help(argv[1])) {
		print_verb_help(v, stdout);
		return 0;
	}
	if (!strcmp(argv[1], "dump"))
		return trace_dump(&trace_verbs[0], argc - 1, argv + 1);
	if (!strcmp(argv[1], "summary"))
		return trace_summary(&trace_verbs[1], argc - 1, argv + 1);
	usage_error(v, "unknown trace command '%s'", argv[1]);
}

/* ---- the table ------------------------------------------------------------------- */

static int cmd_help(int argc, char **argv);

static const struct verb verbs[] = {
	{ "init", cmd_init, "gg init", "create .gg/ here",
	  "Create the .gg directory ($GG_DIR if set, else ./.gg) and its trace\n"
	  "directory, and print its absolute path.  Running it again is harmless.\n" },
	{ "record", cmd_record, "gg record [--trace-dir D] [--append] -- CMD...",
	  "run CMD under the shim, recording what it does",
	  "Run CMD with LD_PRELOAD=libggshim.so so that every process it starts\n"
	  "writes a log to the trace directory: D, else $GG_DIR/trace, else the nearest\n"
	  ".gg/trace upwards, else a new ./.gg/trace.  Old logs are removed first\n"
	  "unless --append.  Exits with CMD's status (128 + signal if it was killed).\n"
	  "If the trace directory cannot be written, CMD runs unrecorded after one\n"
	  "warning.  The shim is found next to gg (../lib/libggshim.so) or in\n"
	  "$GG_SHIM_LIB.\n"
	  "\n"
	  "  --trace-dir D   record into D\n"
	  "  --append        keep the logs of earlier recordings\n" },
	{ "trace", cmd_trace, "gg trace dump [--json] [--trace-dir D]\n"
			      "   or: gg trace summary [--trace-dir D]",
	  "show or summarize the recording",
	  "  dump      show every process image and its events (--json: JSON lines)\n"
	  "  summary   processes, programs, files, failures and warnings\n"
	  "\n"
	  "See 'gg help trace dump' and 'gg help trace summary'.\n" },
	{ "infer", cmd_infer,
	  "gg infer [--stats] [--json] [--trace-dir D] [--tree DIR] [--allow-env NAME]...",
	  "turn the recording into thunks and a graph",
	  "Read the recording, cut it into thunks (one per command a build driver ran),\n"
	  "store them and their inputs in .gg/blobs and write the graph to .gg/graph.\n"
	  "See 'gg infer --help' for the options.\n" },
	{ "show", cmd_show, "gg show PATH|HASH [--json]", "show the thunk that produced a file",
	  "Show a thunk: its command, inputs (and their producers), outputs, and why\n"
	  "it is local-only if it is.\n" },
	{ "graph", cmd_graph, "gg graph [--dot|--json]", "print the graph of thunks",
	  "Print the graph for Graphviz (--dot, the default) or for tools (--json).\n" },
	{ "build", cmd_build, "gg build [-j N] [-k] [--no-cache] [--remote URL [--remote-read-only]] [--json] [TARGET...]",
	  "replay the graph: cached thunks materialize, the rest run sandboxed", NULL },
	{ "force", cmd_force, "gg force [-j N] HASH...", "execute thunks by hash", NULL },
	{ "verify", cmd_verify, "gg verify [--all|TARGET...]",
	  "re-execute thunks, compare with the known results of their inputs", NULL },
	{ "audit", cmd_audit, "gg audit [edges|system|why OUTPUT|rdeps FILE|local-only|compile-commands|graph] [--json]",
	  "dependency reports: missing edges, system packages, compile_commands.json", NULL },
	{ "cache", cmd_cache, "gg cache stats|verify|gc|put|push|pull [...]",
	  "the local store (statistics, integrity, garbage collection) and its S3 copy", NULL },
	{ "push", cmd_push, "gg push [--remote s3://BUCKET[/PREFIX]] [-j N] [--json]",
	  "upload the graph, the results cache and their blobs (a shared cache)", NULL },
	{ "pull", cmd_pull, "gg pull [--remote s3://BUCKET[/PREFIX]] [-j N] [--json]",
	  "download this tree's graph and the shared results cache", NULL },
	{ "worker", cmd_worker, "gg worker exec THUNK --blobs DIR [...] | prepare PATH|HASH --blobs DIR",
	  "run one thunk from a blob directory, anywhere (the relocatable worker)", NULL },
	{ "lambda", cmd_lambda, "gg lambda package -o FILE.zip | deploy --role ARN [...]",
	  "build the Lambda function package; create or update the function", NULL },
	{ "help", cmd_help, "gg help [VERB]", "show help for gg or one of its verbs",
	  "Show the list of verbs, or the help of one verb.\n" },
};

static const struct verb *find_verb(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(verbs); i++)
		if (!strcmp(verbs[i].name, name))
			return &verbs[i];
	return NULL;
}

static void print_usage(FILE *out)
{
	fputs("usage: gg [--help] [--version] VERB [ARGS...]\n\nverbs:\n", out);
	for (size_t i = 0; i < ARRAY_SIZE(verbs); i++)
		fprintf(out, "  %-8s  %s\n", verbs[i].name, verbs[i].summary);
	fputs("\nSee 'gg help VERB' for the options of a verb.\n", out);
}

/* The verb called name, or NULL after saying it is unknown. */
static const struct verb *verb_or_usage(const char *name)
{
	const struct verb *v = find_verb(name);

	if (!v) {
		fprintf(stderr, "gg: unknown verb '%s'\n", name);
		print_usage(stderr);
	}
	return v;
}

static int cmd_help(int argc, char **argv)
{
	const struct verb *v;

	if (argc < 2) {
		print_usage(stdout);
		return 0;
	}
	if (!(v = verb_or_usage(argv[1])))
		return 2;
	if (v->run == cmd_trace && argc >= 3) {
		for (size_t i = 0; i < ARRAY_SIZE(trace_verbs); i++) {
			if (!strcmp(trace_verbs[i].name, argv[2])) {
				print_verb_help(&trace_verbs[i], stdout);
				return 0;
			}
		}
		fprintf(stderr, "gg: unknown trace command '%s'\n", argv[2]);
		return 2;
	}
	if (!v->help) {
		char *args[] = { (char *)v->name, (char *)"--help", NULL };
		return v->run(2, args);
	}
	print_verb_help(v, stdout);
	return 0;
}

int main(int argc, char **argv)
{
	const struct verb *v;

	cli_heap_policy();
	if (argc < 2) {
		/* the Lambda package's bootstrap is this program (gg lambda package):
		 * started by Lambda, it serves the Runtime API (lambda_runtime.h) with the
		 * shim of the package (lib/ next to it) for level 3 */
		if (!strcmp(path_base(argv[0]), "bootstrap") && getenv("AWS_LAMBDA_RUNTIME_API")) {
			char shim[PATH_MAX], err[2048] = "";
			const char *root = getenv("LAMBDA_TASK_ROOT");
			struct lambda_runtime_opts o = { .shim = getenv("GG_SHIM_LIB") };
			if (!o.shim) {
				snprintf(shim, sizeof(shim), "%s/lib/libggshim.so", root ? root : "/var/task");
				o.shim = shim;
			}
			if (lambda_runtime_run(&o, err, sizeof(err)) < 0) {
				fprintf(stderr, "bootstrap: %s\n", err);
				return 1;
			}
			return 0;
		}
		if (!strcmp(path_base(argv[0]), "bootstrap"))
			fprintf(stderr, "gg version %s: Lambda bootstrap, outside Lambda "
				"(AWS_LAMBDA_RUNTIME_API is not set): run 'bootstrap worker exec THUNK "
				"--blobs DIR'\n", GG_VERSION);
		else
			print_usage(stderr);
		return 2;
	}
	if (is_help(argv[1]))
		return cmd_help(1, argv);
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("gg version %s (trace format %u)\n", GG_VERSION, GG_TRACE_VERSION);
		return 0;
	}
	if (!(v = verb_or_usage(argv[1])))
		return 2;
	return v->run(argc - 1, argv + 1);
}
