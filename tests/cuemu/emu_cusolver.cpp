/*
 * emu_cusolver.cpp (CUDA emulator, tests/cuemu) — the CPU stand-in behind
 * include/cusolverDn.h: cuSOLVER's classic dense potrf, getrf, getrs,
 * geqrf, orgqr, syevd and gesvd (float and double) with their *_bufferSize
 * queries, computed with the Fortran LAPACK that OpenBLAS exports (LP64
 * integers; a hidden length follows the CHARACTER arguments, as in
 * src/cpu/lapack.c). Matrices are column-major host memory (the emulator's
 * device memory); every call completes before it returns.
 *
 * What the fake checks, to catch the caller's bugs rather than hide them:
 *  - the handle: NULL, never created or already destroyed ->
 *    CUSOLVER_STATUS_NOT_INITIALIZED (a registry of live handles under a
 *    mutex); a handle used by two threads at once (cuSOLVER handles are not
 *    thread safe) -> CUSOLVER_STATUS_INTERNAL_ERROR, also on Destroy.
 *  - the arguments cuSOLVER documents -> CUSOLVER_STATUS_INVALID_VALUE:
 *    negative sizes; lda < max(1, rows); getrs' ldb < max(1, n); orgqr's
 *    n > m or k > n; uplo other than LOWER / UPPER; trans other than
 *    N / T / C; jobz other than NOVECTOR / VECTOR; gesvd's jobu / jobvt
 *    other than 'A', 'S', 'O', 'N', both 'O', m < n (cuSOLVER's gesvd
 *    supports m >= n only), ldu < max(1, m) or ldvt < max(1, n) (as the
 *    cuSOLVER documentation states them, whatever the jobs); a NULL Lwork
 *    pointer, devInfo, or a NULL matrix / vector that the call would use.
 *  - the workspace: a compute call with Lwork smaller than its
 *    *_bufferSize answer for the same arguments, or a NULL workspace for a
 *    non-empty problem -> INVALID_VALUE. The caller's workspace (Lwork
 *    elements; getrf, which takes no Lwork: its bufferSize answer) is
 *    filled with 0xFF bytes (NaN) before the computation (an input that
 *    overlaps it is destroyed, as the GPU's scratch use would) and again
 *    after it (so nothing can be read back from it or assumed preserved).
 *    LAPACK's own workspace is allocated here (its lwork = -1 query).
 *  - getrs' devIpiv entries outside 1..n (an uninitialised or wrong pivot
 *    array; the GPU would read out of bounds) -> EXECUTION_FAILED.
 * Every status other than SUCCESS prints one "cuemu: ..." line on stderr
 * naming the function and the reason; nothing exits or aborts.
 *
 * Semantics (LAPACK's, as cuSOLVER's): devInfo gets 0, or for potrf the
 * order of the leading minor that is not positive definite, for getrf the
 * first exactly zero U(i,i) (the factorization still completes), for syevd
 * and gesvd LAPACK's count of what did not converge; getrs, geqrf and orgqr
 * write 0. devIpiv is 1-based; getrf with devIpiv == NULL factors without
 * pivoting (cuSOLVER's convention), and getrs with devIpiv == NULL then
 * applies no interchanges. gesvd: jobu 'A' gives U m x m, 'S' m x min(m,n),
 * 'O' overwrites A's first min(m,n) columns, 'N' leaves U alone (it may be
 * NULL), likewise jobvt for VT (n x n); rwork may be NULL, else it gets
 * LAPACK's min(m,n)-1 superdiagonal (meaningful when info > 0). syevd with
 * NOVECTOR leaves A destroyed (LAPACK's leftovers).
 *
 * The *_bufferSize answers, in elements, always at least 1: potrf 32 n,
 * getrf 32 max(m, n) (LAPACK needs none; the numbers stand for a blocked
 * panel and make the answer depend on the sizes), geqrf / orgqr / syevd
 * LAPACK's optimal lwork for the same arguments, gesvd the largest optimal
 * lwork over every legal (jobu, jobvt) pair for (m, n) (the query does not
 * know the jobs).
 *
 * Thread safety: calls on different handles may run at once; the only
 * shared state is the handle registry, under its mutex.
 */
#include "cuda_runtime.h" /* npg_emu_device_window: device memory is closed to the host outside device code */
#include "cusolverDn.h"

#include <climits>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <unordered_set>

extern "C" {
/* LAPACK (OpenBLAS, LP64); the trailing size_t are the CHARACTER lengths */
void spotrf_(const char *uplo, const int *n, float *a, const int *lda, int *info, size_t);
void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info, size_t);
void sgetrf_(const int *m, const int *n, float *a, const int *lda, int *ipiv, int *info);
void dgetrf_(const int *m, const int *n, double *a, const int *lda, int *ipiv, int *info);
void sgetrs_(const char *trans, const int *n, const int *nrhs, const float *a, const int *lda, const int *ipiv,
             float *b, const int *ldb, int *info, size_t);
void dgetrs_(const char *trans, const int *n, const int *nrhs, const double *a, const int *lda, const int *ipiv,
             double *b, const int *ldb, int *info, size_t);
void sgeqrf_(const int *m, const int *n, float *a, const int *lda, float *tau, float *work, const int *lwork,
             int *info);
void dgeqrf_(const int *m, const int *n, double *a, const int *lda, double *tau, double *work, const int *lwork,
             int *info);
void sorgqr_(const int *m, const int *n, const int *k, float *a, const int *lda, const float *tau, float *work,
             const int *lwork, int *info);
void dorgqr_(const int *m, const int *n, const int *k, double *a, const int *lda, const double *tau, double *work,
             const int *lwork, int *info);
