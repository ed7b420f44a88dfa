// GPT-2 forward and backward on the CPU: the layers of cpu_layers.c wired
// together over the block-by-block parameter buffer.
#include "model/gpt2.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/loss_guard.h"
#include "common/rng.h"
#include "model/cpu_layers.h"

// Pointer to tensor `kind` of block l (l ignored for always-active tensors).
static float *tensor_ptr(float *base, const ParamTable *t, int kind, int l) {
    return base + t->tensors[param_index(t, kind, l)].offset;
}

// Gradient of tensor `kind` of block l, or NULL when that tensor is frozen.
static float *grad_ptr(const GPT2 *m, int kind, int l) {
    return m->grad_of[param_index(&m->table, kind, l)];
}

void gpt2_build(GPT2 *m, const GPT2Config *c) {
    memset(m, 0, sizeof *m);
    if (c->num_layers <= 0 || c->channels <= 0 || c->num_heads <= 0 || c->max_seq_len <= 0 ||
        c->vocab_size <= 0 || c->padded_vocab_size < c->vocab_size ||
        c->channels % c->num_heads != 0)
        fail("invalid GPT-2 shape: layers %d, channels %d, heads %d, context %d, vocab %d/%d",
             c->num_layers, c->channels, c->num_heads, c->max_seq_len, c->vocab_size,
             c->padded_vocab_size);
    m->config = *c;
    param_table_build(&m->table, c);
    m->params = xmalloc(m->table.num_params * sizeof(float), "model parameters");
    m->mean_loss = -1.0f;
}

void gpt2_init_random(GPT2 *m, uint64_t seed) {
    const ParamTable *t = &m->table;
    Rng rng;
    rng_seed(&rng, seed);
    float residual_scale = 1.0f / sqrtf(2.0f * (float)m->config.num_layers);
    for (int i = 0; i < t->num_tensors; i++) {
        const ParamTensor *p = &t->tensors[i];
        float *w = m->params + p->offset;
        int is_ln_weight = p->kind == T_LN1W || p->kind == T_LN2W || p->kind == T_LNFW;
        if (p->ndim == 1) {
            float v = is_ln_weight ? 1.0f : 0.0f;  // LayerNorm weight 1, every bias 0
            for (size_t j = 0; j < p->numel; j++) w[j] = v;
            continue;
        }
        float std = 0.02f;
        if (p->kind == T_ATTPROJW || p->kind == T_FCPROJW) std *= residual_scale;
        for (size_t j = 0; j < p->numel; j++) w[j] = (float)(std * rng_normal(&rng));
    }
    // rows of the padded vocabulary are never used by the loss; keep them zero
    const ParamTensor *wte = &t->tensors[param_index(t, T_WTE, 0)];
    size_t C = (size_t)m->config.channels;
    memset(m->params + wte->offset + (size_t)m->config.vocab_size * C, 0,
           (size_t)(m->config.padded_vocab_size - m->config.vocab_size) * C * sizeof(float));
}

void gpt2_free(GPT2 *m) {
    free(m->params);
    free(m->grads);
    free(m->grad_of);
    free(m->act_memory);
    free(m->scratch_memory);
    free(m->inputs);
    free(m->targets);
    param_table_free(&m->table);
    memset(m, 0, sizeof *m);
}

// Number of floats of activations for (B, T); fills pointers when base != NULL.
static size_t layout_activations(Activations *a, float *base, const GPT2Config *c, size_t B,
                                 size_t T) {
    size_t L = c->num_layers, C = c->channels, NH = c->num_heads, Vp = c->padded_vocab_size;
    size_t BT = B * T;
    struct {
        float **ptr;
        size_t n;
    } parts[] = {
        {&a->encoded, BT * C},       {&a->ln1, L * BT * C},         {&a->ln1_mean, L * BT},
        {&a->ln1_rstd, L * BT},      {&a->qkv, L * BT * 3 * C},     {&a->atty, L * BT * C},
        {&a->att, L * B * NH * T * T}, {&a->attproj, L * BT * C},   {&a->residual2, L * BT * C},
        {&a->ln2, L * BT * C},       {&a->ln2_mean, L * BT},        {&a->ln2_rstd, L * BT},
        {&a->fch, L * BT * 4 * C},   {&a->fch_gelu, L * BT * 4 * C}, {&a->fcproj, L * BT * C},
        {&a->residual3, L * BT * C}, {&a->lnf, BT * C},             {&a->lnf_mean, BT},
        {&a->lnf_rstd, BT},          {&a->logits, BT * Vp},         {&a->probs, BT * Vp},
        {&a->losses, BT},
    };
    size_t total = 0;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        if (base) *parts[i].ptr = base + total;
        total += parts[i].n;
    }
    return total;
}

