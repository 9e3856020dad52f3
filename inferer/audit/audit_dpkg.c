/*
 * audit_dpkg.c - package ownership through dpkg, cached (audit_dpkg.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "inferer/audit/audit_db.h"
#include "inferer/audit/audit_dpkg.h"

#define DPKG_BIN "/usr/bin/dpkg"
#define DPKG_QUERY_BIN "/usr/bin/dpkg-query"
#define ARG_BYTES (96u << 10) /* argument bytes per dpkg run */
#define CACHE_MAX ((size_t)256 << 20)

/* A string -> string map, in the order keys were added; keys and values owned. */
struct smap {
	struct htab ix; /* str_hash(key) -> index into k and v */
	char **k, **v;
	size_t n, alloc;
};

static bool smap_eq(const void *ctx, uint32_t val, const void *key)
{
	const struct smap *m = ctx;
	return !strcmp(m->k[val], key);
}

static long smap_find(const struct smap *m, const char *key)
{
	uint32_t i = htab_find(&m->ix, str_hash(key), smap_eq, m, key);
	return i == HTAB_NONE ? -1 : (long)i;
}

static int smap_put(struct smap *m, const char *key, const char *val)
{
	long f = smap_find(m, key);
	char *nk = NULL, *nv = strdup(val);

	if (!nv)
		return -ENOMEM;
	if (f >= 0) {
		free(m->v[f]);
		m->v[f] = nv;
		return 0;
	}
	if (m->n == m->alloc) {
		size_t na = m->alloc ? m->alloc * 2 : 256;
		char **k2 = realloc(m->k, na * sizeof(*k2)), **v2;
		if (k2)
			m->k = k2;
		v2 = k2 ? realloc(m->v, na * sizeof(*v2)) : NULL;
		if (!v2)
			goto out_free;
		m->v = v2;
		m->alloc = na;
	}
	if (!(nk = strdup(key)) || htab_add(&m->ix, str_hash(key), (uint32_t)m->n) < 0)
		goto out_free;
	m->k[m->n] = nk;
	m->v[m->n++] = nv;
	return 0;

out_free:
	free(nk);
	free(nv);
	return -ENOMEM;
}

static void smap_release(struct smap *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->k[i]);
		free(m->v[i]);
	}
	free(m->k);
	free(m->v);
	htab_release(&m->ix);
	memset(m, 0, sizeof(*m));
}

struct dpkg_db {
	char *cache_file;
	long long key_mtime, key_size;
	struct smap owners;   /* path -> owner ("" none) */
	struct smap versions; /* package -> version */
	bool dirty;
	struct dpkg_stats stats;
};

static void status_key(const char *status, long long *mtime, long long *size)
{
	struct stat sb;
	*mtime = *size = -1;
	if (stat(status, &sb) == 0) {
		*mtime = (long long)sb.st_mtim.tv_sec * 1000000000LL + sb.st_mtim.tv_nsec;
		*size = (long long)sb.st_size;
	}
}

