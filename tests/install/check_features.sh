#!/bin/sh
# check_features.sh SOURCE_ROOT WORK COMPLETE
#
# The feature options fail loudly and degrade honestly.  libdw stands for
# every optional package: a pkg-config directory holding every .pc file
# of this machine except libdw.pc makes it "not installed".
#   1. -Dlibdw=enabled without it: configure fails naming libdw-dev.
#   2. --auto-features=enabled (what ./dev uses) without it: configure
#      fails; when this machine has every other part (COMPLETE=yes) the
#      message names libdw-dev.
#   3. -Dlibdw=disabled: configure succeeds, its summary lists libdw as
#      left out, and the tests that read function names in stacks are
#      SKIP (exit 77) with the reason - not failures, not passes.
set -eu
src=$1 work=$2 complete=$3
rm -rf "$work"
mkdir -p "$work/pc"
fail() { echo "FAIL: $*"; exit 1; }

for d in $(pkg-config --variable pc_path pkg-config | tr : ' '); do
    [ -d "$d" ] || continue
    for f in "$d"/*.pc; do
        [ -e "$f" ] && ln -sf "$f" "$work/pc/"
    done
done
rm -f "$work/pc/libdw.pc"
[ -e "$work/pc/sqlite3.pc" ] || fail "no sqlite3.pc found through pkg-config's pc_path"

without_libdw() {
    env PKG_CONFIG_LIBDIR="$work/pc" PKG_CONFIG_PATH= "$@"
}

if without_libdw meson setup -Dlibdw=enabled "$work/enabled" "$src" >"$work/1.log" 2>&1; then
    fail "-Dlibdw=enabled configured without libdw.pc"
fi
grep -q 'libdw not found: apt-get install libdw-dev' "$work/1.log" ||
    { tail -5 "$work/1.log"; fail "-Dlibdw=enabled: the error does not name libdw-dev"; }
echo "ok: -Dlibdw=enabled without libdw: $(grep -o 'ERROR:.*' "$work/1.log")"

if without_libdw meson setup --auto-features=enabled "$work/auto" "$src" >"$work/2.log" 2>&1; then
    fail "--auto-features=enabled configured without libdw.pc"
fi
if [ "$complete" = yes ]; then
    grep -q 'apt-get install libdw-dev' "$work/2.log" ||
        { tail -5 "$work/2.log"; fail "--auto-features=enabled: the error does not name libdw-dev"; }
else
    grep -q 'apt-get install' "$work/2.log" ||
        { tail -5 "$work/2.log"; fail "--auto-features=enabled: the error names no package"; }
fi
echo "ok: --auto-features=enabled without libdw: $(grep -o 'ERROR:.*' "$work/2.log")"

without_libdw meson setup -Dlibdw=disabled "$work/nolibdw" "$src" >"$work/3.log" 2>&1 ||
    { tail -20 "$work/3.log"; fail "-Dlibdw=disabled does not configure"; }
grep -q '^ *libdw *: disabled' "$work/3.log" ||
    { cat "$work/3.log"; fail "the summary does not list libdw as left out"; }
echo "ok: -Dlibdw=disabled configures and says libdw is left out"
tests="tracer_blocked bpf_collector bpf_session bpf_live tui"
meson test -C "$work/nolibdw" --no-rebuild $tests >"$work/test.log" 2>&1 ||
    { cat "$work/test.log"; fail "meson test of the libdw tests failed"; }
for t in $tests; do
    grep -Eq "[ /]$t +SKIP" "$work/test.log" || { cat "$work/test.log"; fail "$t is not SKIP"; }
done
grep -q 'SKIP: needs stack symbols: libdw' "$work/nolibdw/meson-logs/testlog.txt" ||
    fail "the skips do not say why"
echo "ok: $tests: SKIP, with the reason"
rm -rf "$work"
