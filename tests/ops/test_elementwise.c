/*
 * test_elementwise.c — the table-driven suite for every elementwise op of
 * ops.def (UNARY, UNARY_P, BINARY and the ternary where): values against
 * float64 host references for every dtype and every shape set (odd, 0-d,
 * empty, broadcast pairs, transposed / step-2 / reversed views), result
 * dtypes by the promotion rules, both weak-scalar forms, the documented
 * integer semantics, gradients through npg_gradcheck, second derivatives,
 * and the error paths (status, message, no leak, inputs unchanged).
 *
 * The op table is generated from ops.def: a new elementwise op does not
 * compile here until it has a reference ref_<name> and a domain dom_<name>;
 * any other new op needs a TESTED_IN_<name> line saying where it is tested.
 * Everything runs on the default device, so NPG_DEVICE=cuda runs it on a GPU.
 * Sweeps use cr_expect, so one run lists every failing op x dtype x shape.
 */
#include "test_util.h"
#include "ops_shared.h"

#include <criterion/logging.h>
#include <stdio.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif
#ifndef M_LN2
#define M_LN2 0.69314718055994530942
#endif

/* ------------------------------------------------------------------------
 * Dtypes, promotion and the per-rule dtype semantics (from ops.def / npg.h)
 * ------------------------------------------------------------------------ */

#define NDTS 13
static const npg_dtype DTS[NDTS] = {NPG_BOOL,    NPG_UINT8,   NPG_INT32,   NPG_INT64,  NPG_FLOAT32,
                                    NPG_FLOAT64, NPG_FLOAT16, NPG_BFLOAT16, NPG_INT8,  NPG_INT16,
                                    NPG_UINT16,  NPG_UINT32,  NPG_UINT64};
static bool ishalf(npg_dtype d) { return d == NPG_FLOAT16 || d == NPG_BFLOAT16; }
static bool isf(npg_dtype d) { return d == NPG_FLOAT32 || d == NPG_FLOAT64 || ishalf(d); }
/* The promotion table, written out (npg.h; the array API): bool below
 * everything; within the signed and within the unsigned integers the wider;
 * a signed with an unsigned integer the smallest signed type holding both,
 * but uint64 with any signed integer float64; an integer with a float the
 * float; among floats the wider, float16 with bfloat16 float32. Rows and
 * columns in DTS order. */
#define B_ NPG_BOOL
#define U1 NPG_UINT8
#define U2 NPG_UINT16
#define U4 NPG_UINT32
#define U8_ NPG_UINT64
#define S1 NPG_INT8
#define S2 NPG_INT16
#define S4 NPG_INT32
#define S8 NPG_INT64
#define F2 NPG_FLOAT16
#define G2 NPG_BFLOAT16
#define F4 NPG_FLOAT32
#define F8 NPG_FLOAT64
static const npg_dtype PROMOTE[NDTS][NDTS] = {
    /*          bool uint8 int32 int64 f32 f64 f16 bf16 int8 int16 uint16 uint32 uint64 */
    /* bool   */ {B_, U1, S4, S8, F4, F8, F2, G2, S1, S2, U2, U4, U8_},
    /* uint8  */ {U1, U1, S4, S8, F4, F8, F2, G2, S2, S2, U2, U4, U8_},
    /* int32  */ {S4, S4, S4, S8, F4, F8, F2, G2, S4, S4, S4, S8, F8},
    /* int64  */ {S8, S8, S8, S8, F4, F8, F2, G2, S8, S8, S8, S8, F8},
    /* f32    */ {F4, F4, F4, F4, F4, F8, F4, F4, F4, F4, F4, F4, F4},
    /* f64    */ {F8, F8, F8, F8, F8, F8, F8, F8, F8, F8, F8, F8, F8},
    /* f16    */ {F2, F2, F2, F2, F4, F8, F2, F4, F2, F2, F2, F2, F2},
    /* bf16   */ {G2, G2, G2, G2, F4, F8, F4, G2, G2, G2, G2, G2, G2},
    /* int8   */ {S1, S2, S4, S8, F4, F8, F2, G2, S1, S2, S4, S8, F8},
    /* int16  */ {S2, S2, S4, S8, F4, F8, F2, G2, S2, S2, S4, S8, F8},
    /* uint16 */ {U2, U2, S4, S8, F4, F8, F2, G2, S4, S4, U2, U4, U8_},
    /* uint32 */ {U4, U4, S8, S8, F4, F8, F2, G2, S8, S8, U4, U4, U8_},
    /* uint64 */ {U8_, U8_, F8, F8, F4, F8, F2, G2, F8, F8, U8_, U8_, U8_},
};
#undef B_
#undef U1
#undef U2
#undef U4
#undef U8_
#undef S1
#undef S2
#undef S4
#undef S8
#undef F2
#undef G2
#undef F4
#undef F8
static int dti(npg_dtype d) {
    for (int i = 0; i < NDTS; i++)
        if (DTS[i] == d) return i;
    cr_assert_fail("dtype %d is not in DTS", (int)d);
    return 0;
}
static npg_dtype promote(npg_dtype a, npg_dtype b) { return PROMOTE[dti(a)][dti(b)]; }

typedef enum { R_ARITH, R_ANY, R_FLOAT, R_CMP, R_LOGICAL, R_BITWISE, R_SHIFT, R_ROUND, R_TEST, R_NONE } trule;
static bool accepts(trule r, npg_dtype d) {
    switch (r) {
    case R_ARITH:
    case R_ROUND: return d != NPG_BOOL;
    case R_BITWISE: return !isf(d);
    case R_SHIFT: return t_is_int(d);
    default: return true;
    }
}
static npg_dtype compute_dt(trule r, npg_dtype d) { return r == R_FLOAT && !isf(d) ? NPG_FLOAT32 : d; }
static npg_dtype out_dt(trule r, npg_dtype d) {
    return (r == R_CMP || r == R_LOGICAL || r == R_TEST) ? NPG_BOOL : compute_dt(r, d);
}

/* v as stored in dtype d (integers: v must already be an in-range integer) */
static double q(double v, npg_dtype d) {
    switch (d) {
    case NPG_BOOL: return v != 0;
    case NPG_FLOAT32:
    case NPG_FLOAT64:
    case NPG_FLOAT16:
    case NPG_BFLOAT16: return qfloat(v, d);
    default: return trunc(v);
    }
}
/* an integer value's two's-complement bits (uint64's above INT64_MAX too) */
static uint64_t U(double v) { return v >= 0x1p63 ? (uint64_t)v : (uint64_t)(int64_t)v; }

/* ------------------------------------------------------------------------
 * Input domains and generation
 * ------------------------------------------------------------------------ */

enum { D_NZ = 1, D_COARSE = 2, D_SPECIAL = 4, D_SHIFT = 8 };
typedef struct tdom {
    double lo, hi;   /* floats */
    double ilo, ihi; /* integers (inclusive, clamped to the dtype) */
    unsigned flags;
} tdom;
#define IBIG 4e18

typedef struct trng {
    uint64_t s;
} trng;
static double urand(trng *r) {
    r->s = r->s * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(r->s >> 11) * (1.0 / 9007199254740992.0);
}

static double gen_val(const tdom *D, npg_dtype dt, int shift_bits, trng *r) {
    double u = urand(r);
    if (dt == NPG_BOOL) return u < 0.5;
    if (t_is_int(dt)) {
        double lo = D->ilo, hi = D->ihi;
        if (D->flags & D_SHIFT) lo = 0, hi = shift_bits + 2;
        /* the dtype's range; int64 within +-IBIG, uint64 all of it (half
         * above INT64_MAX) where the domain is the full range */
        double mn = t_int_bits(dt) == 64 ? (t_is_unsigned(dt) ? 0 : -IBIG) : t_int_min(dt);
        double mx = dt == NPG_INT64 ? IBIG : dt == NPG_UINT64 ? 18446744073709549568.0 /* 2^64 - 2048 */ : t_int_max(dt);
        if (dt == NPG_UINT64 && hi >= IBIG) hi = mx;
        lo = lo < mn ? mn : lo;
        hi = hi > mx ? mx : hi;
        double v = floor(lo + (hi - lo + 1) * u);
        return v > hi ? hi : v;
    }
    if ((D->flags & D_SPECIAL) && u < 0.2) {
        static const double sp[5] = {NAN, INFINITY, -INFINITY, 0.0, -0.0};
        return sp[(int)(urand(r) * 5)];
    }
    double v = D->lo + (D->hi - D->lo) * urand(r);
    if (D->flags & D_COARSE) v = round(v * 2) / 2;
    if ((D->flags & D_NZ) && fabs(v) < 0.25) v = v < 0 ? -0.25 + v : 0.25 + v;
    return q(v, dt);
}

/* ------------------------------------------------------------------------
 * References: ref_<name>(x, y, compute dtype, params) on values already
 * stored in the compute dtype; integer results wrap to that dtype.
 * ------------------------------------------------------------------------ */

typedef struct tparam {
    int decimals;
    double lo, hi, slope;
} tparam;
typedef double (*ref_fn)(double x, double y, npg_dtype dt, const tparam *P);
#define REF(name) static double ref_##name(double x, double y, npg_dtype dt, const tparam *P)

REF(negative) { return isf(dt) ? -x : t_wrap_val(dt, 0 - U(x)); }
REF(positive) { return x; }
REF(abs) { return isf(dt) ? fabs(x) : (x < 0 ? t_wrap_val(dt, 0 - U(x)) : x); }
REF(sign) { return isnan(x) ? x : (double)((x > 0) - (x < 0)); }
REF(square) { return isf(dt) ? x * x : t_wrap_val(dt, U(x) * U(x)); }
#define REF_LIBM(f) REF(f) { return f(x); }
REF_LIBM(sqrt) REF_LIBM(exp) REF_LIBM(expm1) REF_LIBM(log) REF_LIBM(log1p) REF_LIBM(log2) REF_LIBM(log10)
REF_LIBM(sin) REF_LIBM(cos) REF_LIBM(tan) REF_LIBM(asin) REF_LIBM(acos) REF_LIBM(atan) REF_LIBM(sinh) REF_LIBM(cosh)
REF_LIBM(tanh) REF_LIBM(asinh) REF_LIBM(acosh) REF_LIBM(atanh) REF_LIBM(erf)
REF(floor) { return isf(dt) ? floor(x) : x; }
REF(ceil) { return isf(dt) ? ceil(x) : x; }
REF(trunc) { return isf(dt) ? trunc(x) : x; }
static int64_t ifloordiv(int64_t a, int64_t b) {
    int64_t qq = a / b, r = a % b;
    return (r != 0 && ((r < 0) != (b < 0))) ? qq - 1 : qq;
}
REF(round) {
    int d = P->decimals;
    if (isf(dt)) {
        if (d == 0) return rint(x);
        double f = pow(10.0, abs(d));
        return d > 0 ? rint(x * f) / f : rint(x / f) * f;
    }
    if (d >= 0) return x;
    int64_t f = 1;
    for (int k = 0; k < -d; k++) f *= 10;
    if (t_is_unsigned(dt)) { /* uint64's above INT64_MAX too */
        uint64_t a = U(x), uq = a / (uint64_t)f, r = a % (uint64_t)f;
        if (2 * r > (uint64_t)f || (2 * r == (uint64_t)f && (uq & 1))) uq++;
        return t_wrap_val(dt, uq * (uint64_t)f);
    }
    int64_t a = (int64_t)x, qq = ifloordiv(a, f), r = a - qq * f;
    if (2 * r > f || (2 * r == f && (qq & 1))) qq++;
    return t_wrap_val(dt, (uint64_t)qq * (uint64_t)f);
}
REF(reciprocal) { return 1.0 / x; }
REF(isnan) { return isnan(x); }
REF(isinf) { return isinf(x); }
REF(isfinite) { return isfinite(x); }
REF(signbit) { return signbit(x) != 0; }
REF(logical_not) { return x == 0; }
REF(bitwise_invert) { return dt == NPG_BOOL ? x == 0 : t_wrap_val(dt, ~U(x)); }
REF(clip) {
    if (isnan(x)) return x;
    if (!isnan(P->lo) && x < P->lo) x = P->lo;
    if (!isnan(P->hi) && x > P->hi) x = P->hi;
    return x;
}
REF(relu) { return x > 0 ? x : 0; }
REF(leaky_relu) { return x > 0 ? x : x * P->slope; }
static double sigm(double x) { return x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x)); }
REF(sigmoid) { return sigm(x); }
REF(silu) { return x * sigm(x); }
REF(gelu) { return 0.5 * x * (1 + erf(x / sqrt(2.0))); }
REF(gelu_tanh) { return 0.5 * x * (1 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x))); }
REF(softplus) { return fmax(x, 0) + log1p(exp(-fabs(x))); }

REF(add) { return isf(dt) ? x + y : t_wrap_val(dt, U(x) + U(y)); }
REF(subtract) { return isf(dt) ? x - y : t_wrap_val(dt, U(x) - U(y)); }
REF(multiply) { return isf(dt) ? x * y : t_wrap_val(dt, U(x) * U(y)); }
REF(divide) { return x / y; }
/* Python's float floor division and modulo (Objects/floatobject.c) */
static double py_fdiv(double a, double b) {
    if (b == 0) return a / b;
    double mod = fmod(a, b), div = (a - mod) / b;
    if (mod != 0 && ((b < 0) != (mod < 0))) div -= 1.0;
    if (div == 0) return copysign(0.0, a / b);
    double fl = floor(div);
    return div - fl > 0.5 ? fl + 1.0 : fl;
}
static double py_fmod(double a, double b) {
    if (b == 0) return fmod(a, b);
    double mod = fmod(a, b);
    if (mod != 0) return ((b < 0) != (mod < 0)) ? mod + b : mod;
    return copysign(0.0, b);
}
REF(floor_divide) {
    if (isf(dt)) return py_fdiv(x, y);
    if (y == 0) return 0;
    if (t_is_unsigned(dt)) return t_wrap_val(dt, U(x) / U(y));
    if (y == -1) return t_wrap_val(dt, 0 - U(x));
    return t_wrap_val(dt, (uint64_t)ifloordiv((int64_t)x, (int64_t)y));
}
REF(remainder) {
    if (isf(dt)) return py_fmod(x, y);
    if (y == 0 || y == -1) return 0;
    if (t_is_unsigned(dt)) return t_wrap_val(dt, U(x) % U(y));
    int64_t a = (int64_t)x, b = (int64_t)y, r = a % b;
    if (r != 0 && ((r < 0) != (b < 0))) r += b;
    return t_wrap_val(dt, (uint64_t)r);
}
REF(pow) {
    if (isf(dt)) return pow(x, y);
    if (y < 0) return x == 1 ? 1 : x == -1 ? (((int64_t)y & 1) ? -1 : 1) : 0;
    uint64_t r = 1;
    for (int64_t k = 0; k < (int64_t)y; k++) r *= U(x);
    return t_wrap_val(dt, r);
}
REF(atan2) { return atan2(x, y); }
REF(copysign) { return copysign(x, y); }
REF(hypot) { return hypot(x, y); }
REF(nextafter) { return dt == NPG_FLOAT32 ? (double)nextafterf((float)x, (float)y) : nextafter(x, y); }
REF(logaddexp) {
    if (x == y) return x + log(2.0);
    if (isnan(x) || isnan(y)) return NAN;
    return fmax(x, y) + log1p(exp(-fabs(x - y)));
}
REF(maximum) { return (isnan(x) || isnan(y)) ? NAN : (x > y ? x : y); }
REF(minimum) { return (isnan(x) || isnan(y)) ? NAN : (x < y ? x : y); }
REF(equal) { return x == y; }
REF(not_equal) { return x != y; }
REF(less) { return x < y; }
REF(less_equal) { return x <= y; }
REF(greater) { return x > y; }
REF(greater_equal) { return x >= y; }
REF(logical_and) { return (x != 0) && (y != 0); }
REF(logical_or) { return (x != 0) || (y != 0); }
REF(logical_xor) { return (x != 0) != (y != 0); }
REF(bitwise_and) { return t_wrap_val(dt, U(x) & U(y)); }
REF(bitwise_or) { return t_wrap_val(dt, U(x) | U(y)); }
REF(bitwise_xor) { return t_wrap_val(dt, U(x) ^ U(y)); }
REF(bitwise_left_shift) { return y >= t_int_bits(dt) ? 0 : t_wrap_val(dt, U(x) << (int)y); }
REF(bitwise_right_shift) {
    if (y >= t_int_bits(dt)) return x < 0 ? -1 : 0;
    return t_is_unsigned(dt) ? (double)(U(x) >> (int)y) : (double)((int64_t)x >> (int)y);
}

