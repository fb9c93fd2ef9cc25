/*
 * cusolverDn.h (CUDA emulator, tests/cuemu) — a stand-in for the part of
 * cuSOLVER's classic dense API that src/cuda/solver.cu uses: the handle
 * calls and the float / double potrf, getrf, getrs, geqrf, orgqr, syevd and
 * gesvd with their *_bufferSize queries, with cuSOLVER's signatures, status
 * and enum values and column-major (LAPACK) semantics, computed with the
 * LAPACK that OpenBLAS exports (emu_cusolver.cpp). "Device" pointers are
 * host memory, as everywhere in the emulator, and every call completes
 * before it returns (the stream is recorded, not used).
 *
 * The fake is stricter than a quiet reimplementation, to catch caller bugs:
 * it checks the arguments cuSOLVER documents (INVALID_VALUE), rejects a
 * workspace smaller than the matching *_bufferSize answer, overwrites the
 * caller's workspace with NaN bytes before and after each call, and flags
 * a handle that is unknown, destroyed, or used by two threads at once.
 * emu_cusolver.cpp's opening comment lists every check.
 *
 * Every name is a macro for an npg_emu_ one, so nothing clashes with a real
 * cuSOLVER linked into the same program.
 */
#pragma once
#include <stdint.h>

#include "cublas_v2.h" /* cublasFillMode_t, cublasOperation_t */

#define cusolverDnHandle_t npg_emu_cusolverDnHandle_t
#define cusolverStatus_t npg_emu_cusolverStatus_t
#define cusolverEigMode_t npg_emu_cusolverEigMode_t

#define cusolverDnCreate npg_emu_cusolverDnCreate
#define cusolverDnDestroy npg_emu_cusolverDnDestroy
#define cusolverDnSetStream npg_emu_cusolverDnSetStream
#define cusolverDnSpotrf_bufferSize npg_emu_cusolverDnSpotrf_bufferSize
#define cusolverDnDpotrf_bufferSize npg_emu_cusolverDnDpotrf_bufferSize
#define cusolverDnSpotrf npg_emu_cusolverDnSpotrf
#define cusolverDnDpotrf npg_emu_cusolverDnDpotrf
#define cusolverDnSgetrf_bufferSize npg_emu_cusolverDnSgetrf_bufferSize
#define cusolverDnDgetrf_bufferSize npg_emu_cusolverDnDgetrf_bufferSize
#define cusolverDnSgetrf npg_emu_cusolverDnSgetrf
#define cusolverDnDgetrf npg_emu_cusolverDnDgetrf
#define cusolverDnSgetrs npg_emu_cusolverDnSgetrs
#define cusolverDnDgetrs npg_emu_cusolverDnDgetrs
#define cusolverDnSgeqrf_bufferSize npg_emu_cusolverDnSgeqrf_bufferSize
#define cusolverDnDgeqrf_bufferSize npg_emu_cusolverDnDgeqrf_bufferSize
#define cusolverDnSgeqrf npg_emu_cusolverDnSgeqrf
#define cusolverDnDgeqrf npg_emu_cusolverDnDgeqrf
#define cusolverDnSorgqr_bufferSize npg_emu_cusolverDnSorgqr_bufferSize
#define cusolverDnDorgqr_bufferSize npg_emu_cusolverDnDorgqr_bufferSize
#define cusolverDnSorgqr npg_emu_cusolverDnSorgqr
#define cusolverDnDorgqr npg_emu_cusolverDnDorgqr
#define cusolverDnSsyevd_bufferSize npg_emu_cusolverDnSsyevd_bufferSize
#define cusolverDnDsyevd_bufferSize npg_emu_cusolverDnDsyevd_bufferSize
#define cusolverDnSsyevd npg_emu_cusolverDnSsyevd
#define cusolverDnDsyevd npg_emu_cusolverDnDsyevd
#define cusolverDnSgesvd_bufferSize npg_emu_cusolverDnSgesvd_bufferSize
#define cusolverDnDgesvd_bufferSize npg_emu_cusolverDnDgesvd_bufferSize
#define cusolverDnSgesvd npg_emu_cusolverDnSgesvd
#define cusolverDnDgesvd npg_emu_cusolverDnDgesvd

