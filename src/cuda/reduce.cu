/*
 * reduce.cu — the REDUCE family: SUM, MEAN, PROD, MAX, MIN, ALL, ANY, ARGMAX,
 * ARGMIN over the last `nred` axes of `in` into contiguous `out`.
 *
 * in: (K..., R...), out: (K...). K and R are coalesced separately (which keeps
 * row-major indices, so ARGMAX's flat index inside the reduced block is just
 * the linear index r). Three kernels:
 *   rows      R's innermost stride is 1 (or anything not better served):
 *             a warp per row, or a block per segment of a long row with the
 *             segments' partials combined by `partials`. The full reduction
 *             of a large array is this case with one row, done in one launch:
 *             16-byte loads, and the last block to retire (a counter in the
 *             context, reset by that block) combines the partials, which
 *             live in the context too: no scratch, no second launch
 *   cols      K's innermost stride is 1 and R is strided (reducing an outer
 *             axis): a thread per output column, coalesced across the warp,
 *             R split over threadIdx.y and, when there are few columns, over
 *             blocks (partials again)
 *   partials  warp per row over the (rows, nsplit) partial accumulators
 * A reducer says how: Acc (the accumulator: double for float32/float64
 * SUM/MEAN/PROD, uint64 for integers so they wrap), ident, load, comb,
 * finish. Dtypes as the CPU backend: SUM, PROD the integers and floats,
 * and bool / integers into int64 (wide_int_sum, npg_cu_r_wide);
 * MEAN floats; MAX, MIN, ALL, ANY, ARGMAX, ARGMIN every dtype; float16 and
 * bfloat16 (half_reduce) run float32's reducers on elements widened as they
 * are read (npg_cu_r_half), the float32 result rounded once.
 * comb is associative and commutative (ARGMAX/ARGMIN break ties on the
 * index, NaN wins), so the order of combination never changes a result.
 */
#include "common.cuh"

#include <algorithm>

/* ---- reducers --------------------------------------------------------------------------- */

#define NPG_CU_D __device__ __forceinline__

/* Accumulator of SUM/MEAN/PROD: double for floats, uint64 (wrapping) for integers. */
template <npg_dtype D> using npg_cu_sum_acc = std::conditional_t<npg_cu_is_float(D), double, uint64_t>;
/* accumulator -> output: floats round, integers wrap */
template <npg_dtype D> NPG_CU_D CT<D> npg_cu_sum_out(npg_cu_sum_acc<D> a) {
    if constexpr (npg_cu_is_float(D)) return (CT<D>)a;
    else return npg_cu_convert<D, NPG_INT64>((int64_t)a);
}

template <npg_dtype D> struct npg_cu_r_sum {
    typedef CT<D> In;
    typedef CT<D> Out;
    typedef npg_cu_sum_acc<D> Acc;
    static NPG_CU_D Acc ident() { return Acc(0); }
    static NPG_CU_D Acc load(In x, int64_t) { return (Acc)x; }
    static NPG_CU_D Acc comb(Acc a, Acc b) { return a + b; }
    static NPG_CU_D Out finish(Acc a, int64_t) { return npg_cu_sum_out<D>(a); }
};

template <npg_dtype D> struct npg_cu_r_mean : npg_cu_r_sum<D> {
    typedef typename npg_cu_r_sum<D>::Acc Acc;
    static NPG_CU_D CT<D> finish(Acc a, int64_t n) { return (CT<D>)(a / (double)n); } /* n == 0: NaN */
};

template <npg_dtype D> struct npg_cu_r_prod {
    typedef CT<D> In;
    typedef CT<D> Out;
    typedef npg_cu_sum_acc<D> Acc;
    static NPG_CU_D Acc ident() { return Acc(1); }
    static NPG_CU_D Acc load(In x, int64_t) { return (Acc)x; }
    static NPG_CU_D Acc comb(Acc a, Acc b) { return a * b; }
    static NPG_CU_D Out finish(Acc a, int64_t) { return npg_cu_sum_out<D>(a); }
};

/* SUM / PROD of bool or an integer dtype DI into int64 (uint64 for uint64),
 * backend.h's wide_int_sum: each element widened as it is read (signed
 * ones sign-extended), wrapping uint64 arithmetic, the bits of the
 * same-width sum of the input cast to int64 first. */
