/*
 * audit_ninja.c - Ninja's manifest and deps log into a struct bdb (audit_db.h).
 *
 * Three tool runs in the recorded ninja's directory, none of which builds anything:
 *
 *   ninja -t targets all       "OUTPUT: RULE" per line: every output of the manifest
 *   ninja -t query OUTPUT...   per output:
 *                                  OUTPUT:
 *                                    input: RULE
 *                                      EXPLICIT
 *                                      | IMPLICIT
 *                                      || ORDER-ONLY
 *                                    outputs:
 *                                      DEPENDENT...
 *                              (ninja 1.11 may add "  validations:" blocks)
 *   ninja -t deps              what depfiles reported, per output:
 *                                  OUTPUT: #deps N, deps mtime M (VALID)
 *                                      DEP...
 *                                  <blank>
 *
 * Paths are relative to the build directory (after -C) unless absolute.  A path
 * holding a newline cannot be told apart in this output; such a manifest is read
 * as best it can be.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "inferer/audit/audit_db.h"

/* Targets per `ninja -t query` run, and bytes of arguments. */
#define QUERY_BATCH 2000
#define QUERY_ARG_BYTES (96u << 10)

static bool next_line(const char *text, size_t len, size_t *pos, const char **s, size_t *n)
{
	const char *nl;
	if (*pos >= len)
		return false;
	*s = text + *pos;
	nl = memchr(*s, '\n', len - *pos);
	*n = nl ? (size_t)(nl - *s) : len - *pos;
	*pos += *n + 1;
	return true;
}

int bdb_parse_ninja_targets(const char *text, size_t len, struct strlist *out)
{
	const char *s;
	size_t n, pos = 0;
	int ret = 0;

	while (ret == 0 && next_line(text, len, &pos, &s, &n)) {
		size_t k = n;
		char *name;
		/* "path: rule" - the last ": " separates them */
		while (k >= 2 && !(s[k - 2] == ':' && s[k - 1] == ' '))
			k--;
		if (k < 2)
			continue;
		if (!(name = strndup(s, k - 2)))
			return -ENOMEM;
		ret = strlist_push(out, name);
		free(name);
	}
	return ret;
}

int bdb_parse_ninja_query(struct bdb *db, const char *text, size_t len)
{
	enum { NONE, INPUT, OTHER } st = NONE;
	char *target = NULL;
	const char *s;
	size_t n, pos = 0;
	int ret = 0;

	db->kind = BDB_NINJA;
	while (ret == 0 && next_line(text, len, &pos, &s, &n)) {
		if (n && s[0] != ' ' && s[n - 1] == ':') {
			free(target);
			if (!(target = strndup(s, n - 1))) {
				ret = -ENOMEM;
				break;
			}
			st = NONE;
			continue;
		}
		if (!target)
			continue;
		if (n > 9 && !memcmp(s, "  input: ", 9)) {
			char *abs = NULL;
			long ni;
			st = INPUT;
			if ((ret = path_abs(target, db->dir ? db->dir : "/", &abs)) < 0) {
				if (ret == -EINVAL)
					ret = 0; /* no path: skipped */
				continue;
			}
			ni = bdb_node_get(db, abs);
			free(abs);
			if (ni < 0) {
				ret = (int)ni;
				break;
			}
			db->nodes[ni].flags |= BDB_F_TARGET | BDB_F_RECIPE | BDB_F_NAMED;
			if (n - 9 == 5 && !memcmp(s + 9, "phony", 5))
				db->nodes[ni].flags |= BDB_F_PHONY;
			continue;
		}
		if (n > 2 && s[0] == ' ' && s[1] == ' ' && s[2] != ' ') {
			st = OTHER; /* "  outputs:", "  validations:" */
			continue;
		}
		if (st == INPUT && n > 4 && !memcmp(s, "    ", 4)) {
			enum bdb_dep kind = BDB_NORMAL;
			size_t off = 4;
			char *p;
			if (n > 7 && !memcmp(s + 4, "|| ", 3)) {
				kind = BDB_ORDER;
				off = 7;
			} else if (n > 6 && !memcmp(s + 4, "| ", 2)) {
				off = 6;
			}
			if (!(p = strndup(s + off, n - off))) {
				ret = -ENOMEM;
				break;
			}
			ret = bdb_add_dep(db, target, p, kind, 0);
			free(p);
		}
	}
	free(target);
	return ret;
}

