/*
 * Unit tests for runtime/engine/sigv4.c: every case of the awslabs SigV4 test suite
 * (read at test time from $GG_SIGV4_DATA, else ../shared/data/sigv4 from the repo
 * top: a missing folder fails the suite), the S3 worked examples of the AWS
 * documentation, hashing, encoding and bad input.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "runtime/engine/sigv4.h"
#include "runtime/lib/util.h"

#define MAX_CASES 256
#define MAX_HDRS 32

/* ---- the data folder -------------------------------------------------------- */

static char data_dir[PATH_MAX + 64];

/* $GG_SIGV4_DATA, else ../shared/data/sigv4 from the current directory (tests/run.sh
 * runs from the repo top), else from the repo top found above the test binary. */
static bool find_data_dir(void)
{
	const char *env = getenv("GG_SIGV4_DATA");
	struct stat st;
	char exe[PATH_MAX];
	ssize_t n;

	if (env && *env) {
		snprintf(data_dir, sizeof(data_dir), "%s", env);
		return stat(data_dir, &st) == 0 && S_ISDIR(st.st_mode);
	}
	snprintf(data_dir, sizeof(data_dir), "../shared/data/sigv4");
	if (stat(data_dir, &st) == 0 && S_ISDIR(st.st_mode))
		return true;
	/* BUILD/tests/unit/test_sigv4 -> the repo top is three levels up */
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return false;
	exe[n] = '\0';
	for (int i = 0; i < 4; i++) {
		char *slash = strrchr(exe, '/');
		if (!slash)
			return false;
		*slash = '\0';
	}
	snprintf(data_dir, sizeof(data_dir), "%s/../shared/data/sigv4", exe);
	return stat(data_dir, &st) == 0 && S_ISDIR(st.st_mode);
}

static char *slurp(const char *dir, const char *name)
{
	char path[PATH_MAX * 2];
	struct sbuf sb;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (file_read_all(path, &sb, 1 << 20) < 0)
		return NULL;
	char *s = sbuf_detach(&sb, NULL);
	sbuf_release(&sb);
	return s;
}

/* ---- a small parser for context.json and request.txt ----------------------- */

/* The value of "key" in a flat-enough JSON text: a string (malloc'd) or a bool. */
static char *json_string(const char *js, const char *key)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "\"%s\"", key);
	const char *p = strstr(js, pat);
	if (!p)
		return NULL;
	p += strlen(pat);
	p += strspn(p, " \t\n:");
	if (*p != '"')
		return NULL;
	const char *e = strchr(p + 1, '"');
	return e ? strndup(p + 1, (size_t)(e - p - 1)) : NULL;
}

static bool json_bool(const char *js, const char *key)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "\"%s\"", key);
	const char *p = strstr(js, pat);
	if (!p)
		return false;
	p += strlen(pat);
	p += strspn(p, " \t\n:");
	return !strncmp(p, "true", 4);
}

struct vreq {
	char *method, *path, *query, *body;
	size_t body_len;
	struct sigv4_header h[MAX_HDRS];
	char *hv[MAX_HDRS]; /* owned names and values */
	char *hn[MAX_HDRS];
	size_t nh;
};

static void vreq_release(struct vreq *r)
{
	free(r->method);
	free(r->path);
	free(r->query);
	free(r->body);
	for (size_t i = 0; i < r->nh; i++) {
		free(r->hn[i]);
		free(r->hv[i]);
	}
}

/* "METHOD PATH[?QUERY] HTTP/1.1", header lines (a line starting with white space
 * continues the previous value), an empty line, the body. */
