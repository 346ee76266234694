#!/bin/sh
# entrypoint.sh -- start one node of the Redis tier: primary, replica or
# sentinel, with its secrets, ACL file and log file in place, by running
# the script of its role.
#
# The roles, one script each, over one sourced library:
#   role-primary.sh   role-replica.sh   role-sentinel.sh   role-secrets.sh
#   entrypoint-lib.sh  settings, the secrets step, a data node's start
# and, sourced by all, lib/sh/wscommon.sh (log, die, the number rule).
#
# How to use (containers engineer):
#   Copy entrypoint.sh, entrypoint-lib.sh, role-*.sh, secrets.sh, acl.sh,
#   collector/log-rotate.sh and lib/sh/wscommon.sh into one directory of
#   the image (e.g. /usr/local/lib/redis-tier/) and the configs
#   (primary.conf, replica.conf, sentinel.conf, users.acl.in) into
#   /etc/redis/.  Then:
#     entrypoint.sh primary  [redis-server options...]
#     entrypoint.sh replica  [redis-server options...]   REDIS_REPLICA_ID=1|2
#     entrypoint.sh sentinel [sentinel options...]       REDIS_SENTINEL_ID=1..3
#     entrypoint.sh secrets   (only create/check the secrets, then exit 0;
#                              for a one-shot init service)
#   Options given after the role are passed to Redis last, so they win.
#   Run it as the user Redis runs as (Debian's `redis`): it never switches
#   users itself.  Redis runs in the foreground as this process (each
#   script execs the next, and the role's execs Redis), so it gets the
#   container's signals directly.
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
#                       log-rotate.sh (next to these scripts, or collector/
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

# shellcheck disable=SC2034 # read by wscommon.sh (log, die)
PROG=redis-entrypoint
# log, die: the shared shell library, beside this script in the image,
# lib/sh/ in the source tree (docs/ARCHITECTURE.md, "shared shell library").
here=$(dirname "$(readlink -f "$0")")
lib=$here/wscommon.sh
[ -r "$lib" ] || lib=$here/../lib/sh/wscommon.sh
# shellcheck source=SCRIPTDIR/../lib/sh/wscommon.sh
. "$lib"

[ $# -ge 1 ] || die "usage: entrypoint.sh primary|replica|sentinel|secrets" \
    "[redis options...]"
role=$1
shift
case $role in
    primary | replica | sentinel | secrets)
        exec "$here/role-$role.sh" "$@" ;;
    *) die "unknown role '$role' (primary, replica, sentinel or secrets)" ;;
esac