static size_t layout_scratch(BackwardScratch *s, float *base, const GPT2Config *c, size_t B,
                             size_t T) {
    size_t C = c->channels, NH = c->num_heads, BT = B * T;
    struct {
        float **ptr;
        size_t n;
    } parts[] = {
        {&s->dresidual, BT * C}, {&s->dln, BT * C},      {&s->dqkv, BT * 3 * C},
        {&s->datty, BT * C},     {&s->dfch, BT * 4 * C}, {&s->datt_row, B * NH * T},
        {&s->ones, BT},
    };
    size_t total = 0;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        if (base) *parts[i].ptr = base + total;
        total += parts[i].n;
    }
    return total;
}

size_t gpt2_activation_bytes(const GPT2Config *c, int B, int T) {
    Activations a;
    BackwardScratch s;
    return (layout_activations(&a, NULL, c, B, T) + layout_scratch(&s, NULL, c, B, T)) *
           sizeof(float);
}

// Buffers are laid out for the current (B, T) inside memory sized for the
// largest batch seen so far, so a smaller forward (sampling) does not free
// and reallocate the training buffers.
static void ensure_buffers(GPT2 *m, int B, int T) {
    size_t na = layout_activations(&m->acts, NULL, &m->config, B, T);
    size_t ns = layout_scratch(&m->scratch, NULL, &m->config, B, T);
    size_t ntok = (size_t)B * T;
    if (na > m->act_floats || ns > m->scratch_floats || ntok > m->token_capacity) {
        free(m->act_memory);
        free(m->scratch_memory);
        free(m->inputs);
        free(m->targets);
        if (na < m->act_floats) na = m->act_floats;
        if (ns < m->scratch_floats) ns = m->scratch_floats;
        if (ntok < m->token_capacity) ntok = m->token_capacity;
        m->act_memory = xmalloc(na * sizeof(float), "activations");
        m->scratch_memory = xmalloc(ns * sizeof(float), "backward scratch");
        m->inputs = xmalloc(ntok * sizeof(int), "input tokens");
        m->targets = xmalloc(ntok * sizeof(int), "target tokens");
        m->act_floats = na;
        m->scratch_floats = ns;
        m->token_capacity = ntok;
    }
    layout_activations(&m->acts, m->act_memory, &m->config, B, T);
    layout_scratch(&m->scratch, m->scratch_memory, &m->config, B, T);
    for (size_t i = 0; i < (size_t)B * T; i++) m->scratch.ones[i] = 1.0f;
    m->B = B;
    m->T = T;
}