static int parse_request(const char *txt, struct vreq *r)
{
	memset(r, 0, sizeof(*r));
	const char *eol = strchr(txt, '\n');
	if (!eol)
		return -1;
	const char *sp = memchr(txt, ' ', (size_t)(eol - txt));
	const char *ver = NULL;
	for (const char *q = eol - 1; q > txt; q--)
		if (*q == ' ') {
			ver = q;
			break;
		}
	if (!sp || !ver || ver <= sp)
		return -1;
	r->method = strndup(txt, (size_t)(sp - txt));
	const char *target = sp + 1;
	const char *qm = memchr(target, '?', (size_t)(ver - target));
	r->path = strndup(target, (size_t)((qm ? qm : ver) - target));
	r->query = qm ? strndup(qm + 1, (size_t)(ver - qm - 1)) : strdup("");
	const char *p = eol + 1;
	while (*p && *p != '\n') {
		eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		if ((*p == ' ' || *p == '\t') && r->nh) {
			char *prev = r->hv[r->nh - 1];
			size_t pl = strlen(prev);
			char *nv = realloc(prev, pl + 1 + len + 1);
			if (!nv)
				return -1;
			nv[pl] = '\n';
			memcpy(nv + pl + 1, p, len);
			nv[pl + 1 + len] = '\0';
			r->hv[r->nh - 1] = nv;
		} else {
			const char *colon = memchr(p, ':', len);
			if (!colon || r->nh == MAX_HDRS)
				return -1;
			r->hn[r->nh] = strndup(p, (size_t)(colon - p));
			r->hv[r->nh] = strndup(colon + 1, len - (size_t)(colon + 1 - p));
			r->nh++;
		}
		p += len + (eol ? 1 : 0);
	}
	if (*p == '\n')
		p++;
	r->body = strdup(p);
	r->body_len = strlen(p);
	for (size_t i = 0; i < r->nh; i++) {
		r->h[i].name = r->hn[i];
		r->h[i].value = r->hv[i];
	}
	return 0;
}

/* The value of the Authorization line of header-signed-request.txt. */
static char *signed_authorization(const char *txt)
{
	const char *p = strstr(txt, "\nAuthorization:");
	if (!p)
		return NULL;
	p += strlen("\nAuthorization:");
	return strndup(p, strcspn(p, "\n"));
}

/* ---- the vectors ------------------------------------------------------------ */

static char *case_names[MAX_CASES];
static size_t ncases;

