/*
 * emu_rt.cpp (CUDA emulator, tests/cuemu) — the runtime behind
 * include/cuda_runtime.h: the block scheduler and the host API (memory,
 * copies, streams, devices, errors).
 *
 * A block runs one fiber per CUDA thread (64 KB stacks), scheduled round
 * robin: a fiber runs until it waits at a barrier (0 = __syncthreads, 1 + w =
 * a shuffle of warp w) or finishes; a barrier opens when all its members have
 * arrived, and a round with no progress aborts as a deadlock (a __syncthreads
 * or shuffle that not every thread reaches). Fibers are created once with
 * makecontext and reused for every block; switches use _setjmp/_longjmp (no
 * signal-mask system call per switch). Blocks of a launch run one after
 * another, so nothing about inter-block ordering is tested. Not for the
 * sanitizer builds (stack switching).
 */
#undef _FORTIFY_SOURCE /* __longjmp_chk rejects jumps between fiber stacks */
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <vector>

#include "cuemu.h"

dim3 threadIdx, blockIdx, blockDim, gridDim;
uint64_t npg_emu_slot[32][32];
long npg_emu_atomics;
long npg_emu_cas;
long npg_emu_cub_calls;
long npg_emu_radix_sorts;
void (*npg_emu_on_launch)(const char *kernel, dim3 grid, dim3 block);

namespace {
const size_t STACK = 64 * 1024;
struct Fiber {
    jmp_buf jb;
    ucontext_t uc;
    char *stack;
    bool started, done;
    int wait; /* barrier waited at, -1: runnable */
    dim3 tidx;
};
std::vector<Fiber *> F;
jmp_buf sched_jb;
int cur, nthr;
int arrived[33];
void (*g_body)(void *);
void *g_arg;

[[noreturn]] void to_sched(void) { _longjmp(sched_jb, 1); }
void yield_to_sched(void) {
    if (!_setjmp(F[cur]->jb)) to_sched();
}
void fiber_main(void) {
    for (;;) {
        g_body(g_arg);
        F[cur]->done = true;
        yield_to_sched(); /* resumed for the next block */
    }
}
void resume(int t) {
    cur = t;
    threadIdx = F[t]->tidx;
    if (_setjmp(sched_jb)) return;
    if (!F[t]->started) {
        F[t]->started = true;
        setcontext(&F[t]->uc);
    }
    _longjmp(F[t]->jb, 1);
}
} // namespace

void npg_emu_arrive(int bar) {
    F[cur]->wait = bar;
    arrived[bar]++;
    yield_to_sched();
}

void npg_emu_run_block(void (*body)(void *), void *arg, dim3 block, dim3 bidx) {
    nthr = (int)(block.x * block.y * block.z);
    if (nthr <= 0 || nthr > 1024) { /* npg_emu_launch_begin refused these */
        fprintf(stderr, "cuemu: block of %d threads\n", nthr);
        abort();
    }
    while ((int)F.size() < nthr) {
        Fiber *f = new Fiber();
        f->stack = (char *)malloc(STACK);
        getcontext(&f->uc);
        f->uc.uc_stack.ss_sp = f->stack;
        f->uc.uc_stack.ss_size = STACK;
        f->uc.uc_link = nullptr;
        makecontext(&f->uc, fiber_main, 0);
        F.push_back(f);
    }
    g_body = body;
    g_arg = arg;
    blockIdx = bidx;
    for (int t = 0; t < nthr; t++) {
        F[t]->wait = -1;
        F[t]->done = false;
        F[t]->tidx = dim3(t % block.x, (t / block.x) % block.y, t / (block.x * block.y));
    }
    memset(arrived, 0, sizeof arrived);
    int live = nthr;
    while (live > 0) {
        bool progress = false;
        for (int t = 0; t < nthr; t++) {
            if (F[t]->done || F[t]->wait != -1) continue;
            resume(t);
            progress = true;
            if (F[t]->done) live--;
        }
        for (int b = 0; b <= (nthr + 31) / 32; b++) {
            int members = b == 0 ? nthr : std::min(32, nthr - 32 * (b - 1)); /* the last warp may be partial */
            if (arrived[b] && arrived[b] == members) {
                for (int t = 0; t < nthr; t++)
                    if (F[t]->wait == b) F[t]->wait = -1;
                arrived[b] = 0;
                progress = true;
            }
        }
        if (!progress) {
            fprintf(stderr, "cuemu: deadlock in block (%u,%u,%u): %d of %d threads live;", bidx.x, bidx.y, bidx.z, live,
                    nthr);
            for (int b = 0; b <= (nthr + 31) / 32; b++)
                if (arrived[b]) fprintf(stderr, " barrier %d: %d arrived;", b, arrived[b]);
            fprintf(stderr, "\n");
            abort();
        }
    }
}