template <npg_dtype DI, bool PROD> struct npg_cu_r_wide {
    typedef CT<DI> In;
    typedef std::conditional_t<DI == NPG_UINT64, uint64_t, int64_t> Out;
    typedef uint64_t Acc;
    static NPG_CU_D Acc ident() { return PROD ? Acc(1) : Acc(0); }
    static NPG_CU_D Acc load(In x, int64_t) {
        if constexpr (std::is_signed<In>::value) return (Acc)(int64_t)x;
        else return (Acc)x;
    }
    static NPG_CU_D Acc comb(Acc a, Acc b) { return PROD ? a * b : a + b; }
    static NPG_CU_D Out finish(Acc a, int64_t) { return (Out)a; }
};

/* max(a, b) / min(a, b) with NaN propagating (floats via scalar_ops.h), OR/AND for bool */
template <npg_dtype D, bool MAX> NPG_CU_D CT<D> npg_cu_pick(CT<D> a, CT<D> b) {
    if constexpr (D == NPG_FLOAT32) return MAX ? npg_s_maximum_f32(a, b) : npg_s_minimum_f32(a, b);
    else if constexpr (D == NPG_FLOAT64) return MAX ? npg_s_maximum_f64(a, b) : npg_s_minimum_f64(a, b);
    else if constexpr (D == NPG_BOOL) return MAX ? (uint8_t)(a | b) : (uint8_t)(a & b);
    else return MAX ? (a > b ? a : b) : (a < b ? a : b);
}

template <npg_dtype D, bool MAX> struct npg_cu_r_extreme {
    typedef CT<D> In;
    typedef CT<D> Out;
    typedef CT<D> Acc;
    static NPG_CU_D Acc ident() {
        if constexpr (npg_cu_is_float(D)) return MAX ? -INFINITY : INFINITY;
        else if constexpr (D == NPG_BOOL) return MAX ? 0 : 1;
        else if constexpr (D == NPG_UINT8) return MAX ? 0 : UINT8_MAX;
        else if constexpr (D == NPG_UINT16) return MAX ? 0 : UINT16_MAX;
        else if constexpr (D == NPG_UINT32) return MAX ? 0u : UINT32_MAX;
        else if constexpr (D == NPG_UINT64) return MAX ? (uint64_t)0 : UINT64_MAX;
        else if constexpr (D == NPG_INT8) return MAX ? INT8_MIN : INT8_MAX;
        else if constexpr (D == NPG_INT16) return MAX ? INT16_MIN : INT16_MAX;
        else if constexpr (D == NPG_INT32) return MAX ? INT32_MIN : INT32_MAX;
        else {
            static_assert(D == NPG_INT64, "npg_cu_r_extreme: unhandled dtype");
            return MAX ? INT64_MIN : INT64_MAX;
        }
    }
    static NPG_CU_D Acc load(In x, int64_t) { return x; }
    static NPG_CU_D Acc comb(Acc a, Acc b) { return npg_cu_pick<D, MAX>(a, b); }
    static NPG_CU_D Out finish(Acc a, int64_t) { return a; }
};

/* any dtype read as truth values (NaN is true) */
template <npg_dtype D, bool ALL> struct npg_cu_r_logic {
    typedef CT<D> In;
    typedef uint8_t Out;
    typedef uint32_t Acc;
    static NPG_CU_D Acc ident() { return ALL ? 1u : 0u; }
    static NPG_CU_D Acc load(In x, int64_t) { return x != In(0); }
    static NPG_CU_D Acc comb(Acc a, Acc b) { return ALL ? (a & b) : (a | b); }
    static NPG_CU_D Out finish(Acc a, int64_t) { return (Out)a; }
};

template <class T> struct npg_cu_argacc {
    T v;
    int64_t i; /* -1: no element yet */
};

/* First occurrence wins; NaN counts as the maximum and the minimum. */
template <npg_dtype D, bool MAX> struct npg_cu_r_arg {
    typedef CT<D> In;
    typedef int64_t Out;
    typedef npg_cu_argacc<In> Acc;
    static NPG_CU_D Acc ident() { return Acc{In(0), -1}; }
    static NPG_CU_D Acc load(In x, int64_t r) { return Acc{x, r}; }
    static NPG_CU_D Acc comb(Acc a, Acc b) {
        if (a.i < 0) return b;
        if (b.i < 0) return a;
        if constexpr (npg_cu_is_float(D)) {
            bool an = a.v != a.v, bn = b.v != b.v;
            if (an || bn) {
                if (an && bn) return a.i < b.i ? a : b;
                return an ? a : b;
            }
        }
        if (MAX ? a.v > b.v : a.v < b.v) return a;
        if (MAX ? b.v > a.v : b.v < a.v) return b;
        return a.i < b.i ? a : b;
    }
    static NPG_CU_D Out finish(Acc a, int64_t) { return a.i; }
};

