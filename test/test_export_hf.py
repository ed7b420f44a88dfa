"""Hugging Face export and import (scripts/export_hf.py, model/hf_model.c,
llm.c bf16 version-5 model files in model/model_file.c).

A random GPT-2 (GPT-2's vocabulary 50257 padded to 50304, 2 layers, 32
channels, context 32) is written with the PyTorch reference's writer.
Checked:
  - the exported model.safetensors, read by an independent reader
    (test/hf_folder.py), holds GPT2LMHeadModel's tensor names, F32, the
    Conv1D weights as (in, out), wte without padding, contiguous offsets;
  - the exported folder, run by the PyTorch reference with transformers'
    Conv1D semantics (y = x @ W + b), gives the C forward pass's logits
    (tool_gpt2_steps on the original file) within 1e-5 normwise (the C
    code's fp32 rounding is ~4C u = 8e-6 worst case at C = 32, see
    test_gpt2_torch.py; a missing transpose of a square c_proj moves them
    by O(1));
  - import: ./train_gpt2 with model.init_from = the folder, 0 steps, writes
    a model file with the same bytes as the original (padding rows zero);
    the same for a folder in the Hugging Face hub's layout (no
    "transformer." prefix, lm_head.weight present, attn.bias buffers);
  - bf16: export --dtype bfloat16 and an llm.c version-5 file written here
    import as the bf16 values (round to nearest even) widened exactly;
  - bad folders and files: one `error:` line naming the file and field.
transformers itself is not installed on CI: test/gpu/check_hf_transformers.py
loads the folder with GPT2LMHeadModel.from_pretrained where it is.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpt2_torch_ref as ref  # noqa: E402
import hf_folder  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.path.join(ROOT, "build", "tests", "tool_gpt2_steps")
EXPORT = os.path.join(ROOT, "scripts", "export_hf.py")
failures = 0


def check(name, cond, why=""):
    global failures
    if cond:
        print(f"ok - {name}")
    else:
        failures += 1
        print(f"not ok - {name}: {why}")


def sh(args):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, errors="replace", cwd=ROOT)


def export(model, out, *extra):
    p = sh([sys.executable, EXPORT, model, out] + list(extra))
    if p.returncode != 0:
        raise RuntimeError(p.stderr)
    return p.stdout


def import_bytes(tmp, source, tag, cfg):
    """./train_gpt2 with model.init_from=source, 0 steps: the bytes of the model file it writes."""
    out = os.path.join(tmp, "import_" + tag)
    p = sh(["./train_gpt2", "--config", "configs/default.json", "--set", "model.preset=",
            "--set", f"model.context={cfg.maxT}", "--set", f"model.depth={cfg.L}", "--set", f"model.channels={cfg.C}",
            "--set", f"model.heads={cfg.NH}",
            "--set", f"model.init_from={source}", "--set", "train.batch_size=1", "--set", "train.seq_len=8",
            "--set", "train.steps=0", "--set", "optimizer.warmup_steps=0", "--set", "train.val_every=0",
            "--set", "omgd.mode=none", "--set", f"output.dir={out}"])
    path = os.path.join(out, "model_00000000.bin")
    if p.returncode != 0 or not os.path.exists(path):
        return None, p.stderr.strip()[-300:]
    return open(path, "rb").read(), ""


def bf16_round(a):
    u = np.ascontiguousarray(a, dtype="<f4").view(np.uint32).astype(np.uint64)
    u = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) << 16
    return u.astype(np.uint32).view(np.float32)


def model_bytes(cfg, params):
    header = np.zeros(ref.HEADER_INTS, dtype="<i4")
    header[:8] = [ref.MAGIC, 3, cfg.maxT, cfg.V, cfg.L, cfg.NH, cfg.C, cfg.Vp]
    return header.tobytes() + b"".join(np.ascontiguousarray(np.asarray(params[k]), dtype="<f4").tobytes()
                                       for k in ref.KINDS)


def write_safetensors(path, tensors):
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name, a in tensors.items():
        b = np.ascontiguousarray(a, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    text = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little") + text + b"".join(blobs))


def expect_error(name, args, needle):
    p = sh(args)
    err = p.stderr.strip().splitlines()
    check(f"error: {name}", p.returncode == 1 and len(err) == 1 and err[0].startswith("error: ") and needle in err[0],
          f"rc {p.returncode}, stderr {p.stderr[-300:]!r}")


def main():
    tmp = tempfile.mkdtemp(prefix="omgd_hf_")
    try:
        run(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(1 if failures else 0)


def run(tmp):
    cfg = ref.Config(32, 50257, 50304, 2, 2, 32)
    params = ref.random_params(cfg, torch.Generator().manual_seed(5))
    params["wte"][cfg.V:] = 0.0  # padding rows: not exported, zero on import
    model = os.path.join(tmp, "model.bin")
    ref.write_model_file(model, cfg, params)
    folder = os.path.join(tmp, "hf")
    print("# " + export(model, folder).strip())

    # the safetensors file itself
    header, tensors = hf_folder.read_safetensors(os.path.join(folder, "model.safetensors"))
    C, L = cfg.C, cfg.L
    want = {"transformer.wte.weight": [cfg.V, C], "transformer.wpe.weight": [cfg.maxT, C],
            "transformer.ln_f.weight": [C], "transformer.ln_f.bias": [C]}
    for l in range(L):
        h = f"transformer.h.{l}."
        want.update({h + "ln_1.weight": [C], h + "ln_1.bias": [C], h + "attn.c_attn.weight": [C, 3 * C],
                     h + "attn.c_attn.bias": [3 * C], h + "attn.c_proj.weight": [C, C], h + "attn.c_proj.bias": [C],
                     h + "ln_2.weight": [C], h + "ln_2.bias": [C], h + "mlp.c_fc.weight": [C, 4 * C],
                     h + "mlp.c_fc.bias": [4 * C], h + "mlp.c_proj.weight": [4 * C, C], h + "mlp.c_proj.bias": [C]})
    got = {k: v["shape"] for k, v in header.items() if k != "__metadata__"}
    check("safetensors: GPT2LMHeadModel's names and shapes, Conv1D weights (in, out)", got == want,
          f"differences: {[k for k in set(got) | set(want) if got.get(k) != want.get(k)][:5]}")
    spans = sorted(v["data_offsets"] for k, v in header.items() if k != "__metadata__")
    contiguous = spans[0][0] == 0 and all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    size = os.path.getsize(os.path.join(folder, "model.safetensors"))
    n = int.from_bytes(open(os.path.join(folder, "model.safetensors"), "rb").read(8), "little")
    check("safetensors: F32, format pt, contiguous data filling the file, 8-byte aligned",
          all(v["dtype"] == "F32" for k, v in header.items() if k != "__metadata__")
          and header.get("__metadata__", {}).get("format") == "pt" and contiguous
          and 8 + n + spans[-1][1] == size and n % 8 == 0, f"header {str(header)[:200]}")
    hc = json.load(open(os.path.join(folder, "config.json")))
    check("config.json: GPT2LMHeadModel, the model's shape, gelu_new, tied embeddings",
          hc.get("architectures") == ["GPT2LMHeadModel"] and hc.get("model_type") == "gpt2"
          and (hc["vocab_size"], hc["n_positions"], hc["n_embd"], hc["n_layer"], hc["n_head"]) == (cfg.V, cfg.maxT, C, L, cfg.NH)
          and hc.get("activation_function") == "gelu_new" and hc.get("tie_word_embeddings") is True, f"{hc}")

    # logits: the folder through the reference = the C forward pass of the original file
    B, T = 2, 16
    g = torch.Generator().manual_seed(9)
    toks = torch.randint(0, cfg.V, (B, T + 1), generator=g)
    tok_path, out_path = os.path.join(tmp, "tokens.bin"), os.path.join(tmp, "out.bin")
    with open(tok_path, "wb") as f:
        np.array([B, T, 1], dtype="<i4").tofile(f)
        toks.numpy().astype("<i4").tofile(f)
    p = sh([TOOL, model, tok_path, out_path, B, T, 0, 0, 0.9, 0.95, 1e-8, 0, 1])
    if p.returncode != 0:
        check("C forward pass (tool_gpt2_steps)", False, p.stderr)
        return
    c_logits = np.frombuffer(open(out_path, "rb").read()[20:20 + 4 * B * T * cfg.Vp], dtype="<f4").reshape(B, T, cfg.Vp)
    hcfg, hp = hf_folder.read_folder(folder)
    r_logits, _ = ref.forward(hcfg, hp, toks[:, :T])
    r = r_logits[..., :cfg.V].numpy()
    err = float(np.abs(c_logits[..., :cfg.V] - r).max() / np.abs(r).max())
    check(f"exported folder in the reference = C logits (normwise {err:.1e} <= 1e-5)", err <= 1e-5, f"{err:.3e}")
    # sensitivity: the same folder read without transposing c_proj (square, so shapes still fit)
    bad = {k: v.clone() for k, v in hp.items()}
    bad["attprojw"] = bad["attprojw"].transpose(1, 2)
    b_logits, _ = ref.forward(hcfg, bad, toks[:, :T])
    berr = float(np.abs(c_logits[..., :cfg.V] - b_logits[..., :cfg.V].numpy()).max() / np.abs(r).max())
    check(f"a folder with an untransposed attn.c_proj would be caught (normwise {berr:.1e} > 1e-3)", berr > 1e-3,
          f"{berr:.3e}")

    # import: same bytes
    orig = open(model, "rb").read()
    got, why = import_bytes(tmp, folder, "hf", cfg)
    check("export then import (train_gpt2 model.init_from=folder) gives the same bytes", got == orig,
          why or "the files differ")
    hub = os.path.join(tmp, "hub")
    os.makedirs(hub)
    shutil.copy(os.path.join(folder, "config.json"), hub)
    _, t = hf_folder.read_safetensors(os.path.join(folder, "model.safetensors"))
    hub_t = {k[len("transformer."):]: v for k, v in t.items()}
    hub_t["lm_head.weight"] = hub_t["wte.weight"]
    for l in range(L):
        hub_t[f"h.{l}.attn.bias"] = np.tril(np.ones((cfg.maxT, cfg.maxT), dtype=np.float32))[None, None]
    write_safetensors(os.path.join(hub, "model.safetensors"), dict(reversed(list(hub_t.items()))))
    got, why = import_bytes(tmp, hub, "hub", cfg)
    check("a folder in the hub's layout (no prefix, lm_head.weight, attn.bias) imports to the same bytes",
          got == orig, why or "the files differ")

    # bf16: exported and llm.c version 5
    rounded = {k: bf16_round(np.asarray(params[k], dtype=np.float32)) for k in ref.KINDS}
    want = model_bytes(cfg, rounded)
    folder16 = os.path.join(tmp, "hf16")
    export(model, folder16, "--dtype", "bfloat16")
    h16, _ = hf_folder.read_safetensors(os.path.join(folder16, "model.safetensors"))
    got, why = import_bytes(tmp, folder16, "hf16", cfg)
    check("export --dtype bfloat16: BF16 tensors, importing to the rounded values",
          got == want and all(v["dtype"] == "BF16" for k, v in h16.items() if k != "__metadata__"),
          why or "the files differ")
    v5 = os.path.join(tmp, "model_v5.bin")
    header = np.zeros(ref.HEADER_INTS, dtype="<i4")
    header[:8] = [ref.MAGIC, 5, cfg.maxT, cfg.V, cfg.L, cfg.NH, cfg.C, cfg.Vp]
    with open(v5, "wb") as f:
        f.write(header.tobytes())
        for k in ref.KINDS:
            f.write((rounded[k].reshape(-1).view(np.uint32) >> 16).astype("<u2").tobytes())
    got, why = import_bytes(tmp, v5, "v5", cfg)
    check("an llm.c bf16 version-5 model file imports to its values widened to fp32", got == want,
          why or "the files differ")
    out5 = os.path.join(tmp, "hf_from_v5")
    export(v5, out5)
    got, why = import_bytes(tmp, out5, "hf_from_v5", cfg)
    check("export_hf.py reads version-5 files too", got == want, why or "the files differ")

    # bad input
    S = "./sample_gpt2"
    badcfg = os.path.join(tmp, "badcfg")
    shutil.copytree(folder, badcfg)
    c = json.load(open(os.path.join(badcfg, "config.json")))
    del c["n_embd"]
    json.dump(c, open(os.path.join(badcfg, "config.json"), "w"))
    expect_error("config.json without n_embd", [S, badcfg], "config.json: field n_embd")
    c["n_embd"] = C
    c["activation_function"] = "relu"
    json.dump(c, open(os.path.join(badcfg, "config.json"), "w"))
    expect_error("an activation other than gelu_new", [S, badcfg], "activation_function relu")
    missing = os.path.join(tmp, "missing")
    os.makedirs(missing)
    shutil.copy(os.path.join(folder, "config.json"), missing)
    write_safetensors(os.path.join(missing, "model.safetensors"),
                      {k: v for k, v in t.items() if k != "transformer.h.1.mlp.c_fc.bias"})
    expect_error("a missing tensor", [S, missing], "tensor h.1.mlp.c_fc.bias is missing")
    write_safetensors(os.path.join(missing, "model.safetensors"),
                      {k: (v.T if k == "transformer.h.0.attn.c_attn.weight" else v) for k, v in t.items()})
    expect_error("a Conv1D weight in the wrong orientation", [S, missing], "h.0.attn.c_attn.weight: dimension 0 is 96")
    untied = dict(t)
    untied["lm_head.weight"] = t["transformer.wte.weight"] + 1
    write_safetensors(os.path.join(missing, "model.safetensors"), untied)
    expect_error("an untied lm_head", [S, missing], "lm_head.weight differs from wte.weight")
    with open(os.path.join(missing, "model.safetensors"), "wb") as f:
        f.write((1 << 40).to_bytes(8, "little") + b"{}")
    expect_error("a truncated safetensors header", [S, missing], "header length")
    trunc = os.path.join(tmp, "trunc_v5.bin")
    open(trunc, "wb").write(open(v5, "rb").read()[:-2])
    expect_error("a truncated version-5 file", [S, trunc], "not bf16")
    expect_error("export of a missing file", [sys.executable, EXPORT, os.path.join(tmp, "nope.bin"), out5], "nope.bin")


if __name__ == "__main__":
    main()
