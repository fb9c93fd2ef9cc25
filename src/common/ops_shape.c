/*
 * ops_shape.c — views (reshape, permute, broadcast, basic indexing,
 * squeeze/expand_dims/flip, diagonal) and the data-moving shape ops built
 * on them (contiguous, repeat, concat, stack, setitem).
 *
 * Views whose geometry is an affine function of the input's (indexing,
 * squeeze, flip, diagonal) record an INDEX node holding the same geometry
 * relative to a C-contiguous layout of the input; its backward is a strided
 * scatter into zeros, whose own backward is that strided view again — so
 * every view is differentiable to any order.
 */
#include "internal.h"

/* ------------------------------------------------------------------------
 * Geometry helpers
 * ------------------------------------------------------------------------ */

typedef struct geom {
    int ndim;
    int64_t shape[NPG_MAX_DIMS];
    int64_t strides[NPG_MAX_DIMS];
    int64_t offset;
} geom;

static geom geom_of(const npg_array *x) {
    geom g = {.ndim = x->ndim, .offset = x->offset};
    memcpy(g.shape, x->shape, sizeof g.shape);
    memcpy(g.strides, x->strides, sizeof g.strides);
    return g;
}

static geom geom_contig(const npg_array *x) {
    geom g = {.ndim = x->ndim, .offset = 0};
    memcpy(g.shape, x->shape, sizeof g.shape);
    npg__contiguous_strides(x->ndim, x->shape, g.strides);
    return g;
}

/* Whether a requested shape stays within what npg__alloc accepts: the
 * product of its dims, length-0 and -1 ones counted as 1, at most
 * INT64_MAX / 8, so that sizes and strides of views cannot overflow. */
static bool shape_fits(const char *fn, int ndim, const int64_t *shape) {
    uint64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        uint64_t d = shape[i] > 1 ? (uint64_t)shape[i] : 1;
        if (n > (uint64_t)INT64_MAX / 8 / d) {
            char sb[NPG_SHAPE_BUF];
            npg__set_error(NPG_ERR_SHAPE, "%s: shape %s is too large", fn, npg__shape_str(sb, sizeof sb, ndim, shape));
            return false;
        }
        n *= d;
    }
    return true;
}

/* A view of x with geometry g (relative to x's storage), recording an
 * INDEX node with the canonical geometry c when x needs grad. */
static npg_array *affine_view(npg_array *x, const geom *g, const geom *c) {
    npg_array *v = npg__view_raw(x, g->ndim, g->shape, g->strides, g->offset);
    if (!v) return NULL;
    if (npg__needs_grad(1, &x)) {
        npg_node *n = npg__record(NPG_OP_INDEX, v, 1, &x);
        if (n) {
            n->vndim = c->ndim;
            memcpy(n->vshape, c->shape, sizeof n->vshape);
            memcpy(n->vstrides, c->strides, sizeof n->vstrides);
            n->voffset = c->offset;
        }
    }
    return v;
}

/* Python's slice.indices: normalise (start, stop, step) for length n. */
static int64_t slice_indices(int64_t n, int64_t start, int64_t stop, int64_t step, int64_t *pstart) {
    int64_t lower = step > 0 ? 0 : -1, upper = step > 0 ? n : n - 1;
    if (start == NPG_NONE) {
        start = step < 0 ? upper : lower;
    } else {
        if (start < 0) start += n;
        if (start < lower) start = lower;
        if (start > upper) start = upper;
    }
    if (stop == NPG_NONE) {
        stop = step < 0 ? lower : upper;
    } else {
        if (stop < 0) stop += n;
        if (stop < lower) stop = lower;
        if (stop > upper) stop = upper;
    }
    *pstart = start;
    if (step > 0) return stop > start ? (stop - start - 1) / step + 1 : 0;
    return start > stop ? (start - stop - 1) / (-step) + 1 : 0;
}

