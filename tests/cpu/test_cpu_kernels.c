/*
 * test_cpu_kernels.c — the CPU backend's entries called directly on
 * hand-built descriptors, against straightforward double-precision (or exact
 * integer) references written independently of scalar_ops.h.
 *
 * Inputs come in several layouts over the same logical shape: contiguous,
 * transposed (column-major storage), every axis flipped (negative strides),
 * every other element of the last axis, broadcast (stride 0) and weak
 * scalars; shapes are odd (5x7x3), 0-d, 8-d, and large enough to take the
 * parallel paths. Unsupported (op, dtype) pairs must fail cleanly.
 */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "rng.h"
#include "test_util.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_HAS_ASAN 1
#endif
#endif
#ifndef TEST_HAS_ASAN
#define TEST_HAS_ASAN 0
#endif

void npg__cpu_set_num_threads(int n);
int npg__cpu_get_num_threads(void);

static const npg_backend *const B = &npg_cpu_backend;

/* ---- helpers ------------------------------------------------------------------ */

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static uint64_t rnd64(void) {
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return g_rng * 0x2545F4914F6CDD1Dull;
}
static double rndu(void) { return (double)(rnd64() >> 11) * 0x1p-53; }
static int64_t rndi(int64_t lo, int64_t hi) { return lo + (int64_t)(rnd64() % (uint64_t)(hi - lo + 1)); }

static bool isflt(npg_dtype dt) { return dt == NPG_FLOAT32 || dt == NPG_FLOAT64; }
static size_t esz(npg_dtype dt) { return npg__dtype_size(dt); }

/* Integer elements are handled as "canonical" int64 values: the exact value
 * for bool and every integer dtype but uint64, whose values are its bits
 * (so that values >= 2^63 stay exact); compare them with ilt, never as
 * doubles. Widths, wrapping and element access are test_util.h's (t_*). */
static bool isuns(npg_dtype dt) { return dt == NPG_BOOL || t_is_unsigned(dt); } /* no sign */
/* The type's extremes as canonical values (uint64's maximum: the bits -1). */
static int64_t imin(npg_dtype dt) {
    if (isuns(dt)) return 0;
    return t_int_bits(dt) == 64 ? INT64_MIN : -((int64_t)1 << (t_int_bits(dt) - 1));
}
static int64_t imax(npg_dtype dt) {
    if (dt == NPG_BOOL) return 1;
    if (dt == NPG_UINT64) return -1; /* UINT64_MAX */
    if (dt == NPG_INT64) return INT64_MAX;
    return isuns(dt) ? ((int64_t)1 << t_int_bits(dt)) - 1 : ((int64_t)1 << (t_int_bits(dt) - 1)) - 1;
}
/* a canonical integer as a double (uint64 unsigned; rounded above 2^53) */
static double i2d(npg_dtype dt, int64_t v) { return dt == NPG_UINT64 ? (double)(uint64_t)v : (double)v; }
/* a < b for canonical values of dt */
static bool ilt(npg_dtype dt, int64_t a, int64_t b) { return dt == NPG_UINT64 ? (uint64_t)a < (uint64_t)b : a < b; }
/* Wrap an exact integer to dt's width (two's complement): its canonical value. */
static int64_t wrap(npg_dtype dt, int64_t v) { return (int64_t)t_wrap_bits(dt, (uint64_t)v); }

/* Element i as a canonical integer (floats: truncated when finite and small,
 * else 0; bool: the stored byte itself, so that anything but 0 or 1 shows). */
static int64_t ri(npg_dtype dt, const void *p, int64_t i) {
    switch (dt) {
    case NPG_BOOL: return ((const uint8_t *)p)[i];
    case NPG_FLOAT32: case NPG_FLOAT64: {
        double v = dt == NPG_FLOAT32 ? ((const float *)p)[i] : ((const double *)p)[i];
        return isfinite(v) && fabs(v) < 9e18 ? (int64_t)v : 0;
    }
    default: return (int64_t)t_get_bits(dt, p, i); /* fails for other dtypes */
    }
}
static double rd(npg_dtype dt, const void *p, int64_t i) {
    switch (dt) {
    case NPG_FLOAT32: return ((const float *)p)[i];
    case NPG_FLOAT64: return ((const double *)p)[i];
    default: return i2d(dt, ri(dt, p, i)); /* bool and the integers; fails for other dtypes */
    }
}
/* Store the canonical integer v into element i, wrapped to dt's width
 * (floats: its value). */
static void wri(npg_dtype dt, void *p, int64_t i, int64_t v) {
    switch (dt) {
    case NPG_FLOAT32: ((float *)p)[i] = (float)v; break;
    case NPG_FLOAT64: ((double *)p)[i] = (double)v; break;
    default: t_put_bits(dt, p, i, (uint64_t)v); /* bool: v != 0; fails for other dtypes */
    }
}
/* Store v (exact integer or float value) into element i. */
static void wr(npg_dtype dt, void *p, int64_t i, double v) {
    switch (dt) {
    case NPG_FLOAT32: ((float *)p)[i] = (float)v; break;
    case NPG_FLOAT64: ((double *)p)[i] = v; break;
    case NPG_BOOL: ((uint8_t *)p)[i] = v != 0; break;
    default: /* an exact integer within int64's range or, for uint64, within [0, 2^64) */
        if (!t_is_int(dt)) cr_assert_fail("wr(%s)", npg_dtype_name(dt));
        cr_assert(v == trunc(v) && v >= -0x1p63 && v < 0x1p64, "wr(%s, %g)", npg_dtype_name(dt), v);
        t_put_bits(dt, p, i, v >= 0x1p63 ? (uint64_t)v : (uint64_t)(int64_t)v);
    }
}

static bool close_to(double got, double want, double rtol, double atol) {
    if (isnan(want)) return isnan(got);
    if (isinf(want)) return got == want;
    return fabs(got - want) <= atol + rtol * fabs(want);
}
static double rtol_of(npg_dtype dt) { return dt == NPG_FLOAT32 ? 2e-6 : 1e-12; }

/* A test tensor: malloc'd storage and a descriptor in one of several layouts
 * over the logical shape. */
enum { L_CONTIG, L_TRANS, L_FLIP, L_STEP, L_COUNT };
typedef struct tv {
    void *mem;
    int64_t nalloc;
    npg_tdesc d;
} tv;

static void contig_strides(int nd, const int64_t *shape, int64_t *st) {
    int64_t s = 1;
    for (int i = nd - 1; i >= 0; i--) {
        st[i] = s;
        s *= shape[i];
    }
}
static int64_t numel(int nd, const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < nd; i++) n *= shape[i];
    return n;
}

static tv tv_make(npg_dtype dt, int nd, const int64_t *shape, int layout) {
    tv v = {0};
    v.d.dtype = dt;
    v.d.ndim = nd;
    for (int i = 0; i < nd; i++) v.d.shape[i] = shape[i];
    int64_t n = numel(nd, shape);
    v.nalloc = (layout == L_STEP ? 2 * n : n) + 1;
    v.mem = calloc((size_t)v.nalloc, 8);
    cr_assert(v.mem);
    v.d.data = v.mem;
    if (layout == L_CONTIG || nd == 0) {
        contig_strides(nd, shape, v.d.strides);
    } else if (layout == L_TRANS) { /* column-major */
        int64_t s = 1;
        for (int i = 0; i < nd; i++) {
            v.d.strides[i] = s;
            s *= shape[i];
        }
    } else if (layout == L_FLIP) {
        contig_strides(nd, shape, v.d.strides);
        for (int i = 0; i < nd; i++) v.d.strides[i] = -v.d.strides[i];
        v.d.data = (char *)v.mem + (size_t)(n > 0 ? n - 1 : 0) * esz(dt);
    } else { /* L_STEP: every other element of the last axis */
        int64_t sh[NPG_MAX_DIMS] = {0};
        memcpy(sh, shape, sizeof(int64_t) * (size_t)nd);
        sh[nd - 1] *= 2;
        contig_strides(nd, sh, v.d.strides);
        v.d.strides[nd - 1] = 2;
    }
    return v;
}
static void tv_free(tv *v) { free(v->mem); }

/* Element offset of row-major flat index f of descriptor d. */
static int64_t off_of(const npg_tdesc *d, int64_t f) {
    int64_t off = 0;
    for (int i = d->ndim - 1; i >= 0; i--) {
        off += f % d->shape[i] * d->strides[i];
        f /= d->shape[i];
    }
    return off;
}
static double get(const npg_tdesc *d, int64_t f) {
    if (d->is_scalar) return isflt(d->dtype) ? d->scalar : i2d(d->dtype, d->iscalar);
    return rd(d->dtype, d->data, off_of(d, f));
}
static int64_t geti(const npg_tdesc *d, int64_t f) {
    if (d->is_scalar) return d->iscalar;
    return ri(d->dtype, d->data, off_of(d, f));
}

/* Value domains for generated inputs. D_EDGE (integers): the type's
 * extremes, their neighbours, 0, 1 and full-range values, with many ties. */
enum { D_ANY, D_POS, D_UNIT, D_GE1, D_SPECIAL, D_ZEROS, D_NEAR1, D_SMALLINT, D_EDGE };
/* A canonical integer of dt from the domain (the domains without an integer
 * meaning give the type's usual range). */
static int64_t geni(npg_dtype dt, int dom) {
    if (dom == D_ZEROS && rnd64() % 3 == 0) return 0;
    if (dt == NPG_BOOL) return (int64_t)(rnd64() & 1);
    if (dom == D_SMALLINT) return isuns(dt) ? rndi(0, 9) : rndi(-4, 4);
    if (dom == D_EDGE) {
        switch (rnd64() % 8) {
        case 0: return imin(dt);
        case 1: return imax(dt);
        case 2: return (int64_t)((uint64_t)imin(dt) + 1);
        case 3: return (int64_t)((uint64_t)imax(dt) - 1);
        case 4: return 0;
        case 5: return 1;
        default: break; /* full range */
        }
    }
    switch (dt) {
    case NPG_UINT8: return rndi(0, 255);
    case NPG_INT8: return rndi(-128, 127);
    case NPG_INT16: return rndi(-32768, 32767);
    case NPG_UINT16: return rndi(0, 65535);
    case NPG_INT32: return dom == D_EDGE ? rndi(INT32_MIN, INT32_MAX) : rndi(-100000, 100000);
    case NPG_UINT32: return rndi(0, UINT32_MAX);
    case NPG_INT64: return dom == D_EDGE ? (int64_t)rnd64() : rndi(-3000000000ll, 3000000000ll);
    case NPG_UINT64: return (int64_t)rnd64(); /* the full range: half of it >= 2^63 */
    default: cr_assert_fail("geni(%s)", npg_dtype_name(dt)); return 0;
    }
}
static double gen(npg_dtype dt, int dom) {
    if (!isflt(dt)) return i2d(dt, geni(dt, dom));
    double u = rndu();
    switch (dom) {
    case D_POS: return 0.05 + 5 * u;
    case D_UNIT: return -0.95 + 1.9 * u;
    case D_GE1: return 1.0 + 4 * u;
    case D_NEAR1: return 0.5 + u;
    case D_SMALLINT: return (double)rndi(-4, 4);
    case D_SPECIAL: {
        static const double sp[] = {NAN, INFINITY, -INFINITY, 0.0, -0.0, 1.5};
        return rnd64() % 3 == 0 ? sp[rnd64() % 6] : -3 + 6 * u;
    }
    case D_ZEROS: {
        static const double z[] = {0.0, -0.0, NAN};
        return rnd64() % 2 == 0 ? z[rnd64() % 3] : -3 + 6 * u;
    }
    default: return -3 + 6 * u;
    }
}
static void tv_fill(tv *v, int dom) {
    for (int64_t i = 0; i < v->nalloc; i++) {
        if (isflt(v->d.dtype)) wr(v->d.dtype, v->mem, i, gen(v->d.dtype, dom));
        else wri(v->d.dtype, v->mem, i, geni(v->d.dtype, dom));
    }
}
/* A contiguous output of the shape. */
static tv out_make(npg_dtype dt, int nd, const int64_t *shape) {
    tv o = tv_make(dt, nd, shape, L_CONTIG);
    memset(o.mem, 0xAB, (size_t)o.nalloc * 8); /* garbage: every element must be written */
    return o;
}

/* Every dtype these kernels take in full (float16 / bfloat16 are tested
 * elsewhere): bool first, the floats at 4 and 5, the integers appended with
 * NPG_INT8 ... NPG_UINT64 after them. */
static const npg_dtype ALL_DT[] = {NPG_BOOL,  NPG_UINT8, NPG_INT32,  NPG_INT64,  NPG_FLOAT32, NPG_FLOAT64,
                                   NPG_INT8,  NPG_INT16, NPG_UINT16, NPG_UINT32, NPG_UINT64};
#define N_DT ((int)(sizeof ALL_DT / sizeof ALL_DT[0]))
static const npg_dtype FLT_DT[] = {NPG_FLOAT32, NPG_FLOAT64};
/* the integer dtypes appended after bfloat16 */
static const npg_dtype NEW_INT_DT[] = {NPG_INT8, NPG_INT16, NPG_UINT16, NPG_UINT32, NPG_UINT64};
#define M(dt) (1u << (dt))
#define MB M(NPG_BOOL)
#define MINT (M(NPG_UINT8) | M(NPG_INT32) | M(NPG_INT64) | M(NPG_INT8) | M(NPG_INT16) | M(NPG_UINT16) | \
              M(NPG_UINT32) | M(NPG_UINT64))
#define MFLT (M(NPG_FLOAT32) | M(NPG_FLOAT64))
#define MNUM (MINT | MFLT)
#define MALL (MNUM | MB)

static const int64_t S573[3] = {5, 7, 3};

/* The unsupported error, with its message. */
static void expect_unsupported(npg_status s, npg_op op, npg_dtype dt) {
    char want[128];
    snprintf(want, sizeof want, "cpu %s: dtype %s not supported", npg__op_name(op), npg_dtype_name(dt));
    cr_assert_eq(s, NPG_ERR_UNSUPPORTED, "%s on %s: status %d", npg__op_name(op), npg_dtype_name(dt), s);
    cr_assert_eq(npg_last_status(), NPG_ERR_UNSUPPORTED);
    cr_assert_str_eq(npg_last_error(), want);
}


/* ---- backend basics ------------------------------------------------------------- */

Test(cpu_backend, device_and_memory) {
    cr_assert_eq(B->device_count(), 1);
    cr_assert_str_eq(B->name, "cpu");
    npg_device_info info;
    cr_assert_eq(B->device_info(0, &info), NPG_OK);
    cr_assert(strncmp(info.name, "cpu", 3) == 0, "name %s", info.name);
    cr_assert_gt(info.total_bytes, (size_t)1 << 20);
    cr_assert_leq(info.free_bytes, info.total_bytes);
    cr_assert_eq(B->synchronize(0), NPG_OK);
    void *p = NULL, *q = NULL;
    cr_assert_eq(B->alloc(0, 1000, &p), NPG_OK);
    cr_assert_eq(B->alloc(0, 3 << 20, &q), NPG_OK);
    cr_assert_eq((uintptr_t)p % 64, 0);
    cr_assert_eq((uintptr_t)q % 64, 0);
    char host[1000], back[1000];
    for (int i = 0; i < 1000; i++) host[i] = (char)(i * 7);
    cr_assert_eq(B->copy_h2d(0, p, host, 1000), NPG_OK);
    cr_assert_eq(B->copy_d2d(0, (char *)q + 5, p, 1000), NPG_OK);
    cr_assert_eq(B->copy_d2h(0, back, (char *)q + 5, 1000), NPG_OK);
    cr_assert_arr_eq(host, back, 1000);
    /* a large copy takes the threaded path */
    char *big = malloc(3 << 20);
    for (int i = 0; i < 3 << 20; i++) big[i] = (char)(i * 13 + 1);
    cr_assert_eq(B->copy_h2d(0, q, big, 3 << 20), NPG_OK);
    cr_assert(memcmp(q, big, 3 << 20) == 0);
    free(big);
    B->free(0, p, 1000);
    B->free(0, q, 3 << 20);
    /* a freed large block is reused for the next allocation of its size */
    void *r = NULL;
    cr_assert_eq(B->alloc(0, 3 << 20, &r), NPG_OK);
    cr_assert_eq(r, q, "the block cache hands the same block back");
    B->free(0, r, 3 << 20);
}

Test(cpu_backend, alloc_oom_is_an_error) {
#if defined(__SANITIZE_ADDRESS__) || TEST_HAS_ASAN
    cr_skip_test("AddressSanitizer aborts on impossible allocations instead of returning NULL");
#else
    void *p = (void *)1;
    npg_clear_error();
    cr_assert_eq(B->alloc(0, SIZE_MAX / 2, &p), NPG_ERR_OOM);
    cr_assert_null(p);
    cr_assert_eq(npg_last_status(), NPG_ERR_OOM);
    cr_assert(strstr(npg_last_error(), "out of memory"));
#endif
}

Test(cpu_backend, threads) {
    npg__cpu_set_num_threads(1);
    cr_assert_eq(npg__cpu_get_num_threads(), 1);
    npg__cpu_set_num_threads(2);
#ifdef NPG_HAVE_OPENMP
    cr_assert_eq(npg__cpu_get_num_threads(), 2);
#endif
    npg__cpu_set_num_threads(0); /* default */
    cr_assert_geq(npg__cpu_get_num_threads(), 1);
}

/* ---- fill ---------------------------------------------------------------------- */

Test(cpu_fill, every_dtype_strided) {
    for (int t = 0; t < N_DT; t++) {
        npg_dtype dt = ALL_DT[t];
        for (int layout = 0; layout < L_COUNT; layout++) {
            tv o = tv_make(dt, 3, S573, layout);
            memset(o.mem, 0x5A, (size_t)o.nalloc * 8);
            double v = isflt(dt) ? -2.75 : 0;
            int64_t iv = 0; /* out of range for the narrow types: the fill wraps it */
            switch (dt) {
            case NPG_BOOL: iv = 7; break;
            case NPG_UINT8: iv = 300; break;
            case NPG_INT32: iv = (1ll << 32) + 5; break;
            case NPG_INT64: iv = -(1ll << 40); break;
            case NPG_INT8: iv = 200; break;                 /* -56 */
            case NPG_INT16: iv = 70000; break;              /* 4464 */
            case NPG_UINT16: iv = -1; break;                /* 65535 */
            case NPG_UINT32: iv = (1ll << 33) - 3; break;   /* 2^32 - 3 */
            case NPG_UINT64: iv = -5; break;                /* 2^64 - 5 */
            case NPG_FLOAT32: case NPG_FLOAT64: break;
            default: cr_assert_fail("dtype %s", npg_dtype_name(dt));
            }
            cr_assert_eq(B->fill(0, &o.d, v, iv), NPG_OK);
            for (int64_t f = 0; f < 105; f++) {
                if (isflt(dt)) cr_assert_eq(get(&o.d, f), -2.75);
                else cr_assert_eq(geti(&o.d, f), wrap(dt, iv), "%s layout %d", npg_dtype_name(dt), layout);
            }
            if (dt == NPG_INT8) cr_assert_eq(geti(&o.d, 0), -56);
            if (dt == NPG_UINT16) cr_assert_eq(geti(&o.d, 0), 65535);
            if (dt == NPG_UINT64) cr_assert_eq((uint64_t)geti(&o.d, 0), UINT64_MAX - 4);
            if (layout == L_STEP) /* the gaps are untouched */
                for (int64_t f = 0; f < 105; f++) {
                    int64_t gap_byte = (off_of(&o.d, f) + 1) * (int64_t)esz(dt);
                    const unsigned char *gap = (const unsigned char *)o.d.data + gap_byte;
                    cr_assert_eq(*gap, 0x5A);
                }
            tv_free(&o);
        }
    }
    /* 0-d and a large fill (threaded) */
    double x = 0;
    npg_tdesc d0 = {.data = &x, .dtype = NPG_FLOAT64, .ndim = 0};
    cr_assert_eq(B->fill(0, &d0, 3.5, 0), NPG_OK);
    cr_assert_eq(x, 3.5);
    int64_t big = 1 << 20;
    tv o = out_make(NPG_FLOAT32, 1, &big);
    cr_assert_eq(B->fill(0, &o.d, 1.25, 0), NPG_OK);
    for (int64_t i = 0; i < big; i++) cr_assert_eq(((float *)o.mem)[i], 1.25f);
    tv_free(&o);
}

/* ---- copy / conversions ---------------------------------------------------------- */

/* The conversion rules of backend.h, written out: into a float, */
static double ref_convert_f(npg_dtype to, npg_dtype from, double fv, int64_t iv) {
    if (isflt(from)) return to == NPG_FLOAT32 ? (double)(float)fv : fv;
    if (to == NPG_FLOAT32) /* one rounding, from the integer itself */
        return from == NPG_UINT64 ? (double)(float)(uint64_t)iv : (double)(float)iv;
    return i2d(from, iv);
}
/* and into bool or an integer (the canonical result). */
static int64_t ref_convert_i(npg_dtype to, npg_dtype from, double fv, int64_t iv) {
    if (to == NPG_BOOL) return isflt(from) ? fv != 0 : iv != 0;
    if (!isflt(from)) return wrap(to, iv); /* int64 <-> uint64 keep the bits */
    if (isnan(fv)) return 0;
    if (to == NPG_UINT64) {
        if (fv <= 0) return 0;
        if (fv >= 0x1p64) return -1; /* UINT64_MAX */
        return (int64_t)(uint64_t)fv;
    }
    if (to == NPG_INT64) return fv >= 0x1p63 ? INT64_MAX : fv <= -0x1p63 ? INT64_MIN : (int64_t)fv;
    if (fv <= (double)imin(to)) return imin(to);
    if (fv >= (double)imax(to)) return imax(to);
    return (int64_t)trunc(fv);
}

