/*
 * sort.cu — SORT: a stable sort of each row along the last axis of a
 * C-contiguous array, giving the sorted values and/or the int64 indices.
 *
 * Keys become order-preserving unsigned bit patterns (signed integers: flip
 * the sign bit; unsigned ones and bool as they are; floats: flip the sign bit of positives and every bit of
 * negatives, -0.0 made +0.0, every NaN the largest pattern; descending:
 * the complement, so NaN comes first), then CUB's DeviceRadixSort (stable,
 * documented) sorts (key, flat index) pairs:
 *   one row, or key bits + row bits <= 64: one sort of the composite key
 *     row << key_bits | key, over just the bits in use
 *   64-bit keys and several rows: sort by key, then stably by row (LSD)
 * Equal keys keep their input order in both directions. Values are then
 * gathered from the input by index, so NaN payloads and -0.0 survive.
 * Limit: 2^32 - 1 elements (32-bit flat indices).
 */
#include "common.cuh"

#include <cub/device/device_radix_sort.cuh>

/* Order-preserving unsigned key of x (ascending), in the low key-bits bits. */
template <npg_dtype D> __device__ __forceinline__ uint64_t npg_cu_sort_key(CT<D> x) {
    if constexpr (D == NPG_BOOL || D == NPG_UINT8 || D == NPG_UINT16 || D == NPG_UINT32 || D == NPG_UINT64) {
        return (uint64_t)x; /* zero-extended: already ordered */
    } else if constexpr (D == NPG_INT8) {
        return (uint8_t)((uint8_t)x ^ 0x80u);
    } else if constexpr (D == NPG_INT16) {
        return (uint16_t)((uint16_t)x ^ 0x8000u);
    } else if constexpr (D == NPG_INT32) {
        return (uint32_t)x ^ 0x80000000u;
    } else if constexpr (D == NPG_INT64) {
        return (uint64_t)x ^ 0x8000000000000000ull;
    } else if constexpr (D == NPG_FLOAT32) {
        if (x != x) return 0xFFFFFFFFu;
        if (x == 0.0f) return 0x80000000u;
        uint32_t u = __float_as_uint(x);
        return (u & 0x80000000u) ? (uint32_t)~u : (u | 0x80000000u);
    } else {
        static_assert(D == NPG_FLOAT64, "npg_cu_sort_key: unhandled dtype");
        if (x != x) return 0xFFFFFFFFFFFFFFFFull;
        if (x == 0.0) return 0x8000000000000000ull;
        uint64_t u = (uint64_t)__double_as_longlong(x);
        return (u & 0x8000000000000000ull) ? ~u : (u | 0x8000000000000000ull);
    }
}

/* keys: (n,) composite keys, vals: (n,) flat indices; in: (n / len, len) contiguous */
template <npg_dtype D, class K>
__global__ void npg_cu_sort_keys_kernel(K *keys, uint32_t *vals, const CT<D> *in, int64_t n, int64_t len, int kbits,
                                        bool descending, bool with_row) {
    const uint64_t mask = kbits >= 64 ? ~0ull : ((1ull << kbits) - 1);
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        uint64_t k = npg_cu_sort_key<D>(in[i]);
        if (descending) k = ~k & mask;
        if (with_row) k |= (uint64_t)(i / len) << kbits;
        keys[i] = (K)k;
        vals[i] = (uint32_t)i;
    }
}

/* rowkeys: (n,) the row of each sorted flat index; vals: (n,) */
__global__ void npg_cu_sort_rowkeys_kernel(uint32_t *rowkeys, const uint32_t *vals, int64_t n, int64_t len) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        rowkeys[i] = (uint32_t)(vals[i] / len);
}

/* values: (n,) or NULL; indices: (n,) int64 or NULL; in: (n,) the input;
 * vals: (n,) sorted flat indices (row-major by row, then key) */
template <class T>
__global__ void npg_cu_sort_out_kernel(T *values, int64_t *indices, const T *in, const uint32_t *vals, int64_t n,
                                       int64_t len) {
    for (int64_t j = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; j < n; j += (int64_t)gridDim.x * blockDim.x) {
        const int64_t flat = vals[j];
        if (indices) indices[j] = flat - (j / len) * len;
        if (values) values[j] = in[flat];
    }
}

static size_t npg_cu_pad256(size_t b) { return (b + 255) & ~(size_t)255; }

