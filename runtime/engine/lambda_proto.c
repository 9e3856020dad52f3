/*
 * lambda_proto.c - the lambda engine's wire formats (lambda_proto.h): a JSON writer
 * for the payload (runtime/lib/json.h) and a small bounded JSON reader for the
 * answers, which reads only the keys it knows and skips the rest.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/engine/lambda_proto.h"
#include "runtime/lib/json.h"

#define MAX_DEPTH 32

int lambda_payload_write(const struct lambda_payload *p, struct sbuf *out)
{
	char hex[GG_HASH_HEX_SIZE];
	struct json j;
	int ret;

	json_init(&j, 0);
	json_obj_begin(&j);
	json_kv_int(&j, "version", LAMBDA_PROTO_VERSION);
	json_kv_str(&j, "thunk", hash_to_hex(&p->thunk, hex));
	json_kv_str(&j, "blobs", p->blobs ? p->blobs : "");
	json_kv_uint(&j, "timeout_ms", p->timeout_ms);
	json_kv_int(&j, "level", p->level);
	json_kv_uint(&j, "seed", p->seed);
	if (p->stop[0]) {
		json_kv_str(&j, "stop", p->stop);
		json_kv_uint(&j, "stop_check_ms", p->stop_check_ms);
	}
	json_obj_end(&j);
	ret = json_error(&j);
	if (!ret)
		ret = sbuf_add(out, j.sb.buf, j.sb.len);
	json_release(&j);
	return ret;
}

uint64_t lambda_stop_first(unsigned check_ms)
{
	return check_ms ? check_ms : LAMBDA_STOP_POLL_MS;
}

uint64_t lambda_stop_next(uint64_t elapsed_ms)
{
	uint64_t step = elapsed_ms / 8;
	return elapsed_ms + (step > LAMBDA_STOP_POLL_MS ? step : LAMBDA_STOP_POLL_MS);
}

/* A stop key as lambda_proto.h allows it: a plain relative object name. */
static bool stop_key_ok(const char *s)
{
	size_t n = strlen(s);
	if (!n || n >= LAMBDA_STOP_MAX || s[0] == '/' || strstr(s, ".."))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || strchr("./_-", s[i])))
			return false;
	return true;
}

/* ---- the reader ------------------------------------------------------------------- */

struct cur {
	const char *p, *end;
	unsigned depth;
};

static void ws(struct cur *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
		c->p++;
}

static bool eat(struct cur *c, char ch)
{
	ws(c);
	if (c->p < c->end && *c->p == ch) {
		c->p++;
		return true;
	}
	return false;
}

static bool word(struct cur *c, const char *w)
{
	size_t n = strlen(w);
	ws(c);
	if ((size_t)(c->end - c->p) >= n && !memcmp(c->p, w, n)) {
		c->p += n;
		return true;
	}
	return false;
}