static void fill_conversion_values(tv *v) {
    static const double fsp[] = {NAN, INFINITY, -INFINITY, 1e300, -1e20, 3.7, -3.7, 300.5, -0.5, 255.9,
                                 2147483648.0, -2147483649.0, 0.0, -0.0, 1.0, 9.3e18,
                                 127.9, -128.9, -129.0, 128.0, 32767.5, -32768.5, -32769.0, 65535.9, 65536.0,
                                 4294967295.5, 4294967296.0, 0x1p63, 1.8e19, 1.9e19, -0.9};
    static const int64_t isp[] = {0, 1, -1, 255, 256, 128, -129, 70000, INT32_MIN, INT32_MAX,
                                  (1ll << 40) + 5, -(1ll << 35), INT64_MIN, INT64_MAX,
                                  127, -128, 32767, -32768, 32768, 65535, 65536, 4294967295ll, 4294967296ll,
                                  INT64_MIN + 1, (int64_t)0x9E3779B97F4A7C15ull, (int64_t)0xFFFFFFFF00000001ull,
                                  (int64_t)0x00000001FFFF8081ull};
    const int nf = (int)(sizeof fsp / sizeof fsp[0]), ni = (int)(sizeof isp / sizeof isp[0]);
    npg_dtype dt = v->d.dtype;
    for (int64_t i = 0; i < v->nalloc; i++) {
        if (isflt(dt)) wr(dt, v->mem, i, rnd64() % 2 ? fsp[rnd64() % (uint64_t)nf] : gen(dt, D_ANY) * 100);
        else wri(dt, v->mem, i, rnd64() % 4 ? isp[rnd64() % (uint64_t)ni] : geni(dt, D_ANY)); /* wrapped */
    }
}

Test(cpu_copy, every_dtype_pair_and_layout) {
    for (int a = 0; a < N_DT; a++) {
        for (int b = 0; b < N_DT; b++) {
            npg_dtype to = ALL_DT[a], from = ALL_DT[b];
            for (int li = 0; li < L_COUNT; li++) {
                tv in = tv_make(from, 3, S573, li);
                fill_conversion_values(&in);
                tv o = tv_make(to, 3, S573, (li + 1) % L_COUNT); /* outputs may be strided too */
                cr_assert_eq(B->copy(0, &o.d, &in.d), NPG_OK);
                for (int64_t f = 0; f < 105; f++) {
                    if (isflt(to)) {
                        double want = ref_convert_f(to, from, get(&in.d, f), geti(&in.d, f));
                        cr_assert(close_to(get(&o.d, f), want, 0, 0), "%s->%s: %g -> %g, want %g", npg_dtype_name(from),
                                  npg_dtype_name(to), get(&in.d, f), get(&o.d, f), want);
                    } else {
                        int64_t want = ref_convert_i(to, from, get(&in.d, f), geti(&in.d, f));
                        cr_assert_eq(geti(&o.d, f), want, "%s->%s: %.17g (bits %llx) -> %lld, want %lld",
                                     npg_dtype_name(from), npg_dtype_name(to), get(&in.d, f),
                                     (unsigned long long)geti(&in.d, f), (long long)geti(&o.d, f), (long long)want);
                    }
                }
                tv_free(&in);
                tv_free(&o);
            }
        }
    }
}

/* Casts at the edges of the new integer types, written out by hand. */
Test(cpu_copy, new_integer_edges_by_hand) {
    double f[8] = {-129.5, 127.99, NAN, -1e30, 1e30, 18446744073709549568.0, -0.99, 65535.5};
    int8_t i8[8];
    uint16_t u16[8];
    uint32_t u32[8];
    uint64_t u64[8];
    npg_tdesc df = {.data = f, .dtype = NPG_FLOAT64, .ndim = 1, .shape = {8}, .strides = {1}};
    npg_tdesc d8 = df, d16 = df, d32 = df, d64 = df;
    d8.data = i8, d8.dtype = NPG_INT8;
    d16.data = u16, d16.dtype = NPG_UINT16;
    d32.data = u32, d32.dtype = NPG_UINT32;
    d64.data = u64, d64.dtype = NPG_UINT64;
    cr_assert_eq(B->copy(0, &d8, &df), NPG_OK);
    const int8_t w8[8] = {-128, 127, 0, -128, 127, 127, 0, 127};
    cr_assert_arr_eq(i8, w8, sizeof w8);
    cr_assert_eq(B->copy(0, &d16, &df), NPG_OK);
    const uint16_t w16[8] = {0, 127, 0, 0, 65535, 65535, 0, 65535};
    cr_assert_arr_eq(u16, w16, sizeof w16);
    cr_assert_eq(B->copy(0, &d32, &df), NPG_OK);
    const uint32_t w32[8] = {0, 127, 0, 0, UINT32_MAX, UINT32_MAX, 0, 65535};
    cr_assert_arr_eq(u32, w32, sizeof w32);
    cr_assert_eq(B->copy(0, &d64, &df), NPG_OK);
    const uint64_t w64[8] = {0, 127, 0, 0, UINT64_MAX, 18446744073709549568ull, 0, 65535};
    cr_assert_arr_eq(u64, w64, sizeof w64);
    /* uint64 -> float64 / float32 / int64 / int16 from values above 2^63 */
    uint64_t big[3] = {UINT64_MAX, (1ull << 63) + 1, 0x8000000000012345ull};
    double bd[3];
    float bf[3];
    int64_t bi[3];
    int16_t bs[3];
    npg_tdesc dbig = {.data = big, .dtype = NPG_UINT64, .ndim = 1, .shape = {3}, .strides = {1}};
    npg_tdesc dd = dbig, dfl = dbig, di = dbig, ds = dbig;
    dd.data = bd, dd.dtype = NPG_FLOAT64;
    dfl.data = bf, dfl.dtype = NPG_FLOAT32;
    di.data = bi, di.dtype = NPG_INT64;
    ds.data = bs, ds.dtype = NPG_INT16;
    cr_assert_eq(B->copy(0, &dd, &dbig), NPG_OK);
    cr_assert(bd[0] == 0x1p64 && bd[1] == 0x1p63 && bd[2] == 0x1p63 + 73728.0); /* nearest, spacing 2048 */
    cr_assert_eq(B->copy(0, &dfl, &dbig), NPG_OK);
    cr_assert(bf[0] == 0x1p64f && bf[1] == 0x1p63f);
    cr_assert_eq(B->copy(0, &di, &dbig), NPG_OK);
    cr_assert(bi[0] == -1 && bi[1] == INT64_MIN + 1);
    cr_assert_eq(B->copy(0, &ds, &dbig), NPG_OK);
    cr_assert(bs[0] == -1 && bs[1] == 1 && bs[2] == 0x2345);
    /* int8 -> uint64 sign-extends, then wraps */
    int8_t neg[2] = {-1, -128};
    npg_tdesc dneg = {.data = neg, .dtype = NPG_INT8, .ndim = 1, .shape = {2}, .strides = {1}};
    d64.shape[0] = 2;
    cr_assert_eq(B->copy(0, &d64, &dneg), NPG_OK);
    cr_assert(u64[0] == UINT64_MAX && u64[1] == UINT64_MAX - 127);
}

Test(cpu_copy, broadcast_scalar_0d_8d_and_large) {
    /* a stride-0 source broadcast into every element */
    int32_t src = -77;
    npg_tdesc in = {.data = &src, .dtype = NPG_INT32, .ndim = 3, .shape = {5, 7, 3}};
    tv o = out_make(NPG_FLOAT64, 3, S573);
    cr_assert_eq(B->copy(0, &o.d, &in), NPG_OK);
    for (int64_t i = 0; i < 105; i++) cr_assert_eq(((double *)o.mem)[i], -77.0);
    tv_free(&o);
    /* 0-d */
    float x = 2.9f;
    int64_t y = 0;
    npg_tdesc dx = {.data = &x, .dtype = NPG_FLOAT32}, dy = {.data = &y, .dtype = NPG_INT64};
    cr_assert_eq(B->copy(0, &dy, &dx), NPG_OK);
    cr_assert_eq(y, 2);
    /* 8-d with odd, size-1 and flipped dims */
    int64_t sh8[8] = {2, 1, 3, 1, 2, 3, 1, 2};
    tv a8 = tv_make(NPG_FLOAT32, 8, sh8, L_FLIP);
    tv_fill(&a8, D_ANY);
    tv o8 = tv_make(NPG_FLOAT64, 8, sh8, L_TRANS);
    cr_assert_eq(B->copy(0, &o8.d, &a8.d), NPG_OK);
    for (int64_t f = 0; f < 72; f++) cr_assert_eq(get(&o8.d, f), get(&a8.d, f));
    tv_free(&a8);
    tv_free(&o8);
    /* large transposes (tiled paths), same dtype and converting */
    for (int conv = 0; conv < 2; conv++) {
        int64_t sh[2] = {300, 517};
        tv t = tv_make(NPG_FLOAT32, 2, sh, L_TRANS);
        tv_fill(&t, D_ANY);
        tv ot = out_make(conv ? NPG_FLOAT64 : NPG_FLOAT32, 2, sh);
        cr_assert_eq(B->copy(0, &ot.d, &t.d), NPG_OK);
        for (int64_t f = 0; f < 300 * 517; f++) cr_assert_eq(get(&ot.d, f), get(&t.d, f));
        tv_free(&t);
        tv_free(&ot);
    }
    /* large contiguous same-dtype copy */
    int64_t n = 1 << 20;
    tv c = tv_make(NPG_INT64, 1, &n, L_CONTIG);
    tv_fill(&c, D_ANY);
    tv oc = out_make(NPG_INT64, 1, &n);
    cr_assert_eq(B->copy(0, &oc.d, &c.d), NPG_OK);
    cr_assert(memcmp(oc.mem, c.mem, (size_t)n * 8) == 0);
    tv_free(&c);
    tv_free(&oc);
}

/* ---- unary ------------------------------------------------------------------------ */

typedef struct uop {
    npg_op op;
    unsigned mask; /* dtypes that must be supported */
    int dom;
} uop;

static const uop UOPS[] = {
    {NPG_OP_NEGATIVE, MNUM, D_ANY},    {NPG_OP_POSITIVE, MNUM, D_ANY},     {NPG_OP_ABS, MNUM, D_ANY},
    {NPG_OP_SIGN, MNUM, D_ZEROS},      {NPG_OP_SQRT, MFLT, D_POS},         {NPG_OP_SQUARE, MNUM, D_ANY},
    {NPG_OP_EXP, MFLT, D_ANY},         {NPG_OP_EXPM1, MFLT, D_ANY},        {NPG_OP_LOG, MFLT, D_POS},
    {NPG_OP_LOG1P, MFLT, D_POS},       {NPG_OP_LOG2, MFLT, D_POS},         {NPG_OP_LOG10, MFLT, D_POS},
    {NPG_OP_SIN, MFLT, D_ANY},         {NPG_OP_COS, MFLT, D_ANY},          {NPG_OP_TAN, MFLT, D_UNIT},
    {NPG_OP_ASIN, MFLT, D_UNIT},       {NPG_OP_ACOS, MFLT, D_UNIT},        {NPG_OP_ATAN, MFLT, D_ANY},
    {NPG_OP_SINH, MFLT, D_ANY},        {NPG_OP_COSH, MFLT, D_ANY},         {NPG_OP_TANH, MFLT, D_ANY},
    {NPG_OP_ASINH, MFLT, D_ANY},       {NPG_OP_ACOSH, MFLT, D_GE1},        {NPG_OP_ATANH, MFLT, D_UNIT},
    {NPG_OP_ERF, MFLT, D_ANY},         {NPG_OP_FLOOR, MNUM, D_ANY},        {NPG_OP_CEIL, MNUM, D_ANY},
    {NPG_OP_TRUNC, MNUM, D_ANY},       {NPG_OP_ROUND, MNUM, D_ANY},        {NPG_OP_RECIPROCAL, MFLT, D_POS},
    {NPG_OP_ISNAN, MALL, D_SPECIAL},   {NPG_OP_ISINF, MALL, D_SPECIAL},    {NPG_OP_ISFINITE, MALL, D_SPECIAL},
    {NPG_OP_LOGICAL_NOT, MALL, D_ZEROS}, {NPG_OP_BITWISE_INVERT, MINT | MB, D_ANY}, {NPG_OP_CLIP, MNUM, D_ANY},
    {NPG_OP_RELU, MNUM, D_SPECIAL},    {NPG_OP_LEAKY_RELU, MFLT, D_ANY},   {NPG_OP_SIGMOID, MFLT, D_ANY},
    {NPG_OP_SILU, MFLT, D_ANY},        {NPG_OP_GELU, MFLT, D_ANY},         {NPG_OP_GELU_TANH, MFLT, D_ANY},
    {NPG_OP_SOFTPLUS, MFLT, D_ANY},
};

static npg_kparams uparams(npg_op op, npg_dtype dt) {
    npg_kparams p = {{0}, {0}};
    if (op == NPG_OP_CLIP) {
        p.f[0] = isflt(dt) ? -1.0 : 10;
        p.f[1] = isflt(dt) ? 1.5 : 200;
    }
    if (op == NPG_OP_LEAKY_RELU) p.f[0] = 0.1;
    if (op == NPG_OP_ROUND) p.i[0] = isflt(dt) ? 1 : -1;
    return p;
}

static double ref_unary_f(npg_op op, double x, const npg_kparams *p) {
    switch (op) {
    case NPG_OP_NEGATIVE: return -x;
    case NPG_OP_POSITIVE: return x;
    case NPG_OP_ABS: return fabs(x);
    case NPG_OP_SIGN: return isnan(x) ? x : (x > 0) - (x < 0);
    case NPG_OP_SQRT: return sqrt(x);
    case NPG_OP_SQUARE: return x * x;
    case NPG_OP_EXP: return exp(x);
    case NPG_OP_EXPM1: return expm1(x);
    case NPG_OP_LOG: return log(x);
    case NPG_OP_LOG1P: return log1p(x);
    case NPG_OP_LOG2: return log2(x);
    case NPG_OP_LOG10: return log10(x);
    case NPG_OP_SIN: return sin(x);
    case NPG_OP_COS: return cos(x);
    case NPG_OP_TAN: return tan(x);
    case NPG_OP_ASIN: return asin(x);
    case NPG_OP_ACOS: return acos(x);
    case NPG_OP_ATAN: return atan(x);
    case NPG_OP_SINH: return sinh(x);
    case NPG_OP_COSH: return cosh(x);
    case NPG_OP_TANH: return tanh(x);
    case NPG_OP_ASINH: return asinh(x);
    case NPG_OP_ACOSH: return acosh(x);
    case NPG_OP_ATANH: return atanh(x);
    case NPG_OP_ERF: return erf(x);
    case NPG_OP_FLOOR: return floor(x);
    case NPG_OP_CEIL: return ceil(x);
    case NPG_OP_TRUNC: return trunc(x);
    case NPG_OP_ROUND: return nearbyint(x * pow(10, (double)p->i[0])) / pow(10, (double)p->i[0]);
    case NPG_OP_RECIPROCAL: return 1 / x;
    case NPG_OP_ISNAN: return isnan(x);
    case NPG_OP_ISINF: return isinf(x) != 0;
    case NPG_OP_ISFINITE: return isfinite(x) != 0;
    case NPG_OP_LOGICAL_NOT: return x == 0;
    case NPG_OP_CLIP: return isnan(x) ? x : x < p->f[0] ? p->f[0] : x > p->f[1] ? p->f[1] : x;
    case NPG_OP_RELU: return isnan(x) ? x : x > 0 ? x : 0;
    case NPG_OP_LEAKY_RELU: return x > 0 ? x : x * p->f[0];
    case NPG_OP_SIGMOID: return 1 / (1 + exp(-x));
    case NPG_OP_SILU: return x / (1 + exp(-x));
    case NPG_OP_GELU: return 0.5 * x * (1 + erf(x / sqrt(2.0)));
    case NPG_OP_GELU_TANH: return 0.5 * x * (1 + tanh(sqrt(2 / 3.14159265358979323846) * (x + 0.044715 * x * x * x)));
    case NPG_OP_SOFTPLUS: return log1p(exp(x));
    default: cr_assert_fail("no float reference for %s", npg__op_name(op)); return 0;
    }
}

/* Exact integer reference on canonical values (unsigned arithmetic where it
 * could overflow), then wrapped. */
static int64_t ref_unary_i(npg_op op, npg_dtype dt, int64_t x, const npg_kparams *p) {
    const bool uns = isuns(dt);
    switch (op) {
    case NPG_OP_NEGATIVE: return wrap(dt, (int64_t)(0 - (uint64_t)x));
    case NPG_OP_POSITIVE: case NPG_OP_FLOOR: case NPG_OP_CEIL: case NPG_OP_TRUNC: return x;
    case NPG_OP_ABS: return uns || x >= 0 ? x : wrap(dt, (int64_t)(0 - (uint64_t)x));
    case NPG_OP_SIGN: return uns ? x != 0 : (x > 0) - (x < 0);
    case NPG_OP_SQUARE: return wrap(dt, (int64_t)((uint64_t)x * (uint64_t)x));
    case NPG_OP_ROUND: { /* half to even at 10^-d, d = -p->i[0] */
        int64_t f = 1;
        for (int64_t k = 0; k < -p->i[0]; k++) f *= 10;
        if (dt == NPG_UINT64) {
            uint64_t q = (uint64_t)x / (uint64_t)f, r = (uint64_t)x % (uint64_t)f;
            if (2 * r > (uint64_t)f || (2 * r == (uint64_t)f && (q & 1))) q++;
            return (int64_t)(q * (uint64_t)f); /* wraps near 2^64 */
        }
        int64_t q = x / f, r = x % f;
        if (r < 0) q--, r += f;
        if (2 * r > f || (2 * r == f && (q & 1))) q++;
        return wrap(dt, q * f);
    }
    case NPG_OP_ISNAN: case NPG_OP_ISINF: return 0;
    case NPG_OP_ISFINITE: return 1;
    case NPG_OP_LOGICAL_NOT: return x == 0;
    case NPG_OP_BITWISE_INVERT: return dt == NPG_BOOL ? !x : wrap(dt, ~x);
    case NPG_OP_CLIP: { /* the bounds convert as a cast would (saturating) */
        double xd = i2d(dt, x);
        if (xd < p->f[0]) return ref_convert_i(dt, NPG_FLOAT64, p->f[0], 0);
        if (xd > p->f[1]) return ref_convert_i(dt, NPG_FLOAT64, p->f[1], 0);
        return x;
    }
    case NPG_OP_RELU: return uns || x > 0 ? x : 0;
    default: cr_assert_fail("no integer reference for %s", npg__op_name(op)); return 0;
    }
}

static bool bool_out(npg_op op) {
    return op == NPG_OP_ISNAN || op == NPG_OP_ISINF || op == NPG_OP_ISFINITE || op == NPG_OP_LOGICAL_NOT ||
           (op >= NPG_OP_EQUAL && op <= NPG_OP_LOGICAL_XOR);
}

static void check_unary(const uop *u, npg_dtype dt, const tv *in) {
    npg_dtype odt = bool_out(u->op) ? NPG_BOOL : dt;
    npg_kparams p = uparams(u->op, dt);
    tv o = out_make(odt, in->d.ndim, in->d.shape);
    cr_assert_eq(B->unary(0, u->op, &o.d, &in->d, &p), NPG_OK, "%s %s", npg__op_name(u->op), npg_dtype_name(dt));
    int64_t n = numel(in->d.ndim, in->d.shape);
    for (int64_t f = 0; f < n; f++) {
        if (isflt(dt) && odt != NPG_BOOL) {
            double x = get(&in->d, f), want = ref_unary_f(u->op, x, &p);
            if (dt == NPG_FLOAT32) want = (double)(float)want;
            cr_assert(close_to(get(&o.d, f), want, rtol_of(dt), 1e-6 * (dt == NPG_FLOAT32)),
                      "%s %s(%.9g) = %.9g, want %.9g",
                      npg__op_name(u->op), npg_dtype_name(dt), x, get(&o.d, f), want);
        } else if (isflt(dt)) {
            cr_assert_eq(geti(&o.d, f), (int64_t)ref_unary_f(u->op, get(&in->d, f), &p), "%s(%g)", npg__op_name(u->op),
                         get(&in->d, f));
        } else {
            int64_t x = geti(&in->d, f);
            cr_assert_eq(geti(&o.d, f), ref_unary_i(u->op, dt, x, &p), "%s %s(%lld)", npg__op_name(u->op),
                         npg_dtype_name(dt), (long long)x);
        }
    }
    tv_free(&o);
}

Test(cpu_unary, every_op_dtype_and_layout) {
    for (size_t k = 0; k < sizeof UOPS / sizeof UOPS[0]; k++) {
        const uop *u = &UOPS[k];
        for (int t = 0; t < N_DT; t++) {
            npg_dtype dt = ALL_DT[t];
            if (!(u->mask & M(dt))) {
                tv in = tv_make(dt, 3, S573, L_CONTIG);
                tv o = out_make(bool_out(u->op) ? NPG_BOOL : dt, 3, S573);
                npg_clear_error();
                expect_unsupported(B->unary(0, u->op, &o.d, &in.d, NULL), u->op, dt);
                tv_free(&in);
                tv_free(&o);
                continue;
            }
            for (int layout = 0; layout < L_COUNT; layout++) {
                tv in = tv_make(dt, 3, S573, layout);
                tv_fill(&in, u->dom);
                check_unary(u, dt, &in);
                tv_free(&in);
            }
            tv in0 = tv_make(dt, 0, NULL, L_CONTIG); /* 0-d */
            tv_fill(&in0, u->dom);
            check_unary(u, dt, &in0);
            tv_free(&in0);
        }
    }
}

