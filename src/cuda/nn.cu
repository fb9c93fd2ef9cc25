/*
 * nn.cu — the CUDA backend's fused neural-network row kernels and optimizer
 * updates: softmax / log_softmax (and backward), cross-entropy from logits
 * (and backward), and the in-place SGD and Adam/AdamW steps.
 *
 * Row kernels take contiguous (R, C) operands. A row is handled by one warp
 * when C <= NPG_CU_NN_WARP_MAX_C (8 rows per 256-thread block), else by one
 * 512-thread block; either way a grid-stride loop over rows, and 16-byte
 * vector loads/stores when C is a multiple of the vector width and every
 * pointer is 16-byte aligned. Per row: the max (NaN propagates), then the sum
 * of exp(x - max) with exp in the array's precision and the sum accumulated
 * in double (float32 too: results are compared with float64 references), then
 * the write. The per-thread work of each pass is a __host__ __device__
 * function (npg_cu_nn_p*), so its indexing can be checked on the host; the
 * kernels only glue the passes with all-reduces (warp shuffles, plus shared
 * memory across the warps of a block).
 *
 * Cross-entropy: a label that is neither ignored nor in [0, C) gives loss
 * NaN (backward: a NaN row) and sets the device's deferred index flag, which
 * the next synchronising call reports as NPG_ERR_INDEX.
 *
 * Optimizers: one fused elementwise kernel each, 16-byte vectors when every
 * pointer is aligned, arithmetic in the parameter's precision with explicitly
 * rounded operations (__fmul_rn etc.: never contracted into FMAs), in the
 * same order as the CPU backend and the composed update, so the three agree
 * bit for bit.
 */
#include "common.cuh"

#include <math.h>

#define NPG_CU_HD static __host__ __device__ __forceinline__
/* #pragma unroll in host-and-device code (the host compiler does not know it) */
#ifdef __CUDA_ARCH__
#define NPG_CU_NN_UNROLL _Pragma("unroll")
#else
#define NPG_CU_NN_UNROLL
#endif

/* Rows up to this many columns get a warp each, longer ones a block. */
#define NPG_CU_NN_WARP_MAX_C 1024
#define NPG_CU_NN_WARP_BLOCK 256 /* threads per block of the warp-per-row kernels */
#define NPG_CU_NN_ROW_BLOCK 512  /* threads per block of the block-per-row kernels */

/* ---- element helpers (host and device) ------------------------------------------------- */

NPG_CU_HD float npg_cu_nn_exp(float x) { return npg_s_exp_f32(x); }
NPG_CU_HD double npg_cu_nn_exp(double x) { return npg_s_exp_f64(x); }
NPG_CU_HD float npg_cu_nn_max(float a, float b) { return npg_s_maximum_f32(a, b); }
NPG_CU_HD double npg_cu_nn_max(double a, double b) { return npg_s_maximum_f64(a, b); }

/* r[0..V) = p[0..V): a 16-byte load on the device when V > 1 (p aligned). */
template <int V, class T> NPG_CU_HD void npg_cu_nn_ld(T (&r)[V], const T *p) {
#ifdef __CUDA_ARCH__
    npg_cu_vload<V>(r, p);
#else
    for (int k = 0; k < V; k++) r[k] = p[k];
#endif
}
template <int V, class T> NPG_CU_HD void npg_cu_nn_st(T *p, const T (&x)[V]) {
#ifdef __CUDA_ARCH__
    npg_cu_vstore<V>(p, x);
#else
    for (int k = 0; k < V; k++) p[k] = x[k];
#endif
}

/* ---- per-thread passes over one row -------------------------------------------------------
 * Thread t of nt handles the elements c = t*V + j*nt*V + k (k < V) of a row
 * of C elements; V divides C. */

/* max of the thread's elements of x (C) */
template <class T, int V> NPG_CU_HD T npg_cu_nn_pmax(const T *x, int64_t C, int t, int nt) {
    T m = (T)-INFINITY;
    for (int64_t c = (int64_t)t * V; c < C; c += (int64_t)nt * V) {
        T v[V];
        npg_cu_nn_ld<V>(v, x + c);
        NPG_CU_NN_UNROLL
        for (int k = 0; k < V; k++) m = npg_cu_nn_max(m, v[k]);
    }
    return m;
}

/* sum of exp(x - m) over the thread's elements of x (C); sx (may be NULL):
 * the sum of x itself */
template <class T, int V> NPG_CU_HD double npg_cu_nn_psumexp(const T *x, int64_t C, int t, int nt, T m, double *sx) {
    double s = 0, s1 = 0;
    for (int64_t c = (int64_t)t * V; c < C; c += (int64_t)nt * V) {
        T v[V];
        npg_cu_nn_ld<V>(v, x + c);
        NPG_CU_NN_UNROLL
        for (int k = 0; k < V; k++) {
            s += (double)npg_cu_nn_exp(v[k] - m);
            s1 += (double)v[k];
        }
    }
    if (sx) *sx = s1;
    return s;
}

