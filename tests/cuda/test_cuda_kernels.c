/*
 * test_cuda_kernels.c — the CUDA backend's vtable entries called directly,
 * against the CPU backend (the same entry on host copies of the same data)
 * and, where the CPU backend is itself under test, against references
 * written here. Every test skips when no CUDA device is present.
 *
 * Agreement on support is checked too: where the CPU backend says
 * NPG_ERR_UNSUPPORTED for an (op, dtype), so must the CUDA backend, and
 * where it computes, the CUDA backend must compute the same values (exact
 * for integers, bool and correctly rounded float ops; within a few ulp for
 * transcendental functions, whose device and host libm differ).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "rng.h"
#include "test_util.h"

#define G (&npg_cuda_backend)
#define C (&npg_cpu_backend)

static void need_gpu(void) {
    if (G->device_count() == 0) cr_skip_test("no CUDA device");
}

/* ---- buffers: host storage and a device copy of the same size ----------------------------- */

typedef struct tb {
    npg_dtype dt;
    int64_t n;   /* elements of storage */
    size_t es;
    char *h;     /* host storage (CPU backend operand) */
    char *d;     /* device storage (CUDA operand) */
    char *back;  /* device storage read back */
} tb;

static tb tb_new(npg_dtype dt, int64_t n) {
    tb t = {dt, n, npg__dtype_size(dt), NULL, NULL, NULL};
    size_t bytes = t.es * (size_t)(n > 0 ? n : 1);
    t.h = calloc(1, bytes);
    t.back = calloc(1, bytes);
    cr_assert(t.h && t.back);
    void *p = NULL;
    cr_assert_eq(G->alloc(0, bytes, &p), NPG_OK, "alloc: %s", npg_last_error());
    t.d = p;
    return t;
}
static void tb_up(tb *t) { cr_assert_eq(G->copy_h2d(0, t->d, t->h, t->es * (size_t)t->n), NPG_OK, "h2d: %s", npg_last_error()); }
static void tb_down(tb *t) {
    cr_assert_eq(G->copy_d2h(0, t->back, t->d, t->es * (size_t)t->n), NPG_OK, "d2h: %s", npg_last_error());
}
static void tb_free(tb *t) {
    G->free(0, t->d, t->es * (size_t)(t->n > 0 ? t->n : 1));
    free(t->h);
    free(t->back);
}

/* Descriptor over t (host or device storage), strides NULL = C-contiguous. */
static npg_tdesc td(const tb *t, bool dev, int ndim, const int64_t *shape, const int64_t *strides, int64_t off) {
    npg_tdesc d;
    memset(&d, 0, sizeof d);
    d.data = (dev ? t->d : t->h) + off * (int64_t)t->es;
    d.dtype = t->dt;
    d.ndim = ndim;
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        d.shape[i] = shape[i];
        d.strides[i] = strides ? strides[i] : s;
        s *= shape[i];
    }
    return d;
}

static bool is_flt(npg_dtype dt) { return dt == NPG_FLOAT32 || dt == NPG_FLOAT64; }

/* A weak scalar as common builds it: for bool and the integers, iscalar is
 * iv wrapped to the dtype (uint64: its bits) and scalar that value. */
static npg_tdesc scalar_desc(npg_dtype dt, double v, int64_t iv) {
    npg_tdesc d;
    memset(&d, 0, sizeof d);
    d.dtype = dt;
    d.is_scalar = true;
    d.scalar = v;
    d.iscalar = iv;
    if (!is_flt(dt)) {
        d.iscalar = (int64_t)t_wrap_bits(dt, (uint64_t)iv); /* bool 0/1; int64 and uint64 keep the bits */
        d.scalar = dt == NPG_UINT64 ? (double)(uint64_t)d.iscalar : (double)d.iscalar;
    }
    return d;
}

/* ---- values ------------------------------------------------------------------------------------ */

