/*
 * trace_dump.c - see trace_dump.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "trace_dump.h"

/* ---- JSON ----------------------------------------------------------------------- */

static void json_tstrv(struct json *j, const struct trace_strv *sv)
{
	json_strv(j, sv->v, sv->n);
}

static void json_exit(struct json *j, const struct trace_exit *ex)
{
	switch (ex->kind) {
	case TRACE_EXIT_STATUS:
		json_obj_begin(j);
		json_kv_int(j, "status", ex->code);
		json_obj_end(j);
		break;
	case TRACE_EXIT_SIGNAL:
		json_obj_begin(j);
		json_kv_int(j, "signal", ex->code);
		json_obj_end(j);
		break;
	case TRACE_EXIT_EXEC:
		json_obj_begin(j);
		json_kv_str(j, "exec", ex->path ? ex->path : "");
		json_obj_end(j);
		break;
	case TRACE_EXIT_NORMAL:
		json_obj_begin(j);
		json_kv_bool(j, "normal", true);
		json_obj_end(j);
		break;
	default:
		json_null(j);
		break;
	}
}

static void json_fn(struct json *j, unsigned fn)
{
	char buf[32];

	json_key(j, "fn");
	if (fn < GG_FN__MAX) {
		json_str(j, trace_fn_name(fn));
	} else {
		snprintf(buf, sizeof(buf), "fn#%u", fn);
		json_str(j, buf);
	}
}

static void json_event(struct json *j, const struct trace_event *ev)
{
	json_obj_begin(j);
	json_kv_str(j, "op", trace_rec_name(ev->type));
	json_kv_uint(j, "t", ev->t);
	if (ev->type != GG_REC_OBJS && ev->type != GG_REC_EXIT)
		json_fn(j, ev->fn);

	switch (ev->type) {
	case GG_REC_OPEN:
		json_kv_str(j, "path", ev->path);
		json_kv_int(j, "flags", ev->u.open.flags);
		json_kv_uint(j, "mode", ev->u.open.mode);
		json_kv_int(j, "ret", ev->ret);
		json_kv_int(j, "errno", ev->err);
		break;
	case GG_REC_STAT:
		json_kv_str(j, "path", ev->path);
		json_kv_int(j, "flags", ev->u.stat.flags);
		json_kv_int(j, "ret", ev->ret);
		json_kv_int(j, "errno", ev->err);
		json_kv_int(j, "ftype", ev->u.stat.ftype);
		json_kv_str(j, "target", ev->u.stat.target);
		break;
	case GG_REC_LIST:
		json_kv_str(j, "path", ev->path);
		json_kv_int(j, "ret", ev->ret);
		json_kv_int(j, "errno", ev->err);
		json_key(j, "names");
		json_tstrv(j, &ev->u.list.names);
		break;
	case GG_REC_NS:
		json_kv_str(j, "path", ev->path);
		json_kv_str(j, "path2", ev->u.ns.path2);
		json_kv_int(j, "arg", ev->u.ns.arg);
		json_kv_int(j, "ret", ev->ret);
		json_kv_int(j, "errno", ev->err);
		break;
	case GG_REC_CHDIR:
		json_kv_str(j, "path", ev->path);
		json_kv_int(j, "ret", ev->ret);
		json_kv_int(j, "errno", ev->err);
		break;
	case GG_REC_FD:
		json_kv_int(j, "fd", ev->u.fd.fd);
		json_kv_int(j, "fd2", ev->u.fd.fd2);
		json_kv_int(j, "ret", ev->ret);
		json_kv_int(j, "errno", ev->err);
		break;
	case GG_REC_EXEC:
		json_kv_str(j, "path", ev->path);
		json_key(j, "argv");
		json_tstrv(j, &ev->u.exec.argv);
		json_key(j, "env");
		json_tstrv(j, &ev->u.exec.env);
		json_kv_bool(j, "opaque", ev->u.exec.opaque);
		break;
	case GG_REC_EXECFAIL:
		json_kv_str(j, "path", ev->path);
		json_kv_int(j, "errno", ev->err);
		break;
	case GG_REC_SPAWN:
		json_kv_str(j, "path", ev->path);
		json_key(j, "argv");
		json_tstrv(j, &ev->u.spawn.argv);
		json_key(j, "env");
		json_tstrv(j, &ev->u.spawn.env);
		json_kv_int(j, "ret", ev->ret);
		json_kv_int(j, "errno", ev->err);
		json_key(j, "actions");
		json_arr_begin(j);
		for (uint32_t i = 0; i < ev->u.spawn.nactions; i++) {
			const struct trace_action *a = &ev->u.spawn.actions[i];
			json_obj_begin(j);
			json_kv_str(j, "op", trace_spawn_op_name(a->op));
			json_kv_int(j, "fd", a->fd);
			json_kv_int(j, "fd2", a->fd2);
			json_kv_str(j, "path", a->path);
			json_kv_int(j, "flags", a->flags);
			json_kv_uint(j, "mode", a->mode);
			json_obj_end(j);
		}
		json_arr_end(j);
		json_kv_bool(j, "opaque", ev->u.spawn.opaque);
		break;
	case GG_REC_WAIT:
		json_kv_int(j, "pid", ev->u.wait.pid);
		json_kv_int(j, "status", ev->u.wait.status);
		break;
	case GG_REC_EXIT:
		json_kv_str(j, "how", trace_exit_how_name(ev->u.exit.how));
		json_kv_int(j, "status", ev->u.exit.status);
		break;
	case GG_REC_OBJS:
		json_kv_str(j, "interp", ev->u.objs.interp);
		json_key(j, "objects");
		json_tstrv(j, &ev->u.objs.objects);
		break;
	case GG_REC_STDIN:
		json_kv_int(j, "ftype", ev->u.stdin_.ftype);
		json_kv_bool(j, "tty", ev->u.stdin_.tty);
		break;
	case GG_REC_NET:
		json_kv_int(j, "domain", ev->u.net.domain);
		json_kv_int(j, "type", ev->u.net.type);
		json_kv_int(j, "ret", ev->ret);
		json_kv_int(j, "errno", ev->err);
		break;
	}
	json_obj_end(j);
}

