#!/bin/sh
# The tutorial's code cannot drift from what runs: every block of
# docs/tutorial.md marked <!-- example: docs/examples/NAME.c --> must equal,
# line for line, the lines of that program between the lines
# "/* tutorial: begin */" and "/* tutorial: end */"; the program (built as build/NAME) must run, and its output
# must equal the page's next block (the one right after the code; a program
# that prints nothing has no such block). A program with several begin/end
# pairs appears on the page as their lines joined by a line "...". Registered
# with ctest as tutorial_examples.
#
#   tests/tutorial_examples.sh SOURCE_DIR BUILD_DIR
set -eu
src=$1 build=$(cd "$2" && pwd)
page="$src/docs/tutorial.md"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
examples=$(sed -n 's/^<!-- example: \(.*\) -->$/\1/p' "$page")
[ -n "$examples" ] || { echo "no <!-- example: --> marker in docs/tutorial.md"; exit 1; }
status=0
for example in $examples; do
    name=$(basename "$example" .c)
    # the page's code block after the marker, and the output block after it
    : > "$work/code"; : > "$work/out"
    awk -v marker="<!-- example: $example -->" -v code="$work/code" -v out="$work/out" '
        $0 == marker { armed = 1; next }
        armed && block == 1 && !inside && !/^```$/ { if (/[^ ]/) exit; next } # no output block: prints nothing
        armed && /^```/ { if (inside) { inside = 0; block++; if (block == 2) exit; next }
                          inside = 1; next }
        armed && inside { print > (block == 0 ? code : out) }' "$page"
    # several begin/end pairs: the page joins their lines with a line "..."
    awk '/^ *\/\* tutorial: begin \*\/$/ { if (pairs++) print "..."; on = 1; next }
         /^ *\/\* tutorial: end \*\/$/ { on = 0; next }
         on' "$src/$example" > "$work/program"
    if ! diff -u "$work/code" "$work/program" > "$work/diff"; then
        echo "$example: the page's block differs from the program:"; cat "$work/diff"; status=1; continue
    fi
    # run in the scratch directory: programs may write files (diagrams)
    if ! (cd "$work" && "$build/$name") > "$work/ran" 2> "$work/err"; then
        echo "$example: the program failed:"; cat "$work/err"; status=1; continue
    fi
    if ! diff -u "$work/out" "$work/ran" > "$work/diff"; then
        echo "$example: its output differs from the page's:"; cat "$work/diff"; status=1; continue
    fi
    echo "$example: page and program agree, output as printed"
done
exit "$status"