Test(cpu_unary, edge_values) {
    /* integer wrap-around and rounding ties */
    int64_t i64[] = {INT64_MIN, INT64_MAX, -1, 0};
    int64_t out64[4];
    npg_tdesc di = {.data = i64, .dtype = NPG_INT64, .ndim = 1, .shape = {4}, .strides = {1}};
    npg_tdesc doi = di;
    doi.data = out64;
    cr_assert_eq(B->unary(0, NPG_OP_NEGATIVE, &doi, &di, NULL), NPG_OK);
    cr_assert_eq(out64[0], INT64_MIN);
    cr_assert_eq(out64[1], -INT64_MAX);
    cr_assert_eq(B->unary(0, NPG_OP_ABS, &doi, &di, NULL), NPG_OK);
    cr_assert_eq(out64[0], INT64_MIN);
    cr_assert_eq(B->unary(0, NPG_OP_SQUARE, &doi, &di, NULL), NPG_OK);
    cr_assert_eq(out64[1], 1); /* (2^63-1)^2 mod 2^64 */
    float ties[] = {0.5f, 1.5f, 2.5f, -0.5f, -2.5f, 3.5f}, rt[6];
    npg_tdesc dt_ = {.data = ties, .dtype = NPG_FLOAT32, .ndim = 1, .shape = {6}, .strides = {1}};
    npg_tdesc dr = dt_;
    dr.data = rt;
    npg_kparams p0 = {{0}, {0}};
    cr_assert_eq(B->unary(0, NPG_OP_ROUND, &dr, &dt_, &p0), NPG_OK);
    float want[] = {0, 2, 2, -0.0f, -2, 4};
    for (int i = 0; i < 6; i++) cr_assert_eq(rt[i], want[i], "round(%g) = %g", ties[i], rt[i]);
    cr_assert(signbit(rt[3]));
    int32_t r32[] = {15, 25, -15, 14, 2147483647}, o32[5];
    npg_tdesc d32 = {.data = r32, .dtype = NPG_INT32, .ndim = 1, .shape = {5}, .strides = {1}}, do32 = d32;
    do32.data = o32;
    npg_kparams pm1 = {{0}, {-1}};
    cr_assert_eq(B->unary(0, NPG_OP_ROUND, &do32, &d32, &pm1), NPG_OK);
    cr_assert_eq(o32[0], 20);
    cr_assert_eq(o32[1], 20);
    cr_assert_eq(o32[2], -20);
    cr_assert_eq(o32[3], 10);
    /* a NULL kparams is accepted by ops without parameters, and a large input takes the threaded path */
    int64_t n = 1 << 18;
    tv big = tv_make(NPG_FLOAT64, 1, &n, L_FLIP);
    tv_fill(&big, D_ANY);
    tv ob = out_make(NPG_FLOAT64, 1, &n);
    cr_assert_eq(B->unary(0, NPG_OP_TANH, &ob.d, &big.d, NULL), NPG_OK);
    for (int64_t f = 0; f < n; f += 97) cr_assert(close_to(get(&ob.d, f), tanh(get(&big.d, f)), 1e-14, 0));
    cr_assert(close_to(get(&ob.d, n - 1), tanh(get(&big.d, n - 1)), 1e-14, 0));
    tv_free(&big);
    tv_free(&ob);
}

/* The new integer types' wrap-around and unsigned semantics, written out. */
Test(cpu_unary, new_integer_edges_by_hand) {
    int8_t a8[4] = {-128, 127, -1, 0}, o8[4];
    npg_tdesc d8 = {.data = a8, .dtype = NPG_INT8, .ndim = 1, .shape = {4}, .strides = {1}}, e8 = d8;
    e8.data = o8;
    cr_assert_eq(B->unary(0, NPG_OP_NEGATIVE, &e8, &d8, NULL), NPG_OK);
    cr_assert(o8[0] == -128 && o8[1] == -127 && o8[2] == 1 && o8[3] == 0);
    cr_assert_eq(B->unary(0, NPG_OP_ABS, &e8, &d8, NULL), NPG_OK);
    cr_assert(o8[0] == -128 && o8[1] == 127 && o8[2] == 1);
    cr_assert_eq(B->unary(0, NPG_OP_SQUARE, &e8, &d8, NULL), NPG_OK);
    cr_assert(o8[0] == 0 && o8[1] == 1 && o8[2] == 1); /* 16384, 16129 mod 256 */
    npg_kparams pm1 = {{0}, {-1}};
    cr_assert_eq(B->unary(0, NPG_OP_ROUND, &e8, &d8, &pm1), NPG_OK);
    cr_assert(o8[0] == 126 && o8[1] == -126 && o8[2] == 0, "round: %d %d %d", o8[0], o8[1], o8[2]); /* -130, 130 wrap */
    int16_t a16[2] = {INT16_MIN, 300}, o16[2];
    npg_tdesc d16 = {.data = a16, .dtype = NPG_INT16, .ndim = 1, .shape = {2}, .strides = {1}}, e16 = d16;
    e16.data = o16;
    cr_assert_eq(B->unary(0, NPG_OP_SQUARE, &e16, &d16, NULL), NPG_OK);
    cr_assert(o16[0] == 0 && o16[1] == 24464); /* 90000 - 65536 */
    uint16_t a16u[3] = {65535, 1, 0}, o16u[3];
    npg_tdesc du16 = {.data = a16u, .dtype = NPG_UINT16, .ndim = 1, .shape = {3}, .strides = {1}}, eu16 = du16;
    eu16.data = o16u;
    cr_assert_eq(B->unary(0, NPG_OP_NEGATIVE, &eu16, &du16, NULL), NPG_OK);
    cr_assert(o16u[0] == 1 && o16u[1] == 65535 && o16u[2] == 0);
    cr_assert_eq(B->unary(0, NPG_OP_SQUARE, &eu16, &du16, NULL), NPG_OK);
    cr_assert(o16u[0] == 1);
    cr_assert_eq(B->unary(0, NPG_OP_BITWISE_INVERT, &eu16, &du16, NULL), NPG_OK);
    cr_assert(o16u[0] == 0 && o16u[1] == 65534 && o16u[2] == 65535);
    uint32_t a32u[2] = {UINT32_MAX, 4294967295u - 4}, o32u[2];
    npg_tdesc du32 = {.data = a32u, .dtype = NPG_UINT32, .ndim = 1, .shape = {2}, .strides = {1}}, eu32 = du32;
    eu32.data = o32u;
    cr_assert_eq(B->unary(0, NPG_OP_ROUND, &eu32, &du32, &pm1), NPG_OK);
    cr_assert(o32u[0] == 4 && o32u[1] == 4294967290u, "%u %u", o32u[0], o32u[1]); /* ...295 -> ...300 wraps to 4 */
    uint64_t a64[4] = {UINT64_MAX, 1ull << 63, 5, 0}, o64[4];
    uint8_t ob[4];
    npg_tdesc d64 = {.data = a64, .dtype = NPG_UINT64, .ndim = 1, .shape = {4}, .strides = {1}}, e64 = d64, eb = d64;
    e64.data = o64;
    eb.data = ob, eb.dtype = NPG_BOOL;
    cr_assert_eq(B->unary(0, NPG_OP_NEGATIVE, &e64, &d64, NULL), NPG_OK);
    cr_assert(o64[0] == 1 && o64[1] == 1ull << 63 && o64[2] == UINT64_MAX - 4 && o64[3] == 0);
    cr_assert_eq(B->unary(0, NPG_OP_ABS, &e64, &d64, NULL), NPG_OK);
    cr_assert(o64[0] == UINT64_MAX && o64[1] == 1ull << 63);
    cr_assert_eq(B->unary(0, NPG_OP_SIGN, &e64, &d64, NULL), NPG_OK);
    cr_assert(o64[0] == 1 && o64[1] == 1 && o64[2] == 1 && o64[3] == 0);
    cr_assert_eq(B->unary(0, NPG_OP_RELU, &e64, &d64, NULL), NPG_OK);
    cr_assert(o64[0] == UINT64_MAX && o64[1] == 1ull << 63);
    cr_assert_eq(B->unary(0, NPG_OP_ROUND, &e64, &d64, &pm1), NPG_OK);
    cr_assert(o64[0] == 4 && o64[1] == 9223372036854775810ull && o64[2] == 0, "%llu %llu %llu",
              (unsigned long long)o64[0], (unsigned long long)o64[1], (unsigned long long)o64[2]);
    npg_kparams pc = {{10, 1e19}, {0}};
    cr_assert_eq(B->unary(0, NPG_OP_CLIP, &e64, &d64, &pc), NPG_OK);
    cr_assert(o64[0] == 10000000000000000000ull && o64[1] == 1ull << 63 && o64[2] == 10 && o64[3] == 10);
    cr_assert_eq(B->unary(0, NPG_OP_LOGICAL_NOT, &eb, &d64, NULL), NPG_OK);
    cr_assert(ob[0] == 0 && ob[1] == 0 && ob[3] == 1);
}

/* ---- binary ----------------------------------------------------------------------- */

typedef struct bop {
    npg_op op;
    unsigned mask;
    int doma, domb;
} bop;

static const bop BOPS[] = {
    {NPG_OP_ADD, MNUM, D_ANY, D_ANY},           {NPG_OP_SUBTRACT, MNUM, D_ANY, D_ANY},
    {NPG_OP_MULTIPLY, MNUM, D_ANY, D_ANY},      {NPG_OP_DIVIDE, MFLT, D_ANY, D_POS},
    {NPG_OP_FLOOR_DIVIDE, MNUM, D_ANY, D_ZEROS}, {NPG_OP_REMAINDER, MNUM, D_ANY, D_ZEROS},
    {NPG_OP_POW, MNUM, D_POS, D_SMALLINT},      {NPG_OP_ATAN2, MFLT, D_ANY, D_ANY},
    {NPG_OP_LOGADDEXP, MFLT, D_ANY, D_ANY},     {NPG_OP_MAXIMUM, MALL, D_SPECIAL, D_ANY},
    {NPG_OP_MINIMUM, MALL, D_SPECIAL, D_ANY},   {NPG_OP_EQUAL, MALL, D_SMALLINT, D_SMALLINT},
    {NPG_OP_NOT_EQUAL, MALL, D_SMALLINT, D_SMALLINT}, {NPG_OP_LESS, MALL, D_SPECIAL, D_SMALLINT},
    {NPG_OP_LESS_EQUAL, MALL, D_SMALLINT, D_SMALLINT}, {NPG_OP_GREATER, MALL, D_SPECIAL, D_SMALLINT},
    {NPG_OP_GREATER_EQUAL, MALL, D_SMALLINT, D_SMALLINT}, {NPG_OP_LOGICAL_AND, MALL, D_ZEROS, D_ZEROS},
    {NPG_OP_LOGICAL_OR, MALL, D_ZEROS, D_ZEROS}, {NPG_OP_LOGICAL_XOR, MALL, D_ZEROS, D_ZEROS},
    {NPG_OP_BITWISE_AND, MINT | MB, D_ANY, D_ANY}, {NPG_OP_BITWISE_OR, MINT | MB, D_ANY, D_ANY},
    {NPG_OP_BITWISE_XOR, MINT | MB, D_ANY, D_ANY}, {NPG_OP_BITWISE_LEFT_SHIFT, MINT, D_ANY, D_SMALLINT},
    {NPG_OP_BITWISE_RIGHT_SHIFT, MINT, D_ANY, D_SMALLINT},
};

static double ref_binary_f(npg_op op, double x, double y) {
    switch (op) {
    case NPG_OP_ADD: return x + y;
    case NPG_OP_SUBTRACT: return x - y;
    case NPG_OP_MULTIPLY: return x * y;
    case NPG_OP_DIVIDE: return x / y;
    case NPG_OP_FLOOR_DIVIDE: return floor(x / y);
    case NPG_OP_REMAINDER: return y == 0 ? NAN : x - y * floor(x / y);
    case NPG_OP_POW: return pow(x, y);
    case NPG_OP_ATAN2: return atan2(x, y);
    case NPG_OP_LOGADDEXP: return log(exp(x) + exp(y));
    case NPG_OP_MAXIMUM: return isnan(x) || isnan(y) ? NAN : x > y ? x : y;
    case NPG_OP_MINIMUM: return isnan(x) || isnan(y) ? NAN : x < y ? x : y;
    case NPG_OP_EQUAL: return x == y;
    case NPG_OP_NOT_EQUAL: return x != y;
    case NPG_OP_LESS: return x < y;
    case NPG_OP_LESS_EQUAL: return x <= y;
    case NPG_OP_GREATER: return x > y;
    case NPG_OP_GREATER_EQUAL: return x >= y;
    case NPG_OP_LOGICAL_AND: return (x != 0) && (y != 0);
    case NPG_OP_LOGICAL_OR: return (x != 0) || (y != 0);
    case NPG_OP_LOGICAL_XOR: return (x != 0) != (y != 0);
    default: cr_assert_fail("no float reference for %s", npg__op_name(op)); return 0;
    }
}

/* Python semantics on canonical integers (uint64 as unsigned; inputs small
 * or wrapped afterwards). */
static int64_t ref_binary_i(npg_op op, npg_dtype dt, int64_t x, int64_t y) {
    const int bits = t_int_bits(dt);
    const bool uns = isuns(dt);
    const uint64_t ux = (uint64_t)x, uy = (uint64_t)y;
    switch (op) {
    case NPG_OP_ADD: return wrap(dt, (int64_t)(ux + uy));
    case NPG_OP_SUBTRACT: return wrap(dt, (int64_t)(ux - uy));
    case NPG_OP_MULTIPLY: return wrap(dt, (int64_t)(ux * uy));
    case NPG_OP_FLOOR_DIVIDE: {
        if (y == 0) return 0;
        if (uns) return (int64_t)(ux / uy);
        if (y == -1) return wrap(dt, (int64_t)(0 - ux)); /* MIN // -1 wraps to MIN */
        int64_t q = x / y;
        if (x % y != 0 && ((x < 0) != (y < 0))) q--;
        return wrap(dt, q);
    }
    case NPG_OP_REMAINDER: {
        if (y == 0) return 0;
        if (uns) return (int64_t)(ux % uy);
        if (y == -1) return 0;
        int64_t r = x % y;
        if (r != 0 && ((r < 0) != (y < 0))) r += y;
        return r;
    }
    case NPG_OP_POW: {
        if (!uns && y < 0) return x == 1 ? 1 : x == -1 ? ((y & 1) ? -1 : 1) : 0;
        cr_assert(uy < 64, "pow reference: exponent %llu", (unsigned long long)uy);
        uint64_t r = 1;
        for (uint64_t k = 0; k < uy; k++) r *= ux;
        return wrap(dt, (int64_t)r);
    }
    case NPG_OP_MAXIMUM: return ilt(dt, x, y) ? y : x;
    case NPG_OP_MINIMUM: return ilt(dt, y, x) ? y : x;
    case NPG_OP_EQUAL: return x == y;
    case NPG_OP_NOT_EQUAL: return x != y;
    case NPG_OP_LESS: return ilt(dt, x, y);
    case NPG_OP_LESS_EQUAL: return !ilt(dt, y, x);
    case NPG_OP_GREATER: return ilt(dt, y, x);
    case NPG_OP_GREATER_EQUAL: return !ilt(dt, x, y);
    case NPG_OP_LOGICAL_AND: return x && y;
    case NPG_OP_LOGICAL_OR: return x || y;
    case NPG_OP_LOGICAL_XOR: return !x != !y;
    case NPG_OP_BITWISE_AND: return x & y;
    case NPG_OP_BITWISE_OR: return x | y;
    case NPG_OP_BITWISE_XOR: return x ^ y;
    case NPG_OP_BITWISE_LEFT_SHIFT:
        if (uns ? uy >= (uint64_t)bits : y < 0 || y >= bits) return 0;
        return wrap(dt, (int64_t)(ux << y));
    case NPG_OP_BITWISE_RIGHT_SHIFT:
        if (uns) return uy >= (uint64_t)bits ? 0 : (int64_t)(ux >> y); /* logical */
        if (y < 0 || y >= bits) return x < 0 ? -1 : 0;
        return x < 0 ? -1 - ((-1 - x) >> y) : x >> y; /* arithmetic shift, written without one */
    default: cr_assert_fail("no integer reference for %s", npg__op_name(op)); return 0;
    }
}

/* Operand kinds for a and b: a full view in some layout, a broadcast view
 * (size-1 dims expanded with stride 0) or a weak scalar. */
enum { K_VIEW0, K_VIEW1, K_VIEW2, K_VIEW3, K_BCAST, K_SCALAR, K_COUNT };

static tv operand(npg_dtype dt, int kind, int dom, int nd, const int64_t *shape) {
    tv v;
    if (kind == K_SCALAR) { /* as common builds it: iscalar the canonical value, scalar it as a double */
        v = (tv){0};
        v.d.dtype = dt;
        v.d.is_scalar = true;
        if (isflt(dt)) {
            double x = gen(dt, dom);
            v.d.scalar = dt == NPG_FLOAT32 ? (float)x : x;
        } else {
            v.d.iscalar = geni(dt, dom);
            v.d.scalar = i2d(dt, v.d.iscalar);
        }
        return v;
    }
    if (kind == K_BCAST) { /* shape (5, 1, 3) -> (5, 7, 3) style: every odd dim broadcast */
        int64_t sh[NPG_MAX_DIMS] = {0};
        for (int i = 0; i < nd; i++) sh[i] = i % 2 ? 1 : shape[i];
        v = tv_make(dt, nd, sh, L_CONTIG);
        tv_fill(&v, dom);
        for (int i = 0; i < nd; i++) {
            v.d.shape[i] = shape[i];
            if (i % 2) v.d.strides[i] = 0;
        }
        return v;
    }
    v = tv_make(dt, nd, shape, kind);
    tv_fill(&v, dom);
    return v;
}

static void check_binary(const bop *b, npg_dtype dt, const tv *x, const tv *y, int nd, const int64_t *shape) {
    npg_dtype odt = bool_out(b->op) ? NPG_BOOL : dt;
    tv o = out_make(odt, nd, shape);
    cr_assert_eq(B->binary(0, b->op, &o.d, &x->d, &y->d), NPG_OK, "%s %s", npg__op_name(b->op), npg_dtype_name(dt));
    for (int64_t f = 0; f < numel(nd, shape); f++) {
        if (isflt(dt)) {
            double xa = get(&x->d, f), ya = get(&y->d, f), want = ref_binary_f(b->op, xa, ya);
            if (odt == NPG_BOOL) {
                cr_assert_eq(geti(&o.d, f), (int64_t)want, "%s(%g, %g)", npg__op_name(b->op), xa, ya);
                continue;
            }
            if (dt == NPG_FLOAT32) want = (double)(float)want;
            cr_assert(close_to(get(&o.d, f), want, rtol_of(dt) * 4, dt == NPG_FLOAT32 ? 1e-6 : 1e-14),
                      "%s %s(%.9g, %.9g) = %.9g, want %.9g", npg__op_name(b->op), npg_dtype_name(dt), xa, ya,
                      get(&o.d, f), want);
        } else {
            int64_t xa = geti(&x->d, f), ya = geti(&y->d, f);
            if (x->d.is_scalar) xa = wrap(dt, xa);
            if (y->d.is_scalar) ya = wrap(dt, ya);
            cr_assert_eq(geti(&o.d, f), ref_binary_i(b->op, dt, xa, ya), "%s %s(%lld, %lld) = %lld",
                         npg__op_name(b->op), npg_dtype_name(dt), (long long)xa, (long long)ya,
                         (long long)geti(&o.d, f));
        }
    }
    tv_free(&o);
}

Test(cpu_binary, every_op_dtype_and_operand_kind) {
    for (size_t k = 0; k < sizeof BOPS / sizeof BOPS[0]; k++) {
        const bop *b = &BOPS[k];
        for (int t = 0; t < N_DT; t++) {
            npg_dtype dt = ALL_DT[t];
            if (!(b->mask & M(dt))) {
                tv x = operand(dt, K_VIEW0, D_ANY, 3, S573), y = operand(dt, K_VIEW0, D_ANY, 3, S573);
                tv o = out_make(bool_out(b->op) ? NPG_BOOL : dt, 3, S573);
                expect_unsupported(B->binary(0, b->op, &o.d, &x.d, &y.d), b->op, dt);
                tv_free(&x);
                tv_free(&y);
                tv_free(&o);
                continue;
            }
            for (int ka = 0; ka < K_COUNT; ka++) {
                for (int kb = 0; kb < K_COUNT; kb++) {
                    if (ka == K_SCALAR && kb == K_SCALAR) continue;
                    int doma = b->doma, domb = b->domb;
                    if (b->op == NPG_OP_POW && !isflt(dt)) doma = D_SMALLINT, domb = D_SMALLINT;
                    if ((b->op == NPG_OP_BITWISE_LEFT_SHIFT || b->op == NPG_OP_BITWISE_RIGHT_SHIFT) && dt != NPG_INT64)
                        domb = D_SMALLINT;
                    tv x = operand(dt, ka, doma, 3, S573), y = operand(dt, kb, domb, 3, S573);
                    if (b->op == NPG_OP_BITWISE_LEFT_SHIFT || b->op == NPG_OP_BITWISE_RIGHT_SHIFT) {
                        /* shift counts in [-2, width + 2] ([0, ...] unsigned): out-of-range counts
                         * have defined results */
                        int64_t width = t_int_bits(dt), lo = isuns(dt) ? 0 : -2;
                        if (y.d.is_scalar) y.d.iscalar = rndi(lo, width + 2), y.d.scalar = (double)y.d.iscalar;
                        else
                            for (int64_t i = 0; i < y.nalloc; i++) wri(dt, y.mem, i, rndi(lo, width + 2));
                    }
                    check_binary(b, dt, &x, &y, 3, S573);
                    tv_free(&x);
                    tv_free(&y);
                }
            }
        }
    }
}

Test(cpu_binary, mismatch_8d_0d_and_large) {
    /* a and b of different dtypes are refused */
    tv x = operand(NPG_FLOAT32, K_VIEW0, D_ANY, 3, S573), y = operand(NPG_FLOAT64, K_VIEW0, D_ANY, 3, S573);
    tv o = out_make(NPG_FLOAT32, 3, S573);
    cr_assert_eq(B->binary(0, NPG_OP_ADD, &o.d, &x.d, &y.d), NPG_ERR_UNSUPPORTED);
    tv_free(&x);
    tv_free(&y);
    tv_free(&o);
    /* 8-d with broadcast and flipped operands */
    int64_t sh8[8] = {2, 3, 1, 2, 3, 2, 1, 3};
    bop add = {NPG_OP_SUBTRACT, MNUM, D_ANY, D_ANY};
    tv a8 = operand(NPG_INT32, K_VIEW2, D_ANY, 8, sh8), b8 = operand(NPG_INT32, K_BCAST, D_ANY, 8, sh8);
    check_binary(&add, NPG_INT32, &a8, &b8, 8, sh8);
    tv_free(&a8);
    tv_free(&b8);
    /* 0-d */
    tv a0 = operand(NPG_FLOAT64, K_VIEW0, D_ANY, 0, NULL), b0 = operand(NPG_FLOAT64, K_SCALAR, D_ANY, 0, NULL);
    check_binary(&add, NPG_FLOAT64, &a0, &b0, 0, NULL);
    tv_free(&a0);
    tv_free(&b0);
    /* large: threaded contiguous, row-broadcast, column-broadcast and transposed */
    int64_t sh[2] = {600, 333};
    bop mul = {NPG_OP_MULTIPLY, MNUM, D_ANY, D_ANY};
    for (int ka = 0; ka < 2; ka++) {
        for (int kb = 0; kb < 3; kb++) {
            tv xa = operand(NPG_FLOAT32, ka == 0 ? K_VIEW0 : K_VIEW1, D_ANY, 2, sh);
            tv yb = operand(NPG_FLOAT32, kb == 0 ? K_VIEW0 : kb == 1 ? K_BCAST : K_SCALAR, D_ANY, 2, sh);
            check_binary(&mul, NPG_FLOAT32, &xa, &yb, 2, sh);
            tv_free(&xa);
            tv_free(&yb);
        }
    }
}

