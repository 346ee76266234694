#!/bin/sh
# upstream-watch.sh -- nginx container entrypoint: follow the scaled pool
#
# Open-source nginx 1.22 resolves the names in an "upstream" block once,
# when it reads its config: the "resolve" parameter of "server" was
# NGINX Plus only until nginx 1.27.3 (CHANGES 1.27.3: 'the "server"
# directive in the "upstream" block supports the "resolve" parameter';
# github.com/nginx/nginx pull 208, "Upstream: re-resolvable servers").
# Debian 12 ships 1.22.1, which rejects it ('invalid parameter "resolve"').
# So this script does the re-resolution from outside:
#
#   1. every UPSTREAM_INTERVAL seconds, resolve UPSTREAM_SERVICE with
#      "getent ahosts" (Docker's embedded DNS answers a service name with
#      one address per running container of "compose up --scale");
#   2. when the sorted set of addresses changed, write a candidate
#      UPSTREAM_FILE.new ("upstream fcgi_app { server <ip>:<port>; ...
#      keepalive N; }") and check it with "nginx -t" on the whole config
#      as nginx would read it with the candidate in UPSTREAM_FILE's place
#      (check_candidate below), while UPSTREAM_FILE itself stays as it is;
#      only then rename the candidate over UPSTREAM_FILE (atomic) and
#      reload nginx gracefully (SIGHUP to the master, what "nginx -s
#      reload" sends: new workers take new connections, old ones finish
#      their requests).  A refused candidate is logged with nginx's words
#      and removed; the live file and nginx stay as they were, and the
#      next check tries again;
#   3. supervise nginx: it runs in the foreground as our child; SIGTERM,
#      SIGQUIT, SIGINT, SIGHUP and SIGUSR1 are forwarded to it, and we exit
#      with its status when it exits.
# With UPSTREAM_RESOLVER set (compose.swarm.yaml sets Docker's embedded
# DNS, 127.0.0.11), steps 1 and 2 are left to nginx itself and nothing is
# ever reloaded: UPSTREAM_FILE is written once, with "resolver ...
# valid=UPSTREAM_INTERVALs" and $fcgi_app set to
# UPSTREAM_SERVICE:UPSTREAM_PORT, so fastcgi_pass (app/fastcgi.conf) asks
# the resolver for the name, at most once per UPSTREAM_INTERVAL per
# worker, and spreads each request over every address it gets, trying the
# next one on an error or timeout.  A reload replaces nginx's workers,
# which close their idle kept client connections at once, and a client
# whose next request was already on its way saw it cut off unanswered
# (the keep-alive race; 4-20 per scale 2 -> 6 -> 2 on a three-node swarm,
# tests/cluster).  What this mode gives up, and why compose.yaml keeps the
# watcher: no kept connections to the pool (a connect per request), and
# no memory of a failed instance between requests (docs/NGINX.md,
# "Scaling without reloads").
# In the default mode, UPSTREAM_FILE also sets $fcgi_app, to the upstream
# block's name.
# Before any of this, once, it fills in LIMITS_TEMPLATE (per-client limits,
# nginx/app/limits.conf.in) from the NGINX_LIMIT_* settings and writes
# LIMITS_FILE, which the main config includes; a bad setting stops it
# before nginx starts, naming the setting.
# When LOG_ROTATE_FILES names nginx's log files (the image sets
# access.log and error.log), log-rotate.sh (next to this script, or
# collector/ in the source tree) rotates them by size while nginx runs:
# rename, then SIGUSR1 straight to nginx's master, which reopens them.  Its
# LOG_ROTATE_* settings are checked before nginx starts; it stops with
# nginx.
#
# Usage: upstream-watch.sh [nginx options...]
#   The options (e.g. "-p /run/x -c /run/x/nginx.conf") go to every nginx
#   invocation; "-g 'daemon off;'" is added to the one that starts it, so
#   the config itself must not say "daemon".
# Environment (defaults for the container):
#   UPSTREAM_SERVICE   fcgi-app                              name to resolve
#   UPSTREAM_PORT      9000                                  pool's port
#   UPSTREAM_FILE      /var/lib/nginx/upstream/fcgi-app.conf  the include
#   UPSTREAM_KEEPALIVE 32           idle kept connections per nginx worker
#   UPSTREAM_INTERVAL  1         seconds between checks; with
#                                UPSTREAM_RESOLVER, how long nginx keeps
#                                an answer (whole seconds, 1-3600)
#   UPSTREAM_RESOLVER  (none)    a DNS server's address ([IPv6] or IPv4,
#                                optional :port) for nginx to resolve
#                                UPSTREAM_SERVICE itself (see above)
#   NGINX              nginx                                the binary
#   NGINX_LIMIT_REQ_RATE   50     requests/s per client address (1-1000000)
#   NGINX_LIMIT_REQ_BURST  100    served at once beyond the rate (0-1000000)
#   NGINX_LIMIT_CONN       50     requests in progress per address (1-65535)
#   LIMITS_TEMPLATE    /etc/nginx/app/limits.conf.in           the template
#   LIMITS_FILE        /var/lib/nginx/limits.conf      what nginx includes
#   NGINX_INTERNAL_LISTEN  3001   [address:]port of /metrics' server
#   INTERNAL_LISTEN_FILE /var/lib/nginx/internal-listen.conf  its include
#   LOG_ROTATE_FILES   (none)    nginx's log files to rotate, space separated
#   LOG_ROTATE_SIZE, LOG_ROTATE_KEEP, LOG_ROTATE_INTERVAL   see log-rotate.sh