/* Apply basic indexing to geometry in -> out. */
static bool apply_index(const char *fn, const geom *in, const npg_idx *idx, int n, geom *out) {
    if (n < 0) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: negative number of indices (%d)", fn, n);
        return false;
    }
    int consumed = 0, ellipses = 0, newaxes = 0;
    for (int k = 0; k < n; k++) {
        switch (idx[k].kind) {
        case NPG_IDX_INT:
        case NPG_IDX_SLICE: consumed++; break;
        case NPG_IDX_NEWAXIS: newaxes++; break;
        case NPG_IDX_ELLIPSIS: ellipses++; break;
        default: npg__set_error(NPG_ERR_INVALID_ARG, "%s: index %d has an invalid kind %d", fn, k, (int)idx[k].kind); return false;
        }
    }
    if (ellipses > 1) {
        npg__set_error(NPG_ERR_INDEX, "%s: an index can only have a single ellipsis", fn);
        return false;
    }
    if (consumed > in->ndim) {
        npg__set_error(NPG_ERR_INDEX, "%s: too many indices for array: array is %d-dimensional, but %d were indexed", fn,
                       in->ndim, consumed);
        return false;
    }
    int ints = 0;
    for (int k = 0; k < n; k++) ints += idx[k].kind == NPG_IDX_INT;
    if (in->ndim - ints + newaxes > NPG_MAX_DIMS) {
        npg__set_error(NPG_ERR_SHAPE, "%s: the result would have more than %d dimensions", fn, NPG_MAX_DIMS);
        return false;
    }
    geom r = {.ndim = 0, .offset = in->offset};
    int d = 0;
    for (int k = 0; k < n; k++) {
        const npg_idx *ix = &idx[k];
        if (ix->kind == NPG_IDX_INT) {
            int64_t i = ix->start, len = in->shape[d];
            if (i < -len || i >= len) {
                npg__set_error(NPG_ERR_INDEX, "%s: index %lld is out of bounds for axis %d with size %lld", fn,
                               (long long)i, d, (long long)len);
                return false;
            }
            if (i < 0) i += len;
            r.offset += i * in->strides[d];
            d++;
        } else if (ix->kind == NPG_IDX_SLICE) {
            int64_t step = ix->step == NPG_NONE ? 1 : ix->step;
            if (step == 0) {
                npg__set_error(NPG_ERR_INVALID_ARG, "%s: slice step cannot be zero", fn);
                return false;
            }
            int64_t start;
            int64_t len = slice_indices(in->shape[d], ix->start, ix->stop, step, &start);
            r.shape[r.ndim] = len;
            /* a huge step selects at most one element: its stride is unused
             * (and the product could overflow) */
            r.strides[r.ndim] = len > 1 ? in->strides[d] * step : in->strides[d];
            if (len > 0) r.offset += start * in->strides[d];
            r.ndim++;
            d++;
        } else if (ix->kind == NPG_IDX_NEWAXIS) {
            r.shape[r.ndim] = 1;
            r.strides[r.ndim] = 0;
            r.ndim++;
        } else { /* ellipsis */
            int take = in->ndim - consumed;
            for (int t = 0; t < take; t++, d++) {
                r.shape[r.ndim] = in->shape[d];
                r.strides[r.ndim] = in->strides[d];
                r.ndim++;
            }
        }
    }
    for (; d < in->ndim; d++) {
        r.shape[r.ndim] = in->shape[d];
        r.strides[r.ndim] = in->strides[d];
        r.ndim++;
    }
    *out = r;
    return true;
}

static npg_array *index_impl(const char *fn, npg_array *x, const npg_idx *idx, int n) {
    if (!x) {
        npg__null_arg(fn);
        return NULL;
    }
    if (!idx && n > 0) {
        npg__null_arg(fn);
        return NULL;
    }
    geom g = geom_of(x), c = geom_contig(x), rg, rc;
    if (!apply_index(fn, &g, idx, n, &rg) || !apply_index(fn, &c, idx, n, &rc)) return NULL;
    return affine_view(x, &rg, &rc);
}

npg_array *npg_index(npg_array *x, const npg_idx *idx, int n) { return index_impl("npg_index", x, idx, n); }

/* ------------------------------------------------------------------------
 * Alias, contiguous, reshape
 * ------------------------------------------------------------------------ */

static npg_array *reshape_view(npg_array *x, int ndim, const int64_t *shape, const int64_t *strides, int64_t offset) {
    npg_array *v = npg__view_raw(x, ndim, shape, strides, offset);
    if (v && npg__needs_grad(1, &x)) npg__record(NPG_OP_RESHAPE, v, 1, &x);
    return v;
}

npg_array *npg__alias(npg_array *x) {
    if (!x) {
        npg__null_arg("npg_alias");
        return NULL;
    }
    return reshape_view(x, x->ndim, x->shape, x->strides, x->offset);
}

