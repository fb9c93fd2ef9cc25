/*
 * reduce.c — reductions over the last `nred` axes (SUM, MEAN, PROD, MAX,
 * MIN, ALL, ANY, ARGMAX, ARGMIN) and inclusive scans (CUMSUM, CUMPROD).
 *
 * Each (op, dtype) is a small kernel set over a running state: init, seg (a
 * strided run of the reduced block), merge (two partial states, in order),
 * fin (state -> output element) and col (a run of reduced coordinates for a
 * block of adjacent outputs). Two drivers use them:
 *   rows     one output at a time, the reduced block walked run by run
 *            (contiguous runs are summed in 8 lanes: vectorised, and float32
 *            accumulates in double); a single big block is split across
 *            threads and the partial states merged in order;
 *   columns  when the innermost kept axis is closer in memory than the
 *            reduced axes (bias gradients: (N, C) -> (C,)) or the reduced
 *            block is tiny: a block of outputs accumulates row by row.
 * Scans keep a block of running values along the innermost axes and walk the
 * scan axis, so both cumsum(x, -1) and cumsum(x, 0) stream through memory.
 */
#include "cpu.h"

#include <stdlib.h>

#include "half_cvt.h"

#define COL_BLOCK 1024 /* outputs per column task */
/* Independent accumulators of a contiguous row reduction: 16 keeps four
 * 4-wide double vectors in flight when float32 sums in double, so the adds'
 * latency does not bound in-cache sums. */
#define RED_LANES 16
/* the smallest row stride in bytes at which the column kernels read four rows at once */
#define COL_FOUR_MIN 8192

typedef struct rstate {
    union {
        double f;
        int64_t i;
        uint64_t u;
    } v;
    int64_t idx; /* ARGMAX/ARGMIN: flat index in the block, -1 before the first element */
} rstate;

/* init and fin handle n consecutive states (n outputs, contiguous in out):
 * a column block costs one call each, not one per output. */
typedef struct red_kernels {
    void (*init)(rstate *s, int64_t n);
    void (*seg)(rstate *s, const char *p, int64_t n, int64_t stride, int64_t base);
    void (*merge)(rstate *s, const rstate *later);
    void (*fin)(char *out, const rstate *s, int64_t n, int64_t count);
    /* nr rows (row stride rs, flat indices j0...) of kb outputs (stride ks) */
    void (*col)(rstate *s, const char *p, int64_t kb, int64_t ks, int64_t nr, int64_t rs, int64_t j0);
} red_kernels;

/* state field per type for the ops that keep the input type */
#define NPG_F_b i
#define NPG_F_u8 i
#define NPG_F_i32 i
#define NPG_F_i64 i
#define NPG_F_i8 i
#define NPG_F_i16 i
#define NPG_F_u16 i
#define NPG_F_u32 i
#define NPG_F_u64 u
#define NPG_F_f32 f
#define NPG_F_f64 f
#define NPG_F_f16 f
#define NPG_F_bf16 f
#define FLD(t) FLD_(NPG_F_##t)
#define FLD_(f) f

/* An element as the kernels compute with it: itself, or for the half types
 * (float16 / bfloat16 bit patterns) its exact float32 value; C is that
 * type. The half kernels accumulate like float32's and round the float32
 * result (the same bits as reducing a float32 copy). */
#define LD(t, x) LD_##t(x)
#define LD_b(x) (x)
#define LD_u8(x) (x)
#define LD_i32(x) (x)
#define LD_i64(x) (x)
#define LD_i8(x) (x)
#define LD_i16(x) (x)
#define LD_u16(x) (x)
#define LD_u32(x) (x)
#define LD_u64(x) (x)
#define LD_f32(x) (x)
#define LD_f64(x) (x)
#define LD_f16(x) npg_s_f16_to_f32(x)
#define LD_bf16(x) npg_s_bf16_to_f32(x)
#define NPG_C_b uint8_t
#define NPG_C_u8 uint8_t
#define NPG_C_i32 int32_t
#define NPG_C_i64 int64_t
#define NPG_C_i8 int8_t
#define NPG_C_i16 int16_t
#define NPG_C_u16 uint16_t
#define NPG_C_u32 uint32_t
#define NPG_C_u64 uint64_t
#define NPG_C_f32 float
#define NPG_C_f64 double
#define NPG_C_f16 float
#define NPG_C_bf16 float
#define NPG_ISNAN_f16(x) ((x) != (x)) /* of the loaded float32 value */
#define NPG_ISNAN_bf16(x) ((x) != (x))

/* Contiguous runs: the half types convert HALF_RUN elements at a time into
 * a float32 buffer (half_cvt.h's vector conversions; LD's bits) and reduce
 * that; the other types read their elements in place, in one run. RUN_T is
 * the element type a run holds, RUN_LEN its length, RUN_SRC(t, buf, p, n)
 * the n elements at p as a run. The lanes stay the same across runs, so
 * every type sums in the same order as float32. */
#define HALF_RUN 1024
_Static_assert(HALF_RUN % RED_LANES == 0 && HALF_RUN >= COL_BLOCK, "a run holds whole lanes and a column block");
#define RUN_T(t) RUN_T_##t
#define RUN_T_b uint8_t
#define RUN_T_u8 uint8_t
#define RUN_T_i32 int32_t
#define RUN_T_i64 int64_t
#define RUN_T_i8 int8_t
#define RUN_T_i16 int16_t
#define RUN_T_u16 uint16_t
#define RUN_T_u32 uint32_t
#define RUN_T_u64 uint64_t
#define RUN_T_f32 float
#define RUN_T_f64 double
#define RUN_T_f16 float
#define RUN_T_bf16 float
#define RUN_LEN(t) RUN_LEN_##t
#define RUN_LEN_b INT64_MAX
#define RUN_LEN_u8 INT64_MAX
#define RUN_LEN_i32 INT64_MAX
#define RUN_LEN_i64 INT64_MAX
#define RUN_LEN_i8 INT64_MAX
#define RUN_LEN_i16 INT64_MAX
#define RUN_LEN_u16 INT64_MAX
#define RUN_LEN_u32 INT64_MAX
#define RUN_LEN_u64 INT64_MAX
#define RUN_LEN_f32 INT64_MAX
#define RUN_LEN_f64 INT64_MAX
#define RUN_LEN_f16 HALF_RUN
#define RUN_LEN_bf16 HALF_RUN
#define RUN_BUF(t) RUN_BUF_##t /* buffer elements */
#define RUN_BUF_b 1
#define RUN_BUF_u8 1
#define RUN_BUF_i32 1
#define RUN_BUF_i64 1
#define RUN_BUF_i8 1
#define RUN_BUF_i16 1
#define RUN_BUF_u16 1
#define RUN_BUF_u32 1
#define RUN_BUF_u64 1
#define RUN_BUF_f32 1
#define RUN_BUF_f64 1
#define RUN_BUF_f16 HALF_RUN
#define RUN_BUF_bf16 HALF_RUN
#define RUN_SRC(t, buf, p, n) RUN_SRC_##t(buf, p, n)
#define RUN_SRC_b(buf, p, n) (p)
#define RUN_SRC_u8(buf, p, n) (p)
#define RUN_SRC_i32(buf, p, n) (p)
#define RUN_SRC_i64(buf, p, n) (p)
#define RUN_SRC_i8(buf, p, n) (p)
#define RUN_SRC_i16(buf, p, n) (p)
#define RUN_SRC_u16(buf, p, n) (p)
#define RUN_SRC_u32(buf, p, n) (p)
#define RUN_SRC_u64(buf, p, n) (p)
#define RUN_SRC_f32(buf, p, n) (p)
#define RUN_SRC_f64(buf, p, n) (p)
#define RUN_SRC_f16(buf, p, n) (npg_cvt_f16_f32(buf, p, n), (const float *)(buf))
#define RUN_SRC_bf16(buf, p, n) (npg_cvt_bf16_f32(buf, p, n), (const float *)(buf))

