/*
 * sigv4.c - AWS Signature Version 4 (see sigv4.h for the contract).
 *
 * References: "Create a signed AWS API request" and "Authenticating Requests: Using
 * the Authorization Header (AWS Signature Version 4)" in the AWS documentation; the
 * awslabs signing test suite (aws-c-auth, tests/aws-signing-test-suite/v4) for the
 * corner cases: line folds in header values, duplicate header names joined in order,
 * dot segments, and the path encoded once more for services other than S3.
 */
#include "runtime/engine/sigv4.h"
#include "runtime/lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
/* Caps on what one request may bring: a header list or a query past these is a bug. */
#define SIGV4_MAX_HEADERS 256
#define SIGV4_MAX_PARAMS 4096
#define SIGV4_TEXT_CAP ((size_t)1 << 24) /* canonical request and friends: 16 MiB */

static const char hexdig[] = "0123456789abcdef";
static const char HEXDIG[] = "0123456789ABCDEF";

static void to_hex(const unsigned char *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hexdig[p[i] >> 4];
		out[2 * i + 1] = hexdig[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static bool is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.' || c == '~';
}


int sigv4_uri_encode(struct sbuf *out, const char *s, size_t n, bool keep_slash)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (is_unreserved(c) || (keep_slash && c == '/')) {
			sbuf_addch(out, (char)c);
		} else {
			char esc[3] = { '%', HEXDIG[c >> 4], HEXDIG[c & 15] };
			sbuf_add(out, esc, 3);
		}
	}
	return sbuf_error(out);
}

/* Percent-decode n bytes of s into out ("%zz" and a lone '%' are kept as they are). */
static int uri_decode(struct sbuf *out, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int hi, lo;
		if (s[i] == '%' && i + 2 < n && (hi = hex_value((unsigned char)s[i + 1])) >= 0 &&
		    (lo = hex_value((unsigned char)s[i + 2])) >= 0) {
			sbuf_addch(out, (char)(hi << 4 | lo));
			i += 2;
		} else {
			sbuf_addch(out, s[i]);
		}
	}
	return sbuf_error(out);
}

/* ---- SHA-256 and HMAC ------------------------------------------------------ */

int sigv4_sha256_hex(const void *p, size_t n, char out[SIGV4_SHA256_HEX_SIZE])
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	if (!EVP_Digest(p, n, md, &mdlen, EVP_sha256(), NULL) || mdlen != sizeof(md))
		return -EIO;
	to_hex(md, sizeof(md), out);
	return 0;
}

int sigv4_sha256_init(struct sigv4_sha256 *h)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx)
		return -ENOMEM;
	if (!EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(ctx);
		return -EIO;
	}
	h->ctx = ctx;
	return 0;
}

int sigv4_sha256_update(struct sigv4_sha256 *h, const void *p, size_t n)
{
	if (!h->ctx)
		return -EINVAL;
	return EVP_DigestUpdate(h->ctx, p, n) ? 0 : -EIO;
}

int sigv4_sha256_final(struct sigv4_sha256 *h, char out[SIGV4_SHA256_HEX_SIZE])
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	int ret = 0;
	if (!h->ctx)
		return -EINVAL;
	if (!EVP_DigestFinal_ex(h->ctx, md, &mdlen) || mdlen != sizeof(md))
		ret = -EIO;
	else
		to_hex(md, sizeof(md), out);
	sigv4_sha256_release(h);
	return ret;
}

void sigv4_sha256_release(struct sigv4_sha256 *h)
{
	EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
}

int sigv4_sha256_hex_fd(int fd, char out[SIGV4_SHA256_HEX_SIZE])
{
	struct sigv4_sha256 h = SIGV4_SHA256_INIT;
	static __thread char buf[65536];
	int ret = sigv4_sha256_init(&h);
	if (ret)
		return ret;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			goto out_release;
		}
		if (n == 0)
			break;
		ret = sigv4_sha256_update(&h, buf, (size_t)n);
		if (ret)
			goto out_release;
	}
	return sigv4_sha256_final(&h, out);
out_release:
	sigv4_sha256_release(&h);
	return ret;
}

int sigv4_sha256_hex_file(const char *path, char out[SIGV4_SHA256_HEX_SIZE])
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int ret = sigv4_sha256_hex_fd(fd, out);
	close(fd);
	return ret;
}

