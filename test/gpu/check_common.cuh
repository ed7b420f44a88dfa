// Helpers of the GPU checks (test/gpu/check_*.cu): random data, host <->
// device copies, and the comparison that prints one PASS/FAIL line.
// Tolerance: the largest absolute difference over the largest reference
// magnitude. fp32 build: TOL 1e-5 (same formulas, other summation order);
// bf16 build: TOL 2e-2 (bf16 keeps 8 bits: 2^-8 = 3.9e-3 per rounding, and
// outputs pass through a few roundings).
#ifndef TEST_GPU_CHECK_COMMON_CUH
#define TEST_GPU_CHECK_COMMON_CUH
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/common.cuh"

#ifdef ENABLE_FP32
static const double TOL = 1e-5;
#else
static const double TOL = 2e-2;
#endif
static int failures = 0;

static float *rand_floats(size_t n, float scale, unsigned *seed) {
    float *x = (float *)xmalloc(n * sizeof(float), "test data");
    for (size_t i = 0; i < n; i++) {
        *seed = *seed * 1664525u + 1013904223u;
        x[i] = scale * (((*seed >> 8) / 16777216.0f) * 2.0f - 1.0f);
    }
    return x;
}
// Rounds host values to what floatX can hold (identity in the fp32 build).
static void round_to_floatX(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(floatX)x[i];
}
static floatX *to_device(const float *x, size_t n) {
    floatX *h = (floatX *)xmalloc(n * sizeof(floatX), "test data"), *d;
    for (size_t i = 0; i < n; i++) h[i] = (floatX)x[i];
    CUDA_CHECK(cudaMalloc(&d, n * sizeof(floatX)));
    CUDA_CHECK(cudaMemcpy(d, h, n * sizeof(floatX), cudaMemcpyHostToDevice));
    free(h);
    return d;
}
static float *to_device_f32(const float *x, size_t n) {
    float *d;
    CUDA_CHECK(cudaMalloc(&d, n * sizeof(float)));
    CUDA_CHECK(cudaMemcpy(d, x, n * sizeof(float), cudaMemcpyHostToDevice));
    return d;
}
static float *from_device(const floatX *d, size_t n) {
    floatX *h = (floatX *)xmalloc(n * sizeof(floatX), "test data");
    float *x = (float *)xmalloc(n * sizeof(float), "test data");
    CUDA_CHECK(cudaMemcpy(h, d, n * sizeof(floatX), cudaMemcpyDeviceToHost));
    for (size_t i = 0; i < n; i++) x[i] = (float)h[i];
    free(h);
    return x;
}
static float *from_device_f32(const float *d, size_t n) {
    float *x = (float *)xmalloc(n * sizeof(float), "test data");
    CUDA_CHECK(cudaMemcpy(x, d, n * sizeof(float), cudaMemcpyDeviceToHost));
    return x;
}
static void compare(const char *name, const float *got, const float *want, size_t n, double tol) {
    double err = 0.0, mag = 1e-30;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - want[i]);
        if (!(e <= err)) err = e;  // NaN counts as the largest error
        if (fabs(want[i]) > mag) mag = fabs(want[i]);
    }
    double rel = err / mag;
    int ok = rel <= tol;
    failures += !ok;
    printf("%-34s %-5s max err %.3e  max |ref| %.3e  rel %.2e  tol %.0e  %s\n", name, PRECISION_NAME, err, mag, rel, tol,
           ok ? "PASS" : "FAIL");
}

// Fresh inputs each run: the seed is CHECK_SEED when set (to repeat a
// failure), else the clock; printed either way.
#include <time.h>
static unsigned check_seed(void) {
    const char *env = getenv("CHECK_SEED");
    unsigned seed = env ? (unsigned)strtoul(env, NULL, 10) : (unsigned)time(NULL);
    printf("seed %u (CHECK_SEED=%u repeats this run)\n", seed, seed);
    return seed;
}

// Every device buffer starts as NaN (all bits set: NaN in fp32 and bf16),
// so an output element a kernel does not write fails its comparison.
static cudaError_t poisoned_malloc(void **p, size_t bytes) {
    cudaError_t err = cudaMalloc(p, bytes);
    if (err != cudaSuccess) return err;
    return cudaMemset(*p, 0xFF, bytes);
}
#define cudaMalloc(p, bytes) poisoned_malloc((void **)(p), (bytes))

// Exit 2 with one line when there is no GPU; prints the device otherwise.
static void require_device(const char *what) {
    int devices = 0;
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
        fprintf(stderr, "error: no CUDA device found (%s needs a GPU)\n", what);
        exit(2);
    }
    cudaDeviceProp prop;
    CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    printf("device: %s, build %s\n", prop.name, PRECISION_NAME);
}
#endif
