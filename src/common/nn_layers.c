/*
 * nn_layers.c — adaptive average pooling, interpolation, RMS normalisation,
 * the LSTM and GRU cells, more activations, one_hot, cosine similarity and
 * more losses (npg/nn.h). Each is composed from other ops, so it runs on
 * every device and differentiates through their rules. Arguments are checked
 * first, so an error names the function the caller called.
 *
 * Where a branch of a where() could be infinite or NaN (log of 0, expm1 of a
 * large x, sqrt at 0), its input is made safe first: a where() passes a zero
 * gradient to the branch it did not take, and 0 times an infinite local
 * derivative would be NaN.
 */
#include "internal.h"

#include <math.h>

/* The floating dtype a function computes in: x's, or the default float. */

static npg_array *as_float(npg_array *x) { return npg__cast(x, npg__float_dtype(x->dtype)); }


/* ------------------------------------------------------------------------
 * Adaptive average pooling and interpolation
 * ------------------------------------------------------------------------ */

npg_array *npg__adaptive_pool_axis(const char *fn, npg_array *x, int axis, int64_t in, int64_t out, bool is_max) {
    int64_t L = 0;
    for (int64_t i = 0; i < out; i++) {
        int64_t a = i * in / out, b = ((i + 1) * in + out - 1) / out;
        if (b - a > L) L = b - a;
    }
    int64_t *idx = malloc(sizeof(int64_t) * (size_t)(out * L));
    bool *mask = is_max ? NULL : malloc(sizeof(bool) * (size_t)(out * L));
    double *len = is_max ? NULL : malloc(sizeof(double) * (size_t)out);
    if (!idx || (!is_max && (!mask || !len))) {
        free(idx);
        free(mask);
        free(len);
        npg__set_error(NPG_ERR_OOM, "%s: out of host memory", fn);
        return NULL;
    }
    for (int64_t i = 0; i < out; i++) {
        int64_t a = i * in / out, b = ((i + 1) * in + out - 1) / out;
        for (int64_t j = 0; j < L; j++) {
            idx[i * L + j] = a + j < b ? a + j : b - 1;
            if (mask) mask[i * L + j] = a + j < b;
        }
        if (len) len[i] = (double)(b - a);
    }
    const npg_device dev = npg__device_of(x);
    npg_array *ia = npg_from_data(idx, NPG_INT64, NPG_SHAPE(out, L), NPG_OPTS(.device = dev));
    npg_array *m3 = mask ? npg_from_data(mask, NPG_BOOL, NPG_SHAPE(out, L, 1), NPG_OPTS(.device = dev)) : NULL;
    npg_array *l3 = len ? npg_from_data(len, NPG_FLOAT64, NPG_SHAPE(out, 1), NPG_OPTS(.dtype = x->dtype, .device = dev))
                        : NULL;
    free(idx);
    free(mask);
    free(len);
    /* x as (prefix, in, suffix), so the gathered (prefix, out, L, suffix)
     * stays within the dimension limit whatever x's */
    int64_t pre = 1, suf = 1;
    for (int d = 0; d < axis; d++) pre *= x->shape[d];
    for (int d = axis + 1; d < x->ndim; d++) suf *= x->shape[d];
    npg_array *taps = ia ? npg_take(npg_reshape(x, NPG_SHAPE(pre, in, suf)), ia, 1) : NULL; /* (pre, out, L, suf) */
    npg_array *r;
    if (is_max) { /* the first maximum: a repeated last element never wins */
        npg_array *am = taps ? npg_argmax(taps, 2, true) : NULL;
        r = am ? npg_take_along_axis(taps, am, 2) : NULL; /* (pre, out, 1, suf) */
    } else {
        r = taps && m3 && l3 ? npg_divide(npg_sum(npg_where_scalar(m3, taps, 0.0), NPG_AXES(2), false), l3) : NULL;
    }
    if (!r) return NULL;
    npg_shape ys = npg_shape_of(x);
    ys.dims[axis] = out;
    return npg_reshape(r, ys);
}

npg_array *npg_adaptive_avg_pool2d(npg_array *x, int64_t oh, int64_t ow) {
    const char *fn = "npg_adaptive_avg_pool2d";
    if (!x) {
        npg__null_arg(fn);
        return NULL;
    }
    if (x->ndim < 2) {
        npg__set_error(NPG_ERR_SHAPE, "%s: the input has %d dimensions (..., H, W: at least 2)", fn, x->ndim);
        return NULL;
    }
    const int64_t H = x->shape[x->ndim - 2], W = x->shape[x->ndim - 1];
    if (oh < 1 || ow < 1 || oh > INT32_MAX || ow > INT32_MAX) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: the output size %lld x %lld must be positive", fn, (long long)oh,
                       (long long)ow);
        return NULL;
    }
    if (H < 1 || W < 1) {
        npg__set_error(NPG_ERR_SHAPE, "%s: the input's last two axes (%lld x %lld) must not be empty", fn,
                       (long long)H, (long long)W);
        return NULL;
    }
    if (H > INT32_MAX || W > INT32_MAX) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: the input's last two axes (%lld x %lld) are too long", fn,
                       (long long)H, (long long)W);
        return NULL;
    }
    npg_scope s = npg_scope_begin();
    npg_array *y = as_float(x);
    /* each axis separately (an axis kept at its length is the identity) */
    if (y && oh != H) y = npg__adaptive_pool_axis(fn, y, x->ndim - 2, H, oh, false);
    if (y && ow != W) y = npg__adaptive_pool_axis(fn, y, x->ndim - 1, W, ow, false);
    if (y == x) y = npg_copy(x); /* a new array, as PyTorch's */
    return npg__finish(fn, s, y);
}

/* Source taps of one interpolated axis: idx0/idx1 (int64, out) and the
 * weight of idx1 (lambda; NULL for the nearest modes). */
static bool interp_taps(int64_t in, int64_t out, npg_interp_mode mode, bool align, int64_t *i0, int64_t *i1,
                        double *lam) {
    for (int64_t i = 0; i < out; i++) {
        if (mode == NPG_INTERP_NEAREST || mode == NPG_INTERP_NEAREST_EXACT) {
            /* floor(i in / out) or floor((i + 1/2) in / out), exactly */
            int64_t k = mode == NPG_INTERP_NEAREST ? i * in / out : (2 * i + 1) * in / (2 * out);
            i0[i] = k < in - 1 ? k : in - 1;
            continue;
        }
        double src;
        if (align) src = out > 1 ? (double)i * (double)(in - 1) / (double)(out - 1) : 0.0;
        else src = ((double)i + 0.5) * (double)in / (double)out - 0.5;
        if (src < 0) src = 0;
        int64_t k = (int64_t)floor(src);
        if (k > in - 1) k = in - 1;
        i0[i] = k;
        i1[i] = k + 1 < in ? k + 1 : in - 1;
        lam[i] = src - (double)k;
    }
    return true;
}

