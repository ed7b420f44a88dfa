// The flash-style attention kernels and the cuBLASLt matmuls against the CPU
// reference (model/cpu_layers.c), on shapes that cross tile boundaries
// unevenly, for every compiled head size. Needs a GPU; run by
// scripts/gpu_check.sh. Tolerances as in test/gpu/check_common.cuh. In the
// bf16 build head size 64 runs on the tensor-core kernels
// (kernels/attention_tc.cuh): T = 1, 63, 64, 65, 200 and 1024 for them.
// Last, the time of one forward + backward pass at GPT-2 124M's shape
// (B 8, T 1024, 12 heads of 64), and in the bf16 build the same on the
// CUDA-core kernels, for comparison (printed, not asserted; not with
// CHECK_NO_TIMING set).
#include "test/gpu/check_common.cuh"
#include "kernels/attention.cuh"
#include "kernels/matmul.cuh"
extern "C" {
#include "model/cpu_layers.h"
}

static void check_attention(int B, int T, int NH, int hs, unsigned *seed) {
    int C = NH * hs;
    size_t nqkv = (size_t)B * T * 3 * C, nout = (size_t)B * T * C;
    float *qkv = rand_floats(nqkv, 1.5f, seed), *dout = rand_floats(nout, 1.0f, seed);
    round_to_floatX(qkv, nqkv);
    round_to_floatX(dout, nout);
    float *out = (float *)xmalloc(nout * sizeof(float), "ref");
    float *att = (float *)xmalloc((size_t)B * NH * T * T * sizeof(float), "ref");
    float *dqkv = (float *)xcalloc(nqkv, sizeof(float), "ref");
    float *datt_row = (float *)xmalloc((size_t)B * NH * T * sizeof(float), "ref");
    attention_forward(out, att, qkv, B, T, C, NH);
    attention_backward(dqkv, datt_row, dout, qkv, att, B, T, C, NH);

    floatX *d_qkv = to_device(qkv, nqkv), *d_dout = to_device(dout, nout), *d_out, *d_dqkv;
    float *d_lse, *d_D;
    CUDA_CHECK(cudaMalloc(&d_out, nout * sizeof(floatX)));
    CUDA_CHECK(cudaMalloc(&d_dqkv, nqkv * sizeof(floatX)));
    CUDA_CHECK(cudaMemset(d_dqkv, 0xff, nqkv * sizeof(floatX)));  // NaNs: every element must be written
    CUDA_CHECK(cudaMalloc(&d_lse, (size_t)B * NH * T * sizeof(float)));
    CUDA_CHECK(cudaMalloc(&d_D, attention_backward_scratch_floats(B, T, C, NH) * sizeof(float)));
    attention_forward_gpu(d_out, d_lse, d_qkv, B, T, C, NH, 0);
    attention_backward_gpu(d_dqkv, d_D, d_dout, d_qkv, d_out, d_lse, B, T, C, NH, 0);
    char name[64];
    const char *cores = attention_tc_applies(hs) ? "tc" : "cc";  // tensor cores or CUDA cores
    snprintf(name, sizeof name, "attention fwd B%d T%d NH%d hs%d %s", B, T, NH, hs, cores);
    compare(name, from_device(d_out, nout), out, nout, TOL);
    snprintf(name, sizeof name, "attention bwd dqkv T%d hs%d %s", T, hs, cores);
    compare(name, from_device(d_dqkv, nqkv), dqkv, nqkv, TOL);
    CUDA_CHECK(cudaFree(d_qkv));
    CUDA_CHECK(cudaFree(d_dout));
    CUDA_CHECK(cudaFree(d_out));
    CUDA_CHECK(cudaFree(d_dqkv));
    CUDA_CHECK(cudaFree(d_lse));
    CUDA_CHECK(cudaFree(d_D));
    free(qkv); free(dout); free(out); free(att); free(dqkv); free(datt_row);
}

