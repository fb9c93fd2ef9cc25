/*
 * nn_pool.c — 1-d max / average pooling, adaptive max pooling and the 1-d
 * adaptive pools, unfold / fold and pixel (un)shuffle (npg/nn.h).
 *
 * The 1-d pools run the 2-d kernels on x as (N, C, 1, L) with a geometry
 * built here, because npg_pool2d_opts has no dilation or ceil_mode: max
 * pooling is the backends' fused pool2d kernel, average pooling im2col plus
 * a sum and a divide (as npg_avg_pool2d). unfold and fold are the im2col and
 * col2im kernels themselves. Each records the op nn.c records (MAX_POOL2D,
 * IM2COL, COL2IM, with the geometry as the node's extra), so nn.c's
 * gradient rules apply unchanged. The adaptive max pools gather each
 * window's taps, as the adaptive average pools of nn_layers.c do, and take
 * the first maximum (argmax, then take_along_axis), so nothing is computed
 * from the values: NaN wins its window and infinities stay in theirs.
 * pixel_shuffle and pixel_unshuffle are a reshape and a permute.
 *
 * Left out: the indices PyTorch's max pools can return (return_indices), and
 * the 3-d pools.
 */
#include "internal.h"

#include <math.h>

/* Extents and products kept below this, so that no size computed here (or
 * by the kernels, which index in int64) can overflow. */
#define SIZE_LIMIT ((uint64_t)INT64_MAX / 8)

/* false (and an NPG_ERR_OOM error naming fn) when the product of the n
 * factors (each >= 0) exceeds SIZE_LIMIT. */
static bool size_ok(const char *fn, const char *what, int n, const int64_t *f) {
    uint64_t p = 1;
    for (int i = 0; i < n; i++) {
        const uint64_t d = f[i] > 1 ? (uint64_t)f[i] : 1;
        if (p > SIZE_LIMIT / d) {
            npg__set_error(NPG_ERR_OOM, "%s: %s is too large", fn, what);
            return false;
        }
        p *= d;
    }
    return true;
}

/* floor((in + 2 pad - dil (k - 1) - 1 [+ stride - 1 with ceil]) / stride) + 1,
 * less one when ceil_mode would start the last window past the left padding
 * and the input (PyTorch's pooling_output_shape). All arguments are
 * positive (pad >= 0) and below SIZE_LIMIT, so nothing overflows. */
static int64_t out_len(int64_t in, int64_t k, int64_t stride, int64_t pad, int64_t dil, bool ceil_mode) {
    int64_t num = in + 2 * pad - dil * (k - 1) - 1 + (ceil_mode ? stride - 1 : 0);
    int64_t o = (num >= 0 ? num / stride : -((-num + stride - 1) / stride)) + 1;
    if (ceil_mode && o > 0 && (o - 1) * stride >= in + pad) o--;
    return o;
}

/* ------------------------------------------------------------------------
 * 1-d max and average pooling
 * ------------------------------------------------------------------------ */

