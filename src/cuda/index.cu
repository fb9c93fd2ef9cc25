/*
 * index.cu — the INDEX family and NONZERO: gather (take_along_axis),
 * scatter_add (atomics: float32, float64 and the integers, the CPU backend's
 * dtypes; 8- and 16-bit integers through a CAS on the 32-bit word holding
 * them), nonzero (CUB select + unravel).
 *
 * An index outside [-n, n) on the indexed axis is not an error here (the
 * kernel cannot report one): gather writes 0, scatter_add skips the element,
 * and both set the device's flag, which the next synchronising call turns
 * into NPG_ERR_INDEX. Gather moves bits, so it is compiled per element size
 * (1, 2, 4, 8 bytes), not per dtype; so are scatter_add on the integers
 * (wrapping addition gives the same bits signed or unsigned) and nonzero's
 * flags for them (x != 0).
 */
#include "common.cuh"

#include <cub/device/device_select.cuh>
#include <thrust/iterator/counting_iterator.h>

#include <algorithm>

/* ---- gather ---------------------------------------------------------------------------- */

/* out: (S...) contiguous; idx: (S...) int64 any strides; in: (S...) except
 * in.shape[axis] = n; g: operand 0 out, 1 idx, 2 in with its axis stride
 * zeroed; step = in.strides[axis]. */
template <class T>
__global__ void npg_cu_gather_kernel(T *out, const int64_t *idx, const T *in, const npg_cu_geo<3> g, int64_t total,
                                     int64_t n, int64_t step, int *flag) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t off[3];
        npg_cu_offsets(g, i, off);
        int64_t j = idx[off[1]];
        if (j < 0) j += n;
        if (j < 0 || j >= n) {
            out[off[0]] = T(0);
            npg_cu_set_flag(flag);
        } else {
            out[off[0]] = in[off[2] + j * step];
        }
    }
}

/* Strides of d with the axis stride set to 0. */
static void npg_cu_strides_wo_axis(const npg_tdesc *d, int axis, int64_t *st) {
    for (int k = 0; k < d->ndim; k++) st[k] = k == axis ? 0 : d->strides[k];
}

npg_status npg_cu_gather(int dev, const npg_tdesc *out, const npg_tdesc *in, const npg_tdesc *idx, int axis) {
    NPG_CU_CTX(ctx, dev);
    if (idx->dtype != NPG_INT64) return npg_cu_unsupported("take_along_axis (indices)", idx->dtype);
    if (out->dtype != in->dtype)
        return npg__set_error(NPG_ERR_DTYPE, "cuda take_along_axis: output dtype %s differs from the input's %s",
                              npg_dtype_name(out->dtype), npg_dtype_name(in->dtype));
    if (in->ndim != out->ndim || axis < 0 || axis >= in->ndim)
        return npg__set_error(NPG_ERR_AXIS, "cuda take_along_axis: axis %d of %d-d arrays", axis, in->ndim);
    int64_t in_st[NPG_MAX_DIMS];
    npg_cu_strides_wo_axis(in, axis, in_st);
    const int64_t *st[3] = {out->strides, idx->strides, in_st};
    npg_cu_geo<3> g;
    const int64_t total = npg_cu_geo_init(g, out->ndim, out->shape, st);
    if (total == 0) return NPG_OK;
    const unsigned blocks = npg_cu_grid(ctx, total, 256);
    const int64_t n = in->shape[axis], step = in->strides[axis];
    const int64_t *ix = (const int64_t *)idx->data;
    switch (npg__dtype_size(in->dtype)) {
    case 1:
        npg_cu_gather_kernel<uint8_t><<<blocks, 256, 0, ctx->stream>>>((uint8_t *)out->data, ix,
                                                                       (const uint8_t *)in->data, g, total, n, step,
                                                                       ctx->flag_dev);
        break;
    case 2: /* int16, uint16, float16, bfloat16: the bits move */
        npg_cu_gather_kernel<uint16_t><<<blocks, 256, 0, ctx->stream>>>((uint16_t *)out->data, ix,
                                                                        (const uint16_t *)in->data, g, total, n, step,
                                                                        ctx->flag_dev);
        break;
    case 4:
        npg_cu_gather_kernel<uint32_t><<<blocks, 256, 0, ctx->stream>>>((uint32_t *)out->data, ix,
                                                                        (const uint32_t *)in->data, g, total, n, step,
                                                                        ctx->flag_dev);
        break;
    case 8:
        npg_cu_gather_kernel<uint64_t><<<blocks, 256, 0, ctx->stream>>>((uint64_t *)out->data, ix,
                                                                        (const uint64_t *)in->data, g, total, n, step,
                                                                        ctx->flag_dev);
        break;
    default: return npg_cu_unsupported("take_along_axis", in->dtype);
    }
    NPG_CU_CHECK_LAUNCH("take_along_axis");
    return NPG_OK;
}