Test(cpu_binary, nan_and_wrap_semantics) {
    double a[] = {NAN, 1.0, NAN, -0.0, 5.0, -7.0, 7.0, 1.0};
    double b[] = {1.0, NAN, NAN, 0.0, 0.0, 2.0, -2.0, 0.0};
    double o[8];
    npg_tdesc da = {.data = a, .dtype = NPG_FLOAT64, .ndim = 1, .shape = {8}, .strides = {1}}, db = da, dout = da;
    db.data = b;
    dout.data = o;
    cr_assert_eq(B->binary(0, NPG_OP_MAXIMUM, &dout, &da, &db), NPG_OK);
    cr_assert(isnan(o[0]) && isnan(o[1]) && isnan(o[2]));
    cr_assert_eq(B->binary(0, NPG_OP_FLOOR_DIVIDE, &dout, &da, &db), NPG_OK);
    cr_assert(isinf(o[4]) && o[4] > 0);
    cr_assert_eq(o[5], -4.0);
    cr_assert_eq(o[6], -4.0);
    cr_assert_eq(B->binary(0, NPG_OP_REMAINDER, &dout, &da, &db), NPG_OK);
    cr_assert_eq(o[5], 1.0);
    cr_assert_eq(o[6], -1.0);
    int64_t ia[] = {INT64_MAX, INT64_MIN, INT64_MIN, 7}, ib[] = {1, -1, -1, 0}, io[4];
    npg_tdesc dia = {.data = ia, .dtype = NPG_INT64, .ndim = 1, .shape = {4}, .strides = {1}}, dib = dia, dio = dia;
    dib.data = ib;
    dio.data = io;
    cr_assert_eq(B->binary(0, NPG_OP_ADD, &dio, &dia, &dib), NPG_OK);
    cr_assert_eq(io[0], INT64_MIN);
    cr_assert_eq(B->binary(0, NPG_OP_FLOOR_DIVIDE, &dio, &dia, &dib), NPG_OK);
    cr_assert_eq(io[1], INT64_MIN); /* MIN // -1 wraps */
    cr_assert_eq(io[3], 0);         /* x // 0 == 0 */
    cr_assert_eq(B->binary(0, NPG_OP_REMAINDER, &dio, &dia, &dib), NPG_OK);
    cr_assert_eq(io[2], 0);
    cr_assert_eq(io[3], 0);
    /* the new integer types, by hand: int8 MIN // -1 and wrap-around, int16 floor division */
    int8_t a8[4] = {-128, 127, -7, 100}, b8[4] = {-1, 1, 2, 0}, o8[4];
    npg_tdesc da8 = {.data = a8, .dtype = NPG_INT8, .ndim = 1, .shape = {4}, .strides = {1}}, db8 = da8, do8 = da8;
    db8.data = b8;
    do8.data = o8;
    cr_assert_eq(B->binary(0, NPG_OP_FLOOR_DIVIDE, &do8, &da8, &db8), NPG_OK);
    cr_assert(o8[0] == -128 && o8[1] == 127 && o8[2] == -4 && o8[3] == 0);
    cr_assert_eq(B->binary(0, NPG_OP_ADD, &do8, &da8, &db8), NPG_OK);
    cr_assert(o8[0] == 127 && o8[1] == -128 && o8[2] == -5);
    cr_assert_eq(B->binary(0, NPG_OP_REMAINDER, &do8, &da8, &db8), NPG_OK);
    cr_assert(o8[0] == 0 && o8[2] == 1 && o8[3] == 0);
    int16_t a16[2] = {-32768, 200}, b16[2] = {3, 300}, o16[2];
    npg_tdesc da16 = {.data = a16, .dtype = NPG_INT16, .ndim = 1, .shape = {2}, .strides = {1}}, db16 = da16, do16 = da16;
    db16.data = b16;
    do16.data = o16;
    cr_assert_eq(B->binary(0, NPG_OP_MULTIPLY, &do16, &da16, &db16), NPG_OK);
    cr_assert(o16[0] == -32768 && o16[1] == -5536, "%d %d", o16[0], o16[1]); /* 60000 - 65536 */
    cr_assert_eq(B->binary(0, NPG_OP_FLOOR_DIVIDE, &do16, &da16, &db16), NPG_OK);
    cr_assert(o16[0] == -10923 && o16[1] == 0);
    /* uint64 above 2^63: unsigned order, division and logical shifts */
    uint64_t ua[4] = {UINT64_MAX, 1ull << 63, 7, 0}, ub[4] = {1, 3, 1ull << 63, 63}, uo[4];
    uint8_t bo[4];
    npg_tdesc dua = {.data = ua, .dtype = NPG_UINT64, .ndim = 1, .shape = {4}, .strides = {1}}, dub = dua, duo = dua;
    dub.data = ub;
    duo.data = uo;
    npg_tdesc dbo = dua;
    dbo.data = bo, dbo.dtype = NPG_BOOL;
    cr_assert_eq(B->binary(0, NPG_OP_ADD, &duo, &dua, &dub), NPG_OK);
    cr_assert(uo[0] == 0 && uo[1] == (1ull << 63) + 3 && uo[2] == (1ull << 63) + 7 && uo[3] == 63);
    cr_assert_eq(B->binary(0, NPG_OP_FLOOR_DIVIDE, &duo, &dua, &dub), NPG_OK);
    cr_assert(uo[0] == UINT64_MAX && uo[1] == 3074457345618258602ull && uo[2] == 0 && uo[3] == 0);
    cr_assert_eq(B->binary(0, NPG_OP_REMAINDER, &duo, &dua, &dub), NPG_OK);
    cr_assert(uo[0] == 0 && uo[1] == 2 && uo[2] == 7);
    cr_assert_eq(B->binary(0, NPG_OP_MAXIMUM, &duo, &dua, &dub), NPG_OK);
    cr_assert(uo[0] == UINT64_MAX && uo[1] == 1ull << 63 && uo[2] == 1ull << 63 && uo[3] == 63);
    cr_assert_eq(B->binary(0, NPG_OP_GREATER, &dbo, &dua, &dub), NPG_OK);
    cr_assert(bo[0] == 1 && bo[1] == 1 && bo[2] == 0 && bo[3] == 0);
    cr_assert_eq(B->binary(0, NPG_OP_BITWISE_RIGHT_SHIFT, &duo, &dua, &dub), NPG_OK);
    cr_assert(uo[0] == UINT64_MAX >> 1 && uo[1] == 1ull << 60 && uo[2] == 0 && uo[3] == 0);
    /* a weak uint64 scalar above 2^63 (iscalar: its bits) */
    npg_tdesc sc = {.dtype = NPG_UINT64, .is_scalar = true, .scalar = 0x1p64, .iscalar = -1};
    cr_assert_eq(B->binary(0, NPG_OP_SUBTRACT, &duo, &sc, &dua), NPG_OK);
    cr_assert(uo[0] == 0 && uo[1] == (1ull << 63) - 1 && uo[2] == UINT64_MAX - 7 && uo[3] == UINT64_MAX);
    cr_assert_eq(B->binary(0, NPG_OP_LESS, &dbo, &dua, &sc), NPG_OK);
    cr_assert(bo[0] == 0 && bo[1] == 1 && bo[2] == 1 && bo[3] == 1);
}

/* ---- where ------------------------------------------------------------------------ */

Test(cpu_where, every_dtype_and_operand_kind) {
    for (int t = 0; t < N_DT; t++) {
        npg_dtype dt = ALL_DT[t];
        for (int kc = 0; kc < K_SCALAR; kc++) {
            for (int ka = 0; ka < K_COUNT; ka++) {
                int kb = (ka + kc + 1) % K_COUNT;
                tv c = operand(NPG_BOOL, kc, D_ANY, 3, S573);
                tv x = operand(dt, ka, D_ANY, 3, S573), y = operand(dt, kb, D_ANY, 3, S573);
                tv o = out_make(dt, 3, S573);
                cr_assert_eq(B->where(0, &o.d, &c.d, &x.d, &y.d), NPG_OK);
                for (int64_t f = 0; f < 105; f++) {
                    const npg_tdesc *src = geti(&c.d, f) ? &x.d : &y.d;
                    double sv = dt == NPG_FLOAT32 ? (double)(float)src->scalar : src->scalar;
                    if (isflt(dt)) cr_assert_eq(get(&o.d, f), src->is_scalar ? sv : get(src, f));
                    else cr_assert_eq(geti(&o.d, f), src->is_scalar ? wrap(dt, src->iscalar) : geti(src, f));
                }
                tv_free(&c);
                tv_free(&x);
                tv_free(&y);
                tv_free(&o);
            }
        }
    }
    /* a large one (threaded) with a broadcast condition */
    int64_t sh[2] = {1000, 77};
    tv c = operand(NPG_BOOL, K_BCAST, D_ANY, 2, sh);
    tv x = operand(NPG_FLOAT64, K_VIEW0, D_ANY, 2, sh), y = operand(NPG_FLOAT64, K_SCALAR, D_ANY, 2, sh);
    tv o = out_make(NPG_FLOAT64, 2, sh);
    cr_assert_eq(B->where(0, &o.d, &c.d, &x.d, &y.d), NPG_OK);
    for (int64_t f = 0; f < 77000; f++) cr_assert_eq(get(&o.d, f), geti(&c.d, f) ? get(&x.d, f) : y.d.scalar);
    tv_free(&c);
    tv_free(&x);
    tv_free(&y);
    tv_free(&o);
}

/* ---- reductions -------------------------------------------------------------------- */

static const npg_op ROPS[] = {NPG_OP_SUM, NPG_OP_MEAN, NPG_OP_PROD, NPG_OP_MAX, NPG_OP_MIN,
                              NPG_OP_ALL, NPG_OP_ANY, NPG_OP_ARGMAX, NPG_OP_ARGMIN};

static unsigned red_mask(npg_op op) {
    switch (op) {
    case NPG_OP_SUM: case NPG_OP_PROD: return MINT | MFLT; /* integers wrap to their own type */
    case NPG_OP_MEAN: return MFLT;
    case NPG_OP_ALL: case NPG_OP_ANY: return MALL; /* bool in common's use; any dtype reads as truth values */
    default: return MALL;
    }
}
/* wide: an integer or bool SUM / PROD into int64 (the backend's wide_int_sum) */
static npg_dtype red_out(npg_op op, npg_dtype dt, bool wide) {
    if (wide) return NPG_INT64;
    if (op == NPG_OP_ALL || op == NPG_OP_ANY) return NPG_BOOL;
    return op == NPG_OP_ARGMAX || op == NPG_OP_ARGMIN ? NPG_INT64 : dt;
}

/* Reference over the reduced block of output k: doubles for float sums, exact otherwise. */
static void ref_reduce(npg_op op, const npg_tdesc *in, int nred, int64_t k, double *fv, int64_t *iv, bool wide) {
    int64_t R = 1;
    for (int i = in->ndim - nred; i < in->ndim; i++) R *= in->shape[i];
    double s = op == NPG_OP_PROD ? 1 : 0, best = 0;
    uint64_t us = op == NPG_OP_PROD ? 1 : 0;
    int64_t bi = -1, ibest = 0;
    bool all = true, any = false, nan = false;
    for (int64_t r = 0; r < R; r++) {
        double x = get(in, k * R + r);
        int64_t xi = geti(in, k * R + r);
        s = op == NPG_OP_PROD ? s * x : s + x;
        us = op == NPG_OP_PROD ? us * (uint64_t)xi : us + (uint64_t)xi;
        all = all && x != 0;
        any = any || x != 0;
        if (isflt(in->dtype)) {
            bool better = op == NPG_OP_ARGMAX || op == NPG_OP_MAX ? x > best : x < best;
            if (!nan && (bi < 0 || isnan(x) || better)) best = x, bi = r, nan = isnan(x);
        } else { /* canonical integers: uint64 compares unsigned */
            bool better = op == NPG_OP_ARGMAX || op == NPG_OP_MAX ? ilt(in->dtype, ibest, xi) : ilt(in->dtype, xi, ibest);
            if (bi < 0 || better) ibest = xi, bi = r;
        }
    }
    switch (op) {
    case NPG_OP_SUM: case NPG_OP_PROD: /* integer sums and products wrap to the input type, or int64's */
        *fv = s;
        *iv = isflt(in->dtype) ? 0 : wide ? (int64_t)us : wrap(in->dtype, (int64_t)us);
        break;
    case NPG_OP_MEAN: *fv = s / (double)R; break;
    case NPG_OP_ALL: *iv = all; break;
    case NPG_OP_ANY: *iv = any; break;
    case NPG_OP_MAX: case NPG_OP_MIN: *fv = best; *iv = ibest; break;
    default: *iv = bi; break;
    }
}

static void check_reduce_w(npg_op op, const npg_tdesc *in, int nred, double rtol, bool wide) {
    npg_dtype dt = in->dtype, odt = red_out(op, dt, wide);
    int nk = in->ndim - nred;
    tv o = out_make(odt, nk, in->shape);
    cr_assert_eq(B->reduce(0, op, &o.d, in, nred), NPG_OK, "%s %s", npg__op_name(op), npg_dtype_name(dt));
    int64_t K = numel(nk, in->shape);
    for (int64_t k = 0; k < K; k++) {
        double fv = 0;
        int64_t iv = 0;
        ref_reduce(op, in, nred, k, &fv, &iv, wide);
        if (isflt(odt)) {
            double want = dt == NPG_FLOAT32 ? (double)(float)fv : fv;
            cr_assert(close_to(get(&o.d, k), want, rtol, 0), "%s %s nred %d out[%lld] = %.10g, want %.10g",
                      npg__op_name(op), npg_dtype_name(dt), nred, (long long)k, get(&o.d, k), want);
        } else {
            cr_assert_eq(geti(&o.d, k), iv, "%s %s%s nred %d out[%lld] = %lld, want %lld", npg__op_name(op),
                         npg_dtype_name(dt), wide ? " (into int64)" : "", nred, (long long)k,
                         (long long)geti(&o.d, k), (long long)iv);
        }
    }
    tv_free(&o);
}
static void check_reduce(npg_op op, const npg_tdesc *in, int nred, double rtol) { check_reduce_w(op, in, nred, rtol, false); }
/* An integer or bool SUM / PROD whose wide_int_sum form (into int64) differs from the same-dtype one. */
static bool has_wide(npg_op op, npg_dtype dt) {
    return (op == NPG_OP_SUM || op == NPG_OP_PROD) && !isflt(dt) && dt != NPG_INT64 && dt != NPG_UINT64;
}

Test(cpu_reduce, every_op_dtype_layout_and_nred) {
    for (size_t q = 0; q < sizeof ROPS / sizeof ROPS[0]; q++) {
        npg_op op = ROPS[q];
        for (int t = 0; t < N_DT; t++) {
            npg_dtype dt = ALL_DT[t];
            if (!(red_mask(op) & M(dt))) {
                if (op == NPG_OP_SUM || op == NPG_OP_PROD) { /* bool: only into int64 */
                    tv in = tv_make(dt, 3, S573, L_CONTIG);
                    tv_fill(&in, D_ANY);
                    for (int nred = 0; nred <= 3; nred++) check_reduce_w(op, &in.d, nred, 0, true);
                    tv_free(&in);
                    continue;
                }
                tv in = tv_make(dt, 3, S573, L_CONTIG);
                tv o = out_make(red_out(op, dt, false), 2, S573);
                expect_unsupported(B->reduce(0, op, &o.d, &in.d, 1), op, dt);
                tv_free(&in);
                tv_free(&o);
                continue;
            }
            int dom = op == NPG_OP_PROD ? D_NEAR1 : op == NPG_OP_ALL || op == NPG_OP_ANY ? D_ANY : D_SMALLINT;
            if (isflt(dt) && (op == NPG_OP_SUM || op == NPG_OP_MEAN)) dom = D_ANY;
            if (dt == NPG_INT64 && op == NPG_OP_PROD) dom = D_SMALLINT;
            for (int layout = 0; layout < L_COUNT; layout++) {
                tv in = tv_make(dt, 3, S573, layout);
                int ldom = dom; /* integers: on every other layout, full-range sums (wrapping) and extremes */
                if (!isflt(dt) && dt != NPG_BOOL && layout % 2 && op != NPG_OP_ALL && op != NPG_OP_ANY)
                    ldom = op == NPG_OP_SUM || op == NPG_OP_PROD ? D_ANY : D_EDGE;
                tv_fill(&in, ldom);
                for (int nred = 0; nred <= 3; nred++) {
                    check_reduce(op, &in.d, nred, dt == NPG_FLOAT32 ? 1e-6 : 1e-12);
                    if (has_wide(op, dt)) check_reduce_w(op, &in.d, nred, 0, true);
                }
                tv_free(&in);
            }
        }
    }
}

Test(cpu_reduce, large_rows_columns_and_splits) {
    /* shapes that take each driver: many rows, few big rows (split), columns
     * (bias-gradient layout), columns with a split reduced axis, tiny blocks */
    static const int64_t shapes[][2] = {{3000, 37}, {3, 50000}, {1, 200000}, {40, 5000}, {20, 5000}, {5000, 3}};
    static const int layouts[] = {L_CONTIG, L_CONTIG, L_FLIP, L_TRANS, L_TRANS, L_CONTIG};
    for (int s = 0; s < 6; s++) {
        for (int q = 0; q < 9; q++) {
            npg_op op = ROPS[q];
            npg_dtype dt = op == NPG_OP_ALL || op == NPG_OP_ANY ? NPG_BOOL : q % 2 ? NPG_FLOAT32 : NPG_FLOAT64;
            if (op == NPG_OP_ARGMIN) dt = NPG_INT32;
            tv in = tv_make(dt, 2, shapes[s], layouts[s]);
            tv_fill(&in, op == NPG_OP_ARGMAX ? D_SMALLINT : D_ANY);
            if (op == NPG_OP_PROD) /* close to 1, so long products neither overflow nor vanish */
                for (int64_t i = 0; i < in.nalloc; i++) ((double *)in.mem)[i] = 1 + (rndu() - 0.5) * 0.02;
            if (op == NPG_OP_ALL) /* mostly true, so ALL is not trivially false */
                for (int64_t i = 0; i < in.nalloc; i++) ((uint8_t *)in.mem)[i] = rnd64() % 5000 != 0;
            if (op == NPG_OP_ANY)
                for (int64_t i = 0; i < in.nalloc; i++) ((uint8_t *)in.mem)[i] = rnd64() % 5000 == 0;
            check_reduce(op, &in.d, 1, dt == NPG_FLOAT32 ? 2e-6 : 1e-10);
            check_reduce(op, &in.d, 2, dt == NPG_FLOAT32 ? 2e-6 : 1e-10);
            tv_free(&in);
        }
    }
}

/* Every integer type through the row, split-row and column drivers (threaded):
 * wrapping sums, products of odd values (never 0 modulo 2^k), extremes. */
