/*
 * emu_cublas.cpp (CUDA emulator, tests/cuemu) — the cuBLAS entries of
 * include/cublas_v2.h on the CPU, through OpenBLAS's CBLAS in column-major
 * order, which is cuBLAS's own: each call's arguments mean exactly what they
 * mean to cuBLAS. Arguments are checked as cuBLAS documents
 * (CUBLAS_STATUS_INVALID_VALUE), so a wrong leading dimension or transpose
 * flag in matmul.cu / solver.cu fails here as it would on a GPU.
 *
 * GemmEx with half inputs: both operands are widened to float32, multiplied
 * with sgemm (float32 sums, as CUBLAS_COMPUTE_32F) and the result rounded
 * once to the output type.
 */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include <vector>

#include "cublas_v2.h"
#include "cuda_runtime.h"
#include "scalar_ops.h"

struct npg_emu_cublas_ctx {
    npg_emu_stream_t stream;
    cublasMath_t math;
    cublasPointerMode_t pmode;
};

cublasStatus_t cublasCreate(cublasHandle_t *h) {
    if (!h) return CUBLAS_STATUS_INVALID_VALUE;
    *h = new npg_emu_cublas_ctx{nullptr, CUBLAS_DEFAULT_MATH, CUBLAS_POINTER_MODE_HOST};
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasDestroy(cublasHandle_t h) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    delete h;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetStream(cublasHandle_t h, npg_emu_stream_t s) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    h->stream = s;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetMathMode(cublasHandle_t h, cublasMath_t m) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    h->math = m;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasGetMathMode(cublasHandle_t h, cublasMath_t *m) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    *m = h->math;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetPointerMode(cublasHandle_t h, cublasPointerMode_t m) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    h->pmode = m;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasGetPointerMode(cublasHandle_t h, cublasPointerMode_t *m) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    *m = h->pmode;
    return CUBLAS_STATUS_SUCCESS;
}
const char *cublasGetStatusString(cublasStatus_t s) {
    switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    default: return "CUBLAS_STATUS_UNKNOWN";
    }
}

namespace {
bool op_ok(cublasOperation_t t) { return t == CUBLAS_OP_N || t == CUBLAS_OP_T || t == CUBLAS_OP_C; }
CBLAS_TRANSPOSE cb(cublasOperation_t t) { return t == CUBLAS_OP_N ? CblasNoTrans : CblasTrans; }
int imax(int a, int b) { return a > b ? a : b; }

/* cublas<t>gemm's checks: sizes >= 0, lda >= max(1, rows of op(A) stored) ... */
cublasStatus_t gemm_check(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, int lda,
                          int ldb, int ldc, int batch) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (!op_ok(ta) || !op_ok(tb) || m < 0 || n < 0 || k < 0 || batch < 0) return CUBLAS_STATUS_INVALID_VALUE;
    if (lda < imax(1, ta == CUBLAS_OP_N ? m : k)) return CUBLAS_STATUS_INVALID_VALUE;
    if (ldb < imax(1, tb == CUBLAS_OP_N ? k : n)) return CUBLAS_STATUS_INVALID_VALUE;
    if (ldc < imax(1, m)) return CUBLAS_STATUS_INVALID_VALUE;
    return CUBLAS_STATUS_SUCCESS;
}