/* ---- scatter_add --------------------------------------------------------------------------- */

/* 8- and 16-bit integers (wrapping): CAS on the aligned 32-bit word holding
 * the element (little endian; the word never leaves the allocation's 4-byte
 * granule). */
template <class T> __device__ __forceinline__ void npg_cu_atomic_add_sub32(T *p, T v) {
    static_assert(sizeof(T) == 1 || sizeof(T) == 2, "a sub-word integer");
    constexpr unsigned int emask = sizeof(T) == 1 ? 0xFFu : 0xFFFFu;
    unsigned int *w = (unsigned int *)((uintptr_t)p & ~(uintptr_t)3);
    const unsigned int shift = (unsigned int)((uintptr_t)p & 3) * 8, mask = emask << shift;
    unsigned int old = *(volatile unsigned int *)w, assumed;
    do {
        assumed = old;
        const unsigned int e = ((assumed >> shift) + (unsigned int)v) & emask;
        old = atomicCAS(w, assumed, (assumed & ~mask) | (e << shift));
    } while (old != assumed);
}
__device__ __forceinline__ void npg_cu_atomic_add(uint8_t *p, uint8_t v) { npg_cu_atomic_add_sub32(p, v); }
__device__ __forceinline__ void npg_cu_atomic_add(uint16_t *p, uint16_t v) { npg_cu_atomic_add_sub32(p, v); }
/* float: the hardware atomic (atom.add.f32 flushes subnormal inputs and
 * results to zero, unlike the CPU's add; documented in npg.h at
 * npg_scatter_add) */
__device__ __forceinline__ void npg_cu_atomic_add(float *p, float v) { atomicAdd(p, v); }
__device__ __forceinline__ void npg_cu_atomic_add(double *p, double v) { atomicAdd(p, v); }
__device__ __forceinline__ void npg_cu_atomic_add(int32_t *p, int32_t v) { atomicAdd((int *)p, (int)v); }
__device__ __forceinline__ void npg_cu_atomic_add(int64_t *p, int64_t v) {
    /* two's complement: unsigned addition wraps exactly like int64 */
    atomicAdd((unsigned long long *)p, (unsigned long long)v);
}

/* out: (S...) except out.shape[axis] = n, any strides; src, idx: (S...) any
 * strides; g: operand 0 src, 1 idx, 2 out with its axis stride zeroed;
 * step = out.strides[axis]. */
template <class T>
__global__ void npg_cu_scatter_add_kernel(T *out, const T *src, const int64_t *idx, const npg_cu_geo<3> g,
                                          int64_t total, int64_t n, int64_t step, int *flag) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t off[3];
        npg_cu_offsets(g, i, off);
        int64_t j = idx[off[1]];
        if (j < 0) j += n;
        if (j < 0 || j >= n) {
            npg_cu_set_flag(flag);
            continue;
        }
        npg_cu_atomic_add(out + off[2] + j * step, src[off[0]]);
    }
}

