/*
 * json.c - see json.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "runtime/lib/json.h"

void json_init(struct json *j, size_t cap)
{
	memset(j, 0, sizeof(*j));
	sbuf_init(&j->sb, cap);
}

void json_release(struct json *j)
{
	sbuf_release(&j->sb);
	j->err = 0;
	j->depth = 0;
	j->key_pending = false;
}

void json_reset(struct json *j)
{
	sbuf_reset(&j->sb);
	j->err = 0;
	j->depth = 0;
	j->key_pending = false;
}

static void fail(struct json *j, int err)
{
	if (!j->err)
		j->err = err;
}

static void sync_err(struct json *j)
{
	if (j->sb.err)
		fail(j, j->sb.err);
}

/*
 * Called before any value: checks a value is allowed here and writes the comma
 * that separates it from the previous array element.
 */
static bool value_prefix(struct json *j)
{
	if (j->err)
		return false;
	if (j->depth == 0) {
		/* One document per buffer (until json_reset). */
		if (j->sb.len) {
			fail(j, -EINVAL);
			return false;
		}
		return true;
	}
	if (j->kind[j->depth - 1] == 'o') {
		if (!j->key_pending) {
			fail(j, -EINVAL);
			return false;
		}
		j->key_pending = false;
		return true;
	}
	if (j->count[j->depth - 1]++)
		sbuf_addch(&j->sb, ',');
	sync_err(j);
	return !j->err;
}

int json_escape(struct sbuf *sb, const char *str, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, run = 0; /* s[i - run .. i) is a pending run of plain bytes */

	while (i < n) {
		unsigned char c = s[i];
		char esc[7];
		size_t l;

		if (c >= 0x20 && c != '"' && c != '\\' && c < 0x7f) {
			i++, run++;
			continue;
		}
		if (c >= 0x80) {
			l = utf8_len(s + i, n - i);
			if (l) {
				i += l, run += l;
				continue;
			}
		}
		sbuf_add(sb, s + i - run, run);
		run = 0;
		switch (c) {
		case '"': sbuf_add(sb, "\\\"", 2); break;
		case '\\': sbuf_add(sb, "\\\\", 2); break;
		case '\n': sbuf_add(sb, "\\n", 2); break;
		case '\t': sbuf_add(sb, "\\t", 2); break;
		case '\r': sbuf_add(sb, "\\r", 2); break;
		case '\b': sbuf_add(sb, "\\b", 2); break;
		case '\f': sbuf_add(sb, "\\f", 2); break;
		default:
			/* control characters, DEL and bytes outside valid UTF-8 */
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			sbuf_add(sb, esc, 6);
			break;
		}
		i++;
	}
	sbuf_add(sb, s + i - run, run);
	return sb->err;
}

static void put_string(struct json *j, const char *s, size_t n)
{
	sbuf_addch(&j->sb, '"');
	json_escape(&j->sb, s, n);
	sbuf_addch(&j->sb, '"');
	sync_err(j);
}

static void open_level(struct json *j, char kind)
{
	if (!value_prefix(j))
		return;
	if (j->depth >= JSON_MAX_DEPTH) {
		fail(j, -EINVAL);
		return;
	}
	j->kind[j->depth] = kind;
	j->count[j->depth] = 0;
	j->depth++;
	sbuf_addch(&j->sb, kind == 'o' ? '{' : '[');
	sync_err(j);
}

static void close_level(struct json *j, char kind)
{
	if (j->err)
		return;
	if (j->depth == 0 || j->kind[j->depth - 1] != kind || j->key_pending) {
		fail(j, -EINVAL);
		return;
	}
	j->depth--;
	sbuf_addch(&j->sb, kind == 'o' ? '}' : ']');
	sync_err(j);
}

void json_obj_begin(struct json *j) { open_level(j, 'o'); }
void json_obj_end(struct json *j) { close_level(j, 'o'); }
void json_arr_begin(struct json *j) { open_level(j, 'a'); }
void json_arr_end(struct json *j) { close_level(j, 'a'); }

void json_key(struct json *j, const char *key)
{
	if (j->err)
		return;
	if (j->depth == 0 || j->kind[j->depth - 1] != 'o' || j->key_pending) {
		fail(j, -EINVAL);
		return;
	}
	if (j->count[j->depth - 1]++)
		sbuf_addch(&j->sb, ',');
	put_string(j, key, strlen(key));
	sbuf_addch(&j->sb, ':');
	sync_err(j);
	j->key_pending = true;
}

void json_strn(struct json *j, const char *s, size_t n)
{
	if (value_prefix(j))
		put_string(j, s, n);
}

void json_str(struct json *j, const char *s)
{
	if (!s)
		json_null(j);
	else
		json_strn(j, s, strlen(s));
}

void json_int(struct json *j, int64_t v)
{
	if (value_prefix(j)) {
		sbuf_addf(&j->sb, "%" PRId64, v);
		sync_err(j);
	}
}

void json_uint(struct json *j, uint64_t v)
{
	if (value_prefix(j)) {
		sbuf_addf(&j->sb, "%" PRIu64, v);
		sync_err(j);
	}
}

void json_bool(struct json *j, bool v)
{
	if (value_prefix(j)) {
		sbuf_addstr(&j->sb, v ? "true" : "false");
		sync_err(j);
	}
}

void json_null(struct json *j)
{
	if (value_prefix(j)) {
		sbuf_addstr(&j->sb, "null");
		sync_err(j);
	}
}

void json_strv(struct json *j, const char *const *v, size_t n)
{
	json_arr_begin(j);
	for (size_t i = 0; i < n; i++)
		json_str(j, v[i]);
	json_arr_end(j);
}

void json_kv_str(struct json *j, const char *key, const char *s)
{
	json_key(j, key);
	json_str(j, s);
}

void json_kv_int(struct json *j, const char *key, int64_t v)
{
	json_key(j, key);
	json_int(j, v);
}

void json_kv_uint(struct json *j, const char *key, uint64_t v)
{
	json_key(j, key);
	json_uint(j, v);
}

void json_kv_bool(struct json *j, const char *key, bool v)
{
	json_key(j, key);
	json_bool(j, v);
}