set -u

# shellcheck disable=SC2034 # read by wscommon.sh (log, die)
PROG=upstream-watch
# log, is_number, check_number, words: the shared shell library, beside
# this script in the image, lib/sh/ in the source tree
# (docs/ARCHITECTURE.md, "shared shell library").
here=$(dirname "$(readlink -f "$0")")
lib=$here/wscommon.sh
[ -r "$lib" ] || lib=$here/../lib/sh/wscommon.sh
# shellcheck source=SCRIPTDIR/../lib/sh/wscommon.sh
. "$lib"

UPSTREAM_SERVICE=${UPSTREAM_SERVICE:-fcgi-app}
UPSTREAM_PORT=${UPSTREAM_PORT:-9000}
UPSTREAM_FILE=${UPSTREAM_FILE:-/var/lib/nginx/upstream/fcgi-app.conf}
UPSTREAM_KEEPALIVE=${UPSTREAM_KEEPALIVE:-32}
UPSTREAM_INTERVAL=${UPSTREAM_INTERVAL:-1}
UPSTREAM_RESOLVER=${UPSTREAM_RESOLVER:-}
NGINX=${NGINX:-nginx}
NGINX_LIMIT_REQ_RATE=${NGINX_LIMIT_REQ_RATE:-50}
NGINX_LIMIT_REQ_BURST=${NGINX_LIMIT_REQ_BURST:-100}
NGINX_LIMIT_CONN=${NGINX_LIMIT_CONN:-50}
LIMITS_TEMPLATE=${LIMITS_TEMPLATE:-/etc/nginx/app/limits.conf.in}
LIMITS_FILE=${LIMITS_FILE:-/var/lib/nginx/limits.conf}
NGINX_INTERNAL_LISTEN=${NGINX_INTERNAL_LISTEN:-3001}
INTERNAL_LISTEN_FILE=${INTERNAL_LISTEN_FILE:-/var/lib/nginx/internal-listen.conf}
LOG_ROTATE_FILES=${LOG_ROTATE_FILES:-}
ROTATE=$here/log-rotate.sh
[ -x "$ROTATE" ] || ROTATE=$here/../collector/log-rotate.sh

nginx_pid=
watch_pid=
rotate_pid=
# Where candidates are checked (check_candidate), and the main config,
# found at the first check.
check_dir=$(dirname "$UPSTREAM_FILE")/.check
main_conf_file=
main_conf_known=

# Print the pool's addresses, one per line, sorted and unique, IPv6 in
# brackets.  Exit status: 0 found, 2 the name does not exist (scaled to 0),
# anything else a resolver failure (keep what we have).
resolve() {
    out=$(getent ahosts "$UPSTREAM_SERVICE")
    rc=$?
    [ "$rc" -eq 0 ] || return "$rc"
    printf '%s\n' "$out" | awk '$2 == "STREAM" {
        if (index($1, ":")) print "[" $1 "]"; else print $1 }' | sort -u
}

