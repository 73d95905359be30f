#!/bin/sh
# check_install.sh MODE BUILD WORK APP PREFIX LIBDIR CC [CXX...]
#
# What a user gets from `meson install`, checked from the user's side:
# install BUILD into a temporary DESTDIR (WORK/destdir), then compile APP
# (tests/install/app.c) against the INSTALLED headers and .pc files only
# (PKG_CONFIG_PATH at the installed multiarch pkgconfig directory,
# PKG_CONFIG_SYSROOT_DIR at the DESTDIR) and run it against the installed
# libraries.
#
#   MODE c    every public header alone, and APP, as strict C11 (-std=c11
#             -pedantic -Werror, no _GNU_SOURCE); APP run on the release
#             library and switched to the debug one by LD_LIBRARY_PATH
#             (its DT_RUNPATH gives way); a static link against
#             taskscope-debug and one against taskscope
#             (pkg-config --static), run.
#   MODE cxx  every public header alone, and APP, as C++17 with each CXX.
#
# Exit 0 when all holds, 1 with what failed.
set -eu

mode=$1 build=$2 work=$3 app=$4 prefix=$5 libdir=$6 cc=$7
shift 7

rm -rf "$work"
mkdir -p "$work"
dest=$work/destdir
meson install -C "$build" --no-rebuild --quiet --destdir "$dest" >"$work/install.log" 2>&1 || {
    cat "$work/install.log"
    echo "FAIL: meson install --destdir"
    exit 1
}

# Multiarch: the .pc files are in e.g. lib/x86_64-linux-gnu/pkgconfig.
case $libdir in
/*) lib=$dest$libdir ;;
*) lib=$dest$prefix/$libdir ;;
esac
PKG_CONFIG_PATH=$lib/pkgconfig
PKG_CONFIG_SYSROOT_DIR=$dest
export PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR
unset PKG_CONFIG_LIBDIR || true
for pc in taskscope taskscope-debug; do
    [ -f "$lib/pkgconfig/$pc.pc" ] || { echo "FAIL: $pc.pc not installed in $lib/pkgconfig"; exit 1; }
done
cflags=$(pkg-config --cflags taskscope)
incdir=$(pkg-config --variable=includedir taskscope)
case $incdir in
"$dest"*) ;;
*) incdir=$dest$incdir ;;
esac
[ -f "$incdir/taskscope/taskscope.h" ] || { echo "FAIL: no taskscope.h under $incdir"; exit 1; }

expect() {   # expect RUNTIME OUTPUT-FILE
    printf 'name: squarer\ngather: 0 4 9 16\ngroup: 0 10\nruntime: %s\n' "$1" >"$2.want"
    if ! cmp -s "$2.want" "$2"; then
        echo "FAIL: $2: expected"
        cat "$2.want"
        echo "got"
        cat "$2"
        exit 1
    fi
}

# compile_headers COMPILER LANG STD: each installed public header on its own
compile_headers() {
    for h in "$incdir"/taskscope/*.h; do
        name=taskscope/$(basename "$h")
        printf '#include <%s>\nint ts_test_unused_;\n' "$name" |
            "$1" -x "$2" -std="$3" -pedantic -Wall -Wextra -Werror -fsyntax-only $cflags - ||
            { echo "FAIL: <$name> as $2 ($3) with $1"; exit 1; }
    done
    echo "ok: every header as $2 ($3) with $1"
}

case $mode in
c)
    compile_headers "$cc" c c11
    # -std=c11 defines no _GNU_SOURCE or _POSIX_C_SOURCE: the headers must
    # not need them.
    "$cc" -std=c11 -pedantic -Wall -Wextra -Werror -o "$work/app_c11" "$app" \
        $(pkg-config --cflags --libs taskscope)
    LD_LIBRARY_PATH=$lib "$work/app_c11" >"$work/c11.out"
    expect release "$work/c11.out"
    echo "ok: strict C11 program on the installed release library"
    # The debug-runtime switch on the installed tree: same soname, another
    # directory first in the search path.
    LD_LIBRARY_PATH=$lib/taskscope-debug:$lib "$work/app_c11" >"$work/c11-debug.out"
    expect debug "$work/c11-debug.out"
    echo "ok: the same binary switched to the installed debug runtime"
    # linked against taskscope-debug: its DT_RUNPATH names the debug
    # directory (in the sysroot's eyes), LD_LIBRARY_PATH still wins
    "$cc" -std=c11 -o "$work/app_debug" "$app" $(pkg-config --cflags --libs taskscope-debug)
    if readelf -d "$work/app_debug" | grep -q '(RPATH)'; then
        echo "FAIL: taskscope-debug.pc links with DT_RPATH (LD_LIBRARY_PATH could not override it)"
        exit 1
    fi
    LD_LIBRARY_PATH=$lib/taskscope-debug "$work/app_debug" >"$work/debug.out"
    expect debug "$work/debug.out"
    echo "ok: linked against taskscope-debug (DT_RUNPATH)"
    # Static: everything the libraries need must come from --static.
    for pc in taskscope-debug taskscope; do
        "$cc" -static -std=c11 -o "$work/app_static_$pc" "$app" \
            $(pkg-config --static --cflags --libs $pc) 2>"$work/static-$pc.log" || {
            cat "$work/static-$pc.log"
            echo "FAIL: cc -static ... \$(pkg-config --static --libs $pc)"
            exit 1
        }
        if readelf -d "$work/app_static_$pc" 2>/dev/null | grep -q NEEDED; then
            echo "FAIL: app_static_$pc is not static"
            exit 1
        fi
        env -u LD_LIBRARY_PATH "$work/app_static_$pc" >"$work/static-$pc.out"
        [ $pc = taskscope ] && want=release || want=debug
        expect $want "$work/static-$pc.out"
        echo "ok: static link against $pc"
    done
    ;;
cxx)
    [ $# -gt 0 ] || { echo "FAIL: no C++ compiler given"; exit 1; }
    for cxx in "$@"; do
        compile_headers "$cxx" c++ c++17
        "$cxx" -x c++ -std=c++17 -pedantic -Wall -Wextra -Werror -o "$work/app_cxx" "$app" \
            -x none $(pkg-config --cflags --libs taskscope)
        LD_LIBRARY_PATH=$lib "$work/app_cxx" >"$work/cxx.out"
        expect release "$work/cxx.out"
        echo "ok: C++17 program with $cxx"
    done
    ;;
*)
    echo "usage: check_install.sh c|cxx BUILD WORK APP PREFIX LIBDIR CC [CXX...]"
    exit 2
    ;;
esac
rm -rf "$work"