/* The geometry of a 1-d pool over x (N, C, L) or (C, L) as (N, C, 1, L). */
static bool pool1d_geom(const char *fn, npg_array *x, const npg_pool1d_opts *o, bool is_max, npg_conv_geom *g) {
    if (!x || !o) {
        npg__null_arg(fn);
        return false;
    }
    if (x->ndim != 2 && x->ndim != 3) {
        npg__set_error(NPG_ERR_SHAPE, "%s: input must be 3-d (N, C, L) or 2-d (C, L) (got %d-d)", fn, x->ndim);
        return false;
    }
    if (o->kernel < 1) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: kernel size must be positive (got %d)", fn, o->kernel);
        return false;
    }
    if (o->stride < 0) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: stride must be positive (got %d)", fn, o->stride);
        return false;
    }
    if (o->padding < 0) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: padding must not be negative (got %d)", fn, o->padding);
        return false;
    }
    if (o->dilation < 0) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: dilation must be positive (got %d)", fn, o->dilation);
        return false;
    }
    if (!is_max && o->dilation > 1) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: average pooling has no dilation (got %d)", fn, o->dilation);
        return false;
    }
    if ((int64_t)o->padding * 2 > o->kernel) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: padding %d must be at most half the kernel size %d", fn, o->padding,
                       o->kernel);
        return false;
    }
    const bool batched = x->ndim == 3;
    const int64_t N = batched ? x->shape[0] : 1, C = x->shape[x->ndim - 2], L = x->shape[x->ndim - 1];
    if (C < 1 || L < 1) {
        char sb[NPG_SHAPE_BUF];
        npg__set_error(NPG_ERR_SHAPE, "%s: input %s must have non-empty channel and length axes", fn,
                       npg__shape_str(sb, sizeof sb, x->ndim, x->shape));
        return false;
    }
    if (!size_ok(fn, "the input", 1, &L)) return false;
    memset(g, 0, sizeof *g);
    g->N = N;
    g->C = C;
    g->H = 1;
    g->W = L;
    g->KH = 1;
    g->KW = o->kernel;
    g->stride_h = 1;
    g->stride_w = o->stride ? o->stride : o->kernel;
    g->pad_w = o->padding;
    g->dil_h = 1;
    g->dil_w = o->dilation ? o->dilation : 1;
    g->count_include_pad = o->count_include_pad;
    g->OH = 1;
    g->OW = out_len(L, g->KW, g->stride_w, g->pad_w, g->dil_w, o->ceil_mode);
    if (g->OW < 1) {
        npg__set_error(NPG_ERR_SHAPE,
                       "%s: an input of length %lld with kernel %d, padding %d and dilation %lld gives an output of "
                       "length %lld (must be at least 1)",
                       fn, (long long)L, o->kernel, o->padding, (long long)g->dil_w, (long long)g->OW);
        return false;
    }
    const int64_t f[4] = {N, C, g->KW, g->OW};
    return size_ok(fn, "the output", 4, f);
}

/* The pooled (N, C, 1, OW) as x's layout: (N, C, OW), or (C, OW) unbatched. */
static npg_array *pool1d_result(npg_array *x, npg_array *y, const npg_conv_geom *g) {
    if (!y) return NULL;
    return x->ndim == 3 ? npg_reshape(y, NPG_SHAPE(g->N, g->C, g->OW)) : npg_reshape(y, NPG_SHAPE(g->C, g->OW));
}

npg_array *npg_max_pool1d(npg_array *x, const npg_pool1d_opts *opts) {
    const char *fn = "npg_max_pool1d";
    npg_conv_geom g;
    if (!pool1d_geom(fn, x, opts, true, &g)) return NULL;
    if (x->dtype == NPG_BOOL) {
        npg__set_error(NPG_ERR_DTYPE, "%s: dtype bool is not supported", fn);
        return NULL;
    }
    const npg_backend *be = npg__backend_of(x);
    if (!be->pool2d) {
        npg__set_error(NPG_ERR_UNSUPPORTED, "%s: not implemented on %s", fn, be->name);
        return NULL;
    }
    /* a window whose dilated taps all fall in the padding (a short input)
     * gives the dtype's lowest value (-inf), PyTorch's, from the kernels of
     * both devices, and no gradient */
    npg_scope s = npg_scope_begin();
    npg_array *x4 = npg_reshape(x, NPG_SHAPE(g.N, g.C, 1, g.W));
    npg_array *y = x4 ? npg__max_pool_run(fn, x4, &g) : NULL;
    return npg__finish(fn, s, pool1d_result(x, y, &g));
}

