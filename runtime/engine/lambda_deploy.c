/*
 * lambda_deploy.c - the Lambda control plane calls of `gg lambda deploy`
 * (lambda_deploy.h): request bodies, one signed request at a time on a libcurl
 * easy handle, the wait for the function to settle, the package through S3 when
 * it is too large to send inline.
 */
#include <curl/curl.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "runtime/engine/aws_config.h"
#include "runtime/engine/http.h"
#include "runtime/engine/lambda_deploy.h"
#include "runtime/engine/lambda_proto.h"
#include "runtime/engine/s3.h"
#include "runtime/engine/sigv4.h"
#include "runtime/lib/json.h"
#include "runtime/lib/util.h"

#define API "/2015-03-31/functions"
#define ANSWER_MAX (1u << 20)       /* control plane answers are small */
#define BODY_MAX (128ull << 20)     /* an inline body: 50 MB of zip in base64, and JSON */
#define CONNECT_TIMEOUT_MS 10000
#define REQUEST_TIMEOUT_MS 600000   /* a 67 MB body over a slow uplink */

/* ---- the parts ------------------------------------------------------------------ */

void lambda_function_state_release(struct lambda_function_state *s)
{
	free(s->arn);
	free(s->state);
	free(s->state_reason);
	free(s->update);
	free(s->update_reason);
	free(s->code_sha256);
	free(s->role);
	memset(s, 0, sizeof(*s));
}

/* Lambda's FunctionName (a name, not an ARN, here) and the role's ARN shape:
 * arn:PARTITION:iam::ACCOUNT:role/NAME (the API checks it the same way). */
static bool name_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (!n || n > 64)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      *s == '-' || *s == '_'))
			return false;
	return true;
}

static bool role_ok(const char *s)
{
	const char *p;
	if (!s || strncmp(s, "arn:aws", 7))
		return false;
	p = strstr(s, ":iam::");
	if (!p)
		return false;
	p += 6;
	for (int i = 0; i < 12; i++, p++)
		if (*p < '0' || *p > '9')
			return false;
	return !strncmp(p, ":role/", 6) && p[6];
}

int lambda_deploy_check(const struct lambda_deploy_opts *o, char *err, size_t errlen)
{
	if (!name_ok(o->function)) {
		errbuf_set(err, errlen, "invalid function name '%s' (1-64 letters, digits, '-', '_')",
			   o->function ? o->function : "");
		return -EINVAL;
	}
	if (!role_ok(o->role)) {
		errbuf_set(err, errlen, "invalid role '%s': want arn:aws:iam::ACCOUNT:role/NAME",
			   o->role ? o->role : "");
		return -EINVAL;
	}
	if (o->memory_mb < LAMBDA_MEMORY_MIN || o->memory_mb > LAMBDA_MEMORY_MAX) {
		errbuf_set(err, errlen, "memory %u MB is outside Lambda's %u-%u MB", o->memory_mb,
			   LAMBDA_MEMORY_MIN, LAMBDA_MEMORY_MAX);
		return -EINVAL;
	}
	if (o->timeout_s < 1 || o->timeout_s > LAMBDA_TIMEOUT_MAX) {
		errbuf_set(err, errlen, "timeout %u s is outside Lambda's 1-%u s", o->timeout_s,
			   LAMBDA_TIMEOUT_MAX);
		return -EINVAL;
	}
	if (o->tmp_mb < LAMBDA_TMP_MIN || o->tmp_mb > LAMBDA_TMP_MAX) {
		errbuf_set(err, errlen, "/tmp of %u MB is outside Lambda's %u-%u MB", o->tmp_mb,
			   LAMBDA_TMP_MIN, LAMBDA_TMP_MAX);
		return -EINVAL;
	}
	if (!o->zip || !*o->zip) {
		errbuf_set(err, errlen, "no package to deploy");
		return -EINVAL;
	}
	return 0;
}

bool lambda_deploy_inline(uint64_t zip_bytes)
{
	return zip_bytes <= LAMBDA_DEPLOY_INLINE_MAX;
}

