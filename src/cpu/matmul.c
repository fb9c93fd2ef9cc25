/*
 * matmul.c — batched matrix products. float32/float64 go to OpenBLAS
 * (cblas_sgemm/dgemm), reading each operand in place as a row-major matrix or
 * as the transpose of one (whichever of its last two strides is 1); other
 * layouts are packed first. A batch whose right operand is shared (batch
 * strides 0: x @ W with x of shape (B, T, C)) and whose left operand stacks
 * evenly becomes one tall GEMM. Many small products run in parallel over the
 * batch, each BLAS call single-threaded; big ones use BLAS's own threads.
 *
 * Integers (uint8, int32, int64: wrapping) and bool (OR of ANDs) use a plain
 * i-k-j kernel: each output row accumulates scaled rows of b, contiguous in j.
 *
 * float16 / bfloat16 (the backend's half_matmul) accumulate in float32 and
 * round once: bfloat16 through gemm_bf16.c's AVX512-BF16 kernel where the
 * CPU has it, otherwise sgemm on float32 copies.
 */
#include "cpu.h"
#include "half_cvt.h"

#include <stdlib.h>

#include <cblas.h>

/* How BLAS can read a (rows, cols) matrix with strides (sr, sc): as is, or
 * transposed; false when neither works (negative, zero or overlapping). */
static bool blas_layout(int64_t sr, int64_t sc, int64_t rows, int64_t cols, bool *trans, int64_t *ld) {
    int64_t c1 = cols > 1 ? cols : 1, r1 = rows > 1 ? rows : 1;
    if ((sc == 1 || cols == 1) && (rows == 1 || sr >= c1)) {
        *trans = false;
        *ld = rows == 1 ? c1 : sr;
        return *ld <= INT32_MAX;
    }
    if ((sr == 1 || rows == 1) && (cols == 1 || sc >= r1)) {
        *trans = true;
        *ld = cols == 1 ? r1 : sc;
        return *ld <= INT32_MAX;
    }
    return false;
}

/* A contiguous copy of d in dtype dt (caller frees *buf); d is rewritten to
 * describe it. */
static npg_status pack(npg_tdesc *d, npg_dtype dt, void **buf) {
    int64_t n = npg__desc_numel(d);
    size_t es = npg__dtype_size(dt);
    *buf = malloc((size_t)(n ? n : 1) * es);
    if (!*buf) return npg__set_error(NPG_ERR_OOM, "cpu matmul: out of memory packing an operand");
    npg_tdesc c = *d;
    c.dtype = dt;
    c.data = *buf;
    int64_t st = 1;
    for (int i = d->ndim - 1; i >= 0; i--) {
        c.strides[i] = st;
        st *= d->shape[i];
    }
    npg_status s = npg__cpu_copy(0, &c, d);
    *d = c;
    return s;
}

typedef struct mm_geom {
    int nb;                                   /* batch dims */
    int64_t B, M, N, K;
    const int64_t *bshape;                    /* out's batch shape */
    const int64_t *sa, *sb;                   /* a, b strides (batch dims first) */
} mm_geom;

static void gemm(npg_dtype dt, bool ta, bool tb, int64_t M, int64_t N, int64_t K, const char *a, int64_t lda,
                 const char *b, int64_t ldb, char *c, int64_t ldc) {
    enum CBLAS_TRANSPOSE TA = ta ? CblasTrans : CblasNoTrans, TB = tb ? CblasTrans : CblasNoTrans;
    if (dt == NPG_FLOAT32)
        cblas_sgemm(CblasRowMajor, TA, TB, (int)M, (int)N, (int)K, 1.0f, (const float *)a, (int)lda,
                    (const float *)b, (int)ldb, 0.0f, (float *)c, (int)ldc);
    else
        cblas_dgemm(CblasRowMajor, TA, TB, (int)M, (int)N, (int)K, 1.0, (const double *)a, (int)lda,
                    (const double *)b, (int)ldb, 0.0, (double *)c, (int)ldc);
}