/* A float16 / bfloat16 input (backend.h's half_reduce): float32's reducer R
 * on the widened elements, read as 2-byte values (eight per 16-byte load);
 * a float32 result (SUM, MEAN, PROD, MAX, MIN) rounded once to H, the
 * CPU backend's semantics; ARGMAX/ARGMIN keep R's int64 output. */
template <npg_dtype H, class R> struct npg_cu_r_half {
    typedef uint16_t In;
    typedef typename R::Acc Acc;
    static constexpr bool rounds = std::is_same<typename R::Out, float>::value;
    typedef std::conditional_t<rounds, uint16_t, typename R::Out> Out;
    static NPG_CU_D Acc ident() { return R::ident(); }
    static NPG_CU_D Acc load(In x, int64_t r) { return R::load(npg_cu_half_to_f32<H>(x), r); }
    static NPG_CU_D Acc comb(Acc a, Acc b) { return R::comb(a, b); }
    static NPG_CU_D Out finish(Acc a, int64_t n) {
        if constexpr (rounds) return npg_cu_to_half<H, NPG_FLOAT32>(R::finish(a, n));
        else return R::finish(a, n);
    }
};

/* ---- warp / block combination ---------------------------------------------------------------- */

/* __shfl_down_sync of any trivially copyable value, word by word. */
template <class T> NPG_CU_D T npg_cu_shfl_down(T v, int delta) {
    constexpr int NW = (int)((sizeof(T) + 3) / 4);
    union {
        T v;
        uint32_t w[NW];
    } u;
    u.w[NW - 1] = 0;
    u.v = v;
#pragma unroll
    for (int k = 0; k < NW; k++) u.w[k] = __shfl_down_sync(0xffffffffu, u.w[k], delta);
    return u.v;
}

/* Combine v over the `tpr` threads of a segment (32: a warp; blockDim.x: the
 * whole block). The result is valid in the segment's first thread. */
template <class Red> NPG_CU_D typename Red::Acc npg_cu_seg_reduce(typename Red::Acc v, int tpr) {
    typedef typename Red::Acc Acc;
    __shared__ Acc warp_acc[32];
#pragma unroll
    for (int d = 16; d > 0; d >>= 1) v = Red::comb(v, npg_cu_shfl_down(v, d));
    if (tpr <= 32) return v;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, nwarps = blockDim.x / 32;
    __syncthreads(); /* warp_acc may still be read from the previous segment */
    if (lane == 0) warp_acc[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = lane < nwarps ? warp_acc[lane] : Red::ident();
#pragma unroll
        for (int d = 16; d > 0; d >>= 1) v = Red::comb(v, npg_cu_shfl_down(v, d));
    }
    return v;
}

/* *p read from L2 (not L1, which other SMs' writes do not update), word by
 * word for 4-byte multiples, through a volatile access for 1- or 2-byte T. */
template <class T> NPG_CU_D T npg_cu_load_cg(const T *p) {
    if constexpr (sizeof(T) % 4 == 0) {
        constexpr int NW = (int)(sizeof(T) / 4);
        union {
            T v;
            unsigned int w[NW];
        } u;
#pragma unroll
        for (int k = 0; k < NW; k++) u.w[k] = __ldcg((const unsigned int *)p + k);
        return u.v;
    } else {
        return *(const volatile T *)p;
    }
}

/* Offset of element r of the reduced block (row-major over R). */
NPG_CU_D int64_t npg_cu_roff(const npg_cu_geo<1> &rg, int64_t r) {
    if (rg.ndim <= 1) return rg.ndim ? r * rg.st[0][0] : 0;
    int64_t off[1];
    npg_cu_offsets(rg, r, off);
    return off[0];
}

/* ---- kernels --------------------------------------------------------------------------------------- */

