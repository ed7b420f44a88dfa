"""Independent PyTorch reference of GPT-2 as OpenAI / llm.c define it.

Written from the model's definition (not from our C code) so that the C
implementation can be checked against it:

  x = wte[tokens] + wpe[positions]
  for each of L blocks (pre-LayerNorm):
      x = x + attn_proj(causal_self_attention(LN1(x)))
      x = x + fc_proj(gelu_tanh(fc(LN2(x))))
  logits = LN_f(x) @ wte^T                  (over the padded vocabulary Vp)
  loss = mean over the B*T positions of cross-entropy over logits[..., :V]

Parameters are kept in llm.c's model-file layout: one tensor per kind, the
per-block kinds stacked over layers (ln1w has shape (L, C), qkvw (L, 3C, C),
...). Matmul weights are (out, in): y = x @ W^T + b.

Also: reading and writing llm.c model files (fp32, version 3) and AdamW with
torch.optim.AdamW (weight decay on 2-D tensors only) plus
torch.nn.utils.clip_grad_norm_.
"""
import math
import os

import numpy as np
import torch

MAGIC = 20240326
VERSION_FP32 = 3
HEADER_INTS = 256

# The 16 tensor kinds in llm.c's file order.
KINDS = ["wte", "wpe", "ln1w", "ln1b", "qkvw", "qkvb", "attprojw", "attprojb",
         "ln2w", "ln2b", "fcw", "fcb", "fcprojw", "fcprojb", "lnfw", "lnfb"]
PER_LAYER = {"ln1w", "ln1b", "qkvw", "qkvb", "attprojw", "attprojb",
             "ln2w", "ln2b", "fcw", "fcb", "fcprojw", "fcprojb"}
# Weight decay applies to the 2-D tensors of one layer: matmul weights and the
# two embeddings; never to biases or LayerNorm parameters.
DECAY_KINDS = {"wte", "wpe", "qkvw", "attprojw", "fcw", "fcprojw"}

LN_EPS = 1e-5


class Config:
    def __init__(self, max_seq_len, vocab_size, padded_vocab_size, num_layers, num_heads, channels):
        self.maxT = max_seq_len
        self.V = vocab_size
        self.Vp = padded_vocab_size
        self.L = num_layers
        self.NH = num_heads
        self.C = channels

    def __repr__(self):
        return (f"Config(maxT={self.maxT}, V={self.V}, Vp={self.Vp}, L={self.L}, "
                f"NH={self.NH}, C={self.C})")


def tensor_shapes(cfg):
    """Shape of each kind in the file (per-layer kinds with the leading L)."""
    C, L = cfg.C, cfg.L
    return {
        "wte": (cfg.Vp, C), "wpe": (cfg.maxT, C),
        "ln1w": (L, C), "ln1b": (L, C),
        "qkvw": (L, 3 * C, C), "qkvb": (L, 3 * C),
        "attprojw": (L, C, C), "attprojb": (L, C),
        "ln2w": (L, C), "ln2b": (L, C),
        "fcw": (L, 4 * C, C), "fcb": (L, 4 * C),
        "fcprojw": (L, C, 4 * C), "fcprojb": (L, C),
        "lnfw": (C,), "lnfb": (C,),
    }


def num_params(cfg):
    return sum(int(np.prod(s)) for s in tensor_shapes(cfg).values())


def unflatten(cfg, flat):
    """Splits a flat array in llm.c file order into a dict kind -> array."""
    flat = np.asarray(flat)
    if flat.size != num_params(cfg):
        raise ValueError(f"expected {num_params(cfg)} values, got {flat.size}")
    out, off = {}, 0
    for k in KINDS:
        shape = tensor_shapes(cfg)[k]
        n = int(np.prod(shape))
        out[k] = flat[off:off + n].reshape(shape)
        off += n
    return out


