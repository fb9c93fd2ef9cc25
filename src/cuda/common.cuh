/*
 * common.cuh — private header of the CUDA backend: error reporting, the
 * per-device context (stream, cuBLAS handle, memory pool, index flag), launch
 * helpers, dtype dispatch and the strided n-d indexer that every kernel
 * family shares.
 *
 * Not here: kernels (one .cu per family), the vtable (backend.cu).
 *
 * Conventions: a context is looked up with NPG_CU_CTX(ctx, dev, what), which
 * makes `dev` current on this thread (cached, no cudaSetDevice when it
 * already is); every launch is followed by NPG_CU_CHECK_LAUNCH(what); every
 * runtime call that can fail goes through NPG_CU_TRY(call, what). All work
 * goes to ctx->stream; nothing here synchronises.
 */
#ifndef NPG_CUDA_COMMON_CUH
#define NPG_CUDA_COMMON_CUH

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stdint.h>

#include <type_traits>

#include "backend.h"
#include "blockcache.h"
#include "scalar_ops.h"

/* ---- errors --------------------------------------------------------------- */

/* Turn a CUDA error into an npg error (OOM -> NPG_ERR_OOM, else NPG_ERR_CUDA)
 * and clear the runtime's last (non-sticky) error so the process carries on. */
npg_status npg_cu_fail(cudaError_t e, const char *what);
npg_status npg_cu_blas_fail(cublasStatus_t s, const char *what);
npg_status npg_cu_unsupported(const char *what, npg_dtype dt);

#define NPG_CU_TRY(call, what)                                   \
    do {                                                         \
        cudaError_t npg_e_ = (call);                             \
        if (npg_e_ != cudaSuccess) return npg_cu_fail(npg_e_, (what)); \
    } while (0)

#define NPG_CU_BLAS_TRY(call, what)                                          \
    do {                                                                     \
        cublasStatus_t npg_s_ = (call);                                      \
        if (npg_s_ != CUBLAS_STATUS_SUCCESS) return npg_cu_blas_fail(npg_s_, (what)); \
    } while (0)

/* Check the launch that just happened (bad configuration, no kernel image). */
#define NPG_CU_CHECK_LAUNCH(what) NPG_CU_TRY(cudaGetLastError(), (what))

/* ---- per-device context ----------------------------------------------------- */

#define NPG_CU_MAX_DEVICES 64

typedef struct npg_cu_ctx {
    int dev;
    cudaStream_t stream;      /* non-blocking; all work of this device */
    cublasHandle_t blas;      /* bound to stream */
    cublasMath_t blas_math;   /* the math mode last set on blas */
    pthread_mutex_t blas_lock; /* a math-mode change and the GEMMs it is for, as one step: threads share blas */
    cudaMemPool_t pool;       /* the device's default pool, release threshold = max */
    int *flag_host;           /* mapped pinned int: "a kernel saw an index out of range" */
    int *flag_dev;            /* the same int as the device sees it */
    int sm_count;
    int max_threads_per_sm;
    char name[128]; /* as npg_device_info.name */
    npg_block_cache cache;    /* freed array blocks, reused without an allocator call */
    void *reduce_buf;         /* single-pass reductions: a counter, then partials (reduce.cu) */
    size_t reduce_buf_bytes;
} npg_cu_ctx;

/* reduce_buf: NPG_CU_REDUCE_PARTIALS_PER_SM partial accumulators of at most
 * 16 bytes per SM, after a 256-byte slot holding the retirement counter.
 * The rows kernel is compiled for that many resident blocks per SM
 * (__launch_bounds__), so a full reduction's blocks run in one wave: with 8
 * it used 70 registers, 3 blocks fitted per SM and the 8 per SM ran in three
 * waves (0.68 of the copy bandwidth on an H100). */
