"""Checks the C GPT-2 (forward, backward, llm.c model files, AdamW with
clipping) element by element against the independent PyTorch reference in
test/gpt2_torch_ref.py.

The random model is created here and written by the reference's own writer,
so the C reader is checked against it. The C tool (build/tests/tool_gpt2_steps,
built by `make tests`) loads it, runs one forward/backward and a few AdamW
steps, and dumps logits, loss, every gradient, and for every step the
parameters it starts from, its loss, gradient norm, clip factor and
gradient; the final parameters go through the C model-file writer and are
read back here with the reference reader. Checked:
  - logits, loss and every gradient tensor at the initial weights;
  - at every step, the reference loss / gradients / norm / clip factor at
    the parameters that C step started from (so the model is checked along
    the trajectory, independently of the optimizer);
  - the optimizer: torch.optim.AdamW on the C gradients must reproduce the
    C parameters after the steps, elementwise;
  - end to end against the reference's own trajectory (loosely, see below);
  - sensitivity: perturbed references modelling real bugs must be rejected.
Three shapes: "tiny" (all checks), "odd" (head size 12, T = maxT) and
"gpt2vocab" (V = 50257 padded to 50304, T = 64; forward/backward only).

The C code computes in fp32; the reference runs in float64 from the same
fp32 weights, so the differences are the C code's fp32 rounding (plus any
bug). Tolerances are stated as bounds on that rounding, mostly normwise per
tensor:
    max_i |c_i - r_i| <= tol * max_i |r_i|
(an elementwise relative bound is meaningless for elements that are sums
with cancellation, e.g. a gradient that happens to be near zero).
Unit roundoff of fp32: u = 2^-24 ~ 6e-8.
"""
import math
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpt2_torch_ref as ref  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.environ.get("TOOL_GPT2_STEPS", os.path.join(ROOT, "build", "tests", "tool_gpt2_steps"))
U32 = 2.0 ** -24

# ---------------------------------------------------------------- tolerances
# Forward (logits). The longest fp32 dot products are of length K = 4C
# (fc projection); a length-K fp32 dot product has a worst-case error of
# K*u relative to the sum of |terms| (1.1e-5 for C = 48), typically
# sqrt(K)*u (~1e-6). Errors pass through 2L+1 LayerNorms (which rescale them
# by rstd, O(1) here since the residual stream is O(1)) and the softmax.
# Tolerance 4C*u normwise: the single-dot-product worst case, ~20x the
# typical error; the smallest model bug checked (exact-erf GELU instead of
# the tanh approximation) moves the logits by ~2e-4 normwise at C = 48.
def tol_fwd(cfg):
    return 4 * cfg.C * U32


# Loss: a mean of B*T log-sum-exps, each with the logits' error (plus the
# exp/log rounding, a few u); the loss is O(1): tol_fwd relative.
tol_loss = tol_fwd


# Gradients (each tensor, normwise): the backward pass chains twice the fp32
# matmuls of the forward pass, and weight gradients are sums over the B*T
# positions, so the worst case is ~2 * (4C + B*T) * u relative to the
# tensor's scale (2.7e-5 for C = 48, B*T = 33; ~30x the typical error). A
# missing bias gradient, a wrong head split, mask or GELU derivative moves
# some tensor by >= 1e-3 normwise.
# Gradient norm and clip factor: the relative error of the 2-norm is at most
# the normwise relative error of the gradients: the same tolerance.
def tol_grad(cfg, B, T):
    return 2 * (4 * cfg.C + B * T) * U32


# Parameters after the AdamW steps: torch.optim.AdamW (float64) applied to
# the C code's own gradients of every step (each of them checked against the
# reference gradient at the C parameters of that step), from the same
# initial weights, must give the C parameters elementwise. Each C step
# rounds the parameter (<= u|p|) and the update lr * mhat / (sqrt(vhat) + eps),
# whose ratio carries ~10u relative error (m, v, the bias corrections
# 1 - beta^t computed with powf: relative error u*beta^t/(1 - beta^t) = 19u
# for beta2 = 0.95 at t = 1, sqrt, division). Tolerance per element:
# nsteps * u * (2|p| + 10 lr). Optimizer bugs are far above it: decay on
# biases moves p by lr*wd*|p| = 1e-4|p| per step, a wrong bias correction or
# missing clipping by O(0.01..1) lr per step.
def opt_tol(lr, nsteps, r):
    return nsteps * U32 * (2 * np.abs(r) + 10 * lr)


