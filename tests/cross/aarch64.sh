#!/usr/bin/env bash
# aarch64.sh - the AArch64 context switch, built with Debian's cross
# compiler and run under qemu-user: the core runtime and the examples that
# need no I/O library, plus a check that d8-d15 survive switches (the same
# floating-point results as on the host).
#
#   tests/cross/aarch64.sh [BUILD_DIR]     (needs gcc-aarch64-linux-gnu,
#                                           libc6-dev-arm64-cross, qemu-user)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-build-aarch64}
mkdir -p "$out/obj"
CC=aarch64-linux-gnu-gcc
for tool in $CC aarch64-linux-gnu-ar qemu-aarch64; do
    command -v "$tool" >/dev/null || { echo "aarch64: $tool missing, skipped"; exit 77; }
done
# The core and everything that needs no system library beyond libc (uring:
# its stubs, built without liburing: the loop closes its ring through them).
core="error diag stack timer loop task fdwait future sleep timeout overflow
      debug_release gather wait wait_for shield as_completed group lock event
      condition semaphore barrier queue generator with executor objcheck errgroup resname
      uring"
objs=()
for f in $core; do
    $CC -std=gnu11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -Iruntime/include -Iruntime/src \
        -c "runtime/src/$f.c" -o "$out/obj/$f.o"
    objs+=("$out/obj/$f.o")
done
$CC -c runtime/src/arch/ctx_make.c -Iruntime/src -O2 -o "$out/obj/ctx_make.o"
$CC -c runtime/src/arch/switch_aarch64.S -o "$out/obj/switch.o"
aarch64-linux-gnu-ar rcs "$out/libtaskscope.a" "${objs[@]}" "$out/obj/ctx_make.o" "$out/obj/switch.o"

run() {  # name source...
    local name=$1
    shift
    $CC -std=gnu11 -D_GNU_SOURCE -O2 -Iruntime/include "$@" "$out/libtaskscope.a" \
        -lpthread -static -o "$out/$name"
    timeout 120 qemu-aarch64 "$out/$name"
}
fail=0
for ex in hello_world lock_counter async_generator semaphore wait_for current_task \
          producer_consumer gather; do
    # built here, run and checked under qemu by the examples' own checker
    if $CC -std=gnu11 -D_GNU_SOURCE -O2 -Iruntime/include "examples/$ex.c" \
           "$out/libtaskscope.a" -lpthread -static -o "$out/$ex" &&
       TASKSCOPE_EXAMPLE_WRAPPER=qemu-aarch64 python3 tests/check_examples.py \
           "$ex" "$out/$ex" "examples/$ex.c" > "$out/$ex.out" 2>&1; then
        echo "aarch64: $ex ok"
    else
        echo "aarch64: $ex FAILED"; cat "$out/$ex.out"; fail=1
    fi
done
# d8-d15: the numbers an x86-64 build computes (tests/cross/fpregs.expected).
run fpregs tests/cross/fpregs.c | sort > "$out/fpregs.arm"
if diff -q "$out/fpregs.arm" tests/cross/fpregs.expected >/dev/null; then
    echo "aarch64: fpregs ok"
else
    echo "aarch64: floating-point state differs from x86-64's"; fail=1
fi
exit $fail
