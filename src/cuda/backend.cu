/*
 * backend.cu — the CUDA backend's vtable (npg_cuda_backend), devices, the
 * lazily created per-device contexts, memory and copies.
 *
 * Memory (arrays and kernels' scratch) comes from a per-device cache of freed
 * blocks in front of the device's default stream-ordered pool (release
 * threshold UINT64_MAX), so once warm an allocation is a host-side cache hit:
 * no allocator call, no cudaMalloc. Every op runs on one non-blocking stream
 * per device; only
 * copy_d2h, synchronize and device_info wait for the device. Kernels that
 * see a bad index set a mapped pinned int that the next synchronising call
 * reads and clears (NPG_ERR_INDEX).
 *
 * Build (what CMake must pass to nvcc for the files in src/cuda):
 *   C++17 (if constexpr, generic lambdas): nvcc 13's default dialect; say so
 *   with set(CMAKE_CUDA_STANDARD 17) and CMAKE_CUDA_STANDARD_REQUIRED ON
 *   CMAKE_CUDA_ARCHITECTURES 80;90 (sm_80 and sm_90 SASS)
 *   -DNPG_HAVE_CUDA=1; include dirs include/ and src/common/ (src/cuda/'s own
 *   headers are found next to the sources)
 *   --expt-relaxed-constexpr is harmless but not needed
 *   NOT --use_fast_math / -ftz=true / -prec-div=false / -prec-sqrt=false:
 *   random.cu and the elementwise functors rely on IEEE-rounded arithmetic
 *   Link: CUDA::cudart (static is fine), CUDA::cublas and CUDA::cusolver
 *   (solver.cu). The cuRAND library itself is not needed (only its
 *   header-only device API is used). The
 *   objects need the C++ runtime (CUB, std::mutex): link with the CUDA or
 *   C++ linker, or add -lstdc++ when linking libnpg.a from plain C.
 */
#include "common.cuh"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <atomic>
#include <mutex>

/* ---- errors ------------------------------------------------------------------- */

npg_status npg_cu_fail(cudaError_t e, const char *what) {
    (void)cudaGetLastError(); /* clear the (non-sticky) error so later calls work */
    if (e == cudaErrorMemoryAllocation)
        return npg__set_error(NPG_ERR_OOM, "cuda %s: out of device memory", what);
    return npg__set_error(NPG_ERR_CUDA, "cuda %s: %s", what, cudaGetErrorString(e));
}

npg_status npg_cu_blas_fail(cublasStatus_t s, const char *what) {
    (void)cudaGetLastError();
    if (s == CUBLAS_STATUS_ALLOC_FAILED)
        return npg__set_error(NPG_ERR_OOM, "cuda %s: cuBLAS could not allocate memory", what);
    return npg__set_error(NPG_ERR_CUDA, "cuda %s: cuBLAS: %s", what, cublasGetStatusString(s));
}

npg_status npg_cu_unsupported(const char *what, npg_dtype dt) {
    return npg__set_error(NPG_ERR_UNSUPPORTED, "cuda %s: dtype %s not supported", what, npg_dtype_name(dt));
}

/* ---- devices and contexts ------------------------------------------------------------ */

static std::atomic<npg_cu_ctx *> g_ctx[NPG_CU_MAX_DEVICES];
static std::mutex g_ctx_mutex;
static std::atomic<int> g_device_count{-1};
static thread_local int tl_current_dev = -1; /* the device this thread last made current */

static int cu_device_count(void) {
    int n = g_device_count.load(std::memory_order_acquire);
    if (n >= 0) return n;
    n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        (void)cudaGetLastError(); /* no driver / no device: the backend is unavailable */
        n = 0;
    }
    if (n > NPG_CU_MAX_DEVICES) n = NPG_CU_MAX_DEVICES;
    g_device_count.store(n, std::memory_order_release);
    return n;
}

