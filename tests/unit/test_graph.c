/*
 * test_graph.c - the graph file (runtime/ir/graph.h): what graph_save writes,
 * graph_load reads back; a damaged file is refused, never half-read; a loaded node
 * (one block) can be made to own its parts and be edited like a built one.  And the
 * in-place msgpack reader under it (runtime/lib/mpread.h).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "runtime/ir/graph.h"
#include "runtime/lib/mpread.h"
#include "runtime/lib/util.h"

static struct gg_hash hash_of(enum gg_hash_kind kind, const char *s)
{
	struct gg_hash h;
	assert_int_equal(hash_buf(kind, s, strlen(s), &h), 0);
	return h;
}

/* Node i: thunk "t<i>", outputs /b/o<i>.<k> for k < i % 3 + 1, deps on every
 * earlier node whose index divides i. */
static void add_node(struct graph *g, size_t i)
{
	struct graph_node n = { 0 };
	char s[64];
	size_t nout = i % 3 + 1;

	snprintf(s, sizeof(s), "t%zu", i);
	n.hash = hash_of(GG_HASH_THUNK, s);
	snprintf(s, sizeof(s), "o%zu", i);
	n.label = strdup(s);
	snprintf(s, sizeof(s), "cc -c x%zu.c -o o%zu", i, i);
	n.command = strdup(s);
	n.local = (uint32_t)(i % 2);
	n.deps = calloc(i + 1, sizeof(*n.deps));
	n.outputs = calloc(nout, sizeof(*n.outputs));
	assert_non_null(n.label);
	assert_non_null(n.deps);
	assert_non_null(n.outputs);
	for (size_t d = 1; d < i; d++)
		if (i % d == 0)
			n.deps[n.ndeps++] = d;
	for (size_t k = 0; k < nout; k++) {
		snprintf(s, sizeof(s), "/b/o%zu.%zu", i, k);
		n.outputs[k].path = strdup(s);
		n.outputs[k].value = k == 2 ? (struct gg_hash){ .kind = GG_HASH_NONE }
					   : hash_of(GG_HASH_VALUE, s);
		n.outputs[k].mode = 0100644 + (uint32_t)k;
		n.outputs[k].final = k != 1;
	}
	n.noutputs = nout;
	assert_int_equal(graph_add(g, &n), 0);
}

static void sample(struct graph *g, size_t n)
{
	graph_init(g);
	g->tree = strdup("/b");
	for (size_t i = 0; i < n; i++)
		add_node(g, i);
	g->driver_inputs = calloc(2, sizeof(*g->driver_inputs));
	g->driver_inputs[0] = (struct graph_output){ strdup("/b/Makefile"),
						     hash_of(GG_HASH_VALUE, "mk"), 0100644, true };
	g->ndriver_inputs = 1;
}

static void assert_same(const struct graph *a, const struct graph *b)
{
	assert_string_equal(a->tree, b->tree);
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n; i++) {
		const struct graph_node *x = &a->nodes[i], *y = &b->nodes[i];
		assert_true(hash_equal(&x->hash, &y->hash));
		assert_string_equal(x->label, y->label);
		assert_string_equal(x->command, y->command);
		assert_int_equal(x->local, y->local);
		assert_int_equal(x->ndeps, y->ndeps);
		for (size_t d = 0; d < x->ndeps; d++)
			assert_int_equal(x->deps[d], y->deps[d]);
		assert_int_equal(x->noutputs, y->noutputs);
		for (size_t k = 0; k < x->noutputs; k++) {
			assert_string_equal(x->outputs[k].path, y->outputs[k].path);
			assert_int_equal(x->outputs[k].value.kind, y->outputs[k].value.kind);
			if (hash_is_set(&x->outputs[k].value))
				assert_true(hash_equal(&x->outputs[k].value, &y->outputs[k].value));
			assert_int_equal(x->outputs[k].mode, y->outputs[k].mode);
			assert_int_equal(x->outputs[k].final, y->outputs[k].final);
		}
	}
	assert_int_equal(a->ndriver_inputs, b->ndriver_inputs);
	for (size_t i = 0; i < a->ndriver_inputs; i++)
		assert_string_equal(a->driver_inputs[i].path, b->driver_inputs[i].path);
}

static char *tmpfile_path(void)
{
	char *p = strdup("/tmp/gg-test-graph.XXXXXX");
	int fd = mkstemp(p);
	assert_true(fd >= 0);
	close(fd);
	return p;
}

static void test_graph__save_load_roundtrip(void **state)
{
	struct graph a, b;
	char *f = tmpfile_path();
	long n;
	size_t out;

	(void)state;
	sample(&a, 200);
	assert_int_equal(graph_save(&a, f), 0);
	assert_int_equal(graph_load(&b, f), 0);
	assert_same(&a, &b);
	/* the lookups work on a loaded graph */
	n = graph_find_path(&b, "/b/o7.1", &out);
	assert_int_equal(n, 7);
	assert_int_equal(out, 1);
	assert_int_equal(graph_find_hash(&b, &a.nodes[42].hash), 42);
	graph_release(&a);
	graph_release(&b);
	unlink(f);
	free(f);
}

