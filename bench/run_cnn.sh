#!/bin/sh
# CNN training throughput, tapegrad beside PyTorch CPU at its best (oneDNN convolutions).
#
#   bench/run_cnn.sh [build-dir]          (default: build; configured and built if needed)
#   STEPS=400 ROUNDS=7 bench/run_cnn.sh   (longer rounds: steadier numbers)
#   REPEATS=3 bench/run_cnn.sh            (processes per configuration, default 1: the
#                                          table shows the median process, runs alternate)
#
# Same models on both sides (bench/bench_cnn.c, bench/pytorch_cnn.py): LeNet-5
# and the wider CNN, random 28x28 images, batch 64, plain SGD lr 0.01, float32,
# softmax cross-entropy; after untimed warm-up steps, ROUNDS rounds of STEPS
# steps each, the median round's samples/s reported with the rounds' spread;
# 1 and 2 threads, one process per run; peak RSS of each whole process from
# /usr/bin/time -v (getrusage when it is missing). Both libraries' 1-thread
# runs are pinned to the last CPU.
#
# PyTorch is Debian's python3-torch run with /usr/bin/python3 (installed with
# apt when missing; where torch still cannot be imported, PyTorch is skipped),
# configured by bench/peer_config.py as in run_mlp.sh: the OpenBLAS core that
# runs sgemm fastest on this CPU (the detected one unless a forced one is 5%
# faster) and, for each model, the 2-thread setting that won a short trial.
# Every PyTorch figure is printed with that configuration and whether its
# convolutions ran through oneDNN; the last lines are the README's
# speed-table rows, to paste as they are. The machine should be otherwise
# idle: the load average is printed before and after, and in the README rows.
set -eu
cd "$(dirname "$0")/.."
. bench/peer_config.sh
BUILD=${1:-build}
STEPS=${STEPS:-200}
ROUNDS=${ROUNDS:-5}
REPEATS=${REPEATS:-1}

if [ ! -x "$BUILD/bench_cnn" ]; then
    cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$BUILD" -j2 --target bench_cnn >/dev/null
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT INT TERM

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); CPU: $(cpu_line)"
PEER=
if peer_ready && peer_choose "$TMP/peer-lenet" --trial bench/pytorch_cnn.py --model lenet --steps 32 --rounds 1 --warmup 8 &&
    peer_choose "$TMP/peer-wide" --core-from "$TMP/peer-lenet" --trial bench/pytorch_cnn.py --model wide --steps 16 \
        --rounds 1 --warmup 4; then
    PEER=yes
fi
echo
for r in $(seq "$REPEATS"); do
    for model in lenet wide; do
        for t in 1 2; do
            run "$TMP/tg-$model-$t.$r" $(pin $t) "$BUILD/bench_cnn" --model $model --threads $t --steps "$STEPS" \
                --rounds "$ROUNDS"
            [ -z "$PEER" ] || run "$TMP/pt-$model-$t.$r" $(pin $t) $(peer_run "$TMP/peer-$model" $t) \
                bench/pytorch_cnn.py --model $model --steps "$STEPS" --rounds "$ROUNDS"
        done
    done
done

echo
echo "on $(cpu_line); samples/s: median of $ROUNDS rounds of $STEPS steps$([ "$REPEATS" = 1 ] || echo ", median of $REPEATS processes"):"
echo "| model | threads | tapegrad samples/s | PyTorch samples/s | tapegrad / PyTorch | per CPU-second: tapegrad | PyTorch | spread of rounds: tapegrad | PyTorch | peak RSS: tapegrad | PyTorch | PyTorch's configuration |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
for model in lenet wide; do
    for t in 1 2; do
        tg="$TMP/tg-$model-$t" pt="$TMP/pt-$model-$t"
        if [ -n "$PEER" ]; then
            awk -v m=$model -v t=$t -v a="$(median "$tg" 1)" -v b="$(median "$pt" 1)" -v ac="$(median "$tg" 2)" \
                -v bc="$(median "$pt" 2)" -v as="$(median "$tg" 4)" -v bs="$(median "$pt" 4)" -v am="$(median "$tg" 3)" \
                -v bm="$(median "$pt" 3)" -v conf="$(cat "$pt.1.peer")" "$AWK_COMMAS"'
                BEGIN { printf "| %s | %d | %s | %s | %.2fx | %s | %s | %.0f%% | %.0f%% | %.0f MB | %.0f MB | %s |\n",
                        m, t, commas(a), commas(b), a / b, commas(ac), commas(bc), 100 * as, 100 * bs, am, bm, conf }'
        else
            awk -v m=$model -v t=$t -v a="$(median "$tg" 1)" -v ac="$(median "$tg" 2)" -v as="$(median "$tg" 4)" \
                -v am="$(median "$tg" 3)" "$AWK_COMMAS"'
                BEGIN { printf "| %s | %d | %s | skipped | | %s | | %.0f%% | | %.0f MB | | |\n",
                        m, t, commas(a), commas(ac), 100 * as, am }'
        fi
    done
done
echo "(samples/s: wall clock; per CPU-second: process CPU time of all threads, steadier on a shared machine;"
echo " spread: (max - min)/median of the rounds. Load average after the runs: $(cut -d' ' -f1-3 /proc/loadavg))"

echo
echo "README speed-table rows (paste as they are):"
for model in lenet wide; do
    tg="$TMP/tg-$model" pt="$TMP/pt-$model"
    what="LeNet-5, batch 64, SGD (\`bench/run_cnn.sh\`)"
    [ $model = lenet ] || what="CNN conv 1→32, 32→64, dense 1600-128-10 (\`bench/run_cnn.sh\`)"
    tgc=$(awk -v a1="$(median "$tg-1" 1)" -v a2="$(median "$tg-2" 1)" -v m="$(median "$tg-1" 3)" "$AWK_COMMAS"'
        BEGIN { printf "%s samples/s; %s on 2 threads (%.2fx); %.0f MB", commas(a1), commas(a2), a2 / a1, m }')
    if [ -n "$PEER" ]; then
        ptc=$(awk -v a1="$(median "$tg-1" 1)" -v a2="$(median "$tg-2" 1)" -v b1="$(median "$pt-1" 1)" \
            -v b2="$(median "$pt-2" 1)" -v m="$(median "$pt-1" 3)" "$AWK_COMMAS"'
            BEGIN { printf "%s; %s on 2 threads; %.0f MB (tapegrad %.2fx, %.2fx)", commas(b1), commas(b2), m, a1 / b1, a2 / b2 }')
        conf="$("$PY" bench/peer_config.py describe "$TMP/peer-$model"); oneDNN convolutions"
        grep -q 'oneDNN convolutions on' "$pt-1.1.peer" && conf="$conf on" || conf="$conf off"
    else
        ptc="skipped (no torch)" conf=
    fi
    readme_row "$what" "$tgc" "$ptc" "$conf"
done
