#!/usr/bin/env bash
# tests/run.sh [NAME...] - run every test suite and count the results.
#
# Suites: each unit test binary $BUILD/tests/unit/test_* (cmocka, run with
# CMOCKA_MESSAGE_OUTPUT=TAP: each `ok` / `not ok` line counts) and each end-to-end
# script tests/e2e/*.sh (each `ok - ` / `not ok - ` line counts).  A suite that
# exits non-zero without a `not ok` line counts as one failure, and a suite that
# crashes (killed by a signal) or times out counts one more.  With NAMEs, only the suites whose name contains one of
# them run (e.g. `tests/run.sh trace_enc hello`).
#
# Prints one progress line per suite, the log of every failing suite, and ends
# with exactly one line `N passed, N failed`.  Exits 1 if a test failed or if no
# test ran.  Environment: BUILD (build directory, default build), GG_SUITE_TIMEOUT
# (seconds per suite, default 600), GG_KEEP=1 keeps the logs, GG_TEST_JOBS (suites
# run at once, default 2: an e2e suite spends much of its time in serial steps such
# as configure scripts, so two keep two cores busy; 1 runs them one after another).
set -euo pipefail

cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export BUILD
timeout_s=${GG_SUITE_TIMEOUT:-600}
jobs=${GG_TEST_JOBS:-2}
filters=("$@")

logs=$(mktemp -d "${TMPDIR:-/tmp}/gg-tests.XXXXXX")
cleanup() {
	if [[ "${GG_KEEP:-}" == 1 ]]; then
		echo "logs kept in $logs"
	else
		rm -rf "$logs"
	fi
}
trap cleanup EXIT

passed=0
failed=0
suites=0
failed_suites=()

selected() {
	local name=$1 f
	((${#filters[@]} == 0)) && return 0
	for f in "${filters[@]}"; do
		[[ "$name" == *"$f"* ]] && return 0
	done
	return 1
}

# run_suite KIND NAME OK_RE NOTOK_RE CMD...: run one suite, its output in a log,
# print its line and leave its counts in a .result file beside the log.
run_suite() {
	local kind=$1 name=$2 ok_re=$3 notok_re=$4 log rc=0 ok notok start secs status
	shift 4
	log=$logs/$kind-$name.log
	start=$SECONDS
	# The subshell keeps bash's "Aborted"-style job notices out of the output.
	(timeout -k 10 "$timeout_s" "$@" </dev/null >"$log" 2>&1; exit $?) 2>/dev/null || rc=$?
	secs=$((SECONDS - start))
	ok=$(grep -cE "$ok_re" "$log" || true)
	notok=$(grep -cE "$notok_re" "$log" || true)
	# A timeout or a crash is one more failure: the tests after it did not run.
	if ((rc == 124 || rc == 137)); then
		echo "[run.sh: timed out after ${timeout_s}s]" >>"$log"
		notok=$((notok + 1))
	elif ((rc > 128)); then
		echo "[run.sh: killed by signal $((rc - 128))]" >>"$log"
		notok=$((notok + 1))
	elif ((rc != 0 && notok == 0)); then
		echo "[run.sh: exited with status $rc without a 'not ok' line]" >>"$log"
		notok=1
	fi
	if ((notok > 0)); then
		status=FAIL
	elif ((ok == 0)); then
		status="NO TESTS"
	else
		status=PASS
	fi
	echo "$ok $notok" >"$log.result"
	printf '%-9s %-40s %3d ok, %d not ok (%ds)\n' "$status" "$kind/$name" "$ok" "$notok" "$secs"
}

# start KIND NAME OK_RE NOTOK_RE CMD...: run_suite in the background, at most
# $jobs at once.
order=()
start() {
	while (($(jobs -rp | wc -l) >= jobs)); do
		wait -n || true
	done
	order+=("$logs/$1-$2.log")
	suites=$((suites + 1))
	run_suite "$@" &
}


# The longest suites first (a minute or more each, the rest less): with $jobs at
# a time, the run then ends with short suites, not with one long one started
# last.  (The GNU hello scripts are short once one of them has configured hello:
# tests/e2e/lib.sh, configure_cached; replay-isolated, early here, does it.)
slow=(replay-libtool replay-isolated replay-meson replay-lambda shim-entrypoints replay-faults
	s3-store shim-robustness)
scripts=()
for name in "${slow[@]}"; do
	[[ -f tests/e2e/$name.sh ]] && scripts+=("tests/e2e/$name.sh")
done
for script in tests/e2e/*.sh; do
	[[ " ${slow[*]} " == *" $(basename "$script" .sh) "* ]] || scripts+=("$script")
done
for script in "${scripts[@]}"; do
	[[ -f "$script" ]] || continue
	name=${script##*/}
	name=${name%.sh}
	[[ "$name" == lib ]] && continue
	selected "$name" || continue
	start e2e "$name" '^ok - ' '^not ok - ' bash "$script"
done
for bin in "$BUILD"/tests/unit/test_*; do
	[[ -f "$bin" && -x "$bin" ]] || continue
	name=${bin##*/}
	selected "$name" || continue
	# cmocka's TAP lines: "ok 1 - name", "not ok 2 - name".
	CMOCKA_MESSAGE_OUTPUT=TAP start unit "$name" '^ok [0-9]' '^not ok [0-9]' "$bin"
done
wait

for log in "${order[@]+"${order[@]}"}"; do
	read -r ok notok <"$log.result" || { ok=0; notok=1; }
	passed=$((passed + ok))
	failed=$((failed + notok))
	((notok > 0)) && failed_suites+=("$log")
done

for log in "${failed_suites[@]+"${failed_suites[@]}"}"; do
	echo
	echo "---- ${log##*/} ----"
	cat "$log"
done

if ((suites == 0 || passed + failed == 0)); then
	echo "no test ran (BUILD=$BUILD${filters[*]:+, filters: ${filters[*]}})"
	echo "$passed passed, $failed failed"
	exit 1
fi
echo "$passed passed, $failed failed"
((failed == 0))
