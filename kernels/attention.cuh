// Causal multi-head self-attention, flash style (model/cpu_layers.c:
// attention_forward/backward): the T x T matrix of scores is never written
// to memory. The forward pass keeps, per query row, only the log-sum-exp of
// its scores (lse); the backward pass recomputes the softmax weights from
// q, k and lse.
//
// qkv (B,T,3C) = [q | k | v], head h in channels h*HS..(h+1)*HS of each;
// out and dout (B,T,C); lse and D (B,NH,T), fp32. Every thread owns one row
// (a query row, or a key row in the backward pass) and keeps its vectors in
// registers; tiles of ATTN_TILE rows of the other side are staged through
// shared memory as fp32. All arithmetic is fp32. Head sizes 16, 32 and 64
// are compiled (every GPT-2 size has 64).
//
// Backward, with p_ij = exp(scale q_i.k_j - lse_i) and D_i = dout_i . out_i:
//   dv_j = sum_{i>=j} p_ij dout_i
//   dk_j = scale sum_{i>=j} p_ij (dout_i.v_j - D_i) q_i
//   dq_i = scale sum_{j<=i} p_ij (dout_i.v_j - D_i) k_j
// in three kernels (one per output, so each thread's registers hold at most
// three head vectors and no atomics are needed: results are deterministic).
#ifndef KERNELS_ATTENTION_CUH
#define KERNELS_ATTENTION_CUH
#include "kernels/common.cuh"

#define ATTN_TILE 64

// Whether the GPU attention kernels are compiled for this head size.
static inline int attention_head_size_supported(int hs) { return hs == 16 || hs == 32 || hs == 64; }

template <int HS>
__device__ __forceinline__ void load_row(float *dst, const floatX *src) {
#pragma unroll
    for (int i = 0; i < HS; i++) dst[i] = to_float(src[i]);
}

template <int HS>
__device__ __forceinline__ float dot_shared(const float *r, const float4 *s) {
    float acc = 0.0f;
#pragma unroll
    for (int c = 0; c < HS / 4; c++) {
        float4 x = s[c];
        acc += r[4 * c] * x.x + r[4 * c + 1] * x.y + r[4 * c + 2] * x.z + r[4 * c + 3] * x.w;
    }
    return acc;
}

template <int HS>
__device__ __forceinline__ void axpy_shared(float *acc, float a, const float4 *s) {
#pragma unroll
    for (int c = 0; c < HS / 4; c++) {
        float4 x = s[c];
        acc[4 * c] += a * x.x;
        acc[4 * c + 1] += a * x.y;
        acc[4 * c + 2] += a * x.z;
        acc[4 * c + 3] += a * x.w;
    }
}

// Stages rows r0..r0+ATTN_TILE-1 (zeros past T) of two head vectors into
// shared memory: src rows are `stride` apart.
template <int HS>
__device__ __forceinline__ void stage_tile(float4 (*a)[HS / 4], float4 (*b)[HS / 4], const floatX *src_a,
                                           const floatX *src_b, long long stride, int r0, int T) {
    for (int e = threadIdx.x; e < ATTN_TILE * HS; e += blockDim.x) {
        int r = e / HS, c = e % HS, row = r0 + r;
        float x = 0.0f, y = 0.0f;
        if (row < T) {
            x = to_float(src_a[row * stride + c]);
            y = to_float(src_b[row * stride + c]);
        }
        ((float *)a[r])[c] = x;
        ((float *)b[r])[c] = y;
    }
}

// grid (ceil(T / ATTN_TILE), B*NH), ATTN_TILE threads: one query row each.
template <int HS>
__global__ void __launch_bounds__(ATTN_TILE) attention_forward_kernel(floatX *out, float *lse, const floatX *qkv, int T,
                                                                       int C, int NH, float scale) {
    __shared__ float4 Ks[ATTN_TILE][HS / 4], Vs[ATTN_TILE][HS / 4];
    int bh = blockIdx.y, b = bh / NH, h = bh % NH;
    int q0 = (gridDim.x - 1 - blockIdx.x) * ATTN_TILE;  // the longest rows first
    int t = q0 + threadIdx.x;
    bool valid = t < T;
    long long C3 = 3LL * C;
    const floatX *base = qkv + (long long)b * T * C3 + (long long)h * HS;
    float q[HS], o[HS];
    if (valid) load_row<HS>(q, base + t * C3);
#pragma unroll
    for (int i = 0; i < HS; i++) {
        o[i] = 0.0f;
        if (!valid) q[i] = 0.0f;
    }
    float m = -INFINITY, l = 0.0f;
    int last_key = min(T - 1, q0 + ATTN_TILE - 1);
    for (int k0 = 0; k0 <= last_key; k0 += ATTN_TILE) {
        __syncthreads();  // the previous tile is no longer read
        stage_tile<HS>(Ks, Vs, base + C, base + 2 * C, C3, k0, T);
        __syncthreads();
        int n = valid ? min(ATTN_TILE, t - k0 + 1) : 0;  // causal: keys up to t
        for (int j = 0; j < n; j++) {
            float s = dot_shared<HS>(q, Ks[j]) * scale;
            if (s > m) {  // online softmax: rescale what was summed so far
                float corr = expf(m - s);
                l *= corr;
#pragma unroll
                for (int i = 0; i < HS; i++) o[i] *= corr;
                m = s;
            }
            float p = expf(s - m);
            l += p;
            axpy_shared<HS>(o, p, Vs[j]);
        }
    }
    if (!valid) return;
    float inv = 1.0f / l;
    floatX *dst = out + ((long long)b * T + t) * C + (long long)h * HS;
#pragma unroll
    for (int i = 0; i < HS; i++) dst[i] = from_float<floatX>(o[i] * inv);
    lse[(long long)bh * T + t] = m + logf(l);
}

