/*
 * nn_more.c — batch_norm, group_norm, pad and scaled_dot_product_attention
 * (npg/nn.h), composed from other ops: they run on every device and
 * differentiate through the rules of the ops they use. Arguments are checked
 * first, so an error names the function the caller called.
 */
#include "internal.h"

#include <math.h>

/* p is NULL or a 1-d array of length c (named `what` in the error). */
static bool check_vec(const char *fn, const npg_array *p, int64_t c, const char *what) {
    if (p && (p->ndim != 1 || p->shape[0] != c)) {
        char sa[NPG_SHAPE_BUF];
        npg__set_error(NPG_ERR_SHAPE, "%s: %s of shape %s does not match the %lld channels", fn, what,
                       npg__shape_str(sa, sizeof sa, p->ndim, p->shape), (long long)c);
        return false;
    }
    return true;
}

/* x is an (N, C, ...) input. */
static bool check_nc(const char *fn, const npg_array *x) {
    if (!x) {
        npg__null_arg(fn);
        return false;
    }
    if (x->ndim < 2) {
        npg__set_error(NPG_ERR_SHAPE, "%s: the input has %d dimensions (N, C, ...: at least 2)", fn, x->ndim);
        return false;
    }
    return true;
}

/* v (C) as (1, C, 1, ...) for an input of ndim dims. */
static npg_array *per_channel(npg_array *v, int ndim) {
    npg_shape s = {.ndim = ndim};
    for (int i = 0; i < ndim; i++) s.dims[i] = i == 1 ? v->shape[0] : 1;
    return npg_reshape(v, s);
}

npg_array *npg_batch_norm(npg_array *x, npg_array *running_mean, npg_array *running_var, npg_array *weight,
                          npg_array *bias, bool training, double momentum, double eps) {
    const char *fn = "npg_batch_norm";
    if (!check_nc(fn, x)) return NULL;
    NPG_HALF_VIA_F32(fn, x->dtype,
                     npg_batch_norm(npg__as_f32(x), running_mean, running_var, weight, bias, training, momentum, eps));
    if (!npg_is_floating(x->dtype)) {
        npg__set_error(NPG_ERR_DTYPE, "%s: the input is %s (floating dtypes only)", fn, npg_dtype_name(x->dtype));
        return NULL;
    }
    const int64_t C = x->shape[1];
    if (!check_vec(fn, running_mean, C, "running_mean") || !check_vec(fn, running_var, C, "running_var") ||
        !check_vec(fn, weight, C, "weight") || !check_vec(fn, bias, C, "bias"))
        return NULL;
    if ((running_mean && !npg_is_floating(running_mean->dtype)) || (running_var && !npg_is_floating(running_var->dtype))) {
        npg__set_error(NPG_ERR_DTYPE, "%s: the running statistics must be floating (got %s)", fn,
                       npg_dtype_name(running_mean && !npg_is_floating(running_mean->dtype) ? running_mean->dtype
                                                                                           : running_var->dtype));
        return NULL;
    }
    if (!training && (!running_mean || !running_var)) {
        npg__set_error(NPG_ERR_NULL_ARG, "%s: evaluation mode needs running_mean and running_var", fn);
        return NULL;
    }
    if (!(eps >= 0) || !(momentum >= 0 && momentum <= 1)) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: eps %g must be >= 0 and momentum %g in [0, 1]", fn, eps, momentum);
        return NULL;
    }
    /* statistics over every axis but the channels */
    npg_axes axes = {.n = 0};
    int64_t count = 1;
    for (int i = 0; i < x->ndim; i++)
        if (i != 1) {
            axes.axes[axes.n++] = i;
            count *= x->shape[i];
        }
    if (training && count < 2) {
        npg__set_error(NPG_ERR_SHAPE, "%s: training needs more than one value per channel (got %lld)", fn,
                       (long long)count);
        return NULL;
    }
    npg_scope s = npg_scope_begin();
    npg_array *mean, *var;
    if (training) {
        mean = npg_mean(x, axes, true);
        var = npg_mean(npg_square(npg_subtract(x, mean)), axes, true); /* biased, to normalise */
        if (running_mean && running_var && mean && var) {
            /* running = (1 - momentum) running + momentum batch, with the
             * unbiased variance (PyTorch), outside the graph */
            npg_no_grad_begin();
            npg_array *m1 = npg_reshape(mean, NPG_SHAPE(C)), *v1 = npg_reshape(var, NPG_SHAPE(C));
            npg_array *nm = npg_add(npg_multiply_scalar(running_mean, 1 - momentum), npg_multiply_scalar(m1, momentum));
            npg_array *nv = npg_add(npg_multiply_scalar(running_var, 1 - momentum),
                                    npg_multiply_scalar(v1, momentum * (double)count / (double)(count - 1)));
            /* both or neither: check that the second can be written before the first is */
            npg_status st = !nm || !nv ? npg_last_status()
                          : !npg__check_writable(fn, running_mean) || !npg__check_writable(fn, running_var)
                              ? npg_last_status()
                              : npg_assign(running_mean, nm);
            if (st == NPG_OK) st = npg_assign(running_var, nv);
            npg_no_grad_end();
            if (st != NPG_OK) mean = NULL;
        }
    } else {
        mean = per_channel(running_mean, x->ndim);
        var = per_channel(running_var, x->ndim);
    }
    npg_array *y = npg_multiply(npg_subtract(x, mean), npg_reciprocal(npg_sqrt(npg_add_scalar(var, eps))));
    if (y && weight) y = npg_multiply(y, per_channel(weight, x->ndim));
    if (y && bias) y = npg_add(y, per_channel(bias, x->ndim));
    return npg__finish(fn, s, y);
}

