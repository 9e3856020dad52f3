#!/usr/bin/env bash
# Measures what recording costs: zlib's `make -j2` plain, under `gg record` and under
# bear (5 alternating runs each, median wall time), and the per-exec overhead of
# the shim on 500 runs of /bin/true.  Prints numbers; asserts nothing.
set -euo pipefail
. tests/e2e/lib.sh
e2e_init

runs=${GG_BENCH_RUNS:-5}
execs=500

# now: wall clock in seconds, microsecond resolution.
now() {
	echo "$EPOCHREALTIME"
}

# timed VAR CMD...: run CMD quietly, append its wall time in seconds to array VAR.
timed() {
	local -n acc=$1
	local t0 t1
	shift
	t0=$(now)
	"$@" >"$T/last.log" 2>&1 || { echo "bench: failed: $*" >&2; tail -n 20 "$T/last.log" >&2; exit 1; }
	t1=$(now)
	acc+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')")
}

median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'
}

corpus zlib "$T/zlib"
cd "$T/zlib"
./configure >/dev/null

plain=() gg=() bear=()
build_plain() { make -j2; }
build_gg() { "$GG" record --trace-dir "$T/trace" -- make -j2; }
build_bear() { bear --output "$T/compile_commands.json" -- make -j2; }
echo "# zlib 1.2.13, ./configure && make -j2, $runs runs of each, alternating"
for ((i = 1; i <= runs; i++)); do
	for mode in plain gg bear; do
		make clean >/dev/null
		timed "$mode" "build_$mode"
	done
done
mp=$(median "${plain[@]}")
mg=$(median "${gg[@]}")
mb=$(median "${bear[@]}")
printf '%-22s median %7.3f s  (runs: %s)\n' "plain make -j2" "$mp" "${plain[*]}"
printf '%-22s median %7.3f s  (runs: %s)  ratio %sx\n' "gg record" "$mg" "${gg[*]}" "$(ratio "$mg" "$mp")"
printf '%-22s median %7.3f s  (runs: %s)  ratio %sx\n' "bear" "$mb" "${bear[*]}" "$(ratio "$mb" "$mp")"
echo "# trace of the last gg run: $(find "$T/trace" -name '*.ggt' | wc -l) logs, $(du -sh "$T/trace" | cut -f1)"

loop="for i in \$(seq $execs); do /bin/true; done"
t_plain=() t_shim=() t_bear=()
loop_plain() { bash -c "$loop"; }
loop_shim() {
	rm -rf "$T/ttrace" && mkdir "$T/ttrace"
	GG_TRACE_DIR=$T/ttrace LD_PRELOAD=$SHIM bash -c "$loop"
}
loop_bear() { bear --output "$T/true.json" -- bash -c "$loop"; }
echo
echo "# $execs x /bin/true from a bash loop, $runs runs of each, alternating"
for ((i = 1; i <= runs; i++)); do
	timed t_plain loop_plain
	timed t_shim loop_shim
	timed t_bear loop_bear
done
mp=$(median "${t_plain[@]}")
ms=$(median "${t_shim[@]}")
mb=$(median "${t_bear[@]}")
per_exec() {
	awk -v a="$1" -v b="$2" -v n="$execs" 'BEGIN { printf "%.3f", (a - b) * 1000 / n }'
}
printf '%-22s median %7.3f s\n' "plain" "$mp"
printf '%-22s median %7.3f s  overhead %s ms per exec\n' "LD_PRELOAD shim" "$ms" "$(per_exec "$ms" "$mp")"
printf '%-22s median %7.3f s  overhead %s ms per exec\n' "bear" "$mb" "$(per_exec "$mb" "$mp")"
echo "# logs written by the last shim run: $(find "$T/ttrace" -name '*.ggt' | wc -l)"
