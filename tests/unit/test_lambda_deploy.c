/*
 * Unit tests for the pure parts of `gg lambda deploy` (runtime/engine/lambda_deploy.c):
 * option checks, the inline limit, base64, the request bodies of CreateFunction,
 * UpdateFunctionCode and UpdateFunctionConfiguration, and the reading of the
 * control plane's answers (lambda_proto.h's lambda_json_strings).  The requests
 * themselves are exercised against the emulator by tests/e2e/lambda-emu.sh.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "runtime/engine/lambda_deploy.h"
#include "runtime/engine/lambda_proto.h"
#include "runtime/lib/util.h"

#define ROLE "arn:aws:iam::123456789012:role/gg-worker"

static struct lambda_deploy_opts good(void)
{
	return (struct lambda_deploy_opts){ .function = "gg", .role = ROLE, .memory_mb = 3008,
					    .timeout_s = 900, .tmp_mb = 2048, .zip = "fn.zip" };
}

static void test_lambda_deploy__check_accepts_lambdas_ranges(void **state)
{
	struct lambda_deploy_opts o = good();
	char err[256] = "";
	(void)state;
	assert_int_equal(lambda_deploy_check(&o, err, sizeof(err)), 0);
	o.memory_mb = LAMBDA_MEMORY_MIN, o.timeout_s = 1, o.tmp_mb = LAMBDA_TMP_MIN;
	assert_int_equal(lambda_deploy_check(&o, err, sizeof(err)), 0);
	o.memory_mb = LAMBDA_MEMORY_MAX, o.timeout_s = LAMBDA_TIMEOUT_MAX, o.tmp_mb = LAMBDA_TMP_MAX;
	o.role = "arn:aws-cn:iam::000000000001:role/path/x";
	o.function = "gg_worker-2";
	assert_int_equal(lambda_deploy_check(&o, err, sizeof(err)), 0);
}

static void test_lambda_deploy__check_refuses_each_bad_option(void **state)
{
	static const struct {
		const char *function, *role;
		unsigned memory, timeout, tmp;
		const char *says;
	} cases[] = {
		{ "", ROLE, 3008, 900, 2048, "invalid function name ''" },
		{ "a/b", ROLE, 3008, 900, 2048, "invalid function name 'a/b'" },
		{ "gg", "gg-role", 3008, 900, 2048, "invalid role 'gg-role'" },
		{ "gg", "arn:aws:iam::12345:role/x", 3008, 900, 2048, "invalid role" },
		{ "gg", "arn:aws:iam::123456789012:user/x", 3008, 900, 2048, "invalid role" },
		{ "gg", "arn:aws:iam::123456789012:role/", 3008, 900, 2048, "invalid role" },
		{ "gg", ROLE, 127, 900, 2048, "memory 127 MB is outside Lambda's 128-10240 MB" },
		{ "gg", ROLE, 10241, 900, 2048, "memory 10241 MB" },
		{ "gg", ROLE, 3008, 0, 2048, "timeout 0 s is outside Lambda's 1-900 s" },
		{ "gg", ROLE, 3008, 901, 2048, "timeout 901 s" },
		{ "gg", ROLE, 3008, 900, 511, "/tmp of 511 MB is outside Lambda's 512-10240 MB" },
		{ "gg", ROLE, 3008, 900, 10241, "/tmp of 10241 MB" },
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct lambda_deploy_opts o = good();
		char err[256] = "";
		o.function = cases[i].function;
		o.role = cases[i].role;
		o.memory_mb = cases[i].memory;
		o.timeout_s = cases[i].timeout;
		o.tmp_mb = cases[i].tmp;
		assert_int_equal(lambda_deploy_check(&o, err, sizeof(err)), -EINVAL);
		if (!strstr(err, cases[i].says))
			fail_msg("case %zu: '%s' does not say '%s'", i, err, cases[i].says);
	}
}

static void test_lambda_deploy__inline_up_to_the_documented_limit(void **state)
{
	(void)state;
	assert_true(lambda_deploy_inline(0));
	assert_true(lambda_deploy_inline(22ull << 20));
	assert_true(lambda_deploy_inline(LAMBDA_DEPLOY_INLINE_MAX));
	assert_false(lambda_deploy_inline(LAMBDA_DEPLOY_INLINE_MAX + 1));
	assert_false(lambda_deploy_inline(250ull << 20));
}

/* The RFC 4648 vectors, and a buffer longer than one encoding chunk against a
 * bit-by-bit reference. */
