#!/usr/bin/env python3
"""The GPU benchmark (run by scripts/gpu_check.sh --bench); prints one table.

1. GPT-2 124M (d12) at T = 1024, bf16 (train_gpt2cu), omgd.mode none (full
   AdamW), lisa and omgd (gamma 3 of 12, K = 100): tokens/s and ms per step
   (median over the steps after the first), MFU, the device's peak memory,
   and the device bytes of gradients + master weights + moments.
   MFU = tokens/s x (6 N + 12 L C T) / peak, N every parameter (the FLOPs of
   full training: OMGD's frozen blocks skip their weight gradients, so its
   MFU by this count can pass 100% of what it computes); peak: the dense
   bf16 tensor rate of the device, from its name (H100 SXM 989 TFLOP/s).
2. The largest depth of a GPT-2-shaped model at channels 1600 (heads 25,
   T = 1024, batch 1) whose run fits, by the trainer's memory plan
   (train.plan_only): full AdamW, and OMGD (gamma 3) with state keep and
   reset (keep parks every block's moments in host memory, which can bound
   it first), and both with train.recompute 2. With --confirm, 3 real steps of the 1.5B shape (d48) in each
   mode check the plan against the measured peak.

  scripts/bench_gpu.py [--batch 16] [--steps 30] [--confirm]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

PEAKS = [("H200", 989.4e12), ("H100 PCIe", 756e12), ("H100 NVL", 835e12), ("H100", 989.4e12), ("A100", 312e12)]


def device_name():
    try:
        r = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True)
    except FileNotFoundError:
        return "unknown device (no nvidia-smi)"
    return r.stdout.strip().splitlines()[0] if r.returncode == 0 and r.stdout.strip() else "unknown device"


def peak_flops(name):
    for key, flops in PEAKS:
        if key in name:
            return flops
    return None


def train(binary, run_dir, sets):
    cmd = [binary, "--config", "configs/default.json", "--set", "model.preset=", "--set", f"output.dir={run_dir}"]
    for s in sets:
        cmd += ["--set", s]
    return subprocess.run(cmd, capture_output=True, text=True)


def base_124m(batch, steps):
    return ["model.depth=12", "model.channels=768", "model.heads=12", "model.context=1024", "train.seq_len=1024",
            f"train.batch_size={batch}", f"train.total_batch_tokens={batch * 1024}", f"train.steps={steps}",
            "train.val_every=0", "train.sample_every=0", "output.checkpoint_every=0", "optimizer.warmup_steps=0",
            "omgd.warmup_steps=0", "omgd.active_layers=3", "omgd.switch_interval=100"]


def fits(binary, tmp, depth, mode, state, recompute=0):
    sets = [f"model.depth={depth}", "model.channels=1600", "model.heads=25", "model.context=1024",
            "train.seq_len=1024", "train.batch_size=1", "train.total_batch_tokens=1024", "train.steps=3",
            "train.val_every=0", "train.sample_every=0", "optimizer.warmup_steps=0", f"omgd.mode={mode}",
            "omgd.active_layers=3", "omgd.switch_interval=100", "omgd.warmup_steps=0", f"omgd.state={state}",
            f"train.recompute={recompute}", "train.plan_only=true"]
    r = train(binary, os.path.join(tmp, f"plan_{mode}_{state}_{recompute}_{depth}"), sets)
    return r.returncode == 0, r


def largest_depth(binary, tmp, mode, state, recompute):
    lo, hi = 0, 4  # omgd.active_layers is 3: start above it
    while fits(binary, tmp, hi, mode, state, recompute)[0]:
        lo, hi = hi, hi * 2
        if hi > 4096:
            return lo, "over 4096"
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fits(binary, tmp, mid, mode, state, recompute)[0]:
            lo = mid
        else:
            hi = mid
    why = fits(binary, tmp, hi, mode, state, recompute)[1].stderr.strip().splitlines()[-1:]
    return lo, why[0][:160] if why else ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="./train_gpt2cu")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--confirm", action="store_true")
    a = ap.parse_args()
    name = device_name()
    peak = peak_flops(name)
    tmp = tempfile.mkdtemp(prefix="bench_gpu.")
    print(f"device: {name}; peak used for MFU: {peak / 1e12:.0f} TFLOP/s" if peak else f"device: {name}; MFU: peak unknown")
    print(f"GPT-2 124M, bf16, B {a.batch} x T 1024, {a.steps} steps (median after the first)")
    print(f"{'mode':<6} {'tokens/s':>10} {'ms/step':>9} {'MFU':>7} {'peak MiB':>9} {'grads+master+moments MiB':>25} {'vs none':>8}")
    status, base_tps, base_state = 0, None, None
    for mode in ("none", "lisa", "omgd"):
        d = os.path.join(tmp, mode)
        r = train(a.binary, d, base_124m(a.batch, a.steps) + [f"omgd.mode={mode}"])
        if r.returncode != 0:
            print(f"{mode:<6} failed: {r.stderr.strip()[-200:]}")
            status = 1
            continue
        rows = [json.loads(l) for l in open(os.path.join(d, "log.jsonl"))]
        start = next(x for x in rows if x.get("type") == "event" and x.get("event") in ("start", "resume"))
        t = [x for x in rows if x.get("type") == "train"]
        ms = sorted(x["ms"] for x in t[1:])
        med = ms[len(ms) // 2]
        tps = a.batch * 1024 / (med / 1e3)
        n = start["num_params"]
        flops_per_token = 6 * n + 12 * 12 * 768 * 1024
        mfu = f"{100 * tps * flops_per_token / peak:6.1f}%" if peak else "    n/a"
        peak_mib = max(x.get("bytes_device_peak", 0) for x in t) / 2**20
        state = (t[-1]["bytes_grads"] + t[-1]["bytes_state_working"]) / 2**20
        if mode == "none":
            base_tps, base_state = tps, state
        ratio = f"{tps / base_tps:.2f}x tok/s, {state / base_state:.2f} mem" if base_tps else ""
        print(f"{mode:<6} {tps:10.0f} {med:9.2f} {mfu:>7} {peak_mib:9.0f} {state:25.1f} {ratio}")
    print("\nlargest depth at channels 1600 (heads 25, T 1024, batch 1) that fits, by the memory plan:")
    for mode, state, recompute in (("none", "keep", 0), ("omgd", "keep", 0), ("omgd", "reset", 0),
                                   ("none", "keep", 2), ("omgd", "keep", 2)):
        depth, why = largest_depth(a.binary, tmp, mode, state, recompute)
        params = depth * 12 * 1600 * 1600 / 1e9
        print(f"  omgd.mode {mode:<4} state {state:<5} recompute {recompute}: depth {depth:>4} "
              f"(~{params:.1f}B block parameters); one more: {why}")
    if a.confirm:
        print("\n1.5B shape (d48), 3 real steps, batch 1:")
        for mode in ("none", "omgd"):
            d = os.path.join(tmp, f"d48_{mode}")
            sets = ["model.depth=48", "model.channels=1600", "model.heads=25", "model.context=1024",
                    "train.seq_len=1024", "train.batch_size=1", "train.total_batch_tokens=1024", "train.steps=3",
                    "train.val_every=0", "train.sample_every=0", "output.checkpoint_every=0",
                    "optimizer.warmup_steps=0", f"omgd.mode={mode}", "omgd.active_layers=3",
                    "omgd.switch_interval=100", "omgd.warmup_steps=0"]
            r = train(a.binary, d, sets)
            plan = next((l for l in r.stdout.splitlines() if l.startswith("memory plan")), "")
            if r.returncode != 0:
                print(f"  {mode}: failed: {r.stderr.strip()[-200:]}")
                status = 1
                continue
            t = [json.loads(l) for l in open(os.path.join(d, "log.jsonl"))]
            peak_mib = max(x.get("bytes_device_peak", 0) for x in t if x.get("type") == "train") / 2**20
            print(f"  {mode}: measured peak {peak_mib:.0f} MiB; {plan}")
    return status


if __name__ == "__main__":
    sys.exit(main())
