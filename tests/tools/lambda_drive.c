/*
 * tests/tools/lambda_drive.c - drive the lambda engine (runtime/engine/lambda.h)
 * the way the builder does, for the e2e tests and the benchmark:
 *
 *   lambda_drive --ggdir DIR [--params P] [--slots N] [--jobs N] [--distinct]
 *                [--exe PATH] [--arg A]... [--cwd DIR]
 *                [--input FILE]... [--output PATH]... [--timeout-ms T] [--quiet]
 *
 * Builds one thunk (exe --exe, default /bin/true, its blob put in the store, argv
 * its base name then each --arg; cwd --cwd; each --input FILE put in the store and
 * named at its absolute path with its mode; --output PATH declared), then runs
 * --jobs jobs of it (--distinct: each with one more argument, so each is its own
 * thunk) with at most --slots in flight, polling the engine's descriptor only.
 * Prints one line per job (unless --quiet):
 *     job N ret R ran B status S level L outputs K err: MESSAGE
 * with each output as "output PATH VALUE MODE", then a summary line:
 *     jobs N ok K failed F wall_ms W cpu_ms C cpu_us_per_job X rss_mb R threads_max T
 * and the engine's counts:
 *     stats invocations I throttled T server_errors S transport_errors X
 *           worker_deaths D relaunched R stragglers G duplicate_wins W
 *           blobs_uploaded U blobs_downloaded V max_in_flight M
 * Exit status: 0 when every job ran with status 0, 1 otherwise, 2 on a usage or
 * set-up error.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/engine/lambda.h"
#include "runtime/ir/thunk.h"
#include "runtime/lib/util.h"
#include "runtime/store/store.h"

static unsigned threads_now(void)
{
	char line[256];
	unsigned n = 0;
	FILE *f = fopen("/proc/self/status", "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "Threads:", 8))
			n = (unsigned)strtoul(line + 8, NULL, 10);
	fclose(f);
	return n;
}

static uint64_t cpu_us(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)ru.ru_utime.tv_sec * 1000000 + (uint64_t)ru.ru_utime.tv_usec +
	       (uint64_t)ru.ru_stime.tv_sec * 1000000 + (uint64_t)ru.ru_stime.tv_usec;
}

int main(int argc, char **argv)
{
	const char *ggdir = NULL, *params = NULL, *exe = "/bin/true", *cwd = NULL;
	const char *args[64];
	size_t nargs = 0;
	const char *inputs[64], *outputs[64];
	size_t ninputs = 0, noutputs = 0;
	unsigned slots = 64, jobs = 1, timeout_ms = 0, threads_max = 0;
	bool distinct = false, quiet = false;
	struct store st = STORE_INIT;
	struct thunk *ths;
	struct engine_result *res;
	struct engine *e = NULL;
	struct engine_config cfg;
	struct gg_hash h;
	struct lambda_stats s;
	struct rusage ru;
	char err[2048] = "", hex[GG_HASH_HEX_SIZE];
	unsigned started = 0, done = 0, ok = 0, failed = 0;
	uint64_t t0, c0;
	int ret;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--distinct")) {
			distinct = true;
			continue;
		}
		if (!strcmp(a, "--quiet")) {
			quiet = true;
			continue;
		}
		if (!v)
			goto usage;
		i++;
		if (!strcmp(a, "--ggdir"))
			ggdir = v;
		else if (!strcmp(a, "--params"))
			params = v;
		else if (!strcmp(a, "--slots"))
			slots = (unsigned)strtoul(v, NULL, 10);
		else if (!strcmp(a, "--jobs"))
			jobs = (unsigned)strtoul(v, NULL, 10);
		else if (!strcmp(a, "--timeout-ms"))
			timeout_ms = (unsigned)strtoul(v, NULL, 10);
		else if (!strcmp(a, "--exe"))
			exe = v;
		else if (!strcmp(a, "--cwd"))
			cwd = v;
		else if (!strcmp(a, "--arg") && nargs < 64)
			args[nargs++] = v;
		else if (!strcmp(a, "--input") && ninputs < 64)
			inputs[ninputs++] = v;
		else if (!strcmp(a, "--output") && noutputs < 64)
			outputs[noutputs++] = v;
		else
			goto usage;
	}
	if (!ggdir || !jobs || !slots)
		goto usage;
	if ((ret = store_init(&st, ggdir, STORE_CREATE)) < 0) {
		fprintf(stderr, "lambda_drive: store '%s': %s\n", ggdir, strerror(-ret));
		return 2;
	}
	ths = calloc(distinct ? jobs : 1, sizeof(*ths));
	res = calloc(jobs, sizeof(*res));
	if (!ths || !res)
		return 2;
	for (unsigned k = 0; k < (distinct ? jobs : 1); k++) {
		struct thunk *t = &ths[k];
		char arg[32];
		thunk_init(t);
		if ((ret = store_put_file(&st, exe, &h, NULL)) < 0 ||
		    (ret = thunk_set_exe(t, exe, &h, 0, 0100755)) < 0 ||
		    (ret = thunk_add_arg(t, path_base(exe))) < 0 ||
		    (cwd && (ret = thunk_set_cwd(t, cwd)) < 0))
			goto out_setup;
		for (size_t i = 0; i < nargs; i++)
			if ((ret = thunk_add_arg(t, args[i])) < 0)
				goto out_setup;
		snprintf(arg, sizeof(arg), "job-%u", k);
		if (distinct && (ret = thunk_add_arg(t, arg)) < 0)
			goto out_setup;
		for (size_t i = 0; i < ninputs; i++) {
			char *abs = NULL;
			struct stat sb;
			if (stat(inputs[i], &sb) < 0) {
				ret = -errno;
				goto out_setup;
			}
			if ((ret = path_abs(inputs[i], NULL, &abs)) < 0 ||
			    (ret = store_put_file(&st, inputs[i], &h, NULL)) < 0 ||
			    (ret = thunk_add_input(t, abs, &h, 0, (uint32_t)sb.st_mode)) < 0) {
				free(abs);
				goto out_setup;
			}
			free(abs);
		}
		for (size_t i = 0; i < noutputs; i++)
			if ((ret = thunk_add_output(t, outputs[i])) < 0)
				goto out_setup;
		if ((ret = thunk_canonicalize(t)) < 0)
			goto out_setup;
	}
	cfg = (struct engine_config){ .st = &st, .ggdir = ggdir, .slots = slots, .params = params };
	if (engine_lambda.create(&cfg, &e, err, sizeof(err)) < 0) {
		fprintf(stderr, "lambda_drive: %s\n", err);
		return 2;
	}
	t0 = clock_now_ms();
	c0 = cpu_us();
	while (done < jobs) {
		struct engine_done d[256];
		struct pollfd p = { .fd = engine_lambda.fd(e), .events = POLLIN };
		int n;
		/* nothing in flight and no room: start() says why (a refused configuration) */
		while (started < jobs && (engine_lambda.can_start_more(e) || started == done)) {
			struct engine_job job = { .tag = started, .th = &ths[distinct ? started : 0],
						  .staging = ggdir, .timeout_ms = timeout_ms };
			if ((ret = engine_lambda.start(e, &job, &res[started])) < 0) {
				fprintf(stderr, "lambda_drive: start: %s\n", strerror(-ret));
				goto out_stop;
			}
			started++;
		}
		if (poll(&p, 1, -1) < 0 && errno != EINTR)
			break;
		n = engine_lambda.collect(e, d, 256);
		if (n < 0) {
			fprintf(stderr, "lambda_drive: collect: %s\n", strerror(-n));
			break;
		}
		for (int i = 0; i < n; i++) {
			struct engine_result *r = &res[d[i].tag];
			bool good = d[i].ret == 0 && r->ran && r->status == 0;
			done++;
			good ? ok++ : failed++;
			if (!quiet) {
				printf("job %llu ret %d ran %d status %d level %d outputs %zu err: %s\n",
				       (unsigned long long)d[i].tag, d[i].ret, r->ran, r->status, r->level,
				       r->outputs.n, r->err ? r->err : "");
				for (size_t k = 0; k < r->outputs.n; k++)
					printf("output %s %s %o\n", r->outputs.v[k].path,
					       hash_to_hex(&r->outputs.v[k].value, hex), r->outputs.v[k].mode);
			}
			engine_result_release(r);
		}
		if (done % 64 == 0 || n == 0) {
			unsigned t = threads_now();
			if (t > threads_max)
				threads_max = t;
		}
	}
