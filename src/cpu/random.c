/*
 * random.c — uniform, normal and integer draws with Philox-4x32-10, computing
 * exactly the word -> value mapping of rng.h, so the same (seed, offset)
 * gives the same numbers as the CUDA backend (cuRAND's Philox).
 *
 * Element i's value depends only on (seed, offset, i): Philox block i/4
 * (float32 uniform and normal) or i/2 (float64, integers). Threads take
 * disjoint ranges of blocks; the last block may be partial, and computes
 * the same values a longer draw would. Conversions round step by step
 * (NPG_FMUL_*, NPG_FADD_*; this file must not be built with FMA
 * contraction, which -std=c11 already turns off).
 */
#include "cpu.h"

#include <math.h>

typedef struct rnd_args {
    char *out;
    int64_t n;
    uint64_t seed, offset;
    double f0, f1;
    int64_t i0, i1;
} rnd_args;

/* Writes the values of Philox blocks [b0, b1) (elements past n skipped). */
typedef void (*rnd_fn)(const rnd_args *a, int64_t b0, int64_t b1);

static void uniform_f32(const rnd_args *a, int64_t b0, int64_t b1) {
    float *out = (float *)a->out;
    const float lo = (float)a->f0, hi = (float)a->f1, range = hi - lo;
    for (int64_t b = b0; b < b1; b++) {
        uint32_t w[4];
        npg__philox_block(a->seed, a->offset, (uint64_t)b, w);
        for (int j = 0; j < 4; j++) {
            int64_t i = 4 * b + j;
            if (i < a->n) out[i] = NPG_FADD_F32(lo, NPG_FMUL_F32(range, npg__u32_to_unit_f32(w[j])));
        }
    }
}

static void uniform_f64(const rnd_args *a, int64_t b0, int64_t b1) {
    double *out = (double *)a->out;
    const double lo = a->f0, range = a->f1 - a->f0;
    for (int64_t b = b0; b < b1; b++) {
        uint32_t w[4];
        npg__philox_block(a->seed, a->offset, (uint64_t)b, w);
        for (int j = 0; j < 2; j++) {
            int64_t i = 2 * b + j;
            if (i < a->n) out[i] = NPG_FADD_F64(lo, NPG_FMUL_F64(range, npg__u64_to_unit_f64(w[2 * j], w[2 * j + 1])));
        }
    }
}

/* Box-Muller: r = sqrt(-2 log(1 - u1)), theta = 2 pi u2; even elements take
 * r cos(theta), odd ones r sin(theta). */
static void normal_f32(const rnd_args *a, int64_t b0, int64_t b1) {
    float *out = (float *)a->out;
    const float mean = (float)a->f0, std = (float)a->f1;
    for (int64_t b = b0; b < b1; b++) {
        uint32_t w[4];
        npg__philox_block(a->seed, a->offset, (uint64_t)b, w);
        for (int p = 0; p < 2; p++) {
            int64_t i = 4 * b + 2 * p;
            if (i >= a->n) break;
            float u1 = npg__u32_to_unit_f32(w[2 * p]), u2 = npg__u32_to_unit_f32(w[2 * p + 1]);
            float r = sqrtf(NPG_FMUL_F32(-2.0f, logf(1.0f - u1)));
            float theta = NPG_FMUL_F32(6.28318530717958647692f, u2);
            out[i] = NPG_FADD_F32(mean, NPG_FMUL_F32(std, NPG_FMUL_F32(r, cosf(theta))));
            if (i + 1 < a->n) out[i + 1] = NPG_FADD_F32(mean, NPG_FMUL_F32(std, NPG_FMUL_F32(r, sinf(theta))));
        }
    }
}

static void normal_f64(const rnd_args *a, int64_t b0, int64_t b1) {
    double *out = (double *)a->out;
    const double mean = a->f0, std = a->f1;
    for (int64_t b = b0; b < b1; b++) {
        uint32_t w[4];
        npg__philox_block(a->seed, a->offset, (uint64_t)b, w);
        int64_t i = 2 * b;
        double u1 = npg__u64_to_unit_f64(w[0], w[1]), u2 = npg__u64_to_unit_f64(w[2], w[3]);
        double r = sqrt(NPG_FMUL_F64(-2.0, log(1.0 - u1)));
        double theta = NPG_FMUL_F64(6.28318530717958647692, u2);
        out[i] = NPG_FADD_F64(mean, NPG_FMUL_F64(std, NPG_FMUL_F64(r, cos(theta))));
        if (i + 1 < a->n) out[i + 1] = NPG_FADD_F64(mean, NPG_FMUL_F64(std, NPG_FMUL_F64(r, sin(theta))));
    }
}

