/*
 * test_nn.c — neural-network functions against float64 references written
 * out here, gradients through npg_gradcheck, and the error paths. Runs on
 * the device under test (NPG_DEVICE).
 */
#include "test_util.h"

#include <limits.h>

#ifdef __SANITIZE_ADDRESS__
/* A huge but representable size must fail with NPG_ERR_OOM; by default ASan
 * would report the allocation and abort instead of returning NULL. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }
#endif

static void setup(void) { t_require_device(); }
TestSuite(nn, .init = setup);

#define OPT(...) NPG_OPTS(.device = t_dev(), __VA_ARGS__)

static npg_array *randu(npg_shape s, double lo, double hi, uint64_t seed, bool grad) {
    int64_t n = 1;
    for (int i = 0; i < s.ndim; i++) n *= s.dims[i];
    double *v = malloc(sizeof(double) * (size_t)(n ? n : 1));
    t_fill_uniform(v, n, lo, hi, seed);
    npg_array *x = npg_from_data(v, NPG_FLOAT64, s, OPT(.requires_grad = grad, .dtype = NPG_FLOAT64));
    free(v);
    cr_assert(x, "%s", npg_last_error());
    return x;
}

/* ---- softmax ------------------------------------------------------------- */

Test(nn, softmax_log_softmax_values_every_axis) {
    npg_scope s = npg_scope_begin();
    for (int dt = 0; dt < 2; dt++) {
        npg_dtype d = dt ? NPG_FLOAT64 : NPG_FLOAT32;
        npg_array *x = npg_astype(randu(NPG_SHAPE(3, 5, 4), -4, 4, 3, false), d);
        double *xv = t_read(x);
        for (int axis = -3; axis < 3; axis++) {
            int a = axis < 0 ? axis + 3 : axis;
            int64_t shape[3] = {3, 5, 4}, st[3] = {20, 4, 1};
            double want[60], wantl[60];
            for (int i = 0; i < 60; i++) {
                int64_t c[3] = {i / 20, (i / 4) % 5, i % 4};
                double m = -INFINITY, sum = 0;
                for (int64_t k = 0; k < shape[a]; k++) {
                    int64_t j = i + (k - c[a]) * st[a];
                    if (xv[j] > m) m = xv[j];
                }
                for (int64_t k = 0; k < shape[a]; k++) sum += exp(xv[i + (k - c[a]) * st[a]] - m);
                want[i] = exp(xv[i] - m) / sum;
                wantl[i] = xv[i] - m - log(sum);
            }
            double tol = d == NPG_FLOAT32 ? 2e-6 : 1e-13;
            t_assert_close(npg_softmax(x, axis), want, 60, tol, tol, "softmax");
            t_assert_close(npg_log_softmax(x, axis), wantl, 60, tol, tol, "log_softmax");
        }
        free(xv);
    }
    /* stable for huge inputs, -inf entries and a 1-element axis */
    double big[4] = {1000, 1001, -INFINITY, 999};
    npg_array *b = npg_from_data(big, NPG_FLOAT64, NPG_SHAPE(4), OPT());
    double *r = t_read(npg_softmax(b, 0));
    cr_assert(fabs(r[1] - 1 / (1 + exp(-1.0) + exp(-2.0))) < 1e-12 && r[2] == 0, "%g %g", r[1], r[2]);
    free(r);
    double one[1] = {1};
    t_assert_close(npg_softmax(npg_ones(NPG_SHAPE(2, 1), OPT()), 1), (double[]){1, 1}, 2, 0, 0, "single class");
    (void)one;
    cr_assert_null(npg_softmax(b, 1));
    t_assert_error(NPG_ERR_AXIS, "npg_softmax");
    cr_assert_null(npg_softmax(npg_scalar(1, OPT()), 0));
    npg_scope_end(s);
}

static npg_array *f_softmax(npg_array *const *in, int n, void *u) {
    (void)n;
    int axis = *(int *)u;
    return npg_multiply(npg_softmax(in[0], axis), in[1]);
}
static npg_array *f_log_softmax(npg_array *const *in, int n, void *u) {
    (void)n;
    int axis = *(int *)u;
    return npg_multiply(npg_log_softmax(in[0], axis), in[1]);
}

Test(nn, softmax_gradcheck) {
    npg_scope s = npg_scope_begin();
    npg_array *x = randu(NPG_SHAPE(3, 4), -2, 2, 5, true), *w = randu(NPG_SHAPE(3, 4), -1, 1, 6, false);
    npg_array *in[2] = {x, w};
    for (int axis = 0; axis < 2; axis++) {
        cr_assert_eq(npg_gradcheck(f_softmax, &axis, in, 2, NULL), NPG_OK, "softmax axis %d: %s", axis, npg_last_error());
        cr_assert_eq(npg_gradcheck(f_log_softmax, &axis, in, 2, NULL), NPG_OK, "log_softmax axis %d: %s", axis,
                     npg_last_error());
    }
    /* second order through the fused op */
    npg_array *y = npg_sum(npg_square(npg_softmax(x, 1)), NPG_ALL_AXES, false), *g1, *g2;
    cr_assert_eq(npg_grad_of(&y, 1, NULL, &x, 1, &g1, NPG_BACKWARD_OPTS(.create_graph = true)), NPG_OK, "%s",
                 npg_last_error());
    npg_array *y2 = npg_sum(npg_square(g1), NPG_ALL_AXES, false);
    cr_assert_eq(npg_grad_of(&y2, 1, NULL, &x, 1, &g2, NULL), NPG_OK, "%s", npg_last_error());
    t_assert_shape(g2, NPG_SHAPE(3, 4));
    npg_scope_end(s);
}

