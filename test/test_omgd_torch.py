"""OMGD end to end: ./train_gpt2 against a PyTorch reference of the authors'
semantics (../shared/docs/omgd.md), step by step.

The trainer runs on a tiny random GPT-2 (written by the reference's model
file writer) and a data shard of random tokens read sequentially; the
reference replays the same data and the same masks (taken from the
trainer's log after checking them against the schedule's rules) with
torch.optim.AdamW in float64, following the reference implementation:
  - global-norm clipping over the parameters that have gradients,
  - then pool (block) gradients multiplied by N_L/gamma (omgd) or 1 (lisa),
  - frozen blocks get no gradient: torch skips them, so their AdamW step
    count does not advance and their moments are kept (state keep), or
    their state is dropped when they leave the active set (state reset).
Runs: omgd with gamma=3 of 4 (cycles of a full and a short draw), lisa,
omgd with state reset, and omgd_tensor; 24 steps each, crossing several
period switches and cycle boundaries.

Tolerances. eps = 1e-4 on purpose: with the usual 1e-8, Adam divides
gradient elements that are pure rounding noise (exactly-zero true gradients,
such as the key bias) by their own RMS and turns fp32 noise into updates of
size lr (see test_gpt2_torch.py); eps = 1e-4 damps those to ~1e-5 lr and
also makes the update depend on the gradient scale (with eps -> 0 Adam is
invariant to a constant scale, and N_L/gamma would be invisible). Then the
C fp32 trajectory follows the float64 one closely: per-step losses within
TOL_LOSS relative, parameters within TOL_PARAM * (|p| + lr * steps)
(observed: ~1e-7 and ~3e-6, fp32 rounding accumulated over 24 steps;
the tolerances leave a 10x margin). The
sensitivity checks run deliberately wrong references (scale before
clipping, no scale, moments reset instead of kept, one global step count)
and require each to miss by more than the tolerance.
"""
import json
import math
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpt2_torch_ref as ref  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAINER = os.path.join(ROOT, "train_gpt2")

L, C, NH, V, VP, MAXT = 4, 24, 2, 97, 128, 16
B, T, STEPS = 2, 8, 24
HP = dict(lr=3e-3, min_lr=3e-4, warmup=3, beta1=0.9, beta2=0.95, eps=1e-4, wd=0.1, clip=1.0)
TOL_LOSS = 1e-6
TOL_PARAM = 3e-5

failures = 0


def report(ok, name, detail=""):
    global failures
    print(f"ok - {name}" if ok else f"not ok - {name}: {detail}")
    failures += 0 if ok else 1
    sys.stdout.flush()


def lr_at(step):
    """The cosine schedule with linear warmup (the README's definition)."""
    if step < HP["warmup"]:
        return HP["lr"] * (step + 1) / HP["warmup"]
    p = (step - HP["warmup"]) / (STEPS - HP["warmup"])
    return HP["min_lr"] + (HP["lr"] - HP["min_lr"]) * 0.5 * (1 + math.cos(math.pi * p))


def write_shard(path, tokens):
    header = np.zeros(256, dtype="<i4")
    header[:3] = [20240520, 1, len(tokens)]
    with open(path, "wb") as f:
        f.write(header.tobytes())
        f.write(np.asarray(tokens, dtype="<u2").tobytes())


def batches(tokens):
    """llm.c's sequential order over one shard: windows of B*T+1 every B*T tokens."""
    pos, out = 0, []
    for _ in range(STEPS):
        if pos + B * T + 1 > len(tokens):
            pos = 0
        w = torch.as_tensor(tokens[pos:pos + B * T + 1].astype(np.int64))
        out.append((w[:-1].view(B, T), w[1:].view(B, T)))
        pos += B * T
    return out