void ssyevd_(const char *jobz, const char *uplo, const int *n, float *a, const int *lda, float *w, float *work,
             const int *lwork, int *iwork, const int *liwork, int *info, size_t, size_t);
void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w, double *work,
             const int *lwork, int *iwork, const int *liwork, int *info, size_t, size_t);
void sgesvd_(const char *jobu, const char *jobvt, const int *m, const int *n, float *a, const int *lda, float *s,
             float *u, const int *ldu, float *vt, const int *ldvt, float *work, const int *lwork, int *info, size_t,
             size_t);
void dgesvd_(const char *jobu, const char *jobvt, const int *m, const int *n, double *a, const int *lda, double *s,
             double *u, const int *ldu, double *vt, const int *ldvt, double *work, const int *lwork, int *info,
             size_t, size_t);
}

struct npg_emu_cusolver_ctx {
    void *stream; /* recorded only: every call completes before it returns */
    bool busy;    /* a call on this handle is running (under the registry's mutex) */
};


namespace {

/* ---- LAPACK by element type ---- */


template <class T> struct La;
template <> struct La<float> {
    static void potrf(const char *u, const int *n, float *a, const int *lda, int *info) {
        spotrf_(u, n, a, lda, info, 1);
    }
    static void getrf(const int *m, const int *n, float *a, const int *lda, int *ipiv, int *info) {
        sgetrf_(m, n, a, lda, ipiv, info);
    }
    static void getrs(const char *t, const int *n, const int *nrhs, const float *a, const int *lda, const int *ipiv,
                      float *b, const int *ldb, int *info) {
        sgetrs_(t, n, nrhs, a, lda, ipiv, b, ldb, info, 1);
    }
    static void geqrf(const int *m, const int *n, float *a, const int *lda, float *tau, float *w, const int *lw,
                      int *info) {
        sgeqrf_(m, n, a, lda, tau, w, lw, info);
    }
    static void orgqr(const int *m, const int *n, const int *k, float *a, const int *lda, const float *tau, float *w,
                      const int *lw, int *info) {
        sorgqr_(m, n, k, a, lda, tau, w, lw, info);
    }
    static void syevd(const char *jz, const char *u, const int *n, float *a, const int *lda, float *w, float *wk,
                      const int *lw, int *iw, const int *liw, int *info) {
        ssyevd_(jz, u, n, a, lda, w, wk, lw, iw, liw, info, 1, 1);
    }
    static void gesvd(const char *ju, const char *jv, const int *m, const int *n, float *a, const int *lda, float *s,
                      float *u, const int *ldu, float *vt, const int *ldvt, float *w, const int *lw, int *info) {
        sgesvd_(ju, jv, m, n, a, lda, s, u, ldu, vt, ldvt, w, lw, info, 1, 1);
    }
};
template <> struct La<double> {
    static void potrf(const char *u, const int *n, double *a, const int *lda, int *info) {
        dpotrf_(u, n, a, lda, info, 1);
    }
    static void getrf(const int *m, const int *n, double *a, const int *lda, int *ipiv, int *info) {
        dgetrf_(m, n, a, lda, ipiv, info);
    }
    static void getrs(const char *t, const int *n, const int *nrhs, const double *a, const int *lda, const int *ipiv,
                      double *b, const int *ldb, int *info) {
        dgetrs_(t, n, nrhs, a, lda, ipiv, b, ldb, info, 1);
    }
    static void geqrf(const int *m, const int *n, double *a, const int *lda, double *tau, double *w, const int *lw,
                      int *info) {
        dgeqrf_(m, n, a, lda, tau, w, lw, info);
    }
    static void orgqr(const int *m, const int *n, const int *k, double *a, const int *lda, const double *tau,
                      double *w, const int *lw, int *info) {
        dorgqr_(m, n, k, a, lda, tau, w, lw, info);
    }
    static void syevd(const char *jz, const char *u, const int *n, double *a, const int *lda, double *w, double *wk,
                      const int *lw, int *iw, const int *liw, int *info) {
        dsyevd_(jz, u, n, a, lda, w, wk, lw, iw, liw, info, 1, 1);
    }
    static void gesvd(const char *ju, const char *jv, const int *m, const int *n, double *a, const int *lda,
                      double *s, double *u, const int *ldu, double *vt, const int *ldvt, double *w, const int *lw,
                      int *info) {
        dgesvd_(ju, jv, m, n, a, lda, s, u, ldu, vt, ldvt, w, lw, info, 1, 1);
    }
};

/* ---- reports ---- */

cusolverStatus_t fail(cusolverStatus_t st, const char *fn, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
cusolverStatus_t fail(cusolverStatus_t st, const char *fn, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *what = st == CUSOLVER_STATUS_INVALID_VALUE      ? "INVALID_VALUE"
                       : st == CUSOLVER_STATUS_NOT_INITIALIZED  ? "NOT_INITIALIZED"
                       : st == CUSOLVER_STATUS_ALLOC_FAILED     ? "ALLOC_FAILED"
                       : st == CUSOLVER_STATUS_EXECUTION_FAILED ? "EXECUTION_FAILED"
                       : st == CUSOLVER_STATUS_INTERNAL_ERROR   ? "INTERNAL_ERROR"
                                                                : "error";
    fprintf(stderr, "cuemu: %s: CUSOLVER_STATUS_%s: %s\n", fn, what, msg);
    return st;
}
#define BAD(...) fail(CUSOLVER_STATUS_INVALID_VALUE, fn, __VA_ARGS__)

/* ---- the handle registry ---- */

struct Registry {
    std::mutex mu;
    std::unordered_set<npg_emu_cusolver_ctx *> live;
};
Registry &registry() {
    static Registry *r = new Registry; /* never destroyed: usable from other statics' destructors */
    return *r;
}

/* Claims a handle for one call: live and not in use by another thread. */
class Use {
  public:
    Use(npg_emu_cusolver_ctx *h, const char *fn) {
        if (!h) {
            st_ = fail(CUSOLVER_STATUS_NOT_INITIALIZED, fn, "NULL handle");
            return;
        }
        Registry &r = registry();
        std::lock_guard<std::mutex> g(r.mu);
        if (!r.live.count(h)) {
            st_ = fail(CUSOLVER_STATUS_NOT_INITIALIZED, fn, "handle %p was never created or is destroyed", (void *)h);
            return;
        }
        if (h->busy) {
            st_ = fail(CUSOLVER_STATUS_INTERNAL_ERROR, fn,
                       "handle %p is in use by another thread (a cuSOLVER handle is not thread safe)", (void *)h);
            return;
        }
        h->busy = true;
        h_ = h;
    }
    ~Use() {
        if (!h_) return;
        Registry &r = registry();
        std::lock_guard<std::mutex> g(r.mu);
        h_->busy = false;
    }
    Use(const Use &) = delete;
    Use &operator=(const Use &) = delete;
    cusolverStatus_t status() const { return st_; }

  private:
    npg_emu_cusolver_ctx *h_ = nullptr;
    cusolverStatus_t st_ = CUSOLVER_STATUS_SUCCESS;
};

#define USE_HANDLE(h)                                                       \
    Use use_(h, fn);                                                        \
    if (use_.status() != CUSOLVER_STATUS_SUCCESS) return use_.status()

/* ---- helpers ---- */

inline int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }
inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }

