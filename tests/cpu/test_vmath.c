/*
 * test_vmath.c — the CPU backend's branch-free math (src/cpu/vmath.h)
 * against libm in double (float32 functions) or long double (float64 exp),
 * and the CPU kernels that use it, through the public API.
 *
 * The header is compiled here without the library's -O3 -march flags, so
 * the sweeps check the functions as written (scalar code, fmaf from libm);
 * the library tests check the vectorised -march build: its results must be
 * within the same bounds and bit-identical to the scalar evaluation, and
 * strided views (the non-vectorised loops) must agree bit for bit with
 * contiguous arrays.
 *
 * Errors are counted in ulps: for float32 the distance in representable
 * floats between the result and the reference rounded to float32 (the
 * correctly rounded value, up to a double rounding that cannot matter at
 * this tolerance); for float64 the real-valued |result - exact| / ulp.
 */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/vmath.h"
#include "npg.h"
#include "npg/nn.h"

#ifndef M_E
#define M_E 2.71828182845904523536
#endif
#ifndef M_LN2
#define M_LN2 0.69314718055994530942
#endif

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_HAS_ASAN 1
#endif
#endif
#if !defined(TEST_HAS_ASAN) && defined(__SANITIZE_ADDRESS__)
#define TEST_HAS_ASAN 1
#endif
#ifndef TEST_HAS_ASAN
#define TEST_HAS_ASAN 0
#endif

/* Bit-pattern sweeps visit every SWEEP-th of the 2^32 float32 patterns (a
 * prime, so every exponent and many mantissa residues are hit): about 70M
 * evaluations, ~2 s per function in a release build. Sanitizer builds run
 * unoptimised and instrumented, so they take a sparser sweep. */
#define SWEEP (TEST_HAS_ASAN ? 1021u : 61u)

#define ON_CPU NPG_OPTS(.device = NPG_CPU)

/* ---- helpers ------------------------------------------------------------------ */

static float f32_of(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}
static uint32_t bits_of(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}
/* Position of f on the number line of floats (-0 and +0 both at 0). */
static int64_t ordinal(float f) {
    int32_t i;
    memcpy(&i, &f, sizeof i);
    return i < 0 ? -(int64_t)(i & 0x7fffffff) : (int64_t)i;
}
/* Floats between got and want; NaN matches NaN only. */
static int64_t ulps(float got, float want) {
    if (isnan(want) || isnan(got)) return isnan(want) && isnan(got) ? 0 : INT64_MAX;
    int64_t d = ordinal(got) - ordinal(want);
    return d < 0 ? -d : d;
}

/* Largest error of f over a sweep of bit patterns [lo, hi] with a stride. */
typedef struct sweep_result {
    int64_t worst, over; /* largest error; count of inputs over the bound */
    float worst_x;
    uint64_t n;
} sweep_result;

static sweep_result sweep(float (*f)(float), double (*ref)(double), uint64_t lo, uint64_t hi, uint32_t stride,
                          int64_t bound) {
    sweep_result r = {0, 0, 0, 0};
    for (uint64_t u = lo; u <= hi; u += stride) {
        const float x = f32_of((uint32_t)u);
        const int64_t e = ulps(f(x), (float)ref((double)x));
        r.n++;
        if (e > bound) r.over++;
        if (e > r.worst) {
            r.worst = e;
            r.worst_x = x;
        }
    }
    return r;
}

static void expect_sweep(const char *name, sweep_result r, int64_t bound, float (*f)(float), double (*ref)(double)) {
    cr_log_info("%s: %llu inputs, max error %lld ulp", name, (unsigned long long)r.n, (long long)r.worst);
    cr_expect(r.over == 0, "%s: %lld of %llu inputs over %lld ulp; worst %lld ulp at x = %a (got %a, want %a)",
              name, (long long)r.over, (unsigned long long)r.n, (long long)bound, (long long)r.worst,
              (double)r.worst_x, (double)f(r.worst_x), (double)(float)ref((double)r.worst_x));
}

