/*
 * conv.cu — the CUDA backend's convolution and pooling kernels: im2col and
 * its adjoint col2im, 2-d max / average pooling and their backward.
 *
 * Geometry (npg_conv_geom, backend.h): x (N, C, H, W); a window at output
 * (oh, ow) has its taps at ih = oh*stride_h - pad_h + kh*dil_h and
 * iw = ow*stride_w - pad_w + kw*dil_w; taps outside the image read 0 (im2col)
 * or are skipped (pooling).
 *
 * Every kernel is a grid-stride loop with one thread per element of the array
 * it WRITES: im2col per column entry (writes coalesced along the column
 * index), pooling per output, and the adjoints (col2im, pooling backward) per
 * input pixel, summing the entries that read that pixel in a fixed order, so
 * no atomics and results are deterministic and bitwise equal to the CPU
 * backend's (which adds them in the same order: col2im by tap (kh, kw), the
 * pooling adjoints by output index).
 *
 * Index arithmetic is 32-bit when every count and coordinate fits (I =
 * uint32_t, S = int32_t), else 64-bit. The per-element work is a
 * __host__ __device__ function (npg_cu_cv_*), so it can be checked on the host.
 *
 * Dtypes as the CPU backend: im2col, col2im and max pooling for the integers,
 * float32, float64 (col2im's integer sums wrap), im2col also for float16 /
 * bfloat16 (their bits moved); average pooling and both backward passes for
 * float32 and float64. im2col and col2im run an integer dtype as the
 * unsigned type of its width (moves and wrapping sums: the same bits).
 */
#include "common.cuh"

#include <math.h>

#include <limits>
#include <type_traits>

#define NPG_CU_HD static __host__ __device__ __forceinline__

/* a + b, wrapping for integers */
template <class T> NPG_CU_HD T npg_cu_cv_add(T a, T b) {
    if constexpr (std::is_floating_point<T>::value) return a + b;
    else return (T)((std::make_unsigned_t<T>)a + (std::make_unsigned_t<T>)b);
}

template <class T> NPG_CU_HD bool npg_cu_cv_isnan(T v) {
    if constexpr (std::is_floating_point<T>::value) return v != v;
    else return false;
}

/* The taps [lo, hi) of k taps starting at i0 with step s that lie in [0, n)
 * (the CPU backend's in_range). */
template <class S> NPG_CU_HD void npg_cu_cv_taps(S i0, S s, S k, S n, S *lo, S *hi) {
    S a = i0 >= 0 ? 0 : (-i0 + s - 1) / s;
    S b = n - 1 - i0 < 0 ? 0 : (n - 1 - i0) / s + 1;
    *lo = a < k ? a : k;
    *hi = b < k ? b : k;
    if (*hi < *lo) *hi = *lo;
}

/* ---- per-element work (host and device) ----------------------------------------------------- */

/* cols[i] for i in (N, C*KH*KW, OH*OW) (row (c*KH + kh)*KW + kw, column
 * oh*OW + ow) from x (N, C, H, W); 0 outside the image. */
template <class T, class I, class S>
NPG_CU_HD void npg_cu_cv_im2col_elem(T *cols, const T *x, const npg_conv_geom &g, I i) {
    const I L = (I)(g.OH * g.OW), KK = (I)(g.KH * g.KW);
    const I l = i % L, q = i / L; /* q = plane*KK + k, plane = n*C + c */
    const I k = q % KK, plane = q / KK;
    const I ow = l % (I)g.OW, oh = l / (I)g.OW;
    const I kw = k % (I)g.KW, kh = k / (I)g.KW;
    const S ih = (S)oh * (S)g.stride_h - (S)g.pad_h + (S)kh * (S)g.dil_h;
    const S iw = (S)ow * (S)g.stride_w - (S)g.pad_w + (S)kw * (S)g.dil_w;
    T v = T(0);
    if (ih >= 0 && ih < (S)g.H && iw >= 0 && iw < (S)g.W) v = x[((int64_t)plane * g.H + ih) * g.W + iw];
    cols[i] = v;
}

/* x[i] (i in (N, C, H, W)) += the entries of cols (N, C*KH*KW, OH*OW) that
 * read pixel i, by tap (kh, kw) ascending. */
