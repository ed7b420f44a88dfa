// The fused classifier: softmax over the first V of Vp logits, the
// cross-entropy loss against the target, and the logit gradient, in one
// kernel per row that never stores the probabilities (model/cpu_layers.c:
// softmax_crossentropy_forward + _backward, whose probabilities the CPU
// keeps). The gradient overwrites the logits in place.
#ifndef KERNELS_CLASSIFIER_CUH
#define KERNELS_CLASSIFIER_CUH
#include "kernels/common.cuh"

// Elements i0..i0+7 of a row as floats: with vec one 16-byte load (bf16;
// two in fp32; the row and i0 aligned), else one at a time, 0 past n.
__device__ __forceinline__ void classifier_load8(float f[8], const floatX *x, int i0, int n, bool vec) {
    if (!vec) {
#pragma unroll
        for (int j = 0; j < 8; j++) f[j] = i0 + j < n ? to_float(x[i0 + j]) : 0.0f;
        return;
    }
    const floatX *p = x + i0;
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

// One block per row. losses[row] = log(sum exp(x - max)) - (x[target] - max);
// with write_grad, logits[row] = (softmax - onehot(target)) * dloss on the
// first V columns and 0 on the padding. The row is read twice (once for
// the max and the sum together, online; once for the gradient), 8
// elements per 16-byte load where Vp is a multiple of 8 (rows aligned; the
// default padding, 128), else element by element.
__global__ void fused_classifier_kernel(floatX *logits, float *losses, const int *targets, float dloss, int V, int Vp,
                                        int write_grad) {
    long long row = blockIdx.x;
    bool vec = Vp % 8 == 0;
    floatX *x = logits + row * Vp;
    float m = -INFINITY, s = 0.0f;  // this thread's running max and sum of exp(x - m)
    for (int i0 = threadIdx.x * 8; i0 < V; i0 += blockDim.x * 8) {
        float f[8];
        classifier_load8(f, x, i0, V, vec);
        float cm = m;
#pragma unroll
        for (int j = 0; j < 8; j++)
            if (i0 + j < V) cm = fmaxf(cm, f[j]);
        s *= expf(m - cm);  // m = -inf (nothing yet): s is 0, and exp(-inf) 0
        m = cm;
#pragma unroll
        for (int j = 0; j < 8; j++)
            if (i0 + j < V) s += expf(f[j] - m);
    }
    float M = block_reduce(m, true);
    s = block_reduce(m == -INFINITY ? 0.0f : s * expf(m - M), false);
    int t = targets[row];
    if (threadIdx.x == 0) losses[row] = logf(s) - (to_float(x[t]) - M);
    if (!write_grad) return;
    __syncthreads();  // x[t] is read above before any thread overwrites it
    float inv = 1.0f / s;
    for (int i0 = threadIdx.x * 8; i0 < Vp; i0 += blockDim.x * 8) {
        float f[8];
        classifier_load8(f, x, i0, V, vec);
#pragma unroll
        for (int j = 0; j < 8; j++) {
            int i = i0 + j;
            float g = 0.0f;
            if (i < V) g = (expf(f[j] - M) * inv - (i == t ? 1.0f : 0.0f)) * dloss;
            if (i < Vp) x[i] = from_float<floatX>(g);
        }
    }
}

static inline void fused_classifier_gpu(floatX *logits, float *losses, const int *targets, float dloss, int BT, int V,
                                        int Vp, int write_grad, cudaStream_t s) {
    fused_classifier_kernel<<<BT, 512, 0, s>>>(logits, losses, targets, dloss, V, Vp, write_grad);
    CUDA_CHECK_LAUNCH();
}
// *acc += (float)(mean of losses[0..BT)), summed in double in a fixed order
// (one block): a micro-batch's loss added on the device, read once per step.
__global__ void loss_accumulate_kernel(double *acc, const float *losses, int BT) {
    __shared__ double part[256];
    double s = 0.0;
    for (int i = threadIdx.x; i < BT; i += blockDim.x) s += losses[i];
    part[threadIdx.x] = s;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w >>= 1) {
        if (threadIdx.x < w) part[threadIdx.x] += part[threadIdx.x + w];
        __syncthreads();
    }
    if (threadIdx.x == 0) *acc += (double)(float)(part[0] / BT);
}

static inline void loss_accumulate_gpu(double *acc, const float *losses, int BT, cudaStream_t s) {
    loss_accumulate_kernel<<<1, 256, 0, s>>>(acc, losses, BT);
    CUDA_CHECK_LAUNCH();
}
#endif