/* exact checks with a readable message */
#define EXPECT_BITS(expr, want)                                                                  \
    do {                                                                                         \
        const float got_ = (expr), want_ = (want);                                               \
        cr_expect(bits_of(got_) == bits_of(want_) || (isnan(got_) && isnan(want_)),               \
                  "%s = %a, want %a", #expr, (double)got_, (double)want_);                       \
    } while (0)

/* ---- float32 exp ---------------------------------------------------------------- */

static float v_exp(float x) { return npg_v_exp_f32(x); }

Test(vmath, exp_f32_sweep_within_1ulp) {
    const sweep_result r = sweep(v_exp, exp, 0, UINT32_MAX, SWEEP, 1);
    expect_sweep("exp f32", r, 1, v_exp, exp);
}

Test(vmath, exp_f32_special_values) {
    EXPECT_BITS(npg_v_exp_f32(0.0f), 1.0f);
    EXPECT_BITS(npg_v_exp_f32(-0.0f), 1.0f);
    EXPECT_BITS(npg_v_exp_f32(INFINITY), INFINITY);
    EXPECT_BITS(npg_v_exp_f32(-INFINITY), 0.0f);
    cr_expect(isnan(npg_v_exp_f32(NAN)) && isnan(npg_v_exp_f32(-NAN)), "exp(NaN) is NaN");
    cr_expect(isnan(npg_v_exp_f32(f32_of(0x7f800001u))), "a signalling NaN's pattern gives NaN");
    EXPECT_BITS(npg_v_exp_f32(FLT_MAX), INFINITY);
    EXPECT_BITS(npg_v_exp_f32(-FLT_MAX), 0.0f);
    EXPECT_BITS(npg_v_exp_f32(1.0f), (float)M_E);
    for (int k = -126; k <= 127; k++) /* exp(k ln2) is within 1 ulp of 2^k */
        cr_expect(ulps(npg_v_exp_f32((float)(k * M_LN2)), (float)exp((double)(float)(k * M_LN2))) <= 1, "k %d", k);
}

/* The overflow and underflow thresholds and their neighbours, and every
 * input whose result is subnormal. */
Test(vmath, exp_f32_thresholds_and_subnormal_results) {
    const float hi = NPG_V_EXP_F32_MAX, lo = NPG_V_EXP_F32_MIN;
    cr_assert(isfinite((float)exp((double)hi)) && isinf((float)exp((double)nextafterf(hi, INFINITY))),
              "NPG_V_EXP_F32_MAX is the last finite exp");
    cr_assert((float)exp((double)lo) > 0 && (float)exp((double)nextafterf(lo, -INFINITY)) == 0,
              "NPG_V_EXP_F32_MIN is the last nonzero exp");
    for (int k = -8; k <= 8; k++) {
        float x = hi;
        for (int i = 0; i < (k < 0 ? -k : k); i++) x = nextafterf(x, k < 0 ? -INFINITY : INFINITY);
        EXPECT_BITS(npg_v_exp_f32(x), (float)exp((double)x));
        x = lo;
        for (int i = 0; i < (k < 0 ? -k : k); i++) x = nextafterf(x, k < 0 ? -INFINITY : INFINITY);
        cr_expect(ulps(npg_v_exp_f32(x), (float)exp((double)x)) <= 1, "exp(%a) = %a, want %a", (double)x,
                  (double)npg_v_exp_f32(x), (double)(float)exp((double)x));
    }
    EXPECT_BITS(npg_v_exp_f32(hi), (float)exp((double)hi));
    EXPECT_BITS(npg_v_exp_f32(nextafterf(hi, INFINITY)), INFINITY);
    EXPECT_BITS(npg_v_exp_f32(lo), 0x1p-149f);
    EXPECT_BITS(npg_v_exp_f32(nextafterf(lo, -INFINITY)), 0.0f);
    /* every float from the last normal result down to lo (negative floats:
     * larger patterns are further below zero) */
    const float first_sub = -0x1.5d58ap+6f; /* the largest x with a subnormal exp */
    cr_assert((float)exp((double)first_sub) < FLT_MIN && (float)exp((double)nextafterf(first_sub, 0)) >= FLT_MIN);
    const uint32_t step = TEST_HAS_ASAN ? 7 : 1;
    const sweep_result r = sweep(v_exp, exp, bits_of(nextafterf(first_sub, 0)), bits_of(nextafterf(lo, -INFINITY)),
                                 step, 1);
    expect_sweep("exp f32 subnormal results", r, 1, v_exp, exp);
}

/* ---- float64 exp ---------------------------------------------------------------- */

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static uint64_t rnd64(void) {
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return g_rng * 0x2545F4914F6CDD1Dull;
}
static double rndu(double lo, double hi) { return lo + (hi - lo) * ((double)(rnd64() >> 11) * 0x1p-53); }

/* |got - exp(x)| in ulps of the exact value (subnormal ulps below 2^-1022),
 * against expl; special results must match exactly. */
static double exp64_err(double x, double got) {
    const long double e = expl((long double)x);
    const double want = (double)e;
    if (isnan(x)) return isnan(got) ? 0 : INFINITY;
    if (isinf(want) || want == 0) return got == want ? 0 : INFINITY;
    int ex;
    frexpl(e, &ex);
    const int ue = ex - 53 < -1074 ? -1074 : ex - 53;
    return (double)(fabsl((long double)got - e) / ldexpl(1.0L, ue));
}

Test(vmath, exp_f64_samples_within_1ulp) {
    if (LDBL_MANT_DIG < 64) cr_skip_test("needs an extended long double for the reference (LDBL_MANT_DIG %d)", LDBL_MANT_DIG);
    const int n = TEST_HAS_ASAN ? 200000 : 4000000;
    double worst = 0, wx = 0;
    for (int i = 0; i < n; i++) {
        double x;
        switch (i & 3) {
        case 0: x = rndu(-746, 710); break;                         /* the whole range */
        case 1: x = rndu(-1, 1); break;                             /* around 1 */
        case 2: x = rndu(-745.2, -708.3); break;                    /* subnormal results */
        default: x = ldexp(rndu(-1, 1), -(int)(rnd64() % 60)); break; /* tiny |x| */
        }
        const double err = exp64_err(x, npg_v_exp_f64(x));
        if (err > worst) worst = err, wx = x;
    }
    cr_log_info("exp f64: %d samples, max error %.3f ulp", n, worst);
    cr_expect(worst <= 1.0, "exp f64: %.3f ulp at x = %a (got %a)", worst, wx, npg_v_exp_f64(wx));
}

Test(vmath, exp_f64_special_values_and_thresholds) {
    const double hi = NPG_V_EXP_F64_MAX, lo = NPG_V_EXP_F64_MIN;
    cr_expect(npg_v_exp_f64(0.0) == 1 && npg_v_exp_f64(-0.0) == 1);
    cr_expect(npg_v_exp_f64(INFINITY) == INFINITY);
    cr_expect(npg_v_exp_f64(-INFINITY) == 0 && !signbit(npg_v_exp_f64(-INFINITY)));
    cr_expect(isnan(npg_v_exp_f64(NAN)) && isnan(npg_v_exp_f64(-NAN)));
    cr_expect(npg_v_exp_f64(DBL_MAX) == INFINITY && npg_v_exp_f64(-DBL_MAX) == 0);
    cr_expect(isfinite(npg_v_exp_f64(hi)) && npg_v_exp_f64(nextafter(hi, INFINITY)) == INFINITY, "exp(%a) = %a", hi,
              npg_v_exp_f64(hi));
    cr_expect(npg_v_exp_f64(lo) == 0x1p-1074 && npg_v_exp_f64(nextafter(lo, -INFINITY)) == 0, "exp(%a) = %a", lo,
              npg_v_exp_f64(lo));
    if (LDBL_MANT_DIG >= 64) {
        cr_expect((double)expl((long double)hi) < INFINITY && (double)expl((long double)nextafter(hi, INFINITY)) == INFINITY);
        cr_expect((double)expl((long double)lo) > 0 && (double)expl((long double)nextafter(lo, -INFINITY)) == 0);
        double x = hi, y = lo;
        for (int i = 0; i < 16; i++, x = nextafter(x, 0), y = nextafter(y, 0)) {
            cr_expect(exp64_err(x, npg_v_exp_f64(x)) <= 1, "exp(%a) = %a", x, npg_v_exp_f64(x));
            cr_expect(exp64_err(y, npg_v_exp_f64(y)) <= 1, "exp(%a) = %a", y, npg_v_exp_f64(y));
        }
    }
}

/* ---- float32 log, log1p, tanh ------------------------------------------------ */

static float v_log(float x) { return npg_v_log_f32(x); }
static float v_log1p(float x) { return npg_v_log1p_f32(x); }
static float v_tanh(float x) { return npg_v_tanh_f32(x); }

Test(vmath, log_f32_sweep_within_1ulp) {
    expect_sweep("log f32", sweep(v_log, log, 0, UINT32_MAX, SWEEP, 1), 1, v_log, log);
    /* every subnormal input (a sparser step under sanitizers) */
    expect_sweep("log f32 subnormal inputs", sweep(v_log, log, 1, 0x007fffffu, TEST_HAS_ASAN ? 61 : 3, 1), 1, v_log,
                 log);
}

Test(vmath, log_f32_special_values) {
    EXPECT_BITS(npg_v_log_f32(0.0f), -INFINITY);
    EXPECT_BITS(npg_v_log_f32(-0.0f), -INFINITY);
    EXPECT_BITS(npg_v_log_f32(1.0f), 0.0f);
    EXPECT_BITS(npg_v_log_f32(INFINITY), INFINITY);
    cr_expect(isnan(npg_v_log_f32(-INFINITY)) && isnan(npg_v_log_f32(-1.0f)) && isnan(npg_v_log_f32(-0x1p-149f)));
    cr_expect(isnan(npg_v_log_f32(NAN)));
    EXPECT_BITS(npg_v_log_f32(0x1p-149f), (float)log(0x1p-149));
    EXPECT_BITS(npg_v_log_f32(FLT_MAX), (float)log(FLT_MAX));
    EXPECT_BITS(npg_v_log_f32((float)M_E), 1.0f);
}

Test(vmath, log1p_f32_sweep_within_1ulp) {
    expect_sweep("log1p f32", sweep(v_log1p, log1p, 0, UINT32_MAX, SWEEP, 1), 1, v_log1p, log1p);
    EXPECT_BITS(npg_v_log1p_f32(0.0f), 0.0f);
    EXPECT_BITS(npg_v_log1p_f32(-0.0f), -0.0f);
    EXPECT_BITS(npg_v_log1p_f32(-1.0f), -INFINITY);
    EXPECT_BITS(npg_v_log1p_f32(INFINITY), INFINITY);
    EXPECT_BITS(npg_v_log1p_f32(0x1p-149f), 0x1p-149f);
    EXPECT_BITS(npg_v_log1p_f32(FLT_MAX), (float)log1p(FLT_MAX));
    cr_expect(isnan(npg_v_log1p_f32(-1.5f)) && isnan(npg_v_log1p_f32(-INFINITY)) && isnan(npg_v_log1p_f32(NAN)));
}

Test(vmath, tanh_f32_sweep_within_1ulp) {
    expect_sweep("tanh f32", sweep(v_tanh, tanh, 0, UINT32_MAX, SWEEP, 1), 1, v_tanh, tanh);
    EXPECT_BITS(npg_v_tanh_f32(0.0f), 0.0f);
    EXPECT_BITS(npg_v_tanh_f32(-0.0f), -0.0f);
    EXPECT_BITS(npg_v_tanh_f32(INFINITY), 1.0f);
    EXPECT_BITS(npg_v_tanh_f32(-INFINITY), -1.0f);
    EXPECT_BITS(npg_v_tanh_f32(FLT_MAX), 1.0f);
    EXPECT_BITS(npg_v_tanh_f32(-0x1p-149f), -0x1p-149f); /* tanh(x) = x for tiny x, subnormals too */
    EXPECT_BITS(npg_v_tanh_f32(0x1p-30f), 0x1p-30f);
    cr_expect(isnan(npg_v_tanh_f32(NAN)));
    /* around the switch between the two formulas, and where it saturates */
    float below = 0x1p-7f, above = 0x1p-7f;
    for (int i = 0; i < 64; i++, below = nextafterf(below, 0), above = nextafterf(above, 1)) {
        cr_expect(ulps(npg_v_tanh_f32(below), (float)tanh(below)) <= 1, "tanh(%a)", (double)below);
        cr_expect(ulps(npg_v_tanh_f32(above), (float)tanh(above)) <= 1, "tanh(%a)", (double)above);
    }
    EXPECT_BITS(npg_v_tanh_f32(9.1f), 1.0f);
    EXPECT_BITS(npg_v_tanh_f32(-9.1f), -1.0f);
}

/* ---- through the library --------------------------------------------------------- */

static double sigm(double x) { return x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x)); }
static double ref_sigmoid(double x) { return sigm(x); }
static double ref_silu(double x) { return x * sigm(x); }
static double ref_softplus(double x) { return fmax(x, 0) + log1p(exp(-fabs(x))); }
/* tanh's argument rounded as the library computes it (float32, as in
 * scalar_ops.h): its rounding is the formula's, not tanh's. */
