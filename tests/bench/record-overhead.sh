#!/usr/bin/env bash
# Measures what recording costs: zlib's `make -j2` plain, under `gg record` and under
# bear (5 alternating runs each, median wall time), and the per-exec overhead of
# the shim on 500 runs of /bin/true (GG_BENCH_TRUE_RUNS, 11, alternating runs, bear
# in the first GG_BENCH_RUNS of them: a run takes two seconds, and a figure of a few
# hundred microseconds per exec needs more of them than zlib's build does).  With
# GG_BENCH_CURL=1 (=only: alone), also curl's autotools build (./configure && make
# -j2: thousands of processes), plain and under `gg record`, GG_BENCH_CURL_RUNS (3)
# alternating runs.  With GG_BENCH_LINUX=1 (=only: alone), Linux 6.1's `make
# tinyconfig && make -j2` (Debian's linux-source-6.1, installed with flex, bison and
# libelf-dev when missing, unpacked once into ~/.cache/gg/corpus/linux-6.1; built out
# of tree, O=), plain and under `gg record`,
# GG_BENCH_LINUX_RUNS (3) alternating runs.  With GG_BENCH_BATCH=1, the curl and
# Linux builds are also recorded with GG_SHIM_BATCH=1 (exec'd images write their
# records in batches: what that saves or costs), a third series in the same
# alternation.  With GG_BENCH_FLOOR=1, they are also run under LD_PRELOAD of an
# empty library: what any preload-based recorder pays before it records anything
# (the loader's mapping, relocation and page faults of one more object per exec).
# Prints numbers; asserts nothing.
# Also prints the CPU time (user + sys of the children) next to each wall time:
# on a shared machine it moves less than the wall clock; and the minor page faults
# of the children, which the machine's noise does not move at all (a fault costs
# some 11 us on this project's VM).
set -euo pipefail
. tests/e2e/lib.sh
e2e_init

runs=${GG_BENCH_RUNS:-5}
true_runs=${GG_BENCH_TRUE_RUNS:-11}
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

# minflt VAR: minor page faults of this shell's finished children so far (cminflt,
# field 11 of /proc/PID/stat), into VAR; builtins only, so no child of its own.
minflt() {
	local -n out=$1
	local s f
	read -r s </proc/$$/stat
	read -ra f <<<"${s##*) }"
	out=${f[8]}
}

# timed VAR CMD...: run CMD quietly, append its wall time in seconds to array VAR,
# its CPU time to array VAR_cpu and its minor page faults to VAR_faults.
timed() {
	local -n acc=$1
	local -n acc_cpu=$1_cpu
	local -n acc_faults=$1_faults
	local t0 t1 c0 c1 f0 f1
	shift
	cpu_s c0
	t0=$(now)
	minflt f0
	"$@" >"$T/last.log" 2>&1 || { echo "bench: failed: $*" >&2; tail -n 20 "$T/last.log" >&2; exit 1; }
	minflt f1
	t1=$(now)
	cpu_s c1
	acc+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')")
	acc_cpu+=("$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.3f", b - a }')")
	acc_faults+=("$((f1 - f0))")
}

# An empty shared library for GG_BENCH_FLOOR's series.
empty_lib() {
	[[ -f $T/libempty.so ]] ||
		printf 'int gg_bench_empty;\n' | gcc -shared -fPIC -x c -o "$T/libempty.so" -
}

# images DIR: how many process images the recording in DIR holds (what the dump
# printed, even if it ends with an error: its status must not stop the script).
images() {
	{ "$GG" trace dump --json --trace-dir "$1" 2>/dev/null || true; } | wc -l
}

median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'
}

