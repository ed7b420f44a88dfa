// Reader of Hugging Face GPT-2 folders (see hf_model.h).
#include "model/hf_model.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"

int hf_is_folder(const char *dir) {
    struct stat st;
    char p[4096];
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) return 0;
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    return stat(p, &st) == 0;
}

static cJSON *read_json(const char *path, const char *text, size_t len) {
    cJSON *j = cJSON_ParseWithLength(text, len);
    if (!j || !cJSON_IsObject(j)) fail("%s: not a JSON object", path);
    return j;
}

static int json_int(const cJSON *obj, const char *path, const char *key, const char *alt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v && alt) v = cJSON_GetObjectItemCaseSensitive(obj, alt);
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < 1 || v->valuedouble > 1e9)
        fail("%s: field %s: expected a positive integer", path, key);
    return (int)v->valuedouble;
}

void hf_read_config(const char *dir, GPT2Config *out) {
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = xfopen(path, "rb");
    long long size = xfilesize(f, path);
    if (size > (1 << 24)) fail("%s: %lld bytes, too large for a model config", path, size);
    char *text = xmalloc((size_t)size + 1, "config.json");
    xfread(text, 1, (size_t)size, f, path);
    fclose(f);
    cJSON *j = read_json(path, text, (size_t)size);
    free(text);
    GPT2Config c = {.max_seq_len = json_int(j, path, "n_positions", "n_ctx"),
                    .vocab_size = json_int(j, path, "vocab_size", NULL),
                    .num_layers = json_int(j, path, "n_layer", NULL),
                    .num_heads = json_int(j, path, "n_head", NULL),
                    .channels = json_int(j, path, "n_embd", NULL)};
    c.padded_vocab_size = (c.vocab_size + 127) / 128 * 128;
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(j, "activation_function");
    if (act && (!cJSON_IsString(act) || strcmp(act->valuestring, "gelu_new") != 0))
        fail("%s: activation_function %s: only GPT-2's \"gelu_new\" (tanh approximation) is supported", path,
             cJSON_IsString(act) ? act->valuestring : "(not a string)");
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(j, "layer_norm_epsilon");
    if (eps && (!cJSON_IsNumber(eps) || fabs(eps->valuedouble - 1e-5) > 1e-12))
        fail("%s: layer_norm_epsilon: only GPT-2's 1e-05 is supported", path);
    const cJSON *tie = cJSON_GetObjectItemCaseSensitive(j, "tie_word_embeddings");
    if (tie && !cJSON_IsTrue(tie)) fail("%s: tie_word_embeddings false: only GPT-2's tied LM head is supported", path);
    cJSON_Delete(j);
    if (c.channels % c.num_heads != 0) fail("%s: n_head %d does not divide n_embd %d", path, c.num_heads, c.channels);
    *out = c;
}

typedef struct {
    const char *path;
    const unsigned char *data;  // start of the tensor data
    size_t data_bytes;
    cJSON *header;
} SafeTensors;

static void st_open(SafeTensors *s, const char *path, void **map, size_t *map_len) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) fail("%s: cannot open (%s)", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) fail("%s: cannot stat (%s)", path, strerror(errno));
    size_t len = (size_t)st.st_size;
    if (len < 8) fail("%s: %zu bytes, too short for a safetensors file", path, len);
    void *m = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) fail("%s: cannot map (%s)", path, strerror(errno));
    const unsigned char *b = m;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | b[i];
    if (n > len - 8 || n > (1u << 28)) fail("%s: header length %llu exceeds the file", path, (unsigned long long)n);
    s->path = path;
    s->header = read_json(path, (const char *)b + 8, (size_t)n);
    s->data = b + 8 + n;
    s->data_bytes = len - 8 - n;
    *map = m;
    *map_len = len;
}

// Element size of a safetensors dtype we convert, 0 otherwise.
static int dtype_size(const char *d) {
    return strcmp(d, "F32") == 0 ? 4 : (strcmp(d, "BF16") == 0 || strcmp(d, "F16") == 0) ? 2 : 0;
}

static float half_to_float(uint16_t h) {
    int sign = h >> 15, exp = (h >> 10) & 31, man = h & 1023;
    float v = exp == 0 ? ldexpf((float)man, -24) : exp == 31 ? (man ? NAN : INFINITY) : ldexpf((float)(man | 1024), exp - 25);
    return sign ? -v : v;
}

