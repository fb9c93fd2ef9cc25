/*
 * cpu.h — private header of the CPU backend: OpenMP and SIMD helpers, the
 * dtype -> C type tables used by the kernel-generating macros, and the
 * strided n-d iterator that every elementwise family runs on.
 *
 * The iterator follows NumPy's inner-loop design: descriptors are coalesced
 * (size-1 dims dropped, adjacent dims merged where every operand allows),
 * the flat index range is split into one chunk per thread, and each chunk is
 * walked with an odometer over the outer dims while a per-(op, dtype) loop
 * function runs over the innermost dim with element strides. Loop functions
 * pick their own contiguous / broadcast fast paths from the strides.
 */
#ifndef NPG_CPU_H
#define NPG_CPU_H

#include "backend.h"
#include "scalar_ops.h"

#include <stdint.h>
#include <string.h>

#ifdef NPG_HAVE_OPENMP
#include <omp.h>
#endif

/* Below this many elements a loop runs on the calling thread: forking the
 * pool costs a few microseconds, about what 32K elements of a streaming op
 * cost on one core (measured; see the report in the backend's history). */
#define NPG_CPU_PAR_MIN 32768
/* The same for loops that cost tens of cycles per element (libm calls,
 * integer division, Philox): threads pay off from a few thousand. */
#define NPG_CPU_PAR_MIN_HEAVY 2048

#define NPG_PRAGMA(x) _Pragma(#x)
#ifdef NPG_HAVE_OPENMP
#define NPG_OMP_FOR(cond) NPG_PRAGMA(omp parallel for if(cond) schedule(static))
/* for (int64_t i = 0; i < n; i++) { body }, in parallel when cond — and
 * without entering an OpenMP region at all when not: libgomp still wakes a
 * futex for an inactive (if-false) region, about a microsecond, which
 * dominates small ops. */
#define NPG_PAR_LOOP(cond, i, n, ...)                                              \
    do {                                                                            \
        if (cond) {                                                                 \
            NPG_PRAGMA(omp parallel for schedule(static))                           \
            for (int64_t i = 0; i < (n); i++) { __VA_ARGS__ }                       \
        } else {                                                                    \
            for (int64_t i = 0; i < (n); i++) { __VA_ARGS__ }                       \
        }                                                                           \
    } while (0)
/* NPG_PAR_LOOP with an OpenMP reduction clause (e.g. min : bad). */
#define NPG_PAR_LOOP_REDUCE(cond, clause, i, n, ...)                               \
    do {                                                                            \
        if (cond) {                                                                 \
            NPG_PRAGMA(omp parallel for schedule(static) reduction(clause))         \
            for (int64_t i = 0; i < (n); i++) { __VA_ARGS__ }                       \
        } else {                                                                    \
            for (int64_t i = 0; i < (n); i++) { __VA_ARGS__ }                       \
        }                                                                           \
    } while (0)
#define NPG_OMP_FOR_DYN(cond) NPG_PRAGMA(omp parallel for if(cond) schedule(dynamic, 1))
#else
#define NPG_OMP_FOR(cond)
#define NPG_PAR_LOOP(cond, i, n, ...)                                              \
    do {                                                                            \
        for (int64_t i = 0; i < (n); i++) { __VA_ARGS__ }                           \
    } while (0)
#define NPG_PAR_LOOP_REDUCE(cond, clause, i, n, ...)                               \
    do {                                                                            \
        for (int64_t i = 0; i < (n); i++) { __VA_ARGS__ }                           \
    } while (0)
#define NPG_OMP_FOR_DYN(cond)
#endif
/* Asks for vectorisation regardless of the cost model: GCC's -O2 model
 * refuses loops that need an alias check or a scalar epilogue, i.e. all of
 * ours. Needs -fopenmp, or -fopenmp-simd with NPG_HAVE_OPENMP_SIMD defined;
 * without either the loops are still correct, just scalar at -O2. */
