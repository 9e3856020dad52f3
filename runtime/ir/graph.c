/*
 * graph.c - the build graph in memory and in <ggdir>/graph (see graph.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/ir/graph.h"
#include "runtime/lib/mpread.h"
#include "runtime/lib/util.h"

#define GRAPH_MAX_FILE ((size_t)1 << 31)

struct graph_index {
	const struct graph *g;
	/* path -> index into outs: which node's output wins (see index_insert) */
	struct htab paths;
	struct { size_t node, out; } *outs;
	size_t nouts, outs_alloc;
	/* thunk hash -> node */
	struct htab hashes;
};

static int index_insert(struct graph *g, size_t i);

void graph_init(struct graph *g)
{
	memset(g, 0, sizeof(*g));
}

static void index_free(struct graph *g)
{
	struct graph_index *ix = g->index;
	if (!ix)
		return;
	htab_release(&ix->paths);
	htab_release(&ix->hashes);
	free(ix->outs);
	free(ix);
	g->index = NULL;
}

void graph_node_release(struct graph_node *n)
{
	if (n->block) { /* loaded: everything in one block (graph_load) */
		free(n->block);
		memset(n, 0, sizeof(*n));
		return;
	}
	free(n->label);
	free(n->command);
	free(n->deps);
	for (size_t i = 0; i < n->noutputs; i++)
		free(n->outputs[i].path);
	free(n->outputs);
	memset(n, 0, sizeof(*n));
}

int graph_node_own(struct graph_node *n)
{
	struct graph_node own = { .hash = n->hash, .local = n->local, .ms = n->ms, .ndeps = n->ndeps,
				  .noutputs = n->noutputs };

	if (!n->block)
		return 0;
	own.label = strdup(n->label);
	own.command = strdup(n->command);
	own.deps = calloc(n->ndeps + 1, sizeof(*own.deps));
	own.outputs = calloc(n->noutputs + 1, sizeof(*own.outputs));
	if (!own.label || !own.command || !own.deps || !own.outputs)
		goto out_nomem;
	if (n->ndeps)
		memcpy(own.deps, n->deps, n->ndeps * sizeof(*own.deps));
	for (size_t i = 0; i < n->noutputs; i++) {
		own.outputs[i] = n->outputs[i];
		if (!(own.outputs[i].path = strdup(n->outputs[i].path))) {
			own.noutputs = i;
			goto out_nomem;
		}
	}
	graph_node_release(n);
	*n = own;
	return 0;
out_nomem:
	graph_node_release(&own);
	return -ENOMEM;
}

void graph_release(struct graph *g)
{
	for (size_t i = 0; i < g->n; i++)
		graph_node_release(&g->nodes[i]);
	free(g->nodes);
	free(g->tree);
	for (size_t i = 0; i < g->ndriver_inputs; i++)
		free(g->driver_inputs[i].path);
	free(g->driver_inputs);
	index_free(g);
	graph_init(g);
}

int graph_add(struct graph *g, struct graph_node *node)
{
	if (g->n == g->alloc) {
		size_t na = g->alloc ? g->alloc * 2 : 64;
		struct graph_node *nn = realloc(g->nodes, na * sizeof(*nn));
		if (!nn)
			return -ENOMEM;
		g->nodes = nn;
		g->alloc = na;
	}
	g->nodes[g->n++] = *node;
	memset(node, 0, sizeof(*node));
	if (g->index && index_insert(g, g->n - 1) < 0)
		index_free(g); /* out of memory: rebuilt on the next lookup */
	return 0;
}

void graph_reindex(struct graph *g)
{
	index_free(g);
}

size_t graph_edges(const struct graph *g)
{
	size_t e = 0;
	for (size_t i = 0; i < g->n; i++)
		e += g->nodes[i].ndeps;
	return e;
}

/* ---- index ------------------------------------------------------------------ */

static const char *out_path(const struct graph_index *ix, uint32_t val)
{
	return ix->g->nodes[ix->outs[val].node].outputs[ix->outs[val].out].path;
}

static bool path_eq(const void *ctx, uint32_t val, const void *key)
{
	return !strcmp(out_path(ctx, val), key);
}

static bool hash_eq(const void *ctx, uint32_t val, const void *key)
{
	const struct graph_index *ix = ctx;
	return hash_equal(&ix->g->nodes[val].hash, key);
}

/*
 * Index node i (the nodes before it are): its hash, and each output path unless
 * an earlier node's final version of that path is there and this one is not
 * final.  So the final version wins, else the last in topological order.
 */