#define NPG_CU_REDUCE_PARTIALS_PER_SM 4
#define NPG_CU_REDUCE_BUF_BYTES(sms) ((size_t)256 + (size_t)16 * NPG_CU_REDUCE_PARTIALS_PER_SM * (size_t)(sms))

/* The context of `dev`, created on first use; makes dev current on this
 * thread. Returns NPG_OK or an error (already recorded). */
npg_status npg_cu_ctx_get(int dev, npg_cu_ctx **out);

#define NPG_CU_CTX(ctx, dev)                          \
    npg_cu_ctx *ctx = NULL;                           \
    do {                                              \
        npg_status npg_st_ = npg_cu_ctx_get((dev), &ctx); \
        if (npg_st_ != NPG_OK) return npg_st_;        \
    } while (0)

/* Stream-ordered scratch of `nbytes` from the device's block cache or pool.
 * Give it back with npg_cu_scratch_free(ctx, p, nbytes), the same nbytes,
 * right after the last launch that uses it: the next user of the block is
 * ordered after that launch on the device's one stream. */
npg_status npg_cu_scratch(npg_cu_ctx *ctx, size_t nbytes, void **out, const char *what);
void npg_cu_scratch_free(npg_cu_ctx *ctx, void *p, size_t nbytes);

/* ---- launch helpers ----------------------------------------------------------- */

static inline __host__ __device__ int64_t npg_cu_cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* Blocks for a grid-stride loop over `work` items with `threads` per block:
 * enough to fill the device several times over, never more than needed. */
static inline unsigned npg_cu_grid(const npg_cu_ctx *ctx, int64_t work, int threads) {
    int64_t want = npg_cu_cdiv(work > 0 ? work : 1, threads);
    int64_t cap = (int64_t)ctx->sm_count * (ctx->max_threads_per_sm / threads) * 8;
    if (cap < 1) cap = 1;
    return (unsigned)(want < cap ? want : cap);
}

/* ---- dtypes ------------------------------------------------------------------- */

template <npg_dtype D> struct DT { static constexpr npg_dtype value = D; };
template <npg_dtype D> struct CTypeOf;
template <> struct CTypeOf<NPG_BOOL> { typedef uint8_t type; };
template <> struct CTypeOf<NPG_UINT8> { typedef uint8_t type; };
template <> struct CTypeOf<NPG_INT32> { typedef int32_t type; };
template <> struct CTypeOf<NPG_INT64> { typedef int64_t type; };
template <> struct CTypeOf<NPG_FLOAT32> { typedef float type; };
template <> struct CTypeOf<NPG_FLOAT64> { typedef double type; };
template <> struct CTypeOf<NPG_INT8> { typedef int8_t type; };
template <> struct CTypeOf<NPG_INT16> { typedef int16_t type; };
template <> struct CTypeOf<NPG_UINT16> { typedef uint16_t type; };
template <> struct CTypeOf<NPG_UINT32> { typedef uint32_t type; };
template <> struct CTypeOf<NPG_UINT64> { typedef uint64_t type; };
/* float16 / bfloat16 are their bit patterns: both uint16_t, so anything that
 * interprets them goes by dtype (npg_cu_convert), never by C type. */
template <> struct CTypeOf<NPG_FLOAT16> { typedef uint16_t type; };
template <> struct CTypeOf<NPG_BFLOAT16> { typedef uint16_t type; };
template <npg_dtype D> using CT = typename CTypeOf<D>::type;

static inline __host__ __device__ constexpr bool npg_cu_is_half(npg_dtype d) {
    return d == NPG_FLOAT16 || d == NPG_BFLOAT16;
}

static inline __host__ __device__ constexpr bool npg_cu_is_float(npg_dtype d) {
    return d == NPG_FLOAT32 || d == NPG_FLOAT64;
}

/* An integer dtype (not bool, not a float). */
static inline __host__ __device__ constexpr bool npg_cu_is_int(npg_dtype d) {
    return d == NPG_UINT8 || d == NPG_INT32 || d == NPG_INT64 || d == NPG_INT8 || d == NPG_INT16 ||
           d == NPG_UINT16 || d == NPG_UINT32 || d == NPG_UINT64;
}