npg_array *npg_interpolate(npg_array *x, int naxes, const int64_t *size, npg_interp_mode mode, bool align_corners) {
    const char *fn = "npg_interpolate";
    if (!x) {
        npg__null_arg(fn);
        return NULL;
    }
    if (naxes < 1 || naxes > 3 || naxes > x->ndim) {
        npg__set_error(NPG_ERR_AXIS, "%s: naxes = %d must be 1, 2 or 3 and at most the input's %d dimensions", fn,
                       naxes, x->ndim);
        return NULL;
    }
    if (!size) {
        npg__null_arg(fn);
        return NULL;
    }
    if (mode != NPG_INTERP_NEAREST && mode != NPG_INTERP_NEAREST_EXACT && mode != NPG_INTERP_LINEAR) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: unknown mode %d", fn, (int)mode);
        return NULL;
    }
    for (int k = 0; k < naxes; k++) {
        const int64_t in = x->shape[x->ndim - naxes + k];
        if (size[k] < 1 || size[k] > INT32_MAX) {
            npg__set_error(NPG_ERR_INVALID_ARG, "%s: size[%d] = %lld must be positive", fn, k, (long long)size[k]);
            return NULL;
        }
        if (in < 1 || in > INT32_MAX) { /* the index arithmetic multiplies i < 2^31 by in */
            npg__set_error(NPG_ERR_SHAPE, "%s: interpolated axis %d has length %lld (1 to 2^31 - 1)", fn,
                           x->ndim - naxes + k, (long long)in);
            return NULL;
        }
    }
    const bool linear = mode == NPG_INTERP_LINEAR;
    npg_scope s = npg_scope_begin();
    npg_array *y = linear ? as_float(x) : x;
    const npg_device dev = npg__device_of(x);
    for (int k = 0; k < naxes && y; k++) {
        const int axis = x->ndim - naxes + k;
        const int64_t in = x->shape[axis], out = size[k];
        if (in == out) continue; /* every mode maps i to i */
        int64_t *i0 = malloc(sizeof(int64_t) * (size_t)out * 2);
        double *lam = malloc(sizeof(double) * (size_t)out);
        if (!i0 || !lam) {
            free(i0);
            free(lam);
            npg__set_error(NPG_ERR_OOM, "%s: out of host memory", fn);
            y = NULL;
            break;
        }
        int64_t *i1 = i0 + out;
        interp_taps(in, out, mode, align_corners, i0, i1, lam);
        npg_array *a0 = npg_from_data(i0, NPG_INT64, NPG_SHAPE(out), NPG_OPTS(.device = dev));
        if (!linear) {
            y = npg_take(y, a0, axis);
        } else {
            /* y0 + lambda (y1 - y0) would round differently from PyTorch's
             * (1 - lambda) y0 + lambda y1, which this is */
            npg_shape ws = {.ndim = x->ndim - axis};
            ws.dims[0] = out;
            for (int d = 1; d < ws.ndim; d++) ws.dims[d] = 1;
            double *w0 = malloc(sizeof(double) * (size_t)out);
            if (!w0) {
                npg__set_error(NPG_ERR_OOM, "%s: out of host memory", fn);
                y = NULL;
            } else {
                for (int64_t i = 0; i < out; i++) w0[i] = 1.0 - lam[i];
                npg_array *a1 = npg_from_data(i1, NPG_INT64, NPG_SHAPE(out), NPG_OPTS(.device = dev));
                npg_array *l0 = npg_from_data(w0, NPG_FLOAT64, ws, NPG_OPTS(.dtype = y->dtype, .device = dev));
                npg_array *l1 = npg_from_data(lam, NPG_FLOAT64, ws, NPG_OPTS(.dtype = y->dtype, .device = dev));
                npg_array *y0 = npg_take(y, a0, axis);
                npg_array *blend = npg_add(npg_multiply(y0, l0), npg_multiply(npg_take(y, a1, axis), l1));
                /* a tap of weight 0 is left out, not multiplied: 0 * inf would
                 * be NaN where the output sits exactly on an infinite input
                 * (PyTorch gives that NaN) */
                npg_array *on = npg_equal_scalar(l1, 0.0);
                y = npg_where(on, y0, blend);
                free(w0);
            }
        }
        free(i0);
        free(lam);
    }
    return npg__finish(fn, s, y ? (y == x ? npg_copy(x) : y) : NULL); /* a new array, as PyTorch's */
}

/* ------------------------------------------------------------------------
 * RMS normalisation
 * ------------------------------------------------------------------------ */

npg_array *npg_rms_norm(npg_array *x, int k, npg_array *weight, double eps) {
    const char *fn = "npg_rms_norm";
    npg_axes axes;
    if (!npg__norm_args(fn, x, k, weight, NULL, &axes)) return NULL;
    NPG_HALF_VIA_F32(fn, x->dtype, npg_rms_norm(npg__as_f32(x), k, weight, eps));
    if (!(eps >= 0)) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: eps must be >= 0 (got %g)", fn, eps);
        return NULL;
    }
    npg_scope s = npg_scope_begin();
    npg_array *xf = as_float(x);
    npg_array *ms = npg_mean(npg_square(xf), axes, true);
    npg_array *y = npg_multiply(xf, npg_reciprocal(npg_sqrt(npg_add_scalar(ms, eps))));
    if (y && weight) y = npg_multiply(y, weight);
    return npg__finish(fn, s, y);
}

/* ------------------------------------------------------------------------
 * Recurrent cells
 * ------------------------------------------------------------------------ */