static void put_utf8(struct sbuf *sb, unsigned cp)
{
	char b[4];
	size_t n;
	if (cp < 0x80) {
		b[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xc0 | (cp >> 6));
		b[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xe0 | (cp >> 12));
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (char)(0xf0 | (cp >> 18));
		b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	sbuf_add(sb, b, n);
}

static int hex4(struct cur *c, unsigned *out)
{
	unsigned v = 0;
	if (c->end - c->p < 4)
		return -EBADMSG;
	for (int i = 0; i < 4; i++) {
		int d = hex_value((unsigned char)c->p[i]);
		if (d < 0)
			return -EBADMSG;
		v = v << 4 | (unsigned)d;
	}
	c->p += 4;
	*out = v;
	return 0;
}

/* A string into *out (malloc'd, NUL-terminated; NULL: skipped). */
static int str(struct cur *c, char **out)
{
	struct sbuf sb;
	int ret = -EBADMSG;

	if (!eat(c, '"'))
		return -EBADMSG;
	sbuf_init(&sb, LAMBDA_ANSWER_MAX);
	while (c->p < c->end && *c->p != '"') {
		const char *run = c->p;
		while (c->p < c->end && *c->p != '"' && *c->p != '\\' && (unsigned char)*c->p >= 0x20)
			c->p++;
		if (out && c->p > run)
			sbuf_add(&sb, run, (size_t)(c->p - run));
		if (c->p >= c->end || *c->p == '"')
			break;
		if ((unsigned char)*c->p < 0x20)
			goto out_release;
		if (++c->p >= c->end)
			goto out_release;
		switch (*c->p++) {
		case '"': sbuf_addch(&sb, '"'); break;
		case '\\': sbuf_addch(&sb, '\\'); break;
		case '/': sbuf_addch(&sb, '/'); break;
		case 'b': sbuf_addch(&sb, '\b'); break;
		case 'f': sbuf_addch(&sb, '\f'); break;
		case 'n': sbuf_addch(&sb, '\n'); break;
		case 'r': sbuf_addch(&sb, '\r'); break;
		case 't': sbuf_addch(&sb, '\t'); break;
		case 'u': {
			unsigned cp, lo;
			if (hex4(c, &cp) < 0)
				goto out_release;
			if (cp >= 0xd800 && cp < 0xdc00 && c->end - c->p >= 6 && c->p[0] == '\\' &&
			    c->p[1] == 'u') {
				c->p += 2;
				if (hex4(c, &lo) < 0)
					goto out_release;
				if (lo >= 0xdc00 && lo < 0xe000)
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			}
			if (out)
				put_utf8(&sb, cp);
			break;
		}
		default:
			goto out_release;
		}
	}
	if (!eat(c, '"'))
		goto out_release;
	if ((ret = sbuf_error(&sb)) < 0)
		goto out_release;
	if (out) {
		*out = sbuf_detach(&sb, NULL);
		ret = *out ? 0 : -ENOMEM;
		goto out_release;
	}
	ret = 0;
out_release:
	sbuf_release(&sb);
	return ret;
}

/* A string or null: *out NULL for null. */
static int str_or_null(struct cur *c, char **out)
{
	*out = NULL;
	if (word(c, "null"))
		return 0;
	return str(c, out);
}

static int num(struct cur *c, int64_t *out)
{
	int64_t v = 0;
	bool neg = false, digits = false;
	ws(c);
	if (c->p < c->end && *c->p == '-') {
		neg = true;
		c->p++;
	}
	while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
		if (v < INT64_MAX / 10)
			v = v * 10 + (*c->p - '0');
		c->p++;
		digits = true;
	}
	/* a fraction or exponent is read and dropped: times may come as floats */
	if (c->p < c->end && *c->p == '.')
		for (c->p++; c->p < c->end && *c->p >= '0' && *c->p <= '9'; c->p++)
			;
	if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
		c->p++;
		if (c->p < c->end && (*c->p == '+' || *c->p == '-'))
			c->p++;
		while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
			c->p++;
	}
	if (!digits)
		return -EBADMSG;
	*out = neg ? -v : v;
	return 0;
}

static int skip(struct cur *c);

/* Iterate an object: call first with *first true.  1 and *key (malloc'd) for a
 * member whose value is next, 0 at the end, or -EBADMSG. */
static int member(struct cur *c, bool *first, char **key)
{
	int ret;
	if (*first) {
		if (!eat(c, '{'))
			return -EBADMSG;
		if (++c->depth > MAX_DEPTH)
			return -EBADMSG;
		*first = false;
		if (eat(c, '}')) {
			c->depth--;
			return 0;
		}
	} else {
		if (eat(c, '}')) {
			c->depth--;
			return 0;
		}
		if (!eat(c, ','))
			return -EBADMSG;
	}
	if ((ret = str(c, key)) < 0)
		return ret;
	if (!eat(c, ':')) {
		free(*key);
		return -EBADMSG;
	}
	return 1;
}

/* Iterate an array: 1 when an element is next, 0 at the end. */
static int element(struct cur *c, bool *first)
{
	if (*first) {
		if (!eat(c, '['))
			return -EBADMSG;
		if (++c->depth > MAX_DEPTH)
			return -EBADMSG;
		*first = false;
		if (eat(c, ']')) {
			c->depth--;
			return 0;
		}
		return 1;
	}
	if (eat(c, ']')) {
		c->depth--;
		return 0;
	}
	return eat(c, ',') ? 1 : -EBADMSG;
}

static int skip(struct cur *c)
{
	bool first = true;
	char *key;
	int64_t n;
	int ret;

	ws(c);
	if (c->p >= c->end)
		return -EBADMSG;
	switch (*c->p) {
	case '"':
		return str(c, NULL);
	case '{':
		while ((ret = member(c, &first, &key)) > 0) {
			free(key);
			if ((ret = skip(c)) < 0)
				return ret;
		}
		return ret;
	case '[':
		while ((ret = element(c, &first)) > 0)
			if ((ret = skip(c)) < 0)
				return ret;
		return ret;
	default:
		if (word(c, "true") || word(c, "false") || word(c, "null"))
			return 0;
		return num(c, &n);
	}
}

static int boolean(struct cur *c, bool *out)
{
	if (word(c, "true"))
		*out = true;
	else if (word(c, "false") || word(c, "null"))
		*out = false;
	else
		return -EBADMSG;
	return 0;
}

static int int_val(struct cur *c, int64_t *out)
{
	if (word(c, "null")) {
		*out = 0;
		return 0;
	}
	return num(c, out);
}

