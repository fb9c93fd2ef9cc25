/*
 * ops_stats.c — quantiles and medians (with their NaN-ignoring forms),
 * nansum / nanmean, topk, isclose / allclose, cov / corrcoef, bincount and
 * histogram (npg.h, "Statistics and comparisons"). Composed from sort,
 * gathers, scatter-adds and elementwise ops, so they run on every device and
 * differentiate through those ops. Arguments are checked first, so an error
 * names the function called; a failure inside names it too
 * (npg__error_context).
 *
 * Quantile positions follow NumPy 1.24's arithmetic (its virtual index
 * (n - 1) q and its lerp, which subtracts from the upper value when the
 * fraction is at least 1/2), so results match NumPy's to the last bit in
 * float64. histogram computes in float32 for float32 input, as NumPy does
 * (its edges are float32 then), else in float64.
 */
#include "internal.h"

#include <math.h>


/* x with the axes in mask moved last and merged into one of length *n:
 * (kept..., n). *out is the reduction's result shape (keepdims or not). */
static npg_array *rows_of(npg_array *x, uint32_t mask, bool keepdims, int64_t *n, npg_shape *out) {
    npg_axes perm = {.n = x->ndim};
    npg_shape rs = {.ndim = 0};
    int k = 0;
    *n = 1;
    out->ndim = 0;
    for (int i = 0; i < x->ndim; i++) {
        const bool red = (mask >> i) & 1u;
        if (!red) {
            perm.axes[k++] = i;
            rs.dims[rs.ndim++] = x->shape[i];
        }
        if (keepdims) out->dims[out->ndim++] = red ? 1 : x->shape[i];
        else if (!red) out->dims[out->ndim++] = x->shape[i];
    }
    for (int i = 0; i < x->ndim; i++) {
        if ((mask >> i) & 1u) {
            perm.axes[k++] = i;
            *n *= x->shape[i];
        }
    }
    rs.dims[rs.ndim++] = *n;
    npg_array *p = x->ndim ? npg_permute_dims(x, perm) : x;
    return npg_reshape(p, rs);
}

/* x is not NULL and not bool. */
static bool numeric_arg(const char *fn, npg_array *x) {
    if (!x) {
        npg__null_arg(fn);
        return false;
    }
    if (x->dtype == NPG_BOOL) {
        npg__set_error(NPG_ERR_DTYPE, "%s: bool input (numeric dtypes only)", fn);
        return false;
    }
    return true;
}

/* ------------------------------------------------------------------------
 * Quantiles
 * ------------------------------------------------------------------------ */

/* NumPy's lerp of the order statistics a <= b at fraction t (t64 the same
 * in float64, for the tests): a + d t below 1/2, b - d (1 - t) from 1/2 on,
 * which reproduces NumPy's roundings for finite values. Unlike NumPy, it
 * gives a where t = 0 or a = b, and takes the form that keeps an infinite
 * end (a + d t toward +inf, b - d (1 - t) from -inf), so infinities
 * interpolate to infinities instead of inf - inf = NaN. */
static npg_array *lerp(npg_array *a, npg_array *b, npg_array *t, npg_array *t64) {
    npg_array *d = npg_subtract(b, a);
    npg_array *lo_form = npg_add(a, npg_multiply(d, t));
    npg_array *hi_form = npg_subtract(b, npg_multiply(d, npg_scalar_subtract(1.0, t)));
    npg_array *use_hi = npg_logical_or(npg_logical_and(npg_greater_equal_scalar(t64, 0.5), npg_logical_not(npg_isinf(b))),
                                       npg_isinf(a));
    npg_array *r = npg_where(use_hi, hi_form, lo_form);
    return npg_where(npg_logical_or(npg_equal_scalar(t64, 0.0), npg_equal(a, b)), a, r);
}

enum { MEDIAN = -1 }; /* median's own rule: (a + b) / 2, NumPy's mean of the middle two */