static int hmac(const void *key, size_t keylen, const void *msg, size_t msglen,
		unsigned char out[32])
{
	unsigned int outlen = 0;
	if (!HMAC(EVP_sha256(), key, (int)keylen, msg, msglen, out, &outlen) || outlen != 32)
		return -EIO;
	return 0;
}

/* ---- canonical parts ------------------------------------------------------- */

/* Remove "." and ".." segments and empty segments; keep a trailing slash. */
static int uri_path_normalize(struct sbuf *out, const char *p)
{
	size_t n = strlen(p);
	size_t *starts = NULL, nseg = 0;
	int ret = 0;
	bool trailing = n > 0 && p[n - 1] == '/';
	starts = malloc(sizeof(*starts) * (n / 2 + 2) * 2);
	if (!starts)
		return -ENOMEM;
	/* segments as (start, len) pairs in starts[2i], starts[2i+1] */
	for (size_t i = 0; i < n;) {
		while (i < n && p[i] == '/')
			i++;
		size_t b = i;
		while (i < n && p[i] != '/')
			i++;
		size_t len = i - b;
		if (len == 0 || (len == 1 && p[b] == '.'))
			continue;
		if (len == 2 && p[b] == '.' && p[b + 1] == '.') {
			if (nseg)
				nseg--;
			continue;
		}
		starts[2 * nseg] = b;
		starts[2 * nseg + 1] = len;
		nseg++;
	}
	for (size_t s = 0; s < nseg; s++) {
		sbuf_addch(out, '/');
		sbuf_add(out, p + starts[2 * s], starts[2 * s + 1]);
	}
	if (nseg == 0 || trailing)
		sbuf_addch(out, '/');
	ret = sbuf_error(out);
	free(starts);
	return ret;
}

static int canonical_uri(struct sbuf *out, const char *path, unsigned flags)
{
	struct sbuf tmp = SBUF_INIT;
	int ret;
	if (!path || !*path)
		path = "/";
	sbuf_init(&tmp, SIGV4_TEXT_CAP);
	if (flags & SIGV4_NORMALIZE_PATH)
		ret = uri_path_normalize(&tmp, path);
	else
		ret = sbuf_addstr(&tmp, path);
	if (ret)
		goto out_tmp;
	if (flags & SIGV4_DOUBLE_ENCODE) {
		ret = sigv4_uri_encode(out, tmp.buf, tmp.len, true);
	} else {
		/*
		 * Single encoding: what the caller encoded stays as it is ("%xx" kept,
		 * its hex upper-cased: "%2F" stays an encoded slash), every other byte
		 * outside the unreserved set and '/' is encoded.
		 */
		for (size_t i = 0; i < tmp.len; i++) {
			unsigned char c = (unsigned char)tmp.buf[i];
			if (c == '%' && i + 2 < tmp.len && hex_value((unsigned char)tmp.buf[i + 1]) >= 0 &&
			    hex_value((unsigned char)tmp.buf[i + 2]) >= 0) {
				char esc[3] = { '%', HEXDIG[hex_value((unsigned char)tmp.buf[i + 1])],
						HEXDIG[hex_value((unsigned char)tmp.buf[i + 2])] };
				sbuf_add(out, esc, 3);
				i += 2;
			} else {
				sigv4_uri_encode(out, (const char *)&tmp.buf[i], 1, true);
			}
		}
		ret = sbuf_error(out);
	}
out_tmp:
	sbuf_release(&tmp);
	return ret;
}

struct param {
	char *name; /* encoded */
	char *value; /* encoded */
};

static int param_cmp(const void *a, const void *b)
{
	const struct param *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : strcmp(x->value, y->value);
}

/* Decode then encode n bytes of s; a malloc'd string in *out. */
static int reencode(const char *s, size_t n, char **out)
{
	struct sbuf raw = SBUF_INIT, enc = SBUF_INIT;
	int ret;
	sbuf_init(&raw, SIGV4_TEXT_CAP);
	sbuf_init(&enc, SIGV4_TEXT_CAP);
	ret = uri_decode(&raw, s, n);
	if (!ret)
		ret = sigv4_uri_encode(&enc, raw.buf ? raw.buf : "", raw.len, false);
	if (!ret) {
		*out = sbuf_detach(&enc, NULL);
		if (!*out)
			ret = -ENOMEM;
	}
	sbuf_release(&raw);
	sbuf_release(&enc);
	return ret;
}

