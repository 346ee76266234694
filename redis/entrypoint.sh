#!/bin/sh
# entrypoint.sh -- start one node of the Redis tier: primary, replica or
# sentinel, with its secrets, ACL file and log file in place.
#
# How to use (containers engineer):
#   Copy entrypoint.sh, secrets.sh and acl.sh into one directory of the image
#   (e.g. /usr/local/lib/redis-tier/) and the configs (primary.conf,
#   replica.conf, sentinel.conf, users.acl.in) into /etc/redis/.  Then:
#     entrypoint.sh primary  [redis-server options...]
#     entrypoint.sh replica  [redis-server options...]   REDIS_REPLICA_ID=1|2
#     entrypoint.sh sentinel [sentinel options...]       REDIS_SENTINEL_ID=1..3
#     entrypoint.sh secrets   (only create/check the secrets, then exit 0;
#                              for a one-shot init service)
#   Options given after the role are passed to Redis last, so they win.
#   Run it as the user Redis runs as (Debian's `redis`): it never switches
#   users itself.  Redis runs in the foreground as this process (exec), so
#   it gets the container's signals directly.
#
# Environment (defaults are the container layout):
#   REDIS_SECRETS_DIR   /run/secrets/redis   the secret files (secrets.sh):
#                       all of them where the primary generates them, or
#                       only its role's (secrets.sh split: data nodes admin,
#                       replication, app.sha256, sentinel.sha256; sentinels
#                       sentinel, sentinel-admin, app.sha256,
#                       replication.sha256)
#   REDIS_GENERATE_SECRETS  yes for primary and secrets, no otherwise: the
#                       other nodes wait for the primary to generate them
#   REDIS_WAIT_SECONDS  30     bound on every wait (secrets, primary)
#   REDIS_CONF_DIR      /etc/redis
#   REDIS_DATA_DIR      /data  (named volume: AOF, RDB, users.acl,
#                              sentinel.conf)
#   REDIS_LOG_DIR       /var/log/redis  (redis-server.log,
#                       redis-replica-<ID>.log, redis-sentinel-<ID>.log)
#   REDIS_PORT          6379 (sentinel: 26379)
#   REDIS_PRIMARY_HOST  redis-primary     REDIS_PRIMARY_PORT  6379
#   REDIS_ANNOUNCE_HOST this node's name as others should reach it (Compose
#                       service name); sets replica-announce-ip /
#                       sentinel announce-ip
#   REDIS_MASTER_NAME   sessions (the name Sentinel knows the primary by)
#   REDIS_PEERS         "host:port ..." (primary): the replicas; an empty
#                       primary refuses to start while one holds keys
#   REDIS_ALLOW_EMPTY_PRIMARY  yes to start an empty primary anyway
#   REDIS_UMASK         022 (logs must be readable by the collector)
#   REDIS_SENTINELS     "host:port host:port ..." (data nodes): when set, a
#                       starting data node asks Sentinel which node is the
#                       primary now and follows it (so an old primary
#                       restarted after a failover comes back as a replica)
#   LOG_ROTATE_SIZE     52428800 (50 MiB; 0: off)  LOG_ROTATE_KEEP  5
#   LOG_ROTATE_INTERVAL 5 s   this node's log file is rotated by size by
#                       log-rotate.sh (next to this script, or collector/
#                       in the source tree), started detached just before
#                       Redis: renamed to .1, .2, ...  No signal is needed:
#                       Redis opens its logfile for every line (see
#                       log-rotate.sh).  A bad value stops the start.
#
# Errors (missing or malformed secret, unreadable config, primary not
# answering within REDIS_WAIT_SECONDS for a first-start sentinel, an empty
# primary whose replicas still hold data) print one
# "redis-entrypoint: error: ..." line on stderr and exit 1, so the container
# restarts with the reason in its log, after a bounded wait.

set -eu

