/*
 * nn.c — the CPU backend's fused neural-network kernels: softmax and
 * log-softmax (and their backward), cross-entropy from logits (and its
 * backward), im2col / col2im for convolutions, 2-d max and average pooling
 * (and their backward), and the in-place SGD and Adam updates.
 *
 * Rows (softmax, cross-entropy) and image planes (im2col, pooling) are
 * independent, so each kernel runs one row or plane per task and threads
 * take whole tasks: adjoints that accumulate (col2im, pooling backward) never
 * race. Row sums accumulate in double. Element formulas use scalar_ops.h
 * where one exists, so CPU and CUDA round alike — except exp, which is
 * vmath.h's branch-free one so that the row loops vectorise (libm's exp is a
 * scalar call); it differs from libm's in the last bit at most.
 */
#include "cpu.h"
#include "vmath.h"

#include <math.h>

#define FLT2(M, X) M(X, f32) M(X, f64)
#define NUMERIC(M, X) M(X, u8) M(X, i32) M(X, i64) M(X, f32) M(X, f64) M(X, i8) M(X, i16) M(X, u16) M(X, u32) M(X, u64)
#define DTAB(PFX, t) [NPG_DT_##t] = PFX##_##t,

static bool flt(npg_dtype d) { return d == NPG_FLOAT32 || d == NPG_FLOAT64; }

/* R rows of C: the row count of an (R, C) contiguous descriptor of any ndim >= 1. */
static int64_t rows_of(const npg_tdesc *d, int64_t *C) {
    *C = d->ndim ? d->shape[d->ndim - 1] : 1;
    return *C ? npg__desc_numel(d) / *C : 0;
}

/* ---- row helpers ---------------------------------------------------------------- */
/* max over a row of C >= 0 elements: npg_s_maximum folded over the row
 * (-inf when empty, NaN when any element is NaN), as a lane-wise reduction
 * that vectorises (OpenMP starts each lane at the type's least value, -inf
 * for IEEE floats). Only the sign of a zero maximum may differ from the
 * sequential fold, and no caller can tell: x - m is then +-0 for the tied
 * zeros, exp(+-0) = 1, and with two tied terms log(sum) > 0, so neither
 * (x - m) - log(sum) nor m + log(sum) shows the sign. */
#define ROW_MAX(X, t)                                                                            \
    static inline NPG_T_##t row_max_##t(const NPG_T_##t *x, int64_t C) {                         \
        NPG_T_##t m = -INFINITY;                                                                 \
        int nan = 0;                                                                             \
        NPG_SIMD_WITH(reduction(max : m) reduction(| : nan))                                     \
        for (int64_t c = 0; c < C; c++) {                                                        \
            m = x[c] > m ? x[c] : m;                                                             \
            nan |= x[c] != x[c];                                                                 \
        }                                                                                        \
        return nan ? (NPG_T_##t)NAN : m;                                                         \
    }
FLT2(ROW_MAX, _)

/* ---- softmax ------------------------------------------------------------------ */
/* y (R, C) = softmax or log_softmax of x (R, C), row by row: max subtracted,
 * sum in double; a NaN anywhere in a row makes the row NaN. */
#define SOFTMAX(X, t)                                                                            \
    static void softmax_row_##t(char *y_, const char *x_, int64_t r, int64_t C, bool log) {      \
        typedef NPG_T_##t T;                                                                     \
        const T *x = (const T *)x_ + r * C;                                                      \
        T *y = (T *)y_ + r * C;                                                                  \
        const T m = row_max_##t(x, C);                                                           \
        double s = 0;                                                                            \
        if (log) {                                                                               \
            NPG_SIMD_WITH(reduction(+ : s))                                                      \
            for (int64_t c = 0; c < C; c++) s += npg_k_exp_##t(x[c] - m);                        \
        } else {                                                                                 \
            NPG_SIMD_WITH(reduction(+ : s))                                                      \
            for (int64_t c = 0; c < C; c++) {                                                    \
                const T e = npg_k_exp_##t(x[c] - m);                                             \
                y[c] = e;                                                                        \
                s += e;                                                                          \
            }                                                                                    \
        }                                                                                        \
        if (log) {                                                                               \
            T ls = (T)npg_s_log_f64(s);                                                          \
            for (int64_t c = 0; c < C; c++) y[c] = (x[c] - m) - ls;                              \
        } else {                                                                                 \
            T st = (T)s;                                                                         \
            for (int64_t c = 0; c < C; c++) y[c] = y[c] / st;                                    \
        }                                                                                        \
    }                                                                                            \
    static void softmax_##t(char *y_, const char *x_, int64_t R, int64_t C, bool log) {          \
        NPG_PAR_LOOP(R > 1 && R * C >= NPG_CPU_PAR_MIN_HEAVY, r, R, softmax_row_##t(y_, x_, r, C, log);); \
    }