/* Load the cache file; any problem leaves the tables empty. */
static void load_cache(struct dpkg_db *db)
{
	struct sbuf sb = SBUF_INIT;
	char buf[65536];
	long long m, s;
	size_t pos;
	int fd = open(db->cache_file, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return;
	sbuf_init(&sb, CACHE_MAX);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		sbuf_add(&sb, buf, (size_t)n);
	close(fd);
	if (n < 0 || sbuf_error(&sb) || !sb.buf)
		goto out;
	if (sscanf(sb.buf, "ggdpkg 1 %lld %lld\n", &m, &s) != 2 || m != db->key_mtime ||
	    s != db->key_size || m < 0)
		goto out;
	pos = (size_t)((char *)memchr(sb.buf, '\n', sb.len) - sb.buf) + 1;
	while (pos < sb.len) {
		char type = sb.buf[pos++];
		const char *a = sb.buf + pos, *b, *end = sb.buf + sb.len;
		const char *za = memchr(a, '\0', (size_t)(end - a)), *zb;
		if (!za)
			break;
		b = za + 1;
		zb = b < end ? memchr(b, '\0', (size_t)(end - b)) : NULL;
		if (!zb || (type != 'P' && type != 'V'))
			break;
		if (smap_put(type == 'P' ? &db->owners : &db->versions, a, b) < 0)
			break;
		pos = (size_t)(zb + 1 - sb.buf);
	}
	db->stats.cache_loaded = true;
out:
	sbuf_release(&sb);
}

struct dpkg_db *dpkg_open(const char *cache_file, const char *status_file)
{
	struct dpkg_db *db = calloc(1, sizeof(*db));
	if (!db)
		return NULL;
	status_key(status_file ? status_file : DPKG_STATUS_FILE, &db->key_mtime, &db->key_size);
	if (cache_file) {
		if (!(db->cache_file = strdup(cache_file))) {
			free(db);
			return NULL;
		}
		load_cache(db);
	}
	return db;
}

void dpkg_free(struct dpkg_db *db)
{
	if (!db)
		return;
	smap_release(&db->owners);
	smap_release(&db->versions);
	free(db->cache_file);
	free(db);
}

bool dpkg_available(void)
{
	return access(DPKG_BIN, X_OK) == 0;
}

const struct dpkg_stats *dpkg_stats(const struct dpkg_db *db)
{
	return &db->stats;
}

const char *dpkg_owner(const struct dpkg_db *db, const char *path)
{
	long f = smap_find(&db->owners, path);
	return f >= 0 ? db->owners.v[f] : NULL;
}

const char *dpkg_version(const struct dpkg_db *db, const char *pkg)
{
	long f = smap_find(&db->versions, pkg);
	return f >= 0 ? db->versions.v[f] : NULL;
}

char *dpkg_package_name(const char *owner, char *buf, size_t cap)
{
	size_t n = strcspn(owner, ":,");
	snprintf(buf, cap, "%.*s", (int)n, owner);
	return buf;
}

/* ---- parsing ------------------------------------------------------------------------- */

int dpkg_parse_search(const char *text, size_t len, dpkg_found_fn *fn, void *ctx)
{
	size_t pos = 0;
	int ret = 0;
	while (pos < len && ret == 0) {
		const char *s = text + pos, *nl = memchr(s, '\n', len - pos), *sep = NULL;
		size_t n = nl ? (size_t)(nl - s) : len - pos;
		pos += n + 1;
		if (n > 13 && (!memcmp(s, "diversion by ", 13) || !memcmp(s, "local diversion", 15)))
			continue;
		for (size_t k = 0; k + 2 < n; k++)
			if (s[k] == ':' && s[k + 1] == ' ' && s[k + 2] == '/') {
				sep = s + k;
				break;
			}
		if (!sep || sep == s)
			continue;
		{
			char *owner = strndup(s, (size_t)(sep - s));
			char *path = strndup(sep + 2, n - (size_t)(sep - s) - 2);
			if (owner && path)
				ret = fn(ctx, owner, path);
			else
				ret = -ENOMEM;
			free(owner);
			free(path);
		}
	}
	return ret;
}

static int push_unique(struct strlist *l, const char *s, const char *orig)
{
	if (!strcmp(s, orig))
		return 0;
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->v[i], s))
			return 0;
	return strlist_push(l, s);
}

/* /usr/X -> /X and /X -> /usr/X for the merged directories. */
static int usr_forms(const char *p, const char *orig, struct strlist *out)
{
	static const char *const merged[] = { "/lib", "/lib32", "/lib64", "/libx32", "/bin",
					      "/sbin", NULL };
	int ret = 0;
	if (!strncmp(p, "/usr/", 5)) {
		for (size_t i = 0; merged[i] && !ret; i++) {
			size_t n = strlen(merged[i]);
			if (!strncmp(p + 4, merged[i], n) && p[4 + n] == '/')
				ret = push_unique(out, p + 4, orig);
		}
	} else {
		for (size_t i = 0; merged[i] && !ret; i++) {
			size_t n = strlen(merged[i]);
			if (!strncmp(p, merged[i], n) && p[n] == '/') {
				char *u = NULL;
				if (asprintf(&u, "/usr%s", p) < 0)
					return -ENOMEM;
				ret = push_unique(out, u, orig);
				free(u);
			}
		}
	}
	return ret;
}

int dpkg_alternates(const char *path, struct strlist *out)
{
	char *real = realpath(path, NULL);
	int ret = 0;
	if (real)
		ret = push_unique(out, real, path);
	if (!ret)
		ret = usr_forms(path, path, out);
	if (!ret && real)
		ret = usr_forms(real, path, out);
	free(real);
	return ret;
}

/* ---- running dpkg ------------------------------------------------------------------------ */

static const char *const dpkg_env[] = { "LC_ALL=C", "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
					NULL };

/* Escape dpkg -S's pattern characters. */
static char *escape_pattern(const char *p)
{
	struct sbuf sb = SBUF_INIT;
	for (; *p; p++) {
		if (strchr("*[?\\", *p))
			sbuf_addch(&sb, '\\');
		sbuf_addch(&sb, *p);
	}
	return sbuf_detach(&sb, NULL);
}