/* out: (nrows,) or partial: (nrows, nsplit) Acc; in: rows at offsets kg(row),
 * elements at rg(r), r in [0, rlen). Segment = (row, split) covering
 * r in [split*chunk, min(rlen, (split+1)*chunk)); tpr threads per segment.
 * retire != NULL (one row, nsplit > 1): single pass; a zero counter that the
 * last block of the grid to finish resets after writing out[0] from the
 * partials. */
#define NPG_CU_REDUCE_THREADS 256
template <class Red>
__global__ void __launch_bounds__(NPG_CU_REDUCE_THREADS, NPG_CU_REDUCE_PARTIALS_PER_SM) npg_cu_reduce_rows_kernel(typename Red::Out *out, typename Red::Acc *partial,
                                          const typename Red::In *in, const npg_cu_geo<1> kg, const npg_cu_geo<1> rg,
                                          int64_t nrows, int64_t rlen, int64_t chunk, int nsplit, int tpr,
                                          unsigned int *retire) {
    typedef typename Red::In In;
    typedef typename Red::Acc Acc;
    constexpr int VW = 16 / (int)sizeof(In);
    const int lane = threadIdx.x % tpr;
    const int64_t segs_per_block = blockDim.x / tpr;
    const int64_t nseg = nrows * nsplit;
    const bool unit = rg.ndim == 1 && rg.st[0][0] == 1;
    for (int64_t seg = blockIdx.x * segs_per_block + threadIdx.x / tpr; seg < nseg;
         seg += (int64_t)gridDim.x * segs_per_block) {
        const int64_t row = seg / nsplit, split = seg % nsplit;
        const int64_t r0 = split * chunk, r1 = min(rlen, r0 + chunk);
        int64_t koff[1];
        npg_cu_offsets(kg, row, koff);
        const In *q = in + koff[0];
        Acc acc = Red::ident();
        if (unit) {
            /* contiguous: scalar head up to 16-byte alignment, 16-byte vectors, scalar tail */
            int64_t mis = (int64_t)(((uintptr_t)(q + r0) % 16) / sizeof(In));
            int64_t head = mis ? VW - mis : 0;
            if (head > r1 - r0) head = r1 - r0;
            for (int64_t r = r0 + lane; r < r0 + head; r += tpr) acc = Red::comb(acc, Red::load(q[r], r));
            const int64_t ra = r0 + head, nv = (r1 - ra) / VW;
            int64_t v = lane;
            for (; v + tpr < nv; v += 2 * (int64_t)tpr) { /* two loads in flight */
                In x[VW], y[VW];
                npg_cu_vload<VW>(x, q + ra + v * VW);
                npg_cu_vload<VW>(y, q + ra + (v + tpr) * VW);
#pragma unroll
                for (int k = 0; k < VW; k++) acc = Red::comb(acc, Red::load(x[k], ra + v * VW + k));
#pragma unroll
                for (int k = 0; k < VW; k++) acc = Red::comb(acc, Red::load(y[k], ra + (v + tpr) * VW + k));
            }
            if (v < nv) {
                In x[VW];
                npg_cu_vload<VW>(x, q + ra + v * VW);
#pragma unroll
                for (int k = 0; k < VW; k++) acc = Red::comb(acc, Red::load(x[k], ra + v * VW + k));
            }
            for (int64_t r = ra + nv * VW + lane; r < r1; r += tpr) acc = Red::comb(acc, Red::load(q[r], r));
        } else {
            for (int64_t r = r0 + lane; r < r1; r += tpr) acc = Red::comb(acc, Red::load(q[npg_cu_roff(rg, r)], r));
        }
        acc = npg_cu_seg_reduce<Red>(acc, tpr);
        if (lane == 0) {
            if (nsplit == 1) out[row] = Red::finish(acc, rlen);
            else partial[row * nsplit + split] = acc;
        }
    }
    if (retire) {
        /* every block: its partials visible device-wide, then one count; the
         * block that counts last (atomicInc wraps the counter back to 0 for
         * the next launch) combines all nsplit partials of row 0 */
        __shared__ bool last;
        __threadfence();
        __syncthreads();
        if (threadIdx.x == 0) {
            last = atomicInc(retire, gridDim.x - 1) == gridDim.x - 1;
            __threadfence();
        }
        __syncthreads();
        if (last) {
            Acc acc = Red::ident();
            for (int s = threadIdx.x; s < nsplit; s += blockDim.x) acc = Red::comb(acc, npg_cu_load_cg(partial + s));
            acc = npg_cu_seg_reduce<Red>(acc, blockDim.x);
            if (threadIdx.x == 0) out[0] = Red::finish(acc, rlen);
        }
    }
}

