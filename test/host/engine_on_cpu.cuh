// The GPU engine (train_gpt2.cu) built to run on the CPU, for
// test/test_gpu_engine_on_cpu.sh: with -DENGINE_ON_CPU -DENABLE_FP32 the
// engine includes this header instead of kernels/, so that
//   - every kernel launcher runs the CPU trainer's layer (model/cpu_layers.c)
//     on the same buffers, with the launcher's semantics (a matmul's dinp is
//     overwritten, LayerNorm's dinp accumulated, frozen gradients NULL);
//   - the CUDA runtime calls are host stand-ins (test/host/cuda_on_host.cuh:
//     memory is host memory; the launches and copies are queued on their
//     streams and run when waited for, so a missing wait reads stale data).
// What this checks is train_gpt2.cu itself: the activation layout, which
// buffer and which gradient each call gets, the classifier and loss, the
// device slice and the fused update, checkpoints and resume, against the
// CPU trainer. The kernels are checked elsewhere (test/host/, test/gpu/).
#ifndef TEST_HOST_ENGINE_ON_CPU_CUH
#define TEST_HOST_ENGINE_ON_CPU_CUH
#ifndef ENABLE_FP32
#error "the CPU build of the GPU engine is fp32 (build with -DENABLE_FP32)"
#endif
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/common.cuh"
extern "C" {
#include "model/cpu_layers.h"
}

#include "test/host/cuda_on_host.cuh"

// ---- the kernel launchers, as the CPU trainer's layers
static inline void encoder_forward_gpu(float *out, const int *inp, const float *wte, const float *wpe, int B, int T,
                                       int C, cudaStream_t s) {
    emu_launch(s, [=] { encoder_forward(out, inp, wte, wpe, B, T, C); });
}
static inline void encoder_backward_gpu(float *dwte, float *dwpe, const float *dout, const int *inp, int B, int T,
                                        int C, cudaStream_t s) {
    emu_launch(s, [=] { encoder_backward(dwte, dwpe, dout, inp, B, T, C); });
}
static inline size_t layernorm_scratch_floats(int) { return 1; }
static inline void layernorm_forward_gpu(float *out, float *mean, float *rstd, const float *inp, const float *w,
                                         const float *b, int N, int C, cudaStream_t s) {
    emu_launch(s, [=] { layernorm_forward(out, mean, rstd, inp, w, b, N, C); });
}
static inline void residual_layernorm_forward_gpu(float *resid, float *out, float *mean, float *rstd, const float *a,
                                                  const float *b, const float *w, const float *bias, int N, int C,
                                                  cudaStream_t s) {
    emu_launch(s, [=] {
        residual_forward(resid, a, b, N * C);
        layernorm_forward(out, mean, rstd, resid, w, bias, N, C);
    });
}
static inline void layernorm_backward_gpu(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                                          const float *w, const float *mean, const float *rstd, float *, int N, int C,
                                          cudaStream_t s) {
    emu_launch(s, [=] { layernorm_backward(dinp, dw, db, dout, inp, w, mean, rstd, N, C); });
}
static inline void gelu_forward_gpu(float *out, const float *inp, long long N, cudaStream_t s) {
    emu_launch(s, [=] { gelu_forward(out, inp, (int)N); });
}
static inline void gelu_backward_gpu(float *d, const float *inp, long long N, cudaStream_t s) {
    emu_launch(s, [=] { gelu_backward(d, inp, (int)N); });
}
static inline void residual_forward_gpu(float *out, const float *a, const float *b, long long N, cudaStream_t s) {
    emu_launch(s, [=] { residual_forward(out, a, b, (int)N); });
}

typedef struct {
    float *ones;
    size_t cap;
} MatmulContext;
static inline void matmul_context_init(MatmulContext *mc, int) { memset(mc, 0, sizeof *mc); }
static inline void matmul_context_free(MatmulContext *mc) { free(mc->ones); }
static inline size_t matmul_context_bytes(int) { return 0; }
static inline void matmul_forward_gpu(MatmulContext *, float *out, const float *inp, const float *w, const float *bias,
                                      int N, int IC, int OC, cudaStream_t s) {
    emu_launch(s, [=] { matmul_forward(out, inp, w, bias, N, IC, OC); });
}
// dinp is overwritten (cuBLASLt with beta 0), dweight and dbias accumulate.
static inline void matmul_backward_gpu(MatmulContext *mc, float *dinp, float *dw, float *db, const float *dout,
                                       const float *inp, const float *w, int N, int IC, int OC, cudaStream_t s) {
    emu_launch(s, [=] {
        if ((size_t)N > mc->cap) {
            free(mc->ones);
            mc->ones = (float *)xmalloc((size_t)N * sizeof(float), "ones");
            for (int i = 0; i < N; i++) mc->ones[i] = 1.0f;
            mc->cap = (size_t)N;
        }
        if (dinp) memset(dinp, 0, (size_t)N * IC * sizeof(float));
        matmul_backward(dinp, dw, db, dout, inp, w, mc->ones, N, IC, OC);
    });
}

