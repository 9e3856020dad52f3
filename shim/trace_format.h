/*
 * trace_format.h - the on-disk layout of a gg trace, shared by the shim (writer)
 * and the trace reader (runtime/trace_read.c).  This header is the documentation.
 *
 * A recording is a directory (the "trace directory", usually .gg/trace/) holding
 * append-only files ending in ".ggt".  Files starting with '.' and files not ending
 * in ".ggt" are not trace files.  Two layouts exist, in three versions; the version
 * in the file header tells them apart and a reader reads all three:
 *
 *   version 3, segment with batches (what the shim writes): version 2's layout,
 *       where an image whose PROC says batched may write its records late, many
 *       at a time (see "Batches" below);
 *   version 2, segment: one file per recording, shared by
 *       every process image of the recording, named
 *
 *           seg-<root>.ggt         root = the log id of the top recorded image
 *
 *       (the first image under the shim, GG_SHIM_ROOT).  Each image appends whole
 *       framed records tagged with its identity; no image creates a file.
 *   version 1, per-process log (older shims; tests forge them): one file per image,
 *       named <log id>.ggt, holding that image's records only.
 *
 * A process image is identified by its "log id"
 *
 *     <pid>-<start>          start = CLOCK_REALTIME in ns, 16 lower-case hex digits
 *
 * (a process that forks makes a new image in the child, a process that execs a new
 * image for the new program; PROC's parent_log names another image's log id).
 *
 * File header (both layouts; all integers little endian):
 *
 *     offset 0   magic     8 bytes  "GGTRACE\n"
 *     offset 8   version   u32      GG_TRACE_VERSION_LOG (1), GG_TRACE_VERSION_SEG (2)
 *                                   or GG_TRACE_VERSION_BATCH (3)
 *     offset 12  reserved  u32      0
 *     offset 16  records...
 *
 * Version 1 record (GG_TRACE_RECHDR_LEN = 8 bytes of header):
 *
 *     u32 len      length of payload in bytes, 1..GG_TRACE_MAX_RECORD
 *     u32 check    XXH32(payload, len, seed 0)
 *     payload      exactly one msgpack array [type, t, ...fields] (see below)
 *
 * Version 2 record (GG_TRACE_SEG_RECHDR_LEN = 28 bytes of header):
 *
 *     offset 0   u32 sync     GG_TRACE_SEG_SYNC, bytes 0xf7 'g' 'g' 0x1e
 *     offset 4   u32 len      length of payload in bytes, 1..GG_TRACE_MAX_RECORD
 *     offset 8   u32 pid      the image's pid  } the image's log id,
 *     offset 12  u64 start    the image's start } "<pid>-<start as 16 hex>"
 *     offset 20  u32 hcheck   XXH32(bytes 0..20 of this header, seed 0)
 *     offset 24  u32 check    XXH32(payload, len, seed 0)
 *     offset 28  payload      as in version 1
 *
 * The records of one image are its events in the order it wrote them, its PROC
 * record first; the records of different images interleave in any way.
 *
 * Batches (version 3).  An image whose PROC has batched = true writes its later
 * records in batches: several whole framed records with one write, when its
 * buffer is full, before it execs or forks, once it has a second thread, and with
 * its EXIT record.  Its records still come in the order it made them, and each
 * carries the time of its event, but they may land in the file after records that
 * other images made later: order events across images by their time, not by their
 * place in the file.  A batched image killed before it wrote its batch loses the
 * records in it, so one that ended neither by exec nor with its own EXIT record
 * may have lost its last records (the reader's "cut short").  The PROC itself is
 * always written at once.
 *
 * Atomicity.  A record is emitted with one write(2) (or writev(2)) on an O_APPEND
 * descriptor.  On local Linux file systems (ext4, xfs, btrfs, tmpfs) a write to a
 * regular file holds the inode lock for the whole call, so records of concurrent
 * processes and threads never interleave, whatever their size; a record is at most
 * GG_TRACE_MAX_RECORD bytes.  (NFS gives no such guarantee: record to a local disk.)
 * A write can still end short: a full disk, or a process killed in the middle of a
 * large write.  The shim never completes a short write (the rest would land after
 * another process's records); it stops recording with a warning instead.
 *
 * Torn records.  Version 1: a record whose header or payload is cut short, or whose
 * checksum does not match, ends the log: the reader keeps everything before it and
 * reports "<file>: torn record at offset N, skipped K bytes".  Version 2: a record
 * whose sync, hcheck, length or check is wrong, or that the file ends inside, is
 * torn; the reader skips to the next offset where a record with a good sync and
 * hcheck whose payload fits and matches its check starts (a torn write in the
 * middle of the file is followed by other processes' good records), and reports
 * "<file>: torn record at offset N, skipped K bytes" for each skipped range.  A
 * reader meeting a version newer than its own refuses the file with a message; an
 * older version is read as documented by that version.
 *
 * Payload: a msgpack array whose first element is the record type (positive fixint)
 * and second the time the event was recorded, CLOCK_MONOTONIC in ns (u64), which
 * orders events across the processes of one machine.  Strings are msgpack str holding
 * the raw bytes (not necessarily UTF-8; readers must also accept bin).  Paths are
 * absolute: the shim resolves relative paths against its cwd or the dirfd, without
 * touching ".." (readers normalise lexically).  A reader must ignore fields past the
 * ones it knows and records of unknown type: adding either does not bump the version.
 *
 * "ret" and "err" are what the real call returned and the errno it left (err is 0 on
 * success).  "fn" is a enum gg_fn value naming the entry point that was called.
 *
 * The records, with their fields in wire order.  trace_schema.h holds the same list
 * as the table every encoder, decoder and dumper is generated from; what each field
 * means is said here.
 *
 *  type  name    fields after [type, t]
 *  ----  ------  ------------------------------------------------------------------
 *   1    PROC    pid, ppid, origin, start_ns, exe, execfn, argv[], env[], cwd,
 *                umask, uid, gid, parent_log, stdio[3], batched
 *                First record of every image.  origin: enum gg_origin.  start_ns is
 *                the CLOCK_REALTIME in the log id.  exe is /proc/self/exe, execfn the
 *                path given to exec (AT_EXECFN).  For ORIGIN_FORK argv[] and env[]
 *                are empty (same image as the parent) and parent_log is the
 *                parent's log id; otherwise parent_log is "".  stdio: for fds 0..2,
 *                the file type (S_IFMT >> 12) or -1 if closed.  batched (version
 *                3, optional): the image writes its later records in batches
 *                (see "Batches" above).
 *   2    OBJS    interp, objects[]
 *                Shared objects mapped by the dynamic loader: at start-up (interp =
 *                the ELF interpreter, objects = every object but the main program)
 *                and after each successful dlopen/dlmopen (interp = "", objects =
 *                those not reported before).
 *   3    OPEN    fn, path, flags, mode, ret, err
 *                open, openat, creat, fopen, freopen, __open_2, ...: flags are open(2)
 *                flags (fopen's mode string is translated), ret is the fd (or -1).
 *                O_TMPFILE: path is the directory.  mkstemp family: path is the
 *                name created, flags O_RDWR|O_CREAT|O_EXCL.
 *   4    STAT    fn, path, flags, ret, err, ftype, target
 *                Existence checks: stat, lstat, fstatat, statx, the __xstat family, access,
 *                faccessat, readlink, readlinkat, realpath.  flags: AT_* flags, or access(2)'s
 *                mode.  ftype: S_IFMT >> 12 of what was found (0 if unknown or not
 *                found).  target: readlink's contents or realpath's result, else "".
 *                Identical (fn, path, flags, ret) checks are recorded once per image.
 *   5    LIST    fn, path, ret, err, names[], truncated
 *                opendir, fdopendir, scandir: the directory and its entry names (minus
 *                "." and ".."), read when it was opened, in directory order.
 *                Recorded once per (image, path).  The shim reads the directory
 *                and encodes the names in one pass (the array header is written
 *                last), so a directory that changes meanwhile gives the names
 *                getdents returned: each existed during the listing.  truncated
 *                (bool) is true when names[] is not the whole directory: the
 *                record was full (see Limits), or the directory could not be read
 *                again or whole although the call succeeded.  Records written
 *                before the field existed have 5 fields: read as false.
 *   6    NS      fn, path, path2, arg, ret, err
 *                rename, link, symlink, unlink (and their *at forms), remove, mkdir,
 *                mkdirat, rmdir, truncate, chmod, fchmodat.
 *                path2: the destination of rename/link, the (unresolved) target of
 *                symlink, else "".  arg: flags or mode or length, else 0.
 *   7    CHDIR   fn, path, ret, err
 *                chdir/fchdir: the new cwd, or on failure the path that was tried
 *   8    FD      fn, fd, fd2, ret, err
 *                dup (fd2 -1), dup2, dup3, fcntl F_DUPFD* (fd2 = the minimum),
 *                close (fd2 -1) and close_range (fd..fd2) of descriptors opened for
 *                writing, fdopen (fd2 = open(2) flags of the mode).
 *   9    EXEC    fn, path, argv[], env[], opaque
 *                Written before an exec-family call (which does not return on
 *                success): path is what is executed (for execvp, each candidate of
 *                the PATH search is one record), opaque is true when path is a
 *                static ELF executable (no PT_INTERP), or set-user-ID/set-group-ID
 *                to other ids (the loader ignores LD_PRELOAD): no shim sees into it.
 *                env[] is the environment passed, for opaque images only (a
 *                dynamic image records its own environment in its PROC); else [].
 *  10    EXECFAIL fn, path, err                        the exec above failed
 *  11    SPAWN   fn, path, argv[], env[], ret, err, actions[], opaque
 *                posix_spawn, posix_spawnp, system, popen, written after the call: ret is the
 *                child pid (0 when unknown: system, popen), actions the posix_spawn file
 *                actions in order, each [op, fd, fd2, path, flags, mode] with op one
 *                of enum gg_spawn_op.  system/popen: path "/bin/sh", argv
 *                ["sh","-c",cmd], env [] meaning "this process's environment".
 *  12    WAIT    fn, pid, status                       a child reaped: raw wait status
 *  13    EXIT    how, status
 *                how: enum gg_exit_how.  GG_EXIT_DTOR is the library destructor at
 *                normal termination; status is then -1 (unknown; a return from main
 *                does not pass through an interposable exit).  A process killed by a
 *                signal writes nothing: its parent's WAIT record says so.
 *  14    STDIN   fn, ftype, tty
 *                The image read its standard input (read/readv/pread on fd 0, or a
 *                stdio read on a FILE whose descriptor is 0): the first time only.
 *                ftype: S_IFMT >> 12 of fd 0 then; tty: isatty(0).
 *  15    NET     fn, domain, type, ret, err
 *                socket(2) for a domain other than AF_UNIX (AF_INET, AF_INET6,
 *                AF_NETLINK, AF_PACKET, ...): the first time per domain.
 *
 * Limits: a record is at most GG_TRACE_MAX_RECORD bytes; the shim truncates argv/env
 * lists that would exceed it and marks the record by appending a final element "..."
 * to the truncated list; LIST drops the names that do not fit and sets its
 * truncated field (a file may be named "...", so no marker inside names[]).  Paths
 * longer than PATH_MAX are recorded as-is up to PATH_MAX*2 bytes.
 *
 * Every payload is exactly one msgpack array: a reader skips (with a warning) a
 * record whose array ends before the payload does, or that ends before its array.
 */