int trace_dump_json(struct json *j, const struct trace_image *im)
{
	json_obj_begin(j);
	json_kv_str(j, "log", im->log);
	json_kv_int(j, "pid", im->pid);
	json_kv_int(j, "ppid", im->ppid);
	json_kv_str(j, "origin", trace_origin_name(im->origin));
	json_kv_str(j, "parent", im->parent ? im->parent->log : NULL);
	json_kv_str(j, "exe", im->exe);
	json_kv_str(j, "execfn", im->execfn);
	json_key(j, "argv");
	json_tstrv(j, &im->argv);
	json_key(j, "env");
	json_tstrv(j, &im->env);
	json_kv_str(j, "cwd", im->cwd);
	json_kv_uint(j, "umask", im->umask);
	json_kv_uint(j, "uid", im->uid);
	json_kv_uint(j, "gid", im->gid);
	json_key(j, "stdio");
	json_arr_begin(j);
	for (int i = 0; i < 3; i++)
		json_int(j, im->stdio[i]);
	json_arr_end(j);
	json_kv_str(j, "interp", im->interp);
	json_key(j, "objects");
	json_tstrv(j, &im->objects);
	json_key(j, "exit");
	json_exit(j, &im->exit);
	json_key(j, "events");
	json_arr_begin(j);
	for (size_t k = 0; k < im->nevents; k++)
		json_event(j, &im->events[k]);
	json_arr_end(j);
	json_key(j, "warnings");
	json_tstrv(j, &im->warnings);
	json_obj_end(j);
	return json_error(j);
}

/* ---- text ----------------------------------------------------------------------- */

static void text_str(struct sbuf *sb, const char *s)
{
	sbuf_addch(sb, '"');
	json_escape(sb, s ? s : "", s ? strlen(s) : 0);
	sbuf_addch(sb, '"');
}

static void text_strv(struct sbuf *sb, const struct trace_strv *sv)
{
	sbuf_addch(sb, '[');
	for (uint32_t i = 0; i < sv->n; i++) {
		if (i)
			sbuf_addstr(sb, ", ");
		text_str(sb, sv->v[i]);
	}
	sbuf_addch(sb, ']');
}

static void text_errno(struct sbuf *sb, int err)
{
	const char *name = err > 0 ? strerrorname_np(err) : NULL;

	if (name)
		sbuf_addf(sb, " %s", name);
	else if (err)
		sbuf_addf(sb, " errno %d", err);
}

/* " = ret" and the errno name when the call failed. */
static void text_ret(struct sbuf *sb, int64_t ret, int err)
{
	sbuf_addf(sb, " = %" PRId64, ret);
	if (err)
		text_errno(sb, err);
}