static npg_array *quantile_impl(const char *fn, npg_array *x, double q, npg_axes axes, bool keepdims, int method,
                                bool skip_nan) {
    if (!numeric_arg(fn, x)) return NULL;
    if (!(q >= 0 && q <= 1)) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: q = %g is outside [0, 1]", fn, q);
        return NULL;
    }
    uint32_t mask;
    if (!npg__axes_mask(fn, axes, x->ndim, &mask)) return NULL;
    int64_t n = 1;
    for (int i = 0; i < x->ndim; i++)
        if ((mask >> i) & 1u) n *= x->shape[i];
    if (n == 0) {
        char sb[NPG_SHAPE_BUF];
        npg__set_error(NPG_ERR_SHAPE, "%s: the selection of input %s to reduce is empty", fn,
                       npg__shape_str(sb, sizeof sb, x->ndim, x->shape));
        return NULL;
    }
    npg_scope s = npg_scope_begin();
    const npg_dtype dt = npg__float_dtype(x->dtype);
    npg_shape out;
    npg_array *xc = npg__cast(x, dt);
    npg_array *rows = xc ? rows_of(xc, mask, keepdims, &n, &out) : NULL;
    npg_array *sorted = rows ? npg_sort(rows, -1, false) : NULL; /* NaN last */
    npg_array *r = NULL;
    if (sorted) {
        const npg_device dev = npg__device_of(x);
        /* per-row count of the values taken into account, as float64 */
        npg_shape one = npg_shape_of(sorted);
        one.dims[one.ndim - 1] = 1;
        npg_array *cnt = skip_nan ? npg_astype(npg_sum(npg_logical_not(npg_isnan(rows)), NPG_AXES(-1), true), NPG_FLOAT64)
                                  : npg_full(one, (double)n, NPG_OPTS(.dtype = NPG_FLOAT64, .device = dev));
        /* NumPy's virtual index (n - 1) q, clipped to [0, count - 1] below */
        npg_array *pos = npg_multiply_scalar(npg_subtract_scalar(cnt, 1.0), q);
        npg_array *last = npg_maximum_scalar(npg_subtract_scalar(cnt, 1.0), 0.0);
        npg_array *fl = npg_floor(pos);
        npg_array *lo = npg_minimum(npg_maximum_scalar(fl, 0.0), last);
        npg_array *hi = npg_minimum(npg_add_scalar(lo, 1.0), last);
        /* the fraction, tested in float64 (a tiny one is 0 in float32) */
        npg_array *t64 = npg_subtract(pos, fl), *t = npg__cast(t64, dt);
        npg_array *whole = npg_equal_scalar(t64, 0.0);
        npg_array *a = npg_take_along_axis(sorted, npg_astype(lo, NPG_INT64), -1);
        npg_array *b = npg_take_along_axis(sorted, npg_astype(hi, NPG_INT64), -1);
        switch (method) {
        case MEDIAN: r = npg_where(whole, a, npg_multiply_scalar(npg_add(a, b), 0.5)); break;
        case NPG_QUANTILE_LINEAR: r = lerp(a, b, t, t64); break;
        case NPG_QUANTILE_LOWER: r = a; break;
        case NPG_QUANTILE_HIGHER: r = npg_where(whole, a, b); break; /* b unless the position is whole */
        case NPG_QUANTILE_NEAREST: {
            /* round half to even, as NumPy's around */
            npg_array *near = npg_minimum(npg_maximum_scalar(npg_round(pos, 0), 0.0), last);
            r = npg_take_along_axis(sorted, npg_astype(near, NPG_INT64), -1);
            break;
        }
        case NPG_QUANTILE_MIDPOINT: {
            npg_array *half = npg_full_like(t64, 0.5, NULL);
            r = npg_where(whole, a, lerp(a, b, npg__cast(half, dt), half));
            break;
        }
        }
        if (r && !skip_nan) {
            /* any NaN in a row sorts to its end and makes the result NaN */
            npg_array *end = NPG_INDEX(sorted, NPG_ELLIPSIS, NPG_SLICE(n - 1, n, 1));
            r = npg_where(npg_isnan(end), end, r);
        }
        if (r) r = npg_reshape(r, out);
    }
    return npg__finish(fn, s, r);
}

