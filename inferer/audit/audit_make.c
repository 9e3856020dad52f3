/*
 * audit_make.c - GNU make's database (`make -pnq`) into a struct bdb (audit_db.h).
 *
 * The database is GNU make's own dump (main.c print_data_base in GNU make 4.x):
 *
 *   # Variables          NAME := value lines, each after a "# <origin>" comment
 *   # Implicit Rules     pattern rules, "%.o: %.c", each followed by "#  ..." notes
 *                        and tab-indented recipe lines
 *   # Files              one entry per file, separated by blank lines:
 *                            [# Not a target:]
 *                            target: prereq... [| order-only...]     (or "::")
 *                            #  Phony target (prerequisite of .PHONY).
 *                            #  recipe to execute (from 'Makefile', line 5):
 *                            <TAB>recipe line
 *                        a target-specific variable is a "target: VAR = value" line
 *                        right after a "# makefile (from ...)" comment
 *   # VPATH Search Paths "vpath PATTERN DIRS" and the general VPATH
 *
 * To get it without running anything, make is given a goal that does nothing
 * (defined with --eval) and -n -q; makefiles the recorded make read are passed as
 * -o FILE so that none is remade (-n does not stop make from remaking a makefile
 * named with -f: GNU make manual, "How Makefiles Are Remade").
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "inferer/audit/audit_db.h"

#define DUMMY_GOAL ".gg-audit-nothing"

/* ---- the parser ---------------------------------------------------------------------- */

enum section { S_NONE, S_VARS, S_IMPLICIT, S_FILES, S_VPATH };

struct line {
	const char *s;
	size_t n;
};

/* The next line of text[*pos..len) (without its newline); false at the end. */
static bool next_line(const char *text, size_t len, size_t *pos, struct line *l)
{
	const char *nl;
	if (*pos >= len)
		return false;
	l->s = text + *pos;
	nl = memchr(l->s, '\n', len - *pos);
	l->n = nl ? (size_t)(nl - l->s) : len - *pos;
	*pos += l->n + 1;
	return true;
}

static bool starts(const struct line *l, const char *p)
{
	size_t n = strlen(p);
	return l->n >= n && !memcmp(l->s, p, n);
}

static bool is(const struct line *l, const char *p)
{
	return l->n == strlen(p) && !memcmp(l->s, p, l->n);
}

/* A "# <origin>" comment announcing a variable (not "#  note", "# Not a target:"). */
static bool var_origin(const struct line *l)
{
	static const char *const origins[] = { "# makefile", "# automatic", "# environment",
					       "# default", "# override", "# command line",
					       "# 'override'", NULL };
	for (size_t i = 0; origins[i]; i++)
		if (starts(l, origins[i]))
			return true;
	return false;
}

/*
 * Split "name: rest" or "name:: rest": the first ':' followed by ' ', ':' or the end
 * of the line ends the name.  Returns false if the line is no rule header.
 */
static bool split_header(const struct line *l, size_t *name_len, size_t *rest, bool *dbl)
{
	for (size_t i = 0; i < l->n; i++) {
		if (l->s[i] != ':')
			continue;
		if (i + 1 == l->n || l->s[i + 1] == ' ' || l->s[i + 1] == '\t') {
			*name_len = i;
			*rest = i + 1;
			*dbl = false;
			return i > 0;
		}
		if (l->s[i + 1] == ':' && (i + 2 == l->n || l->s[i + 2] == ' ')) {
			*name_len = i;
			*rest = i + 2;
			*dbl = true;
			return i > 0;
		}
	}
	return false;
}

static bool special_target(const char *name)
{
	static const char *const sp[] = { ".PHONY", ".SUFFIXES", ".DEFAULT", ".PRECIOUS",
					  ".INTERMEDIATE", ".SECONDARY", ".SECONDEXPANSION",
					  ".DELETE_ON_ERROR", ".IGNORE", ".LOW_RESOLUTION_TIME",
					  ".SILENT", ".EXPORT_ALL_VARIABLES", ".NOTPARALLEL",
					  ".ONESHELL", ".POSIX", ".NOTINTERMEDIATE", ".WAIT",
					  ".EXTRA_PREREQS", DUMMY_GOAL, NULL };
	for (size_t i = 0; sp[i]; i++)
		if (!strcmp(name, sp[i]))
			return true;
	return false;
}

