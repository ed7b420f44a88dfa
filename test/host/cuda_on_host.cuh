// The CUDA runtime calls of the GPU code, as host stand-ins: memory is
// host memory, copies are memcpy, streams and events do nothing, there is
// one "device" with 16 GiB (8 free). Included after <cuda_runtime.h> (via
// kernels/common.cuh) and before the code under test, whose calls the
// macros below redirect. For the CPU tests of GPU code in test/host/.
#ifndef TEST_HOST_CUDA_ON_HOST_CUH
#define TEST_HOST_CUDA_ON_HOST_CUH
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/common.cuh"

static inline cudaError_t emu_malloc(void **p, size_t n) {
    *p = malloc(n ? n : 1);
    return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}
static inline cudaError_t emu_free(void *p) {
    free(p);
    return cudaSuccess;
}
static inline cudaError_t emu_memcpy(void *dst, const void *src, size_t n, cudaMemcpyKind) {
    memmove(dst, src, n);
    return cudaSuccess;
}
static inline cudaError_t emu_memcpy_async(void *dst, const void *src, size_t n, cudaMemcpyKind, cudaStream_t) {
    memmove(dst, src, n);
    return cudaSuccess;
}
static inline cudaError_t emu_memset_async(void *p, int v, size_t n, cudaStream_t) {
    memset(p, v, n);
    return cudaSuccess;
}
static int emu_handles;  // fake stream and event handles
static inline cudaError_t emu_stream_create(cudaStream_t *s) {
    *s = (cudaStream_t)(uintptr_t)(++emu_handles);
    return cudaSuccess;
}
static inline cudaError_t emu_stream_create_flags(cudaStream_t *s, unsigned) { return emu_stream_create(s); }
static inline cudaError_t emu_event_create_flags(cudaEvent_t *e, unsigned) {
    *e = (cudaEvent_t)(uintptr_t)(++emu_handles);
    return cudaSuccess;
}
static inline cudaError_t emu_stream_nothing(cudaStream_t) { return cudaSuccess; }
static inline cudaError_t emu_event_nothing(cudaEvent_t) { return cudaSuccess; }
static inline cudaError_t emu_record(cudaEvent_t, cudaStream_t) { return cudaSuccess; }
static inline cudaError_t emu_wait(cudaStream_t, cudaEvent_t, unsigned) { return cudaSuccess; }
static inline cudaError_t emu_device_count(int *n) {
    *n = 1;
    return cudaSuccess;
}
static inline cudaError_t emu_properties(cudaDeviceProp *p, int) {
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "the CPU (emulation of the CUDA engine, a test build)");
    p->totalGlobalMem = (size_t)16 << 30;
    return cudaSuccess;
}
static inline cudaError_t emu_mem_info(size_t *free_b, size_t *total_b) {
    *free_b = (size_t)8 << 30;
    *total_b = (size_t)16 << 30;
    return cudaSuccess;
}
static inline cudaError_t emu_register(void *, size_t, unsigned) { return cudaSuccess; }
static inline cudaError_t emu_unregister(void *) { return cudaSuccess; }
static inline cudaError_t emu_last_error(void) { return cudaSuccess; }
#define cudaMalloc emu_malloc
#define cudaFree emu_free
#define cudaMemcpy emu_memcpy
#define cudaMemcpyAsync emu_memcpy_async
#define cudaMemsetAsync emu_memset_async
#define cudaStreamCreate emu_stream_create
#define cudaStreamCreateWithFlags emu_stream_create_flags
#define cudaEventCreateWithFlags emu_event_create_flags
#define cudaStreamSynchronize emu_stream_nothing
#define cudaStreamDestroy emu_stream_nothing
#define cudaEventDestroy emu_event_nothing
#define cudaEventRecord emu_record
#define cudaStreamWaitEvent emu_wait
#define cudaGetDeviceCount emu_device_count
#define cudaGetDeviceProperties emu_properties
#define cudaMemGetInfo emu_mem_info
#define cudaHostRegister emu_register
#define cudaHostUnregister emu_unregister
#define cudaMallocHost emu_malloc
#define cudaFreeHost emu_free
#define cudaGetLastError emu_last_error

#endif