/* y (C) = softmax / log_softmax of x (C) given the row max m and sum s */
template <class T, int V, bool LOG>
NPG_CU_HD void npg_cu_nn_psoftmax_write(T *y, const T *x, int64_t C, int t, int nt, T m, double s) {
    const T ls = (T)npg_s_log_f64(s), st = (T)s;
    for (int64_t c = (int64_t)t * V; c < C; c += (int64_t)nt * V) {
        T v[V];
        npg_cu_nn_ld<V>(v, x + c);
        NPG_CU_NN_UNROLL
        for (int k = 0; k < V; k++) v[k] = LOG ? (v[k] - m) - ls : npg_cu_nn_exp(v[k] - m) / st;
        npg_cu_nn_st<V>(y + c, v);
    }
}

/* softmax backward: sum of g*y (LOG: of g) over the thread's elements */
template <class T, int V, bool LOG> NPG_CU_HD double npg_cu_nn_pdot(const T *g, const T *y, int64_t C, int t, int nt) {
    double s = 0;
    for (int64_t c = (int64_t)t * V; c < C; c += (int64_t)nt * V) {
        T a[V], b[V];
        npg_cu_nn_ld<V>(a, g + c);
        npg_cu_nn_ld<V>(b, y + c);
        NPG_CU_NN_UNROLL
        for (int k = 0; k < V; k++) s += LOG ? (double)a[k] : (double)a[k] * (double)b[k];
    }
    return s;
}

/* gin (C) = y * (g - s) (softmax) or g - exp(y) * s (log_softmax) */
template <class T, int V, bool LOG>
NPG_CU_HD void npg_cu_nn_psoftmax_bw_write(T *gin, const T *g, const T *y, int64_t C, int t, int nt, double s) {
    const T st = (T)s;
    for (int64_t c = (int64_t)t * V; c < C; c += (int64_t)nt * V) {
        T a[V], b[V];
        npg_cu_nn_ld<V>(a, g + c);
        npg_cu_nn_ld<V>(b, y + c);
        NPG_CU_NN_UNROLL
        for (int k = 0; k < V; k++) a[k] = LOG ? a[k] - npg_cu_nn_exp(b[k]) * st : b[k] * (a[k] - st);
        npg_cu_nn_st<V>(gin + c, a);
    }
}

/* Cross-entropy of one row x (C) with label y, given its max m, sum of
 * exp(x - m) s and sum of x sx: writes *lse, returns the loss; *bad = true
 * for a label that is neither ignored nor in [0, C) (loss NaN). */
template <class T>
NPG_CU_HD T npg_cu_nn_ce_row(const T *x, int64_t C, int64_t y, T m, double s, double sx, double eps, bool has_ignore,
                             int64_t ignore, T *lse, bool *bad) {
    const double l = (double)m + npg_s_log_f64(s);
    *lse = (T)l;
    *bad = false;
    if (has_ignore && y == ignore) return (T)0;
    if (y < 0 || y >= C) {
        *bad = true;
        return (T)NAN;
    }
    double loss = (1 - eps) * (l - (double)x[y]);
    if (eps != 0) loss += eps * (l - sx / (double)C); /* skipped at eps 0: a -inf logit would make it 0 * inf */
    return (T)loss;
}

/* gx (C) = gl * (exp(x - lse) - (c == y ? on : off)); 0 for an ignored
 * label, NaN for a bad one (returns true then). */
template <class T, int V>
NPG_CU_HD bool npg_cu_nn_pce_bw_write(T *gx, const T *x, int64_t C, int t, int nt, int64_t y, T gl, T lse, T on, T off,
                                      bool has_ignore, int64_t ignore) {
    const bool skip = has_ignore && y == ignore, bad = !skip && (y < 0 || y >= C);
    for (int64_t c = (int64_t)t * V; c < C; c += (int64_t)nt * V) {
        T v[V];
        npg_cu_nn_ld<V>(v, x + c);
        NPG_CU_NN_UNROLL
        for (int k = 0; k < V; k++) {
            if (skip) v[k] = (T)0;
            else if (bad) v[k] = (T)NAN;
            else v[k] = gl * (npg_cu_nn_exp(v[k] - lse) - (c + k == y ? on : off));
        }
        npg_cu_nn_st<V>(gx + c, v);
    }
    return bad;
}

/* ---- row groups and all-reduces (device) ----------------------------------------------------- */

struct npg_cu_nn_op_max {
    template <class T> __device__ __forceinline__ T operator()(T a, T b) const { return npg_cu_nn_max(a, b); }
};
struct npg_cu_nn_op_sum {
    template <class T> __device__ __forceinline__ T operator()(T a, T b) const { return a + b; }
};

/* v combined over the 32 lanes of the warp; every lane gets the result. */
template <class T, class Op> __device__ __forceinline__ T npg_cu_nn_warp_allreduce(T v, Op op) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* v combined over the block (blockDim.x a multiple of 32, <= 1024); every
 * thread gets the result. sm: 32 elements of shared memory; the leading
 * barrier lets consecutive calls reuse it. */