template <class T, class I, class S>
NPG_CU_HD void npg_cu_cv_col2im_elem(T *x, const T *cols, const npg_conv_geom &g, I i) {
    const I w = i % (I)g.W, q = i / (I)g.W;
    const I h = q % (I)g.H, plane = q / (I)g.H;
    const S KH = (S)g.KH, KW = (S)g.KW, OH = (S)g.OH, OW = (S)g.OW, sh = (S)g.stride_h, sw = (S)g.stride_w;
    const S dh = (S)g.dil_h, dw = (S)g.dil_w;
    const int64_t L = g.OH * g.OW;
    const T *cp = cols + (int64_t)plane * (g.KH * g.KW) * L;
    T acc = x[i];
    for (S kh = 0; kh < KH; kh++) {
        const S hp = (S)h + (S)g.pad_h - kh * dh; /* = oh * sh for the window that reads it with tap kh */
        if (hp < 0) break;                       /* decreases with kh */
        if (hp % sh) continue;
        const S oh = hp / sh;
        if (oh >= OH) continue;
        for (S kw = 0; kw < KW; kw++) {
            const S wp = (S)w + (S)g.pad_w - kw * dw;
            if (wp < 0) break;
            if (wp % sw) continue;
            const S ow = wp / sw;
            if (ow >= OW) continue;
            acc = npg_cu_cv_add(acc, cp[(int64_t)(kh * KW + kw) * L + (int64_t)oh * g.OW + ow]);
        }
    }
    x[i] = acc;
}

/* out[i] (i in (N, C, OH, OW)) from x (N, C, H, W). MAX: the first maximum of
 * the in-image taps (NaN wins, the first NaN kept) and argmax[i] = its flat
 * index h*W + w (no tap: lowest value / -inf and -1); else the mean with
 * divisor KH*KW (count_include_pad) or the number of in-image taps, summed in
 * double by tap (kh, kw) ascending. */
template <class T, class I, class S, bool MAX>
NPG_CU_HD void npg_cu_cv_pool_elem(T *out, int64_t *argmax, const T *x, const npg_conv_geom &g, I i) {
    const I ow = i % (I)g.OW, q = i / (I)g.OW;
    const I oh = q % (I)g.OH, plane = q / (I)g.OH;
    const S h0 = (S)oh * (S)g.stride_h - (S)g.pad_h, w0 = (S)ow * (S)g.stride_w - (S)g.pad_w;
    const S dh = (S)g.dil_h, dw = (S)g.dil_w, W = (S)g.W;
    S kh0, kh1, kw0, kw1;
    npg_cu_cv_taps<S>(h0, dh, (S)g.KH, (S)g.H, &kh0, &kh1);
    npg_cu_cv_taps<S>(w0, dw, (S)g.KW, W, &kw0, &kw1);
    const T *xp = x + (int64_t)plane * g.H * g.W;
    if constexpr (MAX) {
        T best;
        if constexpr (std::is_floating_point<T>::value) best = (T)-INFINITY;
        else best = std::numeric_limits<T>::lowest();
        S bi = -1;
        for (S kh = kh0; kh < kh1; kh++) {
            for (S kw = kw0; kw < kw1; kw++) {
                const S j = (h0 + kh * dh) * W + w0 + kw * dw;
                const T v = xp[j];
                if (bi < 0 || v > best || (npg_cu_cv_isnan(v) && !npg_cu_cv_isnan(best))) {
                    best = v;
                    bi = j;
                }
            }
        }
        out[i] = best;
        argmax[i] = (int64_t)bi;
    } else {
        double s = 0;
        for (S kh = kh0; kh < kh1; kh++)
            for (S kw = kw0; kw < kw1; kw++) s += (double)xp[(h0 + kh * dh) * W + w0 + kw * dw];
        const int64_t cnt = g.count_include_pad ? g.KH * g.KW : (int64_t)(kh1 - kh0) * (int64_t)(kw1 - kw0);
        out[i] = (T)(cnt ? s / (double)cnt : 0.0);
    }
}

/* gx[i] (i in (N, C, H, W)) += the pooling adjoint of gout (N, C, OH, OW)
 * at pixel i: over the windows containing it, by output index ascending,
 * MAX: gout where argmax is this pixel; else gout / the window's divisor. */
