/*
 * test_nn_more.c — batch_norm, group_norm, pad and
 * scaled_dot_product_attention (src/common/nn_more.c) on the device under
 * test: values against float64 references computed here (NumPy's pad
 * examples, PyTorch's formulas), running statistics, gradients through
 * npg_gradcheck, and the argument errors.
 */
#include <math.h>

#include "test_util.h"

static void setup(void) { t_require_device(); }
TestSuite(nn_more, .init = setup);

#define OPT(...) NPG_OPTS(.device = t_dev(), __VA_ARGS__)

static int64_t numel(npg_shape s) {
    int64_t n = 1;
    for (int i = 0; i < s.ndim; i++) n *= s.dims[i];
    return n;
}

/* uniform values in [lo, hi) as an array (float64 unless dt) and on the host */
static npg_array *rand_arr(npg_shape s, double lo, double hi, uint64_t seed, npg_dtype dt, double *host) {
    double v[4096];
    int64_t n = numel(s);
    cr_assert_leq(n, 4096);
    t_fill_uniform(v, n, lo, hi, seed);
    if (host) memcpy(host, v, sizeof(double) * (size_t)n);
    return t_arr(v, dt ? dt : NPG_FLOAT64, s);
}

static npg_array *leaf(npg_array *x) {
    cr_assert_eq(npg_set_requires_grad(x, true), NPG_OK, "%s", npg_last_error());
    return x;
}

/* ---- batch_norm --------------------------------------------------------- */

Test(nn_more, batch_norm_training_eval_and_running_stats) {
    t_live live = t_live_now();
    npg_scope s = npg_scope_begin();
    enum { N = 4, C = 3, H = 2, W = 5 };
    double xv[N * C * H * W], wv[C] = {1.5, -0.5, 2}, bv[C] = {0.25, 1, -3};
    npg_array *x = rand_arr(NPG_SHAPE(N, C, H, W), -2, 3, 5, 0, xv);
    npg_array *w = t_arr(wv, NPG_FLOAT64, NPG_SHAPE(C)), *b = t_arr(bv, NPG_FLOAT64, NPG_SHAPE(C));
    npg_array *rm = npg_zeros(NPG_SHAPE(C), OPT(.dtype = NPG_FLOAT64));
    npg_array *rv = npg_ones(NPG_SHAPE(C), OPT(.dtype = NPG_FLOAT64));
    npg_array *y = npg_batch_norm(x, rm, rv, w, b, true, 0.1, 1e-5);
    cr_assert_not_null(y, "%s", npg_last_error());
    double mean[C] = {0}, var[C] = {0}, want[N * C * H * W], wrm[C], wrv[C];
    const int cnt = N * H * W;
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int i = 0; i < H * W; i++) mean[c] += xv[(n * C + c) * H * W + i] / cnt;
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int i = 0; i < H * W; i++) {
                double d = xv[(n * C + c) * H * W + i] - mean[c];
                var[c] += d * d / cnt;
            }
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int i = 0; i < H * W; i++) {
                int k = (n * C + c) * H * W + i;
                want[k] = (xv[k] - mean[c]) / sqrt(var[c] + 1e-5) * wv[c] + bv[c];
            }
    t_assert_close(y, want, N * C * H * W, 1e-12, 1e-12, "batch_norm training");
    for (int c = 0; c < C; c++) {
        wrm[c] = 0.1 * mean[c];
        wrv[c] = 0.9 + 0.1 * var[c] * cnt / (cnt - 1);
    }
    t_assert_close(rm, wrm, C, 1e-12, 1e-15, "running_mean");
    t_assert_close(rv, wrv, C, 1e-12, 1e-15, "running_var");
    /* evaluation: the running statistics */
    npg_array *ye = npg_batch_norm(x, rm, rv, w, b, false, 0.1, 1e-5);
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int i = 0; i < H * W; i++) {
                int k = (n * C + c) * H * W + i;
                want[k] = (xv[k] - wrm[c]) / sqrt(wrv[c] + 1e-5) * wv[c] + bv[c];
            }
    t_assert_close(ye, want, N * C * H * W, 1e-12, 1e-12, "batch_norm evaluation");
    t_assert_close(rm, wrm, C, 1e-12, 1e-15, "evaluation leaves running_mean");
    /* 2-d input (N, C), float32, no affine, no running statistics */
    double x2[6] = {1, 10, 3, 20, 5, 60};
    npg_array *y2 = npg_batch_norm(t_arr(x2, NPG_FLOAT32, NPG_SHAPE(3, 2)), NULL, NULL, NULL, NULL, true, 0.1, 0);
    cr_assert_not_null(y2, "%s", npg_last_error());
    cr_assert_eq(npg_dtype_of(y2), NPG_FLOAT32);
    double s0 = sqrt(8.0 / 3), m1 = 30, s1 = sqrt((400 + 100 + 900) / 3.0);
    double w2[6] = {-2 / s0, (10 - m1) / s1, 0, (20 - m1) / s1, 2 / s0, (60 - m1) / s1};
    t_assert_close(y2, w2, 6, 1e-6, 1e-6, "batch_norm 2-d float32");
    npg_scope_end(s);
    t_assert_no_leak(live, "batch_norm");
}

