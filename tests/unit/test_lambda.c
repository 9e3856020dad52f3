/*
 * Unit tests for the lambda engine (runtime/engine/lambda.c) against the emulator
 * (tests/fixtures/lambda_emu.py, started here on 127.0.0.1 and a free port, noop
 * mode, faults injected through its control endpoint), and for its wire formats
 * (runtime/engine/lambda_proto.c).  No remote: the thunks need no blobs moved.
 */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <curl/curl.h>

#include "runtime/engine/lambda.h"
#include "runtime/engine/s3.h"
#include "runtime/engine/lambda_proto.h"
#include "runtime/ir/thunk.h"
#include "runtime/lib/util.h"
#include "runtime/store/store.h"

static char dir[] = "/tmp/gg-test-lambda.XXXXXX";
static char url[128];
static pid_t emu_pid;
static struct store st = STORE_INIT;
static struct thunk th = THUNK_INIT;
static struct gg_hash blob_present, blob_absent;

/* ---- the emulator -------------------------------------------------------------- */

/* POST (body) or GET (NULL) a control endpoint; the answer into out. */
static void emu(const char *path, const char *body, char *out, size_t cap)
{
	char u[256];
	FILE *f = fmemopen(out, cap, "w");
	CURL *c = curl_easy_init();
	long status = 0;
	assert_non_null(f);
	assert_non_null(c);
	snprintf(u, sizeof(u), "%s%s", url, path);
	curl_easy_setopt(c, CURLOPT_URL, u);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
	if (body)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	assert_int_equal(status, 200);
	curl_easy_cleanup(c);
	fclose(f);
}

static void emu_post(const char *path, const char *body)
{
	char out[4096];
	emu(path, body, out, sizeof(out));
}

/* An integer of the emulator's stats ("answered" counts as "answered.429"). */
static long emu_stat(const char *key)
{
	char out[8192], pat[64];
	const char *p, *dot = strchr(key, '.');
	emu("/_emu/stats", NULL, out, sizeof(out));
	if (dot) {
		snprintf(pat, sizeof(pat), "\"%.*s\":", (int)(dot - key), key);
		p = strstr(out, pat);
		if (!p)
			return 0;
		snprintf(pat, sizeof(pat), "\"%s\": ", dot + 1);
		p = strstr(p, pat);
	} else {
		snprintf(pat, sizeof(pat), "\"%s\": ", key);
		p = strstr(out, pat);
	}
	return p ? strtol(p + strlen(pat), NULL, 10) : 0;
}

static void env_for_emulator(void)
{
	setenv("AWS_ACCESS_KEY_ID", "S3RVER", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "S3RVER", 1);
	unsetenv("AWS_SESSION_TOKEN");
	unsetenv("AWS_PROFILE");
	unsetenv("GG_REMOTE");
	unsetenv("GG_LAMBDA_FUNCTION");
	setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/gg-test/credentials", 1);
	setenv("AWS_CONFIG_FILE", "/nonexistent/gg-test/config", 1);
	setenv("AWS_REGION", "us-east-1", 1);
	setenv("AWS_ENDPOINT_URL_LAMBDA", url, 1);
}

static int setup(void **state)
{
	char portfile[256], parent[32], script[512];
	struct gg_hash exe;
	const char *top = getenv("GG_TOP");
	(void)state;

	if (!mkdtemp(dir))
		return -1;
	snprintf(portfile, sizeof(portfile), "%s/port", dir);
	snprintf(parent, sizeof(parent), "%d", (int)getpid());
	snprintf(script, sizeof(script), "%s/tests/fixtures/lambda_emu.py", top ? top : ".");
	emu_pid = fork();
	if (emu_pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);
		dup2(devnull, 1);
		execlp("python3", "python3", script, "--port-file", portfile, "--parent", parent,
		       "--ttl", "600", "--state-dir", dir, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 200; i++) {
		FILE *f = fopen(portfile, "r");
		if (f) {
			if (fgets(url, sizeof(url), f))
				url[strcspn(url, "\n")] = 0;
			fclose(f);
			break;
		}
		usleep(50 * 1000);
	}
	if (!url[0])
		return -1;
	env_for_emulator();
	if (store_init(&st, dir, STORE_CREATE) < 0)
		return -1;
	/* a thunk (its exe need not exist: without a remote no blob moves) */
	if (hash_buf(GG_HASH_VALUE, "cc", 2, &exe) < 0 || thunk_set_exe(&th, "/usr/bin/cc", &exe, 0, 0100755) < 0 ||
	    thunk_add_arg(&th, "cc") < 0 || thunk_add_output(&th, "/src/a.o") < 0)
		return -1;
	if (store_put_buf(&st, GG_HASH_VALUE, "object", 6, &blob_present) < 0 ||
	    hash_buf(GG_HASH_VALUE, "not stored", 10, &blob_absent) < 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (emu_pid > 0) {
		kill(emu_pid, SIGTERM);
		waitpid(emu_pid, NULL, 0);
	}
	thunk_release(&th);
	store_release(&st);
	rm_rf(dir);
	return 0;
}

/* Before each test: a fresh emulator state and the right credentials. */
static int fresh(void **state)
{
	(void)state;
	env_for_emulator();
	emu_post("/_emu/reset", "{}");
	emu_post("/_emu/config", "{\"mode\":\"noop\",\"delay_ms\":0,\"concurrency\":1000,\"rates\":{}}");
	return 0;
}

/* ---- driving the engine -------------------------------------------------------- */

struct run {
	struct engine *e;
	struct engine_result res[64];
	int ret[64];
	bool seen[64];
	size_t n;
	size_t order[64], ndone;    /* tags in the order of their completions */
};

static void create(struct run *r, const char *params, unsigned slots)
{
	struct engine_config cfg = { .st = &st, .ggdir = dir, .slots = slots, .params = params };
	char err[1024] = "";
	memset(r, 0, sizeof(*r));
	if (engine_lambda.create(&cfg, &r->e, err, sizeof(err)) != 0)
		fail_msg("create: %s", err);
}

/* Start n jobs whose thunk's recorded duration is expect_ms (0: not known). */
static void start_n_expect(struct run *r, size_t n, uint64_t expect_ms)
{
	for (size_t i = 0; i < n; i++) {
		struct engine_job job = { .tag = r->n, .th = &th, .staging = dir,
					  .expect_ms = expect_ms };
		assert_true(engine_lambda.can_start_more(r->e));
		assert_int_equal(engine_lambda.start(r->e, &job, &r->res[r->n]), 0);
		r->n++;
	}
}

static void start_n(struct run *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct engine_job job = { .tag = r->n, .th = &th, .staging = dir };
		assert_true(engine_lambda.can_start_more(r->e));
		assert_int_equal(engine_lambda.start(r->e, &job, &r->res[r->n]), 0);
		r->n++;
	}
}

/* The straggler rule against a thunk's own recorded duration: a duplicate at twice it
 * (OWN_DURATION: and no backups in the tail, which most tests here do not count). */
#define OWN_RULE "straggler=0,straggler_pct=200,straggler_margin_ms=0,straggler_min_ms=100"
#define OWN_DURATION OWN_RULE ",straggler_spare_pct=200"

static void drain(struct run *r);

/* create, then 10 jobs run to their end (recorded duration expect_ms, 0: none): for
 * the straggler tests, the times their rule is made of. */
static void create_warm(struct run *r, const char *params, unsigned slots, uint64_t expect_ms)
{
	create(r, params, slots);
	start_n_expect(r, 10, expect_ms);
	drain(r);
}

/* Collect until every started job completed (a completion twice fails). */
static void drain(struct run *r)
{
	size_t left = 0;
	for (size_t i = 0; i < r->n; i++)
		left += !r->seen[i];
	while (left) {
		struct pollfd p = { .fd = engine_lambda.fd(r->e), .events = POLLIN };
		struct engine_done d[16];
		int n;
		/* a safety net, not a time assertion: a lost wake-up fails instead of hanging */
		assert_int_equal(poll(&p, 1, 60000), 1);
		n = engine_lambda.collect(r->e, d, 16);
		assert_true(n >= 0);
		for (int i = 0; i < n; i++) {
			assert_true(d[i].tag < r->n);
			assert_false(r->seen[d[i].tag]);
			r->seen[d[i].tag] = true;
			r->ret[d[i].tag] = d[i].ret;
			r->order[r->ndone++] = d[i].tag;
			left--;
		}
	}
}

