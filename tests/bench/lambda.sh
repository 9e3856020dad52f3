#!/usr/bin/env bash
# Benchmark of the lambda engine's client side (issue 12), against the emulator
# (tests/fixtures/lambda_emu.py: one Python asyncio process that checks every
# SigV4 signature, on the same cores as the client, so it caps what is measured):
#   1. throughput: NOOP_N (3,000) no-op invocations with -j NOOP_J (128) kept-alive
#      connections: invocations per second and the client's CPU per invocation
#      (targets: >= 1,000/s, <= 0.5 ms);
#   2. fan-out: WIDE_N (2,000) invocations at once (-j WIDE_N), each answered after
#      WIDE_DELAY_MS (2,000) ms: the client's peak RSS, its threads (no thread per
#      invocation: 1 expected), the wall time until all are answered (targets:
#      <= 200 MB, <= 2.5 s), and the emulator's own CPU in that time (when it is
#      near the wall time, the stand-in is the limit, not the client).
# Driven by tests/tools/lambda_drive (the engine as the builder drives it).  Prints
# numbers, asserts nothing.
set -euo pipefail
TOP=$(pwd -P)
BUILD=${BUILD:-build}
case "$BUILD" in
/*) DRIVE=$BUILD/tests/tools/lambda_drive ;;
*) DRIVE=$TOP/$BUILD/tests/tools/lambda_drive ;;
esac
NOOP_N=${NOOP_N:-3000}
NOOP_J=${NOOP_J:-128}
WIDE_N=${WIDE_N:-2000}
WIDE_DELAY_MS=${WIDE_DELAY_MS:-2000}

T=$(mktemp -d /tmp/gg-bench-lambda.XXXXXX)
trap 'rm -rf "$T"' EXIT
unset LD_PRELOAD GG_TRACE_DIR GG_SHIM_OFF GG_REMOTE GG_LAMBDA_FUNCTION
. "$TOP/tests/fixtures/lambda_emu.sh"
lambda_emu_env
lambda_emu_start "$T/emu" --concurrency $((WIDE_N + 100)) # chains its stop before the trap

# field LINE NAME: the value after NAME in lambda_drive's summary line
field() { awk -v k="$2" '{for (i = 1; i < NF; i++) if ($i == k) print $(i + 1)}' <<<"$1"; }
# calc EXPR: floating-point arithmetic
calc() { awk "BEGIN { print $1 }"; }
# emu_cpu: the emulator's CPU seconds so far (utime + stime)
emu_cpu() { awk '{printf "%.2f\n", ($14 + $15) / 100}' "/proc/$LAMBDA_EMU_PID/stat"; }

echo "lambda engine against the emulator (no-op function), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"

"$DRIVE" --ggdir "$T/gg" --jobs 200 --slots "$NOOP_J" --quiet >/dev/null # warm-up
out=$("$DRIVE" --ggdir "$T/gg" --jobs "$NOOP_N" --slots "$NOOP_J" --quiet | head -n 1)
wall=$(field "$out" wall_ms)
printf 'throughput: %d invocations, -j %d: %.0f invocations/s, client CPU %.3f ms each (%d failed)\n' \
	"$NOOP_N" "$NOOP_J" "$(calc "$NOOP_N * 1000 / $wall")" \
	"$(calc "$(field "$out" cpu_us_per_job) / 1000")" "$(field "$out" failed)"

lambda_emu_ctl /_emu/config "{\"delay_ms\": $WIDE_DELAY_MS}" >/dev/null
c0=$(emu_cpu)
out=$("$DRIVE" --ggdir "$T/gg" --jobs "$WIDE_N" --slots "$WIDE_N" --quiet)
c1=$(emu_cpu)
sum=$(head -n 1 <<<"$out")
stats=$(tail -n 1 <<<"$out")
printf 'fan-out: %d invocations at once, each answered after %d ms: all answered in %.2f s, client RSS %.1f MB, %d thread(s), client CPU %.0f ms, %d in flight at most, %d failed; emulator CPU %.2f s\n' \
	"$WIDE_N" "$WIDE_DELAY_MS" "$(calc "$(field "$sum" wall_ms) / 1000")" \
	"$(field "$sum" rss_mb)" "$(field "$sum" threads_max)" "$(field "$sum" cpu_ms)" \
	"$(field "$stats" max_in_flight)" "$(field "$sum" failed)" "$(calc "$c1 - $c0")"