/* softmax: gin = y * (g - sum(g * y)); log_softmax: gin = g - exp(y) * sum(g). */
#define SOFTMAX_BW(X, t)                                                                         \
    static void softmax_bw_row_##t(char *gi_, const char *g_, const char *y_, int64_t r, int64_t C, bool log) { \
        typedef NPG_T_##t T;                                                                     \
        const T *g = (const T *)g_ + r * C, *y = (const T *)y_ + r * C;                          \
        T *gi = (T *)gi_ + r * C;                                                                \
        double s = 0;                                                                            \
        if (log) {                                                                               \
            NPG_SIMD_WITH(reduction(+ : s))                                                      \
            for (int64_t c = 0; c < C; c++) s += (double)g[c];                                   \
        } else {                                                                                 \
            NPG_SIMD_WITH(reduction(+ : s))                                                      \
            for (int64_t c = 0; c < C; c++) s += (double)g[c] * (double)y[c];                    \
        }                                                                                        \
        const T st = (T)s;                                                                       \
        if (log) {                                                                               \
            NPG_SIMD for (int64_t c = 0; c < C; c++) gi[c] = g[c] - npg_k_exp_##t(y[c]) * st;    \
        } else {                                                                                 \
            NPG_SIMD for (int64_t c = 0; c < C; c++) gi[c] = y[c] * (g[c] - st);                 \
        }                                                                                        \
    }                                                                                            \
    static void softmax_bw_##t(char *gi_, const char *g_, const char *y_, int64_t R, int64_t C,  \
                               bool log) {                                                       \
        NPG_PAR_LOOP(R > 1 && R * C >= NPG_CPU_PAR_MIN_HEAVY, r, R, softmax_bw_row_##t(gi_, g_, y_, r, C, log);); \
    }
FLT2(SOFTMAX, _)
FLT2(SOFTMAX_BW, _)

npg_status npg__cpu_softmax(int dev, const npg_tdesc *out, const npg_tdesc *in, bool log) {
    npg_op op = log ? NPG_OP_LOG_SOFTMAX : NPG_OP_SOFTMAX;
    if (!flt(in->dtype) || out->dtype != in->dtype) return npg__cpu_unsupported(op, in->dtype);
    if (!npg__desc_contiguous(in) || !npg__desc_contiguous(out))
        return npg__set_error(NPG_ERR_INTERNAL, "cpu %s: operands must be contiguous", npg__op_name(op));
    int64_t C, R = rows_of(in, &C);
    if (in->dtype == NPG_FLOAT32) softmax_f32(out->data, in->data, R, C, log);
    else softmax_f64(out->data, in->data, R, C, log);
    return NPG_OK;
}

npg_status npg__cpu_softmax_backward(int dev, const npg_tdesc *gin, const npg_tdesc *g, const npg_tdesc *y,
                                       bool log) {
    npg_op op = log ? NPG_OP_LOG_SOFTMAX : NPG_OP_SOFTMAX;
    npg_dtype dt = y->dtype;
    if (!flt(dt) || g->dtype != dt || gin->dtype != dt) return npg__cpu_unsupported(op, dt);
    if (!npg__desc_contiguous(gin) || !npg__desc_contiguous(g) || !npg__desc_contiguous(y))
        return npg__set_error(NPG_ERR_INTERNAL, "cpu %s backward: operands must be contiguous", npg__op_name(op));
    int64_t C, R = rows_of(y, &C);
    if (dt == NPG_FLOAT32) softmax_bw_f32(gin->data, g->data, y->data, R, C, log);
    else softmax_bw_f64(gin->data, g->data, y->data, R, C, log);
    return NPG_OK;
}

/* ---- cross-entropy ---------------------------------------------------------------- */

/* First row whose label is neither ignored nor in [0, C); -1 if none. */
static int64_t bad_label(const int64_t *lab, int64_t R, int64_t C, bool has_ignore, int64_t ignore) {
    for (int64_t r = 0; r < R; r++)
        if (!(has_ignore && lab[r] == ignore) && (lab[r] < 0 || lab[r] >= C)) return r;
    return -1;
}

/* loss[r] = (1-eps)(lse - x[y]) + eps (lse - mean x); lse[r] = log sum exp x[r]. */
#define CE(X, t)                                                                                 \
    static void ce_row_##t(char *loss_, char *lse_, const char *x_, const int64_t *lab, int64_t r, \
                           int64_t C, double eps, bool has_ignore, int64_t ignore) {             \
        typedef NPG_T_##t T;                                                                     \
        const T *x = (const T *)x_ + r * C;                                                      \
        const T m = row_max_##t(x, C);                                                           \
        double s = 0, sx = 0;                                                                    \
        NPG_SIMD_WITH(reduction(+ : s, sx))                                                      \
        for (int64_t c = 0; c < C; c++) {                                                        \
            s += npg_k_exp_##t(x[c] - m);                                                        \
            sx += x[c];                                                                          \
        }                                                                                        \
        double lse = (double)m + npg_s_log_f64(s);                                               \
        ((T *)lse_)[r] = (T)lse;                                                                 \
        bool skip = has_ignore && lab[r] == ignore;                                              \
        double l = skip ? 0 : (1 - eps) * (lse - (double)x[lab[r]]);                             \
        if (!skip && eps != 0) l += eps * (lse - sx / (double)C); /* 0 * inf is NaN: skip at eps 0 */ \
        ((T *)loss_)[r] = (T)l;                                                                  \
    }                                                                                            \
    static void ce_##t(char *loss_, char *lse_, const char *x_, const int64_t *lab, int64_t R,   \
                       int64_t C, double eps, bool has_ignore, int64_t ignore) {                 \
        NPG_PAR_LOOP(R > 1 && R * C >= NPG_CPU_PAR_MIN_HEAVY, r, R,                              \
                     ce_row_##t(loss_, lse_, x_, lab, r, C, eps, has_ignore, ignore););          \
    }
/* gx[r,c] = gloss[r] (exp(x - lse) - (1-eps)[c == y] - eps/C); 0 on ignored rows. */
#define CE_BW(X, t)                                                                              \
    static void ce_bw_row_##t(char *gx_, const char *gl_, const char *x_, const char *lse_,      \
                              const int64_t *lab, int64_t r, int64_t C, double eps, bool has_ignore, \
                              int64_t ignore) {                                                  \
        typedef NPG_T_##t T;                                                                     \
        const T *x = (const T *)x_ + r * C;                                                      \
        T *gx = (T *)gx_ + r * C;                                                                \
        if (has_ignore && lab[r] == ignore) {                                                    \
            for (int64_t c = 0; c < C; c++) gx[c] = 0;                                           \
            return;                                                                              \
        }                                                                                        \
        const T g = ((const T *)gl_)[r], lse = ((const T *)lse_)[r];                             \
        const T on = (T)(1 - eps), off = (T)(eps / (double)C);                                   \
        NPG_SIMD for (int64_t c = 0; c < C; c++) gx[c] = g * (npg_k_exp_##t(x[c] - lse) - off);  \
        gx[lab[r]] = g * (npg_k_exp_##t(x[lab[r]] - lse) - on - off);                            \
    }                                                                                            \
    static void ce_bw_##t(char *gx_, const char *gl_, const char *x_, const char *lse_,          \
                          const int64_t *lab, int64_t R, int64_t C, double eps, bool has_ignore, \
                          int64_t ignore) {                                                      \
        NPG_PAR_LOOP(R > 1 && R * C >= NPG_CPU_PAR_MIN_HEAVY, r, R,                              \
                     ce_bw_row_##t(gx_, gl_, x_, lse_, lab, r, C, eps, has_ignore, ignore););    \
    }
FLT2(CE, _)
FLT2(CE_BW, _)

static npg_status label_error(const int64_t *lab, int64_t r, int64_t C) {
    return npg__set_error(NPG_ERR_INDEX, "cross_entropy: label %lld is out of bounds for %lld classes",
                          (long long)lab[r], (long long)C);
}

npg_status npg__cpu_cross_entropy(int dev, const npg_tdesc *loss, const npg_tdesc *lse, const npg_tdesc *x,
                                    const npg_tdesc *labels, double eps, bool has_ignore, int64_t ignore) {
    npg_dtype dt = x->dtype;
    if (!flt(dt) || loss->dtype != dt || lse->dtype != dt) return npg__cpu_unsupported(NPG_OP_CROSS_ENTROPY, dt);
    if (labels->dtype != NPG_INT64) return npg__cpu_unsupported(NPG_OP_CROSS_ENTROPY, labels->dtype);
    if (!npg__desc_contiguous(x) || !npg__desc_contiguous(labels) || !npg__desc_contiguous(loss) ||
        !npg__desc_contiguous(lse))
        return npg__set_error(NPG_ERR_INTERNAL, "cpu cross_entropy: operands must be contiguous");
    int64_t C, R = rows_of(x, &C);
    int64_t bad = bad_label(labels->data, R, C, has_ignore, ignore);
    if (bad >= 0) return label_error(labels->data, bad, C);
    if (dt == NPG_FLOAT32) ce_f32(loss->data, lse->data, x->data, labels->data, R, C, eps, has_ignore, ignore);
    else ce_f64(loss->data, lse->data, x->data, labels->data, R, C, eps, has_ignore, ignore);
    return NPG_OK;
}

npg_status npg__cpu_cross_entropy_backward(int dev, const npg_tdesc *gx, const npg_tdesc *gloss,
                                             const npg_tdesc *x, const npg_tdesc *lse, const npg_tdesc *labels,
                                             double eps, bool has_ignore, int64_t ignore) {
    npg_dtype dt = x->dtype;
    if (!flt(dt) || gx->dtype != dt || gloss->dtype != dt || lse->dtype != dt)
        return npg__cpu_unsupported(NPG_OP_CROSS_ENTROPY, dt);
    if (labels->dtype != NPG_INT64) return npg__cpu_unsupported(NPG_OP_CROSS_ENTROPY, labels->dtype);
    if (!npg__desc_contiguous(x) || !npg__desc_contiguous(labels) || !npg__desc_contiguous(gx) ||
        !npg__desc_contiguous(gloss) || !npg__desc_contiguous(lse))
        return npg__set_error(NPG_ERR_INTERNAL, "cpu cross_entropy backward: operands must be contiguous");
    int64_t C, R = rows_of(x, &C);
    int64_t bad = bad_label(labels->data, R, C, has_ignore, ignore);
    if (bad >= 0) return label_error(labels->data, bad, C);
    if (dt == NPG_FLOAT32)
        ce_bw_f32(gx->data, gloss->data, x->data, lse->data, labels->data, R, C, eps, has_ignore, ignore);
    else
        ce_bw_f64(gx->data, gloss->data, x->data, lse->data, labels->data, R, C, eps, has_ignore, ignore);
    return NPG_OK;
}

/* ---- im2col / col2im ---------------------------------------------------------------- */

/* The output columns [lo, hi) whose input column iw0 + o*s lies in [0, W). */
static void in_range(int64_t iw0, int64_t s, int64_t W, int64_t OW, int64_t *lo, int64_t *hi) {
    int64_t a = iw0 >= 0 ? 0 : (-iw0 + s - 1) / s;
    int64_t b = W - 1 - iw0 < 0 ? 0 : (W - 1 - iw0) / s + 1;
    *lo = a < OW ? a : OW;
    *hi = b < OW ? b : OW;
    if (*hi < *lo) *hi = *lo;
}

/* One (n, c) plane: x (H, W) <-> its KH*KW rows of cols, each (OH, OW).
 * acc false: cols = x gathered (0 outside the image); true: x += cols.
 * ACCUM(a, b) is a + b in the type (h16: none, see below). */
#define IM2COL(X, t) IM2COL_(t, npg_s_add_##t)
#define IM2COL_(t, ACCUM)                                                                        \
    static void im2col_plane_##t(NPG_T_##t *cp, NPG_T_##t *xp, const npg_conv_geom *g, bool acc) { \
        const int64_t L = g->OH * g->OW;                                                         \
        for (int64_t kh = 0; kh < g->KH; kh++) {                                                 \
            for (int64_t kw = 0; kw < g->KW; kw++) {                                             \
                NPG_T_##t *row = cp + (kh * g->KW + kw) * L;                                     \
                int64_t iw0 = kw * g->dil_w - g->pad_w, lo, hi;                                  \
                in_range(iw0, g->stride_w, g->W, g->OW, &lo, &hi);                               \
                for (int64_t oh = 0; oh < g->OH; oh++) {                                         \
                    int64_t ih = oh * g->stride_h - g->pad_h + kh * g->dil_h;                    \
                    NPG_T_##t *d = row + oh * g->OW;                                             \
                    bool inside = ih >= 0 && ih < g->H;                                          \
                    /* the image row; columns iw0 + o*stride_w for o in [lo, hi) */              \
                    if (acc) {                                                                   \
                        if (!inside) continue;                                                   \
                        NPG_T_##t *s = xp + ih * g->W;                                           \
                        for (int64_t o = lo; o < hi; o++)                                        \
                            s[iw0 + o * g->stride_w] = ACCUM(s[iw0 + o * g->stride_w], d[o]);  \
                        continue;                                                                \
                    }                                                                            \
                    if (!inside) {                                                               \
                        for (int64_t o = 0; o < g->OW; o++) d[o] = 0;                            \
                        continue;                                                                \
                    }                                                                            \
                    const NPG_T_##t *s = xp + ih * g->W;                                         \
                    for (int64_t o = 0; o < lo; o++) d[o] = 0;                                   \
                    for (int64_t o = lo; o < hi; o++) d[o] = s[iw0 + o * g->stride_w];           \
                    for (int64_t o = hi; o < g->OW; o++) d[o] = 0;                               \
                }                                                                                \
            }                                                                                    \
        }                                                                                        \
    }                                                                                            \
    static void im2col_##t(char *cols, char *x, const npg_conv_geom *g, bool acc) {              \
        const int64_t planes = g->N * g->C, csz = g->KH * g->KW * g->OH * g->OW, xsz = g->H * g->W; \
        NPG_PAR_LOOP(planes > 1 && planes * csz >= NPG_CPU_PAR_MIN, p, planes,                   \
                     im2col_plane_##t((NPG_T_##t *)cols + p * csz, (NPG_T_##t *)x + p * xsz, g, acc);); \
    }
NUMERIC(IM2COL, _)
/* float16 / bfloat16 im2col moves the 2-byte elements as they are (the
 * backend's half_im2col); col2im, which adds, gets them as float32 copies
 * (half.c), so h16 has no addition and im2col_common refuses it with acc. */
#define NPG_T_h16 uint16_t
#define H16_NO_ADD(a, b) ((void)(b), (a))
IM2COL_(h16, H16_NO_ADD)
typedef void (*im2col_fn)(char *cols, char *x, const npg_conv_geom *g, bool acc);
static const im2col_fn im2col_tab[NPG_DTYPE_COUNT] = {NUMERIC(DTAB, im2col) [NPG_FLOAT16] = im2col_h16,
                                                      [NPG_BFLOAT16] = im2col_h16};

static npg_status im2col_common(npg_op op, const npg_tdesc *cols, const npg_tdesc *x, const npg_conv_geom *g,
                                bool acc) {
    npg_dtype dt = x->dtype;
    im2col_fn fn = dt > NPG_DTYPE_DEFAULT && dt < NPG_DTYPE_COUNT && cols->dtype == dt ? im2col_tab[dt] : NULL;
    if (!fn || (acc && (dt == NPG_FLOAT16 || dt == NPG_BFLOAT16))) return npg__cpu_unsupported(op, dt);
    if (!npg__desc_contiguous(x) || !npg__desc_contiguous(cols) || g->stride_h < 1 || g->stride_w < 1 ||
        npg__desc_numel(x) != g->N * g->C * g->H * g->W ||
        npg__desc_numel(cols) != g->N * g->C * g->KH * g->KW * g->OH * g->OW)
        return npg__set_error(NPG_ERR_INTERNAL, "cpu %s: descriptors do not match the geometry", npg__op_name(op));
    fn(cols->data, x->data, g, acc);
    return NPG_OK;
}

npg_status npg__cpu_im2col(int dev, const npg_tdesc *cols, const npg_tdesc *x, const npg_conv_geom *g) {
    return im2col_common(NPG_OP_IM2COL, cols, x, g, false);
}
npg_status npg__cpu_col2im(int dev, const npg_tdesc *x, const npg_tdesc *cols, const npg_conv_geom *g) {
    return im2col_common(NPG_OP_COL2IM, cols, x, g, true);
}

/* ---- pooling ---------------------------------------------------------------------- */

/* The kernel taps [lo, hi) of a window starting at i0 (step dil) inside [0, n). */
static void taps(int64_t i0, int64_t dil, int64_t k, int64_t n, int64_t *lo, int64_t *hi) {
    in_range(i0, dil, n, k, lo, hi);
}

/* max: the first maximum of the in-image taps (NaN wins, first NaN kept) and
 * its flat index h*W + w; avg: the mean with the geometry's divisor. Plane
 * functions take (a, am, b): out, argmax, x forward; gx, argmax, gout backward. */
typedef void (*pool_fn)(void *a, int64_t *am, const void *b, const npg_conv_geom *g);

/* v replaces best when larger, or NaN over a non-NaN (the order of taps
 * decides ties: the first maximum stays). Selects, not branches: which tap
 * wins is data-dependent, so a branch mispredicts about half the time. */
#define POOL_SELECT(t, v, i, best, bi)                                                           \
    do {                                                                                         \
        const NPG_T_##t v_ = (v);                                                                \
        const bool take_ = v_ > (best) || (NPG_ISNAN_##t(v_) && !NPG_ISNAN_##t(best));           \
        (best) = take_ ? v_ : (best);                                                            \
        (bi) = take_ ? (i) : (bi);                                                               \
    } while (0)
/* The common 2x2, stride-2 pooling with no padding (every window inside
 * the image) takes a straight path: no tap ranges per window. */
#define POOL_IS_2X2(g)                                                                           \
    ((g)->KH == 2 && (g)->KW == 2 && (g)->stride_h == 2 && (g)->stride_w == 2 && (g)->dil_h == 1 && \
     (g)->dil_w == 1 && (g)->pad_h == 0 && (g)->pad_w == 0 && 2 * (g)->OH <= (g)->H && 2 * (g)->OW <= (g)->W)
#define POOL_MAX(X, t)                                                                           \
    static void maxpool_##t(void *out_, int64_t *am, const void *x_, const npg_conv_geom *g) {   \
        typedef NPG_T_##t T;                                                                     \
        T *out = out_;                                                                           \
        const T *x = x_;                                                                         \
        if (POOL_IS_2X2(g)) {                                                                    \
            const int64_t W = g->W;                                                              \
            for (int64_t oh = 0; oh < g->OH; oh++) {                                             \
                const int64_t r = 2 * oh * W;                                                    \
                T *o = out + oh * g->OW;                                                         \
                int64_t *a = am + oh * g->OW;                                                    \
                NPG_SIMD for (int64_t ow = 0; ow < g->OW; ow++) {                                \
                    const int64_t i = r + 2 * ow;                                                \
                    T best = x[i];                                                               \
                    int64_t bi = i;                                                              \
                    POOL_SELECT(t, x[i + 1], i + 1, best, bi);                                   \
                    POOL_SELECT(t, x[i + W], i + W, best, bi);                                   \
                    POOL_SELECT(t, x[i + W + 1], i + W + 1, best, bi);                           \
                    o[ow] = best;                                                                \
                    a[ow] = bi;                                                                  \
                }                                                                                \
            }                                                                                    \
            return;                                                                              \
        }                                                                                        \
        for (int64_t oh = 0; oh < g->OH; oh++) {                                                 \
            int64_t h0 = oh * g->stride_h - g->pad_h, kh0, kh1;                                  \
            taps(h0, g->dil_h, g->KH, g->H, &kh0, &kh1);                                         \
            for (int64_t ow = 0; ow < g->OW; ow++) {                                             \
                int64_t w0 = ow * g->stride_w - g->pad_w, kw0, kw1, bi = -1;                     \
                taps(w0, g->dil_w, g->KW, g->W, &kw0, &kw1);                                     \
                T best = NPG_LOWEST_##t; /* a window without taps: as on CUDA */                 \
                for (int64_t kh = kh0; kh < kh1; kh++) {                                         \
                    for (int64_t kw = kw0; kw < kw1; kw++) {                                     \
                        int64_t i = (h0 + kh * g->dil_h) * g->W + w0 + kw * g->dil_w;            \
                        T v = x[i];                                                              \
                        if (bi < 0 || v > best || (NPG_ISNAN_##t(v) && !NPG_ISNAN_##t(best))) {  \
                            best = v;                                                            \
                            bi = i;                                                              \
                        }                                                                        \
                    }                                                                            \
                }                                                                                \
                out[oh * g->OW + ow] = best;                                                     \
                am[oh * g->OW + ow] = bi;                                                        \
            }                                                                                    \
        }                                                                                        \
    }
/* avg forward (ADJ false) or its adjoint (ADJ true: spread gout / divisor). */
#define POOL_AVG(X, t)                                                                           \
    static void avgpool_any_##t(NPG_T_##t *o, NPG_T_##t *x, const npg_conv_geom *g, bool adj) {  \
        for (int64_t oh = 0; oh < g->OH; oh++) {                                                 \
            int64_t h0 = oh * g->stride_h - g->pad_h, kh0, kh1;                                  \
            taps(h0, g->dil_h, g->KH, g->H, &kh0, &kh1);                                         \
            for (int64_t ow = 0; ow < g->OW; ow++) {                                             \
                int64_t w0 = ow * g->stride_w - g->pad_w, kw0, kw1;                              \
                taps(w0, g->dil_w, g->KW, g->W, &kw0, &kw1);                                     \
                int64_t cnt = g->count_include_pad ? g->KH * g->KW : (kh1 - kh0) * (kw1 - kw0);  \
                NPG_T_##t v = adj && cnt ? (NPG_T_##t)(o[oh * g->OW + ow] / (double)cnt) : 0;    \
                double s = 0;                                                                    \
                for (int64_t kh = kh0; kh < kh1; kh++) {                                         \
                    NPG_T_##t *xr = x + (h0 + kh * g->dil_h) * g->W;                             \
                    for (int64_t kw = kw0; kw < kw1; kw++) {                                     \
                        if (adj) xr[w0 + kw * g->dil_w] += v;                                    \
                        else s += xr[w0 + kw * g->dil_w];                                        \
                    }                                                                            \
                }                                                                                \
                if (!adj) o[oh * g->OW + ow] = (NPG_T_##t)(cnt ? s / (double)cnt : 0.0);         \
            }                                                                                    \
        }                                                                                        \
    }                                                                                            \
    static void avgpool_##t(void *out, int64_t *am, const void *x, const npg_conv_geom *g) {     \
        avgpool_any_##t(out, (NPG_T_##t *)x, g, false);                                          \
    }                                                                                            \
    static void avgpool_bw_##t(void *gx, int64_t *am, const void *go, const npg_conv_geom *g) {  \
        avgpool_any_##t((NPG_T_##t *)go, gx, g, true);                                           \
    }                                                                                            \
    static void maxpool_bw_##t(void *gx_, int64_t *am, const void *go_, const npg_conv_geom *g) { \
        NPG_T_##t *gx = gx_;                                                                     \
        const NPG_T_##t *go = go_;                                                               \
        for (int64_t o = 0; o < g->OH * g->OW; o++)                                              \
            if (am[o] >= 0 && am[o] < g->H * g->W) gx[am[o]] += go[o];                           \
    }
