#!/usr/bin/env bash
# Measures what recording costs: zlib's `make -j2` plain, under `gg record` and under
# bear (5 alternating runs each, median wall time), and the per-exec overhead of
# the shim on 500 runs of /bin/true.  With GG_BENCH_CURL=1 (=only: alone), also
# curl's autotools build (./configure && make -j2: thousands of processes), plain and
# under `gg record`, GG_BENCH_CURL_RUNS (3) alternating runs.  With GG_BENCH_LINUX=1
# (=only: alone), Linux 6.1's `make tinyconfig && make -j2` (Debian's linux-source-6.1,
# installed with flex, bison and libelf-dev when missing, unpacked once into
# ~/.cache/gg/corpus/linux-6.1; built out of tree, O=), plain and under `gg record`,
# GG_BENCH_LINUX_RUNS (3) alternating runs.  With GG_BENCH_BATCH=1, the curl and
# Linux builds are also recorded with GG_SHIM_BATCH=1 (exec'd images write their
# records in batches: what that saves or costs), a third series in the same
# alternation.  Prints numbers; asserts nothing.
# Also prints the CPU time (user + sys of the children) next to each wall time:
# on a shared machine it moves less than the wall clock.
set -euo pipefail
. tests/e2e/lib.sh
e2e_init

runs=${GG_BENCH_RUNS:-5}
execs=500

# now: wall clock in seconds, microsecond resolution.
now() {
	echo "$EPOCHREALTIME"
}

# cpu_s VAR: user + sys seconds of this shell's finished children so far, into VAR
# (`times` in this shell: in a $(...) subshell it would see no children).
cpu_s() {
	local -n out=$1
	times >"$T/times"
	out=$(awk 'NR == 2 { split($1, u, /[ms]/); split($2, s, /[ms]/); printf "%.3f", u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$T/times")
}

# timed VAR CMD...: run CMD quietly, append its wall time in seconds to array VAR
# and its CPU time to array VAR_cpu.
timed() {
	local -n acc=$1
	local -n acc_cpu=$1_cpu
	local t0 t1 c0 c1
	shift
	cpu_s c0
	t0=$(now)
	"$@" >"$T/last.log" 2>&1 || { echo "bench: failed: $*" >&2; tail -n 20 "$T/last.log" >&2; exit 1; }
	t1=$(now)
	cpu_s c1
	acc+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')")
	acc_cpu+=("$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.3f", b - a }')")
}

# images DIR: how many process images the recording in DIR holds.
images() {
	"$GG" trace dump --json --trace-dir "$1" 2>/dev/null | wc -l
}

median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'
}

