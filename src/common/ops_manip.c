/*
 * ops_manip.c — array API / NumPy functions composed from other ops, so they
 * run on every device and differentiate through the rules of the ops they
 * use: moveaxis, roll, tile, unstack, broadcast_arrays, meshgrid, tril,
 * triu, diff, tensordot and einsum. Arguments are checked here first, so an
 * error names the function the caller called.
 */
#include "internal.h"

/* Normalise ax->n axes into out, in order (each in [0, ndim), no repeats:
 * npg__axes_mask checks, as for reductions). */
static bool norm_axes_unique(const char *fn, const npg_axes *ax, int ndim, int *out) {
    uint32_t mask;
    if (ax->n > 0 && !npg__axes_mask(fn, *ax, ndim, &mask)) return false;
    for (int i = 0; i < ax->n; i++) npg__norm_axis(fn, ax->axes[i], ndim, &out[i]); /* checked above */
    return true;
}

/* Free out[0..n) and set them NULL (a failed multi-output call). */
static npg_status fail_outputs(npg_array **out, int n) {
    npg_status st = npg_last_status();
    for (int i = 0; i < n; i++) {
        npg_free(out[i]);
        out[i] = NULL;
    }
    return st;
}

npg_array *npg_moveaxis(npg_array *x, npg_axes source, npg_axes destination) {
    const char *fn = "npg_moveaxis";
    if (!x) {
        npg__null_arg(fn);
        return NULL;
    }
    if (source.n != destination.n || source.n < 0 || source.n > NPG_MAX_DIMS) {
        npg__set_error(NPG_ERR_AXIS, "%s: %d source axes but %d destination axes", fn, source.n, destination.n);
        return NULL;
    }
    int src[NPG_MAX_DIMS], dst[NPG_MAX_DIMS];
    if (!norm_axes_unique(fn, &source, x->ndim, src) || !norm_axes_unique(fn, &destination, x->ndim, dst))
        return NULL;
    /* NumPy's order: the other axes as they are, then each source axis
     * inserted at its destination, in increasing destination order */
    npg_axes perm = {.n = x->ndim};
    int slot_src[NPG_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) slot_src[i] = -1;
    for (int i = 0; i < source.n; i++) slot_src[dst[i]] = src[i];
    int rest = 0;
    for (int i = 0; i < x->ndim; i++) {
        if (slot_src[i] >= 0) {
            perm.axes[i] = slot_src[i];
            continue;
        }
        for (;;) { /* the next axis that is not moved */
            bool moved = false;
            for (int k = 0; k < source.n; k++) moved |= src[k] == rest;
            if (!moved) break;
            rest++;
        }
        perm.axes[i] = rest++;
    }
    return npg_permute_dims(x, perm);
}

/* x[..., lo:hi, ...] along axis a (a view). */
static npg_array *slice_axis(npg_array *x, int a, int64_t lo, int64_t hi) {
    npg_idx idx[NPG_MAX_DIMS];
    for (int i = 0; i < a; i++) idx[i] = NPG_ALL;
    idx[a] = NPG_SLICE(lo, hi, 1);
    return npg_index(x, idx, a + 1);
}

npg_array *npg_roll(npg_array *x, int64_t shift, int axis) {
    const char *fn = "npg_roll";
    if (!x) {
        npg__null_arg(fn);
        return NULL;
    }
    int a = 0;
    if (axis != NPG_FLAT && !npg__norm_axis(fn, axis, x->ndim, &a)) return NULL;
    npg_scope s = npg_scope_begin();
    npg_array *src = axis == NPG_FLAT ? npg_reshape(x, NPG_SHAPE(-1)) : x, *r = NULL;
    if (src) {
        int64_t n = src->shape[a];
        int64_t k = n ? ((shift % n) + n) % n : 0;
        if (k == 0) {
            r = npg_copy(src);
        } else {
            npg_array *parts[2] = {slice_axis(src, a, n - k, n), slice_axis(src, a, 0, n - k)};
            r = npg_concat(parts, 2, a);
        }
        if (r && axis == NPG_FLAT) r = npg_reshape(r, npg_shape_of(x));
    }
    return npg__finish(fn, s, r);
}

