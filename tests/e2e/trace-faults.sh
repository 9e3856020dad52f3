#!/usr/bin/env bash
# Proves that a trace directory deleted in the middle of a build, or one that fills
# up, leaves the build exactly as without the shim (exit 0, byte-identical hello
# and objects), with exactly one warning on stderr.
set -euo pipefail
. tests/e2e/lib.sh
e2e_init

src=$T/hello
pristine=$T/pristine
tr=$T/trace
artifacts=('./hello' './*.o' './lib/*.a')

setup "fetch GNU hello" corpus hello "$src"
setup "./configure" configure_cached "$src" ./configure
snapshot "$src" "$pristine"
setup "plain make -j2" in_dir "$src" make -j2
save_artifacts "$src" "$T/plain" "${artifacts[@]}"

# check NAME CMD...: build from the pristine tree with CMD; status, one warning, artifacts
check() {
	local name=$1 rc=0 n
	shift
	restore "$pristine" "$src"
	in_dir "$src" "$@" >"$T/out.log" 2>"$T/err.log" || rc=$?
	tap_check "$name: the build exits 0" test "$rc" = 0
	n=$(count_gg_warnings "$T/err.log")
	if [[ "$n" == 1 ]] && grep 'gg:' "$T/err.log" | grep -q 'trace'; then
		tap_ok "$name: exactly one warning about the trace on stderr"
	else
		tap_not_ok "$name: exactly one warning about the trace on stderr"
		echo "# $n lines with 'gg:' on stderr:"
		tap_diag <(grep 'gg:' "$T/err.log" | sort | uniq -c) 20
	fi
	tap_check "$name: hello and every .o and .a are byte-identical to a plain build" \
		same_artifacts "$T/plain" "$src" "${artifacts[@]}"
}

# Deleted while make runs: half the build is recorded, then the directory goes.
rm -rf "$tr"
check "trace directory deleted mid-build" \
	"$GG" record --trace-dir "$tr" -- sh -c "make -j2 lib/configmake.h && rm -rf '$tr' && make -j2"

# Full: a 64 KiB file system for the trace (a private mount namespace).
full_build() {
	# shellcheck disable=SC2016 # for the inner shell
	unshare -m sh -c 'mkdir -p "$1" && mount -t tmpfs -o size=64k gg-full "$1" &&
		GG_TRACE_DIR="$1" LD_PRELOAD="$2" make -j2' sh "$tr" "$SHIM"
}
if ((EUID == 0)); then
	rm -rf "$tr"
	check "trace directory full" full_build
else
	echo "# not root: the full file system case needs a tmpfs mount"
fi

tap_finish