template <class T, class Op> __device__ __forceinline__ T npg_cu_nn_block_allreduce(T v, Op op, T ident, T *sm) {
    v = npg_cu_nn_warp_allreduce(v, op);
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = blockDim.x >> 5;
    __syncthreads();
    if (lane == 0) sm[wid] = v;
    __syncthreads();
    v = lane < nw ? sm[lane] : ident;
    return npg_cu_nn_warp_allreduce(v, op); /* every warp combines the partials itself */
}

template <bool BLOCK, class T, class Op> __device__ __forceinline__ T npg_cu_nn_allreduce(T v, Op op, T ident, T *sm) {
    if constexpr (BLOCK) return npg_cu_nn_block_allreduce(v, op, ident, sm);
    else return npg_cu_nn_warp_allreduce(v, op);
}

/* Which rows this thread's group handles, and its rank t of nt in the group:
 * BLOCK: a block per row; else a warp per row. */
template <bool BLOCK> struct npg_cu_nn_rows {
    int t, nt;
    int64_t first, step;
    __device__ __forceinline__ npg_cu_nn_rows() {
        if constexpr (BLOCK) {
            t = threadIdx.x;
            nt = blockDim.x;
            first = blockIdx.x;
            step = gridDim.x;
        } else {
            const int wpb = blockDim.x >> 5;
            t = threadIdx.x & 31;
            nt = 32;
            first = (int64_t)blockIdx.x * wpb + (threadIdx.x >> 5);
            step = (int64_t)gridDim.x * wpb;
        }
    }
};

/* ---- row kernels ------------------------------------------------------------------------------- */

/* out, in: (R, C) contiguous */
template <class T, int V, bool BLOCK, bool LOG>
__global__ void __launch_bounds__(NPG_CU_NN_ROW_BLOCK) npg_cu_nn_softmax_kernel(T *out, const T *in, int64_t R, int64_t C) {
    __shared__ T sm_t[32];
    __shared__ double sm_d[32];
    const npg_cu_nn_rows<BLOCK> g;
    for (int64_t r = g.first; r < R; r += g.step) {
        const T *x = in + r * C;
        const T m = npg_cu_nn_allreduce<BLOCK>(npg_cu_nn_pmax<T, V>(x, C, g.t, g.nt), npg_cu_nn_op_max{}, (T)-INFINITY, sm_t);
        const double s = npg_cu_nn_allreduce<BLOCK>(npg_cu_nn_psumexp<T, V>(x, C, g.t, g.nt, m, nullptr),
                                                    npg_cu_nn_op_sum{}, 0.0, sm_d);
        npg_cu_nn_psoftmax_write<T, V, LOG>(out + r * C, x, C, g.t, g.nt, m, s);
    }
}

/* gin, g, y: (R, C) contiguous */
template <class T, int V, bool BLOCK, bool LOG>
__global__ void __launch_bounds__(NPG_CU_NN_ROW_BLOCK)
    npg_cu_nn_softmax_bw_kernel(T *gin, const T *g, const T *y, int64_t R, int64_t C) {
    __shared__ double sm_d[32];
    const npg_cu_nn_rows<BLOCK> grp;
    for (int64_t r = grp.first; r < R; r += grp.step) {
        const double s = npg_cu_nn_allreduce<BLOCK>(npg_cu_nn_pdot<T, V, LOG>(g + r * C, y + r * C, C, grp.t, grp.nt),
                                                    npg_cu_nn_op_sum{}, 0.0, sm_d);
        npg_cu_nn_psoftmax_bw_write<T, V, LOG>(gin + r * C, g + r * C, y + r * C, C, grp.t, grp.nt, s);
    }
}

/* loss, lse: (R); x: (R, C); labels: (R) int64; all contiguous */
template <class T, int V, bool BLOCK>
__global__ void __launch_bounds__(NPG_CU_NN_ROW_BLOCK)
    npg_cu_nn_ce_kernel(T *loss, T *lse, const T *xs, const int64_t *labels, int64_t R, int64_t C, double eps,
                        bool has_ignore, int64_t ignore, int *flag) {
    __shared__ T sm_t[32];
    __shared__ double sm_d[32];
    const npg_cu_nn_rows<BLOCK> g;
    for (int64_t r = g.first; r < R; r += g.step) {
        const T *x = xs + r * C;
        const T m = npg_cu_nn_allreduce<BLOCK>(npg_cu_nn_pmax<T, V>(x, C, g.t, g.nt), npg_cu_nn_op_max{}, (T)-INFINITY, sm_t);
        double sx = 0;
        double s = npg_cu_nn_psumexp<T, V>(x, C, g.t, g.nt, m, &sx);
        s = npg_cu_nn_allreduce<BLOCK>(s, npg_cu_nn_op_sum{}, 0.0, sm_d);
        sx = npg_cu_nn_allreduce<BLOCK>(sx, npg_cu_nn_op_sum{}, 0.0, sm_d);
        if (g.t == 0) {
            bool bad;
            T l;
            loss[r] = npg_cu_nn_ce_row<T>(x, C, labels[r], m, s, sx, eps, has_ignore, ignore, &l, &bad);
            lse[r] = l;
            if (bad) npg_cu_set_flag(flag);
        }
    }
}

