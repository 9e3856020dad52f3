#!/usr/bin/env bash
# Benchmark of uploads to S3 (issue 10), against one s3rver on 127.0.0.1 (it is one
# node process and caps every client):
#   - SMALL_N (1,000) files of 50 KB: Debian's awscli `s3 cp --recursive`,
#     `curl --parallel --parallel-max 64 --aws-sigv4` (one process, many connections)
#     and gg (`gg cache put` + `gg cache push --remote s3://...`), median of RUNS (3)
#     runs each, wall time and client CPU time (user+sys, from /usr/bin/time);
#   - BIG_N (20) files of 50 MB: MB/s of each, one run.
# Targets (issue 10): gg <= 1.10x curl's time, gg's client CPU <= 1/10 of awscli's.
# Prints numbers, asserts nothing (a tool that fails is reported as failed).
set -euo pipefail
TOP=$(pwd -P)
BUILD=${BUILD:-build}
case "$BUILD" in
/*) GG=$BUILD/bin/gg ;;
*) GG=$TOP/$BUILD/bin/gg ;;
esac
RUNS=${RUNS:-3}
SMALL_N=${SMALL_N:-1000}
SMALL_KB=${SMALL_KB:-50}
BIG_N=${BIG_N:-20}
BIG_MB=${BIG_MB:-50}
JOBS=${JOBS:-64}
AWS_CLI=${GG_AWS_CLI:-/usr/bin/aws}
[[ -x "$AWS_CLI" ]] || AWS_CLI=aws

T=$(mktemp -d /tmp/gg-bench-upload.XXXXXX)
trap 'rm -rf "$T"' EXIT
unset LD_PRELOAD GG_TRACE_DIR GG_SHIM_OFF GG_REMOTE
. "$TOP/tests/fixtures/s3rver.sh"
s3rver_start "$T/s3" bench # chains its stop in front of the trap above
s3rver_env
BUCKET=bench
DATA=$T/s3/data/$BUCKET # s3rver's filesystem store: one *._S3rver_object per key

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# timed OUT CMD...: run CMD; OUT gets "wall_s cpu_s" (user+sys of CMD and the children
# it waited for).  Returns CMD's status; its output is in OUT.log.
timed() {
	local out=$1 rc=0
	shift
	# the tools are shell functions (exported below): bash -c runs them under time
	/usr/bin/time -f '%e %U %S' -o "$out.t" bash -c '"$@"' timed "$@" >"$out.log" 2>&1 || rc=$?
	awk '{printf "%.3f %.3f\n", $1, $2 + $3}' "$out.t" >"$out"
	return "$rc"
}

# objects PREFIX: how many objects s3rver holds under PREFIX/
objects() {
	if [[ -d "$DATA/$1" ]]; then
		find "$DATA/$1" -name '*._S3rver_object' | wc -l
	else
		echo 0
	fi
}

make_files() { # make_files DIR N BYTES
	local i
	mkdir -p "$1"
	for ((i = 0; i < $2; i++)); do
		head -c "$3" /dev/urandom >"$(printf '%s/f%05d' "$1" "$i")"
	done
}

# ---- the tools: each uploads every file of SRC to s3://bench/PREFIX/ -------------

run_awscli() { # SRC PREFIX
	"$AWS_CLI" --endpoint-url "$S3RVER_ENDPOINT" s3 cp --recursive --only-show-errors \
		"$1" "s3://$BUCKET/$2/"
}

# curl's --aws-sigv4 (7.88) cannot hash the payload: UNSIGNED-PAYLOAD, as S3 allows.
curl_config() { # SRC PREFIX > config
	local f
	for f in "$1"/*; do
		printf 'upload-file = "%s"\nurl = "%s/%s/%s/%s"\noutput = /dev/null\n' \
			"$f" "$S3RVER_ENDPOINT" "$BUCKET" "$2" "${f##*/}"
	done
}
run_curl() { # CONFIG
	curl --parallel --parallel-max "$JOBS" --no-progress-meter --fail \
		--aws-sigv4 aws:amz:us-east-1:s3 --user S3RVER:S3RVER \
		-H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' -K "$1"
}