# End to end (the C trajectory against the reference's own trajectory): only
# loose checks, because Adam divides each gradient element by its running
# RMS and so amplifies the fp32 noise of elements whose gradient is near
# zero: an element with |g| ~ 1e-8 (the tensor's max being 0.3) gets a first
# update of lr * g / (|g| + eps) whose sign is decided by rounding. The key
# bias qkvb[C:2C] is the extreme case: its true gradient is exactly zero
# (adding a constant to all keys seen by a query shifts a softmax row by a
# constant), so its Adam updates are pure rounding noise of size up to lr in
# either implementation. So end to end, the per-step losses must agree to
# 1e-4 relative (noise on a few elements moves the loss by ~ lr * |g| on
# them), and every parameter must be within Adam's bound on the movement,
# 2 * nsteps * lr, of the reference. The tight checks above are what pin
# the model and the optimizer down.
TOL_TRAJ_LOSS = 1e-4


# ---------------------------------------------------------------- helpers
failures = 0


def report(ok, name, detail=""):
    global failures
    if ok:
        print(f"ok - {name}")
    else:
        failures += 1
        print(f"not ok - {name}: {detail}")
    sys.stdout.flush()


def errors(c, r):
    """(max abs err, max rel err over elements with |r| >= 1% of max|r|, max|r|)."""
    c = np.asarray(c, dtype=np.float64)
    r = np.asarray(r, dtype=np.float64)
    d = np.abs(c - r)
    scale = float(np.max(np.abs(r))) if r.size else 0.0
    mask = np.abs(r) >= 0.01 * scale
    rel = float(np.max(d[mask] / np.abs(r[mask]))) if scale > 0 and mask.any() else 0.0
    mae = float(np.max(d)) if d.size else 0.0
    if not np.all(np.isfinite(c)):
        mae = rel = float("inf")
    return mae, rel, scale


class Stats:
    """Worst error seen per category (for the summary)."""

    def __init__(self):
        self.worst = {}

    def add(self, cat, mae, rel, normwise):
        w = self.worst.setdefault(cat, [0.0, 0.0, 0.0])
        w[0] = max(w[0], mae)
        w[1] = max(w[1], rel)
        w[2] = max(w[2], normwise)


def compare(name, c, r, tol, stats=None, cat=None, absolute=None, quiet=False):
    """Normwise check max|c-r| <= tol * max|r| (or <= absolute if given)."""
    mae, rel, scale = errors(c, r)
    bound = absolute if absolute is not None else tol * scale
    normwise = mae / scale if scale > 0 else (0.0 if mae == 0 else float("inf"))
    ok = mae <= bound
    if stats is not None:
        stats.add(cat, mae, rel, normwise)
    if not quiet:
        report(ok, name, f"max abs err {mae:.3g}, max rel err {rel:.3g}, tolerance {bound:.3g}"
               f" ({'absolute' if absolute is not None else f'{tol:g} * max|ref| {scale:.3g}'})")
    return ok


def per_tensor_items(cfg, tensors):
    """(name, kind, array) for each tensor, per-layer kinds split by layer."""
    out = []
    for k in ref.KINDS:
        v = tensors[k]
        v = v.detach().numpy() if isinstance(v, torch.Tensor) else np.asarray(v)
        if k in ref.PER_LAYER:
            for l in range(cfg.L):
                out.append((f"{k}[{l}]", k, v[l]))
        else:
            out.append((k, k, v))
    return out


def write_tokens(path, B, T, batches):
    with open(path, "wb") as f:
        np.array([B, T, len(batches)], dtype="<i4").tofile(f)
        for toks in batches:
            np.asarray(toks, dtype="<i4").reshape(B, T + 1).tofile(f)


def read_tool_output(path, cfg, B, T, nsteps):
    raw = open(path, "rb").read()
    head = np.frombuffer(raw[:20], dtype="<i4")
    n = ref.num_params(cfg)
    if list(head) != [B, T, cfg.Vp, nsteps, n]:
        raise ValueError(f"{path}: header {list(head)}, expected {[B, T, cfg.Vp, nsteps, n]}")
    body = np.frombuffer(raw[20:], dtype="<f4")
    expect = B * T * cfg.Vp + 1 + n + (3 + 2 * n) * nsteps
    if body.size != expect:
        raise ValueError(f"{path}: {body.size} floats, expected {expect}")
    o = 0
    logits = body[o:o + B * T * cfg.Vp].reshape(B, T, cfg.Vp)
    o += B * T * cfg.Vp
    loss = float(body[o])
    o += 1
    grads = ref.unflatten(cfg, body[o:o + n])
    o += n
    steps, step_params, step_grads = [], [], []
    for _ in range(nsteps):
        step_params.append(ref.unflatten(cfg, body[o:o + n]))
        steps.append(body[o + n:o + n + 3])
        step_grads.append(ref.unflatten(cfg, body[o + n + 3:o + 2 * n + 3]))
        o += 3 + 2 * n
    return (logits, loss, grads, np.array(steps).reshape(nsteps, 3), step_params,
            step_grads)


