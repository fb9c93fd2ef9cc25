/*
 * index.c — GATHER (take_along_axis), SCATTER_ADD (its adjoint) and NONZERO.
 *
 * Gather and scatter walk the index array's shape as (O, L, I): O outer
 * coordinates before `axis`, L along it, I inner coordinates after it. Work
 * is split into tasks of (outer coordinate, block of inner positions); each
 * task walks the axis and streams the inner block, so a row gather (an
 * embedding lookup) or its scatter-add (the embedding gradient) reads and
 * writes whole rows. Tasks of scatter_add never touch the same accumulator
 * element (they differ in a non-axis coordinate), so no atomics are needed and
 * duplicates accumulate in a fixed order. Indices are validated before
 * anything is written: an error leaves the accumulator untouched.
 */
#include "cpu.h"

#include <stdlib.h>

#define IX_BLOCK 256

/* The (O, L, I) walk over `shape` with `axis`, plus per-operand strides. */
typedef struct ix_geom {
    int ndim, axis;
    const int64_t *shape;
    int64_t O, L, I, nblk, tasks;
} ix_geom;

static void ix_init(ix_geom *g, int ndim, const int64_t *shape, int axis) {
    g->ndim = ndim;
    g->axis = axis;
    g->shape = shape;
    g->O = 1;
    g->I = 1;
    g->L = shape[axis];
    for (int i = 0; i < axis; i++) g->O *= shape[i];
    for (int i = axis + 1; i < ndim; i++) g->I *= shape[i];
    g->nblk = (g->I + IX_BLOCK - 1) / IX_BLOCK;
    g->tasks = g->O * g->nblk;
}

/* For task t: outer offset of an operand with `strides`, and the inner
 * offsets of its jb block positions; returns jb. */
static int64_t ix_task(const ix_geom *g, int64_t t, const int64_t *strides, int64_t *ooff, int64_t *ioff) {
    int64_t o = t / g->nblk, j0 = t % g->nblk * IX_BLOCK;
    int64_t jb = g->I - j0 < IX_BLOCK ? g->I - j0 : IX_BLOCK;
    int ni = g->ndim - g->axis - 1;
    *ooff = npg__cpu_flat_offset(g->axis, g->shape, strides, o);
    for (int64_t j = 0; j < jb; j++)
        ioff[j] = npg__cpu_flat_offset(ni, g->shape + g->axis + 1, strides + g->axis + 1, j0 + j);
    return jb;
}

/* Row-major position of the first index outside [-n, n), or -1. */
static int64_t first_bad(const ix_geom *g, const npg_tdesc *idx, int64_t n) {
    const int64_t *ip = idx->data, sa = idx->strides[g->axis];
    int64_t bad = INT64_MAX;
    NPG_PAR_LOOP_REDUCE(g->O * g->L * g->I >= NPG_CPU_PAR_MIN && g->tasks > 1, min : bad, t, g->tasks, {
        int64_t ioff[IX_BLOCK], ooff;
        int64_t jb = ix_task(g, t, idx->strides, &ooff, ioff);
        int64_t o = t / g->nblk, j0 = t % g->nblk * IX_BLOCK;
        for (int64_t l = 0; l < g->L; l++) {
            for (int64_t j = 0; j < jb; j++) {
                int64_t v = ip[ooff + l * sa + ioff[j]];
                if (v < -n || v >= n) {
                    int64_t pos = (o * g->L + l) * g->I + j0 + j;
                    if (pos < bad) bad = pos;
                }
            }
        }
    });
    return bad == INT64_MAX ? -1 : bad;
}

static npg_status index_error(const ix_geom *g, const npg_tdesc *idx, int64_t pos, int64_t n) {
    int64_t v = ((const int64_t *)idx->data)[npg__cpu_flat_offset(g->ndim, g->shape, idx->strides, pos)];
    return npg__set_error(NPG_ERR_INDEX, "take_along_axis: index %lld is out of bounds for axis %d with size %lld",
                          (long long)v, g->axis, (long long)n);
}

