/*
 * gemm_bf16.c — bfloat16 GEMM on x86 CPUs with AVX512-BF16 (AMD Zen 4 and
 * later, Intel Cooper Lake / Sapphire Rapids and later), chosen at run time.
 *
 * A departure from DESIGN.md's "matrix products through OpenBLAS": the
 * OpenBLAS we build against (Debian 12's 0.3.21) exports no bfloat16 GEMM
 * (cblas_sbgemm), and sgemm on float32 copies ran at 0.38x PyTorch's
 * bfloat16 matmul; with a BLAS that has sbgemm this file could call it.
 *
 * c (M x N float32, row-major) = a (M x K) @ b (K x N), both bfloat16 with
 * any strides. VDPBF16PS adds the two exact products of a pair of bfloat16
 * values to a float32 lane, one rounding each (an FMA chain in the order
 * k = 1, 0, 3, 2, ...); as oneDNN's bfloat16 GEMM (PyTorch's CPU matmul) does,
 * it treats subnormal inputs as zero and flushes subnormal results.
 *
 * The BLIS layout: b is packed per (KC x NC) block into NR-column panels in
 * "VNNI" order (for each pair of k, the NR columns' two values side by side:
 * one 512-bit load per 16 columns), a per (M x KC) block into MR-row panels
 * of k pairs (one 32-bit broadcast per row); an MR x NR micro-kernel keeps
 * its tile in 16 zmm registers. K is padded to even with zeros, M and N to
 * the panel sizes (the padding's products are zero, the padded tile parts
 * are not stored). Threads split the (panel, row block) tiles of a block.
 */
#include "cpu.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(NPG_NO_AVX512BF16)
#define NPG_BF16_DOT 1
#include <immintrin.h>
#endif

/* Both read and written with relaxed atomics: any thread may be first to
 * detect, and the answer is the same for all. */
static int bf16_override = -1; /* -1: detect; 0 / 1: forced (tests) */

void npg__cpu_set_bf16_dot(int on) { __atomic_store_n(&bf16_override, on < 0 ? -1 : on != 0, __ATOMIC_RELAXED); }

bool npg__cpu_has_bf16_dot(void) {
#ifdef NPG_BF16_DOT
    static int detected = -1;
    int d = __atomic_load_n(&detected, __ATOMIC_RELAXED);
    if (d < 0) {
        __builtin_cpu_init();
        d = __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512bw") &&
            __builtin_cpu_supports("avx512vl");
        __atomic_store_n(&detected, d, __ATOMIC_RELAXED);
    }
    const int o = __atomic_load_n(&bf16_override, __ATOMIC_RELAXED);
    return o >= 0 ? o && d : d;
#else
    return false;
#endif
}

#ifdef NPG_BF16_DOT
/* Tuned on the development VM (Zen 4, 2 threads): MR 12 and 14 and KC 256
 * and 384 measured slower at 256-4096; NC 4096 packs a once for N <= 4096. */
#define MR 8
#define NR 32
#define KC 512 /* k per block (256 pairs) */
#define MC 128 /* rows per task */
#define NC 4096

#define TGT __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

/* a's rows [0, mr) x k [k0, k0 + kc) -> MR-row panel of k pairs (uint32:
 * the even k in the low half); rows past mr and the odd k past K are 0. */
static void pack_a(uint32_t *ap, const uint16_t *a, int64_t sam, int64_t sak, int64_t mr, int64_t k0, int64_t kc,
                   int64_t K) {
    const int64_t kp = (kc + 1) / 2;
    if (sak == 1 && mr == MR && kc % 2 == 0) {
        /* rows contiguous in k: a pair is one little-endian 32-bit word */
        for (int64_t m = 0; m < MR; m++) {
            const uint16_t *row = a + m * sam + k0;
            for (int64_t p = 0; p < kp; p++) memcpy(&ap[p * MR + m], row + 2 * p, 4);
        }
        return;
    }
    for (int64_t p = 0; p < kp; p++) {
        const int64_t k = k0 + 2 * p;
        for (int64_t m = 0; m < MR; m++) {
            uint32_t v = 0;
            if (m < mr) {
                const uint16_t *row = a + m * sam;
                v = row[k * sak];
                if (k + 1 < K) v |= (uint32_t)row[(k + 1) * sak] << 16;
            }
            ap[p * MR + m] = v;
        }
    }
}