# Files Redis creates get 0644 & ~REDIS_UMASK.  Default 022: the log
# collector runs as its own uid and must read the logs.  What holds
# passwords is protected otherwise: users.acl is written 0600 by acl.sh, and
# the sentinel.conf that Sentinel rewrites lives in /data, whose directory
# is 0750 (redis/Dockerfile).  Set REDIS_UMASK=027 if the collector shares
# the redis group.
case ${REDIS_UMASK:-022} in
    [0-7][0-7][0-7]|0[0-7][0-7][0-7]) umask "${REDIS_UMASK:-022}" ;;
    *) printf 'redis-entrypoint: error: REDIS_UMASK must be octal like' >&2
       printf ' 022, got %s\n' "$REDIS_UMASK" >&2
       exit 1 ;;
esac

PROG=redis-entrypoint

log() {
    printf '%s: %s\n' "$PROG" "$*" >&2
}

die() {
    log "error: $*"
    exit 1
}

# number NAME VALUE: VALUE is a decimal number 1..65535 (ports, seconds).
number() {
    case $2 in
        ''|*[!0-9]*|0*) die "$1 must be a number from 1 to 65535, got '$2'" ;;
    esac
    [ "${#2}" -le 5 ] && [ "$2" -le 65535 ] \
        || die "$1 must be a number from 1 to 65535, got '$2'"
}

# name NAME VALUE: VALUE is a host name, an IP address or an ID.
name() {
    case $2 in
        ''|*[!A-Za-z0-9.:_-]*) die "$1 must be a host name, got '$2'" ;;
    esac
}

secret() {
    head -n 1 "$SECRETS/$1"
}

# hash NAME: the SHA-256 (hex) of NAME's password (secrets.sh hash: from
# SECRETS/NAME, or SECRETS/NAME.sha256 where only that is there).
hash() {
    "$here/secrets.sh" hash "$SECRETS" "$1"
}

[ $# -ge 1 ] || die "usage: entrypoint.sh primary|replica|sentinel|secrets" \
    "[redis options...]"
role=$1
shift

here=$(cd "$(dirname "$0")" && pwd)
SECRETS=${REDIS_SECRETS_DIR:-/run/secrets/redis}
WAIT=${REDIS_WAIT_SECONDS:-30}
CONF_DIR=${REDIS_CONF_DIR:-/etc/redis}
DATA=${REDIS_DATA_DIR:-/data}
LOGDIR=${REDIS_LOG_DIR:-/var/log/redis}
PRIMARY_HOST=${REDIS_PRIMARY_HOST:-redis-primary}
PRIMARY_PORT=${REDIS_PRIMARY_PORT:-6379}
ANNOUNCE=${REDIS_ANNOUNCE_HOST:-}
MASTER_NAME=${REDIS_MASTER_NAME:-sessions}
SENTINELS=${REDIS_SENTINELS:-}
ROTATE=$here/log-rotate.sh
[ -x "$ROTATE" ] || ROTATE=$here/../collector/log-rotate.sh

number REDIS_WAIT_SECONDS "$WAIT"
number REDIS_PRIMARY_PORT "$PRIMARY_PORT"
name REDIS_PRIMARY_HOST "$PRIMARY_HOST"
name REDIS_MASTER_NAME "$MASTER_NAME"
[ -z "$ANNOUNCE" ] || name REDIS_ANNOUNCE_HOST "$ANNOUNCE"
"$ROTATE" check || die "bad log rotation setting (LOG_ROTATE_*, above)"

case $role in
    primary|secrets) generate=${REDIS_GENERATE_SECRETS:-yes} ;;
    replica|sentinel) generate=${REDIS_GENERATE_SECRETS:-no} ;;
    *) die "unknown role '$role' (primary, replica, sentinel or secrets)" ;;
esac

# 1. Secrets: generated by the primary on first start, waited for by others,
# who need only their role's (a NAME.sha256 is met by NAME too).
case $role in
    sentinel) needs="sentinel sentinel-admin app.sha256 replication.sha256" ;;
    *) needs="admin replication app.sha256 sentinel.sha256" ;;
esac
# shellcheck disable=SC2086 # $needs: names, split on purpose
case $generate in
    yes) "$here/secrets.sh" generate "$SECRETS" ;;
    no) "$here/secrets.sh" wait "$SECRETS" "$WAIT" $needs ;;
    *) die "REDIS_GENERATE_SECRETS must be yes or no, got '$generate'" ;;