/* step(acc, x) per op; x may also be another accumulator (lane merge). */
#define SUM_STEP(t, a, x) ((a) + (x))
#define PROD_STEP(t, a, x) ((a) * (x))
#define MAX_STEP(t, a, x) (((x) > (a) || NPG_ISNAN_##t(x)) ? (x) : (a))
#define MIN_STEP(t, a, x) (((x) < (a) || NPG_ISNAN_##t(x)) ? (x) : (a))
#define ALL_STEP(t, a, x) ((a) & (uint64_t)((x) != 0))
#define ANY_STEP(t, a, x) ((a) | (uint64_t)((x) != 0))
/* STEP##_PAIR(t, A, x, y): two elements combined into an accumulator value
 * v that STEP(t, acc, v) then takes (the column kernels' four-row passes:
 * acc = STEP(acc, STEP(PAIR(x0, x1), PAIR(x2, x3)))). Sums and products
 * pair in A, so float32 elements add in double as one at a time would. */
#define SUM_STEP_PAIR(t, A, x, y) ((A)(x) + (A)(y))
#define PROD_STEP_PAIR(t, A, x, y) ((A)(x) * (A)(y))
#define MAX_STEP_PAIR(t, A, x, y) MAX_STEP(t, (A)(x), (A)(y))
#define MIN_STEP_PAIR(t, A, x, y) MIN_STEP(t, (A)(x), (A)(y))
#define ALL_STEP_PAIR(t, A, x, y) ((uint64_t)((x) != 0) & (uint64_t)((y) != 0))
#define ANY_STEP_PAIR(t, A, x, y) ((uint64_t)((x) != 0) | (uint64_t)((y) != 0))

/* A non-arg reduction: OP name, dtype suffix t, accumulator type A in state
 * field F starting at INITV, output type OT = FINX(acc, count). */