// ms per forward + backward pass (median of 5 after a warm-up); cuda_cores:
// the CUDA-core kernels for head size 64 even in the bf16 build.
static void time_attention(int B, int T, int NH, int cuda_cores) {
    int C = NH * 64;
    size_t nqkv = (size_t)B * T * 3 * C, nout = (size_t)B * T * C;
    floatX *qkv, *out, *dout, *dqkv;
    float *lse, *D;
    CUDA_CHECK(cudaMalloc(&qkv, nqkv * sizeof(floatX)));
    CUDA_CHECK(cudaMalloc(&dqkv, nqkv * sizeof(floatX)));
    CUDA_CHECK(cudaMalloc(&out, nout * sizeof(floatX)));
    CUDA_CHECK(cudaMalloc(&dout, nout * sizeof(floatX)));
    CUDA_CHECK(cudaMalloc(&lse, (size_t)B * NH * T * sizeof(float)));
    CUDA_CHECK(cudaMalloc(&D, attention_backward_scratch_floats(B, T, C, NH) * sizeof(float)));
    CUDA_CHECK(cudaMemset(qkv, 0, nqkv * sizeof(floatX)));  // zeros: the time does not depend on the values
    CUDA_CHECK(cudaMemset(dout, 0, nout * sizeof(floatX)));
    cudaEvent_t e0, e1;
    CUDA_CHECK(cudaEventCreate(&e0));
    CUDA_CHECK(cudaEventCreate(&e1));
    float ms[6];
    for (int it = 0; it < 6; it++) {
        CUDA_CHECK(cudaEventRecord(e0, 0));
        if (cuda_cores) {
            float scale = 0.125f;
            dim3 grid(ceil_div(T, ATTN_TILE), B * NH);
            attention_forward_kernel<64><<<grid, ATTN_TILE>>>(out, lse, qkv, T, C, NH, scale);
            CUDA_CHECK_LAUNCH();
            attention_backward_dot_kernel<<<ceil_div((long long)B * T * NH, 256), 256>>>(D, dout, out, B, T, C, NH);
            CUDA_CHECK_LAUNCH();
            attention_backward_launch<64>(dqkv, dout, qkv, lse, D, B, T, C, NH, 0);
        } else {
            attention_forward_gpu(out, lse, qkv, B, T, C, NH, 0);
            attention_backward_gpu(dqkv, D, dout, qkv, out, lse, B, T, C, NH, 0);
        }
        CUDA_CHECK(cudaEventRecord(e1, 0));
        CUDA_CHECK(cudaEventSynchronize(e1));
        CUDA_CHECK(cudaEventElapsedTime(&ms[it], e0, e1));
    }
    float *m = ms + 1;  // the first is the warm-up
    for (int i = 0; i < 5; i++)
        for (int j = i + 1; j < 5; j++)
            if (m[j] < m[i]) { float x = m[i]; m[i] = m[j]; m[j] = x; }
    // causal attention's model FLOPs: 4 B NH T(T+1)/2 64 x 2 forward, twice that backward
    double flops = 3.0 * 4.0 * B * NH * (T * (T + 1.0) / 2.0) * 64.0;
    printf("timing attention fwd+bwd B%d T%d NH%d hs64 %s %s: %.3f ms (%.1f TFLOP/s of causal attention)\n", B, T, NH,
           cuda_cores || !attention_tc_applies(64) ? "CUDA cores" : "tensor cores", PRECISION_NAME, m[2],
           flops / (m[2] * 1e-3) / 1e12);
    CUDA_CHECK(cudaEventDestroy(e0));
    CUDA_CHECK(cudaEventDestroy(e1));
    CUDA_CHECK(cudaFree(qkv)); CUDA_CHECK(cudaFree(dqkv)); CUDA_CHECK(cudaFree(out)); CUDA_CHECK(cudaFree(dout));
    CUDA_CHECK(cudaFree(lse)); CUDA_CHECK(cudaFree(D));
}

