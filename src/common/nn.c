/*
 * nn.c — neural-network functions: softmax / log_softmax and cross-entropy
 * on the backends' fused kernels (each with its own backward, no one-hot),
 * conv2d as im2col + one batched GEMM, max pooling with argmax, and the
 * composed layers and losses. When a backend lacks a fused entry the op is
 * composed from the primitive families, so every device runs everything.
 *
 * Fused backward rules fall back to the composed formulas when grad mode is
 * on during backward (create_graph), so higher-order gradients still work.
 */
#include "internal.h"

#include <math.h>

/* ------------------------------------------------------------------------
 * softmax / log_softmax
 * ------------------------------------------------------------------------ */

static npg_array *softmax_composed(npg_array *x, int axis, bool log) {
    npg_scope s = npg_scope_begin();
    npg_array *z = x; /* an empty axis has no maximum, and nothing to normalise */
    if (x->shape[axis] > 0) {
        npg_no_grad_begin();
        npg_array *m = npg_max(x, NPG_AXES(axis), true);
        npg_array *mc = npg_where_scalar(npg_isfinite(m), m, 0.0);
        npg_no_grad_end();
        z = npg_subtract(x, mc);
    }
    npg_array *r;
    if (log)
        r = npg_subtract(z, npg_log(npg_sum(npg_exp(z), NPG_AXES(axis), true)));
    else {
        npg_array *e = npg_exp(z);
        r = npg_divide(e, npg_sum(e, NPG_AXES(axis), true));
    }
    npg_keep(r);
    npg_scope_end(s);
    return r;
}

/* x with `axis` moved last, contiguous ([new]; no graph). */
static npg_array *axis_last_contig(npg_array *x, int axis) {
    npg_axes perm = {.n = x->ndim};
    for (int i = 0, k = 0; i < x->ndim; i++)
        if (i != axis) perm.axes[k++] = i;
    perm.axes[x->ndim - 1] = axis;
    npg_no_grad_begin();
    npg_array *p = npg_permute_dims(x, perm);
    npg_array *c = npg_contiguous(p);
    npg_no_grad_end();
    npg_free(p);
    return c;
}

/* inverse of axis_last_contig for a result laid out with axis last */
static npg_array *axis_back(npg_array *y, int axis) {
    npg_axes inv = {.n = y->ndim};
    for (int i = 0, k = 0; i < y->ndim; i++)
        if (i != axis) inv.axes[i] = k++;
    inv.axes[axis] = y->ndim - 1;
    return npg_permute_dims(y, inv);
}

static npg_array *softmax_impl(const char *fn, npg_array *x, int axis, bool log) {
    if (!x) {
        npg__null_arg(fn);
        return NULL;
    }
    int a;
    if (x->ndim == 0) {
        npg__set_error(NPG_ERR_SHAPE, "%s: the input must have at least one dimension", fn);
        return NULL;
    }
    if (!npg__norm_axis(fn, axis, x->ndim, &a)) return NULL;
    npg_array *xf = npg__cast(x, npg__float_dtype(x->dtype));
    if (!xf) return NULL;
    const npg_backend *be = npg__backend_of(x);
    npg_array *r;
    if (!be->softmax || npg__numel(x->ndim, x->shape) == 0) {
        r = softmax_composed(xf, a, log);
    } else {
        npg_array *xc = axis_last_contig(xf, a);
        npg_array *y = xc ? npg__alloc_like_dev(fn, xc->dtype, xc->ndim, xc->shape, x) : NULL;
        npg_status st = y ? NPG_OK : npg_last_status();
        if (st == NPG_OK) {
            npg_tdesc o, i;
            npg__desc(y, &o);
            npg__desc(xc, &i);
            int64_t C = xc->shape[xc->ndim - 1];
            o.ndim = i.ndim = 2;
            o.shape[0] = i.shape[0] = npg__numel(xc->ndim, xc->shape) / C;
            o.shape[1] = i.shape[1] = C;
            o.strides[0] = i.strides[0] = C;
            o.strides[1] = i.strides[1] = 1;
            st = npg__k_softmax(be, x->storage->dev, &o, &i, log);
        }
        npg_free(xc);
        r = NULL;
        if (st == NPG_OK) {
            npg_no_grad_begin();
            r = axis_back(y, a);
            npg_no_grad_end();
        }
        npg_free(y);
        if (r && npg__needs_grad(1, &xf)) {
            npg_node *n = npg__record(log ? NPG_OP_LOG_SOFTMAX : NPG_OP_SOFTMAX, r, 1, &xf);
            if (n) n->axis = a;
        }
    }
    if (xf != x) npg_free(xf);
    return r;
}

npg_array *npg_softmax(npg_array *x, int axis) { return softmax_impl("npg_softmax", x, axis, false); }
npg_array *npg_log_softmax(npg_array *x, int axis) { return softmax_impl("npg_log_softmax", x, axis, true); }

static npg_status bw_softmax_common(npg_node *n, npg_array *g, npg_array **gin, bool log) {
    npg_array *y = npg__unpack(n, NPG_SAVE_OUT);
    if (!y) return npg_last_status();
    int a = n->axis;
    const npg_backend *be = npg__backend_of(y);
    if (npg__grad_enabled() || !be->softmax_backward) { /* composed (differentiable) */
        if (log)
            gin[0] = npg_subtract(g, npg_multiply(npg_exp(y), npg_sum(g, NPG_AXES(a), true)));
        else
            gin[0] = npg_multiply(y, npg_subtract(g, npg_sum(npg_multiply(g, y), NPG_AXES(a), true)));
        return gin[0] ? NPG_OK : npg_last_status();
    }
    npg_array *gc = axis_last_contig(g, a), *yc = axis_last_contig(y, a);
    npg_array *out = (gc && yc) ? npg__alloc_like_dev("softmax_backward", gc->dtype, gc->ndim, gc->shape, g) : NULL;
    if (!out) return npg_last_status();
    npg_tdesc o, dg, dy;
    npg__desc(out, &o);
    npg__desc(gc, &dg);
    npg__desc(yc, &dy);
    int64_t C = gc->shape[gc->ndim - 1];
    o.ndim = dg.ndim = dy.ndim = 2;
    o.shape[0] = dg.shape[0] = dy.shape[0] = npg__numel(gc->ndim, gc->shape) / C;
    o.shape[1] = dg.shape[1] = dy.shape[1] = C;
    o.strides[0] = dg.strides[0] = dy.strides[0] = C;
    o.strides[1] = dg.strides[1] = dy.strides[1] = 1;
    npg_status st = npg__k_softmax_backward(be, y->storage->dev, &o, &dg, &dy, log);
    if (st != NPG_OK) return st;
    gin[0] = axis_back(out, a);
    return gin[0] ? NPG_OK : npg_last_status();
}
npg_status npg__bw_softmax(npg_node *n, npg_array *g, npg_array **gin) { return bw_softmax_common(n, g, gin, false); }
npg_status npg__bw_log_softmax(npg_node *n, npg_array *g, npg_array **gin) { return bw_softmax_common(n, g, gin, true); }