static uint64_t rng_state = 88172645463325252ull;
static uint64_t xr(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static double xu(void) { return (double)(xr() >> 11) * 0x1.0p-53; }

/* element i of t's host storage: v for floats, iv wrapped to the type for bool and integers */
static void put(tb *t, int64_t i, double v, int64_t iv) {
    char *p = t->h + (size_t)i * t->es;
    switch (t->dt) {
    case NPG_FLOAT32: *(float *)p = (float)v; break;
    case NPG_FLOAT64: *(double *)p = v; break;
    default: t_put_bits(t->dt, p, 0, (uint64_t)iv); /* bool: iv != 0; fails for other dtypes */
    }
}

enum { V_ANY, V_NEAR1, V_SMALL, V_PLAIN };
/* Fill all of t's storage: V_ANY mixes specials (NaN, inf, -0, extremes of
 * every integer width) and, for integers, full-width values into values in
 * [-3, 3] (integers [-100, 100], wrapped to the type); V_NEAR1 is [0.99,
 * 1.01] (products); V_SMALL is integers in [0, 40); V_PLAIN is [-3, 3]
 * without specials ([-100, 100], unsigned [0, 100]). */
static void gen(tb *t, int kind) {
    static const double fspec[] = {NAN, INFINITY, -INFINITY, -0.0, 0.0, 0.5, -2.5, 1e30, -1e-30, 3.0, 2.5,
                                   200.5, -129.5, 65535.5, 4294967296.0, 1.8e19};
    static const int64_t ispec[] = {0, 1, -1, 127, -128, 255, INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN, 7,
                                    32767, -32768, 65535, 65536, 4294967295ll, INT64_MIN + 1,
                                    (int64_t)0x8000000000000001ull, (int64_t)0xFFFFFFFF00000000ull};
    for (int64_t i = 0; i < t->n; i++) {
        double v = -3 + 6 * xu();
        int64_t iv = (int64_t)(xr() % 201) - 100;
        if (kind == V_NEAR1) v = 0.99 + 0.02 * xu(), iv = 1 + (int64_t)(xr() % 2);
        if (kind == V_SMALL) iv = (int64_t)(xr() % 40), v = (double)iv;
        if (kind == V_ANY && xr() % 8 == 0) {
            v = fspec[xr() % (sizeof fspec / sizeof *fspec)];
            iv = ispec[xr() % (sizeof ispec / sizeof *ispec)];
        } else if (kind == V_ANY && xr() % 4 == 0) {
            iv = (int64_t)xr(); /* full width once wrapped (uint64: half of them >= 2^63) */
        }
        if (t_is_unsigned(t->dt) && kind != V_ANY) iv = iv < 0 ? -iv : iv;
        put(t, i, v, iv);
    }
}

/* element i of a buffer as int64 (integers and bool; uint64: its bits) or
 * double (floats) */
static int64_t geti(npg_dtype dt, const char *p, int64_t i) {
    switch (dt) {
    case NPG_BOOL: return ((const uint8_t *)p)[i]; /* the stored byte: anything but 0 or 1 shows */
    case NPG_FLOAT32: case NPG_FLOAT64: return 0; /* floats compare as doubles (getf) */
    default: return (int64_t)t_get_bits(dt, p, i); /* fails for other dtypes */
    }
}
static double getf(npg_dtype dt, const char *p, int64_t i) {
    switch (dt) {
    case NPG_FLOAT32: return ((const float *)p)[i];
    case NPG_FLOAT64: return ((const double *)p)[i];
    case NPG_UINT64: return (double)(uint64_t)geti(dt, p, i);
    default: return (double)geti(dt, p, i); /* bool and the other integers: exact */
    }
}

/* got (n elements) against want: exact for integers and bool, else
 * |g - w| <= atol + rtol |w| with NaN == NaN and infinities exact. */
static void cmp(const char *what, npg_dtype dt, const char *got, const char *want, int64_t n, double rtol, double atol) {
    for (int64_t i = 0; i < n; i++) {
        if (!is_flt(dt)) {
            int64_t g = geti(dt, got, i), w = geti(dt, want, i);
            if (g != w) {
                if (dt == NPG_UINT64)
                    cr_assert_fail("%s (%s): element %lld: got %llu, want %llu", what, npg_dtype_name(dt), (long long)i,
                                   (unsigned long long)g, (unsigned long long)w);
                cr_assert_fail("%s (%s): element %lld: got %lld, want %lld", what, npg_dtype_name(dt), (long long)i, (long long)g, (long long)w);
            }
            continue;
        }
        double g = getf(dt, got, i), w = getf(dt, want, i);
        bool ok = isnan(w) ? isnan(g) : isinf(w) ? g == w : fabs(g - w) <= atol + rtol * fabs(w);
        if (!ok) cr_assert_fail("%s (%s): element %lld: got %.17g, want %.17g", what, npg_dtype_name(dt), (long long)i, g, w);
    }
}

static double rtol_of(npg_dtype dt, bool transcendental) {
    if (dt == NPG_FLOAT32) return transcendental ? 1e-5 : 1e-6;
    if (dt == NPG_FLOAT64) return transcendental ? 1e-12 : 1e-14;
    return 0;
}

/* the dtypes compared here (not float16 / bfloat16), the integers appended
 * after bfloat16 last */
static const npg_dtype alldt[] = {NPG_BOOL, NPG_UINT8,  NPG_INT32,  NPG_INT64, NPG_FLOAT32, NPG_FLOAT64,
                                  NPG_INT8, NPG_INT16, NPG_UINT16, NPG_UINT32, NPG_UINT64};
#define NDT ((int)(sizeof alldt / sizeof alldt[0]))
/* bool and the integers narrower than 64 bits: the wide_int_sum / wide_int_scan inputs */
static const npg_dtype narrowdt[] = {NPG_BOOL, NPG_INT8, NPG_UINT8, NPG_INT16, NPG_UINT16, NPG_INT32, NPG_UINT32};
#define NNARROW ((int)(sizeof narrowdt / sizeof narrowdt[0]))
static const npg_dtype newints[] = {NPG_INT8, NPG_INT16, NPG_UINT16, NPG_UINT32, NPG_UINT64};

/* Both backends must agree on support: returns true when both computed. */
static bool both_ok(const char *what, npg_status cpu, npg_status gpu) {
    if (cpu == NPG_ERR_UNSUPPORTED || gpu == NPG_ERR_UNSUPPORTED) {
        cr_assert_eq(cpu, gpu, "%s: cpu status %d, cuda status %d (%s)", what, cpu, gpu, npg_last_error());
        npg_clear_error();
        return false;
    }
    cr_assert_eq(cpu, NPG_OK, "%s: cpu failed: %s", what, npg_last_error());
    cr_assert_eq(gpu, NPG_OK, "%s: cuda failed: %s", what, npg_last_error());
    return true;
}

/* ---- devices and memory ------------------------------------------------------------------------------ */

Test(cuda, device_and_memory) {
    need_gpu();
    npg_device_info info;
    cr_assert_eq(G->device_info(0, &info), NPG_OK, "%s", npg_last_error());
    cr_assert(info.name[0] && info.total_bytes >= info.free_bytes && info.total_bytes > 0);
    tb t = tb_new(NPG_INT64, 100003);
    for (int64_t i = 0; i < t.n; i++) put(&t, i, 0, i * 7 - 3);
    tb_up(&t);
    void *d2 = NULL;
    cr_assert_eq(G->alloc(0, 8 * (size_t)t.n, &d2), NPG_OK);
    cr_assert_eq(G->copy_d2d(0, d2, t.d, 8 * (size_t)t.n), NPG_OK);
    cr_assert_eq(G->copy_d2h(0, t.back, d2, 8 * (size_t)t.n), NPG_OK);
    cr_assert(memcmp(t.back, t.h, 8 * (size_t)t.n) == 0);
    G->free(0, d2, 8 * (size_t)t.n);
    /* out of memory is an error, and the device works afterwards */
    void *huge = NULL;
    cr_assert_eq(G->alloc(0, (size_t)1 << 46, &huge), NPG_ERR_OOM, "%s", npg_last_error());
    npg_clear_error();
    cr_assert_eq(G->synchronize(0), NPG_OK, "%s", npg_last_error());
    cr_assert_eq(G->alloc(0, 1024, &d2), NPG_OK);
    G->free(0, d2, 1024);
    cr_assert_eq(G->alloc(1 << 20, 16, &d2), NPG_ERR_DEVICE);
    npg_clear_error();
    tb_free(&t);
}

Test(cuda, fill) {
    need_gpu();
    for (int k = 0; k < NDT; k++) {
        npg_dtype dt = alldt[k];
        tb t = tb_new(dt, 40 * 30), c = tb_new(dt, 40 * 30);
        int64_t shape[2] = {20, 30}, st[2] = {-60, 1}; /* every other row, backwards */
        npg_tdesc dg = td(&t, true, 2, shape, st, 39 * 30), dc = td(&c, false, 2, shape, st, 39 * 30);
        tb_up(&t); /* the rows fill skips must hold the same (zero) bytes on both sides */
        cr_assert_eq(G->fill(0, &dg, -2.5, -3), NPG_OK, "%s", npg_last_error());
        cr_assert_eq(C->fill(0, &dc, -2.5, -3), NPG_OK);
        tb_down(&t);
        cmp("fill strided", dt, t.back, c.h, t.n, 0, 0);
        int64_t flat[1] = {1003};
        dg = td(&t, true, 1, flat, NULL, 1), dc = td(&c, false, 1, flat, NULL, 1);
        cr_assert_eq(G->fill(0, &dg, 7.25, 300), NPG_OK);
        cr_assert_eq(C->fill(0, &dc, 7.25, 300), NPG_OK);
        tb_down(&t);
        cmp("fill flat", dt, t.back, c.h, t.n, 0, 0);
        tb_free(&t);
        tb_free(&c);
    }
}

Test(cuda, copy_all_pairs) {
    need_gpu();
    for (int a = 0; a < NDT; a++)
        for (int b = 0; b < NDT; b++) {
            tb in = tb_new(alldt[b], 37 * 29), og = tb_new(alldt[a], 37 * 29), oc = tb_new(alldt[a], 37 * 29);
            gen(&in, V_ANY);
            tb_up(&in);
            int64_t shape[2] = {29, 37}, st[2] = {1, 29}; /* transposed read */
            int64_t flat[1] = {37 * 29};
            npg_tdesc ig = td(&in, true, 2, shape, st, 0), ic = td(&in, false, 2, shape, st, 0);
            npg_tdesc dg = td(&og, true, 2, shape, NULL, 0), dc = td(&oc, false, 2, shape, NULL, 0);
            char what[64];
            snprintf(what, sizeof what, "copy %s -> %s", npg_dtype_name(alldt[b]), npg_dtype_name(alldt[a]));
            if (both_ok(what, C->copy(0, &dc, &ic), G->copy(0, &dg, &ig))) {
                tb_down(&og);
                cmp(what, alldt[a], og.back, oc.h, og.n, 0, 0);
            }
            ig = td(&in, true, 1, flat, NULL, 0), ic = td(&in, false, 1, flat, NULL, 0);
            dg = td(&og, true, 1, flat, NULL, 0), dc = td(&oc, false, 1, flat, NULL, 0);
            if (both_ok(what, C->copy(0, &dc, &ic), G->copy(0, &dg, &ig))) {
                tb_down(&og);
                cmp(what, alldt[a], og.back, oc.h, og.n, 0, 0);
            }
            tb_free(&in);
            tb_free(&og);
            tb_free(&oc);
        }
}

/* ---- unary / binary / where ------------------------------------------------------------------------------ */

/* the ops with a bool result, from the op table (a list here missed signbit) */
static bool unary_bool_out(npg_op op) {
    npg_rule r = npg__op_info[op].rule;
    return r == NPG_RULE_TEST || r == NPG_RULE_LOGICAL;
}

static void run_unary(npg_op op, npg_dtype dt, const npg_kparams *p) {
    npg_dtype odt = unary_bool_out(op) ? NPG_BOOL : dt;
    const int64_t R = 23, Cc = 47;
    tb in = tb_new(dt, R * Cc), og = tb_new(odt, R * Cc), oc = tb_new(odt, R * Cc);
    gen(&in, V_ANY);
    tb_up(&in);
    char what[96];
    /* flat (vector path, odd tail), transposed (strided path), 0-d, misaligned flat */
    int64_t flat[1] = {R * Cc - 2}, shape[2] = {Cc, R}, st[2] = {1, Cc};
    for (int form = 0; form < 4; form++) {
        npg_tdesc ig, ic, dg, dc;
        if (form == 0 || form == 3) {
            int64_t off = form == 3;
            ig = td(&in, true, 1, flat, NULL, off), ic = td(&in, false, 1, flat, NULL, off);
            dg = td(&og, true, 1, flat, NULL, 0), dc = td(&oc, false, 1, flat, NULL, 0);
        } else if (form == 1) {
            ig = td(&in, true, 2, shape, st, 0), ic = td(&in, false, 2, shape, st, 0);
            dg = td(&og, true, 2, shape, NULL, 0), dc = td(&oc, false, 2, shape, NULL, 0);
        } else {
            ig = td(&in, true, 0, NULL, NULL, 5), ic = td(&in, false, 0, NULL, NULL, 5);
            dg = td(&og, true, 0, NULL, NULL, 0), dc = td(&oc, false, 0, NULL, NULL, 0);
        }
        snprintf(what, sizeof what, "%s form %d", npg__op_name(op), form);
        if (!both_ok(what, C->unary(0, op, &dc, &ic, p), G->unary(0, op, &dg, &ig, p))) break;
        tb_down(&og);
        int64_t n = form == 1 ? R * Cc : form == 2 ? 1 : flat[0];
        cmp(what, odt, og.back, oc.h, n, rtol_of(odt, true), odt == NPG_FLOAT32 ? 1e-6 : 1e-14);
    }
    tb_free(&in);
    tb_free(&og);
    tb_free(&oc);
}

Test(cuda, unary_all_ops) {
    need_gpu();
    for (int op = 0; op < NPG_OP_COUNT; op++) {
        npg_family f = npg__op_info[op].family;
        if (f != NPG_FAM_UNARY && f != NPG_FAM_UNARY_P) continue;
        npg_kparams p;
        memset(&p, 0, sizeof p);
        if (op == NPG_OP_CLIP) p.f[0] = -0.5, p.f[1] = 1.5;
        if (op == NPG_OP_LEAKY_RELU) p.f[0] = 0.1;
        for (int k = 0; k < NDT; k++) {
            if (op == NPG_OP_ROUND) {
                p.i[0] = 1;
                run_unary((npg_op)op, alldt[k], &p);
                p.i[0] = -1;
            }
            run_unary((npg_op)op, alldt[k], &p);
        }
    }
}

static bool binary_bool_out(npg_op op) {
    npg_rule r = npg__op_info[op].rule;
    return r == NPG_RULE_CMP || r == NPG_RULE_LOGICAL;
}

static void run_binary(npg_op op, npg_dtype dt) {
    npg_dtype odt = binary_bool_out(op) ? NPG_BOOL : dt;
    bool shift = npg__op_info[op].rule == NPG_RULE_SHIFT;
    const int64_t R = 19, Cc = 53;
    tb a = tb_new(dt, R * Cc), b = tb_new(dt, R * Cc), og = tb_new(odt, R * Cc), oc = tb_new(odt, R * Cc);
    gen(&a, V_ANY);
    gen(&b, shift ? V_SMALL : V_ANY);
    tb_up(&a);
    tb_up(&b);
    char what[96];
    int64_t flat[1] = {R * Cc}, shape[2] = {R, Cc}, col[2] = {1, 0}, row[2] = {0, 1}, tr[2] = {1, R};
    for (int form = 0; form < 5; form++) {
        npg_tdesc ag, ac, bg, bc, dg, dc;
        dg = td(&og, true, 2, shape, NULL, 0), dc = td(&oc, false, 2, shape, NULL, 0);
        if (form == 0) { /* same shape, flat */
            ag = td(&a, true, 1, flat, NULL, 0), ac = td(&a, false, 1, flat, NULL, 0);
            bg = td(&b, true, 1, flat, NULL, 0), bc = td(&b, false, 1, flat, NULL, 0);
            dg = td(&og, true, 1, flat, NULL, 0), dc = td(&oc, false, 1, flat, NULL, 0);
        } else if (form == 1) { /* (R, 1) op (1, C) broadcast */
            ag = td(&a, true, 2, shape, col, 0), ac = td(&a, false, 2, shape, col, 0);
            bg = td(&b, true, 2, shape, row, 0), bc = td(&b, false, 2, shape, row, 0);
        } else if (form == 2) { /* array op weak scalar */
            ag = td(&a, true, 2, shape, NULL, 0), ac = td(&a, false, 2, shape, NULL, 0);
            bg = bc = scalar_desc(dt, shift ? 3.0 : 2.5, 3);
        } else if (form == 3) { /* weak scalar op transposed array */
            ag = ac = scalar_desc(dt, -1.5, -2);
            bg = td(&b, true, 2, shape, tr, 0), bc = td(&b, false, 2, shape, tr, 0);
        } else { /* misaligned flat (scalar vector path fallback) */
            int64_t n1[1] = {R * Cc - 1};
            ag = td(&a, true, 1, n1, NULL, 1), ac = td(&a, false, 1, n1, NULL, 1);
            bg = td(&b, true, 1, n1, NULL, 0), bc = td(&b, false, 1, n1, NULL, 0);
            dg = td(&og, true, 1, n1, NULL, 0), dc = td(&oc, false, 1, n1, NULL, 0);
        }
        snprintf(what, sizeof what, "%s(%s) form %d", npg__op_name(op), npg_dtype_name(dt), form);
        if (!both_ok(what, C->binary(0, op, &dc, &ac, &bc), G->binary(0, op, &dg, &ag, &bg))) break;
        tb_down(&og);
        cmp(what, odt, og.back, oc.h, form == 4 ? R * Cc - 1 : R * Cc, rtol_of(odt, true), odt == NPG_FLOAT32 ? 1e-6 : 1e-14);
    }
    tb_free(&a);
    tb_free(&b);
    tb_free(&og);
    tb_free(&oc);
}

Test(cuda, binary_all_ops) {
    need_gpu();
    for (int op = 0; op < NPG_OP_COUNT; op++) {
        if (npg__op_info[op].family != NPG_FAM_BINARY) continue;
        for (int k = 0; k < NDT; k++) run_binary((npg_op)op, alldt[k]);
    }
}

Test(cuda, where) {
    need_gpu();
    for (int k = 0; k < NDT; k++) {
        npg_dtype dt = alldt[k];
        const int64_t R = 31, Cc = 33;
        tb c = tb_new(NPG_BOOL, R), a = tb_new(dt, R * Cc), og = tb_new(dt, R * Cc), oc = tb_new(dt, R * Cc);
        gen(&c, V_ANY);
        gen(&a, V_ANY);
        tb_up(&c);
        tb_up(&a);
        int64_t shape[2] = {R, Cc}, col[2] = {1, 0};
        npg_tdesc cg = td(&c, true, 2, shape, col, 0), cc = td(&c, false, 2, shape, col, 0);
        npg_tdesc ag = td(&a, true, 2, shape, NULL, 0), ac = td(&a, false, 2, shape, NULL, 0);
        npg_tdesc s = scalar_desc(dt, 4.0, 4);
        npg_tdesc dg = td(&og, true, 2, shape, NULL, 0), dc = td(&oc, false, 2, shape, NULL, 0);
        if (both_ok("where", C->where(0, &dc, &cc, &ac, &s), G->where(0, &dg, &cg, &ag, &s))) {
            tb_down(&og);
            cmp("where", dt, og.back, oc.h, og.n, 0, 0);
        }
        tb_free(&c);
        tb_free(&a);
        tb_free(&og);
        tb_free(&oc);
    }
}

/* ---- reductions and scans --------------------------------------------------------------------------- */

/* in: a view of `in` storage (ndim, shape, strides, off) reducing the last nred axes */
/* odt0 == NPG_DTYPE_DEFAULT: the op's own output dtype; else that one (the
 * wide_int_sum form: bool / an integer into int64) */
static void run_reduce_into(npg_op op, npg_dtype dt, npg_dtype odt0, int ndim, const int64_t *shape,
                            const int64_t *st, int nred, int64_t nstore, const char *label) {
    npg_dtype odt = odt0 != NPG_DTYPE_DEFAULT                      ? odt0
                    : (op == NPG_OP_ARGMAX || op == NPG_OP_ARGMIN) ? NPG_INT64
                    : (op == NPG_OP_ALL || op == NPG_OP_ANY)       ? NPG_BOOL
                                                                   : dt;
    int64_t nout = 1;
    for (int i = 0; i < ndim - nred; i++) nout *= shape[i];
    tb in = tb_new(dt, nstore), og = tb_new(odt, nout), oc = tb_new(odt, nout);
    gen(&in, op == NPG_OP_PROD ? V_NEAR1 : (op == NPG_OP_SUM || op == NPG_OP_MEAN) ? V_PLAIN : V_ANY);
    tb_up(&in);
    npg_tdesc ig = td(&in, true, ndim, shape, st, 0), ic = td(&in, false, ndim, shape, st, 0);
    npg_tdesc dg = td(&og, true, ndim - nred, shape, NULL, 0), dc = td(&oc, false, ndim - nred, shape, NULL, 0);
    char what[128];
    snprintf(what, sizeof what, "%s %s", npg__op_name(op), label);
    if (both_ok(what, C->reduce(0, op, &dc, &ic, nred), G->reduce(0, op, &dg, &ig, nred))) {
        tb_down(&og);
        double rt = odt == NPG_FLOAT32 ? 2e-5 : odt == NPG_FLOAT64 ? 1e-11 : 0;
        cmp(what, odt, og.back, oc.h, nout, rt, rt);
    }
    tb_free(&in);
    tb_free(&og);
    tb_free(&oc);
}

static void run_reduce(npg_op op, npg_dtype dt, int ndim, const int64_t *shape, const int64_t *st, int nred,
                       int64_t nstore, const char *label) {
    run_reduce_into(op, dt, NPG_DTYPE_DEFAULT, ndim, shape, st, nred, nstore, label);
}

/* backend.h's wide_int_sum on both backends: bool and the narrow integers
 * summed / multiplied into int64 as they are read (sign-extended), uint64
 * into uint64; the CPU's results are the reference. */
Test(cuda, reduce_wide_int_sums) {
    need_gpu();
    cr_assert(C->wide_int_sum && G->wide_int_sum);
    static const npg_op ops[] = {NPG_OP_SUM, NPG_OP_PROD};
    for (size_t o = 0; o < 2; o++)
        for (int k = 0; k < NNARROW; k++) {
            const npg_op op = ops[o];
            const npg_dtype dt = narrowdt[k];
            int64_t s1[2] = {13, 1000};
            run_reduce_into(op, dt, NPG_INT64, 2, s1, NULL, 1, 13 * 1000, "wide rows (13,1000)");
            int64_t s2[2] = {64, 500}, t2[2] = {1, 64};
            run_reduce_into(op, dt, NPG_INT64, 2, s2, t2, 1, 64 * 500, "wide cols (64,500)^T");
            int64_t s3[3] = {5, 6, 7}, t3[3] = {1, 35, 5};
            run_reduce_into(op, dt, NPG_INT64, 3, s3, t3, 2, 210, "wide permuted (5,6,7)");
            int64_t s7[1] = {100003}; /* one row split over blocks: the single-pass path */
            run_reduce_into(op, dt, NPG_INT64, 1, s7, NULL, 1, 100003, "wide one long row");
            run_reduce_into(op, dt, NPG_INT64, 0, NULL, NULL, 0, 1, "wide 0-d");
            int64_t s6[2] = {4, 0};
            run_reduce_into(op, dt, NPG_INT64, 2, s6, NULL, 1, 0, "wide empty");
        }
    /* a wrong output dtype is an error on both */
    tb in = tb_new(NPG_INT8, 4), o = tb_new(NPG_INT32, 1);
    int64_t s[1] = {4};
    npg_tdesc ig = td(&in, true, 1, s, NULL, 0), og = td(&o, true, 0, s, NULL, 0);
    cr_expect_eq(G->reduce(0, NPG_OP_SUM, &og, &ig, 1), NPG_ERR_DTYPE, "%s", npg_last_error());
    npg_clear_error();
    tb_free(&in);
    tb_free(&o);
}

Test(cuda, reduce_all_ops) {
    need_gpu();
    static const npg_op ops[] = {NPG_OP_SUM, NPG_OP_MEAN, NPG_OP_PROD, NPG_OP_MAX, NPG_OP_MIN,
                                 NPG_OP_ALL, NPG_OP_ANY, NPG_OP_ARGMAX, NPG_OP_ARGMIN};
    for (size_t o = 0; o < sizeof ops / sizeof *ops; o++)
        for (int k = 0; k < NDT; k++) {
            npg_op op = ops[o];
            npg_dtype dt = alldt[k];
            int64_t s1[2] = {13, 1000};
            run_reduce(op, dt, 2, s1, NULL, 1, 13 * 1000, "rows (13,1000)");
            int64_t s2[2] = {64, 500}, t2[2] = {1, 64}; /* reduce an outer axis: columns */
            run_reduce(op, dt, 2, s2, t2, 1, 64 * 500, "cols (64,500)^T");
            int64_t s3[3] = {5, 6, 7}, t3[3] = {1, 35, 5}; /* permuted, 2 reduced axes */
            run_reduce(op, dt, 3, s3, t3, 2, 210, "permuted (5,6,7)");
            int64_t s4[2] = {3, 70001}, t4[2] = {1, 3}; /* few long strided columns */
            run_reduce(op, dt, 2, s4, t4, 1, 3 * 70001, "long strided rows");
            int64_t s7[1] = {20011}; /* one row split over blocks: the single-pass path */
            run_reduce(op, dt, 1, s7, NULL, 1, 20011, "one long row");
            int64_t s5[1] = {17};
            run_reduce(op, dt, 1, s5, NULL, 0, 17, "nred=0");
            run_reduce(op, dt, 0, NULL, NULL, 0, 1, "0-d");
            if (op != NPG_OP_MAX && op != NPG_OP_MIN && op != NPG_OP_ARGMAX && op != NPG_OP_ARGMIN) {
                int64_t s6[2] = {4, 0};
                run_reduce(op, dt, 2, s6, NULL, 1, 0, "empty");
            }
        }
}

Test(cuda, reduce_full_large) {
    need_gpu();
    static const npg_op ops[] = {NPG_OP_SUM, NPG_OP_MEAN, NPG_OP_MAX, NPG_OP_ARGMIN, NPG_OP_ANY};
    for (size_t o = 0; o < sizeof ops / sizeof *ops; o++) {
        int64_t s[1] = {(1 << 22) + 37};
        run_reduce(ops[o], NPG_FLOAT32, 1, s, NULL, 1, s[0], "full 4M+37");
        int64_t s2[2] = {3, 1 << 20};
        run_reduce(ops[o], NPG_FLOAT64, 2, s2, NULL, 1, 3 << 20, "3 x 1M rows");
    }
}

Test(cuda, argmax_ties_and_nan) {
    need_gpu();
    const float v[8] = {1, 5, 5, -2, NAN, 7, NAN, -9};
    tb in = tb_new(NPG_FLOAT32, 8), o = tb_new(NPG_INT64, 2);
    memcpy(in.h, v, sizeof v);
    tb_up(&in);
    int64_t shape[2] = {2, 4};
    npg_tdesc ig = td(&in, true, 2, shape, NULL, 0), og = td(&o, true, 1, shape, NULL, 0);
    cr_assert_eq(G->reduce(0, NPG_OP_ARGMAX, &og, &ig, 1), NPG_OK);
    tb_down(&o);
    cr_assert_eq(((int64_t *)o.back)[0], 1); /* first of the tied 5s */
    cr_assert_eq(((int64_t *)o.back)[1], 0); /* the first NaN */
    cr_assert_eq(G->reduce(0, NPG_OP_ARGMIN, &og, &ig, 1), NPG_OK);
    tb_down(&o);
    cr_assert_eq(((int64_t *)o.back)[0], 3);
    cr_assert_eq(((int64_t *)o.back)[1], 0);
    tb_free(&in);
    tb_free(&o);
}

/* odt: the output dtype (dt, or int64: the wide_int_scan form) */
static void run_scan_into(npg_op op, npg_dtype dt, npg_dtype odt, int ndim, const int64_t *shape, const int64_t *st,
                          int axis, int64_t nstore, const char *label) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    tb in = tb_new(dt, nstore), og = tb_new(odt, n), oc = tb_new(odt, n);
    gen(&in, op == NPG_OP_CUMPROD ? V_NEAR1 : V_PLAIN);
    tb_up(&in);
    npg_tdesc ig = td(&in, true, ndim, shape, st, 0), ic = td(&in, false, ndim, shape, st, 0);
    npg_tdesc dg = td(&og, true, ndim, shape, NULL, 0), dc = td(&oc, false, ndim, shape, NULL, 0);
    char what[128];
    snprintf(what, sizeof what, "%s %s", npg__op_name(op), label);
    if (both_ok(what, C->scan(0, op, &dc, &ic, axis), G->scan(0, op, &dg, &ig, axis))) {
        tb_down(&og);
        double rt = dt == NPG_FLOAT32 ? 1e-5 : dt == NPG_FLOAT64 ? 1e-11 : 0;
        cmp(what, odt, og.back, oc.h, n, rt, rt * 10);
    }
    tb_free(&in);
    tb_free(&og);
    tb_free(&oc);
}