static int cmpstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list_cases(void)
{
	DIR *d = opendir(data_dir);
	struct dirent *e;
	if (!d)
		return;
	while ((e = readdir(d)) && ncases < MAX_CASES) {
		char ctx[PATH_MAX * 2];
		struct stat st;
		if (e->d_name[0] == '.')
			continue;
		snprintf(ctx, sizeof(ctx), "%s/%s/context.json", data_dir, e->d_name);
		if (stat(ctx, &st) == 0)
			case_names[ncases++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(case_names, ncases, sizeof(case_names[0]), cmpstr);
}

/* Print where two texts first differ (cmocka's message shows only the pointers). */
static void assert_same_text(const char *what, const char *name, const char *got,
			     const char *want)
{
	if (got && want && !strcmp(got, want))
		return;
	print_error("%s: %s differs\n--- got\n%s\n--- want\n%s\n", name, what, got ? got : "(null)",
		    want ? want : "(null)");
	fail();
}

static void test_sigv4__vectors_present(void **state)
{
	(void)state;
	if (!data_dir[0]) {
		print_error("no SigV4 test data: set GG_SIGV4_DATA or provide ../shared/data/sigv4\n");
		fail();
	}
	/* The suite has 38 header-form cases; fewer means the folder is not the suite. */
	assert_true(ncases >= 30);
}

static void test_sigv4__vector(void **state)
{
	const char *name = *state;
	char dir[PATH_MAX * 2], tbuf[32];
	struct vreq r;
	struct sigv4_result res;
	struct tm tm = { 0 };
	char body_hash[SIGV4_SHA256_HEX_SIZE];

	snprintf(dir, sizeof(dir), "%s/%s", data_dir, name);
	char *ctx = slurp(dir, "context.json"), *req = slurp(dir, "request.txt");
	char *creq = slurp(dir, "header-canonical-request.txt");
	char *sts = slurp(dir, "header-string-to-sign.txt");
	char *sig = slurp(dir, "header-signature.txt");
	char *signed_req = slurp(dir, "header-signed-request.txt");
	assert_non_null(ctx);
	assert_non_null(req);
	assert_non_null(creq);
	assert_non_null(sts);
	assert_non_null(sig);
	assert_non_null(signed_req);
	assert_int_equal(parse_request(req, &r), 0);

	char *ak = json_string(ctx, "access_key_id"), *sk = json_string(ctx, "secret_access_key");
	char *tok = json_string(ctx, "token"), *region = json_string(ctx, "region");
	char *service = json_string(ctx, "service"), *ts = json_string(ctx, "timestamp");
	assert_non_null(ak);
	assert_non_null(sk);
	assert_non_null(region);
	assert_non_null(service);
	assert_non_null(ts);
	snprintf(tbuf, sizeof(tbuf), "%s", ts);
	assert_int_equal(sscanf(tbuf, "%d-%d-%dT%d:%d:%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
				&tm.tm_hour, &tm.tm_min, &tm.tm_sec),
			 6);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;

	assert_int_equal(sigv4_sha256_hex(r.body, r.body_len, body_hash), 0);
	unsigned flags = SIGV4_DOUBLE_ENCODE;
	if (json_bool(ctx, "normalize"))
		flags |= SIGV4_NORMALIZE_PATH;
	if (json_bool(ctx, "sign_body"))
		flags |= SIGV4_SIGN_PAYLOAD_HEADER;
	if (json_bool(ctx, "omit_session_token"))
		flags |= SIGV4_OMIT_SESSION_TOKEN;
	struct sigv4_request sr = {
		.method = r.method,
		.path = r.path,
		.query = r.query,
		.headers = r.h,
		.nheaders = r.nh,
		.payload_hash = body_hash,
		.region = region,
		.service = service,
		.when = timegm(&tm),
		.flags = flags,
	};
	struct sigv4_credentials cred = { ak, sk, tok };
	assert_int_equal(sigv4_sign(&sr, &cred, &res), 0);

	assert_same_text("canonical request", name, res.canonical_request, creq);
	assert_same_text("string to sign", name, res.string_to_sign, sts);
	sig[strcspn(sig, "\n")] = '\0';
	assert_same_text("signature", name, res.signature, sig);
	char *auth = signed_authorization(signed_req);
	assert_same_text("authorization", name, res.authorization, auth);
	/* The headers to add carry the same Authorization and X-Amz-Date. */
	char want_auth_line[1024];
	snprintf(want_auth_line, sizeof(want_auth_line), "Authorization: %s", auth);
	assert_true(res.headers.n >= 2);
	assert_string_equal(res.headers.v[0], want_auth_line);
	assert_string_equal(res.headers.v[1], "X-Amz-Date: 20150830T123600Z");
	if (tok) {
		bool found = false;
		for (size_t i = 0; i < res.headers.n; i++)
			found |= !strncmp(res.headers.v[i], "x-amz-security-token: ", 22);
		assert_true(found);
	}

	free(auth);
	sigv4_result_release(&res);
	free(ak);
	free(sk);
	free(tok);
	free(region);
	free(service);
	free(ts);
	vreq_release(&r);
	free(ctx);
	free(req);
	free(creq);
	free(sts);
	free(sig);
	free(signed_req);
}

/* ---- the S3 worked examples of the AWS documentation ------------------------
 * "Examples: Signature Calculations in AWS Signature Version 4", Amazon S3 API
 * Reference (sig-v4-header-based-auth.html): credentials AKIAIOSFODNN7EXAMPLE /
 * wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY, 20130524T000000Z, us-east-1, bucket
 * examplebucket (virtual-hosted).
 */
#define DOC_HOST "examplebucket.s3.amazonaws.com"
#define DOC_TIME ((time_t)1369353600) /* 2013-05-24T00:00:00Z */

struct doc_example {
	const char *name;
	const char *method, *path, *query;
	struct sigv4_header headers[4];
	size_t nheaders;
	const char *body;
	const char *canonical_request;
	const char *creq_hash; /* last line of the string to sign */
	const char *signature;
};

static const struct doc_example doc_examples[] = {
	{
		"GET object",
		"GET", "/test.txt", NULL,
		{ { "Host", DOC_HOST }, { "Range", "bytes=0-9" } }, 2,
		"",
		"GET\n/test.txt\n\n"
		"host:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
		"x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
		"x-amz-date:20130524T000000Z\n\n"
		"host;range;x-amz-content-sha256;x-amz-date\n"
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972",
		"f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
	},
	{
		"PUT object",
		"PUT", "/test$file.text", NULL,
		{ { "Host", DOC_HOST }, { "Date", "Fri, 24 May 2013 00:00:00 GMT" },
		  { "x-amz-storage-class", "REDUCED_REDUNDANCY" } }, 3,
		"Welcome to Amazon S3.",
		"PUT\n/test%24file.text\n\n"
		"date:Fri, 24 May 2013 00:00:00 GMT\nhost:examplebucket.s3.amazonaws.com\n"
		"x-amz-content-sha256:44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072\n"
		"x-amz-date:20130524T000000Z\nx-amz-storage-class:REDUCED_REDUNDANCY\n\n"
		"date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class\n"
		"44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
		"9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d",
		"98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
	},
	{
		"GET bucket lifecycle",
		"GET", "/", "lifecycle",
		{ { "Host", DOC_HOST } }, 1,
		"",
		"GET\n/\nlifecycle=\n"
		"host:examplebucket.s3.amazonaws.com\n"
		"x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
		"x-amz-date:20130524T000000Z\n\n"
		"host;x-amz-content-sha256;x-amz-date\n"
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca",
		"fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
	},
	{
		"list objects",
		"GET", "/", "prefix=J&max-keys=2", /* unsorted on purpose: the signer sorts */
		{ { "Host", DOC_HOST } }, 1,
		"",
		"GET\n/\nmax-keys=2&prefix=J\n"
		"host:examplebucket.s3.amazonaws.com\n"
		"x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
		"x-amz-date:20130524T000000Z\n\n"
		"host;x-amz-content-sha256;x-amz-date\n"
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"df57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7",
		"34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
	},
};

static const struct sigv4_credentials doc_cred = {
	"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", NULL
};

static void test_sigv4__s3_doc_example(void **state)
{
	const struct doc_example *ex = *state;
	char hash[SIGV4_SHA256_HEX_SIZE], want_sts[256], want_auth[512];
	struct sigv4_result res;

	assert_int_equal(sigv4_sha256_hex(ex->body, strlen(ex->body), hash), 0);
	struct sigv4_request req = {
		.method = ex->method,
		.path = ex->path,
		.query = ex->query,
		.headers = ex->headers,
		.nheaders = ex->nheaders,
		.payload_hash = hash,
		.region = "us-east-1",
		.service = "s3",
		.when = DOC_TIME,
		.flags = SIGV4_RULES_S3,
	};
	assert_int_equal(sigv4_sign(&req, &doc_cred, &res), 0);
	assert_same_text("canonical request", ex->name, res.canonical_request,
			 ex->canonical_request);
	snprintf(want_sts, sizeof(want_sts),
		 "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n%s",
		 ex->creq_hash);
	assert_same_text("string to sign", ex->name, res.string_to_sign, want_sts);
	assert_string_equal(res.signature, ex->signature);
	snprintf(want_auth, sizeof(want_auth),
		 "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
		 "SignedHeaders=%s, Signature=%s",
		 res.signed_headers, ex->signature);
	assert_string_equal(res.authorization, want_auth);
	/* S3: the payload hash header is among the headers to add */
	char want_sha[128];
	snprintf(want_sha, sizeof(want_sha), "x-amz-content-sha256: %s", hash);
	assert_int_equal(res.headers.n, 3);
	assert_string_equal(res.headers.v[2], want_sha);
	sigv4_result_release(&res);

	/* The same request through the headers-only helper. */
	struct strlist hl;
	assert_int_equal(sigv4_sign_headers(&req, &doc_cred, &hl), 0);
	snprintf(want_auth, sizeof(want_auth), "Authorization: AWS4-HMAC-SHA256 Credential=");
	assert_int_equal(strncmp(hl.v[0], want_auth, strlen(want_auth)), 0);
	assert_non_null(strstr(hl.v[0], ex->signature));
	assert_string_equal(hl.v[1], "X-Amz-Date: 20130524T000000Z");
	strlist_release(&hl);
}

/* ---- S3 rules, tokens, unsigned payloads ------------------------------------ */

static void test_sigv4__s3_path_single_encoding(void **state)
{
	(void)state;
	/* A raw path and its encoding sign the same; nothing is normalized. */
	static const struct {
		const char *path, *canonical;
	} cases[] = {
		{ "/test$file.text", "/test%24file.text" },
		{ "/test%24file.text", "/test%24file.text" },
		{ "/b/a b/../c//d/./e", "/b/a%20b/../c//d/./e" },
		{ "/b/a%20b", "/b/a%20b" },
		{ "/b/a%2fb%7e", "/b/a%2Fb%7E" }, /* escapes kept: an encoded '/' stays one */
		{ "/b/100%", "/b/100%25" },
		{ "/b/\xe1\x88\xb4", "/b/%E1%88%B4" },
		{ "/b/k~-_.", "/b/k~-_." },
		{ "", "/" },
	};
	struct sigv4_header h[] = { { "Host", "127.0.0.1:4568" } };
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct sigv4_request req = {
			.method = "GET", .path = cases[i].path, .headers = h, .nheaders = 1,
			.region = "us-east-1", .service = "s3", .when = DOC_TIME,
			.flags = SIGV4_RULES_S3,
		};
		struct sigv4_result res;
		char want[256];
		assert_int_equal(sigv4_sign(&req, &doc_cred, &res), 0);
		snprintf(want, sizeof(want), "GET\n%s\n\n", cases[i].canonical);
		assert_int_equal(strncmp(res.canonical_request, want, strlen(want)), 0);
		sigv4_result_release(&res);
	}
}

static void test_sigv4__query_encoding_and_order(void **state)
{
	(void)state;
	static const struct {
		const char *query, *canonical;
	} cases[] = {
		{ "list-type=2&prefix=a/b c&continuation-token=x+y=",
		  "continuation-token=x%2By%3D&list-type=2&prefix=a%2Fb%20c" },
		{ "b=2&a=3&a=1", "a=1&a=3&b=2" },
		{ "uploads", "uploads=" },
		{ "&&x=%4a&", "x=J" },
		{ "", "" },
	};
	struct sigv4_header h[] = { { "Host", DOC_HOST } };
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct sigv4_request req = {
			.method = "GET", .path = "/", .query = cases[i].query, .headers = h,
			.nheaders = 1, .region = "us-east-1", .service = "s3", .when = DOC_TIME,
			.flags = SIGV4_RULES_S3,
		};
		struct sigv4_result res;
		assert_int_equal(sigv4_sign(&req, &doc_cred, &res), 0);
		/* the third line of the canonical request */
		const char *l3 = strchr(strchr(res.canonical_request, '\n') + 1, '\n') + 1;
		char *got = strndup(l3, strcspn(l3, "\n"));
		assert_same_text("canonical query", cases[i].query, got, cases[i].canonical);
		free(got);
		sigv4_result_release(&res);
	}
}