npg_array *npg_contiguous(npg_array *x) {
    if (!x) {
        npg__null_arg("npg_contiguous");
        return NULL;
    }
    if (npg__is_contiguous(x) && !(x->flags & NPG_AF_READONLY)) return npg__alias(x);
    return npg_copy(x);
}

/* NumPy's attempt_nocopy_reshape: strides for the new shape if the data
 * can be viewed without copying. */
static bool nocopy_strides(const npg_array *x, int nd, const int64_t *nshape, int64_t *nstrides) {
    int64_t oshape[NPG_MAX_DIMS], ostr[NPG_MAX_DIMS];
    int ond = 0;
    for (int i = 0; i < x->ndim; i++)
        if (x->shape[i] != 1) {
            oshape[ond] = x->shape[i];
            ostr[ond] = x->strides[i];
            ond++;
        }
    int oi = 0, oj = 1, ni = 0, nj = 1;
    while (ni < nd && oi < ond) {
        int64_t np = nshape[ni], op = oshape[oi];
        while (np != op) {
            if (np < op)
                np *= nshape[nj++];
            else
                op *= oshape[oj++];
        }
        for (int ok = oi; ok < oj - 1; ok++)
            if (ostr[ok] != oshape[ok + 1] * ostr[ok + 1]) return false;
        nstrides[nj - 1] = ostr[oj - 1];
        for (int nk = nj - 1; nk > ni; nk--) nstrides[nk - 1] = nstrides[nk] * nshape[nk];
        ni = nj++;
        oi = oj++;
    }
    int64_t last = ni > 0 ? nstrides[ni - 1] : 1;
    for (int nk = ni; nk < nd; nk++) nstrides[nk] = last;
    return true;
}

static npg_array *reshape_impl(const char *fn, npg_array *x, npg_shape shape);
npg_array *npg_reshape(npg_array *x, npg_shape shape) { return reshape_impl("npg_reshape", x, shape); }

static npg_array *reshape_impl(const char *fn, npg_array *x, npg_shape shape) {
    if (!x) {
        npg__null_arg(fn);
        return NULL;
    }
    if (shape.ndim < 0 || shape.ndim > NPG_MAX_DIMS) {
        npg__set_error(NPG_ERR_SHAPE, "%s: %d dimensions requested; at most %d are supported", fn, shape.ndim, NPG_MAX_DIMS);
        return NULL;
    }
    if (!shape_fits(fn, shape.ndim, shape.dims)) return NULL;
    int64_t size = npg__numel(x->ndim, x->shape), known = 1;
    int infer = -1;
    for (int i = 0; i < shape.ndim; i++) {
        if (shape.dims[i] == -1) {
            if (infer >= 0) {
                npg__set_error(NPG_ERR_SHAPE, "%s: can only specify one unknown dimension", fn);
                return NULL;
            }
            infer = i;
        } else if (shape.dims[i] < 0) {
            npg__set_error(NPG_ERR_SHAPE, "%s: negative dimension %lld", fn, (long long)shape.dims[i]);
            return NULL;
        } else {
            known *= shape.dims[i];
        }
    }
    if (infer >= 0) {
        if (known == 0 || size % known != 0) goto bad;
        shape.dims[infer] = size / known;
    }
    if (npg__numel(shape.ndim, shape.dims) != size) goto bad;
    int64_t strides[NPG_MAX_DIMS];
    if (size == 0 || size == 1) {
        npg__contiguous_strides(shape.ndim, shape.dims, strides);
        return reshape_view(x, shape.ndim, shape.dims, strides, x->offset);
    }
    if (!(x->flags & NPG_AF_READONLY) && nocopy_strides(x, shape.ndim, shape.dims, strides))
        return reshape_view(x, shape.ndim, shape.dims, strides, x->offset);
    npg_array *c = npg_copy(x);
    if (!c) return NULL;
    npg__contiguous_strides(shape.ndim, shape.dims, strides);
    npg_array *v = reshape_view(c, shape.ndim, shape.dims, strides, c->offset);
    npg_free(c);
    return v;
bad : {
    char sa[NPG_SHAPE_BUF], sb[NPG_SHAPE_BUF];
    npg__set_error(NPG_ERR_SHAPE, "%s: cannot reshape array of shape %s (size %lld) into shape %s", fn,
                   npg__shape_str(sa, sizeof sa, x->ndim, x->shape), (long long)size,
                   npg__shape_str(sb, sizeof sb, shape.ndim, shape.dims));
    return NULL;
}
}

