#!/usr/bin/env bash
# Benchmark: `gg audit` on a recorded zlib build (CMake + Ninja): the whole summary
# (edges against ninja's graph, system files by package, compile commands) and each
# report alone.  Target (issue 5): under 1 s, except the first `dpkg -S` lookup,
# which is timed on its own (the package cache is removed before it).  Prints
# numbers, asserts nothing.  Medians of RUNS runs.
set -euo pipefail
TOP=$(pwd -P)
BUILD=${BUILD:-build}
GG=$TOP/$BUILD/bin/gg
RUNS=${RUNS:-5}
T=$(mktemp -d /tmp/gg-bench-audit.XXXXXX)
trap 'rm -rf "$T"' EXIT
unset LD_PRELOAD GG_DIR GG_TRACE_DIR

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# secs DIR CMD...: wall seconds of one run (exit status ignored: edges may fail)
secs() {
	local dir=$1 s e
	shift
	s=$(date +%s.%N)
	(cd "$dir" && "$@" >/dev/null 2>&1) || true
	e=$(date +%s.%N)
	awk -v s="$s" -v e="$e" 'BEGIN {printf "%.3f\n", e - s}'
}

report() {
	local name=$1 dir=$2
	shift 2
	printf '%-36s %6.3f s\n' "$name" \
		"$(for _ in $(seq "$RUNS"); do secs "$dir" "$@"; done | median)"
}

"$TOP/scripts/corpus.sh" zlib "$T/zlib" >/dev/null
cmake -S "$T/zlib" -B "$T/zlib/build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null 2>&1
b=$T/zlib/build
(cd "$b" && "$GG" record -- ninja -j2 >/dev/null && "$GG" infer)

rm -f "$b/.gg/dpkg-cache"
printf '%-36s %6.3f s\n' "first dpkg lookup (gg audit system)" "$(secs "$b" "$GG" audit system)"
report "gg audit (summary of all)" "$b" "$GG" audit
report "gg audit edges" "$b" "$GG" audit edges
report "gg audit system" "$b" "$GG" audit system
report "gg audit compile-commands" "$b" "$GG" audit compile-commands
report "gg audit why libz.a" "$b" "$GG" audit why libz.a
report "gg audit local-only" "$b" "$GG" audit local-only
echo "target: gg audit under 1 s, except the first dpkg lookup"