static int one_output(struct cur *c, struct cache_output *o)
{
	bool first = true;
	char *key, *s;
	int64_t v;
	int ret;

	while ((ret = member(c, &first, &key)) > 0) {
		if (!strcmp(key, "path")) {
			free(o->path);
			ret = str(c, &o->path);
		} else if (!strcmp(key, "value")) {
			if ((ret = str_or_null(c, &s)) == 0 && s) {
				if (hash_from_hex_str(s, &o->value) < 0 || o->value.kind != GG_HASH_VALUE)
					ret = -EBADMSG;
				free(s);
			}
		} else if (!strcmp(key, "mode")) {
			if ((ret = int_val(c, &v)) == 0)
				o->mode = (uint32_t)v;
		} else {
			ret = skip(c);
		}
		free(key);
		if (ret < 0)
			return ret;
	}
	if (ret == 0 && (!o->path || !*o->path))
		ret = -EBADMSG;
	return ret;
}

static int outputs(struct cur *c, struct cache_entry *e)
{
	bool first = true;
	size_t alloc = 0;
	int ret;

	if (word(c, "null"))
		return 0;
	while ((ret = element(c, &first)) > 0) {
		if (e->n == alloc) {
			struct cache_output *nv;
			if (alloc >= LAMBDA_MAX_OUTPUTS)
				return -EBADMSG;
			alloc = alloc ? 2 * alloc : 8;
			nv = realloc(e->v, alloc * sizeof(*nv));
			if (!nv)
				return -ENOMEM;
			e->v = nv;
		}
		memset(&e->v[e->n], 0, sizeof(e->v[e->n]));
		e->n++;
		if ((ret = one_output(c, &e->v[e->n - 1])) < 0)
			return ret;
	}
	return ret;
}

static int times(struct cur *c, struct lambda_answer *a)
{
	bool first = true;
	char *key;
	int64_t v;
	int ret;

	if (word(c, "null"))
		return 0;
	while ((ret = member(c, &first, &key)) > 0) {
		uint64_t *dst = !strcmp(key, "fetch") ? &a->fetch_ms : !strcmp(key, "run") ? &a->run_ms :
				!strcmp(key, "store") ? &a->store_ms :
				!strcmp(key, "upload") ? &a->upload_ms : NULL;
		free(key);
		if (dst) {
			if ((ret = int_val(c, &v)) < 0)
				return ret;
			*dst = v > 0 ? (uint64_t)v : 0;
		} else if ((ret = skip(c)) < 0) {
			return ret;
		}
	}
	return ret;
}

void lambda_answer_release(struct lambda_answer *a)
{
	cache_entry_release(&a->outputs);
	free(a->error);
	free(a->undeclared);
	free(a->stderr_tail);
	memset(a, 0, sizeof(*a));
}

int lambda_answer_parse(const char *buf, size_t len, struct lambda_answer *a)
{
	struct cur c = { buf, buf + len, 0 };
	bool first = true, has_ran = false;
	char *key, *s;
	int64_t v;
	int ret;

	memset(a, 0, sizeof(*a));
	if (len > LAMBDA_ANSWER_MAX)
		return -EBADMSG;
	while ((ret = member(&c, &first, &key)) > 0) {
		if (!strcmp(key, "ran")) {
			ret = boolean(&c, &a->ran);
			has_ran = true;
		} else if (!strcmp(key, "status")) {
			if ((ret = int_val(&c, &v)) == 0)
				a->status = (int)v;
		} else if (!strcmp(key, "level")) {
			if ((ret = int_val(&c, &v)) == 0)
				a->level = (int)v;
		} else if (!strcmp(key, "outputs")) {
			ret = outputs(&c, &a->outputs);
		} else if (!strcmp(key, "error")) {
			free(a->error);
			ret = str_or_null(&c, &a->error);
		} else if (!strcmp(key, "undeclared")) {
			free(a->undeclared);
			ret = str_or_null(&c, &a->undeclared);
		} else if (!strcmp(key, "stderr_tail")) {
			free(a->stderr_tail);
			ret = str_or_null(&c, &a->stderr_tail);
		} else if (!strcmp(key, "times_ms")) {
			ret = times(&c, a);
		} else if (!strcmp(key, "thunk")) {
			if ((ret = str_or_null(&c, &s)) == 0 && s) {
				if (hash_from_hex_str(s, &a->thunk) < 0)
					ret = -EBADMSG;
				free(s);
			}
		} else {
			ret = skip(&c);
		}
		free(key);
		if (ret < 0)
			goto out_release;
	}
	if (ret < 0)
		goto out_release;
	ws(&c);
	if (c.p != c.end || !has_ran) {
		ret = -EBADMSG;
		goto out_release;
	}
	return 0;
out_release:
	lambda_answer_release(a);
	return ret;
}