static npg_array *bn_train(npg_array *const *in, int n, void *u) {
    (void)n, (void)u;
    return npg_batch_norm(in[0], NULL, NULL, in[1], in[2], true, 0.1, 1e-3);
}
static npg_array *bn_eval(npg_array *const *in, int n, void *u) {
    (void)n, (void)u;
    return npg_batch_norm(in[0], in[3], in[4], in[1], in[2], false, 0.1, 1e-3);
}
static npg_array *gn(npg_array *const *in, int n, void *u) {
    (void)n, (void)u;
    return npg_group_norm(in[0], 2, in[1], in[2], 1e-3);
}

Test(nn_more, batch_norm_and_group_norm_gradients) {
    t_live live = t_live_now();
    npg_scope s = npg_scope_begin();
    npg_array *in[5] = {leaf(rand_arr(NPG_SHAPE(3, 4, 5), -1, 2, 7, 0, NULL)),
                        leaf(rand_arr(NPG_SHAPE(4), 0.5, 2, 8, 0, NULL)), leaf(rand_arr(NPG_SHAPE(4), -1, 1, 9, 0, NULL)),
                        rand_arr(NPG_SHAPE(4), -0.5, 0.5, 10, 0, NULL), rand_arr(NPG_SHAPE(4), 0.5, 2, 11, 0, NULL)};
    cr_assert_eq(npg_gradcheck(bn_train, NULL, in, 3, NULL), NPG_OK, "%s", npg_last_error());
    cr_assert_eq(npg_gradcheck(bn_eval, NULL, in, 5, NULL), NPG_OK, "%s", npg_last_error());
    cr_assert_eq(npg_gradcheck(gn, NULL, in, 3, NULL), NPG_OK, "%s", npg_last_error());
    npg_scope_end(s);
    t_assert_no_leak(live, "norm gradients");
}

