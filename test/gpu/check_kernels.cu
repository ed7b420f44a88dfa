// GPU kernels against the CPU reference (model/cpu_layers.c, omgd/adamw.h),
// element by element on random inputs with awkward shapes. Needs a GPU;
// run by scripts/gpu_check.sh. Prints one line per check and a summary;
// exit 1 if a check fails, 2 if there is no CUDA device.
//
// Tolerance: the largest absolute difference over the largest reference
// magnitude. fp32 build: 1e-5 (same formulas, other summation order);
// bf16 build: 2e-2 (bf16 keeps 8 bits: 2^-8 = 3.9e-3 per rounding, and
// outputs pass through a few roundings). The CPU gets the same
// bf16-rounded inputs, so only the kernel's own arithmetic is measured.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test/gpu/check_common.cuh"
#include "kernels/classifier.cuh"
#include "kernels/encoder.cuh"
#include "kernels/gelu.cuh"
#include "kernels/grad_norm.cuh"
#include "kernels/layernorm.cuh"
#include "omgd/omgd_update.cuh"
extern "C" {
#include "model/cpu_layers.h"
#include "omgd/adamw.h"
}

static void check_encoder(unsigned *seed) {
    const int B = 3, T = 17, C = 72, V = 100;
    int inp[B * T];
    for (int i = 0; i < B * T; i++) inp[i] = (i * 37 + 11) % V;
    inp[5] = inp[40];  // a repeated token
    float *wte = rand_floats((size_t)V * C, 1.0f, seed), *wpe = rand_floats((size_t)T * C, 1.0f, seed);
    round_to_floatX(wte, (size_t)V * C);
    round_to_floatX(wpe, (size_t)T * C);
    float *ref = (float *)xmalloc((size_t)B * T * C * sizeof(float), "ref");
    encoder_forward(ref, inp, wte, wpe, B, T, C);
    int *d_inp;
    CUDA_CHECK(cudaMalloc(&d_inp, sizeof inp));
    CUDA_CHECK(cudaMemcpy(d_inp, inp, sizeof inp, cudaMemcpyHostToDevice));
    floatX *d_wte = to_device(wte, (size_t)V * C), *d_wpe = to_device(wpe, (size_t)T * C), *d_out;
    CUDA_CHECK(cudaMalloc(&d_out, (size_t)B * T * C * sizeof(floatX)));
    encoder_forward_gpu(d_out, d_inp, d_wte, d_wpe, B, T, C, 0);
    float *got = from_device(d_out, (size_t)B * T * C);
    compare("encoder forward", got, ref, (size_t)B * T * C, TOL);
    // backward: dout random, gradients accumulate onto random fp32 values
    float *dout = rand_floats((size_t)B * T * C, 1.0f, seed);
    round_to_floatX(dout, (size_t)B * T * C);
    float *dwte = rand_floats((size_t)V * C, 0.1f, seed), *dwpe = rand_floats((size_t)T * C, 0.1f, seed);
    float *d_dwte = to_device_f32(dwte, (size_t)V * C), *d_dwpe = to_device_f32(dwpe, (size_t)T * C);
    floatX *d_dout = to_device(dout, (size_t)B * T * C);
    encoder_backward(dwte, dwpe, dout, inp, B, T, C);
    encoder_backward_gpu(d_dwte, d_dwpe, d_dout, d_inp, B, T, C, 0);
    compare("encoder backward dwte (+=)", from_device_f32(d_dwte, (size_t)V * C), dwte, (size_t)V * C, 1e-5);
    compare("encoder backward dwpe (+=)", from_device_f32(d_dwpe, (size_t)T * C), dwpe, (size_t)T * C, 1e-5);
}