/* Does a recipe line run make recursively? ($(MAKE), ${MAKE}, or a '+' prefix) */
static bool submake_line(const struct line *l)
{
	size_t i = 1; /* past the tab */
	while (i < l->n && (l->s[i] == '@' || l->s[i] == '-' || l->s[i] == ' '))
		i++;
	if (i < l->n && l->s[i] == '+')
		return true;
	for (size_t k = 0; k + 6 <= l->n; k++)
		if (!memcmp(l->s + k, "$(MAKE", 6) || !memcmp(l->s + k, "${MAKE", 6))
			return true;
	return false;
}

/* Words of s[0..n) separated by blanks (make prints names unescaped). */
static int words(const char *s, size_t n, struct strlist *out)
{
	size_t i = 0;
	while (i < n) {
		size_t j;
		char *w;
		int ret;
		while (i < n && (s[i] == ' ' || s[i] == '\t'))
			i++;
		j = i;
		while (j < n && s[j] != ' ' && s[j] != '\t')
			j++;
		if (j == i)
			break;
		if (!(w = strndup(s + i, j - i)))
			return -ENOMEM;
		ret = strlist_push(out, w);
		free(w);
		if (ret < 0)
			return ret;
		i = j;
	}
	return 0;
}

struct mk {
	struct bdb *db;
	struct strset names; /* entry names (pointers into `owned`) */
	struct strlist owned;
};

/*
 * Prerequisites of a header: words joined greedily into the longest name the
 * database has an entry for (names with spaces), up to 8 words.
 */
static int add_prereqs(struct mk *m, const char *target, const char *s, size_t n)
{
	struct strlist w = STRLIST_INIT;
	struct sbuf cand = SBUF_INIT;
	enum bdb_dep kind = BDB_NORMAL;
	int ret = words(s, n, &w);

	for (size_t i = 0; ret == 0 && i < w.n;) {
		size_t take = 1;
		if (!strcmp(w.v[i], "|")) {
			kind = BDB_ORDER;
			i++;
			continue;
		}
		if (!strset_has(&m->names, w.v[i])) {
			for (size_t j = i + 1; j < w.n && j < i + 8; j++) {
				sbuf_reset(&cand);
				for (size_t k = i; k <= j; k++) {
					if (k > i)
						sbuf_addch(&cand, ' ');
					sbuf_addstr(&cand, w.v[k]);
				}
				if (sbuf_error(&cand)) {
					ret = sbuf_error(&cand);
					break;
				}
				if (strset_has(&m->names, cand.buf))
					take = j - i + 1;
			}
		}
		if (ret)
			break;
		if (take == 1) {
			ret = bdb_add_dep(m->db, target, w.v[i], kind, 0);
		} else {
			sbuf_reset(&cand);
			for (size_t k = i; k < i + take; k++) {
				if (k > i)
					sbuf_addch(&cand, ' ');
				sbuf_addstr(&cand, w.v[k]);
			}
			ret = sbuf_error(&cand) ? sbuf_error(&cand)
						: bdb_add_dep(m->db, target, cand.buf, kind, 0);
		}
		i += take;
	}
	sbuf_release(&cand);
	strlist_release(&w);
	return ret;
}

/* One entry of the Files section, gathered until its blank line. */
struct entry {
	bool have, not_target, phony, recipe, submake, dbl;
	char *name;
	struct line header;
	size_t rest;
};

