/*
 * ops_reduce.c — reductions over any set of axes (with keepdims), scans,
 * and the composed reductions (var, std, logsumexp). The backend reduces
 * the LAST nred axes of a descriptor; here the reduced axes are permuted to
 * the end and adjacent ones merged.
 */
#include "internal.h"

#include <math.h>

/* The dtype the kernel reads (x is cast to it first): integer sums and
 * products read the input as it is where the backend widens as it reads. */
static npg_dtype reduce_in_dtype(npg_op op, npg_dtype dt, const npg_backend *be) {
    switch (op) {
    case NPG_OP_SUM:
    case NPG_OP_PROD: return npg_is_floating(dt) || be->wide_int_sum ? dt : npg__int_sum_dtype(dt);
    case NPG_OP_MEAN: return npg__float_dtype(dt);
    case NPG_OP_ALL:
    case NPG_OP_ANY: return NPG_BOOL;
    default: return dt;
    }
}

static npg_dtype reduce_out_dtype(npg_op op, npg_dtype in) {
    if ((op == NPG_OP_SUM || op == NPG_OP_PROD) && !npg_is_floating(in)) return npg__int_sum_dtype(in);
    return (op == NPG_OP_ARGMAX || op == NPG_OP_ARGMIN) ? NPG_INT64 : in;
}

/* Kernel call: out (fresh) = reduce of x over the axes in mask. */
static npg_status reduce_kernel(npg_op op, npg_array *out, npg_array *x, uint32_t mask) {
    npg_tdesc in, o;
    npg__desc(x, &in);
    npg__desc(out, &o);
    /* permute: kept axes first, reduced last (each group in order) */
    int64_t shp[NPG_MAX_DIMS], str[NPG_MAX_DIMS];
    int nk = 0, nr = 0;
    for (int i = 0; i < x->ndim; i++)
        if (!(mask & (1u << i))) {
            shp[nk] = x->shape[i];
            str[nk] = x->strides[i];
            nk++;
        }
    for (int i = 0; i < x->ndim; i++)
        if (mask & (1u << i)) {
            shp[nk + nr] = x->shape[i];
            str[nk + nr] = x->strides[i];
            nr++;
        }
    /* out: the kept dims, contiguous */
    o.ndim = nk;
    for (int i = 0; i < nk; i++) o.shape[i] = shp[i];
    npg__contiguous_strides(nk, o.shape, o.strides);
    /* coalesce the kept group together with out */
    npg_tdesc ik = in;
    ik.ndim = nk;
    for (int i = 0; i < nk; i++) {
        ik.shape[i] = shp[i];
        ik.strides[i] = str[i];
    }
    npg_tdesc *ds[2] = {&o, &ik};
    npg__coalesce(2, ds);
    /* coalesce the reduced group on its own */
    npg_tdesc ir = in;
    ir.ndim = nr;
    for (int i = 0; i < nr; i++) {
        ir.shape[i] = shp[nk + i];
        ir.strides[i] = str[nk + i];
    }
    bool empty_red = npg__numel(nr, ir.shape) == 0;
    if (!empty_red) npg__coalesce(1, (npg_tdesc *[]){&ir});
    in.ndim = ik.ndim + ir.ndim;
    for (int i = 0; i < ik.ndim; i++) {
        in.shape[i] = ik.shape[i];
        in.strides[i] = ik.strides[i];
    }
    for (int i = 0; i < ir.ndim; i++) {
        in.shape[ik.ndim + i] = ir.shape[i];
        in.strides[ik.ndim + i] = ir.strides[i];
    }
    return npg__k_reduce(npg__backend_of(x), x->storage->dev, op, &o, &in, ir.ndim);
}

