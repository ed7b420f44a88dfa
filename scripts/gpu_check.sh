#!/usr/bin/env bash
# The GPU check: one run of at most 8 minutes (GPU_CHECK_BUDGET seconds,
# builds included) on a machine with a GPU, correctness first, then speed.
# Stages, in this order, each with its own time limit (cut to what is left
# of the budget); a stage that fails or runs out of time is reported and
# the next one still runs:
#   1 env       device, driver, nvcc, cuBLAS; whether compute-sanitizer works here
#   2 build     CPU trainer, GPU trainers (bf16, fp32), kernel checks, the
#               ordering test builds (make -j, sm_90); llm.c in the background
#   3 kernels   every kernel against the CPU code (fresh random inputs,
#               outputs poisoned with NaN before each run; in bf16, head
#               size 64 on the tensor-core attention, T 1 to 1024), and the
#               time of attention forward + backward at GPT-2 124M's shape on
#               tensor cores and on CUDA cores
#   4 trainer   fp32 GPU trainer vs CPU trainer (every loss, gradient norm,
#               val loss, final weights) for omgd, none, lisa, reset, warmup,
#               omgd_tensor; then bf16 vs CPU
#   5 resume    a GPU checkpoint resumed on the GPU; a CPU one on the GPU; a
#               GPU one on the CPU
#   nccl        the fp32 trainer with NCCL on one rank (mpirun -np 1 where
#               there is an mpirun, else the fs rendezvous) against its run
#               without NCCL; then the bytes its collectives move per step at
#               GPT-2 124M (bf16, 2 steps) for full AdamW and OMGD 3/12
#   hf          transformers' GPT2LMHeadModel reads our export, we read its
#               files, greedy tokens of the GPU sampler = the CPU's
#               (test/gpu/check_hf_transformers.py; SKIP without transformers)
#   6 ordering  spin-kernel builds: late copies and a late update must not
#               change the run; the two mutants (update without its wait on
#               the copies; copies without their wait on the update) must
#   7 sanitize  memcheck and racecheck on the project's kernels only
#               (--kernel-name kns=_kernel: every kernel of ours ends so)
#   8 bench     GPT-2 124M, T 1024, bf16, the largest batch that fits (up to
#               64): full AdamW, LISA, OMGD 3/12 (tokens/s, MFU, peak memory)
#               and llm.c's train_gpt2.cu at the same shape and batch
# Last, one table (also $GPU_CHECK_LOGS/table.txt); full logs in GPU_CHECK_LOGS
# (default $OUT/gpu_check when OUT is set, else /tmp/gpu_check).
#
# Needs beside the repository: data/brown (scripts/prepare_data.sh),
# .gpu_deps (scripts/gpu_deps.sh: cJSON and OpenBLAS packages, for a machine
# without them) and, for the llm.c comparison, llm.c's source in LLMC_DIR
# (default .gpu_deps/llm.c: ignored by git, so it travels with .gpu_deps).
# See docs/gpu_notes.md for the one command and what to do with a failure.
#
# GPU_CHECK_STAGES="kernels trainer ...": only those stages (a second run
# after a fix; the stages after build need the build's outputs, trainer's
# runs serve resume). GPU_CHECK_LIMIT_<stage>=SECONDS: another limit.
#
# GPU_CHECK_DRY_RUN=1: on a machine without a GPU, the same script with stub
# nvidia-smi and compute-sanitizer (test/gpu/dry_run/), the engine's CPU
# build (test/host/engine_on_cpu.cuh) in place of the GPU trainers and its
# ordering mutants, the GPU code's CPU tests in place of the kernel checks,
# a small shape, and a stand-in for llm.c's binary. CI runs it
# (test/test_gpu_check_dry_run.sh) so that this script cannot rot.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

