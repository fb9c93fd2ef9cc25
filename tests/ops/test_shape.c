/*
 * test_shape.c — shape ops, views and indexing: reshape (view vs copy, -1),
 * flatten, permute_dims, T, matrix_transpose, swapaxes, squeeze,
 * expand_dims, broadcast_to, flip, repeat, concat, stack, diagonal, trace,
 * contiguous, basic indexing (npg_index / NPG_INDEX), setitem, take and
 * take_along_axis.
 *
 * Every case is a row: a call and a host reference that says, for each
 * output element, which input element it is (a gather map computed with
 * NumPy's rules on the host). Each row runs for every dtype on contiguous
 * and non-contiguous inputs, checks values, dtype, shape and view-ness, and
 * goes through npg_gradcheck in float64 (the backward of every view is a
 * strided scatter, of take a scatter-add). Then the error paths.
 */
#include "test_util.h"
#include "ops_shared.h"

#include <criterion/logging.h>
#include <stdio.h>

#define NDTS 11
static const npg_dtype DTS[NDTS] = {NPG_BOOL, NPG_UINT8, NPG_INT32, NPG_INT64,  NPG_FLOAT32, NPG_FLOAT64,
                                    NPG_INT8, NPG_INT16, NPG_UINT16, NPG_UINT32, NPG_UINT64};

#define AX(...) {.n = (int)(sizeof((int[]){__VA_ARGS__}) / sizeof(int)), .axes = {__VA_ARGS__}}
#define II(i) {NPG_IDX_INT, (i), 0, 0}
#define SL(a, b, c) {NPG_IDX_SLICE, (a), (b), (c)}
#define ALL_ {NPG_IDX_SLICE, NPG_NONE, NPG_NONE, 1}
#define NA {NPG_IDX_NEWAXIS, 0, 0, 0}
#define EL {NPG_IDX_ELLIPSIS, 0, 0, 0}
#define NO NPG_NONE

static int norm(int a, int nd) { return a < 0 ? a + nd : a; }

/* values 1, 2, 3, ... of the view, as stored in dtype dt */
static double val(int64_t k, npg_dtype dt) {
    double v = (double)((k * 37) % 101) - 50 + (dt == NPG_FLOAT32 || dt == NPG_FLOAT64 ? 0.25 : 0);
    return dt == NPG_BOOL ? (k % 3 != 0) : t_is_unsigned(dt) ? v + 50 : v;
}
/* Logical shape s as view vk; hv gets the view's row-major values. */
static npg_array *mk(npg_shape s, vkind vk, npg_dtype dt, double *hv, npg_array **base_out) {
    if (s.ndim == 0) vk = V_C;
    npg_shape bs = base_shape(s, vk);
    int64_t nb = numel(bs), n = numel(s);
    double *bv = malloc(sizeof(double) * (size_t)(nb + 1));
    for (int64_t k = 0; k < nb; k++) bv[k] = val(k, dt);
    npg_array *base = t_arr(bv, dt, bs), *x = view_of(base, vk);
    cr_assert(x, "building a %s view: %s", VNAME[vk], npg_last_error());
    for (int64_t k = 0; k < n; k++) hv[k] = bv[view_offset(k, s, vk, bs)];
    free(bv);
    if (base_out) *base_out = base;
    return x;
}

/* ------------------------------------------------------------------------
 * The case table
 * ------------------------------------------------------------------------ */

typedef enum {
    S_RESHAPE, S_FLATTEN, S_PERMUTE, S_T, S_MT, S_SWAP, S_SQUEEZE, S_EXPAND, S_BCAST, S_FLIP, S_REPEAT,
    S_CONCAT, S_STACK, S_DIAG, S_CONTIG, S_INDEX, S_TAKE, S_TAKE_ALONG, S_COUNT
} skind;
static const char *const SNAME[S_COUNT] = {"reshape", "flatten", "permute_dims", "T", "matrix_transpose", "swapaxes",
                                           "squeeze", "expand_dims", "broadcast_to", "flip", "repeat", "concat", "stack",
                                           "diagonal", "contiguous", "index", "take", "take_along_axis"};
enum { COPY = 0, VIEW = 1, ANY = -1 };
typedef struct scase {
    skind k;
    npg_shape in;
    vkind v;
    int view; /* VIEW: must share input 0's storage; COPY: must not */
    npg_shape shp; /* reshape / broadcast target; take / take_along indices shape */
    npg_axes axes;
    int a1, a2;
    int64_t off; /* repeat count, diagonal offset */
    npg_idx idx[8];
    int nidx;
    int64_t ind[24]; /* take / take_along indices */
    int nin;         /* concat / stack: inputs in[0], shp, ins2 */
    npg_shape in2;
} scase;

