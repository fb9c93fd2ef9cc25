/*
 * scalar_ops.h — the per-element meaning of every elementwise op, for every
 * dtype, as inline functions that C (src/cpu) and CUDA (src/cuda) both
 * include. One definition, so the devices cannot disagree on semantics:
 * integer wrap-around, division by zero, NaN propagation, rounding.
 *
 * Naming: npg_s_<op>_<t>, t in b (bool as uint8_t 0/1), i8, i16, i32, i64,
 * u8, u16, u32, u64, f32, f64. Integer arithmetic goes through unsigned types: never undefined
 * behaviour, two's-complement wrap.
 *
 * What is not here: transcendental functions on integers (common casts them
 * to float32 first) and ops defined for floats only.
 */
#ifndef NPG_SCALAR_OPS_H
#define NPG_SCALAR_OPS_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "rng.h" /* NPG_HD */

#if defined(__CUDACC__)
#define NPG_SINF sinf
#else
#define NPG_SINF sinf
#endif

/* ---- conversions (the COPY family) ----------------------------------- */
/* float -> integer: truncate toward zero, NaN -> 0, saturate out of range. */
NPG_HD int64_t npg_s_f64_to_i64(double x) {
    if (x != x) return 0;
    if (x >= 9223372036854775807.0) return INT64_MAX;
    if (x <= -9223372036854775808.0) return INT64_MIN;
    return (int64_t)x;
}
/* Saturating float64 -> narrower integer (NaN -> 0); both bounds exact doubles. */
#define NPG_S_F64_TO_INT(T, t, LO, HI)                                                       \
    NPG_HD T npg_s_f64_to_##t(double x) {                                                    \
        if (x != x) return 0;                                                                \
        if (x >= (double)(HI)) return (T)(HI);                                               \
        if (x <= (double)(LO)) return (T)(LO);                                               \
        return (T)x;                                                                         \
    }
NPG_S_F64_TO_INT(int32_t, i32, INT32_MIN, INT32_MAX)
NPG_S_F64_TO_INT(int16_t, i16, INT16_MIN, INT16_MAX)
NPG_S_F64_TO_INT(int8_t, i8, INT8_MIN, INT8_MAX)
NPG_S_F64_TO_INT(uint8_t, u8, 0, UINT8_MAX)
NPG_S_F64_TO_INT(uint16_t, u16, 0, UINT16_MAX)
NPG_S_F64_TO_INT(uint32_t, u32, 0, UINT32_MAX)
NPG_HD uint64_t npg_s_f64_to_u64(double x) {
    if (x != x || x <= 0.0) return 0;
    if (x >= 18446744073709551616.0) return UINT64_MAX; /* 2^64 */
    return (uint64_t)x;
}
/* integer -> narrower integer: wrap (two's complement). */
NPG_HD int32_t npg_s_i64_to_i32(int64_t x) { return (int32_t)(uint32_t)(uint64_t)x; }
NPG_HD int16_t npg_s_i64_to_i16(int64_t x) { return (int16_t)(uint16_t)(uint64_t)x; }
NPG_HD int8_t npg_s_i64_to_i8(int64_t x) { return (int8_t)(uint8_t)(uint64_t)x; }
NPG_HD uint8_t npg_s_i64_to_u8(int64_t x) { return (uint8_t)(uint64_t)x; }
NPG_HD uint16_t npg_s_i64_to_u16(int64_t x) { return (uint16_t)(uint64_t)x; }
NPG_HD uint32_t npg_s_i64_to_u32(int64_t x) { return (uint32_t)(uint64_t)x; }
NPG_HD uint64_t npg_s_i64_to_u64(int64_t x) { return (uint64_t)x; }

