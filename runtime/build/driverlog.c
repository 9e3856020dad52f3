/*
 * driverlog.c - ninja's .ninja_log and .ninja_deps after gg built (see driverlog.h).
 *
 * Per ninja directory D: parse D/build.ninja just enough to know each build
 * statement's literal outputs and whether its deps mode is gcc/msvc; load the last
 * log entry of each path and the path ids and last deps record of .ninja_deps; then
 * for each noted node compute the entries ninja would have written, append them in
 * one write per file, and delete the depfiles read.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/build/driverlog.h"
#include "runtime/lib/htab.h"
#include "runtime/lib/util.h"

#define NINJA_LOG ".ninja_log"
#define NINJA_DEPS ".ninja_deps"
#define DEPS_MAGIC "# ninjadeps\n"
#define DEPS_VERSION 4
#define LOG_HEADER "# ninja log v5\n"
#define FILE_CAP ((size_t)1 << 30)
#define INCLUDE_DEPTH 16
#define MAX_TIME_PASSES 8
#define MAX_RECORD ((1u << 19) - 1) /* ninja's kMaxRecordSize */

struct dl_edge {
	char *command;
	char **outputs;
	size_t nout;
	char **inputs;  /* the thunk's inputs (absolute) */
	size_t nin;
};

struct dl_dir {
	char *dir;
	struct dl_edge *e;
	size_t n, alloc;
};

struct driverlog {
	struct dl_dir *d;
	size_t n, alloc;
};


/* ---- ninja's hash and path canonicalization ------------------------------------- */

uint64_t driverlog_ninja_hash(const char *command)
{
	const uint64_t m = 0xc6a4a7935bd1e995ull;
	const int r = 47;
	size_t len = strlen(command);
	uint64_t h = 0xDECAFBADDECAFBADull ^ (len * m);
	const unsigned char *data = (const unsigned char *)command;

	while (len >= 8) {
		uint64_t k;
		memcpy(&k, data, sizeof(k));
		k *= m;
		k ^= k >> r;
		k *= m;
		h ^= k;
		h *= m;
		data += 8;
		len -= 8;
	}
	switch (len & 7) {
	case 7: h ^= (uint64_t)data[6] << 48; /* fall through */
	case 6: h ^= (uint64_t)data[5] << 40; /* fall through */
	case 5: h ^= (uint64_t)data[4] << 32; /* fall through */
	case 4: h ^= (uint64_t)data[3] << 24; /* fall through */
	case 3: h ^= (uint64_t)data[2] << 16; /* fall through */
	case 2: h ^= (uint64_t)data[1] << 8;  /* fall through */
	case 1: h ^= (uint64_t)data[0];
		h *= m;
	}
	h ^= h >> r;
	h *= m;
	h ^= h >> r;
	return h;
}

void driverlog_canon(char *path)
{
	char *comp[256]; /* where each kept component starts */
	bool dotdot[256]; /* ... and whether it is ".." */
	size_t nc = 0;
	char *base = path + (path[0] == '/' ? 1 : 0);
	char *src = base, *dst = base;

	/* dst never passes src: a component is copied after the slashes skipped before it */
	while (*src) {
		while (*src == '/')
			src++;
		if (!*src)
			break;
		char *start = src;
		while (*src && *src != '/')
			src++;
		size_t len = (size_t)(src - start);
		if (len == 1 && start[0] == '.')
			continue;
		bool up = len == 2 && start[0] == '.' && start[1] == '.';
		if (up && nc > 0 && !dotdot[nc - 1]) {
			nc--;
			dst = comp[nc] - (nc > 0 ? 1 : 0);
			continue;
		}
		if (nc == sizeof(comp) / sizeof(*comp))
			return; /* leave a pathological path as it was written */
		if (nc > 0)
			*dst++ = '/';
		dotdot[nc] = up;
		comp[nc++] = dst;
		memmove(dst, start, len);
		dst += len;
	}
	*dst = '\0';
	if (!path[0])
		strcpy(path, ".");
}

/* The name ninja gives `abs` in directory `dir`: relative below it, else as is. */
static char *ninja_name(const char *dir, const char *abs)
{
	size_t n = strlen(dir);
	if (!strncmp(abs, dir, n) && abs[n] == '/' && abs[n + 1])
		return strdup(abs + n + 1);
	return strdup(abs);
}

/* ---- a string -> index map (owns its keys), on the one hash table (htab.h) ---------- */

struct pmap {
	struct htab ix;   /* str_hash(key) -> index into e */
	struct pmap_ent {
		char *k;
		size_t v;
	} *e;
	size_t n, alloc;
};

static bool pmap_eq(const void *ctx, uint32_t val, const void *key)
{
	const struct pmap *m = ctx;
	return !strcmp(m->e[val].k, key);
}

static bool pmap_get(const struct pmap *m, const char *k, size_t *v)
{
	uint32_t i = htab_find(&m->ix, str_hash(k), pmap_eq, m, k);
	if (i == HTAB_NONE)
		return false;
	*v = m->e[i].v;
	return true;
}

static int pmap_put(struct pmap *m, const char *k, size_t v)
{
	uint64_t h = str_hash(k);
	uint32_t i = htab_find(&m->ix, h, pmap_eq, m, k);
	int ret;

	if (i != HTAB_NONE) {
		m->e[i].v = v;
		return 0;
	}
	if (m->n == m->alloc) {
		size_t na = m->alloc ? 2 * m->alloc : 32;
		struct pmap_ent *ne = realloc(m->e, na * sizeof(*ne));
		if (!ne)
			return -ENOMEM;
		m->e = ne;
		m->alloc = na;
	}
	if (!(m->e[m->n].k = strdup(k)))
		return -ENOMEM;
	if ((ret = htab_add(&m->ix, h, (uint32_t)m->n)) < 0) {
		free(m->e[m->n].k);
		return ret;
	}
	m->e[m->n++].v = v;
	return 0;
}

