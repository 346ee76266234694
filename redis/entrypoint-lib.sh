# entrypoint-lib.sh -- what the Redis tier's role scripts share: the
# settings every role reads, the secrets step, and the start of a data
# node (a primary and a replica are one program that differs in whom it
# follows).
#
# Sourced, never run (mode 0644), by role-primary.sh, role-replica.sh,
# role-sentinel.sh and role-secrets.sh, which sit beside it (entrypoint.sh
# runs the one its role names; the settings are listed in its header).
# Sourcing it sets PROG and sources lib/sh/wscommon.sh (log, die,
# need_number, words); nothing else runs until a role calls:
#   tier_settings          umask, then read and check the common settings
#   tier_secrets DEFAULT NAME...   step 1: create the secrets (DEFAULT is
#                          the role's REDIS_GENERATE_SECRETS: yes) or wait
#                          for NAME... (no)
#   tier_dirs              the data and log directories are writable
#   start_data_node ROLE LOGFILE [redis-server options...]
#                          steps 3-5: ACL file, whom to follow, exec Redis
# and, for any role, secret NAME (a password) and hash NAME (its SHA-256).
# Errors: die, one "redis-entrypoint: error: ..." line and exit 1.

# shellcheck shell=sh
# shellcheck disable=SC2034 # read by wscommon.sh (log, die)
PROG=redis-entrypoint
# This file's directory: the role script's ($0), which sits beside it.
TIER_DIR=$(dirname "$(readlink -f "$0")")
lib=$TIER_DIR/wscommon.sh
[ -r "$lib" ] || lib=$TIER_DIR/../lib/sh/wscommon.sh
# shellcheck source=SCRIPTDIR/../lib/sh/wscommon.sh
. "$lib"

# A newline, to cut a multi-line reply.
NL='
'

# need_host NAME VALUE: VALUE, the value of setting NAME, is a host name,
# an IP address or an ID (safe unquoted in a Redis config and in sed).
need_host() {
    case $2 in
        '' | *[!A-Za-z0-9.:_-]*)
            die "$1=\"$2\": want a host name, an IP address or an ID" ;;
    esac
}

# tier_settings: set the umask, read the settings every role uses into
# SECRETS WAIT CONF_DIR DATA LOGDIR PRIMARY_HOST PRIMARY_PORT ANNOUNCE
# MASTER_NAME SENTINELS ROTATE, and check them (die on a bad one).
tier_settings() {
    # Files Redis creates get 0644 & ~REDIS_UMASK.  Default 022: the log
    # collector runs as its own uid and must read the logs.  What holds
    # passwords is protected otherwise: users.acl is written 0600 by
    # acl.sh, and the sentinel.conf that Sentinel rewrites lives in /data,
    # whose directory is 0750 (redis/Dockerfile).  Set REDIS_UMASK=027 if
    # the collector shares the redis group.
    case ${REDIS_UMASK:-022} in
        [0-7][0-7][0-7] | 0[0-7][0-7][0-7]) umask "${REDIS_UMASK:-022}" ;;
        *) die "REDIS_UMASK must be octal like 022, got $REDIS_UMASK" ;;
    esac
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
    # Beside this file in the image, collector/ in the source tree.
    ROTATE=$TIER_DIR/log-rotate.sh
    [ -x "$ROTATE" ] || ROTATE=$TIER_DIR/../collector/log-rotate.sh

    need_number REDIS_WAIT_SECONDS "$WAIT" 1 65535
    need_number REDIS_PRIMARY_PORT "$PRIMARY_PORT" 1 65535
    need_host REDIS_PRIMARY_HOST "$PRIMARY_HOST"
    need_host REDIS_MASTER_NAME "$MASTER_NAME"
    [ -z "$ANNOUNCE" ] || need_host REDIS_ANNOUNCE_HOST "$ANNOUNCE"
    "$ROTATE" check || die "bad log rotation setting (LOG_ROTATE_*, above)"
}

# secret NAME: NAME's password (the first line of SECRETS/NAME).
secret() {
    head -n 1 "$SECRETS/$1"
}