/* ------------------------------------------------------------------------
 * Losses
 * ------------------------------------------------------------------------ */

typedef struct ce_extra {
    double eps;
    bool has_ignore;
    int64_t ignore;
} ce_extra;

bool npg__check_reduction(const char *fn, npg_reduction r) {
    if (r != NPG_REDUCTION_MEAN && r != NPG_REDUCTION_SUM && r != NPG_REDUCTION_NONE) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: unknown reduction %d", fn, (int)r);
        return false;
    }
    return true;
}

npg_array *npg__reduce_loss(npg_array *l, npg_reduction r) {
    if (!l) return NULL;
    if (r == NPG_REDUCTION_NONE) return l;
    return r == NPG_REDUCTION_SUM ? npg_sum(l, NPG_ALL_AXES, false) : npg_mean(l, NPG_ALL_AXES, false);
}

static npg_array *reduce_loss(npg_array *per_row, npg_reduction red, npg_array *valid_mask) {
    if (red == NPG_REDUCTION_NONE) return npg__alias(per_row);
    npg_array *s = npg_sum(per_row, NPG_ALL_AXES, false);
    if (red == NPG_REDUCTION_SUM) return s;
    if (!valid_mask) return npg_divide_scalar(s, (double)npg__numel(per_row->ndim, per_row->shape));
    /* mean over rows that count (no host synchronisation) */
    npg_array *cnt = npg_astype(npg_sum(valid_mask, NPG_ALL_AXES, false), per_row->dtype);
    return npg_divide(s, cnt);
}

static bool check_labels(const char *fn, npg_array *x, npg_array *labels) {
    if (x->ndim != 2) {
        npg__set_error(NPG_ERR_SHAPE, "%s: the input must be 2-d (N, C) (got %d-d)", fn, x->ndim);
        return false;
    }
    if (!npg_is_floating(x->dtype)) {
        npg__set_error(NPG_ERR_DTYPE, "%s: the input must be floating (got %s)", fn, npg_dtype_name(x->dtype));
        return false;
    }
    if (!npg_is_integer(labels->dtype)) {
        npg__set_error(NPG_ERR_DTYPE, "%s: labels must be integers (got %s)", fn, npg_dtype_name(labels->dtype));
        return false;
    }
    if (labels->ndim != 1 || labels->shape[0] != x->shape[0]) {
        char sa[NPG_SHAPE_BUF], sb[NPG_SHAPE_BUF];
        npg__set_error(NPG_ERR_SHAPE, "%s: labels of shape %s do not match input of shape %s", fn,
                       npg__shape_str(sa, sizeof sa, labels->ndim, labels->shape),
                       npg__shape_str(sb, sizeof sb, x->ndim, x->shape));
        return false;
    }
    if (!npg__same_device(x, labels)) {
        npg__set_error(NPG_ERR_DEVICE, "%s: input and labels are on different devices", fn);
        return false;
    }
    return true;
}

/* Composed cross-entropy (used when the backend has no fused kernel, and
 * as the differentiable backward). Per-row loss. */
static npg_array *ce_rows_composed(npg_array *x, npg_array *lab, const ce_extra *e) {
    npg_scope s = npg_scope_begin();
    npg_array *safe = lab;
    npg_array *valid = NULL;
    if (e->has_ignore) {
        valid = npg_not_equal_scalar(lab, (double)e->ignore);
        safe = npg_where_scalar(valid, lab, 0.0);
    }
    npg_array *lp = npg_log_softmax(x, 1);
    npg_array *picked = npg_reshape(npg_take_along_axis(lp, npg_reshape(safe, NPG_SHAPE(-1, 1)), 1), NPG_SHAPE(-1));
    npg_array *loss = npg_negative(picked);
    if (e->eps > 0) {
        npg_array *smooth = npg_negative(npg_mean(lp, NPG_AXES(1), false));
        loss = npg_add(npg_multiply_scalar(loss, 1.0 - e->eps), npg_multiply_scalar(smooth, e->eps));
    }
    if (valid) loss = npg_where_scalar(valid, loss, 0.0);
    npg_keep(loss);
    npg_scope_end(s);
    return loss;
}

npg_array *npg_cross_entropy(npg_array *logits, npg_array *labels, const npg_ce_opts *opts) {
    const char *fn = "npg_cross_entropy";
    if (npg__any_null(fn, 2, logits, labels)) return NULL;
    if (!check_labels(fn, logits, labels)) return NULL;
    ce_extra e = {opts ? opts->label_smoothing : 0, opts && opts->has_ignore_index, opts ? opts->ignore_index : 0};
    npg_reduction red = opts ? opts->reduction : NPG_REDUCTION_MEAN;
    if (!(e.eps >= 0 && e.eps < 1)) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: label_smoothing must be in [0, 1) (got %g)", fn, e.eps);
        return NULL;
    }
    npg_scope s = npg_scope_begin();
    npg_array *lab = npg__cast(labels, NPG_INT64);
    npg_array *rows = NULL, *r = NULL;
    const npg_backend *be = npg__backend_of(logits);
    if (lab && be->cross_entropy && npg__numel(2, logits->shape) > 0) {
        npg_array *xc = npg_contiguous(logits);
        npg_array *lc = npg_contiguous(lab);
        npg_array *loss = npg__alloc_like_dev(fn, logits->dtype, 1, logits->shape, logits);
        npg_array *lse = npg__alloc_like_dev(fn, logits->dtype, 1, logits->shape, logits);
        npg_status st = (xc && lc && loss && lse) ? NPG_OK : npg_last_status();
        if (st == NPG_OK) {
            npg_tdesc dl, ds, dx, dy;
            npg__desc(loss, &dl);
            npg__desc(lse, &ds);
            npg__desc(xc, &dx);
            npg__desc(lc, &dy);
            st = npg__k_cross_entropy(be, logits->storage->dev, &dl, &ds, &dx, &dy, e.eps, e.has_ignore, e.ignore);
        }
        if (st == NPG_OK) {
            rows = loss;
            if (npg__needs_grad(1, &xc)) {
                npg_node *n = npg__record(NPG_OP_CROSS_ENTROPY, rows, 1, &xc);
                if (n) {
                    npg__save(n, 0, xc, false);
                    npg__save(n, 1, lc, false);
                    npg__save(n, 2, lse, false);
                    ce_extra *x = malloc(sizeof *x);
                    if (x) *x = e;
                    n->extra = x;
                }
            }
        }
    } else if (lab) {
        rows = ce_rows_composed(logits, lab, &e);
    }
    if (rows) r = reduce_loss(rows, red, e.has_ignore ? npg_not_equal_scalar(lab, (double)e.ignore) : NULL);
    return npg__finish(fn, s, r);
}