template <class T, class I, class S, bool MAX>
NPG_CU_HD void npg_cu_cv_pool_bw_elem(T *gx, const T *gout, const int64_t *argmax, const npg_conv_geom &g, I i) {
    const I w = i % (I)g.W, q = i / (I)g.W;
    const I h = q % (I)g.H, plane = q / (I)g.H;
    const S KH = (S)g.KH, KW = (S)g.KW, OH = (S)g.OH, OW = (S)g.OW, sh = (S)g.stride_h, sw = (S)g.stride_w;
    const S dh = (S)g.dil_h, dw = (S)g.dil_w, H = (S)g.H, W = (S)g.W;
    const int64_t obase = (int64_t)plane * g.OH * g.OW;
    const int64_t pix = (int64_t)h * g.W + w;
    T acc = gx[i];
    /* oh = (h + pad_h - kh*dil_h) / stride_h grows as kh falls: kh descending
     * (and kw descending inside) visits the windows by output index ascending */
    for (S kh = KH - 1; kh >= 0; kh--) {
        const S hp = (S)h + (S)g.pad_h - kh * dh;
        if (hp < 0 || hp % sh) continue;
        const S oh = hp / sh;
        if (oh >= OH) continue;
        S th0 = 0, th1 = 0;
        if (!MAX) npg_cu_cv_taps<S>(oh * sh - (S)g.pad_h, dh, KH, H, &th0, &th1);
        for (S kw = KW - 1; kw >= 0; kw--) {
            const S wp = (S)w + (S)g.pad_w - kw * dw;
            if (wp < 0 || wp % sw) continue;
            const S ow = wp / sw;
            if (ow >= OW) continue;
            const int64_t o = obase + (int64_t)oh * g.OW + ow;
            if constexpr (MAX) {
                if (argmax[o] == pix) acc = acc + gout[o];
            } else {
                S tw0, tw1;
                npg_cu_cv_taps<S>(ow * sw - (S)g.pad_w, dw, KW, W, &tw0, &tw1);
                const int64_t cnt =
                    g.count_include_pad ? g.KH * g.KW : (int64_t)(th1 - th0) * (int64_t)(tw1 - tw0);
                if (cnt) acc = acc + (T)((double)gout[o] / (double)cnt);
            }
        }
    }
    gx[i] = acc;
}

/* ---- kernels: grid-stride loops over the elements written ---------------------------------- */

/* cols: (N, C*KH*KW, OH*OW); x: (N, C, H, W); total = numel(cols) */
template <class T, class I, class S>
__global__ void npg_cu_cv_im2col_kernel(T *cols, const T *x, const npg_conv_geom g, I total) {
    for (I i = (I)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (I)gridDim.x * blockDim.x)
        npg_cu_cv_im2col_elem<T, I, S>(cols, x, g, i);
}

/* x: (N, C, H, W) accumulated into; cols: (N, C*KH*KW, OH*OW); total = numel(x) */
template <class T, class I, class S>
__global__ void npg_cu_cv_col2im_kernel(T *x, const T *cols, const npg_conv_geom g, I total) {
    for (I i = (I)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (I)gridDim.x * blockDim.x)
        npg_cu_cv_col2im_elem<T, I, S>(x, cols, g, i);
}

/* out, argmax (MAX only): (N, C, OH, OW); x: (N, C, H, W); total = numel(out) */
template <class T, class I, class S, bool MAX>
__global__ void npg_cu_cv_pool_kernel(T *out, int64_t *argmax, const T *x, const npg_conv_geom g, I total) {
    for (I i = (I)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (I)gridDim.x * blockDim.x)
        npg_cu_cv_pool_elem<T, I, S, MAX>(out, argmax, x, g, i);
}

/* gx: (N, C, H, W) accumulated into; gout, argmax (MAX only): (N, C, OH, OW); total = numel(gx) */
template <class T, class I, class S, bool MAX>
__global__ void npg_cu_cv_pool_bw_kernel(T *gx, const T *gout, const int64_t *argmax, const npg_conv_geom g, I total) {
    for (I i = (I)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (I)gridDim.x * blockDim.x)
        npg_cu_cv_pool_bw_elem<T, I, S, MAX>(gx, gout, argmax, g, i);
}

/* ---- launch helpers ------------------------------------------------------------------------------ */

#define NPG_CU_CV_THREADS 256

/* True when 32-bit indices and coordinates suffice: every element count below
 * 2^31 (plus a grid's worth of headroom for the grid-stride increment) and
 * every coordinate expression within +-2^30. */
