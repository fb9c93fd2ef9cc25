/*
 * ops_index.c — integer-array indexing (take, take_along_axis) through the
 * backend's gather/scatter-add pair, sorting, and nonzero.
 */
#include "internal.h"

/* ------------------------------------------------------------------------
 * gather / scatter_add (differentiable pair)
 * ------------------------------------------------------------------------ */

/* out = gather(x, idx, axis); idx int64 with x's ndim, matching x on every
 * axis but `axis` (x may be a broadcast view). */
/* Re-label a kernel's error with the public function's name. */
static npg_status relabel(npg_status st, const char *fn) {
    char msg[512];
    const char *m = npg_last_error(), *colon = strstr(m, ": ");
    snprintf(msg, sizeof msg, "%s", colon ? colon + 2 : m);
    return npg__set_error(st, "%s: %s", fn, msg);
}

static _Thread_local const char *tl_gather_fn = "npg_take_along_axis";

npg_array *npg__gather(npg_array *x, npg_array *idx, int axis) {
    const char *fn = tl_gather_fn;
    npg_array *out = npg__alloc_like_dev(fn, x->dtype, idx->ndim, idx->shape, x);
    if (!out) return NULL;
    if (npg__numel(idx->ndim, idx->shape) > 0) {
        npg_tdesc o, i, k;
        npg__desc(out, &o);
        npg__desc(x, &i);
        npg__desc(idx, &k);
        npg_status st = npg__backend_of(x)->gather(x->storage->dev, &o, &i, &k, axis);
        if (st != NPG_OK) {
            relabel(st, fn);
            npg_free(out);
            return NULL;
        }
    }
    if (npg_is_floating(x->dtype) && npg__needs_grad(1, &x)) {
        npg_node *n = npg__record(NPG_OP_GATHER, out, 1, &x);
        if (n) {
            n->axis = axis;
            npg__save(n, 1, idx, false);
        }
    }
    return out;
}

/* zeros(shape) with src scatter-added at idx along axis: a new array in
 * src's dtype, on src's device. Both users (the backward of gather, and of
 * max pooling) start from zeros, so there is no base to copy. */
npg_array *npg__scatter_add_zeros(int ndim, const int64_t *shape, npg_array *src, npg_array *idx, int axis) {
    const char *fn = "scatter_add";
    npg_array *out = npg__alloc_like_dev(fn, src->dtype, ndim, shape, src);
    if (!out) return NULL;
    npg_status st = NPG_OK;
    if (npg__numel(ndim, shape) > 0) {
        npg_tdesc o;
        npg__desc(out, &o);
        npg__coalesce(1, (npg_tdesc *[]){&o});
        st = npg__backend_of(out)->fill(out->storage->dev, &o, 0.0, 0);
    }
    if (st == NPG_OK && npg__numel(idx->ndim, idx->shape) > 0) {
        npg_tdesc o, i, k;
        npg__desc(out, &o);
        npg__desc(src, &i);
        npg__desc(idx, &k);
        st = npg__k_scatter_add(npg__backend_of(out), out->storage->dev, &o, &i, &k, axis);
        if (st != NPG_OK) relabel(st, fn);
    }
    if (st != NPG_OK) {
        npg_free(out);
        return NULL;
    }
    if (npg_is_floating(out->dtype) && npg__needs_grad(1, &src)) {
        npg_node *n = npg__record(NPG_OP_SCATTER_ADD, out, 1, &src);
        if (n) {
            n->axis = axis;
            npg__save(n, 1, idx, false);
        }
    }
    return out;
}

static npg_array *as_index(const char *fn, npg_array *indices) {
    if (!npg_is_integer(indices->dtype)) {
        npg__set_error(NPG_ERR_DTYPE, "%s: indices must be integers (got %s)", fn, npg_dtype_name(indices->dtype));
        return NULL;
    }
    return npg__cast(indices, NPG_INT64);
}

