/*
 * ops_shared.h — small host-side helpers shared by the table-driven op
 * suites in tests/ops: shape literals, the view kinds inputs are built as,
 * flat/broadcast index arithmetic for the float64 references, and exact
 * reads and checks of integer dtypes' bits where a double cannot hold the
 * value (their widths, ranges and wrapping are test_util.h's).
 */
#ifndef NPG_OPS_SHARED_H
#define NPG_OPS_SHARED_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "npg.h"
#include "scalar_ops.h" /* the half types' rounding */
#include "test_util.h"

#define SH(...) {.ndim = (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), .dims = {__VA_ARGS__}}
#define SH0 {.ndim = 0}

/* How an input is laid out: contiguous, a transposed view, a step-2 slice,
 * or a reversed (negative-stride) view. */
typedef enum { V_C, V_T, V_S2, V_NEG } vkind;
__attribute__((unused)) static const char *const VNAME[] = {"contiguous", "transposed", "step-2 slice", "reversed"};

/* v as stored in the floating dtype dt (float64: v itself). */
static inline double qfloat(double v, npg_dtype dt) {
    if (dt == NPG_FLOAT16) return npg_s_f16_to_f32(npg_s_f64_to_f16(v));
    if (dt == NPG_BFLOAT16) return npg_s_bf16_to_f32(npg_s_f64_to_bf16(v));
    return dt == NPG_FLOAT32 ? (double)(float)v : v;
}
/* ---- the integer dtypes (npg.h: two's complement, wrapping) ----------- */
/* Every integer dtype: signed narrow to wide, then unsigned. */
__attribute__((unused)) static const npg_dtype INT_DTS[8] = {NPG_INT8,  NPG_INT16,  NPG_INT32,  NPG_INT64,
                                                             NPG_UINT8, NPG_UINT16, NPG_UINT32, NPG_UINT64};
/* Widths, ranges and wrapping: t_is_unsigned, t_is_int, t_int_bits,
 * t_int_min / t_int_max, t_wrap_bits, t_wrap_val, t_get_bits (test_util.h). */
/* The elements of an integer or bool array, exactly: each value's bits as
 * t_wrap_bits gives them (malloc'd, row-major). */
static inline uint64_t *read_bits(const npg_array *x) {
    npg_dtype d = npg_dtype_of(x);
    int64_t n = npg_size(x);
    size_t sz = npg_dtype_size(d);
    uint64_t *out = malloc(sizeof(uint64_t) * (size_t)(n + 1));
    unsigned char *raw = malloc(sz * (size_t)(n + 1));
    cr_assert(out && raw && (d == NPG_BOOL || t_is_int(d)), "read_bits: %s", npg_dtype_name(d));
    if (n > 0) {
        npg_array *c = npg_astype((npg_array *)x, d); /* a contiguous copy */
        cr_assert(c && npg_copy_to_host(c, raw, sz * (size_t)n) == NPG_OK, "read_bits: %s", npg_last_error());
        npg_free(c);
    }
    for (int64_t i = 0; i < n; i++) out[i] = t_get_bits(d, raw, i);
    free(raw);
    return out;
}

/* A 1-d integer array of dtype dt from two's-complement bits (wrapped to
 * dt by the cast), on the test device. */
static inline npg_array *from_bits(const uint64_t *v, int n, npg_dtype dt) {
    npg_array *x = npg_from_data(v, NPG_UINT64, (npg_shape){.ndim = 1, .dims = {n}}, NPG_OPTS(.dtype = dt, .device = t_dev()));
    cr_assert(x, "from_bits: %s", npg_last_error());
    return x;
}
/* Expect y to have dtype dt and exactly the values want (as t_wrap_bits
 * gives them; signed values may be written (uint64_t)-5). */
static inline bool expect_bits(const npg_array *y, npg_dtype dt, const uint64_t *want, int n, const char *what) {
    cr_expect(y != NULL, "%s: NULL: %s", what, npg_last_error());
    if (!y) return false;
    cr_expect_eq(npg_dtype_of(y), dt, "%s: dtype %s, want %s", what, npg_dtype_name(npg_dtype_of(y)), npg_dtype_name(dt));
    cr_expect_eq(npg_size(y), n, "%s: %lld elements, want %d", what, (long long)npg_size(y), n);
    if (npg_dtype_of(y) != dt || npg_size(y) != n) return false;
    uint64_t *got = read_bits(y);
    bool ok = true;
    for (int i = 0; i < n && ok; i++)
        if (got[i] != t_wrap_bits(dt, want[i])) {
            cr_expect(0, "%s: element %d: got %llu (%lld), want %llu (%lld)", what, i, (unsigned long long)got[i], (long long)got[i],
                      (unsigned long long)t_wrap_bits(dt, want[i]), (long long)t_wrap_bits(dt, want[i]));
            ok = false;
        }
    free(got);
    return ok;
}
/* A uint64_t[] literal and its length. */
#define UB64(...) ((const uint64_t[]){__VA_ARGS__})
#define N_UB64(...) ((int)(sizeof(UB64(__VA_ARGS__)) / sizeof(uint64_t)))