static void pmap_release(struct pmap *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->e[i].k);
	free(m->e);
	htab_release(&m->ix);
	*m = (struct pmap){ 0 };
}

/* ---- build.ninja ------------------------------------------------------------------- */

/* What the manifest says of each literal output of a build statement. */
struct mf_out {
	char *rule;
	char *deps;            /* the statement's own `deps`, or NULL */
	int restat;            /* the statement's own `restat`: 1, 0, or -1 when unbound */
	size_t stmt;           /* index in stmts */
};

struct mf_stmt {
	char **ins;            /* explicit and implicit inputs (not order-only), canonical */
	size_t n;
};

struct manifest {
	struct pmap outs;        /* output -> index in out */
	struct mf_out *out;
	size_t n, alloc;
	struct mf_stmt *stmts;
	size_t nstmts, astmts;
	struct pmap deps_rules;   /* rule -> 1 when it binds deps = gcc|msvc */
	struct pmap restat_rules; /* rule -> 1 when it binds restat to true */
};

static void manifest_release(struct manifest *mf)
{
	for (size_t i = 0; i < mf->n; i++) {
		free(mf->out[i].rule);
		free(mf->out[i].deps);
	}
	free(mf->out);
	for (size_t i = 0; i < mf->nstmts; i++) {
		for (size_t j = 0; j < mf->stmts[i].n; j++)
			free(mf->stmts[i].ins[j]);
		free(mf->stmts[i].ins);
	}
	free(mf->stmts);
	pmap_release(&mf->outs);
	pmap_release(&mf->deps_rules);
	pmap_release(&mf->restat_rules);
}

static bool deps_mode(const char *v)
{
	return !strcmp(v, "gcc") || !strcmp(v, "msvc");
}

/* The output `name`, or NULL when no statement names it literally. */
static const struct mf_out *manifest_out(const struct manifest *mf, const char *name)
{
	size_t i;
	return pmap_get(&mf->outs, name, &i) ? &mf->out[i] : NULL;
}

static bool out_deps(const struct manifest *mf, const struct mf_out *o)
{
	size_t one;
	if (o->deps)
		return deps_mode(o->deps);
	return pmap_get(&mf->deps_rules, o->rule, &one);
}

static bool out_restat(const struct manifest *mf, const struct mf_out *o)
{
	size_t one;
	if (o->restat >= 0)
		return o->restat;
	return pmap_get(&mf->restat_rules, o->rule, &one);
}

/*
 * Next token of a build line at *p: `$ `, `$:`, `$$` unescaped into out; stops at
 * an unescaped space or ':' (left at *p).  Returns false when it used a variable.
 */
static bool ninja_token(const char **p, struct sbuf *out)
{
	bool literal = true;
	const char *s = *p;
	sbuf_reset(out);
	while (*s && *s != ' ' && *s != ':') {
		if (*s == '$' && s[1]) {
			if (s[1] == ' ' || s[1] == ':' || s[1] == '$')
				sbuf_addch(out, s[1]);
			else
				literal = false;
			s += 2;
			continue;
		}
		sbuf_addch(out, *s++);
	}
	*p = s;
	return literal;
}

static int manifest_parse(struct manifest *mf, const char *dir, const char *file, int depth);

