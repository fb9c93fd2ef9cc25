/*
 * solver.cu — dense linear algebra (backend.h's "dense linear algebra"
 * entries): potrf, getrf, getrs, syevd, gesvd and qr through cuSOLVER's
 * classic dense API (cusolverDn{S,D}*), trsm through cuBLAS.
 *
 * Every batch is a loop on the host over its matrices (column-major,
 * contiguous, one after another), all queued on the device's stream; each
 * call makes one workspace-size query and takes one workspace from the
 * scratch pool for the whole batch. The classic API takes int sizes: a
 * matrix of 2^31 or more elements, or a workspace that large, is
 * NPG_ERR_UNSUPPORTED (the CPU backend's limit as well).
 *
 * The cuSOLVER handle is created on first use, one per device, bound to the
 * device's stream; a cuSOLVER handle is not safe to use from two threads at
 * once, so each entry holds that device's solver lock while it queues work.
 * trsm uses the context's shared cuBLAS handle under ctx->blas_lock (the
 * same discipline as matmul.cu), in CUBLAS_DEFAULT_MATH and host pointer
 * mode.
 *
 * info: potrf, getrf, syevd and gesvd write one devInfo per matrix, copy
 * them to the caller's host array and synchronise the stream. cuSOLVER's
 * info < 0 (a rejected argument: a bug here, not a numerical failure) is
 * NPG_ERR_INTERNAL, as on the CPU. getrs, trsm and qr have no info and stay asynchronous (their
 * devInfo only reports bad arguments and is not read).
 *
 * qr: geqrf in place on a; r = the upper trapezoid of a's first qc rows
 * (zeros below the diagonal); q = a's k = min(m, n) reflector columns
 * followed by unit columns, then orgqr forms the m x qc orthonormal factor.
 */
#include "common.cuh"

#include <cusolverDn.h>
#include <limits.h>

#include <algorithm>
#include <mutex>

/* ---- errors ------------------------------------------------------------------- */

static const char *npg_cu_solver_status_name(cusolverStatus_t s) {
    switch (s) {
    case CUSOLVER_STATUS_NOT_INITIALIZED: return "not initialized";
    case CUSOLVER_STATUS_ALLOC_FAILED: return "allocation failed";
    case CUSOLVER_STATUS_INVALID_VALUE: return "invalid value";
    case CUSOLVER_STATUS_ARCH_MISMATCH: return "architecture mismatch";
    case CUSOLVER_STATUS_MAPPING_ERROR: return "mapping error";
    case CUSOLVER_STATUS_EXECUTION_FAILED: return "execution failed";
    case CUSOLVER_STATUS_INTERNAL_ERROR: return "internal error";
    case CUSOLVER_STATUS_MATRIX_TYPE_NOT_SUPPORTED: return "matrix type not supported";
    case CUSOLVER_STATUS_NOT_SUPPORTED: return "not supported";
    case CUSOLVER_STATUS_INVALID_WORKSPACE: return "invalid workspace";
    default: return "error";
    }
}

/* A cuSOLVER status as an npg error (allocation failure -> NPG_ERR_OOM);
 * `what` names the entry and, where it has several, the routine
 * (e.g. "qr (orgqr)"). */
static npg_status npg_cu_solver_fail(cusolverStatus_t s, const char *what) {
    (void)cudaGetLastError();
    if (s == CUSOLVER_STATUS_ALLOC_FAILED)
        return npg__set_error(NPG_ERR_OOM, "cuda %s: cuSOLVER could not allocate memory", what);
    return npg__set_error(NPG_ERR_CUDA, "cuda %s: cuSOLVER: %s (status %d)", what, npg_cu_solver_status_name(s),
                          (int)s);
}

#define NPG_CU_SOLVER_TRY(call, what)                                                      \
    do {                                                                                   \
        cusolverStatus_t npg_ss_ = (call);                                                 \
        if (npg_ss_ != CUSOLVER_STATUS_SUCCESS) return npg_cu_solver_fail(npg_ss_, (what)); \
    } while (0)

#define NPG_CU_OK_OR_RETURN(expr)                \
    do {                                         \
        npg_status npg_st2_ = (expr);            \
        if (npg_st2_ != NPG_OK) return npg_st2_; \
    } while (0)

/* The classic API's int arguments. */
/* cuSOLVER's classic API takes int sizes, and its workspaces grow with the
 * matrix: an (r x c) matrix must have fewer than 2^31 elements, the CPU
 * backend's LAPACK limit too, so both refuse the same sizes. */
static npg_status npg_cu_check_mat(const char *entry, int64_t r, int64_t c) {
    if (r > INT_MAX / 2 || c > INT_MAX / 2 || (c > 0 && r > INT_MAX / c))
        return npg__set_error(NPG_ERR_UNSUPPORTED, "cuda %s: a %lld x %lld matrix exceeds cuSOLVER's 32-bit sizes",
                              entry, (long long)r, (long long)c);
    return NPG_OK;
}