/* ---- float16 / bfloat16 (stored as their uint16_t bit patterns) --------
 * Conversions round to nearest, ties to even, with integer operations on the
 * bit patterns, so every device gives the same bits. A NaN keeps its sign and
 * the top of its payload and becomes quiet, as x86's F16C instructions
 * (vcvtph2ps / vcvtps2ph) convert it, so the CPU's vectorised float16 loops
 * (src/cpu/half_cvt.h) give these bits too; overflow becomes inf. Widening
 * is exact. bfloat16's NaN is the quiet NaN 0x7fc0 with its sign. */
NPG_HD uint32_t npg_s_f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
NPG_HD float npg_s_bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}
NPG_HD float npg_s_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0x1f) return npg_s_bits_f32(sign | 0x7f800000u | (m ? 0x400000u | (m << 13) : 0u));
    if (e == 0) return npg_s_bits_f32(sign | npg_s_f32_bits((float)m * 5.9604644775390625e-8f)); /* m * 2^-24 */
    return npg_s_bits_f32(sign | ((e + 112u) << 23) | (m << 13));
}
NPG_HD uint16_t npg_s_f32_to_f16(float f) {
    uint32_t u = npg_s_f32_bits(f), sign = (u >> 16) & 0x8000u, a = u & 0x7fffffffu;
    if (a >= 0x47800000u) /* |f| >= 65536, inf or NaN */
        return (uint16_t)(sign | (a > 0x7f800000u ? 0x7e00u | ((a >> 13) & 0x3ffu) : 0x7c00u));
    if (a < 0x38800000u) {
        /* |f| < 2^-14: a float16 subnormal or zero. Adding 0.5 puts the
         * result's ulp at 2^-24, the subnormal spacing, so the float32 sum
         * rounds exactly as float16 must (ties to even); its low bits are
         * the mantissa. */
        float s = npg_s_bits_f32(a) + 0.5f;
        return (uint16_t)(sign | (npg_s_f32_bits(s) - 0x3f000000u));
    }
    uint32_t odd = (a >> 13) & 1u;
    a += 0xc8000fffu + odd; /* rebias the exponent (-112 << 23), round half to even */
    return (uint16_t)(sign | (a >> 13)); /* a carry into the exponent gives inf */
}
NPG_HD float npg_s_bf16_to_f32(uint16_t h) { return npg_s_bits_f32((uint32_t)h << 16); }
NPG_HD uint16_t npg_s_f32_to_bf16(float f) {
    uint32_t u = npg_s_f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)(((u >> 16) & 0x8000u) | 0x7fc0u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}
/* float <-> double with NaN handled by bits, as x86 converts it (sign kept,
 * quiet bit set, the payload's top kept): a GPU's conversion instructions
 * return their one canonical NaN instead, so the CUDA backend's casts use
 * these to give the CPU's bits. */
NPG_HD float npg_s_nan_f64_to_f32(double x) {
    uint64_t u;
    memcpy(&u, &x, 8);
    return npg_s_bits_f32(((uint32_t)(u >> 32) & 0x80000000u) | 0x7fc00000u | ((uint32_t)(u >> 29) & 0x3fffffu));
}
NPG_HD double npg_s_f32_to_f64(float f) {
    if (f == f) return (double)f;
    uint32_t u = npg_s_f32_bits(f);
    uint64_t r = ((uint64_t)(u & 0x80000000u) << 32) | 0x7ff8000000000000ull | ((uint64_t)(u & 0x3fffffu) << 29);
    double d;
    memcpy(&d, &r, 8);
    return d;
}
NPG_HD float npg_s_f64_to_f32(double x) { return x == x ? (float)x : npg_s_nan_f64_to_f32(x); }
/* double -> float rounded to odd (toward zero, then the last bit set when
 * inexact). Narrowing that to a format with at least two fewer mantissa
 * bits then rounds as narrowing the double directly would. */
