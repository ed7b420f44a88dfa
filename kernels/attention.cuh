// Causal multi-head self-attention, flash style (model/cpu_layers.c:
// attention_forward/backward), on CUDA cores in fp32: every head size of the
// fp32 build (the exact reference) and head sizes 16 and 32 of the bf16
// build; the bf16 build's head size 64 runs on tensor cores
// (kernels/attention_tc.cuh), dispatched by the launchers at the end.
// The original description:
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
//
// Each kernel is a loop over tiles: stage a tile (all threads), then every
// thread folds it into its row. Staging and folding are __host__ __device__
// functions, so test/host/test_attention_host.cu runs the same code on the
// CPU, block by block, and compares it with the CPU reference.
#ifndef KERNELS_ATTENTION_CUH
#define KERNELS_ATTENTION_CUH
#include "kernels/attention_tc.cuh"
#include "kernels/common.cuh"

#define ATTN_TILE 64
// A staged row: HS floats and one float4 of padding, so that consecutive
// rows start 4 banks apart: the dk/dv kernels' threads read consecutive
// rows at once on the diagonal tile, which without the padding all fall in
// the same 4 banks (an 8-way conflict for 16-byte loads).
#define ATTN_ROW4(HS) ((HS) / 4 + 1)

// Full unrolling keeps the row vectors in registers; host compilers (the
// CPU test of these functions) do not know the pragma.
#ifdef __CUDA_ARCH__
#define ATTN_UNROLL _Pragma("unroll")
#else
#define ATTN_UNROLL
#endif

// Whether the GPU attention kernels are compiled for this head size.
static inline int attention_head_size_supported(int hs) { return hs == 16 || hs == 32 || hs == 64; }

__host__ __device__ __forceinline__ float attn_to_float(float x) { return x; }
__host__ __device__ __forceinline__ float attn_to_float(__nv_bfloat16 x) { return __bfloat162float(x); }

template <int HS>
__host__ __device__ __forceinline__ void load_row(float *dst, const floatX *src) {
ATTN_UNROLL
    for (int i = 0; i < HS; i++) dst[i] = attn_to_float(src[i]);
}

template <int HS>
__host__ __device__ __forceinline__ float dot_shared(const float *r, const float4 *s) {
    float acc = 0.0f;
ATTN_UNROLL
    for (int c = 0; c < HS / 4; c++) {
        float4 x = s[c];
        acc += r[4 * c] * x.x + r[4 * c + 1] * x.y + r[4 * c + 2] * x.z + r[4 * c + 3] * x.w;
    }
    return acc;
}

template <int HS>
__host__ __device__ __forceinline__ void axpy_shared(float *acc, float a, const float4 *s) {
ATTN_UNROLL
    for (int c = 0; c < HS / 4; c++) {
        float4 x = s[c];
        acc[4 * c] += a * x.x;
        acc[4 * c + 1] += a * x.y;
        acc[4 * c + 2] += a * x.z;
        acc[4 * c + 3] += a * x.w;
    }
}

// 8 consecutive elements (16-byte aligned) as floats: one 16-byte load in
// bf16, two in fp32.
__host__ __device__ __forceinline__ void load8(float4 *dst, const float *src) {
    dst[0] = ((const float4 *)src)[0];
    dst[1] = ((const float4 *)src)[1];
}
__host__ __device__ __forceinline__ void load8(float4 *dst, const __nv_bfloat16 *src) {
    uint4 v = *(const uint4 *)src;
    uint32_t w[4] = {v.x, v.y, v.z, v.w};
    float f[8];
ATTN_UNROLL
    for (int i = 0; i < 4; i++) {
        f[2 * i] = __bfloat162float(__ushort_as_bfloat16((unsigned short)(w[i] & 0xffffu)));
        f[2 * i + 1] = __bfloat162float(__ushort_as_bfloat16((unsigned short)(w[i] >> 16)));
    }
    dst[0] = make_float4(f[0], f[1], f[2], f[3]);
    dst[1] = make_float4(f[4], f[5], f[6], f[7]);
}