/* Checks the shapes of a cell with G gates; *hidden receives the hidden size. */
static bool check_cell(const char *fn, int G, npg_array *x, npg_array *h, npg_array *c, npg_array *w_ih,
                       npg_array *w_hh, npg_array *b_ih, npg_array *b_hh, int64_t *hidden) {
    if (npg__any_null(fn, 3, x, w_ih, w_hh)) return false;
    char sa[NPG_SHAPE_BUF], sb[NPG_SHAPE_BUF];
    if (x->ndim < 1 || x->ndim > 2) {
        npg__set_error(NPG_ERR_SHAPE, "%s: the input must be 1-d (in) or 2-d (B, in) (got %d-d)", fn, x->ndim);
        return false;
    }
    if (w_hh->ndim != 2 || w_hh->shape[0] != G * w_hh->shape[1]) {
        npg__set_error(NPG_ERR_SHAPE, "%s: w_hh of shape %s is not (%d * hidden, hidden)", fn,
                       npg__shape_str(sa, sizeof sa, w_hh->ndim, w_hh->shape), G);
        return false;
    }
    const int64_t H = w_hh->shape[1];
    if (w_ih->ndim != 2 || w_ih->shape[0] != G * H || w_ih->shape[1] != x->shape[x->ndim - 1]) {
        npg__set_error(NPG_ERR_SHAPE, "%s: w_ih of shape %s does not match input %s and hidden size %lld (want (%lld, %lld))",
                       fn, npg__shape_str(sa, sizeof sa, w_ih->ndim, w_ih->shape),
                       npg__shape_str(sb, sizeof sb, x->ndim, x->shape), (long long)H, (long long)(G * H),
                       (long long)x->shape[x->ndim - 1]);
        return false;
    }
    npg_array *const bs[2] = {b_ih, b_hh};
    for (int i = 0; i < 2; i++) {
        if (bs[i] && (bs[i]->ndim != 1 || bs[i]->shape[0] != G * H)) {
            npg__set_error(NPG_ERR_SHAPE, "%s: %s of shape %s is not (%lld,)", fn, i ? "b_hh" : "b_ih",
                           npg__shape_str(sa, sizeof sa, bs[i]->ndim, bs[i]->shape), (long long)(G * H));
            return false;
        }
    }
    npg_array *const st[2] = {h, c};
    for (int i = 0; i < 2; i++) {
        npg_array *v = st[i];
        if (!v) continue;
        /* (hidden) or (B, hidden), broadcasting against x's batch */
        bool ok = v->ndim >= 1 && v->ndim <= 2 && v->shape[v->ndim - 1] == H &&
                  (v->ndim == 1 || x->ndim == 1 || v->shape[0] == x->shape[0] || v->shape[0] == 1 || x->shape[0] == 1);
        if (!ok) {
            npg__set_error(NPG_ERR_SHAPE, "%s: %s of shape %s does not match input %s and hidden size %lld", fn,
                           i ? "c" : "h", npg__shape_str(sa, sizeof sa, v->ndim, v->shape),
                           npg__shape_str(sb, sizeof sb, x->ndim, x->shape), (long long)H);
            return false;
        }
    }
    npg_array *ops[7] = {x, w_ih, w_hh};
    int n = 3;
    npg_array *const opt[4] = {h, c, b_ih, b_hh};
    for (int i = 0; i < 4; i++)
        if (opt[i]) ops[n++] = opt[i];
    if (!npg__check_devices(fn, n, ops)) return false;
    *hidden = H;
    return true;
}

/* Gate block g (of width H) of the last axis of a. */
static npg_array *gate(npg_array *a, int64_t g, int64_t H) {
    return NPG_INDEX(a, NPG_ELLIPSIS, NPG_SLICE(g * H, (g + 1) * H, 1));
}

/* W_ih x + b_ih + W_hh h + b_hh, or only the input half when h is NULL. */
static npg_array *cell_gates(npg_array *x, npg_array *h, npg_array *w_ih, npg_array *w_hh, npg_array *b_ih,
                             npg_array *b_hh, npg_array **hh_part) {
    npg_array *gi = npg_linear(x, w_ih, b_ih);
    npg_array *gh = h ? npg_linear(h, w_hh, b_hh) : b_hh;
    if (!gi || (h && !gh)) return NULL;
    if (hh_part) {
        *hh_part = gh;
        return gi;
    }
    return gh ? npg_add(gi, gh) : gi;
}

/* An LSTM's h' from its pre-activation gates (..., 4H) and c (NULL: zeros);
 * *c_out receives c'. Inside the caller's scope. */
static npg_array *lstm_from_gates(npg_array *gates, npg_array *c, int64_t H, npg_array **c_out) {
    npg_array *i = npg_sigmoid(gate(gates, 0, H)), *f = npg_sigmoid(gate(gates, 1, H));
    npg_array *g = npg_tanh(gate(gates, 2, H)), *o = npg_sigmoid(gate(gates, 3, H));
    npg_array *c2 = npg_multiply(i, g);
    if (c) c2 = npg_add(npg_multiply(f, c), c2);
    *c_out = c2;
    return npg_multiply(o, npg_tanh(c2));
}

/* A GRU's h' from the input part gi (..., 3H), the hidden part gh
 * (W_hh h + b_hh, b_hh alone or NULL when h is NULL) and h. */
static npg_array *gru_from_parts(npg_array *gi, npg_array *gh, npg_array *h, int64_t H) {
    npg_array *r = gate(gi, 0, H), *z = gate(gi, 1, H), *n = gate(gi, 2, H);
    if (gh) {
        r = npg_add(r, gate(gh, 0, H));
        z = npg_add(z, gate(gh, 1, H));
    }
    r = npg_sigmoid(r);
    z = npg_sigmoid(z);
    if (gh) n = npg_add(n, npg_multiply(r, gate(gh, 2, H)));
    n = npg_tanh(n);
    /* (1 - z) n + z h */
    npg_array *y = npg_multiply(npg_scalar_subtract(1.0, z), n);
    if (h) y = npg_add(y, npg_multiply(z, h));
    return y;
}

npg_status npg_lstm_cell(npg_array *x, npg_array *h, npg_array *c, npg_array *w_ih, npg_array *w_hh, npg_array *b_ih,
                         npg_array *b_hh, npg_array **h_out, npg_array **c_out) {
    const char *fn = "npg_lstm_cell";
    if (h_out) *h_out = NULL;
    if (c_out) *c_out = NULL;
    if (!h_out || !c_out) {
        npg__null_arg(fn);
        return npg_last_status();
    }
    int64_t H;
    if (!check_cell(fn, 4, x, h, c, w_ih, w_hh, b_ih, b_hh, &H)) return npg_last_status();
    npg_scope s = npg_scope_begin();
    npg_dtype dt = npg_result_type(x->dtype, w_ih->dtype);
    npg_array *xf = npg__cast(x, npg__float_dtype(dt));
    npg_array *gates = xf ? cell_gates(xf, h, w_ih, w_hh, b_ih, b_hh, NULL) : NULL;
    npg_array *c2 = NULL, *h2 = gates ? lstm_from_gates(gates, c, H, &c2) : NULL;
    if (!h2 || !c2) {
        npg_scope_end(s);
        npg__error_context(fn);
        return npg_last_status();
    }
    npg_keep(h2);
    npg_keep(c2);
    npg_scope_end(s);
    *h_out = h2;
    *c_out = c2;
    return NPG_OK;
}

