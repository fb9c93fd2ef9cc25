/*
 * nn_loss.c — margin, embedding and likelihood losses (npg/nn.h): margin
 * ranking, hinge embedding, soft margin, cosine embedding, triplet margin,
 * multilabel soft margin, multi-class margin, Poisson and Gaussian negative
 * log-likelihood, and pairwise_distance. PyTorch 1.13's formulas, composed
 * from public ops, so each runs on every device and differentiates through
 * their rules. Arguments are checked first, so an error names the function
 * the caller called; a failure inside the composition is prefixed with it
 * (npg__finish).
 *
 * Nothing here reads values on the host: checks PyTorch makes on values
 * (multi_margin_loss's label range, gaussian_nll_loss's negative variances)
 * would synchronise with the device, so they become documented results
 * instead (NaN for a label out of range; a negative variance is clamped like
 * any variance below eps).
 *
 * Where a branch of a where() could be infinite or NaN (log of 0), its input
 * is made safe first: a where() passes a zero gradient to the branch it did
 * not take, and 0 times an infinite local derivative would be NaN.
 */
#include "internal.h"

#include <math.h>

/* PyTorch's EPSILON of cosine_embedding_loss is the float constant 1e-12f. */
#define COSINE_EMBEDDING_EPS ((double)1e-12f)
#define PI 3.14159265358979323846


/* The common checks: n arrays (NULL entries of `optional` skipped) not NULL,
 * a known reduction, one device. */
static bool loss_args(const char *fn, int n, npg_array *const *xs, const bool *optional, npg_reduction r) {
    npg_array *present[4];
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (!xs[i] && !(optional && optional[i])) {
            npg__null_arg(fn);
            return false;
        }
        if (xs[i]) present[m++] = xs[i];
    }
    return npg__check_reduction(fn, r) && npg__check_devices(fn, m, present);
}

/* A finite eps >= 0 (PyTorch takes any; a negative one makes no sense). */
static bool check_eps(const char *fn, double eps) {
    if (!(eps >= 0 && isfinite(eps))) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: eps must be finite and >= 0 (got %g)", fn, eps);
        return false;
    }
    return true;
}

static bool same_ndim(const char *fn, int n, npg_array *const *xs) {
    for (int i = 1; i < n; i++) {
        if (xs[i]->ndim != xs[0]->ndim) {
            char s[3][NPG_SHAPE_BUF];
            for (int k = 0; k < n && k < 3; k++) npg__shape_str(s[k], sizeof s[k], xs[k]->ndim, xs[k]->shape);
            npg__set_error(NPG_ERR_SHAPE, "%s: all inputs must have the same number of dimensions (got %s, %s and %s)",
                           fn, s[0], s[1], n > 2 ? s[2] : "-");
            return false;
        }
    }
    return true;
}

/* The floating dtype of the promoted dtypes of xs[0..n) (NULL entries skipped). */
static npg_dtype float_of(int n, npg_array *const *xs) {
    npg_dtype dt = NPG_DTYPE_DEFAULT;
    for (int i = 0; i < n; i++)
        if (xs[i]) dt = dt == NPG_DTYPE_DEFAULT ? xs[i]->dtype : npg_result_type(dt, xs[i]->dtype);
    return npg__float_dtype(dt);
}

/* max(x, 0) with PyTorch's clamp_min gradient (1 where x >= 0). */
static npg_array *clamp_min0(npg_array *x) { return npg_clip(x, 0.0, NAN); }

/* ------------------------------------------------------------------------
 * Margin losses
 * ------------------------------------------------------------------------ */

npg_array *npg_margin_ranking_loss(npg_array *x1, npg_array *x2, npg_array *y, double margin, npg_reduction reduction) {
    const char *fn = "npg_margin_ranking_loss";
    npg_array *ops[3] = {x1, x2, y};
    if (!loss_args(fn, 3, ops, NULL, reduction) || !same_ndim(fn, 3, ops)) return NULL;
    npg_scope s = npg_scope_begin();
    npg_dtype dt = float_of(3, ops);
    npg_array *a = npg__cast(x1, dt), *b = npg__cast(x2, dt), *t = npg__cast(y, dt);
    /* max(0, -y (x1 - x2) + margin) */
    npg_array *l = clamp_min0(npg_add_scalar(npg_multiply(npg_negative(t), npg_subtract(a, b)), margin));
    return npg__finish(fn, s, npg__reduce_loss(l, reduction));
}