npg_array *npg_flatten(npg_array *x) { return reshape_impl("npg_flatten", x, NPG_SHAPE(-1)); }

/* ------------------------------------------------------------------------
 * Permutations
 * ------------------------------------------------------------------------ */

npg_array *npg_permute_dims(npg_array *x, npg_axes axes) {
    const char *fn = "npg_permute_dims";
    if (!x) {
        npg__null_arg(fn);
        return NULL;
    }
    if (axes.n != x->ndim) {
        npg__set_error(NPG_ERR_AXIS, "%s: axes don't match array (%d axes given for %d dimensions)", fn, axes.n, x->ndim);
        return NULL;
    }
    int perm[NPG_MAX_DIMS];
    uint32_t seen = 0;
    for (int i = 0; i < axes.n; i++) {
        if (!npg__norm_axis(fn, axes.axes[i], x->ndim, &perm[i])) return NULL;
        if (seen & (1u << perm[i])) {
            npg__set_error(NPG_ERR_AXIS, "%s: repeated axis %d in permutation", fn, axes.axes[i]);
            return NULL;
        }
        seen |= 1u << perm[i];
    }
    int64_t shape[NPG_MAX_DIMS], strides[NPG_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) {
        shape[i] = x->shape[perm[i]];
        strides[i] = x->strides[perm[i]];
    }
    npg_array *v = npg__view_raw(x, x->ndim, shape, strides, x->offset);
    if (v && npg__needs_grad(1, &x)) {
        npg_node *n = npg__record(NPG_OP_PERMUTE, v, 1, &x);
        if (n) {
            n->axes.n = x->ndim;
            memcpy(n->axes.axes, perm, sizeof perm);
        }
    }
    return v;
}

npg_array *npg_T(npg_array *x) {
    if (!x) {
        npg__null_arg("npg_T");
        return NULL;
    }
    npg_axes a = {.n = x->ndim};
    for (int i = 0; i < x->ndim; i++) a.axes[i] = x->ndim - 1 - i;
    return npg_permute_dims(x, a);
}

npg_array *npg_swapaxes(npg_array *x, int axis1, int axis2) {
    const char *fn = "npg_swapaxes";
    if (!x) {
        npg__null_arg(fn);
        return NULL;
    }
    int a, b;
    if (!npg__norm_axis(fn, axis1, x->ndim, &a) || !npg__norm_axis(fn, axis2, x->ndim, &b)) return NULL;
    npg_axes p = {.n = x->ndim};
    for (int i = 0; i < x->ndim; i++) p.axes[i] = i;
    p.axes[a] = b;
    p.axes[b] = a;
    return npg_permute_dims(x, p);
}

npg_array *npg_matrix_transpose(npg_array *x) {
    if (!x) {
        npg__null_arg("npg_matrix_transpose");
        return NULL;
    }
    if (x->ndim < 2) {
        npg__set_error(NPG_ERR_SHAPE, "npg_matrix_transpose: the array must have at least 2 dimensions (has %d)", x->ndim);
        return NULL;
    }
    return npg_swapaxes(x, -1, -2);
}

/* ------------------------------------------------------------------------
 * squeeze, expand_dims, flip — basic indexing underneath
 * ------------------------------------------------------------------------ */

npg_array *npg_squeeze(npg_array *x, npg_axes axes) {
    const char *fn = "npg_squeeze";
    if (!x) {
        npg__null_arg(fn);
        return NULL;
    }
    uint32_t mask = 0;
    if (axes.n == 0) {
        for (int i = 0; i < x->ndim; i++)
            if (x->shape[i] == 1) mask |= 1u << i;
    } else {
        if (!npg__axes_mask(fn, axes, x->ndim, &mask)) return NULL;
        for (int i = 0; i < x->ndim; i++)
            if ((mask & (1u << i)) && x->shape[i] != 1) {
                npg__set_error(NPG_ERR_SHAPE, "%s: cannot select an axis to squeeze out which has size not equal to one (axis %d has size %lld)",
                               fn, i, (long long)x->shape[i]);
                return NULL;
            }
    }
    npg_idx idx[NPG_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) idx[i] = (mask & (1u << i)) ? NPG_I(0) : NPG_ALL;
    return index_impl(fn, x, idx, x->ndim);
}