npg_array *npg_gru_cell(npg_array *x, npg_array *h, npg_array *w_ih, npg_array *w_hh, npg_array *b_ih,
                        npg_array *b_hh) {
    const char *fn = "npg_gru_cell";
    int64_t H;
    if (!check_cell(fn, 3, x, h, NULL, w_ih, w_hh, b_ih, b_hh, &H)) return NULL;
    npg_scope s = npg_scope_begin();
    npg_dtype dt = npg_result_type(x->dtype, w_ih->dtype);
    npg_array *xf = npg__cast(x, npg__float_dtype(dt)), *gh = NULL;
    npg_array *gi = xf ? cell_gates(xf, h, w_ih, w_hh, b_ih, b_hh, &gh) : NULL;
    npg_array *y = gi && (gh || !h) ? gru_from_parts(gi, gh, h, H) : NULL;
    return npg__finish(fn, s, y);
}

npg_array *npg_rnn_cell(npg_array *x, npg_array *h, npg_array *w_ih, npg_array *w_hh, npg_array *b_ih,
                        npg_array *b_hh, bool relu) {
    const char *fn = "npg_rnn_cell";
    int64_t H;
    if (!check_cell(fn, 1, x, h, NULL, w_ih, w_hh, b_ih, b_hh, &H)) return NULL;
    npg_scope s = npg_scope_begin();
    npg_dtype dt = npg_result_type(x->dtype, w_ih->dtype);
    npg_array *xf = npg__cast(x, npg__float_dtype(dt));
    npg_array *pre = xf ? cell_gates(xf, h, w_ih, w_hh, b_ih, b_hh, NULL) : NULL;
    npg_array *y = relu ? npg_relu(pre) : npg_tanh(pre);
    return npg__finish(fn, s, y);
}

/* ------------------------------------------------------------------------
 * Recurrent layers over sequences
 * ------------------------------------------------------------------------ */

static int rnn_gates(npg_rnn_mode mode) { return mode == NPG_RNN_LSTM ? 4 : mode == NPG_RNN_GRU ? 3 : 1; }

/* Checks one parameter's shape: (rows, cols), or (rows) when cols < 0. */
static bool check_param(const char *fn, npg_array *p, int k, const char *what, int64_t rows, int64_t cols) {
    bool ok = cols < 0 ? p->ndim == 1 && p->shape[0] == rows : p->ndim == 2 && p->shape[0] == rows && p->shape[1] == cols;
    if (!ok) {
        char sa[NPG_SHAPE_BUF];
        if (cols < 0)
            npg__set_error(NPG_ERR_SHAPE, "%s: params[%d] (%s) has shape %s, want (%lld,)", fn, k, what,
                           npg__shape_str(sa, sizeof sa, p->ndim, p->shape), (long long)rows);
        else
            npg__set_error(NPG_ERR_SHAPE, "%s: params[%d] (%s) has shape %s, want (%lld, %lld)", fn, k, what,
                           npg__shape_str(sa, sizeof sa, p->ndim, p->shape), (long long)rows, (long long)cols);
    }
    return ok;
}

/* Checks a state (h0 or c0): (LD, B, H), or (LD, H) for an unbatched input. */
static bool check_state(const char *fn, const char *what, npg_array *v, bool unbatched, int64_t LD, int64_t B,
                        int64_t H) {
    bool ok = unbatched ? v->ndim == 2 && v->shape[0] == LD && v->shape[1] == H
                        : v->ndim == 3 && v->shape[0] == LD && v->shape[1] == B && v->shape[2] == H;
    if (!ok) {
        char sa[NPG_SHAPE_BUF];
        if (unbatched)
            npg__set_error(NPG_ERR_SHAPE, "%s: %s has shape %s, want (%lld, %lld)", fn, what,
                           npg__shape_str(sa, sizeof sa, v->ndim, v->shape), (long long)LD, (long long)H);
        else
            npg__set_error(NPG_ERR_SHAPE, "%s: %s has shape %s, want (%lld, %lld, %lld)", fn, what,
                           npg__shape_str(sa, sizeof sa, v->ndim, v->shape), (long long)LD, (long long)B,
                           (long long)H);
    }
    return ok;
}

/* The arguments of npg_rnn: *hidden receives H, *per the parameters per
 * layer and direction (4 with biases, 2 without). */