npg_array *npg_tile(npg_array *x, npg_shape reps) {
    const char *fn = "npg_tile";
    if (!x) {
        npg__null_arg(fn);
        return NULL;
    }
    if (reps.ndim < 0 || reps.ndim > NPG_MAX_DIMS) {
        npg__set_error(NPG_ERR_SHAPE, "%s: %d repetition counts (at most %d)", fn, reps.ndim, NPG_MAX_DIMS);
        return NULL;
    }
    /* NumPy: the shorter of x's shape and reps is padded with leading 1s */
    const int m = x->ndim > reps.ndim ? x->ndim : reps.ndim;
    npg_shape xs = {.ndim = m}, rs = {.ndim = m};
    uint64_t total = 1;
    bool empty = false;
    for (int i = 0; i < m; i++) {
        int xi = i - (m - x->ndim), ri = i - (m - reps.ndim);
        xs.dims[i] = xi >= 0 ? x->shape[xi] : 1;
        rs.dims[i] = ri >= 0 ? reps.dims[ri] : 1;
        if (rs.dims[i] < 0) {
            npg__set_error(NPG_ERR_INVALID_ARG, "%s: repetition count %lld is negative", fn, (long long)rs.dims[i]);
            return NULL;
        }
        uint64_t d = (uint64_t)xs.dims[i] * (uint64_t)rs.dims[i];
        if ((xs.dims[i] && d / (uint64_t)xs.dims[i] != (uint64_t)rs.dims[i]) || (d && total > (uint64_t)INT64_MAX / d)) {
            npg__set_error(NPG_ERR_OOM, "%s: the tiled array is too large", fn);
            return NULL;
        }
        total *= d ? d : 1;
        empty |= d == 0;
    }
    npg_scope s = npg_scope_begin();
    npg_array *r = npg_reshape(x, xs);
    bool copied = false;
    if (r && empty) {
        /* nothing to gather, but another axis may be too long to index: the
         * first element of x (or none) along each axis, broadcast */
        npg_shape out = {.ndim = m};
        npg_idx first[NPG_MAX_DIMS];
        for (int i = 0; i < m; i++) {
            out.dims[i] = xs.dims[i] * rs.dims[i];
            first[i] = NPG_SLICE(0, out.dims[i] ? 1 : 0, 1);
        }
        r = npg_copy(npg_broadcast_to(npg_index(r, first, m), out));
        copied = true;
    }
    /* each repeated axis: a gather of indices (0..len-1) repeated reps times */
    for (int i = 0; r && !empty && i < m; i++) {
        if (rs.dims[i] == 1) continue;
        copied = true;
        npg_device dev = npg__device_of(x);
        npg_array *idx = npg_remainder_scalar(
            npg_arange(0, (double)(xs.dims[i] * rs.dims[i]), 1, NPG_OPTS(.dtype = NPG_INT64, .device = dev)),
            (double)(xs.dims[i] ? xs.dims[i] : 1));
        r = npg_take(r, idx, i);
    }
    if (r && !copied) r = npg_copy(r); /* always a new array, as NumPy's */
    return npg__finish(fn, s, r);
}

npg_status npg_unstack(npg_array *x, int axis, npg_array **out, int n) {
    const char *fn = "npg_unstack";
    if (!out) return npg__set_error(NPG_ERR_NULL_ARG, "%s: out is NULL", fn);
    for (int i = 0; i < n; i++) out[i] = NULL;
    if (!x) {
        npg__null_arg(fn);
        return npg_last_status();
    }
    int a;
    if (!npg__norm_axis(fn, axis, x->ndim, &a)) return npg_last_status();
    if (n != x->shape[a])
        return npg__set_error(NPG_ERR_SHAPE, "%s: axis %d has length %lld but out has room for %d arrays", fn, axis,
                              (long long)x->shape[a], n);
    npg_idx idx[NPG_MAX_DIMS];
    for (int i = 0; i < a; i++) idx[i] = NPG_ALL;
    for (int i = 0; i < n; i++) {
        idx[a] = NPG_I(i);
        if (!(out[i] = npg_index(x, idx, a + 1))) return fail_outputs(out, i);
    }
    return NPG_OK;
}

