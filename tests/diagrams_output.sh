#!/bin/sh
# `build/diagrams docs/images`, as the tutorial says, writes only the SVGs
# docs/images tracks: no .dot or .csv files left behind (with Graphviz; without
# it the .dot files are all it can write). Registered with ctest.
#
#   tests/diagrams_output.sh path/to/diagrams
set -eu
command -v dot > /dev/null || { echo "SKIPPED: Graphviz's dot is not installed"; exit 77; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$1" "$out/images" > /dev/null
others=$(find "$out/images" -type f ! -name '*.svg')
[ -z "$others" ] || { echo "diagrams left files other than SVGs:"; echo "$others"; exit 1; }
[ "$(find "$out/images" -name '*.svg' | wc -l)" -ge 8 ] || { echo "fewer than 8 SVGs"; exit 1; }
echo "diagrams: only SVGs"