static npg_status matmul_blas(const mm_geom *g, npg_dtype dt, char *out, const char *a, const char *b) {
    const int nd = g->nb + 2;
    const int64_t es = (int64_t)npg__dtype_size(dt), M = g->M, N = g->N, K = g->K;
    bool ta, tb;
    int64_t lda, ldb;
    if (!blas_layout(g->sa[nd - 2], g->sa[nd - 1], M, K, &ta, &lda) ||
        !blas_layout(g->sb[nd - 2], g->sb[nd - 1], K, N, &tb, &ldb))
        return npg__set_error(NPG_ERR_INTERNAL, "cpu matmul: operand layout not BLAS-compatible");
    /* One tall GEMM when b is shared and a's batches are evenly stacked rows. */
    bool b_shared = true, a_stacked = !ta;
    int64_t expect = M * lda;
    for (int i = g->nb - 1; i >= 0; i--) {
        if (g->bshape[i] == 1) continue;
        if (g->sb[i] != 0) b_shared = false;
        if (g->sa[i] != expect) a_stacked = false;
        expect *= g->bshape[i];
    }
    if (b_shared && a_stacked && g->B * M <= INT32_MAX) {
        gemm(dt, false, tb, g->B * M, N, K, a, lda, b, ldb, out, N);
        return NPG_OK;
    }
    /* Small products: one per thread, BLAS single-threaded inside. Only
     * enter a parallel region when it is used: an inactive one (if false)
     * would still nest OpenBLAS's own region inside it, and libgomp then
     * creates fresh, spinning threads for every BLAS call. */
    bool per_thread = g->B > 1 && g->B >= npg__cpu_threads() && M * N * K <= (int64_t)1 << 21;
    if (!per_thread) {
        for (int64_t t = 0; t < g->B; t++) {
            int64_t ao = npg__cpu_flat_offset(g->nb, g->bshape, g->sa, t);
            int64_t bo = npg__cpu_flat_offset(g->nb, g->bshape, g->sb, t);
            gemm(dt, ta, tb, M, N, K, a + ao * es, lda, b + bo * es, ldb, out + t * M * N * es, N);
        }
        return NPG_OK;
    }
    NPG_OMP_FOR(true)
    for (int64_t t = 0; t < g->B; t++) {
        int64_t ao = npg__cpu_flat_offset(g->nb, g->bshape, g->sa, t);
        int64_t bo = npg__cpu_flat_offset(g->nb, g->bshape, g->sb, t);
        gemm(dt, ta, tb, M, N, K, a + ao * es, lda, b + bo * es, ldb, out + t * M * N * es, N);
    }
    return NPG_OK;
}

/* out (M, N) = a (M, K) @ b (K, N) for one batch element; U is the unsigned
 * type the products wrap in. */
#define IMM_KERNEL(t, U, ROWOP)                                                                  \
    static void imm_##t(char *out_, const char *a_, const char *b_, int64_t i, const mm_geom *g, \
                        int64_t sar, int64_t sak, int64_t sbk, int64_t sbn) {                     \
        typedef NPG_T_##t T;                                                                     \
        typedef U UT;                                                                            \
        T *o = (T *)out_ + i * g->N;                                                             \
        const T *a = (const T *)a_, *b = (const T *)b_;                                          \
        for (int64_t j = 0; j < g->N; j++) o[j] = 0;                                             \
        for (int64_t k = 0; k < g->K; k++) {                                                     \
            const U x = (U)a[i * sar + k * sak];                                                 \
            if (x == 0) continue;                                                                \
            const T *br = b + k * sbk;                                                           \
            if (sbn == 1) {                                                                      \
                NPG_SIMD for (int64_t j = 0; j < g->N; j++) o[j] = (T)(ROWOP(o[j], x, br[j]));   \
            } else {                                                                             \
                for (int64_t j = 0; j < g->N; j++) o[j] = (T)(ROWOP(o[j], x, br[j * sbn]));      \
            }                                                                                    \
        }                                                                                        \
    }
