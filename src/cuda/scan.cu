/*
 * scan.cu — the SCAN family: inclusive CUMSUM and CUMPROD along one axis.
 *
 * in: (O, L, I) seen through the axis (any strides), out: (O, L, I) contiguous,
 * a "row" is one (o, i) pair: L elements, in stride in.strides[axis], out
 * stride I. Accumulation is in double for float32/float64 and in uint64
 * (wrapping) for the integers (the CPU backend's dtypes); bool and the
 * integers narrower than 64 bits also scan into int64 as they are read
 * (backend.h's wide_int_scan, npg_cu_scan_wide). Three
 * strategies:
 *   thread per row   sequential; coalesced across threads when the axis is
 *                    not the last (I > 1), the usual case for axis 0
 *   warp per row     L in steps of 32 with a shuffle scan and a carry (axis last)
 *   long rows        few rows of L >= 4096: three phases over chunks of
 *                    NPG_CU_SCAN_CHUNK elements — chunk totals, an exclusive
 *                    scan of the totals per row, then a block scan of each
 *                    chunk starting from its carry
 */
#include "common.cuh"

#include <algorithm>

#define NPG_CU_SCAN_THREADS 256
#define NPG_CU_SCAN_ROUNDS 8
#define NPG_CU_SCAN_CHUNK (NPG_CU_SCAN_THREADS * NPG_CU_SCAN_ROUNDS)

template <npg_dtype D, bool PROD> struct npg_cu_scan_op {
    typedef CT<D> In;
    typedef CT<D> Out;
    typedef std::conditional_t<D == NPG_FLOAT32 || D == NPG_FLOAT64, double, uint64_t> Acc;
    static __device__ __forceinline__ Acc ident() { return PROD ? Acc(1) : Acc(0); }
    static __device__ __forceinline__ Acc comb(Acc a, Acc b) { return PROD ? a * b : a + b; }
    static __device__ __forceinline__ Acc load(In x) { return (Acc)x; }
    static __device__ __forceinline__ Out store(Acc a) {
        if constexpr (D == NPG_FLOAT32 || D == NPG_FLOAT64) return (Out)a;
        else return npg_cu_convert<D, NPG_INT64>((int64_t)a); /* wraps */
    }
};

/* wide_int_scan: bool or a narrower integer DI into int64, each element
 * widened as it is read (signed ones sign-extended), wrapping uint64. */
template <npg_dtype DI, bool PROD> struct npg_cu_scan_wide {
    typedef CT<DI> In;
    typedef int64_t Out;
    typedef uint64_t Acc;
    static __device__ __forceinline__ Acc ident() { return PROD ? Acc(1) : Acc(0); }
    static __device__ __forceinline__ Acc comb(Acc a, Acc b) { return PROD ? a * b : a + b; }
    static __device__ __forceinline__ Acc load(In x) {
        if constexpr (std::is_signed<In>::value) return (Acc)(int64_t)x;
        else return (Acc)x;
    }
    static __device__ __forceinline__ Out store(Acc a) { return (Out)a; }
};

/* Row geometry: operand 0 = in (strides without the axis), operand 1 = out. */
struct npg_cu_scan_geo {
    npg_cu_geo<2> rows;
    int64_t nrows, len;
    int64_t in_step;  /* in.strides[axis] */
    int64_t out_step; /* I: out's stride along the axis */
};

template <class Op> __device__ __forceinline__ typename Op::Acc npg_cu_warp_incl_scan(typename Op::Acc v, int lane) {
#pragma unroll
    for (int d = 1; d < 32; d <<= 1) {
        typename Op::Acc u = __shfl_up_sync(0xffffffffu, v, d);
        if (lane >= d) v = Op::comb(u, v);
    }
    return v;
}

/* Inclusive scan over the block (blockDim.x == NPG_CU_SCAN_THREADS); *total
 * gets the block's total. */
template <class Op> __device__ __forceinline__ typename Op::Acc npg_cu_block_incl_scan(typename Op::Acc v,
                                                                                      typename Op::Acc *total) {
    typedef typename Op::Acc Acc;
    __shared__ Acc warp_tot[NPG_CU_SCAN_THREADS / 32];
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    v = npg_cu_warp_incl_scan<Op>(v, lane);
    __syncthreads(); /* warp_tot may still be read from the previous round */
    if (lane == 31) warp_tot[warp] = v;
    __syncthreads();
    Acc before = Op::ident(), all = Op::ident();
#pragma unroll
    for (int w = 0; w < NPG_CU_SCAN_THREADS / 32; w++) {
        if (w < warp) before = Op::comb(before, warp_tot[w]);
        all = Op::comb(all, warp_tot[w]);
    }
    *total = all;
    return Op::comb(before, v);
}