def read_model_file(path):
    """Reads an llm.c fp32 model file: returns (Config, dict kind -> float32 array)."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        header = np.frombuffer(f.read(HEADER_INTS * 4), dtype="<i4")
        if header.size != HEADER_INTS:
            raise ValueError(f"{path}: truncated header")
        if header[0] != MAGIC:
            raise ValueError(f"{path}: bad magic {header[0]}")
        if header[1] != VERSION_FP32:
            raise ValueError(f"{path}: version {header[1]}, expected {VERSION_FP32}")
        maxT, V, L, NH, C, Vp = (int(x) for x in header[2:8])
        cfg = Config(maxT, V, Vp, L, NH, C)
        expect = HEADER_INTS * 4 + 4 * num_params(cfg)
        if size != expect:
            raise ValueError(f"{path}: {size} bytes, expected {expect} for {cfg}")
        flat = np.frombuffer(f.read(), dtype="<f4")
    return cfg, {k: v.copy() for k, v in unflatten(cfg, flat).items()}


def write_model_file(path, cfg, params):
    """Writes params (dict kind -> array/tensor in file shapes) as an llm.c fp32 model file."""
    header = np.zeros(HEADER_INTS, dtype="<i4")
    header[:8] = [MAGIC, VERSION_FP32, cfg.maxT, cfg.V, cfg.L, cfg.NH, cfg.C, cfg.Vp]
    shapes = tensor_shapes(cfg)
    with open(path, "wb") as f:
        f.write(header.tobytes())
        for k in KINDS:
            v = params[k]
            if isinstance(v, torch.Tensor):
                v = v.detach().cpu().numpy()
            v = np.asarray(v)
            if tuple(v.shape) != tuple(shapes[k]):
                raise ValueError(f"{k}: shape {v.shape}, expected {shapes[k]}")
            f.write(np.ascontiguousarray(v, dtype="<f4").tobytes())


def random_params(cfg, gen, emb_std=0.3, w_std=None, bias_std=0.1, ln_std=0.2):
    """Random fp32-representable parameters that make every part of the model matter:
    matmul weights of std 1/sqrt(fan_in) (so activations are O(1): GELU and
    softmax work in their non-linear range), non-zero biases, LayerNorm weights
    around 1 and non-zero LayerNorm biases, and random (non-zero) padded rows of wte."""
    shapes = tensor_shapes(cfg)
    p = {}
    for k in KINDS:
        shape = shapes[k]
        if k in ("wte", "wpe"):
            t = torch.randn(shape, generator=gen, dtype=torch.float64) * emb_std
        elif k in ("ln1w", "ln2w", "lnfw"):
            t = 1.0 + torch.randn(shape, generator=gen, dtype=torch.float64) * ln_std
        elif k in ("ln1b", "ln2b", "lnfb"):
            t = torch.randn(shape, generator=gen, dtype=torch.float64) * ln_std
        elif k.endswith("w"):
            fan_in = shape[-1]
            std = w_std if w_std is not None else 1.0 / math.sqrt(fan_in)
            t = torch.randn(shape, generator=gen, dtype=torch.float64) * std
        else:
            t = torch.randn(shape, generator=gen, dtype=torch.float64) * bias_std
        # round to fp32 so the file holds exactly these values
        p[k] = t.to(torch.float32).to(torch.float64)
    return p


# ---------------------------------------------------------------- the model

def gelu_tanh(x):
    """GPT-2's GELU: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def gelu_erf(x):
    """Exact GELU (used only to check the comparison's sensitivity)."""
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def layernorm(x, w, b):
    """LayerNorm over the last dim with the biased variance and eps inside the sqrt."""
    mean = x.mean(dim=-1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + LN_EPS) * w + b


class Variant:
    """Deliberate deviations from GPT-2, used only by the sensitivity self-checks."""

    def __init__(self, gelu="tanh", mask_offset=0, head_split="contiguous", loss_vocab="V",
                 qkv_order="qkv", drop_bias_grad=None):
        self.gelu = gelu                  # "tanh" (GPT-2) or "erf"
        self.mask_offset = mask_offset    # 0: attend to j <= i; 1: j <= i + 1 (off by one)
        self.head_split = head_split      # "contiguous" (GPT-2) or "interleaved"
        self.loss_vocab = loss_vocab      # "V" (GPT-2 / llm.c) or "Vp"
        self.qkv_order = qkv_order        # "qkv" (GPT-2) or "kqv"
        self.drop_bias_grad = drop_bias_grad  # a kind whose gradient is zeroed after backward


GPT2_VARIANT = Variant()


def attention(x_qkv, NH, variant):
    """Causal multi-head self-attention on the (B, T, 3C) output of the qkv matmul."""
    B, T, C3 = x_qkv.shape
    C = C3 // 3
    hs = C // NH
    q, k, v = x_qkv.split(C, dim=-1)  # q, k, v in that order along 3C
    if variant.qkv_order == "kqv":
        q, k = k, q

    def heads(t):
        if variant.head_split == "contiguous":  # head h owns channels [h*hs, (h+1)*hs)
            return t.view(B, T, NH, hs).transpose(1, 2)
        return t.view(B, T, hs, NH).permute(0, 3, 1, 2)  # wrong on purpose

    q, k, v = heads(q), heads(k), heads(v)  # (B, NH, T, hs)
    scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))
    i = torch.arange(T).view(T, 1)
    j = torch.arange(T).view(1, T)
    allowed = j <= i + variant.mask_offset
    scores = scores.masked_fill(~allowed, float("-inf"))
    att = torch.softmax(scores, dim=-1)
    y = att @ v  # (B, NH, T, hs)
    if variant.head_split == "contiguous":
        y = y.transpose(1, 2).contiguous().view(B, T, C)
    else:
        y = y.permute(0, 2, 3, 1).contiguous().view(B, T, C)
    return y


