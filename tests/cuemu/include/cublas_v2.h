/*
 * cublas_v2.h (CUDA emulator, tests/cuemu) — a stand-in for cuBLAS, just
 * enough for src/cuda/common.cuh and matmul.cu to compile on the CPU. Every
 * GEMM returns CUBLAS_STATUS_NOT_SUPPORTED: the emulator covers npg's own
 * kernels only (the integer matmul), not cuBLAS.
 */
#pragma once
typedef void *cublasHandle_t;
typedef int cublasStatus_t;
enum { CUBLAS_STATUS_SUCCESS = 0, CUBLAS_STATUS_NOT_SUPPORTED = 15 };
typedef enum {
    CUBLAS_DEFAULT_MATH = 0,
    CUBLAS_TF32_TENSOR_OP_MATH = 3,
    CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION = 16
} cublasMath_t;
typedef enum { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 } cublasOperation_t;
typedef enum { CUDA_R_16F = 2, CUDA_R_16BF = 14 } cudaDataType;
enum { CUBLAS_COMPUTE_32F = 68, CUBLAS_GEMM_DEFAULT = -1 };
template <class... A> cublasStatus_t cublasGemmEx(A...) { return CUBLAS_STATUS_NOT_SUPPORTED; }
template <class... A> cublasStatus_t cublasGemmStridedBatchedEx(A...) { return CUBLAS_STATUS_NOT_SUPPORTED; }
template <class... A> cublasStatus_t cublasSgemm(A...) { return CUBLAS_STATUS_NOT_SUPPORTED; }
template <class... A> cublasStatus_t cublasSgemmStridedBatched(A...) { return CUBLAS_STATUS_NOT_SUPPORTED; }
template <class... A> cublasStatus_t cublasDgemm(A...) { return CUBLAS_STATUS_NOT_SUPPORTED; }
template <class... A> cublasStatus_t cublasDgemmStridedBatched(A...) { return CUBLAS_STATUS_NOT_SUPPORTED; }
template <class... A> cublasStatus_t cublasSetMathMode(A...) { return CUBLAS_STATUS_SUCCESS; }