static void test_lambda_deploy__base64_rfc4648(void **state)
{
	static const char *const in[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	static const char *const want[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=",
					    "Zm9vYmFy" };
	static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	unsigned char big[10007];
	struct sbuf got = SBUF_INIT, ref = SBUF_INIT;
	(void)state;

	for (size_t i = 0; i < ARRAY_SIZE(in); i++) {
		sbuf_reset(&got);
		assert_int_equal(lambda_deploy_base64(in[i], strlen(in[i]), &got), 0);
		assert_string_equal(got.buf ? got.buf : "", want[i]);
	}
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (unsigned char)(i * 131 + (i >> 7));
	for (size_t i = 0; i < sizeof(big); i += 3) {
		uint32_t v = 0;
		size_t n = sizeof(big) - i < 3 ? sizeof(big) - i : 3;
		for (size_t k = 0; k < 3; k++)
			v = v << 8 | (k < n ? big[i + k] : 0);
		for (size_t k = 0; k < 4; k++)
			sbuf_addch(&ref, k <= n ? abc[(v >> (18 - 6 * k)) & 63] : '=');
	}
	sbuf_reset(&got);
	assert_int_equal(lambda_deploy_base64(big, sizeof(big), &got), 0);
	assert_int_equal(got.len, 4 * ((sizeof(big) + 2) / 3));
	assert_string_equal(got.buf, ref.buf);
	sbuf_release(&got);
	sbuf_release(&ref);
}

static void test_lambda_deploy__create_body_inline(void **state)
{
	struct lambda_deploy_opts o = good();
	struct lambda_deploy_code c = { .zip_b64 = "UEsDBA==" };
	struct sbuf sb = SBUF_INIT;
	(void)state;
	assert_int_equal(lambda_deploy_create_body(&o, &c, &sb), 0);
	assert_string_equal(sb.buf,
		"{\"FunctionName\":\"gg\",\"Role\":\"" ROLE "\",\"Runtime\":\"provided.al2023\","
		"\"Handler\":\"bootstrap\",\"MemorySize\":3008,\"Timeout\":900,"
		"\"EphemeralStorage\":{\"Size\":2048},\"Description\":\"gg worker (gg lambda deploy)\","
		"\"Architectures\":[\"x86_64\"],\"PackageType\":\"Zip\",\"Code\":{\"ZipFile\":\"UEsDBA==\"}}");
	sbuf_release(&sb);
}

static void test_lambda_deploy__code_through_the_bucket(void **state)
{
	struct lambda_deploy_opts o = good();
	struct lambda_deploy_code c = { .s3_bucket = "bkt", .s3_key = "pre/lambda/gg-0123.zip" };
	struct sbuf sb = SBUF_INIT;
	(void)state;
	assert_int_equal(lambda_deploy_create_body(&o, &c, &sb), 0);
	assert_non_null(strstr(sb.buf, "\"Code\":{\"S3Bucket\":\"bkt\",\"S3Key\":\"pre/lambda/gg-0123.zip\"}"));
	assert_null(strstr(sb.buf, "ZipFile"));
	sbuf_reset(&sb);
	assert_int_equal(lambda_deploy_code_body(&c, &sb), 0);
	assert_string_equal(sb.buf, "{\"S3Bucket\":\"bkt\",\"S3Key\":\"pre/lambda/gg-0123.zip\","
				    "\"Architectures\":[\"x86_64\"]}");
	sbuf_reset(&sb);
	c = (struct lambda_deploy_code){ .zip_b64 = "QUJD" };
	assert_int_equal(lambda_deploy_code_body(&c, &sb), 0);
	assert_string_equal(sb.buf, "{\"ZipFile\":\"QUJD\",\"Architectures\":[\"x86_64\"]}");
	sbuf_release(&sb);
}

static void test_lambda_deploy__config_body(void **state)
{
	struct lambda_deploy_opts o = good();
	struct sbuf sb = SBUF_INIT;
	(void)state;
	o.memory_mb = 2048;
	o.timeout_s = 60;
	o.tmp_mb = 512;
	assert_int_equal(lambda_deploy_config_body(&o, &sb), 0);
	assert_string_equal(sb.buf,
		"{\"Role\":\"" ROLE "\",\"Runtime\":\"provided.al2023\",\"Handler\":\"bootstrap\","
		"\"MemorySize\":2048,\"Timeout\":60,\"EphemeralStorage\":{\"Size\":512},"
		"\"Description\":\"gg worker (gg lambda deploy)\"}");
	sbuf_release(&sb);
}

static void test_lambda_deploy__parse_get_function_and_update_answers(void **state)
{
	/* GetFunction: nested in Configuration, with a Code member and numbers around */
	static const char get[] =
		"{\"Code\":{\"Location\":\"https://x\",\"RepositoryType\":\"S3\"},"
		" \"Configuration\": {\"FunctionName\":\"gg\",\"MemorySize\":3008,"
		"\"FunctionArn\":\"arn:aws:lambda:us-east-1:123456789012:function:gg\","
		"\"Architectures\":[\"x86_64\"],\"State\":\"Active\",\"LastUpdateStatus\":\"InProgress\","
		"\"CodeSha256\":\"oS0g\\/amdl=\",\"Role\":\"" ROLE "\",\"StateReason\":null},"
		"\"Tags\":{\"State\":\"not this one\"}}";
	/* UpdateFunctionCode: at the top level */
	static const char upd[] = "{\"FunctionName\":\"gg\",\"State\":\"Pending\","
				  "\"StateReason\":\"The function is being created.\"}";
	struct lambda_function_state s;
	(void)state;

	assert_int_equal(lambda_deploy_parse_state(get, strlen(get), &s), 0);
	assert_string_equal(s.arn, "arn:aws:lambda:us-east-1:123456789012:function:gg");
	assert_string_equal(s.state, "Active");
	assert_string_equal(s.update, "InProgress");
	assert_string_equal(s.code_sha256, "oS0g/amdl=");
	assert_string_equal(s.role, ROLE);
	assert_null(s.state_reason); /* null is not a string */
	assert_int_equal(lambda_deploy_ready(&s), 0);
	lambda_function_state_release(&s);

	assert_int_equal(lambda_deploy_parse_state(upd, strlen(upd), &s), 0);
	assert_string_equal(s.state, "Pending");
	assert_string_equal(s.state_reason, "The function is being created.");
	assert_null(s.update);
	assert_int_equal(lambda_deploy_ready(&s), 0);
	lambda_function_state_release(&s);

	assert_int_equal(lambda_deploy_parse_state("[1]", 3, &s), -EBADMSG);
	assert_null(s.state);
	assert_int_equal(lambda_deploy_parse_state("{\"State\":\"Act", 13, &s), -EBADMSG);
	assert_null(s.state);
}

static void test_lambda_deploy__ready_states(void **state)
{
	static const struct {
		const char *st, *upd;
		int want;
	} cases[] = {
		{ "Active", "Successful", 1 }, { "Active", NULL, 1 },       { NULL, NULL, 1 },
		{ "Inactive", "Successful", 1 }, { "Pending", NULL, 0 },    { "Active", "InProgress", 0 },
		{ "Failed", NULL, -EIO },        { "Active", "Failed", -EIO },
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct lambda_function_state s = { .state = (char *)cases[i].st,
						   .update = (char *)cases[i].upd };
		if (lambda_deploy_ready(&s) != cases[i].want)
			fail_msg("case %zu: %s/%s gives %d", i, cases[i].st, cases[i].upd,
				 lambda_deploy_ready(&s));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lambda_deploy__check_accepts_lambdas_ranges),
		cmocka_unit_test(test_lambda_deploy__check_refuses_each_bad_option),
		cmocka_unit_test(test_lambda_deploy__inline_up_to_the_documented_limit),
		cmocka_unit_test(test_lambda_deploy__base64_rfc4648),
		cmocka_unit_test(test_lambda_deploy__create_body_inline),
		cmocka_unit_test(test_lambda_deploy__code_through_the_bucket),
		cmocka_unit_test(test_lambda_deploy__config_body),
		cmocka_unit_test(test_lambda_deploy__parse_get_function_and_update_answers),
		cmocka_unit_test(test_lambda_deploy__ready_states),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