npg_array *npg__reduce(npg_op op, const char *fn, npg_array *x, npg_axes axes, bool keepdims) {
    if (!x) {
        npg__null_arg(fn);
        return NULL;
    }
    uint32_t mask;
    if (!npg__axes_mask(fn, axes, x->ndim, &mask)) return NULL;
    int64_t nred = 1;
    for (int i = 0; i < x->ndim; i++)
        if (mask & (1u << i)) nred *= x->shape[i];
    if (nred == 0 && (op == NPG_OP_MAX || op == NPG_OP_MIN || op == NPG_OP_ARGMAX || op == NPG_OP_ARGMIN)) {
        npg__set_error(NPG_ERR_SHAPE, "%s: zero-size reduction has no identity", fn);
        return NULL;
    }
    npg_dtype idt = reduce_in_dtype(op, x->dtype, npg__backend_of(x)), odt = reduce_out_dtype(op, idt);
    int64_t oshape[NPG_MAX_DIMS];
    int ond = 0;
    for (int i = 0; i < x->ndim; i++) {
        if (mask & (1u << i)) {
            if (keepdims) oshape[ond++] = 1;
        } else {
            oshape[ond++] = x->shape[i];
        }
    }
    npg_array *xc = npg__cast(x, idt);
    if (!xc) return NULL;
    npg_array *out = npg__alloc_like_dev(fn, odt, ond, oshape, x);
    npg_status st = out ? NPG_OK : npg_last_status();
    if (out && npg__numel(ond, oshape) > 0) st = reduce_kernel(op, out, xc, mask);
    if (st == NPG_OK && npg__op_info[op].differentiable && npg_is_floating(odt) && npg__needs_grad(1, &xc)) {
        npg_node *n = npg__record(op, out, 1, &xc);
        if (n) {
            n->p.i[0] = mask;
            n->keepdims = keepdims;
        }
    }
    if (xc != x) npg_free(xc);
    if (st != NPG_OK) {
        npg_free(out);
        return NULL;
    }
    return out;
}

npg_array *npg_sum(npg_array *x, npg_axes axes, bool keepdims) {
    return npg__reduce(NPG_OP_SUM, "npg_sum", x, axes, keepdims);
}
npg_array *npg_mean(npg_array *x, npg_axes axes, bool keepdims) {
    return npg__reduce(NPG_OP_MEAN, "npg_mean", x, axes, keepdims);
}
npg_array *npg_prod(npg_array *x, npg_axes axes, bool keepdims) {
    return npg__reduce(NPG_OP_PROD, "npg_prod", x, axes, keepdims);
}
npg_array *npg_max(npg_array *x, npg_axes axes, bool keepdims) {
    return npg__reduce(NPG_OP_MAX, "npg_max", x, axes, keepdims);
}
npg_array *npg_min(npg_array *x, npg_axes axes, bool keepdims) {
    return npg__reduce(NPG_OP_MIN, "npg_min", x, axes, keepdims);
}
npg_array *npg_all(npg_array *x, npg_axes axes, bool keepdims) {
    return npg__reduce(NPG_OP_ALL, "npg_all", x, axes, keepdims);
}
npg_array *npg_any(npg_array *x, npg_axes axes, bool keepdims) {
    return npg__reduce(NPG_OP_ANY, "npg_any", x, axes, keepdims);
}

static npg_array *arg_reduce(npg_op op, const char *fn, npg_array *x, int axis, bool keepdims) {
    if (!x) {
        npg__null_arg(fn);
        return NULL;
    }
    if (axis == NPG_FLAT) {
        npg_array *f = npg_reshape(x, NPG_SHAPE(-1));
        npg_array *r = npg__reduce(op, fn, f, NPG_AXES(0), false);
        npg_free(f);
        if (r && keepdims) {
            npg_shape s = {.ndim = x->ndim};
            for (int i = 0; i < x->ndim; i++) s.dims[i] = 1;
            npg_array *k = npg_reshape(r, s);
            npg_free(r);
            r = k;
        }
        return r;
    }
    int a;
    if (!npg__norm_axis(fn, axis, x->ndim, &a)) return NULL;
    return npg__reduce(op, fn, x, NPG_AXES(a), keepdims);
}

npg_array *npg_argmax(npg_array *x, int axis, bool keepdims) {
    return arg_reduce(NPG_OP_ARGMAX, "npg_argmax", x, axis, keepdims);
}
npg_array *npg_argmin(npg_array *x, int axis, bool keepdims) {
    return arg_reduce(NPG_OP_ARGMIN, "npg_argmin", x, axis, keepdims);
}