struct found_ctx {
	struct smap *hits; /* path -> owner */
};

static int on_found(void *vctx, const char *owner, const char *path)
{
	struct found_ctx *c = vctx;
	return smap_put(c->hits, path, owner);
}

/*
 * Run prefix (argv[0] first, NULL-ended) with the items from *i on, as many as fit
 * in ARG_BYTES (each escaped as a dpkg pattern with `escape`), output in out (cap
 * outcap; the caller releases it); *i moves past them.  0 or -errno (err says).
 */
static int dpkg_batch(struct dpkg_db *db, const char *const *prefix, const struct strlist *items,
		      size_t *i, bool escape, size_t outcap, struct sbuf *out, int *status,
		      char *err, size_t errlen)
{
	struct strlist argv = STRLIST_INIT;
	size_t bytes = 0;
	int ret = 0;

	for (size_t k = 0; prefix[k] && !ret; k++)
		ret = strlist_push(&argv, prefix[k]);
	while (!ret && *i < items->n && bytes < ARG_BYTES) {
		char *e = escape ? escape_pattern(items->v[*i]) : strdup(items->v[*i]);
		if (!e) {
			ret = -ENOMEM;
			break;
		}
		(*i)++;
		bytes += strlen(e) + 1;
		ret = strlist_push(&argv, e);
		free(e);
	}
	sbuf_init(out, outcap);
	if (!ret) {
		ret = audit_spawn((const char *const *)argv.v, dpkg_env, "/", out, NULL, status);
		db->stats.dpkg_runs++;
		if (ret < 0)
			snprintf(err, errlen, "cannot run '%s': %s", prefix[0], strerror(-ret));
	}
	strlist_release(&argv);
	return ret;
}

/* dpkg -S over paths, in batches; hits gets path -> owner for what dpkg knows. */
static int search(struct dpkg_db *db, const struct strlist *paths, struct smap *hits,
		  char *err, size_t errlen)
{
	static const char *const prefix[] = { DPKG_BIN, "-S", NULL };
	struct found_ctx c = { hits };
	int ret = 0;

	for (size_t i = 0; i < paths->n && ret == 0;) {
		struct sbuf out;
		int status = 0;

		ret = dpkg_batch(db, prefix, paths, &i, true, (size_t)64 << 20, &out, &status, err,
				 errlen);
		/* exit status 1 only says that some path was not found */
		if (!ret && (!WIFEXITED(status) || WEXITSTATUS(status) > 1)) {
			snprintf(err, errlen, "'%s -S' failed", DPKG_BIN);
			ret = -EPROTO;
		} else if (!ret && out.buf) {
			ret = dpkg_parse_search(out.buf, out.len, on_found, &c);
		}
		sbuf_release(&out);
	}
	return ret;
}

static int versions(struct dpkg_db *db, const struct strlist *pkgs, char *err, size_t errlen)
{
	static const char *const prefix[] = {
		DPKG_QUERY_BIN, "-W", "--showformat=${binary:Package}\\t${Package}\\t${Version}\\n",
		NULL
	};
	int ret = 0;

	for (size_t i = 0; i < pkgs->n && ret == 0;) {
		struct sbuf out;
		int status = 0;

		ret = dpkg_batch(db, prefix, pkgs, &i, false, (size_t)16 << 20, &out, &status, err,
				 errlen);
		/* "libc6:amd64\tlibc6\t2.36-9\n": keep both names */
		for (size_t pos = 0; !ret && out.buf && pos < out.len;) {
			char *s = out.buf + pos, *nl = memchr(s, '\n', out.len - pos), *t1, *t2;
			size_t n = nl ? (size_t)(nl - s) : out.len - pos;
			pos += n + 1;
			s[n] = '\0';
			if (!(t1 = strchr(s, '\t')) || !(t2 = strchr(t1 + 1, '\t')))
				continue;
			*t1 = *t2 = '\0';
			ret = smap_put(&db->versions, s, t2 + 1);
			if (!ret)
				ret = smap_put(&db->versions, t1 + 1, t2 + 1);
		}
		sbuf_release(&out);
	}
	return ret;
}

