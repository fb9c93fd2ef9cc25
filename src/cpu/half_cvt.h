/* half_cvt.h — contiguous float16 / bfloat16 <-> float32 conversion for the
 * CPU kernels' hot loops (elementwise chunks, reductions, casts).
 *
 * Bits: every function gives exactly the bits of scalar_ops.h's per-element
 * conversions (round to nearest even, NaN quieted with its payload's top,
 * overflow to inf), so the vectorised and the strided / scalar paths agree.
 * float16 uses F16C (vcvtph2ps / vcvtps2ph, part of x86-64-v3, the library's
 * default -march), whose results scalar_ops.h was written to match — checked
 * over all 2^16 and 2^32 inputs; without F16C they are scalar_ops.h's loops.
 * bfloat16's are shifts and adds the compiler vectorises. */
#ifndef NPG_CPU_HALF_CVT_H
#define NPG_CPU_HALF_CVT_H

#include <stdint.h>

#include "scalar_ops.h"
#include "cpu.h"

#if defined(__F16C__) && defined(__AVX__)
#include <immintrin.h>
#define NPG_HAVE_F16C 1
#endif

static inline void npg_cvt_f16_f32(float *dst, const uint16_t *src, int64_t n) {
    int64_t i = 0;
#ifdef NPG_HAVE_F16C
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
#endif
    for (; i < n; i++) dst[i] = npg_s_f16_to_f32(src[i]);
}

static inline void npg_cvt_f32_f16(uint16_t *dst, const float *src, int64_t n) {
    int64_t i = 0;
#ifdef NPG_HAVE_F16C
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(dst + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
#endif
    for (; i < n; i++) dst[i] = npg_s_f32_to_f16(src[i]);
}

static inline void npg_cvt_bf16_f32(float *dst, const uint16_t *src, int64_t n) {
    NPG_SIMD for (int64_t i = 0; i < n; i++) dst[i] = npg_s_bf16_to_f32(src[i]);
}

static inline void npg_cvt_f32_bf16(uint16_t *dst, const float *src, int64_t n) {
    NPG_SIMD for (int64_t i = 0; i < n; i++) dst[i] = npg_s_f32_to_bf16(src[i]);
}

/* dt is NPG_FLOAT16 or NPG_BFLOAT16 */
static inline void npg_cvt_half_f32(int dt_is_f16, float *dst, const uint16_t *src, int64_t n) {
    if (dt_is_f16)
        npg_cvt_f16_f32(dst, src, n);
    else
        npg_cvt_bf16_f32(dst, src, n);
}
static inline void npg_cvt_f32_half(int dt_is_f16, uint16_t *dst, const float *src, int64_t n) {
    if (dt_is_f16)
        npg_cvt_f32_f16(dst, src, n);
    else
        npg_cvt_f32_bf16(dst, src, n);
}

#endif