static void ctx_destroy(npg_cu_ctx *c) {
    if (c->blas) cublasDestroy(c->blas);
    if (c->stream) cudaStreamDestroy(c->stream);
    if (c->flag_host) cudaFreeHost(c->flag_host);
    if (c->reduce_buf) cudaFree(c->reduce_buf);
    (void)cudaGetLastError();
    pthread_mutex_destroy(&c->cache.lock);
    pthread_mutex_destroy(&c->blas_lock);
    free(c);
}

static npg_status ctx_create(int dev, npg_cu_ctx **out) {
    npg_cu_ctx *c = (npg_cu_ctx *)calloc(1, sizeof *c);
    if (!c) return npg__set_error(NPG_ERR_OOM, "cuda init: out of host memory");
    c->dev = dev;
    pthread_mutex_init(&c->cache.lock, NULL);
    pthread_mutex_init(&c->blas_lock, NULL);
    {
        const char *e = getenv("NPG_CUDA_CACHE_MB");
        c->cache.limit = (e && *e) ? (size_t)strtoull(e, NULL, 10) << 20 : (size_t)4096 << 20;
    }
    cudaError_t e = cudaSuccess;
    const char *step = "init";
    do {
        step = "cudaSetDevice";
        if ((e = cudaSetDevice(dev)) != cudaSuccess) break;
        cudaDeviceProp prop;
        step = "cudaGetDeviceProperties";
        if ((e = cudaGetDeviceProperties(&prop, dev)) != cudaSuccess) break;
        snprintf(c->name, sizeof c->name, "%.127s", prop.name);
        c->sm_count = prop.multiProcessorCount > 0 ? prop.multiProcessorCount : 1;
        c->max_threads_per_sm = prop.maxThreadsPerMultiProcessor > 0 ? prop.maxThreadsPerMultiProcessor : 1024;
        step = "cudaStreamCreate";
        if ((e = cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking)) != cudaSuccess) break;
        step = "cudaDeviceGetDefaultMemPool";
        if ((e = cudaDeviceGetDefaultMemPool(&c->pool, dev)) != cudaSuccess) break;
        uint64_t threshold = UINT64_MAX; /* keep freed memory cached in the pool */
        step = "cudaMemPoolSetAttribute";
        if ((e = cudaMemPoolSetAttribute(c->pool, cudaMemPoolAttrReleaseThreshold, &threshold)) != cudaSuccess)
            break;
        step = "cudaHostAlloc";
        if ((e = cudaHostAlloc((void **)&c->flag_host, sizeof(int), cudaHostAllocMapped | cudaHostAllocPortable)) !=
            cudaSuccess)
            break;
        *(volatile int *)c->flag_host = 0;
        step = "cudaHostGetDevicePointer";
        if ((e = cudaHostGetDevicePointer((void **)&c->flag_dev, c->flag_host, 0)) != cudaSuccess) break;
        /* the single-pass reductions' counter (zero between kernels) and partials */
        c->reduce_buf_bytes = NPG_CU_REDUCE_BUF_BYTES(c->sm_count);
        step = "cudaMalloc";
        if ((e = cudaMalloc(&c->reduce_buf, c->reduce_buf_bytes)) != cudaSuccess) break;
        step = "cudaMemset";
        if ((e = cudaMemset(c->reduce_buf, 0, c->reduce_buf_bytes)) != cudaSuccess) break;
        if ((e = cudaDeviceSynchronize()) != cudaSuccess) break;
    } while (0);
    if (e != cudaSuccess) {
        npg_status st = npg_cu_fail(e, step);
        ctx_destroy(c);
        return st;
    }
    cublasStatus_t bs = cublasCreate(&c->blas);
    if (bs == CUBLAS_STATUS_SUCCESS) bs = cublasSetStream(c->blas, c->stream);
    if (bs == CUBLAS_STATUS_SUCCESS) bs = cublasSetMathMode(c->blas, CUBLAS_DEFAULT_MATH);
    if (bs != CUBLAS_STATUS_SUCCESS) {
        npg_status st = npg_cu_blas_fail(bs, "init");
        ctx_destroy(c);
        return st;
    }
    c->blas_math = CUBLAS_DEFAULT_MATH;
    *out = c;
    return NPG_OK;
}

