/*
 * trace_schema.h - the one schema of trace records (trace_format.h says what they
 * mean): every record type and its fields, in wire order, as X-macro tables.  The
 * encoder (shim/trace_enc.h: struct gg_rec_<name>, tenc_rec_<name>), the decoder
 * (runtime/trace_read.c), the JSON and text dumpers (runtime/trace_dump.c) and the
 * test forger (tests/unit/trace_forge.h) are generated from it, the way GG_FN_LIST
 * gives the entry points.  Adding a field at the end of a record is one line here
 * (mark it OPT: older logs lack it) plus where it lands in struct trace_event.
 *
 * GG_REC_SCHEMA(R) lists the records after PROC as
 *
 *     R(TYPE, number, name, text_head)
 *
 *   TYPE       GG_REC_<TYPE>; its fields are GG_FIELDS_<TYPE>(F)
 *   number     the record type on the wire (never reused)
 *   name       lower case: trace_rec_name(), the "op" of `gg trace dump --json`,
 *              and the <name> of struct gg_rec_<name> / tenc_rec_<name>
 *   text_head  how the text dump starts the line (runtime/trace_dump.c):
 *              H_CALL "fn(" args ")" suffixes; H_STDIN "fn(stdin)" suffixes;
 *              H_OBJECTS "objects" suffixes; H_EXIT "how(status)" or
 *              "exit (destructor)"
 *
 * PROC (number 1, fields GG_FIELDS_PROC) opens every log and is decoded into the
 * image, not into an event, so it is not in GG_REC_SCHEMA.
 *
 * A field list has one F(kind, name, presence, member, json, text) per field:
 *
 *   kind      the value and how each side handles it:
 *             FN    enum gg_fn: uint; dumped as the C name ("fn#N" if unknown)
 *             I     integer: int on the wire (the smallest msgpack form: a value
 *                   >= 0 is the same bytes as an uint), read leniently (also a
 *                   negative int or a bool)
 *             U     unsigned integer, read strictly (a negative int is malformed)
 *             B     bool
 *             S     string (str; readers also take bin and nil)
 *             V     string vector given whole to the encoder, cut to a byte budget
 *                   with a final "..." (struct tenc_vec)
 *             L     string list written by the caller in one pass (struct
 *                   tenc_fill): a directory listing, the loaded objects
 *             ACT   posix_spawn file actions, each an array of
 *                   GG_FIELDS_SPAWN_ACTION (struct tenc_fill)
 *             HOW   enum gg_exit_how (U), dumped by name
 *             OP    enum gg_spawn_op (U), dumped by name
 *             STDIO PROC's file types of fds 0..2: an array of 3 I
 *   name      the field's name: a C member of struct gg_rec_<name>
 *   presence  REQ: a record without it is malformed; OPT: added later, read as 0
 *             when absent (an OPT field is only ever followed by OPT fields)
 *   member    where the reader puts it: a member of struct trace_event (of struct
 *             trace_image for PROC, of struct trace_action for actions).  For ACT
 *             the struct holding `actions` and `nactions`.
 *   json      its key in `gg trace dump --json`
 *   text      its part of the text dump line (runtime/trace_dump.c): A_* inside the
 *             parentheses, in field order, comma separated; S_* after them, in
 *             field order; X nowhere
 */
#ifndef GG_TRACE_SCHEMA_H
#define GG_TRACE_SCHEMA_H

#define GG_REC_PROC_NUMBER 1

#define GG_FIELDS_PROC(F)                                                  \
	F(I, pid, REQ, pid, "pid", X)                                      \
	F(I, ppid, REQ, ppid, "ppid", X)                                   \
	F(U, origin, REQ, origin_recorded, "origin", X)                    \
	F(U, start_ns, REQ, start_ns, "start_ns", X)                       \
	F(S, exe, REQ, exe, "exe", X)                                      \
	F(S, execfn, REQ, execfn, "execfn", X)                             \
	F(V, argv, REQ, argv, "argv", X)                                   \
	F(V, env, REQ, env, "env", X)                                      \
	F(S, cwd, REQ, cwd, "cwd", X)                                      \
	F(U, umask, REQ, umask, "umask", X)                                \
	F(U, uid, REQ, uid, "uid", X)                                      \
	F(U, gid, REQ, gid, "gid", X)                                      \
	F(S, parent_log, REQ, parent_log, "parent_log", X)                 \
	F(STDIO, stdio, REQ, stdio, "stdio", X)                            \
	F(B, batched, OPT, batched, "batched", X)