NUMERIC(POOL_MAX, _)
FLT2(POOL_AVG, _)

static const pool_fn maxpool_tab[NPG_DTYPE_COUNT] = {NUMERIC(DTAB, maxpool)};
static const pool_fn avgpool_tab[NPG_DTYPE_COUNT] = {FLT2(DTAB, avgpool)};
static const pool_fn maxpool_bw_tab[NPG_DTYPE_COUNT] = {FLT2(DTAB, maxpool_bw)};
static const pool_fn avgpool_bw_tab[NPG_DTYPE_COUNT] = {FLT2(DTAB, avgpool_bw)};

/* fn on every (n, c) plane: a and b advance by asz and bsz elements per
 * plane, argmax by OH*OW. */
static void pool_planes(pool_fn fn, char *a, int64_t asz, int64_t *am, char *b, int64_t bsz, int64_t es,
                        const npg_conv_geom *g) {
    const int64_t planes = g->N * g->C, osz = g->OH * g->OW;
    NPG_PAR_LOOP(planes > 1 && planes * (g->H * g->W + osz * g->KH * g->KW) >= NPG_CPU_PAR_MIN, p, planes,
                 fn(a + p * asz * es, am ? am + p * osz : NULL, b + p * bsz * es, g););
}

npg_status npg__cpu_pool2d(int dev, bool is_max, const npg_tdesc *out, const npg_tdesc *argmax,
                             const npg_tdesc *x, const npg_conv_geom *g) {
    npg_op op = is_max ? NPG_OP_MAX_POOL2D : NPG_OP_AVG_POOL2D;
    npg_dtype dt = x->dtype;
    pool_fn fn = dt > NPG_DTYPE_DEFAULT && dt < NPG_DTYPE_COUNT ? (is_max ? maxpool_tab : avgpool_tab)[dt] : NULL;
    if (!fn || out->dtype != dt) return npg__cpu_unsupported(op, dt);
    if (is_max && (!argmax || argmax->dtype != NPG_INT64 || !npg__desc_contiguous(argmax)))
        return npg__set_error(NPG_ERR_INTERNAL, "cpu max_pool2d: argmax must be a contiguous int64 array");
    if (!npg__desc_contiguous(x) || !npg__desc_contiguous(out) || g->stride_h < 1 || g->stride_w < 1)
        return npg__set_error(NPG_ERR_INTERNAL, "cpu %s: descriptors do not match the geometry", npg__op_name(op));
    pool_planes(fn, out->data, g->OH * g->OW, is_max ? argmax->data : NULL, x->data, g->H * g->W,
                (int64_t)npg__dtype_size(dt), g);
    return NPG_OK;
}

