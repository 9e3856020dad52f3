#!/usr/bin/env bash
# Proves that `gg build --engine isolated` replays recorded builds with every thunk
# run by the worker in a root holding only the worker package and its blobs:
# GNU hello (autotools), zlib (configure + make, and CMake + Ninja) and pkgconf
# (Meson), outputs deleted, `--no-cache`: every artifact byte-identical to the
# recorded build's, every thunk reports level 3 (path virtualization), and a
# thunk that reads a host header it never declared fails there.
set -euo pipefail
. tests/e2e/lib.sh
e2e_init

# delete_outputs DIR: every output of the graph removed, and nothing cached.
delete_outputs() {
	in_dir "$1" "$GG" graph --json | python3 -c '
import json, os, sys
for t in json.load(sys.stdin)["thunks"]:
    for o in t["outputs"]:
        if os.path.lexists(o["path"]):
            os.remove(o["path"])'
	rm -rf "$GG_DIR/cache"
}

# isolated NAME DIR: the checks of one recorded project.  Its artifacts: every
# output of the graph under DIR but the depfiles ninja deletes.
isolated() {
	local name=$1 dir=$2 jobs=$T/$1.jobs want arts=()
	mapfile -t arts < <(in_dir "$dir" "$GG" graph --json | python3 -c '
import json, os, sys
top = sys.argv[1]
for t in json.load(sys.stdin)["thunks"]:
    for o in t["outputs"]:
        p = o["path"]
        if p.startswith(top + "/") and not p.endswith(".d"):
            print("./" + os.path.relpath(p, top))' "$dir" | sort -u)
	set -- "${arts[@]}"
	save_artifacts "$dir" "$T/$name.recorded" "$@"
	setup "$name: the recording has artifacts" test -s "$T/$name.recorded.list"
	setup "$name: delete every output" delete_outputs "$dir"
	rm -f "$jobs"
	tap_run "$name: gg build --engine isolated --no-cache exits 0" "$T/$name.build.log" \
		in_dir "$dir" "$GG" build -j2 --no-cache --engine "isolated:log=$jobs" --json
	tap_check "$name: every artifact is byte-identical to the recorded build's" \
		same_artifacts "$T/$name.recorded" "$dir" "$@"
	# thunks that are not local-only: each is one job of the isolated engine
	want=$(in_dir "$dir" "$GG" graph --json | python3 -c '
import json, sys
print(sum(1 for t in json.load(sys.stdin)["thunks"] if not t.get("local_only")))')
	tap_check "$name: every one of the $want thunks ran in isolation at level 3 with status 0" \
		python3 - "$jobs" "$want" <<'EOF'
import json, sys
jobs = [json.loads(l) for l in open(sys.argv[1])]
bad = [j for j in jobs if j["level"] != 3 or j["status"] != 0]
print(len(jobs), "jobs;", len(bad), "not at level 3 or failed:", bad[:3])
sys.exit(0 if len(jobs) == int(sys.argv[2]) and not bad else 1)
EOF
}

# GNU hello: autotools + make
hsrc=$T/hello
export GG_DIR=$T/hello-gg
setup "hello: fetch" corpus hello "$hsrc"
setup "hello: ./configure" configure_cached "$hsrc" ./configure
setup "hello: gg record -- make -j2" in_dir "$hsrc" "$GG" record -- make -j2
setup "hello: gg infer" in_dir "$hsrc" "$GG" infer
isolated hello "$hsrc"

# The leak: hello.c now includes a header of the host that no recording declared.
sed -i '1i #include <zlib.h>' "$hsrc/src/hello.c"
rc=0
in_dir "$hsrc" "$GG" build -j2 --engine isolated --no-self-correct >"$T/leak.log" 2>&1 || rc=$?
tap_check "hello: a compile that reads an undeclared host header (zlib.h) fails in isolation" \
	bash -c "test $rc -ne 0 && grep -q 'zlib.h: No such file' '$T/leak.log' || { tail -20 '$T/leak.log'; false; }"

# No compiler cache from here on (meson would use one).  Not set for hello: its
# configure picks gcc itself and its Makefile names it, and without CC in the
# environment its ./configure is the one the other hello scripts run (one
# configure_cached tree for all).
export CC=gcc CCACHE_DISABLE=1

# zlib: its own configure + make (the mv steps are local-only: the host engine)
msrc=$T/zmake
export GG_DIR=$T/zmake-gg
setup "zlib make: fetch" corpus zlib "$msrc"
setup "zlib make: ./configure" configure_cached "$msrc" ./configure
setup "zlib make: gg record -- make -j2" in_dir "$msrc" "$GG" record -- make -j2
setup "zlib make: gg infer" in_dir "$msrc" "$GG" infer
isolated zlib-make "$msrc"

# zlib: CMake + Ninja
csrc=$T/zcmake
export GG_DIR=$T/zcmake-gg
setup "zlib cmake: fetch" corpus zlib "$csrc"
setup "zlib cmake: cmake -G Ninja" configure_cached "$csrc" cmake -S "$csrc" -B "$csrc/build" -G Ninja -DCMAKE_BUILD_TYPE=Release
setup "zlib cmake: gg record -- ninja" in_dir "$csrc/build" "$GG" record -- ninja -j2
setup "zlib cmake: gg infer" in_dir "$csrc/build" "$GG" infer
isolated zlib-cmake "$csrc/build"

# pkgconf: Meson + Ninja
psrc=$T/pkgconf
export GG_DIR=$T/pkgconf-gg
setup "pkgconf: fetch" corpus pkgconf "$psrc"
setup "pkgconf: meson setup" in_dir "$psrc" meson setup build --buildtype=release -Dtests=false
setup "pkgconf: gg record -- ninja" in_dir "$psrc/build" "$GG" record -- ninja -j2
setup "pkgconf: gg infer" in_dir "$psrc/build" "$GG" infer
isolated pkgconf "$psrc"

# gg audit remote: a command running a static executable is named, with its reason
# (opaque-binary when the shim saw it run, static-executable when it is the exe);
# the dynamically linked ones are not
asrc=$T/audit
export GG_DIR=$T/audit-gg
mkdir -p "$asrc"
printf 'int main(void) { return 0; }\n' >"$asrc/s.c"
printf 'all: ran dyn\nstat: s.c\n\tgcc -static -o stat s.c\nran: stat\n\t./stat > ran\ndyn:\n\techo hi > dyn\n' \
	>"$asrc/Makefile"
setup "audit: gg record -- make" in_dir "$asrc" "$GG" record -- make
setup "audit: gg infer" in_dir "$asrc" "$GG" infer
in_dir "$asrc" "$GG" audit remote --json >"$T/remote.json" 2>"$T/remote.err" || true
tap_check "gg audit remote names the static executable's command and only it" \
	python3 - "$T/remote.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
cmds = r["commands"]
print(r["not_remote"], "of", r["thunks"], [(c["command"], c["reasons"]) for c in cmds])
sys.exit(0 if len(cmds) == 1 and "./stat" in cmds[0]["command"] and r["thunks"] == 3
         and ("opaque-binary" in cmds[0]["reasons"] or "static-executable" in cmds[0]["reasons"])
         else 1)
EOF

tap_finish