# Print the upstream block for the addresses in $1 (newline separated).
render() {
    printf '# Written by upstream-watch.sh for "%s"; do not edit.\n' \
        "$UPSTREAM_SERVICE"
    printf 'upstream fcgi_app {\n'
    if [ -z "$1" ]; then
        # No instance: nginx needs a server line; a "down" one makes every
        # request a fast 502 (JSON) until an instance appears.
        printf '    server 127.0.0.1:%s down;\n' "$UPSTREAM_PORT"
    else
        while read -r a; do
            # One failure takes an instance out for 5 s (a container that
            # is going away); the other instances take its requests.
            printf '    server %s:%s max_fails=1 fail_timeout=5s;\n' \
                "$a" "$UPSTREAM_PORT"
        done <<EOF
$1
EOF
        # Each instance again as a backup that is never taken out
        # (max_fails=0), used only when every line above is.  nginx also
        # counts a kept connection that an instance closed as a failure,
        # and a pool reload (SIGHUP: every worker replaced) closes kept
        # connections on every instance at once: with the lines above
        # alone, all were out for 5 s and every request was a 502 "no
        # live upstreams" (tests/compose/test_pool_changes.py: 21,852 of
        # 44,097 and 1,717 of 56,804 in two runs).  A request that fails
        # on a backup is retried on the next, as on the lines above.
        while read -r a; do
            printf '    server %s:%s backup max_fails=0;\n' \
                "$a" "$UPSTREAM_PORT"
        done <<EOF
$1
EOF
    fi
    # keepalive is per nginx worker, and should cover the requests one
    # worker has in flight at peak: past it, each extra connection is
    # closed after its request and opened again for the next (a handshake,
    # an accept and a TIME_WAIT per request; docs/NGINX.md has the
    # measurement).  An idle connection costs the pool a slot in its
    # connection table (4096 per process), not a thread.
    printf '    keepalive %s;\n' "$UPSTREAM_KEEPALIVE"
    # Close idle connections before a pool instance would (no request is
    # sent on a connection the far side is closing).
    printf '    keepalive_timeout 30s;\n'
    printf '}\n'
    # What app/fastcgi.conf's "fastcgi_pass $fcgi_app;" names: a value
    # that is an upstream block's name is that block, kept connections
    # and all (the ngx_http_fastcgi_module docs, fastcgi_pass).
    printf 'map $server_port $fcgi_app { default fcgi_app; }\n'
}

# Print the include for UPSTREAM_RESOLVER mode (see the top): nginx
# resolves the pool's name itself.  Its answer holds the addresses of the
# running tasks (dnsrr), and nginx keeps it UPSTREAM_INTERVAL seconds.
render_resolver() {
    printf '# Written by upstream-watch.sh for "%s"; do not edit.\n' \
        "$UPSTREAM_SERVICE"
    printf '# nginx resolves it itself: UPSTREAM_RESOLVER=%s.\n' \
        "$UPSTREAM_RESOLVER"
    printf 'resolver %s valid=%ss ipv6=off;\n' "$UPSTREAM_RESOLVER" \
        "$UPSTREAM_INTERVAL"
    # A resolver that does not answer within 2 s gives a 502 (JSON), not
    # a client that waits nginx's default 30 s.
    printf 'resolver_timeout 2s;\n'
    printf 'map $server_port $fcgi_app { default %s:%s; }\n' \
        "$UPSTREAM_SERVICE" "$UPSTREAM_PORT"
}

