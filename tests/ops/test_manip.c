/*
 * test_manip.c — the composed array API / NumPy functions of
 * src/common/ops_manip.c on the device under test: moveaxis, roll, tile,
 * unstack, broadcast_arrays, meshgrid, tril, triu, diff, tensordot and
 * einsum. Values against float64 references computed here (NumPy's
 * documented examples, and a naive einsum over every label assignment), on
 * odd, 0-d, empty and non-contiguous inputs and several dtypes; gradients
 * through npg_gradcheck; every argument error.
 */
#include "test_util.h"
#include "ops_shared.h"

static void setup(void) { t_require_device(); }
TestSuite(manip, .init = setup);

#define OPT(...) NPG_OPTS(.device = t_dev(), __VA_ARGS__)

/* 0, 1, 2, ... (n values) as dtype, shaped. */
static npg_array *iota(npg_dtype dt, npg_shape shape) {
    double v[4096];
    int64_t n = 1;
    for (int i = 0; i < shape.ndim; i++) n *= shape.dims[i];
    cr_assert_leq(n, 4096);
    for (int64_t i = 0; i < n; i++) v[i] = (double)i;
    return t_arr(v, dt, shape);
}

static npg_array *randn64(npg_shape shape, uint64_t seed) {
    double v[4096];
    int64_t n = 1;
    for (int i = 0; i < shape.ndim; i++) n *= shape.dims[i];
    t_fill_uniform(v, n, -2, 2, seed);
    npg_array *x = t_arr(v, NPG_FLOAT64, shape);
    cr_assert_eq(npg_set_requires_grad(x, true), NPG_OK);
    return x;
}

static void expect(npg_array *x, npg_shape shape, const double *want, const char *what) {
    cr_assert_not_null(x, "%s: %s", what, npg_last_error());
    t_assert_shape(x, shape);
    int64_t n = 1;
    for (int i = 0; i < shape.ndim; i++) n *= shape.dims[i];
    if (n) t_assert_close(x, want, n, 1e-12, 1e-12, what);
}

/* ---- moveaxis, unstack, broadcast_arrays, meshgrid ---------------------- */

Test(manip, moveaxis_matches_numpy) {
    npg_scope s = npg_scope_begin();
    npg_array *x = iota(NPG_FLOAT32, NPG_SHAPE(3, 4, 5));
    t_assert_shape(npg_moveaxis(x, NPG_AXES(0), NPG_AXES(-1)), NPG_SHAPE(4, 5, 3));
    t_assert_shape(npg_moveaxis(x, NPG_AXES(-1), NPG_AXES(0)), NPG_SHAPE(5, 3, 4));
    t_assert_shape(npg_moveaxis(x, NPG_AXES(0, 1), NPG_AXES(-1, -2)), NPG_SHAPE(5, 4, 3));
    t_assert_shape(npg_moveaxis(x, NPG_AXES(0, 1, 2), NPG_AXES(-1, -2, -3)), NPG_SHAPE(5, 4, 3));
    /* values: moveaxis(x, 0, -1)[j, k, i] == x[i, j, k] */
    npg_array *m = npg_moveaxis(x, NPG_AXES(0), NPG_AXES(-1));
    double *got = t_read(m);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++)
            for (int k = 0; k < 5; k++) cr_assert_eq(got[(j * 5 + k) * 3 + i], (i * 4 + j) * 5 + k);
    free(got);
    cr_assert_null(npg_moveaxis(x, NPG_AXES(0, 0), NPG_AXES(1, 2)));
    t_assert_error(NPG_ERR_AXIS, "repeated");
    npg_clear_error();
    cr_assert_null(npg_moveaxis(x, NPG_AXES(0), NPG_AXES(1, 2)));
    t_assert_error(NPG_ERR_AXIS, "1 source axes but 2");
    npg_clear_error();
    cr_assert_null(npg_moveaxis(x, NPG_AXES(3), NPG_AXES(0)));
    cr_assert_eq(npg_last_status(), NPG_ERR_AXIS);
    npg_clear_error();
    npg_scope_end(s);
}