static void text_open_flags(struct sbuf *sb, int flags)
{
	static const struct { int bit; const char *name; } bits[] = {
		{ O_CREAT, "O_CREAT" },       { O_EXCL, "O_EXCL" },       { O_NOCTTY, "O_NOCTTY" },
		{ O_TRUNC, "O_TRUNC" },       { O_APPEND, "O_APPEND" },   { O_NONBLOCK, "O_NONBLOCK" },
		{ O_DIRECTORY, "O_DIRECTORY" }, { O_NOFOLLOW, "O_NOFOLLOW" },
		{ O_CLOEXEC, "O_CLOEXEC" },   { O_PATH, "O_PATH" },
	};
	int acc = flags & O_ACCMODE, rest;

	sbuf_addstr(sb, acc == O_RDONLY ? "O_RDONLY" : acc == O_WRONLY ? "O_WRONLY"
			: acc == O_RDWR ? "O_RDWR" : "O_ACCMODE");
	rest = flags & ~O_ACCMODE;
	if ((rest & O_TMPFILE) == O_TMPFILE) {
		sbuf_addstr(sb, "|O_TMPFILE");
		rest &= ~O_TMPFILE;
	}
	for (size_t i = 0; i < ARRAY_SIZE(bits); i++) {
		if (rest & bits[i].bit) {
			sbuf_addf(sb, "|%s", bits[i].name);
			rest &= ~bits[i].bit;
		}
	}
	if (rest)
		sbuf_addf(sb, "|%#o", (unsigned)rest);
}

static const char *ftype_name(int ftype)
{
	switch (ftype << 12) {
	case S_IFREG: return "file";
	case S_IFDIR: return "dir";
	case S_IFLNK: return "symlink";
	case S_IFCHR: return "chardev";
	case S_IFBLK: return "blockdev";
	case S_IFIFO: return "fifo";
	case S_IFSOCK: return "socket";
	default: return NULL;
	}
}

static void text_wait_status(struct sbuf *sb, int st)
{
	if (WIFEXITED(st))
		sbuf_addf(sb, " exited %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		sbuf_addf(sb, " killed by %s", sigabbrev_np(WTERMSIG(st)) ? sigabbrev_np(WTERMSIG(st))
						  : "signal");
	else
		sbuf_addf(sb, " status %#x", (unsigned)st);
}

