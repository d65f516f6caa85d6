#!/bin/sh
# Two builds of one benchmark, run alternately, medians side by side.
#
#   bench/run_ab.sh OLD_BUILD NEW_BUILD N BENCH [ARGS...]
#   e.g. bench/run_ab.sh /tmp/old/build build 7 bench_mlp --threads 2 --epochs 2
#
# This project's machines drift by 20-30% within an hour and, at times, run
# one vCPU slower than the other, so a number from one run says little and
# two numbers taken minutes apart say less. The two builds (made from two
# commits, e.g. with `git worktree add /tmp/old REV`) run one after the other,
# N times each; the script prints every run's samples/s (the RESULT line's
# samples_per_s) and the median and range of each. Quote the medians of one
# such run, never a best case.
set -eu
if [ $# -lt 4 ]; then
    echo "usage: $0 OLD_BUILD NEW_BUILD N BENCH [ARGS...]" >&2
    exit 2
fi
OLD=$1
NEW=$2
N=$3
BENCH=$4
shift 4
for b in "$OLD" "$NEW"; do
    if [ ! -x "$b/$BENCH" ]; then
        echo "run_ab.sh: $b/$BENCH not found (build it first)" >&2
        exit 1
    fi
done

rate() { # samples/s of one run of build $1, from its RESULT line
    build=$1
    shift
    "$build/$BENCH" "$@" 2>&1 | sed -n 's/^RESULT .*samples_per_s=\([0-9.]*\).*/\1/p' | tail -n 1
}

old_runs=""
new_runs=""
i=0
while [ "$i" -lt "$N" ]; do
    o=$(rate "$OLD" "$@")
    n=$(rate "$NEW" "$@")
    echo "run $((i + 1)): old ${o:-?}  new ${n:-?}"
    old_runs="$old_runs ${o:-}"
    new_runs="$new_runs ${n:-}"
    i=$((i + 1))
done

summary() { # median and range of a list of numbers
    echo "$1" | tr ' ' '\n' | grep -v '^$' | sort -n |
        awk '{v[NR] = $1} END {if (NR) printf "median %s (%s - %s, %d runs)", v[int((NR + 1) / 2)], v[1], v[NR], NR}'
}
echo "old ($OLD): $(summary "$old_runs")"
echo "new ($NEW): $(summary "$new_runs")"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)"