// Stages rows r0..r0+ATTN_TILE-1 (zeros past T) of two head vectors into
// shared memory: a's rows are stride_a apart, b's stride_b (rows and head
// offsets 16-byte aligned: HS and C are multiples of 8); thread tid of
// nthreads takes every nthreads-th chunk of 8 elements.
template <int HS>
__host__ __device__ __forceinline__ void stage_tile(float4 (*a)[ATTN_ROW4(HS)], float4 (*b)[ATTN_ROW4(HS)],
                                                    const floatX *src_a, long long stride_a, const floatX *src_b,
                                                    long long stride_b, int r0, int T, int tid, int nthreads) {
    for (int e = tid; e < ATTN_TILE * HS / 8; e += nthreads) {
        int r = e / (HS / 8), c4 = (e % (HS / 8)) * 2, row = r0 + r;
        if (row < T) {
            load8(&a[r][c4], src_a + row * stride_a + 4 * c4);
            load8(&b[r][c4], src_b + row * stride_b + 4 * c4);
        } else {
            a[r][c4] = a[r][c4 + 1] = b[r][c4] = b[r][c4 + 1] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        }
    }
}

// The last key any query row of the tile starting at q0 attends to.
__host__ __device__ __forceinline__ int attn_last_key(int q0, int T) { return min(T - 1, q0 + ATTN_TILE - 1); }

// ---- forward: one query row per thread, key tiles from 0 to the row's diagonal
template <int HS>
struct AttnFwdRow {
    float q[HS], o[HS], m, l;
    int t;
    bool valid;
};

// base: qkv of batch b, head h (qkv + b*T*3C + h*HS).
template <int HS>
__host__ __device__ __forceinline__ void attn_fwd_begin(AttnFwdRow<HS> &r, const floatX *base, long long C3, int t,
                                                        int T) {
    r.t = t;
    r.valid = t < T;
    if (r.valid) load_row<HS>(r.q, base + t * C3);
ATTN_UNROLL
    for (int i = 0; i < HS; i++) {
        r.o[i] = 0.0f;
        if (!r.valid) r.q[i] = 0.0f;
    }
    r.m = -INFINITY;
    r.l = 0.0f;
}

template <int HS>
__host__ __device__ __forceinline__ void attn_fwd_tile(AttnFwdRow<HS> &r, const float4 (*Ks)[ATTN_ROW4(HS)],
                                                       const float4 (*Vs)[ATTN_ROW4(HS)], int k0, float scale) {
    int n = r.valid ? min(ATTN_TILE, r.t - k0 + 1) : 0;  // causal: keys up to t
    for (int j = 0; j < n; j++) {
        float s = dot_shared<HS>(r.q, Ks[j]) * scale;
        if (s > r.m) {  // online softmax: rescale what was summed so far
            float corr = expf(r.m - s);
            r.l *= corr;
ATTN_UNROLL
            for (int i = 0; i < HS; i++) r.o[i] *= corr;
            r.m = s;
        }
        float p = expf(s - r.m);
        r.l += p;
        axpy_shared<HS>(r.o, p, Vs[j]);
    }
}

// out_row: out + (b*T + t)*C + h*HS; lse_row: lse + bh*T + t.
template <int HS>
__host__ __device__ __forceinline__ void attn_fwd_end(const AttnFwdRow<HS> &r, floatX *out_row, float *lse_row) {
    if (!r.valid) return;
    float inv = 1.0f / r.l;
ATTN_UNROLL
    for (int i = 0; i < HS; i++) out_row[i] = (floatX)(r.o[i] * inv);
    *lse_row = r.m + logf(r.l);
}