static void run_scan(npg_op op, npg_dtype dt, int ndim, const int64_t *shape, const int64_t *st, int axis,
                     int64_t nstore, const char *label) {
    run_scan_into(op, dt, dt, ndim, shape, st, axis, nstore, label);
}

/* backend.h's wide_int_scan on both backends: bool and the narrower
 * integers scanned into int64 as they are read (sign-extended); the CPU's
 * results are the reference. */
Test(cuda, scan_wide_ints) {
    need_gpu();
    cr_assert(C->wide_int_scan && G->wide_int_scan);
    static const npg_op ops[] = {NPG_OP_CUMSUM, NPG_OP_CUMPROD};
    for (int o = 0; o < 2; o++)
        for (int k = 0; k < NNARROW; k++) {
            const npg_dtype dt = narrowdt[k];
            int64_t s1[2] = {7, 300};
            run_scan_into(ops[o], dt, NPG_INT64, 2, s1, NULL, 1, 2100, "wide (7,300) axis 1");
            run_scan_into(ops[o], dt, NPG_INT64, 2, s1, NULL, 0, 2100, "wide (7,300) axis 0");
            int64_t s2[2] = {3, 20000};
            run_scan_into(ops[o], dt, NPG_INT64, 2, s2, NULL, 1, 60000, "wide (3,20000) axis 1");
            int64_t s4[3] = {4, 5, 6}, t4[3] = {30, 1, 5};
            run_scan_into(ops[o], dt, NPG_INT64, 3, s4, t4, 1, 120, "wide (4,5,6) permuted axis 1");
            run_scan_into(ops[o], dt, NPG_INT64, 0, NULL, NULL, 0, 1, "wide 0-d");
        }
}