int npg_emu_sms = 1; /* SM count the launchers see (tests vary it; NPG_EMU_SMS for the library) */
bool npg_emu_strict_memory = true;
bool npg_emu_flush_atomics = true;

/* ---- launches ------------------------------------------------------------------- */
static std::mutex g_launch_lock; /* the scheduler's state is global: one launch at a time */

bool npg_emu_launch_begin(const char *kernel, dim3 grid, dim3 block) {
    const uint64_t threads = (uint64_t)block.x * block.y * block.z;
    if (threads == 0 || threads > 1024 || block.z > 64 || grid.x == 0 || grid.y == 0 || grid.z == 0 ||
        grid.x > 2147483647u || grid.y > 65535 || grid.z > 65535) {
        npg_emu_set_last_error(cudaErrorInvalidConfiguration);
        return false;
    }
    g_launch_lock.lock();
    npg_emu_device_enter();
    if (npg_emu_on_launch) npg_emu_on_launch(kernel, grid, block);
    return true;
}
static uint64_t g_launches; /* under g_launch_lock */
void npg_emu_block_order(uint64_t nb, uint64_t *mul, uint64_t *add) {
    static const bool forward = [] {
        const char *e = getenv("NPG_EMU_BLOCK_ORDER");
        return e && !strcmp(e, "forward");
    }();
    *mul = 1, *add = 0;
    if (forward || nb < 2) return;
    uint64_t x = ++g_launches * 0x9E3779B97F4A7C15ull; /* a different order each launch */
    x ^= x >> 29;
    *add = x % nb;
    /* nb - 1 (reverse order) every other launch, else a multiplier coprime to nb */
    if (g_launches & 1) {
        *mul = nb - 1;
        return;
    }
    for (uint64_t m = (x >> 7) % nb | 1;; m += 2) {
        uint64_t a = m % nb, b = nb;
        while (b) { uint64_t t = a % b; a = b; b = t; }
        if (a == 1) { *mul = m % nb; return; }
    }
}
void npg_emu_launch_end(void) {
    npg_emu_device_exit();
    g_launch_lock.unlock();
}

