/*
 * lapack.c — the dense linear algebra entries (backend.h: potrf, getrf,
 * getrs, trsm, qr, syevd, gesvd) on the LAPACK that OpenBLAS exports
 * (Fortran symbols, 32-bit integers: Debian's libopenblas0 is LP64) and
 * cblas_?trsm.
 *
 * Matrices arrive column-major, which is LAPACK's own layout, so every
 * routine runs in place on the batch without repacking. Many small matrices
 * run in parallel over the batch (one workspace per thread, LAPACK
 * single-threaded inside, as matmul.c does for small GEMMs); big ones run
 * one after another on OpenBLAS's own threads.
 *
 * The Fortran routines take CHARACTER arguments, for which gfortran passes a
 * hidden length after the last argument; the prototypes below include them
 * (OpenBLAS's C reimplementations ignore them).
 */
#include "cpu.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>

#include <cblas.h>

typedef int lp_int; /* LAPACK's INTEGER in the LP64 interface */

#define LA_PROTOS(p, T)                                                                                             \
    void p##potrf_(const char *uplo, const lp_int *n, T *a, const lp_int *lda, lp_int *info, size_t);              \
    void p##getrf_(const lp_int *m, const lp_int *n, T *a, const lp_int *lda, lp_int *ipiv, lp_int *info);          \
    void p##getrs_(const char *trans, const lp_int *n, const lp_int *nrhs, const T *a, const lp_int *lda,           \
                   const lp_int *ipiv, T *b, const lp_int *ldb, lp_int *info, size_t);                             \
    void p##geqrf_(const lp_int *m, const lp_int *n, T *a, const lp_int *lda, T *tau, T *work, const lp_int *lwork, \
                   lp_int *info);                                                                                  \
    void p##orgqr_(const lp_int *m, const lp_int *n, const lp_int *k, T *a, const lp_int *lda, const T *tau,        \
                   T *work, const lp_int *lwork, lp_int *info);                                                    \
    void p##syevd_(const char *jobz, const char *uplo, const lp_int *n, T *a, const lp_int *lda, T *w, T *work,     \
                   const lp_int *lwork, lp_int *iwork, const lp_int *liwork, lp_int *info, size_t, size_t);        \
    void p##gesdd_(const char *jobz, const lp_int *m, const lp_int *n, T *a, const lp_int *lda, T *s, T *u,         \
                   const lp_int *ldu, T *vt, const lp_int *ldvt, T *work, const lp_int *lwork, lp_int *iwork,       \
                   lp_int *info, size_t);
LA_PROTOS(s, float)
LA_PROTOS(d, double)

/* LAPACK's info < 0 names an argument it rejected: a bug in this file. */
static npg_status la_check_args(const char *what, int64_t batch, const int *info) {
    for (int64_t k = 0; info && k < batch; k++)
        if (info[k] < 0)
            return npg__set_error(NPG_ERR_INTERNAL, "cpu %s: LAPACK rejected argument %d (matrix %lld)", what, -info[k],
                                  (long long)k);
    return NPG_OK;
}

/* Matrices up to this order run LAPACK on the calling thread alone. */
#define LA_SMALL 64

/* ---- batch driver ---------------------------------------------------------------------- */

/* One matrix of a batch: k its index, ws a workspace of the size la_run was
 * given. Returns LAPACK's info. */
typedef lp_int (*la_one)(const void *ctx, int64_t k, void *ws);

/* Run f over the batch, filling info (may be NULL). In parallel when the
 * batch is at least as large as the thread count and each matrix is small
 * (order n): LAPACK then runs single-threaded inside each iteration. */
