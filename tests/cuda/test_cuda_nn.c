/*
 * test_cuda_nn.c — the CUDA backend's fused neural-network entries (softmax,
 * cross-entropy, im2col / col2im, pooling, SGD / Adam steps) called directly
 * on device copies of host data, against straightforward double-precision
 * (or exact) references written here and, where the CPU backend has the
 * entry, against the CPU backend on the same data. Every test skips when no
 * CUDA device is present.
 *
 * Both the 16-byte vector paths (aligned operands, row length a multiple of
 * the vector width) and the scalar paths (operands one element off), the
 * warp-per-row and block-per-row kernels (rows up to / over 1024), and grid-
 * stride loops (more rows or elements than one launch covers) are exercised.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "test_util.h"

#define G (&npg_cuda_backend)
#define CPU (&npg_cpu_backend)

static void need_gpu(void) {
    if (G->device_count() == 0) cr_skip_test("no CUDA device");
}

/* ---- buffers ------------------------------------------------------------------------------ */

/* n elements of dt in host memory (h), on the device (d), and read back (back).
 * One spare element lets a descriptor start one element in (unaligned). */
typedef struct buf {
    npg_dtype dt;
    int64_t n;
    size_t es;
    char *h, *back, *d;
} buf;

static buf bnew(npg_dtype dt, int64_t n) {
    buf b = {dt, n + 1, npg__dtype_size(dt), NULL, NULL, NULL};
    size_t bytes = b.es * (size_t)b.n;
    b.h = calloc(1, bytes);
    b.back = calloc(1, bytes);
    cr_assert(b.h && b.back);
    void *p = NULL;
    cr_assert_eq(G->alloc(0, bytes, &p), NPG_OK, "alloc: %s", npg_last_error());
    b.d = p;
    return b;
}
static void bup(buf *b) {
    cr_assert_eq(G->copy_h2d(0, b->d, b->h, b->es * (size_t)b->n), NPG_OK, "h2d: %s", npg_last_error());
}
static void bdown(buf *b) {
    cr_assert_eq(G->copy_d2h(0, b->back, b->d, b->es * (size_t)b->n), NPG_OK, "d2h: %s", npg_last_error());
}
static void bfree(buf *b) {
    G->free(0, b->d, b->es * (size_t)b->n);
    free(b->h);
    free(b->back);
}

/* C-contiguous descriptor over b's host (dev false) or device storage, from element off. */
static npg_tdesc bdesc(const buf *b, bool dev, int ndim, const int64_t *shape, int64_t off) {
    npg_tdesc d;
    memset(&d, 0, sizeof d);
    d.data = (dev ? b->d : b->h) + (size_t)off * b->es;
    d.dtype = b->dt;
    d.ndim = ndim;
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        d.shape[i] = shape[i];
        d.strides[i] = s;
        s *= shape[i];
    }
    return d;
}

static double getv(npg_dtype dt, const char *p, int64_t i) {
    switch (dt) {
    case NPG_BOOL: return ((const uint8_t *)p)[i]; /* the stored byte: anything but 0 or 1 shows */
    case NPG_FLOAT32: return ((const float *)p)[i];
    case NPG_FLOAT64: return ((const double *)p)[i];
    default: return t_wrap_val(dt, t_get_bits(dt, p, i)); /* the integers; fails for other dtypes */
    }
}
/* Store v; into an integer type v must be an integer in [-2^63, 2^64) and is
 * wrapped to the type's width (two's complement). */
static void setv(npg_dtype dt, char *p, int64_t i, double v) {
    switch (dt) {
    case NPG_FLOAT32: ((float *)p)[i] = (float)v; break;
    case NPG_FLOAT64: ((double *)p)[i] = v; break;
    default: /* bool (v != 0) and the integers; fails for other dtypes */
        cr_assert(v == trunc(v) && v >= -0x1p63 && v < 0x1p64, "setv(%s, %g)", npg_dtype_name(dt), v);
        t_put_bits(dt, p, i, v >= 0x1p63 ? (uint64_t)v : (uint64_t)(int64_t)v);
    }
}
/* An integer type's largest and smallest values, as doubles that convert
 * back exactly (uint64 and int64: just inside the range). */
static double imax_of(npg_dtype dt) {
    switch (dt) {
    case NPG_UINT8: return 255;
    case NPG_INT8: return 127;
    case NPG_INT16: return 32767;
    case NPG_UINT16: return 65535;
    case NPG_INT32: return 2147483647.0;
    case NPG_UINT32: return 4294967295.0;
    case NPG_INT64: return 9.2e18;
    case NPG_UINT64: return 1.8e19; /* above 2^63: an unsigned comparison */
    default: cr_assert_fail("imax_of(%s)", npg_dtype_name(dt)); return 0;
    }
}
static double imin_of(npg_dtype dt) {
    switch (dt) {
    case NPG_UINT8: case NPG_UINT16: case NPG_UINT32: case NPG_UINT64: return 0;
    case NPG_INT8: return -128;
    case NPG_INT16: return -32768;
    case NPG_INT32: return -2147483648.0;
    case NPG_INT64: return -9.2e18;
    default: cr_assert_fail("imin_of(%s)", npg_dtype_name(dt)); return 0;
    }
}
/* the numeric dtypes im2col and max pooling take: the floats, then the integers */
static const npg_dtype numdt[] = {NPG_FLOAT32, NPG_FLOAT64, NPG_INT32, NPG_INT64, NPG_UINT8,
                                  NPG_INT8,    NPG_INT16,   NPG_UINT16, NPG_UINT32, NPG_UINT64};
