/*
 * Unit tests for the S3 client's pure parts (runtime/engine/s3_proto.c: keys,
 * targets, XML answers, the retry policy) and for what the client does without a
 * server (runtime/engine/s3.c: no credentials, a refused connection).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "runtime/engine/s3.h"
#include "runtime/engine/s3_proto.h"
#include "runtime/ir/hash.h"

static void some_hash(struct gg_hash *h, enum gg_hash_kind kind)
{
	assert_int_equal(hash_buf(kind, "abc", 3, h), 0);
}

/* ---- keys ---------------------------------------------------------------------- */

static void test_s3__blob_keys(void **state)
{
	static const struct { const char *prefix, *want; } cases[] = {
		{ NULL, "V06b05ab6733a618578af5f94892f3950" },
		{ "", "V06b05ab6733a618578af5f94892f3950" },
		{ "team/ci", "team/ci/V06b05ab6733a618578af5f94892f3950" },
		{ "team/ci/", "team/ci/V06b05ab6733a618578af5f94892f3950" },
	};
	struct gg_hash h, back;
	char key[S3_KEY_MAX + 1];

	some_hash(&h, GG_HASH_VALUE);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(s3_blob_key(cases[i].prefix, &h, key, sizeof(key)), 0);
		assert_string_equal(key, cases[i].want);
		assert_int_equal(s3_key_blob(cases[i].prefix, key, &back), 0);
		assert_true(hash_equal(&h, &back));
	}
	/* thunk blobs keep their kind letter */
	some_hash(&h, GG_HASH_THUNK);
	assert_int_equal(s3_blob_key("p", &h, key, sizeof(key)), 0);
	assert_int_equal(key[2], 'T');
	assert_int_equal(s3_key_blob("p", key, &back), 0);
	assert_int_equal(back.kind, GG_HASH_THUNK);
}

static void test_s3__blob_key_errors(void **state)
{
	struct gg_hash h = GG_HASH_INIT, ok;
	char key[64], big[2000];

	assert_int_equal(s3_blob_key("p", &h, key, sizeof(key)), -EINVAL); /* unset */
	some_hash(&h, GG_HASH_LIST);
	assert_int_equal(s3_blob_key("p", &h, key, sizeof(key)), -EINVAL); /* not stored */
	some_hash(&ok, GG_HASH_VALUE);
	assert_int_equal(s3_blob_key("p", &ok, key, 10), -ENAMETOOLONG);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	{
		char huge[4096];
		assert_int_equal(s3_blob_key(big, &ok, huge, sizeof(huge)), -ENAMETOOLONG);
	}
}

/* Listed keys that are not blobs gg wrote are not taken for blobs. */
static void test_s3__key_blob_rejects_other_objects(void **state)
{
	static const char *const bad[] = {
		"p/V06b05ab6733a618578af5f94892f3950x",  /* too long */
		"p/V06b05ab6733a618578af5f94892f395",    /* too short */
		"p/V06B05AB6733A618578AF5F94892F3950",   /* not the canonical spelling */
		"p/L06b05ab6733a618578af5f94892f3950",   /* listings are not stored */
		"q/V06b05ab6733a618578af5f94892f3950",   /* another prefix */
		"p/sub/V06b05ab6733a618578af5f94892f3950",
		"p/results/T06b05ab6733a618578af5f94892f3950",
		"pV06b05ab6733a618578af5f94892f3950",
		"p/graph",
	};
	struct gg_hash h;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(s3_key_blob("p", bad[i], &h), -EINVAL);
}

/* ---- targets -------------------------------------------------------------------- */