npg_status npg_cu_scatter_add(int dev, const npg_tdesc *out, const npg_tdesc *src, const npg_tdesc *idx, int axis) {
    NPG_CU_CTX(ctx, dev);
    if (idx->dtype != NPG_INT64) return npg_cu_unsupported("scatter_add (indices)", idx->dtype);
    if (out->dtype != src->dtype)
        return npg__set_error(NPG_ERR_DTYPE, "cuda scatter_add: source dtype %s differs from the output's %s",
                              npg_dtype_name(src->dtype), npg_dtype_name(out->dtype));
    if (src->ndim != out->ndim || axis < 0 || axis >= out->ndim)
        return npg__set_error(NPG_ERR_AXIS, "cuda scatter_add: axis %d of %d-d arrays", axis, out->ndim);
    int64_t out_st[NPG_MAX_DIMS];
    npg_cu_strides_wo_axis(out, axis, out_st);
    const int64_t *st[3] = {src->strides, idx->strides, out_st};
    npg_cu_geo<3> g;
    const int64_t total = npg_cu_geo_init(g, src->ndim, src->shape, st);
    if (total == 0) return NPG_OK;
    const unsigned blocks = npg_cu_grid(ctx, total, 256);
    const int64_t n = out->shape[axis], step = out->strides[axis];
    const int64_t *ix = (const int64_t *)idx->data;
    /* the integers by width: signed and unsigned wrap to the same bits */
    const npg_dtype kd = npg_cu_is_int(out->dtype) ? npg_cu_uint_of_size(npg__dtype_size(out->dtype)) : out->dtype;
    switch (kd) {
#define CASE(D, T)                                                                                            \
    case D:                                                                                                   \
        npg_cu_scatter_add_kernel<T><<<blocks, 256, 0, ctx->stream>>>((T *)out->data, (const T *)src->data, ix, g, \
                                                                      total, n, step, ctx->flag_dev);         \
        break;
        CASE(NPG_UINT8, uint8_t)
        CASE(NPG_UINT16, uint16_t)
        CASE(NPG_UINT32, int32_t)
        CASE(NPG_UINT64, int64_t)
        CASE(NPG_FLOAT32, float)
        CASE(NPG_FLOAT64, double)
#undef CASE
    default: return npg_cu_unsupported("scatter_add", out->dtype);
    }
    NPG_CU_CHECK_LAUNCH("scatter_add");
    return NPG_OK;
}

/* ---- nonzero ---------------------------------------------------------------------------------- */

/* flags: (n,) uint8 = in[i] != 0 (NaN counts as nonzero, -0.0 does not); in: (n,) contiguous */
template <class T> __global__ void npg_cu_nonzero_flags_kernel(uint8_t *flags, const T *in, int64_t n) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        flags[i] = in[i] != T(0);
}

/* out: (ndim, count) int64 whose last row holds flat row-major indices on
 * entry; every row gets its coordinate (shape: in's shape). */
struct npg_cu_dims {
    int64_t n[NPG_MAX_DIMS];
};
__global__ void npg_cu_unravel_kernel(int64_t *out, int64_t count, int ndim, const npg_cu_dims shape) {
    for (int64_t j = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; j < count; j += (int64_t)gridDim.x * blockDim.x) {
        int64_t flat = out[(int64_t)(ndim - 1) * count + j];
#pragma unroll
        for (int d = NPG_MAX_DIMS - 1; d >= 0; d--) { /* constant indices: shape stays in registers */
            if (d >= ndim) continue;
            const int64_t n = shape.n[d];
            const int64_t q = flat / n;
            out[(int64_t)d * count + j] = flat - q * n;
            flat = q;
        }
    }
}

