#!/bin/sh
# The whole test suite, quiet: set-up, then every test in a release build
# (with the install and README tests), again under AddressSanitizer +
# UndefinedBehaviorSanitizer, valgrind on examples, every test once more built
# by clang with warnings as errors, the WebAssembly build of the core
# (tools/wasm/build.sh) and a short smoke run of each fuzzer.
#
# One line per stage with its counts, naming every skipped test and why;
# compiler and test output go to build-logs/<stage>.log. The last line is the
# total, "N passed, N failed, N skipped"; the exit status is 1 if anything
# failed.
#
#   tools/test.sh            everything (about 10-15 minutes on 2 cores)
#   FUZZ_SECONDS=60 tools/test.sh   a longer fuzz smoke run (default 30 s per target)
set -u
cd "$(dirname "$0")/.."
logs=build-logs
rm -rf "$logs"
mkdir -p "$logs"
jobs=$(nproc)
total_pass=0 total_fail=0 total_skip=0

# report STAGE PASSED FAILED SKIPPED [NOTE]
report() {
    total_pass=$((total_pass + $2)) total_fail=$((total_fail + $3)) total_skip=$((total_skip + $4))
    printf '%-9s %d passed, %d failed, %d skipped%s  (log: %s/%s.log)\n' "$1:" "$2" "$3" "$4" "${5:+; $5}" "$logs" "$1"
}

# ctest_stage STAGE BUILD_DIR CMAKE_ARGS... -- CTEST_ARGS...
ctest_stage() {
    stage=$1 dir=$2
    shift 2
    cmake_args="" ctest_args=""
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do cmake_args="$cmake_args $1"; shift; done
    [ $# -gt 0 ] && shift
    ctest_args="$*"
    log="$logs/$stage.log"
    # shellcheck disable=SC2086
    if ! { cmake -S . -B "$dir" $cmake_args && cmake --build "$dir" -j "$jobs"; } > "$log" 2>&1; then
        report "$stage" 0 1 0 "the build failed"
        return
    fi
    # shellcheck disable=SC2086
    ctest --test-dir "$dir" --output-on-failure -j "$jobs" $ctest_args >> "$log" 2>&1
    pass=$(grep -cE '^ *[0-9]+/[0-9]+ Test +#[0-9]+: .* +Passed' "$log")
    fail=$(grep -cE '^ *[0-9]+/[0-9]+ Test +#[0-9]+: .*\*\*\*(Failed|Exception|Timeout)|\*\*\*Not Run$' "$log")
    skips=$(grep -E '^ *[0-9]+/[0-9]+ Test +#[0-9]+: .*\*\*\*Skipped' "$log" |
        sed -E 's/.*Test +#[0-9]+: ([^ ]+) .*/\1/')
    skip=0 why=""
    for name in $skips; do
        skip=$((skip + 1))
        reason=$(grep -h -m 1 -E '^SKIPPED: ' "$dir/Testing/Temporary/LastTest.log" 2> /dev/null |
            sed 's/^SKIPPED: //' | cut -c1-90)
        why="${why:+$why; }skipped $name (${reason:-see the log})"
    done
    failed=$(grep -E '\*\*\*(Failed|Exception|Timeout)' "$log" | sed -E 's/.*Test +#[0-9]+: ([^ ]+) .*/\1/' | tr '\n' ' ')
    report "$stage" "$pass" "$fail" "$skip" "$why${failed:+${why:+; }failed: $failed}"
}

if tools/setup.sh > "$logs/setup.log" 2>&1; then
    report setup 1 0 0
else
    report setup 0 1 0 "see the log"
fi

ctest_stage release build -DCMAKE_BUILD_TYPE=Release

ctest_stage asan build-asan -DCMAKE_BUILD_TYPE=Debug -DTAPEGRAD_SANITIZE=ON -DCMAKE_C_FLAGS=-O1 \
    -- -E "install_consumer|readme_install"

# No leaks and no invalid accesses under valgrind, on programs that use
# every layer of the library.
log="$logs/valgrind.log"
: > "$log"
if ! command -v valgrind > /dev/null; then
    report valgrind 0 0 5 "valgrind is not installed"
else
    pass=0 fail=0 skip=0 why=""
    for example in alice_gradients train_221 perceptron diagrams user_op; do
        if [ ! -x "build/$example" ]; then
            skip=$((skip + 1)) why="${why:+$why; }skipped $example (not built)"
            continue
        fi
        echo "== $example" >> "$log"
        if (cd build && valgrind -q --error-exitcode=1 --leak-check=full \
            --errors-for-leak-kinds=definite,indirect "./$example" > /dev/null 2>> "../$log"); then
            pass=$((pass + 1))
        else
            fail=$((fail + 1)) why="${why:+$why; }failed: $example"
        fi
    done
    report valgrind "$pass" "$fail" "$skip" "$why"
fi

if command -v clang > /dev/null; then
    ctest_stage clang build-clang -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Release -- -E "install_consumer|readme_install"
else
    report clang 0 0 1 "clang is not installed"
fi

# tapegrad's core for wasm32 (the live page, docs/live.html; its browser
# test, live_page, runs in the ctest stages above).
log="$logs/wasm.log"
if tools/wasm/build.sh build-wasm > "$log" 2>&1; then
    note=$(tail -n 1 "$log" | sed 's/^build.sh: //')
    if ! cmp -s build-wasm/live.html docs/live.html; then
        note="$note; docs/live.html differs from this build (tools/wasm/build.sh --docs updates it)"
    fi
    report wasm 1 0 0 "$note"
elif [ $? -eq 77 ]; then
    report wasm 0 0 1 "$(tail -n 1 "$log")"
else
    report wasm 0 1 0 "tools/wasm/build.sh failed"
fi

log="$logs/fuzz.log"
if ! command -v clang > /dev/null; then
    report fuzz 0 0 5 "clang (libFuzzer) is not installed"
else
    tools/fuzz/run.sh "${FUZZ_SECONDS:-30}" > "$log" 2>&1
    pass=$(grep -c '^fuzz .*: .*no failure' "$log")
    fail=$(grep -c '^fuzz .*FAILED' "$log")
    report fuzz "$pass" "$fail" 0 "$(grep '^fuzz .*FAILED' "$log" | cut -d: -f1 | tr '\n' ' ')"
fi

echo "$total_pass passed, $total_fail failed, $total_skip skipped"
[ "$total_fail" -eq 0 ]
