// Causal attention on tensor cores, FlashAttention-2 style, head size 64,
// bf16 (the bf16 build's kernels for hs = 64; kernels/attention.cuh serves
// other head sizes and the fp32 build, as the exact reference). Same inputs,
// outputs and lse convention as kernels/attention.cuh:
//   qkv (B,T,3C) = [q | k | v], head h in channels h*64..h*64+63 of each;
//   out, dout (B,T,C); lse (B,NH,T) fp32, natural log: lse_i = log sum_j
//   exp(scale q_i.k_j); D (B,NH,T) = rowsum(dout * out).
// Products are bf16 mma.sync m16n8k16 with fp32 accumulation
// (kernels/warp_mma.cuh, which documents the fragment layouts); softmax in
// fp32, in base 2 (scores pre-multiplied by scale * log2(e)).
//
// Forward, one block per 64 query rows (4 warps x 16 rows), key tiles of 64
// from 0 to the diagonal tile (the tiles above it are never visited; the
// mask is applied on the diagonal tile only): S = Q K^T, online softmax
// (running max m and sum l per row), O += P V with P in registers (a C
// fragment pair is an A fragment); O / l and lse = (m + log2 l) ln 2 stored.
//
// Backward, one block per 64 keys (4 warps x 16 keys), query tiles from the
// diagonal to T, P recomputed once per tile from lse:
//   S^T = K Q^T, P^T = exp2(S^T - lse), dV += P^T dO, dP^T = V dO^T,
//   dS^T = P^T (dP^T - D), dK += dS^T Q, and dQ += dS K through shared
//   memory (dS^T written transposed) with fp32 atomics into a (B,T,C)
//   buffer that a last kernel converts into dqkv's q part. dK and dV are
//   each block's own (no atomics); dQ's sum order depends on the schedule.
//
// Loads from global memory are 16 bytes (8 bf16, cp.async); fragments come
// from shared memory by ldmatrix (.trans where k runs down the rows), whose
// 8 row addresses per matrix hit 32 distinct banks with rows of TC_STRIDE =
// 72 elements (144 bytes: row r starts at bank 4 r mod 32).
//
// Every function below takes its thread index (tid) and block coordinates
// as arguments, and shared memory as pointers: the __global__ wrappers pass
// threadIdx/blockIdx and __shared__ arrays; test/host/test_attention_tc_host.cu
// runs the same functions for every thread of every block on the CPU.
//
// Both passes double-buffer their tiles with cp.async (the next tile is
// copied while this one is used; the backward pass's 55 KiB of shared
// memory is dynamic, with the opt-in above 48 KiB). Not yet: Hopper's wgmma (a warpgroup-wide product from shared memory)
// would replace the mma_bf16_16816 loops of one block function, keeping the
// softmax and the staging.
#ifndef KERNELS_ATTENTION_TC_CUH
#define KERNELS_ATTENTION_TC_CUH
#include <math.h>

#include "kernels/common.cuh"
#include "kernels/warp_mma.cuh"

#define TC_HS 64
#define TC_TILE 64
#define TC_THREADS 128  // 4 warps x 16 rows
#define TC_STRIDE 72    // shared-memory row, in bf16 elements
#define TC_LOG2E 1.4426950408889634f
#define TC_LN2 0.6931471805599453f

#ifdef __CUDA_ARCH__
#define TC_UNROLL _Pragma("unroll")
#else
#define TC_UNROLL
#endif

typedef __nv_bfloat16 tc_bf16;

// The tensor-core path: bf16 build, head size 64.
static inline int attention_tc_applies(int hs) {
#ifdef ENABLE_FP32
    (void)hs;
    return 0;
#else
    return hs == TC_HS;
#endif
}

// Rows r0..r0+63 of a (T, 64) slice whose rows are `stride` elements apart
// into dst (64 x TC_STRIDE), zeros past T; 16-byte chunks, thread tid of 128
// takes every 128th.
__host__ __device__ __forceinline__ void tc_stage_rows(tc_bf16 *dst, const tc_bf16 *src, long long stride, int r0,
                                                       int T, int tid) {
    for (int e = tid; e < TC_TILE * (TC_HS / 8); e += TC_THREADS) {
        int r = e / (TC_HS / 8), c = (e % (TC_HS / 8)) * 8;
        uint4 v = make_uint4(0u, 0u, 0u, 0u);
        if (r0 + r < T) v = *(const uint4 *)(src + (long long)(r0 + r) * stride + c);
        *(uint4 *)(dst + r * TC_STRIDE + c) = v;
    }
}