static void test_s3__targets(void **state)
{
	static const struct {
		const char *base, *pbase, *key, *query, *url, *path;
	} cases[] = {
		/* path-style, a custom endpoint */
		{ "http://127.0.0.1:4568", "/bkt", "p/V06b0", NULL, "http://127.0.0.1:4568/bkt/p/V06b0",
		  "/bkt/p/V06b0" },
		/* the bucket itself: as the AWS CLI sends it */
		{ "http://127.0.0.1:4568", "/bkt", NULL, "list-type=2&prefix=p%2F",
		  "http://127.0.0.1:4568/bkt?list-type=2&prefix=p%2F", "/bkt" },
		/* an endpoint with a path of its own */
		{ "http://h:1", "/s3/bkt", "k", "uploads=", "http://h:1/s3/bkt/k?uploads=", "/s3/bkt/k" },
		/* virtual-hosted */
		{ "https://bkt.s3.eu-west-1.amazonaws.com", "", "a b/c+d~e", NULL,
		  "https://bkt.s3.eu-west-1.amazonaws.com/a%20b/c%2Bd~e", "/a%20b/c%2Bd~e" },
		{ "https://bkt.s3.eu-west-1.amazonaws.com", "", "", "list-type=2",
		  "https://bkt.s3.eu-west-1.amazonaws.com/?list-type=2", "/" },
		/* non-ASCII keys are percent-encoded byte by byte */
		{ "http://h", "/b", "caf\xc3\xa9", NULL, "http://h/b/caf%C3%A9", "/b/caf%C3%A9" },
	};
	struct sbuf url = SBUF_INIT, path = SBUF_INIT;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(s3_target(cases[i].base, cases[i].pbase, cases[i].key,
					   cases[i].query, &url, &path), 0);
		assert_string_equal(url.buf, cases[i].url);
		assert_string_equal(path.buf, cases[i].path);
	}
	assert_int_equal(s3_target("127.0.0.1:9000", "/b", "k", NULL, &url, &path), -EINVAL);
	sbuf_release(&url);
	sbuf_release(&path);
}

/* ---- XML -------------------------------------------------------------------------- */

static void test_s3__xml_error(void **state)
{
	static const char doc[] =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we "
		"calculated does not match &amp; &lt;so&gt; on&#46;</Message>"
		"<AWSAccessKeyId>AKIDEXAMPLE</AWSAccessKeyId><StringToSign>AWS4-HMAC-SHA256"
		"</StringToSign><RequestId>1</RequestId></Error>";
	char code[64], msg[256], small[8];

	assert_int_equal(s3_xml_error(doc, strlen(doc), code, sizeof(code), msg, sizeof(msg)), 0);
	assert_string_equal(code, "SignatureDoesNotMatch");
	assert_string_equal(msg, "The request signature we calculated does not match & <so> on.");
	/* truncated to fit */
	assert_int_equal(s3_xml_error(doc, strlen(doc), small, sizeof(small), msg, sizeof(msg)), 0);
	assert_string_equal(small, "Signatu");
	/* NoSuchBucket without a message */
	assert_int_equal(s3_xml_error("<Error><Code>NoSuchBucket</Code></Error>", 40, code,
				      sizeof(code), msg, sizeof(msg)), 0);
	assert_string_equal(code, "NoSuchBucket");
	assert_string_equal(msg, "");
	/* not an error document: an HTML page of a proxy, nothing, a torn body */
	assert_int_equal(s3_xml_error("<html>502</html>", 16, code, sizeof(code), msg, sizeof(msg)),
			 -EINVAL);
	assert_int_equal(s3_xml_error(NULL, 0, code, sizeof(code), msg, sizeof(msg)), -EINVAL);
	assert_int_equal(s3_xml_error(doc, 60, code, sizeof(code), msg, sizeof(msg)), -EINVAL);
}