/* ---- kernels ------------------------------------------------------------------------ */

/* out: (rows, L) via g; in: (rows, L) via g. One thread per row. */
template <class Op>
__global__ void npg_cu_scan_thread_kernel(typename Op::Out *out, const typename Op::In *in, const npg_cu_scan_geo g) {
    for (int64_t row = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; row < g.nrows;
         row += (int64_t)gridDim.x * blockDim.x) {
        int64_t off[2];
        npg_cu_offsets(g.rows, row, off);
        typename Op::Acc acc = Op::ident();
        for (int64_t j = 0; j < g.len; j++) {
            acc = Op::comb(acc, Op::load(in[off[0] + j * g.in_step]));
            out[off[1] + j * g.out_step] = Op::store(acc);
        }
    }
}

/* out, in: (rows, L) via g. One warp per row, 32 elements per step. */
template <class Op>
__global__ void npg_cu_scan_warp_kernel(typename Op::Out *out, const typename Op::In *in, const npg_cu_scan_geo g) {
    const int lane = threadIdx.x % 32;
    for (int64_t row = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) / 32; row < g.nrows;
         row += (int64_t)gridDim.x * blockDim.x / 32) {
        int64_t off[2];
        npg_cu_offsets(g.rows, row, off);
        typename Op::Acc carry = Op::ident();
        for (int64_t j0 = 0; j0 < g.len; j0 += 32) {
            const int64_t j = j0 + lane;
            typename Op::Acc x = j < g.len ? Op::load(in[off[0] + j * g.in_step]) : Op::ident();
            x = Op::comb(carry, npg_cu_warp_incl_scan<Op>(x, lane));
            if (j < g.len) out[off[1] + j * g.out_step] = Op::store(x);
            carry = __shfl_sync(0xffffffffu, x, 31);
        }
    }
}

/* Phase 1. tot: (rows, nchunks) chunk totals; in: (rows, L) via g. A block per (row, chunk). */
template <class Op>
__global__ void npg_cu_scan_totals_kernel(typename Op::Acc *tot, const typename Op::In *in, const npg_cu_scan_geo g,
                                          int64_t nchunks) {
    typedef typename Op::Acc Acc;
    __shared__ Acc part[NPG_CU_SCAN_THREADS];
    for (int64_t b = blockIdx.x; b < g.nrows * nchunks; b += gridDim.x) {
        const int64_t row = b / nchunks, c = b % nchunks;
        int64_t off[2];
        npg_cu_offsets(g.rows, row, off);
        const int64_t j0 = c * NPG_CU_SCAN_CHUNK, j1 = min(g.len, j0 + NPG_CU_SCAN_CHUNK);
        Acc acc = Op::ident();
        for (int64_t j = j0 + threadIdx.x; j < j1; j += NPG_CU_SCAN_THREADS)
            acc = Op::comb(acc, Op::load(in[off[0] + j * g.in_step]));
        __syncthreads();
        part[threadIdx.x] = acc;
        __syncthreads();
        for (int s = NPG_CU_SCAN_THREADS / 2; s > 0; s >>= 1) {
            if (threadIdx.x < s) part[threadIdx.x] = Op::comb(part[threadIdx.x], part[threadIdx.x + s]);
            __syncthreads();
        }
        if (threadIdx.x == 0) tot[b] = part[0];
    }
}

/* Phase 2. tot: (rows, nchunks), replaced by its exclusive scan along each row. A warp per row. */
template <class Op> __global__ void npg_cu_scan_carries_kernel(typename Op::Acc *tot, int64_t nrows, int64_t nchunks) {
    const int lane = threadIdx.x % 32;
    for (int64_t row = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) / 32; row < nrows;
         row += (int64_t)gridDim.x * blockDim.x / 32) {
        typename Op::Acc carry = Op::ident();
        for (int64_t c0 = 0; c0 < nchunks; c0 += 32) {
            const int64_t c = c0 + lane;
            typename Op::Acc x = c < nchunks ? tot[row * nchunks + c] : Op::ident();
            typename Op::Acc incl = Op::comb(carry, npg_cu_warp_incl_scan<Op>(x, lane));
            typename Op::Acc excl = __shfl_up_sync(0xffffffffu, incl, 1);
            if (lane == 0) excl = carry;
            if (c < nchunks) tot[row * nchunks + c] = excl;
            carry = __shfl_sync(0xffffffffu, incl, 31);
        }
    }
}

