/*
 * cuda_runtime.h (CUDA emulator, tests/cuemu) — a stand-in for the CUDA
 * runtime and device built-ins, so that npg's kernel sources compile with g++
 * (C++20) and run on the CPU (runtime: emu_rt.cpp).
 *
 * Model: a launch runs its blocks one after another; a block runs one fiber
 * per CUDA thread, switched cooperatively. __syncthreads() is barrier 0 and
 * each warp shuffle is a per-warp barrier (1 + warp), so the intra-block
 * semantics (shared memory, barriers, shuffles) are exact; `__shared__` is
 * `static` (one block alive at a time). Limits: blocks never overlap, so the
 * inter-block ordering of e.g. the one-launch reduction's retirement counter
 * is not exercised; atomics are plain read-modify-writes; streams are
 * synchronous (cudaMemsetAsync/cudaMemcpyAsync are memset/memcpy); only the
 * built-ins those kernel files use exist (reduce, scan, matmul, elementwise,
 * unary, binary, index, conv, sort, nn); no cuBLAS (cublas_v2.h stubs) or cuRAND; of
 * CUB only DeviceSelect::Flagged and DeviceRadixSort::SortPairs (include/cub/,
 * host implementations).
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

typedef int cudaError_t;
enum { cudaSuccess = 0, cudaErrorMemoryAllocation = 2 };
typedef void *cudaStream_t;
typedef void *cudaMemPool_t;
enum { cudaMemcpyDeviceToDevice = 3 };
inline cudaError_t cudaGetLastError() { return cudaSuccess; }
inline cudaError_t cudaSetDevice(int) { return cudaSuccess; }
inline cudaError_t cudaMemsetAsync(void *p, int v, size_t n, cudaStream_t) { memset(p, v, n); return cudaSuccess; }
inline cudaError_t cudaMemcpyAsync(void *d, const void *s, size_t n, int, cudaStream_t) {
    memcpy(d, s, n);
    return cudaSuccess;
}

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
 * since fibers switch only at barriers. atomicAdd on float adds as the CPU
 * does (no flush of subnormals as the hardware's atom.add.f32). */
extern long npg_emu_cas;               /* atomicCAS calls so far */
template <class T> inline T npg_emu_atomic_add(T *p, T v) {
    npg_emu_atomics++;
    T old = *p;
    *p = old + v;
    return old;
}
inline float atomicAdd(float *p, float v) { return npg_emu_atomic_add(p, v); }
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

template <class K> struct npg_emu_launcher {
    const char *name;
    K kernel;
    dim3 grid, block;
    template <class... A> void operator()(A... args) const {
        if (npg_emu_on_launch) npg_emu_on_launch(name, grid, block);
        gridDim = grid;
        blockDim = block;
        auto call = [&] { kernel(args...); };
        auto tramp = [](void *c) { (*(decltype(call) *)c)(); };
        for (unsigned bz = 0; bz < grid.z; bz++)
            for (unsigned by = 0; by < grid.y; by++)
                for (unsigned bx = 0; bx < grid.x; bx++) npg_emu_run_block(tramp, &call, block, dim3(bx, by, bz));
    }
};
/* `kernel<<<grid, block, shmem, stream>>>(args)` is rewritten (rewrite.py) to
 * `npg_emu_launch("kernel", kernel, grid, block, shmem, stream)(args)`. */
template <class K>
npg_emu_launcher<K> npg_emu_launch(const char *name, K kernel, dim3 grid, dim3 block, size_t = 0, cudaStream_t = 0) {
    return npg_emu_launcher<K>{name, kernel, grid, block};
}
