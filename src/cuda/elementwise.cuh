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

/* Whether functor F declares `sign_free`: its results on an integer dtype
 * are the same bits for the signed and the unsigned dtype of that width
 * (wrapping +, -, *, bitwise ops, ==, !=, tests against 0). */
template <class F, class = void> struct npg_cu_sign_free : std::false_type {};
template <class F>
struct npg_cu_sign_free<F, std::void_t<decltype(F::sign_free)>> : std::integral_constant<bool, F::sign_free> {};

/* The dtype whose kernel runs F on dtype D: for a sign_free F an integer D
 * runs as the unsigned dtype of its width (one instantiation per width);
 * otherwise D itself. */
template <class F, npg_dtype D>
static constexpr npg_dtype npg_cu_kernel_dtype = npg_cu_sign_free<F>::value ? npg_cu_int_bits_v<D> : D;

/* ---- float16 / bfloat16 operands ---------------------------------------------------
 * unary and binary ops on the half types run the functor's float32 overload
 * between conversions (scalar_ops.h's, as the CPU backend): each element is
 * widened exactly, computed in float32 and rounded once. DH is the half
 * dtype of the inputs; the output is DH, or bool for CMP / TEST ops. */
template <npg_dtype DH, npg_dtype DO, class R> __device__ __forceinline__ CT<DO> npg_cu_half_result(R r) {
    if constexpr (DO == NPG_BOOL) return (CT<DO>)r;
    else return npg_cu_to_half<DO, NPG_FLOAT32>((float)r);
}

template <class F, npg_dtype DH, npg_dtype DO> struct npg_cu_unary_half_body {
    typedef CT<DO> TO;
    static constexpr int W = 8; /* 16 bytes of half input */
    TO *out;
    npg_cu_src<uint16_t> in;
    F f;

    __device__ __forceinline__ TO one(uint16_t x) const {
        return npg_cu_half_result<DH, DO>(f(DT<NPG_FLOAT32>{}, npg_cu_half_to_f32<DH>(x)));
    }
    template <int V> __device__ __forceinline__ void vec(int64_t i) const {
        uint16_t x[V];
        in.template load<V>(x, i);
        TO y[V];
#pragma unroll
        for (int k = 0; k < V; k++) y[k] = one(x[k]);
        npg_cu_vstore<V>(out + i, y);
    }
    __device__ __forceinline__ void at(const int64_t (&off)[2]) const { out[off[0]] = one(in.at(off[1])); }
};

template <class F, npg_dtype DH, npg_dtype DO> struct npg_cu_binary_half_body {
    typedef CT<DO> TO;
    static constexpr int W = 8;
    TO *out;
    npg_cu_src<uint16_t> a, b;
    F f;

    __device__ __forceinline__ TO one(uint16_t x, uint16_t y) const {
        return npg_cu_half_result<DH, DO>(
            f(DT<NPG_FLOAT32>{}, npg_cu_half_to_f32<DH>(x), npg_cu_half_to_f32<DH>(y)));
    }
    template <int V> __device__ __forceinline__ void vec(int64_t i) const {
        uint16_t x[V], y[V];
        a.template load<V>(x, i);
        b.template load<V>(y, i);
        TO r[V];
#pragma unroll
        for (int k = 0; k < V; k++) r[k] = one(x[k], y[k]);
        npg_cu_vstore<V>(out + i, r);
    }
    __device__ __forceinline__ void at(const int64_t (&off)[3]) const {
        out[off[0]] = one(a.at(off[1]), b.at(off[2]));
    }
};

/* Run Body over out and the inputs d[1..N) of half dtype DH (weak scalars
 * hold the half type's rounding of their value). */
template <int N, class Body, npg_dtype DH, npg_dtype DO>
static npg_status npg_cu_half_run(npg_cu_ctx *ctx, Body &body, const npg_tdesc *const *d, const char *what) {
    npg_cu_ew_setup<N> s;
    npg_cu_ew_prepare<N>(s, d, Body::W);
    if (s.n == 0) return NPG_OK;
    body.out = (CT<DO> *)d[0]->data;
    npg_cu_src<uint16_t> *src[N - 1];
    if constexpr (N == 2) src[0] = &body.in;
    else src[0] = &body.a, src[1] = &body.b;
    for (int k = 1; k < N; k++) {
        *src[k - 1] = npg_cu_src_of<DH>(d[k]);
        src[k - 1]->mode = s.mode[k];
    }
    return npg_cu_ew_run(ctx, body, s.flat, s.g, s.n, what);
}

/* The half-type entry of unary (N = 2) and binary (N = 3) ops: the output
 * dtype checked (bool for predicates, else the input's), then
 * Body<F, DH, DO> run for float16 or bfloat16 (dt). */
template <template <class, npg_dtype, npg_dtype> class Body, int N, class F>
static npg_status npg_cu_half_entry(npg_cu_ctx *ctx, const F &f, npg_dtype dt, const npg_tdesc *const *d,
                                    const char *what) {
    const npg_dtype want = F::bool_out ? NPG_BOOL : dt;
    if (d[0]->dtype != want)
        return npg__set_error(NPG_ERR_DTYPE, "cuda %s: output dtype %s, expected %s", what,
                              npg_dtype_name(d[0]->dtype), npg_dtype_name(want));
    auto go = [&](auto htag) -> npg_status {
        constexpr npg_dtype DH = decltype(htag)::value;
        constexpr npg_dtype DO = F::bool_out ? NPG_BOOL : DH;
        Body<F, DH, DO> body;
        body.f = f;
        return npg_cu_half_run<N, Body<F, DH, DO>, DH, DO>(ctx, body, d, what);
    };
    return dt == NPG_FLOAT16 ? go(DT<NPG_FLOAT16>{}) : go(DT<NPG_BFLOAT16>{});
}

#endif /* NPG_CUDA_ELEMENTWISE_CUH */
