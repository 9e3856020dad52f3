/* Unit tests for runtime/thunk.c: canonical encoding, secrets, strict decoding. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "runtime/ir/hash.h"
#include "runtime/ir/thunk.h"

static struct gg_hash value_of(const char *content)
{
	struct gg_hash h;

	assert_int_equal(hash_buf(GG_HASH_VALUE, content, strlen(content), &h), 0);
	return h;
}

static struct gg_hash thunk_named(const char *name)
{
	struct gg_hash h;

	assert_int_equal(hash_buf(GG_HASH_THUNK, name, strlen(name), &h), 0);
	return h;
}

static struct gg_hash listing_of(const char *a, const char *b)
{
	const char *names[] = { a, b };
	struct gg_hash h;

	assert_int_equal(thunk_listing_hash(names, 2, &h), 0);
	return h;
}

/* A compile-like thunk; `order` permutes the order every list is filled in. */
static void build_sample(struct thunk *t, int order)
{
	static const char *const env[] = {
		"PATH=/usr/bin:/bin", "LANG=C.UTF-8", "CFLAGS=-O2 -g", "HOME=/root", "TERM=xterm",
	};
	static const char *const inputs[] = {
		"/src/hello.c", "/src/hello.h", "/usr/include/stdio.h", "/usr/include/stdlib.h",
		"/src/config.h",
	};
	static const char *const missing[] = { "/src/hello.gch", "/usr/local/include/stdio.h",
					       "/src/aaa.h" };
	static const char *const notdir[] = { "/src/hello.c/x.h", "/usr/bin/gettext/__init__.py" };
	static const char *const outputs[] = { "/src/hello.o", "/src/hello.d" };
	static const char *const objects[] = {
		"/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/libc.so.6",
		"/usr/libexec/gcc/x86_64-linux-gnu/12/cc1", "/usr/bin/as",
	};
	static const char *const argv[] = { "gcc", "-O2", "-c", "hello.c", "-o", "hello.o" };
	size_t n;

	thunk_init(t);
	struct gg_hash exe = value_of("gcc binary");
	assert_int_equal(thunk_set_exe(t, "/usr/bin/gcc-12", &exe, 0, 0100755), 0);
	assert_int_equal(thunk_set_interp(t, "/lib64/ld-linux-x86-64.so.2"), 0);
	for (size_t i = 0; i < 6; i++)
		assert_int_equal(thunk_add_arg(t, argv[i]), 0); /* argv keeps its order */
	assert_int_equal(thunk_set_cwd(t, "/src"), 0);
	t->umask = 022;

#define EACH(arr, i) for (size_t k_ = 0, i; n = sizeof(arr) / sizeof(arr[0]), \
	     i = order ? n - 1 - k_ : k_, k_ < n; k_++)
	EACH(env, i)
		assert_int_equal(thunk_add_env(t, env[i], NULL), 1);
	EACH(inputs, i) {
		struct gg_hash h = value_of(inputs[i]);
		assert_int_equal(thunk_add_input(t, inputs[i], &h, 0, 0100644), 0);
	}
	/* one input is another thunk's output */
	struct gg_hash gen = thunk_named("generator");
	assert_int_equal(thunk_add_input(t, "/src/gen.h", &gen, 1, 0100644), 0);
	EACH(missing, i)
		assert_int_equal(thunk_add_missing(t, missing[i]), 0);
	EACH(notdir, i)
		assert_int_equal(thunk_add_notdir(t, notdir[i]), 0);
	EACH(outputs, i)
		assert_int_equal(thunk_add_output(t, outputs[i]), 0);
	EACH(objects, i) {
		struct gg_hash h = value_of(objects[i]);
		assert_int_equal(thunk_add_object(t, objects[i], &h, 0, 0100755), 0);
	}
#undef EACH
	struct gg_hash l1 = order ? listing_of("b", "a") : listing_of("a", "b");
	struct gg_hash l2 = listing_of("x.h", "y.h");
	if (order) {
		assert_int_equal(thunk_add_listing(t, "/usr/include", &l2), 0);
		assert_int_equal(thunk_add_listing(t, "/src", &l1), 0);
	} else {
		assert_int_equal(thunk_add_listing(t, "/src", &l1), 0);
		assert_int_equal(thunk_add_listing(t, "/usr/include", &l2), 0);
	}
	(void)n;
}

static void encode_ok(struct thunk *t, char **buf, size_t *len)
{
	assert_int_equal(thunk_encode(t, buf, len), 0);
	assert_non_null(*buf);
	assert_true(*len > 0);
}