#ifndef GG_TRACE_FORMAT_H
#define GG_TRACE_FORMAT_H

#include "shim/trace_schema.h"

#define GG_TRACE_MAGIC "GGTRACE\n"
#define GG_TRACE_MAGIC_LEN 8
#define GG_TRACE_VERSION_LOG 1u /* one file per image */
#define GG_TRACE_VERSION_SEG 2u /* one segment per recording */
#define GG_TRACE_VERSION_BATCH 3u /* a segment whose images may write in batches */
#define GG_TRACE_VERSION GG_TRACE_VERSION_BATCH /* the newest: what the shim writes */
#define GG_TRACE_HEADER_LEN 16
#define GG_TRACE_RECHDR_LEN 8
#define GG_TRACE_SEG_RECHDR_LEN 28
#define GG_TRACE_SEG_SYNC 0x1e6767f7u /* bytes f7 67 67 1e */
#define GG_TRACE_MAX_RECORD (16u << 20)
#define GG_TRACE_SUFFIX ".ggt"
#define GG_TRACE_SEG_PREFIX "seg-"

/* Environment variables the shim reads and keeps alive across exec. */
#define GG_ENV_TRACE_DIR "GG_TRACE_DIR" /* absolute trace directory (set by the root) */
#define GG_ENV_DIR "GG_DIR"             /* the .gg directory, like GIT_DIR */
#define GG_ENV_SHIM_OFF "GG_SHIM_OFF"   /* "1": recording failed upstream, stay quiet */
#define GG_ENV_SHIM_BATCH "GG_SHIM_BATCH" /* "1": exec'd images write in batches */
#define GG_ENV_SHIM_LIB "GG_SHIM_LIB"   /* absolute path of libggshim.so */
#define GG_ENV_SHIM_ROOT "GG_SHIM_ROOT" /* log id of the top recorded image (its pid
                                         * first): it alone warns about trace
                                         * failures; names the segment */

