#!/usr/bin/env bash
# Measures what the sandbox costs per command: N runs of /bin/true (the "200 trivial thunks", target <= 3 ms overhead each at level 1 (issue 13)) and of a small compile, plainly (fork+exec+wait) and in the sandbox at every level the host allows, with and without the path supervisor; medians.  Prints numbers; asserts nothing.
set -euo pipefail
BUILD=${BUILD:-build}
runs=${GG_BENCH_SBX_RUNS:-200}
compiles=${GG_BENCH_SBX_COMPILES:-20}
driver=$BUILD/tests/unit/test_sbx

# `make bench` builds the test programs but not the unit tests; the driver is one.
if [[ ! -x "$driver" ]]; then
	make --no-print-directory BUILD="$BUILD" "$driver" "$BUILD/tests/progs/sbx_syscalls" >/dev/null
fi
# Not under /tmp: /tmp is private in the sandbox.
T=$(mktemp -d /var/tmp/gg-bench-sbx.XXXXXX)
trap 'rm -rf "$T"' EXIT

echo "== sandbox overhead: /bin/true, $runs runs per mode (median) =="
"$driver" --bench "$runs"
echo
printf '#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\nint main(void) { puts("hi"); return 0; }\n' >"$T/hello.c"
echo "== sandbox overhead: gcc -O2 -c hello.c, $compiles runs per mode (median) =="
"$driver" --bench "$compiles" --rw "$T" -- /usr/bin/gcc -O2 -c hello.c -o hello.o