// D[b,h,t] = dout[b,t,h] . out[b,t,h]; one thread per (b, t, h).
__global__ void attention_backward_dot_kernel(float *D, const floatX *dout, const floatX *out, int B, int T, int C,
                                              int NH) {
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (long long)B * T * NH) return;
    int h = (int)(idx % NH);
    long long bt = idx / NH;
    int t = (int)(bt % T), b = (int)(bt / T), hs = C / NH;
    const floatX *d = dout + bt * C + (long long)h * hs, *o = out + bt * C + (long long)h * hs;
    float s = 0.0f;
    for (int i = 0; i < hs; i++) s += to_float(d[i]) * to_float(o[i]);
    D[((long long)b * NH + h) * T + t] = s;
}

// dv (which = 2) or dk (which = 1) of one key row per thread; grid
// (ceil(T / ATTN_TILE), B*NH). Query tiles from the key tile to the end.
template <int HS, int WHICH>
__global__ void __launch_bounds__(ATTN_TILE) attention_backward_kv_kernel(floatX *dqkv, const floatX *dout,
                                                                          const floatX *qkv, const float *lse,
                                                                          const float *D, int T, int C, int NH,
                                                                          float scale) {
    __shared__ float4 Qs[ATTN_TILE][HS / 4], dOs[ATTN_TILE][HS / 4];
    __shared__ float Ls[ATTN_TILE], Ds[ATTN_TILE];
    int bh = blockIdx.y, b = bh / NH, h = bh % NH;
    int k0 = blockIdx.x * ATTN_TILE;  // the first key tiles see the most queries: they start first
    int j = k0 + threadIdx.x;
    bool valid = j < T;
    long long C3 = 3LL * C;
    const floatX *base = qkv + (long long)b * T * C3 + (long long)h * HS;
    const floatX *dbase = dout + (long long)b * T * C + (long long)h * HS;
    float k[HS], v[HS], acc[HS];
    if (valid) {
        load_row<HS>(k, base + j * C3 + C);
        if (WHICH == 1) load_row<HS>(v, base + j * C3 + 2 * C);
    }
#pragma unroll
    for (int i = 0; i < HS; i++) {
        acc[i] = 0.0f;
        if (!valid) k[i] = v[i] = 0.0f;
    }
    for (int i0 = k0; i0 < T; i0 += ATTN_TILE) {
        __syncthreads();
        // Qs <- q rows, dOs <- dout rows (dout's row stride is C)
        for (int e = threadIdx.x; e < ATTN_TILE * HS; e += blockDim.x) {
            int r = e / HS, c = e % HS, row = i0 + r;
            float x = 0.0f, y = 0.0f;
            if (row < T) {
                x = to_float(base[row * C3 + c]);
                y = to_float(dbase[(long long)row * C + c]);
            }
            ((float *)Qs[r])[c] = x;
            ((float *)dOs[r])[c] = y;
        }
        for (int r = threadIdx.x; r < ATTN_TILE; r += blockDim.x) {
            int row = i0 + r;
            Ls[r] = row < T ? lse[(long long)bh * T + row] : 0.0f;
            Ds[r] = row < T ? D[(long long)bh * T + row] : 0.0f;
        }
        __syncthreads();
        if (!valid) continue;
        int first = max(0, j - i0), n = min(ATTN_TILE, T - i0);  // causal: queries from j on
        for (int r = first; r < n; r++) {
            float p = expf(dot_shared<HS>(k, Qs[r]) * scale - Ls[r]);
            if (WHICH == 2) {
                axpy_shared<HS>(acc, p, dOs[r]);
            } else {
                float ds = p * (dot_shared<HS>(v, dOs[r]) - Ds[r]);
                axpy_shared<HS>(acc, ds * scale, Qs[r]);
            }
        }
    }
    if (!valid) return;
    floatX *dst = dqkv + ((long long)b * T + j) * C3 + (long long)WHICH * C + (long long)h * HS;
#pragma unroll
    for (int i = 0; i < HS; i++) dst[i] = from_float<floatX>(acc[i]);
}

