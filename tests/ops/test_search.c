/*
 * test_search.c — unique_all / unique_values / unique_counts /
 * unique_inverse and searchsorted (src/common/ops_search.c) on the device
 * under test: NumPy's results (checked with NumPy 1.24) and the array API's
 * NaN rule, every dtype, 0-d, empty and non-contiguous inputs, random inputs
 * against host references, and the argument errors.
 */
#include <math.h>

#include "test_util.h"
#include "ops_shared.h"

static void setup(void) { t_require_device(); }
TestSuite(search, .init = setup);

#define OPT(...) NPG_OPTS(.device = t_dev(), __VA_ARGS__)

static void expect(npg_array *x, npg_shape shape, const double *want, const char *what) {
    cr_assert_not_null(x, "%s: %s", what, npg_last_error());
    t_assert_shape(x, shape);
    int64_t n = 1;
    for (int i = 0; i < shape.ndim; i++) n *= shape.dims[i];
    if (n) t_assert_close(x, want, n, 0, 0, what);
}

Test(search, unique_all_with_nans) {
    t_live live = t_live_now();
    npg_scope s = npg_scope_begin();
    double v[8] = {3, 1, 2, 3, 1, NAN, NAN, 2.5};
    npg_array *x = t_arr(v, NPG_FLOAT64, NPG_SHAPE(8));
    npg_array *val, *idx, *inv, *cnt;
    cr_assert_eq(npg_unique_all(x, &val, &idx, &inv, &cnt), NPG_OK, "%s", npg_last_error());
    double wv[6] = {1, 2, 2.5, 3, NAN, NAN}, wi[6] = {1, 2, 7, 0, 5, 6}, wn[8] = {3, 0, 1, 3, 0, 4, 5, 2},
           wc[6] = {2, 1, 1, 2, 1, 1};
    expect(val, NPG_SHAPE(6), wv, "values (each NaN its own)");
    expect(idx, NPG_SHAPE(6), wi, "first occurrences");
    expect(inv, NPG_SHAPE(8), wn, "inverse");
    expect(cnt, NPG_SHAPE(6), wc, "counts");
    cr_assert_eq(npg_dtype_of(val), NPG_FLOAT64);
    cr_assert_eq(npg_dtype_of(idx), NPG_INT64);
    cr_assert_eq(npg_dtype_of(cnt), NPG_INT64);
    /* the other forms */
    expect(npg_unique_values(x), NPG_SHAPE(6), wv, "unique_values");
    cr_assert_eq(npg_unique_counts(x, &val, &cnt), NPG_OK);
    expect(cnt, NPG_SHAPE(6), wc, "unique_counts");
    cr_assert_eq(npg_unique_inverse(x, &val, &inv), NPG_OK);
    expect(inv, NPG_SHAPE(8), wn, "unique_inverse");
    npg_scope_end(s);
    t_assert_no_leak(live, "unique");
}