/* The unsigned integer dtype of `bytes` bytes (1, 2, 4 or 8). */
static inline __host__ __device__ constexpr npg_dtype npg_cu_uint_of_size(size_t bytes) {
    return bytes == 1 ? NPG_UINT8 : bytes == 2 ? NPG_UINT16 : bytes == 4 ? NPG_UINT32 : NPG_UINT64;
}

/* Integer dtype D as the unsigned dtype of its width (others unchanged).
 * Ops that treat integers as bit patterns modulo 2^n (wrapping +, -, *,
 * bitwise ops, ==, != and tests against 0, moves) give the same bits for
 * both, so signed and unsigned dtypes of one width share an instantiation. */
template <npg_dtype D> static constexpr npg_dtype npg_cu_int_bits_v =
    npg_cu_is_int(D) ? npg_cu_uint_of_size(sizeof(typename CTypeOf<D>::type)) : D;

/* Call fn(DT<D>{}) for the dtype `dt` (bool, the integers, float32,
 * float64); the half dtypes and unknown ones are NPG_ERR_UNSUPPORTED naming
 * `what` (the entries that take them dispatch them themselves, backend.h).
 * fn returns npg_status. */
template <class Fn> npg_status npg_cu_dispatch(npg_dtype dt, const char *what, Fn &&fn) {
    switch (dt) {
    case NPG_BOOL: return fn(DT<NPG_BOOL>{});
    case NPG_UINT8: return fn(DT<NPG_UINT8>{});
    case NPG_INT32: return fn(DT<NPG_INT32>{});
    case NPG_INT64: return fn(DT<NPG_INT64>{});
    case NPG_FLOAT32: return fn(DT<NPG_FLOAT32>{});
    case NPG_FLOAT64: return fn(DT<NPG_FLOAT64>{});
    case NPG_INT8: return fn(DT<NPG_INT8>{});
    case NPG_INT16: return fn(DT<NPG_INT16>{});
    case NPG_UINT16: return fn(DT<NPG_UINT16>{});
    case NPG_UINT32: return fn(DT<NPG_UINT32>{});
    case NPG_UINT64: return fn(DT<NPG_UINT64>{});
    default: return npg_cu_unsupported(what, dt);
    }
}

/* npg_cu_dispatch plus float16 and bfloat16: for fill and copy, whose
 * bodies touch half elements through npg_cu_host_value / npg_cu_convert. */
template <class Fn> npg_status npg_cu_dispatch_storage(npg_dtype dt, const char *what, Fn &&fn) {
    switch (dt) {
    case NPG_FLOAT16: return fn(DT<NPG_FLOAT16>{});
    case NPG_BFLOAT16: return fn(DT<NPG_BFLOAT16>{});
    default: return npg_cu_dispatch(dt, what, fn);
    }
}

/* float16 <-> float32 on the device by the conversion instructions (as
 * cuda_fp16.h's __half2float / __float2half_rn): both are exact or
 * correctly rounded (nearest even, no flush), so they give scalar_ops.h's
 * bits for every value but NaN, whose payload the software conversions keep
 * (the CPU's bits) and the instructions replace; NaN takes the software
 * path. The software float16 conversions cost ~10-20 integer operations per
 * element: float16 add on 16M elements ran at 0.79 of the copy bandwidth on
 * an H100 (bfloat16, a shift: 1.04). */
#if defined(__CUDA_ARCH__)
__device__ __forceinline__ float npg_cu_f16_to_f32_hw(uint16_t h) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
}
__device__ __forceinline__ uint16_t npg_cu_f32_to_f16_hw(float f) {
    uint16_t h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
    return h;
}
#endif