/* out: (nrows,); partial: (nrows, nsplit) Acc. A warp per row. */
template <class Red>
__global__ void npg_cu_reduce_partials_kernel(typename Red::Out *out, const typename Red::Acc *partial, int64_t nrows,
                                              int nsplit, int64_t rlen) {
    const int lane = threadIdx.x % 32;
    for (int64_t row = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) / 32; row < nrows;
         row += (int64_t)gridDim.x * blockDim.x / 32) {
        typename Red::Acc acc = Red::ident();
        for (int s = lane; s < nsplit; s += 32) acc = Red::comb(acc, partial[row * nsplit + s]);
        acc = npg_cu_seg_reduce<Red>(acc, 32);
        if (lane == 0) out[row] = Red::finish(acc, rlen);
    }
}

/* out: (ncols,) or partial: (ncols, nsplit) Acc; column c at offset kg(c), its
 * elements at rg(r). Block (32, NPG_CU_COL_Y): x over columns (coalesced
 * when kg's innermost stride is 1), y over r; blockIdx.y = split. */
#define NPG_CU_COL_Y 8
template <class Red>
__global__ void npg_cu_reduce_cols_kernel(typename Red::Out *out, typename Red::Acc *partial,
                                          const typename Red::In *in, const npg_cu_geo<1> kg, const npg_cu_geo<1> rg,
                                          int64_t ncols, int64_t rlen, int64_t chunk, int nsplit) {
    typedef typename Red::Acc Acc;
    __shared__ Acc tile[NPG_CU_COL_Y][33];
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int64_t split = blockIdx.y;
    const int64_t r0 = split * chunk, r1 = min(rlen, r0 + chunk);
    for (int64_t cb = (int64_t)blockIdx.x * 32; cb < ncols; cb += (int64_t)gridDim.x * 32) {
        const int64_t c = cb + tx;
        Acc acc = Red::ident();
        if (c < ncols) {
            int64_t koff[1];
            npg_cu_offsets(kg, c, koff);
            const typename Red::In *q = in + koff[0];
            constexpr int Y = NPG_CU_COL_Y;
            int64_t r = r0 + ty;
            for (; r + 3 * Y < r1; r += 4 * Y) { /* four independent loads in flight per thread */
                const typename Red::In x0 = q[npg_cu_roff(rg, r)], x1 = q[npg_cu_roff(rg, r + Y)],
                                       x2 = q[npg_cu_roff(rg, r + 2 * Y)], x3 = q[npg_cu_roff(rg, r + 3 * Y)];
                acc = Red::comb(acc, Red::load(x0, r));
                acc = Red::comb(acc, Red::load(x1, r + Y));
                acc = Red::comb(acc, Red::load(x2, r + 2 * Y));
                acc = Red::comb(acc, Red::load(x3, r + 3 * Y));
            }
            for (; r < r1; r += Y) acc = Red::comb(acc, Red::load(q[npg_cu_roff(rg, r)], r));
        }
        tile[ty][tx] = acc;
        __syncthreads();
        if (ty == 0) {
#pragma unroll
            for (int y = 1; y < NPG_CU_COL_Y; y++) acc = Red::comb(acc, tile[y][tx]);
            if (c < ncols) {
                if (nsplit == 1) out[c] = Red::finish(acc, rlen);
                else partial[c * nsplit + split] = acc;
            }
        }
        __syncthreads();
    }
}

/* ---- launcher --------------------------------------------------------------------------------------- */

