/*
 * cuda_runtime.h (CUDA emulator, tests/cuemu) — a stand-in for the CUDA
 * runtime and device built-ins, so that npg's kernel sources compile with g++
 * (C++20) and run on the CPU (runtime: emu_rt.cpp).
 *
 * Model: a launch runs its blocks one after another; a block runs one fiber
 * per CUDA thread, switched cooperatively. __syncthreads() is barrier 0 and
 * each warp shuffle is a per-warp barrier (1 + warp), so the intra-block
 * semantics (shared memory, barriers, shuffles) are exact; `__shared__` is
 * `static` (one block alive at a time; launches are serialised by a lock).
 * Limits: blocks never overlap (they run one after another, in a scrambled
 * order), so the inter-block ordering of e.g. the one-launch reduction's
 * retirement counter is exercised only as orders, not as overlaps; atomics are
 * plain read-modify-writes; streams are synchronous (host API below); only
 * the built-ins npg's kernel files use exist. cuBLAS, cuSOLVER, cuRAND's
 * Philox and the CUB / thrust calls npg makes have CPU stand-ins next to
 * this file. With these, the whole of src/cuda builds into libnpg for the
 * CPU (NPG_CUDA=EMU, see CMakeLists.txt).
 */
#pragma once
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define __host__
#define __device__
#define __global__
#define __forceinline__ inline
#define __shared__ static
#define __launch_bounds__(...)

/* names of the emulator's own (no clash with a real CUDA runtime linked into
 * a CUDA-enabled libnpg) */
#define dim3 npg_emu_dim3
#define uint2 npg_emu_uint2
#define uint4 npg_emu_uint4
#define threadIdx npg_emu_threadIdx
#define blockIdx npg_emu_blockIdx
#define blockDim npg_emu_blockDim
#define gridDim npg_emu_gridDim

struct dim3 {
    unsigned x, y, z;
    dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};
struct alignas(8) uint2 { unsigned x, y; };
struct alignas(16) uint4 { unsigned x, y, z, w; };

/* ---- the host API (emu_rt.cpp) ------------------------------------------------
 * Device memory is one reserved region of host address space (256-byte
 * granules as cudaMalloc's, filled with 0xA5 garbage), as large as the
 * emulated device (NPG_EMU_MEM_MB, default 2048) so that out-of-memory
 * happens, and closed to the host outside device code.
 * Streams are synchronous: an async copy or memset is done on return, a
 * launch has run when it returns. NPG_EMU_DEVICES sets the device count
 * (default 1). Every name is a macro for an npg_emu_ one. */
#define cudaGetLastError npg_emu_cudaGetLastError
#define cudaPeekAtLastError npg_emu_cudaPeekAtLastError
#define cudaGetErrorString npg_emu_cudaGetErrorString
#define cudaGetDeviceCount npg_emu_cudaGetDeviceCount
#define cudaSetDevice npg_emu_cudaSetDevice
#define cudaGetDevice npg_emu_cudaGetDevice
#define cudaGetDeviceProperties npg_emu_cudaGetDeviceProperties
#define cudaDeviceProp npg_emu_cudaDeviceProp
#define cudaDeviceSynchronize npg_emu_cudaDeviceSynchronize
#define cudaStreamCreate npg_emu_cudaStreamCreate
#define cudaStreamCreateWithFlags npg_emu_cudaStreamCreateWithFlags
#define cudaStreamDestroy npg_emu_cudaStreamDestroy
#define cudaStreamSynchronize npg_emu_cudaStreamSynchronize
#define cudaMalloc npg_emu_cudaMalloc
#define cudaFree npg_emu_cudaFree
#define cudaMallocAsync npg_emu_cudaMallocAsync
#define cudaFreeAsync npg_emu_cudaFreeAsync
#define cudaDeviceGetDefaultMemPool npg_emu_cudaDeviceGetDefaultMemPool
#define cudaMemPoolSetAttribute npg_emu_cudaMemPoolSetAttribute
#define cudaMemPoolTrimTo npg_emu_cudaMemPoolTrimTo
#define cudaMemGetInfo npg_emu_cudaMemGetInfo
#define cudaHostAlloc npg_emu_cudaHostAlloc
#define cudaHostGetDevicePointer npg_emu_cudaHostGetDevicePointer
#define cudaFreeHost npg_emu_cudaFreeHost
#define cudaPointerGetAttributes npg_emu_cudaPointerGetAttributes
#define cudaPointerAttributes npg_emu_cudaPointerAttributes
#define cudaMemset npg_emu_cudaMemset
#define cudaMemsetAsync npg_emu_cudaMemsetAsync
#define cudaMemcpy npg_emu_cudaMemcpy
#define cudaMemcpyAsync npg_emu_cudaMemcpyAsync