/* A workspace size that overflowed int in cuSOLVER comes back negative. */
static npg_status npg_cu_check_lwork(const char *entry, int lwork) {
    if (lwork < 0)
        return npg__set_error(NPG_ERR_UNSUPPORTED, "cuda %s: the workspace exceeds cuSOLVER's 32-bit sizes", entry);
    return NPG_OK;
}

/* ---- the per-device cuSOLVER handle -------------------------------------------------- */

struct npg_cu_solver_slot {
    std::mutex lock;
    cusolverDnHandle_t handle; /* created on first use, bound to the device's stream; never destroyed */
};
static npg_cu_solver_slot g_solver[NPG_CU_MAX_DEVICES];

/* Holds the device's solver lock for its lifetime; handle() creates the
 * handle on first use (ctx's device is current: NPG_CU_CTX made it so). */
struct npg_cu_solver {
    npg_cu_ctx *ctx;
    std::lock_guard<std::mutex> guard;
    explicit npg_cu_solver(npg_cu_ctx *c) : ctx(c), guard(g_solver[c->dev].lock) {}
    npg_cu_solver(const npg_cu_solver &) = delete;
    npg_cu_solver &operator=(const npg_cu_solver &) = delete;

    npg_status handle(cusolverDnHandle_t *out, const char *what) {
        npg_cu_solver_slot &s = g_solver[ctx->dev];
        if (!s.handle) {
            cusolverDnHandle_t h = nullptr;
            cusolverStatus_t st = cusolverDnCreate(&h);
            if (st == CUSOLVER_STATUS_SUCCESS) st = cusolverDnSetStream(h, ctx->stream);
            if (st != CUSOLVER_STATUS_SUCCESS) {
                if (h) cusolverDnDestroy(h);
                return npg_cu_solver_fail(st, what);
            }
            s.handle = h;
        }
        *out = s.handle;
        return NPG_OK;
    }
};

/* ---- stream-ordered scratch, returned when it goes out of scope ------------------------- */

/* Freed after everything that uses it is queued (its scope ends after the
 * last call), which is all npg_cu_scratch_free asks. */
struct npg_cu_tmp {
    npg_cu_ctx *ctx;
    void *p = nullptr;
    size_t bytes = 0;
    explicit npg_cu_tmp(npg_cu_ctx *c) : ctx(c) {}
    npg_cu_tmp(const npg_cu_tmp &) = delete;
    npg_cu_tmp &operator=(const npg_cu_tmp &) = delete;
    ~npg_cu_tmp() {
        if (p) npg_cu_scratch_free(ctx, p, bytes);
    }
    npg_status get(size_t nbytes, const char *what) {
        bytes = std::max<size_t>(nbytes, 16);
        return npg_cu_scratch(ctx, bytes, &p, what);
    }
    template <class T> T *as() const { return (T *)p; }
};

/* Copy the batch's device infos to the caller's host array, synchronise, and
 * turn a cuSOLVER "argument i is wrong" (info < 0) into an error. A NULL
 * info (the caller does not want it: det's getrf) stays asynchronous. */
static npg_status npg_cu_solver_infos(npg_cu_ctx *ctx, int *info, const int *dinfo, int64_t batch,
                                      const char *entry) {
    if (!info) return NPG_OK;
    NPG_CU_TRY(cudaMemcpyAsync(info, dinfo, sizeof(int) * (size_t)batch, cudaMemcpyDeviceToHost, ctx->stream), entry);
    NPG_CU_TRY(cudaStreamSynchronize(ctx->stream), entry);
    for (int64_t k = 0; k < batch; k++)
        if (info[k] < 0)
            return npg__set_error(NPG_ERR_INTERNAL, "cuda %s: cuSOLVER rejected argument %d (matrix %lld of the batch)",
                                  entry, -info[k], (long long)k);
    return NPG_OK;
}

/* ---- float / double overloads of the cuSOLVER calls ------------------------------------ */

/* potrf (lower) */
static inline cusolverStatus_t sv_potrf_bs(cusolverDnHandle_t h, int n, float *a, int *lw) {
    return cusolverDnSpotrf_bufferSize(h, CUBLAS_FILL_MODE_LOWER, n, a, n, lw);
}
static inline cusolverStatus_t sv_potrf_bs(cusolverDnHandle_t h, int n, double *a, int *lw) {
    return cusolverDnDpotrf_bufferSize(h, CUBLAS_FILL_MODE_LOWER, n, a, n, lw);
}
static inline cusolverStatus_t sv_potrf(cusolverDnHandle_t h, int n, float *a, float *w, int lw, int *info) {
    return cusolverDnSpotrf(h, CUBLAS_FILL_MODE_LOWER, n, a, n, w, lw, info);
}
static inline cusolverStatus_t sv_potrf(cusolverDnHandle_t h, int n, double *a, double *w, int lw, int *info) {
    return cusolverDnDpotrf(h, CUBLAS_FILL_MODE_LOWER, n, a, n, w, lw, info);
}

