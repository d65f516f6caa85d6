#!/bin/sh
# Keeps docs/api.md in step with the public headers.
#
#   tools/check_api_docs.sh [SOURCE_DIR]          check (exit 1 on a mismatch)
#   tools/check_api_docs.sh --list [SOURCE_DIR]   print every public function, by header
#   tools/check_api_docs.sh --stubs [SOURCE_DIR]  print api.md entries to fill in for
#                                                 the functions not documented yet
#
# A public function is one declared at the start of a line in include/**/*.h
# (not indented, not a typedef, not a macro). It is documented when docs/api.md
# holds `name( in backticks, as in "- `tg_tensor_new(ctx, ...)` — ...". The
# check fails for a declared function missing from api.md and for a function
# api.md documents that no header declares (renamed or removed).
# Registered with ctest as the test api_docs.
set -eu

mode=check
case "${1:-}" in
--list) mode=list; shift ;;
--stubs) mode=stubs; shift ;;
esac
root=${1:-$(dirname "$0")/..}
api="$root/docs/api.md"

# "header<TAB>name" for every declaration, in header order.
declarations() {
    find "$root/include" -name '*.h' | LC_ALL=C sort | while read -r header; do
        awk -v header="${header#"$root"/include/}" '
            /^[ \t#\/*}]/ { next }          # indented, preprocessor, comment, closing brace
            /^(typedef|extern|struct|enum|union)/ { next }
            {
                line = $0
                sub(/\/\*.*/, "", line)     # a trailing comment
                if (match(line, /tg_[A-Za-z0-9_]+[ \t]*\(/)) {
                    name = substr(line, RSTART, RLENGTH)
                    sub(/[ \t]*\($/, "", name)
                    print header "\t" name
                }
            }' "$header"
    done
}

if [ "$mode" = list ]; then
    declarations
    exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
declarations > "$tmp/all"
cut -f2 "$tmp/all" | LC_ALL=C sort -u > "$tmp/declared"
if [ -f "$api" ]; then
    grep -oE '`tg_[A-Za-z0-9_]+\(' "$api" | sed 's/^`//; s/($//' | LC_ALL=C sort -u > "$tmp/documented"
else
    : > "$tmp/documented"
fi
LC_ALL=C comm -23 "$tmp/declared" "$tmp/documented" > "$tmp/missing"
LC_ALL=C comm -13 "$tmp/declared" "$tmp/documented" > "$tmp/stale"

if [ "$mode" = stubs ]; then
    # Entries to paste into api.md under each header's section.
    while IFS="$(printf '\t')" read -r header name; do
        if grep -qx "$name" "$tmp/missing"; then
            echo "<!-- $header -->"
            echo "- \`$name(...)\` — TODO purpose. Errors: TODO."
        fi
    done < "$tmp/all"
    exit 0
fi

status=0
if [ -s "$tmp/missing" ]; then
    echo "docs/api.md does not document these public functions (see tools/check_api_docs.sh --stubs):"
    while IFS="$(printf '\t')" read -r header name; do
        grep -qx "$name" "$tmp/missing" && echo "  $name  ($header)"
    done < "$tmp/all"
    status=1
fi
if [ -s "$tmp/stale" ]; then
    echo "docs/api.md documents functions no header declares (renamed or removed?):"
    sed 's/^/  /' "$tmp/stale"
    status=1
fi
if [ "$status" -eq 0 ]; then
    echo "docs/api.md documents all $(wc -l < "$tmp/declared" | tr -d ' ') public functions"
fi
exit "$status"
