#!/bin/sh
# Installs what tapegrad needs on Debian, only what is missing:
# a C compiler, CMake, valgrind and Criterion (tests), Graphviz (diagrams), chromium
# (the step-through page is tested in a headless browser; large, but it is the
# real thing), lld, wasi-libc and wasm32 compiler-rt (the core built for
# WebAssembly: docs/live.html, tools/wasm/build.sh) and the Fashion-MNIST data
# set (the demo). Optional, for CI and
# tests only: Open MPI (examples/mpi_data_parallel.c and its test, skipped
# without it); a failure to install it is reported and does not stop the
# setup. The library itself needs libc, libm and pthreads alone.
set -eu
packages="build-essential cmake clang lld wasi-libc libclang-rt-dev-wasm32 pkg-config valgrind libcriterion-dev graphviz
    chromium dataset-fashion-mnist"
optional="libopenmpi-dev openmpi-bin"
missing=""
missing_optional=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
for p in $optional; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing_optional="$missing_optional $p"
done
[ -z "$missing" ] && [ -z "$missing_optional" ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
if [ -n "$missing" ]; then
    echo "installing:$missing"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing > /dev/null
fi
if [ -n "$missing_optional" ]; then
    echo "installing (optional):$missing_optional"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing_optional > /dev/null ||
        echo "setup.sh: could not install$missing_optional; the MPI example and its test will be skipped" >&2
fi