static float element(const unsigned char *p, const char *dtype) {
    if (dtype[0] == 'F' && dtype[1] == '3') {
        float f;
        memcpy(&f, p, 4);
        return f;
    }
    uint16_t h = (uint16_t)(p[0] | p[1] << 8);
    if (dtype[0] == 'B') {
        uint32_t u = (uint32_t)h << 16;
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    return half_to_float(h);
}

// Finds the tensor (with or without "transformer."), checks its shape
// (rows x cols; cols 0 for 1-D) and returns its bytes and dtype.
static const unsigned char *st_tensor(const SafeTensors *s, const char *name, size_t rows, size_t cols,
                                      const char **dtype, int required) {
    char full[128];
    snprintf(full, sizeof full, "transformer.%s", name);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(s->header, full);
    if (!t) t = cJSON_GetObjectItemCaseSensitive(s->header, name);
    if (!t) {
        if (required) fail("%s: tensor %s is missing", s->path, name);
        return NULL;
    }
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(t, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(t, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(t, "data_offsets");
    if (!cJSON_IsString(dt) || !dtype_size(dt->valuestring))
        fail("%s: tensor %s: dtype %s, expected F32, BF16 or F16", s->path, name,
             cJSON_IsString(dt) ? dt->valuestring : "(missing)");
    int nd = cols ? 2 : 1;
    size_t want[2] = {rows, cols};
    if (!cJSON_IsArray(shape) || cJSON_GetArraySize(shape) != nd)
        fail("%s: tensor %s: expected %d dimensions", s->path, name, nd);
    for (int i = 0; i < nd; i++) {
        const cJSON *d = cJSON_GetArrayItem(shape, i);
        if (!cJSON_IsNumber(d) || d->valuedouble != (double)want[i])
            fail("%s: tensor %s: dimension %d is %g, expected %zu (config.json's shape)", s->path, name, i,
                 cJSON_IsNumber(d) ? d->valuedouble : -1.0, want[i]);
    }
    size_t bytes = rows * (cols ? cols : 1) * (size_t)dtype_size(dt->valuestring);
    const cJSON *b0 = cJSON_GetArrayItem(offs, 0), *b1 = cJSON_GetArrayItem(offs, 1);
    if (!cJSON_IsArray(offs) || !cJSON_IsNumber(b0) || !cJSON_IsNumber(b1) || b0->valuedouble < 0 ||
        b1->valuedouble - b0->valuedouble != (double)bytes || b1->valuedouble > (double)s->data_bytes)
        fail("%s: tensor %s: data_offsets do not hold %zu bytes inside the file", s->path, name, bytes);
    *dtype = dt->valuestring;
    return s->data + (size_t)b0->valuedouble;
}

// Copies a tensor into dst (rows x cols, row-major); transpose: the file
// holds it as (cols x rows) (Conv1D's (in, out)).
static void copy_tensor(const SafeTensors *s, const char *name, float *dst, size_t rows, size_t cols, int transpose) {
    const char *dtype;
    const unsigned char *src = transpose ? st_tensor(s, name, cols, rows, &dtype, 1) : st_tensor(s, name, rows, cols, &dtype, 1);
    size_t es = (size_t)dtype_size(dtype), nc = cols ? cols : 1;
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < nc; c++) {
            size_t i = transpose ? c * rows + r : r * nc + c;
            dst[r * nc + c] = element(src + i * es, dtype);
        }
}

void hf_load(GPT2 *m, const char *dir) {
    const GPT2Config *c = &m->config;
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    SafeTensors s;
    void *map;
    size_t map_len;
    st_open(&s, path, &map, &map_len);
    const ParamTable *t = &m->table;
    size_t C = (size_t)c->channels, V = (size_t)c->vocab_size;
    float *wte = m->params + t->tensors[param_index(t, T_WTE, 0)].offset;
    memset(wte, 0, (size_t)c->padded_vocab_size * C * sizeof(float));  // padding rows stay zero
    copy_tensor(&s, "wte.weight", wte, V, C, 0);
    copy_tensor(&s, "wpe.weight", m->params + t->tensors[param_index(t, T_WPE, 0)].offset, (size_t)c->max_seq_len, C, 0);
    copy_tensor(&s, "ln_f.weight", m->params + t->tensors[param_index(t, T_LNFW, 0)].offset, C, 0, 0);
    copy_tensor(&s, "ln_f.bias", m->params + t->tensors[param_index(t, T_LNFB, 0)].offset, C, 0, 0);
    static const struct { int kind; const char *name; int transpose; } block[] = {
        {T_LN1W, "ln_1.weight", 0}, {T_LN1B, "ln_1.bias", 0}, {T_QKVW, "attn.c_attn.weight", 1},
        {T_QKVB, "attn.c_attn.bias", 0}, {T_ATTPROJW, "attn.c_proj.weight", 1}, {T_ATTPROJB, "attn.c_proj.bias", 0},
        {T_LN2W, "ln_2.weight", 0}, {T_LN2B, "ln_2.bias", 0}, {T_FCW, "mlp.c_fc.weight", 1},
        {T_FCB, "mlp.c_fc.bias", 0}, {T_FCPROJW, "mlp.c_proj.weight", 1}, {T_FCPROJB, "mlp.c_proj.bias", 0}};
    for (int l = 0; l < c->num_layers; l++)
        for (size_t k = 0; k < sizeof block / sizeof block[0]; k++) {
            const ParamTensor *p = &t->tensors[param_index(t, block[k].kind, l)];
            char name[96];
            snprintf(name, sizeof name, "h.%d.%s", l, block[k].name);
            copy_tensor(&s, name, m->params + p->offset, p->shape[0], p->ndim == 2 ? p->shape[1] : 0, block[k].transpose);
        }
    // an LM head stored beside wte must be the same matrix (GPT-2 ties them)
    const char *dtype;
    const unsigned char *head = st_tensor(&s, "lm_head.weight", V, C, &dtype, 0);
    if (head) {
        size_t es = (size_t)dtype_size(dtype);
        for (size_t i = 0; i < V * C; i++)
            if (element(head + i * es, dtype) != wte[i])
                fail("%s: lm_head.weight differs from wte.weight; only GPT-2's tied LM head is supported", path);
    }
    cJSON_Delete(s.header);
    munmap(map, map_len);
}