/* Number of elements reduced over by axes. */
static bool reduced_count(const char *fn, npg_array *x, npg_axes axes, int64_t *count) {
    uint32_t mask;
    if (!npg__axes_mask(fn, axes, x->ndim, &mask)) return false;
    int64_t n = 1;
    for (int i = 0; i < x->ndim; i++)
        if (mask & (1u << i)) n *= x->shape[i];
    *count = n;
    return true;
}

static npg_array *var_impl(const char *fn, npg_array *x, npg_axes axes, double correction, bool keepdims) {
    if (!x) {
        npg__null_arg(fn);
        return NULL;
    }
    int64_t n;
    if (!reduced_count(fn, x, axes, &n)) return NULL;
    if (x->dtype == NPG_BOOL) {
        npg__set_error(NPG_ERR_DTYPE, "%s: dtype bool is not supported", fn);
        return NULL;
    }
    npg_scope s = npg_scope_begin();
    npg_array *xf = npg__cast(x, npg__float_dtype(x->dtype));
    npg_array *m = npg_mean(xf, axes, true);
    npg_array *d = npg_subtract(xf, m);
    npg_array *ss = npg_sum(npg_square(d), axes, keepdims);
    double denom = (double)n - correction;
    npg_array *v = npg_divide_scalar(ss, denom > 0 ? denom : 0.0);
    return npg__finish(fn, s, v);
}

npg_array *npg_var(npg_array *x, npg_axes axes, double correction, bool keepdims) {
    if (x) NPG_HALF_VIA_F32("npg_var", x->dtype, npg_var(npg__as_f32(x), axes, correction, keepdims));
    return var_impl("npg_var", x, axes, correction, keepdims);
}

npg_array *npg_std(npg_array *x, npg_axes axes, double correction, bool keepdims) {
    if (x) NPG_HALF_VIA_F32("npg_std", x->dtype, npg_std(npg__as_f32(x), axes, correction, keepdims));
    npg_array *v = var_impl("npg_std", x, axes, correction, keepdims);
    npg_array *r = npg_sqrt(v);
    npg_free(v);
    return r;
}

npg_array *npg_logsumexp(npg_array *x, npg_axes axes, bool keepdims) {
    const char *fn = "npg_logsumexp";
    if (!x) {
        npg__null_arg(fn);
        return NULL;
    }
    NPG_HALF_VIA_F32(fn, x->dtype, npg_logsumexp(npg__as_f32(x), axes, keepdims));
    uint32_t mask;
    if (!npg__axes_mask(fn, axes, x->ndim, &mask)) return NULL;
    int64_t n = 0;
    reduced_count(fn, x, axes, &n);
    npg_scope s = npg_scope_begin();
    npg_array *xf = npg__cast(x, npg__float_dtype(x->dtype));
    npg_array *r;
    if (n == 0) {
        /* log(0) = -inf, like NumPy */
        r = npg_log(npg_sum(xf, axes, keepdims));
    } else {
        /* m is a constant for autograd: logsumexp(x) = log(sum(exp(x - c))) + c for any c */
        npg_no_grad_begin();
        npg_array *m = npg_max(xf, axes, true);
        npg_array *fin = npg_isfinite(m);
        npg_array *mc = npg_where_scalar(fin, m, 0.0); /* +-inf / nan maxima: shift by 0 */
        npg_no_grad_end();
        npg_array *e = npg_exp(npg_subtract(xf, mc));
        r = npg_add(npg_log(npg_sum(e, axes, true)), mc);
        if (r && !keepdims) r = npg_squeeze(r, axes.n ? axes : NPG_ALL_AXES);
        if (r && !keepdims && axes.n == 0 && r->ndim != 0) r = npg_reshape(r, NPG_SHAPE0);
    }
    return npg__finish(fn, s, r);
}

/* ------------------------------------------------------------------------
 * Scans
 * ------------------------------------------------------------------------ */