static void test_s3__list_page(void **state)
{
	static const char doc[] =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
		"<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		"<Name>bkt</Name><Prefix>p/</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys>"
		"<IsTruncated>true</IsTruncated>"
		"<Contents><Key>p/V06b05ab6733a618578af5f94892f3950</Key>"
		"<LastModified>2026-01-01T00:00:00.000Z</LastModified><ETag>&quot;x&quot;</ETag>"
		"<Size>3</Size><StorageClass>STANDARD</StorageClass></Contents>"
		"<Contents><Key>p/a&amp;b</Key><Size>18446744073709551615</Size></Contents>"
		"<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=&#x3D;"
		"</NextContinuationToken></ListBucketResult>";
	struct s3_list_page pg;

	assert_int_equal(s3_parse_list(doc, strlen(doc), &pg), 0);
	assert_int_equal(pg.n, 2);
	assert_string_equal(pg.v[0].key, "p/V06b05ab6733a618578af5f94892f3950");
	assert_int_equal(pg.v[0].size, 3);
	assert_string_equal(pg.v[1].key, "p/a&b");
	assert_true(pg.v[1].size == UINT64_MAX);
	assert_true(pg.truncated);
	assert_string_equal(pg.next_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM==");
	s3_list_page_release(&pg);
	assert_null(pg.v);
}

static void test_s3__list_page_last_and_empty(void **state)
{
	static const char empty[] = "<ListBucketResult><Name>b</Name><KeyCount>0</KeyCount>"
				    "<IsTruncated>false</IsTruncated></ListBucketResult>";
	static const char selfclosed[] = "<ListBucketResult><Name>b</Name><Prefix/>"
					 "<Contents><Key>k</Key><Size>0</Size></Contents>"
					 "</ListBucketResult>";
	struct s3_list_page pg;

	assert_int_equal(s3_parse_list(empty, strlen(empty), &pg), 0);
	assert_int_equal(pg.n, 0);
	assert_false(pg.truncated);
	assert_null(pg.next_token);
	s3_list_page_release(&pg);
	assert_int_equal(s3_parse_list(selfclosed, strlen(selfclosed), &pg), 0);
	assert_int_equal(pg.n, 1);
	assert_string_equal(pg.v[0].key, "k");
	assert_int_equal(pg.v[0].size, 0);
	assert_false(pg.truncated);
	s3_list_page_release(&pg);
}

static void test_s3__list_page_malformed(void **state)
{
	static const char *const bad[] = {
		"<Error><Code>AccessDenied</Code></Error>",
		"<ListBucketResult><Contents><Key>k</Key></Contents></ListBucketResult>", /* no Size */
		"<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>", /* no Key */
		"<ListBucketResult><Contents><Key>k</Key><Size>-1</Size></Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Key>k</Key><Size>12x</Size></Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Key>k</Key><Size>1</Size>",                  /* torn */
		"",
	};
	struct s3_list_page pg;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(s3_parse_list(bad[i], strlen(bad[i]), &pg), -EINVAL);
		assert_null(pg.v);
	}
}

static void test_s3__multipart_xml(void **state)
{
	static const char init[] = "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key>"
				   "<UploadId>VXBsb2FkIElE&amp;1</UploadId>"
				   "</InitiateMultipartUploadResult>";
	char *etags[] = { "\"a1\"", "\"b2\"" };
	struct sbuf sb = SBUF_INIT;
	char *id;

	assert_int_equal(s3_parse_upload_id(init, strlen(init), &id), 0);
	assert_string_equal(id, "VXBsb2FkIElE&1");
	free(id);
	assert_int_equal(s3_parse_upload_id("<X/>", 4, &id), -EINVAL);
	assert_null(id);
	assert_int_equal(s3_complete_body(&sb, etags, 2), 0);
	assert_string_equal(sb.buf, "<CompleteMultipartUpload>"
				    "<Part><PartNumber>1</PartNumber><ETag>&quot;a1&quot;</ETag></Part>"
				    "<Part><PartNumber>2</PartNumber><ETag>&quot;b2&quot;</ETag></Part>"
				    "</CompleteMultipartUpload>");
	sbuf_release(&sb);
}

