/*
 * fashion_mnist.c — npg's main job: train a classifier on Fashion-MNIST
 * (Debian's dataset-fashion-mnist, /usr/share/datasets/fashion-mnist) on the
 * CPU or a GPU, with a progress bar, one line per epoch, and at the end a
 * checkpoint (.npz), the learning curves (CSV) and a small SVG plot.
 *
 * Models:
 *   mlp  784-512-256-10, ReLU                                  (default)
 *   cnn  conv3x3(1->16)-relu-maxpool2, conv3x3(16->32)-relu-maxpool2,
 *        linear(1568->128)-relu, linear(128->10)
 * Recipe: inputs scaled to [0,1] then standardised with the training set's
 * mean and std; Kaiming-uniform weights, zero biases; cross-entropy; Adam
 * (lr 1e-3, cosine decay to 0 over the run); batch 128. --optimizer sgd uses
 * SGD with momentum 0.9 and nesterov (lr 0.05, same decay).
 * --precision bfloat16|float16: mixed precision (fm_model.h: the layers run
 * in the half type, the parameters, optimizer and loss stay float32);
 * float16 adds loss scaling (npg_grad_scaler), bfloat16 has float32's range
 * and needs none. On the CPU the half types save memory, not time.
 *
 *   fashion_mnist [--model mlp|cnn] [--epochs N] [--batch-size B] [--lr R]
 *                 [--optimizer adam|sgd] [--precision float32|bfloat16|float16]
 *                 [--device cpu|cuda|cuda:N|auto]
 *                 [--seed S] [--out DIR] [--data DIR] [--limit N] [--quiet]
 * The device defaults to NPG_DEVICE, else a GPU if present, else the CPU.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "npg.h"
#include "npg/io.h"

#include "fm_model.h"

#define DIE_IF(cond, ...)                                    \
    do {                                                     \
        if (cond) {                                          \
            fprintf(stderr, "fashion_mnist: " __VA_ARGS__);  \
            fprintf(stderr, " (%s)\n", npg_last_error());    \
            exit(1);                                         \
        }                                                    \
    } while (0)

typedef struct config {
    const char *model, *optimizer, *precision, *out, *data;
    npg_dtype compute; /* 0 (float32), NPG_BFLOAT16 or NPG_FLOAT16 */
    int epochs;
    int64_t batch, limit;
    double lr;
    uint64_t seed;
    bool quiet;
} config;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void usage(const char *argv0) {
    fprintf(stderr,
            "usage: %s [--model mlp|cnn] [--epochs N] [--batch-size B] [--lr R] [--optimizer adam|sgd]\n"
            "          [--precision float32|bfloat16|float16] [--device cpu|cuda|cuda:N|auto] [--seed S]\n"
            "          [--out DIR] [--data DIR] [--limit N] [--quiet]\n",
            argv0);
    exit(2);
}

/* ---- the models (fm_model.h, shared with npg-bench) ---------------------- */

typedef struct model {
    bool cnn;
    npg_dtype compute;
    npg_params *params;
} model;

static void model_init(model *m, bool cnn, npg_dtype compute) {
    m->cnn = cnn;
    m->compute = compute;
    m->params = fm_model_new(cnn, NPG_DEFAULT_DEVICE);
    DIE_IF(!m->params, "cannot create the %s model", cnn ? "cnn" : "mlp");
}

static npg_array *forward(model *m, npg_array *x) { return fm_model_forward(m->params, m->cnn, x, m->compute); }

/* ---- data ----------------------------------------------------------------- */

static npg_array *load(const char *dir, const char *file, npg_dtype dtype, int64_t limit) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    npg_array *x = npg_load_idx(path, NPG_OPTS(.dtype = dtype));
    DIE_IF(!x, "cannot read %s (install Debian's dataset-fashion-mnist, or pass --data DIR)", path);
    if (limit > 0 && limit < npg_dim(x, 0)) {
        npg_array *s = NPG_INDEX(x, NPG_SLICE(0, limit, 1));
        npg_array *c = npg_copy(s);
        npg_free(s);
        npg_free(x);
        x = c;
    }
    return x;
}

/* ---- evaluation ------------------------------------------------------------ */

static double accuracy(model *m, npg_array *x, npg_array *y) {
    int64_t n = npg_dim(x, 0), correct = 0;
    npg_no_grad_begin();
    for (int64_t i = 0; i < n; i += 1000) {
        npg_scope s = npg_scope_begin();
        int64_t e = i + 1000 < n ? i + 1000 : n;
        npg_array *logits = forward(m, NPG_INDEX(x, NPG_SLICE(i, e, 1)));
        npg_array *hit = npg_equal(npg_argmax(logits, 1, false), NPG_INDEX(y, NPG_SLICE(i, e, 1)));
        int64_t c = npg_item_int(npg_sum(hit, NPG_ALL_AXES, false));
        DIE_IF(npg_last_status() != NPG_OK && !hit, "evaluation failed");
        correct += c;
        npg_scope_end(s);
    }
    npg_no_grad_end();
    return n ? (double)correct / (double)n : 0;
}

