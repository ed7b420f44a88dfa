// Matmuls through cuBLASLt (model/cpu_layers.c: matmul_forward/backward),
// row-major as in the CPU code:
//   forward   out (N,OC) = inp (N,IC) @ weight(OC,IC)^T + bias   (bias epilogue)
//   backward  dinp (N,IC) = dout (N,OC) @ weight                 (overwritten)
//             dweight (OC,IC) += dout^T @ inp                     (fp32, accumulated)
//             dbias (OC) += column sums of dout                   (fp32, own kernel)
// and, fused with the MLP's GELU (bf16 build; the fp32 build keeps the
// separate kernels of kernels/gelu.cuh, the exact reference):
//   matmul_forward_gelu_gpu    GELU_AUX_BIAS epilogue: out = gelu(inp W^T + b),
//                              the pre-GELU values kept (aux) for the backward
//   matmul_backward_dgelu_gpu  DGELU epilogue: dinp = (dout W) * gelu'(pre)
// Where cuBLASLt has no algorithm for an epilogue, the separate kernels run.
// Descriptors, layouts and the heuristic's algorithm are made once per shape
// (and epilogue, types, alignments) and kept (MATMUL_PLANS of them).
// Activations and weights are floatX, weight gradients fp32; arithmetic is
// fp32 (CUBLAS_COMPUTE_32F: the fp32 build uses no TF32, so it can be
// compared tightly with the CPU). A NULL dweight / dbias (a frozen tensor)
// launches no work for it.
#ifndef KERNELS_MATMUL_CUH
#define KERNELS_MATMUL_CUH
#include <cublasLt.h>
#include <stdint.h>

#include "kernels/common.cuh"
#include "kernels/gelu.cuh"

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

// Epilogues (cuBLASLt's, by our names)
enum { MM_EPI_NONE, MM_EPI_BIAS, MM_EPI_GELU_AUX, MM_EPI_GELU_AUX_BIAS, MM_EPI_DGELU };

// One shape's descriptors and algorithm (found: 0 when cuBLASLt has none).
typedef struct {
    int m, n, k, transa, transb, epilogue, accumulate, found;
    cudaDataType_t d_type, ab_type;
    uint32_t al_a, al_b, al_d;
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t la, lb, ld;
    cublasLtMatmulAlgo_t algo;
} MatmulPlan;
#define MATMUL_PLANS 64

typedef struct {
    cublasLtHandle_t handle;
    void *workspace;
    size_t workspace_bytes;
    float *bias_partial;      // BIAS_CHUNKS x max OC floats for bias gradients
    size_t bias_partial_cap;  // its floats
    MatmulPlan plans[MATMUL_PLANS];
    int num_plans, next_evict;  // when full, plans are replaced in turn
    long long plans_made;       // for the record (a shape seen again makes none)
} MatmulContext;

#define MATMUL_WORKSPACE_BYTES (32u << 20)
#define BIAS_CHUNKS 256  // row chunks of a bias gradient: OC/8 x 256 threads for GPT-2's widths

