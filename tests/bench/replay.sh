#!/usr/bin/env bash
# Benchmark of the local replay (issues 4 and 13), medians of RUNS (5) runs, ratios
# printed side by side with the baseline measured in the same script, in wall time
# and in CPU time (user + system of the whole process tree: on a shared, loaded
# machine the CPU ratio is the steadier one; the load average is printed):
#   zlib, its own ./configure + make, and CMake + Ninja:
#     - cold replay `gg build -j2 --no-cache` (results cache emptied too) vs plain
#       `make -j2` / `ninja -j2`;
#     - warm replay (outputs deleted, everything cached) vs plain make, and vs
#       ccache's warm rebuild (CC="ccache gcc" after make clean);
#     - no-op `gg build` on an up-to-date tree;
#   200 trivial thunks (`echo N > outN`) in the level-1 sandbox: per-thunk overhead.
# Targets (issue 13): cold <= 1.10x (CMake + Ninja), <= 1.05x (configure + make),
# warm <= 0.02x, no-op <= 30 ms, <= 3 ms per trivial thunk.
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
# tm CMD...: "WALL CPU" seconds CMD takes, CPU = user + system of it and its children
# (its output discarded)
tm() {
	local TIMEFORMAT='%R %U %S' out
	out=$({ time "$@" >/dev/null 2>&1; } 2>&1)
	awk '{ printf "%.4f %.4f\n", $1, $2 + $3 }' <<<"$out"
}
# col N: the Nth field of every line
col() { awk -v n="$1" '{ print $n }'; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

delete_outputs() {
	"$GG" graph --json | python3 -c '
import json, os, sys
for t in json.load(sys.stdin)["thunks"]:
    for o in t["outputs"]:
        if os.path.lexists(o["path"]):
            os.remove(o["path"])'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }

report() { # NAME BASE_NAME BASE_WALL BASE_CPU GG_NAME GG_WALL GG_CPU
	printf '  %-22s %7.3f s (cpu %7.3f)   %-26s %7.3f s (cpu %7.3f)   ratio %sx (cpu %sx)\n' \
		"$2" "$3" "$4" "$5" "$6" "$7" "$(ratio "$6" "$3")" "$(ratio "$7" "$4")"
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
		cold+=("$(cd "$dir" && tm "$GG" build -j2 --no-cache)")
		(cd "$dir" && delete_outputs)
		warm+=("$(cd "$dir" && tm "$GG" build -j2)")
		noop+=("$(cd "$dir" && tm "$GG" build)")
	done
	local p pc c cc w wc n
	p=$(printf '%s\n' "${plain[@]}" | col 1 | median)
	pc=$(printf '%s\n' "${plain[@]}" | col 2 | median)
	c=$(printf '%s\n' "${cold[@]}" | col 1 | median)
	cc=$(printf '%s\n' "${cold[@]}" | col 2 | median)
	w=$(printf '%s\n' "${warm[@]}" | col 1 | median)
	wc=$(printf '%s\n' "${warm[@]}" | col 2 | median)
	n=$(printf '%s\n' "${noop[@]}" | col 1 | median)
	echo "$name (load $(load))"
	report "$name" "plain $*" "$p" "$pc" "gg build --no-cache" "$c" "$cc"
	report "$name" "plain $*" "$p" "$pc" "gg build, warm cache" "$w" "$wc"
	printf '  %-22s %7.1f ms\n' "no-op gg build" "$(awk -v n="$n" 'BEGIN { print n * 1000 }')"
}

echo "replay benchmark, $RUNS runs each, $(nproc) cores, load $(load)"
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
	printf '  %-22s %7.3f s (cpu %7.3f)\n' "ccache warm rebuild" \
		"$(printf '%s\n' "${cc[@]}" | col 1 | median)" "$(printf '%s\n' "${cc[@]}" | col 2 | median)"
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
	ggr+=("$(cd "$T/trivial" && tm "$GG" build -j1 --no-cache)")
done
p=$(printf '%s\n' "${plain[@]}" | col 1 | median)
pc=$(printf '%s\n' "${plain[@]}" | col 2 | median)
g=$(printf '%s\n' "${ggr[@]}" | col 1 | median)
gc=$(printf '%s\n' "${ggr[@]}" | col 2 | median)
echo "200 trivial thunks (echo N > outN), -j1 (load $(load))"
report trivial "plain make -j1" "$p" "$pc" "gg build -j1 --no-cache" "$g" "$gc"
printf '  %-22s %7.2f ms (cpu %.2f ms)\n' "overhead per thunk" \
	"$(awk -v g="$g" -v p="$p" 'BEGIN { print (g - p) * 1000 / 200 }')" \
	"$(awk -v g="$gc" -v p="$pc" 'BEGIN { print (g - p) * 1000 / 200 }')"
echo "targets: cold <= 1.10x (CMake + Ninja), <= 1.05x (configure + make), warm <= 0.02x, no-op <= 30 ms, <= 3 ms per thunk"
