#!/usr/bin/env bash
# Proves that `gg lambda package` makes a self-contained function zip (accepted by
# `unzip -t`, at most 50 MB) whose `bootstrap`, unzipped into an empty directory,
# runs in a root holding only that directory at /var/task, /tmp, /proc and /dev, as
# uid 993, where no namespace can be made: it executes a recorded zlib compile thunk
# from a blob directory under /tmp at level 3, giving the recorded object byte for
# byte, and reuses its input cache for a second job (the worker's own environment
# staying out of the command's is tests/unit/test_worker.c's).
set -euo pipefail
. tests/e2e/lib.sh
e2e_init

INROOT=$BUILD_DIR/tests/tools/inroot
src=$T/zlib
build=$src/build
export GG_DIR=$T/gg
obj=CMakeFiles/zlib.dir/adler32.o

[[ -x "$INROOT" ]] || { tap_not_ok "the test tool inroot is built ($INROOT)"; tap_finish; }
setup "fetch zlib" corpus zlib "$src"
setup "cmake -G Ninja" configure_cached "$src" cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release
setup "gg record -- ninja $obj" in_dir "$build" "$GG" record -- ninja "$obj"
setup "gg infer" in_dir "$build" "$GG" infer

tap_run "gg lambda package -o fn.zip exits 0" "$T/package.log" "$GG" lambda package -o "$T/fn.zip" --list
tap_check "unzip -t accepts the package" unzip -tq "$T/fn.zip"
tap_check "the package is at most 50 MB" test "$(stat -c %s "$T/fn.zip")" -le 50000000
mkdir "$T/task" "$T/tmp"
setup "unzip the package into an empty directory" in_dir "$T/task" unzip -q ../fn.zip
tap_check "the package holds bootstrap, the loader, libc, libcurl and the shim" \
	test -x "$T/task/bootstrap" -a -x "$T/task/lib/ld-linux-x86-64.so.2" -a -f "$T/task/lib/libc.so.6" \
	-a -f "$T/task/lib/libcurl.so.4" -a -f "$T/task/lib/libggshim.so"
tap_check "bootstrap asks for the loader and libraries under /var/task only" \
	bash -c "readelf -lW '$T/task/bootstrap' | grep -q 'interpreter: /var/task/lib/ld-linux-x86-64.so.2' &&
		 readelf -dW '$T/task/bootstrap' | grep -E 'RPATH|RUNPATH' | grep -q '\[/var/task/lib\]$'"

# inroot: nothing but /var/task, /tmp, /dev and /proc, uid 993, Lambda-like variables
# (make check's sanitizer build: without LeakSanitizer, which cannot stop the world
# in inroot's namespaces and would put its fatal error's status in the command's)
in_lambda() {
	"$INROOT" --ro "$T/task:/var/task" --rw "$T/tmp:/tmp" --uid 993 --gid 993 \
		--env LD_LIBRARY_PATH=/lib64:/usr/lib64:/var/runtime:/var/task/lib \
		--env AWS_ACCESS_KEY_ID=AKIAWORKERONLY --env LAMBDA_TASK_ROOT=/var/task \
		${GG_CHECK:+--env "ASAN_OPTIONS=$ASAN_OPTIONS:detect_leaks=0"} \
		--cwd /tmp -- "$@"
}
rc=0
in_lambda /var/task/bootstrap >"$T/noargs.log" 2>&1 || rc=$?
tap_check "bootstrap with no arguments runs there, says what it is and exits non-zero" \
	bash -c "test $rc -eq 2 && grep -q 'Lambda bootstrap' '$T/noargs.log'"

thunk=$(in_dir "$build" "$GG" worker prepare "$obj" --blobs "$T/tmp/blobs")
tap_check "gg worker prepare prints a thunk hash" bash -c "[[ '$thunk' =~ ^T[0-9a-f]{32}$ ]]"
recorded=$(in_dir "$build" "$GG" show "$obj" --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
print([o["value"] for o in d["outputs"] if o["path"].endswith(".o")][0])')

rc=0
in_lambda /var/task/bootstrap worker exec "$thunk" --blobs /tmp/blobs >"$T/report1.json" 2>"$T/worker1.err" || rc=$?
field() { # field FILE EXPR: a Python expression over the report d
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}
tap_check "bootstrap worker exec of a zlib compile exits 0" bash -c "test $rc -eq 0 || { cat '$T/worker1.err' '$T/report1.json'; false; }"
tap_check "in that root the worker finds neither namespaces nor seccomp, as on Lambda" \
	test "$(field "$T/report1.json" '(d["host"]["userns"], d["host"]["seccomp"])')" = "(False, False)"
tap_check "the worker ran the thunk at level 3 with status 0" \
	test "$(field "$T/report1.json" '(d["level"], d["status"], d["error"])')" = "(3, 0, None)"
tap_check "the object's hash is the recorded one" \
	test "$(field "$T/report1.json" '[o["value"] for o in d["outputs"] if o["path"].endswith(".o")][0]')" = "$recorded"
hex=${recorded#V}
tap_check "the object stored in the blob directory is byte-identical to the recorded build's" \
	cmp "$T/tmp/blobs/blobs/${hex:0:2}/${hex:2}" "$build/$obj"
tap_check "the first job fetched its inputs into the cache under /tmp" \
	test "$(field "$T/report1.json" 'd["cache"]["misses"] > 50')" = True

rc=0
in_lambda /var/task/bootstrap worker exec "$thunk" --blobs /tmp/blobs >"$T/report2.json" 2>"$T/worker2.err" || rc=$?
tap_check "a second job reuses the input cache: nothing fetched" \
	test "$(field "$T/report2.json" '(d["status"], d["cache"]["misses"], d["cache"]["hits"] > 50)')" = "(0, 0, True)"
tap_check "the worker left no root behind in /tmp/gg/r" \
	test -z "$(find "$T/tmp/gg/r" -mindepth 1 -maxdepth 1 -print -quit)"

tap_finish
