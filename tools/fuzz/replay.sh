#!/bin/sh
# Replays every seed (made fresh by make_seeds) and every input that ever made
# a harness fail (tools/fuzz/regressions/<target>/) through the harnesses
# built without libFuzzer. Registered with ctest as fuzz_regressions, so it
# runs in the release, sanitizer and clang builds.
#
#   tools/fuzz/replay.sh BUILD_DIR
set -eu
build=$1
here=$(cd "$(dirname "$0")" && pwd)
seeds="$build/fuzz-seeds"
rm -rf "$seeds"
"$build/make_seeds" "$seeds"
for target in idx csv gzip checkpoint safetensors; do
    set -- "$seeds/$target"
    [ -d "$here/regressions/$target" ] && set -- "$@" "$here/regressions/$target"
    "$build/fuzz_${target}_replay" "$@"
done
