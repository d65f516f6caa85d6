#!/bin/sh
# Installs what tapegrad needs on Debian, only what is missing:
# a C compiler, CMake, valgrind and Criterion (tests), Graphviz (diagrams), chromium
# (the step-through page is tested in a headless browser; large, but it is the real
# thing) and the Fashion-MNIST data set (the demo).
set -eu
packages="build-essential cmake clang pkg-config valgrind libcriterion-dev graphviz chromium dataset-fashion-mnist"
missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing:$missing"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing > /dev/null