npg_array *npg_avg_pool1d(npg_array *x, const npg_pool1d_opts *opts) {
    const char *fn = "npg_avg_pool1d";
    npg_conv_geom g;
    if (!pool1d_geom(fn, x, opts, false, &g)) return NULL;
    if (!opts->ceil_mode) {
        /* every window ends inside the padded input, so the fused kernel's
         * divisor (the kernel size, or the taps inside x) is PyTorch's */
        npg_scope s = npg_scope_begin();
        npg_array *xf = npg__cast(x, npg__float_dtype(x->dtype));
        npg_array *x4 = xf ? npg_reshape(xf, NPG_SHAPE(g.N, g.C, 1, g.W)) : NULL;
        npg_array *y = x4 ? npg_avg_pool2d(x4, NPG_POOL2D_OPTS(.kernel = {1, (int)g.KW}, .stride = {1, (int)g.stride_w},
                                                               .padding = {0, (int)g.pad_w},
                                                               .count_include_pad = g.count_include_pad))
                          : NULL;
        return npg__finish(fn, s, pool1d_result(x, y, &g));
    }
    /* ceil_mode: a last window may run past the right padding; its divisor
     * is its length inside the padded input (count_include_pad, PyTorch's
     * rule) or inside x, which the kernel does not know: im2col, sum, divide */
    double *div = malloc(sizeof(double) * (size_t)g.OW);
    if (!div) {
        npg__set_error(NPG_ERR_OOM, "%s: out of host memory", fn);
        return NULL;
    }
    for (int64_t o = 0; o < g.OW; o++) {
        int64_t a = o * g.stride_w - g.pad_w, b = a + g.KW;
        if (g.count_include_pad) {
            if (b > g.W + g.pad_w) b = g.W + g.pad_w;
        } else {
            if (a < 0) a = 0;
            if (b > g.W) b = g.W;
        }
        div[o] = (double)(b - a); /* >= 1: a window starts before the input's end and ends after its start */
    }
    npg_scope s = npg_scope_begin();
    const npg_dtype dt = npg__float_dtype(x->dtype);
    npg_array *xf = npg__cast(x, dt);
    npg_array *cols = xf ? npg__im2col(npg_reshape(xf, NPG_SHAPE(g.N, g.C, 1, g.W)), &g) : NULL; /* (N, C*K, OW) */
    npg_array *sums = cols ? npg_sum(npg_reshape(cols, NPG_SHAPE(g.N, g.C, g.KW, g.OW)), NPG_AXES(2), false) : NULL;
    const npg_device dev = npg__device_of(x);
    npg_array *d = sums ? npg_from_data(div, NPG_FLOAT64, NPG_SHAPE(g.OW), NPG_OPTS(.dtype = dt, .device = dev)) : NULL;
    free(div);
    npg_array *y = d ? npg_divide(sums, d) : NULL; /* (N, C, OW) */
    if (y && x->ndim == 2) y = npg_reshape(y, NPG_SHAPE(g.C, g.OW));
    return npg__finish(fn, s, y);
}

/* ------------------------------------------------------------------------
 * Adaptive pooling
 * ------------------------------------------------------------------------ */

/* x not NULL, at least naxes (1 or 2) axes, the last naxes non-empty and
 * each output size in [1, INT32_MAX]; bool refused for the max pools. */
static bool adaptive_args(const char *fn, npg_array *x, int naxes, const int64_t *out, bool is_max) {
    if (!x) {
        npg__null_arg(fn);
        return false;
    }
    if (x->ndim < naxes) {
        npg__set_error(NPG_ERR_SHAPE, "%s: the input has %d dimensions (%s: at least %d)", fn, x->ndim,
                       naxes == 2 ? "..., H, W" : "..., L", naxes);
        return false;
    }
    for (int i = 0; i < naxes; i++) {
        if (out[i] < 1 || out[i] > INT32_MAX) {
            npg__set_error(NPG_ERR_INVALID_ARG, "%s: the output size %lld must be positive and at most %d", fn,
                           (long long)out[i], INT32_MAX);
            return false;
        }
        const int64_t in = x->shape[x->ndim - naxes + i];
        if (in < 1 || in > INT32_MAX) {
            char sb[NPG_SHAPE_BUF];
            npg__set_error(in < 1 ? NPG_ERR_SHAPE : NPG_ERR_INVALID_ARG,
                           "%s: the pooled axes of input %s must be non-empty and at most %d long", fn,
                           npg__shape_str(sb, sizeof sb, x->ndim, x->shape), INT32_MAX);
            return false;
        }
    }
    if (is_max && x->dtype == NPG_BOOL) {
        npg__set_error(NPG_ERR_DTYPE, "%s: dtype bool is not supported", fn);
        return false;
    }
    return true;
}