/* ---- outputs -------------------------------------------------------------- */

typedef struct curve {
    double loss, train_acc, test_acc, seconds, samples_per_s;
} curve;

static void write_svg(const char *path, const curve *c, int n, const char *title) {
    FILE *f = fopen(path, "w");
    if (!f) return;
    const int W = 640, H = 360, L = 60, R = 60, T = 40, B = 50;
    double maxloss = 0;
    for (int i = 0; i < n; i++)
        if (c[i].loss > maxloss) maxloss = c[i].loss;
    if (maxloss <= 0) maxloss = 1;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" font-size=\"12\">\n", W, H);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(f, "<text x=\"%d\" y=\"24\" font-size=\"14\">%s</text>\n", L, title);
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#888\"/>\n", L, T, W - L - R, H - T - B);
    for (int k = 0; k <= 5; k++) {
        double y = T + (H - T - B) * k / 5.0;
        fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>\n", L, W - R, y, y);
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" fill=\"#c33\">%.2f</text>\n", L - 6, y + 4, maxloss * (1 - k / 5.0));
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" fill=\"#36c\">%.0f%%</text>\n", W - R + 6, y + 4, 100 * (1 - k / 5.0));
    }
    const char *colors[3] = {"#c33", "#36c", "#3a3"};
    const char *names[3] = {"train loss", "train accuracy", "test accuracy"};
    for (int s = 0; s < 3; s++) {
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", colors[s]);
        for (int i = 0; i < n; i++) {
            double x = L + (W - L - R) * (n > 1 ? (double)i / (n - 1) : 0.5);
            double v = s == 0 ? c[i].loss / maxloss : s == 1 ? c[i].train_acc : c[i].test_acc;
            fprintf(f, "%.1f,%.1f ", x, T + (H - T - B) * (1 - v));
        }
        fprintf(f, "\"/>\n<text x=\"%d\" y=\"%d\" fill=\"%s\">%s</text>\n", L + 130 * s, H - 15, colors[s], names[s]);
    }
    for (int i = 0; i < n; i++) {
        double x = L + (W - L - R) * (n > 1 ? (double)i / (n - 1) : 0.5);
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%d</text>\n", x, H - B + 16, i + 1);
    }
    fprintf(f, "</svg>\n");
    fclose(f);
}

/* ---- main ----------------------------------------------------------------- */