static void release(struct run *r)
{
	for (size_t i = 0; i < r->n; i++)
		engine_result_release(&r->res[i]);
	engine_lambda.free(r->e);
}

static void assert_all_ran(struct run *r)
{
	for (size_t i = 0; i < r->n; i++) {
		if (r->ret[i] != 0)
			fail_msg("job %zu: ret %d: %s", i, r->ret[i], r->res[i].err ? r->res[i].err : "");
		assert_true(r->res[i].ran);
		assert_int_equal(r->res[i].status, 0);
		assert_int_equal(r->res[i].level, 3);
	}
}

/* ---- the engine ------------------------------------------------------------------ */

static void test_lambda__invokes_signed(void **state)
{
	struct run r;
	struct lambda_stats s;
	(void)state;
	create(&r, NULL, 20);
	start_n(&r, 8);
	drain(&r);
	start_n(&r, 12);
	drain(&r);
	assert_all_ran(&r);
	lambda_engine_stats(r.e, &s);
	assert_int_equal(s.invocations, 20);
	assert_int_equal(emu_stat("invocations"), 20);
	assert_int_equal(emu_stat("signature_failures"), 0);
	assert_int_equal(emu_stat("answered.200"), 20);
	release(&r);
}

static void test_lambda__throttle_storm_backs_off(void **state)
{
	struct run r;
	struct lambda_stats s;
	(void)state;
	emu_post("/_emu/faults", "[{\"status\":429,\"count\":40}]");
	create_warm(&r, "backoff_ms=2,backoff_max_ms=20,attempts=30", 10, 0);
	assert_all_ran(&r);
	lambda_engine_stats(r.e, &s);
	assert_int_equal(s.throttled, 40);
	assert_int_equal(s.invocations, 50);
	assert_int_equal(emu_stat("answered.429"), 40);
	release(&r);
}

static void test_lambda__server_errors_and_drops_retried(void **state)
{
	struct run r;
	struct lambda_stats s;
	(void)state;
	emu_post("/_emu/faults", "[{\"status\":500,\"count\":3},{\"status\":502},{\"status\":503},"
				 "{\"drop\":true,\"count\":3}]");
	create(&r, "backoff_ms=2,backoff_max_ms=10", 4);
	start_n(&r, 4);
	drain(&r);
	assert_all_ran(&r);
	lambda_engine_stats(r.e, &s);
	assert_int_equal(s.server_errors, 5);
	/* libcurl itself retries a request once on a kept-alive connection that died,
	 * so the engine may not see every drop: the emulator counts them */
	assert_int_equal(emu_stat("dropped"), 3);
	assert_int_equal(emu_stat("answered.200"), 4);
	release(&r);
}

static void test_lambda__gives_up_after_attempts(void **state)
{
	struct run r;
	(void)state;
	emu_post("/_emu/faults", "[{\"status\":429,\"count\":5}]");
	create(&r, "backoff_ms=1,backoff_max_ms=2,attempts=3", 1);
	start_n(&r, 1);
	drain(&r);
	assert_int_equal(r.ret[0], -EIO);
	assert_false(r.res[0].ran);
	assert_non_null(strstr(r.res[0].err, "gave up after 3 attempts"));
	assert_non_null(strstr(r.res[0].err, "429 TooManyRequestsException: Rate Exceeded."));
	release(&r);
}

static void test_lambda__function_error_fails_the_job(void **state)
{
	struct run r;
	(void)state;
	emu_post("/_emu/faults", "[{\"function_error\":\"compiler exploded\",\"error_type\":\"Gg.Failed\"}]");
	create(&r, NULL, 1);
	start_n(&r, 1);
	drain(&r);
	assert_int_equal(r.ret[0], -EREMOTEIO);
	assert_non_null(strstr(r.res[0].err, "(Unhandled): Gg.Failed: compiler exploded"));
	assert_non_null(strstr(r.res[0].err, "lambda function 'gg'"));
	release(&r);
}

static void test_lambda__dead_worker_relaunched_bounded(void **state)
{
	struct run r;
	struct lambda_stats s;
	(void)state;
	/* two deaths: relaunched twice, then it runs */
	emu_post("/_emu/faults", "[{\"function_error\":\"Runtime exited with error: signal: killed\","
				 "\"error_type\":\"Runtime.ExitError\",\"count\":2}]");
	create(&r, "retries=2", 1);
	start_n(&r, 1);
	drain(&r);
	assert_all_ran(&r);
	lambda_engine_stats(r.e, &s);
	assert_int_equal(s.worker_deaths, 2);
	assert_int_equal(s.relaunched, 2);
	release(&r);
	/* three: it fails, with Lambda's words */
	emu_post("/_emu/faults", "[{\"function_error\":\"Task timed out after 3.00 seconds\","
				 "\"error_type\":\"Sandbox.Timedout\",\"count\":3}]");
	create(&r, "retries=2", 1);
	start_n(&r, 1);
	drain(&r);
	assert_int_equal(r.ret[0], -EREMOTEIO);
	assert_non_null(strstr(r.res[0].err, "the worker died: Sandbox.Timedout: Task timed out"));
	release(&r);
}

static void test_lambda__deadline_stop_relaunched(void **state)
{
	struct run r;
	struct lambda_stats s;
	(void)state;
	/* the worker stopped the command for the function's deadline (lambda_runtime.h):
	 * no result, run again; any other Gg.* error fails the job (above) */
	emu_post("/_emu/faults", "[{\"function_error\":\"thunk T1 stopped after 900 ms, 2000 ms "
				 "before the function's deadline\",\"error_type\":\"Gg.Deadline\"}]");
	create(&r, "retries=2", 1);
	start_n(&r, 1);
	drain(&r);
	assert_all_ran(&r);
	lambda_engine_stats(r.e, &s);
	assert_int_equal(s.worker_deaths, 1);
	assert_int_equal(s.relaunched, 1);
	assert_int_equal(s.function_errors, 0);
	release(&r);
}

static void test_lambda__no_answer_times_out_and_retries(void **state)
{
	struct run r;
	struct lambda_stats s;
	(void)state;
	emu_post("/_emu/faults", "[{\"hang\":true}]");
	create(&r, "invoke_timeout_ms=300,straggler=0", 1);
	start_n(&r, 1);
	drain(&r);
	assert_all_ran(&r);
	lambda_engine_stats(r.e, &s);
	assert_int_equal(s.transport_errors, 1);
	assert_int_equal(s.relaunched, 1);
	assert_int_equal(emu_stat("hung"), 1);
	release(&r);
}

static void test_lambda__bad_credentials_one_clear_error(void **state)
{
	struct run r;
	struct engine_result res = { 0 };
	struct engine_job job = { .tag = 1, .th = &th, .staging = dir };
	(void)state;
	setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret", 1);
	create(&r, NULL, 4);
	start_n(&r, 1);
	drain(&r);
	assert_int_equal(r.ret[0], -EACCES);
	assert_non_null(strstr(r.res[0].err, "403 InvalidSignatureException: The request signature "
					     "we calculated does not match"));
	assert_non_null(strstr(r.res[0].err, "key id 'S3RVER' from environment"));
	assert_null(strstr(r.res[0].err, "not-the-secret"));
	assert_null(strchr(r.res[0].err, '\n'));
	/* the configuration is wrong: nothing more is started */
	assert_false(engine_lambda.can_start_more(r.e));
	assert_int_equal(engine_lambda.start(r.e, &job, &res), -EACCES);
	assert_int_equal(emu_stat("signature_failures"), 1);
	release(&r);

	setenv("AWS_SECRET_ACCESS_KEY", "S3RVER", 1);
	setenv("AWS_ACCESS_KEY_ID", "AKIAUNKNOWN", 1);
	create(&r, NULL, 1);
	start_n(&r, 1);
	drain(&r);
	assert_int_equal(r.ret[0], -EACCES);
	assert_non_null(strstr(r.res[0].err, "403 UnrecognizedClientException"));
	release(&r);
}