def run_tool(model_path, tokens_path, out_path, B, T, nsteps, hp):
    args = [TOOL, model_path, tokens_path, out_path, str(B), str(T), str(nsteps)]
    args += [repr(hp[k]) for k in ("lr", "beta1", "beta2", "eps", "weight_decay", "grad_clip")]
    p = subprocess.run(args, capture_output=True, text=True)
    return p.returncode, p.stderr.strip()


def f32(x):
    """The value the C tool gets after strtof: the reference uses exactly it."""
    return float(np.float32(x))


# ---------------------------------------------------------------- manual AdamW (sensitivity only)
def train_manual(params, grads, hp, bias_correction=True, step_offset=0):
    """AdamW written out by hand on given per-step gradients, only to model
    optimizer bugs (no bias correction, step counted from 2) for the
    sensitivity checks."""
    p = {k: params[k].clone() for k in ref.KINDS}
    m = {k: torch.zeros_like(p[k]) for k in ref.KINDS}
    v = {k: torch.zeros_like(p[k]) for k in ref.KINDS}
    for t, g in enumerate(grads, start=1):
        g = {k: torch.as_tensor(np.array(g[k]), dtype=torch.float64) for k in ref.KINDS}
        norm = math.sqrt(sum(float((g[k] ** 2).sum()) for k in ref.KINDS))
        scale = min(1.0, hp["grad_clip"] / (norm + 1e-6))
        s = t + step_offset
        for k in ref.KINDS:
            gk = g[k] * scale
            m[k] = hp["beta1"] * m[k] + (1 - hp["beta1"]) * gk
            v[k] = hp["beta2"] * v[k] + (1 - hp["beta2"]) * gk * gk
            bc1 = 1 - hp["beta1"] ** s if bias_correction else 1.0
            bc2 = 1 - hp["beta2"] ** s if bias_correction else 1.0
            wd = hp["weight_decay"] if k in ref.DECAY_KINDS else 0.0
            p[k] = p[k] * (1 - hp["lr"] * wd) - hp["lr"] * (m[k] / bc1) / (
                torch.sqrt(v[k] / bc2) + hp["eps"])
    return p


