// The CPU engine: the fp32 model of model/gpt2.c and the OMGD update of
// omgd/, in host memory (see model/engine.h). The reference the GPU
// engine (train_gpt2.cu) is checked against.
#include "model/engine.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/sysmem.h"

struct Engine {
    GPT2 *model;
    Omgd *omgd;
    double loss_sum;  // since engine_zero_grad
    char describe[64];
};

void engine_plan(const GPT2 *model, const Omgd *omgd, int B, int T, const Config *cfg) {
    (void)omgd;  // the CPU plan is that of full AdamW (parking leaves state in place)
    const GPT2Config *shape = &model->config;
    size_t pbytes = model->table.num_params * sizeof(float);
    size_t abytes = gpt2_activation_bytes(shape, B, T);
    printf("memory at start: params %.1f MiB, activations %.1f MiB; full AdamW would hold grads %.1f MiB + moments %.1f MiB\n",
           pbytes / 1048576.0, abytes / 1048576.0, pbytes / 1048576.0, 2 * pbytes / 1048576.0);
    size_t need = 4 * pbytes + abytes, avail = sysmem_available_bytes();
    if (avail > 0 && need > avail) {
        size_t per_row = gpt2_activation_bytes(shape, 1, T);
        long long fit = per_row ? (long long)((avail > 4 * pbytes ? avail - 4 * pbytes : 0) / per_row) : 0;
        fail("%s: this run needs about %.2f GiB (weights, gradients and AdamW moments %.2f GiB, activations %.2f GiB) but "
             "%.2f GiB of memory is available; train.batch_size %lld or less would fit%s",
             cfg->source, need / 1073741824.0, 4 * pbytes / 1073741824.0, abytes / 1073741824.0, avail / 1073741824.0,
             fit, fit == 0 ? " (none: the model alone is too large)" : "");
    }
}

Engine *engine_create(GPT2 *model, Omgd *omgd, int B, int T, const Config *cfg) {
    (void)B, (void)T, (void)cfg;
    Engine *e = xcalloc(1, sizeof *e, "engine");
    e->model = model;
    e->omgd = omgd;
    snprintf(e->describe, sizeof e->describe, "CPU fp32, %d threads", omp_get_max_threads());
    return e;
}

void engine_free(Engine *e) { free(e); }

const char *engine_describe(const Engine *e) { return e->describe; }

int engine_begin_step(Engine *e, int64_t step, int64_t epoch) { return omgd_begin_step(e->omgd, e->model, step, epoch); }

void engine_zero_grad(Engine *e) {
    gpt2_zero_grad(e->model);
    e->loss_sum = 0.0;
}

float engine_forward(Engine *e, const int *inputs, const int *targets, int B, int T) {
    return gpt2_forward(e->model, inputs, targets, B, T);
}

const float *engine_position_losses(const Engine *e) { return e->model->acts.losses; }

void engine_backward(Engine *e, float loss_scale) { gpt2_backward(e->model, loss_scale); }

void engine_train_micro_batch(Engine *e, const int *inputs, const int *targets, int B, int T, float loss_scale) {
    e->loss_sum += gpt2_forward(e->model, inputs, targets, B, T);
    gpt2_backward(e->model, loss_scale);
}

double engine_loss_sum(Engine *e) { return e->loss_sum; }

float engine_reduce_gradients(Engine *e) { return omgd_reduce_gradients(e->omgd, e->model); }

void engine_apply_update(Engine *e, const AdamWHyper *h, float grad_clip, float norm, int step) {
    (void)step;  // fp32 weights: no stochastic rounding
    omgd_apply_update(e->omgd, e->model, h, grad_clip, norm);
}

void engine_sync_host(Engine *e) { (void)e; }  // the host copies are the working copies

void engine_next_token_probs(Engine *e, const int *tokens, int len, float *probs) {
    gpt2_forward(e->model, tokens, NULL, 1, len);
    const GPT2Config *c = &e->model->config;
    memcpy(probs, e->model->acts.probs + (size_t)(len - 1) * c->padded_vocab_size, (size_t)c->vocab_size * sizeof(float));
}

OmgdMemory engine_memory(const Engine *e) { return omgd_memory(e->omgd, e->model); }

size_t engine_peak_device_bytes(const Engine *e) {
    (void)e;
    return 0;
}

double engine_peak_flops(const Engine *e, char *what, size_t cap) {
    (void)e;
    if (cap) what[0] = '\0';  // no MFU on the CPU
    return 0.0;
}