int lambda_deploy_base64(const void *p, size_t n, struct sbuf *out)
{
	const unsigned char *in = p;
	unsigned char enc[4 * 3072 / 3 + 1];

	/* EVP_EncodeBlock: padded, no line breaks; whole groups of 3 per call */
	while (n && !sbuf_error(out)) {
		size_t k = n > 3072 ? 3072 : n;
		int w = EVP_EncodeBlock(enc, in, (int)k);
		if (w < 0)
			return -EIO;
		sbuf_add(out, enc, (size_t)w);
		in += k;
		n -= k;
	}
	return sbuf_error(out);
}

/* The package's CodeSha256 as Lambda gives it: the base64 of its SHA-256. */
static int package_sha256_b64(const char *zip, struct sbuf *out)
{
	char hex[SIGV4_SHA256_HEX_SIZE];
	unsigned char raw[32];
	int ret;

	if ((ret = sigv4_sha256_hex_file(zip, hex)) < 0)
		return ret;
	for (size_t i = 0; i < sizeof(raw); i++) {
		unsigned v;
		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -EINVAL;
		raw[i] = (unsigned char)v;
	}
	return lambda_deploy_base64(raw, sizeof(raw), out);
}

static void code_members(struct json *j, const struct lambda_deploy_code *c)
{
	if (c->zip_b64) {
		json_kv_str(j, "ZipFile", c->zip_b64);
	} else {
		json_kv_str(j, "S3Bucket", c->s3_bucket);
		json_kv_str(j, "S3Key", c->s3_key);
	}
}

static void config_members(struct json *j, const struct lambda_deploy_opts *o)
{
	json_kv_str(j, "Role", o->role);
	json_kv_str(j, "Runtime", LAMBDA_DEPLOY_RUNTIME);
	json_kv_str(j, "Handler", LAMBDA_DEPLOY_HANDLER);
	json_kv_uint(j, "MemorySize", o->memory_mb);
	json_kv_uint(j, "Timeout", o->timeout_s);
	json_key(j, "EphemeralStorage");
	json_obj_begin(j);
	json_kv_uint(j, "Size", o->tmp_mb);
	json_obj_end(j);
	json_kv_str(j, "Description", "gg worker (gg lambda deploy)");
}

static int body_done(struct json *j, struct sbuf *out)
{
	int ret = json_error(j);
	if (!ret)
		ret = sbuf_add(out, j->sb.buf, j->sb.len);
	json_release(j);
	return ret;
}

int lambda_deploy_create_body(const struct lambda_deploy_opts *o,
			      const struct lambda_deploy_code *code, struct sbuf *out)
{
	struct json j;
	json_init(&j, BODY_MAX);
	json_obj_begin(&j);
	json_kv_str(&j, "FunctionName", o->function);
	config_members(&j, o);
	json_key(&j, "Architectures");
	json_arr_begin(&j);
	json_str(&j, LAMBDA_DEPLOY_ARCH);
	json_arr_end(&j);
	json_kv_str(&j, "PackageType", "Zip");
	json_key(&j, "Code");
	json_obj_begin(&j);
	code_members(&j, code);
	json_obj_end(&j);
	json_obj_end(&j);
	return body_done(&j, out);
}

int lambda_deploy_code_body(const struct lambda_deploy_code *code, struct sbuf *out)
{
	struct json j;
	json_init(&j, BODY_MAX);
	json_obj_begin(&j);
	code_members(&j, code);
	json_key(&j, "Architectures");
	json_arr_begin(&j);
	json_str(&j, LAMBDA_DEPLOY_ARCH);
	json_arr_end(&j);
	json_obj_end(&j);
	return body_done(&j, out);
}

int lambda_deploy_config_body(const struct lambda_deploy_opts *o, struct sbuf *out)
{
	struct json j;
	json_init(&j, 0);
	json_obj_begin(&j);
	config_members(&j, o);
	json_obj_end(&j);
	return body_done(&j, out);
}

int lambda_deploy_parse_state(const char *body, size_t len, struct lambda_function_state *s)
{
	static const char *const keys[] = { "FunctionArn", "State", "StateReason", "LastUpdateStatus",
					    "LastUpdateStatusReason", "CodeSha256", "Role" };
	char *v[ARRAY_SIZE(keys)];
	int ret;

	memset(s, 0, sizeof(*s));
	if ((ret = lambda_json_strings(body, len, "Configuration", keys, v, ARRAY_SIZE(keys))) < 0)
		return ret;
	s->arn = v[0];
	s->state = v[1];
	s->state_reason = v[2];
	s->update = v[3];
	s->update_reason = v[4];
	s->code_sha256 = v[5];
	s->role = v[6];
	return 0;
}