NPG_HD float npg_s_f64_to_f32_odd(double x) {
    if (x != x) return npg_s_nan_f64_to_f32(x);
    float f = (float)x;
    if ((double)f == x) return f;
    uint32_t u = npg_s_f32_bits(f);
    if (fabs((double)f) > fabs(x)) u -= 1; /* magnitude one step toward zero */
    return npg_s_bits_f32(u | 1u);
}
NPG_HD uint16_t npg_s_f64_to_f16(double x) { return npg_s_f32_to_f16(npg_s_f64_to_f32_odd(x)); }
/* An integer as a double rounded to odd (exact below 2^53): converted on to
 * a half type it rounds once, as a direct conversion would (int64 / uint64
 * beyond 2^53 would otherwise round twice on the way to bfloat16). */
NPG_HD double npg_s_u64_to_f64_odd(uint64_t m) {
    int shift = 0;
    while ((m >> shift) >= ((uint64_t)1 << 53)) shift++;
    uint64_t kept = m >> shift;
    if (shift && (m & (((uint64_t)1 << shift) - 1))) kept |= 1; /* sticky */
    return ldexp((double)kept, shift);
}
NPG_HD double npg_s_i64_to_f64_odd(int64_t x) {
    return x < 0 ? -npg_s_u64_to_f64_odd((uint64_t)0 - (uint64_t)x) : npg_s_u64_to_f64_odd((uint64_t)x);
}
NPG_HD uint16_t npg_s_f64_to_bf16(double x) { return npg_s_f32_to_bf16(npg_s_f64_to_f32_odd(x)); }

/* ---- integer helpers --------------------------------------------------- */
/* What signed and unsigned integers share, U the unsigned type the
 * arithmetic runs in: wrapping +, -, *, negation, square, bitwise not;
 * maximum, minimum, bitwise and / or / xor; clip (a bound beyond the type
 * saturates). */
#define NPG_S_INT_COMMON(T, U, t)                                                            \
    NPG_HD T npg_s_add_##t(T a, T b) { return (T)((U)a + (U)b); }                           \
    NPG_HD T npg_s_subtract_##t(T a, T b) { return (T)((U)a - (U)b); }                      \
    NPG_HD T npg_s_multiply_##t(T a, T b) { return (T)((U)a * (U)b); }                      \
    NPG_HD T npg_s_negative_##t(T a) { return (T)(0u - (U)a); }                             \
    NPG_HD T npg_s_square_##t(T a) { return (T)((U)a * (U)a); }                             \
    NPG_HD T npg_s_bitwise_invert_##t(T a) { return (T)(~(U)a); }                           \
    NPG_HD T npg_s_maximum_##t(T a, T b) { return a > b ? a : b; }                          \
    NPG_HD T npg_s_minimum_##t(T a, T b) { return a < b ? a : b; }                          \
    NPG_HD T npg_s_bitwise_and_##t(T a, T b) { return (T)(a & b); }                         \
    NPG_HD T npg_s_bitwise_or_##t(T a, T b) { return (T)(a | b); }                          \
    NPG_HD T npg_s_bitwise_xor_##t(T a, T b) { return (T)(a ^ b); }                         \
    NPG_HD T npg_s_clip_##t(T a, double lo, double hi) {                                    \
        double x = (double)a;                                                               \
        if (lo == lo && x < lo) return npg_s_f64_to_##t(lo);                                \
        if (hi == hi && x > hi) return npg_s_f64_to_##t(hi);                                \
        return a;                                                                           \
    }