/* b's k [k0, k0 + kc) x columns [0, nr) -> NR-column VNNI panel. */
TGT static void pack_b(uint16_t *bp, const uint16_t *b, int64_t sbk, int64_t sbn, int64_t nr, int64_t k0,
                       int64_t kc, int64_t K) {
    const int64_t kp = (kc + 1) / 2;
    if (sbk == 1 && nr == NR && kc % 2 == 0) {
        /* columns contiguous in k (b transposed, x @ W^T): a pair is one word */
        for (int64_t n = 0; n < NR; n++) {
            const uint16_t *col = b + n * sbn + k0;
            for (int64_t p = 0; p < kp; p++) memcpy(bp + p * 2 * NR + 2 * n, col + 2 * p, 4);
        }
        return;
    }
    /* word i of the result: row 0's i / 2 (even i) or row 1's (odd i); in
     * vpermt2w's index, 32 + j selects the second source's word j */
    const __m512i lo = _mm512_set_epi16(47, 15, 46, 14, 45, 13, 44, 12, 43, 11, 42, 10, 41, 9, 40, 8, 39, 7, 38, 6,
                                        37, 5, 36, 4, 35, 3, 34, 2, 33, 1, 32, 0);
    const __m512i hi = _mm512_add_epi16(lo, _mm512_set1_epi16(16));
    for (int64_t p = 0; p < kp; p++) {
        const int64_t k = k0 + 2 * p;
        const bool has1 = k + 1 < K;
        const uint16_t *r0 = b + k * sbk, *r1 = has1 ? r0 + sbk : r0;
        uint16_t *o = bp + p * 2 * NR;
        if (nr == NR && sbn == 1 && has1) {
            const __m512i x0 = _mm512_loadu_si512(r0), x1 = _mm512_loadu_si512(r1);
            _mm512_storeu_si512(o, _mm512_permutex2var_epi16(x0, lo, x1));
            _mm512_storeu_si512(o + 32, _mm512_permutex2var_epi16(x0, hi, x1));
            continue;
        }
        for (int64_t n = 0; n < NR; n++) {
            o[2 * n] = n < nr ? r0[n * sbn] : 0;
            o[2 * n + 1] = n < nr && has1 ? r1[n * sbn] : 0;
        }
    }
}

/* c[0..mr) x [0..nr) (row stride ldc) = (first ? 0 : c) + ap @ bp over kp pairs. */
TGT static void micro(int64_t kp, const uint32_t *ap, const uint16_t *bp, float *c, int64_t ldc, int64_t mr,
                      int64_t nr, bool first) {
    __m512 acc[MR][2];
#pragma GCC unroll 8
    for (int m = 0; m < MR; m++) acc[m][0] = acc[m][1] = _mm512_setzero_ps();
    for (int64_t p = 0; p < kp; p++) {
        const __m512bh b0 = (__m512bh)_mm512_loadu_si512(bp + p * 2 * NR);
        const __m512bh b1 = (__m512bh)_mm512_loadu_si512(bp + p * 2 * NR + 32);
#pragma GCC unroll 8
        for (int m = 0; m < MR; m++) {
            const __m512bh av = (__m512bh)_mm512_set1_epi32((int)ap[p * MR + m]);
            acc[m][0] = _mm512_dpbf16_ps(acc[m][0], av, b0);
            acc[m][1] = _mm512_dpbf16_ps(acc[m][1], av, b1);
        }
    }
    if (mr == MR && nr == NR) {
#pragma GCC unroll 8
        for (int m = 0; m < MR; m++) {
            float *r = c + m * ldc;
            if (!first) {
                acc[m][0] = _mm512_add_ps(acc[m][0], _mm512_loadu_ps(r));
                acc[m][1] = _mm512_add_ps(acc[m][1], _mm512_loadu_ps(r + 16));
            }
            _mm512_storeu_ps(r, acc[m][0]);
            _mm512_storeu_ps(r + 16, acc[m][1]);
        }
        return;
    }
    float t[MR][NR];
#pragma GCC unroll 8
    for (int m = 0; m < MR; m++) {
        _mm512_storeu_ps(t[m], acc[m][0]);
        _mm512_storeu_ps(t[m] + 16, acc[m][1]);
    }
    for (int64_t m = 0; m < mr; m++)
        for (int64_t n = 0; n < nr; n++) c[m * ldc + n] = first ? t[m][n] : c[m * ldc + n] + t[m][n];
}