static void test_sigv4__session_token_and_unsigned_payload(void **state)
{
	(void)state;
	struct sigv4_header h[] = { { "Host", "127.0.0.1:9000" } };
	struct sigv4_credentials cred = { "AKID", "SECRET", "TOKEN/+=" };
	struct sigv4_request req = {
		.method = "PUT", .path = "/bucket/key", .headers = h, .nheaders = 1,
		.payload_hash = SIGV4_UNSIGNED_PAYLOAD, .region = "eu-west-1", .service = "s3",
		.when = DOC_TIME, .flags = SIGV4_RULES_S3,
	};
	struct sigv4_result res;
	assert_int_equal(sigv4_sign(&req, &cred, &res), 0);
	assert_string_equal(res.canonical_request,
			    "PUT\n/bucket/key\n\nhost:127.0.0.1:9000\n"
			    "x-amz-content-sha256:UNSIGNED-PAYLOAD\nx-amz-date:20130524T000000Z\n"
			    "x-amz-security-token:TOKEN/+=\n\n"
			    "host;x-amz-content-sha256;x-amz-date;x-amz-security-token\nUNSIGNED-PAYLOAD");
	assert_int_equal(res.headers.n, 4);
	assert_string_equal(res.headers.v[2], "x-amz-content-sha256: UNSIGNED-PAYLOAD");
	assert_string_equal(res.headers.v[3], "x-amz-security-token: TOKEN/+=");
	/* the secret appears nowhere in the results */
	assert_null(strstr(res.canonical_request, "SECRET"));
	assert_null(strstr(res.string_to_sign, "SECRET"));
	assert_null(strstr(res.authorization, "SECRET"));
	sigv4_result_release(&res);

	/* a different secret, a different signature */
	struct sigv4_result res2;
	struct sigv4_credentials cred2 = { "AKID", "SECRET2", "TOKEN/+=" };
	char sig1[SIGV4_SHA256_HEX_SIZE];
	assert_int_equal(sigv4_sign(&req, &cred, &res), 0);
	memcpy(sig1, res.signature, sizeof(sig1));
	assert_int_equal(sigv4_sign(&req, &cred2, &res2), 0);
	assert_string_not_equal(sig1, res2.signature);
	sigv4_result_release(&res);
	sigv4_result_release(&res2);
}