/* Half bits of dtype D -> float32, exact. */
template <npg_dtype D> __host__ __device__ __forceinline__ float npg_cu_half_to_f32(uint16_t x) {
    if constexpr (D == NPG_FLOAT16) {
#if defined(__CUDA_ARCH__)
        if ((x & 0x7fffu) <= 0x7c00u) return npg_cu_f16_to_f32_hw(x); /* not NaN */
#endif
        return npg_s_f16_to_f32(x);
    } else {
        return npg_s_bf16_to_f32(x);
    }
}

/* x of a non-half dtype DI -> half bits of dtype D, rounded once: from
 * float32 directly, anything else through double (as the CPU backend). */
template <npg_dtype D, npg_dtype DI> __host__ __device__ __forceinline__ uint16_t npg_cu_to_half(CT<DI> x) {
    if constexpr (DI == NPG_FLOAT32) {
        if constexpr (D == NPG_FLOAT16) {
#if defined(__CUDA_ARCH__)
            if (x == x) return npg_cu_f32_to_f16_hw(x); /* not NaN */
#endif
            return npg_s_f32_to_f16(x);
        } else {
            return npg_s_f32_to_bf16(x);
        }
    }
    else if constexpr (DI == NPG_FLOAT64) return D == NPG_FLOAT16 ? npg_s_f64_to_f16(x) : npg_s_f64_to_bf16(x);
    else { /* bool and the integers: through a double rounded to odd, one rounding (as the CPU) */
        const double v = DI == NPG_UINT64 ? npg_s_u64_to_f64_odd((uint64_t)x) : npg_s_i64_to_f64_odd((int64_t)x);
        return D == NPG_FLOAT16 ? npg_s_f64_to_f16(v) : npg_s_f64_to_bf16(v);
    }
}

/* Element conversion DI -> DO with backend.h's copy semantics. A half input
 * widens to float32 and converts on from there, so half -> bool reads -0.0
 * as false and half -> int truncates like float32 -> int. */
template <npg_dtype DO, npg_dtype DI> __host__ __device__ __forceinline__ CT<DO> npg_cu_convert(CT<DI> x) {
    constexpr bool in_f = DI == NPG_FLOAT32 || DI == NPG_FLOAT64;
    if constexpr (DO == DI) return x; /* half too: a bit copy */
    else if constexpr (npg_cu_is_half(DI)) return npg_cu_convert<DO, NPG_FLOAT32>(npg_cu_half_to_f32<DI>(x));
    else if constexpr (npg_cu_is_half(DO)) return npg_cu_to_half<DO, DI>(x);
    else if constexpr (DO == NPG_BOOL) return (uint8_t)(x != 0);
    else if constexpr (DO == NPG_FLOAT32 && DI == NPG_FLOAT64) return npg_s_f64_to_f32(x); /* NaN bits as the CPU's */
    else if constexpr (DO == NPG_FLOAT64 && DI == NPG_FLOAT32) return npg_s_f32_to_f64(x);
    else if constexpr (DO == NPG_FLOAT32) return (float)x; /* uint64 too: rounded once */
    else if constexpr (DO == NPG_FLOAT64) return (double)x;
    else if constexpr (in_f) {
        /* truncate, saturate, NaN -> 0 */
        if constexpr (DO == NPG_INT64) return npg_s_f64_to_i64((double)x);
        else if constexpr (DO == NPG_INT32) return npg_s_f64_to_i32((double)x);
        else if constexpr (DO == NPG_INT16) return npg_s_f64_to_i16((double)x);
        else if constexpr (DO == NPG_INT8) return npg_s_f64_to_i8((double)x);
        else if constexpr (DO == NPG_UINT64) return npg_s_f64_to_u64((double)x);
        else if constexpr (DO == NPG_UINT32) return npg_s_f64_to_u32((double)x);
        else if constexpr (DO == NPG_UINT16) return npg_s_f64_to_u16((double)x);
        else {
            static_assert(DO == NPG_UINT8, "npg_cu_convert: unhandled dtype");
            return npg_s_f64_to_u8((double)x);
        }
    } else {
        /* integer or bool (0/1) in, integer out: wrap through int64 (uint64
         * in: its bits as int64) */
        const int64_t v = (int64_t)x;
        if constexpr (DO == NPG_INT64) return v;
        else if constexpr (DO == NPG_INT32) return npg_s_i64_to_i32(v);
        else if constexpr (DO == NPG_INT16) return npg_s_i64_to_i16(v);
        else if constexpr (DO == NPG_INT8) return npg_s_i64_to_i8(v);
        else if constexpr (DO == NPG_UINT64) return npg_s_i64_to_u64(v);
        else if constexpr (DO == NPG_UINT32) return npg_s_i64_to_u32(v);
        else if constexpr (DO == NPG_UINT16) return npg_s_i64_to_u16(v);
        else {
            static_assert(DO == NPG_UINT8, "npg_cu_convert: unhandled dtype");
            return npg_s_i64_to_u8(v);
        }
    }
}

