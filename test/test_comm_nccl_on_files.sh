#!/usr/bin/env bash
# comm/comm_nccl.c (the GPU trainer's NCCL back end) without a GPU: built
# on stand-ins for the CUDA runtime and NCCL (test/host/nccl_on_files/: the
# ranks are processes, each collective completes through files once every
# rank's part is there, in its stream's order, and init checks that every
# rank holds rank 0's unique id). 2, 3 and 4 processes started with Slurm's
# or Open MPI's variables meet through comm.init fs and tcp and run every
# collective of comm.h (equal chunks: NCCL's reduce-scatter and all-gather;
# unequal: the rooted groups); then the failure paths: a rank that fails
# (the others stop with its message, no hang), NCCL's asynchronous error,
# ranks that disagree, too many ranks for the GPUs, comm.init auto in a
# build without MPI. What the real NCCL does on a GPU is not checked here.
. "$(dirname "$0")/lib.sh"
TOOL=build/tests/comm_nccl_on_files
if ! make -s "$TOOL" >"$SCRATCH/build.log" 2>&1; then
    not_ok "comm_nccl.c builds on the stand-ins" "$(grep -m3 -E 'error|warning' "$SCRATCH/build.log")"
    finish
fi
check "comm_nccl.c builds on the stand-ins without warnings" "$(grep -m2 warning "$SCRATCH/build.log")" \
    bash -c '! grep -q warning "$1"' _ "$SCRATCH/build.log"
PORT=$((20000 + RANDOM % 30000))
# job NAME N ENV... -- ARGS: N ranks in the background, output in $SCRATCH/NAME.R
job() {
    local name=$1 n=$2; shift 2
    local env=()
    while [ "$1" != -- ]; do env+=("$1"); shift; done
    shift
    mkdir -p "$SCRATCH/$name.nccl"
    for ((r = 0; r < n; r++)); do
        env "${env[@]}" FAKE_NCCL_DIR="$SCRATCH/$name.nccl" SLURM_PROCID=$r SLURM_NTASKS=$n SLURM_LOCALID=0 \
            timeout 60 "$TOOL" "$@" >"$SCRATCH/$name.$r" 2>&1 &
    done
    wait
}
for n in 2 3 4; do
    for how in fs tcp; do
        if [ $how = fs ]; then args=(--set comm.init=fs --set comm.dir="$SCRATCH/rdv_$n"); else
            args=(--set comm.init=tcp --set comm.host=localhost --set comm.port=$((PORT + n))); fi
        job $how$n $n -- "${args[@]}" --set comm.timeout_s=20
        good=0
        for ((r = 0; r < n; r++)); do
            [ "$(grep -c " ok$" "$SCRATCH/$how$n.$r")" -eq 9 ] && grep -q "^rank $r: all collectives ok" "$SCRATCH/$how$n.$r" &&
                good=$((good + 1))
        done
        check "$n ranks through comm.init $how: every collective of comm.h gives the right result on every rank" \
            "$(grep -hv ' ok$' "$SCRATCH/$how$n".[0-9]* | head -3 | tr '\n' ';')" test $good -eq $n
    done
done
# the bytes counted for 3 ranks (reduce-scatters of 12 and 13 floats, all-gathers of 12 and 13 2-byte elements)
check "3 ranks: rank 0 counts the ring's bytes sent (100) and the collectives' buffers (150)" "$(grep bytes "$SCRATCH/fs3.0")" \
    grep -q "^rank 0: bytes_sent 100 bytes_collective 150$" "$SCRATCH/fs3.0"

# a rank that fails: the others stop with its message instead of hanging
t0=$(date +%s)
job fail 3 TOOL_FAIL_RANK=2 -- --set comm.init=fs --set comm.dir="$SCRATCH/rdv_fail" --set comm.timeout_s=20
check "a failing rank prints its message and exits 1" "$(cat "$SCRATCH/fail.2")" \
    grep -q "^error: rank 2 of 3: planted failure on rank 2" "$SCRATCH/fail.2"
for r in 0 1; do
    check "... rank $r stops with that message (comm.init fs), within seconds" "$(tail -2 "$SCRATCH/fail.$r" | tr '\n' ';')" \
        bash -c 'grep -q "^error: rank '$r' of 3: stopping: another rank failed: rank 2 of 3: planted failure on rank 2" "$1" &&
                 ! grep -q "all collectives ok" "$1" && [ $(($(date +%s) - '$t0')) -lt 30 ]' _ "$SCRATCH/fail.$r"
done
# NCCL's asynchronous error on one rank while it waits
job async 2 FAKE_NCCL_ASYNC_ERROR_RANK=1 -- --set comm.init=fs --set comm.dir="$SCRATCH/rdv_async" --set comm.timeout_s=20
check "NCCL's asynchronous error ends the rank that sees it with one line" "$(tail -1 "$SCRATCH/async.1")" \
    grep -q '^error: rank 1 of 2: NCCL reports "remote process exited or there was a network error" while this rank waits' \
    "$SCRATCH/async.1"
check "... and the other rank stops too (with the failed rank's message), no hang" "$(tail -1 "$SCRATCH/async.0")" \
    grep -q "^error: rank 0 of 2: stopping: another rank failed: rank 1 of 2: NCCL reports" "$SCRATCH/async.0"
# ranks that disagree: rank 0 says so in one line, every rank exits 1
job agree 2 TOOL_DISAGREE=1 -- --set comm.init=fs --set comm.dir="$SCRATCH/rdv_agree" --set comm.timeout_s=20
check "ranks that disagree: rank 0 reports it in one line" "$(tail -1 "$SCRATCH/agree.0")" \
    grep -q "^error: ranks disagree on a planted value (rank 1 has 0000000000000002, rank 0 has 0000000000000001)" "$SCRATCH/agree.0"
# more ranks on a node than GPUs; comm.init auto without MPI
expect_error "2 ranks on a node with 1 GPU: refused in one line" "node-local rank 1 has no GPU of its own: this node has 1 GPU" \
    env FAKE_NCCL_DIR="$SCRATCH" SLURM_PROCID=1 SLURM_NTASKS=2 SLURM_LOCALID=1 "$TOOL" --set comm.init=fs --set comm.dir="$SCRATCH/x"
expect_error "comm.init auto in a build without MPI: refused, naming fs and tcp" "built without MPI, so a job of 2 ranks needs comm.init fs" \
    env FAKE_NCCL_DIR="$SCRATCH" SLURM_PROCID=0 SLURM_NTASKS=2 "$TOOL"
expect_error "comm.init mpi in a build without MPI: refused" "comm.init mpi: this train_gpt2cu was built without MPI" \
    env FAKE_NCCL_DIR="$SCRATCH" SLURM_PROCID=0 SLURM_NTASKS=2 "$TOOL" --set comm.init=mpi
finish
