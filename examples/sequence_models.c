/*
 * sequence_models.c — four small sequence models trained to predict the
 * next sample of sine waves with random frequencies and phases: an LSTM and
 * a GRU unrolled over time with npg_lstm_cell / npg_gru_cell
 * (backpropagation through time is npg's autograd over the unrolled graph),
 * a two-layer LSTM over the whole sequence with npg_rnn (PyTorch's
 * nn.LSTM(1, H, num_layers=2, batch_first=True)), and a causal 1-d
 * convolution stack (npg_conv1d with left padding). Each
 * prints its loss as it trains, then its error on a fresh batch from the
 * fifth sample on (the first ones cannot be predicted: a wave's frequency
 * and phase show only after a few samples) next to that of repeating the
 * last sample; the program exits non-zero if a model's error is not below a
 * tenth of that baseline.
 *
 *   sequence_models [--device cpu|cuda] [--steps N]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "npg.h"

enum { B = 32, T = 24, HIDDEN = 32 };

/* A batch of sine waves (B, T + 1): sin(f t + phase), f in [0.3, 0.8). */
static npg_array *waves(npg_generator *gen) {
    npg_array *f = npg_add_scalar(npg_multiply_scalar(npg_rand(NPG_SHAPE(B, 1), NPG_OPTS(.generator = gen)), 0.5), 0.3);
    npg_array *ph = npg_multiply_scalar(npg_rand(NPG_SHAPE(B, 1), NPG_OPTS(.generator = gen)), 6.283185307179586);
    npg_array *t = npg_arange(0, T + 1, 1, NULL);
    return npg_sin(npg_add(npg_multiply(f, t), ph));
}

/* A weight (rows, cols) uniform in +-1/sqrt(cols) (PyTorch's RNN init), requiring grad. */
static npg_array *param(npg_generator *gen, int64_t rows, int64_t cols) {
    npg_array *w = npg_empty(cols ? NPG_SHAPE(rows, cols) : NPG_SHAPE(rows), NPG_OPTS(.requires_grad = true));
    double b = 1.0 / sqrt((double)(cols ? cols : HIDDEN));
    npg_array *u = npg_uniform(-b, b, npg_shape_of(w), NPG_OPTS(.generator = gen));
    npg_no_grad_begin();
    npg_assign(w, u);
    npg_no_grad_end();
    npg_free(u);
    return w;
}

typedef enum { LSTM, GRU, STACKED, CONV } kind;

typedef struct model {
    kind k;
    npg_array *p[10];
    int n;
} model;

static void model_init(model *m, kind k, npg_generator *gen) {
    memset(m, 0, sizeof *m);
    m->k = k;
    if (k == CONV) {
        /* three causal convolutions, kernel 4, dilations 1, 2, 4: a receptive field of 19 */
        m->p[m->n++] = param(gen, HIDDEN, 1 * 4);
        m->p[m->n++] = param(gen, HIDDEN, HIDDEN * 4);
        m->p[m->n++] = param(gen, 1, HIDDEN * 4);
        return;
    }
    int g = k == GRU ? 3 : 4;
    for (int l = 0; l < (k == STACKED ? 2 : 1); l++) { /* npg_rnn's order: per layer w_ih, w_hh, b_ih, b_hh */
        m->p[m->n++] = param(gen, g * HIDDEN, l ? HIDDEN : 1); /* w_ih */
        m->p[m->n++] = param(gen, g * HIDDEN, HIDDEN);         /* w_hh */
        m->p[m->n++] = param(gen, g * HIDDEN, 0);              /* b_ih */
        m->p[m->n++] = param(gen, g * HIDDEN, 0);              /* b_hh */
    }
    m->p[m->n++] = param(gen, 1, HIDDEN); /* the linear head */
}

/* Predictions (B, T) of samples 1..T from samples 0..T-1 of s (B, T + 1). */
static npg_array *forward(const model *m, npg_array *s) {
    npg_array *in = NPG_INDEX(s, NPG_ALL, NPG_SLICE(0, T, 1));
    if (m->k == CONV) {
        npg_array *h = npg_reshape(in, NPG_SHAPE(B, 1, T));
        const int dil[3] = {1, 2, 4};
        const int64_t cin[3] = {1, HIDDEN, HIDDEN}, cout[3] = {HIDDEN, HIDDEN, 1};
        for (int l = 0; l < 3; l++) {
            /* causal: pad 3 dilations on the left only, so output t sees inputs <= t */
            int64_t pad[6] = {0, 0, 0, 0, 3 * dil[l], 0};
            npg_array *w = npg_reshape(m->p[l], NPG_SHAPE(cout[l], cin[l], 4));
            h = npg_conv1d(npg_pad(h, pad, NPG_PAD_CONSTANT, 0), w, NULL, NPG_CONV1D_OPTS(.dilation = dil[l]));
            if (l < 2) h = npg_tanh(h);
        }
        return npg_reshape(h, NPG_SHAPE(B, T));
    }
    if (m->k == STACKED) {
        npg_array *out = NULL; /* (B, T, HIDDEN): the top layer's h at every step */
        if (npg_rnn(NPG_RNN_LSTM, npg_reshape(in, NPG_SHAPE(B, T, 1)), NULL, NULL, m->p, 8,
                    NPG_RNN_OPTS(.num_layers = 2, .batch_first = true), &out, NULL, NULL) != NPG_OK)
            return NULL;
        return npg_reshape(npg_linear(out, m->p[8], NULL), NPG_SHAPE(B, T));
    }
    npg_array *h = NULL, *c = NULL, *outs[T];
    for (int t = 0; t < T; t++) {
        npg_array *x = NPG_INDEX(in, NPG_ALL, NPG_SLICE(t, t + 1, 1)); /* (B, 1) */
        if (m->k == LSTM) {
            if (npg_lstm_cell(x, h, c, m->p[0], m->p[1], m->p[2], m->p[3], &h, &c) != NPG_OK) return NULL;
        } else {
            h = npg_gru_cell(x, h, m->p[0], m->p[1], m->p[2], m->p[3]);
        }
        outs[t] = npg_linear(h, m->p[4], NULL); /* (B, 1) */
    }
    return npg_reshape(npg_stack(outs, T, 1), NPG_SHAPE(B, T));
}

