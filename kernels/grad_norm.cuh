// Sum of squares of the gradients (the active slice), fp32, in a fixed
// order (fixed grid, then one block over the partial sums): the same bits
// on every run, like omgd/adamw.c's grad_sum_squares.
#ifndef KERNELS_GRAD_NORM_CUH
#define KERNELS_GRAD_NORM_CUH
#include "kernels/common.cuh"

#define GRAD_NORM_BLOCKS 512

__global__ void sum_squares_partial_kernel(float *partial, const float *g, long long n) {
    float s = 0.0f;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        s += g[i] * g[i];
    s = block_reduce(s, false);
    if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

__global__ void sum_partials_kernel(float *out, const float *partial, int n) {
    float s = 0.0f;
    for (int i = threadIdx.x; i < n; i += blockDim.x) s += partial[i];
    s = block_reduce(s, false);
    if (threadIdx.x == 0) out[0] = s;
}

// out[0] = sum of g[i]^2; partial: GRAD_NORM_BLOCKS floats of scratch.
static inline void sum_squares_gpu(float *out, float *partial, const float *g, long long n, cudaStream_t s) {
    sum_squares_partial_kernel<<<GRAD_NORM_BLOCKS, 512, 0, s>>>(partial, g, n);
    CUDA_CHECK_LAUNCH();
    sum_partials_kernel<<<1, 512, 0, s>>>(out, partial, GRAD_NORM_BLOCKS);
    CUDA_CHECK_LAUNCH();
}
#endif