# ---- the stages (each runs in its own process: `$0 --stage NAME`, below)
NVCC=$(command -v nvcc || echo "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc")
stage_env() {
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader >"$GPU_CHECK_LOGS/device.txt" 2>&1 ||
        { fail_note "nvidia-smi failed: $(head -1 "$GPU_CHECK_LOGS/device.txt")"; return; }
    note "$(head -1 "$GPU_CHECK_LOGS/device.txt")"
    note "nvcc $("$NVCC" --version 2>/dev/null | grep -o 'release [0-9.]*' | cut -d' ' -f2)"
    local cublas
    cublas=$(ls "${CUDA_HOME:-/usr/local/cuda}"/lib64/libcublasLt.so.* 2>/dev/null | head -1)
    [ -n "$cublas" ] || cublas=$(python3 -c 'import importlib.metadata as m; print("nvidia-cublas " + m.version("nvidia-cublas"))' 2>/dev/null)
    note "cuBLAS ${cublas:-not found}"
    # compute-sanitizer: does it run a CUDA program here, and does it take
    # the kernel filters? (On some machines it refuses the device.)
    local probe=/bin/true
    if [ "$GPU_CHECK_DRY_RUN" != 1 ]; then
        probe="$GPU_CHECK_LOGS/sanitizer_probe"
        "$NVCC" $GPU_ARCH -o "$probe" test/gpu/sanitizer_probe.cu >"$GPU_CHECK_LOGS/sanitizer_probe_build.log" 2>&1 ||
            { fail_note "the sanitizer probe does not build: $(grep -m1 error "$GPU_CHECK_LOGS/sanitizer_probe_build.log")"; return; }
    fi
    local filter="--kernel-name kns=_kernel --kernel-name-exclude kns=cutlass"
    if ! command -v compute-sanitizer >/dev/null; then
        echo "none" >"$GPU_CHECK_LOGS/sanitizer_filter"
        note "compute-sanitizer: not installed"
    elif compute-sanitizer --error-exitcode 9 $filter "$probe" >"$GPU_CHECK_LOGS/sanitizer_probe.log" 2>&1; then
        echo "$filter" >"$GPU_CHECK_LOGS/sanitizer_filter"
        note "compute-sanitizer: works"
    elif filter="--kernel-name kns=_kernel" &&
         compute-sanitizer --error-exitcode 9 $filter "$probe" >"$GPU_CHECK_LOGS/sanitizer_probe.log" 2>&1; then
        echo "$filter" >"$GPU_CHECK_LOGS/sanitizer_filter"
        note "compute-sanitizer: works (without --kernel-name-exclude)"
    else
        echo "none" >"$GPU_CHECK_LOGS/sanitizer_filter"
        note "compute-sanitizer: refused here ($(grep -m1 -iE 'error|not supported' "$GPU_CHECK_LOGS/sanitizer_probe.log" | cut -c1-80))"
    fi
}

stage_build() {
    local targets=(train_gpt2 ordering_on_cpu gpu_host_tests)
    [ "$GPU_CHECK_DRY_RUN" = 1 ] && command -v mpicc >/dev/null && targets+=(build/gpu/train_gpt2_engine_on_cpu_mpi)
    [ "$GPU_CHECK_DRY_RUN" = 1 ] || targets=(train_gpt2 train_gpt2cu train_gpt2fp32cu gpu_checks gpu_ordering
                                             sample_gpt2 sample_gpt2cu sample_gpt2fp32cu)
    if make -j"$(getconf _NPROCESSORS_ONLN)" "${targets[@]}" "${MAKE_ARGS[@]}" >"$GPU_CHECK_LOGS/build.log" 2>&1; then
        note "built ${targets[*]} ($(getconf _NPROCESSORS_ONLN) jobs)"
    else
        fail_note "make failed: $(grep -m2 -E 'error' "$GPU_CHECK_LOGS/build.log" | tr '\n' ' ' | cut -c1-200)"
    fi
}

stage_kernels() {
    local bin name
    for bin in $KERNEL_CHECKS; do
        name=$(basename "$bin")
        [ -x "$bin" ] || { fail_note "$name: not built"; continue; }
        "$bin" >"$GPU_CHECK_LOGS/$name.log" 2>&1
        local rc=$?
        [ $rc -eq 0 ] || fail_note "$name: exit $rc ($(tail -1 "$GPU_CHECK_LOGS/$name.log" | cut -c1-90))"
        grep -E "PASS|FAIL|^ok|^not ok" "$GPU_CHECK_LOGS/$name.log" | sed "s/^/$name  /"
        local pass fail
        pass=$(grep -cE "PASS$|^ok" "$GPU_CHECK_LOGS/$name.log")
        fail=$(grep -cE "FAIL$|^not ok" "$GPU_CHECK_LOGS/$name.log")
        if [ "$fail" -gt 0 ] || ! [ "$pass" -gt 0 ]; then
            fail_note "$name: $fail failed of $((pass + fail)) ($(grep -m1 -E 'FAIL|^not ok|error' "$GPU_CHECK_LOGS/$name.log" | tr -s ' ' | cut -c1-90))"
        else
            note "$name $pass passed"
        fi
        # the attention timings (check_attention): to the table as they are
        grep '^timing ' "$GPU_CHECK_LOGS/$name.log" | sed 's/^timing attention fwd+bwd /attention /' | while read -r l; do note "$l"; done
    done
}

VARIANTS=("none:--set omgd.mode=none" "lisa:--set omgd.mode=lisa" "reset:--set omgd.state=reset"
          "warmup:--set omgd.warmup_steps=3" "tensor:--set omgd.mode=omgd_tensor --set omgd.active_layers=3")