Test(manip, unstack_broadcast_arrays_meshgrid) {
    t_live live = t_live_now();
    npg_scope s = npg_scope_begin();
    npg_array *x = iota(NPG_INT32, NPG_SHAPE(2, 3));
    npg_array *parts[3];
    cr_assert_eq(npg_unstack(x, 1, parts, 3), NPG_OK, "%s", npg_last_error());
    for (int j = 0; j < 3; j++) {
        double w[2] = {j, 3 + j};
        expect(parts[j], NPG_SHAPE(2), w, "unstack axis 1");
    }
    cr_assert_eq(npg_unstack(x, 0, parts, 3), NPG_ERR_SHAPE);
    cr_assert(parts[0] == NULL && parts[1] == NULL && parts[2] == NULL);
    npg_clear_error();
    cr_assert_eq(npg_unstack(npg_scalar(1, OPT()), 0, parts, 1), NPG_ERR_AXIS);
    npg_clear_error();

    npg_array *in[3] = {iota(NPG_FLOAT64, NPG_SHAPE(3, 1)), iota(NPG_INT64, NPG_SHAPE(1, 4)), npg_scalar(7, OPT())};
    npg_array *b[3];
    cr_assert_eq(npg_broadcast_arrays(in, 3, b), NPG_OK, "%s", npg_last_error());
    double w0[12], w1[12], w2[12];
    for (int i = 0; i < 12; i++) w0[i] = i / 4, w1[i] = i % 4, w2[i] = 7;
    expect(b[0], NPG_SHAPE(3, 4), w0, "broadcast 0");
    expect(b[1], NPG_SHAPE(3, 4), w1, "broadcast 1");
    expect(b[2], NPG_SHAPE(3, 4), w2, "broadcast 2");
    cr_assert_eq(npg_dtype_of(b[1]), NPG_INT64, "dtypes are kept");
    npg_array *bad[2] = {iota(NPG_FLOAT32, NPG_SHAPE(3)), iota(NPG_FLOAT32, NPG_SHAPE(4))};
    cr_assert_eq(npg_broadcast_arrays(bad, 2, b), NPG_ERR_SHAPE);
    cr_assert(b[0] == NULL && b[1] == NULL);
    npg_clear_error();

    /* meshgrid, NumPy's example: x = [0, 1, 2], y = [0, 1] */
    npg_array *xy[3] = {iota(NPG_FLOAT32, NPG_SHAPE(3)), iota(NPG_FLOAT32, NPG_SHAPE(2)),
                        iota(NPG_FLOAT32, NPG_SHAPE(4))};
    npg_array *g[3];
    cr_assert_eq(npg_meshgrid(xy, 2, NULL, g), NPG_OK, "%s", npg_last_error());
    double gx[6] = {0, 1, 2, 0, 1, 2}, gy[6] = {0, 0, 0, 1, 1, 1};
    expect(g[0], NPG_SHAPE(2, 3), gx, "meshgrid xy X");
    expect(g[1], NPG_SHAPE(2, 3), gy, "meshgrid xy Y");
    cr_assert_eq(npg_meshgrid(xy, 2, "ij", g), NPG_OK);
    double ix[6] = {0, 0, 1, 1, 2, 2}, iy[6] = {0, 1, 0, 1, 0, 1};
    expect(g[0], NPG_SHAPE(3, 2), ix, "meshgrid ij X");
    expect(g[1], NPG_SHAPE(3, 2), iy, "meshgrid ij Y");
    cr_assert_eq(npg_meshgrid(xy, 3, "xy", g), NPG_OK);
    t_assert_shape(g[2], NPG_SHAPE(2, 3, 4));
    double *z = t_read(g[0]);
    cr_assert_eq(z[(1 * 3 + 2) * 4 + 3], 2, "X[1, 2, 3] is x[2]");
    free(z);
    cr_assert_eq(npg_meshgrid(xy, 2, "yx", g), NPG_ERR_INVALID_ARG);
    cr_assert(g[0] == NULL && g[1] == NULL);
    npg_clear_error();
    npg_array *two_d[1] = {iota(NPG_FLOAT32, NPG_SHAPE(2, 2))};
    cr_assert_eq(npg_meshgrid(two_d, 1, NULL, g), NPG_ERR_SHAPE);
    npg_clear_error();
    npg_scope_end(s);
    t_assert_no_leak(live, "unstack, broadcast_arrays, meshgrid");
}

/* ---- roll, tile, diff, tril, triu ------------------------------------------ */

static npg_array *roll2(npg_array *const *in, int n, void *u) {
    (void)n, (void)u;
    return npg_roll(in[0], 4, 1);
}
static npg_array *tile_fn(npg_array *const *in, int n, void *u) {
    (void)n, (void)u;
    return npg_tile(in[0], NPG_SHAPE(2, 1, 3));
}
static npg_array *diff_fn(npg_array *const *in, int n, void *u) {
    (void)n, (void)u;
    return npg_diff(in[0], 2, 0);
}
static npg_array *tril_fn(npg_array *const *in, int n, void *u) {
    (void)n, (void)u;
    return npg_multiply(npg_tril(in[0], -1), npg_triu(in[0], 1));
}

Test(manip, roll_values_and_gradient) {
    t_live live = t_live_now();
    npg_scope s = npg_scope_begin();
    npg_array *x = iota(NPG_INT64, NPG_SHAPE(10));
    double w[10];
    for (int i = 0; i < 10; i++) w[i] = (i + 8) % 10;
    expect(npg_roll(x, 2, 0), NPG_SHAPE(10), w, "roll 2");
    expect(npg_roll(x, 22, -1), NPG_SHAPE(10), w, "roll 22");
    for (int i = 0; i < 10; i++) w[i] = (i + 2) % 10;
    expect(npg_roll(x, -2, 0), NPG_SHAPE(10), w, "roll -2");
    /* (2, 5): along axis 1, and flattened (NumPy's examples) */
    npg_array *x2 = iota(NPG_FLOAT32, NPG_SHAPE(2, 5));
    double a1[10] = {4, 0, 1, 2, 3, 9, 5, 6, 7, 8}, fl[10] = {9, 0, 1, 2, 3, 4, 5, 6, 7, 8};
    expect(npg_roll(x2, 1, 1), NPG_SHAPE(2, 5), a1, "roll axis 1");
    expect(npg_roll(x2, 1, NPG_FLAT), NPG_SHAPE(2, 5), fl, "roll flattened");
    /* non-contiguous: the transpose (5, 2) rolled along axis 0 */
    double tw[10] = {4, 9, 0, 5, 1, 6, 2, 7, 3, 8};
    expect(npg_roll(npg_T(x2), 1, 0), NPG_SHAPE(5, 2), tw, "roll of a transpose");
    /* 0-d and empty */
    double one = 5;
    expect(npg_roll(npg_scalar(5, OPT()), 3, NPG_FLAT), NPG_SHAPE0, &one, "roll 0-d");
    expect(npg_roll(iota(NPG_FLOAT32, NPG_SHAPE(0, 3)), 1, 0), NPG_SHAPE(0, 3), NULL, "roll empty");
    cr_assert_null(npg_roll(x2, 1, 2));
    cr_assert_eq(npg_last_status(), NPG_ERR_AXIS);
    npg_clear_error();
    npg_array *g = randn64(NPG_SHAPE(3, 7), 11);
    cr_assert_eq(npg_gradcheck(roll2, NULL, &g, 1, NULL), NPG_OK, "%s", npg_last_error());
    npg_scope_end(s);
    t_assert_no_leak(live, "roll");
}

