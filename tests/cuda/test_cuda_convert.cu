/*
 * test_cuda_convert.cu — the device's float16 <-> float32 conversions
 * (src/cuda/common.cuh: the conversion instructions for every value but
 * NaN) against scalar_ops.h's software conversions, the CPU backend's bits:
 * every float16 bit pattern widened, every float32 bit pattern rounded
 * (2^32 values, a few milliseconds on a GPU). bfloat16 and the NaN paths
 * are scalar_ops.h's on both sides. Skips without a GPU; not built for the
 * CPU emulator (no __CUDA_ARCH__ there: the software path alone).
 */
#include <criterion/criterion.h>
#include <stdint.h>

#include "cuda/common.cuh"

/* bad[0]: float16 -> float32 mismatches, bad[1]: float32 -> float16 */
__global__ void convert_all(unsigned long long *bad) {
    const uint64_t stride = (uint64_t)gridDim.x * blockDim.x;
    for (uint64_t i = blockIdx.x * (uint64_t)blockDim.x + threadIdx.x; i < (1ull << 32); i += stride) {
        const uint32_t u = (uint32_t)i;
        if (u < 65536) {
            const float a = npg_cu_half_to_f32<NPG_FLOAT16>((uint16_t)u), b = npg_s_f16_to_f32((uint16_t)u);
            if (__float_as_uint(a) != __float_as_uint(b)) atomicAdd(bad, 1ull);
        }
        const float f = __uint_as_float(u);
        if (npg_cu_to_half<NPG_FLOAT16, NPG_FLOAT32>(f) != npg_s_f32_to_f16(f)) atomicAdd(bad + 1, 1ull);
    }
}

Test(cuda_convert, float16_instructions_match_the_software_conversions_bit_for_bit) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
        (void)cudaGetLastError();
        cr_skip_test("no CUDA device");
    }
    unsigned long long *d = nullptr, h[2] = {1, 1};
    cr_assert_eq(cudaMalloc(&d, sizeof h), cudaSuccess);
    cr_assert_eq(cudaMemset(d, 0, sizeof h), cudaSuccess);
    convert_all<<<1024, 256>>>(d);
    cr_assert_eq(cudaGetLastError(), cudaSuccess);
    cr_assert_eq(cudaDeviceSynchronize(), cudaSuccess);
    cr_assert_eq(cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost), cudaSuccess);
    cudaFree(d);
    cr_expect_eq(h[0], 0ull, "float16 -> float32: %llu of 65536 bit patterns differ", h[0]);
    cr_expect_eq(h[1], 0ull, "float32 -> float16: %llu of 2^32 bit patterns differ", h[1]);
}