static void test_s3__etag_header(void **state)
{
	char buf[64];
	static const char line[] = "ETag:  \"9b2cf535f27731c974343645a3985328\"\r\n";
	assert_true(s3_header_etag(line, strlen(line), buf, sizeof(buf)));
	assert_string_equal(buf, "\"9b2cf535f27731c974343645a3985328\"");
	assert_true(s3_header_etag("etag: x\r\n", 9, buf, sizeof(buf)));
	assert_string_equal(buf, "x");
	assert_false(s3_header_etag("Content-Length: 3\r\n", 19, buf, sizeof(buf)));
}

/* ---- the retry policy ----------------------------------------------------------- */

static void test_s3__retryable(void **state)
{
	static const struct {
		enum s3_net net;
		long status;
		const char *code;
		bool retry;
	} cases[] = {
		{ S3_NET_TRANSIENT, 0, NULL, true },
		{ S3_NET_FATAL, 0, NULL, false },
		{ S3_NET_OK, 500, "InternalError", true },
		{ S3_NET_OK, 500, NULL, true },
		{ S3_NET_OK, 502, "", true },
		{ S3_NET_OK, 503, "SlowDown", true },
		{ S3_NET_OK, 504, NULL, true },
		{ S3_NET_OK, 429, NULL, true },
		{ S3_NET_OK, 400, "RequestTimeout", true },
		{ S3_NET_OK, 403, "RequestTimeTooSkewed", true },
		{ S3_NET_OK, 403, "SignatureDoesNotMatch", false },
		{ S3_NET_OK, 403, "AccessDenied", false },
		{ S3_NET_OK, 404, "NoSuchBucket", false },
		{ S3_NET_OK, 404, NULL, false },
		{ S3_NET_OK, 400, "InvalidArgument", false },
		{ S3_NET_OK, 301, "PermanentRedirect", false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(s3_retryable(cases[i].net, cases[i].status, cases[i].code),
				 cases[i].retry);
}

/* Full jitter: uniform in [0, min(cap, base * 2^(attempt-1))], never more. */
static void test_s3__backoff_full_jitter(void **state)
{
	struct s3_retry_policy p = { .max_attempts = 10, .base_ms = 100, .cap_ms = 5000,
				     .budget_ms = 60000 };
	static const uint64_t rnds[] = { 0, 1, 99, 100, 101, 12345, 0xffffffffffffffffULL,
					 0x8000000000000000ULL };

	for (unsigned a = 1; a <= 200; a++) {
		uint64_t ceil = a > 30 ? 5000 : 100ULL << (a - 1);
		if (ceil > 5000)
			ceil = 5000;
		for (size_t k = 0; k < sizeof(rnds) / sizeof(rnds[0]); k++)
			assert_true(s3_backoff_ms(&p, a, rnds[k]) <= ceil);
		/* the top and the bottom of the range are reachable */
		assert_int_equal(s3_backoff_ms(&p, a, ceil), ceil);
		assert_int_equal(s3_backoff_ms(&p, a, 0), 0);
		assert_int_equal(s3_backoff_ms(&p, a, ceil + 1), 0);
	}
	assert_int_equal(s3_backoff_ms(&p, 1, 150), 49);
	assert_int_equal(s3_backoff_ms(&p, 3, 399), 399);
	assert_int_equal(s3_backoff_ms(&p, 3, 401), 0);
}

static void test_s3__retry_bounds(void **state)
{
	struct s3_retry_policy p = { .max_attempts = 3, .base_ms = 10, .cap_ms = 100,
				     .budget_ms = 1000 };
	assert_true(s3_retry_allowed(&p, 1, 0, 0));
	assert_true(s3_retry_allowed(&p, 2, 900, 100));
	assert_false(s3_retry_allowed(&p, 3, 0, 0));   /* out of attempts */
	assert_false(s3_retry_allowed(&p, 1, 950, 51)); /* past the budget */
	assert_false(s3_retry_allowed(&p, 1, 2000, 0));
}

/* ---- the client without a server ------------------------------------------------- */

static void isolate_aws_env(void)
{
	static const char *const unset[] = { "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
					     "AWS_SESSION_TOKEN", "AWS_PROFILE",
					     "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL" };
	for (size_t i = 0; i < sizeof(unset) / sizeof(unset[0]); i++)
		unsetenv(unset[i]);
	setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/gg-test/credentials", 1);
	setenv("AWS_CONFIG_FILE", "/nonexistent/gg-test/config", 1);
	setenv("AWS_REGION", "us-east-1", 1);
}

/* No credentials anywhere: -ENOENT, and the message names the places looked at. */
static void test_s3__no_credentials(void **state)
{
	struct s3_opts o = { .url = "s3://bucket/prefix" };
	struct s3_client *c = (struct s3_client *)1;
	char err[S3_ERR_SIZE * 2];

	isolate_aws_env();
	setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9", 1);
	assert_int_equal(s3_client_new(&o, &c, err, sizeof(err)), -ENOENT);
	assert_null(c);
	assert_non_null(strstr(err, "AWS_ACCESS_KEY_ID"));
	assert_non_null(strstr(err, "/nonexistent/gg-test/credentials"));
}

static void test_s3__bad_url(void **state)
{
	static const char *const bad[] = { "http://bucket/x", "s3://", "s3:///p", "bucket" };
	struct s3_client *c;
	char err[S3_ERR_SIZE * 2];

	isolate_aws_env();
	setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", 1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(s3_client_new(&(struct s3_opts){ .url = bad[i] }, &c, err,
					       sizeof(err)), -EINVAL);
		assert_null(c);
		assert_true(err[0] != '\0');
	}
}