npg_array *npg_expand_dims(npg_array *x, int axis) {
    const char *fn = "npg_expand_dims";
    if (!x) {
        npg__null_arg(fn);
        return NULL;
    }
    int a;
    if (!npg__norm_axis(fn, axis, x->ndim + 1, &a)) return NULL;
    if (x->ndim + 1 > NPG_MAX_DIMS) {
        npg__set_error(NPG_ERR_SHAPE, "%s: the result would have more than %d dimensions", fn, NPG_MAX_DIMS);
        return NULL;
    }
    npg_idx idx[NPG_MAX_DIMS];
    int k = 0;
    for (int i = 0; i <= x->ndim; i++) {
        if (i == a) idx[k++] = NPG_NEWAXIS;
        if (i < x->ndim) idx[k++] = NPG_ALL;
    }
    return index_impl(fn, x, idx, k);
}

npg_array *npg_flip(npg_array *x, npg_axes axes) {
    const char *fn = "npg_flip";
    if (!x) {
        npg__null_arg(fn);
        return NULL;
    }
    uint32_t mask;
    if (!npg__axes_mask(fn, axes, x->ndim, &mask)) return NULL;
    npg_idx idx[NPG_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) idx[i] = (mask & (1u << i)) ? NPG_SLICE(NPG_NONE, NPG_NONE, -1) : NPG_ALL;
    return index_impl(fn, x, idx, x->ndim);
}

/* ------------------------------------------------------------------------
 * Broadcasting and diagonal
 * ------------------------------------------------------------------------ */

npg_array *npg_broadcast_to(npg_array *x, npg_shape shape) {
    const char *fn = "npg_broadcast_to";
    if (!x) {
        npg__null_arg(fn);
        return NULL;
    }
    if (shape.ndim > NPG_MAX_DIMS) {
        npg__set_error(NPG_ERR_SHAPE, "%s: %d dimensions requested; at most %d are supported", fn, shape.ndim, NPG_MAX_DIMS);
        return NULL;
    }
    if (shape.ndim < x->ndim) goto bad;
    if (!shape_fits(fn, shape.ndim, shape.dims)) return NULL;
    int64_t strides[NPG_MAX_DIMS];
    int off = shape.ndim - x->ndim;
    for (int i = 0; i < shape.ndim; i++) {
        if (shape.dims[i] < 0) goto bad;
        int j = i - off;
        if (j < 0) {
            strides[i] = 0;
        } else if (x->shape[j] == shape.dims[i]) {
            strides[i] = x->strides[j];
        } else if (x->shape[j] == 1) {
            strides[i] = 0;
        } else {
            goto bad;
        }
    }
    npg_array *v = npg__view_raw(x, shape.ndim, shape.dims, strides, x->offset);
    if (v && npg__needs_grad(1, &x)) npg__record(NPG_OP_EXPAND, v, 1, &x);
    return v;
bad : {
    char sa[NPG_SHAPE_BUF], sb[NPG_SHAPE_BUF];
    npg__set_error(NPG_ERR_SHAPE, "%s: cannot broadcast an array of shape %s to shape %s", fn,
                   npg__shape_str(sa, sizeof sa, x->ndim, x->shape), npg__shape_str(sb, sizeof sb, shape.ndim, shape.dims));
    return NULL;
}
}

static bool apply_diagonal(const geom *in, int64_t offset, int a1, int a2, geom *out) {
    int64_t n1 = in->shape[a1], n2 = in->shape[a2];
    int64_t len;
    geom r = {.ndim = 0, .offset = in->offset};
    if (offset >= 0) {
        len = n2 - offset < n1 ? n2 - offset : n1;
        if (len > 0) r.offset += offset * in->strides[a2];
    } else {
        len = n1 + offset < n2 ? n1 + offset : n2;
        if (len > 0) r.offset += -offset * in->strides[a1];
    }
    if (len < 0) len = 0;
    for (int i = 0; i < in->ndim; i++) {
        if (i == a1 || i == a2) continue;
        r.shape[r.ndim] = in->shape[i];
        r.strides[r.ndim] = in->strides[i];
        r.ndim++;
    }
    r.shape[r.ndim] = len;
    r.strides[r.ndim] = in->strides[a1] + in->strides[a2];
    r.ndim++;
    *out = r;
    return true;
}