npg_status npg__bw_cross_entropy(npg_node *n, npg_array *g, npg_array **gin) {
    npg_array *x = npg__unpack(n, 0), *lab = npg__unpack(n, 1), *lse = npg__unpack(n, 2);
    if (!x || !lab || !lse) return npg_last_status();
    const ce_extra *e = n->extra;
    if (!e) return npg__set_error(NPG_ERR_INTERNAL, "cross_entropy: missing parameters");
    const npg_backend *be = npg__backend_of(x);
    if (npg__grad_enabled() || !be->cross_entropy_backward) {
        /* composed: g[:,None] * (softmax(x) - (1-eps) onehot - eps/C), 0 on ignored rows */
        int64_t C = x->shape[1];
        npg_array *sm = npg_exp(npg_subtract(x, npg_reshape(lse, NPG_SHAPE(-1, 1))));
        npg_array *cls = npg_arange(0, (double)C, 1, NPG_OPTS(.dtype = NPG_INT64, .device = npg__device_of(x)));
        npg_array *onehot = npg_astype(npg_equal(npg_reshape(lab, NPG_SHAPE(-1, 1)), cls), x->dtype);
        npg_array *d = npg_subtract(sm, npg_add_scalar(npg_multiply_scalar(onehot, 1.0 - e->eps), e->eps / (double)C));
        npg_array *gx = npg_multiply(d, npg_reshape(g, NPG_SHAPE(-1, 1)));
        if (e->has_ignore) gx = npg_where_scalar(npg_reshape(npg_not_equal_scalar(lab, (double)e->ignore), NPG_SHAPE(-1, 1)), gx, 0.0);
        gin[0] = gx;
        return gx ? NPG_OK : npg_last_status();
    }
    npg_array *gc = npg_contiguous(g);
    npg_array *gx = gc ? npg__alloc_like_dev("cross_entropy_backward", x->dtype, 2, x->shape, x) : NULL;
    if (!gx) return npg_last_status();
    npg_tdesc dgx, dg, dx, ds, dy;
    npg__desc(gx, &dgx);
    npg__desc(gc, &dg);
    npg__desc(x, &dx);
    npg__desc(lse, &ds);
    npg__desc(lab, &dy);
    npg_status st = npg__k_cross_entropy_backward(be, x->storage->dev, &dgx, &dg, &dx, &ds, &dy, e->eps, e->has_ignore, e->ignore);
    if (st != NPG_OK) return st;
    gin[0] = gx;
    return NPG_OK;
}

npg_array *npg_nll_loss(npg_array *log_probs, npg_array *labels, const npg_ce_opts *opts) {
    const char *fn = "npg_nll_loss";
    if (npg__any_null(fn, 2, log_probs, labels)) return NULL;
    if (!check_labels(fn, log_probs, labels)) return NULL;
    npg_scope s = npg_scope_begin();
    npg_array *lab = npg__cast(labels, NPG_INT64), *valid = NULL, *safe = lab;
    if (opts && opts->has_ignore_index) {
        valid = npg_not_equal_scalar(lab, (double)opts->ignore_index);
        safe = npg_where_scalar(valid, lab, 0.0);
    }
    npg_array *rows = npg_negative(
        npg_reshape(npg_take_along_axis(log_probs, npg_reshape(safe, NPG_SHAPE(-1, 1)), 1), NPG_SHAPE(-1)));
    if (valid) rows = npg_where_scalar(valid, rows, 0.0);
    npg_array *r = rows ? reduce_loss(rows, opts ? opts->reduction : NPG_REDUCTION_MEAN, valid) : NULL;
    return npg__finish(fn, s, r);
}

npg_array *npg_mse_loss(npg_array *pred, npg_array *target, npg_reduction reduction) {
    if (npg__any_null("npg_mse_loss", 2, pred, target)) return NULL;
    npg_scope s = npg_scope_begin();
    npg_array *d = npg_square(npg_subtract(pred, target));
    npg_array *r = reduction == NPG_REDUCTION_NONE ? d
                   : reduction == NPG_REDUCTION_SUM ? npg_sum(d, NPG_ALL_AXES, false)
                                                   : npg_mean(d, NPG_ALL_AXES, false);
    npg_keep(r);
    npg_scope_end(s);
    return r;
}

npg_array *npg_binary_cross_entropy_with_logits(npg_array *x, npg_array *t, npg_reduction reduction) {
    if (npg__any_null("npg_binary_cross_entropy_with_logits", 2, x, t)) return NULL;
    npg_scope s = npg_scope_begin();
    /* max(x, 0) - x t + log(1 + exp(-|x|)) */
    npg_array *l = npg_add(npg_subtract(npg_relu(x), npg_multiply(x, t)), npg_log1p(npg_exp(npg_negative(npg_abs(x)))));
    npg_array *r = reduction == NPG_REDUCTION_NONE ? l
                   : reduction == NPG_REDUCTION_SUM ? npg_sum(l, NPG_ALL_AXES, false)
                                                   : npg_mean(l, NPG_ALL_AXES, false);
    npg_keep(r);
    npg_scope_end(s);
    return r;
}

/* ------------------------------------------------------------------------
 * Layers
 * ------------------------------------------------------------------------ */

npg_array *npg_linear(npg_array *x, npg_array *w, npg_array *b) {
    const char *fn = "npg_linear";
    if (npg__any_null(fn, 2, x, w)) return NULL;
    if (w->ndim != 2) {
        npg__set_error(NPG_ERR_SHAPE, "%s: weight must be 2-d (out, in) (got %d-d)", fn, w->ndim);
        return NULL;
    }
    npg_scope s = npg_scope_begin();
    npg_array *y = npg_matmul(x, npg_matrix_transpose(w));
    if (y && b) y = npg_add(y, b);
    return npg__finish(fn, s, y);
}

