#!/usr/bin/env bash
# scripts/gpu_check.sh in its dry run (GPU_CHECK_DRY_RUN=1: stub nvidia-smi and
# compute-sanitizer, the engine's CPU build in place of the GPU trainers and
# its ordering mutants, the GPU code's CPU tests in place of the kernel
# checks, a stand-in for llm.c's binary), so that the script the first GPU
# session runs has run end to end: every stage passes, the ordering mutants
# are caught, the table comes last, logs land in GPU_CHECK_LOGS. Then the
# harness itself: a stage that times out and a sanitizer that refuses the
# device are reported in the table, and the stages after them still run.
# Stage limits x4 (GPU_CHECK_LIMIT_SCALE): this CPU is slow and shared.
. "$(dirname "$0")/lib.sh"
[ -e data/brown/brown_val_000000.bin ] || { not_ok "Brown shards present" "run scripts/prepare_data.sh first"; finish; }
LOGS="$SCRATCH/logs"
GPU_CHECK_DRY_RUN=1 GPU_CHECK_LIMIT_SCALE=4 GPU_CHECK_BUDGET=1920 GPU_CHECK_LOGS="$LOGS" scripts/gpu_check.sh >"$SCRATCH/out" 2>&1
rc=$?
table="$(sed -n '/^== GPU check/,$p' "$SCRATCH/out")"
check "the dry run exits 0" "exit $rc: $(tail -12 "$SCRATCH/out" | tr '\n' ';')" [ $rc -eq 0 ]
check "its table is the last thing printed, one PASS row per stage (9)" "$table" \
    bash -c '[ "$(grep -cE "^(env|build|kernels|trainer|resume|nccl|ordering|sanitize|bench) +PASS " <<<"$1")" -eq 9 ] && tail -1 <<<"$1" | grep -q "^gpu check: all"' _ "$table"
check "the nccl stage ran the trainer through the communication layer and recorded the bytes per step" "$(grep '^nccl' <<<"$table")" \
    grep -qE "^nccl .*2 rank\(s\) through MPI in NCCL's place \(mpirun, comm.init mpi\) equal the run without it.*collectives per step.*full AdamW [0-9.]+ MB, OMGD 2/4 [0-9.]+ MB \(0\.[0-9]+x\)" <<<"$table"
check "the trainer stage compared 7 runs with the CPU trainer's" "$(grep '^trainer' <<<"$table")" \
    grep -q "^trainer .*7 of 7 equal the CPU trainer's" <<<"$table"
check "the ordering stage catches both mutants" "$(grep '^ordering' <<<"$table")" \
    bash -c 'grep -q "mutant no_update_wait caught" <<<"$1" && grep -q "mutant no_copy_wait caught" <<<"$1"' _ "$table"
check "the bench stage ran our trainer and llm.c's stand-in, with the ratio" "$(grep '^bench' <<<"$table")" \
    grep -qE "^bench .*omgd vs llm.c: [0-9.]+x" <<<"$table"
check "logs and the table are in GPU_CHECK_LOGS" "$(ls "$LOGS" | head -20 | tr '\n' ' ')" \
    bash -c '[ -s "$1/table.txt" ] && [ -s "$1/check.log" ] && [ -s "$1/build.log" ] && [ -d "$1/runs/fp32" ]' _ "$LOGS"

# the harness: the trainer stage cut at 2 s, a sanitizer that refuses the device
LOGS2="$SCRATCH/logs2"
DRY_SANITIZER_REFUSES=1 GPU_CHECK_DRY_RUN=1 GPU_CHECK_STAGES="env trainer sanitize bench" GPU_CHECK_LIMIT_trainer=2 \
    GPU_CHECK_LIMIT_SCALE=4 GPU_CHECK_LOGS="$LOGS2" scripts/gpu_check.sh >"$SCRATCH/out2" 2>&1
rc=$?
table="$(sed -n '/^== GPU check/,$p' "$SCRATCH/out2")"
check "a stage past its limit: TIMEOUT in the table, exit non-zero" "exit $rc; $(grep '^trainer' <<<"$table")" \
    bash -c '[ $1 -ne 0 ] && grep -q "^trainer  *TIMEOUT" <<<"$2"' _ $rc "$table"
check "compute-sanitizer refusing the device: said in env, sanitize SKIP" "$(grep -E '^(env|sanitize)' <<<"$table" | tr '\n' ';')" \
    bash -c 'grep -q "^env .*compute-sanitizer: refused here" <<<"$1" && grep -q "^sanitize  *SKIP" <<<"$1"' _ "$table"
check "the stages after a timeout still run" "$(grep '^bench' <<<"$table")" grep -q "^bench  *PASS" <<<"$table"
finish
