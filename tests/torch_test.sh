#!/bin/sh
# A test against PyTorch, tests/NAME.py, run with the C program it drives
# and a scratch directory, where a python3 with torch is installed; skipped
# (exit 77) where none is.
#
#   tests/torch_test.sh NAME SOURCE_DIR PROGRAM
set -eu
name=$1 src=$2 program=$3
for python in python3 /usr/bin/python3; do
    if command -v "$python" > /dev/null && "$python" -c "import torch" > /dev/null 2>&1; then
        work=$(mktemp -d)
        trap 'rm -rf "$work"' EXIT
        "$python" "$src/tests/$name.py" "$program" "$work"
        exit 0
    fi
done
echo "$name: skipped, no python3 with torch (Debian: apt-get install python3-torch)"
exit 77