/* ---- losses -------------------------------------------------------------- */

static void ce_reference(const double *x, const int64_t *y, int N, int C, double eps, bool ign, int64_t ig, double *rows) {
    for (int r = 0; r < N; r++) {
        if (ign && y[r] == ig) {
            rows[r] = 0;
            continue;
        }
        double m = -INFINITY, s = 0, mean = 0;
        for (int c = 0; c < C; c++) m = fmax(m, x[r * C + c]);
        for (int c = 0; c < C; c++) s += exp(x[r * C + c] - m);
        double lse = m + log(s);
        for (int c = 0; c < C; c++) mean += x[r * C + c] / C;
        rows[r] = (1 - eps) * (lse - x[r * C + y[r]]) + eps * (lse - mean);
    }
}

Test(nn, cross_entropy_values) {
    npg_scope s = npg_scope_begin();
    const int N = 7, C = 5;
    npg_array *x = randu(NPG_SHAPE(7, 5), -3, 3, 11, false);
    double *xv = t_read(x);
    int64_t yv[7] = {0, 4, 2, 2, 1, 3, 0};
    npg_array *y = npg_from_data(yv, NPG_INT64, NPG_SHAPE(7), OPT());
    double rows[7];
    for (int k = 0; k < 4; k++) {
        double eps = (k & 1) ? 0.1 : 0;
        bool ign = k & 2;
        ce_reference(xv, yv, N, C, eps, ign, 2, rows);
        double sum = 0;
        int cnt = 0;
        for (int r = 0; r < N; r++) {
            sum += rows[r];
            cnt += !(ign && yv[r] == 2);
        }
        npg_ce_opts o = {.label_smoothing = eps, .has_ignore_index = ign, .ignore_index = 2};
        o.reduction = NPG_REDUCTION_NONE;
        t_assert_close(npg_cross_entropy(x, y, &o), rows, N, 1e-12, 1e-12, "ce none");
        o.reduction = NPG_REDUCTION_SUM;
        t_assert_close(npg_cross_entropy(x, y, &o), &sum, 1, 1e-12, 1e-12, "ce sum");
        o.reduction = NPG_REDUCTION_MEAN;
        double mean = sum / cnt;
        t_assert_close(npg_cross_entropy(x, y, &o), &mean, 1, 1e-12, 1e-12, "ce mean");
    }
    /* float32 and int32 labels */
    npg_array *x32 = npg_astype(x, NPG_FLOAT32);
    npg_array *y32 = npg_astype(y, NPG_INT32);
    ce_reference(xv, yv, N, C, 0, false, 0, rows);
    double mean = 0;
    for (int r = 0; r < N; r++) mean += rows[r] / N;
    t_assert_close(npg_cross_entropy(x32, y32, NULL), &mean, 1, 1e-5, 1e-6, "ce float32");
    /* nll on log_softmax matches */
    t_assert_close(npg_nll_loss(npg_log_softmax(x, 1), y, NULL), &mean, 1, 1e-12, 1e-12, "nll");
    free(xv);
    npg_scope_end(s);
}

static npg_array *f_ce(npg_array *const *in, int n, void *u) {
    (void)n;
    return npg_cross_entropy(in[0], in[1], (const npg_ce_opts *)u);
}

Test(nn, cross_entropy_gradcheck_and_errors) {
    npg_scope s = npg_scope_begin();
    npg_array *x = randu(NPG_SHAPE(6, 4), -2, 2, 12, true);
    int64_t yv[6] = {3, 0, 1, 1, 2, 3};
    npg_array *y = npg_from_data(yv, NPG_INT64, NPG_SHAPE(6), OPT());
    npg_array *in[2] = {x, y};
    npg_ce_opts opts[4] = {{0}, {.label_smoothing = 0.2}, {.has_ignore_index = true, .ignore_index = 1},
                           {.reduction = NPG_REDUCTION_NONE, .label_smoothing = 0.05}};
    for (int k = 0; k < 4; k++)
        cr_assert_eq(npg_gradcheck(f_ce, &opts[k], in, 2, NULL), NPG_OK, "opts %d: %s", k, npg_last_error());
    t_live live = t_live_now();
    cr_assert_null(npg_cross_entropy(x, npg_astype(y, NPG_FLOAT32), NULL));
    t_assert_error(NPG_ERR_DTYPE, "labels");
    cr_assert_null(npg_cross_entropy(x, npg_zeros(NPG_SHAPE(5), OPT(.dtype = NPG_INT64)), NULL));
    t_assert_error(NPG_ERR_SHAPE, "npg_cross_entropy");
    cr_assert_null(npg_cross_entropy(npg_reshape(x, NPG_SHAPE(24)), y, NULL));
    t_assert_error(NPG_ERR_SHAPE, "2-d");
    cr_assert_null(npg_cross_entropy(x, y, NPG_CE_OPTS(.label_smoothing = 1.5)));
    t_assert_error(NPG_ERR_INVALID_ARG, "label_smoothing");
    npg_clear_error();
    cr_assert_null(npg_cross_entropy(NULL, y, NULL));
    t_assert_error(NPG_ERR_NULL_ARG, "npg_cross_entropy");
    npg_scope_end(s);
    (void)live;
}