static double ref_gelu_tanh(double xd) {
    const float a = (float)xd, inner = (float)0.79788456080286535588 * (a + (float)0.044715 * a * a * a);
    return 0.5 * xd * (1 + tanh((double)inner));
}

typedef struct unary_case {
    const char *name;
    npg_array *(*op)(npg_array *);
    double (*ref)(double);
    int64_t ulp;      /* bound in float32 ulps of the reference... */
    double abs_per_x; /* ...or an absolute error up to this times |x| (see below) */
} unary_case;

/* Bounds: exp, log and tanh are vmath.h's own. The activations add their
 * formulas' roundings, which scalar_ops.h has too: sigmoid = e / (1 + e)
 * carries e's error (<= 1 ulp) and two roundings (< 3 ulp in all); silu
 * one multiply more, and below x = -87 its e is subnormal, whose rounding
 * (half an ulp of 2^-149) x multiplies; softplus chains exp and log1p;
 * gelu_tanh's 1 + tanh cancels for negative x, leaving tanh's rounding
 * near -1 (2^-24) times |x| / 2. Run over all 2^32 float32 patterns (once,
 * when this was written) these found at most, beyond those allowances:
 * exp 1, log 1, tanh 1, sigmoid 2, silu 3, softplus 2, gelu_tanh 1. */