/* A method a caller may pass (median's own rule is not one). */
static bool check_method(const char *fn, npg_quantile_method method) {
    if (method < NPG_QUANTILE_LINEAR || method > NPG_QUANTILE_MIDPOINT) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: unknown method %d", fn, (int)method);
        return false;
    }
    return true;
}

npg_array *npg_quantile(npg_array *x, double q, npg_axes axes, bool keepdims, npg_quantile_method method) {
    const char *fn = "npg_quantile";
    return check_method(fn, method) ? quantile_impl(fn, x, q, axes, keepdims, method, false) : NULL;
}
npg_array *npg_nanquantile(npg_array *x, double q, npg_axes axes, bool keepdims, npg_quantile_method method) {
    const char *fn = "npg_nanquantile";
    return check_method(fn, method) ? quantile_impl(fn, x, q, axes, keepdims, method, true) : NULL;
}
npg_array *npg_median(npg_array *x, npg_axes axes, bool keepdims) {
    return quantile_impl("npg_median", x, 0.5, axes, keepdims, MEDIAN, false);
}
npg_array *npg_nanmedian(npg_array *x, npg_axes axes, bool keepdims) {
    return quantile_impl("npg_nanmedian", x, 0.5, axes, keepdims, MEDIAN, true);
}

/* ------------------------------------------------------------------------
 * nansum, nanmean
 * ------------------------------------------------------------------------ */

/* x is not NULL and axes are valid for it. */
static bool reduce_args(const char *fn, npg_array *x, npg_axes axes) {
    if (!x) {
        npg__null_arg(fn);
        return false;
    }
    uint32_t mask;
    return npg__axes_mask(fn, axes, x->ndim, &mask);
}

npg_array *npg_nansum(npg_array *x, npg_axes axes, bool keepdims) {
    const char *fn = "npg_nansum";
    if (!reduce_args(fn, x, axes)) return NULL;
    npg_scope s = npg_scope_begin();
    npg_array *v = npg_is_floating(x->dtype) ? npg_scalar_where(npg_isnan(x), 0.0, x) : x;
    return npg__finish(fn, s, npg_sum(v, axes, keepdims));
}

npg_array *npg_nanmean(npg_array *x, npg_axes axes, bool keepdims) {
    const char *fn = "npg_nanmean";
    if (!reduce_args(fn, x, axes)) return NULL;
    npg_scope s = npg_scope_begin();
    const npg_dtype dt = npg__float_dtype(x->dtype);
    npg_array *xf = npg__cast(x, dt);
    npg_array *keep = npg_logical_not(npg_isnan(xf));
    npg_array *sum = npg_sum(npg_where_scalar(keep, xf, 0.0), axes, keepdims);
    npg_array *cnt = npg_astype(npg_sum(keep, axes, keepdims), dt);
    return npg__finish(fn, s, npg_divide(sum, cnt));
}

/* ------------------------------------------------------------------------
 * topk
 * ------------------------------------------------------------------------ */