static npg_status la_run(const char *what, int64_t batch, int64_t n, size_t ws_bytes, la_one f, const void *ctx,
                         int *info) {
    bool par = batch > 1 && batch >= npg__cpu_threads() && n <= 96;
    if (!par) {
        void *ws = malloc(ws_bytes ? ws_bytes : 1);
        if (!ws) return npg__set_error(NPG_ERR_OOM, "cpu %s: out of memory for a %zu-byte workspace", what, ws_bytes);
#ifdef NPG_HAVE_OPENMP
        /* OpenBLAS's LAPACK (getrs, syevd, ...) opens a parallel region even
         * for a 3 x 3 matrix, which costs more than the solve and, on a
         * loaded machine, a hundred times more (OpenBLAS issue 4387). Its
         * OpenMP build takes the calling thread's omp_get_max_threads() as
         * the thread count: set it to 1 for small matrices (this thread only). */
        int saved = omp_get_max_threads();
        if (n <= LA_SMALL) omp_set_num_threads(1);
#endif
        for (int64_t k = 0; k < batch; k++) {
            lp_int i = f(ctx, k, ws);
            if (info) info[k] = (int)i;
        }
#ifdef NPG_HAVE_OPENMP
        if (n <= LA_SMALL) omp_set_num_threads(saved);
#endif
        free(ws);
        return la_check_args(what, batch, info);
    }
    int oom = 0;
#ifdef NPG_HAVE_OPENMP
#pragma omp parallel
#endif
    {
        void *ws = malloc(ws_bytes ? ws_bytes : 1);
        if (!ws) __atomic_store_n(&oom, 1, __ATOMIC_RELAXED);
#ifdef NPG_HAVE_OPENMP
#pragma omp for schedule(dynamic, 4)
#endif
        for (int64_t k = 0; k < batch; k++) {
            if (!ws) continue;
            lp_int i = f(ctx, k, ws);
            if (info) info[k] = (int)i;
        }
        free(ws);
    }
    if (oom) return npg__set_error(NPG_ERR_OOM, "cpu %s: out of memory for a %zu-byte workspace", what, ws_bytes);
    return la_check_args(what, batch, info);
}

/* LAPACK sizes are 32-bit here. */
static npg_status la_fits(const char *what, int64_t a, int64_t b) {
    if (a > INT_MAX / 2 || b > INT_MAX / 2 || (b > 0 && a > INT_MAX / b))
        return npg__set_error(NPG_ERR_UNSUPPORTED, "cpu %s: a %lld x %lld matrix exceeds LAPACK's 32-bit sizes", what,
                              (long long)a, (long long)b);
    return NPG_OK;
}

/* A workspace size LAPACK returned in a float (rounded up: float32 holds
 * integers exactly only up to 2^24). */
static lp_int la_lwork(double w) {
    double r = ceil(w * (1.0 + 1e-6)) + 1;
    return r > INT_MAX ? INT_MAX : (lp_int)r;
}

/* lwork elements of size es rounded up to 8 bytes, so that an int array
 * placed after them in one workspace (syevd's and gesdd's iwork) is aligned. */
static lp_int la_align8(lp_int lwork, size_t es) { return lwork + (lp_int)((8 - ((size_t)lwork * es) % 8) % 8 / es); }

typedef struct la_ctx {
    npg_dtype dt;
    lp_int m, n, nrhs, qc, lwork, liwork;
    char *a, *b, *q, *r, *w, *u, *vt;
    const char *ca;
    lp_int *piv;
    const lp_int *cpiv;
    bool flag1, flag2, flag3;
    size_t es;
} la_ctx;

#define LA_AT(p, k, count) ((p) + (size_t)(k) * (size_t)(count) * c->es)

/* ---- potrf ------------------------------------------------------------------------------ */

static lp_int potrf_one(const void *ctx, int64_t k, void *ws) {
    const la_ctx *c = ctx;
    (void)ws;
    lp_int info = 0;
    void *a = LA_AT(c->a, k, (int64_t)c->n * c->n);
    if (c->dt == NPG_FLOAT32) spotrf_("L", &c->n, a, &c->n, &info, 1);
    else dpotrf_("L", &c->n, a, &c->n, &info, 1);
    return info;
}

npg_status npg__cpu_potrf(int dev, npg_dtype dt, int64_t batch, int64_t n, void *a, int *info) {
    (void)dev;
    npg_status st = la_fits("potrf", n, n);
    if (st) return st;
    la_ctx c = {.dt = dt, .n = (lp_int)n, .a = a, .es = npg__dtype_size(dt)};
    return la_run("potrf", batch, n, 0, potrf_one, &c, info);
}

/* ---- getrf / getrs ------------------------------------------------------------------------ */

static lp_int getrf_one(const void *ctx, int64_t k, void *ws) {
    const la_ctx *c = ctx;
    (void)ws;
    lp_int info = 0;
    void *a = LA_AT(c->a, k, (int64_t)c->n * c->n);
    lp_int *piv = c->piv + (size_t)k * (size_t)c->n;
    if (c->dt == NPG_FLOAT32) sgetrf_(&c->n, &c->n, a, &c->n, piv, &info);
    else dgetrf_(&c->n, &c->n, a, &c->n, piv, &info);
    return info;
}

