#!/usr/bin/env bash
# Proves that the shim records hostile programs without changing them: 32 threads
# opening at once, fork without exec (also while other threads record), cleared
# environments, another preloaded library, a static executable, SIGKILL, errno,
# programs closing every descriptor, huge argv and listings, an unwritable trace.
#
# Each check runs a program of tests/progs/robust.c (or entry.c) plainly and under
# the shim, in a fresh directory at the same path, compares stdout and exit status,
# and asks `gg trace dump --json` (through trace_query.py) for what must be there.
set -uo pipefail
. tests/e2e/lib.sh
e2e_init

ROBUST=$BUILD_DIR/tests/progs/robust
ENTRY=$BUILD_DIR/tests/progs/entry
QUERY="$TOP/tests/e2e/trace_query.py"
PY=$(python3 -c 'import sys; print(sys.executable)') # not a version manager's shim
W=$T/w
TRACE=$T/trace
TMO=120
DIAG=$T/diag

for p in "$ROBUST" "$ENTRY"; do
	if [[ ! -x "$p" ]]; then
		tap_not_ok "test program $p is built"
		tap_finish
	fi
done

# run NAME MODE CMD...: run CMD in a fresh $W; MODE plain (no trace), record
# (under `gg record --trace-dir $TRACE`) or bare (the caller set LD_PRELOAD).
# Results: $T/NAME.MODE.{out,err,rc}; after record and bare, $T/NAME.dump.
run() {
	local n=$1 mode=$2 rc=0
	shift 2
	rm -rf "$W" "$TRACE"
	mkdir -p "$W" "$TRACE"
	if [[ $mode == record ]]; then
		set -- "$GG" record --trace-dir "$TRACE" -- "$@"
	fi
	(cd "$W" && timeout -k 5 "$TMO" "$@"; exit $?) </dev/null >"$T/$n.$mode.out" 2>"$T/$n.$mode.err" || rc=$?
	echo "$rc" >"$T/$n.$mode.rc"
	# (the subshell waits for the command, so a death by signal is reported there)
	if [[ $mode != plain ]]; then
		rc=0
		"$GG" trace dump --json --trace-dir "$TRACE" >"$T/$n.dump" 2>"$T/$n.dump.err" || rc=$?
		if ((rc != 0)) || [[ -s "$T/$n.dump.err" ]]; then
			echo "gg trace dump --json: exit $rc" >>"$DIAG"
			tap_diag "$T/$n.dump.err" 10 >>"$DIAG"
		fi
		if ! "$PY" "$QUERY" "$T/$n.dump" warnings >"$T/q.out" 2>&1; then
			echo "the dump has warnings:" >>"$DIAG"
			head -n 10 "$T/q.out" >>"$DIAG"
		fi
	fi
}

# same NAME MODE: MODE's run printed the same stdout and exit status as the plain one.
same() {
	local n=$1 mode=${2:-record}
	local a b
	a=$(cat "$T/$n.plain.rc") b=$(cat "$T/$n.$mode.rc")
	[[ "$a" == "$b" ]] || echo "exit status: plain $a, $mode $b" >>"$DIAG"
	if ! cmp -s "$T/$n.plain.out" "$T/$n.$mode.out"; then
		echo "stdout differs (plain vs $mode):" >>"$DIAG"
		diff -a -u "$T/$n.plain.out" "$T/$n.$mode.out" | sed 1,2d | head -n 20 >>"$DIAG"
	fi
}

# q NAME VERB COND...: a trace_query.py question that must succeed.
q() {
	local n=$1
	shift
	if ! "$PY" "$QUERY" "$T/$n.dump" "$@" >"$T/q.out" 2>&1; then
		echo "expected: $*" >>"$DIAG"
		head -n 14 "$T/q.out" | sed 's/^/  /' >>"$DIAG"
	fi
}

# qeq NAME WANT VERB COND...: a count that must equal WANT.
qeq() {
	local n=$1 want=$2 got
	shift 2
	got=$("$PY" "$QUERY" "$T/$n.dump" "$@" 2>&1)
	[[ "$got" == "$want" ]] || echo "expected $want from: $* ; got: $got" >>"$DIAG"
}

# pid_of NAME MODE KEY: the pid a program printed on stderr as KEY=pid.
pid_of() {
	sed -n "s/^$3=//p" "$T/$1.$2.err" | head -n 1
}

