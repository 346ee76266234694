#!/bin/sh
# acl.sh -- render users.acl.in into the data nodes' Redis ACL file.
#
# How to use:
#   acl.sh TEMPLATE SECRETS_DIR OUT
# e.g. in the image (entrypoint.sh does this on every start):
#   acl.sh /etc/redis/users.acl.in /run/secrets/redis /data/users.acl
# and in lib/tools/stack.py before starting redis-server with --aclfile OUT.
#
# Drops the template's comment and blank lines (Redis refuses comments in an
# ACL file) and replaces @ADMIN_HASH@, @APP_HASH@, @REPLICATION_HASH@ and
# @SENTINEL_HASH@ by the SHA-256 (hex) of the password in SECRETS_DIR/admin,
# app, replication and sentinel: the `#<sha256>` ACL form, so the file holds
# no plain password.  Where SECRETS_DIR has NAME.sha256 instead of NAME (a
# data node gets only the hashes of the passwords it never sends, see
# secrets.sh), that hash is used.  The secrets are checked first.  OUT
# is written to a temporary file, mode 0600, and renamed into place, so
# Redis never reads half a file.  Exit status: 0 ok, 1 error (on stderr).

set -eu

# shellcheck disable=SC2034 # read by wscommon.sh (log, die)
PROG=redis-acl
# die: the shared shell library, beside this script in the image, lib/sh/
# in the source tree (docs/ARCHITECTURE.md, "shared shell library").
here=$(dirname "$(readlink -f "$0")")
lib=$here/wscommon.sh
[ -r "$lib" ] || lib=$here/../lib/sh/wscommon.sh
# shellcheck source=SCRIPTDIR/../lib/sh/wscommon.sh
. "$lib"

[ $# -eq 3 ] || die "usage: acl.sh TEMPLATE SECRETS_DIR OUT"
template=$1
secrets=$2
out=$3

[ -r "$template" ] || die "cannot read ACL template $template"
[ -x "$here/secrets.sh" ] || die "secrets.sh not found beside $0"
"$here/secrets.sh" check "$secrets" admin.sha256 app.sha256 \
    replication.sha256 sentinel.sha256

# hash_of NAME: SHA-256 hex of NAME's password (secrets.sh hash: the
# password's, or SECRETS_DIR/NAME.sha256 where only that is there).
hash_of() {
    "$here/secrets.sh" hash "$secrets" "$1" \
        || die "no hash for $1 in $secrets"
}

admin=$(hash_of admin)
app=$(hash_of app)
replication=$(hash_of replication)
sentinel=$(hash_of sentinel)

tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
(umask 077 && grep -v -e '^#' -e '^[[:space:]]*$' "$template" \
    | sed -e "s/@ADMIN_HASH@/$admin/" \
          -e "s/@APP_HASH@/$app/" \
          -e "s/@REPLICATION_HASH@/$replication/" \
          -e "s/@SENTINEL_HASH@/$sentinel/" > "$tmp") \
    || die "cannot write $tmp"
if grep -q '@[A-Z_]*@' "$tmp"; then
    die "template $template has a placeholder acl.sh does not know"
fi
mv -f "$tmp" "$out" || die "cannot rename $tmp to $out"
trap - EXIT