npg_array *npg_group_norm(npg_array *x, int num_groups, npg_array *weight, npg_array *bias, double eps) {
    const char *fn = "npg_group_norm";
    if (!check_nc(fn, x)) return NULL;
    NPG_HALF_VIA_F32(fn, x->dtype, npg_group_norm(npg__as_f32(x), num_groups, weight, bias, eps));
    const int64_t C = x->shape[1];
    if (num_groups < 1 || C % num_groups != 0) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: %lld channels do not split into %d groups", fn, (long long)C,
                       num_groups);
        return NULL;
    }
    if (!check_vec(fn, weight, C, "weight") || !check_vec(fn, bias, C, "bias")) return NULL;
    if (!(eps >= 0)) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: eps %g must be >= 0", fn, eps);
        return NULL;
    }
    npg_scope s = npg_scope_begin();
    npg_array *xf = npg__cast(x, npg__float_dtype(x->dtype));
    /* (N, G, C/G * rest): statistics over the last axis; an empty x has
     * nothing to normalise (and its (N, G) statistics could be huge) */
    npg_array *y;
    if (npg__numel(x->ndim, x->shape) == 0) {
        y = npg_copy(xf);
    } else {
        int64_t per = C / num_groups;
        for (int i = 2; i < x->ndim; i++) per *= x->shape[i];
        npg_array *g = npg_reshape(xf, NPG_SHAPE(x->shape[0], num_groups, per));
        npg_array *mean = npg_mean(g, NPG_AXES(2), true);
        npg_array *d = npg_subtract(g, mean);
        npg_array *var = npg_mean(npg_square(d), NPG_AXES(2), true);
        y = npg_reshape(npg_multiply(d, npg_reciprocal(npg_sqrt(npg_add_scalar(var, eps)))), npg_shape_of(x));
    }
    if (y && weight) y = npg_multiply(y, per_channel(weight, x->ndim));
    if (y && bias) y = npg_add(y, per_channel(bias, x->ndim));
    return npg__finish(fn, s, y);
}

npg_array *npg_pad(npg_array *x, const int64_t *pad_width, npg_pad_mode mode, double value) {
    const char *fn = "npg_pad";
    if (!x) {
        npg__null_arg(fn);
        return NULL;
    }
    if (!pad_width && x->ndim > 0) {
        npg__set_error(NPG_ERR_NULL_ARG, "%s: pad_width is NULL", fn);
        return NULL;
    }
    if (mode != NPG_PAD_CONSTANT && mode != NPG_PAD_EDGE && mode != NPG_PAD_REFLECT) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: unknown mode %d", fn, (int)mode);
        return NULL;
    }
    for (int i = 0; i < x->ndim; i++) {
        int64_t b = pad_width[2 * i], a = pad_width[2 * i + 1], n = x->shape[i];
        if (b < 0 || a < 0 || b > INT64_MAX / 4 - n || a > INT64_MAX / 4 - n - b) {
            npg__set_error(NPG_ERR_INVALID_ARG, "%s: axis %d: padding (%lld, %lld) must be >= 0", fn, i,
                           (long long)b, (long long)a);
            return NULL;
        }
        if ((b || a) && mode == NPG_PAD_EDGE && n == 0) {
            npg__set_error(NPG_ERR_SHAPE, "%s: axis %d is empty: nothing to repeat at its edges", fn, i);
            return NULL;
        }
        if ((b || a) && mode == NPG_PAD_REFLECT && (b >= n || a >= n)) {
            npg__set_error(NPG_ERR_SHAPE, "%s: axis %d: reflect padding (%lld, %lld) must be less than its length %lld",
                           fn, i, (long long)b, (long long)a, (long long)n);
            return NULL;
        }
    }
    npg_device dev = npg__device_of(x);
    npg_scope s = npg_scope_begin();
    npg_array *r = x;
    for (int i = 0; r && i < x->ndim; i++) {
        int64_t b = pad_width[2 * i], a = pad_width[2 * i + 1], n = x->shape[i];
        if (!b && !a) continue;
        if (mode == NPG_PAD_CONSTANT) {
            npg_array *parts[3];
            int np = 0;
            npg_shape sh = npg_shape_of(r);
            if (b) {
                sh.dims[i] = b;
                parts[np++] = npg_full(sh, value, NPG_OPTS(.dtype = r->dtype, .device = dev));
            }
            parts[np++] = r;
            if (a) {
                sh.dims[i] = a;
                parts[np++] = npg_full(sh, value, NPG_OPTS(.dtype = r->dtype, .device = dev));
            }
            r = npg_concat(parts, np, i);
        } else {
            /* a gather: index j of the result reads x at clamp(j - b) (edge)
             * or at the mirror image of j - b (reflect, the edge not repeated) */
            npg_array *j = npg_arange((double)-b, (double)(n + a), 1, NPG_OPTS(.dtype = NPG_INT64, .device = dev));
            npg_array *idx;
            if (mode == NPG_PAD_EDGE) {
                idx = npg_clip(j, 0, (double)(n - 1));
            } else { /* n - 1 - | (n - 1) - |j| | for |j| <= 2(n - 1) */
                npg_array *aj = npg_abs(j);
                idx = npg_subtract_scalar(npg_negative(npg_abs(npg_subtract_scalar(aj, (double)(n - 1)))),
                                          (double)(1 - n));
            }
            r = npg_take(r, idx, i);
        }
    }
    if (r == x) r = npg_copy(x); /* no padding: still a new array */
    return npg__finish(fn, s, r);
}