Test(nn_more, group_norm_values_and_errors) {
    t_live live = t_live_now();
    npg_scope s = npg_scope_begin();
    enum { N = 2, C = 6, L = 3, G = 3 };
    double xv[N * C * L], want[N * C * L];
    npg_array *x = rand_arr(NPG_SHAPE(N, C, L), -3, 3, 12, 0, xv);
    for (int n = 0; n < N; n++)
        for (int g = 0; g < G; g++) {
            const int per = C / G * L, base = (n * C + g * (C / G)) * L;
            double m = 0, v = 0;
            for (int i = 0; i < per; i++) m += xv[base + i] / per;
            for (int i = 0; i < per; i++) v += (xv[base + i] - m) * (xv[base + i] - m) / per;
            for (int i = 0; i < per; i++) want[base + i] = (xv[base + i] - m) / sqrt(v + 1e-5);
        }
    t_assert_close(npg_group_norm(x, G, NULL, NULL, 1e-5), want, N * C * L, 1e-12, 1e-12, "group_norm");
    /* a transposed input gives the same as its contiguous copy */
    npg_array *xt = npg_permute_dims(rand_arr(NPG_SHAPE(L, C, N), -1, 1, 13, 0, NULL), NPG_AXES(2, 1, 0));
    double *a = t_read(npg_group_norm(xt, 2, NULL, NULL, 1e-5));
    t_assert_close(npg_group_norm(npg_contiguous(xt), 2, NULL, NULL, 1e-5), a, N * C * L, 1e-12, 1e-12,
                   "group_norm of a transpose");
    free(a);
    cr_assert_null(npg_group_norm(x, 4, NULL, NULL, 1e-5));
    t_assert_error(NPG_ERR_INVALID_ARG, "do not split into 4 groups");
    npg_clear_error();
    cr_assert_null(npg_group_norm(x, 3, npg_ones(NPG_SHAPE(5), OPT()), NULL, 1e-5));
    t_assert_error(NPG_ERR_SHAPE, "weight of shape (5,)");
    npg_clear_error();
    /* batch_norm's errors */
    npg_array *ones3 = npg_ones(NPG_SHAPE(3), OPT(.dtype = NPG_FLOAT64));
    cr_assert_null(npg_batch_norm(npg_ones(NPG_SHAPE(4), OPT()), NULL, NULL, NULL, NULL, true, 0.1, 1e-5));
    t_assert_error(NPG_ERR_SHAPE, "at least 2");
    npg_clear_error();
    cr_assert_null(npg_batch_norm(npg_ones(NPG_SHAPE(2, 3), OPT(.dtype = NPG_INT32)), NULL, NULL, NULL, NULL, true,
                                  0.1, 1e-5));
    t_assert_error(NPG_ERR_DTYPE, "int32");
    npg_clear_error();
    cr_assert_null(npg_batch_norm(x, NULL, NULL, NULL, NULL, false, 0.1, 1e-5));
    t_assert_error(NPG_ERR_NULL_ARG, "running_mean and running_var");
    npg_clear_error();
    cr_assert_null(npg_batch_norm(x, ones3, NULL, NULL, NULL, true, 0.1, 1e-5));
    t_assert_error(NPG_ERR_SHAPE, "running_mean of shape (3,)");
    npg_clear_error();
    cr_assert_null(npg_batch_norm(npg_ones(NPG_SHAPE(1, 3), OPT()), NULL, NULL, NULL, NULL, true, 0.1, 1e-5));
    t_assert_error(NPG_ERR_SHAPE, "more than one value per channel");
    npg_clear_error();
    npg_array *ib = npg_zeros(NPG_SHAPE(6), OPT(.dtype = NPG_INT32)), *fb = npg_ones(NPG_SHAPE(6), OPT());
    cr_assert_null(npg_batch_norm(x, ib, fb, NULL, NULL, true, 0.1, 1e-5));
    t_assert_error(NPG_ERR_DTYPE, "running statistics must be floating (got int32)");
    npg_clear_error();
    cr_assert_null(npg_batch_norm(x, NULL, NULL, NULL, NULL, true, 1.5, 1e-5));
    t_assert_error(NPG_ERR_INVALID_ARG, "momentum");
    npg_clear_error();
    npg_scope_end(s);
    t_assert_no_leak(live, "group_norm and errors");
}

/* ---- pad ----------------------------------------------------------------- */

static npg_array *pad_c(npg_array *const *in, int n, void *u) {
    (void)n, (void)u;
    return npg_pad(in[0], (const int64_t[]){1, 2, 0, 3}, NPG_PAD_CONSTANT, 0.5);
}
static npg_array *pad_e(npg_array *const *in, int n, void *u) {
    (void)n, (void)u;
    return npg_pad(in[0], (const int64_t[]){2, 1, 3, 0}, NPG_PAD_EDGE, 0);
}
static npg_array *pad_r(npg_array *const *in, int n, void *u) {
    (void)n, (void)u;
    return npg_pad(in[0], (const int64_t[]){2, 2, 1, 3}, NPG_PAD_REFLECT, 0);
}

