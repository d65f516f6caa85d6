#!/bin/sh
# bench_views before and after views, side by side: the library at REV (default:
# the merge base of HEAD and main, the code before this branch) built in
# /tmp/tapegrad_views_before, bench/bench_views.c built against it with
# -DTG_BENCH_BASELINE (the graphs that API can express), then both programs
# run alternately N times. Prints each line's median over the N runs of its
# per-run median (µs per forward + backward call).
#
#   bench/run_views.sh BUILD N [REV] [-- ARGS...]
#   e.g. bench/run_views.sh build 5 -- --threads 1 --reps 9
set -eu
if [ $# -lt 2 ]; then
    echo "usage: $0 BUILD N [REV] [-- ARGS...]" >&2
    exit 2
fi
BUILD=$1
N=$2
shift 2
REV=$(git merge-base HEAD main)
if [ $# -gt 0 ] && [ "$1" != "--" ]; then
    REV=$1
    shift
fi
[ $# -gt 0 ] && [ "$1" = "--" ] && shift
ROOT=$(git rev-parse --show-toplevel)
OLD=/tmp/tapegrad_views_before
if [ ! -f "$OLD/rev" ] || [ "$(cat "$OLD/rev")" != "$REV" ]; then
    rm -rf "$OLD"
    mkdir -p "$OLD/src"
    git -C "$ROOT" archive "$REV" | tar -x -C "$OLD/src"
    cmake -S "$OLD/src" -B "$OLD/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$OLD/build" -j2 --target tapegrad_static >/dev/null
    echo "$REV" >"$OLD/rev"
fi
cc -std=c11 -O2 -DTG_BENCH_BASELINE -I"$OLD/src/include" "$ROOT/bench/bench_views.c" "$OLD/build/libtapegrad.a" \
    -lm -lpthread -o "$OLD/bench_views"
if [ ! -x "$BUILD/bench_views" ]; then
    echo "run_views.sh: $BUILD/bench_views not found (build it first)" >&2
    exit 1
fi
echo "# before: $REV; after: $(git -C "$ROOT" rev-parse HEAD); $N alternating runs; args: $*"
out=$(mktemp)
i=0
while [ "$i" -lt "$N" ]; do
    "$OLD/bench_views" "$@" | sed -n 's/^\(small\|medium\) /before \1 /p' >>"$out"
    "$BUILD/bench_views" "$@" | sed -n 's/^\(small\|medium\) /after \1 /p' >>"$out"
    i=$((i + 1))
done
# the median of each (build, config, graph) line's per-run medians
sort -k1,1 -k2,2 -k3,3 -k4,4n "$out" | awk '
    { key = $1 " " $2 " " $3; v[key, ++n[key]] = $4; if (!(key in seen)) { seen[key] = 1; order[++k] = key } }
    END {
        printf "%-7s %-7s %-9s %10s %10s %10s\n", "build", "config", "graph", "median", "low", "high"
        for (i = 1; i <= k; i++) {
            key = order[i]; c = n[key]
            split(key, f, " ")
            printf "%-7s %-7s %-9s %10.1f %10.1f %10.1f\n", f[1], f[2], f[3], v[key, int((c + 1) / 2)], v[key, 1], v[key, c]
        }
    }'
rm -f "$out"
