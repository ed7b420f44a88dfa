// The warp-level pieces of the tensor-core kernels (kernels/attention_tc.cuh):
// bf16 mma.sync m16n8k16 with fp32 accumulation, lane shuffles, block
// barriers and fp32 atomics, each with a host twin so that the kernels' own
// code runs on the CPU (test/host/warp_on_host.cuh runs every thread of a
// block as a fiber; these calls are where the fibers meet).
//
// Fragments of mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32, as the
// PTX ISA documents them, with g = lane / 4 and t = lane % 4 (a 32-bit
// register holds two bf16, the lower-indexed element in its low half):
//   A (16 x 16, row major), 4 registers = 8 elements a0..a7:
//       row = g + 8 * ((i / 2) % 2), col = 2 t + (i % 2) + 8 * (i / 4)
//       i.e. register r holds row g + 8 (r % 2), cols 2t, 2t+1 (+ 8 if r >= 2)
//   B (16 x 8, "col": element (k, n)), 2 registers = 4 elements b0..b3:
//       k = 2 t + (i % 2) + 8 * (i / 2), n = g
//   C, D (16 x 8, fp32), 4 elements c0..c3:
//       row = g + 8 * (i / 2), col = 2 t + (i % 2)
// The layout of a C fragment pair (n tiles 2j and 2j + 1) is that of one A
// fragment (k step j): a softmax computed in C fragments feeds the next
// product as A without moving between lanes.
#ifndef KERNELS_WARP_MMA_CUH
#define KERNELS_WARP_MMA_CUH
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/common.cuh"

// Two bf16 in one register: lo in bits 0..15, hi in 16..31 (round to nearest even).
__host__ __device__ __forceinline__ uint32_t pack_bf16x2(float lo, float hi) {
    return (uint32_t)__bfloat16_as_ushort(__float2bfloat16_rn(lo)) |
           ((uint32_t)__bfloat16_as_ushort(__float2bfloat16_rn(hi)) << 16);
}
// Two consecutive bf16 (4-byte aligned) as one register.
__host__ __device__ __forceinline__ uint32_t load_bf16x2(const __nv_bfloat16 *p) {
    return (uint32_t)__bfloat16_as_ushort(p[0]) | ((uint32_t)__bfloat16_as_ushort(p[1]) << 16);
}
// p[0] and p[stride] as one register (a B fragment whose k runs down the rows).
__host__ __device__ __forceinline__ uint32_t load_bf16x2_strided(const __nv_bfloat16 *p, int stride) {
    return (uint32_t)__bfloat16_as_ushort(p[0]) | ((uint32_t)__bfloat16_as_ushort(p[stride]) << 16);
}

#if defined(__CUDA_ARCH__)
// d += a * b (one warp, all 32 lanes converged)
__device__ __forceinline__ void mma_bf16_16816(float d[4], const uint32_t a[4], const uint32_t b[2]) {
#if __CUDA_ARCH__ >= 800
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#else
    __trap();  // bf16 mma.sync needs sm_80
#endif
}
__device__ __forceinline__ float lane_shfl_xor(float v, int mask) { return __shfl_xor_sync(0xffffffffu, v, mask); }
// 16 bytes from global to shared memory, asynchronously (cp.async, sm_80);
// zeros instead when !valid. Visible to this thread after cp_async_wait,
// to the block after a barrier that follows it.
__device__ __forceinline__ void cp_async_16(void *smem, const void *gmem, bool valid) {
#if __CUDA_ARCH__ >= 800
    unsigned dst = (unsigned)__cvta_generic_to_shared(smem);
    int n = valid ? 16 : 0;
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(gmem), "r"(n) : "memory");
#else
    __trap();
#endif
}
__device__ __forceinline__ void cp_async_commit(void) {
#if __CUDA_ARCH__ >= 800
    asm volatile("cp.async.commit_group;\n" ::: "memory");
#endif
}
// ldmatrix.sync.aligned.m8n8.x4(.trans).shared.b16: four 8 x 8 matrices of
// bf16 from shared memory; lane L gives the address of row L % 8 of matrix
// L / 8 (16 bytes, 16-byte aligned) and gets in r[i], from matrix i, the
// pair at row L / 4, columns 2 (L % 4) and 2 (L % 4) + 1; with trans, the
// pair at rows 2 (L % 4) and 2 (L % 4) + 1 of column L / 4.
__device__ __forceinline__ void ldmatrix_x4(uint32_t r[4], const void *row) {
    unsigned a = (unsigned)__cvta_generic_to_shared(row);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(a));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t r[4], const void *row) {
    unsigned a = (unsigned)__cvta_generic_to_shared(row);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(a));
}
// Waits until at most `pending` of this thread's committed groups are in flight.
template <int pending>
__device__ __forceinline__ void cp_async_wait(void) {
#if __CUDA_ARCH__ >= 800
    asm volatile("cp.async.wait_group %0;\n" ::"n"(pending) : "memory");
#endif
}
__device__ __forceinline__ void block_barrier(void) { __syncthreads(); }
__device__ __forceinline__ void atomic_add_f32(float *p, float v) { atomicAdd(p, v); }
#elif defined(WARP_MMA_ON_HOST)
// The CPU tests' twins (test/host/warp_on_host.cuh): the calling fiber's
// thread of the emulated block.
void mma_bf16_16816(float d[4], const uint32_t a[4], const uint32_t b[2]);
float lane_shfl_xor(float v, int mask);
void block_barrier(void);
static inline void atomic_add_f32(float *p, float v) { *p += v; }  // fibers never interleave within a call
// cp.async's twins: a copy happens as late as the program allows (at the
// wait that covers its group), so a read before that wait sees old data.
void cp_async_16(void *smem, const void *gmem, bool valid);
void cp_async_commit(void);
void ldmatrix_x4(uint32_t r[4], const void *row);
void ldmatrix_x4_trans(uint32_t r[4], const void *row);
void host_cp_async_wait(int pending);
template <int pending>
static inline void cp_async_wait(void) { host_cp_async_wait(pending); }
#else
// The host pass of a CUDA build: these are device-only (the kernels never
// run on the host outside the CPU tests).
static inline void mma_bf16_16816(float *, const uint32_t *, const uint32_t *) { abort(); }
static inline float lane_shfl_xor(float, int) { abort(); }
static inline void block_barrier(void) { abort(); }
static inline void atomic_add_f32(float *, float) { abort(); }
static inline void cp_async_16(void *, const void *, bool) { abort(); }
static inline void cp_async_commit(void) { abort(); }
static inline void ldmatrix_x4(uint32_t *, const void *) { abort(); }
static inline void ldmatrix_x4_trans(uint32_t *, const void *) { abort(); }
template <int pending>
static inline void cp_async_wait(void) { abort(); }
#endif

// Max and sum over the 4 lanes of a quad (the lanes that share g: one row
// of a C fragment).
__host__ __device__ __forceinline__ float quad_max(float v) {
    v = fmaxf(v, lane_shfl_xor(v, 1));
    return fmaxf(v, lane_shfl_xor(v, 2));
}
__host__ __device__ __forceinline__ float quad_sum(float v) {
    v += lane_shfl_xor(v, 1);
    return v + lane_shfl_xor(v, 2);
}

#endif
