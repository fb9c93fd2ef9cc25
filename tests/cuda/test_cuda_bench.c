/*
 * test_cuda_bench.c — the CUDA backend's speed targets as ratios against
 * ceilings measured in the same run on the same device: device-to-device
 * copy bandwidth for elementwise ops and full reductions, a direct cuBLAS
 * call for matmul. Prints a table; never asserts on a timing (DESIGN.md
 * section 8). Opt-in: skips unless NPG_CUDA_BENCH=1 and a GPU is present.
 *
 *   NPG_CUDA_BENCH=1 ./cuda_test_cuda_bench --verbose
 */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

#define G (&npg_cuda_backend)

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static npg_tdesc flat_desc(void *p, npg_dtype dt, int64_t n) {
    npg_tdesc d;
    memset(&d, 0, sizeof d);
    d.data = p;
    d.dtype = dt;
    d.ndim = 1;
    d.shape[0] = n;
    d.strides[0] = 1;
    return d;
}

/* seconds per call of `body` (kind selects it), after a warm-up */
typedef struct bctx {
    void *a, *b, *o;
    int64_t n;
} bctx;

static npg_status run_kind(int kind, const bctx *c) {
    npg_tdesc a = flat_desc(c->a, NPG_FLOAT32, c->n), b = flat_desc(c->b, NPG_FLOAT32, c->n);
    npg_tdesc o = flat_desc(c->o, NPG_FLOAT32, c->n), o1 = flat_desc(c->o, NPG_FLOAT32, 1);
    o1.ndim = 0;
    switch (kind) {
    case 0: return G->copy_d2d(0, c->o, c->a, (size_t)c->n * 4);
    case 1: return G->binary(0, NPG_OP_ADD, &o, &a, &b);
    case 2: return G->reduce(0, NPG_OP_SUM, &o1, &a, 1);
    case 3: return G->unary(0, NPG_OP_EXP, &o, &a, NULL);
    default: return NPG_ERR_INTERNAL;
    }
}

static double time_kind(int kind, const bctx *c, int iters) {
    for (int i = 0; i < 3; i++) cr_assert_eq(run_kind(kind, c), NPG_OK, "%s", npg_last_error());
    cr_assert_eq(G->synchronize(0), NPG_OK);
    double t0 = now_s();
    for (int i = 0; i < iters; i++) run_kind(kind, c);
    cr_assert_eq(G->synchronize(0), NPG_OK, "%s", npg_last_error());
    return (now_s() - t0) / iters;
}