/* C = alpha op(A) op(B) + beta C; with k == 0 (or alpha == 0) cuBLAS only scales C (beta == 0: zeros, even over NaN). */
template <class T>
void gemm1(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, T alpha, const T *A, int lda, const T *B,
           int ldb, T beta, T *C, int ldc) {
    if (m == 0 || n == 0) return;
    if (k == 0 || alpha == 0) {
        for (int j = 0; j < n; j++)
            for (int i = 0; i < m; i++) C[i + (size_t)j * ldc] = beta == 0 ? T(0) : beta * C[i + (size_t)j * ldc];
        return;
    }
    if (beta == 0) /* BLAS reads C when beta != 0 only; make NaN garbage in C harmless as cuBLAS does */
        for (int j = 0; j < n; j++)
            for (int i = 0; i < m; i++) C[i + (size_t)j * ldc] = 0;
    if constexpr (sizeof(T) == 4)
        cblas_sgemm(CblasColMajor, cb(ta), cb(tb), m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
    else
        cblas_dgemm(CblasColMajor, cb(ta), cb(tb), m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}

template <class T> T scalar(cublasHandle_t, const T *p) { return *p; } /* host and device pointers: host memory */

/* a half / float operand as float32 (the columns op() reads: rows x cols with leading dimension ld) */
std::vector<float> widen(const void *p, cudaDataType t, int rows, int cols, int ld) {
    std::vector<float> out((size_t)ld * (cols > 0 ? cols - 1 : 0) + (cols > 0 ? rows : 0));
    for (int j = 0; j < cols; j++)
        for (int i = 0; i < rows; i++) {
            size_t o = i + (size_t)j * ld;
            const uint16_t *h = (const uint16_t *)p;
            out[o] = t == CUDA_R_16F ? npg_s_f16_to_f32(h[o]) : t == CUDA_R_16BF ? npg_s_bf16_to_f32(h[o]) : ((const float *)p)[o];
        }
    return out;
}

cublasStatus_t gemm_ex(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                       const void *alpha, const void *A, cudaDataType At, int lda, long long sa, const void *B,
                       cudaDataType Bt, int ldb, long long sb, const void *beta, void *C, cudaDataType Ct, int ldc,
                       long long sc, int batch, cublasComputeType_t ct) {
    cublasStatus_t s = gemm_check(h, ta, tb, m, n, k, lda, ldb, ldc, batch);
    if (s != CUBLAS_STATUS_SUCCESS) return s;
    const npg_emu_device_window window; /* reads and writes device memory */
    auto half_or_f32 = [](cudaDataType t) { return t == CUDA_R_16F || t == CUDA_R_16BF || t == CUDA_R_32F; };
    /* the supported combinations npg uses: A, B of one type; compute 32F; C that type or float32 */
    if (At != Bt || !half_or_f32(At) || !(Ct == At || Ct == CUDA_R_32F) ||
        !(ct == CUBLAS_COMPUTE_32F || ct == CUBLAS_COMPUTE_32F_FAST_TF32))
        return CUBLAS_STATUS_NOT_SUPPORTED;
    const float al = *(const float *)alpha, be = *(const float *)beta; /* 32F compute: float scalars */
    const size_t es = At == CUDA_R_32F ? 4 : 2, ecs = Ct == CUDA_R_32F ? 4 : 2;
    const int ar = ta == CUBLAS_OP_N ? m : k, ac = ta == CUBLAS_OP_N ? k : m;
    const int br = tb == CUBLAS_OP_N ? k : n, bc = tb == CUBLAS_OP_N ? n : k;
    for (int b = 0; b < batch; b++) {
        std::vector<float> a = widen((const char *)A + (size_t)(sa * b) * es, At, ar, ac, lda);
        std::vector<float> bb = widen((const char *)B + (size_t)(sb * b) * es, Bt, br, bc, ldb);
        std::vector<float> c = widen((const char *)C + (size_t)(sc * b) * ecs, Ct, m, n, ldc);
        gemm1<float>(ta, tb, m, n, k, al, a.data(), lda, bb.data(), ldb, be, c.data(), ldc);
        char *cp = (char *)C + (size_t)(sc * b) * ecs;
        for (int j = 0; j < n; j++)
            for (int i = 0; i < m; i++) {
                size_t o = i + (size_t)j * ldc;
                if (Ct == CUDA_R_32F) ((float *)cp)[o] = c[o];
                else ((uint16_t *)cp)[o] = Ct == CUDA_R_16F ? npg_s_f32_to_f16(c[o]) : npg_s_f32_to_bf16(c[o]);
            }
    }
    return CUBLAS_STATUS_SUCCESS;
}

template <class T>
cublasStatus_t gemm_batched(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                            const T *alpha, const T *A, int lda, long long sa, const T *B, int ldb, long long sb,
                            const T *beta, T *C, int ldc, long long sc, int batch) {
    cublasStatus_t s = gemm_check(h, ta, tb, m, n, k, lda, ldb, ldc, batch);
    if (s != CUBLAS_STATUS_SUCCESS) return s;
    const npg_emu_device_window window;
    for (int b = 0; b < batch; b++)
        gemm1<T>(ta, tb, m, n, k, scalar(h, alpha), A + sa * b, lda, B + sb * b, ldb, scalar(h, beta), C + sc * b, ldc);
    return CUBLAS_STATUS_SUCCESS;
}

template <class T>
cublasStatus_t trsm(cublasHandle_t h, cublasSideMode_t side, cublasFillMode_t uplo, cublasOperation_t trans,
                    cublasDiagType_t diag, int m, int n, const T *alpha, const T *A, int lda, T *B, int ldb) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    if ((side != CUBLAS_SIDE_LEFT && side != CUBLAS_SIDE_RIGHT) ||
        (uplo != CUBLAS_FILL_MODE_LOWER && uplo != CUBLAS_FILL_MODE_UPPER) || !op_ok(trans) ||
        (diag != CUBLAS_DIAG_UNIT && diag != CUBLAS_DIAG_NON_UNIT) || m < 0 || n < 0 ||
        lda < imax(1, side == CUBLAS_SIDE_LEFT ? m : n) || ldb < imax(1, m))
        return CUBLAS_STATUS_INVALID_VALUE;
    if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
    const npg_emu_device_window window;
    const CBLAS_SIDE sd = side == CUBLAS_SIDE_LEFT ? CblasLeft : CblasRight;
    const CBLAS_UPLO ul = uplo == CUBLAS_FILL_MODE_LOWER ? CblasLower : CblasUpper;
    const CBLAS_DIAG dg = diag == CUBLAS_DIAG_UNIT ? CblasUnit : CblasNonUnit;
    if constexpr (sizeof(T) == 4)
        cblas_strsm(CblasColMajor, sd, ul, cb(trans), dg, m, n, *alpha, A, lda, B, ldb);
    else
        cblas_dtrsm(CblasColMajor, sd, ul, cb(trans), dg, m, n, *alpha, A, lda, B, ldb);
    return CUBLAS_STATUS_SUCCESS;
}
} // namespace