Test(nn, out_of_range_label_is_an_index_error) {
    if (t_dev().type == NPG_DEVICE_CUDA) cr_skip_test("CUDA reports it at the next synchronisation (tested in devices)");
    npg_scope s = npg_scope_begin();
    npg_array *x = randu(NPG_SHAPE(2, 3), -1, 1, 1, false);
    int64_t yv[2] = {0, 3};
    npg_array *y = npg_from_data(yv, NPG_INT64, NPG_SHAPE(2), OPT());
    cr_assert_null(npg_cross_entropy(x, y, NULL));
    t_assert_error(NPG_ERR_INDEX, NULL);
    npg_scope_end(s);
}

Test(nn, mse_and_bce_with_logits) {
    npg_scope s = npg_scope_begin();
    npg_array *p = randu(NPG_SHAPE(4, 3), -30, 30, 21, false), *t = randu(NPG_SHAPE(4, 3), 0, 1, 22, false);
    double *pv = t_read(p), *tv = t_read(t), mse = 0, bce = 0, rows[12];
    for (int i = 0; i < 12; i++) {
        mse += (pv[i] - tv[i]) * (pv[i] - tv[i]) / 12;
        rows[i] = fmax(pv[i], 0) - pv[i] * tv[i] + log1p(exp(-fabs(pv[i])));
        bce += rows[i] / 12;
    }
    t_assert_close(npg_mse_loss(p, t, NPG_REDUCTION_MEAN), &mse, 1, 1e-12, 0, "mse");
    t_assert_close(npg_binary_cross_entropy_with_logits(p, t, NPG_REDUCTION_MEAN), &bce, 1, 1e-12, 0, "bce");
    t_assert_close(npg_binary_cross_entropy_with_logits(p, t, NPG_REDUCTION_NONE), rows, 12, 1e-12, 1e-12, "bce none");
    double s12 = mse * 12;
    t_assert_close(npg_mse_loss(p, t, NPG_REDUCTION_SUM), &s12, 1, 1e-12, 0, "mse sum");
    free(pv);
    free(tv);
    npg_scope_end(s);
}

static npg_array *f_bce(npg_array *const *in, int n, void *u) {
    (void)n;
    (void)u;
    return npg_add(npg_binary_cross_entropy_with_logits(in[0], in[1], NPG_REDUCTION_SUM),
                   npg_mse_loss(in[0], in[1], NPG_REDUCTION_MEAN));
}

Test(nn, losses_gradcheck) {
    npg_scope s = npg_scope_begin();
    npg_array *a = randu(NPG_SHAPE(3, 4), -3, 3, 31, true), *b = randu(NPG_SHAPE(3, 4), 0, 1, 32, true);
    npg_array *in[2] = {a, b};
    cr_assert_eq(npg_gradcheck(f_bce, NULL, in, 2, NULL), NPG_OK, "%s", npg_last_error());
    npg_scope_end(s);
}

/* ---- layers ----------------------------------------------------------------- */

Test(nn, linear_values_and_grad) {
    npg_scope s = npg_scope_begin();
    npg_array *x = randu(NPG_SHAPE(5, 3), -1, 1, 41, true), *w = randu(NPG_SHAPE(4, 3), -1, 1, 42, true);
    npg_array *b = randu(NPG_SHAPE(4), -1, 1, 43, true);
    double *xv = t_read(x), *wv = t_read(w), *bv = t_read(b), want[20];
    for (int i = 0; i < 5; i++)
        for (int o = 0; o < 4; o++) {
            want[i * 4 + o] = bv[o];
            for (int k = 0; k < 3; k++) want[i * 4 + o] += xv[i * 3 + k] * wv[o * 3 + k];
        }
    t_assert_close(npg_linear(x, w, b), want, 20, 1e-12, 1e-12, "linear");
    for (int i = 0; i < 20; i++) want[i] -= bv[i % 4];
    t_assert_close(npg_linear(x, w, NULL), want, 20, 1e-12, 1e-12, "linear no bias");
    cr_assert_null(npg_linear(x, npg_reshape(w, NPG_SHAPE(12)), b));
    t_assert_error(NPG_ERR_SHAPE, "npg_linear");
    free(xv);
    free(wv);
    free(bv);
    npg_scope_end(s);
}

typedef struct conv_case {
    int64_t N, C, H, W, OC, KH, KW;
    npg_conv2d_opts o;
} conv_case;