#define RED_DEF(OP, t, A, F, INITV, STEP, OT, FINX)                                              \
    static void OP##_init_##t(rstate *s, int64_t n) {                                            \
        for (int64_t k = 0; k < n; k++) {                                                        \
            s[k].v.F = INITV;                                                                    \
            s[k].idx = 0;                                                                        \
        }                                                                                        \
    }                                                                                            \
    static void OP##_seg_##t(rstate *s, const char *p_, int64_t n, int64_t st, int64_t base) {   \
        const NPG_T_##t *p = (const NPG_T_##t *)p_;                                              \
        A acc = (A)s->v.F;                                                                       \
        if (st == 1) {                                                                           \
            A l[RED_LANES];                                                                      \
            for (int j = 0; j < RED_LANES; j++) l[j] = INITV;                                    \
            RUN_T(t) buf[RUN_BUF(t)];                                                            \
            (void)buf;                                                                           \
            for (int64_t i0 = 0; i0 < n; i0 += RUN_LEN(t)) {                                     \
                const int64_t m = n - i0 < RUN_LEN(t) ? n - i0 : RUN_LEN(t);                     \
                const RUN_T(t) *q = RUN_SRC(t, buf, p + i0, m);                                  \
                int64_t i = 0;                                                                   \
                for (; i + RED_LANES <= m; i += RED_LANES)                                       \
                    for (int j = 0; j < RED_LANES; j++) l[j] = STEP(t, l[j], q[i + j]);          \
                for (; i < m; i++) acc = STEP(t, acc, q[i]); /* the last run only */            \
            }                                                                                    \
            for (int j = 0; j < RED_LANES; j++) acc = STEP(t, acc, l[j]);                        \
        } else {                                                                                 \
            for (int64_t i = 0; i < n; i++) acc = STEP(t, acc, LD(t, p[i * st]));               \
        }                                                                                        \
        s->v.F = acc;                                                                            \
    }                                                                                            \
    static void OP##_merge_##t(rstate *s, const rstate *o) {                                     \
        A a = (A)s->v.F, b = (A)o->v.F;                                                          \
        s->v.F = STEP(t, a, b);                                                                  \
    }                                                                                            \
    static void OP##_fin_##t(char *out, const rstate *s, int64_t n, int64_t count) {             \
        for (int64_t k = 0; k < n; k++) {                                                        \
            OT v = (OT)FINX((A)s[k].v.F, count);                                                 \
            memcpy(out + k * (int64_t)sizeof v, &v, sizeof v);                                   \
        }                                                                                        \
    }                                                                                            \
    static void OP##_col_##t(rstate *s, const char *p_, int64_t kb, int64_t ks, int64_t nr, int64_t rs, \
                             int64_t j0) {                                                       \
        const NPG_T_##t *p = (const NPG_T_##t *)p_;                                              \
        A acc[COL_BLOCK];                                                                        \
        RUN_T(t) buf[RUN_BUF(t)];                                                                \
        (void)buf;                                                                               \
        for (int64_t k = 0; k < kb; k++) acc[k] = (A)s[k].v.F;                                   \
        int64_t r = 0;                                                                           \
        /* Four rows per pass over the accumulators where rows are over 4 KB apart; nearer,  \
         * four (or two) streams in a page read at half the speed of one on the Zen 4 VM,   \
         * which is why the loop below keeps its test inside (GCC -O3 would otherwise jam \
         * it two rows at a time). The half types decide by their float32 copy's stride,  \
         * so that they add in the same order as it and round its result. */               \
        if (ks == 1 && (rs < 0 ? -rs : rs) * (int64_t)sizeof(RUN_T(t)) >= COL_FOUR_MIN) {       \
            RUN_T(t) b4[4 * RUN_BUF(t)]; /* float16's four rows as float32 (F16C) */             \
            (void)b4;                                                                            \
            for (; NPG_DT_##t == NPG_FLOAT16 && r + 4 <= nr; r += 4) {                           \
                const NPG_T_##t *row = p + r * rs;                                               \
                const RUN_T(t) *q0 = RUN_SRC(t, b4, row, kb);                                    \
                const RUN_T(t) *q1 = RUN_SRC(t, b4 + RUN_BUF(t), row + rs, kb);                  \
                const RUN_T(t) *q2 = RUN_SRC(t, b4 + 2 * RUN_BUF(t), row + 2 * rs, kb);          \
                const RUN_T(t) *q3 = RUN_SRC(t, b4 + 3 * RUN_BUF(t), row + 3 * rs, kb);          \
                NPG_SIMD for (int64_t k = 0; k < kb; k++) acc[k] =                               \
                    STEP(t, acc[k], STEP(t, STEP##_PAIR(t, A, q0[k], q1[k]), STEP##_PAIR(t, A, q2[k], q3[k]))); \
            }                                                                                    \
            for (; r + 4 <= nr; r += 4) { /* the others as they are (bfloat16: a shift) */      \
                const NPG_T_##t *q0 = p + r * rs, *q1 = q0 + rs, *q2 = q1 + rs, *q3 = q2 + rs;   \
                NPG_SIMD for (int64_t k = 0; k < kb; k++) acc[k] = STEP(t, acc[k],               \
                    STEP(t, STEP##_PAIR(t, A, LD(t, q0[k]), LD(t, q1[k])), STEP##_PAIR(t, A, LD(t, q2[k]), LD(t, q3[k])))); \
            }                                                                                    \
        }                                                                                        \
        for (; r < nr; r++) {                                                                    \
            const NPG_T_##t *row = p + r * rs;                                                   \
            if (ks == 1) {                                                                       \
                const RUN_T(t) *q = RUN_SRC(t, buf, row, kb);                                    \
                NPG_SIMD for (int64_t k = 0; k < kb; k++) acc[k] = STEP(t, acc[k], q[k]);        \
            } else {                                                                             \
                for (int64_t k = 0; k < kb; k++) acc[k] = STEP(t, acc[k], LD(t, row[k * ks]));   \
            }                                                                                    \
        }                                                                                        \
        for (int64_t k = 0; k < kb; k++) s[k].v.F = acc[k];                                      \
    }

/* ARGMAX/ARGMIN: BETTER(x, best) is true when x replaces the current best;
 * NaN beats everything but an earlier NaN; ties keep the first. */
#define ARGMAX_BETTER(t, x, b) ((x) > (b) || (NPG_ISNAN_##t(x) && !NPG_ISNAN_##t(b)))
#define ARGMIN_BETTER(t, x, b) ((x) < (b) || (NPG_ISNAN_##t(x) && !NPG_ISNAN_##t(b)))
#define ARG_DEF(OP, t)                                                                           \
    static void OP##_init_##t(rstate *s, int64_t n) {                                            \
        for (int64_t k = 0; k < n; k++) {                                                        \
            s[k].v.FLD(t) = 0;                                                                   \
            s[k].idx = -1;                                                                       \
        }                                                                                        \
    }                                                                                            \
    static void OP##_seg_##t(rstate *s, const char *p_, int64_t n, int64_t st, int64_t base) {   \
        typedef NPG_T_##t T;                                                                     \
        typedef NPG_C_##t C;                                                                     \
        const T *p = (const T *)p_;                                                              \
        if (n <= 0) return;                                                                      \
        int64_t i = 0, bi = s->idx;                                                              \
        C best = (C)s->v.FLD(t);                                                                 \
        if (bi < 0) {                                                                            \
            best = LD(t, p[0]);                                                                  \
            bi = base;                                                                           \
            i = 1;                                                                               \
        }                                                                                        \
        for (; i < n; i++) {                                                                     \
            C x = LD(t, p[i * st]);                                                              \
            if (OP##_BETTER(t, x, best)) {                                                       \
                best = x;                                                                        \
                bi = base + i;                                                                   \
            }                                                                                    \
        }                                                                                        \
        s->v.FLD(t) = best;                                                                      \
        s->idx = bi;                                                                             \
    }                                                                                            \
    static void OP##_merge_##t(rstate *s, const rstate *o) {                                     \
        typedef NPG_C_##t C;                                                                     \
        if (o->idx < 0) return;                                                                  \
        C x = (C)o->v.FLD(t), b = (C)s->v.FLD(t);                                                \
        if (s->idx < 0 || OP##_BETTER(t, x, b)) *s = *o;                                         \
    }                                                                                            \
    static void OP##_fin_##t(char *out, const rstate *s, int64_t n, int64_t count) {             \
        for (int64_t k = 0; k < n; k++) memcpy(out + k * 8, &s[k].idx, 8);                       \
    }                                                                                            \
    static void OP##_col_##t(rstate *s, const char *p_, int64_t kb, int64_t ks, int64_t nr, int64_t rs, \
                             int64_t j0) {                                                       \
        typedef NPG_T_##t T;                                                                     \
        typedef NPG_C_##t C;                                                                     \
        const T *p = (const T *)p_;                                                              \
        for (int64_t r = 0; r < nr; r++) {                                                       \
            const T *row = p + r * rs;                                                           \
            for (int64_t k = 0; k < kb; k++) {                                                   \
                C x = LD(t, row[k * ks]), b = (C)s[k].v.FLD(t);                                  \
                if (s[k].idx < 0 || OP##_BETTER(t, x, b)) {                                      \
                    s[k].v.FLD(t) = x;                                                           \
                    s[k].idx = j0 + r;                                                           \
                }                                                                                \
            }                                                                                    \
        }                                                                                        \
    }

#define FIN_ID(a, c) (a)
#define FIN_MEAN(a, c) ((a) / (double)(c))
/* the half types: float32's result, rounded */
#define FIN_F16(a, c) npg_s_f32_to_f16((float)(a))
#define FIN_BF16(a, c) npg_s_f32_to_bf16((float)(a))
#define FIN_MEAN_F16(a, c) npg_s_f32_to_f16((float)((a) / (double)(c)))
#define FIN_MEAN_BF16(a, c) npg_s_f32_to_bf16((float)((a) / (double)(c)))