static int commit_entry(struct mk *m, struct entry *e)
{
	long ni;
	int ret = 0;

	if (!e->have || !e->name || special_target(e->name))
		goto out;
	if ((ret = add_prereqs(m, e->name, e->header.s + e->rest, e->header.n - e->rest)) < 0)
		goto out;
	{
		char *abs = NULL;
		if ((ret = path_abs(e->name, m->db->dir ? m->db->dir : "/", &abs)) < 0) {
			if (ret == -EINVAL)
				ret = 0; /* no path: skipped */
			goto out;
		}
		ni = bdb_node_get(m->db, abs);
		free(abs);
	}
	if (ni < 0) {
		ret = (int)ni;
		goto out;
	}
	m->db->nodes[ni].flags |= BDB_F_NAMED;
	if (!e->not_target)
		m->db->nodes[ni].flags |= BDB_F_TARGET;
	if (e->phony)
		m->db->nodes[ni].flags |= BDB_F_PHONY;
	if (e->recipe)
		m->db->nodes[ni].flags |= BDB_F_RECIPE | BDB_F_TARGET;
	if (e->submake)
		m->db->nodes[ni].flags |= BDB_F_SUBMAKE;
out:
	free(e->name);
	memset(e, 0, sizeof(*e));
	return ret;
}

static int add_rule(struct bdb *db, const struct line *h, size_t name_len, size_t rest,
		    bool dbl)
{
	struct bdb_rule r = { STRLIST_INIT, STRLIST_INIT, STRLIST_INIT, dbl, false };
	struct strlist w = STRLIST_INIT;
	bool order = false;
	int ret = words(h->s, name_len, &r.targets);

	if (!ret)
		ret = words(h->s + rest, h->n - rest, &w);
	for (size_t i = 0; !ret && i < w.n; i++) {
		if (!strcmp(w.v[i], "|"))
			order = true;
		else
			ret = strlist_push(order ? &r.order : &r.prereqs, w.v[i]);
	}
	strlist_release(&w);
	if (!ret && db->nrules == db->arules) {
		size_t na = db->arules ? db->arules * 2 : 32;
		struct bdb_rule *nv = realloc(db->rules, na * sizeof(*nv));
		if (!nv)
			ret = -ENOMEM;
		else {
			db->rules = nv;
			db->arules = na;
		}
	}
	if (ret) {
		strlist_release(&r.targets);
		strlist_release(&r.prereqs);
		strlist_release(&r.order);
		return ret;
	}
	db->rules[db->nrules++] = r;
	return 0;
}

static int add_vpath(struct bdb *db, const char *pattern, const char *dirs, size_t n)
{
	struct bdb_vpath *nv = realloc(db->vpaths, (db->nvpaths + 1) * sizeof(*nv));
	struct bdb_vpath *v;
	size_t i = 0;
	if (!nv)
		return -ENOMEM;
	db->vpaths = nv;
	v = &db->vpaths[db->nvpaths];
	memset(v, 0, sizeof(*v));
	if (pattern && !(v->pattern = strdup(pattern)))
		return -ENOMEM;
	db->nvpaths++;
	while (i < n) {
		size_t j = i;
		char *d, *abs = NULL;
		int ret;
		while (j < n && dirs[j] != ':' && dirs[j] != ' ')
			j++;
		if (j > i) {
			if (!(d = strndup(dirs + i, j - i)))
				return -ENOMEM;
			ret = path_abs(d, db->dir ? db->dir : "/", &abs);
			free(d);
			if (ret == -EINVAL)
				ret = 0;
			else if (ret == 0)
				ret = strlist_push(&v->dirs, abs);
			free(abs);
			if (ret < 0)
				return ret;
		}
		i = j + 1;
	}
	return 0;
}

/* Add the pattern rule whose header is *h and forget it. */
static int flush_rule(struct bdb *db, struct line *h, size_t name_len, size_t rest, bool dbl,
		      bool recipe)
{
	int ret = add_rule(db, h, name_len, rest, dbl);
	if (!ret)
		db->rules[db->nrules - 1].recipe = recipe;
	h->s = NULL;
	return ret;
}

