#!/usr/bin/env bash
# base-image.sh -- make debian:bookworm-slim available without a registry
#
# Every Dockerfile in this project starts FROM debian:bookworm-slim.  With a
# registry that image is simply pulled and this script does nothing else.
# On an air-gapped machine that can still reach a Debian archive (a mirror,
# a proxy, or deb.debian.org itself) the script builds an equivalent image
# locally:
#
#   debootstrap --variant=minbase bookworm <tmpdir> <mirror>
#   trim it the way the official "slim" variant is trimmed
#   tar -C <tmpdir> -c . | docker import - debian:bookworm-slim
#
# The trimming follows what debuerreotype (the tool that builds the official
# Debian images) does for the slim variant: dpkg path-exclude rules for docs,
# man pages and locales, the docker-* apt/dpkg settings, no apt lists or
# caches, no host files (hostname, resolv.conf).  See
# https://github.com/debuerreotype/debuerreotype scripts/debuerreotype-slimify,
# scripts/debuerreotype-minimizing-config and scripts/debuerreotype-fixup.
#
# The root filesystem tarball is cached under $BASE_IMAGE_CACHE, one file per
# suite, architecture and UTC day; a cached tarball younger than
# $BASE_IMAGE_MAX_AGE days is imported again without running debootstrap.
#
# Usage:   lib/tools/base-image.sh [--rebuild] [--no-pull]   (make base-image)
#   --rebuild   ignore the image and the cache, debootstrap again
#   --no-pull   do not try `docker pull` first
# Environment (all optional):
#   BASE_IMAGE         image to provide             (debian:bookworm-slim)
#   BASE_SUITE         Debian suite                 (bookworm)
#   BASE_MIRROR        Debian mirror URL            (from /etc/apt sources)
#   BASE_SECURITY      Debian security mirror URL   (from /etc/apt sources)
#   BASE_IMAGE_CACHE   cache directory              (/var/cache/webstack)
#   BASE_IMAGE_MAX_AGE days a cached tarball is used (7)
# Exit status: 0 when the image is present at the end, 1 otherwise.
# Needs: docker, and for the local build root plus debootstrap.

set -euo pipefail

image=${BASE_IMAGE:-debian:bookworm-slim}
suite=${BASE_SUITE:-bookworm}
cache=${BASE_IMAGE_CACHE:-/var/cache/webstack}
max_age=${BASE_IMAGE_MAX_AGE:-7}
rebuild=0
pull=1
workdir=

for arg in "$@"; do
    case $arg in
    --rebuild) rebuild=1 ;;
    --no-pull) pull=0 ;;
    -h|--help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "base-image: unknown argument: $arg (try --help)" >&2; exit 2 ;;
    esac
done

say() { echo "base-image: $*" >&2; }
die() { say "error: $*"; exit 1; }

