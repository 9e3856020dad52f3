/*
 * Unit tests for inferer/merge.c's graph_replace_node: a node re-recorded on the host
 * takes its new thunk's inputs (references where the graph makes the file), outputs
 * and local bits, and its users follow its new name.  Graphs are built by hand over a
 * temporary store.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "runtime/ir/graph.h"
#include "inferer/merge.h"
#include "runtime/store/statcache.h"
#include "runtime/store/store.h"
#include "runtime/ir/thunk.h"
#include "runtime/lib/util.h"

struct fx {
	char dir[PATH_MAX];
	struct store st;
	struct statcache *sc;
	struct graph g;
};

static struct gg_hash value_of(const char *s)
{
	struct gg_hash h;
	assert_int_equal(hash_buf(GG_HASH_VALUE, s, strlen(s), &h), 0);
	return h;
}

/* A thunk `cc` reading `inputs` (NULL-terminated; "path=T<node>:<output>" names a
 * reference to graph node <node>, else the path's contents are its name) and writing
 * `outputs` (NULL-terminated), stored; its hash in *h. */
static void put_thunk(struct fx *f, const char *const *inputs, const char *const *outputs,
		      uint32_t local, struct gg_hash *h)
{
	struct thunk th = THUNK_INIT;
	struct gg_hash exe = value_of("cc");
	char *buf = NULL;
	size_t len;

	assert_int_equal(thunk_set_exe(&th, "/usr/bin/cc", &exe, 0, 0100755), 0);
	assert_int_equal(thunk_add_arg(&th, "cc"), 0);
	assert_int_equal(thunk_set_cwd(&th, f->dir), 0);
	for (size_t i = 0; inputs[i]; i++) {
		const char *eq = strstr(inputs[i], "=T");
		if (eq) {
			char path[PATH_MAX];
			unsigned node, out;
			snprintf(path, sizeof(path), "%.*s", (int)(eq - inputs[i]), inputs[i]);
			assert_int_equal(sscanf(eq + 2, "%u:%u", &node, &out), 2);
			assert_int_equal(thunk_add_input(&th, path, &f->g.nodes[node].hash, out,
							 0100644), 0);
		} else {
			struct gg_hash v = value_of(inputs[i]);
			assert_int_equal(thunk_add_input(&th, inputs[i], &v, 0, 0100644), 0);
		}
	}
	for (size_t i = 0; outputs[i]; i++)
		assert_int_equal(thunk_add_output(&th, outputs[i]), 0);
	th.local = local;
	th.pure = !local;
	assert_int_equal(thunk_encode(&th, &buf, &len), 0);
	assert_int_equal(store_put_buf(&f->st, GG_HASH_THUNK, buf, len, h), 0);
	free(buf);
	thunk_release(&th);
}

/* A graph node for a stored thunk; deps as given (-1 ends). */
static void node_of(struct graph_node *n, const struct gg_hash *h, const char *const *outputs,
		    uint32_t local, const int *deps)
{
	size_t no = 0, nd = 0;
	memset(n, 0, sizeof(*n));
	while (outputs[no])
		no++;
	while (deps && deps[nd] >= 0)
		nd++;
	n->hash = *h;
	n->label = strdup(outputs[0]);
	n->command = strdup("cc");
	n->local = local;
	n->outputs = calloc(no + 1, sizeof(*n->outputs));
	n->deps = calloc(nd + 1, sizeof(*n->deps));
	assert_non_null(n->label);
	assert_non_null(n->outputs);
	assert_non_null(n->deps);
	for (size_t i = 0; i < no; i++) {
		n->outputs[i].path = strdup(outputs[i]);
		n->outputs[i].value = value_of(outputs[i]);
		n->outputs[i].mode = 0100644;
		n->outputs[i].final = true;
	}
	n->noutputs = no;
	for (size_t i = 0; i < nd; i++)
		n->deps[i] = (size_t)deps[i];
	n->ndeps = nd;
}