static const scase CASES[] = {
    {.k = S_RESHAPE, .in = SH(5, 7, 3), .v = V_C, .view = VIEW, .shp = SH(7, 15)},
    {.k = S_RESHAPE, .in = SH(5, 7, 3), .v = V_C, .view = VIEW, .shp = SH(-1, 3)},
    {.k = S_RESHAPE, .in = SH(5, 7, 3), .v = V_C, .view = VIEW, .shp = SH(35, -1)},
    {.k = S_RESHAPE, .in = SH(5, 7, 3), .v = V_T, .view = COPY, .shp = SH(-1)},
    {.k = S_RESHAPE, .in = SH(5, 7, 3), .v = V_S2, .view = VIEW, .shp = SH(35, 3)},
    {.k = S_RESHAPE, .in = SH(5, 7, 3), .v = V_S2, .view = COPY, .shp = SH(105)},
    {.k = S_RESHAPE, .in = SH(5, 7, 3), .v = V_NEG, .view = VIEW, .shp = SH(5, 21)},
    {.k = S_RESHAPE, .in = SH0, .v = V_C, .view = VIEW, .shp = SH(1, 1)},
    {.k = S_RESHAPE, .in = SH(1, 1), .v = V_C, .view = VIEW, .shp = SH0},
    {.k = S_RESHAPE, .in = SH(3, 0, 2), .v = V_C, .view = ANY, .shp = SH(-1)},
    {.k = S_RESHAPE, .in = SH(3, 0, 2), .v = V_C, .view = ANY, .shp = SH(0, 5)},
    {.k = S_FLATTEN, .in = SH(5, 7, 3), .v = V_C, .view = VIEW},
    {.k = S_FLATTEN, .in = SH(5, 7, 3), .v = V_T, .view = COPY},
    {.k = S_FLATTEN, .in = SH0, .v = V_C, .view = VIEW},
    {.k = S_PERMUTE, .in = SH(5, 7, 3), .v = V_C, .view = VIEW, .axes = AX(2, 0, 1)},
    {.k = S_PERMUTE, .in = SH(5, 7, 3), .v = V_S2, .view = VIEW, .axes = AX(-1, -3, -2)},
    {.k = S_PERMUTE, .in = SH(3, 0, 2), .v = V_C, .view = VIEW, .axes = AX(1, 2, 0)},
    {.k = S_T, .in = SH(5, 7, 3), .v = V_C, .view = VIEW},
    {.k = S_T, .in = SH(5, 7, 3), .v = V_NEG, .view = VIEW},
    {.k = S_T, .in = SH(13), .v = V_C, .view = VIEW},
    {.k = S_T, .in = SH0, .v = V_C, .view = VIEW},
    {.k = S_MT, .in = SH(5, 7, 3), .v = V_C, .view = VIEW},
    {.k = S_MT, .in = SH(4, 6), .v = V_T, .view = VIEW},
    {.k = S_SWAP, .in = SH(5, 7, 3), .v = V_C, .view = VIEW, .a1 = 0, .a2 = 2},
    {.k = S_SWAP, .in = SH(5, 7, 3), .v = V_T, .view = VIEW, .a1 = -1, .a2 = 1},
    {.k = S_SQUEEZE, .in = SH(1, 5, 1, 3), .v = V_C, .view = VIEW, .axes = {0}},
    {.k = S_SQUEEZE, .in = SH(1, 5, 1, 3), .v = V_NEG, .view = VIEW, .axes = AX(0)},
    {.k = S_SQUEEZE, .in = SH(1, 5, 1, 3), .v = V_S2, .view = VIEW, .axes = AX(-2)},
    {.k = S_SQUEEZE, .in = SH(1, 1), .v = V_C, .view = VIEW, .axes = {0}},
    {.k = S_EXPAND, .in = SH(5, 7, 3), .v = V_C, .view = VIEW, .a1 = 0},
    {.k = S_EXPAND, .in = SH(5, 7, 3), .v = V_T, .view = VIEW, .a1 = 2},
    {.k = S_EXPAND, .in = SH(5, 7, 3), .v = V_C, .view = VIEW, .a1 = -1},
    {.k = S_EXPAND, .in = SH(5, 7, 3), .v = V_C, .view = VIEW, .a1 = 3},
    {.k = S_EXPAND, .in = SH0, .v = V_C, .view = VIEW, .a1 = 0},
    {.k = S_BCAST, .in = SH(7, 1), .v = V_C, .view = VIEW, .shp = SH(5, 7, 3)},
    {.k = S_BCAST, .in = SH0, .v = V_C, .view = VIEW, .shp = SH(2, 3)},
    {.k = S_BCAST, .in = SH(3), .v = V_NEG, .view = VIEW, .shp = SH(4, 3)},
    {.k = S_BCAST, .in = SH(3), .v = V_C, .view = VIEW, .shp = SH(0, 3)},
    {.k = S_FLIP, .in = SH(5, 7, 3), .v = V_C, .view = VIEW, .axes = AX(0)},
    {.k = S_FLIP, .in = SH(5, 7, 3), .v = V_T, .view = VIEW, .axes = AX(1, -1)},
    {.k = S_FLIP, .in = SH(5, 7, 3), .v = V_C, .view = VIEW, .axes = {0}},
    {.k = S_FLIP, .in = SH(13), .v = V_S2, .view = VIEW, .axes = {0}},
    {.k = S_REPEAT, .in = SH(5, 7, 3), .v = V_C, .view = ANY, .a1 = 1, .off = 2},
    {.k = S_REPEAT, .in = SH(5, 7, 3), .v = V_T, .view = ANY, .a1 = -1, .off = 3},
    {.k = S_REPEAT, .in = SH(5, 7, 3), .v = V_C, .view = ANY, .a1 = NPG_FLAT, .off = 2},
    {.k = S_REPEAT, .in = SH(5, 7, 3), .v = V_C, .view = ANY, .a1 = 0, .off = 0},
    {.k = S_REPEAT, .in = SH0, .v = V_C, .view = ANY, .a1 = NPG_FLAT, .off = 4},
    {.k = S_CONCAT, .in = SH(2, 3), .v = V_C, .view = COPY, .shp = SH(4, 3), .in2 = SH(0, 3), .nin = 3, .a1 = 0},
    {.k = S_CONCAT, .in = SH(5, 2), .v = V_T, .view = COPY, .shp = SH(5, 1), .in2 = SH(5, 4), .nin = 3, .a1 = -1},
    {.k = S_CONCAT, .in = SH(3, 4, 2), .v = V_NEG, .view = COPY, .shp = SH(3, 1, 2), .nin = 2, .a1 = 1},
    {.k = S_STACK, .in = SH(2, 3), .v = V_C, .view = COPY, .shp = SH(2, 3), .in2 = SH(2, 3), .nin = 3, .a1 = 0},
    {.k = S_STACK, .in = SH(2, 3), .v = V_T, .view = COPY, .shp = SH(2, 3), .nin = 2, .a1 = 1},
    {.k = S_STACK, .in = SH(2, 3), .v = V_C, .view = COPY, .shp = SH(2, 3), .nin = 2, .a1 = -1},
    {.k = S_STACK, .in = SH0, .v = V_C, .view = COPY, .shp = SH0, .nin = 2, .a1 = 0},
    {.k = S_DIAG, .in = SH(4, 5), .v = V_C, .view = VIEW, .off = 0, .a1 = 0, .a2 = 1},
    {.k = S_DIAG, .in = SH(4, 5), .v = V_C, .view = VIEW, .off = 2, .a1 = 0, .a2 = 1},
    {.k = S_DIAG, .in = SH(4, 5), .v = V_T, .view = VIEW, .off = -1, .a1 = 0, .a2 = 1},
    {.k = S_DIAG, .in = SH(4, 5), .v = V_C, .view = VIEW, .off = 5, .a1 = 0, .a2 = 1},
    {.k = S_DIAG, .in = SH(3, 4, 5), .v = V_C, .view = VIEW, .off = 1, .a1 = 1, .a2 = 2},
    {.k = S_DIAG, .in = SH(3, 4, 5), .v = V_S2, .view = VIEW, .off = -2, .a1 = 0, .a2 = 2},
    {.k = S_DIAG, .in = SH(3, 4, 5), .v = V_NEG, .view = VIEW, .off = 1, .a1 = 2, .a2 = 0},
    {.k = S_DIAG, .in = SH(3, 4, 5), .v = V_C, .view = VIEW, .off = 0, .a1 = -1, .a2 = -3},
    {.k = S_CONTIG, .in = SH(5, 7, 3), .v = V_C, .view = VIEW},
    {.k = S_CONTIG, .in = SH(5, 7, 3), .v = V_T, .view = COPY},
    {.k = S_CONTIG, .in = SH(13), .v = V_NEG, .view = COPY},
    {.k = S_INDEX, .in = SH(5, 7, 3), .v = V_C, .view = VIEW, .idx = {II(1)}, .nidx = 1},
    {.k = S_INDEX, .in = SH(5, 7, 3), .v = V_T, .view = VIEW, .idx = {II(-1)}, .nidx = 1},
    {.k = S_INDEX, .in = SH(5, 7, 3), .v = V_C, .view = VIEW, .idx = {II(1), II(-2), II(2)}, .nidx = 3},
    {.k = S_INDEX, .in = SH(5, 7, 3), .v = V_C, .view = VIEW, .idx = {SL(NO, NO, 2)}, .nidx = 1},
    {.k = S_INDEX, .in = SH(5, 7, 3), .v = V_S2, .view = VIEW, .idx = {ALL_, SL(NO, NO, -1)}, .nidx = 2},
    {.k = S_INDEX, .in = SH(5, 7, 3), .v = V_C, .view = VIEW, .idx = {SL(NO, NO, -2), SL(5, 1, -2), SL(-1, NO, -1)}, .nidx = 3},
    {.k = S_INDEX, .in = SH(13), .v = V_NEG, .view = VIEW, .idx = {SL(-3, NO, 1)}, .nidx = 1},
    {.k = S_INDEX, .in = SH(13), .v = V_C, .view = VIEW, .idx = {SL(NO, -3, 1)}, .nidx = 1},
    {.k = S_INDEX, .in = SH(13), .v = V_C, .view = VIEW, .idx = {SL(10, 20, 1)}, .nidx = 1},
    {.k = S_INDEX, .in = SH(13), .v = V_C, .view = VIEW, .idx = {SL(-20, 4, 3)}, .nidx = 1},
    {.k = S_INDEX, .in = SH(13), .v = V_C, .view = VIEW, .idx = {SL(2, 2, 1)}, .nidx = 1},
    {.k = S_INDEX, .in = SH(13), .v = V_C, .view = VIEW, .idx = {SL(20, -20, -4)}, .nidx = 1},
    {.k = S_INDEX, .in = SH(5, 7, 3), .v = V_C, .view = VIEW, .idx = {EL, II(1)}, .nidx = 2},
    {.k = S_INDEX, .in = SH(5, 7, 3), .v = V_T, .view = VIEW, .idx = {II(0), EL, SL(NO, NO, -1)}, .nidx = 3},
    {.k = S_INDEX, .in = SH(5, 7, 3), .v = V_C, .view = VIEW, .idx = {NA}, .nidx = 1},
    {.k = S_INDEX, .in = SH(5, 7, 3), .v = V_NEG, .view = VIEW, .idx = {ALL_, NA, EL, SL(NO, NO, -1), NA}, .nidx = 5},
    {.k = S_INDEX, .in = SH(5, 7, 3), .v = V_C, .view = VIEW, .idx = {EL}, .nidx = 1},
    {.k = S_INDEX, .in = SH(5, 7, 3), .v = V_C, .view = VIEW, .idx = {II(2), NA, II(-1)}, .nidx = 3},
    {.k = S_INDEX, .in = SH0, .v = V_C, .view = VIEW, .idx = {NA, EL}, .nidx = 2},
    {.k = S_INDEX, .in = SH(3, 0, 2), .v = V_C, .view = VIEW, .idx = {II(1), SL(NO, NO, -1)}, .nidx = 2},
    {.k = S_TAKE, .in = SH(5, 7, 3), .v = V_C, .view = COPY, .a1 = 1, .shp = SH(2, 2), .ind = {0, -1, 3, 6}},
    {.k = S_TAKE, .in = SH(5, 7, 3), .v = V_T, .view = COPY, .a1 = -1, .shp = SH(4), .ind = {2, 0, 2, -3}},
    {.k = S_TAKE, .in = SH(5, 7, 3), .v = V_C, .view = COPY, .a1 = NPG_FLAT, .shp = SH(3), .ind = {104, 0, -105}},
    {.k = S_TAKE, .in = SH(5, 7, 3), .v = V_C, .view = COPY, .a1 = 0, .shp = SH0, .ind = {4}},
    {.k = S_TAKE, .in = SH(5, 7, 3), .v = V_S2, .view = COPY, .a1 = 0, .shp = SH(0), .ind = {0}},
    {.k = S_TAKE_ALONG, .in = SH(5, 7, 3), .v = V_C, .view = COPY, .a1 = 1, .shp = SH(5, 1, 3), .ind = {0}},
    {.k = S_TAKE_ALONG, .in = SH(5, 7, 3), .v = V_T, .view = COPY, .a1 = 1, .shp = SH(1, 4, 1), .ind = {6, 0, -1, 6}},
    {.k = S_TAKE_ALONG, .in = SH(5, 7, 3), .v = V_C, .view = COPY, .a1 = -1, .shp = SH(5, 7, 2), .ind = {0}},
    {.k = S_TAKE_ALONG, .in = SH(4, 6), .v = V_NEG, .view = COPY, .a1 = 0, .shp = SH(2, 6), .ind = {0}},
};
#define NCASES ((int)(sizeof CASES / sizeof CASES[0]))