/* Pass 1: names of every entry of the Files section (to split names with spaces). */
static int collect_names(struct mk *m, const char *text, size_t len)
{
	enum section sec = S_NONE;
	struct line l, prev = { "", 0 };
	size_t pos = 0;
	bool in_entry = false;

	while (next_line(text, len, &pos, &l)) {
		if (is(&l, "# Files")) {
			sec = S_FILES;
			in_entry = false;
		} else if (starts(&l, "# files hash-table stats") || starts(&l, "# VPATH Search")) {
			sec = S_NONE;
		} else if (sec == S_FILES) {
			size_t nl, rest;
			bool dbl;
			if (!l.n) {
				in_entry = false;
			} else if (l.s[0] != '#' && l.s[0] != '\t' && !in_entry && !var_origin(&prev) &&
				   split_header(&l, &nl, &rest, &dbl)) {
				char *name = strndup(l.s, nl);
				int ret;
				if (!name)
					return -ENOMEM;
				ret = strlist_push(&m->owned, name);
				free(name);
				if (ret < 0)
					return ret;
				in_entry = true;
			}
		}
		prev = l;
	}
	for (size_t i = 0; i < m->owned.n; i++)
		if (strset_add(&m->names, m->owned.v[i]) < 0)
			return -ENOMEM;
	return 0;
}

