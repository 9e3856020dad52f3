/*
 * test_trace_dump.c - `gg trace dump` JSON lines (the schema, field by field), the
 * text form and the summary, on forged traces.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "runtime/trace/trace_dump.h"
#include "runtime/trace/trace_read.h"
#include "trace_forge.h"

static struct forge f;

/* A root sh (pid 7) that forks 8; 8 execs cat (same pid, image 3); 7 waits. */
static void build(struct trace *t, struct strlist *w)
{
	trace_init(t);
	*w = (struct strlist)STRLIST_INIT;

	forge_init(&f);
	rec_proc(&f, 10, 7, 6, GG_ORIGIN_ROOT, "/bin/sh", NULL);
	rec_open(&f, 11, "/etc/hostname", O_RDONLY, 3, 0);
	rec_open(&f, 12, "/out", O_WRONLY | O_CREAT | O_TRUNC, 4, 0);
	rec_open(&f, 13, "/missing", O_RDONLY, -1, ENOENT);
	rec_wait(&f, 50, 8, 1 << 8);
	rec_exit(&f, 51, GG_EXIT_EXIT, 1);
	assert_int_equal(trace_add_buf(t, "/tr/7-1.ggt", f.buf, f.len, w), 0);

	forge_init(&f);
	rec_proc(&f, 20, 8, 7, GG_ORIGIN_FORK, "/bin/sh", "7-1");
	rec_exec(&f, 21, "/nope/cat");
	rec_execfail(&f, 22, "/nope/cat", ENOENT);
	rec_exec(&f, 23, "/bin/cat");
	assert_int_equal(trace_add_buf(t, "/tr/8-2.ggt", f.buf, f.len, w), 0);

	forge_init(&f);
	rec_proc(&f, 30, 8, 7, GG_ORIGIN_EXEC, "/bin/cat", NULL);
	rec_exec(&f, 31, "/bin/gone");
	rec_execfail(&f, 32, "/bin/gone", EACCES);
	/* a torn tail */
	f.buf[f.len++] = 1;
	f.buf[f.len++] = 2;
	assert_int_equal(trace_add_buf(t, "/tr/8-3.ggt", f.buf, f.len, w), 0);
	assert_int_equal(trace_link(t), 0);
	assert_int_equal(t->nimages, 3);
}

static void test_trace_dump__json_schema(void **state)
{
	struct trace t;
	struct strlist w;
	struct json j;

	build(&t, &w);
	json_init(&j, 0);
	assert_int_equal(trace_dump_json(&j, t.images[0]), 0);
	assert_string_equal(
		j.sb.buf,
		"{\"log\":\"7-1\",\"pid\":7,\"ppid\":6,\"origin\":\"root\",\"parent\":null,"
		"\"exe\":\"/bin/sh\",\"execfn\":\"/bin/sh\",\"argv\":[\"sh\",\"-c\",\"x\"],"
		"\"env\":[\"PATH=/usr/bin\",\"LANG=C\"],\"cwd\":\"/src\",\"umask\":18,\"uid\":1000,"
		"\"gid\":100,\"stdio\":[2,8,-1],\"batched\":false,\"interp\":null,\"objects\":[],"
		"\"exit\":{\"status\":1},\"cut_short\":false,\"events\":["
		"{\"op\":\"open\",\"t\":11,\"fn\":\"openat\",\"path\":\"/etc/hostname\",\"flags\":0,"
		"\"mode\":420,\"ret\":3,\"errno\":0},"
		"{\"op\":\"open\",\"t\":12,\"fn\":\"openat\",\"path\":\"/out\",\"flags\":577,"
		"\"mode\":420,\"ret\":4,\"errno\":0},"
		"{\"op\":\"open\",\"t\":13,\"fn\":\"openat\",\"path\":\"/missing\",\"flags\":0,"
		"\"mode\":420,\"ret\":-1,\"errno\":2},"
		"{\"op\":\"wait\",\"t\":50,\"fn\":\"waitpid\",\"pid\":8,\"status\":256},"
		"{\"op\":\"exit\",\"t\":51,\"how\":\"exit\",\"status\":1}],\"warnings\":[]}");

	json_reset(&j);
	assert_int_equal(trace_dump_json(&j, t.images[1]), 0);
	assert_non_null(strstr(j.sb.buf, "\"origin\":\"fork\",\"parent\":\"7-1\""));
	assert_non_null(strstr(j.sb.buf, "\"argv\":[],\"env\":[]"));
	assert_non_null(strstr(j.sb.buf, "\"exit\":{\"exec\":\"/bin/cat\"}"));
	assert_non_null(strstr(j.sb.buf,
			       "{\"op\":\"exec\",\"t\":21,\"fn\":\"execve\",\"path\":\"/nope/cat\","
			       "\"argv\":[\"cat\"],\"env\":[],\"opaque\":false}"));
	assert_non_null(strstr(j.sb.buf,
			       "{\"op\":\"execfail\",\"t\":22,\"fn\":\"execve\",\"path\":\"/nope/cat\","
			       "\"errno\":2}"));

	json_reset(&j);
	assert_int_equal(trace_dump_json(&j, t.images[2]), 0);
	assert_non_null(strstr(j.sb.buf, "\"origin\":\"exec\",\"parent\":\"8-2\""));
	/* the parent's WAIT gives the exit of the last image of the process */
	assert_non_null(strstr(j.sb.buf, "\"exit\":{\"status\":1}"));
	assert_non_null(strstr(j.sb.buf,
			       "\"warnings\":[\"/tr/8-3.ggt: torn record at offset"));
	json_release(&j);
	trace_release(&t);
	strlist_release(&w);
}