/* Phase 3. out, in: (rows, L) via g; carry: (rows, nchunks). A block per (row, chunk). */
template <class Op>
__global__ void npg_cu_scan_chunks_kernel(typename Op::Out *out, const typename Op::In *in, const typename Op::Acc *carry,
                                          const npg_cu_scan_geo g, int64_t nchunks) {
    typedef typename Op::Acc Acc;
    for (int64_t b = blockIdx.x; b < g.nrows * nchunks; b += gridDim.x) {
        const int64_t row = b / nchunks, c = b % nchunks;
        int64_t off[2];
        npg_cu_offsets(g.rows, row, off);
        Acc run = carry[b];
        for (int k = 0; k < NPG_CU_SCAN_ROUNDS; k++) {
            const int64_t j = c * NPG_CU_SCAN_CHUNK + (int64_t)k * NPG_CU_SCAN_THREADS + threadIdx.x;
            Acc x = j < g.len ? Op::load(in[off[0] + j * g.in_step]) : Op::ident();
            Acc total;
            x = Op::comb(run, npg_cu_block_incl_scan<Op>(x, &total));
            if (j < g.len) out[off[1] + j * g.out_step] = Op::store(x);
            run = Op::comb(run, total);
        }
    }
}

/* ---- launcher ------------------------------------------------------------------------------------ */

template <class Op> static npg_status npg_cu_scan_run(npg_cu_ctx *ctx, const npg_tdesc *out, const npg_tdesc *in,
                                                      int axis, const char *what) {
    typedef typename Op::Acc Acc;
    /* rows: the shape without the axis; out's contiguous strides */
    int64_t shape[NPG_MAX_DIMS], ist[NPG_MAX_DIMS], ost[NPG_MAX_DIMS], full[NPG_MAX_DIMS];
    int64_t s = 1;
    for (int d = in->ndim - 1; d >= 0; d--) {
        full[d] = s;
        s *= in->shape[d];
    }
    int nd = 0;
    for (int d = 0; d < in->ndim; d++) {
        if (d == axis) continue;
        shape[nd] = in->shape[d];
        ist[nd] = in->strides[d];
        ost[nd] = full[d];
        nd++;
    }
    npg_cu_scan_geo g;
    const int64_t *st[2] = {ist, ost};
    g.nrows = npg_cu_geo_init(g.rows, nd, shape, st);
    g.len = in->shape[axis];
    g.in_step = in->strides[axis];
    g.out_step = full[axis];
    if (g.nrows == 0 || g.len == 0) return NPG_OK;
    typename Op::Out *o = (typename Op::Out *)out->data;
    const typename Op::In *x = (const typename Op::In *)in->data;
    const int64_t sms = ctx->sm_count;

    if (g.len >= 4096 && g.nrows < sms * 64) {
        const int64_t nchunks = npg_cu_cdiv(g.len, NPG_CU_SCAN_CHUNK);
        Acc *tot = nullptr;
        npg_status st2 = npg_cu_scratch(ctx, sizeof(Acc) * (size_t)(g.nrows * nchunks), (void **)&tot, what);
        if (st2 != NPG_OK) return st2;
        const unsigned blocks = (unsigned)std::min<int64_t>(g.nrows * nchunks, sms * 32);
        npg_cu_scan_totals_kernel<Op><<<blocks, NPG_CU_SCAN_THREADS, 0, ctx->stream>>>(tot, x, g, nchunks);
        cudaError_t e = cudaGetLastError();
        if (e == cudaSuccess) {
            const unsigned wblocks = (unsigned)std::min<int64_t>(npg_cu_cdiv(g.nrows * 32, 256), sms * 32);
            npg_cu_scan_carries_kernel<Op><<<wblocks, 256, 0, ctx->stream>>>(tot, g.nrows, nchunks);
            e = cudaGetLastError();
        }
        if (e == cudaSuccess) {
            npg_cu_scan_chunks_kernel<Op><<<blocks, NPG_CU_SCAN_THREADS, 0, ctx->stream>>>(o, x, tot, g, nchunks);
            e = cudaGetLastError();
        }
        npg_cu_scratch_free(ctx, tot, sizeof(Acc) * (size_t)(g.nrows * nchunks));
        if (e != cudaSuccess) return npg_cu_fail(e, what);
        return NPG_OK;
    }
    if (g.out_step == 1 && g.len > 1) {
        const unsigned blocks = (unsigned)std::min<int64_t>(npg_cu_cdiv(g.nrows * 32, 256), sms * 64);
        npg_cu_scan_warp_kernel<Op><<<blocks, 256, 0, ctx->stream>>>(o, x, g);
    } else {
        npg_cu_scan_thread_kernel<Op><<<npg_cu_grid(ctx, g.nrows, 256), 256, 0, ctx->stream>>>(o, x, g);
    }
    NPG_CU_CHECK_LAUNCH(what);
    return NPG_OK;
}