# pair_report P TRACE: the medians of the alternating runs in arrays P_plain and
# P_gg (and their _cpu and _faults; P_bt and P_fl too when they have runs:
# GG_BENCH_BATCH, GG_BENCH_FLOOR), their ratios, the page faults each series adds
# per process image over plain, and what the last recording in TRACE holds.
pair_report() {
	local -n rp=$1_plain rpc=$1_plain_cpu rpf=$1_plain_faults
	local mp cp fp n s name
	n=$(images "$2")
	mp=$(median "${rp[@]}")
	cp=$(median "${rpc[@]}")
	fp=$(median "${rpf[@]}")
	printf '%-22s median %7.3f s  (runs: %s)  cpu %7.3f s  faults %s\n' "plain" "$mp" "${rp[*]}" \
		"$cp" "$fp"
	for s in gg:"gg record" bt:"gg record, batches" fl:"LD_PRELOAD empty .so"; do
		local -n r=$1_${s%%:*} rc=$1_${s%%:*}_cpu rf=$1_${s%%:*}_faults
		name=${s#*:}
		((${#r[@]})) || continue
		local m c f
		m=$(median "${r[@]}")
		c=$(median "${rc[@]}")
		f=$(median "${rf[@]}")
		printf '%-22s median %7.3f s  (runs: %s)  ratio %sx  cpu %7.3f s  ratio %sx  faults %s (%+.1f per image)\n' \
			"$name" "$m" "${r[*]}" "$(ratio "$m" "$mp")" "$c" "$(ratio "$c" "$cp")" "$f" \
			"$(awk -v a="$f" -v b="$fp" -v n="$n" 'BEGIN { print (a - b) / n }')"
	done
	echo "# trace of the last gg run: $(find "$2" -name '*.ggt' | wc -l) files, $n images, $(du -sh "$2" | cut -f1)"
}

# GG_BENCH_CURL=only or GG_BENCH_LINUX=only: that part alone.
if [[ "${GG_BENCH_CURL:-}" != only && "${GG_BENCH_LINUX:-}" != only ]]; then
corpus zlib "$T/zlib"
cd "$T/zlib"
./configure >/dev/null

plain=() gg=() bear=() plain_cpu=() gg_cpu=() bear_cpu=() plain_faults=() gg_faults=() bear_faults=()
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
printf '%-22s median %7.3f s  (runs: %s)  cpu %7.3f s  faults %s\n' "plain make -j2" "$mp" "${plain[*]}" "$cp_" "$(median "${plain_faults[@]}")"
printf '%-22s median %7.3f s  (runs: %s)  ratio %sx  cpu %7.3f s  ratio %sx  faults %s\n' "gg record" "$mg" "${gg[*]}" "$(ratio "$mg" "$mp")" "$cg" "$(ratio "$cg" "$cp_")" "$(median "${gg_faults[@]}")"
printf '%-22s median %7.3f s  (runs: %s)  ratio %sx  cpu %7.3f s  ratio %sx  faults %s\n' "bear" "$mb" "${bear[*]}" "$(ratio "$mb" "$mp")" "$cb" "$(ratio "$cb" "$cp_")" "$(median "${bear_faults[@]}")"
echo "# trace of the last gg run: $(find "$T/trace" -name '*.ggt' | wc -l) files, $(images "$T/trace") images, $(du -sh "$T/trace" | cut -f1)"

loop="for i in \$(seq $execs); do /bin/true; done"
t_plain=() t_shim=() t_bear=() t_plain_cpu=() t_shim_cpu=() t_bear_cpu=()
t_plain_faults=() t_shim_faults=() t_bear_faults=()
loop_plain() { bash -c "$loop"; }
loop_shim() {
	rm -rf "$T/ttrace" && mkdir "$T/ttrace"
	GG_TRACE_DIR=$T/ttrace LD_PRELOAD=$SHIM bash -c "$loop"
}
loop_bear() { bear --output "$T/true.json" -- bash -c "$loop"; }
echo
echo "# $execs x /bin/true from a bash loop, $true_runs runs of each, alternating"
for ((i = 1; i <= true_runs; i++)); do
	timed t_plain loop_plain
	timed t_shim loop_shim
	((i > runs)) || timed t_bear loop_bear # 50 ms an exec: its runs are few
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
fp=$(median "${t_plain_faults[@]}")
faults_per_exec() {
	awk -v a="$(median "$@")" -v b="$fp" -v n="$execs" 'BEGIN { printf "%+.1f", (a - b) / n }'
}
printf '%-22s median %7.3f s  cpu %7.3f s\n' "plain" "$mp" "$cp_"
printf '%-22s median %7.3f s  overhead %s ms per exec  cpu %7.3f s  overhead %s ms per exec  faults %s per exec\n' \
	"LD_PRELOAD shim" "$ms" "$(per_exec "$ms" "$mp")" "$cs" "$(per_exec "$cs" "$cp_")" \
	"$(faults_per_exec "${t_shim_faults[@]}")"
printf '%-22s median %7.3f s  overhead %s ms per exec  cpu %7.3f s  overhead %s ms per exec  faults %s per exec\n' \
	"bear" "$mb" "$(per_exec "$mb" "$mp")" "$cb" "$(per_exec "$cb" "$cp_")" \
	"$(faults_per_exec "${t_bear_faults[@]}")"
echo "# the last shim run: $(find "$T/ttrace" -name '*.ggt' | wc -l) trace files, $(images "$T/ttrace") images"
fi

if [[ "${GG_BENCH_CURL:-}" == 1 || "${GG_BENCH_CURL:-}" == only ]]; then
curl_runs=${GG_BENCH_CURL_RUNS:-3}
corpus curl "$T/curl-src"
c_plain=() c_gg=() c_bt=() c_fl=() c_plain_cpu=() c_gg_cpu=() c_bt_cpu=() c_fl_cpu=()
c_plain_faults=() c_gg_faults=() c_bt_faults=() c_fl_faults=()
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
	if [[ ${GG_BENCH_FLOOR:-} == 1 ]]; then
		empty_lib
		curl_fresh
		LD_PRELOAD=$T/libempty.so timed c_fl curl_plain
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
l_plain=() l_gg=() l_bt=() l_fl=() l_plain_cpu=() l_gg_cpu=() l_bt_cpu=() l_fl_cpu=()
l_plain_faults=() l_gg_faults=() l_bt_faults=() l_fl_faults=()
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
	if [[ ${GG_BENCH_FLOOR:-} == 1 ]]; then
		empty_lib
		rm -rf "$T/lb" # the recording stays for pair_report
		LD_PRELOAD=$T/libempty.so timed l_fl linux_plain
	fi
done
pair_report l "$T/ltrace"