/* value -> dtype D the way a weak scalar / fill value is read (backend.h):
 * floats and the half types from `f`, integers from `i` (wrapping), bool as
 * i != 0: npg_cu_convert's rules, so kernels and scalars agree. */
template <npg_dtype D> static inline CT<D> npg_cu_host_value(double f, int64_t i) {
    if constexpr (npg_cu_is_float(D) || npg_cu_is_half(D)) return npg_cu_convert<D, NPG_FLOAT64>(f);
    else return npg_cu_convert<D, NPG_INT64>(i);
}

/* ---- the strided indexer ------------------------------------------------------------ */

/* Fast unsigned 32-bit division by a run-time constant (the round-up method
 * PyTorch uses): valid for n < 2^31 and 1 <= d <= 2^31. */
static inline void npg_cu_magic(uint32_t d, uint32_t *mag, uint32_t *shift) {
    uint32_t s = 0;
    while (s < 32 && (1ull << s) < d) s++;
    uint64_t m = ((1ull << 32) * ((1ull << s) - d)) / d + 1;
    *mag = (uint32_t)m;
    *shift = s;
}

/* Geometry of an n-d iteration over `size` (row-major linear index i) with N
 * operands' element strides. Built on the host, passed to kernels by value.
 * Dims are coalesced and size-1 dims dropped, so ndim is often 1. */
template <int N> struct npg_cu_geo {
    int ndim;
    int small;                 /* numel < 2^31: 32-bit magic division */
    int64_t size[NPG_MAX_DIMS];
    uint32_t mag[NPG_MAX_DIMS];
    uint32_t shf[NPG_MAX_DIMS];
    int64_t st[N][NPG_MAX_DIMS];
};

/* Build geo over (ndim, shape) with strides[k] the strides of operand k (NULL:
 * all zero, e.g. a weak scalar). Returns numel. */
template <int N>
static int64_t npg_cu_geo_init(npg_cu_geo<N> &g, int ndim, const int64_t *shape, const int64_t *const *strides) {
    int64_t sz[NPG_MAX_DIMS], st[N][NPG_MAX_DIMS];
    int nd = 0;
    int64_t numel = 1;
    for (int d = 0; d < ndim; d++) {
        numel *= shape[d];
        if (shape[d] == 1) continue;
        /* merge into the previous kept dim when every operand is contiguous across them */
        bool merge = nd > 0;
        for (int k = 0; k < N && merge; k++) {
            int64_t s = strides[k] ? strides[k][d] : 0;
            if (st[k][nd - 1] != s * shape[d]) merge = false;
        }
        if (merge) {
            sz[nd - 1] *= shape[d];
            for (int k = 0; k < N; k++) st[k][nd - 1] = strides[k] ? strides[k][d] : 0;
            continue;
        }
        sz[nd] = shape[d];
        for (int k = 0; k < N; k++) st[k][nd] = strides[k] ? strides[k][d] : 0;
        nd++;
    }
    g.ndim = nd;
    /* 32-bit index math when every index fits; with a zero-length dim the
     * other dims can still pass 2^32 (an empty array of shape (2^50, 0)) */
    g.small = numel < (int64_t)INT32_MAX;
    for (int d = 0; d < nd; d++)
        if (sz[d] >= (int64_t)INT32_MAX) g.small = false;
    for (int d = 0; d < NPG_MAX_DIMS; d++) {
        g.size[d] = d < nd ? sz[d] : 1;
        g.mag[d] = 1;
        g.shf[d] = 0;
        if (d < nd && g.small && sz[d] > 0) npg_cu_magic((uint32_t)sz[d], &g.mag[d], &g.shf[d]);
        for (int k = 0; k < N; k++) g.st[k][d] = d < nd ? st[k][d] : 0;
    }
    return numel;
}