static npg_array *diagonal_impl(const char *fn, npg_array *x, int64_t offset, int axis1, int axis2) {
    if (!x) {
        npg__null_arg(fn);
        return NULL;
    }
    if (x->ndim < 2) {
        npg__set_error(NPG_ERR_SHAPE, "%s: the array must have at least 2 dimensions (has %d)", fn, x->ndim);
        return NULL;
    }
    int a1, a2;
    if (!npg__norm_axis(fn, axis1, x->ndim, &a1) || !npg__norm_axis(fn, axis2, x->ndim, &a2)) return NULL;
    if (a1 == a2) {
        npg__set_error(NPG_ERR_AXIS, "%s: axis1 and axis2 cannot be the same (%d)", fn, a1);
        return NULL;
    }
    geom g = geom_of(x), c = geom_contig(x), rg, rc;
    apply_diagonal(&g, offset, a1, a2, &rg);
    apply_diagonal(&c, offset, a1, a2, &rc);
    return affine_view(x, &rg, &rc);
}

npg_array *npg_diagonal(npg_array *x, int64_t offset, int axis1, int axis2) {
    return diagonal_impl("npg_diagonal", x, offset, axis1, axis2);
}

npg_array *npg_trace(npg_array *x, int64_t offset, int axis1, int axis2) {
    npg_array *d = diagonal_impl("npg_trace", x, offset, axis1, axis2);
    npg_array *r = npg_sum(d, NPG_AXES(-1), false);
    npg_free(d);
    return r;
}

/* ------------------------------------------------------------------------
 * Strided view / scatter: the differentiable pair behind affine views
 * ------------------------------------------------------------------------ */

npg_array *npg__strided_view(npg_array *x, int vndim, const int64_t *vshape, const int64_t *vstrides, int64_t voffset) {
    npg_array *c = npg_contiguous(x);
    if (!c) return NULL;
    geom g = {.ndim = vndim, .offset = c->offset + voffset}, k = {.ndim = vndim, .offset = voffset};
    memcpy(g.shape, vshape, sizeof(int64_t) * (size_t)vndim);
    memcpy(g.strides, vstrides, sizeof(int64_t) * (size_t)vndim);
    memcpy(k.shape, vshape, sizeof(int64_t) * (size_t)vndim);
    memcpy(k.strides, vstrides, sizeof(int64_t) * (size_t)vndim);
    npg_array *v = affine_view(c, &g, &k);
    npg_free(c);
    return v;
}

npg_array *npg__strided_scatter(npg_array *g, int ndim, const int64_t *shape, int vndim, const int64_t *vshape,
                                const int64_t *vstrides, int64_t voffset) {
    const char *fn = "strided_scatter";
    npg_array *out = npg__alloc_like_dev(fn, g->dtype, ndim, shape, g);
    if (!out) return NULL;
    npg_status st = NPG_OK;
    if (npg__numel(ndim, shape) > 0) {
        npg_tdesc d;
        npg__desc(out, &d);
        npg__coalesce(1, (npg_tdesc *[]){&d});
        st = npg__backend_of(out)->fill(out->storage->dev, &d, 0.0, 0);
    }
    if (st == NPG_OK && npg__numel(vndim, vshape) > 0) {
        npg_tdesc o, i;
        npg__desc(out, &o);
        o.data = (char *)out->storage->data + voffset * (int64_t)npg__dtype_size(out->dtype);
        o.ndim = vndim;
        for (int k = 0; k < vndim; k++) {
            o.shape[k] = vshape[k];
            o.strides[k] = vstrides[k];
        }
        npg__desc_bcast(g, vndim, vshape, &i);
        npg_tdesc *ds[2] = {&o, &i};
        npg__coalesce(2, ds);
        st = npg__backend_of(out)->copy(out->storage->dev, &o, &i);
    }
    if (st != NPG_OK) {
        npg_free(out);
        return NULL;
    }
    if (npg__needs_grad(1, &g)) {
        npg_node *n = npg__record(NPG_OP_STRIDED_SCATTER, out, 1, &g);
        if (n) {
            n->vndim = vndim;
            memcpy(n->vshape, vshape, sizeof(int64_t) * (size_t)vndim);
            memcpy(n->vstrides, vstrides, sizeof(int64_t) * (size_t)vndim);
            n->voffset = voffset;
        }
    }
    return out;
}