Test(manip, tile_matches_numpy) {
    t_live live = t_live_now();
    npg_scope s = npg_scope_begin();
    npg_array *a = iota(NPG_INT32, NPG_SHAPE(3));
    double w1[6] = {0, 1, 2, 0, 1, 2};
    expect(npg_tile(a, NPG_SHAPE(2)), NPG_SHAPE(6), w1, "tile(a, 2)");
    double w2[12] = {0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2};
    expect(npg_tile(a, NPG_SHAPE(2, 2)), NPG_SHAPE(2, 6), w2, "tile(a, (2, 2))");
    expect(npg_tile(a, NPG_SHAPE(2, 1, 2)), NPG_SHAPE(2, 1, 6), w2, "tile(a, (2, 1, 2))");
    npg_array *b = iota(NPG_FLOAT64, NPG_SHAPE(2, 2));
    double w3[8] = {0, 1, 0, 1, 2, 3, 2, 3};
    expect(npg_tile(b, NPG_SHAPE(2)), NPG_SHAPE(2, 4), w3, "tile(b, 2)");
    double w4[8] = {0, 1, 2, 3, 0, 1, 2, 3};
    expect(npg_tile(b, NPG_SHAPE(2, 1)), NPG_SHAPE(4, 2), w4, "tile(b, (2, 1))");
    /* a transposed input, reps of 1 (still a copy), 0 reps, 0-d */
    double w5[8] = {0, 2, 0, 2, 1, 3, 1, 3};
    expect(npg_tile(npg_T(b), NPG_SHAPE(1, 2)), NPG_SHAPE(2, 4), w5, "tile of a transpose");
    npg_array *same = npg_tile(b, NPG_SHAPE(1, 1));
    cr_assert_neq(npg_data(same), npg_data(b), "tile copies");
    expect(npg_tile(b, NPG_SHAPE(0, 3)), NPG_SHAPE(0, 6), NULL, "0 reps");
    double w6[3] = {4, 4, 4};
    expect(npg_tile(npg_scalar(4, OPT()), NPG_SHAPE(3)), NPG_SHAPE(3), w6, "tile of 0-d");
    cr_assert_null(npg_tile(b, NPG_SHAPE(-1)));
    t_assert_error(NPG_ERR_INVALID_ARG, "negative");
    npg_clear_error();
    npg_array *g = randn64(NPG_SHAPE(3, 2), 12);
    cr_assert_eq(npg_gradcheck(tile_fn, NULL, &g, 1, NULL), NPG_OK, "%s", npg_last_error());
    npg_scope_end(s);
    t_assert_no_leak(live, "tile");
}

Test(manip, diff_values_and_gradient) {
    t_live live = t_live_now();
    npg_scope s = npg_scope_begin();
    double v[5] = {1, 2, 4, 7, 0};
    npg_array *x = t_arr(v, NPG_INT64, NPG_SHAPE(5));
    double d1[4] = {1, 2, 3, -7}, d2[3] = {1, 1, -10};
    expect(npg_diff(x, 1, -1), NPG_SHAPE(4), d1, "diff n=1");
    expect(npg_diff(x, 2, 0), NPG_SHAPE(3), d2, "diff n=2");
    expect(npg_diff(x, 0, 0), NPG_SHAPE(5), v, "diff n=0");
    expect(npg_diff(x, 7, 0), NPG_SHAPE(0), NULL, "diff n > len");
    double m[6] = {1, 3, 6, 10, 0, 5};
    npg_array *x2 = t_arr(m, NPG_FLOAT32, NPG_SHAPE(2, 3));
    double a0[3] = {9, -3, -1}, a1[4] = {2, 3, -10, 5}, at[4] = {2, -10, 3, 5};
    expect(npg_diff(x2, 1, 0), NPG_SHAPE(1, 3), a0, "diff axis 0");
    expect(npg_diff(x2, 1, 1), NPG_SHAPE(2, 2), a1, "diff axis 1");
    expect(npg_diff(npg_T(x2), 1, 0), NPG_SHAPE(2, 2), at, "diff of a transpose");
    double bv[4] = {1, 1, 0, 1}, bw[3] = {0, 1, 1};
    npg_array *bd = npg_diff(t_arr(bv, NPG_BOOL, NPG_SHAPE(4)), 1, 0);
    expect(bd, NPG_SHAPE(3), bw, "diff of bools");
    cr_assert_eq(npg_dtype_of(bd), NPG_BOOL);
    /* integers keep their dtype and wrap (NumPy's diff of unsigned values) */
    const uint64_t H = 1ull << 63;
    expect_bits(npg_diff(from_bits((const uint64_t[]){1, 0, 65535}, 3, NPG_UINT16), 1, 0), NPG_UINT16, (const uint64_t[]){65535, 65535}, 2,
                "diff of uint16 wraps");
    expect_bits(npg_diff(from_bits((const uint64_t[]){(uint64_t)-128, 127, 0}, 3, NPG_INT8), 1, 0), NPG_INT8,
                (const uint64_t[]){(uint64_t)-1, (uint64_t)-127}, 2, "diff of int8 wraps");
    expect_bits(npg_diff(from_bits((const uint64_t[]){0, H, 1}, 3, NPG_UINT64), 1, 0), NPG_UINT64, (const uint64_t[]){H, H + 1}, 2,
                "diff of uint64");
    expect_bits(npg_diff(from_bits((const uint64_t[]){0, H, 1}, 3, NPG_UINT64), 2, 0), NPG_UINT64, (const uint64_t[]){1}, 1,
                "diff n=2 of uint64");
    expect_bits(npg_diff(from_bits((const uint64_t[]){0, 4294967295u, 1}, 3, NPG_UINT32), 1, 0), NPG_UINT32,
                (const uint64_t[]){4294967295u, 2}, 2, "diff of uint32 wraps");
    cr_assert_null(npg_diff(x, -1, 0));
    t_assert_error(NPG_ERR_INVALID_ARG, "n is -1");
    npg_clear_error();
    cr_assert_null(npg_diff(npg_scalar(1, OPT()), 1, 0));
    cr_assert_eq(npg_last_status(), NPG_ERR_AXIS);
    npg_clear_error();
    npg_array *g = randn64(NPG_SHAPE(6, 3), 13);
    cr_assert_eq(npg_gradcheck(diff_fn, NULL, &g, 1, NULL), NPG_OK, "%s", npg_last_error());
    npg_scope_end(s);
    t_assert_no_leak(live, "diff");
}

