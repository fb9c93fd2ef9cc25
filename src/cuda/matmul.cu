/*
 * matmul.cu — MATMUL: batched matrix products out = a @ b.
 *
 * float32/float64 go to cuBLAS. cuBLAS is column-major, so the row-major
 * product C = A B is computed as C^T = B^T A^T: b is cuBLAS's first operand,
 * a its second, m = N, n = M, ldc = N; each operand's strides say whether it
 * is presented untransposed (row-major in memory) or transposed. Batch dims
 * are coalesced: one uniform batch stride per operand (0 allowed) is a single
 * cublas?gemmStridedBatched call (plain cublas?gemm for one matrix); anything
 * else loops over the outer batch dims on the host (still asynchronous).
 * Math mode: CUBLAS_DEFAULT_MATH (true fp32), CUBLAS_TF32_TENSOR_OP_MATH for
 * float32 when allow_tf32. float16 / bfloat16 (the backend's half_matmul):
 * cublasGemmEx, float32 accumulation, no reduced-precision reductions.
 *
 * The integers (wrapping, through unsigned arithmetic: uint32 for 8- to
 * 32-bit types, uint64 for 64-bit ones, as the CPU backend) and bool (OR of
 * ANDs) use a plain 16x16 shared-memory tiled kernel, one per integer width
 * (signed and unsigned products wrap to the same bits). K == 0 gives zeros.
 */
#include "common.cuh"

#include <limits.h>

#include <algorithm>

/* ---- integer / bool kernel ------------------------------------------------------------- */

#define NPG_CU_MM_TILE 16

template <npg_dtype D> struct npg_cu_mm_acc {
    typedef std::conditional_t<sizeof(CT<D>) == 8, uint64_t, uint32_t> U;
    static __device__ __forceinline__ U madd(U acc, CT<D> x, CT<D> y) {
        if constexpr (D == NPG_BOOL) return acc | (U)((x != 0) & (y != 0));
        else return acc + (U)x * (U)y; /* wraps: two's complement */
    }
};

/* out: (B, M, N) contiguous via bg operand 0; a: (B, M, K) strides (sam, sak);
 * b: (B, K, N) strides (sbk, sbn); bg: batch geometry (out, a, b). */
template <npg_dtype D>
__global__ void npg_cu_matmul_int_kernel(CT<D> *out, const CT<D> *a, const CT<D> *b, int64_t M, int64_t N, int64_t K,
                                         int64_t sam, int64_t sak, int64_t sbk, int64_t sbn, const npg_cu_geo<3> bg,
                                         int64_t nbatch) {
    typedef CT<D> T;
    typedef typename npg_cu_mm_acc<D>::U U;
    __shared__ T as[NPG_CU_MM_TILE][NPG_CU_MM_TILE + 1];
    __shared__ T bs[NPG_CU_MM_TILE][NPG_CU_MM_TILE + 1];
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int64_t mblocks = npg_cu_cdiv(M, NPG_CU_MM_TILE);
    for (int64_t z = blockIdx.z; z < nbatch; z += gridDim.z) {
        int64_t off[3];
        npg_cu_offsets(bg, z, off);
        for (int64_t mb = blockIdx.y; mb < mblocks; mb += gridDim.y) {
            const int64_t row = mb * NPG_CU_MM_TILE + ty, col = (int64_t)blockIdx.x * NPG_CU_MM_TILE + tx;
            U acc = 0;
            for (int64_t k0 = 0; k0 < K; k0 += NPG_CU_MM_TILE) {
                as[ty][tx] = (row < M && k0 + tx < K) ? a[off[1] + row * sam + (k0 + tx) * sak] : T(0);
                bs[ty][tx] = (k0 + ty < K && col < N) ? b[off[2] + (k0 + ty) * sbk + col * sbn] : T(0);
                __syncthreads();
#pragma unroll
                for (int kk = 0; kk < NPG_CU_MM_TILE; kk++) acc = npg_cu_mm_acc<D>::madd(acc, as[ty][kk], bs[kk][tx]);
                __syncthreads();
            }
            if (row < M && col < N) out[off[0] + row * N + col] = (T)acc;
        }
    }
}

