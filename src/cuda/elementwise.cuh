/*
 * elementwise.cuh — the two elementwise kernels every elementwise family
 * (fill, copy, where, unary, binary) runs, and their launcher.
 *
 * A family describes one element's work as a Body (typed pointers, weak
 * scalars, the functor) with two methods:
 *   vec<V>(i)   elements i .. i+V-1 of a flat, contiguous iteration: operands
 *               are contiguous (16-byte vector loads/stores), weak scalars or
 *               single broadcast elements
 *   at(off)     one element of a strided iteration, off[k] the element offset
 *               of operand k (operand 0 is the output)
 * and Body::W, the elements per 16-byte vector of its widest type. The
 * launcher picks the vector kernel when the coalesced geometry is flat and
 * every pointer is aligned, else the strided kernel (with ndim <= 1 that one
 * does no division at all).
 */
#ifndef NPG_CUDA_ELEMENTWISE_CUH
#define NPG_CUDA_ELEMENTWISE_CUH

#include "common.cuh"

#include <type_traits>
#include <utility>

/* How an input operand is read. */
enum { NPG_CU_PTR = 0, NPG_CU_SCALAR = 1, NPG_CU_BCAST = 2 };

/* An input operand: a pointer (strided offsets, or contiguous in vec), a
 * weak scalar value, or (vec only) one element broadcast to all. */
template <class T> struct npg_cu_src {
    const T *p;
    T s;
    int mode;

    __device__ __forceinline__ T at(int64_t off) const { return mode == NPG_CU_SCALAR ? s : p[off]; }

    template <int V> __device__ __forceinline__ void load(T (&r)[V], int64_t i) const {
        if (mode == NPG_CU_SCALAR) {
#pragma unroll
            for (int k = 0; k < V; k++) r[k] = s;
        } else if (mode == NPG_CU_BCAST) {
            T x = p[0];
#pragma unroll
            for (int k = 0; k < V; k++) r[k] = x;
        } else {
            npg_cu_vload<V>(r, p + i);
        }
    }
};

/* An input descriptor as a source of dtype D (weak scalars converted per
 * backend.h: floats from d->scalar, integers and bool from d->iscalar). */
template <npg_dtype D> static inline npg_cu_src<CT<D>> npg_cu_src_of(const npg_tdesc *d) {
    npg_cu_src<CT<D>> s;
    s.p = d->is_scalar ? nullptr : (const CT<D> *)d->data;
    s.s = d->is_scalar ? npg_cu_host_value<D>(d->scalar, d->iscalar) : CT<D>(0);
    s.mode = d->is_scalar ? NPG_CU_SCALAR : NPG_CU_PTR;
    return s;
}

/* ---- kernels ------------------------------------------------------------------------ */

/* Flat iteration: n elements, V per thread and step (vector loads), the last
 * n % V elements one per thread. */
template <int V, class Body> __global__ void npg_cu_ew_flat_kernel(const Body body, int64_t n) {
    const int64_t tid = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    const int64_t nthreads = (int64_t)gridDim.x * blockDim.x;
    const int64_t nvec = n / V;
    for (int64_t v = tid; v < nvec; v += nthreads) body.template vec<V>(v * V);
    const int64_t t = nvec * V + tid;
    if (t < n) body.template vec<1>(t);
}

/* Strided iteration: element i of the row-major iteration over g's shape;
 * operand k at offset off[k]. */
template <int N, class Body> __global__ void npg_cu_ew_strided_kernel(const Body body, const npg_cu_geo<N> g, int64_t n) {
    const int64_t tid = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    const int64_t nthreads = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = tid; i < n; i += nthreads) {
        int64_t off[N];
        npg_cu_offsets(g, i, off);
        body.at(off);
    }
}

/* ---- launcher ------------------------------------------------------------------------- */

/* Decide the path for geometry g (operand 0 the output) and set the read
 * mode of each input. ptr[k]: operand k's base pointer (NULL for a weak
 * scalar); esize[k]: its element size. Returns true for the flat path. */