def run_trainer(tmp, name, model_path, shard_glob, omgd):
    out = os.path.join(tmp, name)
    sets = {"model.init_from": model_path, "model.preset": "",
            "data.train": shard_glob, "data.val": "", "data.shuffle": "false",
            "train.batch_size": B, "train.seq_len": T, "train.total_batch_tokens": 0,
            "train.steps": STEPS, "train.val_every": 0, "train.sample_every": 0,
            "optimizer.lr": HP["lr"], "optimizer.min_lr": HP["min_lr"],
            "optimizer.warmup_steps": HP["warmup"], "optimizer.schedule": "cosine",
            "optimizer.beta1": HP["beta1"], "optimizer.beta2": HP["beta2"],
            "optimizer.eps": HP["eps"], "optimizer.weight_decay": HP["wd"],
            "optimizer.grad_clip": HP["clip"],
            "output.dir": out, "output.checkpoint_every": 4, "output.resume": ""}
    sets.update({f"omgd.{k}": v for k, v in omgd.items()})
    cmd = [TRAINER]
    for k, v in sets.items():
        cmd += ["--set", f"{k}={v}"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        return None, f"exit {p.returncode}: {p.stderr.strip()[-400:]}"
    recs = [json.loads(l) for l in open(os.path.join(out, "log.jsonl"))]
    train = sorted((r for r in recs if r["type"] == "train"), key=lambda r: r["step"])
    return (out, train), None


def leaves_of(params):
    """Per-tensor float64 leaves: always-active kinds whole, block kinds per layer."""
    leaves = {}
    for k in ref.KINDS:
        if k in ref.PER_LAYER:
            for l in range(L):
                leaves[(k, l)] = params[k][l].detach().clone().double().requires_grad_(True)
        else:
            leaves[(k, -1)] = params[k].detach().clone().double().requires_grad_(True)
    return leaves


def stacked(leaves):
    return {k: (torch.stack([leaves[(k, l)] for l in range(L)]) if k in ref.PER_LAYER else leaves[(k, -1)])
            for k in ref.KINDS}


def reference(params, data, masks, mode, state, variant=""):
    """The authors' semantics; masks[s] is the list of active units at step s
    (None during warmup). Returns (losses, final params in file shapes)."""
    leaves = leaves_of(params)
    names = list(leaves)
    decay = [leaves[n] for n in names if n[0] in ref.DECAY_KINDS]
    no_decay = [leaves[n] for n in names if n[0] not in ref.DECAY_KINDS]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": HP["wd"]},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=HP["lr"], betas=(HP["beta1"], HP["beta2"]), eps=HP["eps"])
    tensor_units = mode == "omgd_tensor"
    unit_of = {n: (TABLE_ORDER.index(n) if tensor_units else n[1]) for n in names}
    n_units = len(names) if tensor_units else L
    losses, prev_active = [], None
    global_step = 0
    for s in range(STEPS):
        active = set(range(n_units)) if masks[s] is None else set(masks[s])
        masking = masks[s] is not None
        if state == "reset" and prev_active is not None and variant != "keep_instead_of_reset":
            for n in names:
                u = unit_of[n]
                if (tensor_units or u >= 0) and u in prev_active and u not in active:
                    opt.state.pop(leaves[n], None)
        if variant == "reset_instead_of_keep" and prev_active is not None and active != prev_active:
            for n in names:
                u = unit_of[n]
                if (tensor_units or u >= 0) and u in prev_active and u not in active:
                    opt.state.pop(leaves[n], None)
        prev_active = active
        trainable = [n for n in names if not (tensor_units or unit_of[n] >= 0) or unit_of[n] in active]
        for n in names:
            leaves[n].grad = None
        tokens, targets = data[s]
        _, loss = ref.forward(ref.Config(MAXT, V, VP, L, NH, C), stacked(leaves), tokens, targets)
        loss.backward()
        for n in names:
            if n not in trainable:
                leaves[n].grad = None
        losses.append(float(loss))
        plist = [leaves[n] for n in trainable]
        scale = 1.0
        if masking and mode == "omgd":
            scale = L / GAMMA
        elif masking and mode == "omgd_tensor":
            scale = float(GAMMA)
        if variant == "no_scale":
            scale = 1.0
        if variant == "scale_before_clip":
            for n in trainable:
                if tensor_units or unit_of[n] >= 0:
                    leaves[n].grad.mul_(scale)
            torch.nn.utils.clip_grad_norm_(plist, HP["clip"])
        else:
            torch.nn.utils.clip_grad_norm_(plist, HP["clip"])
            for n in trainable:
                if tensor_units or unit_of[n] >= 0:
                    leaves[n].grad.mul_(scale)
        for g in opt.param_groups:
            g["lr"] = lr_at(s)
        global_step += 1
        if variant == "global_step":
            # one step counter for everyone: bias correction from the global step
            for n in trainable:
                st = opt.state.get(leaves[n])
                if st:
                    st["step"] = torch.tensor(float(global_step - 1))
        opt.step()
    final = {}
    for k in ref.KINDS:
        final[k] = stacked(leaves)[k].detach().numpy()
    return losses, final


def check_masks(train, mode, n_units):
    """The logged masks follow the schedule's rules; returns masks per step."""
    masks, used, problems = [], set(), []
    for r in train:
        act = r["active_layers"]
        if r["step"] < WARMUP:
            if sorted(act) != list(range(n_units)):
                problems.append(f"step {r['step']}: warmup but active {act}")
            masks.append(None)
            continue
        masks.append(list(act))
    periods = []
    for s in range(WARMUP, STEPS):
        if (s - WARMUP) % K == 0:
            periods.append(masks[s])
        elif masks[s] != masks[s - 1]:
            problems.append(f"step {s}: mask changed inside a period")
    for p in periods:
        if len(set(p)) != len(p):
            problems.append(f"repeated unit in {p}")
        if mode == "omgd":
            left = L - len(used)
            if left == 0:
                used = set()
                left = L
            if len(p) != min(GAMMA, left) or used & set(p):
                problems.append(f"period {p} breaks the traversal (used {sorted(used)})")
            used |= set(p)
        elif mode == "lisa" and len(p) != GAMMA:
            problems.append(f"lisa period {p} does not have {GAMMA} blocks")
    return masks, periods, problems


def compare_run(label, out_train, final_c, losses_r, final_r):
    lc = np.array([r["loss"] for r in out_train])
    lr_ = np.array(losses_r)
    err = np.max(np.abs(lc - lr_) / np.abs(lr_))
    pe = 0.0
    for k in ref.KINDS:
        d = np.abs(final_c[k].astype(np.float64) - final_r[k])
        pe = max(pe, float(np.max(d / (np.abs(final_r[k]) + HP["lr"] * STEPS))))
    return err, pe


WARMUP, K, GAMMA = 4, 4, 3
# The trainer's parameter table order (tensor indices in omgd_tensor mode):
# wte, wpe, lnfw, lnfb, then each block's tensors in kind order.
TABLE_ORDER = [("wte", -1), ("wpe", -1), ("lnfw", -1), ("lnfb", -1)] + [
    (k, l) for l in range(L) for k in ["ln1w", "ln1b", "qkvw", "qkvb", "attprojw", "attprojb",
                                       "ln2w", "ln2b", "fcw", "fcb", "fcprojw", "fcprojb"]]


def main():
    if not os.path.exists(TRAINER):
        report(False, "train_gpt2 is built", "run make first")
        return
    gen = torch.Generator().manual_seed(1234)
    cfg = ref.Config(MAXT, V, VP, L, NH, C)
    params = ref.random_params(cfg, gen)
    tokens = np.random.default_rng(5).integers(0, V, size=B * T * 30 + 1)
    runs = [("omgd keep", "omgd", "keep", L, {}),
            ("lisa keep", "lisa", "keep", L, {}),
            ("omgd reset", "omgd", "reset", L, {}),
            ("omgd_tensor", "omgd_tensor", "keep", 4 + 12 * L, {})]
    with tempfile.TemporaryDirectory() as tmp:
        model_path = os.path.join(tmp, "init.bin")
        ref.write_model_file(model_path, cfg, params)
        write_shard(os.path.join(tmp, "tok_train_000.bin"), tokens)
        data = batches(tokens)
        glob = os.path.join(tmp, "tok_train_*.bin")
        for label, mode, state, n_units, extra in runs:
            gamma = GAMMA
            omgd = {"mode": mode, "active_layers": gamma, "switch_interval": K,
                    "warmup_steps": WARMUP, "state": state, "seed": 11, **extra}
            res, err = run_trainer(tmp, label.replace(" ", "_"), model_path, glob, omgd)
            if res is None:
                report(False, f"{label}: trainer runs", err)
                continue
            out, train = res
            masks, periods, problems = check_masks(train, mode, n_units)
            report(not problems, f"{label}: logged masks follow the {mode} rules ({len(periods)} periods)",
                   "; ".join(problems[:3]))
            _, final_c = ref.read_model_file(os.path.join(out, f"model_{STEPS:08d}.bin"))
            losses_r, final_r = reference(params, data, masks, mode, state)
            le, pe = compare_run(label, train, final_c, losses_r, final_r)
            report(le <= TOL_LOSS, f"{label}: {STEPS} per-step losses match the reference",
                   f"max rel err {le:.3g} > {TOL_LOSS}")
            report(pe <= TOL_PARAM, f"{label}: parameters after {STEPS} steps match the reference",
                   f"max err {pe:.3g} > {TOL_PARAM} (relative to |p| + lr*steps)")
            print(f"# {label}: loss rel err {le:.3g}, param err {pe:.3g}")
            # frozen blocks are bit-identical across a period in which they were frozen
            if mode in ("omgd", "lisa"):
                frozen_ok, checked = True, 0
                for s in range(4, STEPS + 1, 4):
                    prev = s - 4
                    steps_in = range(prev, s)
                    if any(masks[t] is None for t in steps_in):
                        continue
                    active_any = set().union(*[set(masks[t]) for t in steps_in])
                    _, a = ref.read_model_file(os.path.join(out, f"model_{prev:08d}.bin"))
                    _, b = ref.read_model_file(os.path.join(out, f"model_{s:08d}.bin"))
                    for l in range(L):
                        if l in active_any:
                            continue
                        checked += 1
                        for k in ref.PER_LAYER:
                            frozen_ok &= np.array_equal(a[k][l].view(np.uint32), b[k][l].view(np.uint32))
                report(frozen_ok and checked > 0,
                       f"{label}: frozen blocks bit-identical over their frozen steps ({checked} block-intervals)",
                       "a frozen block changed" if checked else "no interval to check")
            if label == "omgd keep":
                for variant in ["scale_before_clip", "no_scale", "reset_instead_of_keep", "global_step"]:
                    lv, fv = reference(params, data, masks, mode, state, variant)
                    le2, pe2 = compare_run(label, train, final_c, lv, fv)
                    worst = max(le2 / TOL_LOSS, pe2 / TOL_PARAM)
                    report(worst > 1, f"{label}: sensitivity: a reference with {variant} would fail "
                           f"({worst:.3g}x the tolerance)", "tolerances too loose to see it")
            if label == "omgd reset":
                lv, fv = reference(params, data, masks, mode, state, "keep_instead_of_reset")
                le2, pe2 = compare_run(label, train, final_c, lv, fv)
                worst = max(le2 / TOL_LOSS, pe2 / TOL_PARAM)
                report(worst > 1, f"{label}: sensitivity: keeping moments would fail ({worst:.3g}x)",
                       "reset is indistinguishable from keep")
        # gamma = N_L with scale 1 is exactly plain AdamW (mode none)
        base = {"warmup_steps": WARMUP, "switch_interval": K, "seed": 11}
        r1, e1 = run_trainer(tmp, "none", model_path, glob, {**base, "mode": "none"})
        r2, e2 = run_trainer(tmp, "full_omgd", model_path, glob,
                             {**base, "mode": "omgd", "active_layers": L, "grad_scale": 1})
        if r1 is None or r2 is None:
            report(False, "omgd with gamma = N_L runs", e1 or e2)
        else:
            same_loss = [r["loss"] for r in r1[1]] == [r["loss"] for r in r2[1]]
            with open(os.path.join(r1[0], f"model_{STEPS:08d}.bin"), "rb") as f1, \
                    open(os.path.join(r2[0], f"model_{STEPS:08d}.bin"), "rb") as f2:
                same_model = f1.read() == f2.read()
            report(same_loss and same_model, "omgd with gamma = N_L and scale 1 is bit-identical to plain AdamW",
                   f"losses equal {same_loss}, final weights equal {same_model}")


main()
sys.exit(1 if failures else 0)