int bdb_parse_ninja_deps(struct bdb *db, const char *text, size_t len)
{
	char *target = NULL;
	const char *s;
	size_t n, pos = 0;
	uint32_t origin;
	int ret;

	db->kind = BDB_NINJA;
	if ((ret = strlist_push(&db->depfiles, "")) < 0)
		return ret;
	origin = (uint32_t)db->depfiles.n;
	while (ret == 0 && next_line(text, len, &pos, &s, &n)) {
		const char *mark;
		if (!n) {
			free(target);
			target = NULL;
			continue;
		}
		if (s[0] != ' ') {
			/* "OUTPUT: #deps N, deps mtime M (VALID)" */
			free(target);
			target = NULL;
			for (mark = s; mark + 8 <= s + n; mark++)
				if (!memcmp(mark, ": #deps ", 8))
					break;
			if (mark + 8 > s + n)
				continue;
			if (!(target = strndup(s, (size_t)(mark - s))))
				ret = -ENOMEM;
			continue;
		}
		if (target && n > 4 && !memcmp(s, "    ", 4)) {
			/* a pair the manifest already declares keeps its kind */
			char *p = strndup(s + 4, n - 4);
			if (!p) {
				ret = -ENOMEM;
				break;
			}
			ret = bdb_add_dep(db, target, p, BDB_DEPFILE, origin);
			free(p);
		}
	}
	free(target);
	return ret;
}

/* ---- the query ------------------------------------------------------------------------ */

int bdb_ninja_args(const struct bdb_invocation *inv, struct strlist *out, char **dirp)
{
	char *dir = strdup(inv->cwd ? inv->cwd : "/");
	int ret = dir ? strlist_push(out, inv->exe) : -ENOMEM;

	for (size_t i = 1; ret == 0 && i < inv->argc; i++) {
		const char *a = inv->argv[i], *val = NULL;
		bool is_c = false;
		if (!strcmp(a, "--"))
			break;
		if (!strcmp(a, "-C") || !strcmp(a, "-f")) {
			if (i + 1 >= inv->argc)
				break;
			is_c = a[1] == 'C';
			val = inv->argv[++i];
		} else if ((!strncmp(a, "-C", 2) || !strncmp(a, "-f", 2)) && a[2]) {
			is_c = a[1] == 'C';
			val = a + 2;
		} else if (!strcmp(a, "-j") || !strcmp(a, "-k") || !strcmp(a, "-l") ||
			   !strcmp(a, "-d") || !strcmp(a, "-t") || !strcmp(a, "-w")) {
			i++; /* an option with a separate argument we do not keep */
			continue;
		} else {
			continue;
		}
		ret = strlist_push(out, is_c ? "-C" : "-f");
		if (!ret)
			ret = strlist_push(out, val);
		if (!ret && is_c) {
			char *nd = NULL;
			if ((ret = path_abs(val, dir, &nd)) == 0) {
				free(dir);
				dir = nd;
			}
		}
	}
	if (ret < 0) {
		free(dir);
		return ret;
	}
	*dirp = dir;
	return 0;
}

/* Run the base argv plus extra arguments; the output in *out. */
static int run_tool(const struct bdb_invocation *inv, const struct strlist *base,
		    const char *const *extra, size_t nextra, const struct strlist *env,
		    struct sbuf *out, char *err, size_t errlen)
{
	const char **argv = calloc(base->n + nextra + 1, sizeof(*argv));
	struct sbuf eout = SBUF_INIT;
	int status = 0, ret;