Test(nn_more, pad_matches_numpy) {
    t_live live = t_live_now();
    npg_scope s = npg_scope_begin();
    double v[3] = {1, 2, 3};
    npg_array *x = t_arr(v, NPG_INT32, NPG_SHAPE(3));
    double wc[6] = {9, 9, 1, 2, 3, 9}, we[7] = {1, 1, 1, 2, 3, 3, 3}, wr[7] = {3, 2, 1, 2, 3, 2, 1};
    npg_array *pc = npg_pad(x, (const int64_t[]){2, 1}, NPG_PAD_CONSTANT, 9);
    t_assert_close(pc, wc, 6, 0, 0, "constant");
    cr_assert_eq(npg_dtype_of(pc), NPG_INT32);
    t_assert_close(npg_pad(x, (const int64_t[]){2, 2}, NPG_PAD_EDGE, 0), we, 7, 0, 0, "edge");
    t_assert_close(npg_pad(x, (const int64_t[]){2, 2}, NPG_PAD_REFLECT, 0), wr, 7, 0, 0, "reflect");
    /* 2-d, per axis, on a transposed input: [[0, 2], [1, 3]] */
    npg_array *m = npg_T(npg_reshape(npg_arange(0, 4, 1, OPT(.dtype = NPG_FLOAT32)), NPG_SHAPE(2, 2)));
    double w2[12] = {-1, -1, -1, -1, 0, 2, -1, -1, 1, 3, -1, -1};
    npg_array *p2 = npg_pad(m, (const int64_t[]){1, 0, 0, 2}, NPG_PAD_CONSTANT, -1);
    t_assert_shape(p2, NPG_SHAPE(3, 4));
    t_assert_close(p2, w2, 12, 0, 0, "2-d constant on a transpose");
    double w3[16] = {3, 1, 3, 1, 2, 0, 2, 0, 3, 1, 3, 1, 2, 0, 2, 0};
    npg_array *p3 = npg_pad(m, (const int64_t[]){1, 1, 1, 1}, NPG_PAD_REFLECT, 0);
    t_assert_shape(p3, NPG_SHAPE(4, 4));
    t_assert_close(p3, w3, 16, 0, 0, "2-d reflect");
    /* no padding: a copy; 0-d; bool */
    npg_array *same = npg_pad(x, (const int64_t[]){0, 0}, NPG_PAD_EDGE, 0);
    cr_assert_neq(npg_data(same), npg_data(x));
    double five = 5;
    t_assert_close(npg_pad(npg_scalar(5, OPT()), NULL, NPG_PAD_CONSTANT, 0), &five, 1, 0, 0, "0-d");
    double bv[2] = {1, 0}, wb[4] = {1, 1, 0, 1};
    t_assert_close(npg_pad(t_arr(bv, NPG_BOOL, NPG_SHAPE(2)), (const int64_t[]){1, 1}, NPG_PAD_CONSTANT, 1), wb, 4, 0,
                   0, "bool");
    /* errors */
    cr_assert_null(npg_pad(x, (const int64_t[]){-1, 0}, NPG_PAD_CONSTANT, 0));
    t_assert_error(NPG_ERR_INVALID_ARG, "must be >= 0");
    npg_clear_error();
    cr_assert_null(npg_pad(x, (const int64_t[]){3, 0}, NPG_PAD_REFLECT, 0));
    t_assert_error(NPG_ERR_SHAPE, "less than its length 3");
    npg_clear_error();
    cr_assert_null(npg_pad(npg_zeros(NPG_SHAPE(0), OPT()), (const int64_t[]){1, 0}, NPG_PAD_EDGE, 0));
    t_assert_error(NPG_ERR_SHAPE, "empty");
    npg_clear_error();
    cr_assert_null(npg_pad(x, (const int64_t[]){1, 0}, (npg_pad_mode)7, 0));
    t_assert_error(NPG_ERR_INVALID_ARG, "unknown mode 7");
    npg_clear_error();
    cr_assert_null(npg_pad(x, NULL, NPG_PAD_CONSTANT, 0));
    t_assert_error(NPG_ERR_NULL_ARG, "pad_width");
    npg_clear_error();
    /* gradients, every mode */
    npg_array *g = leaf(rand_arr(NPG_SHAPE(3, 4), -1, 1, 14, 0, NULL));
    cr_assert_eq(npg_gradcheck(pad_c, NULL, &g, 1, NULL), NPG_OK, "%s", npg_last_error());
    cr_assert_eq(npg_gradcheck(pad_e, NULL, &g, 1, NULL), NPG_OK, "%s", npg_last_error());
    cr_assert_eq(npg_gradcheck(pad_r, NULL, &g, 1, NULL), NPG_OK, "%s", npg_last_error());
    npg_scope_end(s);
    t_assert_no_leak(live, "pad");
}