/* getrf (square) / getrs */
static inline cusolverStatus_t sv_getrf_bs(cusolverDnHandle_t h, int n, float *a, int *lw) {
    return cusolverDnSgetrf_bufferSize(h, n, n, a, n, lw);
}
static inline cusolverStatus_t sv_getrf_bs(cusolverDnHandle_t h, int n, double *a, int *lw) {
    return cusolverDnDgetrf_bufferSize(h, n, n, a, n, lw);
}
static inline cusolverStatus_t sv_getrf(cusolverDnHandle_t h, int n, float *a, float *w, int *piv, int *info) {
    return cusolverDnSgetrf(h, n, n, a, n, w, piv, info);
}
static inline cusolverStatus_t sv_getrf(cusolverDnHandle_t h, int n, double *a, double *w, int *piv, int *info) {
    return cusolverDnDgetrf(h, n, n, a, n, w, piv, info);
}
static inline cusolverStatus_t sv_getrs(cusolverDnHandle_t h, cublasOperation_t op, int n, int nrhs, const float *lu,
                                        const int *piv, float *b, int *info) {
    return cusolverDnSgetrs(h, op, n, nrhs, lu, n, piv, b, n, info);
}
static inline cusolverStatus_t sv_getrs(cusolverDnHandle_t h, cublasOperation_t op, int n, int nrhs, const double *lu,
                                        const int *piv, double *b, int *info) {
    return cusolverDnDgetrs(h, op, n, nrhs, lu, n, piv, b, n, info);
}

/* geqrf / orgqr (lda = m) */
static inline cusolverStatus_t sv_geqrf_bs(cusolverDnHandle_t h, int m, int n, float *a, int *lw) {
    return cusolverDnSgeqrf_bufferSize(h, m, n, a, m, lw);
}
static inline cusolverStatus_t sv_geqrf_bs(cusolverDnHandle_t h, int m, int n, double *a, int *lw) {
    return cusolverDnDgeqrf_bufferSize(h, m, n, a, m, lw);
}
static inline cusolverStatus_t sv_geqrf(cusolverDnHandle_t h, int m, int n, float *a, float *tau, float *w, int lw,
                                        int *info) {
    return cusolverDnSgeqrf(h, m, n, a, m, tau, w, lw, info);
}
static inline cusolverStatus_t sv_geqrf(cusolverDnHandle_t h, int m, int n, double *a, double *tau, double *w, int lw,
                                        int *info) {
    return cusolverDnDgeqrf(h, m, n, a, m, tau, w, lw, info);
}
static inline cusolverStatus_t sv_orgqr_bs(cusolverDnHandle_t h, int m, int n, int k, const float *q, const float *tau,
                                           int *lw) {
    return cusolverDnSorgqr_bufferSize(h, m, n, k, q, m, tau, lw);
}
static inline cusolverStatus_t sv_orgqr_bs(cusolverDnHandle_t h, int m, int n, int k, const double *q,
                                           const double *tau, int *lw) {
    return cusolverDnDorgqr_bufferSize(h, m, n, k, q, m, tau, lw);
}
static inline cusolverStatus_t sv_orgqr(cusolverDnHandle_t h, int m, int n, int k, float *q, const float *tau,
                                        float *w, int lw, int *info) {
    return cusolverDnSorgqr(h, m, n, k, q, m, tau, w, lw, info);
}
static inline cusolverStatus_t sv_orgqr(cusolverDnHandle_t h, int m, int n, int k, double *q, const double *tau,
                                        double *w, int lw, int *info) {
    return cusolverDnDorgqr(h, m, n, k, q, m, tau, w, lw, info);
}

/* syevd (lower, lda = n) */
static inline cusolverStatus_t sv_syevd_bs(cusolverDnHandle_t h, cusolverEigMode_t jobz, int n, const float *a,
                                           const float *w, int *lw) {
    return cusolverDnSsyevd_bufferSize(h, jobz, CUBLAS_FILL_MODE_LOWER, n, a, n, w, lw);
}
static inline cusolverStatus_t sv_syevd_bs(cusolverDnHandle_t h, cusolverEigMode_t jobz, int n, const double *a,
                                           const double *w, int *lw) {
    return cusolverDnDsyevd_bufferSize(h, jobz, CUBLAS_FILL_MODE_LOWER, n, a, n, w, lw);
}
static inline cusolverStatus_t sv_syevd(cusolverDnHandle_t h, cusolverEigMode_t jobz, int n, float *a, float *w,
                                        float *work, int lw, int *info) {
    return cusolverDnSsyevd(h, jobz, CUBLAS_FILL_MODE_LOWER, n, a, n, w, work, lw, info);
}
static inline cusolverStatus_t sv_syevd(cusolverDnHandle_t h, cusolverEigMode_t jobz, int n, double *a, double *w,
                                        double *work, int lw, int *info) {
    return cusolverDnDsyevd(h, jobz, CUBLAS_FILL_MODE_LOWER, n, a, n, w, work, lw, info);
}