int bdb_parse_make(struct bdb *db, const char *text, size_t len, const char *cwd)
{
	struct mk m = { db, STRSET_INIT, STRLIST_INIT };
	struct entry e = { 0 };
	enum section sec = S_NONE;
	struct line l, prev = { "", 0 };
	struct line rule = { NULL, 0 };
	size_t pos = 0, rule_nl = 0, rule_rest = 0;
	bool rule_dbl = false, rule_recipe = false, general_vpath = false;
	char *makefile_list = NULL;
	int ret;

	db->kind = BDB_MAKE;
	if (!db->dir && cwd && !(db->dir = strdup(cwd)))
		return -ENOMEM;
	if ((ret = collect_names(&m, text, len)) < 0)
		goto out;

	while ((ret == 0) && next_line(text, len, &pos, &l)) {
		/* section headers */
		if (is(&l, "# Variables")) {
			sec = S_VARS;
			goto next;
		}
		if (is(&l, "# Implicit Rules")) {
			sec = S_IMPLICIT;
			goto next;
		}
		if (is(&l, "# Files")) {
			sec = S_FILES;
			goto next;
		}
		if (starts(&l, "# VPATH Search Paths")) {
			if (sec == S_FILES)
				ret = commit_entry(&m, &e);
			sec = S_VPATH;
			goto next;
		}
		if (starts(&l, "# files hash-table stats") || is(&l, "# Directories") ||
		    is(&l, "# Pattern-specific Variable Values")) {
			if (sec == S_FILES)
				ret = commit_entry(&m, &e);
			sec = S_NONE;
			goto next;
		}
		switch (sec) {
		case S_VARS:
			if (starts(&l, "CURDIR := ") && l.n > 10 && l.s[10] == '/' && !db->dir_fixed) {
				char *d = strndup(l.s + 10, l.n - 10);
				if (!d) {
					ret = -ENOMEM;
					break;
				}
				free(db->dir);
				db->dir = d;
			} else if (starts(&l, ".DEFAULT_GOAL := ") && l.n > 17) {
				char *g = strndup(l.s + 17, l.n - 17);
				free(db->default_goal);
				db->default_goal = NULL;
				if (!g)
					ret = -ENOMEM;
				else if (path_abs(g, db->dir ? db->dir : "/", &db->default_goal) == -ENOMEM)
					ret = -ENOMEM;
				free(g);
			} else if (starts(&l, "MAKEFILE_LIST := ")) {
				free(makefile_list);
				if (!(makefile_list = strndup(l.s + 17, l.n - 17)))
					ret = -ENOMEM;
			}
			break;
		case S_IMPLICIT:
			if (l.n && l.s[0] != '#' && l.s[0] != '\t') {
				/* a rule header: the previous rule is complete */
				size_t nl, rest;
				bool dbl;
				if (rule.s && (ret = flush_rule(db, &rule, rule_nl, rule_rest, rule_dbl,
								 rule_recipe)) < 0)
					break;
				if (split_header(&l, &nl, &rest, &dbl) && memchr(l.s, '%', nl)) {
					rule = l;
					rule_nl = nl;
					rule_rest = rest;
					rule_dbl = dbl;
					rule_recipe = false;
				}
			} else if (rule.s && (starts(&l, "#  recipe to execute") ||
						   (l.n && l.s[0] == '\t'))) {
				rule_recipe = true;
			} else if (rule.s && starts(&l, "# ") && !starts(&l, "#  ")) {
				/* "# 27 implicit rules, ..." closes the section */
				ret = flush_rule(db, &rule, rule_nl, rule_rest, rule_dbl, rule_recipe);
			}
			break;
		case S_FILES:
			if (!l.n) {
				ret = commit_entry(&m, &e);
			} else if (is(&l, "# Not a target:")) {
				e.not_target = true;
			} else if (l.s[0] == '\t') {
				if (e.have && submake_line(&l))
					e.submake = true;
			} else if (l.s[0] == '#') {
				if (starts(&l, "#  Phony target"))
					e.phony = true;
				else if (starts(&l, "#  recipe to execute"))
					e.recipe = true;
			} else if (var_origin(&prev)) {
				/* a target-specific variable: "target: VAR = value" */
			} else if (!e.have) {
				size_t nl, rest;
				bool dbl;
				if (split_header(&l, &nl, &rest, &dbl)) {
					e.have = true;
					e.header = l;
					e.rest = rest;
					e.dbl = dbl;
					if (!(e.name = strndup(l.s, nl)))
						ret = -ENOMEM;
				}
			} else if (e.name && e.dbl) {
				/* another "target:: prereqs" of a double-colon rule: merged */
				size_t nl, rest;
				bool dbl;
				if (split_header(&l, &nl, &rest, &dbl) && nl == strlen(e.name) &&
				    !memcmp(l.s, e.name, nl))
					ret = add_prereqs(&m, e.name, l.s + rest, l.n - rest);
			}
			break;
		case S_VPATH:
			if (starts(&l, "vpath ")) {
				/* "vpath PATTERN DIR:DIR" */
				const char *p = l.s + 6, *end = l.s + l.n;
				const char *sp = memchr(p, ' ', (size_t)(end - p));
				if (sp) {
					char *pat = strndup(p, (size_t)(sp - p));
					if (!pat) {
						ret = -ENOMEM;
						break;
					}
					ret = add_vpath(db, pat, sp + 1, (size_t)(end - sp - 1));
					free(pat);
				}
			} else if (starts(&l, "# General ('VPATH' variable) search path:")) {
				general_vpath = true;
				goto next;
			} else if (general_vpath && starts(&l, "# ")) {
				ret = add_vpath(db, NULL, l.s + 2, l.n - 2);
			}
			general_vpath = false;
			break;
		default:
			break;
		}
next:
		prev = l;
	}
	if (!ret && sec == S_FILES)
		ret = commit_entry(&m, &e);
	if (!ret && rule.s)
		ret = flush_rule(db, &rule, rule_nl, rule_rest, rule_dbl, rule_recipe);
	if (!ret && makefile_list) {
		struct strlist w = STRLIST_INIT;
		ret = words(makefile_list, strlen(makefile_list), &w);
		for (size_t i = 0; !ret && i < w.n; i++) {
			char *abs = NULL;
			if ((ret = path_abs(w.v[i], db->dir ? db->dir : "/", &abs)) == -EINVAL) {
				ret = 0;
				continue;
			}
			if (ret < 0)
				break;
			ret = strlist_push(&db->makefiles, abs);
			free(abs);
		}
		strlist_release(&w);
	}
out:
	free(e.name);
	free(makefile_list);
	strset_release(&m.names);
	strlist_release(&m.owned);
	return ret;
}

/* ---- the query ------------------------------------------------------------------------- */

/* Does make option letter c take an argument (required)? */
static bool letter_takes_arg(char c)
{
	return c == 'C' || c == 'f' || c == 'I' || c == 'o' || c == 'W' || c == 'E';
}

