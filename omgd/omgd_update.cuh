// The fused OMGD-AdamW update on the GPU: one launch over the whole active
// slice (the same per-element formula as omgd/adamw.h's adamw_element, with
// the per-tensor constants of omgd/omgd_update.c), updating the fp32 master
// weight and writing the floatX copy the model computes with (bf16 with
// stochastic rounding). Nothing outside the slice is read or written.
#ifndef OMGD_OMGD_UPDATE_CUH
#define OMGD_OMGD_UPDATE_CUH
#include <string.h>

#include "kernels/common.cuh"

// One run of contiguous elements of one active tensor (its owned part).
typedef struct {
    long long start;         // index of its first element within this launch
    long long count;
    long long param_offset;  // first element in the floatX parameter buffer
    long long grad_offset;   // first element in the gradient buffer
    long long state_offset;  // first element in the moment buffers
    long long master_offset; // first element in the fp32 master weights
    float bc1, bc2;          // 1 - beta^step for this tensor's own step count
    float wd;                // weight decay (0 for biases and LayerNorms)
    float grad_scale;        // clip, times the pool scale for mask units
} OmgdSegment;

// Bit casts usable on the host as well (the update's element function runs
// on the host in test/host/test_device_slice.cu).
__host__ __device__ __forceinline__ unsigned int float_bits(float x) {
#ifdef __CUDA_ARCH__
    return __float_as_uint(x);
#else
    unsigned int u;
    memcpy(&u, &x, sizeof u);
    return u;
#endif
}
__host__ __device__ __forceinline__ float bits_float(unsigned int u) {
#ifdef __CUDA_ARCH__
    return __uint_as_float(u);
#else
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
#endif
}

// Rounds x to bf16 stochastically: adds random low bits, then truncates,
// so that the expected value of the result is x.
__host__ __device__ __forceinline__ __nv_bfloat16 bf16_stochastic(float x, unsigned int random) {
    unsigned int bits = float_bits(x);
    if ((bits & 0x7f800000u) == 0x7f800000u) return __float2bfloat16_rn(x);  // inf / nan unchanged
    bits += random & 0xffffu;
    bits &= 0xffff0000u;
    return __float2bfloat16_rn(bits_float(bits));
}

__host__ __device__ __forceinline__ unsigned int hash_u32(unsigned long long x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return (unsigned int)x;
}

// Element idx of the launch: finds its segment, then the AdamW update.
__host__ __device__ __forceinline__ void omgd_adamw_element(long long idx, float *master, floatX *params,
                                                            const float *grads, float *m, float *v,
                                                            const OmgdSegment *seg, int nseg, float lr, float beta1,
                                                            float beta2, float eps, unsigned long long seed) {
    int lo = 0, hi = nseg - 1;  // the segment holding idx
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (seg[mid].start <= idx) lo = mid;
        else hi = mid - 1;
    }
    const OmgdSegment s = seg[lo];
    long long j = idx - s.start;
    float g = grads[s.grad_offset + j] * s.grad_scale;
    float *mp = m + s.state_offset + j, *vp = v + s.state_offset + j;
    float mi = beta1 * *mp + (1.0f - beta1) * g;
    float vi = beta2 * *vp + (1.0f - beta2) * g * g;
    *mp = mi;
    *vp = vi;
    float mhat = mi / s.bc1, vhat = vi / s.bc2;
    float *w = master + s.master_offset + j;
    float wn = *w - lr * (mhat / (sqrtf(vhat) + eps) + s.wd * *w);
    *w = wn;
#ifdef ENABLE_FP32
    if (params + s.param_offset != (floatX *)(master + s.master_offset)) params[s.param_offset + j] = wn;
#else
    params[s.param_offset + j] = bf16_stochastic(wn, hash_u32(seed ^ (unsigned long long)(s.param_offset + j)));
#endif
}

#ifndef ENGINE_ON_CPU  // the CPU test build of the engine runs the element function on the host
__global__ void omgd_adamw_kernel(float *master, floatX *params, const float *grads, float *m, float *v,
                                  const OmgdSegment *seg, int nseg, long long total, float lr, float beta1, float beta2,
                                  float eps, unsigned long long seed) {
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx < total) omgd_adamw_element(idx, master, params, grads, m, v, seg, nseg, lr, beta1, beta2, eps, seed);
}

// seg: nseg segments in device memory covering `total` elements in order.
// seed: different every step (e.g. derived from the run seed and the step).
static inline void omgd_adamw_update_gpu(float *master, floatX *params, const float *grads, float *m, float *v,
                                         const OmgdSegment *seg, int nseg, long long total, float lr, float beta1,
                                         float beta2, float eps, unsigned long long seed, cudaStream_t st) {
    if (total == 0) return;
    omgd_adamw_kernel<<<ceil_div(total, 256), 256, 0, st>>>(master, params, grads, m, v, seg, nseg, total, lr, beta1,
                                                           beta2, eps, seed);
    CUDA_CHECK_LAUNCH();
}
#endif
#endif