npg_status npg_broadcast_arrays(npg_array *const *arrays, int n, npg_array **out) {
    const char *fn = "npg_broadcast_arrays";
    if (!out) return npg__set_error(NPG_ERR_NULL_ARG, "%s: out is NULL", fn);
    if (n < 0) return npg__set_error(NPG_ERR_INVALID_ARG, "%s: n is %d", fn, n);
    for (int i = 0; i < n; i++) out[i] = NULL;
    if (n > 0 && !arrays) return npg__set_error(NPG_ERR_NULL_ARG, "%s: arrays is NULL", fn);
    int nd = 0;
    int64_t shape[NPG_MAX_DIMS];
    for (int i = 0; i < n; i++) {
        if (!arrays[i]) {
            npg__null_arg(fn);
            return npg_last_status();
        }
        if (!npg__broadcast_shapes(fn, nd, shape, arrays[i]->ndim, arrays[i]->shape, &nd, shape))
            return npg_last_status();
    }
    npg_shape bs = {.ndim = nd};
    memcpy(bs.dims, shape, sizeof(int64_t) * (size_t)nd);
    for (int i = 0; i < n; i++)
        if (!(out[i] = npg_broadcast_to(arrays[i], bs))) return fail_outputs(out, i);
    return NPG_OK;
}

npg_status npg_meshgrid(npg_array *const *arrays, int n, const char *indexing, npg_array **out) {
    const char *fn = "npg_meshgrid";
    if (!out) return npg__set_error(NPG_ERR_NULL_ARG, "%s: out is NULL", fn);
    if (n < 0 || n > NPG_MAX_DIMS)
        return npg__set_error(NPG_ERR_INVALID_ARG, "%s: %d arrays (0 to %d)", fn, n, NPG_MAX_DIMS);
    for (int i = 0; i < n; i++) out[i] = NULL;
    if (n > 0 && !arrays) return npg__set_error(NPG_ERR_NULL_ARG, "%s: arrays is NULL", fn);
    bool xy = true;
    if (indexing && strcmp(indexing, "xy") != 0) {
        if (strcmp(indexing, "ij") != 0)
            return npg__set_error(NPG_ERR_INVALID_ARG, "%s: indexing is \"%s\" (\"xy\" or \"ij\")", fn, indexing);
        xy = false;
    }
    npg_shape full = {.ndim = n};
    for (int i = 0; i < n; i++) {
        if (!arrays[i]) {
            npg__null_arg(fn);
            return npg_last_status();
        }
        if (arrays[i]->ndim != 1)
            return npg__set_error(NPG_ERR_SHAPE, "%s: array %d has %d dimensions (one-dimensional arrays only)", fn, i,
                                  arrays[i]->ndim);
        full.dims[i] = arrays[i]->shape[0];
    }
    /* "xy": the first two axes swap (Cartesian: x varies along columns) */
    const bool swap = xy && n >= 2;
    if (swap) {
        int64_t t = full.dims[0];
        full.dims[0] = full.dims[1];
        full.dims[1] = t;
    }
    for (int i = 0; i < n; i++) {
        int pos = swap && i < 2 ? 1 - i : i;
        npg_shape sh = {.ndim = n};
        for (int k = 0; k < n; k++) sh.dims[k] = k == pos ? full.dims[k] : 1;
        npg_scope s = npg_scope_begin();
        npg_array *r = npg_broadcast_to(npg_reshape(arrays[i], sh), full);
        npg_keep(r);
        npg_scope_end(s);
        if (!(out[i] = r)) return fail_outputs(out, i);
    }
    return NPG_OK;
}

/* tril (upper = false) / triu: x where (col - row <= k) / (col - row >= k), else 0. */
static npg_array *tri(const char *fn, npg_array *x, int64_t k, bool upper) {
    if (!x) {
        npg__null_arg(fn);
        return NULL;
    }
    if (x->ndim < 2) {
        npg__set_error(NPG_ERR_SHAPE, "%s: the array has %d dimensions (at least 2)", fn, x->ndim);
        return NULL;
    }
    const int64_t rows = x->shape[x->ndim - 2], cols = x->shape[x->ndim - 1];
    npg_device dev = npg__device_of(x);
    npg_scope s = npg_scope_begin();
    npg_array *r = npg_reshape(npg_arange(0, (double)rows, 1, NPG_OPTS(.dtype = NPG_INT64, .device = dev)),
                               NPG_SHAPE(rows, 1));
    npg_array *c = npg_arange(0, (double)cols, 1, NPG_OPTS(.dtype = NPG_INT64, .device = dev));
    npg_array *d = npg_subtract(c, r); /* (rows, cols): col - row */
    npg_array *keep = upper ? npg_greater_equal_scalar(d, (double)k) : npg_less_equal_scalar(d, (double)k);
    npg_array *out = npg_where_scalar(keep, x, 0);
    return npg__finish(fn, s, out);
}