template <int N>
static bool npg_cu_ew_plan(const npg_cu_geo<N> &g, const void *const *ptr, const size_t *esize, int vec_elems,
                           int *mode) {
    bool flat = g.ndim == 0 || (g.ndim == 1 && g.st[0][0] == 1);
    for (int k = 1; k < N && flat; k++) {
        if (!ptr[k]) continue;
        int64_t s = g.ndim == 0 ? 1 : g.st[k][0];
        if (s != 0 && s != 1) flat = false;
    }
    for (int k = 0; k < N && flat; k++) {
        if (!ptr[k]) continue;
        bool bcast = g.ndim == 1 && g.st[k][0] == 0;
        if (!bcast && ((uintptr_t)ptr[k] % (esize[k] * (size_t)vec_elems)) != 0) flat = false;
    }
    for (int k = 0; k < N; k++) {
        if (!ptr[k]) mode[k] = NPG_CU_SCALAR;
        else if (flat && g.ndim == 1 && g.st[k][0] == 0) mode[k] = NPG_CU_BCAST;
        else mode[k] = NPG_CU_PTR;
    }
    return flat;
}

/* Launch body over n elements on ctx's stream: the flat kernel when `flat`,
 * else the strided kernel over g. */
template <int N, class Body>
static npg_status npg_cu_ew_run(npg_cu_ctx *ctx, const Body &body, bool flat, const npg_cu_geo<N> &g, int64_t n,
                                const char *what) {
    const int threads = 256;
    if (flat) {
        npg_cu_ew_flat_kernel<Body::W, Body>
            <<<npg_cu_grid(ctx, npg_cu_cdiv(n, Body::W), threads), threads, 0, ctx->stream>>>(body, n);
    } else {
        npg_cu_ew_strided_kernel<N, Body><<<npg_cu_grid(ctx, n, threads), threads, 0, ctx->stream>>>(body, g, n);
    }
    NPG_CU_CHECK_LAUNCH(what);
    return NPG_OK;
}

/* Geometry and plan of one elementwise call: d[0] is the output (its shape
 * is the iteration shape), d[1..N) the inputs (same ndim, broadcast strides,
 * or weak scalars). */
template <int N> struct npg_cu_ew_setup {
    npg_cu_geo<N> g;
    int64_t n;
    bool flat;
    int mode[N];
};

template <int N> static void npg_cu_ew_prepare(npg_cu_ew_setup<N> &s, const npg_tdesc *const *d, int vec_elems) {
    const int64_t *st[N];
    const void *ptr[N];
    size_t es[N];
    for (int k = 0; k < N; k++) {
        st[k] = d[k]->is_scalar ? nullptr : d[k]->strides;
        ptr[k] = d[k]->is_scalar ? nullptr : d[k]->data;
        es[k] = npg__dtype_size(d[k]->dtype);
    }
    s.n = npg_cu_geo_init(s.g, d[0]->ndim, d[0]->shape, st);
    s.flat = npg_cu_ew_plan(s.g, ptr, es, vec_elems, s.mode);
}

template <class A, class B> struct npg_cu_max_size {
    static constexpr int value = sizeof(A) > sizeof(B) ? (int)sizeof(A) : (int)sizeof(B);
};

/* Detect whether functor F has an overload for dtype D with `Arity` inputs. */
template <class F, npg_dtype D, int Arity, class = void> struct npg_cu_has_op : std::false_type {};
template <class F, npg_dtype D>
struct npg_cu_has_op<F, D, 1, std::void_t<decltype(std::declval<const F &>()(DT<D>{}, std::declval<CT<D>>()))>>
    : std::true_type {};
template <class F, npg_dtype D>
struct npg_cu_has_op<F, D, 2,
                     std::void_t<decltype(std::declval<const F &>()(DT<D>{}, std::declval<CT<D>>(), std::declval<CT<D>>()))>>
    : std::true_type {};

#endif /* NPG_CUDA_ELEMENTWISE_CUH */
