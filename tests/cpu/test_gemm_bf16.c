/*
 * test_gemm_bf16.c — the CPU's bfloat16 GEMM (src/cpu/gemm_bf16.c, AVX512-BF16
 * dot products) and the CPU matmul entry's half paths with the dot products
 * on and off: exact results where every product and partial sum is exact
 * in float32 (any summation order gives them), float64 references with a
 * float32 accumulation bound otherwise; shapes across the kernel's panel
 * and block edges (M and N not multiples of the 8 x 32 tile, K odd, K past
 * one k block of 256, N past one column block of 4096), transposed and
 * strided operands, batches.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "scalar_ops.h"

bool npg__cpu_has_bf16_dot(void);
void npg__cpu_set_bf16_dot(int on);
npg_status npg__cpu_gemm_bf16(int64_t M, int64_t N, int64_t K, const uint16_t *a, int64_t sam, int64_t sak,
                              const uint16_t *b, int64_t sbk, int64_t sbn, float *c, bool threads);

static void restore(void) { npg__cpu_set_bf16_dot(-1); }
TestSuite(gemm_bf16, .fini = restore);

static uint64_t g_rng = 0x243F6A8885A308D3ull;
static uint64_t rnd64(void) {
    g_rng ^= g_rng << 13, g_rng ^= g_rng >> 7, g_rng ^= g_rng << 17;
    return g_rng;
}

typedef struct shape3 {
    int64_t M, N, K;
} shape3;
static const shape3 SHAPES[] = {{1, 1, 1},    {7, 33, 5},  {8, 32, 2},   {9, 31, 3},  {130, 65, 257},
                                {17, 4100, 3}, {300, 40, 600}, {3, 70, 1}, {64, 64, 64}, {1, 100, 513}};
enum { NSHAPES = sizeof SHAPES / sizeof SHAPES[0] };

/* An (r x c) operand in layout 0 row-major, 1 transposed (column-major),
 * 2 row-major with every other column: element (i, j) at i * sr + j * sc. */
typedef struct opnd {
    uint16_t *mem;
    int64_t sr, sc;
} opnd;
static opnd opnd_make(int64_t r, int64_t c, int layout) {
    opnd o;
    size_t n = (size_t)(r * c * (layout == 2 ? 2 : 1));
    o.mem = calloc(n ? n : 1, 2);
    if (layout == 0) o.sr = c, o.sc = 1;
    if (layout == 1) o.sr = 1, o.sc = r;
    if (layout == 2) o.sr = 2 * c, o.sc = 2;
    return o;
}
static double bf(uint16_t h) { return npg_s_bf16_to_f32(h); }

/* Fill with small integers (exact mode) or values of any exponent in
 * [2^-8, 2^8) with random signs. */
static void opnd_fill(opnd *o, int64_t r, int64_t c, bool exact) {
    for (int64_t i = 0; i < r; i++)
        for (int64_t j = 0; j < c; j++) {
            float v;
            if (exact) {
                v = (float)((int)(rnd64() % 17) - 8);
            } else {
                v = ldexpf(1.0f + (float)(rnd64() % 128) / 128.0f, (int)(rnd64() % 16) - 8);
                if (rnd64() & 1) v = -v;
            }
            o->mem[i * o->sr + j * o->sc] = npg_s_f32_to_bf16(v);
        }
}

/* c (M x N) checked against the float64 products of a and b: exactly, or
 * within K float32 roundings of sum |a||b|. */