/* The worked example in thunk.h, byte for byte. */
static void test_thunk__example_bytes(void **state)
{
	static const uint8_t want[] = {
		0xdc, 0x00, 0x10,
		0xa7, 'g', 'g', 't', 'h', 'u', 'n', 'k',
		0x02,
		0x94, 0xa9, '/', 'b', 'i', 'n', '/', 't', 'r', 'u', 'e',
		0xc4, 0x11, 'V', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0x00, 0xcd, 0x81, 0xed,
		0xa0,
		0x91, 0xa4, 't', 'r', 'u', 'e',
		0x90,
		0xa1, '/',
		0x12,
		0x90, 0x90, 0x90, 0x90, 0x90, 0x90,
		0x00,
		0xc2,
	};
	struct gg_hash zero = { .kind = GG_HASH_VALUE };
	struct thunk t = THUNK_INIT, back;
	char *buf;
	size_t len;

	assert_int_equal(thunk_set_exe(&t, "/bin/true", &zero, 0, 0100755), 0);
	assert_int_equal(thunk_add_arg(&t, "true"), 0);
	assert_int_equal(thunk_set_cwd(&t, "/"), 0);
	encode_ok(&t, &buf, &len);
	assert_int_equal(len, sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));
	assert_int_equal(thunk_decode(buf, len, &back), 0);
	assert_true(thunk_equal(&t, &back));
	free(buf);
	thunk_release(&back);
	thunk_release(&t);
}

/* Recording order does not matter: same bytes, same hash. */
static void test_thunk__permuted_lists_same_bytes(void **state)
{
	struct thunk a, b;
	struct gg_hash ha, hb;
	char *ba, *bb;
	size_t la, lb;

	build_sample(&a, 0);
	build_sample(&b, 1);
	encode_ok(&a, &ba, &la);
	encode_ok(&b, &bb, &lb);
	assert_int_equal(la, lb);
	assert_memory_equal(ba, bb, la);
	assert_int_equal(thunk_hash(&a, &ha), 0);
	assert_int_equal(thunk_hash(&b, &hb), 0);
	assert_true(hash_equal(&ha, &hb));
	assert_int_equal(ha.kind, GG_HASH_THUNK);
	assert_true(thunk_equal(&a, &b));
	/* canonical form: lists sorted */
	for (size_t i = 1; i < a.inputs.n; i++)
		assert_true(strcmp(a.inputs.v[i - 1].path, a.inputs.v[i].path) < 0);
	for (size_t i = 1; i < a.env.n; i++)
		assert_true(strcmp(a.env.v[i - 1], a.env.v[i]) < 0);
	assert_string_equal(a.argv.v[0], "gcc"); /* but argv is not */
	assert_string_equal(a.argv.v[5], "hello.o");

	/* any real change changes the hash */
	assert_int_equal(thunk_add_arg(&b, "-Wall"), 0);
	assert_int_equal(thunk_hash(&b, &hb), 0);
	assert_false(hash_equal(&ha, &hb));
	free(ba);
	free(bb);
	thunk_release(&a);
	thunk_release(&b);
}

/* A thunk hash is never a value hash, even of the thunk's own encoding. */
static void test_thunk__value_and_thunk_hash_differ(void **state)
{
	struct thunk t;
	struct gg_hash th, vh;
	char *buf, hex[GG_HASH_HEX_SIZE];
	size_t len;

	build_sample(&t, 0);
	encode_ok(&t, &buf, &len);
	assert_int_equal(thunk_hash(&t, &th), 0);
	assert_int_equal(hash_buf(GG_HASH_VALUE, buf, len, &vh), 0);
	assert_false(hash_equal(&th, &vh));
	assert_memory_not_equal(th.bytes, vh.bytes, GG_HASH_LEN);
	assert_int_equal(hash_to_hex(&th, hex)[0], 'T');
	assert_int_equal(hash_to_hex(&vh, hex)[0], 'V');
	/* a THUNK hash as an input is a reference; a value input may not carry an index */
	assert_int_equal(thunk_add_input(&t, "/x", &vh, 3, 0100644), -EINVAL);
	assert_int_equal(thunk_add_input(&t, "/x", &th, 3, 0100644), 0);
	struct gg_hash lh = listing_of("a", "b");
	assert_int_equal(thunk_add_input(&t, "/y", &lh, 0, 0100644), -EINVAL);
	assert_int_equal(thunk_add_listing(&t, "/y", &vh), -EINVAL);
	free(buf);
	thunk_release(&t);
}