static int index_insert(struct graph *g, size_t i)
{
	struct graph_index *ix = g->index;
	const struct graph_node *n = &g->nodes[i];
	int ret;

	ix->g = g; /* g->nodes moves as it grows */
	if ((ret = htab_add(&ix->hashes, hash_key64(&n->hash), (uint32_t)i)) < 0)
		return ret;
	for (size_t k = 0; k < n->noutputs; k++) {
		const char *p = n->outputs[k].path;
		uint64_t h = str_hash(p);
		uint32_t *ref = htab_ref(&ix->paths, h, path_eq, ix, p), v;
		if (ref) {
			v = *ref;
			if (g->nodes[ix->outs[v].node].outputs[ix->outs[v].out].final &&
			    !n->outputs[k].final)
				continue;
		} else {
			if (ix->nouts == ix->outs_alloc) {
				size_t na = ix->outs_alloc ? ix->outs_alloc * 2 : 64;
				void *nv = realloc(ix->outs, na * sizeof(*ix->outs));
				if (!nv)
					return -ENOMEM;
				ix->outs = nv;
				ix->outs_alloc = na;
			}
			if ((ret = htab_add(&ix->paths, h, (uint32_t)ix->nouts)) < 0)
				return ret;
			v = (uint32_t)ix->nouts++;
		}
		ix->outs[v].node = i;
		ix->outs[v].out = k;
	}
	return 0;
}

static int index_build(struct graph *g)
{
	size_t nout = 0;
	int ret;

	if (g->index)
		return 0;
	if (!(g->index = calloc(1, sizeof(*g->index))))
		return -ENOMEM;
	for (size_t i = 0; i < g->n; i++)
		nout += g->nodes[i].noutputs;
	if ((ret = htab_reserve(&g->index->hashes, g->n)) < 0 ||
	    (ret = htab_reserve(&g->index->paths, nout)) < 0)
		goto out_free;
	for (size_t i = 0; i < g->n; i++)
		if ((ret = index_insert(g, i)) < 0)
			goto out_free;
	return 0;

out_free:
	index_free(g);
	return ret;
}

/* The index, built if need be, or NULL (out of memory, or no nodes). */
static struct graph_index *index_get(struct graph *g)
{
	if (index_build(g) < 0 || !g->n)
		return NULL;
	g->index->g = g;
	return g->index;
}

long graph_find_path(struct graph *g, const char *path, size_t *output)
{
	return graph_find_path_hashed(g, path, str_hash(path), output);
}

long graph_find_path_hashed(struct graph *g, const char *path, uint64_t path_hash,
			    size_t *output)
{
	struct graph_index *ix = index_get(g);
	uint32_t v;

	if (!ix || (v = htab_find(&ix->paths, path_hash, path_eq, ix, path)) == HTAB_NONE)
		return -1;
	if (output)
		*output = ix->outs[v].out;
	return (long)ix->outs[v].node;
}

long graph_find_hash(struct graph *g, const struct gg_hash *h)
{
	struct graph_index *ix = index_get(g);
	uint32_t v;

	if (!ix || (v = htab_find(&ix->hashes, hash_key64(h), hash_eq, ix, h)) == HTAB_NONE)
		return -1;
	return (long)v;
}

/* ---- save ------------------------------------------------------------------- */

static void pack_str(msgpack_packer *pk, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	msgpack_pack_str_with_body(pk, s ? s : "", n);
}

static void pack_hash(msgpack_packer *pk, const struct gg_hash *h)
{
	unsigned char b[1 + GG_HASH_LEN];
	if (!hash_is_set(h)) {
		msgpack_pack_nil(pk);
		return;
	}
	b[0] = h->kind;
	memcpy(b + 1, h->bytes, GG_HASH_LEN);
	msgpack_pack_bin_with_body(pk, b, sizeof(b));
}

int graph_save(const struct graph *g, const char *file)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int ret;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 5);
	pack_str(&pk, GRAPH_MAGIC);
	msgpack_pack_uint32(&pk, GRAPH_VERSION);
	pack_str(&pk, g->tree);
	msgpack_pack_array(&pk, g->n);
	for (size_t i = 0; i < g->n; i++) {
		const struct graph_node *n = &g->nodes[i];
		msgpack_pack_array(&pk, 7);
		pack_hash(&pk, &n->hash);
		pack_str(&pk, n->label);
		pack_str(&pk, n->command);
		msgpack_pack_uint32(&pk, n->local);
		msgpack_pack_array(&pk, n->ndeps);
		for (size_t k = 0; k < n->ndeps; k++)
			msgpack_pack_uint64(&pk, n->deps[k]);
		msgpack_pack_array(&pk, n->noutputs);
		for (size_t k = 0; k < n->noutputs; k++) {
			msgpack_pack_array(&pk, 4);
			pack_str(&pk, n->outputs[k].path);
			pack_hash(&pk, &n->outputs[k].value);
			msgpack_pack_uint32(&pk, n->outputs[k].mode);
			if (n->outputs[k].final)
				msgpack_pack_true(&pk);
			else
				msgpack_pack_false(&pk);
		}
		msgpack_pack_uint32(&pk, n->ms);
	}
	msgpack_pack_array(&pk, g->ndriver_inputs);
	for (size_t k = 0; k < g->ndriver_inputs; k++) {
		msgpack_pack_array(&pk, 4);
		pack_str(&pk, g->driver_inputs[k].path);
		pack_hash(&pk, &g->driver_inputs[k].value);
		msgpack_pack_uint32(&pk, g->driver_inputs[k].mode);
		msgpack_pack_true(&pk);
	}
	ret = file_write_atomic(file, sb.data, sb.size, true);
	msgpack_sbuffer_destroy(&sb);
	return ret;
}