typedef enum {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInvalidConfiguration = 9,
    cudaErrorInvalidDevicePointer = 17,
    cudaErrorNoDevice = 100,
    cudaErrorInvalidDevice = 101,
    cudaErrorInvalidResourceHandle = 400
} cudaError_t;
typedef void *cudaStream_t;
typedef void *cudaMemPool_t;
typedef enum {
    cudaMemcpyHostToHost = 0,
    cudaMemcpyHostToDevice = 1,
    cudaMemcpyDeviceToHost = 2,
    cudaMemcpyDeviceToDevice = 3,
    cudaMemcpyDefault = 4
} cudaMemcpyKind;
enum { cudaStreamDefault = 0, cudaStreamNonBlocking = 1 };
enum { cudaHostAllocDefault = 0, cudaHostAllocPortable = 1, cudaHostAllocMapped = 2 };
typedef enum { cudaMemPoolAttrReleaseThreshold = 4 } cudaMemPoolAttr;
typedef enum {
    cudaMemoryTypeUnregistered = 0,
    cudaMemoryTypeHost = 1,
    cudaMemoryTypeDevice = 2,
    cudaMemoryTypeManaged = 3
} cudaMemoryType;
struct cudaPointerAttributes {
    cudaMemoryType type;
    int device;
    void *devicePointer;
    void *hostPointer;
};
struct cudaDeviceProp {
    char name[256];
    size_t totalGlobalMem;
    int multiProcessorCount;
    int maxThreadsPerMultiProcessor;
    int maxThreadsPerBlock;
    int warpSize;
    int major, minor;
};

cudaError_t cudaGetLastError(void);    /* returns and clears this thread's last error */
cudaError_t cudaPeekAtLastError(void); /* returns it */
const char *cudaGetErrorString(cudaError_t e);
cudaError_t cudaGetDeviceCount(int *n);
cudaError_t cudaSetDevice(int dev);
cudaError_t cudaGetDevice(int *dev);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp *prop, int dev);
cudaError_t cudaDeviceSynchronize(void);
cudaError_t cudaStreamCreate(cudaStream_t *s);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned flags);
cudaError_t cudaStreamDestroy(cudaStream_t s);
cudaError_t cudaStreamSynchronize(cudaStream_t s);
cudaError_t cudaMalloc(void **p, size_t n);
cudaError_t cudaFree(void *p);
cudaError_t cudaMallocAsync(void **p, size_t n, cudaStream_t s);
cudaError_t cudaFreeAsync(void *p, cudaStream_t s);
cudaError_t cudaDeviceGetDefaultMemPool(cudaMemPool_t *pool, int dev);
cudaError_t cudaMemPoolSetAttribute(cudaMemPool_t pool, cudaMemPoolAttr attr, void *value);
cudaError_t cudaMemPoolTrimTo(cudaMemPool_t pool, size_t keep);
cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes);
cudaError_t cudaHostAlloc(void **p, size_t n, unsigned flags);
cudaError_t cudaHostGetDevicePointer(void **dev, void *host, unsigned flags);
cudaError_t cudaFreeHost(void *p);
cudaError_t cudaPointerGetAttributes(cudaPointerAttributes *attr, const void *p);
cudaError_t cudaMemset(void *p, int v, size_t n);
cudaError_t cudaMemsetAsync(void *p, int v, size_t n, cudaStream_t s = 0);
cudaError_t cudaMemcpy(void *d, const void *s, size_t n, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void *d, const void *s, size_t n, cudaMemcpyKind kind, cudaStream_t st = 0);
/* Device code running on the host (a launch, a copy, the CUB / cuBLAS /
 * cuSOLVER stand-ins) opens the device memory for its duration; outside, the
 * host faults on it as on a GPU (emu_rt.cpp). */