/* gesvd (lda = ldu = m, ldvt = n; rwork not wanted) */
static inline cusolverStatus_t sv_gesvd_bs(cusolverDnHandle_t h, int m, int n, float *, int *lw) {
    return cusolverDnSgesvd_bufferSize(h, m, n, lw);
}
static inline cusolverStatus_t sv_gesvd_bs(cusolverDnHandle_t h, int m, int n, double *, int *lw) {
    return cusolverDnDgesvd_bufferSize(h, m, n, lw);
}
static inline cusolverStatus_t sv_gesvd(cusolverDnHandle_t h, signed char jobu, signed char jobvt, int m, int n,
                                        float *a, float *s, float *u, float *vt, float *w, int lw, int *info) {
    return cusolverDnSgesvd(h, jobu, jobvt, m, n, a, m, s, u, m, vt, n, w, lw, nullptr, info);
}
static inline cusolverStatus_t sv_gesvd(cusolverDnHandle_t h, signed char jobu, signed char jobvt, int m, int n,
                                        double *a, double *s, double *u, double *vt, double *w, int lw, int *info) {
    return cusolverDnDgesvd(h, jobu, jobvt, m, n, a, m, s, u, m, vt, n, w, lw, nullptr, info);
}

/* trsm (side left, alpha host pointer) */
static inline cublasStatus_t bl_trsm(cublasHandle_t h, cublasFillMode_t uplo, cublasOperation_t op,
                                     cublasDiagType_t diag, int n, int nrhs, const float *a, float *b) {
    const float one = 1.0f;
    return cublasStrsm(h, CUBLAS_SIDE_LEFT, uplo, op, diag, n, nrhs, &one, a, n, b, n);
}
static inline cublasStatus_t bl_trsm(cublasHandle_t h, cublasFillMode_t uplo, cublasOperation_t op,
                                     cublasDiagType_t diag, int n, int nrhs, const double *a, double *b) {
    const double one = 1.0;
    return cublasDtrsm(h, CUBLAS_SIDE_LEFT, uplo, op, diag, n, nrhs, &one, a, n, b, n);
}

/* ---- qr's kernels --------------------------------------------------------------------------- */

/* r (batch, qc, n) col-major: r(i, j) = i <= j ? a(i, j) : 0, a (batch, m, n)
 * col-major holding geqrf's output (qc <= m). */
template <class T>
__global__ void npg_cu_qr_r_kernel(T *r, const T *a, int64_t m, int64_t n, int64_t qc, int64_t total) {
    const int64_t per = qc * n;
    for (int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
         idx += (int64_t)gridDim.x * blockDim.x) {
        const int64_t b = idx / per, rem = idx - b * per;
        const int64_t j = rem / qc, i = rem - j * qc;
        r[idx] = i <= j ? a[b * m * n + i + j * m] : T(0);
    }
}

/* q (batch, m, qc) col-major: columns j < k are a's reflector columns, the
 * rest columns of the identity (orgqr's input). */
template <class T>
__global__ void npg_cu_qr_q_kernel(T *q, const T *a, int64_t m, int64_t n, int64_t qc, int64_t k, int64_t total) {
    const int64_t per = m * qc;
    for (int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
         idx += (int64_t)gridDim.x * blockDim.x) {
        const int64_t b = idx / per, rem = idx - b * per;
        const int64_t j = rem / m, i = rem - j * m;
        q[idx] = j < k ? a[b * m * n + i + j * m] : (i == j ? T(1) : T(0));
    }
}

/* ---- getrf's NaN propagation ------------------------------------------------------------------ */

/* LAPACK's getrf carries a NaN entry into the factors; cuSOLVER's need not
 * (on an H100 a 3x3 matrix with one NaN gave a finite det, -30, and a finite
 * inverse). getrf marks each matrix of the batch holding a NaN before the
 * factorisation and fills its factors with NaN after, so det, slogdet, inv
 * and solve give NaN, as on the CPU. flag[k] is zeroed before the first
 * kernel; threads finding NaNs of one matrix all write the same 1. */
template <class T> __global__ void npg_cu_nan_mark_kernel(const T *a, int64_t nn, int64_t total, int *flag) {
    for (int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
         idx += (int64_t)gridDim.x * blockDim.x)
        if (a[idx] != a[idx]) flag[idx / nn] = 1;
}

