#!/usr/bin/env bash
# Proves that `make install PREFIX= DESTDIR=` lays out bin/gg and lib/libggshim.so,
# that an installed gg finds its shim, and that after an install with the default
# prefix the literal `LD_PRELOAD=libggshim.so CMD` records CMD (the library is where
# the dynamic loader looks; the test removes what it installed).
set -euo pipefail
. tests/e2e/lib.sh
e2e_init

stage=$T/stage
tap_run "make install PREFIX=/opt/gg DESTDIR=stage exits 0" "$T/install.log" \
	make --no-print-directory -C "$TOP" install BUILD="$BUILD" PREFIX=/opt/gg DESTDIR="$stage"
tap_check "bin/gg and lib/libggshim.so are installed" \
	test -x "$stage/opt/gg/bin/gg" -a -f "$stage/opt/gg/lib/libggshim.so"

staged_record() {
	mkdir -p "$T/w1" && cd "$T/w1" &&
		"$stage/opt/gg/bin/gg" record -- sh -c 'cat /etc/hostname >/dev/null' &&
		"$stage/opt/gg/bin/gg" trace dump --json | grep -q '"/etc/hostname"'
}
tap_check "an installed gg records with its own shim" staged_record
# libcurl and libcrypto are loaded when first used (runtime/engine/netlibs.c): not
# needed by bin/gg, still by the Lambda bootstrap (its package copies what it needs)
needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }
lazy_libs() {
	! needed "$stage/opt/gg/bin/gg" | grep -E '^lib(curl|crypto)\.' &&
		needed "$stage/opt/gg/lib/gg/bootstrap" | grep -q '^libcurl\.so' &&
		"$stage/opt/gg/bin/gg" cache push --help >/dev/null
}
tap_check "bin/gg needs neither libcurl nor libcrypto to start; the bootstrap links both" lazy_libs
tap_check "lib/gg/bootstrap is installed and an installed gg packages it" \
	bash -c "test -x '$stage/opt/gg/lib/gg/bootstrap' &&
		'$stage/opt/gg/bin/gg' lambda package --list -o '$T/pkg.zip' | grep -q '^bootstrap .*/lib/gg/bootstrap$'"

if [[ $(id -u) == 0 ]]; then
	if [[ ! -e /usr/local/lib/libggshim.so ]]; then # ours to remove afterwards
		cleanup_install() { rm -f /usr/local/lib/libggshim.so /usr/local/bin/gg /usr/local/lib/gg/bootstrap; rmdir /usr/local/lib/gg 2>/dev/null || true; ldconfig; e2e_cleanup; }
		trap cleanup_install EXIT
		tap_run "make install (default prefix) exits 0" "$T/install2.log" \
			make --no-print-directory -C "$TOP" install BUILD="$BUILD"
	fi
	literal() {
		mkdir -p "$T/w2/.gg" && cd "$T/w2" &&
			LD_PRELOAD=libggshim.so sh -c 'cat /etc/hostname >/dev/null' 2>"$T/literal.err" &&
			! grep -q 'cannot be preloaded' "$T/literal.err" &&
			ls .gg/trace/*.ggt >/dev/null &&
			/usr/local/bin/gg trace dump --json | grep -q '"/etc/hostname"'
	}
	tap_check "LD_PRELOAD=libggshim.so (no path) records after make install" literal
else
	echo "# not root: installing under /usr/local (the literal form) is not tried"
fi

tap_finish