float gpt2_forward(GPT2 *m, const int *inputs, const int *targets, int B, int T) {
    const GPT2Config *c = &m->config;
    if (B <= 0 || T <= 0 || T > c->max_seq_len)
        fail("forward: batch %d x %d does not fit the model (context %d)", B, T, c->max_seq_len);
    int L = c->num_layers, C = c->channels, NH = c->num_heads;
    int V = c->vocab_size, Vp = c->padded_vocab_size, BT = B * T;
    for (int i = 0; i < BT; i++) {
        if (inputs[i] < 0 || inputs[i] >= V || (targets && (targets[i] < 0 || targets[i] >= V)))
            fail("forward: token id out of range [0, %d) at position %d", V, i);
    }
    ensure_buffers(m, B, T);
    memcpy(m->inputs, inputs, (size_t)BT * sizeof(int));
    m->has_targets = targets != NULL;
    if (targets) memcpy(m->targets, targets, (size_t)BT * sizeof(int));

    const ParamTable *t = &m->table;
    float *p = m->params;
    Activations *a = &m->acts;
    encoder_forward(a->encoded, inputs, tensor_ptr(p, t, T_WTE, 0), tensor_ptr(p, t, T_WPE, 0), B,
                    T, C);
    for (int l = 0; l < L; l++) {
        size_t o = (size_t)l * BT * C;
        float *residual = l == 0 ? a->encoded : a->residual3 + (size_t)(l - 1) * BT * C;
        float *ln1 = a->ln1 + o, *atty = a->atty + o, *attproj = a->attproj + o;
        float *residual2 = a->residual2 + o, *ln2 = a->ln2 + o;
        float *fcproj = a->fcproj + o, *residual3 = a->residual3 + o;
        float *qkv = a->qkv + o * 3, *fch = a->fch + o * 4, *fch_gelu = a->fch_gelu + o * 4;
        float *att = a->att + (size_t)l * B * NH * T * T;
        float *ln1_mean = a->ln1_mean + (size_t)l * BT, *ln1_rstd = a->ln1_rstd + (size_t)l * BT;
        float *ln2_mean = a->ln2_mean + (size_t)l * BT, *ln2_rstd = a->ln2_rstd + (size_t)l * BT;

        layernorm_forward(ln1, ln1_mean, ln1_rstd, residual, tensor_ptr(p, t, T_LN1W, l),
                          tensor_ptr(p, t, T_LN1B, l), BT, C);
        matmul_forward(qkv, ln1, tensor_ptr(p, t, T_QKVW, l), tensor_ptr(p, t, T_QKVB, l), BT, C,
                       3 * C);
        attention_forward(atty, att, qkv, B, T, C, NH);
        matmul_forward(attproj, atty, tensor_ptr(p, t, T_ATTPROJW, l),
                       tensor_ptr(p, t, T_ATTPROJB, l), BT, C, C);
        residual_forward(residual2, residual, attproj, BT * C);
        layernorm_forward(ln2, ln2_mean, ln2_rstd, residual2, tensor_ptr(p, t, T_LN2W, l),
                          tensor_ptr(p, t, T_LN2B, l), BT, C);
        matmul_forward(fch, ln2, tensor_ptr(p, t, T_FCW, l), tensor_ptr(p, t, T_FCB, l), BT, C,
                       4 * C);
        gelu_forward(fch_gelu, fch, BT * 4 * C);
        matmul_forward(fcproj, fch_gelu, tensor_ptr(p, t, T_FCPROJW, l),
                       tensor_ptr(p, t, T_FCPROJB, l), BT, 4 * C, C);
        residual_forward(residual3, residual2, fcproj, BT * C);
    }
    float *last = a->residual3 + (size_t)(L - 1) * BT * C;
    layernorm_forward(a->lnf, a->lnf_mean, a->lnf_rstd, last, tensor_ptr(p, t, T_LNFW, 0),
                      tensor_ptr(p, t, T_LNFB, 0), BT, C);
    // LM head tied to the token embedding
    matmul_forward(a->logits, a->lnf, tensor_ptr(p, t, T_WTE, 0), NULL, BT, C, Vp);
    softmax_crossentropy_forward(a->probs, a->losses, a->logits, targets, BT, V, Vp);
    if (!targets) {
        m->mean_loss = -1.0f;
        return -1.0f;
    }
    double sum = 0.0;
    for (int i = 0; i < BT; i++) sum += a->losses[i];
    m->mean_loss = (float)(sum / BT);
    return m->mean_loss;
}

void gpt2_set_trainable(GPT2 *m, const uint8_t *trainable) {
    const ParamTable *t = &m->table;
    if (!m->grad_of) m->grad_of = xcalloc((size_t)t->num_tensors, sizeof(float *), "gradient table");
    size_t total = 0;
    for (int i = 0; i < t->num_tensors; i++)
        if (!trainable || trainable[i]) total += t->tensors[i].numel;
    if (total != m->grad_floats || !m->grads) {
        free(m->grads);
        m->grads = xmalloc((total ? total : 1) * sizeof(float), "parameter gradients");
        m->grad_floats = total;
    }
    size_t off = 0;
    for (int i = 0; i < t->num_tensors; i++) {
        if (!trainable || trainable[i]) {
            m->grad_of[i] = m->grads + off;
            off += t->tensors[i].numel;
        } else {
            m->grad_of[i] = NULL;
        }
    }
}

void gpt2_zero_grad(GPT2 *m) {
    if (!m->grads) gpt2_set_trainable(m, NULL);
    memset(m->grads, 0, m->grad_floats * sizeof(float));
}