static void test_sigv4__bad_input(void **state)
{
	(void)state;
	struct sigv4_header host[] = { { "Host", DOC_HOST } };
	struct sigv4_header nohost[] = { { "Range", "bytes=0-1" } };
	struct sigv4_header reserved[] = { { "Host", DOC_HOST }, { "X-Amz-Date", "x" } };
	struct sigv4_header reserved2[] = { { "Host", DOC_HOST }, { "authorization", "x" } };
	struct sigv4_credentials nokey = { "", "s", NULL };
	struct sigv4_credentials crlf_token = { "AKID", "s", "tok\r\nX-Injected: 1" };
	const struct {
		const char *name;
		struct sigv4_request req;
		const struct sigv4_credentials *cred;
	} cases[] = {
		{ "no host", { .method = "GET", .headers = nohost, .nheaders = 1, .region = "r", .service = "s3", .when = DOC_TIME }, &doc_cred },
		{ "reserved x-amz-date", { .method = "GET", .headers = reserved, .nheaders = 2, .region = "r", .service = "s3", .when = DOC_TIME }, &doc_cred },
		{ "reserved authorization", { .method = "GET", .headers = reserved2, .nheaders = 2, .region = "r", .service = "s3", .when = DOC_TIME }, &doc_cred },
		{ "bad payload hash", { .method = "GET", .headers = host, .nheaders = 1, .payload_hash = "E3B0", .region = "r", .service = "s3", .when = DOC_TIME }, &doc_cred },
		{ "no method", { .method = "", .headers = host, .nheaders = 1, .region = "r", .service = "s3", .when = DOC_TIME }, &doc_cred },
		{ "no region", { .method = "GET", .headers = host, .nheaders = 1, .service = "s3", .when = DOC_TIME }, &doc_cred },
		{ "time before 1970", { .method = "GET", .headers = host, .nheaders = 1, .region = "r", .service = "s3", .when = -1 }, &doc_cred },
		{ "no key id", { .method = "GET", .headers = host, .nheaders = 1, .region = "r", .service = "s3", .when = DOC_TIME }, &nokey },
		{ "line break in the token", { .method = "GET", .headers = host, .nheaders = 1, .region = "r", .service = "s3", .when = DOC_TIME }, &crlf_token },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct sigv4_result res;
		int ret = sigv4_sign(&cases[i].req, cases[i].cred, &res);
		if (ret != -EINVAL)
			print_error("case '%s': %d\n", cases[i].name, ret);
		assert_int_equal(ret, -EINVAL);
		assert_null(res.authorization);
		assert_int_equal(res.headers.n, 0);
	}
}

