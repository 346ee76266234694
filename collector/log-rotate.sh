#!/bin/sh
# log-rotate.sh -- size-based log rotation by rename, for one container
#
# One script, copied with lib/sh/wscommon.sh (which it sources) into the
# nginx, fcgi-app and Redis images and started by each container's
# entrypoint (nginx/upstream-watch.sh, fcgi-app/entrypoint.sh,
# redis/entrypoint.sh).  Each container rotates only the files its own
# writer writes, so the app instances sharing the app-logs volume never
# touch each other's <hostname>.log.
#
# What a rotation is: every LOG_ROTATE_INTERVAL seconds each FILE of
# LOG_ROTATE_SIZE bytes or more is renamed, oldest first,
#     FILE.(KEEP-1) -> FILE.KEEP, ..., FILE.1 -> FILE.2, FILE -> FILE.1
# (the rename over FILE.KEEP drops the oldest), and then, once for the
# whole pass, SIGNAL is sent to PID so the writer opens FILE anew.  Why
# rename and not copy-and-truncate: nothing is lost.  A writer that still
# has the old file open keeps appending to FILE.1 until it reopens, and
# the collector reads a renamed file in its input directory to the end
# (docs/COLLECTOR.md, "Rotation"); "FILE.1" does not match the collector's
# "*.log" patterns, so it is never taken for a new log and read twice.
# copytruncate loses what is written between the copy and the truncation.
#
# Redis needs no signal: redis-server 7.0 opens its logfile for every line
# (src/server.c, serverLogRaw(): fp = fopen(server.logfile,"a"); ...
# fflush(fp); fclose(fp); tag 7.0.15, commit f35f36a2).  A line being
# written during the rename lands in FILE.1 and the next one creates FILE.
#
# Usage:
#   log-rotate.sh check
#       Check the settings; exit 0, or print what is wrong (naming the
#       setting) and exit 1.  Entrypoints call this before their writer
#       starts, so a bad value stops the container at once.
#   log-rotate.sh run [-p PID] [-s SIGNAL] FILE...
#       Rotate forever, in the foreground.  With -p, stop once PID is gone
#       (checked every second) and send it SIGNAL (USR1, HUP, ...) after a
#       pass that renamed something; without -s nothing is signalled.
#   log-rotate.sh start [-p PID] [-s SIGNAL] FILE...
#       check, then "run" detached (a double fork: its parent becomes the
#       container's PID 1, tini, which reaps it), so the caller can exec
#       its writer; -p $$ then names the writer.  Exits 1 on a bad setting.
#
# Settings (environment; a bad value: exit 1 with a message naming it):
#   LOG_ROTATE_SIZE      52428800 (50 MiB)  rotate a file at this many
#                        bytes; 4096..1099511627776, or 0: never rotate
#   LOG_ROTATE_KEEP      5    rotated files kept per log (FILE.1..FILE.5);
#                        1..1000
#   LOG_ROTATE_INTERVAL  5    seconds between size checks; 1..3600
# A file can outgrow LOG_ROTATE_SIZE by what its writer writes in one
# interval (plus the time the writer takes to reopen), and a log takes at
# most KEEP + 1 files on its volume.
#
# Writes nothing but renames (and removals of FILE.N for N > KEEP, left
# by an earlier, larger KEEP) in the files' own directories; runs as the
# writer's user; messages go to stderr as "log-rotate: ...".

set -u

# shellcheck disable=SC2034 # read by wscommon.sh (log, die)
PROG=log-rotate
# log, check_number: the shared shell library, beside this script in an
# image, lib/sh/ in the source tree (docs/ARCHITECTURE.md, "shared shell
# library").
here=$(dirname "$(readlink -f "$0")")
lib=$here/wscommon.sh
[ -r "$lib" ] || lib=$here/../lib/sh/wscommon.sh
# shellcheck source=SCRIPTDIR/../lib/sh/wscommon.sh
. "$lib"

LOG_ROTATE_SIZE=${LOG_ROTATE_SIZE:-52428800}
LOG_ROTATE_KEEP=${LOG_ROTATE_KEEP:-5}
LOG_ROTATE_INTERVAL=${LOG_ROTATE_INTERVAL:-5}