/* ------------------------------------------------------------------------
 * setitem
 * ------------------------------------------------------------------------ */

static npg_array *write_view(const char *fn, npg_array *x, const npg_idx *idx, int n) {
    if (!x) {
        npg__null_arg(fn);
        return NULL;
    }
    if (!idx && n > 0) {
        npg__null_arg(fn);
        return NULL;
    }
    if (!npg__check_writable(fn, x)) return NULL;
    geom g = geom_of(x), r;
    if (!apply_index(fn, &g, idx, n, &r)) return NULL;
    return npg__view_raw(x, r.ndim, r.shape, r.strides, r.offset);
}

npg_status npg_setitem(npg_array *x, const npg_idx *idx, int n, npg_array *value) {
    const char *fn = "npg_setitem";
    if (!value) {
        npg__null_arg(fn);
        return npg_last_status();
    }
    npg_array *v = write_view(fn, x, idx, n);
    if (!v) return npg_last_status();
    npg_status st = npg_assign(v, value);
    if (st != NPG_OK) {
        /* name this function in the message */
        char msg[512];
        snprintf(msg, sizeof msg, "%s", npg_last_error());
        const char *m = strncmp(msg, "npg_assign: ", 12) == 0 ? msg + 12 : msg;
        npg__set_error(st, "%s: %s", fn, m);
    }
    npg_free(v);
    return st;
}

npg_status npg_setitem_scalar(npg_array *x, const npg_idx *idx, int n, double value) {
    npg_array *v = write_view("npg_setitem_scalar", x, idx, n);
    if (!v) return npg_last_status();
    npg_status st = npg_fill(v, value);
    npg_free(v);
    return st;
}

/* ------------------------------------------------------------------------
 * repeat, concat, stack
 * ------------------------------------------------------------------------ */

npg_array *npg_repeat(npg_array *x, int64_t repeats, int axis) {
    const char *fn = "npg_repeat";
    if (!x) {
        npg__null_arg(fn);
        return NULL;
    }
    if (repeats < 0) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: repeats may not be negative (%lld)", fn, (long long)repeats);
        return NULL;
    }
    npg_scope s = npg_scope_begin();
    npg_array *src = x, *r = NULL;
    int a = 0;
    if (axis == NPG_FLAT) {
        src = npg_reshape(x, NPG_SHAPE(-1));
    } else if (!npg__norm_axis(fn, axis, x->ndim, &a)) {
        src = NULL;
    }
    if (src && src->ndim + 1 > NPG_MAX_DIMS) {
        npg__set_error(NPG_ERR_SHAPE, "%s: arrays of %d dimensions cannot be repeated along an axis", fn, src->ndim);
        src = NULL;
    }
    npg_shape bs = {.ndim = src ? src->ndim + 1 : 0}, rs = {.ndim = src ? src->ndim : 0};
    for (int i = 0, k = 0; i < rs.ndim; i++) {
        bs.dims[k++] = src->shape[i];
        if (i == a) bs.dims[k++] = repeats;
    }
    if (src && !shape_fits(fn, bs.ndim, bs.dims)) src = NULL; /* then rs cannot overflow either */
    if (src) {
        npg_array *e = npg_expand_dims(src, a + 1);
        for (int i = 0; i < rs.ndim; i++) rs.dims[i] = src->shape[i] * (i == a ? repeats : 1);
        r = npg_reshape(npg_broadcast_to(e, bs), rs);
    }
    return npg__finish(fn, s, r);
}

/* A list of n arrays to join: non-NULL, at least one, none NULL. */
static bool check_list(const char *fn, npg_array *const *arrays, int n, const char *verb) {
    if (!arrays) {
        npg__null_arg(fn);
        return false;
    }
    if (n <= 0) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: need at least one array to %s", fn, verb);
        return false;
    }
    for (int i = 0; i < n; i++)
        if (!arrays[i]) {
            npg__null_arg(fn);
            return false;
        }
    return true;
}

