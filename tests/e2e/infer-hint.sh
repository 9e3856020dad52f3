#!/usr/bin/env bash
# Proves that `gg infer` says why a recording gave no thunk (the recorded build
# failed at once with its exit status, the driver had nothing to do, no build driver
# ran, nothing was recorded) and that a recorded build which failed halfway keeps
# what completed, with a hint naming the status.
set -euo pipefail
. tests/e2e/lib.sh
e2e_init

# case NAME MAKEFILE-TEXT RECORD-ARGS...: a fresh project $T/NAME, recorded with gg
# record RECORD-ARGS (its status ignored), then `gg infer`; the output in $T/NAME.log
case_run() {
	local name=$1 mk=$2
	shift 2
	mkdir -p "$T/$name"
	printf '%b' "$mk" >"$T/$name/Makefile"
	(cd "$T/$name" && "$GG" init >/dev/null && { "$GG" record -- "$@" >/dev/null 2>&1 || true; } &&
		"$GG" infer) >"$T/$name.log" 2>&1
}
says() { grep -qF -- "$2" "$T/$1.log" || { cat "$T/$1.log"; false; }; }

case_run fails 'all:\n\tcc -c nosuch.c -o nosuch.o\n' make
tap_check "a build that fails at once: 0 thunks, and the hint gives make's exit status 2" \
	eval 'says fails "gg: 0 thunks" &&
		says fails "gg: hint: the recorded command '"'make'"' exited with status 2: the build failed before any command left a file"'

mkdir -p "$T/uptodate"
touch "$T/uptodate/x" # already made: make has nothing to do
case_run uptodate 'x:\n\techo hi >x\n' make
tap_check "a build with nothing to do: the hint asks whether everything was up to date" \
	says uptodate "gg: hint: the build driver ran no command: was everything up to date?"

case_run nodriver '' true
tap_check "no build driver: the hint names the recorded command" \
	says nodriver "gg: hint: no build driver (make, ninja, meson, cmake --build...) ran, and the recorded command 'true' left no file"

mkdir -p "$T/empty"
(cd "$T/empty" && "$GG" init >/dev/null && "$GG" infer) >"$T/empty.log" 2>&1 || true
tap_check "nothing recorded: the hint says to run gg record" says empty "holds no recording: run the build under 'gg record"

case_run half 'all: a b\na:\n\techo a >a\nb:\n\tfalse\n' make -k
tap_check "a build that fails halfway: 1 thunk kept, the hint gives the status" \
	eval 'says half "gg: 1 thunks" &&
		says half "gg: hint: the recorded command '"'make -k'"' exited with status 2: the graph holds only what completed"'

tap_finish