npg_array *npg_flatten_from(npg_array *x, int start_axis) {
    const char *fn = "npg_flatten_from";
    if (!x) {
        npg__null_arg(fn);
        return NULL;
    }
    int a;
    if (x->ndim == 0) return npg_reshape(x, NPG_SHAPE(1));
    if (!npg__norm_axis(fn, start_axis, x->ndim, &a)) return NULL;
    npg_shape s = {.ndim = a + 1};
    for (int i = 0; i < a; i++) s.dims[i] = x->shape[i];
    s.dims[a] = -1;
    if (npg__numel(x->ndim, x->shape) == 0) {
        int64_t r = 1;
        for (int i = a; i < x->ndim; i++) r *= x->shape[i];
        s.dims[a] = r;
    }
    return npg_reshape(x, s);
}

npg_array *npg_embedding(npg_array *indices, npg_array *weight) {
    const char *fn = "npg_embedding";
    if (npg__any_null(fn, 2, indices, weight)) return NULL;
    if (weight->ndim != 2) {
        npg__set_error(NPG_ERR_SHAPE, "%s: weight must be 2-d (num, dim) (got %d-d)", fn, weight->ndim);
        return NULL;
    }
    return npg_take(weight, indices, 0);
}

npg_array *npg_dropout(npg_array *x, double p, bool training, npg_generator *gen) {
    const char *fn = "npg_dropout";
    if (!x) {
        npg__null_arg(fn);
        return NULL;
    }
    if (!(p >= 0 && p <= 1)) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: p must be in [0, 1] (got %g)", fn, p);
        return NULL;
    }
    if (!training || p == 0) return npg__alias(x);
    npg_scope s = npg_scope_begin();
    npg_array *r;
    if (p == 1) {
        r = npg_multiply_scalar(x, 0.0);
    } else {
        npg_dtype dt = npg__float_dtype(x->dtype);
        /* half types draw float32 uniforms: p rounded to a half type and
         * uniforms on its coarse grid would keep the wrong fraction */
        npg_array *u = npg_rand(npg_shape_of(x), NPG_OPTS(.dtype = npg__is_half(dt) ? NPG_FLOAT32 : dt,
                                                          .device = npg__device_of(x), .generator = gen));
        npg_array *keep = npg_greater_equal_scalar(u, p);
        r = npg_where_scalar(keep, npg_multiply_scalar(npg__cast(x, dt), 1.0 / (1.0 - p)), 0.0);
    }
    return npg__finish(fn, s, r);
}

bool npg__norm_args(const char *fn, npg_array *x, int k, npg_array *weight, npg_array *bias, npg_axes *axes) {
    if (!x) {
        npg__null_arg(fn);
        return false;
    }
    if (k < 1 || k > x->ndim) {
        npg__set_error(NPG_ERR_AXIS, "%s: normalized_axes = %d is invalid for a %d-d input", fn, k, x->ndim);
        return false;
    }
    axes->n = k;
    for (int i = 0; i < k; i++) axes->axes[i] = x->ndim - k + i;
    for (int w = 0; w < 2; w++) {
        npg_array *p = w ? bias : weight;
        if (p && (p->ndim != k || memcmp(p->shape, x->shape + x->ndim - k, sizeof(int64_t) * (size_t)k) != 0)) {
            char sa[NPG_SHAPE_BUF];
            npg__set_error(NPG_ERR_SHAPE, "%s: %s of shape %s does not match the normalized shape", fn,
                           w ? "bias" : "weight", npg__shape_str(sa, sizeof sa, p->ndim, p->shape));
            return false;
        }
    }
    npg_array *ops[3] = {x, weight, bias};
    int n = 1;
    if (weight) ops[n++] = weight;
    if (bias) ops[n++] = bias;
    return npg__check_devices(fn, n, ops);
}

npg_array *npg_layer_norm(npg_array *x, int k, npg_array *weight, npg_array *bias, double eps) {
    const char *fn = "npg_layer_norm";
    npg_axes axes;
    if (!npg__norm_args(fn, x, k, weight, bias, &axes)) return NULL;
    NPG_HALF_VIA_F32(fn, x->dtype, npg_layer_norm(npg__as_f32(x), k, weight, bias, eps));
    npg_scope s = npg_scope_begin();
    npg_array *xf = npg__cast(x, npg__float_dtype(x->dtype));
    npg_array *mean = npg_mean(xf, axes, true);
    npg_array *d = npg_subtract(xf, mean);
    npg_array *var = npg_mean(npg_square(d), axes, true);
    npg_array *y = npg_multiply(d, npg_reciprocal(npg_sqrt(npg_add_scalar(var, eps))));
    if (y && weight) y = npg_multiply(y, weight);
    if (y && bias) y = npg_add(y, bias);
    return npg__finish(fn, s, y);
}

/* ------------------------------------------------------------------------
 * Convolution and pooling
 * ------------------------------------------------------------------------ */