static int canonical_query(struct sbuf *out, const char *q)
{
	struct param *pv = NULL;
	size_t np = 0, cap = 0;
	int ret = 0;
	if (!q)
		return 0;
	while (*q) {
		size_t len = strcspn(q, "&");
		if (len) {
			const char *eq = memchr(q, '=', len);
			size_t nlen = eq ? (size_t)(eq - q) : len;
			if (np == SIGV4_MAX_PARAMS) {
				ret = -EINVAL;
				goto out_free;
			}
			if (np == cap) {
				size_t ncap = cap ? cap * 2 : 8;
				struct param *npv = realloc(pv, ncap * sizeof(*npv));
				if (!npv) {
					ret = -ENOMEM;
					goto out_free;
				}
				pv = npv;
				cap = ncap;
			}
			pv[np].name = pv[np].value = NULL;
			np++;
			ret = reencode(q, nlen, &pv[np - 1].name);
			if (!ret)
				ret = eq ? reencode(eq + 1, len - nlen - 1, &pv[np - 1].value)
					 : reencode("", 0, &pv[np - 1].value);
			if (ret)
				goto out_free;
		}
		q += len;
		if (*q == '&')
			q++;
	}
	if (np)
		qsort(pv, np, sizeof(*pv), param_cmp);
	for (size_t i = 0; i < np; i++) {
		if (i)
			sbuf_addch(out, '&');
		sbuf_addstr(out, pv[i].name);
		sbuf_addch(out, '=');
		sbuf_addstr(out, pv[i].value);
	}
	ret = sbuf_error(out);
out_free:
	for (size_t i = 0; i < np; i++) {
		free(pv[i].name);
		free(pv[i].value);
	}
	free(pv);
	return ret;
}

struct chdr {
	char *name;  /* lowercased, malloc'd */
	char *value; /* trimmed, malloc'd */
	size_t order;
};

static int chdr_cmp(const void *a, const void *b)
{
	const struct chdr *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	if (c)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

static char *lower_trim_name(const char *s)
{
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	while (n && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	char *r = malloc(n + 1);
	if (!r)
		return NULL;
	for (size_t i = 0; i < n; i++)
		r[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] - 'A' + 'a') : s[i];
	r[n] = '\0';
	return r;
}

/* Trim; every run of white space (SP, HT, CR, LF: a folded line) becomes one space. */
static char *trim_value(const char *s)
{
	size_t n = strlen(s), o = 0;
	char *r = malloc(n + 1);
	bool space = false;
	if (!r)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			space = o > 0;
			continue;
		}
		if (space)
			r[o++] = ' ';
		space = false;
		r[o++] = c;
	}
	r[o] = '\0';
	return r;
}

static bool is_reserved_header(const char *lname)
{
	return !strcmp(lname, "authorization") || !strcmp(lname, "x-amz-date") ||
	       !strcmp(lname, "x-amz-content-sha256") || !strcmp(lname, "x-amz-security-token");
}

static bool payload_hash_valid(const char *h)
{
	size_t n = strlen(h);
	if (!strncmp(h, "UNSIGNED-PAYLOAD", 16) || !strncmp(h, "STREAMING-", 10))
		return true;
	if (n != 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f')))
			return false;
	return true;
}

static bool token_present(const struct sigv4_credentials *cred)
{
	return cred->session_token && *cred->session_token;
}

/* Fill the header table: the caller's, then the ones the signer adds. */
static int collect_headers(const struct sigv4_request *req, const struct sigv4_credentials *cred,
			   const char *amz_date, const char *payload_hash, struct chdr **outv,
			   size_t *outn)
{
	size_t cap = req->nheaders + 3, n = 0;
	struct chdr *v;
	bool host = false;
	int ret = 0;
	if (req->nheaders > SIGV4_MAX_HEADERS || (req->nheaders && !req->headers))
		return -EINVAL;
	v = calloc(cap, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < req->nheaders; i++) {
		const struct sigv4_header *h = &req->headers[i];
		if (!h->name || !h->value) {
			ret = -EINVAL;
			goto out_free;
		}
		v[n].name = lower_trim_name(h->name);
		v[n].value = trim_value(h->value);
		v[n].order = n;
		n++;
		if (!v[n - 1].name || !v[n - 1].value) {
			ret = -ENOMEM;
			goto out_free;
		}
		if (!*v[n - 1].name || is_reserved_header(v[n - 1].name)) {
			ret = -EINVAL;
			goto out_free;
		}
		if (!strcmp(v[n - 1].name, "host"))
			host = true;
	}
	if (!host) {
		ret = -EINVAL;
		goto out_free;
	}
	struct {
		const char *name, *value;
		bool add;
	} extra[] = {
		{ "x-amz-date", amz_date, true },
		{ "x-amz-content-sha256", payload_hash, (req->flags & SIGV4_SIGN_PAYLOAD_HEADER) != 0 },
		{ "x-amz-security-token", cred->session_token,
		  token_present(cred) && !(req->flags & SIGV4_OMIT_SESSION_TOKEN) },
	};
	for (size_t i = 0; i < ARRAY_SIZE(extra); i++) {
		if (!extra[i].add)
			continue;
		v[n].name = strdup(extra[i].name);
		v[n].value = trim_value(extra[i].value);
		v[n].order = n;
		n++;
		if (!v[n - 1].name || !v[n - 1].value) {
			ret = -ENOMEM;
			goto out_free;
		}
	}
	qsort(v, n, sizeof(*v), chdr_cmp);
	*outv = v;
	*outn = n;
	return 0;
out_free:
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].value);
	}
	free(v);
	return ret;
}