Test(cuda, scan) {
    need_gpu();
    static const npg_op ops[] = {NPG_OP_CUMSUM, NPG_OP_CUMPROD};
    for (int o = 0; o < 2; o++)
        for (int k = 0; k < NDT; k++) {
            npg_dtype dt = alldt[k];
            int64_t s1[2] = {7, 300};
            run_scan(ops[o], dt, 2, s1, NULL, 1, 2100, "(7,300) axis 1");
            run_scan(ops[o], dt, 2, s1, NULL, 0, 2100, "(7,300) axis 0");
            int64_t s2[2] = {3, 20000};
            run_scan(ops[o], dt, 2, s2, NULL, 1, 60000, "(3,20000) axis 1");
            int64_t s3[2] = {20000, 2}, t3[2] = {1, 20000};
            run_scan(ops[o], dt, 2, s3, t3, 0, 40000, "(20000,2)^T axis 0");
            int64_t s4[3] = {4, 5, 6}, t4[3] = {30, 1, 5};
            run_scan(ops[o], dt, 3, s4, t4, 1, 120, "(4,5,6) permuted axis 1");
        }
}

/* ---- indexing ------------------------------------------------------------------------------------------- */

Test(cuda, gather_scatter_add_and_index_flag) {
    need_gpu();
    const int64_t R = 6, Cc = 9, Ci = 4;
    for (int k = 0; k < NDT; k++) {
        npg_dtype dt = alldt[k];
        tb in = tb_new(dt, R * Cc), idx = tb_new(NPG_INT64, R * Ci), og = tb_new(dt, R * Ci), oc = tb_new(dt, R * Ci);
        gen(&in, V_ANY);
        for (int64_t i = 0; i < R * Ci; i++) put(&idx, i, 0, (int64_t)(xr() % (2 * Cc)) - Cc); /* [-C, C) */
        tb_up(&in);
        tb_up(&idx);
        int64_t ishape[2] = {R, Cc}, oshape[2] = {R, Ci};
        npg_tdesc ig = td(&in, true, 2, ishape, NULL, 0), ic = td(&in, false, 2, ishape, NULL, 0);
        npg_tdesc xg = td(&idx, true, 2, oshape, NULL, 0), xc = td(&idx, false, 2, oshape, NULL, 0);
        npg_tdesc dg = td(&og, true, 2, oshape, NULL, 0), dc = td(&oc, false, 2, oshape, NULL, 0);
        cr_assert_eq(C->gather(0, &dc, &ic, &xc, 1), NPG_OK, "%s", npg_last_error());
        cr_assert_eq(G->gather(0, &dg, &ig, &xg, 1), NPG_OK, "%s", npg_last_error());
        tb_down(&og);
        cmp("gather", dt, og.back, oc.h, og.n, 0, 0);
        /* scatter_add back into a copy of in, duplicates accumulating */
        tb acc = tb_new(dt, R * Cc);
        memcpy(acc.h, in.h, in.es * (size_t)in.n);
        tb_up(&acc);
        npg_tdesc ag = td(&acc, true, 2, ishape, NULL, 0), ac = td(&acc, false, 2, ishape, NULL, 0);
        npg_tdesc sg = td(&og, true, 2, oshape, NULL, 0), sc = td(&oc, false, 2, oshape, NULL, 0);
        if (both_ok("scatter_add", C->scatter_add(0, &ac, &sc, &xc, 1), G->scatter_add(0, &ag, &sg, &xg, 1))) {
            tb_down(&acc);
            cmp("scatter_add", dt, acc.back, acc.h, acc.n, rtol_of(dt, true), 1e-5); /* atomics: any order */
        }
        tb_free(&acc);
        tb_free(&in);
        tb_free(&idx);
        tb_free(&og);
        tb_free(&oc);
    }
    /* an out-of-range index: 0 written, reported by the next synchronising call, then cleared */
    tb in = tb_new(NPG_FLOAT32, 8), idx = tb_new(NPG_INT64, 2), o = tb_new(NPG_FLOAT32, 2);
    for (int i = 0; i < 8; i++) put(&in, i, i + 1, 0);
    put(&idx, 0, 0, -8);
    put(&idx, 1, 0, 8);
    tb_up(&in);
    tb_up(&idx);
    int64_t s8[1] = {8}, s2[1] = {2};
    npg_tdesc ig = td(&in, true, 1, s8, NULL, 0), xg = td(&idx, true, 1, s2, NULL, 0), dg = td(&o, true, 1, s2, NULL, 0);
    cr_assert_eq(G->gather(0, &dg, &ig, &xg, 0), NPG_OK);
    cr_assert_eq(G->synchronize(0), NPG_ERR_INDEX);
    npg_clear_error();
    cr_assert_eq(G->synchronize(0), NPG_OK);
    tb_down(&o);
    cr_assert_eq(((float *)o.back)[0], 1.0f);
    cr_assert_eq(((float *)o.back)[1], 0.0f);
    tb_free(&in);
    tb_free(&idx);
    tb_free(&o);
}

