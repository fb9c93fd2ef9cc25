/*
 * sort.c — stable sort of every row along the last axis, giving values
 * and/or the permutation (argsort).
 *
 * A bottom-up merge sort over (key, index) pairs: insertion-sorted runs of
 * 32, then merges that take from the left run on ties, so equal keys keep
 * their order in both directions. NaN sorts last ascending and first
 * descending (NumPy / PyTorch). Rows are spread over threads; each thread
 * owns its scratch buffers. A single huge row is sorted by one thread.
 */
#include "cpu.h"

#include <stdlib.h>

#define SORT_RUN 32

/* LESS(a, b): a goes strictly before b. */
#define ASC_LESS(t, a, b) ((a) < (b) || (NPG_ISNAN_##t(b) && !NPG_ISNAN_##t(a)))
#define DESC_LESS(t, a, b) ((a) > (b) || (NPG_ISNAN_##t(a) && !NPG_ISNAN_##t(b)))

#define SORT_DEF(t, DIR)                                                                         \
    static void sort_##DIR##_##t(NPG_T_##t *k, int64_t *ix, NPG_T_##t *tk, int64_t *ti, int64_t n) { \
        typedef NPG_T_##t T;                                                                     \
        for (int64_t s = 0; s < n; s += SORT_RUN) { /* insertion-sorted runs */                  \
            int64_t e = s + SORT_RUN < n ? s + SORT_RUN : n;                                     \
            for (int64_t i = s + 1; i < e; i++) {                                                \
                T key = k[i];                                                                    \
                int64_t id = ix[i], j = i;                                                       \
                for (; j > s && DIR##_LESS(t, key, k[j - 1]); j--) {                             \
                    k[j] = k[j - 1];                                                             \
                    ix[j] = ix[j - 1];                                                           \
                }                                                                                \
                k[j] = key;                                                                      \
                ix[j] = id;                                                                      \
            }                                                                                    \
        }                                                                                        \
        T *src = k, *dst = tk;                                                                   \
        int64_t *si = ix, *di = ti;                                                              \
        for (int64_t w = SORT_RUN; w < n; w *= 2) {                                              \
            for (int64_t lo = 0; lo < n; lo += 2 * w) {                                          \
                int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;     \
                if (mid >= hi || !DIR##_LESS(t, src[mid], src[mid - 1])) { /* in order: copy */ \
                    memcpy(dst + lo, src + lo, (size_t)(hi - lo) * sizeof(T));                   \
                    memcpy(di + lo, si + lo, (size_t)(hi - lo) * sizeof(int64_t));               \
                    continue;                                                                    \
                }                                                                                \
                int64_t i = lo, j = mid, o = lo;                                                 \
                while (i < mid && j < hi) {                                                      \
                    if (DIR##_LESS(t, src[j], src[i])) {                                         \
                        dst[o] = src[j];                                                         \
                        di[o++] = si[j++];                                                       \
                    } else {                                                                     \
                        dst[o] = src[i];                                                         \
                        di[o++] = si[i++];                                                       \
                    }                                                                            \
                }                                                                                \
                memcpy(dst + o, src + i, (size_t)(mid - i) * sizeof(T));                         \
                memcpy(di + o, si + i, (size_t)(mid - i) * sizeof(int64_t));                     \
                o += mid - i;                                                                    \
                memcpy(dst + o, src + j, (size_t)(hi - j) * sizeof(T));                          \
                memcpy(di + o, si + j, (size_t)(hi - j) * sizeof(int64_t));                      \
            }                                                                                    \
            T *tt = src;                                                                         \
            src = dst;                                                                           \
            dst = tt;                                                                            \
            int64_t *tx = si;                                                                    \
            si = di;                                                                             \
            di = tx;                                                                             \
        }                                                                                        \
        if (src != k) {                                                                          \
            memcpy(k, src, (size_t)n * sizeof(T));                                               \
            memcpy(ix, si, (size_t)n * sizeof(int64_t));                                         \
        }                                                                                        \
    }                                                                                            \
    static void row_##DIR##_##t(char *vals, int64_t *inds, const char *in, int64_t s, int64_t n, \
                                char *scratch) {                                                 \
        typedef NPG_T_##t T;                                                                     \
        const T *ip = (const T *)in;                                                             \
        int64_t *ix = (int64_t *)scratch, *ti = ix + n; /* int64 first: aligned */              \
        T *k = (T *)(ti + n), *tk = k + n;                                                       \
        for (int64_t i = 0; i < n; i++) {                                                        \
            k[i] = ip[i * s];                                                                    \
            ix[i] = i;                                                                           \
        }                                                                                        \
        sort_##DIR##_##t(k, ix, tk, ti, n);                                                      \
        if (vals) memcpy(vals, k, (size_t)n * sizeof(T));                                        \
        if (inds) memcpy(inds, ix, (size_t)n * sizeof(int64_t));                                 \
    }