/* Element offsets of linear index i for every operand. */
template <int N>
__device__ __forceinline__ void npg_cu_offsets(const npg_cu_geo<N> &g, int64_t i, int64_t (&off)[N]) {
#pragma unroll
    for (int k = 0; k < N; k++) off[k] = 0;
    if (g.ndim == 0) return;
    if (g.small) {
        uint32_t r = (uint32_t)i;
        for (int d = g.ndim - 1; d >= 1; d--) {
            uint32_t q = (__umulhi(r, g.mag[d]) + r) >> g.shf[d];
            int64_t c = (int64_t)(r - q * (uint32_t)g.size[d]);
#pragma unroll
            for (int k = 0; k < N; k++) off[k] += c * g.st[k][d];
            r = q;
        }
#pragma unroll
        for (int k = 0; k < N; k++) off[k] += (int64_t)r * g.st[k][0];
    } else {
        int64_t r = i;
        for (int d = g.ndim - 1; d >= 1; d--) {
            int64_t q = r / g.size[d];
            int64_t c = r - q * g.size[d];
#pragma unroll
            for (int k = 0; k < N; k++) off[k] += c * g.st[k][d];
            r = q;
        }
#pragma unroll
        for (int k = 0; k < N; k++) off[k] += r * g.st[k][0];
    }
}

/* ---- vector loads and stores ------------------------------------------------------- */

template <int B> struct npg_cu_raw;
template <> struct npg_cu_raw<1> { typedef uint8_t type; };
template <> struct npg_cu_raw<2> { typedef uint16_t type; };
template <> struct npg_cu_raw<4> { typedef uint32_t type; };
template <> struct npg_cu_raw<8> { typedef uint2 type; };
template <> struct npg_cu_raw<16> { typedef uint4 type; };

/* r[0..V) = p[0..V); p aligned to V * sizeof(T) when V > 1. */
template <int V, class T> __device__ __forceinline__ void npg_cu_vload(T (&r)[V], const T *p) {
    if constexpr (V == 1) {
        r[0] = *p;
    } else {
        typedef typename npg_cu_raw<V * sizeof(T)>::type R;
        union {
            R raw;
            T v[V];
        } u;
        u.raw = *reinterpret_cast<const R *>(p);
#pragma unroll
        for (int k = 0; k < V; k++) r[k] = u.v[k];
    }
}

/* p[0..V) = x[0..V); p aligned to V * sizeof(T) when V > 1. */
template <int V, class T> __device__ __forceinline__ void npg_cu_vstore(T *p, const T (&x)[V]) {
    if constexpr (V == 1) {
        *p = x[0];
    } else {
        typedef typename npg_cu_raw<V * sizeof(T)>::type R;
        union {
            R raw;
            T v[V];
        } u;
#pragma unroll
        for (int k = 0; k < V; k++) u.v[k] = x[k];
        *reinterpret_cast<R *>(p) = u.raw;
    }
}

/* Record "index out of range" for the next synchronising call. */
__device__ __forceinline__ void npg_cu_set_flag(int *flag) { *(volatile int *)flag = 1; }

