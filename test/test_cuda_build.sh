#!/usr/bin/env bash
# The CUDA code compiles (bf16 and fp32 builds, sm_80 and sm_90) and, on a
# machine without a GPU, the checks refuse to run with one clear line.
# What the kernels compute is checked on a GPU by scripts/gpu_check.sh.
. "$(dirname "$0")/lib.sh"
NVCC="${CUDA_HOME:-/usr/local/cuda}/bin/nvcc"
if [ ! -x "$NVCC" ]; then
    not_ok "nvcc available" "no $NVCC (install the CUDA toolkit or set CUDA_HOME)"
    finish
fi
if make -s gpu_checks >"$SCRATCH/build.log" 2>&1; then
    ok "CUDA kernels and their checks compile (bf16 and fp32, sm_80 + sm_90)"
else
    not_ok "CUDA kernels and their checks compile" "$(grep -m3 -E 'error' "$SCRATCH/build.log")"
fi
check "the NVCC build has no warnings" "$(grep -m3 -i warning "$SCRATCH/build.log")" \
    bash -c '! grep -qi warning "$1"' _ "$SCRATCH/build.log"
if ! nvidia-smi -L >/dev/null 2>&1; then
    for bin in build/gpu/check_*; do
        [ -x "$bin" ] || continue
        err="$("$bin" 2>&1 >/dev/null)"; rc=$?
        check "$(basename "$bin") without a GPU: exit 2 and one line" "exit $rc: $err" \
            bash -c '[ '$rc' -eq 2 ] && [ "$(wc -l <<<"$1")" -eq 1 ] && grep -q "^error: no CUDA device" <<<"$1"' _ "$err"
    done
fi
finish
