#!/usr/bin/env bash
# Proves that `gg verify` compares each thunk's re-execution with the result known for
# the inputs the tree holds now: after an edited zlib source is rebuilt by `gg
# build`, `gg verify --all` finds no difference (and an unbuilt edit is "not
# compared", not a difference); a thunk made nondeterministic on purpose is named by
# hash, command and file; a thunk that fails in the sandbox is counted as "could not
# run" and every other thunk is still verified; and that `gg build` counts every
# thunk exactly once (cached + ran + re-recorded + failed + skipped = total, text and
# --json) when a thunk fails before its dependents, and that self-correction finds
# the shim through a relative GG_SHIM_LIB.
set -euo pipefail
. tests/e2e/lib.sh
e2e_init
unset SOURCE_DATE_EPOCH # the small project below must see none when recorded

# json FILE KEY...: the values of KEYs in the last line of FILE (a --json summary)
json() {
	python3 - "$@" <<'EOF'
import json, sys
d = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
print(" ".join(str(d[k]) for k in sys.argv[2:]))
EOF
}
# nthunks: the number of thunks in the graph of the current GG_DIR
nthunks() { "$GG" graph --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["thunks"]))'; }
# thunk_of PATH: the hash of the thunk producing PATH
thunk_of() {
	"$GG" graph --json | python3 -c '
import json, sys
for t in json.load(sys.stdin)["thunks"]:
    if any(o["path"] == sys.argv[1] for o in t["outputs"]):
        print(t["hash"])' "$1"
}

# ---- zlib (CMake + Ninja): record, edit a source, gg build, gg verify ----------------
src=$T/zlib
build=$src/build
export GG_DIR=$T/gg
setup "fetch zlib" corpus zlib "$src"
setup "cmake -G Ninja" configure_cached "$src" cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release
setup "gg record -- ninja -j2" in_dir "$build" "$GG" record -- ninja -j2
setup "gg infer" in_dir "$build" "$GG" infer
n=$(in_dir "$build" nthunks)

# adler32.c: its two compiles (shared, static), both libraries and the links re-run.
echo 'int gg_edit_marker;' >>"$src/adler32.c"
tap_run "gg build after editing adler32.c exits 0" "$T/build.log" \
	in_dir "$build" "$GG" build -j2 --json
reran() {
	local ran
	ran=$(json "$T/build.log" ran)
	((ran >= 4)) || { echo "ran $ran"; false; }
}
tap_check "the edit re-ran the objects and the links that use adler32.c" reran

vrc=0
in_dir "$build" "$GG" verify --all -j2 --json >"$T/verify.json" 2>"$T/verify.err" || vrc=$?
tap_check "gg verify --all --json: total $n = ran $n, 0 differs, 0 failed, 0 not compared" \
	test "$vrc $(json "$T/verify.json" total ran differs failed not_compared)" = "0 $n $n 0 0 0"
no_false_diff() { ! grep -E 'differs:|not compared|could not run' "$T/verify.json" "$T/verify.err"; }
tap_check "gg verify --all names no difference and no thunk it could not compare" no_false_diff

# Edited again and not rebuilt: nothing is known for the new contents of adler32.c.
echo 'int gg_edit_marker2;' >>"$src/adler32.c"
obj=CMakeFiles/zlib.dir/adler32.o
in_dir "$build" "$GG" verify "$obj" >"$T/verify2.log" 2>&1 || true
unbuilt() {
	! grep 'differs:' "$T/verify2.log" &&
		grep -q "^gg: not compared: $obj: no result is known for its current inputs" \
			"$T/verify2.log" &&
		grep -q "^gg: verified 1 thunks: 0 differ, 0 could not run, 1 not compared" "$T/verify2.log"
}
tap_check "an unbuilt edit: $obj is 'not compared', nothing differs" unbuilt

# ---- a small project: a nondeterministic thunk, one that fails in the sandbox ------
# host.txt's command succeeds on the host only: the sandbox sets SOURCE_DATE_EPOCH.
p=$T/small
mkdir -p "$p"
cat >"$p/Makefile" <<'EOF'
all: host.txt stamp.txt out.txt final.txt opt.txt
host.txt: in.txt
	test -z "$$SOURCE_DATE_EPOCH" && cat in.txt >host.txt
stamp.txt:
	date +%N >stamp.txt
out.txt: in.txt
	cp in.txt out.txt
final.txt: host.txt out.txt
	cat host.txt out.txt >final.txt
opt.txt:
	if [ -e extra.txt ]; then cat extra.txt; else echo none; fi >opt.txt
EOF
echo hello >"$p/in.txt"
export GG_DIR=$p/.gg
setup "gg record -- make (small project)" in_dir "$p" "$GG" record -- make
setup "gg infer (small project)" in_dir "$p" "$GG" infer
stamp_thunk=$(in_dir "$p" thunk_of "$p/stamp.txt")