void npg_emu_device_enter(void);
void npg_emu_device_exit(void);
struct npg_emu_device_window {
    npg_emu_device_window() { npg_emu_device_enter(); }
    ~npg_emu_device_window() { npg_emu_device_exit(); }
    npg_emu_device_window(const npg_emu_device_window &) = delete;
};
/* a failed launch's error, for cudaGetLastError */
void npg_emu_set_last_error(cudaError_t e);
/* SM count the devices report (tests vary it; the library reads NPG_EMU_SMS) */
extern int npg_emu_sms;
/* copies and memsets check their device side against the allocations (off
 * for the kernel tests, whose arrays are plain host memory) */
extern bool npg_emu_strict_memory;

/* ---- the emulated thread ------------------------------------------------- */
extern dim3 threadIdx, blockIdx, blockDim, gridDim;
void npg_emu_arrive(int bar);          /* wait at barrier `bar` (emu_rt.cpp) */
extern uint64_t npg_emu_slot[32][32];  /* [warp][lane]: a shuffle's values */
extern long npg_emu_atomics;           /* atomic operations so far */

inline void __syncthreads() { npg_emu_arrive(0); }
inline void __threadfence() {}
inline unsigned __umulhi(unsigned a, unsigned b) { return (unsigned)(((uint64_t)a * b) >> 32); }
inline unsigned __ldcg(const unsigned *p) { return *(const volatile unsigned *)p; }
inline unsigned atomicInc(unsigned *p, unsigned val) {
    npg_emu_atomics++;
    unsigned old = *p;
    *p = old >= val ? 0 : old + 1;
    return old;
}
/* The other atomics (index.cu's scatter_add): plain read-modify-writes, exact
 * since fibers switch only at barriers. */
extern long npg_emu_cas;               /* atomicCAS calls so far */
template <class T> inline T npg_emu_atomic_add(T *p, T v) {
    npg_emu_atomics++;
    T old = *p;
    *p = old + v;
    return old;
}
/* The hardware's atom.add.f32 flushes subnormal inputs and results to a
 * signed zero (PTX ISA); npg_emu_flush_atomics (on for the library, off for
 * the kernel tests, which compare bit for bit with the CPU) does the same. */
extern bool npg_emu_flush_atomics;
inline float npg_emu_ftz(float x) { return fabsf(x) < 1.17549435e-38f ? copysignf(0.0f, x) : x; }
inline float atomicAdd(float *p, float v) {
    if (!npg_emu_flush_atomics) return npg_emu_atomic_add(p, v);
    npg_emu_atomics++;
    float old = *p;
    *p = npg_emu_ftz(npg_emu_ftz(old) + npg_emu_ftz(v));
    return old;
}
inline double atomicAdd(double *p, double v) { return npg_emu_atomic_add(p, v); }
inline int atomicAdd(int *p, int v) { return (int)npg_emu_atomic_add((unsigned *)p, (unsigned)v); }
inline unsigned atomicAdd(unsigned *p, unsigned v) { return npg_emu_atomic_add(p, v); }
inline unsigned long long atomicAdd(unsigned long long *p, unsigned long long v) { return npg_emu_atomic_add(p, v); }
inline unsigned atomicCAS(unsigned *p, unsigned cmp, unsigned val) {
    npg_emu_atomics++;
    npg_emu_cas++;
    unsigned old = *p;
    if (old == cmp) *p = val;
    return old;
}
inline unsigned long long atomicCAS(unsigned long long *p, unsigned long long cmp, unsigned long long val) {
    npg_emu_atomics++;
    npg_emu_cas++;
    unsigned long long old = *p;
    if (old == cmp) *p = val;
    return old;
}
inline unsigned __float_as_uint(float x) { unsigned u; memcpy(&u, &x, 4); return u; }
inline long long __double_as_longlong(double x) { long long u; memcpy(&u, &x, 8); return u; }
template <class T> inline T min(T a, T b) { return a < b ? a : b; }

inline int npg_emu_tid() { return threadIdx.x + threadIdx.y * blockDim.x + threadIdx.z * blockDim.x * blockDim.y; }
/* kind 0: down, 1: up, 2: from lane `arg`, 3: from lane ^ `arg`; all 32
 * lanes must take part */