static void add_node(struct fx *f, const char *const *inputs, const char *const *outputs,
		     uint32_t local, const int *deps)
{
	struct gg_hash h;
	struct graph_node n;
	put_thunk(f, inputs, outputs, local, &h);
	node_of(&n, &h, outputs, local, deps);
	assert_int_equal(graph_add(&f->g, &n), 0);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char gg[PATH_MAX + 8];
	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/gg-test-merge.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(gg, sizeof(gg), "%s/.gg", f->dir);
	f->st = (struct store)STORE_INIT;
	assert_int_equal(store_init(&f->st, gg, STORE_CREATE), 0);
	assert_int_equal(statcache_open(&f->sc, gg), 0);
	graph_init(&f->g);
	f->g.tree = strdup(f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	graph_release(&f->g);
	statcache_free(f->sc);
	store_release(&f->st);
	rm_rf(f->dir);
	free(f);
	return 0;
}

/*
 * gen.h <- [0 gen]; x.o <- [1 cc x.c] (local-only); prog <- [2 ld x.o].  Node 1 is
 * re-recorded: it now reads gen.h too, and is pure.
 */
static void build_three(struct fx *f)
{
	add_node(f, (const char *[]){ "/src/gen.in", NULL }, (const char *[]){ "/src/gen.h", NULL },
		 0, NULL);
	add_node(f, (const char *[]){ "/src/x.c", NULL }, (const char *[]){ "/src/x.o", NULL },
		 THUNK_LOCAL_WRITES_OUTSIDE_TREE, NULL);
	add_node(f, (const char *[]){ "/src/x.o=T1:0", NULL }, (const char *[]){ "/src/prog", NULL },
		 0, (const int[]){ 1, -1 });
}

static void test_merge__replaced_node_refers_to_producers_and_users_follow(void **state)
{
	struct fx *f = *state;
	struct graph_node one;
	struct gg_hash h, old1, old2;
	struct thunk th = THUNK_INIT;
	const char *outs[] = { "/src/x.o", NULL };

	build_three(f);
	old1 = f->g.nodes[1].hash;
	old2 = f->g.nodes[2].hash;
	/* the recording: gen.h read as plain contents, no longer local-only */
	put_thunk(f, (const char *[]){ "/src/x.c", "/src/gen.h", NULL }, outs, 0, &h);
	node_of(&one, &h, outs, 0, NULL);
	assert_int_equal(graph_replace_node(&f->st, f->sc, &f->g, 1, &one), 0);

	assert_false(hash_equal(&f->g.nodes[1].hash, &old1));
	assert_int_equal(f->g.nodes[1].local, 0);
	assert_int_equal(f->g.nodes[1].ndeps, 1);
	assert_int_equal(f->g.nodes[1].deps[0], 0);
	assert_int_equal(store_load_thunk(&f->st, &f->g.nodes[1].hash, &th), 0);
	assert_int_equal(th.inputs.n, 2);
	assert_string_equal(th.inputs.v[0].path, "/src/gen.h");
	assert_int_equal(th.inputs.v[0].hash.kind, GG_HASH_THUNK);
	assert_true(hash_equal(&th.inputs.v[0].hash, &f->g.nodes[0].hash));
	thunk_release(&th);

	/* the link names the new thunk */
	assert_false(hash_equal(&f->g.nodes[2].hash, &old2));
	assert_int_equal(store_load_thunk(&f->st, &f->g.nodes[2].hash, &th), 0);
	assert_int_equal(th.inputs.n, 1);
	assert_true(hash_equal(&th.inputs.v[0].hash, &f->g.nodes[1].hash));
	assert_int_equal(th.inputs.v[0].output, 0);
	thunk_release(&th);
	assert_int_equal(graph_find_hash(&f->g, &f->g.nodes[2].hash), 2);
	assert_int_equal(graph_find_path(&f->g, "/src/x.o", NULL), 1);
	free(one.label);
	free(one.command);
	free(one.deps);
	free(one.outputs[0].path);
	free(one.outputs);
}

static void test_merge__same_recording_changes_nothing(void **state)
{
	struct fx *f = *state;
	struct graph_node one;
	struct gg_hash h, old1, old2;
	const char *outs[] = { "/src/x.o", NULL };

	build_three(f);
	old1 = f->g.nodes[1].hash;
	old2 = f->g.nodes[2].hash;
	put_thunk(f, (const char *[]){ "/src/x.c", NULL }, outs, THUNK_LOCAL_WRITES_OUTSIDE_TREE, &h);
	assert_true(hash_equal(&h, &old1));
	node_of(&one, &h, outs, THUNK_LOCAL_WRITES_OUTSIDE_TREE, NULL);
	assert_int_equal(graph_replace_node(&f->st, f->sc, &f->g, 1, &one), 0);
	assert_true(hash_equal(&f->g.nodes[1].hash, &old1));
	assert_true(hash_equal(&f->g.nodes[2].hash, &old2));
	assert_int_equal(f->g.nodes[1].local, THUNK_LOCAL_WRITES_OUTSIDE_TREE);
	free(one.label);
	free(one.command);
	free(one.deps);
	free(one.outputs[0].path);
	free(one.outputs);
}

/* A user's reference to an output the new thunk no longer makes becomes the file's
 * contents (here: no file, a zero value), not a dangling index. */
static void test_merge__output_gone_becomes_contents(void **state)
{
	struct fx *f = *state;
	struct graph_node one;
	struct gg_hash h;
	struct thunk th = THUNK_INIT;
	const char *outs[] = { "/src/y.o", NULL };

	build_three(f);
	put_thunk(f, (const char *[]){ "/src/x.c", NULL }, outs, 0, &h);
	node_of(&one, &h, outs, 0, NULL);
	assert_int_equal(graph_replace_node(&f->st, f->sc, &f->g, 1, &one), 0);
	assert_int_equal(store_load_thunk(&f->st, &f->g.nodes[2].hash, &th), 0);
	assert_int_equal(th.inputs.v[0].hash.kind, GG_HASH_VALUE);
	thunk_release(&th);
	free(one.label);
	free(one.command);
	free(one.deps);
	free(one.outputs[0].path);
	free(one.outputs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_merge__replaced_node_refers_to_producers_and_users_follow,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_merge__same_recording_changes_nothing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_merge__output_gone_becomes_contents, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