	if (!argv)
		return -ENOMEM;
	for (size_t i = 0; i < base->n; i++)
		argv[i] = base->v[i];
	for (size_t i = 0; i < nextra; i++)
		argv[base->n + i] = extra[i];
	ret = audit_spawn(argv, (const char *const *)env->v, inv->cwd, out, &eout, &status);
	if (ret < 0) {
		snprintf(err, errlen, "cannot run '%s' in '%s': %s", inv->exe,
			 inv->cwd ? inv->cwd : "/", strerror(-ret));
	} else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		size_t n = 0;
		while (eout.buf && n < eout.len && eout.buf[n] != '\n' && n < 300)
			n++;
		snprintf(err, errlen, "'%s -t %s' in '%s' failed%s%.*s", inv->exe,
			 nextra > 1 ? extra[1] : "?", inv->cwd ? inv->cwd : "/", n ? ": " : "",
			 (int)n, eout.buf ? eout.buf : "");
		ret = -EPROTO;
	}
	sbuf_release(&eout);
	free(argv);
	return ret;
}

int bdb_query_ninja(struct bdb *db, const struct bdb_invocation *inv, char *err, size_t errlen)
{
	struct strlist base = STRLIST_INIT, env = STRLIST_INIT, targets = STRLIST_INIT;
	struct sbuf out = SBUF_INIT;
	const char **extra = NULL;
	char *dir = NULL;
	int ret;

	bdb_init(db, BDB_NINJA, NULL);
	sbuf_init(&out, BDB_MAX_OUTPUT);
	if ((ret = bdb_ninja_args(inv, &base, &dir)) < 0)
		goto out_nomem;
	db->dir = dir;
	for (size_t i = 0; ret == 0 && i < inv->envc; i++)
		if (strncmp(inv->env[i], "LD_PRELOAD=", 11) && strncmp(inv->env[i], "GG_", 3))
			ret = strlist_push(&env, inv->env[i]);
	if (!ret && !env.v)
		ret = strlist_push(&env, "PATH=/usr/bin:/bin");
	if (ret < 0)
		goto out_nomem;

	{
		const char *t[] = { "-t", "targets", "all" };
		if ((ret = run_tool(inv, &base, t, 3, &env, &out, err, errlen)) < 0)
			goto out;
		if ((ret = bdb_parse_ninja_targets(out.buf ? out.buf : "", out.len, &targets)) < 0)
			goto out_nomem;
	}
	extra = calloc(QUERY_BATCH + 2, sizeof(*extra));
	if (!extra)
		goto out_nomem;
	for (size_t i = 0; i < targets.n;) {
		size_t k = 2, bytes = 0;
		extra[0] = "-t";
		extra[1] = "query";
		while (i < targets.n && k < QUERY_BATCH + 2 && bytes < QUERY_ARG_BYTES) {
			bytes += strlen(targets.v[i]) + 1;
			extra[k++] = targets.v[i++];
		}
		sbuf_reset(&out);
		if ((ret = run_tool(inv, &base, extra, k, &env, &out, err, errlen)) < 0)
			goto out;
		if ((ret = bdb_parse_ninja_query(db, out.buf ? out.buf : "", out.len)) < 0)
			goto out_nomem;
	}
	{
		const char *t[] = { "-t", "deps" };
		sbuf_reset(&out);
		if ((ret = run_tool(inv, &base, t, 2, &env, &out, err, errlen)) < 0)
			goto out;
		if ((ret = bdb_parse_ninja_deps(db, out.buf ? out.buf : "", out.len)) < 0)
			goto out_nomem;
	}
	goto out;
out_nomem:
	if (!ret)
		ret = -ENOMEM;
	snprintf(err, errlen, "cannot read ninja's graph in '%s': %s", inv->cwd ? inv->cwd : "/",
		 strerror(-ret));
out:
	free(extra);
	strlist_release(&base);
	strlist_release(&env);
	strlist_release(&targets);
	sbuf_release(&out);
	return ret;
}