npg_status npg__cpu_gemm_bf16(int64_t M, int64_t N, int64_t K, const uint16_t *a, int64_t sam, int64_t sak,
                              const uint16_t *b, int64_t sbk, int64_t sbn, float *c, bool threads) {
    const int64_t mpan = (M + MR - 1) / MR, nblk = (N < NC ? N : NC);
    const int64_t npan_max = (nblk + NR - 1) / NR;
    /* the packed blocks come from the backend's block cache: fresh pages
     * (malloc's mmap for these sizes) would cost more than a small GEMM */
    const size_t abytes = sizeof(uint32_t) * (size_t)(mpan * MR * (KC / 2)),
                 bbytes = sizeof(uint16_t) * (size_t)(npan_max * NR * KC);
    void *ap_ = NULL, *bp_ = NULL;
    npg_status st = npg_cpu_backend.alloc(0, abytes, &ap_);
    if (st == NPG_OK) st = npg_cpu_backend.alloc(0, bbytes, &bp_);
    if (st != NPG_OK) {
        if (ap_) npg_cpu_backend.free(0, ap_, abytes);
        return st;
    }
    uint32_t *ap = ap_;
    uint16_t *bp = bp_;
    const bool par = threads && npg__cpu_threads() > 1 && M * N * K >= ((int64_t)1 << 20);
    for (int64_t j0 = 0; j0 < N; j0 += NC) {
        const int64_t nc = N - j0 < NC ? N - j0 : NC, npan = (nc + NR - 1) / NR;
        for (int64_t k0 = 0; k0 < K; k0 += KC) {
            const int64_t kc = K - k0 < KC ? K - k0 : KC, kp = (kc + 1) / 2;
            /* b's panels cost NR / MR times a's: handed out dynamically */
#define PACK_ONE(t)                                                                              \
    do {                                                                                         \
        if ((t) < npan) {                                                                        \
            const int64_t n0 = (t) * NR, nr = nc - n0 < NR ? nc - n0 : NR;                       \
            pack_b(bp + (t) * kp * 2 * NR, b + (j0 + n0) * sbn, sbk, sbn, nr, k0, kc, K);        \
        } else {                                                                                 \
            const int64_t i = (t) - npan, m0 = i * MR, mr = M - m0 < MR ? M - m0 : MR;           \
            pack_a(ap + i * kp * MR, a + m0 * sam, sam, sak, mr, k0, kc, K);                     \
        }                                                                                        \
    } while (0)
            if (par) {
                NPG_OMP_FOR_DYN(true)
                for (int64_t t = 0; t < npan + mpan; t++) PACK_ONE(t);
            } else {
                for (int64_t t = 0; t < npan + mpan; t++) PACK_ONE(t);
            }
#undef PACK_ONE
            /* tiles: MC rows of one NR panel each; the panels outermost so
             * neighbouring tasks share a's rows in cache */
            const int64_t mblk = (M + MC - 1) / MC, tasks = npan * mblk;
            NPG_PAR_LOOP(par, t, tasks, {
                const int64_t jp = t % npan, ib = t / npan;
                const int64_t n0 = jp * NR, nr = nc - n0 < NR ? nc - n0 : NR;
                const int64_t mend = (ib + 1) * MC < M ? (ib + 1) * MC : M;
                for (int64_t m0 = ib * MC; m0 < mend; m0 += MR) {
                    const int64_t mr = M - m0 < MR ? M - m0 : MR;
                    micro(kp, ap + (m0 / MR) * kp * MR, bp + jp * kp * 2 * NR, c + m0 * N + j0 + n0, N, mr, nr,
                          k0 == 0);
                }
            });
        }
    }
    npg_cpu_backend.free(0, ap_, abytes);
    npg_cpu_backend.free(0, bp_, bbytes);
    return NPG_OK;
}
#else
npg_status npg__cpu_gemm_bf16(int64_t M, int64_t N, int64_t K, const uint16_t *a, int64_t sam, int64_t sak,
                              const uint16_t *b, int64_t sbk, int64_t sbn, float *c, bool threads) {
    (void)M, (void)N, (void)K, (void)a, (void)sam, (void)sak, (void)b, (void)sbk, (void)sbn, (void)c, (void)threads;
    return npg__set_error(NPG_ERR_UNSUPPORTED, "cpu matmul: this build has no AVX512-BF16 kernel");
}
#endif
