/*
 * Unit tests for shim/vpath.c and shim/vexec.c: virtual <-> host paths under a root R
 * (a real mkdtemp'd tree with recorded-style absolute symlinks), and the exec plan
 * through the recorded loader, run for real on a copy of /bin/sh.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "shim/vexec.h"
#include "shim/vpath.h"

struct fixture {
	char root[64];
	struct vpath vp;
};

static void put(const char *root, const char *rel, const char *text, mode_t mode)
{
	char p[PATH_MAX];
	int fd;

	snprintf(p, sizeof(p), "%s%s", root, rel);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	chmod(p, mode);
}

static void dir(const char *root, const char *rel)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s%s", root, rel);
	assert_int_equal(mkdir(p, 0755), 0);
}

static void lnk(const char *root, const char *rel, const char *target)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s%s", root, rel);
	assert_int_equal(symlink(target, p), 0);
}

static void copy(const char *root, const char *rel, const char *from)
{
	char p[PATH_MAX], cmd[3 * PATH_MAX];
	snprintf(p, sizeof(p), "%s%s", root, rel);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", from, p);
	assert_int_equal(system(cmd), 0);
}

/*
 * R: usr/include/stdio.h, lib/libz.so.1, usr/lib/libz.so -> /lib/libz.so.1 (recorded
 * absolute), usr/lib/rel -> ../../lib (relative), loop1 <-> loop2, esc -> ../../../..
 * (relative escape), absesc -> /../../lib (absolute escape), d/up -> /usr/include,
 * proclink -> /proc/self (into a passthrough), the Debian alternatives chain
 * usr/bin/cc -> /etc/alternatives/cc -> /usr/bin/gcc-12 (absolute, absolute) with
 * usr/bin/gcc-12 -> x86_64-linux-gnu-gcc-12 (relative), a merged-/usr style
 * libm -> usr/lib64 with usr/lib64/ld.so -> /lib/ld.so.real, a dangling recorded
 * link d/dangling -> /nowhere/x, and null -> /dev/null.
 */
static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *r;

	strcpy(f->root, "/tmp/gg-test-vpath-XXXXXX");
	if (!f || !mkdtemp(f->root))
		return -1;
	r = f->root;
	dir(r, "/usr");
	dir(r, "/usr/include");
	dir(r, "/usr/lib");
	dir(r, "/lib");
	dir(r, "/d");
	dir(r, "/d/sub");
	put(r, "/usr/include/stdio.h", "int x;\n", 0644);
	put(r, "/lib/libz.so.1", "z", 0644);
	lnk(r, "/usr/lib/libz.so", "/lib/libz.so.1");
	lnk(r, "/usr/lib/rel", "../../lib");
	lnk(r, "/loop1", "/loop2");
	lnk(r, "/loop2", "loop1");
	lnk(r, "/esc", "../../../../..");
	lnk(r, "/absesc", "/../../lib");
	lnk(r, "/d/up", "/usr/include");
	lnk(r, "/proclink", "/proc/self");
	dir(r, "/etc");
	dir(r, "/etc/alternatives");
	dir(r, "/usr/bin");
	dir(r, "/usr/lib64");
	put(r, "/usr/bin/x86_64-linux-gnu-gcc-12", "gcc", 0755);
	lnk(r, "/usr/bin/gcc-12", "x86_64-linux-gnu-gcc-12");
	lnk(r, "/etc/alternatives/cc", "/usr/bin/gcc-12");
	lnk(r, "/usr/bin/cc", "/etc/alternatives/cc");
	lnk(r, "/libm", "usr/lib64");
	put(r, "/lib/ld.so.real", "ld", 0755);
	lnk(r, "/usr/lib64/ld.so", "/lib/ld.so.real");
	lnk(r, "/d/dangling", "/nowhere/x");
	lnk(r, "/null", "/dev/null");
	if (vpath_init(&f->vp, r, "/d/sub", "/usr/bin/gcc"))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