/* One (O, L, I) task of gather or scatter_add for type T. */
#define IX_KERNELS(X, Y, t)                                                                      \
    static void gather_##t(const ix_geom *g, int64_t t_, char *out, const npg_tdesc *in,         \
                           const npg_tdesc *idx) {                                               \
        typedef NPG_T_##t T;                                                                     \
        int64_t ioff[IX_BLOCK], xoff[IX_BLOCK], io, xo;                                          \
        int64_t jb = ix_task(g, t_, in->strides, &io, ioff);                                     \
        ix_task(g, t_, idx->strides, &xo, xoff);                                                 \
        const T *ip = in->data;                                                                  \
        const int64_t *xp = idx->data, n = in->shape[g->axis];                                   \
        const int64_t sa = in->strides[g->axis], xa = idx->strides[g->axis];                     \
        int64_t o = t_ / g->nblk, j0 = t_ % g->nblk * IX_BLOCK;                                  \
        T *op = (T *)out + o * g->L * g->I + j0;                                                 \
        for (int64_t l = 0; l < g->L; l++) {                                                     \
            for (int64_t j = 0; j < jb; j++) {                                                   \
                int64_t v = xp[xo + l * xa + xoff[j]];                                           \
                if (v < 0) v += n;                                                               \
                op[l * g->I + j] = ip[io + v * sa + ioff[j]];                                    \
            }                                                                                    \
        }                                                                                        \
    }
#define SC_KERNEL(X, Y, t)                                                                       \
    static void scatter_##t(const ix_geom *g, int64_t t_, const npg_tdesc *out, const npg_tdesc *src, \
                            const npg_tdesc *idx) {                                              \
        typedef NPG_T_##t T;                                                                     \
        int64_t ooff[IX_BLOCK], soff[IX_BLOCK], xoff[IX_BLOCK], oo, so, xo;                      \
        int64_t jb = ix_task(g, t_, out->strides, &oo, ooff);                                    \
        ix_task(g, t_, src->strides, &so, soff);                                                 \
        ix_task(g, t_, idx->strides, &xo, xoff);                                                 \
        T *op = out->data;                                                                       \
        const T *sp = src->data;                                                                 \
        const int64_t *xp = idx->data, n = out->shape[g->axis];                                  \
        const int64_t oa = out->strides[g->axis], sa = src->strides[g->axis], xa = idx->strides[g->axis]; \
        for (int64_t l = 0; l < g->L; l++) {                                                     \
            for (int64_t j = 0; j < jb; j++) {                                                   \
                int64_t v = xp[xo + l * xa + xoff[j]];                                           \
                if (v < 0) v += n;                                                               \
                T *dst = &op[oo + v * oa + ooff[j]];                                             \
                *dst = npg_s_add_##t(*dst, sp[so + l * sa + soff[j]]);                           \
            }                                                                                    \
        }                                                                                        \
    }
IX_KERNELS(_, _, b)
IX_KERNELS(_, _, u8)
IX_KERNELS(_, _, i32)
IX_KERNELS(_, _, i64)
IX_KERNELS(_, _, f32)
IX_KERNELS(_, _, f64)
IX_KERNELS(_, _, i8)
IX_KERNELS(_, _, i16)
IX_KERNELS(_, _, u16)
IX_KERNELS(_, _, u32)
IX_KERNELS(_, _, u64)
IX_KERNELS(_, _, f16) /* gathering moves the bits: the half types are native here */
IX_KERNELS(_, _, bf16)
SC_KERNEL(_, _, u8)
SC_KERNEL(_, _, i32)
SC_KERNEL(_, _, i64)
SC_KERNEL(_, _, f32)
SC_KERNEL(_, _, f64)
SC_KERNEL(_, _, i8)
SC_KERNEL(_, _, i16)
SC_KERNEL(_, _, u16)
SC_KERNEL(_, _, u32)
SC_KERNEL(_, _, u64)

typedef void (*gather_fn)(const ix_geom *g, int64_t t, char *out, const npg_tdesc *in, const npg_tdesc *idx);
typedef void (*scatter_fn)(const ix_geom *g, int64_t t, const npg_tdesc *out, const npg_tdesc *src,
                           const npg_tdesc *idx);
static const gather_fn gather_tab[NPG_DTYPE_COUNT] = {
    [NPG_BOOL] = gather_b,     [NPG_UINT8] = gather_u8,     [NPG_INT32] = gather_i32,
    [NPG_INT64] = gather_i64,  [NPG_FLOAT32] = gather_f32,  [NPG_FLOAT64] = gather_f64,
    [NPG_FLOAT16] = gather_f16, [NPG_BFLOAT16] = gather_bf16, [NPG_INT8] = gather_i8,
    [NPG_INT16] = gather_i16,  [NPG_UINT16] = gather_u16,  [NPG_UINT32] = gather_u32,
    [NPG_UINT64] = gather_u64,
};
static const scatter_fn scatter_tab[NPG_DTYPE_COUNT] = {
    [NPG_UINT8] = scatter_u8,    [NPG_INT32] = scatter_i32,   [NPG_INT64] = scatter_i64,
    [NPG_FLOAT32] = scatter_f32, [NPG_FLOAT64] = scatter_f64, [NPG_INT8] = scatter_i8,
    [NPG_INT16] = scatter_i16,   [NPG_UINT16] = scatter_u16,  [NPG_UINT32] = scatter_u32,
    [NPG_UINT64] = scatter_u64,
};