static void check_layernorm(unsigned *seed) {
    const int N = 301, C = 72;  // N > LN_CHUNKS, not a multiple of it
    float *x = rand_floats((size_t)N * C, 2.0f, seed), *w = rand_floats(C, 1.0f, seed), *b = rand_floats(C, 1.0f, seed);
    round_to_floatX(x, (size_t)N * C);
    round_to_floatX(w, C);
    round_to_floatX(b, C);
    float *out = (float *)xmalloc((size_t)N * C * sizeof(float), "ref"), mean[N], rstd[N];
    layernorm_forward(out, mean, rstd, x, w, b, N, C);
    floatX *d_x = to_device(x, (size_t)N * C), *d_w = to_device(w, C), *d_b = to_device(b, C), *d_out;
    float *d_mean, *d_rstd;
    CUDA_CHECK(cudaMalloc(&d_out, (size_t)N * C * sizeof(floatX)));
    CUDA_CHECK(cudaMalloc(&d_mean, N * sizeof(float)));
    CUDA_CHECK(cudaMalloc(&d_rstd, N * sizeof(float)));
    layernorm_forward_gpu(d_out, d_mean, d_rstd, d_x, d_w, d_b, N, C, 0);
    compare("layernorm forward", from_device(d_out, (size_t)N * C), out, (size_t)N * C, TOL);
    compare("layernorm mean", from_device_f32(d_mean, N), mean, N, 1e-5);
    compare("layernorm rstd", from_device_f32(d_rstd, N), rstd, N, 1e-5);
    float *dout = rand_floats((size_t)N * C, 1.0f, seed), *dinp = rand_floats((size_t)N * C, 0.5f, seed);
    round_to_floatX(dout, (size_t)N * C);
    round_to_floatX(dinp, (size_t)N * C);
    float *dw = rand_floats(C, 0.1f, seed), *db = rand_floats(C, 0.1f, seed);
    floatX *d_dout = to_device(dout, (size_t)N * C), *d_dinp = to_device(dinp, (size_t)N * C);
    float *d_dw = to_device_f32(dw, C), *d_db = to_device_f32(db, C);
    // the GPU uses its own mean/rstd (as in training); the CPU its own
    layernorm_backward(dinp, dw, db, dout, x, w, mean, rstd, N, C);
    float *d_scratch;
    CUDA_CHECK(cudaMalloc(&d_scratch, layernorm_scratch_floats(C) * sizeof(float)));
    layernorm_backward_gpu(d_dinp, d_dw, d_db, d_dout, d_x, d_w, d_mean, d_rstd, d_scratch, N, C, 0);
    compare("layernorm backward dinp (+=)", from_device(d_dinp, (size_t)N * C), dinp, (size_t)N * C, TOL);
    compare("layernorm backward dweight (+=)", from_device_f32(d_dw, C), dw, C, 1e-5);
    compare("layernorm backward dbias (+=)", from_device_f32(d_db, C), db, C, 1e-5);
}

// The fused residual add + LayerNorm: the same bits as the two kernels it
// replaces (the engine's LayerNorm recomputation relies on that).
static void check_residual_layernorm(unsigned *seed) {
    const int N = 301, C = 72;
    size_t n = (size_t)N * C;
    float *a = rand_floats(n, 2.0f, seed), *b = rand_floats(n, 1.0f, seed), *w = rand_floats(C, 1.0f, seed);
    float *bias = rand_floats(C, 1.0f, seed);
    round_to_floatX(a, n);
    round_to_floatX(b, n);
    round_to_floatX(w, C);
    round_to_floatX(bias, C);
    floatX *d_a = to_device(a, n), *d_b = to_device(b, n), *d_w = to_device(w, C), *d_bias = to_device(bias, C);
    floatX *r1, *r2, *o1, *o2;
    float *st;  // mean and rstd of both: 4 N
    CUDA_CHECK(cudaMalloc(&r1, n * sizeof(floatX)));
    CUDA_CHECK(cudaMalloc(&r2, n * sizeof(floatX)));
    CUDA_CHECK(cudaMalloc(&o1, n * sizeof(floatX)));
    CUDA_CHECK(cudaMalloc(&o2, n * sizeof(floatX)));
    CUDA_CHECK(cudaMalloc(&st, 4 * N * sizeof(float)));
    residual_forward_gpu(r1, d_a, d_b, (long long)n, 0);
    layernorm_forward_gpu(o1, st, st + N, r1, d_w, d_bias, N, C, 0);
    residual_layernorm_forward_gpu(r2, o2, st + 2 * N, st + 3 * N, d_a, d_b, d_w, d_bias, N, C, 0);
    floatX *h = (floatX *)xmalloc(4 * n * sizeof(floatX), "check");
    float *hs = (float *)xmalloc(4 * N * sizeof(float), "check");
    CUDA_CHECK(cudaMemcpy(h, r1, n * sizeof(floatX), cudaMemcpyDeviceToHost));
    CUDA_CHECK(cudaMemcpy(h + n, r2, n * sizeof(floatX), cudaMemcpyDeviceToHost));
    CUDA_CHECK(cudaMemcpy(h + 2 * n, o1, n * sizeof(floatX), cudaMemcpyDeviceToHost));
    CUDA_CHECK(cudaMemcpy(h + 3 * n, o2, n * sizeof(floatX), cudaMemcpyDeviceToHost));
    CUDA_CHECK(cudaMemcpy(hs, st, 4 * N * sizeof(float), cudaMemcpyDeviceToHost));
    int same = memcmp(h, h + n, n * sizeof(floatX)) == 0 && memcmp(h + 2 * n, h + 3 * n, n * sizeof(floatX)) == 0 &&
               memcmp(hs, hs + 2 * N, 2 * N * sizeof(float)) == 0;
    failures += !same;
    printf("%-34s %-5s %s\n", "residual+layernorm fused", PRECISION_NAME, same ? "PASS (bits of the two kernels)" : "FAIL");
    CUDA_CHECK(cudaFree(d_a)); CUDA_CHECK(cudaFree(d_b)); CUDA_CHECK(cudaFree(d_w)); CUDA_CHECK(cudaFree(d_bias));
    CUDA_CHECK(cudaFree(r1)); CUDA_CHECK(cudaFree(r2)); CUDA_CHECK(cudaFree(o1)); CUDA_CHECK(cudaFree(o2));
    CUDA_CHECK(cudaFree(st));
    free(a); free(b); free(w); free(bias); free(h); free(hs);
}