# fork_pids NAME: P and C, the parent's and the child's pids the program printed
# (`robust NAME`), and plog, the parent's log; 1 and a diagnostic if it printed none.
fork_pids() {
	P=$(pid_of "$1" record parent-pid) C=$(pid_of "$1" record child-pid)
	if [[ -z "$P" || -z "$C" ]]; then
		echo "the program did not print its pids" >>"$DIAG"
		return 1
	fi
	plog=$("$PY" "$QUERY" "$T/$1.dump" get log pid="$P" argv.1="$1")
}

# check WHAT: one TAP line, from the diagnostics gathered since the last check.
check() {
	if [[ -s "$DIAG" ]]; then
		tap_not_ok "$1"
		tap_diag "$DIAG" 40
	else
		tap_ok "$1"
	fi
	: >"$DIAG"
}

: >"$DIAG"
set -f # conditions hold *, ?, [ ]

# --- 32 threads opening files at once -------------------------------------------------
run threads plain "$ROBUST" threads 32 100
run threads record "$ROBUST" threads 32 100
same threads
qeq threads 3200 count op=open fn=open "path~=^$W/th-[0-9]{2}-[0-9]{3}\.txt\$" ret\>=3 errno=0 flags=524865
qeq threads 3200 count op=open "path^=$W/th-"
qeq threads 3200 count op=fd fn=close ret=0
n=$("$PY" "$QUERY" "$T/threads.dump" getev path op=open "path^=$W/th-" 2>/dev/null | sort -u | wc -l)
[[ $n == 3200 ]] || echo "distinct paths opened: $n, expected 3200" >>"$DIAG"
qeq threads 1 countproc
check "32 threads x 100 opens: every open recorded once, no torn record, no warning"

# --- fork without exec ----------------------------------------------------------------------
run fork-open plain "$ROBUST" fork-open
run fork-open record "$ROBUST" fork-open
same fork-open
if fork_pids fork-open; then
	q fork-open hasproc pid="$C" ppid="$P" origin=fork parent="$plog" exit.status=0
	q fork-open has proc.pid="$C" proc.origin=fork op=open fn=open path="$W/child-file.txt" ret=3
	q fork-open hasnot proc.pid="$P" op=open path="$W/child-file.txt"
	q fork-open has proc.pid="$P" op=open fn=open path="$W/parent-file.txt" ret=3
	q fork-open hasnot proc.pid="$C" op=open path="$W/parent-file.txt"
	q fork-open has proc.pid="$P" op=wait pid="$C" status=0
fi
check "fork without exec: the child's open is in the child's image (origin fork, parent = the parent's log)"

# --- a program's fork handler runs before the shim's ------------------------------------------
# The shim registers its handlers at the first fork, after the program's: a child handler
# of the program's runs first in the child, and what it records is still the child's.
run fork-atfork plain "$ROBUST" fork-atfork
run fork-atfork record "$ROBUST" fork-atfork
same fork-atfork
if fork_pids fork-atfork; then
	q fork-atfork hasproc pid="$C" ppid="$P" origin=fork exit.status=0
	q fork-atfork has proc.pid="$C" proc.origin=fork op=open fn=open path="$W/atfork-child.txt" ret=3
	q fork-atfork hasnot proc.pid="$P" op=open path="$W/atfork-child.txt"
	q fork-atfork has proc.pid="$C" op=open fn=open path="$W/child-file.txt"
	qeq fork-atfork 2 countproc
fi
check "a pthread_atfork child handler of the program's: its open is the child's, not the parent's"

# --- fork while other threads are recording ---------------------------------------------------
run fork-threads plain "$ROBUST" fork-threads 40
run fork-threads record "$ROBUST" fork-threads 40
same fork-threads
qeq fork-threads 40 countproc origin=fork exit.status=0
for i in 0 7 19 39; do
	q fork-threads has proc.origin=fork op=open path="$W/fork-$i.txt" ret\>=3
done
check "fork while 4 threads record: 40 children recorded, no deadlock"

# --- fork while another thread changes directory -----------------------------------------------
# A fork can catch the cwd half copied by another thread: the child must neither wait for
# that thread (which it has not) nor record a torn path.
run fork-chdir plain "$ROBUST" fork-chdir 300
run fork-chdir record "$ROBUST" fork-chdir 300
same fork-chdir
qeq fork-chdir 300 count op=open fn=open proc.origin=fork "path~=^$W(/d{200})*/relative\.txt\$"
qeq fork-chdir 300 count op=open "path\$=relative.txt"
check "fork while a thread changes directory: 300 children, none hangs, every path whole"