static bool npg_cu_cv_small(const npg_conv_geom *g) {
    const int64_t lim = (int64_t)1 << 30;
    const int64_t xs = g->N * g->C * g->H * g->W, cs = g->N * g->C * g->KH * g->KW * g->OH * g->OW;
    const int64_t os = g->N * g->C * g->OH * g->OW;
    return xs < lim && cs < lim && os < lim && g->H + 2 * g->pad_h < lim && g->W + 2 * g->pad_w < lim &&
           g->KH * g->dil_h < lim && g->KW * g->dil_w < lim && g->OH * g->stride_h < lim &&
           g->OW * g->stride_w < lim && g->KH * g->KW < lim && g->H * g->W < lim;
}

/* Geometry sanity (common guarantees it; a mismatch is an internal error). */
static bool npg_cu_cv_geom_ok(const npg_conv_geom *g) {
    return g->N >= 0 && g->C >= 0 && g->H >= 0 && g->W >= 0 && g->KH >= 1 && g->KW >= 1 && g->OH >= 0 &&
           g->OW >= 0 && g->stride_h >= 1 && g->stride_w >= 1 && g->pad_h >= 0 && g->pad_w >= 0 && g->dil_h >= 1 &&
           g->dil_w >= 1;
}

/* fn(T{}) for the element type T of dtype dt: the floats, and with NUM the
 * integers (as their own C types, or with BITS as the unsigned type of their
 * width); others are NPG_ERR_UNSUPPORTED. */
template <bool NUM, bool BITS = false, class Fn>
static npg_status npg_cu_cv_dispatch(npg_dtype dt, const char *what, Fn &&fn) {
    if (dt == NPG_FLOAT32) return fn(float{});
    if (dt == NPG_FLOAT64) return fn(double{});
    if constexpr (NUM && BITS) {
        if (npg_cu_is_int(dt)) {
            switch (npg__dtype_size(dt)) {
            case 1: return fn(uint8_t{});
            case 2: return fn(uint16_t{});
            case 4: return fn(uint32_t{});
            default: return fn(uint64_t{});
            }
        }
    } else if constexpr (NUM) {
        switch (dt) {
        case NPG_UINT8: return fn(uint8_t{});
        case NPG_INT32: return fn(int32_t{});
        case NPG_INT64: return fn(int64_t{});
        case NPG_INT8: return fn(int8_t{});
        case NPG_INT16: return fn(int16_t{});
        case NPG_UINT16: return fn(uint16_t{});
        case NPG_UINT32: return fn(uint32_t{});
        case NPG_UINT64: return fn(uint64_t{});
        default: break;
        }
    }
    return npg_cu_unsupported(what, dt);
}

/* ---- entries --------------------------------------------------------------------------------------- */

/* im2col (ADJ false) or col2im (ADJ true) on T elements. */
template <class T, bool ADJ>
static npg_status npg_cu_cv_im2col_launch(int dev, const npg_tdesc *cols, const npg_tdesc *x, const npg_conv_geom *g,
                                          const char *what) {
    NPG_CU_CTX(ctx, dev);
    const int64_t total = ADJ ? npg__desc_numel(x) : npg__desc_numel(cols);
    if (total == 0) return NPG_OK;
    const unsigned grid = npg_cu_grid(ctx, total, NPG_CU_CV_THREADS);
    T *c = (T *)cols->data, *xp = (T *)x->data;
    const npg_conv_geom gg = *g;
    if (npg_cu_cv_small(g)) {
        if constexpr (ADJ)
            npg_cu_cv_col2im_kernel<T, uint32_t, int32_t>
                <<<grid, NPG_CU_CV_THREADS, 0, ctx->stream>>>(xp, c, gg, (uint32_t)total);
        else
            npg_cu_cv_im2col_kernel<T, uint32_t, int32_t>
                <<<grid, NPG_CU_CV_THREADS, 0, ctx->stream>>>(c, xp, gg, (uint32_t)total);
    } else {
        if constexpr (ADJ)
            npg_cu_cv_col2im_kernel<T, uint64_t, int64_t>
                <<<grid, NPG_CU_CV_THREADS, 0, ctx->stream>>>(xp, c, gg, (uint64_t)total);
        else
            npg_cu_cv_im2col_kernel<T, uint64_t, int64_t>
                <<<grid, NPG_CU_CV_THREADS, 0, ctx->stream>>>(c, xp, gg, (uint64_t)total);
    }
    NPG_CU_CHECK_LAUNCH(what);
    return NPG_OK;
}

