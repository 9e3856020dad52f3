/*
 * s3_proto.c - keys, targets, XML and the retry policy of the S3 client (s3_proto.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/engine/s3_proto.h"
#include "runtime/engine/sigv4.h"

/* ---- keys and targets ------------------------------------------------------ */

/* Length of prefix without one trailing '/'. */
static size_t prefix_len(const char *prefix)
{
	size_t n = prefix ? strlen(prefix) : 0;
	if (n && prefix[n - 1] == '/')
		n--;
	return n;
}

int s3_blob_key(const char *prefix, const struct gg_hash *h, char *buf, size_t size)
{
	char hex[GG_HASH_HEX_SIZE];
	size_t pl = prefix_len(prefix);
	int n;

	if (h->kind != GG_HASH_VALUE && h->kind != GG_HASH_THUNK)
		return -EINVAL;
	hash_to_hex(h, hex);
	if (pl)
		n = snprintf(buf, size, "%.*s/%s", (int)pl, prefix, hex);
	else
		n = snprintf(buf, size, "%s", hex);
	if (n < 0 || (size_t)n >= size || n > S3_KEY_MAX)
		return -ENAMETOOLONG;
	return 0;
}

int s3_key_blob(const char *prefix, const char *key, struct gg_hash *out)
{
	size_t pl = prefix_len(prefix);
	struct gg_hash h;

	if (pl) {
		if (strncmp(key, prefix, pl) || key[pl] != '/')
			return -EINVAL;
		key += pl + 1;
	}
	if (strlen(key) != GG_HASH_HEX_LEN || hash_from_hex_str(key, &h) < 0 ||
	    (h.kind != GG_HASH_VALUE && h.kind != GG_HASH_THUNK))
		return -EINVAL;
	/* only the canonical (lower-case) spelling is a blob gg wrote */
	for (size_t i = 1; i < GG_HASH_HEX_LEN; i++)
		if (key[i] >= 'A' && key[i] <= 'F')
			return -EINVAL;
	*out = h;
	return 0;
}

int s3_target(const char *url_base, const char *path_base, const char *key, const char *query,
	      struct sbuf *url, struct sbuf *path)
{
	sbuf_reset(url);
	sbuf_reset(path);
	if (!url_base || !strstr(url_base, "://"))
		return -EINVAL;
	sbuf_addstr(path, path_base ? path_base : "");
	/* the bucket itself: "/BUCKET" path-style (as the AWS CLI sends it), else "/" */
	if ((key && *key) || !path->len)
		sbuf_addch(path, '/');
	if (key && *key)
		sigv4_uri_encode(path, key, strlen(key), true);
	sbuf_addstr(url, url_base);
	sbuf_add(url, path->buf ? path->buf : "", path->len);
	if (query && *query) {
		sbuf_addch(url, '?');
		sbuf_addstr(url, query);
	}
	return sbuf_error(url) ?: sbuf_error(path);
}

/* ---- XML --------------------------------------------------------------------- */

static const char *sbuf_str(const struct sbuf *sb)
{
	return sb->buf ? sb->buf : "";
}

/* Decode the entities of n bytes of s into out. */
static int xml_text(struct sbuf *out, const char *s, size_t n)
{
	static const struct { const char *name; char c; } ent[] = {
		{ "amp;", '&' }, { "lt;", '<' }, { "gt;", '>' }, { "quot;", '"' }, { "apos;", '\'' },
	};
	for (size_t i = 0; i < n; i++) {
		bool done = false;
		if (s[i] != '&') {
			sbuf_addch(out, s[i]);
			continue;
		}
		for (size_t k = 0; k < ARRAY_SIZE(ent) && !done; k++) {
			size_t l = strlen(ent[k].name);
			if (i + 1 + l <= n && !memcmp(s + i + 1, ent[k].name, l)) {
				sbuf_addch(out, ent[k].c);
				i += l;
				done = true;
			}
		}
		if (!done && i + 2 < n && s[i + 1] == '#') {
			const char *semi = memchr(s + i, ';', n - i);
			char num[16];
			size_t len = semi ? (size_t)(semi - (s + i + 2)) : 0;
			if (semi && len && len < sizeof(num)) {
				char *e;
				unsigned long cp;
				memcpy(num, s + i + 2, len);
				num[len] = '\0';
				cp = num[0] == 'x' ? strtoul(num + 1, &e, 16) : strtoul(num, &e, 10);
				if (!*e && cp && cp < 0x80) {
					sbuf_addch(out, (char)cp);
					i = (size_t)(semi - s);
					done = true;
				} else if (!*e && cp >= 0x80 && cp < 0x110000) {
					/* UTF-8 */
					if (cp < 0x800) {
						sbuf_addch(out, (char)(0xc0 | (cp >> 6)));
					} else if (cp < 0x10000) {
						sbuf_addch(out, (char)(0xe0 | (cp >> 12)));
						sbuf_addch(out, (char)(0x80 | ((cp >> 6) & 0x3f)));
					} else {
						sbuf_addch(out, (char)(0xf0 | (cp >> 18)));
						sbuf_addch(out, (char)(0x80 | ((cp >> 12) & 0x3f)));
						sbuf_addch(out, (char)(0x80 | ((cp >> 6) & 0x3f)));
					}
					sbuf_addch(out, (char)(0x80 | (cp & 0x3f)));
					i = (size_t)(semi - s);
					done = true;
				}
			}
		}
		if (!done)
			sbuf_addch(out, '&');
	}
	return sbuf_error(out);
}