static bool check_rnn(const char *fn, npg_rnn_mode mode, npg_array *x, npg_array *h0, npg_array *c0,
                      npg_array *const *params, int n_params, int L, int D, bool batch_first, int64_t *hidden,
                      int *per) {
    if (mode != NPG_RNN_TANH && mode != NPG_RNN_RELU && mode != NPG_RNN_LSTM && mode != NPG_RNN_GRU) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: unknown mode %d", fn, (int)mode);
        return false;
    }
    if (c0 && mode != NPG_RNN_LSTM) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: c0 is only for NPG_RNN_LSTM", fn);
        return false;
    }
    if (!x) {
        npg__null_arg(fn);
        return false;
    }
    if (x->ndim != 2 && x->ndim != 3) {
        npg__set_error(NPG_ERR_SHAPE, "%s: the input must be 3-d (T, B, in) or 2-d (T, in) (got %d-d)", fn, x->ndim);
        return false;
    }
    const int LD = L * D;
    if (!params) {
        npg__set_error(NPG_ERR_NULL_ARG, "%s: params is NULL", fn);
        return false;
    }
    if (n_params != LD * 4 && n_params != LD * 2) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: %d layers%s take %d parameters (%d without biases), got %d", fn, L,
                       D == 2 ? " in two directions" : "", LD * 4, LD * 2, n_params);
        return false;
    }
    for (int k = 0; k < n_params; k++) {
        if (!params[k]) { /* keep the error of the call that gave the NULL */
            if (npg_last_status() == NPG_OK) npg__set_error(NPG_ERR_NULL_ARG, "%s: params[%d] is NULL", fn, k);
            return false;
        }
    }
    const int P = n_params / LD, G = rnn_gates(mode);
    npg_array *w_hh0 = params[1];
    if (w_hh0->ndim != 2 || w_hh0->shape[0] != G * w_hh0->shape[1]) {
        char sa[NPG_SHAPE_BUF];
        npg__set_error(NPG_ERR_SHAPE, "%s: params[1] (w_hh) of shape %s is not (%d * hidden, hidden)", fn,
                       npg__shape_str(sa, sizeof sa, w_hh0->ndim, w_hh0->shape), G);
        return false;
    }
    const int64_t H = w_hh0->shape[1], in = x->shape[x->ndim - 1];
    static const char *names[4] = {"w_ih", "w_hh", "b_ih", "b_hh"};
    for (int k = 0; k < LD; k++) {
        int64_t cols[4] = {k < D ? in : D * H, H, -1, -1};
        for (int j = 0; j < P; j++)
            if (!check_param(fn, params[k * P + j], k * P + j, names[j], G * H, cols[j])) return false;
    }
    bool unbatched = x->ndim == 2;
    int64_t B = unbatched ? 1 : x->shape[batch_first ? 0 : 1];
    if (x->shape[unbatched || !batch_first ? 0 : 1] > INT32_MAX) {
        npg__set_error(NPG_ERR_SHAPE, "%s: sequences longer than %d steps are not supported", fn, INT32_MAX);
        return false;
    }
    if (h0 && !check_state(fn, "h0", h0, unbatched, LD, B, H)) return false;
    if (c0 && !check_state(fn, "c0", c0, unbatched, LD, B, H)) return false;
    if (h0 && !npg__check_devices(fn, 2, (npg_array *[]){x, h0})) return false;
    if (c0 && !npg__check_devices(fn, 2, (npg_array *[]){x, c0})) return false;
    for (int k = 0; k < n_params; k++)
        if (!npg__check_devices(fn, 2, (npg_array *[]){x, params[k]})) return false;
    *hidden = H;
    *per = P;
    return true;
}

/* One direction of one layer over the sequence in (T, B, in_l): the step
 * outputs stacked (T, B, H); *h_last (and *c_last) the final state. The
 * input projection of every step is one matrix product. */
static npg_array *rnn_direction(npg_rnn_mode mode, npg_array *in, npg_array *const *p, int P, bool reverse,
                                int64_t H, npg_array *h, npg_array *c, npg_array **h_last, npg_array **c_last) {
    npg_array *w_ih = p[0], *w_hh = p[1], *b_ih = P == 4 ? p[2] : NULL, *b_hh = P == 4 ? p[3] : NULL;
    const int64_t T = in->shape[0];
    npg_array *gi_all = npg_linear(in, w_ih, b_ih);
    /* b_hh joins the input part once, except in the GRU, where r gates it */
    if (gi_all && b_hh && mode != NPG_RNN_GRU) gi_all = npg_add(gi_all, b_hh);
    if (!gi_all) return NULL;
    npg_array **steps = T > 0 ? malloc(sizeof *steps * (size_t)T) : NULL;
    if (T > 0 && !steps) {
        npg__set_error(NPG_ERR_OOM, "npg_rnn: out of memory");
        return NULL;
    }
    bool ok = true;
    for (int64_t s = 0; s < T && ok; s++) {
        int64_t t = reverse ? T - 1 - s : s;
        npg_array *gi = NPG_INDEX(gi_all, NPG_I(t));
        if (mode == NPG_RNN_GRU) {
            npg_array *gh = h ? npg_linear(h, w_hh, b_hh) : b_hh;
            h = gi && (gh || !h) ? gru_from_parts(gi, gh, h, H) : NULL;
        } else {
            npg_array *pre = h && gi ? npg_add(gi, npg_linear(h, w_hh, NULL)) : gi;
            if (mode == NPG_RNN_LSTM)
                h = pre ? lstm_from_gates(pre, c, H, &c) : NULL;
            else
                h = mode == NPG_RNN_RELU ? npg_relu(pre) : npg_tanh(pre);
        }
        ok = h && (mode != NPG_RNN_LSTM || c);
        steps[t] = h;
    }
    npg_array *y = NULL;
    if (ok) {
        *h_last = h;
        *c_last = c;
        if (T > 0) {
            y = npg_stack(steps, (int)T, 0);
        } else {
            npg_shape e = {.ndim = 3, .dims = {0, in->shape[1], H}};
            y = npg_zeros(e, NPG_OPTS(.dtype = gi_all->dtype, .device = npg_device_of(in)));
        }
    }
    free(steps);
    return y;
}