// max_oc: the widest output a bias gradient is taken of (4C for GPT-2).
static inline void matmul_context_init(MatmulContext *mc, int max_oc) {
    memset(mc, 0, sizeof *mc);
    CUBLAS_CHECK(cublasLtCreate(&mc->handle));
    mc->workspace_bytes = MATMUL_WORKSPACE_BYTES;
    CUDA_CHECK(cudaMalloc(&mc->workspace, mc->workspace_bytes));
    mc->bias_partial_cap = (size_t)BIAS_CHUNKS * (size_t)max_oc;
    CUDA_CHECK(cudaMalloc((void **)&mc->bias_partial, mc->bias_partial_cap * sizeof(float)));
}
static void matmul_plan_destroy(MatmulPlan *p) {
    CUBLAS_CHECK(cublasLtMatrixLayoutDestroy(p->la));
    CUBLAS_CHECK(cublasLtMatrixLayoutDestroy(p->lb));
    CUBLAS_CHECK(cublasLtMatrixLayoutDestroy(p->ld));
    CUBLAS_CHECK(cublasLtMatmulDescDestroy(p->op));
}
static inline void matmul_context_free(MatmulContext *mc) {
    for (int i = 0; i < mc->num_plans; i++) matmul_plan_destroy(&mc->plans[i]);
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

// The plan of a shape: the kept one, or made now (descriptors, layouts,
// heuristic). Pointers (bias, aux) are set per call, not kept.
static MatmulPlan *matmul_plan(MatmulContext *mc, cudaDataType_t d_type, cudaDataType_t ab_type, int m, int n, int k,
                               int transa, int transb, int accumulate, int epilogue, uint32_t al_a, uint32_t al_b,
                               uint32_t al_d) {
    for (int i = 0; i < mc->num_plans; i++) {
        MatmulPlan *p = &mc->plans[i];
        if (p->m == m && p->n == n && p->k == k && p->transa == transa && p->transb == transb &&
            p->epilogue == epilogue && p->accumulate == accumulate && p->d_type == d_type && p->ab_type == ab_type &&
            p->al_a == al_a && p->al_b == al_b && p->al_d == al_d)
            return p;
    }
    MatmulPlan *p;
    if (mc->num_plans < MATMUL_PLANS) {
        p = &mc->plans[mc->num_plans++];
    } else {  // full (many sampling lengths): replace one in turn
        p = &mc->plans[mc->next_evict];
        mc->next_evict = (mc->next_evict + 1) % MATMUL_PLANS;
        matmul_plan_destroy(p);
    }
    memset(p, 0, sizeof *p);
    p->m = m, p->n = n, p->k = k, p->transa = transa, p->transb = transb, p->epilogue = epilogue;
    p->accumulate = accumulate, p->d_type = d_type, p->ab_type = ab_type, p->al_a = al_a, p->al_b = al_b, p->al_d = al_d;
    mc->plans_made++;
    CUBLAS_CHECK(cublasLtMatmulDescCreate(&p->op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    cublasOperation_t ta = transa ? CUBLAS_OP_T : CUBLAS_OP_N, tb = transb ? CUBLAS_OP_T : CUBLAS_OP_N;
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
    cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_DEFAULT;
    switch (epilogue) {
        case MM_EPI_BIAS: epi = CUBLASLT_EPILOGUE_BIAS; break;
        case MM_EPI_GELU_AUX: epi = CUBLASLT_EPILOGUE_GELU_AUX; break;
        case MM_EPI_GELU_AUX_BIAS: epi = CUBLASLT_EPILOGUE_GELU_AUX_BIAS; break;
        case MM_EPI_DGELU: epi = CUBLASLT_EPILOGUE_DGELU; break;
    }
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));
    if (epilogue >= MM_EPI_GELU_AUX) {  // the aux matrix (pre-GELU values): D's shape and leading dimension
        int64_t ld = m;
        CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD, &ld, sizeof ld));
    }
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->la, ab_type, transa ? k : m, transa ? m : k, transa ? k : m));
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->lb, ab_type, transb ? n : k, transb ? k : n, transb ? n : k));
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->ld, d_type, m, n, m));
    cublasLtMatmulPreference_t pref;
    CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    uint64_t ws = mc->workspace_bytes;
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al_a, sizeof al_a));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al_b, sizeof al_b));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al_d, sizeof al_d));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al_d, sizeof al_d));
    cublasLtMatmulHeuristicResult_t heur;
    int found = 0;
    // the heuristic may refuse a shape or epilogue with a status, or with no result: both are "none"
    cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(mc->handle, p->op, p->la, p->lb, p->ld, p->ld, pref, 1, &heur,
                                                       &found);
    CUBLAS_CHECK(cublasLtMatmulPreferenceDestroy(pref));
    if (st != CUBLAS_STATUS_SUCCESS && st != CUBLAS_STATUS_NOT_SUPPORTED)
        fail("cuBLAS error at %s:%d: status %d (heuristic for a %d x %d x %d matmul)", __FILE__, __LINE__, (int)st, m,
             n, k);
    p->found = st == CUBLAS_STATUS_SUCCESS && found > 0;
    if (p->found) p->algo = heur.algo;
    return p;
}

