"""Sampling (model/sampler.c, ./sample_gpt2, scripts/sample.py).

A random GPT-2 (GPT-2's vocabulary, 2 layers, context 16) is written with
the PyTorch reference's writer (test/gpt2_torch_ref.py). Checked:
  - temperature 0 gives, token after token, the argmax of the reference's
    logits (float64) for the sequence so far, including past the context
    (the model then sees the last 16 tokens; prompts of 24 tokens);
  - top-k 1 gives the greedy tokens (at temperature 1, any seed);
  - the same seed gives the same samples twice, another seed other ones;
  - the first sampled token's frequencies over 2000 samples match the
    reference distribution (model/sampler.h's rule applied to the
    reference's logits) for temperature + top-k, top-k + top-p, and top-p:
    tokens outside the kept set never appear, every kept token expected 20
    or more times does (a wrong member of the kept set), and the total variation
    distance is below 2.5 times its expected value for N draws from the
    right distribution (the seed is fixed, so the check is deterministic);
    the bound is checked to be below a third of the distance to the
    distribution a sampler ignoring the setting would give;
  - scripts/sample.py: a text prompt is encoded, and the printed sample
    starts with the prompt decoded back to itself;
  - a run directory samples from its newest checkpoint;
  - Ctrl-C (SIGINT) ends a long sample within a second;
  - bad options: one `error:` line.
"""
import os
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpt2_torch_ref as ref  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "data"))
os.environ["OMP_NUM_THREADS"] = "1"  # thousands of tiny forward passes: threads only wait on each other
SAMPLE = os.path.join(ROOT, "sample_gpt2")
failures = 0


def check(name, cond, why=""):
    global failures
    if cond:
        print(f"ok - {name}")
    else:
        failures += 1
        print(f"not ok - {name}: {why}")


def run(args, **kw):
    # samples are bytes of GPT-2 tokens: not always whole UTF-8 characters
    return subprocess.run([SAMPLE] + [str(a) for a in args], capture_output=True, text=True, errors="replace",
                          cwd=ROOT, **kw)


def sample_ids(model, args):
    p = run([model, "--print-ids"] + args)
    if p.returncode != 0:
        raise RuntimeError(p.stderr.strip())
    return [[int(x) for x in line.split()[1:]] for line in p.stdout.splitlines() if line.startswith("ids:")]


def ref_logits(cfg, params, tokens):
    """float64 logits over the real vocabulary after tokens (the last maxT of them)."""
    window = tokens[-cfg.maxT:]
    logits, _ = ref.forward(cfg, params, torch.tensor([window]))
    return logits[0, -1, :cfg.V].double()


def kept_distribution(logits, temperature, top_k=0, top_p=1.0):
    """The sampler's rule (model/sampler.h) on the reference logits."""
    p = torch.softmax(logits / temperature, dim=0).numpy()
    order = np.lexsort((np.arange(p.size), -p))  # by probability, then id
    keep = order if top_k == 0 else order[:top_k]
    if top_p < 1.0:
        mass = np.cumsum(p[keep]) / p[keep].sum()
        keep = keep[:int(np.searchsorted(mass, top_p) + 1)]
    q = np.zeros_like(p)
    q[keep] = p[keep]
    return q / q.sum()


def tv(a, b):
    return 0.5 * float(np.abs(a - b).sum())