template <class T> inline T npg_emu_shfl(T v, int kind, int arg) {
    static_assert(sizeof(T) <= 8, "shuffles move at most 8 bytes");
    int t = npg_emu_tid(), lane = t % 32, warp = t / 32;
    memcpy(&npg_emu_slot[warp][lane], &v, sizeof(T));
    npg_emu_arrive(1 + warp);
    int src = lane;
    if (kind == 0) {
        src = lane + arg;
        if (src >= 32) src = lane;
    } else if (kind == 1) {
        src = lane - arg;
        if (src < 0) src = lane;
    } else if (kind == 3) {
        src = (lane ^ arg) & 31;
    } else {
        src = arg & 31;
    }
    T r;
    memcpy(&r, &npg_emu_slot[warp][src], sizeof(T));
    npg_emu_arrive(1 + warp);
    return r;
}
template <class T> inline T __shfl_down_sync(unsigned, T v, int d) { return npg_emu_shfl(v, 0, d); }
template <class T> inline T __shfl_up_sync(unsigned, T v, int d) { return npg_emu_shfl(v, 1, d); }
template <class T> inline T __shfl_sync(unsigned, T v, int s) { return npg_emu_shfl(v, 2, s); }
template <class T> inline T __shfl_xor_sync(unsigned, T v, int m) { return npg_emu_shfl(v, 3, m); }

/* A vector load/store that would fault on a GPU (rewrite.py inserts this
 * into npg_cu_vload / npg_cu_vstore of common.cuh). */
#define NPG_EMU_CHECK_ALIGN(p, n)                                                               \
    do {                                                                                        \
        if ((uintptr_t)(p) % (n)) {                                                             \
            fprintf(stderr, "cuemu: misaligned %zu-byte vector access at %p\n", (size_t)(n), (const void *)(p)); \
            abort();                                                                            \
        }                                                                                       \
    } while (0)

/* ---- launches ------------------------------------------------------------ */
/* Runs one block of the current launch: body() once per thread (emu_rt.cpp). */
void npg_emu_run_block(void (*body)(void *), void *arg, dim3 block, dim3 bidx);
/* Observer of every launch (tests use it to see which launcher path ran). */
extern void (*npg_emu_on_launch)(const char *kernel, dim3 grid, dim3 block);

/* Launch configuration check as the runtime's (cudaErrorInvalidConfiguration
 * for cudaGetLastError); takes the lock that serialises launches (the fiber
 * scheduler is global) and releases it in npg_emu_launch_end. */
bool npg_emu_launch_begin(const char *kernel, dim3 grid, dim3 block);
/* This launch's block order: block (mul * i + add) % nblocks runs i-th, mul
 * coprime to nblocks (NPG_EMU_BLOCK_ORDER=forward: index order). */
void npg_emu_block_order(uint64_t nblocks, uint64_t *mul, uint64_t *add);
void npg_emu_launch_end(void);

template <class K> struct npg_emu_launcher {
    const char *name;
    K kernel;
    dim3 grid, block;
    template <class... A> void operator()(A... args) const {
        if (!npg_emu_launch_begin(name, grid, block)) return;
        gridDim = grid;
        blockDim = block;
        auto call = [&] { kernel(args...); };
        auto tramp = [](void *c) { (*(decltype(call) *)c)(); };
        /* the blocks in a scrambled order (an affine permutation that changes
         * from launch to launch), never in index order: a block that reads
         * what a lower-numbered block of the same launch wrote races on a GPU */
        const uint64_t nb = (uint64_t)grid.x * grid.y * grid.z;
        uint64_t mul, add;
        npg_emu_block_order(nb, &mul, &add);
        for (uint64_t i = 0; i < nb; i++) {
            const uint64_t j = (unsigned __int128)(mul * (unsigned __int128)i + add) % nb;
            npg_emu_run_block(tramp, &call, block,
                              dim3((unsigned)(j % grid.x), (unsigned)(j / grid.x % grid.y), (unsigned)(j / grid.x / grid.y)));
        }
        npg_emu_launch_end();
    }
};
/* `kernel<<<grid, block, shmem, stream>>>(args)` is rewritten (rewrite.py) to
 * `npg_emu_launch("kernel", kernel, grid, block, shmem, stream)(args)`. */
template <class K>
npg_emu_launcher<K> npg_emu_launch(const char *name, K kernel, dim3 grid, dim3 block, size_t = 0, cudaStream_t = 0) {
    return npg_emu_launcher<K>{name, kernel, grid, block};
}
