#!/usr/bin/env python3
"""Exports a model file to a Hugging Face GPT-2 folder.

    scripts/export_hf.py MODEL OUT_DIR [--dtype float32|bfloat16]

MODEL: an llm.c model file (fp32 version 3, as the trainer writes, or bf16
version 5) or a run directory (its newest model_*.bin). OUT_DIR gets
  config.json        GPT2Config (n_positions, vocab_size, n_layer, n_head,
                     n_embd, activation_function gelu_new, tied embeddings)
  model.safetensors  the weights, written by this script: tensor names of
                     GPT2LMHeadModel ("transformer.h.0.attn.c_attn.weight",
                     ...), no lm_head.weight (tied to wte, as save_pretrained
                     writes it), Conv1D weights as (in, out) -- the transpose
                     of our (out, in) -- and wte without the padding rows.
transformers loads it with GPT2LMHeadModel.from_pretrained(OUT_DIR); the
trainer and ./sample_gpt2 load it as a model (model.init_from=OUT_DIR).

Needs only numpy.
"""
import argparse
import glob
import json
import os
import sys

import numpy as np

MAGIC = 20240326
HEADER_INTS = 256
KINDS = ["wte", "wpe", "ln1w", "ln1b", "qkvw", "qkvb", "attprojw", "attprojb",
         "ln2w", "ln2b", "fcw", "fcb", "fcprojw", "fcprojb", "lnfw", "lnfb"]
# our per-block tensors -> (Hugging Face name inside h.<l>., is a Conv1D weight)
BLOCK_NAMES = {"ln1w": ("ln_1.weight", False), "ln1b": ("ln_1.bias", False),
               "qkvw": ("attn.c_attn.weight", True), "qkvb": ("attn.c_attn.bias", False),
               "attprojw": ("attn.c_proj.weight", True), "attprojb": ("attn.c_proj.bias", False),
               "ln2w": ("ln_2.weight", False), "ln2b": ("ln_2.bias", False),
               "fcw": ("mlp.c_fc.weight", True), "fcb": ("mlp.c_fc.bias", False),
               "fcprojw": ("mlp.c_proj.weight", True), "fcprojb": ("mlp.c_proj.bias", False)}


def fail(msg):
    sys.exit(f"error: {msg}")


def shapes(maxT, V, Vp, L, NH, C):
    return {"wte": (Vp, C), "wpe": (maxT, C), "ln1w": (L, C), "ln1b": (L, C),
            "qkvw": (L, 3 * C, C), "qkvb": (L, 3 * C), "attprojw": (L, C, C), "attprojb": (L, C),
            "ln2w": (L, C), "ln2b": (L, C), "fcw": (L, 4 * C, C), "fcb": (L, 4 * C),
            "fcprojw": (L, C, 4 * C), "fcprojb": (L, C), "lnfw": (C,), "lnfb": (C,)}


