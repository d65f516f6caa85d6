#!/bin/sh
# Fashion-MNIST MLP training throughput, tapegrad beside PyTorch CPU.
#
#   bench/run_mlp.sh [build-dir]        (default: build; configured and built if needed)
#   EPOCHS=3 bench/run_mlp.sh           (more epochs per run: steadier numbers)
#   REPEATS=5 bench/run_mlp.sh          (processes per configuration, default 3: the
#                                        table shows medians, runs alternate)
#
# tapegrad on 2 threads is data-parallel (tg_train's threads: each minibatch
# split across two workers, gradients summed, one step); the ratio of each
# library's 2-thread rate to its own 1-thread rate is printed too, and the
# optimizer step alone as a share of a training step (from bench_mlp).
#
# Same model on both sides: 784-256-128-10, ReLU, softmax cross-entropy, plain
# SGD lr 0.1, batch 64, float32; samples/s over one epoch after 50 untimed
# warm-up steps, dataset loading excluded; 1 and 2 threads, one process per
# run; peak RSS of each whole process from /usr/bin/time -v (getrusage when it
# is missing). PyTorch is Debian's python3-torch, run with /usr/bin/python3;
# the script installs it with apt when it is missing (the library never
# depends on it). OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are unset for the
# PyTorch runs only: they slow its BLAS down here. OPENBLAS_NUM_THREADS=1 and
# OMP_NUM_THREADS=1 for PyTorch, whose threads then come from
# torch.set_num_threads alone: Debian's torch calls the pthreads OpenBLAS,
# whose own pool otherwise starts a thread per CPU, and two pools on two CPUs
# make PyTorch several times slower (measured: 2 threads 25k samples/s with
# OPENBLAS_NUM_THREADS=2, 76k with 1).
#
# Needs Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist).
# The machine should be otherwise idle: the load average is printed first.
set -eu
cd "$(dirname "$0")/.."
BUILD=${1:-build}
EPOCHS=${EPOCHS:-1}
DATA=${DATA:-/usr/share/datasets/fashion-mnist}
PY=/usr/bin/python3

if [ ! -d "$DATA" ]; then
    echo "run_mlp.sh: $DATA not found: apt install dataset-fashion-mnist" >&2
    exit 1
fi
if [ ! -x "$BUILD/bench_mlp" ]; then
    cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$BUILD" -j2 --target bench_mlp >/dev/null
fi
if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
if ! $PY -c 'import torch' 2>/dev/null; then
    echo "run_mlp.sh: installing python3-torch with apt" >&2
    $SUDO apt-get install -y python3-torch >&2
fi
# Without OpenBLAS, Debian's torch gets the reference BLAS (libblas3), ~20x
# slower here (measured: 3,000 against 58,000 samples per CPU-second).
if ! dpkg-query -W -f='${Status}' libopenblas0-pthread 2>/dev/null | grep -q "install ok installed"; then
    echo "run_mlp.sh: installing libopenblas0-pthread with apt (PyTorch's BLAS)" >&2
    $SUDO apt-get install -y libopenblas0-pthread >&2
fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT INT TERM

# run NAME OUTFILE COMMAND...: the RESULT line plus "rss_kb" from time -v
run() {
    name=$1 out=$2
    shift 2
    if [ -x /usr/bin/time ]; then
        /usr/bin/time -v -o "$out.time" "$@" >"$out" 2>"$out.err" || { cat "$out.err" >&2; exit 1; }
        rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$out.time")
    else
        "$@" >"$out" 2>"$out.err" || { cat "$out.err" >&2; exit 1; }
        rss=
    fi
    grep -v '^RESULT' "$out"
    result=$(grep '^RESULT' "$out")
    rate=$(echo "$result" | sed 's/.*samples_per_s=\([0-9.]*\).*/\1/')
    cpu_rate=$(echo "$result" | sed 's/.*samples_per_cpu_s=\([0-9.]*\).*/\1/')
    mb=$(echo "$result" | sed 's/.*peak_rss_mb=\([0-9.]*\).*/\1/')
    [ -n "$rss" ] && mb=$(awk "BEGIN { printf \"%.1f\", $rss / 1024 }")
    echo "$rate $cpu_rate $mb" >"$out.sum"
}

# One-thread runs of both libraries share one CPU, the last: the CPUs of a VM
# need not be equal (on this project's 2-vCPU machine vCPU 0 runs LeNet-5 and
# the MLP 25-30% slower than vCPU 1), and a process lands on either.
pin() {
    if [ "$1" = 1 ] && command -v taskset >/dev/null; then echo "taskset -c $(($(nproc) - 1))"; fi
}
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)  ($(nproc) CPUs; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))"
REPEATS=${REPEATS:-3}
for r in $(seq "$REPEATS"); do
    for t in 1 2; do
        run tapegrad "$TMP/tg$t.$r" $(pin $t) "$BUILD/bench_mlp" --threads $t --epochs "$EPOCHS" --data "$DATA"
        run pytorch "$TMP/pt$t.$r" $(pin $t) env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 \
            $PY bench/pytorch_mlp.py --threads $t --epochs "$EPOCHS" --data "$DATA"
    done
done

# median of column $2 over the files $1.*.sum
median() {
    cat "$1".*.sum | awk -v c="$2" '{ print $c }' | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

echo
echo "medians of $REPEATS runs each:"
echo "| threads | tapegrad samples/s | PyTorch samples/s | tapegrad / PyTorch | per CPU-second: tapegrad | PyTorch | tapegrad peak RSS | PyTorch peak RSS |"
echo "|---|---|---|---|---|---|---|---|"
for t in 1 2; do
    awk -v t=$t -v a="$(median "$TMP/tg$t" 1)" -v b="$(median "$TMP/pt$t" 1)" -v ac="$(median "$TMP/tg$t" 2)" \
        -v bc="$(median "$TMP/pt$t" 2)" -v am="$(median "$TMP/tg$t" 3)" -v bm="$(median "$TMP/pt$t" 3)" \
        'BEGIN { printf "| %d | %.0f | %.0f | %.2fx | %.0f | %.0f | %.1f MB | %.1f MB |\n", t, a, b, a / b, ac, bc, am, bm }'
done
awk -v a1="$(median "$TMP/tg1" 1)" -v a2="$(median "$TMP/tg2" 1)" -v b1="$(median "$TMP/pt1" 1)" -v b2="$(median "$TMP/pt2" 1)" \
    'BEGIN { printf "2 threads / 1 thread: tapegrad %.2fx, PyTorch %.2fx\n", a2 / a1, b2 / b1 }'
grep -h 'step alone' "$TMP"/tg1.*[0-9] | sed 's/^ */tapegrad 1 thread: /'
echo "(samples/s: wall clock, the figure to compare on an idle machine; per CPU-second: process CPU time of"
echo " all threads, steadier on a shared machine. Load average after the runs: $(cut -d' ' -f1-3 /proc/loadavg))"