npg_status npg_rnn(npg_rnn_mode mode, npg_array *x, npg_array *h0, npg_array *c0, npg_array *const *params,
                   int n_params, const npg_rnn_opts *opts, npg_array **out, npg_array **h_n, npg_array **c_n) {
    const char *fn = "npg_rnn";
    if (out) *out = NULL;
    if (h_n) *h_n = NULL;
    if (c_n) *c_n = NULL;
    if (!out) {
        npg__null_arg(fn);
        return npg_last_status();
    }
    const npg_rnn_opts o = opts ? *opts : (npg_rnn_opts){0};
    if (o.num_layers < 0) {
        return npg__set_error(NPG_ERR_INVALID_ARG, "%s: num_layers must be >= 0 (got %d; 0 means 1)", fn,
                              o.num_layers);
    }
    if (!(o.dropout >= 0 && o.dropout <= 1))
        return npg__set_error(NPG_ERR_INVALID_ARG, "%s: dropout must be in [0, 1] (got %g)", fn, o.dropout);
    if (c_n && mode != NPG_RNN_LSTM)
        return npg__set_error(NPG_ERR_INVALID_ARG, "%s: c_n is only for NPG_RNN_LSTM (pass NULL)", fn);
    const int L = o.num_layers ? o.num_layers : 1, D = o.bidirectional ? 2 : 1;
    if (L > (1 << 20)) return npg__set_error(NPG_ERR_INVALID_ARG, "%s: num_layers %d is too large", fn, L);
    int64_t H;
    int P;
    if (!check_rnn(fn, mode, x, h0, c0, params, n_params, L, D, o.batch_first, &H, &P)) return npg_last_status();
    const bool unbatched = x->ndim == 2;
    npg_scope s = npg_scope_begin();
    npg_array **hn = calloc((size_t)(2 * L * D), sizeof *hn), **cn = hn ? hn + L * D : NULL;
    if (!hn) npg__set_error(NPG_ERR_OOM, "%s: out of memory", fn);
    /* one dtype for every result, whichever parameters a call happens to
     * use (w_hh is unused for one step without h0): x's promoted with all
     * parameters' and the states' */
    npg_dtype dt = x->dtype;
    for (int k = 0; k < n_params; k++) dt = npg_result_type(dt, params[k]->dtype);
    if (h0) dt = npg_result_type(dt, h0->dtype);
    if (c0) dt = npg_result_type(dt, c0->dtype);
    dt = npg__float_dtype(dt);
    npg_array *in = hn ? npg__cast(x, dt) : NULL;
    if (in && unbatched) in = npg_expand_dims(in, 1); /* (T, 1, in) */
    else if (in && o.batch_first) in = npg_permute_dims(in, NPG_AXES(1, 0, 2));
    npg_array *hs = h0 ? npg__cast(h0, dt) : NULL, *cs = c0 ? npg__cast(c0, dt) : NULL;
    if (hs && unbatched) hs = npg_expand_dims(hs, 1);
    if (cs && unbatched) cs = npg_expand_dims(cs, 1);
    bool ok = in && (!h0 || hs) && (!c0 || cs);
    for (int l = 0; l < L && ok; l++) {
        npg_array *dir_out[2] = {NULL, NULL};
        for (int d = 0; d < D && ok; d++) {
            int k = l * D + d;
            npg_array *h = hs ? NPG_INDEX(hs, NPG_I(k)) : NULL, *c = cs ? NPG_INDEX(cs, NPG_I(k)) : NULL;
            ok = (!hs || h) && (!cs || c);
            if (ok) dir_out[d] = rnn_direction(mode, in, params + k * P, P, d == 1, H, h, c, &hn[k], &cn[k]);
            ok = ok && dir_out[d];
            if (ok && !hn[k]) { /* an empty sequence: the state stays */
                npg_shape st = {.ndim = 2, .dims = {in->shape[1], H}};
                hn[k] = npg_zeros(st, NPG_OPTS(.dtype = dir_out[d]->dtype, .device = npg_device_of(in)));
                ok = hn[k] != NULL;
            }
            if (ok && mode == NPG_RNN_LSTM && !cn[k]) {
                npg_shape st = {.ndim = 2, .dims = {in->shape[1], H}};
                cn[k] = npg_zeros(st, NPG_OPTS(.dtype = dir_out[d]->dtype, .device = npg_device_of(in)));
                ok = cn[k] != NULL;
            }
        }
        if (!ok) break;
        in = D == 2 ? npg_concat(dir_out, 2, -1) : dir_out[0];
        if (in && l + 1 < L && o.training && o.dropout > 0) in = npg_dropout(in, o.dropout, true, o.gen);
        ok = in != NULL;
    }
    npg_array *y = ok ? in : NULL, *hN = NULL, *cN = NULL;
    if (y && unbatched) y = npg_squeeze(y, NPG_AXES(1));
    else if (y && o.batch_first) y = npg_permute_dims(y, NPG_AXES(1, 0, 2));
    if (y && h_n) {
        hN = npg_stack(hn, L * D, 0);
        if (hN && unbatched) hN = npg_squeeze(hN, NPG_AXES(1));
        if (!hN) y = NULL;
    }
    if (y && c_n) {
        cN = npg_stack(cn, L * D, 0);
        if (cN && unbatched) cN = npg_squeeze(cN, NPG_AXES(1));
        if (!cN) y = NULL;
    }
    free(hn);
    if (!y) {
        npg_scope_end(s);
        npg__error_context(fn);
        return npg_last_status() ? npg_last_status() : NPG_ERR_INTERNAL;
    }
    npg_keep(y);
    if (hN) npg_keep(hN);
    if (cN) npg_keep(cN);
    npg_scope_end(s);
    *out = y;
    if (h_n) *h_n = hN;
    if (c_n) *c_n = cN;
    return NPG_OK;
}

/* ------------------------------------------------------------------------
 * Activations
 * ------------------------------------------------------------------------ */

/* x > 0 ? x * scale : scale * alpha * (exp(x / beta) - 1) */
static npg_array *elu_like(const char *fn, npg_array *x, double alpha, double beta, double scale) {
    if (!x) {
        npg__null_arg(fn);
        return NULL;
    }
    npg_scope s = npg_scope_begin();
    npg_array *xf = as_float(x);
    /* the negative branch sees 0 where x > 0 (finite for large x); x = 0 takes
     * that branch, so its gradient there is alpha / beta (PyTorch's) */
    npg_array *pos = npg_greater_scalar(xf, 0.0);
    npg_array *neg = npg_expm1(npg_divide_scalar(npg_scalar_where(pos, 0.0, xf), beta));
    npg_array *y = npg_where(pos, xf, npg_multiply_scalar(neg, alpha));
    if (y && scale != 1.0) y = npg_multiply_scalar(y, scale);
    return npg__finish(fn, s, y);
}

npg_array *npg_elu(npg_array *x, double alpha) { return elu_like("npg_elu", x, alpha, 1.0, 1.0); }

npg_array *npg_selu(npg_array *x) {
    return elu_like("npg_selu", x, 1.6732632423543772848170429916717, 1.0, 1.0507009873554804934193349852946);
}

npg_array *npg_celu(npg_array *x, double alpha) {
    if (x && !(alpha != 0 && isfinite(alpha))) {
        npg__set_error(NPG_ERR_INVALID_ARG, "npg_celu: alpha must be finite and nonzero (got %g)", alpha);
        return NULL;
    }
    return elu_like("npg_celu", x, alpha, alpha, 1.0);
}

npg_array *npg_hardtanh(npg_array *x, double lo, double hi) {
    const char *fn = "npg_hardtanh";
    if (!x) {
        npg__null_arg(fn);
        return NULL;
    }
    if (!(lo <= hi)) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: lo (%g) must not exceed hi (%g)", fn, lo, hi);
        return NULL;
    }
    npg_scope s = npg_scope_begin();
    npg_array *xf = as_float(x);
    /* clip's values, with the gradient only strictly inside (PyTorch's) */
    npg_array *inside = npg_logical_and(npg_greater_scalar(xf, lo), npg_less_scalar(xf, hi));
    npg_array *y = npg_where(inside, xf, npg_detach(npg_clip(xf, lo, hi)));
    return npg__finish(fn, s, y);
}

