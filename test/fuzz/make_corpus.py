"""Writes the fuzzers' seed corpora (small valid inputs) into test/fuzz/corpus/.

    /usr/bin/python3 test/fuzz/make_corpus.py
"""
import os
import shutil
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def put(name, fname, data):
    d = os.path.join(HERE, "corpus", name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, fname), "wb") as f:
        f.write(data)


def model_file(maxT=4, V=5, Vp=8, L=1, NH=1, C=4):
    header = struct.pack("<8i", 20240326, 3, maxT, V, L, NH, C, Vp) + b"\0" * (1024 - 32)
    n = Vp * C + maxT * C + L * (2 * C + 3 * C * C + 3 * C + C * C + C + 2 * C + 4 * C * C + 4 * C + 4 * C * C + C) + 2 * C
    return header + struct.pack(f"<{n}f", *[((i * 37) % 17 - 8) / 16 for i in range(n)])


def state_file(sections):
    body = b""
    for name, data in sections:
        body += name.encode().ljust(32, b"\0") + struct.pack("<Q", len(data)) + data
    return struct.pack("<IIQII", 0x4F4D4744, 3, len(sections), zlib.crc32(body), 0) + body


def shard(tokens):
    return struct.pack("<3i", 20240520, 1, len(tokens)) + b"\0" * (1024 - 12) + struct.pack(f"<{len(tokens)}H", *tokens)


def tokenizer(tokens, eot):
    out = struct.pack("<4I", 20240328, 2, len(tokens), eot) + b"\0" * (1024 - 16)
    for t in tokens:
        out += bytes([len(t)]) + t
    return out


def main():
    shutil.rmtree(os.path.join(HERE, "corpus"), ignore_errors=True)
    put("fuzz_model_file", "tiny.bin", model_file())
    put("fuzz_model_file", "two_layers.bin", model_file(maxT=3, V=7, Vp=8, L=2, NH=2, C=4))
    put("fuzz_state_file", "small.state", state_file([("step", struct.pack("<q", 7)), ("dataloader", b"\1" * 48),
                                                      ("model_file", struct.pack("<qII", 1200, 0xDEADBEEF, 0))]))
    put("fuzz_state_file", "empty_sections.state", state_file([]))
    with open(os.path.join(ROOT, "configs", "default.json"), "rb") as f:
        put("fuzz_config", "default.json", f.read())
    put("fuzz_config", "omgd.json", b'{"omgd": {"mode": "omgd", "active_layers": 2, "switch_interval": "epoch",'
                                    b' "grad_scale": "auto"}, "model": {"preset": "d4"}, "train": {"steps": 10}}')
    put("fuzz_shard", "small.shard", shard([(i * 7919) % 50257 for i in range(40)]))
    put("fuzz_tokenizer", "tiny.tok", tokenizer([b"a", b"bc", b"\xe2\x82", b"<|endoftext|>"], 3))
    put("fuzz_replay", "schedule.txt", b"# periods\n0 1 2\n3,4\n\n11\n")
    print("seed corpora written to", os.path.join(HERE, "corpus"))


if __name__ == "__main__":
    main()
