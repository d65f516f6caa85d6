#!/bin/sh
# Every ```c block of docs/tutorial.md is checked against a program that runs:
# it must follow a <!-- example: docs/examples/NAME.c --> marker (checked by
# tests/tutorial_examples.sh), except the "Your own op" section's, which is
# examples/user_op.c verbatim (ctest tutorial_user_op_matches_example).
# Registered with ctest as tutorial_blocks_marked.
#
#   tests/tutorial_blocks_marked.sh SOURCE_DIR
set -eu
awk '
    /^## / { user_op = ($0 == "## Your own op") }
    /^<!-- example: docs\/examples\/[A-Za-z0-9_]+\.c -->$/ { marked = NR; next }
    /^```c$/ && !inside { inside = 1
        if (!user_op && marked != NR - 1) { print "docs/tutorial.md:" NR ": a ```c block without <!-- example: docs/examples/NAME.c --> right above it"; bad = 1 }
        next }
    /^```/ { inside = !inside }
    END { exit bad }' "$1/docs/tutorial.md"