npg_status npg_topk(npg_array *x, int64_t k, int axis, bool largest, npg_array **values, npg_array **indices) {
    const char *fn = "npg_topk";
    if (values) *values = NULL;
    if (indices) *indices = NULL;
    if (!x) {
        npg__null_arg(fn);
        return npg_last_status();
    }
    if (x->ndim == 0) {
        npg__set_error(NPG_ERR_AXIS, "%s: the input is 0-d", fn);
        return NPG_ERR_AXIS;
    }
    int a;
    if (!npg__norm_axis(fn, axis, x->ndim, &a)) return npg_last_status();
    if (k < 0 || k > x->shape[a]) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: k = %lld is outside [0, %lld] (the length of axis %d)", fn,
                       (long long)k, (long long)x->shape[a], axis);
        return NPG_ERR_INVALID_ARG;
    }
    if (!values && !indices) return NPG_OK;
    npg_scope s = npg_scope_begin();
    npg_idx first[NPG_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) first[i] = NPG_ALL;
    first[a] = NPG_SLICE(0, k, 1);
    /* a stable sort descending puts NaN first, ascending last: the largest */
    npg_array *idx = npg_index(npg_argsort(x, a, largest), first, x->ndim);
    npg_array *val = values ? npg_take_along_axis(x, idx, a) : NULL;
    if (!idx || (values && !val)) {
        npg_scope_end(s);
        npg__error_context(fn);
        return npg_last_status();
    }
    if (values) *values = npg_keep(val);
    if (indices) *indices = npg_keep(idx);
    npg_scope_end(s);
    return NPG_OK;
}

/* ------------------------------------------------------------------------
 * isclose, allclose
 * ------------------------------------------------------------------------ */

npg_array *npg_isclose(npg_array *a, npg_array *b, double rtol, double atol, bool equal_nan) {
    const char *fn = "npg_isclose";
    if (npg__any_null(fn, 2, a, b)) return NULL;
    if (!(rtol >= 0) || !(atol >= 0)) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: rtol (%g) and atol (%g) must be >= 0", fn, rtol, atol);
        return NULL;
    }
    npg_array *ops[2] = {a, b};
    if (!npg__check_devices(fn, 2, ops)) return NULL;
    npg_scope s = npg_scope_begin();
    npg_dtype dt = npg_result_type(a->dtype, b->dtype);
    if (!npg_is_floating(dt)) dt = NPG_FLOAT64; /* integers compare exactly in float64 up to 2^53 */
    npg_array *af = npg__cast(a, dt), *bf = npg__cast(b, dt);
    npg_array *tol = npg_add_scalar(npg_multiply_scalar(npg_abs(bf), rtol), atol);
    npg_array *near = npg_less_equal(npg_abs(npg_subtract(af, bf)), tol);
    near = npg_logical_and(near, npg_logical_and(npg_isfinite(af), npg_isfinite(bf)));
    npg_array *r = npg_logical_or(npg_equal(af, bf), near); /* equal infinities */
    if (equal_nan) r = npg_logical_or(r, npg_logical_and(npg_isnan(af), npg_isnan(bf)));
    return npg__finish(fn, s, r);
}

int npg_allclose(npg_array *a, npg_array *b, double rtol, double atol, bool equal_nan) {
    const char *fn = "npg_allclose";
    if (npg__any_null(fn, 2, a, b)) return -1;
    npg_scope s = npg_scope_begin();
    npg_array *c = npg_isclose(a, b, rtol, atol, equal_nan);
    npg_array *all = c ? npg_all(c, NPG_ALL_AXES, false) : NULL;
    double v = all ? npg_item(all) : NAN;
    npg_scope_end(s);
    if (isnan(v)) {
        npg__error_context(fn);
        return -1;
    }
    return v != 0;
}

/* ------------------------------------------------------------------------
 * cov, corrcoef
 * ------------------------------------------------------------------------ */

static npg_array *cov_impl(const char *fn, npg_array *x, double correction) {
    if (!x) {
        npg__null_arg(fn);
        return NULL;
    }
    if (x->ndim < 1 || x->ndim > 2) {
        npg__set_error(NPG_ERR_SHAPE, "%s: the input must be 1-d or 2-d (variables, observations) (got %d-d)", fn,
                       x->ndim);
        return NULL;
    }
    if (!isfinite(correction)) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: correction must be finite (got %g)", fn, correction);
        return NULL;
    }
    npg_scope s = npg_scope_begin();
    npg_array *xf = npg__cast(x, npg__float_dtype(x->dtype));
    const int64_t n = x->shape[x->ndim - 1];
    npg_array *m = x->ndim == 1 ? npg_reshape(xf, NPG_SHAPE(1, n)) : xf;
    npg_array *xm = npg_subtract(m, npg_mean(m, NPG_AXES(-1), true));
    /* a divisor <= 0 becomes 0: inf or NaN, as in NumPy and PyTorch */
    const double div = (double)n - correction > 0 ? (double)n - correction : 0.0;
    npg_array *c = npg_divide_scalar(npg_matmul(xm, npg_matrix_transpose(xm)), div);
    if (c && x->ndim == 1) c = npg_reshape(c, (npg_shape){.ndim = 0});
    return npg__finish(fn, s, c);
}