# ---------------------------------------------------------------- one case
def run_case(label, cfg, B, T, nsteps, seed, tmp, stats, sensitivity):
    gen = torch.Generator().manual_seed(seed)
    params = ref.random_params(cfg, gen)
    toks = [torch.randint(0, cfg.V, (B, T + 1), generator=gen) for _ in range(max(nsteps, 1))]
    batches = [(t[:, :T].contiguous(), t[:, 1:].contiguous()) for t in toks]

    model_path = os.path.join(tmp, f"{label}.bin")
    tokens_path = os.path.join(tmp, f"{label}.tokens")
    out_path = os.path.join(tmp, f"{label}.out")
    ref.write_model_file(model_path, cfg, params)
    write_tokens(tokens_path, B, T, [t.numpy() for t in toks])

    # the reference's own reader/writer agree (so a C mismatch is the C side's)
    cfg2, back = ref.read_model_file(model_path)
    same = vars(cfg2) == vars(cfg) and all(
        np.array_equal(back[k], params[k].numpy().astype(np.float32)) for k in ref.KINDS)
    report(same, f"{label}: reference model-file writer/reader round trip")

    hp = {"lr": f32(1e-3), "beta1": f32(0.9), "beta2": f32(0.95), "eps": f32(1e-8),
          "weight_decay": f32(0.1), "grad_clip": 0.0}
    if nsteps > 0:
        # Pick grad_clip so that clipping triggers on some steps and not on
        # others (both code paths), with every norm >= 0.5% away from it (no
        # step where fp32 rounding could decide the branch).
        _, free_norms, _, _ = ref.train(cfg, params, batches, **{**hp, "grad_clip": 1e30})
        chosen = None
        cands = sorted(free_norms)
        for a, b in zip(cands, cands[1:]):
            clip = f32(0.5 * (a + b))
            _, norms, factors, _ = ref.train(cfg, params, batches, **{**hp, "grad_clip": clip})
            clipped = sum(f < 1.0 for f in factors)
            far = all(abs(n - clip) > 0.005 * clip for n in norms)
            if 0 < clipped < nsteps and far:
                chosen = clip
                break
        report(chosen is not None, f"{label}: a grad_clip exercising both clipping paths exists",
               f"unclipped norms {free_norms}")
        if chosen is None:
            return
        hp["grad_clip"] = chosen

    # reference at the initial weights and along its own trajectory
    r_logits, r_loss, r_grads = ref.forward_backward(cfg, params, *batches[0])
    if nsteps > 0:
        r_losses, r_norms, r_factors, r_final = ref.train(cfg, params, batches, **hp)
        print(f"# {label}: grad_clip {hp['grad_clip']:.6g}, norms "
              + " ".join(f"{n:.5g}" for n in r_norms) + ", clip factors "
              + " ".join(f"{f:.4g}" for f in r_factors))

    # C
    if not os.path.exists(TOOL):
        report(False, f"{label}: C tool runs", f"{TOOL} missing: run `make tests` first")
        return
    t0 = time.time()
    rc, err = run_tool(model_path, tokens_path, out_path, B, T, nsteps, hp)
    report(rc == 0, f"{label}: C tool runs", f"exit status {rc}: {err}")
    if rc != 0:
        return
    print(f"# {label}: C tool took {time.time() - t0:.2f}s")
    try:
        c_logits, c_loss, c_grads, c_steps, c_step_params, c_step_grads = read_tool_output(
            out_path, cfg, B, T, nsteps)
    except (OSError, ValueError) as e:
        report(False, f"{label}: C tool output reads back", str(e))
        return

    TOL_FWD, TOL_LOSS = tol_fwd(cfg), tol_loss(cfg)
    TOL_GRAD = TOL_NORM = tol_grad(cfg, B, T)
    # ------------------------------------------------ step 0: forward and backward
    compare(f"{label}: logits (B,T,Vp)", c_logits, r_logits.numpy(), TOL_FWD, stats, "logits")
    compare(f"{label}: loss", [c_loss], [float(r_loss)], TOL_LOSS, stats, "loss")
    r_items = dict((n, a) for n, _, a in per_tensor_items(cfg, r_grads))
    for name, kind, c in per_tensor_items(cfg, c_grads):
        compare(f"{label}: grad {name}", c, r_items[name], TOL_GRAD, stats, "grads")

    def max_abs(a):
        return float(np.max(np.abs(a))) if a.size else 0.0
    # rows that get no gradient must get exactly none
    if cfg.Vp > cfg.V:
        report(max_abs(c_grads["wte"][cfg.V:]) == 0,
               f"{label}: grad of padded wte rows is exactly 0",
               f"max |grad| {max_abs(c_grads['wte'][cfg.V:]):.3g}")
    if cfg.maxT > T:
        report(max_abs(c_grads["wpe"][T:]) == 0, f"{label}: grad of wpe rows >= T is exactly 0",
               f"max |grad| {max_abs(c_grads['wpe'][T:]):.3g}")
    if nsteps == 0:
        return

    # ------------------------------------------------ every step, at the C parameters
    same = all(np.array_equal(c_step_params[0][k], params[k].numpy().astype(np.float32))
               for k in ref.KINDS)
    report(same, f"{label}: C model-file reader loads exactly the weights written",
           "the parameters the C code starts from differ from the file")
    # The reference loss, gradient and norm at the parameters the C step t
    # started from must match the C ones of step t (independent of the
    # optimizer, which is checked next).
    for t in range(1, nsteps + 1):
        p_t = {k: torch.as_tensor(np.array(v), dtype=torch.float64)
               for k, v in c_step_params[t - 1].items()}
        _, l_t, g_t = ref.forward_backward(cfg, p_t, *batches[t - 1])
        g_items = dict((n, a) for n, _, a in per_tensor_items(cfg, g_t))
        bad = []
        for name, kind, c in per_tensor_items(cfg, c_step_grads[t - 1]):
            if not compare("", c, g_items[name], TOL_GRAD, stats, "grads (every step)", quiet=True):
                mae, rel, scale = errors(c, g_items[name])
                bad.append(f"{name}: max abs err {mae:.3g} > {TOL_GRAD:g} * {scale:.3g}")
        report(not bad, f"{label}: step {t}: every gradient at the C parameters",
               "; ".join(bad))
        compare(f"{label}: step {t}: loss at the C parameters", [c_steps[t - 1, 0]], [float(l_t)],
                TOL_LOSS, stats, "loss (every step)")
        norm = math.sqrt(sum(float((g_t[k] ** 2).sum()) for k in ref.KINDS))
        factor = min(1.0, hp["grad_clip"] / (norm + 1e-6))
        compare(f"{label}: step {t}: grad norm", [c_steps[t - 1, 1]], [norm], TOL_NORM, stats,
                "grad norm")
        compare(f"{label}: step {t}: clip factor", [c_steps[t - 1, 2]], [factor], TOL_NORM, stats,
                "clip factor")

    # ------------------------------------------------ the optimizer
    try:
        cfg3, c_final = ref.read_model_file(out_path + ".model")
        report(vars(cfg3) == vars(cfg), f"{label}: C-written model file header",
               f"{cfg3} != {cfg}")
    except (OSError, ValueError) as e:
        report(False, f"{label}: C-written model file reads back", str(e))
        return

    def optimizer_worst(expected, quiet, st=None):
        """Checks the C final params against expected; returns the worst err / tolerance."""
        worst = 0.0
        exp = dict((n, a) for n, _, a in per_tensor_items(cfg, expected))
        for name, kind, c in per_tensor_items(cfg, c_final):
            r = exp[name]
            d = np.abs(c.astype(np.float64) - r)
            bound = opt_tol(hp["lr"], nsteps, r)
            good = bool(np.all(d <= bound))
            worst = max(worst, float(np.max(d / bound)))
            if st is not None:
                mae, rel, scale = errors(c, r)
                st.add("params (AdamW on the C grads)", mae, rel, mae / scale)
            if not quiet:
                i = np.unravel_index(int(np.argmax(d - bound)), d.shape)
                report(good, f"{label}: params after {nsteps} AdamW steps on the C gradients: "
                       f"{name}", f"max abs err {d.max():.3g}, max rel err {errors(c, r)[1]:.3g}, "
                       f"worst element {tuple(int(x) for x in i)}: err {d[i]:.3g} > "
                       f"tolerance {bound[i]:.3g} (nsteps*u*(2|p|+10lr))")
        return worst

    opt_ref = ref.train(cfg, params, None, **hp, given_grads=c_step_grads)[3]
    optimizer_worst(opt_ref, False, stats)

    # ------------------------------------------------ end to end
    compare(f"{label}: per-step losses (end to end)", c_steps[:, 0], r_losses, TOL_TRAJ_LOSS,
            stats, "step losses (end to end)")
    report(all((c < 1.0) == (r < 1.0) for c, r in zip(c_steps[:, 2], r_factors)),
           f"{label}: clipping triggered on the same steps (end to end)",
           f"C {list(c_steps[:, 2])} reference {r_factors}")
    p0 = dict((n, a) for n, _, a in per_tensor_items(cfg, params))
    rf = dict((n, a) for n, _, a in per_tensor_items(cfg, r_final))
    bad = []
    for name, kind, c in per_tensor_items(cfg, c_final):
        dc, dr = c.astype(np.float64) - p0[name], rf[name] - p0[name]
        mae = float(np.max(np.abs(dc - dr)))
        stats.add("params (end to end)", mae, 0.0,
                  float(np.linalg.norm(dc - dr) / np.linalg.norm(dr)))
        if mae > 2 * nsteps * hp["lr"]:
            bad.append(f"{name}: max abs err {mae:.3g}")
    report(not bad, f"{label}: params after {nsteps} steps within 2*nsteps*lr of the reference "
           "(end to end)", "; ".join(bad) + f" > {2 * nsteps * hp['lr']:.3g}")

    if not sensitivity:
        return

    # ------------------------------------------------ sensitivity self-checks
    # Each perturbed reference models a real bug; the comparisons above, with
    # the same tolerances, must reject the C results against it.
    def fwd_bwd_worst(variant):
        """Worst normwise error / tolerance over logits, loss and gradients."""
        lg, ls, gr = ref.forward_backward(cfg, params, *batches[0], variant=variant)
        worst = errors(c_logits, lg.numpy())[0] / (TOL_FWD * errors(c_logits, lg.numpy())[2])
        worst = max(worst, abs(c_loss - float(ls)) / (TOL_LOSS * abs(float(ls))))
        rg = dict((n, a) for n, _, a in per_tensor_items(cfg, gr))
        for name, _, c in per_tensor_items(cfg, c_grads):
            mae, _, scale = errors(c, rg[name])
            worst = max(worst, mae / (TOL_GRAD * scale) if scale > 0 else math.inf)
        return worst

    model_bugs = [
        ("exact-erf GELU instead of tanh", ref.Variant(gelu="erf")),
        ("causal mask off by one", ref.Variant(mask_offset=1)),
        ("heads interleaved instead of contiguous", ref.Variant(head_split="interleaved")),
        ("q and k swapped in the qkv split", ref.Variant(qkv_order="kqv")),
        ("loss over the padded vocabulary", ref.Variant(loss_vocab="Vp")),
        ("missing fcprojb gradient", ref.Variant(drop_bias_grad="fcprojb")),
        ("missing ln1b gradient", ref.Variant(drop_bias_grad="ln1b")),
    ]
    for what, variant in model_bugs:
        w = fwd_bwd_worst(variant)
        report(w > 1, f"{label}: sensitivity: {what} would fail ({w:.3g}x the tolerance)",
               "the comparison accepts the perturbed reference: tolerances too loose")

    g = c_step_grads
    all_kinds = set(ref.KINDS)
    opt_bugs = [
        ("weight decay on biases and LayerNorm params",
         ref.train(cfg, params, None, **hp, decay_kinds=all_kinds, given_grads=g)[3]),
        ("no weight decay at all",
         ref.train(cfg, params, None, **hp, decay_kinds=set(), given_grads=g)[3]),
        ("no gradient clipping", ref.train(cfg, params, None, **hp, clip=False, given_grads=g)[3]),
        ("no bias correction", train_manual(params, g, hp, bias_correction=False)),
        ("step counted from 2 (bias correction off by one)",
         train_manual(params, g, hp, step_offset=1)),
        ("beta1 and beta2 swapped",
         ref.train(cfg, params, None, **{**hp, "beta1": hp["beta2"], "beta2": hp["beta1"]},
                   given_grads=g)[3]),
    ]
    for what, perturbed in opt_bugs:
        w = optimizer_worst(perturbed, True)
        report(w > 1, f"{label}: sensitivity: {what} would fail ({w:.3g}x the tolerance)",
               "the comparison accepts the perturbed reference: tolerances too loose")
    # the hand-written AdamW used above agrees with torch.optim.AdamW (so the
    # perturbations differ from the reference only by the bug they model)
    manual = train_manual(params, g, hp)
    worst = max(float((manual[k] - opt_ref[k]).abs().max()) for k in ref.KINDS)
    report(worst < 1e-13, f"{label}: hand-written AdamW matches torch.optim.AdamW",
           f"max abs diff {worst:.3g}")