// The same with cp.async (the forward pass's double buffering): the copies
// land at a later cp_async_wait; the caller commits the group.
__host__ __device__ __forceinline__ void tc_stage_rows_async(tc_bf16 *dst, const tc_bf16 *src, long long stride,
                                                             int r0, int T, int tid) {
    for (int e = tid; e < TC_TILE * (TC_HS / 8); e += TC_THREADS) {
        int r = e / (TC_HS / 8), c = (e % (TC_HS / 8)) * 8;
        bool valid = r0 + r < T;
        cp_async_16(dst + r * TC_STRIDE + c, src + (long long)(valid ? r0 + r : 0) * stride + c, valid);
    }
}

// The A fragments of 16 rows (from row0 of a staged tile) x 64 columns: k
// step kk (columns 16 kk ..), register r (see kernels/warp_mma.cuh): one
// ldmatrix.x4 per k step, matrix r = rows 8 (r % 2).., columns 8 (r / 2)..
__host__ __device__ __forceinline__ void tc_load_a_rows(uint32_t f[4][4], const tc_bf16 *tile, int row0, int lane) {
    int m = lane >> 3, rr = lane & 7;  // the matrix and row this lane names
TC_UNROLL
    for (int kk = 0; kk < 4; kk++)
        ldmatrix_x4(f[kk], tile + (row0 + 8 * (m & 1) + rr) * TC_STRIDE + kk * 16 + 8 * (m >> 1));
}

// acc (16 x 64, eight n tiles of 8) += A (16 x 64, fragments f) times the
// transpose of 64 staged rows: B(k, n) = tile[n][k] (k along a row). One
// ldmatrix.x4 gives the B fragments of n tile j for two k steps: matrices
// (k step kk, columns 0-7 | 8-15), (kk + 1, 0-7 | 8-15).
__host__ __device__ __forceinline__ void tc_mma_abt(float acc[8][4], const uint32_t f[4][4], const tc_bf16 *tile,
                                                    int lane) {
    int m = lane >> 3, rr = lane & 7;
TC_UNROLL
    for (int j = 0; j < 8; j++)
TC_UNROLL
        for (int kk = 0; kk < 4; kk += 2) {
            uint32_t r[4];
            ldmatrix_x4(r, tile + (j * 8 + rr) * TC_STRIDE + (kk + (m >> 1)) * 16 + 8 * (m & 1));
            uint32_t b0[2] = {r[0], r[1]}, b1[2] = {r[2], r[3]};
            mma_bf16_16816(acc[j], f[kk], b0);
            mma_bf16_16816(acc[j], f[kk + 1], b1);
        }
}

// acc (16 x 64) += A (16 x 16: k step kk, fragment a) times rows 16 kk ..
// 16 kk + 15 of a staged tile: B(k, n) = tile[k][n] (k down the rows). One
// ldmatrix.x4.trans gives the B fragments of n tiles n and n + 1: matrices
// (rows 0-7 | 8-15 of the k step, columns of n), (the same, n + 1).
__host__ __device__ __forceinline__ void tc_mma_a_b(float acc[8][4], const uint32_t a[4], const tc_bf16 *tile, int kk,
                                                    int lane) {
    int m = lane >> 3, rr = lane & 7;
TC_UNROLL
    for (int n = 0; n < 8; n += 2) {
        uint32_t r[4];
        ldmatrix_x4_trans(r, tile + (kk * 16 + 8 * (m & 1) + rr) * TC_STRIDE + (n + (m >> 1)) * 8);
        uint32_t b0[2] = {r[0], r[1]}, b1[2] = {r[2], r[3]};
        mma_bf16_16816(acc[n], a, b0);
        mma_bf16_16816(acc[n + 1], a, b1);
    }
}

// acc (16 x 64) += P (16 x 64, as C fragments p) times 64 staged rows:
// B(k, n) = tile[k][n]. P goes to bf16 as A fragments.
__host__ __device__ __forceinline__ void tc_mma_pb(float acc[8][4], const float p[8][4], const tc_bf16 *tile,
                                                   int lane) {
TC_UNROLL
    for (int kk = 0; kk < 4; kk++) {
        // C fragments of n tiles 2kk, 2kk+1 = the A fragment of k step kk
        uint32_t a[4] = {pack_bf16x2(p[2 * kk][0], p[2 * kk][1]), pack_bf16x2(p[2 * kk][2], p[2 * kk][3]),
                         pack_bf16x2(p[2 * kk + 1][0], p[2 * kk + 1][1]),
                         pack_bf16x2(p[2 * kk + 1][2], p[2 * kk + 1][3])};
        tc_mma_a_b(acc, a, tile, kk, lane);
    }
}