/* Record types: numbers and fields come from trace_schema.h (in number order). */
#define GG_REC_ENUM_(TYPE, number, name, head) GG_REC_##TYPE = number,
enum gg_rec { GG_REC_PROC = GG_REC_PROC_NUMBER, GG_REC_SCHEMA(GG_REC_ENUM_) GG_REC__MAX };
#undef GG_REC_ENUM_

enum gg_origin {
	GG_ORIGIN_ROOT = 0, /* no recorded ancestor passed the shim on */
	GG_ORIGIN_FORK = 1, /* child of a recorded image, same program, before any exec */
	GG_ORIGIN_EXEC = 2, /* a new image started by exec or spawn under the shim */
};

enum gg_exit_how {
	GG_EXIT_EXIT = 0,  /* exit() */
	GG_EXIT__EXIT = 1, /* _exit() or _Exit() */
	GG_EXIT_DTOR = 2,  /* library destructor: normal termination, status unknown */
};

enum gg_spawn_op {
	GG_SPAWN_OPEN = 1,   /* fd = open(path, flags, mode) */
	GG_SPAWN_CLOSE = 2,  /* close(fd) */
	GG_SPAWN_DUP2 = 3,   /* dup2(fd, fd2) */
	GG_SPAWN_CHDIR = 4,  /* chdir(path) */
	GG_SPAWN_FCHDIR = 5, /* fchdir(fd) */
};

