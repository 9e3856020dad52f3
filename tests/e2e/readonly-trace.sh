#!/usr/bin/env bash
# Proves that a build under the shim whose trace directory cannot be written still
# succeeds, unchanged (byte-identical artifacts), with exactly one warning: through
# `gg record --trace-dir RO` and through bare `GG_TRACE_DIR=RO LD_PRELOAD=libggshim.so`.
set -euo pipefail
. tests/e2e/lib.sh
e2e_init

src=$T/hello          # every build runs here: debug info embeds the path
pristine=$T/pristine
ro=$T/ro              # the trace directory, read-only inside the builds' mount namespace
artifacts=('./hello' './*.o' './lib/*.a')
mkdir "$ro"

# in_readonly_ns DIR CMD...: run CMD in a private mount namespace where DIR is a
# read-only bind mount of itself.  As root, chmod does not stop writes.
in_readonly_ns() {
	local ns=(unshare -m)
	((EUID == 0)) || ns=(unshare -rm)
	# shellcheck disable=SC2016 # $1 and $@ belong to the inner shell
	"${ns[@]}" sh -c 'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" && shift && exec "$@"' \
		sh "$@"
}

setup "fetch GNU hello" corpus hello "$src"
setup "./configure" configure_cached "$src" ./configure
snapshot "$src" "$pristine"
# (access(2) fails with EROFS on a read-only mount, for root too)
setup "a read-only bind mount in a mount namespace" in_readonly_ns "$ro" test ! -w "$ro"

setup "plain make -j2" in_dir "$src" make -j2
save_artifacts "$src" "$T/plain" "${artifacts[@]}"

# check_form NAME CMD...: build hello from the pristine tree with CMD (run in
# $src, inside the namespace) and check status, warnings and artifacts.
check_form() {
	local name=$1 rc=0 n
	shift
	restore "$pristine" "$src"
	in_dir "$src" in_readonly_ns "$ro" "$@" >"$T/out.log" 2>"$T/err.log" || rc=$?
	if ((rc == 0)); then
		tap_ok "$name: the build exits 0"
	else
		tap_not_ok "$name: the build exits 0"
		echo "# exit status $rc; last lines of stderr:"
		tap_diag <(tail -n 30 "$T/err.log")
	fi
	n=$(count_gg_warnings "$T/err.log")
	if [[ "$n" == 1 ]] && grep 'gg:' "$T/err.log" | grep -qi 'trace'; then
		tap_ok "$name: exactly one warning about the trace on stderr"
	else
		tap_not_ok "$name: exactly one warning about the trace on stderr"
		echo "# $n lines with 'gg:' on stderr (want 1, mentioning the trace):"
		tap_diag <(grep 'gg:' "$T/err.log" | sort | uniq -c | sort -rn) 20
	fi
	tap_check "$name: hello and every .o and .a are byte-identical to a plain build" \
		same_artifacts "$T/plain" "$src" "${artifacts[@]}"
	if [[ -z "$(ls -A "$ro")" ]]; then
		tap_ok "$name: nothing was written in the read-only trace directory"
	else
		tap_not_ok "$name: nothing was written in the read-only trace directory"
		tap_diag <(ls -A "$ro")
	fi
}

check_form "gg record --trace-dir RO" "$GG" record --trace-dir "$ro" -- make -j2
check_form "bare LD_PRELOAD with GG_TRACE_DIR=RO" \
	env GG_TRACE_DIR="$ro" LD_PRELOAD="$SHIM" make -j2

tap_finish