/* ---- the host API ---------------------------------------------------------------- */
namespace {
thread_local cudaError_t tl_last = cudaSuccess;
thread_local int tl_dev = 0;
std::mutex g_mem_lock;
std::map<uintptr_t, size_t> g_dev_blocks;  /* device allocations: start -> bytes */
std::map<uintptr_t, size_t> g_host_blocks; /* cudaHostAlloc'd */
size_t g_used;
int g_pool_dummy, g_stream_dummy;

size_t env_size(const char *name, size_t dflt) {
    const char *e = getenv(name);
    return e && *e ? (size_t)strtoull(e, NULL, 10) : dflt;
}
size_t mem_total(void) { return env_size("NPG_EMU_MEM_MB", 2048) << 20; }
int dev_count(void) { return (int)env_size("NPG_EMU_DEVICES", 1); }
cudaError_t fail(cudaError_t e) {
    tl_last = e;
    return e;
}
/* the block holding p, or end */
std::map<uintptr_t, size_t>::iterator find_block(std::map<uintptr_t, size_t> &m, const void *p) {
    auto it = m.upper_bound((uintptr_t)p);
    if (it == m.begin()) return m.end();
    --it;
    return (uintptr_t)p < it->first + std::max<size_t>(it->second, 1) ? it : m.end();
}
/* ---- device memory: one reserved region, closed to the host -------------------------
 * Device allocations come from one PROT_NONE reservation (first fit, 256-byte
 * granules). Outside a "device window" (a launch, a copy or memset, a CUB /
 * cuBLAS / cuSOLVER stand-in) the used part of the region is inaccessible, so
 * host code that dereferences a device pointer faults here as it would on a
 * GPU; the fault handler names it. Windows nest and count across threads
 * (another thread's window hides a host access rather than reporting a false
 * one). */
char *g_region;
size_t g_region_size, g_extent; /* reserved bytes; bytes ever handed out (from the start) */
std::map<size_t, size_t> g_free; /* offset -> bytes, coalesced */
int g_window;                    /* open device windows, under g_mem_lock */
/* Closing and opening cost a page-table walk over the used part per launch:
 * past NPG_EMU_PROTECT_MB (default 8) of it, the region stays open for the
 * rest of the process (a test with a huge graph), unchecked. */
bool g_open_for_good;
size_t protect_limit(void) { return env_size("NPG_EMU_PROTECT_MB", 8) << 20; }
struct sigaction g_prev_segv;

void segv_handler(int sig, siginfo_t *si, void *uc) {
    char *a = (char *)si->si_addr;
    if (g_region && a >= g_region && a < g_region + g_region_size) {
        char msg[160];
        int k = snprintf(msg, sizeof msg,
                         "cuemu: host code touched device memory at %p (offset %zu of the device region)\n", (void *)a,
                         (size_t)(a - g_region));
        if (k > 0) (void)!write(2, msg, (size_t)k);
    }
    sigaction(SIGSEGV, &g_prev_segv, nullptr); /* the fault repeats under the previous handler */
    (void)sig;
    (void)uc;
}

bool region_init(void) {
    if (g_region) return true;
    g_region_size = mem_total() + ((size_t)64 << 20); /* slack for granule rounding */
    void *r = mmap(nullptr, g_region_size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (r == MAP_FAILED) return false;
    g_region = (char *)r;
    g_free[0] = g_region_size;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = segv_handler;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &g_prev_segv);
    return true;
}

void protect(size_t from, size_t to, bool open) {
    const size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    from = from / pg * pg;
    to = (to + pg - 1) / pg * pg;
    if (to > from) mprotect(g_region + from, to - from, open ? PROT_READ | PROT_WRITE : PROT_NONE);
}
bool is_open(void) { return g_open_for_good || g_window > 0 || !npg_emu_strict_memory; }

/* under g_mem_lock */
void *region_alloc(size_t n) {
    if (!region_init()) return nullptr;
    n = (n + 255) / 256 * 256;
    for (auto it = g_free.begin(); it != g_free.end(); ++it) {
        if (it->second < n) continue;
        size_t off = it->first, left = it->second - n;
        g_free.erase(it);
        if (left) g_free[off + n] = left;
        const bool open = is_open();
        if (!open) protect(off, off + n, true);
        else if (off + n > g_extent) protect(g_extent, off + n, true); /* new pages, opened as the rest is */
        memset(g_region + off, 0xA5, n); /* garbage, as fresh device memory is */
        if (!open) protect(off, off + n, false);
        g_extent = std::max(g_extent, off + n);
        if (!g_open_for_good && npg_emu_strict_memory && g_extent > protect_limit()) {
            g_open_for_good = true;
            protect(0, g_extent, true);
        }
        return g_region + off;
    }
    return nullptr;
}
void region_free(void *p, size_t n) {
    n = (n + 255) / 256 * 256;
    size_t off = (size_t)((char *)p - g_region);
    auto next = g_free.lower_bound(off);
    if (next != g_free.end() && next->first == off + n) {
        n += next->second;
        next = g_free.erase(next);
    }
    if (next != g_free.begin()) {
        auto prev = std::prev(next);
        if (prev->first + prev->second == off) {
            prev->second += n;
            return;
        }
    }
    g_free[off] = n;
}
} // namespace

void npg_emu_device_enter(void) {
    std::lock_guard<std::mutex> g(g_mem_lock);
    if (g_window++ == 0 && g_region && npg_emu_strict_memory && !g_open_for_good) protect(0, g_extent, true);
}
void npg_emu_device_exit(void) {
    std::lock_guard<std::mutex> g(g_mem_lock);
    if (--g_window == 0 && g_region && npg_emu_strict_memory && !g_open_for_good) protect(0, g_extent, false);
}