#ifdef __clang__ /* clang reports simd loops around libm calls it cannot vectorise */
#pragma clang diagnostic ignored "-Wpass-failed"
#endif
#if defined(_OPENMP) || defined(NPG_HAVE_OPENMP_SIMD)
#define NPG_SIMD NPG_PRAGMA(omp simd)
/* The same with clauses, e.g. NPG_SIMD_WITH(reduction(+ : s)) for a loop
 * that reduces (in lanes: a sum's rounding order changes). */
#define NPG_SIMD_WITH(...) NPG_PRAGMA(omp simd __VA_ARGS__)
#else
#define NPG_SIMD
#define NPG_SIMD_WITH(...)
#endif

/* Threads our loops may use (1 without OpenMP). */
int npg__cpu_threads(void);
void npg__cpu_set_num_threads(int n);
int npg__cpu_get_num_threads(void);
/* memcpy, split across threads when large. */
void npg__cpu_memcpy(void *dst, const void *src, size_t nbytes);

/* ---- dtype tables for the generating macros ----------------------------
 * t-suffix -> C type and dtype enum; bool is stored as uint8_t 0/1. */
#define NPG_T_b uint8_t
#define NPG_T_u8 uint8_t
#define NPG_T_i32 int32_t
#define NPG_T_i64 int64_t
#define NPG_T_f32 float
#define NPG_T_f64 double
#define NPG_T_i8 int8_t
#define NPG_T_i16 int16_t
#define NPG_T_u16 uint16_t
#define NPG_T_u32 uint32_t
#define NPG_T_u64 uint64_t
#define NPG_T_f16 uint16_t /* the bit pattern; see scalar_ops.h */
#define NPG_T_bf16 uint16_t
#define NPG_DT_b NPG_BOOL
#define NPG_DT_u8 NPG_UINT8
#define NPG_DT_i32 NPG_INT32
#define NPG_DT_i64 NPG_INT64
#define NPG_DT_f32 NPG_FLOAT32
#define NPG_DT_f64 NPG_FLOAT64
#define NPG_DT_i8 NPG_INT8
#define NPG_DT_i16 NPG_INT16
#define NPG_DT_u16 NPG_UINT16
#define NPG_DT_u32 NPG_UINT32
#define NPG_DT_u64 NPG_UINT64
#define NPG_DT_f16 NPG_FLOAT16
#define NPG_DT_bf16 NPG_BFLOAT16
/* NaN test that is a constant 0 for integer types (no self-compare warnings). */
#define NPG_ISNAN_b(x) 0
#define NPG_ISNAN_u8(x) 0
#define NPG_ISNAN_i32(x) 0
#define NPG_ISNAN_i64(x) 0
#define NPG_ISNAN_i8(x) 0
#define NPG_ISNAN_i16(x) 0
#define NPG_ISNAN_u16(x) 0
#define NPG_ISNAN_u32(x) 0
#define NPG_ISNAN_u64(x) 0
#define NPG_ISNAN_f32(x) ((x) != (x))
#define NPG_ISNAN_f64(x) ((x) != (x))
/* The type's lowest value (-inf for floats): max's identity, as on CUDA. */
#define NPG_LOWEST_u8 ((uint8_t)0)
#define NPG_LOWEST_i32 INT32_MIN
#define NPG_LOWEST_i64 INT64_MIN
#define NPG_LOWEST_i8 INT8_MIN
#define NPG_LOWEST_i16 INT16_MIN
#define NPG_LOWEST_u16 ((uint16_t)0)
#define NPG_LOWEST_u32 ((uint32_t)0)
#define NPG_LOWEST_u64 ((uint64_t)0)
#define NPG_LOWEST_f32 (-INFINITY)
#define NPG_LOWEST_f64 (-INFINITY)

/* ---- the family entries (one file each; see backend.h for contracts) ---- */
/* bfloat16 GEMM with AVX512-BF16 dot products (gemm_bf16.c): c (M x N
 * float32, contiguous) = a @ b, operands with any strides; threads: it may
 * split the work across our threads (false inside a parallel loop). has_bf16_dot: the
 * CPU has the instructions and set_bf16_dot (tests: 0 off, 1 on where
 * available, -1 detect) has not turned them off. */
