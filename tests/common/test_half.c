/*
 * test_half.c — the float16 and bfloat16 dtypes on the device under test
 * (NPG_DEVICE): conversions against an independent reference (exact
 * rational rounding in float64 arithmetic, not the library's bit
 * manipulation), type promotion, every op family computing in float32 and
 * rounding once (checked bit for bit against the same op run by hand on a
 * float32 copy, and against float64 references with the half types'
 * tolerances), gradients, optimizers, random draws, I/O and the errors.
 */
#define _POSIX_C_SOURCE 200809L
#include "test_util.h"

#include <ctype.h>
#include <float.h>
#include <unistd.h>

#include "npg/io.h"
#include "npg/linalg.h"
#include "npg/nn.h"

static void setup(void) { t_require_device(); }
TestSuite(half, .init = setup);

#define OPT(...) NPG_OPTS(.device = t_dev(), __VA_ARGS__)
static const npg_dtype HALVES[2] = {NPG_FLOAT16, NPG_BFLOAT16};

/* ---- the reference: round x to `prec` significant bits, spacing at least
 * 2^qmin (subnormals), overflow past maxv to inf; ties to even. ---------- */
typedef struct fmt16 {
    int prec, qmin;
    double maxv;
} fmt16;
static const fmt16 F16 = {11, -24, 65504.0};
static const fmt16 BF16 = {8, -133, 3.3895313892515355e38};
static const fmt16 *fmt_of(npg_dtype dt) { return dt == NPG_FLOAT16 ? &F16 : &BF16; }

static double ref_round(double x, const fmt16 *f) {
    if (x != x || isinf(x) || x == 0) return x;
    double a = fabs(x);
    int e;
    frexp(a, &e); /* a = m 2^e, m in [0.5, 1) */
    int q = e - f->prec;
    if (q < f->qmin) q = f->qmin;
    double k = ldexp(a, -q), fl = floor(k), r = k - fl;
    if (r > 0.5 || (r == 0.5 && fmod(fl, 2.0) == 1.0)) fl += 1;
    double v = ldexp(fl, q);
    if (v > f->maxv) v = INFINITY;
    return copysign(v, x);
}

/* The value of a bit pattern, decoded by formula. */
static double ref_decode(uint16_t h, npg_dtype dt) {
    int s = h >> 15;
    double v;
    if (dt == NPG_FLOAT16) {
        int e = (h >> 10) & 31, m = h & 1023;
        v = e == 31 ? (m ? NAN : INFINITY) : e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);
    } else {
        int e = (h >> 7) & 255, m = h & 127;
        v = e == 255 ? (m ? NAN : INFINITY) : e == 0 ? ldexp(m, -133) : ldexp(128 + m, e - 134);
    }
    return s ? -v : v;
}

static bool same_value(double a, double b) {
    if (a != a || b != b) return a != a && b != b;
    return a == b && signbit(a) == signbit(b);
}

/* The half array's elements as bit patterns (malloc'd). */
static uint16_t *bits_of(const npg_array *x) {
    size_t n = (size_t)npg_size(x);
    uint16_t *b = malloc(2 * (n ? n : 1));
    cr_assert_eq(npg_copy_to_host(x, b, 2 * n), NPG_OK, "%s", npg_last_error());
    return b;
}

/* x and y hold the same values bit for bit (NaN matching NaN). */
static void assert_same_bits(const npg_array *x, const npg_array *y, const char *what) {
    cr_assert(x && y, "%s: NULL (%s)", what, npg_last_error());
    cr_assert_eq(npg_dtype_of(x), npg_dtype_of(y), "%s: dtype %s vs %s", what, npg_dtype_name(npg_dtype_of(x)),
                 npg_dtype_name(npg_dtype_of(y)));
    npg_shape a = npg_shape_of(x), b = npg_shape_of(y);
    cr_assert_eq(a.ndim, b.ndim, "%s: ndim", what);
    for (int i = 0; i < a.ndim; i++) cr_assert_eq(a.dims[i], b.dims[i], "%s: dim %d", what, i);
    double *u = t_read(x), *v = t_read(y);
    for (int64_t i = 0; i < npg_size(x); i++)
        if (!same_value(u[i], v[i]))
            cr_assert_fail("%s: element %lld: %.9g, want %.9g", what, (long long)i, u[i], v[i]);
    free(u);
    free(v);
}

/* x within 2 units in the last place of the half type of y (an op composed
 * of several kernels rounds after each of them). */
static void assert_close_ulps(const npg_array *x, const npg_array *y, const char *what) {
    cr_assert(x && y, "%s: NULL (%s)", what, npg_last_error());
    double eps = npg_dtype_of(x) == NPG_FLOAT16 ? 0x1p-10 : 0x1p-7, *want = t_read(y);
    t_assert_close(x, want, npg_size(y), 2 * eps, 1e-6, what);
    free(want);
}

/* x close to the float32 result y (t_assert_close on y's values). */
static void assert_close_f32(const npg_array *x, const npg_array *y, double rtol, double atol, const char *what) {
    cr_assert(x && y, "%s: NULL (%s)", what, npg_last_error());
    double *want = t_read(y);
    t_assert_close(x, want, npg_size(y), rtol, atol, what);
    free(want);
}

/* ---- conversions ------------------------------------------------------------ */

Test(half, every_bit_pattern_widens_exactly_and_narrows_back) {
    t_live live = t_live_now();
    static uint16_t all[65536];
    for (int i = 0; i < 65536; i++) all[i] = (uint16_t)i;
    for (int d = 0; d < 2; d++) {
        npg_scope s = npg_scope_begin();
        npg_dtype dt = HALVES[d];
        npg_array *h = npg_from_data(all, dt, NPG_SHAPE(65536), OPT());
        cr_assert(h, "%s", npg_last_error());
        double *f32 = t_read(npg_astype(h, NPG_FLOAT32)), *f64 = t_read(h);
        /* into every integer dtype: truncated, saturated at the type's bounds, NaN 0 */
        static const struct {
            npg_dtype dt;
            double lo, hi;
        } ints[] = {{NPG_INT8, -128, 127},        {NPG_INT16, -32768, 32767},
                    {NPG_INT32, -2147483648.0, 2147483647.0}, {NPG_INT64, -9223372036854775808.0, 9223372036854775807.0},
                    {NPG_UINT8, 0, 255},          {NPG_UINT16, 0, 65535},
                    {NPG_UINT32, 0, 4294967295.0}, {NPG_UINT64, 0, 18446744073709551615.0}};
        enum { NI = sizeof ints / sizeof ints[0] };
        double *iv[NI];
        for (int k = 0; k < NI; k++) iv[k] = t_read(npg_astype(h, ints[k].dt));
        double *b = t_read(npg_astype(h, NPG_BOOL));
        npg_dtype other = HALVES[1 - d];
        double *oth = t_read(npg_astype(h, other));
        for (int i = 0; i < 65536; i++) {
            double v = ref_decode((uint16_t)i, dt);
            cr_assert(same_value(f32[i], v) && same_value(f64[i], v), "%s %04x: %.9g / %.9g, want %.9g",
                      npg_dtype_name(dt), i, f32[i], f64[i], v);
            for (int k = 0; k < NI; k++) {
                double t = v != v ? 0 : v >= ints[k].hi ? ints[k].hi : v <= ints[k].lo ? ints[k].lo : trunc(v);
                cr_assert_eq(iv[k][i], t, "%s %04x -> %s: %g, want %g", npg_dtype_name(dt), i,
                             npg_dtype_name(ints[k].dt), iv[k][i], t);
            }
            cr_assert_eq(b[i], v != 0 ? 1.0 : 0.0, "%s %04x -> bool", npg_dtype_name(dt), i); /* -0 is false */
            double o = ref_round(v, fmt_of(other));
            cr_assert(same_value(oth[i], o), "%s %04x -> %s: %.9g, want %.9g", npg_dtype_name(dt), i,
                      npg_dtype_name(other), oth[i], o);
        }
        /* back from float32 and float64: the same bits (NaN: a quiet NaN) */
        for (int w = 0; w < 2; w++) {
            uint16_t *back = bits_of(npg_astype(npg_astype(h, w ? NPG_FLOAT64 : NPG_FLOAT32), dt));
            for (int i = 0; i < 65536; i++) {
                double v = ref_decode((uint16_t)i, dt);
                if (v != v)
                    cr_assert(ref_decode(back[i], dt) != ref_decode(back[i], dt), "%04x: NaN lost", i);
                else
                    cr_assert_eq(back[i], i, "%s %04x via %s came back as %04x", npg_dtype_name(dt), i,
                                 w ? "float64" : "float32", back[i]);
            }
            free(back);
        }
        for (int k = 0; k < NI; k++) free(iv[k]);
        free(f32), free(f64), free(b), free(oth);
        npg_scope_end(s);
    }
    t_assert_no_leak(live, "bit patterns");
}

