/*
 * trace_dump.h - render a read trace (trace_read.h) for people and tools: the JSON
 * lines of `gg trace dump --json`, its text form, and `gg trace summary`.
 *
 * Everything renders into a caller-owned buffer (struct json / struct sbuf, with
 * their caps); nothing is printed here.  Functions return 0 or the buffer's sticky
 * -errno (-ENOMEM, -E2BIG past the cap).
 *
 * The JSON object of one image follows the schema of `gg trace dump --json`:
 *
 *   {"log","pid","ppid","origin","parent","exe","execfn","argv","env","cwd","umask",
 *    "uid","gid","stdio","interp","objects","exit","events","warnings"}
 *
 * with events in log order as {"op":<record name>,"t":...,<fields>}: the record's
 * fields in wire order under their keys in shim/trace_schema.h (which generates the
 * JSON and text forms of events), "fn" as the entry point's C name, "errno"
 * numeric.  Besides the ops of the brief's schema:
 *
 *   {"op":"stdin","t":T,"fn":"read","ftype":N,"tty":false}
 *   {"op":"net","t":T,"fn":"socket","domain":N,"type":N,"ret":R,"errno":E}
 *
 * A record type this reader cannot decode does not reach the dump.
 */
#ifndef GG_TRACE_DUMP_H
#define GG_TRACE_DUMP_H

#include "runtime/lib/json.h"
#include "runtime/trace/trace_read.h"
#include "runtime/lib/util.h"

/* One image as one JSON object (no newline).  j must be empty (json_reset). */
int trace_dump_json(struct json *j, const struct trace_image *im);

/*
 * One image as text: a header line (pid, exe, argv, cwd, exit, how it started)
 * then one indented line per event, times relative to the image's start.
 */
int trace_dump_text(struct sbuf *sb, const struct trace_image *im);

/*
 * The summary of a whole trace: processes, programs run (by base name, with
 * counts), files read / written / removed / probed missing (distinct paths), failed
 * execs, stdin readers and network sockets, and the warnings given (may be NULL).  `dir` names the trace in the first
 * line (may be NULL).
 */
int trace_dump_summary(struct sbuf *sb, const struct trace *t, const char *dir,
		       const struct strlist *warnings);

#endif