npg_array *npg_tril(npg_array *x, int64_t k) { return tri("npg_tril", x, k, false); }
npg_array *npg_triu(npg_array *x, int64_t k) { return tri("npg_triu", x, k, true); }

npg_array *npg_diff(npg_array *x, int n, int axis) {
    const char *fn = "npg_diff";
    if (!x) {
        npg__null_arg(fn);
        return NULL;
    }
    if (n < 0) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: n is %d (not negative)", fn, n);
        return NULL;
    }
    int a;
    if (!npg__norm_axis(fn, axis, x->ndim, &a)) return NULL;
    npg_scope s = npg_scope_begin();
    npg_array *r = n == 0 ? npg_copy(x) : x;
    for (int i = 0; r && i < n; i++) {
        int64_t len = r->shape[a];
        if (len == 0) break;
        npg_array *hi = slice_axis(r, a, 1, len), *lo = slice_axis(r, a, 0, len - 1);
        r = r->dtype == NPG_BOOL ? npg_not_equal(hi, lo) : npg_subtract(hi, lo);
    }
    if (r == x) r = npg_copy(x); /* an empty axis: nothing to subtract */
    return npg__finish(fn, s, r);
}

/* ------------------------------------------------------------------------
 * tensordot and einsum: contractions as one matmul of permuted, reshaped
 * operands
 * ------------------------------------------------------------------------ */

npg_array *npg_tensordot(npg_array *a, npg_array *b, int n) {
    const char *fn = "npg_tensordot";
    if (!a || !b) {
        npg__null_arg(fn);
        return NULL;
    }
    if (n < 0 || n > a->ndim || n > b->ndim) {
        npg__set_error(NPG_ERR_AXIS, "%s: cannot contract %d axes of arrays with %d and %d dimensions", fn, n, a->ndim,
                       b->ndim);
        return NULL;
    }
    npg_axes xa = {.n = n}, xb = {.n = n};
    for (int i = 0; i < n; i++) {
        xa.axes[i] = a->ndim - n + i;
        xb.axes[i] = i;
    }
    return npg_tensordot_axes(a, b, xa, xb);
}

/* einsum labels: 'a'-'z' are 0-25, 'A'-'Z' 26-51, the dimensions an
 * ellipsis stands for 52.. (aligned to the right, broadcast). */
#define EIN_LETTERS 52
#define EIN_LABELS (EIN_LETTERS + NPG_MAX_DIMS)

typedef struct ein_term {
    npg_array *x; /* scoped */
    int n;        /* labels = x's dims */
    int lab[NPG_MAX_DIMS];
} ein_term;

static int ein_label(char ch) {
    if (ch >= 'a' && ch <= 'z') return ch - 'a';
    if (ch >= 'A' && ch <= 'Z') return ch - 'A' + 26;
    return -1;
}

/* Parse one term's subscripts [p, end) for an operand of ndim dims (ndim < 0:
 * the output, whose ellipsis takes `ell` dims). Returns the label count or -1. */
static int ein_parse(const char *fn, const char *p, const char *end, int ndim, int ell, int *lab, int *ell_dims) {
    int n = 0, before = 0, explicit_n = 0;
    bool has_ell = false;
    for (const char *c = p; c < end; c++) {
        if (*c == ' ') continue;
        if (*c == '.') {
            if (has_ell || end - c < 3 || c[1] != '.' || c[2] != '.') {
                npg__set_error(NPG_ERR_INVALID_ARG, "%s: a '.' that is not part of one '...'", fn);
                return -1;
            }
            has_ell = true;
            before = explicit_n;
            c += 2;
            continue;
        }
        if (ein_label(*c) < 0) {
            npg__set_error(NPG_ERR_INVALID_ARG, "%s: '%c' is not a subscript (letters a-z, A-Z and '...')", fn, *c);
            return -1;
        }
        explicit_n++;
    }
    int e = 0;
    if (has_ell) e = ndim >= 0 ? ndim - explicit_n : ell;
    if (ndim >= 0 && (e < 0 || (!has_ell && explicit_n != ndim))) {
        npg__set_error(NPG_ERR_SHAPE, "%s: subscripts '%.*s' name %d dimensions of an array with %d", fn,
                       (int)(end - p), p, explicit_n, ndim);
        return -1;
    }
    if (explicit_n + e > NPG_MAX_DIMS) {
        npg__set_error(NPG_ERR_SHAPE, "%s: too many dimensions", fn);
        return -1;
    }
    if (ell_dims) *ell_dims = has_ell ? e : 0;
    int k = 0;
    for (const char *c = p; c < end; c++) {
        if (*c == ' ') continue;
        if (*c == '.') {
            c += 2;
            continue;
        }
        if (k == before && has_ell)
            for (int j = 0; j < e; j++) lab[n++] = EIN_LETTERS + (NPG_MAX_DIMS - e) + j;
        lab[n++] = ein_label(*c);
        k++;
    }
    if (has_ell && k == before)
        for (int j = 0; j < e; j++) lab[n++] = EIN_LETTERS + (NPG_MAX_DIMS - e) + j;
    return n;
}