Test(search, unique_dtypes_shapes_and_random) {
    t_live live = t_live_now();
    npg_scope s = npg_scope_begin();
    /* 2-d, transposed int32: inverse keeps x's shape */
    double v[6] = {5, -1, 5, 0, -1, 5};
    npg_array *x = npg_T(t_arr(v, NPG_INT32, NPG_SHAPE(2, 3))); /* (3, 2): [[5, 0], [-1, -1], [5, 5]] */
    npg_array *val, *inv, *cnt;
    cr_assert_eq(npg_unique_all(x, &val, NULL, &inv, &cnt), NPG_OK, "%s", npg_last_error());
    double wv[3] = {-1, 0, 5}, wn[6] = {2, 1, 0, 0, 2, 2}, wc[3] = {2, 1, 3};
    expect(val, NPG_SHAPE(3), wv, "int32 values");
    expect(inv, NPG_SHAPE(3, 2), wn, "int32 inverse");
    expect(cnt, NPG_SHAPE(3), wc, "int32 counts");
    cr_assert_eq(npg_dtype_of(val), NPG_INT32);
    /* bool, uint8, 0-d, empty */
    double b[5] = {1, 0, 1, 1, 0}, wb[2] = {0, 1}, wbc[2] = {2, 3};
    cr_assert_eq(npg_unique_counts(t_arr(b, NPG_BOOL, NPG_SHAPE(5)), &val, &cnt), NPG_OK);
    expect(val, NPG_SHAPE(2), wb, "bool values");
    expect(cnt, NPG_SHAPE(2), wbc, "bool counts");
    double u[4] = {200, 7, 200, 255}, wu[3] = {7, 200, 255};
    expect(npg_unique_values(t_arr(u, NPG_UINT8, NPG_SHAPE(4))), NPG_SHAPE(3), wu, "uint8");
    double seven = 7, zero = 0, one = 1;
    cr_assert_eq(npg_unique_all(npg_scalar(7, OPT()), &val, NULL, &inv, &cnt), NPG_OK);
    expect(val, NPG_SHAPE(1), &seven, "0-d values");
    expect(inv, NPG_SHAPE0, &zero, "0-d inverse");
    expect(cnt, NPG_SHAPE(1), &one, "0-d counts");
    npg_array *e = npg_zeros(NPG_SHAPE(0, 3), OPT());
    npg_array *ei;
    cr_assert_eq(npg_unique_all(e, &val, &ei, &inv, &cnt), NPG_OK, "%s", npg_last_error());
    expect(val, NPG_SHAPE(0), NULL, "empty values");
    expect(ei, NPG_SHAPE(0), NULL, "empty indices");
    expect(inv, NPG_SHAPE(0, 3), NULL, "empty inverse");
    expect(cnt, NPG_SHAPE(0), NULL, "empty counts");
    /* random integers: values[inverse] == x, counts sum to n, values ascend */
    double r[500];
    t_fill_uniform(r, 500, 0, 40, 9);
    for (int i = 0; i < 500; i++) r[i] = floor(r[i]);
    npg_array *ri = t_arr(r, NPG_INT64, NPG_SHAPE(20, 25));
    npg_array *rv, *rn, *rc, *rx;
    cr_assert_eq(npg_unique_all(ri, &rv, &rx, &rn, &rc), NPG_OK, "%s", npg_last_error());
    double *hv = t_read(rv), *hn = t_read(rn), *hc = t_read(rc), *hx = t_read(rx);
    int64_t k = npg_size(rv), total = 0;
    for (int i = 0; i < 500; i++) cr_assert_eq(hv[(int64_t)hn[i]], r[i], "values[inverse[%d]]", i);
    for (int64_t i = 0; i < k; i++) {
        total += (int64_t)hc[i];
        if (i) cr_assert_lt(hv[i - 1], hv[i]);
        cr_assert_eq(r[(int64_t)hx[i]], hv[i], "x[indices[%lld]]", (long long)i);
        for (int64_t j = 0; j < (int64_t)hx[i]; j++) cr_assert_neq(r[j], hv[i], "index %lld is not the first", (long long)i);
    }
    cr_assert_eq(total, 500);
    free(hv), free(hn), free(hc), free(hx);
    /* errors */
    cr_assert_eq(npg_unique_all(x, NULL, NULL, NULL, NULL), NPG_ERR_NULL_ARG);
    npg_clear_error();
    cr_assert_eq(npg_unique_counts(x, &val, NULL), NPG_ERR_NULL_ARG);
    cr_assert_null(val);
    npg_clear_error();
    cr_assert_eq(npg_unique_all(NULL, &val, NULL, NULL, NULL), NPG_ERR_NULL_ARG);
    cr_assert_null(val);
    npg_clear_error();
    npg_scope_end(s);
    t_assert_no_leak(live, "unique dtypes");
}

