/*
 * ops_shared.h — small host-side helpers shared by the table-driven op
 * suites in tests/ops: shape literals, the view kinds inputs are built as,
 * and flat/broadcast index arithmetic for the float64 references.
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