Test(cuda, nonzero) {
    need_gpu();
    for (int k = 0; k < NDT; k++) {
        npg_dtype dt = alldt[k];
        int64_t shape[3] = {7, 11, 13}, n = 7 * 11 * 13, count = 0;
        tb in = tb_new(dt, n);
        for (int64_t i = 0; i < n; i++) {
            int z = xr() % 3 == 0;
            put(&in, i, z ? (i % 2 ? -0.0 : 0.0) : (i % 5 ? 1.5 : NAN), z ? 0 : 2);
            count += !z;
        }
        tb_up(&in);
        tb og = tb_new(NPG_INT64, 3 * count), oc = tb_new(NPG_INT64, 3 * count);
        int64_t oshape[2] = {3, count};
        npg_tdesc ig = td(&in, true, 3, shape, NULL, 0), ic = td(&in, false, 3, shape, NULL, 0);
        npg_tdesc dg = td(&og, true, 2, oshape, NULL, 0), dc = td(&oc, false, 2, oshape, NULL, 0);
        cr_assert_eq(C->nonzero(0, &dc, &ic), NPG_OK, "%s", npg_last_error());
        cr_assert_eq(G->nonzero(0, &dg, &ig), NPG_OK, "%s", npg_last_error());
        tb_down(&og);
        cmp("nonzero", NPG_INT64, og.back, oc.h, og.n, 0, 0);
        tb_free(&in);
        tb_free(&og);
        tb_free(&oc);
    }
}