/* ---- the entries each family file defines (backend.cu puts them in the vtable) ---- */
npg_status npg_cu_fill(int dev, const npg_tdesc *out, double value, int64_t ivalue);
npg_status npg_cu_copy(int dev, const npg_tdesc *out, const npg_tdesc *in);
npg_status npg_cu_where(int dev, const npg_tdesc *out, const npg_tdesc *cond, const npg_tdesc *a, const npg_tdesc *b);
npg_status npg_cu_unary(int dev, npg_op op, const npg_tdesc *out, const npg_tdesc *in, const npg_kparams *p);
npg_status npg_cu_binary(int dev, npg_op op, const npg_tdesc *out, const npg_tdesc *a, const npg_tdesc *b);
npg_status npg_cu_reduce(int dev, npg_op op, const npg_tdesc *out, const npg_tdesc *in, int nred);
npg_status npg_cu_scan(int dev, npg_op op, const npg_tdesc *out, const npg_tdesc *in, int axis);
npg_status npg_cu_gather(int dev, const npg_tdesc *out, const npg_tdesc *in, const npg_tdesc *idx, int axis);
npg_status npg_cu_scatter_add(int dev, const npg_tdesc *out, const npg_tdesc *src, const npg_tdesc *idx, int axis);
npg_status npg_cu_nonzero(int dev, const npg_tdesc *out, const npg_tdesc *in);
npg_status npg_cu_sort(int dev, const npg_tdesc *values, const npg_tdesc *indices, const npg_tdesc *in,
                       bool descending);
npg_status npg_cu_matmul(int dev, const npg_tdesc *out, const npg_tdesc *a, const npg_tdesc *b, bool allow_tf32);
npg_status npg_cu_random(int dev, npg_op op, const npg_tdesc *out, uint64_t seed, uint64_t offset,
                         const npg_kparams *p);
/* The fused neural-network entries (nn.cu: rows and optimizers; conv.cu:
 * im2col and pooling). */
npg_status npg_cu_softmax(int dev, const npg_tdesc *out, const npg_tdesc *in, bool log);
npg_status npg_cu_softmax_backward(int dev, const npg_tdesc *gin, const npg_tdesc *g, const npg_tdesc *y, bool log);
npg_status npg_cu_cross_entropy(int dev, const npg_tdesc *loss, const npg_tdesc *lse, const npg_tdesc *x,
                                const npg_tdesc *labels, double eps, bool has_ignore, int64_t ignore_index);
npg_status npg_cu_cross_entropy_backward(int dev, const npg_tdesc *gx, const npg_tdesc *gloss, const npg_tdesc *x,
                                         const npg_tdesc *lse, const npg_tdesc *labels, double eps, bool has_ignore,
                                         int64_t ignore_index);
npg_status npg_cu_im2col(int dev, const npg_tdesc *cols, const npg_tdesc *x, const npg_conv_geom *g);
npg_status npg_cu_col2im(int dev, const npg_tdesc *x, const npg_tdesc *cols, const npg_conv_geom *g);
npg_status npg_cu_pool2d(int dev, bool is_max, const npg_tdesc *out, const npg_tdesc *argmax, const npg_tdesc *x,
                         const npg_conv_geom *g);
npg_status npg_cu_pool2d_backward(int dev, bool is_max, const npg_tdesc *gx, const npg_tdesc *gout,
                                  const npg_tdesc *argmax, const npg_conv_geom *g);
npg_status npg_cu_sgd_step(int dev, const npg_tdesc *param, const npg_tdesc *grad, const npg_tdesc *buf,
                           const npg_sgd_hp *hp);
npg_status npg_cu_adam_step(int dev, const npg_tdesc *param, const npg_tdesc *grad, const npg_tdesc *m,
                            const npg_tdesc *v, const npg_adam_hp *hp);

#endif /* NPG_CUDA_COMMON_CUH */