// D (m x n, column-major, ld m) = alpha op(A) op(B) + beta C (C = D), with
// an epilogue: bias (length m), or GELU keeping its input in aux (m x n, ld
// m), or GELU's derivative at aux applied to the product. A is (transa ? k x
// m : m x k), B is (transb ? n x k : k x n), both column-major with their
// row count as ld. Returns 0, launching nothing, where cuBLASLt has no
// algorithm for a GELU epilogue (the caller runs the separate kernels); a
// plain or bias matmul without one fails.
static int lt_matmul_epi(MatmulContext *mc, void *d, cudaDataType_t d_type, const void *a, const void *b,
                         cudaDataType_t ab_type, int m, int n, int k, int transa, int transb, float beta, int epilogue,
                         const void *bias, void *aux, cudaStream_t s) {
    MatmulPlan *p = matmul_plan(mc, d_type, ab_type, m, n, k, transa, transb, beta != 0.0f, epilogue,
                                pointer_alignment(a), pointer_alignment(b), pointer_alignment(d));
    if (!p->found) {
        if (epilogue >= MM_EPI_GELU_AUX) return 0;
        fail("cuBLASLt has no algorithm for a %d x %d x %d matmul (transa %d, transb %d, bias %s)", m, n, k, transa,
             transb, bias ? "yes" : "no");
    }
    if (bias) CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias));
    if (aux) CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, &aux, sizeof aux));
    float alpha = 1.0f;
    CUBLAS_CHECK(cublasLtMatmul(mc->handle, p->op, &alpha, a, p->la, b, p->lb, &beta, d, p->ld, d, p->ld, &p->algo,
                                mc->workspace, mc->workspace_bytes, s));
    return 1;
}

static void lt_matmul(MatmulContext *mc, void *d, cudaDataType_t d_type, const void *a, const void *b,
                      cudaDataType_t ab_type, int m, int n, int k, int transa, int transb, float beta,
                      const void *bias, cudaStream_t s) {
    lt_matmul_epi(mc, d, d_type, a, b, ab_type, m, n, k, transa, transb, beta, bias ? MM_EPI_BIAS : MM_EPI_NONE, bias,
                  NULL, s);
}