static void text_event(struct sbuf *sb, const struct trace_event *ev, uint64_t t0)
{
	uint64_t dt = ev->t >= t0 ? ev->t - t0 : 0;
	const char *fn = trace_fn_name(ev->fn);

	sbuf_addf(sb, "    +%" PRIu64 ".%06" PRIu64 " ", dt / 1000000000, (dt / 1000) % 1000000);
	switch (ev->type) {
	case GG_REC_OPEN:
		sbuf_addf(sb, "%s(", fn);
		text_str(sb, ev->path);
		sbuf_addstr(sb, ", ");
		text_open_flags(sb, ev->u.open.flags);
		if (ev->u.open.flags & O_CREAT)
			sbuf_addf(sb, ", %#o", ev->u.open.mode);
		sbuf_addch(sb, ')');
		text_ret(sb, ev->ret, ev->err);
		break;
	case GG_REC_STAT:
		sbuf_addf(sb, "%s(", fn);
		text_str(sb, ev->path);
		if (ev->u.stat.flags)
			sbuf_addf(sb, ", %#x", (unsigned)ev->u.stat.flags);
		sbuf_addch(sb, ')');
		text_ret(sb, ev->ret, ev->err);
		if (ftype_name(ev->u.stat.ftype))
			sbuf_addf(sb, " (%s)", ftype_name(ev->u.stat.ftype));
		if (ev->u.stat.target[0]) {
			sbuf_addstr(sb, " -> ");
			text_str(sb, ev->u.stat.target);
		}
		break;
	case GG_REC_LIST:
		sbuf_addf(sb, "%s(", fn);
		text_str(sb, ev->path);
		sbuf_addch(sb, ')');
		text_ret(sb, ev->ret, ev->err);
		sbuf_addf(sb, " %" PRIu32 " names", ev->u.list.names.n);
		break;
	case GG_REC_NS:
		sbuf_addf(sb, "%s(", fn);
		text_str(sb, ev->path);
		if (ev->u.ns.path2[0]) {
			sbuf_addstr(sb, ", ");
			text_str(sb, ev->u.ns.path2);
		}
		if (ev->u.ns.arg)
			sbuf_addf(sb, ", %#" PRIo64, (uint64_t)ev->u.ns.arg);
		sbuf_addch(sb, ')');
		text_ret(sb, ev->ret, ev->err);
		break;
	case GG_REC_CHDIR:
		sbuf_addf(sb, "%s(", fn);
		text_str(sb, ev->path);
		sbuf_addch(sb, ')');
		text_ret(sb, ev->ret, ev->err);
		break;
	case GG_REC_FD:
		sbuf_addf(sb, "%s(%" PRId64, fn, ev->u.fd.fd);
		if (ev->u.fd.fd2 != -1)
			sbuf_addf(sb, ", %" PRId64, ev->u.fd.fd2);
		sbuf_addch(sb, ')');
		text_ret(sb, ev->ret, ev->err);
		break;
	case GG_REC_EXEC:
		sbuf_addf(sb, "%s(", fn);
		text_str(sb, ev->path);
		sbuf_addstr(sb, ", ");
		text_strv(sb, &ev->u.exec.argv);
		sbuf_addf(sb, ", %" PRIu32 " env)", ev->u.exec.env.n);
		if (ev->u.exec.opaque)
			sbuf_addstr(sb, " opaque");
		break;
	case GG_REC_EXECFAIL:
		sbuf_addf(sb, "%s(", fn);
		text_str(sb, ev->path);
		sbuf_addstr(sb, ") failed");
		text_errno(sb, ev->err);
		break;
	case GG_REC_SPAWN:
		sbuf_addf(sb, "%s(", fn);
		text_str(sb, ev->path);
		sbuf_addstr(sb, ", ");
		text_strv(sb, &ev->u.spawn.argv);
		sbuf_addf(sb, ", %" PRIu32 " env", ev->u.spawn.env.n);
		for (uint32_t i = 0; i < ev->u.spawn.nactions; i++) {
			const struct trace_action *a = &ev->u.spawn.actions[i];
			sbuf_addf(sb, "%s%s", i ? "; " : ", actions: ", trace_spawn_op_name(a->op));
			switch (a->op) {
			case GG_SPAWN_OPEN:
				sbuf_addf(sb, " %d ", a->fd);
				text_str(sb, a->path);
				break;
			case GG_SPAWN_CHDIR:
				sbuf_addch(sb, ' ');
				text_str(sb, a->path);
				break;
			case GG_SPAWN_DUP2:
				sbuf_addf(sb, " %d %d", a->fd, a->fd2);
				break;
			default:
				sbuf_addf(sb, " %d", a->fd);
				break;
			}
		}
		sbuf_addch(sb, ')');
		text_ret(sb, ev->ret, ev->err);
		if (ev->u.spawn.opaque)
			sbuf_addstr(sb, " opaque");
		break;
	case GG_REC_WAIT:
		sbuf_addf(sb, "%s(%" PRId64 ")", fn, ev->u.wait.pid);
		text_wait_status(sb, ev->u.wait.status);
		break;
	case GG_REC_EXIT:
		if (ev->u.exit.how == GG_EXIT_DTOR)
			sbuf_addstr(sb, "exit (destructor)");
		else
			sbuf_addf(sb, "%s(%d)", trace_exit_how_name(ev->u.exit.how), ev->u.exit.status);
		break;
	case GG_REC_OBJS:
		sbuf_addstr(sb, "objects");
		if (ev->u.objs.interp[0]) {
			sbuf_addstr(sb, " interp ");
			text_str(sb, ev->u.objs.interp);
		}
		sbuf_addch(sb, ' ');
		text_strv(sb, &ev->u.objs.objects);
		break;
	case GG_REC_STDIN:
		sbuf_addf(sb, "%s(stdin)", fn);
		if (ftype_name(ev->u.stdin_.ftype))
			sbuf_addf(sb, " (%s)", ftype_name(ev->u.stdin_.ftype));
		if (ev->u.stdin_.tty)
			sbuf_addstr(sb, " tty");
		break;
	case GG_REC_NET:
		sbuf_addf(sb, "%s(domain %d, type %d)", fn, ev->u.net.domain, ev->u.net.type);
		text_ret(sb, ev->ret, ev->err);
		break;
	default:
		sbuf_addf(sb, "%s record (%s)", trace_rec_name(ev->type), fn);
		break;
	}
	sbuf_addch(sb, '\n');
}

