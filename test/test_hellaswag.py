"""HellaSwag during training (data/hellaswag.c, train.hellaswag_every,
data.hellaswag), on a file in llm.c's hellaswag_val.bin format written here
from the format's definition (see data/hellaswag.h).

A random GPT-2 (GPT-2's vocabulary, 2 layers, context 32) is written with
the PyTorch reference's writer; 12 examples of random tokens get 4 endings
each. The reference (float64) scores every ending as llm.c does: the mean
cross-entropy of the ending's tokens, each predicted from all tokens before
it, the row cut to the last seq_len + 1 tokens (3 examples are longer than
that). The label is the reference's answer for 9 examples and another
ending for 3, so the right accuracy is 0.75. The examples are drawn so that
the reference's answer differs from the lowest *summed* loss in at least 3
examples, and in the 3 long ones from the answer without the context cut
and from the answer with the row cut on the wrong side (its end), and
the best ending wins by > 1e-3 (the C loss is fp32, ~1e-6 off).
Checked:
  - ./train_gpt2 (model.init_from, 0 steps) logs {"type":"eval","step":0,"hellaswag":0.75};
  - under mpirun with 2 and 3 ranks (examples shared out r, r + N, ...):
    the same record;
  - SIGTERM during a long evaluation stops the run within a second, with
    no eval record (the partial score is not logged);
  - bad files and a missing data.hellaswag: one `error:` line;
  - scripts/prepare_hellaswag.py --jsonl (the download needs internet, not
    run here): the file written from 3 HellaSwag-style examples holds the
    GPT-2 tokens of each context and of each ending with a leading space,
    and the trainer reads it.
"""
import json
import os
import shutil
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
SEQ = 16
failures = 0


def check(name, cond, why=""):
    global failures
    if cond:
        print(f"ok - {name}")
    else:
        failures += 1
        print(f"not ok - {name}: {why}")


def write_hellaswag(path, examples):
    """llm.c's format: 256 int32 header (magic 20240522, version 1, count,
    longest example bytes), then per example uint16: 65535, its bytes, index,
    label, number of endings, context length, context, (length, tokens) per ending."""
    body, longest = [], 0
    for i, (ctx, ends, label) in enumerate(examples):
        e = [65535, 0, i, label, len(ends), len(ctx)] + list(ctx)
        for end in ends:
            e += [len(end)] + list(end)
        e[1] = 2 * len(e)
        longest = max(longest, e[1])
        body += e
    header = np.zeros(256, dtype="<i4")
    header[:4] = [20240522, 1, len(examples), longest]
    with open(path, "wb") as f:
        f.write(header.tobytes())
        f.write(np.array(body, dtype="<u2").tobytes())


def ending_losses(cfg, params, ctx, ends, window):
    """Per ending: (mean loss as llm.c and data/hellaswag.h define it, summed
    loss, mean loss without the cut, mean loss of a row cut on the wrong side)."""
    out = []
    for end in ends:
        row = list(ctx) + list(end)
        drop = max(len(row) - 1 - window, 0)
        res = []
        for r, first in ((row[drop:], max(len(ctx) - 1 - drop, 0)),  # the last window + 1 tokens
                         (row, len(ctx) - 1),                          # no cut
                         (row[:len(row) - drop], max(len(ctx) - 1 - drop, 0))):  # the first ones
            logits, _ = ref.forward(cfg, params, torch.tensor([r[:-1]]))
            lp = torch.log_softmax(logits[0, :, :cfg.V], dim=-1)
            losses = -lp[torch.arange(len(r) - 1), torch.tensor(r[1:])]
            res.append(losses[first:])
        out.append((float(res[0].mean()), float(res[0].sum()), float(res[1].mean()), float(res[2].mean())))
    return out


