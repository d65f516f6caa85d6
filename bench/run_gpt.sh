#!/bin/sh
# GPT training steps/s (issue 19), tapegrad beside PyTorch CPU at its best, in
# two configurations: small (T 32, d 64, 2 heads, 2 blocks, batch 16) and
# medium (T 128, d 256, 4 heads, 4 blocks, batch 8, 3.2M parameters).
#
#   bench/run_gpt.sh [build-dir]        (default: build; configured and built if needed)
#   REPEATS=5 bench/run_gpt.sh          (processes per configuration, default 3: the
#                                        table shows medians, runs alternate)
#   SMALL_STEPS=400 MEDIUM_STEPS=20     (timed steps per process)
#
# Same model on both sides (bench/bench_gpt.c, bench/pytorch_gpt.py): float32,
# pre-LN blocks with causal multi-head attention and an exact-GELU MLP, LM
# head tied to the token embedding, AdamW with a no-decay group, clipping at
# 1, random tokens. 1 and 2 threads, one process per run; tapegrad's 2
# threads are a context of 2 threads (GEMMs and row kernels split). Peak RSS
# of each whole process from /usr/bin/time -v. 1-thread runs are pinned to the
# last CPU. PyTorch's OpenBLAS core and 2-thread setting come from
# bench/peer_config.py (see bench/run_mlp.sh and bench/peer_config.sh) and are
# printed beside its numbers. The machine should be otherwise idle: the load
# average is printed before and after; per CPU-second rates are steadier on a
# shared machine.
set -eu
cd "$(dirname "$0")/.."
. bench/peer_config.sh
BUILD=${1:-build}
REPEATS=${REPEATS:-3}
SMALL_STEPS=${SMALL_STEPS:-400}
MEDIUM_STEPS=${MEDIUM_STEPS:-20}

if [ ! -x "$BUILD/bench_gpt" ]; then
    cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$BUILD" -j2 --target bench_gpt >/dev/null
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT INT TERM

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); CPU: $(cpu_line)"
PEER=
if peer_ready && peer_choose "$TMP/peer" --trial bench/pytorch_gpt.py --config small --samples 100 --warmup 10; then
    PEER=yes
fi
echo
for config in small medium; do
    if [ $config = small ]; then steps=$SMALL_STEPS; else steps=$MEDIUM_STEPS; fi
    for r in $(seq "$REPEATS"); do
        for t in 1 2; do
            run "$TMP/tg$config$t.$r" $(pin $t) "$BUILD/bench_gpt" --config $config --threads $t --steps "$steps"
            [ -z "$PEER" ] || run "$TMP/pt$config$t.$r" $(pin $t) $(peer_run "$TMP/peer" $t) bench/pytorch_gpt.py \
                --config $config --steps "$steps"
        done
    done
done

echo
echo "medians of $REPEATS runs each, on $(cpu_line):"
echo "| config | threads | tapegrad steps/s | PyTorch steps/s | tapegrad / PyTorch | per CPU-second: tapegrad | PyTorch | GEMM ceiling: steps/s | / PyTorch | peak RSS: tapegrad | PyTorch | PyTorch's configuration |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
for config in small medium; do
    for t in 1 2; do
        if [ -n "$PEER" ]; then
            awk -v c=$config -v t=$t -v a="$(median "$TMP/tg$config$t" 1)" -v b="$(median "$TMP/pt$config$t" 1)" \
                -v ac="$(median "$TMP/tg$config$t" 2)" -v bc="$(median "$TMP/pt$config$t" 2)" \
                -v am="$(median "$TMP/tg$config$t" 3)" -v bm="$(median "$TMP/pt$config$t" 3)" \
                -v cl="$(median "$TMP/tg$config$t" 5)" -v conf="$(cat "$TMP/pt$config$t.1.peer")" '
                BEGIN { printf "| %s | %d | %.2f | %.2f | %.2fx | %.2f | %.2f | %.1f | %.2fx | %.0f MB | %.0f MB | %s |\n",
                        c, t, a, b, a / b, ac, bc, cl, cl / b, am, bm, conf }'
        else
            awk -v c=$config -v t=$t -v a="$(median "$TMP/tg$config$t" 1)" -v ac="$(median "$TMP/tg$config$t" 2)" \
                -v am="$(median "$TMP/tg$config$t" 3)" -v cl="$(median "$TMP/tg$config$t" 5)" \
                'BEGIN { printf "| %s | %d | %.2f | skipped | | %.2f | | %.1f | | %.0f MB | | |\n", c, t, a, ac, cl, am }'
        fi
    done
    awk -v c=$config -v a1="$(median "$TMP/tg${config}1" 1)" -v a2="$(median "$TMP/tg${config}2" 1)" \
        'BEGIN { printf "%s, 2 threads / 1 thread: tapegrad %.2fx", c, a2 / a1 }'
    [ -z "$PEER" ] || awk -v b1="$(median "$TMP/pt${config}1" 1)" -v b2="$(median "$TMP/pt${config}2" 1)" \
        'BEGIN { printf ", PyTorch %.2fx", b2 / b1 }'
    echo
done
echo "(steps/s: wall clock; per CPU-second: process CPU time of all threads, steadier on a shared machine."
echo " GEMM ceiling: the steps/s at which the step's products alone, run at the best rate tapegrad's GEMM"
echo " reaches on this machine (bench_gpt's ceiling line), would take all the time: no step can be faster;"
echo " '/ PyTorch' is the most tapegrad / PyTorch could be here."
echo " Load average after the runs: $(cut -d' ' -f1-3 /proc/loadavg))"
