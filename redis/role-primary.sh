#!/bin/sh
# role-primary.sh -- the Redis tier's primary: create the secrets on first
# start, then run redis-server from primary.conf (or, when the Sentinels
# say another node is primary now, as its replica).
#
# Run by entrypoint.sh primary [redis-server options...], whose header
# lists the settings; the steps are entrypoint-lib.sh's.

set -eu

# shellcheck source=SCRIPTDIR/entrypoint-lib.sh
. "$(dirname "$(readlink -f "$0")")/entrypoint-lib.sh"

tier_settings
tier_secrets yes admin replication app.sha256 sentinel.sha256
tier_dirs
start_data_node primary "$LOGDIR/redis-server.log" "$@"
