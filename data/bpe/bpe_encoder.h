// GPT-2's byte-level BPE encoder in C, for preparing large corpora.
//
// The same ids as data/gpt2_bpe.py (the reference, in Python) and the npm
// package gpt-3-encoder: the text is cut into pieces with GPT-2's
// pre-tokenizer regex (run by PCRE2, JIT-compiled), then each piece's bytes
// are merged with GPT-2's merges (vocab.bpe), best rank first, each pair
// merged at every place it occurs from left to right.
//
// This folder is a small library of its own (build/libgpt2bpe.so, loaded by
// data/tokenize_files.py with ctypes): it never exits the process; errors
// come back as a message. One encoder is not thread-safe (it keeps a cache
// and scratch buffers); use one per process or thread.
#ifndef DATA_BPE_ENCODER_H
#define DATA_BPE_ENCODER_H

#include <stddef.h>
#include <stdint.h>

#define BPE_VOCAB_SIZE 50257
#define BPE_EOT 50256

typedef struct BpeEncoder BpeEncoder;

// Loads GPT-2's encoder.json and vocab.bpe. On failure returns NULL and
// writes a one-line message (naming the file) into err.
BpeEncoder *bpe_load(const char *encoder_json, const char *vocab_bpe, char *err, size_t err_size);
void bpe_free(BpeEncoder *e);

// Return values of bpe_encode other than a token count.
#define BPE_ERR_UTF8 (-1)   // text is not valid UTF-8; *bad_offset is where
#define BPE_ERR_SPACE (-2)  // out_cap too small (n_bytes always suffices)
#define BPE_ERR_MEMORY (-3)
#define BPE_ERR_REGEX (-4)

// Encodes n_bytes of UTF-8 text into out (at most out_cap ids; a token is
// at least one byte, so n_bytes ids always suffice). Returns the number of
// ids, or a BPE_ERR_* code. `<|endoftext|>` in the text is plain text.
// Invalid UTF-8 (as Python's strict decoder sees it: overlong forms,
// surrogates, code points past U+10FFFF, cut sequences) is refused with the
// offset of the first bad sequence, as data/tokenize_files.py refuses it.
long bpe_encode(BpeEncoder *e, const uint8_t *text, size_t n_bytes, uint16_t *out, size_t out_cap,
                size_t *bad_offset);

// The bytes of one token (NULL for an id out of range); *len gets their count.
const uint8_t *bpe_token_bytes(const BpeEncoder *e, int id, size_t *len);

// Offset of the first byte that is not valid UTF-8 (Python's strict
// decoder), or n when all of text is valid.
size_t bpe_utf8_invalid_offset(const uint8_t *text, size_t n);

#endif
