#!/bin/sh
# The whole test suite: set-up, then every Criterion suite in a release build
# (with the install/consumer test), again under AddressSanitizer +
# UndefinedBehaviorSanitizer, valgrind on examples, and every suite once more
# built by clang with warnings as errors.
set -eu
cd "$(dirname "$0")/.."
tools/setup.sh
jobs=$(nproc)

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build -j "$jobs"
ctest --test-dir build --output-on-failure -j "$jobs"

cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DTAPEGRAD_SANITIZE=ON -DCMAKE_C_FLAGS=-O1 > /dev/null
cmake --build build-asan -j "$jobs"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure -j "$jobs" -E install_consumer

# No leaks and no invalid accesses under valgrind, on programs that use
# every layer of the library.
for example in alice_gradients train_221 perceptron diagrams user_op; do
    [ -x "build/$example" ] || continue
    valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect \
        "build/$example" > /dev/null
done

CC=clang cmake -S . -B build-clang -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build-clang -j "$jobs"
ctest --test-dir build-clang --output-on-failure -j "$jobs" -E install_consumer
