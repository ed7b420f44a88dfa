// The tensor-core attention kernels' code (kernels/attention_tc.cuh) run on
// the CPU: every block of each kernel's grid, every thread of a block a
// fiber running the kernel's own per-thread code, the warp-level mma with
// fragments in the register layout PTX documents for m16n8k16
// (test/host/warp_on_host.cuh), against the CPU attention
// (model/cpu_layers.c): the output, the log-sum-exp, and each of dq, dk, dv.
// Head size 64 (the only one these kernels take), T = 1, 63, 64, 65, 200
// and 1024 (below, at and above one tile; many tiles), two heads; and two
// sequences of T 130 with three heads (the batch and head offsets).
//
// Tolerances, relative to the largest reference magnitude of each output:
// 1e-2. The inputs are bf16 on both sides; the kernels round P and dS to
// bf16 for the products (2^-9 relative each) and their outputs to bf16
// (2^-9), so errors of a few 1e-3 are expected (seen 2.5e-3 to 4e-3); an
// index or mask mistake is of the order of the values themselves. lse: 1e-5
// absolute (fp32 sums of exact bf16 products, values up to about 8 where an
// fp32 ulp is 1e-6; seen under 1e-6).
//
// The bf16 build only: the fp32 build has no tensor-core path.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef ENABLE_FP32
#define WARP_MMA_ON_HOST
#include "kernels/attention.cuh"
#include "kernels/attention_tc.cuh"
#include "test/host/warp_on_host.cuh"
extern "C" {
#include "model/cpu_layers.h"
}

static int failures = 0;
#define CHECK(cond, ...)                               \
    do {                                               \
        int ok_ = (cond);                              \
        failures += !ok_;                              \
        printf("%s - ", ok_ ? "ok" : "not ok");        \
        printf(__VA_ARGS__);                           \
        printf("\n");                                  \
    } while (0)

static float bf(float x) { return __bfloat162float(__float2bfloat16_rn(x)); }

// The host mma on fragments written from the PTX ISA's tables element by
// element (not through the kernels' loaders): for lane 5 (g 1, t 1) and
// lane 30 (g 7, t 2), what each register holds.
static void check_host_mma(void) {
    float A[16][16], B[16][8];
    for (int r = 0; r < 16; r++)
        for (int k = 0; k < 16; k++) A[r][k] = bf((float)((r * 7 + k * 3) % 11) - 5.0f);
    for (int k = 0; k < 16; k++)
        for (int n = 0; n < 8; n++) B[k][n] = bf((float)((k * 5 + n) % 7) - 3.0f);
    uint32_t a[32][4], b[32][2];
    float c[32][4], d[32][4];
    for (int L = 0; L < 32; L++) {
        int g = L / 4, t = L % 4;
        // PTX: a0,a1 (row g, cols 2t, 2t+1), a2,a3 (row g+8), a4,a5 (row g, cols +8), a6,a7 (row g+8, cols +8)
        a[L][0] = pack_bf16x2(A[g][2 * t], A[g][2 * t + 1]);
        a[L][1] = pack_bf16x2(A[g + 8][2 * t], A[g + 8][2 * t + 1]);
        a[L][2] = pack_bf16x2(A[g][2 * t + 8], A[g][2 * t + 9]);
        a[L][3] = pack_bf16x2(A[g + 8][2 * t + 8], A[g + 8][2 * t + 9]);
        // b0,b1 (rows 2t, 2t+1 of column g), b2,b3 (rows 2t+8, 2t+9)
        b[L][0] = pack_bf16x2(B[2 * t][g], B[2 * t + 1][g]);
        b[L][1] = pack_bf16x2(B[2 * t + 8][g], B[2 * t + 9][g]);
        for (int i = 0; i < 4; i++) c[L][i] = (float)(L * 4 + i);
    }
    host_mma_m16n8k16(a, b, c, d);
    int bad = 0;
    for (int L = 0; L < 32; L++) {
        int g = L / 4, t = L % 4;
        for (int i = 0; i < 4; i++) {  // c0,c1 (row g, cols 2t, 2t+1), c2,c3 (row g+8)
            int row = i < 2 ? g : g + 8, col = 2 * t + (i % 2);
            float want = (float)(L * 4 + i);
            for (int k = 0; k < 16; k++) want += A[row][k] * B[k][col];
            bad += d[L][i] != want;
        }
    }
    // spot values straight from the tables
    CHECK(bad == 0 && host_bf16_lo(a[5][0]) == A[1][2] && host_bf16_hi(a[30][3]) == A[15][13] &&
              host_bf16_lo(b[30][1]) == B[12][7],
          "host mma m16n8k16: D = A B + C for fragments laid out by the PTX tables (%d of 128 wrong)", bad);
}

