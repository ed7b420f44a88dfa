#!/usr/bin/env bash
# The GPU check, for a machine with a GPU (no MPI or NCCL needed). Builds the
# CPU trainer, the GPU trainer (bf16 and fp32) and the kernel checks for
# sm_90, then prints one table:
#   1. every kernel against the CPU code (test/gpu/check_*.cu)
#   2. the GPU trainer against the CPU trainer: the same small model, data
#      and OMGD schedule; every train loss, gradient norm and val loss, and
#      the weights after 12 steps (scripts/compare_runs.py)
#   3. a resumed GPU run against an uninterrupted one
#   4. compute-sanitizer memcheck on the checks and on two trainer steps,
#      racecheck on the attention kernels
# then, with --bench, the benchmark (scripts/bench_gpu.py); --bench-only
# sets up, builds what is missing and runs only the benchmark.
#
# Needs data/brown/ (scripts/prepare_data.sh makes it; carry it to the GPU
# machine) and cJSON and OpenBLAS: where the machine lacks them, run
# scripts/gpu_deps.sh on a machine with apt first and carry .gpu_deps/.
#   scripts/gpu_check.sh [--bench | --bench-only]   (GPU_ARCH=... for another GPU)
# Paste the table into docs/gpu_notes.md with the date and the device.
set -uo pipefail
cd "$(dirname "$0")/.."
export GPU_ARCH="${GPU_ARCH:--gencode arch=compute_90,code=sm_90}"
OUT_DIR="${OUT:-/tmp/gpu_check}"
mkdir -p "$OUT_DIR"
nvidia-smi -L 2>/dev/null || { echo "error: no GPU visible (nvidia-smi -L failed)"; exit 2; }
nvcc --version | tail -1
[ -e data/brown/brown_val_000000.bin ] || { echo "error: data/brown/ is missing: run scripts/prepare_data.sh (and carry data/brown)"; exit 2; }