static const unary_case UNARY[] = {
    {"exp", npg_exp, exp, 1, 0},
    {"log", npg_log, log, 1, 0},
    {"tanh", npg_tanh, tanh, 1, 0},
    {"sigmoid", npg_sigmoid, ref_sigmoid, 3, 0},
    {"silu", npg_silu, ref_silu, 4, 0x1p-149},
    {"softplus", npg_softplus, ref_softplus, 3, 0},
    {"gelu_tanh", npg_gelu_tanh, ref_gelu_tanh, 3, 0x1p-24},
};

/* n float32 inputs: a strided sweep of all bit patterns, then the special
 * values and thresholds. */
static float *library_inputs(int64_t *n_out) {
    static const float special[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 1.0f, -1.0f, FLT_MAX, -FLT_MAX,
                                    FLT_MIN, -FLT_MIN, 0x1p-149f, -0x1p-149f, NPG_V_EXP_F32_MAX,
                                    NPG_V_EXP_F32_MIN, 88.72284f, -103.97208f, -87.33655f, 9.0f, -9.0f, 0x1p-7f};
    const uint32_t stride = TEST_HAS_ASAN ? 16411u : 4099u;
    const int64_t nsweep = (int64_t)(UINT32_MAX / stride) + 1, nspec = (int64_t)(sizeof special / sizeof *special);
    float *x = malloc(sizeof(float) * (size_t)(nsweep + nspec));
    cr_assert(x);
    for (int64_t i = 0; i < nsweep; i++) x[i] = f32_of((uint32_t)((uint64_t)i * stride));
    memcpy(x + nsweep, special, sizeof special);
    *n_out = nsweep + nspec;
    return x;
}