npg_array *npg_hardsigmoid(npg_array *x) {
    const char *fn = "npg_hardsigmoid";
    if (!x) {
        npg__null_arg(fn);
        return NULL;
    }
    npg_scope s = npg_scope_begin();
    return npg__finish(fn, s, npg_divide_scalar(npg_hardtanh(npg_add_scalar(as_float(x), 3.0), 0.0, 6.0), 6.0));
}

npg_array *npg_hardswish(npg_array *x) {
    const char *fn = "npg_hardswish";
    if (!x) {
        npg__null_arg(fn);
        return NULL;
    }
    npg_scope s = npg_scope_begin();
    npg_array *xf = as_float(x);
    /* clip's closed-interval gradient gives PyTorch's at x = -3 and 3 */
    return npg__finish(fn, s, npg_divide_scalar(npg_multiply(xf, npg_clip(npg_add_scalar(xf, 3.0), 0.0, 6.0)), 6.0));
}

npg_array *npg_mish(npg_array *x) {
    const char *fn = "npg_mish";
    if (!x) {
        npg__null_arg(fn);
        return NULL;
    }
    npg_scope s = npg_scope_begin();
    npg_array *xf = as_float(x);
    return npg__finish(fn, s, npg_multiply(xf, npg_tanh(npg_softplus(xf))));
}

npg_array *npg_logsigmoid(npg_array *x) {
    const char *fn = "npg_logsigmoid";
    if (!x) {
        npg__null_arg(fn);
        return NULL;
    }
    npg_scope s = npg_scope_begin();
    return npg__finish(fn, s, npg_negative(npg_softplus(npg_negative(as_float(x)))));
}

npg_array *npg_glu(npg_array *x, int axis) {
    const char *fn = "npg_glu";
    if (!x) {
        npg__null_arg(fn);
        return NULL;
    }
    if (x->ndim == 0) {
        npg__set_error(NPG_ERR_SHAPE, "%s: the input is 0-d", fn);
        return NULL;
    }
    int a;
    if (!npg__norm_axis(fn, axis, x->ndim, &a)) return NULL;
    const int64_t n = x->shape[a];
    if (n % 2) {
        npg__set_error(NPG_ERR_SHAPE, "%s: axis %d has odd length %lld", fn, axis, (long long)n);
        return NULL;
    }
    npg_idx lo[NPG_MAX_DIMS], hi[NPG_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) lo[i] = hi[i] = NPG_ALL;
    lo[a] = NPG_SLICE(0, n / 2, 1);
    hi[a] = NPG_SLICE(n / 2, n, 1);
    npg_scope s = npg_scope_begin();
    npg_array *xf = as_float(x);
    npg_array *y = xf ? npg_multiply(npg_index(xf, lo, x->ndim), npg_sigmoid(npg_index(xf, hi, x->ndim))) : NULL;
    return npg__finish(fn, s, y);
}

/* ------------------------------------------------------------------------
 * one_hot, cosine similarity
 * ------------------------------------------------------------------------ */

npg_array *npg_one_hot(npg_array *labels, int64_t num_classes) {
    const char *fn = "npg_one_hot";
    if (!labels) {
        npg__null_arg(fn);
        return NULL;
    }
    if (!npg_is_integer(labels->dtype)) {
        npg__set_error(NPG_ERR_DTYPE, "%s: labels must be integers (got %s)", fn, npg_dtype_name(labels->dtype));
        return NULL;
    }
    if (labels->ndim >= NPG_MAX_DIMS) {
        npg__set_error(NPG_ERR_SHAPE, "%s: labels have %d dimensions; the result would exceed %d", fn, labels->ndim,
                       NPG_MAX_DIMS);
        return NULL;
    }
    if (num_classes < 1 && num_classes != -1) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: num_classes must be positive or -1 (got %lld)", fn,
                       (long long)num_classes);
        return NULL;
    }
    const bool empty = npg__numel(labels->ndim, labels->shape) == 0;
    if (empty && num_classes == -1) {
        npg__set_error(NPG_ERR_SHAPE, "%s: cannot infer the number of classes from empty labels", fn);
        return NULL;
    }
    npg_scope s = npg_scope_begin();
    npg_array *y = NULL;
    bool ok = true;
    if (!empty) {
        int64_t lo = 0, hi = 0;
        ok = npg__min_max_int(labels, &lo, &hi);
        if (ok && num_classes == -1 && hi == INT64_MAX) { /* max + 1 classes would overflow */
            npg__set_error(NPG_ERR_INDEX, "%s: label %lld is outside [0, %lld)", fn, (long long)hi, (long long)INT64_MAX);
            ok = false;
        }
        if (ok && num_classes == -1) num_classes = hi + 1;
        if (ok && (lo < 0 || hi >= num_classes)) {
            npg__set_error(NPG_ERR_INDEX, "%s: label %lld is outside [0, %lld)", fn, (long long)(lo < 0 ? lo : hi),
                           (long long)num_classes);
            ok = false;
        }
    }
    if (ok) {
        npg_array *cls = npg_arange(0, (double)num_classes, 1, NPG_OPTS(.dtype = NPG_INT64, .device = npg__device_of(labels)));
        y = npg_astype(npg_equal(npg_expand_dims(labels, -1), cls), NPG_INT64);
    }
    return npg__finish(fn, s, y);
}

npg_array *npg_cosine_similarity(npg_array *x1, npg_array *x2, int axis, double eps) {
    const char *fn = "npg_cosine_similarity";
    if (npg__any_null(fn, 2, x1, x2)) return NULL;
    if (!(eps >= 0)) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: eps must be >= 0 (got %g)", fn, eps);
        return NULL;
    }
    npg_array *ops[2] = {x1, x2};
    if (!npg__check_devices(fn, 2, ops)) return NULL;
    const npg_dtype rdt = npg__float_dtype(npg_result_type(x1->dtype, x2->dtype));
    NPG_HALF_VIA_F32(fn, rdt, npg_cosine_similarity(npg__as_f32(x1), npg__as_f32(x2), axis, eps));
    npg_scope s = npg_scope_begin();
    npg_array *b[2] = {NULL, NULL};
    npg_array *y = NULL;
    if (npg_broadcast_arrays(ops, 2, b) == NPG_OK) {
        int a;
        if (b[0]->ndim == 0) {
            npg__set_error(NPG_ERR_SHAPE, "%s: the inputs are 0-d", fn);
        } else if (npg__norm_axis(fn, axis, b[0]->ndim, &a)) {
            npg_dtype dt = npg__float_dtype(npg_result_type(x1->dtype, x2->dtype));
            npg_array *u[2];
            for (int i = 0; i < 2; i++) {
                npg_array *v = npg__cast(b[i], dt);
                /* the norm's gradient at 0 is 0 (vector_norm's subgradient) */
                npg_array *nrm = npg_linalg_vector_norm(v, 2, NPG_AXES(a), true);
                u[i] = npg_divide(v, npg_maximum_scalar(nrm, eps));
            }
            y = npg_sum(npg_multiply(u[0], u[1]), NPG_AXES(a), false);
        }
    }
    return npg__finish(fn, s, y);
}