# Check the settings that go into UPSTREAM_FILE or its timing; returns 1
# (logged, naming the setting) on a bad one.
check_upstream_settings() {
    bad=0
    check_number UPSTREAM_PORT "$UPSTREAM_PORT" 1 65535 || bad=1
    check_number UPSTREAM_KEEPALIVE "$UPSTREAM_KEEPALIVE" 1 65535 || bad=1
    [ -z "$UPSTREAM_RESOLVER" ] && return "$bad"
    # Whole seconds here: it becomes nginx's "valid=" (the watch loop's
    # sleep also takes fractions).
    check_number UPSTREAM_INTERVAL "$UPSTREAM_INTERVAL" 1 3600 || bad=1
    # The resolver mode writes these into nginx's config: an address
    # (nginx would look a name up once, at start) and a host name.
    case $UPSTREAM_RESOLVER in
        *[!0-9A-Fa-f.:\[\]]* | "")
            log "UPSTREAM_RESOLVER=\"$UPSTREAM_RESOLVER\": want a DNS" \
                "server's address, IPv4 or [IPv6], with an optional :port," \
                "e.g. 127.0.0.11 (Docker's embedded DNS)"
            bad=1 ;;
    esac
    case $UPSTREAM_SERVICE in
        *[!A-Za-z0-9.-]* | "" | -* | .*)
            log "UPSTREAM_SERVICE=\"$UPSTREAM_SERVICE\": want a host name" \
                "(letters, digits, dots and hyphens) with UPSTREAM_RESOLVER"
            bad=1 ;;
    esac
    return "$bad"
}

# Write LIMITS_FILE: LIMITS_TEMPLATE with its @...@ placeholders filled in
# from the NGINX_LIMIT_* settings.  Returns 1 (logged) on a bad setting or
# when the file cannot be written.
render_limits() {
    bad=0
    check_number NGINX_LIMIT_REQ_RATE "$NGINX_LIMIT_REQ_RATE" 1 1000000 \
        || bad=1
    check_number NGINX_LIMIT_REQ_BURST "$NGINX_LIMIT_REQ_BURST" 0 1000000 \
        || bad=1
    check_number NGINX_LIMIT_CONN "$NGINX_LIMIT_CONN" 1 65535 || bad=1
    [ "$bad" -eq 0 ] || return 1
    mkdir -p "$(dirname "$LIMITS_FILE")" || return 1
    # The values are plain digits (checked above): safe inside sed and
    # inside nginx's config.
    {
        printf '# Written by upstream-watch.sh from %s; do not edit.\n' \
            "$LIMITS_TEMPLATE"
        sed -e "s/@LIMIT_REQ_RATE@/$NGINX_LIMIT_REQ_RATE/g" \
            -e "s/@LIMIT_REQ_BURST@/$NGINX_LIMIT_REQ_BURST/g" \
            -e "s/@LIMIT_CONN@/$NGINX_LIMIT_CONN/g" "$LIMITS_TEMPLATE"
    } > "$LIMITS_FILE.new" || return 1
    mv "$LIMITS_FILE.new" "$LIMITS_FILE" || return 1
    log "per-client limits: $NGINX_LIMIT_REQ_RATE requests/s," \
        "burst $NGINX_LIMIT_REQ_BURST, $NGINX_LIMIT_CONN in progress"
}

# Write INTERNAL_LISTEN_FILE: the "listen" of the internal server (/metrics)
# from NGINX_INTERNAL_LISTEN ([address:]port; the address is an IPv4
# address or a name, whose IPv4 addresses are each bound).
# compose.yaml gives a name only the backend network knows, so /metrics is
# not reachable from the published frontend network.  Returns 1 (logged)
# on a bad setting or when the file cannot be written.
render_internal_listen() {
    port=${NGINX_INTERNAL_LISTEN##*:}
    case $NGINX_INTERNAL_LISTEN in
        *[!A-Za-z0-9.:_-]* | :*) port= ;;
    esac
    if ! is_number "$port" 1 65535; then
        log "NGINX_INTERNAL_LISTEN=\"$NGINX_INTERNAL_LISTEN\": want" \
            "[address:]port with a port from 1 to 65535, e.g. 3001 or" \
            "nginx-internal:3001"
        return 1
    fi
    # A name is resolved here, once (IPv4, up to 5 s): left to nginx, it
    # would be looked up again at every reload and `nginx -t`, and one
    # such lookup that failed under load kept a stale upstream set for a
    # second (measured).
    listen=$NGINX_INTERNAL_LISTEN
    host=
    case $NGINX_INTERNAL_LISTEN in *:*) host=${NGINX_INTERNAL_LISTEN%:*} ;; esac
    case $host in
        *[A-Za-z]*)
            tries=0
            until listen=$(getent ahostsv4 "$host" | awk -v p="$port" \
                      '$2 == "STREAM" {print $1 ":" p}' | sort -u) \
                  && [ -n "$listen" ]; do
                tries=$((tries + 1))
                if [ "$tries" -ge 5 ]; then
                    log "NGINX_INTERNAL_LISTEN=\"$NGINX_INTERNAL_LISTEN\":" \
                        "$host has no IPv4 address (tried for 5 s)"
                    return 1
                fi
                sleep 1
            done
            ;;
    esac
    {
        printf '# Written by upstream-watch.sh from NGINX_INTERNAL_LISTEN'
        printf '=%s; do not edit.\n' "$NGINX_INTERNAL_LISTEN"
        while read -r a; do
            printf 'listen %s;\n' "$a"
        done <<EOF
$listen
EOF
    } > "$INTERNAL_LISTEN_FILE.new" || return 1
    mv "$INTERNAL_LISTEN_FILE.new" "$INTERNAL_LISTEN_FILE" || return 1
    log "internal server (/metrics) listens on $(joined "$listen")"
}