/* LAPACK's workspace answer (a float for the s routines) as a count. */
template <class T> int64_t la_count(T w) {
    double d = std::ceil((double)w);
    return d < 1 ? 1 : d > (double)INT_MAX ? (int64_t)INT_MAX + 1 : (int64_t)d;
}

template <class T> void trash(T *w, int64_t n) {
    if (w && n > 0) memset((void *)w, 0xFF, (size_t)n * sizeof(T)); /* all ones: NaN */
}

const char *uplo_char(cublasFillMode_t u) { return u == CUBLAS_FILL_MODE_UPPER ? "U" : "L"; }
bool uplo_ok(cublasFillMode_t u) { return u == CUBLAS_FILL_MODE_LOWER || u == CUBLAS_FILL_MODE_UPPER; }
bool job_ok(signed char j) { return j == 'A' || j == 'S' || j == 'O' || j == 'N'; }

/* Store a workspace size for a *_bufferSize caller. */
cusolverStatus_t put_lwork(const char *fn, int64_t need, int *Lwork) {
    if (need > INT_MAX)
        return BAD("the workspace (%lld elements) does not fit the classic API's int", (long long)need);
    *Lwork = (int)imax(need, 1);
    return CUSOLVER_STATUS_SUCCESS;
}

/* The checks every compute call makes on its workspace. */
template <class T>
cusolverStatus_t check_work(const char *fn, int64_t need, const T *work, int Lwork, bool empty) {
    if (Lwork < need)
        return BAD("Lwork = %d is less than the %lld elements the matching bufferSize call asks for", Lwork,
                   (long long)need);
    if (!work && !empty) return BAD("NULL workspace (Lwork = %d)", Lwork);
    return CUSOLVER_STATUS_SUCCESS;
}

/* ---- workspace answers (elements, >= 1) ---- */

int64_t potrf_need(int n) { return imax(1, 32 * (int64_t)n); }
int64_t getrf_need(int m, int n) { return imax(1, 32 * imax(m, n)); }

template <class T> int64_t geqrf_need(int m, int n, int lda) {
    T q = 0, dummy = 0;
    int lw = -1, info = 0;
    La<T>::geqrf(&m, &n, &dummy, &lda, &dummy, &q, &lw, &info);
    return imax(la_count(q), imax(1, n));
}

template <class T> int64_t orgqr_need(int m, int n, int k, int lda) {
    T q = 0, dummy = 0;
    int lw = -1, info = 0;
    La<T>::orgqr(&m, &n, &k, &dummy, &lda, &dummy, &q, &lw, &info);
    return imax(la_count(q), imax(1, n));
}

/* LAPACK syevd's (lwork, liwork) for these arguments. */
template <class T> void syevd_query(const char *jz, const char *u, int n, int lda, int64_t *lwork, int64_t *liwork) {
    T q = 0, dummy = 0;
    int lw = -1, iq = 0, info = 0;
    La<T>::syevd(jz, u, &n, &dummy, &lda, &dummy, &q, &lw, &iq, &lw, &info);
    *lwork = la_count(q);
    *liwork = imax(iq, 1);
}

template <class T> int64_t gesvd_query(char ju, char jv, int m, int n) {
    T q = 0, dummy = 0;
    int lw = -1, info = 0, lda = (int)imax(1, m), ldu = (int)imax(1, m), ldvt = (int)imax(1, n);
    const char a[2] = {ju, 0}, b[2] = {jv, 0};
    La<T>::gesvd(a, b, &m, &n, &dummy, &lda, &dummy, &dummy, &ldu, &dummy, &ldvt, &q, &lw, &info);
    return la_count(q);
}

template <class T> int64_t gesvd_need(int m, int n) {
    static const char jobs[4] = {'A', 'S', 'O', 'N'};
    int64_t need = 1;
    for (char ju : jobs)
        for (char jv : jobs)
            if (!(ju == 'O' && jv == 'O')) need = imax(need, gesvd_query<T>(ju, jv, m, n));
    return need;
}