/* gx, x: (R, C); gloss, lse: (R); labels: (R) int64; all contiguous */
template <class T, int V, bool BLOCK>
__global__ void __launch_bounds__(NPG_CU_NN_ROW_BLOCK)
    npg_cu_nn_ce_bw_kernel(T *gx, const T *gloss, const T *xs, const T *lse, const int64_t *labels, int64_t R, int64_t C,
                           T on, T off, bool has_ignore, int64_t ignore, int *flag) {
    const npg_cu_nn_rows<BLOCK> g;
    for (int64_t r = g.first; r < R; r += g.step) {
        const bool bad = npg_cu_nn_pce_bw_write<T, V>(gx + r * C, xs + r * C, C, g.t, g.nt, labels[r], gloss[r], lse[r],
                                                      on, off, has_ignore, ignore);
        if (bad && g.t == 0) npg_cu_set_flag(flag);
    }
}

/* ---- launch helpers ---------------------------------------------------------------------------------- */

static bool npg_cu_nn_aligned(const void *p) { return ((uintptr_t)p & 15) == 0; }

/* R rows of C from a contiguous descriptor of any ndim >= 1 (as the CPU backend). */
static int64_t npg_cu_nn_rows_of(const npg_tdesc *d, int64_t *C) {
    *C = d->ndim ? d->shape[d->ndim - 1] : 1;
    return *C ? npg__desc_numel(d) / *C : 0;
}

/* Launch K<V, BLOCK> for R rows of C with the vector width V = 16 / sizeof(T)
 * when `vec` (C divisible and every pointer aligned), else 1. launch(v, block,
 * grid, threads) is called with std::integral_constant values for v and block. */
template <class T, class Launch>
static npg_status npg_cu_nn_rows_launch(npg_cu_ctx *ctx, int64_t R, int64_t C, bool aligned, const char *what,
                                        Launch &&launch) {
    constexpr int VW = 16 / (int)sizeof(T);
    const bool vec = aligned && C % VW == 0;
    const bool block = C > NPG_CU_NN_WARP_MAX_C;
    if (block) {
        const unsigned grid = npg_cu_grid(ctx, R * NPG_CU_NN_ROW_BLOCK, NPG_CU_NN_ROW_BLOCK);
        if (vec) launch(std::integral_constant<int, VW>{}, std::true_type{}, grid, NPG_CU_NN_ROW_BLOCK);
        else launch(std::integral_constant<int, 1>{}, std::true_type{}, grid, NPG_CU_NN_ROW_BLOCK);
    } else {
        const unsigned grid = npg_cu_grid(ctx, R * 32, NPG_CU_NN_WARP_BLOCK);
        if (vec) launch(std::integral_constant<int, VW>{}, std::false_type{}, grid, NPG_CU_NN_WARP_BLOCK);
        else launch(std::integral_constant<int, 1>{}, std::false_type{}, grid, NPG_CU_NN_WARP_BLOCK);
    }
    NPG_CU_CHECK_LAUNCH(what);
    return NPG_OK;
}

static bool npg_cu_nn_flt(npg_dtype d) { return d == NPG_FLOAT32 || d == NPG_FLOAT64; }

template <class Fn> static npg_status npg_cu_nn_float_dispatch(npg_dtype dt, const char *what, Fn &&fn) {
    if (dt == NPG_FLOAT32) return fn(float{});
    if (dt == NPG_FLOAT64) return fn(double{});
    return npg_cu_unsupported(what, dt);
}

/* ---- softmax ---------------------------------------------------------------------------------------- */

/* out, in: (R, C) contiguous float32/float64 */
npg_status npg_cu_softmax(int dev, const npg_tdesc *out, const npg_tdesc *in, bool log) {
    const char *what = log ? "log_softmax" : "softmax";
    if (!npg_cu_nn_flt(in->dtype) || out->dtype != in->dtype) return npg_cu_unsupported(what, in->dtype);
    if (!npg__desc_contiguous(in) || !npg__desc_contiguous(out) || npg__desc_numel(in) != npg__desc_numel(out))
        return npg__set_error(NPG_ERR_INTERNAL, "cuda %s: operands must be contiguous and of one shape", what);
    NPG_CU_CTX(ctx, dev);
    int64_t C, R = npg_cu_nn_rows_of(in, &C);
    if (R == 0 || C == 0) return NPG_OK;
    const bool aligned = npg_cu_nn_aligned(out->data) && npg_cu_nn_aligned(in->data);
    return npg_cu_nn_float_dispatch(in->dtype, what, [&](auto tag) {
        typedef decltype(tag) T;
        return npg_cu_nn_rows_launch<T>(ctx, R, C, aligned, what, [&](auto v, auto block, unsigned grid, int threads) {
            T *o = (T *)out->data;
            const T *x = (const T *)in->data;
            if (log)
                npg_cu_nn_softmax_kernel<T, decltype(v)::value, decltype(block)::value, true>
                    <<<grid, threads, 0, ctx->stream>>>(o, x, R, C);
            else
                npg_cu_nn_softmax_kernel<T, decltype(v)::value, decltype(block)::value, false>
                    <<<grid, threads, 0, ctx->stream>>>(o, x, R, C);
        });
    });
}