cublasStatus_t cublasSgemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                           const float *alpha, const float *A, int lda, const float *B, int ldb, const float *beta,
                           float *C, int ldc) {
    return gemm_batched<float>(h, ta, tb, m, n, k, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0, 1);
}
cublasStatus_t cublasDgemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                           const double *alpha, const double *A, int lda, const double *B, int ldb,
                           const double *beta, double *C, int ldc) {
    return gemm_batched<double>(h, ta, tb, m, n, k, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0, 1);
}
cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                         int k, const float *alpha, const float *A, int lda, long long sa,
                                         const float *B, int ldb, long long sb, const float *beta, float *C, int ldc,
                                         long long sc, int batch) {
    return gemm_batched<float>(h, ta, tb, m, n, k, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc, sc, batch);
}
cublasStatus_t cublasDgemmStridedBatched(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                         int k, const double *alpha, const double *A, int lda, long long sa,
                                         const double *B, int ldb, long long sb, const double *beta, double *C,
                                         int ldc, long long sc, int batch) {
    return gemm_batched<double>(h, ta, tb, m, n, k, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc, sc, batch);
}
cublasStatus_t cublasGemmEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                            const void *alpha, const void *A, cudaDataType At, int lda, const void *B, cudaDataType Bt,
                            int ldb, const void *beta, void *C, cudaDataType Ct, int ldc, cublasComputeType_t ct,
                            cublasGemmAlgo_t) {
    return gemm_ex(h, ta, tb, m, n, k, alpha, A, At, lda, 0, B, Bt, ldb, 0, beta, C, Ct, ldc, 0, 1, ct);
}
cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                          int k, const void *alpha, const void *A, cudaDataType At, int lda,
                                          long long sa, const void *B, cudaDataType Bt, int ldb, long long sb,
                                          const void *beta, void *C, cudaDataType Ct, int ldc, long long sc, int batch,
                                          cublasComputeType_t ct, cublasGemmAlgo_t) {
    return gemm_ex(h, ta, tb, m, n, k, alpha, A, At, lda, sa, B, Bt, ldb, sb, beta, C, Ct, ldc, sc, batch, ct);
}
cublasStatus_t cublasStrsm(cublasHandle_t h, cublasSideMode_t side, cublasFillMode_t uplo, cublasOperation_t trans,
                           cublasDiagType_t diag, int m, int n, const float *alpha, const float *A, int lda, float *B,
                           int ldb) {
    return trsm<float>(h, side, uplo, trans, diag, m, n, alpha, A, lda, B, ldb);
}
cublasStatus_t cublasDtrsm(cublasHandle_t h, cublasSideMode_t side, cublasFillMode_t uplo, cublasOperation_t trans,
                           cublasDiagType_t diag, int m, int n, const double *alpha, const double *A, int lda,
                           double *B, int ldb) {
    return trsm<double>(h, side, uplo, trans, diag, m, n, alpha, A, lda, B, ldb);
}
