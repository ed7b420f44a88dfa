#!/usr/bin/env python3
"""Writes HellaSwag's validation set in llm.c's format (hellaswag_val.bin),
for train.hellaswag_every / data.hellaswag.

    /usr/bin/python3 scripts/prepare_hellaswag.py [--out data/hellaswag/hellaswag_val.bin]
    /usr/bin/python3 scripts/prepare_hellaswag.py --jsonl hellaswag_val.jsonl   # a copy you already have

Needs internet unless --jsonl is given: it downloads hellaswag_val.jsonl
(10,042 examples) from the HellaSwag authors' repository (rowanz/hellaswag
on GitHub). The offline CI cannot run the download; the conversion is
tested with a small --jsonl file (test/test_hellaswag.py).

Each example: the context ("ctx") encoded with GPT-2's tokenizer
(data/gpt2_bpe.py), each of the 4 endings encoded with a leading space,
and the label -- as llm.c's dev/data/hellaswag.py does, so the file equals
llm.c's. The layout is described in data/hellaswag.h.
"""
import argparse
import json
import os
import sys
import urllib.request

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "data"))
URL = "https://raw.githubusercontent.com/rowanz/hellaswag/master/data/hellaswag_val.jsonl"


def encode_examples(lines, enc, source):
    out = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            ex = json.loads(line)
            ctx, endings, label = ex["ctx"], ex["endings"], int(ex["label"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            sys.exit(f"error: {source}:{n}: not a HellaSwag example ({e})")
        if not 0 <= label < len(endings) or len(endings) < 2:
            sys.exit(f"error: {source}:{n}: label {label} with {len(endings)} endings")
        out.append((enc.encode(ctx), [enc.encode(" " + e) for e in endings], label))
    return out


def write(path, examples):
    body, longest = [], 0
    if len(examples) >= 65535:
        sys.exit(f"error: {len(examples)} examples: the format's index field holds at most 65534")
    for i, (ctx, ends, label) in enumerate(examples):
        e = [65535, 0, i, label, len(ends), len(ctx)] + ctx
        for end in ends:
            e += [len(end)] + end
        if 2 * len(e) >= 65536:
            sys.exit(f"error: example {i}: {2 * len(e)} bytes, more than the format's 16-bit size field")
        e[1] = 2 * len(e)
        longest = max(longest, e[1])
        body += e
    header = np.zeros(256, dtype="<i4")
    header[:4] = [20240522, 1, len(examples), longest]
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(header.tobytes())
        f.write(np.array(body, dtype="<u2").tobytes())
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "data", "hellaswag", "hellaswag_val.bin"))
    ap.add_argument("--jsonl", help="a local hellaswag_val.jsonl instead of downloading it")
    a = ap.parse_args()
    from gpt2_bpe import GPT2Encoder
    enc = GPT2Encoder()
    if a.jsonl:
        if not os.path.isfile(a.jsonl):
            sys.exit(f"error: {a.jsonl}: no such file")
        source, lines = a.jsonl, open(a.jsonl, encoding="utf-8").read().splitlines()
    else:
        try:
            with urllib.request.urlopen(URL, timeout=60) as r:
                lines = r.read().decode("utf-8").splitlines()
        except OSError as e:
            sys.exit(f"error: cannot download {URL} ({e}); give a local copy with --jsonl")
        source = URL
    examples = encode_examples(lines, enc, source)
    if not examples:
        sys.exit(f"error: {source}: no examples")
    write(a.out, examples)
    print(f"{a.out}: {len(examples)} examples")


if __name__ == "__main__":
    main()