int lambda_deploy_ready(const struct lambda_function_state *s)
{
	if ((s->state && !strcmp(s->state, "Failed")) || (s->update && !strcmp(s->update, "Failed")))
		return -EIO;
	if ((s->state && !strcmp(s->state, "Pending")) ||
	    (s->update && !strcmp(s->update, "InProgress")))
		return 0;
	return 1;
}

/* ---- requests ------------------------------------------------------------------- */

struct client {
	struct aws_config cfg;
	struct aws_endpoint ep;
	const struct lambda_deploy_opts *o;
	CURL *easy;
	char who[1024];             /* "lambda function 'gg' at URL (key id ... from ...)" */
	char *ca_file, *ca_path;
};

/* One answer. */
struct answer {
	long status;
	struct sbuf body;
	char etype[128];            /* x-amzn-ErrorType */
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct answer *a = ud;
	return sbuf_add(&a->body, p, size * n) < 0 ? 0 : size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	struct answer *a = ud;
	http_header_value(p, size * n, "x-amzn-errortype:", a->etype, sizeof(a->etype));
	return size * n;
}

static void pause_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* -errno for an HTTP status of the control plane. */
static int status_errno(long status, const char *etype)
{
	if (status == 401 || status == 403)
		return -EACCES;
	if (status == 404)
		return -ENOENT;
	if (status == 409)
		return -EBUSY;
	if (status == 400 || status == 413 || (etype && strstr(etype, "InvalidParameter")))
		return -EINVAL;
	return -EIO;
}

/*
 * method path (under API; "" for API itself) with body (NULL: none): the answer
 * in *a (initialised here; the caller releases a->body).  Retries 429, 5xx and
 * transport errors.  0 when an HTTP answer came (any status), else -EIO with err.
 */
static int request(struct client *c, const char *method, const char *sub, const char *body,
		   size_t len, struct answer *a, char *err, size_t errlen)
{
	struct sbuf path = SBUF_INIT;
	char sha[SIGV4_SHA256_HEX_SIZE], curl_err[CURL_ERROR_SIZE] = "", *url = NULL;
	struct sigv4_credentials cred = aws_credentials_sigv4(&c->cfg.cred);
	struct sigv4_header sh[2] = { { "Host", c->ep.host }, { "Content-Type", "application/json" } };
	int ret;

	memset(a, 0, sizeof(*a));
	sbuf_init(&a->body, ANSWER_MAX);
	sbuf_addstr(&path, c->ep.path_base);
	sbuf_addstr(&path, API);
	sbuf_addstr(&path, sub);
	if ((ret = sbuf_error(&path)) < 0 || asprintf(&url, "%s%s", c->ep.url_base, path.buf) < 0) {
		url = NULL;
		errbuf_set(err, errlen, "out of memory");
		ret = -ENOMEM;
		goto out_release;
	}
	if ((ret = sigv4_sha256_hex(body ? body : "", body ? len : 0, sha)) < 0) {
		errbuf_set(err, errlen, "cannot hash the request: %s", strerror(-ret));
		goto out_release;
	}
	for (unsigned attempt = 1;; attempt++) {
		struct sigv4_request rq = {
			.method = method, .path = path.buf, .headers = sh, .nheaders = body ? 2 : 1,
			.payload_hash = sha, .region = c->cfg.region, .service = "lambda",
			.when = time(NULL), .flags = SIGV4_RULES_DEFAULT,
		};
		struct strlist signed_hdrs = STRLIST_INIT;
		struct curl_slist *hdrs = NULL;
		CURLcode rc;

		if ((ret = sigv4_sign_headers(&rq, &cred, &signed_hdrs)) < 0) {
			errbuf_set(err, errlen, "cannot sign the request to %s: %s", c->who,
				   strerror(-ret));
			goto out_release;
		}
		hdrs = curl_slist_append(hdrs, "Expect:");
		if (body)
			hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
		for (size_t i = 0; i < signed_hdrs.n; i++)
			hdrs = curl_slist_append(hdrs, signed_hdrs.v[i]);
		strlist_release(&signed_hdrs);
		curl_easy_reset(c->easy);
		sbuf_reset(&a->body);
		a->etype[0] = '\0';
		curl_easy_setopt(c->easy, CURLOPT_URL, url);
		curl_easy_setopt(c->easy, CURLOPT_CUSTOMREQUEST, method);
		if (body) {
			curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, body);
			curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
		} else {
			curl_easy_setopt(c->easy, CURLOPT_HTTPGET, 1L);
		}
		curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, hdrs);
		curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, a);
		curl_easy_setopt(c->easy, CURLOPT_HEADERFUNCTION, on_header);
		curl_easy_setopt(c->easy, CURLOPT_HEADERDATA, a);
		curl_easy_setopt(c->easy, CURLOPT_ERRORBUFFER, curl_err);
		curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(c->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
		curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, (long)REQUEST_TIMEOUT_MS);
		if (c->ca_file)
			curl_easy_setopt(c->easy, CURLOPT_CAINFO, c->ca_file);
		if (c->ca_path)
			curl_easy_setopt(c->easy, CURLOPT_CAPATH, c->ca_path);
		rc = hdrs ? curl_easy_perform(c->easy) : CURLE_OUT_OF_MEMORY;
		curl_slist_free_all(hdrs);
		a->status = 0;
		if (rc == CURLE_OK)
			curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &a->status);
		if (rc == CURLE_OK && a->status != 429 && a->status < 500) {
			ret = 0;
			break;
		}
		if (attempt >= LAMBDA_DEPLOY_ATTEMPTS) {
			/* an HTTP answer (429, 5xx): the caller reports its status */
			ret = rc != CURLE_OK ? -EIO : 0;
			if (rc != CURLE_OK)
				errbuf_set(err, errlen, "%s: %s (after %u attempts)", c->who,
					   curl_err[0] ? curl_err : curl_easy_strerror(rc), attempt);
			break;
		}
		pause_ms(250u << attempt); /* 0.5 s, 1 s, 2 s, 4 s */
	}