/* every dtype but the half types (of those only gather takes them) */
static bool dt_ok(npg_dtype d) {
    return d > NPG_DTYPE_DEFAULT && d < NPG_DTYPE_COUNT && d != NPG_FLOAT16 && d != NPG_BFLOAT16;
}

npg_status npg__cpu_gather(int dev, const npg_tdesc *out, const npg_tdesc *in, const npg_tdesc *idx, int axis) {
    npg_dtype dt = out->dtype;
    const bool ok = dt > NPG_DTYPE_DEFAULT && dt < NPG_DTYPE_COUNT && gather_tab[dt];
    if (!ok || in->dtype != dt) return npg__cpu_unsupported(NPG_OP_GATHER, ok ? in->dtype : dt);
    if (idx->dtype != NPG_INT64) return npg__cpu_unsupported(NPG_OP_GATHER, idx->dtype);
    if (axis < 0 || axis >= out->ndim || in->ndim != out->ndim || !npg__desc_contiguous(out))
        return npg__set_error(NPG_ERR_INTERNAL, "cpu take_along_axis: unexpected descriptors (axis %d, ndim %d)", axis,
                              out->ndim);
    ix_geom g;
    ix_init(&g, out->ndim, out->shape, axis);
    if (g.O * g.L * g.I == 0) return NPG_OK;
    const int64_t n = in->shape[axis];
    int64_t bad = first_bad(&g, idx, n);
    if (bad >= 0) return index_error(&g, idx, bad, n);
    gather_fn fn = gather_tab[dt];
    char *o = out->data;
    NPG_PAR_LOOP(g.O * g.L * g.I >= NPG_CPU_PAR_MIN && g.tasks > 1, t, g.tasks, fn(&g, t, o, in, idx););
    return NPG_OK;
}

npg_status npg__cpu_scatter_add(int dev, const npg_tdesc *out, const npg_tdesc *src, const npg_tdesc *idx,
                                int axis) {
    npg_dtype dt = out->dtype;
    scatter_fn fn = dt_ok(dt) && src->dtype == dt ? scatter_tab[dt] : NULL;
    if (!fn) return npg__cpu_unsupported(NPG_OP_SCATTER_ADD, dt_ok(dt) && src->dtype != dt ? src->dtype : dt);
    if (idx->dtype != NPG_INT64) return npg__cpu_unsupported(NPG_OP_SCATTER_ADD, idx->dtype);
    if (axis < 0 || axis >= src->ndim || out->ndim != src->ndim)
        return npg__set_error(NPG_ERR_INTERNAL, "cpu scatter_add: axis %d invalid for ndim %d", axis, src->ndim);
    ix_geom g;
    ix_init(&g, src->ndim, src->shape, axis);
    if (g.O * g.L * g.I == 0) return NPG_OK;
    const int64_t n = out->shape[axis];
    int64_t bad = first_bad(&g, idx, n);
    if (bad >= 0) return index_error(&g, idx, bad, n);
    NPG_PAR_LOOP(g.O * g.L * g.I >= NPG_CPU_PAR_MIN && g.tasks > 1, t, g.tasks, fn(&g, t, out, src, idx););
    return NPG_OK;
}

/* ---- nonzero ------------------------------------------------------------------- */
/* Count, then write the coordinates of, the nonzeros among flat [lo, hi). */
#define NZ_KERNELS(X, Y, t)                                                                      \
    static int64_t nzcount_##t(const void *p_, int64_t lo, int64_t hi) {                         \
        const NPG_T_##t *p = p_;                                                                 \
        int64_t c = 0;                                                                           \
        NPG_SIMD for (int64_t i = lo; i < hi; i++) c += p[i] != 0;                                \
        return c;                                                                                \
    }                                                                                            \
    static void nzwrite_##t(int64_t *out, int64_t count, int64_t c, const void *p_, int64_t lo,  \
                            int64_t hi, int nd, const int64_t *shape) {                          \
        const NPG_T_##t *p = p_;                                                                 \
        int64_t idx[NPG_MAX_DIMS], rem = lo;                                                     \
        for (int d = nd - 1; d >= 0; d--) {                                                      \
            idx[d] = rem % shape[d];                                                             \
            rem /= shape[d];                                                                     \
        }                                                                                        \
        for (int64_t i = lo; i < hi && c < count; i++) {                                         \
            if (p[i] != 0) {                                                                     \
                for (int d = 0; d < nd; d++) out[d * count + c] = idx[d];                        \
                c++;                                                                             \
            }                                                                                    \
            for (int d = nd - 1; d >= 0; d--) {                                                  \
                if (++idx[d] < shape[d]) break;                                                  \
                idx[d] = 0;                                                                      \
            }                                                                                    \
        }                                                                                        \
    }
