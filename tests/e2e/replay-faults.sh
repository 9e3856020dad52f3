#!/usr/bin/env bash
# Proves that `gg build` of a recorded GNU hello survives faults with a clear message
# and never a corrupt tree: a SIGKILLed or Ctrl-C'd build leaves whole files only and
# the next build completes; a missing or corrupt output blob is re-made by running
# its thunk; a missing or corrupt thunk blob is named and fails cleanly; a failing
# thunk shows its command, status and stderr, -k finishes the others, and the summary
# counts every thunk exactly once (text and --json); a full store
# disk fails naming ENOSPC and succeeds once space is freed; `gg cache
# stats|verify|gc` see and repair the store.
set -euo pipefail
. tests/e2e/lib.sh
e2e_init
ns= # the mount namespace holder of the full-disk scenario
trap '[[ -z "$ns" ]] || kill "$ns" 2>/dev/null; e2e_cleanup' EXIT

src=$T/hello
built=$T/built # the tree right after the recorded build
export GG_DIR=$T/gg
artifacts=('./hello' './*.o' './lib/*.a')
q() { GG=$GG python3 "$TOP/tests/e2e/replay_faults.py" "$@"; }

setup "fetch GNU hello" corpus hello "$src"
setup "./configure" configure_cached "$src" ./configure
setup "gg record -- make -j2" in_dir "$src" "$GG" record -- make -j2
setup "gg infer" in_dir "$src" "$GG" infer
snapshot "$src" "$built"
save_artifacts "$src" "$T/recorded" "${artifacts[@]}"
save_artifacts "$src" "$T/recorded-lib" './lib/*.o' './lib/*.a'
in_dir "$src" "$GG" graph --json >"$T/graph.json"
q outputs "$T/graph.json" >"$T/outputs"
# (before any build copies it out of the pack into a file)
packed() { [[ $(q where "$GG_DIR" "$1") == *" (value $1)" ]]; }
tap_check "gg infer stored src/hello.o's value in a value pack, not as a file" \
	packed "$(q value "$T/graph.json" "$src/src/hello.o")"

# The recorded tree without its build outputs.  The compile thunks list their
# .deps/*.Po files as inputs with the recorded build's contents: those stay, so that
# every thunk's inputs are as recorded and it runs in the sandbox.
fresh_tree() {
	restore "$built" "$src"
	grep -v '\.Po$' "$T/outputs" | xargs -d '\n' rm -f
}
empty_cache() { rm -rf "$GG_DIR/cache"; }
tree_whole() { q tree "$T/outputs" "$built" "$src" "${1:-$GG_DIR}"; }
identical() { same_artifacts "$T/recorded" "$src" "${artifacts[@]}"; }
no_strays() { q strays "$T/procs" "$src"; }
tmp_empty() { [[ -z "$(ls -A "$1")" ]] || { ls -la "$1"; false; }; }
# no_staging PID: no scratch directory of build PID is left (build.c puts them in
# /dev/shm/gg-<uid>/<hash of the .gg path> when that is a tmpfs, else in the
# store's tmp/)
no_staging() {
	local left
	left=$(ls -d "/dev/shm/gg-$(id -u)/"*/"run-$1-"* "$GG_DIR/tmp/run-$1-"* 2>/dev/null || true)
	[[ -z "$left" ]] || { echo "left: $left"; false; }
}