stage_trainer() {
    # the CPU references in the background while the GPU runs
    local v name extra
    ( train cpu ./train_gpt2
      for v in "${VARIANTS[@]}"; do read -r -a extra <<<"${v#*:}"; train "cpu_${v%%:*}" ./train_gpt2 "${extra[@]}"; done
      touch "$RUNS/cpu.done" ) &
    local cpu_pid=$!
    train fp32 "$BIN_FP32"
    for v in "${VARIANTS[@]}"; do read -r -a extra <<<"${v#*:}"; train "fp32_${v%%:*}" "$BIN_FP32" "${extra[@]}"; done
    train bf16 "$BIN_BF16"
    wait $cpu_pid
    [ -e "$RUNS/cpu.done" ] || fail_note "the CPU reference runs did not finish"
    local n=0 bad=0
    compare fp32 "$RUNS/cpu" "$RUNS/fp32" "${FP32_TOL[@]}" || bad=$((bad + 1)); n=$((n + 1))
    for v in "${VARIANTS[@]}"; do
        name=${v%%:*}
        compare "$name" "$RUNS/cpu_$name" "$RUNS/fp32_$name" "${FP32_TOL[@]}" || bad=$((bad + 1)); n=$((n + 1))
    done
    compare bf16 "$RUNS/cpu" "$RUNS/bf16" "${BF16_TOL[@]}" || bad=$((bad + 1)); n=$((n + 1))
    note "$((n - bad)) of $n equal the CPU trainer's"
}

stage_resume() {
    [ -d "$RUNS/fp32" ] && [ -d "$RUNS/cpu" ] || { fail_note "no runs from the trainer stage"; return; }
    local p bin d tol
    resume_from() {  # resume_from NAME SOURCE BINARY: the source's checkpoint at HALF, resumed to LAST
        rm -rf "${RUNS:?}/$1"
        cp -r "$2" "$RUNS/$1"
        rm -f "$RUNS/$1"/model_$(printf %08d "$LAST").bin "$RUNS/$1"/state_$(printf %08d "$LAST").bin
        "$3" "${SMALL[@]}" --set output.dir="$RUNS/$1" --set output.resume=latest >"$RUNS/$1.out" 2>&1 ||
            { fail_note "$1: resume failed: $(tail -1 "$RUNS/$1.out")"; return 1; }
    }
    # fp32: the embedding backward's atomics change the order of sums; bf16:
    # the resumed bf16 copy is rounded to nearest from the master weights
    resume_from fp32_resumed "$RUNS/fp32" "$BIN_FP32" && compare fp32-res "$RUNS/fp32" "$RUNS/fp32_resumed" --loss-tol 1e-5 --norm-tol 1e-5 --param-tol 1e-5
    resume_from bf16_resumed "$RUNS/bf16" "$BIN_BF16" && compare bf16-res "$RUNS/bf16" "$RUNS/bf16_resumed" --loss-tol 1e-2 --norm-tol 1e-2 --param-tol 1e-2
    resume_from cpu_to_gpu "$RUNS/cpu" "$BIN_FP32" && compare cpu-gpu "$RUNS/cpu" "$RUNS/cpu_to_gpu" "${FP32_TOL[@]}"
    resume_from gpu_to_cpu "$RUNS/fp32" ./train_gpt2 && compare gpu-cpu "$RUNS/cpu" "$RUNS/gpu_to_cpu" "${FP32_TOL[@]}"
    [ $STATUS -eq 0 ] && note "resumed at step $HALF of $LAST: GPU->GPU (fp32, bf16), CPU->GPU, GPU->CPU equal the uninterrupted runs"
}