# ---- dependencies: the system's, or the unpacked packages of .gpu_deps/
MAKE_ARGS=()
if ! echo '#include <cjson/cJSON.h>' | cc -E -x c - >/dev/null 2>&1; then
    ls .gpu_deps/*.deb >/dev/null 2>&1 || { echo "error: no cJSON here and no .gpu_deps/: run scripts/gpu_deps.sh where apt works and carry .gpu_deps"; exit 2; }
    mkdir -p .gpu_deps/root
    for deb in .gpu_deps/*.deb; do dpkg -x "$deb" .gpu_deps/root || exit 1; done
    MAKE_ARGS=(DEPS_ROOT="$PWD/.gpu_deps/root")
    export LD_LIBRARY_PATH="$PWD/.gpu_deps/root/usr/lib/x86_64-linux-gnu:$PWD/.gpu_deps/root/usr/lib/x86_64-linux-gnu/openblas-openmp${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    echo "using cJSON and OpenBLAS from .gpu_deps/"
fi
# cuBLASLt: the toolkit's, or the nvidia-cublas Python package's
if [ ! -e "${CUDA_HOME:-/usr/local/cuda}/lib64/libcublasLt.so" ] && ! ldconfig -p | grep -q 'libcublasLt.so '; then
    root=$(python3 -c 'import nvidia.cublas as m; print(list(m.__path__)[0])' 2>/dev/null)
    lib=$(ls "$root"/lib/libcublasLt.so.* 2>/dev/null | head -1)
    [ -n "$lib" ] || { echo "error: no libcublasLt in the CUDA toolkit nor in the nvidia-cublas package"; exit 2; }
    mkdir -p build/cublas && ln -sf "$lib" build/cublas/libcublasLt.so
    MAKE_ARGS+=(CUBLAS_ROOT="$root" CUBLAS_LINKDIR="$PWD/build/cublas")
    echo "using cuBLASLt from $root"
fi
[ "${1:-}" = "--bench-only" ] || rm -f build/gpu/check_* train_gpt2cu train_gpt2fp32cu
if ! make -j"$(nproc)" train_gpt2 train_gpt2cu train_gpt2fp32cu gpu_checks "${MAKE_ARGS[@]}" >"$OUT_DIR/build.log" 2>&1; then
    grep -m10 -E "error|Error" "$OUT_DIR/build.log"
    exit 1
fi
status=0
if [ "${1:-}" = "--bench-only" ]; then
    python3 scripts/bench_gpu.py --confirm
    exit $?
fi

printf '\n== kernels against the CPU code\n'
for bin in build/gpu/check_*; do
    name=$(basename "$bin")
    "$bin" >"$OUT_DIR/$name.log" 2>&1; rc=$?
    [ $rc -eq 0 ] || status=1
    grep -E "PASS|FAIL" "$OUT_DIR/$name.log" | sed "s/^/$name  /"
    [ $rc -eq 0 ] || grep -qE "PASS|FAIL" "$OUT_DIR/$name.log" || echo "$name  FAIL (exit $rc): $(tail -1 "$OUT_DIR/$name.log")"
done

# ---- the trainers on one small model: 4 blocks, C 128, heads 2 (head size
# 64, as in every GPT-2), T 64, OMGD with 2 of 4 blocks, a new period every
# 4 steps (3 periods: the slice moves between host and device twice).
RUNS="$OUT_DIR/runs"
rm -rf "$RUNS"
SMALL=(--config configs/default.json --set model.preset= --set model.depth=4 --set model.channels=128
       --set model.heads=2 --set model.context=64 --set train.batch_size=4 --set train.seq_len=64
       --set train.total_batch_tokens=512 --set train.steps=12 --set train.val_every=6 --set train.val_steps=4
       --set train.sample_every=0 --set output.checkpoint_every=6 --set output.keep_last=5
       --set optimizer.warmup_steps=2 --set omgd.mode=omgd --set omgd.active_layers=2 --set omgd.switch_interval=4
       --set omgd.warmup_steps=0)
run() {  # run NAME BINARY ARGS...: logs to $RUNS/NAME.out
    local name=$1 bin=$2; shift 2
    local t0=$(date +%s%N)
    if ! "$bin" "$@" --set output.dir="$RUNS/$name" >"$RUNS/$name.out" 2>&1; then
        echo "$name: $bin failed:"; tail -3 "$RUNS/$name.out"; status=1; return 1
    fi
    printf '%-10s %6d ms  %s\n' "$name" $(( ($(date +%s%N) - t0) / 1000000 )) "$(grep -m1 '^engine:' "$RUNS/$name.out")"
}
mkdir -p "$RUNS"
printf '\n== GPU trainer against the CPU trainer (12 OMGD steps, 3 periods)\n'
run cpu ./train_gpt2 "${SMALL[@]}"
run fp32 ./train_gpt2fp32cu "${SMALL[@]}"
run bf16 ./train_gpt2cu "${SMALL[@]}"
# fp32: the same arithmetic as the CPU up to summation order (and atomics in
# the embedding backward); bf16: weights and activations keep 8 bits
# (2^-9 = 2e-3 relative per rounding), so losses move by ~1e-2.
scripts/compare_runs.py "$RUNS/cpu" "$RUNS/fp32" --label fp32 --loss-tol 1e-4 --norm-tol 1e-3 --param-tol 1e-5 || status=1
scripts/compare_runs.py "$RUNS/cpu" "$RUNS/bf16" --label bf16 --loss-tol 5e-2 --norm-tol 5e-2 --param-tol 2e-2 || status=1
# every way the device slice changes: full AdamW (never), LISA and OMGD
# with reset (blocks swap slots on the copy stream, moments dropped),
# warmup then masking (the slots shrink: repacked), omgd_tensor (repacked
# at every switch)
for v in "none:--set omgd.mode=none" "lisa:--set omgd.mode=lisa" "reset:--set omgd.state=reset" \
         "warmup:--set omgd.warmup_steps=5" "tensor:--set omgd.mode=omgd_tensor --set omgd.active_layers=3"; do
    name=${v%%:*}; read -r -a extra <<<"${v#*:}"
    run "cpu_$name" ./train_gpt2 "${SMALL[@]}" "${extra[@]}" &&
    run "fp32_$name" ./train_gpt2fp32cu "${SMALL[@]}" "${extra[@]}" &&
    scripts/compare_runs.py "$RUNS/cpu_$name" "$RUNS/fp32_$name" --label "$name" --loss-tol 1e-4 --norm-tol 1e-3 --param-tol 1e-5 || status=1
done

printf '\n== resume on the GPU (fp32 and bf16: checkpoint 6 of 12, resumed)\n'
for p in fp32 bf16; do
    d="$RUNS/${p}_resumed"
    cp -r "$RUNS/$p" "$d"
    rm -f "$d"/model_00000012.bin "$d"/state_00000012.bin
    bin=./train_gpt2fp32cu; [ $p = bf16 ] && bin=./train_gpt2cu
    if "$bin" "${SMALL[@]}" --set output.dir="$d" --set output.resume=latest >"$d.out" 2>&1; then
        # fp32: atomics in the embedding backward change the order of sums;
        # bf16: the resumed bf16 copy is rounded to nearest from the master
        tol=1e-5; [ $p = bf16 ] && tol=1e-2
        scripts/compare_runs.py "$RUNS/$p" "$d" --label "$p-res" --loss-tol $tol --norm-tol $tol --param-tol $tol || status=1
    else
        echo "$p resume failed:"; tail -3 "$d.out"; status=1
    fi
done

# a CPU checkpoint (step 6) resumed by the fp32 GPU trainer: the same run
d="$RUNS/cpu_to_gpu"
cp -r "$RUNS/cpu" "$d"
rm -f "$d"/model_00000012.bin "$d"/state_00000012.bin
if ./train_gpt2fp32cu "${SMALL[@]}" --set output.dir="$d" --set output.resume=latest >"$d.out" 2>&1; then
    scripts/compare_runs.py "$RUNS/cpu" "$d" --label cpu-gpu --loss-tol 1e-4 --norm-tol 1e-3 --param-tol 1e-5 || status=1
else
    echo "CPU checkpoint resumed on the GPU failed:"; tail -3 "$d.out"; status=1
fi

printf '\n== memory and speed of the small runs (from their logs)\n'
for name in cpu fp32 bf16; do
    /usr/bin/env python3 - "$RUNS/$name/log.jsonl" "$name" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
t = [r for r in rows if r.get("type") == "train"]
ms = sorted(r["ms"] for r in t[1:])
peak = max((r.get("bytes_device_peak", 0) for r in t), default=0)
print(f"{sys.argv[2]:<6} median {ms[len(ms)//2]:8.2f} ms/step  grads {t[-1]['bytes_grads']/2**20:7.2f} MiB  "
      f"state {t[-1]['bytes_state_working']/2**20:7.2f} MiB working + {t[-1]['bytes_state_parked']/2**20:7.2f} parked"
      + (f"  device peak {peak/2**20:8.1f} MiB" if peak else ""))
EOF
done

printf '\n== compute-sanitizer memcheck\n'
memcheck() {  # memcheck NAME COMMAND...
    local name=$1; shift
    if compute-sanitizer --tool memcheck --error-exitcode 9 "$@" >"$OUT_DIR/memcheck_$name.log" 2>&1; then
        echo "$name: no memcheck errors"
    else
        status=1
        echo "$name: memcheck errors or failure, see memcheck_$name.log"
        grep -m5 -E "Invalid|ERROR|error" "$OUT_DIR/memcheck_$name.log"
    fi
}
memcheck check_kernels build/gpu/check_kernels
memcheck check_attention build/gpu/check_attention
# shared-memory races in the tiled attention kernels
if compute-sanitizer --tool racecheck --error-exitcode 9 build/gpu/check_attention >"$OUT_DIR/racecheck.log" 2>&1; then
    echo "check_attention: no racecheck hazards"
else
    status=1
    echo "check_attention: racecheck hazards, see racecheck.log"
    grep -m5 -E "hazard|ERROR|error" "$OUT_DIR/racecheck.log"
fi
memcheck train_gpt2cu ./train_gpt2cu "${SMALL[@]}" --set train.steps=2 --set omgd.switch_interval=1 \
    --set train.val_every=1 --set train.val_steps=1 --set output.dir="$RUNS/memcheck"

if [ "${1:-}" = "--bench" ]; then
    printf '\n== benchmark\n'
    python3 scripts/bench_gpu.py --confirm || status=1
fi
echo
[ $status -eq 0 ] && echo "gpu check: all passed" || echo "gpu check: FAILURES above"
exit $status