/* ---- potrf ---- */

template <class T>
cusolverStatus_t potrf_bs(const char *fn, cusolverDnHandle_t h, cublasFillMode_t uplo, int n, int lda, int *Lwork) {
    USE_HANDLE(h);
    if (!uplo_ok(uplo)) return BAD("uplo = %d is not CUBLAS_FILL_MODE_LOWER or UPPER", (int)uplo);
    if (n < 0) return BAD("n = %d < 0", n);
    if (lda < imax(1, n)) return BAD("lda = %d < max(1, n = %d)", lda, n);
    if (!Lwork) return BAD("NULL Lwork");
    return put_lwork(fn, potrf_need(n), Lwork);
}

template <class T>
cusolverStatus_t potrf(const char *fn, cusolverDnHandle_t h, cublasFillMode_t uplo, int n, T *A, int lda, T *work,
                       int Lwork, int *devInfo) {
    const npg_emu_device_window window; /* reads and writes device memory */
    USE_HANDLE(h);
    if (!uplo_ok(uplo)) return BAD("uplo = %d is not CUBLAS_FILL_MODE_LOWER or UPPER", (int)uplo);
    if (n < 0) return BAD("n = %d < 0", n);
    if (lda < imax(1, n)) return BAD("lda = %d < max(1, n = %d)", lda, n);
    if (!devInfo) return BAD("NULL devInfo");
    if (!A && n > 0) return BAD("NULL A");
    cusolverStatus_t st = check_work(fn, potrf_need(n), work, Lwork, n == 0);
    if (st) return st;
    trash(work, Lwork);
    int info = 0;
    if (n > 0) La<T>::potrf(uplo_char(uplo), &n, A, &lda, &info);
    trash(work, Lwork);
    *devInfo = info;
    return CUSOLVER_STATUS_SUCCESS;
}

/* ---- getrf / getrs ---- */

template <class T>
cusolverStatus_t getrf_bs(const char *fn, cusolverDnHandle_t h, int m, int n, int lda, int *Lwork) {
    USE_HANDLE(h);
    if (m < 0 || n < 0) return BAD("m = %d, n = %d: negative", m, n);
    if (lda < imax(1, m)) return BAD("lda = %d < max(1, m = %d)", lda, m);
    if (!Lwork) return BAD("NULL Lwork");
    return put_lwork(fn, getrf_need(m, n), Lwork);
}

/* LU without pivoting (cuSOLVER's getrf with devIpiv == NULL); info: the
 * first exactly zero U(j,j), the elimination goes on (IEEE inf / NaN). */
template <class T> int lu_nopiv(int m, int n, T *A, int lda) {
    int info = 0;
    const int64_t k = imin(m, n), ld = lda;
    for (int64_t j = 0; j < k; j++) {
        const T p = A[j + j * ld];
        if (p == T(0) && info == 0) info = (int)j + 1;
        for (int64_t i = j + 1; i < m; i++) A[i + j * ld] /= p;
        for (int64_t c = j + 1; c < n; c++) {
            const T u = A[j + c * ld];
            if (u == T(0)) continue;
            for (int64_t i = j + 1; i < m; i++) A[i + c * ld] -= A[i + j * ld] * u;
        }
    }
    return info;
}

template <class T>
cusolverStatus_t getrf(const char *fn, cusolverDnHandle_t h, int m, int n, T *A, int lda, T *work, int *ipiv,
                       int *devInfo) {
    const npg_emu_device_window window; /* reads and writes device memory */
    USE_HANDLE(h);
    if (m < 0 || n < 0) return BAD("m = %d, n = %d: negative", m, n);
    if (lda < imax(1, m)) return BAD("lda = %d < max(1, m = %d)", lda, m);
    if (!devInfo) return BAD("NULL devInfo");
    const bool empty = m == 0 || n == 0;
    if (!A && !empty) return BAD("NULL A");
    /* getrf takes no Lwork: the workspace must hold what getrf_bufferSize said */
    const int64_t need = getrf_need(m, n);
    if (!work && !empty) return BAD("NULL Workspace (getrf_bufferSize asks for %lld elements)", (long long)need);
    trash(work, need);
    int info = 0;
    if (!empty) {
        if (ipiv) La<T>::getrf(&m, &n, A, &lda, ipiv, &info);
        else info = lu_nopiv(m, n, A, lda);
    }
    trash(work, need);
    *devInfo = info;
    return CUSOLVER_STATUS_SUCCESS;
}

template <class T>
cusolverStatus_t getrs(const char *fn, cusolverDnHandle_t h, cublasOperation_t trans, int n, int nrhs, const T *A,
                       int lda, const int *ipiv, T *B, int ldb, int *devInfo) {
    const npg_emu_device_window window; /* reads and writes device memory */
    USE_HANDLE(h);
    if (trans != CUBLAS_OP_N && trans != CUBLAS_OP_T && trans != CUBLAS_OP_C)
        return BAD("trans = %d is not CUBLAS_OP_N, T or C", (int)trans);
    if (n < 0 || nrhs < 0) return BAD("n = %d, nrhs = %d: negative", n, nrhs);
    if (lda < imax(1, n)) return BAD("lda = %d < max(1, n = %d)", lda, n);
    if (ldb < imax(1, n)) return BAD("ldb = %d < max(1, n = %d)", ldb, n);
    if (!devInfo) return BAD("NULL devInfo");
    const bool empty = n == 0 || nrhs == 0;
    if (!empty && (!A || !B)) return BAD("NULL %s", !A ? "A" : "B");
    int info = 0;
    if (!empty) {
        int *id = nullptr;
        if (ipiv) {
            for (int i = 0; i < n; i++)
                if (ipiv[i] < 1 || ipiv[i] > n)
                    return fail(CUSOLVER_STATUS_EXECUTION_FAILED, fn,
                                "devIpiv[%d] = %d is outside 1..n = %d (not getrf's pivots?)", i, ipiv[i], n);
        } else { /* getrf without pivoting: no interchanges */
            id = (int *)malloc(sizeof(int) * (size_t)n);
            if (!id) return fail(CUSOLVER_STATUS_ALLOC_FAILED, fn, "out of host memory");
            for (int i = 0; i < n; i++) id[i] = i + 1;
        }
        const char *t = trans == CUBLAS_OP_N ? "N" : "T"; /* real: C is T */
        La<T>::getrs(t, &n, &nrhs, A, &lda, ipiv ? ipiv : id, B, &ldb, &info);
        free(id);
    }
    *devInfo = info;
    return CUSOLVER_STATUS_SUCCESS;
}

