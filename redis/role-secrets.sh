#!/bin/sh
# role-secrets.sh -- the Redis tier's "secrets" role: create (or, with
# REDIS_GENERATE_SECRETS=no, wait for) and check the secrets, then exit 0.
# For a one-shot init service that runs before the nodes.
#
# Run by entrypoint.sh secrets; the settings are checked as for a node
# (entrypoint.sh's header), so a bad one fails here first.

set -eu

# shellcheck source=SCRIPTDIR/entrypoint-lib.sh
. "$(dirname "$(readlink -f "$0")")/entrypoint-lib.sh"

tier_settings
tier_secrets yes admin replication app.sha256 sentinel.sha256
