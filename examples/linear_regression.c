/*
 * linear_regression.c — numpygrad's backward example, then a straight-line
 * fit three ways: NumPy's normal equations, npg_linalg_lstsq, and gradient
 * descent with npg's autograd. Prints each step.
 *
 *   linear_regression [--device cpu|cuda] [--steps N] [--lr R]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "npg.h"

#define CHECK(x)                                                              \
    do {                                                                      \
        if (!(x)) {                                                           \
            fprintf(stderr, "error: %s (%s)\n", npg_last_error(), #x);        \
            return 1;                                                         \
        }                                                                     \
    } while (0)

int main(int argc, char **argv) {
    int steps = 500;
    double lr = 0.5;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--device") && i + 1 < argc) {
            npg_device d;
            if (npg_parse_device(argv[++i], &d) != NPG_OK || npg_set_default_device(d) != NPG_OK) {
                fprintf(stderr, "error: %s\n", npg_last_error());
                return 2;
            }
        } else if (!strcmp(argv[i], "--steps") && i + 1 < argc) {
            steps = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--lr") && i + 1 < argc) {
            lr = atof(argv[++i]);
        } else {
            fprintf(stderr, "usage: %s [--device cpu|cuda] [--steps N] [--lr R]\n", argv[0]);
            return 2;
        }
    }
    char dev[160];
    npg_device_name(npg_default_device(), dev, sizeof dev);
    printf("npg %s on %s\n\n", NPG_VERSION, dev);

    /* 1. numpygrad's backward example: c = sqrt(a^2 + b^2) */
    npg_scope s = npg_scope_begin();
    npg_array *a = npg_scalar(3.0, NPG_OPTS(.requires_grad = true));
    npg_array *b = npg_scalar(4.0, NPG_OPTS(.requires_grad = true));
    npg_array *c = npg_sqrt(npg_add(npg_pow_scalar(a, 2), npg_pow_scalar(b, 2)));
    CHECK(c);
    CHECK(npg_backward(c, NULL) == NPG_OK);
    printf("a = 3, b = 4, c = sqrt(a**2 + b**2) = %g\n", npg_item(c));
    printf("backward: a.grad = %g, b.grad = %g   (expected 0.6 and 0.8)\n", npg_item(npg_grad(a)),
           npg_item(npg_grad(b)));
    npg_array *x = npg_randn(NPG_SHAPE(3, 4), NPG_OPTS(.requires_grad = true));
    npg_array *out = npg_multiply_scalar(x, 2);
    CHECK(npg_backward(out, npg_ones(NPG_SHAPE(3, 4), NULL)) == NPG_OK);
    printf("out = randn(3,4) * 2; backward(out, ones) gives x.grad =\n");
    npg_print(npg_grad(x));
    npg_scope_end(s);

    /* 2. data: y = 3 x - 2 + noise, like NumPy's lstsq example */
    npg_seed(0);
    const int n = 200;
    s = npg_scope_begin();
    npg_array *xs = npg_linspace(-1, 1, n, NULL);
    npg_array *ys = npg_add(npg_subtract_scalar(npg_multiply_scalar(xs, 3.0), 2.0),
                            npg_multiply_scalar(npg_randn(NPG_SHAPE(n), NULL), 0.1));
    CHECK(ys);
    printf("\ndata: %d points of y = 3 x - 2 + N(0, 0.1^2)\n", n);

    /* normal equations: [sum x^2, sum x; sum x, n] [m; q] = [sum xy; sum y] */
    double sxx = npg_item(npg_sum(npg_square(xs), NPG_ALL_AXES, false));
    double sx = npg_item(npg_sum(xs, NPG_ALL_AXES, false));
    double sxy = npg_item(npg_sum(npg_multiply(xs, ys), NPG_ALL_AXES, false));
    double sy = npg_item(npg_sum(ys, NPG_ALL_AXES, false));
    double det = sxx * n - sx * sx;
    double m_ne = (sxy * n - sx * sy) / det, q_ne = (sxx * sy - sx * sxy) / det;
    printf("normal equations:  y = %.4f x %+.4f\n", m_ne, q_ne);

    /* the same fit as a least-squares problem, [x 1] [m; q] ~ y (npg/linalg.h) */
    npg_array *X = npg_stack((npg_array *[]){xs, npg_ones_like(xs, NULL)}, 2, 1); /* (n, 2) */
    double mq[2];
    CHECK(npg_copy_to_host(npg_astype(npg_linalg_lstsq(X, ys, -1), NPG_FLOAT64), mq, sizeof mq) == NPG_OK);
    printf("lstsq:             y = %.4f x %+.4f\n", mq[0], mq[1]);
    double lm = mq[0] - m_ne, lq = mq[1] - q_ne;

    /* gradient descent on the mean squared error */
    npg_array *m = npg_zeros(NPG_SHAPE0, NPG_OPTS(.requires_grad = true));
    npg_array *q = npg_zeros(NPG_SHAPE0, NPG_OPTS(.requires_grad = true));
    npg_keep(m);
    npg_keep(q);
    for (int step = 0; step <= steps; step++) {
        npg_scope st = npg_scope_begin();
        npg_array *pred = npg_add(npg_multiply(xs, m), q);
        npg_array *loss = npg_mean(npg_square(npg_subtract(pred, ys)), NPG_ALL_AXES, false);
        CHECK(loss);
        CHECK(npg_backward(loss, NULL) == NPG_OK);
        if (step % (steps / 5 > 0 ? steps / 5 : 1) == 0)
            printf("step %4d  loss %.6f  m %.4f  q %+.4f\n", step, npg_item(loss), npg_item(m), npg_item(q));
        npg_no_grad_begin();
        CHECK(npg_assign(m, npg_subtract(m, npg_multiply_scalar(npg_grad(m), lr))) == NPG_OK);
        CHECK(npg_assign(q, npg_subtract(q, npg_multiply_scalar(npg_grad(q), lr))) == NPG_OK);
        npg_no_grad_end();
        npg_zero_grad(m);
        npg_zero_grad(q);
        npg_scope_end(st);
    }
    printf("gradient descent:  y = %.4f x %+.4f\n", npg_item(m), npg_item(q));
    double dm = npg_item(m) - m_ne, dq = npg_item(q) - q_ne;
    printf("difference from the normal equations: %.2e, %.2e\n", dm, dq);
    npg_scope_end(s);
    npg_free(m);
    npg_free(q);
    return (dm * dm + dq * dq < 1e-6 && lm * lm + lq * lq < 1e-8) ? 0 : 1;
}
