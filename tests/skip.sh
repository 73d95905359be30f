#!/bin/sh
# skip.sh REASON... - stands in for a test whose part was left out of the
# build (see the summary of `meson setup`): prints why and exits 77, which
# meson counts as SKIP.  Never a pass, never a failure.
echo "SKIP: $*"
exit 77
