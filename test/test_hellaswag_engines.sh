#!/usr/bin/env bash
# HellaSwag and the samples on the GPU engine (train_gpt2.cu's
# engine_position_losses and engine_next_token_probs), checked without a
# GPU: the engine built to run on the CPU (test/host/engine_on_cpu.cuh,
# fp32; see test/test_gpu_engine_on_cpu.sh) scores 400 examples of Brown
# text with random endings exactly as the CPU trainer does, at step 0 (the
# same random weights) and after 4 training steps. Accuracy is a count of
# argmin decisions, so the two engines' fp32 losses (same arithmetic) must
# give the same answers; a loss read from the wrong row or position
# changes many of them.
. "$(dirname "$0")/lib.sh"
EMU=build/gpu/train_gpt2_engine_on_cpu
if ! make -s train_gpt2 "$EMU" >"$SCRATCH/build.log" 2>&1; then
    not_ok "the engine's CPU build" "$(grep -m3 error "$SCRATCH/build.log")"
    finish
fi
[ -e data/brown/brown_val_000000.bin ] || { not_ok "Brown shards present" "run scripts/prepare_data.sh first"; finish; }
/usr/bin/python3 - "$SCRATCH/hs.bin" <<'PY'
import sys
import numpy as np
sys.path.insert(0, "test")
from test_hellaswag import write_hellaswag
toks = np.fromfile("data/brown/brown_val_000000.bin", dtype="<u2")[512:]  # past the shard header
rng = np.random.default_rng(0)
ex = []
for i in range(400):
    at = int(rng.integers(0, toks.size - 64))
    ctx = toks[at:at + int(rng.integers(4, 20))].tolist()
    right = toks[at + len(ctx):at + len(ctx) + int(rng.integers(2, 6))].tolist()
    ends = [right] + [toks[int(rng.integers(0, toks.size - 8)):][:len(right)].tolist() for _ in range(3)]
    label = int(rng.integers(0, 4))
    ends[0], ends[label] = ends[label], ends[0]
    ex.append((ctx, ends, label))
write_hellaswag(sys.argv[1], ex)
PY
RUN=("${TINY[@]}" --set model.depth=2 --set model.channels=32 --set train.steps=4 --set train.val_every=0
     --set train.hellaswag_every=4 --set data.hellaswag="$SCRATCH/hs.bin" --set train.sample_every=4
     --set train.sample_tokens=24 --set omgd.mode=none)
export OMP_NUM_THREADS=1
./train_gpt2 "${RUN[@]}" --set output.dir="$SCRATCH/cpu" >"$SCRATCH/cpu.out" 2>&1 || not_ok "CPU run" "$(tail -1 "$SCRATCH/cpu.out")"
"$EMU" "${RUN[@]}" --set output.dir="$SCRATCH/gpu" >"$SCRATCH/gpu.out" 2>&1 || not_ok "GPU engine run" "$(tail -1 "$SCRATCH/gpu.out")"
records() { grep -E '"type":"(eval|sample)"' "$1/log.jsonl"; }
cpu="$(records "$SCRATCH/cpu")"
gpu="$(records "$SCRATCH/gpu")"
n=$(grep -c '"type":"eval"' <<<"$cpu")
check "the GPU engine's HellaSwag scores and samples = the CPU's (steps 0 and 4: $(grep -o '"hellaswag":[0-9.]*' <<<"$cpu" | tr '\n' ' '))" \
    "CPU: $cpu | GPU: $gpu" bash -c '[ "$1" = "$2" ] && [ "$3" -eq 2 ]' _ "$cpu" "$gpu" "$n"
check "the score moved between the two evaluations (the check sees the weights)" "$cpu" \
    bash -c '[ "$(grep -o "\"hellaswag\":[0-9.]*" <<<"$1" | sort -u | wc -l)" -eq 2 ]' _ "$cpu"
finish