namespace {
} // namespace

void npg_emu_set_last_error(cudaError_t e) { tl_last = e; }
cudaError_t cudaGetLastError(void) {
    cudaError_t e = tl_last;
    tl_last = cudaSuccess;
    return e;
}
cudaError_t cudaPeekAtLastError(void) { return tl_last; }
const char *cudaGetErrorString(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevicePointer: return "invalid device pointer";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    }
    return "unrecognized error code";
}
cudaError_t cudaGetDeviceCount(int *n) {
    *n = dev_count();
    return *n > 0 ? cudaSuccess : fail(cudaErrorNoDevice);
}
cudaError_t cudaSetDevice(int dev) {
    if (dev < 0 || dev >= dev_count()) return fail(cudaErrorInvalidDevice);
    tl_dev = dev;
    return cudaSuccess;
}
cudaError_t cudaGetDevice(int *dev) {
    *dev = tl_dev;
    return cudaSuccess;
}
cudaError_t cudaGetDeviceProperties(cudaDeviceProp *prop, int dev) {
    if (dev < 0 || dev >= dev_count()) return fail(cudaErrorInvalidDevice);
    memset(prop, 0, sizeof *prop);
    snprintf(prop->name, sizeof prop->name, "cuemu (CPU emulator of the CUDA backend)");
    prop->totalGlobalMem = mem_total();
    prop->multiProcessorCount = (int)env_size("NPG_EMU_SMS", (size_t)npg_emu_sms);
    prop->maxThreadsPerMultiProcessor = 2048;
    prop->maxThreadsPerBlock = 1024;
    prop->warpSize = 32;
    prop->major = 9;
    return cudaSuccess;
}
cudaError_t cudaDeviceSynchronize(void) { return cudaSuccess; }
cudaError_t cudaStreamCreate(cudaStream_t *s) {
    *s = &g_stream_dummy;
    return cudaSuccess;
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned) { return cudaStreamCreate(s); }
cudaError_t cudaStreamDestroy(cudaStream_t s) { return s ? cudaSuccess : fail(cudaErrorInvalidResourceHandle); }
cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaMalloc(void **p, size_t n) {
    *p = nullptr;
    std::lock_guard<std::mutex> g(g_mem_lock);
    if (n > mem_total() - g_used) return fail(cudaErrorMemoryAllocation);
    void *q = region_alloc(std::max<size_t>(n, 1));
    if (!q) return fail(cudaErrorMemoryAllocation);
    g_dev_blocks[(uintptr_t)q] = n;
    g_used += n;
    *p = q;
    return cudaSuccess;
}
cudaError_t cudaFree(void *p) {
    if (!p) return cudaSuccess;
    std::lock_guard<std::mutex> g(g_mem_lock);
    auto it = g_dev_blocks.find((uintptr_t)p);
    if (it == g_dev_blocks.end()) return fail(cudaErrorInvalidDevicePointer);
    g_used -= it->second;
    region_free(p, std::max<size_t>(it->second, 1));
    g_dev_blocks.erase(it);
    return cudaSuccess;
}
cudaError_t cudaMallocAsync(void **p, size_t n, cudaStream_t) { return cudaMalloc(p, n); }
cudaError_t cudaFreeAsync(void *p, cudaStream_t) { return cudaFree(p); }
cudaError_t cudaDeviceGetDefaultMemPool(cudaMemPool_t *pool, int dev) {
    if (dev < 0 || dev >= dev_count()) return fail(cudaErrorInvalidDevice);
    *pool = &g_pool_dummy;
    return cudaSuccess;
}
cudaError_t cudaMemPoolSetAttribute(cudaMemPool_t pool, cudaMemPoolAttr, void *value) {
    return pool && value ? cudaSuccess : fail(cudaErrorInvalidValue);
}
cudaError_t cudaMemPoolTrimTo(cudaMemPool_t pool, size_t) { return pool ? cudaSuccess : fail(cudaErrorInvalidValue); }
cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes) {
    std::lock_guard<std::mutex> g(g_mem_lock);
    *total_bytes = mem_total();
    *free_bytes = mem_total() - g_used;
    return cudaSuccess;
}
cudaError_t cudaHostAlloc(void **p, size_t n, unsigned) {
    *p = aligned_alloc(256, (std::max<size_t>(n, 1) + 255) / 256 * 256);
    if (!*p) return fail(cudaErrorMemoryAllocation);
    std::lock_guard<std::mutex> g(g_mem_lock);
    g_host_blocks[(uintptr_t)*p] = n;
    return cudaSuccess;
}
cudaError_t cudaHostGetDevicePointer(void **dev, void *host, unsigned) {
    std::lock_guard<std::mutex> g(g_mem_lock);
    if (find_block(g_host_blocks, host) == g_host_blocks.end()) return fail(cudaErrorInvalidValue);
    *dev = host;
    return cudaSuccess;
}
cudaError_t cudaFreeHost(void *p) {
    if (!p) return cudaSuccess;
    std::lock_guard<std::mutex> g(g_mem_lock);
    if (!g_host_blocks.erase((uintptr_t)p)) return fail(cudaErrorInvalidValue);
    free(p);
    return cudaSuccess;
}
cudaError_t cudaPointerGetAttributes(cudaPointerAttributes *attr, const void *p) {
    std::lock_guard<std::mutex> g(g_mem_lock);
    memset(attr, 0, sizeof *attr);
    attr->device = -2;
    if (find_block(g_dev_blocks, p) != g_dev_blocks.end()) {
        attr->type = cudaMemoryTypeDevice;
        attr->device = 0;
        attr->devicePointer = (void *)p;
    } else if (find_block(g_host_blocks, p) != g_host_blocks.end()) {
        attr->type = cudaMemoryTypeHost;
        attr->device = 0;
        attr->devicePointer = attr->hostPointer = (void *)p;
    } else {
        attr->type = cudaMemoryTypeUnregistered; /* CUDA 11+: success for plain host memory */
    }
    return cudaSuccess;
}