template <class T> __global__ void npg_cu_nan_fill_kernel(T *a, int64_t nn, int64_t total, const int *flag) {
    for (int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
         idx += (int64_t)gridDim.x * blockDim.x)
        if (flag[idx / nn]) a[idx] = T(NAN);
}

/* ---- the entries, per dtype ----------------------------------------------------------------- */

template <class T> static npg_status npg_cu_potrf_t(npg_cu_ctx *ctx, int64_t batch, int n, T *a, int *info) {
    npg_cu_tmp dinfo(ctx), work(ctx);
    NPG_CU_OK_OR_RETURN(dinfo.get(sizeof(int) * (size_t)batch, "potrf"));
    {
        npg_cu_solver sv(ctx);
        cusolverDnHandle_t h = nullptr;
        NPG_CU_OK_OR_RETURN(sv.handle(&h, "potrf"));
        int lwork = 0;
        NPG_CU_SOLVER_TRY(sv_potrf_bs(h, n, a, &lwork), "potrf (potrf_bufferSize)");
        NPG_CU_OK_OR_RETURN(npg_cu_check_lwork("potrf", lwork));
        NPG_CU_OK_OR_RETURN(work.get(sizeof(T) * (size_t)std::max(lwork, 1), "potrf"));
        const int64_t nn = (int64_t)n * n;
        for (int64_t k = 0; k < batch; k++)
            NPG_CU_SOLVER_TRY(sv_potrf(h, n, a + k * nn, work.as<T>(), lwork, dinfo.as<int>() + k), "potrf");
    }
    return npg_cu_solver_infos(ctx, info, dinfo.as<int>(), batch, "potrf");
}

template <class T>
static npg_status npg_cu_getrf_t(npg_cu_ctx *ctx, int64_t batch, int n, T *a, int32_t *piv, int *info) {
    npg_cu_tmp dinfo(ctx), work(ctx), nanflag(ctx);
    NPG_CU_OK_OR_RETURN(dinfo.get(sizeof(int) * (size_t)batch, "getrf"));
    {
        npg_cu_solver sv(ctx);
        cusolverDnHandle_t h = nullptr;
        NPG_CU_OK_OR_RETURN(sv.handle(&h, "getrf"));
        int lwork = 0;
        NPG_CU_SOLVER_TRY(sv_getrf_bs(h, n, a, &lwork), "getrf (getrf_bufferSize)");
        NPG_CU_OK_OR_RETURN(npg_cu_check_lwork("getrf", lwork));
        NPG_CU_OK_OR_RETURN(work.get(sizeof(T) * (size_t)std::max(lwork, 1), "getrf"));
        const int64_t nn = (int64_t)n * n, total = batch * nn;
        NPG_CU_OK_OR_RETURN(nanflag.get(sizeof(int) * (size_t)batch, "getrf"));
        NPG_CU_TRY(cudaMemsetAsync(nanflag.as<int>(), 0, sizeof(int) * (size_t)batch, ctx->stream), "getrf");
        npg_cu_nan_mark_kernel<T><<<npg_cu_grid(ctx, total, 256), 256, 0, ctx->stream>>>(a, nn, total, nanflag.as<int>());
        NPG_CU_CHECK_LAUNCH("getrf");
        for (int64_t k = 0; k < batch; k++)
            NPG_CU_SOLVER_TRY(sv_getrf(h, n, a + k * nn, work.as<T>(), (int *)piv + k * n, dinfo.as<int>() + k),
                              "getrf");
        npg_cu_nan_fill_kernel<T><<<npg_cu_grid(ctx, total, 256), 256, 0, ctx->stream>>>(a, nn, total, nanflag.as<int>());
        NPG_CU_CHECK_LAUNCH("getrf");
    }
    return npg_cu_solver_infos(ctx, info, dinfo.as<int>(), batch, "getrf");
}

template <class T>
static npg_status npg_cu_getrs_t(npg_cu_ctx *ctx, int64_t batch, int n, int nrhs, const T *lu, const int32_t *piv,
                                 T *b, bool trans) {
    npg_cu_tmp dinfo(ctx); /* getrs' devInfo only flags bad arguments: one slot, never read */
    NPG_CU_OK_OR_RETURN(dinfo.get(sizeof(int), "getrs"));
    npg_cu_solver sv(ctx);
    cusolverDnHandle_t h = nullptr;
    NPG_CU_OK_OR_RETURN(sv.handle(&h, "getrs"));
    const cublasOperation_t op = trans ? CUBLAS_OP_T : CUBLAS_OP_N;
    const int64_t nn = (int64_t)n * n, nb = (int64_t)n * nrhs;
    for (int64_t k = 0; k < batch; k++)
        NPG_CU_SOLVER_TRY(sv_getrs(h, op, n, nrhs, lu + k * nn, (const int *)piv + k * n, b + k * nb, dinfo.as<int>()),
                          "getrs");
    return NPG_OK;
}

