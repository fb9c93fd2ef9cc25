/*
 * rng.h — Philox-4x32-10 and the word -> value mapping shared by every
 * backend (C and CUDA include this same file), so one seed gives the same
 * uniform bits on every device.
 *
 * Stream layout. A draw of n elements with generator (seed, offset) uses
 * Philox counter (block_lo, block_hi, offset_lo, offset_hi) and key
 * (seed_lo, seed_hi): exactly what cuRAND's curand_init(seed, offset, 4*block)
 * followed by curand4() produces. Element i takes:
 *   uniform float32  block i/4, word i%4:           u = (w >> 8) * 2^-24
 *   uniform float64  block i/2, words 2(i%2), +1:   u = ((w0 << 32 | w1) >> 11) * 2^-53
 *   normal  float32  block i/4, pair p = (i/2)%2:   u1 = f32(w[2p]), u2 = f32(w[2p+1]),
 *                    z = sqrt(-2 log(1 - u1)) * (i even ? cos : sin)(2 pi u2)
 *   normal  float64  block i/2: u1 = f64(w0, w1), u2 = f64(w2, w3), same Box-Muller
 *   int              block i/2, words 2(i%2), +1:   x = w0 << 32 | w1,
 *                    value = low + mulhi64(x, high - low)
 * then uniform -> low + (high - low) * u and normal -> mean + std * z, each
 * rounded step by step (no fused multiply-add) so devices agree bit for bit.
 */
#ifndef NPG_RNG_H
#define NPG_RNG_H

#include <stdint.h>

#if defined(__CUDACC__)
#define NPG_HD __host__ __device__ __forceinline__
#elif defined(__GNUC__)
/* always_inline: the CPU kernel files instantiate hundreds of loops, and
 * GCC's unit-growth limit would otherwise leave these one-line functors as
 * calls inside vectorised loops */
#define NPG_HD static inline __attribute__((always_inline))
#else
#define NPG_HD static inline
#endif

#define NPG_PHILOX_M0 0xD2511F53u
#define NPG_PHILOX_M1 0xCD9E8D57u
#define NPG_PHILOX_W0 0x9E3779B9u
#define NPG_PHILOX_W1 0xBB67AE85u

NPG_HD uint32_t npg__mulhilo32(uint32_t a, uint32_t b, uint32_t *hi) {
    uint64_t p = (uint64_t)a * (uint64_t)b;
    *hi = (uint32_t)(p >> 32);
    return (uint32_t)p;
}

/* Philox-4x32-10: out = philox(ctr, key). */
NPG_HD void npg__philox4x32_10(const uint32_t ctr_in[4], const uint32_t key_in[2], uint32_t out[4]) {
    uint32_t c0 = ctr_in[0], c1 = ctr_in[1], c2 = ctr_in[2], c3 = ctr_in[3];
    uint32_t k0 = key_in[0], k1 = key_in[1];
    for (int r = 0; r < 10; r++) {
        uint32_t hi0, hi1;
        uint32_t lo0 = npg__mulhilo32(NPG_PHILOX_M0, c0, &hi0);
        uint32_t lo1 = npg__mulhilo32(NPG_PHILOX_M1, c2, &hi1);
        uint32_t n0 = hi1 ^ c1 ^ k0;
        uint32_t n1 = lo1;
        uint32_t n2 = hi0 ^ c3 ^ k1;
        uint32_t n3 = lo0;
        c0 = n0; c1 = n1; c2 = n2; c3 = n3;
        k0 += NPG_PHILOX_W0;
        k1 += NPG_PHILOX_W1;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

/* The four words of block `block` of stream (seed, offset). */
NPG_HD void npg__philox_block(uint64_t seed, uint64_t offset, uint64_t block, uint32_t out[4]) {
    uint32_t ctr[4] = {(uint32_t)block, (uint32_t)(block >> 32), (uint32_t)offset, (uint32_t)(offset >> 32)};
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    npg__philox4x32_10(ctr, key, out);
}

NPG_HD float npg__u32_to_unit_f32(uint32_t w) { return (float)(w >> 8) * 5.9604644775390625e-08f; /* 2^-24 */ }

NPG_HD double npg__u64_to_unit_f64(uint32_t hi, uint32_t lo) {
    uint64_t x = (((uint64_t)hi << 32) | (uint64_t)lo) >> 11;
    return (double)x * 1.1102230246251565e-16; /* 2^-53 */
}

/* 64x64 -> high 64 bits. */
NPG_HD uint64_t npg__mulhi64(uint64_t a, uint64_t b) {
#if defined(__CUDA_ARCH__)
    return __umul64hi(a, b);
#else
    return (uint64_t)(((unsigned __int128)a * (unsigned __int128)b) >> 64);
#endif
}

/* Step-by-step rounding helpers: no contraction into FMA on any device. */
#if defined(__CUDA_ARCH__)
#define NPG_FMUL_F32(a, b) __fmul_rn((a), (b))
#define NPG_FADD_F32(a, b) __fadd_rn((a), (b))
#define NPG_FMUL_F64(a, b) __dmul_rn((a), (b))
#define NPG_FADD_F64(a, b) __dadd_rn((a), (b))
#else
#define NPG_FMUL_F32(a, b) ((float)((float)(a) * (float)(b)))
#define NPG_FADD_F32(a, b) ((float)((float)(a) + (float)(b)))
#define NPG_FMUL_F64(a, b) ((double)(a) * (double)(b))
#define NPG_FADD_F64(a, b) ((double)(a) + (double)(b))
#endif

#endif /* NPG_RNG_H */