// grid (ceil(T / ATTN_TILE), B*NH), ATTN_TILE threads.
template <int HS>
__global__ void __launch_bounds__(ATTN_TILE) attention_forward_kernel(floatX *out, float *lse, const floatX *qkv, int T,
                                                                       int C, int NH, float scale) {
    __shared__ float4 Ks[ATTN_TILE][ATTN_ROW4(HS)], Vs[ATTN_TILE][ATTN_ROW4(HS)];
    int bh = blockIdx.y, b = bh / NH, h = bh % NH;
    int q0 = (gridDim.x - 1 - blockIdx.x) * ATTN_TILE;  // the longest rows first
    long long C3 = 3LL * C;
    const floatX *base = qkv + (long long)b * T * C3 + (long long)h * HS;
    AttnFwdRow<HS> r;
    attn_fwd_begin<HS>(r, base, C3, q0 + threadIdx.x, T);
    for (int k0 = 0; k0 <= attn_last_key(q0, T); k0 += ATTN_TILE) {
        __syncthreads();  // the previous tile is no longer read
        stage_tile<HS>(Ks, Vs, base + C, C3, base + 2 * C, C3, k0, T, threadIdx.x, blockDim.x);
        __syncthreads();
        attn_fwd_tile<HS>(r, Ks, Vs, k0, scale);
    }
    int t = q0 + threadIdx.x;
    attn_fwd_end<HS>(r, out + ((long long)b * T + t) * C + (long long)h * HS, lse + (long long)bh * T + t);
}

// ---- backward
// D[b,h,t] = dout[b,t,h] . out[b,t,h] for index idx = (b*T + t)*NH + h.
__host__ __device__ __forceinline__ void attn_dot_row(float *D, const floatX *dout, const floatX *out, long long idx,
                                                      int T, int C, int NH) {
    int h = (int)(idx % NH);
    long long bt = idx / NH;
    int t = (int)(bt % T), b = (int)(bt / T), hs = C / NH;
    const floatX *d = dout + bt * C + (long long)h * hs, *o = out + bt * C + (long long)h * hs;
    float s = 0.0f;
    for (int i = 0; i < hs; i++) s += attn_to_float(d[i]) * attn_to_float(o[i]);
    D[((long long)b * NH + h) * T + t] = s;
}

__global__ void attention_backward_dot_kernel(float *D, const floatX *dout, const floatX *out, int B, int T, int C,
                                              int NH) {
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx < (long long)B * T * NH) attn_dot_row(D, dout, out, idx, T, C, NH);
}

// dk (WHICH = 1) or dv (WHICH = 2) of one key row j per thread; query tiles
// from the key tile to the end.
template <int HS>
struct AttnKeyRow {
    float k[HS], v[HS], acc[HS];
    int j;
    bool valid;
};

template <int HS, int WHICH>
__host__ __device__ __forceinline__ void attn_kv_begin(AttnKeyRow<HS> &r, const floatX *base, long long C3, int C,
                                                       int j, int T) {
    r.j = j;
    r.valid = j < T;
    if (r.valid) {
        load_row<HS>(r.k, base + j * C3 + C);
        if (WHICH == 1) load_row<HS>(r.v, base + j * C3 + 2 * C);
    }
ATTN_UNROLL
    for (int i = 0; i < HS; i++) {
        r.acc[i] = 0.0f;
        if (!r.valid) r.k[i] = r.v[i] = 0.0f;
    }
}

// Ls/Ds: the tile's lse and D (row i0 + r at index r).
template <int HS>
__host__ __device__ __forceinline__ void stage_lse_d(float *Ls, float *Ds, const float *lse_bh, const float *D_bh,
                                                     int i0, int T, int tid, int nthreads) {
    for (int r = tid; r < ATTN_TILE; r += nthreads) {
        int row = i0 + r;
        Ls[r] = row < T ? lse_bh[row] : 0.0f;
        Ds[r] = row < T ? D_bh[row] : 0.0f;
    }
}

template <int HS, int WHICH>
__host__ __device__ __forceinline__ void attn_kv_tile(AttnKeyRow<HS> &r, const float4 (*Qs)[ATTN_ROW4(HS)],
                                                      const float4 (*dOs)[ATTN_ROW4(HS)], const float *Ls, const float *Ds,
                                                      int i0, int T, float scale) {
    if (!r.valid) return;
    int first = max(0, r.j - i0), n = min(ATTN_TILE, T - i0);  // causal: queries from j on
    for (int q = first; q < n; q++) {
        float p = expf(dot_shared<HS>(r.k, Qs[q]) * scale - Ls[q]);
        if (WHICH == 2) {
            axpy_shared<HS>(r.acc, p, dOs[q]);
        } else {
            float ds = p * (dot_shared<HS>(r.v, dOs[q]) - Ds[q]);
            axpy_shared<HS>(r.acc, ds * scale, Qs[q]);
        }
    }
}