/* posix_spawn's file actions: one dup2(3, 1) (a tenc_fill for the ACT field). */
static void fill_dup2(struct tenc *e, void *ctx)
{
	(void)ctx;
	tenc_array(e, 1);
	tenc_spawn_action(e, &(struct gg_spawn_action){ .op = GG_SPAWN_DUP2, .fd = 3, .fd2 = 1,
							  .path = "" });
}

static void test_trace_dump__json_spawn_and_objs(void **state)
{
	char *const objs[] = { (char *)"/lib/libc.so.6", NULL };
	struct strlist w = STRLIST_INIT;
	struct trace t;
	struct json j;

	forge_init(&f);
	rec_proc(&f, 10, 7, 6, GG_ORIGIN_ROOT, "/bin/sh", NULL);
	forge_objs(&f, 11, &(struct gg_rec_objs){ .interp = "/lib64/ld.so", .objects = FORGE_L(objs) });
	forge_spawn(&f, 12, &(struct gg_rec_spawn){ .fn = GG_FN_posix_spawnp, .path = "/bin/cc",
						    .ret = 9, .actions = { fill_dup2, NULL },
						    .opaque = true });
	forge_stdin(&f, 14, &(struct gg_rec_stdin){ .fn = GG_FN_fgets, .ftype = 1 });
	forge_net(&f, 15, &(struct gg_rec_net){ .fn = GG_FN_socket, .domain = 2, .type = 1, .ret = 5 });
	forge_exit(&f, 13, &(struct gg_rec_exit){ .how = GG_EXIT_DTOR, .status = -1 });

	trace_init(&t);
	assert_int_equal(trace_add_buf(&t, "7-1.ggt", f.buf, f.len, &w), 0);
	assert_int_equal(trace_link(&t), 0);
	json_init(&j, 0);
	assert_int_equal(trace_dump_json(&j, t.images[0]), 0);
	assert_non_null(strstr(j.sb.buf, "\"interp\":\"/lib64/ld.so\",\"objects\":[\"/lib/libc.so.6\"]"));
	assert_non_null(strstr(j.sb.buf, "\"exit\":{\"normal\":true}"));
	assert_non_null(strstr(j.sb.buf,
			       "{\"op\":\"objs\",\"t\":11,\"interp\":\"/lib64/ld.so\","
			       "\"objects\":[\"/lib/libc.so.6\"]}"));
	assert_non_null(strstr(j.sb.buf,
			       "{\"op\":\"spawn\",\"t\":12,\"fn\":\"posix_spawnp\",\"path\":\"/bin/cc\","
			       "\"argv\":[],\"env\":[],\"ret\":9,\"errno\":0,\"actions\":[{\"op\":\"dup2\","
			       "\"fd\":3,\"fd2\":1,\"path\":\"\",\"flags\":0,\"mode\":0}],\"opaque\":true}"));
	assert_non_null(strstr(j.sb.buf, "{\"op\":\"exit\",\"t\":13,\"how\":\"dtor\",\"status\":-1}"));
	assert_non_null(strstr(j.sb.buf,
			       "{\"op\":\"stdin\",\"t\":14,\"fn\":\"fgets\",\"ftype\":1,\"tty\":false}"));
	assert_non_null(strstr(j.sb.buf, "{\"op\":\"net\",\"t\":15,\"fn\":\"socket\",\"domain\":2,"
					"\"type\":1,\"ret\":5,\"errno\":0}"));
	json_release(&j);
	trace_release(&t);
	strlist_release(&w);
}