#define NPG_S_INT_OPS(T, U, t, BITS, DIGITS)                                                  \
    NPG_S_INT_COMMON(T, U, t)                                                               \
    NPG_HD T npg_s_abs_##t(T a) { return a < 0 ? (T)(0 - (U)a) : a; }                       \
    NPG_HD T npg_s_sign_##t(T a) { return (T)((a > 0) - (a < 0)); }                         \
    /* Python floor division; x/0 -> 0; MIN/-1 wraps to MIN. */                             \
    NPG_HD T npg_s_floor_divide_##t(T a, T b) {                                             \
        if (b == 0) return 0;                                                               \
        if (b == -1) return (T)(0 - (U)a);                                                  \
        T q = a / b, r = a % b;                                                             \
        if (r != 0 && ((r < 0) != (b < 0))) q--;                                            \
        return q;                                                                           \
    }                                                                                       \
    /* Python modulo (sign of b); x%0 -> 0. */                                              \
    NPG_HD T npg_s_remainder_##t(T a, T b) {                                                \
        if (b == 0 || b == -1) return 0;                                                    \
        T r = a % b;                                                                        \
        if (r != 0 && ((r < 0) != (b < 0))) r = (T)((U)r + (U)b);                           \
        return r;                                                                           \
    }                                                                                       \
    /* Integer power; negative exponents give 0 (1 for base 1, +-1 for -1). */              \
    NPG_HD T npg_s_pow_##t(T a, T b) {                                                      \
        if (b < 0) return a == 1 ? 1 : (a == -1 ? ((b & 1) ? -1 : 1) : 0);                 \
        U r = 1, base = (U)a;                                                               \
        while (b) {                                                                         \
            if (b & 1) r *= base;                                                           \
            base *= base;                                                                   \
            b >>= 1;                                                                        \
        }                                                                                   \
        return (T)r;                                                                        \
    }                                                                                       \
    /* shifts by >= width (or negative): left -> 0, right -> sign fill. */                  \
    NPG_HD T npg_s_bitwise_left_shift_##t(T a, T b) {                                       \
        if (b < 0 || b >= BITS) return 0;                                                   \
        return (T)((U)a << b);                                                              \
    }                                                                                       \
    NPG_HD T npg_s_bitwise_right_shift_##t(T a, T b) {                                      \
        if (b < 0 || b >= BITS) return a < 0 ? (T)-1 : 0;                                   \
        return a < 0 ? (T)(~(~(U)a >> b)) : (T)((U)a >> b);                                 \
    }                                                                                       \
    NPG_HD T npg_s_relu_##t(T a) { return a > 0 ? a : 0; }                                  \
    /* Round half to even at 10^-d for d < 0 (identity for d >= 0). */                      \
    NPG_HD T npg_s_round_##t(T a, int64_t d) {                                              \
        if (d >= 0) return a;                                                               \
        U f = 1;                                                                            \
        for (int64_t k = 0; k < -d && k < 19; k++) f *= 10;                                 \
        if (-d >= DIGITS) return 0;                                                         \
        T fs = (T)f;                                                                        \
        T q = npg_s_floor_divide_##t(a, fs);                                                \
        T r = (T)((U)a - (U)q * (U)fs);                                                     \
        if ((U)r * 2 > (U)fs || ((U)r * 2 == (U)fs && (q & 1))) q = (T)((U)q + 1);          \
        return (T)((U)q * (U)fs);                                                           \
    }

/* U: the unsigned type the arithmetic runs in, at least unsigned int wide
 * (so int16 * int16 never overflows a promoted int); DIGITS: the decimal
 * digits of the type's largest value (round to 10^DIGITS gives 0). */
NPG_S_INT_OPS(int8_t, uint32_t, i8, 8, 3)
NPG_S_INT_OPS(int16_t, uint32_t, i16, 16, 5)
NPG_S_INT_OPS(int32_t, uint32_t, i32, 32, 10)
NPG_S_INT_OPS(int64_t, uint64_t, i64, 64, 19)

/* Unsigned integers wrap modulo 2^BITS. T: the type; W: the unsigned type
 * the arithmetic runs in (at least unsigned int: uint16 * uint16 would
 * overflow a promoted int); DIGITS as above. */