Test(manip, tril_triu_values_and_gradient) {
    t_live live = t_live_now();
    npg_scope s = npg_scope_begin();
    const npg_dtype dts[] = {NPG_INT32, NPG_FLOAT32, NPG_FLOAT64, NPG_BOOL, NPG_INT8, NPG_INT16, NPG_UINT16, NPG_UINT32, NPG_UINT64, NPG_UINT8};
    for (int d = 0; d < (int)(sizeof dts / sizeof dts[0]); d++) {
        npg_array *x = npg_add_scalar(iota(dts[d] == NPG_BOOL ? NPG_INT32 : dts[d], NPG_SHAPE(2, 3, 4)), 1);
        if (dts[d] == NPG_BOOL) x = npg_astype(x, NPG_BOOL);
        for (int64_t k = -4; k <= 4; k++) {
            double wl[24], wu[24];
            for (int b = 0; b < 2; b++)
                for (int r = 0; r < 3; r++)
                    for (int c = 0; c < 4; c++) {
                        int i = (b * 3 + r) * 4 + c;
                        double v = dts[d] == NPG_BOOL ? 1 : i + 1;
                        wl[i] = c - r <= k ? v : 0;
                        wu[i] = c - r >= k ? v : 0;
                    }
            npg_array *l = npg_tril(x, k), *u = npg_triu(x, k);
            expect(l, NPG_SHAPE(2, 3, 4), wl, "tril");
            expect(u, NPG_SHAPE(2, 3, 4), wu, "triu");
            cr_assert_eq(npg_dtype_of(l), dts[d]);
        }
    }
    /* a transposed (non-contiguous) input and an empty one */
    npg_array *t = npg_T(iota(NPG_FLOAT64, NPG_SHAPE(3, 2))); /* (2, 3): [[0, 2, 4], [1, 3, 5]] */
    double wt[6] = {0, 0, 0, 1, 3, 0};
    expect(npg_tril(t, 0), NPG_SHAPE(2, 3), wt, "tril of a transpose");
    expect(npg_triu(iota(NPG_FLOAT32, NPG_SHAPE(0, 3)), 0), NPG_SHAPE(0, 3), NULL, "triu of an empty array");
    cr_assert_null(npg_tril(iota(NPG_FLOAT32, NPG_SHAPE(3)), 0));
    t_assert_error(NPG_ERR_SHAPE, "at least 2");
    npg_clear_error();
    npg_array *g = randn64(NPG_SHAPE(4, 5), 14);
    cr_assert_eq(npg_gradcheck(tril_fn, NULL, &g, 1, NULL), NPG_OK, "%s", npg_last_error());
    npg_scope_end(s);
    t_assert_no_leak(live, "tril / triu");
}

/* ---- tensordot and einsum ----------------------------------------------------- */

/* A naive einsum over every assignment of the letters (no ellipsis): the
 * reference for npg_einsum and npg_tensordot. */
static double *naive_einsum(const char *sub, npg_array *const *ops, int n, npg_shape *out_shape) {
    int lab[8][8], nl[8] = {0}, out[8], nout = 0, count[52] = {0};
    int64_t size[52] = {0};
    const char *p = sub;
    for (int i = 0; i < n; i++, p++) {
        for (; *p && *p != ',' && *p != '-'; p++) {
            int l = *p >= 'a' ? *p - 'a' : *p - 'A' + 26;
            size[l] = npg_shape_of(ops[i]).dims[nl[i]];
            lab[i][nl[i]++] = l;
            count[l]++;
        }
        if (*p == '-') break;
    }
    const char *arrow = strstr(sub, "->");
    if (arrow) {
        for (const char *o = arrow + 2; *o; o++) out[nout++] = *o >= 'a' ? *o - 'a' : *o - 'A' + 26;
    } else {
        for (int k = 0; k < 52; k++) { /* NumPy's order: 'A'-'Z' before 'a'-'z' */
            int l = (k + 26) % 52;
            if (count[l] == 1) out[nout++] = l;
        }
    }
    int used[52], nused = 0;
    for (int l = 0; l < 52; l++)
        if (count[l]) used[nused++] = l;
    out_shape->ndim = nout;
    int64_t total = 1;
    for (int k = 0; k < nout; k++) total *= out_shape->dims[k] = size[out[k]];
    double *res = calloc((size_t)(total ? total : 1), sizeof *res), *vals[8];
    for (int i = 0; i < n; i++) vals[i] = t_read(ops[i]);
    int64_t idx[52] = {0};
    for (;;) {
        double prod = 1;
        for (int i = 0; i < n; i++) {
            int64_t off = 0;
            for (int k = 0; k < nl[i]; k++) off = off * size[lab[i][k]] + idx[lab[i][k]];
            prod *= vals[i][off];
        }
        int64_t o = 0;
        for (int k = 0; k < nout; k++) o = o * size[out[k]] + idx[out[k]];
        if (total) res[o] += prod;
        int u = nused - 1; /* next assignment */
        for (; u >= 0; u--) {
            if (++idx[used[u]] < size[used[u]]) break;
            idx[used[u]] = 0;
        }
        if (u < 0) break;
        bool empty = false;
        for (int k = 0; k < nused; k++) empty |= size[used[k]] == 0;
        if (empty) break;
    }
    for (int i = 0; i < n; i++) free(vals[i]);
    return res;
}

