#!/usr/bin/env python3
"""A GPT-2 recipe against its OMGD twin (configs/gpt2_SIZE.json and
gpt2_SIZE_omgd.json) on the CPU: the recipes' own model, optimizer and
OMGD settings, shortened to a few hundred steps on the Brown corpus with
a small batch, the same tokens in the same order for both. Prints final
train/val loss, step time and the bytes of gradients and optimizer state,
and writes a PNG of the two loss curves.

    /usr/bin/python3 scripts/bench_recipe.py [--size 124M] [--steps 200] [--batch 4] [--seq 128]

What is shortened, in proportion to steps / the recipe's steps: the
learning-rate warmup, OMGD's full-parameter warmup and the mask period K
(at least 10 steps); gamma, the learning rates, betas, weight decay and
clipping are the recipe's. Validation: 20 windows of the Brown
validation split, 4 times per run.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

from bench_omgd import ROOT, plot, print_table, summarize


def run(name, config, out, a, shorten):
    d = os.path.join(out, name)
    shutil.rmtree(d, ignore_errors=True)
    sets = {"data.train": "data/brown/brown_train_*.bin", "data.val": "data/brown/brown_val_*.bin",
            "data.tokenizer": "data/brown/gpt2_tokenizer.bin", "train.batch_size": a.batch, "train.seq_len": a.seq,
            "train.total_batch_tokens": 0, "train.steps": a.steps, "train.val_every": a.steps // 4,
            "train.val_steps": 20, "train.sample_every": 0, "output.checkpoint_every": 0, "output.dir": d, **shorten}
    cmd = [os.path.join(ROOT, "train_gpt2"), "--config", config]
    for k, v in sets.items():
        cmd += ["--set", f"{k}={v}"]
    print(f"running {name} ...", file=sys.stderr, flush=True)
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"error: {name} failed: {p.stderr.strip()}")
    return summarize(name, d, a.batch * a.seq)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="124M", help="124M, 350M, 774M or 1558M")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--out", default=os.path.join(ROOT, "runs", "bench_recipe"))
    a = ap.parse_args()
    if not os.path.exists(os.path.join(ROOT, "train_gpt2")):
        sys.exit("error: ./train_gpt2 not built (run make)")
    base = os.path.join(ROOT, "configs", f"gpt2_{a.size}.json")
    twin = os.path.join(ROOT, "configs", f"gpt2_{a.size}_omgd.json")
    for f in (base, twin):
        if not os.path.exists(f):
            sys.exit(f"error: {f}: no such recipe (--size expects 124M, 350M, 774M or 1558M)")
    rb, rt = json.load(open(base)), json.load(open(twin))
    scale = a.steps / rb["train"]["steps"]
    shorten = {"optimizer.warmup_steps": max(1, round(rb["optimizer"]["warmup_steps"] * scale))}
    k = max(10, round(rt["omgd"]["switch_interval"] * scale))
    omgd_warm = round(rt["omgd"]["warmup_steps"] * scale)
    out = os.path.join(a.out, a.size)
    os.makedirs(out, exist_ok=True)
    rows = [run(f"gpt2_{a.size}", base, out, a, shorten),
            run(f"gpt2_{a.size}_omgd", twin, out, a,
                {**shorten, "omgd.switch_interval": k, "omgd.warmup_steps": omgd_warm})]
    print(f"configs/gpt2_{a.size}.json vs gpt2_{a.size}_omgd.json on the Brown corpus: B={a.batch} T={a.seq}, "
          f"{a.steps} steps ({a.steps * a.batch * a.seq} tokens, the same for both), lr warmup "
          f"{shorten['optimizer.warmup_steps']}, OMGD gamma {rt['omgd']['active_layers']}, K {k}, "
          f"full-parameter warmup {omgd_warm} steps; CPU fp32, {os.cpu_count()} cores")
    print_table(rows)
    png = os.path.join(out, "loss_curves.png")
    plot(rows, png)
    print(f"plot: {png}")


if __name__ == "__main__":
    main()
