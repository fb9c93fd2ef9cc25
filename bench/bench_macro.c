/*
 * bench_macro.c — whole training steps through npg's nn API, the way a
 * user writes them (examples/fashion_mnist.c's models and recipe):
 *   mlp_step   784-512-256-10 ReLU, cross-entropy, Adam; batch 128 and 1024   ms/step
 *   cnn_step   conv3x3(1->16,pad 1)-relu-maxpool2, conv3x3(16->32,pad 1)-
 *              relu-maxpool2, linear(1568->128)-relu, linear(128->10); b 128  ms/step
 *   lstm_step  an LSTM layer (input 32, hidden 128, npg_rnn) over 32 steps,
 *              a linear head on the last output, MSE, Adam; batch 64
 *              (PyTorch: nn.LSTM)                                          ms/step
 *   mlp_epoch  one shuffled Fashion-MNIST epoch of the MLP at batch 128       s/epoch
 * A step is forward, loss, backward, optimizer step, zero_grad. The MLP's
 * ceiling is its eight matrix products alone, called directly through
 * OpenBLAS / cuBLAS on buffers of the same shapes ("gemm-only"): the time a
 * step could not go below without faster GEMMs, timed interleaved with the
 * step. The CNN has no ceiling.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "bench.h"
#include "npg/io.h"
#include "fm_model.h"

/* ---- the models --------------------------------------------------------------- */

typedef struct net {
    npg_device dev;
    bool cnn;
    npg_params *params;
    npg_optimizer *opt;
    npg_array *x, *y; /* a fixed batch for the step benchmarks */
} net;

static void net_free(net *m) {
    npg_optimizer_free(m->opt);
    npg_params_free(m->params);
    npg_free(m->x);
    npg_free(m->y);
    memset(m, 0, sizeof *m);
}

/* Parameters, Adam, and (batch > 0) a random batch. 0 on success. */
static int net_init(net *m, npg_device dev, bool cnn, int64_t batch) {
    memset(m, 0, sizeof *m);
    m->dev = dev;
    m->cnn = cnn;
    m->params = fm_model_new(cnn, dev);
    if (!m->params) return -1;
    m->opt = npg_adam_new(npg_params_arrays(m->params), npg_params_count(m->params), NPG_ADAM_OPTS(.lr = 1e-3));
    if (!m->opt) return -1;
    if (batch > 0) {
        m->x = npg_randn(NPG_SHAPE(batch, 784), NPG_OPTS(.device = dev));
        m->y = npg_randint(0, 10, NPG_SHAPE(batch), NPG_OPTS(.device = dev));
        if (!m->x || !m->y) return -1;
    }
    return 0;
}

/* logits (N, 10) for images x (N, 784): the main job's forward pass */
static npg_array *net_forward(net *m, npg_array *x) { return fm_model_forward(m->params, m->cnn, x, 0); }

/* One training step on (x, y); 0 on success. */
static int net_step(net *m, npg_array *x, npg_array *y) {
    npg_scope s = npg_scope_begin();
    npg_array *loss = npg_cross_entropy(net_forward(m, x), y, NULL);
    int rc = loss && npg_backward(loss, NULL) == NPG_OK && npg_optimizer_step(m->opt) == NPG_OK &&
                     npg_optimizer_zero_grad(m->opt) == NPG_OK
                 ? 0
                 : -1;
    npg_scope_end(s);
    return rc;
}

static int body_step(void *p, int64_t iters) {
    net *m = p;
    for (int64_t i = 0; i < iters; i++)
        if (net_step(m, m->x, m->y) != 0) return -1;
    return 0;
}

static void sync_net(void *p) {
    net *m = p;
    if (m->dev.type == NPG_DEVICE_CUDA) npg_synchronize(m->dev);
}

/* ---- the MLP's GEMMs alone (the ceiling) ----------------------------------------- */

typedef struct gemm {
    int ta, tb, m, n, k, a, b, c; /* row-major C (m, n) = op(A) op(B); a, b, c index the buffers */
} gemm;

enum { G_X, G_W1, G_H1, G_W2, G_H2, G_W3, G_OUT, G_DW1, G_DW2, G_DW3, G_DH2, G_DH1, G_NBUF };