npg_status npg_cu_nonzero(int dev, const npg_tdesc *out, const npg_tdesc *in) {
    NPG_CU_CTX(ctx, dev);
    if (out->dtype != NPG_INT64) return npg_cu_unsupported("nonzero (output)", out->dtype);
    if (in->ndim < 1 || out->ndim != 2 || out->shape[0] != in->ndim)
        return npg__set_error(NPG_ERR_SHAPE, "cuda nonzero: output must be (%d, count)", in->ndim);
    if (!npg__desc_contiguous(in) || !npg__desc_contiguous(out))
        return npg__set_error(NPG_ERR_UNSUPPORTED, "cuda nonzero: input and output must be contiguous");
    const int64_t count = out->shape[1];
    const int64_t n = npg__desc_numel(in);
    if (count == 0 || n == 0) return NPG_OK;
    int64_t *o = (int64_t *)out->data;
    int64_t *last_row = o + (int64_t)(in->ndim - 1) * count;

    /* 1. flags */
    uint8_t *flags = nullptr;
    npg_status st = npg_cu_scratch(ctx, (size_t)n, (void **)&flags, "nonzero");
    if (st != NPG_OK) return st;
    const unsigned blocks = npg_cu_grid(ctx, n, 256);
    /* bool and the integers by width (x != 0 reads only the bits) */
    const npg_dtype kd = in->dtype == NPG_BOOL ? NPG_UINT8
                         : npg_cu_is_int(in->dtype) ? npg_cu_uint_of_size(npg__dtype_size(in->dtype))
                                                    : in->dtype;
    switch (kd) {
    case NPG_UINT8:
        npg_cu_nonzero_flags_kernel<uint8_t><<<blocks, 256, 0, ctx->stream>>>(flags, (const uint8_t *)in->data, n);
        break;
    case NPG_UINT16:
        npg_cu_nonzero_flags_kernel<uint16_t><<<blocks, 256, 0, ctx->stream>>>(flags, (const uint16_t *)in->data, n);
        break;
    case NPG_UINT32:
        npg_cu_nonzero_flags_kernel<int32_t><<<blocks, 256, 0, ctx->stream>>>(flags, (const int32_t *)in->data, n);
        break;
    case NPG_UINT64:
        npg_cu_nonzero_flags_kernel<int64_t><<<blocks, 256, 0, ctx->stream>>>(flags, (const int64_t *)in->data, n);
        break;
    case NPG_FLOAT32:
        npg_cu_nonzero_flags_kernel<float><<<blocks, 256, 0, ctx->stream>>>(flags, (const float *)in->data, n);
        break;
    case NPG_FLOAT64:
        npg_cu_nonzero_flags_kernel<double><<<blocks, 256, 0, ctx->stream>>>(flags, (const double *)in->data, n);
        break;
    default: npg_cu_scratch_free(ctx, flags, (size_t)n); return npg_cu_unsupported("nonzero", in->dtype);
    }
    cudaError_t e = cudaGetLastError();

    /* 2. flat indices of the flagged elements, in order, into the last row
     *    (common counted them: exactly `count` are written) */
    thrust::counting_iterator<int64_t> iota(0);
    size_t temp_bytes = 0, temp_total = 0;
    void *temp = nullptr;
    if (e == cudaSuccess)
        e = cub::DeviceSelect::Flagged(nullptr, temp_bytes, iota, flags, last_row, (int64_t *)nullptr, n, ctx->stream);
    if (e == cudaSuccess) {
        /* temp storage plus room for the selected count, 256-byte aligned */
        size_t padded = (temp_bytes + 255) & ~(size_t)255;
        temp_total = padded + 256;
        st = npg_cu_scratch(ctx, temp_total, &temp, "nonzero");
        if (st != NPG_OK) {
            npg_cu_scratch_free(ctx, flags, (size_t)n);
            return st;
        }
        int64_t *num = (int64_t *)((char *)temp + padded);
        e = cub::DeviceSelect::Flagged(temp, temp_bytes, iota, flags, last_row, num, n, ctx->stream);
    }

    /* 3. flat index -> coordinates, row by row */
    if (e == cudaSuccess && in->ndim > 1) {
        npg_cu_dims shape;
        for (int d = 0; d < NPG_MAX_DIMS; d++) shape.n[d] = d < in->ndim ? in->shape[d] : 1;
        npg_cu_unravel_kernel<<<npg_cu_grid(ctx, count, 256), 256, 0, ctx->stream>>>(o, count, in->ndim, shape);
        e = cudaGetLastError();
    }
    npg_cu_scratch_free(ctx, temp, temp_total);
    npg_cu_scratch_free(ctx, flags, (size_t)n);
    if (e != cudaSuccess) return npg_cu_fail(e, "nonzero");
    return NPG_OK;
}
