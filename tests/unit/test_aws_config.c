/*
 * Unit tests for runtime/engine/aws_config.c: credentials, region and endpoints from
 * the environment and the shared files (a temporary HOME per case), credential_process,
 * the "no credentials" message, redaction, s3:// URLs and request endpoints.
 */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "runtime/engine/aws_config.h"
#include "runtime/lib/util.h"

static const char *const aws_vars[] = {
	"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
	"AWS_DEFAULT_PROFILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE", "AWS_REGION",
	"AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_LAMBDA",
};

struct fixture {
	char home[64];
};

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path) < 0 ? -1 : 0;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	strcpy(f->home, "/tmp/gg-test-aws-XXXXXX");
	if (!mkdtemp(f->home))
		return -1;
	setenv("HOME", f->home, 1);
	for (size_t i = 0; i < ARRAY_SIZE(aws_vars); i++)
		unsetenv(aws_vars[i]);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	nftw(f->home, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* Write `text` to HOME/rel, making the directories. */
static void write_home_file(const char *home, const char *rel, const char *text)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", home, rel);
	for (char *s = path + strlen(home) + 1; (s = strchr(s, '/')); s++) {
		*s = '\0';
		mkdir(path, 0700);
		*s = '/';
	}
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

/* "@H" in `pat` stands for HOME. */
static void expand(char *out, size_t n, const char *pat, const char *home)
{
	size_t o = 0;
	for (const char *p = pat; *p && o + 1 < n; p++) {
		if (p[0] == '@' && p[1] == 'H') {
			o += (size_t)snprintf(out + o, n - o, "%s", home);
			p++;
		} else {
			out[o++] = *p;
		}
	}
	out[o < n ? o : n - 1] = '\0';
}

/* ---- aws_config_load, table-driven ----------------------------------------- */

struct config_case {
	const char *name;
	const char *env[8];        /* "NAME=value" */
	const char *credentials;   /* ~/.aws/credentials, NULL: absent */
	const char *config;        /* ~/.aws/config, NULL: absent */
	const char *other_path;    /* another file, relative to HOME ... */
	const char *other_text;    /* ... and its text */
	unsigned flags;
	int ret;
	const char *key_id, *secret, *token, *source; /* source: a substring, "@H" is HOME */
	const char *region, *endpoint_s3, *endpoint_lambda;
	const char *err[6];        /* substrings of the error ("@H" is HOME) */
	const char *not_in_err;    /* a secret that must not be in the error */
};

#define NEED AWS_CONFIG_NEED_CREDENTIALS

static const struct config_case config_cases[] = {
	{
		.name = "environment",
		.env = { "AWS_ACCESS_KEY_ID=AKENV", "AWS_SECRET_ACCESS_KEY=skenv", "AWS_SESSION_TOKEN=tokenv" },
		.flags = NEED, .key_id = "AKENV", .secret = "skenv", .token = "tokenv",
		.source = "environment", .region = "us-east-1",
	},
	{
		.name = "environment before the files",
		.env = { "AWS_ACCESS_KEY_ID=AKENV", "AWS_SECRET_ACCESS_KEY=skenv" },
		.credentials = "[default]\naws_access_key_id = AKFILE\naws_secret_access_key = skfile\n",
		.flags = NEED, .key_id = "AKENV", .secret = "skenv", .source = "environment",
		.region = "us-east-1",
	},
	{
		.name = "default profile from the shared files",
		.credentials = "# a comment\n; another\n[default]\n  \naws_access_key_id=AKDEF\n"
			       "aws_secret_access_key =  skdef  \naws_session_token = tokdef\n",
		.config = "[default]\nregion = eu-central-1\noutput = json\n",
		.flags = NEED, .key_id = "AKDEF", .secret = "skdef", .token = "tokdef",
		.source = "shared credentials file '@H/.aws/credentials' (profile 'default')",
		.region = "eu-central-1",
	},
	{
		.name = "AWS_PROFILE, [profile x] in config, endpoint_url, nested blocks",
		.env = { "AWS_PROFILE=dev" },
		.credentials = "[default]\naws_access_key_id = AKDEF\naws_secret_access_key = skdef\n"
			       "[dev]\nAWS_ACCESS_KEY_ID = AKDEV\naws_secret_access_key: skdev\n",
		.config = "[default]\nregion = us-west-2\n[profile dev]\nregion = eu-west-3\n"
			  "s3 =\n  addressing_style = path\n  region = nope\nendpoint_url = http://127.0.0.1:9000/\n",
		.flags = NEED, .key_id = "AKDEV", .secret = "skdev",
		.source = "profile 'dev'", .region = "eu-west-3",
		.endpoint_s3 = "http://127.0.0.1:9000", .endpoint_lambda = "http://127.0.0.1:9000",
	},
	{
		.name = "keys in the config file",
		.env = { "AWS_PROFILE=ci" },
		.config = "[profile ci]\naws_access_key_id = AKCFG\naws_secret_access_key = skcfg\n",
		.flags = NEED, .key_id = "AKCFG", .secret = "skcfg",
		.source = "config file '@H/.aws/config' (profile 'ci')", .region = "us-east-1",
	},
	{
		.name = "AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE",
		.env = { "AWS_SHARED_CREDENTIALS_FILE=~/elsewhere/creds", "AWS_CONFIG_FILE=/nonexistent/gg/config" },
		.credentials = "[default]\naws_access_key_id = AKWRONG\naws_secret_access_key = skwrong\n",
		.other_path = "elsewhere/creds",
		.other_text = "[default]\naws_access_key_id = AKOTHER\naws_secret_access_key = skother\n",
		.flags = NEED, .key_id = "AKOTHER", .secret = "skother",
		.source = "'@H/elsewhere/creds'", .region = "us-east-1",
	},
	{
		.name = "AWS_REGION before AWS_DEFAULT_REGION before the config",
		.env = { "AWS_REGION=ap-south-1", "AWS_DEFAULT_REGION=sa-east-1" },
		.config = "[default]\nregion = eu-west-1\n",
		.region = "ap-south-1",
	},
	{
		.name = "AWS_DEFAULT_REGION before the config",
		.env = { "AWS_DEFAULT_REGION=sa-east-1" },
		.config = "[profile default]\nregion = eu-west-1\n",
		.region = "sa-east-1",
	},
	{
		.name = "[profile default] in the config",
		.config = "[profile default]\nregion = eu-west-1\n",
		.region = "eu-west-1",
	},
	{
		.name = "AWS_ENDPOINT_URL_S3 before AWS_ENDPOINT_URL",
		.env = { "AWS_ENDPOINT_URL_S3=http://127.0.0.1:4568", "AWS_ENDPOINT_URL=https://other.example:8443/base//" },
		.config = "[default]\nendpoint_url = http://ignored.example\n",
		.region = "us-east-1", .endpoint_s3 = "http://127.0.0.1:4568",
		.endpoint_lambda = "https://other.example:8443/base",
	},
	{
		.name = "AWS_ENDPOINT_URL_LAMBDA",
		.env = { "AWS_ENDPOINT_URL_LAMBDA=http://localhost:9001" },
		.region = "us-east-1", .endpoint_lambda = "http://localhost:9001",
	},
	{
		.name = "credential_process",
		.env = { "AWS_PROFILE=proc" },
		.config = "[profile proc]\nregion = us-east-2\ncredential_process = printf '%s' "
			  "'{\"Version\": 1, \"AccessKeyId\": \"AKPROC\", \"SecretAccessKey\": \"sk\\/proc\", "
			  "\"SessionToken\": \"tokproc\", \"Expiration\": \"2099-01-01T00:00:00Z\"}'\n",
		.flags = NEED, .key_id = "AKPROC", .secret = "sk/proc", .token = "tokproc",
		.source = "credential_process (profile 'proc')", .region = "us-east-2",
	},
	{
		.name = "credential_process that fails",
		.env = { "AWS_PROFILE=proc" },
		.credentials = "[proc]\ncredential_process = echo '{\"Version\": 1, \"AccessKeyId\": \"AK\", "
			       "\"SecretAccessKey\": \"leaked-secret\"}'; exit 3\n",
		.flags = NEED, .ret = -EINVAL,
		.err = { "credential_process of profile 'proc' failed", "exit status 3" },
		.not_in_err = "leaked-secret",
	},
	{
		.name = "credential_process without credentials",
		.config = "[default]\ncredential_process = echo '{\"Version\": 1}'\n",
		.flags = NEED, .ret = -EINVAL,
		.err = { "printed no AccessKeyId and SecretAccessKey" },
	},
	{
		.name = "no credentials: the places looked at",
		.config = "[default]\nregion = eu-north-1\n",
		.flags = NEED, .ret = -ENOENT,
		.err = { "no AWS credentials found (profile 'default')",
			 "environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: not set)",
			 "shared credentials file '@H/.aws/credentials' (not found)",
			 "config file '@H/.aws/config' (no aws_access_key_id in [default])",
			 "credential_process (none in profile 'default')" },
	},
	{
		.name = "no such profile",
		.env = { "AWS_PROFILE=nope" },
		.credentials = "[default]\naws_access_key_id = AKDEF\naws_secret_access_key = skdef\n",
		.config = "[default]\n",
		.flags = NEED, .ret = -ENOENT,
		.err = { "(profile 'nope')", "'@H/.aws/credentials' (no section [nope])",
			 "'@H/.aws/config' (no section [profile nope])" },
		.not_in_err = "skdef",
	},
	{
		.name = "key id without secret in the environment",
		.env = { "AWS_ACCESS_KEY_ID=AKENV" },
		.flags = NEED, .ret = -EINVAL,
		.err = { "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not" },
	},
	{
		.name = "secret without key id in a file",
		.credentials = "[default]\naws_secret_access_key = sk-only\n",
		.flags = NEED, .ret = -EINVAL,
		.err = { "aws_secret_access_key without aws_access_key_id" },
		.not_in_err = "sk-only",
	},
	{
		.name = "credentials not needed",
		.region = "us-east-1",
	},
	{
		.name = "a malformed endpoint",
		.env = { "AWS_ENDPOINT_URL_S3=ftp://127.0.0.1:21" },
		.ret = -EINVAL,
		.err = { "S3 endpoint (AWS_ENDPOINT_URL_S3) 'ftp://127.0.0.1:21' is not an http:// or https:// URL" },
	},
	{
		.name = "an endpoint with a user",
		.env = { "AWS_ENDPOINT_URL=http://user@127.0.0.1:21" },
		.ret = -EINVAL,
		.err = { "a host (without user, query or fragment) is required" },
	},
};

static void test_aws_config__load(void **state)
{
	struct fixture *f = *state;
	for (size_t i = 0; i < ARRAY_SIZE(config_cases); i++) {
		const struct config_case *c = &config_cases[i];
		struct aws_config cfg;
		char err[AWS_ERR_SIZE] = "", want[PATH_MAX];
		/* a fresh HOME per case */
		nftw(f->home, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		assert_int_equal(mkdir(f->home, 0700), 0);
		for (size_t v = 0; v < ARRAY_SIZE(aws_vars); v++)
			unsetenv(aws_vars[v]);
		for (size_t e = 0; e < ARRAY_SIZE(c->env) && c->env[e]; e++)
			assert_int_equal(putenv((char *)c->env[e]), 0);
		if (c->credentials)
			write_home_file(f->home, ".aws/credentials", c->credentials);
		if (c->config)
			write_home_file(f->home, ".aws/config", c->config);
		if (c->other_path)
			write_home_file(f->home, c->other_path, c->other_text);

		int ret = aws_config_load(&cfg, c->flags, err, sizeof(err));
		if (ret != c->ret)
			print_error("case '%s': %d (%s)\n", c->name, ret, err);
		assert_int_equal(ret, c->ret);
		for (size_t e = 0; e < ARRAY_SIZE(c->err) && c->err[e]; e++) {
			expand(want, sizeof(want), c->err[e], f->home);
			if (!strstr(err, want))
				print_error("case '%s': '%s' not in '%s'\n", c->name, want, err);
			assert_non_null(strstr(err, want));
		}
		if (c->not_in_err)
			assert_null(strstr(err, c->not_in_err));
		if (ret) {
			assert_null(cfg.region);
			assert_null(cfg.cred.access_key_id);
			continue;
		}
		assert_string_equal(cfg.region, c->region);
		if (c->endpoint_s3)
			assert_string_equal(cfg.endpoint_s3, c->endpoint_s3);
		else
			assert_null(cfg.endpoint_s3);
		if (c->endpoint_lambda)
			assert_string_equal(cfg.endpoint_lambda, c->endpoint_lambda);
		else
			assert_null(cfg.endpoint_lambda);
		if (c->key_id) {
			assert_string_equal(cfg.cred.access_key_id, c->key_id);
			assert_string_equal(cfg.cred.secret_access_key, c->secret);
			if (c->token)
				assert_string_equal(cfg.cred.session_token, c->token);
			else
				assert_null(cfg.cred.session_token);
			expand(want, sizeof(want), c->source, f->home);
			if (!strstr(cfg.cred.source, want))
				print_error("case '%s': source '%s', want '%s'\n", c->name, cfg.cred.source, want);
			assert_non_null(strstr(cfg.cred.source, want));
		} else {
			assert_null(cfg.cred.access_key_id);
		}
		aws_config_release(&cfg);
	}
}

static void test_aws_config__describe_is_redacted(void **state)
{
	(void)state;
	struct aws_credentials c = {
		.access_key_id = strdup("AKIDDESCRIBE"),
		.secret_access_key = strdup("super-secret-value"),
		.session_token = strdup("session-token-value"),
		.source = strdup("environment"),
	};
	char buf[256];
	aws_credentials_describe(&c, buf, sizeof(buf));
	assert_string_equal(buf, "key id 'AKIDDESCRIBE' (with a session token) from environment");
	assert_null(strstr(buf, "super-secret"));
	assert_null(strstr(buf, "session-token-value"));
	aws_credentials_release(&c);
	assert_null(c.access_key_id);
	assert_null(c.secret_access_key);
	aws_credentials_describe(&c, buf, sizeof(buf));
	assert_string_equal(buf, "no credentials");
	/* truncation is safe */
	struct aws_credentials d = { .access_key_id = "AKID", .source = "environment" };
	aws_credentials_describe(&d, buf, 8);
	assert_string_equal(buf, "key id ");
}

/* ---- s3:// URLs --------------------------------------------------------------- */

static void test_aws_config__s3_url_parse(void **state)
{
	(void)state;
	static const struct {
		const char *url;
		int ret;
		const char *bucket, *prefix, *err;
	} cases[] = {
		{ "s3://bucket", 0, "bucket", "", NULL },
		{ "s3://bucket/", 0, "bucket", "", NULL },
		{ "s3://my.bucket-1/a/b", 0, "my.bucket-1", "a/b", NULL },
		{ "s3://bucket//a///b//", 0, "bucket", "a/b", NULL },
		{ "S3://gg-cache/team x/", 0, "gg-cache", "team x", NULL },
		{ "s3://ab", -EINVAL, NULL, NULL, "invalid bucket name 'ab'" },
		{ "s3://-bucket/x", -EINVAL, NULL, NULL, "invalid bucket name '-bucket'" },
		{ "s3://bu*cket", -EINVAL, NULL, NULL, "invalid bucket name 'bu*cket'" },
		{ "s3:///prefix", -EINVAL, NULL, NULL, "invalid bucket name ''" },
		{ "http://bucket/x", -EINVAL, NULL, NULL, "is not an s3://BUCKET[/PREFIX] URL" },
		{ "s3://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", -EINVAL, NULL, NULL,
		  "invalid bucket name" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct aws_s3_url u;
		char err[256] = "";
		int ret = aws_s3_url_parse(cases[i].url, &u, err, sizeof(err));
		if (ret != cases[i].ret)
			print_error("'%s': %d %s\n", cases[i].url, ret, err);
		assert_int_equal(ret, cases[i].ret);
		if (ret) {
			assert_non_null(strstr(err, cases[i].err));
			assert_null(u.bucket);
			continue;
		}
		assert_string_equal(u.bucket, cases[i].bucket);
		assert_string_equal(u.prefix, cases[i].prefix);
		aws_s3_url_release(&u);
	}
}

/* ---- request endpoints -------------------------------------------------------- */

static void test_aws_config__s3_endpoint(void **state)
{
	(void)state;
	static const struct {
		const char *endpoint, *region, *bucket;
		int ret;
		const char *url_base, *host, *path_base;
		bool path_style, tls;
	} cases[] = {
		{ "http://127.0.0.1:4568", "us-east-1", "gg-cache", 0,
		  "http://127.0.0.1:4568", "127.0.0.1:4568", "/gg-cache", true, false },
		{ "https://minio.example:9000/s3", "us-east-1", "b.with.dots", 0,
		  "https://minio.example:9000", "minio.example:9000", "/s3/b.with.dots", true, true },
		{ "http://localhost:80", "us-east-1", "bkt", 0,
		  "http://localhost:80", "localhost", "/bkt", true, false },
		{ "https://[::1]:443", "us-east-1", "bkt", 0,
		  "https://[::1]:443", "[::1]", "/bkt", true, true },
		{ "http://[::1]:8080", "us-east-1", "bkt", 0,
		  "http://[::1]:8080", "[::1]:8080", "/bkt", true, false },
		{ NULL, "us-east-1", "examplebucket", 0,
		  "https://examplebucket.s3.us-east-1.amazonaws.com",
		  "examplebucket.s3.us-east-1.amazonaws.com", "", false, true },
		{ NULL, "eu-west-3", "my.dotted.bucket", 0,
		  "https://s3.eu-west-3.amazonaws.com", "s3.eu-west-3.amazonaws.com",
		  "/my.dotted.bucket", true, true },
		{ NULL, "cn-north-1", "bucket", 0,
		  "https://bucket.s3.cn-north-1.amazonaws.com.cn", "bucket.s3.cn-north-1.amazonaws.com.cn",
		  "", false, true },
		{ NULL, "us-east-1", "a/b", -EINVAL, NULL, NULL, NULL, false, false },
		{ NULL, "evil.example/x", "bucket", -EINVAL, NULL, NULL, NULL, false, false },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct aws_config cfg = AWS_CONFIG_INIT;
		struct aws_endpoint e;
		char err[256] = "";
		cfg.region = (char *)cases[i].region;
		cfg.endpoint_s3 = (char *)cases[i].endpoint;
		int ret = aws_s3_endpoint(&cfg, cases[i].bucket, &e, err, sizeof(err));
		assert_int_equal(ret, cases[i].ret);
		if (ret) {
			assert_true(err[0] != '\0');
			assert_null(e.url_base);
			continue;
		}
		assert_string_equal(e.url_base, cases[i].url_base);
		assert_string_equal(e.host, cases[i].host);
		assert_string_equal(e.path_base, cases[i].path_base);
		assert_int_equal(e.path_style, cases[i].path_style);
		assert_int_equal(e.tls, cases[i].tls);
		aws_endpoint_release(&e);
	}
}

static void test_aws_config__lambda_endpoint(void **state)
{
	(void)state;
	struct aws_config cfg = AWS_CONFIG_INIT;
	struct aws_endpoint e;
	char err[256];
	cfg.region = "eu-west-1";
	assert_int_equal(aws_lambda_endpoint(&cfg, &e, err, sizeof(err)), 0);
	assert_string_equal(e.url_base, "https://lambda.eu-west-1.amazonaws.com");
	assert_string_equal(e.host, "lambda.eu-west-1.amazonaws.com");
	assert_string_equal(e.path_base, "");
	aws_endpoint_release(&e);
	cfg.endpoint_lambda = "http://127.0.0.1:9001/lambda";
	assert_int_equal(aws_lambda_endpoint(&cfg, &e, err, sizeof(err)), 0);
	assert_string_equal(e.url_base, "http://127.0.0.1:9001");
	assert_string_equal(e.host, "127.0.0.1:9001");
	assert_string_equal(e.path_base, "/lambda");
	aws_endpoint_release(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_aws_config__load, setup, teardown),
		cmocka_unit_test(test_aws_config__describe_is_redacted),
		cmocka_unit_test(test_aws_config__s3_url_parse),
		cmocka_unit_test(test_aws_config__s3_endpoint),
		cmocka_unit_test(test_aws_config__lambda_endpoint),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
