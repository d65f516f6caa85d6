#!/bin/sh
# Models both ways with PyTorch (tests/model_torch.py), where a python3 with
# torch is installed; skipped (exit 77) where none is.
#
#   tests/model_torch.sh SOURCE_DIR INTEROP_BINARY
set -eu
src=$1 interop=$2
for python in python3 /usr/bin/python3; do
    if command -v "$python" > /dev/null && "$python" -c "import torch" > /dev/null 2>&1; then
        work=$(mktemp -d)
        trap 'rm -rf "$work"' EXIT
        "$python" "$src/tests/model_torch.py" "$interop" "$work"
        exit 0
    fi
done
echo "model_torch: skipped, no python3 with torch (Debian: apt-get install python3-torch)"
exit 77
