// LayerNorm over the channels, eps 1e-5 (model/cpu_layers.c:
// layernorm_forward/backward): one warp per row, fp32 statistics.
#ifndef KERNELS_LAYERNORM_CUH
#define KERNELS_LAYERNORM_CUH
#include "kernels/common.cuh"

#define LN_EPS_GPU 1e-5f

__global__ void layernorm_forward_kernel(floatX *out, float *mean, float *rstd, const floatX *inp,
                                         const floatX *weight, const floatX *bias, int N, int C) {
    int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= N) return;
    const floatX *x = inp + (long long)row * C;
    float s = 0.0f;
    for (int i = lane; i < C; i += 32) s += to_float(x[i]);
    float m = warp_sum(s) / C;
    float v = 0.0f;
    for (int i = lane; i < C; i += 32) {
        float d = to_float(x[i]) - m;
        v += d * d;
    }
    float r = rsqrtf(warp_sum(v) / C + LN_EPS_GPU);
    floatX *o = out + (long long)row * C;
    for (int i = lane; i < C; i += 32)
        o[i] = from_float<floatX>((to_float(x[i]) - m) * r * to_float(weight[i]) + to_float(bias[i]));
    if (lane == 0) {
        mean[row] = m;
        rstd[row] = r;
    }
}

// The residual add and the LayerNorm after it in one kernel: resid = a + b
// (stored as floatX), then out = LayerNorm(resid) from the stored values,
// with the sums in the order of layernorm_forward_kernel: the same bits as
// residual_forward_kernel then layernorm_forward_kernel, with one pass over
// memory fewer. Each lane reads back only the elements it wrote.
__global__ void residual_layernorm_forward_kernel(floatX *resid, floatX *out, float *mean, float *rstd,
                                                  const floatX *a, const floatX *b, const floatX *weight,
                                                  const floatX *bias, int N, int C) {
    int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= N) return;
    const floatX *pa = a + (long long)row * C, *pb = b + (long long)row * C;
    floatX *x = resid + (long long)row * C;
    float s = 0.0f;
    for (int i = lane; i < C; i += 32) {
        floatX v = from_float<floatX>(to_float(pa[i]) + to_float(pb[i]));
        x[i] = v;
        s += to_float(v);
    }
    float m = warp_sum(s) / C;
    float v = 0.0f;
    for (int i = lane; i < C; i += 32) {
        float d = to_float(x[i]) - m;
        v += d * d;
    }
    float r = rsqrtf(warp_sum(v) / C + LN_EPS_GPU);
    floatX *o = out + (long long)row * C;
    for (int i = lane; i < C; i += 32)
        o[i] = from_float<floatX>((to_float(x[i]) - m) * r * to_float(weight[i]) + to_float(bias[i]));
    if (lane == 0) {
        mean[row] = m;
        rstd[row] = r;
    }
}

// dinp += rstd * (dnorm - mean(dnorm) - norm * mean(dnorm * norm)), dnorm = dout * weight
__global__ void layernorm_backward_input_kernel(floatX *dinp, const floatX *dout, const floatX *inp,
                                                const floatX *weight, const float *mean, const float *rstd, int N,
                                                int C) {
    int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= N) return;
    const floatX *x = inp + (long long)row * C, *d = dout + (long long)row * C;
    float m = mean[row], r = rstd[row], a = 0.0f, b = 0.0f;
    for (int i = lane; i < C; i += 32) {
        float dn = to_float(d[i]) * to_float(weight[i]);
        a += dn;
        b += dn * (to_float(x[i]) - m) * r;
    }
    a = warp_sum(a) / C;
    b = warp_sum(b) / C;
    floatX *dx = dinp + (long long)row * C;
    for (int i = lane; i < C; i += 32) {
        float norm = (to_float(x[i]) - m) * r, dn = to_float(d[i]) * to_float(weight[i]);
        dx[i] = from_float<floatX>(to_float(dx[i]) + r * (dn - a - norm * b));
    }
}

// Weight and bias gradients in two passes with a fixed order (the same bits
// every run): each (channels, chunk of rows) thread sums its rows into
// partial[2][chunk][C], then one thread per channel sums the chunks. Where
// C is a multiple of 8 a thread takes 8 neighbouring channels with 16-byte
// loads (a warp reads 512 contiguous bytes of a row), else one.
#define LN_CHUNKS 256
__device__ __forceinline__ void ln_load8(float f[8], const floatX *p) {
#ifdef ENABLE_FP32
    float4 a = ((const float4 *)p)[0], b = ((const float4 *)p)[1];
    f[0] = a.x, f[1] = a.y, f[2] = a.z, f[3] = a.w, f[4] = b.x, f[5] = b.y, f[6] = b.z, f[7] = b.w;
#else
    uint4 v = *(const uint4 *)p;
    const __nv_bfloat162 *h = (const __nv_bfloat162 *)&v;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        float2 xy = __bfloat1622float2(h[i]);
        f[2 * i] = xy.x, f[2 * i + 1] = xy.y;
    }