static bool conv_geom(const char *fn, npg_array *x, int64_t KH, int64_t KW, const int *stride, const int *pad,
                      const int *dil, npg_conv_geom *g) {
    if (x->ndim != 4) {
        npg__set_error(NPG_ERR_SHAPE, "%s: input must be 4-d (N, C, H, W) (got %d-d)", fn, x->ndim);
        return false;
    }
    memset(g, 0, sizeof *g);
    g->N = x->shape[0];
    g->C = x->shape[1];
    g->H = x->shape[2];
    g->W = x->shape[3];
    g->KH = KH;
    g->KW = KW;
    g->stride_h = stride[0] > 0 ? stride[0] : 1;
    g->stride_w = stride[1] > 0 ? stride[1] : 1;
    g->pad_h = pad[0];
    g->pad_w = pad[1];
    g->dil_h = dil[0] > 0 ? dil[0] : 1;
    g->dil_w = dil[1] > 0 ? dil[1] : 1;
    if (stride[0] < 0 || stride[1] < 0 || pad[0] < 0 || pad[1] < 0 || dil[0] < 0 || dil[1] < 0 || KH < 1 || KW < 1) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: kernel, stride, padding and dilation must be positive", fn);
        return false;
    }
    int64_t eh = g->H + 2 * g->pad_h - g->dil_h * (KH - 1) - 1, ew = g->W + 2 * g->pad_w - g->dil_w * (KW - 1) - 1;
    if (eh < 0 || ew < 0) {
        npg__set_error(NPG_ERR_SHAPE, "%s: the kernel (%lld x %lld) is larger than the padded input (%lld x %lld)", fn,
                       (long long)KH, (long long)KW, (long long)(g->H + 2 * g->pad_h), (long long)(g->W + 2 * g->pad_w));
        return false;
    }
    g->OH = eh / g->stride_h + 1;
    g->OW = ew / g->stride_w + 1;
    /* im2col unfolds x into N*C*KH*KW*OH*OW elements: keep that product (and
     * every partial one the ops form) representable */
    const int64_t f[6] = {g->N, g->C, KH, KW, g->OH, g->OW};
    uint64_t n = 1;
    for (int i = 0; i < 6; i++) {
        uint64_t d = f[i] > 1 ? (uint64_t)f[i] : 1;
        if (n > (uint64_t)INT64_MAX / 8 / d) {
            char sb[NPG_SHAPE_BUF];
            npg__set_error(NPG_ERR_OOM, "%s: a %lld x %lld window over input %s is too large", fn, (long long)KH,
                           (long long)KW, npg__shape_str(sb, sizeof sb, x->ndim, x->shape));
            return false;
        }
        n *= d;
    }
    return true;
}

void *npg__geom_copy(const npg_conv_geom *g) {
    npg_conv_geom *c = malloc(sizeof *c);
    if (c) *c = *g;
    return c;
}

/* cols = im2col(x): (N, C*KH*KW, OH*OW); differentiable (backward col2im). */
npg_array *npg__im2col(npg_array *x, const npg_conv_geom *g) {
    const char *fn = "im2col";
    const npg_backend *be = npg__backend_of(x);
    if (!be->im2col) {
        npg__set_error(NPG_ERR_UNSUPPORTED, "%s: not implemented on %s", fn, be->name);
        return NULL;
    }
    npg_array *xc = npg_contiguous(x);
    if (!xc) return NULL;
    int64_t shape[3] = {g->N, g->C * g->KH * g->KW, g->OH * g->OW};
    /* an empty image (its data may be NULL) unfolds to padding only: zeros,
     * without a kernel */
    const bool empty = npg__numel(xc->ndim, xc->shape) == 0;
    npg_array *cols = empty ? npg_zeros(NPG_SHAPE(shape[0], shape[1], shape[2]),
                                        NPG_OPTS(.dtype = x->dtype, .device = npg__device_of(x)))
                            : npg__alloc_like_dev(fn, x->dtype, 3, shape, x);
    npg_status st = cols ? NPG_OK : npg_last_status();
    if (st == NPG_OK && !empty && npg__numel(3, shape) > 0) {
        npg_tdesc dc, dx;
        npg__desc(cols, &dc);
        npg__desc(xc, &dx);
        st = npg__k_im2col(be, x->storage->dev, &dc, &dx, g);
    }
    if (st == NPG_OK && npg__needs_grad(1, &xc)) {
        npg_node *n = npg__record(NPG_OP_IM2COL, cols, 1, &xc);
        if (n) n->extra = npg__geom_copy(g);
    }
    npg_free(xc);
    if (st != NPG_OK) {
        npg_free(cols);
        return NULL;
    }
    return cols;
}

/* x = col2im(cols): (N, C, H, W); differentiable (backward im2col). */
npg_array *npg__col2im(npg_array *cols, const npg_conv_geom *g) {
    const char *fn = "col2im";
    const npg_backend *be = npg__backend_of(cols);
    if (!be->col2im) {
        npg__set_error(NPG_ERR_UNSUPPORTED, "%s: not implemented on %s", fn, be->name);
        return NULL;
    }
    npg_array *cc = npg_contiguous(cols);
    npg_array *x = cc ? npg_zeros(NPG_SHAPE(g->N, g->C, g->H, g->W), NPG_OPTS(.dtype = cols->dtype, .device = npg__device_of(cols))) : NULL;
    npg_status st = x ? NPG_OK : npg_last_status();
    if (st == NPG_OK && npg__numel(3, cc->shape) > 0 && npg__numel(x->ndim, x->shape) > 0) { /* folds onto x */
        npg_tdesc dx, dc;
        npg__desc(x, &dx);
        npg__desc(cc, &dc);
        st = npg__k_col2im(be, cols->storage->dev, &dx, &dc, g);
    }
    if (st == NPG_OK && npg__needs_grad(1, &cc)) {
        npg_node *n = npg__record(NPG_OP_COL2IM, x, 1, &cc);
        if (n) n->extra = npg__geom_copy(g);
    }
    npg_free(cc);
    if (st != NPG_OK) {
        npg_free(x);
        return NULL;
    }
    return x;
}

npg_status npg__bw_im2col(npg_node *n, npg_array *g, npg_array **gin) {
    gin[0] = npg__col2im(g, n->extra);
    return gin[0] ? NPG_OK : npg_last_status();
}
npg_status npg__bw_col2im(npg_node *n, npg_array *g, npg_array **gin) {
    gin[0] = npg__im2col(g, n->extra);
    return gin[0] ? NPG_OK : npg_last_status();
}

/* A convolution's bias is NULL or (OC,), and its operands share a device. */
static bool conv_bias_devices(const char *fn, npg_array *x, npg_array *w, npg_array *b, int64_t OC) {
    if (b && (b->ndim != 1 || b->shape[0] != OC)) {
        npg__set_error(NPG_ERR_SHAPE, "%s: bias must have shape (%lld,)", fn, (long long)OC);
        return false;
    }
    npg_array *ops[3] = {x, w, b};
    return npg__check_devices(fn, b ? 3 : 2, ops);
}

/* The floating dtype a convolution computes in (integers: the default float). */
static npg_dtype conv_dtype(const npg_array *x, const npg_array *w) {
    npg_dtype dt = npg_result_type(x->dtype, w->dtype);
    return npg__float_dtype(dt);
}

/* conv2d with the checks' messages naming fn; stride/padding/dilation as in
 * npg_conv2d_opts (zero = default). */