__host__ __device__ __forceinline__ void tc_zero(float acc[8][4]) {
TC_UNROLL
    for (int j = 0; j < 8; j++)
TC_UNROLL
        for (int i = 0; i < 4; i++) acc[j][i] = 0.0f;
}

// ---- forward: block (q_tile, bh); shared Qs (64 x TC_STRIDE), Ks and Vs
// (two buffers of 64 x TC_STRIDE each: the next key tile is copied with
// cp.async while this one is used)
#define TC_BUF (TC_TILE * TC_STRIDE)
// The backward kernel's shared memory: Q and dO twice, K, V, dS; lse and D twice.
#define TC_BWD_SMEM ((7 * TC_BUF) * sizeof(tc_bf16) + 4 * TC_TILE * sizeof(float))
__host__ __device__ __forceinline__ void attn_tc_forward_block(tc_bf16 *out, float *lse, const tc_bf16 *qkv, int T,
                                                               int C, int NH, float scale, int q_tile, int bh, int tid,
                                                               tc_bf16 *Qs, tc_bf16 *Ks, tc_bf16 *Vs) {
    int b = bh / NH, h = bh % NH, warp = tid >> 5, lane = tid & 31, g = lane >> 2, t = lane & 3;
    long long C3 = 3LL * C;
    const tc_bf16 *base = qkv + (long long)b * T * C3 + (long long)h * TC_HS;
    int q0 = q_tile * TC_TILE;
    tc_stage_rows_async(Qs, base, C3, q0, T, tid);  // a group: Q
    cp_async_commit();
    tc_stage_rows_async(Ks, base + C, C3, 0, T, tid);  // a group: key tile 0
    tc_stage_rows_async(Vs, base + 2 * C, C3, 0, T, tid);
    cp_async_commit();
    cp_async_wait<1>();  // Q has landed
    block_barrier();
    uint32_t qf[4][4];
    tc_load_a_rows(qf, Qs, warp * 16, lane);
    float o[8][4], m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
    tc_zero(o);
    int row[2] = {q0 + warp * 16 + g, q0 + warp * 16 + g + 8};  // this lane's two rows (c0,c1 and c2,c3)
    float sl2 = scale * TC_LOG2E;
    for (int k0 = 0; k0 <= q0; k0 += TC_TILE) {  // up to the diagonal tile (k0 == q0)
        int buf = (k0 / TC_TILE) & 1;
        tc_bf16 *Kt = Ks + buf * TC_BUF, *Vt = Vs + buf * TC_BUF;
        if (k0 + TC_TILE <= q0) {  // the next tile into the other buffer (free: the barrier at this loop's end)
            tc_stage_rows_async(Ks + (buf ^ 1) * TC_BUF, base + C, C3, k0 + TC_TILE, T, tid);
            tc_stage_rows_async(Vs + (buf ^ 1) * TC_BUF, base + 2 * C, C3, k0 + TC_TILE, T, tid);
            cp_async_commit();
            cp_async_wait<1>();  // this tile's group has landed, the next one may still fly
        } else {
            cp_async_wait<0>();
        }
        block_barrier();  // every thread's copies of this tile are visible
        float s[8][4];
        tc_zero(s);
        tc_mma_abt(s, qf, Kt, lane);  // S = Q K^T
        float mx[2] = {-INFINITY, -INFINITY};
TC_UNROLL
        for (int j = 0; j < 8; j++)
TC_UNROLL
            for (int i = 0; i < 4; i++) {
                float v = s[j][i] * sl2;
                if (k0 == q0 && k0 + j * 8 + 2 * t + (i & 1) > row[i >> 1]) v = -INFINITY;  // causal, diagonal tile
                s[j][i] = v;
                mx[i >> 1] = fmaxf(mx[i >> 1], v);
            }
        float corr[2], mb[2];
TC_UNROLL
        for (int r = 0; r < 2; r++) {
            float mn = fmaxf(m[r], quad_max(mx[r]));
            mb[r] = mn == -INFINITY ? 0.0f : mn;  // a row with nothing yet: no NaN from -inf - -inf
            corr[r] = exp2f(m[r] - mb[r]);
            m[r] = mn;
        }
        float rs[2] = {0.0f, 0.0f};
TC_UNROLL
        for (int j = 0; j < 8; j++)
TC_UNROLL
            for (int i = 0; i < 4; i++) {
                float p = exp2f(s[j][i] - mb[i >> 1]);
                s[j][i] = p;
                rs[i >> 1] += p;
                o[j][i] *= corr[i >> 1];
            }
TC_UNROLL
        for (int r = 0; r < 2; r++) l[r] = l[r] * corr[r] + quad_sum(rs[r]);
        tc_mma_pb(o, s, Vt, lane);  // O += P V
        block_barrier();            // this tile's buffers are no longer read
    }
TC_UNROLL
    for (int r = 0; r < 2; r++) {
        if (row[r] >= T) continue;
        float inv = 1.0f / l[r];
        tc_bf16 *dst = out + ((long long)b * T + row[r]) * C + (long long)h * TC_HS;
TC_UNROLL
        for (int j = 0; j < 8; j++) {
            dst[j * 8 + 2 * t] = __float2bfloat16_rn(o[j][2 * r] * inv);
            dst[j * 8 + 2 * t + 1] = __float2bfloat16_rn(o[j][2 * r + 1] * inv);
        }
        if (t == 0) lse[(long long)bh * T + row[r]] = (m[r] + log2f(l[r])) * TC_LN2;
    }
}