/*
 * Entry points, as recorded in the "fn" field.  The order is part of the format:
 * append only.  Stringify GG_FN_LIST (#name) for the C names.
 */
#define GG_FN_LIST(X)                                                             \
	X(execve) X(execv) X(execvp) X(execvpe) X(execl) X(execlp) X(execle)      \
	X(fexecve) X(execveat) X(posix_spawn) X(posix_spawnp) X(system) X(popen)  \
	X(open) X(open64) X(openat) X(openat64) X(creat) X(creat64) X(fopen)      \
	X(fopen64) X(freopen) X(freopen64) X(fdopen) X(__open_2) X(__open64_2)    \
	X(__openat_2) X(__openat64_2) X(mkstemp) X(mkstemp64) X(mkostemp)         \
	X(mkostemp64) X(mkstemps) X(mkstemps64) X(mkostemps) X(mkostemps64)       \
	X(tmpfile) X(tmpfile64) X(stat) X(stat64) X(lstat) X(lstat64) X(fstatat)  \
	X(fstatat64) X(statx) X(__xstat) X(__xstat64) X(__lxstat) X(__lxstat64)   \
	X(__fxstatat) X(__fxstatat64) X(access) X(faccessat) X(readlink)          \
	X(readlinkat) X(realpath) X(opendir) X(fdopendir) X(scandir) X(scandir64) \
	X(rename) X(renameat) X(renameat2) X(link) X(linkat) X(symlink)           \
	X(symlinkat) X(unlink) X(unlinkat) X(remove) X(mkdir) X(mkdirat) X(rmdir) \
	X(truncate) X(truncate64) X(chdir) X(fchdir) X(chmod) X(dup) X(dup2)      \
	X(dup3) X(fcntl) X(fcntl64) X(close) X(close_range) X(dlopen) X(dlmopen)  \
	X(wait) X(waitpid) X(wait3) X(wait4) X(waitid) X(exit) X(_exit) X(_Exit)  \
	X(vfork) X(fork) X(__realpath_chk) X(eaccess) X(euidaccess) X(fchmodat)   \
	X(scandirat) X(canonicalize_file_name) X(pclose) X(statvfs)   \
	X(closefrom) X(read) X(readv) X(pread) X(pread64) X(fread) X(fgets)       \
	X(getline) X(getdelim) X(fgetc) X(getc) X(getchar) X(__uflow)             \
	X(__underflow) X(fscanf) X(scanf) X(vfscanf) X(__isoc99_fscanf)           \
	X(__isoc99_scanf) X(__isoc99_vfscanf) X(fgetc_unlocked) X(getc_unlocked)  \
	X(getchar_unlocked) X(fread_unlocked) X(fgets_unlocked) X(socket)       \
	X(__read_chk) X(__pread_chk) X(__pread64_chk) X(__fread_chk)              \
	X(__fread_unlocked_chk) X(__fgets_chk) X(__fgets_unlocked_chk)

#define GG_FN_ENUM_(name) GG_FN_##name,
enum gg_fn { GG_FN_LIST(GG_FN_ENUM_) GG_FN__MAX };
#undef GG_FN_ENUM_

#endif
