"""Test helper: reads a Hugging Face GPT-2 folder (config.json +
model.safetensors) into the PyTorch reference's parameters, written from
the formats' definitions, independently of scripts/export_hf.py:

  safetensors: u64 little-endian header size N, N bytes of JSON
    {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": ...},
    then the data (offsets from the end of the JSON);
  transformers' GPT-2: Conv1D layers compute y = x @ W + b with W of shape
    (in, out); the reference computes y = x @ W^T + b with W (out, in).
"""
import json
import os

import numpy as np
import torch

import gpt2_torch_ref as ref

DTYPES = {"F32": "<f4", "F16": "<f2"}


def read_safetensors(path):
    """(header dict, name -> float32 array)."""
    raw = open(path, "rb").read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        b0, b1 = t["data_offsets"]
        buf = data[b0:b1]
        if t["dtype"] == "BF16":
            a = (np.frombuffer(buf, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            a = np.frombuffer(buf, dtype=DTYPES[t["dtype"]]).astype(np.float32)
        out[name] = a.reshape(t["shape"])
    return header, out


def read_folder(folder):
    """(ref.Config, ref parameters as float64 tensors) of a Hugging Face GPT-2 folder."""
    c = json.load(open(os.path.join(folder, "config.json")))
    V, C, L, NH, maxT = c["vocab_size"], c["n_embd"], c["n_layer"], c["n_head"], c["n_positions"]
    Vp = (V + 127) // 128 * 128
    cfg = ref.Config(maxT, V, Vp, L, NH, C)
    _, t = read_safetensors(os.path.join(folder, "model.safetensors"))

    def get(name):
        return t["transformer." + name] if "transformer." + name in t else t[name]

    def T(x):
        return torch.tensor(np.ascontiguousarray(x), dtype=torch.float64)

    wte = np.zeros((Vp, C), dtype=np.float32)
    wte[:V] = get("wte.weight")
    p = {"wte": T(wte), "wpe": T(get("wpe.weight")), "lnfw": T(get("ln_f.weight")), "lnfb": T(get("ln_f.bias"))}
    per_layer = {"ln1w": ("ln_1.weight", False), "ln1b": ("ln_1.bias", False),
                 "qkvw": ("attn.c_attn.weight", True), "qkvb": ("attn.c_attn.bias", False),
                 "attprojw": ("attn.c_proj.weight", True), "attprojb": ("attn.c_proj.bias", False),
                 "ln2w": ("ln_2.weight", False), "ln2b": ("ln_2.bias", False),
                 "fcw": ("mlp.c_fc.weight", True), "fcb": ("mlp.c_fc.bias", False),
                 "fcprojw": ("mlp.c_proj.weight", True), "fcprojb": ("mlp.c_proj.bias", False)}
    for kind, (name, conv1d) in per_layer.items():
        layers = [get(f"h.{l}.{name}") for l in range(L)]
        p[kind] = T(np.stack([w.T if conv1d else w for w in layers]))
    return cfg, p