// The backward pass's query tile i0: Q and dO rows by cp.async (the
// caller commits), lse (in base 2) and D by plain stores (+inf and 0 past
// T: P = 0 there).
__host__ __device__ __forceinline__ void tc_stage_q_tile(tc_bf16 *Qs, tc_bf16 *dOs, float *Ls, float *Ds,
                                                         const tc_bf16 *base, long long C3, const tc_bf16 *dbase,
                                                         int C, const float *lse_bh, const float *D_bh, int i0, int T,
                                                         int tid) {
    tc_stage_rows_async(Qs, base, C3, i0, T, tid);
    tc_stage_rows_async(dOs, dbase, C, i0, T, tid);
    for (int r = tid; r < TC_TILE; r += TC_THREADS) {
        int q = i0 + r;
        Ls[r] = q < T ? lse_bh[q] * TC_LOG2E : INFINITY;
        Ds[r] = q < T ? D_bh[q] : 0.0f;
    }
}

// ---- backward: block (k_tile, bh). Shared: Qs, dOs (two buffers of 64 x
// TC_STRIDE each: the next query tile is copied with cp.async while this one
// is used), Ks, Vs, dSs (64 x TC_STRIDE), Ls, Ds (two buffers of 64
// floats). K's and V's fragments are loaded from shared memory where each
// product needs them, not held across the loop (registers: no spill).
// dq_acc (B,T,C) fp32, zeroed before; dqkv's k and v parts are written
// here, its q part by attn_tc_dq_convert.
__host__ __device__ __forceinline__ void attn_tc_backward_block(tc_bf16 *dqkv, float *dq_acc, const tc_bf16 *dout,
                                                                const tc_bf16 *qkv, const float *lse, const float *D,
                                                                int T, int C, int NH, float scale, int k_tile, int bh,
                                                                int tid, tc_bf16 *Qb, tc_bf16 *dOb, tc_bf16 *Ks,
                                                                tc_bf16 *Vs, tc_bf16 *dSs, float *Lb, float *Db) {
    int b = bh / NH, h = bh % NH, warp = tid >> 5, lane = tid & 31, g = lane >> 2, t = lane & 3;
    long long C3 = 3LL * C;
    const tc_bf16 *base = qkv + (long long)b * T * C3 + (long long)h * TC_HS;
    const tc_bf16 *dbase = dout + (long long)b * T * C + (long long)h * TC_HS;
    const float *lse_bh = lse + (long long)bh * T, *D_bh = D + (long long)bh * T;
    int k0 = k_tile * TC_TILE;
    // a group: K and V (waited for with the first query tile)
    tc_stage_rows_async(Ks, base + C, C3, k0, T, tid);
    tc_stage_rows_async(Vs, base + 2 * C, C3, k0, T, tid);
    cp_async_commit();
    tc_stage_q_tile(Qb, dOb, Lb, Db, base, C3, dbase, C, lse_bh, D_bh, k0, T, tid);  // a group: the first query tile
    cp_async_commit();
    float dk[8][4], dv[8][4];
    tc_zero(dk);
    tc_zero(dv);
    int key[2] = {k0 + warp * 16 + g, k0 + warp * 16 + g + 8};
    float sl2 = scale * TC_LOG2E;
    for (int i0 = k0; i0 < T; i0 += TC_TILE) {  // from the diagonal tile (i0 == k0) on
        int buf = ((i0 - k0) / TC_TILE) & 1;
        tc_bf16 *Qs = Qb + buf * TC_BUF, *dOs = dOb + buf * TC_BUF;
        const float *Ls = Lb + buf * TC_TILE, *Ds = Db + buf * TC_TILE;
        if (i0 + TC_TILE < T) {  // the next tile into the other buffers (free: the barrier at this loop's end)
            tc_stage_q_tile(Qb + (buf ^ 1) * TC_BUF, dOb + (buf ^ 1) * TC_BUF, Lb + (buf ^ 1) * TC_TILE,
                            Db + (buf ^ 1) * TC_TILE, base, C3, dbase, C, lse_bh, D_bh, i0 + TC_TILE, T, tid);
            cp_async_commit();
            cp_async_wait<1>();  // this tile has landed, the next may still fly
        } else {
            cp_async_wait<0>();
        }
        block_barrier();  // every thread's copies (and Ls, Ds) of this tile are visible
        float p[8][4], dp[8][4];  // P^T and dP^T: 16 keys x 64 queries
        tc_zero(p);
        {
            uint32_t kf[4][4];
            tc_load_a_rows(kf, Ks, warp * 16, lane);
            tc_mma_abt(p, kf, Qs, lane);  // S^T = K Q^T
        }
TC_UNROLL
        for (int j = 0; j < 8; j++)
TC_UNROLL
            for (int i = 0; i < 4; i++) {
                int qi = j * 8 + 2 * t + (i & 1);
                float v = exp2f(p[j][i] * sl2 - Ls[qi]);
                if (i0 == k0 && i0 + qi < key[i >> 1]) v = 0.0f;  // causal, diagonal tile
                p[j][i] = v;
            }
        tc_mma_pb(dv, p, dOs, lane);  // dV += P^T dO
        tc_zero(dp);
        {
            uint32_t vf[4][4];
            tc_load_a_rows(vf, Vs, warp * 16, lane);
            tc_mma_abt(dp, vf, dOs, lane);  // dP^T = V dO^T
        }
TC_UNROLL
        for (int j = 0; j < 8; j++)
TC_UNROLL
            for (int i = 0; i < 4; i++) {
                int qi = j * 8 + 2 * t + (i & 1);
                float ds = p[j][i] * (dp[j][i] - Ds[qi]);
                p[j][i] = ds;  // dS^T from here on
                // dS (queries x keys) for the dQ product below
                dSs[qi * TC_STRIDE + warp * 16 + g + 8 * (i >> 1)] = __float2bfloat16_rn(ds);
            }
        tc_mma_pb(dk, p, Qs, lane);  // dK += dS^T Q
        block_barrier();             // every warp's dS is in dSs
        // dQ of queries i0 + warp*16 .. +15: dS (16 x 64 keys) K (64 keys x 64)
        uint32_t sf[4][4];
        tc_load_a_rows(sf, dSs, warp * 16, lane);
        float dq[8][4];
        tc_zero(dq);
TC_UNROLL
        for (int kk = 0; kk < 4; kk++) tc_mma_a_b(dq, sf[kk], Ks, kk, lane);
TC_UNROLL
        for (int r = 0; r < 2; r++) {
            int q = i0 + warp * 16 + g + 8 * r;
            if (q >= T) continue;
            float *dst = dq_acc + ((long long)b * T + q) * C + (long long)h * TC_HS;
TC_UNROLL
            for (int n = 0; n < 8; n++) {
                atomic_add_f32(dst + n * 8 + 2 * t, dq[n][2 * r] * scale);
                atomic_add_f32(dst + n * 8 + 2 * t + 1, dq[n][2 * r + 1] * scale);
            }
        }
        block_barrier();  // this tile's Qs, dOs, Ls, Ds and dSs are no longer read
    }
TC_UNROLL
    for (int r = 0; r < 2; r++) {
        if (key[r] >= T) continue;
        tc_bf16 *dst = dqkv + ((long long)b * T + key[r]) * C3 + (long long)h * TC_HS;
TC_UNROLL
        for (int n = 0; n < 8; n++) {
            dst[C + n * 8 + 2 * t] = __float2bfloat16_rn(dk[n][2 * r] * scale);
            dst[C + n * 8 + 2 * t + 1] = __float2bfloat16_rn(dk[n][2 * r + 1] * scale);
            dst[2 * C + n * 8 + 2 * t] = __float2bfloat16_rn(dv[n][2 * r]);
            dst[2 * C + n * 8 + 2 * t + 1] = __float2bfloat16_rn(dv[n][2 * r + 1]);
        }
    }
}