/* ---- geqrf / orgqr ---- */

template <class T>
cusolverStatus_t geqrf_bs(const char *fn, cusolverDnHandle_t h, int m, int n, int lda, int *Lwork) {
    USE_HANDLE(h);
    if (m < 0 || n < 0) return BAD("m = %d, n = %d: negative", m, n);
    if (lda < imax(1, m)) return BAD("lda = %d < max(1, m = %d)", lda, m);
    if (!Lwork) return BAD("NULL lwork");
    return put_lwork(fn, geqrf_need<T>(m, n, lda), Lwork);
}

template <class T>
cusolverStatus_t geqrf(const char *fn, cusolverDnHandle_t h, int m, int n, T *A, int lda, T *tau, T *work, int Lwork,
                       int *devInfo) {
    const npg_emu_device_window window; /* reads and writes device memory */
    USE_HANDLE(h);
    if (m < 0 || n < 0) return BAD("m = %d, n = %d: negative", m, n);
    if (lda < imax(1, m)) return BAD("lda = %d < max(1, m = %d)", lda, m);
    if (!devInfo) return BAD("NULL devInfo");
    const bool empty = m == 0 || n == 0;
    if (!empty && (!A || !tau)) return BAD("NULL %s", !A ? "A" : "TAU");
    cusolverStatus_t st = check_work(fn, geqrf_need<T>(m, n, lda), work, Lwork, empty);
    if (st) return st;
    trash(work, Lwork);
    int info = 0;
    if (!empty) {
        T q = 0;
        int lw = -1;
        La<T>::geqrf(&m, &n, A, &lda, tau, &q, &lw, &info);
        lw = (int)imin(la_count(q), INT_MAX);
        T *w = (T *)malloc(sizeof(T) * (size_t)lw);
        if (!w) return fail(CUSOLVER_STATUS_ALLOC_FAILED, fn, "out of host memory");
        La<T>::geqrf(&m, &n, A, &lda, tau, w, &lw, &info);
        free(w);
    }
    trash(work, Lwork);
    *devInfo = info;
    return CUSOLVER_STATUS_SUCCESS;
}

template <class T>
cusolverStatus_t orgqr_args(const char *fn, int m, int n, int k, int lda) {
    if (m < 0 || n < 0 || k < 0) return BAD("m = %d, n = %d, k = %d: negative", m, n, k);
    if (n > m) return BAD("n = %d > m = %d", n, m);
    if (k > n) return BAD("k = %d > n = %d", k, n);
    if (lda < imax(1, m)) return BAD("lda = %d < max(1, m = %d)", lda, m);
    return CUSOLVER_STATUS_SUCCESS;
}

template <class T>
cusolverStatus_t orgqr_bs(const char *fn, cusolverDnHandle_t h, int m, int n, int k, int lda, int *Lwork) {
    USE_HANDLE(h);
    cusolverStatus_t st = orgqr_args<T>(fn, m, n, k, lda);
    if (st) return st;
    if (!Lwork) return BAD("NULL lwork");
    return put_lwork(fn, orgqr_need<T>(m, n, k, lda), Lwork);
}

template <class T>
cusolverStatus_t orgqr(const char *fn, cusolverDnHandle_t h, int m, int n, int k, T *A, int lda, const T *tau,
                       T *work, int Lwork, int *devInfo) {
    const npg_emu_device_window window; /* reads and writes device memory */
    USE_HANDLE(h);
    cusolverStatus_t st = orgqr_args<T>(fn, m, n, k, lda);
    if (st) return st;
    if (!devInfo) return BAD("NULL info");
    const bool empty = n == 0; /* n <= m */
    if (!empty && !A) return BAD("NULL A");
    if (k > 0 && !tau) return BAD("NULL tau");
    st = check_work(fn, orgqr_need<T>(m, n, k, lda), work, Lwork, empty);
    if (st) return st;
    trash(work, Lwork);
    int info = 0;
    if (!empty) {
        T q = 0;
        int lw = -1;
        La<T>::orgqr(&m, &n, &k, A, &lda, tau, &q, &lw, &info);
        lw = (int)imin(la_count(q), INT_MAX);
        T *w = (T *)malloc(sizeof(T) * (size_t)lw);
        if (!w) return fail(CUSOLVER_STATUS_ALLOC_FAILED, fn, "out of host memory");
        La<T>::orgqr(&m, &n, &k, A, &lda, tau, w, &lw, &info);
        free(w);
    }
    trash(work, Lwork);
    *devInfo = info;
    return CUSOLVER_STATUS_SUCCESS;
}

/* ---- syevd ---- */

