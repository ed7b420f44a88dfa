#!/usr/bin/env bash
# Resuming from a checkpoint continues the run exactly: the losses after the
# resume and the final weights are bit-identical to an uninterrupted run.
. "$(dirname "$0")/lib.sh"

run() { ./train_gpt2 "${TINY[@]}" --set train.steps=10 --set output.checkpoint_every=4 --set output.keep_last=0 "$@" >"$SCRATCH/last.out" 2>&1; }
train_losses() { grep '"type":"train"' "$1" | sed 's/"ms":.*//'; }

run --set output.dir="$SCRATCH/a" || { not_ok "uninterrupted run" "$(tail -3 "$SCRATCH/last.out")"; finish; }
ok "uninterrupted run"
check "checkpoints at 0, 4, 8 and the end" "missing checkpoint files" \
    test -f "$SCRATCH/a/model_00000000.bin" -a -f "$SCRATCH/a/state_00000004.bin" -a -f "$SCRATCH/a/model_00000008.bin" -a -f "$SCRATCH/a/model_00000010.bin"

# a crash after step 4's checkpoint: only that checkpoint survives
mkdir -p "$SCRATCH/b"
cp "$SCRATCH/a/model_00000004.bin" "$SCRATCH/a/state_00000004.bin" "$SCRATCH/b/"
# the crashed attempt had logged up to step 9: those records must be replaced
cp "$SCRATCH/a/log.jsonl" "$SCRATCH/b/log.jsonl"
run --set output.dir="$SCRATCH/b" --set output.resume=latest || { not_ok "resume=latest" "$(tail -3 "$SCRATCH/last.out")"; finish; }
check "resume=latest continues from step 4" "no resume message" grep -q "resumed from .*model_00000004.bin (step 4)" "$SCRATCH/last.out"
check "final weights bit-identical after resume" "model_00000010.bin differs" \
    cmp -s "$SCRATCH/a/model_00000010.bin" "$SCRATCH/b/model_00000010.bin"
check "optimizer state bit-identical after resume" "state_00000010.bin differs" \
    cmp -s "$SCRATCH/a/state_00000010.bin" "$SCRATCH/b/state_00000010.bin"
check "train losses bit-identical, each step logged once" "log records differ" \
    diff <(train_losses "$SCRATCH/a/log.jsonl") <(train_losses "$SCRATCH/b/log.jsonl")
check "val losses identical" "val records differ" \
    diff <(grep '"type":"val"' "$SCRATCH/a/log.jsonl") <(grep '"type":"val"' "$SCRATCH/b/log.jsonl")

# resume from an explicit earlier checkpoint in the finished run's directory:
# the log is cut back to step 8 and the run ends as before
run --set output.dir="$SCRATCH/a" --set output.resume="$SCRATCH/a/model_00000008.bin" \
    || { not_ok "resume from an explicit checkpoint" "$(tail -3 "$SCRATCH/last.out")"; finish; }
check "explicit resume: no duplicate steps in the log" "duplicate train records" \
    test "$(grep -c '"type":"train"' "$SCRATCH/a/log.jsonl")" -eq 10
check "explicit resume: same final weights" "model_00000010.bin differs" \
    cmp -s "$SCRATCH/a/model_00000010.bin" "$SCRATCH/b/model_00000010.bin"

# a fresh run never overwrites an existing run's checkpoints
expect_error "fresh run refuses a directory with checkpoints" "output.resume=latest" \
    ./train_gpt2 "${TINY[@]}" --set train.steps=2 --set output.dir="$SCRATCH/a"
finish