stage_nccl() {
    if ! ldd "$BIN_NCCL" 2>/dev/null | grep -E 'libnccl|libmpi' >/dev/null; then  # (not -q: with pipefail, ldd's SIGPIPE would fail it)
        note "skipped: $BIN_NCCL has no NCCL (no nccl.h where it was built)"
        STATUS=3
        return
    fi
    # the reference: the same binary's run without NCCL (NCCL_SHAPE: a batch
    # that NCCL_RANKS ranks can share)
    train nccl_ref "$BIN_FP32" "${NCCL_SHAPE[@]}" || return
    # one rank through NCCL: mpirun -np 1 (comm.init mpi) where there is one, else the fs rendezvous
    local launch=() how="fs rendezvous"
    if command -v mpirun >/dev/null && ldd "$BIN_NCCL" | grep libmpi >/dev/null; then
        launch=(mpirun --oversubscribe --allow-run-as-root -np "$NCCL_RANKS") how="mpirun, comm.init mpi"
        local v
        for v in OMP_NUM_THREADS OMGD_EMU_DEVICES LD_LIBRARY_PATH; do [ -n "${!v:-}" ] && launch+=(-x "$v"); done
        NCCL_SETS=(--set comm.init=mpi)
    else
        NCCL_SETS=(--set comm.init=fs --set comm.dir="$RUNS/nccl_rdv")
    fi
    rm -rf "$RUNS/nccl"
    if ! "${launch[@]}" "$BIN_NCCL" "${SMALL[@]}" "${NCCL_SHAPE[@]}" "${NCCL_SETS[@]}" --set output.dir="$RUNS/nccl" \
         >"$RUNS/nccl.out" 2>&1; then
        fail_note "nccl: $(basename "$BIN_NCCL") failed ($how): $(grep -m1 error "$RUNS/nccl.out" || tail -1 "$RUNS/nccl.out")"
        return
    fi
    grep -q '"comm":"NCCL"\|"comm":"MPI"' "$RUNS/nccl/log.jsonl" || fail_note "nccl: the log's start event names no NCCL"
    compare nccl "$RUNS/nccl_ref" "$RUNS/nccl" "${FP32_TOL[@]}" && note "$NCCL_RANKS rank(s) through $NCCL_WHAT ($how) equal the run without it"
    # the bytes per step of the collectives at 124M (dry run: the small model)
    local mode b
    for mode in none omgd; do
        rm -rf "$RUNS/bytes_$mode"
        "${launch[@]}" "$BIN_NCCL_BF16" "${BYTES_SHAPE[@]}" --set omgd.mode=$mode "${NCCL_SETS[@]}" \
            --set output.dir="$RUNS/bytes_$mode" >"$RUNS/bytes_$mode.out" 2>&1 ||
            { fail_note "bytes $mode: failed: $(grep -m1 error "$RUNS/bytes_$mode.out" || tail -1 "$RUNS/bytes_$mode.out")"; continue; }
    done
    b=$(python3 - "$RUNS" "$BYTES_LABEL" <<'PY'
import json, sys
def last(mode):
    recs = [r for r in map(json.loads, open(f"{sys.argv[1]}/bytes_{mode}/log.jsonl")) if r["type"] == "train"]
    return recs[-1]
try:
    full, omgd = last("none"), last("omgd")
except Exception as e:
    print(f"error: {e}")
    sys.exit(1)
mb = lambda r, k: r.get(k, 0) / 1e6
print(f"collectives per step (reduce-scatter + all-gather buffers): full AdamW {mb(full, 'bytes_collective'):.1f} MB, "
      f"{sys.argv[2]} {mb(omgd, 'bytes_collective'):.1f} MB ({omgd.get('bytes_collective', 0) / max(full.get('bytes_collective', 0), 1):.2f}x); "
      f"sent by this rank: {mb(full, 'bytes_sent'):.1f} / {mb(omgd, 'bytes_sent'):.1f} MB")
PY
) && note "$b" || fail_note "bytes per step: $b"
}

stage_hf() {
    if [ "$GPU_CHECK_DRY_RUN" = 1 ]; then note "dry run: not run (needs transformers and the GPU samplers)"; STATUS=3; return; fi
    python3 test/gpu/check_hf_transformers.py >"$GPU_CHECK_LOGS/hf.log" 2>&1
    local rc=$?
    grep -E "^(ok|not ok) - " "$GPU_CHECK_LOGS/hf.log"
    case $rc in
        0) note "$(grep -c '^ok - ' "$GPU_CHECK_LOGS/hf.log") passed: GPT2LMHeadModel reads our export, we read its files, GPU greedy = CPU" ;;
        2) note "transformers is not installed here: not run"; STATUS=3 ;;
        *) fail_note "exit $rc: $(grep -m2 -E '^not ok|error' "$GPU_CHECK_LOGS/hf.log" | tr '\n' ';' | cut -c1-200)" ;;
    esac
}

stage_ordering() {
    [ -d "$RUNS/cpu" ] || { train cpu ./train_gpt2 || return; }
    # spins on the copy stream at each switch and before each update: the run is unchanged
    train spin "$BIN_SPIN" && compare spin "$RUNS/cpu" "$RUNS/spin" "${FP32_TOL[@]}" && note "late copies and late updates: run unchanged"
    local m
    for m in no_update_wait no_copy_wait; do
        train "mutant_$m" "$BIN_MUTANT$m" || continue
        python3 scripts/compare_runs.py "$RUNS/cpu" "$RUNS/mutant_$m" --label "$m" "${FP32_TOL[@]}" >"$RUNS/cmp_$m.txt" 2>&1
        if grep -q 'weights at .*FAIL' "$RUNS/cmp_$m.txt"; then
            note "mutant $m caught ($(grep -o 'rel L2 *[0-9.e+-]*' "$RUNS/cmp_$m.txt" | tr -s ' '))"
        else
            fail_note "mutant $m NOT caught: its run equals the CPU trainer's (the spin does not expose the missing wait)"
        fi
    done
}

