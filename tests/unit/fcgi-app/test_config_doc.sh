#!/bin/sh
# test_config_doc.sh -- docs/CONFIG.md lists every fcgi-app setting exactly
# as the binary's own table (fcgi-app --config-table) does.
cd "$(dirname "$0")/../../.." || exit 1
bin=fcgi-app/fcgi-app
if [ ! -x "$bin" ]; then
    echo "not ok - config_doc_matches_table: $bin not built"
    exit 1
fi
want=$(mktemp) got=$(mktemp)
trap 'rm -f "$want" "$got"' EXIT
"$bin" --config-table > "$want" || { echo "not ok - config_doc_matches_table: --config-table failed"; exit 1; }
sed -n '/<!-- fcgi-app config table: begin -->/,/<!-- fcgi-app config table: end -->/p' \
    docs/CONFIG.md | sed '1d;$d' > "$got"
if [ ! -s "$got" ]; then
    echo "not ok - config_doc_matches_table: no table between the markers in docs/CONFIG.md"
    exit 1
fi
if diff -u "$got" "$want" >&2; then
    echo "ok - config_doc_matches_table ($(grep -c '^| `' "$want") settings)"
else
    echo "not ok - config_doc_matches_table: docs/CONFIG.md differs from fcgi-app --config-table (diff on stderr)"
    exit 1
fi