/* A port nobody listens on. */
static int dead_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/*
 * Connection refused on every attempt: each operation is retried up to the policy's
 * bound, then fails with -EIO and a message naming the object and the endpoint but
 * not the secret.
 */
static void test_s3__refused_connection_is_retried_then_fails(void **state)
{
	static const char secret[] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
	struct s3_opts o = { .url = "s3://bkt/pre",
			     .retry = { .max_attempts = 3, .base_ms = 1, .cap_ms = 2,
					.budget_ms = 10000 } };
	struct s3_client *c;
	struct s3_batch *b;
	struct s3_progress p;
	char err[S3_ERR_SIZE * 2], ep[64];
	long h, g;

	isolate_aws_env();
	setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
	setenv("AWS_SECRET_ACCESS_KEY", secret, 1);
	snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", dead_port());
	setenv("AWS_ENDPOINT_URL_S3", ep, 1);
	assert_int_equal(s3_client_new(&o, &c, err, sizeof(err)), 0);
	assert_string_equal(s3_client_url(c), "s3://bkt/pre");
	assert_int_equal(s3_client_check(c, err, sizeof(err)), -EIO);
	assert_non_null(strstr(err, "3 attempts"));
	assert_null(strstr(err, secret));

	assert_non_null(b = s3_batch_new(c));
	h = s3_batch_head(b, "V06b05ab6733a618578af5f94892f3950");
	g = s3_batch_put_buf(b, "V06b05ab6733a618578af5f94892f3950", "abc", 3);
	assert_int_equal(h, 0);
	assert_int_equal(g, 1);
	assert_int_equal(s3_batch_run(b), -EIO);
	for (long i = 0; i < 2; i++) {
		const struct s3_result *r = s3_batch_result(b, (size_t)i);
		assert_int_equal(r->err, -EIO);
		assert_non_null(strstr(r->msg, "s3://bkt/pre/V06b05ab6733a618578af5f94892f3950"));
		assert_non_null(strstr(r->msg, ep));
		assert_null(strstr(r->msg, secret));
	}
	s3_batch_progress(b, &p);
	assert_int_equal(p.total, 2);
	assert_int_equal(p.done, 2);
	assert_int_equal(p.failed, 2);
	/* a started batch takes no more items */
	assert_int_equal(s3_batch_head(b, "x"), -EBUSY);
	s3_batch_free(b);
	s3_client_free(c);
}