/* Copies and memsets check that the device side lies inside one device
 * allocation (cuda-memcheck would flag it; a GPU may fault or corrupt). */
static bool dev_range_ok(const void *p, size_t n) {
    if (n == 0 || !npg_emu_strict_memory) return true;
    std::lock_guard<std::mutex> g(g_mem_lock);
    auto it = find_block(g_dev_blocks, p);
    return it != g_dev_blocks.end() && (uintptr_t)p + n <= it->first + it->second;
}
static bool host_ptr_ok(const void *p, size_t n) {
    if (n == 0 || !npg_emu_strict_memory) return true;
    std::lock_guard<std::mutex> g(g_mem_lock);
    return find_block(g_dev_blocks, p) == g_dev_blocks.end(); /* a host side must not be device memory */
}
cudaError_t cudaMemset(void *p, int v, size_t n) { return cudaMemsetAsync(p, v, n, 0); }
cudaError_t cudaMemsetAsync(void *p, int v, size_t n, cudaStream_t) {
    if (!dev_range_ok(p, n)) return fail(cudaErrorInvalidValue);
    npg_emu_device_enter();
    memset(p, v, n);
    npg_emu_device_exit();
    return cudaSuccess;
}
cudaError_t cudaMemcpy(void *d, const void *s, size_t n, cudaMemcpyKind kind) { return cudaMemcpyAsync(d, s, n, kind, 0); }
cudaError_t cudaMemcpyAsync(void *d, const void *s, size_t n, cudaMemcpyKind kind, cudaStream_t) {
    bool ok = true;
    switch (kind) {
    case cudaMemcpyHostToDevice: ok = dev_range_ok(d, n) && host_ptr_ok(s, n); break;
    case cudaMemcpyDeviceToHost: ok = dev_range_ok(s, n) && host_ptr_ok(d, n); break;
    case cudaMemcpyDeviceToDevice: ok = dev_range_ok(d, n) && dev_range_ok(s, n); break;
    default: break;
    }
    if (!ok) return fail(cudaErrorInvalidValue);
    npg_emu_device_enter();
    if (n) memmove(d, s, n);
    npg_emu_device_exit();
    return cudaSuccess;
}