static int stmt_add_input(struct mf_stmt *st, const char *in)
{
	char **v = realloc(st->ins, (st->n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	st->ins = v;
	if (!(st->ins[st->n] = strdup(in)))
		return -ENOMEM;
	st->n++;
	return 0;
}

/* A build statement: its outputs, its rule, its inputs. */
static int manifest_build(struct manifest *mf, const char *line, size_t *first_out)
{
	struct sbuf tok = SBUF_INIT;
	const char *p = line + 6;
	int ret = 0;

	if (mf->nstmts == mf->astmts) {
		size_t na = mf->astmts ? 2 * mf->astmts : 64;
		struct mf_stmt *ns = realloc(mf->stmts, na * sizeof(*ns));
		if (!ns)
			return -ENOMEM;
		mf->stmts = ns;
		mf->astmts = na;
	}
	struct mf_stmt *st = &mf->stmts[mf->nstmts++];
	*st = (struct mf_stmt){ 0 };
	for (;;) {
		while (*p == ' ')
			p++;
		if (!*p || *p == ':')
			break;
		bool lit = ninja_token(&p, &tok);
		if (sbuf_error(&tok)) {
			ret = -ENOMEM;
			goto out_tok;
		}
		if (!lit || !tok.len || !strcmp(tok.buf, "|"))
			continue;
		driverlog_canon(tok.buf);
		if (mf->n == mf->alloc) {
			size_t na = mf->alloc ? 2 * mf->alloc : 64;
			struct mf_out *o = realloc(mf->out, na * sizeof(*o));
			if (!o) {
				ret = -ENOMEM;
				goto out_tok;
			}
			mf->out = o;
			mf->alloc = na;
		}
		mf->out[mf->n] = (struct mf_out){ .restat = -1, .stmt = mf->nstmts - 1 };
		if ((ret = pmap_put(&mf->outs, tok.buf, mf->n)) < 0)
			goto out_tok;
		mf->n++;
	}
	sbuf_reset(&tok);
	if (*p == ':') {
		p++;
		while (*p == ' ')
			p++;
		ninja_token(&p, &tok);
	}
	for (size_t i = *first_out; i < mf->n; i++)
		if (!(mf->out[i].rule = strdup(tok.len ? tok.buf : ""))) {
			ret = -ENOMEM;
			goto out_tok;
		}
	/* the inputs, up to the order-only ones ("||") or validations ("|@") */
	for (;;) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		if (*p == ':') { /* (a stray colon: not a path) */
			p++;
			continue;
		}
		bool lit = ninja_token(&p, &tok);
		if ((ret = sbuf_error(&tok)) < 0)
			goto out_tok;
		if (!strcmp(tok.buf, "||") || !strcmp(tok.buf, "|@"))
			break;
		if (!lit || !tok.len || !strcmp(tok.buf, "|"))
			continue;
		driverlog_canon(tok.buf);
		if ((ret = stmt_add_input(st, tok.buf)) < 0)
			goto out_tok;
	}
out_tok:
	sbuf_release(&tok);
	return ret;
}

/* One logical line (continuations joined), not indented. */
static int manifest_statement(struct manifest *mf, const char *dir, char *line, int depth,
			      char **rule, size_t *first_out)
{
	int ret = 0;
	free(*rule);
	*rule = NULL;
	*first_out = mf->n;
	if (!strncmp(line, "rule ", 5)) {
		const char *r = line + 5;
		while (*r == ' ')
			r++;
		if (!(*rule = strdup(r)))
			return -ENOMEM;
		for (char *e = *rule + strlen(*rule); e > *rule && e[-1] == ' '; )
			*--e = '\0';
		return 0;
	}
	if (!strncmp(line, "include ", 8) || !strncmp(line, "subninja ", 9)) {
		const char *f = strchr(line, ' ');
		while (*f == ' ')
			f++;
		if (strchr(f, '$') || depth >= INCLUDE_DEPTH)
			return 0;
		char *path = NULL;
		if (path_abs(f, dir, &path) < 0)
			return -ENOMEM;
		ret = manifest_parse(mf, dir, path, depth + 1);
		free(path);
		return ret == -ENOENT ? 0 : ret;
	}
	if (strncmp(line, "build ", 6))
		return 0;
	return manifest_build(mf, line, first_out);
}

/* An indented binding `name = value` of the current rule or build statement. */
static int manifest_binding(struct manifest *mf, char *line, const char *rule, size_t first_out)
{
	while (*line == ' ' || *line == '\t')
		line++;
	bool is_deps = !strncmp(line, "deps", 4), is_restat = !strncmp(line, "restat", 6);
	if (!is_deps && !is_restat)
		return 0;
	char *v = line + (is_deps ? 4 : 6);
	while (*v == ' ')
		v++;
	if (*v != '=')
		return 0;
	v++;
	while (*v == ' ')
		v++;
	for (char *e = v + strlen(v); e > v && e[-1] == ' '; )
		*--e = '\0';
	if (rule) {
		if (is_deps)
			return deps_mode(v) ? pmap_put(&mf->deps_rules, rule, 1) : 0;
		return *v ? pmap_put(&mf->restat_rules, rule, 1) : 0;
	}
	for (size_t i = first_out; i < mf->n; i++) {
		if (is_restat) {
			mf->out[i].restat = *v ? 1 : 0;
			continue;
		}
		free(mf->out[i].deps);
		if (!(mf->out[i].deps = strdup(v)))
			return -ENOMEM;
	}
	return 0;
}

static int manifest_parse(struct manifest *mf, const char *dir, const char *file, int depth)
{
	struct sbuf sb = SBUF_INIT, line = SBUF_INIT;
	char *rule = NULL;
	size_t first_out = mf->n;
	bool in_stmt = false;
	int ret = file_read_all(file, &sb, FILE_CAP);
	if (ret < 0)
		goto out;
	const char *s = sb.buf, *end = sb.buf + sb.len;
	while (s < end) {
		/* a logical line: a physical line ending in an odd run of '$' continues */
		sbuf_reset(&line);
		for (;;) {
			const char *nl = memchr(s, '\n', (size_t)(end - s));
			const char *e = nl ? nl : end;
			size_t dollars = 0;
			while (e - dollars > s && e[-1 - (long)dollars] == '$')
				dollars++;
			bool cont = dollars % 2 == 1 && nl;
			sbuf_add(&line, s, (size_t)(e - s) - (cont ? 1 : 0));
			s = nl ? nl + 1 : end;
			if (!cont)
				break;
			while (s < end && *s == ' ')
				s++;
		}
		if ((ret = sbuf_error(&line)) < 0)
			goto out;
		if (!line.len)
			continue;
		if (line.buf[line.len - 1] == '\r')
			line.buf[--line.len] = '\0';
		char *l = line.buf;
		if (*l == ' ' || *l == '\t') {
			char *t = l;
			while (*t == ' ' || *t == '\t')
				t++;
			if (in_stmt && *t && *t != '#' &&
			    (ret = manifest_binding(mf, l, rule, first_out)) < 0)
				goto out;
			continue;
		}
		if (*l == '#')
			continue;
		if ((ret = manifest_statement(mf, dir, l, depth, &rule, &first_out)) < 0)
			goto out;
		in_stmt = rule || !strncmp(l, "build ", 6);
	}
	ret = 0;
out:
	free(rule);
	sbuf_release(&line);
	sbuf_release(&sb);
	return ret;
}

/* ---- the logs as they are ----------------------------------------------------------- */

struct log_entry {
	int64_t mtime;
	uint64_t hash;
};

struct deps_rec {
	bool set;
	int64_t mtime;
	int32_t *ids;
	size_t n;
};

struct ninja_state {
	const char *dir;
	struct manifest mf;
	/* .ninja_log */
	int log_state;             /* 0: absent, 1: usable, <0: not ours to touch */
	struct pmap log_idx;       /* path -> index in log */
	struct log_entry *log;
	size_t nlog, alog;
	struct sbuf log_add;
	/* .ninja_deps */
	int deps_state;            /* 0: absent, 1: usable, <0: not ours to touch */
	size_t deps_valid;         /* bytes of the file that parse */
	struct pmap ids;           /* path -> id */
	size_t nids;
	struct deps_rec *recs;     /* by id */
	size_t arecs;
	struct sbuf deps_add;
	char **depfiles;           /* to delete once written */
	size_t ndepfiles, adepfiles;
	/* mtimes of inputs, stat'ed once per commit (INT64_MIN: missing) */
	struct pmap mt_idx;
	int64_t *mt;
	size_t nmt, amt;
};

static int log_set(struct ninja_state *ns, const char *path, int64_t mtime, uint64_t hash)
{
	size_t i;
	if (!pmap_get(&ns->log_idx, path, &i)) {
		if (ns->nlog == ns->alog) {
			size_t na = ns->alog ? 2 * ns->alog : 256;
			struct log_entry *l = realloc(ns->log, na * sizeof(*l));
			if (!l)
				return -ENOMEM;
			ns->log = l;
			ns->alog = na;
		}
		i = ns->nlog++;
		if (pmap_put(&ns->log_idx, path, i) < 0)
			return -ENOMEM;
	}
	ns->log[i] = (struct log_entry){ .mtime = mtime, .hash = hash };
	return 0;
}

static int log_load(struct ninja_state *ns, const char *file)
{
	struct sbuf sb = SBUF_INIT;
	int ret = file_read_all(file, &sb, FILE_CAP);
	if (ret == -ENOENT) {
		ns->log_state = 0;
		ret = 0;
		goto out;
	}
	if (ret < 0)
		goto out;
	if (sb.len == 0) {
		ns->log_state = 0;
		goto out;
	}
	if (strncmp(sb.buf, "# ninja log v5\n", 15) && strncmp(sb.buf, "# ninja log v6\n", 15)) {
		ns->log_state = ret = -EPROTONOSUPPORT;
		goto out;
	}
	ns->log_state = 1;
	char *s = sb.buf + 15, *end = sb.buf + sb.len;
	while (s < end) {
		char *nl = memchr(s, '\n', (size_t)(end - s));
		if (!nl)
			break; /* a torn last line: ninja ignores it too */
		*nl = '\0';
		char *f[5];
		int nf = 0;
		for (char *t = s; nf < 5; ) {
			f[nf++] = t;
			char *tab = strchr(t, '\t');
			if (!tab)
				break;
			*tab = '\0';
			t = tab + 1;
		}
		if (nf == 5) {
			int64_t mtime = strtoll(f[2], NULL, 10);
			uint64_t hash = strtoull(f[4], NULL, 16);
			if ((ret = log_set(ns, f[3], mtime, hash)) < 0)
				goto out;
		}
		s = nl + 1;
	}
	ret = 0;
out:
	sbuf_release(&sb);
	return ret;
}

static int deps_rec_set(struct ninja_state *ns, int32_t out, int64_t mtime, const int32_t *ids,
			size_t n)
{
	if ((size_t)out >= ns->arecs) {
		size_t na = ns->arecs ? ns->arecs : 256;
		while (na <= (size_t)out)
			na *= 2;
		struct deps_rec *r = realloc(ns->recs, na * sizeof(*r));
		if (!r)
			return -ENOMEM;
		memset(r + ns->arecs, 0, (na - ns->arecs) * sizeof(*r));
		ns->recs = r;
		ns->arecs = na;
	}
	struct deps_rec *r = &ns->recs[out];
	int32_t *copy = malloc((n ? n : 1) * sizeof(*copy));
	if (!copy)
		return -ENOMEM;
	memcpy(copy, ids, n * sizeof(*copy));
	free(r->ids);
	*r = (struct deps_rec){ .set = true, .mtime = mtime, .ids = copy, .n = n };
	return 0;
}

static int deps_load(struct ninja_state *ns, const char *file)
{
	struct sbuf sb = SBUF_INIT;
	const size_t hlen = strlen(DEPS_MAGIC);
	int ret = file_read_all(file, &sb, FILE_CAP);
	if (ret == -ENOENT || (ret == 0 && sb.len == 0)) {
		ns->deps_state = 0;
		ret = 0;
		goto out;
	}
	if (ret < 0)
		goto out;
	int32_t version = 0;
	if (sb.len < hlen + 4 || memcmp(sb.buf, DEPS_MAGIC, hlen)) {
		ns->deps_state = ret = -EBADMSG;
		goto out;
	}
	memcpy(&version, sb.buf + hlen, 4);
	if (version != DEPS_VERSION) {
		ns->deps_state = ret = -EPROTONOSUPPORT;
		goto out;
	}
	ns->deps_state = 1;
	size_t off = hlen + 4;
	for (;;) {
		ns->deps_valid = off;
		uint32_t size;
		if (sb.len - off < 4)
			break;
		memcpy(&size, sb.buf + off, 4);
		bool is_deps = size & 0x80000000u;
		size &= 0x7fffffffu;
		if (size > sb.len - off - 4 || size % 4 || size < 4 || size > MAX_RECORD)
			break;
		const char *rec = sb.buf + off + 4;
		if (is_deps) {
			if (size < 12)
				break;
			int32_t out;
			uint32_t lo, hi;
			memcpy(&out, rec, 4);
			memcpy(&lo, rec + 4, 4);
			memcpy(&hi, rec + 8, 4);
			size_t n = (size - 12) / 4;
			int32_t ids[n ? n : 1];
			memcpy(ids, rec + 12, n * 4);
			bool ok = out >= 0 && (size_t)out < ns->nids;
			for (size_t i = 0; ok && i < n; i++)
				ok = ids[i] >= 0 && (size_t)ids[i] < ns->nids;
			if (!ok)
				break;
			if ((ret = deps_rec_set(ns, out, (int64_t)(((uint64_t)hi << 32) | lo), ids, n)) < 0)
				goto out;
		} else {
			size_t plen = size - 4;
			uint32_t check;
			memcpy(&check, rec + plen, 4);
			while (plen && rec[plen - 1] == '\0')
				plen--;
			if (check != ~(uint32_t)ns->nids)
				break;
			char *path = strndup(rec, plen);
			if (!path) {
				ret = -ENOMEM;
				goto out;
			}
			ret = pmap_put(&ns->ids, path, ns->nids++);
			free(path);
			if (ret < 0)
				goto out;
		}
		off += 4 + size;
	}
	ret = 0;
out:
	sbuf_release(&sb);
	return ret;
}

/* ---- what to append ----------------------------------------------------------------- */

static void put32(struct sbuf *sb, uint32_t v)
{
	sbuf_add(sb, &v, 4);
}

/* The id of path in .ninja_deps, adding a path record when new. */
static int deps_id(struct ninja_state *ns, const char *path, int32_t *id)
{
	size_t v;
	if (pmap_get(&ns->ids, path, &v)) {
		*id = (int32_t)v;
		return 0;
	}
	size_t len = strlen(path), pad = (4 - len % 4) % 4;
	put32(&ns->deps_add, (uint32_t)(len + pad + 4));
	sbuf_add(&ns->deps_add, path, len);
	sbuf_add(&ns->deps_add, "\0\0\0", pad);
	put32(&ns->deps_add, ~(uint32_t)ns->nids);
	*id = (int32_t)ns->nids;
	int ret = pmap_put(&ns->ids, path, ns->nids++);
	return ret < 0 ? ret : sbuf_error(&ns->deps_add);
}

/* Append a deps record for `out` unless the last one says the same. */
static int deps_record(struct ninja_state *ns, const char *out, int64_t mtime, char **deps,
		       const int32_t *known, size_t n)
{
	if (4 * (3 + n) > MAX_RECORD)
		return -E2BIG;
	int32_t oid, ids[n ? n : 1];
	int ret = deps_id(ns, out, &oid);
	if (ret < 0)
		return ret;
	for (size_t i = 0; i < n; i++)
		if (known)
			ids[i] = known[i];
		else if ((ret = deps_id(ns, deps[i], &ids[i])) < 0)
			return ret;
	if ((size_t)oid < ns->arecs && ns->recs[oid].set && ns->recs[oid].mtime == mtime &&
	    ns->recs[oid].n == n && !memcmp(ns->recs[oid].ids, ids, n * sizeof(*ids)))
		return 0;
	put32(&ns->deps_add, (uint32_t)(4 * (3 + n)) | 0x80000000u);
	put32(&ns->deps_add, (uint32_t)oid);
	put32(&ns->deps_add, (uint32_t)((uint64_t)mtime & 0xffffffffu));
	put32(&ns->deps_add, (uint32_t)((uint64_t)mtime >> 32));
	for (size_t i = 0; i < n; i++)
		put32(&ns->deps_add, (uint32_t)ids[i]);
	if ((ret = sbuf_error(&ns->deps_add)) < 0)
		return ret;
	return deps_rec_set(ns, oid, mtime, ids, n);
}

/*
 * Parse a make-rule depfile: *target gets the first target (canonical), deps[] the
 * prerequisites of every rule (canonical, without duplicates, in order).  Escapes
 * as gcc writes them: "\ " and "\#" for the character, "$$" for '$',
 * backslash-newline as a space.
 */
static int depfile_parse(const char *buf, size_t len, char **target, char ***deps, size_t *ndeps)
{
	struct sbuf tok = SBUF_INIT;
	struct pmap seen = { 0 };
	size_t n = 0, alloc = 0;
	char **v = NULL;
	bool in_deps = false;
	int ret = 0;
	const char *s = buf, *end = buf + len;

	*target = NULL;
	while (s <= end) {
		bool sep = s == end || *s == ' ' || *s == '\t' || *s == '\n' || *s == '\r';
		if (!sep && *s == '\\' && s + 1 < end && s[1] == '\n') {
			sep = true;
			s++;
		}
		bool colon = false;
		if (!sep && *s == ':' && (s + 1 == end || s[1] == ' ' || s[1] == '\t' ||
					   s[1] == '\n' || s[1] == '\r')) {
			colon = true;
			sep = true;
		}
		if (!sep) {
			if (*s == '\\' && s + 1 < end && (s[1] == ' ' || s[1] == '#' || s[1] == '\\'))
				s++;
			else if (*s == '$' && s + 1 < end && s[1] == '$')
				s++;
			sbuf_addch(&tok, *s++);
			continue;
		}
		if ((ret = sbuf_error(&tok)) < 0)
			goto out;
		if (tok.len) {
			driverlog_canon(tok.buf);
			size_t one;
			if (!in_deps || colon) {
				if (!*target && !(*target = strdup(tok.buf))) {
					ret = -ENOMEM;
					goto out;
				}
			} else if (!pmap_get(&seen, tok.buf, &one) && strcmp(tok.buf, *target)) {
				if (n == alloc) {
					alloc = alloc ? 2 * alloc : 32;
					char **nv = realloc(v, alloc * sizeof(*nv));
					if (!nv) {
						ret = -ENOMEM;
						goto out;
					}
					v = nv;
				}
				if (!(v[n] = strdup(tok.buf)) || pmap_put(&seen, tok.buf, 1) < 0) {
					ret = -ENOMEM;
					goto out;
				}
				n++;
			}
			sbuf_reset(&tok);
		}
		if (colon)
			in_deps = true;
		else if (s < end && *s == '\n' && (s == buf || s[-1] != '\\'))
			in_deps = false; /* a new rule starts */
		s++;
	}
	if (!*target)
		ret = -EBADMSG;
out:
	sbuf_release(&tok);
	pmap_release(&seen);
	if (ret < 0) {
		for (size_t i = 0; i < n; i++)
			free(v[i]);
		free(v);
		free(*target);
		*target = NULL;
		return ret;
	}
	*deps = v;
	*ndeps = n;
	return 0;
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static bool mtime_ns(const char *path, int64_t *ns)
{
	struct stat st;
	if (stat(path, &st) < 0) /* (ninja follows links) */
		return false;
	*ns = (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
	return true;
}

/* mtime_ns through the commit's cache (inputs are shared: system headers...). */
static bool input_mtime(struct ninja_state *ns, const char *path, int64_t *t)
{
	size_t i;
	if (pmap_get(&ns->mt_idx, path, &i)) {
		*t = ns->mt[i];
		return *t != INT64_MIN;
	}
	bool ok = mtime_ns(path, t);
	if (!ok)
		*t = INT64_MIN;
	if (ns->nmt == ns->amt) {
		size_t na = ns->amt ? 2 * ns->amt : 1024;
		int64_t *m = realloc(ns->mt, na * sizeof(*m));
		if (!m)
			return ok; /* (uncached) */
		ns->mt = m;
		ns->amt = na;
	}
	if (pmap_put(&ns->mt_idx, path, ns->nmt) == 0)
		ns->mt[ns->nmt++] = *t;
	return ok;
}

/* A time set by edge_times: keep the cache true. */
static void input_mtime_set(struct ninja_state *ns, const char *path, int64_t t)
{
	size_t i;
	if (pmap_get(&ns->mt_idx, path, &i))
		ns->mt[i] = t;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && !strcmp(s + a - b, suffix);
}

/*
 * The newest mtime among what the thunk read and what the statement of output `o`
 * names as explicit or implicit inputs (ninja's "most recent input"; a statement's
 * input the command does not read, as Meson's link on a library's .symbols file,
 * is one of them).  INT64_MIN when none exists.
 */
static int64_t newest_input(struct ninja_state *ns, const struct dl_edge *e,
			    const struct mf_out *o)
{
	int64_t newest = INT64_MIN, t;
	char path[PATH_MAX];

	for (size_t i = 0; i < e->nin; i++)
		if (input_mtime(ns, e->inputs[i], &t) && t > newest)
			newest = t;
	const struct mf_stmt *st = &ns->mf.stmts[o->stmt];
	for (size_t i = 0; i < st->n; i++) {
		int n = st->ins[i][0] == '/' ? snprintf(path, sizeof(path), "%s", st->ins[i])
					     : snprintf(path, sizeof(path), "%s/%s", ns->dir, st->ins[i]);
		if (n > 0 && (size_t)n < sizeof(path) && input_mtime(ns, path, &t) && t > newest)
			newest = t;
	}
	return newest;
}

/*
 * Give each output of the edge older than its newest input that input's time, as
 * ninja running the command after its inputs would have (gg runs a command as
 * soon as what it reads is there; ninja waits for every declared input).  Not for
 * `restat` outputs: those keep their time and the log says when the command ran.
 * *touched tells whether a time moved.
 */
static int edge_times(struct ninja_state *ns, const struct dl_edge *e, bool *touched)
{
	for (size_t i = 0; i < e->nout; i++) {
		char *name = ninja_name(ns->dir, e->outputs[i]);
		int64_t mt;
		if (!name)
			return -ENOMEM;
		const struct mf_out *o = manifest_out(&ns->mf, name);
		free(name);
		if (!o || out_restat(&ns->mf, o) || !mtime_ns(e->outputs[i], &mt))
			continue;
		int64_t newest = newest_input(ns, e, o);
		if (mt >= newest)
			continue;
		struct timespec ts[2] = {
			{ .tv_nsec = UTIME_OMIT },
			{ .tv_sec = newest / 1000000000LL, .tv_nsec = newest % 1000000000LL },
		};
		if (utimensat(AT_FDCWD, e->outputs[i], ts, 0) < 0)
			return -errno;
		input_mtime_set(ns, e->outputs[i], newest);
		*touched = true;
	}
	return 0;
}

/* The records of one noted edge. */
static int edge_records(struct ninja_state *ns, const struct dl_edge *e, int *problem,
			char *errbuf, size_t errlen)
{
	uint64_t hash = driverlog_ninja_hash(e->command);
	int ret = 0;

	for (size_t i = 0; i < e->nout; i++) {
		char *name = ninja_name(ns->dir, e->outputs[i]);
		size_t li;
		int64_t mt;
		if (!name)
			return -ENOMEM;
		const struct mf_out *o = manifest_out(&ns->mf, name);
		if (!o || !mtime_ns(e->outputs[i], &mt)) {
			free(name);
			continue;
		}
		int64_t newest = newest_input(ns, e, o);
		/* ninja records max(command start, outputs' mtimes): for a restat output
		 * left unchanged, a time after the inputs, not the file's */
		int64_t lt = mt > newest ? mt : newest;
		if (ns->log_state >= 0 &&
		    (!pmap_get(&ns->log_idx, name, &li) || ns->log[li].hash != hash ||
		     ns->log[li].mtime < lt)) {
			sbuf_addf(&ns->log_add, "0\t0\t%lld\t%s\t%llx\n", (long long)lt, name,
				  (unsigned long long)hash);
			if ((ret = log_set(ns, name, lt, hash)) < 0 ||
			    (ret = sbuf_error(&ns->log_add)) < 0)
				goto next;
		}
		if (ns->deps_state < 0 || !out_deps(&ns->mf, o))
			goto next;
		/* the depfile the command wrote for this output */
		bool found = false;
		for (size_t j = 0; j < e->nout && !found; j++) {
			struct sbuf d = SBUF_INIT;
			char *target = NULL, **deps = NULL;
			size_t nd = 0;
			if (!ends_with(e->outputs[j], ".d") ||
			    file_read_all(e->outputs[j], &d, 64u << 20) < 0 ||
			    depfile_parse(d.buf ? d.buf : "", d.len, &target, &deps, &nd) < 0) {
				sbuf_release(&d);
				continue;
			}
			char *tname = target[0] == '/' ? ninja_name(ns->dir, target) : strdup(target);
			if (tname && !strcmp(tname, name)) {
				found = true;
				ret = deps_record(ns, name, mt, deps, NULL, nd);
				if (ret == 0 && ns->ndepfiles == ns->adepfiles) {
					size_t na = ns->adepfiles ? 2 * ns->adepfiles : 16;
					char **nv = realloc(ns->depfiles, na * sizeof(*nv));
					if (nv) {
						ns->depfiles = nv;
						ns->adepfiles = na;
					} else {
						ret = -ENOMEM;
					}
				}
				if (ret == 0 && !(ns->depfiles[ns->ndepfiles++] = strdup(e->outputs[j])))
					ret = -ENOMEM;
			}
			free(tname);
			free(target);
			strv_free(deps, nd);
			sbuf_release(&d);
		}
		if (ret < 0)
			goto next;
		if (!found) {
			size_t id;
			if (pmap_get(&ns->ids, name, &id) && id < ns->arecs && ns->recs[id].set) {
				if (ns->recs[id].mtime < mt) {
					int32_t *ids = ns->recs[id].ids;
					ns->recs[id].ids = NULL; /* (deps_record replaces it) */
					ret = deps_record(ns, name, mt, NULL, ids, ns->recs[id].n);
					free(ids);
				}
			} else if (!*problem) {
				*problem = -ENOENT;
				errbuf_set(errbuf, errlen, "%s/%s: no depfile for %s: ninja will run it again",
					 ns->dir, NINJA_DEPS, name);
			}
		}
next:
		free(name);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int append_file(const char *path, size_t truncate_at, bool truncate, const char *header,
		       size_t hlen, const char *buf, size_t len)
{
	int ret = 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (truncate && ftruncate(fd, (off_t)truncate_at) < 0) {
		ret = -errno;
		goto out_fd;
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		goto out_fd;
	}
	struct sbuf all = SBUF_INIT;
	if (st.st_size == 0)
		sbuf_add(&all, header, hlen);
	sbuf_add(&all, buf, len);
	if ((ret = sbuf_error(&all)) == 0) {
		ssize_t w = write(fd, all.buf, all.len);
		if (w < 0)
			ret = -errno;
		else if ((size_t)w != all.len)
			ret = -EIO;
	}
	sbuf_release(&all);
out_fd:
	if (close(fd) < 0 && !ret)
		ret = -errno;
	return ret;
}

static int dir_commit(const struct dl_dir *dd, char *errbuf, size_t errlen)
{
	struct ninja_state ns = { .dir = dd->dir };
	char path[PATH_MAX];
	int problem = 0, ret;

	if ((ret = snprintf(path, sizeof(path), "%s/build.ninja", dd->dir)) < 0 ||
	    (size_t)ret >= sizeof(path)) {
		ret = -ENAMETOOLONG;
		goto out;
	}
	if ((ret = manifest_parse(&ns.mf, dd->dir, path, 0)) < 0) {
		errbuf_set(errbuf, errlen, "%s: %s", path, strerror(-ret));
		goto out;
	}
	snprintf(path, sizeof(path), "%s/%s", dd->dir, NINJA_LOG);
	if ((ret = log_load(&ns, path)) < 0 && ret != -EPROTONOSUPPORT)
		goto out;
	if (ret < 0) {
		problem = ret;
		errbuf_set(errbuf, errlen, "%s: not a ninja log v5 or v6: left alone", path);
	}
	char deps_path[PATH_MAX];
	snprintf(deps_path, sizeof(deps_path), "%s/%s", dd->dir, NINJA_DEPS);
	if ((ret = deps_load(&ns, deps_path)) < 0 && ret != -EPROTONOSUPPORT && ret != -EBADMSG)
		goto out;
	if (ret < 0 && !problem) {
		problem = ret;
		errbuf_set(errbuf, errlen, "%s: not a ninja deps log version %d: left alone",
			 deps_path, DEPS_VERSION);
	}
	size_t deps_size = ns.deps_valid;
	/* times first (until none moves: a time moved may be another edge's input) */
	bool touched = true;
	for (int pass = 0; touched && pass < MAX_TIME_PASSES; pass++) {
		touched = false;
		for (size_t i = 0; i < dd->n; i++)
			if ((ret = edge_times(&ns, &dd->e[i], &touched)) < 0) {
				errbuf_set(errbuf, errlen, "%s: setting output times: %s", dd->dir,
				     strerror(-ret));
				goto out;
			}
	}
	for (size_t i = 0; i < dd->n; i++)
		if ((ret = edge_records(&ns, &dd->e[i], &problem, errbuf, errlen)) < 0)
			goto out;
	if (ns.log_add.len &&
	    (ret = append_file(path, 0, false, LOG_HEADER, strlen(LOG_HEADER), ns.log_add.buf,
			       ns.log_add.len)) < 0) {
		errbuf_set(errbuf, errlen, "%s: %s", path, strerror(-ret));
		goto out;
	}
	if (ns.deps_add.len) {
		char header[16];
		int32_t v = DEPS_VERSION;
		memcpy(header, DEPS_MAGIC, 12);
		memcpy(header + 12, &v, 4);
		if ((ret = append_file(deps_path, deps_size, ns.deps_state == 1, header, 16,
				       ns.deps_add.buf, ns.deps_add.len)) < 0) {
			errbuf_set(errbuf, errlen, "%s: %s", deps_path, strerror(-ret));
			goto out;
		}
	}
	/* the depfiles are read: gone, as ninja leaves it (deps = gcc) */
	for (size_t i = 0; i < ns.ndepfiles; i++)
		unlink(ns.depfiles[i]);
	ret = problem;
out:
	manifest_release(&ns.mf);
	pmap_release(&ns.log_idx);
	free(ns.log);
	sbuf_release(&ns.log_add);
	pmap_release(&ns.ids);
	for (size_t i = 0; i < ns.arecs; i++)
		free(ns.recs[i].ids);
	free(ns.recs);
	sbuf_release(&ns.deps_add);
	strv_free(ns.depfiles, ns.ndepfiles);
	pmap_release(&ns.mt_idx);
	free(ns.mt);
	return ret;
}

/* ---- the public side ---------------------------------------------------------------- */

static void dl_free(struct driverlog *dl)
{
	for (size_t i = 0; dl && i < dl->n; i++) {
		for (size_t j = 0; j < dl->d[i].n; j++) {
			free(dl->d[i].e[j].command);
			strv_free(dl->d[i].e[j].outputs, dl->d[i].e[j].nout);
			strv_free(dl->d[i].e[j].inputs, dl->d[i].e[j].nin);
		}
		free(dl->d[i].e);
		free(dl->d[i].dir);
	}
	if (dl)
		free(dl->d);
	free(dl);
}

/* Is `dir`/build.ninja a driver input of g? */
static bool is_ninja_dir(const struct graph *g, const char *dir)
{
	size_t n = strlen(dir);
	for (size_t i = 0; i < g->ndriver_inputs; i++) {
		const char *p = g->driver_inputs[i].path;
		if (p && !strncmp(p, dir, n) && !strcmp(p + n, "/build.ninja"))
			return true;
	}
	return false;
}

bool driverlog_owns(const struct graph *g, const struct thunk *th)
{
	return th->cwd && th->argv.n == 3 && !strcmp(th->argv.v[1], "-c") &&
	       is_ninja_dir(g, th->cwd);
}

int driverlog_add(struct driverlog **dlp, const struct graph *g, const struct thunk *th,
		  const struct graph_node *node)
{
	(void)node;
	if (!driverlog_owns(g, th))
		return 0;
	struct driverlog *dl = *dlp;
	if (!dl && !(dl = *dlp = calloc(1, sizeof(*dl))))
		return -ENOMEM;
	struct dl_dir *dd = NULL;
	for (size_t i = 0; i < dl->n && !dd; i++)
		if (!strcmp(dl->d[i].dir, th->cwd))
			dd = &dl->d[i];
	if (!dd) {
		if (dl->n == dl->alloc) {
			size_t na = dl->alloc ? 2 * dl->alloc : 4;
			struct dl_dir *nd = realloc(dl->d, na * sizeof(*nd));
			if (!nd)
				return -ENOMEM;
			dl->d = nd;
			dl->alloc = na;
		}
		dd = &dl->d[dl->n];
		*dd = (struct dl_dir){ .dir = strdup(th->cwd) };
		if (!dd->dir)
			return -ENOMEM;
		dl->n++;
	}
	if (dd->n == dd->alloc) {
		size_t na = dd->alloc ? 2 * dd->alloc : 64;
		struct dl_edge *ne = realloc(dd->e, na * sizeof(*ne));
		if (!ne)
			return -ENOMEM;
		dd->e = ne;
		dd->alloc = na;
	}
	struct dl_edge *e = &dd->e[dd->n];
	*e = (struct dl_edge){ 0 };
	e->command = strdup(th->argv.v[2]);
	e->outputs = calloc(th->outputs.n + 1, sizeof(*e->outputs));
	e->inputs = calloc(th->inputs.n + 1, sizeof(*e->inputs));
	if (!e->command || !e->outputs || !e->inputs)
		goto fail;
	for (size_t i = 0; i < th->outputs.n; i++, e->nout++)
		if (!(e->outputs[i] = strdup(th->outputs.v[i])))
			goto fail;
	for (size_t i = 0; i < th->inputs.n; i++, e->nin++)
		if (!(e->inputs[i] = strdup(th->inputs.v[i].path)))
			goto fail;
	dd->n++;
	return 0;
fail:
	free(e->command);
	strv_free(e->outputs, e->nout);
	strv_free(e->inputs, e->nin);
	return -ENOMEM;
}

int driverlog_commit(struct driverlog **dlp, char *errbuf, size_t errlen)
{
	struct driverlog *dl = *dlp;
	int first = 0;
	char why[1024];

	if (errlen)
		errbuf[0] = '\0';
	for (size_t i = 0; dl && i < dl->n; i++) {
		why[0] = '\0';
		int ret = dir_commit(&dl->d[i], why, sizeof(why));
		if (ret < 0 && !first) {
			first = ret;
			if (why[0])
				errbuf_set(errbuf, errlen, "%s", why);
			else
				errbuf_set(errbuf, errlen, "%s: ninja's logs: %s", dl->d[i].dir,
					 strerror(-ret));
		}
	}
	dl_free(dl);
	*dlp = NULL;
	return first;
}