/* float32 inputs spread over every exponent, the ties between neighbouring
 * half values and their float32 neighbours. */
static float *f32_inputs(int64_t *n) {
    const int64_t stride = 4099, nstride = (int64_t)(4294967296.0 / stride) + 1;
    float *v = malloc(sizeof(float) * (size_t)(nstride + 6 * 2048));
    int64_t k = 0;
    for (int64_t i = 0; i < nstride; i++) {
        uint32_t u = (uint32_t)(i * stride);
        memcpy(&v[k++], &u, 4);
    }
    for (int i = 0; i < 2048; i++) { /* ties of float16 (normal and subnormal) and bfloat16 */
        double lo = ref_decode((uint16_t)(i * 31 % 0x7c00), NPG_FLOAT16), ulp = lo < ldexp(1, -14) ? ldexp(1, -24) : 0;
        if (ulp == 0) {
            int e;
            frexp(lo, &e);
            ulp = ldexp(1, e - 11);
        }
        float tie = (float)(lo + ulp / 2);
        v[k++] = tie;
        v[k++] = nextafterf(tie, INFINITY);
        v[k++] = nextafterf(tie, 0);
        double blo = ref_decode((uint16_t)(i * 15 % 0x7f80), NPG_BFLOAT16), bulp;
        int e;
        frexp(blo, &e);
        bulp = blo < ldexp(1, -126) ? ldexp(1, -133) : ldexp(1, e - 8);
        float btie = (float)(blo + bulp / 2);
        v[k++] = -btie;
        v[k++] = -nextafterf(btie, INFINITY);
        v[k++] = -nextafterf(btie, 0);
    }
    *n = k;
    return v;
}

Test(half, float32_rounds_to_nearest_even) {
    t_live live = t_live_now();
    int64_t n;
    float *v = f32_inputs(&n);
    npg_array *x = npg_from_data(v, NPG_FLOAT32, NPG_SHAPE(n), OPT());
    cr_assert(x, "%s", npg_last_error());
    for (int d = 0; d < 2; d++) {
        npg_array *h = npg_astype(x, HALVES[d]);
        uint16_t *b = bits_of(h);
        for (int64_t i = 0; i < n; i++) {
            double want = ref_round(v[i], fmt_of(HALVES[d])), got = ref_decode(b[i], HALVES[d]);
            if (!same_value(got, want))
                cr_assert_fail("%s(%a): %a (%04x), want %a", npg_dtype_name(HALVES[d]), (double)v[i], got, b[i], want);
        }
        free(b);
        npg_free(h);
    }
    npg_free(x);
    free(v);
    t_assert_no_leak(live, "float32 rounding");
}

/* The f32 array's elements as bit patterns (malloc'd). */
static uint32_t *bits32_of(const npg_array *x) {
    size_t n = (size_t)npg_size(x);
    uint32_t *b = malloc(4 * (n ? n : 1));
    cr_assert_eq(npg_copy_to_host(x, b, 4 * n), NPG_OK, "%s", npg_last_error());
    return b;
}

/* NaN payloads follow x86's F16C conversions (quieted, the payload's top
 * kept), and a contiguous run (the CPU's vector conversions) gives the bits
 * of a strided one (its per-element conversions), for casts and for the
 * elementwise ops' converted chunks, at every offset into an 8-wide vector. */
