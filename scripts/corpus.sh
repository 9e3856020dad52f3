#!/usr/bin/env bash
# corpus.sh NAME DEST - put a clean copy of the Debian bookworm source package NAME
# (upstream source only: no Debian patches, no debian/ directory) in DEST.
#
# The package is downloaded and unpacked once into a cache outside the repository,
# ${GG_CORPUS:-$HOME/.cache/gg/corpus}/NAME/, and copied (cp -a, timestamps kept)
# from there.  Safe to run concurrently: fetching is serialised with flock.
# If apt has no deb-src entry, one is added for bookworm (root only).
# Third-party source is never put in the repository.
#
# Known to work: hello (GNU hello 2.10, autotools), zlib (1.2.13, CMake or ./configure),
# pkgconf (1.8.1, Meson), fribidi (1.0.8, Meson; generators it builds
# and runs),
# libpng1.6 (1.6.39, autotools + libtool).
set -euo pipefail

usage() {
	echo "usage: scripts/corpus.sh NAME DEST" >&2
	exit 2
}

die() {
	echo "corpus: $*" >&2
	exit 1
}

(($# == 2)) || usage
name=$1
dest=$2
[[ "$name" =~ ^[a-z0-9][a-z0-9.+-]+$ ]] || die "bad source package name '$name'"

cache=${GG_CORPUS:-$HOME/.cache/gg/corpus}
pkgdir=$cache/$name
tree=$pkgdir/tree        # the unpacked upstream tree, complete once it exists
srclist=/etc/apt/sources.list.d/gg-deb-src.sources

# Make `apt-get source` able to find NAME: add a bookworm deb-src entry if apt
# knows no source package of that name, then refresh the lists.
ensure_deb_src() {
	if apt-cache showsrc "$name" 2>/dev/null | grep -q '^Package:'; then
		return 0
	fi
	((EUID == 0)) || die "apt knows no source package '$name' and only root can add a deb-src entry ($srclist)"
	if [[ ! -e "$srclist" ]]; then
		cat >"$srclist" <<-SOURCES
		Types: deb-src
		URIs: http://deb.debian.org/debian
		Suites: bookworm
		Components: main
		Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
		SOURCES
	fi
	apt-get update -qq || die "apt-get update failed"
	apt-cache showsrc "$name" 2>/dev/null | grep -q '^Package:' ||
		die "no source package '$name' in apt's deb-src entries"
}

# Per-package repairs so that the upstream build systems work on the Debian
# tarball.  Called on the unpacked tree, before it is published.
fixup() {
	local src=$1
	case "$name" in
	zlib)
		# Debian's DFSG tarball drops win32/ (debian/copyright, Files-Excluded),
		# but zlib 1.2.13's CMakeLists.txt lists win32/zlib1.rc as a source of
		# the shared library on every non-MinGW system, and CMake refuses a
		# missing source file.  On Linux it is never compiled: an empty file does.
		if [[ ! -e "$src/win32/zlib1.rc" ]]; then
			mkdir -p "$src/win32"
			: >"$src/win32/zlib1.rc"
			touch -r "$src/CMakeLists.txt" "$src/win32" "$src/win32/zlib1.rc"
		fi
		;;
	esac
}

# Download the .dsc and its tarballs and unpack the upstream source (patches
# skipped) into $tree.  Called with the lock held.
fetch() {
	ensure_deb_src
	local work
	work=$(mktemp -d "$pkgdir/.fetch.XXXXXX")
	# apt-get source downloads as the _apt user when it can: let it write here.
	chmod 755 "$work"
	(
		cd "$work"
		apt-get source -qq --download-only "$name" >/dev/null 2>"$work/apt.log" ||
			{ cat "$work/apt.log" >&2; exit 1; }
		dsc=$(ls ./*.dsc)
		dpkg-source --no-check --skip-patches -x "$dsc" src >/dev/null
		rm -rf src/debian
		fixup src
	) || { rm -rf "$work"; die "cannot fetch source package '$name'"; }
	# Keep the downloaded files for reference, then publish the tree atomically.
	mkdir -p "$pkgdir/dl"
	find "$work" -maxdepth 1 -type f ! -name apt.log -exec mv -f {} "$pkgdir/dl/" \;
	mv "$work/src" "$tree"
	rm -rf "$work"
}

mkdir -p "$pkgdir"
if [[ ! -d "$tree" ]]; then
	exec {lock}>"$cache/.lock"
	flock "$lock"
	[[ -d "$tree" ]] || fetch
	flock -u "$lock"
fi

# Copy a clean tree: DEST may exist (then it must be empty) or not.
if [[ -e "$dest" ]]; then
	[[ -d "$dest" ]] || die "'$dest' exists and is not a directory"
	[[ -z "$(ls -A "$dest")" ]] || die "'$dest' is not empty"
	cp -a "$tree/." "$dest/"
else
	mkdir -p "$(dirname "$dest")"
	cp -a "$tree" "$dest"
fi