static npg_status npg_cu_cv_im2col_common(int dev, bool adjoint, const npg_tdesc *cols, const npg_tdesc *x,
                                          const npg_conv_geom *g) {
    const char *what = adjoint ? "col2im" : "im2col";
    const npg_dtype dt = x->dtype;
    if (cols->dtype != dt) return npg_cu_unsupported(what, cols->dtype);
    if (!npg_cu_cv_geom_ok(g) || !npg__desc_contiguous(x) || !npg__desc_contiguous(cols) ||
        npg__desc_numel(x) != g->N * g->C * g->H * g->W ||
        npg__desc_numel(cols) != g->N * g->C * g->KH * g->KW * g->OH * g->OW)
        return npg__set_error(NPG_ERR_INTERNAL, "cuda %s: descriptors do not match the geometry", what);
    if (dt == NPG_FLOAT16 || dt == NPG_BFLOAT16) {
        /* the backend's half_im2col: a gather of the bit patterns (0 is +0
         * in both); col2im adds, and common gives it float32 copies */
        if (adjoint) return npg_cu_unsupported(what, dt);
        return npg_cu_cv_im2col_launch<uint16_t, false>(dev, cols, x, g, what);
    }
    return npg_cu_cv_dispatch<true, true>(dt, what, [&](auto tag) -> npg_status {
        typedef decltype(tag) T;
        return adjoint ? npg_cu_cv_im2col_launch<T, true>(dev, cols, x, g, what)
                       : npg_cu_cv_im2col_launch<T, false>(dev, cols, x, g, what);
    });
}

/* cols: (N, C*KH*KW, OH*OW) contiguous <- x: (N, C, H, W) contiguous */
npg_status npg_cu_im2col(int dev, const npg_tdesc *cols, const npg_tdesc *x, const npg_conv_geom *g) {
    return npg_cu_cv_im2col_common(dev, false, cols, x, g);
}

/* x: (N, C, H, W) contiguous (pre-zeroed) += adjoint of cols: (N, C*KH*KW, OH*OW) contiguous */
npg_status npg_cu_col2im(int dev, const npg_tdesc *x, const npg_tdesc *cols, const npg_conv_geom *g) {
    return npg_cu_cv_im2col_common(dev, true, cols, x, g);
}

/* out: (N, C, OH, OW); argmax: (N, C, OH, OW) int64 (max only; NULL for avg);
 * x: (N, C, H, W); all contiguous */
npg_status npg_cu_pool2d(int dev, bool is_max, const npg_tdesc *out, const npg_tdesc *argmax, const npg_tdesc *x,
                         const npg_conv_geom *g) {
    const char *what = is_max ? "max_pool2d" : "avg_pool2d";
    const npg_dtype dt = x->dtype;
    if (out->dtype != dt) return npg_cu_unsupported(what, out->dtype);
    if (is_max && (!argmax || argmax->dtype != NPG_INT64 || !npg__desc_contiguous(argmax) ||
                   npg__desc_numel(argmax) != npg__desc_numel(out)))
        return npg__set_error(NPG_ERR_INTERNAL, "cuda max_pool2d: argmax must be a contiguous int64 array like out");
    if (!npg_cu_cv_geom_ok(g) || !npg__desc_contiguous(x) || !npg__desc_contiguous(out) ||
        npg__desc_numel(x) != g->N * g->C * g->H * g->W || npg__desc_numel(out) != g->N * g->C * g->OH * g->OW)
        return npg__set_error(NPG_ERR_INTERNAL, "cuda %s: descriptors do not match the geometry", what);
    auto run = [&](auto tag) -> npg_status {
        typedef decltype(tag) T;
        NPG_CU_CTX(ctx, dev);
        const int64_t total = npg__desc_numel(out);
        if (total == 0) return NPG_OK;
        const unsigned grid = npg_cu_grid(ctx, total, NPG_CU_CV_THREADS);
        T *o = (T *)out->data;
        int64_t *am = is_max ? (int64_t *)argmax->data : nullptr;
        const T *xp = (const T *)x->data;
        const npg_conv_geom gg = *g;
        const bool small = npg_cu_cv_small(g);
        if (is_max && small)
            npg_cu_cv_pool_kernel<T, uint32_t, int32_t, true>
                <<<grid, NPG_CU_CV_THREADS, 0, ctx->stream>>>(o, am, xp, gg, (uint32_t)total);
        else if (is_max)
            npg_cu_cv_pool_kernel<T, uint64_t, int64_t, true>
                <<<grid, NPG_CU_CV_THREADS, 0, ctx->stream>>>(o, am, xp, gg, (uint64_t)total);
        else if constexpr (std::is_floating_point<T>::value) { /* average pooling: the floats only */
            if (small)
                npg_cu_cv_pool_kernel<T, uint32_t, int32_t, false>
                    <<<grid, NPG_CU_CV_THREADS, 0, ctx->stream>>>(o, am, xp, gg, (uint32_t)total);
            else
                npg_cu_cv_pool_kernel<T, uint64_t, int64_t, false>
                    <<<grid, NPG_CU_CV_THREADS, 0, ctx->stream>>>(o, am, xp, gg, (uint64_t)total);
        }
        NPG_CU_CHECK_LAUNCH(what);
        return NPG_OK;
    };
    return is_max ? npg_cu_cv_dispatch<true>(dt, what, run) : npg_cu_cv_dispatch<false>(dt, what, run);
}