out_release:
	free(url);
	sbuf_release(&path);
	return ret;
}

/* The message of a failed step: "cannot STEP WHO: STATUS TYPE: MESSAGE".  Returns
 * the step's -errno. */
static int failed(struct client *c, const char *step, const struct answer *a, char *err,
		  size_t errlen)
{
	char *type = NULL, *msg = NULL;
	int ret = status_errno(a->status, a->etype);

	lambda_error_parse(a->body.buf ? a->body.buf : "", a->body.len, &type, &msg);
	errbuf_set(err, errlen, "cannot %s %s: %ld %s: %s%s", step, c->who, a->status,
		   a->etype[0] ? a->etype : type ? type : "", msg ? msg : "",
		   msg && strstr(msg, "cannot be assumed") ?
		   " (a role created moments ago takes about 10 s to be usable: try again)" : "");
	free(type);
	free(msg);
	return ret;
}

/* GetFunction into *s: 0, -ENOENT (no such function: not an error message), or
 * -errno with err. */
static int get_function(struct client *c, struct lambda_function_state *s, char *err,
			size_t errlen)
{
	struct sbuf sub = SBUF_INIT;
	struct answer a;
	int ret;

	memset(s, 0, sizeof(*s));
	sbuf_addch(&sub, '/');
	sigv4_uri_encode(&sub, c->o->function, strlen(c->o->function), false);
	if ((ret = sbuf_error(&sub)) < 0) {
		errbuf_set(err, errlen, "out of memory");
		goto out_release;
	}
	if ((ret = request(c, "GET", sub.buf, NULL, 0, &a, err, errlen)) < 0)
		goto out_release;
	if (a.status == 404 && (!a.etype[0] || strstr(a.etype, "ResourceNotFound")))
		ret = -ENOENT;
	else if (a.status != 200)
		ret = failed(c, "get", &a, err, errlen);
	else if (lambda_deploy_parse_state(a.body.buf ? a.body.buf : "", a.body.len, s) < 0) {
		errbuf_set(err, errlen, "%s answered GetFunction with something else than a function: %.120s",
			   c->who, a.body.buf ? a.body.buf : "");
		ret = -EBADMSG;
	}
	sbuf_release(&a.body);
out_release:
	sbuf_release(&sub);
	return ret;
}