npg_status npg_cu_ctx_get(int dev, npg_cu_ctx **out) {
    if (dev < 0 || dev >= cu_device_count())
        return npg__set_error(NPG_ERR_DEVICE, "cuda: no device cuda:%d (%d available)", dev, cu_device_count());
    npg_cu_ctx *c = g_ctx[dev].load(std::memory_order_acquire);
    if (!c) {
        std::lock_guard<std::mutex> lock(g_ctx_mutex);
        c = g_ctx[dev].load(std::memory_order_acquire);
        if (!c) {
            npg_status st = ctx_create(dev, &c);
            if (st != NPG_OK) {
                tl_current_dev = -1;
                return st;
            }
            g_ctx[dev].store(c, std::memory_order_release);
            tl_current_dev = dev; /* ctx_create made it current */
        }
    }
    if (tl_current_dev != dev) {
        NPG_CU_TRY(cudaSetDevice(dev), "cudaSetDevice");
        tl_current_dev = dev;
    }
    *out = c;
    return NPG_OK;
}

/* Read and clear the deferred "index out of range" flag (after a sync). */
static npg_status check_flag(npg_cu_ctx *c) {
    volatile int *f = c->flag_host;
    if (*f) {
        *f = 0;
        return npg__set_error(NPG_ERR_INDEX,
                              "cuda: a kernel saw an index out of range (take/take_along_axis, scatter_add/index_add, "
                              "or a cross_entropy label)");
    }
    return NPG_OK;
}

/* ---- device entries --------------------------------------------------------------------- */

static npg_status cu_device_info(int dev, npg_device_info *info) {
    NPG_CU_CTX(ctx, dev);
    memset(info, 0, sizeof *info);
    memcpy(info->name, ctx->name, sizeof info->name);
    info->name[sizeof info->name - 1] = 0;
    size_t free_b = 0, total_b = 0;
    NPG_CU_TRY(cudaMemGetInfo(&free_b, &total_b), "device_info");
    info->free_bytes = free_b;
    info->total_bytes = total_b;
    info->cached_bytes = npg__bc_bytes(&ctx->cache);
    return NPG_OK;
}

static npg_status cu_synchronize(int dev) {
    NPG_CU_CTX(ctx, dev);
    NPG_CU_TRY(cudaStreamSynchronize(ctx->stream), "synchronize");
    return check_flag(ctx);
}

/* ---- memory --------------------------------------------------------------------------------- */

/* Array and scratch memory: blocks rounded to 512-byte granules (quarter
 * powers of two above 2 KiB) come from the device's cache of freed blocks
 * when one of the size is there, else from the stream-ordered pool
 * (cudaMallocAsync). Reuse is safe without events: each device has one
 * stream, so a block's last use is ordered before its next one. On
 * out-of-memory the cache is returned to the pool and the allocation retried
 * once. */
static void release_block(void *ptr, size_t size, void *ctx) {
    (void)size;
    if (cudaFreeAsync(ptr, ((npg_cu_ctx *)ctx)->stream) != cudaSuccess) (void)cudaGetLastError();
}

static npg_status block_get(npg_cu_ctx *ctx, size_t nbytes, void **out_ptr, const char *what) {
    *out_ptr = NULL;
    if (nbytes > ((size_t)1 << 62))
        return npg__set_error(NPG_ERR_OOM, "cuda %s: %zu bytes is too large", what, nbytes);
    size_t n = npg__bc_round(nbytes, 512);
    void *p = npg__bc_take(&ctx->cache, n);
    if (p) {
        *out_ptr = p;
        return NPG_OK;
    }
    cudaError_t e = cudaMallocAsync(out_ptr, n, ctx->stream);
    if (e == cudaErrorMemoryAllocation) {
        (void)cudaGetLastError();
        if (npg__bc_drain(&ctx->cache, release_block, ctx) > 0) {
            (void)cudaStreamSynchronize(ctx->stream);
            e = cudaMallocAsync(out_ptr, n, ctx->stream);
        }
    }
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        *out_ptr = NULL;
        if (e == cudaErrorMemoryAllocation)
            return npg__set_error(NPG_ERR_OOM, "cuda %s: out of device memory (%zu bytes on cuda:%d)", what, nbytes,
                                  ctx->dev);
        return npg_cu_fail(e, what);
    }
    return NPG_OK;
}

