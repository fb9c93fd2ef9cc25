/*
 * cuemu.h (CUDA emulator, tests/cuemu) — included before the rewritten CUDA
 * sources, which are then included inside `namespace npg_emu` (see the
 * generated emu_*.cpp): every header they need is included here first, at
 * global scope, so that the include guards keep them out of the namespace.
 * The namespace keeps the emulated npg_cu_* entries apart from the real CUDA
 * backend's in a CUDA-enabled libnpg.
 */
#pragma once
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <atomic>
#include <limits>
#include <mutex>
#include <type_traits>
#include <utility>

#include "cublas_v2.h"
#include "cuda_runtime.h"
#include "curand_kernel.h"
#include "cusolverDn.h"
#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_select.cuh>
#include <thrust/iterator/counting_iterator.h>

#include "backend.h"
#include "blockcache.h"
#include "scalar_ops.h"