template <class T>
cusolverStatus_t syevd_args(const char *fn, cusolverEigMode_t jobz, cublasFillMode_t uplo, int n, int lda) {
    if (jobz != CUSOLVER_EIG_MODE_NOVECTOR && jobz != CUSOLVER_EIG_MODE_VECTOR)
        return BAD("jobz = %d is not CUSOLVER_EIG_MODE_NOVECTOR or VECTOR", (int)jobz);
    if (!uplo_ok(uplo)) return BAD("uplo = %d is not CUBLAS_FILL_MODE_LOWER or UPPER", (int)uplo);
    if (n < 0) return BAD("n = %d < 0", n);
    if (lda < imax(1, n)) return BAD("lda = %d < max(1, n = %d)", lda, n);
    return CUSOLVER_STATUS_SUCCESS;
}

template <class T>
cusolverStatus_t syevd_bs(const char *fn, cusolverDnHandle_t h, cusolverEigMode_t jobz, cublasFillMode_t uplo, int n,
                          int lda, int *Lwork) {
    USE_HANDLE(h);
    cusolverStatus_t st = syevd_args<T>(fn, jobz, uplo, n, lda);
    if (st) return st;
    if (!Lwork) return BAD("NULL lwork");
    int64_t lw = 0, liw = 0;
    syevd_query<T>(jobz == CUSOLVER_EIG_MODE_VECTOR ? "V" : "N", uplo_char(uplo), n, lda, &lw, &liw);
    return put_lwork(fn, lw, Lwork);
}

template <class T>
cusolverStatus_t syevd(const char *fn, cusolverDnHandle_t h, cusolverEigMode_t jobz, cublasFillMode_t uplo, int n,
                       T *A, int lda, T *W, T *work, int Lwork, int *devInfo) {
    const npg_emu_device_window window; /* reads and writes device memory */
    USE_HANDLE(h);
    cusolverStatus_t st = syevd_args<T>(fn, jobz, uplo, n, lda);
    if (st) return st;
    if (!devInfo) return BAD("NULL info");
    if (n > 0 && (!A || !W)) return BAD("NULL %s", !A ? "A" : "W");
    const char *jz = jobz == CUSOLVER_EIG_MODE_VECTOR ? "V" : "N", *u = uplo_char(uplo);
    int64_t lw = 0, liw = 0;
    syevd_query<T>(jz, u, n, lda, &lw, &liw);
    st = check_work(fn, lw, work, Lwork, n == 0);
    if (st) return st;
    trash(work, Lwork);
    int info = 0;
    if (n > 0) {
        T *w = (T *)malloc(sizeof(T) * (size_t)lw);
        int *iw = (int *)malloc(sizeof(int) * (size_t)liw);
        if (!w || !iw) {
            free(w);
            free(iw);
            return fail(CUSOLVER_STATUS_ALLOC_FAILED, fn, "out of host memory");
        }
        const int lwi = (int)imin(lw, INT_MAX), liwi = (int)imin(liw, INT_MAX);
        La<T>::syevd(jz, u, &n, A, &lda, W, w, &lwi, iw, &liwi, &info);
        free(w);
        free(iw);
    }
    trash(work, Lwork);
    *devInfo = info;
    return CUSOLVER_STATUS_SUCCESS;
}

/* ---- gesvd ---- */

template <class T> cusolverStatus_t gesvd_bs(const char *fn, cusolverDnHandle_t h, int m, int n, int *Lwork) {
    USE_HANDLE(h);
    if (m < 0 || n < 0) return BAD("m = %d, n = %d: negative", m, n);
    if (!Lwork) return BAD("NULL lwork");
    return put_lwork(fn, gesvd_need<T>(m, n), Lwork);
}

template <class T>
cusolverStatus_t gesvd(const char *fn, cusolverDnHandle_t h, signed char jobu, signed char jobvt, int m, int n, T *A,
                       int lda, T *S, T *U, int ldu, T *VT, int ldvt, T *work, int Lwork, T *rwork, int *devInfo) {
    const npg_emu_device_window window; /* reads and writes device memory */
    USE_HANDLE(h);
    if (!job_ok(jobu)) return BAD("jobu = %d is not 'A', 'S', 'O' or 'N'", (int)jobu);
    if (!job_ok(jobvt)) return BAD("jobvt = %d is not 'A', 'S', 'O' or 'N'", (int)jobvt);
    if (jobu == 'O' && jobvt == 'O') return BAD("jobu and jobvt are both 'O'");
    if (m < 0 || n < 0) return BAD("m = %d, n = %d: negative", m, n);
    if (m < n) return BAD("m = %d < n = %d (cuSOLVER's gesvd supports m >= n only)", m, n);
    if (lda < imax(1, m)) return BAD("lda = %d < max(1, m = %d)", lda, m);
    if (ldu < imax(1, m)) return BAD("ldu = %d < max(1, m = %d)", ldu, m);
    if (ldvt < imax(1, n)) return BAD("ldvt = %d < max(1, n = %d)", ldvt, n);
    if (!devInfo) return BAD("NULL info");
    const bool empty = m == 0 || n == 0;
    if (!empty) {
        if (!A) return BAD("NULL A");
        if (!S) return BAD("NULL S");
        if ((jobu == 'A' || jobu == 'S') && !U) return BAD("NULL U with jobu = '%c'", (char)jobu);
        if ((jobvt == 'A' || jobvt == 'S') && !VT) return BAD("NULL VT with jobvt = '%c'", (char)jobvt);
    }
    cusolverStatus_t st = check_work(fn, gesvd_need<T>(m, n), work, Lwork, empty);
    if (st) return st;
    trash(work, Lwork);
    int info = 0;
    if (!empty) {
        const char ju[2] = {(char)jobu, 0}, jv[2] = {(char)jobvt, 0};
        T q = 0;
        int lw = -1;
        La<T>::gesvd(ju, jv, &m, &n, A, &lda, S, U, &ldu, VT, &ldvt, &q, &lw, &info);
        lw = (int)imin(imax(la_count(q), 5 * (int64_t)imax(m, n)), INT_MAX);
        T *w = (T *)malloc(sizeof(T) * (size_t)lw);
        if (!w) return fail(CUSOLVER_STATUS_ALLOC_FAILED, fn, "out of host memory");
        La<T>::gesvd(ju, jv, &m, &n, A, &lda, S, U, &ldu, VT, &ldvt, w, &lw, &info);
        /* LAPACK: work(2 : min(m,n)) holds the unconverged superdiagonal */
        if (rwork && n > 1) memcpy(rwork, w + 1, sizeof(T) * (size_t)(n - 1));
        free(w);
    }
    trash(work, Lwork);
    *devInfo = info;
    return CUSOLVER_STATUS_SUCCESS;
}

} // namespace

