#!/usr/bin/env bash
# The CUDA code compiles: the GPU trainer (bf16 and fp32 builds) and the
# kernel checks, for sm_80 and sm_90, without warnings. On a machine
# without a GPU the checks and the trainer refuse to run with one clear
# line. What the kernels and the trainer compute is checked on a GPU by
# scripts/gpu_check.sh (against the CPU code and the CPU trainer).
. "$(dirname "$0")/lib.sh"
NVCC="${CUDA_HOME:-/usr/local/cuda}/bin/nvcc"
if [ ! -x "$NVCC" ]; then
    not_ok "nvcc available" "no $NVCC (install the CUDA toolkit or set CUDA_HOME)"
    finish
fi
if make -s gpu >"$SCRATCH/build.log" 2>&1; then
    ok "GPU trainer (train_gpt2cu, train_gpt2fp32cu) and kernel checks compile (sm_80 + sm_90)"
else
    not_ok "GPU trainer and kernel checks compile" "$(grep -m3 -E 'error' "$SCRATCH/build.log")"
fi
# the GPU ordering tests' spin build (scripts/gpu_check.sh), sm_90 only (its
# mutants differ from it by one #ifdef'd line each)
if make -s build/gpu/train_gpt2fp32cu_spin GPU_ARCH="-gencode arch=compute_90,code=sm_90" >>"$SCRATCH/build.log" 2>&1; then
    ok "the GPU ordering tests' spin build compiles (sm_90)"
else
    not_ok "the GPU ordering tests' spin build compiles" "$(grep -m3 -E 'error' "$SCRATCH/build.log")"
fi
check "the NVCC build has no warnings" "$(grep -m3 -i warning "$SCRATCH/build.log")" \
    bash -c '! grep -qi warning "$1"' _ "$SCRATCH/build.log"
for bin in train_gpt2cu train_gpt2fp32cu; do
    check "$bin links the CUDA engine (cuBLASLt)" "$(ldd "$bin" 2>&1 | head -3)" \
        bash -c 'ldd "$1" | grep -q libcublasLt' _ "$bin"
done
# several GPUs: the NCCL back end is linked in wherever the toolkit has NCCL
if [ -f "${CUDA_HOME:-/usr/local/cuda}/include/nccl.h" ]; then
    for bin in train_gpt2cu train_gpt2fp32cu; do
        check "$bin links the NCCL back end (libnccl, comm_nccl.c)" "$(ldd "$bin" 2>&1 | grep -c nccl) libnccl lines" \
            bash -c 'ldd "$1" | grep -q libnccl && nm "$1" | grep -q " T comm_stream$" && ! nm "$1" | grep -q refuse_if_launched' _ "$bin"
    done
fi
if ! nvidia-smi -L >/dev/null 2>&1; then
    for bin in build/gpu/check_*; do
        [ -x "$bin" ] || continue
        err="$("$bin" 2>&1 >/dev/null)"; rc=$?
        check "$(basename "$bin") without a GPU: exit 2 and one line" "exit $rc: $err" \
            bash -c '[ '$rc' -eq 2 ] && [ "$(wc -l <<<"$1")" -eq 1 ] && grep -q "^error: no CUDA device" <<<"$1"' _ "$err"
    done
    if ldd train_gpt2cu | grep -q libnccl; then  # several GPUs: one GPU per rank, none here
        err="$(OMPI_COMM_WORLD_RANK=0 OMPI_COMM_WORLD_SIZE=2 ./train_gpt2cu --config configs/default.json \
               --set comm.init=fs --set comm.dir="$SCRATCH/rdv" --set output.dir="$SCRATCH/ranks" 2>&1 >/dev/null)"; rc=$?
        check "train_gpt2cu as rank 0 of 2 without a GPU: refused with one line" "exit $rc: $err" \
            bash -c '[ '$rc' -eq 1 ] && [ "$(wc -l <<<"$1")" -eq 1 ] && grep -qE "^error: rank 0 of 2: no (usable )?CUDA device" <<<"$1"' _ "$err"
    else  # built for one GPU (no nccl.h)
        err="$(OMPI_COMM_WORLD_SIZE=2 ./train_gpt2cu --config configs/default.json --set output.dir="$SCRATCH/ranks" 2>&1 >/dev/null)"; rc=$?
        check "train_gpt2cu (built without NCCL) started as one of 2 MPI ranks: refused with one line" "exit $rc: $err" \
            bash -c '[ '$rc' -eq 1 ] && [ "$(wc -l <<<"$1")" -eq 1 ] && grep -q "^error: started as one of 2 ranks" <<<"$1"' _ "$err"
    fi
    if [ -e data/brown/brown_val_000000.bin ]; then
        err="$(./train_gpt2cu --config configs/default.json --set output.dir="$SCRATCH/run" 2>&1 >/dev/null)"; rc=$?
        check "train_gpt2cu without a GPU: exit 1 and one line, before writing a checkpoint" "exit $rc: $err" \
            bash -c '[ '$rc' -eq 1 ] && [ "$(wc -l <<<"$1")" -eq 1 ] && grep -qE "^error: no (usable )?CUDA device" <<<"$1" && ! ls "$2"/model_*.bin >/dev/null 2>&1' _ "$err" "$SCRATCH/run"
    fi
fi
finish