struct npg_emu_cusolver_ctx;
typedef struct npg_emu_cusolver_ctx *cusolverDnHandle_t;

/* the values of the real library's cusolver_common.h */
typedef enum {
    CUSOLVER_STATUS_SUCCESS = 0,
    CUSOLVER_STATUS_NOT_INITIALIZED = 1,
    CUSOLVER_STATUS_ALLOC_FAILED = 2,
    CUSOLVER_STATUS_INVALID_VALUE = 3,
    CUSOLVER_STATUS_ARCH_MISMATCH = 4,
    CUSOLVER_STATUS_MAPPING_ERROR = 5,
    CUSOLVER_STATUS_EXECUTION_FAILED = 6,
    CUSOLVER_STATUS_INTERNAL_ERROR = 7,
    CUSOLVER_STATUS_MATRIX_TYPE_NOT_SUPPORTED = 8,
    CUSOLVER_STATUS_NOT_SUPPORTED = 9,
    CUSOLVER_STATUS_ZERO_PIVOT = 10,
    CUSOLVER_STATUS_INVALID_LICENSE = 11,
    CUSOLVER_STATUS_IRS_PARAMS_NOT_INITIALIZED = 12,
    CUSOLVER_STATUS_IRS_PARAMS_INVALID = 13,
    CUSOLVER_STATUS_IRS_PARAMS_INVALID_PREC = 14,
    CUSOLVER_STATUS_IRS_PARAMS_INVALID_REFINE = 15,
    CUSOLVER_STATUS_IRS_PARAMS_INVALID_MAXITER = 16,
    CUSOLVER_STATUS_IRS_INTERNAL_ERROR = 20,
    CUSOLVER_STATUS_IRS_NOT_SUPPORTED = 21,
    CUSOLVER_STATUS_IRS_OUT_OF_RANGE = 22,
    CUSOLVER_STATUS_IRS_NRHS_NOT_SUPPORTED_FOR_REFINE_GMRES = 23,
    CUSOLVER_STATUS_IRS_INFOS_NOT_INITIALIZED = 25,
    CUSOLVER_STATUS_IRS_INFOS_NOT_DESTROYED = 26,
    CUSOLVER_STATUS_IRS_MATRIX_SINGULAR = 30,
    CUSOLVER_STATUS_INVALID_WORKSPACE = 31
} cusolverStatus_t;

typedef enum { CUSOLVER_EIG_MODE_NOVECTOR = 0, CUSOLVER_EIG_MODE_VECTOR = 1 } cusolverEigMode_t;

/* ---- handle ---- */
cusolverStatus_t cusolverDnCreate(cusolverDnHandle_t *handle);
cusolverStatus_t cusolverDnDestroy(cusolverDnHandle_t handle);
cusolverStatus_t cusolverDnSetStream(cusolverDnHandle_t handle, void *streamId); /* cudaStream_t */

/* ---- Cholesky ---- */
cusolverStatus_t cusolverDnSpotrf_bufferSize(cusolverDnHandle_t handle, cublasFillMode_t uplo, int n, float *A,
                                             int lda, int *Lwork);
cusolverStatus_t cusolverDnDpotrf_bufferSize(cusolverDnHandle_t handle, cublasFillMode_t uplo, int n, double *A,
                                             int lda, int *Lwork);
cusolverStatus_t cusolverDnSpotrf(cusolverDnHandle_t handle, cublasFillMode_t uplo, int n, float *A, int lda,
                                  float *Workspace, int Lwork, int *devInfo);
cusolverStatus_t cusolverDnDpotrf(cusolverDnHandle_t handle, cublasFillMode_t uplo, int n, double *A, int lda,
                                  double *Workspace, int Lwork, int *devInfo);

/* ---- LU (devIpiv == NULL: no pivoting) and its solve ---- */
cusolverStatus_t cusolverDnSgetrf_bufferSize(cusolverDnHandle_t handle, int m, int n, float *A, int lda, int *Lwork);
cusolverStatus_t cusolverDnDgetrf_bufferSize(cusolverDnHandle_t handle, int m, int n, double *A, int lda, int *Lwork);
cusolverStatus_t cusolverDnSgetrf(cusolverDnHandle_t handle, int m, int n, float *A, int lda, float *Workspace,
                                  int *devIpiv, int *devInfo);