/* SUM, PROD: float32 and float64 accumulate in double; integers wrap in uint64. */
RED_DEF(SUM, f32, double, f, 0.0, SUM_STEP, float, FIN_ID)
RED_DEF(SUM, f64, double, f, 0.0, SUM_STEP, double, FIN_ID)
RED_DEF(SUM, u8, uint64_t, u, 0, SUM_STEP, uint8_t, FIN_ID)
RED_DEF(SUM, i32, uint64_t, u, 0, SUM_STEP, int32_t, FIN_ID)
RED_DEF(SUM, i64, uint64_t, u, 0, SUM_STEP, int64_t, FIN_ID)
RED_DEF(SUM, i8, uint64_t, u, 0, SUM_STEP, int8_t, FIN_ID)
RED_DEF(SUM, i16, uint64_t, u, 0, SUM_STEP, int16_t, FIN_ID)
RED_DEF(SUM, u16, uint64_t, u, 0, SUM_STEP, uint16_t, FIN_ID)
RED_DEF(SUM, u32, uint64_t, u, 0, SUM_STEP, uint32_t, FIN_ID)
RED_DEF(SUM, u64, uint64_t, u, 0, SUM_STEP, uint64_t, FIN_ID)
RED_DEF(MEAN, f32, double, f, 0.0, SUM_STEP, float, FIN_MEAN)
RED_DEF(MEAN, f64, double, f, 0.0, SUM_STEP, double, FIN_MEAN)
RED_DEF(PROD, f32, double, f, 1.0, PROD_STEP, float, FIN_ID)
RED_DEF(PROD, f64, double, f, 1.0, PROD_STEP, double, FIN_ID)
RED_DEF(PROD, u8, uint64_t, u, 1, PROD_STEP, uint8_t, FIN_ID)
RED_DEF(PROD, i32, uint64_t, u, 1, PROD_STEP, int32_t, FIN_ID)
RED_DEF(PROD, i64, uint64_t, u, 1, PROD_STEP, int64_t, FIN_ID)
RED_DEF(PROD, i8, uint64_t, u, 1, PROD_STEP, int8_t, FIN_ID)
RED_DEF(PROD, i16, uint64_t, u, 1, PROD_STEP, int16_t, FIN_ID)
RED_DEF(PROD, u16, uint64_t, u, 1, PROD_STEP, uint16_t, FIN_ID)
RED_DEF(PROD, u32, uint64_t, u, 1, PROD_STEP, uint32_t, FIN_ID)
RED_DEF(PROD, u64, uint64_t, u, 1, PROD_STEP, uint64_t, FIN_ID)
/* MAX, MIN keep the input type; the identity is the type's lowest/highest. */
RED_DEF(MAX, b, uint8_t, i, 0, MAX_STEP, uint8_t, FIN_ID)
RED_DEF(MAX, u8, uint8_t, i, 0, MAX_STEP, uint8_t, FIN_ID)
RED_DEF(MAX, i32, int32_t, i, INT32_MIN, MAX_STEP, int32_t, FIN_ID)
RED_DEF(MAX, i64, int64_t, i, INT64_MIN, MAX_STEP, int64_t, FIN_ID)
RED_DEF(MAX, i8, int8_t, i, INT8_MIN, MAX_STEP, int8_t, FIN_ID)
RED_DEF(MAX, i16, int16_t, i, INT16_MIN, MAX_STEP, int16_t, FIN_ID)
RED_DEF(MAX, u16, uint16_t, i, 0, MAX_STEP, uint16_t, FIN_ID)
RED_DEF(MAX, u32, uint32_t, i, 0, MAX_STEP, uint32_t, FIN_ID)
RED_DEF(MAX, u64, uint64_t, u, 0, MAX_STEP, uint64_t, FIN_ID)
RED_DEF(MAX, f32, float, f, -INFINITY, MAX_STEP, float, FIN_ID)
RED_DEF(MAX, f64, double, f, -INFINITY, MAX_STEP, double, FIN_ID)
RED_DEF(MIN, b, uint8_t, i, 1, MIN_STEP, uint8_t, FIN_ID)
RED_DEF(MIN, u8, uint8_t, i, 255, MIN_STEP, uint8_t, FIN_ID)
RED_DEF(MIN, i32, int32_t, i, INT32_MAX, MIN_STEP, int32_t, FIN_ID)
RED_DEF(MIN, i64, int64_t, i, INT64_MAX, MIN_STEP, int64_t, FIN_ID)
RED_DEF(MIN, i8, int8_t, i, INT8_MAX, MIN_STEP, int8_t, FIN_ID)
RED_DEF(MIN, i16, int16_t, i, INT16_MAX, MIN_STEP, int16_t, FIN_ID)
RED_DEF(MIN, u16, uint16_t, i, UINT16_MAX, MIN_STEP, uint16_t, FIN_ID)
RED_DEF(MIN, u32, uint32_t, i, UINT32_MAX, MIN_STEP, uint32_t, FIN_ID)
RED_DEF(MIN, u64, uint64_t, u, UINT64_MAX, MIN_STEP, uint64_t, FIN_ID)
RED_DEF(MIN, f32, float, f, INFINITY, MIN_STEP, float, FIN_ID)
RED_DEF(MIN, f64, double, f, INFINITY, MIN_STEP, double, FIN_ID)
/* float16 / bfloat16: as float32 (sums in double), the result rounded */
#define HALF_REDS(t, FIN, FINMEAN)                                        \
    RED_DEF(SUM, t, double, f, 0.0, SUM_STEP, uint16_t, FIN)              \
    RED_DEF(MEAN, t, double, f, 0.0, SUM_STEP, uint16_t, FINMEAN)         \
    RED_DEF(PROD, t, double, f, 1.0, PROD_STEP, uint16_t, FIN)            \
    RED_DEF(MAX, t, float, f, -INFINITY, MAX_STEP, uint16_t, FIN)         \
    RED_DEF(MIN, t, float, f, INFINITY, MIN_STEP, uint16_t, FIN)          \
    ARG_DEF(ARGMAX, t)                                                    \
    ARG_DEF(ARGMIN, t)
HALF_REDS(f16, FIN_F16, FIN_MEAN_F16)
HALF_REDS(bf16, FIN_BF16, FIN_MEAN_BF16)

#define PLAIN(M, X) M(X, b) M(X, u8) M(X, i32) M(X, i64) M(X, f32) M(X, f64) NEWI(M, X)
#define INTS(M, X) M(X, u8) M(X, i32) M(X, i64) NEWI(M, X)
/* the array API's integers beyond uint8 / int32 / int64 */
#define NEWI(M, X) M(X, i8) M(X, i16) M(X, u16) M(X, u32) M(X, u64)
#define ALL_ONE(OP, t) RED_DEF(OP, t, uint64_t, u, OP##_INIT, OP##_STEP, uint8_t, FIN_ID)
#define ALL_INIT 1
#define ANY_INIT 0
PLAIN(ALL_ONE, ALL)
PLAIN(ALL_ONE, ANY)
PLAIN(ARG_DEF, ARGMAX)
PLAIN(ARG_DEF, ARGMIN)