Test(cpu_reduce, integers_large_rows_and_columns) {
    static const int64_t shapes[][2] = {{3, 50000}, {40, 5000}, {5000, 3}};
    static const int layouts[] = {L_CONTIG, L_TRANS, L_FLIP};
    static const npg_op ops[] = {NPG_OP_SUM, NPG_OP_PROD, NPG_OP_MAX, NPG_OP_MIN, NPG_OP_ARGMAX, NPG_OP_ARGMIN};
    for (int t = 0; t < N_DT; t++) {
        npg_dtype dt = ALL_DT[t];
        if (isflt(dt) || dt == NPG_BOOL) continue;
        for (int s = 0; s < 3; s++)
            for (int q = 0; q < 6; q++) {
                tv in = tv_make(dt, 2, shapes[s], layouts[s]);
                tv_fill(&in, ops[q] == NPG_OP_SUM || ops[q] == NPG_OP_PROD ? D_ANY : D_EDGE);
                if (ops[q] == NPG_OP_PROD)
                    for (int64_t i = 0; i < in.nalloc; i++) wri(dt, in.mem, i, ri(dt, in.mem, i) | 1);
                check_reduce(ops[q], &in.d, 1, 0);
                check_reduce(ops[q], &in.d, 2, 0);
                if (has_wide(ops[q], dt)) {
                    check_reduce_w(ops[q], &in.d, 1, 0, true);
                    check_reduce_w(ops[q], &in.d, 2, 0, true);
                }
                tv_free(&in);
            }
    }
    /* by hand: uint64 extremes and sums past 2^64, int8 / uint16 sums wrapping to their type */
    uint64_t u[4] = {5, UINT64_MAX, 1ull << 63, UINT64_MAX - 1}, r64;
    npg_tdesc du = {.data = u, .dtype = NPG_UINT64, .ndim = 1, .shape = {4}, .strides = {1}};
    npg_tdesc o64 = {.data = &r64, .dtype = NPG_UINT64};
    int64_t am;
    npg_tdesc oam = {.data = &am, .dtype = NPG_INT64};
    cr_assert_eq(B->reduce(0, NPG_OP_MAX, &o64, &du, 1), NPG_OK);
    cr_assert_eq(r64, UINT64_MAX);
    cr_assert_eq(B->reduce(0, NPG_OP_MIN, &o64, &du, 1), NPG_OK);
    cr_assert_eq(r64, 5);
    cr_assert_eq(B->reduce(0, NPG_OP_SUM, &o64, &du, 1), NPG_OK);
    cr_assert_eq(r64, (1ull << 63) + 2); /* 5 - 1 + 2^63 - 2 */
    cr_assert_eq(B->reduce(0, NPG_OP_ARGMAX, &oam, &du, 1), NPG_OK);
    cr_assert_eq(am, 1);
    cr_assert_eq(B->reduce(0, NPG_OP_ARGMIN, &oam, &du, 1), NPG_OK);
    cr_assert_eq(am, 0);
    int8_t i8[3] = {100, 100, -128}, r8;
    npg_tdesc d8 = {.data = i8, .dtype = NPG_INT8, .ndim = 1, .shape = {3}, .strides = {1}};
    npg_tdesc o8 = {.data = &r8, .dtype = NPG_INT8};
    cr_assert_eq(B->reduce(0, NPG_OP_SUM, &o8, &d8, 1), NPG_OK);
    cr_assert_eq(r8, 72); /* 72 */
    cr_assert_eq(B->reduce(0, NPG_OP_PROD, &o8, &d8, 1), NPG_OK);
    cr_assert_eq(r8, 0); /* -1280000 = -5000 * 256 */
    cr_assert_eq(B->reduce(0, NPG_OP_MIN, &o8, &d8, 1), NPG_OK);
    cr_assert_eq(r8, -128);
    int64_t w;
    npg_tdesc ow = {.data = &w, .dtype = NPG_INT64}; /* wide_int_sum: into int64, no wrap to int8 */
    cr_assert_eq(B->reduce(0, NPG_OP_SUM, &ow, &d8, 1), NPG_OK);
    cr_assert_eq(w, 72, "int8 sum into int64: %lld", (long long)w);
    i8[2] = 127;
    cr_assert_eq(B->reduce(0, NPG_OP_SUM, &ow, &d8, 1), NPG_OK);
    cr_assert_eq(w, 327);
    cr_assert_eq(B->reduce(0, NPG_OP_PROD, &ow, &d8, 1), NPG_OK);
    cr_assert_eq(w, 1270000);
    /* long contiguous rows of extreme values (past the 2^20-element blocks the
     * 1- and 2-byte types sum in 32-bit lanes): exact in int64 */
    {
        const int64_t n = ((int64_t)1 << 21) + 77;
        static const struct {
            npg_dtype dt;
            int64_t v;
        } big[] = {{NPG_INT8, -128}, {NPG_INT8, 127}, {NPG_UINT8, 255}, {NPG_INT16, -32768},
                   {NPG_INT16, 32767}, {NPG_UINT16, 65535}, {NPG_BOOL, 1}};
        for (size_t c = 0; c < sizeof big / sizeof big[0]; c++) {
            const size_t es = npg__dtype_size(big[c].dt);
            char *mem = malloc((size_t)n * es);
            cr_assert_not_null(mem);
            for (int64_t i = 0; i < n; i++) t_put_bits(big[c].dt, mem, i, (uint64_t)big[c].v);
            t_put_bits(big[c].dt, mem, n / 2, 0); /* one 0 in the middle */
            npg_tdesc db = {.data = mem, .dtype = big[c].dt, .ndim = 1, .shape = {n}, .strides = {1}};
            cr_assert_eq(B->reduce(0, NPG_OP_SUM, &ow, &db, 1), NPG_OK);
            cr_assert_eq(w, big[c].v * (n - 1), "%s sum of %lld x %lld: %lld", npg_dtype_name(big[c].dt),
                         (long long)(n - 1), (long long)big[c].v, (long long)w);
            free(mem);
        }
    }
    /* and long columns (the column driver: kept axis of stride 1), past the
     * 2^15-row chunks the 1- and 2-byte types sum in 32-bit accumulators */
    {
        const int64_t R = ((int64_t)1 << 16) + 5, K = 5;
        static const struct {
            npg_dtype dt;
            int64_t v;
        } big[] = {{NPG_INT8, -128}, {NPG_UINT8, 255}, {NPG_INT16, -32768}, {NPG_INT16, 32767}, {NPG_UINT16, 65535}};
        int64_t cw[5];
        npg_tdesc ocw = {.data = cw, .dtype = NPG_INT64, .ndim = 1, .shape = {K}, .strides = {1}};
        for (size_t c = 0; c < sizeof big / sizeof big[0]; c++) {
            const size_t es = npg__dtype_size(big[c].dt);
            char *mem = malloc((size_t)(R * K) * es);
            cr_assert_not_null(mem);
            for (int64_t i = 0; i < R * K; i++) t_put_bits(big[c].dt, mem, i, (uint64_t)(i % K == 3 ? 1 : big[c].v));
            /* (K, R) with the kept axis contiguous: the rows of a (R, K) array summed over axis 0 */
            npg_tdesc dc = {.data = mem, .dtype = big[c].dt, .ndim = 2, .shape = {K, R}, .strides = {1, K}};
            cr_assert_eq(B->reduce(0, NPG_OP_SUM, &ocw, &dc, 1), NPG_OK);
            for (int64_t k = 0; k < K; k++)
                cr_assert_eq(cw[k], (k == 3 ? 1 : big[c].v) * R, "%s column %lld: %lld", npg_dtype_name(big[c].dt),
                             (long long)k, (long long)cw[k]);
            free(mem);
        }
    }
    /* int64 output for uint64 input, or uint64 output for int8, is refused */
    cr_assert_eq(B->reduce(0, NPG_OP_SUM, &oam, &du, 1), NPG_ERR_UNSUPPORTED);
    cr_assert_eq(B->reduce(0, NPG_OP_SUM, &o64, &d8, 1), NPG_ERR_UNSUPPORTED);
    uint16_t u16[2] = {65535, 2}, r16;
    npg_tdesc d16 = {.data = u16, .dtype = NPG_UINT16, .ndim = 1, .shape = {2}, .strides = {1}};
    npg_tdesc o16 = {.data = &r16, .dtype = NPG_UINT16};
    cr_assert_eq(B->reduce(0, NPG_OP_SUM, &o16, &d16, 1), NPG_OK);
    cr_assert_eq(r16, 1);
    cr_assert_eq(B->reduce(0, NPG_OP_PROD, &o16, &d16, 1), NPG_OK);
    cr_assert_eq(r16, 65534);
    /* empty: the identities of each type */
    npg_tdesc e64 = {.data = u, .dtype = NPG_UINT64, .ndim = 1, .shape = {0}, .strides = {1}};
    cr_assert_eq(B->reduce(0, NPG_OP_PROD, &o64, &e64, 1), NPG_OK);
    cr_assert_eq(r64, 1);
    cr_assert_eq(B->reduce(0, NPG_OP_SUM, &o64, &e64, 1), NPG_OK);
    cr_assert_eq(r64, 0);
}

/* Column reductions wider than one column block (1024 outputs): groups of
 * up to 2048 outputs walked in tiles of rows, four rows per pass where rows
 * are 8 KB or more apart, remainders of both, a reduced axis run backwards,
 * two reduced axes in runs shorter than a tile, and 1 to 4 threads (with 3,
 * the two groups of the (4000, 1001) one are split into parts of rows; with
 * 4, it is four single-block groups). */
Test(cpu_reduce, wide_columns_groups_and_tiles) {
    static const struct {
        npg_op op;
        npg_dtype dt;
        bool wide;
    } cases[] = {{NPG_OP_SUM, NPG_FLOAT32, false},  {NPG_OP_SUM, NPG_FLOAT64, false}, {NPG_OP_MEAN, NPG_FLOAT32, false},
                 {NPG_OP_PROD, NPG_FLOAT64, false}, {NPG_OP_MAX, NPG_FLOAT32, false}, {NPG_OP_MIN, NPG_FLOAT64, false},
                 {NPG_OP_ARGMAX, NPG_FLOAT64, false}, {NPG_OP_ARGMIN, NPG_INT32, false}, {NPG_OP_ALL, NPG_BOOL, false},
                 {NPG_OP_ANY, NPG_BOOL, false},     {NPG_OP_SUM, NPG_INT8, true},     {NPG_OP_SUM, NPG_UINT16, true},
                 {NPG_OP_SUM, NPG_INT16, false},    {NPG_OP_SUM, NPG_INT64, false},   {NPG_OP_PROD, NPG_INT32, true},
                 {NPG_OP_MAX, NPG_UINT8, false},    {NPG_OP_MIN, NPG_UINT64, false}};
    /* logical shapes, the kept axis first and (column-major) contiguous */
    static const int64_t s2a[] = {4500, 37}, s2b[] = {4000, 1001}, s3[] = {2100, 3, 7};
    static const struct {
        int nd;
        const int64_t *shape;
        bool flip; /* the last (reduced) axis runs backwards */
    } shapes[] = {{2, s2a, false}, {2, s2a, true}, {2, s2b, false}, {3, s3, false}};
    const int nth0 = npg__cpu_get_num_threads();
    for (int th = 1; th <= 4; th++) {
        npg__cpu_set_num_threads(th);
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
                if (th != 2 && s != 2) continue; /* threads matter to the split one */
                npg_dtype dt = cases[c].dt;
                npg_op op = cases[c].op;
                tv in = tv_make(dt, shapes[s].nd, shapes[s].shape, L_TRANS);
                int dom = op == NPG_OP_PROD ? D_NEAR1 : op == NPG_OP_ARGMAX || op == NPG_OP_ARGMIN ? D_SMALLINT
                          : isflt(dt) && (op == NPG_OP_MAX || op == NPG_OP_MIN) ? D_SPECIAL /* NaNs */
                                                                               : D_ANY;
                if (!isflt(dt) && dt != NPG_BOOL && op != NPG_OP_ARGMIN) dom = D_EDGE;
                tv_fill(&in, dom);
                if (op == NPG_OP_PROD && !isflt(dt)) /* odd values: the product never becomes 0 */
                    for (int64_t i = 0; i < in.nalloc; i++) wri(dt, in.mem, i, ri(dt, in.mem, i) | 1);
                if (op == NPG_OP_ALL) /* mostly true */
                    for (int64_t i = 0; i < in.nalloc; i++) ((uint8_t *)in.mem)[i] = rnd64() % 500 != 0;
                if (op == NPG_OP_ANY)
                    for (int64_t i = 0; i < in.nalloc; i++) ((uint8_t *)in.mem)[i] = rnd64() % 500 == 0;
                if (shapes[s].flip) {
                    int last = shapes[s].nd - 1;
                    in.d.data = (char *)in.mem + (shapes[s].shape[last] - 1) * in.d.strides[last] * (int64_t)esz(dt);
                    in.d.strides[last] = -in.d.strides[last];
                }
                int nred = shapes[s].nd - 1;
                if (cases[c].wide) check_reduce_w(op, &in.d, nred, 0, true);
                else check_reduce(op, &in.d, nred, dt == NPG_FLOAT32 ? 2e-6 : 1e-10);
                tv_free(&in);
            }
        }
    }
    npg__cpu_set_num_threads(nth0);
}

Test(cpu_reduce, float32_sum_is_accurate) {
    /* 2^22 values of 0.1: a float32 accumulator drifts by ~1e-3 relative */
    int64_t n = 1 << 22;
    tv in = tv_make(NPG_FLOAT32, 1, &n, L_CONTIG);
    for (int64_t i = 0; i < n; i++) ((float *)in.mem)[i] = 0.1f + (float)(i % 3) * 1e-3f;
    double want = 0;
    for (int64_t i = 0; i < n; i++) want += ((float *)in.mem)[i];
    float got = 0, mean = 0;
    npg_tdesc o = {.data = &got, .dtype = NPG_FLOAT32}, om = {.data = &mean, .dtype = NPG_FLOAT32};
    cr_assert_eq(B->reduce(0, NPG_OP_SUM, &o, &in.d, 1), NPG_OK);
    cr_assert(fabs(got - want) <= 1e-6 * want, "sum %.9g want %.9g", got, want);
    cr_assert_eq(B->reduce(0, NPG_OP_MEAN, &om, &in.d, 1), NPG_OK);
    cr_assert(fabs(mean - want / (double)n) <= 1e-6 * want / (double)n);
    /* the same through the column driver: (n/64, 64) summed over axis 0 */
    npg_tdesc col = {.data = in.mem, .dtype = NPG_FLOAT32, .ndim = 2, .shape = {64, n / 64}, .strides = {1, 64}};
    float outc[64];
    npg_tdesc oc = {.data = outc, .dtype = NPG_FLOAT32, .ndim = 1, .shape = {64}, .strides = {1}};
    cr_assert_eq(B->reduce(0, NPG_OP_SUM, &oc, &col, 1), NPG_OK);
    for (int k = 0; k < 64; k++) {
        double w = 0;
        for (int64_t r = 0; r < n / 64; r++) w += ((float *)in.mem)[r * 64 + k];
        cr_assert(fabs(outc[k] - w) <= 1e-6 * w, "col %d: %.9g want %.9g", k, outc[k], w);
    }
    tv_free(&in);
}

Test(cpu_reduce, nan_empty_and_first_occurrence) {
    /* MAX/MIN propagate NaN; ARGMAX/ARGMIN return the first NaN, else the first extreme */
    float x[2][6] = {{1, 5, NAN, 5, NAN, -2}, {3, 7, 7, -1, -1, 2}};
    float mx[2], mn[2];
    int64_t am[2], an[2];
    npg_tdesc in = {.data = x, .dtype = NPG_FLOAT32, .ndim = 2, .shape = {2, 6}, .strides = {6, 1}};
    npg_tdesc o = {.data = mx, .dtype = NPG_FLOAT32, .ndim = 1, .shape = {2}, .strides = {1}};
    cr_assert_eq(B->reduce(0, NPG_OP_MAX, &o, &in, 1), NPG_OK);
    cr_assert(isnan(mx[0]));
    cr_assert_eq(mx[1], 7);
    o.data = mn;
    cr_assert_eq(B->reduce(0, NPG_OP_MIN, &o, &in, 1), NPG_OK);
    cr_assert(isnan(mn[0]));
    cr_assert_eq(mn[1], -1);
    npg_tdesc oi = {.data = am, .dtype = NPG_INT64, .ndim = 1, .shape = {2}, .strides = {1}};
    cr_assert_eq(B->reduce(0, NPG_OP_ARGMAX, &oi, &in, 1), NPG_OK);
    cr_assert_eq(am[0], 2);
    cr_assert_eq(am[1], 1);
    oi.data = an;
    cr_assert_eq(B->reduce(0, NPG_OP_ARGMIN, &oi, &in, 1), NPG_OK);
    cr_assert_eq(an[0], 2);
    cr_assert_eq(an[1], 3);
    /* first occurrence also when the block is split across threads: a 1 x 100000 row of
     * equal values with two maxima and two NaN-free minima */
    int64_t n = 100000;
    tv big = tv_make(NPG_FLOAT64, 1, &n, L_CONTIG);
    for (int64_t i = 0; i < n; i++) ((double *)big.mem)[i] = 1.0;
    ((double *)big.mem)[70001] = ((double *)big.mem)[99999] = 9;
    ((double *)big.mem)[50000] = ((double *)big.mem)[60000] = -9;
    int64_t r;
    npg_tdesc o0 = {.data = &r, .dtype = NPG_INT64};
    cr_assert_eq(B->reduce(0, NPG_OP_ARGMAX, &o0, &big.d, 1), NPG_OK);
    cr_assert_eq(r, 70001);
    cr_assert_eq(B->reduce(0, NPG_OP_ARGMIN, &o0, &big.d, 1), NPG_OK);
    cr_assert_eq(r, 50000);
    ((double *)big.mem)[80000] = NAN;
    ((double *)big.mem)[90000] = NAN;
    cr_assert_eq(B->reduce(0, NPG_OP_ARGMIN, &o0, &big.d, 1), NPG_OK);
    cr_assert_eq(r, 80000);
    tv_free(&big);
    /* a flat index over two reduced axes: (2, 3, 4) -> argmax over the last two */
    int32_t y[24];
    for (int i = 0; i < 24; i++) y[i] = i % 12 == 7 || i % 12 == 10 ? 50 : i;
    npg_tdesc iy = {.data = y, .dtype = NPG_INT32, .ndim = 3, .shape = {2, 3, 4}, .strides = {12, 4, 1}};
    cr_assert_eq(B->reduce(0, NPG_OP_ARGMAX, &oi, &iy, 2), NPG_OK);
    cr_assert_eq(an[0], 7);
    cr_assert_eq(an[1], 7);
    /* empty reductions give the identities */
    double e[3];
    uint8_t eb[3];
    npg_tdesc ein = {.data = e, .dtype = NPG_FLOAT64, .ndim = 2, .shape = {3, 0}, .strides = {0, 1}};
    npg_tdesc eo = {.data = e, .dtype = NPG_FLOAT64, .ndim = 1, .shape = {3}, .strides = {1}};
    cr_assert_eq(B->reduce(0, NPG_OP_SUM, &eo, &ein, 1), NPG_OK);
    cr_assert(e[0] == 0 && e[2] == 0);
    cr_assert_eq(B->reduce(0, NPG_OP_PROD, &eo, &ein, 1), NPG_OK);
    cr_assert(e[0] == 1 && e[2] == 1);
    cr_assert_eq(B->reduce(0, NPG_OP_MEAN, &eo, &ein, 1), NPG_OK);
    cr_assert(isnan(e[0]) && isnan(e[2]));
    npg_tdesc ebin = {.data = eb, .dtype = NPG_BOOL, .ndim = 2, .shape = {3, 0}, .strides = {0, 1}};
    npg_tdesc ebo = {.data = eb, .dtype = NPG_BOOL, .ndim = 1, .shape = {3}, .strides = {1}};
    cr_assert_eq(B->reduce(0, NPG_OP_ALL, &ebo, &ebin, 1), NPG_OK);
    cr_assert(eb[0] == 1 && eb[2] == 1);
    cr_assert_eq(B->reduce(0, NPG_OP_ANY, &ebo, &ebin, 1), NPG_OK);
    cr_assert(eb[0] == 0 && eb[2] == 0);
    int64_t ie[3] = {5, 5, 5};
    npg_tdesc iein = {.data = ie, .dtype = NPG_INT64, .ndim = 2, .shape = {3, 0}, .strides = {0, 1}};
    npg_tdesc ieo = {.data = ie, .dtype = NPG_INT64, .ndim = 1, .shape = {3}, .strides = {1}};
    cr_assert_eq(B->reduce(0, NPG_OP_PROD, &ieo, &iein, 1), NPG_OK);
    cr_assert(ie[0] == 1 && ie[2] == 1);
    /* int64 sums wrap */
    int64_t w[2] = {INT64_MAX, 2}, ws;
    npg_tdesc win = {.data = w, .dtype = NPG_INT64, .ndim = 1, .shape = {2}, .strides = {1}};
    npg_tdesc wo = {.data = &ws, .dtype = NPG_INT64};
    cr_assert_eq(B->reduce(0, NPG_OP_SUM, &wo, &win, 1), NPG_OK);
    cr_assert_eq(ws, INT64_MIN + 1);
}

/* ---- scans ------------------------------------------------------------------------ */

Test(cpu_scan, every_dtype_axis_and_layout) {
    static const npg_op ops[] = {NPG_OP_CUMSUM, NPG_OP_CUMPROD};
    for (int q = 0; q < 2; q++) {
        for (int t = 0; t < N_DT; t++) {
            npg_dtype dt = ALL_DT[t];
            if (dt == NPG_BOOL) { /* bool: only into int64 (wide_int_sum, below) */
                tv in = tv_make(dt, 3, S573, L_CONTIG);
                tv o = out_make(dt, 3, S573);
                expect_unsupported(B->scan(0, ops[q], &o.d, &in.d, 0), ops[q], dt);
                tv_free(&in);
                tv_free(&o);
            }
            /* w = 1: the wide_int_sum form, bool or a narrow integer into int64 */
            for (int w = dt == NPG_BOOL; w < 1 + (dt == NPG_BOOL || has_wide(NPG_OP_SUM, dt)); w++)
            for (int layout = 0; layout < L_COUNT; layout++) {
                tv in = tv_make(dt, 3, S573, layout);
                tv_fill(&in, q ? (isflt(dt) ? D_NEAR1 : D_SMALLINT) : D_ANY);
                for (int axis = 0; axis < 3; axis++) {
                    tv o = out_make(w ? NPG_INT64 : dt, 3, S573);
                    cr_assert_eq(B->scan(0, ops[q], &o.d, &in.d, axis), NPG_OK);
                    int64_t st = axis == 0 ? 21 : axis == 1 ? 3 : 1, len = S573[axis];
                    for (int64_t f = 0; f < 105; f++) {
                        int64_t pos = f / st % len; /* coordinate along the axis */
                        double acc = q ? 1 : 0;
                        uint64_t iacc = q ? 1 : 0;
                        for (int64_t j = 0; j <= pos; j++) {
                            int64_t g = f - (pos - j) * st;
                            acc = q ? acc * get(&in.d, g) : acc + get(&in.d, g);
                            iacc = q ? iacc * (uint64_t)geti(&in.d, g) : iacc + (uint64_t)geti(&in.d, g);
                        }
                        if (isflt(dt))
                            cr_assert(close_to(get(&o.d, f), dt == NPG_FLOAT32 ? (double)(float)acc : acc, 1e-6, 1e-6),
                                      "%s %s axis %d", npg__op_name(ops[q]), npg_dtype_name(dt), axis);
                        else
                            cr_assert_eq(geti(&o.d, f), w ? (int64_t)iacc : wrap(dt, (int64_t)iacc),
                                         "%s %s%s axis %d layout %d", npg__op_name(ops[q]), npg_dtype_name(dt),
                                         w ? " (into int64)" : "", axis, layout);
                    }
                    tv_free(&o);
                }
                tv_free(&in);
            }
        }
    }
    /* a long float32 cumsum is accumulated in double */
    int64_t n = 1 << 20;
    tv in = tv_make(NPG_FLOAT32, 1, &n, L_CONTIG);
    for (int64_t i = 0; i < n; i++) ((float *)in.mem)[i] = 0.1f;
    tv o = out_make(NPG_FLOAT32, 1, &n);
    cr_assert_eq(B->scan(0, NPG_OP_CUMSUM, &o.d, &in.d, 0), NPG_OK);
    cr_assert(fabs(((float *)o.mem)[n - 1] - (double)n * (double)0.1f) <= 1e-6 * n * 0.1);
    tv_free(&in);
    tv_free(&o);
}

/* ---- gather / scatter_add ------------------------------------------------------------ */

/* idx of `shape` with values in [-n, n) (negatives wrap); layout and an optional broadcast dim. */
static tv make_idx(int nd, const int64_t *shape, int64_t n, int layout, int bdim) {
    tv x;
    if (bdim >= 0) {
        int64_t sh[NPG_MAX_DIMS] = {0};
        memcpy(sh, shape, sizeof(int64_t) * (size_t)nd);
        sh[bdim] = 1;
        x = tv_make(NPG_INT64, nd, sh, L_CONTIG);
        x.d.shape[bdim] = shape[bdim];
        x.d.strides[bdim] = 0;
    } else {
        x = tv_make(NPG_INT64, nd, shape, layout);
    }
    for (int64_t i = 0; i < x.nalloc; i++) ((int64_t *)x.mem)[i] = rndi(-n, n - 1);
    return x;
}

