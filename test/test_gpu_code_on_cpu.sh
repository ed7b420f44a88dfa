#!/usr/bin/env bash
# GPU code run on the CPU, without a GPU (test/host/test_*.cu, bf16 and
# fp32 layouts): the device slice's bookkeeping and the fused update
# through it against the CPU trainer's update (OMGD keep/reset, LISA,
# warmup, full AdamW, omgd_tensor), and the attention kernels' tiling
# against the CPU attention. The CUDA calls of the slice are replaced by
# host stand-ins; the kernels' per-tile code is shared with the GPU.
. "$(dirname "$0")/lib.sh"
if ! make -s gpu_host_tests >"$SCRATCH/build.log" 2>&1; then
    not_ok "GPU code's CPU tests build" "$(grep -m3 error "$SCRATCH/build.log")"
    finish
fi
for src in test/host/test_*.cu; do
    for bin in "build/gpu/$(basename "$src" .cu)" "build/gpu/$(basename "$src" .cu)_fp32"; do
        out="$("$bin" 2>&1)"; rc=$?
        echo "$out"
        if [ $rc -ne 0 ] && ! grep -q '^not ok' <<<"$out"; then not_ok "$(basename "$bin") runs" "exit $rc: $(tail -2 <<<"$out")"; fi
        grep -q '^not ok' <<<"$out" && FAILURES=$((FAILURES + 1))
    done
done
finish