#define KSET(OP, t)                                                                              \
    [NPG_OP_##OP][NPG_DT_##t] = {OP##_init_##t, OP##_seg_##t, OP##_merge_##t, OP##_fin_##t, OP##_col_##t},
static const red_kernels red_tab[NPG_OP_COUNT][NPG_DTYPE_COUNT] = {
    KSET(SUM, f32) KSET(SUM, f64) INTS(KSET, SUM)
    KSET(MEAN, f32) KSET(MEAN, f64)
    KSET(PROD, f32) KSET(PROD, f64) INTS(KSET, PROD)
    PLAIN(KSET, MAX) PLAIN(KSET, MIN) PLAIN(KSET, ALL) PLAIN(KSET, ANY)
    PLAIN(KSET, ARGMAX) PLAIN(KSET, ARGMIN)
    KSET(SUM, f16) KSET(MEAN, f16) KSET(PROD, f16) KSET(MAX, f16) KSET(MIN, f16) KSET(ARGMAX, f16) KSET(ARGMIN, f16)
    KSET(SUM, bf16) KSET(MEAN, bf16) KSET(PROD, bf16) KSET(MAX, bf16) KSET(MIN, bf16) KSET(ARGMAX, bf16)
    KSET(ARGMIN, bf16)
};

/* SUM, PROD of bool and the integers into int64 (uint64 for uint64; the
 * backend's wide_int_sum): the elements widen as they are read, the uint64
 * accumulator wraps. int64 and uint64 sums are the same-dtype kernels above. */
#define WIDE_DEF(X, t) RED_DEF(SUMW, t, uint64_t, u, 0, SUM_STEP, int64_t, FIN_ID) \
    RED_DEF(PRODW, t, uint64_t, u, 1, PROD_STEP, int64_t, FIN_ID)
#define NARROW(M, X) M(X, b) M(X, u8) M(X, i8) M(X, i16) M(X, u16) M(X, i32) M(X, u32)
NARROW(WIDE_DEF, _)
/* The 1- and 2-byte types' contiguous sums: 64 int32 lanes over blocks of
 * SUM32_BLOCK elements (a lane then holds at most 2^14 values below 2^16 in
 * magnitude: no overflow, the block's exact sum), widened into the uint64
 * accumulator after each block; the same result as SUMW_seg's, with four
 * times the elements per vector. Strided segments take SUMW_seg. */
#define SUM32_LANES 64
#define SUM32_BLOCK ((int64_t)1 << 20)
#define SUM32_DEF(X, t)                                                                          \
    static void SUMW_seg32_##t(rstate *s, const char *p_, int64_t n, int64_t st, int64_t base) { \
        if (st != 1) {                                                                           \
            SUMW_seg_##t(s, p_, n, st, base);                                                    \
            return;                                                                              \
        }                                                                                        \
        const NPG_T_##t *p = (const NPG_T_##t *)p_;                                              \
        uint64_t acc = s->v.u;                                                                   \
        for (int64_t i0 = 0; i0 < n; i0 += SUM32_BLOCK) {                                        \
            const int64_t m = n - i0 < SUM32_BLOCK ? n - i0 : SUM32_BLOCK;                       \
            const NPG_T_##t *q = p + i0;                                                         \
            int32_t l[SUM32_LANES] = {0}, tail = 0;                                              \
            int64_t i = 0;                                                                       \
            for (; i + SUM32_LANES <= m; i += SUM32_LANES)                                       \
                for (int j = 0; j < SUM32_LANES; j++) l[j] += q[i + j];                          \
            for (; i < m; i++) tail += q[i];                                                     \
            for (int j = 0; j < SUM32_LANES; j++) acc += (uint64_t)(int64_t)l[j];                \
            acc += (uint64_t)(int64_t)tail;                                                      \
        }                                                                                        \
        s->v.u = acc;                                                                            \
    }
/* Their column sums (contiguous outputs) likewise: int32 accumulators over
 * chunks of SUM32_ROWS rows (at most 2^15 values below 2^16 in magnitude
 * each), widened into the uint64 states after each chunk. */
#define SUM32_ROWS ((int64_t)1 << 15)
#define SUM32_COL_DEF(X, t)                                                                      \
    static void SUMW_col32_##t(rstate *s, const char *p_, int64_t kb, int64_t ks, int64_t nr, int64_t rs, \
                               int64_t j0) {                                                     \
        if (ks != 1) {                                                                           \
            SUMW_col_##t(s, p_, kb, ks, nr, rs, j0);                                             \
            return;                                                                              \
        }                                                                                        \
        const NPG_T_##t *p = (const NPG_T_##t *)p_;                                              \
        int32_t acc[COL_BLOCK];                                                                  \
        for (int64_t r0 = 0; r0 < nr; r0 += SUM32_ROWS) {                                        \
            const int64_t m = nr - r0 < SUM32_ROWS ? nr - r0 : SUM32_ROWS;                       \
            for (int64_t k = 0; k < kb; k++) acc[k] = 0;                                         \
            int64_t r = r0;                                                                      \
            for (; r + 4 <= r0 + m; r += 4) {                                                    \
                const NPG_T_##t *a = p + r * rs, *b = a + rs, *c = b + rs, *d = c + rs;          \
                NPG_SIMD for (int64_t k = 0; k < kb; k++) acc[k] += (a[k] + b[k]) + (c[k] + d[k]); \
            }                                                                                    \
            for (; r < r0 + m; r++) {                                                            \
                const NPG_T_##t *row = p + r * rs;                                               \
                NPG_SIMD for (int64_t k = 0; k < kb; k++) acc[k] += row[k];                      \
            }                                                                                    \
            for (int64_t k = 0; k < kb; k++) s[k].v.u += (uint64_t)(int64_t)acc[k];              \
        }                                                                                        \
    }