stage_sanitize() {
    local filter
    filter=$(cat "$GPU_CHECK_LOGS/sanitizer_filter" 2>/dev/null || echo none)
    if [ "$filter" = none ]; then
        note "skipped: compute-sanitizer does not work on this machine (stage env)"
        STATUS=3
        return
    fi
    san() {  # san TOOL NAME COMMAND...
        local tool=$1 name=$2; shift 2
        if compute-sanitizer --tool "$tool" --error-exitcode 9 $filter "$@" >"$GPU_CHECK_LOGS/${tool}_$name.log" 2>&1; then
            note "$tool $name: clean"
        else
            fail_note "$tool $name: $(grep -m1 -E 'Invalid|hazard|ERROR|rror' "$GPU_CHECK_LOGS/${tool}_$name.log" | tr -s ' ' | cut -c1-100)"
        fi
    }
    export CHECK_NO_TIMING=1  # check_attention's timings: slow under the sanitizer, and meaningless
    local checks=($KERNEL_CHECKS)  # the bf16 builds (GPU): check_kernels, check_attention
    san memcheck kernels "${checks[0]}"
    san memcheck attention "${checks[$((${#checks[@]} / 2))]}"
    san racecheck attention "${checks[$((${#checks[@]} / 2))]}"
    san racecheck kernels "${checks[0]}"
    san memcheck trainer "$BIN_BF16" "${SMALL[@]}" --set train.steps=2 --set omgd.switch_interval=1 --set train.val_every=1 \
        --set train.val_steps=1 --set output.checkpoint_every=0 --set output.dir="$RUNS/memcheck"
}

