#!/usr/bin/env bash
# Proves level 3 (GG_VROOT, docs/level3.md): a `gcc -g -c` run with the shim in a root
# R holding only the files its recording read, chrooted where the host's /usr, /lib
# and /etc do not exist, builds a byte-identical object, every process maps only R's
# loader and libraries, its trace matches the host's, paths and answers are virtual,
# and what R lacks fails (an undeclared header; a library the loader would take from
# the host).
set -euo pipefail
. tests/e2e/lib.sh
e2e_init

VEXEC=$BUILD_DIR/tests/tools/vexec_plan
VPATHS=$BUILD_DIR/tests/progs/vpaths
for f in "$VEXEC" "$VPATHS"; do
	[[ -x "$f" ]] || { tap_not_ok "built: $f"; tap_finish; }
done
SHIMDIR=$(dirname "$SHIM")
src=$T/src # the same path on the host and, virtually, under R
R=$T/r
NEW=$T/new # the chroot: only R, the shim, /proc and /dev
mkdir -p "$src" "$T/gg" "$NEW" "$T/trace"

cat >"$src/h.c" <<'EOF'
#include <stdio.h>
int main(void) { printf("hi\n"); return 0; }
EOF
cat >"$src/u.c" <<'EOF'
#include <stdlib.h>
int main(void) { return EXIT_SUCCESS; }
EOF
# Every process appends its /proc/self/maps to descriptor 9 (a constructor).
cat >"$T/probe.c" <<'EOF'
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>
__attribute__((constructor)) static void probe(void)
{
	static char buf[1 << 17];
	long n, t = 0;
	int fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/maps", O_RDONLY);
	if (fd < 0)
		return;
	while (t < (long)sizeof(buf) - 1 && (n = syscall(SYS_read, fd, buf + t, sizeof(buf) - 1 - t)) > 0)
		t += n;
	syscall(SYS_close, fd);
	syscall(SYS_write, 9, "#proc\n", 6);
	syscall(SYS_write, 9, buf, t);
}
EOF

# The reference: the compile on the host, recorded, in the environment of the level-3
# runs below (gcc's behaviour depends on it: LIBRARY_PATH, GCC_EXEC_PREFIX, ...).
setup "gcc -c on the host, recorded" in_dir "$src" env -i PATH=/usr/bin:/bin GG_DIR="$T/gg" \
	sh -c '"$0" init && "$0" record -- gcc -g -c h.c -o h.o' "$GG"
setup "u.c compiles on the host" in_dir "$src" gcc -c u.c -o "$T/u.o"
setup "trace dump" sh -c '"$0" trace dump --json --trace-dir "$1" >"$2"' "$GG" "$T/gg/trace" \
	"$T/host.jsonl"
mv "$src/h.o" "$T/host.o"
# R: exactly what the recording read, at the recorded paths (+ R/tmp, which gcc stat'ed).
setup "build R from the trace" python3 tests/e2e/vroot_mkroot.py "$T/host.jsonl" "$R" "$T/gg"
setup "the probe library" cc -shared -fPIC -O1 -o "$R/probe.so" "$T/probe.c"