npg_status npg__cpu_pool2d_backward(int dev, bool is_max, const npg_tdesc *gx, const npg_tdesc *gout,
                                      const npg_tdesc *argmax, const npg_conv_geom *g) {
    npg_op op = is_max ? NPG_OP_MAX_POOL2D : NPG_OP_AVG_POOL2D;
    npg_dtype dt = gout->dtype;
    pool_fn fn = flt(dt) && gx->dtype == dt ? (is_max ? maxpool_bw_tab : avgpool_bw_tab)[dt] : NULL;
    if (!fn) return npg__cpu_unsupported(op, dt);
    if (is_max && (!argmax || argmax->dtype != NPG_INT64 || !npg__desc_contiguous(argmax)))
        return npg__set_error(NPG_ERR_INTERNAL, "cpu max_pool2d backward: argmax must be a contiguous int64 array");
    if (!npg__desc_contiguous(gx) || !npg__desc_contiguous(gout) || g->stride_h < 1 || g->stride_w < 1)
        return npg__set_error(NPG_ERR_INTERNAL, "cpu %s backward: descriptors do not match the geometry",
                              npg__op_name(op));
    pool_planes(fn, gx->data, g->H * g->W, is_max ? argmax->data : NULL, gout->data, g->OH * g->OW,
                (int64_t)npg__dtype_size(dt), g);
    return NPG_OK;
}