static void check_einsum(const char *sub, npg_array *const *ops, int n) {
    npg_shape shape;
    double *want = naive_einsum(sub, ops, n, &shape);
    npg_array *r = npg_einsum(sub, ops, n);
    char what[96];
    snprintf(what, sizeof what, "einsum '%s'", sub);
    expect(r, shape, want, what);
    free(want);
}

Test(manip, einsum_against_naive_loops) {
    t_live live = t_live_now();
    npg_scope s = npg_scope_begin();
    npg_array *A = npg_add_scalar(iota(NPG_FLOAT64, NPG_SHAPE(3, 4)), -5);
    npg_array *B = npg_multiply_scalar(iota(NPG_FLOAT64, NPG_SHAPE(4, 5)), 0.5);
    npg_array *Q = iota(NPG_FLOAT64, NPG_SHAPE(4, 4));
    npg_array *v3 = iota(NPG_FLOAT64, NPG_SHAPE(3)), *v4 = npg_add_scalar(iota(NPG_FLOAT64, NPG_SHAPE(4)), 1);
    npg_array *T = npg_add_scalar(iota(NPG_FLOAT64, NPG_SHAPE(2, 3, 4)), -7);
    npg_array *U = iota(NPG_FLOAT64, NPG_SHAPE(2, 4, 5));
    npg_array *C = npg_multiply_scalar(iota(NPG_FLOAT64, NPG_SHAPE(5, 2)), -1);
    check_einsum("ij,jk->ik", (npg_array *[]){A, B}, 2);
    check_einsum("ij,jk", (npg_array *[]){A, B}, 2);
    check_einsum("ij,jk->ki", (npg_array *[]){A, B}, 2);
    check_einsum("bij,bjk->bik", (npg_array *[]){T, U}, 2);
    check_einsum("bij,bjk->ik", (npg_array *[]){T, U}, 2);
    check_einsum("ij,jk,kl->il", (npg_array *[]){A, B, C}, 3);
    check_einsum("ij,jk,kl->", (npg_array *[]){A, B, C}, 3);
    check_einsum("i,j->ij", (npg_array *[]){v3, v4}, 2);
    check_einsum("j,j->", (npg_array *[]){v4, v4}, 2);
    check_einsum("ij,j->i", (npg_array *[]){A, v4}, 2);
    check_einsum("ii->i", (npg_array *[]){Q}, 1);
    check_einsum("ii", (npg_array *[]){Q}, 1);
    check_einsum("ij->ji", (npg_array *[]){A}, 1);
    check_einsum("ij->", (npg_array *[]){A}, 1);
    check_einsum("ij->j", (npg_array *[]){A}, 1);
    check_einsum("bij->jb", (npg_array *[]){T}, 1);
    check_einsum("ijk,ikl->jl", (npg_array *[]){T, U}, 2);
    check_einsum("ij,ij->ij", (npg_array *[]){A, A}, 2);
    check_einsum("ii,ij->j", (npg_array *[]){Q, B}, 2);
    check_einsum("Ab,bC->AC", (npg_array *[]){A, B}, 2);
    check_einsum("j,j", (npg_array *[]){v4, v4}, 2);  /* implicit: a dot product */
    check_einsum("ba", (npg_array *[]){A}, 1);        /* implicit: alphabetical, a transpose */
    /* a non-contiguous operand, an int32 one, an empty one */
    check_einsum("ji,jk->ik", (npg_array *[]){npg_T(A), npg_T(npg_T(B))}, 2);
    check_einsum("ij,kj->ik", (npg_array *[]){A, npg_T(B)}, 2);
    npg_array *Ai = npg_astype(A, NPG_INT32), *Bi = npg_astype(B, NPG_INT32);
    npg_array *ri = npg_einsum("ij,jk->ik", (npg_array *[]){Ai, Bi}, 2);
    cr_assert_not_null(ri, "%s", npg_last_error());
    cr_assert_eq(npg_dtype_of(ri), NPG_INT32);
    check_einsum("ij,jk->ik", (npg_array *[]){Ai, Bi}, 2);
    /* the narrow and unsigned integers keep their dtype, wrapping */
    npg_array *A8 = npg_reshape(from_bits((const uint64_t[]){100, 100, (uint64_t)-128, 1}, 4, NPG_INT8), NPG_SHAPE(2, 2));
    npg_array *B8 = npg_reshape(from_bits((const uint64_t[]){2, 1}, 2, NPG_INT8), NPG_SHAPE(2, 1));
    expect_bits(npg_reshape(npg_einsum("ij,jk->ik", (npg_array *[]){A8, B8}, 2), NPG_SHAPE(2)), NPG_INT8,
                (const uint64_t[]){44, 1}, 2, "einsum int8 contraction wraps (300 -> 44, -255 -> 1)");
    npg_array *u1 = from_bits((const uint64_t[]){1ull << 63, 3}, 2, NPG_UINT64), *u2 = from_bits((const uint64_t[]){2, UINT64_MAX}, 2, NPG_UINT64);
    expect_bits(npg_einsum("i,i->", (npg_array *[]){u1, u2}, 2), NPG_UINT64, (const uint64_t[]){UINT64_MAX - 2}, 1,
                "einsum uint64 dot wraps");
    expect_bits(npg_einsum("i,j->ij", (npg_array *[]){u1, u2}, 2), NPG_UINT64,
                (const uint64_t[]){0, 1ull << 63, 6, UINT64_MAX - 2}, 4, "einsum uint64 outer wraps");
    npg_array *Ai16 = npg_astype(A, NPG_INT16), *Bu16 = npg_astype(npg_abs(B), NPG_UINT16);
    npg_array *rm = npg_einsum("ij,jk->ik", (npg_array *[]){Ai16, Bu16}, 2);
    cr_assert_not_null(rm, "%s", npg_last_error());
    cr_assert_eq(npg_dtype_of(rm), NPG_INT32, "einsum int16 with uint16 promotes to int32");
    check_einsum("ij,jk->ik", (npg_array *[]){Ai16, Bu16}, 2);
    /* bool operands give bool (an OR of ANDs), as NumPy's */
    double bv[6] = {1, 0, 0, 0, 1, 1}, bw[6] = {0, 1, 0, 0, 1, 0};
    npg_array *Bb = t_arr(bv, NPG_BOOL, NPG_SHAPE(2, 3)), *Cb = t_arr(bw, NPG_BOOL, NPG_SHAPE(3, 2));
    npg_array *eb = npg_einsum("ij,jk->ik", (npg_array *[]){Bb, Cb}, 2);
    double web[4] = {0, 1, 1, 0};
    expect(eb, NPG_SHAPE(2, 2), web, "bool contraction");
    cr_assert_eq(npg_dtype_of(eb), NPG_BOOL);
    npg_array *es = npg_einsum("ij->i", (npg_array *[]){Bb}, 1);
    double wes[2] = {1, 1};
    expect(es, NPG_SHAPE(2), wes, "bool sum");
    cr_assert_eq(npg_dtype_of(es), NPG_BOOL);
    npg_array *E = iota(NPG_FLOAT64, NPG_SHAPE(0, 4));
    check_einsum("ij,jk->ik", (npg_array *[]){E, B}, 2);
    /* ellipsis: broadcast batch dims, against matmul */
    npg_array *P = npg_add_scalar(iota(NPG_FLOAT64, NPG_SHAPE(2, 1, 3, 4)), -9);
    npg_array *R = iota(NPG_FLOAT64, NPG_SHAPE(5, 4, 2));
    npg_array *e1 = npg_einsum("...ij,...jk->...ik", (npg_array *[]){P, R}, 2);
    npg_array *m1 = npg_matmul(P, R);
    double *wm = t_read(m1);
    expect(e1, NPG_SHAPE(2, 5, 3, 2), wm, "ellipsis batch matmul");
    expect(npg_einsum("...ij,...jk", (npg_array *[]){P, R}, 2), NPG_SHAPE(2, 5, 3, 2), wm, "implicit ellipsis");
    free(wm);
    /* ellipsis dims the output leaves out are summed */
    double *ws = t_read(npg_sum(P, NPG_AXES(0, 1), false));
    expect(npg_einsum("...ij->ij", (npg_array *[]){P}, 1), NPG_SHAPE(3, 4), ws, "ellipsis summed");
    free(ws);
    npg_array *diag = npg_einsum("...ii->...i", (npg_array *[]){npg_reshape(iota(NPG_FLOAT64, NPG_SHAPE(18)),
                                                                            NPG_SHAPE(2, 3, 3))}, 1);
    double wd[6] = {0, 4, 8, 9, 13, 17};
    expect(diag, NPG_SHAPE(2, 3), wd, "batched diagonal");
    npg_scope_end(s);
    t_assert_no_leak(live, "einsum");
}

