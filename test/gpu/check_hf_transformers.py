#!/usr/bin/env python3
"""Checks for a machine with transformers and a GPU (not run by CI: CI has
neither). Standalone; scripts/gpu_check.sh may call it after building
./sample_gpt2, ./sample_gpt2cu and ./sample_gpt2fp32cu (make sample_gpt2 gpu).

    python3 test/gpu/check_hf_transformers.py

1. transformers reads our export: a random GPT-2 (GPT-2's vocabulary,
   3 layers, 48 channels, context 64) written with test/gpt2_torch_ref.py,
   exported by scripts/export_hf.py, loaded with
   GPT2LMHeadModel.from_pretrained and run in float64: its logits equal the
   reference's (float64) within 1e-9 normwise (both compute in float64 from
   the same fp32 weights; anything but the same model is O(1) off).
2. we read transformers' files: that model saved again by save_pretrained
   (safetensors) imports (./sample_gpt2 loads the folder) and gives, with
   temperature 0, the reference's greedy tokens.
3. greedy decoding on the GPU engine: ./sample_gpt2fp32cu gives the CPU's
   tokens; ./sample_gpt2cu (bf16) gives them up to the first position where
   the reference's top-2 logit gap is below 0.1 (bf16 rounding moves logits
   by ~1e-2), reported.
Prints `ok - ...` / `not ok - ...` lines; exits 1 on a failure, 2 when
transformers is missing.
"""
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "test"))
import gpt2_torch_ref as ref  # noqa: E402

try:
    from transformers import GPT2LMHeadModel
except ImportError:
    print("error: transformers is not installed (pip install transformers)")
    sys.exit(2)

failures = 0


def check(name, cond, why=""):
    global failures
    print(("ok - " if cond else "not ok - ") + name + ("" if cond else f": {why}"))
    failures += not cond


def greedy_ref(cfg, params, prompt, n):
    seq, gaps = list(prompt), []
    for _ in range(n):
        logits, _ = ref.forward(cfg, params, torch.tensor([seq[-cfg.maxT:]]))
        lg = logits[0, -1, :cfg.V]
        top = torch.topk(lg, 2).values
        gaps.append(float(top[0] - top[1]))
        seq.append(int(torch.argmax(lg)))
    return seq[len(prompt):], gaps


def sample(binary, model, prompt, n):
    p = subprocess.run([binary, model, "--prompt-ids", ",".join(map(str, prompt)), "--tokens", str(n),
                        "--temperature", "0", "--print-ids"], capture_output=True, text=True, errors="replace", cwd=ROOT)
    if p.returncode != 0:
        return None, p.stderr.strip()[-300:]
    ids = [ln for ln in p.stdout.splitlines() if ln.startswith("ids:")]
    return [int(x) for x in ids[0].split()[1:]], ""


def main():
    tmp = tempfile.mkdtemp(prefix="omgd_hf_check_")
    cfg = ref.Config(64, 50257, 50304, 3, 3, 48)
    params = ref.random_params(cfg, torch.Generator().manual_seed(21))
    params["wte"][cfg.V:] = 0.0
    model = os.path.join(tmp, "model.bin")
    ref.write_model_file(model, cfg, params)
    folder = os.path.join(tmp, "hf")
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "export_hf.py"), model, folder], check=True)

    hf = GPT2LMHeadModel.from_pretrained(folder).double().eval()
    toks = torch.randint(0, cfg.V, (2, cfg.maxT), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        h = hf(toks).logits.numpy()
    r, _ = ref.forward(cfg, params, toks)
    r = r[..., :cfg.V].numpy()
    err = float(np.abs(h - r).max() / np.abs(r).max())
    check(f"GPT2LMHeadModel.from_pretrained(export) = reference logits (float64, normwise {err:.1e} <= 1e-9)",
          err <= 1e-9, f"{err:.3e}")

    saved = os.path.join(tmp, "hf_saved")
    hf.float().save_pretrained(saved, safe_serialization=True)
    prompt = [464, 3290, 318, 257]
    want, gaps = greedy_ref(cfg, params, prompt, 24)
    cpu = os.path.join(ROOT, "sample_gpt2")
    if os.access(cpu, os.X_OK):
        got, why = sample(cpu, saved, prompt, 24)
        check("transformers' save_pretrained folder imports: greedy tokens = the reference's", got == want,
              why or f"{got} vs {want}")
        cpu_ids, why = sample(cpu, model, prompt, 24)
        for binary, strict in (("sample_gpt2fp32cu", True), ("sample_gpt2cu", False)):
            path = os.path.join(ROOT, binary)
            if not os.access(path, os.X_OK):
                check(f"{binary} built", False, "make gpu")
                continue
            got, why = sample(path, model, prompt, 24)
            if got is None:
                check(f"{binary}: greedy decoding runs", False, why)
                continue
            agree = next((i for i, (a, b) in enumerate(zip(got, cpu_ids)) if a != b), len(cpu_ids))
            if strict:
                check(f"{binary}: greedy tokens = the CPU engine's (24 tokens)", got == cpu_ids, f"{got} vs {cpu_ids}")
            else:
                ok = agree == len(cpu_ids) or gaps[agree] < 0.1
                check(f"{binary} (bf16): greedy tokens = the CPU engine's for {agree} of 24 "
                      f"(first difference where the top-2 gap is {gaps[agree] if agree < 24 else float('nan'):.3f})",
                      ok, f"{got} vs {cpu_ids}, gaps {gaps}")
    else:
        check("./sample_gpt2 built", False, "make sample_gpt2")
    shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
