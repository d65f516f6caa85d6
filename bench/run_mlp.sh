#!/bin/sh
# Fashion-MNIST MLP training throughput, tapegrad beside PyTorch CPU at its best.
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
# is missing). Both libraries' 1-thread runs are pinned to the last CPU.
#
# PyTorch is Debian's python3-torch, run with /usr/bin/python3 (the script
# installs it with apt when it is missing; where torch still cannot be
# imported, PyTorch is skipped and tapegrad's figures alone are printed). Its
# configuration comes from bench/peer_config.py, which checks the OpenBLAS
# core torch runs against the cores this CPU should run (sgemm 512^3 with
# each, keeping the fastest: Debian's OpenBLAS 0.3.21 runs an Intel Xeon with
# AVX-512 on a generic SSE kernel) and tries the 2-thread settings
# (torch.set_num_threads, OPENBLAS_NUM_THREADS, OMP_NUM_THREADS) in short
# trials, keeping the best. Every PyTorch figure is printed with the
# configuration it ran with; the last lines are the README's speed-table row,
# to paste as it is.
#
# Needs Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist).
# The machine should be otherwise idle: the load average is printed before
# and after, and in the README row.
set -eu
cd "$(dirname "$0")/.."
. bench/peer_config.sh
BUILD=${1:-build}
EPOCHS=${EPOCHS:-1}
REPEATS=${REPEATS:-3}
DATA=${DATA:-/usr/share/datasets/fashion-mnist}

if [ ! -d "$DATA" ]; then
    echo "run_mlp.sh: $DATA not found: apt install dataset-fashion-mnist" >&2
    exit 1
fi
if [ ! -x "$BUILD/bench_mlp" ]; then
    cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$BUILD" -j2 --target bench_mlp >/dev/null
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT INT TERM

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); CPU: $(cpu_line)"
PEER=
if peer_ready && peer_choose "$TMP/peer" --trial bench/pytorch_mlp.py --samples 12800 --warmup 20 --data "$DATA"; then
    PEER=yes
fi
echo
for r in $(seq "$REPEATS"); do
    for t in 1 2; do
        run "$TMP/tg$t.$r" $(pin $t) "$BUILD/bench_mlp" --threads $t --epochs "$EPOCHS" --data "$DATA"
        [ -z "$PEER" ] || run "$TMP/pt$t.$r" $(pin $t) $(peer_run "$TMP/peer" $t) bench/pytorch_mlp.py \
            --epochs "$EPOCHS" --data "$DATA"
    done
done

echo
echo "medians of $REPEATS runs each, on $(cpu_line):"
echo "| threads | tapegrad samples/s | PyTorch samples/s | tapegrad / PyTorch | per CPU-second: tapegrad | PyTorch | peak RSS: tapegrad | PyTorch | PyTorch's configuration |"
echo "|---|---|---|---|---|---|---|---|---|"
for t in 1 2; do
    if [ -n "$PEER" ]; then
        awk -v t=$t -v a="$(median "$TMP/tg$t" 1)" -v b="$(median "$TMP/pt$t" 1)" -v ac="$(median "$TMP/tg$t" 2)" \
            -v bc="$(median "$TMP/pt$t" 2)" -v am="$(median "$TMP/tg$t" 3)" -v bm="$(median "$TMP/pt$t" 3)" \
            -v conf="$(cat "$TMP/pt$t.1.peer")" "$AWK_COMMAS"'
            BEGIN { printf "| %d | %s | %s | %.2fx | %s | %s | %.0f MB | %.0f MB | %s |\n", t, commas(a), commas(b),
                    a / b, commas(ac), commas(bc), am, bm, conf }'
    else
        awk -v t=$t -v a="$(median "$TMP/tg$t" 1)" -v ac="$(median "$TMP/tg$t" 2)" -v am="$(median "$TMP/tg$t" 3)" \
            "$AWK_COMMAS"'BEGIN { printf "| %d | %s | skipped | | %s | | %.0f MB | | |\n", t, commas(a), commas(ac), am }'
    fi
done
awk -v a1="$(median "$TMP/tg1" 1)" -v a2="$(median "$TMP/tg2" 1)" \
    'BEGIN { printf "2 threads / 1 thread: tapegrad %.2fx", a2 / a1 }'
[ -z "$PEER" ] || awk -v b1="$(median "$TMP/pt1" 1)" -v b2="$(median "$TMP/pt2" 1)" \
    'BEGIN { printf ", PyTorch %.2fx", b2 / b1 }'
echo
grep -h 'step alone' "$TMP"/tg1.*[0-9] | sed 's/^ */tapegrad 1 thread: /'
echo "(samples/s: wall clock, the figure to compare on an idle machine; per CPU-second: process CPU time of"
echo " all threads, steadier on a shared machine. Load average after the runs: $(cut -d' ' -f1-3 /proc/loadavg))"

echo
echo "README speed-table row (medians of $REPEATS runs; paste as it is):"
tg=$(awk -v a1="$(median "$TMP/tg1" 1)" -v a2="$(median "$TMP/tg2" 1)" -v m="$(median "$TMP/tg1" 3)" "$AWK_COMMAS"'
    BEGIN { printf "%s samples/s; %s on 2 threads (%.2fx); %.0f MB", commas(a1), commas(a2), a2 / a1, m }')
if [ -n "$PEER" ]; then
    pt=$(awk -v a1="$(median "$TMP/tg1" 1)" -v a2="$(median "$TMP/tg2" 1)" -v b1="$(median "$TMP/pt1" 1)" \
        -v b2="$(median "$TMP/pt2" 1)" -v m="$(median "$TMP/pt1" 3)" "$AWK_COMMAS"'
        BEGIN { printf "%s; %s on 2 threads; %.0f MB (tapegrad %.2fx, %.2fx)", commas(b1), commas(b2), m, a1 / b1, a2 / b2 }')
    conf=$("$PY" bench/peer_config.py describe "$TMP/peer")
else
    pt="skipped (no torch)" conf=
fi
readme_row "MLP 784-256-128-10, batch 64, SGD (\`bench/run_mlp.sh\`)" "$tg" "$pt" "$conf"