npg_array *npg_hinge_embedding_loss(npg_array *x, npg_array *y, double margin, npg_reduction reduction) {
    const char *fn = "npg_hinge_embedding_loss";
    npg_array *ops[2] = {x, y};
    if (!loss_args(fn, 2, ops, NULL, reduction)) return NULL;
    npg_scope s = npg_scope_begin();
    /* y is only compared with 1 and -1: the result has x's floating dtype */
    npg_array *xf = npg__cast(x, npg__float_dtype(x->dtype));
    npg_array *lm = npg_where_scalar(npg_not_equal_scalar(y, 1.0), clamp_min0(npg_scalar_subtract(margin, xf)), 0.0);
    npg_array *lx = npg_where_scalar(npg_not_equal_scalar(y, -1.0), xf, 0.0);
    return npg__finish(fn, s, npg__reduce_loss(npg_add(lm, lx), reduction));
}

npg_array *npg_soft_margin_loss(npg_array *x, npg_array *y, npg_reduction reduction) {
    const char *fn = "npg_soft_margin_loss";
    npg_array *ops[2] = {x, y};
    if (!loss_args(fn, 2, ops, NULL, reduction)) return NULL;
    /* PyTorch writes the result into an array of x's shape: y must broadcast to it */
    int nd;
    int64_t shape[NPG_MAX_DIMS];
    if (!npg__broadcast_shapes(fn, x->ndim, x->shape, y->ndim, y->shape, &nd, shape)) return NULL;
    if (nd != x->ndim || memcmp(shape, x->shape, sizeof(int64_t) * (size_t)nd) != 0) {
        char sa[NPG_SHAPE_BUF], sb[NPG_SHAPE_BUF];
        npg__set_error(NPG_ERR_SHAPE, "%s: the target of shape %s does not broadcast to the input's shape %s", fn,
                       npg__shape_str(sb, sizeof sb, y->ndim, y->shape), npg__shape_str(sa, sizeof sa, x->ndim, x->shape));
        return NULL;
    }
    npg_scope s = npg_scope_begin();
    npg_dtype dt = float_of(2, ops);
    /* log(1 + exp(-y x)) as softplus(-y x): finite for any margin (PyTorch's overflows to inf) */
    npg_array *l = npg_softplus(npg_negative(npg_multiply(npg__cast(y, dt), npg__cast(x, dt))));
    return npg__finish(fn, s, npg__reduce_loss(l, reduction));
}

npg_array *npg_cosine_embedding_loss(npg_array *x1, npg_array *x2, npg_array *y, double margin,
                                     npg_reduction reduction) {
    const char *fn = "npg_cosine_embedding_loss";
    npg_array *ops[3] = {x1, x2, y};
    if (!loss_args(fn, 3, ops, NULL, reduction)) return NULL;
    if (y->ndim > 1) {
        npg__set_error(NPG_ERR_SHAPE, "%s: the target must be 0-d or 1-d (got %d-d)", fn, y->ndim);
        return NULL;
    }
    if (x1->ndim != y->ndim + 1 || x2->ndim != y->ndim + 1) {
        char sa[NPG_SHAPE_BUF], sb[NPG_SHAPE_BUF];
        npg__set_error(NPG_ERR_SHAPE, "%s: a %d-d target needs %d-d inputs (got %s and %s)", fn, y->ndim, y->ndim + 1,
                       npg__shape_str(sa, sizeof sa, x1->ndim, x1->shape),
                       npg__shape_str(sb, sizeof sb, x2->ndim, x2->shape));
        return NULL;
    }
    npg_scope s = npg_scope_begin();
    npg_dtype dt = float_of(2, ops);
    npg_array *a = npg__cast(x1, dt), *b = npg__cast(x2, dt);
    npg_axes ax = NPG_AXES(y->ndim);
    /* PyTorch's: sum(x1 x2) / sqrt((sum(x1 x1) + EPS) (sum(x2 x2) + EPS)) */
    npg_array *dot = npg_sum(npg_multiply(a, b), ax, false);
    npg_array *m1 = npg_add_scalar(npg_sum(npg_multiply(a, a), ax, false), COSINE_EMBEDDING_EPS);
    npg_array *m2 = npg_add_scalar(npg_sum(npg_multiply(b, b), ax, false), COSINE_EMBEDDING_EPS);
    npg_array *cs = npg_divide(dot, npg_sqrt(npg_multiply(m1, m2)));
    npg_array *pos = npg_where_scalar(npg_equal_scalar(y, 1.0), npg_scalar_subtract(1.0, cs), 0.0);
    npg_array *neg = npg_where_scalar(npg_equal_scalar(y, -1.0), clamp_min0(npg_subtract_scalar(cs, margin)), 0.0);
    return npg__finish(fn, s, npg__reduce_loss(npg_add(pos, neg), reduction));
}