int lambda_error_parse(const char *buf, size_t len, char **type, char **message)
{
	struct cur c = { buf, buf + len, 0 };
	bool first = true;
	char *key, *s;
	int ret;

	*type = *message = NULL;
	while ((ret = member(&c, &first, &key)) > 0) {
		char **dst = NULL;
		if (!strcmp(key, "errorType") || (!strcmp(key, "Type") && !*type))
			dst = type;
		else if (!strcmp(key, "errorMessage") || !strcmp(key, "message") ||
			 !strcmp(key, "Message"))
			dst = message;
		free(key);
		if (dst) {
			if (word(&c, "null"))
				continue;
			if ((ret = str(&c, &s)) < 0)
				break;
			free(*dst);
			*dst = s;
		} else if ((ret = skip(&c)) < 0) {
			break;
		}
	}
	if (ret < 0) {
		free(*type);
		free(*message);
		*type = *message = NULL;
	}
	return ret;
}

/* Members of the object at c whose keys are wanted, into vals; `within` recursed
 * into (once). */
static int strings_in(struct cur *c, const char *within, const char *const *keys, char **vals,
		      size_t n)
{
	bool first = true;
	char *key, *s;
	size_t i;
	int ret;

	while ((ret = member(c, &first, &key)) > 0) {
		for (i = 0; i < n && strcmp(key, keys[i]); i++)
			;
		ws(c);
		if (i < n && !vals[i] && c->p < c->end && *c->p == '"') {
			if ((ret = str(c, &s)) == 0)
				vals[i] = s;
		} else if (within && !strcmp(key, within) && c->p < c->end && *c->p == '{') {
			ret = strings_in(c, NULL, keys, vals, n);
		} else {
			ret = skip(c);
		}
		free(key);
		if (ret < 0)
			return ret;
	}
	return ret;
}

int lambda_json_strings(const char *buf, size_t len, const char *within,
			const char *const *keys, char **vals, size_t n)
{
	struct cur c = { buf, buf + len, 0 };
	int ret;

	for (size_t i = 0; i < n; i++)
		vals[i] = NULL;
	ret = strings_in(&c, within, keys, vals, n);
	if (ret < 0)
		for (size_t i = 0; i < n; i++) {
			free(vals[i]);
			vals[i] = NULL;
		}
	return ret;
}

int lambda_payload_parse(const char *buf, size_t len, struct lambda_payload *p, char **blobs)
{
	struct cur c = { buf, buf + len, 0 };
	bool first = true, version = false;
	char *key, *s;
	int64_t v;
	int ret;

	memset(p, 0, sizeof(*p));
	*blobs = NULL;
	while ((ret = member(&c, &first, &key)) > 0) {
		if (!strcmp(key, "thunk")) {
			if ((ret = str(&c, &s)) == 0) {
				if (hash_from_hex_str(s, &p->thunk) < 0 || p->thunk.kind != GG_HASH_THUNK)
					ret = -EBADMSG;
				free(s);
			}
		} else if (!strcmp(key, "blobs")) {
			free(*blobs);
			ret = str_or_null(&c, blobs);
		} else if (!strcmp(key, "stop")) {
			if ((ret = str(&c, &s)) == 0) {
				if (stop_key_ok(s))
					snprintf(p->stop, sizeof(p->stop), "%s", s);
				else
					ret = -EBADMSG;
				free(s);
			}
		} else if (!strcmp(key, "version") || !strcmp(key, "timeout_ms") ||
			   !strcmp(key, "level") || !strcmp(key, "seed") ||
			   !strcmp(key, "stop_check_ms")) {
			if ((ret = int_val(&c, &v)) == 0) {
				if (key[0] == 'v')
					version = v == LAMBDA_PROTO_VERSION;
				else if (!strcmp(key, "stop_check_ms"))
					p->stop_check_ms = v > 0 && v < UINT32_MAX ? (unsigned)v : 0;
				else if (key[0] == 't')
					p->timeout_ms = v > 0 && v < UINT32_MAX ? (unsigned)v : 0;
				else if (key[0] == 'l')
					p->level = (int)v;
				else
					p->seed = (unsigned long long)v;
			}
		} else {
			ret = skip(&c);
		}
		free(key);
		if (ret < 0)
			break;
	}
	ws(&c);
	if (ret == 0 && (c.p != c.end || !version || !hash_is_set(&p->thunk)))
		ret = -EBADMSG;
	if (ret < 0) {
		free(*blobs);
		*blobs = NULL;
		return ret;
	}
	p->blobs = *blobs;
	return 0;
}
