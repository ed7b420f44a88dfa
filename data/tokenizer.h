// Reader of llm.c's GPT-2 tokenizer file, for decoding sampled token ids.
//
// File layout (little-endian), as written by data/tokenize_files.py and by
// llm.c's data scripts:
//   header: 256 uint32: [0] magic 20240328, [1] version (1 or 2),
//           [2] vocabulary size, [3] id of <|endoftext|> (version 2 only;
//           version 1 files are GPT-2's, whose EOT id is 50256)
//   then, for each token id in order: uint8 byte count (1..255), the bytes.
// A token's bytes may be part of a UTF-8 character (GPT-2's BPE is byte
// level): decoding consecutive ids and concatenating gives the text.
#ifndef DATA_TOKENIZER_H
#define DATA_TOKENIZER_H

#include <stdint.h>

#define TOKENIZER_MAGIC 20240328u

typedef struct {
    int vocab_size;     // number of token ids (50257 for GPT-2)
    int eot_token;      // id of <|endoftext|> (50256 for GPT-2)
    char **tokens;      // tokens[id]: the token's bytes, NUL-terminated
    uint8_t *lengths;   // lengths[id]: its byte count (a token may hold a NUL byte)
    char *storage;      // one block holding every token's bytes
} Tokenizer;

// Loads and validates the file; any problem (missing, bad magic or version,
// truncated, trailing bytes, zero-length token) ends in fail() with one
// line naming the file.
void tokenizer_init(Tokenizer *t, const char *path);
// The bytes of token id as a C string; "" for an id outside the vocabulary.
const char *tokenizer_decode(const Tokenizer *t, uint32_t id);
void tokenizer_free(Tokenizer *t);

#endif