#define GG_REC_SCHEMA(R)                                                   \
	R(OBJS, 2, objs, H_OBJECTS)                                        \
	R(OPEN, 3, open, H_CALL)                                           \
	R(STAT, 4, stat, H_CALL)                                           \
	R(LIST, 5, list, H_CALL)                                           \
	R(NS, 6, ns, H_CALL)                                               \
	R(CHDIR, 7, chdir, H_CALL)                                         \
	R(FD, 8, fd, H_CALL)                                               \
	R(EXEC, 9, exec, H_CALL)                                           \
	R(EXECFAIL, 10, execfail, H_CALL)                                  \
	R(SPAWN, 11, spawn, H_CALL)                                        \
	R(WAIT, 12, wait, H_CALL)                                          \
	R(EXIT, 13, exit, H_EXIT)                                          \
	R(STDIN, 14, stdin, H_STDIN)                                       \
	R(NET, 15, net, H_CALL)

#define GG_FIELDS_OBJS(F)                                                  \
	F(S, interp, REQ, u.objs.interp, "interp", S_LABEL_STR_NE)         \
	F(L, objects, REQ, u.objs.objects, "objects", S_STRV)

#define GG_FIELDS_OPEN(F)                                                  \
	F(FN, fn, REQ, fn, "fn", X)                                        \
	F(S, path, REQ, path, "path", A_STR)                               \
	F(I, flags, REQ, u.open.flags, "flags", A_OFLAGS)                  \
	F(I, mode, REQ, u.open.mode, "mode", A_OMODE)                      \
	F(I, ret, REQ, ret, "ret", S_RET)                                  \
	F(I, err, REQ, err, "errno", S_ERR)

#define GG_FIELDS_STAT(F)                                                  \
	F(FN, fn, REQ, fn, "fn", X)                                        \
	F(S, path, REQ, path, "path", A_STR)                               \
	F(I, flags, REQ, u.stat.flags, "flags", A_HEX_NZ)                  \
	F(I, ret, REQ, ret, "ret", S_RET)                                  \
	F(I, err, REQ, err, "errno", S_ERR)                                \
	F(I, ftype, REQ, u.stat.ftype, "ftype", S_FTYPE)                   \
	F(S, target, REQ, u.stat.target, "target", S_TARGET)

#define GG_FIELDS_LIST(F)                                                  \
	F(FN, fn, REQ, fn, "fn", X)                                        \
	F(S, path, REQ, path, "path", A_STR)                               \
	F(I, ret, REQ, ret, "ret", S_RET)                                  \
	F(I, err, REQ, err, "errno", S_ERR)                                \
	F(L, names, REQ, u.list.names, "names", S_COUNT)                   \
	F(B, truncated, OPT, u.list.truncated, "truncated", S_FLAG)

#define GG_FIELDS_NS(F)                                                    \
	F(FN, fn, REQ, fn, "fn", X)                                        \
	F(S, path, REQ, path, "path", A_STR)                               \
	F(S, path2, REQ, u.ns.path2, "path2", A_STR_NE)                    \
	F(I, arg, REQ, u.ns.arg, "arg", A_OCT_NZ)                          \
	F(I, ret, REQ, ret, "ret", S_RET)                                  \
	F(I, err, REQ, err, "errno", S_ERR)

#define GG_FIELDS_CHDIR(F)                                                 \
	F(FN, fn, REQ, fn, "fn", X)                                        \
	F(S, path, REQ, path, "path", A_STR)                               \
	F(I, ret, REQ, ret, "ret", S_RET)                                  \
	F(I, err, REQ, err, "errno", S_ERR)