/* ---- attention ---------------------------------------------------------------- */

/* softmax(q k^T * sc + add) v for one batch, float64, on the host; keep[l*S+s] false: masked */
static void ref_attention(const double *q, const double *k, const double *v, const bool *keep, const double *add,
                          int L, int S, int E, int Ev, double sc, double *out) {
    for (int l = 0; l < L; l++) {
        double sc_row[16], mx = -INFINITY, sum = 0;
        for (int s = 0; s < S; s++) {
            double d = 0;
            for (int e = 0; e < E; e++) d += q[l * E + e] * k[s * E + e];
            sc_row[s] = keep && !keep[l * S + s] ? -INFINITY : d * sc + (add ? add[l * S + s] : 0);
            if (sc_row[s] > mx) mx = sc_row[s];
        }
        for (int s = 0; s < S; s++) sum += sc_row[s] = exp(sc_row[s] - mx);
        for (int e = 0; e < Ev; e++) {
            double acc = 0;
            for (int s = 0; s < S; s++) acc += sc_row[s] / sum * v[s * Ev + e];
            out[l * Ev + e] = acc;
        }
    }
}

static npg_array *attn_fn(npg_array *const *in, int n, void *u) {
    (void)n;
    return npg_scaled_dot_product_attention(in[0], in[1], in[2], NULL, u != NULL, 0);
}

