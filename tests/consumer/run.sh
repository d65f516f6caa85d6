#!/bin/sh
# Installs the built library into a scratch prefix, then builds and runs a
# consumer project against it twice: with find_package and with pkg-config.
set -eu
build=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
here=$(cd "$(dirname "$0")" && pwd)
cmake --install "$build" --prefix "$work/prefix" > /dev/null
cmake -S "$here" -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$work/prefix" > /dev/null
cmake --build "$work/cmake-build" > /dev/null
"$work/cmake-build/consumer"
pc_dir=$(dirname "$(find "$work/prefix" -name tapegrad.pc | head -n 1)")
export PKG_CONFIG_PATH="$pc_dir"
# this one links the shared library
cc -std=c11 "$here/main.c" -o "$work/pc-consumer" $(pkg-config --cflags --libs tapegrad) -lm \
    -Wl,-rpath,"$(pkg-config --variable=libdir tapegrad)"
"$work/pc-consumer"