Test(half, nan_payloads_and_every_path_give_the_same_bits) {
    t_live live = t_live_now();
    npg_scope sc = npg_scope_begin();
    const uint16_t hn[4] = {0x7c01, 0xfe01, 0x7fff, 0x7d55};
    const uint32_t hw[4] = {0x7fc02000u, 0xffc02000u, 0x7fffe000u, 0x7feaa000u};
    uint32_t *w = bits32_of(npg_astype(npg_from_data(hn, NPG_FLOAT16, NPG_SHAPE(4), OPT()), NPG_FLOAT32));
    for (int i = 0; i < 4; i++) cr_assert_eq(w[i], hw[i], "float16 %04x -> %08x, want %08x", hn[i], w[i], hw[i]);
    free(w);
    const uint32_t fn[5] = {0x7fa00000u, 0xff800001u, 0x7fffffffu, 0x7fc00000u, 0xffd55555u};
    const uint16_t fh[5] = {0x7f00, 0xfe00, 0x7fff, 0x7e00, 0xfeaa}, fb[5] = {0x7fc0, 0xffc0, 0x7fc0, 0x7fc0, 0xffc0};
    npg_array *f = npg_from_data(fn, NPG_FLOAT32, NPG_SHAPE(5), OPT());
    uint16_t *h = bits_of(npg_astype(f, NPG_FLOAT16)), *b = bits_of(npg_astype(f, NPG_BFLOAT16));
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(h[i], fh[i], "float32 %08x -> float16 %04x, want %04x", fn[i], h[i], fh[i]);
        cr_assert_eq(b[i], fb[i], "float32 %08x -> bfloat16 %04x, want %04x", fn[i], b[i], fb[i]);
    }
    free(h), free(b);
    /* float64 NaNs: narrowed keeping sign and payload's top on every device,
     * and widened back from float32 and float16 the same way */
    const uint64_t dn[3] = {0x7ff8000000000000ull, 0xfff8000000000000ull, 0xfff4d55555555555ull};
    const uint16_t dh[3] = {0x7e00, 0xfe00, 0xff35}, db[3] = {0x7fc0, 0xffc0, 0xffc0};
    const uint32_t df[3] = {0x7fc00000u, 0xffc00000u, 0xffe6aaaau};
    const uint64_t dw[3] = {0x7ff8000000000000ull, 0xfff8000000000000ull, 0xfffcd55540000000ull};
    const uint64_t dhw[3] = {0x7ff8000000000000ull, 0xfff8000000000000ull, 0xfffcd40000000000ull};
    npg_array *d64 = npg_from_data(dn, NPG_FLOAT64, NPG_SHAPE(3), OPT());
    uint16_t *nh = bits_of(npg_astype(d64, NPG_FLOAT16)), *nb = bits_of(npg_astype(d64, NPG_BFLOAT16));
    uint32_t *nf = bits32_of(npg_astype(d64, NPG_FLOAT32));
    uint64_t wf[3], wh[3];
    cr_assert_eq(npg_copy_to_host(npg_astype(npg_astype(d64, NPG_FLOAT32), NPG_FLOAT64), wf, sizeof wf), NPG_OK);
    cr_assert_eq(npg_copy_to_host(npg_astype(npg_astype(d64, NPG_FLOAT16), NPG_FLOAT64), wh, sizeof wh), NPG_OK);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(nh[i], dh[i], "float64 %016llx -> float16 %04x, want %04x", (unsigned long long)dn[i], nh[i], dh[i]);
        cr_assert_eq(nb[i], db[i], "float64 %016llx -> bfloat16 %04x, want %04x", (unsigned long long)dn[i], nb[i],
                     db[i]);
        cr_assert_eq(nf[i], df[i], "float64 %016llx -> float32 %08x, want %08x", (unsigned long long)dn[i], nf[i], df[i]);
        cr_assert_eq(wf[i], dw[i], "float32 %08x -> float64 %016llx, want %016llx", df[i], (unsigned long long)wf[i],
                     (unsigned long long)dw[i]);
        cr_assert_eq(wh[i], dhw[i], "float16 %04x -> float64 %016llx, want %016llx", dh[i], (unsigned long long)wh[i],
                     (unsigned long long)dhw[i]);
    }
    free(nh), free(nb), free(nf);

    /* every half pattern, and float32 inputs with NaN payloads, contiguous
     * (from offsets 0..8) against every other element of a 2x array */
    enum { NH = 65536 + 9, NF = 4099 };
    uint16_t *all = malloc(2 * NH * 2);
    uint32_t *fl = malloc(4 * NF * 2);
    for (int i = 0; i < NH; i++) all[2 * i] = all[2 * i + 1] = (uint16_t)(i * 40503u);
    for (int i = 0; i < NF; i++) {
        uint32_t u = (uint32_t)i * 1048573u;
        if (i % 3 == 0) u |= 0x7f800000u; /* inf and NaN with every kind of payload */
        if (i % 5 == 0) u = (u & 0x807fffffu) | 0x33000000u; /* float16's subnormal range */
        fl[2 * i] = fl[2 * i + 1] = u;
    }
    for (int d = 0; d < 2; d++) {
        npg_dtype dt = HALVES[d];
        npg_array *hx = npg_from_data(all, dt, NPG_SHAPE(2 * NH), OPT());
        npg_array *fx = npg_from_data(fl, NPG_FLOAT32, NPG_SHAPE(2 * NF), OPT());
        npg_array *hs = NPG_INDEX(hx, NPG_SLICE(0, NPG_NONE, 2)), *fs = NPG_INDEX(fx, NPG_SLICE(0, NPG_NONE, 2));
        uint32_t *ws = bits32_of(npg_astype(hs, NPG_FLOAT32));
        uint16_t *ns = bits_of(npg_astype(fs, dt));
        npg_array *one = npg_scalar(1.0, OPT(.dtype = dt));
        uint16_t *ms = bits_of(npg_multiply(hs, one));
        for (int off = 0; off < 9; off++) {
            npg_array *hc = npg_copy(NPG_INDEX(hs, NPG_SLICE(off, NPG_NONE, 1)));
            npg_array *fc = npg_copy(NPG_INDEX(fs, NPG_SLICE(off, NPG_NONE, 1)));
            cr_assert(npg_is_contiguous(hc) && npg_is_contiguous(fc));
            uint32_t *wc = bits32_of(npg_astype(hc, NPG_FLOAT32));
            uint16_t *nc = bits_of(npg_astype(fc, dt)), *mc = bits_of(npg_multiply(hc, one));
            for (int i = 0; i + off < NH; i++) {
                if (wc[i] != ws[i + off])
                    cr_assert_fail("%s %04x -> float32: %08x contiguous, %08x strided", npg_dtype_name(dt),
                                   all[2 * (i + off)], wc[i], ws[i + off]);
                if (mc[i] != ms[i + off])
                    cr_assert_fail("%s %04x * 1: %04x contiguous, %04x strided", npg_dtype_name(dt),
                                   all[2 * (i + off)], mc[i], ms[i + off]);
            }
            for (int i = 0; i + off < NF; i++)
                if (nc[i] != ns[i + off])
                    cr_assert_fail("float32 %08x -> %s: %04x contiguous, %04x strided", fl[2 * (i + off)],
                                   npg_dtype_name(dt), nc[i], ns[i + off]);
            free(wc), free(nc), free(mc);
        }
        free(ws), free(ns), free(ms);
    }
    free(all), free(fl);
    npg_scope_end(sc);
    t_assert_no_leak(live, "payloads");
}

Test(half, float64_and_integers_round_once) {
    t_live live = t_live_now();
    /* ties with a float64 tail below float32's precision: narrowing through
     * float32 would round twice (1 + 2^-11 + 2^-40 -> 1 + 2^-11 -> 1) */
    enum { N = 4000 };
    static double v[N];
    int k = 0;
    for (int i = 1; k + 8 <= N; i++) {
        for (int d = 0; d < 2; d++) {
            double lo = ref_decode((uint16_t)(i * 7 % (d ? 0x7f7f : 0x7bff)), HALVES[d]);
            double hi = ref_decode((uint16_t)(i * 7 % (d ? 0x7f7f : 0x7bff) + 1), HALVES[d]);
            double mid = lo / 2 + hi / 2, tail = (hi - lo) * 0x1p-30;
            v[k++] = mid;
            v[k++] = mid + tail;
            v[k++] = -(mid - tail);
            v[k++] = mid * (1 + 0x1p-50);
        }
    }
    npg_array *x = npg_from_data(v, NPG_FLOAT64, NPG_SHAPE(N), OPT());
    int64_t iv[] = {0, 1, -1, 2049, 2051, -4097, 65504, 65519, 65520, 70000, -70000, INT64_MAX, INT64_MIN, 16777217};
    const int ni = (int)(sizeof iv / sizeof iv[0]);
    npg_array *xi = npg_from_data(iv, NPG_INT64, NPG_SHAPE(ni), OPT());
    for (int d = 0; d < 2; d++) {
        /* on the device (astype) and from host data (npg_from_data) */
        npg_array *h[2] = {npg_astype(x, HALVES[d]), npg_from_data(v, NPG_FLOAT64, NPG_SHAPE(N), OPT(.dtype = HALVES[d]))};
        for (int w = 0; w < 2; w++) {
            uint16_t *b = bits_of(h[w]);
            for (int i = 0; i < N; i++) {
                double want = ref_round(v[i], fmt_of(HALVES[d])), got = ref_decode(b[i], HALVES[d]);
                if (!same_value(got, want))
                    cr_assert_fail("%s(%a) (%s): %a, want %a", npg_dtype_name(HALVES[d]), v[i],
                                   w ? "from_data" : "astype", got, want);
            }
            free(b);
            npg_free(h[w]);
        }
        npg_array *hi = npg_astype(xi, HALVES[d]);
        uint16_t *b = bits_of(hi);
        for (int i = 0; i < ni; i++) {
            double want = ref_round((double)iv[i], fmt_of(HALVES[d])), got = ref_decode(b[i], HALVES[d]);
            cr_assert(same_value(got, want), "%s(%lld): %a, want %a", npg_dtype_name(HALVES[d]), (long long)iv[i],
                      got, want);
        }
        free(b);
        npg_free(hi);
    }
    npg_free(x);
    npg_free(xi);
    t_assert_no_leak(live, "float64 rounding");
}