/* The eight products of an MLP step at batch B: three forward, five backward
 * (no gradient for the input). */
static void mlp_gemms(int B, gemm g[8], int64_t sizes[G_NBUF]) {
    const gemm list[8] = {
        {0, 1, B, 512, 784, G_X, G_W1, G_H1},    /* h1 = x W1^T */
        {0, 1, B, 256, 512, G_H1, G_W2, G_H2},   /* h2 = h1 W2^T */
        {0, 1, B, 10, 256, G_H2, G_W3, G_OUT},   /* out = h2 W3^T */
        {1, 0, 10, 256, B, G_OUT, G_H2, G_DW3},  /* dW3 = dout^T h2 */
        {0, 0, B, 256, 10, G_OUT, G_W3, G_DH2},  /* dh2 = dout W3 */
        {1, 0, 256, 512, B, G_DH2, G_H1, G_DW2}, /* dW2 = dh2^T h1 */
        {0, 0, B, 512, 256, G_DH2, G_W2, G_DH1}, /* dh1 = dh2 W2 */
        {1, 0, 512, 784, B, G_DH1, G_X, G_DW1},  /* dW1 = dh1^T x */
    };
    memcpy(g, list, sizeof list);
    const int64_t s[G_NBUF] = {(int64_t)B * 784, 512 * 784, (int64_t)B * 512, 256 * 512, (int64_t)B * 256, 10 * 256,
                               (int64_t)B * 10,  512 * 784, 256 * 512,        10 * 256,  (int64_t)B * 256, (int64_t)B * 512};
    memcpy(sizes, s, sizeof s);
}

typedef struct gctx {
    npg_device dev;
    gemm g[8];
    float *buf[G_NBUF];
} gctx;

static int body_gemms(void *p, int64_t iters) {
    gctx *c = p;
    for (int64_t it = 0; it < iters; it++)
        for (int i = 0; i < 8; i++) {
            const gemm *g = &c->g[i];
            if (c->dev.type == NPG_DEVICE_CPU) {
                cblas_sgemm(CblasRowMajor, g->ta ? CblasTrans : CblasNoTrans, g->tb ? CblasTrans : CblasNoTrans, g->m,
                            g->n, g->k, 1.0f, c->buf[g->a], g->ta ? g->m : g->k, c->buf[g->b], g->tb ? g->k : g->n,
                            0.0f, c->buf[g->c], g->n);
            } else {
#ifdef NPG_BENCH_CUDA
                if (npgb_cuda_gemm(NPGB_GEMM_F32, g->ta, g->tb, g->m, g->n, g->k, c->buf[g->a], c->buf[g->b], c->buf[g->c]) != 0)
                    return -1;
#else
                return -1;
#endif
            }
        }
    return 0;
}

static void sync_gemms(void *p) {
    gctx *c = p;
    if (c->dev.type != NPG_DEVICE_CUDA) return;
#ifdef NPG_BENCH_CUDA
    npgb_cuda_sync();
#endif
}

/* Buffers for the MLP's GEMMs at batch B (npg arrays: the allocator the step
 * uses; 0.01 keeps values normal). 0 on success; gemms_free either way. */
static int gemms_init(gctx *c, npg_array *arrays[G_NBUF], npg_device dev, int B) {
    memset(c, 0, sizeof *c);
    memset(arrays, 0, G_NBUF * sizeof *arrays);
    c->dev = dev;
#ifndef NPG_BENCH_CUDA
    if (dev.type == NPG_DEVICE_CUDA) return -1; /* no direct cuBLAS call in this build */
#endif
    int64_t sizes[G_NBUF];
    mlp_gemms(B, c->g, sizes);
    for (int i = 0; i < G_NBUF; i++) {
        arrays[i] = npg_full(NPG_SHAPE(sizes[i]), 0.01, NPG_OPTS(.device = dev));
        if (!arrays[i]) return -1;
        c->buf[i] = npg_data(arrays[i]);
    }
    return npg_synchronize(dev) == NPG_OK ? 0 : -1;
}

static void gemms_free(npg_array *arrays[G_NBUF]) {
    for (int i = 0; i < G_NBUF; i++) npg_free(arrays[i]);
    npg_clear_error();
}