/* A client of options o, with credentials, whose endpoint refuses every connection. */
static struct s3_client *refused_client(const struct s3_opts *o)
{
	struct s3_client *c;
	char err[S3_ERR_SIZE * 2], ep[64];

	isolate_aws_env();
	setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "secret", 1);
	snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", dead_port());
	setenv("AWS_ENDPOINT_URL_S3", ep, 1);
	assert_int_equal(s3_client_new(o, &c, err, sizeof(err)), 0);
	return c;
}

/* A cancel before anything ran ends every item with -ECANCELED. */
static void test_s3__cancel_before_start(void **state)
{
	static volatile sig_atomic_t cancel = 1;
	struct s3_opts o = { .url = "s3://bkt", .cancel = &cancel };
	struct s3_client *c = refused_client(&o);
	struct s3_batch *b;

	assert_non_null(b = s3_batch_new(c));
	for (int i = 0; i < 5; i++)
		assert_true(s3_batch_head(b, "k") >= 0);
	assert_int_equal(s3_batch_run(b), -ECANCELED);
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(s3_batch_result(b, i)->err, -ECANCELED);
	s3_batch_free(b);
	s3_client_free(c);
}

/* s3_batch_finished names each finished item once, none before the batch runs;
 * a refused connection fails them one by one, as they come. */
static void test_s3__finished_lists_each_item_once(void **state)
{
	struct s3_opts o = { .url = "s3://bkt",
			     .retry = { .max_attempts = 1, .base_ms = 1, .cap_ms = 1,
					.budget_ms = 1000 } };
	struct s3_client *c = refused_client(&o);
	struct s3_batch *b;
	bool seen[6] = { false };
	long left;

	assert_non_null(b = s3_batch_new(c));
	for (int i = 0; i < 6; i++)
		assert_int_equal(s3_batch_head(b, "V06b05ab6733a618578af5f94892f3950"), i);
	assert_int_equal(s3_batch_finished(b, 0), SIZE_MAX);
	while ((left = s3_batch_step(b, 100)) > 0)
		;
	assert_int_equal(left, 0);
	for (size_t k = 0; k < 6; k++) {
		size_t i = s3_batch_finished(b, k);
		assert_true(i < 6);
		assert_false(seen[i]);
		seen[i] = true;
		assert_int_equal(s3_batch_result(b, i)->err, -EIO);
	}
	assert_int_equal(s3_batch_finished(b, 6), SIZE_MAX);
	s3_batch_free(b);
	s3_client_free(c);
}

/*
 * A stand-in S3 for one test, in a thread: it answers CreateMultipartUpload with an
 * UploadId, swallows uploads (parts and PUTs) without ever answering them, answers the abort
 * (DELETE ?uploadId) with 204 and counts what it saw.
 */
struct fake_s3 {
	int lfd, port;
	volatile int stop;
	int creates, parts, puts, aborts; /* read after the thread is joined */
	pthread_t tid;
};

