#!/bin/sh
# bench_views before and after views, side by side: the library at REV (default:
# the merge base of HEAD and main, the code before this branch) built in
# /tmp/tapegrad_views_before, bench/bench_views.c built against it with
# -DTG_BENCH_BASELINE (the graphs that API can express), then both programs
# run alternately N times. Prints per line the median over the N runs of the
# run's median, and the least minimum (µs per forward + backward call).
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
# per (build, config, graph): the median of the runs' medians, and the least of their minima
awk '
    { key = $1 " " $2 " " $3; med[key, ++n[key]] = $4; if (!(key in low) || $5 < low[key]) low[key] = $5
      if (!(key in seen)) { seen[key] = 1; order[++k] = key } }
    END {
        printf "%-7s %-7s %-9s %10s %10s   %s\n", "build", "config", "graph", "median", "min", "(run medians)"
        for (i = 1; i <= k; i++) {
            key = order[i]; c = n[key]
            for (a = 1; a <= c; a++) { s[a] = med[key, a] }
            for (a = 1; a <= c; a++) for (b = a + 1; b <= c; b++) if (s[b] < s[a]) { t = s[a]; s[a] = s[b]; s[b] = t }
            runs = ""
            for (a = 1; a <= c; a++) runs = runs sprintf(" %.0f", s[a])
            split(key, f, " ")
            printf "%-7s %-7s %-9s %10.1f %10.1f  %s\n", f[1], f[2], f[3], s[int((c + 1) / 2)], low[key], runs
        }
    }' "$out" | sort -k2,2r -k3,3 -k1,1r
rm -f "$out"
