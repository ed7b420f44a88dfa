#!/usr/bin/env bash
# The GPU trainer's engine data-parallel (issue 14), checked without a GPU:
# its CPU build (test/host/engine_on_cpu.cuh) linked with the MPI back end of
# comm.h in NCCL's place runs under mpirun. 1, 2 and 4 ranks must log the
# losses of one process for omgd, none, lisa, omgd with state reset and
# omgd_tensor (the same total batch: 4 micro-batches per step, so 2 ranks run
# 2 each and reduce after the backward passes, 4 ranks run 1 each and reduce
# block by block during the backward pass); frozen blocks send nothing; a
# checkpoint resumes on another number of ranks and between this engine and
# the CPU trainer; a rank that dies ends the job; more ranks on a node than
# GPUs is refused.
# Tolerances as test/test_mpi.sh: losses and gradient norms 1e-5 (the ranks'
# sums in another order); weights 1e-4 relative L2 against one process (the
# CPU trainer's own 1 and 2 ranks differ by 2.6e-5 in omgd_tensor: Adam
# amplifies gradients that are rounding noise), 1e-5 against the CPU
# trainer on as many ranks (the same sums: equal to the bit here).
. "$(dirname "$0")/lib.sh"
EMU=build/gpu/train_gpt2_engine_on_cpu
EMU_MPI=build/gpu/train_gpt2_engine_on_cpu_mpi
if ! command -v mpirun >/dev/null; then
    not_ok "mpirun available" "install openmpi-bin (scripts/install_deps.sh does)"
    finish
fi
if ! make -s train_gpt2 "$EMU" "$EMU_MPI" >"$SCRATCH/build.log" 2>&1; then
    not_ok "the engine's CPU builds (plain and MPI)" "$(grep -m3 error "$SCRATCH/build.log")"
    finish