static npg_array *conv2d_impl(const char *fn, npg_array *x, npg_array *w, npg_array *b, const int *stride,
                              const int *pad, const int *dil, int groups_opt) {
    if (npg__any_null(fn, 2, x, w)) return NULL;
    int groups = groups_opt > 0 ? groups_opt : 1;
    if (groups_opt < 0) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: groups must be positive (got %d)", fn, groups_opt);
        return NULL;
    }
    if (w->ndim != 4) {
        npg__set_error(NPG_ERR_SHAPE, "%s: weight must be 4-d (OC, C/groups, KH, KW) (got %d-d)", fn, w->ndim);
        return NULL;
    }
    npg_conv_geom g;
    if (!conv_geom(fn, x, w->shape[2], w->shape[3], stride, pad, dil, &g)) return NULL;
    int64_t OC = w->shape[0];
    if (g.C % groups || OC % groups || w->shape[1] * groups != g.C) {
        char sa[NPG_SHAPE_BUF], sb[NPG_SHAPE_BUF];
        npg__set_error(NPG_ERR_SHAPE, "%s: weight %s does not fit input %s with groups = %d", fn,
                       npg__shape_str(sa, sizeof sa, w->ndim, w->shape), npg__shape_str(sb, sizeof sb, x->ndim, x->shape),
                       groups);
        return NULL;
    }
    if (!conv_bias_devices(fn, x, w, b, OC)) return NULL;
    npg_scope s = npg_scope_begin();
    const npg_dtype dt = conv_dtype(x, w);
    npg_array *xf = npg__cast(x, dt), *wf = npg__cast(w, dt);
    npg_array *cols = xf ? npg__im2col(xf, &g) : NULL; /* (N, C*KK, L) */
    int64_t KK = g.KH * g.KW, L = g.OH * g.OW, Cg = g.C / groups, OCg = OC / groups;
    npg_array *y = NULL;
    if (cols && wf) {
        if (groups == 1) {
            y = npg_matmul(npg_reshape(wf, NPG_SHAPE(OC, g.C * KK)), cols); /* (N, OC, L) */
        } else {
            npg_array *cg = npg_reshape(cols, NPG_SHAPE(g.N, groups, Cg * KK, L));
            npg_array *wg = npg_reshape(wf, NPG_SHAPE(groups, OCg, Cg * KK));
            y = npg_reshape(npg_matmul(wg, cg), NPG_SHAPE(g.N, OC, L));
        }
        y = npg_reshape(y, NPG_SHAPE(g.N, OC, g.OH, g.OW));
        if (y && b) y = npg_add(y, npg_reshape(b, NPG_SHAPE(OC, 1, 1)));
    }
    return npg__finish(fn, s, y);
}

npg_array *npg_conv2d(npg_array *x, npg_array *w, npg_array *b, const npg_conv2d_opts *opts) {
    const npg_conv2d_opts o = opts ? *opts : (npg_conv2d_opts){.groups = 1};
    return conv2d_impl("npg_conv2d", x, w, b, o.stride, o.padding, o.dilation, o.groups);
}

/* A 1-d operand (N, C, L) or weight (OC, C', K) as (N, C, 1, L) / (OC, C', 1, K). */
static npg_array *with_unit_height(npg_array *a) {
    return npg_reshape(a, NPG_SHAPE(a->shape[0], a->shape[1], 1, a->shape[2]));
}

static bool check_1d(const char *fn, npg_array *x, npg_array *w, const char *wlayout) {
    if (npg__any_null(fn, 2, x, w)) return false;
    if (x->ndim != 3) {
        npg__set_error(NPG_ERR_SHAPE, "%s: input must be 3-d (N, C, L) (got %d-d)", fn, x->ndim);
        return false;
    }
    if (w->ndim != 3) {
        npg__set_error(NPG_ERR_SHAPE, "%s: weight must be 3-d %s (got %d-d)", fn, wlayout, w->ndim);
        return false;
    }
    return true;
}

npg_array *npg_conv1d(npg_array *x, npg_array *w, npg_array *b, const npg_conv1d_opts *opts) {
    const char *fn = "npg_conv1d";
    if (!check_1d(fn, x, w, "(OC, C/groups, K)")) return NULL;
    const npg_conv1d_opts o = opts ? *opts : (npg_conv1d_opts){0};
    const int stride[2] = {1, o.stride}, pad[2] = {0, o.padding}, dil[2] = {1, o.dilation};
    npg_scope s = npg_scope_begin();
    npg_array *y = conv2d_impl(fn, with_unit_height(x), with_unit_height(w), b, stride, pad, dil, o.groups);
    if (y) y = npg_reshape(y, NPG_SHAPE(y->shape[0], y->shape[1], y->shape[3]));
    return npg__finish(fn, s, y);
}

/* The transposed convolution: cols = W^T x per group, then col2im onto the
 * output, which is the image a conv2d with these options would read. */