static void block_put(npg_cu_ctx *ctx, void *ptr, size_t nbytes) {
    if (ptr) npg__bc_put(&ctx->cache, ptr, npg__bc_round(nbytes, 512), release_block, ctx);
}

npg_status npg_cu_scratch(npg_cu_ctx *ctx, size_t nbytes, void **out, const char *what) {
    return block_get(ctx, nbytes, out, what);
}

void npg_cu_scratch_free(npg_cu_ctx *ctx, void *p, size_t nbytes) { block_put(ctx, p, nbytes); }

static npg_status cu_alloc(int dev, size_t nbytes, void **out_ptr) {
    *out_ptr = NULL;
    NPG_CU_CTX(ctx, dev);
    return block_get(ctx, nbytes, out_ptr, "alloc");
}

static void cu_free(int dev, void *ptr, size_t nbytes) {
    if (!ptr) return;
    npg_cu_ctx *ctx = NULL;
    if (npg_cu_ctx_get(dev, &ctx) != NPG_OK) return;
    block_put(ctx, ptr, nbytes);
}

/* The cached blocks go back to the pool (stream-ordered frees), then the
 * pool gives its unused memory back to the driver once the stream is idle. */
static npg_status cu_empty_cache(int dev) {
    NPG_CU_CTX(ctx, dev);
    npg__bc_drain(&ctx->cache, release_block, ctx);
    NPG_CU_TRY(cudaStreamSynchronize(ctx->stream), "empty_cache");
    NPG_CU_TRY(cudaMemPoolTrimTo(ctx->pool, 0), "empty_cache");
    return check_flag(ctx);
}

static npg_status cu_copy_h2d(int dev, void *dst, const void *src, size_t nbytes) {
    NPG_CU_CTX(ctx, dev);
    if (nbytes == 0) return NPG_OK;
    /* Pageable sources are staged by the driver before cudaMemcpyAsync returns;
     * a pinned or managed one is read later, so wait for it: the caller may
     * reuse src as soon as we return. */
    bool wait = false;
    cudaPointerAttributes attr;
    if (cudaPointerGetAttributes(&attr, src) == cudaSuccess)
        wait = attr.type == cudaMemoryTypeHost || attr.type == cudaMemoryTypeManaged;
    else
        (void)cudaGetLastError();
    NPG_CU_TRY(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyHostToDevice, ctx->stream), "copy_h2d");
    if (wait) NPG_CU_TRY(cudaStreamSynchronize(ctx->stream), "copy_h2d");
    return NPG_OK;
}

static npg_status cu_copy_d2h(int dev, void *dst, const void *src, size_t nbytes) {
    NPG_CU_CTX(ctx, dev);
    if (nbytes > 0) NPG_CU_TRY(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToHost, ctx->stream), "copy_d2h");
    NPG_CU_TRY(cudaStreamSynchronize(ctx->stream), "copy_d2h");
    return check_flag(ctx);
}

static npg_status cu_copy_d2d(int dev, void *dst, const void *src, size_t nbytes) {
    NPG_CU_CTX(ctx, dev);
    if (nbytes == 0) return NPG_OK;
    NPG_CU_TRY(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToDevice, ctx->stream), "copy_d2d");
    return NPG_OK;
}

/* ---- the vtable ------------------------------------------------------------------------------ */