/* gin, g, y: (R, C) contiguous float32/float64 */
npg_status npg_cu_softmax_backward(int dev, const npg_tdesc *gin, const npg_tdesc *g, const npg_tdesc *y, bool log) {
    const char *what = log ? "log_softmax backward" : "softmax backward";
    const npg_dtype dt = y->dtype;
    if (!npg_cu_nn_flt(dt) || g->dtype != dt || gin->dtype != dt) return npg_cu_unsupported(what, dt);
    if (!npg__desc_contiguous(gin) || !npg__desc_contiguous(g) || !npg__desc_contiguous(y) ||
        npg__desc_numel(gin) != npg__desc_numel(y) || npg__desc_numel(g) != npg__desc_numel(y))
        return npg__set_error(NPG_ERR_INTERNAL, "cuda %s: operands must be contiguous and of one shape", what);
    NPG_CU_CTX(ctx, dev);
    int64_t C, R = npg_cu_nn_rows_of(y, &C);
    if (R == 0 || C == 0) return NPG_OK;
    const bool aligned = npg_cu_nn_aligned(gin->data) && npg_cu_nn_aligned(g->data) && npg_cu_nn_aligned(y->data);
    return npg_cu_nn_float_dispatch(dt, what, [&](auto tag) {
        typedef decltype(tag) T;
        return npg_cu_nn_rows_launch<T>(ctx, R, C, aligned, what, [&](auto v, auto block, unsigned grid, int threads) {
            T *gi = (T *)gin->data;
            const T *gp = (const T *)g->data, *yp = (const T *)y->data;
            if (log)
                npg_cu_nn_softmax_bw_kernel<T, decltype(v)::value, decltype(block)::value, true>
                    <<<grid, threads, 0, ctx->stream>>>(gi, gp, yp, R, C);
            else
                npg_cu_nn_softmax_bw_kernel<T, decltype(v)::value, decltype(block)::value, false>
                    <<<grid, threads, 0, ctx->stream>>>(gi, gp, yp, R, C);
        });
    });
}

/* ---- cross-entropy -------------------------------------------------------------------------------------- */

/* loss, lse: (R); x: (R, C) float32/float64; labels: (R) int64; all contiguous */
npg_status npg_cu_cross_entropy(int dev, const npg_tdesc *loss, const npg_tdesc *lse, const npg_tdesc *x,
                                const npg_tdesc *labels, double eps, bool has_ignore, int64_t ignore) {
    const char *what = "cross_entropy";
    const npg_dtype dt = x->dtype;
    if (!npg_cu_nn_flt(dt) || loss->dtype != dt || lse->dtype != dt) return npg_cu_unsupported(what, dt);
    if (labels->dtype != NPG_INT64) return npg_cu_unsupported("cross_entropy (labels)", labels->dtype);
    int64_t C, R = npg_cu_nn_rows_of(x, &C);
    if (!npg__desc_contiguous(x) || !npg__desc_contiguous(labels) || !npg__desc_contiguous(loss) ||
        !npg__desc_contiguous(lse) || npg__desc_numel(labels) != R || npg__desc_numel(loss) != R ||
        npg__desc_numel(lse) != R)
        return npg__set_error(NPG_ERR_INTERNAL, "cuda cross_entropy: unexpected descriptors");
    NPG_CU_CTX(ctx, dev);
    if (R == 0) return NPG_OK;
    if (C == 0) /* never issued by common: every row's sum is empty */
        return npg__set_error(NPG_ERR_SHAPE, "cuda cross_entropy: no classes");
    const bool aligned = npg_cu_nn_aligned(x->data);
    return npg_cu_nn_float_dispatch(dt, what, [&](auto tag) {
        typedef decltype(tag) T;
        return npg_cu_nn_rows_launch<T>(ctx, R, C, aligned, what, [&](auto v, auto block, unsigned grid, int threads) {
            npg_cu_nn_ce_kernel<T, decltype(v)::value, decltype(block)::value><<<grid, threads, 0, ctx->stream>>>(
                (T *)loss->data, (T *)lse->data, (const T *)x->data, (const int64_t *)labels->data, R, C, eps,
                has_ignore, ignore, ctx->flag_dev);
        });
    });
}