template <class T>
static npg_status npg_cu_trsm_t(npg_cu_ctx *ctx, int64_t batch, int n, int nrhs, const T *a, T *b, bool lower,
                                bool trans, bool unit) {
    /* the handle is shared by every thread (matmul.cu): hold its lock across
     * the mode settings and the solves that rely on them */
    struct blas_guard {
        pthread_mutex_t *m;
        explicit blas_guard(pthread_mutex_t *mu) : m(mu) { pthread_mutex_lock(m); }
        ~blas_guard() { pthread_mutex_unlock(m); }
    } guard(&ctx->blas_lock);
    if (ctx->blas_math != CUBLAS_DEFAULT_MATH) {
        NPG_CU_BLAS_TRY(cublasSetMathMode(ctx->blas, CUBLAS_DEFAULT_MATH), "trsm");
        ctx->blas_math = CUBLAS_DEFAULT_MATH;
    }
    cublasPointerMode_t pm = CUBLAS_POINTER_MODE_HOST;
    NPG_CU_BLAS_TRY(cublasGetPointerMode(ctx->blas, &pm), "trsm");
    if (pm != CUBLAS_POINTER_MODE_HOST)
        NPG_CU_BLAS_TRY(cublasSetPointerMode(ctx->blas, CUBLAS_POINTER_MODE_HOST), "trsm");
    const cublasFillMode_t uplo = lower ? CUBLAS_FILL_MODE_LOWER : CUBLAS_FILL_MODE_UPPER;
    const cublasOperation_t op = trans ? CUBLAS_OP_T : CUBLAS_OP_N;
    const cublasDiagType_t diag = unit ? CUBLAS_DIAG_UNIT : CUBLAS_DIAG_NON_UNIT;
    const int64_t nn = (int64_t)n * n, nb = (int64_t)n * nrhs;
    for (int64_t k = 0; k < batch; k++)
        NPG_CU_BLAS_TRY(bl_trsm(ctx->blas, uplo, op, diag, n, nrhs, a + k * nn, b + k * nb), "trsm");
    return NPG_OK;
}

template <class T>
static npg_status npg_cu_qr_t(npg_cu_ctx *ctx, int64_t batch, int m, int n, int qc, T *a, T *q, T *r) {
    const int kk = std::min(m, n); /* reflectors; kk <= qc <= m */
    npg_cu_tmp tau(ctx), dinfo(ctx), work(ctx);
    NPG_CU_OK_OR_RETURN(tau.get(sizeof(T) * (size_t)batch * (size_t)kk, "qr"));
    NPG_CU_OK_OR_RETURN(dinfo.get(sizeof(int), "qr")); /* geqrf/orgqr devInfo: bad arguments only, never read */
    npg_cu_solver sv(ctx);
    cusolverDnHandle_t h = nullptr;
    NPG_CU_OK_OR_RETURN(sv.handle(&h, "qr"));
    int lw_geqrf = 0, lw_orgqr = 0;
    NPG_CU_SOLVER_TRY(sv_geqrf_bs(h, m, n, a, &lw_geqrf), "qr (geqrf_bufferSize)");
    NPG_CU_SOLVER_TRY(sv_orgqr_bs(h, m, qc, kk, q, tau.as<T>(), &lw_orgqr), "qr (orgqr_bufferSize)");
    NPG_CU_OK_OR_RETURN(npg_cu_check_lwork("qr", std::min(lw_geqrf, lw_orgqr)));
    const int lwork = std::max(std::max(lw_geqrf, lw_orgqr), 1);
    NPG_CU_OK_OR_RETURN(work.get(sizeof(T) * (size_t)lwork, "qr"));

    /* 1. A = Q R in place: R above the diagonal, reflectors below, tau */
    const int64_t mn = (int64_t)m * n, mq = (int64_t)m * qc;
    for (int64_t k = 0; k < batch; k++)
        NPG_CU_SOLVER_TRY(sv_geqrf(h, m, n, a + k * mn, tau.as<T>() + k * kk, work.as<T>(), lwork, dinfo.as<int>()),
                          "qr (geqrf)");

    /* 2. r: the first qc rows of the upper trapezoid; q: orgqr's input */
    const int64_t r_total = batch * (int64_t)qc * n, q_total = batch * mq;
    npg_cu_qr_r_kernel<T><<<npg_cu_grid(ctx, r_total, 256), 256, 0, ctx->stream>>>(r, a, m, n, qc, r_total);
    NPG_CU_CHECK_LAUNCH("qr");
    npg_cu_qr_q_kernel<T><<<npg_cu_grid(ctx, q_total, 256), 256, 0, ctx->stream>>>(q, a, m, n, qc, kk, q_total);
    NPG_CU_CHECK_LAUNCH("qr");

    /* 3. q = the first qc columns of H(1) ... H(kk) */
    for (int64_t k = 0; k < batch; k++)
        NPG_CU_SOLVER_TRY(
            sv_orgqr(h, m, qc, kk, q + k * mq, tau.as<T>() + k * kk, work.as<T>(), lwork, dinfo.as<int>()),
            "qr (orgqr)");
    return NPG_OK;
}

