// Row-major sgemm/sgemv, plainly (see cblas.h beside it).
#include "cblas.h"

void cblas_sgemm(enum CBLAS_ORDER order, enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb, int M, int N, int K,
                 float alpha, const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    (void)order;  // row-major only
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0.0;
            for (int k = 0; k < K; k++) {
                float a = ta == CblasNoTrans ? A[(long)i * lda + k] : A[(long)k * lda + i];
                float b = tb == CblasNoTrans ? B[(long)k * ldb + j] : B[(long)j * ldb + k];
                s += (double)a * b;
            }
            float *c = &C[(long)i * ldc + j];
            *c = (float)(alpha * s + (beta == 0.0f ? 0.0 : (double)beta * *c));
        }
}

void cblas_sgemv(enum CBLAS_ORDER order, enum CBLAS_TRANSPOSE ta, int M, int N, float alpha, const float *A, int lda,
                 const float *x, int incx, float beta, float *y, int incy) {
    (void)order;
    int rows = ta == CblasNoTrans ? M : N, cols = ta == CblasNoTrans ? N : M;
    for (int i = 0; i < rows; i++) {
        double s = 0.0;
        for (int k = 0; k < cols; k++) {
            float a = ta == CblasNoTrans ? A[(long)i * lda + k] : A[(long)k * lda + i];
            s += (double)a * x[(long)k * incx];
        }
        float *yy = &y[(long)i * incy];
        *yy = (float)(alpha * s + (beta == 0.0f ? 0.0 : (double)beta * *yy));
    }
}
