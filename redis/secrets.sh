#!/bin/sh
# secrets.sh -- check, and on first start generate, the Redis tier's secrets.
#
# How to use:
#   secrets.sh check    DIR   every secret file exists and is well formed
#   secrets.sh generate DIR   create the missing ones, then check them all
#   secrets.sh wait     DIR SECONDS   wait (bounded) for another container
#                             to generate them, then check them all
# In the image: /usr/local/bin/redis-secrets.sh; redis/entrypoint.sh calls
# it.  DIR is the secrets volume, /run/secrets/redis in containers, shared
# read-only with the app (which reads only DIR/app).
#
# One file per user, named after it: admin (the `default` user: humans,
# healthchecks), app (the FastCGI workers), replication (replica-user),
# sentinel (sentinel-user on the data nodes and the sentinels' own
# requirepass).  A password is the file's first line without its newline:
# 16 to 256 characters from [A-Za-z0-9._~+/=-], so it survives a Redis config
# file, a command line and an ACL file unquoted.  Generated ones are 64 hex
# digits (256 bits) from /dev/urandom.
#
# Never commit these files.  Files are created mode 0640 (group: set
# REDIS_SECRETS_GROUP to chgrp them, e.g. to a group the app runs in).
# Generation is race-free: each file is written to a temporary name and
# hard-linked into place, so when two containers start at once both end up
# with the same secret.  Exit status: 0 ok, 1 error (message on stderr).

set -eu

NAMES="admin app replication sentinel"
PROG=redis-secrets

die() {
    printf '%s: error: %s\n' "$PROG" "$*" >&2
    exit 1
}

# check_one FILE: the secret in FILE is present and well formed.
check_one() {
    f=$1
    [ -e "$f" ] || die "missing secret file $f (give it, e.g. as a Docker" \
        "secret, or start the primary with REDIS_GENERATE_SECRETS=yes)"
    [ -r "$f" ] || die "secret file $f is not readable by uid $(id -u)"
    pw=$(head -n 1 "$f")
    n=${#pw}
    [ "$n" -ge 16 ] || die "secret in $f is $n characters; at least 16 needed"
    [ "$n" -le 256 ] || die "secret in $f is $n characters; at most 256"
    case $pw in
        *[!A-Za-z0-9._~+/=-]*)
            die "secret in $f has characters outside [A-Za-z0-9._~+/=-]" ;;
    esac
}

check_all() {
    [ -d "$1" ] || die "secrets directory $1 does not exist"
    for name in $NAMES; do
        check_one "$1/$name"
    done
}

# generate_one FILE: create FILE with a fresh random secret unless it exists.
generate_one() {
    f=$1
    [ -e "$f" ] && return 0
    tmp="$f.tmp.$$"
    pw=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
    [ ${#pw} -eq 64 ] || die "could not read 32 bytes from /dev/urandom"
    (umask 027 && printf '%s\n' "$pw" > "$tmp") \
        || die "cannot write $tmp"
    if [ -n "${REDIS_SECRETS_GROUP:-}" ]; then
        chgrp "$REDIS_SECRETS_GROUP" "$tmp" \
            || { rm -f "$tmp"; die "chgrp $REDIS_SECRETS_GROUP $tmp failed"; }
    fi
    # link(2) fails if the name exists: whoever links first wins.
    if ln "$tmp" "$f" 2>/dev/null; then
        printf '%s: generated %s\n' "$PROG" "$f" >&2
    fi
    rm -f "$tmp"
}

[ $# -ge 2 ] || die "usage: secrets.sh check|generate|wait DIR [SECONDS]"
cmd=$1
dir=$2

case $cmd in
    check)
        check_all "$dir"
        ;;
    generate)
        (umask 027 && mkdir -p "$dir") || die "cannot create $dir"
        for name in $NAMES; do
            generate_one "$dir/$name"
        done
        check_all "$dir"
        ;;
    wait)
        [ $# -eq 3 ] || die "usage: secrets.sh wait DIR SECONDS"
        case $3 in
            ''|*[!0-9]*) die "wait: SECONDS must be a number, got '$3'" ;;
        esac
        left=$3
        while :; do
            missing=
            for name in $NAMES; do
                [ -e "$dir/$name" ] || missing="$missing $name"
            done
            [ -z "$missing" ] && break
            [ "$left" -gt 0 ] || die "secrets still missing in $dir after" \
                "$3 s:$missing (is the primary, which generates them," \
                "running? or give them as files)"
            sleep 1
            left=$((left - 1))
        done
        check_all "$dir"
        ;;
    *)
        die "unknown command '$cmd' (check, generate or wait)"
        ;;
esac