/* ---- steps ----------------------------------------------------------------------- */

static void run_step(const bench_opts *o, npg_device dev, bench_results *r, const bench_timing *tm, bool cnn,
                     int64_t batch) {
    const char *name = cnn ? "cnn_step" : "mlp_step";
    if (!bench_selected(o, name)) return;
    bench_result *x = bench_results_add(r, name, bench_device_str(dev), "float32", batch);
    if (!x) return;
    snprintf(x->size_label, sizeof x->size_label, "b%lld", (long long)batch);
    bench_set_unit(x, "time", "ms", true);
    if (!cnn)
        snprintf(x->ceiling_name, sizeof x->ceiling_name, "gemm-only (%s)",
                 dev.type == NPG_DEVICE_CUDA ? "cublas" : "cblas");
    net m;
    gctx g;
    npg_array *garrays[G_NBUF];
    if (net_init(&m, dev, cnn, batch) != 0) {
        bench_note_error(x, "setup failed");
    } else {
        /* the MLP step beside its GEMMs alone */
        bench_job jobs[2] = {{body_step, sync_net, &m}, {body_gemms, sync_gemms, &g}};
        int k = !cnn && gemms_init(&g, garrays, dev, (int)batch) == 0 ? 2 : 1;
        double out[2] = {NAN, NAN};
        bench_time_group(k, jobs, tm, out);
        if (isfinite(out[0])) x->value = 1e3 * out[0];
        else bench_note_error(x, "failed");
        x->ceiling = 1e3 * out[1];
        if (!cnn) gemms_free(garrays);
    }
    net_free(&m);
    npg_clear_error();
    bench_progress("%s %s b%lld: %.3f ms%s%s", bench_device_str(dev), name, (long long)batch, x->value,
                   x->note[0] ? " " : "", x->note);
}

/* ---- the LSTM step ------------------------------------------------------------------ */

enum { L_IN = 32, L_HID = 128, L_T = 32 };

typedef struct lstm {
    npg_device dev;
    npg_array *p[6]; /* w_ih, w_hh, b_ih, b_hh, w_out, b_out */
    npg_optimizer *opt;
    npg_array *x, *y; /* (T, B, IN), (B, 1) */
} lstm;

static void lstm_free(lstm *m) {
    npg_optimizer_free(m->opt);
    for (int i = 0; i < 6; i++) npg_free(m->p[i]);
    npg_free(m->x);
    npg_free(m->y);
    memset(m, 0, sizeof *m);
}

static int lstm_init(lstm *m, npg_device dev, int64_t batch) {
    memset(m, 0, sizeof *m);
    m->dev = dev;
    const npg_shape shapes[6] = {NPG_SHAPE(4 * L_HID, L_IN), NPG_SHAPE(4 * L_HID, L_HID), NPG_SHAPE(4 * L_HID),
                                 NPG_SHAPE(4 * L_HID), NPG_SHAPE(1, L_HID), NPG_SHAPE(1)};
    const double b = 1.0 / sqrt((double)L_HID); /* PyTorch's LSTM initialisation range */
    for (int i = 0; i < 6; i++) {
        m->p[i] = npg_uniform(-b, b, shapes[i], NPG_OPTS(.device = dev, .requires_grad = true));
        if (!m->p[i]) return -1;
    }
    m->opt = npg_adam_new(m->p, 6, NPG_ADAM_OPTS(.lr = 1e-3));
    m->x = npg_randn(NPG_SHAPE(L_T, batch, L_IN), NPG_OPTS(.device = dev));
    m->y = npg_randn(NPG_SHAPE(batch, 1), NPG_OPTS(.device = dev));
    return m->opt && m->x && m->y ? 0 : -1;
}

