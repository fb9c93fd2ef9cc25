/*
 * test_optim.c — optimizer steps against updates computed by hand, gradient
 * clipping, learning-rate schedules, parameter lists and checkpoints, and a
 * short real training run on a Fashion-MNIST subset.
 */
#define _POSIX_C_SOURCE 200809L
#include <unistd.h>

#include "test_util.h"

#include "npg/io.h"

static void setup(void) { t_require_device(); }
TestSuite(optim, .init = setup);

#define OPT(...) NPG_OPTS(.device = t_dev(), __VA_ARGS__)

static npg_array *vec(const double *v, int n, bool grad) {
    npg_array *x = npg_from_data(v, NPG_FLOAT64, NPG_SHAPE(n), OPT(.requires_grad = grad));
    cr_assert(x, "%s", npg_last_error());
    return x;
}

/* set p.grad = g by backward of sum(p * g) */
static void set_grad(npg_array *p, const double *g, int n) {
    npg_scope s = npg_scope_begin();
    npg_zero_grad(p);
    npg_array *gv = npg_astype(vec(g, n, false), npg_dtype_of(p));
    cr_assert_eq(npg_backward(npg_sum(npg_multiply(p, gv), NPG_ALL_AXES, false), NULL), NPG_OK, "%s", npg_last_error());
    npg_scope_end(s);
}

static const double P0[3] = {1.0, -2.0, 0.5};
static const double G[3][3] = {{0.1, -0.3, 2.0}, {-1.0, 0.5, 0.25}, {0.3, 0.3, -0.7}};

Test(optim, sgd_variants_match_hand_computation) {
    struct {
        npg_sgd_opts o;
    } cases[] = {
        {{.lr = 0.1}},
        {{.lr = 0.1, .momentum = 0.9}},
        {{.lr = 0.05, .momentum = 0.9, .nesterov = true, .weight_decay = 0.01}},
        {{.lr = 0.2, .momentum = 0.5, .dampening = 0.3, .weight_decay = 0.1}},
    };
    for (int dt = 0; dt < 2; dt++) {
        npg_dtype d = dt ? NPG_FLOAT64 : NPG_FLOAT32;
        for (size_t k = 0; k < 4; k++) {
            npg_scope s = npg_scope_begin();
            npg_array *p = npg_astype(vec(P0, 3, false), d);
            npg_set_requires_grad(p, true);
            npg_optimizer *o = npg_sgd_new(&p, 1, &cases[k].o);
            cr_assert(o, "%s", npg_last_error());
            double pv[3], buf[3] = {0};
            memcpy(pv, P0, sizeof pv);
            const npg_sgd_opts *h = &cases[k].o;
            for (int t = 0; t < 3; t++) {
                set_grad(p, G[t], 3);
                cr_assert_eq(npg_optimizer_step(o), NPG_OK, "%s", npg_last_error());
                for (int i = 0; i < 3; i++) {
                    double dd = G[t][i] + h->weight_decay * pv[i];
                    if (h->momentum) {
                        buf[i] = t == 0 ? dd : h->momentum * buf[i] + (1 - h->dampening) * dd;
                        dd = h->nesterov ? dd + h->momentum * buf[i] : buf[i];
                    }
                    pv[i] -= h->lr * dd;
                }
                char what[64];
                snprintf(what, sizeof what, "sgd case %zu step %d %s", k, t, npg_dtype_name(d));
                t_assert_close(p, pv, 3, d == NPG_FLOAT32 ? 1e-6 : 1e-14, 1e-7, what);
            }
            npg_optimizer_free(o);
            npg_scope_end(s);
        }
    }
}

Test(optim, adam_and_adamw_match_hand_computation) {
    for (int w = 0; w < 2; w++) {
        for (int dt = 0; dt < 2; dt++) {
            npg_dtype d = dt ? NPG_FLOAT64 : NPG_FLOAT32;
            npg_scope s = npg_scope_begin();
            npg_array *p = npg_astype(vec(P0, 3, false), d);
            npg_set_requires_grad(p, true);
            npg_adam_opts ao = {.lr = 0.01, .beta1 = 0.8, .beta2 = 0.95, .eps = 1e-6, .weight_decay = 0.05};
            npg_optimizer *o = w ? npg_adamw_new(&p, 1, &ao) : npg_adam_new(&p, 1, &ao);
            cr_assert(o, "%s", npg_last_error());
            double pv[3], m[3] = {0}, v[3] = {0};
            memcpy(pv, P0, sizeof pv);
            for (int t = 1; t <= 3; t++) {
                set_grad(p, G[t - 1], 3);
                cr_assert_eq(npg_optimizer_step(o), NPG_OK, "%s", npg_last_error());
                for (int i = 0; i < 3; i++) {
                    double g = G[t - 1][i];
                    if (w)
                        pv[i] *= 1 - ao.lr * ao.weight_decay;
                    else
                        g += ao.weight_decay * pv[i];
                    m[i] = ao.beta1 * m[i] + (1 - ao.beta1) * g;
                    v[i] = ao.beta2 * v[i] + (1 - ao.beta2) * g * g;
                    double mh = m[i] / (1 - pow(ao.beta1, t)), vh = v[i] / (1 - pow(ao.beta2, t));
                    pv[i] -= ao.lr * mh / (sqrt(vh) + ao.eps);
                }
                char what[64];
                snprintf(what, sizeof what, "%s step %d %s", w ? "adamw" : "adam", t, npg_dtype_name(d));
                t_assert_close(p, pv, 3, d == NPG_FLOAT32 ? 2e-6 : 1e-13, 1e-7, what);
            }
            npg_optimizer_free(o);
            npg_scope_end(s);
        }
    }
}