# hash NAME: the SHA-256 (hex) of NAME's password (secrets.sh hash: from
# SECRETS/NAME, or SECRETS/NAME.sha256 where only that is there).
hash() {
    "$TIER_DIR/secrets.sh" hash "$SECRETS" "$1"
}

# tier_secrets DEFAULT NAME...: step 1, the secrets.  With
# REDIS_GENERATE_SECRETS (default DEFAULT) yes, create the missing ones
# (the primary, on first start) and check them all; with no, wait up to
# REDIS_WAIT_SECONDS for NAME... (only the role's: a NAME.sha256 is met by
# NAME too), then check them.
tier_secrets() {
    generate=${REDIS_GENERATE_SECRETS:-$1}
    shift
    case $generate in
        yes) "$TIER_DIR/secrets.sh" generate "$SECRETS" ;;
        no) "$TIER_DIR/secrets.sh" wait "$SECRETS" "$WAIT" "$@" ;;
        *) die "REDIS_GENERATE_SECRETS must be yes or no, got '$generate'" ;;
    esac
}

# tier_dirs: step 2, the data and log directories exist and are writable.
tier_dirs() {
    [ -d "$DATA" ] && [ -w "$DATA" ] \
        || die "data directory $DATA is missing or not writable by uid" \
               "$(id -u)"
    [ -d "$LOGDIR" ] && [ -w "$LOGDIR" ] \
        || die "log directory $LOGDIR is missing or not writable by uid" \
               "$(id -u)"
}

# ask_sentinels: set cur_host and cur_port to the primary according to
# the first sentinel of REDIS_SENTINELS ("host:port ...") that answers
# within 2 s with a host and a port; leave cur_host empty if none does.
ask_sentinels() {
    cur_host=
    cur_port=
    while read -r s; do
        [ -n "$s" ] || continue
        out=$(REDISCLI_AUTH=$(secret replication) timeout 2 \
              redis-cli -h "${s%:*}" -p "${s##*:}" --user replica-user \
              --raw SENTINEL get-master-addr-by-name "$MASTER_NAME" \
              2>/dev/null) || continue
        # Two lines, a host and a port; anything else (nothing known, an
        # error) is no answer.
        case $out in *"$NL"*) ;; *) continue ;; esac
        h=${out%%"$NL"*}
        p=${out#*"$NL"}
        case $h in '' | *[!A-Za-z0-9.:_-]*) continue ;; esac
        is_number "$p" 1 65535 || continue
        cur_host=$h
        cur_port=$p
        return 0
    done <<EOF
$(words "$SENTINELS")
EOF
}

# is_me HOST PORT: HOST:PORT names this node: its port, and its announced
# name, its host name or one of its addresses.
is_me() {
    [ "$2" = "$port" ] || return 1
    [ -n "$ANNOUNCE" ] && [ "$1" = "$ANNOUNCE" ] && return 0
    [ "$1" = "$(hostname 2>/dev/null)" ] && return 0
    words "$(hostname -I 2>/dev/null)" | grep -qxF -e "$1"
}

# refuse_empty_primary: never hand an empty dataset to replicas that still
# hold the sessions.  A node about to be primary with no AOF and no RDB (a
# lost or new volume) first asks REDIS_PEERS (the replicas, "host:port
# ...") how many keys they hold, and refuses to start while any holds
# some.  Unreachable peers (the very first start) do not count.
# REDIS_ALLOW_EMPTY_PRIMARY=yes overrides.
refuse_empty_primary() {
    [ -n "${REDIS_PEERS:-}" ] || return 0
    [ "${REDIS_ALLOW_EMPTY_PRIMARY:-no}" != yes ] || return 0
    [ ! -e "$DATA/appendonlydir" ] && [ ! -e "$DATA/dump.rdb" ] || return 0
    while read -r peer; do
        [ -n "$peer" ] || continue
        n=$(REDISCLI_AUTH=$(secret admin) timeout 2 redis-cli \
            -h "${peer%:*}" -p "${peer##*:}" --raw DBSIZE 2>/dev/null) \
            || continue
        case $n in
            '' | *[!0-9]* | 0) continue ;;
        esac
        die "refusing to start as an empty primary (no AOF or RDB in" \
            "$DATA) while $peer holds $n keys: it would wipe them." \
            "Restore $DATA, or promote that replica (REPLICAOF NO ONE) and" \
            "start this node as its replica, or set" \
            "REDIS_ALLOW_EMPTY_PRIMARY=yes to discard them"
    done <<EOF