static int lstm_step(lstm *m) {
    npg_scope s = npg_scope_begin();
    npg_array *out = NULL;
    int rc = npg_rnn(NPG_RNN_LSTM, m->x, NULL, NULL, m->p, 4, NULL, &out, NULL, NULL) == NPG_OK ? 0 : -1;
    npg_array *last = rc == 0 ? NPG_INDEX(out, NPG_I(-1)) : NULL;
    npg_array *loss = last ? npg_mse_loss(npg_linear(last, m->p[4], m->p[5]), m->y, NPG_REDUCTION_MEAN) : NULL;
    rc = loss && npg_backward(loss, NULL) == NPG_OK && npg_optimizer_step(m->opt) == NPG_OK &&
                 npg_optimizer_zero_grad(m->opt) == NPG_OK
             ? 0
             : -1;
    npg_scope_end(s);
    return rc;
}

static int body_lstm(void *p, int64_t iters) {
    for (int64_t i = 0; i < iters; i++)
        if (lstm_step(p) != 0) return -1;
    return 0;
}

static void sync_lstm(void *p) {
    lstm *m = p;
    if (m->dev.type == NPG_DEVICE_CUDA) npg_synchronize(m->dev);
}

static void run_lstm(const bench_opts *o, npg_device dev, bench_results *r, const bench_timing *tm, int64_t batch) {
    if (!bench_selected(o, "lstm_step")) return;
    bench_result *x = bench_results_add(r, "lstm_step", bench_device_str(dev), "float32", batch);
    if (!x) return;
    snprintf(x->size_label, sizeof x->size_label, "b%lld", (long long)batch);
    bench_set_unit(x, "time", "ms", true);
    lstm m;
    if (lstm_init(&m, dev, batch) != 0) {
        bench_note_error(x, "setup failed");
    } else {
        bench_job job = {body_lstm, sync_lstm, &m};
        double out = NAN;
        bench_time_group(1, &job, tm, &out);
        if (isfinite(out)) x->value = 1e3 * out;
        else bench_note_error(x, "failed");
    }
    lstm_free(&m);
    npg_clear_error();
    bench_progress("%s lstm_step b%lld: %.3f ms%s%s", bench_device_str(dev), (long long)batch, x->value,
                   x->note[0] ? " " : "", x->note);
}

/* Seconds for the MLP's GEMMs at batch B alone; NaN if unavailable. */
static double mlp_gemm_seconds(npg_device dev, int B, const bench_timing *tm) {
    gctx g;
    npg_array *arrays[G_NBUF];
    double t = gemms_init(&g, arrays, dev, B) == 0 ? bench_time(body_gemms, sync_gemms, &g, tm) : NAN;
    gemms_free(arrays);
    return t;
}

/* ---- one Fashion-MNIST epoch ---------------------------------------------------- */

static npg_array *load_idx(const char *dir, const char *file, npg_dtype dtype, npg_device dev) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.gz", dir, file);
    FILE *f = fopen(path, "rb");
    if (f) fclose(f);
    else snprintf(path, sizeof path, "%s/%s", dir, file);
    return npg_load_idx(path, NPG_OPTS(.dtype = dtype, .device = dev));
}

/* The images the epoch uses: all 60000; the first 10000 with --quick. */
static int64_t epoch_images(const bench_opts *o) { return o->tiny ? 1024 : o->quick ? 10000 : 60000; }