/* ---- dtype rules -------------------------------------------------------------- */

Test(half, promotion_follows_pytorch) {
    const npg_dtype ints[] = {NPG_BOOL, NPG_UINT8, NPG_INT32, NPG_INT64, NPG_INT8, NPG_INT16, NPG_UINT16, NPG_UINT32, NPG_UINT64};
    for (int d = 0; d < 2; d++) {
        npg_dtype h = HALVES[d];
        cr_assert_eq(npg_result_type(h, h), h);
        for (int i = 0; i < (int)(sizeof ints / sizeof ints[0]); i++) {
            cr_assert_eq(npg_result_type(h, ints[i]), h);
            cr_assert_eq(npg_result_type(ints[i], h), h);
        }
        cr_assert_eq(npg_result_type(h, NPG_FLOAT32), NPG_FLOAT32);
        cr_assert_eq(npg_result_type(NPG_FLOAT64, h), NPG_FLOAT64);
        cr_assert(npg_is_floating(h) && !npg_is_integer(h));
        cr_assert_eq(npg_dtype_size(h), 2);
    }
    cr_assert_eq(npg_result_type(NPG_FLOAT16, NPG_BFLOAT16), NPG_FLOAT32);
    cr_assert_eq(npg_result_type(NPG_BFLOAT16, NPG_FLOAT16), NPG_FLOAT32);
    cr_assert_str_eq(npg_dtype_name(NPG_FLOAT16), "float16");
    cr_assert_str_eq(npg_dtype_name(NPG_BFLOAT16), "bfloat16");

    /* through the ops: arrays, weak scalars (which take the half type) */
    npg_scope s = npg_scope_begin();
    npg_array *h = t_urand(NPG_SHAPE(3), -2, 2, 1, NPG_FLOAT16, NULL);
    npg_array *b = t_urand(NPG_SHAPE(3), -2, 2, 2, NPG_BFLOAT16, NULL);
    npg_array *i = npg_arange(0, 3, 1, OPT(.dtype = NPG_INT32));
    npg_array *f = t_urand(NPG_SHAPE(3), -2, 2, 3, NPG_FLOAT32, NULL);
    cr_assert_eq(npg_dtype_of(npg_add(h, b)), NPG_FLOAT32);
    cr_assert_eq(npg_dtype_of(npg_add(h, i)), NPG_FLOAT16);
    cr_assert_eq(npg_dtype_of(npg_multiply(i, b)), NPG_BFLOAT16);
    cr_assert_eq(npg_dtype_of(npg_add(h, f)), NPG_FLOAT32);
    cr_assert_eq(npg_dtype_of(npg_multiply_scalar(h, 0.1)), NPG_FLOAT16);
    cr_assert_eq(npg_dtype_of(npg_greater(h, b)), NPG_BOOL);
    cr_assert_eq(npg_dtype_of(npg_exp(h)), NPG_FLOAT16);
    cr_assert_eq(npg_dtype_of(npg_sum(b, NPG_ALL_AXES, false)), NPG_BFLOAT16);
    cr_assert_eq(npg_dtype_of(npg_argmax(h, 0, false)), NPG_INT64);
    /* the weak scalar is rounded to float16 first: x * 0.1 is x * 0.0999755859375 */
    npg_array *one = npg_ones(NPG_SHAPE0, OPT(.dtype = NPG_FLOAT16));
    cr_assert_eq(npg_item(npg_astype(npg_multiply_scalar(npg_astype(one, NPG_FLOAT16), 0.1), NPG_FLOAT64)),
                 0.0999755859375);
    npg_scope_end(s);
}

/* ---- every family in float32, rounded once ----------------------------------- */

typedef npg_array *(*un_fn)(npg_array *);
typedef npg_array *(*bin_fn)(npg_array *, npg_array *);

/* op on the half input vs the same op on its float32 copy, rounded: the
 * same bits. */
static void check_unary(un_fn f, const char *name, npg_array *x) {
    npg_dtype dt = npg_dtype_of(x);
    npg_array *y = f(x), *w = f(npg_astype(x, NPG_FLOAT32));
    npg_array *want = npg_dtype_of(w) == NPG_BOOL ? w : npg_astype(w, dt);
    char what[96];
    snprintf(what, sizeof what, "%s(%s)", name, npg_dtype_name(dt));
    assert_same_bits(y, want, what);
}

static void check_binary(bin_fn f, const char *name, npg_array *a, npg_array *b) {
    npg_dtype dt = npg_dtype_of(a);
    npg_array *y = f(a, b), *w = f(npg_astype(a, NPG_FLOAT32), npg_astype(b, NPG_FLOAT32));
    npg_array *want = npg_dtype_of(w) == NPG_BOOL ? w : npg_astype(w, dt);
    char what[96];
    snprintf(what, sizeof what, "%s(%s)", name, npg_dtype_name(dt));
    assert_same_bits(y, want, what);
}

Test(half, elementwise_ops_compute_in_float32_and_round_once) {
    t_live live = t_live_now();
    const struct {
        un_fn f;
        const char *name;
    } un[] = {{npg_exp, "exp"},       {npg_log, "log"},           {npg_tanh, "tanh"},     {npg_sqrt, "sqrt"},
              {npg_sin, "sin"},       {npg_negative, "negative"}, {npg_abs, "abs"},       {npg_floor, "floor"},
              {npg_expm1, "expm1"},   {npg_reciprocal, "reciprocal"}, {npg_square, "square"}, {npg_relu, "relu"},
              {npg_sigmoid, "sigmoid"}, {npg_gelu, "gelu"},       {npg_isnan, "isnan"},   {npg_sign, "sign"}};
    const struct {
        bin_fn f;
        const char *name;
    } bin[] = {{npg_add, "add"},         {npg_subtract, "subtract"}, {npg_multiply, "multiply"}, {npg_divide, "divide"},
               {npg_pow, "pow"},         {npg_maximum, "maximum"},   {npg_atan2, "atan2"},       {npg_hypot, "hypot"},
               {npg_greater, "greater"}, {npg_equal, "equal"},       {npg_remainder, "remainder"}};
    for (int d = 0; d < 2; d++) {
        npg_scope s = npg_scope_begin();
        npg_dtype dt = HALVES[d];
        /* odd shapes, a transposed view, a 0-d and an empty array, broadcasting */
        npg_array *base = t_urand(NPG_SHAPE(7, 13), 0.05, 3, 10 + d, dt, NULL);
        npg_array *xs[] = {base, npg_matrix_transpose(t_urand(NPG_SHAPE(13, 7), -3, 3, 20 + d, dt, NULL)),
                           t_urand(NPG_SHAPE0, 0.5, 2, 30 + d, dt, NULL), t_urand(NPG_SHAPE(0, 4), 0, 1, 1, dt, NULL),
                           NPG_INDEX(base, NPG_SLICE(1, 7, 2), NPG_SLICE(11, 2, -3))}; /* an offset, negative steps */
        for (int c = 0; c < 5; c++)
            for (size_t k = 0; k < sizeof un / sizeof un[0]; k++) check_unary(un[k].f, un[k].name, xs[c]);
        npg_array *row = t_urand(NPG_SHAPE(13), 0.5, 2, 40 + d, dt, NULL);
        for (size_t k = 0; k < sizeof bin / sizeof bin[0]; k++) {
            check_binary(bin[k].f, bin[k].name, base, xs[1]);
            check_binary(bin[k].f, bin[k].name, base, row); /* broadcast */
            check_binary(bin[k].f, bin[k].name, xs[2], xs[1]);
            check_binary(bin[k].f, bin[k].name, xs[3], npg_zeros(NPG_SHAPE(4), OPT(.dtype = dt)));
        }
        /* values against float64, within the half type's rounding */
        double *hx = t_read(base);
        double *ex = t_read(npg_exp(base)), *sq = t_read(npg_sqrt(base));
        double tol = d ? 0x1p-8 : 0x1p-11;
        for (int i = 0; i < 7 * 13; i++) {
            cr_assert(fabs(ex[i] - exp(hx[i])) <= tol * exp(hx[i]), "exp(%g) = %g", hx[i], ex[i]);
            cr_assert(fabs(sq[i] - sqrt(hx[i])) <= tol * sqrt(hx[i]), "sqrt(%g) = %g", hx[i], sq[i]);
        }
        free(hx), free(ex), free(sq);
        /* where, clip, a weak scalar on either side */
        npg_array *c = npg_greater_scalar(base, 1.0);
        assert_same_bits(npg_where(c, base, xs[1]),
                         npg_astype(npg_where(c, npg_astype(base, NPG_FLOAT32), npg_astype(xs[1], NPG_FLOAT32)), dt),
                         "where");
        assert_same_bits(npg_scalar_subtract(1.5, base),
                         npg_astype(npg_scalar_subtract(1.5, npg_astype(base, NPG_FLOAT32)), dt), "1.5 - x");
        assert_same_bits(npg_clip(base, 0.5, 2.0), npg_astype(npg_clip(npg_astype(base, NPG_FLOAT32), 0.5, 2.0), dt),
                         "clip");
        npg_scope_end(s);
    }
    t_assert_no_leak(live, "elementwise");
}