/* Which case kinds cover each op of these families (a new one must be listed). */
#define COVER(ID, name) [NPG_OP_##ID] = cover_##name,
#define SKIP(ID, name)
enum {
    cover_reshape = 1 << S_RESHAPE, cover_permute_dims = 1 << S_PERMUTE, cover_broadcast_to = 1 << S_BCAST,
    cover_index = 1 << S_INDEX | 1 << S_SQUEEZE | 1 << S_EXPAND | 1 << S_FLIP, cover_diagonal = 1 << S_DIAG,
    cover_strided_scatter = 1 << S_INDEX, /* the backward of the INDEX views, run by gradcheck */
    cover_take_along_axis = 1 << S_TAKE | 1 << S_TAKE_ALONG, cover_scatter_add = 1 << S_TAKE | 1 << S_TAKE_ALONG,
    cover_concat = 1 << S_CONCAT, cover_stack = 1 << S_STACK, cover_repeat = 1 << S_REPEAT,
    cover_var = 0, cover_std = 0, cover_logsumexp = 0, /* composite reductions: test_reduce.c */
    cover_linear = 0, cover_conv2d = 0, cover_avg_pool2d = 0, cover_layer_norm = 0, cover_embedding = 0, /* tests/nn */
    cover_dropout = 0, cover_nll_loss = 0, cover_mse_loss = 0, cover_binary_cross_entropy_with_logits = 0,
    cover_custom = 0, /* npg_custom: tests/common/test_autograd.c */
};
#define F_VIEW COVER
#define F_INDEX COVER
#define F_COMPOSITE COVER
#define F_UNARY SKIP
#define F_UNARY_P SKIP
#define F_BINARY SKIP
#define F_WHERE SKIP
#define F_REDUCE SKIP
#define F_SCAN SKIP
#define F_COPY SKIP
#define F_SORT SKIP
#define F_MATMUL SKIP
#define F_RANDOM SKIP
#define F_NN SKIP
static const int COVERS[NPG_OP_COUNT] = {
#define NPG_OP(ID, name, family, arity, diff, rule) F_##family(ID, name)
#include "ops.def"
#undef NPG_OP
};

/* index arrays of take / take_along_axis (int64; int32 for odd cases) */
static npg_array *ind_arr(const scase *c, int ci) {
    int64_t n = numel(c->shp);
    double v[256];
    for (int64_t k = 0; k < n && k < 24; k++) v[k] = c->k == S_TAKE_ALONG && c->ind[1] == 0 && c->ind[0] == 0 ? (double)((k * 5 + 3) % 9 - 2) : (double)c->ind[k];
    if (c->k == S_TAKE_ALONG && c->ind[1] == 0 && c->ind[0] == 0) { /* generated: in [-len, len) of the axis */
        int64_t len = c->in.dims[norm(c->a1, c->in.ndim)];
        for (int64_t k = 0; k < n; k++) v[k] = (double)((k * 5 + 3) % (2 * len) - len);
    }
    /* every fourth pair of cases: the narrow / unsigned index dtypes */
    bool neg = false;
    for (int64_t k = 0; k < n; k++) neg |= v[k] < 0;
    npg_dtype idt = ci % 2 ? NPG_INT32 : NPG_INT64;
    if (ci % 8 >= 6) idt = ci % 2 ? (neg ? NPG_INT8 : NPG_UINT16) : (neg ? NPG_INT16 : NPG_UINT64);
    return t_arr(v, idt, c->shp);
}

static npg_array *call(const scase *c, npg_array *const *xs, int ci) {
    npg_array *x = xs[0];
    switch (c->k) {
    case S_RESHAPE: return npg_reshape(x, c->shp);
    case S_FLATTEN: return npg_flatten(x);
    case S_PERMUTE: return npg_permute_dims(x, c->axes);
    case S_T: return npg_T(x);
    case S_MT: return npg_matrix_transpose(x);
    case S_SWAP: return npg_swapaxes(x, c->a1, c->a2);
    case S_SQUEEZE: return npg_squeeze(x, c->axes);
    case S_EXPAND: return npg_expand_dims(x, c->a1);
    case S_BCAST: return npg_broadcast_to(x, c->shp);
    case S_FLIP: return npg_flip(x, c->axes);
    case S_REPEAT: return npg_repeat(x, c->off, c->a1);
    case S_CONCAT: return npg_concat(xs, c->nin, c->a1);
    case S_STACK: return npg_stack(xs, c->nin, c->a1);
    case S_DIAG: return npg_diagonal(x, c->off, c->a1, c->a2);
    case S_CONTIG: return npg_contiguous(x);
    case S_INDEX: return npg_index(x, c->idx, c->nidx);
    case S_TAKE: return npg_take(x, ind_arr(c, ci), c->a1);
    default: return npg_take_along_axis(x, ind_arr(c, ci), c->a1);
    }
}

/* ------------------------------------------------------------------------
 * Host references: out shape and, per output element, (input, flat index)
 * ------------------------------------------------------------------------ */

#define SRC(inp, flat) ((int64_t)(inp) << 40 | (flat))

/* NumPy basic indexing on shape s: out shape and source flat indices. */
static bool host_index(npg_shape s, const npg_idx *idx, int n, npg_shape *out, int64_t *src) {
    int64_t st[NPG_MAX_DIMS], ostr[NPG_MAX_DIMS], base = 0;
    for (int i = s.ndim - 1, m = 1; i >= 0; i--) st[i] = m, m *= (int)s.dims[i];
    int consumed = 0, d = 0;
    for (int k = 0; k < n; k++) consumed += idx[k].kind == NPG_IDX_INT || idx[k].kind == NPG_IDX_SLICE;
    out->ndim = 0;
    for (int k = 0; k <= n; k++) {
        const npg_idx *ix = &idx[k];
        if (k == n) { /* trailing axes */
            for (; d < s.ndim; d++) out->dims[out->ndim] = s.dims[d], ostr[out->ndim++] = st[d];
        } else if (ix->kind == NPG_IDX_INT) {
            int64_t i = ix->start < 0 ? ix->start + s.dims[d] : ix->start;
            if (i < 0 || i >= s.dims[d]) return false;
            base += i * st[d++];
        } else if (ix->kind == NPG_IDX_SLICE) {
            int64_t len = s.dims[d], step = ix->step, a = ix->start, b = ix->stop;
            if (step > 0) {
                a = a == NO ? 0 : a < 0 ? (a + len < 0 ? 0 : a + len) : (a > len ? len : a);
                b = b == NO ? len : b < 0 ? (b + len < 0 ? 0 : b + len) : (b > len ? len : b);
            } else {
                a = a == NO ? len - 1 : a < 0 ? (a + len < -1 ? -1 : a + len) : (a > len - 1 ? len - 1 : a);
                b = b == NO ? -1 : b < 0 ? (b + len < -1 ? -1 : b + len) : (b > len - 1 ? len - 1 : b);
            }
            int64_t cnt = step > 0 ? (b > a ? (b - a + step - 1) / step : 0) : (a > b ? (a - b - step - 1) / -step : 0);
            if (cnt > 0) base += a * st[d];
            out->dims[out->ndim] = cnt, ostr[out->ndim++] = st[d++] * step;
        } else if (ix->kind == NPG_IDX_NEWAXIS) {
            out->dims[out->ndim] = 1, ostr[out->ndim++] = 0;
        } else {
            for (int t = 0; t < s.ndim - consumed; t++, d++) out->dims[out->ndim] = s.dims[d], ostr[out->ndim++] = st[d];
        }
    }
    for (int64_t k = 0; k < numel(*out); k++) {
        int64_t o[NPG_MAX_DIMS], f = base;
        unravel(k, *out, o);
        for (int i = 0; i < out->ndim; i++) f += o[i] * ostr[i];
        src[k] = f;
    }
    return true;
}