static void run_epoch(const bench_opts *o, npg_device dev, bench_results *r) {
    if (!bench_selected(o, "mlp_epoch")) return;
    int64_t limit = epoch_images(o);
    bench_result *x = bench_results_add(r, "mlp_epoch", bench_device_str(dev), "float32", limit);
    if (!x) return;
    snprintf(x->size_label, sizeof x->size_label, "%lld", (long long)limit);
    bench_set_unit(x, "time", "s", true);
    const char *dir = bench_data_dir(o);
    npg_scope s = npg_scope_begin();
    npg_array *xtr = load_idx(dir, "train-images-idx3-ubyte", NPG_FLOAT32, dev);
    npg_array *ytr = load_idx(dir, "train-labels-idx1-ubyte", NPG_INT64, dev);
    if (!xtr || !ytr) {
        snprintf(x->note, sizeof x->note, "skipped: Fashion-MNIST not found in %s (Debian's dataset-fashion-mnist)", dir);
        npg_clear_error();
        npg_scope_end(s);
        bench_progress("%s mlp_epoch: %s", bench_device_str(dev), x->note);
        return;
    }
    if (limit < npg_dim(xtr, 0)) {
        xtr = NPG_INDEX(xtr, NPG_SLICE(0, limit, 1));
        ytr = NPG_INDEX(ytr, NPG_SLICE(0, limit, 1));
    } else if (npg_dim(xtr, 0) < limit) { /* a smaller file than Fashion-MNIST's: say what ran */
        x->size = npg_dim(xtr, 0);
        snprintf(x->size_label, sizeof x->size_label, "%lld", (long long)x->size);
    }
    /* (N, 28, 28) in [0, 255] -> (N, 784) standardised, as examples/fashion_mnist.c does */
    npg_array *xs = npg_divide_scalar(npg_reshape(xtr, NPG_SHAPE(-1, 784)), 255.0);
    double mean = npg_item(npg_mean(xs, NPG_ALL_AXES, false));
    double std = npg_item(npg_std(xs, NPG_ALL_AXES, 0, false));
    npg_array *xn = npg_contiguous(npg_divide_scalar(npg_subtract_scalar(xs, mean), std));
    net m;
    npg_generator *gen = npg_generator_new(1);
    npg_loader *loader = NULL;
    if (!xn || !gen || net_init(&m, dev, false, 0) != 0) {
        bench_note_error(x, "setup failed");
    } else {
        loader = npg_loader_new(xn, ytr, &(npg_loader_opts){.batch_size = 128, .shuffle = true, .generator = gen});
        /* warm-up: a few steps on the first rows */
        npg_array *wx = NPG_INDEX(xn, NPG_SLICE(0, 128, 1)), *wy = NPG_INDEX(ytr, NPG_SLICE(0, 128, 1));
        int rc = loader ? 0 : -1;
        for (int i = 0; i < 3 && rc == 0; i++) rc = net_step(&m, wx, wy);
        int reps = o->tiny || o->quick ? 1 : o->reps > 0 ? (o->reps < 3 ? o->reps : 3) : 3;
        double per[3];
        for (int k = 0; k < reps && rc == 0; k++) {
            npg_synchronize(dev);
            double t0 = bench_now();
            npg_array *xb, *yb;
            npg_clear_error();
            while (rc == 0 && npg_loader_next(loader, &xb, &yb)) {
                rc = net_step(&m, xb, yb);
                npg_free(xb);
                npg_free(yb);
            }
            if (npg_last_status() != NPG_OK) rc = -1;
            npg_synchronize(dev);
            per[k] = bench_now() - t0;
        }
        if (rc == 0) x->value = bench_median(per, reps);
        else bench_note_error(x, "failed");
        net_free(&m);
    }
    npg_loader_free(loader);
    npg_generator_free(gen);
    npg_clear_error();
    npg_scope_end(s);
    bench_progress("%s mlp_epoch %lld images: %.2f s%s%s", bench_device_str(dev), (long long)limit, x->value,
                   x->note[0] ? " " : "", x->note);
}

int bench_run_macro(const bench_opts *o, npg_device dev, bench_results *r) {
    bench_timing tm = bench_timing_for(o);
    int before = r->n;
    run_step(o, dev, r, &tm, false, 128);
    if (!o->tiny) run_step(o, dev, r, &tm, false, 1024);
    run_step(o, dev, r, &tm, true, 128);
    run_lstm(o, dev, r, &tm, 64);
    /* the epoch's ceiling: the GEMMs of its batches at 128 (the last, partial batch counted pro rata) */
    int first_epoch = r->n;
    run_epoch(o, dev, r);
    if (r->n > first_epoch && isfinite(r->v[first_epoch].value)) {
        bench_result *e = &r->v[first_epoch];
        double g = NAN;
        for (int i = before; i < first_epoch; i++)
            if (!strcmp(r->v[i].name, "mlp_step") && r->v[i].size == 128) g = r->v[i].ceiling / 1e3;
        if (!isfinite(g)) g = mlp_gemm_seconds(dev, 128, &tm);
        snprintf(e->ceiling_name, sizeof e->ceiling_name, "gemm-only (%s)", dev.type == NPG_DEVICE_CUDA ? "cublas" : "cblas");
        e->ceiling = g * (double)e->size / 128.0;
    }
    return r->n - before;
}
