# shellcheck shell=bash
# tests/e2e/lib.sh - shared helpers for the end-to-end scripts (sourced, not run).
#
# A script sources it from the repository top (where tests/run.sh starts it):
#
#     . tests/e2e/lib.sh
#     e2e_init                      # checks the build, makes $T, cleans up at exit
#     tap_check "what it proves" cmd args...
#     tap_finish                    # exit status: 1 if any check failed
#
# Output follows tests/run.sh's contract: one `ok - <what>` or `not ok - <what>`
# line per check, diagnostics as `# ` lines.  Environment:
#   BUILD    build directory, relative to the repository top or absolute (build)
#   GG_KEEP  1: keep the temporary directory (its path is printed) for debugging

# The repository top and the binaries under test, as absolute paths.
TOP=$(pwd -P)
BUILD=${BUILD:-build}
case "$BUILD" in
/*) BUILD_DIR=$BUILD ;;
*) BUILD_DIR=$TOP/$BUILD ;;
esac
GG=$BUILD_DIR/bin/gg
SHIM=$BUILD_DIR/lib/libggshim.so
export BUILD

# A sanitizer build of gg (make check) may run under another LD_PRELOAD in a test.
if [[ "${GG_CHECK:-}" == 1 ]]; then
	export ASAN_OPTIONS="verify_asan_link_order=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
fi

# Nothing from the caller's environment may steer the shim or gg.
unset LD_PRELOAD GG_DIR GG_TRACE_DIR GG_SHIM_OFF GG_SHIM_LIB
# Builds print messages in English, whatever the caller's locale.
export LC_ALL=C

TAP_FAILED=0
TAP_COUNT=0
T=

# Print each line of a file (or stdin) as a TAP diagnostic, at most $2 lines.
tap_diag() {
	local file=${1:--} max=${2:-40}
	sed -e "${max}q" -e 's/^# //' -e 's/^/# /' "$file"
}

tap_ok() {
	TAP_COUNT=$((TAP_COUNT + 1))
	echo "ok - $1"
}

tap_not_ok() {
	TAP_COUNT=$((TAP_COUNT + 1))
	TAP_FAILED=$((TAP_FAILED + 1))
	echo "not ok - $1"
}

# tap_check WHAT CMD [ARGS...]: one check; CMD's output is shown only on failure.
tap_check() {
	local what=$1 out rc=0
	shift
	out=$(mktemp)
	"$@" >"$out" 2>&1 || rc=$?
	if ((rc == 0)); then
		tap_ok "$what"
	else
		tap_not_ok "$what"
		echo "# command: $* (exit $rc)"
		tap_diag "$out" 60
	fi
	rm -f "$out"
	return 0
}

# tap_run WHAT LOG CMD...: one check that CMD exits 0; its output goes to LOG
# (kept for later checks), and its tail is shown on failure.
tap_run() {
	local what=$1 log=$2 rc=0
	shift 2
	"$@" >"$log" 2>&1 || rc=$?
	if ((rc == 0)); then
		tap_ok "$what"
	else
		tap_not_ok "$what"
		echo "# command: $* (exit $rc); last lines of its output:"
		tap_diag <(tail -n 30 "$log")
	fi
	return 0
}

# A step the checks depend on (fetch, configure, a reference build).  On success
# it prints nothing: it is not what the script proves.  On failure it counts as
# a failed check, shows the log and ends the script.
setup() {
	local what=$1 out rc=0
	shift
	out=$(mktemp)
	"$@" >"$out" 2>&1 || rc=$?
	if ((rc != 0)); then
		tap_not_ok "setup: $what"
		echo "# command: $* (exit $rc)"
		tap_diag <(tail -n 60 "$out") 60
		rm -f "$out"
		tap_finish
	fi
	rm -f "$out"
}

# End the script: exit 1 if a check failed or none ran.
tap_finish() {
	if ((TAP_COUNT == 0)); then
		echo "# no check ran"
		exit 1
	fi
	((TAP_FAILED == 0)) || exit 1
	exit 0
}

e2e_cleanup() {
	[[ -n "$T" && -d "$T" ]] || return 0
	if [[ "${GG_KEEP:-}" == 1 ]]; then
		echo "# kept $T"
		return 0
	fi
	# Build trees may hold read-only files and directories.
	chmod -R u+rwX "$T" 2>/dev/null || true
	rm -rf "$T"
}

# e2e_init: check that gg and the shim are built, create the temporary directory
# $T (removed at exit) and move there.
# store_blob_names GGDIR: the names of every blob of a store, as printed hashes
# ("V..." / "T..."), sorted: the files under blobs/, the thunks of thunks.pack and
# the values of packs/*.pack (where `gg infer` puts the thunks and small values it
# stores: runtime/store/blobpack.h).
store_blob_names() {
	{
		(cd "$1/blobs" 2>/dev/null && find . -type f) |
			sed -nE 's#^\./(..)/([0-9a-f]{30})(\.t)?$#\1\2\3#p' |
			sed -E 's#^(.{32})\.t$#T\1#; t; s#^#V#'
		python3 -c '
import glob, os, sys
packs = [(os.path.join(sys.argv[1], "thunks.pack"), "T")]
packs += [(p, "V") for p in glob.glob(os.path.join(sys.argv[1], "packs", "*.pack"))]
for p, kind in packs:
    if os.path.exists(p):
        d = open(p, "rb").read()
        for i in range(int.from_bytes(d[12:16], "little")):
            print(kind + d[16 + 28 * i:32 + 28 * i].hex())' "$1"
	} | LC_ALL=C sort -u
}

e2e_init() {
	if [[ ! -x "$GG" || ! -f "$SHIM" ]]; then
		tap_not_ok "gg and libggshim.so are built ($GG, $SHIM)"
		tap_finish
	fi
	T=$(mktemp -d "${TMPDIR:-/tmp}/gg-e2e.XXXXXX")
	T=$(cd "$T" && pwd -P)
	trap e2e_cleanup EXIT
}

# in_dir DIR CMD...: run CMD in DIR (in a subshell: the caller's cwd is kept).
in_dir() {
	(cd "$1" && shift && "$@")
}

# corpus NAME DEST: a clean copy of a Debian source package (scripts/corpus.sh).
corpus() {
	"$TOP/scripts/corpus.sh" "$1" "$2"
}

# configure_cached DIR CMD...: run CMD in DIR, a configure step (./configure,
# cmake -S DIR -B DIR/build ...) on a fresh corpus copy; or, when the same step
# already ran on the same tree on this system, put back the tree it left there.
#
# A configure step is set-up, never what a script proves, and it is slow: GNU
# hello's runs hundreds of compiles (a minute or more on 2 loaded cores), in
# each of eight scripts.  The cache, ${GG_TEST_CACHE:-$HOME/.cache/gg/e2e}/
# configured/KEY/, holds tree/ (the configured tree), origin (the path it was
# configured at) and relocate.list (its text files that name that path).  KEY
# hashes everything a configure result can depend on: CMD (DIR in it written
# @DIR), the fresh tree (names, sizes, mtimes, link targets), the environment a
# configure step reads, dpkg's status file (the installed packages), the tools
# on PATH, the kernel, the user, the file system of DIR, and this file.  A hit
# is copied with cp -a (timestamps kept) and relocated: origin becomes DIR in
# the files of relocate.list, their mtimes kept.  That equals a configure run at
# DIR but for the logs' temporary names (checked on hello and zlib's CMake tree).
# A tree that names its path in a binary file, in a symlink or beside other
# paths of its parent directory is not cached.  One flock per KEY: a second
# script needing the same tree waits for the first one's configure step.
# GG_TEST_CACHE=off runs CMD every time.
configure_cached() {
	local dir=$1 cache key entry lock rc=0 origin tmp f
	shift
	cache=${GG_TEST_CACHE:-$HOME/.cache/gg/e2e}
	if [[ "$cache" == off || "$dir" != /* ]]; then
		in_dir "$dir" "$@"
		return
	fi
	# (no cache where it cannot be made: the step runs, as without one)
	if ! mkdir -p "$cache/configured" 2>/dev/null || ! key=$(configure_key "$dir" "$@") ||
		! exec {lock}>"$cache/configured/$key.lock" 2>/dev/null; then
		in_dir "$dir" "$@"
		return
	fi
	entry=$cache/configured/$key
	flock "$lock" || { exec {lock}>&-; return 1; }
	if [[ -f "$entry/origin" ]]; then
		origin=$(cat "$entry/origin")
		echo "configure_cached: $* configured at $origin (cache $entry)"
		rm -rf "$dir" && cp -a "$entry/tree" "$dir" || rc=1
		while ((rc == 0)) && IFS= read -r f; do
			OLD=$origin NEW=$dir perl -pi -e 's/\Q$ENV{OLD}\E/$ENV{NEW}/g' "$dir/$f" &&
				touch -r "$entry/tree/$f" "$dir/$f" || rc=1
		done <"$entry/relocate.list"
		touch "$entry"
	else
		in_dir "$dir" "$@" || rc=$?
		if ((rc == 0)) && configure_relocatable "$dir"; then
			tmp=$(mktemp -d "$cache/configured/.new.XXXXXX") &&
				cp -a "$dir" "$tmp/tree" &&
				configure_names_path "$dir" >"$tmp/relocate.list" &&
				echo "$dir" >"$tmp/origin" &&
				chmod 755 "$tmp" && mv "$tmp" "$entry" || rm -rf "$tmp"
			# entries unused for 30 days (no script of this version needs them)
			find "$cache/configured" -mindepth 1 -maxdepth 1 -mtime +30 \
				! -name "$key*" -exec rm -rf {} + 2>/dev/null || true
		fi
	fi
	exec {lock}>&-
	return "$rc"
}

# configure_key DIR CMD...: the cache key of configure_cached.
configure_key() {
	local dir=$1 t
	shift
	{
		echo "configure_cached 1"
		printf '%s\n' "${@//"$dir"/@DIR}"
		(cd "$dir" && find . ! -type d -printf '%P %y %s %T@ %l\n' | LC_ALL=C sort)
		env | grep -E '^(CC|CXX|CPP|CXXCPP|CFLAGS|CXXFLAGS|CPPFLAGS|LDFLAGS|LIBS|PATH|SHELL|LANG|LANGUAGE|LC_[A-Z]+|CONFIG_SHELL|CONFIG_SITE|PKG_CONFIG[A-Z_]*|CCACHE[A-Z_]*|CMAKE[A-Z_]*|MESON[A-Z_]*|NINJA[A-Z_]*|MAKEFLAGS|GNUMAKEFLAGS|LD_LIBRARY_PATH|LD_PRELOAD|TMPDIR)=' |
			LC_ALL=C sort
		stat -f -c %T "$dir"
		uname -srvm
		id -u
		for t in cc gcc cpp c++ g++ ld as ar make cmake ninja meson pkg-config pkgconf python3 perl sh bash; do
			t=$(command -v "$t") && stat -L -c '%n %s %Y' "$t"
		done
		cat /var/lib/dpkg/status "$TOP/tests/e2e/lib.sh" 2>/dev/null || true
	} | sha256sum | cut -c1-32
}

# configure_names_path DIR: the text files of DIR that name DIR, relative, sorted.
configure_names_path() {
	local rc=0
	(cd "$1" && grep -rlIF "$1" .) >"$1.names" || rc=$?
	((rc <= 1)) && LC_ALL=C sort "$1.names"
	rc=$?
	rm -f "$1.names"
	return "$rc"
}

# configure_relocatable DIR: DIR names its own path only in text files, each time
# as DIR (not as a sibling of DIR), and holds no symlink to an absolute path.
configure_relocatable() {
	local dir=$1
	[[ -z "$(find "$dir" -type l -lname '/*' -print -quit)" ]] &&
		cmp -s <(grep -rlF "$dir" "$dir") <(grep -rlIF "$dir" "$dir") &&
		(($(grep -rhoF "$(dirname "$dir")" "$dir" | wc -l) == $(grep -rhoF "$dir" "$dir" | wc -l)))
}

# snapshot DIR DEST: save a pristine copy of a prepared tree (timestamps kept), so
# that every build of a script starts from the same state at the same path;
# restore DEST DIR puts it back.  Compilers embed the build directory in debug
# information, so builds compared byte for byte must happen at the same path.
snapshot() {
	rm -rf "$2"
	cp -a "$1" "$2"
}

restore() {
	rm -rf "$2"
	cp -a "$1" "$2"
}

# save_artifacts DIR DEST PATTERN...: copy the files of DIR matching the find(1)
# -path patterns (relative to DIR, e.g. './hello' './*.o') into DEST, keeping
# their relative paths.  The list of saved files is DEST.list.
save_artifacts() {
	local dir=$1 dest=$2 expr=() p
	shift 2
	for p in "$@"; do
		((${#expr[@]} == 0)) || expr+=(-o)
		expr+=(-path "$p")
	done
	rm -rf "$dest"
	mkdir -p "$dest"
	(cd "$dir" && find . -path ./.gg -prune -o \( -type f -o -type l \) \( "${expr[@]}" \) -print |
		LC_ALL=C sort >"$dest.list")
	if [[ -s "$dest.list" ]]; then
		(cd "$dir" && xargs -d '\n' cp -a --parents -t "$dest" <"$dest.list")
	fi
}

# same_artifacts REF DIR PATTERN...: the files DIR holds matching the patterns are
# the same list as REF.list and each is byte-identical (cmp) to its copy in REF.
same_artifacts() {
	local ref=$1 dir=$2 f bad=0 n=0
	shift 2
	save_artifacts "$dir" "$ref.cmp" "$@"
	if ! diff -u "$ref.list" "$ref.cmp.list" >"$ref.diff"; then
		echo "file lists differ (reference vs this build):"
		cat "$ref.diff"
		bad=1
	fi
	while read -r f; do
		n=$((n + 1))
		if [[ -L "$dir/$f" || -L "$ref/$f" ]]; then
			[[ "$(readlink "$dir/$f")" == "$(readlink "$ref/$f")" ]] ||
				{ echo "symlink differs: $f"; bad=1; }
		elif ! cmp -s "$ref/$f" "$dir/$f"; then
			echo "differs: $f"
			bad=1
		fi
	done <"$ref.list"
	echo "compared $n files"
	rm -rf "$ref.cmp" "$ref.cmp.list" "$ref.diff"
	return "$bad"
}

# count_gg_warnings FILE: the number of lines of FILE that are gg's or the shim's
# messages (they start with or contain "gg:").
count_gg_warnings() {
	grep -c 'gg:' "$1" || true
}