static float *run_unary(npg_array *(*op)(npg_array *), npg_array *x) {
    npg_array *y = op(x);
    cr_assert(y, "%s", npg_last_error());
    const int64_t n = npg_size(y);
    float *out = malloc(sizeof(float) * (size_t)(n ? n : 1));
    cr_assert(out);
    cr_assert_eq(npg_copy_to_host(y, out, sizeof(float) * (size_t)n), NPG_OK, "%s", npg_last_error());
    npg_free(y);
    return out;
}

int npg__cpu_vmath_fast(void); /* the library's kernels use vmath.h (else libm) */

/* Contiguous (the vectorised loop, threaded), a step-2 view and a reversed
 * view (the strided loop): within the bound of the reference, and the three
 * bit-identical. exp is also bit-identical to the header compiled here. */
Test(vmath, library_float32_unary_ops) {
    int64_t n;
    float *xv = library_inputs(&n);
    npg_scope s = npg_scope_begin();
    npg_array *x = npg_from_data(xv, NPG_FLOAT32, NPG_SHAPE(n), ON_CPU);
    /* (n, 2) with xv in column 0: x2[:, 0] is a stride-2 view of the same values */
    float *xv2 = calloc((size_t)n * 2, sizeof(float));
    cr_assert(xv2);
    for (int64_t i = 0; i < n; i++) xv2[2 * i] = xv[i];
    npg_array *col = NPG_INDEX(npg_from_data(xv2, NPG_FLOAT32, NPG_SHAPE(n, 2), ON_CPU), NPG_ALL, NPG_I(0));
    npg_array *rev = npg_flip(x, NPG_AXES(0));
    cr_assert(x && col && rev, "%s", npg_last_error());
    cr_assert(!npg_is_contiguous(col) && !npg_is_contiguous(rev));
    /* a build without fast FMA runs libm's functions: glibc's tanhf is within
     * 2 ulp, not 1, so such a build gets one ulp more */
    const int64_t libm_slack = npg__cpu_vmath_fast() ? 0 : 1;
    for (size_t k = 0; k < sizeof UNARY / sizeof *UNARY; k++) {
        const unary_case *c = &UNARY[k];
        float *y = run_unary(c->op, x), *yc = run_unary(c->op, col), *yr = run_unary(c->op, rev);
        int64_t over = 0, worst = 0, wi = 0, diff = -1;
        for (int64_t i = 0; i < n; i++) {
            const double want = c->ref((double)xv[i]);
            int64_t e = ulps(y[i], (float)want);
            if (e > 0 && fabs((double)y[i] - want) <= c->abs_per_x * fabs((double)xv[i])) e = 0;
            if (e > c->ulp + libm_slack) over++;
            if (e > worst) worst = e, wi = i;
            const bool same = bits_of(y[i]) == bits_of(yc[i]) && bits_of(y[i]) == bits_of(yr[n - 1 - i]);
            if (!same && !(isnan(y[i]) && isnan(yc[i]) && isnan(yr[n - 1 - i])) && diff < 0) diff = i;
        }
        cr_log_info("library %s f32: %lld inputs, max error %lld ulp", c->name, (long long)n, (long long)worst);
        cr_expect(over == 0, "%s: %lld of %lld over %lld ulp; worst %lld at x = %a (got %a, want %a)", c->name,
                  (long long)over, (long long)n, (long long)(c->ulp + libm_slack), (long long)worst, (double)xv[wi],
                  (double)y[wi], c->ref((double)xv[wi]));
        cr_expect(diff < 0, "%s: contiguous and strided results differ at x = %a: %a, %a, %a", c->name,
                  (double)xv[diff < 0 ? 0 : diff], (double)y[diff < 0 ? 0 : diff],
                  (double)yc[diff < 0 ? 0 : diff], (double)yr[diff < 0 ? 0 : n - 1 - diff]);
        if (c->op == npg_exp && npg__cpu_vmath_fast()) { /* else the library uses libm's expf */
            int64_t bad = -1;
            for (int64_t i = 0; i < n && bad < 0; i++)
                if (bits_of(y[i]) != bits_of(npg_v_exp_f32(xv[i])) && !isnan(y[i])) bad = i;
            cr_expect(bad < 0, "the library's exp(%a) = %a, the header's %a", (double)xv[bad < 0 ? 0 : bad],
                      (double)y[bad < 0 ? 0 : bad], (double)npg_v_exp_f32(xv[bad < 0 ? 0 : bad]));
        }
        free(y), free(yc), free(yr);
    }
    npg_scope_end(s);
    free(xv), free(xv2);
}

