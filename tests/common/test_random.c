/*
 * test_random.c — sampling from given probabilities (src/common/random.c):
 * npg_bernoulli and npg_multinomial, on the device under test (NPG_DEVICE).
 *
 * Each draw is checked against its definition, recomputed on the host from
 * the very uniforms an equally seeded generator gives (npg_rand in float64:
 * the same seed gives the same uniforms on every device), so a result is
 * checked exactly, not only statistically; frequency checks over many draws
 * (bounds of 5 standard deviations, with fixed seeds) check the
 * distribution as well.
 */
#include "test_util.h"

static void setup(void) { t_require_device(); }
TestSuite(random, .init = setup);

#define OPT(...) NPG_OPTS(.device = t_dev(), __VA_ARGS__)

/* The float64 uniforms of shape that a generator seeded `seed` gives first. */
static double *uniforms(uint64_t seed, npg_shape shape) {
    npg_generator *g = npg_generator_new(seed);
    npg_array *u = npg_rand(shape, OPT(.dtype = NPG_FLOAT64, .generator = g));
    cr_assert_not_null(u, "%s", npg_last_error());
    double *v = t_read(u);
    npg_free(u);
    npg_generator_free(g);
    return v;
}

Test(random, bernoulli_is_u_below_p) {
    t_live live = t_live_now();
    npg_scope s = npg_scope_begin();
    enum { R = 7, C = 9 };
    double pv[R * C];
    t_fill_uniform(pv, R * C, -0.2, 1.2, 5); /* some below 0 and above 1 */
    pv[3] = NAN;
    pv[4] = 0;
    pv[5] = 1;
    const npg_dtype dts[2] = {NPG_FLOAT32, NPG_FLOAT64};
    for (int d = 0; d < 2; d++) {
        npg_array *p = t_arr(pv, dts[d], NPG_SHAPE(R, C));
        double *pr = t_read(p); /* p as stored (float32 rounding) */
        npg_generator *g = npg_generator_new(42);
        npg_array *y = npg_bernoulli(p, g);
        cr_assert_not_null(y, "%s", npg_last_error());
        t_assert_shape(y, NPG_SHAPE(R, C));
        cr_assert_eq(npg_dtype_of(y), dts[d]);
        double *u = uniforms(42, NPG_SHAPE(R, C)), want[R * C];
        for (int i = 0; i < R * C; i++) want[i] = isnan(pr[i]) ? NAN : (u[i] < pr[i] ? 1.0 : 0.0);
        t_assert_close(y, want, R * C, 0, 0, "bernoulli = (u < p)");
        cr_assert_eq(want[4], 0.0, "p = 0 gives 0");
        cr_assert_eq(want[5], 1.0, "p = 1 gives 1");
        t_expect_unchanged(p, pr, R * C, "p");
        /* a transposed (non-contiguous) p: the same draws for the same elements in row-major order */
        npg_array *pt = npg_matrix_transpose(p);
        npg_generator *g2 = npg_generator_new(42);
        npg_array *yt = npg_bernoulli(pt, g2);
        cr_assert_not_null(yt, "%s", npg_last_error());
        double *ptv = t_read(pt), *ytv = t_read(yt);
        for (int i = 0; i < R * C; i++) {
            double e = isnan(ptv[i]) ? NAN : (u[i] < ptv[i] ? 1.0 : 0.0);
            cr_assert(isnan(e) ? isnan(ytv[i]) : ytv[i] == e, "transposed element %d", i);
        }
        free(ptv);
        free(ytv);
        free(u);
        free(pr);
        npg_generator_free(g);
        npg_generator_free(g2);
    }
    npg_scope_end(s);
    t_assert_no_leak(live, "bernoulli");
}