npg_array *npg_cov(npg_array *x, double correction) { return cov_impl("npg_cov", x, correction); }

npg_array *npg_corrcoef(npg_array *x) {
    const char *fn = "npg_corrcoef";
    npg_array *c = cov_impl(fn, x, 1.0);
    if (!c) return NULL;
    npg_scope s = npg_scope_begin();
    npg_array *r;
    if (c->ndim == 0) {
        r = npg_divide(c, c);
    } else {
        npg_array *d = npg_sqrt(npg_diagonal(c, 0, -2, -1));
        r = npg_divide(npg_divide(c, npg_expand_dims(d, -1)), npg_expand_dims(d, 0));
    }
    r = npg_clip(r, -1.0, 1.0);
    r = npg__finish(fn, s, r);
    npg_free(c);
    return r;
}

/* ------------------------------------------------------------------------
 * bincount, histogram
 * ------------------------------------------------------------------------ */

/* weights NULL or an array of x's shape; sets *wf to it in a floating dtype. */
static bool check_weights(const char *fn, npg_array *x, npg_array *w, npg_array **wf) {
    *wf = NULL;
    if (!w) return true;
    if (w->ndim != x->ndim || memcmp(w->shape, x->shape, sizeof(int64_t) * (size_t)x->ndim) != 0) {
        char sa[NPG_SHAPE_BUF], sb[NPG_SHAPE_BUF];
        npg__set_error(NPG_ERR_SHAPE, "%s: weights of shape %s do not match the input's %s", fn,
                       npg__shape_str(sa, sizeof sa, w->ndim, w->shape), npg__shape_str(sb, sizeof sb, x->ndim, x->shape));
        return false;
    }
    npg_array *ops[2] = {x, w};
    if (!npg__check_devices(fn, 2, ops)) return false;
    *wf = w;
    return true;
}

/* zeros(len) + src scattered at idx (both 1-d, n elements). */
static npg_array *scatter_counts(npg_array *src, npg_array *idx, int64_t len) {
    if (!src || !idx) return NULL;
    return npg__scatter_add_zeros(1, &len, src, idx, 0);
}

npg_array *npg_bincount(npg_array *x, npg_array *weights, int64_t minlength) {
    const char *fn = "npg_bincount";
    if (!x) {
        npg__null_arg(fn);
        return NULL;
    }
    if (!npg_is_integer(x->dtype)) {
        npg__set_error(NPG_ERR_DTYPE, "%s: the input must be integers (got %s)", fn, npg_dtype_name(x->dtype));
        return NULL;
    }
    if (x->ndim != 1) {
        npg__set_error(NPG_ERR_SHAPE, "%s: the input must be 1-d (got %d-d)", fn, x->ndim);
        return NULL;
    }
    if (minlength < 0) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: minlength must be >= 0 (got %lld)", fn, (long long)minlength);
        return NULL;
    }
    npg_array *w;
    if (!check_weights(fn, x, weights, &w)) return NULL;
    npg_scope s = npg_scope_begin();
    const npg_device dev = npg__device_of(x);
    const npg_dtype odt = w ? npg__float_dtype(w->dtype) : NPG_INT64;
    int64_t len = minlength;
    bool ok = true;
    if (x->shape[0] > 0) {
        int64_t lo = 0, hi = 0;
        ok = npg__min_max_int(x, &lo, &hi);
        if (ok && lo < 0) {
            npg__set_error(NPG_ERR_INDEX, "%s: the input holds the negative value %lld", fn, (long long)lo);
            ok = false;
        }
        if (ok && hi == INT64_MAX) { /* hi + 1 bins would overflow */
            npg__set_error(NPG_ERR_OOM, "%s: the label %lld needs more bins than can be allocated", fn, (long long)hi);
            ok = false;
        }
        if (ok && hi + 1 > len) len = hi + 1;
    }
    npg_array *r = NULL;
    if (ok) {
        npg_array *src = w ? npg__cast(w, odt) : npg_ones(npg_shape_of(x), NPG_OPTS(.dtype = NPG_INT64, .device = dev));
        r = scatter_counts(src, npg__cast(x, NPG_INT64), len);
    }
    return npg__finish(fn, s, r);
}

