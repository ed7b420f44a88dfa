// The attention kernels' code (kernels/attention.cuh) run on the CPU: each
// kernel's block is emulated as the kernel runs it (stage a tile with all
// threads, then fold it into every thread's row; the same __host__
// __device__ functions), block by block in the kernel's grid order, and
// compared with the CPU reference (model/cpu_layers.c). This checks the
// tiling, the causal bounds and every index without a GPU; what only a GPU
// can show (barriers, registers, speed) is test/gpu/check_attention.cu's.
// Tolerance as in the GPU checks: fp32 1e-5, bf16 2e-2 of the largest
// reference magnitude.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/attention.cuh"
extern "C" {
#include "model/cpu_layers.h"
}

#ifdef ENABLE_FP32
static const double TOL = 1e-5;
#else
static const double TOL = 2e-2;
#endif
static int failures = 0;

static void compare(const char *name, const floatX *got, const float *want, size_t n) {
    double err = 0.0, mag = 1e-30;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)(float)got[i] - want[i]);
        if (!(e <= err)) err = e;  // NaN counts as the largest error
        if (fabs(want[i]) > mag) mag = fabs(want[i]);
    }
    int ok = err / mag <= TOL;
    failures += !ok;
    printf("%s - %s (%s): max err %.2e of max |ref| %.2e (tol %.0e)\n", ok ? "ok" : "not ok", name, PRECISION_NAME, err,
           mag, TOL);
}

template <int HS>
static void emulate_forward(floatX *out, float *lse, const floatX *qkv, int B, int T, int C, int NH) {
    static float4 Ks[ATTN_TILE][ATTN_ROW4(HS)], Vs[ATTN_TILE][ATTN_ROW4(HS)];
    static AttnFwdRow<HS> rows[ATTN_TILE];
    float scale = 1.0f / sqrtf((float)HS);
    long long C3 = 3LL * C;
    int tiles = (T + ATTN_TILE - 1) / ATTN_TILE;
    for (int bh = 0; bh < B * NH; bh++) {
        int b = bh / NH, h = bh % NH;
        const floatX *base = qkv + (long long)b * T * C3 + (long long)h * HS;
        for (int bx = 0; bx < tiles; bx++) {
            int q0 = (tiles - 1 - bx) * ATTN_TILE;
            for (int tid = 0; tid < ATTN_TILE; tid++) attn_fwd_begin<HS>(rows[tid], base, C3, q0 + tid, T);
            for (int k0 = 0; k0 <= attn_last_key(q0, T); k0 += ATTN_TILE) {
                stage_tile<HS>(Ks, Vs, base + C, C3, base + 2 * C, C3, k0, T, 0, 1);
                for (int tid = 0; tid < ATTN_TILE; tid++) attn_fwd_tile<HS>(rows[tid], Ks, Vs, k0, scale);
            }
            for (int tid = 0; tid < ATTN_TILE; tid++) {
                int t = q0 + tid;
                attn_fwd_end<HS>(rows[tid], out + ((long long)b * T + t) * C + (long long)h * HS,
                                 lse + (long long)bh * T + t);
            }
        }
    }
}

template <int HS, int WHICH>
static void emulate_backward_kv(floatX *dqkv, const floatX *dout, const floatX *qkv, const float *lse, const float *D,
                                int B, int T, int C, int NH) {
    static float4 Qs[ATTN_TILE][ATTN_ROW4(HS)], dOs[ATTN_TILE][ATTN_ROW4(HS)];
    static float Ls[ATTN_TILE], Ds[ATTN_TILE];
    static AttnKeyRow<HS> rows[ATTN_TILE];
    float scale = 1.0f / sqrtf((float)HS);
    long long C3 = 3LL * C;
    int tiles = (T + ATTN_TILE - 1) / ATTN_TILE;
    for (int bh = 0; bh < B * NH; bh++) {
        int b = bh / NH, h = bh % NH;
        const floatX *base = qkv + (long long)b * T * C3 + (long long)h * HS;
        const floatX *dbase = dout + (long long)b * T * C + (long long)h * HS;
        for (int bx = 0; bx < tiles; bx++) {
            int k0 = bx * ATTN_TILE;
            for (int tid = 0; tid < ATTN_TILE; tid++) attn_kv_begin<HS, WHICH>(rows[tid], base, C3, C, k0 + tid, T);
            for (int i0 = k0; i0 < T; i0 += ATTN_TILE) {
                stage_tile<HS>(Qs, dOs, base, C3, dbase, C, i0, T, 0, 1);
                stage_lse_d<HS>(Ls, Ds, lse + (long long)bh * T, D + (long long)bh * T, i0, T, 0, 1);
                for (int tid = 0; tid < ATTN_TILE; tid++) attn_kv_tile<HS, WHICH>(rows[tid], Qs, dOs, Ls, Ds, i0, T, scale);
            }
            for (int tid = 0; tid < ATTN_TILE; tid++)
                attn_row_store<HS>(rows[tid].acc, rows[tid].valid,
                                   dqkv + ((long long)b * T + rows[tid].j) * C3 + (long long)WHICH * C + (long long)h * HS);
        }
    }
}