// dqkv's q part from dq_acc: element idx of (B,T,C).
__host__ __device__ __forceinline__ void attn_tc_dq_convert(tc_bf16 *dqkv, const float *dq_acc, long long idx, int C) {
    long long bt = idx / C;
    int c = (int)(idx % C);
    dqkv[bt * 3 * C + c] = __float2bfloat16_rn(dq_acc[idx]);
}

#ifndef ENABLE_FP32
__global__ void __launch_bounds__(TC_THREADS, 2) attention_tc_forward_kernel(tc_bf16 *out, float *lse,
                                                                          const tc_bf16 *qkv, int T, int C, int NH,
                                                                          float scale) {
    __shared__ __align__(16) tc_bf16 Qs[TC_BUF], Ks[2 * TC_BUF], Vs[2 * TC_BUF];
    int q_tile = gridDim.x - 1 - blockIdx.x;  // the longest rows first
    attn_tc_forward_block(out, lse, qkv, T, C, NH, scale, q_tile, blockIdx.y, threadIdx.x, Qs, Ks, Vs);
}

__global__ void __launch_bounds__(TC_THREADS, 3) attention_tc_backward_kernel(tc_bf16 *dqkv, float *dq_acc,
                                                                           const tc_bf16 *dout, const tc_bf16 *qkv,
                                                                           const float *lse, const float *D, int T,
                                                                           int C, int NH, float scale) {
    extern __shared__ __align__(16) unsigned char tc_smem[];  // TC_BWD_SMEM bytes
    tc_bf16 *Qb = (tc_bf16 *)tc_smem, *dOb = Qb + 2 * TC_BUF, *Ks = dOb + 2 * TC_BUF, *Vs = Ks + TC_BUF;
    tc_bf16 *dSs = Vs + TC_BUF;
    float *Lb = (float *)(dSs + TC_BUF), *Db = Lb + 2 * TC_TILE;
    attn_tc_backward_block(dqkv, dq_acc, dout, qkv, lse, D, T, C, NH, scale, blockIdx.x, blockIdx.y, threadIdx.x, Qb,
                           dOb, Ks, Vs, dSs, Lb, Db);
}

