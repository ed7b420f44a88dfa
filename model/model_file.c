// llm.c model files (see model_file.h): validation, loading, atomic saving,
// and the conversion between llm.c's tensor-major order and our block-major
// buffer.
#include "model/model_file.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/atomic_file.h"
#include "common/error.h"
#include "model/hf_model.h"

#define HEADER_INTS 256

static int is_block_kind(int kind) { return kind != T_WTE && kind != T_WPE && kind != T_LNFW && kind != T_LNFB; }

int model_file_is_hf_folder(const char *path) { return hf_is_folder(path); }

// The header's version (3 or 5) and shape; fails like model_file_read_config.
static int read_header(const char *path, GPT2Config *out) {
    FILE *f = xfopen(path, "rb");
    long long size = xfilesize(f, path);
    if (size < HEADER_INTS * 4)
        fail("%s: not an llm.c model file (%lld bytes, shorter than the 1024-byte header)", path,
             size);
    int h[HEADER_INTS];
    xfread(h, sizeof(int), HEADER_INTS, f, path);
    fclose(f);
    if (h[0] != MODEL_FILE_MAGIC)
        fail("%s: bad magic number %d, expected %d (llm.c model file)", path, h[0],
             MODEL_FILE_MAGIC);
    if (h[1] != MODEL_FILE_VERSION_FP32 && h[1] != MODEL_FILE_VERSION_BF16)
        fail("%s: model file version %d is not supported, expected %d (fp32) or %d (bf16)", path, h[1],
             MODEL_FILE_VERSION_FP32, MODEL_FILE_VERSION_BF16);
    int bytes_per = h[1] == MODEL_FILE_VERSION_FP32 ? 4 : 2;
    GPT2Config c = {.max_seq_len = h[2], .vocab_size = h[3], .num_layers = h[4],
                    .num_heads = h[5], .channels = h[6], .padded_vocab_size = h[7]};
    if (c.max_seq_len <= 0 || c.vocab_size <= 0 || c.num_layers <= 0 || c.num_heads <= 0 ||
        c.channels <= 0 || c.padded_vocab_size < c.vocab_size || c.max_seq_len > (1 << 20) ||
        c.padded_vocab_size > (1 << 24) || c.num_layers > 4096 || c.channels > (1 << 16))
        fail("%s: implausible dimensions in header (maxT %d, V %d, L %d, NH %d, C %d, Vp %d)", path,
             c.max_seq_len, c.vocab_size, c.num_layers, c.num_heads, c.channels,
             c.padded_vocab_size);
    if (c.channels % c.num_heads != 0)
        fail("%s: %d heads do not divide %d channels", path, c.num_heads, c.channels);
    ParamTable t;
    param_table_build(&t, &c);
    long long expected = HEADER_INTS * 4LL + (long long)t.num_params * bytes_per;
    param_table_free(&t);
    if (size != expected)
        fail("%s: file is %lld bytes, expected %lld for these dimensions (truncated, or not %s?)",
             path, size, expected, bytes_per == 4 ? "fp32" : "bf16");
    *out = c;
    return h[1];
}

void model_file_read_config(const char *path, GPT2Config *out) {
    if (hf_is_folder(path)) hf_read_config(path, out);
    else read_header(path, out);
}

// Calls fn for every tensor in llm.c's file order.
#define FOR_EACH_FILE_TENSOR(t, L, idx, body)                                  \
    for (int kind_ = 0; kind_ < T_NUM_KINDS; kind_++) {                        \
        int nl_ = is_block_kind(kind_) ? (L) : 1;                              \
        for (int l_ = 0; l_ < nl_; l_++) {                                     \
            int idx = param_index((t), kind_, l_);                             \
            body;                                                              \
        }                                                                      \
    }

void model_file_load(GPT2 *m, const char *path) {
    GPT2Config c;
    int hf = hf_is_folder(path), version = 0;
    if (hf) hf_read_config(path, &c);
    else version = read_header(path, &c);
    const GPT2Config *e = &m->config;
    if (c.max_seq_len != e->max_seq_len || c.vocab_size != e->vocab_size ||
        c.num_layers != e->num_layers || c.num_heads != e->num_heads ||
        c.channels != e->channels || c.padded_vocab_size != e->padded_vocab_size)
        fail("%s: model shape (context %d, vocab %d/%d, depth %d, heads %d, channels %d) differs "
             "from the configured one (context %d, vocab %d/%d, depth %d, heads %d, channels %d)",
             path, c.max_seq_len, c.vocab_size, c.padded_vocab_size, c.num_layers, c.num_heads,
             c.channels, e->max_seq_len, e->vocab_size, e->padded_vocab_size, e->num_layers,
             e->num_heads, e->channels);
    if (hf) {
        hf_load(m, path);
        return;
    }
    FILE *f = xfopen(path, "rb");
    if (fseek(f, HEADER_INTS * 4, SEEK_SET) != 0) fail("%s: cannot seek past the header", path);
    const ParamTable *t = &m->table;
    if (version == MODEL_FILE_VERSION_FP32) {
        FOR_EACH_FILE_TENSOR(t, e->num_layers, i, {
            const ParamTensor *p = &t->tensors[i];
            xfread(m->params + p->offset, sizeof(float), p->numel, f, path);
        });
    } else {  // bf16: the upper 16 bits of an fp32, so widening is exact
        size_t most = 0;
        for (int i = 0; i < t->num_tensors; i++)
            if (t->tensors[i].numel > most) most = t->tensors[i].numel;
        uint16_t *buf = xmalloc(most * sizeof(uint16_t), "bf16 tensor");
        FOR_EACH_FILE_TENSOR(t, e->num_layers, i, {
            const ParamTensor *p = &t->tensors[i];
            xfread(buf, sizeof(uint16_t), p->numel, f, path);
            float *dst = m->params + p->offset;
            for (size_t k = 0; k < p->numel; k++) {
                uint32_t u = (uint32_t)buf[k] << 16;
                memcpy(&dst[k], &u, sizeof u);
            }
        });
        free(buf);
    }
    fclose(f);
}

FileDigest model_file_save(const GPT2 *m, const char *path) {
    const GPT2Config *c = &m->config;
    int h[HEADER_INTS] = {0};
    h[0] = MODEL_FILE_MAGIC;
    h[1] = MODEL_FILE_VERSION_FP32;
    h[2] = c->max_seq_len;
    h[3] = c->vocab_size;
    h[4] = c->num_layers;
    h[5] = c->num_heads;
    h[6] = c->channels;
    h[7] = c->padded_vocab_size;
    AtomicFile a;
    atomic_open(&a, path);
    atomic_write(&a, h, sizeof(int), HEADER_INTS);
    const ParamTable *t = &m->table;
    FOR_EACH_FILE_TENSOR(t, c->num_layers, i, {
        const ParamTensor *p = &t->tensors[i];
        atomic_write(&a, m->params + p->offset, sizeof(float), p->numel);
    });
    FileDigest d = {a.bytes, a.crc, 0};
    atomic_commit(&a);
    return d;
}
