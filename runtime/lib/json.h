/*
 * json.h - a small streaming JSON writer into a growable buffer.
 *
 * The writer tracks nesting and inserts commas and colons itself, so callers just
 * say what comes next:
 *
 *     struct json j;
 *     json_init(&j, 0);
 *     json_obj_begin(&j);
 *     json_key(&j, "pid");  json_int(&j, 42);
 *     json_key(&j, "argv"); json_arr_begin(&j); json_str(&j, "cc"); json_arr_end(&j);
 *     json_obj_end(&j);
 *     if (json_error(&j)) ...          // one check at the end
 *     fwrite(j.sb.buf, 1, j.sb.len, stdout);
 *     json_release(&j);
 *
 * Output is compact (no spaces, no newline).  Strings are byte strings: valid UTF-8
 * sequences are copied, '"', '\\' and control characters are escaped, and every byte
 * that is not part of a valid UTF-8 sequence (overlong forms, surrogates and code
 * points past U+10FFFF included) is written as \u00XX, its Latin-1 reading.
 *
 * Ownership and limits: the caller owns the struct and the buffer inside it (sb);
 * json_release() frees it, sbuf_detach(&j.sb, ...) takes it.  The buffer is capped
 * at `cap` bytes (0: SBUF_DEFAULT_CAP) and nesting at JSON_MAX_DEPTH levels.
 * Errors are sticky: the first one (-ENOMEM, -E2BIG for the cap, -EINVAL for a
 * misuse such as a value where a key is due, unbalanced ends or nesting too deep)
 * is kept in json_error() and later calls do nothing.
 */
#ifndef GG_JSON_H
#define GG_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/lib/util.h"

#define JSON_MAX_DEPTH 32

struct json {
	struct sbuf sb;
	int err;
	unsigned depth;
	/* per level: 'o' object or 'a' array; count of items written at that level */
	char kind[JSON_MAX_DEPTH];
	uint32_t count[JSON_MAX_DEPTH];
	bool key_pending; /* in an object, a key was written and its value is due */
};

void json_init(struct json *j, size_t cap);
void json_release(struct json *j);
/* Empty the buffer and forget nesting and errors, to write the next document. */
void json_reset(struct json *j);
static inline int json_error(const struct json *j) { return j->err; }

void json_obj_begin(struct json *j);
void json_obj_end(struct json *j);
void json_arr_begin(struct json *j);
void json_arr_end(struct json *j);
/* An object key (escaped like a string). */
void json_key(struct json *j, const char *key);

void json_str(struct json *j, const char *s);          /* NULL writes null */
void json_strn(struct json *j, const char *s, size_t n);
void json_int(struct json *j, int64_t v);
void json_uint(struct json *j, uint64_t v);
void json_bool(struct json *j, bool v);
void json_null(struct json *j);
/* An array of strings; v[n] need not be NULL. */
void json_strv(struct json *j, const char *const *v, size_t n);

/* Shorthands for "key": value. */
void json_kv_str(struct json *j, const char *key, const char *s);
void json_kv_int(struct json *j, const char *key, int64_t v);
void json_kv_uint(struct json *j, const char *key, uint64_t v);
void json_kv_bool(struct json *j, const char *key, bool v);

/*
 * Append the escaped body of a string (no quotes) to any sbuf: the same rules as
 * json_str.  Exposed for writers of other formats that want the same escaping.
 */
int json_escape(struct sbuf *sb, const char *s, size_t n);

#endif