# bg_build LOG ARGS...: start `gg build ARGS` in the tree as the leader of a process
# group of its own (as a shell's job), its pid in $bg; wait_started N: until N
# thunks have started (so a signal lands in the middle of the build).
bg_build() {
	local log=$1
	shift
	(cd "$src" && exec setsid "$GG" build "$@" >"$log" 2>&1) &
	bg=$!
}
wait_started() {
	local log=$1 n=$2 i
	for ((i = 0; i < 600; i++)); do
		(($(grep -c '^\[' "$log" || true) >= n)) && return 0
		kill -0 "$bg" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

# ---- a killed build ----------------------------------------------------------------
fresh_tree
empty_cache
bg_build "$T/kill.log" -j2
running=0
if wait_started "$T/kill.log" 8 && kill -0 "$bg" 2>/dev/null; then running=1; fi
q descendants "$bg" >"$T/procs"
disown "$bg" # no "Killed" job notice
kill -KILL "$bg" 2>/dev/null || true
for ((i = 0; i < 100; i++)); do kill -0 "$bg" 2>/dev/null || break; sleep 0.05; done
tap_check "SIGKILL: the build was killed in the middle (8 thunks started)" test "$running" = 1
sleep 1
tap_check "SIGKILL: no sandboxed process is left running" no_strays
tap_check "SIGKILL: every output is absent or whole, no temporary in the tree" tree_whole
tap_run "SIGKILL: the next gg build completes" "$T/kill2.log" in_dir "$src" "$GG" build -j2
tap_check "SIGKILL: then every artifact is byte-identical to the recorded build's" identical
in_dir "$src" "$GG" cache stats >"$T/stats.log" 2>&1 || true
tap_check "gg cache stats counts blobs and results-cache entries" \
	grep -Eq '^results cache: +[1-9][0-9]* entries' "$T/stats.log"
tap_run "gg cache gc exits 0" "$T/gc.log" in_dir "$src" "$GG" cache gc --min-age 0
killed=$bg
gc_cleaned() { tmp_empty "$GG_DIR/tmp" && no_staging "$killed"; }
tap_check "gg cache gc leaves nothing of the killed build (store tmp/, scratch space)" gc_cleaned

# ---- Ctrl-C -----------------------------------------------------------------------------
fresh_tree
empty_cache
bg_build "$T/int.log" -j2
running=0
if wait_started "$T/int.log" 8 && kill -0 "$bg" 2>/dev/null; then running=1; fi
q descendants "$bg" >"$T/procs"
kill -INT -- "-$bg" 2>/dev/null || true # the whole group, as a terminal's Ctrl-C
int_rc=0
wait "$bg" || int_rc=$?
tap_check "Ctrl-C: the build was interrupted in the middle (8 thunks started)" test "$running" = 1
int_says() { ((int_rc == 130)) && grep -q 'gg: interrupted' "$T/int.log"; }
tap_check "Ctrl-C: gg build exits 130 saying 'interrupted'" int_says
sleep 1
tap_check "Ctrl-C: no sandboxed process is left running" no_strays
tap_check "Ctrl-C: every output is absent or whole, no temporary in the tree" tree_whole
int_cleaned() { tmp_empty "$GG_DIR/tmp" && no_staging "$bg"; }
tap_check "Ctrl-C: the build removed its scratch directories and temporaries" int_cleaned
tap_run "Ctrl-C: the next gg build completes" "$T/int2.log" in_dir "$src" "$GG" build -j2
tap_check "Ctrl-C: then every artifact is byte-identical to the recorded build's" identical

# ---- blobs gone or damaged (everything is cached now) ------------------------------
# (`gg infer` packed the small ones: runtime/store/blobpack.h; q finds them there)
hello_o=$src/src/hello.o
obj_value=$(q value "$T/graph.json" "$hello_o")
rm -f "$hello_o"
q drop "$GG_DIR" "$obj_value"
tap_run "missing output blob: gg build exits 0" "$T/miss.log" in_dir "$src" "$GG" build
tap_check "missing output blob: the message names it and the thunk runs again" \
	grep -q "of '$hello_o' is missing from the store: running it again" "$T/miss.log"
obj_back() { cmp "$hello_o" "$T/recorded/src/hello.o" && q has "$GG_DIR" "$obj_value"; }
tap_check "missing output blob: src/hello.o is the recorded one, its blob is back" obj_back

exe_value=$(q value "$T/graph.json" "$src/hello")
exe_blob=$(q where "$GG_DIR" "$exe_value")
rm -f "$src/hello"
q corrupt "$GG_DIR" "$exe_value"
verify_rc=0
in_dir "$src" "$GG" cache verify >"$T/verify1.log" 2>&1 || verify_rc=$?
verify_names() { ((verify_rc == 1)) && grep -qF "corrupt blob '$1'" "$2"; }
tap_check "corrupt output blob: gg cache verify exits 1 naming it" verify_names "$exe_blob" "$T/verify1.log"
tap_run "corrupt output blob: gg build exits 0" "$T/corrupt.log" in_dir "$src" "$GG" build
tap_check "corrupt output blob: detected while copying, named, the thunk runs again" \
	grep -q "of '$src/hello' is corrupt (removed from the store): running it again" "$T/corrupt.log"
tap_check "corrupt output blob: ./hello is the recorded one" cmp "$src/hello" "$T/recorded/hello"
tap_run "corrupt output blob: gg cache verify is clean again" "$T/verify2.log" \
	in_dir "$src" "$GG" cache verify

# `gg infer` put the thunks in the pack (blobpack.h): damage one of them there
link=$(q thunk "$T/graph.json" "$src/hello")
pack=$GG_DIR/thunks.pack
cp -p "$pack" "$T/pack.saved"
q flippack "$GG_DIR" "$link"
brc=0
in_dir "$src" "$GG" build >"$T/badthunk.log" 2>&1 || brc=$?
rc_says() { ((brc == 1)) && grep -qF "$1" "$2"; }
tap_check "corrupt thunk: gg build exits 1 with 'cannot read thunk T... (hello): corrupt blob'" \
	rc_says "gg: cannot read thunk $link (hello): corrupt blob" "$T/badthunk.log"
verify_rc=0
in_dir "$src" "$GG" cache verify --remove >"$T/verify3.log" 2>&1 || verify_rc=$?
removed_it() { verify_names "$pack (thunk $link)" "$T/verify3.log" && ! grep -qF "kept" "$T/verify3.log"; }
tap_check "corrupt thunk: gg cache verify --remove names it, exits 1 and packs the rest again" removed_it
brc=0
in_dir "$src" "$GG" build >"$T/nothunk.log" 2>&1 || brc=$?
tap_check "missing thunk: gg build exits 1 with 'cannot read thunk T... (hello): its blob is missing'" \
	rc_says "gg: cannot read thunk $link (hello): its blob is missing from the store" "$T/nothunk.log"
cp -p "$T/pack.saved" "$pack"
tap_run "with the thunk back, gg build exits 0" "$T/back.log" in_dir "$src" "$GG" build

# ---- unreferenced blobs ---------------------------------------------------------------
# A build of an edited source stores new objects; with its results-cache entries
# gone, nothing references them any more.
cp "$GG_DIR/cache/results.log" "$T/results.saved" # the log as it was before
echo 'int gg_gc_marker;' >>"$src/src/hello.c"
setup "gg build of an edited source" in_dir "$src" "$GG" build
cp "$hello_o" "$T/edited.o"
cp -p "$built/src/hello.c" "$src/src/hello.c"
setup "gg build of the source as recorded" in_dir "$src" "$GG" build
cp "$T/results.saved" "$GG_DIR/cache/results.log" # the entries written since: gone
orphan=$(q findblob "$GG_DIR" "$T/edited.o" || true)
tap_run "gg cache gc --blobs exits 0" "$T/gcblobs.log" \
	in_dir "$src" "$GG" cache gc --blobs --blob-min-age 0
orphan_gone() { [[ -n "$orphan" && ! -e "$orphan" ]]; }
tap_check "gg cache gc --blobs removed the unreferenced object" orphan_gone
rm -f "$hello_o" "$src/hello"
in_dir "$src" "$GG" build --json >"$T/aftergc.log" 2>&1 || true
tap_check "after gc, every referenced blob is there: a build runs nothing" \
	grep -q '"ran":0,"failed":0' "$T/aftergc.log"
tap_check "after gc, gg cache verify finds nothing bad" in_dir "$src" "$GG" cache verify

# ---- a thunk that fails ------------------------------------------------------------------
fresh_tree
empty_cache
echo 'int gg_syntax_error = ;' >>"$src/src/hello.c"
brc=0
in_dir "$src" "$GG" build -j2 >"$T/fail.log" 2>&1 || brc=$?
failed_says() {
	((brc == 1)) &&
		grep -q 'gg: FAILED: src/hello.o: exit status 1' "$T/fail.log" && # the status
		grep -q -- '-c -o src/hello.o src/hello.c' "$T/fail.log" &&        # the command
		grep -q "src/hello.c:.*error: expected expression" "$T/fail.log"    # its stderr
}
tap_check "failing thunk: gg build exits 1 showing the command, its status and stderr" failed_says
tap_check "failing thunk: the summary counts every thunk once (total = cached + ran + re-recorded + failed + skipped)" \
	q counts "$T/fail.log"
brc=0
in_dir "$src" "$GG" build -j2 -k >"$T/failk.log" 2>&1 || brc=$?
keep_going() {
	((brc == 1)) && grep -q 'gg: skipped hello: a dependency failed' "$T/failk.log" &&
		[[ ! -e "$src/hello" && ! -e "$hello_o" ]] &&
		same_artifacts "$T/recorded-lib" "$src" './lib/*.o' './lib/*.a' >/dev/null
}
tap_check "failing thunk: with -k every independent thunk completes (lib/*.o, libhello.a)" keep_going
tap_check "failing thunk: the tree holds no partial output" tree_whole
in_dir "$src" "$GG" build -j2 -k --json >"$T/failj.log" 2>/dev/null || true
tap_check "failing thunk: so does --json (the link skipped, every other thunk cached)" \
	q counts "$T/failj.log" --json

# ---- a full disk -------------------------------------------------------------------------
# The store on a small tmpfs in a private mount namespace (held by a sleeping
# process; gg runs in it through nsenter), filled up but for 256 KiB: the build
# needs more.
full=$T/full
mkdir -p "$full"
unshare -m sleep 3600 2>/dev/null &
ns=$!
sleep 0.2
N=(nsenter -t "$ns" -m)
in_full() { (cd "$src" && "${N[@]}" env GG_DIR="$full" "$@"); }
fill_store() {
	"${N[@]}" mount -t tmpfs -o size=16m gg-full "$full" &&
		"${N[@]}" sh -c 'cp -a "$1/graph" "$1/statcache" "$1/thunks.pack" "$2/" && mkdir "$2/tmp" &&
			cd "$1" && find blobs -name "*.t" -print0 | xargs -0 -r cp -a --parents -t "$2" &&
			a=$(df -B1 --output=avail "$2" | tail -n 1) &&
			fallocate -l $((a - 262144)) "$2/filler"' sh "$GG_DIR" "$full"
}
if ! kill -0 "$ns" 2>/dev/null || ! "${N[@]}" true 2>/dev/null; then
	echo "ok - full disk # SKIP cannot create a mount namespace here"
else
	fresh_tree
	setup "a store on a full tmpfs" fill_store
	brc=0
	in_full "$GG" build -j2 >"$T/full.log" 2>&1 || brc=$?
	full_says() { ((brc == 1)) && grep -q 'gg: FAILED: .*No space left on device' "$T/full.log"; }
	tap_check "full disk: gg build exits 1 naming ENOSPC" full_says
	tap_check "full disk: every output is absent or whole, no temporary in the tree" \
		in_full python3 "$TOP/tests/e2e/replay_faults.py" tree "$T/outputs" "$built" "$src" "$full"
	tap_check "full disk: no temporary or staging directory is left in the store" \
		in_full sh -c '[ -z "$(ls -A "$GG_DIR/tmp")" ]'
	tap_check "full disk: gg cache verify finds no corrupt blob" in_full "$GG" cache verify
	"${N[@]}" rm -f "$full/filler"
	tap_run "full disk: once space is freed, gg build exits 0" "$T/full2.log" in_full "$GG" build -j2
	tap_check "full disk: then every artifact is byte-identical to the recorded build's" identical
fi
kill "$ns" 2>/dev/null || true
ns=

tap_finish