static int format_amz_date(time_t when, char out[SIGV4_AMZ_DATE_SIZE])
{
	struct tm tm;
	if (when < 0 || !gmtime_r(&when, &tm) || tm.tm_year + 1900 > 9999)
		return -EINVAL;
	if (strftime(out, SIGV4_AMZ_DATE_SIZE, "%Y%m%dT%H%M%SZ", &tm) != SIGV4_AMZ_DATE_SIZE - 1)
		return -EINVAL;
	return 0;
}

static bool nonempty(const char *s)
{
	return s && *s;
}

void sigv4_result_release(struct sigv4_result *res)
{
	free(res->canonical_request);
	free(res->string_to_sign);
	free(res->signed_headers);
	free(res->authorization);
	strlist_release(&res->headers);
	*res = (struct sigv4_result)SIGV4_RESULT_INIT;
}

/* kSigning from the secret, the date, the region and the service. */
static int signing_key(const struct sigv4_credentials *cred, const char *date8,
		       const char *region, const char *service, unsigned char key[32])
{
	size_t slen = strlen(cred->secret_access_key);
	unsigned char k[32];
	char *k0 = malloc(slen + 5);
	int ret;
	if (!k0)
		return -ENOMEM;
	memcpy(k0, "AWS4", 4);
	memcpy(k0 + 4, cred->secret_access_key, slen + 1);
	ret = hmac(k0, slen + 4, date8, 8, k);
	OPENSSL_cleanse(k0, slen + 4);
	free(k0);
	if (!ret)
		ret = hmac(k, 32, region, strlen(region), k);
	if (!ret)
		ret = hmac(k, 32, service, strlen(service), k);
	if (!ret)
		ret = hmac(k, 32, "aws4_request", 12, key);
	OPENSSL_cleanse(k, sizeof(k));
	return ret;
}

int sigv4_sign(const struct sigv4_request *req, const struct sigv4_credentials *cred,
	       struct sigv4_result *res)
{
	struct sbuf cr = SBUF_INIT, sts = SBUF_INIT, sh = SBUF_INIT, auth = SBUF_INIT;
	struct chdr *hv = NULL;
	size_t nh = 0;
	char date8[9], crhash[SIGV4_SHA256_HEX_SIZE];
	unsigned char key[32], sig[32];
	const char *payload_hash;
	int ret;

	*res = (struct sigv4_result)SIGV4_RESULT_INIT;
	if (!req || !cred || !nonempty(req->method) || !nonempty(req->region) ||
	    !nonempty(req->service) || !nonempty(cred->access_key_id) ||
	    !nonempty(cred->secret_access_key))
		return -EINVAL;
	/* they go into header lines verbatim: no line breaks (header injection) */
	if (strpbrk(cred->access_key_id, "\r\n") ||
	    (token_present(cred) && strpbrk(cred->session_token, "\r\n")))
		return -EINVAL;
	payload_hash = req->payload_hash ? req->payload_hash : SIGV4_EMPTY_SHA256;
	if (!payload_hash_valid(payload_hash))
		return -EINVAL;
	ret = format_amz_date(req->when, res->amz_date);
	if (ret)
		return ret;
	memcpy(date8, res->amz_date, 8);
	date8[8] = '\0';

	ret = collect_headers(req, cred, res->amz_date, payload_hash, &hv, &nh);
	if (ret)
		goto out_release;

