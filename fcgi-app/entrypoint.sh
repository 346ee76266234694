#!/bin/sh
# entrypoint.sh -- fcgi-app container entrypoint: start the rotation of
# this instance's log, then become the pool's master.
#
# The image runs it behind tini (tini -- entrypoint.sh [fcgi-app args]).
# When LOG_DIR is set the app writes <LOG_DIR>/<APP_HOSTNAME, else the
# host name>.log (log.c; empty counts as unset, as in config.c), and
# log-rotate.sh (installed next to this script) rotates exactly that file:
# the instances of a scaled pool share the log volume and each rotates
# only its own.  After a rename it sends SIGUSR1 to the master, which
# reopens its log and forwards the signal to its workers (pool.c).  The
# master is this very process once the exec below has run, so the rotator
# is told $$; it starts detached (its parent becomes tini) and stops
# within a second of the master.
#
# Settings: LOG_ROTATE_SIZE, LOG_ROTATE_KEEP, LOG_ROTATE_INTERVAL (see
# log-rotate.sh and docs/OPERATIONS.md, "Log rotation").  A bad value
# stops the container here, before the app starts, naming the setting.
#
# Usage: entrypoint.sh [fcgi-app arguments...]
#   FCGI_APP  the binary (default: fcgi-app from PATH)

set -eu

here=$(cd "$(dirname "$0")" && pwd)
rotate=$here/log-rotate.sh
# Run from the source tree (fcgi-app/entrypoint.sh), the script is in
# collector/.
[ -x "$rotate" ] || rotate=$here/../collector/log-rotate.sh

if [ -n "${LOG_DIR:-}" ]; then
    host=${APP_HOSTNAME:-$(uname -n)}
    "$rotate" start -p "$$" -s USR1 "$LOG_DIR/$host.log"
else
    # No log file (stderr): nothing to rotate, but a bad setting is still
    # an error, as it would be with LOG_DIR set.
    "$rotate" check
fi

exec "${FCGI_APP:-fcgi-app}" "$@"
