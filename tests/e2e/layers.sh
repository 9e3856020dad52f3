#!/usr/bin/env bash
# Proves the layers hold: scripts/check-layers finds 0 violations in the tree (every
# include path-qualified, none pointing up or sideways), the compiler is given -I.
# only, and the checker itself catches a forbidden include in a scratch copy.
set -euo pipefail
. tests/e2e/lib.sh
e2e_init

tap_check "make check-layers: 0 violations" make -s --no-print-directory check-layers

# The flags: -I. and nothing else for the product (unit tests include tests/unit by their own folder).
incs=$(make -s --no-print-directory -pn all 2>/dev/null | grep -E '^(BASE_CFLAGS|SHIM_CFLAGS) :?=' | grep -oE -- '-I[^ ]*' | sort -u | tr '\n' ' ')
tap_check "the compiler gets -I. only (got: $incs)" test "$incs" = "-I. "

# The checker can fail: an ir header that reaches up into the store, and a bare include.
cp -r shim sandbox inferer runtime scripts "$T/"
printf '#include "runtime/store/store.h"\n' >>"$T/runtime/ir/hash.h"
printf '#include "util.h"\n' >>"$T/runtime/lib/json.c"
out=$(scripts/check-layers "$T" 2>&1) && rc=0 || rc=$?
tap_check "a violating tree fails (exit 1)" test "$rc" = 1
tap_check "it names the upward include" grep -q 'runtime/ir/hash.h:.*runtime/ir may not include runtime/store/store.h' <<<"$out"
tap_check "it names the bare include" grep -q 'runtime/lib/json.c:.*"util.h" is not path-qualified' <<<"$out"
base=$(scripts/check-layers 2>&1 | sed -n 's/.*, \([0-9]*\) violations$/\1/p')
tap_check "it counts exactly those 2 more" grep -q ", $((base + 2)) violations\$" <<<"$out"

tap_finish
