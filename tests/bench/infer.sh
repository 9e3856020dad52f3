#!/usr/bin/env bash
# Benchmark: `gg infer` time and peak memory on a synthetic recording of 10,000
# processes and 200,000 file events (one segment, as the shim writes it), and on a
# real one (zlib, CMake + Ninja).
# Targets (issue 13): cold <= 1.0 s, warm <= 0.3 s, <= 100 MB for 10,000 processes
# (issue 3's were 2 s and 200 MB).  Prints numbers,
# asserts nothing.  Medians of 5 runs (the first warms the store and stat cache,
# the "cold" figure removes both before each run).
set -euo pipefail
TOP=$(pwd -P)
BUILD=${BUILD:-build}
GG=$TOP/$BUILD/bin/gg
GENTRACE=$TOP/$BUILD/tests/tools/gentrace
RUNS=${RUNS:-5}
T=$(mktemp -d /tmp/gg-bench-infer.XXXXXX)
trap 'rm -rf "$T"' EXIT
unset LD_PRELOAD GG_DIR GG_TRACE_DIR

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# time_infer DIR COLD: prints "seconds maxrss_kb" of one `gg infer`
time_infer() {
	local dir=$1 cold=$2
	if [[ $cold == 1 ]]; then rm -rf "$dir/.gg/blobs" "$dir/.gg/statcache" "$dir/.gg/tmp" "$dir/.gg/thunks.pack" "$dir/.gg/packs" "$dir/.gg/graph"; fi
	(cd "$dir" && /usr/bin/time -f '%e %M' "$GG" infer 2>&1 >/dev/null | tail -n 1)
}

report() {
	local name=$1 dir=$2 cold warm
	cold=$(for _ in $(seq "$RUNS"); do time_infer "$dir" 1; done)
	warm=$(for _ in $(seq "$RUNS"); do time_infer "$dir" 0; done)
	printf '%-34s cold %6.3f s %6.1f MB   warm %6.3f s %6.1f MB\n' "$name" \
		"$(awk '{print $1}' <<<"$cold" | median)" \
		"$(awk '{print $2/1024}' <<<"$cold" | median)" \
		"$(awk '{print $1}' <<<"$warm" | median)" \
		"$(awk '{print $2/1024}' <<<"$warm" | median)"
}

mkdir -p "$T/synth"
"$GENTRACE" "$T/synth" 10000 200000
(cd "$T/synth" && "$GG" trace summary | head -n 3)
report "synthetic: 10,000 processes" "$T/synth"

mkdir -p "$T/zlib"
"$TOP/scripts/corpus.sh" zlib "$T/zlib/src" >/dev/null
cmake -S "$T/zlib/src" -B "$T/zlib/build" -G Ninja >/dev/null
(cd "$T/zlib/build" && "$GG" record -- ninja -j2 >/dev/null)
(cd "$T/zlib/build" && "$GG" infer --stats | sed -n '1,3p')
report "zlib (CMake + Ninja)" "$T/zlib/build"
echo "targets: cold <= 1.0 s, warm <= 0.3 s, <= 100 MB for 10,000 processes"