// dst_row: dqkv + (b*T + j)*3C + WHICH*C + h*HS
template <int HS>
__host__ __device__ __forceinline__ void attn_row_store(const float *acc, bool valid, floatX *dst_row) {
    if (!valid) return;
ATTN_UNROLL
    for (int i = 0; i < HS; i++) dst_row[i] = (floatX)acc[i];
}

template <int HS, int WHICH>
__global__ void __launch_bounds__(ATTN_TILE) attention_backward_kv_kernel(floatX *dqkv, const floatX *dout,
                                                                          const floatX *qkv, const float *lse,
                                                                          const float *D, int T, int C, int NH,
                                                                          float scale) {
    __shared__ float4 Qs[ATTN_TILE][ATTN_ROW4(HS)], dOs[ATTN_TILE][ATTN_ROW4(HS)];
    __shared__ float Ls[ATTN_TILE], Ds[ATTN_TILE];
    int bh = blockIdx.y, b = bh / NH, h = bh % NH;
    int k0 = blockIdx.x * ATTN_TILE;  // the first key tiles see the most queries: they start first
    long long C3 = 3LL * C;
    const floatX *base = qkv + (long long)b * T * C3 + (long long)h * HS;
    const floatX *dbase = dout + (long long)b * T * C + (long long)h * HS;
    AttnKeyRow<HS> r;
    attn_kv_begin<HS, WHICH>(r, base, C3, C, k0 + threadIdx.x, T);
    for (int i0 = k0; i0 < T; i0 += ATTN_TILE) {
        __syncthreads();
        stage_tile<HS>(Qs, dOs, base, C3, dbase, C, i0, T, threadIdx.x, blockDim.x);
        stage_lse_d<HS>(Ls, Ds, lse + (long long)bh * T, D + (long long)bh * T, i0, T, threadIdx.x, blockDim.x);
        __syncthreads();
        attn_kv_tile<HS, WHICH>(r, Qs, dOs, Ls, Ds, i0, T, scale);
    }
    attn_row_store<HS>(r.acc, r.valid, dqkv + ((long long)b * T + r.j) * C3 + (long long)WHICH * C + (long long)h * HS);
}

// dq of one query row per thread: key tiles from 0 to the row's diagonal.
template <int HS>
struct AttnQueryRow {
    float q[HS], d[HS], acc[HS], L, Di;
    int t;
    bool valid;
};

template <int HS>
__host__ __device__ __forceinline__ void attn_q_begin(AttnQueryRow<HS> &r, const floatX *base, long long C3,
                                                      const floatX *dout_row, const float *lse_bh, const float *D_bh,
                                                      int t, int T) {
    r.t = t;
    r.valid = t < T;
    r.L = r.Di = 0.0f;
    if (r.valid) {
        load_row<HS>(r.q, base + t * C3);
        load_row<HS>(r.d, dout_row);
        r.L = lse_bh[t];
        r.Di = D_bh[t];
    }
ATTN_UNROLL
    for (int i = 0; i < HS; i++) {
        r.acc[i] = 0.0f;
        if (!r.valid) r.q[i] = r.d[i] = 0.0f;
    }
}

template <int HS>
__host__ __device__ __forceinline__ void attn_q_tile(AttnQueryRow<HS> &r, const float4 (*Ks)[ATTN_ROW4(HS)],
                                                     const float4 (*Vs)[ATTN_ROW4(HS)], int k0, float scale) {
    int n = r.valid ? min(ATTN_TILE, r.t - k0 + 1) : 0;
    for (int j = 0; j < n; j++) {
        float p = expf(dot_shared<HS>(r.q, Ks[j]) * scale - r.L);
        float ds = p * (dot_shared<HS>(r.d, Vs[j]) - r.Di);
        axpy_shared<HS>(r.acc, ds * scale, Ks[j]);
    }
}

