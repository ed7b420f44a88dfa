// Model FLOPs utilisation (MFU): the FLOPs a training step needs by the
// model's shape, over the device's dense bf16 tensor-core peak, as llm.c
// and the PaLM paper report it.
//
// FLOPs per token (a multiply-add is 2 FLOPs), matmuls only (LayerNorm,
// GELU, softmax, bias adds and the embedding lookup are left out, as llm.c
// and PaLM leave them out):
//   forward          2 * IC * OC for each matmul weight (qkv, attention
//                    projection, fc, fc projection of every block; the LM
//                    head, tied to wte, over the real vocabulary V: 2 * C * V)
//   backward, input  the same again: the gradient flows through every block
//   backward, weight 2 * IC * OC only for the weights that have a gradient
//                    this step (OMGD's frozen blocks skip theirs: not counted)
//   attention        causal, per block: query t attends to t + 1 keys, so
//                    Q K^T and P V cost 4 C (t + 1) forward and twice that
//                    backward (dQ, dK, dP, dV); averaged over t < T:
//                    6 C (T + 1). What a kernel recomputes (FlashAttention's
//                    P in the backward pass, train.recompute) is not counted:
//                    MFU counts the model's FLOPs, not the hardware's.
#ifndef MODEL_MFU_H
#define MODEL_MFU_H

#include <stddef.h>
#include <stdint.h>

#include "model/gpt2.h"

// FLOPs of training on one token of a sequence of T tokens; trainable: per
// tensor of the table, 1 if it gets a gradient this step (NULL: all do).
double gpt2_train_flops_per_token(const ParamTable *t, int T, const uint8_t *trainable);

// The dense bf16 tensor-core peak of a device, from its name (CUDA's
// cudaDeviceProp.name, e.g. "NVIDIA H100 80GB HBM3"): FLOP/s, and in what
// a phrase naming it ("989.4 TFLOP/s, H100 SXM dense bf16 (table)").
// override: the value of OMGD_PEAK_TFLOPS (NULL or "" for none), in
// TFLOP/s, which wins over the table; one that is not a positive number
// fails. Returns 0 (what says so) for a device the table does not know.
double peak_bf16_flops(const char *device_name, const char *override, char *what, size_t cap);

#endif
