#!/usr/bin/env python3
"""The GPU benchmark (run by scripts/gpu_check.sh --bench); prints one table.

1. GPT-2 124M (d12) at T = 1024, bf16 (train_gpt2cu), omgd.mode none (full
   AdamW), lisa and omgd (gamma 3 of 12, K = 100): tokens/s and ms per step
   (median over the steps after the first), MFU, the device's peak memory,
   and the device bytes of gradients + master weights + moments.
   MFU: the trainer's own (the median of its train records' "mfu"): the
   FLOPs each step needs by the model's shape (model/mfu.h: matmuls and
   causal attention; OMGD's frozen blocks' skipped weight gradients not
   counted) over the device's dense bf16 peak, which the log's start event
   names (H100 SXM 989.4 TFLOP/s; OMGD_PEAK_TFLOPS overrides).
2. The largest depth of a GPT-2-shaped model at channels 1600 (heads 25,
   T = 1024, batch 1) whose run fits, by the trainer's memory plan
   (train.plan_only): full AdamW, and OMGD (gamma 3) with state keep and
   reset (keep parks every block's moments in host memory, which can bound
   it first), and both with train.recompute 2. With --confirm, 3 real steps of the 1.5B shape (d48) in each
   mode check the plan against the measured peak.

3. With --llmc BINARY: llm.c's train_gpt2cu (built from its train_gpt2.cu by
   scripts/gpu_check.sh) at the same shape, batch and data, from a random
   init (-e d12), on the same GPU in the same run: its tokens/s (median of
   its step times after the first) and ours over it.

--quick: only tables 1 and 3 (scripts/gpu_check.sh's 8-minute run).
--tiny: a 2-block model at T 32 (the check's dry run on a CPU, where the
binary is the engine's CPU build; the figures mean nothing there).

--batch max: the largest power of two up to 64 whose full-AdamW run fits,
by the trainer's memory plan (train.plan_only); every mode and llm.c run
at that batch.

  scripts/bench_gpu.py [--batch 16|max] [--steps 30] [--confirm] [--quick] [--tiny] [--llmc BINARY]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

def device_name():
    try:
        r = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True)
    except FileNotFoundError:
        return "unknown device (no nvidia-smi)"
    return r.stdout.strip().splitlines()[0] if r.returncode == 0 and r.stdout.strip() else "unknown device"


def train(binary, run_dir, sets):
    cmd = [binary, "--config", "configs/default.json", "--set", "model.preset=", "--set", f"output.dir={run_dir}"]
    for s in sets:
        cmd += ["--set", s]
    return subprocess.run(cmd, capture_output=True, text=True)


def shape(tiny):
    """(depth, channels, heads, T) of the benchmark's model."""
    return (4, 32, 2, 16) if tiny else (12, 768, 12, 1024)