/* ------------------------------------------------------------------------
 * Distances and the triplet loss
 * ------------------------------------------------------------------------ */

/* norm_p(a - b + eps) over the last axis of the broadcast difference (a 0-d
 * difference is one element). a and b already in the computing dtype. */
static npg_array *pdist(npg_array *a, npg_array *b, double p, double eps, bool keepdim) {
    npg_array *d = npg_add_scalar(npg_subtract(a, b), eps);
    if (!d) return NULL;
    if (d->ndim == 0) return npg_linalg_vector_norm(npg_reshape(d, NPG_SHAPE(1)), p, NPG_AXES(0), false);
    return npg_linalg_vector_norm(d, p, NPG_AXES(-1), keepdim);
}

static bool check_p(const char *fn, double p) {
    if (isnan(p)) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: p is NaN", fn);
        return false;
    }
    return true;
}

npg_array *npg_pairwise_distance(npg_array *x1, npg_array *x2, double p, double eps, bool keepdim) {
    const char *fn = "npg_pairwise_distance";
    npg_array *ops[2] = {x1, x2};
    if (!loss_args(fn, 2, ops, NULL, NPG_REDUCTION_NONE) || !check_p(fn, p) || !check_eps(fn, eps)) return NULL;
    npg_scope s = npg_scope_begin();
    npg_dtype dt = float_of(2, ops);
    /* powers leave the half range: a half result is computed in float32 */
    npg_dtype cdt = npg__is_half(dt) ? NPG_FLOAT32 : dt;
    return npg__finish(fn, s, npg__cast(pdist(npg__cast(x1, cdt), npg__cast(x2, cdt), p, eps, keepdim), dt));
}

npg_array *npg_triplet_margin_loss(npg_array *anchor, npg_array *positive, npg_array *negative, double margin, double p,
                                   double eps, bool swap, npg_reduction reduction) {
    const char *fn = "npg_triplet_margin_loss";
    npg_array *ops[3] = {anchor, positive, negative};
    if (!loss_args(fn, 3, ops, NULL, reduction) || !same_ndim(fn, 3, ops) || !check_p(fn, p) || !check_eps(fn, eps))
        return NULL;
    npg_scope s = npg_scope_begin();
    npg_dtype dt = float_of(3, ops), cdt = npg__is_half(dt) ? NPG_FLOAT32 : dt; /* as pairwise_distance */
    npg_array *a = npg__cast(anchor, cdt), *po = npg__cast(positive, cdt), *ne = npg__cast(negative, cdt);
    npg_array *dpos = pdist(a, po, p, eps, false), *dneg = pdist(a, ne, p, eps, false);
    if (swap) dneg = npg_minimum(dneg, pdist(po, ne, p, eps, false));
    /* max(margin + d(a, p) - d(a, n), 0) */
    npg_array *l = clamp_min0(npg_subtract(npg_add_scalar(dpos, margin), dneg));
    return npg__finish(fn, s, npg__cast(npg__reduce_loss(l, reduction), dt));
}

/* ------------------------------------------------------------------------
 * Multi-label and multi-class margins
 * ------------------------------------------------------------------------ */

npg_array *npg_multilabel_soft_margin_loss(npg_array *x, npg_array *y, npg_array *weight, npg_reduction reduction) {
    const char *fn = "npg_multilabel_soft_margin_loss";
    npg_array *ops[3] = {x, y, weight};
    if (!loss_args(fn, 3, ops, (const bool[]){false, false, true}, reduction)) return NULL;
    if (x->ndim == 0) {
        npg__set_error(NPG_ERR_SHAPE, "%s: the input is 0-d (it needs a class axis)", fn);
        return NULL;
    }
    npg_scope s = npg_scope_begin();
    npg_dtype dt = float_of(3, ops);
    npg_array *xf = npg__cast(x, dt), *t = npg__cast(y, dt);
    /* -(y logsigmoid(x) + (1 - y) logsigmoid(-x)) */
    npg_array *l = npg_negative(npg_add(npg_multiply(t, npg_logsigmoid(xf)),
                                        npg_multiply(npg_scalar_subtract(1.0, t), npg_logsigmoid(npg_negative(xf)))));
    if (weight) l = npg_multiply(l, npg__cast(weight, dt));
    /* the mean over axis x.ndim - 1 of the broadcast loss, as PyTorch counts it */
    npg_array *rows = npg_divide_scalar(npg_sum(l, NPG_AXES(x->ndim - 1), false), (double)x->shape[x->ndim - 1]);
    return npg__finish(fn, s, npg__reduce_loss(rows, reduction));
}