/* Sum t over the given labels (each present once in t). */
static bool ein_sum_out(ein_term *t, const bool *drop) {
    npg_axes ax = {.n = 0};
    int keep[NPG_MAX_DIMS], nk = 0;
    for (int i = 0; i < t->n; i++) {
        if (drop[t->lab[i]])
            ax.axes[ax.n++] = i;
        else
            keep[nk++] = t->lab[i];
    }
    if (ax.n == 0) return true;
    t->x = npg_sum(t->x, ax, false);
    if (!t->x) return false;
    t->n = nk;
    memcpy(t->lab, keep, sizeof(int) * (size_t)nk);
    return true;
}

/* Contract a and b into a, keeping the labels in `keep`. */
static bool ein_pair(const char *fn, ein_term *a, ein_term *b, const bool *keep) {
    int ia[EIN_LABELS], ib[EIN_LABELS];
    for (int l = 0; l < EIN_LABELS; l++) ia[l] = ib[l] = -1;
    for (int i = 0; i < a->n; i++) ia[a->lab[i]] = i;
    for (int i = 0; i < b->n; i++) ib[b->lab[i]] = i;
    int bat[NPG_MAX_DIMS], ao[NPG_MAX_DIMS], bo[NPG_MAX_DIMS], con[NPG_MAX_DIMS];
    int nbat = 0, nao = 0, nbo = 0, ncon = 0;
    for (int l = 0; l < EIN_LABELS; l++) {
        if (ia[l] >= 0 && ib[l] >= 0) {
            int64_t sa = a->x->shape[ia[l]], sb = b->x->shape[ib[l]];
            if (keep[l] || sa != sb) {
                if (sa != sb && sa != 1 && sb != 1) {
                    npg__set_error(NPG_ERR_SHAPE, "%s: a subscript stands for lengths %lld and %lld", fn,
                                   (long long)sa, (long long)sb);
                    return false;
                }
                if (!keep[l] && l < EIN_LETTERS) {
                    npg__set_error(NPG_ERR_SHAPE, "%s: subscript '%c' stands for lengths %lld and %lld", fn,
                                   l < 26 ? 'a' + l : 'A' + l - 26, (long long)sa, (long long)sb);
                    return false;
                }
                bat[nbat++] = l; /* kept, or broadcast (summed after the product) */
            } else {
                con[ncon++] = l;
            }
        } else if (ia[l] >= 0) {
            ao[nao++] = l;
        } else if (ib[l] >= 0) {
            bo[nbo++] = l;
        }
    }
    if (nbat + nao + nbo > NPG_MAX_DIMS) {
        npg__set_error(NPG_ERR_SHAPE, "%s: an intermediate result needs more than %d dimensions", fn, NPG_MAX_DIMS);
        return false;
    }
    /* more than NPG_MAX_DIMS - 2 batch labels: broadcast both operands'
     * batch axes to the result's and merge them into one for the product */
    const bool merge = nbat + 2 > NPG_MAX_DIMS;
    /* a -> (batch..., a only..., contracted...) as (batch..., M, K);
     * b -> (batch..., contracted..., b only...) as (batch..., K, N) */
    npg_axes pa = {.n = a->n}, pb = {.n = b->n};
    npg_shape sa = {.ndim = merge ? 3 : nbat + 2}, sb = sa, so = {.ndim = nbat + nao + nbo};
    int q = 0;
    int64_t M = 1, N = 1, K = 1;
    for (int i = 0; i < nbat; i++) {
        pa.axes[q] = ia[bat[i]];
        pb.axes[q++] = ib[bat[i]];
        sa.dims[i] = a->x->shape[ia[bat[i]]];
        sb.dims[i] = b->x->shape[ib[bat[i]]];
        so.dims[i] = sa.dims[i] == 1 ? sb.dims[i] : sa.dims[i]; /* broadcast (1 with 0 is 0) */
    }
    int qa = q, qb = q;
    for (int i = 0; i < nao; i++) {
        pa.axes[qa++] = ia[ao[i]];
        M *= a->x->shape[ia[ao[i]]];
        so.dims[nbat + i] = a->x->shape[ia[ao[i]]];
    }
    for (int i = 0; i < ncon; i++) {
        pa.axes[qa++] = ia[con[i]];
        pb.axes[qb++] = ib[con[i]];
        K *= a->x->shape[ia[con[i]]];
    }
    for (int i = 0; i < nbo; i++) {
        pb.axes[qb++] = ib[bo[i]];
        N *= b->x->shape[ib[bo[i]]];
        so.dims[nbat + nao + i] = b->x->shape[ib[bo[i]]];
    }
    if (!merge) {
        sa.dims[nbat] = M, sa.dims[nbat + 1] = K;
        sb.dims[nbat] = K, sb.dims[nbat + 1] = N;
    }
    npg_array *ap = npg_permute_dims(a->x, pa), *bp = npg_permute_dims(b->x, pb);
    if (merge && ap && bp) {
        npg_shape ba = npg_shape_of(ap), bb = npg_shape_of(bp);
        for (int i = 0; i < nbat; i++) ba.dims[i] = bb.dims[i] = so.dims[i];
        ap = npg_broadcast_to(ap, ba);
        bp = npg_broadcast_to(bp, bb);
        const int64_t B = npg__numel(nbat, so.dims);
        sa = (npg_shape){.ndim = 3, .dims = {B, M, K}};
        sb = (npg_shape){.ndim = 3, .dims = {B, K, N}};
    }
    npg_array *am = npg_reshape(ap, sa);
    npg_array *bm = npg_reshape(bp, sb);
    npg_array *r = npg_reshape(npg_matmul(am, bm), so);
    if (!r) return false;
    a->x = r;
    a->n = so.ndim;
    for (int i = 0; i < nbat; i++) a->lab[i] = bat[i];
    for (int i = 0; i < nao; i++) a->lab[nbat + i] = ao[i];
    for (int i = 0; i < nbo; i++) a->lab[nbat + nao + i] = bo[i];
    /* batch labels that were only broadcast, not kept, are summed now */
    bool drop[EIN_LABELS] = {false};
    for (int i = 0; i < nbat; i++) drop[bat[i]] = !keep[bat[i]];
    return ein_sum_out(a, drop);
}