static void check_matmul(MatmulContext *mc, int N, int IC, int OC, unsigned *seed) {
    float *inp = rand_floats((size_t)N * IC, 1.0f, seed), *w = rand_floats((size_t)OC * IC, 0.2f, seed);
    float *bias = rand_floats(OC, 0.5f, seed), *dout = rand_floats((size_t)N * OC, 1.0f, seed);
    float *dw = rand_floats((size_t)OC * IC, 0.1f, seed), *db = rand_floats(OC, 0.1f, seed);
    round_to_floatX(inp, (size_t)N * IC);
    round_to_floatX(w, (size_t)OC * IC);
    round_to_floatX(bias, OC);
    round_to_floatX(dout, (size_t)N * OC);
    float *out = (float *)xmalloc((size_t)N * OC * sizeof(float), "ref");
    float *dinp = (float *)xcalloc((size_t)N * IC, sizeof(float), "ref");
    float *ones = (float *)xmalloc((size_t)N * sizeof(float), "ref");
    for (int i = 0; i < N; i++) ones[i] = 1.0f;
    floatX *d_inp = to_device(inp, (size_t)N * IC), *d_w = to_device(w, (size_t)OC * IC), *d_bias = to_device(bias, OC);
    floatX *d_dout = to_device(dout, (size_t)N * OC), *d_out, *d_dinp;
    float *d_dw = to_device_f32(dw, (size_t)OC * IC), *d_db = to_device_f32(db, OC);
    CUDA_CHECK(cudaMalloc(&d_out, (size_t)N * OC * sizeof(floatX)));
    CUDA_CHECK(cudaMalloc(&d_dinp, (size_t)N * IC * sizeof(floatX)));
    matmul_forward(out, inp, w, bias, N, IC, OC);
    matmul_backward(dinp, dw, db, dout, inp, w, ones, N, IC, OC);
    matmul_forward_gpu(mc, d_out, d_inp, d_w, d_bias, N, IC, OC, 0);
    matmul_backward_gpu(mc, d_dinp, d_dw, d_db, d_dout, d_inp, d_w, N, IC, OC, 0);
    char name[64];
    snprintf(name, sizeof name, "matmul fwd+bias %dx%dx%d", N, IC, OC);
    compare(name, from_device(d_out, (size_t)N * OC), out, (size_t)N * OC, TOL);
    compare("matmul bwd dinp", from_device(d_dinp, (size_t)N * IC), dinp, (size_t)N * IC, TOL);
    compare("matmul bwd dweight (+=, fp32)", from_device_f32(d_dw, (size_t)OC * IC), dw, (size_t)OC * IC, 1e-5);
    compare("matmul bwd dbias (+=, fp32)", from_device_f32(d_db, OC), db, OC, 1e-5);
    // no bias and a frozen weight: only dinp is computed, dweight untouched
    matmul_forward(out, inp, w, NULL, N, IC, OC);
    matmul_forward_gpu(mc, d_out, d_inp, d_w, NULL, N, IC, OC, 0);
    compare("matmul fwd, no bias", from_device(d_out, (size_t)N * OC), out, (size_t)N * OC, TOL);
    float *before = from_device_f32(d_dw, (size_t)OC * IC);
    matmul_backward_gpu(mc, d_dinp, NULL, NULL, d_dout, d_inp, d_w, N, IC, OC, 0);
    float *after = from_device_f32(d_dw, (size_t)OC * IC);
    int same = memcmp(before, after, (size_t)OC * IC * sizeof(float)) == 0;
    failures += !same;
    printf("%-34s %-5s %s\n", "matmul bwd, frozen weight", PRECISION_NAME, same ? "PASS (untouched)" : "FAIL");
    CUDA_CHECK(cudaFree(d_inp)); CUDA_CHECK(cudaFree(d_w)); CUDA_CHECK(cudaFree(d_bias)); CUDA_CHECK(cudaFree(d_dout));
    CUDA_CHECK(cudaFree(d_out)); CUDA_CHECK(cudaFree(d_dinp)); CUDA_CHECK(cudaFree(d_dw)); CUDA_CHECK(cudaFree(d_db));
    free(inp); free(w); free(bias); free(dout); free(dw); free(db); free(out); free(dinp); free(ones);
    free(before); free(after);
}