int dpkg_resolve(struct dpkg_db *db, const char *const *paths, size_t n, char *err,
		 size_t errlen)
{
	struct strlist todo = STRLIST_INIT, alts = STRLIST_INIT, pkgs = STRLIST_INIT;
	struct strset seen = STRSET_INIT;
	struct smap hits = { 0 };
	int ret = 0;

	for (size_t i = 0; i < n && ret == 0; i++) {
		db->stats.paths++;
		if (dpkg_owner(db, paths[i])) {
			db->stats.cached++;
			continue;
		}
		if (strset_has(&seen, paths[i]))
			continue;
		if ((ret = strset_add(&seen, paths[i])) >= 0)
			ret = strlist_push(&todo, paths[i]);
	}
	if (ret < 0)
		goto out_nomem;
	if (todo.n) {
		if (!dpkg_available()) {
			snprintf(err, errlen, "dpkg is not installed ('%s' not found)", DPKG_BIN);
			ret = -ENOENT;
			goto out;
		}
		if ((ret = search(db, &todo, &hits, err, errlen)) < 0)
			goto out;
		/* misses: try the other names */
		for (size_t i = 0; i < todo.n && ret == 0; i++)
			if (smap_find(&hits, todo.v[i]) < 0)
				ret = dpkg_alternates(todo.v[i], &alts);
		if (ret < 0)
			goto out_nomem;
		if (alts.n && (ret = search(db, &alts, &hits, err, errlen)) < 0)
			goto out;
		for (size_t i = 0; i < todo.n && ret == 0; i++) {
			long f = smap_find(&hits, todo.v[i]);
			const char *owner = f >= 0 ? hits.v[f] : NULL;
			if (!owner) {
				struct strlist a = STRLIST_INIT;
				if ((ret = dpkg_alternates(todo.v[i], &a)) < 0)
					break;
				for (size_t k = 0; k < a.n && !owner; k++) {
					f = smap_find(&hits, a.v[k]);
					owner = f >= 0 ? hits.v[f] : NULL;
				}
				if (owner)
					ret = smap_put(&db->owners, todo.v[i], owner);
				else
					ret = smap_put(&db->owners, todo.v[i], "");
				strlist_release(&a);
			} else {
				ret = smap_put(&db->owners, todo.v[i], owner);
			}
			db->dirty = true;
		}
		if (ret < 0)
			goto out_nomem;
	}
	/* versions of every owner not yet known */
	strset_release(&seen);
	for (size_t i = 0; i < n && ret == 0; i++) {
		const char *o = dpkg_owner(db, paths[i]);
		while (o && *o && ret == 0) {
			size_t l = strcspn(o, ",");
			char *p = strndup(o, l);
			if (!p) {
				ret = -ENOMEM;
				break;
			}
			if (!dpkg_version(db, p)) {
				bool dup = false;
				for (size_t k = 0; k < pkgs.n && !dup; k++)
					dup = !strcmp(pkgs.v[k], p);
				if (!dup)
					ret = strlist_push(&pkgs, p);
			}
			free(p);
			o += l;
			while (*o == ',' || *o == ' ')
				o++;
		}
	}
	if (ret < 0)
		goto out_nomem;
	if (pkgs.n) {
		if ((ret = versions(db, &pkgs, err, errlen)) < 0)
			goto out;
		for (size_t i = 0; i < pkgs.n && ret == 0; i++)
			if (!dpkg_version(db, pkgs.v[i]))
				ret = smap_put(&db->versions, pkgs.v[i], "");
		db->dirty = true;
		if (ret < 0)
			goto out_nomem;
	}
	goto out;
out_nomem:
	snprintf(err, errlen, "out of memory");
	ret = -ENOMEM;
out:
	strlist_release(&todo);
	strlist_release(&alts);
	strlist_release(&pkgs);
	strset_release(&seen);
	smap_release(&hits);
	return ret;
}

int dpkg_save(struct dpkg_db *db)
{
	char *tmp = NULL;
	FILE *f;
	int ret = 0;

	if (!db->cache_file || !db->dirty || db->key_mtime < 0)
		return 0;
	if (asprintf(&tmp, "%s.%d.tmp", db->cache_file, (int)getpid()) < 0)
		return -ENOMEM;
	if (!(f = fopen(tmp, "we"))) {
		ret = -errno;
		goto out_free;
	}
	fprintf(f, "ggdpkg 1 %lld %lld\n", db->key_mtime, db->key_size);
	for (size_t i = 0; i < db->owners.n; i++)
		fprintf(f, "P%s%c%s%c", db->owners.k[i], 0, db->owners.v[i], 0);
	for (size_t i = 0; i < db->versions.n; i++)
		fprintf(f, "V%s%c%s%c", db->versions.k[i], 0, db->versions.v[i], 0);
	if (ferror(f) | (fclose(f) != 0)) {
		ret = -EIO;
		unlink(tmp);
		goto out_free;
	}
	if (rename(tmp, db->cache_file) < 0) {
		ret = -errno;
		unlink(tmp);
		goto out_free;
	}
	db->dirty = false;
out_free:
	free(tmp);
	return ret;
}