Test(optim, defaults_skips_zero_grad_and_errors) {
    npg_scope s = npg_scope_begin();
    npg_array *a = vec(P0, 3, true), *b = vec(P0, 3, true);
    npg_array *ps[2] = {a, b};
    npg_optimizer *o = npg_adam_new(ps, 2, NULL);
    cr_assert(o);
    cr_assert_float_eq(npg_optimizer_get_lr(o), 1e-3, 0);
    npg_optimizer_set_lr(o, 0.5);
    cr_assert_float_eq(npg_optimizer_get_lr(o), 0.5, 0);
    set_grad(a, G[0], 3);
    uint64_t vb = npg_version(b);
    cr_assert_eq(npg_optimizer_step(o), NPG_OK);
    cr_assert_eq(npg_version(b), vb, "a parameter without a gradient is skipped");
    double *av = t_read(a);
    for (int i = 0; i < 3; i++) cr_assert(fabs(av[i] - (P0[i] - 0.5 * (G[0][i] > 0 ? 1 : -1))) < 1e-6, "%g", av[i]);
    free(av);
    cr_assert_not_null(npg_grad(a));
    cr_assert_eq(npg_optimizer_zero_grad(o), NPG_OK);
    cr_assert_null(npg_grad(a));
    npg_optimizer_free(o);
    cr_assert_null(npg_sgd_new(ps, 2, NPG_SGD_OPTS(.lr = 0)));
    t_assert_error(NPG_ERR_INVALID_ARG, "npg_sgd_new");
    cr_assert_null(npg_sgd_new(ps, 2, NPG_SGD_OPTS(.lr = 0.1, .nesterov = true)));
    cr_assert_null(npg_adam_new(ps, 0, NULL));
    cr_assert_null(npg_adam_new(ps, 2, NPG_ADAM_OPTS(.beta1 = 1.5)));
    npg_array *i = npg_ones(NPG_SHAPE(2), OPT(.dtype = NPG_INT32));
    cr_assert_null(npg_sgd_new(&i, 1, NPG_SGD_OPTS(.lr = 0.1)));
    npg_array *nl = npg_exp(a);
    cr_assert_null(npg_sgd_new(&nl, 1, NPG_SGD_OPTS(.lr = 0.1)));
    t_assert_error(NPG_ERR_INVALID_ARG, "leaf");
    npg_scope_end(s);
}

Test(optim, a_step_invalidates_saved_parameters) {
    npg_scope s = npg_scope_begin();
    npg_array *w = vec(P0, 3, true);
    npg_optimizer *o = npg_sgd_new(&w, 1, NPG_SGD_OPTS(.lr = 0.1));
    npg_array *loss = npg_sum(npg_square(w), NPG_ALL_AXES, false);
    cr_assert_eq(npg_backward_ex(loss, NULL, NPG_BACKWARD_OPTS(.retain_graph = true)), NPG_OK);
    cr_assert_eq(npg_optimizer_step(o), NPG_OK);
    cr_assert_eq(npg_backward(loss, NULL), NPG_ERR_INPLACE, "the step changed w, which square saved");
    t_assert_error(NPG_ERR_INPLACE, "square");
    npg_optimizer_free(o);
    npg_scope_end(s);
}

Test(optim, clip_grad_norm) {
    npg_scope s = npg_scope_begin();
    npg_array *a = vec(P0, 3, true), *b = vec(P0, 2, true);
    set_grad(a, (double[]){3, 0, 0}, 3);
    set_grad(b, (double[]){0, 4}, 2);
    npg_array *ps[2] = {a, b};
    double n = npg_clip_grad_norm(ps, 2, 1.0);
    cr_assert_float_eq(n, 5.0, 1e-12);
    double ga[3] = {0.6, 0, 0}, gb[2] = {0, 0.8};
    t_assert_close(npg_grad(a), ga, 3, 1e-5, 1e-7, "clipped a");
    t_assert_close(npg_grad(b), gb, 2, 1e-5, 1e-7, "clipped b");
    cr_assert_float_eq(npg_clip_grad_norm(ps, 2, 10.0), 1.0, 1e-5);
    t_assert_close(npg_grad(a), ga, 3, 1e-5, 1e-7, "unchanged under the limit");
    cr_assert(isnan(npg_clip_grad_norm(ps, 2, 0)));
    t_assert_error(NPG_ERR_INVALID_ARG, "max_norm");
    npg_scope_end(s);
}

