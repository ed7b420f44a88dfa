// HellaSwag file reader and scorer (see hellaswag.h).
#include "data/hellaswag.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/signals.h"

#define HEADER_INTS 256

void hellaswag_open(HellaSwag *h, const char *path, int vocab_size) {
    FILE *f = xfopen(path, "rb");
    long long size = xfilesize(f, path);
    if (size < HEADER_INTS * 4)
        fail("%s: not a HellaSwag file in llm.c's format (%lld bytes, shorter than the 1024-byte header)", path, size);
    int32_t hd[HEADER_INTS];
    xfread(hd, sizeof(int32_t), HEADER_INTS, f, path);
    if (hd[0] != HELLASWAG_MAGIC)
        fail("%s: bad magic number %d, expected %d (llm.c's hellaswag_val.bin format)", path, hd[0], HELLASWAG_MAGIC);
    if (hd[1] != HELLASWAG_VERSION) fail("%s: version %d, expected %d", path, hd[1], HELLASWAG_VERSION);
    if (hd[2] <= 0) fail("%s: %d examples, expected at least 1", path, hd[2]);
    long long body = size - HEADER_INTS * 4;
    if (body % 2 != 0) fail("%s: %lld bytes after the header, not a whole number of uint16 values", path, body);
    size_t n = (size_t)(body / 2);
    h->num_examples = hd[2];
    h->data = xmalloc(n ? n * sizeof(uint16_t) : 1, "HellaSwag examples");
    h->start = xmalloc((size_t)hd[2] * sizeof(size_t), "HellaSwag index");
    xfread(h->data, sizeof(uint16_t), n, f, path);
    fclose(f);
    size_t pos = 0;
    long longest = 0;
    for (int i = 0; i < h->num_examples; i++) {
        const uint16_t *e = h->data + pos;
        size_t left = n - pos;
        if (left < 6) fail("%s: example %d: the file ends inside its fields", path, i);
        if (e[0] != 65535) fail("%s: example %d: starts with %u, expected 65535", path, i, e[0]);
        size_t len = e[1] / 2;
        if (e[1] % 2 != 0 || len < 6 || len > left)
            fail("%s: example %d: size %u bytes does not fit the file (%zu bytes left)", path, i, e[1], left * 2);
        if (e[2] != (uint16_t)i) fail("%s: example %d: holds index %u", path, i, e[2]);
        int ne = e[4];
        if (ne < 2 || ne > HELLASWAG_MAX_ENDINGS)
            fail("%s: example %d: %d endings, expected 2 to %d", path, i, ne, HELLASWAG_MAX_ENDINGS);
        if (e[3] >= ne) fail("%s: example %d: label %u, expected below its %d endings", path, i, e[3], ne);
        size_t p = 5;
        for (int part = -1; part < ne; part++) {  // the context, then each ending
            if (p >= len) fail("%s: example %d: ends before its ending %d", path, i, part + 1);
            size_t count = e[p++];
            if (part >= 0 && count == 0) fail("%s: example %d: ending %d has no tokens", path, i, part);
            if (part < 0 && count == 0) fail("%s: example %d: no context tokens", path, i);
            if (count > len - p) fail("%s: example %d: its token counts exceed its size", path, i);
            for (size_t k = 0; k < count; k++)
                if (e[p + k] >= vocab_size)
                    fail("%s: example %d: token %u is outside the model's vocabulary [0, %d)", path, i, e[p + k],
                         vocab_size);
            p += count;
        }
        if (p != len) fail("%s: example %d: size %u bytes, its fields take %zu", path, i, e[1], p * 2);
        if ((long)e[1] > longest) longest = e[1];
        h->start[i] = pos;
        pos += len;
    }
    if (pos != n) fail("%s: %zu bytes after the last of its %d examples", path, (n - pos) * 2, h->num_examples);
    if (hd[3] < longest)
        fail("%s: header says the longest example is %d bytes, example sizes go up to %ld", path, hd[3], longest);
}

void hellaswag_example(const HellaSwag *h, int i, HellaExample *ex) {
    const uint16_t *e = h->data + h->start[i];
    ex->label = e[3];
    ex->num_endings = e[4];
    ex->ctx_len = e[5];
    ex->ctx = e + 6;
    const uint16_t *p = e + 6 + ex->ctx_len;
    for (int k = 0; k < ex->num_endings; k++) {
        ex->end_len[k] = *p++;
        ex->end[k] = p;
        p += ex->end_len[k];
    }
}

void hellaswag_free(HellaSwag *h) {
    free(h->data);
    free(h->start);
    h->data = NULL;
    h->start = NULL;
}

// Mean loss of ending k's tokens given the context (the row cut to the window).
static double ending_loss(const HellaExample *ex, int k, int window, RowLossFn loss, void *ctx, int *row,
                          float *losses) {
    int total = ex->ctx_len + ex->end_len[k];
    int drop = total - 1 > window ? total - 1 - window : 0;  // leading tokens that do not fit
    int n = 0;
    for (int t = drop; t < total; t++)
        row[n++] = t < ex->ctx_len ? ex->ctx[t] : ex->end[k][t - ex->ctx_len];
    int T = n - 1;
    loss(ctx, row, row + 1, T, losses);
    // target position j predicts row[j + 1], token drop + j + 1 of the example
    int first = ex->ctx_len - 1 - drop;
    if (first < 0) first = 0;
    double sum = 0.0;
    for (int j = first; j < T; j++) sum += losses[j];
    return sum / (T - first);
}

int hellaswag_score(const HellaSwag *h, int first, int stride, int window, RowLossFn loss, void *ctx,
                    long long *correct, long long *scored) {
    int *row = xmalloc((size_t)(window + 1) * sizeof(int), "HellaSwag row");
    float *losses = xmalloc((size_t)window * sizeof(float), "HellaSwag losses");
    int stopped = 0;
    for (int i = first; i < h->num_examples; i += stride) {
        if (signals_stop_requested()) {
            stopped = 1;
            break;
        }
        HellaExample ex;
        hellaswag_example(h, i, &ex);
        int best = 0;
        double best_loss = 0.0;
        for (int k = 0; k < ex.num_endings; k++) {
            double l = ending_loss(&ex, k, window, loss, ctx, row, losses);
            if (k == 0 || l < best_loss) best = k, best_loss = l;
        }
        *correct += best == ex.label;
        (*scored)++;
    }
    free(row);
    free(losses);
    return stopped;
}
