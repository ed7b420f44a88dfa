#!/usr/bin/env python3
"""Full AdamW vs LISA vs OMGD on the Brown corpus, same model, data, seed and
token budget: final train/val loss, step time, tokens/s, and the bytes of
gradients and optimizer state. Prints one table and writes a PNG of the
three loss curves.

    /usr/bin/python3 scripts/bench_omgd.py [--steps 400] [--out runs/bench_omgd]

The model is GPT-2-shaped, 8 blocks of width 128 by default, so that
gamma = 2 of 8 blocks masks most of the per-block work; the LM head over
GPT-2's 50257-token vocabulary is always active and costs the same in
every mode, which bounds the speed-up on a small model.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(name, out, args, extra):
    d = os.path.join(out, name)
    shutil.rmtree(d, ignore_errors=True)
    cmd = [os.path.join(ROOT, "train_gpt2"), "--config", os.path.join(ROOT, "configs/default.json"),
           "--set", "model.preset=", "--set", f"model.depth={args.depth}",
           "--set", f"model.channels={args.channels}", "--set", f"model.heads={args.heads}",
           "--set", f"model.context={args.seq}", "--set", f"train.seq_len={args.seq}",
           "--set", f"train.batch_size={args.batch}", "--set", "train.total_batch_tokens=0",
           "--set", f"train.steps={args.steps}", "--set", f"train.val_every={args.steps // 4}",
           "--set", "train.val_steps=20", "--set", "train.sample_every=0",
           "--set", f"optimizer.warmup_steps={args.steps // 20}",
           "--set", "output.checkpoint_every=0", "--set", "output.resume=", "--set", f"output.dir={d}"]
    for k, v in extra.items():
        cmd += ["--set", f"{k}={v}"]
    print(f"running {name} ...", file=sys.stderr, flush=True)
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"error: {name} failed: {p.stderr.strip()}")
    return summarize(name, d, args.batch * args.seq)


def summarize(name, d, tokens_per_step):
    """Final losses, median step time and bytes held, from d/log.jsonl."""
    recs = [json.loads(l) for l in open(os.path.join(d, "log.jsonl"))]
    train = [r for r in recs if r["type"] == "train"]
    val = [r for r in recs if r["type"] == "val"]
    timed = train[1:]
    # the median step time: a busy machine adds spikes that a mean would keep
    ms = statistics.median(r["ms"] for r in timed)
    tail = train[-20:]
    return {
        "name": name, "log": os.path.join(d, "log.jsonl"),
        "train_loss": sum(r["loss"] for r in tail) / len(tail),
        "val_loss": val[-1]["val_loss"], "ms": ms,
        "tps": tokens_per_step / (ms / 1e3),
        # bytes while masking (the last step), gradients and optimizer state
        "grads": train[-1]["bytes_grads"],
        "state_working": train[-1]["bytes_state_working"],
        "state_parked": train[-1]["bytes_state_parked"],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--depth", type=int, default=8)
    ap.add_argument("--channels", type=int, default=128)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=64)
    ap.add_argument("--gamma", type=int, default=2)
    ap.add_argument("--interval", type=int, default=20)
    ap.add_argument("--out", default=os.path.join(ROOT, "runs", "bench_omgd"))
    a = ap.parse_args()
    if not os.path.exists(os.path.join(ROOT, "train_gpt2")):
        sys.exit("error: ./train_gpt2 not built (run make)")
    os.makedirs(a.out, exist_ok=True)
    mask = {"omgd.active_layers": a.gamma, "omgd.switch_interval": a.interval,
            "omgd.warmup_steps": a.steps // 20}
    rows = [run("adamw", a.out, a, {"omgd.mode": "none"}),
            run("lisa", a.out, a, {"omgd.mode": "lisa", "omgd.state": "reset", **mask}),
            run("omgd", a.out, a, {"omgd.mode": "omgd", **mask})]
    print(f"GPT-2 depth {a.depth}, width {a.channels}, B={a.batch} T={a.seq}, {a.steps} steps "
          f"({a.steps * a.batch * a.seq} tokens), gamma {a.gamma}/{a.depth}, K={a.interval}, CPU fp32, "
          f"{os.cpu_count()} cores")
    print_table(rows)
    png = os.path.join(a.out, "loss_curves.png")
    plot(rows, png)


def print_table(rows):
    """One line per run; speed and memory relative to the first row."""
    mib = 1024 * 1024
    base = rows[0]
    w = max(6, *(len(r["name"]) for r in rows))
    print(f"{'run':{w}} {'train loss':>10} {'val loss':>9} {'ms/step':>8} {'tok/s':>7} {'speed':>6} "
          f"{'grads MiB':>9} {'state MiB (working+parked)':>27} {'grads+state vs adamw':>21}")
    for r in rows:
        held = r["grads"] + r["state_working"]
        print(f"{r['name']:{w}} {r['train_loss']:>10.4f} {r['val_loss']:>9.4f} {r['ms']:>8.1f} {r['tps']:>7.0f} "
              f"{base['ms'] / r['ms']:>5.2f}x {r['grads'] / mib:>9.2f} "
              f"{r['state_working'] / mib:>12.2f} + {r['state_parked'] / mib:>10.2f}  "
              f"{held / (base['grads'] + base['state_working']):>20.2f}")


def plot(rows, png):
    subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "scripts", "plot_log.py"), *[r["log"] for r in rows],
                    "--labels", ",".join(r["name"] for r in rows), "-o", png], check=True)


if __name__ == "__main__":
    main()