/* Poll GetFunction until the function is ready (lambda_deploy_ready). */
static int wait_ready(struct client *c, const char *what, struct lambda_deploy_result *res,
		      char *err, size_t errlen)
{
	unsigned wait_ms = c->o->wait_ms ? c->o->wait_ms : 300000;
	unsigned poll_max = c->o->poll_ms ? c->o->poll_ms : 2000, poll_ms = 100;
	uint64_t until = clock_now_ms() + wait_ms;
	struct lambda_function_state s;
	int ret, ready;

	for (;;) {
		if ((ret = get_function(c, &s, err, errlen)) < 0) {
			if (ret == -ENOENT)
				errbuf_set(err, errlen, "%s disappeared after %s", c->who, what);
			return ret;
		}
		res->polls++;
		if (s.arn)
			snprintf(res->arn, sizeof(res->arn), "%s", s.arn);
		if (s.code_sha256)
			snprintf(res->code_sha256, sizeof(res->code_sha256), "%s", s.code_sha256);
		ready = lambda_deploy_ready(&s);
		if (ready < 0)
			errbuf_set(err, errlen, "%s failed after %s: %s %s: %s", c->who, what,
				   s.state ? s.state : "", s.update ? s.update : "",
				   s.update_reason ? s.update_reason
				   : s.state_reason ? s.state_reason : "no reason given");
		lambda_function_state_release(&s);
		if (ready)
			return ready < 0 ? ready : 0;
		if (clock_now_ms() >= until) {
			errbuf_set(err, errlen, "%s is still not ready %.0f s after %s", c->who,
				   wait_ms / 1000.0, what);
			return -ETIMEDOUT;
		}
		pause_ms(poll_ms);
		poll_ms = poll_ms * 2 > poll_max ? poll_max : poll_ms * 2; /* 0.1, 0.2, 0.4 s, ... */
	}
}

/* A write request (create or update) whose answer is 200/201: retried while Lambda
 * says an update is in progress (409), after waiting for it. */
static int mutate(struct client *c, const char *step, const char *method, const char *sub,
		  const struct sbuf *body, struct lambda_deploy_result *res, char *err,
		  size_t errlen)
{
	struct answer a;
	int ret;

	for (unsigned attempt = 1;; attempt++) {
		if ((ret = request(c, method, sub, body->buf, body->len, &a, err, errlen)) < 0)
			return ret;
		if (a.status == 200 || a.status == 201) {
			sbuf_release(&a.body);
			return 0;
		}
		if (a.status == 409 && strstr(a.etype, "ResourceConflict") &&
		    attempt < LAMBDA_DEPLOY_ATTEMPTS) {
			sbuf_release(&a.body);
			if ((ret = wait_ready(c, "a concurrent update", res, err, errlen)) < 0)
				return ret;
			continue;
		}
		ret = failed(c, step, &a, err, errlen);
		sbuf_release(&a.body);
		return ret;
	}
}

/* ---- the package's way in ---------------------------------------------------------- */

/* Put the zip in the bucket as PREFIX/lambda/NAME-<sha256>.zip: *bucket, *key. */
static int upload_zip(struct client *c, const char *sha, struct lambda_deploy_result *res,
		      char **bucket, char **key, char *err, size_t errlen)
{
	struct s3_opts so = { .url = c->o->remote };
	struct s3_client *s3 = NULL;
	struct s3_batch *b = NULL;
	char name[256], serr[S3_ERR_SIZE] = "";
	const char *prefix;
	int ret;

	snprintf(name, sizeof(name), "lambda/%s-%.16s.zip", c->o->function, sha);
	if ((ret = s3_client_new(&so, &s3, serr, sizeof(serr))) < 0) {
		errbuf_set(err, errlen, "cannot reach the bucket for the package: %s", serr);
		return ret;
	}
	ret = -ENOMEM;
	if (!(b = s3_batch_new(s3)) || (ret = (int)s3_batch_put_file(b, name, c->o->zip)) < 0) {
		errbuf_set(err, errlen, "cannot upload '%s': %s", c->o->zip, strerror(-ret));
		goto out_free;
	}
	if ((ret = s3_batch_run(b)) < 0) {
		const struct s3_result *r = s3_batch_result(b, 0);
		errbuf_set(err, errlen, "cannot upload the package to %s: %s", s3_client_url(s3),
			   r && r->msg ? r->msg : strerror(-ret));
		goto out_free;
	}
	prefix = s3_client_prefix(s3);
	*bucket = strdup(s3_client_bucket(s3));
	if (asprintf(key, "%s%s%s", prefix, *prefix ? "/" : "", name) < 0)
		*key = NULL;
	ret = *bucket && *key ? 0 : -ENOMEM;
	if (ret == 0)
		snprintf(res->s3_key, sizeof(res->s3_key), "%s", *key);
out_free:
	s3_batch_free(b);
	s3_client_free(s3);
	return ret;
}

