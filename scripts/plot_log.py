#!/usr/bin/env python3
"""Plot train and val loss from one or more log.jsonl files into a PNG.

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
    train, val = {}, {}
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
    return sorted(train.items()), sorted(val.items())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("logs", nargs="+")
    ap.add_argument("-o", "--output", default="loss.png")
    ap.add_argument("--labels", help="comma-separated labels, one per log")
    a = ap.parse_args()
    labels = a.labels.split(",") if a.labels else [os.path.basename(os.path.dirname(os.path.abspath(p))) for p in a.logs]
    if len(labels) != len(a.logs):
        sys.exit("error: --labels: expected one label per log file")
    fig, ax = plt.subplots(figsize=(8, 5))
    for path, label in zip(a.logs, labels):
        if not os.path.exists(path):
            sys.exit(f"error: {path}: no such file")
        train, val = read_log(path)
        line = None
        if train:
            (line,) = ax.plot([s for s, _ in train], [l for _, l in train], lw=1, alpha=0.8, label=f"{label} train")
        if val:
            ax.plot([s for s, _ in val], [l for _, l in val], "o--", ms=3,
                    color=line.get_color() if line else None, label=f"{label} val")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(a.output, dpi=120)
    print(f"wrote {a.output}")


if __name__ == "__main__":
    main()
