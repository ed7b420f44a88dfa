// A stand-in for OpenBLAS's cblas.h on a GPU machine without OpenBLAS: just
// what model/cpu_layers.c calls, implemented plainly in cblas_shim.c. Used
// only by scripts/gpu_check.sh to build the CPU reference there.
#ifndef TEST_GPU_SHIM_CBLAS_H
#define TEST_GPU_SHIM_CBLAS_H
enum CBLAS_ORDER { CblasRowMajor = 101, CblasColMajor = 102 };
enum CBLAS_TRANSPOSE { CblasNoTrans = 111, CblasTrans = 112 };
void cblas_sgemm(enum CBLAS_ORDER order, enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb, int M, int N, int K,
                 float alpha, const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);
void cblas_sgemv(enum CBLAS_ORDER order, enum CBLAS_TRANSPOSE ta, int M, int N, float alpha, const float *A, int lda,
                 const float *x, int incx, float beta, float *y, int incy);
#endif
