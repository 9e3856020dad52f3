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
	free(n->label);
	free(n->command);
	free(n->deps);
	for (size_t i = 0; i < n->noutputs; i++)
		free(n->outputs[i].path);
	free(n->outputs);
	memset(n, 0, sizeof(*n));
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
	struct graph_index *ix = index_get(g);
	uint32_t v;

	if (!ix || (v = htab_find(&ix->paths, str_hash(path), path_eq, ix, path)) == HTAB_NONE)
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
		msgpack_pack_array(&pk, 6);
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

static char *obj_strdup(const msgpack_object *o)
{
	const char *p;
	size_t n;
	char *s;

	if (o->type == MSGPACK_OBJECT_STR) {
		p = o->via.str.ptr;
		n = o->via.str.size;
	} else if (o->type == MSGPACK_OBJECT_BIN) {
		p = o->via.bin.ptr;
		n = o->via.bin.size;
	} else {
		return NULL;
	}
	if (memchr(p, '\0', n))
		return NULL;
	s = malloc(n + 1);
	if (!s)
		return NULL;
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

static int obj_hash(const msgpack_object *o, struct gg_hash *h, bool nil_ok)
{
	if (o->type == MSGPACK_OBJECT_NIL && nil_ok) {
		memset(h, 0, sizeof(*h));
		h->kind = GG_HASH_NONE;
		return 0;
	}
	if (o->type != MSGPACK_OBJECT_BIN || o->via.bin.size != 1 + GG_HASH_LEN ||
	    !hash_kind_valid((unsigned char)o->via.bin.ptr[0]))
		return -EBADMSG;
	h->kind = (unsigned char)o->via.bin.ptr[0];
	memcpy(h->bytes, o->via.bin.ptr + 1, GG_HASH_LEN);
	return 0;
}

static bool is_uint(const msgpack_object *o)
{
	return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER;
}

static int load_node(const msgpack_object *o, size_t index, struct graph_node *n)
{
	const msgpack_object *f, *d, *outs;

	memset(n, 0, sizeof(*n));
	if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size < 6)
		return -EBADMSG;
	f = o->via.array.ptr;
	if (obj_hash(&f[0], &n->hash, false) < 0 || n->hash.kind != GG_HASH_THUNK)
		return -EBADMSG;
	n->label = obj_strdup(&f[1]);
	n->command = obj_strdup(&f[2]);
	if (!n->label || !n->command || !is_uint(&f[3]) || f[3].via.u64 > UINT32_MAX)
		return -EBADMSG;
	n->local = (uint32_t)f[3].via.u64;
	d = &f[4];
	outs = &f[5];
	if (d->type != MSGPACK_OBJECT_ARRAY || outs->type != MSGPACK_OBJECT_ARRAY)
		return -EBADMSG;
	n->deps = calloc(d->via.array.size + 1, sizeof(*n->deps));
	n->outputs = calloc(outs->via.array.size + 1, sizeof(*n->outputs));
	if (!n->deps || !n->outputs)
		return -ENOMEM;
	for (uint32_t i = 0; i < d->via.array.size; i++) {
		const msgpack_object *x = &d->via.array.ptr[i];
		if (!is_uint(x) || x->via.u64 >= index) /* topological order */
			return -EBADMSG;
		n->deps[n->ndeps++] = (size_t)x->via.u64;
	}
	for (uint32_t i = 0; i < outs->via.array.size; i++) {
		const msgpack_object *x = &outs->via.array.ptr[i];
		struct graph_output *go = &n->outputs[i];
		if (x->type != MSGPACK_OBJECT_ARRAY || x->via.array.size < 3)
			return -EBADMSG;
		go->path = obj_strdup(&x->via.array.ptr[0]);
		n->noutputs = i + 1;
		if (!go->path || obj_hash(&x->via.array.ptr[1], &go->value, true) < 0 ||
		    !is_uint(&x->via.array.ptr[2]))
			return -EBADMSG;
		go->mode = (uint32_t)x->via.array.ptr[2].via.u64;
		go->final = x->via.array.size < 4 ||
			    (x->via.array.ptr[3].type == MSGPACK_OBJECT_BOOLEAN &&
			     x->via.array.ptr[3].via.boolean);
	}
	return 0;
}

int graph_load(struct graph *g, const char *file)
{
	struct sbuf data = SBUF_INIT;
	msgpack_unpacked up;
	const msgpack_object *root, *f;
	size_t off = 0;
	int ret;

	graph_init(g);
	if ((ret = file_read_all(file, &data, GRAPH_MAX_FILE)) < 0) {
		sbuf_release(&data);
		return ret;
	}
	msgpack_unpacked_init(&up);
	if (msgpack_unpack_next(&up, data.buf, data.len, &off) != MSGPACK_UNPACK_SUCCESS ||
	    off != data.len) {
		ret = -EBADMSG;
		goto out;
	}
	root = &up.data;
	if (root->type != MSGPACK_OBJECT_ARRAY || root->via.array.size < 4) {
		ret = -EBADMSG;
		goto out;
	}
	f = root->via.array.ptr;
	if (f[0].type != MSGPACK_OBJECT_STR || f[0].via.str.size != strlen(GRAPH_MAGIC) ||
	    memcmp(f[0].via.str.ptr, GRAPH_MAGIC, f[0].via.str.size) || !is_uint(&f[1])) {
		ret = -EBADMSG;
		goto out;
	}
	if (f[1].via.u64 != GRAPH_VERSION) {
		ret = -EPROTONOSUPPORT;
		goto out;
	}
	g->tree = obj_strdup(&f[2]);
	if (!g->tree || f[3].type != MSGPACK_OBJECT_ARRAY) {
		ret = -EBADMSG;
		goto out;
	}
	for (uint32_t i = 0; i < f[3].via.array.size; i++) {
		struct graph_node n;
		ret = load_node(&f[3].via.array.ptr[i], i, &n);
		if (ret < 0 || (ret = graph_add(g, &n)) < 0) {
			graph_node_release(&n);
			goto out;
		}
	}
	if (root->via.array.size >= 5 && f[4].type == MSGPACK_OBJECT_ARRAY) {
		const msgpack_object *d = &f[4];
		g->driver_inputs = calloc(d->via.array.size + 1, sizeof(*g->driver_inputs));
		if (!g->driver_inputs) {
			ret = -ENOMEM;
			goto out;
		}
		for (uint32_t i = 0; i < d->via.array.size; i++) {
			const msgpack_object *x = &d->via.array.ptr[i];
			struct graph_output *go = &g->driver_inputs[i];
			if (x->type != MSGPACK_OBJECT_ARRAY || x->via.array.size < 3) {
				ret = -EBADMSG;
				goto out;
			}
			go->path = obj_strdup(&x->via.array.ptr[0]);
			g->ndriver_inputs = i + 1;
			if (!go->path || obj_hash(&x->via.array.ptr[1], &go->value, true) < 0 ||
			    !is_uint(&x->via.array.ptr[2])) {
				ret = -EBADMSG;
				goto out;
			}
			go->mode = (uint32_t)x->via.array.ptr[2].via.u64;
			go->final = true;
		}
	}
out:
	msgpack_unpacked_destroy(&up);
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
