#!/bin/sh
# The 1-block GPT's loss and gradients against PyTorch in float64
# (tests/gpt_torch.py), where a python3 with torch is installed; skipped
# (exit 77) where none is.
#
#   tests/gpt_torch.sh SOURCE_DIR INTEROP_BINARY
set -eu
src=$1 interop=$2
for python in python3 /usr/bin/python3; do
    if command -v "$python" > /dev/null && "$python" -c "import torch" > /dev/null 2>&1; then
        exec "$python" "$src/tests/gpt_torch.py" "$interop"
    fi
done
echo "gpt_torch: skipped, no python3 with torch (Debian: apt-get install python3-torch)"
exit 77