static void host_ref(const scase *c, const npg_shape *ins, npg_shape *out, int64_t *src) {
    npg_shape s = ins[0];
    int nd = s.ndim;
    int perm[NPG_MAX_DIMS];
    for (int i = 0; i < nd; i++) perm[i] = i;
    switch (c->k) {
    case S_RESHAPE:
    case S_FLATTEN:
    case S_SQUEEZE:
    case S_EXPAND:
    case S_CONTIG: { /* row-major order is kept; only the shape changes */
        if (c->k == S_RESHAPE || c->k == S_FLATTEN) {
            *out = c->k == S_FLATTEN ? (npg_shape){.ndim = 1, .dims = {-1}} : c->shp;
            for (int i = 0; i < out->ndim; i++)
                if (out->dims[i] == -1) {
                    int64_t known = 1;
                    for (int j = 0; j < out->ndim; j++) known *= j == i ? 1 : out->dims[j];
                    out->dims[i] = known ? numel(s) / known : 0;
                }
        } else if (c->k == S_SQUEEZE) {
            out->ndim = 0;
            for (int i = 0; i < nd; i++) {
                bool sq = c->axes.n == 0 ? s.dims[i] == 1 : false;
                for (int j = 0; j < c->axes.n; j++) sq |= norm(c->axes.axes[j], nd) == i;
                if (!sq) out->dims[out->ndim++] = s.dims[i];
            }
        } else if (c->k == S_EXPAND) {
            int a = norm(c->a1, nd + 1);
            out->ndim = nd + 1;
            for (int i = 0, j = 0; i <= nd; i++) out->dims[i] = i == a ? 1 : s.dims[j++];
        } else {
            *out = s;
        }
        for (int64_t k = 0; k < numel(s); k++) src[k] = k;
        return;
    }
    case S_PERMUTE:
        for (int i = 0; i < nd; i++) perm[i] = norm(c->axes.axes[i], nd);
        break;
    case S_T:
        for (int i = 0; i < nd; i++) perm[i] = nd - 1 - i;
        break;
    case S_MT:
    case S_SWAP: {
        int a = c->k == S_MT ? nd - 1 : norm(c->a1, nd), b = c->k == S_MT ? nd - 2 : norm(c->a2, nd);
        perm[a] = b, perm[b] = a;
        break;
    }
    case S_INDEX: host_index(s, c->idx, c->nidx, out, src); return;
    default: break;
    }
    if (c->k <= S_SWAP) { /* permutations */
        out->ndim = nd;
        for (int i = 0; i < nd; i++) out->dims[i] = s.dims[perm[i]];
        for (int64_t k = 0; k < numel(*out); k++) {
            int64_t o[NPG_MAX_DIMS], in[NPG_MAX_DIMS];
            unravel(k, *out, o);
            for (int i = 0; i < nd; i++) in[perm[i]] = o[i];
            src[k] = ravel(in, s);
        }
        return;
    }
    if (c->k == S_CONCAT || c->k == S_STACK) {
        int a = norm(c->a1, c->k == S_STACK ? nd + 1 : nd);
        npg_shape e[3];
        for (int t = 0; t < c->nin; t++) {
            e[t] = ins[t];
            if (c->k == S_STACK) { /* stack = concat of expand_dims */
                e[t].ndim = nd + 1;
                for (int i = 0, j = 0; i <= nd; i++) e[t].dims[i] = i == a ? 1 : ins[t].dims[j++];
            }
        }
        *out = e[0];
        for (int t = 1; t < c->nin; t++) out->dims[a] += e[t].dims[a];
        for (int64_t k = 0; k < numel(*out); k++) {
            int64_t o[NPG_MAX_DIMS];
            unravel(k, *out, o);
            int t = 0;
            while (o[a] >= e[t].dims[a]) o[a] -= e[t].dims[a], t++;
            src[k] = SRC(t, ravel(o, e[t]));
        }
        return;
    }
    int64_t ind[256];
    int64_t ni = numel(c->shp);
    if (c->k == S_TAKE || c->k == S_TAKE_ALONG) {
        npg_array *ia = ind_arr(c, 0);
        double *iv = t_read(ia);
        for (int64_t k = 0; k < ni; k++) ind[k] = (int64_t)iv[k];
        free(iv);
    }
    if (c->k == S_TAKE) {
        npg_shape f = s;
        int a = c->a1 == NPG_FLAT ? 0 : norm(c->a1, nd);
        if (c->a1 == NPG_FLAT) f = (npg_shape){.ndim = 1, .dims = {numel(s)}};
        out->ndim = 0;
        for (int i = 0; i < a; i++) out->dims[out->ndim++] = f.dims[i];
        for (int i = 0; i < c->shp.ndim; i++) out->dims[out->ndim++] = c->shp.dims[i];
        for (int i = a + 1; i < f.ndim; i++) out->dims[out->ndim++] = f.dims[i];
        for (int64_t k = 0; k < numel(*out); k++) {
            int64_t o[NPG_MAX_DIMS], in[NPG_MAX_DIMS];
            unravel(k, *out, o);
            for (int i = 0; i < a; i++) in[i] = o[i];
            int64_t r = 0;
            for (int i = 0; i < c->shp.ndim; i++) r = r * c->shp.dims[i] + o[a + i];
            in[a] = ind[r] < 0 ? ind[r] + f.dims[a] : ind[r];
            for (int i = a + 1; i < f.ndim; i++) in[i] = o[i - 1 + c->shp.ndim];
            src[k] = ravel(in, f);
        }
        return;
    }
    if (c->k == S_TAKE_ALONG) {
        int a = norm(c->a1, nd);
        out->ndim = nd;
        for (int i = 0; i < nd; i++) out->dims[i] = i == a ? c->shp.dims[i] : (s.dims[i] == 1 ? c->shp.dims[i] : s.dims[i]);
        for (int64_t k = 0; k < numel(*out); k++) {
            int64_t o[NPG_MAX_DIMS], in[NPG_MAX_DIMS], ii[NPG_MAX_DIMS];
            unravel(k, *out, o);
            for (int i = 0; i < nd; i++) ii[i] = c->shp.dims[i] == 1 ? 0 : o[i], in[i] = s.dims[i] == 1 ? 0 : o[i];
            int64_t v = ind[ravel(ii, c->shp)];
            in[a] = v < 0 ? v + s.dims[a] : v;
            src[k] = ravel(in, s);
        }
        return;
    }
    if (c->k == S_BCAST || c->k == S_FLIP || c->k == S_REPEAT) {
        int a = c->k == S_REPEAT && c->a1 != NPG_FLAT ? norm(c->a1, nd) : 0;
        npg_shape f = c->k == S_REPEAT && c->a1 == NPG_FLAT ? (npg_shape){.ndim = 1, .dims = {numel(s)}} : s;
        *out = c->k == S_BCAST ? c->shp : f;
        if (c->k == S_REPEAT) out->dims[a] *= c->off;
        for (int64_t k = 0; k < numel(*out); k++) {
            int64_t o[NPG_MAX_DIMS], in[NPG_MAX_DIMS];
            unravel(k, *out, o);
            for (int i = 0; i < f.ndim; i++) {
                int oi = i + out->ndim - f.ndim;
                bool fl = c->axes.n == 0;
                for (int j = 0; j < c->axes.n; j++) fl |= norm(c->axes.axes[j], nd) == i;
                in[i] = c->k == S_BCAST ? (f.dims[i] == 1 ? 0 : o[oi]) : c->k == S_FLIP ? (fl ? f.dims[i] - 1 - o[i] : o[i])
                        : (i == a ? o[i] / c->off : o[i]);
            }
            src[k] = ravel(in, f);
        }
        return;
    }
    /* S_DIAG */
    int a1 = norm(c->a1, nd), a2 = norm(c->a2, nd);
    int64_t r0 = c->off < 0 ? -c->off : 0, c0 = c->off > 0 ? c->off : 0;
    int64_t len = s.dims[a1] - r0 < s.dims[a2] - c0 ? s.dims[a1] - r0 : s.dims[a2] - c0;
    out->ndim = 0;
    for (int i = 0; i < nd; i++)
        if (i != a1 && i != a2) out->dims[out->ndim++] = s.dims[i];
    out->dims[out->ndim++] = len > 0 ? len : 0;
    for (int64_t k = 0; k < numel(*out); k++) {
        int64_t o[NPG_MAX_DIMS], in[NPG_MAX_DIMS];
        unravel(k, *out, o);
        for (int i = 0, j = 0; i < nd; i++)
            if (i != a1 && i != a2) in[i] = o[j++];
        in[a1] = o[out->ndim - 1] + r0, in[a2] = o[out->ndim - 1] + c0;
        src[k] = ravel(in, s);
    }
}