/* float64 exp, sigmoid and silu (the ops on npg_v_exp_f64), contiguous and
 * reversed, against long double references. */
Test(vmath, library_float64_exp_ops) {
    if (LDBL_MANT_DIG < 64) cr_skip_test("needs an extended long double for the reference");
    const int64_t n = TEST_HAS_ASAN ? 20000 : 400000;
    double *xv = malloc(sizeof(double) * (size_t)n), *y = malloc(sizeof(double) * (size_t)n),
           *yr = malloc(sizeof(double) * (size_t)n);
    cr_assert(xv && y && yr);
    const double special[] = {0, -0.0, INFINITY, -INFINITY, NAN, NPG_V_EXP_F64_MAX, NPG_V_EXP_F64_MIN, 710, -746};
    for (int64_t i = 0; i < n; i++) xv[i] = i < 9 ? special[i] : i % 2 ? rndu(-750, 715) : rndu(-20, 20);
    npg_scope s = npg_scope_begin();
    npg_array *x = npg_from_data(xv, NPG_FLOAT64, NPG_SHAPE(n), ON_CPU);
    npg_array *rev = npg_flip(x, NPG_AXES(0));
    cr_assert(x && rev);
    npg_array *(*ops[3])(npg_array *) = {npg_exp, npg_sigmoid, npg_silu};
    const char *names[3] = {"exp", "sigmoid", "silu"};
    /* exp's own bound, then the formulas' roundings as for float32: e's
     * error (<= 1 ulp, scaled by up to 1.1 in e / (1 + e)) plus an add and a
     * divide for sigmoid, a multiply more for silu; silu's subnormal e as
     * for float32 (absolute error up to |x| 2^-1074). */
    const double bound[3] = {1, 3, 4};
    for (int k = 0; k < 3; k++) {
        npg_array *a = ops[k](x), *b = ops[k](rev);
        cr_assert(a && b, "%s", npg_last_error());
        cr_assert_eq(npg_copy_to_host(a, y, sizeof(double) * (size_t)n), NPG_OK);
        cr_assert_eq(npg_copy_to_host(b, yr, sizeof(double) * (size_t)n), NPG_OK);
        double worst = 0, wx = 0;
        int64_t diff = -1;
        for (int64_t i = 0; i < n; i++) {
            const long double xl = xv[i];
            long double want;
            if (k == 0) want = expl(xl);
            else {
                const long double sg = xl >= 0 ? 1 / (1 + expl(-xl)) : expl(xl) / (1 + expl(xl));
                want = k == 1 ? sg : xl * sg;
            }
            double err;
            if (isnan((double)want) || isinf((double)want) || (double)want == 0)
                err = (isnan((double)want) ? isnan(y[i]) : y[i] == (double)want) ? 0 : INFINITY;
            else if (k == 2 && fabsl((long double)y[i] - want) <= fabs(xv[i]) * 0x1p-1074)
                err = 0;
            else {
                int ex;
                frexpl(want, &ex);
                err = (double)(fabsl((long double)y[i] - want) / ldexpl(1.0L, ex - 53 < -1074 ? -1074 : ex - 53));
            }
            if (err > worst) worst = err, wx = xv[i];
            if (memcmp(&y[i], &yr[n - 1 - i], sizeof(double)) != 0 && !(isnan(y[i]) && isnan(yr[n - 1 - i])) && diff < 0)
                diff = i;
        }
        cr_log_info("library %s f64: max error %.3f ulp", names[k], worst);
        cr_expect(worst <= bound[k], "%s f64: %.3f ulp at x = %a", names[k], worst, wx);
        cr_expect(diff < 0, "%s f64: contiguous and reversed differ at element %lld", names[k], (long long)diff);
    }
    npg_scope_end(s);
    free(xv), free(y), free(yr);
}