static void test_lambda__unknown_function_and_too_large(void **state)
{
	struct run r;
	(void)state;
	create(&r, "function=nope", 1);
	start_n(&r, 1);
	drain(&r);
	assert_int_equal(r.ret[0], -ENOENT);
	assert_non_null(strstr(r.res[0].err, "404 ResourceNotFoundException: Function not found: "
					     "arn:aws:lambda:us-east-1:123456789012:function:nope"));
	release(&r);

	emu_post("/_emu/faults", "[{\"status\":413}]");
	create(&r, NULL, 1);
	start_n(&r, 1);
	drain(&r);
	assert_int_equal(r.ret[0], -E2BIG);
	assert_non_null(strstr(r.res[0].err, "413 RequestEntityTooLargeException"));
	release(&r);
}

static void test_lambda__concurrency_limit_throttles(void **state)
{
	struct run r;
	struct lambda_stats s;
	(void)state;
	emu_post("/_emu/config", "{\"concurrency\":4,\"delay_ms\":100}");
	create(&r, "backoff_ms=20,backoff_max_ms=100,attempts=100,straggler=0", 16);
	start_n(&r, 16);
	drain(&r);
	assert_all_ran(&r);
	lambda_engine_stats(r.e, &s);
	assert_true(s.throttled > 0);
	assert_true(emu_stat("max_inflight") <= 4);
	assert_int_equal(emu_stat("answered.200"), 16);
	release(&r);
}

/*
 * -j N with a lookahead of K: N + K jobs taken, never more than N invoked at once;
 * the jobs waiting for room go by rank, highest first (the plan's critical path),
 * then in start() order.
 */
static void test_lambda__lookahead_waits_by_rank(void **state)
{
	static const uint64_t rank[] = { 0, 1, 3, 2, 3 };
	static const size_t want[] = { 0, 2, 4, 3, 1 };
	struct run r;
	(void)state;
	emu_post("/_emu/faults", "[{\"delay_ms\":300}]");
	create(&r, "lookahead=4,straggler=0,straggler_pct=0", 1);
	for (size_t i = 0; i < 5; i++) {
		struct engine_job job = { .tag = r.n, .th = &th, .staging = dir, .rank = rank[i] };
		assert_true(engine_lambda.can_start_more(r.e));
		assert_int_equal(engine_lambda.start(r.e, &job, &r.res[r.n]), 0);
		r.n++;
	}
	assert_false(engine_lambda.can_start_more(r.e));
	drain(&r);
	assert_all_ran(&r);
	assert_int_equal(emu_stat("max_inflight"), 1);
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(r.order[i], want[i]);
	release(&r);
}

/* The account's concurrency (engine parameter): never more in flight, no 429. */
static void test_lambda__concurrency_limit_respected(void **state)
{
	struct run r;
	struct lambda_stats s;
	(void)state;
	emu_post("/_emu/config", "{\"delay_ms\":100}");
	create(&r, "concurrency=3,straggler=0", 12);
	start_n(&r, 12);
	drain(&r);
	assert_all_ran(&r);
	lambda_engine_stats(r.e, &s);
	assert_true(s.limited > 0);
	assert_int_equal(s.throttled, 0);
	assert_int_equal(s.max_in_flight, 3);
	assert_int_equal(emu_stat("max_inflight"), 3);
	assert_int_equal(emu_stat("answered.200"), 12);
	release(&r);
}

/* The same limit from the environment (GG_LAMBDA_CONCURRENCY); a parameter wins. */
static void test_lambda__concurrency_from_environment(void **state)
{
	struct run r;
	struct lambda_stats s;
	(void)state;
	emu_post("/_emu/config", "{\"delay_ms\":50}");
	setenv("GG_LAMBDA_CONCURRENCY", "2", 1);
	create(&r, "straggler=0", 8);
	start_n(&r, 8);
	drain(&r);
	assert_all_ran(&r);
	lambda_engine_stats(r.e, &s);
	assert_int_equal(s.max_in_flight, 2);
	release(&r);
	create(&r, "straggler=0,concurrency=4", 8);
	unsetenv("GG_LAMBDA_CONCURRENCY");
	start_n(&r, 8);
	drain(&r);
	assert_all_ran(&r);
	lambda_engine_stats(r.e, &s);
	assert_int_equal(s.max_in_flight, 4);
	release(&r);
	setenv("GG_LAMBDA_CONCURRENCY", "many", 1);
	{
		struct engine_config cfg = { .st = &st, .ggdir = dir, .slots = 4 };
		struct engine *e = NULL;
		char err[1024] = "";
		assert_int_equal(engine_lambda.create(&cfg, &e, err, sizeof(err)), -EINVAL);
		assert_null(e);
	}
	unsetenv("GG_LAMBDA_CONCURRENCY");
}

/* New environments: `burst` at once; with no refill (env_rate=0) the engine keeps
 * reusing the warm ones: every job runs, never more in flight than the burst. */
static void test_lambda__new_environments_bounded_by_burst(void **state)
{
	struct run r;
	struct lambda_stats s;
	(void)state;
	emu_post("/_emu/config", "{\"delay_ms\":50}");
	create_warm(&r, "burst=2,env_rate=0,straggler=0", 10, 0);
	assert_all_ran(&r);
	lambda_engine_stats(r.e, &s);
	assert_int_equal(s.environments, 2);
	assert_int_equal(s.max_in_flight, 2);
	assert_int_equal(s.invocations, 10);
	assert_int_equal(emu_stat("max_inflight"), 2);
	release(&r);
}

/* The token bucket, on explicit times (ms): burst, refill rate, cap. */
static void test_lambda__bucket_burst_then_rate(void **state)
{
	static const struct {
		uint64_t at;
		bool take;     /* take (true) or ask next (false) */
		bool want_ok;  /* take: the answer */
		uint64_t want_next;
	} steps[] = {
		{ 0, true, true, 0 }, { 0, true, true, 0 }, { 0, true, true, 0 },
		{ 0, true, false, 0 },                 /* the burst of 3 is spent */
		{ 0, false, false, 10 },               /* 1,000 per 10 s: one per 10 ms */
		{ 9, true, false, 0 }, { 10, true, true, 0 }, { 15, false, false, 20 },
		{ 10000, true, true, 0 }, { 10000, true, true, 0 }, { 10000, true, true, 0 },
		{ 10000, true, false, 0 },             /* refilled to the cap, not past it */
		{ 10005, false, false, 10010 },
	};
	struct lambda_bucket b, z;
	(void)state;
	lambda_bucket_init(&b, 3, 1000, 0);
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		if (steps[i].take)
			assert_int_equal(lambda_bucket_take(&b, steps[i].at), steps[i].want_ok);
		else
			assert_int_equal(lambda_bucket_next(&b, steps[i].at), steps[i].want_next);
	}
	/* no refill: once empty, never */
	lambda_bucket_init(&z, 1, 0, 5);
	assert_true(lambda_bucket_take(&z, 5));
	assert_false(lambda_bucket_take(&z, 1000000));
	assert_int_equal(lambda_bucket_next(&z, 1000000), UINT64_MAX);
	/* the default account: 1,000 at once, then 100 per second */
	lambda_bucket_init(&z, 1000, 1000, 0);
	for (int i = 0; i < 1000; i++)
		assert_true(lambda_bucket_take(&z, 0));
	assert_false(lambda_bucket_take(&z, 0));
	assert_int_equal(lambda_bucket_next(&z, 0), 10);
}

static void test_lambda__straggler_relaunched_first_wins(void **state)
{
	struct run r;
	struct lambda_stats s;
	(void)state;
	/* the durations the threshold is made of */
	create_warm(&r, "straggler=2,straggler_min_ms=100", 16, 0);
	/* the next invocation answers after 5 s; its duplicate at once */
	emu_post("/_emu/faults", "[{\"delay_ms\":5000}]");
	start_n(&r, 1);
	drain(&r);
	assert_all_ran(&r);
	lambda_engine_stats(r.e, &s);
	assert_int_equal(s.stragglers, 1);
	assert_int_equal(s.duplicate_wins, 1);
	assert_int_equal(s.invocations, 12);
	release(&r);
}

