// What the trainer's main() (train_gpt2.c) asks of the hardware it trains
// on. Two implementations, chosen at link time:
//   model/engine_cpu.c  the CPU trainer: fp32, OpenMP + BLAS (the reference)
//   train_gpt2.cu       the GPU trainer: CUDA kernels, cuBLASLt, bf16 or fp32
// The host GPT2 (parameter table, fp32 weights) and Omgd (mask schedule,
// optimizer state store) are the checkpointed truth; an engine may keep
// working copies elsewhere (the GPU's memory) and writes them back in
// engine_sync_host before anything reads the host copies.
#ifndef MODEL_ENGINE_H
#define MODEL_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "model/gpt2.h"
#include "omgd/adamw.h"
#include "omgd/omgd.h"

typedef struct Engine Engine;

// Prints what a run with micro-batch B x T will hold in memory and fails
// with one line if it cannot fit. Needs only the shapes and the OMGD
// settings: called before the weights are initialised or loaded.
void engine_plan(const GPT2 *model, const Omgd *omgd, int B, int T, const Config *cfg);
// Takes the loaded or initialised weights and optimizer state; B x T is the
// training micro-batch (the largest batch it will see).
Engine *engine_create(GPT2 *model, Omgd *omgd, int B, int T, const Config *cfg);
void engine_free(Engine *e);
// One line: the hardware and precision ("CPU fp32, 2 threads").
const char *engine_describe(const Engine *e);
// omgd_begin_step, plus moving state between host and device on a new
// period. Returns 1 on a new period.
int engine_begin_step(Engine *e, int64_t step, int64_t epoch);
void engine_zero_grad(Engine *e);
// Mean loss over the B*T positions (-1 without targets); B x T at most the
// training batch's tokens, T at most the context.
float engine_forward(Engine *e, const int *inputs, const int *targets, int B, int T);
// Per-position losses of the last forward with targets (B*T floats, row by
// row), valid until the next forward (HellaSwag scores endings with them).
const float *engine_position_losses(const Engine *e);
// Accumulates the gradient of loss_scale * the last forward's mean loss.
void engine_backward(Engine *e, float loss_scale);
// Training on one micro-batch: the forward pass, then the gradient of
// loss_scale * its mean loss accumulated (the GPU engine takes the loss and
// the logit gradient in one pass over the logits). The loss stays where the
// engine computes it until engine_loss_sum: the host does not wait for the
// micro-batch.
void engine_train_micro_batch(Engine *e, const int *inputs, const int *targets, int B, int T, float loss_scale);
// The sum of the mean losses of the micro-batches trained since
// engine_zero_grad (waits for them: read once per step).
double engine_loss_sum(Engine *e);
// omgd_reduce_gradients: the norm of the (summed) active-slice gradient.
float engine_reduce_gradients(Engine *e);
// omgd_apply_update; step seeds the stochastic rounding of bf16 weights.
void engine_apply_update(Engine *e, const AdamWHyper *h, float grad_clip, float norm, int step);
// Makes the host model and optimizer state current (before checkpoints).
void engine_sync_host(Engine *e);
// Probabilities of the token after tokens[0..len) over the vocabulary
// (vocab_size floats), for sampling.
void engine_next_token_probs(Engine *e, const int *tokens, int len, float *probs);
// Bytes held where the engine trains (the device, for the GPU).
OmgdMemory engine_memory(const Engine *e);
// The device's peak memory in use so far, 0 on the CPU.
size_t engine_peak_device_bytes(const Engine *e);
// The device's dense bf16 peak in FLOP/s for MFU (model/mfu.h), 0 when
// unknown; what names it (or says why there is none). The CPU engine
// reports no MFU: 0 and what "".
double engine_peak_flops(const Engine *e, char *what, size_t cap);

#endif