// partial[chunk][col] = sum of dout[r][col] over the chunk's rows (fixed
// order: the result has the same bits every run). Where OC is a multiple of
// 8, each thread takes 8 neighbouring columns with one 16-byte load per row
// (bf16; two in fp32), so that a warp reads 512 contiguous bytes of a row.
__global__ void column_sums_partial_kernel(float *partial, const floatX *dout, int N, int OC, int rows_per_chunk) {
    int r0 = blockIdx.y * rows_per_chunk, r1 = min(N, r0 + rows_per_chunk);
    if (OC % 8 == 0) {
        int c0 = (blockIdx.x * blockDim.x + threadIdx.x) * 8;
        if (c0 >= OC) return;
        float s[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll 4
        for (int r = r0; r < r1; r++) {
            const floatX *p = dout + (long long)r * OC + c0;
#ifdef ENABLE_FP32
            float4 a = ((const float4 *)p)[0], b = ((const float4 *)p)[1];
            s[0] += a.x, s[1] += a.y, s[2] += a.z, s[3] += a.w, s[4] += b.x, s[5] += b.y, s[6] += b.z, s[7] += b.w;
#else
            uint4 v = *(const uint4 *)p;
            const __nv_bfloat162 *h = (const __nv_bfloat162 *)&v;
#pragma unroll
            for (int i = 0; i < 4; i++) {
                float2 f = __bfloat1622float2(h[i]);
                s[2 * i] += f.x;
                s[2 * i + 1] += f.y;
            }
#endif
        }
#pragma unroll
        for (int i = 0; i < 8; i++) partial[(long long)blockIdx.y * OC + c0 + i] = s[i];
        return;
    }
    int col = blockIdx.x * blockDim.x + threadIdx.x;
    if (col >= OC) return;
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

static inline void matmul_weight_grads_gpu(MatmulContext *mc, float *dweight, float *dbias, const floatX *dout,
                                           const floatX *inp, int N, int IC, int OC, cudaStream_t s) {
    if (dweight) lt_matmul(mc, dweight, CUDA_R_32F, inp, dout, CUDA_FLOATX, IC, OC, N, 0, 1, 1.0f, NULL, s);
    if (dbias) {
        int chunks = N < BIAS_CHUNKS ? N : BIAS_CHUNKS, rows = ceil_div(N, chunks);
        if ((size_t)chunks * OC > mc->bias_partial_cap) fail("internal: bias gradient of width %d exceeds its scratch", OC);
        dim3 grid(ceil_div(OC % 8 == 0 ? OC / 8 : OC, 128), chunks);  // 8 columns a thread where OC allows
        column_sums_partial_kernel<<<grid, 128, 0, s>>>(mc->bias_partial, dout, N, OC, rows);
        CUDA_CHECK_LAUNCH();
        column_sums_finish_kernel<<<ceil_div(OC, 128), 128, 0, s>>>(dbias, mc->bias_partial, chunks, OC);
        CUDA_CHECK_LAUNCH();
    }
}

static inline void matmul_backward_gpu(MatmulContext *mc, floatX *dinp, float *dweight, float *dbias, const floatX *dout,
                                       const floatX *inp, const floatX *weight, int N, int IC, int OC, cudaStream_t s) {
    if (dinp) lt_matmul(mc, dinp, CUDA_FLOATX, weight, dout, CUDA_FLOATX, IC, N, OC, 0, 0, 0.0f, NULL, s);
    matmul_weight_grads_gpu(mc, dweight, dbias, dout, inp, N, IC, OC, s);
}

// out (N,OC) = gelu(inp W^T + bias), pre (N,OC) = inp W^T + bias.
static inline void matmul_forward_gelu_gpu(MatmulContext *mc, floatX *out, floatX *pre, const floatX *inp,
                                           const floatX *weight, const floatX *bias, int N, int IC, int OC,
                                           cudaStream_t s) {
#ifndef ENABLE_FP32
    if (lt_matmul_epi(mc, out, CUDA_FLOATX, weight, inp, CUDA_FLOATX, OC, N, IC, 1, 0, 0.0f,
                      bias ? MM_EPI_GELU_AUX_BIAS : MM_EPI_GELU_AUX, bias, pre, s))
        return;
#endif
    matmul_forward_gpu(mc, pre, inp, weight, bias, N, IC, OC, s);
    gelu_forward_gpu(out, pre, (long long)N * OC, s);
}

// The backward pass of out = gelu(pre) @ W^T + b (inp = gelu(pre)): dpre
// (N,IC) = (dout W) * gelu'(pre), overwritten; weight gradients as
// matmul_backward_gpu's.
static inline void matmul_backward_dgelu_gpu(MatmulContext *mc, floatX *dpre, float *dweight, float *dbias,
                                             const floatX *dout, const floatX *inp, const floatX *weight,
                                             const floatX *pre, int N, int IC, int OC, cudaStream_t s) {
    int fused = 0;
#ifndef ENABLE_FP32
    fused = lt_matmul_epi(mc, dpre, CUDA_FLOATX, weight, dout, CUDA_FLOATX, IC, N, OC, 0, 0, 0.0f, MM_EPI_DGELU, NULL,
                          (void *)pre, s);
#endif
    if (!fused) {
        lt_matmul(mc, dpre, CUDA_FLOATX, weight, dout, CUDA_FLOATX, IC, N, OC, 0, 0, 0.0f, NULL, s);
        gelu_backward_gpu(dpre, pre, (long long)N * IC, s);
    }
    matmul_weight_grads_gpu(mc, dweight, dbias, dout, inp, N, IC, OC, s);
}
#endif