/* Big operands (threads, chunk boundaries), strided, offset and broadcast
 * views, a weak scalar, and an in-place accumulation: still the float32
 * result rounded once, bit for bit. */
Test(half, large_strided_and_in_place_operands) {
    t_live live = t_live_now();
    for (int d = 0; d < 2; d++) {
        npg_scope s = npg_scope_begin();
        npg_dtype dt = HALVES[d];
        const int64_t R = 613, C = 1031; /* 632,003 elements: past the threading thresholds */
        npg_array *a = t_urand(NPG_SHAPE(R, C), -4, 4, 200 + d, dt, NULL);
        npg_array *b = npg_matrix_transpose(t_urand(NPG_SHAPE(C, R), -4, 4, 210 + d, dt, NULL));
        npg_array *col = t_urand(NPG_SHAPE(R, 1), 0.5, 2, 220 + d, dt, NULL);
        npg_array *af = npg_astype(a, NPG_FLOAT32), *bf = npg_astype(b, NPG_FLOAT32), *cf = npg_astype(col, NPG_FLOAT32);
        assert_same_bits(npg_add(a, b), npg_astype(npg_add(af, bf), dt), "a + b^T");
        assert_same_bits(npg_multiply(a, col), npg_astype(npg_multiply(af, cf), dt), "a * column");
        assert_same_bits(npg_exp(b), npg_astype(npg_exp(bf), dt), "exp(b^T)");
        npg_array *y = npg_multiply_scalar(a, 0.37);
        assert_same_bits(y, npg_astype(npg_multiply_scalar(af, ref_round(0.37, fmt_of(dt))), dt), "0.37 a");
        assert_same_bits(npg_tanh(y), npg_astype(npg_tanh(npg_astype(y, NPG_FLOAT32)), dt), "tanh(0.37 a)");
        npg_array *v = NPG_INDEX(a, NPG_SLICE(600, 1, -3), NPG_SLICE(5, NPG_NONE, 2));
        npg_array *vf = NPG_INDEX(af, NPG_SLICE(600, 1, -3), NPG_SLICE(5, NPG_NONE, 2));
        npg_array *sv = npg_sin(v);
        assert_same_bits(sv, npg_astype(npg_sin(vf), dt), "sin(v)");
        assert_same_bits(npg_greater(v, sv), npg_greater(vf, npg_astype(sv, NPG_FLOAT32)), "v > sin(v)");
        npg_array *m = npg_greater_scalar(b, 0);
        assert_same_bits(npg_where(m, a, col), npg_astype(npg_where(m, af, cf), dt), "where");
        /* reductions reading the half elements (both drivers, threads, a
         * transposed and a negative-step view) */
        assert_same_bits(npg_sum(a, NPG_AXES(0), false), npg_astype(npg_sum(af, NPG_AXES(0), false), dt), "sum axis 0");
        assert_same_bits(npg_mean(b, NPG_AXES(1), true), npg_astype(npg_mean(bf, NPG_AXES(1), true), dt), "mean axis 1");
        assert_same_bits(npg_max(v, NPG_ALL_AXES, false), npg_astype(npg_max(vf, NPG_ALL_AXES, false), dt), "max");
        assert_same_bits(npg_min(b, NPG_AXES(0), false), npg_astype(npg_min(bf, NPG_AXES(0), false), dt), "min axis 0");
        assert_same_bits(npg_argmax(a, 0, false), npg_argmax(af, 0, false), "argmax axis 0");
        assert_same_bits(npg_argmin(v, 1, false), npg_argmin(vf, 1, false), "argmin axis 1");
        assert_same_bits(npg_sum(a, NPG_ALL_AXES, false), npg_astype(npg_sum(af, NPG_ALL_AXES, false), dt), "sum");
        /* gathers move the half elements as they are: rows of a big table
         * (an embedding's lookup) and elements along the other axis */
        int64_t rows[5] = {612, 0, 37, 37, -1};
        npg_array *ri = npg_from_data(rows, NPG_INT64, NPG_SHAPE(5), OPT());
        npg_array *emb = npg_embedding(ri, a);
        assert_same_bits(emb, npg_astype(npg_embedding(ri, af), dt), "embedding rows");
        assert_same_bits(npg_take(b, ri, 1), npg_astype(npg_take(bf, ri, 1), dt), "take along axis 1");
        /* in place: the gradient accumulation adds into the half .grad */
        npg_array *w = t_leaf(npg_copy(a));
        for (int k = 0; k < 2; k++)
            cr_assert_eq(npg_backward(npg_sum(npg_multiply(w, b), NPG_ALL_AXES, false), NULL), NPG_OK, "%s",
                         npg_last_error());
        assert_same_bits(npg_grad(w), npg_add(b, b), "accumulated gradient");
        npg_scope_end(s);
    }
    t_assert_no_leak(live, "large operands");
}