template <int HS>
__global__ void __launch_bounds__(ATTN_TILE) attention_backward_q_kernel(floatX *dqkv, const floatX *dout,
                                                                         const floatX *qkv, const float *lse,
                                                                         const float *D, int T, int C, int NH,
                                                                         float scale) {
    __shared__ float4 Ks[ATTN_TILE][ATTN_ROW4(HS)], Vs[ATTN_TILE][ATTN_ROW4(HS)];
    int bh = blockIdx.y, b = bh / NH, h = bh % NH;
    int q0 = (gridDim.x - 1 - blockIdx.x) * ATTN_TILE;
    int t = q0 + threadIdx.x;
    long long C3 = 3LL * C;
    const floatX *base = qkv + (long long)b * T * C3 + (long long)h * HS;
    AttnQueryRow<HS> r;
    attn_q_begin<HS>(r, base, C3, dout + ((long long)b * T + t) * C + (long long)h * HS, lse + (long long)bh * T,
                     D + (long long)bh * T, t, T);
    for (int k0 = 0; k0 <= attn_last_key(q0, T); k0 += ATTN_TILE) {
        __syncthreads();
        stage_tile<HS>(Ks, Vs, base + C, C3, base + 2 * C, C3, k0, T, threadIdx.x, blockDim.x);
        __syncthreads();
        attn_q_tile<HS>(r, Ks, Vs, k0, scale);
    }
    attn_row_store<HS>(r.acc, r.valid, dqkv + ((long long)b * T + t) * C3 + (long long)h * HS);
}

// The grid is (T tiles, B x NH); its y dimension takes at most
// CUDA_MAX_GRID_Y (the engine refuses such a batch before it starts).
static inline void attention_check_grid(int B, int NH) {
    if ((long long)B * NH > CUDA_MAX_GRID_Y)
        fail("attention: batch x heads = %d x %d is more than the kernels' grid takes (%d)", B, NH, CUDA_MAX_GRID_Y);
}

// The backward pass's scratch, in floats: D (B,NH,T) and, where the
// tensor-core kernels serve (bf16, head size 64), their fp32 dq sums (B,T,C).
static inline size_t attention_backward_scratch_floats(size_t B, size_t T, size_t C, size_t NH) {
    size_t d = (B * NH * T + 15) / 16 * 16;
    return d + (attention_tc_applies((int)(C / NH)) ? B * T * C : 0);
}

// out (B,T,C), lse (B,NH,T). Head size 64 in the bf16 build: the tensor-core
// kernels (kernels/attention_tc.cuh); otherwise the kernels above.
static inline void attention_forward_gpu(floatX *out, float *lse, const floatX *qkv, int B, int T, int C, int NH,
                                         cudaStream_t s) {
    attention_check_grid(B, NH);
    int hs = C / NH;
#ifndef ENABLE_FP32
    if (attention_tc_applies(hs)) {
        attention_tc_forward_gpu(out, lse, qkv, B, T, C, NH, s);
        return;
    }
#endif
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

// dqkv (B,T,3C) is overwritten (q, k and v parts); D: scratch of
// attention_backward_scratch_floats(B, T, C, NH) floats; out and lse are the
// forward pass's.
static inline void attention_backward_gpu(floatX *dqkv, float *D, const floatX *dout, const floatX *qkv,
                                          const floatX *out, const float *lse, int B, int T, int C, int NH,
                                          cudaStream_t s) {
    attention_check_grid(B, NH);
    attention_backward_dot_kernel<<<ceil_div((long long)B * T * NH, 256), 256, 0, s>>>(D, dout, out, B, T, C, NH);
    CUDA_CHECK_LAUNCH();
#ifndef ENABLE_FP32
    if (attention_tc_applies(C / NH)) {
        float *dq_acc = D + attention_backward_scratch_floats((size_t)B, (size_t)T, (size_t)C, (size_t)NH) -
                        (size_t)B * T * C;
        attention_tc_backward_gpu(dqkv, dq_acc, D, dout, qkv, lse, B, T, C, NH, s);
        return;
    }
#endif
    switch (C / NH) {
        case 16: attention_backward_launch<16>(dqkv, dout, qkv, lse, D, B, T, C, NH, s); break;
        case 32: attention_backward_launch<32>(dqkv, dout, qkv, lse, D, B, T, C, NH, s); break;
        case 64: attention_backward_launch<64>(dqkv, dout, qkv, lse, D, B, T, C, NH, s); break;
        default: fail("attention: head size %d (channels / heads) has no GPU kernel; use 16, 32 or 64", C / NH);
    }
}
#endif