static void conv_ref(const conv_case *c, const double *x, const double *w, const double *b, double *out, int64_t OH,
                     int64_t OW) {
    int g = c->o.groups ? c->o.groups : 1;
    int sh = c->o.stride[0] ? c->o.stride[0] : 1, sw = c->o.stride[1] ? c->o.stride[1] : 1;
    int dh = c->o.dilation[0] ? c->o.dilation[0] : 1, dw = c->o.dilation[1] ? c->o.dilation[1] : 1;
    int64_t Cg = c->C / g, OCg = c->OC / g;
    for (int64_t n = 0; n < c->N; n++)
        for (int64_t oc = 0; oc < c->OC; oc++)
            for (int64_t oh = 0; oh < OH; oh++)
                for (int64_t ow = 0; ow < OW; ow++) {
                    double acc = b ? b[oc] : 0;
                    int64_t grp = oc / OCg;
                    for (int64_t ci = 0; ci < Cg; ci++)
                        for (int64_t kh = 0; kh < c->KH; kh++)
                            for (int64_t kw = 0; kw < c->KW; kw++) {
                                int64_t ih = oh * sh - c->o.padding[0] + kh * dh, iw = ow * sw - c->o.padding[1] + kw * dw;
                                if (ih < 0 || ih >= c->H || iw < 0 || iw >= c->W) continue;
                                int64_t cin = grp * Cg + ci;
                                acc += x[((n * c->C + cin) * c->H + ih) * c->W + iw] *
                                       w[((oc * Cg + ci) * c->KH + kh) * c->KW + kw];
                            }
                    out[((n * c->OC + oc) * OH + oh) * OW + ow] = acc;
                }
}

static const conv_case conv_cases[] = {
    {2, 3, 7, 6, 4, 3, 3, {{1, 1}, {0, 0}, {1, 1}, 1}},
    {1, 2, 8, 9, 3, 3, 2, {{2, 1}, {1, 2}, {1, 1}, 1}},
    {2, 4, 9, 9, 6, 3, 3, {{1, 2}, {2, 1}, {2, 1}, 2}},
    {1, 1, 5, 5, 2, 5, 5, {{1, 1}, {0, 0}, {1, 1}, 1}},
    {3, 2, 6, 5, 2, 1, 1, {{1, 1}, {0, 0}, {1, 1}, 2}},
};

Test(nn, conv2d_values) {
    npg_scope s = npg_scope_begin();
    for (size_t k = 0; k < sizeof conv_cases / sizeof conv_cases[0]; k++) {
        const conv_case *c = &conv_cases[k];
        int g = c->o.groups ? c->o.groups : 1;
        npg_array *x = randu(NPG_SHAPE(c->N, c->C, c->H, c->W), -1, 1, 100 + k, false);
        npg_array *w = randu(NPG_SHAPE(c->OC, c->C / g, c->KH, c->KW), -1, 1, 200 + k, false);
        npg_array *b = randu(NPG_SHAPE(c->OC), -1, 1, 300 + k, false);
        for (int dt = 0; dt < 2; dt++) {
            npg_dtype d = dt ? NPG_FLOAT64 : NPG_FLOAT32;
            npg_array *y = npg_conv2d(npg_astype(x, d), npg_astype(w, d), npg_astype(b, d), &c->o);
            cr_assert(y, "case %zu: %s", k, npg_last_error());
            cr_assert_eq(npg_dtype_of(y), d);
            int64_t OH = npg_dim(y, 2), OW = npg_dim(y, 3);
            int sh = c->o.stride[0] ? c->o.stride[0] : 1, dh = c->o.dilation[0] ? c->o.dilation[0] : 1;
            cr_assert_eq(OH, (c->H + 2 * c->o.padding[0] - dh * (c->KH - 1) - 1) / sh + 1, "case %zu OH", k);
            int64_t n = c->N * c->OC * OH * OW;
            double *xv = t_read(x), *wv = t_read(w), *bv = t_read(b), *want = malloc(sizeof(double) * (size_t)n);
            conv_ref(c, xv, wv, bv, want, OH, OW);
            char what[64];
            snprintf(what, sizeof what, "conv2d case %zu %s", k, npg_dtype_name(d));
            t_assert_close(y, want, n, d == NPG_FLOAT32 ? 1e-5 : 1e-12, d == NPG_FLOAT32 ? 1e-5 : 1e-12, what);
            free(xv);
            free(wv);
            free(bv);
            free(want);
        }
    }
    npg_scope_end(s);
}

static npg_array *f_conv(npg_array *const *in, int n, void *u) {
    (void)n;
    return npg_conv2d(in[0], in[1], in[2], (const npg_conv2d_opts *)u);
}

Test(nn, conv2d_gradcheck_and_errors) {
    npg_scope s = npg_scope_begin();
    for (size_t k = 0; k < sizeof conv_cases / sizeof conv_cases[0]; k++) {
        const conv_case *c = &conv_cases[k];
        int g = c->o.groups ? c->o.groups : 1;
        npg_array *x = randu(NPG_SHAPE(1, c->C, c->H < 6 ? c->H : 6, c->W < 6 ? c->W : 6), -1, 1, 400 + k, true);
        npg_array *w = randu(NPG_SHAPE(c->OC, c->C / g, c->KH < 3 ? c->KH : 3, c->KW < 3 ? c->KW : 3), -1, 1, 500 + k, true);
        npg_array *b = randu(NPG_SHAPE(c->OC), -1, 1, 600 + k, true);
        npg_array *in[3] = {x, w, b};
        cr_assert_eq(npg_gradcheck(f_conv, (void *)&c->o, in, 3, NULL), NPG_OK, "case %zu: %s", k, npg_last_error());
    }
    t_live live = t_live_now();
    npg_array *x = npg_ones(NPG_SHAPE(1, 3, 5, 5), OPT()), *w = npg_ones(NPG_SHAPE(2, 2, 3, 3), OPT());
    cr_assert_null(npg_conv2d(x, w, NULL, NULL));
    t_assert_error(NPG_ERR_SHAPE, "groups");
    cr_assert_null(npg_conv2d(npg_ones(NPG_SHAPE(3, 5, 5), OPT()), w, NULL, NULL));
    t_assert_error(NPG_ERR_SHAPE, "4-d");
    cr_assert_null(npg_conv2d(x, npg_ones(NPG_SHAPE(2, 3, 7, 7), OPT()), NULL, NULL));
    t_assert_error(NPG_ERR_SHAPE, "larger");
    cr_assert_null(npg_conv2d(x, npg_ones(NPG_SHAPE(2, 3, 3, 3), OPT()), npg_ones(NPG_SHAPE(3), OPT()), NULL));
    t_assert_error(NPG_ERR_SHAPE, "bias");
    npg_free(x);
    npg_free(w);
    (void)live;
    npg_scope_end(s);
}

