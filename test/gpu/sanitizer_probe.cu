// Does compute-sanitizer work on this machine? scripts/gpu_check.sh runs this
// under it (with the kernel filters the sanitizer stage uses): one kernel,
// one allocation, every call checked. Exit 0 when all went well.
#include <cuda_runtime.h>
#include <stdio.h>

__global__ void probe_kernel(float *x, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] = 2.0f * (float)i;
}

int main(void) {
    const int n = 1024;
    float *d = NULL, h[4];
    cudaError_t err = cudaMalloc((void **)&d, n * sizeof(float));
    if (err == cudaSuccess) {
        probe_kernel<<<n / 256, 256>>>(d, n);
        err = cudaGetLastError();
    }
    if (err == cudaSuccess) err = cudaMemcpy(h, d + 1, sizeof h, cudaMemcpyDeviceToHost);
    if (err == cudaSuccess && h[0] != 2.0f) err = cudaErrorUnknown;
    if (d) cudaFree(d);
    if (err != cudaSuccess) {
        fprintf(stderr, "error: sanitizer probe: %s (%s)\n", cudaGetErrorName(err), cudaGetErrorString(err));
        return 1;
    }
    printf("sanitizer probe: ok\n");
    return 0;
}