/* gx, x: (R, C); gloss, lse: (R) float32/float64; labels: (R) int64; all contiguous */
npg_status npg_cu_cross_entropy_backward(int dev, const npg_tdesc *gx, const npg_tdesc *gloss, const npg_tdesc *x,
                                         const npg_tdesc *lse, const npg_tdesc *labels, double eps, bool has_ignore,
                                         int64_t ignore) {
    const char *what = "cross_entropy backward";
    const npg_dtype dt = x->dtype;
    if (!npg_cu_nn_flt(dt) || gx->dtype != dt || gloss->dtype != dt || lse->dtype != dt)
        return npg_cu_unsupported(what, dt);
    if (labels->dtype != NPG_INT64) return npg_cu_unsupported("cross_entropy backward (labels)", labels->dtype);
    int64_t C, R = npg_cu_nn_rows_of(x, &C);
    if (!npg__desc_contiguous(x) || !npg__desc_contiguous(gx) || !npg__desc_contiguous(labels) ||
        !npg__desc_contiguous(gloss) || !npg__desc_contiguous(lse) || npg__desc_numel(gx) != npg__desc_numel(x) ||
        npg__desc_numel(labels) != R || npg__desc_numel(gloss) != R || npg__desc_numel(lse) != R)
        return npg__set_error(NPG_ERR_INTERNAL, "cuda cross_entropy backward: unexpected descriptors");
    NPG_CU_CTX(ctx, dev);
    if (R == 0 || C == 0) return NPG_OK;
    const bool aligned = npg_cu_nn_aligned(x->data) && npg_cu_nn_aligned(gx->data);
    return npg_cu_nn_float_dispatch(dt, what, [&](auto tag) {
        typedef decltype(tag) T;
        /* d/dx of (1-eps)(lse - x_y) + eps (lse - mean x): p - (1-eps)[c == y] - eps/C */
        const T off = (T)(eps / (double)C), on = (T)((1 - eps) + eps / (double)C);
        return npg_cu_nn_rows_launch<T>(ctx, R, C, aligned, what, [&](auto v, auto block, unsigned grid, int threads) {
            npg_cu_nn_ce_bw_kernel<T, decltype(v)::value, decltype(block)::value><<<grid, threads, 0, ctx->stream>>>(
                (T *)gx->data, (const T *)gloss->data, (const T *)x->data, (const T *)lse->data,
                (const int64_t *)labels->data, R, C, on, off, has_ignore, ignore, ctx->flag_dev);
        });
    });
}

/* ---- optimizers ----------------------------------------------------------------------------------------- */

/* IEEE-rounded arithmetic that the compiler never contracts into an FMA. */
NPG_CU_HD float npg_cu_nn_mul(float a, float b) {
#ifdef __CUDA_ARCH__
    return __fmul_rn(a, b);
#else
    return a * b;
#endif
}
NPG_CU_HD double npg_cu_nn_mul(double a, double b) {
#ifdef __CUDA_ARCH__
    return __dmul_rn(a, b);
#else
    return a * b;
#endif
}
NPG_CU_HD float npg_cu_nn_add(float a, float b) {
#ifdef __CUDA_ARCH__
    return __fadd_rn(a, b);
#else
    return a + b;
#endif
}
NPG_CU_HD double npg_cu_nn_add(double a, double b) {
#ifdef __CUDA_ARCH__
    return __dadd_rn(a, b);
#else
    return a + b;
#endif
}
NPG_CU_HD float npg_cu_nn_sub(float a, float b) {
#ifdef __CUDA_ARCH__
    return __fsub_rn(a, b);
#else
    return a - b;
#endif
}
NPG_CU_HD double npg_cu_nn_sub(double a, double b) {
#ifdef __CUDA_ARCH__
    return __dsub_rn(a, b);
#else
    return a - b;
#endif
}
NPG_CU_HD float npg_cu_nn_div(float a, float b) {
#ifdef __CUDA_ARCH__
    return __fdiv_rn(a, b);
#else
    return a / b;
#endif
}
NPG_CU_HD double npg_cu_nn_div(double a, double b) {
#ifdef __CUDA_ARCH__
    return __ddiv_rn(a, b);
#else
    return a / b;
#endif
}
NPG_CU_HD float npg_cu_nn_sqrt(float a) {
#ifdef __CUDA_ARCH__
    return __fsqrt_rn(a);
#else
    return sqrtf(a);
#endif
}
NPG_CU_HD double npg_cu_nn_sqrt(double a) {
#ifdef __CUDA_ARCH__
    return __dsqrt_rn(a);
#else
    return sqrt(a);
#endif
}

/* Hyper-parameters in the parameter's type T (as the CPU backend converts them). */
template <class T> struct npg_cu_nn_sgd {
    T lr, wd, mom, damp; /* damp = 1 - dampening */
    bool use_wd, use_mom, first, nesterov;
};
template <class T> struct npg_cu_nn_adam {
    T lr, b1, b2, omb1, omb2, eps, wd, lrwd, bc1, bc2; /* omb = 1 - b (in T), lrwd = lr * wd (in T) */
    bool use_wd, decoupled;
};

/* One SGD element: d = g + wd p; buf = first ? d : mom buf + damp d;
 * d = nesterov ? d + mom buf : buf; p -= lr d. */
