#!/bin/sh
# Runs the README's install section as a newcomer would: on a fresh copy of
# the tree, with HOME in a scratch directory, the blocks marked
# <!-- readme-test: NAME --> executed exactly as written (install, pkg-config
# build, CMake build, uninstall, after which nothing may remain under the
# prefix), and the program of "A first graph" compiled and run. Registered
# with ctest as readme_install.
#
#   tests/consumer/readme.sh SOURCE_DIR
set -eu
src=$(cd "$1" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HOME="$work/home"
mkdir -p "$HOME" "$work/tree" "$work/app"

# The block after the marker NAME, without its fences.
block() {
    awk -v name="$1" '
        $0 == "<!-- readme-test: " name " -->" { armed = 1; next }
        armed && /^```/ { if (inside) exit; inside = 1; next }
        inside { print }' "$src/README.md"
}
# The first C block under "## A first graph".
first_c() {
    awk '/^## A first graph/ { armed = 1 } armed && /^```c/ { inside = 1; next }
         inside && /^```/ { exit } inside { print }' "$src/README.md"
}

# a fresh copy: the tracked files (or everything but build directories)
if git -C "$src" rev-parse > /dev/null 2>&1; then
    git -C "$src" ls-files -z | (cd "$src" && xargs -0 cp --parents -t "$work/tree")
else
    (cd "$src" && tar --exclude='./build*' -cf - .) | (cd "$work/tree" && tar xf -)
fi
for name in install pkg-config cmake uninstall; do
    [ -n "$(block "$name")" ] || { echo "README.md has no block marked readme-test: $name"; exit 1; }
done

echo "== install"
(cd "$work/tree" && block install > install.sh && sh -eux install.sh) > "$work/install.log" 2>&1 ||
    { tail -20 "$work/install.log"; exit 1; }

first_c > "$work/app/first.c"
expect() { # the output of the README's program, as its comments say
    grep -q "^y = 0.9990889" "$1" && grep -q "^dy/dw = " "$1" && grep -q "^dy/db = " "$1" ||
        { echo "unexpected output:"; cat "$1"; exit 1; }
}

echo "== pkg-config (shared library, rpath)"
(cd "$work/app" && block pkg-config > build.sh && sh -eu build.sh) > "$work/pc.out" 2> "$work/pc.err" ||
    { cat "$work/pc.err"; exit 1; }
expect "$work/pc.out"
ldd "$work/app/first" | grep -q "libtapegrad.so.0 => $HOME/.local/" ||
    { echo "pkg-config's program does not use the installed shared library"; ldd "$work/app/first"; exit 1; }

echo "== tg_inspect and nothing more"
[ -x "$HOME/.local/bin/tg_inspect" ] || { echo "the install has no bin/tg_inspect"; exit 1; }
built=$(cd "$work/tree/build-install" && ls bench_* ulp_* test_* 2> /dev/null | head -5)
[ -z "$built" ] || { echo "a library-only build built: $built"; exit 1; }

echo "== cmake (static library)"
rm -f "$work/app/first"
block cmake > "$work/app/CMakeLists.txt"
(cd "$work/app" && cmake -S . -B build -DCMAKE_PREFIX_PATH=~/.local > /dev/null && cmake --build build > /dev/null &&
    build/first) > "$work/cmake.out" 2>&1 || { cat "$work/cmake.out"; exit 1; }
expect "$work/cmake.out"

echo "== uninstall"
(cd "$work/tree" && block uninstall > uninstall.sh && sh -eu uninstall.sh)
left=$(find "$HOME/.local" -mindepth 1 | head -5)
[ -z "$left" ] || { echo "uninstall left files or directories behind:"; echo "$left"; exit 1; }
echo "README install section: ok"
