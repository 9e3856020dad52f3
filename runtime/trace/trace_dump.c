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

#include "runtime/trace/trace_dump.h"

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

/* An integer as signed or unsigned, as the member holding it is. */
#define JSON_INT_(j, k, m)                                                        \
	_Generic((m), unsigned char: json_kv_uint, unsigned short: json_kv_uint,  \
		 unsigned int: json_kv_uint, unsigned long: json_kv_uint,          \
		 unsigned long long: json_kv_uint, default: json_kv_int)(j, k, m)

static void json_actions(struct json *j, const char *key, const struct trace_action *actions,
			 uint32_t n);

/* JSON_<kind>(j, key, value) writes one field (shim/trace_schema.h). */
#define JSON_FN(j, k, m) json_fn(j, m)
#define JSON_I(j, k, m) JSON_INT_(j, k, m)
#define JSON_U(j, k, m) JSON_INT_(j, k, m)
#define JSON_HOW(j, k, m) json_kv_str(j, k, trace_exit_how_name(m))
#define JSON_OP(j, k, m) json_kv_str(j, k, trace_spawn_op_name(m))
#define JSON_B(j, k, m) json_kv_bool(j, k, m)
#define JSON_S(j, k, m) json_kv_str(j, k, m)
#define JSON_V(j, k, m) (json_key(j, k), json_tstrv(j, &(m)))
#define JSON_L(j, k, m) JSON_V(j, k, m)
#define JSON_ACT(j, k, m) json_actions(j, k, (m).actions, (m).nactions)
#define JSON_FIELD_(kind, name, presence, member, key, text) JSON_##kind(j, key, base->member);

static void json_actions(struct json *j, const char *key, const struct trace_action *actions,
			 uint32_t n)
{
	json_key(j, key);
	json_arr_begin(j);
	for (uint32_t i = 0; i < n; i++) {
		const struct trace_action *base = &actions[i];
		json_obj_begin(j);
		GG_FIELDS_SPAWN_ACTION(JSON_FIELD_)
		json_obj_end(j);
	}
	json_arr_end(j);
}