template <int HS>
static void emulate_backward_q(floatX *dqkv, const floatX *dout, const floatX *qkv, const float *lse, const float *D,
                               int B, int T, int C, int NH) {
    static float4 Ks[ATTN_TILE][ATTN_ROW4(HS)], Vs[ATTN_TILE][ATTN_ROW4(HS)];
    static AttnQueryRow<HS> rows[ATTN_TILE];
    float scale = 1.0f / sqrtf((float)HS);
    long long C3 = 3LL * C;
    int tiles = (T + ATTN_TILE - 1) / ATTN_TILE;
    for (int bh = 0; bh < B * NH; bh++) {
        int b = bh / NH, h = bh % NH;
        const floatX *base = qkv + (long long)b * T * C3 + (long long)h * HS;
        for (int bx = 0; bx < tiles; bx++) {
            int q0 = (tiles - 1 - bx) * ATTN_TILE;
            for (int tid = 0; tid < ATTN_TILE; tid++) {
                int t = q0 + tid;
                attn_q_begin<HS>(rows[tid], base, C3, dout + ((long long)b * T + t) * C + (long long)h * HS,
                                 lse + (long long)bh * T, D + (long long)bh * T, t, T);
            }
            for (int k0 = 0; k0 <= attn_last_key(q0, T); k0 += ATTN_TILE) {
                stage_tile<HS>(Ks, Vs, base + C, C3, base + 2 * C, C3, k0, T, 0, 1);
                for (int tid = 0; tid < ATTN_TILE; tid++) attn_q_tile<HS>(rows[tid], Ks, Vs, k0, scale);
            }
            for (int tid = 0; tid < ATTN_TILE; tid++)
                attn_row_store<HS>(rows[tid].acc, rows[tid].valid,
                                   dqkv + ((long long)b * T + q0 + tid) * C3 + (long long)h * HS);
        }
    }
}

static float *random_floats(size_t n, float scale, unsigned *seed) {
    float *x = (float *)xmalloc(n * sizeof(float), "test data");
    for (size_t i = 0; i < n; i++) {
        *seed = *seed * 1664525u + 1013904223u;
        x[i] = scale * (((*seed >> 8) / 16777216.0f) * 2.0f - 1.0f);
        x[i] = (float)(floatX)x[i];  // what floatX holds: both sides see the same inputs
    }
    return x;
}

static floatX *to_floatX(const float *x, size_t n) {
    floatX *y = (floatX *)xmalloc(n * sizeof(floatX), "test data");
    for (size_t i = 0; i < n; i++) y[i] = (floatX)x[i];
    return y;
}

template <int HS>
static void check_shape(int B, int T, int NH, unsigned *seed) {
    int C = NH * HS;
    size_t nqkv = (size_t)B * T * 3 * C, nout = (size_t)B * T * C, nrow = (size_t)B * NH * T;
    float *qkv = random_floats(nqkv, 1.5f, seed), *dout = random_floats(nout, 1.0f, seed);
    float *out = (float *)xmalloc(nout * sizeof(float), "ref");
    float *att = (float *)xmalloc((size_t)B * NH * T * T * sizeof(float), "ref");
    float *dqkv = (float *)xcalloc(nqkv, sizeof(float), "ref");
    float *scratch = (float *)xmalloc(nrow * sizeof(float), "ref");
    attention_forward(out, att, qkv, B, T, C, NH);
    attention_backward(dqkv, scratch, dout, qkv, att, B, T, C, NH);

    floatX *x_qkv = to_floatX(qkv, nqkv), *x_dout = to_floatX(dout, nout);
    floatX *x_out = (floatX *)xmalloc(nout * sizeof(floatX), "emulated");
    floatX *x_dqkv = (floatX *)xmalloc(nqkv * sizeof(floatX), "emulated");
    for (size_t i = 0; i < nqkv; i++) x_dqkv[i] = (floatX)NAN;  // every element must be written
    float *lse = (float *)xmalloc(nrow * sizeof(float), "emulated"), *D = (float *)xmalloc(nrow * sizeof(float), "emulated");
    emulate_forward<HS>(x_out, lse, x_qkv, B, T, C, NH);
    for (long long idx = 0; idx < (long long)nrow; idx++) attn_dot_row(D, x_dout, x_out, idx, T, C, NH);
    emulate_backward_q<HS>(x_dqkv, x_dout, x_qkv, lse, D, B, T, C, NH);
    emulate_backward_kv<HS, 1>(x_dqkv, x_dout, x_qkv, lse, D, B, T, C, NH);
    emulate_backward_kv<HS, 2>(x_dqkv, x_dout, x_qkv, lse, D, B, T, C, NH);
    char name[96];
    snprintf(name, sizeof name, "attention kernels' code, forward, B%d T%d NH%d hs%d", B, T, NH, HS);
    compare(name, x_out, out, nout);
    snprintf(name, sizeof name, "attention kernels' code, backward dqkv, B%d T%d NH%d hs%d", B, T, NH, HS);
    compare(name, x_dqkv, dqkv, nqkv);
    free(qkv); free(dout); free(out); free(att); free(dqkv); free(scratch);
    free(x_qkv); free(x_dout); free(x_out); free(x_dqkv); free(lse); free(D);
}

int main(void) {
    unsigned seed = 11;
    check_shape<16>(2, 67, 2, &seed);
    check_shape<32>(1, 64, 4, &seed);
    check_shape<64>(2, 130, 3, &seed);
    check_shape<64>(1, 1, 2, &seed);
    check_shape<64>(1, 200, 1, &seed);
    return failures ? 1 : 0;
}