static float *random_floats(size_t n, float scale, unsigned *seed) {
    float *x = (float *)xmalloc(n * sizeof(float), "test data");
    for (size_t i = 0; i < n; i++) {
        *seed = *seed * 1664525u + 1013904223u;
        x[i] = bf(scale * (((*seed >> 8) / 16777216.0f) * 2.0f - 1.0f));  // bf16 values: both sides see the same
    }
    return x;
}

// max |got - want| / max |want| over n elements with strides (NaN counts as the largest error)
static void compare(const char *what, const char *shape, const tc_bf16 *got, long long gstride, const float *want,
                    long long wstride, int rows, int cols, double tol) {
    double err = 0.0, mag = 1e-30;
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            double w = want[r * wstride + c], e = fabs((double)__bfloat162float(got[r * gstride + c]) - w);
            if (!(e <= err)) err = e;
            if (fabs(w) > mag) mag = fabs(w);
        }
    CHECK(err / mag <= tol, "tensor-core attention, %s, hs 64, %s: max err %.2e of max |ref| %.2e (%.1e, tol %.0e)",
          shape, what, err, mag, err / mag, tol);
}

static void check_shape(int B, int T, int NH, unsigned *seed) {
    int C = NH * TC_HS;
    long long C3 = 3LL * C;
    size_t nqkv = (size_t)B * T * 3 * C, nout = (size_t)B * T * C, nrow = (size_t)B * NH * T;
    float *qkv = random_floats(nqkv, 1.5f, seed), *dout = random_floats(nout, 1.0f, seed);
    float *out = (float *)xmalloc(nout * sizeof(float), "ref");
    float *att = (float *)xmalloc((size_t)B * NH * T * T * sizeof(float), "ref");
    float *dqkv = (float *)xcalloc(nqkv, sizeof(float), "ref");
    float *scratch = (float *)xmalloc(nrow * sizeof(float), "ref");
    attention_forward(out, att, qkv, B, T, C, NH);
    attention_backward(dqkv, scratch, dout, qkv, att, B, T, C, NH);
    // the reference lse, in double
    double *lse_ref = (double *)xmalloc(nrow * sizeof(double), "ref");
    double scale = 1.0 / sqrt((double)TC_HS);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int i = 0; i < T; i++) {
                const float *q = qkv + ((size_t)b * T + i) * C3 + h * TC_HS;
                double mx = -INFINITY, s[4096];
                for (int j = 0; j <= i; j++) {
                    const float *k = qkv + ((size_t)b * T + j) * C3 + C + h * TC_HS;
                    double dot = 0.0;
                    for (int c = 0; c < TC_HS; c++) dot += (double)q[c] * k[c];
                    s[j] = dot * scale;
                    if (s[j] > mx) mx = s[j];
                }
                double sum = 0.0;
                for (int j = 0; j <= i; j++) sum += exp(s[j] - mx);
                lse_ref[((size_t)b * NH + h) * T + i] = mx + log(sum);
            }

    tc_bf16 *x_qkv = (tc_bf16 *)xmalloc(nqkv * sizeof(tc_bf16), "emulated");
    tc_bf16 *x_dout = (tc_bf16 *)xmalloc(nout * sizeof(tc_bf16), "emulated");
    for (size_t i = 0; i < nqkv; i++) x_qkv[i] = __float2bfloat16_rn(qkv[i]);
    for (size_t i = 0; i < nout; i++) x_dout[i] = __float2bfloat16_rn(dout[i]);
    tc_bf16 *x_out = (tc_bf16 *)xmalloc(nout * sizeof(tc_bf16), "emulated");
    tc_bf16 *x_dqkv = (tc_bf16 *)xmalloc(nqkv * sizeof(tc_bf16), "emulated");
    float *lse = (float *)xmalloc(nrow * sizeof(float), "emulated"), *D = (float *)xmalloc(nrow * sizeof(float), "emulated");
    float *dq_acc = (float *)xcalloc(nout, sizeof(float), "emulated");  // the launcher's memset
    for (size_t i = 0; i < nout; i++) x_out[i] = __float2bfloat16_rn(NAN);  // every element must be written
    for (size_t i = 0; i < nqkv; i++) x_dqkv[i] = __float2bfloat16_rn(NAN);
    for (size_t i = 0; i < nrow; i++) lse[i] = NAN;

    alignas(16) static tc_bf16 s0[2 * TC_BUF], s1[2 * TC_BUF], s2[2 * TC_BUF], s3[TC_BUF], s4[TC_BUF];
    static float Ls[2 * TC_TILE], Ds[2 * TC_TILE];
    float sc = 1.0f / sqrtf((float)TC_HS);
    int tiles = (T + TC_TILE - 1) / TC_TILE;
    for (int bh = 0; bh < B * NH; bh++)
        for (int bx = 0; bx < tiles; bx++)  // the kernel's grid order: the longest rows first
            host_block_run(TC_THREADS, [&](int tid) {
                attn_tc_forward_block(x_out, lse, x_qkv, T, C, NH, sc, tiles - 1 - bx, bh, tid, s0, s1, s2);
            });
    for (long long idx = 0; idx < (long long)nrow; idx++) attn_dot_row(D, x_dout, x_out, idx, T, C, NH);
    for (int bh = 0; bh < B * NH; bh++)
        for (int bx = 0; bx < tiles; bx++)
            host_block_run(TC_THREADS, [&](int tid) {
                attn_tc_backward_block(x_dqkv, dq_acc, x_dout, x_qkv, lse, D, T, C, NH, sc, bx, bh, tid, s0, s1, s2,
                                       s4, s3, Ls, Ds);
            });
    for (long long idx = 0; idx < (long long)nout; idx++) attn_tc_dq_convert(x_dqkv, dq_acc, idx, C);

    int rows = B * T;
    char shape[48];
    if (B == 1 && NH == 2) snprintf(shape, sizeof shape, "T %d", T);
    else snprintf(shape, sizeof shape, "B %d T %d NH %d", B, T, NH);
    compare("forward out", shape, x_out, C, out, C, rows, C, 1e-2);
    double lerr = 0.0;
    for (size_t i = 0; i < nrow; i++) {
        double e = fabs((double)lse[i] - lse_ref[i]);
        if (!(e <= lerr)) lerr = e;
    }
    CHECK(lerr <= 1e-5, "tensor-core attention, %s, hs 64, log-sum-exp: max abs err %.2e (tol 1e-5)", shape, lerr);
    compare("backward dq", shape, x_dqkv, C3, dqkv, C3, rows, C, 1e-2);
    compare("backward dk", shape, x_dqkv + C, C3, dqkv + C, C3, rows, C, 1e-2);
    compare("backward dv", shape, x_dqkv + 2 * C, C3, dqkv + 2 * C, C3, rows, C, 1e-2);
    free(qkv); free(dout); free(out); free(att); free(dqkv); free(scratch); free(lse_ref);
    free(x_qkv); free(x_dout); free(x_out); free(x_dqkv); free(lse); free(D); free(dq_acc);
}

int main(int argc, char **argv) {
    check_host_mma();
    unsigned seed = 23;
    int Ts[] = {1, 63, 64, 65, 200, 1024};
    for (size_t i = 0; i < sizeof Ts / sizeof Ts[0]; i++) {
        if (argc > 1 && atoi(argv[1]) != Ts[i]) continue;  // one T only (a quick rerun)
        check_shape(1, Ts[i], 2, &seed);
    }
    if (argc <= 1) check_shape(2, 130, 3, &seed);  // batch offsets, an odd number of heads
    return failures ? 1 : 0;
}
#else
int main(void) {
    printf("# the tensor-core attention kernels are bf16 only: nothing to check in the fp32 build\n");
    return 0;
}
#endif