/* Every proper prefix of a valid file, and a byte appended, are refused. */
static void test_graph__every_truncation_fails(void **state)
{
	struct graph a, b;
	struct sbuf data = SBUF_INIT;
	char *f = tmpfile_path();

	(void)state;
	sample(&a, 12);
	assert_int_equal(graph_save(&a, f), 0);
	assert_int_equal(file_read_all(f, &data, 0), 0);
	for (size_t len = 0; len < data.len; len++) {
		assert_int_equal(file_write_atomic(f, data.buf, len, false), 0);
		assert_int_equal(graph_load(&b, f), -EBADMSG);
		assert_int_equal(b.n, 0);
	}
	sbuf_addch(&data, 0x00);
	assert_int_equal(file_write_atomic(f, data.buf, data.len, false), 0);
	assert_int_equal(graph_load(&b, f), -EBADMSG);
	graph_release(&a);
	sbuf_release(&data);
	unlink(f);
	free(f);
}

/* A loaded node owns one block; graph_node_own splits it so parts can be replaced. */
static void test_graph__loaded_node_can_be_owned(void **state)
{
	struct graph a, b;
	char *f = tmpfile_path();
	struct graph_node *n;

	(void)state;
	sample(&a, 10);
	assert_int_equal(graph_save(&a, f), 0);
	assert_int_equal(graph_load(&b, f), 0);
	n = &b.nodes[5];
	assert_non_null(n->block);
	assert_int_equal(graph_node_own(n), 0);
	assert_null(n->block);
	assert_int_equal(graph_node_own(n), 0); /* (again: nothing to do) */
	free(n->label);
	n->label = strdup("renamed");
	free(n->outputs[0].path);
	n->outputs[0].path = strdup("/b/elsewhere");
	graph_reindex(&b);
	assert_int_equal(graph_find_path(&b, "/b/elsewhere", NULL), 5);
	assert_string_equal(b.nodes[5].command, a.nodes[5].command);
	graph_release(&a);
	graph_release(&b);
	unlink(f);
	free(f);
}

/* The reader: any form of each type, skips what it does not know, bounds checked. */
static void test_graph__mpread_forms_and_skip(void **state)
{
	static const uint8_t buf[] = {
		0x93,                         /* array of 3 */
		0xcd, 0x01, 0x00,             /* uint16 256 */
		0xd9, 0x02, 'h', 'i',         /* str8 "hi" */
		0x82, 0xa1, 'k', 0xc0, 0x01, 0x92, 0xc3, 0xcb, /* map {k: nil, 1: [true, f64...]} */
		0, 0, 0, 0, 0, 0, 0, 0,
		0xc4, 0x01, 0x7f,             /* bin8 */
	};
	struct mpr r = { buf, buf + sizeof(buf) };
	size_t n, len;
	uint64_t v;
	const char *s;
	bool b;

	(void)state;
	assert_int_equal(mpr_array(&r, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(mpr_uint(&r, &v), 0);
	assert_int_equal(v, 256);
	assert_int_equal(mpr_bytes(&r, &s, &len), 0);
	assert_int_equal(len, 2);
	assert_memory_equal(s, "hi", 2);
	assert_int_equal(mpr_skip(&r), 0);
	assert_int_equal(mpr_bytes(&r, &s, &len), 0);
	assert_int_equal(len, 1);
	assert_true(r.p == r.end);
	assert_int_equal(mpr_bool(&r, &b), -EBADMSG);
	assert_false(mpr_nil(&r));
	/* a count larger than the bytes left, a string running past the end */
	{
		static const uint8_t big[] = { 0xdd, 0x00, 0x01, 0x00, 0x00, 0x01 };
		static const uint8_t cut[] = { 0xa5, 'a', 'b' };
		struct mpr x = { big, big + sizeof(big) }, y = { cut, cut + sizeof(cut) };
		assert_int_equal(mpr_array(&x, &n), -EBADMSG);
		assert_int_equal(mpr_bytes(&y, &s, &len), -EBADMSG);
		y = (struct mpr){ cut, cut + sizeof(cut) };
		assert_int_equal(mpr_skip(&y), -EBADMSG);
	}
	/* nesting deeper than MPR_MAX_DEPTH */
	{
		uint8_t deep[MPR_MAX_DEPTH + 2];
		struct mpr z = { deep, deep + sizeof(deep) };
		memset(deep, 0x91, sizeof(deep));
		deep[sizeof(deep) - 1] = 0x00;
		assert_int_equal(mpr_skip(&z), -EBADMSG);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_graph__save_load_roundtrip),
		cmocka_unit_test(test_graph__every_truncation_fails),
		cmocka_unit_test(test_graph__loaded_node_can_be_owned),
		cmocka_unit_test(test_graph__mpread_forms_and_skip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