/* The straggler rule (lambda_straggler_after), table-driven. */
static void test_lambda__straggler_rule(void **state)
{
	static const struct lambda_straggler_rule rule = { .pct = 200, .margin_ms = 500,
							   .factor = 4, .min_ms = 1000 };
	static const struct {
		uint64_t expect;
		unsigned scale;
		uint64_t peers, want;
	} cases[] = {
		{ 1500, 100, 300, 3000 },    /* its own 2x, not 4x the peers' 300 ms */
		{ 1500, 100, 0, 3000 },      /* peers unknown: no matter */
		{ 20000, 100, 300, 40000 },  /* a long thunk is not a straggler at 1,200 ms */
		{ 700, 100, 5000, 1400 },    /* nor is a short one let run 4 x 5 s */
		{ 300, 100, 300, 1000 },     /* 2x and + 500 ms both under the floor */
		{ 600, 100, 300, 1200 },     /* 2x */
		{ 1500, 150, 300, 4500 },    /* the function runs 1.5x the recording */
		{ 1500, 50, 300, 1500 },     /* ... or half: 750 -> 1,500 */
		{ 1500, 0, 300, 0 },         /* no ratio known yet: no threshold */
		{ 0, 100, 300, 1200 },       /* no recorded duration: 4x the peers' median */
		{ 0, 100, 100, 1000 },       /* ... with the floor */
		{ 0, 0, 0, 0 },              /* nothing known */
		{ UINT64_MAX, UINT32_MAX, 0, 8589934590000ULL }, /* clamped, no overflow */
	};
	struct lambda_straggler_rule off = rule;
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(lambda_straggler_after(&rule, cases[i].expect, cases[i].scale,
							cases[i].peers), cases[i].want);
	off.pct = 0; /* off for thunks with a duration; the peers' rule still for the others */
	assert_int_equal(lambda_straggler_after(&off, 1500, 100, 300), 0);
	assert_int_equal(lambda_straggler_after(&off, 0, 100, 300), 1200);
	off = rule;
	off.margin_ms = 2000; /* a margin past 2x */
	assert_int_equal(lambda_straggler_after(&off, 1500, 100, 300), 3500);
	off = rule;
	off.pct = 50; /* a hedge (the spare rule under 100): no margin, the floor stays */
	assert_int_equal(lambda_straggler_after(&off, 4000, 100, 300), 2000);
	assert_int_equal(lambda_straggler_after(&off, 1500, 100, 300), 1000);
	off.pct = 0;
	assert_int_equal(lambda_straggler_after(&off, 1500, 100, 300), 0); /* off */
	off = rule;
	off.factor = 0;
	assert_int_equal(lambda_straggler_after(&off, 0, 100, 300), 0);
	assert_int_equal(lambda_straggler_after(&off, 1500, 100, 300), 3000);
}

/* The rule fitted to the spread of the times seen (lambda_straggler_fit), table-driven. */
static void test_lambda__straggler_fit(void **state)
{
	static const struct lambda_straggler_rule rule = { .pct = 150, .margin_ms = 300, .fit = 1,
							   .factor = 4, .min_ms = 500 };
	static const struct {
		unsigned scale, tail;
		uint64_t resid;
		unsigned pct, margin;
	} cases[] = {
		{ 100, 102, 10, 107, 50 },   /* close to the recording: soon after D' */
		{ 100, 100, 40, 105, 80 },   /* no spread: 105%, twice the residuals */
		{ 100, 100, 1, 105, 50 },    /* ... at least the minimum margin */
		{ 200, 204, 10, 107, 50 },   /* the spread counts, not the scale */
		{ 100, 96, 10, 105, 50 },    /* a tail under the median (rounding): 105% */
		{ 100, 130, 10, 135, 50 },   /* spread: 5 points over it */
		{ 100, 150, 100, 150, 200 }, /* noisy: 155% capped at the rule's 150% */
		{ 100, 300, 400, 150, 300 }, /* ... and the margin at 300 */
		{ 100, 102, 0, 107, 300 },   /* residuals not known: the margin stays */
		{ 0, 102, 10, 150, 300 },    /* ratios not known: the rule as it is */
		{ 100, 0, 10, 150, 300 },
		{ 1, UINT32_MAX, 10, 150, 50 }, /* no overflow */
	};
	struct lambda_straggler_rule f, off = rule;
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		f = lambda_straggler_fit(&rule, cases[i].scale, cases[i].tail, cases[i].resid);
		if (f.pct != cases[i].pct || f.margin_ms != cases[i].margin)
			fail_msg("case %zu: pct %u margin %u, want %u %u", i, f.pct, f.margin_ms,
				 cases[i].pct, cases[i].margin);
		assert_int_equal(f.min_ms, 500);
		assert_int_equal(f.factor, 4);
	}
	off.fit = 0;
	f = lambda_straggler_fit(&off, 100, 100, 10);
	assert_int_equal(f.pct, 150);
	assert_int_equal(f.margin_ms, 300);
	off = rule;
	off.pct = 105; /* a rule already tighter than the fit */
	f = lambda_straggler_fit(&off, 100, 120, 10);
	assert_int_equal(f.pct, 105);
}

/* The S3 client's connections follow the jobs taken at once (lambda_s3_conns). */
static void test_lambda__s3_conns_scale_with_jobs(void **state)
{
	(void)state;
	assert_int_equal(lambda_s3_conns(0), S3_DEFAULT_CONNS);   /* never under s3.h's */
	assert_int_equal(lambda_s3_conns(9), S3_DEFAULT_CONNS);   /* -j 8 and its lookahead */
	assert_int_equal(lambda_s3_conns(1125), 281);             /* -j 1000: a quarter */
	assert_int_equal(lambda_s3_conns(4500), S3_MAX_CONNS);    /* -j 4000: s3.h's cap */
	assert_int_equal(lambda_s3_conns(UINT_MAX), S3_MAX_CONNS);
}

/* The plan's share of a job's own duration (priority_own_pct), read before any
 * engine exists; a bad value is create()'s error. */
static void test_lambda__own_pct_from_params(void **state)
{
	struct engine_config cfg = { .st = &st, .ggdir = dir, .slots = 4,
				     .params = "retries=1,priority_own_pct=x" };
	struct engine *e = NULL;
	char err[1024] = "";
	(void)state;
	assert_non_null(engine_lambda.own_pct);
	assert_int_equal(engine_lambda.own_pct(NULL), LAMBDA_OWN_PCT);
	assert_int_equal(engine_lambda.own_pct("retries=1"), LAMBDA_OWN_PCT);
	assert_int_equal(engine_lambda.own_pct("priority_own_pct=0"), 0);
	assert_int_equal(engine_lambda.own_pct("retries=1,priority_own_pct=55"), 55);
	assert_int_equal(engine_lambda.own_pct(cfg.params), LAMBDA_OWN_PCT);
	assert_int_equal(engine_lambda.create(&cfg, &e, err, sizeof(err)), -EINVAL);
	assert_null(e);
	assert_non_null(strstr(err, "priority_own_pct=x"));
}

/*
 * With recorded durations, a job is judged by its own: the peers (noop answers,
 * a few ms for thunks recorded at 50 ms) make 1 s look long, yet a job recorded
 * at 100 s that answers after 1.5 s gets no duplicate (the peers' rule is off:
 * straggler=0, and would not apply anyway); one recorded at 50 ms that answers
 * after 5 s does, at its floor.
 */
static void test_lambda__straggler_judged_by_its_own_duration(void **state)
{
	struct run r;
	struct lambda_stats s;
	(void)state;
	/* the ratio of the function's times to the recording's */
	create_warm(&r, OWN_DURATION, 16, 50);
	emu_post("/_emu/faults", "[{\"delay_ms\":1500}]");
	start_n_expect(&r, 1, 100000);
	drain(&r);
	lambda_engine_stats(r.e, &s);
	assert_int_equal(s.stragglers, 0);
	emu_post("/_emu/faults", "[{\"delay_ms\":5000}]");
	start_n_expect(&r, 1, 50);
	drain(&r);
	assert_all_ran(&r);
	lambda_engine_stats(r.e, &s);
	assert_int_equal(s.stragglers, 1);
	assert_int_equal(s.duplicate_wins, 1);
	assert_int_equal(s.invocations, 13);
	release(&r);
}

/* Drive the engine for ms (completions into r, each once). */
static void pump(struct run *r, unsigned ms)
{
	uint64_t until = clock_now_ms() + ms;
	while (clock_now_ms() < until) {
		struct pollfd p = { .fd = engine_lambda.fd(r->e), .events = POLLIN };
		struct engine_done d[16];
		int n;
		poll(&p, 1, 5);
		n = engine_lambda.collect(r->e, d, 16);
		assert_true(n >= 0);
		for (int i = 0; i < n; i++) {
			assert_false(r->seen[d[i].tag]);
			r->seen[d[i].tag] = true;
			r->ret[d[i].tag] = d[i].ret;
			r->order[r->ndone++] = d[i].tag;
		}
	}
}