cusolverStatus_t cusolverDnDgetrf(cusolverDnHandle_t handle, int m, int n, double *A, int lda, double *Workspace,
                                  int *devIpiv, int *devInfo);
cusolverStatus_t cusolverDnSgetrs(cusolverDnHandle_t handle, cublasOperation_t trans, int n, int nrhs, const float *A,
                                  int lda, const int *devIpiv, float *B, int ldb, int *devInfo);
cusolverStatus_t cusolverDnDgetrs(cusolverDnHandle_t handle, cublasOperation_t trans, int n, int nrhs,
                                  const double *A, int lda, const int *devIpiv, double *B, int ldb, int *devInfo);

/* ---- QR ---- */
cusolverStatus_t cusolverDnSgeqrf_bufferSize(cusolverDnHandle_t handle, int m, int n, float *A, int lda, int *lwork);
cusolverStatus_t cusolverDnDgeqrf_bufferSize(cusolverDnHandle_t handle, int m, int n, double *A, int lda, int *lwork);
cusolverStatus_t cusolverDnSgeqrf(cusolverDnHandle_t handle, int m, int n, float *A, int lda, float *TAU,
                                  float *Workspace, int Lwork, int *devInfo);
cusolverStatus_t cusolverDnDgeqrf(cusolverDnHandle_t handle, int m, int n, double *A, int lda, double *TAU,
                                  double *Workspace, int Lwork, int *devInfo);
cusolverStatus_t cusolverDnSorgqr_bufferSize(cusolverDnHandle_t handle, int m, int n, int k, const float *A, int lda,
                                             const float *tau, int *lwork);
cusolverStatus_t cusolverDnDorgqr_bufferSize(cusolverDnHandle_t handle, int m, int n, int k, const double *A, int lda,
                                             const double *tau, int *lwork);
cusolverStatus_t cusolverDnSorgqr(cusolverDnHandle_t handle, int m, int n, int k, float *A, int lda, const float *tau,
                                  float *work, int lwork, int *info);
cusolverStatus_t cusolverDnDorgqr(cusolverDnHandle_t handle, int m, int n, int k, double *A, int lda,
                                  const double *tau, double *work, int lwork, int *info);

/* ---- symmetric eigensolver (divide and conquer) ---- */
cusolverStatus_t cusolverDnSsyevd_bufferSize(cusolverDnHandle_t handle, cusolverEigMode_t jobz, cublasFillMode_t uplo,
                                             int n, const float *A, int lda, const float *W, int *lwork);
cusolverStatus_t cusolverDnDsyevd_bufferSize(cusolverDnHandle_t handle, cusolverEigMode_t jobz, cublasFillMode_t uplo,
                                             int n, const double *A, int lda, const double *W, int *lwork);
cusolverStatus_t cusolverDnSsyevd(cusolverDnHandle_t handle, cusolverEigMode_t jobz, cublasFillMode_t uplo, int n,
                                  float *A, int lda, float *W, float *work, int lwork, int *info);
cusolverStatus_t cusolverDnDsyevd(cusolverDnHandle_t handle, cusolverEigMode_t jobz, cublasFillMode_t uplo, int n,
                                  double *A, int lda, double *W, double *work, int lwork, int *info);

/* ---- SVD (QR iteration; m >= n only, as cuSOLVER) ---- */
cusolverStatus_t cusolverDnSgesvd_bufferSize(cusolverDnHandle_t handle, int m, int n, int *lwork);
cusolverStatus_t cusolverDnDgesvd_bufferSize(cusolverDnHandle_t handle, int m, int n, int *lwork);
cusolverStatus_t cusolverDnSgesvd(cusolverDnHandle_t handle, signed char jobu, signed char jobvt, int m, int n,
                                  float *A, int lda, float *S, float *U, int ldu, float *VT, int ldvt, float *work,
                                  int lwork, float *rwork, int *info);
cusolverStatus_t cusolverDnDgesvd(cusolverDnHandle_t handle, signed char jobu, signed char jobvt, int m, int n,
                                  double *A, int lda, double *S, double *U, int ldu, double *VT, int ldvt,
                                  double *work, int lwork, double *rwork, int *info);
