/*
 * test_scatter.c — npg_scatter_add and npg_index_add (src/common/ops_index.c)
 * on the device under test: PyTorch's scatter_add and NumPy's np.add.at
 * results (constants from torch 1.13 / NumPy 1.24), random inputs with
 * repeated and negative indices against a host loop, every supported dtype,
 * non-contiguous operands, empty ones, gradients, and the argument errors.
 */
#include "test_util.h"
#include "ops_shared.h"

static void setup(void) { t_require_device(); }
TestSuite(scatter, .init = setup);

#define OPT(...) NPG_OPTS(.device = t_dev(), __VA_ARGS__)

static npg_array *iarr(const int64_t *v, npg_shape s) { return npg_from_data(v, NPG_INT64, s, OPT(.dtype = NPG_INT64)); }

Test(scatter, matches_torch_and_numpy) {
    t_live l0 = t_live_now();
    npg_scope s = npg_scope_begin();
    double xv[12];
    for (int i = 0; i < 12; i++) xv[i] = i;
    /* torch.arange(12.).reshape(3,4).scatter_add(0, idx, src) */
    const int64_t iv[8] = {2, 0, 2, 1, 0, 0, 1, 2};
    const double sv[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    const double want[12] = {5, 9, 2, 3, 4, 5, 13, 11, 9, 9, 13, 19};
    for (int f = 0; f < 2; f++) {
        npg_dtype dt = f ? NPG_FLOAT32 : NPG_FLOAT64;
        npg_array *r = npg_scatter_add(t_arr(xv, dt, NPG_SHAPE(3, 4)), 0, iarr(iv, NPG_SHAPE(2, 4)), t_arr(sv, dt, NPG_SHAPE(2, 4)));
        cr_assert(r, "%s", npg_last_error());
        cr_assert_eq(npg_dtype_of(r), dt);
        t_assert_close(r, want, 12, 0, 0, "scatter_add axis 0");
    }
    /* np.add.at(arange(12.).reshape(3,4), (slice(None), [3,0,3]), [[1,2,3],[4,5,6],[7,8,9]]) */
    const int64_t jv[3] = {3, 0, -1};
    const double s2[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    const double want2[12] = {2, 1, 2, 7, 9, 5, 6, 17, 16, 9, 10, 27};
    npg_array *r = npg_index_add(t_arr(xv, NPG_FLOAT64, NPG_SHAPE(3, 4)), 1, iarr(jv, NPG_SHAPE(3)), t_arr(s2, NPG_FLOAT64, NPG_SHAPE(3, 3)));
    cr_assert(r, "%s", npg_last_error());
    t_assert_close(r, want2, 12, 0, 0, "index_add axis 1 (np.add.at), a negative index");
    /* integers: int32 x with int32 src stays int32; int32 + float32 promotes */
    r = npg_index_add(t_arr(xv, NPG_INT32, NPG_SHAPE(3, 4)), -1, iarr(jv, NPG_SHAPE(3)), t_arr(s2, NPG_INT32, NPG_SHAPE(3, 3)));
    cr_assert(r, "%s", npg_last_error());
    cr_assert_eq(npg_dtype_of(r), NPG_INT32);
    t_assert_close(r, want2, 12, 0, 0, "int32 index_add");
    r = npg_index_add(t_arr(xv, NPG_INT32, NPG_SHAPE(3, 4)), 1, iarr(jv, NPG_SHAPE(3)), t_arr(s2, NPG_FLOAT32, NPG_SHAPE(3, 3)));
    cr_assert(r, "%s", npg_last_error());
    cr_assert_eq(npg_dtype_of(r), NPG_FLOAT32);
    /* the narrow and unsigned integers wrap; uint8 with int8 promotes to int16 */
    const uint64_t H = 1ull << 63;
    const int64_t i00[2] = {0, 0}, i002[3] = {0, 0, 2}, i001[3] = {0, 0, 1};
    expect_bits(npg_index_add(from_bits(UB64(100, 0), 2, NPG_INT8), 0, iarr(i00, NPG_SHAPE(2)), from_bits(UB64(100, 100), 2, NPG_INT8)),
                NPG_INT8, UB64(44, 0), 2, "index_add int8 wraps (300 -> 44)");
    expect_bits(npg_index_add(from_bits(UB64(250, 0, 1), 3, NPG_UINT8), 0, iarr(i002, NPG_SHAPE(3)),
                              from_bits(UB64(10, (uint64_t)-128, (uint64_t)-1), 3, NPG_INT8)),
                NPG_INT16, UB64(132, 0, 0), 3, "index_add uint8 x, int8 src (int16)");
    expect_bits(npg_scatter_add(from_bits(UB64(UINT64_MAX, 0), 2, NPG_UINT64), 0, iarr(i001, NPG_SHAPE(3)), from_bits(UB64(1, H, H), 3, NPG_UINT64)),
                NPG_UINT64, UB64(H, H), 2, "scatter_add uint64 wraps");
    expect_bits(npg_scatter_add(from_bits(UB64(65535, 7), 2, NPG_UINT16), 0, iarr(i001, NPG_SHAPE(3)), from_bits(UB64(1, 2, 65535), 3, NPG_UINT16)),
                NPG_UINT16, UB64(2, 6), 2, "scatter_add uint16 wraps");
    expect_bits(npg_scatter_add(from_bits(UB64(250, 7), 2, NPG_UINT8), 0, iarr(i001, NPG_SHAPE(3)), from_bits(UB64(10, 255, 1), 3, NPG_UINT8)),
                NPG_UINT8, UB64(3, 8), 2, "scatter_add uint8 wraps (515 -> 3)");
    npg_scope_end(s);
    t_assert_no_leak(l0, "scatter constants");
}

/* Random shapes, axes, repeated and negative indices, transposed operands,
 * float64, int64 and the narrow / unsigned integers (full-range values whose
 * sums wrap), against a host loop. */
Test(scatter, random_against_a_host_loop) {
    t_live l0 = t_live_now();
    uint64_t seed = 7;
    for (int it = 0; it < 60; it++) {
        npg_scope s = npg_scope_begin();
        int nd = 1 + it % 4;
        int64_t xs[4], ss[4];
        for (int d = 0; d < nd; d++) xs[d] = ss[d] = 1 + (int64_t)((it * 7 + d * 3) % 4);
        int a = it % nd;
        ss[a] = (it % 3 == 0) ? 0 : 1 + (it % 5); /* an empty src now and then */
        npg_shape xsh = {.ndim = nd}, ssh = {.ndim = nd};
        int64_t nx = 1, nsrc = 1;
        for (int d = 0; d < nd; d++) {
            xsh.dims[d] = xs[d];
            ssh.dims[d] = ss[d];
            nx *= xs[d];
            nsrc *= ss[d];
        }
        double *xv = malloc(sizeof(double) * (size_t)nx), *sv = malloc(sizeof(double) * (size_t)(nsrc + 1));
        int64_t *iv = malloc(sizeof(int64_t) * (size_t)(nsrc + 1));
        t_fill_uniform(xv, nx, -3, 3, seed++);
        t_fill_uniform(sv, nsrc, -3, 3, seed++);
        for (int64_t k = 0; k < nsrc; k++) {
            double u;
            t_fill_uniform(&u, 1, 0, 1, seed++);
            int64_t j = (int64_t)(u * 2 * (double)xs[a]) - xs[a]; /* in [-n, n) */
            iv[k] = j;
        }
        /* odd iterations float64; even ones an integer dtype: int64 with
         * small values, the others full-range bits (sums wrap) */
        static const npg_dtype idts[8] = {NPG_INT64, NPG_INT8, NPG_UINT16, NPG_UINT64, NPG_INT16, NPG_UINT32, NPG_INT32, NPG_UINT64};
        npg_dtype dt = it % 2 ? NPG_FLOAT64 : idts[(it / 2) % 8];
        if (dt == NPG_INT64) {
            for (int64_t k = 0; k < nx; k++) xv[k] = round(xv[k]);
            for (int64_t k = 0; k < nsrc; k++) sv[k] = round(sv[k]);
        }
        const bool bits = dt != NPG_INT64 && dt != NPG_FLOAT64;
        uint64_t *xb = malloc(sizeof(uint64_t) * (size_t)(nx + 1)), *sb = malloc(sizeof(uint64_t) * (size_t)(nsrc + 1));
        uint64_t *wb = malloc(sizeof(uint64_t) * (size_t)(nx + 1)), h = seed * 0x9E3779B97F4A7C15ull;
        for (int64_t k = 0; k < nx + nsrc; k++) { /* full-range values (xorshift) */
            h ^= h << 13, h ^= h >> 7, h ^= h << 17;
            *(k < nx ? &xb[k] : &sb[k - nx]) = bits ? t_wrap_bits(dt, h) : h;
        }
        memcpy(wb, xb, sizeof(uint64_t) * (size_t)nx);
        /* the reference */
        double *want = malloc(sizeof(double) * (size_t)nx);
        memcpy(want, xv, sizeof(double) * (size_t)nx);
        for (int64_t k = 0; k < nsrc; k++) {
            int64_t c[4], rem = k;
            for (int d = nd - 1; d >= 0; d--) c[d] = rem % ss[d], rem /= ss[d];
            c[a] = iv[k] < 0 ? iv[k] + xs[a] : iv[k];
            int64_t off = 0;
            for (int d = 0; d < nd; d++) off = off * xs[d] + c[d];
            want[off] += sv[k];
            wb[off] += sb[k]; /* modulo 2^64: wraps to any width alike */
        }
        npg_array *x = t_arr(xv, dt, xsh), *src = t_arr(sv, dt, ssh), *idx = iarr(iv, ssh);
        if (bits) { /* the full-range values instead */
            x = npg_reshape(from_bits(xb, (int)nx, dt), xsh);
            src = npg_reshape(from_bits(sb, (int)nsrc, dt), ssh);
        }
        if (it % 4 == 1 && nd >= 2) {
            /* the same values through transposed views (contiguous underneath the other way) */
            npg_axes p = {.n = nd};
            for (int d = 0; d < nd; d++) p.axes[d] = nd - 1 - d;
            src = npg_permute_dims(npg_contiguous(npg_permute_dims(src, p)), p);
            idx = npg_permute_dims(npg_contiguous(npg_permute_dims(idx, p)), p);
        }
        npg_array *r = npg_scatter_add(x, a, idx, src);
        cr_assert(r, "iteration %d: %s", it, npg_last_error());
        t_assert_shape(r, xsh);
        if (bits) {
            char l[96];
            snprintf(l, sizeof l, "scatter_add %s (iteration %d) against the host loop, wrapping", npg_dtype_name(dt), it);
            expect_bits(npg_reshape(r, (npg_shape){.ndim = 1, .dims = {nx}}), dt, wb, (int)nx, l);
        } else {
            t_assert_close(r, want, nx, 1e-12, 1e-12, "scatter_add against the host loop");
        }
        free(xb), free(sb), free(wb);
        free(xv);
        free(sv);
        free(iv);
        free(want);
        npg_scope_end(s);
    }
    t_assert_no_leak(l0, "random scatter_add");
}

static npg_array *f_scatter(npg_array *const *in, int n, void *u) {
    (void)n;
    return npg_scatter_add(in[0], 1, (npg_array *)u, in[1]);
}
static npg_array *f_index_add(npg_array *const *in, int n, void *u) {
    (void)n;
    return npg_index_add(in[0], 0, (npg_array *)u, in[1]);
}

Test(scatter, gradients) {
    t_live l0 = t_live_now();
    npg_scope s = npg_scope_begin();
    double xv[12], sv[9];
    t_fill_uniform(xv, 12, -1, 1, 3);
    t_fill_uniform(sv, 9, -1, 1, 4);
    const int64_t iv[9] = {0, 3, 3, 1, 1, 1, -1, 2, 0};
    npg_array *x = t_arr(xv, NPG_FLOAT64, NPG_SHAPE(3, 4)), *src = t_arr(sv, NPG_FLOAT64, NPG_SHAPE(3, 3));
    npg_set_requires_grad(x, true);
    npg_set_requires_grad(src, true);
    npg_array *idx = iarr(iv, NPG_SHAPE(3, 3));
    npg_array *in[2] = {x, src};
    cr_assert_eq(npg_gradcheck(f_scatter, idx, in, 2, NULL), NPG_OK, "%s", npg_last_error());
    /* d/dsrc of sum(w * scatter_add(x, src)) is w gathered at the indices */
    npg_array *w = npg_reshape(npg_arange(1, 13, 1, OPT(.dtype = NPG_FLOAT64)), NPG_SHAPE(3, 4));
    npg_array *y = npg_sum(npg_multiply(npg_scatter_add(x, 1, idx, src), w), NPG_ALL_AXES, false);
    cr_assert_eq(npg_backward(y, NULL), NPG_OK, "%s", npg_last_error());
    double gs[9];
    for (int k = 0; k < 9; k++) {
        int64_t j = iv[k] < 0 ? iv[k] + 4 : iv[k];
        gs[k] = (double)((k / 3) * 4 + j + 1);
    }
    t_assert_close(npg_grad(src), gs, 9, 0, 0, "gradient of src");
    double ones[12];
    for (int k = 0; k < 12; k++) ones[k] = k + 1;
    t_assert_close(npg_grad(x), ones, 12, 0, 0, "gradient of x");
    /* index_add */
    const int64_t jv[2] = {2, 2};
    npg_array *x2 = t_arr(xv, NPG_FLOAT64, NPG_SHAPE(3, 4)), *s2 = t_arr(sv, NPG_FLOAT64, NPG_SHAPE(2, 4));
    npg_set_requires_grad(x2, true);
    npg_set_requires_grad(s2, true);
    npg_array *in2[2] = {x2, s2};
    cr_assert_eq(npg_gradcheck(f_index_add, iarr(jv, NPG_SHAPE(2)), in2, 2, NULL), NPG_OK, "%s", npg_last_error());
    npg_scope_end(s);
    t_assert_no_leak(l0, "scatter gradients");
}

Test(scatter, errors) {
    t_live l0 = t_live_now();
    npg_scope s = npg_scope_begin();
    npg_array *x = npg_zeros(NPG_SHAPE(3, 4), OPT(.dtype = NPG_FLOAT64));
    npg_array *src = npg_ones(NPG_SHAPE(2, 4), OPT(.dtype = NPG_FLOAT64));
    const int64_t ok[8] = {0, 1, 2, 0, 1, 2, 0, 1}, bad[8] = {0, 1, 2, 3, 0, 0, 0, 0};
    npg_array *idx = iarr(ok, NPG_SHAPE(2, 4));
    cr_assert_null(npg_scatter_add(NULL, 0, idx, src));
    t_assert_error(NPG_ERR_NULL_ARG, "npg_scatter_add");
    cr_assert_null(npg_scatter_add(x, 2, idx, src));
    t_assert_error(NPG_ERR_AXIS, "npg_scatter_add");
    cr_assert_null(npg_scatter_add(x, 0, iarr(ok, NPG_SHAPE(8)), src));
    t_assert_error(NPG_ERR_SHAPE, "npg_scatter_add");
    cr_assert_null(npg_scatter_add(x, 1, idx, src)); /* src's axis-0 length 2 != x's 3 */
    t_assert_error(NPG_ERR_SHAPE, "npg_scatter_add");
    cr_assert_null(npg_scatter_add(x, 0, npg_astype(idx, NPG_FLOAT32), src));
    t_assert_error(NPG_ERR_DTYPE, "npg_scatter_add");
    cr_assert_null(npg_scatter_add(npg_astype(x, NPG_BOOL), 0, idx, npg_astype(src, NPG_BOOL)));
    t_assert_error(NPG_ERR_DTYPE, "npg_scatter_add");
    cr_assert_null(npg_scatter_add(npg_scalar(1, OPT(.dtype = NPG_FLOAT64)), 0, idx, src));
    t_assert_error(NPG_ERR_AXIS, "npg_scatter_add");
    /* an index out of range: an error now on the CPU, at the next
     * synchronisation on CUDA */
    npg_array *r = npg_scatter_add(x, 0, iarr(bad, NPG_SHAPE(2, 4)), src);
    if (t_dev().type == NPG_DEVICE_CUDA) {
        npg_free(r);
        cr_assert_eq(npg_synchronize(t_dev()), NPG_ERR_INDEX, "%s", npg_last_error());
    } else {
        cr_assert_null(r);
        t_assert_error(NPG_ERR_INDEX, "npg_scatter_add");
    }
    const int64_t j[2] = {0, 1};
    cr_assert_null(npg_index_add(x, 0, iarr(ok, NPG_SHAPE(2, 4)), src));
    t_assert_error(NPG_ERR_SHAPE, "npg_index_add: index must be 1-d");
    cr_assert_null(npg_index_add(x, 0, iarr(j, NPG_SHAPE(2)), npg_ones(NPG_SHAPE(2, 3), OPT(.dtype = NPG_FLOAT64))));
    t_assert_error(NPG_ERR_SHAPE, "npg_index_add");
    cr_assert_null(npg_index_add(x, -3, iarr(j, NPG_SHAPE(2)), src));
    t_assert_error(NPG_ERR_AXIS, "npg_index_add");
    /* nothing changed */
    double zeros[12] = {0};
    t_assert_close(x, zeros, 12, 0, 0, "x unchanged");
    npg_clear_error();
    npg_scope_end(s);
    t_assert_no_leak(l0, "scatter errors");
}