esac
[ "$role" = secrets ] && exit 0

[ -d "$DATA" ] && [ -w "$DATA" ] \
    || die "data directory $DATA is missing or not writable by uid $(id -u)"
[ -d "$LOGDIR" ] && [ -w "$LOGDIR" ] \
    || die "log directory $LOGDIR is missing or not writable by uid $(id -u)"

# ask_sentinels: print "host port" of the primary according to the first
# sentinel of REDIS_SENTINELS that answers within 2 s; print nothing if none.
ask_sentinels() {
    for s in $SENTINELS; do
        h=${s%:*}
        p=${s##*:}
        out=$(REDISCLI_AUTH=$(secret replication) timeout 2 \
              redis-cli -h "$h" -p "$p" --user replica-user --raw \
              SENTINEL get-master-addr-by-name "$MASTER_NAME" 2>/dev/null) \
            || continue
        set -- $out
        if [ $# -eq 2 ]; then
            printf '%s %s\n' "$1" "$2"
            return 0
        fi
    done
}

# 2. Sentinel: a private, writable config made once from the template.
if [ "$role" = sentinel ]; then
    id=${REDIS_SENTINEL_ID:-}
    number REDIS_SENTINEL_ID "$id"
    port=${REDIS_PORT:-26379}
    number REDIS_PORT "$port"
    conf="$DATA/sentinel.conf"
    if [ -e "$conf" ]; then
        log "reusing $conf (it records the current primary; delete it to" \
            "start over from REDIS_PRIMARY_HOST)"
    else
        [ -r "$CONF_DIR/sentinel.conf" ] \
            || die "cannot read $CONF_DIR/sentinel.conf"
        left=$WAIT
        until reply=$(REDISCLI_AUTH=$(secret sentinel) timeout 2 \
                      redis-cli -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" \
                      --user sentinel-user PING 2>&1) \
              && [ "$reply" = PONG ]; do
            [ "$left" -gt 0 ] || die "primary $PRIMARY_HOST:$PRIMARY_PORT" \
                "did not answer PING as sentinel-user within $WAIT s" \
                "(last reply: $(printf '%s' "$reply" | tr '\n' ' '))"
            sleep 1
            left=$((left - 1))
        done
        tmp="$conf.tmp.$$"
        (
            umask 077
            sed -e "s/@MASTER_NAME@/$MASTER_NAME/g" \
                -e "s/@PRIMARY_HOST@/$PRIMARY_HOST/g" \
                -e "s/@PRIMARY_PORT@/$PRIMARY_PORT/g" \
                "$CONF_DIR/sentinel.conf"
            printf '\n# --- generated by entrypoint.sh on first start\n'
            printf 'sentinel auth-pass %s %s\n' "$MASTER_NAME" \
                "$(secret sentinel)"
            printf 'requirepass %s\n' "$(secret sentinel-admin)"
            printf 'user app reset on #%s resetchannels &+switch-master' \
                "$(hash app)"
            printf ' +ping +auth +hello +subscribe'
            printf ' +sentinel|get-master-addr-by-name\n'
            # The data nodes ask, on start, who is primary now (above).
            printf 'user replica-user reset on #%s resetchannels' \
                "$(hash replication)"
            printf ' +ping +auth +hello +sentinel|get-master-addr-by-name\n'
            if [ -n "$ANNOUNCE" ]; then
                printf 'sentinel announce-ip %s\n' "$ANNOUNCE"
            fi
        ) > "$tmp" || { rm -f "$tmp"; die "cannot write $tmp"; }
        mv -f "$tmp" "$conf" || die "cannot rename $tmp to $conf"
        log "wrote $conf for primary $PRIMARY_HOST:$PRIMARY_PORT"
    fi
    # The rotator watches this process, which the exec turns into Sentinel.
    "$ROTATE" start -p "$$" "$LOGDIR/redis-sentinel-$id.log"
    exec redis-sentinel "$conf" --port "$port" --dir "$DATA" \
        --logfile "$LOGDIR/redis-sentinel-$id.log" "$@"
fi

# 3. Data nodes: ACL file, log file, whom to follow.
port=${REDIS_PORT:-6379}
number REDIS_PORT "$port"
conf="$CONF_DIR/$role.conf"
[ -r "$conf" ] || die "cannot read $conf"
"$here/acl.sh" "$CONF_DIR/users.acl.in" "$SECRETS" "$DATA/users.acl"

if [ "$role" = replica ]; then
    id=${REDIS_REPLICA_ID:-}
    number REDIS_REPLICA_ID "$id"
    logfile="$LOGDIR/redis-replica-$id.log"
    follow="$PRIMARY_HOST $PRIMARY_PORT"
else
    logfile="$LOGDIR/redis-server.log"
    follow="no one"
fi

# is_me HOST PORT: HOST:PORT names this node (its announced name, its host
# name or one of its addresses, and its port).
is_me() {
    [ "$2" = "$port" ] || return 1
    for a in $ANNOUNCE $(hostname 2>/dev/null) $(hostname -I 2>/dev/null); do
        [ "$1" = "$a" ] && return 0
    done
    return 1
}

if [ -n "$SENTINELS" ]; then
    current=$(ask_sentinels)
    if [ -z "$current" ]; then
        log "no sentinel of '$SENTINELS' answered; starting as configured"
    elif is_me $current; then
        log "Sentinel says this node ($current) is the primary"
        follow="no one"
    else
        log "Sentinel says the primary is $current; following it"
        follow=$current
    fi
fi

# Never hand an empty dataset to replicas that still hold the sessions: a
# node about to be primary with no AOF and no RDB (a lost or new volume)
# first asks REDIS_PEERS (the replicas, "host:port ...") how many keys they
# hold, and refuses to start while any holds some.  Unreachable peers (the
# very first start) do not count.  REDIS_ALLOW_EMPTY_PRIMARY=yes overrides.
if [ "$follow" = "no one" ] && [ -n "${REDIS_PEERS:-}" ] \
   && [ "${REDIS_ALLOW_EMPTY_PRIMARY:-no}" != yes ] \
   && [ ! -e "$DATA/appendonlydir" ] && [ ! -e "$DATA/dump.rdb" ]; then
    for peer in $REDIS_PEERS; do
        n=$(REDISCLI_AUTH=$(secret admin) timeout 2 redis-cli \
            -h "${peer%:*}" -p "${peer##*:}" --raw DBSIZE 2>/dev/null) \
            || continue
        case $n in
            ''|*[!0-9]*|0) continue ;;
        esac
        die "refusing to start as an empty primary (no AOF or RDB in" \
            "$DATA) while $peer holds $n keys: it would wipe them." \
            "Restore $DATA, or promote that replica (REPLICAOF NO ONE) and" \
            "start this node as its replica, or set" \
            "REDIS_ALLOW_EMPTY_PRIMARY=yes to discard them"
    done
fi

if [ "$follow" != "no one" ]; then
    # Informative only: Redis retries the link every second by itself and
    # logs why it fails; a replica serves its data meanwhile.
    if reply=$(REDISCLI_AUTH=$(secret replication) timeout 2 \
               redis-cli -h "${follow% *}" -p "${follow#* }" \
               --user replica-user PING 2>&1) && [ "$reply" = PONG ]; then
        log "primary ${follow% *}:${follow#* } answers"
    else
        log "primary ${follow% *}:${follow#* } does not answer yet" \
            "($(printf '%s' "$reply" | tr '\n' ' ')); Redis will keep" \
            "retrying every second, see $logfile"
    fi
fi

set -- "$conf" --port "$port" --dir "$DATA" --aclfile "$DATA/users.acl" \
    --logfile "$logfile" --replicaof $follow \
    ${ANNOUNCE:+--replica-announce-ip "$ANNOUNCE"} "$@"
log "starting redis-server from $role.conf, replicaof $follow, log $logfile"
# The rotator watches this process, which the exec turns into Redis.
"$ROTATE" start -p "$$" "$logfile"
# masterauth goes in through stdin, not the command line, so it never shows
# in ps: Redis 7 reads more config from stdin when the last argument is "-",
# after the file and before the command-line options.
exec redis-server "$@" - <<EOF
masterauth $(secret replication)
EOF
