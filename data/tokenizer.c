#include "data/tokenizer.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"

#define TOKENIZER_HEADER_WORDS 256
#define TOKENIZER_MAX_VOCAB (1 << 24)
#define GPT2_VOCAB_SIZE 50257
#define GPT2_EOT_TOKEN 50256

void tokenizer_init(Tokenizer *t, const char *path) {
    memset(t, 0, sizeof *t);
    FILE *f = xfopen(path, "rb");
    long long size = xfilesize(f, path);
    uint32_t header[TOKENIZER_HEADER_WORDS];
    if (size < (long long)sizeof header)
        fail("%s: not a tokenizer file (%lld bytes, shorter than the %zu-byte header)", path, size,
             sizeof header);
    xfread(header, sizeof header[0], TOKENIZER_HEADER_WORDS, f, path);
    if (header[0] != TOKENIZER_MAGIC)
        fail("%s: not a tokenizer file (magic %u, expected %u)", path, header[0], TOKENIZER_MAGIC);
    uint32_t version = header[1], vocab = header[2];
    if (version != 1 && version != 2)
        fail("%s: tokenizer file version %u is not supported (expected 1 or 2)", path, version);
    if (vocab == 0 || vocab > TOKENIZER_MAX_VOCAB)
        fail("%s: implausible tokenizer vocabulary size %u", path, vocab);
    uint32_t eot;
    if (version == 1) {
        if (vocab != GPT2_VOCAB_SIZE)
            fail("%s: version 1 tokenizer file with %u tokens (version 1 is GPT-2's, %d tokens)", path,
                 vocab, GPT2_VOCAB_SIZE);
        eot = GPT2_EOT_TOKEN;
    } else {
        eot = header[3];
        if (eot >= vocab) fail("%s: end-of-text id %u is outside the vocabulary of %u", path, eot, vocab);
    }

    // The body is vocab x (1 length byte + 1..255 bytes).
    long long body = size - (long long)sizeof header;
    if (body < 2LL * vocab)
        fail("%s: truncated tokenizer file (%lld bytes of tokens for %u tokens)", path, body, vocab);
    if (body > 256LL * vocab)
        fail("%s: tokenizer file too long (%lld bytes of tokens for %u tokens)", path, body, vocab);
    uint8_t *raw = xmalloc((size_t)body, "tokenizer file");
    xfread(raw, 1, (size_t)body, f, path);
    xfclose(f, path);

    // Each length byte becomes the previous token's terminating NUL, so the
    // strings need exactly `body` bytes (the last one's NUL takes the place
    // of the first length byte).
    t->vocab_size = (int)vocab;
    t->eot_token = (int)eot;
    t->tokens = xcalloc(vocab, sizeof *t->tokens, "tokenizer table");
    t->lengths = xmalloc(vocab, "tokenizer lengths");
    t->storage = xmalloc((size_t)body, "tokenizer strings");
    size_t pos = 0, out = 0;
    for (uint32_t i = 0; i < vocab; i++) {
        if (pos >= (size_t)body)
            fail("%s: truncated tokenizer file (ends at token %u of %u)", path, i, vocab);
        size_t len = raw[pos++];
        if (len == 0) fail("%s: token %u has length 0 (corrupt tokenizer file?)", path, i);
        if (len > (size_t)body - pos)
            fail("%s: truncated tokenizer file (token %u needs %zu bytes, %zu left)", path, i, len,
                 (size_t)body - pos);
        t->tokens[i] = t->storage + out;
        t->lengths[i] = (uint8_t)len;
        memcpy(t->storage + out, raw + pos, len);
        t->storage[out + len] = '\0';
        out += len + 1;
        pos += len;
    }
    if (pos != (size_t)body)
        fail("%s: %zu bytes after the last token (corrupt tokenizer file?)", path, (size_t)body - pos);
    free(raw);
}

const char *tokenizer_decode(const Tokenizer *t, uint32_t id) {
    if (t->tokens == NULL || id >= (uint32_t)t->vocab_size) return "";
    return t->tokens[id];
}

void tokenizer_free(Tokenizer *t) {
    free(t->tokens);
    free(t->lengths);
    free(t->storage);
    memset(t, 0, sizeof *t);
}