/* low + mulhi64(x, high - low) with x = w[2j] << 32 | w[2j+1], in uint64
 * (no signed overflow for any low < high), then narrowed by wrapping. */
#define RANDINT(t, CONV)                                                                         \
    static void randint_##t(const rnd_args *a, int64_t b0, int64_t b1) {                         \
        NPG_T_##t *out = (NPG_T_##t *)a->out;                                                    \
        const uint64_t lo = (uint64_t)a->i0, range = (uint64_t)a->i1 - (uint64_t)a->i0;          \
        for (int64_t b = b0; b < b1; b++) {                                                      \
            uint32_t w[4];                                                                       \
            npg__philox_block(a->seed, a->offset, (uint64_t)b, w);                               \
            for (int j = 0; j < 2; j++) {                                                        \
                int64_t i = 2 * b + j;                                                           \
                uint64_t x = (uint64_t)w[2 * j] << 32 | w[2 * j + 1];                            \
                if (i < a->n) out[i] = CONV((int64_t)(lo + npg__mulhi64(x, range)));             \
            }                                                                                    \
        }                                                                                        \
    }
#define ID64(x) (x)
RANDINT(u8, npg_s_i64_to_u8)
RANDINT(i32, npg_s_i64_to_i32)
RANDINT(i64, ID64)
RANDINT(i8, npg_s_i64_to_i8)
RANDINT(i16, npg_s_i64_to_i16)
RANDINT(u16, npg_s_i64_to_u16)
RANDINT(u32, npg_s_i64_to_u32)
RANDINT(u64, npg_s_i64_to_u64)

npg_status npg__cpu_random(int dev, npg_op op, const npg_tdesc *out, uint64_t seed, uint64_t offset,
                           const npg_kparams *p) {
    npg_dtype dt = out->dtype;
    rnd_fn fn = NULL;
    int64_t per = 2; /* elements per Philox block */
    if (op == NPG_OP_RAND_UNIFORM && dt == NPG_FLOAT32) fn = uniform_f32, per = 4;
    if (op == NPG_OP_RAND_UNIFORM && dt == NPG_FLOAT64) fn = uniform_f64;
    if (op == NPG_OP_RAND_NORMAL && dt == NPG_FLOAT32) fn = normal_f32, per = 4;
    if (op == NPG_OP_RAND_NORMAL && dt == NPG_FLOAT64) fn = normal_f64;
    if (op == NPG_OP_RAND_INT && dt == NPG_UINT8) fn = randint_u8;
    if (op == NPG_OP_RAND_INT && dt == NPG_INT32) fn = randint_i32;
    if (op == NPG_OP_RAND_INT && dt == NPG_INT64) fn = randint_i64;
    if (op == NPG_OP_RAND_INT && dt == NPG_INT8) fn = randint_i8;
    if (op == NPG_OP_RAND_INT && dt == NPG_INT16) fn = randint_i16;
    if (op == NPG_OP_RAND_INT && dt == NPG_UINT16) fn = randint_u16;
    if (op == NPG_OP_RAND_INT && dt == NPG_UINT32) fn = randint_u32;
    if (op == NPG_OP_RAND_INT && dt == NPG_UINT64) fn = randint_u64;
    if (!fn) return npg__cpu_unsupported(op, dt);
    if (!p) return npg__set_error(NPG_ERR_INTERNAL, "cpu %s: missing parameters", npg__op_name(op));
    if (!npg__desc_contiguous(out))
        return npg__set_error(NPG_ERR_INTERNAL, "cpu %s: output not contiguous", npg__op_name(op));
    if (op == NPG_OP_RAND_INT && p->i[1] <= p->i[0])
        return npg__set_error(NPG_ERR_INVALID_ARG, "cpu randint: empty range [%lld, %lld)", (long long)p->i[0],
                              (long long)p->i[1]);
    const rnd_args a = {.out = out->data, .n = npg__desc_numel(out), .seed = seed, .offset = offset,
                        .f0 = p->f[0], .f1 = p->f[1], .i0 = p->i[0], .i1 = p->i[1]};
    const int64_t nblocks = (a.n + per - 1) / per;
    int64_t parts = a.n >= NPG_CPU_PAR_MIN_HEAVY ? npg__cpu_threads() : 1;
    if (parts > nblocks) parts = nblocks;
    NPG_PAR_LOOP(parts > 1, k, parts, fn(&a, npg__cpu_split(nblocks, parts, k), npg__cpu_split(nblocks, parts, k + 1)););
    return NPG_OK;
}
