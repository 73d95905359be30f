#!/usr/bin/env bash
# tests/fresh/run.sh - the README's `./dev test`, run from nothing on a bare
# Debian 12 root (what `./dev test-fresh` and CI's first step run).
#
# A developer machine collects packages; a green `./dev test` there proves
# only that this machine has what the build needs.  This builds a minimal
# Debian 12 root with debootstrap from Debian's own servers, copies in the
# checkout's files (tracked and untracked-but-not-ignored: no build
# directories, no recordings), and runs `./dev test` in it as root, so every
# package the build and the tests need must be installed by `./dev` itself.
#
# The bare root (debootstrap's minbase, no project package) is cached as a
# tarball between runs; the project's packages are installed into a fresh
# copy every time.  Override the cache with TASKSCOPE_FRESH_CACHE, force a
# new bootstrap with --rebootstrap; keep the root afterwards for a look
# inside with TASKSCOPE_FRESH_KEEP=1.  Arguments after the options go to
# `./dev test` (e.g. a suite: --suite runtime).
#
# Safety: every mount lives in a private mount namespace (unshare), so the
# mounts vanish with the namespace and the host never sees them; the root is
# removed only after checking that nothing is mounted under it.
set -euo pipefail
cd "$(dirname "$0")/../.."
src=$PWD

suite=bookworm
mirror=${TASKSCOPE_FRESH_MIRROR:-http://deb.debian.org/debian}
cache_dir=${TASKSCOPE_FRESH_CACHE:-/var/cache/taskscope-fresh}
tarball=$cache_dir/$suite-minbase.tar
max_age_days=30

rebootstrap=0
if [ "${1:-}" = --rebootstrap ]; then
    rebootstrap=1
    shift
fi

die() { echo "test-fresh: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot and bind mounts)"
for tool in unshare chroot mount findmnt; do
    command -v "$tool" >/dev/null || die "$tool not found (apt-get install util-linux mount)"
done
if ! command -v debootstrap >/dev/null; then
    echo "test-fresh: installing debootstrap" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi

# ---- the bare root, cached --------------------------------------------------
if [ $rebootstrap -eq 1 ] || [ ! -s "$tarball" ] ||
   [ -n "$(find "$tarball" -mtime +$max_age_days 2>/dev/null)" ]; then
    mkdir -p "$cache_dir"
    boot=$(mktemp -d "$cache_dir/bootstrap.XXXXXX")
    echo "test-fresh: debootstrap $suite (minbase) from $mirror" >&2
    t0=$(date +%s)
    if ! debootstrap --variant=minbase "$suite" "$boot/root" "$mirror" >"$boot/log" 2>&1; then
        tail -20 "$boot/log" >&2
        die "debootstrap failed (log above)"
    fi
    tar -C "$boot/root" -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
    rm -rf --one-file-system "$boot"
    echo "test-fresh: bare root cached in $tarball ($(( $(date +%s) - t0 )) s)" >&2
fi

# ---- a fresh copy of it, with the checkout inside ---------------------------
work=$(mktemp -d /var/tmp/taskscope-fresh.XXXXXX)
root=$work/root
cleanup() {
    if [ "${TASKSCOPE_FRESH_KEEP:-0}" = 1 ]; then
        echo "test-fresh: kept $root (TASKSCOPE_FRESH_KEEP=1)" >&2
        return
    fi
    # Mounts were made in a private namespace that is gone by now; refuse to
    # delete anything if some mount is still visible under the root.
    if findmnt -rn -o TARGET | grep -q "^$root\(/\|$\)"; then
        echo "test-fresh: mounts remain under $root; not removing it" >&2
        return
    fi
    rm -rf --one-file-system "$work"
}
trap cleanup EXIT

mkdir -p "$root"
tar -C "$root" -xf "$tarball"
mkdir -p "$root/src"
git ls-files -z --cached --others --exclude-standard |
    (cd "$src" && tar --null -T - -cf -) | tar -C "$root/src" -xf -
cp -L /etc/resolv.conf "$root/etc/resolv.conf"
# The security and updates suites, as on an installed Debian 12.
cat >"$root/etc/apt/sources.list" <<SOURCES
deb $mirror $suite main
deb $mirror $suite-updates main
deb http://deb.debian.org/debian-security $suite-security main
SOURCES
# Packages must not start services (PostgreSQL's postinst would start a
# cluster that outlives the test): tests start the servers they need.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"

# ---- ./dev test inside, as root, with the kernel interfaces BPF needs --------
echo "test-fresh: running ./dev test in a fresh $suite root ($root)" >&2
t0=$(date +%s)
set +e
unshare --mount --propagation private -- /bin/bash -euo pipefail -s -- "$root" "$@" <<'INSIDE'
root=$1
shift
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"          # BTF, bpffs, tracefs, debugfs ride along
mount --rbind /dev "$root/dev"          # /dev/shm, /dev/pts included
for fs in /sys/kernel/btf /sys/fs/bpf /sys/kernel/tracing /sys/kernel/debug; do
    [ -e "$fs" ] && [ ! -e "$root$fs" ] && echo "test-fresh: $fs not visible in the root" >&2
done
chmod 1777 "$root/tmp"       # on disk, as on an installed Debian 12
exec env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LANG=C.UTF-8 TERM=xterm-256color DEBIAN_FRONTEND=noninteractive \
    chroot "$root" /bin/bash -c 'cd /src && ./dev test "$@"' dev-test "$@"
INSIDE
rc=$?
set -e
echo "test-fresh: ./dev test in the fresh root exited $rc after $(( $(date +%s) - t0 )) s" >&2
exit $rc