/*
 * A job launched after a straggler scan is judged at its own threshold, not at the
 * next scan planned for the jobs already running: a long job L (recorded 1,000 s)
 * runs, then a short one S (recorded 50 ms) straggles (3 s) and gets its duplicate
 * within its threshold (the next scan once waited for L's, 20 s and more away, and
 * S finished unhelped).
 */
static void test_lambda__straggler_started_later_judged_in_time(void **state)
{
	struct run r;
	struct lambda_stats s;
	(void)state;
	create_warm(&r, OWN_DURATION, 16, 50);
	emu_post("/_emu/faults", "[{\"delay_ms\":3000},{\"delay_ms\":3000}]");
	start_n_expect(&r, 1, 1000000); /* L */
	pump(&r, 100); /* a scan with L alone plans the next one for L's threshold */
	start_n_expect(&r, 1, 50); /* S */
	drain(&r);
	assert_all_ran(&r);
	lambda_engine_stats(r.e, &s);
	assert_int_equal(s.stragglers, 1);
	assert_int_equal(s.duplicate_wins, 1);
	assert_true(r.order[r.ndone - 1] == 10); /* S (11) before L */
	release(&r);
}

/*
 * An invocation that fails while its twin still runs is forgotten, and so is its
 * failure: the twin's valid answer completes the job as a plain success (the
 * function error once left res->infra set on it).
 */
static void test_lambda__twin_failure_leaves_no_trace(void **state)
{
	struct run r;
	struct lambda_stats s;
	(void)state;
	create_warm(&r, "straggler=2,straggler_min_ms=100", 16, 0);
	/* the original fails after 1 s, its duplicate (at 100 ms) answers after 2 s */
	emu_post("/_emu/faults", "[{\"delay_ms\":1000,\"function_error\":\"boom\",\"error_type\":\"Gg.Oops\"},"
				 "{\"delay_ms\":2000}]");
	start_n(&r, 1);
	drain(&r);
	assert_all_ran(&r);
	lambda_engine_stats(r.e, &s);
	assert_int_equal(s.stragglers, 1);
	assert_int_equal(s.function_errors, 1);
	assert_int_equal(s.duplicate_wins, 1);
	assert_false(r.res[10].infra);
	assert_null(r.res[10].err);
	release(&r);
}

/* A duplicate can straggle too (1% of the invocations are slow, duplicates
 * included): once it runs past the threshold as well, a third invocation goes. */
static void test_lambda__straggling_duplicate_relaunched(void **state)
{
	struct run r;
	struct lambda_stats s;
	(void)state;
	/* 32 slots: up to 3 duplicates at once (a tenth of the slots) */
	create_warm(&r, OWN_DURATION, 32, 50);
	emu_post("/_emu/faults", "[{\"delay_ms\":5000},{\"delay_ms\":5000}]");
	start_n_expect(&r, 1, 50);
	drain(&r);
	assert_all_ran(&r);
	lambda_engine_stats(r.e, &s);
	assert_int_equal(s.stragglers, 2);
	assert_int_equal(s.duplicate_wins, 1);
	assert_int_equal(s.invocations, 13);
	release(&r);
}

/*
 * A due duplicate goes before new work: concurrency 2, a straggler A (5 s) and B
 * (600 ms) in flight, C and D waiting for room.  When B ends, A's duplicate takes
 * its environment, so A completes before C and D (without the priority, C and D
 * would go first, the duplicate only once the wait FIFO is empty).
 */
static void test_lambda__duplicate_before_new_work(void **state)
{
	struct run r;
	struct lambda_stats s;
	size_t a = 10, pos_a = 0, pos_c = 0;
	(void)state;
	create_warm(&r, OWN_DURATION ",concurrency=2", 16, 50);
	emu_post("/_emu/faults", "[{\"delay_ms\":5000},{\"delay_ms\":600}]");
	start_n_expect(&r, 4, 50); /* A = 10, B = 11, C = 12, D = 13 */
	drain(&r);
	assert_all_ran(&r);
	for (size_t k = 0; k < r.ndone; k++) {
		if (r.order[k] == a)
			pos_a = k;
		if (r.order[k] == a + 2)
			pos_c = k;
	}
	assert_true(pos_a < pos_c);
	lambda_engine_stats(r.e, &s);
	assert_int_equal(s.stragglers, 1);
	assert_int_equal(s.duplicate_wins, 1);
	assert_int_equal(s.throttled, 0);
	release(&r);
}

/* Start one job recorded at expect_ms with this rank (the plan's critical path) and
 * seed (a fault's "match" can pick its payload out). */
static void start_seeded(struct run *r, uint64_t expect_ms, uint64_t rank,
			 unsigned long long seed)
{
	struct engine_job job = { .tag = r->n, .th = &th, .staging = dir, .expect_ms = expect_ms,
				  .rank = rank, .seed = seed };
	assert_int_equal(engine_lambda.start(r->e, &job, &r->res[r->n]), 0);
	r->n++;
}

/* ... with seed 0. */
static void start_ranked(struct run *r, uint64_t expect_ms, uint64_t rank)
{
	start_seeded(r, expect_ms, rank, 0);
}

/* After the warm-up: A (rank 1, tag 10) and B (rank 5, tag 11), recorded at 100 s,
 * each answering after delay_ms, run to their end; the engine's counts in *s. */
static void run_a_and_b(struct run *r, const char *params, unsigned delay_ms,
			struct lambda_stats *s)
{
	char faults[96];
	create_warm(r, params, 16, 50);
	snprintf(faults, sizeof(faults), "[{\"delay_ms\":%u},{\"delay_ms\":%u}]", delay_ms,
		 delay_ms);
	emu_post("/_emu/faults", faults);
	start_ranked(r, 100000, 1);
	start_ranked(r, 100000, 5);
	drain(r);
	assert_all_ran(r);
	lambda_engine_stats(r->e, s);
}

/*
 * Backups in the build's tail (straggler_spare_pct=0, the default: once an
 * invocation has run straggler_min_ms): no job waits and there is room, so a job
 * that is not late gets a second invocation, the most critical first.
 * Concurrency 3: A and B answering after 3 s leave one environment: B's backup
 * takes it and answers at once, then A's.  With straggler_spare_pct=100 (a backup
 * once a job is past its own recorded time, 4 s and more here: the warm-up's
 * answers are far faster than their recorded 50 ms) neither gets one.
 */
static void test_lambda__backups_in_the_tail_most_critical_first(void **state)
{
	struct run r;
	struct lambda_stats s;
	(void)state;
	run_a_and_b(&r, OWN_RULE ",concurrency=3", 3000, &s);
	assert_int_equal(r.order[10], 11); /* B first: its backup went first */
	assert_int_equal(r.order[11], 10);
	assert_int_equal(s.backups, 2);
	assert_int_equal(s.stragglers, 2);
	assert_int_equal(s.duplicate_wins, 2);
	assert_int_equal(s.throttled, 0);
	release(&r);

	run_a_and_b(&r, OWN_RULE ",concurrency=3,straggler_spare_pct=100", 1500, &s);
	assert_int_equal(s.backups, 0);
	assert_int_equal(s.stragglers, 0);
	release(&r);
}

/*
 * A run for the tail's tests: every answer after 100 ms or more, a warm-up recorded
 * at 100 ms (so D' is about the recorded time; straggler_fit=0), the faults (by
 * seed: jobs started together arrive in any order), then jobs[k] (recorded ms,
 * rank; seed k + 1) run to their end: the backups, duplicates and wins of
 * duplicates they added (the warm-up's last jobs may have had backups too) must be
 * want's, with no 429.
 */
struct tail_job {
	uint64_t expect_ms, rank;
};

static void run_tail(const char *params, const char *faults, const struct tail_job *jobs,
		     size_t n, const struct lambda_stats *want)
{
	struct run run, *r = &run;
	struct lambda_stats s0, s;
	char p[256];
	snprintf(p, sizeof(p), OWN_RULE ",straggler_fit=0%s", params);
	emu_post("/_emu/config", "{\"delay_ms\":100}");
	create_warm(r, p, 16, 100);
	lambda_engine_stats(r->e, &s0);
	emu_post("/_emu/faults", faults);
	for (size_t k = 0; k < n; k++)
		start_seeded(r, jobs[k].expect_ms, jobs[k].rank, k + 1);
	drain(r);
	assert_all_ran(r);
	lambda_engine_stats(r->e, &s);
	assert_int_equal(s.backups - s0.backups, want->backups);
	assert_int_equal(s.stragglers - s0.stragglers, want->stragglers);
	assert_int_equal(s.duplicate_wins - s0.duplicate_wins, want->duplicate_wins);
	assert_int_equal(s.throttled, 0);
	release(r);
}