# cleanup: unmount anything debootstrap left mounted (an interrupted run can
# leave proc/sys mounted inside the target), then remove the work dir without
# crossing into another file system.
cleanup() {
    local m
    [ -n "$workdir" ] && [ -d "$workdir" ] || return 0
    awk -v d="$workdir/" 'index($2, d) == 1 { print $2 }' /proc/mounts \
        | sort -r | while read -r m; do umount -l "$m" || true; done
    rm -rf --one-file-system -- "$workdir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# apt_uri PATTERN: first Debian archive URI of the host's apt sources whose
# path ends with PATTERN ("debian" or "debian-security"); both the one-line
# (.list) and the deb822 (.sources) formats are read.
apt_uri() {
    local pat=$1 f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
             /etc/apt/sources.list.d/*.sources; do
        [ -r "$f" ] || continue
        awk -v pat="$pat" '
            /^[ \t]*#/ { next }
            $1 == "deb" || $1 == "URIs:" {
                for (i = 2; i <= NF; i++) {
                    if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; continue }
                    u = $i; sub(/\/+$/, "", u)
                    if (u ~ ("/" pat "$") && u ~ /^(https?|file):/) {
                        print u; exit
                    }
                }
            }' "$f"
    done | head -n 1
}

docker info >/dev/null 2>&1 || die "no Docker engine reachable (docker info)"

if [ "$rebuild" = 0 ] && docker image inspect "$image" >/dev/null 2>&1; then
    say "$image is present; nothing to do"
    exit 0
fi

if [ "$rebuild" = 0 ] && [ "$pull" = 1 ]; then
    say "trying: docker pull $image"
    if timeout 300 docker pull -q "$image" >/dev/null 2>&1; then
        say "$image pulled from the registry"
        exit 0
    fi
    say "cannot pull $image; building it from the Debian archive"
fi

# -- local build ------------------------------------------------------------

[ "$(id -u)" = 0 ] || die "debootstrap needs root: run as root or with sudo"
command -v debootstrap >/dev/null \
    || die "debootstrap not installed: apt-get install debootstrap"

mirror=${BASE_MIRROR:-$(apt_uri debian)}
mirror=${mirror:-http://deb.debian.org/debian}
security=${BASE_SECURITY:-$(apt_uri debian-security)}
security=${security:-http://deb.debian.org/debian-security}
arch=$(dpkg --print-architecture)
tarball="$cache/debian-$suite-slim-$arch-$(date -u +%Y%m%d).tar.gz"
mkdir -p "$cache"

# One build at a time per cache directory.
exec 9>"$cache/.lock"
flock 9

newest=$(find "$cache" -maxdepth 1 -type f \
             -name "debian-$suite-slim-$arch-*.tar.gz" -mtime "-$max_age" \
             -printf '%T@ %p\n' | sort -n | tail -n 1 | cut -d' ' -f2-)

if [ "$rebuild" = 1 ] || [ -z "$newest" ]; then
    start=$(date +%s)
    workdir=$(mktemp -d "${TMPDIR:-/tmp}/base-image.XXXXXX")
    root="$workdir/rootfs"
    say "debootstrap --variant=minbase $suite $mirror (about a minute)"
    if ! debootstrap --variant=minbase "$suite" "$root" "$mirror" \
            >"$workdir/debootstrap.log" 2>&1; then
        tail -n 20 "$workdir/debootstrap.log" >&2
        die "debootstrap failed (log above)"
    fi

    say "trimming like the slim variant"
    # Sources as the official image ships them (deb822), on our mirror.
    rm -f "$root/etc/apt/sources.list"
    cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF

    # Keep dpkg from putting docs, man pages and translations back.
    cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
# Slim variant: files containers rarely need are not installed.
path-exclude /usr/share/doc/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
path-include /usr/share/doc/*/copyright
path-include /usr/share/locale/locale.alias
EOF
    # ...and remove those already unpacked (keep copyrights, directories).
    for d in doc groff info linda lintian/overrides locale man; do
        [ -d "$root/usr/share/$d" ] || continue
        find "$root/usr/share/$d" -mindepth 1 -depth \
            ! -type d ! -path '*/usr/share/doc/*/copyright' \
            ! -path '*/usr/share/locale/locale.alias' -delete
        find "$root/usr/share/$d" -mindepth 1 -depth -type d -empty -delete
    done

    # The docker-* apt/dpkg settings of the official image.
    printf '#!/bin/sh\n# no service starts during image builds\nexit 101\n' \
        >"$root/usr/sbin/policy-rc.d"
    chmod 0755 "$root/usr/sbin/policy-rc.d"
    echo 'force-unsafe-io' >"$root/etc/dpkg/dpkg.cfg.d/docker-apt-speedup"
    clean='"rm -f /var/cache/apt/archives/*.deb'
    clean="$clean /var/cache/apt/archives/partial/*.deb"
    clean="$clean /var/cache/apt/*.bin || true\";"
    cat >"$root/etc/apt/apt.conf.d/docker-clean" <<EOF
DPkg::Post-Invoke { $clean };
APT::Update::Post-Invoke { $clean };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
    echo 'Acquire::GzipIndexes "true";' \
        >"$root/etc/apt/apt.conf.d/docker-gzip-indexes"
    echo 'Acquire::Languages "none";' \
        >"$root/etc/apt/apt.conf.d/docker-no-languages"
    echo 'Apt::AutoRemove::SuggestsImportant "false";' \
        >"$root/etc/apt/apt.conf.d/docker-autoremove-suggests"

    # No caches, logs or host files: Docker provides hostname/resolv.conf.
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* \
        "$root"/var/cache/debconf/*-old "$root"/var/cache/ldconfig/aux-cache \
        "$root"/var/log/*.log "$root"/var/log/apt/* \
        "$root"/etc/hostname "$root"/etc/resolv.conf \
        "$root"/run/mount "$root"/tmp/* "$root"/var/tmp/*
    mkdir -p "$root/var/lib/apt/lists/partial" \
        "$root/var/cache/apt/archives/partial"

    say "packing $tarball"
    tar --numeric-owner --xattrs -C "$root" \
        --exclude='./proc/*' --exclude='./sys/*' --exclude='./dev/*' \
        -czf "$tarball.tmp" .
    mv -f "$tarball.tmp" "$tarball"
    # Older tarballs of this suite/arch are superseded.
    find "$cache" -maxdepth 1 -type f \
        -name "debian-$suite-slim-$arch-*.tar.gz" ! -path "$tarball" -delete
    newest=$tarball
    say "rootfs built in $(( $(date +%s) - start ))s"
else
    say "using cached $newest"
fi

say "docker import $newest $image"
docker import \
    --change 'CMD ["bash"]' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "LABEL org.opencontainers.image.description=\"$suite minbase built locally by base-image.sh (debootstrap, $mirror)\"" \
    --message "base-image.sh: debootstrap $suite from $mirror" \
    "$newest" "$image" >/dev/null
docker image inspect "$image" >/dev/null 2>&1 || die "import did not produce $image"
say "$image ready ($(docker image inspect -f '{{.Size}}' "$image" \
    | awk '{ printf "%.0f MB", $1 / 1e6 }'))"
