#!/bin/sh
# Data-parallel training over MPI: two ranks on half batches end with the
# parameters of one process on whole batches (1e-5 relative, float32), with
# plain SGD, with Adam, and with each rank splitting its share over two
# threads; ranks whose models differ stop with an error naming the sizes
# instead of summing buffers of different sizes.
#
#   tests/mpi_data_parallel.sh [path/to/mpi_data_parallel [mpirun]]
#
# Exits 77 (ctest: skipped) when the example was not built (CMake found no
# MPI) or mpirun is missing. Environment for a container: run as root allowed,
# shared memory between the ranks, and TCP (for the runtime's own messages)
# on the loopback interface only.
EXE=${1:-}
MPIRUN=${2:-mpirun}
if [ -z "$EXE" ] || [ ! -x "$EXE" ]; then
    echo "SKIPPED: mpi_data_parallel was not built: CMake found no MPI (Debian: apt-get install libopenmpi-dev openmpi-bin, then reconfigure)"
    exit 77
fi
if ! command -v "$MPIRUN" >/dev/null 2>&1; then
    echo "SKIPPED: $MPIRUN not found (Debian: apt-get install openmpi-bin)"
    exit 77
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMPI_MCA_oob_tcp_if_include=lo OMPI_MCA_btl_tcp_if_include=lo
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_hwloc_base_binding_policy=none
export OMPI_MCA_plm_rsh_agent=false
# In a sanitizer build, Open MPI's own allocations (its plugins, ops) show up
# as leaks at exit; the library's leaks are checked by the other suites.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"

OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT INT TERM
fail=0
run() { # expected-status description args...
    want=$1 what=$2
    shift 2
    timeout 100 "$MPIRUN" -np 2 "$EXE" "$@" >"$OUT" 2>&1
    got=$?
    if [ "$got" -ne "$want" ]; then
        echo "FAIL: $what: exit status $got, expected $want"
        cat "$OUT"
        fail=1
        return 1
    fi
    echo "ok: $what"
    sed 's/^/    /' "$OUT"
}
run 0 "2 ranks, SGD, 40 steps of 64" --steps 40 --batch 64
run 0 "2 ranks, Adam, 30 steps of 63 (shares of 32 and 31)" --steps 30 --batch 63 --optim adam
run 0 "2 ranks x 2 threads, SGD" --steps 20 --batch 64 --threads 2
if run 3 "ranks with models of different sizes stop" --steps 5 --mismatch; then
    if ! grep -q "ranks train different models" "$OUT"; then
        echo "FAIL: the size mismatch was not reported"
        fail=1
    fi
fi
exit $fail
