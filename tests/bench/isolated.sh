#!/usr/bin/env bash
# Benchmark of the relocatable worker (runtime/engine/worker.h): per-thunk overhead
# of the worker path against the level-1 local engine, on zlib (CMake + Ninja) and on
# 200 trivial thunks (the isolated engine cold, then with inputs already in the
# worker's cache: the ratio to level 1 is printed), and the cost of a cold
# input fetch from a local directory per MB.  Prints numbers, asserts nothing.
#
#   BUILD=build tests/bench/isolated.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/e2e/lib.sh
e2e_init
export CC=gcc CCACHE_DISABLE=1

now_ms() { date +%s%3N; }
# per_thunk LABEL N CMD...: run CMD once, print ms per thunk (also into $PER_THUNK)
PER_THUNK=0
per_thunk() {
	local label=$1 n=$2 t0 t1
	shift 2
	t0=$(now_ms)
	"$@" >"$T/last.log" 2>&1 || { echo "$label: failed"; tail -5 "$T/last.log"; return 1; }
	t1=$(now_ms)
	PER_THUNK=$(echo "($t1 - $t0) / $n" | bc -l)
	printf '%-58s %8.1f ms/thunk  (%d thunks, %.1f s)\n' "$label" \
		"$PER_THUNK" "$n" "$(echo "($t1 - $t0) / 1000" | bc -l)"
}
# ratio LABEL A B: A / B
ratio() { printf '  %s: %.2fx\n' "$1" "$(echo "$2 / $3" | bc -l)"; }
delete_outputs() {
	in_dir "$1" "$GG" graph --json | python3 -c '
import json, os, sys
for t in json.load(sys.stdin)["thunks"]:
    for o in t["outputs"]:
        if os.path.lexists(o["path"]):
            os.remove(o["path"])'
	rm -rf "$GG_DIR/cache"
}

echo "== zlib (CMake + Ninja), -j1, every thunk run (--no-cache)"
src=$T/zlib
export GG_DIR=$T/zlib-gg
corpus zlib "$src" >/dev/null 2>&1
cmake -S "$src" -B "$src/build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null 2>&1
in_dir "$src/build" "$GG" record -- ninja -j2 >/dev/null
in_dir "$src/build" "$GG" infer >/dev/null
n=$(in_dir "$src/build" "$GG" graph --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["thunks"]))')
delete_outputs "$src/build"
per_thunk "local engine (level 1)" "$n" in_dir "$src/build" "$GG" build -j1 --no-cache
local_ms=$PER_THUNK
delete_outputs "$src/build"
per_thunk "isolated engine (level 3), cold input cache" "$n" \
	in_dir "$src/build" "$GG" build -j1 --no-cache --engine isolated
delete_outputs "$src/build"
per_thunk "isolated engine (level 3), inputs in the worker's cache" "$n" \
	in_dir "$src/build" "$GG" build -j1 --no-cache --engine "isolated:log=$T/zlib.jobs"
ratio "isolated (warm) / local per thunk, zlib (target <= 2)" "$PER_THUNK" "$local_ms"
python3 - "$T/zlib.jobs" <<'EOF'
import json, sys
j = [json.loads(l) for l in open(sys.argv[1])]
n = len(j)
avg = lambda k: sum(x[k] for x in j) / n
print("  isolated jobs: %d; mean fetch %.1f ms, run %.1f ms, store %.1f ms, whole job %.1f ms,"
      " %.0f inputs" % (n, avg("fetch_ms"), avg("run_ms"), avg("store_ms"), avg("total_ms"), avg("inputs")))
EOF

echo "== one zlib compile through gg worker exec: cold and warm input cache"
obj=CMakeFiles/zlib.dir/adler32.o
th=$(in_dir "$src/build" "$GG" worker prepare "$obj" --blobs "$T/blobs")
for lvl in 1 3; do
	rm -rf "$T/cache"
	"$GG" worker exec "$th" --blobs "$T/blobs" --cache "$T/cache" --root-base "$T/r" --level $lvl >"$T/cold.json"
	"$GG" worker exec "$th" --blobs "$T/blobs" --cache "$T/cache" --root-base "$T/r" --level $lvl >"$T/warm.json"
	python3 - "$T/cold.json" "$T/warm.json" "$lvl" <<'EOF'
import json, sys
c, w = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
mb = c["cache"]["fetched_bytes"] / 1e6
print("  level %s: cold fetch %d ms for %.1f MB (%d blobs): %.2f ms/MB; warm fetch %d ms"
      " (%d hits); run %d ms cold, %d ms warm"
      % (sys.argv[3], c["times_ms"]["fetch"], mb, c["cache"]["misses"],
         c["times_ms"]["fetch"] / mb if mb else 0, w["times_ms"]["fetch"], w["cache"]["hits"],
         c["times_ms"]["run"], w["times_ms"]["run"]))
EOF
done

echo "== 200 trivial thunks (sh -c 'echo N > outN'), -j1"
tsrc=$T/trivial
export GG_DIR=$T/trivial-gg
mkdir -p "$tsrc"
{
	printf 'all:'
	for i in $(seq 1 200); do printf ' out%d' "$i"; done
	printf '\n'
	for i in $(seq 1 200); do printf 'out%d:\n\techo %d > out%d\n' "$i" "$i" "$i"; done
} >"$tsrc/Makefile"
in_dir "$tsrc" "$GG" record -- make -j2 >/dev/null
in_dir "$tsrc" "$GG" infer >/dev/null
delete_outputs "$tsrc"
per_thunk "local engine (level 1)" 200 in_dir "$tsrc" "$GG" build -j1 --no-cache
local_ms=$PER_THUNK
delete_outputs "$tsrc"
per_thunk "isolated engine (level 3), cold input cache" 200 \
	in_dir "$tsrc" "$GG" build -j1 --no-cache --engine isolated
delete_outputs "$tsrc"
per_thunk "isolated engine (level 3), inputs in the worker's cache" 200 \
	in_dir "$tsrc" "$GG" build -j1 --no-cache --engine isolated
ratio "isolated (warm) / local per thunk, trivial (target <= 2)" "$PER_THUNK" "$local_ms"
for i in $(seq 1 200); do
	in_dir "$tsrc" "$GG" worker prepare "out$i" --blobs "$T/tblobs"
done >"$T/thunks"
for lvl in 1 3; do
	rm -rf "$T/tcache"
	"$GG" worker exec "$(head -1 "$T/thunks")" --blobs "$T/tblobs" --cache "$T/tcache" \
		--root-base "$T/r" --level $lvl >/dev/null # inputs into the cache
	# shellcheck disable=SC2046
	per_thunk "gg worker exec, level $lvl, inputs in the cache, one process" 200 \
		"$GG" worker exec $(cat "$T/thunks") --blobs "$T/tblobs" --cache "$T/tcache" \
		--root-base "$T/r" --level $lvl
	python3 - "$T/last.log" <<'EOF'
import json, sys
r = [json.loads(l) for l in open(sys.argv[1])]
n = len(r)
print("  %d reports, %d at status 0; mean fetch %.1f ms, run %.1f ms, store %.1f ms"
      % (n, sum(1 for x in r if x["status"] == 0), sum(x["times_ms"]["fetch"] for x in r) / n,
         sum(x["times_ms"]["run"] for x in r) / n, sum(x["times_ms"]["store"] for x in r) / n))
EOF
done