static void pool_ref(bool is_max, const double *x, int64_t N, int64_t C, int64_t H, int64_t W, const npg_pool2d_opts *o,
                     double *out, int64_t OH, int64_t OW) {
    int sh = o->stride[0] ? o->stride[0] : o->kernel[0], sw = o->stride[1] ? o->stride[1] : o->kernel[1];
    for (int64_t nc = 0; nc < N * C; nc++)
        for (int64_t oh = 0; oh < OH; oh++)
            for (int64_t ow = 0; ow < OW; ow++) {
                double acc = is_max ? -INFINITY : 0;
                int cnt = 0;
                for (int kh = 0; kh < o->kernel[0]; kh++)
                    for (int kw = 0; kw < o->kernel[1]; kw++) {
                        int64_t ih = oh * sh - o->padding[0] + kh, iw = ow * sw - o->padding[1] + kw;
                        if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                        double v = x[(nc * H + ih) * W + iw];
                        acc = is_max ? fmax(acc, v) : acc + v;
                        cnt++;
                    }
                if (!is_max) acc /= o->count_include_pad ? o->kernel[0] * o->kernel[1] : cnt;
                out[(nc * OH + oh) * OW + ow] = acc;
            }
}

Test(nn, pooling_values_and_gradcheck) {
    npg_scope s = npg_scope_begin();
    npg_pool2d_opts cases[] = {
        {{2, 2}, {0, 0}, {0, 0}, false},
        {{3, 3}, {2, 2}, {1, 1}, false},
        {{3, 2}, {1, 2}, {1, 0}, true},
        {{2, 3}, {1, 1}, {0, 1}, false},
    };
    npg_array *x = randu(NPG_SHAPE(2, 3, 7, 8), -2, 2, 77, false);
    double *xv = t_read(x);
    for (size_t k = 0; k < 4; k++) {
        for (int m = 0; m < 2; m++) {
            npg_array *y = m ? npg_max_pool2d(x, &cases[k]) : npg_avg_pool2d(x, &cases[k]);
            cr_assert(y, "case %zu: %s", k, npg_last_error());
            int64_t OH = npg_dim(y, 2), OW = npg_dim(y, 3), n = 6 * OH * OW;
            double *want = malloc(sizeof(double) * (size_t)n);
            pool_ref(m, xv, 2, 3, 7, 8, &cases[k], want, OH, OW);
            t_assert_close(y, want, n, 1e-12, 1e-12, m ? "max_pool2d" : "avg_pool2d");
            free(want);
        }
    }
    free(xv);
    /* gradients (max: distinct values so the argmax is stable) */
    for (size_t k = 0; k < 4; k++) {
        npg_array *xs = randu(NPG_SHAPE(1, 2, 6, 5), -2, 2, 88 + k, true);
        npg_array *in[1] = {xs};
        struct {
            const npg_pool2d_opts *o;
            bool max;
        } u = {&cases[k], false};
        npg_array *(*fp)(npg_array *const *, int, void *) = NULL;
        (void)fp;
        (void)u;
        npg_array *ymax = npg_max_pool2d(xs, &cases[k]);
        npg_array *l = npg_sum(npg_multiply(ymax, ymax), NPG_ALL_AXES, false);
        npg_array *g;
        cr_assert_eq(npg_grad_of(&l, 1, NULL, in, 1, &g, NULL), NPG_OK, "%s", npg_last_error());
        /* d/dx sum(maxpool(x)^2): 2*x at each window's argmax, summed over windows */
        double *xv2 = t_read(xs), *yv = t_read(ymax), *gv = t_read(g);
        int64_t OH = npg_dim(ymax, 2), OW = npg_dim(ymax, 3);
        double want[60] = {0};
        int sh = cases[k].stride[0] ? cases[k].stride[0] : cases[k].kernel[0];
        int sw = cases[k].stride[1] ? cases[k].stride[1] : cases[k].kernel[1];
        for (int c = 0; c < 2; c++)
            for (int64_t oh = 0; oh < OH; oh++)
                for (int64_t ow = 0; ow < OW; ow++) {
                    int64_t best = -1;
                    for (int kh = 0; kh < cases[k].kernel[0]; kh++)
                        for (int kw = 0; kw < cases[k].kernel[1]; kw++) {
                            int64_t ih = oh * sh - cases[k].padding[0] + kh, iw = ow * sw - cases[k].padding[1] + kw;
                            if (ih < 0 || ih >= 6 || iw < 0 || iw >= 5) continue;
                            int64_t j = c * 30 + ih * 5 + iw;
                            if (best < 0 || xv2[j] > xv2[best]) best = j;
                        }
                    want[best] += 2 * yv[(c * OH + oh) * OW + ow];
                }
        t_assert_close_buf(gv, want, 60, 1e-12, 1e-12, "max_pool2d grad");
        free(xv2);
        free(yv);
        free(gv);
    }
    npg_scope_end(s);
}

