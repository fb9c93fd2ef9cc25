/*
 * vmath.h — branch-free exp, log, log1p and tanh for the CPU kernels,
 * written so that GCC vectorises them inside `#pragma omp simd` loops.
 *
 * Why: glibc's expf, exp, logf, tanhf... are scalar calls, so a loop around
 * them cannot be vectorised; float32 exp ran at ~0.15 of memory bandwidth.
 * These functions are plain arithmetic, integer bit manipulation and
 * selects (ternaries GCC turns into blends): no calls, no branches, no
 * tables. They are the CPU backend's own: scalar_ops.h (shared with CUDA)
 * keeps libm, and elementwise.c and nn.c pick these for their exp-based ops.
 * float64 has exp only; the other float64 ops stay on libm.
 *
 * Guarantees, in ulps of the result against the correctly rounded value
 * (checked by tests/cpu/test_vmath.c; "swept" = all 2^32 float32 patterns
 * when this was written, every 61st pattern in the test):
 *   npg_v_exp_f32    <= 1 ulp, swept (0.06% of inputs are 1 ulp off).
 *                    +inf -> +inf, -inf -> +0, +inf from the first x whose
 *                    correctly rounded exp overflows (NPG_V_EXP_F32_MAX),
 *                    subnormal results rounded once from the full-precision
 *                    value, +0 below NPG_V_EXP_F32_MIN; exp(+-0) = 1.
 *   npg_v_exp_f64    <= 1 ulp against a long-double exp (sampled: 0.63 ulp
 *                    for normal results, 0.77 for subnormal ones); special
 *                    values as for float32, with the float64 thresholds.
 *   npg_v_log_f32    <= 1 ulp, swept. +-0 -> -inf, x < 0 -> NaN, +inf ->
 *                    +inf, log(1) = +0; subnormal inputs at full precision.
 *   npg_v_log1p_f32  <= 1 ulp, swept. -1 -> -inf, x < -1 -> NaN, +inf ->
 *                    +inf, +-0 -> +-0, tiny x -> x.
 *   npg_v_tanh_f32   <= 1 ulp, swept (computed in double, rounded once).
 *                    Odd: +-0 -> +-0, tiny x -> x, +-inf -> +-1, and +-1
 *                    exactly wherever the correctly rounded tanh is.
 *   All: NaN -> NaN.
 *
 * exp's method (Cody-Waite): n = round(x / ln2) by the shifter trick (adding
 * 1.5 * 2^(p-1) rounds to an integer and leaves it in the low mantissa
 * bits, so no float->int conversion is needed), r = x - n ln2 with ln2 split
 * in a short high part (n * ln2_hi and the subtraction are exact) and a low
 * part, exp(r) by a polynomial on |r| <= ~0.35, and the scale 2^n built from
 * exponent bits. The scale is applied as two factors 2^n1 * 2^n2 (n1 + n2 =
 * n) so that both are normal numbers across the whole range: 2^128 is not a
 * float, and for subnormal results the last multiply performs the single
 * rounding into the subnormal range.
 *
 * Rounding is fixed by IEEE arithmetic alone: the fused multiply-adds are
 * explicit fmaf/fma (the library builds with -std=c11, i.e. no implicit
 * contraction) and nothing depends on -ffast-math-style freedoms, so a
 * vectorised -march build and a scalar build return bit-identical results
 * (the test checks it). Without hardware FMA the fma calls are slow but
 * still exact.
 */
#ifndef NPG_CPU_VMATH_H
#define NPG_CPU_VMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* Bit casts (memcpy is the defined way; GCC folds it into a register move,
 * also inside vectorised loops). */