static npg_array *einsum_fn(npg_array *const *in, int n, void *u) { return npg_einsum((const char *)u, in, n); }
static npg_array *tensordot_fn(npg_array *const *in, int n, void *u) {
    (void)n, (void)u;
    return npg_tensordot_axes(in[0], in[1], NPG_AXES(0, 2), NPG_AXES(1, 0));
}

Test(manip, tensordot_and_einsum_gradients_and_errors) {
    t_live live = t_live_now();
    npg_scope s = npg_scope_begin();
    npg_array *a = iota(NPG_FLOAT64, NPG_SHAPE(3, 4, 5)), *b = npg_add_scalar(iota(NPG_FLOAT64, NPG_SHAPE(4, 5, 2)), -3);
    npg_shape sh;
    double *w = naive_einsum("ijk,jkl->il", (npg_array *[]){a, b}, 2, &sh);
    expect(npg_tensordot(a, b, 2), sh, w, "tensordot n=2");
    free(w);
    npg_array *c = iota(NPG_FLOAT64, NPG_SHAPE(5, 3));
    w = naive_einsum("ijk,ki->j", (npg_array *[]){a, c}, 2, &sh);
    expect(npg_tensordot_axes(a, c, NPG_AXES(0, 2), NPG_AXES(1, 0)), sh, w, "tensordot axes");
    free(w);
    w = naive_einsum("ij,kl->ijkl", (npg_array *[]){c, c}, 2, &sh);
    expect(npg_tensordot(c, c, 0), sh, w, "tensordot n=0 (outer)");
    free(w);
    cr_assert_null(npg_tensordot(a, b, 4));
    cr_assert_eq(npg_last_status(), NPG_ERR_AXIS);
    npg_clear_error();
    cr_assert_null(npg_tensordot(a, a, 1));
    t_assert_error(NPG_ERR_SHAPE, "length 5");
    npg_clear_error();
    cr_assert_null(npg_tensordot_axes(a, c, NPG_AXES(0), NPG_AXES(1, 0)));
    cr_assert_eq(npg_last_status(), NPG_ERR_AXIS);
    npg_clear_error();
    /* gradients */
    npg_array *g[3] = {randn64(NPG_SHAPE(3, 4, 5), 21), randn64(NPG_SHAPE(5, 3), 22), randn64(NPG_SHAPE(4, 2), 23)};
    cr_assert_eq(npg_gradcheck(tensordot_fn, NULL, g, 2, NULL), NPG_OK, "%s", npg_last_error());
    cr_assert_eq(npg_gradcheck(einsum_fn, "ijk,ki,jl->l", g, 3, NULL), NPG_OK, "%s", npg_last_error());
    npg_array *sq = randn64(NPG_SHAPE(4, 4), 24);
    cr_assert_eq(npg_gradcheck(einsum_fn, "ii,ij->j", (npg_array *[]){sq, g[2]}, 2, NULL), NPG_OK, "%s",
                 npg_last_error());
    /* errors */
    npg_array *A = iota(NPG_FLOAT32, NPG_SHAPE(3, 4)), *B = iota(NPG_FLOAT32, NPG_SHAPE(4, 2));
    cr_assert_null(npg_einsum("ij,jk->ik", (npg_array *[]){A, iota(NPG_FLOAT32, NPG_SHAPE(5, 2))}, 2));
    t_assert_error(NPG_ERR_SHAPE, "'j' stands for lengths 4 and 5");
    npg_clear_error();
    struct {
        const char *sub;
        int n;
        npg_status want;
        const char *needle;
    } bad[] = {
        {"ij,jk", 1, NPG_ERR_INVALID_ARG, "more than 1 operands"},
        {"ij", 2, NPG_ERR_INVALID_ARG, "for 1 operands, 2 given"},
        {"ijk,jk", 2, NPG_ERR_SHAPE, "name 3 dimensions of an array with 2"},
        {"i1,jk", 2, NPG_ERR_INVALID_ARG, "'1' is not a subscript"},
        {"ij,jk->iz", 2, NPG_ERR_INVALID_ARG, "'z' is in no operand"},
        {"ij,kl->ii", 2, NPG_ERR_INVALID_ARG, "repeated"},
        {"i..j,kl", 2, NPG_ERR_INVALID_ARG, "'...'"},
    };
    for (int i = 0; i < (int)(sizeof bad / sizeof bad[0]); i++) {
        cr_assert_null(npg_einsum(bad[i].sub, (npg_array *[]){A, B}, bad[i].n), "'%s' accepted", bad[i].sub);
        t_assert_error(bad[i].want, bad[i].needle);
        npg_clear_error();
    }
    cr_assert_null(npg_einsum("ii", (npg_array *[]){A}, 1));
    t_assert_error(NPG_ERR_SHAPE, "repeated in operand 0");
    npg_clear_error();
    cr_assert_null(npg_einsum(NULL, (npg_array *[]){A}, 1));
    cr_assert_eq(npg_last_status(), NPG_ERR_NULL_ARG);
    npg_clear_error();
    cr_assert_null(npg_einsum("i", (npg_array *[]){A}, 0));
    cr_assert_eq(npg_last_status(), NPG_ERR_INVALID_ARG);
    npg_clear_error();
    npg_scope_end(s);
    t_assert_no_leak(live, "tensordot and einsum");
}