static npg_array *f_avgpool(npg_array *const *in, int n, void *u) {
    (void)n;
    return npg_avg_pool2d(in[0], (const npg_pool2d_opts *)u);
}

Test(nn, avg_pool_gradcheck_and_errors) {
    npg_scope s = npg_scope_begin();
    npg_pool2d_opts o = {{3, 2}, {2, 1}, {1, 1}, false};
    npg_array *x = randu(NPG_SHAPE(2, 2, 5, 4), -1, 1, 99, true);
    cr_assert_eq(npg_gradcheck(f_avgpool, &o, &x, 1, NULL), NPG_OK, "%s", npg_last_error());
    cr_assert_null(npg_max_pool2d(x, NPG_POOL2D_OPTS(.kernel = {0, 2})));
    t_assert_error(NPG_ERR_INVALID_ARG, "kernel");
    cr_assert_null(npg_max_pool2d(x, NPG_POOL2D_OPTS(.kernel = {2, 2}, .padding = {2, 0})));
    t_assert_error(NPG_ERR_INVALID_ARG, "padding");
    cr_assert_null(npg_avg_pool2d(npg_ones(NPG_SHAPE(4, 4), OPT()), NPG_POOL2D_OPTS(.kernel = {2, 2})));
    t_assert_error(NPG_ERR_SHAPE, "4-d");
    npg_scope_end(s);
}

static npg_array *f_layer_norm(npg_array *const *in, int n, void *u) {
    (void)n;
    (void)u;
    return npg_layer_norm(in[0], 2, in[1], in[2], 1e-5);
}

Test(nn, layer_norm_embedding_flatten) {
    npg_scope s = npg_scope_begin();
    npg_array *x = randu(NPG_SHAPE(3, 2, 4), -2, 2, 61, true);
    npg_array *w = randu(NPG_SHAPE(2, 4), 0.5, 1.5, 62, true), *b = randu(NPG_SHAPE(2, 4), -1, 1, 63, true);
    double *xv = t_read(x), *wv = t_read(w), *bv = t_read(b), want[24];
    for (int r = 0; r < 3; r++) {
        double m = 0, v = 0;
        for (int i = 0; i < 8; i++) m += xv[r * 8 + i] / 8;
        for (int i = 0; i < 8; i++) v += (xv[r * 8 + i] - m) * (xv[r * 8 + i] - m) / 8;
        for (int i = 0; i < 8; i++) want[r * 8 + i] = (xv[r * 8 + i] - m) / sqrt(v + 1e-5) * wv[i] + bv[i];
    }
    t_assert_close(npg_layer_norm(x, 2, w, b, 1e-5), want, 24, 1e-12, 1e-12, "layer_norm");
    npg_array *in[3] = {x, w, b};
    cr_assert_eq(npg_gradcheck(f_layer_norm, NULL, in, 3, NULL), NPG_OK, "%s", npg_last_error());
    cr_assert_null(npg_layer_norm(x, 2, b, npg_ones(NPG_SHAPE(4), OPT()), 1e-5));
    t_assert_error(NPG_ERR_SHAPE, "bias");
    cr_assert_null(npg_layer_norm(x, 4, NULL, NULL, 1e-5));
    t_assert_error(NPG_ERR_AXIS, "npg_layer_norm");
    free(xv);
    free(wv);
    free(bv);
    /* embedding */
    npg_array *table = randu(NPG_SHAPE(5, 3), -1, 1, 64, true);
    int64_t iv[4] = {4, 0, 4, 2};
    npg_array *idx = npg_from_data(iv, NPG_INT64, NPG_SHAPE(2, 2), OPT());
    npg_array *e = npg_embedding(idx, table);
    t_assert_shape(e, NPG_SHAPE(2, 2, 3));
    double *tv = t_read(table), we[12];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++) we[i * 3 + j] = tv[iv[i] * 3 + j];
    t_assert_close(e, we, 12, 0, 0, "embedding");
    cr_assert_eq(npg_backward(npg_sum(e, NPG_ALL_AXES, false), NULL), NPG_OK);
    double wg[15] = {1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 0, 2, 2, 2};
    t_assert_close(npg_grad(table), wg, 15, 0, 0, "embedding grad accumulates repeats");
    free(tv);
    t_assert_shape(npg_flatten_from(npg_ones(NPG_SHAPE(2, 3, 4, 5), OPT()), 1), NPG_SHAPE(2, 60));
    t_assert_shape(npg_flatten_from(npg_ones(NPG_SHAPE(2, 3, 4, 5), OPT()), -2), NPG_SHAPE(2, 3, 20));
    npg_scope_end(s);
}

