#!/usr/bin/env bash
# The order between the GPU engine's compute stream and the device slice's
# copy stream, checked without a GPU. In the engine's CPU build the host
# stand-ins for streams (test/host/cuda_on_host.cuh) run the copy stream's
# writes only when something waits for them and read its sources as early
# as its waits allow, and queue the compute stream's work until the host
# or another stream waits for it: a missing or misplaced wait reads stale
# data. So the engine must equal the CPU trainer (test_gpu_engine_on_cpu.sh
# checks that) and two mutant builds (cuda.mk: ORDERING_MUTANTS) must not:
#   no_update_wait: the update does not wait for the period switch's copies
#   no_copy_wait:   the switch's copies do not wait for the previous update
# A mutant counts as caught when its weights after 5 steps (a switch at
# step 3) are off by more than 1e-4 relative L2, ten times the tolerance
# the engine meets (1e-5, test_gpu_engine_on_cpu.sh).
# Also: a skipped update at a period switch under omgd.state reset, a new
# period at every step: the next step frees the moments the unwaited copies
# read (the stand-ins fail on that) unless the engine waits first.
. "$(dirname "$0")/lib.sh"
EMU=build/gpu/train_gpt2_engine_on_cpu
if ! make -s train_gpt2 ordering_on_cpu >"$SCRATCH/build.log" 2>&1; then
    not_ok "the engine's CPU builds (and its ordering mutants)" "$(grep -m3 error "$SCRATCH/build.log")"
    finish
fi
[ -e data/brown/brown_val_000000.bin ] || { not_ok "Brown shards present" "run scripts/prepare_data.sh first"; finish; }
SMALL=(--config configs/default.json --set model.preset= --set model.depth=4 --set model.channels=64
       --set model.heads=2 --set model.context=32 --set train.batch_size=2 --set train.seq_len=32
       --set train.total_batch_tokens=128 --set train.steps=5 --set train.val_every=0
       --set train.sample_every=0 --set output.checkpoint_every=0
       --set optimizer.warmup_steps=2 --set omgd.mode=omgd --set omgd.active_layers=2 --set omgd.switch_interval=3
       --set omgd.warmup_steps=0)
d="$SCRATCH/ord"
./train_gpt2 "${SMALL[@]}" --set output.dir="$d.cpu" >"$d.cpu.out" 2>&1 || { not_ok "CPU run" "$(tail -1 "$d.cpu.out")"; finish; }
"$EMU" "${SMALL[@]}" --set output.dir="$d.gpu" >"$d.gpu.out" 2>&1 || { not_ok "engine run" "$(tail -1 "$d.gpu.out")"; finish; }
if out="$(python3 scripts/compare_runs.py "$d.cpu" "$d.gpu" --label engine --loss-tol 1e-6 --norm-tol 1e-6 --param-tol 1e-5 2>&1)"; then
    ok "with both waits the engine's run equals the CPU trainer's under the stream stand-ins"
else
    not_ok "with both waits the engine equals the CPU trainer" "$(grep -E 'FAIL|error' <<<"$out" | head -3 | tr '\n' ';')"
fi
for m in no_update_wait no_copy_wait; do
    "$EMU"_$m "${SMALL[@]}" --set output.dir="$d.$m" >"$d.$m.out" 2>&1 || { not_ok "mutant $m runs" "$(tail -1 "$d.$m.out")"; continue; }
    out="$(python3 scripts/compare_runs.py "$d.cpu" "$d.$m" --label "$m" --loss-tol 1e-6 --norm-tol 1e-6 --param-tol 1e-4 2>&1)"
    if grep -q 'weights at .*FAIL' <<<"$out"; then
        ok "the stream stand-ins catch the mutant $m ($(grep -o 'rel L2 *[0-9.e+-]*' <<<"$out" | head -1))"
    else
        not_ok "the stream stand-ins catch the mutant $m" "its weights equal the CPU trainer's: $(grep weights <<<"$out")"
    fi
done

# a skipped update (NaN gradient norm) at step 3 with a new period at every
# step and omgd.state reset: step 4 drops the moments that step 3's copies
# read and no update waited for
RESET=("${SMALL[@]}" --set omgd.switch_interval=1 --set omgd.state=reset)
r="$SCRATCH/reset_skip"
OMGD_FAULT_NAN_STEP=3 ./train_gpt2 "${RESET[@]}" --set output.dir="$r.cpu" >"$r.cpu.out" 2>&1
if OMGD_FAULT_NAN_STEP=3 "$EMU" "${RESET[@]}" --set output.dir="$r.gpu" >"$r.gpu.out" 2>&1 &&
   grep -q '"skipped":true' "$r.gpu/log.jsonl" &&
   python3 scripts/compare_runs.py "$r.cpu" "$r.gpu" --label reset --loss-tol 1e-6 --norm-tol 1e-6 --param-tol 1e-5 >"$r.cmp" 2>&1; then
    ok "a skipped update at a switch under state reset: the engine waits for the copies before moments are dropped, and equals the CPU trainer"
else
    not_ok "a skipped update at a switch under state reset" "$(tail -1 "$r.gpu.out"; grep FAIL "$r.cmp" 2>/dev/null | head -2)"
fi
finish