/* ------------------------------------------------------------------------
 * Value sweep: every case x every dtype
 * ------------------------------------------------------------------------ */

static long g_checks;
static bool shares(const npg_array *y, const npg_array *base) {
    uintptr_t p = (uintptr_t)npg_data(y), b = (uintptr_t)npg_data(base);
    return npg_size(y) > 0 && p >= b && p < b + npg_nbytes(base);
}
static npg_dtype promote(npg_dtype a, npg_dtype b) { return npg_result_type(a, b); }

static void check_case(int ci, npg_dtype dt) {
    const scase *c = &CASES[ci];
    npg_scope sc = npg_scope_begin();
    npg_shape ins[3] = {c->in, c->shp, c->in2};
    int nin = c->nin ? c->nin : 1;
    npg_dtype dts[3] = {dt, ci % 3 == 0 ? NPG_FLOAT32 : dt, ci % 2 ? NPG_INT32 : dt}; /* concat/stack promote */
    double *hv[3] = {0};
    npg_array *xs[3] = {0}, *base = NULL;
    npg_dtype odt = dt;
    for (int t = 0; t < nin; t++) {
        hv[t] = malloc(sizeof(double) * (size_t)(numel(ins[t]) + 1));
        xs[t] = mk(ins[t], t == 0 ? c->v : V_C, dts[t], hv[t], t == 0 ? &base : NULL);
        odt = promote(odt, dts[t]);
    }
    char label[512], b1[96], b2[96];
    snprintf(label, sizeof label, "case %d npg_%s(%s %s %s)", ci, SNAME[c->k], npg_dtype_name(dt), sstr(c->in, b1), VNAME[c->v]);
    npg_shape so;
    int64_t *src = malloc(sizeof(int64_t) * 4096);
    host_ref(c, ins, &so, src);
    npg_array *y = call(c, xs, ci);
    g_checks++;
    cr_expect(y != NULL, "%s: NULL: %s", label, npg_last_error());
    if (y) {
        cr_expect_eq(npg_dtype_of(y), odt, "%s: dtype %s, want %s", label, npg_dtype_name(npg_dtype_of(y)), npg_dtype_name(odt));
        bool ok = same_shape(npg_shape_of(y), so);
        cr_expect(ok, "%s: shape %s, want %s", label, sstr(npg_shape_of(y), b1), sstr(so, b2));
        if (ok) {
            int64_t n = numel(so);
            double *want = malloc(sizeof(double) * (size_t)(n + 1)), *got = t_read(y);
            for (int64_t k = 0; k < n; k++) want[k] = hv[src[k] >> 40][src[k] & ((1ll << 40) - 1)];
            for (int64_t k = 0; k < n; k++)
                if (got[k] != want[k]) {
                    cr_expect(0, "%s: element %lld: got %.17g, want %.17g", label, (long long)k, got[k], want[k]);
                    break;
                }
            free(want), free(got);
        }
        if (c->view == VIEW && numel(so) > 0) cr_expect(shares(y, base), "%s: must be a view of the input", label);
        if (c->view == COPY && numel(so) > 0) cr_expect(!shares(y, base), "%s: must be a copy", label);
    }
    for (int t = 0; t < nin; t++) free(hv[t]);
    free(src);
    npg_scope_end(sc);
}

Test(shape, values_every_case_every_dtype) {
    t_require_device();
    t_live l0 = t_live_now();
    for (int ci = 0; ci < NCASES; ci++)
        for (int d = 0; d < NDTS; d++) check_case(ci, DTS[d]);
    t_assert_no_leak(l0, "shape sweep");
    cr_log_info("shape values: %ld checks", g_checks);
}

Test(shape, cases_cover_the_ops) {
    int seen = 0;
    for (int ci = 0; ci < NCASES; ci++) seen |= 1 << CASES[ci].k;
    for (int oi = 0; oi < NPG_OP_COUNT; oi++)
        if (COVERS[oi]) cr_expect((seen & COVERS[oi]) == COVERS[oi], "op %s is not covered by a case", npg__op_info[oi].name);
    for (int k = 0; k < S_COUNT; k++) cr_expect(seen & (1 << k), "no case of kind %s", SNAME[k]);
}

/* ------------------------------------------------------------------------
 * Gradients: every case in float64 (the view is built inside fn)
 * ------------------------------------------------------------------------ */

typedef struct gctx {
    const scase *c;
    int ci;
} gctx;
static npg_array *gfn(npg_array *const *in, int n, void *user) {
    const gctx *g = user;
    npg_array *xs[3] = {view_of(in[0], g->c->v), n > 1 ? in[1] : NULL, n > 2 ? in[2] : NULL};
    return call(g->c, xs, g->ci);
}

Test(shape, gradcheck_every_case) {
    t_require_device();
    t_live l0 = t_live_now();
    for (int ci = 0; ci < NCASES; ci++) {
        const scase *c = &CASES[ci];
        npg_scope sc = npg_scope_begin();
        npg_shape ins[3] = {base_shape(c->in, c->in.ndim ? c->v : V_C), c->shp, c->in2};
        npg_array *xs[3];
        int nin = c->nin ? c->nin : 1;
        for (int t = 0; t < nin; t++) {
            double *v = malloc(sizeof(double) * (size_t)(numel(ins[t]) + 1));
            for (int64_t k = 0; k < numel(ins[t]); k++) v[k] = val(k + 7 * t, NPG_FLOAT64) / 10;
            xs[t] = t_arr(v, NPG_FLOAT64, ins[t]);
            npg_set_requires_grad(xs[t], true);
            free(v);
        }
        gctx g = {c, ci};
        g_checks++;
        npg_status st = npg_gradcheck(gfn, &g, xs, nin, NULL);
        char b1[96];
        cr_expect_eq(st, NPG_OK, "gradcheck case %d npg_%s(%s %s): %s", ci, SNAME[c->k], sstr(c->in, b1), VNAME[c->v], npg_last_error());
        npg_scope_end(sc);
    }
    t_assert_no_leak(l0, "shape gradcheck");
    cr_log_info("shape gradcheck: %ld checks", g_checks);
}

/* ------------------------------------------------------------------------
 * trace, views that write through, the NPG_INDEX macro itself
 * ------------------------------------------------------------------------ */