static void check(const float *c, const opnd *a, const opnd *b, shape3 s, bool exact, const char *what) {
    for (int64_t i = 0; i < s.M; i++)
        for (int64_t j = 0; j < s.N; j++) {
            double want = 0, mag = 0;
            for (int64_t k = 0; k < s.K; k++) {
                double p = bf(a->mem[i * a->sr + k * a->sc]) * bf(b->mem[k * b->sr + j * b->sc]);
                want += p, mag += fabs(p);
            }
            double got = c[i * s.N + j], tol = exact ? 0 : (double)s.K * 0x1p-23 * mag;
            if (!(fabs(got - want) <= tol))
                cr_assert_fail("%s: (%lld x %lld x %lld) c[%lld, %lld] = %.9g, want %.9g (tol %.3g)", what,
                               (long long)s.M, (long long)s.N, (long long)s.K, (long long)i, (long long)j, got,
                               want, tol);
        }
}

static void run_kernel(bool exact) {
    if (!npg__cpu_has_bf16_dot()) cr_skip_test("this CPU has no AVX512-BF16");
    for (int t = 0; t < NSHAPES; t++) {
        shape3 s = SHAPES[t];
        for (int la = 0; la < 3; la++)
            for (int lb = 0; lb < 3; lb++) {
                if (s.N > 1000 && (la || lb)) continue; /* the wide shape in one layout */
                opnd a = opnd_make(s.M, s.K, la), b = opnd_make(s.K, s.N, lb);
                opnd_fill(&a, s.M, s.K, exact);
                opnd_fill(&b, s.K, s.N, exact);
                float *c = malloc(sizeof(float) * (size_t)(s.M * s.N));
                for (int64_t i = 0; i < s.M * s.N; i++) c[i] = NAN; /* every element must be written */
                cr_assert_eq(npg__cpu_gemm_bf16(s.M, s.N, s.K, a.mem, a.sr, a.sc, b.mem, b.sr, b.sc, c, (la + lb) % 2 == 0), NPG_OK);
                char what[64];
                snprintf(what, sizeof what, "kernel, layouts %d/%d", la, lb);
                check(c, &a, &b, s, exact, what);
                free(c), free(a.mem), free(b.mem);
            }
    }
}

Test(gemm_bf16, kernel_exact_where_float32_is) { run_kernel(true); }
Test(gemm_bf16, kernel_within_float32_accumulation) { run_kernel(false); }

/* The backend's matmul entry on bfloat16 and float16 descriptors, batched
 * with a broadcast operand, with the dot products on and off: the float32
 * result rounded once. */
Test(gemm_bf16, matmul_entry_both_paths) {
    const npg_backend *B = &npg_cpu_backend;
    const int64_t Bt = 3, M = 19, N = 45, K = 37;
    for (int mode = 0; mode < 2; mode++)
        for (int d = 0; d < 2; d++) {
            npg__cpu_set_bf16_dot(mode);
            npg_dtype dt = d ? NPG_FLOAT16 : NPG_BFLOAT16;
            uint16_t *a = malloc(2 * (size_t)(Bt * M * K)), *b = malloc(2 * (size_t)(K * N)),
                     *o = malloc(2 * (size_t)(Bt * M * N));
            for (int64_t i = 0; i < Bt * M * K; i++) {
                float v = (float)((int)(rnd64() % 17) - 8) * 0.25f;
                a[i] = d ? npg_s_f32_to_f16(v) : npg_s_f32_to_bf16(v);
            }
            for (int64_t i = 0; i < K * N; i++) {
                float v = (float)((int)(rnd64() % 9) - 4);
                b[i] = d ? npg_s_f32_to_f16(v) : npg_s_f32_to_bf16(v);
            }
            npg_tdesc da = {.data = a, .dtype = dt, .ndim = 3, .shape = {Bt, M, K}, .strides = {M * K, K, 1}};
            npg_tdesc db = {.data = b, .dtype = dt, .ndim = 3, .shape = {Bt, K, N}, .strides = {0, 1, K}};
            npg_tdesc dout = {.data = o, .dtype = dt, .ndim = 3, .shape = {Bt, M, N}, .strides = {M * N, N, 1}};
            /* b read transposed: element (k, n) at k + n * K */
            cr_assert_eq(B->matmul(0, &dout, &da, &db, false), NPG_OK);
            for (int64_t t = 0; t < Bt; t++)
                for (int64_t i = 0; i < M; i++)
                    for (int64_t j = 0; j < N; j++) {
                        double want = 0;
                        for (int64_t k = 0; k < K; k++) {
                            uint16_t x = a[t * M * K + i * K + k], y = b[k + j * K];
                            want += d ? (double)npg_s_f16_to_f32(x) * npg_s_f16_to_f32(y)
                                      : (double)npg_s_bf16_to_f32(x) * npg_s_bf16_to_f32(y);
                        }
                        uint16_t w = d ? npg_s_f32_to_f16((float)want) : npg_s_f32_to_bf16((float)want);
                        uint16_t g = o[t * M * N + i * N + j];
                        cr_assert_eq(g, w, "%s, dot %d: out[%lld, %lld, %lld] = %04x, want %04x (%g)",
                                     d ? "float16" : "bfloat16", mode, (long long)t, (long long)i, (long long)j, g,
                                     w, want);
                    }
            free(a), free(b), free(o);
        }
}

