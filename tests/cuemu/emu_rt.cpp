/*
 * emu_rt.cpp (CUDA emulator, tests/cuemu) — the runtime behind
 * include/cuda_runtime.h, plus CPU stand-ins for the CUDA backend's context
 * and scratch functions (backend.cu is not emulated).
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
#include <ucontext.h>

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
    if (nthr <= 0 || nthr % 32 || nthr > 1024) {
        fprintf(stderr, "cuemu: block of %d threads (need a multiple of 32, at most 1024)\n", nthr);
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
        for (int b = 0; b <= nthr / 32; b++) {
            int members = b == 0 ? nthr : 32;
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
            for (int b = 0; b <= nthr / 32; b++)
                if (arrived[b]) fprintf(stderr, " barrier %d: %d arrived;", b, arrived[b]);
            fprintf(stderr, "\n");
            abort();
        }
    }
}

/* ---- the CUDA backend's host side, emulated ------------------------------ */
int npg_emu_sms = 1; /* SM count the launchers see (tests vary it) */

namespace npg_emu {
#include "common.cuh"

static npg_cu_ctx g_ctx;
static int g_flag; /* the deferred index flag (backend.cu: mapped pinned memory) */

npg_status npg_cu_ctx_get(int, npg_cu_ctx **out) {
    npg_cu_ctx *c = &g_ctx;
    if (c->sm_count != npg_emu_sms) {
        c->sm_count = npg_emu_sms;
        c->max_threads_per_sm = 2048;
        free(c->reduce_buf);
        c->reduce_buf_bytes = NPG_CU_REDUCE_BUF_BYTES(c->sm_count);
        c->reduce_buf = calloc(1, c->reduce_buf_bytes); /* zeroed as backend.cu does */
    }
    c->flag_host = c->flag_dev = &g_flag;
    *out = c;
    return NPG_OK;
}
npg_status npg_cu_fail(cudaError_t, const char *what) { return npg__set_error(NPG_ERR_CUDA, "cuemu: %s failed", what); }
npg_status npg_cu_blas_fail(cublasStatus_t, const char *what) {
    return npg__set_error(NPG_ERR_CUDA, "cuemu: cuBLAS is not emulated (%s)", what);
}
npg_status npg_cu_unsupported(const char *what, npg_dtype dt) {
    return npg__set_error(NPG_ERR_UNSUPPORTED, "%s: dtype %s is not supported on CUDA", what, npg_dtype_name(dt));
}
/* scratch: filled with garbage so that a kernel reading what it never wrote differs */
npg_status npg_cu_scratch(npg_cu_ctx *, size_t n, void **out, const char *) {
    *out = malloc(n + 64);
    memset(*out, 0xA5, n + 64);
    return NPG_OK;
}
void npg_cu_scratch_free(npg_cu_ctx *, void *p, size_t) { free(p); }
} // namespace npg_emu