static npg_array *scan(npg_op op, const char *fn, npg_array *x, int axis) {
    if (!x) {
        npg__null_arg(fn);
        return NULL;
    }
    if (axis == NPG_FLAT) {
        npg_array *f = npg_reshape(x, NPG_SHAPE(-1));
        npg_array *r = f ? scan(op, fn, f, 0) : NULL;
        npg_free(f);
        return r;
    }
    int a;
    if (!npg__norm_axis(fn, axis, x->ndim, &a)) return NULL;
    npg_dtype dt = npg_is_floating(x->dtype) ? x->dtype : npg__int_sum_dtype(x->dtype);
    /* the input as it is where the backend widens integers as it reads them */
    npg_array *xc = npg__cast(x, npg__backend_of(x)->wide_int_scan ? x->dtype : dt);
    if (!xc) return NULL;
    npg_array *out = npg__alloc_like_dev(fn, dt, x->ndim, x->shape, x);
    npg_status st = out ? NPG_OK : npg_last_status();
    if (out && npg__numel(x->ndim, x->shape) > 0) {
        npg_tdesc o, i;
        npg__desc(out, &o);
        npg__desc(xc, &i);
        st = npg__k_scan(npg__backend_of(x), x->storage->dev, op, &o, &i, a);
    }
    if (st == NPG_OK && npg_is_floating(dt) && npg__needs_grad(1, &xc)) {
        npg_node *n = npg__record(op, out, 1, &xc);
        if (n) n->axis = a;
    }
    if (xc != x) npg_free(xc);
    if (st != NPG_OK) {
        npg_free(out);
        return NULL;
    }
    return out;
}

npg_array *npg_cumsum(npg_array *x, int axis) { return scan(NPG_OP_CUMSUM, "npg_cumsum", x, axis); }
npg_array *npg_cumprod(npg_array *x, int axis) { return scan(NPG_OP_CUMPROD, "npg_cumprod", x, axis); }

/* ------------------------------------------------------------------------
 * Undo broadcasting
 * ------------------------------------------------------------------------ */

npg_array *npg__sum_to(npg_array *g, int ndim, const int64_t *shape) {
    if (!g) return NULL;
    if (g->ndim == ndim && memcmp(g->shape, shape, sizeof(int64_t) * (size_t)ndim) == 0) return g;
    int lead = g->ndim - ndim;
    NPG_ASSERT(lead >= 0);
    npg_axes axes = {0};
    for (int i = 0; i < g->ndim; i++) {
        int j = i - lead;
        if (j < 0 || (shape[j] == 1 && g->shape[i] != 1)) axes.axes[axes.n++] = i;
    }
    npg_array *s = axes.n ? npg_sum(g, axes, true) : g;
    npg_shape target = {.ndim = ndim};
    memcpy(target.dims, shape, sizeof(int64_t) * (size_t)ndim);
    npg_array *r = npg_reshape(s, target);
    if (s != g) npg_free(s);
    return r;
}

bool npg__min_max_int(npg_array *x, int64_t *lo, int64_t *hi) {
    npg_scope s = npg_scope_begin();
    /* uint64 is read as it is and saturated below: a cast would wrap values
     * from 2^63 up to negative ones */
    const bool u64 = x && x->dtype == NPG_UINT64;
    npg_array *both = npg_stack((npg_array *[]){npg_min(x, NPG_ALL_AXES, false), npg_max(x, NPG_ALL_AXES, false)}, 2, 0);
    if (!u64) both = npg_astype(both, NPG_INT64);
    /* one read (one synchronisation); its status, not the thread's last
     * error (which may be an earlier, unrelated one) */
    uint64_t v[2];
    bool ok = both && npg_copy_to_host(both, v, sizeof v) == NPG_OK;
    for (int k = 0; ok && u64 && k < 2; k++)
        if (v[k] > (uint64_t)INT64_MAX) v[k] = (uint64_t)INT64_MAX;
    if (ok) *lo = (int64_t)v[0], *hi = (int64_t)v[1];
    npg_scope_end(s);
    return ok;
}
