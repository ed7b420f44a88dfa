// tanh-approximation GELU (model/cpu_layers.c: gelu_forward/backward).
#ifndef KERNELS_GELU_CUH
#define KERNELS_GELU_CUH
#include "kernels/common.cuh"

#define GELU_SCALE_GPU 0.7978845608028654f  // sqrt(2/pi)

__global__ void gelu_forward_kernel(floatX *out, const floatX *inp, long long N) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= N) return;
    float x = to_float(inp[i]);
    float u = GELU_SCALE_GPU * (x + 0.044715f * x * x * x);
    out[i] = from_float<floatX>(0.5f * x * (1.0f + tanhf(u)));
}

// d holds d(out); becomes d(inp) in place.
__global__ void gelu_backward_kernel(floatX *d, const floatX *inp, long long N) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= N) return;
    float x = to_float(inp[i]);
    float u = GELU_SCALE_GPU * (x + 0.044715f * x * x * x);
    float th = tanhf(u);
    float du = GELU_SCALE_GPU * (1.0f + 3.0f * 0.044715f * x * x);
    float grad = 0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * du;
    d[i] = from_float<floatX>(to_float(d[i]) * grad);
}

// out = a + b (the residual stream)
__global__ void residual_forward_kernel(floatX *out, const floatX *a, const floatX *b, long long N) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < N) out[i] = from_float<floatX>(to_float(a[i]) + to_float(b[i]));
}

static inline void gelu_forward_gpu(floatX *out, const floatX *inp, long long N, cudaStream_t s) {
    gelu_forward_kernel<<<ceil_div(N, 256), 256, 0, s>>>(out, inp, N);
    CUDA_CHECK_LAUNCH();
}
static inline void gelu_backward_gpu(floatX *d, const floatX *inp, long long N, cudaStream_t s) {
    gelu_backward_kernel<<<ceil_div(N, 256), 256, 0, s>>>(d, inp, N);
    CUDA_CHECK_LAUNCH();
}
static inline void residual_forward_gpu(floatX *out, const floatX *a, const floatX *b, long long N, cudaStream_t s) {
    residual_forward_kernel<<<ceil_div(N, 256), 256, 0, s>>>(out, a, b, N);
    CUDA_CHECK_LAUNCH();
}
#endif
