#!/bin/sh
# swarm-secrets.sh -- create, once, the Docker Swarm secrets that
# compose.swarm.yaml mounts (the Swarm form of compose.yaml's one-shot
# "secrets" service).
#
# How to use, on a swarm manager, from the repository root:
#   redis/swarm-secrets.sh [PREFIX]     (PREFIX: webstack by default; the
#                                        stack reads WEBSTACK_SECRETS)
# It creates, from fresh random passwords (redis/secrets.sh generate):
#   PREFIX-redis-admin, PREFIX-redis-replication, PREFIX-redis-sentinel,
#   PREFIX-redis-sentinel-admin, PREFIX-redis-app      (passwords)
#   PREFIX-redis-app-sha256, PREFIX-redis-replication-sha256,
#   PREFIX-redis-sentinel-sha256          (their SHA-256: what a server that
#                                          only checks a password needs)
#   PREFIX-session-secret                 (32 random bytes, hex)
# and never replaces one: when every secret exists it says so and exits 0;
# when only some do, it names them and exits 1 (a hash cannot be derived
# from a Swarm secret, which cannot be read back: remove them all with
# `docker secret rm` and run it again, after removing the stack).
# The passwords exist on this host only in a private temporary directory,
# removed on exit.  Exit status: 0 ok, 1 error (message on stderr).

set -eu

PROG=swarm-secrets
prefix=${1:-webstack}
case $prefix in
    ''|*[!a-z0-9_-]*) printf '%s: error: PREFIX must be [a-z0-9_-], got %s\n' \
        "$PROG" "$prefix" >&2; exit 1 ;;
esac
here=$(cd "$(dirname "$0")" && pwd)
names="redis-admin redis-replication redis-sentinel redis-sentinel-admin
redis-app redis-app-sha256 redis-replication-sha256 redis-sentinel-sha256
session-secret"

have="" missing=""
for n in $names; do
    if docker secret inspect "$prefix-$n" >/dev/null 2>&1; then
        have="$have $prefix-$n"
    else
        missing="$missing $prefix-$n"
    fi
done
if [ -z "$missing" ]; then
    echo "$PROG: every $prefix-* secret exists; nothing to do"
    exit 0
fi
if [ -n "$have" ]; then
    printf '%s: error: some secrets exist (%s ) and some do not (%s );' \
        "$PROG" "$have" "$missing" >&2
    printf ' remove them all (docker secret rm) and run again\n' >&2
    exit 1
fi

umask 077
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$here/secrets.sh" generate "$dir/redis" >/dev/null 2>&1
# the hashes, as each role's share has them
"$here/secrets.sh" split "$dir/redis" node "$dir/node"
"$here/secrets.sh" split "$dir/redis" sentinel "$dir/sentinel"
cp "$dir/node/app.sha256" "$dir/node/sentinel.sha256" \
    "$dir/sentinel/replication.sha256" "$dir/redis/"
od -An -N32 -tx1 /dev/urandom | tr -d ' \n' > "$dir/session-secret"

for n in $names; do
    case $n in
        redis-*-sha256) f=$dir/redis/${n#redis-}; f=${f%-sha256}.sha256 ;;
        redis-*) f=$dir/redis/${n#redis-} ;;
        *) f=$dir/$n ;;
    esac
    docker secret create "$prefix-$n" "$f" >/dev/null
    echo "$PROG: created $prefix-$n"
done