/* As oneDNN's, the dot products treat bfloat16 subnormals as zero; the
 * float32 path keeps them. */
Test(gemm_bf16, subnormal_inputs) {
    const uint16_t a[2] = {0x0040, 0x3f80}, b[2] = {0x3f80, 0x0000}; /* 2^-127, 1; 1, 0 */
    float c = -1;
    if (npg__cpu_has_bf16_dot()) {
        cr_assert_eq(npg__cpu_gemm_bf16(1, 1, 2, a, 2, 1, b, 1, 1, &c, true), NPG_OK);
        cr_assert_eq(c, 0.0f, "dot products: %a", (double)c);
    }
    npg__cpu_set_bf16_dot(0);
    uint16_t o = 0xffff;
    npg_tdesc da = {.data = (void *)a, .dtype = NPG_BFLOAT16, .ndim = 2, .shape = {1, 2}, .strides = {2, 1}};
    npg_tdesc db = {.data = (void *)b, .dtype = NPG_BFLOAT16, .ndim = 2, .shape = {2, 1}, .strides = {1, 1}};
    npg_tdesc dout = {.data = &o, .dtype = NPG_BFLOAT16, .ndim = 2, .shape = {1, 1}, .strides = {1, 1}};
    cr_assert_eq(npg_cpu_backend.matmul(0, &dout, &da, &db, false), NPG_OK);
    cr_assert_eq(o, 0x0040, "float32 path: %04x", o);
}

/* inf and NaN propagate as in float32, and the zero padding of an odd K
 * (or of the tile edges) never meets them: 0 * inf would be NaN. */
Test(gemm_bf16, infinities_propagate_and_padding_adds_nothing) {
    if (!npg__cpu_has_bf16_dot()) cr_skip_test("this CPU has no AVX512-BF16");
    enum { M = 3, N = 5, K = 3 };
    uint16_t a[M * K], b[K * N];
    for (int i = 0; i < M * K; i++) a[i] = npg_s_f32_to_bf16(1.0f + (float)i);
    for (int i = 0; i < K * N; i++) b[i] = npg_s_f32_to_bf16(i % 2 ? -1.0f : 2.0f);
    for (int j = 0; j < N; j++) b[(K - 1) * N + j] = j == 3 ? 0x7fc0 : j % 2 ? 0xff80 : 0x7f80; /* last row: +-inf, NaN */
    float c[M * N];
    cr_assert_eq(npg__cpu_gemm_bf16(M, N, K, a, K, 1, b, N, 1, c, true), NPG_OK);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float g = c[i * N + j];
            if (j == 3)
                cr_assert(isnan(g), "c[%d, %d] = %g, want NaN", i, j, (double)g);
            else
                cr_assert(isinf(g) && (g > 0) == (j % 2 == 0), "c[%d, %d] = %g, want %sinf", i, j, (double)g,
                          j % 2 ? "-" : "+");
        }
}
