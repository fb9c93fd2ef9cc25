/*
 * curand_kernel.h (CUDA emulator, tests/cuemu) — cuRAND's Philox-4x32-10
 * device API as random.cu uses it: curand_init(seed, subsequence, offset,
 * &state) and curand4(&state), on the CPU.
 *
 * The Philox rounds and the state struct are NVIDIA's own
 * (curand_philox4x32_x.h from the CUDA toolkit, host branch) when CMake found
 * the toolkit (NPG_EMU_PHILOX_HEADER); the state walk below follows cuRAND's
 * documented semantics (the key is the seed; a subsequence is 2^66 values,
 * the high 64 bits of the counter; an offset skips values, four per counter
 * step). Without the toolkit the rounds are our own transcription of the
 * Philox-4x32-10 paper (Salmon et al., SC'11) and the test of cross-device
 * equality is only as good as that.
 */
#pragma once
#include <stdint.h>

#include "cuda_runtime.h"

#define curand_init npg_emu_curand_init
#define curand4 npg_emu_curand4

#ifdef NPG_EMU_PHILOX_HEADER
#define QUALIFIERS static inline
#include NPG_EMU_PHILOX_HEADER
#undef QUALIFIERS
#else
struct curandStatePhilox4_32_10 {
    uint4 ctr;
    uint4 output;
    uint2 key;
    unsigned int STATE;
};
typedef struct curandStatePhilox4_32_10 curandStatePhilox4_32_10_t;
static inline uint4 npg_emu_philox_round(uint4 c, uint2 k) {
    const uint64_t p0 = (uint64_t)0xD2511F53u * c.x, p1 = (uint64_t)0xCD9E8D57u * c.z;
    return uint4{(unsigned)(p1 >> 32) ^ c.y ^ k.x, (unsigned)p1, (unsigned)(p0 >> 32) ^ c.w ^ k.y, (unsigned)p0};
}
static inline uint4 curand_Philox4x32_10(uint4 c, uint2 k) {
    for (int r = 0; r < 9; r++) {
        c = npg_emu_philox_round(c, k);
        k.x += 0x9E3779B9u;
        k.y += 0xBB67AE85u;
    }
    return npg_emu_philox_round(c, k);
}
#endif

/* counter += n (128-bit), from the low word */
static inline void npg_emu_philox_add(uint4 &c, unsigned __int128 n) {
    unsigned __int128 lo = ((unsigned __int128)c.y << 32 | c.x) + (n & (((unsigned __int128)1 << 64) - 1));
    unsigned __int128 hi = ((unsigned __int128)c.w << 32 | c.z) + (uint64_t)(n >> 64) + (uint64_t)(lo >> 64);
    c.x = (unsigned)lo, c.y = (unsigned)(lo >> 32), c.z = (unsigned)hi, c.w = (unsigned)(hi >> 32);
}

/* State for value `offset` of subsequence `subsequence` of stream `seed`. */
static inline void curand_init(unsigned long long seed, unsigned long long subsequence, unsigned long long offset,
                               curandStatePhilox4_32_10_t *s) {
    s->ctr = uint4{0, 0, 0, 0};
    s->key = uint2{(unsigned)seed, (unsigned)(seed >> 32)};
    s->STATE = 0;
    npg_emu_philox_add(s->ctr, (unsigned __int128)subsequence << 64);
    s->STATE = (unsigned)(offset & 3);
    npg_emu_philox_add(s->ctr, offset / 4);
    s->output = curand_Philox4x32_10(s->ctr, s->key);
}

/* The next four values of the stream. */
static inline uint4 curand4(curandStatePhilox4_32_10_t *s) {
    const uint4 cur = s->output;
    npg_emu_philox_add(s->ctr, 1);
    s->output = curand_Philox4x32_10(s->ctr, s->key);
    const unsigned w[8] = {cur.x, cur.y, cur.z, cur.w, s->output.x, s->output.y, s->output.z, s->output.w};
    const unsigned k = s->STATE;
    return uint4{w[k], w[k + 1], w[k + 2], w[k + 3]};
}