# main_conf [nginx options...]: print the main config file nginx reads
# with these options: -c's file, made absolute against -p's prefix (else
# nginx's own), or else nginx's compiled-in --conf-path.  Prints nothing
# when it cannot tell (a stand-in for nginx that has no -V).
main_conf() {
    c=
    p=
    while [ $# -gt 0 ]; do
        case $1 in
            -c) c=${2-}; [ $# -gt 1 ] && shift ;;
            -c?*) c=${1#-c} ;;
            -p) p=${2-}; [ $# -gt 1 ] && shift ;;
            -p?*) p=${1#-p} ;;
            -g | -e | -s) [ $# -gt 1 ] && shift ;;
        esac
        shift
    done
    v=
    case $c in
        /*) ;;
        *) v=$("$NGINX" -V 2>&1) ;;
    esac
    [ -n "$c" ] || c=$(printf '%s\n' "$v" \
                       | sed -n 's/.*--conf-path=\([^ ]*\).*/\1/p')
    [ -n "$c" ] || return 0
    case $c in
        /*) ;;
        *) [ -n "$p" ] || p=$(printf '%s\n' "$v" \
                              | sed -n 's/.*--prefix=\([^ ]*\).*/\1/p')
           c=${p%/}/$c ;;
    esac
    printf '%s\n' "$c"
}

# nginx_t CONF [nginx options...]: "nginx -t -q" with these options, but
# -c CONF in place of theirs.
nginx_t() {
    conf=$1
    shift
    n=$#
    while [ "$n" -gt 0 ]; do
        a=$1
        shift
        n=$((n - 1))
        case $a in
            -c)
                if [ "$n" -gt 0 ]; then
                    shift
                    n=$((n - 1))
                fi
                ;;
            -c?*) ;;
            -g | -p | -e | -s)
                set -- "$@" "$a"
                if [ "$n" -gt 0 ]; then
                    set -- "$@" "$1"
                    shift
                    n=$((n - 1))
                fi
                ;;
            *) set -- "$@" "$a" ;;
        esac
    done
    "$NGINX" "$@" -c "$conf" -t -q
}

