#!/usr/bin/env bash
# The GPU check, for a machine with a GPU (no MPI or NCCL needed): builds the
# CUDA code for sm_90, compares every kernel with the CPU reference (bf16 and
# fp32 builds), runs the checks once under compute-sanitizer memcheck, and
# prints one table. Paste the table into docs/gpu_notes.md with the date.
#   scripts/gpu_check.sh            (GPU_ARCH=... to build for another GPU)
set -uo pipefail
cd "$(dirname "$0")/.."
export GPU_ARCH="${GPU_ARCH:--gencode arch=compute_90,code=sm_90}"
OUT_DIR="${OUT:-/tmp/gpu_check}"
mkdir -p "$OUT_DIR"
nvidia-smi -L 2>/dev/null || { echo "error: no GPU visible (nvidia-smi -L failed)"; exit 2; }
nvcc --version | tail -1
# The CPU reference the checks link: model/cpu_layers.c and common/error.c.
# The GPU machine may lack OpenBLAS: then a plain sgemm stands in (the
# kernels compared here do not use it).
mkdir -p build/model build/common build/gpu
BLAS_ARGS=(OPENBLAS_OPENMP=/nonexistent)
if echo '#include <cblas.h>' | cc -E -x c - >/dev/null 2>&1 && echo 'int main(void){return 0;}' | cc -x c - -lopenblas -o /dev/null 2>/dev/null; then
    cc -O2 -std=c11 -fopenmp -D_GNU_SOURCE -I. -c -o build/model/cpu_layers.o model/cpu_layers.c || exit 1
else
    echo "note: no OpenBLAS here; the CPU reference uses test/gpu/shim (plain sgemm)"
    cc -O2 -std=c11 -fopenmp -D_GNU_SOURCE -I. -Itest/gpu/shim -c -o build/model/cpu_layers_only.o model/cpu_layers.c || exit 1
    cc -O2 -std=c11 -c -o build/model/cblas_shim.o test/gpu/shim/cblas_shim.c || exit 1
    ld -r -o build/model/cpu_layers.o build/model/cpu_layers_only.o build/model/cblas_shim.o || exit 1
    BLAS_ARGS=(NVCC_BLAS=)
fi
cc -O2 -std=c11 -D_GNU_SOURCE -I. -c -o build/common/error.o common/error.c || exit 1
touch build/model/cpu_layers.o build/common/error.o  # newer than their sources: make keeps them
rm -f build/gpu/check_*
make -s gpu_checks "${BLAS_ARGS[@]}" >"$OUT_DIR/build.log" 2>&1 || { tail -20 "$OUT_DIR/build.log"; exit 1; }

printf '\n%-8s %-40s %s\n' build check result
status=0
for bin in build/gpu/check_*; do
    name=$(basename "$bin")
    "$bin" >"$OUT_DIR/$name.log" 2>&1; rc=$?
    [ $rc -eq 0 ] || status=1
    grep -E "PASS|FAIL" "$OUT_DIR/$name.log" | sed "s/^/$name  /"
done
printf '\nmemcheck:\n'
for bin in build/gpu/check_kernels build/gpu/check_attention; do
    [ -x "$bin" ] || continue
    if compute-sanitizer --tool memcheck --error-exitcode 9 "$bin" >"$OUT_DIR/memcheck_$(basename "$bin").log" 2>&1; then
        echo "$(basename "$bin"): no memcheck errors"
    else
        status=1
        echo "$(basename "$bin"): memcheck errors, see $OUT_DIR/memcheck_$(basename "$bin").log"
        grep -m5 -E "Invalid|ERROR" "$OUT_DIR/memcheck_$(basename "$bin").log"
    fi
done
echo
echo "not yet part of this check (no GPU trainer yet): trainer-vs-CPU comparison, benchmark of GPT-2 124M"
exit $status