bool npg__cpu_has_bf16_dot(void);
void npg__cpu_set_bf16_dot(int on);
npg_status npg__cpu_gemm_bf16(int64_t M, int64_t N, int64_t K, const uint16_t *a, int64_t sam, int64_t sak,
                              const uint16_t *b, int64_t sbk, int64_t sbn, float *c, bool threads);
npg_status npg__cpu_fill(int dev, const npg_tdesc *out, double value, int64_t ivalue);
npg_status npg__cpu_copy(int dev, const npg_tdesc *out, const npg_tdesc *in);
npg_status npg__cpu_unary(int dev, npg_op op, const npg_tdesc *out, const npg_tdesc *in, const npg_kparams *p);
npg_status npg__cpu_binary(int dev, npg_op op, const npg_tdesc *out, const npg_tdesc *a, const npg_tdesc *b);
npg_status npg__cpu_where(int dev, const npg_tdesc *out, const npg_tdesc *cond, const npg_tdesc *a,
                          const npg_tdesc *b);
npg_status npg__cpu_reduce(int dev, npg_op op, const npg_tdesc *out, const npg_tdesc *in, int nred);
npg_status npg__cpu_scan(int dev, npg_op op, const npg_tdesc *out, const npg_tdesc *in, int axis);
npg_status npg__cpu_gather(int dev, const npg_tdesc *out, const npg_tdesc *in, const npg_tdesc *idx, int axis);
npg_status npg__cpu_scatter_add(int dev, const npg_tdesc *out, const npg_tdesc *src, const npg_tdesc *idx,
                                int axis);
npg_status npg__cpu_matmul(int dev, const npg_tdesc *out, const npg_tdesc *a, const npg_tdesc *b, bool allow_tf32);
npg_status npg__cpu_random(int dev, npg_op op, const npg_tdesc *out, uint64_t seed, uint64_t offset,
                           const npg_kparams *p);
npg_status npg__cpu_sort(int dev, const npg_tdesc *values, const npg_tdesc *indices, const npg_tdesc *in,
                         bool descending);
npg_status npg__cpu_nonzero(int dev, const npg_tdesc *out, const npg_tdesc *in);
/* nn.c: the fused neural-network entries */
npg_status npg__cpu_softmax(int dev, const npg_tdesc *out, const npg_tdesc *in, bool log);
npg_status npg__cpu_softmax_backward(int dev, const npg_tdesc *gin, const npg_tdesc *g, const npg_tdesc *y, bool log);
npg_status npg__cpu_cross_entropy(int dev, const npg_tdesc *loss, const npg_tdesc *lse, const npg_tdesc *x,
                                  const npg_tdesc *labels, double eps, bool has_ignore, int64_t ignore_index);
npg_status npg__cpu_cross_entropy_backward(int dev, const npg_tdesc *gx, const npg_tdesc *gloss, const npg_tdesc *x,
                                           const npg_tdesc *lse, const npg_tdesc *labels, double eps, bool has_ignore,
                                           int64_t ignore_index);
npg_status npg__cpu_im2col(int dev, const npg_tdesc *cols, const npg_tdesc *x, const npg_conv_geom *g);
npg_status npg__cpu_col2im(int dev, const npg_tdesc *x, const npg_tdesc *cols, const npg_conv_geom *g);
npg_status npg__cpu_pool2d(int dev, bool is_max, const npg_tdesc *out, const npg_tdesc *argmax, const npg_tdesc *x,
                           const npg_conv_geom *g);
npg_status npg__cpu_pool2d_backward(int dev, bool is_max, const npg_tdesc *gx, const npg_tdesc *gout,
                                    const npg_tdesc *argmax, const npg_conv_geom *g);
npg_status npg__cpu_sgd_step(int dev, const npg_tdesc *param, const npg_tdesc *grad, const npg_tdesc *buf,
                             const npg_sgd_hp *hp);
npg_status npg__cpu_adam_step(int dev, const npg_tdesc *param, const npg_tdesc *grad, const npg_tdesc *m,
                              const npg_tdesc *v, const npg_adam_hp *hp);