// The GELU-fused matmuls (cuBLASLt's GELU_AUX_BIAS and DGELU epilogues in
// the bf16 build, the separate kernels in fp32) against the CPU's matmul
// then GELU, and dinp then GELU's derivative. Same tolerances as the plain
// matmuls (cuBLASLt's GELU is the tanh form, as the CPU's).
static void check_matmul_gelu(MatmulContext *mc, int N, int IC, int OC, unsigned *seed) {
    float *inp = rand_floats((size_t)N * IC, 1.0f, seed), *w = rand_floats((size_t)OC * IC, 0.2f, seed);
    float *bias = rand_floats(OC, 0.5f, seed), *dout = rand_floats((size_t)N * OC, 1.0f, seed);
    round_to_floatX(inp, (size_t)N * IC);
    round_to_floatX(w, (size_t)OC * IC);
    round_to_floatX(bias, OC);
    round_to_floatX(dout, (size_t)N * OC);
    // forward: pre = inp W^T + b, out = gelu(pre)
    float *pre = (float *)xmalloc((size_t)N * OC * sizeof(float), "ref"), *out = (float *)xmalloc((size_t)N * OC * sizeof(float), "ref");
    matmul_forward(pre, inp, w, bias, N, IC, OC);
    gelu_forward(out, pre, N * OC);
    floatX *d_inp = to_device(inp, (size_t)N * IC), *d_w = to_device(w, (size_t)OC * IC), *d_bias = to_device(bias, OC);
    floatX *d_out, *d_pre;
    CUDA_CHECK(cudaMalloc(&d_out, (size_t)N * OC * sizeof(floatX)));
    CUDA_CHECK(cudaMalloc(&d_pre, (size_t)N * OC * sizeof(floatX)));
    CUDA_CHECK(cudaMemset(d_out, 0xff, (size_t)N * OC * sizeof(floatX)));
    CUDA_CHECK(cudaMemset(d_pre, 0xff, (size_t)N * OC * sizeof(floatX)));
    matmul_forward_gelu_gpu(mc, d_out, d_pre, d_inp, d_w, d_bias, N, IC, OC, 0);
    char name[80];
    snprintf(name, sizeof name, "matmul+gelu fwd %dx%dx%d: gelu", N, IC, OC);
    compare(name, from_device(d_out, (size_t)N * OC), out, (size_t)N * OC, TOL);
    snprintf(name, sizeof name, "matmul+gelu fwd %dx%dx%d: pre-gelu", N, IC, OC);
    compare(name, from_device(d_pre, (size_t)N * OC), pre, (size_t)N * OC, TOL);
    // backward of y = gelu(pre) V^T (V: IC2 = OC inputs, OC2 outputs): dpre = (dy V) * gelu'(pre)
    int OC2 = IC;  // any width
    float *v = rand_floats((size_t)OC2 * OC, 0.2f, seed), *dy = rand_floats((size_t)N * OC2, 1.0f, seed);
    round_to_floatX(v, (size_t)OC2 * OC);
    round_to_floatX(dy, (size_t)N * OC2);
    float *pre_x = from_device(d_pre, (size_t)N * OC), *out_x = from_device(d_out, (size_t)N * OC);  // the device's, as inputs
    float *dpre = (float *)xcalloc((size_t)N * OC, sizeof(float), "ref"), *dv = (float *)xcalloc((size_t)OC2 * OC, sizeof(float), "ref");
    float *ones = (float *)xmalloc((size_t)N * sizeof(float), "ref");
    for (int i = 0; i < N; i++) ones[i] = 1.0f;
    matmul_backward(dpre, dv, NULL, dy, out_x, v, ones, N, OC, OC2);
    gelu_backward(dpre, pre_x, N * OC);
    floatX *d_v = to_device(v, (size_t)OC2 * OC), *d_dy = to_device(dy, (size_t)N * OC2), *d_dpre;
    float *d_dv = to_device_f32(dv, (size_t)OC2 * OC);
    CUDA_CHECK(cudaMemset(d_dv, 0, (size_t)OC2 * OC * sizeof(float)));
    CUDA_CHECK(cudaMalloc(&d_dpre, (size_t)N * OC * sizeof(floatX)));
    CUDA_CHECK(cudaMemset(d_dpre, 0xff, (size_t)N * OC * sizeof(floatX)));
    matmul_backward_dgelu_gpu(mc, d_dpre, d_dv, NULL, d_dy, d_out, d_v, d_pre, N, OC, OC2, 0);
    snprintf(name, sizeof name, "matmul bwd + dgelu %dx%dx%d: dpre", N, OC, OC2);
    compare(name, from_device(d_dpre, (size_t)N * OC), dpre, (size_t)N * OC, TOL);
    compare("matmul bwd + dgelu: dweight (fp32)", from_device_f32(d_dv, (size_t)OC2 * OC), dv, (size_t)OC2 * OC, 1e-5);
    CUDA_CHECK(cudaFree(d_inp)); CUDA_CHECK(cudaFree(d_w)); CUDA_CHECK(cudaFree(d_bias)); CUDA_CHECK(cudaFree(d_out));
    CUDA_CHECK(cudaFree(d_pre)); CUDA_CHECK(cudaFree(d_v)); CUDA_CHECK(cudaFree(d_dy)); CUDA_CHECK(cudaFree(d_dpre));
    CUDA_CHECK(cudaFree(d_dv));
    free(inp); free(w); free(bias); free(dout); free(pre); free(out); free(v); free(dy); free(pre_x); free(out_x);
    free(dpre); free(dv); free(ones);
}

int main(void) {
    require_device("check_attention compares attention and matmuls with the CPU code and");
    unsigned seed = check_seed();
    check_attention(2, 67, 2, 16, &seed);
    check_attention(1, 64, 4, 32, &seed);
    check_attention(2, 130, 3, 64, &seed);
    check_attention(1, 1, 2, 64, &seed);
    check_attention(1, 63, 2, 64, &seed);
    check_attention(2, 64, 2, 64, &seed);
    check_attention(1, 65, 3, 64, &seed);
    check_attention(2, 200, 2, 64, &seed);
    check_attention(1, 1024, 2, 64, &seed);
    MatmulContext mc;
    matmul_context_init(&mc, 4 * 256);
    check_matmul(&mc, 67, 96, 200, &seed);
    check_matmul(&mc, 1000, 64, 256, &seed);
    check_matmul(&mc, 5, 40, 24, &seed);
    check_matmul_gelu(&mc, 67, 96, 256, &seed);
    check_matmul_gelu(&mc, 1000, 64, 256, &seed);
    matmul_context_free(&mc);
    if (!getenv("CHECK_NO_TIMING")) {  // the sanitizer runs set it: timing there is slow and means nothing
        time_attention(8, 1024, 12, 0);
        if (attention_tc_applies(64)) time_attention(8, 1024, 12, 1);
    }
    CUDA_CHECK(cudaDeviceSynchronize());
    printf("attention and matmul checks (%s): %d failed\n", PRECISION_NAME, failures);
    return failures ? 1 : 0;
}