// dq of one query row per thread; grid (ceil(T / ATTN_TILE), B*NH).
template <int HS>
__global__ void __launch_bounds__(ATTN_TILE) attention_backward_q_kernel(floatX *dqkv, const floatX *dout,
                                                                         const floatX *qkv, const float *lse,
                                                                         const float *D, int T, int C, int NH,
                                                                         float scale) {
    __shared__ float4 Ks[ATTN_TILE][HS / 4], Vs[ATTN_TILE][HS / 4];
    int bh = blockIdx.y, b = bh / NH, h = bh % NH;
    int q0 = (gridDim.x - 1 - blockIdx.x) * ATTN_TILE;
    int t = q0 + threadIdx.x;
    bool valid = t < T;
    long long C3 = 3LL * C;
    const floatX *base = qkv + (long long)b * T * C3 + (long long)h * HS;
    float q[HS], d[HS], acc[HS];
    float L = 0.0f, Di = 0.0f;
    if (valid) {
        load_row<HS>(q, base + t * C3);
        load_row<HS>(d, dout + ((long long)b * T + t) * C + (long long)h * HS);
        L = lse[(long long)bh * T + t];
        Di = D[(long long)bh * T + t];
    }
#pragma unroll
    for (int i = 0; i < HS; i++) {
        acc[i] = 0.0f;
        if (!valid) q[i] = d[i] = 0.0f;
    }
    int last_key = min(T - 1, q0 + ATTN_TILE - 1);
    for (int k0 = 0; k0 <= last_key; k0 += ATTN_TILE) {
        __syncthreads();
        stage_tile<HS>(Ks, Vs, base + C, base + 2 * C, C3, k0, T);
        __syncthreads();
        int n = valid ? min(ATTN_TILE, t - k0 + 1) : 0;
        for (int r = 0; r < n; r++) {
            float p = expf(dot_shared<HS>(q, Ks[r]) * scale - L);
            float ds = p * (dot_shared<HS>(d, Vs[r]) - Di);
            axpy_shared<HS>(acc, ds * scale, Ks[r]);
        }
    }
    if (!valid) return;
    floatX *dst = dqkv + ((long long)b * T + t) * C3 + (long long)h * HS;
#pragma unroll
    for (int i = 0; i < HS; i++) dst[i] = from_float<floatX>(acc[i]);
}

// out (B,T,C), lse (B,NH,T).
static inline void attention_forward_gpu(floatX *out, float *lse, const floatX *qkv, int B, int T, int C, int NH,
                                         cudaStream_t s) {
    int hs = C / NH;
    float scale = 1.0f / sqrtf((float)hs);
    dim3 grid(ceil_div(T, ATTN_TILE), B * NH);
    switch (hs) {
        case 16: attention_forward_kernel<16><<<grid, ATTN_TILE, 0, s>>>(out, lse, qkv, T, C, NH, scale); break;
        case 32: attention_forward_kernel<32><<<grid, ATTN_TILE, 0, s>>>(out, lse, qkv, T, C, NH, scale); break;
        case 64: attention_forward_kernel<64><<<grid, ATTN_TILE, 0, s>>>(out, lse, qkv, T, C, NH, scale); break;
        default: fail("attention: head size %d (channels / heads) has no GPU kernel; use 16, 32 or 64", hs);
    }
    CUDA_CHECK_LAUNCH();
}

template <int HS>
static void attention_backward_launch(floatX *dqkv, const floatX *dout, const floatX *qkv, const float *lse,
                                      const float *D, int B, int T, int C, int NH, cudaStream_t s) {
    float scale = 1.0f / sqrtf((float)HS);
    dim3 grid(ceil_div(T, ATTN_TILE), B * NH);
    attention_backward_q_kernel<HS><<<grid, ATTN_TILE, 0, s>>>(dqkv, dout, qkv, lse, D, T, C, NH, scale);
    CUDA_CHECK_LAUNCH();
    attention_backward_kv_kernel<HS, 1><<<grid, ATTN_TILE, 0, s>>>(dqkv, dout, qkv, lse, D, T, C, NH, scale);
    CUDA_CHECK_LAUNCH();
    attention_backward_kv_kernel<HS, 2><<<grid, ATTN_TILE, 0, s>>>(dqkv, dout, qkv, lse, D, T, C, NH, scale);
    CUDA_CHECK_LAUNCH();
}

// dqkv (B,T,3C) is overwritten (q, k and v parts); D: B*NH*T floats of
// scratch; out and lse are the forward pass's.
static inline void attention_backward_gpu(floatX *dqkv, float *D, const floatX *dout, const floatX *qkv,
                                          const floatX *out, const float *lse, int B, int T, int C, int NH,
                                          cudaStream_t s) {
    attention_backward_dot_kernel<<<ceil_div((long long)B * T * NH, 256), 256, 0, s>>>(D, dout, out, B, T, C, NH);
    CUDA_CHECK_LAUNCH();
    switch (C / NH) {
        case 16: attention_backward_launch<16>(dqkv, dout, qkv, lse, D, B, T, C, NH, s); break;
        case 32: attention_backward_launch<32>(dqkv, dout, qkv, lse, D, B, T, C, NH, s); break;
        case 64: attention_backward_launch<64>(dqkv, dout, qkv, lse, D, B, T, C, NH, s); break;
        default: fail("attention: head size %d (channels / heads) has no GPU kernel; use 16, 32 or 64", C / NH);
    }
}
#endif
