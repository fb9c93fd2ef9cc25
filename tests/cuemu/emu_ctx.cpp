/*
 * emu_ctx.cpp (CUDA emulator, tests/cuemu) — CPU stand-ins for the CUDA
 * backend's context, error and scratch functions, for the kernel tests
 * (cuemu_test_kernels), which compile the kernel files without backend.cu.
 */
#include "cuemu.h"

/* ---- the CUDA backend's host side, emulated ------------------------------ */
/* the kernel tests' arrays are plain malloc'd memory, not emulated device memory */
static const bool g_loose = [] {
    npg_emu_strict_memory = false;
    npg_emu_flush_atomics = false;
    return true;
}();

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