Test(nn, dropout) {
    npg_scope s = npg_scope_begin();
    npg_array *x = npg_ones(NPG_SHAPE(200, 100), OPT(.requires_grad = true));
    npg_generator *g = npg_generator_new(5);
    npg_array *y = npg_dropout(x, 0.3, true, g);
    double *v = t_read(y);
    int zeros = 0;
    for (int i = 0; i < 20000; i++) {
        cr_assert(v[i] == 0 || fabs(v[i] - 1 / 0.7) < 1e-6, "value %g", v[i]);
        zeros += v[i] == 0;
    }
    cr_assert(fabs(zeros / 20000.0 - 0.3) < 0.02, "dropped %d", zeros);
    cr_assert_eq(npg_backward(npg_sum(y, NPG_ALL_AXES, false), NULL), NPG_OK);
    double *gv = t_read(npg_grad(x));
    for (int i = 0; i < 20000; i++) cr_assert_eq(gv[i], v[i], "the gradient follows the mask");
    free(v);
    free(gv);
    npg_array *e = npg_dropout(x, 0.3, false, g);
    cr_assert_eq(npg_data(e), npg_data(x), "eval mode passes x through");
    npg_array *z = npg_dropout(x, 1.0, true, g);
    cr_assert_float_eq(npg_item(npg_sum(z, NPG_ALL_AXES, false)), 0.0, 0);
    cr_assert_null(npg_dropout(x, 1.5, true, g));
    t_assert_error(NPG_ERR_INVALID_ARG, "npg_dropout");
    npg_generator_free(g);
    npg_scope_end(s);
}

/* ---- initialisation ------------------------------------------------------ */

Test(nn, initialisers) {
    npg_scope s = npg_scope_begin();
    npg_array *w = npg_empty(NPG_SHAPE(256, 128, 3, 3), OPT(.requires_grad = true));
    double fan_in = 128 * 9, fan_out = 256 * 9;
    struct {
        npg_status (*f)(npg_array *, const npg_init_opts *);
        double bound_or_std;
        bool uniform;
    } cases[4] = {
        {npg_init_kaiming_uniform, sqrt(2.0) * sqrt(3.0 / fan_in), true},
        {npg_init_kaiming_normal, sqrt(2.0) / sqrt(fan_in), false},
        {npg_init_xavier_uniform, sqrt(6.0 / (fan_in + fan_out)), true},
        {npg_init_xavier_normal, sqrt(2.0 / (fan_in + fan_out)), false},
    };
    for (int k = 0; k < 4; k++) {
        uint64_t v0 = npg_version(w);
        cr_assert_eq(cases[k].f(w, NULL), NPG_OK, "%s", npg_last_error());
        cr_assert_gt(npg_version(w), v0);
        double *v = t_read(w), m = 0, sq = 0, mx = 0;
        int64_t n = npg_size(w);
        for (int64_t i = 0; i < n; i++) {
            m += v[i] / n;
            mx = fmax(mx, fabs(v[i]));
        }
        for (int64_t i = 0; i < n; i++) sq += (v[i] - m) * (v[i] - m) / n;
        double want_std = cases[k].uniform ? cases[k].bound_or_std / sqrt(3.0) : cases[k].bound_or_std;
        cr_assert(fabs(sqrt(sq) / want_std - 1) < 0.02, "init %d: std %g want %g", k, sqrt(sq), want_std);
        cr_assert(fabs(m) < 0.01 * want_std * 10);
        if (cases[k].uniform) cr_assert_leq(mx, cases[k].bound_or_std * (1 + 1e-6));
        free(v);
    }
    cr_assert_eq(npg_init_kaiming_uniform(w, NPG_INIT_OPTS(.mode = NPG_FAN_OUT, .gain = 1.0)), NPG_OK);
    cr_assert_eq(npg_init_zeros(w), NPG_OK);
    cr_assert_float_eq(npg_item(npg_sum(w, NPG_ALL_AXES, false)), 0.0, 0);
    cr_assert_eq(npg_init_ones(w), NPG_OK);
    cr_assert_float_eq(npg_item(npg_sum(w, NPG_ALL_AXES, false)), (double)npg_size(w), 0);
    cr_assert_eq(npg_init_kaiming_uniform(npg_scalar(1, OPT()), NULL), NPG_ERR_SHAPE);
    cr_assert_eq(npg_init_xavier_normal(npg_ones(NPG_SHAPE(3, 3), OPT(.dtype = NPG_INT32)), NULL), NPG_ERR_DTYPE);
    npg_scope_end(s);
}

/* Found by tests/common/test_fuzz.c: a zero-width (or zero-channel view)
 * input whose padding still gives output pixels made im2col fail with an
 * internal error (and form pointers before the image); padding * 2
 * overflowed int; a huge pooling window or padding made the unfolded size
 * C*KH*KW*OH*OW overflow int64. */