/* ---- sort ------------------------------------------------------------------------------------------------- */

static void run_sort(npg_dtype dt, int64_t rows, int64_t len, bool desc, int which) {
    int64_t n = rows * len, shape[2] = {rows, len};
    tb in = tb_new(dt, n), vg = tb_new(dt, n), vc = tb_new(dt, n), ig = tb_new(NPG_INT64, n), ic = tb_new(NPG_INT64, n);
    gen(&in, V_ANY);
    for (int64_t i = 0; i < n; i += 3) put(&in, i, 1.0, 1); /* many ties */
    tb_up(&in);
    npg_tdesc xg = td(&in, true, 2, shape, NULL, 0), xc = td(&in, false, 2, shape, NULL, 0);
    npg_tdesc dvg = td(&vg, true, 2, shape, NULL, 0), dvc = td(&vc, false, 2, shape, NULL, 0);
    npg_tdesc dig = td(&ig, true, 2, shape, NULL, 0), dic = td(&ic, false, 2, shape, NULL, 0);
    char what[96];
    snprintf(what, sizeof what, "sort %lldx%lld %s %d", (long long)rows, (long long)len, desc ? "desc" : "asc", which);
    npg_status sc = C->sort(0, which & 1 ? &dvc : NULL, which & 2 ? &dic : NULL, &xc, desc);
    npg_status sg = G->sort(0, which & 1 ? &dvg : NULL, which & 2 ? &dig : NULL, &xg, desc);
    if (both_ok(what, sc, sg)) {
        if (which & 1) {
            tb_down(&vg);
            cmp(what, dt, vg.back, vc.h, n, 0, 0);
        }
        if (which & 2) {
            tb_down(&ig);
            cmp(what, NPG_INT64, ig.back, ic.h, n, 0, 0);
        }
    }
    tb_free(&in);
    tb_free(&vg);
    tb_free(&vc);
    tb_free(&ig);
    tb_free(&ic);
}

