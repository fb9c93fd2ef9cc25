/*
 * cuemu_test.h (CUDA emulator, tests/cuemu) — shared helpers of the emulator
 * tests: random arrays with random layouts (permuted, stepped, reversed,
 * broadcast strides, offsets), outputs, and the comparison with the CPU
 * backend (bit for bit; NaN == NaN; tests/cuda's tolerance only where the
 * kernels sum in another order than the CPU).
 *
 * The emulated entries are npg_emu::npg_cu_* (the rewritten src/cuda files,
 * see rewrite.py); the reference is the CPU backend's npg__cpu_* in libnpg.
 */
#pragma once
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <random>
#include <string>
#include <vector>

#include "cuemu.h"
namespace npg_emu {
#include "common.cuh"
}

extern "C" { /* the CPU backend's entries, the reference */
#include "cpu/cpu.h"
}
extern int npg_emu_sms;

namespace cuemu {

static const npg_dtype ALL_DTYPES[] = {NPG_BOOL,   NPG_INT8,    NPG_INT16,   NPG_INT32,   NPG_INT64,
                                       NPG_UINT8,  NPG_UINT16,  NPG_UINT32,  NPG_UINT64,  NPG_FLOAT32,
                                       NPG_FLOAT64, NPG_FLOAT16, NPG_BFLOAT16};
static const int N_ALL = 13, N_NOHALF = 11; /* ALL_DTYPES[0..N_NOHALF): without the 16-bit floats */

struct Rng {
    std::mt19937_64 g;
    explicit Rng(uint64_t seed) : g(seed) {}
    uint64_t operator()() { return g(); }
    int64_t in(int64_t lo, int64_t hi) { return lo + (int64_t)(g() % (uint64_t)(hi - lo + 1)); }
    bool one_in(int n) { return g() % (uint64_t)n == 0; }
    double normal(double sd) { return std::normal_distribution<double>(0, sd)(g); }
};

static inline bool is_f(npg_dtype d) { return d == NPG_FLOAT32 || d == NPG_FLOAT64; }
static inline bool is_half(npg_dtype d) { return d == NPG_FLOAT16 || d == NPG_BFLOAT16; }
static inline size_t esize(npg_dtype d) { return npg__dtype_size(d); }

struct Arr {
    std::vector<char> store;
    npg_tdesc d;
};
static inline char *aligned_base(Arr &A) {
    return A.store.data() + ((16 - ((uintptr_t)A.store.data() % 16)) % 16);
}

/* element k of a buffer of dtype dt: mode 0 full range / normal floats,
 * 1 small values with ties, 2 like 0 with a few NaNs */
static inline void rand_elem(Rng &r, void *buf, npg_dtype dt, int64_t k, int mode) {
    size_t es = esize(dt);
    char *p = (char *)buf + k * es;
    if (dt == NPG_BOOL) {
        uint8_t v = mode == 1 ? r.one_in(8) : (r() & 1);
        memcpy(p, &v, 1);
        return;
    }
    if (is_f(dt) || is_half(dt)) {
        double v = mode == 1 ? (double)r.in(-3, 3) : r.normal(1);
        if (mode == 2 && r.one_in(50)) v = NAN;
        if (dt == NPG_FLOAT32) { float f = (float)v; memcpy(p, &f, 4); }
        else if (dt == NPG_FLOAT64) memcpy(p, &v, 8);
        else {
            uint16_t h = dt == NPG_FLOAT16 ? npg_s_f32_to_f16((float)v) : npg_s_f32_to_bf16((float)v);
            memcpy(p, &h, 2);
        }
        return;
    }
    uint64_t v = mode == 1 ? (uint64_t)r.in(-3, 3) : r();
    memcpy(p, &v, es); /* the low bytes (little endian) */
}

/* an input of shape (nd, shape) with a random physical layout */
static inline void make_arr(Rng &r, Arr &A, npg_dtype dt, int nd, const int64_t *shape, int mode, bool allow_bcast) {
    size_t es = esize(dt);
    int perm[NPG_MAX_DIMS];
    for (int i = 0; i < nd; i++) perm[i] = i;
    if (r() % 2) std::shuffle(perm, perm + nd, r.g);
    int64_t st[NPG_MAX_DIMS], s = 1;
    for (int i = nd - 1; i >= 0; i--) {
        int d = perm[i];
        int64_t step = r.one_in(6) ? 2 : 1;
        bool bc = allow_bcast && r.one_in(8);
        st[d] = bc ? 0 : s * step;
        if (!bc) s *= shape[d] * step;
    }
    int64_t off = r.in(0, 3);
    for (int d = 0; d < nd; d++)
        if (st[d] != 0 && r.one_in(5)) {
            off += (shape[d] - 1) * st[d];
            st[d] = -st[d];
        }
    A.store.assign((size_t)(s + 8) * es + 64, 0);
    char *base = aligned_base(A);
    for (int64_t k = 0; k < s + 4; k++) rand_elem(r, base, dt, k, mode);
    memset(&A.d, 0, sizeof A.d);
    A.d.data = base + off * es;
    A.d.dtype = dt;
    A.d.ndim = nd;
    for (int i = 0; i < nd; i++) {
        A.d.shape[i] = shape[i];
        A.d.strides[i] = st[i];
    }
}

/* a C-contiguous buffer in `store`, pre-filled with a pattern, its data
 * 16-byte aligned or (misalign) one element past that */
static inline void make_contig(std::vector<char> &store, npg_tdesc &d, npg_dtype dt, int nd, const int64_t *shape,
                               bool misalign = false) {
    size_t es = esize(dt);
    int64_t n = 1;
    for (int i = 0; i < nd; i++) n *= shape[i];
    store.assign((size_t)n * es + 64, (char)0x5A);
    memset(&d, 0, sizeof d);
    d.data = store.data() + ((16 - ((uintptr_t)store.data() % 16)) % 16) + (misalign ? es : 0);
    d.dtype = dt;
    d.ndim = nd;
    int64_t s = 1;
    for (int i = nd - 1; i >= 0; i--) {
        d.shape[i] = shape[i];
        d.strides[i] = s;
        s *= shape[i];
    }
}
/* a C-contiguous output, pre-filled with a pattern */
static inline void make_out(Arr &A, npg_dtype dt, int nd, const int64_t *shape) { make_contig(A.store, A.d, dt, nd, shape); }

/* a second output with the same layout (and contents) as c */
static inline void twin(Arr &g, const Arr &c) {
    g = c;
    g.d.data = g.store.data() + ((const char *)c.d.data - c.store.data());
}

static inline int64_t numel(const npg_tdesc &d) {
    int64_t n = 1;
    for (int i = 0; i < d.ndim; i++) n *= d.shape[i];
    return n;
}

/* the logical elements of d, row-major */
static inline std::vector<char> gather(const npg_tdesc &d) {
    size_t es = esize(d.dtype);
    int64_t n = numel(d);
    std::vector<char> res((size_t)n * es);
    for (int64_t i = 0; i < n; i++) {
        int64_t rem = i, off = 0;
        for (int k = d.ndim - 1; k >= 0; k--) {
            off += (rem % d.shape[k]) * d.strides[k];
            rem /= d.shape[k];
        }
        memcpy(&res[i * es], (const char *)d.data + off * es, es);
    }
    return res;
}

static inline bool is_nan_bits(npg_dtype dt, uint64_t x) {
    if (dt == NPG_FLOAT32) { float f; memcpy(&f, &x, 4); return f != f; }
    if (dt == NPG_FLOAT64) { double f; memcpy(&f, &x, 8); return f != f; }
    if (dt == NPG_FLOAT16) return (x & 0x7c00) == 0x7c00 && (x & 0x3ff);
    if (dt == NPG_BFLOAT16) return (x & 0x7f80) == 0x7f80 && (x & 0x7f);
    return false;
}

/* tolerance for a float result summed in another order, as
 * tests/cuda/test_cuda_kernels.c: |emu - cpu| <= atol + rtol |cpu|;
 * TOL_NONE: bits must match */
enum Tol { TOL_NONE, TOL_REDUCE, TOL_SCAN };
struct Stats {
    const char *suite;
    long runs = 0, ok = 0, fails = 0;
    explicit Stats(const char *s) : suite(s) {}
    /* compare the CPU's result c with the emulated GPU's g (same dtype and shape) */
    void check(const Arr &c, const Arr &g, npg_status s1, npg_status s2, const std::string &what, Tol tol = TOL_NONE) {
        runs++;
        if (s1 != s2) {
            if (fails++ < 10) cr_log_error("%s: status cpu %d emu %d (%s)", what.c_str(), s1, s2, npg_last_error());
            return;
        }
        if (s1 != NPG_OK) return;
        ok++;
        npg_dtype dt = c.d.dtype;
        size_t es = esize(dt);
        std::vector<char> a = gather(c.d), b = gather(g.d);
        for (size_t i = 0; i < a.size() / es; i++) {
            if (!memcmp(&a[i * es], &b[i * es], es)) continue;
            uint64_t x = 0, y = 0;
            memcpy(&x, &a[i * es], es);
            memcpy(&y, &b[i * es], es);
            if (is_nan_bits(dt, x) && is_nan_bits(dt, y)) continue;
            if (tol && is_f(dt)) {
                double p, q;
                if (dt == NPG_FLOAT32) { float f; memcpy(&f, &x, 4); p = f; memcpy(&f, &y, 4); q = f; }
                else { memcpy(&p, &x, 8); memcpy(&q, &y, 8); }
                double rtol = tol == TOL_REDUCE ? (dt == NPG_FLOAT32 ? 2e-5 : 1e-11) : (dt == NPG_FLOAT32 ? 1e-5 : 1e-11);
                double atol = tol == TOL_REDUCE ? rtol : rtol * 10;
                bool close = isnan(p) ? isnan(q) : isinf(p) ? p == q : fabs(q - p) <= atol + rtol * fabs(p);
                if (close) continue;
            }
            if (fails++ < 10)
                cr_log_error("%s: element %zu: cpu %#llx emu %#llx", what.c_str(), i, (unsigned long long)x,
                             (unsigned long long)y);
            return;
        }
    }
    /* the verdict: no mismatch, and at least min_ok cases that ran */
    void finish(long min_ok) {
        fprintf(stderr, "cuemu %s: %ld cases, %ld compared, %ld mismatches\n", suite, runs, ok, fails);
        cr_expect_eq(fails, 0, "%s: %ld of %ld cases differ from the CPU backend", suite, fails, runs);
        cr_expect_geq(ok, min_ok, "%s: only %ld cases compared (want %ld)", suite, ok, min_ok);
    }
};

static inline std::string shape_str(const npg_tdesc &d) {
    std::string s = "(";
    char b[64];
    for (int i = 0; i < d.ndim; i++) {
        snprintf(b, sizeof b, "%s%lld:%lld", i ? "," : "", (long long)d.shape[i], (long long)d.strides[i]);
        s += b;
    }
    return s + ")";
}

} // namespace cuemu