# --- cleared environments -----------------------------------------------------------------------
run env-i plain env -i "$ROBUST" mark envi
run env-i record env -i "$ROBUST" mark envi
same env-i
q env-i hasproc origin=exec argv.1=mark argv.2=envi parent^=
q env-i has proc.argv.2=envi op=open path="$W/mark-envi.txt" ret=3
check "env -i then exec of a dynamic program: the child is still recorded"

for how in exec-env0 exec-unsetenv exec-clearenv; do
	run "$how" plain "$ROBUST" "$how" "$ROBUST" mark "$how"
	run "$how" record "$ROBUST" "$how" "$ROBUST" mark "$how"
	same "$how"
	fn=execv
	[[ $how == exec-env0 ]] && fn=execve
	q "$how" has proc.argv.1="$how" op=exec fn="$fn" path="$ROBUST"
	q "$how" hasproc origin=exec argv.1=mark argv.2="$how" parent^=
	q "$how" has proc.argv.2="$how" op=open path="$W/mark-$how.txt" ret=3
	case $how in
	exec-env0) what="execve with an empty environment" ;;
	exec-unsetenv) what='unsetenv("LD_PRELOAD") then exec' ;;
	exec-clearenv) what="clearenv() then exec" ;;
	esac
	check "$what: the child is still recorded"
done

# --- another library in LD_PRELOAD ----------------------------------------------------------------
cat >"$T/extra.c" <<'EOF'
int gg_extra_marker = 42;
EOF
if cc -shared -fPIC -o "$T/libextra.so" "$T/extra.c" >"$T/cc.log" 2>&1; then
	X=$T/libextra.so
	run extra plain env LD_PRELOAD="$X" "$ROBUST" extra-lib exec
	# gg record itself runs with the extra library preloaded and must keep it
	run extra bare env LD_PRELOAD="$X" "$GG" record --trace-dir "$TRACE" -- "$ROBUST" extra-lib exec
	same extra bare
	grep -q "before exec): gg_extra_marker found" "$T/extra.bare.out" &&
		grep -q "^extra-lib: gg_extra_marker found" "$T/extra.bare.out" ||
		echo "the extra library is not loaded in both images:" "$(cat "$T/extra.bare.out")" >>"$DIAG"
	q extra hasproc argv.1=extra-lib argv.2=exec "objects*=$X"
	q extra hasproc origin=exec argv.1=extra-lib argv#=2 "objects*=$X"
	q extra has proc.argv.2=exec op=open path="$W/extra-parent.txt" ret=3
	q extra has proc.origin=exec op=open path="$W/extra-child.txt" ret=4
	check "another library already in LD_PRELOAD (gg record): recorded, and the library still loaded after exec"

	for order in "$X:$SHIM" "$SHIM $X"; do
		run extra-bare plain env LD_PRELOAD="$X" "$ROBUST" extra-lib exec
		run extra-bare bare env LD_PRELOAD="$order" GG_TRACE_DIR="$TRACE" "$ROBUST" extra-lib exec
		same extra-bare bare
		grep -q "^extra-lib: gg_extra_marker found" "$T/extra-bare.bare.out" ||
			echo "the extra library is lost after exec:" "$(cat "$T/extra-bare.bare.out")" >>"$DIAG"
		q extra-bare hasproc origin=exec argv.1=extra-lib "objects*=$X"
		q extra-bare has proc.origin=exec op=open path="$W/extra-child.txt" ret=4
		check "LD_PRELOAD='${order//$T/\$T}' (bare): recorded, both libraries loaded after exec"
	done
else
	echo "cannot build the extra library:" >>"$DIAG"
	tap_diag "$T/cc.log" 10 >>"$DIAG"
	check "another library already in LD_PRELOAD"
fi

# --- a statically linked executable -------------------------------------------------------------
cat >"$T/hello.c" <<'EOF'
#include <stdio.h>
int main(int argc, char **argv)
{
	printf("static hello %s\n", argc > 1 ? argv[1] : "");
	return 42;
}
EOF
STATIC=$T/static-hello
if ! cc -static -O1 -o "$STATIC" "$T/hello.c" >"$T/cc.log" 2>&1; then
	# no libc.a: Debian's ldconfig is a static(-pie) executable
	STATIC=/sbin/ldconfig