/* A listing says whether it is whole, in JSON always and in text when it is not. */
static void test_trace_dump__list_truncated(void **state)
{
	char *const names[] = { (char *)"a.c", NULL };
	struct strlist w = STRLIST_INIT;
	struct sbuf sb = SBUF_INIT;
	struct trace t;
	struct json j;

	forge_init(&f);
	rec_proc(&f, 10, 7, 6, GG_ORIGIN_ROOT, "/bin/ls", NULL);
	for (int i = 0; i < 2; i++)
		forge_list(&f, 11 + (uint64_t)i,
			   &(struct gg_rec_list){ .fn = GG_FN_opendir, .path = i ? "/big" : "/src",
						  .names = FORGE_L(names), .truncated = i == 1 });
	trace_init(&t);
	assert_int_equal(trace_add_buf(&t, "7-1.ggt", f.buf, f.len, &w), 0);
	assert_int_equal(trace_link(&t), 0);
	json_init(&j, 0);
	assert_int_equal(trace_dump_json(&j, t.images[0]), 0);
	assert_non_null(strstr(j.sb.buf,
			       "{\"op\":\"list\",\"t\":11,\"fn\":\"opendir\",\"path\":\"/src\","
			       "\"ret\":0,\"errno\":0,\"names\":[\"a.c\"],\"truncated\":false}"));
	assert_non_null(strstr(j.sb.buf, "\"path\":\"/big\",\"ret\":0,\"errno\":0,"
					"\"names\":[\"a.c\"],\"truncated\":true}"));
	assert_int_equal(trace_dump_text(&sb, t.images[0]), 0);
	assert_non_null(strstr(sb.buf, "opendir(\"/src\") = 0 1 names\n"));
	assert_non_null(strstr(sb.buf, "opendir(\"/big\") = 0 1 names truncated\n"));
	sbuf_release(&sb);
	json_release(&j);
	trace_release(&t);
	strlist_release(&w);
}