Test(nn, conv_and_pool_edge_geometry) {
    npg_scope s = npg_scope_begin();
    /* x (1, 4, 1, 0), weight (4, 2, 1, 3), groups 2, padding (0, 2): output
     * (1, 4, 1, 2) of padding only, i.e. the bias */
    npg_array *x = npg_zeros(NPG_SHAPE(1, 4, 1, 0), OPT());
    npg_array *w = npg_ones(NPG_SHAPE(4, 2, 1, 3), OPT());
    npg_array *b = npg_full(NPG_SHAPE(4), 0.5, OPT());
    npg_array *y = npg_conv2d(x, w, b, NPG_CONV2D_OPTS(.padding = {0, 2}, .groups = 2));
    t_assert_shape(y, NPG_SHAPE(1, 4, 1, 2));
    double half[8] = {0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5};
    t_assert_close(y, half, 8, 0, 0, "conv2d over a zero-width padded input");
    /* the same through an empty view with odd strides (channels sliced to 0) */
    npg_array *xv = NPG_INDEX(npg_zeros(NPG_SHAPE(1, 4, 3, 2), OPT()), NPG_ALL, NPG_SLICE(0, 0, 1));
    npg_array *wv = npg_ones(NPG_SHAPE(1, 0, 1, 1), OPT());
    t_assert_shape(npg_conv2d(xv, wv, NULL, NPG_CONV2D_OPTS(.padding = {1, 1})), NPG_SHAPE(1, 1, 5, 4));
    npg_array *p = npg_ones(NPG_SHAPE(1, 3, 2, 2), OPT());
    cr_assert_null(npg_max_pool2d(p, NPG_POOL2D_OPTS(.kernel = {2, 2}, .padding = {INT_MAX, 0})));
    t_assert_error(NPG_ERR_INVALID_ARG, "padding");
    cr_assert_null(npg_avg_pool2d(p, NPG_POOL2D_OPTS(.kernel = {2, 2}, .padding = {INT_MIN, 0})));
    t_assert_error(NPG_ERR_INVALID_ARG, "positive");
    cr_assert_null(npg_avg_pool2d(p, NPG_POOL2D_OPTS(.kernel = {INT_MAX, INT_MAX}, .padding = {INT_MAX / 2, INT_MAX / 2})));
    t_assert_error(NPG_ERR_OOM, "too large");
    cr_assert_null(npg_conv2d(p, npg_ones(NPG_SHAPE(1, 3, 1, 1), OPT()), NULL,
                              NPG_CONV2D_OPTS(.padding = {INT_MAX, INT_MAX})));
    t_assert_error(NPG_ERR_OOM, "too large");
    npg_clear_error();
    npg_scope_end(s);
}

/* Found by tests/common/test_fuzz2.c (attention with no keys): softmax over
 * an empty axis is empty, not an error of npg_max's. */
Test(nn, softmax_over_an_empty_axis) {
    t_live live = t_live_now();
    npg_scope s = npg_scope_begin();
    npg_array *x = npg_zeros(NPG_SHAPE(3, 0), NPG_OPTS(.device = t_dev(), .requires_grad = true));
    for (int log = 0; log < 2; log++) {
        npg_array *y = log ? npg_log_softmax(x, -1) : npg_softmax(x, 1);
        cr_assert_not_null(y, "%s: %s", log ? "log_softmax" : "softmax", npg_last_error());
        t_assert_shape(y, NPG_SHAPE(3, 0));
        cr_assert_eq(npg_backward(npg_sum(y, NPG_ALL_AXES, false), NULL), NPG_OK, "%s", npg_last_error());
        t_assert_shape(npg_grad(x), NPG_SHAPE(3, 0));
    }
    /* another axis empty: the statistics are empty too */
    t_assert_shape(npg_softmax(npg_zeros(NPG_SHAPE(0, 4), NPG_OPTS(.device = t_dev())), 1), NPG_SHAPE(0, 4));
    npg_scope_end(s);
    t_assert_no_leak(live, "softmax of an empty axis");
}

/* A composed function that fails inside (here: an operand too large to
 * materialise) says which function the caller called and which inner op
 * failed, and leaks nothing. */
Test(nn, composed_functions_name_themselves_in_inner_errors) {
    t_live before = t_live_now();
    /* every first step allocates 2^46 or more elements (a reduction over a
     * long broadcast axis would compute instead, for hours) */
    npg_array *one = npg_ones(NPG_SHAPE(1, 4), NPG_OPTS(.device = t_dev()));
    npg_array *huge = npg_broadcast_to(one, NPG_SHAPE((int64_t)1 << 46, 4));
    cr_assert(huge, "%s", npg_last_error());
    cr_assert_null(npg_rms_norm(huge, 1, NULL, 1e-5));
    t_assert_error(NPG_ERR_OOM, "npg_rms_norm: npg_");
    cr_assert_null(npg_layer_norm(huge, 1, NULL, NULL, 1e-5));
    t_assert_error(NPG_ERR_OOM, "npg_layer_norm: npg_");
    cr_assert_null(npg_cosine_similarity(huge, one, 1, 1e-8));
    t_assert_error(NPG_ERR_OOM, "npg_cosine_similarity: npg_");
    cr_assert_null(npg_huber_loss(huge, one, NPG_REDUCTION_MEAN, 1.0));
    t_assert_error(NPG_ERR_OOM, "npg_huber_loss: npg_");
    cr_assert_null(npg_linalg_matrix_norm(huge, "fro", false));
    t_assert_error(NPG_ERR_OOM, "npg_linalg_matrix_norm: npg_linalg_vector_norm: npg_");
    cr_assert_null(npg_logsumexp(huge, NPG_AXES(1), false));
    t_assert_error(NPG_ERR_OOM, "npg_logsumexp: npg_");
    /* an error that already names the function is not prefixed twice */
    cr_assert_null(npg_rms_norm(one, 3, NULL, 1e-5));
    t_assert_error(NPG_ERR_AXIS, "npg_rms_norm: normalized_axes");
    cr_assert(strncmp(npg_last_error(), "npg_rms_norm: npg_rms_norm", 26) != 0);
    npg_clear_error();
    npg_free(huge);
    npg_free(one);
    t_assert_no_leak(before, "composed errors");
}