/* Coordinates of flat f in shape, with coordinate `axis` replaced by v: flat index in `to`. */
static int64_t with_axis(int nd, const int64_t *shape, int64_t f, int axis, int64_t v, const npg_tdesc *to) {
    int64_t c[NPG_MAX_DIMS];
    for (int i = nd - 1; i >= 0; i--) {
        c[i] = f % shape[i];
        f /= shape[i];
    }
    c[axis] = v;
    int64_t g = 0;
    for (int i = 0; i < nd; i++) g = g * to->shape[i] + c[i];
    return g;
}

Test(cpu_gather, every_dtype_axis_and_layout) {
    for (int t = 0; t < N_DT; t++) {
        npg_dtype dt = ALL_DT[t];
        for (int axis = 0; axis < 3; axis++) {
            for (int layout = 0; layout < L_COUNT; layout++) {
                tv in = tv_make(dt, 3, S573, layout);
                tv_fill(&in, D_ANY);
                int64_t osh[3] = {5, 7, 3};
                osh[axis] = 4 + axis; /* the index may be shorter or longer along the axis */
                int bdim = layout == 3 ? (axis + 1) % 3 : -1;
                tv idx = make_idx(3, osh, S573[axis], layout % 2 ? L_TRANS : L_CONTIG, bdim);
                tv o = out_make(dt, 3, osh);
                cr_assert_eq(B->gather(0, &o.d, &in.d, &idx.d, axis), NPG_OK);
                for (int64_t f = 0; f < numel(3, osh); f++) {
                    int64_t v = geti(&idx.d, f);
                    if (v < 0) v += S573[axis];
                    int64_t g = with_axis(3, osh, f, axis, v, &in.d);
                    if (isflt(dt)) cr_assert_eq(get(&o.d, f), get(&in.d, g));
                    else cr_assert_eq(geti(&o.d, f), geti(&in.d, g));
                }
                tv_free(&in);
                tv_free(&idx);
                tv_free(&o);
            }
        }
    }
}

Test(cpu_gather, index_errors_and_large) {
    tv in = tv_make(NPG_FLOAT32, 3, S573, L_CONTIG);
    tv_fill(&in, D_ANY);
    int64_t osh[3] = {5, 2, 3};
    int64_t iv[30] = {0};
    iv[17] = 7; /* out of bounds (size 7) */
    iv[25] = -9;
    npg_tdesc idx = {.data = iv, .dtype = NPG_INT64, .ndim = 3, .shape = {5, 2, 3}, .strides = {6, 3, 1}};
    tv o = out_make(NPG_FLOAT32, 3, osh);
    npg_clear_error();
    cr_assert_eq(B->gather(0, &o.d, &in.d, &idx, 1), NPG_ERR_INDEX);
    cr_assert_eq(npg_last_status(), NPG_ERR_INDEX);
    cr_assert_str_eq(npg_last_error(), "take_along_axis: index 7 is out of bounds for axis 1 with size 7");
    iv[17] = -7; /* the lowest valid index; the first bad one is now -9 */
    cr_assert_eq(B->gather(0, &o.d, &in.d, &idx, 1), NPG_ERR_INDEX);
    cr_assert_str_eq(npg_last_error(), "take_along_axis: index -9 is out of bounds for axis 1 with size 7");
    iv[25] = 6;
    cr_assert_eq(B->gather(0, &o.d, &in.d, &idx, 1), NPG_OK);
    cr_assert_eq(get(&o.d, 17), get(&in.d, with_axis(3, osh, 17, 1, 0, &in.d)));
    /* wrong index dtype */
    idx.dtype = NPG_INT32;
    expect_unsupported(B->gather(0, &o.d, &in.d, &idx, 1), NPG_OP_GATHER, NPG_INT32);
    tv_free(&in);
    tv_free(&o);
    /* an embedding lookup: rows of a (1000, 64) table, idx (4000, 64) broadcast along dim 1 */
    int64_t tsh[2] = {1000, 64}, ish[2] = {4000, 64};
    tv table = tv_make(NPG_FLOAT64, 2, tsh, L_CONTIG);
    tv_fill(&table, D_ANY);
    tv ix = make_idx(2, ish, 1000, L_CONTIG, 1);
    tv out = out_make(NPG_FLOAT64, 2, ish);
    cr_assert_eq(B->gather(0, &out.d, &table.d, &ix.d, 0), NPG_OK);
    for (int64_t f = 0; f < 4000 * 64; f++) {
        int64_t v = geti(&ix.d, f);
        cr_assert_eq(get(&out.d, f), get(&table.d, (v < 0 ? v + 1000 : v) * 64 + f % 64));
    }
    tv_free(&table);
    tv_free(&ix);
    tv_free(&out);
}

static void check_scatter(npg_dtype dt, int axis, int layout, int64_t n_axis, int nd, const int64_t *shape) {
    /* accumulator: shape with n_axis along axis; src and idx: shape */
    int64_t ash[NPG_MAX_DIMS] = {0};
    memcpy(ash, shape, sizeof(int64_t) * (size_t)nd);
    ash[axis] = n_axis;
    tv acc = tv_make(dt, nd, ash, layout);
    tv_fill(&acc, D_SMALLINT);
    tv src = tv_make(dt, nd, shape, (layout + 1) % L_COUNT);
    tv_fill(&src, isflt(dt) ? D_SMALLINT : D_ANY); /* integers: full range, the sums wrap */
    tv idx = make_idx(nd, shape, n_axis, layout % 2 ? L_TRANS : L_CONTIG, layout == 2 ? (axis + 1) % nd : -1);
    /* the reference: the accumulator's values, then every src element added in row-major order */
    int64_t na = numel(nd, ash), ns = numel(nd, shape);
    double *want = malloc(sizeof(double) * (size_t)na);
    int64_t *iwant = malloc(sizeof(int64_t) * (size_t)na);
    for (int64_t g = 0; g < na; g++) want[g] = get(&acc.d, g), iwant[g] = geti(&acc.d, g);
    for (int64_t f = 0; f < ns; f++) {
        int64_t v = geti(&idx.d, f);
        int64_t g = with_axis(nd, shape, f, axis, v < 0 ? v + n_axis : v, &acc.d);
        want[g] += get(&src.d, f);
        if (!isflt(dt)) iwant[g] = wrap(dt, (int64_t)((uint64_t)iwant[g] + (uint64_t)geti(&src.d, f)));
    }
    cr_assert_eq(B->scatter_add(0, &acc.d, &src.d, &idx.d, axis), NPG_OK);
    for (int64_t g = 0; g < na; g++) {
        if (isflt(dt)) cr_assert(close_to(get(&acc.d, g), want[g], 1e-6, 1e-5), "%s axis %d", npg_dtype_name(dt), axis);
        else cr_assert_eq(geti(&acc.d, g), iwant[g], "%s axis %d", npg_dtype_name(dt), axis);
    }
    free(want);
    free(iwant);
    tv_free(&acc);
    tv_free(&src);
    tv_free(&idx);
}

Test(cpu_scatter_add, every_dtype_axis_and_layout) {
    for (int t = 0; t < N_DT; t++) {
        npg_dtype dt = ALL_DT[t];
        if (dt == NPG_BOOL) {
            tv acc = tv_make(dt, 3, S573, L_CONTIG), src = tv_make(dt, 3, S573, L_CONTIG);
            tv idx = make_idx(3, S573, 5, L_CONTIG, -1);
            expect_unsupported(B->scatter_add(0, &acc.d, &src.d, &idx.d, 0), NPG_OP_SCATTER_ADD, dt);
            tv_free(&acc);
            tv_free(&src);
            tv_free(&idx);
            continue;
        }
        for (int axis = 0; axis < 3; axis++)
            for (int layout = 0; layout < L_COUNT; layout++) check_scatter(dt, axis, layout, 2 + axis * 3, 3, S573);
    }
    /* the embedding gradient: (4000, 64) rows into a (300, 64) table, many duplicates (threaded) */
    int64_t sh[2] = {4000, 64};
    check_scatter(NPG_FLOAT32, 0, L_CONTIG, 300, 2, sh);
    check_scatter(NPG_INT64, 1, L_TRANS, 10, 2, sh);
    check_scatter(NPG_UINT64, 0, L_CONTIG, 300, 2, sh);
    check_scatter(NPG_INT8, 0, L_FLIP, 300, 2, sh);
}

Test(cpu_scatter_add, bad_index_leaves_accumulator_unchanged) {
    int64_t n = 1 << 16;
    tv acc = tv_make(NPG_FLOAT32, 1, &n, L_CONTIG), src = tv_make(NPG_FLOAT32, 1, &n, L_CONTIG);
    tv_fill(&acc, D_ANY);
    tv_fill(&src, D_ANY);
    tv idx = make_idx(1, &n, n, L_CONTIG, -1);
    ((int64_t *)idx.mem)[n - 1] = n; /* the very last index is bad */
    void *before = malloc((size_t)n * 4);
    memcpy(before, acc.mem, (size_t)n * 4);
    npg_clear_error();
    cr_assert_eq(B->scatter_add(0, &acc.d, &src.d, &idx.d, 0), NPG_ERR_INDEX);
    char want[128];
    snprintf(want, sizeof want, "take_along_axis: index %lld is out of bounds for axis 0 with size %lld", (long long)n,
             (long long)n);
    cr_assert_str_eq(npg_last_error(), want);
    cr_assert(memcmp(before, acc.mem, (size_t)n * 4) == 0, "the accumulator changed");
    free(before);
    tv_free(&acc);
    tv_free(&src);
    tv_free(&idx);
}

/* ---- nonzero ------------------------------------------------------------------------ */

Test(cpu_nonzero, every_dtype_and_large) {
    for (int t = 0; t < N_DT + 2; t++) { /* then bool and uint64 large */
        npg_dtype dt = t < N_DT ? ALL_DT[t] : t == N_DT ? NPG_BOOL : NPG_UINT64;
        int64_t big[1] = {200003};
        int nd = t < N_DT ? 3 : 1;
        const int64_t *shape = t < N_DT ? S573 : big;
        tv in = tv_make(dt, nd, shape, L_CONTIG);
        tv_fill(&in, D_ZEROS);
        int64_t n = numel(nd, shape), count = 0;
        for (int64_t f = 0; f < n; f++) count += isflt(dt) ? get(&in.d, f) != 0 : geti(&in.d, f) != 0;
        cr_assert_gt(count, 0);
        cr_assert_lt(count, n);
        int64_t osh[2] = {nd, count};
        tv o = out_make(NPG_INT64, 2, osh);
        cr_assert_eq(B->nonzero(0, &o.d, &in.d), NPG_OK);
        int64_t c = 0;
        for (int64_t f = 0; f < n; f++) {
            if (isflt(dt) ? get(&in.d, f) == 0 : geti(&in.d, f) == 0) continue;
            int64_t rem = f;
            for (int d = nd - 1; d >= 0; d--) {
                cr_assert_eq(((int64_t *)o.mem)[d * count + c], rem % shape[d], "%s element %lld", npg_dtype_name(dt),
                             (long long)f);
                rem /= shape[d];
            }
            c++;
        }
        tv_free(&in);
        tv_free(&o);
    }
}

/* ---- sort --------------------------------------------------------------------------- */

/* a goes strictly before b in the requested order (NaN last ascending, first descending). */
static bool before(double a, double b, bool desc) {
    if (desc) return (isnan(a) && !isnan(b)) || a > b;
    return (!isnan(a) && isnan(b)) || a < b;
}
/* element f of d goes strictly before element g of e: doubles for floats,
 * canonical integers (uint64 unsigned) otherwise */
static bool before_at(const npg_tdesc *d, int64_t f, const npg_tdesc *e, int64_t g, bool desc) {
    if (isflt(d->dtype)) return before(get(d, f), get(e, g), desc);
    int64_t a = geti(d, f), b = geti(e, g);
    return desc ? ilt(d->dtype, b, a) : ilt(d->dtype, a, b);
}

static void check_sort(npg_dtype dt, int nd, const int64_t *shape, int layout, int dom, bool desc, int want) {
    tv in = tv_make(dt, nd, shape, layout);
    tv_fill(&in, dom);
    if (isflt(dt)) /* sprinkle NaNs and signed zeros */
        for (int64_t i = 0; i < in.nalloc; i += 7) wr(dt, in.mem, i, i % 3 ? NAN : (i % 2 ? -0.0 : 0.0));
    tv v = out_make(dt, nd, shape), ix = out_make(NPG_INT64, nd, shape);
    cr_assert_eq(B->sort(0, want & 1 ? &v.d : NULL, want & 2 ? &ix.d : NULL, &in.d, desc), NPG_OK);
    int64_t n = shape[nd - 1], rows = numel(nd, shape) / n;
    bool *seen = calloc((size_t)n, 1);
    for (int64_t r = 0; r < rows; r++) {
        memset(seen, 0, (size_t)n);
        for (int64_t i = 0; i < n; i++) {
            int64_t f = r * n + i, src = -1;
            if (want & 2) { /* a permutation, consistent with the values, stable */
                int64_t j = ((int64_t *)ix.mem)[f];
                cr_assert(j >= 0 && j < n && !seen[j]);
                seen[j] = true;
                src = r * n + j;
                if (i > 0) {
                    int64_t jp = ((int64_t *)ix.mem)[f - 1], prev = r * n + jp;
                    cr_assert(!before_at(&in.d, src, &in.d, prev, desc), "%s row %lld not sorted at %lld",
                              npg_dtype_name(dt), (long long)r, (long long)i);
                    if (!before_at(&in.d, prev, &in.d, src, desc))
                        cr_assert_lt(jp, j, "equal keys out of order (stability)");
                }
            }
            if (want & 1) {
                if (want & 2) {
                    if (isflt(dt)) {
                        double got = get(&v.d, f), val = get(&in.d, src);
                        cr_assert(isnan(val) ? isnan(got) : got == val && signbit(got) == signbit(val));
                    } else {
                        cr_assert_eq(geti(&v.d, f), geti(&in.d, src), "%s values and indices disagree",
                                     npg_dtype_name(dt));
                    }
                }
                if (i > 0) cr_assert(!before_at(&v.d, f, &v.d, f - 1, desc), "%s values not sorted", npg_dtype_name(dt));
            }
        }
    }
    if (want & 1 && !(want & 2)) { /* a values-only sort keeps the multiset */
        if (isflt(dt)) { /* compare sums of non-NaN values */
            double s_in = 0, s_out = 0;
            for (int64_t f = 0; f < rows * n; f++) {
                if (!isnan(get(&in.d, f))) s_in += get(&in.d, f);
                if (!isnan(get(&v.d, f))) s_out += get(&v.d, f);
            }
            cr_assert(close_to(s_out, s_in, 1e-9, 1e-9));
        } else { /* exact: sums of the values and of their squares, modulo 2^64 */
            uint64_t s_in = 0, s_out = 0, q_in = 0, q_out = 0;
            for (int64_t f = 0; f < rows * n; f++) {
                uint64_t a = (uint64_t)geti(&in.d, f), b = (uint64_t)geti(&v.d, f);
                s_in += a, q_in += a * a, s_out += b, q_out += b * b;
            }
            cr_assert(s_in == s_out && q_in == q_out, "%s: the values changed", npg_dtype_name(dt));
        }
    }
    free(seen);
    tv_free(&in);
    tv_free(&v);
    tv_free(&ix);
}

Test(cpu_sort, every_dtype_direction_and_length) {
    for (int t = 0; t < N_DT; t++) {
        for (int desc = 0; desc < 2; desc++) {
            npg_dtype dt = ALL_DT[t];
            if (!isflt(dt) && dt != NPG_BOOL) { /* the type's extremes (uint64: above 2^63), many ties */
                int64_t row2[2] = {4, 300};
                check_sort(dt, 2, row2, L_CONTIG, D_EDGE, desc, 3);
            }
            check_sort(dt, 3, S573, L_CONTIG, D_SMALLINT, desc, 3);
            check_sort(dt, 3, S573, L_STEP, D_SMALLINT, desc, 2);
            int64_t row[2] = {3, 1000}; /* merge passes, many ties */
            check_sort(dt, 2, row, L_CONTIG, D_SMALLINT, desc, 3);
            check_sort(dt, 2, row, L_FLIP, D_ANY, desc, 1);
            int64_t many[2] = {5000, 33}; /* many rows: threaded */
            check_sort(dt, 2, many, L_CONTIG, D_ANY, desc, 2);
        }
    }
    int64_t one[1] = {100000};
    check_sort(NPG_FLOAT32, 1, one, L_CONTIG, D_ANY, false, 3);
}

Test(cpu_sort, nan_placement_and_stability_by_hand) {
    double x[8] = {3, NAN, 1, 3, -0.0, NAN, 0.0, 1};
    double v[8];
    int64_t ix[8];
    npg_tdesc in = {.data = x, .dtype = NPG_FLOAT64, .ndim = 1, .shape = {8}, .strides = {1}};
    npg_tdesc dv = in, di = {.data = ix, .dtype = NPG_INT64, .ndim = 1, .shape = {8}, .strides = {1}};
    dv.data = v;
    cr_assert_eq(B->sort(0, &dv, &di, &in, false), NPG_OK);
    int64_t asc[8] = {4, 6, 2, 7, 0, 3, 1, 5};
    cr_assert_arr_eq(ix, asc, sizeof asc);
    cr_assert(isnan(v[6]) && isnan(v[7]) && v[0] == 0 && signbit(v[0]) && !signbit(v[1]));
    cr_assert_eq(B->sort(0, &dv, &di, &in, true), NPG_OK);
    int64_t desc[8] = {1, 5, 0, 3, 2, 7, 4, 6};
    cr_assert_arr_eq(ix, desc, sizeof desc);
    cr_assert(isnan(v[0]) && isnan(v[1]) && v[2] == 3);
    /* 0-d input is refused; bad output dtype is unsupported */
    npg_tdesc zero = {.data = x, .dtype = NPG_FLOAT64};
    cr_assert_neq(B->sort(0, &dv, NULL, &zero, false), NPG_OK);
    di.dtype = NPG_INT32;
    expect_unsupported(B->sort(0, NULL, &di, &in, false), NPG_OP_SORT, NPG_INT32);
    di.dtype = NPG_UINT64; /* indices are int64, not any 8-byte integer */
    expect_unsupported(B->sort(0, NULL, &di, &in, false), NPG_OP_SORT, NPG_UINT64);
    /* uint64 by hand: values above 2^63 sort after the small ones */
    uint64_t u[5] = {UINT64_MAX, 3, 1ull << 63, 0, 3}, uv[5];
    npg_tdesc du = {.data = u, .dtype = NPG_UINT64, .ndim = 1, .shape = {5}, .strides = {1}}, duv = du;
    duv.data = uv;
    di.dtype = NPG_INT64;
    di.shape[0] = 5;
    cr_assert_eq(B->sort(0, &duv, &di, &du, false), NPG_OK);
    const int64_t want_ix[5] = {3, 1, 4, 2, 0};
    cr_assert_arr_eq(ix, want_ix, sizeof want_ix);
    cr_assert(uv[0] == 0 && uv[1] == 3 && uv[3] == 1ull << 63 && uv[4] == UINT64_MAX);
    int8_t s8[4] = {127, -128, -1, 0}, v8[4];
    npg_tdesc d8 = {.data = s8, .dtype = NPG_INT8, .ndim = 1, .shape = {4}, .strides = {1}}, dv8 = d8;
    dv8.data = v8;
    cr_assert_eq(B->sort(0, &dv8, NULL, &d8, true), NPG_OK);
    cr_assert(v8[0] == 127 && v8[1] == 0 && v8[2] == -1 && v8[3] == -128);
}

/* ---- matmul ------------------------------------------------------------------------- */

/* a (batch..., M, K) in layout la, b (batch..., K, N) in layout lb; batch dims of b
 * optionally broadcast (stride 0). Layout codes: 0 row-major, 1 column-major
 * (transposed storage), 2 row-major with padded rows, 3 flipped (needs packing). */
static tv mm_operand(npg_dtype dt, int nb, const int64_t *batch, int64_t r, int64_t c, int lay, bool bcast) {
    int nd = nb + 2;
    int64_t sh[NPG_MAX_DIMS];
    for (int i = 0; i < nb; i++) sh[i] = bcast ? 1 : batch[i];
    sh[nb] = r;
    sh[nb + 1] = c;
    tv v;
    if (lay == 1) { /* each matrix column-major, batches row-major */
        v = tv_make(dt, nd, sh, L_CONTIG);
        v.d.strides[nb] = 1;
        v.d.strides[nb + 1] = r;
    } else if (lay == 2) {
        int64_t shp[NPG_MAX_DIMS];
        memcpy(shp, sh, sizeof shp);
        shp[nb + 1] = c + 3;
        v = tv_make(dt, nd, shp, L_CONTIG);
        v.d.shape[nb + 1] = c;
    } else {
        v = tv_make(dt, nd, sh, lay == 3 ? L_FLIP : L_CONTIG);
    }
    tv_fill(&v, isflt(dt) ? D_ANY : D_SMALLINT);
    if (dt == NPG_INT32) /* large values: products wrap */
        for (int64_t i = 0; i < v.nalloc; i += 5) ((int32_t *)v.mem)[i] = 123456789 + (int32_t)i;
    else if (!isflt(dt) && dt != NPG_BOOL) /* full-width values (uint64: above 2^63) */
        for (int64_t i = 0; i < v.nalloc; i += 5) wri(dt, v.mem, i, (int64_t)(0x9E3779B97F4A7C15ull + (uint64_t)i * 0x100000001ull));
    for (int i = 0; i < nb; i++) {
        v.d.shape[i] = batch[i];
        if (bcast) v.d.strides[i] = 0;
    }
    return v;
}