npg_array *npg_adaptive_max_pool2d(npg_array *x, int64_t oh, int64_t ow) {
    const char *fn = "npg_adaptive_max_pool2d";
    const int64_t out[2] = {oh, ow};
    if (!adaptive_args(fn, x, 2, out, true)) return NULL;
    const int64_t H = x->shape[x->ndim - 2], W = x->shape[x->ndim - 1];
    npg_scope s = npg_scope_begin();
    npg_array *y = x;
    /* along W first, then H: the first row holding the window's maximum, and
     * its first column there, is the first maximum in row-major order */
    if (ow != W) y = npg__adaptive_pool_axis(fn, y, x->ndim - 1, W, ow, true);
    if (y && oh != H) y = npg__adaptive_pool_axis(fn, y, x->ndim - 2, H, oh, true);
    if (y == x) y = npg_copy(x); /* a new array, as PyTorch's */
    return npg__finish(fn, s, y);
}

npg_array *npg_adaptive_max_pool1d(npg_array *x, int64_t out) {
    const char *fn = "npg_adaptive_max_pool1d";
    if (!adaptive_args(fn, x, 1, &out, true)) return NULL;
    npg_scope s = npg_scope_begin();
    const int64_t L = x->shape[x->ndim - 1];
    npg_array *y = out != L ? npg__adaptive_pool_axis(fn, x, x->ndim - 1, L, out, true) : npg_copy(x);
    return npg__finish(fn, s, y);
}

npg_array *npg_adaptive_avg_pool1d(npg_array *x, int64_t out) {
    const char *fn = "npg_adaptive_avg_pool1d";
    if (!adaptive_args(fn, x, 1, &out, false)) return NULL;
    npg_scope s = npg_scope_begin();
    /* (..., L) as (prefix, 1, L) for the 2-d form (which keeps a length-1
     * axis as it is), whatever x's number of axes */
    const int64_t L = x->shape[x->ndim - 1], pre = npg__numel(x->ndim - 1, x->shape);
    npg_array *y = npg_adaptive_avg_pool2d(npg_reshape(x, NPG_SHAPE(pre, 1, L)), 1, out);
    if (y) {
        npg_shape ys = npg_shape_of(x);
        ys.dims[ys.ndim - 1] = out;
        y = npg_reshape(y, ys);
    }
    return npg__finish(fn, s, y);
}

/* ------------------------------------------------------------------------
 * unfold / fold
 * ------------------------------------------------------------------------ */

/* kernel, dilation and stride in [1, INT32_MAX], padding in [0, INT32_MAX]. */
static bool check_hw(const char *fn, npg_hw k, npg_hw d, npg_hw p, npg_hw s) {
    const struct {
        const char *name;
        npg_hw v;
        int64_t lo;
    } a[4] = {{"kernel size", k, 1}, {"dilation", d, 1}, {"padding", p, 0}, {"stride", s, 1}};
    for (int i = 0; i < 4; i++) {
        if (a[i].v.h < a[i].lo || a[i].v.w < a[i].lo || a[i].v.h > INT32_MAX || a[i].v.w > INT32_MAX) {
            npg__set_error(NPG_ERR_INVALID_ARG, "%s: %s (%lld, %lld) must be %s and at most %d", fn, a[i].name,
                           (long long)a[i].v.h, (long long)a[i].v.w, a[i].lo ? "positive" : "non-negative",
                           INT32_MAX);
            return false;
        }
    }
    return true;
}