Test(cuda, sort) {
    need_gpu();
    for (int k = 0; k < NDT; k++)
        for (int desc = 0; desc < 2; desc++) {
            run_sort(alldt[k], 1, 5000, desc, 3);
            run_sort(alldt[k], 37, 100, desc, 3);
            run_sort(alldt[k], 300, 7, desc, 1);
            run_sort(alldt[k], 5, 3001, desc, 2);
        }
}

/* ---- matmul ----------------------------------------------------------------------------------------------- */

/* out (B, M, N) = a (B, M, K) @ b (B, K, N); ta/tb: operand stored transposed;
 * a's batch stride 0 when bcast. Reference in long double / wrapping ints. */
static void run_matmul(npg_dtype dt, int64_t B, int64_t M, int64_t K, int64_t N, bool ta, bool tbt, bool bcast,
                       bool tf32) {
    tb a = tb_new(dt, B * M * K + 1), b = tb_new(dt, B * K * N + 1), o = tb_new(dt, B * M * N + 1);
    gen(&a, dt == NPG_BOOL ? V_ANY : V_PLAIN);
    gen(&b, dt == NPG_BOOL ? V_ANY : V_PLAIN);
    tb_up(&a);
    tb_up(&b);
    int64_t ash[3] = {B, M, K}, bsh[3] = {B, K, N}, osh[3] = {B, M, N};
    int64_t ast[3] = {bcast ? 0 : M * K, ta ? 1 : K, ta ? M : 1};
    int64_t bst[3] = {K * N, tbt ? 1 : N, tbt ? K : 1};
    npg_tdesc ag = td(&a, true, 3, ash, ast, 0), bg = td(&b, true, 3, bsh, bst, 0), og = td(&o, true, 3, osh, NULL, 0);
    cr_assert_eq(G->matmul(0, &og, &ag, &bg, tf32), NPG_OK, "matmul: %s", npg_last_error());
    tb_down(&o);
    char what[96];
    snprintf(what, sizeof what, "matmul %s B%lld %lldx%lldx%lld ta%d tb%d bc%d", npg_dtype_name(dt), (long long)B,
             (long long)M, (long long)K, (long long)N, ta, tbt, bcast);
    for (int64_t z = 0; z < B; z++)
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                long double sf = 0;
                uint64_t si = 0;
                for (int64_t k = 0; k < K; k++) {
                    int64_t ia = z * ast[0] + i * ast[1] + k * ast[2], ib = z * bst[0] + k * bst[1] + j * bst[2];
                    if (dt == NPG_FLOAT32 || dt == NPG_FLOAT64)
                        sf += (long double)getf(dt, a.h, ia) * getf(dt, b.h, ib);
                    else if (dt == NPG_BOOL)
                        si |= (uint64_t)(geti(dt, a.h, ia) && geti(dt, b.h, ib));
                    else
                        si += (uint64_t)geti(dt, a.h, ia) * (uint64_t)geti(dt, b.h, ib);
                }
                int64_t io = (z * M + i) * N + j;
                if (dt == NPG_FLOAT32 || dt == NPG_FLOAT64) {
                    double got = getf(dt, o.back, io), tol = (tf32 ? 1e-2 : dt == NPG_FLOAT32 ? 1e-4 : 1e-12) * (1 + K);
                    if (fabs(got - (double)sf) > tol)
                        cr_assert_fail("%s: [%lld,%lld,%lld] got %.10g want %.10g", what, (long long)z, (long long)i,
                                       (long long)j, got, (double)sf);
                } else {
                    tb w = {dt, 1, o.es, NULL, NULL, NULL};
                    char buf[8];
                    w.h = buf;
                    put(&w, 0, 0, (int64_t)si);
                    cr_assert_eq(geti(dt, o.back, io), geti(dt, buf, 0), "%s: [%lld,%lld,%lld]", what, (long long)z,
                                 (long long)i, (long long)j);
                }
            }
    tb_free(&a);
    tb_free(&b);
    tb_free(&o);
}

Test(cuda, matmul) {
    need_gpu();
    for (int k = 0; k < NDT; k++)
        for (int t = 0; t < 4; t++) {
            run_matmul(alldt[k], 1, 33, 17, 29, t & 1, t & 2, false, false);
            run_matmul(alldt[k], 3, 5, 40, 6, t & 1, t & 2, t == 3, false);
        }
    run_matmul(NPG_FLOAT32, 2, 64, 64, 64, false, false, false, true);
    run_matmul(NPG_FLOAT32, 1, 1, 5, 1, false, false, false, false);
    /* K == 0: zeros */
    tb a = tb_new(NPG_FLOAT32, 1), b = tb_new(NPG_FLOAT32, 1), o = tb_new(NPG_FLOAT32, 12);
    for (int i = 0; i < 12; i++) put(&o, i, 5, 5);
    tb_up(&o);
    int64_t ash[2] = {3, 0}, bsh[2] = {0, 4}, osh[2] = {3, 4};
    npg_tdesc ag = td(&a, true, 2, ash, NULL, 0), bg = td(&b, true, 2, bsh, NULL, 0), og = td(&o, true, 2, osh, NULL, 0);
    cr_assert_eq(G->matmul(0, &og, &ag, &bg, false), NPG_OK);
    tb_down(&o);
    for (int i = 0; i < 12; i++) cr_assert_eq(((float *)o.back)[i], 0.0f);
    tb_free(&a);
    tb_free(&b);
    tb_free(&o);
}

/* ---- random ------------------------------------------------------------------------------------------------- */