npg_array *npg_take(npg_array *x, npg_array *indices, int axis) {
    const char *fn = "npg_take";
    if (npg__any_null(fn, 2, x, indices)) return NULL;
    if (!npg__same_device(x, indices)) {
        npg__set_error(NPG_ERR_DEVICE, "%s: x and indices are on different devices", fn);
        return NULL;
    }
    npg_scope s = npg_scope_begin();
    npg_array *r = NULL, *src = x;
    int a = 0;
    if (axis == NPG_FLAT)
        src = npg_reshape(x, NPG_SHAPE(-1));
    else if (!npg__norm_axis(fn, axis, x->ndim, &a))
        src = NULL;
    npg_array *ix = src ? as_index(fn, indices) : NULL;
    if (ix && src->ndim - 1 + ix->ndim > NPG_MAX_DIMS) {
        npg__set_error(NPG_ERR_SHAPE, "%s: the result would have more than %d dimensions", fn, NPG_MAX_DIMS);
        ix = NULL;
    }
    if (ix && src->shape[a] == 0 && npg__numel(ix->ndim, ix->shape) > 0) {
        npg__set_error(NPG_ERR_INDEX, "%s: cannot take from an empty axis %d", fn, a);
        ix = NULL;
    }
    if (ix) {
        npg_array *flat = npg_reshape(ix, NPG_SHAPE(-1));
        int64_t m = flat ? flat->shape[0] : 0;
        /* idx broadcast over the other axes: shape of src with axis -> m */
        npg_shape gs = {.ndim = src->ndim};
        int64_t st[NPG_MAX_DIMS] = {0};
        for (int i = 0; i < src->ndim; i++) gs.dims[i] = i == a ? m : src->shape[i];
        npg_array *fc = flat ? npg_contiguous(flat) : NULL;
        npg_array *ib = NULL;
        if (fc) {
            st[a] = 1;
            ib = npg__view_raw(fc, gs.ndim, gs.dims, st, fc->offset);
        }
        tl_gather_fn = fn;
        npg_array *g = ib ? npg__gather(src, ib, a) : NULL;
        tl_gather_fn = "npg_take_along_axis";
        if (g) {
            npg_shape rs = {.ndim = 0};
            for (int i = 0; i < a; i++) rs.dims[rs.ndim++] = src->shape[i];
            for (int i = 0; i < ix->ndim; i++) rs.dims[rs.ndim++] = ix->shape[i];
            for (int i = a + 1; i < src->ndim; i++) rs.dims[rs.ndim++] = src->shape[i];
            r = npg_reshape(g, rs);
        }
    }
    return npg__finish(fn, s, r);
}

npg_array *npg_take_along_axis(npg_array *x, npg_array *indices, int axis) {
    const char *fn = "npg_take_along_axis";
    if (npg__any_null(fn, 2, x, indices)) return NULL;
    if (!npg__same_device(x, indices)) {
        npg__set_error(NPG_ERR_DEVICE, "%s: x and indices are on different devices", fn);
        return NULL;
    }
    if (indices->ndim != x->ndim) {
        npg__set_error(NPG_ERR_SHAPE, "%s: indices and x must have the same number of dimensions (%d != %d)", fn,
                       indices->ndim, x->ndim);
        return NULL;
    }
    int a;
    if (!npg__norm_axis(fn, axis, x->ndim, &a)) return NULL;
    npg_scope s = npg_scope_begin();
    npg_array *r = NULL;
    npg_array *ix = as_index(fn, indices);
    if (ix) {
        /* broadcast x and idx on every axis but `axis` */
        int nd;
        int64_t xs[NPG_MAX_DIMS], is[NPG_MAX_DIMS], bs[NPG_MAX_DIMS];
        memcpy(xs, x->shape, sizeof xs);
        memcpy(is, ix->shape, sizeof is);
        xs[a] = 1;
        is[a] = 1;
        if (npg__broadcast_shapes(fn, x->ndim, xs, ix->ndim, is, &nd, bs)) {
            npg_shape xb = {.ndim = nd}, ib = {.ndim = nd};
            memcpy(xb.dims, bs, sizeof bs);
            memcpy(ib.dims, bs, sizeof bs);
            xb.dims[a] = x->shape[a];
            ib.dims[a] = ix->shape[a];
            if (x->shape[a] == 0 && ix->shape[a] > 0 && npg__numel(nd, ib.dims) > 0) {
                npg__set_error(NPG_ERR_INDEX, "%s: cannot take from an empty axis %d", fn, a);
            } else {
                npg_array *xv = npg_broadcast_to(x, xb);
                npg_array *iv = npg_broadcast_to(ix, ib);
                if (xv && iv) r = npg__gather(xv, iv, a);
            }
        }
    }
    return npg__finish(fn, s, r);
}