static void test_thunk__secrets_filtered(void **state)
{
	static const struct { const char *entry; int kept, kept_allowed; } cases[] = {
		{ "PATH=/usr/bin", 1, 1 },
		{ "CC=gcc", 1, 1 },
		{ "AWS_SECRET_ACCESS_KEY=abc", 0, 1 },
		{ "AWS_SESSION_TOKEN=abc", 0, 0 },
		{ "AWS_ACCESS_KEY_ID=AKIA", 0, 1 },
		{ "AWS_REGION=us-east-1", 1, 1 },
		{ "GITHUB_TOKEN=ghp", 0, 0 },
		{ "npm_config__authToken=x", 0, 0 },
		{ "MY_SECRET=x", 0, 0 },
		{ "DB_PASSWORD=x", 0, 0 },
		{ "MYSQL_PWD_PASSWD=x", 0, 0 },
		{ "GOOGLE_APPLICATION_CREDENTIALS=/k.json", 0, 0 },
		{ "OPENAI_API_KEY=sk", 0, 0 },
		{ "password=hunter2", 0, 0 },
		{ "LD_PRELOAD=/x/libggshim.so", 0, 0 },  /* even when allowed */
		{ "GG_TRACE_DIR=/t", 0, 0 },
		{ "GG_DIR=/t", 0, 0 },
		{ "LD_LIBRARY_PATH=/opt/lib", 1, 1 },
		{ "NOEQUALS", 0, 0 },
		{ "=value", 0, 0 },
		{ "EMPTY=", 1, 1 },
	};
	static const char *const allow[] = {
		"AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "LD_PRELOAD", "GG_DIR", NULL,
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct thunk t = THUNK_INIT;

		if (thunk_env_keep(cases[i].entry, NULL) != (cases[i].kept != 0))
			fail_msg("'%s' kept=%d", cases[i].entry, !cases[i].kept);
		assert_int_equal(thunk_env_keep(cases[i].entry, allow), cases[i].kept_allowed != 0);
		assert_int_equal(thunk_add_env(&t, cases[i].entry, NULL), cases[i].kept);
		assert_int_equal(t.env.n, (size_t)cases[i].kept);
		thunk_release(&t);
	}

	/* thunk_set_env over a whole environment; a repeated name keeps the first */
	char *envp[] = { "PATH=/bin", "AWS_SESSION_TOKEN=t", "PATH=/evil", "A=1", NULL };
	struct thunk t = THUNK_INIT;
	assert_int_equal(thunk_set_env(&t, envp, NULL), 0);
	assert_int_equal(t.env.n, 2);
	assert_int_equal(thunk_canonicalize(&t), 0);
	assert_string_equal(t.env.v[0], "A=1");
	assert_string_equal(t.env.v[1], "PATH=/bin");
	/* two entries of one name put in by hand cannot be encoded */
	char *buf;
	size_t len;
	free(t.env.v[1]);
	t.env.v[1] = strdup("A=2"); /* replaces PATH=/bin */
	assert_non_null(t.env.v[1]);
	struct gg_hash exe = value_of("x");
	assert_int_equal(thunk_set_exe(&t, "/x", &exe, 0, 0755), 0);
	assert_int_equal(thunk_encode(&t, &buf, &len), -EINVAL);
	thunk_release(&t);
}