void gpt2_backward(GPT2 *m, float loss_scale) {
    if (!m->has_targets) fail("backward: the last forward pass had no targets");
    if (!m->grads) gpt2_zero_grad(m);
    const GPT2Config *c = &m->config;
    int B = m->B, T = m->T, L = c->num_layers, C = c->channels, NH = c->num_heads;
    int V = c->vocab_size, Vp = c->padded_vocab_size, BT = B * T;
    const ParamTable *t = &m->table;
    float *p = m->params;
    Activations *a = &m->acts;
    BackwardScratch *s = &m->scratch;

    // loss = loss_scale * mean over BT positions
    float *dlogits = a->logits;  // logits are no longer needed
    softmax_crossentropy_backward(dlogits, a->probs, m->targets, loss_scale / (float)BT, BT, V, Vp);
    memset(s->dln, 0, (size_t)BT * C * sizeof(float));
    matmul_backward(s->dln, grad_ptr(m, T_WTE, 0), NULL, dlogits, a->lnf,
                    tensor_ptr(p, t, T_WTE, 0), s->ones, BT, C, Vp);
    memset(s->dresidual, 0, (size_t)BT * C * sizeof(float));
    float *last = a->residual3 + (size_t)(L - 1) * BT * C;
    layernorm_backward(s->dresidual, grad_ptr(m, T_LNFW, 0), grad_ptr(m, T_LNFB, 0),
                       s->dln, last, tensor_ptr(p, t, T_LNFW, 0), a->lnf_mean, a->lnf_rstd, BT, C);

    // s->dresidual now holds d(loss)/d(residual3 of block L-1); walk down the blocks
    for (int l = L - 1; l >= 0; l--) {
        size_t o = (size_t)l * BT * C;
        float *residual = l == 0 ? a->encoded : a->residual3 + (size_t)(l - 1) * BT * C;
        float *ln1 = a->ln1 + o, *atty = a->atty + o, *residual2 = a->residual2 + o;
        float *ln2 = a->ln2 + o, *qkv = a->qkv + o * 3, *fch = a->fch + o * 4;
        float *fch_gelu = a->fch_gelu + o * 4, *att = a->att + (size_t)l * B * NH * T * T;
        float *ln1_mean = a->ln1_mean + (size_t)l * BT, *ln1_rstd = a->ln1_rstd + (size_t)l * BT;
        float *ln2_mean = a->ln2_mean + (size_t)l * BT, *ln2_rstd = a->ln2_rstd + (size_t)l * BT;

        // residual3 = residual2 + fcproj: both get dresidual (dresidual keeps serving residual2)
        memset(s->dfch, 0, (size_t)BT * 4 * C * sizeof(float));
        matmul_backward(s->dfch, grad_ptr(m, T_FCPROJW, l), grad_ptr(m, T_FCPROJB, l),
                        s->dresidual, fch_gelu, tensor_ptr(p, t, T_FCPROJW, l), s->ones, BT, 4 * C,
                        C);
        gelu_backward(s->dfch, fch, BT * 4 * C);  // d(fch_gelu) -> d(fch), in place
        memset(s->dln, 0, (size_t)BT * C * sizeof(float));
        matmul_backward(s->dln, grad_ptr(m, T_FCW, l), grad_ptr(m, T_FCB, l), s->dfch,
                        ln2, tensor_ptr(p, t, T_FCW, l), s->ones, BT, C, 4 * C);
        layernorm_backward(s->dresidual, grad_ptr(m, T_LN2W, l), grad_ptr(m, T_LN2B, l),
                           s->dln, residual2, tensor_ptr(p, t, T_LN2W, l), ln2_mean, ln2_rstd, BT,
                           C);
        // residual2 = residual + attproj
        memset(s->datty, 0, (size_t)BT * C * sizeof(float));
        matmul_backward(s->datty, grad_ptr(m, T_ATTPROJW, l), grad_ptr(m, T_ATTPROJB, l),
                        s->dresidual, atty, tensor_ptr(p, t, T_ATTPROJW, l), s->ones, BT, C, C);
        memset(s->dqkv, 0, (size_t)BT * 3 * C * sizeof(float));
        attention_backward(s->dqkv, s->datt_row, s->datty, qkv, att, B, T, C, NH);
        memset(s->dln, 0, (size_t)BT * C * sizeof(float));
        matmul_backward(s->dln, grad_ptr(m, T_QKVW, l), grad_ptr(m, T_QKVB, l), s->dqkv,
                        ln1, tensor_ptr(p, t, T_QKVW, l), s->ones, BT, C, 3 * C);
        layernorm_backward(s->dresidual, grad_ptr(m, T_LN1W, l), grad_ptr(m, T_LN1B, l),
                           s->dln, residual, tensor_ptr(p, t, T_LN1W, l), ln1_mean, ln1_rstd, BT,
                           C);
    }
    encoder_backward(grad_ptr(m, T_WTE, 0), grad_ptr(m, T_WPE, 0), s->dresidual,
                     m->inputs, B, T, C);
}

int gpt2_weights_finite(const GPT2 *m, char *what, size_t cap) {
    for (int i = 0; i < m->table.num_tensors; i++) {
        const ParamTensor *t = &m->table.tensors[i];
        const float *x = m->params + t->offset;
        size_t n = t->numel, j = first_nonfinite(x, n);
        if (j < n) {
            snprintf(what, cap, "weight %s[%zu] = %g", t->name, j, (double)x[j]);
            return 0;
        }
    }
    return 1;
}
