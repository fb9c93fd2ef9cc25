/*
 * random.cu — the RANDOM family: RAND_UNIFORM, RAND_NORMAL (float32/float64)
 * and RAND_INT (every integer dtype) into contiguous out.
 *
 * Words come from cuRAND's Philox-4x32-10: curand_init(seed, offset, 4 * b)
 * then curand4() is block b of stream (seed, offset), exactly rng.h's
 * npg__philox_block(seed, offset, b) (DESIGN.md section 7). Words become
 * values exactly as rng.h's header says, with rng.h's helpers, so the
 * uniform and integer bits equal the CPU backend's and normals agree to a
 * few ulp (the device's logf/sinf/cosf against the host's):
 *   uniform  low + (high - low) * u      = FADD(lo, FMUL(range, u)), float32:
 *            lo = (float)low, range = (float)high - lo (in float); float64:
 *            range = high - low
 *   normal   mean + std * z              = FADD(T(mean), FMUL(T(std), z)),
 *            z = FMUL(sqrt(-2 log(1 - u1)), cos|sin(FMUL(2pi, u2)))  in T
 *   int      low + mulhi64(w0 << 32 | w1, high - low), wrapped to T
 * FADD, FMUL are rng.h's NPG_FADD_F32 etc. (__fadd_rn and friends: never
 * contracted into an FMA). Element i depends only on (seed, offset, i).
 * Each thread makes NPG_CU_RNG_BPT consecutive blocks from one curand_init.
 */
#include "common.cuh"

#include <curand_kernel.h>

#include <algorithm>

#define NPG_CU_RNG_BPT 4

enum { NPG_CU_RNG_UNIFORM, NPG_CU_RNG_NORMAL, NPG_CU_RNG_INT };

struct npg_cu_rng_params {
    double f0, f1;  /* uniform: low, high; normal: mean, std */
    int64_t i0, i1; /* int: low, high */
};

/* The EPB values of one Philox block (words w), in out's type. */
template <npg_dtype D, int KIND> struct npg_cu_rng_map;

template <> struct npg_cu_rng_map<NPG_FLOAT32, NPG_CU_RNG_UNIFORM> {
    static constexpr int EPB = 4;
    static __device__ __forceinline__ void run(float (&v)[4], const uint32_t (&w)[4], const npg_cu_rng_params &p) {
        const float lo = (float)p.f0, hi = (float)p.f1, range = hi - lo;
#pragma unroll
        for (int e = 0; e < 4; e++) v[e] = NPG_FADD_F32(lo, NPG_FMUL_F32(range, npg__u32_to_unit_f32(w[e])));
    }
};

template <> struct npg_cu_rng_map<NPG_FLOAT64, NPG_CU_RNG_UNIFORM> {
    static constexpr int EPB = 2;
    static __device__ __forceinline__ void run(double (&v)[2], const uint32_t (&w)[4], const npg_cu_rng_params &p) {
        const double lo = p.f0, range = p.f1 - p.f0;
#pragma unroll
        for (int e = 0; e < 2; e++)
            v[e] = NPG_FADD_F64(lo, NPG_FMUL_F64(range, npg__u64_to_unit_f64(w[2 * e], w[2 * e + 1])));
    }
};

template <> struct npg_cu_rng_map<NPG_FLOAT32, NPG_CU_RNG_NORMAL> {
    static constexpr int EPB = 4;
    static __device__ __forceinline__ void run(float (&v)[4], const uint32_t (&w)[4], const npg_cu_rng_params &p) {
        const float mean = (float)p.f0, sd = (float)p.f1;
#pragma unroll
        for (int pair = 0; pair < 2; pair++) {
            const float u1 = npg__u32_to_unit_f32(w[2 * pair]), u2 = npg__u32_to_unit_f32(w[2 * pair + 1]);
            const float r = sqrtf(NPG_FMUL_F32(-2.0f, logf(NPG_FADD_F32(1.0f, -u1))));
            const float theta = NPG_FMUL_F32(6.2831855f, u2);
            v[2 * pair] = NPG_FADD_F32(mean, NPG_FMUL_F32(sd, NPG_FMUL_F32(r, cosf(theta))));
            v[2 * pair + 1] = NPG_FADD_F32(mean, NPG_FMUL_F32(sd, NPG_FMUL_F32(r, sinf(theta))));
        }
    }
};

