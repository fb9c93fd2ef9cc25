/*
 * emu_runtime_test.cpp (CUDA emulator, tests/cuemu; NPG_CUDA=EMU builds
 * only) — the emulator's own promises, which the rest of the emulated pass
 * relies on: host code that touches device memory faults, a bad launch
 * configuration is an error, and the cuBLAS / cuSOLVER stand-ins reject the
 * arguments the real libraries reject and compute what they compute.
 */
#include <criterion/criterion.h>
#include <signal.h>

#include <vector>

#include "cublas_v2.h"
#include "cuda_runtime.h"
#include "cusolverDn.h"
#include "npg.h"

Test(cuemu_runtime, host_read_of_device_memory_faults, .signal = SIGSEGV) {
    npg_opts o = {};
    o.device.type = NPG_DEVICE_CUDA; /* cuda:0 (NPG_OPTS / NPG_SHAPE are C compound literals) */
    npg_shape sh = {};
    sh.ndim = 1;
    sh.dims[0] = 16;
    npg_array *x = npg_ones(sh, &o);
    cr_assert(x, "%s", npg_last_error());
    cr_assert_eq(npg_item(npg_sum(x, npg_axes{}, false)), 16.0); /* device code may read it */
    volatile float *p = (volatile float *)npg_data(x);
    (void)p[3]; /* the host may not */
    cr_assert_fail("a host read of device memory did not fault");
}

Test(cuemu_runtime, copies_check_their_device_side) {
    void *d = nullptr;
    cr_assert_eq(cudaMalloc(&d, 64), cudaSuccess);
    char h[128] = {0};
    cr_assert_eq(cudaMemcpy(d, h, 64, cudaMemcpyHostToDevice), cudaSuccess);
    cr_assert_eq(cudaMemcpy(d, h, 65, cudaMemcpyHostToDevice), cudaErrorInvalidValue, "past the allocation");
    cr_assert_eq(cudaGetLastError(), cudaErrorInvalidValue);
    cr_assert_eq(cudaGetLastError(), cudaSuccess, "cleared by the read");
    cr_assert_eq(cudaMemcpy(h, h + 64, 8, cudaMemcpyDeviceToHost), cudaErrorInvalidValue, "a host pointer as device");
    cr_assert_eq(cudaFree(d), cudaSuccess);
    cr_assert_eq(cudaFree(d), cudaErrorInvalidDevicePointer, "a double free");
    (void)cudaGetLastError();
    size_t fr = 0, tot = 0;
    cr_assert_eq(cudaMemGetInfo(&fr, &tot), cudaSuccess);
    void *big = nullptr;
    cr_assert_eq(cudaMalloc(&big, tot + 1), cudaErrorMemoryAllocation);
    (void)cudaGetLastError();
}

static void noop_kernel(int *) {}
Test(cuemu_runtime, bad_launch_configuration_is_an_error) {
    (void)cudaGetLastError();
    npg_emu_launch("noop", noop_kernel, dim3(1), dim3(2048))(nullptr);
    cr_assert_eq(cudaGetLastError(), cudaErrorInvalidConfiguration, "2048 threads per block");
    npg_emu_launch("noop", noop_kernel, dim3(1, 70000), dim3(32))(nullptr);
    cr_assert_eq(cudaGetLastError(), cudaErrorInvalidConfiguration, "grid.y over 65535");
    npg_emu_launch("noop", noop_kernel, dim3(2), dim3(33))(nullptr); /* a partial warp is fine */
    cr_assert_eq(cudaGetLastError(), cudaSuccess);
}

