/*
 * ops_search.c — the array API's unique_* and searchsorted, composed from a
 * stable sort, comparisons, cumulative sums and gathers, so they run on every
 * device with the kernels that exist: O(n log n), no quadratic comparison
 * tables.
 */
#include "internal.h"

/* The inverse of the permutation p (int64, (n,)): inv[p[j]] = j, one
 * scatter instead of a second sort. */
static npg_array *inverse_permutation(npg_array *p) {
    if (!p) return NULL;
    npg_array *j = npg_arange(0, (double)p->shape[0], 1, NPG_OPTS(.dtype = NPG_INT64, .device = npg__device_of(p)));
    return j ? npg__scatter_add_zeros(1, p->shape, j, p, 0) : NULL;
}

/* The first axis-0 row of nonzero(mask) for a 1-d mask: the flat indices. */
static npg_array *flat_nonzero(npg_array *mask) {
    return NPG_INDEX(npg_nonzero(mask), NPG_I(0));
}

npg_status npg_unique_all(npg_array *x, npg_array **values, npg_array **indices, npg_array **inverse,
                          npg_array **counts) {
    const char *fn = "npg_unique_all";
    npg_array **outs[4] = {values, indices, inverse, counts};
    for (int i = 0; i < 4; i++)
        if (outs[i]) *outs[i] = NULL;
    if (!x) {
        npg__null_arg(fn);
        return npg_last_status();
    }
    if (!values && !indices && !inverse && !counts)
        return npg__set_error(NPG_ERR_NULL_ARG, "%s: every output is NULL", fn);
    npg_device dev = npg__device_of(x);
    const int64_t n = npg__numel(x->ndim, x->shape);
    npg_scope s = npg_scope_begin();
    npg_array *r[4] = {NULL, NULL, NULL, NULL};
    npg_array *f = npg_reshape(x, NPG_SHAPE(-1));
    npg_array *order = npg_argsort(f, 0, false); /* stable: a group's first is its first occurrence */
    npg_array *sorted = npg_take(f, order, 0);
    npg_array *first = NULL; /* (n,) bool: where a new value starts in sorted order (each NaN is its own) */
    if (sorted && n > 0) {
        npg_array *parts[2] = {npg_ones(NPG_SHAPE(1), NPG_OPTS(.dtype = NPG_BOOL, .device = dev)),
                               npg_not_equal(NPG_INDEX(sorted, NPG_SLICE(1, NPG_NONE, 1)),
                                             NPG_INDEX(sorted, NPG_SLICE(NPG_NONE, -1, 1)))};
        first = npg_concat(parts, 2, 0);
    } else if (sorted) {
        first = npg_zeros(NPG_SHAPE(0), NPG_OPTS(.dtype = NPG_BOOL, .device = dev));
    }
    npg_array *starts = first ? flat_nonzero(first) : NULL; /* (k,) int64 */
    if (values) r[0] = npg_take(sorted, starts, 0);
    if (indices) r[1] = npg_take(order, starts, 0);
    if (inverse && first) {
        /* group of each sorted position, sent back through the inverse permutation */
        npg_array *group = npg_subtract_scalar(npg_cumsum(npg_astype(first, NPG_INT64), 0), 1);
        r[2] = npg_reshape(npg_take(group, inverse_permutation(order), 0), npg_shape_of(x));
    }
    if (counts && starts) {
        npg_array *ends[2] = {starts, npg_full(NPG_SHAPE(1), (double)n, NPG_OPTS(.dtype = NPG_INT64, .device = dev))};
        r[3] = npg_diff(npg_concat(ends, 2, 0), 1, 0);
    }
    npg_status st = NPG_OK;
    for (int i = 0; i < 4; i++)
        if (outs[i] && !r[i]) st = npg_last_status() ? npg_last_status() : NPG_ERR_INTERNAL;
    if (st == NPG_OK)
        for (int i = 0; i < 4; i++)
            if (outs[i]) *outs[i] = npg_keep(r[i]);
    npg_scope_end(s);
    return st;
}