#define MAC(o, x, y) ((UT)(o) + (x) * (UT)(y))
#define OR_AND(o, x, y) ((UT)(o) | (UT)(y))
IMM_KERNEL(u8, unsigned, MAC)
IMM_KERNEL(i32, uint32_t, MAC)
IMM_KERNEL(i64, uint64_t, MAC)
IMM_KERNEL(b, unsigned, OR_AND)
IMM_KERNEL(i8, uint32_t, MAC)
IMM_KERNEL(i16, uint32_t, MAC)
IMM_KERNEL(u16, uint32_t, MAC)
IMM_KERNEL(u32, uint32_t, MAC)
IMM_KERNEL(u64, uint64_t, MAC)

typedef void (*imm_fn)(char *out, const char *a, const char *b, int64_t i, const mm_geom *g, int64_t sar,
                       int64_t sak, int64_t sbk, int64_t sbn);

static void matmul_int(const mm_geom *g, npg_dtype dt, char *out, const char *a, const char *b) {
    static const imm_fn tab[NPG_DTYPE_COUNT] = {
        [NPG_BOOL] = imm_b,   [NPG_UINT8] = imm_u8,   [NPG_INT32] = imm_i32,  [NPG_INT64] = imm_i64,
        [NPG_INT8] = imm_i8,  [NPG_INT16] = imm_i16,  [NPG_UINT16] = imm_u16, [NPG_UINT32] = imm_u32,
        [NPG_UINT64] = imm_u64,
    };
    imm_fn fn = tab[dt];
    const int nd = g->nb + 2;
    const int64_t es = (int64_t)npg__dtype_size(dt), rows = g->B * g->M;
    const int64_t sar = g->sa[nd - 2], sak = g->sa[nd - 1], sbk = g->sb[nd - 2], sbn = g->sb[nd - 1];
    NPG_PAR_LOOP(rows > 1 && rows * g->N * g->K >= NPG_CPU_PAR_MIN, r, rows, {
        int64_t t = r / g->M, i = r % g->M;
        int64_t ao = npg__cpu_flat_offset(g->nb, g->bshape, g->sa, t);
        int64_t bo = npg__cpu_flat_offset(g->nb, g->bshape, g->sb, t);
        fn(out + t * g->M * g->N * es, a + ao * es, b + bo * es, i, g, sar, sak, sbk, sbn);
    });
}

/* float16 / bfloat16: bfloat16 on AVX512-BF16 CPUs through gemm_bf16.c's
 * dot-product kernel; otherwise sgemm on float32 copies (the result rounded
 * once either way). */
static npg_status matmul_half(const mm_geom *g0, npg_dtype dt, const npg_tdesc *out, const npg_tdesc *a,
                              const npg_tdesc *b) {
    mm_geom g = *g0;
    const int64_t total = g.B * g.M * g.N, nd = g.nb + 2;
    const size_t cbytes = sizeof(float) * (size_t)total;
    void *cv = NULL;
    npg_status s = npg_cpu_backend.alloc(0, cbytes, &cv);
    if (s != NPG_OK) return s;
    float *c = cv;
    if (dt == NPG_BFLOAT16 && npg__cpu_has_bf16_dot()) {
        /* small products one per thread (as matmul_blas), big ones split */
        const bool per_thread = g.B > 1 && g.B >= npg__cpu_threads() && g.M * g.N * g.K <= (int64_t)1 << 21;
        int bad = 0; /* the most negative status (errors are < 0) */
        NPG_PAR_LOOP_REDUCE(per_thread, min : bad, t, g.B, {
            int64_t ao = npg__cpu_flat_offset(g.nb, g.bshape, g.sa, t);
            int64_t bo = npg__cpu_flat_offset(g.nb, g.bshape, g.sb, t);
            int st = npg__cpu_gemm_bf16(g.M, g.N, g.K, (const uint16_t *)a->data + ao, g.sa[nd - 2], g.sa[nd - 1],
                                        (const uint16_t *)b->data + bo, g.sb[nd - 2], g.sb[nd - 1],
                                        c + t * g.M * g.N, !per_thread);
            if (st < bad) bad = st;
        });
        s = (npg_status)bad;
    } else {
        npg_tdesc da = *a, db = *b;
        void *pa = NULL, *pb = NULL;
        s = pack(&da, NPG_FLOAT32, &pa);
        if (s == NPG_OK) s = pack(&db, NPG_FLOAT32, &pb);
        if (s == NPG_OK) {
            g.sa = da.strides;
            g.sb = db.strides;
            s = matmul_blas(&g, NPG_FLOAT32, (char *)c, da.data, db.data);
        }
        free(pa);
        free(pb);
    }
    if (s == NPG_OK) npg_cvt_f32_half(dt == NPG_FLOAT16, out->data, c, total);
    npg_cpu_backend.free(0, cv, cbytes);
    return s;
}