/* Domains: dom_<name>[0] for x / a, [1] for b. */
#define DOM1(name, lo, hi, ilo, ihi, fl) static const tdom dom_##name[2] = {{lo, hi, ilo, ihi, fl}, {0, 1, 0, 1, 0}};
#define DOM2(name, ...) static const tdom dom_##name[2] = {__VA_ARGS__};
#define FULLI(fl) {-10, 10, -IBIG, IBIG, fl}
DOM1(negative, -10, 10, -IBIG, IBIG, D_SPECIAL) DOM1(positive, -10, 10, -IBIG, IBIG, D_SPECIAL)
DOM1(abs, -10, 10, -IBIG, IBIG, D_SPECIAL | D_NZ) DOM1(sign, -10, 10, -IBIG, IBIG, D_SPECIAL)
DOM1(sqrt, 0.1, 100, 0, 1000, 0) DOM1(square, -10, 10, -IBIG, IBIG, 0) DOM1(exp, -5, 5, -5, 5, 0)
DOM1(expm1, -3, 3, -3, 3, 0) DOM1(log, 0.1, 5, 1, 100, 0) DOM1(log1p, -0.9, 5, 0, 100, 0) DOM1(log2, 0.1, 5, 1, 100, 0)
DOM1(log10, 0.1, 5, 1, 100, 0) DOM1(sin, -6, 6, -6, 6, 0) DOM1(cos, -6, 6, -6, 6, 0) DOM1(tan, -1.4, 1.4, -1, 1, 0)
DOM1(asin, -0.9, 0.9, -1, 1, 0) DOM1(acos, -0.9, 0.9, -1, 1, 0) DOM1(atan, -10, 10, -10, 10, 0) DOM1(sinh, -3, 3, -3, 3, 0)
DOM1(cosh, -3, 3, -3, 3, 0) DOM1(tanh, -4, 4, -4, 4, 0) DOM1(asinh, -10, 10, -10, 10, 0) DOM1(acosh, 1.1, 4, 1, 10, 0)
DOM1(atanh, -0.9, 0.9, -1, 1, 0) DOM1(erf, -3, 3, -3, 3, 0) DOM1(floor, -10, 10, -IBIG, IBIG, D_SPECIAL)
DOM1(ceil, -10, 10, -IBIG, IBIG, D_SPECIAL) DOM1(trunc, -10, 10, -IBIG, IBIG, D_SPECIAL)
DOM1(round, -10, 10, -IBIG, IBIG, D_SPECIAL) DOM1(reciprocal, -4, 4, -10, 10, D_NZ)
DOM1(isnan, -10, 10, -IBIG, IBIG, D_SPECIAL) DOM1(isinf, -10, 10, -IBIG, IBIG, D_SPECIAL)
DOM1(isfinite, -10, 10, -IBIG, IBIG, D_SPECIAL) DOM1(signbit, -10, 10, -IBIG, IBIG, D_SPECIAL)
DOM1(logical_not, -2, 2, -2, 2, D_SPECIAL | D_COARSE)
DOM1(bitwise_invert, -10, 10, -IBIG, IBIG, 0) DOM1(clip, -10, 10, -10, 10, 0) DOM1(relu, -10, 10, -IBIG, IBIG, 0)
DOM1(leaky_relu, -10, 10, -10, 10, 0) DOM1(sigmoid, -100, 100, -100, 100, 0) DOM1(silu, -20, 20, -20, 20, 0)
DOM1(gelu, -6, 6, -6, 6, 0) DOM1(gelu_tanh, -6, 6, -6, 6, 0) DOM1(softplus, -100, 100, -100, 100, 0)
DOM2(add, FULLI(0), FULLI(0)) DOM2(subtract, FULLI(0), FULLI(0)) DOM2(multiply, FULLI(0), FULLI(0))
DOM2(divide, FULLI(0), {-10, 10, -10, 10, D_NZ}) DOM2(floor_divide, {-10, 10, -100, 100, 0}, {-5, 5, -7, 7, D_NZ})
DOM2(remainder, {-10, 10, -100, 100, 0}, {-5, 5, -7, 7, D_NZ}) DOM2(pow, {0.5, 3, -6, 6, 0}, {-3, 3, -3, 9, 0})
DOM2(atan2, {-5, 5, -5, 5, 0}, {-5, 5, -5, 5, 0})
DOM2(copysign, {-10, 10, -100, 100, D_SPECIAL | D_NZ}, {-10, 10, -100, 100, D_SPECIAL})
DOM2(hypot, {-1e3, 1e3, -1000, 1000, D_SPECIAL | D_NZ}, {-1e3, 1e3, -1000, 1000, D_SPECIAL | D_NZ})
DOM2(nextafter, {-10, 10, -100, 100, D_SPECIAL}, {-10, 10, -100, 100, D_SPECIAL})
DOM2(logaddexp, {-50, 50, -50, 50, 0}, {-50, 50, -50, 50, 0})
#define CMPD {-2, 2, -3, 3, D_COARSE | D_SPECIAL}
DOM2(maximum, CMPD, CMPD) DOM2(minimum, CMPD, CMPD) DOM2(equal, CMPD, CMPD) DOM2(not_equal, CMPD, CMPD)
DOM2(less, CMPD, CMPD) DOM2(less_equal, CMPD, CMPD) DOM2(greater, CMPD, CMPD) DOM2(greater_equal, CMPD, CMPD)
DOM2(logical_and, CMPD, CMPD) DOM2(logical_or, CMPD, CMPD) DOM2(logical_xor, CMPD, CMPD)
DOM2(bitwise_and, FULLI(0), FULLI(0)) DOM2(bitwise_or, FULLI(0), FULLI(0)) DOM2(bitwise_xor, FULLI(0), FULLI(0))
DOM2(bitwise_left_shift, FULLI(0), {0, 1, 0, 1, D_SHIFT}) DOM2(bitwise_right_shift, FULLI(0), {0, 1, 0, 1, D_SHIFT})

/* Parameter sets of the UNARY_P ops (integer-valued clip bounds, so the
 * bounds mean the same for every dtype). */
static const tparam par_none[1] = {{0}};
static const tparam par_round[3] = {{.decimals = 0}, {.decimals = 2}, {.decimals = -1}};
static const tparam par_clip[3] = {{.lo = -3, .hi = 5}, {.lo = NAN, .hi = 4}, {.lo = 2, .hi = NAN}};
static const tparam par_leaky_relu[2] = {{.slope = 0.1}, {.slope = 0}};
#define NPAR(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* Callers: generated for plain unary ops, written out for UNARY_P. */
typedef npg_array *(*un_fn)(npg_array *x, const tparam *P);
#define C_UNARY(ID, name) \
    static npg_array *call_##name(npg_array *x, const tparam *P) { return npg_##name(x); }
#define C_NONE(ID, name)
#define C_UNARY_P C_NONE
#define C_BINARY C_NONE
#define C_WHERE C_NONE
#define C_REDUCE C_NONE
#define C_COMPOSITE C_NONE
#define C_SCAN C_NONE
#define C_COPY C_NONE
#define C_VIEW C_NONE
#define C_INDEX C_NONE
#define C_SORT C_NONE
#define C_MATMUL C_NONE
#define C_RANDOM C_NONE
#define C_NN C_NONE
#define NPG_OP(ID, name, family, arity, diff, rule) C_##family(ID, name)
#include "ops.def"
#undef NPG_OP
static npg_array *call_round(npg_array *x, const tparam *P) { return npg_round(x, P->decimals); }
static npg_array *call_clip(npg_array *x, const tparam *P) { return npg_clip(x, P->lo, P->hi); }
static npg_array *call_leaky_relu(npg_array *x, const tparam *P) { return npg_leaky_relu(x, P->slope); }

/* Where the ops of the other families are tested (a new op must be listed). */
enum { IN_HERE = 1, IN_REDUCE, IN_SHAPE, IN_LINALG, IN_OTHER, IN_NN, IN_AUTOGRAD };
static const char *const IN_FILE[] = {"", "tests/ops/test_elementwise.c", "tests/ops/test_reduce.c", "tests/ops/test_shape.c",
                                      "tests/ops/test_linalg_sort.c", "outside tests/ops (creation, copy and random suites)",
                                      "tests/nn (neural-network ops)", "tests/common/test_autograd.c"};
enum {
    TESTED_IN_where = IN_HERE, TESTED_IN_sum = IN_REDUCE, TESTED_IN_mean = IN_REDUCE, TESTED_IN_prod = IN_REDUCE,
    TESTED_IN_max = IN_REDUCE, TESTED_IN_min = IN_REDUCE, TESTED_IN_all = IN_REDUCE, TESTED_IN_any = IN_REDUCE,
    TESTED_IN_argmax = IN_REDUCE, TESTED_IN_argmin = IN_REDUCE, TESTED_IN_var = IN_REDUCE, TESTED_IN_std = IN_REDUCE,
    TESTED_IN_logsumexp = IN_REDUCE, TESTED_IN_cumsum = IN_REDUCE, TESTED_IN_cumprod = IN_REDUCE,
    TESTED_IN_concat = IN_SHAPE, TESTED_IN_stack = IN_SHAPE, TESTED_IN_repeat = IN_SHAPE, TESTED_IN_reshape = IN_SHAPE,
    TESTED_IN_permute_dims = IN_SHAPE, TESTED_IN_broadcast_to = IN_SHAPE, TESTED_IN_index = IN_SHAPE,
    TESTED_IN_diagonal = IN_SHAPE, TESTED_IN_take_along_axis = IN_SHAPE,
    TESTED_IN_strided_scatter = IN_SHAPE, /* the backward of every view */
    TESTED_IN_scatter_add = IN_SHAPE,     /* the backward of take / take_along_axis */
    TESTED_IN_sort = IN_LINALG, TESTED_IN_nonzero = IN_LINALG, TESTED_IN_matmul = IN_LINALG,
    TESTED_IN_copy = IN_OTHER, TESTED_IN_astype = IN_OTHER, TESTED_IN_to = IN_OTHER, TESTED_IN_fill = IN_OTHER,
    TESTED_IN_uniform = IN_OTHER, TESTED_IN_normal = IN_OTHER, TESTED_IN_randint = IN_OTHER,
    TESTED_IN_softmax = IN_NN, TESTED_IN_log_softmax = IN_NN, TESTED_IN_cross_entropy = IN_NN, TESTED_IN_im2col = IN_NN,
    TESTED_IN_col2im = IN_NN, TESTED_IN_max_pool2d = IN_NN, TESTED_IN_linear = IN_NN, TESTED_IN_conv2d = IN_NN,
    TESTED_IN_avg_pool2d = IN_NN, TESTED_IN_layer_norm = IN_NN, TESTED_IN_embedding = IN_NN, TESTED_IN_dropout = IN_NN,
    TESTED_IN_nll_loss = IN_NN, TESTED_IN_mse_loss = IN_NN, TESTED_IN_binary_cross_entropy_with_logits = IN_NN,
    TESTED_IN_custom = IN_AUTOGRAD, /* npg_custom */
};

typedef struct t_op {
    const char *name;
    int arity; /* 1, 2; 0 = not elementwise (tested elsewhere) */
    bool diff;
    trule rule;
    ref_fn ref;
    const tdom *dom;
    un_fn u;
    npg_array *(*b)(npg_array *, npg_array *);
    npg_array *(*bs)(npg_array *, double);
    npg_array *(*sb)(double, npg_array *);
    const tparam *par;
    int npar;
    int tested_in; /* IN_* */
} t_op;

