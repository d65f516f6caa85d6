#!/bin/sh
# Fuzzes tapegrad's file readers with libFuzzer (clang), ASan and UBSan.
#
#   tools/fuzz/run.sh [SECONDS_EACH] [TARGET...]    default: 60 s each, every target
#
# Targets: idx (tg_idx_read, plain and gzipped), csv (tg_csv_parse), gzip
# (tg_gzip_decode_max, tg_file_read), checkpoint (tg_checkpoint_load),
# safetensors (tg_safetensors_open, _read, _load, _save). Seeds
# are written by the library's own writers (tools/fuzz/make_seeds.c), plus
# Huffman-coded gzip copies when the gzip program is installed. The corpus
# grows in build-fuzz/corpus/<target> and is kept between runs; run for hours
# with e.g. `tools/fuzz/run.sh 14400`.
#
# A failing input lands in build-fuzz/artifacts/<target>/; copy it to
# tools/fuzz/regressions/<target>/ and fix the bug: the fuzz_regressions ctest
# then replays it in every build. Exits non-zero when a target fails.
set -eu
cd "$(dirname "$0")/../.."
seconds=${1:-60}
[ $# -gt 0 ] && shift
targets=${*:-idx csv gzip checkpoint safetensors}
if ! command -v clang > /dev/null; then
    echo "fuzz: skipped, clang is not installed (libFuzzer comes with it)"
    exit 0
fi
build=build-fuzz
log="$build/logs"
mkdir -p "$log"
CC=clang cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS=-O1 -DTAPEGRAD_FUZZ=ON \
    -DTAPEGRAD_TESTS=OFF -DTAPEGRAD_EXAMPLES=OFF > "$log/configure.log"
make_targets="make_seeds"
for t in $targets; do make_targets="$make_targets fuzz_$t"; done
# shellcheck disable=SC2086
cmake --build "$build" -j "$(nproc)" --target $make_targets > "$log/build.log" 2>&1 ||
    { tail -30 "$log/build.log"; exit 1; }

seeds="$build/seeds"
rm -rf "$seeds"
"$build/make_seeds" "$seeds"
if command -v gzip > /dev/null; then
    for f in "$seeds"/idx/*.idx "$seeds"/csv/*.csv; do
        for level in 1 9; do
            gzip -"$level" -c "$f" > "$seeds/gzip/$(basename "$f").$level.gz"
        done
        cp "$seeds/gzip/$(basename "$f").9.gz" "$seeds/idx/" 2> /dev/null || true
    done
fi

status=0
for t in $targets; do
    corpus="$build/corpus/$t" artifacts="$build/artifacts/$t"
    mkdir -p "$corpus" "$artifacts"
    # inputs that once failed, where there are any (git keeps no empty folder)
    regressions=""
    [ -d "tools/fuzz/regressions/$t" ] && regressions="tools/fuzz/regressions/$t"
    # Memory is bounded by design: 512 MB of RSS or one 256 MB allocation is a bug.
    if "$build/fuzz_$t" "$corpus" "$seeds/$t" $regressions -max_total_time="$seconds" \
        -rss_limit_mb=512 -malloc_limit_mb=256 -timeout=10 -max_len=65536 -print_final_stats=1 \
        -artifact_prefix="$artifacts/" > "$log/fuzz_$t.log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log/fuzz_$t.log")
        echo "fuzz $t: ${seconds}s, ${runs:-?} runs, no failure"
    else
        echo "fuzz $t: FAILED (log $log/fuzz_$t.log, inputs in $artifacts/)"
        grep -m 3 -E "ERROR|SUMMARY|deadly" "$log/fuzz_$t.log" | sed 's/^/    /'
        status=1
    fi
done
exit "$status"