/* The code of the request (*code): the zip in base64 (b64, the caller's), or its
 * object in the bucket (*bucket, *key: malloc'd, the caller frees). */
static int prepare_code(struct client *c, struct lambda_deploy_result *res,
			struct lambda_deploy_code *code, struct sbuf *b64, char **bucket,
			char **key, char *err, size_t errlen)
{
	char sha[SIGV4_SHA256_HEX_SIZE];
	struct sbuf zip = SBUF_INIT;
	int ret;

	if (res->via_bucket) {
		if ((ret = sigv4_sha256_hex_file(c->o->zip, sha)) < 0) {
			errbuf_set(err, errlen, "cannot read the package '%s': %s", c->o->zip,
				   strerror(-ret));
			return ret;
		}
		if ((ret = upload_zip(c, sha, res, bucket, key, err, errlen)) < 0)
			return ret;
		code->s3_bucket = *bucket;
		code->s3_key = *key;
		return 0;
	}
	if ((ret = file_read_all(c->o->zip, &zip, LAMBDA_DEPLOY_INLINE_MAX)) < 0) {
		errbuf_set(err, errlen, "cannot read the package '%s': %s", c->o->zip, strerror(-ret));
		return ret;
	}
	sbuf_init(b64, BODY_MAX);
	if ((ret = lambda_deploy_base64(zip.buf, zip.len, b64)) < 0)
		errbuf_set(err, errlen, "cannot encode the package: %s", strerror(-ret));
	sbuf_release(&zip);
	code->zip_b64 = b64->buf ? b64->buf : "";
	return ret;
}

/* ---- the deploy -------------------------------------------------------------------- */