static npg_array *trace_fn(npg_array *const *in, int n, void *user) { return npg_trace(npg_T(in[0]), -1, 0, 2); }
Test(shape, trace_and_write_through) {
    t_require_device();
    npg_scope sc = npg_scope_begin();
    double v[60];
    for (int i = 0; i < 60; i++) v[i] = i;
    npg_array *m = t_arr(v, NPG_INT32, (npg_shape)SH(4, 5));
    npg_array *t = npg_trace(m, 0, 0, 1);
    cr_assert(t && npg_dtype_of(t) == NPG_INT64, "trace of int32 sums into int64 (%s)", npg_last_error());
    t_assert_close(t, (double[]){0 + 6 + 12 + 18}, 1, 0, 0, "trace offset 0");
    t_assert_close(npg_trace(m, 2, 0, 1), (double[]){2 + 8 + 14}, 1, 0, 0, "trace offset 2");
    t_assert_close(npg_trace(m, -1, 1, 0), (double[]){1 + 7 + 13 + 19}, 1, 0, 0, "trace offset -1, axes (1,0)");
    /* the sum's dtype rule: int64 (no wrap at int8), uint64 kept (wrapping) */
    npg_array *t8 = npg_reshape(from_bits(UB64(100, 1, 2, 100), 4, NPG_INT8), (npg_shape)SH(2, 2));
    expect_bits(npg_trace(t8, 0, 0, 1), NPG_INT64, UB64(200), 1, "trace of int8 sums into int64");
    npg_array *t16 = npg_reshape(from_bits(UB64(65535, 1, 2, 65535), 4, NPG_UINT16), (npg_shape)SH(2, 2));
    expect_bits(npg_trace(t16, 0, 0, 1), NPG_INT64, UB64(131070), 1, "trace of uint16 sums into int64");
    npg_array *t64 = npg_reshape(from_bits(UB64(1ull << 63, 1, 2, (1ull << 63) + 5), 4, NPG_UINT64), (npg_shape)SH(2, 2));
    expect_bits(npg_trace(t64, 0, 0, 1), NPG_UINT64, UB64(5), 1, "trace of uint64 stays uint64 (wraps)");
    expect_bits(npg_trace(t64, 1, 0, 1), NPG_UINT64, UB64(1), 1, "trace of uint64, offset 1");
    npg_array *c = t_arr(v, NPG_FLOAT64, (npg_shape)SH(3, 4, 5));
    t_assert_close(npg_trace(c, 1, 1, 2), (double[]){1 + 7 + 13 + 19, 21 + 27 + 33 + 39, 41 + 47 + 53 + 59}, 3, 0, 0, "trace 3-d");
    npg_set_requires_grad(c, true);
    g_checks++;
    cr_expect_eq(npg_gradcheck(trace_fn, NULL, &c, 1, NULL), NPG_OK, "gradcheck trace: %s", npg_last_error());
    /* writes through a view are seen by the base, and the reverse */
    npg_array *b = t_arr(v, NPG_FLOAT32, (npg_shape)SH(3, 4));
    npg_array *w = NPG_INDEX(b, NPG_SLICE(NPG_NONE, NPG_NONE, -1), NPG_SLICE(1, NPG_NONE, 2));
    cr_assert_eq(npg_fill(w, -1), NPG_OK, "fill through a view: %s", npg_last_error());
    t_assert_close(b, (double[]){0, -1, 2, -1, 4, -1, 6, -1, 8, -1, 10, -1}, 12, 0, 0, "base after a write through a view");
    npg_setitem_scalar(b, (const npg_idx[]){NPG_I(-1), NPG_I(0)}, 2, 42);
    t_assert_close(w, (double[]){-1, -1, -1, -1, -1, -1}, 6, 0, 0, "view unchanged by an unrelated write");
    t_assert_close(NPG_INDEX(w, NPG_I(0)), (double[]){-1, -1}, 2, 0, 0, "row 0 of the view");
    t_assert_close(NPG_INDEX(b, NPG_I(-1), NPG_SLICE(NPG_NONE, 1, NPG_NONE)), (double[]){42}, 1, 0, 0, "written element");
    /* the NPG_INDEX macro with every index kind equals the table form */
    npg_array *x = t_arr(v, NPG_FLOAT64, (npg_shape)SH(3, 4, 5));
    npg_array *y1 = NPG_INDEX(x, NPG_I(-1), NPG_NEWAXIS, NPG_ELLIPSIS, NPG_SLICE(NPG_NONE, NPG_NONE, -2));
    npg_shape so;
    int64_t src[64];
    cr_assert(host_index((npg_shape)SH(3, 4, 5), (const npg_idx[]){II(-1), NA, EL, SL(NO, NO, -2)}, 4, &so, src), "host index");
    double want[64];
    for (int64_t k = 0; k < numel(so); k++) want[k] = v[src[k]];
    t_assert_shape(y1, so);
    t_assert_close(y1, want, numel(so), 0, 0, "NPG_INDEX(x, -1, None, ..., ::-2)");
    npg_scope_end(sc);
}

/* setitem / setitem_scalar: values land where NumPy puts them */
Test(shape, setitem) {
    t_require_device();
    t_live l0 = t_live_now();
    static const struct {
        npg_idx idx[4];
        int n;
        npg_shape vshape;
        vkind xv;
    } S[] = {
        {{SL(1, 4, 1), SL(NO, NO, -1)}, 2, SH(7, 1), V_C},
        {{EL, II(0)}, 2, SH(7), V_C},
        {{II(-1)}, 1, SH0, V_NEG},
        {{SL(NO, NO, -2), II(2), SL(NO, NO, 2)}, 3, SH(2), V_T},
        {{ALL_, NA, SL(1, 6, 3)}, 3, SH(5, 1, 2, 3), V_S2},
        {{SL(NO, NO, -1), SL(NO, NO, -1), SL(NO, NO, -1)}, 3, SH(5, 7, 3), V_T},
        {{SL(3, 3, 1)}, 1, SH(1), V_C},
    };
    for (int k = 0; k < (int)(sizeof S / sizeof S[0]); k++)
        for (int d = 0; d < NDTS; d++)
            for (int scalar = 0; scalar < 2; scalar++) {
                npg_scope sc = npg_scope_begin();
                npg_dtype dt = DTS[d];
                npg_shape xs = SH(5, 7, 3), so;
                double hx[105], hval[128];
                npg_array *x = mk(xs, S[k].xv, dt, hx, NULL);
                int64_t src[128];
                cr_assert(host_index(xs, S[k].idx, S[k].n, &so, src), "host index %d", k);
                for (int64_t i = 0; i < numel(S[k].vshape); i++) hval[i] = val(i + 1000, NPG_UINT8) + 0.25; /* >= 0: casts to uint8 by truncation */
                npg_array *value = t_arr(hval, NPG_FLOAT64, S[k].vshape); /* cast to x's dtype on write */
                uint64_t v0 = npg_version(x);
                npg_status st = scalar ? npg_setitem_scalar(x, S[k].idx, S[k].n, 3)
                                       : npg_setitem(x, S[k].idx, S[k].n, value);
                g_checks++;
                cr_expect_eq(st, NPG_OK, "setitem case %d %s scalar %d: %s", k, npg_dtype_name(dt), scalar, npg_last_error());
                cr_expect(npg_version(x) > v0, "setitem case %d: version not bumped", k);
                for (int64_t i = 0; i < numel(so); i++) {
                    double w = scalar ? 3 : hval[bidx(i, so, S[k].vshape)];
                    hx[src[i]] = dt == NPG_BOOL ? w != 0 : dt == NPG_FLOAT64 ? w : dt == NPG_FLOAT32 ? (double)(float)w : trunc(w);
                }
                double *got = t_read(x);
                for (int64_t i = 0; i < 105; i++)
                    if (got[i] != hx[i]) {
                        cr_expect(0, "setitem case %d %s scalar %d: element %lld: got %g, want %g", k, npg_dtype_name(dt), scalar,
                                  (long long)i, got[i], hx[i]);
                        break;
                    }
                free(got);
                npg_scope_end(sc);
            }
    t_assert_no_leak(l0, "setitem");
}

/* ------------------------------------------------------------------------
 * Errors: status, message naming the function, no leak, inputs unchanged
 * ------------------------------------------------------------------------ */