npg_status npg__cpu_getrf(int dev, npg_dtype dt, int64_t batch, int64_t n, void *a, int32_t *piv, int *info) {
    (void)dev;
    npg_status st = la_fits("getrf", n, n);
    if (st) return st;
    la_ctx c = {.dt = dt, .n = (lp_int)n, .a = a, .piv = (lp_int *)piv, .es = npg__dtype_size(dt)};
    return la_run("getrf", batch, n, 0, getrf_one, &c, info);
}

static lp_int getrs_one(const void *ctx, int64_t k, void *ws) {
    const la_ctx *c = ctx;
    (void)ws;
    lp_int info = 0;
    const void *lu = c->ca + (size_t)k * (size_t)c->n * (size_t)c->n * c->es;
    void *b = LA_AT(c->b, k, (int64_t)c->n * c->nrhs);
    const lp_int *piv = c->cpiv + (size_t)k * (size_t)c->n;
    const char *t = c->flag1 ? "T" : "N";
    if (c->dt == NPG_FLOAT32) sgetrs_(t, &c->n, &c->nrhs, lu, &c->n, piv, b, &c->n, &info, 1);
    else dgetrs_(t, &c->n, &c->nrhs, lu, &c->n, piv, b, &c->n, &info, 1);
    return info;
}

npg_status npg__cpu_getrs(int dev, npg_dtype dt, int64_t batch, int64_t n, int64_t nrhs, const void *lu,
                          const int32_t *piv, void *b, bool trans) {
    (void)dev;
    npg_status st = la_fits("getrs", n, n);
    if (!st) st = la_fits("getrs", n, nrhs);
    if (st) return st;
    la_ctx c = {.dt = dt, .n = (lp_int)n, .nrhs = (lp_int)nrhs, .ca = lu, .cpiv = (const lp_int *)piv, .b = b,
                .flag1 = trans, .es = npg__dtype_size(dt)};
    return la_run("getrs", batch, n, 0, getrs_one, &c, NULL);
}

/* ---- trsm ------------------------------------------------------------------------------------ */

static lp_int trsm_one(const void *ctx, int64_t k, void *ws) {
    const la_ctx *c = ctx;
    (void)ws;
    const void *a = c->ca + (size_t)k * (size_t)c->n * (size_t)c->n * c->es;
    void *b = LA_AT(c->b, k, (int64_t)c->n * c->nrhs);
    enum CBLAS_UPLO ul = c->flag1 ? CblasLower : CblasUpper;
    enum CBLAS_TRANSPOSE tr = c->flag2 ? CblasTrans : CblasNoTrans;
    enum CBLAS_DIAG dg = c->flag3 ? CblasUnit : CblasNonUnit;
    if (c->dt == NPG_FLOAT32) cblas_strsm(CblasColMajor, CblasLeft, ul, tr, dg, c->n, c->nrhs, 1.0f, a, c->n, b, c->n);
    else cblas_dtrsm(CblasColMajor, CblasLeft, ul, tr, dg, c->n, c->nrhs, 1.0, a, c->n, b, c->n);
    return 0;
}

npg_status npg__cpu_trsm(int dev, npg_dtype dt, int64_t batch, int64_t n, int64_t nrhs, const void *a, void *b,
                         bool lower, bool trans, bool unit) {
    (void)dev;
    npg_status st = la_fits("trsm", n, n);
    if (!st) st = la_fits("trsm", n, nrhs);
    if (st) return st;
    la_ctx c = {.dt = dt, .n = (lp_int)n, .nrhs = (lp_int)nrhs, .ca = a, .b = b, .flag1 = lower, .flag2 = trans,
                .flag3 = unit, .es = npg__dtype_size(dt)};
    return la_run("trsm", batch, n, 0, trsm_one, &c, NULL);
}

/* ---- qr --------------------------------------------------------------------------------------- */

