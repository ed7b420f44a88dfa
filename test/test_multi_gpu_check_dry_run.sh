#!/usr/bin/env bash
# scripts/multi_gpu_check.sh (several GPUs: losses of N ranks against 1,
# scaling efficiency) in its dry run: the engine's CPU build on MPI in place
# of train_gpt2cu on NCCL, a small model, so that the script a multi-GPU
# session runs has run end to end. It checks the script, not a GPU.
. "$(dirname "$0")/lib.sh"
command -v mpirun >/dev/null || { not_ok "mpirun available" "install openmpi-bin"; finish; }
[ -e data/brown/brown_val_000000.bin ] || { not_ok "Brown shards present" "run scripts/prepare_data.sh first"; finish; }
MULTI_GPU_DRY_RUN=1 MULTI_GPU_LOGS="$SCRATCH/logs" scripts/multi_gpu_check.sh 1 2 4 8 >"$SCRATCH/out" 2>&1
rc=$?
table="$(sed -n '/^== several GPUs/,$p' "$SCRATCH/out")"
check "the dry run exits 0" "exit $rc: $(tail -6 "$SCRATCH/out" | tr '\n' ';')" [ $rc -eq 0 ]
check "1, 2 and 4 ranks pass, 2 and 4 with the losses of 1 rank" "$table" \
    bash -c 'grep -qE "^1 +PASS .*the reference" <<<"$1" && grep -qE "^2 +PASS .*efficiency .*losses = 1 rank" <<<"$1" &&
             grep -qE "^4 +PASS .*efficiency .*losses = 1 rank" <<<"$1"' _ "$table"
check "more ranks than GPUs (8 of 4): SKIP" "$table" grep -qE "^8 +SKIP +only 4 GPU" <<<"$table"
check "the bytes sent per step are 0 for 1 rank and more for 2 and 4" "$table" \
    bash -c 'grep -qE "^1 .*sent +0.0 MB" <<<"$1" && ! grep -qE "^(2|4) .*sent +0.0 MB" <<<"$1"' _ "$table"
check "the table is in MULTI_GPU_LOGS" "$(ls "$SCRATCH/logs")" test -s "$SCRATCH/logs/table.txt"
finish
