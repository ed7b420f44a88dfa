"""GPT-2's BPE encoder in C (data/bpe/, built as build/libgpt2bpe.so by
`make bpe`), loaded with ctypes. Same ids as data/gpt2_bpe.py, the Python
reference, about ten times faster (scripts/bench_tokenizer.py).

    from gpt2_bpe_c import CEncoder
    enc = CEncoder()              # or CEncoder(encoder_dir, lib_path)
    ids = enc.encode("Hello world")          # array('H')
    ids = enc.encode_bytes(b"Hello world")   # UTF-8 bytes
"""

import ctypes
import os
from array import array

from gpt2_bpe import DEFAULT_ENCODER_DIR, REPO_ROOT, TokenizerError

DEFAULT_LIB = os.path.join(REPO_ROOT, "build", "libgpt2bpe.so")
_ERRORS = {-2: "output buffer too small", -3: "out of memory", -4: "the pre-tokenizer regex failed"}


class InvalidUTF8(TokenizerError):
    """Text that Python's strict UTF-8 decoder refuses; .offset is where."""

    def __init__(self, offset, byte):
        super().__init__(f"not UTF-8 text (invalid byte 0x{byte:02x} at offset {offset})")
        self.offset = offset
        self.byte = byte


def _load_lib(path):
    if not os.path.isfile(path):
        raise TokenizerError(f"{path}: the C encoder is not built (run `make bpe`, or use --encoder python)")
    try:
        lib = ctypes.CDLL(path)
    except OSError as e:
        raise TokenizerError(f"{path}: cannot load the C encoder ({e})")
    lib.bpe_load.restype = ctypes.c_void_p
    lib.bpe_load.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t]
    lib.bpe_free.restype = None
    lib.bpe_free.argtypes = [ctypes.c_void_p]
    lib.bpe_encode.restype = ctypes.c_long
    lib.bpe_encode.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_void_p,
                               ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)]
    lib.bpe_token_bytes.restype = ctypes.POINTER(ctypes.c_uint8)
    lib.bpe_token_bytes.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_size_t)]
    return lib


class CEncoder:
    def __init__(self, encoder_dir=None, lib_path=None):
        encoder_dir = encoder_dir or DEFAULT_ENCODER_DIR
        self._lib = _load_lib(lib_path or DEFAULT_LIB)
        err = ctypes.create_string_buffer(512)
        paths = [os.path.join(encoder_dir, n).encode() for n in ("encoder.json", "vocab.bpe")]
        self._enc = self._lib.bpe_load(paths[0], paths[1], err, len(err))
        if not self._enc:
            raise TokenizerError(err.value.decode("utf-8", "replace"))
        self._bad = ctypes.c_size_t()
        self._token_bytes = None

    def __del__(self):
        if getattr(self, "_enc", None):
            self._lib.bpe_free(self._enc)
            self._enc = None

    def encode_bytes(self, data):
        """Token ids (array('H')) of UTF-8 bytes; InvalidUTF8 if they are not UTF-8."""
        out = array("H", bytes(2 * max(len(data), 1)))
        addr, _ = out.buffer_info()
        n = self._lib.bpe_encode(self._enc, data, len(data), addr, len(out), ctypes.byref(self._bad))
        if n == -1:
            raise InvalidUTF8(self._bad.value, data[self._bad.value])
        if n < 0:
            raise TokenizerError(f"C encoder: {_ERRORS.get(n, f'error {n}')}")
        del out[n:]
        return out

    def encode(self, text):
        """Token ids (array('H')) of a str. A lone surrogate (from JSON's
        \\ud800 escapes, say) is not UTF-8 and is refused like invalid bytes."""
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError as e:
            raise InvalidUTF8(len(text[:e.start].encode("utf-8")), 0xED)  # a surrogate's UTF-8 starts with 0xED
        return self.encode_bytes(data)

    def token_bytes(self, token_id):
        if self._token_bytes is None:
            n = ctypes.c_size_t()
            table = []
            for i in range(50257):
                p = self._lib.bpe_token_bytes(self._enc, i, ctypes.byref(n))
                table.append(ctypes.string_at(p, n.value))
            self._token_bytes = table
        return self._token_bytes[token_id]

    def decode_bytes(self, ids):
        return b"".join(self.token_bytes(i) for i in ids)

    def decode(self, ids):
        return self.decode_bytes(ids).decode("utf-8", errors="replace")