static void check_matmul(npg_dtype dt, int nb, const int64_t *batch, int64_t M, int64_t K, int64_t N, int la, int lb,
                         bool bcast_a, bool bcast_b) {
    tv a = mm_operand(dt, nb, batch, M, K, la, bcast_a), b = mm_operand(dt, nb, batch, K, N, lb, bcast_b);
    int64_t osh[NPG_MAX_DIMS] = {0};
    for (int i = 0; i < nb; i++) osh[i] = batch[i];
    osh[nb] = M;
    osh[nb + 1] = N;
    tv o = out_make(dt, nb + 2, osh);
    cr_assert_eq(B->matmul(0, &o.d, &a.d, &b.d, false), NPG_OK);
    int64_t nbat = numel(nb, batch);
    for (int64_t t = 0; t < nbat; t++) {
        for (int64_t i = 0; i < M; i++) {
            for (int64_t j = 0; j < N; j++) {
                double s = 0, sabs = 0;
                uint64_t us = 0;
                bool any = false;
                for (int64_t k = 0; k < K; k++) {
                    int64_t fa = (t * M + i) * K + k, fb = (t * K + k) * N + j;
                    s += get(&a.d, fa) * get(&b.d, fb);
                    sabs += fabs(get(&a.d, fa) * get(&b.d, fb));
                    us += (uint64_t)geti(&a.d, fa) * (uint64_t)geti(&b.d, fb);
                    any = any || (geti(&a.d, fa) && geti(&b.d, fb));
                }
                int64_t fo = (t * M + i) * N + j;
                if (isflt(dt))
                    cr_assert(fabs(get(&o.d, fo) - s) <= (dt == NPG_FLOAT32 ? 1e-5 : 1e-12) * (sabs + 1e-30),
                              "%s (%lld,%lld,%lld) la %d lb %d: %g want %g", npg_dtype_name(dt), (long long)M,
                              (long long)K, (long long)N, la, lb, get(&o.d, fo), s);
                else if (dt == NPG_BOOL)
                    cr_assert_eq(geti(&o.d, fo), any);
                else
                    cr_assert_eq(geti(&o.d, fo), wrap(dt, (int64_t)us), "%s", npg_dtype_name(dt));
            }
        }
    }
    tv_free(&a);
    tv_free(&b);
    tv_free(&o);
}

Test(cpu_matmul, float_layouts_batches_and_broadcast) {
    int64_t batch[2] = {2, 3};
    for (int t = 0; t < 2; t++) {
        npg_dtype dt = FLT_DT[t];
        for (int la = 0; la < 4; la++)
            for (int lb = 0; lb < 4; lb++) check_matmul(dt, 0, NULL, 5, 7, 3, la, lb, false, false);
        check_matmul(dt, 0, NULL, 1, 7, 1, 1, 2, false, false); /* vectors */
        check_matmul(dt, 0, NULL, 33, 17, 65, 1, 0, false, false);
        check_matmul(dt, 2, batch, 5, 7, 3, 0, 0, false, false);
        check_matmul(dt, 2, batch, 5, 7, 3, 0, 1, false, true); /* shared b: one tall GEMM */
        check_matmul(dt, 2, batch, 5, 7, 3, 2, 0, false, true); /* shared b, padded a rows */
        check_matmul(dt, 2, batch, 5, 7, 3, 1, 0, true, false); /* shared a */
        check_matmul(dt, 2, batch, 4, 6, 5, 3, 3, false, false);
        check_matmul(dt, 1, batch, 64, 48, 40, 0, 1, false, false); /* batched, parallel over batches */
    }
    /* K == 0 gives zeros */
    float o[6];
    memset(o, 0xFF, sizeof o);
    npg_tdesc a0 = {.data = o, .dtype = NPG_FLOAT32, .ndim = 2, .shape = {2, 0}, .strides = {1, 1}};
    npg_tdesc b0 = {.data = o, .dtype = NPG_FLOAT32, .ndim = 2, .shape = {0, 3}, .strides = {3, 1}};
    npg_tdesc oo = {.data = o, .dtype = NPG_FLOAT32, .ndim = 2, .shape = {2, 3}, .strides = {3, 1}};
    cr_assert_eq(B->matmul(0, &oo, &a0, &b0, false), NPG_OK);
    for (int i = 0; i < 6; i++) cr_assert_eq(o[i], 0.0f);
}

Test(cpu_matmul, integer_and_bool) {
    int64_t batch[1] = {3};
    for (int t = 0; t < N_DT; t++) { /* bool and every integer */
        npg_dtype dt = ALL_DT[t];
        if (isflt(dt)) continue;
        check_matmul(dt, 0, NULL, 5, 7, 3, 0, 0, false, false);
        check_matmul(dt, 0, NULL, 5, 7, 3, 1, 3, false, false);
        check_matmul(dt, 1, batch, 6, 4, 9, 2, 1, false, true);
        check_matmul(dt, 0, NULL, 70, 60, 50, 0, 0, false, false); /* threaded */
    }
    tv a = tv_make(NPG_FLOAT32, 2, S573, L_CONTIG), b = tv_make(NPG_FLOAT64, 2, S573 + 1, L_CONTIG);
    int64_t osh[2] = {5, 3};
    tv o = out_make(NPG_FLOAT32, 2, osh);
    expect_unsupported(B->matmul(0, &o.d, &a.d, &b.d, false), NPG_OP_MATMUL, NPG_FLOAT64);
    tv_free(&a);
    tv_free(&b);
    tv_free(&o);
    /* uint64 with int64: the same width, still a mismatch */
    tv ua = tv_make(NPG_UINT64, 2, S573, L_CONTIG), ub = tv_make(NPG_INT64, 2, S573 + 1, L_CONTIG);
    tv uo = out_make(NPG_UINT64, 2, osh);
    expect_unsupported(B->matmul(0, &uo.d, &ua.d, &ub.d, false), NPG_OP_MATMUL, NPG_INT64);
    tv_free(&ua);
    tv_free(&ub);
    tv_free(&uo);
    /* by hand: int8 and uint64 products wrap */
    int8_t a8[2] = {100, 100}, b8[2] = {3, 2}, o8;
    npg_tdesc da8 = {.data = a8, .dtype = NPG_INT8, .ndim = 2, .shape = {1, 2}, .strides = {2, 1}};
    npg_tdesc db8 = {.data = b8, .dtype = NPG_INT8, .ndim = 2, .shape = {2, 1}, .strides = {1, 1}};
    npg_tdesc do8 = {.data = &o8, .dtype = NPG_INT8, .ndim = 2, .shape = {1, 1}, .strides = {1, 1}};
    cr_assert_eq(B->matmul(0, &do8, &da8, &db8, false), NPG_OK);
    cr_assert_eq(o8, -12); /* 500 - 512 */
    uint64_t a64[2] = {1ull << 63, 3}, b64[2] = {3, UINT64_MAX}, o64;
    npg_tdesc da64 = da8, db64 = db8, do64 = do8;
    da64.data = a64, da64.dtype = NPG_UINT64;
    db64.data = b64, db64.dtype = NPG_UINT64;
    do64.data = &o64, do64.dtype = NPG_UINT64;
    cr_assert_eq(B->matmul(0, &do64, &da64, &db64, false), NPG_OK);
    cr_assert_eq(o64, (1ull << 63) - 3); /* 3 * 2^63 + 3 * (2^64 - 1) */
}

/* ---- random ------------------------------------------------------------------------- */