static void run_random(npg_op op, npg_dtype dt, int64_t n, int64_t off, const npg_kparams *p, double rtol) {
    tb og = tb_new(dt, n + off), oc = tb_new(dt, n + off);
    int64_t shape[1] = {n};
    npg_tdesc dg = td(&og, true, 1, shape, NULL, off), dc = td(&oc, false, 1, shape, NULL, off);
    const uint64_t seed = 0x123456789abcdefull, stream = 77;
    cr_assert_eq(C->random(0, op, &dc, seed, stream, p), NPG_OK, "%s", npg_last_error());
    cr_assert_eq(G->random(0, op, &dg, seed, stream, p), NPG_OK, "%s", npg_last_error());
    tb_down(&og);
    char what[64];
    snprintf(what, sizeof what, "%s n=%lld off=%lld", npg__op_name(op), (long long)n, (long long)off);
    cmp(what, dt, og.back + off * (int64_t)og.es, oc.h + off * (int64_t)oc.es, n, rtol, rtol);
    tb_free(&og);
    tb_free(&oc);
}

Test(cuda, random_matches_cpu) {
    need_gpu();
    npg_kparams p;
    memset(&p, 0, sizeof p);
    p.f[0] = -2, p.f[1] = 3;
    for (int off = 0; off < 2; off++) {
        run_random(NPG_OP_RAND_UNIFORM, NPG_FLOAT32, 100003, off, &p, 0); /* bit-identical */
        run_random(NPG_OP_RAND_UNIFORM, NPG_FLOAT64, 100003, off, &p, 0);
        run_random(NPG_OP_RAND_NORMAL, NPG_FLOAT32, 100003, off, &p, 4e-6); /* a few ulp */
        run_random(NPG_OP_RAND_NORMAL, NPG_FLOAT64, 100003, off, &p, 1e-13);
    }
    p.i[0] = -5, p.i[1] = 250;
    run_random(NPG_OP_RAND_INT, NPG_UINT8, 1001, 0, &p, 0);
    p.i[0] = INT32_MIN, p.i[1] = INT32_MAX;
    run_random(NPG_OP_RAND_INT, NPG_INT32, 1001, 1, &p, 0);
    p.i[0] = INT64_MIN, p.i[1] = INT64_MAX;
    run_random(NPG_OP_RAND_INT, NPG_INT64, 1001, 0, &p, 0);
    /* the new integer types: each one's full range (uint64: as far as int64
     * bounds reach), then a range wider than the type (the draw wraps) */
    static const int64_t nlo[5] = {INT8_MIN, INT16_MIN, 0, 0, 0};
    static const int64_t nhi[5] = {(int64_t)INT8_MAX + 1, (int64_t)INT16_MAX + 1, (int64_t)UINT16_MAX + 1,
                                   (int64_t)UINT32_MAX + 1, INT64_MAX};
    for (int k = 0; k < 5; k++) {
        p.i[0] = nlo[k], p.i[1] = nhi[k];
        run_random(NPG_OP_RAND_INT, newints[k], 1001, k % 2, &p, 0);
        p.i[0] = INT64_MIN, p.i[1] = INT64_MAX;
        run_random(NPG_OP_RAND_INT, newints[k], 1001, 1 - k % 2, &p, 0);
    }

    /* uniform bits against rng.h directly (independent of the CPU backend) */
    tb o = tb_new(NPG_FLOAT32, 10);
    int64_t s10[1] = {10};
    npg_tdesc od = td(&o, true, 1, s10, NULL, 0);
    p.f[0] = 0, p.f[1] = 1;
    cr_assert_eq(G->random(0, NPG_OP_RAND_UNIFORM, &od, 42, 3, &p), NPG_OK);
    tb_down(&o);
    for (int i = 0; i < 10; i++) {
        uint32_t w[4];
        npg__philox_block(42, 3, (uint64_t)(i / 4), w);
        cr_assert_eq(((float *)o.back)[i], npg__u32_to_unit_f32(w[i % 4]), "uniform element %d", i);
    }
    tb_free(&o);
}

/* ---- errors --------------------------------------------------------------------------------------------------- */

Test(cuda, unsupported_is_an_error) {
    need_gpu();
    tb a = tb_new(NPG_INT32, 4), o = tb_new(NPG_INT32, 4);
    int64_t s[1] = {4};
    npg_tdesc ad = td(&a, true, 1, s, NULL, 0), od = td(&o, true, 1, s, NULL, 0);
    cr_assert_eq(G->unary(0, NPG_OP_EXP, &od, &ad, NULL), NPG_ERR_UNSUPPORTED);
    cr_assert(strstr(npg_last_error(), "exp") != NULL, "%s", npg_last_error());
    npg_clear_error();
    cr_assert_eq(G->binary(0, NPG_OP_DIVIDE, &od, &ad, &ad), NPG_ERR_UNSUPPORTED);
    npg_clear_error();
    cr_assert_eq(G->reduce(0, NPG_OP_MEAN, &od, &ad, 0), NPG_ERR_UNSUPPORTED);
    npg_clear_error();
    cr_assert_eq(G->random(0, NPG_OP_RAND_NORMAL, &od, 1, 0, NULL), NPG_ERR_UNSUPPORTED);
    npg_clear_error();
    cr_assert_eq(G->synchronize(0), NPG_OK);
    tb_free(&a);
    tb_free(&o);
    /* the new integer types are refused by the float-only ops too, as on the CPU */
    npg_kparams p;
    memset(&p, 0, sizeof p);
    p.f[1] = 1;
    for (int k = 0; k < 5; k++) {
        npg_dtype dt = newints[k];
        tb x = tb_new(dt, 4), y = tb_new(dt, 4);
        npg_tdesc xd = td(&x, true, 1, s, NULL, 0), yd = td(&y, true, 1, s, NULL, 0);
        cr_assert_eq(G->unary(0, NPG_OP_EXP, &yd, &xd, NULL), NPG_ERR_UNSUPPORTED, "exp %s", npg_dtype_name(dt));
        cr_assert(strstr(npg_last_error(), npg_dtype_name(dt)) != NULL, "%s", npg_last_error());
        npg_clear_error();
        cr_assert_eq(G->unary(0, NPG_OP_SQRT, &yd, &xd, NULL), NPG_ERR_UNSUPPORTED, "sqrt %s", npg_dtype_name(dt));
        npg_clear_error();
        cr_assert_eq(G->binary(0, NPG_OP_DIVIDE, &yd, &xd, &xd), NPG_ERR_UNSUPPORTED, "divide %s", npg_dtype_name(dt));
        npg_clear_error();
        cr_assert_eq(G->binary(0, NPG_OP_ATAN2, &yd, &xd, &xd), NPG_ERR_UNSUPPORTED, "atan2 %s", npg_dtype_name(dt));
        npg_clear_error();
        cr_assert_eq(G->reduce(0, NPG_OP_MEAN, &yd, &xd, 0), NPG_ERR_UNSUPPORTED, "mean %s", npg_dtype_name(dt));
        npg_clear_error();
        cr_assert_eq(G->random(0, NPG_OP_RAND_UNIFORM, &yd, 1, 0, &p), NPG_ERR_UNSUPPORTED, "uniform %s",
                     npg_dtype_name(dt));
        npg_clear_error();
        cr_assert_eq(G->random(0, NPG_OP_RAND_NORMAL, &yd, 1, 0, &p), NPG_ERR_UNSUPPORTED, "normal %s",
                     npg_dtype_name(dt));
        npg_clear_error();
        tb_free(&x);
        tb_free(&y);
    }
    cr_assert_eq(G->synchronize(0), NPG_OK);
}