template <class Red> static npg_status npg_cu_reduce_run(npg_cu_ctx *ctx, const npg_tdesc *out, const npg_tdesc *in,
                                                         int nred, const char *what) {
    typedef typename Red::Acc Acc;
    typedef typename Red::Out Out;
    typedef typename Red::In In;
    const int kd = in->ndim - nred;
    npg_cu_geo<1> kg, rg;
    const int64_t *kst[1] = {in->strides};
    const int64_t *rst[1] = {in->strides + kd};
    const int64_t nrows = npg_cu_geo_init(kg, kd, in->shape, kst);
    const int64_t rlen = npg_cu_geo_init(rg, nred, in->shape + kd, rst);
    if (nrows == 0) return NPG_OK;
    Out *o = (Out *)out->data;
    const In *x = (const In *)in->data;

    const bool r_unit = rg.ndim >= 1 && rg.st[0][rg.ndim - 1] == 1;
    const bool k_unit = kg.ndim >= 1 && kg.st[0][kg.ndim - 1] == 1 && kg.size[kg.ndim - 1] >= 32;
    const bool use_cols = rlen <= 8 || (!r_unit && k_unit);
    const int64_t sms = ctx->sm_count;
    int nsplit = 1;
    int64_t chunk = rlen;
    Acc *partial = nullptr;

    if (use_cols) {
        /* few column blocks and long columns: split r over blockIdx.y */
        const int64_t colblocks = npg_cu_cdiv(nrows, 32);
        if (colblocks < sms * 4 && rlen >= 256) {
            int64_t want = npg_cu_cdiv(sms * 4, colblocks);
            int64_t maxs = npg_cu_cdiv(rlen, 64);
            nsplit = (int)std::min<int64_t>(std::min(want, maxs), 65535);
            if (nsplit < 1) nsplit = 1;
            chunk = npg_cu_cdiv(rlen, nsplit);
            nsplit = (int)npg_cu_cdiv(rlen, chunk);
        }
        if (nsplit > 1) {
            npg_status st = npg_cu_scratch(ctx, sizeof(Acc) * (size_t)nrows * nsplit, (void **)&partial, what);
            if (st != NPG_OK) return st;
        }
        dim3 block(32, NPG_CU_COL_Y);
        dim3 grid((unsigned)std::min<int64_t>(colblocks, 1 << 20), (unsigned)nsplit);
        npg_cu_reduce_cols_kernel<Red><<<grid, block, 0, ctx->stream>>>(o, partial, x, kg, rg, nrows, rlen, chunk, nsplit);
    } else {
        int tpr = 32, threads = NPG_CU_REDUCE_THREADS;
        if (nrows < sms * 32 && rlen > 256) {
            /* few rows: a block per segment, rows split so the device fills up */
            tpr = threads;
            int64_t want = npg_cu_cdiv(sms * NPG_CU_REDUCE_PARTIALS_PER_SM, nrows);
            int64_t maxs = npg_cu_cdiv(rlen, 4096);
            nsplit = (int)std::min<int64_t>(std::min(want, maxs), 1 << 16);
            if (nsplit < 1) nsplit = 1;
            chunk = npg_cu_cdiv(npg_cu_cdiv(rlen, nsplit), 64) * 64;
            nsplit = (int)npg_cu_cdiv(rlen, chunk);
        }
        const int64_t segs = nrows * nsplit, segs_per_block = threads / tpr;
        const int64_t blocks = std::min<int64_t>(npg_cu_cdiv(segs, segs_per_block), sms * 64);
        /* one row split over blocks: single pass through the context's buffer */
        static_assert(sizeof(Acc) <= 16, "reduce_buf holds partials of at most 16 bytes");
        if (nrows == 1 && nsplit > 1 && tpr == threads &&
            256 + sizeof(Acc) * (size_t)nsplit <= ctx->reduce_buf_bytes) {
            unsigned int *retire = (unsigned int *)ctx->reduce_buf;
            Acc *part = (Acc *)((char *)ctx->reduce_buf + 256);
            npg_cu_reduce_rows_kernel<Red><<<(unsigned)blocks, threads, 0, ctx->stream>>>(
                o, part, x, kg, rg, nrows, rlen, chunk, nsplit, tpr, retire);
            NPG_CU_CHECK_LAUNCH(what);
            return NPG_OK;
        }
        if (nsplit > 1) {
            npg_status st = npg_cu_scratch(ctx, sizeof(Acc) * (size_t)nrows * nsplit, (void **)&partial, what);
            if (st != NPG_OK) return st;
        }
        npg_cu_reduce_rows_kernel<Red><<<(unsigned)blocks, threads, 0, ctx->stream>>>(
            o, partial, x, kg, rg, nrows, rlen, chunk, nsplit, tpr, nullptr);
    }
    cudaError_t e = cudaGetLastError();
    if (e == cudaSuccess && nsplit > 1) {
        const int64_t blocks = std::min<int64_t>(npg_cu_cdiv(nrows * 32, 256), sms * 64);
        npg_cu_reduce_partials_kernel<Red><<<(unsigned)blocks, 256, 0, ctx->stream>>>(o, partial, nrows, nsplit, rlen);
        e = cudaGetLastError();
    }
    npg_cu_scratch_free(ctx, partial, sizeof(Acc) * (size_t)nrows * nsplit);
    if (e != cudaSuccess) return npg_cu_fail(e, what);
    return NPG_OK;
}