/* ---- load ------------------------------------------------------------------- */

/*
 * A node is read in two passes over its bytes: the first checks it and sizes one
 * block (deps, outputs, then the strings), the second fills the block.  So a loaded
 * node costs one allocation, and freeing the graph one free per node.
 */
struct node_size {
	size_t ndeps, nout, strings;
};

static int rd_string(struct mpr *r, const char **s, size_t *len)
{
	int ret = mpr_bytes(r, s, len);
	return ret < 0 || memchr(*s, '\0', *len) ? -EBADMSG : 0;
}

static int rd_hash(struct mpr *r, struct gg_hash *h, bool nil_ok)
{
	const char *b;
	size_t len;

	if (nil_ok && mpr_nil(r)) {
		memset(h, 0, sizeof(*h));
		h->kind = GG_HASH_NONE;
		return 0;
	}
	if (mpr_bytes(r, &b, &len) < 0 || len != 1 + GG_HASH_LEN ||
	    !hash_kind_valid((unsigned char)b[0]))
		return -EBADMSG;
	h->kind = (unsigned char)b[0];
	memcpy(h->bytes, b + 1, GG_HASH_LEN);
	return 0;
}

static int rd_u32(struct mpr *r, uint32_t *v)
{
	uint64_t x;
	if (mpr_uint(r, &x) < 0 || x > UINT32_MAX)
		return -EBADMSG;
	*v = (uint32_t)x;
	return 0;
}

/* The rest of an array of `n` elements of which `used` were read. */
static int rd_skip_rest(struct mpr *r, size_t n, size_t used)
{
	for (size_t i = used; i < n; i++)
		if (mpr_skip(r) < 0)
			return -EBADMSG;
	return 0;
}

/* An output [path, value, mode, final?, ...]; *path points into the buffer. */
static int rd_output(struct mpr *r, struct graph_output *go, const char **path, size_t *len)
{
	size_t n;

	if (mpr_array(r, &n) < 0 || n < 3 || rd_string(r, path, len) < 0 || !*len ||
	    rd_hash(r, &go->value, true) < 0 || rd_u32(r, &go->mode) < 0)
		return -EBADMSG;
	go->final = true;
	if (n >= 4 && mpr_bool(r, &go->final) < 0) {
		if (mpr_skip(r) < 0)
			return -EBADMSG;
		go->final = false; /* (not a boolean: as the previous reader did) */
	}
	return rd_skip_rest(r, n, n >= 4 ? 4 : 3);
}

static char *put_str(char **at, const char *s, size_t len)
{
	char *d = *at;
	memcpy(d, s, len);
	d[len] = '\0';
	*at = d + len + 1;
	return d;
}

/*
 * Node `index` at r: sized (fill NULL: *sz filled, n untouched) or filled into a
 * block of the size the sizing pass asked for (fill: n's fields point into it).
 */