static int g_err_checks;
#define FAILS(expr, st, fname)                                                                                          \
    do {                                                                                                                \
        t_live b_ = t_live_now();                                                                                       \
        npg_clear_error();                                                                                              \
        npg_array *r_ = (expr);                                                                                         \
        g_err_checks++;                                                                                                 \
        cr_expect(r_ == NULL, "%s must fail", #expr);                                                                   \
        cr_expect_eq(npg_last_status(), st, "%s: status %s, want %s (%s)", #expr, npg_status_string(npg_last_status()), \
                     npg_status_string(st), npg_last_error());                                                          \
        cr_expect(strstr(npg_last_error(), fname) != NULL, "%s: message '%s' does not name %s", #expr, npg_last_error(), fname); \
        t_live a_ = t_live_now();                                                                                       \
        cr_expect(a_.arrays == b_.arrays && a_.storages == b_.storages, "%s: failed call leaked %lld arrays", #expr,    \
                  (long long)(a_.arrays - b_.arrays));                                                                  \
    } while (0)
#define FAILS_ST(expr, st, fname)                                                                                       \
    do {                                                                                                                \
        t_live b_ = t_live_now();                                                                                       \
        npg_clear_error();                                                                                              \
        npg_status s_ = (expr);                                                                                         \
        g_err_checks++;                                                                                                 \
        cr_expect_eq(s_, st, "%s: returned %s, want %s (%s)", #expr, npg_status_string(s_), npg_status_string(st), npg_last_error()); \
        cr_expect(strstr(npg_last_error(), fname) != NULL, "%s: message '%s' does not name %s", #expr, npg_last_error(), fname); \
        t_live a_ = t_live_now();                                                                                       \
        cr_expect(a_.arrays == b_.arrays && a_.storages == b_.storages, "%s: failed call leaked %lld arrays", #expr,    \
                  (long long)(a_.arrays - b_.arrays));                                                                  \
    } while (0)

Test(shape, errors) {
    t_require_device();
    npg_scope sc = npg_scope_begin();
    double v[24], w[30];
    for (int i = 0; i < 24; i++) v[i] = i * 0.5 - 3;
    for (int i = 0; i < 30; i++) w[i] = -i;
    npg_array *x = t_arr(v, NPG_FLOAT32, (npg_shape)SH(2, 3, 4)), *y = t_arr(w, NPG_FLOAT32, (npg_shape)SH(2, 3, 5));
    npg_array *one = t_arr(v, NPG_FLOAT32, (npg_shape)SH(4)), *z = t_arr(v, NPG_FLOAT32, (npg_shape)SH0);
    npg_array *g = t_arr(v, NPG_FLOAT64, (npg_shape)SH(2, 3));
    npg_set_requires_grad(g, true);
    npg_array *bc = npg_broadcast_to(one, (npg_shape)SH(3, 4));
    npg_array *i_bad = t_arr((double[]){0, 5}, NPG_INT64, (npg_shape)SH(2)), *i_neg = t_arr((double[]){-5}, NPG_INT32, (npg_shape)SH(1));
    npg_array *i_f = t_arr((double[]){0, 1}, NPG_FLOAT32, (npg_shape)SH(2));
    npg_array *ia_bad = t_arr((double[]){0, 1, 4, 0, 1, 2}, NPG_INT64, (npg_shape)SH(2, 3, 1));
    npg_array *ia_nd = t_arr((double[]){0, 1, 2}, NPG_INT64, (npg_shape)SH(3, 1));
    npg_array *val5 = t_arr(w, NPG_FLOAT32, (npg_shape)SH(5));
    npg_array *xy[2] = {x, y}, *xz[2] = {z, z}, *xn[2] = {x, NULL};

    FAILS(npg_reshape(x, (npg_shape)SH(5, 5)), NPG_ERR_SHAPE, "npg_reshape");
    FAILS(npg_reshape(x, (npg_shape)SH(-1, -1)), NPG_ERR_SHAPE, "npg_reshape");
    FAILS(npg_reshape(x, (npg_shape)SH(-2, -12)), NPG_ERR_SHAPE, "npg_reshape");
    FAILS(npg_permute_dims(x, (npg_axes)AX(0, 0, 1)), NPG_ERR_AXIS, "npg_permute_dims");
    FAILS(npg_permute_dims(x, (npg_axes)AX(0, 1)), NPG_ERR_AXIS, "npg_permute_dims");
    FAILS(npg_permute_dims(x, (npg_axes)AX(0, 1, 3)), NPG_ERR_AXIS, "npg_permute_dims");
    FAILS(npg_swapaxes(x, 0, 3), NPG_ERR_AXIS, "npg_swapaxes");
    FAILS(npg_matrix_transpose(one), NPG_ERR_SHAPE, "npg_matrix_transpose");
    FAILS(npg_squeeze(x, (npg_axes)AX(0)), NPG_ERR_SHAPE, "npg_squeeze");
    FAILS(npg_squeeze(x, (npg_axes)AX(3)), NPG_ERR_AXIS, "npg_squeeze");
    FAILS(npg_expand_dims(x, 4), NPG_ERR_AXIS, "npg_expand_dims");
    FAILS(npg_expand_dims(x, -5), NPG_ERR_AXIS, "npg_expand_dims");
    FAILS(npg_broadcast_to(x, (npg_shape)SH(3, 4)), NPG_ERR_SHAPE, "npg_broadcast_to");
    FAILS(npg_broadcast_to(x, (npg_shape)SH(2, 5, 4)), NPG_ERR_SHAPE, "npg_broadcast_to");
    FAILS(npg_flip(x, (npg_axes)AX(3)), NPG_ERR_AXIS, "npg_flip");
    FAILS(npg_repeat(x, -1, 0), NPG_ERR_INVALID_ARG, "npg_repeat");
    FAILS(npg_repeat(x, 2, 3), NPG_ERR_AXIS, "npg_repeat");
    FAILS(npg_concat(xy, 2, 0), NPG_ERR_SHAPE, "npg_concat");
    FAILS(npg_concat(xy, 2, 3), NPG_ERR_AXIS, "npg_concat");
    FAILS(npg_concat(xz, 2, 0), NPG_ERR_SHAPE, "npg_concat");
    FAILS(npg_concat(xy, 0, 0), NPG_ERR_INVALID_ARG, "npg_concat");
    FAILS(npg_concat(xn, 2, 0), NPG_ERR_NULL_ARG, "npg_concat");
    FAILS(npg_stack(xy, 2, 0), NPG_ERR_SHAPE, "npg_stack");
    FAILS(npg_stack(xy, 1, 4), NPG_ERR_AXIS, "npg_stack");
    FAILS(npg_diagonal(x, 0, 1, 1), NPG_ERR_AXIS, "npg_diagonal");
    FAILS(npg_diagonal(x, 0, 0, 3), NPG_ERR_AXIS, "npg_diagonal");
    FAILS(npg_diagonal(one, 0, 0, 1), NPG_ERR_SHAPE, "npg_diagonal");
    FAILS(npg_trace(one, 0, 0, 1), NPG_ERR_SHAPE, "npg_trace");
    FAILS(NPG_INDEX(x, NPG_I(2)), NPG_ERR_INDEX, "npg_index");
    FAILS(NPG_INDEX(x, NPG_ALL, NPG_I(-4)), NPG_ERR_INDEX, "npg_index");
    FAILS(NPG_INDEX(x, NPG_I(0), NPG_I(0), NPG_I(0), NPG_I(0)), NPG_ERR_INDEX, "npg_index");
    FAILS(NPG_INDEX(x, NPG_ELLIPSIS, NPG_I(0), NPG_ELLIPSIS), NPG_ERR_INDEX, "npg_index");
    FAILS(NPG_INDEX(x, NPG_SLICE(0, 2, 0)), NPG_ERR_INVALID_ARG, "npg_index");
    FAILS(NPG_INDEX(z, NPG_I(0)), NPG_ERR_INDEX, "npg_index");
    if (t_dev().type == NPG_DEVICE_CUDA) {
        /* npg.h: CUDA kernels report an out-of-range index at the next
         * synchronising call, not on the (asynchronous) call itself */
        for (int k = 0; k < 3; k++) {
            npg_clear_error();
            npg_array *r = k == 0 ? npg_take(x, i_bad, 2) : k == 1 ? npg_take(x, i_neg, 2) : npg_take_along_axis(x, ia_bad, 2);
            npg_status st = r ? npg_synchronize(t_dev()) : npg_last_status();
            cr_expect_eq(st, NPG_ERR_INDEX, "deferred index error %d: status %d (%s)", k, st, npg_last_error());
            npg_free(r);
        }
    } else {
        FAILS(npg_take(x, i_bad, 2), NPG_ERR_INDEX, "npg_take");
        FAILS(npg_take(x, i_neg, 2), NPG_ERR_INDEX, "npg_take");
        FAILS(npg_take_along_axis(x, ia_bad, 2), NPG_ERR_INDEX, "npg_take_along_axis");
    }
    FAILS(npg_take(x, i_f, 0), NPG_ERR_DTYPE, "npg_take");
    FAILS(npg_take(x, i_bad, 3), NPG_ERR_AXIS, "npg_take");
    FAILS(npg_take_along_axis(x, ia_nd, 2), NPG_ERR_SHAPE, "npg_take_along_axis");
    FAILS(npg_take_along_axis(x, i_f, 0), NPG_ERR_SHAPE, "npg_take_along_axis");
    FAILS(npg_take_along_axis(one, i_f, 0), NPG_ERR_DTYPE, "npg_take_along_axis");
    FAILS(npg_take_along_axis(x, ia_bad, -4), NPG_ERR_AXIS, "npg_take_along_axis");
    const npg_idx i0[] = {NPG_I(0)}, i9[] = {NPG_I(9)}, all[] = {NPG_ALL};
    FAILS_ST(npg_setitem_scalar(g, i0, 1, 1), NPG_ERR_INPLACE, "npg_setitem_scalar");
    FAILS_ST(npg_setitem(g, i0, 1, one), NPG_ERR_INPLACE, "npg_setitem");
    FAILS_ST(npg_setitem_scalar(bc, all, 1, 1), NPG_ERR_INPLACE, "npg_setitem_scalar");
    FAILS_ST(npg_setitem(x, i0, 1, val5), NPG_ERR_SHAPE, "npg_setitem");
    FAILS_ST(npg_setitem(x, i9, 1, one), NPG_ERR_INDEX, "npg_setitem");
    FAILS_ST(npg_setitem(x, i0, 1, NULL), NPG_ERR_NULL_ARG, "npg_setitem");
    FAILS_ST(npg_setitem(NULL, i0, 1, one), NPG_ERR_NULL_ARG, "npg_setitem");
    FAILS_ST(npg_setitem_scalar(NULL, i0, 1, 1), NPG_ERR_NULL_ARG, "npg_setitem_scalar");
    /* NULL inputs; and a NULL from a failed call keeps that call's error */
    FAILS(npg_reshape(NULL, (npg_shape)SH(1)), NPG_ERR_NULL_ARG, "npg_reshape");
    FAILS(npg_flatten(NULL), NPG_ERR_NULL_ARG, "npg_flatten");
    FAILS(npg_permute_dims(NULL, (npg_axes)AX(0)), NPG_ERR_NULL_ARG, "npg_permute_dims");
    FAILS(npg_T(NULL), NPG_ERR_NULL_ARG, "npg_T");
    FAILS(npg_matrix_transpose(NULL), NPG_ERR_NULL_ARG, "npg_matrix_transpose");
    FAILS(npg_swapaxes(NULL, 0, 1), NPG_ERR_NULL_ARG, "npg_swapaxes");
    FAILS(npg_squeeze(NULL, NPG_ALL_AXES), NPG_ERR_NULL_ARG, "npg_squeeze");
    FAILS(npg_expand_dims(NULL, 0), NPG_ERR_NULL_ARG, "npg_expand_dims");
    FAILS(npg_broadcast_to(NULL, (npg_shape)SH(1)), NPG_ERR_NULL_ARG, "npg_broadcast_to");
    FAILS(npg_flip(NULL, NPG_ALL_AXES), NPG_ERR_NULL_ARG, "npg_flip");
    FAILS(npg_repeat(NULL, 2, 0), NPG_ERR_NULL_ARG, "npg_repeat");
    FAILS(npg_concat(NULL, 2, 0), NPG_ERR_NULL_ARG, "npg_concat");
    FAILS(npg_stack(NULL, 2, 0), NPG_ERR_NULL_ARG, "npg_stack");
    FAILS(npg_diagonal(NULL, 0, 0, 1), NPG_ERR_NULL_ARG, "npg_diagonal");
    FAILS(npg_trace(NULL, 0, 0, 1), NPG_ERR_NULL_ARG, "npg_trace");
    FAILS(npg_contiguous(NULL), NPG_ERR_NULL_ARG, "npg_contiguous");
    FAILS(NPG_INDEX(NULL, NPG_I(0)), NPG_ERR_NULL_ARG, "npg_index");
    FAILS(npg_take(NULL, i_bad, 0), NPG_ERR_NULL_ARG, "npg_take");
    FAILS(npg_take(x, NULL, 0), NPG_ERR_NULL_ARG, "npg_take");
    FAILS(npg_take_along_axis(NULL, ia_bad, 0), NPG_ERR_NULL_ARG, "npg_take_along_axis");
    FAILS(npg_flip(npg_reshape(npg_matmul(x, y), (npg_shape)SH(-1)), NPG_ALL_AXES), NPG_ERR_SHAPE, "npg_matmul");
    FAILS(npg_take(x, npg_argsort(NULL, 0, false), 0), NPG_ERR_NULL_ARG, "npg_argsort");
    double *got = t_read(x);
    t_assert_close_buf(got, v, 24, 0, 0, "x unchanged by the failed calls");
    free(got);
    got = t_read(g);
    t_assert_close_buf(got, v, 6, 0, 0, "g unchanged by the refused writes");
    free(got);
    got = t_read(one);
    t_assert_close_buf(got, v, 4, 0, 0, "broadcast base unchanged by the refused write");
    free(got);
    cr_log_info("shape errors: %d checks", g_err_checks);
    npg_clear_error();
    npg_scope_end(sc);
}

/* Found by tests/common/test_fuzz.c: a negative index count, steps so large
 * that stride * step overflowed, requested shapes whose size overflows
 * int64 (also with a length-0 axis), and more than NPG_MAX_DIMS axes in a
 * broadcast target (its message read past the shape). */
Test(shape, huge_steps_and_shapes_negative_counts) {
    t_require_device();
    npg_scope sc = npg_scope_begin();
    double v[4] = {1, 2, 3, 4};
    npg_array *x = t_arr(v, NPG_FLOAT64, (npg_shape)SH(4)), *x2 = t_arr(v, NPG_FLOAT64, (npg_shape)SH(2, 2));
    npg_array *e = t_arr(v, NPG_FLOAT32, (npg_shape)SH(0));
    const npg_idx i0[] = {NPG_I(0)};
    FAILS(npg_index(x, i0, -1), NPG_ERR_INVALID_ARG, "npg_index");
    FAILS_ST(npg_setitem_scalar(x, i0, -1, 5), NPG_ERR_INVALID_ARG, "npg_setitem_scalar");
    const int64_t steps[] = {INT64_MAX, INT64_MIN + 1, (int64_t)1 << 62};
    for (int k = 0; k < 3; k++) {
        npg_array *r = NPG_INDEX(x2, NPG_ALL, NPG_SLICE(NPG_NONE, NPG_NONE, steps[k]));
        t_assert_shape(r, (npg_shape)SH(2, 1));
        double want[2] = {steps[k] > 0 ? 1 : 2, steps[k] > 0 ? 3 : 4};
        t_assert_close(r, want, 2, 0, 0, "one element per huge step");
    }
    const int64_t big = (int64_t)1 << 62;
    FAILS(npg_reshape(e, (npg_shape)SH(big, big, 0)), NPG_ERR_SHAPE, "npg_reshape");
    FAILS(npg_reshape(x, (npg_shape)SH(big, big, -1)), NPG_ERR_SHAPE, "npg_reshape");
    FAILS(npg_broadcast_to(x, (npg_shape)SH(big, big, 4)), NPG_ERR_SHAPE, "npg_broadcast_to");
    FAILS(npg_broadcast_to(x, (npg_shape){.ndim = NPG_MAX_DIMS + 1}), NPG_ERR_SHAPE, "npg_broadcast_to");
    FAILS(npg_repeat(x, big, 0), NPG_ERR_SHAPE, "npg_repeat");
    FAILS(npg_repeat(e, big, 0), NPG_ERR_SHAPE, "npg_repeat"); /* (0, 2^62) counts as too large, as in npg_zeros */
    double *got = t_read(x);
    t_assert_close_buf(got, v, 4, 0, 0, "x unchanged by the failed calls");
    free(got);
    npg_clear_error();
    npg_scope_end(sc);
}