npg_array *npg_scaled_dot_product_attention(npg_array *q, npg_array *k, npg_array *v, npg_array *mask, bool causal,
                                            double scale) {
    const char *fn = "npg_scaled_dot_product_attention";
    if (!q || !k || !v) {
        npg__null_arg(fn);
        return NULL;
    }
    if (q->ndim < 2 || k->ndim < 2 || v->ndim < 2) {
        npg__set_error(NPG_ERR_SHAPE, "%s: q, k and v need at least 2 dimensions (..., L, E)", fn);
        return NULL;
    }
    const int64_t L = q->shape[q->ndim - 2], E = q->shape[q->ndim - 1], S = k->shape[k->ndim - 2];
    if (k->shape[k->ndim - 1] != E || v->shape[v->ndim - 2] != S) {
        char sq[NPG_SHAPE_BUF], sk[NPG_SHAPE_BUF], sv[NPG_SHAPE_BUF];
        npg__set_error(NPG_ERR_SHAPE, "%s: q %s, k %s and v %s do not fit (..., L, E), (..., S, E), (..., S, Ev)", fn,
                       npg__shape_str(sq, sizeof sq, q->ndim, q->shape),
                       npg__shape_str(sk, sizeof sk, k->ndim, k->shape),
                       npg__shape_str(sv, sizeof sv, v->ndim, v->shape));
        return NULL;
    }
    if (!npg_is_floating(q->dtype) || !npg_is_floating(k->dtype) || !npg_is_floating(v->dtype)) {
        npg__set_error(NPG_ERR_DTYPE, "%s: q, k and v must be floating", fn);
        return NULL;
    }
    if (mask && mask->dtype != NPG_BOOL && !npg_is_floating(mask->dtype)) {
        npg__set_error(NPG_ERR_DTYPE, "%s: the mask is %s (bool: true attends; or floating: added to the scores)",
                       fn, npg_dtype_name(mask->dtype));
        return NULL;
    }
    /* the mask broadcasts to (..., L, S): it cannot make L or S longer */
    if (mask && ((mask->ndim >= 1 && mask->shape[mask->ndim - 1] != 1 && mask->shape[mask->ndim - 1] != S) ||
                 (mask->ndim >= 2 && mask->shape[mask->ndim - 2] != 1 && mask->shape[mask->ndim - 2] != L))) {
        char sm[NPG_SHAPE_BUF];
        npg__set_error(NPG_ERR_SHAPE, "%s: a mask of shape %s does not broadcast to (..., L, S) = (..., %lld, %lld)",
                       fn, npg__shape_str(sm, sizeof sm, mask->ndim, mask->shape), (long long)L, (long long)S);
        return NULL;
    }
    if (!(scale >= 0)) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: scale %g (0 means 1/sqrt(E))", fn, scale);
        return NULL;
    }
    const double sc = scale > 0 ? scale : 1.0 / sqrt((double)(E ? E : 1));
    npg_device dev = npg__device_of(q);
    npg_scope s = npg_scope_begin();
    npg_array *scores = npg_multiply_scalar(npg_matmul(q, npg_matrix_transpose(k)), sc); /* (..., L, S) */
    if (scores && causal) {
        npg_array *keep = npg_tril(npg_ones(NPG_SHAPE(L, S), NPG_OPTS(.dtype = NPG_BOOL, .device = dev)), 0);
        scores = npg_where_scalar(keep, scores, -INFINITY);
    }
    if (scores && mask)
        scores = mask->dtype == NPG_BOOL ? npg_where_scalar(mask, scores, -INFINITY) : npg_add(scores, mask);
    npg_array *y = npg_matmul(npg_softmax(scores, -1), v);
    return npg__finish(fn, s, y);
}
