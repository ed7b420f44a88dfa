#!/usr/bin/env python3
"""Compares a training run with a reference run of the same config (the GPU
trainer with the CPU trainer): every logged train loss and gradient norm,
every validation loss, and the weights of the newest checkpoint of both.
Prints one line per comparison and exits 1 if one is outside its tolerance.

  scripts/compare_runs.py REF_DIR RUN_DIR --label fp32 --loss-tol 1e-4 --norm-tol 1e-3 --param-tol 1e-5

loss-tol: the largest |loss difference| allowed (train and val);
norm-tol: the largest relative gradient-norm difference; param-tol: the
relative L2 difference of all weights, ||w - w_ref|| / ||w_ref||.
"""
import argparse
import glob
import json
import math
import os
import struct
import sys


def records(run_dir, kind):
    out = {}
    with open(os.path.join(run_dir, "log.jsonl")) as f:
        for line in f:
            r = json.loads(line)
            if r.get("type") == kind:
                out[r["step"]] = r
    return out


def newest_model(run_dir):
    files = sorted(glob.glob(os.path.join(run_dir, "model_*.bin")))
    if not files:
        sys.exit(f"error: {run_dir}: no model_*.bin checkpoint")
    return files[-1]


def weights(path):
    with open(path, "rb") as f:
        data = f.read()
    n = (len(data) - 1024) // 4
    return struct.unpack_from(f"<{n}f", data, 1024)


def diff(a, b, relative=False):
    """|a - b| (relative to |b|): 0 when both are null (the same skipped
    step), infinite when only one is."""
    if a is None and b is None:
        return 0.0
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
        return float("inf")  # one null, or a record missing
    d = abs(a - b)
    if d != d:
        return float("inf")
    return d / abs(b) if relative and b != 0 else d


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ref")
    ap.add_argument("run")
    ap.add_argument("--label", default="run")
    ap.add_argument("--loss-tol", type=float, required=True)
    ap.add_argument("--norm-tol", type=float, required=True)
    ap.add_argument("--param-tol", type=float, required=True)
    a = ap.parse_args()
    failed = 0

    def report(what, value, tol, detail=""):
        nonlocal failed
        ok = value <= tol  # NaN fails
        failed += not ok
        print(f"{a.label:<6} {what:<38} {value:10.3e}  tol {tol:.0e}  {'PASS' if ok else 'FAIL'}{detail}")

    ref_t, run_t = records(a.ref, "train"), records(a.run, "train")
    if sorted(ref_t) != sorted(run_t) or not ref_t:
        print(f"{a.label:<6} train steps differ: {sorted(ref_t)} vs {sorted(run_t)}  FAIL")
        return 1
    loss = max(diff(run_t[s]["loss"], ref_t[s]["loss"]) for s in ref_t)
    report(f"train loss, max |diff| ({len(ref_t)} steps)", loss, a.loss_tol)
    norm = max(diff(run_t[s]["grad_norm"], ref_t[s]["grad_norm"], relative=True) for s in ref_t)
    report("gradient norm, max rel diff", norm, a.norm_tol)
    ref_v, run_v = records(a.ref, "val"), records(a.run, "val")
    if ref_v:
        val = max(diff(run_v.get(s, {}).get("val_loss", "missing"), ref_v[s]["val_loss"]) for s in ref_v)
        report(f"val loss, max |diff| ({len(ref_v)} evals)", val, a.loss_tol)
    m_ref, m_run = newest_model(a.ref), newest_model(a.run)
    if os.path.basename(m_ref) != os.path.basename(m_run):
        print(f"{a.label:<6} newest checkpoints differ: {m_ref} vs {m_run}  FAIL")
        return 1
    w_ref, w_run = weights(m_ref), weights(m_run)
    num = math.fsum((x - y) ** 2 for x, y in zip(w_run, w_ref))
    den = math.fsum(y * y for y in w_ref)
    worst = max(abs(x - y) for x, y in zip(w_run, w_ref))
    report(f"weights at {os.path.basename(m_ref)}, rel L2", math.sqrt(num / den), a.param_tol,
           f"  (max |diff| {worst:.2e})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