/* SUM/PROD: the integers (wrapping) or floats; MEAN (FLOAT_ONLY): floats;
 * in == out. An integer sum or product wraps to the same bits for the signed
 * and the unsigned dtype of a width, so each width runs its unsigned
 * dtype's kernels. */
template <template <npg_dtype> class R, bool FLOAT_ONLY>
static npg_status npg_cu_reduce_arith(npg_cu_ctx *ctx, const npg_tdesc *out, const npg_tdesc *in, int nred,
                                      const char *what) {
    const npg_dtype dt = in->dtype;
    if (dt == NPG_FLOAT32) return npg_cu_reduce_run<R<NPG_FLOAT32>>(ctx, out, in, nred, what);
    if (dt == NPG_FLOAT64) return npg_cu_reduce_run<R<NPG_FLOAT64>>(ctx, out, in, nred, what);
    if constexpr (!FLOAT_ONLY) {
        if (npg_cu_is_int(dt)) {
            switch (npg__dtype_size(dt)) {
            case 1: return npg_cu_reduce_run<R<NPG_UINT8>>(ctx, out, in, nred, what);
            case 2: return npg_cu_reduce_run<R<NPG_UINT16>>(ctx, out, in, nred, what);
            case 4: return npg_cu_reduce_run<R<NPG_UINT32>>(ctx, out, in, nred, what);
            default: return npg_cu_reduce_run<R<NPG_UINT64>>(ctx, out, in, nred, what);
            }
        }
    }
    return npg_cu_unsupported(what, dt);
}

template <bool MAX> static npg_status npg_cu_reduce_extreme(npg_cu_ctx *ctx, const npg_tdesc *out, const npg_tdesc *in,
                                                             int nred, const char *what, bool arg) {
    return npg_cu_dispatch(in->dtype, what, [&](auto tag) -> npg_status {
        constexpr npg_dtype D = decltype(tag)::value;
        if (arg) return npg_cu_reduce_run<npg_cu_r_arg<D, MAX>>(ctx, out, in, nred, what);
        return npg_cu_reduce_run<npg_cu_r_extreme<D, MAX>>(ctx, out, in, nred, what);
    });
}

/* A reduction of a float16 / bfloat16 input through npg_cu_r_half (ALL and
 * ANY read bool: common casts their input first). */
template <npg_dtype H>
static npg_status npg_cu_reduce_half(npg_cu_ctx *ctx, npg_op op, const npg_tdesc *out, const npg_tdesc *in, int nred,
                                     const char *what) {
    constexpr npg_dtype F = NPG_FLOAT32;
    switch (op) {
    case NPG_OP_SUM: return npg_cu_reduce_run<npg_cu_r_half<H, npg_cu_r_sum<F>>>(ctx, out, in, nred, what);
    case NPG_OP_PROD: return npg_cu_reduce_run<npg_cu_r_half<H, npg_cu_r_prod<F>>>(ctx, out, in, nred, what);
    case NPG_OP_MEAN: return npg_cu_reduce_run<npg_cu_r_half<H, npg_cu_r_mean<F>>>(ctx, out, in, nred, what);
    case NPG_OP_MAX: return npg_cu_reduce_run<npg_cu_r_half<H, npg_cu_r_extreme<F, true>>>(ctx, out, in, nred, what);
    case NPG_OP_MIN: return npg_cu_reduce_run<npg_cu_r_half<H, npg_cu_r_extreme<F, false>>>(ctx, out, in, nred, what);
    case NPG_OP_ARGMAX: return npg_cu_reduce_run<npg_cu_r_half<H, npg_cu_r_arg<F, true>>>(ctx, out, in, nred, what);
    case NPG_OP_ARGMIN: return npg_cu_reduce_run<npg_cu_r_half<H, npg_cu_r_arg<F, false>>>(ctx, out, in, nred, what);
    default: return npg__set_error(NPG_ERR_UNSUPPORTED, "cuda reduce: op %s is not a reduction", what);
    }
}

