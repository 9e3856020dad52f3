#!/usr/bin/env bash
# Measures what level 3's path mapping costs per call (docs/level3.md): stat, open
# and fork+exec from tests/progs/vloop, with no shim, with the shim not recording
# (GG_SHIM_OFF=1), and with GG_VROOT set (mapping only, and mapping + recording),
# median of GG_BENCH_RUNS runs.  Prints ns per call; asserts nothing.
set -euo pipefail
. tests/e2e/lib.sh
e2e_init

runs=${GG_BENCH_RUNS:-5}
n_path=${GG_BENCH_CALLS:-100000}
n_exec=${GG_BENCH_EXECS:-300}
VLOOP=$BUILD_DIR/tests/progs/vloop
VEXEC=$BUILD_DIR/tests/tools/vexec_plan
[[ -x "$VLOOP" && -x "$VEXEC" ]] || { echo "bench: build $VLOOP and $VEXEC first" >&2; exit 1; }

# R: vloop, /bin/true, their loader and libc, and a header 5 components deep.
R=$T/r
deep=/usr/include/x86_64-linux-gnu/sys/types.h
for f in /lib64/ld-linux-x86-64.so.2 /lib/x86_64-linux-gnu/libc.so.6 /bin/true "$deep"; do
	mkdir -p "$R$(dirname "$f")"
	cp "$(readlink -f "$f")" "$R$f"
done
mkdir -p "$R/opt" "$T/trace"
cp "$VLOOP" "$R/opt/vloop"

median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# one MODE WHAT N PATH: the median ns per call.
one() {
	local mode=$1 what=$2 n=$3 p=$4 out=() i
	for ((i = 0; i < runs; i++)); do
		case $mode in
		plain) out+=("$(env -i "$VLOOP" "$what" "$n" "$p" | awk '{ print $2 }')") ;;
		shim-off) out+=("$(env -i LD_PRELOAD="$SHIM" GG_SHIM_OFF=1 "$VLOOP" "$what" "$n" "$p" |
			awk '{ print $2 }')") ;;
		shim-rec) out+=("$(env -i LD_PRELOAD="$SHIM" GG_TRACE_DIR="$T/trace" "$VLOOP" "$what" "$n" \
			"$p" | awk '{ print $2 }')") ;;
		vroot-off) out+=("$(env -i GG_SHIM_OFF=1 "$VEXEC" --exec --preload "$SHIM" "$R" / \
			/opt/vloop vloop "$what" "$n" "$p" | awk '{ print $2 }')") ;;
		vroot-rec) out+=("$(env -i GG_TRACE_DIR="$T/trace" "$VEXEC" --exec --preload "$SHIM" "$R" / \
			/opt/vloop vloop "$what" "$n" "$p" | awk '{ print $2 }')") ;;
		esac
		rm -rf "$T/trace"/*
	done
	median "${out[@]}"
}

printf '%-34s %10s %10s %10s %10s %10s\n' "ns per call (median of $runs)" plain shim-off shim-rec \
	vroot-off vroot-rec
for c in "stat $n_path $deep" "open $n_path $deep" "exec $n_exec /bin/true"; do
	set -- $c
	row=()
	for mode in plain shim-off shim-rec vroot-off vroot-rec; do
		row+=("$(one "$mode" "$1" "$2" "$3")")
	done
	printf '%-34s %10s %10s %10s %10s %10s\n' "$1 $3" "${row[@]}"
done
