/*
 * extending_autograd.c — the autograd engine's extension points: a custom
 * differentiable function whose forward is a plain C loop (npg_custom), a
 * gradient hook that clips a gradient (npg_register_hook), activation
 * checkpointing (npg_checkpoint), and einsum. Runs on the CPU (the C loop
 * reads host memory); exits 1 if a result is off.
 */
#include <math.h>
#include <stdio.h>

#include "npg.h"

/* softsign(x) = x / (1 + |x|), forward in C; its derivative 1 / (1 + |x|)^2
 * written with npg ops, so it runs anywhere and can be differentiated again. */
static npg_status softsign_backward(void *ctx, npg_array *g, int n, npg_array *const *in, npg_array *out,
                                    npg_array **gin) {
    (void)ctx, (void)n, (void)out;
    npg_array *d = npg_add_scalar(npg_abs(in[0]), 1);
    gin[0] = npg_divide(g, npg_square(d));
    return gin[0] ? NPG_OK : npg_last_status();
}

static npg_array *softsign(npg_array *x) {
    npg_array *c = npg_contiguous(x); /* the loop reads row-major float64 */
    npg_array *y = npg_empty_like(c, NULL);
    if (!c || !y) return NULL;
    const double *px = npg_data(c);
    double *py = npg_data(y);
    for (int64_t i = 0; i < npg_size(c); i++) py[i] = px[i] / (1 + fabs(px[i]));
    return npg_custom("softsign", y, 1, &x, softsign_backward, NULL, NULL);
}

/* A hook: scale the gradient down to norm at most *max_norm. */
static npg_status clip_hook(void *ctx, npg_array *g, npg_array **replacement) {
    double max_norm = *(const double *)ctx;
    double norm = npg_item(npg_sqrt(npg_sum(npg_square(g), NPG_ALL_AXES, false)));
    if (norm > max_norm) *replacement = npg_multiply_scalar(g, max_norm / norm);
    return NPG_OK;
}

/* A block to checkpoint: tanh(x @ w1) @ w2 */
static npg_array *block(npg_array *const *in, int n, void *user) {
    (void)n, (void)user;
    return npg_matmul(npg_tanh(npg_matmul(in[0], in[1])), in[2]);
}

int main(void) {
    int bad = 0;
    npg_scope s = npg_scope_begin();
    npg_array *x = npg_from_data((double[]){-2, -0.5, 0, 1, 3}, NPG_FLOAT64, NPG_SHAPE(5),
                                 NPG_OPTS(.device = NPG_CPU, .requires_grad = true));

    printf("-- a custom function with a C forward\n");
    npg_array *y = softsign(x);
    npg_print(y);
    npg_backward(npg_sum(y, NPG_ALL_AXES, false), NULL);
    printf("d softsign / dx (grad_fn '%s'):\n", npg_grad_fn_name(y));
    npg_print(npg_grad(x));
    bad += fabs(npg_item(NPG_INDEX(npg_grad(x), NPG_I(4))) - 1.0 / 16) > 1e-15;

    printf("\n-- a hook that clips the gradient's norm to 1\n");
    double max_norm = 1;
    npg_zero_grad(x);
    int h = npg_register_hook(x, clip_hook, &max_norm, NULL);
    npg_backward(npg_sum(npg_multiply_scalar(x, 10), NPG_ALL_AXES, false), NULL); /* gradient 10 each */
    npg_print(npg_grad(x));
    bad += fabs(npg_item(npg_sum(npg_square(npg_grad(x)), NPG_ALL_AXES, false)) - 1) > 1e-12;
    npg_remove_hook(x, h);

    printf("\n-- checkpointing: the same gradients, without storing tanh's input and output\n");
    npg_array *in[3] = {npg_randn(NPG_SHAPE(4, 8), NPG_OPTS(.dtype = NPG_FLOAT64)),
                        npg_randn(NPG_SHAPE(8, 16), NPG_OPTS(.dtype = NPG_FLOAT64, .requires_grad = true)),
                        npg_randn(NPG_SHAPE(16, 2), NPG_OPTS(.dtype = NPG_FLOAT64, .requires_grad = true))};
    npg_backward(npg_sum(block(in, 3, NULL), NPG_ALL_AXES, false), NULL);
    npg_array *g_direct = npg_copy(npg_grad(in[1]));
    npg_zero_grad(in[1]);
    npg_zero_grad(in[2]);
    npg_array *yc = npg_checkpoint(block, NULL, in, 3);
    npg_backward(npg_sum(yc, NPG_ALL_AXES, false), NULL);
    double diff = npg_item(npg_max(npg_abs(npg_subtract(npg_grad(in[1]), g_direct)), NPG_ALL_AXES, false));
    printf("grad_fn '%s'; largest difference from the direct gradient: %g\n", npg_grad_fn_name(yc), diff);
    bad += diff > 1e-12;

    printf("\n-- einsum: a batched bilinear form x_b^T A y_b\n");
    npg_array *A = npg_eye(3, NPG_OPTS(.dtype = NPG_FLOAT64));
    npg_array *xs = npg_reshape(npg_arange(0, 6, 1, NPG_OPTS(.dtype = NPG_FLOAT64)), NPG_SHAPE(2, 3));
    npg_array *bil = npg_einsum("bi,ij,bj->b", (npg_array *[]){xs, A, xs}, 3);
    npg_print(bil); /* [0+1+4, 9+16+25] = [5, 50] */
    bad += !bil || npg_item(NPG_INDEX(bil, NPG_I(1))) != 50;

    if (npg_last_status() != NPG_OK) {
        printf("error: %s\n", npg_last_error());
        bad++;
    }
    npg_scope_end(s);
    printf("\n%s\n", bad ? "FAILED" : "ok");
    return bad ? 1 : 0;
}