/* want: the virtual path when mapped under R (want_host false) or the host path. */
struct map_case {
	const char *base, *path;
	int flags;
	const char *want;
	bool want_host;
	long rc;
};

/* Each case twice: the openat2 fast path (when it applies) and the walk agree. */
static void run_cases(struct fixture *f, const struct map_case *c, size_t n)
{
	char out[VPATH_MAX], walked[VPATH_MAX];

	for (size_t i = 0; i < n; i++) {
		int e = errno = 4242;
		long got = vpath_map(&f->vp, c[i].base, c[i].path, c[i].flags, out, sizeof(out));
		long got2 = vpath_map(&f->vp, c[i].base, c[i].path, c[i].flags | VPATH_WALK, walked,
				      sizeof(walked));
		assert_int_equal(errno, e);
		if (got != got2 || (got >= 0 && strcmp(out, walked) != 0))
			fail_msg("case %zu '%s': fast %ld '%s', walk %ld '%s'", i, c[i].path, got,
				 got >= 0 ? out : "", got2, got2 >= 0 ? walked : "");
		if (c[i].rc < 0) {
			if (got != c[i].rc)
				fail_msg("case %zu '%s': got %ld want %ld", i, c[i].path, got, c[i].rc);
			continue;
		}
		if (got < 0)
			fail_msg("case %zu '%s': error %ld", i, c[i].path, got);
		assert_int_equal(got, (long)strlen(out));
		if (c[i].want_host) {
			assert_string_equal(out, c[i].want);
		} else {
			assert_memory_equal(out, f->root, strlen(f->root));
			if (strcmp(vpath_virtual(&f->vp, out), c[i].want) != 0)
				fail_msg("case %zu '%s': got '%s' want '%s'", i, c[i].path,
					 vpath_virtual(&f->vp, out), c[i].want);
		}
	}
}