/* Find "<name>" or "<name attr...>" in [p, end): returns the start of its content. */
static const char *xml_open(const char *p, const char *end, const char *name, bool *empty)
{
	size_t nl = strlen(name);
	*empty = false;
	while (p < end) {
		const char *lt = memchr(p, '<', (size_t)(end - p));
		if (!lt || (size_t)(end - lt) < nl + 2)
			return NULL;
		if (!memcmp(lt + 1, name, nl) &&
		    (lt[1 + nl] == '>' || lt[1 + nl] == ' ' || lt[1 + nl] == '/')) {
			const char *gt = memchr(lt, '>', (size_t)(end - lt));
			if (!gt)
				return NULL;
			*empty = gt[-1] == '/'; /* <name/> */
			return gt + 1;
		}
		p = lt + 1;
	}
	return NULL;
}

/* The end of the content opened at `start` ("</name>"), or NULL. */
static const char *xml_close(const char *start, const char *end, const char *name)
{
	size_t nl = strlen(name);
	for (const char *p = start; p && p < end;) {
		const char *lt = memchr(p, '<', (size_t)(end - p));
		if (!lt || (size_t)(end - lt) < nl + 3)
			return NULL;
		if (lt[1] == '/' && !memcmp(lt + 2, name, nl) && lt[2 + nl] == '>')
			return lt;
		p = lt + 1;
	}
	return NULL;
}

/*
 * The text of the first <name> element in [p, end), decoded into out (reset first).
 * 1 if found, 0 if not, -errno.  *after (may be NULL) gets the end of the element.
 */
static int xml_get(const char *p, const char *end, const char *name, struct sbuf *out,
		   const char **after)
{
	bool empty;
	const char *s = xml_open(p, end, name, &empty), *e;
	sbuf_reset(out);
	if (!s)
		return 0;
	if (empty) {
		if (after)
			*after = s;
		return sbuf_addstr(out, "") ?: 1;
	}
	if (!(e = xml_close(s, end, name)))
		return 0;
	if (after)
		*after = e + strlen(name) + 3;
	return xml_text(out, s, (size_t)(e - s)) ?: 1;
}

static void copy_trunc(char *dst, size_t size, const struct sbuf *sb)
{
	if (!size)
		return;
	snprintf(dst, size, "%s", sb->buf ? sb->buf : "");
}

int s3_xml_error(const char *body, size_t len, char *code, size_t codelen, char *msg,
		 size_t msglen)
{
	const char *end = body + len, *s, *e;
	struct sbuf sb = SBUF_INIT;
	bool empty;
	int ret = -EINVAL;

	if (codelen)
		code[0] = '\0';
	if (msglen)
		msg[0] = '\0';
	if (!body || !(s = xml_open(body, end, "Error", &empty)) || empty || !(e = xml_close(s, end, "Error")))
		return -EINVAL;
	if ((ret = xml_get(s, e, "Code", &sb, NULL)) < 0)
		goto out;
	copy_trunc(code, codelen, &sb);
	if ((ret = xml_get(s, e, "Message", &sb, NULL)) < 0)
		goto out;
	copy_trunc(msg, msglen, &sb);
	ret = 0;
out:
	sbuf_release(&sb);
	return ret;
}

void s3_list_page_release(struct s3_list_page *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->v[i].key);
	free(p->v);
	free(p->next_token);
	*p = (struct s3_list_page)S3_LIST_PAGE_INIT;
}