npg_array *npg_multi_margin_loss(npg_array *x, npg_array *labels, int p, double margin, npg_array *weight,
                                 npg_reduction reduction) {
    const char *fn = "npg_multi_margin_loss";
    npg_array *ops[3] = {x, labels, weight};
    if (!loss_args(fn, 3, ops, (const bool[]){false, false, true}, reduction)) return NULL;
    if (p != 1 && p != 2) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: p must be 1 or 2 (got %d)", fn, p);
        return NULL;
    }
    if (!npg_is_integer(labels->dtype)) {
        npg__set_error(NPG_ERR_DTYPE, "%s: labels must be integers (got %s)", fn, npg_dtype_name(labels->dtype));
        return NULL;
    }
    char sa[NPG_SHAPE_BUF], sb[NPG_SHAPE_BUF];
    if (x->ndim > 2 || (x->ndim >= 1 && x->shape[x->ndim - 1] == 0)) {
        npg__set_error(NPG_ERR_SHAPE, "%s: the input must be 0-d, (C) or (N, C) with C > 0 (got %s)", fn,
                       npg__shape_str(sa, sizeof sa, x->ndim, x->shape));
        return NULL;
    }
    const int64_t N = x->ndim == 2 ? x->shape[0] : 1, C = x->ndim == 0 ? 1 : x->shape[x->ndim - 1];
    if (labels->ndim > 1 || npg__numel(labels->ndim, labels->shape) != N) {
        npg__set_error(NPG_ERR_SHAPE, "%s: labels of shape %s do not match input of shape %s (%lld labels expected)",
                       fn, npg__shape_str(sa, sizeof sa, labels->ndim, labels->shape),
                       npg__shape_str(sb, sizeof sb, x->ndim, x->shape), (long long)N);
        return NULL;
    }
    if (weight && (weight->ndim != 1 || weight->shape[0] != C)) {
        npg__set_error(NPG_ERR_SHAPE, "%s: weight must be 1-d of length %lld (got %s)", fn, (long long)C,
                       npg__shape_str(sa, sizeof sa, weight->ndim, weight->shape));
        return NULL;
    }
    npg_scope s = npg_scope_begin();
    npg_dtype dt = float_of(1, &x);
    if (weight) dt = npg__float_dtype(npg_result_type(dt, weight->dtype));
    npg_array *X = npg_reshape(npg__cast(x, dt), NPG_SHAPE(N, C));
    npg_array *Y = npg_reshape(npg__cast(labels, NPG_INT64), NPG_SHAPE(N, 1));
    /* a label outside [0, C) would need a host read to report: its row is NaN */
    npg_array *valid = npg_logical_and(npg_greater_equal_scalar(Y, 0.0), npg_less_scalar(Y, (double)C));
    npg_array *safe = npg_where_scalar(valid, Y, 0.0);
    /* z_i = margin - x_y + x_i; h_i = max(z_i, 0)^p (gradient 0 at z = 0, as PyTorch) */
    npg_array *z = npg_add(npg_scalar_subtract(margin, npg_take_along_axis(X, safe, 1)), X);
    npg_array *h = npg_relu(z);
    if (p == 2) h = npg_square(h);
    if (weight) h = npg_multiply(h, npg_reshape(npg_take(npg__cast(weight, dt), safe, 0), NPG_SHAPE(N, 1)));
    npg_array *cls = npg_arange(0, (double)C, 1, NPG_OPTS(.dtype = NPG_INT64, .device = npg__device_of(x)));
    h = npg_where_scalar(npg_not_equal(cls, safe), h, 0.0); /* i != y */
    npg_array *rows = npg_divide_scalar(npg_sum(h, NPG_AXES(1), false), (double)C);
    rows = npg_where_scalar(npg_reshape(valid, NPG_SHAPE(N)), rows, NAN);
    if (reduction == NPG_REDUCTION_NONE && labels->ndim == 0) rows = npg_reshape(rows, NPG_SHAPE0);
    return npg__finish(fn, s, npg__reduce_loss(rows, reduction));
}

/* ------------------------------------------------------------------------
 * Negative log-likelihoods
 * ------------------------------------------------------------------------ */