/* ---- the API ---- */

cusolverStatus_t cusolverDnCreate(cusolverDnHandle_t *handle) {
    const char *fn = "cusolverDnCreate";
    if (!handle) return BAD("NULL handle pointer");
    npg_emu_cusolver_ctx *h = new (std::nothrow) npg_emu_cusolver_ctx{nullptr, false};
    if (!h) return fail(CUSOLVER_STATUS_ALLOC_FAILED, fn, "out of host memory");
    {
        Registry &r = registry();
        std::lock_guard<std::mutex> g(r.mu);
        r.live.insert(h);
    }
    *handle = h;
    return CUSOLVER_STATUS_SUCCESS;
}

cusolverStatus_t cusolverDnDestroy(cusolverDnHandle_t handle) {
    const char *fn = "cusolverDnDestroy";
    if (!handle) return fail(CUSOLVER_STATUS_NOT_INITIALIZED, fn, "NULL handle");
    Registry &r = registry();
    std::lock_guard<std::mutex> g(r.mu);
    if (!r.live.count(handle))
        return fail(CUSOLVER_STATUS_NOT_INITIALIZED, fn, "handle %p was never created or is destroyed",
                    (void *)handle);
    if (handle->busy)
        return fail(CUSOLVER_STATUS_INTERNAL_ERROR, fn, "handle %p is in use by another thread", (void *)handle);
    r.live.erase(handle);
    delete handle;
    return CUSOLVER_STATUS_SUCCESS;
}

cusolverStatus_t cusolverDnSetStream(cusolverDnHandle_t handle, void *streamId) {
    const char *fn = "cusolverDnSetStream";
    USE_HANDLE(handle);
    handle->stream = streamId;
    return CUSOLVER_STATUS_SUCCESS;
}

cusolverStatus_t cusolverDnSpotrf_bufferSize(cusolverDnHandle_t h, cublasFillMode_t uplo, int n, float *, int lda,
                                             int *Lwork) {
    return potrf_bs<float>("cusolverDnSpotrf_bufferSize", h, uplo, n, lda, Lwork);
}
cusolverStatus_t cusolverDnDpotrf_bufferSize(cusolverDnHandle_t h, cublasFillMode_t uplo, int n, double *, int lda,
                                             int *Lwork) {
    return potrf_bs<double>("cusolverDnDpotrf_bufferSize", h, uplo, n, lda, Lwork);
}
cusolverStatus_t cusolverDnSpotrf(cusolverDnHandle_t h, cublasFillMode_t uplo, int n, float *A, int lda,
                                  float *Workspace, int Lwork, int *devInfo) {
    return potrf<float>("cusolverDnSpotrf", h, uplo, n, A, lda, Workspace, Lwork, devInfo);
}
cusolverStatus_t cusolverDnDpotrf(cusolverDnHandle_t h, cublasFillMode_t uplo, int n, double *A, int lda,
                                  double *Workspace, int Lwork, int *devInfo) {
    return potrf<double>("cusolverDnDpotrf", h, uplo, n, A, lda, Workspace, Lwork, devInfo);
}

cusolverStatus_t cusolverDnSgetrf_bufferSize(cusolverDnHandle_t h, int m, int n, float *, int lda, int *Lwork) {
    return getrf_bs<float>("cusolverDnSgetrf_bufferSize", h, m, n, lda, Lwork);
}
cusolverStatus_t cusolverDnDgetrf_bufferSize(cusolverDnHandle_t h, int m, int n, double *, int lda, int *Lwork) {
    return getrf_bs<double>("cusolverDnDgetrf_bufferSize", h, m, n, lda, Lwork);
}
cusolverStatus_t cusolverDnSgetrf(cusolverDnHandle_t h, int m, int n, float *A, int lda, float *Workspace,
                                  int *devIpiv, int *devInfo) {
    return getrf<float>("cusolverDnSgetrf", h, m, n, A, lda, Workspace, devIpiv, devInfo);
}
cusolverStatus_t cusolverDnDgetrf(cusolverDnHandle_t h, int m, int n, double *A, int lda, double *Workspace,
                                  int *devIpiv, int *devInfo) {
    return getrf<double>("cusolverDnDgetrf", h, m, n, A, lda, Workspace, devIpiv, devInfo);
}
cusolverStatus_t cusolverDnSgetrs(cusolverDnHandle_t h, cublasOperation_t trans, int n, int nrhs, const float *A,
                                  int lda, const int *devIpiv, float *B, int ldb, int *devInfo) {
    return getrs<float>("cusolverDnSgetrs", h, trans, n, nrhs, A, lda, devIpiv, B, ldb, devInfo);
}
cusolverStatus_t cusolverDnDgetrs(cusolverDnHandle_t h, cublasOperation_t trans, int n, int nrhs, const double *A,
                                  int lda, const int *devIpiv, double *B, int ldb, int *devInfo) {
    return getrs<double>("cusolverDnDgetrs", h, trans, n, nrhs, A, lda, devIpiv, B, ldb, devInfo);
}

