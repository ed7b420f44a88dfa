#!/usr/bin/env python3
"""Tokens/s of the CPU trainer for a few model sizes and thread counts.

Runs ./train_gpt2 for a handful of steps per setting on the Brown shards
(no validation, samples or checkpoints) and prints one table. The first
step of each run is a warm-up and is left out of the average.

    /usr/bin/python3 scripts/bench_cpu.py [--steps 6] [--threads 1,2] [--models d2,d4]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = {  # name: (depth, channels, heads)
    "d2": (2, 128, 4),
    "d4": (4, 256, 4),
    "d6": (6, 384, 6),
    "d12": (12, 768, 12),
}


def run(model, threads, steps, batch, seq):
    depth, channels, heads = MODELS[model]
    with tempfile.TemporaryDirectory() as out:
        cmd = [os.path.join(ROOT, "train_gpt2"), "--config", os.path.join(ROOT, "configs/default.json"),
               "--set", f"model.depth={depth}", "--set", f"model.channels={channels}",
               "--set", f"model.heads={heads}", "--set", "model.preset=",
               "--set", f"train.batch_size={batch}", "--set", f"train.seq_len={seq}",
               "--set", "train.total_batch_tokens=0", "--set", "optimizer.warmup_steps=0",
               "--set", f"train.steps={steps}", "--set", "train.val_every=0",
               "--set", "train.sample_every=0", "--set", "output.checkpoint_every=0",
               "--set", "output.resume=", "--set", f"output.dir={out}"]
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
        p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit(f"error: {' '.join(cmd)} failed: {p.stderr.strip()}")
        recs = [json.loads(l) for l in open(os.path.join(out, "log.jsonl"))]
        train = [r for r in recs if r["type"] == "train"][1:]
        params = next(r["num_params"] for r in recs if r.get("event") == "start")
        ms = sum(r["ms"] for r in train) / len(train)
        return params, ms, batch * seq / (ms / 1e3)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--models", default="d2,d4,d6")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=64)
    a = ap.parse_args()
    if not os.path.exists(os.path.join(ROOT, "train_gpt2")):
        sys.exit("error: ./train_gpt2 not built (run make)")
    print(f"CPU trainer, B={a.batch} T={a.seq}, fp32, {a.steps} steps (first left out); nproc={os.cpu_count()}")
    print(f"{'model':6} {'params':>10} {'threads':>7} {'ms/step':>9} {'tokens/s':>9}")
    for m in a.models.split(","):
        for t in a.threads.split(","):
            params, ms, tps = run(m, int(t), a.steps, a.batch, a.seq)
            print(f"{m:6} {params:>10,} {t:>7} {ms:>9.1f} {tps:>9.0f}", flush=True)


if __name__ == "__main__":
    main()