# check_candidate CANDIDATE [nginx options...]: "nginx -t" on the config
# nginx would read with CANDIDATE in UPSTREAM_FILE's place, while
# UPSTREAM_FILE stays as it is; nginx's words on stdout and stderr, and 0
# when it passed.
#
# The main config (main_conf_file) is copied into check_dir, beside
# UPSTREAM_FILE, with its "include UPSTREAM_FILE;" turned into "include
# CANDIDATE;", and nginx -t is given the copy with -c.  nginx resolves a
# relative path in a config (include app/server.conf) against the main
# config's directory, so check_dir also holds a symbolic link to every
# other entry of that directory: the copy reads the very files the real
# one does.  Where the main config is not known (a stand-in for nginx) or
# does not include UPSTREAM_FILE in those words, CANDIDATE is checked on
# its own, inside the http block of a config made for the check.
check_candidate() {
    cand=$1
    shift
    mkdir -p "$check_dir" || return 1
    if [ -z "$main_conf_file" ] || ! grep -qF "include $UPSTREAM_FILE;" \
                                     "$main_conf_file" 2>/dev/null; then
        {
            printf 'events {}\nhttp {\n    access_log off;\n'
            for t in client_body proxy fastcgi uwsgi scgi; do
                printf '    %s_temp_path %s;\n' "$t" "$check_dir/tmp"
            done
            printf '    include %s;\n}\n' "$cand"
        } > "$check_dir/candidate.conf" || return 1
        "$NGINX" -t -q -p "$check_dir/" -c "$check_dir/candidate.conf"
        return
    fi
    conf_dir=$(dirname "$main_conf_file")
    for e in "$conf_dir"/*; do
        [ -e "$e" ] || [ -L "$e" ] || continue
        [ "$e" = "$main_conf_file" ] && continue
        ln -sfn "$e" "$check_dir/${e##*/}" || return 1
    done
    copy=$check_dir/${main_conf_file##*/}
    OLD="include $UPSTREAM_FILE;" NEW="include $cand;" awk '
        i = index($0, ENVIRON["OLD"]) {
            $0 = substr($0, 1, i - 1) ENVIRON["NEW"] \
                 substr($0, i + length(ENVIRON["OLD"]))
        }
        { print }' "$main_conf_file" > "$copy" || return 1
    nginx_t "$copy" "$@"
}

# joined LINES: the lines of LINES on one line, separated by spaces.
joined() {
    printf '%s' "$1" | tr '\n' ' '
}

# Bring UPSTREAM_FILE in line with DNS.  $1 is "reload" to signal nginx
# when the file changed; the rest are nginx's options.  Returns 0 when the
# file is current (changed or not), 1 when the new one was refused (the
# live file is then untouched; the next call tries again).
update() {
    mode=$1
    shift
    if [ -n "$UPSTREAM_RESOLVER" ]; then
        new=$(render_resolver)
        addrs="(resolved by nginx through $UPSTREAM_RESOLVER)"
    else
        addrs=$(resolve)
        rc=$?
        if [ "$rc" -ne 0 ] && [ "$rc" -ne 2 ] && [ -f "$UPSTREAM_FILE" ]
        then
            log "getent ahosts $UPSTREAM_SERVICE failed ($rc); keeping" \
                "old set"
            return 0
        fi
        # Not found, or a resolver failure before any file exists: no
        # instance yet (nginx must still start, answering 502 JSON).
        [ "$rc" -ne 0 ] && addrs=
        new=$(render "$addrs")
    fi
    if [ -f "$UPSTREAM_FILE" ] && [ "$new" = "$(cat "$UPSTREAM_FILE")" ]
    then
        return 0
    fi
    if [ -z "$main_conf_known" ]; then
        main_conf_file=$(main_conf "$@")
        main_conf_known=1
        if [ -n "$main_conf_file" ] && grep -qF "include $UPSTREAM_FILE;" \
                                       "$main_conf_file" 2>/dev/null; then
            log "upstream candidates are checked in $main_conf_file"
        else
            log "upstream candidates are checked on their own" \
                "(${main_conf_file:-the main config} is unknown or has no" \
                "\"include $UPSTREAM_FILE;\")"
        fi
    fi
    mkdir -p "$(dirname "$UPSTREAM_FILE")" || return 1
    cand=$UPSTREAM_FILE.new
    printf '%s\n' "$new" > "$cand" || return 1
    if ! check=$(check_candidate "$cand" "$@" 2>&1); then
        log "nginx -t refused the new upstream set; keeping the old one:"
        log "$check"
        rm -f "$cand"
        return 1
    fi
    # rename(2): nginx, whenever it reads the file, reads the old one or
    # the new one, whole.
    mv -f "$cand" "$UPSTREAM_FILE" || return 1
    log "$UPSTREAM_SERVICE:$UPSTREAM_PORT ->${addrs:+ $(joined "$addrs")}"
    if [ "$mode" = reload ] && [ -n "$nginx_pid" ]; then
        kill -HUP "$nginx_pid" && log "nginx reloaded (pid $nginx_pid)"
    fi
    return 0
}