Test(nn_more, attention_values_masks_and_gradient) {
    t_live live = t_live_now();
    npg_scope s = npg_scope_begin();
    enum { B = 2, L = 3, S = 5, E = 4, EV = 6 };
    double qv[B * L * E], kv[B * S * E], vv[B * S * EV], want[B * L * EV];
    npg_array *q = rand_arr(NPG_SHAPE(B, L, E), -1, 1, 15, 0, qv), *k = rand_arr(NPG_SHAPE(B, S, E), -1, 1, 16, 0, kv);
    npg_array *v = rand_arr(NPG_SHAPE(B, S, EV), -1, 1, 17, 0, vv);
    for (int b = 0; b < B; b++)
        ref_attention(qv + b * L * E, kv + b * S * E, vv + b * S * EV, NULL, NULL, L, S, E, EV, 0.5,
                      want + b * L * EV);
    t_assert_close(npg_scaled_dot_product_attention(q, k, v, NULL, false, 0), want, B * L * EV, 1e-12, 1e-12,
                   "attention");
    /* an explicit scale; a bool mask (L, S) broadcast over the batch */
    bool keep[L * S];
    double maskv[L * S];
    for (int i = 0; i < L * S; i++) keep[i] = (i * 7) % 3 != 0 || i % S == 1, maskv[i] = keep[i];
    npg_array *mask = t_arr(maskv, NPG_BOOL, NPG_SHAPE(L, S));
    for (int b = 0; b < B; b++)
        ref_attention(qv + b * L * E, kv + b * S * E, vv + b * S * EV, keep, NULL, L, S, E, EV, 0.3,
                      want + b * L * EV);
    t_assert_close(npg_scaled_dot_product_attention(q, k, v, mask, false, 0.3), want, B * L * EV, 1e-12, 1e-12,
                   "bool mask");
    /* a float (additive) mask */
    double addv[L * S];
    t_fill_uniform(addv, L * S, -2, 2, 18);
    for (int b = 0; b < B; b++)
        ref_attention(qv + b * L * E, kv + b * S * E, vv + b * S * EV, NULL, addv, L, S, E, EV, 0.5,
                      want + b * L * EV);
    t_assert_close(npg_scaled_dot_product_attention(q, k, v, t_arr(addv, NPG_FLOAT64, NPG_SHAPE(L, S)), false, 0),
                   want, B * L * EV, 1e-12, 1e-12, "additive mask");
    /* causal on a square problem, float32 */
    bool tri[S * S];
    for (int i = 0; i < S; i++)
        for (int j = 0; j < S; j++) tri[i * S + j] = j <= i;
    double want_c[S * EV];
    ref_attention(kv, kv, vv, tri, NULL, S, S, E, EV, 0.5, want_c);
    npg_array *k0 = npg_astype(NPG_INDEX(k, NPG_I(0)), NPG_FLOAT32), *v0 = npg_astype(NPG_INDEX(v, NPG_I(0)), NPG_FLOAT32);
    t_assert_close(npg_scaled_dot_product_attention(k0, k0, v0, NULL, true, 0), want_c, S * EV, 1e-5, 1e-6,
                   "causal float32");
    /* gradients, plain and causal */
    npg_array *g[3] = {leaf(rand_arr(NPG_SHAPE(2, 4, 3), -1, 1, 19, 0, NULL)),
                       leaf(rand_arr(NPG_SHAPE(2, 4, 3), -1, 1, 20, 0, NULL)),
                       leaf(rand_arr(NPG_SHAPE(2, 4, 2), -1, 1, 21, 0, NULL))};
    cr_assert_eq(npg_gradcheck(attn_fn, NULL, g, 3, NULL), NPG_OK, "%s", npg_last_error());
    cr_assert_eq(npg_gradcheck(attn_fn, "causal", g, 3, NULL), NPG_OK, "%s", npg_last_error());
    /* errors */
    cr_assert_null(npg_scaled_dot_product_attention(q, v, v, NULL, false, 0));
    t_assert_error(NPG_ERR_SHAPE, "do not fit");
    npg_clear_error();
    cr_assert_null(npg_scaled_dot_product_attention(npg_astype(q, NPG_INT32), k, v, NULL, false, 0));
    t_assert_error(NPG_ERR_DTYPE, "floating");
    npg_clear_error();
    cr_assert_null(npg_scaled_dot_product_attention(q, k, v, npg_astype(mask, NPG_INT32), false, 0));
    t_assert_error(NPG_ERR_DTYPE, "mask is int32");
    npg_clear_error();
    cr_assert_null(npg_scaled_dot_product_attention(q, k, v, NULL, false, -1));
    t_assert_error(NPG_ERR_INVALID_ARG, "scale");
    npg_clear_error();
    cr_assert_null(npg_scaled_dot_product_attention(npg_ones(NPG_SHAPE(3), OPT()), k, v, NULL, false, 0));
    t_assert_error(NPG_ERR_SHAPE, "at least 2");
    npg_clear_error();
    npg_scope_end(s);
    t_assert_no_leak(live, "attention");
}