/* Letters dropped from the query: they print, run or wait. */
static bool letter_dropped(char c)
{
	return c && strchr("dnpqtwsvhjlO", c) != NULL;
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* Long options dropped, with or without "=value". */
static bool long_dropped(const char *a)
{
	static const char *const drop[] = { "--jobs", "--load-average", "--max-load", "--debug",
					    "--print-data-base", "--just-print", "--dry-run",
					    "--recon", "--question", "--touch", "--print-directory",
					    "--no-print-directory", "--output-sync", "--trace",
					    "--silent", "--quiet", "--version", "--help",
					    "--what-if", "--new-file", "--assume-new",
					    "--jobserver-auth", "--jobserver-fds", "--jobserver-style",
					    "--no-silent", NULL };
	for (size_t i = 0; drop[i]; i++) {
		size_t n = strlen(drop[i]);
		if (!strncmp(a, drop[i], n) && (a[n] == '\0' || a[n] == '='))
			return true;
	}
	return false;
}

/* Long options taking a separate argument when written without '='. */
static bool long_takes_arg(const char *a)
{
	static const char *const with[] = { "--directory", "--file", "--makefile",
					    "--include-dir", "--old-file", "--assume-old",
					    "--what-if", "--new-file", "--assume-new", NULL };
	for (size_t i = 0; with[i]; i++)
		if (!strcmp(a, with[i]))
			return true;
	return false;
}

/* The directory make ends up in: cwd, then each -C in order. */
static char *make_dir(const struct bdb_invocation *inv)
{
	char *dir = strdup(inv->cwd ? inv->cwd : "/");
	for (size_t i = 1; dir && i < inv->argc; i++) {
		const char *a = inv->argv[i], *d = NULL;
		char *nd = NULL;
		if (!strcmp(a, "--"))
			break;
		if ((!strcmp(a, "-C") || !strcmp(a, "--directory")) && i + 1 < inv->argc)
			d = inv->argv[++i];
		else if (!strncmp(a, "-C", 2) && a[2])
			d = a + 2;
		else if (!strncmp(a, "--directory=", 12))
			d = a + 12;
		if (!d)
			continue;
		if (path_abs(d, dir, &nd) < 0) {
			free(dir);
			return NULL;
		}
		free(dir);
		dir = nd;
	}
	return dir;
}

int bdb_make_args(const struct bdb_invocation *inv, struct strlist *out)
{
	struct sbuf cl = SBUF_INIT;
	char *dir = NULL;
	int ret = strlist_push(out, inv->exe);
	bool dashdash = false;

	for (size_t i = 1; ret == 0 && i < inv->argc; i++) {
		const char *a = inv->argv[i];
		if (dashdash || a[0] != '-' || !a[1]) {
			/* a goal, or a variable assignment */
			if (strchr(a, '='))
				ret = strlist_push(out, a);
			continue;
		}
		if (!strcmp(a, "--")) {
			dashdash = true;
			continue;
		}
		if (a[1] == '-') {
			if (long_dropped(a)) {
				if (strchr(a, '=') == NULL && (!strcmp(a, "--what-if") ||
							       !strcmp(a, "--new-file") ||
							       !strcmp(a, "--assume-new")))
					i++;
				else if (!strchr(a, '=') && (!strcmp(a, "--jobs") ||
							     !strcmp(a, "--load-average") ||
							     !strcmp(a, "--max-load")) &&
					 i + 1 < inv->argc && all_digits(inv->argv[i + 1]))
					i++;
				continue;
			}
			ret = strlist_push(out, a);
			if (!ret && long_takes_arg(a) && i + 1 < inv->argc)
				ret = strlist_push(out, inv->argv[++i]);
			continue;
		}
		/* a cluster of letters: "-kj4", "-Cdir", "-f", "Makefile" */
		sbuf_reset(&cl);
		sbuf_addch(&cl, '-');
		for (size_t k = 1; a[k] && ret == 0; k++) {
			char c = a[k];
			if (letter_takes_arg(c)) {
				const char *val = a[k + 1] ? a + k + 1 : (i + 1 < inv->argc ? inv->argv[++i] : NULL);
				if (c == 'W') /* --what-if: marks files new; dropped with its argument */
					break;
				if (cl.len > 1)
					ret = strlist_push(out, cl.buf);
				sbuf_reset(&cl);
				sbuf_addch(&cl, '-');
				if (!ret) {
					char opt[3] = { '-', c, '\0' };
					ret = strlist_push(out, opt);
				}
				if (!ret && val)
					ret = strlist_push(out, val);
				break;
			}
			if (c == 'j' || c == 'l' || c == 'O') {
				/* optional argument: the rest of the cluster, or a number next */
				if (!a[k + 1] && c != 'O' && i + 1 < inv->argc && all_digits(inv->argv[i + 1]))
					i++;
				break;
			}
			if (!letter_dropped(c))
				sbuf_addch(&cl, c);
		}
		if (!ret && cl.len > 1)
			ret = strlist_push(out, cl.buf);
		if (!ret && sbuf_error(&cl))
			ret = sbuf_error(&cl);
	}
	if (!ret)
		ret = strlist_push(out, "-pnq");
	if (!ret)
		ret = strlist_push(out, "--no-print-directory");
	if (!ret)
		ret = strlist_push(out, "--eval=" DUMMY_GOAL ":");
	if (!ret && !(dir = make_dir(inv)))
		ret = -ENOMEM;
	for (size_t i = 0; !ret && i < inv->nread; i++) {
		const char *f = inv->read_files[i];
		size_t dl = strlen(dir);
		/* make names a makefile as it was given: relative to its directory */
		if (!strncmp(f, dir, dl) && f[dl] == '/')
			f += dl + 1;
		ret = strlist_push(out, "-o");
		if (!ret)
			ret = strlist_push(out, f);
	}
	if (!ret)
		ret = strlist_push(out, DUMMY_GOAL);
	free(dir);
	sbuf_release(&cl);
	return ret;
}

int bdb_make_goals(const struct bdb_invocation *inv, struct strlist *out)
{
	bool dashdash = false;
	int ret = 0;
	for (size_t i = 1; ret == 0 && i < inv->argc; i++) {
		const char *a = inv->argv[i];
		if (!dashdash && !strcmp(a, "--")) {
			dashdash = true;
		} else if (dashdash || a[0] != '-' || !a[1]) {
			if (!strchr(a, '='))
				ret = strlist_push(out, a);
		} else if (a[1] == '-') {
			if (long_takes_arg(a))
				i++;
		} else {
			/* a letter cluster: skip the value of the first letter that takes one */
			for (size_t k = 1; a[k]; k++)
				if (letter_takes_arg(a[k])) {
					if (!a[k + 1])
						i++;
					break;
				}
		}
	}
	return ret;
}

char *bdb_make_flags(const char *mf)
{
	struct sbuf sb = SBUF_INIT;
	size_t i = 0, n = strlen(mf);
	bool first = true, vars = false;

	sbuf_init(&sb, 0);
	sbuf_addstr(&sb, "");
	while (i < n) {
		size_t j;
		char *tok;
		while (i < n && mf[i] == ' ')
			i++;
		j = i;
		while (j < n && mf[j] != ' ') {
			if (mf[j] == '\\' && j + 1 < n)
				j++;
			j++;
		}
		if (j == i)
			break;
		tok = strndup(mf + i, j - i);
		if (!tok) {
			sbuf_release(&sb);
			return NULL;
		}
		if (vars || !strcmp(tok, "--")) {
			vars = true;
			if (sb.len)
				sbuf_addch(&sb, ' ');
			sbuf_addstr(&sb, tok);
		} else if (first && tok[0] != '-') {
			/* the single-letter flags, without their dash */
			struct sbuf keep = SBUF_INIT;
			for (const char *c = tok; *c; c++)
				if (!letter_dropped(*c) && !letter_takes_arg(*c))
					sbuf_addch(&keep, *c);
			if (keep.len)
				sbuf_addstr(&sb, keep.buf);
			sbuf_release(&keep);
		} else if (!(tok[0] == '-' && tok[1] != '-' && letter_dropped(tok[1])) &&
			   !long_dropped(tok)) {
			if (sb.len)
				sbuf_addch(&sb, ' ');
			sbuf_addstr(&sb, tok);
		}
		first = false;
		free(tok);
		i = j;
	}
	return sbuf_detach(&sb, NULL);
}

/* The environment for a query: the recorded one without the shim's and with a
 * filtered MAKEFLAGS.  Strings in `keep` are owned by `own`. */
static int query_env(const struct bdb_invocation *inv, struct strlist *own)
{
	int ret = 0;
	for (size_t i = 0; ret == 0 && i < inv->envc; i++) {
		const char *e = inv->env[i];
		if (!strncmp(e, "LD_PRELOAD=", 11) || !strncmp(e, "GG_", 3) ||
		    !strncmp(e, "MFLAGS=", 7) || !strncmp(e, "MAKE_TERMOUT=", 13) ||
		    !strncmp(e, "MAKE_TERMERR=", 13))
			continue;
		if (!strncmp(e, "MAKEFLAGS=", 10)) {
			char *f = bdb_make_flags(e + 10);
			if (!f)
				return -ENOMEM;
			ret = strlist_pushf(own, "MAKEFLAGS=%s", f);
			free(f);
			continue;
		}
		ret = strlist_push(own, e);
	}
	return ret;
}

static void first_line(const struct sbuf *sb, char *out, size_t cap)
{
	size_t n = 0;
	out[0] = '\0';
	if (!sb->buf)
		return;
	while (n < sb->len && sb->buf[n] != '\n')
		n++;
	snprintf(out, cap, "%.*s", (int)(n < 300 ? n : 300), sb->buf);
}

int bdb_query_make(struct bdb *db, const struct bdb_invocation *inv, char *err, size_t errlen)
{
	struct strlist args = STRLIST_INIT, env = STRLIST_INIT;
	struct sbuf out = SBUF_INIT, eout = SBUF_INIT;
	char msg[400];
	int status = 0, ret;

	bdb_init(db, BDB_MAKE, NULL);
	sbuf_init(&out, BDB_MAX_OUTPUT);
	if ((ret = bdb_make_args(inv, &args)) < 0 || (ret = query_env(inv, &env)) < 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (!env.v && (ret = strlist_push(&env, "PATH=/usr/bin:/bin")) < 0)
		goto out;
	ret = audit_spawn((const char *const *)args.v, (const char *const *)env.v, inv->cwd,
			  &out, &eout, &status);
	if (ret < 0) {
		snprintf(err, errlen, "cannot run '%s' in '%s': %s", inv->exe,
			 inv->cwd ? inv->cwd : "/", strerror(-ret));
		goto out;
	}
	first_line(&eout, msg, sizeof(msg));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !out.buf ||
	    !strstr(out.buf, "\n# Files")) {
		snprintf(err, errlen, "'%s -pnq' in '%s' failed (%s %d)%s%s", inv->exe,
			 inv->cwd ? inv->cwd : "/",
			 WIFEXITED(status) ? "exit status" : "signal",
			 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
			 msg[0] ? ": " : "", msg);
		ret = -EPROTO;
		goto out;
	}
	/* CURDIR is one line of the database: a directory with a newline in its name
	 * cannot be read back from it, so it is taken from the invocation instead */
	{
		char *dir = make_dir(inv);
		if (dir && strchr(dir, '\n')) {
			db->dir = dir;
			db->dir_fixed = true;
		} else {
			free(dir);
		}
	}
	ret = bdb_parse_make(db, out.buf, out.len, inv->cwd);
	if (ret < 0) {
		snprintf(err, errlen, "cannot read the database of '%s' in '%s': %s", inv->exe,
			 inv->cwd ? inv->cwd : "/", strerror(-ret));
	} else if (!db->makefiles.n) {
		/* only the built-in rules: the makefile the build used is gone */
		snprintf(err, errlen, "make finds no makefile in '%s' any more",
			 db->dir ? db->dir : inv->cwd ? inv->cwd : "/");
		ret = -ENOENT;
	}
out:
	strlist_release(&args);
	strlist_release(&env);
	sbuf_release(&out);
	sbuf_release(&eout);
	return ret;
}
