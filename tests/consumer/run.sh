#!/bin/sh
# Installs the built library into a scratch prefix, then builds and runs a
# consumer project against it: with find_package, one program per CMake
# target the README names (each must link the kind of library its name
# promises), and with pkg-config. The installed tg_inspect reads a checkpoint
# the consumer wrote. Registered with ctest as install_consumer.
#
#   tests/consumer/run.sh BUILD_DIR SOURCE_DIR
set -eu
build=$1
src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
here=$(cd "$(dirname "$0")" && pwd)
cmake --install "$build" --prefix "$work/prefix" > /dev/null

targets=$(grep -o 'tapegrad::[A-Za-z0-9_]*' "$src/README.md" | sort -u | paste -sd ';' -)
[ -n "$targets" ] || { echo "README.md names no tapegrad:: target"; exit 1; }
echo "README's targets: $targets"
cmake -S "$here" -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$work/prefix" "-DTAPEGRAD_TARGETS=$targets" \
    > "$work/configure.log" 2>&1 || { cat "$work/configure.log"; exit 1; }
cmake --build "$work/cmake-build" > "$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
while read -r program kind target; do
    "$work/cmake-build/$program"
    linked=$(ldd "$work/cmake-build/$program" | grep 'libtapegrad\.so' || true)
    case $kind in
    SHARED_LIBRARY)
        echo "$linked" | grep -q "$work/prefix/" ||
            { echo "$target: $program does not load the installed libtapegrad.so ($linked)"; exit 1; } ;;
    STATIC_LIBRARY)
        [ -z "$linked" ] || { echo "$target: $program loads $linked"; exit 1; } ;;
    *) echo "$target is a $kind"; exit 1 ;;
    esac
    echo "$target ($kind): ok"
done < "$work/cmake-build/targets.txt"

pc_dir=$(dirname "$(find "$work/prefix" -name tapegrad.pc | head -n 1)")
export PKG_CONFIG_PATH="$pc_dir"
# this one links the shared library
cc -std=c11 "$here/main.c" -o "$work/pc-consumer" $(pkg-config --cflags --libs tapegrad) -lm \
    -Wl,-rpath,"$(pkg-config --variable=libdir tapegrad)"
"$work/pc-consumer" "$work/weights.ckpt"

# the installed checkpoint reader
"$work/prefix/bin/tg_inspect" "$work/weights.ckpt" > "$work/inspect.out" ||
    { cat "$work/inspect.out"; exit 1; }
grep -q '\bw\b' "$work/inspect.out" || { echo "tg_inspect does not list the tensor w:"; cat "$work/inspect.out"; exit 1; }
echo "installed tg_inspect: ok"