Test(cuda_bench, throughput_ratios) {
    if (!getenv("NPG_CUDA_BENCH")) cr_skip_test("set NPG_CUDA_BENCH=1 to run the CUDA benchmarks");
    if (G->device_count() == 0) cr_skip_test("no CUDA device");
    npg_device_info info;
    cr_assert_eq(G->device_info(0, &info), NPG_OK);
    printf("device: %s\n", info.name);

    bctx c = {NULL, NULL, NULL, (int64_t)1 << 24}; /* 16M float32 */
    cr_assert_eq(G->alloc(0, (size_t)c.n * 4, &c.a), NPG_OK);
    cr_assert_eq(G->alloc(0, (size_t)c.n * 4, &c.b), NPG_OK);
    cr_assert_eq(G->alloc(0, (size_t)c.n * 4, &c.o), NPG_OK);
    npg_tdesc a = flat_desc(c.a, NPG_FLOAT32, c.n), b = flat_desc(c.b, NPG_FLOAT32, c.n);
    npg_kparams p;
    memset(&p, 0, sizeof p);
    p.f[0] = -1, p.f[1] = 1;
    cr_assert_eq(G->random(0, NPG_OP_RAND_UNIFORM, &a, 1, 0, &p), NPG_OK);
    cr_assert_eq(G->random(0, NPG_OP_RAND_UNIFORM, &b, 2, 0, &p), NPG_OK);

    const double bytes = (double)c.n * 4;
    double t_copy = time_kind(0, &c, 50), t_add = time_kind(1, &c, 50), t_sum = time_kind(2, &c, 50),
           t_exp = time_kind(3, &c, 50);
    double bw_copy = 2 * bytes / t_copy, bw_add = 3 * bytes / t_add, bw_sum = bytes / t_sum, bw_exp = 2 * bytes / t_exp;
    printf("%-28s %10s %10s %8s\n", "op (16M float32)", "us", "GB/s", "ratio");
    printf("%-28s %10.1f %10.1f %8s\n", "copy_d2d (ceiling)", t_copy * 1e6, bw_copy * 1e-9, "1.00");
    printf("%-28s %10.1f %10.1f %8.2f  (target >= 0.80)\n", "add", t_add * 1e6, bw_add * 1e-9, bw_add / bw_copy);
    printf("%-28s %10.1f %10.1f %8.2f  (target >= 0.70)\n", "sum (full)", t_sum * 1e6, bw_sum * 1e-9, bw_sum / bw_copy);
    printf("%-28s %10.1f %10.1f %8.2f\n", "exp", t_exp * 1e6, bw_exp * 1e-9, bw_exp / bw_copy);
    G->free(0, c.a, (size_t)c.n * 4);
    G->free(0, c.b, (size_t)c.n * 4);
    G->free(0, c.o, (size_t)c.n * 4);

    /* matmul 4096^2 float32 against cublasSgemm on its own handle */
    const int64_t M = 4096;
    void *ma, *mb, *mo;
    cr_assert_eq(G->alloc(0, (size_t)(M * M * 4), &ma), NPG_OK);
    cr_assert_eq(G->alloc(0, (size_t)(M * M * 4), &mb), NPG_OK);
    cr_assert_eq(G->alloc(0, (size_t)(M * M * 4), &mo), NPG_OK);
    npg_tdesc da = flat_desc(ma, NPG_FLOAT32, M * M), db = flat_desc(mb, NPG_FLOAT32, M * M);
    cr_assert_eq(G->random(0, NPG_OP_RAND_UNIFORM, &da, 3, 0, &p), NPG_OK);
    cr_assert_eq(G->random(0, NPG_OP_RAND_UNIFORM, &db, 4, 0, &p), NPG_OK);
    npg_tdesc A = da, B = db, O = flat_desc(mo, NPG_FLOAT32, M * M);
    A.ndim = B.ndim = O.ndim = 2;
    A.shape[0] = A.shape[1] = B.shape[0] = B.shape[1] = O.shape[0] = O.shape[1] = M;
    A.strides[0] = B.strides[0] = O.strides[0] = M;
    A.strides[1] = B.strides[1] = O.strides[1] = 1;
    for (int tf32 = 0; tf32 < 2; tf32++) {
        cr_assert_eq(G->matmul(0, &O, &A, &B, tf32), NPG_OK, "%s", npg_last_error());
        cr_assert_eq(G->synchronize(0), NPG_OK);
        const int iters = 10;
        double t0 = now_s();
        for (int i = 0; i < iters; i++) G->matmul(0, &O, &A, &B, tf32);
        cr_assert_eq(G->synchronize(0), NPG_OK);
        double t_npg = (now_s() - t0) / iters;

        cublasHandle_t h;
        cr_assert_eq(cublasCreate(&h), CUBLAS_STATUS_SUCCESS);
        cublasSetMathMode(h, tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH);
        const float one = 1, zero = 0;
        cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, (int)M, (int)M, (int)M, &one, mb, (int)M, ma, (int)M, &zero, mo, (int)M);
        cudaDeviceSynchronize();
        t0 = now_s();
        for (int i = 0; i < iters; i++)
            cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, (int)M, (int)M, (int)M, &one, mb, (int)M, ma, (int)M, &zero, mo,
                        (int)M);
        cudaDeviceSynchronize();
        double t_blas = (now_s() - t0) / iters;
        cublasDestroy(h);
        double flops = 2.0 * (double)M * M * M;
        printf("matmul 4096^2 f32%s: npg %.3f ms (%.1f TFLOP/s), cublasSgemm %.3f ms, ratio %.2f (target >= 0.90)\n",
               tf32 ? " tf32" : "", t_npg * 1e3, flops / t_npg * 1e-12, t_blas * 1e3, t_blas / t_npg);
    }
    G->free(0, ma, (size_t)(M * M * 4));
    G->free(0, mb, (size_t)(M * M * 4));
    G->free(0, mo, (size_t)(M * M * 4));
    fflush(stdout);
}