template <class T>
static npg_status npg_cu_syevd_t(npg_cu_ctx *ctx, int64_t batch, int n, T *a, T *w, bool vectors, int *info) {
    npg_cu_tmp dinfo(ctx), work(ctx);
    NPG_CU_OK_OR_RETURN(dinfo.get(sizeof(int) * (size_t)batch, "syevd"));
    {
        npg_cu_solver sv(ctx);
        cusolverDnHandle_t h = nullptr;
        NPG_CU_OK_OR_RETURN(sv.handle(&h, "syevd"));
        const cusolverEigMode_t jobz = vectors ? CUSOLVER_EIG_MODE_VECTOR : CUSOLVER_EIG_MODE_NOVECTOR;
        int lwork = 0;
        NPG_CU_SOLVER_TRY(sv_syevd_bs(h, jobz, n, a, w, &lwork), "syevd (syevd_bufferSize)");
        NPG_CU_OK_OR_RETURN(npg_cu_check_lwork("syevd", lwork));
        NPG_CU_OK_OR_RETURN(work.get(sizeof(T) * (size_t)std::max(lwork, 1), "syevd"));
        const int64_t nn = (int64_t)n * n;
        for (int64_t k = 0; k < batch; k++)
            NPG_CU_SOLVER_TRY(sv_syevd(h, jobz, n, a + k * nn, w + k * n, work.as<T>(), lwork, dinfo.as<int>() + k),
                              "syevd");
    }
    return npg_cu_solver_infos(ctx, info, dinfo.as<int>(), batch, "syevd");
}

template <class T>
static npg_status npg_cu_gesvd_t(npg_cu_ctx *ctx, int64_t batch, int m, int n, bool full, T *a, T *s, T *u, T *vt,
                                 int *info) {
    const bool vectors = u != nullptr && vt != nullptr;
    const signed char jobu = !vectors ? 'N' : full ? 'A' : 'S';
    const signed char jobvt = vectors ? 'A' : 'N';
    const int64_t ucols = full ? m : n;
    npg_cu_tmp dinfo(ctx), work(ctx);
    NPG_CU_OK_OR_RETURN(dinfo.get(sizeof(int) * (size_t)batch, "gesvd"));
    {
        npg_cu_solver sv(ctx);
        cusolverDnHandle_t h = nullptr;
        NPG_CU_OK_OR_RETURN(sv.handle(&h, "gesvd"));
        int lwork = 0;
        NPG_CU_SOLVER_TRY(sv_gesvd_bs(h, m, n, a, &lwork), "gesvd (gesvd_bufferSize)");
        NPG_CU_OK_OR_RETURN(npg_cu_check_lwork("gesvd", lwork));
        NPG_CU_OK_OR_RETURN(work.get(sizeof(T) * (size_t)std::max(lwork, 1), "gesvd"));
        const int64_t mn = (int64_t)m * n, mu = (int64_t)m * ucols, nn = (int64_t)n * n;
        for (int64_t k = 0; k < batch; k++)
            NPG_CU_SOLVER_TRY(sv_gesvd(h, jobu, jobvt, m, n, a + k * mn, s + k * n, vectors ? u + k * mu : nullptr,
                                       vectors ? vt + k * nn : nullptr, work.as<T>(), lwork, dinfo.as<int>() + k),
                              "gesvd");
    }
    return npg_cu_solver_infos(ctx, info, dinfo.as<int>(), batch, "gesvd");
}

/* ---- entries ---------------------------------------------------------------------------------- */

npg_status npg_cu_potrf(int dev, npg_dtype dt, int64_t batch, int64_t n, void *a, int *info) {
    NPG_CU_CTX(ctx, dev);
    NPG_CU_OK_OR_RETURN(npg_cu_check_mat("potrf", n, n));
    switch (dt) {
    case NPG_FLOAT32: return npg_cu_potrf_t<float>(ctx, batch, (int)n, (float *)a, info);
    case NPG_FLOAT64: return npg_cu_potrf_t<double>(ctx, batch, (int)n, (double *)a, info);
    default: return npg_cu_unsupported("potrf", dt);
    }
}

npg_status npg_cu_getrf(int dev, npg_dtype dt, int64_t batch, int64_t n, void *a, int32_t *piv, int *info) {
    NPG_CU_CTX(ctx, dev);
    NPG_CU_OK_OR_RETURN(npg_cu_check_mat("getrf", n, n));
    switch (dt) {
    case NPG_FLOAT32: return npg_cu_getrf_t<float>(ctx, batch, (int)n, (float *)a, piv, info);
    case NPG_FLOAT64: return npg_cu_getrf_t<double>(ctx, batch, (int)n, (double *)a, piv, info);
    default: return npg_cu_unsupported("getrf", dt);
    }
}