Test(random, bernoulli_shapes_dtypes_frequency_and_errors) {
    t_live live = t_live_now();
    npg_scope s = npg_scope_begin();
    /* 0-d, empty, integer and bool p (the default float), no gradient */
    npg_array *y0 = npg_bernoulli(npg_scalar(1.0, OPT(.dtype = NPG_FLOAT64)), NULL);
    cr_assert_not_null(y0, "%s", npg_last_error());
    t_assert_shape(y0, NPG_SHAPE0);
    cr_assert_eq(npg_item(y0), 1.0);
    npg_array *ye = npg_bernoulli(npg_zeros(NPG_SHAPE(0, 3), OPT()), NULL);
    cr_assert_not_null(ye, "%s", npg_last_error());
    t_assert_shape(ye, NPG_SHAPE(0, 3));
    npg_array *yi = npg_bernoulli(npg_ones(NPG_SHAPE(4), OPT(.dtype = NPG_INT32)), NULL);
    cr_assert_not_null(yi, "%s", npg_last_error());
    cr_assert_eq(npg_dtype_of(yi), NPG_FLOAT32);
    double ones[4] = {1, 1, 1, 1};
    t_assert_close(yi, ones, 4, 0, 0, "integer p = 1");
    npg_array *yb = npg_bernoulli(npg_zeros(NPG_SHAPE(4), OPT(.dtype = NPG_BOOL)), NULL);
    cr_assert_not_null(yb, "%s", npg_last_error());
    double zeros[4] = {0};
    t_assert_close(yb, zeros, 4, 0, 0, "bool p = false");
    npg_array *pg = npg_full(NPG_SHAPE(3), 0.5, OPT(.dtype = NPG_FLOAT64, .requires_grad = true));
    npg_array *yg = npg_bernoulli(pg, NULL);
    cr_assert_not_null(yg);
    cr_assert(!npg_requires_grad(yg), "draws carry no gradient");
    /* frequency: p = 0.3 over 200000 draws */
    npg_generator *g = npg_generator_new(7);
    const int64_t n = 200000;
    npg_array *f = npg_bernoulli(npg_full(NPG_SHAPE(n), 0.3, OPT()), g);
    double mean = npg_item(npg_mean(f, NPG_ALL_AXES, false)), sd = sqrt(0.3 * 0.7 / (double)n);
    cr_assert(fabs(mean - 0.3) < 5 * sd, "mean %g", mean);
    /* the global generator advances: two calls differ */
    npg_array *a = npg_bernoulli(npg_full(NPG_SHAPE(256), 0.5, OPT()), NULL);
    npg_array *b = npg_bernoulli(npg_full(NPG_SHAPE(256), 0.5, OPT()), NULL);
    cr_assert_lt(npg_item(npg_sum(npg_equal(a, b), NPG_ALL_AXES, false)), 256.0);
    npg_generator_free(g);
    /* NULL */
    npg_clear_error();
    cr_assert_null(npg_bernoulli(NULL, NULL));
    t_assert_error(NPG_ERR_NULL_ARG, "npg_bernoulli");
    npg_clear_error();
    npg_scope_end(s);
    t_assert_no_leak(live, "bernoulli shapes");
}

/* The category of row r for uniform u (with replacement): the count of the
 * row's normalised cumulative weights <= u, clamped to the last positive. */
static int64_t host_inverse_cdf(const double *w, int64_t K, double u) {
    double total = 0, c = 0;
    for (int64_t k = 0; k < K; k++) total += w[k];
    int64_t cnt = 0, last = -1;
    for (int64_t k = 0; k < K; k++) {
        c += w[k];
        if (c / total <= u) cnt++;
        if (w[k] > 0) last = k;
    }
    return cnt < last ? cnt : last;
}

Test(random, multinomial_with_replacement) {
    t_live live = t_live_now();
    npg_scope s = npg_scope_begin();
    enum { N = 5, K = 7, S = 11 };
    double wv[N * K];
    t_fill_uniform(wv, N * K, 0, 3, 11);
    wv[0] = wv[9] = wv[K - 1] = 0; /* zero weights, one of them last in its row */
    for (int k = 0; k < K; k++) wv[4 * K + k] = k == 2 ? 5.0 : 0.0; /* a row with one category */
    const npg_dtype dts[3] = {NPG_FLOAT32, NPG_FLOAT64, NPG_INT32};
    for (int d = 0; d < 3; d++) {
        double wd[N * K];
        for (int i = 0; i < N * K; i++) wd[i] = dts[d] == NPG_INT32 ? floor(wv[i] * 3) : wv[i];
        wd[4 * K + 2] = 5.0;
        npg_array *w = t_arr(wd, dts[d], NPG_SHAPE(N, K));
        double *wr = t_read(w);
        npg_generator *g = npg_generator_new(1000 + (uint64_t)d);
        npg_array *y = npg_multinomial(w, S, true, g);
        cr_assert_not_null(y, "%s", npg_last_error());
        t_assert_shape(y, NPG_SHAPE(N, S));
        cr_assert_eq(npg_dtype_of(y), NPG_INT64);
        double *u = uniforms(1000 + (uint64_t)d, NPG_SHAPE(N, S)), want[N * S];
        for (int r = 0; r < N; r++)
            for (int j = 0; j < S; j++) want[r * S + j] = (double)host_inverse_cdf(wr + r * K, K, u[r * S + j]);
        t_assert_close(y, want, N * S, 0, 0, "inverse CDF of the same uniforms");
        double *yv = t_read(y);
        for (int i = 0; i < N * S; i++) cr_assert_gt(wr[(i / S) * K + (int64_t)yv[i]], 0, "a zero weight was drawn");
        for (int j = 0; j < S; j++) cr_assert_eq(yv[4 * S + j], 2.0, "the one-category row");
        t_expect_unchanged(w, wr, N * K, "weights");
        free(yv);
        free(u);
        free(wr);
        npg_generator_free(g);
    }
    /* 1-d weights; frequencies over 200000 draws */
    double w1[5] = {1, 0, 3, 6, 0.5};
    npg_generator *g = npg_generator_new(3);
    const int64_t n = 200000;
    npg_array *y = npg_multinomial(t_arr(w1, NPG_FLOAT64, NPG_SHAPE(5)), n, true, g);
    cr_assert_not_null(y, "%s", npg_last_error());
    t_assert_shape(y, NPG_SHAPE(n));
    double *yv = t_read(y);
    int64_t count[5] = {0};
    for (int64_t i = 0; i < n; i++) count[(int)yv[i]]++;
    for (int k = 0; k < 5; k++) {
        double p = w1[k] / 10.5, sd = sqrt(p * (1 - p) / (double)n);
        cr_assert(fabs((double)count[k] / (double)n - p) <= 5 * sd, "category %d: %lld of %lld", k,
                  (long long)count[k], (long long)n);
    }
    cr_assert_eq(count[1], 0);
    free(yv);
    npg_generator_free(g);
    npg_scope_end(s);
    t_assert_no_leak(live, "multinomial with replacement");
}