/* The blocks of an H x W image; false (an NPG_ERR_SHAPE error) when either
 * count is below 1. */
static bool blocks(const char *fn, int64_t H, int64_t W, npg_hw k, npg_hw d, npg_hw p, npg_hw s, npg_conv_geom *g) {
    memset(g, 0, sizeof *g);
    g->H = H;
    g->W = W;
    g->KH = k.h;
    g->KW = k.w;
    g->stride_h = s.h;
    g->stride_w = s.w;
    g->pad_h = p.h;
    g->pad_w = p.w;
    g->dil_h = d.h;
    g->dil_w = d.w;
    g->OH = out_len(H, k.h, s.h, p.h, d.h, false);
    g->OW = out_len(W, k.w, s.w, p.w, d.w, false);
    if (g->OH < 1 || g->OW < 1) {
        npg__set_error(NPG_ERR_SHAPE,
                       "%s: a %lld x %lld image with kernel (%lld, %lld), dilation (%lld, %lld) and padding "
                       "(%lld, %lld) has %lld x %lld blocks (each must be at least 1)",
                       fn, (long long)H, (long long)W, (long long)k.h, (long long)k.w, (long long)d.h, (long long)d.w,
                       (long long)p.h, (long long)p.w, (long long)g->OH, (long long)g->OW);
        return false;
    }
    return true;
}

npg_array *npg_unfold(npg_array *x, npg_hw kernel, npg_hw dilation, npg_hw padding, npg_hw stride) {
    const char *fn = "npg_unfold";
    if (!x) {
        npg__null_arg(fn);
        return NULL;
    }
    if (x->ndim != 3 && x->ndim != 4) {
        npg__set_error(NPG_ERR_SHAPE, "%s: input must be 4-d (N, C, H, W) or 3-d (C, H, W) (got %d-d)", fn, x->ndim);
        return NULL;
    }
    if (!check_hw(fn, kernel, dilation, padding, stride)) return NULL;
    if (x->dtype == NPG_BOOL) {
        npg__set_error(NPG_ERR_DTYPE, "%s: dtype bool is not supported", fn);
        return NULL;
    }
    const bool batched = x->ndim == 4;
    const int64_t N = batched ? x->shape[0] : 1, C = x->shape[x->ndim - 3], H = x->shape[x->ndim - 2],
                  W = x->shape[x->ndim - 1];
    if (C < 1 || H < 1 || W < 1) {
        char sb[NPG_SHAPE_BUF];
        npg__set_error(NPG_ERR_SHAPE, "%s: input %s must have non-empty channel and image axes", fn,
                       npg__shape_str(sb, sizeof sb, x->ndim, x->shape));
        return NULL;
    }
    const int64_t ext[2] = {H, W};
    if (!size_ok(fn, "the input", 1, &ext[0]) || !size_ok(fn, "the input", 1, &ext[1])) return NULL;
    npg_conv_geom g;
    if (!blocks(fn, H, W, kernel, dilation, padding, stride, &g)) return NULL;
    g.N = N;
    g.C = C;
    const int64_t f[6] = {N, C, g.KH, g.KW, g.OH, g.OW};
    if (!size_ok(fn, "the unfolded input", 6, f)) return NULL;
    npg_scope s = npg_scope_begin();
    npg_array *cols = npg__im2col(batched ? x : npg_reshape(x, NPG_SHAPE(1, C, H, W)), &g); /* (N, C*KK, L) */
    if (cols && !batched) cols = npg_reshape(cols, NPG_SHAPE(cols->shape[1], cols->shape[2]));
    return npg__finish(fn, s, cols);
}