/* ---- cuBLAS path ---------------------------------------------------------------------------- */

/* Present X (rows x cols, strides s_row, s_col) as op(X_cm) = X^T in
 * column-major terms: untransposed when X is row-major in memory, else
 * transposed. False when neither layout is a valid BLAS matrix. */
static bool npg_cu_blas_layout(int64_t s_row, int64_t s_col, int64_t rows, int64_t cols, cublasOperation_t *op,
                               int64_t *ld) {
    if (s_col == 1 || cols == 1) {
        int64_t l = rows == 1 ? std::max<int64_t>(1, cols) : s_row;
        if (l >= std::max<int64_t>(1, cols)) {
            *op = CUBLAS_OP_N;
            *ld = l;
            return true;
        }
    }
    if (s_row == 1 || rows == 1) {
        int64_t l = cols == 1 ? std::max<int64_t>(1, rows) : s_col;
        if (l >= std::max<int64_t>(1, rows)) {
            *op = CUBLAS_OP_T;
            *ld = l;
            return true;
        }
    }
    return false;
}

/* Host twin of npg_cu_offsets (64-bit division). */
template <int N> static void npg_cu_host_offsets(const npg_cu_geo<N> &g, int64_t i, int64_t (&off)[N]) {
    for (int k = 0; k < N; k++) off[k] = 0;
    for (int d = g.ndim - 1; d >= 0; d--) {
        const int64_t c = d == 0 ? i : i % g.size[d];
        for (int k = 0; k < N; k++) off[k] += c * g.st[k][d];
        i = d == 0 ? 0 : i / g.size[d];
    }
}

struct npg_cu_gemm {
    cublasOperation_t opa, opb; /* cuBLAS's A = our b, B = our a */
    int m, n, k;
    int64_t lda, ldb, ldc;
};

/* One GEMM (count == 1) or a strided batch. float16 / bfloat16 go through
 * cublasGemmEx with float32 accumulation (tensor cores), the result rounded
 * once to the half type: npg's semantics for the half types (src/common/
 * half.c), with cuBLAS's summation order. */