# ==== gg: `gg cache put` + `gg cache push --remote s3://...` ======================
# The slot for gg's own client.  gg_available says whether this build has it;
# run_gg_put / run_gg_push are timed separately and together.
gg_available() {
	[[ -x "$GG" ]] && "$GG" cache --help 2>&1 | grep -q 'gg cache push'
}
run_gg_put() { # SRC GGDIR
	rm -rf "$2"
	GG_DIR=$2 "$GG" init >/dev/null
	GG_DIR=$2 "$GG" cache put "$1"/* >/dev/null
}
run_gg_push() { # GGDIR PREFIX
	GG_DIR=$1 "$GG" cache push --remote "s3://$BUCKET/$2" -j "$JOBS"
}
# ================================================================================

export -f run_awscli run_curl run_gg_put run_gg_push
export AWS_CLI BUCKET JOBS GG

# one_run TOOL SRC PREFIX N: times TOOL's upload into $T/r-TOOL-PREFIX (wall cpu);
# prints nothing; returns 1 (and says why) if it failed or objects are missing.
one_run() {
	local tool=$1 src=$2 prefix=$3 n=$4 out=$T/r-$1-$3 got
	case "$tool" in
	awscli) timed "$out" run_awscli "$src" "$prefix" || { echo "  awscli failed:"; tail -n 5 "$out.log"; return 1; } ;;
	curl)
		curl_config "$src" "$prefix" >"$T/curl-$prefix.cfg"
		timed "$out" run_curl "$T/curl-$prefix.cfg" || { echo "  curl failed:"; tail -n 5 "$out.log"; return 1; }
		;;
	gg)
		timed "$out.put" run_gg_put "$src" "$T/gg-$prefix" || { echo "  gg cache put failed:"; tail -n 5 "$out.put.log"; return 1; }
		timed "$out.push" run_gg_push "$T/gg-$prefix" "$prefix" || { echo "  gg cache push failed:"; tail -n 5 "$out.push.log"; return 1; }
		paste "$out.put" "$out.push" | awk '{printf "%.3f %.3f\n", $1 + $3, $2 + $4}' >"$out"
		rm -rf "$T/gg-$prefix"
		;;
	esac
	got=$(objects "$prefix")
	if ((got != n)); then
		echo "  $tool: $got objects under $prefix/, want $n"
		return 1
	fi
}

tools=(awscli curl)
if gg_available; then
	tools+=(gg)
else
	echo "note: $GG has no 'gg cache push': gg is not measured"
fi

# ---- 1,000 small files --------------------------------------------------------------
make_files "$T/small" "$SMALL_N" $((SMALL_KB * 1024))
declare -A failed=()
for ((r = 1; r <= RUNS; r++)); do
	for tool in "${tools[@]}"; do
		one_run "$tool" "$T/small" "small-$tool-$r" "$SMALL_N" || failed[$tool]=1
		rm -rf "${DATA:?}/small-$tool-$r"
	done
done

col() { # col TOOL FIELD(1 wall, 2 cpu) [SUFFIX]: median over the runs
	local r
	for ((r = 1; r <= RUNS; r++)); do
		awk -v f="$2" '{print $f}' "$T/r-$1-small-$1-$r${3:-}"
	done | median
}
label() {
	case "$1" in
	awscli) echo "awscli s3 cp --recursive" ;;
	curl) echo "curl --parallel-max $JOBS --aws-sigv4" ;;
	gg) echo "gg cache put + push -j $JOBS" ;;
	esac
}

echo "upload: $SMALL_N files of $SMALL_KB KB to s3rver ($S3RVER_ENDPOINT), median of $RUNS runs"
declare -A wall=() cpu=()
for tool in "${tools[@]}"; do
	if [[ -n "${failed[$tool]:-}" ]]; then
		printf '  %-34s failed\n' "$(label "$tool")"
		continue
	fi
	wall[$tool]=$(col "$tool" 1)
	cpu[$tool]=$(col "$tool" 2)
	printf '  %-34s %8.3f s   client cpu %7.3f s\n' "$(label "$tool")" "${wall[$tool]}" "${cpu[$tool]}"
	if [[ "$tool" == gg ]]; then
		printf '    %-32s %8.3f s   client cpu %7.3f s\n' "of which gg cache push" \
			"$(col gg 1 .push)" "$(col gg 2 .push)"
	fi
done
if [[ -n "${wall[gg]:-}" && -n "${wall[curl]:-}" && -n "${cpu[awscli]:-}" ]]; then
	awk -v g="${wall[gg]}" -v c="${wall[curl]}" -v gc="${cpu[gg]}" -v ac="${cpu[awscli]}" 'BEGIN {
		printf "  gg time / curl time: %.2fx (target <= 1.10x); gg cpu / awscli cpu: %.3f (target <= 0.100)\n",
			g / c, gc / ac }'
fi
if [[ -n "${wall[curl]:-}" && -n "${wall[awscli]:-}" ]]; then
	awk -v a="${wall[awscli]}" -v c="${wall[curl]}" 'BEGIN { printf "  awscli time / curl time: %.2fx\n", a / c }'
fi
rm -rf "$T/small"

# ---- 20 big files: MB/s -------------------------------------------------------------
make_files "$T/big" "$BIG_N" $((BIG_MB * 1024 * 1024))
echo "upload: $BIG_N files of $BIG_MB MB, one run each"
for tool in "${tools[@]}"; do
	if one_run "$tool" "$T/big" "big-$tool" "$BIG_N"; then
		read -r w c <"$T/r-$tool-big-$tool"
		awk -v n="$BIG_N" -v mb="$BIG_MB" -v w="$w" -v c="$c" -v l="$(label "$tool")" 'BEGIN {
			printf "  %-34s %8.1f MB/s   (%.2f s, client cpu %.2f s)\n", l, n * mb / w, w, c }'
	else
		printf '  %-34s failed\n' "$(label "$tool")"
	fi
	rm -rf "${DATA:?}/big-$tool"
done
