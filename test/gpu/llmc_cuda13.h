// Included ahead of llm.c's train_gpt2.cu (nvcc -include) by
// scripts/gpu_check.sh, which builds llm.c for the benchmark's comparison:
// CUDA 13 takes a cudaMemLocation where llm.c passes a device number to
// cudaMemAdvise. This overload maps the number (cudaCpuDeviceId, -1: the
// host) to a location; nothing else of llm.c changes.
#include <cuda_runtime.h>
#if CUDART_VERSION >= 13000
static inline cudaError_t cudaMemAdvise(const void *ptr, size_t bytes, cudaMemoryAdvise advice, int device) {
    cudaMemLocation loc;
    loc.type = device == cudaCpuDeviceId ? cudaMemLocationTypeHost : cudaMemLocationTypeDevice;
    loc.id = device == cudaCpuDeviceId ? 0 : device;
    return cudaMemAdvise(ptr, bytes, advice, loc);
}
#endif