forward() {
    [ -n "$nginx_pid" ] || return 0
    log "forwarding SIG$1 to nginx (pid $nginx_pid)"
    kill -"$1" "$nginx_pid" 2>/dev/null
}

# Forward every signal the traps noted, in arrival order.
forward_pending() {
    while [ -n "$got" ]; do
        sigs=$got
        got=
        for s in $sigs; do
            forward "$s"
        done
    done
}

# Traps only note the signal; the main loop below forwards it.  Keeping
# trap actions to one assignment leaves no I/O or function calls inside
# the shell's signal handling (the shell's version of "a handler only
# sets a flag").
# A shell started with a signal ignored cannot trap it (POSIX, "trap"):
# a background job of a non-interactive shell starts with SIGINT and
# SIGQUIT ignored.  Say so, since "docker stop" would then not be graceful.
ign=$(awk '$1 == "SigIgn:" { print $2 }' /proc/$$/status 2>/dev/null)
if [ -n "$ign" ] && [ $((0x$ign & 6)) -ne 0 ]; then
    log "warning: started with SIGINT/SIGQUIT ignored; they cannot be" \
        "forwarded to nginx (start me with default signal dispositions)"
fi
got=
trap 'got="$got TERM"' TERM
trap 'got="$got QUIT"' QUIT
trap 'got="$got INT"' INT
trap 'got="$got HUP"' HUP
trap 'got="$got USR1"' USR1

if [ -n "$LOG_ROTATE_FILES" ] && ! "$ROTATE" check; then
    log "bad log rotation setting; not starting nginx"
    exit 1
fi

if ! check_upstream_settings; then
    log "bad upstream setting; not starting nginx"
    exit 1
fi

if ! render_limits; then
    log "no valid $LIMITS_FILE; not starting nginx"
    exit 1
fi

if ! render_internal_listen; then
    log "no valid $INTERNAL_LISTEN_FILE; not starting nginx"
    exit 1
fi

if ! update start "$@"; then
    log "cannot write a valid $UPSTREAM_FILE; not starting nginx"
    exit 1
fi

"$NGINX" "$@" -g 'daemon off;' &
nginx_pid=$!
log "nginx started (pid $nginx_pid)"

# The watch loop runs in a subshell, so that this shell can sit in
# "wait" on nginx (traps run as soon as a signal arrives).  A subshell
# gets default signal dispositions, and we kill it when nginx is gone.
# It also stops by itself once nginx is gone: our kill can arrive before
# its "trap -" has run, and the inherited trap then swallows it (seen with
# an nginx that exited at once: the watcher hung in "wait" below).
# With UPSTREAM_RESOLVER there is nothing to watch.
if [ -z "$UPSTREAM_RESOLVER" ]; then
    (
        trap - TERM QUIT INT HUP USR1
        while kill -0 "$nginx_pid" 2>/dev/null; do
            sleep "$UPSTREAM_INTERVAL"
            update reload "$@"
        done
    ) &
    watch_pid=$!
fi

# start_rotator: rotate the files of LOG_ROTATE_FILES (paths separated
# by blanks, each passed as one argument) in the background, signalling
# nginx after a rotation (see the top); sets rotate_pid.
start_rotator() {
    set --
    while read -r f; do
        [ -n "$f" ] && set -- "$@" "$f"
    done <<EOF
$(words "$LOG_ROTATE_FILES")
EOF
    "$ROTATE" run -p "$nginx_pid" -s USR1 "$@" &
    rotate_pid=$!
}
[ -z "$LOG_ROTATE_FILES" ] || start_rotator

# wait returns early (status > 128) each time a trapped signal arrives:
# forward what came (also what came before nginx started), and go back to
# waiting as long as nginx is alive.
while :; do
    forward_pending
    wait "$nginx_pid"
    status=$?
    forward_pending
    kill -0 "$nginx_pid" 2>/dev/null || break
done
set -- $watch_pid $rotate_pid
if [ $# -gt 0 ]; then
    kill "$@" 2>/dev/null
    wait "$@" 2>/dev/null
fi
log "nginx exited with status $status"
exit "$status"