npg_array *npg_histogram(npg_array *x, int64_t bins, double lo, double hi, npg_array *weights) {
    const char *fn = "npg_histogram";
    if (!numeric_arg(fn, x)) return NULL;
    if (bins < 1 || bins > INT32_MAX) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: bins = %lld must be in [1, %d]", fn, (long long)bins, INT32_MAX);
        return NULL;
    }
    if (!(isfinite(lo) && isfinite(hi) && lo < hi && isfinite(hi - lo))) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: the range [%g, %g] must be finite with lo < hi", fn, lo, hi);
        return NULL;
    }
    npg_array *w;
    if (!check_weights(fn, x, weights, &w)) return NULL;
    npg_scope s = npg_scope_begin();
    const npg_device dev = npg__device_of(x);
    const int64_t n = npg__numel(x->ndim, x->shape);
    const npg_dtype dt = npg_is_floating(x->dtype) ? x->dtype : NPG_FLOAT64;
    /* NumPy's edges: linspace(lo, hi, bins + 1) = i step + lo in float64, the
     * last one hi, then x's dtype; built on the device */
    npg_array *i = npg_arange(0, (double)(bins + 1), 1, NPG_OPTS(.dtype = NPG_FLOAT64, .device = dev));
    npg_array *e = npg_add_scalar(npg_multiply_scalar(i, (hi - lo) / (double)bins), lo);
    npg_array *edges = e ? npg__cast(npg_scalar_where(npg_equal_scalar(i, (double)bins), hi, e), dt) : NULL;
    npg_array *xd = npg__cast(npg_reshape(x, NPG_SHAPE(n)), dt);
    npg_array *keep = npg_logical_and(npg_greater_equal_scalar(xd, lo), npg_less_equal_scalar(xd, hi)); /* not NaN */
    npg_array *xs = npg_where_scalar(keep, xd, lo);
    /* NumPy's index: trunc((x - lo) / (hi - lo) * bins), hi in the last bin,
     * then moved by one where rounding put x across an edge */
    npg_array *idx = npg_astype(npg_multiply_scalar(npg_divide_scalar(npg_subtract_scalar(xs, lo), hi - lo), (double)bins),
                                NPG_INT64);
    idx = npg_minimum_scalar(idx, (double)(bins - 1));
    idx = npg_subtract(idx, npg_astype(npg_less(xs, npg_take(edges, idx, 0)), NPG_INT64));
    npg_array *inc = npg_logical_and(npg_greater_equal(xs, npg_take(edges, npg_add_scalar(idx, 1.0), 0)),
                                     npg_not_equal_scalar(idx, (double)(bins - 1)));
    idx = npg_add(idx, npg_astype(inc, NPG_INT64));
    npg_array *src;
    if (w) {
        npg_array *wf = npg__cast(w, npg__float_dtype(w->dtype));
        src = npg_where_scalar(keep, npg_reshape(wf, NPG_SHAPE(n)), 0.0);
    } else {
        src = npg_astype(keep, NPG_INT64);
    }
    return npg__finish(fn, s, scatter_counts(src, idx, bins));
}