static npg_array *conv_transpose_impl(const char *fn, npg_array *x, npg_array *w, npg_array *b, const int *stride,
                                      const int *pad, const int *opad, const int *dil, int groups_opt) {
    if (npg__any_null(fn, 2, x, w)) return NULL;
    if (x->ndim != 4) {
        npg__set_error(NPG_ERR_SHAPE, "%s: input must be 4-d (N, C, H, W) (got %d-d)", fn, x->ndim);
        return NULL;
    }
    if (w->ndim != 4) {
        npg__set_error(NPG_ERR_SHAPE, "%s: weight must be 4-d (C, OC/groups, KH, KW) (got %d-d)", fn, w->ndim);
        return NULL;
    }
    for (int i = 0; i < 2; i++) {
        if (stride[i] < 0 || pad[i] < 0 || opad[i] < 0 || dil[i] < 0 || groups_opt < 0) {
            npg__set_error(NPG_ERR_INVALID_ARG, "%s: stride, padding, output_padding, dilation and groups must not be negative", fn);
            return NULL;
        }
    }
    const int groups = groups_opt > 0 ? groups_opt : 1;
    npg_conv_geom g = {0};
    const int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    const int64_t KH = w->shape[2], KW = w->shape[3];
    g.N = N;
    g.KH = KH;
    g.KW = KW;
    g.OH = H; /* the conv over the output reads x's positions as its windows */
    g.OW = W;
    g.stride_h = stride[0] > 0 ? stride[0] : 1;
    g.stride_w = stride[1] > 0 ? stride[1] : 1;
    g.pad_h = pad[0];
    g.pad_w = pad[1];
    g.dil_h = dil[0] > 0 ? dil[0] : 1;
    g.dil_w = dil[1] > 0 ? dil[1] : 1;
    if (opad[0] >= g.stride_h && opad[0] >= g.dil_h) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: output_padding %d must be smaller than the stride (%lld) or the dilation (%lld)",
                       fn, opad[0], (long long)g.stride_h, (long long)g.dil_h);
        return NULL;
    }
    if (opad[1] >= g.stride_w && opad[1] >= g.dil_w) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: output_padding %d must be smaller than the stride (%lld) or the dilation (%lld)",
                       fn, opad[1], (long long)g.stride_w, (long long)g.dil_w);
        return NULL;
    }
    if (KH < 1 || KW < 1 || H < 1 || W < 1) {
        char sa[NPG_SHAPE_BUF], sb[NPG_SHAPE_BUF];
        npg__set_error(NPG_ERR_SHAPE, "%s: input %s and weight %s need a non-empty image and kernel", fn,
                       npg__shape_str(sa, sizeof sa, x->ndim, x->shape), npg__shape_str(sb, sizeof sb, w->ndim, w->shape));
        return NULL;
    }
    if (C % groups || w->shape[0] != C) {
        char sa[NPG_SHAPE_BUF], sb[NPG_SHAPE_BUF];
        npg__set_error(NPG_ERR_SHAPE, "%s: weight %s does not fit input %s with groups = %d", fn,
                       npg__shape_str(sa, sizeof sa, w->ndim, w->shape), npg__shape_str(sb, sizeof sb, x->ndim, x->shape),
                       groups);
        return NULL;
    }
    /* sizes: the output's extents and the product of every factor the
     * GEMM and col2im form stay below INT64_MAX / 64 (checked by division,
     * so that the checks cannot overflow either) */
    const uint64_t LIM = (uint64_t)INT64_MAX / 64;
    bool big = (uint64_t)H > LIM / (uint64_t)g.stride_h || (uint64_t)W > LIM / (uint64_t)g.stride_w ||
               (uint64_t)KH > LIM / (uint64_t)g.dil_h || (uint64_t)KW > LIM / (uint64_t)g.dil_w;
    const int64_t f[8] = {N, C, w->shape[1], groups, KH, KW, H, W};
    uint64_t prod = 1;
    for (int i = 0; i < 8 && !big; i++) {
        const uint64_t d = f[i] > 1 ? (uint64_t)f[i] : 1;
        if (prod > LIM / d) big = true;
        else prod *= d;
    }
    if (big) {
        char sa[NPG_SHAPE_BUF];
        npg__set_error(NPG_ERR_OOM, "%s: the output of input %s is too large", fn,
                       npg__shape_str(sa, sizeof sa, x->ndim, x->shape));
        return NULL;
    }
    const int64_t OC = w->shape[1] * groups, Cg = C / groups, OCg = w->shape[1], KK = KH * KW, L = H * W;
    g.C = OC;
    g.H = (H - 1) * g.stride_h - 2 * g.pad_h + g.dil_h * (KH - 1) + opad[0] + 1;
    g.W = (W - 1) * g.stride_w - 2 * g.pad_w + g.dil_w * (KW - 1) + opad[1] + 1;
    if (g.H < 1 || g.W < 1) {
        char sa[NPG_SHAPE_BUF];
        npg__set_error(NPG_ERR_SHAPE, "%s: the output of input %s would be %lld x %lld (padding too large)", fn,
                       npg__shape_str(sa, sizeof sa, x->ndim, x->shape), (long long)g.H, (long long)g.W);
        return NULL;
    }
    if (!conv_bias_devices(fn, x, w, b, OC)) return NULL;
    npg_scope s = npg_scope_begin();
    const npg_dtype dt = conv_dtype(x, w);
    npg_array *xf = npg__cast(x, dt), *wf = npg__cast(w, dt), *cols = NULL;
    if (xf && wf) {
        if (groups == 1) {
            npg_array *wt = npg_matrix_transpose(npg_reshape(wf, NPG_SHAPE(C, OC * KK))); /* (OC*KK, C) */
            cols = npg_matmul(wt, npg_reshape(xf, NPG_SHAPE(N, C, L)));                 /* (N, OC*KK, L) */
        } else {
            npg_array *wt = npg_matrix_transpose(npg_reshape(wf, NPG_SHAPE(groups, Cg, OCg * KK)));
            cols = npg_matmul(wt, npg_reshape(xf, NPG_SHAPE(N, groups, Cg, L))); /* (N, groups, OCg*KK, L) */
            cols = npg_reshape(cols, NPG_SHAPE(N, OC * KK, L));
        }
    }
    npg_array *y = cols ? npg__col2im(cols, &g) : NULL;
    if (y && b) y = npg_add(y, npg_reshape(b, NPG_SHAPE(OC, 1, 1)));
    return npg__finish(fn, s, y);
}

npg_array *npg_conv_transpose2d(npg_array *x, npg_array *w, npg_array *b, const npg_conv_transpose2d_opts *opts) {
    const npg_conv_transpose2d_opts o = opts ? *opts : (npg_conv_transpose2d_opts){0};
    return conv_transpose_impl("npg_conv_transpose2d", x, w, b, o.stride, o.padding, o.output_padding, o.dilation,
                               o.groups);
}

npg_array *npg_conv_transpose1d(npg_array *x, npg_array *w, npg_array *b, const npg_conv_transpose1d_opts *opts) {
    const char *fn = "npg_conv_transpose1d";
    if (!check_1d(fn, x, w, "(C, OC/groups, K)")) return NULL;
    const npg_conv_transpose1d_opts o = opts ? *opts : (npg_conv_transpose1d_opts){0};
    const int stride[2] = {1, o.stride}, pad[2] = {0, o.padding}, opad[2] = {0, o.output_padding},
              dil[2] = {1, o.dilation};
    npg_scope s = npg_scope_begin();
    npg_array *y = conv_transpose_impl(fn, with_unit_height(x), with_unit_height(w), b, stride, pad, opad, dil, o.groups);
    if (y) y = npg_reshape(y, NPG_SHAPE(y->shape[0], y->shape[1], y->shape[3]));
    return npg__finish(fn, s, y);
}