def forward(cfg, p, tokens, targets=None, variant=GPT2_VARIANT):
    """Returns (logits (B,T,Vp), mean loss or None). p: dict kind -> tensor in file shapes."""
    B, T = tokens.shape
    assert T <= cfg.maxT
    gelu = gelu_tanh if variant.gelu == "tanh" else gelu_erf
    x = p["wte"][tokens] + p["wpe"][:T].unsqueeze(0)
    for l in range(cfg.L):
        h = layernorm(x, p["ln1w"][l], p["ln1b"][l])
        qkv = h @ p["qkvw"][l].t() + p["qkvb"][l]
        y = attention(qkv, cfg.NH, variant)
        x = x + (y @ p["attprojw"][l].t() + p["attprojb"][l])
        h = layernorm(x, p["ln2w"][l], p["ln2b"][l])
        h = gelu(h @ p["fcw"][l].t() + p["fcb"][l])
        x = x + (h @ p["fcprojw"][l].t() + p["fcprojb"][l])
    x = layernorm(x, p["lnfw"], p["lnfb"])
    logits = x @ p["wte"].t()  # (B, T, Vp): the LM head is tied to the token embedding
    if targets is None:
        return logits, None
    nv = cfg.V if variant.loss_vocab == "V" else cfg.Vp
    loss = torch.nn.functional.cross_entropy(logits[..., :nv].reshape(B * T, nv),
                                             targets.reshape(B * T), reduction="mean")
    return logits, loss


def make_leaves(params, dtype=torch.float64):
    """Fresh leaf tensors (requires_grad) of the given dtype, one per kind."""
    return {k: params[k].detach().clone().to(dtype).requires_grad_(True) for k in KINDS}


def forward_backward(cfg, params, tokens, targets, variant=GPT2_VARIANT, dtype=torch.float64):
    """Logits, loss and the gradient of every kind at params (not modified)."""
    p = make_leaves(params, dtype)
    logits, loss = forward(cfg, p, tokens, targets, variant)
    loss.backward()
    grads = {k: p[k].grad.detach().clone() for k in KINDS}
    if variant.drop_bias_grad:
        grads[variant.drop_bias_grad].zero_()
    return logits.detach(), loss.detach(), grads


def train(cfg, params, batches, lr, beta1, beta2, eps, weight_decay, grad_clip,
          variant=GPT2_VARIANT, decay_kinds=DECAY_KINDS, clip=True, dtype=torch.float64,
          given_grads=None):
    """AdamW steps (torch.optim.AdamW, clip_grad_norm_ before each step), one per
    batch: batches is a list of (tokens, targets). With given_grads (a list of
    dicts kind -> array, one per step) those gradients are used instead of
    backpropagation (batches may then be None): this checks an optimizer on
    another implementation's gradients. Returns (losses, grad norms, clip
    factors, final params dict); losses are nan with given_grads."""
    p = make_leaves(params, dtype)
    decay = [p[k] for k in KINDS if k in decay_kinds]
    no_decay = [p[k] for k in KINDS if k not in decay_kinds]
    opt = torch.optim.AdamW([
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ], lr=lr, betas=(beta1, beta2), eps=eps)
    nsteps = len(given_grads) if given_grads is not None else len(batches)
    losses, norms, factors = [], [], []
    for t in range(nsteps):
        opt.zero_grad(set_to_none=False)
        if given_grads is not None:
            for k in KINDS:
                p[k].grad = torch.as_tensor(np.array(given_grads[t][k]), dtype=dtype)
            loss = float("nan")
        else:
            tokens, targets = batches[t]
            _, loss = forward(cfg, p, tokens, targets, variant)
            loss.backward()
            if variant.drop_bias_grad:
                p[variant.drop_bias_grad].grad.zero_()
        if clip:
            norm = torch.nn.utils.clip_grad_norm_([p[k] for k in KINDS], max_norm=grad_clip)
        else:
            norm = torch.sqrt(sum((p[k].grad ** 2).sum() for k in KINDS))
        norm = float(norm)
        losses.append(float(loss))
        norms.append(norm)
        factors.append(min(1.0, grad_clip / (norm + 1e-6)) if clip else 1.0)
        opt.step()
    return losses, norms, factors, {k: p[k].detach().clone() for k in KINDS}