enum { SKIP = 4 };

/* Mean squared error of pred (B, T) against the targets of s from sample SKIP on. */
static npg_array *tail_mse(npg_array *pred, npg_array *s) {
    return npg_mse_loss(NPG_INDEX(pred, NPG_ALL, NPG_SLICE(SKIP, T, 1)), NPG_INDEX(s, NPG_ALL, NPG_SLICE(SKIP + 1, T + 1, 1)),
                        NPG_REDUCTION_MEAN);
}

/* Trains model k; returns its error on a fresh batch over the predictable
 * samples divided by that of repeating the last sample (NaN on failure). */
static double train(kind k, int steps, npg_generator *gen) {
    static const char *const names[] = {"LSTM", "GRU", "2-layer LSTM", "causal conv1d"};
    model m;
    model_init(&m, k, gen);
    npg_optimizer *opt = npg_adam_new(m.p, m.n, NPG_ADAM_OPTS(.lr = 0.01));
    double loss = NAN;
    for (int step = 0; step < steps && opt; step++) {
        npg_scope s = npg_scope_begin();
        npg_array *w = waves(gen);
        npg_array *pred = forward(&m, w);
        npg_array *l = npg_mse_loss(pred, NPG_INDEX(w, NPG_ALL, NPG_SLICE(1, T + 1, 1)), NPG_REDUCTION_MEAN);
        if (!l || npg_optimizer_zero_grad(opt) != NPG_OK || npg_backward(l, NULL) != NPG_OK ||
            npg_optimizer_step(opt) != NPG_OK) {
            fprintf(stderr, "%s: %s\n", names[k], npg_last_error());
            npg_scope_end(s);
            loss = NAN;
            break;
        }
        loss = npg_item(l);
        if (step % (steps / 5 > 0 ? steps / 5 : 1) == 0 || step == steps - 1)
            printf("%-14s step %4d  mse %.5f\n", names[k], step, loss);
        npg_scope_end(s);
    }
    double ratio = NAN;
    if (!isnan(loss)) {
        npg_scope s = npg_scope_begin();
        npg_no_grad_begin();
        npg_array *w = waves(gen);
        double err = npg_item(tail_mse(forward(&m, w), w));
        double base = npg_item(tail_mse(NPG_INDEX(w, NPG_ALL, NPG_SLICE(0, T, 1)), w)); /* repeat the last sample */
        npg_no_grad_end();
        npg_scope_end(s);
        ratio = err / base;
        printf("%-14s fresh batch, samples %d on: mse %.5f, repeating the last sample %.5f (ratio %.3f)\n", names[k],
               SKIP + 1, err, base, ratio);
    }
    npg_optimizer_free(opt);
    for (int i = 0; i < m.n; i++) npg_free(m.p[i]);
    return ratio;
}

int main(int argc, char **argv) {
    int steps = 300;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--device") && i + 1 < argc) {
            npg_device d;
            if (npg_parse_device(argv[++i], &d) != NPG_OK || npg_set_default_device(d) != NPG_OK) {
                fprintf(stderr, "error: %s\n", npg_last_error());
                return 2;
            }
        } else if (!strcmp(argv[i], "--steps") && i + 1 < argc) {
            steps = atoi(argv[++i]);
        } else {
            fprintf(stderr, "usage: %s [--device cpu|cuda] [--steps N]\n", argv[0]);
            return 2;
        }
    }
    npg_generator *gen = npg_generator_new(0);
    int bad = 0;
    for (kind k = LSTM; k <= CONV; k++) {
        double r = train(k, steps, gen);
        if (!(r < 0.1)) {
            fprintf(stderr, "model %d did not learn the task (error ratio %g)\n", (int)k, r);
            bad = 1;
        }
    }
    npg_generator_free(gen);
    return bad;
}