npg_array *npg_fold(npg_array *x, npg_hw output_size, npg_hw kernel, npg_hw dilation, npg_hw padding,
                    npg_hw stride) {
    const char *fn = "npg_fold";
    if (!x) {
        npg__null_arg(fn);
        return NULL;
    }
    if (x->ndim != 2 && x->ndim != 3) {
        npg__set_error(NPG_ERR_SHAPE, "%s: input must be 3-d (N, C*kh*kw, L) or 2-d (C*kh*kw, L) (got %d-d)", fn,
                       x->ndim);
        return NULL;
    }
    if (output_size.h < 1 || output_size.w < 1 || output_size.h > INT32_MAX || output_size.w > INT32_MAX) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: output_size (%lld, %lld) must be positive and at most %d", fn,
                       (long long)output_size.h, (long long)output_size.w, INT32_MAX);
        return NULL;
    }
    if (!check_hw(fn, kernel, dilation, padding, stride)) return NULL;
    if (x->dtype == NPG_BOOL) {
        npg__set_error(NPG_ERR_DTYPE, "%s: dtype bool is not supported", fn);
        return NULL;
    }
    const bool batched = x->ndim == 3;
    const int64_t N = batched ? x->shape[0] : 1, CKK = x->shape[x->ndim - 2], L = x->shape[x->ndim - 1];
    const int64_t KK = kernel.h * kernel.w; /* each at most INT32_MAX: no overflow */
    char sb[NPG_SHAPE_BUF];
    if (CKK < 1 || L < 1) {
        npg__set_error(NPG_ERR_SHAPE, "%s: input %s must have non-empty channel and block axes", fn,
                       npg__shape_str(sb, sizeof sb, x->ndim, x->shape));
        return NULL;
    }
    if (CKK % KK) {
        npg__set_error(NPG_ERR_SHAPE,
                       "%s: input %s: its axis %d (%lld) is not a multiple of the kernel size %lld x %lld", fn,
                       npg__shape_str(sb, sizeof sb, x->ndim, x->shape), x->ndim - 2, (long long)CKK,
                       (long long)kernel.h, (long long)kernel.w);
        return NULL;
    }
    npg_conv_geom g;
    if (!blocks(fn, output_size.h, output_size.w, kernel, dilation, padding, stride, &g)) return NULL;
    if (L % g.OW || L / g.OW != g.OH) { /* (OH * OW itself could overflow) */
        npg__set_error(NPG_ERR_SHAPE,
                       "%s: input %s has %lld blocks, but output_size (%lld, %lld) with kernel (%lld, %lld), "
                       "dilation (%lld, %lld), padding (%lld, %lld) and stride (%lld, %lld) gives %lld x %lld",
                       fn, npg__shape_str(sb, sizeof sb, x->ndim, x->shape), (long long)L, (long long)output_size.h,
                       (long long)output_size.w, (long long)kernel.h, (long long)kernel.w, (long long)dilation.h,
                       (long long)dilation.w, (long long)padding.h, (long long)padding.w, (long long)stride.h,
                       (long long)stride.w, (long long)g.OH, (long long)g.OW);
        return NULL;
    }
    g.N = N;
    g.C = CKK / KK;
    const int64_t f[4] = {N, g.C, g.H, g.W};
    if (!size_ok(fn, "the output", 4, f)) return NULL;
    npg_scope s = npg_scope_begin();
    npg_array *y = npg__col2im(batched ? x : npg_reshape(x, NPG_SHAPE(1, CKK, L)), &g); /* (N, C, H, W) */
    if (y && !batched) y = npg_reshape(y, NPG_SHAPE(g.C, g.H, g.W));
    return npg__finish(fn, s, y);
}

/* ------------------------------------------------------------------------
 * pixel_shuffle / pixel_unshuffle
 * ------------------------------------------------------------------------ */

/* x's leading axes as one: the batch B of (..., C, H, W). */
static int64_t lead(const npg_array *x) { return npg__numel(x->ndim - 3, x->shape); }

/* y as a new array: a copy when the reshapes left it a view of x. */
static npg_array *own(npg_array *x, npg_array *y) { return y && y->storage == x->storage ? npg_copy(y) : y; }