/* ws: tau (min(m, n)) then the LAPACK workspace (lwork). */
static lp_int qr_one(const void *ctx, int64_t k, void *ws) {
    const la_ctx *c = ctx;
    const lp_int m = c->m, n = c->n, qc = c->qc, kk = m < n ? m : n;
    char *a = LA_AT(c->a, k, (int64_t)m * n), *q = LA_AT(c->q, k, (int64_t)m * qc), *r = LA_AT(c->r, k, (int64_t)qc * n);
    char *tau = ws, *work = (char *)ws + (size_t)kk * c->es;
    lp_int info = 0;
    if (c->dt == NPG_FLOAT32) sgeqrf_(&m, &n, (float *)a, &m, (float *)tau, (float *)work, &c->lwork, &info);
    else dgeqrf_(&m, &n, (double *)a, &m, (double *)tau, (double *)work, &c->lwork, &info);
    if (info) return info;
    /* R: the upper trapezoid of the first qc rows (rows >= kk are zero) */
    for (lp_int j = 0; j < n; j++) {
        for (lp_int i = 0; i < qc; i++) {
            size_t src = (size_t)i + (size_t)j * (size_t)m, dst = (size_t)i + (size_t)j * (size_t)qc;
            if (c->dt == NPG_FLOAT32) ((float *)r)[dst] = i <= j ? ((float *)a)[src] : 0.0f;
            else ((double *)r)[dst] = i <= j ? ((double *)a)[src] : 0.0;
        }
    }
    /* Q: the reflectors (first kk columns) expanded to m x qc */
    memcpy(q, a, (size_t)m * (size_t)kk * c->es);
    if (c->dt == NPG_FLOAT32) sorgqr_(&m, &qc, &kk, (float *)q, &m, (float *)tau, (float *)work, &c->lwork, &info);
    else dorgqr_(&m, &qc, &kk, (double *)q, &m, (double *)tau, (double *)work, &c->lwork, &info);
    return info;
}

npg_status npg__cpu_qr(int dev, npg_dtype dt, int64_t batch, int64_t m, int64_t n, int64_t qc, void *a, void *q,
                       void *r) {
    (void)dev;
    npg_status st = la_fits("qr", m, n > qc ? n : qc);
    if (st) return st;
    lp_int M = (lp_int)m, N = (lp_int)n, QC = (lp_int)qc, K = M < N ? M : N, query = -1, info = 0;
    double w1 = 0, w2 = 0;
    if (dt == NPG_FLOAT32) {
        float f1 = 0, f2 = 0, dummy = 0;
        sgeqrf_(&M, &N, &dummy, &M, &dummy, &f1, &query, &info);
        sorgqr_(&M, &QC, &K, &dummy, &M, &dummy, &f2, &query, &info);
        w1 = f1, w2 = f2;
    } else {
        double dummy = 0;
        dgeqrf_(&M, &N, &dummy, &M, &dummy, &w1, &query, &info);
        dorgqr_(&M, &QC, &K, &dummy, &M, &dummy, &w2, &query, &info);
    }
    lp_int lwork = la_lwork(w1 > w2 ? w1 : w2);
    if (lwork < N) lwork = N > QC ? N : QC;
    size_t es = npg__dtype_size(dt);
    la_ctx c = {.dt = dt, .m = M, .n = N, .qc = QC, .lwork = lwork, .a = a, .q = q, .r = r, .es = es};
    /* geqrf and orgqr have no numerical failures: an info of theirs is a
     * rejected argument, which la_run reports */
    int *infos = malloc(sizeof(int) * (size_t)batch);
    if (!infos) return npg__set_error(NPG_ERR_OOM, "cpu qr: out of memory");
    st = la_run("qr", batch, n > m ? n : m, ((size_t)K + (size_t)lwork) * es, qr_one, &c, infos);
    free(infos);
    return st;
}

/* ---- syevd ------------------------------------------------------------------------------------ */

/* ws: work (lwork elements) then iwork (liwork ints). */
static lp_int syevd_one(const void *ctx, int64_t k, void *ws) {
    const la_ctx *c = ctx;
    char *a = LA_AT(c->a, k, (int64_t)c->n * c->n), *w = LA_AT(c->w, k, c->n);
    lp_int *iwork = (lp_int *)((char *)ws + (size_t)c->lwork * c->es);
    const char *jobz = c->flag1 ? "V" : "N";
    lp_int info = 0;
    if (c->dt == NPG_FLOAT32)
        ssyevd_(jobz, "L", &c->n, (float *)a, &c->n, (float *)w, ws, &c->lwork, iwork, &c->liwork, &info, 1, 1);
    else dsyevd_(jobz, "L", &c->n, (double *)a, &c->n, (double *)w, ws, &c->lwork, iwork, &c->liwork, &info, 1, 1);
    return info;
}