# shim_deps ROOT: the shim's own libraries (none but libc and the loader, make check's
# too) into ROOT, at their paths: under GG_VROOT they load from R like any other.
shim_deps() {
	local l
	for l in $(ldd "$SHIM" | awk '$3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
		mkdir -p "$1$(dirname "$l")"
		[[ -e "$1$l" ]] || cp -L "$l" "$1$l"
	done
}
setup "the shim's libraries in R" shim_deps "$R"

# in_root CMD...: run CMD at level 3 in a chroot holding only R, the shim, /proc and
# /dev, through vexec_plan (the first exec; the shim does every later one), cwd
# $src, recording to $T/trace; fd 9 (the maps) is the caller's; CHILD_PATH: the
# command's PATH.
in_root() {
	unshare $([[ $(id -u) == 0 ]] || echo -r) -m --propagation private bash -c '
		set -e
		new=$1 r=$2 shimdir=$3 trace=$4 vexec=$5
		shift 5
		mount -t tmpfs none "$new"
		mkdir -p "$new$r" "$new$shimdir" "$new$trace" "$new/proc" "$new/dev"
		mount --bind "$r" "$new$r"
		mount --bind "$shimdir" "$new$shimdir"
		mount --bind "$trace" "$new$trace"
		mount --rbind /proc "$new/proc"
		mount --rbind /dev "$new/dev"
		export PATH=${CHILD_PATH:-$PATH}
		exec "$vexec" --exec --chroot "$new" "$@"' \
		in_root "$NEW" "$R" "$SHIMDIR" "$T/trace" "$VEXEC" "$@"
}

tap_run "gcc -g -c under GG_VROOT in a root without the host's /usr, /lib, /etc" \
	"$T/compile.log" env -i PATH=/usr/bin:/bin GG_TRACE_DIR="$T/trace" \
	NEW="$NEW" R="$R" SHIMDIR="$SHIMDIR" T="$T" VEXEC="$VEXEC" SHIM="$SHIM" src="$src" \
	bash -c "$(declare -f in_root); in_root --preload \"\$SHIM:\$R/probe.so\" \"\$R\" \"\$src\" \
		/usr/bin/gcc gcc -g -c h.c -o h.o 9>>\"\$T/maps.log\""

tap_check "the object is byte-identical to the host compile (debug info: the virtual cwd)" \
	cmp "$T/host.o" "$R$src/h.o"

# Every process (gcc, cc1, as) maps R's loader and libc, and nothing from outside R
# but the shim (a host path by design).
maps_only_r() {
	local procs bad
	procs=$(grep -c '^#proc' "$T/maps.log" || true)
	bad=$(grep -v '^#proc' "$T/maps.log" | awk '$6 ~ /^\// { print $6 }' | sort -u |
		grep -v -e "^$R/" -e "^$SHIM\$" || true)
	echo "processes: $procs"
	[[ -z "$bad" ]] || { echo "mapped from outside R:"; echo "$bad"; return 1; }
	((procs >= 3)) || return 1
	for lib in ld-linux-x86-64.so.2 libc.so.6; do
		n=$(awk -v r="$R/" -v l="/$lib" '/^#proc/ { if (seen) c++; seen = 0; next }
			index($6, r) == 1 && substr($6, length($6) - length(l) + 1) == l { seen = 1 }
			END { if (seen) c++; print c + 0 }' "$T/maps.log")
		echo "processes mapping R's $lib: $n"
		((n == procs)) || return 1
	done
}
tap_check "every process maps R's loader and libc and nothing from the host" maps_only_r

# The trace under R names the recorded (virtual) paths: the same images, executables,
# objects, argv, cwd and events as the host's (temporary names, pids and the probe
# library aside).
same_trace() {
	python3 - "$T/host.jsonl" <("$GG" trace dump --json --trace-dir "$T/trace") <<'EOF'
import json, re, sys
def norm(f):
    out = []
    for line in open(f):
        im = json.loads(line)
        evs = []
        drop = lambda objs: [o for o in objs or [] if o != "/probe.so"]
        im["objects"] = drop(im["objects"])
        for e in im["events"]:
            e = {k: v for k, v in e.items() if k not in ("t", "pid")}
            if "objects" in e:
                e["objects"] = drop(e["objects"])
            evs.append(re.sub(r"/tmp/cc[A-Za-z0-9]{6}", "/tmp/ccXXXXXX", json.dumps(e, sort_keys=True)))
        out.append(json.loads(re.sub(r"/tmp/cc[A-Za-z0-9]{6}", "/tmp/ccXXXXXX", json.dumps(
            (im["exe"], im["execfn"], im["cwd"], im["interp"], im["objects"], im["argv"])))) + [evs])
    return sorted(out, key=json.dumps)
a, b = norm(sys.argv[1]), norm(sys.argv[2])
if a != b:
    for x, y in zip(a, b):
        if x != y:
            print("host:   ", json.dumps(x)[:2000]); print("level 3:", json.dumps(y)[:2000])
    print(len(a), "images on the host,", len(b), "under R")
    sys.exit(1)
print(len(a), "images, identical")
EOF
}
tap_check "the trace under R matches the host's recording" same_trace

# Paths and answers inside R: cwd, /proc/self/exe, realpath, dirfds, recorded
# absolute links, passthrough /proc and /dev/null, chdir/fchdir, links made inside,
# dlopen, execvp and posix_spawnp PATH search, system, popen, a "#!" script.
mkdir -p "$R/opt/vp/data"
cp "$VPATHS" "$R/opt/vp/vpaths"
echo data >"$R/opt/vp/data/file.txt"
ln -s /opt/vp/data "$R/opt/vp/abs"
mkdir -p "$R/bin"
cp "$(readlink -f /bin/sh)" "$R/bin/sh"
printf '#!/bin/sh\necho "script=$0 $1"\n' >"$R/opt/vp/script"
chmod +x "$R/opt/vp/script"
cat >"$T/vpaths.want" <<'EOF'
cwd=/opt/vp
exe=/opt/vp/vpaths
realpath=/opt/vp/data/file.txt
realpath_exe=/opt/vp/vpaths
read_abs_link=data
read_dotdot=data
read_dirfd=data
fd_link=/opt/vp/data
stat_host_etc_passwd=No such file or directory
access_dev_null=ok
stat_proc_self=ok
chdir_abs=ok
cwd_after_chdir=/opt/vp/data
proc_cwd=/opt/vp/data
fchdir_home=ok
cwd_after_fchdir=/opt/vp
mkdir_tmp=ok
symlink_abs=ok
readlink_made=/opt/vp/data/file.txt
read_made_link=data
rename=ok
lstat_renamed=ok
dlopen_abs=ok
child_exe=/opt/vp/vpaths
child_cwd=/opt/vp
child_exe=/opt/vp/vpaths
child_cwd=/opt/vp
child_exe=/opt/vp/vpaths
child_cwd=/opt/vp
system_pwd=/opt/vp
system=3
popen=pop
pclose=0
script=/opt/vp/script arg
EOF
vpaths_in_root() {
	env -i PATH=/usr/bin:/bin CHILD_PATH=/opt/vp GG_SHIM_OFF=1 NEW="$NEW" R="$R" SHIMDIR="$SHIMDIR" T="$T" \
		VEXEC="$VEXEC" SHIM="$SHIM" \
		/bin/bash -c "$(declare -f in_root); in_root --preload \"\$SHIM\" \"\$R\" /opt/vp \
			/opt/vp/vpaths vpaths" >"$T/vpaths.out" 2>&1 || true
	diff -u "$T/vpaths.want" "$T/vpaths.out" &&
		[[ -L "$R/tmp/vp-dir/m" && ! -e /tmp/vp-dir ]]
}
tap_check "paths, cwd, /proc/self/exe, dirfds and links inside R are virtual (not recording)" \
	vpaths_in_root

# The leak is caught: a header R does not hold fails the compile (the host has it).
undeclared_header() {
	cp "$src/u.c" "$R$src/u.c"
	! env -i PATH=/usr/bin:/bin GG_SHIM_OFF=1 NEW="$NEW" R="$R" SHIMDIR="$SHIMDIR" T="$T" \
		VEXEC="$VEXEC" SHIM="$SHIM" src="$src" \
		bash -c "$(declare -f in_root); in_root --preload \"\$SHIM\" \"\$R\" \"\$src\" \
			/usr/bin/gcc gcc -c u.c -o u.o" >"$T/u.log" 2>&1 &&
		grep -q 'stdlib.h: No such file' "$T/u.log" && [[ ! -e "$R$src/u.o" ]]
}
tap_check "an undeclared header (on the host, not in R) fails the compile" undeclared_header

# Without the chroot the host's /lib is there: a library missing from R, which R's
# loader would then take from its trusted directories on the host, ends the process.
host_library_refused() {
	local lib=$R/usr/lib/x86_64-linux-gnu rc=0
	mv "$lib/libzstd.so.1" "$T/libzstd.so.1.saved"
	env -i PATH=/usr/bin:/bin GG_SHIM_OFF=1 "$VEXEC" --exec --preload "$SHIM" "$R" "$src" \
		/usr/bin/gcc gcc -c h.c -o h2.o >"$T/leak.log" 2>&1 || rc=$?
	mv "$T/libzstd.so.1.saved" "$lib/libzstd.so.1"
	cat "$T/leak.log"
	((rc != 0)) && grep -q "gg: level 3 (GG_VROOT): shared object loaded from outside the root: .*libzstd" \
		"$T/leak.log" && [[ ! -e "$R$src/h2.o" ]]
}
tap_check "a library missing from R is not taken from the host (the compile fails)" \
	host_library_refused

# GG_VROOT given through a symlink: the loader names objects by that path, the kernel
# (getcwd) by the canonical one; both are R.
root_via_symlink() {
	ln -sfn "$R" "$T/r-link"
	rm -f "$R$src/h3.o"
	env -i PATH=/usr/bin:/bin GG_SHIM_OFF=1 "$VEXEC" --exec --preload "$SHIM" "$T/r-link" "$src" \
		/usr/bin/gcc gcc -g -c h.c -o h3.o && cmp "$T/host.o" "$R$src/h3.o"
}
tap_check "a root given through a symlink works the same" root_via_symlink

# The shim's interposed surface: cases of tests/progs/entry (the shim-entrypoints
# program) run plainly on the host and recorded under GG_VROOT, in R$W, print the
# same bytes (R taken off) and exit the same way.  R: the test programs at their
# paths, a shell, echo, loader, libc, libz and libm (the dlopen cases).
ENTRY=$BUILD_DIR/tests/progs/entry
ER=$T/er
W=$T/w
entry_cases=(execve-relative execvp-missing-then-echo fexecve execveat-empty posix_spawn-fchdir
	posix_spawnp system popen openat mkstemps tmpfile statx readlinkat realpath scandirat
	renameat2 symlinkat fchdir dlopen errno-keep)
# GG_VPATH_CASES=all: every case (about a minute more), e.g. after a change to a wrapper.
if [[ "${GG_VPATH_CASES:-}" == all ]]; then
	mapfile -t entry_cases < <("$ENTRY" --list)
fi
setup "the root of the entry cases" sh -c '
	set -e
	er=$1 progs=$2
	mkdir -p "$er/bin" "$er/usr/bin" "$er/lib64" "$er/lib/x86_64-linux-gnu" "$er/tmp" "$er$progs"
	cp /lib64/ld-linux-x86-64.so.2 "$er/lib64/"
	for l in libc.so.6 libz.so.1 libm.so.6; do cp "/lib/x86_64-linux-gnu/$l" "$er/lib/x86_64-linux-gnu/"; done
	cp "$(readlink -f /bin/sh)" "$er/bin/sh"
	for p in echo true cat; do cp "/bin/$p" "$er/bin/$p"; cp "$er/bin/$p" "$er/usr/bin/$p"; done
	cp "$progs"/* "$er$progs/"' sh "$ER" "$BUILD_DIR/tests/progs"
setup "the shim's libraries in the root of the entry cases" shim_deps "$ER"
entry_same() {
	local c=$1 prc=0 vrc=0
	rm -rf "$W" "$ER$W" "$T/etrace"
	mkdir -p "$W" "$ER$W" "$T/etrace"
	(cd "$W" && env -i PATH=/usr/bin:/bin timeout -k 5 30 "$ENTRY" "$c") >"$T/e.plain" 2>&1 ||
		prc=$?
	rm -rf "$W" "$ER$W"
	mkdir -p "$W" "$ER$W"
	(cd "$W" && env -i PATH=/usr/bin:/bin GG_TRACE_DIR="$T/etrace" timeout -k 5 30 "$VEXEC" \
		--exec --preload "$SHIM" "$ER" "$W" "$ENTRY" "$ENTRY" "$c") >"$T/e.vroot" 2>&1 || vrc=$?
	sed -i "s|$ER||g" "$T/e.vroot"
	diff -u "$T/e.plain" "$T/e.vroot" && ((prc == vrc)) ||
		{ echo "exit status: $prc on the host, $vrc under GG_VROOT"; return 1; }
	[[ -n "$(ls "$T/etrace")" ]] || { echo "nothing recorded"; return 1; }
}
entry_all_same() {
	local c bad=0
	for c in "${entry_cases[@]}"; do
		entry_same "$c" >"$T/e.log" 2>&1 || { echo "case $c:"; cat "$T/e.log"; bad=1; }
	done
	echo "${#entry_cases[@]} cases"
	return "$bad"
}
tap_check "entry-point cases behave under GG_VROOT (recording) as on the host" entry_all_same

tap_finish