/* {"op":<record name>,"t":T, then the record's fields in wire order}. */
static void json_event(struct json *j, const struct trace_event *ev)
{
	const struct trace_event *base = ev;

	json_obj_begin(j);
	json_kv_str(j, "op", trace_rec_name(ev->type));
	json_kv_uint(j, "t", ev->t);
	switch (ev->type) {
#define JSON_REC_(TYPE, number, name, head)                                       \
	case GG_REC_##TYPE:                                                       \
		GG_FIELDS_##TYPE(JSON_FIELD_)                                     \
		break;
	GG_REC_SCHEMA(JSON_REC_)
#undef JSON_REC_
	default:
		json_fn(j, ev->fn);
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
	json_kv_bool(j, "batched", im->batched);
	json_kv_str(j, "interp", im->interp);
	json_key(j, "objects");
	json_tstrv(j, &im->objects);
	json_key(j, "exit");
	json_exit(j, &im->exit);
	json_kv_bool(j, "cut_short", im->cut_short);
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

/*
 * The text line of an event, generated from shim/trace_schema.h: the record's head
 * (H_*), then its A_* fields inside the parentheses, comma separated, then its S_*
 * fields.  Each text style is a TXA_<style> (argument pass) and a TXS_<style>
 * (suffix pass) macro; a style does nothing in the other pass.
 */
struct txc {
	struct sbuf *sb;
	const struct trace_event *ev;
	unsigned nargs; /* arguments written: the next one needs ", " */
};

static struct sbuf *tx_arg(struct txc *c)
{
	if (c->nargs++)
		sbuf_addstr(c->sb, ", ");
	return c->sb;
}

static void tx_actions(struct txc *c, const struct trace_action *actions, uint32_t n)
{
	struct sbuf *sb = c->sb;

	for (uint32_t i = 0; i < n; i++) {
		const struct trace_action *a = &actions[i];
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
}

#define TX_NOTHING_(c, m, name) ((void)0)

/* arguments: inside the parentheses */
#define TXA_A_STR(c, m, name) text_str(tx_arg(c), m)
#define TXA_A_STR_NE(c, m, name)                                                  \
	do {                                                                      \
		if ((m)[0])                                                       \
			text_str(tx_arg(c), m);                                   \
	} while (0)
#define TXA_A_OFLAGS(c, m, name) text_open_flags(tx_arg(c), m)
/* open's mode means something only when the call may create the file */
#define TXA_A_OMODE(c, m, name)                                                   \
	do {                                                                      \
		if ((c)->ev->u.open.flags & O_CREAT)                              \
			sbuf_addf(tx_arg(c), "%#o", (unsigned)(m));               \
	} while (0)
#define TXA_A_HEX_NZ(c, m, name)                                                  \
	do {                                                                      \
		if (m)                                                            \
			sbuf_addf(tx_arg(c), "%#x", (unsigned)(m));               \
	} while (0)
#define TXA_A_OCT_NZ(c, m, name)                                                  \
	do {                                                                      \
		if (m)                                                            \
			sbuf_addf(tx_arg(c), "%#" PRIo64, (uint64_t)(m));         \
	} while (0)
#define TXA_A_INT(c, m, name) sbuf_addf(tx_arg(c), "%" PRId64, (int64_t)(m))
#define TXA_A_INT_SET(c, m, name)                                                 \
	do {                                                                      \
		if ((m) != -1)                                                    \
			TXA_A_INT(c, m, name);                                    \
	} while (0)
#define TXA_A_STRV(c, m, name) text_strv(tx_arg(c), &(m))
#define TXA_A_COUNT(c, m, name) sbuf_addf(tx_arg(c), "%" PRIu32 " " name, (m).n)
#define TXA_A_KEYED(c, m, name) sbuf_addf(tx_arg(c), name " %" PRId64, (int64_t)(m))
#define TXA_A_ACTIONS(c, m, name) tx_actions(c, (m).actions, (m).nactions)
#define TXA_S_RET TX_NOTHING_
#define TXA_S_ERR TX_NOTHING_
#define TXA_S_FAILED TX_NOTHING_
#define TXA_S_FTYPE TX_NOTHING_
#define TXA_S_TARGET TX_NOTHING_
#define TXA_S_COUNT TX_NOTHING_
#define TXA_S_FLAG TX_NOTHING_
#define TXA_S_WAIT TX_NOTHING_
#define TXA_S_LABEL_STR_NE TX_NOTHING_
#define TXA_S_STRV TX_NOTHING_
#define TXA_X TX_NOTHING_

/* suffixes: after the parentheses */
#define TXS_A_STR TX_NOTHING_
#define TXS_A_STR_NE TX_NOTHING_
#define TXS_A_OFLAGS TX_NOTHING_
#define TXS_A_OMODE TX_NOTHING_
#define TXS_A_HEX_NZ TX_NOTHING_
#define TXS_A_OCT_NZ TX_NOTHING_
#define TXS_A_INT TX_NOTHING_
#define TXS_A_INT_SET TX_NOTHING_
#define TXS_A_STRV TX_NOTHING_
#define TXS_A_COUNT TX_NOTHING_
#define TXS_A_KEYED TX_NOTHING_
#define TXS_A_ACTIONS TX_NOTHING_
#define TXS_S_RET(c, m, name) sbuf_addf((c)->sb, " = %" PRId64, (int64_t)(m))
#define TXS_S_ERR(c, m, name)                                                     \
	do {                                                                      \
		if (m)                                                            \
			text_errno((c)->sb, m);                                   \
	} while (0)
#define TXS_S_FAILED(c, m, name) (sbuf_addstr((c)->sb, " failed"), text_errno((c)->sb, m))
#define TXS_S_FTYPE(c, m, name)                                                   \
	do {                                                                      \
		if (ftype_name(m))                                                \
			sbuf_addf((c)->sb, " (%s)", ftype_name(m));               \
	} while (0)
#define TXS_S_TARGET(c, m, name)                                                  \
	do {                                                                      \
		if ((m)[0]) {                                                     \
			sbuf_addstr((c)->sb, " -> ");                             \
			text_str((c)->sb, m);                                     \
		}                                                                 \
	} while (0)
#define TXS_S_COUNT(c, m, name) sbuf_addf((c)->sb, " %" PRIu32 " " name, (m).n)
#define TXS_S_FLAG(c, m, name)                                                    \
	do {                                                                      \
		if (m)                                                            \
			sbuf_addstr((c)->sb, " " name);                           \
	} while (0)
#define TXS_S_WAIT(c, m, name) text_wait_status((c)->sb, m)
#define TXS_S_LABEL_STR_NE(c, m, name)                                            \
	do {                                                                      \
		if ((m)[0]) {                                                     \
			sbuf_addstr((c)->sb, " " name " ");                       \
			text_str((c)->sb, m);                                     \
		}                                                                 \
	} while (0)
#define TXS_S_STRV(c, m, name) (sbuf_addch((c)->sb, ' '), text_strv((c)->sb, &(m)))
#define TXS_X TX_NOTHING_

#define TXA_FIELD_(kind, name, presence, member, key, text) TXA_##text(&c, ev->member, #name);
#define TXS_FIELD_(kind, name, presence, member, key, text) TXS_##text(&c, ev->member, #name);

/* heads: what starts the line, and what closes the arguments */
#define TXH_BEGIN_H_CALL(c) sbuf_addf((c)->sb, "%s(", trace_fn_name((c)->ev->fn))
#define TXH_END_H_CALL(c) sbuf_addch((c)->sb, ')')
#define TXH_BEGIN_H_STDIN(c) sbuf_addf((c)->sb, "%s(stdin", trace_fn_name((c)->ev->fn))
#define TXH_END_H_STDIN(c) sbuf_addch((c)->sb, ')')
#define TXH_BEGIN_H_OBJECTS(c) sbuf_addstr((c)->sb, "objects")
#define TXH_END_H_OBJECTS(c) ((void)0)
/* exit(2) or _exit(2); the library destructor knows no status */
#define TXH_BEGIN_H_EXIT(c)                                                       \
	do {                                                                      \
		if ((c)->ev->u.exit.how == GG_EXIT_DTOR)                          \
			sbuf_addstr((c)->sb, "exit (destructor)");                \
		else                                                              \
			sbuf_addf((c)->sb, "%s(%d)",                              \
				  trace_exit_how_name((c)->ev->u.exit.how),       \
				  (c)->ev->u.exit.status);                        \
	} while (0)
#define TXH_END_H_EXIT(c) ((void)0)

static void text_event(struct sbuf *sb, const struct trace_event *ev, uint64_t t0)
{
	uint64_t dt = ev->t >= t0 ? ev->t - t0 : 0;
	struct txc c = { .sb = sb, .ev = ev, .nargs = 0 };

	sbuf_addf(sb, "    +%" PRIu64 ".%06" PRIu64 " ", dt / 1000000000, (dt / 1000) % 1000000);
	switch (ev->type) {
#define TEXT_REC_(TYPE, number, name, head)                                       \
	case GG_REC_##TYPE:                                                       \
		TXH_BEGIN_##head(&c);                                             \
		GG_FIELDS_##TYPE(TXA_FIELD_)                                      \
		TXH_END_##head(&c);                                               \
		GG_FIELDS_##TYPE(TXS_FIELD_)                                      \
		break;
	GG_REC_SCHEMA(TEXT_REC_)
#undef TEXT_REC_
	default:
		sbuf_addf(sb, "%s record (%s)", trace_rec_name(ev->type), trace_fn_name(ev->fn));
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
	if (im->cut_short)
		sbuf_addstr(sb, " (cut short: its last records may be missing)");
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
	size_t nstdin = 0, ntty = 0, nnet = 0, ncut = 0;
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
		ncut += im->cut_short;
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
	if (ncut)
		sbuf_addf(sb, "images cut short (killed holding records; their commands run locally): %zu\n",
			  ncut);
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