Test(search, searchsorted_matches_numpy) {
    t_live live = t_live_now();
    npg_scope s = npg_scope_begin();
    double a[5] = {1, 2, 2, 3, 5}, v[6] = {0, 2, 4, 5, 6, 2.5};
    npg_array *x1 = t_arr(a, NPG_FLOAT64, NPG_SHAPE(5)), *x2 = t_arr(v, NPG_FLOAT64, NPG_SHAPE(2, 3));
    double wl[6] = {0, 1, 4, 4, 5, 3}, wr[6] = {0, 3, 4, 5, 5, 3};
    npg_array *l = npg_searchsorted(x1, x2, NULL);
    expect(l, NPG_SHAPE(2, 3), wl, "left");
    cr_assert_eq(npg_dtype_of(l), NPG_INT64);
    expect(npg_searchsorted(x1, x2, "left"), NPG_SHAPE(2, 3), wl, "left by name");
    expect(npg_searchsorted(x1, x2, "right"), NPG_SHAPE(2, 3), wr, "right");
    /* NaN sorts last: left before x1's NaNs, right after them */
    double an[3] = {1, 2, NAN}, two = 2, three = 3;
    npg_array *xn = t_arr(an, NPG_FLOAT32, NPG_SHAPE(3)), *nan = npg_scalar(NAN, OPT(.dtype = NPG_FLOAT32));
    expect(npg_searchsorted(xn, nan, "left"), NPG_SHAPE0, &two, "NaN left");
    expect(npg_searchsorted(xn, nan, "right"), NPG_SHAPE0, &three, "NaN right");
    /* int x1 with float x2 (promoted), a strided x1, empty operands */
    double ai[3] = {1, 3, 5}, vf[3] = {2.5, 3, 3.0001}, wf[3] = {1, 2, 2};
    expect(npg_searchsorted(t_arr(ai, NPG_INT32, NPG_SHAPE(3)), t_arr(vf, NPG_FLOAT64, NPG_SHAPE(3)), "right"),
           NPG_SHAPE(3), wf, "int x1, float x2");
    double ws[2] = {1, 2}; /* x1[::2] = [1, 2, 5] */
    double v2[2] = {2, 4};
    expect(npg_searchsorted(NPG_INDEX(x1, NPG_SLICE(NPG_NONE, NPG_NONE, 2)), t_arr(v2, NPG_FLOAT64, NPG_SHAPE(2)),
                            NULL),
           NPG_SHAPE(2), ws, "strided x1");
    double z2[2] = {0, 0};
    expect(npg_searchsorted(npg_zeros(NPG_SHAPE(0), OPT()), t_arr(v2, NPG_FLOAT32, NPG_SHAPE(2)), NULL), NPG_SHAPE(2), z2,
           "empty x1");
    expect(npg_searchsorted(x1, npg_zeros(NPG_SHAPE(0, 4), OPT()), NULL), NPG_SHAPE(0, 4), NULL, "empty x2");
    /* random: against a linear scan */
    double r1[300], r2[200];
    t_fill_uniform(r1, 300, -5, 5, 31);
    t_fill_uniform(r2, 200, -6, 6, 32);
    for (int i = 0; i < 300; i++) r1[i] = round(r1[i] * 4) / 4; /* ties */
    for (int i = 0; i < 200; i++) r2[i] = round(r2[i] * 4) / 4;
    npg_array *s1 = npg_sort(t_arr(r1, NPG_FLOAT64, NPG_SHAPE(300)), 0, false);
    double *h1 = t_read(s1);
    for (int side = 0; side < 2; side++) {
        double want[200];
        for (int i = 0; i < 200; i++) {
            int c = 0;
            for (int k = 0; k < 300; k++) c += side ? h1[k] <= r2[i] : h1[k] < r2[i];
            want[i] = c;
        }
        expect(npg_searchsorted(s1, t_arr(r2, NPG_FLOAT64, NPG_SHAPE(10, 20)), side ? "right" : "left"),
               NPG_SHAPE(10, 20), want, side ? "random right" : "random left");
    }
    free(h1);
    /* errors */
    cr_assert_null(npg_searchsorted(x2, x1, NULL));
    t_assert_error(NPG_ERR_SHAPE, "x1 has 2 dimensions");
    npg_clear_error();
    cr_assert_null(npg_searchsorted(x1, x2, "middle"));
    t_assert_error(NPG_ERR_INVALID_ARG, "\"middle\"");
    npg_clear_error();
    cr_assert_null(npg_searchsorted(npg_ones(NPG_SHAPE(2), OPT(.dtype = NPG_BOOL)), x2, NULL));
    t_assert_error(NPG_ERR_DTYPE, "bool");
    npg_clear_error();
    cr_assert_null(npg_searchsorted(NULL, x2, NULL));
    cr_assert_eq(npg_last_status(), NPG_ERR_NULL_ARG);
    npg_clear_error();
    npg_scope_end(s);
    t_assert_no_leak(live, "searchsorted");
}

/* The narrow and unsigned integers: their own order (uint64 above INT64_MAX
 * after the small values, int8's negatives first), exactly; searchsorted
 * promotes x1 and x2 (uint16 with int8: int32, so -1 sorts first). */
