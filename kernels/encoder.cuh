// Token + position embedding (model/cpu_layers.c: encoder_forward/backward).
#ifndef KERNELS_ENCODER_CUH
#define KERNELS_ENCODER_CUH
#include "kernels/common.cuh"

// out (B,T,C) = wte[inp] + wpe[t]
__global__ void encoder_forward_kernel(floatX *out, const int *inp, const floatX *wte, const floatX *wpe, int B,
                                       int T, int C) {
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (long long)B * T * C) return;
    int i = (int)(idx % C);
    long long bt = idx / C;
    int t = (int)(bt % T);
    out[idx] = from_float<floatX>(to_float(wte[(long long)inp[bt] * C + i]) + to_float(wpe[(long long)t * C + i]));
}

// dwpe[t] += sum over b of dout[b,t]; dwte[token] += dout[b,t] (fp32 atomics:
// a token may repeat within the batch). NULL skips a frozen tensor.
__global__ void encoder_backward_kernel(float *dwte, float *dwpe, const floatX *dout, const int *inp, int B, int T,
                                        int C) {
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (long long)T * C) return;
    int i = (int)(idx % C), t = (int)(idx / C);
    float sum = 0.0f;
    for (int b = 0; b < B; b++) {
        float d = to_float(dout[((long long)b * T + t) * C + i]);
        sum += d;
        if (dwte) atomicAdd(&dwte[(long long)inp[b * T + t] * C + i], d);
    }
    if (dwpe) dwpe[idx] += sum;
}

static inline void encoder_forward_gpu(floatX *out, const int *inp, const floatX *wte, const floatX *wpe, int B, int T,
                                       int C, cudaStream_t s) {
    encoder_forward_kernel<<<ceil_div((long long)B * T * C, 256), 256, 0, s>>>(out, inp, wte, wpe, B, T, C);
    CUDA_CHECK_LAUNCH();
}
static inline void encoder_backward_gpu(float *dwte, float *dwpe, const floatX *dout, const int *inp, int B, int T,
                                        int C, cudaStream_t s) {
    if (!dwte && !dwpe) return;
    encoder_backward_kernel<<<ceil_div((long long)T * C, 256), 256, 0, s>>>(dwte, dwpe, dout, inp, B, T, C);
    CUDA_CHECK_LAUNCH();
}
#endif