#define SMALL(M, X) M(X, b) M(X, u8) M(X, i8) M(X, i16) M(X, u16)
SMALL(SUM32_DEF, _)
SMALL(SUM32_COL_DEF, _)
_Static_assert(COL_BLOCK <= 4096, "the int32 column accumulators live on the stack");
#define WSET(OP, t, SEG, COL)                                                                    \
    [NPG_OP_##OP][NPG_DT_##t] = {OP##W_init_##t, SEG, OP##W_merge_##t, OP##W_fin_##t, COL},
#define WSET_SMALL(X, t) WSET(SUM, t, SUMW_seg32_##t, SUMW_col32_##t) WSET(PROD, t, PRODW_seg_##t, PRODW_col_##t)
#define WSET_WORD(X, t) WSET(SUM, t, SUMW_seg_##t, SUMW_col_##t) WSET(PROD, t, PRODW_seg_##t, PRODW_col_##t)
static const red_kernels wide_tab[NPG_OP_COUNT][NPG_DTYPE_COUNT] = {
    SMALL(WSET_SMALL, _) WSET_WORD(_, i32) WSET_WORD(_, u32)
};

/* ---- drivers ------------------------------------------------------------------- */

/* A coalesced view of the kept (K) and reduced (R) axes of `in`. */
typedef struct red_geom {
    const red_kernels *k;
    const char *base;
    int64_t es, oes;         /* input / output element sizes */
    int nk, nr;
    int64_t kshape[NPG_MAX_DIMS], kstrides[NPG_MAX_DIMS];
    int64_t rshape[NPG_MAX_DIMS], rstrides[NPG_MAX_DIMS];
    int64_t K, R;
} red_geom;

#define flat_offset npg__cpu_flat_offset

/* Reduce flat indices [lo, hi) of the reduced block at element offset koff
 * into st, run by run along the innermost reduced axis. */
static void row_range(const red_geom *g, rstate *st, int64_t koff, int64_t lo, int64_t hi) {
    if (g->nr == 0) {
        g->k->seg(st, g->base + koff * g->es, 1, 1, 0);
        return;
    }
    const int last = g->nr - 1;
    const int64_t inner = g->rshape[last], s = g->rstrides[last];
    while (lo < hi) {
        int64_t j = lo % inner, len = inner - j;
        if (len > hi - lo) len = hi - lo;
        int64_t off = koff + flat_offset(last, g->rshape, g->rstrides, lo / inner) + j * s;
        g->k->seg(st, g->base + off * g->es, len, s, lo);
        lo += len;
    }
}

static npg_status reduce_rows(const red_geom *g, char *out) {
    const int64_t K = g->K, R = g->R, total = K * R;
    const int64_t nth = npg__cpu_threads();
    /* Fewer outputs than a few per thread: split every block as well, so
     * the threads get even shares, and merge the parts in order. */
    int64_t parts = 1;
    if (total >= NPG_CPU_PAR_MIN && K < 4 * nth) {
        parts = (4 * nth + K - 1) / K;
        if (parts > R) parts = R;
    }
    if (parts <= 1) {
        NPG_PAR_LOOP(total >= NPG_CPU_PAR_MIN && K > 1, k, K, {
            rstate st;
            g->k->init(&st, 1);
            row_range(g, &st, flat_offset(g->nk, g->kshape, g->kstrides, k), 0, R);
            g->k->fin(out + k * g->oes, &st, 1, R);
        });
        return NPG_OK;
    }
    const int64_t items = K * parts;
    rstate *st = malloc((size_t)items * sizeof *st);
    if (!st) return npg__set_error(NPG_ERR_OOM, "cpu reduce: out of memory");
    NPG_PAR_LOOP(items > 1, it, items, {
        int64_t k = it / parts, p = it % parts;
        g->k->init(&st[it], 1);
        row_range(g, &st[it], flat_offset(g->nk, g->kshape, g->kstrides, k), npg__cpu_split(R, parts, p),
                  npg__cpu_split(R, parts, p + 1));
    });
    for (int64_t k = 0; k < K; k++) {
        for (int64_t p = 1; p < parts; p++) g->k->merge(&st[k * parts], &st[k * parts + p]);
        g->k->fin(out + k * g->oes, &st[k * parts], 1, R);
    }
    free(st);
    return NPG_OK;
}

/* Column reductions: outputs in groups of up to COL_GROUP along the
 * innermost kept axis, one task per group (or per group and part of the
 * reduced block, when there are fewer groups than threads). A task walks
 * its reduced coordinates in runs along the innermost reduced axis,
 * COL_TILE rows at a time, and each tile goes across the group's column
 * blocks (COL_BLOCK outputs, the kernels' accumulators) before the next:
 * the tile's rows stream through memory in pieces of the group's width. A
 * block walking all the rows by itself would read one 4 KB piece per row,
 * which the hardware prefetchers do not follow (on the 2-core Zen 4 VM a
 * float32 (4096, 4096) column sum ran at a third of the (16384, 1024) one's
 * speed that way). A group's states live on the stack (32 KB); groups of
 * 4096 were 5-10% faster there, at twice the stack. */
#define COL_GROUP 2048
#define COL_TILE 32
_Static_assert(COL_GROUP % COL_BLOCK == 0, "a group holds whole column blocks");
static void col_range(const red_geom *g, rstate *st, int64_t koff, int64_t kw, int64_t lo, int64_t hi) {
    const int64_t ks = g->kstrides[g->nk - 1];
    const int last = g->nr - 1;
    const int64_t inner = g->nr ? g->rshape[last] : 1, rs = g->nr ? g->rstrides[last] : 0;
    /* COL_TILE rows of 4-byte elements, more of narrower ones; one block: all rows in one call */
    const int64_t tile = kw > COL_BLOCK ? COL_TILE * (g->es < 4 ? 4 / g->es : 1) : INT64_MAX;
    while (lo < hi) {
        int64_t j = lo % inner, len = inner - j;
        if (len > hi - lo) len = hi - lo;
        int64_t off = koff + (g->nr ? flat_offset(last, g->rshape, g->rstrides, lo / inner) + j * rs : 0);
        for (int64_t r0 = 0; r0 < len; r0 += tile) {
            const int64_t nt = len - r0 < tile ? len - r0 : tile;
            for (int64_t k0 = 0; k0 < kw; k0 += COL_BLOCK)
                g->k->col(st + k0, g->base + (off + r0 * rs + k0 * ks) * g->es,
                          kw - k0 < COL_BLOCK ? kw - k0 : COL_BLOCK, ks, nt, rs, lo + r0);
        }
        lo += len;
    }
}

static npg_status reduce_cols(const red_geom *g, char *out) {
    const int64_t K0 = g->kshape[g->nk - 1], KO = g->K / K0, ks = g->kstrides[g->nk - 1], total = g->K * g->R;
    const int64_t nth = npg__cpu_threads();
    /* groups narrower than COL_GROUP (whole blocks) when that gives each thread one */
    int64_t GW = COL_GROUP;
    if (total >= NPG_CPU_PAR_MIN && KO < nth) {
        int64_t per = (K0 * KO + nth - 1) / nth; /* outputs per thread */
        per = (per + COL_BLOCK - 1) / COL_BLOCK * COL_BLOCK;
        if (per < GW) GW = per;
    }
    const int64_t ngrp = (K0 + GW - 1) / GW, tasks = KO * ngrp;
    /* still fewer tasks than threads: split the rows too, in parts of 64 rows or more */
    int64_t parts = 1;
    if (tasks < nth && total >= NPG_CPU_PAR_MIN) {
        parts = nth * 2 < g->R / 64 ? nth * 2 : g->R / 64;
        if (parts < 1) parts = 1;
    }
    if (parts <= 1) {
        NPG_PAR_LOOP(total >= NPG_CPU_PAR_MIN && tasks > 1, t, tasks, {
            rstate st[COL_GROUP];
            int64_t ko = t / ngrp, k0 = t % ngrp * GW, kw = K0 - k0 < GW ? K0 - k0 : GW;
            int64_t koff = flat_offset(g->nk - 1, g->kshape, g->kstrides, ko) + k0 * ks;
            g->k->init(st, kw);
            col_range(g, st, koff, kw, 0, g->R);
            g->k->fin(out + (ko * K0 + k0) * g->oes, st, kw, g->R);
        });
        return NPG_OK;
    }
    const int64_t items = tasks * parts, gw = K0 < GW ? K0 : GW;
    rstate *st = malloc((size_t)(items * gw) * sizeof *st);
    if (!st) return npg__set_error(NPG_ERR_OOM, "cpu reduce: out of memory");
    NPG_PAR_LOOP(items > 1, it, items, {
        int64_t t = it / parts, p = it % parts;
        int64_t ko = t / ngrp, k0 = t % ngrp * GW, kw = K0 - k0 < GW ? K0 - k0 : GW;
        int64_t koff = flat_offset(g->nk - 1, g->kshape, g->kstrides, ko) + k0 * ks;
        rstate *s = st + it * gw;
        g->k->init(s, kw);
        col_range(g, s, koff, kw, npg__cpu_split(g->R, parts, p), npg__cpu_split(g->R, parts, p + 1));
    });
    for (int64_t t = 0; t < tasks; t++) {
        int64_t ko = t / ngrp, k0 = t % ngrp * GW, kw = K0 - k0 < GW ? K0 - k0 : GW;
        rstate *s = st + t * parts * gw;
        for (int64_t k = 0; k < kw; k++)
            for (int64_t p = 1; p < parts; p++) g->k->merge(&s[k], &s[p * gw + k]);
        g->k->fin(out + (ko * K0 + k0) * g->oes, s, kw, g->R);
    }
    free(st);
    return NPG_OK;
}

static int64_t abs64(int64_t x) { return x < 0 ? -x : x; }

npg_status npg__cpu_reduce(int dev, npg_op op, const npg_tdesc *out, const npg_tdesc *in, int nred) {
    npg_dtype dt = in->dtype;
    bool known = (unsigned)op < NPG_OP_COUNT && dt > NPG_DTYPE_DEFAULT && dt < NPG_DTYPE_COUNT;
    /* an integer SUM / PROD into int64 (wide_int_sum), or same-dtype */
    const bool wide = known && (op == NPG_OP_SUM || op == NPG_OP_PROD) && out->dtype != dt &&
                      out->dtype == (dt == NPG_UINT64 ? NPG_UINT64 : NPG_INT64);
    const red_kernels *k = known ? (wide ? &wide_tab[op][dt] : &red_tab[op][dt]) : NULL;
    if (!k || !k->init) return npg__cpu_unsupported(op, dt);
    npg_dtype odt = op == NPG_OP_ALL || op == NPG_OP_ANY         ? NPG_BOOL
                    : op == NPG_OP_ARGMAX || op == NPG_OP_ARGMIN ? NPG_INT64
                    : wide                                       ? out->dtype
                                                                 : dt;
    if (out->dtype != odt) return npg__cpu_unsupported(op, out->dtype);
    if (!npg__desc_contiguous(out))
        return npg__set_error(NPG_ERR_INTERNAL, "cpu %s: output not contiguous", npg__op_name(op));
    if (nred < 0 || nred > in->ndim)
        return npg__set_error(NPG_ERR_INTERNAL, "cpu %s: nred %d out of range for ndim %d", npg__op_name(op), nred,
                              in->ndim);

    red_geom g = {.k = k, .base = in->data, .es = (int64_t)npg__dtype_size(dt),
                  .oes = (int64_t)npg__dtype_size(odt), .K = 1, .R = 1};
    const int nk = in->ndim - nred;
    for (int i = 0; i < in->ndim; i++) {
        if (i < nk) {
            g.kshape[i] = in->shape[i];
            g.kstrides[i] = in->strides[i];
            g.K *= in->shape[i];
        } else {
            g.rshape[i - nk] = in->shape[i];
            g.rstrides[i - nk] = in->strides[i];
            g.R *= in->shape[i];
        }
    }
    if (g.K == 0) return NPG_OK;
    char *o = out->data;
    if (g.R == 0) { /* empty reduction: every output is the identity */
        rstate st;
        k->init(&st, 1);
        k->fin(o, &st, 1, 0);
        for (int64_t i = 1; i < g.K; i++) memcpy(o + i * g.oes, o, (size_t)g.oes);
        return NPG_OK;
    }
    g.nk = npg__cpu_coalesce1(nk, g.kshape, g.kstrides);
    g.nr = npg__cpu_coalesce1(nred, g.rshape, g.rstrides);
    /* Columns when a block of outputs is adjacent in memory and the reduced
     * block is tiny or farther apart; rows otherwise. */
    if (g.nk >= 1 && g.kshape[g.nk - 1] >= 16) {
        int64_t ks = abs64(g.kstrides[g.nk - 1]), rs = g.nr ? abs64(g.rstrides[g.nr - 1]) : 0;
        if (g.R < 64 || ks < rs) return reduce_cols(&g, o);
    }
    return reduce_rows(&g, o);
}

/* ---- scans ---------------------------------------------------------------------- */
#define SCAN_BLOCK 256

/* out (L, I) rows of one outer index, jb inner positions starting at j0:
 * out[l*I + j0 + j] = op over l' <= l of in[ioff[j] + l'*sa]. */
/* NAME: a scan of dtype t into OT (t's own type, or int64 for the wide
 * integer scans of wide_int_scan), accumulating in A. */
#define SCAN_DEF_T(NAME, t, OT, A, INITV, STEP)                                                  \
    static void NAME(char *out_, const char *in_, const int64_t *ioff, int64_t jb, int64_t L, int64_t sa, \
                     int64_t I) {                                                                \
        typedef NPG_T_##t T;                                                                     \
        OT *out = (OT *)out_;                                                                    \
        const T *in = (const T *)in_;                                                            \
        A acc[SCAN_BLOCK];                                                                       \
        for (int64_t j = 0; j < jb; j++) acc[j] = INITV;                                         \
        for (int64_t l = 0; l < L; l++) {                                                        \
            for (int64_t j = 0; j < jb; j++) {                                                   \
                acc[j] = STEP(t, acc[j], in[ioff[j] + l * sa]);                                  \
                out[l * I + j] = (OT)acc[j];                                                     \
            }                                                                                    \
        }                                                                                        \
    }
#define SCAN_DEF(OP, t, A, INITV, STEP) SCAN_DEF_T(scan_##OP##_##t, t, NPG_T_##t, A, INITV, STEP)
typedef void (*scan_fn)(char *out, const char *in, const int64_t *ioff, int64_t jb, int64_t L, int64_t sa,
                        int64_t I);
SCAN_DEF(CUMSUM, f32, double, 0.0, SUM_STEP)
SCAN_DEF(CUMSUM, f64, double, 0.0, SUM_STEP)
SCAN_DEF(CUMSUM, u8, uint64_t, 0, SUM_STEP)
SCAN_DEF(CUMSUM, i32, uint64_t, 0, SUM_STEP)
SCAN_DEF(CUMSUM, i64, uint64_t, 0, SUM_STEP)
SCAN_DEF(CUMSUM, i8, uint64_t, 0, SUM_STEP)
SCAN_DEF(CUMSUM, i16, uint64_t, 0, SUM_STEP)
SCAN_DEF(CUMSUM, u16, uint64_t, 0, SUM_STEP)
SCAN_DEF(CUMSUM, u32, uint64_t, 0, SUM_STEP)
SCAN_DEF(CUMSUM, u64, uint64_t, 0, SUM_STEP)
SCAN_DEF(CUMPROD, f32, double, 1.0, PROD_STEP)
SCAN_DEF(CUMPROD, f64, double, 1.0, PROD_STEP)
SCAN_DEF(CUMPROD, u8, uint64_t, 1, PROD_STEP)
SCAN_DEF(CUMPROD, i32, uint64_t, 1, PROD_STEP)
SCAN_DEF(CUMPROD, i64, uint64_t, 1, PROD_STEP)
SCAN_DEF(CUMPROD, i8, uint64_t, 1, PROD_STEP)
SCAN_DEF(CUMPROD, i16, uint64_t, 1, PROD_STEP)
SCAN_DEF(CUMPROD, u16, uint64_t, 1, PROD_STEP)
SCAN_DEF(CUMPROD, u32, uint64_t, 1, PROD_STEP)
SCAN_DEF(CUMPROD, u64, uint64_t, 1, PROD_STEP)
#define STAB(OP, t) [NPG_OP_##OP][NPG_DT_##t] = scan_##OP##_##t,
static const scan_fn scan_tab[NPG_OP_COUNT][NPG_DTYPE_COUNT] = {
    STAB(CUMSUM, f32) STAB(CUMSUM, f64) INTS(STAB, CUMSUM)
    STAB(CUMPROD, f32) STAB(CUMPROD, f64) INTS(STAB, CUMPROD)
};
/* bool and the narrow integers into int64 (wide_int_scan), widened as read */
#define SCAN_WIDE(X, t)                                                                          \
    SCAN_DEF_T(scan_CUMSUMW_##t, t, int64_t, uint64_t, 0, SUM_STEP)                              \
    SCAN_DEF_T(scan_CUMPRODW_##t, t, int64_t, uint64_t, 1, PROD_STEP)
NARROW(SCAN_WIDE, _)
#define STAB_W(X, t) [NPG_OP_CUMSUM][NPG_DT_##t] = scan_CUMSUMW_##t, [NPG_OP_CUMPROD][NPG_DT_##t] = scan_CUMPRODW_##t,
static const scan_fn scan_wide_tab[NPG_OP_COUNT][NPG_DTYPE_COUNT] = {NARROW(STAB_W, _)};

npg_status npg__cpu_scan(int dev, npg_op op, const npg_tdesc *out, const npg_tdesc *in, int axis) {
    npg_dtype dt = in->dtype;
    bool known = (unsigned)op < NPG_OP_COUNT && dt > NPG_DTYPE_DEFAULT && dt < NPG_DTYPE_COUNT;
    /* into int64 from bool or a narrow integer (wide_int_scan), or same-dtype */
    const bool wide = known && out->dtype == NPG_INT64 && dt != NPG_INT64;
    scan_fn fn = known ? (wide ? scan_wide_tab : scan_tab)[op][dt] : NULL;
    if (!fn || (!wide && out->dtype != dt)) return npg__cpu_unsupported(op, fn ? out->dtype : dt);
    if (!npg__desc_contiguous(out))
        return npg__set_error(NPG_ERR_INTERNAL, "cpu %s: output not contiguous", npg__op_name(op));
    if (in->ndim == 0) return npg__cpu_copy(dev, out, in); /* a 0-d scan is the element itself */
    if (axis < 0 || axis >= in->ndim)
        return npg__set_error(NPG_ERR_INTERNAL, "cpu %s: axis %d out of range for ndim %d", npg__op_name(op), axis,
                              in->ndim);
    /* in = (O..., L, I...): O outer coordinates, L along the axis, I inner. */
    int64_t O = 1, L = in->shape[axis], I = 1;
    for (int i = 0; i < axis; i++) O *= in->shape[i];
    for (int i = axis + 1; i < in->ndim; i++) I *= in->shape[i];
    const int ni = in->ndim - axis - 1;
    const int64_t *ishape = in->shape + axis + 1, *istrides = in->strides + axis + 1;
    const int64_t es = (int64_t)npg__dtype_size(dt), oes = (int64_t)npg__dtype_size(out->dtype), sa = in->strides[axis];
    if (O * L * I == 0) return NPG_OK;
    const int64_t nblk = (I + SCAN_BLOCK - 1) / SCAN_BLOCK, tasks = O * nblk;
    const char *ib = in->data;
    char *ob = out->data;
    NPG_PAR_LOOP(O * L * I >= NPG_CPU_PAR_MIN && tasks > 1, t, tasks, {
        int64_t o = t / nblk, j0 = t % nblk * SCAN_BLOCK, jb = I - j0 < SCAN_BLOCK ? I - j0 : SCAN_BLOCK;
        int64_t ioff[SCAN_BLOCK];
        int64_t ooff = flat_offset(axis, in->shape, in->strides, o);
        for (int64_t j = 0; j < jb; j++) ioff[j] = flat_offset(ni, ishape, istrides, j0 + j);
        fn(ob + ((o * L) * I + j0) * oes, ib + ooff * es, ioff, jb, L, sa, I);
    });
    return NPG_OK;
}