static inline int64_t numel(npg_shape s) {
    int64_t n = 1;
    for (int i = 0; i < s.ndim; i++) n *= s.dims[i];
    return n;
}
/* "(3,4)" into buf (64 bytes are enough for 8 dims). */
static inline char *sstr(npg_shape s, char *buf) {
    int k = sprintf(buf, "(");
    for (int i = 0; i < s.ndim; i++) k += sprintf(buf + k, i ? ",%lld" : "%lld", (long long)s.dims[i]);
    sprintf(buf + k, s.ndim == 1 ? ",)" : ")");
    return buf;
}
static inline bool same_shape(npg_shape a, npg_shape b) {
    if (a.ndim != b.ndim) return false;
    for (int i = 0; i < a.ndim; i++)
        if (a.dims[i] != b.dims[i]) return false;
    return true;
}
static inline void unravel(int64_t k, npg_shape s, int64_t *idx) {
    for (int i = s.ndim - 1; i >= 0; i--) idx[i] = k % s.dims[i], k /= s.dims[i];
}
static inline int64_t ravel(const int64_t *idx, npg_shape s) {
    int64_t off = 0;
    for (int i = 0; i < s.ndim; i++) off = off * s.dims[i] + idx[i];
    return off;
}
/* The broadcast shape of a and b (assumed compatible). */
static inline npg_shape bshape(npg_shape a, npg_shape b) {
    npg_shape o = {.ndim = a.ndim > b.ndim ? a.ndim : b.ndim};
    for (int i = 0; i < o.ndim; i++) {
        int ia = i - (o.ndim - a.ndim), ib = i - (o.ndim - b.ndim);
        int64_t da = ia >= 0 ? a.dims[ia] : 1, db = ib >= 0 ? b.dims[ib] : 1;
        o.dims[i] = da == 1 ? db : da;
    }
    return o;
}
/* Flat index into `in` of element k of the broadcast shape `out`. */
static inline int64_t bidx(int64_t k, npg_shape out, npg_shape in) {
    int64_t off = 0, mul = 1;
    for (int i = out.ndim - 1, j = in.ndim - 1; i >= 0; i--, j--) {
        int64_t ii = k % out.dims[i];
        k /= out.dims[i];
        if (j >= 0) {
            off += (in.dims[j] == 1 ? 0 : ii) * mul;
            mul *= in.dims[j];
        }
    }
    return off;
}

/* The base array a vk view of logical shape s is cut from. */
static inline npg_shape base_shape(npg_shape s, vkind vk) {
    npg_shape b = s;
    if (vk == V_T)
        for (int i = 0; i < s.ndim; i++) b.dims[i] = s.dims[s.ndim - 1 - i];
    if (vk == V_S2) b.dims[s.ndim - 1] = 2 * s.dims[s.ndim - 1] + 1;
    return b;
}
/* The vk view of base (a new array, or base itself for V_C). */
static inline npg_array *view_of(npg_array *base, vkind vk) {
    if (vk == V_T) return npg_T(base);
    if (vk == V_S2) return NPG_INDEX(base, NPG_ELLIPSIS, NPG_SLICE(1, NPG_NONE, 2));
    if (vk == V_NEG) return NPG_INDEX(base, NPG_SLICE(NPG_NONE, NPG_NONE, -1));
    return base;
}
/* Row-major offset in the base (shape bs) of element k of the vk view of
 * logical shape s. */
static inline int64_t view_offset(int64_t k, npg_shape s, vkind vk, npg_shape bs) {
    int64_t idx[NPG_MAX_DIMS] = {0}, bi[NPG_MAX_DIMS] = {0}; /* zeroed: GCC cannot see ravel reads only s.ndim of them */
    unravel(k, s, idx);
    for (int i = 0; i < s.ndim; i++) {
        bi[i] = vk == V_T ? idx[s.ndim - 1 - i] : idx[i];
        if (vk == V_S2 && i == s.ndim - 1) bi[i] = 1 + 2 * idx[i];
        if (vk == V_NEG && i == 0) bi[i] = s.dims[0] - 1 - idx[0];
    }
    return ravel(bi, bs);
}

/* Analytical gradient of sum(y) with respect to x, read back (malloc'd). */
static inline double *grad_of_sum(npg_array *y, npg_array *x) {
    npg_array *s = npg_sum(y, NPG_ALL_AXES, false), *g = NULL;
    cr_assert_eq(npg_grad_of(&s, 1, NULL, &x, 1, &g, NULL), NPG_OK, "grad_of: %s", npg_last_error());
    double *h = t_read(g);
    npg_free(g);
    return h;
}

/* |g - w| <= atol + rtol |w|; NaN matches NaN, infinities must be equal. */
static inline bool close1(double g, double w, double rtol, double atol) {
    if (isnan(w)) return isnan(g);
    if (isinf(w)) return g == w;
    return fabs(g - w) <= atol + rtol * fabs(w);
}
/* y's elements against want (expect, not assert: the suite goes on);
 * false at the first mismatch, which is reported with its index. */
static inline bool expect_vals(const npg_array *y, const double *want, int64_t n, double rtol, double atol,
                               const char *label) {
    double *got = t_read(y);
    for (int64_t i = 0; i < n; i++)
        if (!close1(got[i], want[i], rtol, atol)) {
            cr_expect(0, "%s: element %lld: got %.17g, want %.17g", label, (long long)i, got[i], want[i]);
            free(got);
            return false;
        }
    free(got);
    return true;
}

#endif