/* Strings and lists long enough to need every msgpack length form survive a round. */
static void test_thunk__roundtrip(void **state)
{
	struct thunk t, back;
	struct gg_hash h1, h2;
	char *buf, *buf2, *long_arg;
	size_t len, len2;
	char path[64];

	build_sample(&t, 0);
	long_arg = malloc(70000);
	assert_non_null(long_arg);
	memset(long_arg, 'D', 69999);
	long_arg[69999] = '\0';
	assert_int_equal(thunk_add_arg(&t, long_arg), 0);   /* str32 */
	long_arg[300] = '\0';
	assert_int_equal(thunk_add_arg(&t, long_arg), 0);   /* str16 */
	long_arg[40] = '\0';
	assert_int_equal(thunk_add_arg(&t, long_arg), 0);   /* str8 */
	assert_int_equal(thunk_add_arg(&t, ""), 0);
	assert_int_equal(thunk_add_arg(&t, "caf\xe9 \xff\x80"), 0); /* not UTF-8 */
	for (int i = 0; i < 40; i++) {                       /* array16 */
		snprintf(path, sizeof(path), "/build/obj%02d.o", i);
		struct gg_hash h = thunk_named(path);

		assert_int_equal(thunk_add_input(&t, path, &h, (uint32_t)i * 1000, 0100644), 0);
	}
	struct gg_hash so = thunk_named("libfoo");
	assert_int_equal(thunk_add_object(&t, "/build/libfoo.so", &so, 0, 0xffffffffu), 0);
	t.local = THUNK_LOCAL_NETWORK | THUNK_LOCAL_URANDOM;
	t.umask = 0777;

	encode_ok(&t, &buf, &len);
	assert_int_equal(thunk_decode(buf, len, &back), 0);
	assert_true(thunk_equal(&t, &back));
	encode_ok(&back, &buf2, &len2);
	assert_int_equal(len, len2);
	assert_memory_equal(buf, buf2, len);
	assert_int_equal(thunk_hash(&t, &h1), 0);
	assert_int_equal(thunk_hash(&back, &h2), 0);
	assert_true(hash_equal(&h1, &h2));
	assert_int_equal(back.inputs.v[0].hash.kind, GG_HASH_THUNK);
	free(buf);
	free(buf2);
	free(long_arg);
	thunk_release(&back);

	/* pure, no local reasons */
	t.local = 0;
	t.pure = true;
	encode_ok(&t, &buf, &len);
	assert_int_equal(thunk_decode(buf, len, &back), 0);
	assert_true(back.pure);
	free(buf);
	thunk_release(&back);
	thunk_release(&t);
}

static void test_thunk__every_truncation_fails(void **state)
{
	struct thunk t, back;
	char *buf;
	size_t len;

	build_sample(&t, 0);
	encode_ok(&t, &buf, &len);
	for (size_t n = 0; n < len; n++) {
		int ret = thunk_decode(buf, n, &back);

		if (ret != -EBADMSG)
			fail_msg("prefix of %zu/%zu bytes: %d", n, len, ret);
		assert_int_equal(back.inputs.n, 0); /* released */
	}
	assert_int_equal(thunk_decode(buf, len, &back), 0);
	thunk_release(&back);
	assert_int_equal(thunk_decode(NULL, 0, &back), -EBADMSG);
	free(buf);
	thunk_release(&t);
}