npg_status npg_cu_scan(int dev, npg_op op, const npg_tdesc *out, const npg_tdesc *in, int axis) {
    NPG_CU_CTX(ctx, dev);
    const char *what = npg__op_name(op);
    if (op != NPG_OP_CUMSUM && op != NPG_OP_CUMPROD)
        return npg__set_error(NPG_ERR_UNSUPPORTED, "cuda scan: op %s is not a scan", what);
    /* the 0-d copy below would take any dtype; half is computed in float32 by common */
    if (npg_cu_is_half(in->dtype)) return npg_cu_unsupported(what, in->dtype);
    const bool prod = op == NPG_OP_CUMPROD;
    if (out->dtype == NPG_INT64 && in->dtype != NPG_INT64 && (npg_cu_is_int(in->dtype) || in->dtype == NPG_BOOL)) {
        /* wide_int_scan: into int64 as the elements are read; 0-d as one element of 1-d */
        npg_tdesc o1 = *out, i1 = *in;
        if (in->ndim == 0) {
            o1.ndim = i1.ndim = 1;
            o1.shape[0] = i1.shape[0] = 1;
            o1.strides[0] = i1.strides[0] = 1;
            axis = 0;
        }
        if (axis < 0 || axis >= i1.ndim)
            return npg__set_error(NPG_ERR_AXIS, "cuda %s: axis %d out of range for %d dims", what, axis, in->ndim);
        return npg_cu_dispatch(in->dtype, what, [&](auto tag) -> npg_status {
            constexpr npg_dtype D = decltype(tag)::value;
            if constexpr ((npg_cu_is_int(D) || D == NPG_BOOL) && sizeof(CT<D>) < 8) {
                return prod ? npg_cu_scan_run<npg_cu_scan_wide<D, true>>(ctx, &o1, &i1, axis, what)
                            : npg_cu_scan_run<npg_cu_scan_wide<D, false>>(ctx, &o1, &i1, axis, what);
            } else {
                return npg_cu_unsupported(what, D);
            }
        });
    }
    if (in->ndim == 0) {
        /* a 0-d array is its own scan */
        size_t es = npg__dtype_size(in->dtype);
        NPG_CU_TRY(cudaMemcpyAsync(out->data, in->data, es, cudaMemcpyDeviceToDevice, ctx->stream), what);
        return NPG_OK;
    }
    if (axis < 0 || axis >= in->ndim)
        return npg__set_error(NPG_ERR_AXIS, "cuda %s: axis %d out of range for %d dims", what, axis, in->ndim);
    if (out->dtype != in->dtype)
        return npg__set_error(NPG_ERR_DTYPE, "cuda %s: output dtype %s differs from the input's %s", what,
                              npg_dtype_name(out->dtype), npg_dtype_name(in->dtype));
    auto run = [&](auto tag) -> npg_status {
        constexpr npg_dtype D = decltype(tag)::value;
        return prod ? npg_cu_scan_run<npg_cu_scan_op<D, true>>(ctx, out, in, axis, what)
                    : npg_cu_scan_run<npg_cu_scan_op<D, false>>(ctx, out, in, axis, what);
    };
    if (in->dtype == NPG_FLOAT32) return run(DT<NPG_FLOAT32>{});
    if (in->dtype == NPG_FLOAT64) return run(DT<NPG_FLOAT64>{});
    if (!npg_cu_is_int(in->dtype)) return npg_cu_unsupported(what, in->dtype);
    /* integer sums and products wrap to the same bits for the signed and the
     * unsigned dtype of a width: one kernel set per width */
    switch (npg__dtype_size(in->dtype)) {
    case 1: return run(DT<NPG_UINT8>{});
    case 2: return run(DT<NPG_UINT16>{});
    case 4: return run(DT<NPG_UINT32>{});
    default: return run(DT<NPG_UINT64>{});
    }
}