NZ_KERNELS(_, _, b)
NZ_KERNELS(_, _, u8)
NZ_KERNELS(_, _, i32)
NZ_KERNELS(_, _, i64)
NZ_KERNELS(_, _, f32)
NZ_KERNELS(_, _, f64)
NZ_KERNELS(_, _, i8)
NZ_KERNELS(_, _, i16)
NZ_KERNELS(_, _, u16)
NZ_KERNELS(_, _, u32)
NZ_KERNELS(_, _, u64)

typedef int64_t (*nzcount_fn)(const void *p, int64_t lo, int64_t hi);
typedef void (*nzwrite_fn)(int64_t *out, int64_t count, int64_t c, const void *p, int64_t lo, int64_t hi, int nd,
                           const int64_t *shape);
static const nzcount_fn nzcount_tab[NPG_DTYPE_COUNT] = {
    [NPG_BOOL] = nzcount_b,    [NPG_UINT8] = nzcount_u8,    [NPG_INT32] = nzcount_i32,
    [NPG_INT64] = nzcount_i64, [NPG_FLOAT32] = nzcount_f32, [NPG_FLOAT64] = nzcount_f64,
    [NPG_INT8] = nzcount_i8,   [NPG_INT16] = nzcount_i16,   [NPG_UINT16] = nzcount_u16,
    [NPG_UINT32] = nzcount_u32, [NPG_UINT64] = nzcount_u64,
};
static const nzwrite_fn nzwrite_tab[NPG_DTYPE_COUNT] = {
    [NPG_BOOL] = nzwrite_b,    [NPG_UINT8] = nzwrite_u8,    [NPG_INT32] = nzwrite_i32,
    [NPG_INT64] = nzwrite_i64, [NPG_FLOAT32] = nzwrite_f32, [NPG_FLOAT64] = nzwrite_f64,
    [NPG_INT8] = nzwrite_i8,   [NPG_INT16] = nzwrite_i16,   [NPG_UINT16] = nzwrite_u16,
    [NPG_UINT32] = nzwrite_u32, [NPG_UINT64] = nzwrite_u64,
};

#define NZ_MAX_PARTS 256

npg_status npg__cpu_nonzero(int dev, const npg_tdesc *out, const npg_tdesc *in) {
    npg_dtype dt = in->dtype;
    if (!dt_ok(dt)) return npg__cpu_unsupported(NPG_OP_NONZERO, dt);
    if (out->dtype != NPG_INT64) return npg__cpu_unsupported(NPG_OP_NONZERO, out->dtype);
    if (!npg__desc_contiguous(in) || in->ndim < 1 || out->ndim != 2 || out->shape[0] != in->ndim)
        return npg__set_error(NPG_ERR_INTERNAL, "cpu nonzero: unexpected descriptors");
    const int64_t n = npg__desc_numel(in), count = out->shape[1];
    if (n == 0 || count == 0) return NPG_OK;
    int64_t parts = n >= NPG_CPU_PAR_MIN ? npg__cpu_threads() : 1;
    if (parts > NZ_MAX_PARTS) parts = NZ_MAX_PARTS;
    int64_t start[NZ_MAX_PARTS + 1];
    NPG_PAR_LOOP(parts > 1, k, parts,
                 start[k + 1] = nzcount_tab[dt](in->data, npg__cpu_split(n, parts, k), npg__cpu_split(n, parts, k + 1)););
    start[0] = 0;
    for (int64_t k = 0; k < parts; k++) start[k + 1] += start[k];
    NPG_PAR_LOOP(parts > 1, k, parts,
                 nzwrite_tab[dt](out->data, count, start[k], in->data, npg__cpu_split(n, parts, k),
                                 npg__cpu_split(n, parts, k + 1), in->ndim, in->shape););
    return NPG_OK;
}
