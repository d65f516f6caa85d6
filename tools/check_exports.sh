#!/bin/sh
# The shared library exports exactly the public API: every function that
# include/ declares (the list of tools/check_api_docs.sh), and nothing else.
# The library is built with hidden visibility and TG_API marks the
# declarations, so an internal helper cannot become API by accident.
#
#   tools/check_exports.sh SOURCE_DIR LIBRARY.so     exit 1 on a mismatch
# Registered with ctest as the test exported_symbols.
set -eu
root=$1 lib=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sh "$root/tools/check_api_docs.sh" --list "$root" | cut -f2 | LC_ALL=C sort -u > "$tmp/declared"
nm -D --defined-only "$lib" | awk '$2 ~ /^[TtWiV]$/ { print $3 }' | LC_ALL=C sort -u > "$tmp/exported"
[ -s "$tmp/declared" ] || { echo "no public function found under $root/include"; exit 1; }
status=0
if LC_ALL=C comm -23 "$tmp/exported" "$tmp/declared" | grep .; then
    echo "^ exported by $lib but declared in no public header (mark them static, or leave TG_API off)"
    status=1
fi
if LC_ALL=C comm -13 "$tmp/exported" "$tmp/declared" | grep .; then
    echo "^ declared in include/ but not exported (missing TG_API, or no definition)"
    status=1
fi
[ $status -eq 0 ] && echo "$(wc -l < "$tmp/exported") functions exported, each declared in include/"
exit $status