__global__ void attention_tc_dq_convert_kernel(tc_bf16 *dqkv, const float *dq_acc, long long n, int C) {
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx < n) attn_tc_dq_convert(dqkv, dq_acc, idx, C);
}

// Launchers (grids: (T tiles, B x NH); the caller checks B x NH).
static inline void attention_tc_forward_gpu(tc_bf16 *out, float *lse, const tc_bf16 *qkv, int B, int T, int C, int NH,
                                            cudaStream_t s) {
    dim3 grid(ceil_div(T, TC_TILE), B * NH);
    attention_tc_forward_kernel<<<grid, TC_THREADS, 0, s>>>(out, lse, qkv, T, C, NH, 1.0f / sqrtf((float)TC_HS));
    CUDA_CHECK_LAUNCH();
}

// D: the (B,NH,T) rowsum(dout * out), computed before; dq_acc: B*T*C floats of scratch.
static inline void attention_tc_backward_gpu(tc_bf16 *dqkv, float *dq_acc, const float *D, const tc_bf16 *dout,
                                             const tc_bf16 *qkv, const float *lse, int B, int T, int C, int NH,
                                             cudaStream_t s) {
    long long n = (long long)B * T * C;
    CUDA_CHECK(cudaMemsetAsync(dq_acc, 0, (size_t)n * sizeof(float), s));
    // above 48 KiB of dynamic shared memory needs the opt-in (a host call; every time, for whichever device is current)
    CUDA_CHECK(cudaFuncSetAttribute(attention_tc_backward_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    (int)TC_BWD_SMEM));
    dim3 grid(ceil_div(T, TC_TILE), B * NH);
    attention_tc_backward_kernel<<<grid, TC_THREADS, TC_BWD_SMEM, s>>>(dqkv, dq_acc, dout, qkv, lse, D, T, C, NH,
                                                                       1.0f / sqrtf((float)TC_HS));
    CUDA_CHECK_LAUNCH();
    attention_tc_dq_convert_kernel<<<ceil_div(n, 256), 256, 0, s>>>(dqkv, dq_acc, n, C);
    CUDA_CHECK_LAUNCH();
}
#endif
#endif