int s3_parse_list(const char *body, size_t len, struct s3_list_page *out)
{
	const char *end = body + len, *s, *e, *p;
	struct sbuf sb = SBUF_INIT;
	size_t alloc = 0;
	bool empty;
	int ret;

	*out = (struct s3_list_page)S3_LIST_PAGE_INIT;
	if (!body || !(s = xml_open(body, end, "ListBucketResult", &empty)) || empty ||
	    !(e = xml_close(s, end, "ListBucketResult")))
		return -EINVAL;
	for (p = s;;) {
		const char *cs = xml_open(p, e, "Contents", &empty), *ce;
		char *x;
		unsigned long long size;
		if (!cs)
			break;
		if (empty || !(ce = xml_close(cs, e, "Contents"))) {
			ret = -EINVAL;
			goto out_release;
		}
		if ((ret = xml_get(cs, ce, "Size", &sb, NULL)) <= 0) {
			ret = ret ?: -EINVAL;
			goto out_release;
		}
		errno = 0;
		size = strtoull(sbuf_str(&sb), &x, 10);
		if (*x || !sb.len || errno || sb.buf[0] < '0' || sb.buf[0] > '9') {
			ret = -EINVAL;
			goto out_release;
		}
		if ((ret = xml_get(cs, ce, "Key", &sb, NULL)) <= 0) {
			ret = ret ?: -EINVAL;
			goto out_release;
		}
		if (out->n == alloc) {
			size_t na = alloc ? alloc * 2 : 64;
			struct s3_list_entry *v = realloc(out->v, na * sizeof(*v));
			if (!v) {
				ret = -ENOMEM;
				goto out_release;
			}
			out->v = v;
			alloc = na;
		}
		out->v[out->n].size = size;
		if (!(out->v[out->n].key = sbuf_detach(&sb, NULL))) {
			ret = -ENOMEM;
			goto out_release;
		}
		out->n++;
		p = ce;
	}
	/* the flags follow the Contents in S3's answers, but may come anywhere */
	if ((ret = xml_get(s, e, "IsTruncated", &sb, NULL)) < 0)
		goto out_release;
	out->truncated = ret == 1 && !strcmp(sbuf_str(&sb), "true");
	if ((ret = xml_get(s, e, "NextContinuationToken", &sb, NULL)) < 0)
		goto out_release;
	if (ret == 1 && sb.len && !(out->next_token = sbuf_detach(&sb, NULL))) {
		ret = -ENOMEM;
		goto out_release;
	}
	ret = 0;
	goto out;
out_release:
	s3_list_page_release(out);
out:
	sbuf_release(&sb);
	return ret;
}

int s3_parse_upload_id(const char *body, size_t len, char **out)
{
	struct sbuf sb = SBUF_INIT;
	int ret;

	*out = NULL;
	if (!body)
		return -EINVAL;
	ret = xml_get(body, body + len, "UploadId", &sb, NULL);
	if (ret == 1 && sb.len) {
		ret = (*out = sbuf_detach(&sb, NULL)) ? 0 : -ENOMEM;
	} else if (ret >= 0) {
		ret = -EINVAL;
	}
	sbuf_release(&sb);
	return ret;
}

int s3_complete_body(struct sbuf *out, char *const *etags, size_t n)
{
	sbuf_reset(out);
	sbuf_addstr(out, "<CompleteMultipartUpload>");
	for (size_t i = 0; i < n; i++) {
		sbuf_addf(out, "<Part><PartNumber>%zu</PartNumber><ETag>", i + 1);
		for (const char *c = etags[i] ? etags[i] : ""; *c; c++) {
			if (*c == '"')
				sbuf_addstr(out, "&quot;");
			else if (*c == '&')
				sbuf_addstr(out, "&amp;");
			else if (*c == '<')
				sbuf_addstr(out, "&lt;");
			else
				sbuf_addch(out, *c);
		}
		sbuf_addstr(out, "</ETag></Part>");
	}
	sbuf_addstr(out, "</CompleteMultipartUpload>");
	return sbuf_error(out);
}

bool s3_header_etag(const char *line, size_t len, char *buf, size_t size)
{
	const char *v, *e = line + len;
	if (len < 5 || strncasecmp(line, "etag:", 5))
		return false;
	for (v = line + 5; v < e && (*v == ' ' || *v == '\t'); v++)
		;
	while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' ' || e[-1] == '\t'))
		e--;
	snprintf(buf, size, "%.*s", (int)(e - v), v);
	return true;
}

/* ---- retries ------------------------------------------------------------- */

bool s3_retryable(enum s3_net net, long status, const char *code)
{
	static const char *const codes[] = { "SlowDown", "InternalError", "RequestTimeout",
					     "ServiceUnavailable", "RequestTimeTooSkewed" };
	if (net == S3_NET_TRANSIENT)
		return true;
	if (net != S3_NET_OK)
		return false;
	if (code && *code)
		for (size_t i = 0; i < ARRAY_SIZE(codes); i++)
			if (!strcmp(code, codes[i]))
				return true;
	return status == 500 || status == 502 || status == 503 || status == 504 || status == 429;
}

uint64_t s3_backoff_ms(const struct s3_retry_policy *p, unsigned attempt, uint64_t rnd)
{
	uint64_t ceil = p->base_ms;
	for (unsigned i = 1; i < attempt && ceil < p->cap_ms; i++)
		ceil *= 2;
	if (ceil > p->cap_ms)
		ceil = p->cap_ms;
	return rnd % (ceil + 1);
}

bool s3_retry_allowed(const struct s3_retry_policy *p, unsigned attempts, uint64_t elapsed_ms,
		      uint64_t delay_ms)
{
	return attempts < p->max_attempts && elapsed_ms + delay_ms <= p->budget_ms;
}
