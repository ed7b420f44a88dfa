// Matmuls through cuBLASLt (model/cpu_layers.c: matmul_forward/backward),
// row-major as in the CPU code:
//   forward   out (N,OC) = inp (N,IC) @ weight(OC,IC)^T + bias   (bias epilogue)
//   backward  dinp (N,IC) = dout (N,OC) @ weight                 (overwritten)
//             dweight (OC,IC) += dout^T @ inp                     (fp32, accumulated)
//             dbias (OC) += column sums of dout                   (fp32, own kernel)
// Activations and weights are floatX, weight gradients fp32; arithmetic is
// fp32 (CUBLAS_COMPUTE_32F: the fp32 build uses no TF32, so it can be
// compared tightly with the CPU). A NULL dweight / dbias (a frozen tensor)
// launches no work for it.
#ifndef KERNELS_MATMUL_CUH
#define KERNELS_MATMUL_CUH
#include <cublasLt.h>
#include <stdint.h>

#include "kernels/common.cuh"

#ifdef ENABLE_FP32
#define CUDA_FLOATX CUDA_R_32F
#else
#define CUDA_FLOATX CUDA_R_16BF
#endif

#define CUBLAS_CHECK(call)                                                                               \
    do {                                                                                                 \
        cublasStatus_t st_ = (call);                                                                     \
        if (st_ != CUBLAS_STATUS_SUCCESS) fail("cuBLAS error at %s:%d: status %d", __FILE__, __LINE__, (int)st_); \
    } while (0)

typedef struct {
    cublasLtHandle_t handle;
    void *workspace;
    size_t workspace_bytes;
    float *bias_partial;      // BIAS_CHUNKS x max OC floats for bias gradients
    size_t bias_partial_cap;  // its floats
} MatmulContext;

#define MATMUL_WORKSPACE_BYTES (32u << 20)
#define BIAS_CHUNKS 64

// max_oc: the widest output a bias gradient is taken of (4C for GPT-2).
static inline void matmul_context_init(MatmulContext *mc, int max_oc) {
    CUBLAS_CHECK(cublasLtCreate(&mc->handle));
    mc->workspace_bytes = MATMUL_WORKSPACE_BYTES;
    CUDA_CHECK(cudaMalloc(&mc->workspace, mc->workspace_bytes));
    mc->bias_partial_cap = (size_t)BIAS_CHUNKS * (size_t)max_oc;
    CUDA_CHECK(cudaMalloc((void **)&mc->bias_partial, mc->bias_partial_cap * sizeof(float)));
}
static inline void matmul_context_free(MatmulContext *mc) {
    CUBLAS_CHECK(cublasLtDestroy(mc->handle));
    CUDA_CHECK(cudaFree(mc->workspace));
    CUDA_CHECK(cudaFree(mc->bias_partial));
}
static inline size_t matmul_context_bytes(int max_oc) {
    return MATMUL_WORKSPACE_BYTES + (size_t)BIAS_CHUNKS * (size_t)max_oc * sizeof(float);
}

// Largest power of two (at most 256) that the address is a multiple of:
// cuBLASLt's heuristics assume 256-byte alignment unless told otherwise.
static inline uint32_t pointer_alignment(const void *p) {
    uintptr_t a = (uintptr_t)p;
    uint32_t al = 256;
    while (al > 1 && a % al) al >>= 1;
    return al;
}