/* ---- hashing and encoding ----------------------------------------------------- */

static void test_sigv4__sha256(void **state)
{
	(void)state;
	char hex[SIGV4_SHA256_HEX_SIZE], hex2[SIGV4_SHA256_HEX_SIZE];
	assert_int_equal(sigv4_sha256_hex("", 0, hex), 0);
	assert_string_equal(hex, SIGV4_EMPTY_SHA256);
	assert_int_equal(sigv4_sha256_hex("Welcome to Amazon S3.", 21, hex), 0);
	assert_string_equal(hex, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");

	/* streaming: a file larger than the read buffer, and in odd-sized pieces */
	char path[] = "/tmp/gg-test-sigv4-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	size_t n = 200000 + 17;
	char *buf = malloc(n);
	assert_non_null(buf);
	for (size_t i = 0; i < n; i++)
		buf[i] = (char)(i * 131 + (i >> 9));
	assert_int_equal(write(fd, buf, n), (ssize_t)n);
	close(fd);
	assert_int_equal(sigv4_sha256_hex(buf, n, hex), 0);
	assert_int_equal(sigv4_sha256_hex_file(path, hex2), 0);
	assert_string_equal(hex, hex2);
	struct sigv4_sha256 h = SIGV4_SHA256_INIT;
	assert_int_equal(sigv4_sha256_init(&h), 0);
	for (size_t off = 0; off < n; off += 4099)
		assert_int_equal(sigv4_sha256_update(&h, buf + off, n - off < 4099 ? n - off : 4099), 0);
	assert_int_equal(sigv4_sha256_final(&h, hex2), 0);
	assert_string_equal(hex, hex2);
	sigv4_sha256_release(&h); /* harmless after final */
	unlink(path);
	assert_int_equal(sigv4_sha256_hex_file(path, hex2), -ENOENT);
	free(buf);
}

static void test_sigv4__uri_encode(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		bool keep_slash;
		const char *out;
	} cases[] = {
		{ "a b", false, "a%20b" },
		{ "a+b=c&d", false, "a%2Bb%3Dc%26d" },
		{ "100%", false, "100%25" },
		{ "a/b", true, "a/b" },
		{ "a/b", false, "a%2Fb" },
		{ "A-z_0.9~", true, "A-z_0.9~" },
		{ "!'()*$", true, "%21%27%28%29%2A%24" },
		{ "\xd0\xba", true, "%D0%BA" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct sbuf sb = SBUF_INIT;
		assert_int_equal(sigv4_uri_encode(&sb, cases[i].in, strlen(cases[i].in), cases[i].keep_slash), 0);
		assert_string_equal(sb.buf, cases[i].out);
		sbuf_release(&sb);
	}
}

int main(void)
{
	struct CMUnitTest *tests;
	size_t n = 0;
	int rc;

	if (!find_data_dir())
		data_dir[0] = '\0';
	else
		list_cases();
	tests = calloc(ncases + ARRAY_SIZE(doc_examples) + 16, sizeof(*tests));
	if (!tests)
		return 1;
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_sigv4__vectors_present);
	for (size_t i = 0; i < ncases; i++) {
		char *tname = NULL;
		if (asprintf(&tname, "test_sigv4__vector_%s", case_names[i]) < 0)
			return 1;
		tests[n++] = (struct CMUnitTest){ tname, test_sigv4__vector, NULL, NULL, case_names[i] };
	}
	for (size_t i = 0; i < ARRAY_SIZE(doc_examples); i++) {
		char *tname = NULL;
		if (asprintf(&tname, "test_sigv4__s3_doc_example_%s", doc_examples[i].name) < 0)
			return 1;
		for (char *c = tname; *c; c++)
			*c = *c == ' ' ? '_' : *c;
		tests[n++] = (struct CMUnitTest){ tname, test_sigv4__s3_doc_example, NULL, NULL,
						  (void *)&doc_examples[i] };
	}
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_sigv4__s3_path_single_encoding);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_sigv4__query_encoding_and_order);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_sigv4__session_token_and_unsigned_payload);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_sigv4__bad_input);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_sigv4__sha256);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_sigv4__uri_encode);
	rc = _cmocka_run_group_tests("sigv4", tests, n, NULL, NULL);
	for (size_t i = 1; i < n; i++)
		if (tests[i].initial_state && tests[i].test_func != NULL &&
		    (tests[i].test_func == test_sigv4__vector || tests[i].test_func == test_sigv4__s3_doc_example))
			free((char *)tests[i].name);
	for (size_t i = 0; i < ncases; i++)
		free(case_names[i]);
	free(tests);
	return rc;
}