def main():
    torch.set_num_threads(1)
    t0 = time.time()
    stats = Stats()
    if not os.path.exists(TOOL):
        report(False, "tool_gpt2_steps is built", f"{TOOL} missing: run `make tests` first")
        sys.exit(1)
    with tempfile.TemporaryDirectory() as tmp:
        # main case: head size 16 with 3 heads, padded vocab, odd T < maxT
        run_case("tiny", ref.Config(max_seq_len=16, vocab_size=97, padded_vocab_size=128,
                                    num_layers=2, num_heads=3, channels=48),
                 B=3, T=11, nsteps=6, seed=1234, tmp=tmp, stats=stats, sensitivity=True)
        # odd shapes: head size 12, C not a multiple of 8, one layer, T = maxT
        run_case("odd", ref.Config(max_seq_len=7, vocab_size=101, padded_vocab_size=128,
                                   num_layers=1, num_heads=3, channels=36),
                 B=2, T=7, nsteps=3, seed=99, tmp=tmp, stats=stats, sensitivity=False)
        # GPT-2's real vocabulary (50257 padded to 50304) and a longer
        # context: forward and backward only
        run_case("gpt2vocab", ref.Config(max_seq_len=96, vocab_size=50257,
                                         padded_vocab_size=50304, num_layers=2, num_heads=4,
                                         channels=128),
                 B=2, T=64, nsteps=0, seed=7, tmp=tmp, stats=stats, sensitivity=False)
    for cat, (mae, rel, nw) in stats.worst.items():
        print(f"# worst {cat}: max abs err {mae:.3g}, max rel err {rel:.3g}, normwise {nw:.3g}")
    print(f"# took {time.time() - t0:.1f}s")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