#define T_UNARY(ID, name, diff, rule) \
    [NPG_OP_##ID] = {#name, 1, diff, R_##rule, ref_##name, dom_##name, call_##name, NULL, NULL, NULL, par_none, 1, IN_HERE},
#define T_UNARY_P(ID, name, diff, rule)                                                                         \
    [NPG_OP_##ID] = {#name, 1, diff, R_##rule, ref_##name, dom_##name, call_##name, NULL, NULL, NULL, par_##name, \
                     NPAR(par_##name), IN_HERE},
#define T_BINARY(ID, name, diff, rule)                                                                                 \
    [NPG_OP_##ID] = {#name, 2, diff, R_##rule, ref_##name, dom_##name, NULL, npg_##name, npg_##name##_scalar,          \
                     npg_scalar_##name, par_none, 1, IN_HERE},
#define T_OTHER(ID, name, diff, rule) [NPG_OP_##ID] = {#name, 0, diff, R_##rule, .tested_in = TESTED_IN_##name},
#define T_WHERE T_OTHER
#define T_REDUCE T_OTHER
#define T_COMPOSITE T_OTHER
#define T_SCAN T_OTHER
#define T_COPY T_OTHER
#define T_VIEW T_OTHER
#define T_INDEX T_OTHER
#define T_SORT T_OTHER
#define T_MATMUL T_OTHER
#define T_RANDOM T_OTHER
#define T_NN T_OTHER
static const t_op OPS[NPG_OP_COUNT] = {
#define NPG_OP(ID, name, family, arity, diff, rule) T_##family(ID, name, diff, rule)
#include "ops.def"
#undef NPG_OP
};

/* ------------------------------------------------------------------------
 * Shapes, views and host-side indexing
 * ------------------------------------------------------------------------ */



/* An input of logical shape s built as view vk of a base array filled from
 * domain D; hv receives the view's values, row-major. */
static npg_array *mk(npg_shape s, vkind vk, npg_dtype dt, const tdom *D, int sbits, uint64_t seed, double *hv) {
    if (s.ndim == 0) vk = V_C;
    npg_shape bs = base_shape(s, vk);
    int64_t nb = numel(bs), n = numel(s);
    double *bv = malloc(sizeof(double) * (size_t)(nb + 1));
    trng r = {seed * 0x9E3779B97F4A7C15ull + 7};
    for (int64_t k = 0; k < nb; k++) bv[k] = gen_val(D, dt, sbits, &r);
    npg_array *base = t_arr(bv, dt, bs), *x = view_of(base, vk);
    cr_assert(x, "building a %s view failed: %s", VNAME[vk], npg_last_error());
    for (int64_t k = 0; k < n; k++) hv[k] = bv[view_offset(k, s, vk, bs)];
    free(bv);
    return x;
}

/* ------------------------------------------------------------------------
 * Checks (non-aborting: one run lists every failure)
 * ------------------------------------------------------------------------ */

static long g_checks;

static void tol_for(npg_dtype odt, bool transc, double *rtol, double *atol) {
    if (odt == NPG_FLOAT64) {
        *rtol = 1e-12, *atol = 1e-13;
    } else if (odt == NPG_FLOAT32) {
        *rtol = transc ? 1e-4 : 1e-5, *atol = transc ? 1e-5 : 1e-6;
    } else if (ishalf(odt)) {
        /* float32's result rounded once: the reference rounded the same way
         * may sit one unit away at a tie (float32 vs float64 values); near 0
         * float32's own absolute error (gelu's tail) */
        *rtol = odt == NPG_FLOAT16 ? 0x1p-10 : 0x1p-7, *atol = transc ? 1e-5 : 1e-6;
    } else {
        *rtol = 0, *atol = 0;
    }
}
static double outconv(double r, npg_dtype odt) {
    if (ishalf(odt)) return q((double)(float)r, odt); /* computed in float32, rounded once */
    return odt == NPG_FLOAT32 ? (double)(float)r : odt == NPG_BOOL ? r != 0 : r;
}

/* The result exists, has dtype odt and shape s. */
static bool expect_meta(const npg_array *y, npg_dtype odt, npg_shape s, const char *label) {
    char b1[96], b2[96];
    cr_expect(y != NULL, "%s: returned NULL: %s", label, npg_last_error());
    if (!y) return false;
    cr_expect_eq(npg_dtype_of(y), odt, "%s: dtype %s, want %s", label, npg_dtype_name(npg_dtype_of(y)), npg_dtype_name(odt));
    bool ok = same_shape(npg_shape_of(y), s);
    cr_expect(ok, "%s: shape %s, want %s", label, sstr(npg_shape_of(y), b1), sstr(s, b2));
    return ok && npg_dtype_of(y) == odt;
}
static bool transc_op(const t_op *op) { return op->rule == R_FLOAT || op->ref == ref_pow; }

/* ------------------------------------------------------------------------
 * Unary ops
 * ------------------------------------------------------------------------ */

typedef struct ucase {
    npg_shape s;
    vkind v;
} ucase;
static const ucase UCASES[] = {
    {SH(5, 7, 3), V_C}, {SH(13), V_C},  {SH0, V_C},          {SH(0), V_C},   {SH(3, 0, 2), V_C},
    {SH(5, 7, 3), V_T}, {SH(5, 7, 3), V_S2}, {SH(13), V_S2}, {SH(5, 7, 3), V_NEG}, {SH(13), V_NEG},
};
#define NUC ((int)(sizeof UCASES / sizeof UCASES[0]))

static void check_unary(int oi, const tparam *P, npg_dtype dt, int ci) {
    const t_op *op = &OPS[oi];
    const ucase *c = &UCASES[ci];
    npg_dtype cdt = compute_dt(op->rule, dt), odt = out_dt(op->rule, dt);
    char label[512], sb[96];
    snprintf(label, sizeof label, "%s%s %s %s %s (decimals %d, lo %g, hi %g, slope %g)", "npg_", op->name, npg_dtype_name(dt),
             sstr(c->s, sb), VNAME[c->v], P->decimals, P->lo, P->hi, P->slope);
    npg_scope sc = npg_scope_begin();
    int64_t n = numel(c->s);
    double *hx = malloc(sizeof(double) * (size_t)(n + 1)), *want = malloc(sizeof(double) * (size_t)(n + 1));
    npg_array *x = mk(c->s, c->v, dt, &op->dom[0], 0, (uint64_t)(oi * 1000 + dt * 37 + ci), hx);
    npg_array *y = op->u(x, P);
    g_checks++;
    if (expect_meta(y, odt, c->s, label)) {
        for (int64_t k = 0; k < n; k++) want[k] = outconv(op->ref(q(hx[k], cdt), 0, cdt, P), odt);
        double rtol, atol;
        tol_for(odt, transc_op(op), &rtol, &atol);
        expect_vals(y, want, n, rtol, atol, label);
    }
    t_expect_unchanged(x, hx, n, label);
    free(hx), free(want);
    npg_scope_end(sc);
}

/* An op refusing dtype dt: NULL, NPG_ERR_DTYPE naming the function, no
 * new arrays, input unchanged. */
static void check_refused(const char *label, const char *fname, npg_array *y, t_live before) {
    g_checks++;
    cr_expect(y == NULL, "%s: unsupported dtype accepted", label);
    cr_expect_eq(npg_last_status(), NPG_ERR_DTYPE, "%s: status %s, want NPG_ERR_DTYPE (%s)", label,
                 npg_status_string(npg_last_status()), npg_last_error());
    cr_expect(strstr(npg_last_error(), fname) != NULL, "%s: message '%s' does not name %s", label, npg_last_error(), fname);
    t_live now = t_live_now();
    cr_expect(now.arrays == before.arrays && now.storages == before.storages, "%s: failed call leaked %lld arrays", label,
              (long long)(now.arrays - before.arrays));
}

/* dtype d is accepted by op: its rule's, except nextafter on the half types
 * (their next value is not float32's; npg.h) */
static bool op_ok(const t_op *op, npg_dtype d) { return accepts(op->rule, d) && !(op->ref == ref_nextafter && ishalf(d)); }

Test(elementwise, unary_values) {
    t_require_device();
    t_live l0 = t_live_now();
    for (int oi = 0; oi < NPG_OP_COUNT; oi++) {
        const t_op *op = &OPS[oi];
        if (op->arity != 1) continue;
        for (int pi = 0; pi < op->npar; pi++)
            for (int di = 0; di < NDTS; di++) {
                npg_dtype dt = DTS[di];
                if (!op_ok(op, dt)) continue;
                for (int ci = 0; ci < NUC; ci++) check_unary(oi, &op->par[pi], dt, ci);
            }
    }
    t_assert_no_leak(l0, "unary sweep");
    cr_log_info("unary_values: %ld checks", g_checks);
}

Test(elementwise, unsupported_dtypes) {
    t_require_device();
    t_live l0 = t_live_now();
    for (int oi = 0; oi < NPG_OP_COUNT; oi++) {
        const t_op *op = &OPS[oi];
        if (op->arity == 0) continue;
        char fname[64], label[128];
        for (int ia = 0; ia < NDTS; ia++)
            for (int ib = 0; ib < (op->arity == 2 ? NDTS : 1); ib++) {
                npg_dtype da = DTS[ia], db = DTS[ib];
                npg_dtype pr = op->arity == 2 ? promote(da, db) : da;
                if (op_ok(op, pr)) continue;
                npg_scope sc = npg_scope_begin();
                double v[6] = {1, 0, 1, 1, 0, 1};
                npg_array *a = t_arr(v, da, (npg_shape)SH(2, 3)), *b = t_arr(v, db, (npg_shape)SH(2, 3));
                t_live before = t_live_now();
                snprintf(fname, sizeof fname, "npg_%s", op->name);
                if (op->arity == 1) {
                    snprintf(label, sizeof label, "%s(%s)", fname, npg_dtype_name(da));
                    check_refused(label, fname, op->u(a, &op->par[0]), before);
                } else {
                    snprintf(label, sizeof label, "%s(%s, %s)", fname, npg_dtype_name(da), npg_dtype_name(db));
                    check_refused(label, fname, op->b(a, b), before);
                    if (da == db) {
                        snprintf(label, sizeof label, "%s_scalar(%s)", fname, npg_dtype_name(da));
                        char f2[80];
                        snprintf(f2, sizeof f2, "npg_%s_scalar", op->name);
                        check_refused(label, f2, op->bs(a, 1), before);
                        snprintf(label, sizeof label, "npg_scalar_%s(%s)", op->name, npg_dtype_name(da));
                        snprintf(f2, sizeof f2, "npg_scalar_%s", op->name);
                        check_refused(label, f2, op->sb(1, a), before);
                    }
                }
                t_expect_unchanged(a, (double[]){1, 0, 1, 1, 0, 1}, 6, label);
                npg_scope_end(sc);
            }
    }
    t_assert_no_leak(l0, "unsupported dtypes");
    cr_log_info("unsupported_dtypes: %ld checks", g_checks);
}

/* ------------------------------------------------------------------------
 * Binary ops: same dtype and every promotion pair, every shape pair
 * ------------------------------------------------------------------------ */

typedef struct bcase {
    npg_shape sa;
    vkind va;
    npg_shape sb;
    vkind vb;
} bcase;
static const bcase BCASES[] = {
    {SH(5, 7, 3), V_C, SH(5, 7, 3), V_C},     {SH(13), V_C, SH(13), V_C},         {SH0, V_C, SH0, V_C},
    {SH(0), V_C, SH(0), V_C},                 {SH(3, 0, 2), V_C, SH(3, 0, 2), V_C}, {SH(3, 0, 2), V_C, SH(1, 2), V_C},
    {SH(5, 1, 3), V_C, SH(7, 1), V_C},        {SH(1), V_C, SH(4, 3), V_C},        {SH0, V_C, SH(2, 3), V_C},
    {SH(2, 3), V_C, SH0, V_C},                {SH(5, 7, 3), V_T, SH(5, 7, 3), V_C}, {SH(5, 7, 3), V_C, SH(5, 7, 3), V_S2},
    {SH(13), V_NEG, SH(13), V_S2},            {SH(5, 7, 3), V_NEG, SH(7, 1), V_C},
};
#define NBC ((int)(sizeof BCASES / sizeof BCASES[0]))

static void check_binary(int oi, npg_dtype da, npg_dtype db, int ci) {
    const t_op *op = &OPS[oi];
    const bcase *c = &BCASES[ci];
    npg_dtype pr = promote(da, db), cdt = compute_dt(op->rule, pr), odt = out_dt(op->rule, pr);
    char label[512], s1[96], s2[96];
    snprintf(label, sizeof label, "npg_%s(%s %s %s, %s %s %s)", op->name, npg_dtype_name(da), sstr(c->sa, s1), VNAME[c->va],
             npg_dtype_name(db), sstr(c->sb, s2), VNAME[c->vb]);
    npg_scope sc = npg_scope_begin();
    npg_shape so = bshape(c->sa, c->sb);
    int64_t na = numel(c->sa), nb = numel(c->sb), n = numel(so);
    double *ha = malloc(sizeof(double) * (size_t)(na + 1)), *hb = malloc(sizeof(double) * (size_t)(nb + 1));
    double *want = malloc(sizeof(double) * (size_t)(n + 1));
    int bits = t_is_int(cdt) ? t_int_bits(cdt) : 8;
    uint64_t seed = (uint64_t)(oi * 100000 + da * 1000 + db * 50 + ci);
    npg_array *a = mk(c->sa, c->va, da, &op->dom[0], bits, seed, ha);
    npg_array *b = mk(c->sb, c->vb, db, &op->dom[1], bits, seed + 7777, hb);
    npg_array *y = op->b(a, b);
    g_checks++;
    if (expect_meta(y, odt, so, label)) {
        for (int64_t k = 0; k < n; k++)
            want[k] = outconv(op->ref(q(ha[bidx(k, so, c->sa)], cdt), q(hb[bidx(k, so, c->sb)], cdt), cdt, NULL), odt);
        double rtol, atol;
        tol_for(odt, transc_op(op), &rtol, &atol);
        expect_vals(y, want, n, rtol, atol, label);
    }
    t_expect_unchanged(a, ha, na, label);
    t_expect_unchanged(b, hb, nb, label);
    free(ha), free(hb), free(want);
    npg_scope_end(sc);
}

static void binary_sweep(bool mixed) {
    t_require_device();
    t_live l0 = t_live_now();
    for (int oi = 0; oi < NPG_OP_COUNT; oi++) {
        if (OPS[oi].arity != 2) continue;
        for (int ia = 0; ia < NDTS; ia++)
            for (int ib = 0; ib < NDTS; ib++) {
                if ((ia != ib) != mixed) continue;
                if (!op_ok(&OPS[oi], promote(DTS[ia], DTS[ib]))) continue;
                for (int ci = 0; ci < NBC; ci++) check_binary(oi, DTS[ia], DTS[ib], ci);
            }
    }
    t_assert_no_leak(l0, "binary sweep");
    cr_log_info("binary sweep (%s): %ld checks", mixed ? "mixed dtypes" : "same dtype", g_checks);
}
Test(elementwise, binary_values_same_dtype) { binary_sweep(false); }
Test(elementwise, binary_values_promotion) { binary_sweep(true); }

Test(elementwise, result_type_table) {
    for (int i = 0; i < NDTS; i++)
        for (int j = 0; j < NDTS; j++)
            cr_expect_eq(npg_result_type(DTS[i], DTS[j]), promote(DTS[i], DTS[j]), "npg_result_type(%s, %s) = %s, want %s",
                         npg_dtype_name(DTS[i]), npg_dtype_name(DTS[j]), npg_dtype_name(npg_result_type(DTS[i], DTS[j])),
                         npg_dtype_name(promote(DTS[i], DTS[j])));
    /* the table is symmetric, and what npg_add (and the weak-scalar forms,
     * which keep the array's dtype) actually return */
    t_require_device();
    npg_scope sc = npg_scope_begin();
    for (int i = 0; i < NDTS; i++) {
        npg_array *a = t_arr((double[]){1, 0}, DTS[i], (npg_shape)SH(2));
        for (int j = 0; j < NDTS; j++) {
            cr_expect_eq(PROMOTE[i][j], PROMOTE[j][i], "the promotion table is not symmetric at (%s, %s)", npg_dtype_name(DTS[i]),
                         npg_dtype_name(DTS[j]));
            npg_array *b = t_arr((double[]){1, 1}, DTS[j], (npg_shape)SH(2));
            npg_array *y = npg_add(a, b);
            npg_dtype want = promote(DTS[i], DTS[j]);
            if (want == NPG_BOOL) { /* add refuses bool; maximum takes any dtype */
                cr_expect(y == NULL && npg_last_status() == NPG_ERR_DTYPE, "npg_add(bool, bool) must be refused");
                npg_clear_error();
                y = npg_maximum(a, b);
            }
            cr_expect(y != NULL, "npg_add(%s, %s): %s", npg_dtype_name(DTS[i]), npg_dtype_name(DTS[j]), npg_last_error());
            if (y)
                cr_expect_eq(npg_dtype_of(y), want, "npg_add(%s, %s) has dtype %s, want %s", npg_dtype_name(DTS[i]),
                             npg_dtype_name(DTS[j]), npg_dtype_name(npg_dtype_of(y)), npg_dtype_name(want));
        }
        if (DTS[i] == NPG_BOOL) continue;
        static const double sv[3] = {2, -1.5, 1e10};
        for (int k = 0; k < 3; k++) {
            npg_array *y = npg_add_scalar(a, sv[k]), *z = npg_scalar_multiply(sv[k], a);
            cr_expect(y && npg_dtype_of(y) == DTS[i], "npg_add_scalar(%s, %g) must keep the dtype", npg_dtype_name(DTS[i]), sv[k]);
            cr_expect(z && npg_dtype_of(z) == DTS[i], "npg_scalar_multiply(%g, %s) must keep the dtype", sv[k], npg_dtype_name(DTS[i]));
        }
    }
    npg_scope_end(sc);
}

/* Weak scalars: s takes the array's dtype (rule applied to it alone). */
static void check_scalar_form(int oi, npg_dtype dt, int ci, bool scalar_first) {
    const t_op *op = &OPS[oi];
    const ucase *c = &UCASES[ci];
    npg_dtype cdt = compute_dt(op->rule, dt), odt = out_dt(op->rule, dt);
    int bits = t_is_int(cdt) ? t_int_bits(cdt) : 8;
    trng r = {(uint64_t)(oi * 131 + dt * 7 + ci)};
    double s = gen_val(&op->dom[scalar_first ? 0 : 1], cdt, bits, &r);
    if (isnan(s) || isinf(s)) s = 1.5; /* a plain number; specials are covered above */
    s = q(s, cdt);
    char label[512], sb[96];
    if (scalar_first)
        snprintf(label, sizeof label, "npg_scalar_%s(%.17g, %s %s %s)", op->name, s, npg_dtype_name(dt), sstr(c->s, sb), VNAME[c->v]);
    else
        snprintf(label, sizeof label, "npg_%s_scalar(%s %s %s, %.17g)", op->name, npg_dtype_name(dt), sstr(c->s, sb), VNAME[c->v], s);
    npg_scope sc = npg_scope_begin();
    int64_t n = numel(c->s);
    double *hx = malloc(sizeof(double) * (size_t)(n + 1)), *want = malloc(sizeof(double) * (size_t)(n + 1));
    npg_array *x = mk(c->s, c->v, dt, &op->dom[scalar_first ? 1 : 0], bits, (uint64_t)(oi * 977 + dt * 13 + ci), hx);
    npg_array *y = scalar_first ? op->sb(s, x) : op->bs(x, s);
    g_checks++;
    if (expect_meta(y, odt, c->s, label)) {
        for (int64_t k = 0; k < n; k++) {
            double xv = q(hx[k], cdt);
            want[k] = outconv(scalar_first ? op->ref(s, xv, cdt, NULL) : op->ref(xv, s, cdt, NULL), odt);
        }
        double rtol, atol;
        tol_for(odt, transc_op(op), &rtol, &atol);
        expect_vals(y, want, n, rtol, atol, label);
    }
    t_expect_unchanged(x, hx, n, label);
    free(hx), free(want);
    npg_scope_end(sc);
}

Test(elementwise, binary_scalar_forms) {
    t_require_device();
    t_live l0 = t_live_now();
    for (int oi = 0; oi < NPG_OP_COUNT; oi++) {
        if (OPS[oi].arity != 2) continue;
        for (int di = 0; di < NDTS; di++) {
            if (!op_ok(&OPS[oi], DTS[di])) continue;
            for (int ci = 0; ci < NUC; ci++) {
                check_scalar_form(oi, DTS[di], ci, false);
                check_scalar_form(oi, DTS[di], ci, true);
            }
        }
    }
    t_assert_no_leak(l0, "scalar forms");
    cr_log_info("binary_scalar_forms: %ld checks", g_checks);
}

/* The documented weak-scalar examples of npg.h. */
Test(elementwise, weak_scalar_examples) {
    t_require_device();
    npg_scope sc = npg_scope_begin();
    npg_array *i = t_arr((double[]){1, 3, 5}, NPG_INT32, (npg_shape)SH(3));
    npg_array *f = t_arr((double[]){1, 3, 5}, NPG_FLOAT32, (npg_shape)SH(3));
    npg_array *y = npg_multiply_scalar(i, 0.5);
    cr_assert(y && npg_dtype_of(y) == NPG_INT32, "int32 * 0.5 must stay int32");
    t_assert_close(y, (double[]){0, 0, 0}, 3, 0, 0, "int32 * 0.5 multiplies by 0");
    y = npg_multiply_scalar(i, 2);
    cr_assert(y && npg_dtype_of(y) == NPG_INT32, "int32 * 2 must stay int32");
    t_assert_close(y, (double[]){2, 6, 10}, 3, 0, 0, "int32 * 2");
    y = npg_add_scalar(f, 1.5);
    cr_assert(y && npg_dtype_of(y) == NPG_FLOAT32, "float32 + 1.5 must stay float32");
    t_assert_close(y, (double[]){2.5, 4.5, 6.5}, 3, 0, 0, "float32 + 1.5");
    y = npg_scalar_subtract(10, i);
    t_assert_close(y, (double[]){9, 7, 5}, 3, 0, 0, "10 - int32");
    y = npg_divide_scalar(i, 2);
    cr_assert(y && npg_dtype_of(y) == NPG_FLOAT32, "int32 / 2 is floating (float32)");
    t_assert_close(y, (double[]){0.5, 1.5, 2.5}, 3, 0, 0, "int32 / 2");
    npg_array *b = t_arr((double[]){1, 0}, NPG_BOOL, (npg_shape)SH(2));
    y = npg_divide(b, b);
    cr_assert(y && npg_dtype_of(y) == NPG_FLOAT32, "bool / bool is float32 (divide admits bool)");
    t_assert_close(y, (double[]){1, NAN}, 2, 0, 0, "bool / bool");
    npg_scope_end(sc);
}

/* Weak scalars on the narrow and unsigned integers: the scalar truncates
 * toward zero and takes the array's dtype (a negative one wraps into an
 * unsigned dtype: uint16 + -1 subtracts 1), the arithmetic wraps, divide
 * gives float32, comparisons see the unsigned values above INT64_MAX. */
Test(elementwise, weak_scalar_integers) {
    t_require_device();
    npg_scope sc = npg_scope_begin();
    const uint64_t H = 1ull << 63, M = UINT64_MAX;
    npg_array *i8 = from_bits(UB64((uint64_t)100, (uint64_t)-100, 5), 3, NPG_INT8);
    expect_bits(npg_add_scalar(i8, 50), NPG_INT8, UB64((uint64_t)-106, (uint64_t)-50, 55), 3, "int8 + 50 wraps");
    expect_bits(npg_multiply_scalar(i8, 0.5), NPG_INT8, UB64(0, 0, 0), 3, "int8 * 0.5 multiplies by 0");
    expect_bits(npg_add_scalar(i8, -1.9), NPG_INT8, UB64(99, (uint64_t)-101, 4), 3, "int8 + -1.9 adds -1");
    expect_bits(npg_scalar_subtract(-100, i8), NPG_INT8, UB64(56, 0, (uint64_t)-105), 3, "-100 - int8 wraps");
    expect_bits(npg_maximum_scalar(i8, -5), NPG_INT8, UB64(100, (uint64_t)-5, 5), 3, "maximum(int8, -5)");
    expect_bits(npg_bitwise_right_shift_scalar(from_bits(UB64((uint64_t)-128, 127), 2, NPG_INT8), 7), NPG_INT8, UB64((uint64_t)-1, 0), 2,
                "int8 >> 7");
    npg_array *i16 = from_bits(UB64(32767, (uint64_t)-32768, 7), 3, NPG_INT16);
    expect_bits(npg_subtract_scalar(i16, 1), NPG_INT16, UB64(32766, 32767, 6), 3, "int16 - 1 wraps");
    expect_bits(npg_multiply_scalar(i16, 2), NPG_INT16, UB64((uint64_t)-2, 0, 14), 3, "int16 * 2 wraps");
    npg_array *u16 = from_bits(UB64(0, 1, 65535), 3, NPG_UINT16);
    expect_bits(npg_add_scalar(u16, -1), NPG_UINT16, UB64(65535, 0, 65534), 3, "uint16 + -1 subtracts 1 (wraps)");
    expect_bits(npg_multiply_scalar(u16, 65535), NPG_UINT16, UB64(0, 65535, 1), 3, "uint16 * 65535 (no int overflow)");
    npg_array *d = npg_divide_scalar(u16, 2);
    cr_expect(d && npg_dtype_of(d) == NPG_FLOAT32, "uint16 / 2 is float32");
    t_assert_close(d, (double[]){0, 0.5, 32767.5}, 3, 0, 0, "uint16 / 2");
    npg_array *u32 = from_bits(UB64(1, 0, 4294967295u), 3, NPG_UINT32);
    expect_bits(npg_scalar_subtract(0, u32), NPG_UINT32, UB64(4294967295u, 0, 1), 3, "0 - uint32 wraps");
    expect_bits(npg_greater_scalar(u32, 2147483647), NPG_BOOL, UB64(0, 0, 1), 3, "uint32 > 2^31 - 1 (unsigned compare)");
    npg_array *u64 = from_bits(UB64(0, H, M), 3, NPG_UINT64);
    expect_bits(npg_add_scalar(u64, 1e19), NPG_UINT64, UB64(10000000000000000000u, H + 10000000000000000000u, 9999999999999999999u),
                3, "uint64 + 1e19 wraps");
    expect_bits(npg_multiply_scalar(u64, -1), NPG_UINT64, UB64(0, H, 1), 3, "uint64 * -1 negates (wraps)");
    expect_bits(npg_subtract_scalar(u64, 9223372036854775808.0), NPG_UINT64, UB64(H, 0, H - 1), 3, "uint64 - 2^63");
    expect_bits(npg_less_scalar(u64, 9.3e18), NPG_BOOL, UB64(1, 1, 0), 3, "uint64 < 9.3e18 (above INT64_MAX)");
    expect_bits(npg_maximum_scalar(u64, 5), NPG_UINT64, UB64(5, H, M), 3, "maximum(uint64, 5)");
    expect_bits(npg_bitwise_and_scalar(u64, 9223372036854775808.0), NPG_UINT64, UB64(0, H, H), 3, "uint64 & 2^63");
    expect_bits(npg_floor_divide_scalar(u64, 3), NPG_UINT64, UB64(0, 3074457345618258602u, 6148914691236517205u), 3,
                "uint64 // 3 (unsigned division)");
    expect_bits(npg_scalar_remainder(18446744073709549568.0, from_bits(UB64(10, 0, H), 3, NPG_UINT64)), NPG_UINT64,
                UB64(8, 0, 9223372036854773760u), 3, "(2^64 - 2048) % uint64");
    npg_scope_end(sc);
}

/* ------------------------------------------------------------------------
 * Integer semantics at the edges (exact int64 data, exact comparison)
 * ------------------------------------------------------------------------ */

static npg_array *iarr(const int64_t *v, int n, npg_dtype dt) {
    npg_array *x = npg_from_data(v, NPG_INT64, (npg_shape){.ndim = 1, .dims = {n}}, NPG_OPTS(.dtype = dt, .device = t_dev()));
    cr_assert(x, "iarr: %s", npg_last_error());
    return x;
}
static void read_i64(const npg_array *x, int64_t *out, int n) {
    npg_array *c = npg_astype((npg_array *)x, NPG_INT64);
    cr_assert(c && npg_copy_to_host(c, out, sizeof(int64_t) * (size_t)n) == NPG_OK, "read_i64: %s", npg_last_error());
    npg_free(c);
}
typedef struct iedge {
    npg_op op;
    npg_dtype dt;
    int64_t a, b, want;
} iedge;
#define I64MAX INT64_MAX
#define I64MIN INT64_MIN
#define O_(x) NPG_OP_##x
#define BL NPG_BOOL
#define U8 NPG_UINT8
#define I32 NPG_INT32
#define I64 NPG_INT64
#define I8 NPG_INT8
#define I16 NPG_INT16
#define U16 NPG_UINT16
#define U32 NPG_UINT32
#define U64 NPG_UINT64
#define UV(x) ((int64_t)(uint64_t)(x)) /* a uint64 value by its bits */
#define UMAX UINT64_MAX
#define HB (1ull << 63)
static const iedge IEDGES[] = {
    {O_(ADD), I32, 2147483647, 1, -2147483648LL}, {O_(SUBTRACT), I32, -2147483648LL, 1, 2147483647},
    {O_(MULTIPLY), I32, 65536, 65536, 0}, {O_(MULTIPLY), I32, 65537, 65537, 131073}, {O_(ADD), I64, I64MAX, 1, I64MIN},
    {O_(MULTIPLY), I64, I64MAX, 2, -2}, {O_(ADD), U8, 250, 10, 4}, {O_(SUBTRACT), U8, 3, 5, 254}, {O_(MULTIPLY), U8, 16, 16, 0},
    {O_(FLOOR_DIVIDE), I32, 7, 0, 0}, {O_(FLOOR_DIVIDE), I32, -7, 2, -4}, {O_(FLOOR_DIVIDE), I32, 7, -2, -4},
    {O_(FLOOR_DIVIDE), I32, -7, -2, 3}, {O_(FLOOR_DIVIDE), I32, -2147483648LL, -1, -2147483648LL},
    {O_(FLOOR_DIVIDE), I64, I64MIN, -1, I64MIN}, {O_(FLOOR_DIVIDE), I64, 0, 0, 0}, {O_(FLOOR_DIVIDE), U8, 7, 0, 0},
    {O_(REMAINDER), I32, 7, 0, 0}, {O_(REMAINDER), I32, -7, 2, 1}, {O_(REMAINDER), I32, 7, -2, -1},
    {O_(REMAINDER), I32, -7, -2, -1}, {O_(REMAINDER), I64, I64MIN, -1, 0}, {O_(REMAINDER), U8, 7, 0, 0}, {O_(POW), I32, 2, -1, 0},
    {O_(POW), I32, 1, -5, 1}, {O_(POW), I32, -1, -3, -1}, {O_(POW), I32, -1, -2, 1}, {O_(POW), I64, 0, 0, 1},
    {O_(POW), I64, 0, -1, 0}, {O_(POW), I32, 3, 40, 689956897 /* 3^40 mod 2^32 */}, {O_(POW), I64, 2, 63, I64MIN},
    {O_(POW), I64, 2, 64, 0}, {O_(POW), U8, 2, 8, 0}, {O_(POW), U8, 3, 5, 243}, {O_(BITWISE_LEFT_SHIFT), I32, 1, 31, -2147483648LL},
    {O_(BITWISE_LEFT_SHIFT), I32, 1, 32, 0}, {O_(BITWISE_LEFT_SHIFT), I32, 1, 40, 0}, {O_(BITWISE_LEFT_SHIFT), I32, -1, 3, -8},
    {O_(BITWISE_LEFT_SHIFT), I64, 1, 64, 0}, {O_(BITWISE_LEFT_SHIFT), U8, 1, 8, 0}, {O_(BITWISE_LEFT_SHIFT), U8, 255, 1, 254},
    {O_(BITWISE_RIGHT_SHIFT), I32, -8, 1, -4}, {O_(BITWISE_RIGHT_SHIFT), I32, -1, 40, -1},
    {O_(BITWISE_RIGHT_SHIFT), I32, -8, 32, -1}, {O_(BITWISE_RIGHT_SHIFT), I32, 8, 32, 0},
    {O_(BITWISE_RIGHT_SHIFT), I64, -5, 64, -1}, {O_(BITWISE_RIGHT_SHIFT), I64, I64MIN, 63, -1},
    {O_(BITWISE_RIGHT_SHIFT), U8, 255, 8, 0}, {O_(BITWISE_RIGHT_SHIFT), U8, 255, 3, 31},
    {O_(BITWISE_AND), I64, I64MIN, -1, I64MIN}, {O_(BITWISE_XOR), I32, -1, 0x0F0F0F0F, (int32_t)0xF0F0F0F0u},
    {O_(MAXIMUM), I64, I64MAX, I64MIN, I64MAX}, {O_(MINIMUM), I64, I64MAX, I64MIN, I64MIN},
    {O_(LESS), I64, I64MAX - 1, I64MAX, 1}, {O_(EQUAL), I64, I64MAX - 1, I64MAX, 0},
    /* unary ops: b unused */
    {O_(NEGATIVE), I32, -2147483648LL, 0, -2147483648LL}, {O_(NEGATIVE), U8, 1, 0, 255}, {O_(ABS), I64, I64MIN, 0, I64MIN},
    {O_(SQUARE), I32, 65536, 0, 0}, {O_(SIGN), U8, 0, 0, 0}, {O_(SIGN), U8, 200, 0, 1}, {O_(SIGN), I64, I64MIN, 0, -1},
    {O_(BITWISE_INVERT), I32, 0, 0, -1}, {O_(BITWISE_INVERT), U8, 0, 0, 255}, {O_(BITWISE_INVERT), BL, 1, 0, 0},
    {O_(BITWISE_INVERT), BL, 0, 0, 1}, {O_(RELU), I64, I64MIN, 0, 0}, {O_(FLOOR), I64, I64MAX, 0, I64MAX},
    {O_(ROUND), I64, I64MAX, 0, I64MAX},
    /* the narrow and unsigned integers (uint64 values by their bits: UV) */
    {O_(ADD), I8, 127, 1, -128}, {O_(SUBTRACT), I8, -128, 1, 127}, {O_(MULTIPLY), I8, 16, 16, 0}, {O_(MULTIPLY), I8, -128, -1, -128},
    {O_(MULTIPLY), I8, 11, 12, -124}, {O_(FLOOR_DIVIDE), I8, -128, -1, -128}, {O_(FLOOR_DIVIDE), I8, -7, 2, -4},
    {O_(FLOOR_DIVIDE), I8, 7, 0, 0}, {O_(REMAINDER), I8, -128, -1, 0}, {O_(REMAINDER), I8, -7, 3, 2}, {O_(REMAINDER), I8, 7, -3, -2},
    {O_(REMAINDER), I8, 7, 0, 0}, {O_(POW), I8, 3, 5, -13}, {O_(POW), I8, 2, 7, -128}, {O_(POW), I8, -1, -3, -1}, {O_(POW), I8, 2, -1, 0},
    {O_(BITWISE_LEFT_SHIFT), I8, 1, 7, -128}, {O_(BITWISE_LEFT_SHIFT), I8, 1, 8, 0}, {O_(BITWISE_LEFT_SHIFT), I8, -1, 7, -128},
    {O_(BITWISE_LEFT_SHIFT), I8, 3, 100, 0}, {O_(BITWISE_LEFT_SHIFT), I8, 5, -1, 0}, {O_(BITWISE_RIGHT_SHIFT), I8, -128, 7, -1},
    {O_(BITWISE_RIGHT_SHIFT), I8, -128, 8, -1}, {O_(BITWISE_RIGHT_SHIFT), I8, 127, 8, 0}, {O_(BITWISE_RIGHT_SHIFT), I8, -7, 1, -4},
    {O_(BITWISE_RIGHT_SHIFT), I8, 127, 6, 1}, {O_(BITWISE_RIGHT_SHIFT), I8, -5, -1, -1}, {O_(BITWISE_AND), I8, -128, -1, -128},
    {O_(BITWISE_XOR), I8, -1, 15, -16}, {O_(MAXIMUM), I8, -128, 127, 127}, {O_(MINIMUM), I8, -128, 127, -128},
    {O_(LESS), I8, -128, 127, 1}, {O_(GREATER), I8, -1, 0, 0},
    {O_(ADD), I16, 32767, 1, -32768}, {O_(MULTIPLY), I16, 256, 256, 0}, {O_(MULTIPLY), I16, 181, 181, 32761},
    {O_(MULTIPLY), I16, 182, 182, -32412}, {O_(MULTIPLY), I16, -32768, -1, -32768}, {O_(FLOOR_DIVIDE), I16, -32768, -1, -32768},
    {O_(REMAINDER), I16, -32768, 7, 6}, {O_(POW), I16, 2, 15, -32768}, {O_(POW), I16, 3, 11, -19461},
    {O_(BITWISE_LEFT_SHIFT), I16, 1, 15, -32768}, {O_(BITWISE_LEFT_SHIFT), I16, 1, 16, 0}, {O_(BITWISE_LEFT_SHIFT), I16, 5, -1, 0},
    {O_(BITWISE_RIGHT_SHIFT), I16, -32768, 15, -1}, {O_(BITWISE_RIGHT_SHIFT), I16, -32768, 16, -1},
    {O_(BITWISE_RIGHT_SHIFT), I16, 32767, 16, 0}, {O_(BITWISE_RIGHT_SHIFT), I16, 100, -1, 0}, {O_(BITWISE_RIGHT_SHIFT), I16, -100, -3, -1},
    {O_(MAXIMUM), I16, -32768, 32767, 32767},
    {O_(ADD), U16, 65535, 1, 0}, {O_(SUBTRACT), U16, 0, 1, 65535}, {O_(MULTIPLY), U16, 65535, 65535, 1}, {O_(MULTIPLY), U16, 256, 256, 0},
    {O_(MULTIPLY), U16, 300, 300, 24464}, {O_(FLOOR_DIVIDE), U16, 65535, 0, 0}, {O_(FLOOR_DIVIDE), U16, 65535, 256, 255},
    {O_(REMAINDER), U16, 65535, 256, 255}, {O_(REMAINDER), U16, 7, 0, 0}, {O_(POW), U16, 2, 16, 0}, {O_(POW), U16, 3, 11, 46075},
    {O_(POW), U16, 65535, 2, 1}, {O_(POW), U16, 65535, 3, 65535}, {O_(BITWISE_LEFT_SHIFT), U16, 1, 15, 32768},
    {O_(BITWISE_LEFT_SHIFT), U16, 1, 16, 0}, {O_(BITWISE_LEFT_SHIFT), U16, 65535, 8, 65280}, {O_(BITWISE_RIGHT_SHIFT), U16, 65535, 15, 1},
    {O_(BITWISE_RIGHT_SHIFT), U16, 65535, 16, 0}, {O_(BITWISE_RIGHT_SHIFT), U16, 32768, 15, 1},
    {O_(BITWISE_RIGHT_SHIFT), U16, 32768, 40000, 0}, {O_(MAXIMUM), U16, 65535, 0, 65535}, {O_(LESS), U16, 32768, 32767, 0},
    {O_(GREATER), U16, 65535, 1, 1},
    {O_(ADD), U32, 4294967295, 1, 0}, {O_(SUBTRACT), U32, 0, 1, 4294967295}, {O_(MULTIPLY), U32, 65536, 65536, 0},
    {O_(MULTIPLY), U32, 4294967295, 4294967295, 1}, {O_(FLOOR_DIVIDE), U32, 4294967295, 2, 2147483647},
    {O_(FLOOR_DIVIDE), U32, 4294967295, 0, 0}, {O_(REMAINDER), U32, 4294967295, 10, 5}, {O_(POW), U32, 2, 32, 0},
    {O_(POW), U32, 3, 21, 1870418611 /* 3^21 mod 2^32 */}, {O_(POW), U32, 4294967295, 3, 4294967295},
    {O_(BITWISE_LEFT_SHIFT), U32, 1, 31, 2147483648}, {O_(BITWISE_LEFT_SHIFT), U32, 1, 32, 0},
    {O_(BITWISE_RIGHT_SHIFT), U32, 2147483648, 31, 1}, {O_(BITWISE_RIGHT_SHIFT), U32, 4294967295, 32, 0},
    {O_(BITWISE_RIGHT_SHIFT), U32, 4294967295, 4, 268435455}, {O_(LESS), U32, 2147483648, 2147483647, 0},
    {O_(MAXIMUM), U32, 4294967295, 1, 4294967295}, {O_(MINIMUM), U32, 4294967295, 1, 1},
    {O_(ADD), U64, UV(UMAX), 1, 0}, {O_(SUBTRACT), U64, 0, 1, UV(UMAX)}, {O_(MULTIPLY), U64, 1LL << 32, 1LL << 32, 0},
    {O_(MULTIPLY), U64, UV(UMAX), UV(UMAX), 1}, {O_(MULTIPLY), U64, UV(HB), 2, 0}, {O_(FLOOR_DIVIDE), U64, UV(UMAX), 2, I64MAX},
    {O_(FLOOR_DIVIDE), U64, UV(HB), 3, 3074457345618258602}, {O_(FLOOR_DIVIDE), U64, UV(UMAX), 7, 2635249153387078802},
    {O_(FLOOR_DIVIDE), U64, UV(UMAX), UV(HB), 1}, {O_(FLOOR_DIVIDE), U64, UV(UMAX), 0, 0}, {O_(REMAINDER), U64, UV(UMAX), 10, 5},
    {O_(REMAINDER), U64, UV(HB), 10, 8}, {O_(REMAINDER), U64, UV(UMAX), UV(HB), I64MAX}, {O_(REMAINDER), U64, 5, 0, 0},
    {O_(POW), U64, 2, 63, UV(HB)}, {O_(POW), U64, 2, 64, 0}, {O_(POW), U64, UV(UMAX), 2, 1},
    {O_(POW), U64, 3, 41, UV(18026252303461234787u) /* 3^41 mod 2^64 */}, {O_(BITWISE_LEFT_SHIFT), U64, 1, 63, UV(HB)},
    {O_(BITWISE_LEFT_SHIFT), U64, 1, 64, 0}, {O_(BITWISE_RIGHT_SHIFT), U64, UV(HB), 63, 1}, {O_(BITWISE_RIGHT_SHIFT), U64, UV(UMAX), 64, 0},
    {O_(BITWISE_RIGHT_SHIFT), U64, UV(UMAX), 60, 15}, {O_(BITWISE_RIGHT_SHIFT), U64, UV(UMAX), UV(HB), 0},
    {O_(BITWISE_AND), U64, UV(UMAX), UV(HB), UV(HB)}, {O_(MAXIMUM), U64, UV(HB), 1, UV(HB)}, {O_(MINIMUM), U64, UV(HB), 1, 1},
    {O_(LESS), U64, 1, UV(HB), 1}, {O_(GREATER), U64, UV(UMAX), 0, 1}, {O_(EQUAL), U64, UV(UMAX), UV(UMAX - 1), 0},
    {O_(LESS), U64, UV(UMAX - 1), UV(UMAX), 1},
    /* unary */
    {O_(NEGATIVE), I8, -128, 0, -128}, {O_(ABS), I8, -128, 0, -128}, {O_(ABS), I8, -127, 0, 127}, {O_(SQUARE), I8, 16, 0, 0},
    {O_(SQUARE), I8, -12, 0, -112}, {O_(SIGN), I8, -128, 0, -1}, {O_(BITWISE_INVERT), I8, 0, 0, -1}, {O_(BITWISE_INVERT), I8, 127, 0, -128},
    {O_(RELU), I8, -128, 0, 0}, {O_(FLOOR), I8, -128, 0, -128}, {O_(ROUND), I8, -128, 0, -128},
    {O_(NEGATIVE), I16, -32768, 0, -32768}, {O_(ABS), I16, -32768, 0, -32768}, {O_(SQUARE), I16, 256, 0, 0},
    {O_(SQUARE), I16, 255, 0, -511}, {O_(BITWISE_INVERT), I16, 0, 0, -1},
    {O_(NEGATIVE), U16, 1, 0, 65535}, {O_(ABS), U16, 65535, 0, 65535}, {O_(SIGN), U16, 65535, 0, 1}, {O_(SIGN), U16, 0, 0, 0},
    {O_(SQUARE), U16, 256, 0, 0}, {O_(SQUARE), U16, 65535, 0, 1}, {O_(BITWISE_INVERT), U16, 0, 0, 65535}, {O_(RELU), U16, 65535, 0, 65535},
    {O_(NEGATIVE), U32, 1, 0, 4294967295}, {O_(SIGN), U32, 4294967295, 0, 1}, {O_(SQUARE), U32, 65536, 0, 0},
    {O_(BITWISE_INVERT), U32, 0, 0, 4294967295}, {O_(RELU), U32, 4294967295, 0, 4294967295},
    {O_(NEGATIVE), U64, 1, 0, UV(UMAX)}, {O_(NEGATIVE), U64, UV(HB), 0, UV(HB)}, {O_(ABS), U64, UV(HB), 0, UV(HB)},
    {O_(SIGN), U64, UV(HB), 0, 1}, {O_(SQUARE), U64, 1LL << 32, 0, 0}, {O_(BITWISE_INVERT), U64, 0, 0, UV(UMAX)},
    {O_(RELU), U64, UV(HB), 0, UV(HB)}, {O_(FLOOR), U64, UV(UMAX), 0, UV(UMAX)}, {O_(TRUNC), U64, UV(UMAX), 0, UV(UMAX)},
    {O_(ROUND), U64, UV(UMAX), 0, UV(UMAX)}, {O_(POSITIVE), U64, UV(UMAX), 0, UV(UMAX)},
};

Test(elementwise, integer_edges) {
    t_require_device();
    npg_scope sc = npg_scope_begin();
    int n = (int)(sizeof IEDGES / sizeof IEDGES[0]);
    for (int k = 0; k < n; k++) {
        const iedge *e = &IEDGES[k];
        const t_op *op = &OPS[e->op];
        npg_array *a = iarr(&e->a, 1, e->dt), *b = iarr(&e->b, 1, e->dt);
        npg_array *y = op->arity == 1 ? op->u(a, &op->par[0]) : op->b(a, b);
        cr_expect(y != NULL, "npg_%s %s (%lld, %lld): NULL: %s", op->name, npg_dtype_name(e->dt), (long long)e->a,
                  (long long)e->b, npg_last_error());
        if (!y) continue;
        int64_t got;
        read_i64(y, &got, 1);
        cr_expect_eq(got, e->want, "npg_%s %s (%lld, %lld): got %lld, want %lld", op->name, npg_dtype_name(e->dt), (long long)e->a,
                     (long long)e->b, (long long)got, (long long)e->want);
        if (op->arity == 2) { /* the scalar form agrees when b fits a double exactly (and the dtype) */
            const bool u64 = e->dt == NPG_UINT64;
            const double bd = u64 ? (double)(uint64_t)e->b : (double)e->b; /* in range before converting back (else UB) */
            const bool exact = u64 ? bd < 0x1p64 && (uint64_t)bd == (uint64_t)e->b
                                   : bd >= -9223372036854775808.0 && bd < 9223372036854775808.0 && (int64_t)bd == e->b;
            if (exact && (e->dt == NPG_BOOL || (bd >= t_int_min(e->dt) && bd <= t_int_max(e->dt)))) {
                npg_array *ys = op->bs(a, bd);
                cr_expect(ys != NULL, "npg_%s_scalar: %s", op->name, npg_last_error());
                if (ys) {
                    read_i64(ys, &got, 1);
                    cr_expect_eq(got, e->want, "npg_%s_scalar %s (%lld, %lld): got %lld, want %lld", op->name, npg_dtype_name(e->dt),
                                 (long long)e->a, (long long)e->b, (long long)got, (long long)e->want);
                }
            }
        }
    }
    /* int32 round at decimals -1: half to even */
    npg_array *r = npg_round(iarr((const int64_t[]){25, 35, -25, -35, 15, 14, 16}, 7, NPG_INT32), -1);
    t_assert_close(r, (double[]){20, 40, -20, -40, 20, 10, 20}, 7, 0, 0, "npg_round(int32, -1)");
    /* round at negative decimals on every integer width: half to even,
     * the result wrapping; 10^-d beyond the dtype's range gives 0 */
    static const struct {
        npg_dtype dt;
        int d;
        int n;
        int64_t a[6], want[6];
    } RE[] = {
        {I8, -1, 6, {-125, 125, -128, 127, 15, 25}, {-120, 120, 126 /* -130 wraps */, -126 /* 130 wraps */, 20, 20}},
        {I8, -2, 3, {-128, 127, -50}, {-100, 100, 0}},
        {I8, -3, 2, {-128, 127}, {0, 0}},
        {I16, -4, 4, {25000, -25000, 32767, -32768}, {20000, -20000, 30000, -30000}},
        {I16, -5, 2, {32767, -32768}, {0, 0}},
        {U8, -1, 2, {255, 245}, {4 /* 260 wraps */, 240}},
        {U8, -2, 3, {255, 250, 150}, {44 /* 300 wraps */, 200, 200}},
        {U16, -4, 2, {65535, 15000}, {4464 /* 70000 wraps */, 20000}},
        {U32, -9, 2, {4294967295, 2500000000}, {4000000000, 2000000000}},
        {U64, -1, 2, {UV(UMAX), UV(18446744073709551605u)}, {4 /* 2^64 + 4 wraps */, UV(18446744073709551600u)}},
        {U64, -19, 4, {UV(9900000000000000000u), UV(15000000000000000000u), UV(4000000000000000000u), UV(UMAX)},
         {UV(10000000000000000000u), UV(1553255926290448384u) /* 2e19 wraps */, 0, UV(1553255926290448384u)}},
        {U64, -20, 1, {UV(UMAX)}, {0}},
        {I64, -18, 2, {I64MAX, I64MIN}, {9000000000000000000, -9000000000000000000}},
    };
    for (int k = 0; k < (int)(sizeof RE / sizeof RE[0]); k++) {
        int64_t gv[6];
        char l[96];
        snprintf(l, sizeof l, "npg_round(%s, %d)", npg_dtype_name(RE[k].dt), RE[k].d);
        npg_array *y = npg_round(iarr(RE[k].a, RE[k].n, RE[k].dt), RE[k].d);
        cr_expect(y && npg_dtype_of(y) == RE[k].dt, "%s: %s", l, y ? "dtype changed" : npg_last_error());
        if (!y) continue;
        read_i64(y, gv, RE[k].n);
        for (int i = 0; i < RE[k].n; i++)
            if (t_is_unsigned(RE[k].dt))
                cr_expect_eq(gv[i], RE[k].want[i], "%s of %llu: got %llu, want %llu", l, (unsigned long long)RE[k].a[i],
                             (unsigned long long)gv[i], (unsigned long long)RE[k].want[i]);
            else
                cr_expect_eq(gv[i], RE[k].want[i], "%s of %lld: got %lld, want %lld", l, (long long)RE[k].a[i], (long long)gv[i],
                             (long long)RE[k].want[i]);
    }
    /* integer division by zero through divide gives floating inf/nan */
    npg_array *dz = npg_divide(iarr((const int64_t[]){1, -1, 0}, 3, NPG_INT32), iarr((const int64_t[]){0, 0, 0}, 3, NPG_INT32));
    t_assert_close(dz, (double[]){INFINITY, -INFINITY, NAN}, 3, 0, 0, "npg_divide(int32, 0)");
    /* bounds and weak scalars outside the integer range saturate (found by
     * test_fuzz.c under -fsanitize=float-cast-overflow: the casts were UB) */
    npg_array *i32 = iarr((const int64_t[]){-7, 0, 9}, 3, NPG_INT32), *i64 = iarr((const int64_t[]){-7, 0, 9}, 3, NPG_INT64);
    t_assert_close(npg_clip(i32, 1e300, NAN), (double[]){INT32_MAX, INT32_MAX, INT32_MAX}, 3, 0, 0, "clip int32, lo 1e300");
    t_assert_close(npg_clip(i32, NAN, -INFINITY), (double[]){INT32_MIN, INT32_MIN, INT32_MIN}, 3, 0, 0, "clip int32, hi -inf");
    int64_t got[3];
    read_i64(npg_clip(i64, INFINITY, NAN), got, 3);
    cr_expect(got[0] == INT64_MAX && got[1] == INT64_MAX && got[2] == INT64_MAX, "clip int64, lo inf: %lld", (long long)got[0]);
    read_i64(npg_clip(i64, -3, 1.5), got, 3);
    cr_expect(got[0] == -3 && got[1] == 0 && got[2] == 1, "clip int64 in range truncates the bound toward zero");
    npg_array *u8 = iarr((const int64_t[]){1, 2, 3}, 3, NPG_UINT8);
    t_assert_close(npg_add_scalar(u8, 1e300), (double[]){0, 1, 2}, 3, 0, 0, "uint8 + 1e300: the scalar saturates to INT64_MAX, whose low byte is 255");
    t_assert_close(npg_add_scalar(u8, -INFINITY), (double[]){1, 2, 3}, 3, 0, 0, "uint8 + -inf: the scalar saturates to INT64_MIN, whose low byte is 0");
    /* clip's bounds saturate to every integer dtype's range */
    npg_array *i8 = iarr((const int64_t[]){-7, 0, 9}, 3, NPG_INT8);
    expect_bits(npg_clip(i8, 1e300, NAN), NPG_INT8, UB64(127, 127, 127), 3, "clip int8, lo 1e300");
    expect_bits(npg_clip(i8, NAN, -300), NPG_INT8, UB64((uint64_t)-128, (uint64_t)-128, (uint64_t)-128), 3, "clip int8, hi -300");
    expect_bits(npg_clip(i8, -3.5, 2.9), NPG_INT8, UB64((uint64_t)-3, 0, 2), 3, "clip int8 in range truncates");
    npg_array *u16 = iarr((const int64_t[]){0, 7, 65535}, 3, NPG_UINT16);
    expect_bits(npg_clip(u16, NAN, -5), NPG_UINT16, UB64(0, 0, 0), 3, "clip uint16, hi -5 saturates to 0");
    expect_bits(npg_clip(u16, 70000, NAN), NPG_UINT16, UB64(65535, 65535, 65535), 3, "clip uint16, lo 70000");
    expect_bits(npg_clip(u16, -1, 100), NPG_UINT16, UB64(0, 7, 100), 3, "clip uint16 (-1, 100)");
    npg_array *i16 = iarr((const int64_t[]){-32768, 5, 32767}, 3, NPG_INT16);
    expect_bits(npg_clip(i16, -40000, 40000), NPG_INT16, UB64((uint64_t)-32768, 5, 32767), 3, "clip int16, bounds beyond the range");
    npg_array *u32 = iarr((const int64_t[]){0, 4294967295, 5}, 3, NPG_UINT32);
    expect_bits(npg_clip(u32, 10, 4294967294.5), NPG_UINT32, UB64(10, 4294967294u, 10), 3, "clip uint32");
    npg_array *u64 = from_bits(UB64(0, HB, UMAX), 3, NPG_UINT64);
    expect_bits(npg_clip(u64, NAN, 1e19), NPG_UINT64, UB64(0, HB, 10000000000000000000u), 3, "clip uint64, hi 1e19");
    expect_bits(npg_clip(u64, 1e30, NAN), NPG_UINT64, UB64(UMAX, UMAX, UMAX), 3, "clip uint64, lo 1e30 saturates");
    expect_bits(npg_clip(u64, -1, 9223372036854775808.0), NPG_UINT64, UB64(0, HB, HB), 3, "clip uint64 (-1, 2^63)");
    npg_scope_end(sc);
}

/* ------------------------------------------------------------------------
 * Casts (npg_astype) between every pair of dtypes at the edge values:
 * float -> integer truncates toward zero and saturates (NaN -> 0); integer
 * -> integer wraps (two's complement: sign-extended from a signed dtype);
 * -> bool is != 0 (NaN is true); -> a float rounds the exact value once to
 * nearest even.
 * ------------------------------------------------------------------------ */

/* A value of any dtype exactly: integers and bool by t_wrap_bits, floats by
 * value (every float16 / bfloat16 / float32 is a double). */
typedef struct cval {
    bool isf;
    uint64_t bits;
    double f;
} cval;
/* m rounded to `keep` significant bits, ties to even (exact as a double). */
static double round_bits(uint64_t m, int keep) {
    int p = 63;
    if (m == 0) return 0;
    while (!(m >> p)) p--;
    if (p < keep) return (double)m;
    int sh = p - keep + 1;
    uint64_t qq = m >> sh, rem = m & ((1ull << sh) - 1), half = 1ull << (sh - 1);
    if (rem > half || (rem == half && (qq & 1))) qq++;
    return ldexp((double)qq, sh);
}
static cval cast_ref(cval v, npg_dtype from, npg_dtype to) {
    cval r = {isf(to), 0, 0};
    if (to == NPG_BOOL) {
        r.bits = v.isf ? v.f != 0 : v.bits != 0;
        return r;
    }
    if (t_is_int(to)) {
        if (!v.isf) {
            r.bits = t_wrap_bits(to, v.bits);
            return r;
        }
        double t = trunc(v.f);
        if (isnan(v.f)) r.bits = 0;
        else if (t <= t_int_min(to)) r.bits = t_wrap_bits(to, t_is_unsigned(to) ? 0 : (uint64_t)(int64_t)t_int_min(to));
        else if (t >= ldexp(1, t_is_unsigned(to) ? t_int_bits(to) : t_int_bits(to) - 1)) r.bits = t_wrap_bits(to, t_is_unsigned(to) ? UINT64_MAX : (1ull << (t_int_bits(to) - 1)) - 1);
        else r.bits = t_wrap_bits(to, t < 0 ? (uint64_t)(int64_t)t : (uint64_t)t);
        return r;
    }
    double x = v.f; /* the exact value, rounded once into `to` */
    if (!v.isf) {
        bool neg = !t_is_unsigned(from) && from != NPG_BOOL && (int64_t)v.bits < 0;
        uint64_t m = neg ? 0 - v.bits : v.bits;
        int keep = to == NPG_FLOAT64 ? 53 : to == NPG_FLOAT32 ? 24 : to == NPG_FLOAT16 ? 11 : 8;
        x = round_bits(m, keep);
        if (neg) x = -x;
    }
    r.f = qfloat(x, to); /* exact unless x is a float value narrowing, or out of float16's range */
    return r;
}
/* The host buffer for n values of dtype d (ints from bits, floats from values). */
static void *host_of(const cval *v, int n, npg_dtype d) {
    size_t sz = npg_dtype_size(d);
    unsigned char *b = malloc(sz * (size_t)n + 1);
    for (int i = 0; i < n; i++) {
        unsigned char *p = b + sz * (size_t)i;
        if (d == NPG_FLOAT64) memcpy(p, &v[i].f, 8);
        else if (d == NPG_FLOAT32) {
            float f = (float)v[i].f;
            memcpy(p, &f, 4);
        } else if (ishalf(d)) {
            uint16_t h = d == NPG_FLOAT16 ? npg_s_f32_to_f16((float)v[i].f) : npg_s_f32_to_bf16((float)v[i].f);
            memcpy(p, &h, 2);
        } else
            memcpy(p, &v[i].bits, sz); /* the low bytes */
    }
    return b;
}
static cval got_of(const unsigned char *p, npg_dtype d) {
    cval r = {isf(d), 0, 0};
    if (d == NPG_FLOAT64) memcpy(&r.f, p, 8);
    else if (d == NPG_FLOAT32) {
        float f;
        memcpy(&f, p, 4);
        r.f = f;
    } else if (ishalf(d)) {
        uint16_t h;
        memcpy(&h, p, 2);
        r.f = d == NPG_FLOAT16 ? npg_s_f16_to_f32(h) : npg_s_bf16_to_f32(h);
    } else {
        r.bits = t_get_bits(d, p, 0);
    }
    return r;
}
#define CI(x) {false, (uint64_t)(x), 0}
#define CF(x) {true, 0, (x)}
#define P2(e) 0x1p##e
typedef struct csrc {
    npg_dtype dt;
    int n;
    cval v[40];
} csrc;
static const csrc CSRC[] = {
    {NPG_BOOL, 2, {CI(0), CI(1)}},
    {NPG_UINT8, 5, {CI(0), CI(1), CI(127), CI(128), CI(255)}},
    {NPG_INT8, 5, {CI(-128), CI(-1), CI(0), CI(1), CI(127)}},
    {NPG_INT16, 8, {CI(-32768), CI(-129), CI(-128), CI(-1), CI(0), CI(255), CI(256), CI(32767)}},
    {NPG_UINT16, 7, {CI(0), CI(255), CI(256), CI(32767), CI(32768), CI(65504), CI(65535)}},
    {NPG_INT32, 8, {CI(INT32_MIN), CI(-32769), CI(-1), CI(0), CI(65535), CI(65536), CI(16777217), CI(INT32_MAX)}},
    {NPG_UINT32, 6, {CI(0), CI(65535), CI(65536), CI(16777217), CI(2147483648u), CI(UINT32_MAX)}},
    {NPG_INT64, 9,
     {CI(INT64_MIN), CI(-4294967297LL), CI(-1), CI(0), CI(4294967296LL), CI((1LL << 53) + 1), CI((1LL << 60) + (1LL << 36) + 1),
      CI(-((1LL << 60) + (1LL << 52) + 1)), CI(INT64_MAX)}},
    {NPG_UINT64, 8,
     {CI(0), CI(UINT32_MAX), CI(INT64_MAX), CI(1ull << 63), CI((1ull << 63) + (1ull << 39) + 1), CI((1ull << 60) + (1ull << 52) + 1),
      CI(UINT64_MAX - 1), CI(UINT64_MAX)}},
    {NPG_FLOAT32, 33,
     {CF(NAN), CF(INFINITY), CF(-INFINITY), CF(-0.0), CF(0x1p-149), CF(0.5), CF(-0.75), CF(1.9375), CF(-1.5), CF(127.5), CF(128),
      CF(-128.75), CF(-129), CF(255.5), CF(256), CF(32767.5), CF(-32769), CF(65535.5), CF(65536), CF(P2(31) - 128), CF(P2(31)),
      CF(-P2(31)), CF(-P2(31) - 256), CF(P2(32) - 256), CF(P2(32)), CF(P2(63) - P2(39)), CF(P2(63)), CF(-P2(63)),
      CF(-P2(63) - P2(40)), CF(P2(64) - P2(40)), CF(P2(64)), CF(3.4028234663852886e38), CF(-3.4028234663852886e38)}},
    {NPG_FLOAT64, 30,
     {CF(NAN), CF(INFINITY), CF(-INFINITY), CF(-0.0), CF(0x1p-1074), CF(-0.999), CF(127.99), CF(-128.99), CF(255.999), CF(-129.5),
      CF(65535.99), CF(65504), CF(65519.99), CF(65520), CF(1.0000000596046448) /* 1 + 2^-24: a float32 tie */,
      CF(2147483647.5), CF(-2147483648.5), CF(-2147483649.0), CF(4294967295.75), CF(4294967296.0), CF(P2(63) - 1024),
      CF(P2(63)), CF(-P2(63)), CF(-P2(63) - 2048), CF(P2(64) - 2048), CF(P2(64)), CF(1e300), CF(-1e300), CF(3.4028235677973366e38),
      CF(1e-300)}},
    {NPG_FLOAT16, 18,
     {CF(NAN), CF(INFINITY), CF(-INFINITY), CF(-0.0), CF(0x1p-24), CF(0.5), CF(-1.5), CF(127.5), CF(128), CF(-129), CF(255.5),
      CF(256), CF(32768), CF(-32768), CF(-32800), CF(65504), CF(-65504), CF(2049)}},
    {NPG_BFLOAT16, 21,
     {CF(NAN), CF(INFINITY), CF(-INFINITY), CF(-0.0), CF(0.5), CF(-1.5), CF(127.5), CF(255), CF(256), CF(-129), CF(32768),
      CF(65536), CF(P2(31)), CF(-P2(31)), CF(P2(32)), CF(P2(63)), CF(-P2(63)), CF(P2(64)), CF(-P2(64)), CF(3.3895313892515355e38),
      CF(0x1p-133)}},
};
#undef CI
#undef CF
#undef P2

Test(elementwise, casts_every_pair) {
    t_require_device();
    t_live l0 = t_live_now();
    int ns = (int)(sizeof CSRC / sizeof CSRC[0]), nfail = 0;
    cr_assert_eq(ns, NDTS, "a row of edge values per dtype");
    for (int si = 0; si < ns; si++) {
        const csrc *S = &CSRC[si];
        npg_scope sc = npg_scope_begin();
        void *hb = host_of(S->v, S->n, S->dt);
        npg_array *x = npg_from_data(hb, S->dt, (npg_shape){.ndim = 1, .dims = {S->n}}, NPG_OPTS(.device = t_dev()));
        cr_assert(x, "from_data %s: %s", npg_dtype_name(S->dt), npg_last_error());
        free(hb);
        cval src[40];
        for (int i = 0; i < S->n; i++) src[i] = cast_ref(S->v[i], S->dt, S->dt); /* the values as stored */
        for (int ti = 0; ti < NDTS; ti++) {
            npg_dtype to = DTS[ti];
            npg_array *y = npg_astype(x, to);
            g_checks++;
            cr_expect(y && npg_dtype_of(y) == to, "astype(%s -> %s): %s", npg_dtype_name(S->dt), npg_dtype_name(to),
                      y ? "wrong dtype" : npg_last_error());
            if (!y || npg_dtype_of(y) != to) continue;
            size_t sz = npg_dtype_size(to);
            unsigned char *raw = malloc(sz * (size_t)S->n);
            cr_assert_eq(npg_copy_to_host(y, raw, sz * (size_t)S->n), NPG_OK, "%s", npg_last_error());
            for (int i = 0; i < S->n; i++) {
                cval w = cast_ref(src[i], S->dt, to), g = got_of(raw + sz * (size_t)i, to);
                bool ok = w.isf ? ((isnan(w.f) && isnan(g.f)) || (w.f == g.f && signbit(w.f) == signbit(g.f))) : w.bits == g.bits;
                if (!ok && ++nfail <= 40) {
                    if (src[i].isf)
                        cr_expect(0, "astype(%s -> %s) of %.17g: got %.17g / %lld, want %.17g / %lld", npg_dtype_name(S->dt),
                                  npg_dtype_name(to), src[i].f, g.f, (long long)g.bits, w.f, (long long)w.bits);
                    else
                        cr_expect(0, "astype(%s -> %s) of %lld (bits %llu): got %.17g / %lld, want %.17g / %lld", npg_dtype_name(S->dt),
                                  npg_dtype_name(to), (long long)src[i].bits, (unsigned long long)src[i].bits, g.f, (long long)g.bits,
                                  w.f, (long long)w.bits);
                }
            }
            free(raw);
        }
        npg_scope_end(sc);
    }
    cr_expect_eq(nfail, 0, "%d cast mismatches (the first 40 listed)", nfail);
    t_assert_no_leak(l0, "casts");
}

/* ------------------------------------------------------------------------
 * Special floating values
 * ------------------------------------------------------------------------ */

#define SV(expr, n, ...)                                               \
    do {                                                               \
        snprintf(l, sizeof l, "%s on %s", #expr, dn);                  \
        t_assert_close((expr), (double[]){__VA_ARGS__}, n, 1e-6, 0, l); \
    } while (0)
Test(elementwise, special_values) {
    t_require_device();
    npg_scope sc = npg_scope_begin();
    for (int f = 0; f < 2; f++) {
        npg_dtype dt = f ? NPG_FLOAT64 : NPG_FLOAT32;
        const char *dn = npg_dtype_name(dt);
        char l[160];
        npg_array *x = t_arr((double[]){NAN, INFINITY, -INFINITY, -0.0, 2.5}, dt, (npg_shape)SH(5));
        npg_array *one = t_arr((double[]){1, 1, 1, 1, 1}, dt, (npg_shape)SH(5));
        npg_array *h = t_arr((double[]){0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.5}, dt, (npg_shape)SH(7));
        npg_array *big = t_arr((double[]){1000, -1000, INFINITY, -INFINITY}, dt, (npg_shape)SH(4));
        SV(npg_sign(x), 5, NAN, 1, -1, 0, 1);
        SV(npg_isnan(x), 5, 1, 0, 0, 0, 0);
        SV(npg_isinf(x), 5, 0, 1, 1, 0, 0);
        SV(npg_isfinite(x), 5, 0, 0, 0, 1, 1);
        SV(npg_maximum(x, one), 5, NAN, INFINITY, 1, 1, 2.5); /* NaN propagates from either side */
        SV(npg_maximum(one, x), 5, NAN, INFINITY, 1, 1, 2.5);
        SV(npg_minimum(one, x), 5, NAN, 1, -INFINITY, -0.0, 1);
        SV(npg_round(h, 0), 7, 0, 2, 2, -0.0, -2, -2, 4); /* half to even */
        SV(npg_logaddexp(big, big), 4, 1000 + M_LN2, -1000 + M_LN2, INFINITY, -INFINITY);
        SV(npg_softplus(big), 4, 1000, 0, INFINITY, 0);
        SV(npg_sigmoid(big), 4, 1, 0, 1, 0);
        SV(npg_clip(h, NAN, NAN), 7, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.5);
    }
    npg_scope_end(sc);
}

/* ------------------------------------------------------------------------
 * where / where_scalar / scalar_where
 * ------------------------------------------------------------------------ */

typedef struct wcase {
    npg_shape s[3];
    vkind v[3];
} wcase;
static const wcase WCASES[] = {
    {{SH(5, 7, 3), SH(5, 7, 3), SH(5, 7, 3)}, {V_C, V_C, V_C}},
    {{SH(5, 1, 3), SH(7, 1), SH(1)}, {V_C, V_C, V_C}},
    {{SH0, SH(2, 3), SH0}, {V_C, V_C, V_C}},
    {{SH0, SH0, SH0}, {V_C, V_C, V_C}},
    {{SH(3, 0, 2), SH(3, 0, 2), SH(2)}, {V_C, V_C, V_C}},
    {{SH(4, 3), SH(4, 3), SH(4, 3)}, {V_T, V_NEG, V_S2}},
    {{SH(13), SH(13), SH(1)}, {V_S2, V_T, V_C}},
};
#define NWC ((int)(sizeof WCASES / sizeof WCASES[0]))
static const tdom WDOM = {-2, 2, -2, 2, D_COARSE};

static void check_where(npg_dtype dc, npg_dtype da, npg_dtype db, int ci, int form) {
    /* form 0: where(c, a, b); 1: where_scalar(c, a, s); 2: scalar_where(c, s, b) */
    const wcase *w = &WCASES[ci];
    npg_dtype pr = form == 0 ? promote(da, db) : form == 1 ? da : db;
    npg_shape so = bshape(w->s[0], form == 2 ? w->s[2] : w->s[1]);
    if (form == 0) so = bshape(so, w->s[2]);
    char label[512], s0[96], s1[96], s2[96];
    snprintf(label, sizeof label, "%s(cond %s %s %s, %s %s %s, %s %s %s)",
             form == 0 ? "npg_where" : form == 1 ? "npg_where_scalar" : "npg_scalar_where", npg_dtype_name(dc),
             sstr(w->s[0], s0), VNAME[w->v[0]], npg_dtype_name(da), sstr(w->s[1], s1), VNAME[w->v[1]], npg_dtype_name(db),
             sstr(w->s[2], s2), VNAME[w->v[2]]);
    npg_scope sc = npg_scope_begin();
    int64_t n0 = numel(w->s[0]), n1 = numel(w->s[1]), n2 = numel(w->s[2]), n = numel(so);
    double *h0 = malloc(sizeof(double) * (size_t)(n0 + 1)), *h1 = malloc(sizeof(double) * (size_t)(n1 + 1));
    double *h2 = malloc(sizeof(double) * (size_t)(n2 + 1)), *want = malloc(sizeof(double) * (size_t)(n + 1));
    uint64_t seed = (uint64_t)(dc * 10000 + da * 1000 + db * 100 + ci * 10 + form);
    npg_array *c = mk(w->s[0], w->v[0], dc, &WDOM, 8, seed, h0);
    npg_array *a = mk(w->s[1], w->v[1], da, &WDOM, 8, seed + 1, h1);
    npg_array *b = mk(w->s[2], w->v[2], db, &WDOM, 8, seed + 2, h2);
    double s = q(1.5, pr);
    npg_array *y = form == 0 ? npg_where(c, a, b) : form == 1 ? npg_where_scalar(c, a, s) : npg_scalar_where(c, s, b);
    g_checks++;
    if (expect_meta(y, pr, so, label)) {
        for (int64_t k = 0; k < n; k++) {
            bool t = h0[bidx(k, so, w->s[0])] != 0;
            double va = form == 2 ? s : h1[bidx(k, so, w->s[1])];
            double vb = form == 1 ? s : h2[bidx(k, so, w->s[2])];
            want[k] = q(t ? va : vb, pr);
        }
        expect_vals(y, want, n, 0, 0, label);
    }
    t_expect_unchanged(c, h0, n0, label);
    free(h0), free(h1), free(h2), free(want);
    npg_scope_end(sc);
}

Test(elementwise, where_values) {
    t_require_device();
    t_live l0 = t_live_now();
    for (int ci = 0; ci < NWC; ci++) {
        for (int ia = 0; ia < NDTS; ia++)
            for (int ib = 0; ib < NDTS; ib++) check_where(NPG_BOOL, DTS[ia], DTS[ib], ci, 0);
        for (int i = 0; i < NDTS; i++) {
            check_where(DTS[i], NPG_FLOAT32, NPG_INT32, ci, 0); /* any cond dtype is read as truth */
            check_where(NPG_BOOL, DTS[i], DTS[i], ci, 1);
            check_where(NPG_BOOL, DTS[i], DTS[i], ci, 2);
        }
    }
    t_assert_no_leak(l0, "where sweep");
    cr_log_info("where_values: %ld checks", g_checks);
}

/* ------------------------------------------------------------------------
 * Gradients: npg_gradcheck through one generic callback
 * ------------------------------------------------------------------------ */

enum { G_UNARY, G_BIN, G_BS, G_SB, G_WHERE, G_WHERE_S, G_S_WHERE };
typedef struct gctx {
    const t_op *op;
    const tparam *P;
    int form;
    double s;
    bool view; /* input 0 is transposed inside fn (a non-contiguous operand) */
    npg_array *cond;
} gctx;

static npg_array *gfn(npg_array *const *in, int n, void *user) {
    const gctx *c = user;
    npg_array *a = c->view ? npg_T(in[0]) : in[0];
    switch (c->form) {
    case G_UNARY: return c->op->u(a, c->P);
    case G_BIN: return c->op->b(a, in[1]);
    case G_BS: return c->op->bs(a, c->s);
    case G_SB: return c->op->sb(c->s, a);
    case G_WHERE: return npg_where(c->cond, a, in[1]);
    case G_WHERE_S: return npg_where_scalar(c->cond, a, c->s);
    default: return npg_scalar_where(c->cond, c->s, a);
    }
}

/* A float64 leaf requiring grad, values from D (no specials). */
static npg_array *gleaf(npg_shape s, const tdom *D, uint64_t seed) {
    tdom d = *D;
    d.flags &= ~(unsigned)(D_SPECIAL | D_COARSE);
    int64_t n = numel(s);
    double *v = malloc(sizeof(double) * (size_t)(n + 1));
    trng r = {seed};
    for (int64_t k = 0; k < n; k++) v[k] = gen_val(&d, NPG_FLOAT64, 8, &r);
    npg_array *x = t_arr(v, NPG_FLOAT64, s);
    free(v);
    cr_assert_eq(npg_set_requires_grad(x, true), NPG_OK, "set_requires_grad: %s", npg_last_error());
    return x;
}

static void gcheck(const char *label, gctx *c, npg_array *const *xs, int n) {
    g_checks++;
    npg_status st = npg_gradcheck(gfn, c, xs, n, NULL);
    cr_expect_eq(st, NPG_OK, "gradcheck %s: %s", label, npg_last_error());
}

Test(elementwise, gradcheck_unary) {
    t_require_device();
    t_live l0 = t_live_now();
    for (int oi = 0; oi < NPG_OP_COUNT; oi++) {
        const t_op *op = &OPS[oi];
        if (op->arity != 1 || !op->diff) continue;
        for (int pi = 0; pi < op->npar; pi++) {
            npg_scope sc = npg_scope_begin();
            char label[320];
            gctx c = {op, &op->par[pi], G_UNARY, 0, false, NULL};
            npg_array *x = gleaf((npg_shape)SH(3, 4), &op->dom[0], (uint64_t)oi * 3 + 1);
            snprintf(label, sizeof label, "npg_%s (3,4) params #%d", op->name, pi);
            gcheck(label, &c, &x, 1);
            npg_array *x0 = gleaf((npg_shape)SH0, &op->dom[0], (uint64_t)oi * 3 + 2);
            snprintf(label, sizeof label, "npg_%s 0-d params #%d", op->name, pi);
            gcheck(label, &c, &x0, 1);
            c.view = true;
            npg_array *xt = gleaf((npg_shape)SH(4, 3), &op->dom[0], (uint64_t)oi * 3 + 3);
            snprintf(label, sizeof label, "npg_%s transposed (4,3)->(3,4) params #%d", op->name, pi);
            gcheck(label, &c, &xt, 1);
            npg_scope_end(sc);
        }
    }
    t_assert_no_leak(l0, "gradcheck unary");
    cr_log_info("gradcheck_unary: %ld checks", g_checks);
}

Test(elementwise, gradcheck_binary) {
    t_require_device();
    t_live l0 = t_live_now();
    for (int oi = 0; oi < NPG_OP_COUNT; oi++) {
        const t_op *op = &OPS[oi];
        if (op->arity != 2 || !op->diff) continue;
        npg_scope sc = npg_scope_begin();
        char label[320];
        uint64_t sd = (uint64_t)oi * 11;
        gctx c = {op, NULL, G_BIN, 0, false, NULL};
        static const struct {
            npg_shape a, b;
            bool view;
        } pairs[] = {{SH(3, 4), SH(3, 4), false}, {SH(3, 1), SH(4), false}, {SH0, SH(2, 3), false}, {SH(4, 3), SH(3, 4), true}};
        npg_array *p1[2] = {NULL, NULL};
        for (int k = 0; k < 4; k++) {
            char s1[96], s2[96];
            npg_array *ab[2] = {gleaf(pairs[k].a, &op->dom[0], sd + 2 * k), gleaf(pairs[k].b, &op->dom[1], sd + 2 * k + 1)};
            c.view = pairs[k].view;
            snprintf(label, sizeof label, "npg_%s(%s%s, %s)", op->name, sstr(pairs[k].a, s1), c.view ? " transposed" : "",
                     sstr(pairs[k].b, s2));
            gcheck(label, &c, ab, 2);
            if (k == 0) p1[0] = ab[0], p1[1] = ab[1];
        }
        c.view = false;
        trng r = {sd + 9};
        tdom d0 = op->dom[0], d1 = op->dom[1];
        d0.flags &= ~(unsigned)(D_SPECIAL | D_COARSE);
        d1.flags &= ~(unsigned)(D_SPECIAL | D_COARSE);
        c.form = G_BS;
        c.s = gen_val(&d1, NPG_FLOAT64, 8, &r);
        snprintf(label, sizeof label, "npg_%s_scalar(x, %g)", op->name, c.s);
        gcheck(label, &c, p1, 1);
        c.form = G_SB;
        c.s = gen_val(&d0, NPG_FLOAT64, 8, &r);
        snprintf(label, sizeof label, "npg_scalar_%s(%g, x)", op->name, c.s);
        gcheck(label, &c, &p1[1], 1);
        npg_scope_end(sc);
    }
    t_assert_no_leak(l0, "gradcheck binary");
    cr_log_info("gradcheck_binary: %ld checks", g_checks);
}


Test(elementwise, gradient_ties_and_clip_bounds) {
    t_require_device();
    npg_scope sc = npg_scope_begin();
    /* maximum/minimum: the gradient is split evenly on ties */
    npg_array *a = t_arr((double[]){1, 2, 3, -1}, NPG_FLOAT64, (npg_shape)SH(4));
    npg_array *b = t_arr((double[]){1, 0, 4, -1}, NPG_FLOAT64, (npg_shape)SH(4));
    npg_set_requires_grad(a, true);
    npg_set_requires_grad(b, true);
    double *ga = grad_of_sum(npg_maximum(a, b), a), *gb = grad_of_sum(npg_maximum(a, b), b);
    t_assert_close_buf(ga, (double[]){0.5, 1, 0, 0.5}, 4, 0, 1e-15, "d maximum / da with ties");
    t_assert_close_buf(gb, (double[]){0.5, 0, 1, 0.5}, 4, 0, 1e-15, "d maximum / db with ties");
    free(ga), free(gb);
    ga = grad_of_sum(npg_minimum(a, b), a);
    t_assert_close_buf(ga, (double[]){0.5, 0, 1, 0.5}, 4, 0, 1e-15, "d minimum / da with ties");
    free(ga);
    ga = grad_of_sum(npg_maximum_scalar(a, 2), a);
    t_assert_close_buf(ga, (double[]){0, 0.5, 1, 0}, 4, 0, 1e-15, "d maximum_scalar(a, 2) / da with a tie");
    free(ga);
    /* gradcheck agrees with the even split at exact ties (central differences give 1/2) */
    gctx c = {&OPS[NPG_OP_MAXIMUM], NULL, G_BIN, 0, false, NULL};
    npg_array *ab[2] = {a, b};
    gcheck("maximum with ties", &c, ab, 2);
    c.op = &OPS[NPG_OP_MINIMUM];
    gcheck("minimum with ties", &c, ab, 2);
    /* clip: 1 inside the closed interval (bounds included), 0 outside */
    npg_array *x = t_arr((double[]){-3, 0, 5, 7, -4, 1}, NPG_FLOAT64, (npg_shape)SH(6));
    npg_set_requires_grad(x, true);
    double *gx = grad_of_sum(npg_clip(x, -3, 5), x);
    t_assert_close_buf(gx, (double[]){1, 1, 1, 0, 0, 1}, 6, 0, 0, "d clip(x, -3, 5) / dx");
    free(gx);
    gx = grad_of_sum(npg_clip(x, NAN, 0), x);
    t_assert_close_buf(gx, (double[]){1, 1, 0, 0, 1, 0}, 6, 0, 0, "d clip(x, NaN, 0) / dx");
    free(gx);
    npg_scope_end(sc);
}

Test(elementwise, gradcheck_where) {
    t_require_device();
    npg_scope sc = npg_scope_begin();
    npg_array *cond = t_arr((double[]){1, 0, 1}, NPG_BOOL, (npg_shape)SH(3, 1));
    static const tdom d = {-3, 3, -3, 3, 0};
    gctx c = {NULL, NULL, G_WHERE, 0, false, cond};
    npg_array *ab[2] = {gleaf((npg_shape)SH(3, 4), &d, 1), gleaf((npg_shape)SH(4), &d, 2)};
    gcheck("where(cond (3,1), a (3,4), b (4,))", &c, ab, 2);
    c.view = true;
    npg_array *abt[2] = {gleaf((npg_shape)SH(4, 3), &d, 3), gleaf((npg_shape)SH(3, 4), &d, 4)};
    gcheck("where(cond, a transposed, b)", &c, abt, 2);
    c.view = false;
    c.form = G_WHERE_S;
    c.s = 0.75;
    gcheck("where_scalar(cond, a, 0.75)", &c, ab, 1);
    c.form = G_S_WHERE;
    gcheck("scalar_where(cond, 0.75, b)", &c, ab, 1);
    npg_scope_end(sc);
}

/* Non-differentiable ops and integer results record no graph; the
 * differentiable ones with floating results do. */
Test(elementwise, graph_recording) {
    t_require_device();
    npg_scope sc = npg_scope_begin();
    static const tdom d = {0.5, 2, 1, 2, 0};
    npg_array *x = gleaf((npg_shape)SH(2, 3), &d, 5), *y = gleaf((npg_shape)SH(2, 3), &d, 6);
    for (int oi = 0; oi < NPG_OP_COUNT; oi++) {
        const t_op *op = &OPS[oi];
        if (op->arity == 0) continue;
        if (!op_ok(op, NPG_FLOAT64)) continue;
        npg_array *r = op->arity == 1 ? op->u(x, &op->par[0]) : op->b(x, y);
        cr_expect(r != NULL, "npg_%s: %s", op->name, npg_last_error());
        if (!r) continue;
        bool want = op->diff && isf(npg_dtype_of(r));
        cr_expect_eq(npg_requires_grad(r), want, "npg_%s on float64 inputs requiring grad: requires_grad %d, want %d", op->name,
                     npg_requires_grad(r), want);
        if (want)
            cr_expect(npg_grad_fn_name(r) != NULL, "npg_%s: no grad_fn recorded", op->name);
    }
    npg_scope_end(sc);
}

/* d2/dx2 through create_graph: x^3 -> 6x, sin -> -sin, exp(x)*x -> exp(x)(x+2). */
static npg_array *f_cube(npg_array *x) { return npg_pow_scalar(x, 3); }
static npg_array *f_cube_mul(npg_array *x) { return npg_multiply(x, npg_multiply(x, x)); }
static npg_array *f_sin(npg_array *x) { return npg_sin(x); }
static npg_array *f_xexp(npg_array *x) { return npg_multiply(npg_exp(x), x); }
static npg_array *f_tanh(npg_array *x) { return npg_tanh(x); }
static double d2_cube(double x) { return 6 * x; }
static double d2_sin(double x) { return -sin(x); }
static double d2_xexp(double x) { return exp(x) * (x + 2); }
static double d2_tanh(double x) { return -2 * tanh(x) * (1 - tanh(x) * tanh(x)); }

Test(elementwise, second_derivatives) {
    t_require_device();
    t_live l0 = t_live_now();
    struct {
        const char *name;
        npg_array *(*f)(npg_array *);
        double (*d2)(double);
    } fs[] = {{"pow_scalar(x, 3)", f_cube, d2_cube}, {"x*x*x", f_cube_mul, d2_cube}, {"sin", f_sin, d2_sin},
              {"exp(x)*x", f_xexp, d2_xexp},         {"tanh", f_tanh, d2_tanh}};
    double xv[5] = {-1.5, -0.3, 0.2, 0.9, 1.7};
    for (int k = 0; k < (int)(sizeof fs / sizeof fs[0]); k++) {
        npg_scope sc = npg_scope_begin();
        npg_array *x = t_arr(xv, NPG_FLOAT64, (npg_shape)SH(5));
        npg_set_requires_grad(x, true);
        npg_array *s = npg_sum(fs[k].f(x), NPG_ALL_AXES, false), *g = NULL, *h = NULL;
        cr_assert_eq(npg_grad_of(&s, 1, NULL, &x, 1, &g, NPG_BACKWARD_OPTS(.create_graph = true)), NPG_OK, "%s: first grad: %s",
                     fs[k].name, npg_last_error());
        cr_assert(npg_requires_grad(g), "%s: create_graph gradient does not require grad", fs[k].name);
        npg_array *gs = npg_sum(g, NPG_ALL_AXES, false);
        cr_assert_eq(npg_grad_of(&gs, 1, NULL, &x, 1, &h, NULL), NPG_OK, "%s: second grad: %s", fs[k].name, npg_last_error());
        double want[5];
        for (int i = 0; i < 5; i++) want[i] = fs[k].d2(xv[i]);
        t_assert_close(h, want, 5, 1e-12, 1e-12, fs[k].name);
        /* the same through npg_backward_ex into x.grad */
        npg_array *s2 = npg_sum(fs[k].f(x), NPG_ALL_AXES, false);
        cr_assert_eq(npg_backward_ex(s2, NULL, NPG_BACKWARD_OPTS(.create_graph = true)), NPG_OK, "%s: backward_ex: %s", fs[k].name,
                     npg_last_error());
        npg_array *gx = npg_grad(x);
        cr_assert(gx, "%s: no x.grad after backward_ex", fs[k].name);
        npg_zero_grad(x);
        npg_array *gs2 = npg_sum(gx, NPG_ALL_AXES, false);
        npg_array *h2 = NULL;
        cr_assert_eq(npg_grad_of(&gs2, 1, NULL, &x, 1, &h2, NULL), NPG_OK, "%s: grad of x.grad: %s", fs[k].name, npg_last_error());
        t_assert_close(h2, want, 5, 1e-12, 1e-12, fs[k].name);
        npg_free(h2);
        npg_free(h);
        npg_free(g);
        npg_scope_end(sc);
    }
    t_assert_no_leak(l0, "second derivatives");
}

/* ------------------------------------------------------------------------
 * Error paths: status, message naming the function, no leak, inputs intact
 * ------------------------------------------------------------------------ */

Test(elementwise, error_shape_mismatch) {
    t_require_device();
    npg_scope sc = npg_scope_begin();
    double va[12], vb[5];
    for (int i = 0; i < 12; i++) va[i] = i;
    for (int i = 0; i < 5; i++) vb[i] = -i;
    npg_array *a = t_arr(va, NPG_FLOAT32, (npg_shape)SH(3, 4)), *b = t_arr(vb, NPG_FLOAT32, (npg_shape)SH(5));
    for (int oi = 0; oi < NPG_OP_COUNT; oi++) {
        if (OPS[oi].arity != 2 || !op_ok(&OPS[oi], NPG_FLOAT32)) continue;
        char fname[64];
        snprintf(fname, sizeof fname, "npg_%s", OPS[oi].name);
        t_live before = t_live_now();
        npg_array *y = OPS[oi].b(a, b);
        cr_expect(y == NULL, "%s((3,4), (5,)) must fail", fname);
        cr_expect_eq(npg_last_status(), NPG_ERR_SHAPE, "%s: status %s (%s)", fname, npg_status_string(npg_last_status()), npg_last_error());
        cr_expect(strstr(npg_last_error(), fname) != NULL, "%s: message '%s' does not name it", fname, npg_last_error());
        t_assert_no_leak(before, fname);
    }
    t_live before = t_live_now();
    npg_array *c = t_arr((double[]){1, 0}, NPG_BOOL, (npg_shape)SH(2));
    cr_expect(npg_where(c, a, a) == NULL, "where with cond (2,) and (3,4) must fail");
    t_assert_error(NPG_ERR_SHAPE, "npg_where");
    npg_free(c);
    t_assert_no_leak(before, "npg_where shape error");
    t_expect_unchanged(a, va, 12, "shape errors");
    t_expect_unchanged(b, vb, 5, "shape errors");
    npg_scope_end(sc);
}

Test(elementwise, error_null_inputs) {
    t_require_device();
    npg_scope sc = npg_scope_begin();
    npg_array *x = t_arr((double[]){1, 2, 3}, NPG_FLOAT32, (npg_shape)SH(3));
    t_live before = t_live_now();
    for (int oi = 0; oi < NPG_OP_COUNT; oi++) {
        const t_op *op = &OPS[oi];
        if (op->arity == 0) continue;
        char fname[64];
        snprintf(fname, sizeof fname, "npg_%s", op->name);
        if (op->arity == 1) {
            npg_clear_error();
            cr_expect(op->u(NULL, &op->par[0]) == NULL, "%s(NULL) must return NULL", fname);
            cr_expect_eq(npg_last_status(), NPG_ERR_NULL_ARG, "%s(NULL): status %s", fname, npg_status_string(npg_last_status()));
            cr_expect(strstr(npg_last_error(), fname) != NULL, "%s(NULL): message '%s'", fname, npg_last_error());
            continue;
        }
        for (int form = 0; form < 4; form++) {
            if (form == 2) snprintf(fname, sizeof fname, "npg_%s_scalar", op->name);
            if (form == 3) snprintf(fname, sizeof fname, "npg_scalar_%s", op->name);
            npg_clear_error();
            npg_array *y = form == 0 ? op->b(NULL, x) : form == 1 ? op->b(x, NULL) : form == 2 ? op->bs(NULL, 1) : op->sb(1, NULL);
            cr_expect(y == NULL, "%s form %d with NULL must return NULL", fname, form);
            cr_expect_eq(npg_last_status(), NPG_ERR_NULL_ARG, "%s form %d: status %s", fname, form, npg_status_string(npg_last_status()));
            cr_expect(strstr(npg_last_error(), fname) != NULL, "%s form %d: message '%s'", fname, form, npg_last_error());
        }
    }
    npg_clear_error();
    cr_expect(npg_where(NULL, x, x) == NULL && npg_last_status() == NPG_ERR_NULL_ARG, "npg_where(NULL, ...)");
    npg_clear_error();
    cr_expect(npg_where_scalar(x, NULL, 1) == NULL && npg_last_status() == NPG_ERR_NULL_ARG, "npg_where_scalar(c, NULL, s)");
    npg_clear_error();
    cr_expect(npg_scalar_where(NULL, 1, x) == NULL && npg_last_status() == NPG_ERR_NULL_ARG, "npg_scalar_where(NULL, s, b)");
    t_assert_no_leak(before, "NULL inputs");
    t_expect_unchanged(x, (double[]){1, 2, 3}, 3, "NULL inputs");
    npg_scope_end(sc);
}

Test(elementwise, error_null_keeps_first_error) {
    t_require_device();
    npg_scope sc = npg_scope_begin();
    double v[30];
    for (int i = 0; i < 30; i++) v[i] = i * 0.5;
    npg_array *a = t_arr(v, NPG_FLOAT32, (npg_shape)SH(3, 4)), *b = t_arr(v, NPG_FLOAT32, (npg_shape)SH(5, 6));
    npg_array *y = t_arr(v, NPG_FLOAT32, (npg_shape)SH(3, 6));
    t_live before = t_live_now();
    npg_clear_error();
    npg_array *r = npg_add(npg_matmul(a, b), y);
    cr_expect(r == NULL, "npg_add(npg_matmul(bad), y) must be NULL");
    t_assert_error(NPG_ERR_SHAPE, "npg_matmul: shapes (3,4) and (5,6) are not aligned (4 != 5)");
    r = npg_exp(npg_multiply_scalar(npg_subtract(a, npg_matmul(a, b)), 2));
    cr_expect(r == NULL, "a chain over a failed matmul must be NULL");
    t_assert_error(NPG_ERR_SHAPE, "npg_matmul");
    r = npg_where(npg_greater(a, y), a, a);
    cr_expect(r == NULL, "where over a failed comparison must be NULL");
    t_assert_error(NPG_ERR_SHAPE, "npg_greater");
    r = npg_scalar_where(npg_logical_not(npg_sqrt(npg_bitwise_and(a, a))), 1, a);
    t_assert_error(NPG_ERR_DTYPE, "npg_bitwise_and");
    t_assert_no_leak(before, "error chains");
    t_expect_unchanged(a, v, 12, "error chains");
    t_expect_unchanged(b, v, 30, "error chains");
    npg_clear_error();
    npg_scope_end(sc);
}

Test(elementwise, op_table_is_complete) {
    /* every op of ops.def has a row; elementwise rows have a reference and a caller */
    int n_el = 0;
    for (int oi = 0; oi < NPG_OP_COUNT; oi++) {
        const t_op *op = &OPS[oi];
        cr_assert(op->name != NULL, "op %d has no row in the test table", oi);
        cr_assert(op->tested_in > 0, "op %s: nowhere tested", op->name);
        cr_log_info("%-20s tested in %s", op->name, IN_FILE[op->tested_in]);
        if (op->arity == 0) continue;
        n_el++;
        cr_assert(op->ref && op->dom, "op %s: no reference", op->name);
        cr_assert(op->arity == 1 ? op->u != NULL : (op->b && op->bs && op->sb), "op %s: no caller", op->name);
        cr_assert_str_eq(op->name, npg__op_info[oi].name, "table row %d is %s, ops.def says %s", oi, op->name, npg__op_info[oi].name);
    }
    cr_assert_gt(n_el, 60, "only %d elementwise ops found", n_el);
}

/* The array API's copysign, hypot, nextafter and signbit at the values the
 * table-driven sweep cannot pin down: one ulp steps (within its float32
 * tolerance), signed zeros and NaNs, overflow-free hypot, and the gradients
 * at their special points. */
Test(elementwise, copysign_hypot_nextafter_signbit_exactly) {
    t_live l0 = t_live_now();
    npg_scope s = npg_scope_begin();
    const double nz = -0.0, a[6] = {1, 1, 0, -2, 3, 1e300}, b[6] = {2, 0, 1, -3, NAN, 1};
    const double next64[6] = {nextafter(1.0, 2.0), nextafter(1.0, 0.0), nextafter(0.0, 1.0), nextafter(-2.0, -3.0), NAN,
                              nextafter(1e300, 1.0)};
    t_assert_close(npg_nextafter(t_arr(a, NPG_FLOAT64, NPG_SHAPE(6)), t_arr(b, NPG_FLOAT64, NPG_SHAPE(6))), next64, 6, 0, 0,
                   "nextafter float64");
    const double af[5] = {1, 1, 0, -2, 3}, bf[5] = {2, 0, 1, -3, 3};
    double next32[5];
    for (int i = 0; i < 5; i++) next32[i] = nextafterf((float)af[i], (float)bf[i]);
    t_assert_close(npg_nextafter(t_arr(af, NPG_FLOAT32, NPG_SHAPE(5)), t_arr(bf, NPG_FLOAT32, NPG_SHAPE(5))), next32, 5, 0, 0,
                   "nextafter float32 (steps of 2^-23 near 1)");
    /* copysign takes b's sign bit: -0.0 and a negative NaN count */
    const double cb[4] = {nz, 0.0, -NAN, NAN}, ca[4] = {2, -2, 3, -3}, cw[4] = {-2, 2, -3, 3};
    t_assert_close(npg_copysign(t_arr(ca, NPG_FLOAT64, NPG_SHAPE(4)), t_arr(cb, NPG_FLOAT64, NPG_SHAPE(4))), cw, 4, 0, 0,
                   "copysign with signed zeros and NaNs");
    const double sv[6] = {nz, 0.0, -NAN, NAN, -INFINITY, 1}, sw[6] = {1, 0, 1, 0, 1, 0};
    for (int f = 0; f < 2; f++)
        t_assert_close(npg_signbit(t_arr(sv, f ? NPG_FLOAT32 : NPG_FLOAT64, NPG_SHAPE(6))), sw, 6, 0, 0, "signbit");
    const double iv[4] = {-5, 0, 7, -1}, iw[4] = {1, 0, 0, 1};
    npg_array *sb = npg_signbit(t_arr(iv, NPG_INT32, NPG_SHAPE(4)));
    cr_assert(sb && npg_dtype_of(sb) == NPG_BOOL, "%s", npg_last_error());
    t_assert_close(sb, iw, 4, 0, 0, "signbit of int32");
    /* hypot neither overflows nor underflows where sqrt(a^2 + b^2) would */
    const double ha[3] = {1e200, 3e-200, 3}, hb[3] = {1e200, 4e-200, 4}, hw[3] = {1.4142135623730951e200, 5e-200, 5};
    t_assert_close(npg_hypot(t_arr(ha, NPG_FLOAT64, NPG_SHAPE(3)), t_arr(hb, NPG_FLOAT64, NPG_SHAPE(3))), hw, 3, 1e-15, 0,
                   "hypot at the ends of the range");
    /* gradients: hypot's is 0 at the origin, copysign's flips with the sign
     * and is 0 at a = 0; b gets none from copysign */
    const double ga[3] = {0, 3, -2}, gb[3] = {0, 4, 5};
    npg_array *x = t_arr(ga, NPG_FLOAT64, NPG_SHAPE(3)), *y = t_arr(gb, NPG_FLOAT64, NPG_SHAPE(3));
    npg_set_requires_grad(x, true);
    npg_set_requires_grad(y, true);
    cr_assert_eq(npg_backward(npg_sum(npg_hypot(x, y), NPG_ALL_AXES, false), NULL), NPG_OK, "%s", npg_last_error());
    const double hgx[3] = {0, 0.6, -2 / sqrt(29)}, hgy[3] = {0, 0.8, 5 / sqrt(29)};
    t_assert_close(npg_grad(x), hgx, 3, 1e-15, 0, "d hypot / da");
    t_assert_close(npg_grad(y), hgy, 3, 1e-15, 0, "d hypot / db");
    npg_zero_grad(x);
    npg_zero_grad(y);
    const double cs[3] = {-1, -1, -1};
    cr_assert_eq(npg_backward(npg_sum(npg_copysign(x, t_arr(cs, NPG_FLOAT64, NPG_SHAPE(3))), NPG_ALL_AXES, false), NULL),
                 NPG_OK, "%s", npg_last_error());
    const double cg[3] = {0, -1, 1}; /* a = 0; 3 -> -3; -2 stays -2 */
    t_assert_close(npg_grad(x), cg, 3, 0, 0, "d copysign / da");
    npg_scope_end(s);
    t_assert_no_leak(l0, "copysign, hypot, nextafter, signbit");
}
