#!/usr/bin/env bash
# The GPU trainer's engine (train_gpt2.cu) checked without a GPU: built with
# its kernel launchers and CUDA calls replaced by the CPU trainer's layers
# and host stand-ins (test/host/engine_on_cpu.cuh, fp32), it trains the
# same small model as the CPU trainer; every train loss, gradient norm, val
# loss and the final weights must match (scripts/compare_runs.py). This
# checks the engine's wiring, activation layout, device slice, fused
# update, checkpoints and resume; the kernels are checked by
# test/test_gpu_code_on_cpu.sh and, on a GPU, scripts/gpu_check.sh.
# Tolerances: losses 4e-6 absolute (4 float32 ulps at a loss of 10: the
# norm's last bit moves the weights by rounding noise, and a loss near 10.47
# was seen 1 ulp = 1e-6 apart on an AVX-512 machine, in the code before and
# after; a wiring mistake moves it by 1e-3 or more), gradient norms 1e-6
# relative (the same arithmetic summed in another order), weights 1e-5 relative
# L2 (the norm's last bit moves the clipping factor; Adam amplifies
# gradients that are pure rounding noise, such as the key bias's).
. "$(dirname "$0")/lib.sh"
EMU=build/gpu/train_gpt2_engine_on_cpu
if ! make -s train_gpt2 "$EMU" >"$SCRATCH/build.log" 2>&1; then
    not_ok "the engine's CPU build" "$(grep -m3 error "$SCRATCH/build.log")"
    finish
fi
[ -e data/brown/brown_val_000000.bin ] || { not_ok "Brown shards present" "run scripts/prepare_data.sh first"; finish; }
SMALL=(--config configs/default.json --set model.preset= --set model.depth=4 --set model.channels=64
       --set model.heads=2 --set model.context=32 --set train.batch_size=2 --set train.seq_len=32
       --set train.total_batch_tokens=128 --set train.steps=10 --set train.val_every=5 --set train.val_steps=2
       --set train.sample_every=0 --set output.checkpoint_every=5 --set output.keep_last=5
       --set optimizer.warmup_steps=2 --set omgd.mode=omgd --set omgd.active_layers=2 --set omgd.switch_interval=3
       --set omgd.warmup_steps=0)
compare() {  # compare NAME REF RUN
    local out
    if out="$(python3 scripts/compare_runs.py "$2" "$3" --label x --loss-tol 4e-6 --norm-tol 1e-6 --param-tol 1e-5 2>&1)"; then
        ok "$1"
    else
        not_ok "$1" "$(grep -E 'FAIL|error' <<<"$out" | head -3 | tr '\n' ';')"
    fi
}
for v in "omgd:" "full AdamW:--set omgd.mode=none" "lisa:--set omgd.mode=lisa" "omgd reset:--set omgd.state=reset" \
         "omgd after warmup:--set omgd.warmup_steps=4" "omgd_tensor:--set omgd.mode=omgd_tensor --set omgd.active_layers=3" \
         "omgd, recomputing GELU and LayerNorm:--set train.recompute=2" "full AdamW, recomputing GELU:--set omgd.mode=none --set train.recompute=1" \
         "omgd, 4 micro-batches a step (pinned input slots reused, the loss read once a step):--set train.total_batch_tokens=256"; do
    name=${v%%:*}; read -r -a extra <<<"${v#*:}"
    d="$SCRATCH/${name// /_}"
    ./train_gpt2 "${SMALL[@]}" "${extra[@]}" --set output.dir="$d.cpu" >"$d.cpu.out" 2>&1 || { not_ok "$name: CPU run" "$(tail -1 "$d.cpu.out")"; continue; }
    OMGD_PEAK_TFLOPS=0.001 "$EMU" "${SMALL[@]}" "${extra[@]}" --set output.dir="$d.gpu" >"$d.gpu.out" 2>&1 || { not_ok "$name: engine run" "$(tail -1 "$d.gpu.out")"; continue; }
    compare "$name: the GPU engine's run equals the CPU trainer's (losses, norms, val, weights)" "$d.cpu" "$d.gpu"