/* Every record type after PROC, forged from the schema: its JSON object and text line. */
static void test_trace_dump__every_record_type(void **state)
{
	static const struct {
		const char *json, *text;
	} want[] = {
		{ "{\"op\":\"objs\",\"t\":11,\"interp\":\"\",\"objects\":[\"/l/a.so\"]}",
		  "objects [\"/l/a.so\"]\n" },
		{ "{\"op\":\"open\",\"t\":12,\"fn\":\"creat\",\"path\":\"/o\",\"flags\":577,"
		  "\"mode\":384,\"ret\":-1,\"errno\":13}",
		  "creat(\"/o\", O_WRONLY|O_CREAT|O_TRUNC, 0600) = -1 EACCES\n" },
		{ "{\"op\":\"stat\",\"t\":13,\"fn\":\"fstatat\",\"path\":\"/l\",\"flags\":256,"
		  "\"ret\":0,\"errno\":0,\"ftype\":10,\"target\":\"x\"}",
		  "fstatat(\"/l\", 0x100) = 0 (symlink) -> \"x\"\n" },
		{ "{\"op\":\"list\",\"t\":14,\"fn\":\"scandir\",\"path\":\"/n\",\"ret\":-1,"
		  "\"errno\":2,\"names\":[],\"truncated\":false}",
		  "scandir(\"/n\") = -1 ENOENT 0 names\n" },
		{ "{\"op\":\"ns\",\"t\":15,\"fn\":\"renameat2\",\"path\":\"/a\",\"path2\":\"/b\","
		  "\"arg\":1,\"ret\":0,\"errno\":0}",
		  "renameat2(\"/a\", \"/b\", 01) = 0\n" },
		{ "{\"op\":\"chdir\",\"t\":16,\"fn\":\"fchdir\",\"path\":\"/s\",\"ret\":0,"
		  "\"errno\":0}",
		  "fchdir(\"/s\") = 0\n" },
		{ "{\"op\":\"fd\",\"t\":17,\"fn\":\"dup\",\"fd\":4,\"fd2\":-1,\"ret\":5,"
		  "\"errno\":0}",
		  "dup(4) = 5\n" },
		{ "{\"op\":\"exec\",\"t\":18,\"fn\":\"fexecve\",\"path\":\"/x\",\"argv\":[\"x\"],"
		  "\"env\":[\"A=1\"],\"opaque\":true}",
		  "fexecve(\"/x\", [\"x\"], 1 env) opaque\n" },
		{ "{\"op\":\"execfail\",\"t\":19,\"fn\":\"execv\",\"path\":\"/x\",\"errno\":8}",
		  "execv(\"/x\") failed ENOEXEC\n" },
		{ "{\"op\":\"spawn\",\"t\":20,\"fn\":\"system\",\"path\":\"/bin/sh\","
		  "\"argv\":[\"sh\"],\"env\":[],\"ret\":0,\"errno\":0,\"actions\":[],"
		  "\"opaque\":false}",
		  "system(\"/bin/sh\", [\"sh\"], 0 env) = 0\n" },
		{ "{\"op\":\"wait\",\"t\":21,\"fn\":\"wait4\",\"pid\":9,\"status\":9}",
		  "wait4(9) killed by KILL\n" },
		{ "{\"op\":\"exit\",\"t\":22,\"how\":\"_exit\",\"status\":3}", "_exit(3)\n" },
		{ "{\"op\":\"stdin\",\"t\":23,\"fn\":\"read\",\"ftype\":2,\"tty\":true}",
		  "read(stdin) (chardev) tty\n" },
		{ "{\"op\":\"net\",\"t\":24,\"fn\":\"socket\",\"domain\":10,\"type\":2,"
		  "\"ret\":-1,\"errno\":97}",
		  "socket(domain 10, type 2) = -1 EAFNOSUPPORT\n" },
	};
	char *const objs[] = { (char *)"/l/a.so", NULL }, *const x[] = { (char *)"x", NULL };
	char *const env[] = { (char *)"A=1", NULL }, *const sh[] = { (char *)"sh", NULL };
	struct strlist w = STRLIST_INIT;
	struct sbuf sb = SBUF_INIT;
	struct trace t;
	struct json j;

	forge_init(&f);
	rec_proc(&f, 10, 7, 6, GG_ORIGIN_ROOT, "/bin/sh", NULL);
	forge_objs(&f, 11, &(struct gg_rec_objs){ .interp = "", .objects = FORGE_L(objs) });
	forge_open(&f, 12, &(struct gg_rec_open){ .fn = GG_FN_creat, .path = "/o",
						   .flags = 01101, .mode = 0600, .ret = -1,
						   .err = EACCES });
	forge_stat(&f, 13, &(struct gg_rec_stat){ .fn = GG_FN_fstatat, .path = "/l", .flags = 0x100,
						   .ftype = S_IFLNK >> 12, .target = "x" });
	forge_list(&f, 14, &(struct gg_rec_list){ .fn = GG_FN_scandir, .path = "/n", .ret = -1,
						   .err = ENOENT });
	forge_ns(&f, 15, &(struct gg_rec_ns){ .fn = GG_FN_renameat2, .path = "/a", .path2 = "/b",
					       .arg = 1 });
	forge_chdir(&f, 16, &(struct gg_rec_chdir){ .fn = GG_FN_fchdir, .path = "/s" });
	forge_fd(&f, 17, &(struct gg_rec_fd){ .fn = GG_FN_dup, .fd = 4, .fd2 = -1, .ret = 5 });
	forge_exec(&f, 18, &(struct gg_rec_exec){ .fn = GG_FN_fexecve, .path = "/x",
						   .argv = FORGE_V(x), .env = FORGE_V(env),
						   .opaque = true });
	forge_execfail(&f, 19, &(struct gg_rec_execfail){ .fn = GG_FN_execv, .path = "/x",
							   .err = ENOEXEC });
	forge_spawn(&f, 20, &(struct gg_rec_spawn){ .fn = GG_FN_system, .path = "/bin/sh",
						     .argv = FORGE_V(sh), .env = FORGE_V(no_strv) });
	forge_wait(&f, 21, &(struct gg_rec_wait){ .fn = GG_FN_wait4, .pid = 9, .status = SIGKILL });
	forge_exit(&f, 22, &(struct gg_rec_exit){ .how = GG_EXIT__EXIT, .status = 3 });
	forge_stdin(&f, 23, &(struct gg_rec_stdin){ .fn = GG_FN_read, .ftype = S_IFCHR >> 12,
						     .tty = true });
	forge_net(&f, 24, &(struct gg_rec_net){ .fn = GG_FN_socket, .domain = 10, .type = 2,
						 .ret = -1, .err = EAFNOSUPPORT });
	trace_init(&t);
	assert_int_equal(trace_add_buf(&t, "7-1.ggt", f.buf, f.len, &w), 0);
	assert_int_equal(w.n, 0);
	assert_int_equal(trace_link(&t), 0);
	assert_int_equal(t.images[0]->nevents, ARRAY_SIZE(want));
	json_init(&j, 0);
	assert_int_equal(trace_dump_json(&j, t.images[0]), 0);
	assert_int_equal(trace_dump_text(&sb, t.images[0]), 0);
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		char line[256];
		assert_non_null(strstr(j.sb.buf, want[i].json));
		snprintf(line, sizeof(line), " %s", want[i].text); /* after the time */
		assert_non_null(strstr(sb.buf, line));
	}
	sbuf_release(&sb);
	json_release(&j);
	trace_release(&t);
	strlist_release(&w);
}