npg_array *npg_poisson_nll_loss(npg_array *input, npg_array *target, bool log_input, bool full, double eps,
                                npg_reduction reduction) {
    const char *fn = "npg_poisson_nll_loss";
    npg_array *ops[2] = {input, target};
    if (!loss_args(fn, 2, ops, NULL, reduction) || !check_eps(fn, eps)) return NULL;
    npg_scope s = npg_scope_begin();
    npg_dtype dt = float_of(2, ops);
    npg_array *x = npg__cast(input, dt), *t = npg__cast(target, dt), *l;
    if (log_input)
        l = npg_subtract(npg_exp(x), npg_multiply(t, x));
    else
        l = npg_subtract(x, npg_multiply(t, npg_log(npg_add_scalar(x, eps))));
    if (full) {
        /* Stirling: t log t - t + log(2 pi t) / 2 where t > 1, else 0 (its
         * inputs kept finite there, so the gradient is 0, not NaN) */
        npg_array *small = npg_less_equal_scalar(t, 1.0);
        npg_array *ts = npg_scalar_where(small, 2.0, t);
        npg_array *st = npg_add(npg_subtract(npg_multiply(ts, npg_log(ts)), ts),
                                npg_multiply_scalar(npg_log(npg_multiply_scalar(ts, 2 * PI)), 0.5));
        l = npg_add(l, npg_scalar_where(small, 0.0, st));
    }
    return npg__finish(fn, s, npg__reduce_loss(l, reduction));
}

/* max(var, eps) whose gradient passes to var unchanged, also where it was
 * clamped (PyTorch clamps a clone of var under no_grad). */
static npg_status clamp_pass_backward(void *ctx, npg_array *g, int n, npg_array *const *in, npg_array *out,
                                      npg_array **gin) {
    (void)ctx, (void)n, (void)in, (void)out;
    gin[0] = g;
    return NPG_OK;
}

npg_array *npg_gaussian_nll_loss(npg_array *input, npg_array *target, npg_array *var, bool full, double eps,
                                 npg_reduction reduction) {
    const char *fn = "npg_gaussian_nll_loss";
    npg_array *ops[3] = {input, target, var};
    if (!loss_args(fn, 3, ops, NULL, reduction) || !check_eps(fn, eps)) return NULL;
    /* var: input's shape; input's shape without its last axis (unsqueezed);
     * or that with a last axis of 1 */
    const int nd = input->ndim, lead = nd > 0 ? nd - 1 : 0;
    const size_t lb = sizeof(int64_t) * (size_t)lead;
    bool same = var->ndim == nd && memcmp(var->shape, input->shape, sizeof(int64_t) * (size_t)nd) == 0;
    bool unsq = !same && var->ndim == lead && memcmp(var->shape, input->shape, lb) == 0;
    bool last1 = !same && !unsq && var->ndim >= 1 && var->ndim - 1 == lead && memcmp(var->shape, input->shape, lb) == 0 &&
                 var->shape[var->ndim - 1] == 1;
    if (!same && !unsq && !last1) {
        char sa[NPG_SHAPE_BUF], sb[NPG_SHAPE_BUF];
        npg__set_error(NPG_ERR_SHAPE,
                       "%s: var of shape %s does not fit input of shape %s (the same shape, or without the last axis, "
                       "or with a last axis of 1)",
                       fn, npg__shape_str(sb, sizeof sb, var->ndim, var->shape),
                       npg__shape_str(sa, sizeof sa, input->ndim, input->shape));
        return NULL;
    }
    npg_scope s = npg_scope_begin();
    npg_dtype dt = float_of(3, ops);
    npg_array *x = npg__cast(input, dt), *t = npg__cast(target, dt), *v = npg__cast(var, dt);
    if (unsq) v = npg_expand_dims(v, -1);
    npg_array *vin[1] = {v};
    npg_array *vc = v ? npg_custom("gaussian_nll_loss_clamp", npg_maximum_scalar(npg_detach(v), eps), 1, vin,
                                   clamp_pass_backward, NULL, NULL)
                      : NULL;
    /* (log var + (x - t)^2 / var) / 2 */
    npg_array *l = npg_multiply_scalar(npg_add(npg_log(vc), npg_divide(npg_square(npg_subtract(x, t)), vc)), 0.5);
    if (full) l = npg_add_scalar(l, 0.5 * log(2 * PI));
    return npg__finish(fn, s, npg__reduce_loss(l, reduction));
}