/* ---- optimizers ------------------------------------------------------------------- */
/* PyTorch's SGD and Adam/AdamW on contiguous float arrays, computed in the
 * parameter's type (as the composed update would). */
#define OPTIM(X, t)                                                                              \
    static void sgd_##t(NPG_T_##t *p, const NPG_T_##t *g, NPG_T_##t *buf, int64_t n, const npg_sgd_hp *hp) { \
        typedef NPG_T_##t T;                                                                     \
        const T lr = (T)hp->lr, mom = (T)hp->momentum, damp = (T)(1 - hp->dampening), wd = (T)hp->weight_decay; \
        const bool use_wd = hp->weight_decay != 0, use_mom = hp->momentum != 0 && buf;           \
        NPG_PAR_LOOP(n >= NPG_CPU_PAR_MIN, i, n, {                                               \
            T d = use_wd ? g[i] + wd * p[i] : g[i];                                              \
            if (use_mom) {                                                                       \
                T b = hp->first_step ? d : mom * buf[i] + damp * d;                              \
                buf[i] = b;                                                                      \
                d = hp->nesterov ? d + mom * b : b;                                              \
            }                                                                                    \
            p[i] -= lr * d;                                                                      \
        });                                                                                      \
    }                                                                                            \
    static void adam_##t(NPG_T_##t *p, const NPG_T_##t *g, NPG_T_##t *m, NPG_T_##t *v, int64_t n, \
                         const npg_adam_hp *hp) {                                                \
        typedef NPG_T_##t T;                                                                     \
        const T lr = (T)hp->lr, b1 = (T)hp->beta1, b2 = (T)hp->beta2, eps = (T)hp->eps;          \
        const T wd = (T)hp->weight_decay, bc1 = (T)hp->bias_correction1, bc2 = (T)hp->bias_correction2; \
        const bool use_wd = hp->weight_decay != 0, decoupled = hp->decoupled;                    \
        NPG_PAR_LOOP(n >= NPG_CPU_PAR_MIN_HEAVY, i, n, {                                         \
            T gi = g[i], pi = p[i];                                                              \
            if (use_wd && decoupled) pi = pi - lr * wd * pi;                                     \
            if (use_wd && !decoupled) gi = gi + wd * pi;                                         \
            T mi = b1 * m[i] + (1 - b1) * gi, vi = b2 * v[i] + (1 - b2) * gi * gi;               \
            m[i] = mi;                                                                           \
            v[i] = vi;                                                                           \
            p[i] = pi - lr * (mi / bc1) / (npg_s_sqrt_##t(vi / bc2) + eps);                      \
        });                                                                                      \
    }
FLT2(OPTIM, _)

static bool same_n(const npg_tdesc *a, const npg_tdesc *b) {
    return npg__desc_numel(a) == npg__desc_numel(b) && npg__desc_contiguous(b) && a->dtype == b->dtype;
}

npg_status npg__cpu_sgd_step(int dev, const npg_tdesc *param, const npg_tdesc *grad, const npg_tdesc *buf,
                               const npg_sgd_hp *hp) {
    npg_dtype dt = param->dtype;
    if (!flt(dt))
        return npg__set_error(NPG_ERR_UNSUPPORTED, "cpu sgd_step: dtype %s not supported", npg_dtype_name(dt));
    if (!npg__desc_contiguous(param) || !same_n(param, grad) || (buf && !same_n(param, buf)) ||
        (hp->momentum != 0 && !buf))
        return npg__set_error(NPG_ERR_INTERNAL, "cpu sgd_step: unexpected descriptors");
    int64_t n = npg__desc_numel(param);
    void *b = buf ? buf->data : NULL;
    if (dt == NPG_FLOAT32) sgd_f32(param->data, grad->data, b, n, hp);
    else sgd_f64(param->data, grad->data, b, n, hp);
    return NPG_OK;
}

npg_status npg__cpu_adam_step(int dev, const npg_tdesc *param, const npg_tdesc *grad, const npg_tdesc *m,
                                const npg_tdesc *v, const npg_adam_hp *hp) {
    npg_dtype dt = param->dtype;
    if (!flt(dt))
        return npg__set_error(NPG_ERR_UNSUPPORTED, "cpu adam_step: dtype %s not supported", npg_dtype_name(dt));
    if (!npg__desc_contiguous(param) || !same_n(param, grad) || !same_n(param, m) || !same_n(param, v))
        return npg__set_error(NPG_ERR_INTERNAL, "cpu adam_step: unexpected descriptors");
    int64_t n = npg__desc_numel(param);
    if (dt == NPG_FLOAT32) adam_f32(param->data, grad->data, m->data, v->data, n, hp);
    else adam_f64(param->data, grad->data, m->data, v->data, n, hp);
    return NPG_OK;
}
