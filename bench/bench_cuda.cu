/*
 * bench_cuda.cu — npg-bench's GPU ceilings, called from C: a device-to-device
 * copy (cudaMemcpyAsync, or a 16-byte vectorised copy kernel) and direct
 * cuBLAS GEMMs in exact FP32/FP64 (no TF32, like npg's default) and in
 * float16 / bfloat16 (cublasGemmEx, float32 compute, like npg's), and the
 * launch of an empty kernel (the floor of a small op's host overhead). Work goes
 * on the legacy default stream; callers synchronise with npgb_cuda_sync
 * (cudaDeviceSynchronize), which also waits for npg's own stream.
 * Leaves out: timing (the C harness times around these), memory (the
 * buffers are npg arrays).
 */
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stdint.h>
#include <stdio.h>

#include "bench.h"

static char g_err[256];
static cublasHandle_t g_handle;
static bool g_have_handle;

static int cuda_fail(const char *what, cudaError_t e) {
    snprintf(g_err, sizeof g_err, "%s: %s", what, cudaGetErrorString(e));
    return -1;
}

/* out: (n16,) uint4, in: (n16,) uint4 */
__global__ void copy16_kernel(uint4 *__restrict__ out, const uint4 *__restrict__ in, size_t n16) {
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n16; i += stride) out[i] = in[i];
}

/* out: (n,) bytes, in: (n,) bytes — the tail the vectorised kernel leaves */
__global__ void copy1_kernel(unsigned char *__restrict__ out, const unsigned char *__restrict__ in, size_t n) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = in[i];
}

extern "C" int npgb_cuda_copy(void *dst, const void *src, size_t bytes, int kernel) {
    if (!kernel || ((uintptr_t)dst | (uintptr_t)src) % 16) {
        cudaError_t e = cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, 0);
        return e == cudaSuccess ? 0 : cuda_fail("cudaMemcpyAsync", e);
    }
    size_t n16 = bytes / 16, tail = bytes % 16;
    int dev = 0, sms = 0;
    cudaGetDevice(&dev);
    cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);
    const int threads = 256;
    size_t want = (n16 + threads - 1) / threads, cap = (size_t)(sms > 0 ? sms : 80) * 8;
    unsigned blocks = (unsigned)(want < cap ? (want ? want : 1) : cap);
    if (n16) copy16_kernel<<<blocks, threads, 0, 0>>>((uint4 *)dst, (const uint4 *)src, n16);
    if (tail) copy1_kernel<<<1, 32, 0, 0>>>((unsigned char *)dst + n16 * 16, (const unsigned char *)src + n16 * 16, tail);
    cudaError_t e = cudaGetLastError();
    return e == cudaSuccess ? 0 : cuda_fail("copy kernel launch", e);
}

__global__ void empty_kernel(void) {}

extern "C" int npgb_cuda_launch_empty(int64_t n) {
    for (int64_t i = 0; i < n; i++) empty_kernel<<<1, 32, 0, 0>>>();
    cudaError_t e = cudaGetLastError();
    return e == cudaSuccess ? 0 : cuda_fail("empty kernel launch", e);
}

extern "C" int npgb_cuda_gemm(int kind, int ta, int tb, int m, int n, int k, const void *a, const void *b, void *c) {
    if (!g_have_handle) {
        cublasStatus_t s = cublasCreate(&g_handle);
        if (s != CUBLAS_STATUS_SUCCESS) {
            snprintf(g_err, sizeof g_err, "cublasCreate failed (%d)", (int)s);
            return -1;
        }
        cublasSetStream(g_handle, 0);
        g_have_handle = true;
    }
    /* exact FP32 (no TF32); the half types with float32 split-K reductions,
     * the settings npg's own matmul uses */
    const bool half = kind == NPGB_GEMM_F16 || kind == NPGB_GEMM_BF16;
    cublasSetMathMode(g_handle, half ? (cublasMath_t)(CUBLAS_DEFAULT_MATH | CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION)
                                     : CUBLAS_DEFAULT_MATH);
    /* row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T */
    cublasOperation_t opa = ta ? CUBLAS_OP_T : CUBLAS_OP_N, opb = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    int lda = ta ? m : k, ldb = tb ? k : n;
    cublasStatus_t s;
    if (kind == NPGB_GEMM_F64) {
        const double one = 1, zero = 0;
        s = cublasDgemm(g_handle, opb, opa, n, m, k, &one, (const double *)b, ldb, (const double *)a, lda, &zero,
                        (double *)c, n);
    } else if (half) {
        const float one = 1, zero = 0;
        const cudaDataType t = kind == NPGB_GEMM_F16 ? CUDA_R_16F : CUDA_R_16BF;
        s = cublasGemmEx(g_handle, opb, opa, n, m, k, &one, b, t, ldb, a, t, lda, &zero, c, t, n, CUBLAS_COMPUTE_32F,
                         CUBLAS_GEMM_DEFAULT);
    } else {
        const float one = 1, zero = 0;
        s = cublasSgemm(g_handle, opb, opa, n, m, k, &one, (const float *)b, ldb, (const float *)a, lda, &zero,
                        (float *)c, n);
    }
    if (s != CUBLAS_STATUS_SUCCESS) {
        snprintf(g_err, sizeof g_err, "cuBLAS gemm (kind %d) failed (%d)", kind, (int)s);
        return -1;
    }
    return 0;
}

extern "C" int npgb_cuda_sync(void) {
    cudaError_t e = cudaDeviceSynchronize();
    return e == cudaSuccess ? 0 : cuda_fail("cudaDeviceSynchronize", e);
}

extern "C" const char *npgb_cuda_last_error(void) { return g_err; }

extern "C" void npgb_cuda_shutdown(void) {
    if (g_have_handle) cublasDestroy(g_handle);
    g_have_handle = false;
}