# pair_report P TRACE: the medians of the alternating runs in arrays P_plain and
# P_gg (and their _cpu; P_bt too when it has runs: GG_BENCH_BATCH), their ratios,
# and what the last recording in TRACE holds.
pair_report() {
	local -n rp=$1_plain rg=$1_gg rpc=$1_plain_cpu rgc=$1_gg_cpu rb=$1_bt rbc=$1_bt_cpu
	local mp mg cp cg
	mp=$(median "${rp[@]}")
	mg=$(median "${rg[@]}")
	cp=$(median "${rpc[@]}")
	cg=$(median "${rgc[@]}")
	printf '%-22s median %7.3f s  (runs: %s)  cpu %7.3f s\n' "plain" "$mp" "${rp[*]}" "$cp"
	printf '%-22s median %7.3f s  (runs: %s)  ratio %sx  cpu %7.3f s  ratio %sx\n' "gg record" "$mg" \
		"${rg[*]}" "$(ratio "$mg" "$mp")" "$cg" "$(ratio "$cg" "$cp")"
	if ((${#rb[@]})); then
		mg=$(median "${rb[@]}")
		cg=$(median "${rbc[@]}")
		printf '%-22s median %7.3f s  (runs: %s)  ratio %sx  cpu %7.3f s  ratio %sx\n' \
			"gg record, batches" "$mg" "${rb[*]}" "$(ratio "$mg" "$mp")" "$cg" \
			"$(ratio "$cg" "$cp")"
	fi
	echo "# trace of the last gg run: $(find "$2" -name '*.ggt' | wc -l) files, $(images "$2") images, $(du -sh "$2" | cut -f1)"
}

# GG_BENCH_CURL=only or GG_BENCH_LINUX=only: that part alone.
if [[ "${GG_BENCH_CURL:-}" != only && "${GG_BENCH_LINUX:-}" != only ]]; then
corpus zlib "$T/zlib"
cd "$T/zlib"
./configure >/dev/null

plain=() gg=() bear=() plain_cpu=() gg_cpu=() bear_cpu=()
build_plain() { make -j2; }
build_gg() { "$GG" record --trace-dir "$T/trace" -- make -j2; }
build_bear() { bear --output "$T/compile_commands.json" -- make -j2; }
echo "# zlib 1.2.13, ./configure && make -j2, $runs runs of each, alternating"
for ((i = 1; i <= runs; i++)); do
	for mode in plain gg bear; do
		make clean >/dev/null
		timed "$mode" "build_$mode"
	done
done
mp=$(median "${plain[@]}")
mg=$(median "${gg[@]}")
mb=$(median "${bear[@]}")
cp_=$(median "${plain_cpu[@]}")
cg=$(median "${gg_cpu[@]}")
cb=$(median "${bear_cpu[@]}")
printf '%-22s median %7.3f s  (runs: %s)  cpu %7.3f s\n' "plain make -j2" "$mp" "${plain[*]}" "$cp_"
printf '%-22s median %7.3f s  (runs: %s)  ratio %sx  cpu %7.3f s  ratio %sx\n' "gg record" "$mg" "${gg[*]}" "$(ratio "$mg" "$mp")" "$cg" "$(ratio "$cg" "$cp_")"
printf '%-22s median %7.3f s  (runs: %s)  ratio %sx  cpu %7.3f s  ratio %sx\n' "bear" "$mb" "${bear[*]}" "$(ratio "$mb" "$mp")" "$cb" "$(ratio "$cb" "$cp_")"
echo "# trace of the last gg run: $(find "$T/trace" -name '*.ggt' | wc -l) files, $(images "$T/trace") images, $(du -sh "$T/trace" | cut -f1)"

loop="for i in \$(seq $execs); do /bin/true; done"
t_plain=() t_shim=() t_bear=() t_plain_cpu=() t_shim_cpu=() t_bear_cpu=()
loop_plain() { bash -c "$loop"; }
loop_shim() {
	rm -rf "$T/ttrace" && mkdir "$T/ttrace"
	GG_TRACE_DIR=$T/ttrace LD_PRELOAD=$SHIM bash -c "$loop"
}
loop_bear() { bear --output "$T/true.json" -- bash -c "$loop"; }
echo
echo "# $execs x /bin/true from a bash loop, $runs runs of each, alternating"
for ((i = 1; i <= runs; i++)); do
	timed t_plain loop_plain
	timed t_shim loop_shim
	timed t_bear loop_bear
done
mp=$(median "${t_plain[@]}")
ms=$(median "${t_shim[@]}")
mb=$(median "${t_bear[@]}")
per_exec() {
	awk -v a="$1" -v b="$2" -v n="$execs" 'BEGIN { printf "%.3f", (a - b) * 1000 / n }'
}
cp_=$(median "${t_plain_cpu[@]}")
cs=$(median "${t_shim_cpu[@]}")
cb=$(median "${t_bear_cpu[@]}")
printf '%-22s median %7.3f s  cpu %7.3f s\n' "plain" "$mp" "$cp_"
printf '%-22s median %7.3f s  overhead %s ms per exec  cpu %7.3f s  overhead %s ms per exec\n' \
	"LD_PRELOAD shim" "$ms" "$(per_exec "$ms" "$mp")" "$cs" "$(per_exec "$cs" "$cp_")"
printf '%-22s median %7.3f s  overhead %s ms per exec  cpu %7.3f s  overhead %s ms per exec\n' \
	"bear" "$mb" "$(per_exec "$mb" "$mp")" "$cb" "$(per_exec "$cb" "$cp_")"
echo "# the last shim run: $(find "$T/ttrace" -name '*.ggt' | wc -l) trace files, $(images "$T/ttrace") images"
fi

if [[ "${GG_BENCH_CURL:-}" == 1 || "${GG_BENCH_CURL:-}" == only ]]; then
curl_runs=${GG_BENCH_CURL_RUNS:-3}
corpus curl "$T/curl-src"
c_plain=() c_gg=() c_plain_cpu=() c_gg_cpu=() c_bt=() c_bt_cpu=()
curl_fresh() { rm -rf "$T/curl" && cp -a "$T/curl-src" "$T/curl"; }
curl_plain() { cd "$T/curl" && ./configure --without-ssl --disable-shared && make -j2; }
curl_gg() {
	cd "$T/curl" && "$GG" record --trace-dir "$T/ctrace" -- \
		sh -c './configure --without-ssl --disable-shared && make -j2'
}
echo
echo "# curl (Debian bookworm source), ./configure --without-ssl --disable-shared && make -j2, $curl_runs runs of each, alternating"
for ((i = 1; i <= curl_runs; i++)); do
	curl_fresh
	timed c_plain curl_plain
	curl_fresh
	timed c_gg curl_gg
	if [[ ${GG_BENCH_BATCH:-} == 1 ]]; then
		curl_fresh
		GG_SHIM_BATCH=1 timed c_bt curl_gg
	fi
done
pair_report c "$T/ctrace"
fi

[[ "${GG_BENCH_LINUX:-}" == 1 || "${GG_BENCH_LINUX:-}" == only ]] || exit 0
linux_runs=${GG_BENCH_LINUX_RUNS:-3}
ltar=/usr/src/linux-source-6.1.tar.xz
lsrc=${GG_CORPUS:-$HOME/.cache/gg/corpus}/linux-6.1
if [[ ! -f $ltar ]] || ! command -v flex >/dev/null || ! command -v bison >/dev/null ||
	[[ ! -f /usr/include/libelf.h ]]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
		linux-source-6.1 flex bison libelf-dev >/dev/null
fi
if [[ ! -f $lsrc/.unpacked ]]; then
	rm -rf "$lsrc" && mkdir -p "$lsrc"
	tar -xJf "$ltar" -C "$lsrc" --strip-components=1
	touch "$lsrc/.unpacked"
fi
l_plain=() l_gg=() l_plain_cpu=() l_gg_cpu=() l_bt=() l_bt_cpu=()
linux_plain() { make -C "$lsrc" O="$T/lb" tinyconfig && make -C "$lsrc" O="$T/lb" -j2; }
linux_gg() {
	"$GG" record --trace-dir "$T/ltrace" -- \
		sh -c 'make -C "$0" O="$1" tinyconfig && make -C "$0" O="$1" -j2' "$lsrc" "$T/lb"
}
echo
echo "# Linux $(make -s -C "$lsrc" kernelversion) (Debian's linux-source-6.1), make tinyconfig && make -j2, $linux_runs runs of each, alternating"
for ((i = 1; i <= linux_runs; i++)); do
	rm -rf "$T/lb" "$T/ltrace"
	timed l_plain linux_plain
	rm -rf "$T/lb" "$T/ltrace"
	timed l_gg linux_gg
	if [[ ${GG_BENCH_BATCH:-} == 1 ]]; then
		rm -rf "$T/lb" "$T/ltrace"
		GG_SHIM_BATCH=1 timed l_bt linux_gg
	fi
done
pair_report l "$T/ltrace"