def make_examples(cfg, params, rng):
    """12 examples (see the module docstring) and the right accuracy."""
    examples, sum_differs = [], 0
    while len(examples) < 12:
        long = len(examples) < 3
        ctx = rng.integers(0, cfg.V, size=int(rng.integers(22, 28) if long else rng.integers(2, 8))).tolist()
        ends = [rng.integers(0, cfg.V, size=int(rng.integers(1, 6))).tolist() for _ in range(4)]
        sc = ending_losses(cfg, params, ctx, ends, SEQ)
        means = [s[0] for s in sc]
        order = np.argsort(means)
        if means[order[1]] - means[order[0]] < 1e-3:
            continue
        best = int(order[0])
        by_sum = int(np.argmin([s[1] for s in sc]))
        if long and (int(np.argmin([s[2] for s in sc])) == best or int(np.argmin([s[3] for s in sc])) == best):
            continue  # the cut, and its side, must matter
        if len(examples) in (3, 4, 5) and by_sum == best:
            continue  # some examples where a summed loss answers differently
        sum_differs += by_sum != best
        label = best if len(examples) % 4 != 2 else int(order[2])  # examples 2, 6, 10: a wrong label
        examples.append((ctx, ends, label))
    return examples, 9 / 12, sum_differs


def train(out_dir, model, hs, extra=(), mpi=0, popen=False):
    args = ["./train_gpt2", "--config", "configs/default.json", "--set", "model.preset=",
            "--set", f"model.init_from={model}", "--set", "model.context=32", "--set", "model.depth=2",
            "--set", "model.channels=32", "--set", "model.heads=2", "--set", "train.batch_size=1",
            "--set", f"train.seq_len={SEQ}", "--set", f"train.total_batch_tokens={6 * SEQ}", "--set", "train.steps=0", "--set", "optimizer.warmup_steps=0",
            "--set", "train.val_every=0", "--set", "train.sample_every=0", "--set", "omgd.mode=none",
            "--set", "train.hellaswag_every=1", "--set", f"data.hellaswag={hs}",
            "--set", f"output.dir={out_dir}"] + list(extra)
    if mpi:
        args = ["mpirun", "--oversubscribe", "-x", "OMP_NUM_THREADS", "-np", str(mpi)] + args
    env = dict(os.environ, OMP_NUM_THREADS="1", OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    if popen:
        return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace",
                                cwd=ROOT, env=env)
    return subprocess.run(args, capture_output=True, text=True, errors="replace", cwd=ROOT, env=env)


def evals(out_dir):
    path = os.path.join(out_dir, "log.jsonl")
    if not os.path.exists(path):
        return []
    return [r for r in map(json.loads, open(path)) if r.get("type") == "eval"]


