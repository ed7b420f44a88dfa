#!/usr/bin/env bash
# The trainer refuses bad input before doing any work: one line naming the
# file, key or value, exit status 1, and no checkpoint is touched.
. "$(dirname "$0")/lib.sh"
T=./train_gpt2

expect_error "missing config file" "$SCRATCH/nope.json" $T --config "$SCRATCH/nope.json"
echo '{"train": {"batch_size": "four"}}' >"$SCRATCH/bad_type.json"
expect_error "wrong type in config" "train.batch_size" $T --config "$SCRATCH/bad_type.json"
echo '{"train": {"bach_size": 4}}' >"$SCRATCH/unknown.json"
expect_error "unknown key in config" "train.bach_size" $T --config "$SCRATCH/unknown.json"
expect_error "out-of-range override" "optimizer.beta1" $T "${TINY[@]}" --set optimizer.beta1=1.5
expect_error "no training shards match" "$SCRATCH/none_*.bin" \
    $T "${TINY[@]}" --set data.train="$SCRATCH/none_*.bin" --set output.dir="$SCRATCH/r1"
printf 'not a shard at all' >"$SCRATCH/junk_train_000.bin"
expect_error "malformed training shard" "$SCRATCH/junk_train_000.bin" \
    $T "${TINY[@]}" --set data.train="$SCRATCH/junk_train_*.bin" --set output.dir="$SCRATCH/r2"
expect_error "missing tokenizer file" "$SCRATCH/tok.bin" \
    $T "${TINY[@]}" --set train.sample_every=5 --set data.tokenizer="$SCRATCH/tok.bin" --set output.dir="$SCRATCH/r3"
expect_error "seq_len beyond the model context" "train.seq_len" \
    $T "${TINY[@]}" --set train.seq_len=64 --set output.dir="$SCRATCH/r4"

# checkpoints: a truncated model file and a missing state file are refused
$T "${TINY[@]}" --set train.steps=2 --set output.checkpoint_every=1 --set output.dir="$SCRATCH/run" >/dev/null 2>&1 \
    || not_ok "short run for checkpoints" "trainer failed"
cp "$SCRATCH/run/model_00000001.bin" "$SCRATCH/keep.bin"
head -c 5000 "$SCRATCH/keep.bin" >"$SCRATCH/run/model_00000001.bin"
expect_error "truncated checkpoint refused" "model_00000001.bin" \
    $T "${TINY[@]}" --set train.steps=4 --set output.dir="$SCRATCH/run" --set output.resume="$SCRATCH/run/model_00000001.bin"
check "refused resume leaves other checkpoints intact" "model_00000002.bin changed or missing" \
    test -s "$SCRATCH/run/model_00000002.bin"
cp "$SCRATCH/keep.bin" "$SCRATCH/run/model_00000001.bin"
rm "$SCRATCH/run/state_00000001.bin"
expect_error "checkpoint without its state file refused" "state_00000001.bin" \
    $T "${TINY[@]}" --set train.steps=4 --set output.dir="$SCRATCH/run" --set output.resume="$SCRATCH/run/model_00000001.bin"
expect_error "init_from with a different shape" "model.channels" \
    $T "${TINY[@]}" --set model.channels=64 --set model.init_from="$SCRATCH/keep.bin" --set output.dir="$SCRATCH/r5"
expect_error "init_from not a model file" "$SCRATCH/junk_train_000.bin" \
    $T "${TINY[@]}" --set model.init_from="$SCRATCH/junk_train_000.bin" --set output.dir="$SCRATCH/r6"

# train.plan_only: prints the plan, trains nothing; a run too large for
# memory is refused before its weights are initialised, naming a batch size
out="$($T "${TINY[@]}" --set train.plan_only=true --set output.dir="$SCRATCH/plan" 2>&1)"; rc=$?
check "train.plan_only prints the memory plan and exits 0 without training" "exit $rc: $(tail -2 <<<"$out")" \
    bash -c '[ '$rc' -eq 0 ] && grep -q "^memory at start" <<<"$1" && grep -q "plan_only" <<<"$1" && ! grep -q "^step" <<<"$1" && ! ls "$2"/model_*.bin >/dev/null 2>&1' _ "$out" "$SCRATCH/plan"
expect_error "a run that cannot fit in memory" "train.batch_size" \
    $T "${TINY[@]}" --set model.depth=2 --set model.channels=12288 --set model.heads=96 --set output.dir="$SCRATCH/r7"
finish
