/*
 * fuzz_shared.h — the machinery of the deterministic API-misuse fuzzers
 * (tests/common/test_fuzz.c, whose opening comment describes the checks, and
 * tests/common/test_fuzz2.c): the generator, random arguments and operands,
 * the per-call checks (result sanity, error status and message, a pending
 * error kept on NULL operands, operands unchanged, live-object counts, no
 * internal assertion) and the per-test and per-iteration bookkeeping.
 * Include it once, first, from a test file that defines _POSIX_C_SOURCE if
 * it needs it; then declare TestSuite(name, .init = suite_init, .fini =
 * suite_fini).
 */
#ifndef NPG_FUZZ_SHARED_H
#define NPG_FUZZ_SHARED_H

/* each fuzzer uses part of what follows */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-variable"

#include "test_util.h"
#include "scalar_ops.h" /* the half types' conversions, for their fills */

#include <float.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#ifdef __SANITIZE_ADDRESS__
/* A huge but representable size must fail with NPG_ERR_OOM; by default ASan
 * would report the allocation and abort instead of returning NULL. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }
#endif

/* ------------------------------------------------------------------------
 * Random numbers (splitmix64)
 * ------------------------------------------------------------------------ */

static uint64_t g_rng;

static uint64_t rnd(void) {
    uint64_t z = (g_rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
/* Uniform in [lo, hi]. */
static int rint_in(int lo, int hi) { return lo + (int)(rnd() % (uint64_t)((int64_t)hi - lo + 1)); }

/* A random permutation p of s.ndim axes (Fisher-Yates) and the shape *base
 * for which permute_dims(base, p) has shape s. */
static npg_axes rand_perm_of(npg_shape s, npg_shape *base) {
    npg_axes p = {.n = s.ndim};
    for (int i = 0; i < s.ndim; i++) p.axes[i] = i;
    for (int i = s.ndim - 1; i > 0; i--) {
        int j = rint_in(0, i), t = p.axes[i];
        p.axes[i] = p.axes[j];
        p.axes[j] = t;
    }
    *base = s;
    for (int i = 0; i < s.ndim; i++) base->dims[p.axes[i]] = s.dims[i];
    return p;
}
static bool chance(int percent) { return (int)(rnd() % 100) < percent; }
static double runit(void) { return (double)(rnd() >> 11) * 0x1p-53; }
#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define PICK(a) ((a)[rnd() % (uint64_t)NELEM(a)])

static double weird_double(void) {
    static const double v[] = {NAN, INFINITY, -INFINITY, 0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 1e300, -1e300, 1e-310,
                               DBL_MAX, 3.0, 1e18, -7.5, 0.999999, 1.000001};
    return chance(40) ? runit() * 6 - 3 : PICK(v);
}
static int64_t weird_i64(void) {
    static const int64_t v[] = {INT64_MIN, INT64_MAX, INT64_MIN + 1, INT32_MIN, INT32_MAX, (int64_t)1 << 40,
                                -((int64_t)1 << 40), -1, 0, 1, 2, 3, 255, 256, -2};
    return chance(40) ? rint_in(-4, 6) : PICK(v);
}
/* A count or length: small, negative, or so large that no allocation of it
 * can succeed (>= 2^47 elements, past any x86-64 address space), so that a
 * valid call never spends memory or time. */
static int64_t weird_count(void) {
    static const int64_t v[] = {INT64_MIN, INT64_MAX, -1, -2, (int64_t)1 << 47, (int64_t)1 << 50, (int64_t)1 << 62,
                                ((int64_t)1 << 62) + 1};
    return chance(70) ? rint_in(0, 6) : PICK(v);
}
static int weird_int(void) {
    static const int v[] = {INT_MIN, INT_MAX, NPG_FLAT, -1, 0, 1, 2, 3, 8, 9, -9, 100, -100, 1 << 30, INT_MAX / 2 + 1};
    return PICK(v);
}
/* An axis argument for an array of ndim axes: mostly valid. */
static int rand_axis(int ndim) {
    if (ndim > 0 && chance(75)) return rint_in(-ndim, ndim - 1);
    if (chance(40)) return chance(50) ? ndim : -ndim - 1;
    return weird_int();
}

static const npg_dtype ALL_DTYPES[] = {NPG_BOOL,    NPG_UINT8,   NPG_INT32,    NPG_INT64, NPG_FLOAT32,
                                       NPG_FLOAT64, NPG_FLOAT16, NPG_BFLOAT16, NPG_INT8,  NPG_INT16,
                                       NPG_UINT16,  NPG_UINT32,  NPG_UINT64};

/* A dtype for an operand: bool a tenth of the time, an integer (any of the
 * eight) about two fifths, float32 or float64 half. */
static npg_dtype rand_dtype(void) {
    static const npg_dtype w[] = {NPG_BOOL,    NPG_BOOL,    NPG_UINT8,   NPG_INT8,    NPG_INT16,   NPG_UINT16,
                                  NPG_INT32,   NPG_UINT32,  NPG_INT64,   NPG_INT64,   NPG_UINT64,  NPG_FLOAT32,
                                  NPG_FLOAT32, NPG_FLOAT32, NPG_FLOAT32, NPG_FLOAT32, NPG_FLOAT32, NPG_FLOAT64,
                                  NPG_FLOAT64, NPG_FLOAT64, NPG_FLOAT64};
    return PICK(w);
}

/* ------------------------------------------------------------------------
 * Dtypes: the reference semantics (npg.h's promotion and casts, and
 * src/common/scalar_ops.h's per-element meaning), kept apart from the
 * library's own functions so that the references check those too
 * ------------------------------------------------------------------------ */

/* bool and the integers: t_is_unsigned, t_is_int, t_get_bits, t_put_bits
 * (test_util.h, test code like these). */
static bool fz_is_sint(npg_dtype dt) { return t_is_int(dt) && !t_is_unsigned(dt); }
static bool fz_is_half(npg_dtype dt) { return dt == NPG_FLOAT16 || dt == NPG_BFLOAT16; }
static bool fz_is_float(npg_dtype dt) { return dt == NPG_FLOAT32 || dt == NPG_FLOAT64 || fz_is_half(dt); }

/* Bytes per element. */
static int fz_size(npg_dtype dt) {
    switch (dt) {
    case NPG_BOOL:
    case NPG_UINT8:
    case NPG_INT8: return 1;
    case NPG_INT16:
    case NPG_UINT16:
    case NPG_FLOAT16:
    case NPG_BFLOAT16: return 2;
    case NPG_INT32:
    case NPG_UINT32:
    case NPG_FLOAT32: return 4;
    case NPG_INT64:
    case NPG_UINT64:
    case NPG_FLOAT64: return 8;
    default: cr_assert_fail("fuzz: bad dtype %d", (int)dt);
    }
    return 0;
}

/* The dtype two operands promote to (npg.h): bool below everything; within
 * the signed and within the unsigned integers the wider; signed with
 * unsigned the smallest signed type holding both, but uint64 with a signed
 * integer float64; an integer with a float the float; among floats the
 * wider, float16 with bfloat16 float32. */
static npg_dtype fz_result_type(npg_dtype a, npg_dtype b) {
    if (a == b || b == NPG_BOOL) return a;
    if (a == NPG_BOOL) return b;
    if (fz_is_float(a) && fz_is_float(b)) {
        if (a == NPG_FLOAT64 || b == NPG_FLOAT64) return NPG_FLOAT64;
        return NPG_FLOAT32; /* float32 with a half type, or the two half types */
    }
    if (fz_is_float(a)) return a;
    if (fz_is_float(b)) return b;
    int sa = fz_size(a), sb = fz_size(b);
    if (t_is_unsigned(a) == t_is_unsigned(b)) return sa >= sb ? a : b;
    int ss = t_is_unsigned(a) ? sb : sa, us = t_is_unsigned(a) ? sa : sb; /* the signed one's size, the unsigned one's */
    if (ss > us) return t_is_unsigned(a) ? b : a;
    switch (us) {
    case 1: return NPG_INT16;
    case 2: return NPG_INT32;
    case 4: return NPG_INT64;
    default: return NPG_FLOAT64;
    }
}

/* Element i of bool or an integer dtype as an int64: exact, but a uint64
 * above INT64_MAX saturates to INT64_MAX. */
static int64_t fz_get_i64(const void *b, npg_dtype dt, int64_t i) {
    uint64_t u = t_get_bits(dt, b, i);
    if (dt == NPG_UINT64 && u > (uint64_t)INT64_MAX) return INT64_MAX;
    return (int64_t)u;
}
/* Element i of any dtype as a double (an int64 or uint64 rounded to
 * nearest, as a cast to float64 does). */
static double fz_get_f(const void *b, npg_dtype dt, int64_t i) {
    switch (dt) {
    case NPG_FLOAT32: return npg_s_f32_to_f64(((const float *)b)[i]);
    case NPG_FLOAT64: return ((const double *)b)[i];
    case NPG_FLOAT16: return npg_s_f16_to_f32(((const uint16_t *)b)[i]);
    case NPG_BFLOAT16: return npg_s_bf16_to_f32(((const uint16_t *)b)[i]);
    case NPG_UINT64: return (double)((const uint64_t *)b)[i];
    default: return (double)(int64_t)t_get_bits(dt, b, i); /* fails for a bad dtype */
    }
}
/* Store v as element i of dtype dt as a cast from float64 converts it:
 * floats rounded to nearest (the half types through float32 rounded to
 * odd), integers truncated and saturated with NaN 0, bool v != 0. */
static void fz_put_f(void *b, npg_dtype dt, int64_t i, double v) {
    switch (dt) {
    case NPG_BOOL: ((uint8_t *)b)[i] = v != 0; break;
    case NPG_UINT8: ((uint8_t *)b)[i] = npg_s_f64_to_u8(v); break;
    case NPG_UINT16: ((uint16_t *)b)[i] = npg_s_f64_to_u16(v); break;
    case NPG_UINT32: ((uint32_t *)b)[i] = npg_s_f64_to_u32(v); break;
    case NPG_UINT64: ((uint64_t *)b)[i] = npg_s_f64_to_u64(v); break;
    case NPG_INT8: ((int8_t *)b)[i] = npg_s_f64_to_i8(v); break;
    case NPG_INT16: ((int16_t *)b)[i] = npg_s_f64_to_i16(v); break;
    case NPG_INT32: ((int32_t *)b)[i] = npg_s_f64_to_i32(v); break;
    case NPG_INT64: ((int64_t *)b)[i] = npg_s_f64_to_i64(v); break;
    case NPG_FLOAT32: ((float *)b)[i] = npg_s_f64_to_f32(v); break;
    case NPG_FLOAT64: ((double *)b)[i] = v; break;
    case NPG_FLOAT16: ((uint16_t *)b)[i] = npg_s_f64_to_f16(v); break;
    case NPG_BFLOAT16: ((uint16_t *)b)[i] = npg_s_f64_to_bf16(v); break;
    default: cr_assert_fail("fuzz: fz_put_f into a %s element", npg_dtype_name(dt));
    }
}

static npg_dtype rand_float_dtype(void) { return chance(50) ? NPG_FLOAT32 : NPG_FLOAT64; }
/* A dtype argument, invalid values included. */
static npg_dtype rand_dtype_arg(void) {
    static const int bad[] = {NPG_DTYPE_DEFAULT, -1, NPG_DTYPE_COUNT, 99, INT_MIN};
    return chance(90) ? rand_dtype() : (npg_dtype)PICK(bad);
}

/* ------------------------------------------------------------------------
 * Shapes
 * ------------------------------------------------------------------------ */

static int64_t numel_of(npg_shape s) {
    int64_t n = 1;
    for (int i = 0; i < s.ndim; i++) n *= s.dims[i];
    return n;
}

/* 0 to 4 axes (sometimes up to NPG_MAX_DIMS) of 0 to 5, at most 64 elements. */
static npg_shape rand_shape(void) {
    npg_shape s = {.ndim = chance(10) ? rint_in(5, NPG_MAX_DIMS) : rint_in(0, 4)};
    int64_t n = 1;
    for (int i = 0; i < s.ndim; i++) {
        int r = rint_in(0, 99);
        int64_t d = r < 7 ? 0 : r < 35 ? 1 : r < 80 ? 2 : rint_in(3, 5);
        if (n * d > 64) d = 1;
        if (d) n *= d;
        s.dims[i] = d;
    }
    return s;
}

/* A shape that broadcasts with s (leading axes dropped or added, some dims
 * 1), now and then one that does not. */
static npg_shape bcast_partner(npg_shape s) {
    npg_shape t = {0};
    int drop = (s.ndim && chance(50)) ? rint_in(0, s.ndim) : 0;
    int add = (s.ndim < NPG_MAX_DIMS && chance(20)) ? 1 : 0;
    if (add) t.dims[t.ndim++] = rint_in(1, 3);
    for (int i = drop; i < s.ndim; i++) t.dims[t.ndim++] = chance(25) ? 1 : s.dims[i];
    if (t.ndim > 0 && chance(12)) t.dims[rint_in(0, t.ndim - 1)] = rint_in(0, 4);
    return t;
}

/* A shape argument: mostly sane, sometimes negative, huge or too many axes. */
static npg_shape rand_shape_arg(void) {
    if (chance(80)) return rand_shape();
    static const int64_t d[] = {-1, -2, 0, 1, 2, 3, INT64_MAX, INT64_MIN, (int64_t)1 << 47, (int64_t)1 << 50,
                                (int64_t)1 << 62};
    npg_shape s = {.ndim = rint_in(-2, NPG_MAX_DIMS + 3)};
    for (int i = 0; i < NPG_MAX_DIMS; i++) s.dims[i] = chance(50) ? rint_in(0, 3) : PICK(d);
    return s;
}

static char *shape_str(const npg_shape *s, char *buf, size_t len) {
    int k = snprintf(buf, len, "(");
    for (int i = 0; i < s->ndim && i < NPG_MAX_DIMS && k < (int)len; i++)
        k += snprintf(buf + k, len - (size_t)k, i ? ",%lld" : "%lld", (long long)s->dims[i]);
    if (k < (int)len) snprintf(buf + k, len - (size_t)k, s->ndim > NPG_MAX_DIMS ? " ndim=%d)" : ")", s->ndim);
    return buf;
}
static char *axes_str(npg_axes a, char *buf, size_t len) {
    int k = snprintf(buf, len, "{n=%d:", a.n);
    for (int i = 0; i < a.n && i < NPG_MAX_DIMS && k < (int)len; i++)
        k += snprintf(buf + k, len - (size_t)k, " %d", a.axes[i]);
    if (k < (int)len) snprintf(buf + k, len - (size_t)k, "}");
    return buf;
}

/* A set of axes for an array of ndim axes: all, valid ones, repeated,
 * out of range, negative, or a count outside [0, NPG_MAX_DIMS]. */
static npg_axes rand_axes(int ndim) {
    npg_axes a = {0};
    int r = rint_in(0, 99);
    if (r < 15) return a;
    if (r < 20) {
        a.n = chance(50) ? -rint_in(1, 3) : rint_in(NPG_MAX_DIMS + 1, NPG_MAX_DIMS + 4);
        for (int i = 0; i < NPG_MAX_DIMS; i++) a.axes[i] = rand_axis(ndim);
        return a;
    }
    int perm[NPG_MAX_DIMS];
    for (int i = 0; i < NPG_MAX_DIMS; i++) perm[i] = i;
    for (int i = ndim - 1; i > 0; i--) {
        int j = rint_in(0, i), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    a.n = rint_in(1, ndim > 0 ? ndim : 1);
    for (int i = 0; i < a.n; i++) {
        a.axes[i] = i < ndim ? perm[i] : 0;
        if (chance(30)) a.axes[i] -= ndim;
        if (chance(10)) a.axes[i] = rand_axis(ndim);
    }
    if (a.n < NPG_MAX_DIMS && chance(8)) a.axes[a.n++] = a.axes[0]; /* repeated */
    return a;
}

/* A permutation of ndim axes, sometimes broken. */
static npg_axes rand_perm(int ndim) {
    npg_axes a = {.n = ndim};
    for (int i = 0; i < ndim; i++) a.axes[i] = i;
    for (int i = ndim - 1; i > 0; i--) {
        int j = rint_in(0, i), t = a.axes[i];
        a.axes[i] = a.axes[j];
        a.axes[j] = t;
    }
    for (int i = 0; i < ndim; i++)
        if (chance(15)) a.axes[i] -= ndim;
    int r = rint_in(0, 99);
    if (r < 10 && ndim > 0)
        a.axes[rint_in(0, ndim - 1)] = chance(50) ? a.axes[0] : rand_axis(ndim);
    else if (r < 18)
        a.n = chance(50) ? rint_in(-2, NPG_MAX_DIMS + 3) : ndim + (chance(50) ? 1 : -1);
    return a;
}

/* ------------------------------------------------------------------------
 * Operands: a pool per iteration, freed together
 * ------------------------------------------------------------------------ */

#define POOL_CAP 96
static struct {
    npg_array *x;
    npg_array *base; /* the array x views (in the pool too), or NULL */
} g_pool[POOL_CAP];
static int g_npool;
static int g_null_pct = 4; /* chance that an operand is NULL */

static npg_array *pool_add(npg_array *x, npg_array *base) {
    cr_assert(g_npool < POOL_CAP, "fuzz: operand pool full");
    g_pool[g_npool].x = x;
    g_pool[g_npool].base = base;
    g_npool++;
    return x;
}
static npg_array *pool_base(const npg_array *x) {
    for (int i = 0; i < g_npool; i++)
        if (g_pool[i].x == x) return g_pool[i].base;
    return NULL;
}
static void pool_clear(void) {
    for (int i = g_npool - 1; i >= 0; i--) npg_free(g_pool[i].x);
    g_npool = 0;
}

/* How element values are drawn: free values, or integers in [lo, hi] with
 * `bad` percent of wild ones (indices, labels). */
static struct {
    bool ranged;
    int64_t lo, hi;
    int bad;
} g_fill;

static void fill_host(void *buf, npg_dtype dt, int64_t n) {
    static const float wf[] = {NAN, INFINITY, -INFINITY, -0.0f, FLT_MAX, -FLT_MAX, 1e-40f, 0.5f};
    static const double wd[] = {NAN, -NAN, INFINITY, -INFINITY, -0.0, DBL_MAX, 1e-310, 1e300};
    /* each integer type's extremes, its shift widths and a value that wraps in a narrower type */
    static const int8_t w8[] = {INT8_MIN, INT8_MAX, INT8_MIN + 1, -1, 0, 7, 8, 9};
    static const int16_t w16[] = {INT16_MIN, INT16_MAX, -1, 0, 15, 16, 17, 255};
    static const int32_t w32[] = {INT32_MIN, INT32_MAX, -1, 0, 31, 32, 33, 64};
    static const int64_t w64[] = {INT64_MIN, INT64_MAX, -1, 0, 63, 64, 65, INT32_MIN};
    static const uint16_t wu16[] = {UINT16_MAX, 0x8000, 0x7fff, 0, 15, 16, 17, 256};
    static const uint32_t wu32[] = {UINT32_MAX, 0x80000000u, 0x7fffffffu, 0, 31, 32, 33, (1u << 24) + 1};
    static const uint64_t wu64[] = {UINT64_MAX, (uint64_t)1 << 63, ((uint64_t)1 << 63) + 1, (uint64_t)INT64_MAX,
                                    0, 63, 64, ((uint64_t)1 << 53) + 1};
    for (int64_t i = 0; i < n; i++) {
        int64_t iv;
        bool wild;
        if (g_fill.ranged) {
            wild = chance(g_fill.bad);
            iv = wild ? weird_i64() : g_fill.lo + (int64_t)(rnd() % (uint64_t)(g_fill.hi - g_fill.lo + 1));
        } else {
            wild = chance(8);
            iv = rint_in(-3, 5);
        }
        /* ranged: iv wrapped into the dtype; else iv or (wild) the dtype's extremes */
        bool x = !g_fill.ranged && wild;
        switch (dt) {
        case NPG_BOOL: ((uint8_t *)buf)[i] = (uint8_t)(rnd() & 1); break;
        case NPG_UINT8: ((uint8_t *)buf)[i] = wild ? (uint8_t)rnd() : npg_s_i64_to_u8(iv); break;
        case NPG_INT8: t_put_bits(dt, buf, i, x ? (uint64_t)(int64_t)PICK(w8) : (uint64_t)iv); break;
        case NPG_INT16: t_put_bits(dt, buf, i, x ? (uint64_t)(int64_t)PICK(w16) : (uint64_t)iv); break;
        case NPG_INT32: t_put_bits(dt, buf, i, x ? (uint64_t)(int64_t)PICK(w32) : (uint64_t)iv); break;
        case NPG_INT64: t_put_bits(dt, buf, i, x ? (uint64_t)PICK(w64) : (uint64_t)iv); break;
        case NPG_UINT16: t_put_bits(dt, buf, i, x ? (uint64_t)PICK(wu16) : (uint64_t)iv); break;
        case NPG_UINT32: t_put_bits(dt, buf, i, x ? (uint64_t)PICK(wu32) : (uint64_t)iv); break;
        case NPG_UINT64: t_put_bits(dt, buf, i, x ? PICK(wu64) : (uint64_t)iv); break;
        case NPG_FLOAT32:
            ((float *)buf)[i] = g_fill.ranged ? (float)iv : wild ? PICK(wf) : (float)(runit() * 6 - 3);
            break;
        case NPG_FLOAT64: ((double *)buf)[i] = g_fill.ranged ? (double)iv : wild ? PICK(wd) : runit() * 6 - 3; break;
        case NPG_FLOAT16:
        case NPG_BFLOAT16: { /* float32's values and wild ones, rounded (FLT_MAX: inf in float16) */
            float f = g_fill.ranged ? (float)iv : wild ? PICK(wf) : (float)(runit() * 6 - 3);
            ((uint16_t *)buf)[i] = dt == NPG_FLOAT16 ? npg_s_f32_to_f16(f) : npg_s_f32_to_bf16(f);
            break;
        }
        default: cr_assert_fail("fuzz: bad dtype %d", (int)dt);
        }
    }
}

/* A fresh array of shape s on the device under test, its values from fill. */
static npg_array *fresh_with(npg_dtype dt, npg_shape s, void (*fill)(void *, npg_dtype, int64_t)) {
    int64_t n = numel_of(s);
    void *buf = malloc((size_t)(n > 0 ? n : 1) * 8);
    cr_assert(buf);
    fill(buf, dt, n);
    npg_array *x = npg_from_data(buf, dt, s, NPG_OPTS(.device = t_dev()));
    free(buf);
    cr_assert(x, "fuzz setup: npg_from_data: %s", npg_last_error());
    return x;
}
static npg_array *fresh(npg_dtype dt, npg_shape s) { return fresh_with(dt, s, fill_host); }

static void setup_rg(npg_array *x) {
    cr_assert_eq(npg_set_requires_grad(x, true), NPG_OK, "fuzz setup: %s", npg_last_error());
}

/* A non-NULL operand of dtype dt (0: random) and shape s: a fresh array, or
 * a transposed, strided or broadcast view of one; floating ones require grad
 * grad_pct percent of the time (a view then has a grad_fn). */
static npg_array *make(npg_dtype dt, npg_shape s, int grad_pct) {
    if (dt == NPG_DTYPE_DEFAULT) dt = rand_dtype();
    bool grad = npg_is_floating(dt) && chance(grad_pct);
    int r = s.ndim ? rint_in(0, 99) : 0;
    if (r < 55) {
        npg_array *x = fresh(dt, s);
        if (grad) setup_rg(x);
        return pool_add(x, NULL);
    }
    npg_shape bs = s;
    npg_array *base, *x;
    const char *how;
    if (r < 70 && s.ndim >= 2) { /* x = permute_dims(base, p) */
        how = "permute_dims";
        npg_axes p = rand_perm_of(s, &bs);
        base = fresh(dt, bs);
        if (grad) setup_rg(base);
        x = npg_permute_dims(base, p);
    } else if (r < 85) { /* a step-k slice along one axis */
        how = "index";
        static const int64_t steps[] = {2, 3, -1, -2};
        int k = rint_in(0, s.ndim - 1);
        int64_t step = PICK(steps), as = step < 0 ? -step : step;
        bs.dims[k] = s.dims[k] * as;
        npg_idx idx[NPG_MAX_DIMS];
        for (int i = 0; i < s.ndim; i++) idx[i] = NPG_ALL;
        idx[k] = NPG_SLICE(step > 0 ? rint_in(0, (int)as - 1) : NPG_NONE, NPG_NONE, step);
        base = fresh(dt, bs);
        if (grad) setup_rg(base);
        x = npg_index(base, idx, s.ndim);
    } else { /* a broadcast view */
        how = "broadcast_to";
        int drop = rint_in(0, s.ndim);
        bs.ndim = s.ndim - drop;
        for (int i = 0; i < bs.ndim; i++) bs.dims[i] = chance(50) ? 1 : s.dims[i + drop];
        base = fresh(dt, bs);
        if (grad) setup_rg(base);
        x = npg_broadcast_to(base, s);
    }
    cr_assert(x, "fuzz setup: %s view: %s", how, npg_last_error());
    npg_shape got = npg_shape_of(x);
    cr_assert(got.ndim == s.ndim && memcmp(got.dims, s.dims, sizeof(int64_t) * (size_t)s.ndim) == 0,
              "fuzz setup: %s view has the wrong shape", how);
    pool_add(base, NULL);
    return pool_add(x, base);
}

/* An operand that is NULL g_null_pct percent of the time. */
static npg_array *operand(npg_dtype dt, npg_shape s) { return chance(g_null_pct) ? NULL : make(dt, s, 25); }
static npg_array *any_operand(void) { return operand(NPG_DTYPE_DEFAULT, rand_shape()); }
static npg_array *float_operand(npg_shape s) { return operand(chance(85) ? rand_float_dtype() : rand_dtype(), s); }

/* Integer operand (indices, labels) with values in [lo, hi] (wrapped into
 * the dtype), `bad` percent wild; mostly int64/int32, sometimes another
 * integer dtype or any dtype. */
static npg_array *int_operand(npg_shape s, int64_t lo, int64_t hi, int bad) {
    if (hi < lo) hi = lo;
    g_fill.ranged = true;
    g_fill.lo = lo;
    g_fill.hi = hi;
    g_fill.bad = bad;
    static const npg_dtype other[] = {NPG_UINT8, NPG_INT8, NPG_INT16, NPG_UINT16, NPG_UINT32, NPG_UINT64};
    int r = rint_in(0, 99);
    npg_dtype dt = r < 50 ? NPG_INT64 : r < 78 ? NPG_INT32 : r < 92 ? PICK(other) : rand_dtype();
    npg_array *x = chance(g_null_pct) ? NULL : make(dt, s, 10);
    g_fill.ranged = false;
    return x;
}

/* Options for creation functions: NULL, or random fields (bad dtypes and
 * devices now and then). */
static npg_generator *g_gen;
static const npg_opts *rand_opts(npg_opts *o) {
    if (chance(30)) return NULL;
    memset(o, 0, sizeof *o);
    o->dtype = chance(30) ? NPG_DTYPE_DEFAULT : rand_dtype_arg();
    int r = rint_in(0, 99);
    o->device = r < 70 ? t_dev() : r < 80 ? NPG_DEFAULT_DEVICE : r < 85 ? NPG_CPU : r < 90 ? NPG_CUDA(rint_in(0, 3))
              : r < 95 ? (npg_device){NPG_DEVICE_TYPE_COUNT + rint_in(0, 5), 0} : (npg_device){NPG_DEVICE_CPU, rint_in(-2, 3)};
    o->requires_grad = chance(20);
    o->generator = chance(30) ? g_gen : NULL;
    return o;
}

/* ------------------------------------------------------------------------
 * The call under test and its checks
 * ------------------------------------------------------------------------ */

#define MAX_OPS 12
#define MAX_WATCH (2 * MAX_OPS)

typedef struct watch {
    const npg_array *x;
    unsigned char *bytes;
    size_t nbytes;
    npg_shape shape;
    npg_dtype dtype;
    bool rg;
    uint64_t version;
    bool target; /* shares storage with an in-place target: may change on success */
} watch;

static struct {
    char what[400];
    int nops;
    npg_array *ops[MAX_OPS];
    npg_array *target, *target2; /* up to two in-place targets */
    bool null_op;   /* a required array operand is NULL: the call must fail */
    bool must_fail; /* another argument makes the call invalid */
    bool sentinel;  /* an error was pending before the call */
    int nw;
    watch w[MAX_WATCH];
} C;

static const char *g_test;
static int g_iter;
static int64_t g_calls;
static t_live g_live0;
static char g_sentinel_msg[64];
static volatile bool g_bug;
static char g_bug_msg[512];
static bool g_backward_done; /* backward frees the graph: once per iteration */
static bool g_trace;         /* NPG_FUZZ_TRACE=1: print each call before making it */
static int g_force_sentinel = -1; /* 0 / 1: no pending error / one, for NULL operands; -1: random */

static void describe(const npg_array *x, char *buf, size_t len) {
    if (!x) {
        snprintf(buf, len, "NULL");
        return;
    }
    npg_shape s = npg_shape_of(x);
    int64_t st[NPG_MAX_DIMS] = {0};
    npg_strides(x, st);
    char sb[128];
    int k = snprintf(buf, len, "%s%s strides(", npg_dtype_name(npg_dtype_of(x)), shape_str(&s, sb, sizeof sb));
    for (int i = 0; i < s.ndim && k < (int)len; i++)
        k += snprintf(buf + k, len - (size_t)k, i ? ",%lld" : "%lld", (long long)st[i]);
    if (k < (int)len)
        snprintf(buf + k, len - (size_t)k, ")%s%s%s%s", npg_is_contiguous(x) ? "" : " non-contiguous",
                 pool_base(x) ? " view" : "", npg_requires_grad(x) ? " requires_grad" : "",
                 npg_is_leaf(x) ? "" : " non-leaf");
}

static void fail(const char *fmt, ...) {
    char why[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    char ops[2400];
    int k = 0;
    ops[0] = '\0';
    for (int i = 0; i < C.nops && k < (int)sizeof ops - 200; i++) {
        char d[200];
        describe(C.ops[i], d, sizeof d);
        k += snprintf(ops + k, sizeof ops - (size_t)k, "\n    operand %d: %s", i, d);
    }
    cr_assert_fail("fuzz %s, iteration %d: %s\n  call: %s%s", g_test, g_iter, why, C.what, ops);
}
#define CHECK(cond, ...)                   \
    do {                                   \
        if (!(cond)) fail(__VA_ARGS__);    \
    } while (0)

static void drop_watches(void) {
    for (int i = 0; i < C.nw; i++) free(C.w[i].bytes);
    C.nw = 0;
}

/* Start describing a call. */
static void call(const char *fmt, ...) {
    drop_watches();
    memset(&C, 0, sizeof C);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(C.what, sizeof C.what, fmt, ap);
    va_end(ap);
}
/* A required array operand (NULL must make the call fail). */
static npg_array *arg(npg_array *x) {
    cr_assert(C.nops < MAX_OPS);
    C.ops[C.nops++] = x;
    if (!x) C.null_op = true;
    return x;
}
/* An optional array operand (NULL means "none"). */
static npg_array *opt_arg(npg_array *x) {
    cr_assert(C.nops < MAX_OPS);
    C.ops[C.nops++] = x;
    return x;
}
/* An array a successful call writes in place (a required operand; two at most). */
static npg_array *target(npg_array *x) {
    if (C.target && x != C.target) C.target2 = x;
    else C.target = x;
    return arg(x);
}
static void must_fail(void) { C.must_fail = true; }

static void watch_add(const npg_array *x) {
    if (!x) return;
    for (int i = 0; i < C.nw; i++)
        if (C.w[i].x == x) return;
    cr_assert(C.nw < MAX_WATCH);
    watch *w = &C.w[C.nw++];
    memset(w, 0, sizeof *w);
    w->x = x;
    w->nbytes = npg_nbytes(x);
    w->bytes = malloc(w->nbytes ? w->nbytes : 1);
    cr_assert(w->bytes);
    cr_assert_eq(npg_copy_to_host(x, w->bytes, w->nbytes), NPG_OK, "fuzz: snapshot: %s", npg_last_error());
    w->shape = npg_shape_of(x);
    w->dtype = npg_dtype_of(x);
    w->rg = npg_requires_grad(x);
    w->version = npg_version(x);
    w->target = (C.target && x->storage == C.target->storage) || (C.target2 && x->storage == C.target2->storage);
}

/* Snapshot the operands (and what they view), then set the error state:
 * cleared, or — when an operand is NULL, half of the time — a pending error
 * that the call must keep. */
static void go(void) {
    if (g_trace) {
        fprintf(stderr, "fuzz %s %d: %s\n", g_test, g_iter, C.what);
        for (int i = 0; i < C.nops; i++) {
            char d[200];
            describe(C.ops[i], d, sizeof d);
            fprintf(stderr, "    operand %d: %s\n", i, d);
        }
    }
    for (int i = 0; i < C.nops; i++) {
        watch_add(C.ops[i]);
        watch_add(pool_base(C.ops[i]));
    }
    C.sentinel = C.null_op && (g_force_sentinel >= 0 ? g_force_sentinel == 1 : chance(50));
    if (C.sentinel) {
        snprintf(g_sentinel_msg, sizeof g_sentinel_msg, "fuzz: pending error %d", g_iter);
        npg__set_error(NPG_ERR_FORMAT, "%s", g_sentinel_msg);
    } else {
        npg_clear_error();
    }
    g_bug = false;
    g_calls++;
}

/* The error state after a call that failed or succeeded. */
static void after(bool failed) {
    npg_status st = npg_last_status();
    const char *msg = npg_last_error();
    CHECK(!g_bug, "an internal assertion fired: %s", g_bug_msg);
    if (C.null_op || C.must_fail) CHECK(failed, "succeeded, but an argument is %s", C.null_op ? "NULL" : "invalid");
    if (!failed) return;
    CHECK(st != NPG_OK, "failed without an error status");
    CHECK(msg && msg[0], "failed (status %d: %s) with an empty message", (int)st, npg_status_string(st));
    CHECK(st != NPG_ERR_INTERNAL, "internal error: %s", msg);
    /* With another invalid argument besides the NULL, either error may win. */
    if (C.must_fail) return;
    if (C.sentinel)
        CHECK(st == NPG_ERR_FORMAT && strcmp(msg, g_sentinel_msg) == 0,
              "a NULL operand overwrote the pending error with status %d: %s", (int)st, msg);
    else if (C.null_op)
        CHECK(st == NPG_ERR_NULL_ARG, "a NULL operand gave status %d (%s) instead of NPG_ERR_NULL_ARG: %s", (int)st,
              npg_status_string(st), msg);
}

/* On CUDA an index out of range inside a kernel is reported by the next
 * synchronising call instead (npg.h, npg_take): collect it once the call's
 * own error state has been checked, before anything reads data. */
static void settle(void) {
    if (t_dev().type != NPG_DEVICE_CUDA) return;
    npg_status st = npg_synchronize(t_dev());
    CHECK(st == NPG_OK || st == NPG_ERR_INDEX, "synchronising after the call: %s", npg_last_error());
}

/* No operand changed (in-place targets may, when the call succeeded). */
static void check_unchanged(bool succeeded) {
    settle();
    for (int i = 0; i < C.nw; i++) {
        watch *w = &C.w[i];
        if (w->target && succeeded) continue;
        const char *role = w->target ? "the target of a failed in-place call" : "an operand";
        npg_shape s = npg_shape_of(w->x);
        CHECK(s.ndim == w->shape.ndim && memcmp(s.dims, w->shape.dims, sizeof(int64_t) * (size_t)s.ndim) == 0,
              "%s changed shape", role);
        CHECK(npg_dtype_of(w->x) == w->dtype, "%s changed dtype", role);
        CHECK(npg_requires_grad(w->x) == w->rg, "%s changed requires_grad", role);
        CHECK(npg_version(w->x) == w->version, "%s had its storage version bumped (%llu -> %llu)", role,
              (unsigned long long)w->version, (unsigned long long)npg_version(w->x));
        unsigned char *now = malloc(w->nbytes ? w->nbytes : 1);
        cr_assert(now);
        cr_assert_eq(npg_copy_to_host(w->x, now, w->nbytes), NPG_OK, "fuzz: re-read: %s", npg_last_error());
        bool same = memcmp(now, w->bytes, w->nbytes) == 0;
        free(now);
        CHECK(same, "%s was modified (its bytes differ)", role);
    }
}

/* A result: sane geometry and dtype, readable. */
static void check_sane(npg_array *r) {
    settle();
    int nd = npg_ndim(r);
    CHECK(nd >= 0 && nd <= NPG_MAX_DIMS, "result has ndim %d", nd);
    npg_shape s = npg_shape_of(r);
    bool big = false;
    int64_t n = 1;
    for (int i = 0; i < nd; i++) {
        CHECK(s.dims[i] >= 0, "result dim %d is %lld", i, (long long)s.dims[i]);
        if (s.dims[i] && n > INT64_MAX / s.dims[i]) big = true;
        else n *= s.dims[i];
    }
    npg_dtype dt = npg_dtype_of(r);
    CHECK(dt >= NPG_BOOL && dt < NPG_DTYPE_COUNT, "result has dtype %d", (int)dt);
    if (npg_requires_grad(r)) CHECK(npg_is_floating(dt), "a %s result requires grad", npg_dtype_name(dt));
    CHECK(npg_device_of(r).type != NPG_DEVICE_DEFAULT, "result has no device");
    if (big) return;
    CHECK(npg_size(r) == n, "result size %lld != product of its dims %lld", (long long)npg_size(r), (long long)n);
    CHECK(npg_nbytes(r) == (size_t)n * npg_dtype_size(dt), "result nbytes %zu for %lld elements", npg_nbytes(r),
          (long long)n);
    if (n > (1 << 20)) return;
    size_t nb = npg_nbytes(r);
    void *buf = malloc(nb ? nb : 1);
    cr_assert(buf);
    npg_status st = npg_copy_to_host(r, buf, nb);
    free(buf);
    CHECK(st == NPG_OK, "the result cannot be read: %s", npg_last_error());
}

/* Every leaf in the pool has a gradient of its own shape and dtype, or none. */
static void check_leaf_grads(void) {
    for (int i = 0; i < g_npool; i++) {
        npg_array *x = g_pool[i].x;
        if (!npg_requires_grad(x) || !npg_is_leaf(x)) continue;
        npg_array *g = npg_grad(x);
        if (!g) continue;
        npg_shape gs = npg_shape_of(g), xs = npg_shape_of(x);
        bool ok = gs.ndim == xs.ndim && memcmp(gs.dims, xs.dims, sizeof(int64_t) * (size_t)xs.ndim) == 0 &&
                  npg_dtype_of(g) == npg_dtype_of(x);
        npg_free(g);
        CHECK(ok, "backward left a leaf a gradient of another shape or dtype");
    }
}

/* Backward through sum(r) when r requires grad (some of the time). */
static void maybe_backward(npg_array *r) {
    if (!npg_requires_grad(r) || npg_size(r) > 4096 || g_backward_done || !chance(40)) return;
    g_backward_done = true;
    npg_clear_error();
    npg_array *s = npg_sum(r, NPG_ALL_AXES, false);
    CHECK(s, "sum of the result failed: %s", npg_last_error());
    npg_status st = npg_backward(s, NULL);
    npg_free(s);
    CHECK(!g_bug, "an internal assertion fired in backward: %s", g_bug_msg);
    CHECK(st == NPG_OK, "backward through the result failed: %s", npg_last_error());
    check_leaf_grads();
}

/* Checks after a call returning an array; frees the result. */
static void done(npg_array *r) {
    after(r == NULL);
    if (r) {
        check_sane(r);
        maybe_backward(r);
    }
    check_unchanged(r != NULL);
    npg_free(r);
}
/* Checks after a call returning a status. */
static void done_status(npg_status st) {
    if (st != NPG_OK) CHECK(st == npg_last_status(), "returned %d but the last status is %d", (int)st,
                            (int)npg_last_status());
    after(st != NPG_OK);
    check_unchanged(st == NPG_OK);
}
/* Checks after a call whose failure shows otherwise (-1, NaN...). */
static void done_value(bool failed) {
    after(failed);
    check_unchanged(!failed);
}

/* ------------------------------------------------------------------------
 * Iterations
 * ------------------------------------------------------------------------ */

static void on_log(npg_log_level level, const char *message, void *user) {
    (void)user;
    if (level < NPG_LOG_ERROR) return;
    g_bug = true;
    snprintf(g_bug_msg, sizeof g_bug_msg, "%s", message);
}

static void suite_init(void) {
    t_require_device();
    npg_set_log_callback(on_log, NULL, NPG_LOG_ERROR);
}
static void suite_fini(void) {
    npg_generator_free(g_gen);
    g_gen = NULL;
    npg_set_log_callback(NULL, NULL, NPG_LOG_WARN);
}

/* Seed this test's sequence; returns its iteration count. */
static int start(const char *name, uint64_t seed, int iterations) {
    g_test = name;
    const char *env = getenv("NPG_FUZZ_SEED");
    g_rng = seed * 0x2545F4914F6CDD1Dull ^ (env ? strtoull(env, NULL, 0) : 0);
    env = getenv("NPG_FUZZ_SCALE");
    double scale = env ? atof(env) : 1;
    if (!g_gen) g_gen = npg_generator_new(seed);
    g_trace = getenv("NPG_FUZZ_TRACE") != NULL;
    g_calls = 0;
    return (int)(iterations * (scale > 0 ? scale : 1));
}
static void iter_begin(int i) {
    g_iter = i;
    g_null_pct = 4;
    g_backward_done = false;
    g_live0 = t_live_now();
}
static void iter_end(void) {
    settle();
    drop_watches();
    pool_clear();
    C.nops = 0; /* freed: the message describes the last call without them */
    t_live now = t_live_now();
    CHECK(now.arrays == g_live0.arrays && now.storages == g_live0.storages,
          "leak: %lld arrays and %lld storages more than before the iteration", (long long)(now.arrays - g_live0.arrays),
          (long long)(now.storages - g_live0.storages));
}
static void finish(void) { cr_log_info("fuzz %s: %lld calls", g_test, (long long)g_calls); }

#pragma GCC diagnostic pop

#endif