/* Sort with key type K (uint32 or uint64). */
template <npg_dtype D, class K>
static npg_status npg_cu_sort_run(npg_cu_ctx *ctx, const npg_tdesc *values, const npg_tdesc *indices,
                                  const npg_tdesc *in, bool descending, int64_t n, int64_t len, int64_t nrows,
                                  int kbits, int rbits) {
    const bool two_pass = nrows > 1 && kbits + rbits > 64; /* only with K = uint64 */
    const bool with_row = nrows > 1 && !two_pass;
    const int end_bit = with_row ? kbits + rbits : kbits;

    /* temp size for the sort(s) */
    size_t temp_bytes = 0, t2 = 0;
    {
        cub::DoubleBuffer<K> kb(nullptr, nullptr);
        cub::DoubleBuffer<uint32_t> vb(nullptr, nullptr);
        NPG_CU_TRY(cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, kb, vb, (uint32_t)n, 0, end_bit, ctx->stream),
                   "sort");
        if (two_pass) {
            cub::DoubleBuffer<uint32_t> rb(nullptr, nullptr);
            NPG_CU_TRY(cub::DeviceRadixSort::SortPairs(nullptr, t2, rb, vb, (uint32_t)n, 0, rbits, ctx->stream), "sort");
            if (t2 > temp_bytes) temp_bytes = t2;
        }
    }
    const size_t kbytes = npg_cu_pad256(sizeof(K) * (size_t)n), vbytes = npg_cu_pad256(sizeof(uint32_t) * (size_t)n);
    char *buf = nullptr;
    const size_t buf_bytes = 2 * kbytes + 2 * vbytes + npg_cu_pad256(temp_bytes);
    npg_status st = npg_cu_scratch(ctx, buf_bytes, (void **)&buf, "sort");
    if (st != NPG_OK) return st;
    K *k0 = (K *)buf, *k1 = (K *)(buf + kbytes);
    uint32_t *v0 = (uint32_t *)(buf + 2 * kbytes), *v1 = (uint32_t *)(buf + 2 * kbytes + vbytes);
    void *temp = buf + 2 * kbytes + 2 * vbytes;

    const unsigned blocks = npg_cu_grid(ctx, n, 256);
    npg_cu_sort_keys_kernel<D, K><<<blocks, 256, 0, ctx->stream>>>(k0, v0, (const CT<D> *)in->data, n, len, kbits,
                                                                   descending, with_row);
    cudaError_t e = cudaGetLastError();
    cub::DoubleBuffer<K> kb(k0, k1);
    cub::DoubleBuffer<uint32_t> vb(v0, v1);
    size_t tb = temp_bytes;
    if (e == cudaSuccess) e = cub::DeviceRadixSort::SortPairs(temp, tb, kb, vb, (uint32_t)n, 0, end_bit, ctx->stream);
    if (e == cudaSuccess && two_pass) {
        /* stable second pass by row; the 64-bit key buffers are free again */
        uint32_t *r0 = (uint32_t *)k0, *r1 = (uint32_t *)k1;
        npg_cu_sort_rowkeys_kernel<<<blocks, 256, 0, ctx->stream>>>(r0, vb.Current(), n, len);
        e = cudaGetLastError();
        cub::DoubleBuffer<uint32_t> rb(r0, r1);
        tb = temp_bytes;
        if (e == cudaSuccess) e = cub::DeviceRadixSort::SortPairs(temp, tb, rb, vb, (uint32_t)n, 0, rbits, ctx->stream);
    }
    if (e == cudaSuccess) {
        int64_t *ix = indices ? (int64_t *)indices->data : nullptr;
        const uint32_t *sorted = vb.Current();
        switch (npg__dtype_size(in->dtype)) {
        case 1:
            npg_cu_sort_out_kernel<uint8_t><<<blocks, 256, 0, ctx->stream>>>(
                values ? (uint8_t *)values->data : nullptr, ix, (const uint8_t *)in->data, sorted, n, len);
            break;
        case 2:
            npg_cu_sort_out_kernel<uint16_t><<<blocks, 256, 0, ctx->stream>>>(
                values ? (uint16_t *)values->data : nullptr, ix, (const uint16_t *)in->data, sorted, n, len);
            break;
        case 4:
            npg_cu_sort_out_kernel<uint32_t><<<blocks, 256, 0, ctx->stream>>>(
                values ? (uint32_t *)values->data : nullptr, ix, (const uint32_t *)in->data, sorted, n, len);
            break;
        default:
            npg_cu_sort_out_kernel<uint64_t><<<blocks, 256, 0, ctx->stream>>>(
                values ? (uint64_t *)values->data : nullptr, ix, (const uint64_t *)in->data, sorted, n, len);
            break;
        }
        e = cudaGetLastError();
    }
    npg_cu_scratch_free(ctx, buf, buf_bytes);
    if (e != cudaSuccess) return npg_cu_fail(e, "sort");
    return NPG_OK;
}

npg_status npg_cu_sort(int dev, const npg_tdesc *values, const npg_tdesc *indices, const npg_tdesc *in,
                       bool descending) {
    NPG_CU_CTX(ctx, dev);
    if (in->ndim < 1) return npg__set_error(NPG_ERR_SHAPE, "cuda sort: a 0-d array has no axis to sort");
    if (values && values->dtype != in->dtype)
        return npg__set_error(NPG_ERR_DTYPE, "cuda sort: values dtype %s differs from the input's %s",
                              npg_dtype_name(values->dtype), npg_dtype_name(in->dtype));
    if (indices && indices->dtype != NPG_INT64) return npg_cu_unsupported("sort (indices)", indices->dtype);
    if (!values && !indices) return NPG_OK;
    if (!npg__desc_contiguous(in) || (values && !npg__desc_contiguous(values)) ||
        (indices && !npg__desc_contiguous(indices)))
        return npg__set_error(NPG_ERR_UNSUPPORTED, "cuda sort: input, values and indices must be contiguous");
    const int64_t n = npg__desc_numel(in), len = in->shape[in->ndim - 1];
    if (n == 0 || len == 0) return NPG_OK;
    if (n > (int64_t)UINT32_MAX)
        return npg__set_error(NPG_ERR_UNSUPPORTED, "cuda sort: %lld elements (at most 2^32 - 1 are supported)",
                              (long long)n);
    const int64_t nrows = n / len;
    int rbits = 0;
    while (rbits < 32 && (1ll << rbits) < nrows) rbits++;
    return npg_cu_dispatch(in->dtype, "sort", [&](auto tag) -> npg_status {
        constexpr npg_dtype D = decltype(tag)::value;
        const int kbits = (int)(8 * sizeof(CT<D>));
        if (kbits + (nrows > 1 ? rbits : 0) <= 32)
            return npg_cu_sort_run<D, uint32_t>(ctx, values, indices, in, descending, n, len, nrows, kbits, rbits);
        return npg_cu_sort_run<D, uint64_t>(ctx, values, indices, in, descending, n, len, nrows, kbits, rbits);
    });
}