static inline uint32_t npg_v_bits_f32(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}
static inline float npg_v_from_bits_f32(uint32_t u) {
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}
static inline uint64_t npg_v_bits_f64(double x) {
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}
static inline double npg_v_from_bits_f64(uint64_t u) {
    double x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* ---- float32 ------------------------------------------------------------------ */

/* Largest x with a finite exp(x), and smallest x whose exp(x) does not round
 * to zero (it rounds to 2^-149), both for the correctly rounded exp. */
#define NPG_V_EXP_F32_MAX 0x1.62e42ep+6f  /* 88.7228317 */
#define NPG_V_EXP_F32_MIN -0x1.9fe368p+6f /* -103.972076 */

static inline float npg_v_exp_f32(float x) {
    const float shift = 0x1.8p23f; /* 1.5 * 2^23: t + shift rounds t to an integer */
    /* No clamp: for |x| too large (and +-inf) n, r and the scale are
     * garbage, but only through well-defined float and unsigned arithmetic,
     * and the selects at the end replace the result. A NaN propagates
     * through the arithmetic on its own. */
    const float z = x * 0x1.715476p+0f + shift; /* log2(e) */
    const float n = z - shift;
    /* ln2_hi has 9 significant bits: n * ln2_hi (|n| <= 150) and x minus it
     * are exact. r's rounding would cost up to 1/4 ulp of the result, so c
     * keeps what it dropped: r + c = x - n ln2 to far below an ulp. */
    const float rh = fmaf(n, -0x1.63p-1f, x);
    const float r = fmaf(n, 0x1.bd0106p-13f, rh); /* ln2_hi - ln2 */
    const float c = fmaf(n, 0x1.bd0106p-13f, rh - r);
    /* exp(r) on |r| <= 0.35 as 1 + r + r^2 P(r): the Taylor series to r^7
     * (truncation below 2^-27 relative), P by Horner. */
    float p = 0x1.a01a02p-13f;       /* 1/7! */
    p = fmaf(p, r, 0x1.6c16c2p-10f); /* 1/6! */
    p = fmaf(p, r, 0x1.111112p-7f);  /* 1/5! */
    p = fmaf(p, r, 0x1.555556p-5f);  /* 1/4! */
    p = fmaf(p, r, 0x1.555556p-3f);  /* 1/3! */
    p = fmaf(p, r, 0.5f);
    /* 1 + r = s + e exactly (Fast2Sum, |r| < 1), so the only large rounding
     * is the last add; the small terms carry c (exp(r + c) ~ exp(r)(1 + c)).
     * This makes 7x fewer results 1 ulp off than a plain 1 + (r + r^2 P). */
    const float s = 1.0f + r;
    const float e = (1.0f - s) + r;
    p = s + fmaf(r * r, p, e + fmaf(c, r, c));
    /* 2^n as 2^n1 * 2^n2: the integer n is in z's low mantissa bits. (The
     * unsigned -> int32 conversion wraps and >> of a negative int is
     * arithmetic in GCC and Clang; both are implementation-defined in C.) */
    const int32_t ni = (int32_t)(npg_v_bits_f32(z) - npg_v_bits_f32(shift));
    const int32_t n1 = ni >> 1, n2 = ni - n1; /* in range: both in [-75, 64] */
    const float s1 = npg_v_from_bits_f32((uint32_t)(n1 + 127) << 23);
    const float s2 = npg_v_from_bits_f32((uint32_t)(n2 + 127) << 23);
    float y = p * s1 * s2;
    y = x > NPG_V_EXP_F32_MAX ? INFINITY : y;
    y = x < NPG_V_EXP_F32_MIN ? 0.0f : y;
    return y;
}

/* log(x): fdlibm's branch-free logf (as in musl before 2017): x = 2^k m with
 * m in [sqrt(2)/2, sqrt(2)), f = m - 1 (exact), log(1 + f) = 2 atanh(s) with
 * s = f / (2 + f), the atanh series as a degree-4 polynomial in s^2, and
 * the terms summed small to large. Subnormal inputs are first scaled by
 * 2^23 (a select), so they get full precision. */
static inline float npg_v_log_f32(float x) {
    const int sub = x < 0x1p-126f; /* also true for 0 and negatives, which the selects replace */
    const float xs = sub ? x * 0x1p23f : x;
    /* Adding 1 - sqrt(2)/2 to the bits moves the exponent step from m = 2
     * down to m = sqrt(2); unsigned arithmetic, so garbage inputs are defined. */
    const uint32_t ix = npg_v_bits_f32(xs) + (0x3f800000u - 0x3f3504f3u);
    const int32_t k = (int32_t)(ix >> 23) - 0x7f - (sub ? 23 : 0);
    const float m = npg_v_from_bits_f32((ix & 0x007fffffu) + 0x3f3504f3u);
    const float f = m - 1.0f;
    const float s = f / (2.0f + f);
    const float z = s * s, w = z * z;
    const float t1 = w * (0x1.999c26p-2f + w * 0x1.f13c4cp-3f);
    const float t2 = z * (0x1.555554p-1f + w * 0x1.23d3dcp-2f);
    const float R = t2 + t1;
    const float hfsq = 0.5f * f * f;
    const float dk = (float)k;
    float y = s * (hfsq + R) + dk * 0x1.2fefa2p-17f - hfsq + f + dk * 0x1.62e3p-1f; /* ln2_lo, ln2_hi */
    y = x == INFINITY ? INFINITY : y;
    y = x == 0.0f ? -INFINITY : y;
    y = x < 0.0f ? NAN : y;
    y = x != x ? x + x : y;
    return y;
}

/* log1p(x) = log(u) + c / u with u = 1 + x rounded and c = x - (u - 1) the
 * rounding error of that add (exact for u in [1/2, 2]; a correction far
 * below an ulp elsewhere): log(u + c) to first order. For |x| < 2^-24, u =
 * 1 and the result is c = x. Selects give -1 -> -inf, +inf -> +inf, +-0 ->
 * +-0 (the 0/0 and inf - inf the formula would meet there). */
static inline float npg_v_log1p_f32(float x) {
    const float u = 1.0f + x;
    const float c = x - (u - 1.0f);
    float y = npg_v_log_f32(u) + c / u;
    y = x == -1.0f ? -INFINITY : y;
    y = x == INFINITY ? INFINITY : y;
    y = x == 0.0f ? x : y;
    y = x != x ? x + x : y; /* x < -1: log(u < 0) is already NaN */
    return y;
}

/* ---- float64 ------------------------------------------------------------------ */

#define NPG_V_EXP_F64_MAX 0x1.62e42fefa39efp+9   /* 709.782712893384 */
#define NPG_V_EXP_F64_MIN -0x1.74910d52d3051p+9  /* -745.1332191019411 */

static inline double npg_v_exp_f64(double x) {
    const double shift = 0x1.8p52;
    /* As for float32: no clamp, the final selects cover the rest. */
    const double z = x * 0x1.71547652b82fep+0 + shift; /* log2(e) */
    const double n = z - shift;
    /* ln2_hi has 32 significant bits (fdlibm's split): n * ln2_hi and the
     * subtraction are exact for |n| <= 1077. r's rounding would cost up to
     * 1/4 ulp of the result, so c keeps what it dropped: r + c = x - n ln2. */
    const double rh = fma(n, -0x1.62e42feep-1, x);
    const double r = fma(n, -0x1.a39ef35793c76p-33, rh); /* ln2 - ln2_hi */
    const double c = fma(n, -0x1.a39ef35793c76p-33, rh - r);
    /* exp(r) on |r| <= 0.35: Taylor to r^13 (truncation below 2^-57),
     * 1 + r + r^2 P(r) with P by Horner. */
    double p = 0x1.6124613a86d09p-33; /* 1/13! */
    p = fma(p, r, 0x1.1eed8eff8d898p-29); /* 1/12! */
    p = fma(p, r, 0x1.ae64567f544e4p-26); /* 1/11! */
    p = fma(p, r, 0x1.27e4fb7789f5cp-22); /* 1/10! */
    p = fma(p, r, 0x1.71de3a556c734p-19); /* 1/9! */
    p = fma(p, r, 0x1.a01a01a01a01ap-16); /* 1/8! */
    p = fma(p, r, 0x1.a01a01a01a01ap-13); /* 1/7! */
    p = fma(p, r, 0x1.6c16c16c16c17p-10); /* 1/6! */
    p = fma(p, r, 0x1.1111111111111p-7); /* 1/5! */
    p = fma(p, r, 0x1.5555555555555p-5); /* 1/4! */
    p = fma(p, r, 0x1.5555555555555p-3); /* 1/3! */
    p = fma(p, r, 0.5);
    /* 1 + r = s + e exactly (Fast2Sum, |r| < 1), so the only large rounding
     * is the last add; the small terms carry c (exp(r + c) ~ exp(r)(1 + c)). */
    const double s = 1.0 + r;
    const double e = (1.0 - s) + r;
    p = s + fma(r * r, p, e + fma(c, r, c));
    /* 2^n as 2^n1 * 2^n2. AVX2 has no 64-bit arithmetic right shift, so n
     * is halved in floating point with the same shifter trick. */
    const double z1 = n * 0.5 + shift;
    const double z2 = (n - (z1 - shift)) + shift;
    const uint64_t sb = npg_v_bits_f64(shift);
    const double s1 = npg_v_from_bits_f64((npg_v_bits_f64(z1) - sb + 1023) << 52);
    const double s2 = npg_v_from_bits_f64((npg_v_bits_f64(z2) - sb + 1023) << 52);
    double y = p * s1 * s2;
    y = x > NPG_V_EXP_F64_MAX ? INFINITY : y;
    y = x < NPG_V_EXP_F64_MIN ? 0.0 : y;
    return y;
}

/* ---- float32 via float64 ---------------------------------------------------- */

/* tanh(x), computed in double and rounded once: tanh|x| = 1 - 2 / (e^2|x| +
 * 1), where the cancellation costs at most 7 of double's 29 spare bits for
 * |x| >= 2^-7; below that x + x^3 (-1/3 + 2/15 x^2) (the next term is under
 * 2^-46 relative). Saturates to +-1 on its own (2 / (inf + 1) = 0); NaN
 * propagates. Costs about twice exp_f32 (double lanes are half as many). */
static inline float npg_v_tanh_f32(float x) {
    const double a = fabs((double)x);
    const double e = npg_v_exp_f64(2.0 * a);
    const double big = 1.0 - 2.0 / (e + 1.0);
    const double a2 = a * a;
    const double small = a + a * a2 * (-0x1.5555555555555p-2 + a2 * 0x1.1111111111111p-3); /* -1/3, 2/15 */
    const double t = a < 0x1p-7 ? small : big;
    return copysignf((float)t, x);
}

/* ---- what the CPU kernels call ---------------------------------------------- */

/* These functions pay off where the target has fast fused multiply-add
 * (x86-64-v3, the library's default -march; AArch64): they vectorise. On a
 * target without it every fmaf is a libm call, slower than libm's own exp,
 * so the kernels' npg_k_* entry points use libm there instead. */
#if defined(__FP_FAST_FMAF) && defined(__FP_FAST_FMA)
#define NPG_V_FAST 1
#else
#define NPG_V_FAST 0
#endif
static inline float npg_k_exp_f32(float x) { return NPG_V_FAST ? npg_v_exp_f32(x) : expf(x); }
static inline double npg_k_exp_f64(double x) { return NPG_V_FAST ? npg_v_exp_f64(x) : exp(x); }
static inline float npg_k_log_f32(float x) { return NPG_V_FAST ? npg_v_log_f32(x) : logf(x); }
static inline float npg_k_log1p_f32(float x) { return NPG_V_FAST ? npg_v_log1p_f32(x) : log1pf(x); }
static inline float npg_k_tanh_f32(float x) { return NPG_V_FAST ? npg_v_tanh_f32(x) : tanhf(x); }

#endif /* NPG_CPU_VMATH_H */
