#!/bin/sh
# role-replica.sh -- a Redis tier replica: wait for the secrets, then run
# redis-server from replica.conf following REDIS_PRIMARY_HOST:PORT (or
# whom the Sentinels say is primary now, or no one if that is this node).
#
# Run by entrypoint.sh replica [redis-server options...] with
# REDIS_REPLICA_ID=1|2 (it names the log file); entrypoint.sh's header
# lists the settings, and the steps are entrypoint-lib.sh's.

set -eu

# shellcheck source=SCRIPTDIR/entrypoint-lib.sh
. "$(dirname "$(readlink -f "$0")")/entrypoint-lib.sh"

tier_settings
tier_secrets no admin replication app.sha256 sentinel.sha256
tier_dirs
id=${REDIS_REPLICA_ID:-}
need_number REDIS_REPLICA_ID "$id" 1 65535
start_data_node replica "$LOGDIR/redis-replica-$id.log" "$@"