/* softmax, log_softmax and cross-entropy rows (nn.c) in both dtypes: long
 * rows with odd lengths (vector loops and their tails), a NaN row, an
 * all -inf row and a row of tied zeros of both signs. */
Test(vmath, library_softmax_and_cross_entropy_rows) {
    enum { R = 6, C = 1037 };
    for (int dt = 0; dt < 2; dt++) {
        const npg_dtype d = dt ? NPG_FLOAT64 : NPG_FLOAT32;
        const double tol = dt ? 1e-13 : 5e-7;
        double *xv = malloc(sizeof(double) * R * C), *want = malloc(sizeof(double) * R * C),
               *wantl = malloc(sizeof(double) * R * C), lse[R], loss[R];
        int64_t lab[R];
        cr_assert(xv && want && wantl);
        for (int64_t i = 0; i < R * C; i++) xv[i] = rndu(-30, 30);
        for (int64_t c = 0; c < C; c++) xv[3 * C + c] = c == 500 ? NAN : xv[3 * C + c];
        for (int64_t c = 0; c < C; c++) xv[4 * C + c] = -INFINITY;
        for (int64_t c = 0; c < C; c++) xv[5 * C + c] = c % 3 == 0 ? 0.0 : c % 3 == 1 ? -0.0 : -1.0;
        /* x - m is rounded in the array's dtype, as the kernels do (a formula
         * rounding of up to 2e-6 relative for float32, not exp's) */
        for (int64_t r = 0; r < R; r++) {
            lab[r] = (r * 331) % C;
            const double *x = xv + r * C;
            double m = -INFINITY, s = 0, dx[C];
            bool nan = false;
            for (int64_t c = 0; c < C; c++) {
                const double v = dt ? x[c] : (double)(float)x[c];
                nan |= isnan(v);
                if (v > m) m = v;
            }
            if (nan) m = NAN;
            for (int64_t c = 0; c < C; c++) {
                dx[c] = dt ? x[c] - m : (double)((float)x[c] - (float)m);
                s += exp(dx[c]);
            }
            for (int64_t c = 0; c < C; c++) {
                want[r * C + c] = exp(dx[c]) / s;
                wantl[r * C + c] = dx[c] - log(s);
            }
            lse[r] = m + log(s);
            loss[r] = lse[r] - (dt ? x[lab[r]] : (double)(float)x[lab[r]]);
        }
        npg_scope sc = npg_scope_begin();
        npg_array *x = npg_from_data(xv, NPG_FLOAT64, NPG_SHAPE(R, C), NPG_OPTS(.device = NPG_CPU, .dtype = d));
        npg_array *labels = npg_from_data(lab, NPG_INT64, NPG_SHAPE(R), ON_CPU);
        cr_assert(x && labels);
        npg_array *sm = npg_softmax(x, -1), *lsm = npg_log_softmax(x, -1);
        npg_array *ce = npg_cross_entropy(x, labels, NPG_CE_OPTS(.reduction = NPG_REDUCTION_NONE));
        cr_assert(sm && lsm && ce, "%s", npg_last_error());
        double *got = malloc(sizeof(double) * R * C), *gotl = malloc(sizeof(double) * R * C), gotce[R];
        npg_array *sm64 = npg_astype(sm, NPG_FLOAT64), *lsm64 = npg_astype(lsm, NPG_FLOAT64),
                  *ce64 = npg_astype(ce, NPG_FLOAT64);
        cr_assert(got && gotl && sm64 && lsm64 && ce64);
        cr_assert_eq(npg_copy_to_host(sm64, got, sizeof(double) * R * C), NPG_OK);
        cr_assert_eq(npg_copy_to_host(lsm64, gotl, sizeof(double) * R * C), NPG_OK);
        cr_assert_eq(npg_copy_to_host(ce64, gotce, sizeof gotce), NPG_OK);
        for (int64_t i = 0; i < R * C; i++) {
            const bool row_nan = i / C == 3 || i / C == 4; /* a NaN, or -inf - -inf */
            if (row_nan) {
                cr_expect(isnan(got[i]) && isnan(gotl[i]), "%s row %lld: softmax %g log_softmax %g, want NaN",
                          npg_dtype_name(d), (long long)(i / C), got[i], gotl[i]);
                continue;
            }
            cr_expect(fabs(got[i] - want[i]) <= tol * fabs(want[i]) + 1e-30, "%s softmax[%lld] = %.17g, want %.17g",
                      npg_dtype_name(d), (long long)i, got[i], want[i]);
            cr_expect(fabs(gotl[i] - wantl[i]) <= tol * fabs(wantl[i]) + tol, "%s log_softmax[%lld] = %.17g, want %.17g",
                      npg_dtype_name(d), (long long)i, gotl[i], wantl[i]);
        }
        for (int r = 0; r < R; r++) {
            if (r == 3 || r == 4) {
                cr_expect(isnan(gotce[r]), "%s cross_entropy row %d = %g, want NaN", npg_dtype_name(d), r, gotce[r]);
                continue;
            }
            cr_expect(fabs(gotce[r] - loss[r]) <= tol * fabs(loss[r]) + tol, "%s cross_entropy row %d = %.17g, want %.17g",
                      npg_dtype_name(d), r, gotce[r], loss[r]);
        }
        npg_scope_end(sc);
        free(xv), free(want), free(wantl), free(got), free(gotl);
    }
}