// The GELU-fused matmuls (cuBLASLt epilogues on the GPU): the unfused CPU
// layers, so the buffers each call gets are checked (pre-GELU into pre,
// GELU into out; the derivative taken at pre).
static inline void matmul_forward_gelu_gpu(MatmulContext *, float *out, float *pre, const float *inp, const float *w,
                                           const float *bias, int N, int IC, int OC, cudaStream_t s) {
    emu_launch(s, [=] {
        matmul_forward(pre, inp, w, bias, N, IC, OC);
        gelu_forward(out, pre, N * OC);
    });
}
static inline void matmul_backward_dgelu_gpu(MatmulContext *mc, float *dpre, float *dw, float *db, const float *dout,
                                             const float *inp, const float *w, const float *pre, int N, int IC, int OC,
                                             cudaStream_t s) {
    matmul_backward_gpu(mc, dpre, dw, db, dout, inp, w, N, IC, OC, s);
    gelu_backward_gpu(dpre, pre, (long long)N * IC, s);
}

static inline int attention_head_size_supported(int hs) { return hs > 0; }
static inline size_t attention_backward_scratch_floats(size_t B, size_t T, size_t C, size_t NH) { return B * NH * T; }
// The CPU attention keeps the softmax matrix; the engine keeps only lse:
// forward into a scratch matrix, recomputed for the backward pass.
static inline void attention_forward_gpu(float *out, float *lse, const float *qkv, int B, int T, int C, int NH,
                                         cudaStream_t s) {
    emu_launch(s, [=] {
        float *att = (float *)xmalloc((size_t)B * NH * T * T * sizeof(float), "attention scratch");
        attention_forward(out, att, qkv, B, T, C, NH);
        for (long long i = 0; i < (long long)B * NH * T; i++) lse[i] = 0.0f;  // unused by the CPU backward
        free(att);
    });
}
static inline void attention_backward_gpu(float *dqkv, float *, const float *dout, const float *qkv, const float *,
                                          const float *, int B, int T, int C, int NH, cudaStream_t s) {
    emu_launch(s, [=] {
        float *att = (float *)xmalloc((size_t)B * NH * T * T * sizeof(float), "attention scratch");
        float *out = (float *)xmalloc((size_t)B * T * C * sizeof(float), "attention scratch");
        float *row = (float *)xmalloc((size_t)B * NH * T * sizeof(float), "attention scratch");
        attention_forward(out, att, qkv, B, T, C, NH);
        memset(dqkv, 0, (size_t)B * T * 3 * C * sizeof(float));  // the kernels overwrite dqkv
        attention_backward(dqkv, row, dout, qkv, att, B, T, C, NH);
        free(att);
        free(out);
        free(row);
    });
}

// Losses, and with write_grad the logit gradient written over the logits.
static inline void fused_classifier_gpu(float *logits, float *losses, const int *targets, float dloss, int BT, int V,
                                        int Vp, int write_grad, cudaStream_t s) {
    emu_launch(s, [=] {
        float *probs = (float *)xmalloc((size_t)BT * Vp * sizeof(float), "classifier scratch");
        softmax_crossentropy_forward(probs, losses, logits, targets, BT, V, Vp);
        if (write_grad) softmax_crossentropy_backward(logits, probs, targets, dloss, BT, V, Vp);
        free(probs);
    });
}

// The micro-batch's mean loss added to *acc (in double, as the kernel).
static inline void loss_accumulate_gpu(double *acc, const float *losses, int BT, cudaStream_t s) {
    emu_launch(s, [=] {
        double sum = 0.0;
        for (int i = 0; i < BT; i++) sum += losses[i];
        *acc += (double)(float)(sum / BT);
    });
}

#define GRAD_NORM_BLOCKS 1
static inline void sum_squares_gpu(float *out, float *, const float *g, long long n, cudaStream_t s) {
    emu_launch(s, [=] {
        double sum = 0.0;
        for (long long i = 0; i < n; i++) sum += (double)g[i] * g[i];
        out[0] = (float)sum;
    });
}

// The fused update: its element function, on the host.
#include "omgd/omgd_update.cuh"
static inline void omgd_adamw_update_gpu(float *master, floatX *params, const float *grads, float *m, float *v,
                                         const OmgdSegment *seg, int nseg, long long total, float lr, float beta1,
                                         float beta2, float eps, unsigned long long seed, cudaStream_t s) {
    emu_launch(s, [=] {
        for (long long idx = 0; idx < total; idx++)
            omgd_adamw_element(idx, master, params, grads, m, v, seg, nseg, lr, beta1, beta2, eps, seed);
    });
}

#endif
