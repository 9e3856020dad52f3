#!/usr/bin/env bash
# Proves that the bare form `LD_PRELOAD=libggshim.so ninja`, in a directory set up
# with `gg init`, records zlib's CMake + Ninja build without changing it (exit
# status, byte-identical libraries, objects and programs) and records every
# compile command bear sees, with the same arguments and working directory.
set -euo pipefail
. tests/e2e/lib.sh
e2e_init

src=$T/zlib           # every build runs in $src/build: the same path each time
pristine=$T/pristine  # the tree after cmake's configure step, restored before each build
artifacts=('./libz.a' './libz.so*' './*.o' './example' './example64' './minigzip' './minigzip64')

setup "fetch zlib" corpus zlib "$src"
mkdir "$src/build"
setup "cmake -G Ninja" configure_cached "$src" bash -c "cd build && exec cmake -G Ninja .."
snapshot "$src" "$pristine"

# The reference compile commands.
setup "bear -- ninja" in_dir "$src/build" bear --output "$T/compile_commands.json" -- ninja

# The reference artifacts: a plain build.
restore "$pristine" "$src"
setup "plain ninja" in_dir "$src/build" ninja
save_artifacts "$src/build" "$T/plain" "${artifacts[@]}"

# The recorded build: the bare preload form, the trace found through .gg/.
restore "$pristine" "$src"
setup "gg init" in_dir "$src/build" "$GG" init
tap_run "LD_PRELOAD=libggshim.so ninja exits 0" "$T/record.log" \
	in_dir "$src/build" env LD_PRELOAD="$SHIM" ninja

tap_check "libz.a, libz.so*, every .o and the example programs are byte-identical to a plain build" \
	same_artifacts "$T/plain" "$src/build" "${artifacts[@]}"

tap_check "the example program built under the shim passes" in_dir "$src/build" ./example

rc=0
in_dir "$src/build" "$GG" trace dump --json >"$T/dump.jsonl" 2>"$T/dump.err" || rc=$?
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
