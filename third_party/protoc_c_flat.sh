#!/bin/sh
# protoc_c_flat.sh OUTDIR PROTO_ROOT PROTO... - run protoc-c on PROTOs (paths
# relative to PROTO_ROOT) and put the generated .pb-c.c/.pb-c.h files flat in
# OUTDIR, their includes of each other rewritten to the flat names: meson
# custom targets cannot name outputs in subdirectories, and the generated
# sources include each other by their proto path.  The generated code is
# otherwise untouched.
set -eu
out=$1 root=$2
shift 2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
protoc-c --proto_path="$root" --c_out="$tmp" "$@"
for f in $(cd "$tmp" && find . -name '*.pb-c.[ch]'); do
    sed -e 's|#include "\([^"]*/\)\{1,\}\([^"/]*\.pb-c\.h\)"|#include "\2"|' "$tmp/$f" \
        >"$out/$(basename "$f")"
done