static void check_gelu(unsigned *seed) {
    const int N = 4099;
    float *x = rand_floats(N, 4.0f, seed), *d = rand_floats(N, 1.0f, seed);
    round_to_floatX(x, N);
    round_to_floatX(d, N);
    float *ref = (float *)xmalloc(N * sizeof(float), "ref");
    gelu_forward(ref, x, N);
    floatX *d_x = to_device(x, N), *d_out, *d_d = to_device(d, N);
    CUDA_CHECK(cudaMalloc(&d_out, N * sizeof(floatX)));
    gelu_forward_gpu(d_out, d_x, N, 0);
    compare("gelu forward", from_device(d_out, N), ref, N, TOL);
    gelu_backward(d, x, N);
    gelu_backward_gpu(d_d, d_x, N, 0);
    compare("gelu backward", from_device(d_d, N), d, N, TOL);
    float *a = rand_floats(N, 1.0f, seed);
    round_to_floatX(a, N);
    residual_forward(ref, a, x, N);
    floatX *d_a = to_device(a, N);
    residual_forward_gpu(d_out, d_a, d_x, N, 0);
    compare("residual forward", from_device(d_out, N), ref, N, TOL);
}

// Vp a multiple of 8: 16-byte loads (V 1001: a chunk straddles V);
// otherwise element by element.
static void check_classifier(unsigned *seed, int V, int Vp) {
    const int BT = 9;
    float *logits = rand_floats((size_t)BT * Vp, 6.0f, seed);
    round_to_floatX(logits, (size_t)BT * Vp);
    int targets[BT];
    for (int i = 0; i < BT; i++) targets[i] = (i * 113 + 7) % V;
    targets[3] = V - 1;
    float *probs = (float *)xmalloc((size_t)BT * Vp * sizeof(float), "ref"), losses[BT];
    float *dlogits = (float *)xmalloc((size_t)BT * Vp * sizeof(float), "ref");
    softmax_crossentropy_forward(probs, losses, logits, targets, BT, V, Vp);
    softmax_crossentropy_backward(dlogits, probs, targets, 1.0f / BT, BT, V, Vp);
    floatX *d_logits = to_device(logits, (size_t)BT * Vp);
    float *d_losses;
    int *d_targets;
    CUDA_CHECK(cudaMalloc(&d_losses, BT * sizeof(float)));
    CUDA_CHECK(cudaMalloc(&d_targets, sizeof targets));
    CUDA_CHECK(cudaMemcpy(d_targets, targets, sizeof targets, cudaMemcpyHostToDevice));
    fused_classifier_gpu(d_logits, d_losses, d_targets, 1.0f / BT, BT, V, Vp, 1, 0);
    char name[80];
    snprintf(name, sizeof name, "fused classifier losses V%d Vp%d", V, Vp);
    compare(name, from_device_f32(d_losses, BT), losses, BT, 1e-5);
    snprintf(name, sizeof name, "fused classifier dlogits V%d Vp%d", V, Vp);
    compare(name, from_device(d_logits, (size_t)BT * Vp), dlogits, (size_t)BT * Vp, TOL);
}

static void check_grad_norm(unsigned *seed) {
    const long long n = 1000003;
    float *g = rand_floats((size_t)n, 1e-2f, seed);
    double ref = 0.0;
    for (long long i = 0; i < n; i++) ref += (double)g[i] * g[i];
    float *d_g = to_device_f32(g, (size_t)n), *d_out, *d_partial;
    CUDA_CHECK(cudaMalloc(&d_out, sizeof(float)));
    CUDA_CHECK(cudaMalloc(&d_partial, GRAD_NORM_BLOCKS * sizeof(float)));
    sum_squares_gpu(d_out, d_partial, d_g, n, 0);
    float *got = from_device_f32(d_out, 1), want = (float)ref;
    compare("gradient sum of squares", got, &want, 1, 1e-5);
}