done
# MFU (the runs above had OMGD_PEAK_TFLOPS=0.001): the start event names the
# peak; every train record's mfu is tokens/s x FLOPs per token / peak, with
# the FLOPs counted here from the shape by hand (model/mfu.h's formula:
# forward, input and weight gradients of the matmuls, the frozen blocks'
# weight gradients left out; causal attention 6 C (T+1) per block). Relative
# tolerance 1e-4: the record's ms has 7 significant digits (1e-6); counting
# the 2 frozen blocks' weight gradients moves MFU by 1e-2.
mfu_check() {  # mfu_check RUN_DIR
    python3 - "$1" <<'PY'
import json, sys
d = sys.argv[1]
cfg = json.load(open(f"{d}/config.json"))
L, C, V, T = cfg["model"]["depth"], cfg["model"]["channels"], cfg["model"]["vocab"], cfg["train"]["seq_len"]
rows = [json.loads(l) for l in open(f"{d}/log.jsonl")]
start = next(r for r in rows if r.get("event") == "start")
assert start["peak_flops"] == 1e9 and "OMGD_PEAK_TFLOPS" in start["peak"], start
train = [r for r in rows if r["type"] == "train"]
assert train
for r in train:
    block, head = 12 * C * C, V * C  # multiply-adds per token: one block's matmuls, the LM head
    fpt = 2 * 2 * (L * block + head) + 2 * (len(r["active_layers"]) * block + head) + 6 * L * C * (T + 1)
    want = start["tokens_per_step"] / (r["ms"] / 1e3) * fpt / start["peak_flops"]
    assert abs(r["mfu"] - want) <= 1e-4 * want, (r["step"], r["mfu"], want)
print(len(train), "records")
PY
}
for run in omgd full_AdamW; do
    check "MFU in the GPU engine's $run run: peak in the start event, every train record's mfu by the hand count" \
        "$(mfu_check "$SCRATCH/$run.gpu" 2>&1 | tail -1)" mfu_check "$SCRATCH/$run.gpu"
done
check "MFU on the progress lines of the GPU engine, not the CPU trainer's" \
    "$(grep -m1 '^step ' "$SCRATCH/omgd.gpu.out"); $(grep -m1 '^step ' "$SCRATCH/omgd.cpu.out")" \
    bash -c 'grep -qE "^step .* tok/s \| mfu [0-9.]+% \|" "$1" && ! grep -q mfu "$2" && ! grep -q mfu "$3"' _ \
    "$SCRATCH/omgd.gpu.out" "$SCRATCH/omgd.cpu.out" "$SCRATCH/omgd.cpu/log.jsonl"

# a skipped update (NaN gradient norm) on the step a new period starts:
# the period switch's copies are not waited for by an update
d2="$SCRATCH/nan_skip"
OMGD_FAULT_NAN_STEP=3 ./train_gpt2 "${SMALL[@]}" --set output.dir="$d2.cpu" >"$d2.cpu.out" 2>&1
OMGD_FAULT_NAN_STEP=3 "$EMU" "${SMALL[@]}" --set output.dir="$d2.gpu" >"$d2.gpu.out" 2>&1
if grep -q '"skipped":true' "$d2.gpu/log.jsonl" 2>/dev/null; then
    compare "a skipped update at a period switch: the GPU engine's run equals the CPU trainer's" "$d2.cpu" "$d2.gpu"
else
    not_ok "a skipped update at a period switch" "no skipped step in the engine's log: $(tail -1 "$d2.gpu.out")"
fi

# samples: a forward pass of one sequence without targets, the last
# position's probabilities; the same text as the CPU trainer's
for t in cpu gpu; do
    bin=./train_gpt2; [ $t = gpu ] && bin="$EMU"
    "$bin" "${SMALL[@]}" --set train.steps=4 --set train.val_every=0 --set train.sample_every=2 --set train.sample_tokens=12 \
        --set output.dir="$SCRATCH/sample.$t" >"$SCRATCH/sample.$t.out" 2>&1
done
want="$(grep '"type":"sample"' "$SCRATCH/sample.cpu/log.jsonl" 2>/dev/null)"
got="$(grep '"type":"sample"' "$SCRATCH/sample.gpu/log.jsonl" 2>/dev/null)"
n=$(grep -c '"type":"sample"' <<<"$want")
check "samples: the GPU engine writes the CPU trainer's text (steps 0, 2, 4)" \
    "$n CPU samples; first GPU one: $(head -1 <<<"$got" | cut -c1-120)" \
    bash -c '[ "$1" -eq 3 ] && [ "$2" = "$3" ]' _ "$n" "$want" "$got"

# resume: the engine's own checkpoint at step 5, and the CPU trainer's
d="$SCRATCH/omgd"
for from in gpu cpu; do
    r="$SCRATCH/resume_from_$from"
    cp -r "$d.$from" "$r"
    rm -f "$r"/model_00000010.bin "$r"/state_00000010.bin
    if "$EMU" "${SMALL[@]}" --set output.dir="$r" --set output.resume=latest >"$r.out" 2>&1; then
        compare "the GPU engine resumes a $from checkpoint (step 5 of 10) to the same run" "$d.cpu" "$r"
    else
        not_ok "the GPU engine resumes a $from checkpoint" "$(tail -1 "$r.out")"
    fi
done
# and the CPU trainer resumes the GPU engine's checkpoint
r="$SCRATCH/cpu_resumes_gpu"
cp -r "$d.gpu" "$r"
rm -f "$r"/model_00000010.bin "$r"/state_00000010.bin
if ./train_gpt2 "${SMALL[@]}" --set output.dir="$r" --set output.resume=latest >"$r.out" 2>&1; then
    compare "the CPU trainer resumes a GPU-engine checkpoint (step 5 of 10) to the same run" "$d.cpu" "$r"
else
    not_ok "the CPU trainer resumes a GPU-engine checkpoint" "$(tail -1 "$r.out")"
fi
finish