template <npg_dtype D>
static cublasStatus_t npg_cu_gemm_call(cublasHandle_t h, const npg_cu_gemm &p, const CT<D> *bp, int64_t sb,
                                       const CT<D> *ap, int64_t sa, CT<D> *cp, int64_t sc, int64_t count) {
    if constexpr (D == NPG_FLOAT16 || D == NPG_BFLOAT16) {
        const cudaDataType t = D == NPG_FLOAT16 ? CUDA_R_16F : CUDA_R_16BF;
        const float one = 1, zero = 0;
        if (count == 1)
            return cublasGemmEx(h, p.opa, p.opb, p.m, p.n, p.k, &one, bp, t, (int)p.lda, ap, t, (int)p.ldb, &zero, cp,
                                t, (int)p.ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
        return cublasGemmStridedBatchedEx(h, p.opa, p.opb, p.m, p.n, p.k, &one, bp, t, (int)p.lda, sb, ap, t,
                                          (int)p.ldb, sa, &zero, cp, t, (int)p.ldc, sc, (int)count, CUBLAS_COMPUTE_32F,
                                          CUBLAS_GEMM_DEFAULT);
    } else if constexpr (D == NPG_FLOAT32) {
        const float one = 1, zero = 0;
        if (count == 1)
            return cublasSgemm(h, p.opa, p.opb, p.m, p.n, p.k, &one, bp, (int)p.lda, ap, (int)p.ldb, &zero, cp,
                               (int)p.ldc);
        return cublasSgemmStridedBatched(h, p.opa, p.opb, p.m, p.n, p.k, &one, bp, (int)p.lda, sb, ap, (int)p.ldb, sa,
                                         &zero, cp, (int)p.ldc, sc, (int)count);
    } else {
        static_assert(D == NPG_FLOAT64, "npg_cu_gemm_call: a BLAS dtype");
        const double one = 1, zero = 0;
        if (count == 1)
            return cublasDgemm(h, p.opa, p.opb, p.m, p.n, p.k, &one, bp, (int)p.lda, ap, (int)p.ldb, &zero, cp,
                               (int)p.ldc);
        return cublasDgemmStridedBatched(h, p.opa, p.opb, p.m, p.n, p.k, &one, bp, (int)p.lda, sb, ap, (int)p.ldb, sa,
                                         &zero, cp, (int)p.ldc, sc, (int)count);
    }
}

template <npg_dtype D>
static npg_status npg_cu_matmul_blas(npg_cu_ctx *ctx, const npg_tdesc *out, const npg_tdesc *a, const npg_tdesc *b,
                                     const npg_cu_geo<3> &bg, int64_t nbatch, int64_t M, int64_t N, int64_t K,
                                     bool allow_tf32) {
    const int nd = out->ndim;
    npg_cu_gemm p;
    int64_t lda, ldb;
    if (!npg_cu_blas_layout(b->strides[nd - 2], b->strides[nd - 1], K, N, &p.opa, &lda) ||
        !npg_cu_blas_layout(a->strides[nd - 2], a->strides[nd - 1], M, K, &p.opb, &ldb))
        return npg__set_error(NPG_ERR_UNSUPPORTED,
                              "cuda matmul: operand strides (%lld,%lld) and (%lld,%lld) are not a BLAS layout",
                              (long long)a->strides[nd - 2], (long long)a->strides[nd - 1],
                              (long long)b->strides[nd - 2], (long long)b->strides[nd - 1]);
    if (M > INT_MAX || N > INT_MAX || K > INT_MAX || lda > INT_MAX || ldb > INT_MAX)
        return npg__set_error(NPG_ERR_UNSUPPORTED, "cuda matmul: matrix dims beyond 2^31 - 1");
    p.m = (int)N;
    p.n = (int)M;
    p.k = (int)K;
    p.lda = lda;
    p.ldb = ldb;
    p.ldc = N;

    /* half types: split-K partial sums stay in float32 (cuBLAS may otherwise
     * reduce them in the output type, rounding more than once) */
    const cublasMath_t math =
        (D == NPG_FLOAT32 && allow_tf32)          ? CUBLAS_TF32_TENSOR_OP_MATH
        : (D == NPG_FLOAT16 || D == NPG_BFLOAT16) ? (cublasMath_t)(CUBLAS_DEFAULT_MATH |
                                                                   CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION)
                                                  : CUBLAS_DEFAULT_MATH;
    /* the handle is shared by every thread: no other thread may change its
     * math mode between ours and the GEMMs that rely on it */
    struct blas_guard {
        pthread_mutex_t *m;
        explicit blas_guard(pthread_mutex_t *mu) : m(mu) { pthread_mutex_lock(m); }
        ~blas_guard() { pthread_mutex_unlock(m); }
    } guard(&ctx->blas_lock);
    if (ctx->blas_math != math) {
        NPG_CU_BLAS_TRY(cublasSetMathMode(ctx->blas, math), "matmul");
        ctx->blas_math = math;
    }
    /* innermost coalesced batch dim -> one strided-batched call; outer dims -> host loop */
    const int inner = bg.ndim - 1;
    const int64_t count = bg.ndim ? bg.size[inner] : 1;
    const int64_t sc = bg.ndim ? bg.st[0][inner] : M * N;
    const int64_t sa = bg.ndim ? bg.st[1][inner] : 0;
    const int64_t sb = bg.ndim ? bg.st[2][inner] : 0;
    npg_cu_geo<3> outer = bg;
    if (bg.ndim) outer.ndim = inner;
    const int64_t nouter = nbatch / count;
    for (int64_t o = 0; o < nouter; o++) {
        int64_t off[3];
        npg_cu_host_offsets(outer, o, off);
        for (int64_t c0 = 0; c0 < count; c0 += INT_MAX) {
            const int64_t cnt = std::min<int64_t>(count - c0, INT_MAX);
            typedef CT<D> T;
            cublasStatus_t s = npg_cu_gemm_call<D>(ctx->blas, p, (const T *)b->data + off[2] + c0 * sb, sb,
                                                   (const T *)a->data + off[1] + c0 * sa, sa,
                                                   (T *)out->data + off[0] + c0 * sc, sc, cnt);
            if (s != CUBLAS_STATUS_SUCCESS) return npg_cu_blas_fail(s, "matmul");
        }
    }
    return NPG_OK;
}

/* ---- entry ------------------------------------------------------------------------------------ */

npg_status npg_cu_matmul(int dev, const npg_tdesc *out, const npg_tdesc *a, const npg_tdesc *b, bool allow_tf32) {
    NPG_CU_CTX(ctx, dev);
    const int nd = out->ndim;
    if (nd < 2 || a->ndim != nd || b->ndim != nd)
        return npg__set_error(NPG_ERR_SHAPE, "cuda matmul: operands must have the output's ndim (%d) >= 2", nd);
    if (a->dtype != out->dtype || b->dtype != out->dtype)
        return npg__set_error(NPG_ERR_DTYPE, "cuda matmul: dtypes %s @ %s -> %s must agree", npg_dtype_name(a->dtype),
                              npg_dtype_name(b->dtype), npg_dtype_name(out->dtype));
    const int64_t M = out->shape[nd - 2], N = out->shape[nd - 1], K = a->shape[nd - 1];
    const int64_t *st[3] = {out->strides, a->strides, b->strides};
    npg_cu_geo<3> bg;
    const int64_t nbatch = npg_cu_geo_init(bg, nd - 2, out->shape, st);
    if (nbatch == 0 || M == 0 || N == 0) return NPG_OK;
    if (K == 0) {
        NPG_CU_TRY(cudaMemsetAsync(out->data, 0, (size_t)(nbatch * M * N) * npg__dtype_size(out->dtype), ctx->stream),
                   "matmul");
        return NPG_OK;
    }
    switch (out->dtype) {
    case NPG_FLOAT32: return npg_cu_matmul_blas<NPG_FLOAT32>(ctx, out, a, b, bg, nbatch, M, N, K, allow_tf32);
    case NPG_FLOAT64: return npg_cu_matmul_blas<NPG_FLOAT64>(ctx, out, a, b, bg, nbatch, M, N, K, allow_tf32);
    case NPG_FLOAT16: return npg_cu_matmul_blas<NPG_FLOAT16>(ctx, out, a, b, bg, nbatch, M, N, K, allow_tf32);
    case NPG_BFLOAT16: return npg_cu_matmul_blas<NPG_BFLOAT16>(ctx, out, a, b, bg, nbatch, M, N, K, allow_tf32);
    default: break;
    }
    dim3 block(NPG_CU_MM_TILE, NPG_CU_MM_TILE);
    dim3 grid((unsigned)std::min<int64_t>(npg_cu_cdiv(N, NPG_CU_MM_TILE), INT_MAX),
              (unsigned)std::min<int64_t>(npg_cu_cdiv(M, NPG_CU_MM_TILE), 65535),
              (unsigned)std::min<int64_t>(nbatch, 65535));
    if (npg_cu_cdiv(N, NPG_CU_MM_TILE) > INT_MAX)
        return npg__set_error(NPG_ERR_UNSUPPORTED, "cuda matmul: N = %lld is too large", (long long)N);
    const int64_t sam = a->strides[nd - 2], sak = a->strides[nd - 1], sbk = b->strides[nd - 2],
                  sbn = b->strides[nd - 1];
    const npg_dtype kd = npg_cu_is_int(out->dtype) ? npg_cu_uint_of_size(npg__dtype_size(out->dtype)) : out->dtype;
    switch (kd) {
#define CASE(D)                                                                                                      \
    case D:                                                                                                          \
        npg_cu_matmul_int_kernel<D><<<grid, block, 0, ctx->stream>>>((CT<D> *)out->data, (const CT<D> *)a->data,     \
                                                                     (const CT<D> *)b->data, M, N, K, sam, sak, sbk, \
                                                                     sbn, bg, nbatch);                               \
        break;
        CASE(NPG_BOOL)
        CASE(NPG_UINT8)
        CASE(NPG_UINT16)
        CASE(NPG_UINT32)
        CASE(NPG_UINT64)
#undef CASE
    default: return npg_cu_unsupported("matmul", out->dtype);
    }
    NPG_CU_CHECK_LAUNCH("matmul");
    return NPG_OK;
}
