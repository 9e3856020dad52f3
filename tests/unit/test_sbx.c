/* Unit tests for sandbox/: levels, exit status, capture, undeclared reads, the
 * seccomp denials, writes outside outputs, timeouts, cancellation, levels 2 and 3
 * under a filter that refuses namespaces (tests/progs/deny_unshare), determinism.
 *
 * The binary has other modes, used by tests/e2e/sandbox.sh and
 * tests/bench/sandbox-overhead.sh (test programs cannot link libgg.a):
 *   test_sbx --driver [OPTIONS] -- CMD...   run CMD in the sandbox, print a result line
 *   test_sbx --bench N [--rw DIR] [-- CMD]  per-run overhead, printed
 *   test_sbx --selftest-level2|3            checks run under deny_unshare (below)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "sandbox/sbx.h"
#include "sandbox/sbx_int.h"

#define MAXM 64

/* build/tests/progs, found from this binary's place (build/tests/unit/test_sbx). */
static char progs[PATH_MAX - 64];
static char self[PATH_MAX];

static void find_progs(void)
{
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *s;

	if (n <= 0)
		return;
	self[n] = '\0';
	if ((size_t)n >= sizeof(progs))
		return;
	memcpy(progs, self, (size_t)n + 1);
	if ((s = strrchr(progs, '/')))
		*s = '\0';
	if ((s = strrchr(progs, '/')))
		strcpy(s, "/progs");
}

struct mounts {
	struct sbx_mount v[MAXM];
	size_t n;
	char links[8][PATH_MAX];
	size_t n_links;
};

static void add(struct mounts *m, enum sbx_mount_kind kind, const char *src, const char *dst)
{
	assert_true(m->n < MAXM);
	m->v[m->n++] = (struct sbx_mount){ .kind = kind, .src = src, .dst = dst };
}

/*
 * What a dynamically linked system tool needs: /usr, the top-level links or
 * directories (/bin -> usr/bin on merged-/usr systems), the loader's cache, and
 * the test programs.
 */
static void add_system(struct mounts *m)
{
	static const char *const tops[] = { "/bin", "/sbin", "/lib", "/lib64", "/lib32" };
	struct stat st;

	add(m, SBX_MOUNT_RO, NULL, "/usr");
	for (size_t i = 0; i < sizeof(tops) / sizeof(tops[0]); i++) {
		if (lstat(tops[i], &st) < 0)
			continue;
		if (S_ISLNK(st.st_mode)) {
			char *l = m->links[m->n_links++];
			ssize_t n = readlink(tops[i], l, PATH_MAX - 1);

			assert_true(n > 0);
			l[n] = '\0';
			add(m, SBX_MOUNT_SYMLINK, l, tops[i]);
		} else if (S_ISDIR(st.st_mode)) {
			add(m, SBX_MOUNT_RO, NULL, tops[i]);
		}
	}
	if (access("/etc/ld.so.cache", F_OK) == 0)
		add(m, SBX_MOUNT_RO, NULL, "/etc/ld.so.cache");
	if (progs[0] && strncmp(progs, "/usr/", 5))
		add(m, SBX_MOUNT_RO, NULL, progs);
}

struct fx {
	char dir[64];
	char out[128], secret[128], blob[128], src[128], srcfile[128];
	char stdout_path[128], stderr_path[128];
	struct mounts m;   /* system + /out (level 1) */
	struct mounts m2;  /* system + out at its host path (level 2) */
	struct sbx_caps caps;
	struct sbx_result res;
	char prog[PATH_MAX];
};

static void write_file(const char *path, const char *s)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(s, f);
	fclose(f);
}

/* The whole of a (small) file, in a static buffer; "" if missing. */
static const char *slurp(const char *path)
{
	static char buf[65536];
	FILE *f = fopen(path, "r");
	size_t n = 0;

	buf[0] = '\0';
	if (!f)
		return buf;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path) < 0 ? -1 : 0;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	/* Not under /tmp: /tmp is a declared (writable) place of every plan. */
	strcpy(f->dir, "/var/tmp/gg-test-sbx-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->out, sizeof(f->out), "%s/out", f->dir);
	snprintf(f->secret, sizeof(f->secret), "%s/secret", f->dir);
	snprintf(f->blob, sizeof(f->blob), "%s/blob", f->dir);
	snprintf(f->src, sizeof(f->src), "%s/src", f->dir);
	snprintf(f->srcfile, sizeof(f->srcfile), "%s/src/a.c", f->dir);
	snprintf(f->stdout_path, sizeof(f->stdout_path), "%s/stdout", f->dir);
	snprintf(f->stderr_path, sizeof(f->stderr_path), "%s/stderr", f->dir);
	if (mkdir(f->out, 0755) < 0 || mkdir(f->src, 0755) < 0)
		return -1;
	write_file(f->secret, "top secret\n");
	write_file(f->blob, "#define X 1\n");
	write_file(f->srcfile, "int main(void) { return 0; }\n");
	add_system(&f->m);
	add(&f->m, SBX_MOUNT_RW, f->out, "/out");
	add_system(&f->m2);
	add(&f->m2, SBX_MOUNT_RW, NULL, f->out);
	sbx_probe(&f->caps);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static void need_level1(struct fx *f)
{
	if (f->caps.level != SBX_LEVEL_NS) {
		print_message("# level 1 unavailable here: %s\n", f->caps.why);
		skip();
	}
}

static const char *prog(struct fx *f, const char *name)
{
	snprintf(f->prog, sizeof(f->prog), "%s/%s", progs, name);
	return f->prog;
}

/* Run argv with the fixture's mounts (level 1 view unless plan says otherwise). */
static int run_plan(struct fx *f, struct sbx_plan *pl)
{
	static char *const env[] = { "PATH=/usr/bin:/bin", "LC_ALL=C", NULL };
	int rc;

	if (!pl->mounts) {
		struct mounts *m = pl->level == SBX_LEVEL_SECCOMP || pl->level == SBX_LEVEL_NONE ?
					   &f->m2 : &f->m;

		pl->mounts = m->v;
		pl->n_mounts = m->n;
	}
	if (!pl->envp)
		pl->envp = env;
	if (!pl->stdout_path)
		pl->stdout_path = f->stdout_path;
	if (!pl->stderr_path)
		pl->stderr_path = f->stderr_path;
	if (!pl->timeout_ms)
		pl->timeout_ms = 60000; /* a hang fails the test instead of the suite */
	rc = sbx_run(pl, &f->res);
	if (rc < 0)
		print_message("# sbx_run: %d: %s\n", rc, f->res.err);
	return rc;
}

static int run_argv(struct fx *f, char *const *argv, unsigned flags)
{
	struct sbx_plan pl = SBX_PLAN_INIT;

	pl.argv = argv;
	pl.flags |= flags;
	return run_plan(f, &pl);
}

/* ---- plan compilation (internals) ---- */

static void test_sbx__path_normalize(void **state)
{
	static const struct {
		const char *base, *path, *want;
	} cases[] = {
		{ "/", "/a//b/./c/", "/a/b/c" },
		{ "/x/y", "../z", "/x/z" },
		{ "/", "/..", "/" },
		{ "/a", ".", "/a" },
		{ "/a/b", "../../..", "/" },
		{ "/", "a/../../b", "/b" },
		{ "/w", "", "/w" },
		{ "/", "//", "/" },
	};
	char out[PATH_MAX];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(sbx_path_normalize(cases[i].base, cases[i].path, out, sizeof(out)),
				 0);
		assert_string_equal(out, cases[i].want);
	}
	assert_int_equal(sbx_path_normalize("/", "/abcdef", out, 4), -ENAMETOOLONG);
}