cusolverStatus_t cusolverDnSgeqrf_bufferSize(cusolverDnHandle_t h, int m, int n, float *, int lda, int *lwork) {
    return geqrf_bs<float>("cusolverDnSgeqrf_bufferSize", h, m, n, lda, lwork);
}
cusolverStatus_t cusolverDnDgeqrf_bufferSize(cusolverDnHandle_t h, int m, int n, double *, int lda, int *lwork) {
    return geqrf_bs<double>("cusolverDnDgeqrf_bufferSize", h, m, n, lda, lwork);
}
cusolverStatus_t cusolverDnSgeqrf(cusolverDnHandle_t h, int m, int n, float *A, int lda, float *TAU,
                                  float *Workspace, int Lwork, int *devInfo) {
    return geqrf<float>("cusolverDnSgeqrf", h, m, n, A, lda, TAU, Workspace, Lwork, devInfo);
}
cusolverStatus_t cusolverDnDgeqrf(cusolverDnHandle_t h, int m, int n, double *A, int lda, double *TAU,
                                  double *Workspace, int Lwork, int *devInfo) {
    return geqrf<double>("cusolverDnDgeqrf", h, m, n, A, lda, TAU, Workspace, Lwork, devInfo);
}
cusolverStatus_t cusolverDnSorgqr_bufferSize(cusolverDnHandle_t h, int m, int n, int k, const float *, int lda,
                                             const float *, int *lwork) {
    return orgqr_bs<float>("cusolverDnSorgqr_bufferSize", h, m, n, k, lda, lwork);
}
cusolverStatus_t cusolverDnDorgqr_bufferSize(cusolverDnHandle_t h, int m, int n, int k, const double *, int lda,
                                             const double *, int *lwork) {
    return orgqr_bs<double>("cusolverDnDorgqr_bufferSize", h, m, n, k, lda, lwork);
}
cusolverStatus_t cusolverDnSorgqr(cusolverDnHandle_t h, int m, int n, int k, float *A, int lda, const float *tau,
                                  float *work, int lwork, int *info) {
    return orgqr<float>("cusolverDnSorgqr", h, m, n, k, A, lda, tau, work, lwork, info);
}
cusolverStatus_t cusolverDnDorgqr(cusolverDnHandle_t h, int m, int n, int k, double *A, int lda, const double *tau,
                                  double *work, int lwork, int *info) {
    return orgqr<double>("cusolverDnDorgqr", h, m, n, k, A, lda, tau, work, lwork, info);
}

cusolverStatus_t cusolverDnSsyevd_bufferSize(cusolverDnHandle_t h, cusolverEigMode_t jobz, cublasFillMode_t uplo,
                                             int n, const float *, int lda, const float *, int *lwork) {
    return syevd_bs<float>("cusolverDnSsyevd_bufferSize", h, jobz, uplo, n, lda, lwork);
}
cusolverStatus_t cusolverDnDsyevd_bufferSize(cusolverDnHandle_t h, cusolverEigMode_t jobz, cublasFillMode_t uplo,
                                             int n, const double *, int lda, const double *, int *lwork) {
    return syevd_bs<double>("cusolverDnDsyevd_bufferSize", h, jobz, uplo, n, lda, lwork);
}
cusolverStatus_t cusolverDnSsyevd(cusolverDnHandle_t h, cusolverEigMode_t jobz, cublasFillMode_t uplo, int n,
                                  float *A, int lda, float *W, float *work, int lwork, int *info) {
    return syevd<float>("cusolverDnSsyevd", h, jobz, uplo, n, A, lda, W, work, lwork, info);
}
cusolverStatus_t cusolverDnDsyevd(cusolverDnHandle_t h, cusolverEigMode_t jobz, cublasFillMode_t uplo, int n,
                                  double *A, int lda, double *W, double *work, int lwork, int *info) {
    return syevd<double>("cusolverDnDsyevd", h, jobz, uplo, n, A, lda, W, work, lwork, info);
}

cusolverStatus_t cusolverDnSgesvd_bufferSize(cusolverDnHandle_t h, int m, int n, int *lwork) {
    return gesvd_bs<float>("cusolverDnSgesvd_bufferSize", h, m, n, lwork);
}
cusolverStatus_t cusolverDnDgesvd_bufferSize(cusolverDnHandle_t h, int m, int n, int *lwork) {
    return gesvd_bs<double>("cusolverDnDgesvd_bufferSize", h, m, n, lwork);
}
cusolverStatus_t cusolverDnSgesvd(cusolverDnHandle_t h, signed char jobu, signed char jobvt, int m, int n, float *A,
                                  int lda, float *S, float *U, int ldu, float *VT, int ldvt, float *work, int lwork,
                                  float *rwork, int *info) {
    return gesvd<float>("cusolverDnSgesvd", h, jobu, jobvt, m, n, A, lda, S, U, ldu, VT, ldvt, work, lwork, rwork,
                        info);
}
cusolverStatus_t cusolverDnDgesvd(cusolverDnHandle_t h, signed char jobu, signed char jobvt, int m, int n, double *A,
                                  int lda, double *S, double *U, int ldu, double *VT, int ldvt, double *work,
                                  int lwork, double *rwork, int *info) {
    return gesvd<double>("cusolverDnDgesvd", h, jobu, jobvt, m, n, A, lda, S, U, ldu, VT, ldvt, work, lwork, rwork,
                         info);
}