/* lapack.c: dense linear algebra (backend.h) */
npg_status npg__cpu_potrf(int dev, npg_dtype dt, int64_t batch, int64_t n, void *a, int *info);
npg_status npg__cpu_getrf(int dev, npg_dtype dt, int64_t batch, int64_t n, void *a, int32_t *piv, int *info);
npg_status npg__cpu_getrs(int dev, npg_dtype dt, int64_t batch, int64_t n, int64_t nrhs, const void *lu,
                          const int32_t *piv, void *b, bool trans);
npg_status npg__cpu_trsm(int dev, npg_dtype dt, int64_t batch, int64_t n, int64_t nrhs, const void *a, void *b,
                         bool lower, bool trans, bool unit);
npg_status npg__cpu_qr(int dev, npg_dtype dt, int64_t batch, int64_t m, int64_t n, int64_t qc, void *a, void *q,
                       void *r);
npg_status npg__cpu_syevd(int dev, npg_dtype dt, int64_t batch, int64_t n, void *a, void *w, bool vectors,
                          int *info);
npg_status npg__cpu_gesvd(int dev, npg_dtype dt, int64_t batch, int64_t m, int64_t n, bool full, void *a, void *s,
                          void *u, void *vt, int *info);

/* Unsupported (op, dtype): the one error message every entry uses. */
npg_status npg__cpu_unsupported(npg_op op, npg_dtype dt);

/* ---- the strided iterator -------------------------------------------------- */
#define NPG_CPU_MAX_OPS 4

/* One inner loop: n elements; p[k] points at operand k's first element and
 * s[k] is its stride in elements. ctx is per-call data (npg_kparams...). */
typedef void (*npg_cpu_loop)(char **p, const int64_t *s, int64_t n, const void *ctx);

typedef struct npg_cpu_iter {
    int nop;                                   /* operands (0 = output) */
    int ndim;                                  /* >= 1 after coalescing */
    int64_t n;                                 /* total elements */
    int64_t shape[NPG_MAX_DIMS];
    int64_t strides[NPG_CPU_MAX_OPS][NPG_MAX_DIMS];
    char *base[NPG_CPU_MAX_OPS];
    int64_t esize[NPG_CPU_MAX_OPS];
    uint64_t scalar[NPG_CPU_MAX_OPS];          /* storage for is_scalar operands */
} npg_cpu_iter;

/* Set up over d[0]'s shape (the output); is_scalar operands become stride-0
 * operands reading the converted scalar. Returns the element count. */
int64_t npg__cpu_iter_init(npg_cpu_iter *it, int nop, const npg_tdesc *const *d);
/* Run fn over every element, in parallel chunks when there are at least
 * par_min elements (NPG_CPU_PAR_MIN or NPG_CPU_PAR_MIN_HEAVY). */
void npg__cpu_iter_run(const npg_cpu_iter *it, npg_cpu_loop fn, const void *ctx, int64_t par_min);
/* Write a weak scalar's value converted to d->dtype into buf (8 bytes). */
void npg__cpu_scalar_bytes(const npg_tdesc *d, void *buf);

/* Coalesce one descriptor's dims in place (drop size-1 dims, merge adjacent
 * dims that are contiguous relative to each other). Returns the new ndim. */
int npg__cpu_coalesce1(int ndim, int64_t *shape, int64_t *strides);

/* Element offset of row-major coordinate `flat` over n dims. */
static inline int64_t npg__cpu_flat_offset(int n, const int64_t *shape, const int64_t *strides, int64_t flat) {
    int64_t off = 0;
    for (int i = n - 1; i >= 0; i--) {
        off += flat % shape[i] * strides[i];
        flat /= shape[i];
    }
    return off;
}

/* Split [0, n) into `parts` nearly equal pieces: the start of piece k. */
static inline int64_t npg__cpu_split(int64_t n, int64_t parts, int64_t k) {
    return n / parts * k + (k < n % parts ? k : n % parts);
}

#endif /* NPG_CPU_H */