/* tensordot as one einsum pair: contracted axis j of both is label j, a's
 * free axes follow in order, then b's, so ein_pair keeps a's then b's. */
npg_array *npg_tensordot_axes(npg_array *a, npg_array *b, npg_axes axes_a, npg_axes axes_b) {
    const char *fn = "npg_tensordot";
    if (!a || !b) {
        npg__null_arg(fn);
        return NULL;
    }
    if (axes_a.n != axes_b.n || axes_a.n < 0 || axes_a.n > NPG_MAX_DIMS) {
        npg__set_error(NPG_ERR_AXIS, "%s: %d axes of the first array but %d of the second", fn, axes_a.n, axes_b.n);
        return NULL;
    }
    int ca[NPG_MAX_DIMS], cb[NPG_MAX_DIMS];
    if (!norm_axes_unique(fn, &axes_a, a->ndim, ca) || !norm_axes_unique(fn, &axes_b, b->ndim, cb)) return NULL;
    const int k = axes_a.n;
    for (int i = 0; i < k; i++)
        if (a->shape[ca[i]] != b->shape[cb[i]]) {
            npg__set_error(NPG_ERR_SHAPE, "%s: axis %d of the first array has length %lld, axis %d of the second %lld",
                           fn, ca[i], (long long)a->shape[ca[i]], cb[i], (long long)b->shape[cb[i]]);
            return NULL;
        }
    if (a->ndim + b->ndim - 2 * k > NPG_MAX_DIMS) {
        npg__set_error(NPG_ERR_SHAPE, "%s: the result would have %d dimensions (at most %d)", fn,
                       a->ndim + b->ndim - 2 * k, NPG_MAX_DIMS);
        return NULL;
    }
    ein_term ta = {.x = a, .n = a->ndim}, tb = {.x = b, .n = b->ndim};
    bool keep[EIN_LABELS] = {false};
    int next = k;
    for (int i = 0; i < k; i++) ta.lab[ca[i]] = tb.lab[cb[i]] = i;
    for (int t = 0; t < 2; t++) {
        ein_term *e = t ? &tb : &ta;
        const int *c = t ? cb : ca;
        for (int i = 0; i < e->n; i++) {
            bool contracted = false;
            for (int j = 0; j < k; j++) contracted |= c[j] == i;
            if (!contracted) keep[e->lab[i] = next++] = true;
        }
    }
    npg_scope s = npg_scope_begin();
    npg_array *r = ein_pair(fn, &ta, &tb, keep) ? ta.x : NULL;
    return npg__finish(fn, s, r);
}