stage_bench() {
    local llmc=()
    if [ -x "$LLMC_BIN" ]; then llmc=(--llmc "$LLMC_BIN")
    else note "llm.c: not built ($(tail -1 "$GPU_CHECK_LOGS/llmc_build.log" 2>/dev/null || echo "no source in $LLMC_DIR"))"; fi
    local args=(--binary "$BIN_BF16" --quick --steps 12 --batch max)
    [ "$GPU_CHECK_DRY_RUN" = 1 ] && args=(--binary "$BIN_BF16" --quick --tiny --batch max)
    if python3 scripts/bench_gpu.py "${args[@]}" "${llmc[@]}" >"$GPU_CHECK_LOGS/bench.txt" 2>&1; then
        cat "$GPU_CHECK_LOGS/bench.txt"
        grep -E '^(none|lisa|omgd|llm\.c) ' "$GPU_CHECK_LOGS/bench.txt" | awk '$2 != "vs" {print $1 " " $2 " tok/s"}' | tr '\n' ';' | sed 's/;$//' >>"$NOTE"
        echo >>"$NOTE"
        grep -m1 '^omgd vs llm.c' "$GPU_CHECK_LOGS/bench.txt" >>"$NOTE"
        [ ${#llmc[@]} -gt 0 ] || STATUS=1
    else
        cat "$GPU_CHECK_LOGS/bench.txt"
        fail_note "bench_gpu.py failed: $(tail -1 "$GPU_CHECK_LOGS/bench.txt")"
    fi
}

# ---- one stage, run by the script itself under `timeout` (see the end)
if [ "${1:-}" = "--stage" ]; then
    STAGE=$2
    NOTE="$GPU_CHECK_LOGS/$STAGE.note"
    note() { echo "$*" >>"$NOTE"; }
    fail_note() { echo "$*" >>"$NOTE"; STATUS=1; }
    STATUS=0
    read -r -a MAKE_ARGS <<<"${GPU_CHECK_MAKE_ARGS:-}"
    RUNS="$GPU_CHECK_LOGS/runs"
    mkdir -p "$RUNS"
    # The small model: 4 blocks, heads 2 (head size 64 as in GPT-2), OMGD
    # with 2 of 4 blocks and a new period every 4 steps (3 periods: the
    # slice moves between host and device twice). The dry run: smaller.
    if [ "$GPU_CHECK_DRY_RUN" = 1 ]; then
        # switches at 2 and 4, neither on a val or checkpoint step (they
        # synchronize, which would hide the no_copy_wait mutant)
        SHAPE=(--set model.channels=32 --set model.context=16 --set train.batch_size=2 --set train.seq_len=16
               --set train.total_batch_tokens=32 --set train.steps=6 --set train.val_every=3
               --set output.checkpoint_every=3 --set omgd.switch_interval=2)
        HALF=3 LAST=6
    else
        # switches at 4 and 8, neither on a val or checkpoint step
        SHAPE=(--set model.channels=128 --set model.context=64 --set train.batch_size=4 --set train.seq_len=64
               --set train.total_batch_tokens=512 --set train.steps=12 --set train.val_every=6
               --set output.checkpoint_every=6 --set omgd.switch_interval=4)
        HALF=6 LAST=12
    fi
    SMALL=(--config configs/default.json --set model.preset= --set model.depth=4 --set model.heads=2
           --set train.val_steps=2 --set train.sample_every=0 --set output.keep_last=5
           --set optimizer.warmup_steps=2 --set omgd.mode=omgd --set omgd.active_layers=2 --set omgd.warmup_steps=0
           "${SHAPE[@]}")
    # fp32 vs CPU: the same arithmetic up to summation order (and atomics in
    # the embedding backward); bf16: 8-bit mantissas (2^-9 relative per
    # rounding), so losses move by ~1e-2.
    FP32_TOL=(--loss-tol 1e-4 --norm-tol 1e-3 --param-tol 1e-5)
    # the nccl stage's bytes per step: GPT-2 124M, 2 steps (the dry run: the small model)
    if [ "$GPU_CHECK_DRY_RUN" = 1 ]; then
        NCCL_SHAPE=(--set train.total_batch_tokens=64)  # 2 ranks (the MPI stand-in), one micro-batch each
        BYTES_SHAPE=("${SMALL[@]}" "${NCCL_SHAPE[@]}" --set train.steps=2 --set train.val_every=0 --set output.checkpoint_every=0)
        BYTES_LABEL="OMGD 2/4"
    else
        NCCL_SHAPE=()
        BYTES_SHAPE=(--config configs/default.json --set model.preset=d12 --set train.batch_size=8 --set train.seq_len=1024
                     --set train.total_batch_tokens=0 --set train.steps=2 --set train.val_every=0 --set train.sample_every=0
                     --set output.checkpoint_every=0 --set optimizer.warmup_steps=0 --set omgd.active_layers=3
                     --set omgd.switch_interval=100 --set omgd.warmup_steps=0)
        BYTES_LABEL="OMGD 3/12"
    fi
    BF16_TOL=(--loss-tol 5e-2 --norm-tol 5e-2 --param-tol 2e-2)
    train() {  # train NAME BINARY ARGS...: a run in $RUNS/NAME, output in $RUNS/NAME.out
        local name=$1 bin=$2; shift 2
        rm -rf "${RUNS:?}/$name"
        if ! "$bin" "${SMALL[@]}" "$@" --set output.dir="$RUNS/$name" >"$RUNS/$name.out" 2>&1; then
            fail_note "$name: $(basename "$bin") failed: $(tail -1 "$RUNS/$name.out")"
            return 1
        fi
    }
    compare() {  # compare LABEL REF RUN TOLERANCES...: compare_runs.py, its FAIL lines to the note
        local label=$1 ref=$2 run=$3; shift 3
        if python3 scripts/compare_runs.py "$ref" "$run" --label "$label" "$@" >"$RUNS/cmp_$label.txt" 2>&1; then
            cat "$RUNS/cmp_$label.txt"
            note "$label ok"
            return 0
        fi
        cat "$RUNS/cmp_$label.txt"
        fail_note "$label: $(grep -m2 -E 'FAIL|error' "$RUNS/cmp_$label.txt" | tr -s ' ' | tr '\n' ';')"
        return 1
    }
    stage_"$STAGE"
    exit $STATUS
fi

# ---- the run
BUDGET=${GPU_CHECK_BUDGET:-480}
SCALE=${GPU_CHECK_LIMIT_SCALE:-1}  # stage limits x SCALE (the dry run on a slow, shared CPU)
GPU_CHECK_DRY_RUN=${GPU_CHECK_DRY_RUN:-0}
if [ -n "${GPU_CHECK_LOGS:-}" ]; then :
elif [ -n "${OUT:-}" ]; then GPU_CHECK_LOGS="$OUT/gpu_check"
else GPU_CHECK_LOGS=/tmp/gpu_check; fi
LLMC_DIR=${LLMC_DIR:-.gpu_deps/llm.c}
case "$GPU_CHECK_LOGS" in /*) ;; *) GPU_CHECK_LOGS="$ROOT/$GPU_CHECK_LOGS" ;; esac
rm -rf "$GPU_CHECK_LOGS"
mkdir -p "$GPU_CHECK_LOGS" || { echo "error: cannot create the log directory $GPU_CHECK_LOGS (GPU_CHECK_LOGS)"; exit 2; }
export GPU_CHECK_LOGS GPU_CHECK_DRY_RUN LLMC_DIR
export GPU_ARCH="${GPU_ARCH:--gencode arch=compute_90,code=sm_90}"
if [ "$GPU_CHECK_DRY_RUN" = 1 ]; then
    export PATH="$ROOT/test/gpu/dry_run:$PATH"
    export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}  # a shared CPU: OpenMP's spinning threads slow tiny runs 3x
    export BIN_FP32=build/gpu/train_gpt2_engine_on_cpu BIN_BF16=build/gpu/train_gpt2_engine_on_cpu
    export BIN_SPIN=build/gpu/train_gpt2_engine_on_cpu BIN_MUTANT=build/gpu/train_gpt2_engine_on_cpu_
    export KERNEL_CHECKS="build/gpu/test_attention_host_fp32 build/gpu/test_device_slice_fp32 build/gpu/test_attention_tc_host"
    export LLMC_BIN="$ROOT/test/gpu/dry_run/llmc_train_gpt2cu"
    # NCCL's stand-in: the engine's CPU build on MPI, 2 ranks (one would not communicate)
    export BIN_NCCL=build/gpu/train_gpt2_engine_on_cpu_mpi BIN_NCCL_BF16=build/gpu/train_gpt2_engine_on_cpu_mpi
    export NCCL_RANKS=2 OMGD_EMU_DEVICES=2 NCCL_WHAT="MPI in NCCL's place" OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
else
    export BIN_FP32=./train_gpt2fp32cu BIN_BF16=./train_gpt2cu
    export BIN_SPIN=build/gpu/train_gpt2fp32cu_spin BIN_MUTANT=build/gpu/train_gpt2fp32cu_spin_
    export KERNEL_CHECKS="build/gpu/check_kernels build/gpu/check_kernels_fp32 build/gpu/check_attention build/gpu/check_attention_fp32"
    export LLMC_BIN="$GPU_CHECK_LOGS/llmc/train_gpt2cu"
    export BIN_NCCL=./train_gpt2fp32cu BIN_NCCL_BF16=./train_gpt2cu NCCL_RANKS=1 NCCL_WHAT=NCCL
fi


# ---- dependencies: the system's, or the unpacked packages of .gpu_deps/
MAKE_ARGS=()
if [ "$GPU_CHECK_DRY_RUN" != 1 ]; then
    if ! echo '#include <cjson/cJSON.h>' | cc -E -x c - >/dev/null 2>&1; then
        if ls .gpu_deps/*.deb >/dev/null 2>&1; then
            mkdir -p .gpu_deps/root
            for deb in .gpu_deps/*.deb; do dpkg -x "$deb" .gpu_deps/root; done
            MAKE_ARGS=(DEPS_ROOT="$ROOT/.gpu_deps/root")
            export LD_LIBRARY_PATH="$ROOT/.gpu_deps/root/usr/lib/x86_64-linux-gnu:$ROOT/.gpu_deps/root/usr/lib/x86_64-linux-gnu/openblas-openmp${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
        else
            echo "warning: no cJSON here and no .gpu_deps/: the builds will fail (run scripts/gpu_deps.sh where apt works and carry .gpu_deps)"
        fi
    fi
    # cuBLAS: the toolkit's, or the nvidia-cublas Python package's
    CUBLAS_ROOT=""
    if [ ! -e "${CUDA_HOME:-/usr/local/cuda}/lib64/libcublasLt.so" ] && ! ldconfig -p | grep -q 'libcublasLt.so '; then
        CUBLAS_ROOT=$(python3 -c 'import nvidia.cublas as m; print(list(m.__path__)[0])' 2>/dev/null)
        lib=$(ls "$CUBLAS_ROOT"/lib/libcublasLt.so.* 2>/dev/null | head -1)
        if [ -n "$lib" ]; then
            mkdir -p build/cublas && ln -sf "$lib" build/cublas/libcublasLt.so
            ln -sf "$(ls "$CUBLAS_ROOT"/lib/libcublas.so.* | head -1)" build/cublas/libcublas.so
            MAKE_ARGS+=(CUBLAS_ROOT="$CUBLAS_ROOT" CUBLAS_LINKDIR="$ROOT/build/cublas")
        else
            echo "warning: no libcublasLt in the CUDA toolkit nor in the nvidia-cublas package: the GPU builds will fail"
        fi
    fi
    rm -f build/gpu/check_* build/gpu/train_gpt2fp32cu_spin* train_gpt2cu train_gpt2fp32cu
fi
export GPU_CHECK_MAKE_ARGS="${MAKE_ARGS[*]}"

# llm.c's trainer at the benchmark's shape: built in the background while
# the checks run (its own nvcc line: cuBLAS, no MPI/NCCL/cuDNN)
if [ "$GPU_CHECK_DRY_RUN" != 1 ]; then
    if [ -f "$LLMC_DIR/train_gpt2.cu" ]; then
        mkdir -p "$GPU_CHECK_LOGS/llmc"
        (
            inc=() link=()
            [ -n "${CUBLAS_ROOT:-}" ] && inc=(-I"$CUBLAS_ROOT/include") && link=(-L"$ROOT/build/cublas" -Xlinker -rpath,"$CUBLAS_ROOT/lib")
            # llm.c reads NVML (GPU clocks) when nvml.h is there; then link the driver's library
            cuda=${CUDA_HOME:-/usr/local/cuda}
            if [ -e "$cuda/include/nvml.h" ]; then
                nvml=$(ls "$cuda"/lib64/stubs/libnvidia-ml.so /usr/local/nvidia/lib64/libnvidia-ml.so* \
                          /usr/lib/x86_64-linux-gnu/libnvidia-ml.so* 2>/dev/null | head -1)
                [ -n "$nvml" ] && link+=("$nvml")
            fi
            # test/gpu/llmc_cuda13.h: llm.c's cudaMemAdvise call, for CUDA 13
            cd "$LLMC_DIR" && nice "$NVCC" -O3 --threads=0 --use_fast_math -std=c++17 $GPU_ARCH "${inc[@]}" \
                -include "$ROOT/test/gpu/llmc_cuda13.h" -o "$LLMC_BIN" train_gpt2.cu "${link[@]}" -lcublas -lcublasLt && echo "llm.c built"
        ) >"$GPU_CHECK_LOGS/llmc_build.log" 2>&1 &
    else
        echo "no $LLMC_DIR/train_gpt2.cu (see docs/gpu_notes.md)" >"$GPU_CHECK_LOGS/llmc_build.log"
    fi
fi

# ---- the stages: NAME LIMIT (seconds)
T0=$(date +%s)
ROWS=()
OVERALL=0
STAGES=${GPU_CHECK_STAGES:-env build kernels trainer resume nccl hf ordering sanitize bench}
for s in "env 25" "build 180" "kernels 30" "trainer 90" "resume 30" "nccl 40" "hf 30" "ordering 45" "sanitize 60" "bench 100"; do
    name=${s% *} limit=$((${s#* } * SCALE))
    [[ " $STAGES " == *" $name "* ]] || continue
    override=GPU_CHECK_LIMIT_$name
    [ -n "${!override:-}" ] && limit=${!override}
    left=$((BUDGET - ($(date +%s) - T0)))
    [ "$limit" -gt "$left" ] && limit=$left
    t=$(date +%s)
    printf '\n== %s (limit %ss)\n' "$name" "$limit" | tee -a "$GPU_CHECK_LOGS/check.log"
    if [ "$name" = bench ] && [ "$GPU_CHECK_DRY_RUN" != 1 ] && [ -f "$LLMC_DIR/train_gpt2.cu" ]; then
        # llm.c's build (in the background since the build stage) ends first, within the budget
        while ! grep -qE 'llm.c built|error|rror' "$GPU_CHECK_LOGS/llmc_build.log" 2>/dev/null && [ $(($(date +%s) - t)) -lt "$((limit / 2))" ]; do sleep 2; done
        left=$((BUDGET - ($(date +%s) - T0)))
        [ "$limit" -gt "$left" ] && limit=$left
    fi
    if [ "$left" -lt 5 ]; then
        rc=125
    else
        timeout -k 5 "$limit" "$0" --stage "$name" 2>&1 | tee -a "$GPU_CHECK_LOGS/check.log"; rc=${PIPESTATUS[0]}
    fi
    case $rc in
        0) result=PASS ;;
        3) result=SKIP ;;
        124|137) result=TIMEOUT; OVERALL=1 ;;
        125) result=SKIP; echo "not run: the ${BUDGET}s budget is spent" >>"$GPU_CHECK_LOGS/$name.note" ;;
        *) result=FAIL; OVERALL=1 ;;
    esac
    ROWS+=("$(printf '%-9s %-7s %4ds  %s' "$name" "$result" $(($(date +%s) - t)) \
        "$(grep -v '^$' "$GPU_CHECK_LOGS/$name.note" 2>/dev/null | tr '\n' '|' | sed 's/|$//; s/|/ | /g' | cut -c1-400)")")
done
{
    echo
    echo "== GPU check, $(date -u '+%Y-%m-%d %H:%M UTC'), $([ "$GPU_CHECK_DRY_RUN" = 1 ] && echo "DRY RUN (no GPU: stubs and the engine's CPU build)" || head -1 "$GPU_CHECK_LOGS/device.txt" 2>/dev/null), $(( $(date +%s) - T0 ))s of ${BUDGET}s; logs in $GPU_CHECK_LOGS"
    printf '%-9s %-7s %5s  %s\n' stage result time notes
    printf '%s\n' "${ROWS[@]}"
    [ $OVERALL -eq 0 ] && echo "gpu check: all stages passed or skipped" || echo "gpu check: FAILURES (see the rows above and docs/gpu_notes.md)"
} | tee "$GPU_CHECK_LOGS/table.txt"
exit $OVERALL