	sbuf_init(&cr, SIGV4_TEXT_CAP);
	sbuf_init(&sts, SIGV4_TEXT_CAP);
	sbuf_init(&sh, SIGV4_TEXT_CAP);
	sbuf_init(&auth, SIGV4_TEXT_CAP);

	/* canonical request */
	sbuf_addstr(&cr, req->method);
	sbuf_addch(&cr, '\n');
	ret = canonical_uri(&cr, req->path, req->flags);
	if (ret)
		goto out_free;
	sbuf_addch(&cr, '\n');
	ret = canonical_query(&cr, req->query);
	if (ret)
		goto out_free;
	sbuf_addch(&cr, '\n');
	for (size_t i = 0; i < nh; i++) {
		bool dup = i > 0 && !strcmp(hv[i].name, hv[i - 1].name);
		if (dup) {
			sbuf_addch(&cr, ',');
		} else {
			if (i)
				sbuf_addch(&cr, '\n');
			sbuf_addstr(&cr, hv[i].name);
			sbuf_addch(&cr, ':');
			if (sh.len)
				sbuf_addch(&sh, ';');
			sbuf_addstr(&sh, hv[i].name);
		}
		sbuf_addstr(&cr, hv[i].value);
	}
	sbuf_addstr(&cr, "\n\n");
	sbuf_add(&cr, sh.buf, sh.len);
	sbuf_addch(&cr, '\n');
	sbuf_addstr(&cr, payload_hash);
	ret = sbuf_error(&cr) ? sbuf_error(&cr) : sbuf_error(&sh);
	if (ret)
		goto out_free;

	/* string to sign */
	ret = sigv4_sha256_hex(cr.buf, cr.len, crhash);
	if (ret)
		goto out_free;
	sbuf_addf(&sts, SIGV4_ALGORITHM "\n%s\n%s/%s/%s/aws4_request\n%s", res->amz_date, date8,
		  req->region, req->service, crhash);
	ret = sbuf_error(&sts);
	if (ret)
		goto out_free;

	/* signature */
	ret = signing_key(cred, date8, req->region, req->service, key);
	if (!ret)
		ret = hmac(key, sizeof(key), sts.buf, sts.len, sig);
	OPENSSL_cleanse(key, sizeof(key));
	if (ret)
		goto out_free;
	to_hex(sig, sizeof(sig), res->signature);

	sbuf_addf(&auth, SIGV4_ALGORITHM " Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=%s, Signature=%s",
		  cred->access_key_id, date8, req->region, req->service, sh.buf, res->signature);
	ret = sbuf_error(&auth);
	if (ret)
		goto out_free;

	/* headers for the caller to add */
	if (strlist_pushf(&res->headers, "Authorization: %s", auth.buf) ||
	    strlist_pushf(&res->headers, "X-Amz-Date: %s", res->amz_date) ||
	    ((req->flags & SIGV4_SIGN_PAYLOAD_HEADER) &&
	     strlist_pushf(&res->headers, "x-amz-content-sha256: %s", payload_hash)) ||
	    (token_present(cred) &&
	     strlist_pushf(&res->headers, "x-amz-security-token: %s", cred->session_token))) {
		ret = -ENOMEM;
		goto out_free;
	}

	res->canonical_request = sbuf_detach(&cr, NULL);
	res->string_to_sign = sbuf_detach(&sts, NULL);
	res->signed_headers = sbuf_detach(&sh, NULL);
	res->authorization = sbuf_detach(&auth, NULL);
	if (!res->canonical_request || !res->string_to_sign || !res->signed_headers ||
	    !res->authorization)
		ret = -ENOMEM;

out_free:
	sbuf_release(&cr);
	sbuf_release(&sts);
	sbuf_release(&sh);
	sbuf_release(&auth);
	for (size_t i = 0; i < nh; i++) {
		/* the session token is one of the values */
		OPENSSL_cleanse(hv[i].value, strlen(hv[i].value));
		free(hv[i].name);
		free(hv[i].value);
	}
	free(hv);
out_release:
	if (ret)
		sigv4_result_release(res);
	return ret;
}

int sigv4_sign_headers(const struct sigv4_request *req, const struct sigv4_credentials *cred,
		       struct strlist *out)
{
	struct sigv4_result res;
	int ret = sigv4_sign(req, cred, &res);
	*out = (struct strlist)STRLIST_INIT;
	if (ret)
		return ret;
	*out = res.headers;
	res.headers = (struct strlist)STRLIST_INIT;
	sigv4_result_release(&res);
	return 0;
}