/* Found by tests/common/test_fuzz2.c. */
Test(manip, tile_to_an_empty_array_with_a_huge_axis) {
    t_live live = t_live_now();
    npg_scope s = npg_scope_begin();
    /* no element to gather, so no index array as long as the huge axis */
    npg_array *x = randn64(NPG_SHAPE(2, 3), 31);
    npg_array *r = npg_tile(x, NPG_SHAPE(0, (int64_t)1 << 50));
    expect(r, NPG_SHAPE(0, (int64_t)3 << 50), NULL, "tile(x, (0, 2^50))");
    expect(npg_tile(iota(NPG_INT32, NPG_SHAPE(0)), NPG_SHAPE((int64_t)1 << 40, 1)), NPG_SHAPE((int64_t)1 << 40, 0),
           NULL, "tile of an empty array");
    cr_assert(npg_requires_grad(r));
    cr_assert_eq(npg_backward(npg_sum(r, NPG_ALL_AXES, false), NULL), NPG_OK, "%s", npg_last_error());
    double zeros[6] = {0};
    t_assert_close(npg_grad(x), zeros, 6, 0, 0, "the gradient through an empty tile");
    npg_scope_end(s);
    t_assert_no_leak(live, "empty tile");
}

Test(manip, einsum_implicit_order_empty_broadcast_and_too_many_letters) {
    t_live live = t_live_now();
    npg_scope s = npg_scope_begin();
    /* implicit output: the letters in the order of their characters, as
     * NumPy's: 'B' before 'a', so "aB" is a transpose */
    npg_array *A = iota(NPG_FLOAT64, NPG_SHAPE(2, 3));
    double wt[6] = {0, 3, 1, 4, 2, 5};
    expect(npg_einsum("aB", &A, 1), NPG_SHAPE(3, 2), wt, "einsum 'aB'");
    check_einsum("aB", &A, 1);
    check_einsum("Ab,bc", (npg_array *[]){A, npg_T(A)}, 2);
    /* an ellipsis dimension of length 1 broadcast against 0 is 0 long */
    npg_array *P = iota(NPG_FLOAT64, NPG_SHAPE(1, 2)), *Q = iota(NPG_FLOAT64, NPG_SHAPE(0, 2));
    expect(npg_einsum("...i,...i->...i", (npg_array *[]){P, Q}, 2), NPG_SHAPE(0, 2), NULL, "1 with 0");
    expect(npg_einsum("...i,...i->...i", (npg_array *[]){Q, P}, 2), NPG_SHAPE(0, 2), NULL, "0 with 1");
    /* more than NPG_MAX_DIMS letters used once: an error (it overran the
     * output's labels) */
    npg_array *one = npg_ones(NPG_SHAPE(1, 1, 1), OPT());
    cr_assert_null(npg_einsum("abc,def,ghi", (npg_array *[]){one, one, one}, 3));
    t_assert_error(NPG_ERR_SHAPE, "more than 8 output dimensions");
    npg_clear_error();
    cr_assert_null(npg_einsum("abc,DEF,ghi", (npg_array *[]){one, one, one}, 3));
    t_assert_error(NPG_ERR_SHAPE, "more than 8 output dimensions");
    npg_clear_error();
    npg_scope_end(s);
    t_assert_no_leak(live, "einsum regressions");
}