def main():
    cfg = ref.Config(16, 50257, 50304, 2, 2, 32)
    gen = torch.Generator().manual_seed(17)
    params = ref.random_params(cfg, gen)
    params["wte"][cfg.V:] = 0.0
    tmp = tempfile.mkdtemp(prefix="omgd_sample_")
    model = os.path.join(tmp, "model.bin")
    ref.write_model_file(model, cfg, params)

    # greedy = the reference's argmax, 23 tokens (past the context of 16)
    prompt = [464, 3290, 318]
    got = sample_ids(model, ["--prompt-ids", ",".join(map(str, prompt)), "--tokens", 20, "--temperature", 0])[0]
    seq, want, margin = list(prompt), [], float("inf")
    for _ in range(20):
        lg = ref_logits(cfg, params, seq)
        top2 = torch.topk(lg, 2).values
        margin = min(margin, float(top2[0] - top2[1]))
        seq.append(int(torch.argmax(lg)))
        want.append(seq[-1])
    check(f"temperature 0: each token is the argmax of the reference's logits (20 tokens, smallest top-2 gap {margin:.2e})",
          got == want, f"C {got}, reference {want}")
    # prompts longer than the context: every token is decided by the last 16 alone
    rng = np.random.default_rng(1)
    bad = []
    for i in range(5):
        pr = rng.integers(0, cfg.V, size=24).tolist()
        got = sample_ids(model, ["--prompt-ids", ",".join(map(str, pr)), "--tokens", 4, "--temperature", 0])[0]
        seq = list(pr)
        for _ in range(4):
            seq.append(int(torch.argmax(ref_logits(cfg, params, seq))))
        if got != seq[24:]:
            bad.append((i, got, seq[24:]))
    check("temperature 0 after prompts of 24 tokens (context 16): the reference's argmax of the last 16", not bad,
          f"{bad}")

    # top-k 1 = greedy whatever the seed
    k1 = sample_ids(model, ["--prompt-ids", "464,3290,318", "--tokens", 20, "--top-k", 1, "--seed", 99])[0]
    check("top-k 1 gives the greedy tokens", k1 == want, f"top-k 1 {k1}, greedy {want}")

    # fixed seed
    a = sample_ids(model, ["--tokens", 12, "--num-samples", 3, "--seed", 7, "--top-p", 0.9])
    b = sample_ids(model, ["--tokens", 12, "--num-samples", 3, "--seed", 7, "--top-p", 0.9])
    c = sample_ids(model, ["--tokens", 12, "--num-samples", 3, "--seed", 8, "--top-p", 0.9])
    check("the same seed gives the same samples", a == b and len(a) == 3, f"{a} vs {b}")
    check("another seed gives other samples", a != c, f"{a} vs {c}")
    check("the samples of one run differ from each other", len({tuple(s) for s in a}) == 3, f"{a}")

    # distributions of the first sampled token
    N = 2000
    lg = ref_logits(cfg, params, [464, 3290])
    for name, opts, want_q, mutant_q in [
        ("temperature 0.3 + top-k 6", ["--temperature", 0.3, "--top-k", 6],
         kept_distribution(lg, 0.3, top_k=6), kept_distribution(lg, 1.0, top_k=6)),
        ("temperature 5 + top-k 6", ["--temperature", 5, "--top-k", 6],
         kept_distribution(lg, 5.0, top_k=6), kept_distribution(lg, 5.0)),
        ("temperature 2 + top-k 40 + top-p 0.5", ["--temperature", 2, "--top-k", 40, "--top-p", 0.5],
         kept_distribution(lg, 2.0, top_k=40, top_p=0.5), kept_distribution(lg, 2.0, top_k=40)),
        ("temperature 1.5 + top-p 0.002", ["--temperature", 1.5, "--top-p", 0.002],
         kept_distribution(lg, 1.5, top_p=0.002), kept_distribution(lg, 1.5, top_k=6))]:
        ids = [s[0] for s in sample_ids(model, ["--prompt-ids", "464,3290", "--tokens", 1, "--num-samples", N,
                                                "--seed", 5] + opts)]
        emp = np.bincount(ids, minlength=cfg.V) / len(ids)
        outside = int(sum(1 for t in ids if want_q[t] == 0))
        d, dm = tv(emp, want_q), tv(want_q, mutant_q)
        # the expected TV of N draws from want_q itself (mean |binomial error| = sqrt(2 p (1-p) / (pi N)))
        noise = 0.5 * float(np.sum(np.sqrt(2 * want_q * (1 - want_q) / (np.pi * N))))
        bound = 2.5 * noise
        missing = [t for t in np.nonzero(want_q * N >= 20)[0] if emp[t] == 0]
        check(f"{name}: only the kept tokens ({int((want_q > 0).sum())}) are drawn, each one expected 20+ times is",
              outside == 0 and not missing and len(ids) == N, f"{outside} of {len(ids)} draws outside, never drawn: {missing}")
        check(f"{name}: frequencies match the reference (TV {d:.3f} < {bound:.3f} = 2.5 x the expected sampling noise; "
              f"a sampler without the setting: TV {dm:.2f})",
              d < bound and dm > 3 * bound, f"TV {d:.3f}, distance to the mutant distribution {dm:.3f}")

    # text prompt through scripts/sample.py
    text = "Hello world, the quick brown fox"
    from gpt2_bpe import GPT2Encoder
    ids = GPT2Encoder().encode(text)
    p = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "sample.py"), model, "--prompt", text,
                        "--tokens", "5", "--temperature", "0", "--print-ids"], capture_output=True, text=True,
                       errors="replace", cwd=ROOT)
    lines = p.stdout.splitlines()
    check("scripts/sample.py: the sample starts with the prompt, decoded back to itself",
          p.returncode == 0 and len(lines) >= 2 and lines[1].startswith(text) and GPT2Encoder().decode(ids) == text,
          f"rc {p.returncode}: {p.stdout[:200]!r} {p.stderr[:200]!r}")
    got = [int(x) for x in lines[-1].split()[1:]] if lines and lines[-1].startswith("ids:") else []
    seq, want = list(ids), []
    for _ in range(5):
        seq.append(int(torch.argmax(ref_logits(cfg, params, seq))))
        want.append(seq[-1])
    check("scripts/sample.py: greedy continuation of the encoded prompt is the reference's", got == want,
          f"{got} vs {want}")

    # a run directory: its newest checkpoint
    run_dir = os.path.join(tmp, "run")
    os.makedirs(run_dir)
    t = subprocess.run([os.path.join(ROOT, "train_gpt2"), "--config", "configs/default.json", "--set", "model.preset=",
                        "--set", "model.depth=1", "--set", "model.channels=16", "--set", "model.heads=2",
                        "--set", "model.context=16", "--set", "train.batch_size=1", "--set", "train.seq_len=8",
                        "--set", "train.steps=2", "--set", "optimizer.warmup_steps=1", "--set", "train.val_every=0",
                        "--set", "output.checkpoint_every=1", "--set", f"output.dir={run_dir}"],
                       capture_output=True, text=True, errors="replace", cwd=ROOT)
    p = run([run_dir, "--tokens", 3])
    check("a run directory samples from its newest checkpoint",
          t.returncode == 0 and p.returncode == 0 and "model_00000002.bin (newest checkpoint, step 2)" in p.stderr,
          f"train rc {t.returncode} {t.stderr[-200:]}; sample rc {p.returncode} {p.stderr[-300:]}")

    # SIGINT: the current sample ends after its token
    proc = subprocess.Popen([SAMPLE, model, "--tokens", "1000000", "--print-ids"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, errors="replace", cwd=ROOT)
    time.sleep(1.5)
    t0 = time.time()
    proc.send_signal(signal.SIGINT)
    try:
        out, _ = proc.communicate(timeout=10)
        waited = time.time() - t0
    except subprocess.TimeoutExpired:
        proc.kill()
        out, waited = "", float("inf")
    made = [ln for ln in out.splitlines() if ln.startswith("ids:")]
    n = len(made[0].split()) - 1 if made else 0
    check(f"SIGINT ends a long sample within a second ({waited:.2f} s, after {n} tokens, exit {proc.returncode})",
          waited < 1.0 and proc.returncode == 130 and 0 < n < 1000000, f"waited {waited:.2f} s, exit {proc.returncode}")

    # errors: one line
    for name, args, needle in [
        ("negative temperature", [model, "--temperature", "-1"], "temperature -1"),
        ("top-p above 1", [model, "--top-p", "1.5"], "top-p 1.5"),
        ("unknown option", [model, "--topk", "3"], "unknown option --topk"),
        ("prompt id outside the vocabulary", [model, "--prompt-ids", "50257"], "50257 is outside"),
        ("bad prompt id list", [model, "--prompt-ids", "1,x"], "--prompt-ids '1,x'"),
        ("missing model", [os.path.join(tmp, "nope.bin")], "nope.bin: no such model"),
        ("a directory with no checkpoint", [tmp], "neither a checkpoint")]:
        p = run(args)
        err = p.stderr.strip().splitlines()
        check(f"error: {name}", p.returncode == 1 and len(err) == 1 and err[0].startswith("error: ") and needle in err[0],
              f"rc {p.returncode}, stderr {p.stderr[-300:]!r}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
