#!/bin/sh
# Every diagram the docs ship fits an 880 px column with its smallest label at
# least 10 px high: `build/diagrams` writes them all (the seed cases, the
# layer views, the RNN, the curves); each SVG is measured as a browser shows
# it in such a column, at its natural size (Graphviz's pt are 4/3 px) or
# scaled down to the column's width. The SVGs committed in docs/images (the
# user op's too) are measured as well. Registered with ctest as diagrams_fit.
#
#   tests/diagrams_fit.sh path/to/diagrams SOURCE_DIR
set -eu
command -v dot > /dev/null || { echo "SKIPPED: Graphviz's dot is not installed"; exit 77; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$1" "$out/written" > /dev/null
status=0
count=0
for svg in "$out"/written/*.svg "$2"/docs/images/*.svg; do
    count=$((count + 1))
    # "<width> <unit> <smallest font-size>", from the <svg> element and every font-size
    measure=$(tr '\n' ' ' < "$svg" | awk '{
        if (match($0, /<svg[^>]* width="[0-9.]+(pt)?"/)) {
            tag = substr($0, RSTART, RLENGTH); sub(/.* width="/, "", tag); sub(/"$/, "", tag)
            unit = tag ~ /pt$/ ? "pt" : "px"; sub(/pt$/, "", tag); width = tag + 0
        }
        rest = $0; smallest = 0
        while (match(rest, /font-size="[0-9.]+"/)) {
            v = substr(rest, RSTART + 11, RLENGTH - 12) + 0
            if (smallest == 0 || v < smallest) smallest = v
            rest = substr(rest, RSTART + RLENGTH)
        }
        print width, unit, smallest
    }')
    verdict=$(echo "$measure" | awk '{
        px_per_unit = $2 == "pt" ? 4 / 3 : 1
        width_px = $1 * px_per_unit
        scale = width_px > 880 ? 880 / width_px : 1
        label = $3 * px_per_unit * scale
        printf "%s %.0f px wide, smallest label %.1f px\n", (label >= 10 && width_px > 0 ? "ok" : "FAIL"), width_px, label
    }')
    echo "${svg#"$out"/}: $verdict"
    case $verdict in ok*) ;; *) status=1 ;; esac
done
[ "$count" -ge 16 ] || { echo "fewer than 16 diagrams (8 written, 8 in docs/images)"; exit 1; }
exit $status
