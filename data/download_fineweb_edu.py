#!/usr/bin/python3
"""Downloads a FineWeb-Edu sample and writes llm.c-compatible shards with our
tokenizer (for users with internet access; the project's CI is offline and
cannot run it).

Usage:
    /usr/bin/python3 data/download_fineweb_edu.py [--files N] [--out-dir DIR] [--workers N]

Steps:
  1. downloads N parquet files of FineWeb-Edu's 10-billion-token sample
     from Hugging Face (--url-template; each file is about 2 GB and holds
     roughly 0.7 billion tokens) into --cache-dir, resuming nothing but
     skipping files already complete;
  2. turns each file's "text" column into a .jsonl.gz (needs pyarrow:
     `pip install pyarrow`);
  3. runs data/tokenize_files.py --llmc-layout on them: shards of 100M
     tokens named like llm.c's `dev/data/fineweb.py -t edu -v 10B` names
     them (edu_fineweb_val_000000.bin, edu_fineweb_train_000001.bin, ...),
     plus gpt2_tokenizer.bin, in --out-dir (default dev/data/edu_fineweb10B).
All 14 files (--files 14) make the whole 10B sample.
"""
import argparse
import gzip
import json
import os
import sys
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import tokenize_files  # noqa: E402

REPO = os.path.dirname(HERE)
URL_TEMPLATE = "https://huggingface.co/datasets/HuggingFaceFW/fineweb-edu/resolve/main/sample/10BT/{index:03d}_00000.parquet"


def download(url, path):
    if os.path.isfile(path):
        print(f"have {path}")
        return
    part = path + ".part"
    print(f"downloading {url}")
    try:
        with urllib.request.urlopen(url) as r, open(part, "wb") as f:
            total = int(r.headers.get("Content-Length") or 0)
            done = 0
            while True:
                chunk = r.read(1 << 22)
                if not chunk:
                    break
                f.write(chunk)
                done += len(chunk)
                if total:
                    sys.stderr.write(f"\r  {done / 1e6:,.0f}/{total / 1e6:,.0f} MB")
        sys.stderr.write("\n")
    except OSError as e:
        raise tokenize_files.DataError(f"{url}: download failed ({e})")
    os.replace(part, path)


def parquet_to_jsonl_gz(parquet_path, out_path):
    if os.path.isfile(out_path):
        return
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise tokenize_files.DataError("reading parquet needs pyarrow (pip install pyarrow)")
    tmp = out_path + ".part"
    with gzip.open(tmp, "wt", encoding="utf-8", compresslevel=1) as out:
        for batch in pq.ParquetFile(parquet_path).iter_batches(columns=["text"], batch_size=10_000):
            for text in batch.column(0).to_pylist():
                out.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")
    os.replace(tmp, out_path)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--files", type=int, default=1, help="parquet files to fetch (1 to 14; default 1)")
    p.add_argument("--out-dir", default=os.path.join(REPO, "dev", "data", "edu_fineweb10B"))
    p.add_argument("--cache-dir", default=os.path.join(REPO, "data", "cache", "fineweb_edu"))
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--shard-tokens", type=int, default=tokenize_files.DEFAULT_SHARD_TOKENS)
    p.add_argument("--url-template", default=URL_TEMPLATE, help="{index} is the file number")
    args = p.parse_args()
    if not 1 <= args.files <= 14:
        print(f"error: --files must be between 1 and 14, got {args.files}", file=sys.stderr)
        return 1
    if not os.path.isfile(os.path.join(REPO, "build", "libgpt2bpe.so")):
        print("error: build the C encoder first: make bpe", file=sys.stderr)
        return 1
    try:
        os.makedirs(args.cache_dir, exist_ok=True)
        inputs = []
        for i in range(args.files):
            parquet = os.path.join(args.cache_dir, f"{i:03d}_00000.parquet")
            download(args.url_template.format(index=i), parquet)
            jsonl = parquet[:-len(".parquet")] + ".jsonl.gz"
            parquet_to_jsonl_gz(parquet, jsonl)
            inputs.append(jsonl)
    except tokenize_files.DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return tokenize_files.main(["--out-dir", args.out_dir, "--name", "edu_fineweb", "--llmc-layout",
                                "--shard-tokens", str(args.shard_tokens), "--workers", str(args.workers)] + inputs)


if __name__ == "__main__":
    sys.exit(main())