npg_status npg__cpu_syevd(int dev, npg_dtype dt, int64_t batch, int64_t n, void *a, void *w, bool vectors,
                          int *info) {
    (void)dev;
    npg_status st = la_fits("syevd", n, n);
    if (st) return st;
    lp_int N = (lp_int)n, query = -1, qinfo = 0, liwork = 0;
    const char *jobz = vectors ? "V" : "N";
    double wq = 0;
    if (dt == NPG_FLOAT32) {
        float f = 0, dummy = 0;
        ssyevd_(jobz, "L", &N, &dummy, &N, &dummy, &f, &query, &liwork, &query, &qinfo, 1, 1);
        wq = f;
    } else {
        double dummy = 0;
        dsyevd_(jobz, "L", &N, &dummy, &N, &dummy, &wq, &query, &liwork, &query, &qinfo, 1, 1);
    }
    lp_int lwork = la_lwork(wq);
    if (liwork < 1) liwork = 1;
    size_t es = npg__dtype_size(dt);
    lwork = la_align8(lwork, es);
    la_ctx c = {.dt = dt, .n = N, .lwork = lwork, .liwork = liwork, .a = a, .w = w, .flag1 = vectors, .es = es};
    return la_run("syevd", batch, n, (size_t)lwork * es + (size_t)liwork * sizeof(lp_int), syevd_one, &c, info);
}

/* ---- gesvd (LAPACK's divide-and-conquer gesdd) ------------------------------------------------- */

/* ws: work (lwork elements) then iwork (8n ints). */
static lp_int gesvd_one(const void *ctx, int64_t k, void *ws) {
    const la_ctx *c = ctx;
    const lp_int m = c->m, n = c->n, uc = c->flag2 ? m : n;
    char *a = LA_AT(c->a, k, (int64_t)m * n), *s = LA_AT(c->w, k, n);
    char *u = c->u ? LA_AT(c->u, k, (int64_t)m * uc) : NULL, *vt = c->vt ? LA_AT(c->vt, k, (int64_t)n * n) : NULL;
    lp_int *iwork = (lp_int *)((char *)ws + (size_t)c->lwork * c->es);
    const char *jobz = !c->flag1 ? "N" : c->flag2 ? "A" : "S";
    const lp_int ldu = c->flag1 ? m : 1, ldvt = c->flag1 ? n : 1;
    lp_int info = 0;
    if (c->dt == NPG_FLOAT32)
        sgesdd_(jobz, &m, &n, (float *)a, &m, (float *)s, (float *)u, &ldu, (float *)vt, &ldvt, ws, &c->lwork, iwork,
                &info, 1);
    else
        dgesdd_(jobz, &m, &n, (double *)a, &m, (double *)s, (double *)u, &ldu, (double *)vt, &ldvt, ws, &c->lwork,
                iwork, &info, 1);
    /* LAPACK 3.7+ gesdd answers a NaN in A with info = -4 ("A" is argument
     * 4) and leaves s untouched: a numerical failure, not a bad argument */
    return info == -4 ? 1 : info;
}

npg_status npg__cpu_gesvd(int dev, npg_dtype dt, int64_t batch, int64_t m, int64_t n, bool full, void *a, void *s,
                          void *u, void *vt, int *info) {
    (void)dev;
    npg_status st = la_fits("gesvd", m, m);
    if (st) return st;
    bool vectors = u != NULL;
    lp_int M = (lp_int)m, N = (lp_int)n, query = -1, qinfo = 0, ldu = vectors ? M : 1, ldvt = vectors ? N : 1;
    const char *jobz = !vectors ? "N" : full ? "A" : "S";
    double wq = 0;
    lp_int iq = 0;
    if (dt == NPG_FLOAT32) {
        float f = 0, dummy = 0;
        sgesdd_(jobz, &M, &N, &dummy, &M, &dummy, &dummy, &ldu, &dummy, &ldvt, &f, &query, &iq, &qinfo, 1);
        wq = f;
    } else {
        double dummy = 0;
        dgesdd_(jobz, &M, &N, &dummy, &M, &dummy, &dummy, &ldu, &dummy, &ldvt, &wq, &query, &iq, &qinfo, 1);
    }
    lp_int lwork = la_lwork(wq);
    size_t es = npg__dtype_size(dt);
    lwork = la_align8(lwork, es);
    la_ctx c = {.dt = dt, .m = M, .n = N, .lwork = lwork, .a = a, .w = s, .u = u, .vt = vt, .flag1 = vectors,
                .flag2 = full, .es = es};
    return la_run("gesvd", batch, m, (size_t)lwork * es + 8 * (size_t)N * sizeof(lp_int), gesvd_one, &c, info);
}
