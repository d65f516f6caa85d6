#!/bin/sh
# bench_tape of two builds side by side: forward + backward ns/op of a
# 10,000-op scalar graph, processes alternating (old, new, old, new, ...), the
# minimum of each side and their ratio. A process lands faster or slower by
# memory placement alone, so only the minimum over several processes compares.
#
#   bench/run_tape.sh OLD_BUILD_DIR NEW_BUILD_DIR [processes per side (default 8)]
#
# Build the old tree apart, e.g.
#   git worktree add /tmp/old <commit> && cmake -S /tmp/old -B /tmp/old/build -DCMAKE_BUILD_TYPE=Release \
#     && cmake --build /tmp/old/build --target bench_tape
set -eu
OLD=$1 NEW=$2 N=${3:-8}
best() { sort -n | head -1; }
: >/tmp/run_tape.$$.old
: >/tmp/run_tape.$$.new
trap 'rm -f /tmp/run_tape.$$.old /tmp/run_tape.$$.new' EXIT INT TERM
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq "$N"); do
    "$OLD/bench_tape" | sed -n 's/.*forward + backward *\([0-9.]*\).*/\1/p' >>/tmp/run_tape.$$.old
    "$NEW/bench_tape" | sed -n 's/.*forward + backward *\([0-9.]*\).*/\1/p' >>/tmp/run_tape.$$.new
done
old=$(best </tmp/run_tape.$$.old)
new=$(best </tmp/run_tape.$$.new)
echo "old: $(tr '\n' ' ' </tmp/run_tape.$$.old)"
echo "new: $(tr '\n' ' ' </tmp/run_tape.$$.new)"
awk -v o="$old" -v n="$new" 'BEGIN { printf "forward + backward, minimum of each side: old %.1f ns/op, new %.1f ns/op: %.2fx faster\n", o, n, o / n }'
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
