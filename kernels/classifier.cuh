// The fused classifier: softmax over the first V of Vp logits, the
// cross-entropy loss against the target, and the logit gradient, in one
// kernel per row that never stores the probabilities (model/cpu_layers.c:
// softmax_crossentropy_forward + _backward, whose probabilities the CPU
// keeps). The gradient overwrites the logits in place.
#ifndef KERNELS_CLASSIFIER_CUH
#define KERNELS_CLASSIFIER_CUH
#include "kernels/common.cuh"

// One block per row. losses[row] = log(sum exp(x - max)) - (x[target] - max);
// with write_grad, logits[row] = (softmax - onehot(target)) * dloss on the
// first V columns and 0 on the padding.
__global__ void fused_classifier_kernel(floatX *logits, float *losses, const int *targets, float dloss, int V, int Vp,
                                        int write_grad) {
    long long row = blockIdx.x;
    floatX *x = logits + row * Vp;
    float m = -INFINITY;
    for (int i = threadIdx.x; i < V; i += blockDim.x) m = fmaxf(m, to_float(x[i]));
    m = block_reduce(m, true);
    float s = 0.0f;
    for (int i = threadIdx.x; i < V; i += blockDim.x) s += expf(to_float(x[i]) - m);
    s = block_reduce(s, false);
    int t = targets[row];
    if (threadIdx.x == 0) losses[row] = logf(s) - (to_float(x[t]) - m);
    if (!write_grad) return;
    __syncthreads();  // x[t] is read above before any thread overwrites it
    float inv = 1.0f / s;
    for (int i = threadIdx.x; i < Vp; i += blockDim.x) {
        float g = 0.0f;
        if (i < V) g = (expf(to_float(x[i]) - m) * inv - (i == t ? 1.0f : 0.0f)) * dloss;
        x[i] = from_float<floatX>(g);
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