/* ------------------------------------------------------------------------
 * scatter_add, index_add (out of place: x + src added at the indices)
 * ------------------------------------------------------------------------ */

/* x + zeros(x.shape) with src scatter-added at ix (int64, src's shape) along
 * axis a; ix may be a broadcast view. An index out of range is an error from
 * the kernel (CUDA's skips it and reports it at the next synchronisation, as
 * take does). */
static npg_array *scatter_into(const char *fn, npg_array *x, int a, npg_array *ix, npg_array *src) {
    npg_dtype dt = npg_result_type(x->dtype, src->dtype);
    if (dt == NPG_BOOL) {
        npg__set_error(NPG_ERR_DTYPE, "%s: %s is not supported (the integer and floating dtypes are)", fn,
                       npg_dtype_name(dt));
        return NULL;
    }
    if (x->shape[a] == 0 && npg__numel(ix->ndim, ix->shape) > 0) {
        npg__set_error(NPG_ERR_INDEX, "%s: cannot add into an empty axis %d", fn, a);
        return NULL;
    }
    npg_array *sf = npg__cast(src, dt);
    npg_array *add = sf ? npg__scatter_add_zeros(x->ndim, x->shape, sf, ix, a) : NULL;
    return add ? npg_add(x, add) : NULL;
}

/* The checks scatter_add and index_add share: operands, devices, the axis (into *a). */
static bool scatter_args(const char *fn, npg_array *x, int axis, npg_array *indices, npg_array *src, int *a) {
    if (npg__any_null(fn, 3, x, indices, src)) return false;
    npg_array *ops[3] = {x, indices, src};
    if (!npg__check_devices(fn, 3, ops)) return false;
    if (x->ndim == 0) {
        npg__set_error(NPG_ERR_AXIS, "%s: x is 0-d", fn);
        return false;
    }
    return npg__norm_axis(fn, axis, x->ndim, a);
}

npg_array *npg_scatter_add(npg_array *x, int axis, npg_array *indices, npg_array *src) {
    const char *fn = "npg_scatter_add";
    int a;
    if (!scatter_args(fn, x, axis, indices, src, &a)) return NULL;
    bool fits = indices->ndim == x->ndim && src->ndim == x->ndim;
    for (int i = 0; fits && i < x->ndim; i++)
        fits = indices->shape[i] == src->shape[i] && (i == a || src->shape[i] == x->shape[i]);
    if (!fits) {
        char sx[NPG_SHAPE_BUF], si[NPG_SHAPE_BUF], ss[NPG_SHAPE_BUF];
        npg__set_error(NPG_ERR_SHAPE,
                       "%s: indices %s and src %s must have one shape, x's %s on every axis but %d", fn,
                       npg__shape_str(si, sizeof si, indices->ndim, indices->shape),
                       npg__shape_str(ss, sizeof ss, src->ndim, src->shape), npg__shape_str(sx, sizeof sx, x->ndim, x->shape),
                       a);
        return NULL;
    }
    npg_scope s = npg_scope_begin();
    npg_array *ix = as_index(fn, indices);
    npg_array *r = ix ? scatter_into(fn, x, a, ix, src) : NULL;
    return npg__finish(fn, s, r);
}