static bool shuffle_args(const char *fn, npg_array *x, int64_t r) {
    if (!x) {
        npg__null_arg(fn);
        return false;
    }
    if (x->ndim < 3) {
        npg__set_error(NPG_ERR_SHAPE, "%s: input must have at least 3 dimensions (..., C, H, W) (got %d-d)", fn,
                       x->ndim);
        return false;
    }
    if (r < 1 || r > INT32_MAX) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: the factor %lld must be positive and at most %d", fn, (long long)r,
                       INT32_MAX);
        return false;
    }
    return true;
}

npg_array *npg_pixel_shuffle(npg_array *x, int64_t r) {
    const char *fn = "npg_pixel_shuffle";
    if (!shuffle_args(fn, x, r)) return NULL;
    const int n = x->ndim;
    const int64_t C = x->shape[n - 3], H = x->shape[n - 2], W = x->shape[n - 1];
    if (C % (r * r)) {
        char sb[NPG_SHAPE_BUF];
        npg__set_error(NPG_ERR_SHAPE, "%s: input %s: its channel axis (%lld) is not a multiple of r*r = %lld", fn,
                       npg__shape_str(sb, sizeof sb, n, x->shape), (long long)C, (long long)(r * r));
        return NULL;
    }
    if (H > INT64_MAX / r || W > INT64_MAX / r) { /* only when C = 0 */
        npg__set_error(NPG_ERR_OOM, "%s: the output is too large", fn);
        return NULL;
    }
    npg_scope s = npg_scope_begin();
    const int64_t B = lead(x), Co = C / (r * r);
    /* (B, Co, r, r, H, W) -> (B, Co, H, r, W, r) */
    npg_array *t = npg_reshape(x, NPG_SHAPE(B, Co, r, r, H, W));
    t = npg_permute_dims(t, NPG_AXES(0, 1, 4, 2, 5, 3));
    npg_shape ys = npg_shape_of(x);
    ys.dims[n - 3] = Co;
    ys.dims[n - 2] = H * r;
    ys.dims[n - 1] = W * r;
    npg_array *y = own(x, npg_reshape(t, ys));
    return npg__finish(fn, s, y);
}

npg_array *npg_pixel_unshuffle(npg_array *x, int64_t r) {
    const char *fn = "npg_pixel_unshuffle";
    if (!shuffle_args(fn, x, r)) return NULL;
    const int n = x->ndim;
    const int64_t C = x->shape[n - 3], H = x->shape[n - 2], W = x->shape[n - 1];
    if (H % r || W % r) {
        char sb[NPG_SHAPE_BUF];
        npg__set_error(NPG_ERR_SHAPE, "%s: input %s: its height and width must be multiples of r = %lld", fn,
                       npg__shape_str(sb, sizeof sb, n, x->shape), (long long)r);
        return NULL;
    }
    /* r <= H and r <= W unless H or W is 0; C r^2 then stays within C H W or is 0 */
    if (r > 1 && C > INT64_MAX / r / r) {
        npg__set_error(NPG_ERR_OOM, "%s: the output is too large", fn);
        return NULL;
    }
    npg_scope s = npg_scope_begin();
    const int64_t B = lead(x), Ho = H / r, Wo = W / r;
    /* (B, C, Ho, r, Wo, r) -> (B, C, r, r, Ho, Wo) */
    npg_array *t = npg_reshape(x, NPG_SHAPE(B, C, Ho, r, Wo, r));
    t = npg_permute_dims(t, NPG_AXES(0, 1, 3, 5, 2, 4));
    npg_shape ys = npg_shape_of(x);
    ys.dims[n - 3] = C * r * r;
    ys.dims[n - 2] = Ho;
    ys.dims[n - 1] = Wo;
    npg_array *y = own(x, npg_reshape(t, ys));
    return npg__finish(fn, s, y);
}
