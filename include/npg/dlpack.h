/*
 * npg/dlpack.h — zero-copy exchange of arrays with other libraries through
 * DLPack (https://dmlc.github.io/dlpack/), the protocol behind the array API
 * standard's from_dlpack and PyTorch's torch.utils.dlpack, NumPy's
 * np.from_dlpack, CuPy, JAX and others. Needs <dlpack/dlpack.h> (Debian and
 * Ubuntu: libdlpack-dev; DLPack 0.6 or later, the unversioned
 * DLManagedTensor).
 *
 * Both directions share memory: a write through one side is seen by the
 * other, and the memory lives until both sides have let go of it.
 *
 * Dtypes: bool (kDLBool, code 6, as in DLPack 0.8), int8 to int64, uint8
 * to uint64, float16, bfloat16, float32, float64, one lane. Devices: kDLCPU (and kDLCUDAHost, pinned host memory,
 * imported as CPU memory) and kDLCUDA (device_id = the CUDA device index).
 */
#ifndef NPG_DLPACK_H
#define NPG_DLPACK_H

#include <dlpack/dlpack.h>

#include "../npg.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Export x's elements, zero-copy, as a DLManagedTensor: data points at x's
 * first element (byte_offset 0), shape and strides (in elements; negative for
 * flipped views) are x's, the device is kDLCPU or kDLCUDA. The tensor keeps
 * x's memory alive; x may be freed first. A CUDA array's device is
 * synchronised first, so the consumer may read it on any stream. An array
 * that requires grad is refused (NPG_ERR_AUTOGRAD, like PyTorch): export
 * npg_detach(x). [new tensor: the consumer calls t->deleter(t) exactly once,
 * from any thread] */
DLManagedTensor *npg_to_dlpack(npg_array *x);

/* Import t, zero-copy: the array reads and writes t's memory (data +
 * byte_offset, strides NULL meaning row-major). On success npg owns t and
 * calls t->deleter(t) once, when the last array using the memory is freed
 * (views included; it may be another thread). On failure t is untouched and
 * still the caller's: an unsupported dtype (NPG_ERR_DTYPE; e.g. complex,
 * float8, lanes > 1), more than NPG_MAX_DIMS dimensions or a negative size
 * (NPG_ERR_SHAPE), a device npg does not have (NPG_ERR_DEVICE), or data not
 * aligned to the element size (NPG_ERR_INVALID_ARG). A 0 stride over a dimension
 * larger than 1 (a broadcast tensor) makes the array read-only, as
 * npg_broadcast_to does. For CUDA memory the producer's work must be complete
 * (or ordered before npg's stream) when the array is first used. The result
 * is a leaf that does not require grad. [new] */
npg_array *npg_from_dlpack(DLManagedTensor *t);

#ifdef __cplusplus
}
#endif

#endif