#define NPG_S_UINT_OPS(T, W, t, BITS, DIGITS)                                                \
    NPG_S_INT_COMMON(T, W, t)                                                               \
    NPG_HD T npg_s_abs_##t(T a) { return a; }                                               \
    NPG_HD T npg_s_sign_##t(T a) { return (T)(a > 0); }                                     \
    NPG_HD T npg_s_floor_divide_##t(T a, T b) { return b ? (T)(a / b) : 0; }                \
    NPG_HD T npg_s_remainder_##t(T a, T b) { return b ? (T)(a % b) : 0; }                   \
    NPG_HD T npg_s_pow_##t(T a, T b) {                                                      \
        W r = 1, base = a; /* products wrap modulo 2^(width of W): the low BITS stay */     \
        while (b) {                                                                         \
            if (b & 1) r = r * base;                                                        \
            base = base * base;                                                             \
            b = (T)(b >> 1);                                                                \
        }                                                                                   \
        return (T)r;                                                                        \
    }                                                                                       \
    NPG_HD T npg_s_bitwise_left_shift_##t(T a, T b) { return b >= BITS ? 0 : (T)((W)a << b); } \
    NPG_HD T npg_s_bitwise_right_shift_##t(T a, T b) { return b >= BITS ? 0 : (T)((W)a >> b); } \
    NPG_HD T npg_s_relu_##t(T a) { return a; }                                              \
    /* Round half to even at 10^-d for d < 0 (identity for d >= 0). */                      \
    NPG_HD T npg_s_round_##t(T a, int64_t d) {                                              \
        if (d >= 0) return a;                                                               \
        if (-d >= DIGITS) return 0;                                                         \
        W f = 1;                                                                            \
        for (int64_t k = 0; k < -d; k++) f *= 10u;                                          \
        W q = (W)a / f, r = (W)a % f; /* r > f - r: r * 2 could overflow W */               \
        if (r > f - r || (r == f - r && (q & 1))) q++;                                      \
        return (T)(q * f);                                                                  \
    }

NPG_S_UINT_OPS(uint8_t, uint32_t, u8, 8, 3)
NPG_S_UINT_OPS(uint16_t, uint32_t, u16, 16, 5)
NPG_S_UINT_OPS(uint32_t, uint32_t, u32, 32, 10)
NPG_S_UINT_OPS(uint64_t, uint64_t, u64, 64, 20)

/* bool (stored as uint8_t 0/1): only the ops whose rule admits bool. */
NPG_HD uint8_t npg_s_maximum_b(uint8_t a, uint8_t b) { return a | b; }
NPG_HD uint8_t npg_s_minimum_b(uint8_t a, uint8_t b) { return a & b; }
NPG_HD uint8_t npg_s_bitwise_and_b(uint8_t a, uint8_t b) { return a & b; }
NPG_HD uint8_t npg_s_bitwise_or_b(uint8_t a, uint8_t b) { return a | b; }
NPG_HD uint8_t npg_s_bitwise_xor_b(uint8_t a, uint8_t b) { return a ^ b; }
NPG_HD uint8_t npg_s_bitwise_invert_b(uint8_t a) { return !a; }