int main(int argc, char **argv) {
    config c = {.model = "mlp", .optimizer = "adam", .precision = "float32", .out = "fashion_mnist_out",
                .data = "/usr/share/datasets/fashion-mnist", .epochs = 10, .batch = 128, .lr = 0, .seed = 0};
    const char *device = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        if (!strcmp(a, "--model") && has) c.model = argv[++i];
        else if (!strcmp(a, "--epochs") && has) c.epochs = atoi(argv[++i]);
        else if (!strcmp(a, "--batch-size") && has) c.batch = atoll(argv[++i]);
        else if (!strcmp(a, "--lr") && has) c.lr = atof(argv[++i]);
        else if (!strcmp(a, "--optimizer") && has) c.optimizer = argv[++i];
        else if (!strcmp(a, "--precision") && has) c.precision = argv[++i];
        else if (!strcmp(a, "--device") && has) device = argv[++i];
        else if (!strcmp(a, "--seed") && has) c.seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(a, "--out") && has) c.out = argv[++i];
        else if (!strcmp(a, "--data") && has) c.data = argv[++i];
        else if (!strcmp(a, "--limit") && has) c.limit = atoll(argv[++i]);
        else if (!strcmp(a, "--quiet")) c.quiet = true;
        else usage(argv[0]);
    }
    bool cnn = !strcmp(c.model, "cnn");
    bool sgd = !strcmp(c.optimizer, "sgd");
    if ((!cnn && strcmp(c.model, "mlp")) || (!sgd && strcmp(c.optimizer, "adam")) || c.epochs < 1 || c.batch < 1) usage(argv[0]);
    if (!strcmp(c.precision, "bfloat16")) c.compute = NPG_BFLOAT16;
    else if (!strcmp(c.precision, "float16")) c.compute = NPG_FLOAT16;
    else if (strcmp(c.precision, "float32")) usage(argv[0]);
    if (c.lr <= 0) c.lr = sgd ? 0.05 : 1e-3;

    /* device: --device, else NPG_DEVICE, else a GPU if present, else the CPU */
    npg_device dev;
    const char *env = getenv("NPG_DEVICE");
    DIE_IF(npg_parse_device(device ? device : (env && *env ? env : "auto"), &dev) != NPG_OK, "bad device");
    DIE_IF(npg_set_default_device(dev) != NPG_OK, "device unavailable");
    char devname[200];
    npg_device_name(dev, devname, sizeof devname);
    npg_seed(c.seed);

    double t0 = now_s();
    npg_array *xtr = load(c.data, "train-images-idx3-ubyte.gz", NPG_FLOAT32, c.limit);
    npg_array *ytr = load(c.data, "train-labels-idx1-ubyte.gz", NPG_INT64, c.limit);
    npg_array *xte = load(c.data, "t10k-images-idx3-ubyte.gz", NPG_FLOAT32, c.limit);
    npg_array *yte = load(c.data, "t10k-labels-idx1-ubyte.gz", NPG_INT64, c.limit);
    /* (N, 28, 28) in [0, 255] -> (N, 784), standardised with the training statistics */
    {
        npg_scope s = npg_scope_begin();
        npg_array *xs = npg_divide_scalar(npg_reshape(xtr, NPG_SHAPE(-1, 784)), 255.0);
        double mean = npg_item(npg_mean(xs, NPG_ALL_AXES, false));
        double std = npg_item(npg_std(xs, NPG_ALL_AXES, 0, false));
        npg_array *a = npg_keep(npg_divide_scalar(npg_subtract_scalar(xs, mean), std));
        npg_array *b = npg_keep(npg_divide_scalar(
            npg_subtract_scalar(npg_divide_scalar(npg_reshape(xte, NPG_SHAPE(-1, 784)), 255.0), mean), std));
        DIE_IF(!a || !b, "preprocessing failed");
        npg_scope_end(s);
        npg_free(xtr);
        npg_free(xte);
        xtr = a;
        xte = b;
    }
    int64_t ntrain = npg_dim(xtr, 0), ntest = npg_dim(xte, 0);
    printf("npg %s | %s | model %s | %s | %s lr %g | batch %lld | %d epochs | %lld train / %lld test images (%.1f s to "
           "load)\n",
           NPG_VERSION, devname, c.model, c.precision, c.optimizer, c.lr, (long long)c.batch, c.epochs,
           (long long)ntrain, (long long)ntest, now_s() - t0);

    model m;
    model_init(&m, cnn, c.compute);
    npg_array *const *ps = npg_params_arrays(m.params);
    int np = npg_params_count(m.params);
    printf("%lld parameters\n", (long long)npg_params_numel(m.params));
    npg_optimizer *opt = sgd ? npg_sgd_new(ps, np, NPG_SGD_OPTS(.lr = c.lr, .momentum = 0.9, .nesterov = true))
                             : npg_adam_new(ps, np, NPG_ADAM_OPTS(.lr = c.lr));
    DIE_IF(!opt, "cannot create the optimizer");
    /* float16's gradients underflow without loss scaling; bfloat16's do not */
    npg_grad_scaler *scaler = npg_grad_scaler_new(NPG_GRAD_SCALER_OPTS(.disabled = c.compute != NPG_FLOAT16));
    DIE_IF(!scaler, "cannot create the loss scaler");
    npg_generator *gen = npg_generator_new(c.seed + 1);
    npg_loader *loader = npg_loader_new(xtr, ytr, &(npg_loader_opts){.batch_size = c.batch, .shuffle = true, .generator = gen});
    DIE_IF(!loader, "cannot create the data loader");
    int64_t nb = npg_loader_num_batches(loader), total_steps = nb * c.epochs, step = 0;
    bool tty = isatty(fileno(stdout)) && !c.quiet;
    curve *curves = calloc((size_t)c.epochs, sizeof *curves);
    double train_start = now_s();

    for (int epoch = 0; epoch < c.epochs; epoch++) {
        double te = now_s();
        npg_array *loss_sum = npg_zeros(NPG_SHAPE0, NULL), *correct = npg_zeros(NPG_SHAPE0, NPG_OPTS(.dtype = NPG_INT64));
        int64_t seen = 0, b = 0;
        npg_array *xb, *yb;
        while (npg_loader_next(loader, &xb, &yb)) {
            npg_scope s = npg_scope_begin();
            npg_optimizer_set_lr(opt, npg_lr_cosine(c.lr, step, total_steps, 0.0));
            npg_array *logits = forward(&m, xb);
            npg_array *loss = npg_cross_entropy(logits, yb, NULL);
            DIE_IF(!loss, "forward failed at epoch %d batch %lld", epoch + 1, (long long)b);
            DIE_IF(npg_backward(npg_grad_scaler_scale(scaler, loss), NULL) != NPG_OK, "backward failed");
            DIE_IF(npg_grad_scaler_step(scaler, opt, NULL) != NPG_OK, "optimizer step failed");
            DIE_IF(npg_grad_scaler_update(scaler) != NPG_OK, "loss scaling failed");
            npg_optimizer_zero_grad(opt);
            /* running statistics stay on the device: no synchronisation per step */
            int64_t bs = npg_dim(xb, 0);
            npg_no_grad_begin();
            npg_assign(loss_sum, npg_add(loss_sum, npg_multiply_scalar(loss, (double)bs)));
            npg_assign(correct, npg_add(correct, npg_sum(npg_equal(npg_argmax(logits, 1, false), yb), NPG_ALL_AXES, false)));
            npg_no_grad_end();
            seen += bs;
            step++;
            b++;
            npg_scope_end(s);
            npg_free(xb);
            npg_free(yb);
            if (tty && (b % 10 == 0 || b == nb)) {
                int width = 30, done = (int)(width * b / nb);
                double el = now_s() - te;
                printf("\repoch %2d/%d [%.*s%*s] %lld/%lld  loss %.4f  %.0f img/s ", epoch + 1, c.epochs, done,
                       "##############################", width - done, "", (long long)b, (long long)nb,
                       npg_item(loss_sum) / (double)seen, (double)seen / el);
                fflush(stdout);
            } else if (!tty && !c.quiet && b % 100 == 0) {
                printf("  epoch %d: %lld/%lld batches, loss %.4f\n", epoch + 1, (long long)b, (long long)nb,
                       npg_item(loss_sum) / (double)seen);
                fflush(stdout);
            }
        }
        DIE_IF(npg_last_status() != NPG_OK && seen == 0, "data loader failed");
        npg_synchronize(npg_default_device());
        double train_time = now_s() - te;
        curve *cv = &curves[epoch];
        cv->loss = npg_item(loss_sum) / (double)seen;
        cv->train_acc = (double)npg_item_int(correct) / (double)seen;
        cv->samples_per_s = (double)seen / train_time;
        cv->test_acc = accuracy(&m, xte, yte);
        cv->seconds = now_s() - train_start;
        npg_free(loss_sum);
        npg_free(correct);
        if (tty) printf("\r%*s\r", 100, "");
        printf("epoch %2d/%d  loss %.4f  train acc %.2f%%  test acc %.2f%%  %.0f samples/s  epoch %.2f s  elapsed %.1f s\n",
               epoch + 1, c.epochs, cv->loss, 100 * cv->train_acc, 100 * cv->test_acc, cv->samples_per_s, train_time,
               cv->seconds);
        fflush(stdout);
    }

    /* outputs */
    mkdir(c.out, 0755);
    char path[1200];
    snprintf(path, sizeof path, "%s/%s.npz", c.out, c.model);
    DIE_IF(npg_params_save(m.params, path) != NPG_OK, "cannot save the checkpoint %s", path);
    printf("checkpoint: %s\n", path);
    snprintf(path, sizeof path, "%s/%s_curves.csv", c.out, c.model);
    FILE *f = fopen(path, "w");
    if (f) {
        fprintf(f, "epoch,loss,train_accuracy,test_accuracy,samples_per_second,elapsed_seconds\n");
        for (int i = 0; i < c.epochs; i++)
            fprintf(f, "%d,%.6f,%.6f,%.6f,%.1f,%.3f\n", i + 1, curves[i].loss, curves[i].train_acc, curves[i].test_acc,
                    curves[i].samples_per_s, curves[i].seconds);
        fclose(f);
        printf("curves: %s\n", path);
    }
    snprintf(path, sizeof path, "%s/%s_curves.svg", c.out, c.model);
    char title[300];
    snprintf(title, sizeof title, "Fashion-MNIST %s on %s: final test accuracy %.2f%%", c.model, devname,
             100 * curves[c.epochs - 1].test_acc);
    write_svg(path, curves, c.epochs, title);
    printf("plot: %s\n", path);

    npg_loader_free(loader);
    npg_generator_free(gen);
    npg_grad_scaler_free(scaler);
    npg_optimizer_free(opt);
    npg_params_free(m.params);
    npg_free(xtr);
    npg_free(ytr);
    npg_free(xte);
    npg_free(yte);
    free(curves);
    return 0;
}
