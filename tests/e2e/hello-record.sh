#!/usr/bin/env bash
# Proves that `gg record -- make -j2` on GNU hello (autotools) leaves the build
# unchanged (exit status, byte-identical hello and objects) and records every
# compile command bear sees, with the same arguments and working directory.
set -euo pipefail
. tests/e2e/lib.sh
e2e_init

src=$T/hello          # every build runs here: debug info embeds the path
pristine=$T/pristine  # the configured tree, restored before each build
artifacts=('./hello' './*.o' './lib/*.a')

setup "fetch GNU hello" corpus hello "$src"
setup "./configure" configure_cached "$src" ./configure
snapshot "$src" "$pristine"

# The reference compile commands.
setup "bear -- make -j2" in_dir "$src" bear --output "$T/compile_commands.json" -- make -j2

# The reference artifacts: a plain build.
restore "$pristine" "$src"
setup "plain make -j2" in_dir "$src" make -j2
save_artifacts "$src" "$T/plain" "${artifacts[@]}"

# The recorded build, in a fresh .gg/ of its own.
restore "$pristine" "$src"
setup "gg init" in_dir "$src" "$GG" init
tap_run "gg record -- make -j2 exits 0" "$T/record.log" in_dir "$src" "$GG" record -- make -j2

says_hello() {
	[[ "$("$src/hello")" == "Hello, world!" ]]
}
tap_check "./hello built under gg record says hello" says_hello

tap_check "hello and every .o and .a are byte-identical to a plain build" \
	same_artifacts "$T/plain" "$src" "${artifacts[@]}"

rc=0
in_dir "$src" "$GG" trace dump --json >"$T/dump.jsonl" 2>"$T/dump.err" || rc=$?
if ((rc == 0)) && [[ -s "$T/dump.jsonl" ]]; then
	tap_ok "gg trace dump --json exits 0 with output"
else
	tap_not_ok "gg trace dump --json exits 0 with output"
	echo "# exit status $rc, $(wc -l <"$T/dump.jsonl") lines on stdout; stderr:"
	tap_diag "$T/dump.err"
fi

tap_check "every compile command bear saw is in the trace with the same argv and cwd" \
	python3 "$TOP/tests/e2e/compare_bear.py" "$T/compile_commands.json" "$T/dump.jsonl"

tap_finish
