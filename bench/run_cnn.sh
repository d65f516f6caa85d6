#!/bin/sh
# CNN training throughput, tapegrad beside PyTorch CPU (oneDNN convolutions).
#
#   bench/run_cnn.sh [build-dir]          (default: build; configured and built if needed)
#   STEPS=400 ROUNDS=7 bench/run_cnn.sh   (longer rounds: steadier numbers)
#
# Same models on both sides (bench/bench_cnn.c, bench/pytorch_cnn.py): LeNet-5
# and the wider CNN, random 28x28 images, batch 64, plain SGD lr 0.01, float32,
# softmax cross-entropy; after untimed warm-up steps, ROUNDS rounds of STEPS
# steps each, the median round's samples/s reported with the rounds' spread;
# 1 and 2 threads, one process per run; peak RSS of each whole process from
# /usr/bin/time -v (getrusage when it is missing). PyTorch is Debian's
# python3-torch run with /usr/bin/python3 at its best, as in run_mlp.sh:
# OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset, OPENBLAS_NUM_THREADS=1 and
# OMP_NUM_THREADS=1, its threads from torch.set_num_threads alone. The script
# installs python3-torch with apt when it is missing (the library never
# depends on it). The machine should be otherwise idle: the load average is
# printed before and after.
set -eu
cd "$(dirname "$0")/.."
BUILD=${1:-build}
STEPS=${STEPS:-200}
ROUNDS=${ROUNDS:-5}
PY=/usr/bin/python3

if [ ! -x "$BUILD/bench_cnn" ]; then
    cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$BUILD" -j2 --target bench_cnn >/dev/null
fi
if ! $PY -c 'import torch' 2>/dev/null; then
    echo "run_cnn.sh: installing python3-torch with apt" >&2
    if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
    $SUDO apt-get install -y python3-torch >&2
fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT INT TERM

# run OUTFILE COMMAND...: prints the human line, keeps "rate cpu_rate spread MB"
run() {
    out=$1
    shift
    if [ -x /usr/bin/time ]; then
        /usr/bin/time -v -o "$out.time" "$@" >"$out" 2>"$out.err" || { cat "$out.err" >&2; exit 1; }
        rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$out.time")
    else
        "$@" >"$out" 2>"$out.err" || { cat "$out.err" >&2; exit 1; }
        rss=
    fi
    grep -v '^RESULT' "$out" | head -1
    result=$(grep '^RESULT' "$out")
    field() { echo "$result" | sed "s/.*$1=\([0-9.]*\).*/\1/"; }
    mb=$(field peak_rss_mb)
    [ -n "$rss" ] && mb=$(awk "BEGIN { printf \"%.1f\", $rss / 1024 }")
    echo "$(field samples_per_s) $(field samples_per_cpu_s) $(field spread) $mb" >"$out.sum"
}

# One-thread runs of both libraries share one CPU, the last: the CPUs of a VM
# need not be equal (on this project's 2-vCPU machine vCPU 0 runs LeNet-5 and
# the MLP 25-30% slower than vCPU 1), and a process lands on either.
pin() {
    if [ "$1" = 1 ] && command -v taskset >/dev/null; then echo "taskset -c $(($(nproc) - 1))"; fi
}
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)  ($(nproc) CPUs; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))"
for model in lenet wide; do
    for t in 1 2; do
        run "$TMP/tg-$model-$t" $(pin $t) "$BUILD/bench_cnn" --model $model --threads $t --steps "$STEPS" --rounds "$ROUNDS"
        run "$TMP/pt-$model-$t" $(pin $t) env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 \
            $PY bench/pytorch_cnn.py --model $model --threads $t --steps "$STEPS" --rounds "$ROUNDS"
    done
done

echo
echo "| model | threads | tapegrad samples/s | PyTorch samples/s | tapegrad / PyTorch | per CPU-second: tapegrad | PyTorch | spread of rounds: tapegrad | PyTorch | peak RSS: tapegrad | PyTorch |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for model in lenet wide; do
    for t in 1 2; do
        read -r a ac as am <"$TMP/tg-$model-$t.sum"
        read -r b bc bs bm <"$TMP/pt-$model-$t.sum"
        awk -v m=$model -v t=$t -v a="$a" -v b="$b" -v ac="$ac" -v bc="$bc" -v as="$as" -v bs="$bs" -v am="$am" -v bm="$bm" \
            'BEGIN { printf "| %s | %d | %.0f | %.0f | %.2fx | %.0f | %.0f | %.0f%% | %.0f%% | %.1f MB | %.1f MB |\n", m, t, a, b, a / b, ac, bc, 100 * as, 100 * bs, am, bm }'
    done
done
echo "(samples/s: wall clock, median of $ROUNDS rounds of $STEPS steps; per CPU-second: process CPU time of all threads,"
echo " steadier on a shared machine; spread: (max - min)/median of the rounds. Load average after the runs:"
echo " $(cut -d' ' -f1-3 /proc/loadavg))"