/* Found by tests/common/test_fuzz2.c. */
Test(nn_more, failed_calls_change_nothing_and_masks_and_groups_are_checked) {
    t_live live = t_live_now();
    npg_scope s = npg_scope_begin();
    /* batch_norm: a running_var that cannot be written fails the call
     * before running_mean is updated */
    npg_array *x = rand_arr(NPG_SHAPE(4, 2, 3), -1, 1, 41, 0, NULL);
    npg_array *rm = npg_zeros(NPG_SHAPE(2), OPT(.dtype = NPG_FLOAT64));
    npg_array *rv = npg_broadcast_to(npg_ones(NPG_SHAPE(1), OPT(.dtype = NPG_FLOAT64)), NPG_SHAPE(2)); /* read-only */
    uint64_t v0 = npg_version(rm);
    cr_assert_null(npg_batch_norm(x, rm, rv, NULL, NULL, true, 0.1, 1e-5));
    npg_status st = npg_last_status();
    npg_clear_error();
    double zeros[2] = {0, 0};
    t_assert_close(rm, zeros, 2, 0, 0, "running_mean after a failed call");
    cr_assert_eq(npg_version(rm), v0, "running_mean was written");
    cr_assert_null(npg_batch_norm(x, rm, rv, NULL, NULL, true, 0.1, 1e-5));
    cr_assert_eq(st, NPG_ERR_INPLACE);
    t_assert_error(NPG_ERR_INPLACE, "npg_batch_norm");
    npg_clear_error();
    /* group_norm without channels: no statistics for num_groups groups (an
     * (N, num_groups) array that does not fit in memory) */
    npg_array *e = npg_zeros(NPG_SHAPE((int64_t)1 << 40, 0), OPT(.dtype = NPG_FLOAT32));
    npg_array *ge = npg_group_norm(e, INT32_MAX, NULL, NULL, 1e-5);
    cr_assert_not_null(ge, "%s", npg_last_error());
    t_assert_shape(ge, NPG_SHAPE((int64_t)1 << 40, 0));
    /* attention: a mask longer than L or S along its last two axes does not
     * broadcast to (..., L, S) (it made the result (3, Ev) for L = 1) */
    npg_array *q = rand_arr(NPG_SHAPE(1, 4), -1, 1, 42, 0, NULL), *k = rand_arr(NPG_SHAPE(2, 4), -1, 1, 43, 0, NULL);
    npg_array *v = rand_arr(NPG_SHAPE(2, 5), -1, 1, 44, 0, NULL);
    npg_array *m32 = npg_ones(NPG_SHAPE(3, 2), OPT(.dtype = NPG_BOOL));
    cr_assert_null(npg_scaled_dot_product_attention(q, k, v, m32, false, 0));
    t_assert_error(NPG_ERR_SHAPE, "does not broadcast to (..., L, S) = (..., 1, 2)");
    npg_clear_error();
    npg_array *m3 = npg_zeros(NPG_SHAPE(3), OPT(.dtype = NPG_FLOAT64));
    cr_assert_null(npg_scaled_dot_product_attention(q, k, v, m3, false, 0));
    t_assert_error(NPG_ERR_SHAPE, "does not broadcast");
    npg_clear_error();
    /* masks that do broadcast: length-1 axes and extra batch axes */
    t_assert_shape(npg_scaled_dot_product_attention(q, k, v, npg_ones(NPG_SHAPE(3, 1, 1), OPT(.dtype = NPG_BOOL)),
                                                    false, 0),
                   NPG_SHAPE(3, 1, 5));
    /* no keys at all (S = 0): an empty softmax, a zero result */
    npg_array *k0 = npg_zeros(NPG_SHAPE(0, 4), OPT(.dtype = NPG_FLOAT64));
    npg_array *vz = npg_zeros(NPG_SHAPE(0, 5), OPT(.dtype = NPG_FLOAT64));
    npg_array *a0 = npg_scaled_dot_product_attention(q, k0, vz, NULL, false, 0);
    double z5[5] = {0};
    cr_assert_not_null(a0, "%s", npg_last_error());
    t_assert_shape(a0, NPG_SHAPE(1, 5));
    t_assert_close(a0, z5, 5, 0, 0, "attention without keys");
    npg_scope_end(s);
    t_assert_no_leak(live, "nn_more regressions");
}