// D (m x n, column-major, ld m) = alpha op(A) op(B) + beta C (C = D), with
// an optional bias (length m) epilogue. A is (transa ? k x m : m x k), B is
// (transb ? n x k : k x n), both column-major with their row count as ld.
static void lt_matmul(MatmulContext *mc, void *d, cudaDataType_t d_type, const void *a, const void *b,
                      cudaDataType_t ab_type, int m, int n, int k, int transa, int transb, float beta,
                      const void *bias, cudaStream_t s) {
    cublasLtMatmulDesc_t op;
    CUBLAS_CHECK(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    cublasOperation_t ta = transa ? CUBLAS_OP_T : CUBLAS_OP_N, tb = transb ? CUBLAS_OP_T : CUBLAS_OP_N;
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
    if (bias) {
        cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
        CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));
        CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias));
    }
    cublasLtMatrixLayout_t la, lb, ld;
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&la, ab_type, transa ? k : m, transa ? m : k, transa ? k : m));
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&lb, ab_type, transb ? n : k, transb ? k : n, transb ? n : k));
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&ld, d_type, m, n, m));
    cublasLtMatmulPreference_t pref;
    CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    uint64_t ws = mc->workspace_bytes;
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws));
    uint32_t al_a = pointer_alignment(a), al_b = pointer_alignment(b), al_d = pointer_alignment(d);
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al_a, sizeof al_a));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al_b, sizeof al_b));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al_d, sizeof al_d));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al_d, sizeof al_d));
    cublasLtMatmulHeuristicResult_t heur;
    int found = 0;
    CUBLAS_CHECK(cublasLtMatmulAlgoGetHeuristic(mc->handle, op, la, lb, ld, ld, pref, 1, &heur, &found));
    if (found == 0)
        fail("cuBLASLt has no algorithm for a %d x %d x %d matmul (transa %d, transb %d, bias %s)", m, n, k, transa,
             transb, bias ? "yes" : "no");
    float alpha = 1.0f;
    CUBLAS_CHECK(cublasLtMatmul(mc->handle, op, &alpha, a, la, b, lb, &beta, d, ld, d, ld, &heur.algo, mc->workspace,
                                mc->workspace_bytes, s));
    CUBLAS_CHECK(cublasLtMatmulPreferenceDestroy(pref));
    CUBLAS_CHECK(cublasLtMatrixLayoutDestroy(la));
    CUBLAS_CHECK(cublasLtMatrixLayoutDestroy(lb));
    CUBLAS_CHECK(cublasLtMatrixLayoutDestroy(ld));
    CUBLAS_CHECK(cublasLtMatmulDescDestroy(op));
}

// partial[chunk][col] = sum of dout[r][col] over the chunk's rows (fixed
// order: the result has the same bits every run).
__global__ void column_sums_partial_kernel(float *partial, const floatX *dout, int N, int OC, int rows_per_chunk) {
    int col = blockIdx.x * blockDim.x + threadIdx.x;
    if (col >= OC) return;
    int r0 = blockIdx.y * rows_per_chunk, r1 = min(N, r0 + rows_per_chunk);
    float s = 0.0f;
    for (int r = r0; r < r1; r++) s += to_float(dout[(long long)r * OC + col]);
    partial[(long long)blockIdx.y * OC + col] = s;
}
__global__ void column_sums_finish_kernel(float *dbias, const float *partial, int chunks, int OC) {
    int col = blockIdx.x * blockDim.x + threadIdx.x;
    if (col >= OC) return;
    float s = 0.0f;
    for (int c = 0; c < chunks; c++) s += partial[(long long)c * OC + col];
    dbias[col] += s;
}

static inline void matmul_forward_gpu(MatmulContext *mc, floatX *out, const floatX *inp, const floatX *weight,
                                      const floatX *bias, int N, int IC, int OC, cudaStream_t s) {
    lt_matmul(mc, out, CUDA_FLOATX, weight, inp, CUDA_FLOATX, OC, N, IC, 1, 0, 0.0f, bias, s);
}

static inline void matmul_backward_gpu(MatmulContext *mc, floatX *dinp, float *dweight, float *dbias, const floatX *dout,
                                       const floatX *inp, const floatX *weight, int N, int IC, int OC, cudaStream_t s) {
    if (dinp) lt_matmul(mc, dinp, CUDA_FLOATX, weight, dout, CUDA_FLOATX, IC, N, OC, 0, 0, 0.0f, NULL, s);
    if (dweight) lt_matmul(mc, dweight, CUDA_R_32F, inp, dout, CUDA_FLOATX, IC, OC, N, 0, 1, 1.0f, NULL, s);
    if (dbias) {
        int chunks = N < BIAS_CHUNKS ? N : BIAS_CHUNKS, rows = ceil_div(N, chunks);
        if ((size_t)chunks * OC > mc->bias_partial_cap) fail("internal: bias gradient of width %d exceeds its scratch", OC);
        dim3 grid(ceil_div(OC, 128), chunks);
        column_sums_partial_kernel<<<grid, 128, 0, s>>>(mc->bias_partial, dout, N, OC, rows);
        CUDA_CHECK_LAUNCH();
        column_sums_finish_kernel<<<ceil_div(OC, 128), 128, 0, s>>>(dbias, mc->bias_partial, chunks, OC);
        CUDA_CHECK_LAUNCH();
    }
}
#endif