static void test_sbx__decl_check(void **state)
{
	struct fx *f = *state;
	struct sbx_plan pl = SBX_PLAN_INIT;
	char *const argv[] = { "x", NULL };
	char absent[192], missing[192], probe[192], p[32][192];
	struct sbx_mount m[8];
	struct sbx_prep prep;
	char err[512] = "", buf[PATH_MAX];
	size_t n = 0;
	struct {
		const char *path;
		bool write;
		enum sbx_verdict want;
	} cases[32];
	size_t nc = 0;

	snprintf(absent, sizeof(absent), "%s/missing.h", f->src);
	snprintf(probe, sizeof(probe), "%s/probe.o", f->out);
	m[n++] = (struct sbx_mount){ SBX_MOUNT_RO, NULL, "/usr" };
	m[n++] = (struct sbx_mount){ SBX_MOUNT_RO, NULL, f->srcfile };
	m[n++] = (struct sbx_mount){ SBX_MOUNT_RW, NULL, f->out };
	m[n++] = (struct sbx_mount){ SBX_MOUNT_ABSENT, NULL, absent };
	m[n++] = (struct sbx_mount){ SBX_MOUNT_ABSENT, NULL, probe };
	m[n++] = (struct sbx_mount){ SBX_MOUNT_SYMLINK, "usr/lib", "/lib" };
	pl.argv = argv;
	pl.mounts = m;
	pl.n_mounts = n;
	pl.flags = SBX_TMP;
	assert_int_equal(sbx_prep_build(&prep, &pl, SBX_LEVEL_SECCOMP, err, sizeof(err)), 0);

#define CASE(w, fmt, ...)                                                  \
	do {                                                               \
		snprintf(p[nc], sizeof(p[nc]), fmt, __VA_ARGS__);          \
		cases[nc].path = p[nc];                                    \
		cases[nc].write = w;                                       \
		cases[nc].want = want_;                                    \
		nc++;                                                      \
	} while (0)
	{
		enum sbx_verdict want_;

		want_ = SBX_ALLOW;
		CASE(false, "%s", "/usr/include/stdio.h");
		CASE(false, "%s", f->srcfile);
		CASE(false, "%s", f->src); /* an ancestor */
		CASE(false, "%s", "/");
		CASE(true, "%s/x.o", f->out);
		CASE(false, "%s", probe); /* absent, but in a writable tree */
		CASE(true, "%s", "/tmp/t");
		CASE(false, "%s", "/lib"); /* the link itself */
		want_ = SBX_READONLY;
		CASE(true, "%s", "/usr/include/evil.h");
		CASE(true, "%s/new.o", f->src); /* its parent is declared */
		CASE(true, "%s", f->srcfile);
		want_ = SBX_UNDECLARED;
		CASE(false, "%s/b.c", f->src);
		CASE(false, "%s", "/etc/passwd");
		CASE(false, "%s", f->secret);
		want_ = SBX_ABSENT;
		CASE(false, "%s", absent);
		CASE(false, "%s", "/etc/ld.so.preload");
		want_ = SBX_NOWRITE;
		CASE(true, "%s", "/nowhere/x");
	}
#undef CASE
	for (size_t i = 0; i < nc; i++) {
		enum sbx_verdict v = sbx_decl_check(&prep, cases[i].path, cases[i].write);

		if (v != cases[i].want)
			print_message("# %s (%s): %d, want %d\n", cases[i].path,
				      cases[i].write ? "write" : "read", v, cases[i].want);
		assert_int_equal(v, cases[i].want);
	}
	assert_int_equal(sbx_decl_resolve(&prep, "/lib/x86_64-linux-gnu/libc.so.6", true, buf,
					  sizeof(buf)),
			 0);
	assert_string_equal(buf, "/usr/lib/x86_64-linux-gnu/libc.so.6");
	assert_int_equal(sbx_decl_resolve(&prep, "/lib", false, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/lib");
	(void)missing;
	sbx_prep_release(&prep);
}

/* A path below a declared symlink is placed through it; the operations are sorted. */
static void test_sbx__ops_sorted_and_placed(void **state)
{
	struct fx *f = *state;
	struct sbx_plan pl = SBX_PLAN_INIT;
	char *const argv[] = { "x", NULL };
	struct sbx_mount m[] = {
		{ SBX_MOUNT_RO, NULL, "/lib/x86_64-linux-gnu/libc.so.6" },
		{ SBX_MOUNT_SYMLINK, "usr/lib", "/lib" },
		{ SBX_MOUNT_RO, f->blob, "/src/include/b.h" },
		{ SBX_MOUNT_RO, f->blob, "/src/include/a.h" },
	};
	struct sbx_prep prep;
	char err[512] = "";
	size_t i;

	need_level1(f);
	pl.argv = argv;
	pl.mounts = m;
	pl.n_mounts = sizeof(m) / sizeof(m[0]);
	pl.flags = 0;
	assert_int_equal(sbx_prep_build(&prep, &pl, SBX_LEVEL_NS, err, sizeof(err)), 0);
	for (i = 1; i < prep.n_ops; i++)
		assert_true(strcmp(prep.ops[i - 1].dst, prep.ops[i].dst) < 0);
	for (i = 0; i < prep.n_ops; i++)
		if (!strcmp(prep.ops[i].dst, SBX_NEWROOT "/usr/lib/x86_64-linux-gnu/libc.so.6"))
			break;
	assert_true(i < prep.n_ops);
	assert_int_equal(prep.ops[i].type, SBX_OP_BIND);
	/* The source is canonical (no symlink left), under the old root. */
	assert_true(!strncmp(prep.ops[i].src, SBX_OLDROOT "/", strlen(SBX_OLDROOT) + 1));
	sbx_prep_release(&prep);
}

static void test_sbx__bad_plans(void **state)
{
	struct fx *f = *state;
	char *const argv[] = { "/usr/bin/true", NULL };
	char *const missing_argv[] = { "/usr/bin/no-such-tool", NULL };
	struct sbx_mount rel[] = { { SBX_MOUNT_RO, NULL, "usr" } };
	struct sbx_mount twice[] = { { SBX_MOUNT_RO, NULL, "/usr" }, { SBX_MOUNT_ABSENT, NULL, "/usr" } };
	struct sbx_mount nosrc[] = { { SBX_MOUNT_RO, "/nonexistent/gg-src", "/x" } };
	struct sbx_mount below[] = { { SBX_MOUNT_RO, f->blob, "/etc/b.h" },
				     { SBX_MOUNT_RO, f->blob, "/etc/b.h/c.h" } };
	struct {
		const char *what;
		struct sbx_plan pl;
		int want;
		const char *msg;
	} cases[8];
	size_t n = 0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cases[i].pl = (struct sbx_plan)SBX_PLAN_INIT;
	cases[n].what = "no argv";
	cases[n].want = -EINVAL;
	cases[n++].msg = "empty command";
	cases[n].what = "relative dst";
	cases[n].pl.argv = argv;
	cases[n].pl.mounts = rel;
	cases[n].pl.n_mounts = 1;
	cases[n].want = -EINVAL;
	cases[n++].msg = "not absolute";
	cases[n].what = "declared twice";
	cases[n].pl.argv = argv;
	cases[n].pl.mounts = twice;
	cases[n].pl.n_mounts = 2;
	cases[n].want = -EINVAL;
	cases[n++].msg = "declared twice";
	cases[n].what = "missing source";
	cases[n].pl.argv = argv;
	cases[n].pl.mounts = nosrc;
	cases[n].pl.n_mounts = 1;
	cases[n].want = -ENOENT;
	cases[n++].msg = "/nonexistent/gg-src";
	cases[n].what = "file with paths below";
	cases[n].pl.argv = argv;
	cases[n].pl.mounts = below;
	cases[n].pl.n_mounts = 2;
	cases[n].want = -EINVAL;
	cases[n++].msg = "not a directory";
	cases[n].what = "relative cwd";
	cases[n].pl.argv = argv;
	cases[n].pl.cwd = "src";
	cases[n].want = -EINVAL;
	cases[n++].msg = "not absolute";
	cases[n].what = "no such level";
	cases[n].pl.argv = argv;
	cases[n].pl.level = 5;
	cases[n].want = -EINVAL;
	cases[n++].msg = "no sandbox level";
	cases[n].what = "missing executable";
	cases[n].pl.argv = missing_argv;
	cases[n].want = -ENOENT;
	cases[n++].msg = "cannot execute '/usr/bin/no-such-tool'";
	for (size_t i = 0; i < n; i++) {
		int rc = sbx_run(&cases[i].pl, &f->res);

		if (rc != cases[i].want || !strstr(f->res.err, cases[i].msg))
			print_message("# %s: %d '%s'\n", cases[i].what, rc, f->res.err);
		assert_int_equal(rc, cases[i].want);
		assert_non_null(strstr(f->res.err, cases[i].msg));
	}
}

static void test_sbx__env_defaults(void **state)
{
	char *const env[] = { "A=1", "TZ=Europe/Paris", "SOURCE_DATE_EPOCH=5", "B=2", NULL };
	char **e = sbx_env_defaults(env, 1700000000);

	assert_non_null(e);
	assert_string_equal(e[0], "A=1");
	assert_string_equal(e[1], "B=2");
	assert_string_equal(e[2], "TZ=UTC");
	assert_string_equal(e[3], "SOURCE_DATE_EPOCH=1700000000");
	assert_null(e[4]);
	free(e);
	e = sbx_env_defaults(NULL, -1);
	assert_non_null(e);
	assert_string_equal(e[0], "TZ=UTC");
	assert_null(e[1]);
	free(e);
}

/* ---- level 1 ---- */

static void test_sbx__probe_reports_level(void **state)
{
	struct fx *f = *state;
	struct sbx_caps again;

	print_message("# probe: level %d userns=%d seccomp=%d notify=%d addfd=%d %s\n",
		      f->caps.level, f->caps.userns, f->caps.seccomp, f->caps.notify,
		      f->caps.addfd, f->caps.why);
	assert_true(f->caps.level >= SBX_LEVEL_NS && f->caps.level <= SBX_LEVEL_NONE);
	assert_int_equal(f->caps.level == SBX_LEVEL_NS, f->caps.userns && f->caps.seccomp);
	sbx_probe(&again);
	assert_memory_equal(&again, &f->caps, sizeof(again));
}

static void test_sbx__true_exits_zero(void **state)
{
	struct fx *f = *state;
	char *const argv[] = { "/bin/true", NULL };

	need_level1(f);
	assert_int_equal(run_argv(f, argv, 0), 0);
	assert_int_equal(f->res.level, SBX_LEVEL_NS);
	assert_true(f->res.exited);
	assert_int_equal(f->res.status, 0);
	assert_false(f->res.timed_out);
	assert_true(f->res.wall_ns > 0);
}

static void test_sbx__exit_status_and_signal(void **state)
{
	struct fx *f = *state;
	char *const exit3[] = { "/bin/sh", "-c", "exit 3", NULL };
	char *const killed[] = { "/bin/sh", "-c", "kill -TERM $$", NULL };

	need_level1(f);
	assert_int_equal(run_argv(f, exit3, 0), 0);
	assert_true(f->res.exited);
	assert_int_equal(f->res.status, 3);
	assert_int_equal(run_argv(f, killed, 0), 0);
	assert_false(f->res.exited);
	assert_int_equal(f->res.signal, SIGTERM);
}

static void test_sbx__captures_output(void **state)
{
	struct fx *f = *state;
	char *const argv[] = { "/bin/sh", "-c", "echo out; echo err >&2", NULL };
	struct sbx_plan pl = SBX_PLAN_INIT;

	need_level1(f);
	pl.argv = argv;
	assert_int_equal(run_plan(f, &pl), 0);
	assert_string_equal(slurp(f->stdout_path), "out\n");
	assert_string_equal(slurp(f->stderr_path), "err\n");
	/* One shared file for both. */
	pl = (struct sbx_plan)SBX_PLAN_INIT;
	pl.argv = argv;
	pl.stdout_path = pl.stderr_path = f->stdout_path;
	assert_int_equal(run_plan(f, &pl), 0);
	assert_string_equal(slurp(f->stdout_path), "out\nerr\n");
}

/* Exactly the environment, identity, hostname, umask and cwd of the plan. */
static void test_sbx__deterministic_identity(void **state)
{
	struct fx *f = *state;
	char *const env[] = { "A=1", "B=two words", NULL };
	char *const envargv[] = { "/usr/bin/env", NULL };
	char *const idargv[] = { "/bin/sh", "-c",
				 "id -u; id -g; cat /proc/sys/kernel/hostname; umask; pwd; echo $$",
				 NULL };
	struct sbx_plan pl = SBX_PLAN_INIT;

	need_level1(f);
	pl.argv = envargv;
	pl.envp = env;
	assert_int_equal(run_plan(f, &pl), 0);
	assert_string_equal(slurp(f->stdout_path), "A=1\nB=two words\n");
	pl = (struct sbx_plan)SBX_PLAN_INIT;
	pl.argv = idargv;
	pl.uid = 1000;
	pl.gid = 100;
	pl.umask = 027;
	pl.cwd = "/out";
	assert_int_equal(run_plan(f, &pl), 0);
	assert_string_equal(slurp(f->stdout_path), "1000\n100\ngg\n0027\n/out\n2\n");
}

/* The command inherits nothing but stdio from a caller full of descriptors. */
static void test_sbx__no_stray_descriptors(void **state)
{
	struct fx *f = *state;
	char *const argv[] = { "/bin/sh", "-c", "cd /proc/self/fd && echo *", NULL };
	int fd = open("/dev/null", O_RDONLY); /* not close-on-exec, on purpose */

	need_level1(f);
	assert_true(fd >= 0);
	assert_int_equal(run_argv(f, argv, 0), 0);
	close(fd);
	/* 0 1 2, and the directory the shell's glob has open. */
	assert_string_equal(slurp(f->stdout_path), "0 1 2 3\n");
}

/* /bin/true with only its loader, libc and the loader's cache declared. */
static void test_sbx__minimal_inputs(void **state)
{
	struct fx *f = *state;
	char *const argv[] = { "/usr/bin/true", NULL };
	static char paths[16][PATH_MAX];
	struct sbx_mount m[20];
	struct sbx_plan pl = SBX_PLAN_INIT;
	char line[PATH_MAX * 2];
	size_t n = 0, np = 0;
	FILE *p;

	need_level1(f);
	p = popen("ldd /usr/bin/true", "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p) && np < 16) {
		char *s = strstr(line, "=> /");

		s = s ? s + 3 : strchr(line, '/');
		if (!s)
			continue;
		s[strcspn(s, " \t\n")] = '\0';
		snprintf(paths[np], PATH_MAX, "%s", s);
		m[n++] = (struct sbx_mount){ SBX_MOUNT_RO, NULL, paths[np++] };
	}
	pclose(p);
	assert_true(np >= 2);
	m[n++] = (struct sbx_mount){ SBX_MOUNT_RO, NULL, "/usr/bin/true" };
	m[n++] = (struct sbx_mount){ SBX_MOUNT_RO, NULL, "/etc/ld.so.cache" };
	pl.argv = argv;
	pl.mounts = m;
	pl.n_mounts = n;
	pl.flags |= SBX_SUPERVISE;
	assert_int_equal(run_plan(f, &pl), 0);
	if (f->res.undeclared[0])
		print_message("# undeclared: %s (%s)\n", f->res.undeclared, f->res.undeclared_op);
	assert_true(f->res.exited);
	assert_int_equal(f->res.status, 0);
	assert_string_equal(f->res.undeclared, "");
	assert_true(f->res.n_notified > 0);
}

/*
 * A probe never makes a plan fail: a path probed below a file (Python started as
 * /usr/bin/meson looks for /usr/bin/gettext/__init__.py) is answered ENOTDIR by the
 * kernel, as when it was recorded, and the file stays a file; an absent path with
 * a declared input below it becomes that input's directory.
 */
static void test_sbx__probes_below_a_file(void **state)
{
	struct fx *f = *state;
	char *const argv[] = { "/bin/sh", "-c",
			       "cat /src/include/x.h; cat /src/include/x.h/sub.h; "
			       "test -f /src/include/x.h && echo file; cat /src/gone/y.h",
			       NULL };
	struct mounts m = f->m;
	struct sbx_plan pl = SBX_PLAN_INIT;
	const char *err;

	need_level1(f);
	add(&m, SBX_MOUNT_RO, f->blob, "/src/include/x.h");
	add(&m, SBX_MOUNT_ABSENT, NULL, "/src/include/x.h/sub.h");
	add(&m, SBX_MOUNT_ABSENT, NULL, "/src/include/x.h/deeper/sub.h");
	add(&m, SBX_MOUNT_ABSENT, NULL, "/src/gone");
	add(&m, SBX_MOUNT_RO, f->blob, "/src/gone/y.h");
	pl.argv = argv;
	pl.mounts = m.v;
	pl.n_mounts = m.n;
	pl.flags |= SBX_SUPERVISE;
	assert_int_equal(run_plan(f, &pl), 0);
	assert_true(f->res.exited);
	assert_string_equal(slurp(f->stdout_path), "#define X 1\nfile\n#define X 1\n");
	err = slurp(f->stderr_path);
	if (!strstr(err, "Not a directory"))
		print_message("# stderr: %s\n", err);
	assert_non_null(strstr(err, "Not a directory"));
	assert_int_equal(f->res.status, 0);
}

/* An input whose host source differs (a blob of a store) appears at its path. */
static void test_sbx__remapped_input(void **state)
{
	struct fx *f = *state;
	char *const argv[] = { "/bin/cat", "/src/include/x.h", NULL };
	struct mounts m = f->m;
	struct sbx_plan pl = SBX_PLAN_INIT;

	need_level1(f);
	add(&m, SBX_MOUNT_RO, f->blob, "/src/include/x.h");
	pl.argv = argv;
	pl.mounts = m.v;
	pl.n_mounts = m.n;
	assert_int_equal(run_plan(f, &pl), 0);
	assert_int_equal(f->res.status, 0);
	assert_string_equal(slurp(f->stdout_path), "#define X 1\n");
}

static void test_sbx__undeclared_read_named(void **state)
{
	struct fx *f = *state;
	char *const argv[] = { "/bin/cat", f->secret, NULL };
	char *const tool[] = { "/opt/gg-none/tool", NULL };

	need_level1(f);
	/* Without the supervisor: the file is simply not there. */
	assert_int_equal(run_argv(f, argv, 0), 0);
	assert_int_equal(f->res.status, 1);
	assert_string_equal(f->res.undeclared, "");
	assert_false(f->res.supervised);
	/* With it: named. */
	assert_int_equal(run_argv(f, argv, SBX_SUPERVISE), 0);
	assert_true(f->res.supervised);
	assert_int_equal(f->res.status, 1);
	assert_string_equal(f->res.undeclared, f->secret);
	assert_string_equal(f->res.undeclared_op, "openat");
	assert_non_null(strstr(slurp(f->stderr_path), "No such file"));
	/* An undeclared executable. */
	assert_int_equal(run_argv(f, tool, SBX_SUPERVISE), -ENOENT);
	assert_string_equal(f->res.undeclared, "/opt/gg-none/tool");
	assert_string_equal(f->res.undeclared_op, "execve");
}

static void test_sbx__socket_inet_denied(void **state)
{
	struct fx *f = *state;
	char *argv[] = { NULL, "socket-inet", "socket-inet6", "socket-netlink", "socket-packet",
			 "socket-unix", NULL };

	need_level1(f);
	argv[0] = (char *)prog(f, "sbx_syscalls");
	for (int sup = 0; sup < 2; sup++) {
		assert_int_equal(run_argv(f, argv, sup ? SBX_SUPERVISE : 0), 0);
		assert_string_equal(slurp(f->stdout_path),
				    "socket-inet errno=EACCES\nsocket-inet6 errno=EACCES\n"
				    "socket-netlink errno=EACCES\nsocket-packet errno=EACCES\n"
				    "socket-unix ok\n");
		if (sup) {
			assert_string_equal(f->res.denied, "socket(AF_INET)");
			assert_int_equal(f->res.n_denied, 4);
		}
	}
}

static void test_sbx__forbidden_syscalls(void **state)
{
	struct fx *f = *state;
	char *argv[] = { NULL,	   "unshare",	  "clone-newuser", "clone3", "mount",
			 "ptrace", "bpf",	  "keyctl",	   "io_uring", "userfaultfd",
			 "perf",   "clock_settime", NULL };

	need_level1(f);
	argv[0] = (char *)prog(f, "sbx_syscalls");
	for (int sup = 0; sup < 2; sup++) {
		assert_int_equal(run_argv(f, argv, sup ? SBX_SUPERVISE : 0), 0);
		assert_string_equal(slurp(f->stdout_path),
				    "unshare errno=EPERM\nclone-newuser errno=EPERM\n"
				    "clone3 errno=ENOSYS\nmount errno=EPERM\nptrace errno=EPERM\n"
				    "bpf errno=EPERM\nkeyctl errno=EPERM\nio_uring errno=EPERM\n"
				    "userfaultfd errno=EPERM\nperf errno=EPERM\n"
				    "clock_settime errno=EPERM\n");
	}
	assert_string_equal(f->res.denied, "unshare");
	assert_int_equal(f->res.n_denied, 10);
}

static void test_sbx__write_outside_outputs_denied(void **state)
{
	struct fx *f = *state;
	char *const argv[] = { "/bin/sh", "-c",
			       "echo a > /out/ok.txt; echo b > /usr/gg-evil.txt; echo c > /gg-evil.txt;"
			       "echo d > /tmp/t.txt && cat /tmp/t.txt",
			       NULL };
	char path[256];

	need_level1(f);
	for (int sup = 0; sup < 2; sup++) {
		assert_int_equal(run_argv(f, argv, sup ? SBX_SUPERVISE : 0), 0);
		snprintf(path, sizeof(path), "%s/ok.txt", f->out);
		assert_string_equal(slurp(path), "a\n");
		assert_int_equal(access("/usr/gg-evil.txt", F_OK), -1);
		assert_int_equal(access("/gg-evil.txt", F_OK), -1);
		assert_string_equal(slurp(f->stdout_path), "d\n");
		assert_non_null(strstr(slurp(f->stderr_path), "Read-only file system"));
		unlink(path);
	}
	assert_string_equal(f->res.denied, "write '/usr/gg-evil.txt' (openat)");
	assert_int_equal(f->res.n_denied, 2);
}

/* `mkdir -p` below an output creates what it must, and is not reported for the rest. */
static void test_sbx__mkdir_p_in_outputs(void **state)
{
	struct fx *f = *state;
	char *const argv[] = { "/bin/mkdir", "-p", "/work/x/out/a/b", NULL };
	struct mounts m = f->m;
	struct sbx_plan pl = SBX_PLAN_INIT;
	char path[256];
	struct stat st;

	need_level1(f);
	add(&m, SBX_MOUNT_RW, f->out, "/work/x/out");
	pl.argv = argv;
	pl.mounts = m.v;
	pl.n_mounts = m.n;
	pl.flags |= SBX_SUPERVISE;
	assert_int_equal(run_plan(f, &pl), 0);
	assert_int_equal(f->res.status, 0);
	snprintf(path, sizeof(path), "%s/a/b", f->out);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_string_equal(f->res.denied, "");
}

static void test_sbx__timeout_kills_tree(void **state)
{
	struct fx *f = *state;
	char *const argv[] = { "/bin/sh", "-c", "sleep 100 & sleep 100", NULL };
	struct sbx_plan pl = SBX_PLAN_INIT;

	need_level1(f);
	pl.argv = argv;
	pl.timeout_ms = 300;
	assert_int_equal(run_plan(f, &pl), 0);
	assert_true(f->res.timed_out);
	assert_false(f->res.exited);
	assert_int_equal(f->res.signal, SIGKILL);
	assert_true(f->res.wall_ns < 10ULL * 1000000000ULL);
}

static void *cancel_later(void *arg)
{
	int fd = *(int *)arg;
	struct timespec ts = { 0, 200 * 1000000 };

	nanosleep(&ts, NULL);
	if (write(fd, "x", 1) != 1)
		return NULL;
	return NULL;
}

static void test_sbx__cancel_kills_tree(void **state)
{
	struct fx *f = *state;
	char *const argv[] = { "/bin/sh", "-c", "sleep 100", NULL };
	struct sbx_plan pl = SBX_PLAN_INIT;
	pthread_t t;
	int p[2];

	need_level1(f);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pl.argv = argv;
	pl.cancel_fd = p[0];
	assert_int_equal(pthread_create(&t, NULL, cancel_later, &p[1]), 0);
	assert_int_equal(run_plan(f, &pl), -ECANCELED);
	pthread_join(t, NULL);
	assert_true(f->res.wall_ns < 10ULL * 1000000000ULL);
	close(p[0]);
	close(p[1]);
}

static void test_sbx__deterministic_random(void **state)
{
	struct fx *f = *state;
	char *argv[] = { NULL, "getrandom", "getrandom", "urandom", "urandom", NULL };
	struct sbx_plan pl = SBX_PLAN_INIT;
	char first[512], lines[4][128];

	need_level1(f);
	argv[0] = (char *)prog(f, "sbx_syscalls");
	pl.argv = argv;
	pl.flags |= SBX_SUPERVISE;
	pl.random_seed = 42;
	assert_int_equal(run_plan(f, &pl), 0);
	snprintf(first, sizeof(first), "%s", slurp(f->stdout_path));
	assert_int_equal(sscanf(first, "%127[^\n]\n%127[^\n]\n%127[^\n]\n%127[^\n]", lines[0],
				lines[1], lines[2], lines[3]),
			 4);
	assert_string_not_equal(lines[0], lines[1]); /* the stream advances */
	assert_string_equal(lines[2], lines[3]);      /* each open reads from the start */
	pl.mounts = NULL;
	assert_int_equal(run_plan(f, &pl), 0);
	assert_string_equal(slurp(f->stdout_path), first);
	pl.mounts = NULL;
	pl.random_seed = 43;
	assert_int_equal(run_plan(f, &pl), 0);
	assert_string_not_equal(slurp(f->stdout_path), first);
	/* Without the supervisor getrandom fails (libc falls back to /dev/urandom). */
	pl = (struct sbx_plan)SBX_PLAN_INIT;
	pl.argv = argv;
	pl.random_seed = 42;
	assert_int_equal(run_plan(f, &pl), 0);
	assert_non_null(strstr(slurp(f->stdout_path), "getrandom errno=ENOSYS\n"));
	assert_non_null(strstr(slurp(f->stdout_path), lines[2]));
}

struct par {
	struct fx *f;
	int failures;
};

static void *par_runs(void *arg)
{
	struct par *p = arg;
	char *const argv[] = { "/bin/true", NULL };
	struct sbx_result *res = calloc(1, sizeof(*res));

	for (int i = 0; i < 5 && res; i++) {
		struct sbx_plan pl = SBX_PLAN_INIT;

		pl.argv = argv;
		pl.mounts = p->f->m.v;
		pl.n_mounts = p->f->m.n;
		if (sbx_run(&pl, res) != 0 || !res->exited || res->status != 0)
			p->failures++;
	}
	free(res);
	return NULL;
}

static void test_sbx__parallel_runs(void **state)
{
	struct fx *f = *state;
	struct par p[4];
	pthread_t t[4];

	need_level1(f);
	for (int i = 0; i < 4; i++) {
		p[i] = (struct par){ f, 0 };
		assert_int_equal(pthread_create(&t[i], NULL, par_runs, &p[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(p[i].failures, 0);
	}
}

struct meet {
	struct fx *f;
	const char *me, *other;
	char out[160];
	int rc;
	struct sbx_result res;
};

static void *meet_run(void *arg)
{
	struct meet *m = arg;
	char *const argv[] = { (char *)m->f->prog, "rendezvous", "/out", (char *)m->me,
			       (char *)m->other, NULL };
	struct sbx_plan pl = SBX_PLAN_INIT;

	pl.argv = argv;
	pl.mounts = m->f->m.v;
	pl.n_mounts = m->f->m.n;
	pl.stdout_path = m->out;
	pl.timeout_ms = 120000;
	m->rc = sbx_run(&pl, &m->res);
	return NULL;
}

/*
 * Two runs at the same time (they meet through a shared output directory) never
 * share a network namespace, whether each gets a fresh one or a leased one.
 */
static void test_sbx__network_namespace_per_run(void **state)
{
	struct fx *f = *state;
	struct meet *m = calloc(2, sizeof(*m));
	char ino[2][64];
	pthread_t t[2];

	need_level1(f);
	assert_non_null(m);
	prog(f, "sbx_netns");
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 2; i++) {
			m[i].f = f;
			m[i].me = i ? "b" : "a";
			m[i].other = i ? "a" : "b";
			snprintf(m[i].out, sizeof(m[i].out), "%s/meet%d", f->dir, i);
			assert_int_equal(pthread_create(&t[i], NULL, meet_run, &m[i]), 0);
		}
		for (int i = 0; i < 2; i++) {
			pthread_join(t[i], NULL);
			assert_int_equal(m[i].rc, 0);
			assert_true(m[i].res.exited);
			assert_int_equal(m[i].res.status, 0);
			snprintf(ino[i], sizeof(ino[i]), "%s", slurp(m[i].out));
			assert_true(ino[i][0] >= '1' && ino[i][0] <= '9');
		}
		assert_string_not_equal(ino[0], ino[1]);
		for (int i = 0; i < 2; i++) {
			char path[256];

			snprintf(path, sizeof(path), "%s/%s", f->out, i ? "b" : "a");
			assert_int_equal(unlink(path), 0);
		}
	}
	free(m);
}

/*
 * What a command does to its network namespace does not reach the next run: `lo`
 * brought up (or the attempt refused: a leased namespace is not the command's to
 * configure) is down again for the next command.
 */
static void test_sbx__network_namespace_unchanged_by_runs(void **state)
{
	struct fx *f = *state;
	char *const up[] = { (char *)prog(f, "sbx_netns"), "ifup", NULL };
	char *const flags[] = { f->prog, "ifflags", NULL };

	need_level1(f);
	for (int i = 0; i < 3; i++) {
		struct sbx_plan pl = SBX_PLAN_INIT;

		pl.argv = up;
		assert_int_equal(run_plan(f, &pl), 0);
		assert_true(f->res.exited);
		assert_int_equal(f->res.status, 0);
		pl = (struct sbx_plan)SBX_PLAN_INIT;
		pl.argv = flags;
		assert_int_equal(run_plan(f, &pl), 0);
		assert_int_equal(f->res.status, 0);
		assert_string_equal(slurp(f->stdout_path), "lo down\n");
	}
}

/* A caller ignoring SIGCHLD (its children reaped by the kernel) still gets a status. */
static void test_sbx__caller_ignores_sigchld(void **state)
{
	struct fx *f = *state;
	char *const argv[] = { "/bin/sh", "-c", "exit 7", NULL };
	struct sigaction ign = { .sa_handler = SIG_IGN }, old;
	int rc;

	for (int level = f->caps.level; level <= SBX_LEVEL_NONE; level++) {
		struct sbx_plan pl = SBX_PLAN_INIT;

		pl.argv = argv;
		pl.level = level;
		pl.timeout_ms = 5000;
		sigaction(SIGCHLD, &ign, &old);
		rc = run_plan(f, &pl);
		sigaction(SIGCHLD, &old, NULL);
		assert_int_equal(rc, 0);
		assert_false(f->res.timed_out);
		assert_true(f->res.exited);
		assert_int_equal(f->res.status, 7);
	}
}

/* ---- levels 2 and 3 ---- */

/*
 * Level 3 is the host engine's child process (runtime/engine/host.c): a plan with
 * no mounts and no flags, run in the host's tree.
 */
static void level3_plan(struct sbx_plan *pl, char *const *argv)
{
	static const struct sbx_mount none[1];

	*pl = (struct sbx_plan)SBX_PLAN_INIT;
	pl->argv = argv;
	pl->level = SBX_LEVEL_NONE;
	pl->flags = 0;
	pl->mounts = none;
	pl->n_mounts = 0;
}

/* The exact environment, cwd, umask and stdio of the plan, and the exit status. */
static void test_sbx__level3_environment_cwd_umask_stdio(void **state)
{
	struct fx *f = *state;
	char *const argv[] = { "/bin/sh", "-c",
			       "echo \"$FOO ${HOME-unset} $(pwd) $(umask)\"; cat; echo err >&2; exit 5",
			       NULL };
	char *const env[] = { "FOO=bar", "PATH=/usr/bin:/bin", NULL };
	char in[PATH_MAX + 16], want[2 * PATH_MAX];
	struct sbx_plan pl;
	int fd;

	snprintf(in, sizeof(in), "%s/stdin", f->dir);
	write_file(in, "from stdin\n");
	fd = open(in, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	level3_plan(&pl, argv);
	pl.envp = env;
	pl.cwd = f->src;
	pl.umask = 027;
	pl.stdin_fd = fd;
	assert_int_equal(run_plan(f, &pl), 0);
	close(fd);
	assert_int_equal(f->res.level, SBX_LEVEL_NONE);
	assert_true(f->res.exited);
	assert_int_equal(f->res.status, 5);
	snprintf(want, sizeof(want), "bar unset %s 0027\nfrom stdin\n", f->src);
	assert_string_equal(slurp(f->stdout_path), want);
	assert_string_equal(slurp(f->stderr_path), "err\n");
}

/* An executable that cannot be executed is an error saying so, not "exited 127". */
static void test_sbx__level3_exec_error_reported(void **state)
{
	struct fx *f = *state;
	char *const missing[] = { "/nonexistent/gg-tool", NULL };
	char *const noexec[] = { f->srcfile, NULL };
	char *const exits127[] = { "/bin/sh", "-c", "exit 127", NULL };
	struct sbx_plan pl;

	level3_plan(&pl, missing);
	assert_int_equal(run_plan(f, &pl), -ENOENT);
	assert_false(f->res.exited);
	assert_non_null(strstr(f->res.err, "cannot execute '/nonexistent/gg-tool'"));
	level3_plan(&pl, noexec); /* a file without the x bit */
	assert_int_equal(run_plan(f, &pl), -EACCES);
	assert_non_null(strstr(f->res.err, "cannot execute"));
	level3_plan(&pl, exits127); /* a command's own 127 is a status */
	assert_int_equal(run_plan(f, &pl), 0);
	assert_true(f->res.exited);
	assert_int_equal(f->res.status, 127);
}

/* A missing cwd is a setup error too. */
static void test_sbx__level3_bad_cwd_reported(void **state)
{
	struct fx *f = *state;
	char *const argv[] = { "/bin/true", NULL };
	char cwd[PATH_MAX + 16];
	struct sbx_plan pl;

	snprintf(cwd, sizeof(cwd), "%s/no-such-dir", f->dir);
	level3_plan(&pl, argv);
	pl.cwd = cwd;
	assert_int_equal(run_plan(f, &pl), -ENOENT);
	assert_false(f->res.exited);
	assert_true(f->res.err[0] != '\0');
}

/* Timeout and cancellation kill the whole tree, a background child included. */
static void test_sbx__level3_kills_tree(void **state)
{
	struct fx *f = *state;
	char script[PATH_MAX + 64], pidfile[PATH_MAX + 16];
	char *const argv[] = { "/bin/sh", "-c", script, NULL };
	struct sbx_plan pl;
	int cancel[2];
	long pid;

	snprintf(pidfile, sizeof(pidfile), "%s/bg.pid", f->dir);
	snprintf(script, sizeof(script), "sleep 600 & echo $! > %s; wait", pidfile);
	for (int round = 0; round < 2; round++) {
		unlink(pidfile);
		level3_plan(&pl, argv);
		if (round == 0) {
			pl.timeout_ms = 300;
			assert_int_equal(run_plan(f, &pl), 0);
			assert_true(f->res.timed_out);
			assert_false(f->res.exited);
		} else {
			assert_int_equal(pipe(cancel), 0);
			assert_int_equal(write(cancel[1], "x", 1), 1);
			pl.cancel_fd = cancel[0];
			assert_int_equal(run_plan(f, &pl), -ECANCELED);
			close(cancel[0]);
			close(cancel[1]);
		}
		pid = atol(slurp(pidfile));
		if (pid > 0) /* (cancelled before the shell wrote it: nothing to look for) */
			assert_true(kill((pid_t)pid, 0) < 0 && errno == ESRCH);
	}
}


static void test_sbx__require_level_refused(void **state)
{
	struct fx *f = *state;
	char *const argv[] = { "/bin/true", NULL };
	struct sbx_plan pl = SBX_PLAN_INIT;

	pl.argv = argv;
	pl.level = SBX_LEVEL_NONE;
	pl.require_level = SBX_LEVEL_SECCOMP;
	assert_int_equal(sbx_run(&pl, &f->res), -EPERM);
	assert_non_null(strstr(f->res.err, "sandbox level 2 required"));
	pl.level = SBX_LEVEL_ANY;
	pl.require_level = f->caps.level;
	pl.mounts = f->caps.level == SBX_LEVEL_NS ? f->m.v : f->m2.v;
	pl.n_mounts = f->caps.level == SBX_LEVEL_NS ? f->m.n : f->m2.n;
	assert_int_equal(sbx_run(&pl, &f->res), 0);
	assert_int_equal(f->res.level, f->caps.level);
}

/* Count live processes (zombies aside) whose command line holds `marker`. */
static int count_procs(const char *marker)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		char path[300], buf[4096];
		ssize_t len;
		int fd;

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
		fd = open(path, O_RDONLY);
		if (fd < 0)
			continue;
		len = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (len <= 0)
			continue; /* zombies have an empty command line */
		for (ssize_t i = 0; i < len; i++)
			if (!buf[i])
				buf[i] = ' ';
		buf[len] = '\0';
		n += strstr(buf, marker) != NULL;
	}
	closedir(d);
	return n;
}

/* Level 2 chosen on purpose: seccomp and the supervisor still apply. */
static void test_sbx__level2_forced_enforces(void **state)
{
	struct fx *f = *state;
	char *argv[] = { NULL, "socket-inet", "socket-unix", "read", f->secret, NULL };
	struct sbx_mount remap[] = { { SBX_MOUNT_RO, f->blob, "/src/x.h" } };
	char *const sleepers[] = { "/bin/sh", "-c", "setsid sleep 100.7071 & sleep 100.7071",
				   NULL };
	struct sbx_plan pl = SBX_PLAN_INIT;

	if (f->caps.level > SBX_LEVEL_SECCOMP)
		skip();
	argv[0] = (char *)prog(f, "sbx_syscalls");
	pl.argv = argv;
	pl.level = SBX_LEVEL_SECCOMP;
	pl.flags |= SBX_SUPERVISE;
	assert_int_equal(run_plan(f, &pl), 0);
	assert_int_equal(f->res.level, SBX_LEVEL_SECCOMP);
	assert_true(f->res.supervised);
	assert_string_equal(slurp(f->stdout_path),
			    "socket-inet errno=EACCES\nsocket-unix ok\nread errno=ENOENT\n");
	assert_string_equal(f->res.undeclared, f->secret);
	assert_string_equal(f->res.denied, "socket(AF_INET)");
	assert_non_null(strstr(f->res.notes, "level 2"));
	/* No mount namespace: a remapped input cannot be honoured. */
	pl = (struct sbx_plan)SBX_PLAN_INIT;
	pl.argv = argv;
	pl.level = SBX_LEVEL_SECCOMP;
	pl.mounts = remap;
	pl.n_mounts = 1;
	assert_int_equal(sbx_run(&pl, &f->res), -EXDEV);
	/* The timeout kills the whole tree, a child in its own session included. */
	pl = (struct sbx_plan)SBX_PLAN_INIT;
	pl.argv = sleepers;
	pl.level = SBX_LEVEL_SECCOMP;
	pl.timeout_ms = 300;
	assert_int_equal(run_plan(f, &pl), 0);
	assert_true(f->res.timed_out);
	assert_int_equal(count_procs("100.7071"), 0);
}

/* Write outside the outputs at level 2: the supervisor refuses it. */
static void test_sbx__level2_write_outside_outputs(void **state)
{
	struct fx *f = *state;
	char cmd[512];
	char *const argv[] = { "/bin/sh", "-c", cmd, NULL };
	struct sbx_plan pl = SBX_PLAN_INIT;
	char path[256];

	if (f->caps.level > SBX_LEVEL_SECCOMP || !f->caps.notify)
		skip();
	snprintf(cmd, sizeof(cmd), "echo a > %s/ok.txt; echo b > /usr/gg-evil.txt; echo c > %s",
		 f->out, f->blob);
	pl.argv = argv;
	pl.level = SBX_LEVEL_SECCOMP;
	pl.flags |= SBX_SUPERVISE;
	assert_int_equal(run_plan(f, &pl), 0);
	snprintf(path, sizeof(path), "%s/ok.txt", f->out);
	assert_string_equal(slurp(path), "a\n");
	assert_int_equal(access("/usr/gg-evil.txt", F_OK), -1);
	assert_string_equal(slurp(f->blob), "#define X 1\n");
	assert_string_equal(f->res.denied, "write '/usr/gg-evil.txt' (openat)");
	assert_int_equal(f->res.n_denied, 2);
}

/* Re-run this binary under deny_unshare [--no-seccomp] in a self-test mode. */
static void run_selftest(struct fx *f, bool no_seccomp, const char *mode)
{
	char wrapper[PATH_MAX];
	int st;
	pid_t pid;

	snprintf(wrapper, sizeof(wrapper), "%s/deny_unshare", progs);
	if (access(wrapper, X_OK) < 0) {
		print_message("# %s is not built\n", wrapper);
		fail();
	}
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (no_seccomp)
			execl(wrapper, wrapper, "--no-seccomp", self, mode, (char *)NULL);
		else
			execl(wrapper, wrapper, self, mode, (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_sbx__level2_when_unshare_refused(void **state)
{
	struct fx *f = *state;

	if (!f->caps.seccomp)
		skip();
	run_selftest(f, false, "--selftest-level2");
}

static void test_sbx__level3_when_seccomp_refused(void **state)
{
	run_selftest(*state, true, "--selftest-level3");
}

/* ---- self-test modes (run under deny_unshare) ---- */

static int st_failed;

#define CHECK(cond, ...)                                      \
	do {                                                  \
		if (!(cond)) {                                \
			st_failed++;                          \
			printf("# selftest: " __VA_ARGS__);   \
			printf(" [%s:%d]\n", __FILE__, __LINE__); \
		}                                             \
	} while (0)

static int selftest(int level)
{
	struct fx *f;
	void *state;
	char *const true_argv[] = { "/bin/true", NULL };
	char *argv[] = { NULL, "socket-inet", "unshare", "read", NULL, NULL };
	char out[4096];
	struct sbx_plan pl = SBX_PLAN_INIT;
	int rc;

	if (setup(&state) < 0)
		return 1;
	f = state;
	argv[0] = (char *)prog(f, "sbx_syscalls");
	argv[4] = f->secret;
	CHECK(f->caps.level == level, "probe level %d, expected %d (%s)", f->caps.level, level,
	      f->caps.why);
	CHECK(!f->caps.userns, "namespaces reported usable");
	CHECK(strstr(f->caps.why, "refused") != NULL, "probe says '%s'", f->caps.why);
	/* The best level runs. */
	pl.argv = true_argv;
	pl.mounts = f->m2.v;
	pl.n_mounts = f->m2.n;
	rc = sbx_run(&pl, &f->res);
	CHECK(rc == 0 && f->res.exited && f->res.status == 0, "true: rc %d status %d: %s", rc,
	      f->res.status, f->res.err);
	CHECK(f->res.level == level, "ran at level %d", f->res.level);
	/* Stronger levels are refused. */
	pl.level = SBX_LEVEL_NS;
	rc = sbx_run(&pl, &f->res);
	CHECK(rc == -EPERM && strstr(f->res.err, "not available"), "level 1: rc %d: %s", rc,
	      f->res.err);
	pl.level = SBX_LEVEL_ANY;
	pl.require_level = level - 1;
	rc = sbx_run(&pl, &f->res);
	CHECK(rc == -EPERM && strstr(f->res.err, "required"), "require %d: rc %d: %s", level - 1,
	      rc, f->res.err);
	/* The filter (level 2) or its absence (level 3), honestly. */
	pl = (struct sbx_plan)SBX_PLAN_INIT;
	pl.argv = argv;
	pl.flags |= SBX_SUPERVISE;
	pl.mounts = f->m2.v;
	pl.n_mounts = f->m2.n;
	pl.stdout_path = f->stdout_path;
	rc = sbx_run(&pl, &f->res);
	snprintf(out, sizeof(out), "%s", slurp(f->stdout_path));
	CHECK(rc == 0, "sbx_syscalls: rc %d: %s", rc, f->res.err);
	if (level == SBX_LEVEL_SECCOMP) {
		CHECK(!strcmp(out, "socket-inet errno=EACCES\nunshare errno=EPERM\nread errno=ENOENT\n"),
		      "level 2 output: %s", out);
		CHECK(!strcmp(f->res.undeclared, f->secret), "undeclared '%s'", f->res.undeclared);
		CHECK(!strcmp(f->res.denied, "socket(AF_INET)"), "denied '%s'", f->res.denied);
	} else {
		CHECK(!strcmp(out, "socket-inet ok\nunshare errno=EPERM\nread ok\n"),
		      "level 3 output: %s", out);
		CHECK(!f->res.supervised, "supervised at level 3");
	}
	teardown(&state);
	printf("# selftest level %d: %s\n", level, st_failed ? "failed" : "ok");
	return st_failed ? 1 : 0;
}

/* ---- driver and benchmark modes ---- */

static int usage(void)
{
	fprintf(stderr,
		"usage: test_sbx --driver [--level N] [--require N] [--system] [--ro DST[=SRC]]\n"
		"                [--rw DST[=SRC]] [--absent DST] [--supervise] [--timeout MS]\n"
		"                [--cwd DIR] [--env K=V]... [--seed N] [--no-random] [--uid N]\n"
		"                [--gid N] [--probe] -- CMD...\n"
		"       test_sbx --bench N [--rw DIR] [-- CMD...]\n");
	return 2;
}

static int driver(int argc, char **argv)
{
	static struct mounts m;
	char *env[64];
	size_t n_env = 0;
	struct sbx_plan pl = SBX_PLAN_INIT;
	struct sbx_result *res;
	struct sbx_caps caps;
	int i, rc;

	for (i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--")) {
			i++;
			break;
		}
		if (!strcmp(a, "--probe")) {
			sbx_probe(&caps);
			printf("level=%d userns=%d seccomp=%d notify=%d addfd=%d why='%s'\n", caps.level,
			       caps.userns, caps.seccomp, caps.notify, caps.addfd, caps.why);
			return 0;
		} else if (!strcmp(a, "--system")) {
			add_system(&m);
			continue;
		} else if (!strcmp(a, "--supervise")) {
			pl.flags |= SBX_SUPERVISE;
			continue;
		} else if (!strcmp(a, "--no-random")) {
			pl.flags &= ~(unsigned)SBX_RANDOM;
			continue;
		}
		if (!v)
			return usage();
		i++;
		if (!strcmp(a, "--level")) {
			pl.level = atoi(v);
		} else if (!strcmp(a, "--require")) {
			pl.require_level = atoi(v);
		} else if (!strcmp(a, "--ro") || !strcmp(a, "--rw") || !strcmp(a, "--absent")) {
			char *eq = strchr(argv[i], '=');

			if (eq)
				*eq = '\0';
			if (m.n >= MAXM)
				return usage();
			m.v[m.n++] = (struct sbx_mount){
				a[2] == 'a' ? SBX_MOUNT_ABSENT : a[3] == 'o' ? SBX_MOUNT_RO : SBX_MOUNT_RW,
				eq ? eq + 1 : NULL, argv[i]
			};
		} else if (!strcmp(a, "--timeout")) {
			pl.timeout_ms = (unsigned)atoi(v);
		} else if (!strcmp(a, "--cwd")) {
			pl.cwd = v;
		} else if (!strcmp(a, "--env")) {
			if (n_env + 1 >= sizeof(env) / sizeof(env[0]))
				return usage();
			env[n_env++] = argv[i];
		} else if (!strcmp(a, "--seed")) {
			pl.random_seed = strtoull(v, NULL, 0);
		} else if (!strcmp(a, "--uid")) {
			pl.uid = (uid_t)atoi(v);
		} else if (!strcmp(a, "--gid")) {
			pl.gid = (gid_t)atoi(v);
		} else {
			return usage();
		}
	}
	if (i >= argc)
		return usage();
	env[n_env] = NULL;
	if (!(res = calloc(1, sizeof(*res))))
		return 125;
	pl.argv = argv + i;
	pl.envp = env;
	pl.mounts = m.v;
	pl.n_mounts = m.n;
	pl.stdin_fd = 0;
	pl.stdout_fd = 1;
	pl.stderr_fd = 2;
	fflush(stdout);
	rc = sbx_run(&pl, res);
	fprintf(stderr,
		"sbx: rc=%d level=%d supervised=%d exited=%d status=%d signal=%d timed_out=%d "
		"undeclared='%s' op='%s' denied='%s' notified=%u wall_ms=%.3f err='%s' notes='%s'\n",
		rc, res->level, res->supervised, res->exited, res->status, res->signal,
		res->timed_out, res->undeclared, res->undeclared_op, res->denied, res->n_notified,
		(double)res->wall_ns / 1e6, res->err, res->notes);
	rc = rc < 0 ? 125 : res->exited ? res->status : 128 + res->signal;
	free(res);
	return rc;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* CPU time (user + system) of this process and its reaped children, in ms. */
static double cpu_ms(void)
{
	struct rusage a, b;

	getrusage(RUSAGE_SELF, &a);
	getrusage(RUSAGE_CHILDREN, &b);
	return (double)(a.ru_utime.tv_sec + a.ru_stime.tv_sec + b.ru_utime.tv_sec +
			b.ru_stime.tv_sec) * 1e3 +
	       (double)(a.ru_utime.tv_usec + a.ru_stime.tv_usec + b.ru_utime.tv_usec +
			b.ru_stime.tv_usec) / 1e3;
}

/* Median of the n timings in t (sorted in place). */
static double median(double *t, int n)
{
	qsort(t, (size_t)n, sizeof(*t), dbl_cmp);
	return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

/*
 * --bench N [--rw DIR] [-- CMD...]: N runs of CMD (default /bin/true) plainly
 * (fork, exec, wait) and in the sandbox in each mode; medians.  DIR (default none)
 * is declared writable at its own path, and is the working directory.
 */
static int bench(int argc, char **argv)
{
	static struct mounts sys, minimal;
	static char *const true_argv[] = { "/bin/true", NULL };
	static char *const env[] = { "PATH=/usr/bin:/bin", "LC_ALL=C", NULL };
	static char libs[16][PATH_MAX];
	struct {
		const char *name;
		int level;
		unsigned flags;
		struct mounts *m;
	} modes[] = {
		{ "level 1, /usr + top-level links", SBX_LEVEL_NS, SBX_DEFAULTS, &sys },
		{ "level 1, exactly the inputs (ldd)", SBX_LEVEL_NS, SBX_DEFAULTS, &minimal },
		{ "level 1, + supervisor", SBX_LEVEL_NS, SBX_DEFAULTS | SBX_SUPERVISE, &sys },
		{ "level 1, no /proc /dev /tmp", SBX_LEVEL_NS, 0, &sys },
		{ "level 2", SBX_LEVEL_SECCOMP, SBX_DEFAULTS, &sys },
		{ "level 2, + supervisor", SBX_LEVEL_SECCOMP, SBX_DEFAULTS | SBX_SUPERVISE, &sys },
		{ "level 3", SBX_LEVEL_NONE, SBX_DEFAULTS, &sys },
	};
	int n = atoi(argv[2]), i = 3;
	char *const *cmd = true_argv;
	const char *dir = NULL;
	struct sbx_result *res;
	double *t, base, t0, c0, base_cpu;
	struct sbx_caps caps;
	char line[PATH_MAX * 2];
	size_t nl = 0;
	FILE *p;

	if (n <= 0)
		return usage();
	if (i + 1 < argc && !strcmp(argv[i], "--rw")) {
		dir = argv[i + 1];
		i += 2;
	}
	if (i < argc && !strcmp(argv[i], "--")) {
		if (i + 1 >= argc)
			return usage();
		cmd = argv + i + 1;
	} else if (i < argc) {
		return usage();
	}
	res = calloc(1, sizeof(*res));
	t = calloc((size_t)n, sizeof(*t));
	if (!res || !t)
		return 2;
	add_system(&sys);
	if (dir)
		add(&sys, SBX_MOUNT_RW, NULL, dir);
	if (cmd == true_argv) {
		p = popen("ldd /bin/true", "r");
		while (p && fgets(line, sizeof(line), p) && nl < 16) {
			char *s = strstr(line, "=> /");

			s = s ? s + 3 : strchr(line, '/');
			if (!s)
				continue;
			s[strcspn(s, " \t\n")] = '\0';
			snprintf(libs[nl], PATH_MAX, "%s", s);
			add(&minimal, SBX_MOUNT_RO, NULL, libs[nl++]);
		}
		if (p)
			pclose(p);
		add(&minimal, SBX_MOUNT_RO, NULL, "/bin/true");
		add(&minimal, SBX_MOUNT_RO, NULL, "/etc/ld.so.cache");
	}
	sbx_probe(&caps);
	printf("sandbox probe: level %d (userns=%d seccomp=%d notify=%d)%s%s\n", caps.level,
	       caps.userns, caps.seccomp, caps.notify, caps.why[0] ? ": " : "", caps.why);
	printf("command:");
	for (char *const *a = cmd; *a; a++)
		printf(" %s", *a);
	printf("\n");
	/*
	 * The baselines: fork + exec, and posix_spawn, which is how make and ninja
	 * start commands (glibc: clone(CLONE_VM | CLONE_VFORK), no copy of the parent's
	 * memory) and what the overheads below are relative to.
	 */
	for (int how = 0; how < 2; how++) {
		c0 = cpu_ms();
		for (i = 0; i < n; i++) {
			pid_t pid;
			int st;

			t0 = now_ms();
			if (how == 0) {
				pid = fork();
				if (pid == 0) {
					if (dir && chdir(dir) < 0)
						_exit(126);
					execve(cmd[0], cmd, env);
					_exit(127);
				}
			} else {
				if (dir && chdir(dir) < 0)
					return 1;
				if (posix_spawn(&pid, cmd[0], NULL, NULL, cmd, env))
					pid = -1;
			}
			if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) {
				printf("plain run failed\n");
				return 1;
			}
			t[i] = now_ms() - t0;
		}
		base = median(t, n);
		base_cpu = (cpu_ms() - c0) / n;
		printf("%-36s %8.3f ms/run (median of %d); cpu %6.3f ms/run\n",
		       how ? "plain posix_spawn+wait" : "plain fork+exec+wait", base, n, base_cpu);
	}
	for (size_t k = 0; k < sizeof(modes) / sizeof(modes[0]); k++) {
		unsigned notified = 0;
		int bad = 0;

		if (modes[k].m == &minimal && cmd != true_argv)
			continue;
		if (modes[k].level < caps.level) {
			printf("%-36s unavailable (level %d)\n", modes[k].name, caps.level);
			continue;
		}
		c0 = cpu_ms();
		for (i = 0; i < n; i++) {
			struct sbx_plan pl = SBX_PLAN_INIT;

			pl.argv = cmd;
			pl.envp = env;
			pl.cwd = dir;
			pl.level = modes[k].level;
			pl.flags = modes[k].flags;
			pl.mounts = modes[k].m->v;
			pl.n_mounts = modes[k].m->n;
			t0 = now_ms();
			if (sbx_run(&pl, res) != 0 || !res->exited || res->status)
				bad++;
			t[i] = now_ms() - t0;
			notified = res->n_notified;
		}
		{
			double cpu = (cpu_ms() - c0) / n, med = median(t, n);

			printf("%-36s %8.3f ms/run, overhead %6.3f ms/run; cpu %6.3f ms/run (+%.3f)",
			       modes[k].name, med, med - base, cpu, cpu - base_cpu);
			if (notified)
				printf(", %u system calls inspected", notified);
			printf("%s\n", bad ? " (FAILURES)" : "");
			if (bad)
				printf("  last error: %s\n", res->err[0] ? res->err : "non-zero status");
		}
	}
	free(res);
	free(t);
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sbx__path_normalize),
		cmocka_unit_test_setup_teardown(test_sbx__decl_check, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sbx__ops_sorted_and_placed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sbx__bad_plans, setup, teardown),
		cmocka_unit_test(test_sbx__env_defaults),
		cmocka_unit_test_setup_teardown(test_sbx__probe_reports_level, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sbx__true_exits_zero, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sbx__exit_status_and_signal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sbx__captures_output, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sbx__deterministic_identity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sbx__no_stray_descriptors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sbx__minimal_inputs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sbx__probes_below_a_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sbx__remapped_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sbx__undeclared_read_named, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sbx__socket_inet_denied, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sbx__forbidden_syscalls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sbx__write_outside_outputs_denied, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_sbx__mkdir_p_in_outputs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sbx__timeout_kills_tree, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sbx__cancel_kills_tree, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sbx__deterministic_random, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sbx__parallel_runs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sbx__network_namespace_per_run, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sbx__network_namespace_unchanged_by_runs, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_sbx__caller_ignores_sigchld, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sbx__level3_environment_cwd_umask_stdio, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_sbx__level3_exec_error_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sbx__level3_bad_cwd_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sbx__level3_kills_tree, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sbx__require_level_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sbx__level2_forced_enforces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sbx__level2_write_outside_outputs, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_sbx__level2_when_unshare_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_sbx__level3_when_seccomp_refused, setup,
						teardown),
	};

	find_progs();
	if (argc > 1 && !strcmp(argv[1], "--driver"))
		return driver(argc, argv);
	if (argc > 2 && !strcmp(argv[1], "--bench"))
		return bench(argc, argv);
	if (argc > 1 && !strcmp(argv[1], "--selftest-level2"))
		return selftest(SBX_LEVEL_SECCOMP);
	if (argc > 1 && !strcmp(argv[1], "--selftest-level3"))
		return selftest(SBX_LEVEL_NONE);
	if (argc > 1)
		return usage();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
