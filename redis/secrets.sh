#!/bin/sh
# secrets.sh -- check, and on first start generate, the Redis tier's secrets.
#
# How to use:
#   secrets.sh check    DIR [NAME...]  the secret files exist and are well
#                             formed (all of them, or the NAMEs given)
#   secrets.sh generate DIR   create the missing ones, then check them all
#   secrets.sh wait     DIR SECONDS [NAME...]  wait (bounded) for another
#                             container to provide them, then check them
#   secrets.sh split    DIR ROLE OUT   write into OUT only what ROLE needs
#                             (node or sentinel; see ROLES below), then
#                             check OUT for that role
#   secrets.sh hash     DIR NAME   print the SHA-256 (hex) of NAME's
#                             password: from DIR/NAME, or DIR/NAME.sha256
#                             where only the hash is there (checked first)
# In the image: /usr/local/bin/redis-secrets.sh; redis/entrypoint.sh calls
# it.  DIR is the secrets volume, /run/secrets/redis in containers, shared
# read-only with the app (which reads only DIR/app).
#
# One file per user, named after it: admin (the `default` user of the data
# nodes: humans, healthchecks), app (the FastCGI workers), replication
# (replica-user), sentinel (sentinel-user on the data nodes: what the
# Sentinels log in with) and sentinel-admin (the Sentinels' own `default`
# user: their requirepass, which they also use with each other, and
# healthchecks).  A password is the file's first line without its newline:
# 16 to 256 characters from [A-Za-z0-9._~+/=-], so it survives a Redis config
# file, a command line and an ACL file unquoted.  Generated ones are 64 hex
# digits (256 bits) from /dev/urandom.
#
# NAME.sha256 holds the SHA-256 of NAME's password (64 lowercase hex
# digits and a newline), which is all a server needs of a password it
# checks but never sends: the ACL `#<hash>` form.  A NAME.sha256 asked for
# by check or wait is also satisfied by NAME itself.  What each role gets
# from `split` (ROLES), so that none holds a password it does not send:
#   node      admin, replication; app.sha256, sentinel.sha256
#             (the data nodes: ACL users, masterauth, healthchecks, and
#             asking the Sentinels as replica-user who is primary)
#   sentinel  sentinel, sentinel-admin; app.sha256, replication.sha256
#             (auth-pass to the data nodes, requirepass, and the ACL users
#             the app and the data nodes log in to Sentinel with)
#
# Never commit these files.  Files are created mode 0640 (group: set
# REDIS_SECRETS_GROUP to chgrp them, e.g. to a group the app runs in).
# Generation is race-free: each file is written to a temporary name and
# hard-linked into place, so when two containers start at once both end up
# with the same secret.  Exit status: 0 ok, 1 error (message on stderr).

set -eu

# shellcheck disable=SC2034 # read by wscommon.sh (log, die)
PROG=redis-secrets
# log, die: the shared shell library, beside this script in the image
# (also when it runs as the /usr/local/bin/redis-secrets.sh link), lib/sh/
# in the source tree (docs/ARCHITECTURE.md, "shared shell library").
here=$(dirname "$(readlink -f "$0")")
lib=$here/wscommon.sh
[ -r "$lib" ] || lib=$here/../lib/sh/wscommon.sh
# shellcheck source=SCRIPTDIR/../lib/sh/wscommon.sh
. "$lib"

# A list of names is passed as arguments (POSIX sh's one array), never
# split from a string: these two run a command with a list appended.

# with_names CMD [ARG...]: run CMD ARG... followed by every user's name.
with_names() {
    "$@" admin app replication sentinel sentinel-admin
}

# with_role_names ROLE CMD [ARG...]: run CMD ARG... followed by what ROLE
# needs (ROLES above); die if ROLE is unknown.
with_role_names() {
    r=$1
    shift
    case $r in
        node) "$@" admin replication app.sha256 sentinel.sha256 ;;
        sentinel) "$@" sentinel sentinel-admin app.sha256 replication.sha256 ;;
        *) die "unknown role '$r' (node or sentinel)" ;;
    esac
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

# check_hash FILE: FILE holds a SHA-256 in hex (64 lowercase digits).
check_hash() {
    f=$1
    [ -r "$f" ] || die "hash file $f is missing or not readable by uid" \
        "$(id -u)"
    h=$(head -n 1 "$f")
    case $h in
        *[!0-9a-f]*) die "$f: want 64 lowercase hex digits" ;;
    esac
    [ "${#h}" -eq 64 ] || die "$f: want 64 lowercase hex digits"
}

# present DIR NAME: NAME is there (NAME.sha256 also as NAME's password).
present() {
    [ -e "$1/$2" ] && return 0
    case $2 in
        *.sha256) [ -e "$1/${2%.sha256}" ] ;;
        *) return 1 ;;
    esac
}