Test(half, reductions_accumulate_in_float32) {
    t_live live = t_live_now();
    for (int d = 0; d < 2; d++) {
        npg_scope s = npg_scope_begin();
        npg_dtype dt = HALVES[d];
        /* 4096 ones: a half accumulator would stop at 2048 (float16) or 256 */
        npg_array *ones = npg_ones(NPG_SHAPE(4096), OPT(.dtype = dt));
        cr_assert_eq(npg_item(npg_sum(ones, NPG_ALL_AXES, false)), 4096.0);
        cr_assert_eq(npg_item(npg_mean(ones, NPG_ALL_AXES, false)), 1.0);
        npg_array *x = npg_permute_dims(t_urand(NPG_SHAPE(5, 9, 6), -2, 2, 50 + d, dt, NULL), NPG_AXES(2, 0, 1));
        npg_array *xf = npg_astype(x, NPG_FLOAT32);
        assert_same_bits(npg_sum(x, NPG_AXES(1, 2), true), npg_astype(npg_sum(xf, NPG_AXES(1, 2), true), dt), "sum");
        assert_same_bits(npg_mean(x, NPG_AXES(0), false), npg_astype(npg_mean(xf, NPG_AXES(0), false), dt), "mean");
        assert_same_bits(npg_max(x, NPG_AXES(-1), false), npg_astype(npg_max(xf, NPG_AXES(-1), false), dt), "max");
        assert_same_bits(npg_prod(x, NPG_AXES(1), false), npg_astype(npg_prod(xf, NPG_AXES(1), false), dt), "prod");
        assert_close_ulps(npg_var(x, NPG_AXES(2), 1, false), npg_var(xf, NPG_AXES(2), 1, false), "var");
        assert_same_bits(npg_argmax(x, 1, false), npg_argmax(xf, 1, false), "argmax");
        assert_same_bits(npg_cumsum(x, 2), npg_astype(npg_cumsum(xf, 2), dt), "cumsum");
        assert_close_ulps(npg_logsumexp(x, NPG_AXES(0), false), npg_logsumexp(xf, NPG_AXES(0), false), "logsumexp");
        /* sort, take, nonzero, concatenation: values move exactly */
        assert_same_bits(npg_sort(x, -1, true), npg_astype(npg_sort(xf, -1, true), dt), "sort");
        assert_same_bits(npg_argsort(x, 0, false), npg_argsort(xf, 0, false), "argsort");
        npg_array *idx = npg_arange(5, -1, -2, OPT(.dtype = NPG_INT64));
        assert_same_bits(npg_take(x, idx, 0), npg_astype(npg_take(xf, idx, 0), dt), "take");
        cr_assert_eq(npg_count_nonzero(x), npg_count_nonzero(xf), "count_nonzero");
        assert_same_bits(npg_nonzero(npg_subtract_scalar(x, 0.5)), npg_nonzero(npg_subtract_scalar(xf, 0.5)),
                         "nonzero");
        npg_array *parts[2] = {x, x};
        assert_same_bits(npg_concat(parts, 2, 1), npg_astype(npg_concat((npg_array *[]){xf, xf}, 2, 1), dt), "concat");
        npg_array *mixed[2] = {x, xf};
        cr_assert_eq(npg_dtype_of(npg_concat(mixed, 2, 0)), NPG_FLOAT32);
        /* column reductions wider than two column groups (2048), rows far enough
         * apart for the four-row passes, a row count that is no multiple of 4,
         * a negative-step view: the float32 copy's order, bit for bit */
        npg_array *wide = t_urand(NPG_SHAPE(29, 4501), -3, 3, 60 + d, dt, NULL), *widef = npg_astype(wide, NPG_FLOAT32);
        assert_same_bits(npg_sum(wide, NPG_AXES(0), false), npg_astype(npg_sum(widef, NPG_AXES(0), false), dt),
                         "wide sum axis 0");
        npg_array *wv = NPG_INDEX(wide, NPG_SLICE(NPG_NONE, NPG_NONE, -1));
        npg_array *wvf = NPG_INDEX(widef, NPG_SLICE(NPG_NONE, NPG_NONE, -1));
        assert_same_bits(npg_mean(wv, NPG_AXES(0), true), npg_astype(npg_mean(wvf, NPG_AXES(0), true), dt),
                         "wide mean axis 0, reversed rows");
        assert_same_bits(npg_max(wv, NPG_AXES(0), false), npg_astype(npg_max(wvf, NPG_AXES(0), false), dt),
                         "wide max axis 0");
        assert_same_bits(npg_argmin(wv, 0, false), npg_argmin(wvf, 0, false), "wide argmin axis 0");
        /* empty reductions */
        npg_array *e = npg_zeros(NPG_SHAPE(0, 3), OPT(.dtype = dt));
        double *z = t_read(npg_sum(e, NPG_AXES(0), false));
        cr_assert(z[0] == 0 && z[2] == 0);
        free(z);
        npg_scope_end(s);
    }
    t_assert_no_leak(live, "reductions");
}

Test(half, matmul_and_nn_layers) {
    t_live live = t_live_now();
    for (int d = 0; d < 2; d++) {
        npg_scope s = npg_scope_begin();
        npg_dtype dt = HALVES[d];
        double *ha, *hb;
        npg_array *a = t_urand(NPG_SHAPE(2, 17, 33), -1, 1, 60 + d, dt, &ha);
        npg_array *b = npg_matrix_transpose(t_urand(NPG_SHAPE(9, 33), -1, 1, 70 + d, dt, &hb));
        npg_array *af = npg_astype(a, NPG_FLOAT32), *bf = npg_astype(b, NPG_FLOAT32);
        npg_array *y = npg_matmul(a, b);
        /* the CPU widens to float32 and calls sgemm: the same bits as doing it by
         * hand; CUDA's cublasGemmEx accumulates in float32 in its own order */
        if (t_dev().type == NPG_DEVICE_CPU)
            assert_same_bits(y, npg_astype(npg_matmul(af, bf), dt), "matmul");
        else
            assert_close_ulps(y, npg_matmul(af, bf), "matmul");
        double *hy = t_read(y);
        for (int bt = 0; bt < 2; bt++)
            for (int i = 0; i < 17; i++)
                for (int j = 0; j < 9; j++) {
                    double r = 0;
                    for (int k = 0; k < 33; k++) r += ha[(bt * 17 + i) * 33 + k] * hb[j * 33 + k];
                    double got = hy[(bt * 17 + i) * 9 + j];
                    cr_assert(fabs(got - r) <= (d ? 0x1p-8 : 0x1p-11) * fabs(r) + 1e-6, "matmul[%d,%d,%d]: %g vs %g",
                              bt, i, j, got, r);
                }
        free(ha), free(hb), free(hy);
        /* fused kernels: softmax, cross-entropy, conv2d (im2col), pooling */
        npg_array *logits = t_urand(NPG_SHAPE(6, 11), -3, 3, 80 + d, dt, NULL), *lf = npg_astype(logits, NPG_FLOAT32);
        assert_same_bits(npg_softmax(logits, -1), npg_astype(npg_softmax(lf, -1), dt), "softmax");
        assert_same_bits(npg_log_softmax(logits, -1), npg_astype(npg_log_softmax(lf, -1), dt), "log_softmax");
        int64_t lab[6] = {0, 3, 10, 5, 5, 1};
        npg_array *labels = npg_from_data(lab, NPG_INT64, NPG_SHAPE(6), OPT());
        npg_array *ce = npg_cross_entropy(logits, labels, NPG_CE_OPTS(.reduction = NPG_REDUCTION_NONE));
        assert_same_bits(ce, npg_astype(npg_cross_entropy(lf, labels, NPG_CE_OPTS(.reduction = NPG_REDUCTION_NONE)), dt),
                         "cross_entropy");
        npg_array *img = t_urand(NPG_SHAPE(2, 3, 9, 8), -1, 1, 90 + d, dt, NULL), *imf = npg_astype(img, NPG_FLOAT32);
        npg_array *w = t_urand(NPG_SHAPE(4, 3, 3, 3), -0.5, 0.5, 91 + d, dt, NULL), *wf = npg_astype(w, NPG_FLOAT32);
        const npg_conv2d_opts *co = NPG_CONV2D_OPTS(.padding = {1, 1}, .stride = {2, 1});
        npg_array *conv = npg_conv2d(img, w, NULL, co);
        cr_assert_eq(npg_dtype_of(conv), dt);
        /* the half path rounds the im2col product once; the float32 one does not round at all */
        assert_close_f32(conv, npg_conv2d(imf, wf, NULL, co), d ? 0x1p-7 : 0x1p-10, 1e-3,
                       "conv2d");
        /* max pooling: float32's result (an element) exactly; the 2x2
         * stride-2 windows take a straight path. avg_pool2d is composed
         * (window sums, then a division: two roundings). */
        const npg_pool2d_opts *pools[2] = {NPG_POOL2D_OPTS(.kernel = {2, 3}, .padding = {1, 1}),
                                           NPG_POOL2D_OPTS(.kernel = {2, 2})};
        for (int q = 0; q < 2; q++) {
            assert_same_bits(npg_max_pool2d(img, pools[q]), npg_astype(npg_max_pool2d(imf, pools[q]), dt),
                             "max_pool2d");
            assert_close_ulps(npg_avg_pool2d(img, pools[q]), npg_avg_pool2d(imf, pools[q]), "avg_pool2d");
        }
        npg_scope_end(s);
    }
    t_assert_no_leak(live, "matmul and layers");
}

