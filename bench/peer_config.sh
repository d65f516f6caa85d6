# Shared by bench/run_mlp.sh and bench/run_cnn.sh, which source it (POSIX sh)
# from the repository's root: the CPU, the pinning of 1-thread runs, PyTorch's
# presence and its best configuration (bench/peer_config.py), one run, medians
# and the rows to paste into the README's speed table.
#
#   . bench/peer_config.sh
#   cpu_line                          the CPU in one line (model, core, ISA, CPUs)
#   pin T                             "taskset -c LAST" when T is 1: both libraries' 1-thread
#                                     runs share one CPU, the last
#   peer_ready                        true when $PY imports torch; installs Debian's python3-torch
#                                     and libopenblas0-pthread with apt when they are missing,
#                                     and says "PyTorch is skipped" when torch still won't import
#   peer_choose FILE [ARGS...]        bench/peer_config.py choose FILE --pin LAST ARGS...:
#                                     PyTorch's OpenBLAS core and 2-thread setting, printed
#   peer_run FILE T SCRIPT ARGS...    the command of one PyTorch run in FILE's configuration
#   run OUT COMMAND...                one process: prints its lines but RESULT and PEER; keeps
#                                     "samples/s per-CPU-second MB spread" in OUT.sum and the
#                                     PEER configuration in OUT.peer
#   median FILES COLUMN               median of a column of the files FILES.*.sum
#   readme_row WHAT TAPEGRAD PYTORCH CONFIG
#                                     one row of the README's speed table: the CPU and today's
#                                     date, with the load average, beside the figures
#
# PY is the python that runs PyTorch: /usr/bin/python3 (Debian's python3-torch),
# or $PYTHON when set.
PY=${PYTHON:-/usr/bin/python3}

cpu_line() {
    if command -v python3 >/dev/null 2>&1; then
        python3 bench/peer_config.py cpu
    else
        echo "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs"
    fi
}

last_cpu() { echo $(($(nproc) - 1)); }

# The CPUs of a VM need not be equal (on this project's 2-vCPU machine vCPU 0
# ran LeNet-5 and the MLP 25-30% slower than vCPU 1 on some days), and a
# process lands on either.
pin() {
    if [ "$1" = 1 ] && command -v taskset >/dev/null; then echo "taskset -c $(last_cpu)"; fi
}

peer_ready() {
    [ -x "$PY" ] || { echo "PyTorch is skipped: $PY not found"; return 1; }
    if [ "$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi
    # Without OpenBLAS, Debian's torch gets the reference BLAS (libblas3), ~20x
    # slower here (measured: 3,000 against 58,000 samples per CPU-second).
    for pkg in python3-torch libopenblas0-pthread; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
            echo "installing $pkg with apt (PyTorch's side only; tapegrad never depends on it)"
            $sudo apt-get install -y "$pkg" >&2 || true
        fi
    done
    if ! "$PY" -c 'import torch' 2>/dev/null; then
        echo "PyTorch is skipped: $PY cannot import torch (apt-get install python3-torch)"
        return 1
    fi
}

peer_choose() {
    file=$1
    shift
    if command -v taskset >/dev/null; then
        "$PY" bench/peer_config.py choose "$file" --pin "$(last_cpu)" "$@"
    else
        "$PY" bench/peer_config.py choose "$file" "$@"
    fi
}

peer_run() { echo "$PY bench/peer_config.py run $*"; }

# run OUT COMMAND...: peak RSS of the whole process from /usr/bin/time -v,
# else the figure the benchmark reports itself (getrusage)
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
    grep -v '^RESULT\|^PEER' "$out"
    sed -n 's/^PEER //p' "$out" >"$out.peer"
    result=$(grep '^RESULT' "$out")
    field() { echo "$result" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
    mb=$(field peak_rss_mb)
    [ -n "$rss" ] && mb=$(awk "BEGIN { printf \"%.1f\", $rss / 1024 }")
    spread=$(field spread)
    ceiling=$(field ceiling_steps_per_s)
    echo "$(field samples_per_s) $(field samples_per_cpu_s) $mb ${spread:-0} ${ceiling:-0}" >"$out.sum"
}

median() {
    cat "$1".*.sum | awk -v c="$2" '{ print $c }' | sort -n |
        awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# awk functions for the tables: commas(12345.6) = "12,346"
AWK_COMMAS='function commas(x,   s, out) {
    s = sprintf("%.0f", x); out = ""
    while (length(s) > 3) { out = "," substr(s, length(s) - 2) out; s = substr(s, 1, length(s) - 3) }
    return s out
}'

readme_row() {
    echo "| $1 | $(cpu_line); $(date -u +%Y-%m-%d), load average $(cut -d' ' -f1 /proc/loadavg) | $2 | $3 | $4 |"
}