static void text_exit(struct sbuf *sb, const struct trace_exit *ex)
{
	switch (ex->kind) {
	case TRACE_EXIT_STATUS:
		sbuf_addf(sb, "status %d", ex->code);
		break;
	case TRACE_EXIT_SIGNAL:
		sbuf_addf(sb, "signal %d (%s)", ex->code,
			  sigabbrev_np(ex->code) ? sigabbrev_np(ex->code) : "?");
		break;
	case TRACE_EXIT_EXEC:
		sbuf_addstr(sb, "exec ");
		text_str(sb, ex->path);
		break;
	case TRACE_EXIT_NORMAL:
		sbuf_addstr(sb, "normal");
		break;
	default:
		sbuf_addstr(sb, "unknown");
		break;
	}
}

int trace_dump_text(struct sbuf *sb, const struct trace_image *im)
{
	sbuf_addf(sb, "pid %" PRId64 " exe ", im->pid);
	text_str(sb, im->exe);
	sbuf_addstr(sb, " argv ");
	text_strv(sb, &im->argv);
	sbuf_addstr(sb, " cwd ");
	text_str(sb, im->cwd);
	sbuf_addstr(sb, " exit ");
	text_exit(sb, &im->exit);
	sbuf_addf(sb, " [%s", trace_origin_name(im->origin));
	if (im->origin != im->origin_recorded)
		sbuf_addf(sb, " (recorded %s)", trace_origin_name(im->origin_recorded));
	sbuf_addf(sb, " %s", im->log);
	if (im->parent)
		sbuf_addf(sb, ", %s of %s", trace_link_name(im->link), im->parent->log);
	sbuf_addstr(sb, "]\n");
	for (size_t k = 0; k < im->nevents; k++)
		text_event(sb, &im->events[k], im->t);
	for (uint32_t i = 0; i < im->warnings.n; i++)
		sbuf_addf(sb, "    warning: %s\n", im->warnings.v[i]);
	return sbuf_error(sb);
}

/* ---- summary -------------------------------------------------------------------- */

struct count {
	const char *name;
	size_t n;
};

static int cmp_count(const void *a, const void *b)
{
	const struct count *x = a, *y = b;
	if (x->n != y->n)
		return x->n > y->n ? -1 : 1;
	return strcmp(x->name, y->name);
}

static bool missing_err(int err)
{
	return err == ENOENT || err == ENOTDIR;
}

#define SUMMARY_LIST_MAX 20