static void check_omgd_adamw(unsigned *seed) {
    // three active tensors of a slice, out of a larger buffer, with their own
    // step counts, decay flags and grad scales (pool vs always-active)
    const int n_all = 5000;
    float *w = rand_floats(n_all, 0.5f, seed), *g = rand_floats(n_all, 0.1f, seed);
    float *m = rand_floats(n_all, 0.01f, seed), *v = rand_floats(n_all, 0.01f, seed);
    for (int i = 0; i < n_all; i++) v[i] = fabsf(v[i]);
    round_to_floatX(w, n_all);  // the master starts from what the model holds
    AdamWHyper h = {3e-3f, 0.9f, 0.95f, 1e-8f, 0.1f};
    struct { long long off, count; int64_t step; int decay; float scale; } t[3] = {
        {0, 1001, 1, 1, 0.7f}, {1500, 333, 17, 0, 0.7f * 4.0f}, {3000, 1999, 250, 1, 0.7f * 4.0f}};
    OmgdSegment seg[3];
    long long total = 0;
    float *w_ref = (float *)xmalloc(n_all * sizeof(float), "ref"), *m_ref = (float *)xmalloc(n_all * sizeof(float), "ref"),
          *v_ref = (float *)xmalloc(n_all * sizeof(float), "ref");
    memcpy(w_ref, w, n_all * sizeof(float));
    memcpy(m_ref, m, n_all * sizeof(float));
    memcpy(v_ref, v, n_all * sizeof(float));
    for (int s = 0; s < 3; s++) {
        AdamWScalars k = adamw_scalars(&h, t[s].step, t[s].decay, t[s].scale);
        for (long long j = t[s].off; j < t[s].off + t[s].count; j++) adamw_element(&w_ref[j], g[j], &m_ref[j], &v_ref[j], &k);
        seg[s] = (OmgdSegment){total, t[s].count, t[s].off, t[s].off, t[s].off, t[s].off, k.bc1, k.bc2, k.wd, k.grad_scale};
        total += t[s].count;
    }
    float *d_master = to_device_f32(w, n_all), *d_g = to_device_f32(g, n_all), *d_m = to_device_f32(m, n_all),
          *d_v = to_device_f32(v, n_all);
    floatX *d_params = to_device(w, n_all);
    OmgdSegment *d_seg;
    CUDA_CHECK(cudaMalloc(&d_seg, sizeof seg));
    CUDA_CHECK(cudaMemcpy(d_seg, seg, sizeof seg, cudaMemcpyHostToDevice));
    omgd_adamw_update_gpu(d_master, d_params, d_g, d_m, d_v, d_seg, 3, total, h.lr, h.beta1, h.beta2, h.eps, 12345, 0);
    float *master = from_device_f32(d_master, n_all);
    compare("omgd-adamw master weights", master, w_ref, n_all, 1e-6);
    compare("omgd-adamw first moments", from_device_f32(d_m, n_all), m_ref, n_all, 1e-6);
    compare("omgd-adamw second moments", from_device_f32(d_v, n_all), v_ref, n_all, 1e-6);
    float *params = from_device(d_params, n_all);
    compare("omgd-adamw model copy of the weights", params, w_ref, n_all, TOL);
    int untouched = 1;  // elements outside the slice: not written
    for (int i = 0; i < n_all; i++) {
        int inside = 0;
        for (int s = 0; s < 3; s++) inside |= i >= t[s].off && i < t[s].off + t[s].count;
        if (!inside && (master[i] != w[i] || params[i] != w[i])) untouched = 0;
    }
    failures += !untouched;
    printf("%-34s %-5s %s\n", "omgd-adamw leaves frozen elements", PRECISION_NAME, untouched ? "PASS (bit-identical)" : "FAIL");
}

int main(void) {
    require_device("check_kernels compares the GPU kernels with the CPU code and");
    unsigned seed = check_seed();
    check_encoder(&seed);
    check_layernorm(&seed);
    check_residual_layernorm(&seed);
    check_gelu(&seed);
    check_classifier(&seed, 1000, 1024);
    check_classifier(&seed, 1001, 1008);
    check_classifier(&seed, 1001, 1003);
    check_grad_norm(&seed);
    check_omgd_adamw(&seed);
    CUDA_CHECK(cudaDeviceSynchronize());
    printf("kernel checks (%s): %d failed\n", PRECISION_NAME, failures);
    return failures ? 1 : 0;
}