npg_array *npg_concat(npg_array *const *arrays, int n, int axis) {
    const char *fn = "npg_concat";
    if (!check_list(fn, arrays, n, "concatenate")) return NULL;
    npg_array *f = arrays[0];
    if (f->ndim == 0) {
        npg__set_error(NPG_ERR_SHAPE, "%s: zero-dimensional arrays cannot be concatenated", fn);
        return NULL;
    }
    int a;
    if (!npg__norm_axis(fn, axis, f->ndim, &a)) return NULL;
    npg_dtype dt = f->dtype;
    int64_t shape[NPG_MAX_DIMS];
    memcpy(shape, f->shape, sizeof shape);
    shape[a] = 0;
    for (int i = 0; i < n; i++) {
        npg_array *x = arrays[i];
        if (!npg__same_device(x, f)) {
            npg__set_error(NPG_ERR_DEVICE, "%s: array %d is on a different device than array 0", fn, i);
            return NULL;
        }
        bool ok = x->ndim == f->ndim;
        for (int d = 0; ok && d < f->ndim; d++)
            if (d != a && x->shape[d] != f->shape[d]) ok = false;
        if (!ok) {
            char sa[NPG_SHAPE_BUF], sb[NPG_SHAPE_BUF];
            npg__set_error(NPG_ERR_SHAPE, "%s: array %d has shape %s, which does not match %s except along axis %d",
                           fn, i, npg__shape_str(sa, sizeof sa, x->ndim, x->shape),
                           npg__shape_str(sb, sizeof sb, f->ndim, f->shape), a);
            return NULL;
        }
        shape[a] += x->shape[a];
        dt = npg_result_type(dt, x->dtype);
    }
    npg_array *out = npg__alloc_like_dev(fn, dt, f->ndim, shape, f);
    if (!out) return NULL;
    int64_t pos = 0;
    npg_array **cast = calloc((size_t)n, sizeof *cast);
    if (!cast) {
        npg_free(out);
        npg__set_error(NPG_ERR_OOM, "%s: out of memory", fn);
        return NULL;
    }
    npg_status st = NPG_OK;
    for (int i = 0; i < n && st == NPG_OK; i++) {
        npg_array *x = arrays[i];
        cast[i] = npg__cast(x, dt);
        if (!cast[i]) {
            st = npg_last_status();
            break;
        }
        if (npg__numel(x->ndim, x->shape) > 0) {
            npg_tdesc o, in;
            npg__desc(out, &o);
            o.shape[a] = x->shape[a];
            o.data = (char *)o.data + pos * out->strides[a] * (int64_t)npg__dtype_size(dt);
            npg__desc(cast[i], &in);
            npg_tdesc *ds[2] = {&o, &in};
            npg__coalesce(2, ds);
            st = npg__backend_of(out)->copy(out->storage->dev, &o, &in);
        }
        pos += x->shape[a];
    }
    if (st == NPG_OK && npg_is_floating(dt) && npg__needs_grad(n, cast)) {
        npg_node *node = npg__record(NPG_OP_CONCAT, out, n, cast);
        if (node) node->axis = a;
    }
    for (int i = 0; i < n; i++)
        if (cast[i] && cast[i] != arrays[i]) npg_free(cast[i]);
    free(cast);
    if (st != NPG_OK) {
        npg_free(out);
        return NULL;
    }
    return out;
}

npg_array *npg_stack(npg_array *const *arrays, int n, int axis) {
    const char *fn = "npg_stack";
    if (!check_list(fn, arrays, n, "stack")) return NULL;
    for (int i = 1; i < n; i++) {
        if (arrays[i]->ndim != arrays[0]->ndim ||
            memcmp(arrays[i]->shape, arrays[0]->shape, sizeof(int64_t) * (size_t)arrays[0]->ndim) != 0) {
            npg__set_error(NPG_ERR_SHAPE, "%s: all input arrays must have the same shape (array %d differs)", fn, i);
            return NULL;
        }
    }
    int a;
    if (!npg__norm_axis(fn, axis, arrays[0]->ndim + 1, &a)) return NULL;
    npg_scope s = npg_scope_begin();
    npg_array **ex = calloc((size_t)n, sizeof *ex);
    npg_array *r = NULL;
    if (ex) {
        bool ok = true;
        for (int i = 0; i < n && ok; i++) ok = (ex[i] = npg_expand_dims(arrays[i], a)) != NULL;
        if (ok) r = npg_concat(ex, n, a);
        free(ex);
    } else {
        npg__set_error(NPG_ERR_OOM, "%s: out of memory", fn);
    }
    return npg__finish(fn, s, r);
}