/* ---- autograd ------------------------------------------------------------------ */

static npg_array *mlp_loss(npg_array *x, npg_array *w1, npg_array *w2, npg_array *labels) {
    npg_array *h = npg_relu(npg_matmul(x, w1));
    return npg_cross_entropy(npg_matmul(h, w2), labels, NULL);
}

Test(half, gradients_have_the_half_type_and_match_float32) {
    t_live live = t_live_now();
    for (int d = 0; d < 2; d++) {
        npg_scope s = npg_scope_begin();
        npg_dtype dt = HALVES[d];
        npg_array *x = t_urand(NPG_SHAPE(8, 5), -1, 1, 100 + d, dt, NULL);
        npg_array *w1 = t_leaf(t_urand(NPG_SHAPE(5, 16), -0.5, 0.5, 110 + d, dt, NULL));
        npg_array *w2 = t_leaf(t_urand(NPG_SHAPE(16, 3), -0.5, 0.5, 120 + d, dt, NULL));
        int64_t lab[8] = {0, 1, 2, 0, 1, 2, 2, 1};
        npg_array *labels = npg_from_data(lab, NPG_INT64, NPG_SHAPE(8), OPT());
        npg_array *loss = mlp_loss(x, w1, w2, labels);
        cr_assert(loss, "%s", npg_last_error());
        cr_assert_eq(npg_dtype_of(loss), dt);
        cr_assert_eq(npg_backward(loss, NULL), NPG_OK, "%s", npg_last_error());
        /* the same network in float32 from the same values */
        npg_array *v1 = t_leaf(npg_astype(npg_detach(w1), NPG_FLOAT32)), *v2 = t_leaf(npg_astype(npg_detach(w2), NPG_FLOAT32));
        npg_array *lf = mlp_loss(npg_astype(x, NPG_FLOAT32), v1, v2, labels);
        cr_assert_eq(npg_backward(lf, NULL), NPG_OK, "%s", npg_last_error());
        double tol = d ? 0x1p-5 : 0x1p-8;
        assert_close_f32(loss, lf, tol, 0, "loss");
        for (int k = 0; k < 2; k++) {
            npg_array *g = npg_grad(k ? w2 : w1), *gf = npg_grad(k ? v2 : v1);
            cr_assert(g && npg_dtype_of(g) == dt, "grad of w%d: %s", k + 1, g ? npg_dtype_name(npg_dtype_of(g)) : "NULL");
            double *want = t_read(gf);
            double scale = 0;
            for (int64_t i = 0; i < npg_size(gf); i++) scale = fmax(scale, fabs(want[i]));
            t_assert_close(g, want, npg_size(gf), tol, tol * scale, k ? "grad w2" : "grad w1");
            free(want);
        }
        /* casts are differentiable both ways: d astype(x32, half) / dx32 = 1 */
        npg_array *x32 = t_leaf(t_urand(NPG_SHAPE(4), -1, 1, 130 + d, NPG_FLOAT32, NULL));
        npg_array *y = npg_sum(npg_multiply_scalar(npg_astype(x32, dt), 3.0), NPG_ALL_AXES, false);
        cr_assert_eq(npg_backward(y, NULL), NPG_OK, "%s", npg_last_error());
        double three[4] = {3, 3, 3, 3};
        cr_assert_eq(npg_dtype_of(npg_grad(x32)), NPG_FLOAT32);
        t_assert_close(npg_grad(x32), three, 4, 0, 0, "grad through the cast");
        npg_scope_end(s);
    }
    t_assert_no_leak(live, "gradients");
}

static npg_array *tanh_mm(npg_array *const *in, int n, void *user) {
    (void)n, (void)user;
    return npg_tanh(npg_matmul(in[0], in[1]));
}

Test(half, gradcheck_promotes_half_inputs_to_float64) {
    npg_scope s = npg_scope_begin();
    npg_array *in[2] = {t_leaf(t_urand(NPG_SHAPE(3, 4), -1, 1, 140, NPG_FLOAT16, NULL)),
                        t_leaf(t_urand(NPG_SHAPE(4, 2), -1, 1, 141, NPG_BFLOAT16, NULL))};
    cr_assert_eq(npg_gradcheck(tanh_mm, NULL, in, 2, NULL), NPG_OK, "%s", npg_last_error());
    npg_scope_end(s);
}

Test(half, optimizers_update_half_parameters) {
    t_live live = t_live_now();
    for (int d = 0; d < 2; d++) {
        for (int o = 0; o < 3; o++) {
            npg_scope s = npg_scope_begin();
            npg_dtype dt = HALVES[d];
            npg_array *p = t_leaf(t_urand(NPG_SHAPE(33), -1, 1, 150 + d, dt, NULL));
            npg_array *q = t_leaf(npg_astype(npg_detach(p), NPG_FLOAT32));
            npg_array *ps[1] = {p}, *qs[1] = {q};
            npg_optimizer *op[2];
            for (int k = 0; k < 2; k++) {
                npg_array *const *pp = k ? qs : ps;
                op[k] = o == 0   ? npg_sgd_new(pp, 1, NPG_SGD_OPTS(.lr = 0.1, .momentum = 0.9))
                        : o == 1 ? npg_adam_new(pp, 1, NPG_ADAM_OPTS(.lr = 0.01))
                                 : npg_rmsprop_new(pp, 1, NPG_RMSPROP_OPTS(.lr = 0.01));
                cr_assert(op[k], "%s", npg_last_error());
            }
            for (int step = 0; step < 3; step++) {
                for (int k = 0; k < 2; k++) {
                    npg_array *w = k ? q : p;
                    npg_array *l = npg_sum(npg_square(npg_subtract_scalar(w, 0.25)), NPG_ALL_AXES, false);
                    cr_assert_eq(npg_backward(l, NULL), NPG_OK, "%s", npg_last_error());
                    cr_assert_eq(npg_optimizer_step(op[k]), NPG_OK, "%s", npg_last_error());
                    cr_assert_eq(npg_optimizer_zero_grad(op[k]), NPG_OK);
                }
            }
            cr_assert_eq(npg_dtype_of(p), dt);
            /* the half parameter follows the float32 one within its rounding per step */
            assert_close_f32(p, q, 0, d ? 0.05 : 0.01, "optimizer");
            npg_optimizer_free(op[0]);
            npg_optimizer_free(op[1]);
            npg_scope_end(s);
        }
    }
    t_assert_no_leak(live, "optimizers");
}