template <> struct npg_cu_rng_map<NPG_FLOAT64, NPG_CU_RNG_NORMAL> {
    static constexpr int EPB = 2;
    static __device__ __forceinline__ void run(double (&v)[2], const uint32_t (&w)[4], const npg_cu_rng_params &p) {
        const double mean = p.f0, sd = p.f1;
        const double u1 = npg__u64_to_unit_f64(w[0], w[1]), u2 = npg__u64_to_unit_f64(w[2], w[3]);
        const double r = sqrt(NPG_FMUL_F64(-2.0, log(NPG_FADD_F64(1.0, -u1))));
        const double theta = NPG_FMUL_F64(6.283185307179586, u2);
        v[0] = NPG_FADD_F64(mean, NPG_FMUL_F64(sd, NPG_FMUL_F64(r, cos(theta))));
        v[1] = NPG_FADD_F64(mean, NPG_FMUL_F64(sd, NPG_FMUL_F64(r, sin(theta))));
    }
};

template <npg_dtype D> struct npg_cu_rng_map<D, NPG_CU_RNG_INT> {
    static constexpr int EPB = 2;
    static __device__ __forceinline__ void run(CT<D> (&v)[2], const uint32_t (&w)[4], const npg_cu_rng_params &p) {
        const uint64_t range = (uint64_t)p.i1 - (uint64_t)p.i0;
#pragma unroll
        for (int e = 0; e < 2; e++) {
            const uint64_t x = ((uint64_t)w[2 * e] << 32) | (uint64_t)w[2 * e + 1];
            const int64_t r = (int64_t)((uint64_t)p.i0 + npg__mulhi64(x, range));
            v[e] = npg_cu_convert<D, NPG_INT64>(r);
        }
    }
};

/* out: (n,) contiguous; block b of stream (seed, offset) gives elements
 * [b * EPB, b * EPB + EPB). `aligned`: out is aligned to EPB elements' bytes. */
template <npg_dtype D, int KIND>
__global__ void npg_cu_random_kernel(CT<D> *out, int64_t n, uint64_t seed, uint64_t offset,
                                     const npg_cu_rng_params p, bool aligned) {
    typedef npg_cu_rng_map<D, KIND> Map;
    constexpr int EPB = Map::EPB;
    const int64_t nblocks = npg_cu_cdiv(n, EPB);
    const int64_t nchunks = npg_cu_cdiv(nblocks, NPG_CU_RNG_BPT);
    for (int64_t c = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; c < nchunks; c += (int64_t)gridDim.x * blockDim.x) {
        const int64_t b0 = c * NPG_CU_RNG_BPT;
        curandStatePhilox4_32_10_t st;
        curand_init(seed, offset, 4ull * (uint64_t)b0, &st);
#pragma unroll
        for (int j = 0; j < NPG_CU_RNG_BPT; j++) {
            const int64_t b = b0 + j;
            if (b >= nblocks) break;
            const uint4 q = curand4(&st);
            const uint32_t w[4] = {q.x, q.y, q.z, q.w};
            CT<D> v[EPB];
            Map::run(v, w, p);
            const int64_t i0 = b * EPB;
            if (aligned && i0 + EPB <= n) {
                npg_cu_vstore<EPB>(out + i0, v);
            } else {
#pragma unroll
                for (int e = 0; e < EPB; e++)
                    if (i0 + e < n) out[i0 + e] = v[e];
            }
        }
    }
}