vrc=0
in_dir "$p" "$GG" verify --all -j2 >"$T/vsmall.log" 2>&1 || vrc=$?
named() {
	grep -q "^differs: thunk $stamp_thunk (date +%N >stamp.txt): '$p/stamp.txt' differs" \
		"$T/vsmall.log" && (($(grep -c 'differs:' "$T/vsmall.log") == 1))
}
tap_check "the nondeterministic thunk is named: hash, command and file (and only it)" named
failed_named() { grep -q '^gg: could not run: host.txt: exit status 1' "$T/vsmall.log"; }
tap_check "the thunk that fails in the sandbox is named as 'could not run'" failed_named
summed() {
	((vrc == 1)) && grep -q '^gg: verified 5 thunks: 1 differ, 1 could not run (' "$T/vsmall.log"
}
tap_check "verify --all goes on past it: 'verified 5 thunks: 1 differ, 1 could not run', exit 1" summed
in_dir "$p" "$GG" verify --all -j2 --json >"$T/vsmall.json" 2>/dev/null || true
tap_check "verify --json: total 5 = ran 4 + failed 1, differs 1" \
	test "$(json "$T/vsmall.json" total ran failed differs not_compared)" = "5 4 1 1 0"

# ---- counts of a build where a thunk fails before its dependents ---------------------
# Outputs deleted, nothing cached: host.txt fails in the sandbox; final.txt needs it.
fresh() { rm -f "$p"/{host,stamp,out,final,opt}.txt && rm -rf "$GG_DIR/cache"; }
adds_up() { # adds_up LOG TOTAL CACHED RAN RECORDED FAILED SKIPPED: the text summary
	local line
	line=$(grep '^gg: [0-9]* thunks: ' "$1") || { echo "no summary in $1"; false; }
	echo "$line"
	[[ "$line" == "gg: $2 thunks: $3 cached, $4 ran, $5 re-recorded, $6 failed, $7 skipped "* ]] &&
		(($3 + $4 + $5 + $6 + $7 == $2))
}
# (-j1: what ran before host.txt failed depends on the order the plan chose, by the
# durations the earlier runs measured; nothing starts after the failure)
stopped() { # stopped LOG: the text summary of a build that stopped at its one failure
	local ran
	ran=$(grep -oE '^gg: 5 thunks: 0 cached, [0-3] ran, 0 re-recorded, 1 failed, [1-4] skipped' "$1" |
		sed -E 's/.* ([0-3]) ran.*/\1/') || { grep '^gg: [0-9]* thunks: ' "$1"; return 1; }
	adds_up "$1" 5 0 "$ran" 0 1 $((4 - ran)) && grep -q '^gg: skipped final.txt: ' "$1"
}
fresh
in_dir "$p" "$GG" build -j1 >"$T/count1.log" 2>&1 || true
tap_check "a failure stops the build: 5 thunks = 0 cached + N ran + 0 re-recorded + 1 failed + 4-N skipped, final.txt among them" \
	stopped "$T/count1.log"
fresh
in_dir "$p" "$GG" build -j1 --json >"$T/count1.json" 2>/dev/null || true
stopped_json() {
	local v
	v=$(json "$T/count1.json" total cached ran corrected failed skipped)
	[[ "$v" =~ ^5\ 0\ ([0-3])\ 0\ 1\ ([1-4])$ ]] &&
		((BASH_REMATCH[1] + BASH_REMATCH[2] == 4)) || { echo "$v"; false; }
}
tap_check "the same with --json: total 5 = cached 0 + ran N + corrected 0 + failed 1 + skipped 4-N" \
	stopped_json
fresh
in_dir "$p" "$GG" build -j2 -k >"$T/count2.log" 2>&1 || true
tap_check "with -k: 5 thunks = 0 cached + 3 ran + 0 re-recorded + 1 failed + 1 skipped (its dependent)" \
	adds_up "$T/count2.log" 5 0 3 0 1 1
in_dir "$p" "$GG" build -j2 -k --json >"$T/count3.json" 2>/dev/null || true
tap_check "again with --json: total 5 = cached 3 + ran 0 + corrected 0 + failed 1 + skipped 1" \
	test "$(json "$T/count3.json" total cached ran corrected failed skipped)" = "5 3 0 0 1 1"

# A path opt.txt's command found missing exists now: it is re-recorded on the host
# under the shim, found through a relative GG_SHIM_LIB (from gg's cwd, not the
# command's).  Counted once, as re-recorded.
echo extra >"$p/extra.txt"
rel_shim=$(realpath --relative-to="$T" "$SHIM")
(cd "$T" && GG_SHIM_LIB=$rel_shim "$GG" build -j2 -k) >"$T/count4.log" 2>&1 || true
rerecorded() {
	grep -q '^gg: opt.txt: re-recorded' "$T/count4.log" && test "$(cat "$p/opt.txt")" = extra
}
tap_check "a relative GG_SHIM_LIB: opt.txt is re-recorded under the shim and now says 'extra'" rerecorded
tap_check "then 5 thunks = 2 cached + 0 ran + 1 re-recorded + 1 failed + 1 skipped" \
	adds_up "$T/count4.log" 5 2 0 1 1 1

tap_finish