/* Dense linear algebra (solver.cu: cuSOLVER, cuBLAS for trsm). */
npg_status npg_cu_potrf(int dev, npg_dtype dt, int64_t batch, int64_t n, void *a, int *info);
npg_status npg_cu_getrf(int dev, npg_dtype dt, int64_t batch, int64_t n, void *a, int32_t *piv, int *info);
npg_status npg_cu_getrs(int dev, npg_dtype dt, int64_t batch, int64_t n, int64_t nrhs, const void *lu,
                        const int32_t *piv, void *b, bool trans);
npg_status npg_cu_trsm(int dev, npg_dtype dt, int64_t batch, int64_t n, int64_t nrhs, const void *a, void *b,
                       bool lower, bool trans, bool unit);
npg_status npg_cu_qr(int dev, npg_dtype dt, int64_t batch, int64_t m, int64_t n, int64_t qc, void *a, void *q,
                     void *r);
npg_status npg_cu_syevd(int dev, npg_dtype dt, int64_t batch, int64_t n, void *a, void *w, bool vectors, int *info);
npg_status npg_cu_gesvd(int dev, npg_dtype dt, int64_t batch, int64_t m, int64_t n, bool full, void *a, void *s,
                        void *u, void *vt, int *info);

/* Filled by name in a constexpr function (C++17 has no designated
 * initialisers), so the table is still constant-initialised. */
static constexpr npg_backend npg_cu_make_backend(void) {
    npg_backend b{};
    b.name = "cuda";
    b.type = NPG_DEVICE_CUDA;
    b.half_matmul = true;      /* cublasGemmEx: tensor cores, float32 accumulation */
    b.half_reduce = true;      /* float32 reducers on elements widened as they are read (reduce.cu) */
    b.half_im2col = true;      /* a gather of the 2-byte elements (conv.cu) */
    b.wide_int_sum = true;     /* bool / integers summed into int64 as they are read (reduce.cu) */
    b.wide_int_scan = true;    /* and scanned into int64 as they are read (scan.cu) */
    b.device_count = cu_device_count;
    b.device_info = cu_device_info;
    b.synchronize = cu_synchronize;
    b.alloc = cu_alloc;
    b.free = cu_free;
    b.empty_cache = cu_empty_cache;
    b.copy_h2d = cu_copy_h2d;
    b.copy_d2h = cu_copy_d2h;
    b.copy_d2d = cu_copy_d2d;
    b.fill = npg_cu_fill;
    b.copy = npg_cu_copy;
    b.unary = npg_cu_unary;
    b.binary = npg_cu_binary;
    b.where = npg_cu_where;
    b.reduce = npg_cu_reduce;
    b.scan = npg_cu_scan;
    b.gather = npg_cu_gather;
    b.scatter_add = npg_cu_scatter_add;
    b.matmul = npg_cu_matmul;
    b.random = npg_cu_random;
    b.sort = npg_cu_sort;
    b.nonzero = npg_cu_nonzero;
    b.softmax = npg_cu_softmax;
    b.softmax_backward = npg_cu_softmax_backward;
    b.cross_entropy = npg_cu_cross_entropy;
    b.cross_entropy_backward = npg_cu_cross_entropy_backward;
    b.im2col = npg_cu_im2col;
    b.col2im = npg_cu_col2im;
    b.pool2d = npg_cu_pool2d;
    b.pool2d_backward = npg_cu_pool2d_backward;
    b.sgd_step = npg_cu_sgd_step;
    b.adam_step = npg_cu_adam_step;
    b.potrf = npg_cu_potrf;
    b.getrf = npg_cu_getrf;
    b.getrs = npg_cu_getrs;
    b.trsm = npg_cu_trsm;
    b.qr = npg_cu_qr;
    b.syevd = npg_cu_syevd;
    b.gesvd = npg_cu_gesvd;
    return b;
}

extern "C" const npg_backend npg_cuda_backend = npg_cu_make_backend();