int trace_dump_summary(struct sbuf *sb, const struct trace *t, const char *dir,
		       const struct strlist *warnings)
{
	struct strset read = STRSET_INIT, written = STRSET_INIT, removed = STRSET_INIT;
	struct strset missing = STRSET_INIT, progs = STRSET_INIT;
	struct count *counts = NULL;
	size_t nprocs = 0, nroots = 0, ncounts = 0, nfailed = 0, nopaque = 0;
	size_t nstdin = 0, ntty = 0, nnet = 0;
	struct sbuf failed = SBUF_INIT;
	int ret = 0;

	counts = calloc(t->nimages ? t->nimages : 1, sizeof(*counts));
	if (!counts) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < t->nimages; i++) {
		const struct trace_image *im = t->images[i];
		const char *base = path_base(im->exe);

		if (im->link != TRACE_LINK_EXEC)
			nprocs++;
		if (!im->parent)
			nroots++;
		if (im->origin != GG_ORIGIN_FORK) {
			int added = strset_add(&progs, base);
			if (added < 0) {
				ret = added;
				goto out;
			}
			if (added)
				counts[ncounts++] = (struct count){ .name = base, .n = 0 };
			for (size_t c = 0; c < ncounts; c++)
				if (!strcmp(counts[c].name, base))
					counts[c].n++;
		}
		for (size_t k = 0; k < im->nevents; k++) {
			const struct trace_event *ev = &im->events[k];
			int r = 0;

			switch (ev->type) {
			case GG_REC_OPEN:
				if (ev->ret >= 0) {
					int acc = ev->u.open.flags & O_ACCMODE;
					if (acc == O_RDONLY || acc == O_RDWR)
						r = strset_add(&read, ev->path);
					if (r >= 0 && acc != O_RDONLY)
						r = strset_add(&written, ev->path);
				} else if (missing_err(ev->err)) {
					r = strset_add(&missing, ev->path);
				}
				break;
			case GG_REC_STAT:
			case GG_REC_LIST:
				if (ev->ret < 0 && missing_err(ev->err))
					r = strset_add(&missing, ev->path);
				break;
			case GG_REC_NS:
				if (ev->ret < 0)
					break;
				switch (ev->fn) {
				case GG_FN_rename: case GG_FN_renameat: case GG_FN_renameat2:
				case GG_FN_link: case GG_FN_linkat:
					r = strset_add(&written, ev->u.ns.path2);
					if (r >= 0 && ev->fn != GG_FN_link && ev->fn != GG_FN_linkat)
						r = strset_add(&removed, ev->path);
					break;
				case GG_FN_symlink: case GG_FN_symlinkat:
				case GG_FN_truncate: case GG_FN_truncate64:
					r = strset_add(&written, ev->path);
					break;
				case GG_FN_unlink: case GG_FN_unlinkat: case GG_FN_remove:
				case GG_FN_rmdir:
					r = strset_add(&removed, ev->path);
					break;
				}
				break;
			case GG_REC_EXEC:
				if (ev->u.exec.opaque)
					nopaque++;
				break;
			case GG_REC_STDIN:
				nstdin++;
				ntty += ev->u.stdin_.tty;
				break;
			case GG_REC_NET:
				nnet++;
				break;
			case GG_REC_EXECFAIL:
				/* execvp's PATH search: a failure followed by the next
				 * candidate is not the call's failure */
				if (k + 1 < im->nevents && im->events[k + 1].type == GG_REC_EXEC &&
				    im->events[k + 1].fn == ev->fn)
					break;
				/* fall through */
			case GG_REC_SPAWN:
				if (ev->type == GG_REC_SPAWN) {
					if (ev->u.spawn.opaque)
						nopaque++;
					if (!ev->err)
						break;
				}
				if (nfailed++ < SUMMARY_LIST_MAX) {
					sbuf_addf(&failed, "  %s ", trace_fn_name(ev->fn));
					text_str(&failed, ev->path);
					text_errno(&failed, ev->err);
					sbuf_addf(&failed, " (pid %" PRId64 ")\n", im->pid);
				}
				break;
			}
			if (r < 0) {
				ret = r;
				goto out;
			}
		}
	}

	if (dir)
		sbuf_addf(sb, "trace: %s\n", dir);
	sbuf_addf(sb, "processes: %zu (%zu images, %zu roots)\n", nprocs, t->nimages, nroots);
	if (ncounts)
		qsort(counts, ncounts, sizeof(*counts), cmp_count);
	sbuf_addf(sb, "programs: %zu\n", ncounts);
	for (size_t c = 0; c < ncounts; c++)
		sbuf_addf(sb, "  %6zu  %s\n", counts[c].n, counts[c].name[0] ? counts[c].name : "?");
	sbuf_addf(sb, "files: %zu read, %zu written, %zu removed, %zu probed missing\n",
		  read.n, written.n, removed.n, missing.n);
	if (nopaque)
		sbuf_addf(sb, "opaque (static) executables run: %zu\n", nopaque);
	if (nstdin)
		sbuf_addf(sb, "images reading stdin: %zu (%zu from a terminal)\n", nstdin, ntty);
	if (nnet)
		sbuf_addf(sb, "network sockets opened: %zu\n", nnet);
	sbuf_addf(sb, "failed execs: %zu\n", nfailed);
	if (failed.len)
		sbuf_add(sb, failed.buf, failed.len);
	if (nfailed > SUMMARY_LIST_MAX)
		sbuf_addf(sb, "  ... and %zu more\n", nfailed - SUMMARY_LIST_MAX);
	sbuf_addf(sb, "warnings: %zu\n", warnings ? warnings->n + warnings->dropped : 0);
	for (size_t i = 0; warnings && i < warnings->n && i < SUMMARY_LIST_MAX; i++)
		sbuf_addf(sb, "  %s\n", warnings->v[i]);
	if (warnings && warnings->n + warnings->dropped > SUMMARY_LIST_MAX)
		sbuf_addf(sb, "  ... and %zu more\n",
			  warnings->n + warnings->dropped - SUMMARY_LIST_MAX);
	ret = failed.err ? failed.err : sbuf_error(sb);
out:
	free(counts);
	sbuf_release(&failed);
	strset_release(&read);
	strset_release(&written);
	strset_release(&removed);
	strset_release(&missing);
	strset_release(&progs);
	return ret;
}
