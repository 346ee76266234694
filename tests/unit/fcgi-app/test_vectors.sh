#!/bin/sh
# test_vectors.sh -- CORE against node's real Express cookie/session modules
#
# Generates compatibility vectors with vectors.js (Debian's node-cookie,
# node-cookie-signature, node-uid-safe, and JavaScript's own URI, Date and
# JSON functions), then runs the C checker fcgi-app/build/unit/test_vectors
# on them.  Prints ok/not ok lines; exits 77 with a skip line when node or
# the modules are missing.  Build first: make -C fcgi-app unit.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
bin="$root/fcgi-app/build/unit/test_vectors"

if ! command -v node >/dev/null 2>&1; then
    echo "skip - vectors: node is not installed (Debian package nodejs)"
    exit 77
fi
for m in cookie cookie-signature uid-safe; do
    if [ ! -d "/usr/share/nodejs/$m" ]; then
        echo "skip - vectors: /usr/share/nodejs/$m missing (node-$m)"
        exit 77
    fi
done
if [ ! -x "$bin" ]; then
    echo "not ok - vectors_build: $bin missing (make -C fcgi-app unit)"
    exit 1
fi

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM

# uid-safe finds its dependency random-bytes only via /usr/share/nodejs,
# which a non-Debian node build does not search by default.
if NODE_PATH=/usr/share/nodejs${NODE_PATH:+:$NODE_PATH} \
   node "$here/vectors.js" "$tmp/vectors" 2>"$tmp/err"; then
    echo "ok - vectors_generate: $(tail -n 1 "$tmp/err")"
else
    echo "not ok - vectors_generate: $(tail -n 1 "$tmp/err")"
    exit 1
fi
"$bin" "$tmp/vectors"