static bool pool_geom(const char *fn, npg_array *x, const npg_pool2d_opts *o, npg_conv_geom *g) {
    if (!o) {
        npg__null_arg(fn);
        return false;
    }
    if (o->kernel[0] < 1 || o->kernel[1] < 1) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: kernel size must be positive (got %d x %d)", fn, o->kernel[0], o->kernel[1]);
        return false;
    }
    int stride[2] = {o->stride[0] ? o->stride[0] : o->kernel[0], o->stride[1] ? o->stride[1] : o->kernel[1]};
    int dil[2] = {1, 1};
    if ((int64_t)o->padding[0] * 2 > o->kernel[0] || (int64_t)o->padding[1] * 2 > o->kernel[1]) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: padding (%d, %d) must be at most half the kernel size", fn, o->padding[0],
                       o->padding[1]);
        return false;
    }
    if (!conv_geom(fn, x, o->kernel[0], o->kernel[1], stride, o->padding, dil, g)) return false;
    g->count_include_pad = o->count_include_pad;
    return true;
}

npg_array *npg_max_pool2d(npg_array *x, const npg_pool2d_opts *opts) {
    const char *fn = "npg_max_pool2d";
    if (!x) {
        npg__null_arg(fn);
        return NULL;
    }
    npg_conv_geom g;
    if (!pool_geom(fn, x, opts, &g)) return NULL;
    const npg_backend *be = npg__backend_of(x);
    if (!be->pool2d) {
        npg__set_error(NPG_ERR_UNSUPPORTED, "%s: not implemented on %s", fn, be->name);
        return NULL;
    }
    if (x->dtype == NPG_BOOL) {
        npg__set_error(NPG_ERR_DTYPE, "%s: dtype bool is not supported", fn);
        return NULL;
    }
    npg_scope s = npg_scope_begin();
    npg_array *r = npg__max_pool_run(fn, x, &g);
    return npg__finish(fn, s, r);
}

npg_array *npg__max_pool_run(const char *fn, npg_array *x, const npg_conv_geom *g) {
    const npg_backend *be = npg__backend_of(x);
    npg_array *xc = npg_contiguous(x);
    int64_t os[4] = {g->N, g->C, g->OH, g->OW};
    npg_array *out = xc ? npg__alloc_like_dev(fn, x->dtype, 4, os, x) : NULL;
    npg_array *am = out ? npg__alloc_like_dev(fn, NPG_INT64, 4, os, x) : NULL;
    npg_status st = am ? NPG_OK : npg_last_status();
    if (st == NPG_OK && npg__numel(4, os) > 0) {
        npg_tdesc dout, dam, dx;
        npg__desc(out, &dout);
        npg__desc(am, &dam);
        npg__desc(xc, &dx);
        st = npg__k_pool2d(be, x->storage->dev, true, &dout, &dam, &dx, g);
    }
    npg_array *r = NULL;
    if (st == NPG_OK) {
        r = out;
        if (npg_is_floating(x->dtype) && npg__needs_grad(1, &xc)) {
            npg_node *n = npg__record(NPG_OP_MAX_POOL2D, r, 1, &xc);
            if (n) {
                npg__save(n, 1, am, false);
                n->extra = npg__geom_copy(g);
            }
        }
    }
    return r;
}

npg_status npg__bw_max_pool2d(npg_node *n, npg_array *gout, npg_array **gin) {
    npg_array *am = npg__unpack(n, 1);
    if (!am) return npg_last_status();
    const npg_conv_geom *g = n->extra;
    const npg_backend *be = npg__backend_of(am);
    if (!npg__grad_enabled() && be->pool2d_backward) {
        npg_array *gc = npg_contiguous(gout);
        npg_array *gx = gc ? npg_zeros(NPG_SHAPE(g->N, g->C, g->H, g->W), NPG_OPTS(.dtype = gout->dtype, .device = npg__device_of(gout))) : NULL;
        if (!gx) return npg_last_status();
        if (npg__numel(4, gc->shape) > 0) {
            npg_tdesc dgx, dg, dam;
            npg__desc(gx, &dgx);
            npg__desc(gc, &dg);
            npg__desc(am, &dam);
            npg_status st = npg__k_pool2d_backward(be, am->storage->dev, true, &dgx, &dg, &dam, g);
            if (st != NPG_OK) return st;
        }
        gin[0] = gx;
        return NPG_OK;
    }
    /* differentiable form: scatter-add gout at the argmax positions */
    int64_t zshape[3] = {g->N, g->C, g->H * g->W};
    npg_array *src = npg_reshape(gout, NPG_SHAPE(g->N, g->C, g->OH * g->OW));
    npg_array *idx = npg_contiguous(npg_reshape(am, NPG_SHAPE(g->N, g->C, g->OH * g->OW)));
    npg_array *r = (src && idx) ? npg__scatter_add_zeros(3, zshape, src, idx, 2) : NULL;
    gin[0] = r ? npg_reshape(r, NPG_SHAPE(g->N, g->C, g->H, g->W)) : NULL;
    return gin[0] ? NPG_OK : npg_last_status();
}

npg_array *npg_avg_pool2d(npg_array *x, const npg_pool2d_opts *opts) {
    const char *fn = "npg_avg_pool2d";
    if (!x) {
        npg__null_arg(fn);
        return NULL;
    }
    npg_conv_geom g;
    if (!pool_geom(fn, x, opts, &g)) return NULL;
    npg_scope s = npg_scope_begin();
    npg_dtype dt = npg__float_dtype(x->dtype);
    npg_array *xf = npg__cast(x, dt);
    int64_t KK = g.KH * g.KW, L = g.OH * g.OW;
    /* window sums from im2col: (N, C, KK, L) summed over KK */
    npg_array *cols = xf ? npg__im2col(xf, &g) : NULL;
    npg_array *sums = cols ? npg_sum(npg_reshape(cols, NPG_SHAPE(g.N, g.C, KK, L)), NPG_AXES(2), false) : NULL;
    npg_array *r = NULL;
    if (sums) {
        if (g.count_include_pad || (g.pad_h == 0 && g.pad_w == 0)) {
            r = npg_divide_scalar(sums, (double)KK);
        } else {
            /* in-image pixels per window, from im2col of a ones image */
            npg_conv_geom g1 = g;
            g1.N = 1;
            g1.C = 1;
            npg_no_grad_begin();
            npg_array *ones = npg_ones(NPG_SHAPE(1, 1, g.H, g.W), NPG_OPTS(.dtype = dt, .device = npg__device_of(x)));
            npg_array *cnt = ones ? npg_sum(npg__im2col(ones, &g1), NPG_AXES(1), false) : NULL; /* (1, L) */
            npg_no_grad_end();
            r = cnt ? npg_divide(sums, cnt) : NULL;
        }
        if (r) r = npg_reshape(r, NPG_SHAPE(g.N, g.C, g.OH, g.OW));
    }
    return npg__finish(fn, s, r);
}