/*
 * A straggler's relaunch is a job's one hope, and may straggle in its turn: in the
 * tail it gets a backup like a job's only invocation.  Concurrency 3: A (recorded
 * 1 s, late at 2 s) straggles, B and C (recorded 100 s) hold the other
 * environments until 5 and 6 s, D waits for room (no tail before it ran).  A's
 * relaunch takes B's environment and straggles too; once C and D end, nothing
 * waits: the relaunch has run 1 s, past the spare rule's 100 ms, so it gets a
 * backup (not another duplicate at 7 s, when the rule would find it late), which
 * answers at once.
 */
static void test_lambda__straggler_relaunch_backed_up_in_the_tail(void **state)
{
	static const struct tail_job jobs[] = { { 1000, 3 }, { 100000, 2 }, { 100000, 1 },
						{ 100000, 0 } };
	(void)state;
	run_tail(",concurrency=3",
		 "[{\"delay_ms\":20000,\"match\":\"\\\"seed\\\":1\",\"count\":2},"
		 "{\"delay_ms\":5000,\"match\":\"\\\"seed\\\":2\"},"
		 "{\"delay_ms\":6000,\"match\":\"\\\"seed\\\":3\"}]",
		 jobs, 4,
		 &(struct lambda_stats){ .backups = 1, .stragglers = 2, .duplicate_wins = 1 });
}

/*
 * Backups take room nobody waits for, not the duplicates' cap (a tenth of -j: one
 * here): A (recorded 100 s) and B (recorded 1 s, late at 2 s) both get a backup
 * in the tail, all four invocations slow (A's 5 and 6 s, B's 8 s).  When B's
 * backup is late, its duplicate goes out at once and answers: B completes by a
 * duplicate, not by its first invocation at 8 s.
 */
static void test_lambda__backups_leave_the_cap_to_stragglers(void **state)
{
	static const struct tail_job jobs[] = { { 100000, 2 }, { 1000, 1 } };
	(void)state;
	run_tail("",
		 "[{\"delay_ms\":5000,\"match\":\"\\\"seed\\\":1\"},"
		 "{\"delay_ms\":6000,\"match\":\"\\\"seed\\\":1\"},"
		 "{\"delay_ms\":8000,\"match\":\"\\\"seed\\\":2\",\"count\":2}]",
		 jobs, 2,
		 &(struct lambda_stats){ .backups = 2, .stragglers = 3, .duplicate_wins = 1 });
}

/* The straggler's loser runs on (its environment is busy until it answers): it
 * still counts against the concurrency, so the next jobs wait instead of meeting
 * 429s. */
static void test_lambda__losing_twin_counts_against_concurrency(void **state)
{
	struct run r;
	struct lambda_stats s;
	uint64_t limited;
	(void)state;
	create_warm(&r, "straggler=2,straggler_min_ms=100,concurrency=2", 16, 0);
	emu_post("/_emu/faults", "[{\"delay_ms\":5000}]");
	start_n(&r, 1); /* its duplicate answers at once; the original runs on */
	drain(&r);
	lambda_engine_stats(r.e, &s);
	assert_int_equal(s.duplicate_wins, 1);
	limited = s.limited; /* the warm-up's: 10 jobs, 2 at a time */
	start_n(&r, 2); /* one slot left beside the orphan: the second job waits */
	drain(&r);
	assert_all_ran(&r);
	lambda_engine_stats(r.e, &s);
	assert_int_equal(s.limited, limited + 1);
	assert_int_equal(s.throttled, 0);
	release(&r);
}

/* ---- a bare endpoint of the test's own --------------------------------------------
 * For what the emulator cannot stage: a connection that the kernel does not accept
 * for a while.  Requests are read without blocking, in the loop that drives the
 * engine; answers (a noop worker report) close the connection. */

struct bare_conn {
	int fd;
	char buf[8192];
	size_t len;
	bool complete, held;
};

struct bare {
	int lfd;
	struct bare_conn c[32];
	size_t n;
	bool hold;                  /* park the next complete requests unanswered */
};

static void bare_listen(struct bare *b, int backlog)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	char u[64];
	memset(b, 0, sizeof(*b));
	b->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(b->lfd >= 0);
	assert_int_equal(bind(b->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(b->lfd, backlog), 0);
	assert_int_equal(getsockname(b->lfd, (struct sockaddr *)&sa, &sl), 0);
	snprintf(u, sizeof(u), "http://127.0.0.1:%d", ntohs(sa.sin_port));
	setenv("AWS_ENDPOINT_URL_LAMBDA", u, 1);
}

/* The body of a request (after its headers; its bytes may be anything), or NULL. */
static const char *bare_body(const struct bare_conn *c)
{
	const char *p = memmem(c->buf, c->len, "\r\n\r\n", 4);
	return p ? p + 4 : NULL;
}

static void bare_answer(struct bare_conn *c)
{
	static const char body[] = "{\"ran\":true,\"status\":0,\"level\":3,\"outputs\":[]}";
	char resp[512];
	int n = snprintf(resp, sizeof(resp), "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
			 "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", strlen(body), body);
	assert_int_equal(write(c->fd, resp, (size_t)n), n);
	close(c->fd);
	c->fd = -1;
}

