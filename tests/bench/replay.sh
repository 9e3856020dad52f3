#!/usr/bin/env bash
# Benchmark of the local replay (issue 4), medians of RUNS (5) runs, ratios printed
# side by side with the baseline measured in the same script:
#   zlib, its own ./configure + make, and CMake + Ninja:
#     - cold replay (empty results cache) `gg build -j2` vs plain `make -j2` / `ninja`;
#     - warm replay (outputs deleted, everything cached) vs plain make, and vs
#       ccache's warm rebuild (CC="ccache gcc" after make clean);
#     - no-op `gg build` on an up-to-date tree;
#   200 trivial thunks (`echo N > outN`) in the level-1 sandbox: per-thunk overhead.
# Prints numbers, asserts nothing.
set -euo pipefail
TOP=$(pwd -P)
BUILD=${BUILD:-build}
GG=$TOP/$BUILD/bin/gg
RUNS=${RUNS:-5}
T=$(mktemp -d /tmp/gg-bench-replay.XXXXXX)
trap 'rm -rf "$T"' EXIT
unset LD_PRELOAD GG_TRACE_DIR GG_SHIM_OFF
export GG_DIR=$T/gg

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
now() { date +%s.%N; }
elapsed() { awk -v a="$(now)" -v b="$1" 'BEGIN { printf "%.4f\n", a - b }'; }
# tm CMD...: seconds CMD takes (its output discarded)
tm() { local t0; t0=$(now); "$@" >/dev/null 2>&1; elapsed "$t0"; }

delete_outputs() {
	"$GG" graph --json | python3 -c '
import json, os, sys
for t in json.load(sys.stdin)["thunks"]:
    for o in t["outputs"]:
        if os.path.lexists(o["path"]):
            os.remove(o["path"])'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }

report() { # NAME BASE_NAME BASE GG_NAME GG
	printf '  %-28s %7.3f s   %-26s %7.3f s   ratio %sx\n' "$2" "$3" "$4" "$5" "$(ratio "$5" "$3")"
}

bench_tree() { # NAME DIR BUILD_CMD...   (DIR holds a configured, unbuilt tree)
	local name=$1 dir=$2 pristine=$T/pristine-$1
	shift 2
	rm -rf "$GG_DIR" "$pristine"
	cp -a "$dir" "$pristine"
	(cd "$dir" && "$GG" record -- "$@" >/dev/null 2>&1 && "$GG" infer >/dev/null)
	local plain=() cold=() warm=() noop=()
	for _ in $(seq "$RUNS"); do
		rm -rf "$dir" && cp -a "$pristine" "$dir"
		plain+=("$(cd "$dir" && tm "$@")")
		rm -rf "$dir" && cp -a "$pristine" "$dir"
		rm -rf "$GG_DIR/cache"
		cold+=("$(cd "$dir" && tm "$GG" build -j2)")
		(cd "$dir" && delete_outputs)
		warm+=("$(cd "$dir" && tm "$GG" build -j2)")
		noop+=("$(cd "$dir" && tm "$GG" build)")
	done
	local p c w n
	p=$(printf '%s\n' "${plain[@]}" | median)
	c=$(printf '%s\n' "${cold[@]}" | median)
	w=$(printf '%s\n' "${warm[@]}" | median)
	n=$(printf '%s\n' "${noop[@]}" | median)
	echo "$name"
	report "$name" "plain $*" "$p" "gg build -j2, cold cache" "$c"
	report "$name" "plain $*" "$p" "gg build -j2, warm cache" "$w"
	printf '  %-28s %7.1f ms\n' "no-op gg build" "$(awk -v n="$n" 'BEGIN { print n * 1000 }')"
	WARM_RATIO=$(ratio "$w" "$p")
}

mkdir -p "$T/src"
"$TOP/scripts/corpus.sh" zlib "$T/src/zlib" >/dev/null

# zlib, its own configure + make
cp -a "$T/src/zlib" "$T/zmake"
(cd "$T/zmake" && ./configure >/dev/null)
bench_tree "zlib (configure + make -j2)" "$T/zmake" make -j2

# ccache's warm rebuild of the same tree, for comparison
if command -v ccache >/dev/null; then
	export CCACHE_DIR=$T/ccache
	cp -a "$T/src/zlib" "$T/zcc"
	(cd "$T/zcc" && CC="ccache gcc" ./configure >/dev/null && make -j2 >/dev/null 2>&1)
	cc=()
	for _ in $(seq "$RUNS"); do
		(cd "$T/zcc" && make clean >/dev/null)
		cc+=("$(cd "$T/zcc" && tm make -j2)")
	done
	printf '  %-28s %7.3f s\n' "ccache warm rebuild (make)" "$(printf '%s\n' "${cc[@]}" | median)"
fi

# zlib, CMake + Ninja
mkdir -p "$T/zninja"
cp -a "$T/src/zlib" "$T/zninja/src"
cmake -S "$T/zninja/src" -B "$T/zninja/build" -G Ninja >/dev/null 2>&1
bench_tree "zlib (CMake + ninja -j2)" "$T/zninja/build" ninja -j2

# 200 trivial thunks
mkdir -p "$T/trivial"
{
	printf 'all:'
	for i in $(seq 200); do printf ' out%d' "$i"; done
	printf '\n'
	for i in $(seq 200); do printf 'out%d:\n\techo %d > out%d\n' "$i" "$i" "$i"; done
} >"$T/trivial/Makefile"
rm -rf "$GG_DIR"
(cd "$T/trivial" && "$GG" record -- make -j1 >/dev/null && "$GG" infer >/dev/null)
plain=()
ggr=()
for _ in $(seq "$RUNS"); do
	(cd "$T/trivial" && rm -f out*)
	plain+=("$(cd "$T/trivial" && tm make -j1)")
	(cd "$T/trivial" && rm -f out*)
	rm -rf "$GG_DIR/cache"
	ggr+=("$(cd "$T/trivial" && tm "$GG" build -j1)")
done
p=$(printf '%s\n' "${plain[@]}" | median)
g=$(printf '%s\n' "${ggr[@]}" | median)
echo "200 trivial thunks (echo N > outN), -j1"
report trivial "plain make -j1" "$p" "gg build -j1 (sandbox)" "$g"
printf '  %-28s %7.2f ms\n' "overhead per thunk" "$(awk -v g="$g" -v p="$p" 'BEGIN { print (g - p) * 1000 / 200 }')"
echo "targets: cold <= 1.10x, warm <= 0.05x, no-op <= 50 ms, <= 5 ms per thunk"