npg_array *npg_index_add(npg_array *x, int axis, npg_array *index, npg_array *src) {
    const char *fn = "npg_index_add";
    int a;
    if (!scatter_args(fn, x, axis, index, src, &a)) return NULL;
    if (index->ndim != 1) {
        npg__set_error(NPG_ERR_SHAPE, "%s: index must be 1-d (got %d-d)", fn, index->ndim);
        return NULL;
    }
    bool fits = src->ndim == x->ndim;
    for (int i = 0; fits && i < x->ndim; i++) fits = src->shape[i] == (i == a ? index->shape[0] : x->shape[i]);
    if (!fits) {
        char sx[NPG_SHAPE_BUF], ss[NPG_SHAPE_BUF];
        npg__set_error(NPG_ERR_SHAPE, "%s: src %s must be x's %s with axis %d of length %lld (the index's)", fn,
                       npg__shape_str(ss, sizeof ss, src->ndim, src->shape), npg__shape_str(sx, sizeof sx, x->ndim, x->shape),
                       a, (long long)index->shape[0]);
        return NULL;
    }
    npg_scope s = npg_scope_begin();
    npg_array *ix = as_index(fn, index), *r = NULL;
    if (ix) {
        /* the index along axis, broadcast over src's other axes */
        npg_shape one = {.ndim = x->ndim};
        for (int i = 0; i < x->ndim; i++) one.dims[i] = i == a ? index->shape[0] : 1;
        npg_array *ib = npg_broadcast_to(npg_reshape(ix, one), npg_shape_of(src));
        r = ib ? scatter_into(fn, x, a, ib, src) : NULL;
    }
    return npg__finish(fn, s, r);
}

/* ------------------------------------------------------------------------
 * Sorting
 * ------------------------------------------------------------------------ */

/* Sort kernel along axis `a` of x: values and/or indices (each may be
 * NULL), returned in x's layout. */
static npg_status sort_kernel(const char *fn, npg_array *x, int a, bool desc, npg_array **values, npg_array **indices) {
    npg_scope s = npg_scope_begin();
    npg_status st = NPG_OK;
    npg_axes perm = {.n = x->ndim}, inv = {.n = x->ndim};
    for (int i = 0, k = 0; i < x->ndim; i++)
        if (i != a) perm.axes[k++] = i;
    perm.axes[x->ndim - 1] = a;
    for (int i = 0; i < x->ndim; i++) inv.axes[perm.axes[i]] = i;
    npg_no_grad_begin();
    npg_array *xt = npg_contiguous(npg_permute_dims(x, perm));
    npg_no_grad_end();
    npg_array *v = NULL, *ix = NULL;
    if (!xt) st = npg_last_status();
    if (st == NPG_OK && values) v = npg__alloc_like_dev(fn, x->dtype, xt->ndim, xt->shape, x);
    if (st == NPG_OK && indices) ix = npg__alloc_like_dev(fn, NPG_INT64, xt->ndim, xt->shape, x);
    if ((values && !v) || (indices && !ix)) st = npg_last_status();
    if (st == NPG_OK && npg__numel(xt->ndim, xt->shape) > 0) {
        npg_tdesc dv, di, dx;
        npg__desc(xt, &dx);
        if (v) npg__desc(v, &dv);
        if (ix) npg__desc(ix, &di);
        st = npg__k_sort(npg__backend_of(x), x->storage->dev, v ? &dv : NULL, ix ? &di : NULL, &dx, desc);
    }
    if (st == NPG_OK) {
        npg_no_grad_begin();
        if (values) *values = npg_keep(npg_permute_dims(v, inv));
        if (indices) *indices = npg_keep(npg_permute_dims(ix, inv));
        npg_no_grad_end();
        if ((values && !*values) || (indices && !*indices)) st = npg_last_status();
    }
    npg_scope_end(s);
    return st;
}

static bool sort_axis(const char *fn, npg_array *x, int axis, npg_array **src, int *a) {
    if (x->ndim == 0) {
        npg__set_error(NPG_ERR_SHAPE, "%s: cannot sort a 0-d array", fn);
        return false;
    }
    if (axis == NPG_FLAT) {
        *src = npg_reshape(x, NPG_SHAPE(-1));
        *a = 0;
        return *src != NULL;
    }
    *src = x;
    return npg__norm_axis(fn, axis, x->ndim, a);
}