/* ---- creation, random draws ------------------------------------------------------ */

Test(half, creation_and_random_draws_stay_in_range) {
    t_live live = t_live_now();
    for (int d = 0; d < 2; d++) {
        npg_scope s = npg_scope_begin();
        npg_dtype dt = HALVES[d];
        npg_array *f = npg_full(NPG_SHAPE(3), 0.1, OPT(.dtype = dt));
        double *hf = t_read(f);
        cr_assert_eq(hf[2], ref_round(0.1, fmt_of(dt)));
        free(hf);
        npg_array *ar = npg_arange(0, 300, 1, OPT(.dtype = dt));
        double *ha = t_read(ar);
        for (int i = 0; i < 300; i++) cr_assert_eq(ha[i], ref_round(i, fmt_of(dt)), "arange[%d] = %g", i, ha[i]);
        free(ha);
        cr_assert_eq(npg_item(npg_astype(npg_scalar(65520, OPT(.dtype = NPG_FLOAT16)), NPG_FLOAT64)), INFINITY);
        /* float32 draws near 1 round up to 1.0 in a half type; none may reach it */
        const int64_t n = 200000;
        npg_array *u = npg_rand(NPG_SHAPE(n), OPT(.dtype = dt));
        cr_assert(u, "%s", npg_last_error());
        cr_assert_eq(npg_dtype_of(u), dt);
        cr_assert_lt(npg_item(npg_max(u, NPG_ALL_AXES, false)), 1.0);
        cr_assert_geq(npg_item(npg_min(u, NPG_ALL_AXES, false)), 0.0);
        double mean = npg_item(npg_mean(npg_astype(u, NPG_FLOAT64), NPG_ALL_AXES, false));
        cr_assert(fabs(mean - 0.5) < 0.01, "mean of the draws %g", mean);
        /* an upper bound that is itself a half value, and one that is not */
        npg_array *u2 = npg_uniform(-2.0, 2.0, NPG_SHAPE(n), OPT(.dtype = dt));
        cr_assert_lt(npg_item(npg_max(u2, NPG_ALL_AXES, false)), 2.0);
        npg_array *u3 = npg_uniform(0.0, 1.0001, NPG_SHAPE(n), OPT(.dtype = dt));
        cr_assert_leq(npg_item(npg_max(u3, NPG_ALL_AXES, false)), 1.0);
        /* the same seed: the float32 draws, rounded */
        npg_generator *g1 = npg_generator_new(7), *g2 = npg_generator_new(7);
        assert_same_bits(npg_normal(0, 1, NPG_SHAPE(1000), OPT(.dtype = dt, .generator = g1)),
                         npg_astype(npg_normal(0, 1, NPG_SHAPE(1000), OPT(.dtype = NPG_FLOAT32, .generator = g2)), dt),
                         "normal");
        npg_generator_free(g1);
        npg_generator_free(g2);
        npg_scope_end(s);
    }
    t_assert_no_leak(live, "creation");
}

/* ---- printing, files, DLPack ----------------------------------------------------- */

Test(half, print_and_npy) {
    t_live live = t_live_now();
    npg_scope s = npg_scope_begin();
    double v[4] = {0.1, -2.5, 65504, 1e-7};
    npg_array *h = t_arr(v, NPG_FLOAT16, NPG_SHAPE(4));
    npg_array *b = t_arr(v, NPG_BFLOAT16, NPG_SHAPE(4));
    for (int d = 0; d < 2; d++) {
        /* each printed number reads back as its element (the fewest digits
         * that do: 0.1, not float32's 0.099975586) */
        char buf[256];
        npg_array *x = d ? b : h;
        cr_assert_gt(npg_format(x, buf, sizeof buf), 0, "%s", npg_last_error());
        double *hv = t_read(x);
        char *p = buf;
        for (int i = 0; i < 4; i++) {
            while (*p && !(isdigit((unsigned char)*p) || *p == '-')) p++;
            char *end;
            double r = strtod(p, &end);
            cr_assert(end != p, "%s: element %d missing", buf, i);
            cr_assert_eq(ref_round(r, fmt_of(HALVES[d])), hv[i], "%s: element %d reads back as %g", buf, i, r);
            cr_assert_leq(end - p, 9, "%s: element %d has too many digits", buf, i);
            p = end;
        }
        free(hv);
    }
    char path[] = "/tmp/npg_half_XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(npg_save_npy(path, h), NPG_OK, "%s", npg_last_error());
    npg_array *back = npg_load_npy(path, OPT());
    assert_same_bits(back, h, "npy float16");
    cr_assert_eq(npg_save_npy(path, b), NPG_ERR_DTYPE);
    t_assert_error(NPG_ERR_DTYPE, "bfloat16");
    npg_clear_error();
    unlink(path);
    npg_scope_end(s);
    t_assert_no_leak(live, "print and npy");
}

/* ---- errors ---------------------------------------------------------------------------- */

Test(half, errors_name_the_dtype_and_leave_inputs_alone) {
    t_live live = t_live_now();
    npg_scope s = npg_scope_begin();
    double v[4] = {2, 0, 0, 2};
    for (int d = 0; d < 2; d++) {
        npg_array *m = t_arr(v, HALVES[d], NPG_SHAPE(2, 2));
        T_EXPECT_FAIL(npg_linalg_inv(m), NPG_ERR_DTYPE, npg_dtype_name(HALVES[d]));
        T_EXPECT_FAIL(npg_linalg_cholesky(m, false), NPG_ERR_DTYPE, "npg_linalg_cholesky");
        T_EXPECT_FAIL(npg_linalg_solve(npg_astype(m, NPG_FLOAT32), m), NPG_ERR_DTYPE, "npg_linalg_solve");
        T_EXPECT_FAIL(npg_linalg_det(m), NPG_ERR_DTYPE, "matrices are not supported");
        T_EXPECT_FAIL(npg_bitwise_and(m, m), NPG_ERR_DTYPE, "npg_bitwise_and");
        T_EXPECT_FAIL(npg_nextafter(m, m), NPG_ERR_DTYPE, "npg_nextafter");
        T_EXPECT_FAIL(npg_randint(0, 5, NPG_SHAPE(2), OPT(.dtype = HALVES[d])), NPG_ERR_DTYPE, "npg_randint");
        t_expect_unchanged(m, v, 4, "matrix");
        /* composed linear algebra works: the norm, products, powers */
        cr_assert_eq(npg_item(npg_linalg_vector_norm(m, 2, NPG_ALL_AXES, false)), ref_round(sqrt(8.0), fmt_of(HALVES[d])));
        cr_assert_eq(npg_item(npg_sum(npg_linalg_matrix_power(m, 3), NPG_ALL_AXES, false)), 16.0);
    }
    npg_scope_end(s);
    t_assert_no_leak(live, "errors");
}