def main():
    tmp = tempfile.mkdtemp(prefix="omgd_hs_")
    try:
        run(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(1 if failures else 0)


def run(tmp):
    cfg = ref.Config(32, 50257, 50304, 2, 2, 32)
    params = ref.random_params(cfg, torch.Generator().manual_seed(11))
    params["wte"][cfg.V:] = 0.0
    model = os.path.join(tmp, "model.bin")
    ref.write_model_file(model, cfg, params)
    examples, acc, sum_differs = make_examples(cfg, params, np.random.default_rng(3))
    hs = os.path.join(tmp, "hellaswag.bin")
    write_hellaswag(hs, examples)
    print(f"# 12 examples; the lowest summed loss answers differently in {sum_differs}")

    p = train(os.path.join(tmp, "one"), model, hs)
    ev = evals(os.path.join(tmp, "one"))
    check(f"1 process: logs the reference's accuracy {acc}",
          p.returncode == 0 and len(ev) == 1 and ev[0]["step"] == 0 and abs(ev[0]["hellaswag"] - acc) < 1e-6
          and "hellaswag 0.7500 (12 examples)" in p.stdout, f"rc {p.returncode}, {ev}, {p.stderr[-300:]}")
    if shutil.which("mpirun"):
        for n in (2, 3):
            p = train(os.path.join(tmp, f"mpi{n}"), model, hs, mpi=n)
            evn = evals(os.path.join(tmp, f"mpi{n}"))
            check(f"mpirun -np {n}: the examples shared over the ranks give the same record",
                  p.returncode == 0 and evn == ev and len(ev) == 1, f"rc {p.returncode}, {evn} vs {ev}, {p.stderr[-300:]}")
    else:
        check("mpirun available", False, "install openmpi-bin (scripts/install_deps.sh does)")

    # SIGTERM during a long evaluation
    rng = np.random.default_rng(4)
    many = [(rng.integers(0, cfg.V, size=SEQ - 4).tolist(), [rng.integers(0, cfg.V, size=4).tolist() for _ in range(4)], 0)
            for _ in range(20000)]
    long_hs = os.path.join(tmp, "long.bin")
    write_hellaswag(long_hs, many)
    out = os.path.join(tmp, "stopped")
    proc = train(out, model, long_hs, extra=["--set", "train.steps=2", "--set", "train.hellaswag_every=100"],
                 popen=True)
    time.sleep(3)
    t0 = time.time()
    proc.send_signal(signal.SIGTERM)
    try:
        so, se = proc.communicate(timeout=20)
        waited = time.time() - t0
    except subprocess.TimeoutExpired:
        proc.kill()
        so, se = proc.communicate()
        waited = float("inf")
    check(f"SIGTERM during HellaSwag: stopped in {waited:.2f} s with a checkpoint, no eval record",
          waited < 1.5 and proc.returncode == 0 and evals(out) == [] and "stopped by SIGTERM" in so,
          f"rc {proc.returncode}, waited {waited:.2f} s, evals {evals(out)}, {se[-300:]}")

    # bad files: one error line
    def expect(name, path, needle, extra=()):
        p = train(os.path.join(tmp, "err"), model, path, extra=extra)
        err = p.stderr.strip().splitlines()
        check(f"error: {name}", p.returncode == 1 and len(err) == 1 and err[0].startswith("error: ") and needle in err[0],
              f"rc {p.returncode}, stderr {p.stderr[-300:]!r}")
        shutil.rmtree(os.path.join(tmp, "err"), ignore_errors=True)

    raw = open(hs, "rb").read()
    bad = os.path.join(tmp, "bad.bin")
    open(bad, "wb").write(b"\x00" * 4 + raw[4:])
    expect("bad magic", bad, "bad magic number 0")
    open(bad, "wb").write(raw[:-2])
    expect("a truncated file", bad, "example 11")
    b = bytearray(raw)
    b[1024 + 6:1024 + 8] = (7).to_bytes(2, "little")  # example 0's label
    open(bad, "wb").write(bytes(b))
    expect("a label beyond the endings", bad, "example 0: label 7")
    b = bytearray(raw)
    b[1024 + 12:1024 + 14] = (60000).to_bytes(2, "little")  # example 0's first context token
    open(bad, "wb").write(bytes(b))
    expect("a token outside the vocabulary", bad, "token 60000 is outside")
    expect("a missing file", os.path.join(tmp, "nope.bin"), "nope.bin")
    expect("train.hellaswag_every without data.hellaswag", "", "needs data.hellaswag")

    # scripts/prepare_hellaswag.py on a local jsonl
    sys.path.insert(0, os.path.join(ROOT, "data"))
    from gpt2_bpe import GPT2Encoder
    enc = GPT2Encoder()
    rows = [{"ctx": "A man is sitting on a roof. he", "label": 3,
             "endings": ["is using wrap to wrap a pair of skis.", "is ripping level tiles off.",
                         "is holding a rubik's cube.", "starts pulling up roofing on a roof."]},
            {"ctx": "Then, the man writes over the snow", "label": 0,
             "endings": ["covering the window.", "drinking coffee.", "walks.", "café au lait, naïve"]},
            {"ctx": "x", "label": 1, "endings": ["a", "b c", "d", "e"]}]
    jl = os.path.join(tmp, "val.jsonl")
    with open(jl, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    prep = os.path.join(tmp, "prepared.bin")
    p = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "prepare_hellaswag.py"), "--jsonl", jl,
                        "--out", prep], capture_output=True, text=True, cwd=ROOT)
    write_hellaswag(os.path.join(tmp, "expected.bin"),
                    [(enc.encode(r["ctx"]), [enc.encode(" " + e) for e in r["endings"]], r["label"]) for r in rows])
    same = os.path.exists(prep) and open(prep, "rb").read() == open(os.path.join(tmp, "expected.bin"), "rb").read()
    check("prepare_hellaswag.py --jsonl: contexts and ' ' + endings in GPT-2 tokens, llm.c's layout",
          p.returncode == 0 and same, f"rc {p.returncode} {p.stderr[-200:]}")
    p = train(os.path.join(tmp, "prepared"), model, prep)
    check("the trainer scores the prepared file", p.returncode == 0 and len(evals(os.path.join(tmp, "prepared"))) == 1,
          f"rc {p.returncode} {p.stderr[-200:]}")


if __name__ == "__main__":
    main()