static void *fake_s3_main(void *arg)
{
	struct fake_s3 *f = arg;
	struct pollfd pfd[17];
	char buf[16][8192];
	size_t len[16] = { 0 };
	bool stalled[16] = { false };
	int nc = 0;

	while (!f->stop) {
		pfd[0] = (struct pollfd){ .fd = f->lfd, .events = POLLIN };
		for (int i = 0; i < nc; i++)
			pfd[i + 1] = (struct pollfd){ .fd = pfd[i + 1].fd, .events = POLLIN };
		if (poll(pfd, (nfds_t)nc + 1, 50) <= 0)
			continue;
		if ((pfd[0].revents & POLLIN) && nc < 16) {
			int fd = accept(f->lfd, NULL, NULL);
			if (fd >= 0) {
				pfd[nc + 1].fd = fd;
				len[nc] = 0;
				stalled[nc] = false;
				nc++;
			}
		}
		for (int i = 0; i < nc; i++) {
			char *end;
			ssize_t r;
			if (!(pfd[i + 1].revents & (POLLIN | POLLHUP)))
				continue;
			if (stalled[i]) {
				char sink[65536];
				if (read(pfd[i + 1].fd, sink, sizeof(sink)) <= 0)
					pfd[i + 1].fd = -pfd[i + 1].fd - 1; /* closed: poll ignores it */
				continue;
			}
			r = read(pfd[i + 1].fd, buf[i] + len[i], sizeof(buf[i]) - 1 - len[i]);
			if (r <= 0) {
				pfd[i + 1].fd = -pfd[i + 1].fd - 1;
				continue;
			}
			len[i] += (size_t)r;
			buf[i][len[i]] = '\0';
			if (!(end = strstr(buf[i], "\r\n\r\n")))
				continue;
			if (!strncmp(buf[i], "POST ", 5) && strstr(buf[i], "?uploads")) {
				static const char body[] = "<InitiateMultipartUploadResult><UploadId>up1"
							   "</UploadId></InitiateMultipartUploadResult>";
				dprintf(pfd[i + 1].fd, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s",
					strlen(body), body);
				f->creates++;
			} else if (!strncmp(buf[i], "PUT ", 4)) {
				if (strstr(buf[i], "partNumber="))
					f->parts++;
				else
					f->puts++;
				stalled[i] = true; /* never answered */
			} else if (!strncmp(buf[i], "DELETE ", 7) && strstr(buf[i], "uploadId=up1")) {
				dprintf(pfd[i + 1].fd, "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n");
				f->aborts++;
			} else {
				dprintf(pfd[i + 1].fd, "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n");
			}
			len[i] = 0;
		}
	}
	for (int i = 0; i < nc; i++)
		if (pfd[i + 1].fd >= 0)
			close(pfd[i + 1].fd);
	return NULL;
}

static void fake_s3_start(struct fake_s3 *f)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	memset(f, 0, sizeof(*f));
	f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(f->lfd >= 0);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(f->lfd, 16), 0);
	assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&a, &alen), 0);
	f->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&f->tid, NULL, fake_s3_main, f), 0);
}

static void fake_s3_stop(struct fake_s3 *f)
{
	f->stop = 1;
	pthread_join(f->tid, NULL);
	close(f->lfd);
}

/* Step until cond() holds or the batch ends; the number of unfinished items. */
static long step_until(struct s3_batch *b, struct fake_s3 *f, bool (*cond)(struct fake_s3 *))
{
	long n = 1;
	for (int steps = 0; steps < 400 && (n = s3_batch_step(b, 50)) > 0; steps++)
		if (cond && cond(f))
			break;
	return n;
}

static bool parts_flowing(struct fake_s3 *f) { return f->parts >= 2; }
static bool puts_stuck(struct fake_s3 *f) { return f->puts >= 2 && f->creates >= 1; }

static struct s3_client *fake_client(struct fake_s3 *f, volatile sig_atomic_t *cancel)
{
	struct s3_opts o = { .url = "s3://bkt/p", .cancel = cancel, .max_conns = 2,
			     .multipart_threshold = 5u << 20, .part_size = 5u << 20 };
	struct s3_client *c;
	char err[S3_ERR_SIZE * 2], ep[64];

	isolate_aws_env();
	setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "secret", 1);
	snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", f->port);
	setenv("AWS_ENDPOINT_URL_S3", ep, 1);
	assert_int_equal(s3_client_new(&o, &c, err, sizeof(err)), 0);
	return c;
}

#define BIG_SIZE ((size_t)(5u << 20) * 4 + 1) /* 5 parts of a multipart upload */

/*
 * Cancel while a multipart upload has parts in flight and parts still queued: the
 * batch, driven step by step, ends, the item ends -ECANCELED and the upload is
 * aborted exactly once.
 */
