/*
 * audit_dot.c - Graphviz drawings of the graph with the audit's marks (audit.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "inferer/audit/audit.h"

#define COLOR_PURE "#e8f0fe"
#define COLOR_LOCAL "#fde2cf"
#define COLOR_CACHED "#d9f2d9"
#define COLOR_MISSING "#d93025"
#define COLOR_LUCK "#e37400"
#define COLOR_EDGE "#8a94a6"

int audit_dot_escape(struct sbuf *sb, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n = strlen(str);
	for (size_t i = 0; i < n;) {
		size_t l = utf8_len(s + i, n - i);
		unsigned c = s[i];
		if (!l) {
			/* an invalid byte: its Latin-1 reading, as UTF-8 */
			sbuf_addch(sb, (char)(0xc0 | (c >> 6)));
			sbuf_addch(sb, (char)(0x80 | (c & 0x3f)));
			i++;
			continue;
		}
		if (l == 1) {
			if (c == '"' || c == '\\')
				sbuf_addch(sb, '\\');
			if (c == '\n')
				sbuf_addstr(sb, "\\n");
			else if (c < 0x20 || c == 0x7f)
				sbuf_addch(sb, '?');
			else
				sbuf_addch(sb, (char)c);
		} else {
			sbuf_add(sb, s + i, l);
		}
		i += l;
	}
	return sbuf_error(sb);
}

/* The directory part of a node's label ("" for the top of the tree). */
static size_t label_dir(const char *label)
{
	const char *sl = strrchr(label, '/');
	return sl ? (size_t)(sl - label) : 0;
}

static void put_str(FILE *out, struct sbuf *tmp, const char *s)
{
	sbuf_reset(tmp);
	audit_dot_escape(tmp, s ? s : "");
	fputc('"', out);
	if (tmp->buf)
		fwrite(tmp->buf, 1, tmp->len, out);
	fputc('"', out);
}

/* A node; inside a directory's cluster its label is the file name alone. */
static void put_node(FILE *out, struct sbuf *tmp, const struct graph *g, size_t i,
		     uint8_t m, const char *indent, bool in_cluster)
{
	fprintf(out, "%sn%zu [label=", indent, i);
	put_str(out, tmp, in_cluster ? path_base(g->nodes[i].label) : g->nodes[i].label);
	fputs(", tooltip=", out);
	put_str(out, tmp, g->nodes[i].command);
	if (m & AUDIT_DOT_LOCAL)
		fputs(", fillcolor=\"" COLOR_LOCAL "\"", out);
	else if (m & AUDIT_DOT_CACHED)
		fputs(", fillcolor=\"" COLOR_CACHED "\"", out);
	if (m & AUDIT_DOT_MISSING)
		fputs(", color=\"" COLOR_MISSING "\", penwidth=2.5", out);
	else if (m & AUDIT_DOT_LUCK)
		fputs(", color=\"" COLOR_LUCK "\", penwidth=2", out);
	fputs("];\n", out);
}

static int dir_cmp(const void *x, const void *y, void *ctx)
{
	const struct graph *g = ctx;
	size_t a = *(const size_t *)x, b = *(const size_t *)y;
	const char *la = g->nodes[a].label, *lb = g->nodes[b].label;
	size_t da = label_dir(la), db = label_dir(lb);
	int c = strncmp(la, lb, da < db ? da : db);
	if (c)
		return c;
	if (da != db)
		return da < db ? -1 : 1;
	return a < b ? -1 : a > b;
}