Test(random, multinomial_without_replacement) {
    t_live live = t_live_now();
    npg_scope s = npg_scope_begin();
    enum { N = 6, K = 8, S = 5 };
    double wv[N * K];
    t_fill_uniform(wv, N * K, 0.1, 2, 21);
    wv[1] = wv[K + 7] = wv[2 * K + 3] = 0;
    for (int k = 0; k < K; k++) wv[5 * K + k] = k < S ? 1.0 + k : 0.0; /* exactly S positive */
    npg_array *w = t_arr(wv, NPG_FLOAT64, NPG_SHAPE(N, K));
    npg_generator *g = npg_generator_new(77);
    npg_array *y = npg_multinomial(w, S, false, g);
    cr_assert_not_null(y, "%s", npg_last_error());
    t_assert_shape(y, NPG_SHAPE(N, S));
    /* the definition: the S smallest of -log1p(-u) / w, in order */
    double *u = uniforms(77, NPG_SHAPE(N, K)), *yv = t_read(y);
    for (int r = 0; r < N; r++) {
        double key[K];
        for (int k = 0; k < K; k++) key[k] = wv[r * K + k] > 0 ? -log1p(-u[r * K + k]) / wv[r * K + k] : INFINITY;
        bool taken[K] = {0};
        for (int j = 0; j < S; j++) {
            int best = -1;
            for (int k = 0; k < K; k++)
                if (!taken[k] && (best < 0 || key[k] < key[best])) best = k;
            taken[best] = true;
            cr_assert_eq(yv[r * S + j], (double)best, "row %d draw %d", r, j);
            cr_assert_gt(wv[r * K + best], 0);
        }
    }
    /* the row with exactly S positive weights gives each of them once */
    bool seen[K] = {0};
    for (int j = 0; j < S; j++) seen[(int)yv[5 * S + j]] = true;
    for (int k = 0; k < S; k++) cr_assert(seen[k]);
    free(u);
    free(yv);
    /* frequencies of the first and second draw: weights (1, 1, 2) */
    const int64_t n = 60000;
    double w3[3] = {1, 1, 2};
    npg_array *big = npg_broadcast_to(t_arr(w3, NPG_FLOAT32, NPG_SHAPE(3)), NPG_SHAPE(n, 3));
    npg_array *z = npg_multinomial(big, 2, false, g);
    cr_assert_not_null(z, "%s", npg_last_error());
    double *zv = t_read(z);
    int64_t first2 = 0, second2 = 0;
    for (int64_t i = 0; i < n; i++) {
        cr_assert_neq(zv[2 * i], zv[2 * i + 1], "drawn twice");
        first2 += zv[2 * i] == 2;
        second2 += zv[2 * i + 1] == 2;
    }
    /* P(first = 2) = 1/2; P(second = 2) = P(first != 2) * 2/3 = 1/3 */
    double p1 = (double)first2 / (double)n, p2 = (double)second2 / (double)n;
    cr_assert(fabs(p1 - 0.5) < 5 * sqrt(0.25 / (double)n), "first draw %g", p1);
    cr_assert(fabs(p2 - 1.0 / 3) < 5 * sqrt(2.0 / 9 / (double)n), "second draw %g", p2);
    free(zv);
    npg_generator_free(g);
    npg_scope_end(s);
    t_assert_no_leak(live, "multinomial without replacement");
}