template <npg_dtype D, int KIND>
static npg_status npg_cu_random_run(npg_cu_ctx *ctx, const npg_tdesc *out, int64_t n, uint64_t seed, uint64_t offset,
                                    const npg_cu_rng_params &p, const char *what) {
    constexpr int EPB = npg_cu_rng_map<D, KIND>::EPB;
    const bool aligned = (uintptr_t)out->data % (EPB * sizeof(CT<D>)) == 0;
    const int64_t chunks = npg_cu_cdiv(npg_cu_cdiv(n, EPB), NPG_CU_RNG_BPT);
    npg_cu_random_kernel<D, KIND><<<npg_cu_grid(ctx, chunks, 256), 256, 0, ctx->stream>>>((CT<D> *)out->data, n, seed,
                                                                                        offset, p, aligned);
    NPG_CU_CHECK_LAUNCH(what);
    return NPG_OK;
}

npg_status npg_cu_random(int dev, npg_op op, const npg_tdesc *out, uint64_t seed, uint64_t offset,
                         const npg_kparams *kp) {
    NPG_CU_CTX(ctx, dev);
    const char *what = npg__op_name(op);
    if (!npg__desc_contiguous(out))
        return npg__set_error(NPG_ERR_UNSUPPORTED, "cuda %s: the output must be contiguous", what);
    const int64_t n = npg__desc_numel(out);
    if (n == 0) return NPG_OK;
    npg_cu_rng_params p = {0, 0, 0, 0};
    if (kp) {
        p.f0 = kp->f[0];
        p.f1 = kp->f[1];
        p.i0 = kp->i[0];
        p.i1 = kp->i[1];
    }
    switch (op) {
    case NPG_OP_RAND_UNIFORM:
        if (out->dtype == NPG_FLOAT32)
            return npg_cu_random_run<NPG_FLOAT32, NPG_CU_RNG_UNIFORM>(ctx, out, n, seed, offset, p, what);
        if (out->dtype == NPG_FLOAT64)
            return npg_cu_random_run<NPG_FLOAT64, NPG_CU_RNG_UNIFORM>(ctx, out, n, seed, offset, p, what);
        break;
    case NPG_OP_RAND_NORMAL:
        if (out->dtype == NPG_FLOAT32)
            return npg_cu_random_run<NPG_FLOAT32, NPG_CU_RNG_NORMAL>(ctx, out, n, seed, offset, p, what);
        if (out->dtype == NPG_FLOAT64)
            return npg_cu_random_run<NPG_FLOAT64, NPG_CU_RNG_NORMAL>(ctx, out, n, seed, offset, p, what);
        break;
    case NPG_OP_RAND_INT:
        if (p.i1 <= p.i0)
            return npg__set_error(NPG_ERR_INVALID_ARG, "cuda %s: empty range [%lld, %lld)", what, (long long)p.i0,
                                  (long long)p.i1);
        /* the int64 draw wrapped to the output's width: the same bits for the
         * signed and the unsigned dtype, so one kernel per width */
        if (!npg_cu_is_int(out->dtype)) break;
        switch (npg__dtype_size(out->dtype)) {
        case 1: return npg_cu_random_run<NPG_UINT8, NPG_CU_RNG_INT>(ctx, out, n, seed, offset, p, what);
        case 2: return npg_cu_random_run<NPG_UINT16, NPG_CU_RNG_INT>(ctx, out, n, seed, offset, p, what);
        case 4: return npg_cu_random_run<NPG_UINT32, NPG_CU_RNG_INT>(ctx, out, n, seed, offset, p, what);
        default: return npg_cu_random_run<NPG_UINT64, NPG_CU_RNG_INT>(ctx, out, n, seed, offset, p, what);
        }
    default:
        return npg__set_error(NPG_ERR_UNSUPPORTED, "cuda random: op %s is not a random op", what);
    }
    return npg_cu_unsupported(what, out->dtype);
}
