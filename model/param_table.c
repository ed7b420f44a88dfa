// The parameter table: every tensor's name, shape, group, decay flag and
// offset in the block-by-block parameter buffer (see gpt2.h).
#include "model/gpt2.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

static void add(ParamTable *t, int *n, size_t *off, int kind, int group, size_t rows, size_t cols,
                int ndim) {
    static const char *kind_names[T_NUM_KINDS] = {
        "wte", "wpe", "ln1w", "ln1b", "qkvw", "qkvb", "attprojw", "attprojb",
        "ln2w", "ln2b", "fcw", "fcb", "fcprojw", "fcprojb", "lnfw", "lnfb"};
    ParamTensor *p = &t->tensors[*n];
    if (group == GROUP_ALWAYS_ACTIVE) {
        snprintf(p->name, sizeof p->name, "%s", kind_names[kind]);
    } else {
        snprintf(p->name, sizeof p->name, "h%d.%s", group, kind_names[kind]);
    }
    p->kind = kind;
    p->group = group;
    p->ndim = ndim;
    p->shape[0] = rows;
    p->shape[1] = cols;
    p->numel = rows * cols;
    p->offset = *off;
    p->decay = (ndim == 2);
    *off += p->numel;
    (*n)++;
}

void param_table_build(ParamTable *t, const GPT2Config *c) {
    size_t C = (size_t)c->channels, L = (size_t)c->num_layers;
    t->config = *c;
    t->num_tensors = 4 + GPT2_TENSORS_PER_BLOCK * (int)L;
    t->tensors = xcalloc((size_t)t->num_tensors, sizeof(ParamTensor), "parameter table");
    t->block_offset = xcalloc(L + 1, sizeof(size_t), "parameter table");
    int n = 0;
    size_t off = 0;
    add(t, &n, &off, T_WTE, GROUP_ALWAYS_ACTIVE, (size_t)c->padded_vocab_size, C, 2);
    add(t, &n, &off, T_WPE, GROUP_ALWAYS_ACTIVE, (size_t)c->max_seq_len, C, 2);
    add(t, &n, &off, T_LNFW, GROUP_ALWAYS_ACTIVE, C, 1, 1);
    add(t, &n, &off, T_LNFB, GROUP_ALWAYS_ACTIVE, C, 1, 1);
    for (int l = 0; l < (int)L; l++) {
        t->block_offset[l] = off;
        add(t, &n, &off, T_LN1W, l, C, 1, 1);
        add(t, &n, &off, T_LN1B, l, C, 1, 1);
        add(t, &n, &off, T_QKVW, l, 3 * C, C, 2);
        add(t, &n, &off, T_QKVB, l, 3 * C, 1, 1);
        add(t, &n, &off, T_ATTPROJW, l, C, C, 2);
        add(t, &n, &off, T_ATTPROJB, l, C, 1, 1);
        add(t, &n, &off, T_LN2W, l, C, 1, 1);
        add(t, &n, &off, T_LN2B, l, C, 1, 1);
        add(t, &n, &off, T_FCW, l, 4 * C, C, 2);
        add(t, &n, &off, T_FCB, l, 4 * C, 1, 1);
        add(t, &n, &off, T_FCPROJW, l, C, 4 * C, 2);
        add(t, &n, &off, T_FCPROJB, l, C, 1, 1);
    }
    t->block_offset[L] = off;
    t->num_params = off;
}

void param_table_free(ParamTable *t) {
    free(t->tensors);
    free(t->block_offset);
    t->tensors = NULL;
    t->block_offset = NULL;
}

int param_index(const ParamTable *t, int kind, int block) {
    switch (kind) {
        case T_WTE: return 0;
        case T_WPE: return 1;
        case T_LNFW: return 2;
        case T_LNFB: return 3;
        default: break;
    }
    // block tensors follow in kind order T_LN1W..T_FCPROJB
    return 4 + block * GPT2_TENSORS_PER_BLOCK + (kind - T_LN1W);
}