int audit_graph_dot(FILE *out, const struct graph *g, const struct audit_dot *d)
{
	struct audit_dot none = { .clusters = true };
	struct sbuf tmp = SBUF_INIT;
	size_t *order = NULL, norder = 0;
	bool *shown = NULL;
	int ret = 0;

	if (!d)
		d = &none;
	order = malloc((g->n + 1) * sizeof(*order));
	shown = calloc(g->n + 1, sizeof(*shown));
	if (!order || !shown) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < g->n; i++)
		shown[i] = !d->only_marked;
	for (size_t e = 0; e < d->nedges; e++)
		if (d->edges[e].from < g->n && d->edges[e].to < g->n)
			shown[d->edges[e].from] = shown[d->edges[e].to] = true;
	for (size_t i = 0; i < g->n; i++)
		if (shown[i])
			order[norder++] = i;
	if (d->clusters)
		qsort_r(order, norder, sizeof(*order), dir_cmp, (void *)g);

	fputs("digraph gg {\n"
	      "  rankdir=LR;\n"
	      "  graph [fontname=\"Helvetica\", fontsize=11, labeljust=l];\n"
	      "  node [shape=box, style=\"rounded,filled\", fillcolor=\"" COLOR_PURE "\", "
	      "color=\"#5f6b7a\", fontname=\"Helvetica\", fontsize=10];\n"
	      "  edge [color=\"" COLOR_EDGE "\", arrowsize=0.7, fontname=\"Helvetica\", "
	      "fontsize=9];\n", out);
	if (d->only_marked && !d->nedges)
		fputs("  empty [shape=plaintext, style=\"\", label=\"no offending edge\"];\n", out);
	/* nodes, one cluster per directory */
	for (size_t k = 0; k < norder;) {
		const char *lab = g->nodes[order[k]].label;
		size_t dl = label_dir(lab), end = k + 1;
		while (end < norder && label_dir(g->nodes[order[end]].label) == dl &&
		       !strncmp(g->nodes[order[end]].label, lab, dl))
			end++;
		if (d->clusters && dl) {
			char *dir = strndup(lab, dl);
			if (!dir) {
				ret = -ENOMEM;
				goto out;
			}
			fprintf(out, "  subgraph \"cluster_%zu\" {\n    label=", k);
			put_str(out, &tmp, dir);
			fputs(";\n    style=\"rounded,dashed\"; color=\"#aab4c3\";\n", out);
			free(dir);
			for (size_t i = k; i < end; i++)
				put_node(out, &tmp, g, order[i], d->marks ? d->marks[order[i]] : 0, "    ",
					 true);
			fputs("  }\n", out);
		} else {
			for (size_t i = k; i < end; i++)
				put_node(out, &tmp, g, order[i], d->marks ? d->marks[order[i]] : 0, "  ",
					 false);
		}
		k = end;
	}
	/* plain edges (not drawn again when highlighted) */
	for (size_t i = 0; i < g->n; i++) {
		if (!shown[i])
			continue;
		for (size_t k = 0; k < g->nodes[i].ndeps; k++) {
			size_t p = g->nodes[i].deps[k];
			bool hl = false;
			if (!shown[p])
				continue;
			for (size_t e = 0; e < d->nedges && !hl; e++)
				hl = d->edges[e].from == p && d->edges[e].to == i;
			if (!hl)
				fprintf(out, "  n%zu -> n%zu;\n", p, i);
		}
	}
	for (size_t e = 0; e < d->nedges; e++) {
		const struct audit_dot_edge *x = &d->edges[e];
		if (x->from >= g->n || x->to >= g->n)
			continue;
		fprintf(out, "  n%zu -> n%zu [label=", x->from, x->to);
		put_str(out, &tmp, x->path ? path_base(x->path) : "");
		if (x->status == AUDIT_MISSING)
			fputs(", color=\"" COLOR_MISSING "\", fontcolor=\"" COLOR_MISSING
			      "\", penwidth=2.5];\n", out);
		else
			fputs(", color=\"" COLOR_LUCK "\", fontcolor=\"" COLOR_LUCK
			      "\", style=dashed, penwidth=2];\n", out);
	}
	/* the legend */
	fputs("  subgraph cluster_legend {\n"
	      "    label=\"legend\"; style=\"rounded\"; color=\"#aab4c3\"; fontsize=10;\n"
	      "    node [fontsize=9, width=0, height=0];\n"
	      "    legend_pure [label=\"pure thunk\"];\n"
	      "    legend_local [label=\"local-only\", fillcolor=\"" COLOR_LOCAL "\"];\n"
	      "    legend_cached [label=\"cached\", fillcolor=\"" COLOR_CACHED "\"];\n"
	      "    legend_missing [label=\"reads an undeclared file\", color=\"" COLOR_MISSING
	      "\", penwidth=2.5];\n"
	      "    legend_luck [label=\"ordered by luck\", color=\"" COLOR_LUCK
	      "\", penwidth=2];\n"
	      "    legend_pure -> legend_local -> legend_cached [style=invis];\n"
	      "    legend_missing -> legend_luck [style=invis];\n"
	      "  }\n"
	      "}\n", out);
	if (ferror(out))
		ret = -EIO;
out:
	sbuf_release(&tmp);
	free(order);
	free(shown);
	return ret;
}

int audit_dot_marks(const struct graph *g, const struct audit_edges *e, uint8_t **marks,
		    struct audit_dot_edge **edges, size_t *nedges)
{
	uint8_t *m = calloc(g->n + 1, 1);
	struct audit_dot_edge *v = NULL;
	size_t n = 0;

	if (!m)
		return -ENOMEM;
	for (size_t i = 0; i < g->n; i++)
		if (g->nodes[i].local)
			m[i] |= AUDIT_DOT_LOCAL;
	if (e && e->n) {
		v = calloc(e->n, sizeof(*v));
		if (!v) {
			free(m);
			return -ENOMEM;
		}
		for (size_t i = 0; i < e->n; i++) {
			const struct audit_edge *x = &e->v[i];
			if (x->status != AUDIT_MISSING && x->status != AUDIT_ORDER_ONLY &&
			    x->status != AUDIT_DEPFILE_ONLY)
				continue;
			if (x->consumer < g->n)
				m[x->consumer] |= x->status == AUDIT_MISSING ? AUDIT_DOT_MISSING
									     : AUDIT_DOT_LUCK;
			v[n++] = (struct audit_dot_edge){ x->producer, x->consumer, x->path, x->status };
		}
	}
	*marks = m;
	*edges = v;
	*nedges = n;
	return 0;
}