/* ------------------------------------------------------------------------
 * Losses
 * ------------------------------------------------------------------------ */

/* pred - target in their common floating dtype. */
static npg_array *difference(npg_array *p, npg_array *t) {
    npg_dtype dt = npg__float_dtype(npg_result_type(p->dtype, t->dtype));
    return npg_subtract(npg__cast(p, dt), npg__cast(t, dt));
}

static bool loss_args(const char *fn, npg_array *a, npg_array *b, npg_reduction r) {
    if (npg__any_null(fn, 2, a, b) || !npg__check_reduction(fn, r)) return false;
    npg_array *ops[2] = {a, b};
    return npg__check_devices(fn, 2, ops);
}

npg_array *npg_l1_loss(npg_array *pred, npg_array *target, npg_reduction reduction) {
    const char *fn = "npg_l1_loss";
    if (!loss_args(fn, pred, target, reduction)) return NULL;
    npg_scope s = npg_scope_begin();
    return npg__finish(fn, s, npg__reduce_loss(npg_abs(difference(pred, target)), reduction));
}

/* |d| < t ? 0.5 d^2 * q : k (|d| - 0.5 t): smooth L1 (q = 1/beta, k = 1) or Huber (q = 1, k = delta). */
static npg_array *quad_lin(const char *fn, npg_array *pred, npg_array *target, npg_reduction red, double t, double q, double k) {
    npg_scope s = npg_scope_begin();
    npg_array *d = difference(pred, target), *ad = npg_abs(d);
    npg_array *quad = npg_multiply_scalar(npg_square(d), 0.5 * q);
    npg_array *lin = npg_multiply_scalar(npg_subtract_scalar(ad, 0.5 * t), k);
    return npg__finish(fn, s, npg__reduce_loss(npg_where(npg_less_scalar(ad, t), quad, lin), red));
}

npg_array *npg_smooth_l1_loss(npg_array *pred, npg_array *target, npg_reduction reduction, double beta) {
    const char *fn = "npg_smooth_l1_loss";
    if (!loss_args(fn, pred, target, reduction)) return NULL;
    if (!(beta >= 0 && isfinite(beta))) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: beta must be finite and >= 0 (got %g)", fn, beta);
        return NULL;
    }
    if (beta == 0) {
        npg_scope s = npg_scope_begin();
        return npg__finish(fn, s, npg__reduce_loss(npg_abs(difference(pred, target)), reduction));
    }
    return quad_lin(fn, pred, target, reduction, beta, 1.0 / beta, 1.0);
}

npg_array *npg_huber_loss(npg_array *pred, npg_array *target, npg_reduction reduction, double delta) {
    const char *fn = "npg_huber_loss";
    if (!loss_args(fn, pred, target, reduction)) return NULL;
    if (!(delta > 0 && isfinite(delta))) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: delta must be finite and > 0 (got %g)", fn, delta);
        return NULL;
    }
    return quad_lin(fn, pred, target, reduction, delta, 1.0, delta);
}

npg_array *npg_kl_div(npg_array *input, npg_array *target, npg_reduction reduction, bool log_target) {
    const char *fn = "npg_kl_div";
    if (!loss_args(fn, input, target, reduction)) return NULL;
    npg_scope s = npg_scope_begin();
    npg_dtype dt = npg__float_dtype(npg_result_type(input->dtype, target->dtype));
    npg_array *in = npg__cast(input, dt), *t = npg__cast(target, dt), *l;
    /* a zero target (-inf as a log) contributes 0 and a zero gradient, even
     * against an input of -inf (log_softmax of a masked class), where
     * PyTorch gives NaN; the branch not taken is kept finite */
    if (log_target) {
        npg_array *zero = npg_equal_scalar(t, -INFINITY);
        npg_array *st = npg_scalar_where(zero, 0.0, t);
        l = npg_scalar_where(zero, 0.0, npg_multiply(npg_exp(st), npg_subtract(st, in)));
    } else {
        /* xlogy(t, t) - t input, with log 1 where t is 0; a negative t gives NaN */
        npg_array *zero = npg_equal_scalar(t, 0.0);
        npg_array *safe = npg_scalar_where(zero, 1.0, t);
        l = npg_scalar_where(zero, 0.0, npg_multiply(t, npg_subtract(npg_log(safe), in)));
    }
    return npg__finish(fn, s, npg__reduce_loss(l, reduction));
}

/* max(log q, -100), with the value -100 and a zero gradient where q is 0. */
static npg_array *clamped_log(npg_array *q) {
    npg_array *zero = npg_equal_scalar(q, 0.0);
    npg_array *lg = npg_maximum_scalar(npg_log(npg_scalar_where(zero, 1.0, q)), -100.0);
    return npg_scalar_where(zero, -100.0, lg);
}

npg_array *npg_binary_cross_entropy(npg_array *probs, npg_array *targets, npg_reduction reduction) {
    const char *fn = "npg_binary_cross_entropy";
    if (!loss_args(fn, probs, targets, reduction)) return NULL;
    npg_scope s = npg_scope_begin();
    npg_dtype dt = npg__float_dtype(npg_result_type(probs->dtype, targets->dtype));
    npg_array *p = npg__cast(probs, dt), *t = npg__cast(targets, dt);
    npg_array *a = npg_multiply(t, clamped_log(p));
    npg_array *b = npg_multiply(npg_scalar_subtract(1.0, t), clamped_log(npg_scalar_subtract(1.0, p)));
    return npg__finish(fn, s, npg__reduce_loss(npg_negative(npg_add(a, b)), reduction));
}
