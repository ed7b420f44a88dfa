#!/usr/bin/env bash
# The GPU engine's failure paths, in its CPU build (test/host/engine_on_cpu.cuh;
# the CUDA runtime's stand-ins take OMGD_EMU_* variables to fail on purpose):
#   - a cudaGetDeviceCount error is reported with the runtime's own words
#     (a driver too old for the toolkit is not "no CUDA device");
#   - a batch whose attention grid (B x heads) exceeds 65535 is refused with
#     one line before anything is allocated;
#   - pinning that fails (cudaHostRegister, cudaMallocHost) is said once, and
#     the run with pageable copies equals the CPU trainer's.
. "$(dirname "$0")/lib.sh"
EMU=build/gpu/train_gpt2_engine_on_cpu
if ! make -s train_gpt2 "$EMU" >"$SCRATCH/build.log" 2>&1; then
    not_ok "the engine's CPU build" "$(grep -m3 error "$SCRATCH/build.log")"
    finish
fi
[ -e data/brown/brown_val_000000.bin ] || { not_ok "Brown shards present" "run scripts/prepare_data.sh first"; finish; }

# 35: cudaErrorInsufficientDriver
expect_error "a driver/toolkit mismatch is reported with the CUDA runtime's error string" \
    "cudaErrorInsufficientDriver (CUDA driver version is insufficient for CUDA runtime version)" \
    env OMGD_EMU_DEVICE_COUNT_ERROR=35 "$EMU" "${TINY[@]}" --set train.steps=3 --set output.dir="$SCRATCH/e1"
expect_error "an attention grid with B x heads over 65535 is refused in one line" \
    "train.batch_size x model.heads = 4096 x 16 = 65536 is more than the attention kernels' grid takes (65535)" \
    "$EMU" "${TINY[@]}" --set model.channels=256 --set model.heads=16 --set train.seq_len=8 --set train.batch_size=4096 \
    --set train.total_batch_tokens=32768 --set train.plan_only=true --set output.dir="$SCRATCH/e2"

SMALL=(--config configs/default.json --set model.preset= --set model.depth=4 --set model.channels=64
       --set model.heads=2 --set model.context=32 --set train.batch_size=2 --set train.seq_len=32
       --set train.total_batch_tokens=128 --set train.steps=5 --set train.val_every=0
       --set train.sample_every=0 --set output.checkpoint_every=0
       --set optimizer.warmup_steps=2 --set omgd.mode=omgd --set omgd.active_layers=2 --set omgd.switch_interval=2
       --set omgd.warmup_steps=0)
d="$SCRATCH/unpinned"
./train_gpt2 "${SMALL[@]}" --set output.dir="$d.cpu" >"$d.cpu.out" 2>&1
if OMGD_EMU_NO_PINNING=1 "$EMU" "${SMALL[@]}" --set output.dir="$d.gpu" >"$d.gpu.out" 2>"$d.gpu.err"; then
    n=$(grep -c '^warning: could not pin' "$d.gpu.err")
    check "pinning that fails is said once ($n warning lines)" "$(head -3 "$d.gpu.err")" [ "$n" -eq 1 ]
    if out="$(python3 scripts/compare_runs.py "$d.cpu" "$d.gpu" --label unpinned --loss-tol 1e-6 --norm-tol 1e-6 --param-tol 1e-5 2>&1)"; then
        ok "with pageable host memory (pinning failed) the engine's run equals the CPU trainer's"
    else
        not_ok "with pageable host memory the engine equals the CPU trainer" "$(grep -E 'FAIL|error' <<<"$out" | head -3 | tr '\n' ';')"
    fi
else
    not_ok "the engine runs when pinning fails" "$(tail -1 "$d.gpu.err")"
fi
finish
