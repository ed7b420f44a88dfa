#!/usr/bin/env bash
# Resuming from a checkpoint continues the run exactly: the losses after the
# resume and the final weights are bit-identical to an uninterrupted run,
# with plain AdamW and with OMGD (the checkpoint falls inside a mask period,
# the run crosses period switches and a cycle boundary after it).
. "$(dirname "$0")/lib.sh"

train_losses() { grep '"type":"train"' "$1" | sed 's/"ms":[^,]*,"tokens_per_s":[^,]*,//'; }

scenario() {  # scenario LABEL extra --set arguments...
    local label="$1"; shift
    local extra=("$@") d="$SCRATCH/$label"
    run() { ./train_gpt2 "${TINY[@]}" --set train.steps=10 --set output.checkpoint_every=4 --set output.keep_last=0 \
        "${extra[@]}" "$@" >"$SCRATCH/last.out" 2>&1; }
    run --set output.dir="$d/a" || { not_ok "$label: uninterrupted run" "$(tail -3 "$SCRATCH/last.out")"; return; }
    ok "$label: uninterrupted run"
    check "$label: checkpoints at 0, 4, 8 and the end" "missing checkpoint files" \
        test -f "$d/a/model_00000000.bin" -a -f "$d/a/state_00000004.bin" -a -f "$d/a/model_00000008.bin" -a -f "$d/a/model_00000010.bin"

    # a crash after step 4's checkpoint: only that checkpoint survives, and the
    # crashed attempt had logged up to step 9: those records must be replaced
    mkdir -p "$d/b"
    cp "$d/a/model_00000004.bin" "$d/a/state_00000004.bin" "$d/a/log.jsonl" "$d/b/"
    run --set output.dir="$d/b" --set output.resume=latest || { not_ok "$label: resume=latest" "$(tail -3 "$SCRATCH/last.out")"; return; }
    check "$label: resume=latest continues from step 4" "no resume message" grep -q "resumed from .*model_00000004.bin (step 4)" "$SCRATCH/last.out"
    check "$label: final weights bit-identical after resume" "model_00000010.bin differs" \
        cmp -s "$d/a/model_00000010.bin" "$d/b/model_00000010.bin"
    check "$label: optimizer and schedule state bit-identical after resume" "state_00000010.bin differs" \
        cmp -s "$d/a/state_00000010.bin" "$d/b/state_00000010.bin"
    check "$label: train losses (and masks) bit-identical, each step logged once" "log records differ" \
        diff <(train_losses "$d/a/log.jsonl") <(train_losses "$d/b/log.jsonl")
    check "$label: val losses identical" "val records differ" \
        diff <(grep '"type":"val"' "$d/a/log.jsonl") <(grep '"type":"val"' "$d/b/log.jsonl")

    # resume from an explicit earlier checkpoint in the finished run's directory
    # (a branch: the finished run's checkpoint 10 is moved aside)
    run --set output.dir="$d/a" --set output.resume="$d/a/model_00000008.bin" --set output.branch=true \
        || { not_ok "$label: resume from an explicit checkpoint" "$(tail -3 "$SCRATCH/last.out")"; return; }
    check "$label: explicit resume: no duplicate steps in the log" "duplicate train records" \
        test "$(grep -c '"type":"train"' "$d/a/log.jsonl")" -eq 10
    check "$label: explicit resume: same final weights" "model_00000010.bin differs" \
        cmp -s "$d/a/model_00000010.bin" "$d/b/model_00000010.bin"
}

scenario adamw --set omgd.mode=none
scenario omgd --set omgd.mode=omgd --set omgd.active_layers=1 --set omgd.switch_interval=3 --set omgd.warmup_steps=2
scenario lisa_reset --set omgd.mode=lisa --set omgd.active_layers=1 --set omgd.switch_interval=3 --set omgd.state=reset

# a fresh run never overwrites an existing run's checkpoints
expect_error "fresh run refuses a directory with checkpoints" "output.resume=latest" \
    ./train_gpt2 "${TINY[@]}" --set train.steps=2 --set output.dir="$SCRATCH/adamw/a"
finish
