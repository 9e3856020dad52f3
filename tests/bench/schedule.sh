#!/usr/bin/env bash
# Benchmark: scheduling overhead and memory for 100,000 thunks.  (1) The plan
# (runtime/build/plan.h) with a no-op engine over a synthetic graph of chains and
# fans, then the builder (build_run) over the same graph with the no-op engine as
# its engine, every node run and then every node a cache hit (tests/tools/schedbench);
# (2) a fully cached `gg build` of a 100,000-process synthetic recording
# (tests/tools/gentrace + `gg infer`, which records each thunk's result in the
# results cache).  Targets (issue 9): (1) <= 1 s and <= 300 MB, (2) <= 1 s.
# Prints numbers (each run, and the median of RUNS), asserts nothing.
#
#   BUILD=build-x tests/bench/schedule.sh        this tree's gg
#   OLD_GG=/tmp/gg-old/build/bin/gg ...          the same cached build with another
#                                                gg too, side by side (the code before
#                                                issue 9: git archive d36dc52, make)
#   SCHED_GG=0                                   skip (2); SCHED_PLAN=0 skip (1)
#                                                NODES, RUNS (default 3)
set -euo pipefail
TOP=$(pwd -P)
BUILD=${BUILD:-build}
GG=$TOP/$BUILD/bin/gg
GENTRACE=$TOP/$BUILD/tests/tools/gentrace
SCHEDBENCH=$TOP/$BUILD/tests/tools/schedbench
NODES=${NODES:-100000}
RUNS=${RUNS:-3}
unset LD_PRELOAD GG_DIR GG_TRACE_DIR

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

if [[ ${SCHED_PLAN:-1} != 0 ]]; then
	echo "== plan and builder + no-op engine, $NODES nodes"
	/usr/bin/time -f 'process: %e s wall, %M KB peak RSS' "$SCHEDBENCH" "$NODES" 64 2>&1
	echo "target: <= 1 s and <= 300 MB"
fi

if [[ ${SCHED_GG:-1} == 0 ]]; then
	exit 0
fi
T=$(mktemp -d /tmp/gg-bench-schedule.XXXXXX)
trap 'rm -rf "$T"' EXIT
# 100,000 processes: make and 99,999 commands (a trace directory holds at most
# 100,000 logs, STRLIST_MAX).
mkdir -p "$T/synth"
/usr/bin/time -f 'gentrace: %e s' "$GENTRACE" "$T/synth" "$NODES" $((NODES * 10))
(cd "$T/synth" && /usr/bin/time -f 'gg infer: %e s, %M KB peak RSS' "$GG" infer --stats | sed -n '3p')

# cached_builds LABEL GG DIR: RUNS fully cached builds in DIR, each run's figures and
# the medians (a build that fails is reported, and ends this part).
cached_builds() {
	local label=$1 gg=$2 dir=$3 run wall=() rss=() cpu=() line w r u s c
	echo "== gg build, fully cached: $label ($gg)"
	for ((run = 1; run <= RUNS; run++)); do
		if ! line=$(cd "$dir" && /usr/bin/time -f 'TIME %e %M %U %S' timeout 1800 "$gg" build -j2 2>&1 |
			tail -n 2 | tr '\n' ' '); then
			echo "run $run: failed: $line"
			return 0
		fi
		echo "run $run: ${line%%TIME*}"
		read -r w r u s <<<"${line##*TIME }"
		c=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')
		echo "run $run: $w s wall, $c s CPU (user + sys), $r KB peak RSS"
		wall+=("$w")
		rss+=("$r")
		cpu+=("$c")
	done
	echo "$label: median $(printf '%s\n' "${wall[@]}" | median) s wall," \
		"$(printf '%s\n' "${cpu[@]}" | median) s CPU, $(printf '%s\n' "${rss[@]}" | median) KB peak RSS"
}
cached_builds "this tree" "$GG" "$T/synth"
if [[ -n ${OLD_GG:-} ]]; then
	# its own copy of the recording, inferred and built once by the older gg (the
	# .gg formats differ)
	cp -a "$T/synth" "$T/old"
	find "$T/old/.gg" -mindepth 1 -maxdepth 1 ! -name trace -exec rm -rf {} +
	(cd "$T/old" && "$OLD_GG" infer >/dev/null && timeout 1800 "$OLD_GG" build -j2 >/dev/null 2>&1) ||
		echo "before issue 9: its infer or first build failed"
	cached_builds "before issue 9" "$OLD_GG" "$T/old"
else
	# Measured once (build.c before issue 9, 2 shared cores): 44.0 to 83.3 s and
	# 1,506 to 1,553 MB peak RSS for 99,999 cached thunks.  OLD_GG measures it again.
	echo "before issue 9: not measured (set OLD_GG); it took 44 to 83 s and 1.5 GB"
fi
echo "target: <= 1 s"
