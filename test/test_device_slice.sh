#!/usr/bin/env bash
# The GPU trainer's device-slice bookkeeping (omgd/device_slice.cuh), run on
# the CPU with the CUDA calls replaced by host stand-ins: after every period
# switch the state on the "device" synced to the host equals a host-only
# reference, for OMGD (keep, reset, a short last draw), LISA, warmup, full
# AdamW and omgd_tensor, in the bf16 and fp32 layouts.
. "$(dirname "$0")/lib.sh"
if ! make -s build/gpu/test_device_slice build/gpu/test_device_slice_fp32 >"$SCRATCH/build.log" 2>&1; then
    not_ok "device slice test builds" "$(grep -m3 error "$SCRATCH/build.log")"
    finish
fi
for bin in build/gpu/test_device_slice build/gpu/test_device_slice_fp32; do
    out="$("$bin" 2>&1)"; rc=$?
    echo "$out"
    if [ $rc -ne 0 ] && ! grep -q '^not ok' <<<"$out"; then not_ok "$(basename "$bin") runs" "exit $rc: $(tail -2 <<<"$out")"; fi
    grep -q '^not ok' <<<"$out" && FAILURES=$((FAILURES + 1))
done
finish