Test(optim, lr_schedules) {
    cr_assert_float_eq(npg_lr_step(1.0, 0, 10, 0.5), 1.0, 0);
    cr_assert_float_eq(npg_lr_step(1.0, 25, 10, 0.5), 0.25, 1e-15);
    cr_assert_float_eq(npg_lr_cosine(1.0, 0, 100, 0.0), 1.0, 1e-15);
    cr_assert_float_eq(npg_lr_cosine(1.0, 50, 100, 0.0), 0.5, 1e-15);
    cr_assert_float_eq(npg_lr_cosine(1.0, 100, 100, 0.1), 0.1, 1e-15);
    cr_assert_float_eq(npg_lr_cosine(2.0, 25, 100, 0.0), 2.0 * (1 + cos(3.14159265358979323846 / 4)) / 2, 1e-12);
    cr_assert_float_eq(npg_lr_warmup(1.0, 0, 4), 0.25, 1e-15);
    cr_assert_float_eq(npg_lr_warmup(1.0, 3, 4), 1.0, 1e-15);
    cr_assert_float_eq(npg_lr_warmup(1.0, 10, 4), 1.0, 1e-15);
}

Test(optim, params_save_and_load) {
    npg_scope s = npg_scope_begin();
    char dir[] = "/tmp/npg_params_XXXXXX";
    cr_assert(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/ckpt.npz", dir);
    npg_params *p = npg_params_new();
    npg_array *w = npg_randn(NPG_SHAPE(4, 3), OPT(.requires_grad = true));
    npg_array *b = npg_arange(0, 3, 1, OPT(.dtype = NPG_FLOAT64, .requires_grad = true));
    cr_assert_eq(npg_params_add(p, "layer.weight", w), NPG_OK);
    cr_assert_eq(npg_params_add(p, "layer.bias", b), NPG_OK);
    cr_assert_eq(npg_params_add(p, "layer.bias", b), NPG_ERR_INVALID_ARG);
    cr_assert_eq(npg_params_count(p), 2);
    cr_assert_str_eq(npg_params_name(p, 1), "layer.bias");
    /* out of range: NULL with an error (found by test_fuzz.c: it set none) */
    npg_clear_error();
    cr_assert_null(npg_params_get(p, 2));
    t_assert_error(NPG_ERR_INDEX, "npg_params_get");
    npg_clear_error();
    cr_assert_null(npg_params_name(p, -1));
    t_assert_error(NPG_ERR_INDEX, "npg_params_name");
    npg_clear_error();
    cr_assert_null(npg_params_get(NULL, 0));
    t_assert_error(NPG_ERR_NULL_ARG, "npg_params_get");
    npg_clear_error();
    cr_assert_eq(npg_params_find(p, "layer.weight"), w);
    cr_assert_null(npg_params_find(p, "nope"));
    cr_assert_eq(npg_params_numel(p), 15);
    cr_assert_eq(npg_params_save(p, path), NPG_OK, "%s", npg_last_error());
    double *wv = t_read(w);
    npg_no_grad_begin();
    npg_fill(w, 0);
    npg_fill(b, 7);
    npg_no_grad_end();
    cr_assert_eq(npg_params_load(p, path), NPG_OK, "%s", npg_last_error());
    t_assert_close(w, wv, 12, 0, 0, "weights restored");
    t_assert_close(b, (double[]){0, 1, 2}, 3, 0, 0, "bias restored");
    free(wv);
    /* mismatches change nothing */
    npg_params *q = npg_params_new();
    npg_array *w2 = npg_ones(NPG_SHAPE(4, 4), OPT());
    npg_params_add(q, "layer.weight", w2);
    cr_assert_eq(npg_params_load(q, path), NPG_ERR_SHAPE);
    t_assert_error(NPG_ERR_SHAPE, "layer.weight");
    cr_assert_float_eq(npg_item(npg_sum(w2, NPG_ALL_AXES, false)), 16.0, 0);
    npg_params *r = npg_params_new();
    npg_params_add(r, "missing", w2);
    cr_assert_eq(npg_params_load(r, path), NPG_ERR_FORMAT);
    t_assert_error(NPG_ERR_FORMAT, "missing");
    cr_assert_eq(npg_params_load(r, "/nonexistent/x.npz"), NPG_ERR_IO);
    npg_params_free(p);
    npg_params_free(q);
    npg_params_free(r);
    unlink(path);
    rmdir(dir);
    npg_scope_end(s);
}

/* 200 steps on 1,000 Fashion-MNIST images must lower the loss. */
Test(optim, short_training_run_lowers_the_loss, .timeout = 600) {
    const char *dir = "/usr/share/datasets/fashion-mnist";
    char p1[256], p2[256];
    snprintf(p1, sizeof p1, "%s/train-images-idx3-ubyte.gz", dir);
    snprintf(p2, sizeof p2, "%s/train-labels-idx1-ubyte.gz", dir);
    if (access(p1, R_OK) != 0) cr_skip_test("Fashion-MNIST is not installed (dataset-fashion-mnist)");
    npg_scope s = npg_scope_begin();
    npg_seed(1);
    npg_array *xa = npg_load_idx(p1, OPT(.dtype = NPG_FLOAT32));
    npg_array *ya = npg_load_idx(p2, OPT(.dtype = NPG_INT64));
    cr_assert(xa && ya, "%s", npg_last_error());
    npg_array *x = npg_divide_scalar(npg_reshape(NPG_INDEX(xa, NPG_SLICE(0, 1000, 1)), NPG_SHAPE(1000, 784)), 255.0);
    npg_array *y = NPG_INDEX(ya, NPG_SLICE(0, 1000, 1));
    npg_array *w1 = npg_empty(NPG_SHAPE(64, 784), OPT(.requires_grad = true));
    npg_array *b1 = npg_zeros(NPG_SHAPE(64), OPT(.requires_grad = true));
    npg_array *w2 = npg_empty(NPG_SHAPE(10, 64), OPT(.requires_grad = true));
    npg_array *b2 = npg_zeros(NPG_SHAPE(10), OPT(.requires_grad = true));
    npg_init_kaiming_uniform(w1, NULL);
    npg_init_kaiming_uniform(w2, NULL);
    npg_array *ps[4] = {w1, b1, w2, b2};
    npg_optimizer *o = npg_sgd_new(ps, 4, NPG_SGD_OPTS(.lr = 0.05, .momentum = 0.9));
    npg_loader *l = npg_loader_new(x, y, &(npg_loader_opts){.batch_size = 50, .shuffle = true});
    cr_assert(o && l, "%s", npg_last_error());
    double first = 0, last = 0;
    int steps = 0;
    while (steps < 200) {
        npg_array *xb, *yb;
        if (!npg_loader_next(l, &xb, &yb)) {
            cr_assert_eq(npg_last_status(), NPG_OK, "%s", npg_last_error());
            continue;
        }
        npg_scope st = npg_scope_begin();
        npg_array *loss = npg_cross_entropy(npg_linear(npg_relu(npg_linear(xb, w1, b1)), w2, b2), yb, NULL);
        cr_assert_eq(npg_backward(loss, NULL), NPG_OK, "%s", npg_last_error());
        cr_assert_eq(npg_optimizer_step(o), NPG_OK);
        npg_optimizer_zero_grad(o);
        double lv = npg_item(loss);
        if (steps < 10) first += lv / 10;
        if (steps >= 190) last += lv / 10;
        npg_scope_end(st);
        npg_free(xb);
        npg_free(yb);
        steps++;
    }
    cr_assert_lt(last, first * 0.5, "mean loss of the first 10 steps %g, of the last 10 %g", first, last);
    npg_loader_free(l);
    npg_optimizer_free(o);
    npg_scope_end(s);
}

/* A NULL parameter is reported before bad hyper-parameters or other bad
 * parameters, keeping the error that produced it. */
Test(optim, null_parameter_keeps_the_pending_error) {
    npg_scope s = npg_scope_begin();
    npg_array *w = npg_ones(NPG_SHAPE(2), NPG_OPTS(.requires_grad = true));
    npg_array *bad = npg_reshape(w, NPG_SHAPE(5)); /* NULL, NPG_ERR_SHAPE pending */
    npg_array *ps[3] = {npg_exp(w) /* not a leaf */, w, bad};
    cr_assert_null(npg_sgd_new(ps, 3, NPG_SGD_OPTS(.lr = -1)));
    cr_assert_eq(npg_last_status(), NPG_ERR_SHAPE, "%s", npg_last_error());
    cr_assert_null(npg_adam_new(ps, 3, NPG_ADAM_OPTS(.beta1 = 2)));
    cr_assert_eq(npg_last_status(), NPG_ERR_SHAPE, "%s", npg_last_error());
    cr_assert_null(npg_adamw_new(ps, 3, NULL));
    cr_assert_eq(npg_last_status(), NPG_ERR_SHAPE, "%s", npg_last_error());
    npg_clear_error();
    npg_scope_end(s);
}
