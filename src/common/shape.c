/*
 * shape.c — shapes, strides, broadcasting and axis normalisation.
 */
#include "internal.h"

int64_t npg__numel(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    return n;
}

void npg__contiguous_strides(int ndim, const int64_t *shape, int64_t *strides) {
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        strides[i] = s;
        s *= shape[i] > 0 ? shape[i] : 1;
    }
}

bool npg__is_contiguous(const npg_array *x) {
    int64_t expect = 1;
    for (int i = x->ndim - 1; i >= 0; i--) {
        if (x->shape[i] == 0) return true;
        if (x->shape[i] != 1 && x->strides[i] != expect) return false;
        expect *= x->shape[i];
    }
    return true;
}

bool npg__broadcast_shapes(const char *fn, int na, const int64_t *a, int nb, const int64_t *b, int *nout,
                           int64_t *out) {
    int n = na > nb ? na : nb;
    int64_t tmp[NPG_MAX_DIMS];
    for (int i = 0; i < n; i++) {
        int ia = i - (n - na), ib = i - (n - nb);
        int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
        if (da == db || db == 1) {
            tmp[i] = da;
        } else if (da == 1) {
            tmp[i] = db;
        } else {
            char sa[NPG_SHAPE_BUF], sb[NPG_SHAPE_BUF];
            npg__set_error(NPG_ERR_SHAPE, "%s: shapes %s and %s cannot be broadcast together", fn,
                           npg__shape_str(sa, sizeof sa, na, a), npg__shape_str(sb, sizeof sb, nb, b));
            return false;
        }
    }
    memcpy(out, tmp, sizeof(int64_t) * (size_t)n);
    *nout = n;
    return true;
}

bool npg__norm_axis(const char *fn, int axis, int ndim, int *out) {
    int a = axis < 0 ? axis + ndim : axis;
    if (axis == NPG_FLAT || a < 0 || a >= ndim) {
        npg__set_error(NPG_ERR_AXIS, "%s: axis %d is out of bounds for an array of dimension %d", fn, axis, ndim);
        return false;
    }
    *out = a;
    return true;
}

bool npg__axes_mask(const char *fn, npg_axes axes, int ndim, uint32_t *mask) {
    if (axes.n < 0 || axes.n > NPG_MAX_DIMS) {
        npg__set_error(NPG_ERR_AXIS, "%s: invalid number of axes %d", fn, axes.n);
        return false;
    }
    if (axes.n == 0) {
        *mask = ndim ? (uint32_t)((1u << ndim) - 1) : 0;
        return true;
    }
    uint32_t m = 0;
    for (int i = 0; i < axes.n; i++) {
        int a;
        if (!npg__norm_axis(fn, axes.axes[i], ndim, &a)) return false;
        if (m & (1u << a)) {
            npg__set_error(NPG_ERR_AXIS, "%s: axis %d is repeated", fn, axes.axes[i]);
            return false;
        }
        m |= 1u << a;
    }
    *mask = m;
    return true;
}