def base_124m(batch, steps, tiny=False):
    L, C, NH, T = shape(tiny)
    return [f"model.depth={L}", f"model.channels={C}", f"model.heads={NH}", f"model.context={T}", f"train.seq_len={T}",
            f"train.batch_size={batch}", f"train.total_batch_tokens={batch * T}", f"train.steps={steps}",
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


def largest_batch(binary, tmp, tiny, cap=64):
    """The largest power of two up to cap whose full AdamW run at the
    benchmark's shape fits, by the memory plan (None: not even 1)."""
    b = cap
    while b >= 1:
        d = os.path.join(tmp, f"plan_batch_{b}")
        if train(binary, d, base_124m(b, 3, tiny) + ["omgd.mode=none", "train.plan_only=true"]).returncode == 0:
            return b
        b //= 2
    return None


def run_llmc(a, tmp, T, ours):
    """llm.c's trainer at our shape and batch on our data (its shard format is
    ours); prints its row and our tokens/s over its. Returns 0 or 1."""
    data = os.path.abspath("data/brown")
    cmd = [a.llmc, "-i", f"{data}/brown_train_*.bin", "-j", f"{data}/brown_val_*.bin", "-e", "d12",
           "-b", str(a.batch), "-t", str(T), "-d", str(a.batch * T), "-x", str(a.steps),
           "-v", "0", "-s", "0", "-h", "0", "-n", "0", "-y", "0", "-o", os.path.join(tmp, "llmc")]
    os.makedirs(os.path.join(tmp, "llmc"), exist_ok=True)
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp)
    with open(os.path.join(tmp, "llmc.log"), "w") as f:
        f.write(" ".join(cmd) + "\n" + r.stdout + r.stderr)
    # its step lines: "step    2/12 | loss ... | 123.45 ms | 12.3% bf16 MFU | 123456 tok/s"
    ms, mfus = [], []
    for line in r.stdout.splitlines():
        if line.startswith("step ") and " ms |" in line:
            ms.append(float(line.split(" ms |")[0].rsplit("|", 1)[1]))
            if "% bf16 MFU" in line:
                mfus.append(float(line.split("% bf16 MFU")[0].rsplit("|", 1)[1]))
    if r.returncode != 0 or len(ms) < 2:
        tail = (r.stderr.strip() or r.stdout.strip()).splitlines()[-1:] or [""]
        print(f"llm.c  failed (exit {r.returncode}, {len(ms)} step lines): {tail[0][:200]}")
        return 1
    med = sorted(ms[1:])[len(ms[1:]) // 2]
    tps = a.batch * T / (med / 1e3)
    mfu = f"{sorted(mfus[1:])[len(mfus[1:]) // 2]:6.1f}%" if len(mfus) > 1 else "    n/a"
    print(f"llm.c  {tps:10.0f} {med:9.2f} {mfu:>7}   (llm.c's train_gpt2cu, -e d12, same B, T, data; MFU: its own)")
    for mode, ours_tps in ours.items():
        print(f"{mode} vs llm.c: {ours_tps / tps:.2f}x its tokens/s")
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="./train_gpt2cu")
    ap.add_argument("--batch", default="16", help="micro-batch rows, or max (the largest that fits, up to 64)")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--confirm", action="store_true")
    ap.add_argument("--quick", action="store_true", help="only the 124M table (and llm.c)")
    ap.add_argument("--tiny", action="store_true", help="a tiny model (dry run on a CPU)")
    ap.add_argument("--llmc", help="llm.c's train_gpt2cu binary, run at the same shape")
    a = ap.parse_args()
    L, C, NH, T = shape(a.tiny)
    name = device_name()
    tmp = tempfile.mkdtemp(prefix="bench_gpu.")
    if a.batch == "max":
        a.batch = largest_batch(a.binary, tmp, a.tiny, cap=2 if a.tiny else 64)
        if a.batch is None:
            print("no batch fits (train.plan_only refused batch 1)")
            return 1
    else:
        a.batch = int(a.batch)
    if a.tiny:
        a.batch, a.steps = min(a.batch, 2), 4
    print(f"device: {name}")
    print(f"GPT-2 {'124M' if not a.tiny else 'tiny (dry run)'}, bf16, B {a.batch} x T {T}, {a.steps} steps (median after the first)")
    print(f"{'mode':<6} {'tokens/s':>10} {'ms/step':>9} {'MFU':>7} {'peak MiB':>9} {'grads+master+moments MiB':>25} {'vs none':>8}")
    status, base_tps, base_state, ours, peak_desc = 0, None, None, {}, None
    for mode in ("none", "lisa", "omgd"):
        d = os.path.join(tmp, mode)
        r = train(a.binary, d, base_124m(a.batch, a.steps, a.tiny) + [f"omgd.mode={mode}"])
        if r.returncode != 0:
            print(f"{mode:<6} failed: {r.stderr.strip()[-200:]}")
            status = 1
            continue
        rows = [json.loads(l) for l in open(os.path.join(d, "log.jsonl"))]
        start = next(x for x in rows if x.get("type") == "event" and x.get("event") in ("start", "resume"))
        t = [x for x in rows if x.get("type") == "train"]
        ms = sorted(x["ms"] for x in t[1:])
        med = ms[len(ms) // 2]
        tps = a.batch * T / (med / 1e3)
        peak_desc = start.get("peak", "unknown (no peak in the start event)")
        mfus = sorted(x["mfu"] for x in t[1:] if x.get("mfu") is not None)
        mfu = f"{100 * mfus[len(mfus) // 2]:6.1f}%" if mfus else "    n/a"
        peak_mib = max(x.get("bytes_device_peak", 0) for x in t) / 2**20
        state = (t[-1]["bytes_grads"] + t[-1]["bytes_state_working"]) / 2**20
        if mode == "none":
            base_tps, base_state = tps, state
        ratio = f"{tps / base_tps:.2f}x tok/s, {state / base_state:.2f} mem" if base_tps else ""
        print(f"{mode:<6} {tps:10.0f} {med:9.2f} {mfu:>7} {peak_mib:9.0f} {state:25.1f} {ratio}")
        ours[mode] = tps
    if peak_desc:
        print(f"MFU over the peak of {peak_desc}")
    if a.llmc:
        status |= run_llmc(a, tmp, T, ours)
    if a.quick:
        return status
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