/* device buffers filled from / read to host vectors */
template <class T> static T *dev_from(const std::vector<T> &h) {
    void *d = nullptr;
    cr_assert_eq(cudaMalloc(&d, h.size() * sizeof(T)), cudaSuccess);
    cr_assert_eq(cudaMemcpy(d, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
    return (T *)d;
}
template <class T> static std::vector<T> host_of(const T *d, size_t n) {
    std::vector<T> h(n);
    cr_assert_eq(cudaMemcpy(h.data(), d, n * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
    return h;
}

Test(cuemu_runtime, cublas_gemm_is_column_major_and_checks_arguments) {
    cublasHandle_t h;
    cr_assert_eq(cublasCreate(&h), CUBLAS_STATUS_SUCCESS);
    /* A 2x3, B 3x2 column-major: C = A B (2x2) */
    std::vector<float> a = {1, 4, 2, 5, 3, 6}, b = {7, 9, 11, 8, 10, 12}, c(4, -1.0f);
    float *da = dev_from(a), *db = dev_from(b), *dc = dev_from(c);
    const float one = 1, zero = 0;
    cr_assert_eq(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 3, &one, da, 2, db, 3, &zero, dc, 2),
                 CUBLAS_STATUS_SUCCESS);
    std::vector<float> r = host_of(dc, 4);
    const float want[4] = {58, 139, 64, 154};
    for (int i = 0; i < 4; i++) cr_assert_eq(r[i], want[i], "C[%d] = %g", i, r[i]);
    /* lda below the rows of A, ldc below m: rejected as by cuBLAS */
    cr_assert_eq(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 3, &one, da, 1, db, 3, &zero, dc, 2),
                 CUBLAS_STATUS_INVALID_VALUE);
    cr_assert_eq(cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, 2, 2, 3, &one, da, 2, db, 3, &zero, dc, 2),
                 CUBLAS_STATUS_INVALID_VALUE, "op(A) = A^T needs lda >= k");
    cr_assert_eq(cublasSgemm(nullptr, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 3, &one, da, 2, db, 3, &zero, dc, 2),
                 CUBLAS_STATUS_NOT_INITIALIZED);
    cudaFree(da), cudaFree(db), cudaFree(dc);
    cublasDestroy(h);
}

Test(cuemu_runtime, cusolver_checks_sizes_and_workspace) {
    cusolverDnHandle_t h;
    cr_assert_eq(cusolverDnCreate(&h), CUSOLVER_STATUS_SUCCESS);
    int lw = 0;
    cr_assert_eq(cusolverDnSgesvd_bufferSize(h, 4, 3, &lw), CUSOLVER_STATUS_SUCCESS);
    cr_assert_gt(lw, 0);
    std::vector<float> a(12, 1.0f), s(3), w((size_t)lw);
    std::vector<int> info(1, 7);
    float *da = dev_from(a), *ds = dev_from(s), *dw = dev_from(w);
    int *di = dev_from(info);
    /* cuSOLVER's gesvd: m >= n only */
    cr_assert_eq(cusolverDnSgesvd(h, 'N', 'N', 3, 4, da, 3, ds, nullptr, 3, nullptr, 4, dw, lw, nullptr, di),
                 CUSOLVER_STATUS_INVALID_VALUE);
    /* a workspace smaller than bufferSize said */
    cr_assert_eq(cusolverDnSgesvd(h, 'N', 'N', 4, 3, da, 4, ds, nullptr, 4, nullptr, 3, dw, lw - 1, nullptr, di),
                 CUSOLVER_STATUS_INVALID_VALUE);
    cr_assert_eq(cusolverDnSgesvd(h, 'N', 'N', 4, 3, da, 4, ds, nullptr, 4, nullptr, 3, dw, lw, nullptr, di),
                 CUSOLVER_STATUS_SUCCESS);
    std::vector<float> sv = host_of(ds, 3);
    cr_assert_float_eq(sv[0], 3.4641016f, 1e-5, "the ones matrix: one singular value sqrt(12), got %g", sv[0]);
    cr_assert_float_eq(sv[1], 0.0f, 1e-5);
    cr_assert_eq(host_of(di, 1)[0], 0);
    cudaFree(da), cudaFree(ds), cudaFree(dw), cudaFree(di);
    cusolverDnDestroy(h);
}