#define NNUM ((int)(sizeof numdt / sizeof numdt[0]))
/* element i of b (from offset off) on the host / read back */
static double hv(const buf *b, int64_t off, int64_t i) { return getv(b->dt, b->h, off + i); }
static double bv(const buf *b, int64_t off, int64_t i) { return getv(b->dt, b->back, off + i); }
static void hset(buf *b, int64_t off, int64_t i, double v) { setv(b->dt, b->h, off + i, v); }

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static uint64_t xr(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static double xu(void) { return (double)(xr() >> 11) * 0x1.0p-53; }

/* |got - want| <= atol + rtol |want|; NaN matches NaN, infinities exactly */
static bool near(double got, double want, double rtol, double atol) {
    if (isnan(want)) return isnan(got);
    if (isinf(want)) return got == want;
    return fabs(got - want) <= atol + rtol * fabs(want);
}

#define CHECK_NEAR(got, want, rtol, atol, ...)                                                                 \
    do {                                                                                                       \
        double g_ = (got), w_ = (want);                                                                        \
        if (!near(g_, w_, (rtol), (atol))) {                                                                   \
            char m_[256];                                                                                      \
            snprintf(m_, sizeof m_, __VA_ARGS__);                                                              \
            cr_assert_fail("%s: got %.17g, want %.17g", m_, g_, w_);                                           \
        }                                                                                                      \
    } while (0)

static const npg_dtype flts[2] = {NPG_FLOAT32, NPG_FLOAT64};
static double tol_of(npg_dtype dt) { return dt == NPG_FLOAT32 ? 2e-6 : 1e-13; }

/* row shapes: warp per row (C <= 1024) and block per row, vector-friendly and odd C */
typedef struct rc {
    int64_t R, C;
} rc;
static const rc row_shapes[] = {{7, 1}, {5, 3}, {64, 10}, {33, 32}, {9, 1000}, {3, 1024},
                                {3, 1025}, {2, 4099}, {2, 8192}};

/* ---- softmax -------------------------------------------------------------------------------- */

/* x (R, C) at off: values in [-4, 4], row 1 has a NaN, row 2 a -inf (when there are such rows) */
static void fill_logits(buf *x, int64_t off, int64_t R, int64_t C, bool specials) {
    for (int64_t i = 0; i < R * C; i++) hset(x, off, i, -4 + 8 * xu());
    if (specials && R > 2 && C > 1) {
        hset(x, off, 1 * C + C / 2, NAN);
        hset(x, off, 2 * C, -INFINITY);
    }
}

/* row r of softmax / log_softmax in double: its max (NaN if the row has one) and sum of exp(x - max) */
static void ref_softmax_row(const buf *x, int64_t off, int64_t C, int64_t r, double *m, double *s) {
    *m = -INFINITY;
    *s = 0;
    for (int64_t k = 0; k < C; k++) {
        double v = hv(x, off, r * C + k);
        if (isnan(v)) {
            *m = NAN;
            return;
        }
        if (v > *m) *m = v;
    }
    for (int64_t k = 0; k < C; k++) *s += exp(hv(x, off, r * C + k) - *m);
}

static void run_softmax(npg_dtype dt, int64_t R, int64_t C, int64_t off, bool lg) {
    buf x = bnew(dt, R * C), y = bnew(dt, R * C), yc = bnew(dt, R * C);
    fill_logits(&x, off, R, C, true);
    bup(&x);
    int64_t sh[2] = {R, C};
    npg_tdesc dx = bdesc(&x, true, 2, sh, off), dy = bdesc(&y, true, 2, sh, off);
    cr_assert_eq(G->softmax(0, &dy, &dx, lg), NPG_OK, "%s", npg_last_error());
    bdown(&y);
    const double tol = tol_of(dt);
    bool cpu = CPU->softmax != NULL;
    if (cpu) {
        npg_tdesc hx = bdesc(&x, false, 2, sh, off), hy = bdesc(&yc, false, 2, sh, off);
        cr_assert_eq(CPU->softmax(0, &hy, &hx, lg), NPG_OK, "%s", npg_last_error());
    }
    for (int64_t r = 0; r < R; r++) {
        double m, s;
        ref_softmax_row(&x, off, C, r, &m, &s);
        for (int64_t c = 0; c < C; c++) {
            double got = bv(&y, off, r * C + c), v = hv(&x, off, r * C + c) - m;
            double want = isnan(m) ? NAN : lg ? v - log(s) : exp(v) / s;
            CHECK_NEAR(got, want, tol, tol, "%s %s (%lld, %lld) off %lld at [%lld, %lld]",
                       lg ? "log_softmax" : "softmax", npg_dtype_name(dt), (long long)R, (long long)C,
                       (long long)off, (long long)r, (long long)c);
            if (cpu)
                CHECK_NEAR(got, hv(&yc, off, r * C + c), 2 * tol, 2 * tol, "%s vs cpu at [%lld, %lld]",
                           lg ? "log_softmax" : "softmax", (long long)r, (long long)c);
        }
    }
    bfree(&x);
    bfree(&y);
    bfree(&yc);
}

Test(cuda_nn, softmax_rows) {
    need_gpu();
    for (int t = 0; t < 2; t++)
        for (size_t s = 0; s < sizeof row_shapes / sizeof *row_shapes; s++)
            for (int lg = 0; lg < 2; lg++)
                for (int off = 0; off < 2; off++) run_softmax(flts[t], row_shapes[s].R, row_shapes[s].C, off, lg);
}

Test(cuda_nn, softmax_many_rows) {
    need_gpu();
    /* more rows than one launch covers: the grid-stride row loops */
    run_softmax(NPG_FLOAT32, 100000, 12, 0, false);
    run_softmax(NPG_FLOAT32, 100000, 12, 0, true);
    run_softmax(NPG_FLOAT32, 5000, 1100, 0, false);
    run_softmax(NPG_FLOAT64, 5000, 1030, 1, true);
}

static void run_softmax_bw(npg_dtype dt, int64_t R, int64_t C, int64_t off, bool lg) {
    buf y = bnew(dt, R * C), g = bnew(dt, R * C), gi = bnew(dt, R * C), gc = bnew(dt, R * C);
    /* y: a valid forward output (softmax rows sum to 1; log_softmax rows are logs of that) */
    for (int64_t r = 0; r < R; r++) {
        double s = 0;
        for (int64_t c = 0; c < C; c++) {
            double v = 0.1 + xu();
            hset(&y, off, r * C + c, v);
            s += hv(&y, off, r * C + c);
        }
        for (int64_t c = 0; c < C; c++) {
            double p = hv(&y, off, r * C + c) / s;
            hset(&y, off, r * C + c, lg ? log(p) : p);
        }
    }
    for (int64_t i = 0; i < R * C; i++) hset(&g, off, i, -1 + 2 * xu());
    bup(&y);
    bup(&g);
    int64_t sh[2] = {R, C};
    npg_tdesc dgi = bdesc(&gi, true, 2, sh, off), dg = bdesc(&g, true, 2, sh, off), dy = bdesc(&y, true, 2, sh, off);
    cr_assert_eq(G->softmax_backward(0, &dgi, &dg, &dy, lg), NPG_OK, "%s", npg_last_error());
    bdown(&gi);
    bool cpu = CPU->softmax_backward != NULL;
    if (cpu) {
        npg_tdesc hgi = bdesc(&gc, false, 2, sh, off), hg = bdesc(&g, false, 2, sh, off), hy = bdesc(&y, false, 2, sh, off);
        cr_assert_eq(CPU->softmax_backward(0, &hgi, &hg, &hy, lg), NPG_OK, "%s", npg_last_error());
    }
    const double tol = tol_of(dt) * 2;
    for (int64_t r = 0; r < R; r++) {
        double s = 0;
        for (int64_t c = 0; c < C; c++)
            s += lg ? hv(&g, off, r * C + c) : hv(&g, off, r * C + c) * hv(&y, off, r * C + c);
        for (int64_t c = 0; c < C; c++) {
            double gg = hv(&g, off, r * C + c), yy = hv(&y, off, r * C + c);
            double want = lg ? gg - exp(yy) * s : yy * (gg - s);
            double got = bv(&gi, off, r * C + c);
            CHECK_NEAR(got, want, tol, tol, "%s backward %s (%lld, %lld) off %lld at [%lld, %lld]",
                       lg ? "log_softmax" : "softmax", npg_dtype_name(dt), (long long)R, (long long)C,
                       (long long)off, (long long)r, (long long)c);
            if (cpu) CHECK_NEAR(got, hv(&gc, off, r * C + c), 2 * tol, 2 * tol, "softmax backward vs cpu");
        }
    }
    bfree(&y);
    bfree(&g);
    bfree(&gi);
    bfree(&gc);
}

Test(cuda_nn, softmax_backward_rows) {
    need_gpu();
    for (int t = 0; t < 2; t++)
        for (size_t s = 0; s < sizeof row_shapes / sizeof *row_shapes; s++)
            for (int lg = 0; lg < 2; lg++)
                for (int off = 0; off < 2; off++) run_softmax_bw(flts[t], row_shapes[s].R, row_shapes[s].C, off, lg);
    run_softmax_bw(NPG_FLOAT32, 70000, 20, 0, false);
}

/* ---- cross-entropy ------------------------------------------------------------------------------ */

/* loss and lse of row r in double (PyTorch's: the smoothing term only when eps > 0) */
static double ref_ce(const buf *x, int64_t off, int64_t C, int64_t r, int64_t y, double eps, bool skip, double *lse) {
    double m = -INFINITY, s = 0, sx = 0;
    for (int64_t c = 0; c < C; c++) m = fmax(m, hv(x, off, r * C + c));
    for (int64_t c = 0; c < C; c++) s += exp(hv(x, off, r * C + c) - m), sx += hv(x, off, r * C + c);
    *lse = m + log(s);
    if (skip) return 0;
    double l = (1 - eps) * (*lse - hv(x, off, r * C + y));
    if (eps > 0) l += eps * (*lse - sx / (double)C);
    return l;
}

/* forward and backward on (R, C) logits; masked: some logits are -inf (eps 0
 * must still give finite losses); cpu: also compare with the CPU backend */
static void run_ce(npg_dtype dt, int64_t R, int64_t C, int64_t off, double eps, bool has_ignore, bool masked, bool cpu) {
    buf x = bnew(dt, R * C), loss = bnew(dt, R), lse = bnew(dt, R), gl = bnew(dt, R), gx = bnew(dt, R * C);
    buf lab = bnew(NPG_INT64, R);
    buf lossc = bnew(dt, R), lsec = bnew(dt, R), gxc = bnew(dt, R * C);
    fill_logits(&x, off, R, C, false);
    int64_t *lb = (int64_t *)lab.h + off;
    for (int64_t r = 0; r < R; r++) {
        lb[r] = (int64_t)(xr() % (uint64_t)C);
        if (has_ignore && r % 5 == 3) lb[r] = -100;
        hset(&gl, off, r, 0.25 + xu());
        if (masked && C > 1)
            for (int64_t c = 0; c < C; c++)
                if (c != lb[r] && xr() % 3 == 0) hset(&x, off, r * C + c, -INFINITY);
    }
    bup(&x);
    bup(&lab);
    bup(&gl);
    int64_t sh[2] = {R, C}, sr[1] = {R};
    npg_tdesc dx = bdesc(&x, true, 2, sh, off), dl = bdesc(&loss, true, 1, sr, off), ds = bdesc(&lse, true, 1, sr, off);
    npg_tdesc dlab = bdesc(&lab, true, 1, sr, off), dgl = bdesc(&gl, true, 1, sr, off), dgx = bdesc(&gx, true, 2, sh, off);
    cr_assert_eq(G->cross_entropy(0, &dl, &ds, &dx, &dlab, eps, has_ignore, -100), NPG_OK, "%s", npg_last_error());
    cr_assert_eq(G->cross_entropy_backward(0, &dgx, &dgl, &dx, &ds, &dlab, eps, has_ignore, -100), NPG_OK, "%s",
                 npg_last_error());
    cr_assert_eq(G->synchronize(0), NPG_OK, "%s", npg_last_error());
    bdown(&loss);
    bdown(&lse);
    bdown(&gx);
    cpu = cpu && CPU->cross_entropy && CPU->cross_entropy_backward;
    if (cpu) {
        npg_tdesc hx = bdesc(&x, false, 2, sh, off), hl = bdesc(&lossc, false, 1, sr, off);
        npg_tdesc hs = bdesc(&lsec, false, 1, sr, off), hlab = bdesc(&lab, false, 1, sr, off);
        npg_tdesc hgl = bdesc(&gl, false, 1, sr, off), hgx = bdesc(&gxc, false, 2, sh, off);
        cr_assert_eq(CPU->cross_entropy(0, &hl, &hs, &hx, &hlab, eps, has_ignore, -100), NPG_OK, "%s", npg_last_error());
        cr_assert_eq(CPU->cross_entropy_backward(0, &hgx, &hgl, &hx, &hs, &hlab, eps, has_ignore, -100), NPG_OK, "%s",
                     npg_last_error());
    }
    const double tol = tol_of(dt);
    for (int64_t r = 0; r < R; r++) {
        bool skip = has_ignore && lb[r] == -100;
        double l;
        double want = ref_ce(&x, off, C, r, lb[r], eps, skip, &l);
        CHECK_NEAR(bv(&lse, off, r), l, tol, tol, "cross_entropy lse %s (%lld, %lld) row %lld", npg_dtype_name(dt),
                   (long long)R, (long long)C, (long long)r);
        CHECK_NEAR(bv(&loss, off, r), want, 2 * tol, 2 * tol, "cross_entropy loss %s (%lld, %lld) eps %g row %lld",
                   npg_dtype_name(dt), (long long)R, (long long)C, eps, (long long)r);
        if (!masked) cr_assert(isfinite(bv(&loss, off, r)));
        if (cpu) {
            CHECK_NEAR(bv(&loss, off, r), hv(&lossc, off, r), 4 * tol, 4 * tol, "cross_entropy loss vs cpu row %lld",
                       (long long)r);
            CHECK_NEAR(bv(&lse, off, r), hv(&lsec, off, r), 2 * tol, 2 * tol, "cross_entropy lse vs cpu row %lld",
                       (long long)r);
        }
        for (int64_t c = 0; c < C; c++) {
            double p = exp(hv(&x, off, r * C + c) - l);
            double wg = skip ? 0 : hv(&gl, off, r) * (p - (1 - eps) * (c == lb[r]) - eps / (double)C);
            double got = bv(&gx, off, r * C + c);
            CHECK_NEAR(got, wg, 4 * tol, 4 * tol, "cross_entropy backward %s (%lld, %lld) eps %g at [%lld, %lld]",
                       npg_dtype_name(dt), (long long)R, (long long)C, eps, (long long)r, (long long)c);
            if (skip) cr_assert(got == 0);
            if (cpu) CHECK_NEAR(got, hv(&gxc, off, r * C + c), 4 * tol, 4 * tol, "cross_entropy backward vs cpu");
        }
    }
    bfree(&x);
    bfree(&loss);
    bfree(&lse);
    bfree(&gl);
    bfree(&gx);
    bfree(&lab);
    bfree(&lossc);
    bfree(&lsec);
    bfree(&gxc);
}

Test(cuda_nn, cross_entropy_rows) {
    need_gpu();
    for (int t = 0; t < 2; t++)
        for (size_t s = 0; s < sizeof row_shapes / sizeof *row_shapes; s++)
            for (int k = 0; k < 4; k++) /* eps 0 / 0.1, with and without ignore_index */
                run_ce(flts[t], row_shapes[s].R, row_shapes[s].C, (int64_t)(s % 2), k & 1 ? 0.1 : 0.0, k >= 2, false,
                       true);
    run_ce(NPG_FLOAT32, 90000, 10, 0, 0.0, true, false, true); /* grid-stride rows */
}

Test(cuda_nn, cross_entropy_masked_logits) {
    need_gpu();
    /* -inf logits (masked classes): finite losses, also with eps 0 (PyTorch's semantics) */
    for (int t = 0; t < 2; t++) {
        run_ce(flts[t], 40, 17, 0, 0.0, false, true, false);
        run_ce(flts[t], 6, 2000, 1, 0.0, true, true, false);
    }
}

Test(cuda_nn, cross_entropy_bad_label_is_deferred_index_error) {
    need_gpu();
    const int64_t R = 6, C = 5;
    buf x = bnew(NPG_FLOAT32, R * C), loss = bnew(NPG_FLOAT32, R), lse = bnew(NPG_FLOAT32, R);
    buf gl = bnew(NPG_FLOAT32, R), gx = bnew(NPG_FLOAT32, R * C), lab = bnew(NPG_INT64, R);
    fill_logits(&x, 0, R, C, false);
    int64_t *lb = (int64_t *)lab.h;
    for (int64_t r = 0; r < R; r++) lb[r] = r % C, hset(&gl, 0, r, 1);
    lb[2] = C;    /* out of range */
    lb[4] = -100; /* ignored */
    bup(&x);
    bup(&lab);
    bup(&gl);
    int64_t sh[2] = {R, C}, sr[1] = {R};
    npg_tdesc dx = bdesc(&x, true, 2, sh, 0), dl = bdesc(&loss, true, 1, sr, 0), ds = bdesc(&lse, true, 1, sr, 0);
    npg_tdesc dlab = bdesc(&lab, true, 1, sr, 0), dgl = bdesc(&gl, true, 1, sr, 0), dgx = bdesc(&gx, true, 2, sh, 0);
    npg_clear_error();
    cr_assert_eq(G->cross_entropy(0, &dl, &ds, &dx, &dlab, 0.0, true, -100), NPG_OK, "%s", npg_last_error());
    cr_assert_eq(G->synchronize(0), NPG_ERR_INDEX, "the bad label must be reported: %s", npg_last_error());
    npg_clear_error();
    cr_assert_eq(G->synchronize(0), NPG_OK, "the flag is cleared once reported");
    bdown(&loss);
    for (int64_t r = 0; r < R; r++) {
        if (r == 2) cr_assert(isnan(bv(&loss, 0, r)), "bad row: NaN loss");
        else if (r == 4) cr_assert(bv(&loss, 0, r) == 0, "ignored row: loss 0");
        else cr_assert(isfinite(bv(&loss, 0, r)) && bv(&loss, 0, r) > 0);
    }
    /* backward with the bad label: NaN row, the flag again */
    cr_assert_eq(G->cross_entropy_backward(0, &dgx, &dgl, &dx, &ds, &dlab, 0.0, true, -100), NPG_OK, "%s",
                 npg_last_error());
    cr_assert_eq(G->synchronize(0), NPG_ERR_INDEX);
    npg_clear_error();
    bdown(&gx);
    for (int64_t c = 0; c < C; c++) {
        cr_assert(isnan(bv(&gx, 0, 2 * C + c)));
        cr_assert(bv(&gx, 0, 4 * C + c) == 0);
        cr_assert(isfinite(bv(&gx, 0, 0 * C + c)));
    }
    /* without ignore_index, -100 is a bad label too */
    lb[2] = 0;
    bup(&lab);
    cr_assert_eq(G->cross_entropy(0, &dl, &ds, &dx, &dlab, 0.0, false, -100), NPG_OK);
    cr_assert_eq(G->synchronize(0), NPG_ERR_INDEX);
    npg_clear_error();
    bfree(&x);
    bfree(&loss);
    bfree(&lse);
    bfree(&gl);
    bfree(&gx);
    bfree(&lab);
}

/* ---- im2col / col2im ------------------------------------------------------------------------------ */

static npg_conv_geom geom(int64_t N, int64_t C, int64_t H, int64_t W, int64_t KH, int64_t KW, int64_t sh, int64_t sw,
                          int64_t ph, int64_t pw, int64_t dh, int64_t dw) {
    npg_conv_geom g;
    memset(&g, 0, sizeof g);
    g.N = N;
    g.C = C;
    g.H = H;
    g.W = W;
    g.KH = KH;
    g.KW = KW;
    g.stride_h = sh;
    g.stride_w = sw;
    g.pad_h = ph;
    g.pad_w = pw;
    g.dil_h = dh;
    g.dil_w = dw;
    g.OH = (H + 2 * ph - dh * (KH - 1) - 1) / sh + 1;
    g.OW = (W + 2 * pw - dw * (KW - 1) - 1) / sw + 1;
    return g;
}

static const npg_conv_geom *conv_geoms(int *n) {
    static npg_conv_geom gs[8];
    gs[0] = geom(2, 3, 7, 9, 3, 3, 1, 1, 1, 1, 1, 1);   /* same-size 3x3 */
    gs[1] = geom(1, 2, 8, 8, 2, 2, 2, 2, 0, 0, 1, 1);   /* 2x2 stride 2 */
    gs[2] = geom(2, 2, 9, 7, 3, 2, 2, 3, 1, 1, 1, 1);   /* asymmetric strides */
    gs[3] = geom(1, 3, 11, 10, 3, 3, 2, 1, 1, 1, 2, 3); /* dilation */
    gs[4] = geom(2, 1, 5, 6, 5, 4, 3, 2, 2, 2, 1, 1);   /* kernel nearly the padded image */
    gs[5] = geom(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1);   /* 1x1 image */
    gs[6] = geom(1, 2, 12, 13, 3, 3, 3, 3, 1, 0, 2, 2); /* stride 3, dilation 2 */
    gs[7] = geom(3, 2, 6, 6, 1, 1, 2, 2, 0, 0, 1, 1);   /* 1x1 kernel, stride 2 */
    *n = 8;
    return gs;
}

/* the source pixel of cols entry (n, row, col), or -1 for padding */
static int64_t im2col_src(const npg_conv_geom *g, int64_t n, int64_t row, int64_t col) {
    int64_t c = row / (g->KH * g->KW), kh = row / g->KW % g->KH, kw = row % g->KW;
    int64_t oh = col / g->OW, ow = col % g->OW;
    int64_t ih = oh * g->stride_h - g->pad_h + kh * g->dil_h, iw = ow * g->stride_w - g->pad_w + kw * g->dil_w;
    if (ih < 0 || ih >= g->H || iw < 0 || iw >= g->W) return -1;
    return ((n * g->C + c) * g->H + ih) * g->W + iw;
}

static void run_im2col(npg_dtype dt, const npg_conv_geom *g) {
    const int64_t xs = g->N * g->C * g->H * g->W, rows = g->C * g->KH * g->KW, L = g->OH * g->OW;
    const int64_t cs = g->N * rows * L;
    bool flt = dt == NPG_FLOAT32 || dt == NPG_FLOAT64;
    buf x = bnew(dt, xs), cols = bnew(dt, cs), x2 = bnew(dt, xs), cols2 = bnew(dt, cs);
    for (int64_t i = 0; i < xs; i++) {
        hset(&x, 0, i, flt ? -3 + 6 * xu() : (double)(xr() % 100));
        if (!flt && xr() % 7 == 0) hset(&x, 0, i, xr() % 2 ? imax_of(dt) : imin_of(dt)); /* moved intact */
    }
    for (int64_t i = 0; i < cs; i++) hset(&cols2, 0, i, flt ? -3 + 6 * xu() : (double)(xr() % 100));
    bup(&x);
    bup(&cols2);
    bup(&x2); /* zeros: col2im accumulates */
    int64_t xsh[4] = {g->N, g->C, g->H, g->W}, csh[3] = {g->N, rows, L};
    npg_tdesc dx = bdesc(&x, true, 4, xsh, 0), dc = bdesc(&cols, true, 3, csh, 0);
    npg_tdesc dx2 = bdesc(&x2, true, 4, xsh, 0), dc2 = bdesc(&cols2, true, 3, csh, 0);
    cr_assert_eq(G->im2col(0, &dc, &dx, g), NPG_OK, "%s", npg_last_error());
    cr_assert_eq(G->col2im(0, &dx2, &dc2, g), NPG_OK, "%s", npg_last_error());
    bdown(&cols);
    bdown(&x2);
    /* im2col: an exact gather */
    for (int64_t n = 0; n < g->N; n++)
        for (int64_t r = 0; r < rows; r++)
            for (int64_t l = 0; l < L; l++) {
                int64_t src = im2col_src(g, n, r, l), i = (n * rows + r) * L + l;
                double want = src < 0 ? 0 : hv(&x, 0, src);
                if (bv(&cols, 0, i) != want)
                    cr_assert_fail("im2col %s (geometry %lldx%lld k%lldx%lld): cols[%lld] = %g, want %g",
                                   npg_dtype_name(dt), (long long)g->H, (long long)g->W, (long long)g->KH,
                                   (long long)g->KW, (long long)i, bv(&cols, 0, i), want);
            }
    /* col2im: the adjoint, summed in double (integers wrap: compare modulo the type) */
    double *acc = calloc((size_t)xs, sizeof(double));
    cr_assert(acc);
    for (int64_t n = 0; n < g->N; n++)
        for (int64_t r = 0; r < rows; r++)
            for (int64_t l = 0; l < L; l++) {
                int64_t src = im2col_src(g, n, r, l);
                if (src >= 0) acc[src] += hv(&cols2, 0, (n * rows + r) * L + l);
            }
    for (int64_t i = 0; i < xs; i++) {
        if (flt) {
            CHECK_NEAR(bv(&x2, 0, i), acc[i], tol_of(dt), tol_of(dt) * 4, "col2im %s pixel %lld", npg_dtype_name(dt),
                       (long long)i);
        } else {
            char tmp[8];
            setv(dt, tmp, 0, acc[i]); /* wrapped to the type (sums of values < 100: exact in double) */
            cr_assert(bv(&x2, 0, i) == getv(dt, tmp, 0), "col2im %s pixel %lld: %g want %g", npg_dtype_name(dt),
                      (long long)i, bv(&x2, 0, i), getv(dt, tmp, 0));
        }
    }
    free(acc);
    /* the CPU backend computes the same (bitwise: same operations in the same order) */
    if (CPU->im2col && CPU->col2im) {
        buf cc = bnew(dt, cs), xc = bnew(dt, xs);
        npg_tdesc hx = bdesc(&x, false, 4, xsh, 0), hc = bdesc(&cc, false, 3, csh, 0);
        npg_tdesc hx2 = bdesc(&xc, false, 4, xsh, 0), hc2 = bdesc(&cols2, false, 3, csh, 0);
        cr_assert_eq(CPU->im2col(0, &hc, &hx, g), NPG_OK, "%s", npg_last_error());
        cr_assert_eq(CPU->col2im(0, &hx2, &hc2, g), NPG_OK, "%s", npg_last_error());
        for (int64_t i = 0; i < cs; i++) cr_assert(bv(&cols, 0, i) == hv(&cc, 0, i), "im2col vs cpu at %lld", (long long)i);
        for (int64_t i = 0; i < xs; i++)
            CHECK_NEAR(bv(&x2, 0, i), hv(&xc, 0, i), flt ? tol_of(dt) : 0, flt ? tol_of(dt) : 0, "col2im vs cpu at %lld",
                       (long long)i);
        bfree(&cc);
        bfree(&xc);
    }
    bfree(&x);
    bfree(&cols);
    bfree(&x2);
    bfree(&cols2);
}

Test(cuda_nn, im2col_col2im) {
    need_gpu();
    int ng;
    const npg_conv_geom *gs = conv_geoms(&ng);
    for (int k = 0; k < NNUM; k++)
        for (int i = 0; i < ng; i++) run_im2col(numdt[k], &gs[i]);
    /* more elements than one launch covers: the grid-stride loops */
    npg_conv_geom big = geom(16, 16, 32, 32, 3, 3, 1, 1, 1, 1, 1, 1);
    run_im2col(NPG_FLOAT32, &big);
}

/* ---- pooling ---------------------------------------------------------------------------------------- */

static void run_pool(npg_dtype dt, const npg_conv_geom *g0) {
    npg_conv_geom g = *g0;
    const int64_t xs = g.N * g.C * g.H * g.W, os = g.N * g.C * g.OH * g.OW, HW = g.H * g.W;
    bool flt = dt == NPG_FLOAT32 || dt == NPG_FLOAT64;
    buf x = bnew(dt, xs), out = bnew(dt, os), am = bnew(NPG_INT64, os);
    for (int64_t i = 0; i < xs; i++) {
        hset(&x, 0, i, flt ? -3 + 6 * xu() : (double)(xr() % 100));
        if (xr() % 6 == 0) hset(&x, 0, i, 2); /* ties: the first maximum wins */
        if (flt && xr() % 23 == 0) hset(&x, 0, i, NAN);
        if (!flt && xr() % 11 == 0) hset(&x, 0, i, xr() % 2 ? imax_of(dt) : imin_of(dt)); /* the extremes */
    }
    bup(&x);
    int64_t xsh[4] = {g.N, g.C, g.H, g.W}, osh[4] = {g.N, g.C, g.OH, g.OW};
    npg_tdesc dx = bdesc(&x, true, 4, xsh, 0), dout = bdesc(&out, true, 4, osh, 0), dam = bdesc(&am, true, 4, osh, 0);
    cr_assert_eq(G->pool2d(0, true, &dout, &dam, &dx, &g), NPG_OK, "%s", npg_last_error());
    bdown(&out);
    bdown(&am);
    const int64_t *amv = (const int64_t *)am.back;
    /* max: reference over the in-image taps, first maximum, first NaN wins */
    for (int64_t p = 0; p < g.N * g.C; p++)
        for (int64_t oh = 0; oh < g.OH; oh++)
            for (int64_t ow = 0; ow < g.OW; ow++) {
                int64_t o = (p * g.OH + oh) * g.OW + ow, bi = -1;
                double best = 0;
                for (int64_t kh = 0; kh < g.KH; kh++)
                    for (int64_t kw = 0; kw < g.KW; kw++) {
                        int64_t ih = oh * g.stride_h - g.pad_h + kh * g.dil_h, iw = ow * g.stride_w - g.pad_w + kw * g.dil_w;
                        if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
                        double v = hv(&x, 0, p * HW + ih * g.W + iw);
                        if (bi < 0 || v > best || (isnan(v) && !isnan(best))) best = v, bi = ih * g.W + iw;
                    }
                cr_assert(bi >= 0, "test geometry has an all-padding window");
                cr_assert_eq(amv[o], bi, "max_pool2d %s argmax[%lld] = %lld, want %lld", npg_dtype_name(dt), (long long)o,
                             (long long)amv[o], (long long)bi);
                double got = bv(&out, 0, o);
                cr_assert(isnan(best) ? isnan(got) : got == best, "max_pool2d %s out[%lld] = %g, want %g",
                          npg_dtype_name(dt), (long long)o, got, best);
            }
    if (CPU->pool2d) {
        buf oc = bnew(dt, os), ac = bnew(NPG_INT64, os);
        npg_tdesc hx = bdesc(&x, false, 4, xsh, 0), ho = bdesc(&oc, false, 4, osh, 0), ha = bdesc(&ac, false, 4, osh, 0);
        cr_assert_eq(CPU->pool2d(0, true, &ho, &ha, &hx, &g), NPG_OK, "%s", npg_last_error());
        cr_assert(memcmp(ac.h, am.back, (size_t)os * 8) == 0, "max_pool2d argmax vs cpu");
        bfree(&oc);
        bfree(&ac);
    }
    if (flt) {
        /* max backward: gout summed at the argmax pixels */
        buf go = bnew(dt, os), gx = bnew(dt, xs);
        for (int64_t i = 0; i < os; i++) hset(&go, 0, i, -1 + 2 * xu());
        bup(&go);
        bup(&gx); /* zeros */
        npg_tdesc dgo = bdesc(&go, true, 4, osh, 0), dgx = bdesc(&gx, true, 4, xsh, 0);
        cr_assert_eq(G->pool2d_backward(0, true, &dgx, &dgo, &dam, &g), NPG_OK, "%s", npg_last_error());
        bdown(&gx);
        double *acc = calloc((size_t)xs, sizeof(double));
        cr_assert(acc);
        for (int64_t p = 0; p < g.N * g.C; p++)
            for (int64_t o = 0; o < g.OH * g.OW; o++) acc[p * HW + amv[p * g.OH * g.OW + o]] += hv(&go, 0, p * g.OH * g.OW + o);
        for (int64_t i = 0; i < xs; i++)
            CHECK_NEAR(bv(&gx, 0, i), acc[i], tol_of(dt), tol_of(dt), "max_pool2d backward %s pixel %lld",
                       npg_dtype_name(dt), (long long)i);
        /* avg forward and backward, both divisors */
        for (int cip = 0; cip < 2; cip++) {
            g.count_include_pad = cip;
            for (int64_t i = 0; i < xs; i++) hset(&x, 0, i, -3 + 6 * xu());
            bup(&x);
            memset(gx.h, 0, gx.es * (size_t)gx.n);
            bup(&gx);
            cr_assert_eq(G->pool2d(0, false, &dout, NULL, &dx, &g), NPG_OK, "%s", npg_last_error());
            cr_assert_eq(G->pool2d_backward(0, false, &dgx, &dgo, NULL, &g), NPG_OK, "%s", npg_last_error());
            bdown(&out);
            bdown(&gx);
            memset(acc, 0, sizeof(double) * (size_t)xs);
            for (int64_t p = 0; p < g.N * g.C; p++)
                for (int64_t oh = 0; oh < g.OH; oh++)
                    for (int64_t ow = 0; ow < g.OW; ow++) {
                        double s = 0;
                        int64_t cnt = 0, o = (p * g.OH + oh) * g.OW + ow;
                        for (int pass = 0; pass < 2; pass++)
                            for (int64_t kh = 0; kh < g.KH; kh++)
                                for (int64_t kw = 0; kw < g.KW; kw++) {
                                    int64_t ih = oh * g.stride_h - g.pad_h + kh * g.dil_h;
                                    int64_t iw = ow * g.stride_w - g.pad_w + kw * g.dil_w;
                                    if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
                                    if (pass == 0) s += hv(&x, 0, p * HW + ih * g.W + iw), cnt++;
                                    else acc[p * HW + ih * g.W + iw] += hv(&go, 0, o) / (double)(cip ? g.KH * g.KW : cnt);
                                }
                        double want = s / (double)(cip ? g.KH * g.KW : cnt);
                        CHECK_NEAR(bv(&out, 0, o), want, tol_of(dt), tol_of(dt), "avg_pool2d %s cip %d out %lld",
                                   npg_dtype_name(dt), cip, (long long)o);
                    }
            for (int64_t i = 0; i < xs; i++)
                CHECK_NEAR(bv(&gx, 0, i), acc[i], tol_of(dt), tol_of(dt), "avg_pool2d backward %s cip %d pixel %lld",
                           npg_dtype_name(dt), cip, (long long)i);
            if (CPU->pool2d && CPU->pool2d_backward) {
                buf oc = bnew(dt, os), gc = bnew(dt, xs);
                npg_tdesc hx = bdesc(&x, false, 4, xsh, 0), ho = bdesc(&oc, false, 4, osh, 0);
                npg_tdesc hgo = bdesc(&go, false, 4, osh, 0), hgx = bdesc(&gc, false, 4, xsh, 0);
                cr_assert_eq(CPU->pool2d(0, false, &ho, NULL, &hx, &g), NPG_OK, "%s", npg_last_error());
                cr_assert_eq(CPU->pool2d_backward(0, false, &hgx, &hgo, NULL, &g), NPG_OK, "%s", npg_last_error());
                for (int64_t i = 0; i < os; i++)
                    CHECK_NEAR(bv(&out, 0, i), hv(&oc, 0, i), tol_of(dt), tol_of(dt), "avg_pool2d vs cpu");
                for (int64_t i = 0; i < xs; i++)
                    CHECK_NEAR(bv(&gx, 0, i), hv(&gc, 0, i), tol_of(dt), tol_of(dt), "avg_pool2d backward vs cpu");
                bfree(&oc);
                bfree(&gc);
            }
        }
        free(acc);
        bfree(&go);
        bfree(&gx);
    }
    bfree(&x);
    bfree(&out);
    bfree(&am);
}

Test(cuda_nn, pool2d_max_avg_and_backward) {
    need_gpu();
    /* pooling geometries: padding at most half the kernel */
    npg_conv_geom gs[7] = {
        geom(2, 3, 8, 8, 2, 2, 2, 2, 0, 0, 1, 1),   geom(2, 2, 9, 7, 3, 3, 2, 2, 1, 1, 1, 1),
        geom(1, 3, 10, 11, 3, 3, 1, 1, 1, 1, 1, 1), geom(1, 2, 7, 9, 3, 2, 2, 3, 1, 1, 1, 1),
        geom(2, 1, 5, 6, 5, 4, 3, 2, 2, 2, 1, 1),   geom(1, 2, 12, 13, 3, 3, 2, 3, 1, 0, 2, 2),
        geom(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1),
    };
    for (int k = 0; k < NNUM; k++)
        for (int i = 0; i < 7; i++) run_pool(numdt[k], &gs[i]);
    npg_conv_geom big = geom(64, 64, 32, 32, 3, 3, 2, 2, 1, 1, 1, 1); /* grid-stride loops */
    run_pool(NPG_FLOAT32, &big);
}

/* ---- optimizers ------------------------------------------------------------------------------------- */

static void run_optim(npg_dtype dt, int64_t n, int64_t off, bool adam, int variant) {
    buf p = bnew(dt, n), g = bnew(dt, n), s1 = bnew(dt, n), s2 = bnew(dt, n);
    buf pc = bnew(dt, n), s1c = bnew(dt, n), s2c = bnew(dt, n);
    for (int64_t i = 0; i < n; i++) {
        hset(&p, off, i, -1 + 2 * xu());
        hset(&g, off, i, -1 + 2 * xu());
        hset(&s1, off, i, adam ? -0.1 + 0.2 * xu() : -1 + 2 * xu());
        hset(&s2, off, i, 0.01 * xu());
    }
    memcpy(pc.h, p.h, p.es * (size_t)p.n);
    memcpy(s1c.h, s1.h, s1.es * (size_t)s1.n);
    memcpy(s2c.h, s2.h, s2.es * (size_t)s2.n);
    bup(&p);
    bup(&g);
    bup(&s1);
    bup(&s2);
    int64_t sh[1] = {n};
    npg_tdesc dp = bdesc(&p, true, 1, sh, off), dg = bdesc(&g, true, 1, sh, off);
    npg_tdesc d1 = bdesc(&s1, true, 1, sh, off), d2 = bdesc(&s2, true, 1, sh, off);
    npg_tdesc hp = bdesc(&pc, false, 1, sh, off), hg = bdesc(&g, false, 1, sh, off);
    npg_tdesc h1 = bdesc(&s1c, false, 1, sh, off), h2 = bdesc(&s2c, false, 1, sh, off);
    const double tol = tol_of(dt);
    if (!adam) {
        npg_sgd_hp h;
        memset(&h, 0, sizeof h);
        h.lr = 0.05;
        h.momentum = variant & 1 ? 0.9 : 0;
        h.dampening = variant == 3 ? 0.25 : 0;
        h.weight_decay = variant & 2 ? 0.01 : 0;
        h.nesterov = variant == 1;
        h.first_step = variant == 5;
        bool mom = h.momentum != 0;
        cr_assert_eq(G->sgd_step(0, &dp, &dg, mom ? &d1 : NULL, &h), NPG_OK, "%s", npg_last_error());
        bdown(&p);
        bdown(&s1);
        if (CPU->sgd_step) cr_assert_eq(CPU->sgd_step(0, &hp, &hg, mom ? &h1 : NULL, &h), NPG_OK, "%s", npg_last_error());
        for (int64_t i = 0; i < n; i++) {
            double pv = hv(&p, off, i), gv = hv(&g, off, i), b = hv(&s1, off, i);
            double d = gv + h.weight_decay * pv;
            if (mom) {
                b = h.first_step ? d : h.momentum * b + (1 - h.dampening) * d;
                d = h.nesterov ? d + h.momentum * b : b;
                CHECK_NEAR(bv(&s1, off, i), b, tol, tol, "sgd variant %d %s buf[%lld]", variant, npg_dtype_name(dt),
                           (long long)i);
            }
            CHECK_NEAR(bv(&p, off, i), pv - h.lr * d, tol, tol, "sgd variant %d %s p[%lld]", variant,
                       npg_dtype_name(dt), (long long)i);
            if (CPU->sgd_step) {
                CHECK_NEAR(bv(&p, off, i), hv(&pc, off, i), tol, tol * 1e-3, "sgd vs cpu p[%lld]", (long long)i);
                if (mom) CHECK_NEAR(bv(&s1, off, i), hv(&s1c, off, i), tol, tol * 1e-3, "sgd vs cpu buf[%lld]", (long long)i);
            }
        }
    } else {
        npg_adam_hp h;
        memset(&h, 0, sizeof h);
        h.lr = 1e-2;
        h.beta1 = 0.9;
        h.beta2 = 0.999;
        h.eps = 1e-8;
        h.weight_decay = variant ? 0.05 : 0;
        h.decoupled = variant == 2;
        h.bias_correction1 = 1 - pow(h.beta1, 3);
        h.bias_correction2 = 1 - pow(h.beta2, 3);
        cr_assert_eq(G->adam_step(0, &dp, &dg, &d1, &d2, &h), NPG_OK, "%s", npg_last_error());
        bdown(&p);
        bdown(&s1);
        bdown(&s2);
        if (CPU->adam_step) cr_assert_eq(CPU->adam_step(0, &hp, &hg, &h1, &h2, &h), NPG_OK, "%s", npg_last_error());
        for (int64_t i = 0; i < n; i++) {
            double pv = hv(&p, off, i), gv = hv(&g, off, i), m = hv(&s1, off, i), v = hv(&s2, off, i);
            if (h.decoupled) pv -= h.lr * h.weight_decay * pv;
            else gv += h.weight_decay * pv;
            m = h.beta1 * m + (1 - h.beta1) * gv;
            v = h.beta2 * v + (1 - h.beta2) * gv * gv;
            double want = pv - h.lr * (m / h.bias_correction1) / (sqrt(v / h.bias_correction2) + h.eps);
            CHECK_NEAR(bv(&s1, off, i), m, 4 * tol, tol, "adam variant %d %s m[%lld]", variant, npg_dtype_name(dt),
                       (long long)i);
            CHECK_NEAR(bv(&s2, off, i), v, 4 * tol, tol * 1e-2, "adam variant %d %s v[%lld]", variant,
                       npg_dtype_name(dt), (long long)i);
            CHECK_NEAR(bv(&p, off, i), want, 4 * tol, 4 * tol, "adam variant %d %s p[%lld]", variant,
                       npg_dtype_name(dt), (long long)i);
            if (CPU->adam_step) {
                CHECK_NEAR(bv(&p, off, i), hv(&pc, off, i), tol, tol * 1e-3, "adam vs cpu p[%lld]", (long long)i);
                CHECK_NEAR(bv(&s1, off, i), hv(&s1c, off, i), tol, tol * 1e-3, "adam vs cpu m[%lld]", (long long)i);
                CHECK_NEAR(bv(&s2, off, i), hv(&s2c, off, i), tol, tol * 1e-3, "adam vs cpu v[%lld]", (long long)i);
            }
        }
    }
    bfree(&p);
    bfree(&g);
    bfree(&s1);
    bfree(&s2);
    bfree(&pc);
    bfree(&s1c);
    bfree(&s2c);
}

Test(cuda_nn, sgd_step) {
    need_gpu();
    for (int t = 0; t < 2; t++)
        for (int v = 0; v < 6; v++) {
            run_optim(flts[t], 1003, 0, false, v); /* vectors and a tail */
            run_optim(flts[t], 257, 1, false, v);  /* unaligned: scalar path */
        }
    run_optim(NPG_FLOAT32, 3000001, 0, false, 1); /* grid-stride */
}

Test(cuda_nn, adam_step) {
    need_gpu();
    for (int t = 0; t < 2; t++)
        for (int v = 0; v < 3; v++) {
            run_optim(flts[t], 1003, 0, true, v);
            run_optim(flts[t], 257, 1, true, v);
        }
    run_optim(NPG_FLOAT32, 3000001, 0, true, 2);
}

/* ---- unsupported dtypes ------------------------------------------------------------------------------ */

Test(cuda_nn, unsupported_dtypes_are_errors) {
    need_gpu();
    buf a = bnew(NPG_INT32, 64), b = bnew(NPG_INT32, 64), l = bnew(NPG_INT64, 8), bb = bnew(NPG_BOOL, 64);
    int64_t sh[2] = {8, 8}, sr[1] = {8};
    npg_tdesc da = bdesc(&a, true, 2, sh, 0), db = bdesc(&b, true, 2, sh, 0), dl = bdesc(&l, true, 1, sr, 0);
    npg_tdesc dr = bdesc(&a, true, 1, sr, 0), drb = bdesc(&b, true, 1, sr, 0);
    cr_assert_eq(G->softmax(0, &db, &da, false), NPG_ERR_UNSUPPORTED);
    cr_assert(strstr(npg_last_error(), "cuda") && strstr(npg_last_error(), "int32"), "%s", npg_last_error());
    cr_assert_eq(G->softmax_backward(0, &db, &da, &da, true), NPG_ERR_UNSUPPORTED);
    cr_assert_eq(G->cross_entropy(0, &dr, &drb, &da, &dl, 0, false, 0), NPG_ERR_UNSUPPORTED);
    int64_t one[1] = {64};
    npg_tdesc d1 = bdesc(&a, true, 1, one, 0), d2 = bdesc(&b, true, 1, one, 0);
    npg_sgd_hp sh_ = {0.1, 0, 0, 0, false, false};
    cr_assert_eq(G->sgd_step(0, &d1, &d2, NULL, &sh_), NPG_ERR_UNSUPPORTED);
    npg_adam_hp ah = {1e-3, 0.9, 0.999, 1e-8, 0, false, 0.1, 0.001};
    cr_assert_eq(G->adam_step(0, &d1, &d2, &d1, &d2, &ah), NPG_ERR_UNSUPPORTED);
    npg_conv_geom g = geom(1, 1, 8, 8, 2, 2, 2, 2, 0, 0, 1, 1);
    int64_t xsh[4] = {1, 1, 8, 8}, osh[4] = {1, 1, 4, 4};
    npg_tdesc dx = bdesc(&a, true, 4, xsh, 0), dout = bdesc(&b, true, 4, osh, 0);
    cr_assert_eq(G->pool2d(0, false, &dout, NULL, &dx, &g), NPG_ERR_UNSUPPORTED, "avg pooling of int32");
    cr_assert_eq(G->pool2d_backward(0, false, &dx, &dout, NULL, &g), NPG_ERR_UNSUPPORTED);
    npg_tdesc bx = bdesc(&bb, true, 4, xsh, 0);
    int64_t csh[3] = {1, 4, 16};
    npg_tdesc bc = bdesc(&bb, true, 3, csh, 0);
    cr_assert_eq(G->im2col(0, &bc, &bx, &g), NPG_ERR_UNSUPPORTED, "im2col of bool");
    npg_clear_error();
    cr_assert_eq(G->synchronize(0), NPG_OK);
    bfree(&a);
    bfree(&b);
    bfree(&l);
    bfree(&bb);
    /* the new integer types: float-only entries refuse them, as on the CPU */
    static const npg_dtype newints[5] = {NPG_INT8, NPG_INT16, NPG_UINT16, NPG_UINT32, NPG_UINT64};
    for (int k = 0; k < 5; k++) {
        npg_dtype dt = newints[k];
        buf x = bnew(dt, 64), y = bnew(dt, 64);
        npg_tdesc dxx = bdesc(&x, true, 2, sh, 0), dyy = bdesc(&y, true, 2, sh, 0);
        cr_assert_eq(G->softmax(0, &dyy, &dxx, false), NPG_ERR_UNSUPPORTED, "softmax of %s", npg_dtype_name(dt));
        cr_assert(strstr(npg_last_error(), "cuda") && strstr(npg_last_error(), npg_dtype_name(dt)), "%s",
                  npg_last_error());
        cr_assert_eq(G->softmax_backward(0, &dyy, &dxx, &dxx, true), NPG_ERR_UNSUPPORTED);
        npg_tdesc x1 = bdesc(&x, true, 1, one, 0), y1 = bdesc(&y, true, 1, one, 0);
        cr_assert_eq(G->sgd_step(0, &x1, &y1, NULL, &sh_), NPG_ERR_UNSUPPORTED, "sgd of %s", npg_dtype_name(dt));
        cr_assert_eq(G->adam_step(0, &x1, &y1, &x1, &y1, &ah), NPG_ERR_UNSUPPORTED, "adam of %s", npg_dtype_name(dt));
        npg_tdesc px = bdesc(&x, true, 4, xsh, 0), po = bdesc(&y, true, 4, osh, 0);
        cr_assert_eq(G->pool2d(0, false, &po, NULL, &px, &g), NPG_ERR_UNSUPPORTED, "avg pooling of %s",
                     npg_dtype_name(dt));
        cr_assert_eq(G->pool2d_backward(0, false, &px, &po, NULL, &g), NPG_ERR_UNSUPPORTED);
        npg_clear_error();
        bfree(&x);
        bfree(&y);
    }
    cr_assert_eq(G->synchronize(0), NPG_OK);
}