npg_status npg_cu_reduce(int dev, npg_op op, const npg_tdesc *out, const npg_tdesc *in, int nred) {
    NPG_CU_CTX(ctx, dev);
    const char *what = npg__op_name(op);
    if (nred < 0 || nred > in->ndim)
        return npg__set_error(NPG_ERR_AXIS, "cuda %s: cannot reduce %d axes of a %d-d array", what, nred, in->ndim);
    const bool arg = op == NPG_OP_ARGMAX || op == NPG_OP_ARGMIN;
    const bool sum_prod = op == NPG_OP_SUM || op == NPG_OP_PROD;
    if (sum_prod && (npg_cu_is_int(in->dtype) || in->dtype == NPG_BOOL) && out->dtype != in->dtype) {
        /* wide_int_sum: into int64 (uint64 for uint64) as the elements are read */
        const npg_dtype wide = in->dtype == NPG_UINT64 ? NPG_UINT64 : NPG_INT64;
        if (out->dtype != wide)
            return npg__set_error(NPG_ERR_DTYPE, "cuda %s: output dtype %s, expected %s or %s", what,
                                  npg_dtype_name(out->dtype), npg_dtype_name(in->dtype), npg_dtype_name(wide));
        return npg_cu_dispatch(in->dtype, what, [&](auto tag) -> npg_status {
            constexpr npg_dtype D = decltype(tag)::value;
            if constexpr ((npg_cu_is_int(D) || D == NPG_BOOL) && sizeof(CT<D>) < 8) { /* int64 / uint64: same dtype */
                if (op == NPG_OP_SUM) return npg_cu_reduce_run<npg_cu_r_wide<D, false>>(ctx, out, in, nred, what);
                return npg_cu_reduce_run<npg_cu_r_wide<D, true>>(ctx, out, in, nred, what);
            } else {
                return npg_cu_unsupported(what, D);
            }
        });
    }
    const npg_dtype want = arg ? NPG_INT64 : (op == NPG_OP_ALL || op == NPG_OP_ANY) ? NPG_BOOL : in->dtype;
    if (out->dtype != want)
        return npg__set_error(NPG_ERR_DTYPE, "cuda %s: output dtype %s, expected %s", what, npg_dtype_name(out->dtype),
                              npg_dtype_name(want));
    if (npg_cu_is_half(in->dtype)) {
        if (in->dtype == NPG_FLOAT16) return npg_cu_reduce_half<NPG_FLOAT16>(ctx, op, out, in, nred, what);
        return npg_cu_reduce_half<NPG_BFLOAT16>(ctx, op, out, in, nred, what);
    }
    switch (op) {
    case NPG_OP_SUM: return npg_cu_reduce_arith<npg_cu_r_sum, false>(ctx, out, in, nred, what);
    case NPG_OP_PROD: return npg_cu_reduce_arith<npg_cu_r_prod, false>(ctx, out, in, nred, what);
    case NPG_OP_MEAN: return npg_cu_reduce_arith<npg_cu_r_mean, true>(ctx, out, in, nred, what);
    case NPG_OP_MAX: return npg_cu_reduce_extreme<true>(ctx, out, in, nred, what, false);
    case NPG_OP_MIN: return npg_cu_reduce_extreme<false>(ctx, out, in, nred, what, false);
    case NPG_OP_ARGMAX: return npg_cu_reduce_extreme<true>(ctx, out, in, nred, what, true);
    case NPG_OP_ARGMIN: return npg_cu_reduce_extreme<false>(ctx, out, in, nred, what, true);
    case NPG_OP_ALL:
    case NPG_OP_ANY:
        return npg_cu_dispatch(in->dtype, what, [&](auto tag) -> npg_status {
            /* x != 0: bool and the integers as the unsigned dtype of their width */
            constexpr npg_dtype D0 = decltype(tag)::value;
            constexpr npg_dtype D = D0 == NPG_BOOL ? NPG_UINT8 : npg_cu_int_bits_v<D0>;
            if (op == NPG_OP_ALL) return npg_cu_reduce_run<npg_cu_r_logic<D, true>>(ctx, out, in, nred, what);
            return npg_cu_reduce_run<npg_cu_r_logic<D, false>>(ctx, out, in, nred, what);
        });
    default:
        return npg__set_error(NPG_ERR_UNSUPPORTED, "cuda reduce: op %s is not a reduction", what);
    }
}