static void test_trace_dump__text(void **state)
{
	struct sbuf sb = SBUF_INIT;
	struct trace t;
	struct strlist w;

	build(&t, &w);
	assert_int_equal(trace_dump_text(&sb, t.images[0]), 0);
	assert_non_null(strstr(sb.buf, "pid 7 exe \"/bin/sh\" argv [\"sh\", \"-c\", \"x\"] cwd \"/src\" "
				       "exit status 1 [root 7-1]\n"));
	assert_non_null(strstr(sb.buf, "    +0.000000 openat(\"/etc/hostname\", O_RDONLY) = 3\n"));
	assert_non_null(strstr(sb.buf, "openat(\"/out\", O_WRONLY|O_CREAT|O_TRUNC, 0644) = 4\n"));
	assert_non_null(strstr(sb.buf, "openat(\"/missing\", O_RDONLY) = -1 ENOENT\n"));
	assert_non_null(strstr(sb.buf, "waitpid(8) exited 1\n"));
	sbuf_reset(&sb);
	assert_int_equal(trace_dump_text(&sb, t.images[2]), 0);
	assert_non_null(strstr(sb.buf, "[exec 8-3, exec of 8-2]\n"));
	assert_non_null(strstr(sb.buf, "execve(\"/bin/gone\") failed EACCES\n"));
	assert_non_null(strstr(sb.buf, "    warning: /tr/8-3.ggt: torn record at offset"));
	sbuf_release(&sb);
	trace_release(&t);
	strlist_release(&w);
}

static void test_trace_dump__summary(void **state)
{
	struct sbuf sb = SBUF_INIT;
	struct trace t;
	struct strlist w;

	build(&t, &w);
	assert_int_equal(trace_dump_summary(&sb, &t, "/tr", &w), 0);
	assert_non_null(strstr(sb.buf, "trace: /tr\n"));
	assert_non_null(strstr(sb.buf, "processes: 2 (3 images, 1 roots)\n"));
	assert_non_null(strstr(sb.buf, "programs: 2\n"));
	assert_non_null(strstr(sb.buf, "       1  cat\n"));
	assert_non_null(strstr(sb.buf, "       1  sh\n"));
	assert_non_null(strstr(sb.buf, "files: 1 read, 1 written, 0 removed, 1 probed missing\n"));
	/* the PATH-search failure followed by the next candidate does not count */
	assert_non_null(strstr(sb.buf, "failed execs: 1\n  execve \"/bin/gone\" EACCES (pid 8)\n"));
	assert_non_null(strstr(sb.buf, "warnings: 1\n  /tr/8-3.ggt: torn record at offset"));
	sbuf_release(&sb);
	trace_release(&t);
	strlist_release(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_trace_dump__json_schema),
		cmocka_unit_test(test_trace_dump__json_spawn_and_objs),
		cmocka_unit_test(test_trace_dump__list_truncated),
		cmocka_unit_test(test_trace_dump__every_record_type),
		cmocka_unit_test(test_trace_dump__text),
		cmocka_unit_test(test_trace_dump__summary),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