/* ---- floating point ------------------------------------------------------ */
/* F: C type, t: suffix, S: function suffix (f for float, empty for double). */
#define NPG_S_FLOAT_OPS(F, t, S)                                                             \
    NPG_HD F npg_s_add_##t(F a, F b) { return a + b; }                                       \
    NPG_HD F npg_s_subtract_##t(F a, F b) { return a - b; }                                  \
    NPG_HD F npg_s_multiply_##t(F a, F b) { return a * b; }                                  \
    NPG_HD F npg_s_divide_##t(F a, F b) { return a / b; }                                    \
    NPG_HD F npg_s_negative_##t(F a) { return -a; }                                          \
    NPG_HD F npg_s_abs_##t(F a) { return fabs##S(a); }                                       \
    NPG_HD F npg_s_square_##t(F a) { return a * a; }                                         \
    NPG_HD F npg_s_sign_##t(F a) { return a != a ? a : (F)((a > 0) - (a < 0)); }            \
    /* NumPy's npy_divmod: floor division consistent with the remainder. */                  \
    NPG_HD F npg_s_floor_divide_##t(F a, F b) {                                              \
        if (b == 0) return a / b;                                                            \
        F mod = fmod##S(a, b);                                                               \
        F div = (a - mod) / b;                                                               \
        if (mod != 0 && ((b < 0) != (mod < 0))) div -= 1;                                    \
        F fl;                                                                                \
        if (div != 0) {                                                                      \
            fl = floor##S(div);                                                              \
            if (div - fl > (F)0.5) fl += 1;                                                  \
        } else {                                                                             \
            fl = copysign##S((F)0, a / b);                                                   \
        }                                                                                    \
        return fl;                                                                           \
    }                                                                                        \
    NPG_HD F npg_s_remainder_##t(F a, F b) {                                                 \
        if (b == 0) return fmod##S(a, b);                                                    \
        F mod = fmod##S(a, b);                                                               \
        if (mod != 0) {                                                                      \
            if ((b < 0) != (mod < 0)) mod += b;                                              \
        } else {                                                                             \
            mod = copysign##S((F)0, b);                                                      \
        }                                                                                    \
        return mod;                                                                          \
    }                                                                                        \
    NPG_HD F npg_s_pow_##t(F a, F b) { return pow##S(a, b); }                                \
    NPG_HD F npg_s_atan2_##t(F a, F b) { return atan2##S(a, b); }                            \
    NPG_HD F npg_s_copysign_##t(F a, F b) { return copysign##S(a, b); }                      \
    NPG_HD F npg_s_hypot_##t(F a, F b) { return hypot##S(a, b); }                            \
    NPG_HD F npg_s_nextafter_##t(F a, F b) { return nextafter##S(a, b); }                    \
    NPG_HD F npg_s_logaddexp_##t(F a, F b) {                                                 \
        if (a == b) return a + (F)0.69314718055994530942; /* also +-inf */                  \
        F d = a - b;                                                                         \
        if (d != d) return d;                                                                \
        return d > 0 ? a + log1p##S(exp##S(-d)) : b + log1p##S(exp##S(d));                   \
    }                                                                                        \
    NPG_HD F npg_s_maximum_##t(F a, F b) { return (a != a || a > b) ? a : (b != b ? b : (a == b ? a : b)); } \
    NPG_HD F npg_s_minimum_##t(F a, F b) { return (a != a || a < b) ? a : (b != b ? b : (a == b ? a : b)); } \
    NPG_HD F npg_s_sqrt_##t(F a) { return sqrt##S(a); }                                      \
    NPG_HD F npg_s_exp_##t(F a) { return exp##S(a); }                                        \
    NPG_HD F npg_s_expm1_##t(F a) { return expm1##S(a); }                                    \
    NPG_HD F npg_s_log_##t(F a) { return log##S(a); }                                        \
    NPG_HD F npg_s_log1p_##t(F a) { return log1p##S(a); }                                    \
    NPG_HD F npg_s_log2_##t(F a) { return log2##S(a); }                                      \
    NPG_HD F npg_s_log10_##t(F a) { return log10##S(a); }                                    \
    NPG_HD F npg_s_sin_##t(F a) { return sin##S(a); }                                        \
    NPG_HD F npg_s_cos_##t(F a) { return cos##S(a); }                                        \
    NPG_HD F npg_s_tan_##t(F a) { return tan##S(a); }                                        \
    NPG_HD F npg_s_asin_##t(F a) { return asin##S(a); }                                      \
    NPG_HD F npg_s_acos_##t(F a) { return acos##S(a); }                                      \
    NPG_HD F npg_s_atan_##t(F a) { return atan##S(a); }                                      \
    NPG_HD F npg_s_sinh_##t(F a) { return sinh##S(a); }                                      \
    NPG_HD F npg_s_cosh_##t(F a) { return cosh##S(a); }                                      \
    NPG_HD F npg_s_tanh_##t(F a) { return tanh##S(a); }                                      \
    NPG_HD F npg_s_asinh_##t(F a) { return asinh##S(a); }                                    \
    NPG_HD F npg_s_acosh_##t(F a) { return acosh##S(a); }                                    \
    NPG_HD F npg_s_atanh_##t(F a) { return atanh##S(a); }                                    \
    NPG_HD F npg_s_erf_##t(F a) { return erf##S(a); }                                        \
    NPG_HD F npg_s_floor_##t(F a) { return floor##S(a); }                                    \
    NPG_HD F npg_s_ceil_##t(F a) { return ceil##S(a); }                                      \
    NPG_HD F npg_s_trunc_##t(F a) { return trunc##S(a); }                                    \
    /* NumPy's around: half to even at `d` decimals. */                                      \
    NPG_HD F npg_s_round_##t(F a, int64_t d) {                                               \
        if (d == 0) return rint##S(a);                                                       \
        F f = (F)1;                                                                          \
        for (int64_t k = 0; k < (d > 0 ? d : -d) && k < 400; k++) f *= (F)10;               \
        return d > 0 ? rint##S(a * f) / f : rint##S(a / f) * f;                              \
    }                                                                                        \
    NPG_HD F npg_s_reciprocal_##t(F a) { return (F)1 / a; }                                  \
    NPG_HD F npg_s_clip_##t(F a, double lo, double hi) {                                     \
        if (a != a) return a;                                                                \
        if (lo == lo && a < (F)lo) a = (F)lo;                                                \
        if (hi == hi && a > (F)hi) a = (F)hi;                                                \
        return a;                                                                            \
    }                                                                                        \
    NPG_HD F npg_s_relu_##t(F a) { return a > 0 ? a : (a != a ? a : (F)0); }                 \
    NPG_HD F npg_s_leaky_relu_##t(F a, double slope) { return a > 0 ? a : a * (F)slope; }    \
    NPG_HD F npg_s_sigmoid_##t(F a) {                                                        \
        if (a >= 0) return (F)1 / ((F)1 + exp##S(-a));                                       \
        F e = exp##S(a);                                                                     \
        return e / ((F)1 + e);                                                               \
    }                                                                                        \
    NPG_HD F npg_s_silu_##t(F a) { return a * npg_s_sigmoid_##t(a); }                        \
    NPG_HD F npg_s_gelu_##t(F a) { return (F)0.5 * a * ((F)1 + erf##S(a * (F)0.70710678118654752440)); } \
    NPG_HD F npg_s_gelu_tanh_##t(F a) {                                                      \
        F inner = (F)0.79788456080286535588 * (a + (F)0.044715 * a * a * a);                 \
        return (F)0.5 * a * ((F)1 + tanh##S(inner));                                         \
    }                                                                                        \
    NPG_HD F npg_s_softplus_##t(F a) {                                                       \
        if (a != a) return a;                                                                \
        return (a > 0 ? a : (F)0) + log1p##S(exp##S(-fabs##S(a)));                           \
    }

NPG_S_FLOAT_OPS(float, f32, f)
NPG_S_FLOAT_OPS(double, f64, )

/* Tests (any dtype read as double): */
NPG_HD uint8_t npg_s_isnan_f64(double a) { return a != a; }
NPG_HD uint8_t npg_s_isinf_f64(double a) { return a == INFINITY || a == -INFINITY; }
NPG_HD uint8_t npg_s_isfinite_f64(double a) { return !(a != a) && a != INFINITY && a != -INFINITY; }
NPG_HD uint8_t npg_s_isnan_f32(float a) { return a != a; }
NPG_HD uint8_t npg_s_isinf_f32(float a) { return a == INFINITY || a == -INFINITY; }
NPG_HD uint8_t npg_s_isfinite_f32(float a) { return !(a != a) && a != INFINITY && a != -INFINITY; }
NPG_HD uint8_t npg_s_signbit_f64(double a) { return signbit(a) != 0; }
NPG_HD uint8_t npg_s_signbit_f32(float a) { return signbit(a) != 0; }

#endif /* NPG_SCALAR_OPS_H */