/* gx: (N, C, H, W) (pre-zeroed) += adjoint of gout: (N, C, OH, OW); argmax:
 * (N, C, OH, OW) int64 (max only); all contiguous float32/float64 */
npg_status npg_cu_pool2d_backward(int dev, bool is_max, const npg_tdesc *gx, const npg_tdesc *gout,
                                  const npg_tdesc *argmax, const npg_conv_geom *g) {
    const char *what = is_max ? "max_pool2d backward" : "avg_pool2d backward";
    const npg_dtype dt = gout->dtype;
    if (gx->dtype != dt) return npg_cu_unsupported(what, gx->dtype);
    if (is_max && (!argmax || argmax->dtype != NPG_INT64 || !npg__desc_contiguous(argmax) ||
                   npg__desc_numel(argmax) != npg__desc_numel(gout)))
        return npg__set_error(NPG_ERR_INTERNAL,
                              "cuda max_pool2d backward: argmax must be a contiguous int64 array like gout");
    if (!npg_cu_cv_geom_ok(g) || !npg__desc_contiguous(gx) || !npg__desc_contiguous(gout) ||
        npg__desc_numel(gx) != g->N * g->C * g->H * g->W || npg__desc_numel(gout) != g->N * g->C * g->OH * g->OW)
        return npg__set_error(NPG_ERR_INTERNAL, "cuda %s: descriptors do not match the geometry", what);
    return npg_cu_cv_dispatch<false>(dt, what, [&](auto tag) -> npg_status {
        typedef decltype(tag) T;
        NPG_CU_CTX(ctx, dev);
        const int64_t total = npg__desc_numel(gx);
        if (total == 0) return NPG_OK;
        const unsigned grid = npg_cu_grid(ctx, total, NPG_CU_CV_THREADS);
        T *gxp = (T *)gx->data;
        const T *go = (const T *)gout->data;
        const int64_t *am = is_max ? (const int64_t *)argmax->data : nullptr;
        const npg_conv_geom gg = *g;
        const bool small = npg_cu_cv_small(g);
        if (is_max && small)
            npg_cu_cv_pool_bw_kernel<T, uint32_t, int32_t, true>
                <<<grid, NPG_CU_CV_THREADS, 0, ctx->stream>>>(gxp, go, am, gg, (uint32_t)total);
        else if (is_max)
            npg_cu_cv_pool_bw_kernel<T, uint64_t, int64_t, true>
                <<<grid, NPG_CU_CV_THREADS, 0, ctx->stream>>>(gxp, go, am, gg, (uint64_t)total);
        else if (small)
            npg_cu_cv_pool_bw_kernel<T, uint32_t, int32_t, false>
                <<<grid, NPG_CU_CV_THREADS, 0, ctx->stream>>>(gxp, go, am, gg, (uint32_t)total);
        else
            npg_cu_cv_pool_bw_kernel<T, uint64_t, int64_t, false>
                <<<grid, NPG_CU_CV_THREADS, 0, ctx->stream>>>(gxp, go, am, gg, (uint64_t)total);
        NPG_CU_CHECK_LAUNCH(what);
        return NPG_OK;
    });
}