$(words "$REDIS_PEERS")
EOF
}

# start_data_node ROLE LOGFILE [redis-server options...]: start this data
# node as ROLE (primary or replica: CONF_DIR/ROLE.conf; a replica follows
# REDIS_PRIMARY_HOST:PORT), logging to LOGFILE; the options go to Redis
# last, so they win.  Does not return: Redis replaces this process.
start_data_node() {
    role=$1
    logfile=$2
    shift 2
    # 3. The ACL file, from the template and the secrets.
    port=${REDIS_PORT:-6379}
    need_number REDIS_PORT "$port" 1 65535
    conf="$CONF_DIR/$role.conf"
    [ -r "$conf" ] || die "cannot read $conf"
    "$TIER_DIR/acl.sh" "$CONF_DIR/users.acl.in" "$SECRETS" "$DATA/users.acl"

    # 4. Whom to follow (no follow_host: no one).  When REDIS_SENTINELS is
    # set, whom the Sentinels say is primary now, so that an old primary
    # restarted after a failover comes back as a replica.
    follow_host=
    follow_port=
    if [ "$role" = replica ]; then
        follow_host=$PRIMARY_HOST
        follow_port=$PRIMARY_PORT
    fi
    if [ -n "$SENTINELS" ]; then
        ask_sentinels
        if [ -z "$cur_host" ]; then
            log "no sentinel of '$SENTINELS' answered; starting as" \
                "configured"
        elif is_me "$cur_host" "$cur_port"; then
            log "Sentinel says this node ($cur_host $cur_port) is the" \
                "primary"
            follow_host=
        else
            log "Sentinel says the primary is $cur_host $cur_port;" \
                "following it"
            follow_host=$cur_host
            follow_port=$cur_port
        fi
    fi
    if [ -z "$follow_host" ]; then
        refuse_empty_primary
        follow="no one"
    else
        follow="$follow_host $follow_port"
        # Informative only: Redis retries the link every second by itself
        # and logs why it fails; a replica serves its data meanwhile.
        if reply=$(REDISCLI_AUTH=$(secret replication) timeout 2 \
                   redis-cli -h "$follow_host" -p "$follow_port" \
                   --user replica-user PING 2>&1) && [ "$reply" = PONG ]
        then
            log "primary $follow_host:$follow_port answers"
        else
            log "primary $follow_host:$follow_port does not answer yet" \
                "($(printf '%s' "$reply" | tr '\n' ' ')); Redis will keep" \
                "retrying every second, see $logfile"
        fi
    fi

    # 5. Redis: the arguments are built in front of the caller's options,
    # last first, each its own word.
    if [ -n "$ANNOUNCE" ]; then
        set -- --replica-announce-ip "$ANNOUNCE" "$@"
    fi
    if [ -z "$follow_host" ]; then
        set -- --replicaof no one "$@"
    else
        set -- --replicaof "$follow_host" "$follow_port" "$@"
    fi
    set -- "$conf" --port "$port" --dir "$DATA" \
        --aclfile "$DATA/users.acl" --logfile "$logfile" "$@"
    log "starting redis-server from $role.conf, replicaof $follow, log" \
        "$logfile"
    # The rotator watches this process, which the exec turns into Redis.
    "$ROTATE" start -p "$$" "$logfile"
    # masterauth goes in through stdin, not the command line, so it never
    # shows in ps: Redis 7 reads more config from stdin when the last
    # argument is "-", after the file and before the command-line options.
    exec redis-server "$@" - <<EOF
masterauth $(secret replication)
EOF
}