npg_status npg__cpu_matmul(int dev, const npg_tdesc *out, const npg_tdesc *a, const npg_tdesc *b, bool allow_tf32) {
    npg_dtype dt = out->dtype;
    if (dt <= NPG_DTYPE_DEFAULT || dt >= NPG_DTYPE_COUNT) return npg__cpu_unsupported(NPG_OP_MATMUL, dt);
    if (a->dtype != dt || b->dtype != dt)
        return npg__cpu_unsupported(NPG_OP_MATMUL, a->dtype != dt ? a->dtype : b->dtype);
    const int nd = out->ndim;
    if (nd < 2 || a->ndim != nd || b->ndim != nd || !npg__desc_contiguous(out))
        return npg__set_error(NPG_ERR_INTERNAL, "cpu matmul: unexpected descriptors");
    mm_geom g = {.nb = nd - 2, .B = 1, .M = out->shape[nd - 2], .N = out->shape[nd - 1], .K = a->shape[nd - 1],
                 .bshape = out->shape, .sa = a->strides, .sb = b->strides};
    for (int i = 0; i < g.nb; i++) g.B *= out->shape[i];
    if (g.B * g.M * g.N == 0) return NPG_OK;
    if (g.K == 0) return npg__cpu_fill(dev, out, 0.0, 0);
    if (dt == NPG_FLOAT16 || dt == NPG_BFLOAT16) {
        if (g.M > INT32_MAX || g.N > INT32_MAX || g.K > INT32_MAX)
            return npg__set_error(NPG_ERR_UNSUPPORTED, "cpu matmul: dimension too large for BLAS");
        return matmul_half(&g, dt, out, a, b);
    }
    if (dt != NPG_FLOAT32 && dt != NPG_FLOAT64) {
        matmul_int(&g, dt, out->data, a->data, b->data);
        return NPG_OK;
    }
    if (g.M > INT32_MAX || g.N > INT32_MAX || g.K > INT32_MAX)
        return npg__set_error(NPG_ERR_UNSUPPORTED, "cpu matmul: dimension too large for BLAS");
    /* Operands BLAS cannot read in place are packed (broadcast or negative
     * strides inside a matrix, which common's views can produce). */
    npg_tdesc da = *a, db = *b;
    void *pa = NULL, *pb = NULL;
    bool t;
    int64_t ld;
    npg_status s = NPG_OK;
    if (!blas_layout(a->strides[nd - 2], a->strides[nd - 1], g.M, g.K, &t, &ld)) s = pack(&da, dt, &pa);
    if (s == NPG_OK && !blas_layout(b->strides[nd - 2], b->strides[nd - 1], g.K, g.N, &t, &ld)) s = pack(&db, dt, &pb);
    if (s == NPG_OK) {
        g.sa = da.strides;
        g.sb = db.strides;
        s = matmul_blas(&g, dt, out->data, da.data, db.data);
    }
    free(pa);
    free(pb);
    return s;
}
