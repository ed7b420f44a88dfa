#!/usr/bin/env python3
"""Plot train and val loss (and HellaSwag accuracy, when logged) from one or more log.jsonl files into a PNG.

    /usr/bin/python3 scripts/plot_log.py runs/a/log.jsonl [runs/b/log.jsonl ...] -o loss.png
"""
import argparse
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_log(path):
    train, val, hella = {}, {}, {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                sys.exit(f"error: {path}:{n}: not a JSON line")
            if r.get("type") == "train":
                train[r["step"]] = r["loss"]  # the last record of a step wins
            elif r.get("type") == "val":
                val[r["step"]] = r["val_loss"]
            elif r.get("type") == "eval" and "hellaswag" in r:
                hella[r["step"]] = r["hellaswag"]
    return sorted(train.items()), sorted(val.items()), sorted(hella.items())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("logs", nargs="+")
    ap.add_argument("-o", "--output", default="loss.png")
    ap.add_argument("--labels", help="comma-separated labels, one per log")
    a = ap.parse_args()
    labels = a.labels.split(",") if a.labels else [os.path.basename(os.path.dirname(os.path.abspath(p))) for p in a.logs]
    if len(labels) != len(a.logs):
        sys.exit("error: --labels: expected one label per log file")
    for path in a.logs:
        if not os.path.exists(path):
            sys.exit(f"error: {path}: no such file")
    logs = [read_log(path) for path in a.logs]
    with_hella = any(h for _, _, h in logs)
    # a second panel for HellaSwag accuracy when any log has it
    fig, axes = plt.subplots(1, 2 if with_hella else 1, figsize=(14 if with_hella else 8, 5), squeeze=False)
    ax = axes[0][0]
    for (train, val, hella), label in zip(logs, labels):
        line = None
        if train:
            (line,) = ax.plot([s for s, _ in train], [l for _, l in train], lw=1, alpha=0.8, label=f"{label} train")
        if val:
            ax.plot([s for s, _ in val], [l for _, l in val], "o--", ms=3,
                    color=line.get_color() if line else None, label=f"{label} val")
        if hella:
            axes[0][1].plot([s for s, _ in hella], [h for _, h in hella], "o-", ms=3,
                            color=line.get_color() if line else None, label=label)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend()
    if with_hella:
        hx = axes[0][1]
        hx.axhline(0.25, color="gray", lw=0.8, ls=":", label="chance (4 endings)")
        hx.set_xlabel("step")
        hx.set_ylabel("HellaSwag accuracy")
        hx.grid(alpha=0.3)
        hx.legend()
    fig.tight_layout()
    fig.savefig(a.output, dpi=120)
    print(f"wrote {a.output}")


if __name__ == "__main__":
    main()
