#!/usr/bin/env bash
# Several GPUs (issue 14), on a machine that has them: train_gpt2cu on 1, 2,
# 4 and 8 ranks (as many as there are GPUs) at GPT-2 124M, OMGD 3/12, the
# same total batch; every run's losses against the 1-rank run's, and the
# tokens/s per GPU at N against 1 (scaling efficiency). Prints one table.
#
#   scripts/multi_gpu_check.sh [N ...]        (default: 1 2 4 8, up to the GPUs present)
#
# Ranks start under mpirun where train_gpt2cu links MPI and mpirun exists,
# else as N processes of this script's own through the fs rendezvous
# (comm.init fs, Slurm's variables set by hand). Logs in
# MULTI_GPU_LOGS (default $OUT/multi_gpu or /tmp/multi_gpu).
#
# MULTI_GPU_DRY_RUN=1: without a GPU, the engine's CPU build on MPI
# (build/gpu/train_gpt2_engine_on_cpu_mpi) and a small model: checks this
# script, not a GPU (test/test_multi_gpu_check_dry_run.sh).
set -uo pipefail
cd "$(dirname "$0")/.."
DRY=${MULTI_GPU_DRY_RUN:-0}
if [ -n "${MULTI_GPU_LOGS:-}" ]; then LOGS=$MULTI_GPU_LOGS
elif [ -n "${OUT:-}" ]; then LOGS="$OUT/multi_gpu"
else LOGS=/tmp/multi_gpu; fi
rm -rf "$LOGS" && mkdir -p "$LOGS" || { echo "error: cannot create $LOGS (MULTI_GPU_LOGS)"; exit 2; }

if [ "$DRY" = 1 ]; then
    BIN=build/gpu/train_gpt2_engine_on_cpu_mpi
    make -s "$BIN" >"$LOGS/build.log" 2>&1 || { echo "error: make $BIN failed: $(grep -m1 error "$LOGS/build.log")"; exit 1; }
    export OMGD_EMU_DEVICES=8 OMP_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    GPUS=4
    SHAPE=(--set model.preset= --set model.depth=4 --set model.channels=64 --set model.heads=2 --set model.context=32
           --set train.batch_size=2 --set train.seq_len=32 --set train.total_batch_tokens=256
           --set omgd.active_layers=2 --set omgd.switch_interval=3)
    TOL=(--loss-tol 1e-5 --norm-tol 1e-5 --param-tol 1e-4)  # fp32: the sums' order only
    DEFAULT_RANKS="1 2 4"
else
    BIN=./train_gpt2cu
    [ -x "$BIN" ] || make -s train_gpt2cu >"$LOGS/build.log" 2>&1 || { echo "error: make train_gpt2cu failed"; exit 1; }
    GPUS=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
    [ "$GPUS" -ge 1 ] || { echo "error: no GPU (nvidia-smi -L lists none)"; exit 1; }
    # 8 micro-batches of 8 x 1024 per step: 1, 2, 4 and 8 ranks share them evenly
    SHAPE=(--set model.preset=d12 --set train.batch_size=8 --set train.seq_len=1024 --set train.total_batch_tokens=65536
           --set omgd.active_layers=3 --set omgd.switch_interval=3)
    TOL=(--loss-tol 5e-2 --norm-tol 5e-2 --param-tol 2e-2)  # bf16 (gpu_check.sh's bf16 tolerances)
    DEFAULT_RANKS="1 2 4 8"
fi
RANKS=${*:-$DEFAULT_RANKS}
ARGS=(--config configs/default.json "${SHAPE[@]}" --set train.steps=8 --set train.val_every=0 --set train.sample_every=0
      --set output.checkpoint_every=0 --set optimizer.warmup_steps=2 --set omgd.mode=omgd --set omgd.warmup_steps=0)

# run N: N ranks into $LOGS/runN
run() {
    local n=$1 d="$LOGS/run$1"
    if command -v mpirun >/dev/null && ldd "$BIN" | grep libmpi >/dev/null; then
        local x=()
        for v in OMP_NUM_THREADS OMGD_EMU_DEVICES LD_LIBRARY_PATH; do [ -n "${!v:-}" ] && x+=(-x "$v"); done
        timeout 600 mpirun --oversubscribe --allow-run-as-root -np "$n" "${x[@]}" "$BIN" "${ARGS[@]}" \
            --set output.dir="$d" >"$d.out" 2>&1
    else  # N processes through the fs rendezvous
        local pids=() r rc=0
        for ((r = 0; r < n; r++)); do
            SLURM_PROCID=$r SLURM_NTASKS=$n SLURM_LOCALID=$r timeout 600 "$BIN" "${ARGS[@]}" --set comm.init=fs \
                --set comm.dir="$d.rdv" --set output.dir="$d" >"$d.out.$r" 2>&1 &
            pids+=($!)
        done
        for p in "${pids[@]}"; do wait "$p" || rc=1; done
        cp "$d.out.0" "$d.out"
        return $rc
    fi
}

ROWS=()
STATUS=0
for n in $RANKS; do
    if [ "$n" -gt "$GPUS" ]; then ROWS+=("$(printf '%-5s %-6s %s' "$n" SKIP "only $GPUS GPU(s)")"); continue; fi
    if ! run "$n"; then
        ROWS+=("$(printf '%-5s %-6s %s' "$n" FAIL "$(grep -m1 error "$LOGS/run$n.out" || tail -1 "$LOGS/run$n.out")")")
        STATUS=1
        continue
    fi
    row=$(python3 - "$LOGS" "$n" <<'PY'
import json, statistics, sys
logs, n = sys.argv[1], int(sys.argv[2])
def train(k):
    return [r for r in map(json.loads, open(f"{logs}/run{k}/log.jsonl")) if r["type"] == "train"]
def tps(recs):  # tokens/s: the median after the first step
    return statistics.median(r["tokens_per_s"] for r in recs[1:])
mine, one = train(n), train(1)
t = tps(mine)
eff = t / (n * tps(one))
sent = statistics.median(r["bytes_sent"] for r in mine) / 1e6
print(f"{t:10.0f} tok/s  {t / n:9.0f} per GPU  efficiency {eff:5.2f}  sent {sent:8.1f} MB/step")
PY
) || { row="(no log)"; STATUS=1; }
    if [ "$n" -eq 1 ]; then cmp="(the reference)"
    elif python3 scripts/compare_runs.py "$LOGS/run1" "$LOGS/run$n" --label "$n" "${TOL[@]}" >"$LOGS/cmp$n.txt" 2>&1; then
        cmp="losses = 1 rank's"
    else cmp="LOSSES DIFFER: $(grep -m1 FAIL "$LOGS/cmp$n.txt" | tr -s ' ')"; STATUS=1; fi
    ROWS+=("$(printf '%-5s %-6s %s  %s' "$n" "$([[ "$cmp" == LOSSES* ]] && echo FAIL || echo PASS)" "$row" "$cmp")")
done
{
    echo
    echo "== several GPUs, $(date -u '+%Y-%m-%d %H:%M UTC'), $([ "$DRY" = 1 ] && echo "DRY RUN (the engine's CPU build on MPI)" || nvidia-smi --query-gpu=name --format=csv,noheader | head -1) x $GPUS; logs in $LOGS"
    printf '%-5s %-6s %s\n' ranks result "tokens/s, per GPU, efficiency (per-GPU tokens/s over 1 rank's), bytes sent per step; losses"
    printf '%s\n' "${ROWS[@]}"
} | tee "$LOGS/table.txt"
exit $STATUS