Test(cpu_random, philox_known_answers) {
    /* Random123's kat_vectors for philox4x32_10 */
    uint32_t out[4];
    uint32_t c0[4] = {0, 0, 0, 0}, k0[2] = {0, 0};
    npg__philox4x32_10(c0, k0, out);
    uint32_t w0[4] = {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8};
    cr_assert_arr_eq(out, w0, sizeof w0);
    uint32_t c1[4] = {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, k1[2] = {0xffffffff, 0xffffffff};
    npg__philox4x32_10(c1, k1, out);
    uint32_t w1[4] = {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd};
    cr_assert_arr_eq(out, w1, sizeof w1);
    uint32_t c2[4] = {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, k2[2] = {0xa4093822, 0x299f31d0};
    npg__philox4x32_10(c2, k2, out);
    uint32_t w2[4] = {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1};
    cr_assert_arr_eq(out, w2, sizeof w2);
}

static void draw(npg_op op, npg_dtype dt, int64_t n, uint64_t seed, uint64_t offset, npg_kparams p, void *buf) {
    npg_tdesc d = {.data = buf, .dtype = dt, .ndim = 1, .shape = {n}, .strides = {1}};
    cr_assert_eq(B->random(0, op, &d, seed, offset, &p), NPG_OK);
}

Test(cpu_random, word_to_value_mapping) {
    const uint64_t seed = 0x123456789abcdefull, off = (7ull << 32) | 3;
    const int64_t n = 40001; /* odd: the last Philox block is partial; large: threaded */
    float *f = malloc((size_t)n * 4), *g = malloc((size_t)n * 4);
    double *d = malloc((size_t)n * 8);
    int64_t *l = malloc((size_t)n * 8);
    int32_t *i32 = malloc((size_t)n * 4);
    uint8_t *u8 = malloc((size_t)n);
    npg_kparams pu = {{-2.0, 3.0}, {0}}, pn = {{1.5, 0.25}, {0}}, pi = {{0}, {-1000, 123456789012ll}};
    npg_kparams pi32 = {{0}, {-5, 17}}, pu8 = {{0}, {3, 250}};
    draw(NPG_OP_RAND_UNIFORM, NPG_FLOAT32, n, seed, off, pu, f);
    draw(NPG_OP_RAND_NORMAL, NPG_FLOAT32, n, seed, off, pn, g);
    static const int64_t probe[] = {0, 1, 2, 3, 4, 5, 6, 7, 1001, 20000, 39999, 40000};
    for (size_t q = 0; q < sizeof probe / sizeof probe[0]; q++) {
        int64_t i = probe[q];
        uint32_t w[4];
        /* uniform float32: block i/4, word i%4, top 24 bits */
        npg__philox_block(seed, off, (uint64_t)i / 4, w);
        float u = (float)(w[i % 4] >> 8) * 0x1p-24f;
        float want = -2.0f + (float)(3.0f - -2.0f) * u;
        cr_assert_eq(f[i], want, "uniform[%lld] = %.9g want %.9g", (long long)i, f[i], want);
        /* normal float32: pair (i/2)%2 of block i/4, cos for even i, sin for odd */
        int p = (int)(i / 2 % 2);
        float u1 = (float)(w[2 * p] >> 8) * 0x1p-24f, u2 = (float)(w[2 * p + 1] >> 8) * 0x1p-24f;
        float r = sqrtf(-2.0f * logf(1.0f - u1)), th = 6.28318530717958647692f * u2;
        float z = r * (i % 2 ? sinf(th) : cosf(th));
        float wn = 1.5f + 0.25f * z;
        cr_assert_eq(g[i], wn, "normal[%lld] = %.9g want %.9g", (long long)i, g[i], wn);
    }
    draw(NPG_OP_RAND_UNIFORM, NPG_FLOAT64, n, seed, off, pu, d);
    for (size_t q = 0; q < sizeof probe / sizeof probe[0]; q++) {
        int64_t i = probe[q];
        uint32_t w[4];
        npg__philox_block(seed, off, (uint64_t)i / 2, w);
        uint64_t x = ((uint64_t)w[2 * (i % 2)] << 32 | w[2 * (i % 2) + 1]) >> 11;
        cr_assert_eq(d[i], -2.0 + 5.0 * ((double)x * 0x1p-53));
    }
    draw(NPG_OP_RAND_NORMAL, NPG_FLOAT64, n, seed, off, pn, d);
    for (size_t q = 0; q < sizeof probe / sizeof probe[0]; q++) {
        int64_t i = probe[q];
        uint32_t w[4];
        npg__philox_block(seed, off, (uint64_t)i / 2, w);
        double u1 = (double)(((uint64_t)w[0] << 32 | w[1]) >> 11) * 0x1p-53;
        double u2 = (double)(((uint64_t)w[2] << 32 | w[3]) >> 11) * 0x1p-53;
        double r = sqrt(-2.0 * log(1.0 - u1)), th = 6.28318530717958647692 * u2;
        cr_assert_eq(d[i], 1.5 + 0.25 * (r * (i % 2 ? sin(th) : cos(th))));
    }
    draw(NPG_OP_RAND_INT, NPG_INT64, n, seed, off, pi, l);
    draw(NPG_OP_RAND_INT, NPG_INT32, n, seed, off, pi32, i32);
    draw(NPG_OP_RAND_INT, NPG_UINT8, n, seed, off, pu8, u8);
    for (size_t q = 0; q < sizeof probe / sizeof probe[0]; q++) {
        int64_t i = probe[q];
        uint32_t w[4];
        npg__philox_block(seed, off, (uint64_t)i / 2, w);
        unsigned __int128 x = (unsigned __int128)((uint64_t)w[2 * (i % 2)] << 32 | w[2 * (i % 2) + 1]);
        cr_assert_eq(l[i], -1000 + (int64_t)((x * (unsigned __int128)(123456789012ll + 1000)) >> 64));
        cr_assert_eq(i32[i], -5 + (int64_t)((x * 22u) >> 64));
        cr_assert_eq(u8[i], 3 + (int64_t)((x * 247u) >> 64));
    }
    /* the new integer types: the int64 draw, narrowed by wrapping (ranges wider
     * than the type included: common checks ranges, the kernel just wraps) */
    static const int64_t rlo[5] = {-1000, -30000, 0, 7, INT64_MIN}, rhi[5] = {1000, 30001, 65536, 4294967296ll, INT64_MAX};
    void *nb = malloc((size_t)n * 8);
    for (int k = 0; k < 5; k++) {
        npg_dtype dt = NEW_INT_DT[k];
        npg_kparams pk = {{0}, {rlo[k], rhi[k]}};
        draw(NPG_OP_RAND_INT, dt, n, seed, off, pk, nb);
        for (size_t q = 0; q < sizeof probe / sizeof probe[0]; q++) {
            int64_t i = probe[q];
            uint32_t w[4];
            npg__philox_block(seed, off, (uint64_t)i / 2, w);
            unsigned __int128 x = (unsigned __int128)((uint64_t)w[2 * (i % 2)] << 32 | w[2 * (i % 2) + 1]);
            uint64_t range = (uint64_t)rhi[k] - (uint64_t)rlo[k];
            int64_t v = (int64_t)((uint64_t)rlo[k] + (uint64_t)((x * range) >> 64));
            cr_assert_eq(ri(dt, nb, i), wrap(dt, v), "randint %s [%lld]", npg_dtype_name(dt), (long long)i);
        }
    }
    free(nb);
    free(f);
    free(g);
    free(d);
    free(l);
    free(i32);
    free(u8);
}

Test(cpu_random, partial_draws_threads_and_distribution) {
    const int64_t n = 1 << 20;
    float *full = malloc((size_t)n * 4), *part = malloc((size_t)n * 4);
    npg_kparams pu = {{0.0, 1.0}, {0}};
    draw(NPG_OP_RAND_UNIFORM, NPG_FLOAT32, n, 42, 9, pu, full);
    for (int64_t m = 1; m <= 9; m++) { /* every partial last block */
        draw(NPG_OP_RAND_UNIFORM, NPG_FLOAT32, m, 42, 9, pu, part);
        cr_assert(memcmp(part, full, (size_t)m * 4) == 0, "draw of %lld differs", (long long)m);
    }
    draw(NPG_OP_RAND_UNIFORM, NPG_FLOAT32, 12345, 42, 9, pu, part);
    cr_assert(memcmp(part, full, 12345 * 4) == 0);
    npg__cpu_set_num_threads(1); /* the same numbers on one thread */
    draw(NPG_OP_RAND_UNIFORM, NPG_FLOAT32, n, 42, 9, pu, part);
    npg__cpu_set_num_threads(0);
    cr_assert(memcmp(part, full, (size_t)n * 4) == 0);
    /* another offset or seed: another stream */
    draw(NPG_OP_RAND_UNIFORM, NPG_FLOAT32, 1000, 42, 10, pu, part);
    cr_assert(memcmp(part, full, 1000 * 4) != 0);
    double s = 0, s2 = 0;
    float lo = 1, hi = 0;
    for (int64_t i = 0; i < n; i++) {
        s += full[i];
        lo = full[i] < lo ? full[i] : lo;
        hi = full[i] > hi ? full[i] : hi;
    }
    cr_assert(fabs(s / (double)n - 0.5) < 0.002 && lo >= 0 && lo < 1e-4 && hi < 1 && hi > 1 - 1e-4);
    npg_kparams pn = {{0.0, 1.0}, {0}};
    draw(NPG_OP_RAND_NORMAL, NPG_FLOAT32, n, 7, 0, pn, full);
    s = 0;
    for (int64_t i = 0; i < n; i++) s += full[i], s2 += (double)full[i] * full[i];
    cr_assert(fabs(s / (double)n) < 0.005 && fabs(s2 / (double)n - 1) < 0.01, "mean %g var %g", s / (double)n,
              s2 / (double)n);
    for (int64_t m = 1; m <= 5; m++) {
        draw(NPG_OP_RAND_NORMAL, NPG_FLOAT32, m, 7, 0, pn, part);
        cr_assert(memcmp(part, full, (size_t)m * 4) == 0);
    }
    /* randint covers its range, including the extreme int64 range without overflow */
    int32_t *ri32 = (int32_t *)part;
    npg_kparams pi = {{0}, {-3, 4}};
    draw(NPG_OP_RAND_INT, NPG_INT32, 1000, 1, 2, pi, ri32);
    int hits[7] = {0};
    for (int i = 0; i < 1000; i++) {
        cr_assert(ri32[i] >= -3 && ri32[i] < 4);
        hits[ri32[i] + 3]++;
    }
    for (int k = 0; k < 7; k++) cr_assert_gt(hits[k], 80);
    int64_t *r64 = (int64_t *)full;
    npg_kparams pw = {{0}, {INT64_MIN, INT64_MAX}};
    draw(NPG_OP_RAND_INT, NPG_INT64, 1000, 1, 2, pw, r64);
    int neg = 0;
    for (int i = 0; i < 1000; i++) neg += r64[i] < 0;
    cr_assert(neg > 400 && neg < 600);
    /* a new type's full range is covered, its ends included; uint64's upper half too */
    int8_t *r8 = (int8_t *)part;
    npg_kparams p8 = {{0}, {-128, 128}};
    draw(NPG_OP_RAND_INT, NPG_INT8, 4000, 3, 4, p8, r8);
    bool lo8 = false, hi8 = false;
    for (int i = 0; i < 4000; i++) lo8 = lo8 || r8[i] == -128, hi8 = hi8 || r8[i] == 127;
    cr_assert(lo8 && hi8);
    uint64_t *ru = (uint64_t *)full;
    draw(NPG_OP_RAND_INT, NPG_UINT64, 1000, 1, 2, pw, ru);
    int upper = 0;
    for (int i = 0; i < 1000; i++) upper += ru[i] >= 1ull << 63;
    cr_assert(upper > 400 && upper < 600);
    free(full);
    free(part);
}

Test(cpu_random, unsupported_and_bad_range) {
    float f[4];
    npg_tdesc d = {.data = f, .dtype = NPG_INT32, .ndim = 1, .shape = {4}, .strides = {1}};
    npg_kparams p = {{0, 1}, {5, 5}};
    expect_unsupported(B->random(0, NPG_OP_RAND_UNIFORM, &d, 1, 0, &p), NPG_OP_RAND_UNIFORM, NPG_INT32);
    d.dtype = NPG_FLOAT32;
    expect_unsupported(B->random(0, NPG_OP_RAND_INT, &d, 1, 0, &p), NPG_OP_RAND_INT, NPG_FLOAT32);
    d.dtype = NPG_BOOL;
    expect_unsupported(B->random(0, NPG_OP_RAND_NORMAL, &d, 1, 0, &p), NPG_OP_RAND_NORMAL, NPG_BOOL);
    d.dtype = NPG_INT32;
    cr_assert_eq(B->random(0, NPG_OP_RAND_INT, &d, 1, 0, &p), NPG_ERR_INVALID_ARG);
    for (int k = 0; k < 5; k++) { /* the new integer types: randint only */
        d.dtype = NEW_INT_DT[k];
        expect_unsupported(B->random(0, NPG_OP_RAND_UNIFORM, &d, 1, 0, &p), NPG_OP_RAND_UNIFORM, d.dtype);
        expect_unsupported(B->random(0, NPG_OP_RAND_NORMAL, &d, 1, 0, &p), NPG_OP_RAND_NORMAL, d.dtype);
        cr_assert_eq(B->random(0, NPG_OP_RAND_INT, &d, 1, 0, &p), NPG_ERR_INVALID_ARG);
    }
}

/* ---- fused neural-network kernels ------------------------------------------------------ */

static npg_tdesc d1(void *p, npg_dtype dt, int64_t n) {
    npg_tdesc d = {.data = p, .dtype = dt, .ndim = 1, .shape = {n}, .strides = {1}};
    return d;
}

Test(cpu_nn, softmax_and_backward) {
    const int64_t R = 300, C = 37; /* 300 rows: threaded */
    for (int t = 0; t < 2; t++) {
        npg_dtype dt = FLT_DT[t];
        double tol = dt == NPG_FLOAT32 ? 2e-6 : 1e-13;
        tv x = tv_make(dt, 2, (int64_t[]){R, C}, L_CONTIG), gg = tv_make(dt, 2, (int64_t[]){R, C}, L_CONTIG);
        tv_fill(&x, D_ANY);
        tv_fill(&gg, D_ANY);
        wr(dt, x.mem, 5 * C + 3, NAN);       /* row 5: NaN everywhere */
        wr(dt, x.mem, 7 * C + 1, -INFINITY); /* row 7: a -inf entry gets probability 0 */
        for (int64_t c = 0; c < C; c++) /* row 9: exp overflows unless the max is subtracted */
            wr(dt, x.mem, 9 * C + c, 500 + get(&x.d, 9 * C + c));
        for (int lg = 0; lg < 2; lg++) {
            tv y = out_make(dt, 2, (int64_t[]){R, C}), gi = out_make(dt, 2, (int64_t[]){R, C});
            cr_assert_eq(B->softmax(0, &y.d, &x.d, lg), NPG_OK);
            cr_assert_eq(B->softmax_backward(0, &gi.d, &gg.d, &y.d, lg), NPG_OK);
            for (int64_t r = 0; r < R; r++) {
                double m = -INFINITY, s = 0, sg = 0, sgy = 0;
                for (int64_t c = 0; c < C; c++) m = fmax(m, get(&x.d, r * C + c));
                for (int64_t c = 0; c < C; c++) s += exp(get(&x.d, r * C + c) - m);
                for (int64_t c = 0; c < C; c++) {
                    double yv = get(&y.d, r * C + c);
                    sg += get(&gg.d, r * C + c);
                    sgy += get(&gg.d, r * C + c) * yv;
                }
                for (int64_t c = 0; c < C; c++) {
                    int64_t f = r * C + c;
                    double xv = get(&x.d, f), want = lg ? xv - m - log(s) : exp(xv - m) / s;
                    if (r == 5) want = NAN;
                    cr_assert(close_to(get(&y.d, f), want, tol, tol), "%s log=%d [%lld,%lld] %g want %g",
                              npg_dtype_name(dt), lg, (long long)r, (long long)c, get(&y.d, f), want);
                    if (r == 5 || r == 7) continue;
                    double yv = get(&y.d, f), gv = get(&gg.d, f);
                    double wg = lg ? gv - exp(yv) * sg : yv * (gv - sgy);
                    cr_assert(close_to(get(&gi.d, f), wg, 10 * tol, 10 * tol), "backward log=%d", lg);
                }
            }
            cr_assert_eq(get(&y.d, 7 * C + 1), lg ? -INFINITY : 0.0);
            tv_free(&y);
            tv_free(&gi);
        }
        tv_free(&x);
        tv_free(&gg);
    }
    tv xi = tv_make(NPG_INT32, 2, (int64_t[]){2, 3}, L_CONTIG), yi = out_make(NPG_INT32, 2, (int64_t[]){2, 3});
    expect_unsupported(B->softmax(0, &yi.d, &xi.d, false), NPG_OP_SOFTMAX, NPG_INT32);
    tv_free(&xi);
    tv_free(&yi);
    for (int k = 0; k < 5; k++) { /* float only: the new integer types are refused too */
        npg_dtype dt = NEW_INT_DT[k];
        tv xn = tv_make(dt, 2, (int64_t[]){2, 3}, L_CONTIG), yn = out_make(dt, 2, (int64_t[]){2, 3});
        expect_unsupported(B->softmax(0, &yn.d, &xn.d, false), NPG_OP_SOFTMAX, dt);
        tv_free(&xn);
        tv_free(&yn);
    }
}

Test(cpu_nn, cross_entropy_and_backward) {
    const int64_t R = 500, C = 11;
    for (int t = 0; t < 2; t++) {
        npg_dtype dt = FLT_DT[t];
        double tol = dt == NPG_FLOAT32 ? 3e-6 : 1e-12;
        tv x = tv_make(dt, 2, (int64_t[]){R, C}, L_CONTIG);
        tv_fill(&x, D_ANY);
        for (int64_t c = 0; c < C; c++) wr(dt, x.mem, 4 * C + c, 300 + get(&x.d, 4 * C + c)); /* needs the max */
        int64_t *lab = malloc(sizeof(int64_t) * R);
        tv gl = tv_make(dt, 1, &R, L_CONTIG);
        tv_fill(&gl, D_ANY);
        for (int k = 0; k < 2; k++) {
            double eps = k ? 0.1 : 0;
            bool ign = k == 1;
            tv loss = out_make(dt, 1, &R), lse = out_make(dt, 1, &R), gx = out_make(dt, 2, (int64_t[]){R, C});
            npg_tdesc dl = d1(lab, NPG_INT64, R);
            for (int64_t r = 0; r < R; r++) /* without ignore_index, -100 would be a bad label */
                lab[r] = ign && r % 17 == 0 ? -100 : rndi(0, C - 1);
            cr_assert_eq(B->cross_entropy(0, &loss.d, &lse.d, &x.d, &dl, eps, ign, -100), NPG_OK);
            cr_assert_eq(B->cross_entropy_backward(0, &gx.d, &gl.d, &x.d, &lse.d, &dl, eps, ign, -100), NPG_OK);
            for (int64_t r = 0; r < R; r++) {
                double m = -INFINITY, s = 0, sx = 0;
                for (int64_t c = 0; c < C; c++) m = fmax(m, get(&x.d, r * C + c)), sx += get(&x.d, r * C + c);
                for (int64_t c = 0; c < C; c++) s += exp(get(&x.d, r * C + c) - m);
                double l = m + log(s);
                cr_assert(close_to(get(&lse.d, r), l, tol, tol));
                bool skip = ign && lab[r] == -100;
                double want = skip ? 0 : (1 - eps) * (l - get(&x.d, r * C + lab[r])) + eps * (l - sx / (double)C);
                cr_assert(close_to(get(&loss.d, r), want, tol, tol), "row %lld: %g want %g", (long long)r,
                          get(&loss.d, r), want);
                for (int64_t c = 0; c < C; c++) {
                    double wg = skip ? 0
                                     : get(&gl.d, r) * (exp(get(&x.d, r * C + c) - get(&lse.d, r)) -
                                                        (1 - eps) * (c == lab[r]) - eps / (double)C);
                    cr_assert(close_to(get(&gx.d, r * C + c), wg, 10 * tol, 10 * tol));
                }
            }
            tv_free(&loss);
            tv_free(&lse);
            tv_free(&gx);
        }
        /* a bad label is an index error */
        for (int64_t r = 0; r < R; r++) lab[r] = r % C;
        lab[42] = C;
        tv loss = out_make(dt, 1, &R), lse = out_make(dt, 1, &R);
        npg_tdesc dl = d1(lab, NPG_INT64, R);
        npg_clear_error();
        cr_assert_eq(B->cross_entropy(0, &loss.d, &lse.d, &x.d, &dl, 0, false, -100), NPG_ERR_INDEX);
        cr_assert_str_eq(npg_last_error(), "cross_entropy: label 11 is out of bounds for 11 classes");
        tv_free(&loss);
        tv_free(&lse);
        free(lab);
        tv_free(&x);
        tv_free(&gl);
    }
}

/* A geometry over x (N, C, H, W) with output size from the usual formula. */
static npg_conv_geom geom(int64_t N, int64_t C, int64_t H, int64_t W, int64_t KH, int64_t KW, int64_t s, int64_t pad,
                          int64_t dil, bool incl) {
    npg_conv_geom g = {.N = N, .C = C, .H = H, .W = W, .KH = KH, .KW = KW, .stride_h = s, .stride_w = s + 1,
                       .pad_h = pad, .pad_w = pad, .dil_h = dil, .dil_w = 1, .count_include_pad = incl};
    g.OH = (H + 2 * pad - dil * (KH - 1) - 1) / s + 1;
    g.OW = (W + 2 * pad - (KW - 1) - 1) / (s + 1) + 1;
    return g;
}

Test(cpu_nn, im2col_col2im) {
    static const int64_t cfg[][5] = {{3, 3, 1, 1, 1}, {3, 2, 2, 1, 2}, {1, 1, 1, 0, 1}, {5, 4, 2, 2, 1}};
    for (int k = 0; k < 4; k++) {
        for (int t = 1; t < N_DT; t++) { /* every dtype but bool */
            npg_dtype dt = ALL_DT[t];
            npg_conv_geom g = geom(2, 3, 9, 8, cfg[k][0], cfg[k][1], cfg[k][2], cfg[k][3], cfg[k][4], false);
            int64_t KK = g.KH * g.KW, L = g.OH * g.OW;
            tv x = tv_make(dt, 4, (int64_t[]){2, 3, 9, 8}, L_CONTIG);
            tv_fill(&x, isflt(dt) || k % 2 == 0 ? D_SMALLINT : D_ANY); /* integers: col2im's sums wrap */
            tv cols = out_make(dt, 3, (int64_t[]){2, 3 * KK, L});
            cr_assert_eq(B->im2col(0, &cols.d, &x.d, &g), NPG_OK);
            tv back = tv_make(dt, 4, (int64_t[]){2, 3, 9, 8}, L_CONTIG); /* pre-zeroed by calloc */
            cr_assert_eq(B->col2im(0, &back.d, &cols.d, &g), NPG_OK);
            for (int64_t n = 0; n < 2; n++)
                for (int64_t c = 0; c < 3; c++)
                    for (int64_t kh = 0; kh < g.KH; kh++)
                        for (int64_t kw = 0; kw < g.KW; kw++)
                            for (int64_t oh = 0; oh < g.OH; oh++)
                                for (int64_t ow = 0; ow < g.OW; ow++) {
                                    int64_t ih = oh * g.stride_h - g.pad_h + kh * g.dil_h;
                                    int64_t iw = ow * g.stride_w - g.pad_w + kw * g.dil_w;
                                    bool in = ih >= 0 && ih < 9 && iw >= 0 && iw < 8;
                                    int64_t want = in ? geti(&x.d, ((n * 3 + c) * 9 + ih) * 8 + iw) : 0;
                                    int64_t f = (n * 3 * KK + c * KK + kh * g.KW + kw) * L + oh * g.OW + ow;
                                    cr_assert_eq(geti(&cols.d, f), want, "cfg %d %s", k, npg_dtype_name(dt));
                                }
            /* col2im: every column entry added back onto its source pixel (modulo 2^64, then wrapped) */
            uint64_t *want = calloc(2 * 3 * 9 * 8, sizeof(uint64_t));
            for (int64_t n = 0; n < 2; n++)
                for (int64_t c = 0; c < 3; c++)
                    for (int64_t kk = 0; kk < KK; kk++)
                        for (int64_t q = 0; q < L; q++) {
                            int64_t ih = q / g.OW * g.stride_h - g.pad_h + kk / g.KW * g.dil_h;
                            int64_t iw = q % g.OW * g.stride_w - g.pad_w + kk % g.KW * g.dil_w;
                            if (ih >= 0 && ih < 9 && iw >= 0 && iw < 8)
                                want[((n * 3 + c) * 9 + ih) * 8 + iw] +=
                                    (uint64_t)geti(&cols.d, ((n * 3 + c) * KK + kk) * L + q);
                        }
            for (int64_t i = 0; i < 2 * 3 * 9 * 8; i++)
                cr_assert_eq(geti(&back.d, i), isflt(dt) ? (int64_t)want[i] : wrap(dt, (int64_t)want[i]),
                             "cfg %d %s pixel %lld", k, npg_dtype_name(dt), (long long)i);
            free(want);
            tv_free(&x);
            tv_free(&cols);
            tv_free(&back);
        }
    }
    /* bool is refused by both */
    npg_conv_geom g = geom(2, 3, 9, 8, 3, 3, 1, 1, 1, false);
    tv xb = tv_make(NPG_BOOL, 4, (int64_t[]){2, 3, 9, 8}, L_CONTIG);
    tv cb = out_make(NPG_BOOL, 3, (int64_t[]){2, 27, g.OH * g.OW});
    expect_unsupported(B->im2col(0, &cb.d, &xb.d, &g), NPG_OP_IM2COL, NPG_BOOL);
    expect_unsupported(B->col2im(0, &xb.d, &cb.d, &g), NPG_OP_COL2IM, NPG_BOOL);
    tv_free(&xb);
    tv_free(&cb);
}

/* float16 / bfloat16 im2col moves the bit patterns: the float32 im2col's
 * layout, every pattern (NaN payloads included) intact; col2im, which adds,
 * refuses them (common gives it float32 copies). */
Test(cpu_nn, im2col_half_moves_bits) {
    static const int64_t cfg[][5] = {{3, 3, 1, 1, 1}, {3, 2, 2, 1, 2}, {5, 4, 2, 2, 1}};
    const npg_dtype halves[2] = {NPG_FLOAT16, NPG_BFLOAT16};
    for (int k = 0; k < 3; k++)
        for (int h = 0; h < 2; h++) {
            npg_conv_geom g = geom(2, 3, 9, 8, cfg[k][0], cfg[k][1], cfg[k][2], cfg[k][3], cfg[k][4], false);
            const int64_t nx = 2 * 3 * 9 * 8, nc = 2 * 3 * g.KH * g.KW * g.OH * g.OW;
            uint16_t *xh = malloc(2 * nx), *ch = malloc(2 * nc);
            float *xf = malloc(4 * nx), *cf = malloc(4 * nc);
            for (int64_t i = 0; i < nx; i++) {
                xh[i] = (uint16_t)(rnd64() >> 48); /* any pattern */
                xf[i] = (float)i + 1; /* the float32 run maps each position */
            }
            memset(ch, 0xAB, 2 * nc);
            npg_tdesc dxh = {.data = xh, .dtype = halves[h], .ndim = 4, .shape = {2, 3, 9, 8}, .strides = {216, 72, 8, 1}};
            npg_tdesc dxf = dxh, dch = {.data = ch, .dtype = halves[h], .ndim = 1, .shape = {nc}, .strides = {1}};
            dxf.data = xf, dxf.dtype = NPG_FLOAT32;
            npg_tdesc dcf = dch;
            dcf.data = cf, dcf.dtype = NPG_FLOAT32;
            cr_assert_eq(B->im2col(0, &dch, &dxh, &g), NPG_OK, "%s", npg_last_error());
            cr_assert_eq(B->im2col(0, &dcf, &dxf, &g), NPG_OK);
            for (int64_t i = 0; i < nc; i++) {
                uint16_t want = cf[i] == 0 ? 0 : xh[(int64_t)cf[i] - 1];
                cr_assert_eq(ch[i], want, "cfg %d %s col %lld: %04x, want %04x", k, npg_dtype_name(halves[h]),
                             (long long)i, ch[i], want);
            }
            expect_unsupported(B->col2im(0, &dxh, &dch, &g), NPG_OP_COL2IM, halves[h]);
            free(xh), free(ch), free(xf), free(cf);
        }
}

Test(cpu_nn, pooling_and_backward) {
    for (int k = 0; k < 4; k++) { /* k == 3: 2x2 windows, stride 2, odd height (the straight path) */
        for (int t = 1; t < N_DT; t++) { /* every dtype but bool */
            npg_dtype dt = ALL_DT[t];
            npg_conv_geom g = k == 3 ? geom(2, 3, 9, 8, 2, 2, 2, 0, 1, false)
                                     : geom(2, 3, 9, 8, 3, 2, 2, k == 0 ? 0 : 1, 1, k == 2);
            g.stride_w = 2;
            g.OW = (8 + 2 * g.pad_w - 2) / 2 + 1;
            int64_t osh[4] = {2, 3, g.OH, g.OW}, P = g.OH * g.OW;
            tv x = tv_make(dt, 4, (int64_t[]){2, 3, 9, 8}, L_CONTIG);
            /* many ties: the first maximum must win (integers: every other k the type's extremes) */
            tv_fill(&x, isflt(dt) || k % 2 == 0 ? D_SMALLINT : D_EDGE);
            if (isflt(dt)) wr(dt, x.mem, 77, NAN);
            tv o = out_make(dt, 4, osh), am = out_make(NPG_INT64, 4, osh), oa = out_make(dt, 4, osh);
            cr_assert_eq(B->pool2d(0, true, &o.d, &am.d, &x.d, &g), NPG_OK);
            npg_status sa = B->pool2d(0, false, &oa.d, NULL, &x.d, &g);
            cr_assert_eq(sa, isflt(dt) ? NPG_OK : NPG_ERR_UNSUPPORTED);
            if (!isflt(dt)) expect_unsupported(sa, NPG_OP_AVG_POOL2D, dt);
            tv go = tv_make(dt, 4, osh, L_CONTIG), gxm = tv_make(dt, 4, (int64_t[]){2, 3, 9, 8}, L_CONTIG);
            tv gxa = tv_make(dt, 4, (int64_t[]){2, 3, 9, 8}, L_CONTIG);
            tv_fill(&go, D_SMALLINT);
            double *wm = calloc(2 * 3 * 9 * 8, sizeof(double)), *wa = calloc(2 * 3 * 9 * 8, sizeof(double));
            if (isflt(dt)) {
                cr_assert_eq(B->pool2d_backward(0, true, &gxm.d, &go.d, &am.d, &g), NPG_OK);
                cr_assert_eq(B->pool2d_backward(0, false, &gxa.d, &go.d, NULL, &g), NPG_OK);
            } else { /* the backward passes are float only */
                expect_unsupported(B->pool2d_backward(0, true, &gxm.d, &go.d, &am.d, &g), NPG_OP_MAX_POOL2D, dt);
                expect_unsupported(B->pool2d_backward(0, false, &gxa.d, &go.d, NULL, &g), NPG_OP_AVG_POOL2D, dt);
            }
            for (int64_t pl = 0; pl < 6; pl++) {
                for (int64_t q = 0; q < P; q++) {
                    int64_t oh = q / g.OW, ow = q % g.OW, bi = -1, cntv = 0, ibest = 0;
                    double best = 0, s = 0;
                    for (int64_t kh = 0; kh < g.KH; kh++)
                        for (int64_t kw = 0; kw < g.KW; kw++) {
                            int64_t ih = oh * g.stride_h - g.pad_h + kh, iw = ow * g.stride_w - g.pad_w + kw;
                            if (ih < 0 || ih >= 9 || iw < 0 || iw >= 8) continue;
                            if (isflt(dt)) {
                                double v = get(&x.d, pl * 72 + ih * 8 + iw);
                                if (bi < 0 || v > best || (isnan(v) && !isnan(best))) best = v, bi = ih * 8 + iw;
                                s += v;
                            } else { /* canonical integers: uint64 compares unsigned */
                                int64_t v = geti(&x.d, pl * 72 + ih * 8 + iw);
                                if (bi < 0 || ilt(dt, ibest, v)) ibest = v, bi = ih * 8 + iw;
                            }
                            cntv++;
                        }
                    int64_t f = pl * P + q, div = g.count_include_pad ? g.KH * g.KW : cntv;
                    cr_assert_eq(geti(&am.d, f), bi, "k %d %s", k, npg_dtype_name(dt));
                    if (!isflt(dt)) {
                        cr_assert_eq(geti(&o.d, f), ibest, "k %d %s", k, npg_dtype_name(dt));
                        continue;
                    }
                    cr_assert(close_to(get(&o.d, f), best, 0, 0));
                    cr_assert(close_to(get(&oa.d, f), s / (double)div, 1e-6, 1e-6));
                    wm[pl * 72 + bi] += get(&go.d, f);
                    for (int64_t kh = 0; kh < g.KH; kh++)
                        for (int64_t kw = 0; kw < g.KW; kw++) {
                            int64_t ih = oh * g.stride_h - g.pad_h + kh, iw = ow * g.stride_w - g.pad_w + kw;
                            if (ih >= 0 && ih < 9 && iw >= 0 && iw < 8)
                                wa[pl * 72 + ih * 8 + iw] += get(&go.d, f) / (double)div;
                        }
                }
            }
            if (isflt(dt))
                for (int64_t i = 0; i < 2 * 3 * 72; i++) {
                    cr_assert(close_to(get(&gxm.d, i), wm[i], 1e-6, 1e-6), "max backward %lld", (long long)i);
                    cr_assert(close_to(get(&gxa.d, i), wa[i], 1e-6, 1e-6), "avg backward %lld", (long long)i);
                }
            free(wm);
            free(wa);
            tv_free(&x);
            tv_free(&o);
            tv_free(&am);
            tv_free(&oa);
            tv_free(&go);
            tv_free(&gxm);
            tv_free(&gxa);
        }
    }
}

Test(cpu_nn, sgd_and_adam) {
    const int64_t n = 40000; /* threaded */
    for (int t = 0; t < 2; t++) {
        npg_dtype dt = FLT_DT[t];
        double tol = dt == NPG_FLOAT32 ? 1e-5 : 1e-12;
        for (int k = 0; k < 4; k++) {
            tv p = tv_make(dt, 1, &n, L_CONTIG), g = tv_make(dt, 1, &n, L_CONTIG), b = tv_make(dt, 1, &n, L_CONTIG);
            tv v = tv_make(dt, 1, &n, L_CONTIG);
            tv_fill(&p, D_ANY);
            tv_fill(&g, D_ANY);
            tv_fill(&b, D_ANY);
            for (int64_t i = 0; i < v.nalloc; i++) wr(dt, v.mem, i, rndu()); /* v >= 0 */
            double *p0 = malloc(sizeof(double) * n), *b0 = malloc(sizeof(double) * n), *v0 = malloc(sizeof(double) * n);
            for (int64_t i = 0; i < n; i++) p0[i] = get(&p.d, i), b0[i] = get(&b.d, i), v0[i] = get(&v.d, i);
            npg_sgd_hp sh = {.lr = 0.1, .momentum = k ? 0.9 : 0, .dampening = k == 2 ? 0.5 : 0,
                             .weight_decay = k >= 2 ? 0.01 : 0, .nesterov = k == 3, .first_step = k == 1};
            cr_assert_eq(B->sgd_step(0, &p.d, &g.d, k ? &b.d : NULL, &sh), NPG_OK);
            for (int64_t i = 0; i < n; i++) {
                double d = get(&g.d, i) + sh.weight_decay * p0[i];
                if (k) {
                    double bb = sh.first_step ? d : 0.9 * b0[i] + (1 - sh.dampening) * d;
                    cr_assert(close_to(get(&b.d, i), bb, tol, tol));
                    d = sh.nesterov ? d + 0.9 * bb : bb;
                }
                cr_assert(close_to(get(&p.d, i), p0[i] - 0.1 * d, tol, tol), "sgd case %d", k);
            }
            /* Adam (k even) / AdamW (k odd), with and without weight decay */
            for (int64_t i = 0; i < n; i++) wr(dt, p.mem, i, p0[i]), wr(dt, b.mem, i, b0[i]);
            npg_adam_hp ah = {.lr = 1e-2, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = k >= 2 ? 0.1 : 0,
                              .decoupled = k % 2, .bias_correction1 = 1 - pow(0.9, 3),
                              .bias_correction2 = 1 - pow(0.999, 3)};
            cr_assert_eq(B->adam_step(0, &p.d, &g.d, &b.d, &v.d, &ah), NPG_OK);
            for (int64_t i = 0; i < n; i++) {
                double gi = get(&g.d, i), pi = p0[i];
                if (ah.decoupled) pi -= ah.lr * ah.weight_decay * pi;
                else gi += ah.weight_decay * pi;
                double m = 0.9 * b0[i] + 0.1 * gi, vv = 0.999 * v0[i] + 0.001 * gi * gi;
                cr_assert(close_to(get(&b.d, i), m, tol, tol) && close_to(get(&v.d, i), vv, tol, tol));
                double want = pi - ah.lr * (m / ah.bias_correction1) / (sqrt(vv / ah.bias_correction2) + ah.eps);
                cr_assert(close_to(get(&p.d, i), want, 10 * tol, 10 * tol), "adam case %d: %g want %g", k,
                          get(&p.d, i), want);
            }
            free(p0);
            free(b0);
            free(v0);
            tv_free(&p);
            tv_free(&g);
            tv_free(&b);
            tv_free(&v);
        }
    }
}