int lambda_deploy(const struct lambda_deploy_opts *o, struct lambda_deploy_result *res,
		  char *err, size_t errlen)
{
	struct client c = { .cfg = AWS_CONFIG_INIT, .ep = AWS_ENDPOINT_INIT, .o = o };
	struct lambda_deploy_code code = { 0 };
	struct lambda_function_state s;
	struct sbuf b64 = SBUF_INIT, body = SBUF_INIT, sub = SBUF_INIT, pkg_sha = SBUF_INIT;
	char keybuf[256], *bucket = NULL, *key = NULL, *v;
	struct stat sta;
	bool exists;
	int ret;

	memset(res, 0, sizeof(*res));
	if ((ret = lambda_deploy_check(o, err, errlen)) < 0)
		return ret;
	if (stat(o->zip, &sta) < 0) {
		ret = -errno;
		errbuf_set(err, errlen, "cannot read the package '%s': %s", o->zip, strerror(errno));
		return ret;
	}
	res->zip_bytes = (uint64_t)sta.st_size;
	res->via_bucket = o->via_bucket || !lambda_deploy_inline(res->zip_bytes);
	if (res->via_bucket && (!o->remote || !*o->remote)) {
		errbuf_set(err, errlen, "the package '%s' is %.1f MB, over the %.0f MB Lambda takes "
			   "inline: give a bucket (--remote s3://BUCKET[/PREFIX] or GG_REMOTE)",
			   o->zip, res->zip_bytes / 1e6, LAMBDA_DEPLOY_INLINE_MAX / 1e6);
		return -E2BIG;
	}
	if ((ret = aws_config_load(&c.cfg, AWS_CONFIG_NEED_CREDENTIALS, err, errlen)) < 0)
		return ret;
	if ((ret = aws_lambda_endpoint(&c.cfg, &c.ep, err, errlen)) < 0)
		goto out_release;
	snprintf(c.who, sizeof(c.who), "lambda function '%s' at %s (%s)", o->function, c.ep.url_base,
		 aws_credentials_describe(&c.cfg.cred, keybuf, sizeof(keybuf)));
	if ((v = getenv("SSL_CERT_FILE")) && *v)
		c.ca_file = strdup(v);
	if ((v = getenv("SSL_CERT_DIR")) && *v)
		c.ca_path = strdup(v);
	ret = -EIO;
	if (http_global_init() < 0 || !(c.easy = curl_easy_init())) {
		errbuf_set(err, errlen, "cannot set up libcurl");
		goto out_release;
	}

	ret = get_function(&c, &s, err, errlen);
	if (ret < 0 && ret != -ENOENT)
		goto out_release;
	exists = ret == 0;
	if (exists && s.code_sha256 && package_sha256_b64(o->zip, &pkg_sha) == 0 &&
	    pkg_sha.buf && !strcmp(pkg_sha.buf, s.code_sha256))
		res->code_unchanged = true; /* (what runs is this package: not sent again) */
	lambda_function_state_release(&s);
	if (!exists) {
		if ((ret = prepare_code(&c, res, &code, &b64, &bucket, &key, err, errlen)) < 0)
			goto out_release;
		sbuf_init(&body, BODY_MAX);
		if ((ret = lambda_deploy_create_body(o, &code, &body)) < 0) {
			errbuf_set(err, errlen, "cannot write the request: %s", strerror(-ret));
			goto out_release;
		}
		sbuf_release(&b64);
		if ((ret = mutate(&c, "create", "POST", "", &body, res, err, errlen)) < 0)
			goto out_release;
		res->created = true;
		ret = wait_ready(&c, "its creation", res, err, errlen);
		goto out_release;
	}
	/* it exists: wait for an update in progress; the configuration first (a role
	 * Lambda cannot assume is refused before the code goes up), wait, the code */
	if ((ret = wait_ready(&c, "an earlier update", res, err, errlen)) < 0)
		goto out_release;
	sbuf_addch(&sub, '/');
	sigv4_uri_encode(&sub, o->function, strlen(o->function), false);
	sbuf_addstr(&sub, "/configuration");
	sbuf_init(&body, BODY_MAX);
	if ((ret = sbuf_error(&sub)) < 0 || (ret = lambda_deploy_config_body(o, &body)) < 0) {
		errbuf_set(err, errlen, "cannot write the request: %s", strerror(-ret));
		goto out_release;
	}
	if ((ret = mutate(&c, "update the configuration of", "PUT", sub.buf, &body, res, err,
			  errlen)) < 0 ||
	    (ret = wait_ready(&c, "its configuration update", res, err, errlen)) < 0)
		goto out_release;
	if (res->code_unchanged) {
		res->via_bucket = false;
		goto out_release;
	}
	if ((ret = prepare_code(&c, res, &code, &b64, &bucket, &key, err, errlen)) < 0)
		goto out_release;
	sbuf_reset(&body);
	sbuf_reset(&sub);
	sbuf_addch(&sub, '/');
	sigv4_uri_encode(&sub, o->function, strlen(o->function), false);
	sbuf_addstr(&sub, "/code");
	if ((ret = sbuf_error(&sub)) < 0 || (ret = lambda_deploy_code_body(&code, &body)) < 0) {
		errbuf_set(err, errlen, "cannot write the request: %s", strerror(-ret));
		goto out_release;
	}
	sbuf_release(&b64);
	if ((ret = mutate(&c, "update the code of", "PUT", sub.buf, &body, res, err, errlen)) < 0)
		goto out_release;
	ret = wait_ready(&c, "its code update", res, err, errlen);
out_release:
	sbuf_release(&pkg_sha);
	if (c.easy)
		curl_easy_cleanup(c.easy);
	free(c.ca_file);
	free(c.ca_path);
	free(bucket);
	free(key);
	sbuf_release(&b64);
	sbuf_release(&body);
	sbuf_release(&sub);
	aws_endpoint_release(&c.ep);
	aws_config_release(&c.cfg);
	return ret;
}