/* Accept what is pending, read what arrived, answer complete requests unless held. */
static void bare_step(struct bare *b)
{
	int fd;
	while (b->n < 32 && (fd = accept4(b->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0)
		b->c[b->n++] = (struct bare_conn){ .fd = fd };
	for (size_t i = 0; i < b->n; i++) {
		struct bare_conn *c = &b->c[i];
		const char *body, *cl;
		ssize_t got;
		if (c->fd < 0 || c->complete)
			continue;
		while ((got = read(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len)) > 0)
			c->len += (size_t)got;
		c->buf[c->len] = 0;
		body = bare_body(c);
		cl = strcasestr(c->buf, "\r\ncontent-length:");
		if (!body || !cl || cl > body ||
		    (size_t)(c->buf + c->len - body) < strtoul(cl + 17, NULL, 10))
			continue;
		c->complete = true;
		c->held = b->hold;
		if (!c->held)
			bare_answer(c);
	}
}

/* Drive the engine and the endpoint for ms; completions into r. */
static void bare_drive(struct run *r, struct bare *b, unsigned ms)
{
	uint64_t until = clock_now_ms() + ms;
	while (clock_now_ms() < until) {
		struct pollfd p[2] = { { .fd = engine_lambda.fd(r->e), .events = POLLIN },
				       { .fd = b->lfd, .events = POLLIN } };
		struct engine_done d[16];
		int n;
		poll(p, 2, 5);
		bare_step(b);
		n = engine_lambda.collect(r->e, d, 16);
		assert_true(n >= 0);
		for (int i = 0; i < n; i++) {
			assert_false(r->seen[d[i].tag]);
			r->seen[d[i].tag] = true;
			r->ret[d[i].tag] = d[i].ret;
			r->order[r->ndone++] = d[i].tag;
		}
		bare_step(b);
	}
}

static void bare_close(struct bare *b)
{
	for (size_t i = 0; i < b->n; i++)
		if (b->c[i].fd >= 0)
			close(b->c[i].fd);
	close(b->lfd);
}

/*
 * A losing twin may still be sending when its job is over: the straggler's
 * duplicate cannot connect yet (the endpoint's accept queue is full), the
 * original answers, the job is collected and freed; when the duplicate's
 * connection goes through a second later, its request must still carry the
 * payload the signature covers (it once pointed into the freed job: libcurl
 * does not copy CURLOPT_POSTFIELDS).
 */
static void test_lambda__orphan_sends_its_payload_after_the_job(void **state)
{
	struct run r;
	struct bare b;
	struct lambda_stats s;
	struct bare_conn *orig = NULL, *dup = NULL;
	int filler, lfd;
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	(void)state;
	bare_listen(&b, 16);
	create(&r, "straggler=2,straggler_min_ms=200", 16);
	start_n(&r, 8); /* the durations the threshold is made of */
	while (r.ndone < 8)
		bare_drive(&r, &b, 20);
	assert_all_ran(&r);
	b.hold = true;
	start_n(&r, 1);
	for (int k = 0; k < 400 && !orig; k++) {
		bare_drive(&r, &b, 5);
		for (size_t i = 0; i < b.n; i++)
			if (b.c[i].held)
				orig = &b.c[i];
	}
	assert_non_null(orig);
	/* the accept queue full: a backlog of 0 holds one connection, the filler's */
	assert_int_equal(listen(b.lfd, 0), 0);
	assert_int_equal(getsockname(b.lfd, (struct sockaddr *)&sa, &sl), 0);
	filler = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_true(filler >= 0);
	connect(filler, (struct sockaddr *)&sa, sizeof(sa));
	lfd = b.lfd; /* nothing accepted meanwhile: the filler stays queued */
	b.lfd = -1;
	for (int k = 0; k < 100; k++) { /* the duplicate goes, its SYN is dropped */
		lambda_engine_stats(r.e, &s);
		if (s.stragglers)
			break;
		bare_drive(&r, &b, 10);
	}
	assert_int_equal(s.stragglers, 1);
	bare_drive(&r, &b, 100); /* its connect() is under way */
	bare_answer(orig); /* the original wins */
	while (!r.seen[8])
		bare_drive(&r, &b, 10);
	assert_int_equal(r.ret[8], 0);
	/* room in the queue: the duplicate's SYN goes through when retransmitted */
	{
		int fd = accept4(lfd, NULL, NULL, 0);
		assert_true(fd >= 0);
		close(fd);
		close(filler);
		b.lfd = lfd;
	}
	for (int k = 0; k < 1000 && !dup; k++) {
		bare_drive(&r, &b, 10);
		for (size_t i = 0; i < b.n; i++)
			if (b.c[i].held && &b.c[i] != orig)
				dup = &b.c[i];
	}
	assert_non_null(dup);
	assert_int_equal(dup->len - (size_t)(bare_body(dup) - dup->buf),
			 orig->len - (size_t)(bare_body(orig) - orig->buf));
	assert_memory_equal(bare_body(dup), bare_body(orig), orig->len - (size_t)(bare_body(orig) - orig->buf));
	lambda_engine_stats(r.e, &s);
	assert_int_equal(s.duplicate_wins, 0);
	assert_int_equal(s.invocations, 10);
	release(&r);
	bare_close(&b);
}

static void test_lambda__outputs_must_reach_the_store(void **state)
{
	struct run r;
	char body[1024], hex[GG_HASH_HEX_SIZE];
	(void)state;
	snprintf(body, sizeof(body),
		 "[{\"answer\":{\"ran\":true,\"status\":0,\"level\":3,\"outputs\":[{\"path\":\"/src/a.o\","
		 "\"value\":\"%s\",\"mode\":33188}],\"times_ms\":{\"run\":7}}}]",
		 hash_to_hex(&blob_present, hex));
	emu_post("/_emu/faults", body);
	create(&r, NULL, 1);
	start_n(&r, 1);
	drain(&r);
	assert_all_ran(&r);
	assert_int_equal(r.res[0].outputs.n, 1);
	assert_string_equal(r.res[0].outputs.v[0].path, "/src/a.o");
	assert_true(hash_equal(&r.res[0].outputs.v[0].value, &blob_present));
	assert_int_equal(r.res[0].outputs.v[0].mode, 33188);
	release(&r);

	/* a blob the store lacks, and no remote to fetch it from */
	snprintf(body, sizeof(body),
		 "[{\"answer\":{\"ran\":true,\"status\":0,\"level\":3,\"outputs\":[{\"path\":\"/src/a.o\","
		 "\"value\":\"%s\",\"mode\":33188}]}}]", hash_to_hex(&blob_absent, hex));
	emu_post("/_emu/faults", body);
	create(&r, NULL, 1);
	start_n(&r, 1);
	drain(&r);
	assert_int_equal(r.ret[0], -ENOENT);
	assert_non_null(strstr(r.res[0].err, "is not in the local store"));
	release(&r);

	/* an answer for another thunk is refused */
	emu_post("/_emu/faults", "[{\"answer\":{\"thunk\":\"T0123456789abcdef0123456789abcdef\","
				 "\"ran\":true,\"status\":0,\"level\":3,\"outputs\":[]}}]");
	create(&r, NULL, 1);
	start_n(&r, 1);
	drain(&r);
	assert_int_equal(r.ret[0], -EBADMSG);
	assert_non_null(strstr(r.res[0].err, "answered for thunk T0123456789abcdef0123456789abcdef, not T"));
	release(&r);

	/* a command that failed: its status and stderr tail */
	emu_post("/_emu/faults", "[{\"answer\":{\"ran\":true,\"status\":1,\"level\":3,\"outputs\":[],"
				 "\"stderr_tail\":\"a.c:1: error: expected ';'\"}}]");
	create(&r, NULL, 1);
	start_n(&r, 1);
	drain(&r);
	assert_int_equal(r.ret[0], 0);
	assert_true(r.res[0].ran);
	assert_int_equal(r.res[0].status, 1);
	assert_non_null(strstr(r.res[0].err, "a.c:1: error: expected ';'"));
	release(&r);
}

static void test_lambda__abort_completes_everything(void **state)
{
	struct run r;
	struct engine_result res = { 0 };
	struct engine_job job = { .tag = 9, .th = &th, .staging = dir };
	(void)state;
	emu_post("/_emu/faults", "[{\"hang\":true,\"count\":3}]");
	create(&r, NULL, 3);
	start_n(&r, 4); /* -j 3 and its lookahead: the fourth waits for room */
	assert_false(engine_lambda.can_start_more(r.e));
	engine_lambda.abort(r.e);
	drain(&r);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(r.ret[i], -ECANCELED);
	assert_int_equal(engine_lambda.start(r.e, &job, &res), -ECANCELED);
	release(&r);
}

/* ---- the wire formats ------------------------------------------------------------ */

static void test_lambda__payload_names_the_thunk(void **state)
{
	struct lambda_payload p = { .blobs = "s3://b/p", .timeout_ms = 5, .level = 3, .seed = 7 };
	struct sbuf sb = SBUF_INIT;
	char hex[GG_HASH_HEX_SIZE], want[256];
	(void)state;
	assert_int_equal(hash_buf(GG_HASH_THUNK, "t", 1, &p.thunk), 0);
	assert_int_equal(lambda_payload_write(&p, &sb), 0);
	snprintf(want, sizeof(want), "{\"version\":1,\"thunk\":\"%s\",\"blobs\":\"s3://b/p\","
		 "\"timeout_ms\":5,\"level\":3,\"seed\":7}", hash_to_hex(&p.thunk, hex));
	assert_string_equal(sb.buf, want);
	{
		struct lambda_payload q;
		char *blobs;
		assert_int_equal(lambda_payload_parse(sb.buf, sb.len, &q, &blobs), 0);
		assert_true(hash_equal(&q.thunk, &p.thunk));
		assert_string_equal(q.blobs, "s3://b/p");
		assert_int_equal(q.timeout_ms, 5);
		assert_int_equal(q.level, 3);
		assert_int_equal(q.seed, 7);
		free(blobs);
		/* another version, no thunk, a value hash: refused */
		assert_int_equal(lambda_payload_parse("{\"version\":2,\"thunk\":\"T0123456789abcdef0123456789abcdef\"}",
						      52, &q, &blobs), -EBADMSG);
		assert_int_equal(lambda_payload_parse("{\"version\":1}", 13, &q, &blobs), -EBADMSG);
		assert_int_equal(lambda_payload_parse("{\"version\":1,\"thunk\":\"V0123456789abcdef0123456789abcdef\"}",
						      52, &q, &blobs), -EBADMSG);
	}
	sbuf_release(&sb);
}

/* The stop key travels with its first look; keys that are not plain relative names
 * are refused; the looks thin out as the run goes on. */
static void test_lambda__payload_stop_key(void **state)
{
	struct lambda_payload p = { .blobs = "s3://b/p", .stop_check_ms = 1500 }, q;
	struct sbuf sb = SBUF_INIT;
	char hex[GG_HASH_HEX_SIZE], doc[512], *blobs;
	static const char *const bad[] = { "/stop/x", "stop/../x", "stop/a b", "stop/x?y=1", "" };
	(void)state;
	assert_int_equal(hash_buf(GG_HASH_THUNK, "t", 1, &p.thunk), 0);
	snprintf(p.stop, sizeof(p.stop), "stop/%s.00112233aabbccdd", hash_to_hex(&p.thunk, hex));
	assert_int_equal(lambda_payload_write(&p, &sb), 0);
	assert_non_null(strstr(sb.buf, ",\"stop\":\"stop/T"));
	assert_non_null(strstr(sb.buf, ",\"stop_check_ms\":1500}"));
	assert_int_equal(lambda_payload_parse(sb.buf, sb.len, &q, &blobs), 0);
	assert_string_equal(q.stop, p.stop);
	assert_int_equal(q.stop_check_ms, 1500);
	free(blobs);
	sbuf_release(&sb);
	/* without one: no key in the payload, none parsed */
	p.stop[0] = 0;
	assert_int_equal(lambda_payload_write(&p, &sb), 0);
	assert_null(strstr(sb.buf, "stop"));
	assert_int_equal(lambda_payload_parse(sb.buf, sb.len, &q, &blobs), 0);
	assert_string_equal(q.stop, "");
	free(blobs);
	sbuf_release(&sb);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(doc, sizeof(doc), "{\"version\":1,\"thunk\":\"%s\",\"stop\":\"%s\"}", hex, bad[i]);
		assert_int_equal(lambda_payload_parse(doc, strlen(doc), &q, &blobs), -EBADMSG);
	}
	/* the looks: first at check_ms (a floor without one), then an eighth of the time
	 * run later, never sooner than LAMBDA_STOP_POLL_MS */
	assert_int_equal(lambda_stop_first(0), LAMBDA_STOP_POLL_MS);
	assert_int_equal(lambda_stop_first(1500), 1500);
	assert_int_equal(lambda_stop_next(500), 500 + LAMBDA_STOP_POLL_MS);
	assert_int_equal(lambda_stop_next(8000), 9000);
	{
		uint64_t at = lambda_stop_first(1000);
		unsigned looks = 1;
		while (at < 100000) {
			uint64_t next = lambda_stop_next(at);
			assert_true(next - at <= at / 8 + LAMBDA_STOP_POLL_MS);
			at = next;
			looks++;
		}
		assert_true(looks < 60); /* a 100-second loser costs few HEADs */
	}
}

static void test_lambda__answer_parse(void **state)
{
	static const char good[] =
		"{\"thunk\":null,\"ran\":true,\"status\":0,\"level\":3,\"extra\":[1,{\"x\":[]}],"
		"\"outputs\":[{\"path\":\"/a \\u00e9\\n\",\"value\":null,\"mode\":420}],"
		"\"error\":null,\"stderr_tail\":\"w\\\"x\",\"times_ms\":{\"fetch\":1.5,\"run\":20,"
		"\"store\":2,\"upload\":3}}";
	static const char *const bad[] = {
		"", "[]", "{", "{\"ran\":true", "{\"ran\":tru}", "{\"status\":0}",
		"{\"ran\":true,\"outputs\":[{\"value\":null}]}",
		"{\"ran\":true,\"outputs\":[{\"path\":\"/a\",\"value\":\"Tnothex\"}]}",
		"{\"ran\":true} x", "{\"ran\":true,\"error\":\"\\q\"}",
		"{\"ran\":true,\"x\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
	};
	struct lambda_answer a;
	char *type, *msg;
	(void)state;
	assert_int_equal(lambda_answer_parse(good, strlen(good), &a), 0);
	assert_true(a.ran);
	assert_int_equal(a.level, 3);
	assert_int_equal(a.outputs.n, 1);
	assert_string_equal(a.outputs.v[0].path, "/a \xc3\xa9\n");
	assert_false(hash_is_set(&a.outputs.v[0].value));
	assert_int_equal(a.outputs.v[0].mode, 420);
	assert_string_equal(a.stderr_tail, "w\"x");
	assert_int_equal(a.fetch_ms, 1);
	assert_int_equal(a.upload_ms, 3);
	lambda_answer_release(&a);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (lambda_answer_parse(bad[i], strlen(bad[i]), &a) != -EBADMSG)
			fail_msg("accepted: %s", bad[i]);
	/* every prefix of a good answer is refused, and read within its bounds */
	for (size_t n = 0; n < sizeof(good) - 1; n++)
		assert_int_equal(lambda_answer_parse(good, n, &a), -EBADMSG);

	assert_int_equal(lambda_error_parse("{\"errorMessage\":\"m\",\"errorType\":\"T\"}", 36, &type, &msg), 0);
	assert_string_equal(type, "T");
	assert_string_equal(msg, "m");
	free(type);
	free(msg);
	assert_int_equal(lambda_error_parse("{\"Type\":\"User\",\"Message\":\"M\",\"Reason\":\"R\"}", 42,
					    &type, &msg), 0);
	assert_string_equal(type, "User");
	assert_string_equal(msg, "M");
	free(type);
	free(msg);
	assert_int_equal(lambda_error_parse("<html>", 6, &type, &msg), -EBADMSG);
	assert_null(type);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lambda__payload_names_the_thunk),
		cmocka_unit_test(test_lambda__answer_parse),
		cmocka_unit_test(test_lambda__payload_stop_key),
		cmocka_unit_test(test_lambda__bucket_burst_then_rate),
		cmocka_unit_test(test_lambda__straggler_rule),
		cmocka_unit_test(test_lambda__straggler_fit),
		cmocka_unit_test(test_lambda__s3_conns_scale_with_jobs),
		cmocka_unit_test(test_lambda__own_pct_from_params),
		cmocka_unit_test_setup(test_lambda__backups_in_the_tail_most_critical_first, fresh),
		cmocka_unit_test_setup(test_lambda__invokes_signed, fresh),
		cmocka_unit_test_setup(test_lambda__throttle_storm_backs_off, fresh),
		cmocka_unit_test_setup(test_lambda__server_errors_and_drops_retried, fresh),
		cmocka_unit_test_setup(test_lambda__gives_up_after_attempts, fresh),
		cmocka_unit_test_setup(test_lambda__function_error_fails_the_job, fresh),
		cmocka_unit_test_setup(test_lambda__dead_worker_relaunched_bounded, fresh),
		cmocka_unit_test_setup(test_lambda__deadline_stop_relaunched, fresh),
		cmocka_unit_test_setup(test_lambda__no_answer_times_out_and_retries, fresh),
		cmocka_unit_test_setup(test_lambda__bad_credentials_one_clear_error, fresh),
		cmocka_unit_test_setup(test_lambda__unknown_function_and_too_large, fresh),
		cmocka_unit_test_setup(test_lambda__concurrency_limit_throttles, fresh),
		cmocka_unit_test_setup(test_lambda__concurrency_limit_respected, fresh),
		cmocka_unit_test_setup(test_lambda__lookahead_waits_by_rank, fresh),
		cmocka_unit_test_setup(test_lambda__concurrency_from_environment, fresh),
		cmocka_unit_test_setup(test_lambda__new_environments_bounded_by_burst, fresh),
		cmocka_unit_test_setup(test_lambda__straggler_relaunched_first_wins, fresh),
		cmocka_unit_test_setup(test_lambda__straggler_judged_by_its_own_duration, fresh),
		cmocka_unit_test_setup(test_lambda__duplicate_before_new_work, fresh),
		cmocka_unit_test_setup(test_lambda__straggling_duplicate_relaunched, fresh),
		cmocka_unit_test_setup(test_lambda__straggler_started_later_judged_in_time, fresh),
		cmocka_unit_test_setup(test_lambda__twin_failure_leaves_no_trace, fresh),
		cmocka_unit_test_setup(test_lambda__straggler_relaunch_backed_up_in_the_tail,
					fresh),
		cmocka_unit_test_setup(test_lambda__backups_leave_the_cap_to_stragglers, fresh),
		cmocka_unit_test_setup(test_lambda__losing_twin_counts_against_concurrency, fresh),
		cmocka_unit_test_setup(test_lambda__orphan_sends_its_payload_after_the_job, fresh),
		cmocka_unit_test_setup(test_lambda__outputs_must_reach_the_store, fresh),
		cmocka_unit_test_setup(test_lambda__abort_completes_everything, fresh),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}