#define GG_FIELDS_FD(F)                                                    \
	F(FN, fn, REQ, fn, "fn", X)                                        \
	F(I, fd, REQ, u.fd.fd, "fd", A_INT)                                \
	F(I, fd2, REQ, u.fd.fd2, "fd2", A_INT_SET)                         \
	F(I, ret, REQ, ret, "ret", S_RET)                                  \
	F(I, err, REQ, err, "errno", S_ERR)

#define GG_FIELDS_EXEC(F)                                                  \
	F(FN, fn, REQ, fn, "fn", X)                                        \
	F(S, path, REQ, path, "path", A_STR)                               \
	F(V, argv, REQ, u.exec.argv, "argv", A_STRV)                       \
	F(V, env, REQ, u.exec.env, "env", A_COUNT)                         \
	F(B, opaque, REQ, u.exec.opaque, "opaque", S_FLAG)

#define GG_FIELDS_EXECFAIL(F)                                              \
	F(FN, fn, REQ, fn, "fn", X)                                        \
	F(S, path, REQ, path, "path", A_STR)                               \
	F(I, err, REQ, err, "errno", S_FAILED)

#define GG_FIELDS_SPAWN(F)                                                 \
	F(FN, fn, REQ, fn, "fn", X)                                        \
	F(S, path, REQ, path, "path", A_STR)                               \
	F(V, argv, REQ, u.spawn.argv, "argv", A_STRV)                      \
	F(V, env, REQ, u.spawn.env, "env", A_COUNT)                        \
	F(I, ret, REQ, ret, "ret", S_RET)                                  \
	F(I, err, REQ, err, "errno", S_ERR)                                \
	F(ACT, actions, REQ, u.spawn, "actions", A_ACTIONS)                \
	F(B, opaque, REQ, u.spawn.opaque, "opaque", S_FLAG)

#define GG_FIELDS_SPAWN_ACTION(F)                                          \
	F(OP, op, REQ, op, "op", X)                                        \
	F(I, fd, REQ, fd, "fd", X)                                         \
	F(I, fd2, REQ, fd2, "fd2", X)                                      \
	F(S, path, REQ, path, "path", X)                                   \
	F(I, flags, REQ, flags, "flags", X)                                \
	F(I, mode, REQ, mode, "mode", X)

#define GG_FIELDS_WAIT(F)                                                  \
	F(FN, fn, REQ, fn, "fn", X)                                        \
	F(I, pid, REQ, u.wait.pid, "pid", A_INT)                           \
	F(I, status, REQ, u.wait.status, "status", S_WAIT)

#define GG_FIELDS_EXIT(F)                                                  \
	F(HOW, how, REQ, u.exit.how, "how", X)                             \
	F(I, status, REQ, u.exit.status, "status", X)

#define GG_FIELDS_STDIN(F)                                                 \
	F(FN, fn, REQ, fn, "fn", X)                                        \
	F(I, ftype, REQ, u.stdin_.ftype, "ftype", S_FTYPE)                 \
	F(B, tty, REQ, u.stdin_.tty, "tty", S_FLAG)

#define GG_FIELDS_NET(F)                                                   \
	F(FN, fn, REQ, fn, "fn", X)                                        \
	F(I, domain, REQ, u.net.domain, "domain", A_KEYED)                 \
	F(I, type, REQ, u.net.type, "type", A_KEYED)                       \
	F(I, ret, REQ, ret, "ret", S_RET)                                  \
	F(I, err, REQ, err, "errno", S_ERR)

/* Helpers for generators: the number of fields, and of REQ fields, of a list. */
#define GG_SCHEMA_ONE_(kind, name, presence, member, json, text) +1
#define GG_SCHEMA_REQ_REQ 1
#define GG_SCHEMA_REQ_OPT 0
#define GG_SCHEMA_REQ_(kind, name, presence, member, json, text) +GG_SCHEMA_REQ_##presence
#define GG_SCHEMA_NFIELDS(FIELDS) (0 FIELDS(GG_SCHEMA_ONE_))
#define GG_SCHEMA_NREQ(FIELDS) (0 FIELDS(GG_SCHEMA_REQ_))

#endif