template <class T> NPG_CU_HD void npg_cu_nn_sgd_elem(const npg_cu_nn_sgd<T> &h, T &p, T g, T &b) {
    T d = h.use_wd ? npg_cu_nn_add(g, npg_cu_nn_mul(h.wd, p)) : g;
    if (h.use_mom) {
        b = h.first ? d : npg_cu_nn_add(npg_cu_nn_mul(h.mom, b), npg_cu_nn_mul(h.damp, d));
        d = h.nesterov ? npg_cu_nn_add(d, npg_cu_nn_mul(h.mom, b)) : b;
    }
    p = npg_cu_nn_sub(p, npg_cu_nn_mul(h.lr, d));
}

/* One Adam element: decoupled: p -= (lr wd) p, else g += wd p;
 * m = b1 m + (1-b1) g; v = b2 v + ((1-b2) g) g; p -= (lr (m / bc1)) / (sqrt(v / bc2) + eps). */
template <class T> NPG_CU_HD void npg_cu_nn_adam_elem(const npg_cu_nn_adam<T> &h, T &p, T g, T &m, T &v) {
    if (h.use_wd && h.decoupled) p = npg_cu_nn_sub(p, npg_cu_nn_mul(h.lrwd, p));
    if (h.use_wd && !h.decoupled) g = npg_cu_nn_add(g, npg_cu_nn_mul(h.wd, p));
    m = npg_cu_nn_add(npg_cu_nn_mul(h.b1, m), npg_cu_nn_mul(h.omb1, g));
    v = npg_cu_nn_add(npg_cu_nn_mul(h.b2, v), npg_cu_nn_mul(npg_cu_nn_mul(h.omb2, g), g));
    const T num = npg_cu_nn_mul(h.lr, npg_cu_nn_div(m, h.bc1));
    const T den = npg_cu_nn_add(npg_cu_nn_sqrt(npg_cu_nn_div(v, h.bc2)), h.eps);
    p = npg_cu_nn_sub(p, npg_cu_nn_div(num, den));
}

/* p, g, buf: (n) contiguous (buf unused unless h.use_mom); V elements per
 * step (16-byte aligned when V > 1), the last n % V one per thread. */
template <class T, int V>
__global__ void npg_cu_nn_sgd_kernel(T *p, const T *g, T *buf, int64_t n, const npg_cu_nn_sgd<T> h) {
    const int64_t tid = (int64_t)blockIdx.x * blockDim.x + threadIdx.x, nth = (int64_t)gridDim.x * blockDim.x;
    const int64_t nvec = n / V;
    for (int64_t i = tid; i < nvec; i += nth) {
        T pv[V], gv[V], bv[V] = {};
        npg_cu_vload<V>(pv, p + i * V);
        npg_cu_vload<V>(gv, g + i * V);
        if (h.use_mom) {
            if (h.first) {
#pragma unroll
                for (int k = 0; k < V; k++) bv[k] = T(0);
            } else {
                npg_cu_vload<V>(bv, buf + i * V);
            }
        }
#pragma unroll
        for (int k = 0; k < V; k++) npg_cu_nn_sgd_elem(h, pv[k], gv[k], bv[k]);
        npg_cu_vstore<V>(p + i * V, pv);
        if (h.use_mom) npg_cu_vstore<V>(buf + i * V, bv);
    }
    const int64_t t = nvec * V + tid;
    if (t < n) {
        T b = h.use_mom && !h.first ? buf[t] : T(0);
        T pt = p[t];
        npg_cu_nn_sgd_elem(h, pt, g[t], b);
        p[t] = pt;
        if (h.use_mom) buf[t] = b;
    }
}

/* p, g, m, v: (n) contiguous; as the SGD kernel */
template <class T, int V>
__global__ void npg_cu_nn_adam_kernel(T *p, const T *g, T *m, T *v, int64_t n, const npg_cu_nn_adam<T> h) {
    const int64_t tid = (int64_t)blockIdx.x * blockDim.x + threadIdx.x, nth = (int64_t)gridDim.x * blockDim.x;
    const int64_t nvec = n / V;
    for (int64_t i = tid; i < nvec; i += nth) {
        T pv[V], gv[V], mv[V], vv[V];
        npg_cu_vload<V>(pv, p + i * V);
        npg_cu_vload<V>(gv, g + i * V);
        npg_cu_vload<V>(mv, m + i * V);
        npg_cu_vload<V>(vv, v + i * V);
#pragma unroll
        for (int k = 0; k < V; k++) npg_cu_nn_adam_elem(h, pv[k], gv[k], mv[k], vv[k]);
        npg_cu_vstore<V>(p + i * V, pv);
        npg_cu_vstore<V>(m + i * V, mv);
        npg_cu_vstore<V>(v + i * V, vv);
    }
    const int64_t t = nvec * V + tid;
    if (t < n) {
        T pt = p[t], mt = m[t], vt = v[t];
        npg_cu_nn_adam_elem(h, pt, g[t], mt, vt);
        p[t] = pt;
        m[t] = mt;
        v[t] = vt;
    }
}

/* b: contiguous, same dtype and numel as a */
static bool npg_cu_nn_same_n(const npg_tdesc *a, const npg_tdesc *b) {
    return npg__desc_numel(a) == npg__desc_numel(b) && npg__desc_contiguous(b) && a->dtype == b->dtype;
}