fi
[ -e data/brown/brown_val_000000.bin ] || { not_ok "Brown shards present" "run scripts/prepare_data.sh first"; finish; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 OMGD_EMU_DEVICES=4
MPI=(timeout 300 mpirun --oversubscribe -x OMP_NUM_THREADS -x OMGD_EMU_DEVICES)
SMALL=(--config configs/default.json --set model.preset= --set model.depth=4 --set model.channels=64
       --set model.heads=2 --set model.context=32 --set train.batch_size=2 --set train.seq_len=32
       --set train.total_batch_tokens=256 --set train.steps=10 --set train.val_every=5 --set train.val_steps=2
       --set train.sample_every=0 --set output.checkpoint_every=5 --set output.keep_last=5
       --set optimizer.warmup_steps=2 --set omgd.mode=omgd --set omgd.active_layers=2 --set omgd.switch_interval=3
       --set omgd.warmup_steps=0)
compare() {  # compare NAME REF RUN [WEIGHT_TOL]
    local out
    if out="$(python3 scripts/compare_runs.py "$2" "$3" --label x --loss-tol 1e-5 --norm-tol 1e-5 --param-tol "${4:-1e-4}" 2>&1)"; then
        ok "$1"
    else
        not_ok "$1" "$(grep -E 'FAIL|error' <<<"$out" | head -3 | tr '\n' ';')"
    fi
}
# (compare_runs.py compares absolute loss differences; the losses here are
# near 10, so 1e-5 absolute is 1e-6 relative)
for v in "omgd:" "full AdamW:--set omgd.mode=none" "lisa:--set omgd.mode=lisa" "omgd reset:--set omgd.state=reset" \
         "omgd_tensor:--set omgd.mode=omgd_tensor --set omgd.active_layers=3"; do
    name=${v%%:*}; read -r -a extra <<<"${v#*:}"
    d="$SCRATCH/${name// /_}"
    "$EMU" "${SMALL[@]}" "${extra[@]}" --set output.dir="$d.1" >"$d.1.out" 2>&1 ||
        { not_ok "$name: one process" "$(tail -1 "$d.1.out")"; continue; }
    for n in 1 2 4; do
        "${MPI[@]}" -np $n "$EMU_MPI" "${SMALL[@]}" "${extra[@]}" --set output.dir="$d.mpi$n" >"$d.mpi$n.out" 2>&1 ||
            { not_ok "$name: $n ranks" "$(tail -2 "$d.mpi$n.out" | tr '\n' ' ')"; continue; }
        compare "$name: $n rank(s) of the GPU engine log the losses, norms, val losses and weights of one process" "$d.1" "$d.mpi$n"
    done
done

# the communication stream in its other schedule (the host stand-in runs a
# collective only when something waits for it: a reader of the summed
# gradients or of the gathered weights that does not wait reads stale data)
for n in 2 4; do
    OMGD_EMU_COMM_LAZY=1 "${MPI[@]}" -x OMGD_EMU_COMM_LAZY -np $n "$EMU_MPI" "${SMALL[@]}" \
        --set output.dir="$SCRATCH/lazy$n" >"$SCRATCH/lazy$n.out" 2>&1 ||
        { not_ok "omgd, late collectives: $n ranks" "$(tail -2 "$SCRATCH/lazy$n.out" | tr '\n' ' ')"; continue; }
    compare "omgd, collectives run late: $n ranks log the run of one process" "$SCRATCH/omgd.1" "$SCRATCH/lazy$n"
done

# what each rank sends: every active group's gradient (reduce-scatter) and
# weights (all-gather), nothing for frozen blocks; with 2 ranks that is
# 4 bytes x (the group's size) each way split in two halves, so a step
# sends 4 x the active parameters (odd sizes: a byte or two more or less)
/usr/bin/python3 - "$SCRATCH" <<'EOF'
import json, sys
d = sys.argv[1]
C, V, ctx, L = 64, 50304, 32, 4
always = V * C + ctx * C + 2 * C
block = 12 * C * C + 13 * C
def records(run):
    return [r for r in map(json.loads, open(f"{d}/{run}/log.jsonl")) if r["type"] == "train"]
def check(name, ok, why):
    print(("ok - " if ok else "not ok - ") + name + ("" if ok else ": " + why))
one = records("omgd.1")
check("one process sends nothing", all(r["bytes_sent"] == 0 and r["bytes_collective"] == 0 for r in one),
      str([r["bytes_sent"] for r in one]))
for run, mode in (("omgd.mpi2", "omgd"), ("full_AdamW.mpi2", "none")):
    bad = []
    for r in records(run):
        want = 4 * (always + len(r["active_layers"]) * block)
        if abs(r["bytes_sent"] - want) > 16:
            bad.append((r["step"], r["bytes_sent"], want))
    check(f"{mode}, 2 ranks: each step sends 4 bytes x the active parameters (frozen blocks nothing)", not bad, str(bad[:3]))
# bytes_collective: the collectives' buffers, fp32 gradients and (this fp32
# build) weights, 8 bytes per active parameter, whatever the number of ranks
for run in ("omgd.mpi2", "omgd.mpi4", "full_AdamW.mpi4"):
    bad = [(r["step"], r["bytes_collective"]) for r in records(run)
           if r["bytes_collective"] != 8 * (always + len(r["active_layers"]) * block)]
    check(f"{run}: bytes_collective is 8 bytes x the active parameters", not bad, str(bad[:3]))
omgd, full = records("omgd.mpi2"), records("full_AdamW.mpi2")
check("omgd (2 of 4 blocks) sends less than full AdamW", omgd[1]["bytes_sent"] < full[1]["bytes_sent"],
      f'{omgd[1]["bytes_sent"]} vs {full[1]["bytes_sent"]}')
starts = [r for r in map(json.loads, open(f"{d}/omgd.mpi4/log.jsonl")) if r.get("event") == "start"]
check("the start event names the world size", len(starts) == 1 and starts[0].get("world_size") == 4, str(starts))
EOF
out="$(cat "$SCRATCH/omgd.mpi4.out")"
check "the memory plan is one rank's, and the engine names its rank and GPU" "$(grep -m2 'memory plan\|engine:' <<<"$out")" \
    bash -c 'grep -q "memory plan of one rank (of 4" <<<"$1" && grep -q "rank 0 of 4 on GPU 0" <<<"$1"' _ "$out"

# resume on another number of ranks: the 2-rank checkpoint at step 5 on 1
# and 4 ranks, the 4-rank one on 2 (the optimizer state resharded)
for pair in "2 1" "2 4" "4 2"; do
    read -r from to <<<"$pair"
    r="$SCRATCH/reshard_${from}_$to"
    mkdir -p "$r"
    cp "$SCRATCH/omgd.mpi$from"/model_00000005.bin "$SCRATCH/omgd.mpi$from"/state_00000005*.bin \
       "$SCRATCH/omgd.mpi$from"/log.jsonl "$r"/
    if "${MPI[@]}" -np $to "$EMU_MPI" "${SMALL[@]}" --set output.dir="$r" --set output.resume=latest >"$r.out" 2>&1 &&
       grep -q "optimizer state of $from ranks resharded onto $to" "$r.out"; then
        compare "a $from-rank checkpoint of the GPU engine resumes on $to rank(s) to the same run" "$SCRATCH/omgd.1" "$r"
    else
        not_ok "a $from-rank checkpoint resumes on $to rank(s)" "$(tail -2 "$r.out" | tr '\n' ' ')"
    fi
done

# between the engines: a 2-rank GPU-engine checkpoint on the CPU trainer
# (2 ranks), and a 2-rank CPU checkpoint on 2 ranks of the GPU engine
cpu="$SCRATCH/cpu2"
"${MPI[@]}" -np 2 ./train_gpt2 "${SMALL[@]}" --set output.dir="$cpu" >"$cpu.out" 2>&1 ||
    not_ok "the CPU trainer on 2 ranks" "$(tail -2 "$cpu.out")"
compare "omgd: the CPU trainer on 2 ranks and the GPU engine on 2 ranks train the same run" "$cpu" "$SCRATCH/omgd.mpi2" 1e-5
"${MPI[@]}" -np 2 ./train_gpt2 "${SMALL[@]}" --set omgd.mode=omgd_tensor --set omgd.active_layers=3 \
    --set output.dir="$SCRATCH/cpu2_tensor" >"$SCRATCH/cpu2_tensor.out" 2>&1 ||
    not_ok "the CPU trainer on 2 ranks, omgd_tensor" "$(tail -2 "$SCRATCH/cpu2_tensor.out")"
compare "omgd_tensor: the CPU trainer on 2 ranks and the GPU engine on 2 ranks train the same run" \
    "$SCRATCH/cpu2_tensor" "$SCRATCH/omgd_tensor.mpi2" 1e-5
for way in "gpu:./train_gpt2:$SCRATCH/omgd.mpi2" "cpu:$EMU_MPI:$cpu"; do
    IFS=: read -r from bin src <<<"$way"
    r="$SCRATCH/cross_from_$from"
    mkdir -p "$r"
    cp "$src"/model_00000005.bin "$src"/state_00000005*.bin "$src"/log.jsonl "$r"/
    if "${MPI[@]}" -np 2 "$bin" "${SMALL[@]}" --set output.dir="$r" --set output.resume=latest >"$r.out" 2>&1; then
        compare "a 2-rank $from checkpoint resumed on 2 ranks of the other engine gives the same run" "$SCRATCH/omgd.1" "$r"
    else
        not_ok "a 2-rank $from checkpoint resumed by the other engine" "$(tail -2 "$r.out" | tr '\n' ' ')"
    fi
done

# a rank that dies mid-run ends the job with its message (no hang)
out="$("${MPI[@]}" -x OMGD_FAULT_EXIT_RANK=1 -x OMGD_FAULT_EXIT_STEP=3 -np 2 "$EMU_MPI" "${SMALL[@]}" \
       --set output.dir="$SCRATCH/dies" 2>&1)"; rc=$?
check "a rank that dies stops the GPU engine's job with its message, no hang" "exit $rc: $(tail -3 <<<"$out")" \
    bash -c '[ '$rc' -ne 0 ] && [ '$rc' -ne 124 ] && grep -q "rank 1 exits at step 3" <<<"$1"' _ "$out"

# SIGTERM to mpirun: the ranks stop together with one complete checkpoint
# (every rank's state shard, the master weights gathered into rank 0's file)
mpirun --oversubscribe -x OMP_NUM_THREADS -x OMGD_EMU_DEVICES -np 2 "$EMU_MPI" "${SMALL[@]}" --set train.steps=5000 \
    --set output.checkpoint_every=0 --set train.val_every=0 --set output.dir="$SCRATCH/sigterm" >"$SCRATCH/sigterm.out" 2>&1 &
mpirun_pid=$!
for _ in $(seq 600); do grep -q '"step":3,' "$SCRATCH/sigterm/log.jsonl" 2>/dev/null && break; sleep 0.1; done
kill -TERM $mpirun_pid; wait $mpirun_pid
stopped=$(grep -oE 'stopped by SIGTERM at step [0-9]+' "$SCRATCH/sigterm.out" | grep -oE '[0-9]+$')
check "SIGTERM to mpirun: the GPU engine's ranks stop together with a checkpoint" "$(tail -3 "$SCRATCH/sigterm.out")" \
    test -n "$stopped" -a -f "$SCRATCH/sigterm/state_$(printf %08d "${stopped:-0}").rank001.bin"
out="$("${MPI[@]}" -np 2 "$EMU_MPI" "${SMALL[@]}" --set train.steps=$(( ${stopped:-0} + 2 )) --set output.checkpoint_every=0 \
       --set train.val_every=0 --set output.dir="$SCRATCH/sigterm" --set output.resume=latest 2>&1)"; rc=$?
check "... and the run resumes from it" "exit $rc: $(tail -3 <<<"$out")" \
    bash -c '[ '$rc' -eq 0 ] && grep -q "resumed from" <<<"$1"' _ "$out"

# one GPU per rank: 2 ranks on a node with 1 GPU are refused in one line
out="$(env -u CUDA_VISIBLE_DEVICES OMGD_EMU_DEVICES=1 "${MPI[@]}" -np 2 "$EMU_MPI" "${SMALL[@]}" --set output.dir="$SCRATCH/gpus" 2>&1)"; rc=$?
check "more ranks on a node than GPUs: refused in one line" "exit $rc: $(tail -3 <<<"$out")" \
    bash -c '[ '$rc' -ne 0 ] && [ '$rc' -ne 124 ] && [ "$(grep -c "^error: .*node-local rank 1 has no GPU of its own: this node has 1 GPU; start at most 1 rank per node" <<<"$1")" -eq 1 ]' _ "$out"
# ... unless the launcher gave each rank a GPU of its own (srun --gpus-per-task=1:
# CUDA_VISIBLE_DEVICES names one device per rank)
out="$(CUDA_VISIBLE_DEVICES=3 OMGD_EMU_DEVICES=1 "${MPI[@]}" -x CUDA_VISIBLE_DEVICES -np 2 "$EMU_MPI" "${SMALL[@]}" \
       --set train.steps=3 --set train.val_every=0 --set output.dir="$SCRATCH/gpu_per_task" 2>&1)"; rc=$?
check "one visible GPU per rank (CUDA_VISIBLE_DEVICES): each rank takes it" "exit $rc: $(tail -3 <<<"$out")" \
    bash -c '[ '$rc' -eq 0 ] && grep -q "rank 0 of 2 on GPU 0" <<<"$1"' _ "$out"
finish