out_stop:
	if (done < started) {
		engine_lambda.abort(e);
		while (done < started) {
			struct engine_done d[256];
			struct pollfd p = { .fd = engine_lambda.fd(e), .events = POLLIN };
			int n;
			poll(&p, 1, 1000);
			if ((n = engine_lambda.collect(e, d, 256)) < 0)
				break;
			done += (unsigned)n;
			failed += (unsigned)n;
		}
	}
	{
		uint64_t wall = clock_now_ms() - t0, cpu = cpu_us() - c0;
		unsigned t = threads_now();
		if (t > threads_max)
			threads_max = t;
		getrusage(RUSAGE_SELF, &ru);
		printf("jobs %u ok %u failed %u wall_ms %llu cpu_ms %.1f cpu_us_per_job %.1f rss_mb %.1f "
		       "threads_max %u\n", jobs, ok, failed, (unsigned long long)wall, cpu / 1000.0,
		       (double)cpu / jobs, ru.ru_maxrss / 1024.0, threads_max);
	}
	lambda_engine_stats(e, &s);
	printf("stats invocations %llu throttled %llu server_errors %llu transport_errors %llu "
	       "worker_deaths %llu relaunched %llu stragglers %llu duplicate_wins %llu "
	       "blobs_uploaded %llu blobs_downloaded %llu max_in_flight %llu\n",
	       (unsigned long long)s.invocations, (unsigned long long)s.throttled,
	       (unsigned long long)s.server_errors, (unsigned long long)s.transport_errors,
	       (unsigned long long)s.worker_deaths, (unsigned long long)s.relaunched,
	       (unsigned long long)s.stragglers, (unsigned long long)s.duplicate_wins,
	       (unsigned long long)s.blobs_uploaded, (unsigned long long)s.blobs_downloaded,
	       (unsigned long long)s.max_in_flight);
	engine_lambda.free(e);
	for (unsigned k = 0; k < (distinct ? jobs : 1); k++)
		thunk_release(&ths[k]);
	free(ths);
	free(res);
	store_release(&st);
	return failed ? 1 : 0;
out_setup:
	fprintf(stderr, "lambda_drive: cannot build the thunk: %s\n", strerror(-ret));
	return 2;
usage:
	fprintf(stderr, "usage: lambda_drive --ggdir DIR [--params P] [--slots N] [--jobs N] "
			"[--distinct] [--exe PATH] [--arg A]... [--cwd DIR] [--input FILE]... "
			"[--output PATH]... [--timeout-ms T] [--quiet]\n");
	return 2;
}