static void test_s3__cancel_aborts_multipart_upload(void **state)
{
	static volatile sig_atomic_t cancel;
	struct fake_s3 f;
	struct s3_client *c;
	struct s3_batch *b;
	char *data = calloc(1, BIG_SIZE);

	assert_non_null(data);
	fake_s3_start(&f);
	cancel = 0;
	c = fake_client(&f, &cancel);
	assert_non_null(b = s3_batch_new(c));
	assert_int_equal(s3_batch_put_buf(b, "V06b05ab6733a618578af5f94892f3950", data, BIG_SIZE), 0);
	assert_int_equal(step_until(b, &f, parts_flowing), 1); /* 2 parts swallowed, 3 queued */
	assert_int_equal(f.creates, 1);
	cancel = 1;
	assert_int_equal(step_until(b, &f, NULL), 0);
	assert_int_equal(s3_batch_result(b, 0)->err, -ECANCELED);
	s3_batch_free(b);
	s3_client_free(c);
	fake_s3_stop(&f);
	assert_int_equal(f.aborts, 1);
	free(data);
}

/*
 * Cancel while every connection carries a single PUT (level 1 lets those run) and all
 * parts of a multipart upload wait in the queue: the parts are dropped and the abort,
 * queued as the last of them goes, still runs once the PUTs are dropped (level 2).
 * (A lost abort left the batch waiting forever.)
 */
static void test_s3__cancel_with_only_queued_parts(void **state)
{
	static volatile sig_atomic_t cancel;
	struct fake_s3 f;
	struct s3_client *c;
	struct s3_batch *b;
	char *data = calloc(1, BIG_SIZE);

	assert_non_null(data);
	fake_s3_start(&f);
	cancel = 0;
	c = fake_client(&f, &cancel);
	assert_non_null(b = s3_batch_new(c));
	assert_int_equal(s3_batch_put_buf(b, "Vaaaa", data, BIG_SIZE), 0);
	assert_int_equal(s3_batch_put_buf(b, "Vbbbb", "b", 1), 1);
	assert_int_equal(s3_batch_put_buf(b, "Vcccc", "c", 1), 2);
	assert_int_equal(step_until(b, &f, puts_stuck), 3);
	assert_int_equal(f.parts, 0); /* both connections hold a swallowed PUT */
	cancel = 1;
	for (int i = 0; i < 5; i++)
		assert_int_equal(s3_batch_step(b, 20), 3); /* the PUTs may finish: they run on */
	cancel = 2;
	assert_int_equal(step_until(b, &f, NULL), 0);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(s3_batch_result(b, i)->err, -ECANCELED);
	s3_batch_free(b);
	s3_client_free(c);
	fake_s3_stop(&f);
	assert_int_equal(f.aborts, 1);
	assert_int_equal(f.parts, 0);
	free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_s3__blob_keys),
		cmocka_unit_test(test_s3__blob_key_errors),
		cmocka_unit_test(test_s3__key_blob_rejects_other_objects),
		cmocka_unit_test(test_s3__targets),
		cmocka_unit_test(test_s3__xml_error),
		cmocka_unit_test(test_s3__list_page),
		cmocka_unit_test(test_s3__list_page_last_and_empty),
		cmocka_unit_test(test_s3__list_page_malformed),
		cmocka_unit_test(test_s3__multipart_xml),
		cmocka_unit_test(test_s3__etag_header),
		cmocka_unit_test(test_s3__retryable),
		cmocka_unit_test(test_s3__backoff_full_jitter),
		cmocka_unit_test(test_s3__retry_bounds),
		cmocka_unit_test(test_s3__no_credentials),
		cmocka_unit_test(test_s3__bad_url),
		cmocka_unit_test(test_s3__refused_connection_is_retried_then_fails),
		cmocka_unit_test(test_s3__cancel_before_start),
		cmocka_unit_test(test_s3__finished_lists_each_item_once),
		cmocka_unit_test(test_s3__cancel_aborts_multipart_upload),
		cmocka_unit_test(test_s3__cancel_with_only_queued_parts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