#endif
}
__global__ void layernorm_backward_params_partial_kernel(float *partial, const floatX *dout, const floatX *inp,
                                                         const float *mean, const float *rstd, int N, int C,
                                                         int rows_per_chunk) {
    int r0 = blockIdx.y * rows_per_chunk, r1 = min(N, r0 + rows_per_chunk);
    if (C % 8 == 0) {
        int c0 = (blockIdx.x * blockDim.x + threadIdx.x) * 8;
        if (c0 >= C) return;
        float gw[8] = {0, 0, 0, 0, 0, 0, 0, 0}, gb[8] = {0, 0, 0, 0, 0, 0, 0, 0};
#pragma unroll 2
        for (int r = r0; r < r1; r++) {
            float d[8], x[8];
            ln_load8(d, dout + (long long)r * C + c0);
            ln_load8(x, inp + (long long)r * C + c0);
            float m = mean[r], rs = rstd[r];
#pragma unroll
            for (int j = 0; j < 8; j++) {
                gw[j] += d[j] * (x[j] - m) * rs;
                gb[j] += d[j];
            }
        }
#pragma unroll
        for (int j = 0; j < 8; j++) {
            partial[(long long)blockIdx.y * C + c0 + j] = gw[j];
            partial[((long long)gridDim.y + blockIdx.y) * C + c0 + j] = gb[j];
        }
        return;
    }
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= C) return;
    float gw = 0.0f, gb = 0.0f;
    for (int r = r0; r < r1; r++) {
        float d = to_float(dout[(long long)r * C + i]);
        gw += d * (to_float(inp[(long long)r * C + i]) - mean[r]) * rstd[r];
        gb += d;
    }
    partial[(long long)blockIdx.y * C + i] = gw;
    partial[((long long)gridDim.y + blockIdx.y) * C + i] = gb;
}
__global__ void layernorm_backward_params_finish_kernel(float *dweight, float *dbias, const float *partial, int chunks,
                                                        int C) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= C) return;
    float gw = 0.0f, gb = 0.0f;
    for (int c = 0; c < chunks; c++) {
        gw += partial[(long long)c * C + i];
        gb += partial[((long long)chunks + c) * C + i];
    }
    if (dweight) dweight[i] += gw;
    if (dbias) dbias[i] += gb;
}

static inline void layernorm_forward_gpu(floatX *out, float *mean, float *rstd, const floatX *inp, const floatX *weight,
                                         const floatX *bias, int N, int C, cudaStream_t s) {
    layernorm_forward_kernel<<<ceil_div(N, 8), 256, 0, s>>>(out, mean, rstd, inp, weight, bias, N, C);
    CUDA_CHECK_LAUNCH();
}
// resid (N,C) = a + b, out = LayerNorm(resid)
static inline void residual_layernorm_forward_gpu(floatX *resid, floatX *out, float *mean, float *rstd, const floatX *a,
                                                  const floatX *b, const floatX *weight, const floatX *bias, int N,
                                                  int C, cudaStream_t s) {
    residual_layernorm_forward_kernel<<<ceil_div(N, 8), 256, 0, s>>>(resid, out, mean, rstd, a, b, weight, bias, N, C);
    CUDA_CHECK_LAUNCH();
}
// dweight/dbias NULL: a frozen LayerNorm (no parameter-gradient work).
// scratch: layernorm_scratch_floats(C) floats.
static inline size_t layernorm_scratch_floats(int C) { return 2 * (size_t)LN_CHUNKS * (size_t)C; }
static inline void layernorm_backward_gpu(floatX *dinp, float *dweight, float *dbias, const floatX *dout,
                                          const floatX *inp, const floatX *weight, const float *mean, const float *rstd,
                                          float *scratch, int N, int C, cudaStream_t s) {
    layernorm_backward_input_kernel<<<ceil_div(N, 8), 256, 0, s>>>(dinp, dout, inp, weight, mean, rstd, N, C);
    CUDA_CHECK_LAUNCH();
    if (!dweight && !dbias) return;
    int chunks = N < LN_CHUNKS ? N : LN_CHUNKS, rows = ceil_div(N, chunks);
    dim3 grid(ceil_div(C % 8 == 0 ? C / 8 : C, 128), chunks);  // 8 channels a thread where C allows
    layernorm_backward_params_partial_kernel<<<grid, 128, 0, s>>>(scratch, dout, inp, mean, rstd, N, C, rows);
    CUDA_CHECK_LAUNCH();
    layernorm_backward_params_finish_kernel<<<ceil_div(C, 128), 128, 0, s>>>(dweight, dbias, scratch, chunks, C);
    CUDA_CHECK_LAUNCH();
}
#endif