Test(search, integer_dtypes) {
    t_live live = t_live_now();
    npg_scope s = npg_scope_begin();
    const uint64_t H = 1ull << 63, M = UINT64_MAX, m1 = (uint64_t)-1, m128 = (uint64_t)-128;
    npg_array *u64 = from_bits(UB64(H, 5, M, H, 0, H + 1), 6, NPG_UINT64), *val, *idx, *inv, *cnt;
    cr_assert_eq(npg_unique_all(u64, &val, &idx, &inv, &cnt), NPG_OK, "%s", npg_last_error());
    expect_bits(val, NPG_UINT64, UB64(0, 5, H, H + 1, M), 5, "unique uint64 values");
    expect_bits(idx, NPG_INT64, UB64(4, 1, 0, 5, 2), 5, "unique uint64 first indices");
    expect_bits(inv, NPG_INT64, UB64(2, 1, 4, 2, 0, 3), 6, "unique uint64 inverse");
    expect_bits(cnt, NPG_INT64, UB64(1, 1, 2, 1, 1), 5, "unique uint64 counts");
    cr_assert_eq(npg_unique_counts(from_bits(UB64(m128, 127, m1, m128, 0, 127), 6, NPG_INT8), &val, &cnt), NPG_OK, "%s",
                 npg_last_error());
    expect_bits(val, NPG_INT8, UB64(m128, m1, 0, 127), 4, "unique int8 values");
    expect_bits(cnt, NPG_INT64, UB64(2, 1, 1, 2), 4, "unique int8 counts");
    cr_assert_eq(npg_unique_inverse(from_bits(UB64(4294967295u, 2147483648u, 1, 2147483648u), 4, NPG_UINT32), &val, &inv), NPG_OK,
                 "%s", npg_last_error());
    expect_bits(val, NPG_UINT32, UB64(1, 2147483648u, 4294967295u), 3, "unique uint32 values");
    expect_bits(inv, NPG_INT64, UB64(2, 1, 0, 1), 4, "unique uint32 inverse");
    expect_bits(npg_unique_values(from_bits(UB64((uint64_t)-32768, 32767, (uint64_t)-32768), 3, NPG_INT16)), NPG_INT16,
                UB64((uint64_t)-32768, 32767), 2, "unique int16");
    expect_bits(npg_unique_values(from_bits(UB64(65535, 32768, 65535), 3, NPG_UINT16)), NPG_UINT16, UB64(32768, 65535), 2,
                "unique uint16");
    /* searchsorted */
    npg_array *s64 = from_bits(UB64(0, 5, H, H + 1, M), 5, NPG_UINT64), *q64 = from_bits(UB64(H, 6, M, 1ull << 62), 4, NPG_UINT64);
    expect_bits(npg_searchsorted(s64, q64, "left"), NPG_INT64, UB64(2, 2, 4, 2), 4, "searchsorted uint64 left");
    expect_bits(npg_searchsorted(s64, q64, "right"), NPG_INT64, UB64(3, 2, 5, 2), 4, "searchsorted uint64 right");
    npg_array *s8 = from_bits(UB64(m128, (uint64_t)-5, 0, 127), 4, NPG_INT8), *q8 = from_bits(UB64(m128, (uint64_t)-6, 127, 1), 4, NPG_INT8);
    expect_bits(npg_searchsorted(s8, q8, "left"), NPG_INT64, UB64(0, 1, 3, 3), 4, "searchsorted int8 left");
    expect_bits(npg_searchsorted(s8, q8, "right"), NPG_INT64, UB64(1, 1, 4, 3), 4, "searchsorted int8 right");
    expect_bits(npg_searchsorted(from_bits(UB64(0, 100, 65535), 3, NPG_UINT16), from_bits(UB64(m1, 100, 127), 3, NPG_INT8), NULL),
                NPG_INT64, UB64(0, 1, 2), 3, "searchsorted uint16 x1, int8 x2 (int32)");
    expect_bits(npg_searchsorted(from_bits(UB64(0, 5, H), 3, NPG_UINT64), from_bits(UB64(m1, 6), 2, NPG_INT8), NULL), NPG_INT64,
                UB64(0, 2), 2, "searchsorted uint64 x1, int8 x2 (float64)");
    npg_scope_end(s);
    t_assert_no_leak(live, "unique / searchsorted integers");
}

/* unique's values are a gather of x: the gradient goes to each value's first
 * occurrence in sorted order (distinct values here, so central differences
 * do not cross ties). */
static npg_array *unique_fn(npg_array *const *in, int n, void *u) {
    (void)n, (void)u;
    return npg_square(npg_unique_values(in[0]));
}

Test(search, unique_values_gradient) {
    t_live live = t_live_now();
    npg_scope s = npg_scope_begin();
    double v[7] = {0.5, -1.5, 2.25, 0.125, -3, 1.75, 4};
    npg_array *x = t_arr(v, NPG_FLOAT64, NPG_SHAPE(7));
    cr_assert_eq(npg_set_requires_grad(x, true), NPG_OK);
    cr_assert_eq(npg_gradcheck(unique_fn, NULL, &x, 1, NULL), NPG_OK, "%s", npg_last_error());
    npg_scope_end(s);
    t_assert_no_leak(live, "unique gradient");
}