/* param, grad, buf: (n) contiguous float32/float64 (buf NULL when momentum == 0) */
npg_status npg_cu_sgd_step(int dev, const npg_tdesc *param, const npg_tdesc *grad, const npg_tdesc *buf,
                           const npg_sgd_hp *hp) {
    const npg_dtype dt = param->dtype;
    if (!npg_cu_nn_flt(dt)) return npg_cu_unsupported("sgd_step", dt);
    if (!npg__desc_contiguous(param) || !npg_cu_nn_same_n(param, grad) || (buf && !npg_cu_nn_same_n(param, buf)) ||
        (hp->momentum != 0 && !buf))
        return npg__set_error(NPG_ERR_INTERNAL, "cuda sgd_step: unexpected descriptors");
    NPG_CU_CTX(ctx, dev);
    const int64_t n = npg__desc_numel(param);
    if (n == 0) return NPG_OK;
    return npg_cu_nn_float_dispatch(dt, "sgd_step", [&](auto tag) {
        typedef decltype(tag) T;
        constexpr int VW = 16 / (int)sizeof(T);
        npg_cu_nn_sgd<T> h;
        h.lr = (T)hp->lr;
        h.wd = (T)hp->weight_decay;
        h.mom = (T)hp->momentum;
        h.damp = (T)(1 - hp->dampening);
        h.use_wd = hp->weight_decay != 0;
        h.use_mom = hp->momentum != 0 && buf;
        h.first = hp->first_step;
        h.nesterov = hp->nesterov;
        T *p = (T *)param->data, *b = h.use_mom ? (T *)buf->data : nullptr;
        const T *g = (const T *)grad->data;
        const bool vec = npg_cu_nn_aligned(p) && npg_cu_nn_aligned(g) && (!b || npg_cu_nn_aligned(b));
        const unsigned grid = npg_cu_grid(ctx, vec ? npg_cu_cdiv(n, VW) : n, 256);
        if (vec) npg_cu_nn_sgd_kernel<T, VW><<<grid, 256, 0, ctx->stream>>>(p, g, b, n, h);
        else npg_cu_nn_sgd_kernel<T, 1><<<grid, 256, 0, ctx->stream>>>(p, g, b, n, h);
        NPG_CU_CHECK_LAUNCH("sgd_step");
        return NPG_OK;
    });
}

/* param, grad, m, v: (n) contiguous float32/float64 */
npg_status npg_cu_adam_step(int dev, const npg_tdesc *param, const npg_tdesc *grad, const npg_tdesc *m,
                            const npg_tdesc *v, const npg_adam_hp *hp) {
    const npg_dtype dt = param->dtype;
    if (!npg_cu_nn_flt(dt)) return npg_cu_unsupported("adam_step", dt);
    if (!npg__desc_contiguous(param) || !npg_cu_nn_same_n(param, grad) || !npg_cu_nn_same_n(param, m) ||
        !npg_cu_nn_same_n(param, v))
        return npg__set_error(NPG_ERR_INTERNAL, "cuda adam_step: unexpected descriptors");
    NPG_CU_CTX(ctx, dev);
    const int64_t n = npg__desc_numel(param);
    if (n == 0) return NPG_OK;
    return npg_cu_nn_float_dispatch(dt, "adam_step", [&](auto tag) {
        typedef decltype(tag) T;
        constexpr int VW = 16 / (int)sizeof(T);
        npg_cu_nn_adam<T> h;
        h.lr = (T)hp->lr;
        h.b1 = (T)hp->beta1;
        h.b2 = (T)hp->beta2;
        h.omb1 = (T)((T)1 - h.b1); /* in T, as the CPU backend's (1 - b1) */
        h.omb2 = (T)((T)1 - h.b2);
        h.eps = (T)hp->eps;
        h.wd = (T)hp->weight_decay;
        h.lrwd = (T)(h.lr * h.wd);
        h.bc1 = (T)hp->bias_correction1;
        h.bc2 = (T)hp->bias_correction2;
        h.use_wd = hp->weight_decay != 0;
        h.decoupled = hp->decoupled;
        T *p = (T *)param->data, *mp = (T *)m->data, *vp = (T *)v->data;
        const T *g = (const T *)grad->data;
        const bool vec = npg_cu_nn_aligned(p) && npg_cu_nn_aligned(g) && npg_cu_nn_aligned(mp) && npg_cu_nn_aligned(vp);
        const unsigned grid = npg_cu_grid(ctx, vec ? npg_cu_cdiv(n, VW) : n, 256);
        if (vec) npg_cu_nn_adam_kernel<T, VW><<<grid, 256, 0, ctx->stream>>>(p, g, mp, vp, n, h);
        else npg_cu_nn_adam_kernel<T, 1><<<grid, 256, 0, ctx->stream>>>(p, g, mp, vp, n, h);
        NPG_CU_CHECK_LAUNCH("adam_step");
        return NPG_OK;
    });
}