# check_names DIR NAME...: each NAME is present and well formed.
check_names() {
    d=$1
    shift
    [ -d "$d" ] || die "secrets directory $d does not exist"
    for name in "$@"; do
        case $name in
            *.sha256)
                if [ -e "$d/$name" ]; then
                    check_hash "$d/$name"
                else
                    check_one "$d/${name%.sha256}"
                fi
                ;;
            *) check_one "$d/$name" ;;
        esac
    done
}

# sha256_of FILE: the SHA-256 (hex) of the password in FILE.
sha256_of() {
    h=$(head -n 1 "$1" | tr -d '\n' | sha256sum) \
        || die "sha256sum of $1 failed"
    printf '%s\n' "${h%% *}"
}

# split_names DIR OUT NAME...: copy the passwords NAME... from DIR to OUT
# and write the hashes NAME.sha256 among them; each file is replaced by
# rename, so a reader never sees half of one.  Whatever else is in OUT (an
# older layout's files) goes: a role keeps only what it uses.
split_names() {
    from=$1
    out=$2
    shift 2
    with_names check_names "$from"
    (umask 027 && mkdir -p "$out") || die "cannot create $out"
    for name in "$@"; do
        tmp="$out/.$name.tmp.$$"
        case $name in
            *.sha256)
                (umask 027 && sha256_of "$from/${name%.sha256}" > "$tmp") ;;
            *) (umask 027 && head -n 1 "$from/$name" > "$tmp") ;;
        esac || { rm -f "$tmp"; die "cannot write $tmp"; }
        if [ -n "${REDIS_SECRETS_GROUP:-}" ]; then
            chgrp "$REDIS_SECRETS_GROUP" "$tmp" \
                || { rm -f "$tmp"; die "chgrp $REDIS_SECRETS_GROUP $tmp failed"; }
        fi
        mv -f "$tmp" "$out/$name" || die "cannot rename $tmp to $out/$name"
    done
    for f in "$out"/* "$out"/.[!.]*; do
        [ -e "$f" ] || continue
        keep=no
        for name in "$@"; do
            [ "${f##*/}" = "$name" ] && keep=yes
        done
        [ "$keep" = yes ] || rm -f "$f" || die "cannot remove $f"
    done
    check_names "$out" "$@"
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
        log "generated $f"
    fi
    rm -f "$tmp"
}

# generate_names DIR NAME...: create DIR and each missing NAME in it, then
# check them all.
generate_names() {
    d=$1
    shift
    (umask 027 && mkdir -p "$d") || die "cannot create $d"
    for name in "$@"; do
        generate_one "$d/$name"
    done
    check_names "$d" "$@"
}

# wait_names DIR SECONDS NAME...: wait up to SECONDS for each NAME to be
# present in DIR, then check them.
wait_names() {
    d=$1
    case $2 in
        ''|*[!0-9]*) die "wait: SECONDS must be a number, got '$2'" ;;
    esac
    total=$2
    left=$2
    shift 2
    while :; do
        missing=
        for name in "$@"; do
            present "$d" "$name" || missing="$missing $name"
        done
        [ -z "$missing" ] && break
        [ "$left" -gt 0 ] || die "secrets still missing in $d after" \
            "$total s:$missing (is the primary, which generates them," \
            "running? or give them as files)"
        sleep 1
        left=$((left - 1))
    done
    check_names "$d" "$@"
}

[ $# -ge 2 ] || die "usage: secrets.sh check|generate|wait|split DIR ..."
cmd=$1
dir=$2
shift 2

case $cmd in
    check)
        if [ $# -gt 0 ]; then
            check_names "$dir" "$@"
        else
            with_names check_names "$dir"
        fi
        ;;
    generate)
        [ $# -eq 0 ] || die "usage: secrets.sh generate DIR"
        with_names generate_names "$dir"
        ;;
    wait)
        [ $# -ge 1 ] || die "usage: secrets.sh wait DIR SECONDS [NAME...]"
        if [ $# -gt 1 ]; then
            wait_names "$dir" "$@"
        else
            with_names wait_names "$dir" "$1"
        fi
        ;;
    split)
        [ $# -eq 2 ] || die "usage: secrets.sh split DIR ROLE OUT"
        with_role_names "$1" split_names "$dir" "$2"
        ;;
    hash)
        [ $# -eq 1 ] || die "usage: secrets.sh hash DIR NAME"
        check_names "$dir" "$1.sha256"
        if [ -e "$dir/$1" ]; then
            sha256_of "$dir/$1"
        else
            head -n 1 "$dir/$1.sha256"
        fi
        ;;
    *)
        die "unknown command '$cmd' (check, generate, wait, split or hash)"
        ;;
esac