# check: every setting valid (each bad one logged), or return 1.
check() {
    bad=0
    if [ "$LOG_ROTATE_SIZE" != 0 ]; then
        if ! check_number LOG_ROTATE_SIZE "$LOG_ROTATE_SIZE" 4096 \
            1099511627776; then
            log "(LOG_ROTATE_SIZE=0 turns rotation off)"
            bad=1
        fi
    fi
    check_number LOG_ROTATE_KEEP "$LOG_ROTATE_KEEP" 1 1000 || bad=1
    check_number LOG_ROTATE_INTERVAL "$LOG_ROTATE_INTERVAL" 1 3600 || bad=1
    return "$bad"
}

# drop_extra FILE: remove FILE.N for N > LOG_ROTATE_KEEP (left over from
# a larger KEEP before a restart).
drop_extra() {
    for old in "$1".[0-9]*; do
        n=${old##*.}
        case $n in
            '' | *[!0-9]* | 0*) continue ;;
        esac
        [ -f "$old" ] || continue
        if [ "${#n}" -gt 4 ] || [ "$n" -gt "$LOG_ROTATE_KEEP" ]; then
            rm -f -- "$old" && log "removed $old (beyond LOG_ROTATE_KEEP)"
        fi
    done
}

# rotate FILE: if FILE has LOG_ROTATE_SIZE bytes or more, shift it into
# FILE.1 (see the top).  Returns 0 when FILE was renamed, 1 otherwise.
rotate() {
    size=$(stat -c %s -- "$1" 2>/dev/null) || return 1
    [ "$size" -ge "$LOG_ROTATE_SIZE" ] || return 1
    drop_extra "$1"
    i=$LOG_ROTATE_KEEP
    while [ "$i" -gt 1 ]; do
        j=$((i - 1))
        if [ -e "$1.$j" ]; then
            mv -f -- "$1.$j" "$1.$i" || log "mv $1.$j $1.$i failed"
        fi
        i=$j
    done
    if ! mv -f -- "$1" "$1.1"; then
        log "mv $1 $1.1 failed; not rotated"
        return 1
    fi
    log "rotated $1 ($size bytes) to $1.1"
    return 0
}

# run [-p PID] [-s SIGNAL] FILE...: the loop (see Usage).
run() {
    pid=
    sig=
    OPTIND=1
    while getopts p:s: opt; do
        case $opt in
            p) pid=$OPTARG ;;
            s) sig=$OPTARG ;;
            *) log "usage: log-rotate.sh run [-p PID] [-s SIGNAL] FILE..."
               return 2 ;;
        esac
    done
    shift $((OPTIND - 1))
    if [ -n "$sig" ] && [ -z "$pid" ]; then
        log "-s $sig needs -p PID"
        return 2
    fi
    [ $# -ge 1 ] || { log "no file to rotate"; return 2; }
    check || return 1
    if [ "$LOG_ROTATE_SIZE" = 0 ]; then
        log "LOG_ROTATE_SIZE=0: rotation off for $*"
        return 0
    fi
    then=
    [ -z "$sig" ] || then=", then SIG$sig to pid $pid"
    log "rotating $* at $LOG_ROTATE_SIZE bytes, keeping" \
        "$LOG_ROTATE_KEEP, checked every $LOG_ROTATE_INTERVAL s$then"
    waited=0
    while :; do
        # One second at a time, so the loop ends within a second of its
        # writer (a test that kills the writer is not left waiting).
        sleep 1
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
            return 0
        fi
        waited=$((waited + 1))
        [ "$waited" -ge "$LOG_ROTATE_INTERVAL" ] || continue
        waited=0
        renamed=0
        for f in "$@"; do
            rotate "$f" && renamed=1
        done
        if [ "$renamed" = 1 ] && [ -n "$sig" ]; then
            kill -"$sig" "$pid" 2>/dev/null \
                || log "kill -$sig $pid failed: the writer keeps the" \
                       "renamed file until it reopens"
        fi
    done
}

[ $# -ge 1 ] || { log "usage: log-rotate.sh check|run|start ..."; exit 2; }
cmd=$1
shift
case $cmd in
    check)
        check || exit 1
        ;;
    run)
        run "$@"
        exit $?
        ;;
    start)
        check || exit 1
        # Detached: stdin from /dev/null; stdout and stderr stay the
        # container's, so its messages reach `docker logs`.
        ( run "$@" < /dev/null & )
        ;;
    *)
        log "unknown command '$cmd' (check, run or start)"
        exit 2
        ;;
esac