def read_model_file(path):
    """(dims dict, kind -> float32 array in llm.c's file shapes) of a v3 or v5 file."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        header = np.frombuffer(f.read(HEADER_INTS * 4), dtype="<i4")
        if header.size != HEADER_INTS or header[0] != MAGIC:
            fail(f"{path}: not an llm.c model file (magic {header[0] if header.size else None}, expected {MAGIC})")
        version = int(header[1])
        if version not in (3, 5):
            fail(f"{path}: model file version {version}, expected 3 (fp32) or 5 (bf16)")
        maxT, V, L, NH, C, Vp = (int(x) for x in header[2:8])
        if min(maxT, V, L, NH, C) <= 0 or Vp < V or C % NH:
            fail(f"{path}: implausible dimensions in header (maxT {maxT}, V {V}, L {L}, NH {NH}, C {C}, Vp {Vp})")
        shp = shapes(maxT, V, Vp, L, NH, C)
        n = sum(int(np.prod(s)) for s in shp.values())
        width = 4 if version == 3 else 2
        if size != HEADER_INTS * 4 + n * width:
            fail(f"{path}: {size} bytes, expected {HEADER_INTS * 4 + n * width} for these dimensions")
        raw = f.read()
    if version == 3:
        flat = np.frombuffer(raw, dtype="<f4")
    else:  # bf16: the upper half of an fp32
        flat = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
    params, off = {}, 0
    for k in KINDS:
        m = int(np.prod(shp[k]))
        params[k] = flat[off:off + m].reshape(shp[k])
        off += m
    return dict(maxT=maxT, V=V, Vp=Vp, L=L, NH=NH, C=C), params


def hf_tensors(dims, p):
    """Ordered list of (name, float32 array) in GPT2LMHeadModel's names and orientation."""
    V, L = dims["V"], dims["L"]
    out = [("transformer.wte.weight", p["wte"][:V]), ("transformer.wpe.weight", p["wpe"])]
    for l in range(L):
        for kind, (name, conv1d) in BLOCK_NAMES.items():
            t = p[kind][l]
            out.append((f"transformer.h.{l}.{name}", t.T if conv1d else t))
    out += [("transformer.ln_f.weight", p["lnfw"]), ("transformer.ln_f.bias", p["lnfb"])]
    return out


def to_bf16(a):
    """float32 -> bf16 bits, rounding to nearest even."""
    u = np.ascontiguousarray(a, dtype="<f4").view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return u.astype("<u2")


def write_safetensors(path, tensors, dtype):
    """safetensors: u64 little-endian header size, JSON header, then the data."""
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name, a in tensors:
        data = (np.ascontiguousarray(a, dtype="<f4") if dtype == "F32" else to_bf16(a)).tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def hf_config(dims, dtype):
    eot = min(50256, dims["V"] - 1)
    return {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2",
            "vocab_size": dims["V"], "n_positions": dims["maxT"], "n_ctx": dims["maxT"],
            "n_embd": dims["C"], "n_layer": dims["L"], "n_head": dims["NH"], "n_inner": None,
            "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5,
            "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0, "initializer_range": 0.02,
            "bos_token_id": eot, "eos_token_id": eot, "tie_word_embeddings": True,
            "torch_dtype": "float32" if dtype == "F32" else "bfloat16"}


def resolve(model):
    if os.path.isdir(model):
        files = sorted(glob.glob(os.path.join(model, "model_*.bin")))
        if not files:
            fail(f"{model}: a directory without model_*.bin checkpoints")
        return files[-1]
    if not os.path.isfile(model):
        fail(f"{model}: no such model file or directory")
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", help="llm.c model file (version 3 or 5) or run directory")
    ap.add_argument("out_dir", help="folder to write config.json and model.safetensors into")
    ap.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32",
                    help="stored precision (default float32: exact)")
    a = ap.parse_args()
    path = resolve(a.model)
    dims, params = read_model_file(path)
    dtype = "F32" if a.dtype == "float32" else "BF16"
    Vp, V = dims["Vp"], dims["V"]
    if Vp > V and np.any(params["wte"][V:] != 0):
        print(f"note: {path}: the {Vp - V} padding rows of wte are not zero; they are not exported", file=sys.stderr)
    os.makedirs(a.out_dir, exist_ok=True)
    write_safetensors(os.path.join(a.out_dir, "model.safetensors"), hf_tensors(dims, params), dtype)
    with open(os.path.join(a.out_dir, "config.json"), "w") as f:
        json.dump(hf_config(dims, dtype), f, indent=2)
        f.write("\n")
    n = sum(int(np.prod(t.shape)) for _, t in hf_tensors(dims, params))
    print(f"{path} -> {a.out_dir}: GPT-2 depth {dims['L']}, channels {dims['C']}, heads {dims['NH']}, "
          f"context {dims['maxT']}, vocab {V}: {n} parameters ({a.dtype})")


if __name__ == "__main__":
    main()