npg_array *npg_einsum(const char *subscripts, npg_array *const *operands, int n) {
    const char *fn = "npg_einsum";
    if (!subscripts || (n > 0 && !operands)) {
        npg__set_error(NPG_ERR_NULL_ARG, "%s: %s is NULL", fn, !subscripts ? "subscripts" : "operands");
        return NULL;
    }
    if (n < 1) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: needs at least one operand (n is %d)", fn, n);
        return NULL;
    }
    for (int i = 0; i < n; i++)
        if (!operands[i]) {
            npg__null_arg(fn);
            return NULL;
        }
    const char *arrow = strstr(subscripts, "->");
    const char *lhs_end = arrow ? arrow : subscripts + strlen(subscripts);
    npg_scope s = npg_scope_begin();
    npg_array *result = NULL;
    ein_term *t = calloc((size_t)n, sizeof *t);
    if (!t) {
        npg__set_error(NPG_ERR_OOM, "%s: out of host memory", fn);
        goto out;
    }
    /* operands */
    int ell = 0, count[EIN_LABELS] = {0}, written[EIN_LABELS] = {0};
    int64_t size[EIN_LABELS];
    const char *p = subscripts;
    for (int i = 0; i < n; i++) {
        const char *e = p;
        while (e < lhs_end && *e != ',') e++;
        if (i < n - 1 && e == lhs_end) {
            npg__set_error(NPG_ERR_INVALID_ARG, "%s: '%s' has subscripts for %d operands, %d given", fn, subscripts, i + 1,
                           n);
            goto out;
        }
        int e_dims = 0;
        t[i].x = operands[i];
        t[i].n = ein_parse(fn, p, e, operands[i]->ndim, 0, t[i].lab, &e_dims);
        if (t[i].n < 0) goto out;
        for (int k = 0; k < t[i].n; k++) written[t[i].lab[k]]++;
        if (e_dims > ell) ell = e_dims;
        /* a label repeated within one operand takes that operand's diagonal */
        for (bool again = true; again;) {
            again = false;
            for (int u = 0; u < t[i].n && !again; u++)
                for (int v = u + 1; v < t[i].n && !again; v++) {
                    if (t[i].lab[u] != t[i].lab[v]) continue;
                    if (t[i].x->shape[u] != t[i].x->shape[v]) {
                        npg__set_error(NPG_ERR_SHAPE, "%s: a subscript repeated in operand %d stands for lengths %lld "
                                       "and %lld", fn, i, (long long)t[i].x->shape[u], (long long)t[i].x->shape[v]);
                        goto out;
                    }
                    int l = t[i].lab[u];
                    t[i].x = npg_diagonal(t[i].x, 0, u, v); /* the diagonal axis goes last */
                    if (!t[i].x) goto out;
                    int k = 0;
                    for (int w = 0; w < t[i].n; w++)
                        if (w != u && w != v) t[i].lab[k++] = t[i].lab[w];
                    t[i].lab[k++] = l;
                    t[i].n = k;
                    again = true;
                }
        }
        p = e + 1;
        if (i == n - 1 && e != lhs_end) {
            npg__set_error(NPG_ERR_INVALID_ARG, "%s: '%s' has subscripts for more than %d operands", fn, subscripts, n);
            goto out;
        }
    }
    for (int i = 0; i < n; i++)
        for (int k = 0; k < t[i].n; k++) {
            int l = t[i].lab[k];
            int64_t d = t[i].x->shape[k];
            if (count[l] && size[l] != d && l < EIN_LETTERS) {
                npg__set_error(NPG_ERR_SHAPE, "%s: subscript '%c' stands for lengths %lld and %lld", fn,
                               l < 26 ? 'a' + l : 'A' + l - 26, (long long)size[l], (long long)d);
                goto out;
            }
            if (!count[l] || size[l] == 1) size[l] = d;
            count[l]++;
        }
    /* the output's labels: explicit, or each letter used once, in order,
     * after the ellipsis dims */
    int out_lab[NPG_MAX_DIMS], nout = 0;
    bool in_out[EIN_LABELS] = {false};
    if (arrow) {
        const char *o = arrow + 2;
        nout = ein_parse(fn, o, o + strlen(o), -1, ell, out_lab, NULL);
        if (nout < 0) goto out;
        for (int k = 0; k < nout; k++) {
            int l = out_lab[k];
            if (in_out[l]) {
                npg__set_error(NPG_ERR_INVALID_ARG, "%s: an output subscript is repeated", fn);
                goto out;
            }
            if (!count[l]) {
                npg__set_error(NPG_ERR_INVALID_ARG, "%s: output subscript '%c' is in no operand", fn,
                               l < 26 ? 'a' + l : l < EIN_LETTERS ? 'A' + l - 26 : '.');
                goto out;
            }
            in_out[l] = true;
        }
    } else {
        for (int l = EIN_LETTERS; l < EIN_LABELS; l++)
            if (count[l]) out_lab[nout++] = l, in_out[l] = true;
        /* as written ("ii" is a trace), in the order of the characters
         * ('A'-'Z' before 'a'-'z', as NumPy's) */
        for (int k = 0; k < EIN_LETTERS; k++) {
            int l = (k + 26) % EIN_LETTERS;
            if (written[l] != 1) continue;
            if (nout == NPG_MAX_DIMS) {
                npg__set_error(NPG_ERR_SHAPE, "%s: '%s' has more than %d output dimensions", fn, subscripts,
                               NPG_MAX_DIMS);
                goto out;
            }
            out_lab[nout++] = l, in_out[l] = true;
        }
    }
    /* labels only one operand has and the output lacks: summed at once */
    for (int i = 0; i < n; i++) {
        bool drop[EIN_LABELS] = {false};
        for (int k = 0; k < t[i].n; k++) {
            int l = t[i].lab[k], others = 0;
            for (int j = 0; j < n; j++)
                if (j != i)
                    for (int m = 0; m < t[j].n; m++) others += t[j].lab[m] == l;
            drop[l] = !in_out[l] && others == 0;
        }
        if (!ein_sum_out(&t[i], drop)) goto out;
    }
    /* contract left to right, keeping what the output or a later operand needs */
    for (int i = 1; i < n; i++) {
        bool keep[EIN_LABELS];
        for (int l = 0; l < EIN_LABELS; l++) keep[l] = in_out[l];
        for (int j = i + 1; j < n; j++)
            for (int m = 0; m < t[j].n; m++) keep[t[j].lab[m]] = true;
        if (!ein_pair(fn, &t[0], &t[i], keep)) goto out;
    }
    /* into the output's order; broadcast ellipsis dims to their full size */
    npg_axes perm = {.n = nout};
    for (int k = 0; k < nout; k++) {
        perm.axes[k] = -1;
        for (int m = 0; m < t[0].n; m++)
            if (t[0].lab[m] == out_lab[k]) perm.axes[k] = m;
        if (perm.axes[k] < 0) { /* an ellipsis dim of length 1 that a sum removed cannot happen: */
            npg__set_error(NPG_ERR_INTERNAL, "%s: output subscript %d was lost", fn, k);
            goto out;
        }
    }
    result = t[0].n == nout && nout == 0 ? t[0].x : npg_permute_dims(t[0].x, perm);
    if (result && result == operands[0]) result = npg_copy(result); /* always a new array */
    /* all-bool operands give bool, as NumPy's: sums counted in int64 on the
     * way are nonzero exactly where an OR of ANDs is true */
    bool all_bool = true;
    for (int i = 0; i < n; i++) all_bool &= operands[i]->dtype == NPG_BOOL;
    if (result && all_bool && result->dtype != NPG_BOOL) result = npg_astype(result, NPG_BOOL);
out:
    free(t);
    return npg__finish(fn, s, result);
}