Test(random, multinomial_shapes_and_errors) {
    t_live live = t_live_now();
    npg_scope s = npg_scope_begin();
    double wv[6] = {1, 2, 0, 0, 3, 1};
    npg_array *w = t_arr(wv, NPG_FLOAT64, NPG_SHAPE(2, 3));
    npg_array *y = npg_multinomial(w, 0, true, NULL);
    cr_assert_not_null(y, "%s", npg_last_error());
    t_assert_shape(y, NPG_SHAPE(2, 0));
    y = npg_multinomial(npg_ones(NPG_SHAPE(0, 4), OPT()), 3, true, NULL);
    cr_assert_not_null(y, "%s", npg_last_error());
    t_assert_shape(y, NPG_SHAPE(0, 3));
    y = npg_multinomial(npg_ones(NPG_SHAPE(0, 4), OPT()), 3, false, NULL);
    cr_assert_not_null(y, "%s", npg_last_error());
    t_assert_shape(y, NPG_SHAPE(0, 3));
    y = npg_multinomial(npg_ones(NPG_SHAPE(4), OPT(.dtype = NPG_UINT8)), 4, false, NULL);
    cr_assert_not_null(y, "%s", npg_last_error());
    t_assert_shape(y, NPG_SHAPE(4));
    /* a non-contiguous (transposed) weights array: the same as its copy */
    npg_array *wt = npg_matrix_transpose(t_arr(wv, NPG_FLOAT64, NPG_SHAPE(3, 2)));
    npg_generator *g1 = npg_generator_new(5), *g2 = npg_generator_new(5);
    npg_array *a = npg_multinomial(wt, 4, true, g1), *b = npg_multinomial(npg_contiguous(wt), 4, true, g2);
    cr_assert(a && b, "%s", npg_last_error());
    cr_assert_eq(npg_item(npg_sum(npg_not_equal(a, b), NPG_ALL_AXES, false)), 0.0);
    npg_generator_free(g1);
    npg_generator_free(g2);

    struct {
        npg_array *w;
        int64_t n;
        bool repl;
        npg_status st;
        const char *msg;
    } bad[] = {
        {npg_scalar(1.0, OPT()), 1, true, NPG_ERR_SHAPE, "1-d (K) or 2-d"},
        {npg_ones(NPG_SHAPE(2, 2, 2), OPT()), 1, true, NPG_ERR_SHAPE, "1-d (K) or 2-d"},
        {npg_ones(NPG_SHAPE(3), OPT(.dtype = NPG_BOOL)), 1, true, NPG_ERR_DTYPE, "bool"},
        {w, -1, true, NPG_ERR_INVALID_ARG, "num_samples"},
        {npg_ones(NPG_SHAPE(2, 0), OPT()), 1, true, NPG_ERR_INVALID_ARG, "no categories"},
        {w, 4, false, NPG_ERR_INVALID_ARG, "without replacement"},
        {w, 3, false, NPG_ERR_INVALID_ARG, "positive weights"},
        {t_arr((double[]){1, -0.5, 2}, NPG_FLOAT64, NPG_SHAPE(3)), 1, true, NPG_ERR_INVALID_ARG, "non-negative"},
        {t_arr((double[]){1, INFINITY, 2}, NPG_FLOAT32, NPG_SHAPE(3)), 1, true, NPG_ERR_INVALID_ARG, "finite"},
        {t_arr((double[]){1, NAN, 2}, NPG_FLOAT64, NPG_SHAPE(3)), 1, true, NPG_ERR_INVALID_ARG, "finite"},
        {t_arr((double[]){1, 2, 0, 0}, NPG_FLOAT64, NPG_SHAPE(2, 2)), 1, true, NPG_ERR_INVALID_ARG, "positive sum"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_not_null(bad[i].w, "case %zu: %s", i, npg_last_error());
        double *before = t_read(bad[i].w);
        int64_t n = npg_size(bad[i].w);
        t_live mid = t_live_now();
        npg_clear_error();
        cr_assert_null(npg_multinomial(bad[i].w, bad[i].n, bad[i].repl, NULL), "case %zu", i);
        t_assert_error(bad[i].st, bad[i].msg);
        t_assert_error(bad[i].st, "npg_multinomial");
        t_assert_no_leak(mid, "a failed multinomial");
        t_expect_unchanged(bad[i].w, before, n, "weights");
        free(before);
    }
    npg_clear_error();
    cr_assert_null(npg_multinomial(NULL, 1, true, NULL));
    t_assert_error(NPG_ERR_NULL_ARG, "npg_multinomial");
    npg_clear_error();
    npg_scope_end(s);
    t_assert_no_leak(live, "multinomial errors");
}