npg_array *npg_unique_values(npg_array *x) {
    npg_array *v = NULL;
    npg_unique_all(x, &v, NULL, NULL, NULL);
    return v;
}

npg_status npg_unique_counts(npg_array *x, npg_array **values, npg_array **counts) {
    if (!values || !counts) {
        if (values) *values = NULL;
        if (counts) *counts = NULL;
        return npg__set_error(NPG_ERR_NULL_ARG, "npg_unique_counts: an output is NULL");
    }
    return npg_unique_all(x, values, NULL, NULL, counts);
}

npg_status npg_unique_inverse(npg_array *x, npg_array **values, npg_array **inverse) {
    if (!values || !inverse) {
        if (values) *values = NULL;
        if (inverse) *inverse = NULL;
        return npg__set_error(NPG_ERR_NULL_ARG, "npg_unique_inverse: an output is NULL");
    }
    return npg_unique_all(x, values, NULL, inverse, NULL);
}

/* For each v in x2: how many elements of the sorted x1 are < v (left) or
 * <= v (right). One stable sort of x1 and x2 together, with x2 placed before
 * equal x1 elements (left) or after them (right): a v at merged position j
 * has j minus the x2 elements before it of x1's elements before it. */
npg_array *npg_searchsorted(npg_array *x1, npg_array *x2, const char *side) {
    const char *fn = "npg_searchsorted";
    if (!x1 || !x2) {
        npg__null_arg(fn);
        return NULL;
    }
    bool right = false;
    if (side && strcmp(side, "left") != 0) {
        if (strcmp(side, "right") != 0) {
            npg__set_error(NPG_ERR_INVALID_ARG, "%s: side is \"%s\" (\"left\" or \"right\")", fn, side);
            return NULL;
        }
        right = true;
    }
    if (x1->ndim != 1) {
        npg__set_error(NPG_ERR_SHAPE, "%s: x1 has %d dimensions (a sorted one-dimensional array)", fn, x1->ndim);
        return NULL;
    }
    if (!npg__same_device(x1, x2)) {
        npg__set_error(NPG_ERR_DEVICE, "%s: x1 and x2 are on different devices", fn);
        return NULL;
    }
    if (x1->dtype == NPG_BOOL || x2->dtype == NPG_BOOL) {
        npg__set_error(NPG_ERR_DTYPE, "%s: bool arrays are not searchable (numeric dtypes only)", fn);
        return NULL;
    }
    const int64_t n1 = x1->shape[0], n2 = npg__numel(x2->ndim, x2->shape);
    npg_device dev = npg__device_of(x1);
    npg_scope s = npg_scope_begin();
    npg_array *v = npg_reshape(x2, NPG_SHAPE(-1));
    npg_array *parts[2] = {right ? x1 : v, right ? v : x1};
    npg_array *keys = npg_concat(parts, 2, 0);          /* promoted to a common dtype */
    npg_array *order = npg_argsort(keys, 0, false);    /* stable */
    const double x2_at = right ? (double)n1 : 0;       /* where x2's keys start in `keys` */
    npg_array *is_x2 = npg_logical_and(npg_greater_equal_scalar(order, x2_at),
                                       npg_less_scalar(order, x2_at + (double)n2));
    npg_array *c = npg_cumsum(npg_astype(is_x2, NPG_INT64), 0); /* x2 keys up to and including j */
    npg_array *j = npg_arange(0, (double)(n1 + n2), 1, NPG_OPTS(.dtype = NPG_INT64, .device = dev));
    npg_array *before = npg_add_scalar(npg_subtract(j, c), 1); /* x1 keys before j, for x2 keys at j */
    /* each x2 element's merged position: the inverse permutation, at its key */
    npg_array *pos = inverse_permutation(order);
    npg_array *mine = NPG_INDEX(pos, NPG_SLICE((int64_t)x2_at, (int64_t)x2_at + n2, 1));
    npg_array *r = mine ? npg_reshape(npg_take(before, mine, 0), npg_shape_of(x2)) : NULL;
    return npg__finish(fn, s, r);
}