fi
if file -L "$STATIC" | grep -q 'statically linked\|static-pie'; then
	run static plain "$ROBUST" exec "$STATIC" --version
	run static record "$ROBUST" exec "$STATIC" --version
	same static
	q static has op=exec fn=execv path="$STATIC" opaque=true env#\>=1 "env*^=PATH="
	q static hasnot op=exec path="$STATIC" opaque=false
	check "a static executable exec'd under the shim runs unchanged; its exec event is opaque"
	if [[ $STATIC == "$T/static-hello" ]]; then
		run static-root plain "$STATIC" root
		run static-root record "$STATIC" root
		: >"$DIAG" # nothing to record: the dump may say there is no log
		same static-root
		check "a static executable as the recorded command runs unchanged"
	fi
else
	echo "no static executable to try: $(file -L "$STATIC")" >>"$DIAG"
	check "a static executable exec'd under the shim"
fi

# --- a set-user-ID executable ------------------------------------------------------------------------
# Its exec is secure: the loader ignores LD_PRELOAD, so no image of it will log, and a
# fork child that execs it (whose EXEC the shim otherwise leaves to the new image) must
# record the exec, opaque.  Needs root (to give the file to another user) and a mount
# that honours set-user-ID.
SUID=$T/suid-robust
if [[ $(id -u) == 0 ]] && cp "$ROBUST" "$SUID" && chown 65534 "$SUID" && chmod 4755 "$SUID" &&
	! findmnt -n -o OPTIONS -T "$SUID" | grep -qw nosuid; then
	cat >"$T/forkexec.c" <<'EOF'
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char **argv)
{
	int st = 0;
	pid_t pid = fork();
	if (pid == 0) {
		execv(argv[1], argv + 1);
		_exit(127);
	}
	waitpid(pid, &st, 0);
	printf("child exited %d\n", WEXITSTATUS(st));
	return 0;
}
EOF
	if cc -O1 -o "$T/forkexec" "$T/forkexec.c" >"$T/cc.log" 2>&1; then
		run suid plain "$T/forkexec" "$SUID" mark suid
		run suid record "$T/forkexec" "$SUID" mark suid
		same suid
		q suid has proc.origin=fork op=exec fn=execv path="$SUID" opaque=true "env*^=PATH="
		qeq suid 0 countproc argv.1=mark
		check "a set-user-ID executable exec'd by a fork child: its exec is recorded, opaque"
	else
		tap_diag "$T/cc.log" 5 >>"$DIAG"
		check "a set-user-ID executable exec'd by a fork child (cc)"
	fi
else
	echo "ok - a set-user-ID executable # SKIP needs root and a mount without nosuid"
	TAP_COUNT=$((TAP_COUNT + 1))
fi

# --- SIGKILL ----------------------------------------------------------------------------------
run sigkill plain "$ROBUST" sigkill-child
run sigkill record "$ROBUST" sigkill-child
same sigkill
C=$(pid_of sigkill record child-pid)
q sigkill hasproc pid="$C" origin=fork exit.signal=9
q sigkill has proc.pid="$C" op=open path="$W/sigkill-child.txt"
q sigkill has proc.argv.1=sigkill-child op=wait fn=waitpid pid="$C" status=9
check 'a child killed by SIGKILL: its image exits with {"signal":9}'

run selfkill plain "$ROBUST" selfkill
run selfkill record env GG_SHIM_BATCH=1 "$ROBUST" selfkill
same selfkill
[[ "$(cat "$T/selfkill.record.rc")" == 137 ]] ||
	echo "gg record exit status: $(cat "$T/selfkill.record.rc"), expected 137" >>"$DIAG"
# its stdout a file: it batched its records, and died holding them
q selfkill hasproc argv.1=selfkill batched=true cut_short=true
"$GG" trace summary --trace-dir "$TRACE" >"$T/selfkill.summary" 2>&1
grep -q '^images cut short .*: 1$' "$T/selfkill.summary" ||
	{ echo "gg trace summary does not count 1 image cut short:"; cat "$T/selfkill.summary"; } >>"$DIAG"
check "a recorded command killed by SIGKILL holding a batch: gg record exits 137, its image is cut short"

# each record written at once: by default (no GG_SHIM_BATCH=1), and when stdout is a
# pipe (its reader may end it with SIGPIPE)
run selfkill-nb record "$ROBUST" selfkill
q selfkill-nb hasproc argv.1=selfkill batched=false cut_short=false
q selfkill-nb has proc.argv.1=selfkill op=open path="$W/selfkill.txt" ret=3
run selfkill-pipe record env GG_SHIM_BATCH=1 sh -c "'$ROBUST' selfkill | cat"
q selfkill-pipe hasproc argv.1=selfkill batched=false cut_short=false
q selfkill-pipe has proc.argv.1=selfkill op=open path="$W/selfkill.txt" ret=3
check "killed by SIGKILL, without GG_SHIM_BATCH=1 or with stdout a pipe: its events are kept, not cut short"