/* Seven labels kept in both operands (7 batch axes + the product's 2 would
 * be 9): the batch axes are merged for the product. It was an error. */
static npg_array *ein7_fn(npg_array *const *in, int n, void *u) {
    (void)n, (void)u;
    return npg_einsum("abcdefgh,abcdefgh->abcdefg", in, 2);
}

Test(manip, einsum_with_more_batch_labels_than_a_product_can_hold) {
    t_live live = t_live_now();
    npg_scope s = npg_scope_begin();
    npg_array *A = npg_add_scalar(iota(NPG_FLOAT64, NPG_SHAPE(2, 1, 3, 2, 1, 2, 2)), -9);
    npg_array *B = npg_multiply_scalar(iota(NPG_FLOAT64, NPG_SHAPE(2, 1, 3, 2, 1, 2, 2)), 0.5);
    check_einsum("abcdefg,abcdefg->abcdefg", (npg_array *[]){A, B}, 2);
    npg_array *X = npg_add_scalar(iota(NPG_FLOAT64, NPG_SHAPE(2, 1, 2, 1, 2, 1, 2, 3)), -20);
    npg_array *Y = iota(NPG_FLOAT64, NPG_SHAPE(2, 1, 2, 1, 2, 1, 2, 3));
    check_einsum("abcdefgh,abcdefgh->abcdefg", (npg_array *[]){X, Y}, 2);
    /* broadcast ellipsis axes among the seven: against multiply and sum */
    npg_array *P = iota(NPG_FLOAT64, NPG_SHAPE(2, 1, 2, 1, 2, 1, 2, 3));
    npg_array *Q = npg_add_scalar(iota(NPG_FLOAT64, NPG_SHAPE(1, 2, 2, 2, 1, 2, 2, 3)), 1);
    npg_array *r = npg_einsum("...h,...h->...", (npg_array *[]){P, Q}, 2);
    npg_array *want = npg_sum(npg_multiply(P, Q), NPG_AXES(-1), false);
    cr_assert(r && want, "%s", npg_last_error());
    double *hw = t_read(want);
    expect(r, npg_shape_of(want), hw, "einsum '...h,...h->...', 7 broadcast ellipsis axes");
    free(hw);
    npg_array *g[2] = {npg_randn(NPG_SHAPE(2, 1, 2, 1, 2, 1, 2, 3), OPT(.requires_grad = true)),
                       npg_randn(NPG_SHAPE(2, 1, 2, 1, 2, 1, 2, 3), OPT(.requires_grad = true))};
    cr_assert_eq(npg_gradcheck(ein7_fn, NULL, g, 2, NULL), NPG_OK, "%s", npg_last_error());
    npg_scope_end(s);
    t_assert_no_leak(live, "einsum, 7 batch labels");
}

/* Gradients through the multi-output and view functions (gradcheck sums a
 * weighted combination of the one output each function here returns). */
static npg_array *moveaxis_fn(npg_array *const *in, int n, void *u) {
    (void)n, (void)u;
    return npg_multiply(npg_moveaxis(in[0], NPG_AXES(0, 2), NPG_AXES(-1, 0)), npg_T(in[1]));
}
static npg_array *unstack_bcast_fn(npg_array *const *in, int n, void *u) {
    (void)n, (void)u;
    npg_array *rows[3], *b[2];
    if (npg_unstack(in[0], 0, rows, 3) != NPG_OK) return NULL;
    npg_array *pair[2] = {rows[2], in[1]}; /* (4,) with (2, 1) */
    if (npg_broadcast_arrays(pair, 2, b) != NPG_OK) return NULL;
    return npg_add(npg_multiply(b[0], b[1]), npg_square(rows[0]));
}
static npg_array *meshgrid_fn(npg_array *const *in, int n, void *u) {
    (void)n, (void)u;
    npg_array *g[2];
    if (npg_meshgrid(in, 2, "xy", g) != NPG_OK) return NULL;
    return npg_multiply(npg_sin(g[0]), g[1]);
}

Test(manip, view_and_multi_output_gradients) {
    t_live live = t_live_now();
    npg_scope s = npg_scope_begin();
    npg_array *a[2] = {randn64(NPG_SHAPE(2, 3, 4), 41), randn64(NPG_SHAPE(2, 3, 4), 42)};
    /* moveaxis((2, 3, 4), (0, 2) -> (-1, 0)) is (4, 3, 2), like the transpose of in[1] */
    cr_assert_eq(npg_gradcheck(moveaxis_fn, NULL, a, 2, NULL), NPG_OK, "%s", npg_last_error());
    npg_array *b[2] = {randn64(NPG_SHAPE(3, 4), 43), randn64(NPG_SHAPE(2, 1), 44)};
    cr_assert_eq(npg_gradcheck(unstack_bcast_fn, NULL, b, 2, NULL), NPG_OK, "%s", npg_last_error());
    npg_array *c[2] = {randn64(NPG_SHAPE(5), 45), randn64(NPG_SHAPE(3), 46)};
    cr_assert_eq(npg_gradcheck(meshgrid_fn, NULL, c, 2, NULL), NPG_OK, "%s", npg_last_error());
    npg_scope_end(s);
    t_assert_no_leak(live, "view and multi-output gradients");
}