static uint64_t rng_next(uint64_t *s)
{
	/* splitmix64: deterministic, so a failure reproduces */
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Decoding damaged bytes never crashes; whatever it accepts is canonical. */
static void test_thunk__random_flips_never_crash(void **state)
{
	struct thunk t, back;
	uint64_t seed = 12345;
	char *buf, *mut, *re;
	size_t len, relen;
	int accepted = 0, rejected = 0;

	build_sample(&t, 0);
	encode_ok(&t, &buf, &len);
	mut = malloc(len);
	assert_non_null(mut);
	for (int iter = 0; iter < 30000; iter++) {
		int flips = 1 + (int)(rng_next(&seed) % 3);
		int ret;

		memcpy(mut, buf, len);
		for (int k = 0; k < flips; k++) {
			size_t pos = rng_next(&seed) % len;

			if (rng_next(&seed) & 1)
				mut[pos] ^= (char)(1u << (rng_next(&seed) % 8));
			else
				mut[pos] = (char)rng_next(&seed);
		}
		ret = thunk_decode(mut, len, &back);
		if (ret == 0) {
			/* accepted: it must be canonical, i.e. encode back to the same bytes */
			accepted++;
			assert_int_equal(thunk_encode(&back, &re, &relen), 0);
			assert_int_equal(relen, len);
			assert_memory_equal(re, mut, len);
			free(re);
			thunk_release(&back);
		} else {
			rejected++;
			assert_true(ret == -EBADMSG || ret == -EPROTONOSUPPORT);
		}
	}
	print_message("# flips: %d accepted (hash or path bytes), %d rejected\n", accepted,
		      rejected);
	assert_true(rejected > 0);
	/* pure garbage */
	for (int iter = 0; iter < 20000; iter++) {
		size_t n = rng_next(&seed) % 64;

		for (size_t i = 0; i < n; i++)
			mut[i] = (char)rng_next(&seed);
		if (n > 0 && (iter & 1))
			mut[0] = (char)0x9f; /* look like a thunk for one byte */
		if (thunk_decode(mut, n, &back) == 0)
			thunk_release(&back);
	}
	free(mut);
	free(buf);
	thunk_release(&t);
}

/* Hand-made encodings that are valid msgpack but not canonical thunks. */
static void test_thunk__non_canonical_rejected(void **state)
{
	struct gg_hash zero = { .kind = GG_HASH_VALUE };
	struct thunk t = THUNK_INIT, back;
	char *buf;
	size_t len;
	uint8_t *m;

	assert_int_equal(thunk_set_exe(&t, "/bin/true", &zero, 0, 0100755), 0);
	assert_int_equal(thunk_set_cwd(&t, "/"), 0);
	encode_ok(&t, &buf, &len);
	m = malloc(len + 2);
	assert_non_null(m);
	assert_int_equal(thunk_decode(buf, len, &back), 0);
	thunk_release(&back);

	/* locate fields in the example layout (no argv here): see thunk.h */
	size_t off_version = 11, off_umask = len - 9;
	assert_int_equal((uint8_t)buf[off_umask], 0x12);

	/* trailing byte */
	memcpy(m, buf, len);
	m[len] = 0xc0;
	assert_int_equal(thunk_decode(m, len + 1, &back), -EBADMSG);
	/* umask as uint8 instead of fixint: same value, longer form */
	memcpy(m, buf, off_umask);
	m[off_umask] = 0xcc;
	m[off_umask + 1] = 0x12;
	memcpy(m + off_umask + 2, buf + off_umask + 1, len - off_umask - 1);
	assert_int_equal(thunk_decode(m, len + 1, &back), -EBADMSG);
	/* umask too large */
	memcpy(m, buf, len);
	m[off_umask] = 0x7f;
	assert_int_equal(thunk_decode(m, len, &back), 0); /* 0177 is fine */
	thunk_release(&back);
	memcpy(m, buf, off_umask);
	m[off_umask] = 0xcd;
	m[off_umask + 1] = 0x02;
	m[off_umask + 2] = 0x00; /* 01000 */
	memcpy(m + off_umask + 3, buf + off_umask + 1, len - off_umask - 1);
	assert_int_equal(thunk_decode(m, len + 2, &back), -EBADMSG);
	/* another version, the older one included (it had no notdir list) */
	memcpy(m, buf, len);
	m[off_version] = 0x03;
	assert_int_equal(thunk_decode(m, len, &back), -EPROTONOSUPPORT);
	m[off_version] = 0x01;
	assert_int_equal(thunk_decode(m, len, &back), -EPROTONOSUPPORT);
	/* 15 elements, as version 1 had, with version 2 */
	memcpy(m, buf, len);
	m[2] = 0x0f;
	assert_int_equal(thunk_decode(m, len, &back), -EBADMSG);
	/* another magic */
	memcpy(m, buf, len);
	m[4] = 'G';
	assert_int_equal(thunk_decode(m, len, &back), -EBADMSG);
	/* pure together with a local reason */
	memcpy(m, buf, len);
	m[len - 2] = 0x01;
	m[len - 1] = 0xc3;
	assert_int_equal(thunk_decode(m, len, &back), -EBADMSG);
	m[len - 2] = 0x00;
	assert_int_equal(thunk_decode(m, len, &back), 0);
	thunk_release(&back);
	/* an unknown local bit: 0x200 */
	m[len - 2] = 0xcd;
	m[len - 1] = 0x02;
	m[len] = 0x00;
	m[len + 1] = 0xc2;
	assert_int_equal(thunk_decode(m, len + 2, &back), -EBADMSG);
	/* a NUL inside a string: "/bin/true" -> "/bin\0true" */
	memcpy(m, buf, len);
	m[17] = 0;
	assert_int_equal(thunk_decode(m, len, &back), -EBADMSG);
	/* a value input carrying an output index */
	memcpy(m, buf, len);
	m[13 + 10 + 19] = 0x01;
	assert_int_equal(thunk_decode(m, len, &back), -EBADMSG);
	/* a listing kind where a value is expected */
	memcpy(m, buf, len);
	m[13 + 10 + 2] = 'L';
	assert_int_equal(thunk_decode(m, len, &back), -EBADMSG);
	m[13 + 10 + 2] = 'T'; /* a reference: fine */
	assert_int_equal(thunk_decode(m, len, &back), 0);
	thunk_release(&back);
	free(m);
	free(buf);
	thunk_release(&t);

	/* unsorted or duplicate paths, built by hand around the canonicalizer */
	build_sample(&t, 0);
	encode_ok(&t, &buf, &len);
	/* thunk_encode sorts, so rename a path inside the encoding instead */
	char *p0 = memmem(buf, len, "/src/config.h", 13), *p1 = memmem(buf, len, "/src/gen.h", 10);
	assert_non_null(p0);
	assert_non_null(p1);
	memcpy(p0, "/src/zonfig.h", 13); /* now after /src/gen.h */
	assert_int_equal(thunk_decode(buf, len, &back), -EBADMSG);
	memcpy(p0, "/src/config.h", 13);
	assert_int_equal(thunk_decode(buf, len, &back), 0);
	thunk_release(&back);
	/* notdir sorted too: "/src/hello.c/x.h" -> "/zzz/hello.c/x.h" comes after gettext */
	p0 = memmem(buf, len, "/src/hello.c/x.h", 16);
	assert_non_null(p0);
	memcpy(p0, "/zzz", 4);
	assert_int_equal(thunk_decode(buf, len, &back), -EBADMSG);
	free(buf);
	thunk_release(&t);

	/* a path both missing (ENOENT) and notdir (ENOTDIR) contradicts itself */
	struct gg_hash zero2 = { .kind = GG_HASH_VALUE };
	thunk_init(&t);
	assert_int_equal(thunk_set_exe(&t, "/bin/true", &zero2, 0, 0100755), 0);
	assert_int_equal(thunk_add_missing(&t, "/a"), 0);
	assert_int_equal(thunk_add_notdir(&t, "/b"), 0);
	encode_ok(&t, &buf, &len);
	assert_int_equal(thunk_decode(buf, len, &back), 0);
	thunk_release(&back);
	p0 = memmem(buf, len, "\xa2/b", 3);
	assert_non_null(p0);
	p0[2] = 'a';
	assert_int_equal(thunk_decode(buf, len, &back), -EBADMSG);
	free(buf);
	thunk_release(&t);

	/* the same path in missing and in notdir: canonicalize and encode refuse it */
	build_sample(&t, 0);
	assert_int_equal(thunk_add_notdir(&t, "/src/hello.gch"), 0);
	assert_int_equal(thunk_canonicalize(&t), -EINVAL);
	assert_int_equal(thunk_encode(&t, &buf, &len), -EINVAL);
	thunk_release(&t);
}

static void test_thunk__canonicalize_duplicates(void **state)
{
	struct thunk t = THUNK_INIT;
	struct gg_hash a = value_of("a"), b = value_of("b");

	assert_int_equal(thunk_add_input(&t, "/x", &a, 0, 0644), 0);
	assert_int_equal(thunk_add_input(&t, "/x", &a, 0, 0644), 0);
	assert_int_equal(thunk_add_output(&t, "/o"), 0);
	assert_int_equal(thunk_add_output(&t, "/o"), 0);
	assert_int_equal(thunk_add_missing(&t, "/m"), 0);
	assert_int_equal(thunk_add_missing(&t, "/m"), 0);
	assert_int_equal(thunk_canonicalize(&t), 0);
	assert_int_equal(t.inputs.n, 1);
	assert_int_equal(t.outputs.n, 1);
	assert_int_equal(t.missing.n, 1);
	assert_int_equal(thunk_add_input(&t, "/x", &b, 0, 0644), 0);
	assert_int_equal(thunk_canonicalize(&t), -EINVAL);
	thunk_release(&t);

	/* empty paths and unset executables are refused */
	char *buf;
	size_t len;
	assert_int_equal(thunk_add_input(&t, "", &a, 0, 0644), -EINVAL);
	assert_int_equal(thunk_add_output(&t, ""), -EINVAL);
	assert_int_equal(thunk_add_missing(&t, NULL), -EINVAL);
	assert_int_equal(thunk_encode(&t, &buf, &len), -EINVAL);
	assert_int_equal(thunk_set_exe(&t, "/bin/sh", &a, 0, 0755), 0);
	t.pure = true;
	t.local = THUNK_LOCAL_STDIN;
	assert_int_equal(thunk_encode(&t, &buf, &len), -EINVAL);
	t.local = 1u << 12;
	t.pure = false;
	assert_int_equal(thunk_encode(&t, &buf, &len), -EINVAL);
	t.local = 0;
	t.umask = 01000;
	assert_int_equal(thunk_encode(&t, &buf, &len), -EINVAL);
	t.umask = 0;
	encode_ok(&t, &buf, &len);
	free(buf);
	thunk_release(&t);
}

static int resolve_table(void *ctx, const struct gg_hash *producer, uint32_t output,
			 struct gg_hash *value)
{
	const struct gg_hash *gen = ctx;

	if (!hash_equal(producer, gen) || output != 1)
		return -ENOENT;
	*value = value_of("generated contents");
	return 0;
}

static int resolve_fail(void *ctx, const struct gg_hash *producer, uint32_t output,
			struct gg_hash *value)
{
	return -ENOENT;
}

/* The cache key sees contents, not producers. */
static void test_thunk__cache_key_resolves_references(void **state)
{
	struct thunk a, b;
	struct gg_hash gen = thunk_named("generator"), ka, kb, ha, hb;

	build_sample(&a, 0); /* has /src/gen.h from gen, output 1 */
	build_sample(&b, 1);
	/* b reads the same bytes as a plain value */
	for (size_t i = 0; i < b.inputs.n; i++) {
		if (strcmp(b.inputs.v[i].path, "/src/gen.h") == 0) {
			b.inputs.v[i].hash = value_of("generated contents");
			b.inputs.v[i].output = 0;
		}
	}
	assert_int_equal(thunk_hash(&a, &ha), 0);
	assert_int_equal(thunk_hash(&b, &hb), 0);
	assert_false(hash_equal(&ha, &hb));
	assert_int_equal(thunk_cache_key(&a, resolve_table, &gen, &ka), 0);
	assert_int_equal(thunk_cache_key(&b, resolve_table, &gen, &kb), 0);
	assert_true(hash_equal(&ka, &kb));
	assert_true(hash_equal(&kb, &hb)); /* no references: key == hash */
	assert_int_equal(ka.kind, GG_HASH_THUNK);
	assert_int_equal(thunk_cache_key(&a, resolve_fail, NULL, &ka), -ENOENT);
	/* the thunk itself keeps its reference */
	assert_int_equal(thunk_hash(&a, &hb), 0);
	assert_true(hash_equal(&ha, &hb));
	thunk_release(&a);
	thunk_release(&b);
}

/* cur as the builder makes it (build_key.c): th's scalars and strings, own arrays. */
static void copy_arrays(struct thunk *cur, const struct thunk *th)
{
	*cur = *th;
	cur->inputs.v = malloc(th->inputs.n * sizeof(*th->inputs.v));
	cur->objects.v = malloc(th->objects.n * sizeof(*th->objects.v));
	cur->listings.v = malloc(th->listings.n * sizeof(*th->listings.v));
	assert_non_null(cur->inputs.v);
	assert_non_null(cur->objects.v);
	assert_non_null(cur->listings.v);
	memcpy(cur->inputs.v, th->inputs.v, th->inputs.n * sizeof(*th->inputs.v));
	memcpy(cur->objects.v, th->objects.v, th->objects.n * sizeof(*th->objects.v));
	memcpy(cur->listings.v, th->listings.v, th->listings.n * sizeof(*th->listings.v));
}

static void free_arrays(struct thunk *cur)
{
	free(cur->inputs.v);
	free(cur->objects.v);
	free(cur->listings.v);
}

/* The key from the patched encoding and the key from encoding cur: the same. */
static void assert_like_key(struct thunk *cur, const struct thunk *th, const struct gg_hash *gen)
{
	struct gg_hash like, full;

	assert_int_equal(thunk_cache_key_like(cur, th, resolve_table, (void *)gen, &like), 0);
	assert_int_equal(thunk_cache_key(cur, resolve_table, (void *)gen, &full), 0);
	assert_true(hash_equal(&like, &full));
}

/*
 * thunk_cache_key_like patches a decoded thunk's encoding: every field it rewrites
 * (values, modes of either length, references, listings, the executable) gives the
 * key thunk_cache_key computes; errors are the same; a thunk that is not a copy of
 * the decoded one, or was never decoded, is encoded the usual way.
 */
static void test_thunk__cache_key_like_matches_encoding(void **state)
{
	struct gg_hash gen = thunk_named("generator"), other = value_of("other"), k1, k2;
	struct thunk orig, th, cur;
	char *buf;
	size_t len;

	build_sample(&orig, 0);
	encode_ok(&orig, &buf, &len);
	assert_int_equal(thunk_decode(buf, len, &th), 0);
	free(buf);

	copy_arrays(&cur, &th);
	assert_like_key(&cur, &th, &gen); /* as decoded: the reference resolved */
	{ /* the key comes from th's bytes (an argument altered there shows in it) */
		unsigned char *enc = (unsigned char *)th.enc;
		unsigned char *arg = memmem(enc, th.enc_len, "hello.c", 7);
		assert_non_null(arg);
		arg[0] = 'j';
		assert_int_equal(thunk_cache_key_like(&cur, &th, resolve_table, &gen, &k1), 0);
		assert_int_equal(thunk_cache_key(&cur, resolve_table, &gen, &k2), 0);
		assert_false(hash_equal(&k1, &k2));
		arg[0] = 'h';
	}
	cur.inputs.v[0].hash = other;     /* an edited input */
	cur.inputs.v[1].mode = 0100600;   /* a mode of the same msgpack form */
	cur.exe.hash = other;
	cur.listings.v[0].hash = listing_of("new", "names");
	cur.objects.v[0].hash = other;
	assert_like_key(&cur, &th, &gen);
	cur.inputs.v[2].mode = 0644; /* a shorter form: encoded afresh, the same key */
	assert_like_key(&cur, &th, &gen);
	for (size_t i = 0; i < cur.inputs.n; i++)
		if (cur.inputs.v[i].hash.kind == GG_HASH_THUNK)
			cur.inputs.v[i].output = 0; /* resolve_table knows output 1 only */
	assert_int_equal(thunk_cache_key_like(&cur, &th, resolve_table, &gen, &k1), -ENOENT);
	free_arrays(&cur);

	/* not a copy of th (another path string): encoded */
	copy_arrays(&cur, &th);
	cur.inputs.v[0].path = "/src/another.c";
	assert_int_equal(thunk_cache_key_like(&cur, &th, resolve_table, &gen, &k1), 0);
	assert_int_equal(thunk_cache_key(&cur, resolve_table, &gen, &k2), 0);
	assert_true(hash_equal(&k1, &k2));
	free_arrays(&cur);

	/* never decoded: no encoding to patch */
	assert_int_equal(thunk_cache_key_like(&orig, &orig, resolve_table, &gen, &k1), 0);
	assert_int_equal(thunk_cache_key(&orig, resolve_table, &gen, &k2), 0);
	assert_true(hash_equal(&k1, &k2));
	thunk_release(&th);
	thunk_release(&orig);
}

static void test_thunk__listing_hash(void **state)
{
	const char *one[] = { "b.h", "a.h", ".", "c.h", ".." };
	const char *two[] = { "c.h", "a.h", "b.h" };
	const char *three[] = { "c.h", "a.h" };
	const char *glued[] = { "a.hb.h", "c.h" };
	struct gg_hash h1, h2, h3, h4, v;

	assert_int_equal(thunk_listing_hash(one, 5, &h1), 0);
	assert_int_equal(thunk_listing_hash(two, 3, &h2), 0);
	assert_int_equal(thunk_listing_hash(three, 2, &h3), 0);
	assert_int_equal(thunk_listing_hash(glued, 2, &h4), 0);
	assert_true(hash_equal(&h1, &h2));
	assert_false(hash_equal(&h1, &h3));
	assert_false(hash_equal(&h1, &h4));
	assert_int_equal(h1.kind, GG_HASH_LIST);
	assert_int_equal(hash_buf(GG_HASH_VALUE, "a.h\0b.h\0c.h", 12, &v), 0);
	assert_memory_not_equal(v.bytes, h1.bytes, GG_HASH_LEN);
	assert_int_equal(thunk_listing_hash(NULL, 0, &h1), 0);
}

static void test_thunk__local_names(void **state)
{
	static const char *const names[] = {
		"stdin", "terminal", "network", "writes-outside-tree",
		"opaque-binary", "urandom", "outlived-driver", "deletes-foreign-files",
		"cut-short",
	};

	for (unsigned i = 0; i < 9; i++) {
		assert_string_equal(thunk_local_name(1u << i), names[i]);
		assert_int_equal(thunk_local_from_name(names[i]), (int)(1u << i));
	}
	assert_int_equal(THUNK_LOCAL_ALL, 0x1ff);
	assert_null(thunk_local_name(0));
	assert_null(thunk_local_name(3));
	assert_null(thunk_local_name(1u << 9));
	assert_int_equal(thunk_local_from_name("bogus"), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_thunk__example_bytes),
		cmocka_unit_test(test_thunk__permuted_lists_same_bytes),
		cmocka_unit_test(test_thunk__value_and_thunk_hash_differ),
		cmocka_unit_test(test_thunk__secrets_filtered),
		cmocka_unit_test(test_thunk__roundtrip),
		cmocka_unit_test(test_thunk__every_truncation_fails),
		cmocka_unit_test(test_thunk__random_flips_never_crash),
		cmocka_unit_test(test_thunk__non_canonical_rejected),
		cmocka_unit_test(test_thunk__canonicalize_duplicates),
		cmocka_unit_test(test_thunk__cache_key_resolves_references),
		cmocka_unit_test(test_thunk__cache_key_like_matches_encoding),
		cmocka_unit_test(test_thunk__listing_hash),
		cmocka_unit_test(test_thunk__local_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