# --- errno ---------------------------------------------------------------------------------------
run errno plain "$ENTRY" errno-keep
run errno record "$ENTRY" errno-keep
same errno
q errno has op=open fn=open path="$W/f.txt" ret=3
check "errno after intercepted calls is what glibc leaves (successes keep it, failures set it)"

# errno as main finds it: zero (C11 7.5), whatever the shim's start-up probed or failed at
run errno-start plain "$ROBUST" errno-at-start
: >"$T/afile"
for dir in "" "$T/afile/trace"; do # none given (./.gg is looked for, then made); unwritable
	rc=0
	(cd "$W" && exec env LD_PRELOAD="$SHIM" ${dir:+GG_TRACE_DIR="$dir"} "$ROBUST" errno-at-start) \
		</dev/null >"$T/errno-start.bare.out" 2>/dev/null || rc=$?
	echo "$rc" >"$T/errno-start.bare.rc"
	same errno-start bare
done
check "errno at main is 0 under the shim (no trace dir given; an unwritable one)"

# --- signal handlers calling intercepted functions ------------------------------------------
run sigstorm plain "$ROBUST" sigstorm 5000
run sigstorm record "$ROBUST" sigstorm 5000
same sigstorm
qeq sigstorm 5000 count op=open fn=open path="$W/main.txt" ret\>=3
q sigstorm has op=open fn=open path="$W/handler.txt"
check "a 50 us timer whose handler opens files, during 5000 intercepted calls: no deadlock, main's calls all recorded"

# --- a program closing every descriptor ------------------------------------------------------------
run closeall plain "$ROBUST" closeall
run closeall record "$ROBUST" closeall
same closeall
q closeall has op=open path="$W/before.txt" ret=3
q closeall has op=open path="$W/after-close.txt" ret=3
q closeall has op=open path="$W/after-close-range.txt" ret=3
check "closing descriptors 3..1023 and close_range(3, ~0U) does not stop recording"

# --- big records ------------------------------------------------------------------------------------
run bigargv plain "$ROBUST" bigargv 5000
run bigargv record "$ROBUST" bigargv 5000
same bigargv
q bigargv has op=exec fn=execv path="$ROBUST" argv#=5003 argv.3^=argument-00000- argv.-1^=argument-04999-
q bigargv hasproc origin=exec argv.1=mark argv.2=bigargv argv#=5003
got=$("$PY" "$QUERY" "$T/bigargv.dump" get 'argv#' origin=exec argv.2=bigargv)
[[ $got == 5003 ]] || echo "the new image's argv has $got elements, the last: $("$PY" "$QUERY" "$T/bigargv.dump" get argv.-1 origin=exec argv.2=bigargv)" >>"$DIAG"
check "an exec with 5000 arguments (500 KB) is recorded whole"

run bigdir plain "$ROBUST" bigdir 20000
run bigdir record "$ROBUST" bigdir 20000
same bigdir
q bigdir has op=list fn=opendir path="$W/big" names#=20000 names*=entry-000000 names*=entry-019999
check "a listing of 20000 names is recorded whole"

# A fork child's PROC is written with its first record, in one writev, when that
# record is in the record buffer with room after it (fork-open); else the PROC goes
# alone first: here opendir in the child, whose listing has buffers of its own.
run fork-bigdir plain "$ROBUST" fork-bigdir 20000
run fork-bigdir record "$ROBUST" fork-bigdir 20000
same fork-bigdir
if fork_pids fork-bigdir; then
	q fork-bigdir hasproc pid="$C" ppid="$P" origin=fork parent="$plog" exit.status=0
	q fork-bigdir has proc.pid="$C" op=list path="$W/big" names#=20000 names*=entry-019999
	q fork-bigdir hasnot proc.pid="$P" op=list
fi
check "a fork child whose first record is a listing of 20000 names: PROC and listing both there"

