#!/usr/bin/env bash
# Benchmark of the lambda engine (issue 12, "Speed and scale"), on this machine's
# loopback, so every stand-in shares the client's cores (the load average is printed):
#   1. throughput: NOOP_N (3,000) no-op invocations with -j NOOP_J (128) kept-alive
#      connections against the emulator (tests/fixtures/lambda_emu.py, Python, every
#      SigV4 signature checked): invocations per second and the client's CPU per
#      invocation (targets: >= 1,000/s, <= 0.5 ms);
#   2. fan-out: WIDE_N (2,000) invocations at once (-j WIDE_N, the account's limits
#      raised to match: concurrency=WIDE_N,burst=WIDE_N), each answered WIDE_DELAY_MS
#      (2,000) ms after the stand-in read it: the client's peak RSS, its threads (no
#      thread per invocation: 1 expected), the wall time until all are answered
#      (targets: <= 200 MB, <= 2.5 s).  Against tests/tools/lambda_sleepd (C, one
#      epoll loop, SigV4 checked), with where the time went: from the client's start
#      to the first request read, the spread of the arrivals (the client's launch
#      rate), and after the last answer was due; then against the emulator, whose
#      own CPU is printed (near the wall time: the stand-in is the limit);
#   3. makespan: `gg build --engine lambda --no-cache -j 1000` of a synthetic graph
#      (tests/tools/lambda_graphgen: MK_N (20,000) thunks with recorded durations,
#      fans of compiles into chains of links, time-scaled by MK_SCALE percent) against
#      lambda_sleepd sleeping each thunk's duration with 1,000 concurrent
#      environments (429 past them), 1% of the invocations made 10x slower on purpose,
#      a losing twin ended when its worker would find its stop key (lambda_proto.h),
#      its S3 traffic answered from the client's store (the graph's thunks and
#      outputs packed, as `gg infer` leaves them) and from the blobs the engine
#      PUT (each launch's portable thunk): makespan / max(critical path,
#      total work / 1,000) (target <= 1.10), and makespan / the fan-in bound
#      (lambda_graphgen's fluid_ms: a group's links wait for all its compiles, which
#      puts the best possible makespan of the default graph 1.18x above the first
#      bound, before the stragglers' lost environment time), straggler relaunches, throttled
#      answers; then the same durations with the graph ordered longest path first
#      (lambda_graphgen --lpt: the order the plan follows with the recorded
#      durations as weights, so both builds should take about as long); then the
#      same thunks and durations in another shape (lambda_graphgen --shape=libs: a
#      group's k-th link needs only the k-th slice of its compiles and the link
#      before), where the chains overlap the compiles and issue 12's bound is
#      within a schedule's reach (its "fan-in bound" is that bound).
# Driven by tests/tools/lambda_drive (1, 2) and gg (3).  Prints numbers, asserts
# nothing.  WIDE_RUNS (3): fan-out runs against lambda_sleepd (each printed, and the
# median); MK=0 skips 3, MK_LPT=0 its second build, MK_LOG=FILE keeps lambda_sleepd's
# log of each makespan build's invocations (FILE, FILE--lpt, FILE--shape=libs),
# MK_LIBS=0 skips the libs shape, MK_GRAPH=0 the graph-order one, MK_PARAMS the lambda
# engine's parameters for them (e.g. straggler_pct=200: runtime/engine/lambda.h);
# MK_RUNS (3) builds of each shape (each printed, then the median: where the planted
# stragglers fall moves the makespan of one build by a second either way);
# MK_S3_MS (0) the stand-in's latency for each S3 request (20 to 30: a real bucket's);
# PARTS ("1 2 3") the parts to run, e.g. PARTS=3 for the makespan alone.
set -euo pipefail
TOP=$(pwd -P)
BUILD=${BUILD:-build}
case "$BUILD" in
/*) B=$BUILD ;;
*) B=$TOP/$BUILD ;;
esac
DRIVE=$B/tests/tools/lambda_drive
SLEEPD=$B/tests/tools/lambda_sleepd
GRAPHGEN=$B/tests/tools/lambda_graphgen
GG=$B/bin/gg
NOOP_N=${NOOP_N:-3000}
NOOP_J=${NOOP_J:-128}
WIDE_N=${WIDE_N:-2000}
WIDE_DELAY_MS=${WIDE_DELAY_MS:-2000}
WIDE_RUNS=${WIDE_RUNS:-3}
MK_N=${MK_N:-20000}
MK_SCALE=${MK_SCALE:-100}
MK_S3_MS=${MK_S3_MS:-0}
MK_RUNS=${MK_RUNS:-3}
PARTS=${PARTS:-1 2 3}
part() { [[ " $PARTS " == *" $1 "* ]]; }

T=$(mktemp -d /tmp/gg-bench-lambda.XXXXXX)
SLEEPD_PID=
stop_sleepd() {
	if [[ -n $SLEEPD_PID ]]; then
		kill "$SLEEPD_PID" 2>/dev/null || true
		wait "$SLEEPD_PID" 2>/dev/null || true
		SLEEPD_PID=
	fi
}
trap 'stop_sleepd; rm -rf "$T"' EXIT
unset LD_PRELOAD GG_TRACE_DIR GG_SHIM_OFF GG_REMOTE GG_LAMBDA_FUNCTION GG_DIR
unset GG_LAMBDA_CONCURRENCY GG_LAMBDA_BURST GG_LAMBDA_ENV_RATE
. "$TOP/tests/fixtures/lambda_emu.sh"
lambda_emu_env
lambda_emu_start "$T/emu" --concurrency $((WIDE_N + 100)) # chains its stop before the trap
EMU_ENDPOINT=$AWS_ENDPOINT_URL_LAMBDA

# field LINE NAME: the value after NAME in lambda_drive's summary line
field() { awk -v k="$2" '{for (i = 1; i < NF; i++) if ($i == k) print $(i + 1)}' <<<"$1"; }
# jfield JSON NAME: a number of lambda_sleepd's /_stats
jfield() { grep -oE "\"$2\":[0-9]+" <<<"$1" | grep -oE '[0-9]+$'; }
# calc EXPR: floating-point arithmetic
calc() { awk "BEGIN { print $1 }"; }
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
now_ms() { date +%s%3N; }
load() { cut -d' ' -f1 /proc/loadavg; }
# emu_cpu: the emulator's CPU seconds so far (utime + stime)
emu_cpu() { awk '{printf "%.2f\n", ($14 + $15) / 100}' "/proc/$LAMBDA_EMU_PID/stat"; }
# start_sleepd DIR ARGS...: lambda_sleepd on a free port; SLEEPD_URL
start_sleepd() {
	local dir=$1 i
	shift
	mkdir -p "$dir"
	rm -f "$dir/port" # (a run before this one's)
	"$SLEEPD" --port-file "$dir/port" --parent $$ "$@" 2>"$dir/err" &
	SLEEPD_PID=$!
	for ((i = 0; i < 100; i++)); do
		[[ -s $dir/port ]] && break
		sleep 0.05
	done
	SLEEPD_URL=$(cat "$dir/port")
}

echo "lambda engine benchmark, $(nproc) cores, load $(load)"

# ---- 1. throughput -------------------------------------------------------------------
if part 1; then
"$DRIVE" --ggdir "$T/gg" --jobs 200 --slots "$NOOP_J" --quiet >/dev/null # warm-up
out=$("$DRIVE" --ggdir "$T/gg" --jobs "$NOOP_N" --slots "$NOOP_J" --quiet | head -n 1)
wall=$(field "$out" wall_ms)
printf 'throughput: %d invocations, -j %d: %.0f invocations/s, client CPU %.3f ms each (%d failed; load %s)\n' \
	"$NOOP_N" "$NOOP_J" "$(calc "$NOOP_N * 1000 / $wall")" \
	"$(calc "$(field "$out" cpu_us_per_job) / 1000")" "$(field "$out" failed)" "$(load)"
fi

# ---- 2. fan-out ------------------------------------------------------------------------
if part 2; then
limits="concurrency=$WIDE_N,burst=$WIDE_N"
start_sleepd "$T/sleepd" --delay-ms "$WIDE_DELAY_MS"
walls=()
for ((r = 1; r <= WIDE_RUNS; r++)); do
	curl -sS -X POST "$SLEEPD_URL/_reset" >/dev/null
	s0=$(curl -sS "$SLEEPD_URL/_stats")
	t0=$(now_ms)
	out=$(AWS_ENDPOINT_URL_LAMBDA=$SLEEPD_URL "$DRIVE" --ggdir "$T/gg" --jobs "$WIDE_N" \
		--slots "$WIDE_N" --params "$limits" --quiet)
	t1=$(now_ms)
	st=$(curl -sS "$SLEEPD_URL/_stats")
	sum=$(head -n 1 <<<"$out")
	w=$(calc "$(field "$sum" wall_ms) / 1000")
	walls+=("$w")
	first=$(jfield "$st" first_rx_ms)
	last=$(jfield "$st" last_rx_ms)
	printf 'fan-out (lambda_sleepd) #%d: %d invocations at once, each answered %d ms after it was read: all answered in %.2f s; client RSS %.1f MB, %d thread(s), CPU %.0f ms (%.3f ms each), %d failed, %d bad signatures; client start -> first request read %d ms, arrivals spread over %d ms, last answer due -> client done %d ms; stand-in CPU %d ms; load %s\n' \
		"$r" "$WIDE_N" "$WIDE_DELAY_MS" "$w" "$(field "$sum" rss_mb)" "$(field "$sum" threads_max)" \
		"$(field "$sum" cpu_ms)" "$(calc "$(field "$sum" cpu_us_per_job) / 1000")" "$(field "$sum" failed)" \
		"$(jfield "$st" bad_signatures)" "$((first - t0))" "$((last - first))" \
		"$((t1 - last - WIDE_DELAY_MS))" "$(($(jfield "$st" cpu_ms) - $(jfield "$s0" cpu_ms)))" "$(load)"
done
printf 'fan-out (lambda_sleepd): median of %d runs: all answered in %.2f s\n' "$WIDE_RUNS" \
	"$(printf '%s\n' "${walls[@]}" | median)"
stop_sleepd

lambda_emu_ctl /_emu/config "{\"delay_ms\": $WIDE_DELAY_MS}" >/dev/null
c0=$(emu_cpu)
out=$(AWS_ENDPOINT_URL_LAMBDA=$EMU_ENDPOINT "$DRIVE" --ggdir "$T/gg" --jobs "$WIDE_N" --slots "$WIDE_N" \
	--params "$limits" --quiet)
c1=$(emu_cpu)
sum=$(head -n 1 <<<"$out")
stats=$(tail -n 1 <<<"$out")
printf 'fan-out (emulator): %d invocations at once, each answered after %d ms: all answered in %.2f s, client RSS %.1f MB, %d thread(s), client CPU %.0f ms, %d in flight at most, %d failed; emulator CPU %.2f s; load %s\n' \
	"$WIDE_N" "$WIDE_DELAY_MS" "$(calc "$(field "$sum" wall_ms) / 1000")" \
	"$(field "$sum" rss_mb)" "$(field "$sum" threads_max)" "$(field "$sum" cpu_ms)" \
	"$(field "$stats" max_in_flight)" "$(field "$sum" failed)" "$(calc "$c1 - $c0")" "$(load)"
fi

# ---- 3. makespan -----------------------------------------------------------------------
{ [[ ${MK:-1} == 0 ]] || ! part 3; } && exit 0
# makespan LABEL [--lpt]: one gg build of a fresh synthetic graph
makespan() {
	local label=$1 mk=$T/mk${2:-} gen bound fluid tight st lline cpu relaunches l0 t0 t1
	shift
	((MK_S3_MS > 0)) && label="$label, S3 answers after $MK_S3_MS ms"
	gen=$("$GRAPHGEN" "$@" "$mk" "$MK_N" "$MK_SCALE")
	bound=$(field "$gen" bound_ms)
	fluid=$(field "$gen" fluid_ms)
	tight=$((fluid > bound ? fluid : bound))
	start_sleepd "$T/sleepd-mk$*" --ggdir "$mk/.gg" --concurrency 1000 --straggle-every 100 \
		--straggle-factor 10 --s3-ms "$MK_S3_MS" ${MK_LOG:+--log "$MK_LOG${1:-}"}
	l0=$(load)
	t0=$(now_ms)
	if ! (cd "$mk" && AWS_ENDPOINT_URL_LAMBDA=$SLEEPD_URL AWS_ENDPOINT_URL_S3=$SLEEPD_URL \
		GG_DIR=$mk/.gg /usr/bin/time -f 'client_cpu_s %U %S rss_kb %M' "$GG" build \
		--engine "lambda${MK_PARAMS:+:$MK_PARAMS}" --remote s3://bench/gg --remote-read-only \
		--no-cache -j 1000 \
		>"$T/mk.out" 2>"$T/mk.err"); then
		echo "makespan ($label): gg build failed:"
		tail -n 5 "$T/mk.out" "$T/mk.err"
		stop_sleepd
		return 0
	fi
	t1=$(now_ms)
	st=$(curl -sS "$SLEEPD_URL/_stats")
	stop_sleepd
	lline=$(grep '^gg: lambda:' "$T/mk.out" || true)
	cpu=$(grep client_cpu_s "$T/mk.err" || true)
	relaunches=$(grep -oE '[0-9]+ straggler relaunches \([0-9]+ backups' <<<"$lline" |
		sed -E 's/ straggler relaunches \(([0-9]+) backups/ straggler relaunches (\1 of them backups in the tail/' ||
		echo '? straggler relaunches (')
	printf 'makespan (%s): %d thunks, -j 1000 against 1,000 environments, %d stragglers planted (10x): makespan %.1f s, bound %.1f s (critical path %.1f s, work / 1,000 %.1f s): ratio %.2f; against the fan-in bound %.1f s (lambda_graphgen: no schedule beats it): %.2f; %s, %d losing twins stopped by their stop key), %d throttled answers, %d invocations; client CPU %.1f s user + %.1f s system, RSS %.0f MB; load %s at the start, %s at the end\n' \
		"$label" "$MK_N" "$(jfield "$st" stragglers)" \
		"$(calc "($t1 - $t0) / 1000")" "$(calc "$bound / 1000")" \
		"$(calc "$(field "$gen" critical_ms) / 1000")" "$(calc "$(field "$gen" work_ms) / 1000000")" \
		"$(calc "($t1 - $t0) / $bound")" "$(calc "$tight / 1000")" "$(calc "($t1 - $t0) / $tight")" \
		"$relaunches" "$(jfield "$st" stopped)" "$(jfield "$st" throttled)" \
		"$(jfield "$st" invocations)" "$(field "$cpu" client_cpu_s)" \
		"$(awk '{print $3}' <<<"$cpu")" "$(calc "$(field "$cpu" rss_kb) / 1024")" "$l0" "$(load)"
	MK_RATIOS+=("$(calc "($t1 - $t0) / $bound")")
	MK_WALLS+=("$(calc "($t1 - $t0) / 1000")")
	rm -rf "$mk"
}
# makespans LABEL [ARGS...]: MK_RUNS builds of makespan LABEL ARGS, then their median
makespans() {
	local r
	MK_RATIOS=()
	MK_WALLS=()
	for ((r = 1; r <= MK_RUNS; r++)); do
		makespan "$@"
	done
	((MK_RUNS > 1 && ${#MK_RATIOS[@]} > 0)) || return 0
	printf 'makespan (%s): median of %d runs: %.1f s, ratio %.2f (each: %s)\n' "$1" \
		"${#MK_RATIOS[@]}" "$(printf '%s\n' "${MK_WALLS[@]}" | median)" \
		"$(printf '%s\n' "${MK_RATIOS[@]}" | median)" "${MK_RATIOS[*]}"
}
[[ ${MK_GRAPH:-1} == 0 ]] || makespans "graph order"
# the same durations, the graph ordered longest path first: what the plan does with
# the durations as weights (a check that it does)
[[ ${MK_LPT:-1} == 0 ]] || makespans "longest first" --lpt
# another shape of the same thunks: the links need only their slice of the compiles
[[ ${MK_LIBS:-1} == 0 ]] || makespans "libs shape" --shape=libs