npg_status npg_cu_getrs(int dev, npg_dtype dt, int64_t batch, int64_t n, int64_t nrhs, const void *lu,
                        const int32_t *piv, void *b, bool trans) {
    NPG_CU_CTX(ctx, dev);
    NPG_CU_OK_OR_RETURN(npg_cu_check_mat("getrs", n, n));
    NPG_CU_OK_OR_RETURN(npg_cu_check_mat("getrs", n, nrhs));
    switch (dt) {
    case NPG_FLOAT32:
        return npg_cu_getrs_t<float>(ctx, batch, (int)n, (int)nrhs, (const float *)lu, piv, (float *)b, trans);
    case NPG_FLOAT64:
        return npg_cu_getrs_t<double>(ctx, batch, (int)n, (int)nrhs, (const double *)lu, piv, (double *)b, trans);
    default: return npg_cu_unsupported("getrs", dt);
    }
}

npg_status npg_cu_trsm(int dev, npg_dtype dt, int64_t batch, int64_t n, int64_t nrhs, const void *a, void *b,
                       bool lower, bool trans, bool unit) {
    NPG_CU_CTX(ctx, dev);
    NPG_CU_OK_OR_RETURN(npg_cu_check_mat("trsm", n, n));
    NPG_CU_OK_OR_RETURN(npg_cu_check_mat("trsm", n, nrhs));
    switch (dt) {
    case NPG_FLOAT32:
        return npg_cu_trsm_t<float>(ctx, batch, (int)n, (int)nrhs, (const float *)a, (float *)b, lower, trans, unit);
    case NPG_FLOAT64:
        return npg_cu_trsm_t<double>(ctx, batch, (int)n, (int)nrhs, (const double *)a, (double *)b, lower, trans,
                                     unit);
    default: return npg_cu_unsupported("trsm", dt);
    }
}

npg_status npg_cu_qr(int dev, npg_dtype dt, int64_t batch, int64_t m, int64_t n, int64_t qc, void *a, void *q,
                     void *r) {
    NPG_CU_CTX(ctx, dev);
    NPG_CU_OK_OR_RETURN(npg_cu_check_mat("qr", m, n > qc ? n : qc));
    if (qc != std::min(m, n) && qc != m)
        return npg__set_error(NPG_ERR_INTERNAL, "cuda qr: qc = %lld must be min(m, n) or m (m = %lld, n = %lld)",
                              (long long)qc, (long long)m, (long long)n);
    switch (dt) {
    case NPG_FLOAT32:
        return npg_cu_qr_t<float>(ctx, batch, (int)m, (int)n, (int)qc, (float *)a, (float *)q, (float *)r);
    case NPG_FLOAT64:
        return npg_cu_qr_t<double>(ctx, batch, (int)m, (int)n, (int)qc, (double *)a, (double *)q, (double *)r);
    default: return npg_cu_unsupported("qr", dt);
    }
}

npg_status npg_cu_syevd(int dev, npg_dtype dt, int64_t batch, int64_t n, void *a, void *w, bool vectors, int *info) {
    NPG_CU_CTX(ctx, dev);
    NPG_CU_OK_OR_RETURN(npg_cu_check_mat("syevd", n, n));
    switch (dt) {
    case NPG_FLOAT32: return npg_cu_syevd_t<float>(ctx, batch, (int)n, (float *)a, (float *)w, vectors, info);
    case NPG_FLOAT64: return npg_cu_syevd_t<double>(ctx, batch, (int)n, (double *)a, (double *)w, vectors, info);
    default: return npg_cu_unsupported("syevd", dt);
    }
}

npg_status npg_cu_gesvd(int dev, npg_dtype dt, int64_t batch, int64_t m, int64_t n, bool full, void *a, void *s,
                        void *u, void *vt, int *info) {
    NPG_CU_CTX(ctx, dev);
    NPG_CU_OK_OR_RETURN(npg_cu_check_mat("gesvd", m, m));
    if (m < n)
        return npg__set_error(NPG_ERR_INTERNAL, "cuda gesvd: needs m >= n (m = %lld, n = %lld)", (long long)m,
                              (long long)n);
    switch (dt) {
    case NPG_FLOAT32:
        return npg_cu_gesvd_t<float>(ctx, batch, (int)m, (int)n, full, (float *)a, (float *)s, (float *)u,
                                     (float *)vt, info);
    case NPG_FLOAT64:
        return npg_cu_gesvd_t<double>(ctx, batch, (int)m, (int)n, full, (double *)a, (double *)s, (double *)u,
                                      (double *)vt, info);
    default: return npg_cu_unsupported("gesvd", dt);
    }
}