# --- the dedupe set of existence checks ---------------------------------------------------------------
# Each image reports a missing path once however often it looks; the set fills its
# small first regions before the larger ones.  3000 paths spill past the first
# three regions; 12000 overflow the whole set: then a path is reported again rather
# than lost.
run probes plain "$ROBUST" probes 3000 3
run probes record "$ROBUST" probes 3000 3
same probes
qeq probes 3000 count op=stat fn=stat path~="^$W/probe-" ret=-1 errno=2
q probes has op=stat path="$W/probe-000000"
q probes has op=stat path="$W/probe-002999"
check "3000 missing paths looked up 3 times each: each reported once"

run probes-full record "$ROBUST" probes 12000 2
got=$("$PY" "$QUERY" "$T/probes-full.dump" getev path op=stat path~="^$W/probe-" | sort -u | wc -l)
[[ $got == 12000 ]] || echo "12000 missing paths: $got reported" >>"$DIAG"
got=$("$PY" "$QUERY" "$T/probes-full.dump" count op=stat path~="^$W/probe-")
((got >= 12000 && got < 24000)) || echo "12000 paths looked up twice: $got reports" >>"$DIAG"
check "12000 missing paths, more than the dedupe set holds: none lost, most reported once"

# --- a file size limit set by the program --------------------------------------------------------------
# `ulimit -f 0` in a recorded subshell, which then runs and waits for a command: the
# segment is past the limit, so the shim's writes fail, and the SIGXFSZ the kernel
# sends with EFBIG must not end the subshell.
run fsize plain bash -c '(ulimit -f 0; "$0" mark fsize; echo "after: $?") | cat; echo "subshell: $?"' "$ROBUST"
run fsize bare env LD_PRELOAD="$SHIM" GG_TRACE_DIR="$TRACE" \
	bash -c '(ulimit -f 0; "$0" mark fsize; echo "after: $?") | cat; echo "subshell: $?"' "$ROBUST"
same fsize bare
if [[ $(grep -cv '^gg: warning: cannot write trace' "$T/fsize.bare.err") != 0 ]]; then
	{ echo "stderr:"; head -n 5 "$T/fsize.bare.err"; } >>"$DIAG"
fi
check "ulimit -f in a recorded subshell: no SIGXFSZ, the subshell and its command run unchanged"

# --- a GG_SHIM_ROOT longer than any log id -----------------------------------------------------------
# Names the recording's segment; the shim keeps it in a fixed buffer: cut, never overrun.
long_root=1234-$(printf '0123456789abcdef%.0s' 1 2 3 4)
run longroot plain "$ROBUST" exec "$ROBUST" fork-open
run longroot bare env LD_PRELOAD="$SHIM" GG_TRACE_DIR="$TRACE" GG_SHIM_ROOT="$long_root" \
	"$ROBUST" exec "$ROBUST" fork-open
same longroot bare
q longroot has op=open fn=open path="$W/child-file.txt" ret=3
q longroot has op=open fn=open path="$W/parent-file.txt" ret=3
check "GG_SHIM_ROOT longer than a log id: the program runs unchanged and is recorded"

# --- the trace cannot be written ---------------------------------------------------------------------
: >"$T/afile"
run unwritable plain "$ROBUST" exec "$ROBUST" fork-threads 3
rm -rf "$W"
mkdir -p "$W"
rc=0
(cd "$W" && exec timeout -k 5 "$TMO" "$GG" record --trace-dir "$T/afile/trace" -- "$ROBUST" exec "$ROBUST" fork-threads 3) \
	</dev/null >"$T/unwritable.record.out" 2>"$T/unwritable.record.err" || rc=$?
echo "$rc" >"$T/unwritable.record.rc"
same unwritable
n=$(wc -l <"$T/unwritable.record.err")
if [[ $n != 1 ]]; then
	echo "gg record printed $n lines on stderr, expected one warning:" >>"$DIAG"
	head -n 10 "$T/unwritable.record.err" >>"$DIAG"
fi
check "gg record with an unwritable trace dir: one warning, the command runs unchanged"

run unwritable bare env LD_PRELOAD="$SHIM" GG_TRACE_DIR="$T/afile/trace" "$ROBUST" exec "$ROBUST" fork-threads 3
: >"$DIAG" # nothing can be in $TRACE: only the program's behaviour matters here
same unwritable bare
n=$(wc -l <"$T/unwritable.bare.err")
if ((n > 1)); then
	echo "$n lines on stderr for one process tree, expected at most one warning:" >>"$DIAG"
	head -n 10 "$T/unwritable.bare.err" >>"$DIAG"
fi
check "bare LD_PRELOAD with an unwritable GG_TRACE_DIR: exec, fork and threads run unchanged, at most one warning"

set +f
tap_finish