npg_array *npg_argsort(npg_array *x, int axis, bool descending) {
    const char *fn = "npg_argsort";
    if (!x) {
        npg__null_arg(fn);
        return NULL;
    }
    npg_array *src, *ix = NULL;
    int a;
    if (!sort_axis(fn, x, axis, &src, &a)) return NULL;
    sort_kernel(fn, src, a, descending, NULL, &ix);
    if (src != x) npg_free(src);
    return ix;
}

npg_array *npg_sort(npg_array *x, int axis, bool descending) {
    const char *fn = "npg_sort";
    if (!x) {
        npg__null_arg(fn);
        return NULL;
    }
    npg_array *src, *v = NULL, *ix = NULL;
    int a;
    if (!sort_axis(fn, x, axis, &src, &a)) return NULL;
    if (npg__needs_grad(1, &src)) {
        /* differentiable: values = take_along_axis(x, argsort(x)) */
        if (sort_kernel(fn, src, a, descending, NULL, &ix) == NPG_OK) {
            npg_array *ic = npg_contiguous(ix);
            if (ic) v = npg__gather(src, ic, a);
            npg_free(ic);
        }
        npg_free(ix);
    } else {
        sort_kernel(fn, src, a, descending, &v, NULL);
    }
    if (src != x) npg_free(src);
    return v;
}

npg_status npg_sort_inplace(npg_array *x, int axis, bool descending) {
    const char *fn = "npg_sort_inplace";
    if (!x) {
        npg__null_arg(fn);
        return npg_last_status();
    }
    if (!npg__check_writable(fn, x)) return npg_last_status();
    npg_array *v = NULL;
    int a;
    if (axis == NPG_FLAT) {
        if (!npg__is_contiguous(x))
            return npg__set_error(NPG_ERR_INVALID_ARG, "%s: a non-contiguous array can only be sorted along an axis", fn);
        npg_array *f = npg_reshape(x, NPG_SHAPE(-1));
        if (!f) return npg_last_status();
        npg_status st = npg_sort_inplace(f, 0, descending);
        if (st == NPG_OK) x->storage->version = f->storage->version;
        npg_free(f);
        return st;
    }
    if (x->ndim == 0) return npg__set_error(NPG_ERR_SHAPE, "%s: cannot sort a 0-d array", fn);
    if (!npg__norm_axis(fn, axis, x->ndim, &a)) return npg_last_status();
    npg_status st = sort_kernel(fn, x, a, descending, &v, NULL);
    if (st == NPG_OK) st = npg_assign(x, v);
    npg_free(v);
    return st;
}

/* ------------------------------------------------------------------------
 * nonzero
 * ------------------------------------------------------------------------ */

int64_t npg_count_nonzero(npg_array *x) {
    if (!x) {
        npg__null_arg("npg_count_nonzero");
        return -1;
    }
    npg_array *b = npg__cast(x, NPG_BOOL);
    npg_array *s = npg_sum(b, NPG_ALL_AXES, false);
    int64_t n = s ? npg_item_int(s) : -1;
    if (b != x) npg_free(b);
    npg_free(s);
    return n;
}

npg_array *npg_nonzero(npg_array *x) {
    const char *fn = "npg_nonzero";
    if (!x) {
        npg__null_arg(fn);
        return NULL;
    }
    if (x->ndim == 0) {
        npg__set_error(NPG_ERR_SHAPE, "%s: calling nonzero on 0-d arrays is not allowed (use npg_reshape first)", fn);
        return NULL;
    }
    npg_scope s = npg_scope_begin();
    npg_array *r = NULL;
    npg_array *b = npg_contiguous(npg__cast(x, NPG_BOOL));
    int64_t count = b ? npg_count_nonzero(b) : -1;
    if (count >= 0) {
        int64_t shape[2] = {x->ndim, count};
        r = npg__alloc_like_dev(fn, NPG_INT64, 2, shape, x);
        if (r && count > 0) {
            npg_tdesc o, i;
            npg__desc(r, &o);
            npg__desc(b, &i);
            if (npg__k_nonzero(npg__backend_of(x), x->storage->dev, &o, &i) != NPG_OK) {
                npg_free(r);
                r = NULL;
            }
        }
    }
    return npg__finish(fn, s, r);
}