#define SORT_BOTH(t) SORT_DEF(t, ASC) SORT_DEF(t, DESC)
SORT_BOTH(b)
SORT_BOTH(u8)
SORT_BOTH(i32)
SORT_BOTH(i64)
SORT_BOTH(f32)
SORT_BOTH(f64)
SORT_BOTH(i8)
SORT_BOTH(i16)
SORT_BOTH(u16)
SORT_BOTH(u32)
SORT_BOTH(u64)

typedef void (*row_fn)(char *vals, int64_t *inds, const char *in, int64_t s, int64_t n, char *scratch);
#define RTAB(t) [NPG_DT_##t] = {row_ASC_##t, row_DESC_##t},
static const row_fn row_tab[NPG_DTYPE_COUNT][2] = {RTAB(b) RTAB(u8) RTAB(i32) RTAB(i64) RTAB(f32) RTAB(f64)
                                                       RTAB(i8) RTAB(i16) RTAB(u16) RTAB(u32) RTAB(u64)};

npg_status npg__cpu_sort(int dev, const npg_tdesc *values, const npg_tdesc *indices, const npg_tdesc *in,
                         bool descending) {
    npg_dtype dt = in->dtype;
    if (dt <= NPG_DTYPE_DEFAULT || dt >= NPG_DTYPE_COUNT || !row_tab[dt][0]) return npg__cpu_unsupported(NPG_OP_SORT, dt);
    if (values && values->dtype != dt) return npg__cpu_unsupported(NPG_OP_SORT, values->dtype);
    if (indices && indices->dtype != NPG_INT64) return npg__cpu_unsupported(NPG_OP_SORT, indices->dtype);
    if (in->ndim < 1 || (values && !npg__desc_contiguous(values)) || (indices && !npg__desc_contiguous(indices)))
        return npg__set_error(NPG_ERR_INTERNAL, "cpu sort: unexpected descriptors (0-d input or strided output)");
    const int nd = in->ndim;
    const int64_t n = in->shape[nd - 1], rows = n ? npg__desc_numel(in) / n : 0, s = in->strides[nd - 1];
    if (rows == 0 || n == 0) return NPG_OK;
    const int64_t es = (int64_t)npg__dtype_size(dt);
    const row_fn fn = row_tab[dt][descending ? 1 : 0];
    int64_t parts = rows * n >= NPG_CPU_PAR_MIN_HEAVY ? npg__cpu_threads() : 1;
    if (parts > rows) parts = rows;
    if ((uint64_t)n > (SIZE_MAX / 4) / (uint64_t)(es + 8))
        return npg__set_error(NPG_ERR_OOM, "cpu sort: out of memory (row of %lld elements)", (long long)n);
    const size_t scratch_bytes = (size_t)n * 2 * (size_t)(es + 8);
    char *vb = values ? values->data : NULL;
    int64_t *ib = indices ? indices->data : NULL;
    int oom = 0;
    NPG_PAR_LOOP_REDUCE(parts > 1, | : oom, p, parts, {
        char *scratch = malloc(scratch_bytes);
        if (!scratch) {
            oom = 1;
            continue;
        }
        for (int64_t r = npg__cpu_split(rows, parts, p); r < npg__cpu_split(rows, parts, p + 1); r++) {
            int64_t roff = npg__cpu_flat_offset(nd - 1, in->shape, in->strides, r);
            fn(vb ? vb + r * n * es : NULL, ib ? ib + r * n : NULL, (const char *)in->data + roff * es, s, n,
               scratch);
        }
        free(scratch);
    });
    if (oom) return npg__set_error(NPG_ERR_OOM, "cpu sort: out of memory (row of %lld elements)", (long long)n);
    return NPG_OK;
}