static int rd_node(struct mpr *r, size_t index, struct node_size *sz, struct graph_node *n,
		   char *fill)
{
	const char *label, *command, *path;
	size_t fields, ndeps, nout, llen, clen, plen;
	struct gg_hash h;
	uint64_t local;
	char *at = NULL;

	if (mpr_array(r, &fields) < 0 || fields < 6 || rd_hash(r, &h, false) < 0 ||
	    h.kind != GG_HASH_THUNK || rd_string(r, &label, &llen) < 0 ||
	    rd_string(r, &command, &clen) < 0 || mpr_uint(r, &local) < 0 || local > UINT32_MAX ||
	    mpr_array(r, &ndeps) < 0)
		return -EBADMSG;
	if (fill) {
		n->hash = h;
		n->local = (uint32_t)local;
		n->deps = (size_t *)fill;
		n->outputs = (struct graph_output *)(fill + sz->ndeps * sizeof(size_t));
		at = (char *)(n->outputs + sz->nout);
		n->label = put_str(&at, label, llen);
		n->command = put_str(&at, command, clen);
		n->ndeps = ndeps;
	}
	for (size_t i = 0; i < ndeps; i++) {
		uint64_t d;
		if (mpr_uint(r, &d) < 0 || d >= index) /* topological order */
			return -EBADMSG;
		if (fill)
			n->deps[i] = (size_t)d;
	}
	if (mpr_array(r, &nout) < 0)
		return -EBADMSG;
	if (!fill)
		*sz = (struct node_size){ ndeps, nout, llen + clen + 2 };
	for (size_t i = 0; i < nout; i++) {
		struct graph_output go;
		if (rd_output(r, &go, &path, &plen) < 0)
			return -EBADMSG;
		if (fill) {
			go.path = put_str(&at, path, plen);
			n->outputs[i] = go;
		} else {
			sz->strings += plen + 1;
		}
	}
	if (fill)
		n->noutputs = nout;
	if (fields >= 7 && rd_u32(r, fill ? &n->ms : &(uint32_t){ 0 }) < 0)
		return -EBADMSG;
	return rd_skip_rest(r, fields, fields >= 7 ? 7 : 6);
}

static int load_node(struct mpr *r, size_t index, struct graph_node *n)
{
	struct mpr again = *r;
	struct node_size sz;
	char *block;
	int ret;

	memset(n, 0, sizeof(*n));
	if ((ret = rd_node(r, index, &sz, NULL, NULL)) < 0)
		return ret;
	block = malloc(sz.ndeps * sizeof(size_t) + sz.nout * sizeof(struct graph_output) +
		       sz.strings);
	if (!block)
		return -ENOMEM;
	(void)rd_node(&again, index, &sz, n, block); /* (the same bytes: checked) */
	n->block = block;
	return 0;
}

int graph_load(struct graph *g, const char *file)
{
	struct sbuf data = SBUF_INIT;
	struct mpr r;
	size_t fields, nnodes, ndrv;
	const char *magic, *tree;
	size_t mlen, tlen;
	uint64_t version;
	int ret;

	graph_init(g);
	if ((ret = file_read_all(file, &data, GRAPH_MAX_FILE)) < 0) {
		sbuf_release(&data);
		return ret;
	}
	r = (struct mpr){ (const uint8_t *)data.buf, (const uint8_t *)data.buf + data.len };
	ret = -EBADMSG;
	if (mpr_array(&r, &fields) < 0 || fields < 4 || mpr_bytes(&r, &magic, &mlen) < 0 ||
	    mlen != strlen(GRAPH_MAGIC) || memcmp(magic, GRAPH_MAGIC, mlen) ||
	    mpr_uint(&r, &version) < 0)
		goto out;
	if (version != GRAPH_VERSION) {
		ret = -EPROTONOSUPPORT;
		goto out;
	}
	if (rd_string(&r, &tree, &tlen) < 0)
		goto out;
	if (!(g->tree = strndup(tree, tlen))) {
		ret = -ENOMEM;
		goto out;
	}
	if (mpr_array(&r, &nnodes) < 0)
		goto out;
	if (nnodes && !(g->nodes = calloc(nnodes, sizeof(*g->nodes)))) {
		ret = -ENOMEM;
		goto out;
	}
	g->alloc = nnodes;
	for (size_t i = 0; i < nnodes; i++, g->n++)
		if ((ret = load_node(&r, i, &g->nodes[i])) < 0)
			goto out;
	ret = -EBADMSG;
	if (fields >= 5) {
		if (mpr_array(&r, &ndrv) < 0)
			goto out;
		if (!(g->driver_inputs = calloc(ndrv + 1, sizeof(*g->driver_inputs)))) {
			ret = -ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < ndrv; i++) {
			struct graph_output *go = &g->driver_inputs[i];
			const char *path;
			size_t plen;
			if (rd_output(&r, go, &path, &plen) < 0)
				goto out;
			go->final = true;
			if (!(go->path = strndup(path, plen))) {
				ret = -ENOMEM;
				goto out;
			}
			g->ndriver_inputs = i + 1;
		}
	}
	if (rd_skip_rest(&r, fields, fields >= 5 ? 5 : 4) < 0 || r.p != r.end)
		goto out;
	ret = 0;
out:
	sbuf_release(&data);
	if (ret < 0)
		graph_release(g);
	return ret;
}

int graph_recorded_value(void *graph, const struct gg_hash *producer, uint32_t output,
			 struct gg_hash *value)
{
	struct graph *g = graph;
	long n = graph_find_hash(g, producer);
	if (n < 0 || output >= g->nodes[n].noutputs || !hash_is_set(&g->nodes[n].outputs[output].value))
		return -ENOENT;
	*value = g->nodes[n].outputs[output].value;
	return 0;
}