static void test_vpath__dotdot(void **state)
{
	static const struct map_case cases[] = {
		{ NULL, "/usr/include/../lib", 0, "/usr/lib", false, 0 },
		{ NULL, "/..", 0, "/", false, 0 },
		{ NULL, "/../../../usr", 0, "/usr", false, 0 },
		{ NULL, "..", 0, "/d", false, 0 },			/* cwd /d/sub */
		{ NULL, "../../../../x", 0, "/x", false, 0 },
		{ NULL, ".", 0, "/d/sub", false, 0 },
		{ NULL, "./a//b/./", 0, "/d/sub/a/b", false, 0 },
		{ NULL, "/", 0, "/", false, 0 },
		{ NULL, "/d/up/..", 0, "/usr", false, 0 },		/* parent of the target */
		{ NULL, "/nope/../usr", 0, "/usr", false, 0 },
	};
	run_cases(*state, cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_vpath__symlinks_to_recorded_targets(void **state)
{
	static const struct map_case cases[] = {
		{ NULL, "/usr/lib/libz.so", 0, "/lib/libz.so.1", false, 0 },
		{ NULL, "/usr/lib/libz.so", VPATH_NOFOLLOW, "/usr/lib/libz.so", false, 0 },
		{ NULL, "/usr/lib/rel/libz.so.1", 0, "/lib/libz.so.1", false, 0 },
		{ NULL, "/usr/lib/rel/libz.so.1", VPATH_NOFOLLOW, "/lib/libz.so.1", false, 0 },
		{ NULL, "/usr/lib/rel/", VPATH_NOFOLLOW, "/lib", false, 0 }, /* trailing slash follows */
		{ NULL, "/d/up/stdio.h", 0, "/usr/include/stdio.h", false, 0 },
		{ NULL, "/loop1", 0, NULL, false, -ELOOP },
		{ NULL, "/loop1", VPATH_NOFOLLOW, "/loop1", false, 0 },
		{ NULL, "/usr/lib/missing/deeper", 0, "/usr/lib/missing/deeper", false, 0 },
		/* chains of recorded links, absolute and relative, resolved inside R */
		{ NULL, "/usr/bin/cc", 0, "/usr/bin/x86_64-linux-gnu-gcc-12", false, 0 },
		{ NULL, "/usr/bin/cc", VPATH_NOFOLLOW, "/usr/bin/cc", false, 0 },
		{ NULL, "/libm/ld.so", 0, "/lib/ld.so.real", false, 0 },
		{ NULL, "/libm/ld.so", VPATH_NOFOLLOW, "/usr/lib64/ld.so", false, 0 },
		{ NULL, "/libm/../lib/libz.so", 0, "/lib/libz.so.1", false, 0 },
		/* a dangling link: where O_CREAT would create its target, inside R */
		{ NULL, "/d/dangling", 0, "/nowhere/x", false, 0 },
		/* a link into a passthrough leaves R */
		{ NULL, "/null", 0, "/dev/null", true, 0 },
		{ NULL, "/null", VPATH_NOFOLLOW, "/null", false, 0 },
		/* "/." and a trailing slash follow the last link, NOFOLLOW or not */
		{ NULL, "/usr/lib/libz.so/.", VPATH_NOFOLLOW, "/lib/libz.so.1", false, 0 },
		{ NULL, "/usr/bin/cc/", VPATH_NOFOLLOW, "/usr/bin/x86_64-linux-gnu-gcc-12", false, 0 },
		/* a file used as a directory: lexical, the real call says ENOTDIR */
		{ NULL, "/usr/include/stdio.h/x", 0, "/usr/include/stdio.h/x", false, 0 },
		{ NULL, "/usr/include/stdio.h", VPATH_NOFOLLOW, "/usr/include/stdio.h", false, 0 },
	};
	run_cases(*state, cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_vpath__escape_attempts(void **state)
{
	static const struct map_case cases[] = {
		{ NULL, "/esc", 0, "/", false, 0 },
		{ NULL, "/esc/usr/include", 0, "/usr/include", false, 0 },
		{ NULL, "/absesc/libz.so.1", 0, "/lib/libz.so.1", false, 0 },
		{ NULL, "../../esc/../../etc/passwd", 0, "/etc/passwd", false, 0 },
		{ "/", "../../..", 0, "/", false, 0 },
	};
	run_cases(*state, cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_vpath__dirfds(void **state)
{
	static const struct map_case cases[] = {
		{ "/usr/include", "stdio.h", 0, "/usr/include/stdio.h", false, 0 },
		{ "/usr/include/", "../lib/libz.so", 0, "/lib/libz.so.1", false, 0 },
		{ "/usr/lib", "rel/libz.so.1", 0, "/lib/libz.so.1", false, 0 },
		{ "/usr", "/lib", 0, "/lib", false, 0 },		/* absolute ignores the dirfd */
		{ "/proc/self/fd", "3", 0, "/proc/self/fd/3", true, 0 },
		{ "relative", "x", 0, NULL, false, -EINVAL },
		/* a dirfd on a resolved directory, a relative path through links */
		{ "/etc/alternatives", "cc", 0, "/usr/bin/x86_64-linux-gnu-gcc-12", false, 0 },
		{ "/etc/alternatives", "cc", VPATH_NOFOLLOW, "/etc/alternatives/cc", false, 0 },
		{ "/usr/lib64", "../../libm/ld.so", 0, "/lib/ld.so.real", false, 0 },
		{ "/d", "up/../lib/rel/libz.so.1", 0, "/lib/libz.so.1", false, 0 },
		{ "/", "../../..", 0, "/", false, 0 },
		{ "/d/sub", "", 0, NULL, false, -ENOENT },	/* AT_EMPTY_PATH is the caller's */
	};
	run_cases(*state, cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_vpath__passthrough_paths(void **state)
{
	static const struct map_case cases[] = {
		{ NULL, "/proc", 0, "/proc", true, 0 },
		{ NULL, "/proc/self/maps", 0, "/proc/self/maps", true, 0 },
		{ NULL, "/proc/self/exe", 0, "/proc/self/exe", true, 0 },
		{ NULL, "/dev/null", 0, "/dev/null", true, 0 },
		{ NULL, "/dev/zero", 0, "/dev/zero", true, 0 },
		{ NULL, "/dev/urandom", 0, "/dev/urandom", true, 0 },
		{ NULL, "/dev/fd/0", 0, "/dev/fd/0", true, 0 },
		{ NULL, "/dev/pts/3", 0, "/dev/pts/3", true, 0 },	/* terminals: the host's */
		{ NULL, "/dev/ptmx", 0, "/dev/ptmx", true, 0 },
		{ NULL, "/usr/../proc//self/./status", 0, "/proc/self/status", true, 0 },
		{ NULL, "/proclink/status", 0, "/proc/self/status", true, 0 },
		{ NULL, "/procfs", 0, "/procfs", false, 0 },		/* prefix of a name only */
		{ NULL, "/dev/nullx", 0, "/dev/nullx", false, 0 },
		{ NULL, "/dev", 0, "/dev", false, 0 },
		{ NULL, "/tmp/cc1.s", 0, "/tmp/cc1.s", false, 0 },	/* /tmp is virtual */
	};
	run_cases(*state, cases, sizeof(cases) / sizeof(cases[0]));
	assert_true(vpath_is_passthrough("/dev/stderr"));
	assert_false(vpath_is_passthrough("/etc/ld.so.cache"));
}

static void test_vpath__overlong_paths(void **state)
{
	struct fixture *f = *state;
	char out[VPATH_MAX], small[16], *longp = malloc(VPATH_MAX + 10);

	memset(longp, 'a', VPATH_MAX + 9);
	longp[0] = '/';
	longp[VPATH_MAX + 9] = '\0';
	assert_int_equal(vpath_map(&f->vp, NULL, longp, 0, out, sizeof(out)), -ENAMETOOLONG);
	/* fits as a virtual path, not once R is in front */
	longp[VPATH_MAX - 2] = '\0';
	assert_int_equal(vpath_map(&f->vp, NULL, longp, 0, out, sizeof(out)), -ENAMETOOLONG);
	assert_int_equal(vpath_map(&f->vp, NULL, "/usr/include/stdio.h", 0, small, sizeof(small)),
			 -ENAMETOOLONG);
	assert_int_equal(vpath_map(&f->vp, NULL, "", 0, out, sizeof(out)), -ENOENT);
	free(longp);
}

static void test_vpath__unmap_and_cwd(void **state)
{
	struct fixture *f = *state;
	char host[VPATH_MAX], out[VPATH_MAX];

	snprintf(host, sizeof(host), "%s/usr/include", f->root);
	assert_int_equal(vpath_unmap(&f->vp, host, out, sizeof(out)), 12);
	assert_string_equal(out, "/usr/include");
	assert_int_equal(vpath_unmap(&f->vp, f->root, out, sizeof(out)), 1);
	assert_string_equal(out, "/");
	assert_int_equal(vpath_unmap(&f->vp, "/proc/self/maps", out, sizeof(out)), 15);
	snprintf(host, sizeof(host), "%sx/y", f->root);		/* R's sibling, not inside */
	vpath_unmap(&f->vp, host, out, sizeof(out));
	assert_string_equal(out, host);
	assert_int_equal(vpath_unmap(&f->vp, "/a/b", out, 4), -ENAMETOOLONG);

	assert_true(vpath_map(&f->vp, NULL, "../../d/up", 0, host, sizeof(host)) > 0);
	assert_int_equal(vpath_set_cwd(&f->vp, host), 0);
	assert_string_equal(f->vp.cwd, "/usr/include");
	assert_true(vpath_map(&f->vp, NULL, "stdio.h", 0, host, sizeof(host)) > 0);
	assert_string_equal(vpath_virtual(&f->vp, host), "/usr/include/stdio.h");
	assert_int_equal(vpath_init(&f->vp, f->root, "/d/sub", "/usr/bin/gcc"), 0);
}

static void test_vpath__init_rejects(void **state)
{
	struct vpath vp;

	assert_int_equal(vpath_init(&vp, "rel", NULL, NULL), -EINVAL);
	assert_int_equal(vpath_init(&vp, "/", NULL, NULL), -EINVAL);
	assert_int_equal(vpath_init(&vp, "//", NULL, NULL), -EINVAL);
	assert_int_equal(vpath_init(&vp, "/r", "cwd", NULL), -EINVAL);
	assert_int_equal(vpath_init(&vp, "/r//", NULL, NULL), 0);
	assert_string_equal(vp.root, "/r");
	assert_string_equal(vp.cwd, "/");
}

static void test_vpath__proc_self_exe(void **state)
{
	struct fixture *f = *state;
	char buf[64], p[64];

	assert_int_equal(vpath_readlink_self(&f->vp, "/proc/self/exe", buf, sizeof(buf)), 12);
	assert_memory_equal(buf, "/usr/bin/gcc", 12);
	snprintf(p, sizeof(p), "/proc/%d/exe", (int)getpid());
	assert_int_equal(vpath_readlink_self(&f->vp, p, buf, sizeof(buf)), 12);
	assert_int_equal(vpath_readlink_self(&f->vp, "/proc/thread-self/exe", buf, 4), 4);
	assert_memory_equal(buf, "/usr", 4);
	snprintf(p, sizeof(p), "/proc/%d/exe", (int)getpid() + 1);
	assert_int_equal(vpath_readlink_self(&f->vp, p, buf, sizeof(buf)), -ENOENT);
	assert_int_equal(vpath_readlink_self(&f->vp, "/proc/self/cwd", buf, sizeof(buf)), -ENOENT);
	assert_int_equal(vpath_readlink_self(&f->vp, "/proc/self/exe/x", buf, sizeof(buf)), -ENOENT);
	f->vp.exe[0] = '\0';
	assert_int_equal(vpath_readlink_self(&f->vp, "/proc/self/exe", buf, sizeof(buf)), -ENOENT);
	strcpy(f->vp.exe, "/usr/bin/gcc");
}

/* R gets /bin/sh, its loader and libc at their recorded paths (Debian 12 layout). */
static void install_sh(const char *r)
{
	dir(r, "/bin");
	dir(r, "/lib64");
	dir(r, "/lib/x86_64-linux-gnu");
	dir(r, "/sbin");
	copy(r, "/bin/sh", "/bin/sh");
	copy(r, "/lib64/ld-linux-x86-64.so.2", "/lib64/ld-linux-x86-64.so.2");
	copy(r, "/lib/x86_64-linux-gnu/libc.so.6", "/lib/x86_64-linux-gnu/libc.so.6");
	copy(r, "/sbin/ldconfig", "/sbin/ldconfig");	/* static-pie on Debian 12 */
	put(r, "/bin/hello", "#!/bin/sh -e\necho \"hello $0 $1 $2\"\n", 0755);
	put(r, "/bin/nested", "#!/bin/hello\n", 0755);
	put(r, "/bin/s1", "#!/bin/s2\n", 0755);
	put(r, "/bin/s2", "#!/bin/s3\n", 0755);
	put(r, "/bin/s3", "#!/bin/s4\n", 0755);
	put(r, "/bin/s4", "#!/bin/s5\n", 0755);
	put(r, "/bin/s5", "#!/bin/sh\n", 0755);
	put(r, "/bin/noexec", "#!/bin/sh\n", 0644);
	put(r, "/bin/garbage", "\x7f" "ELX not an elf", 0755);
	put(r, "/bin/blank", "#!   \n", 0755);
}

static void test_vpath__exec_plan_table(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *path;
		int rc;
		int kind;
		const char *argv[10];	/* after the loader's options, or whole for static */
	} cases[] = {
		{ "/bin/sh", 0, VEXEC_LOADER, { "R/bin/sh", "-c", "x" } },
		{ "/bin/hello", 0, VEXEC_LOADER, { "R/bin/sh", "-e", "/bin/hello", "-c", "x" } },
		{ "../../bin/nested", 0, VEXEC_LOADER,
		  { "R/bin/sh", "-e", "/bin/hello", "../../bin/nested", "-c", "x" } },
		{ "/sbin/ldconfig", 0, VEXEC_STATIC, { "prog", "-c", "x" } },
		{ "/bin/s1", -ELOOP, 0, { NULL } },
		{ "/bin/s2", 0, VEXEC_LOADER, { "R/bin/sh", "/bin/s5", "/bin/s4", "/bin/s3", "/bin/s2",
						"-c", "x" } },
		{ "/bin/noexec", -EACCES, 0, { NULL } },
		{ "/bin/garbage", -ENOEXEC, 0, { NULL } },
		{ "/bin/blank", -ENOEXEC, 0, { NULL } },
		{ "/bin/none", -ENOENT, 0, { NULL } },
		{ "/bin", -EACCES, 0, { NULL } },
	};
	char *const argv[] = { "prog", "-c", "x", NULL };
	static struct vexec x;
	const char *out[32];
	char want[VPATH_MAX];

	install_sh(f->root);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int e = errno = 77, rc, k = 0;
		rc = vexec_plan(&f->vp, cases[i].path, argv, NULL, &x, out, 32);
		assert_int_equal(errno, e);
		if (rc != cases[i].rc)
			fail_msg("case %zu '%s': got %d want %d", i, cases[i].path, rc, cases[i].rc);
		if (rc)
			continue;
		assert_int_equal(x.kind, cases[i].kind);
		if (x.kind == VEXEC_LOADER) {
			snprintf(want, sizeof(want), "%s/lib64/ld-linux-x86-64.so.2", f->root);
			assert_string_equal(out[0], want);
			assert_string_equal(x.file, want);
			assert_string_equal(out[1], "--inhibit-cache");
			assert_string_equal(out[2], "--library-path");
			snprintf(want, sizeof(want), "%s/lib/x86_64-linux-gnu:", f->root);
			assert_memory_equal(out[3], want, strlen(want));
			assert_string_equal(out[4], "--argv0");
			/* argv0 is the script's interpreter, or the caller's argv[0] */
			assert_string_equal(out[5], strcmp(cases[i].path, "/bin/sh") ? "/bin/sh" : "prog");
			k = 6;
		}
		for (size_t j = 0; cases[i].argv[j]; j++, k++) {
			const char *w = cases[i].argv[j];
			if (w[0] == 'R' && w[1] == '/')
				snprintf(want, sizeof(want), "%s%s", f->root, w + 1);
			else
				snprintf(want, sizeof(want), "%s", w);
			if (!out[k] || strcmp(out[k], want) != 0)
				fail_msg("case %zu arg %d: got '%s' want '%s'", i, k,
					 out[k] ? out[k] : "(null)", want);
		}
		assert_null(out[k]);
	}
	/* out_argv too small */
	assert_int_equal(vexec_plan(&f->vp, "/bin/sh", argv, NULL, &x, out, 8), -E2BIG);
}

/*
 * The plan runs: R's /bin/sh starts through R's loader with R's libc (its own
 * /proc/self/maps names no host loader or libc), and sees its --argv0.
 */
static void test_vpath__exec_plan_runs(void **state)
{
	struct fixture *f = *state;
	char *const argv[] = { "sh", "-c",
		"echo \"$0\"; while read -r a b c d e p; do case $p in "
		"*libc.so*|*ld-linux*) echo \"$p\";; esac; done < /proc/self/maps", NULL };
	char *const envp[] = { "PATH=/nonexistent", NULL };
	static struct vexec x;
	const char *out[32];
	char buf[8192] = "", want[256], *line, *save;
	int pfd[2], st, libs = 0;
	ssize_t n, got = 0;
	pid_t pid;

	install_sh(f->root);
	assert_int_equal(vexec_plan(&f->vp, "/bin/sh", argv, NULL, &x, out, 32), 0);
	snprintf(want, sizeof(want), "%s/bin/sh", f->root);
	assert_string_equal(x.exe, want);
	assert_string_equal(x.vexe, "/bin/sh");
	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(pfd[1], 1);
		execve(x.file, (char *const *)out, envp);
		_exit(127);
	}
	close(pfd[1]);
	while ((n = read(pfd[0], buf + got, sizeof(buf) - 1 - (size_t)got)) > 0)
		got += n;
	close(pfd[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	line = strtok_r(buf, "\n", &save);
	assert_non_null(line);
	assert_string_equal(line, "sh");
	while ((line = strtok_r(NULL, "\n", &save))) {
		if (strncmp(line, f->root, strlen(f->root)) != 0)
			fail_msg("mapped from the host: '%s'", line);
		libs += strstr(line, "/libc.so.6") != NULL;
	}
	assert_true(libs > 0);
}

/*
 * An executable's DT_RUNPATH / DT_RPATH entries go, mapped ($ORIGIN expanded against
 * its host directory), in front of the library path, and the loader is told to ignore
 * the executable's own (--inhibit-rpath: DT_RPATH would be searched first, on the
 * host); the program still runs.
 */
static void test_vpath__exec_plan_run_path(void **state)
{
	static const struct { const char *flags, *want; } cases[] = {
		{ "-Wl,--enable-new-dtags -Wl,-rpath,/opt/gg/lib:\\$ORIGIN/../lib:/opt/two",
		  "R/opt/gg/lib:R/bin/../lib:R/opt/two:R/lib/x86_64-linux-gnu:R/usr/lib/x86_64-linux-gnu:R/lib64:R/lib:R/usr/lib" },
		{ "-Wl,--disable-new-dtags -Wl,-rpath,/opt/rpath",
		  "R/opt/rpath:R/lib/x86_64-linux-gnu:R/usr/lib/x86_64-linux-gnu:R/lib64:R/lib:R/usr/lib" },
		{ "", "R/lib/x86_64-linux-gnu:R/usr/lib/x86_64-linux-gnu:R/lib64:R/lib:R/usr/lib" },
	};
	struct fixture *f = *state;
	char *const argv[] = { "rp", NULL };
	char *const envp[] = { NULL };
	static struct vexec x;
	const char *out[16];
	char cmd[1024], want[1024], *w;
	int st;
	pid_t pid;

	install_sh(f->root);
	put(f->root, "/rp.c", "int main(void) { return 7; }\n", 0644);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(cmd, sizeof(cmd), "cc -o '%s/bin/rp' '%s/rp.c' %s", f->root, f->root,
			 cases[i].flags);
		assert_int_equal(system(cmd), 0);
		assert_int_equal(vexec_plan(&f->vp, "/bin/rp", argv, NULL, &x, out, 16), 0);
		want[0] = '\0';
		w = want;
		for (const char *c = cases[i].want; *c; c++) {
			if (*c == 'R' && (c == cases[i].want || c[-1] == ':'))
				w += sprintf(w, "%s", f->root);
			else
				*w++ = *c, *w = '\0';
		}
		assert_string_equal(out[3], want);
		if (cases[i].flags[0]) {
			assert_string_equal(out[4], "--inhibit-rpath");
			assert_string_equal(out[5], x.exe);
			assert_string_equal(out[6], "--argv0");
		} else {
			assert_string_equal(out[4], "--argv0");
		}
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			execve(x.file, (char *const *)out, envp);
			_exit(127);
		}
		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 7);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_vpath__dotdot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vpath__symlinks_to_recorded_targets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vpath__escape_attempts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vpath__dirfds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vpath__passthrough_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vpath__overlong_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vpath__unmap_and_cwd, setup, teardown),
		cmocka_unit_test(test_vpath__init_rejects),
		cmocka_unit_test_setup_teardown(test_vpath__proc_self_exe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vpath__exec_plan_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vpath__exec_plan_runs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vpath__exec_plan_run_path, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
