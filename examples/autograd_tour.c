/*
 * autograd_tour.c — a short tour of npg: arrays and dtypes, broadcasting,
 * views, backward, higher-order gradients, no-grad mode, and the errors npg
 * gives instead of crashing (a version-counter error among them).
 */
#include <stdio.h>

#include "npg.h"

static void show(const char *what, npg_array *x) {
    printf("%s =\n", what);
    if (npg_print(x) != NPG_OK) printf("  (error: %s)\n", npg_last_error());
}

int main(void) {
    npg_scope s = npg_scope_begin();

    printf("-- arrays and broadcasting\n");
    npg_array *x = npg_reshape(npg_arange(0, 6, 1, NPG_OPTS(.dtype = NPG_FLOAT64)), NPG_SHAPE(2, 3));
    npg_array *col = npg_from_data((double[]){10, 20}, NPG_FLOAT64, NPG_SHAPE(2, 1), NULL);
    show("x", x);
    show("x + [[10], [20]]", npg_add(x, col));
    show("int32 arange * 2 (weak scalar keeps int32)", npg_multiply_scalar(npg_arange(0, 4, 1, NPG_OPTS(.dtype = NPG_INT32)), 2));

    printf("\n-- views share memory\n");
    npg_array *t = npg_T(x);
    npg_array *rev = NPG_INDEX(x, NPG_ALL, NPG_SLICE(NPG_NONE, NPG_NONE, -1));
    show("x.T", t);
    show("x[:, ::-1]", rev);
    npg_setitem_scalar(x, (npg_idx[]){NPG_I(0), NPG_I(0)}, 2, 100);
    show("after x[0, 0] = 100, x.T", t);

    printf("\n-- backward\n");
    npg_array *w = npg_from_data((double[]){0.5, -1, 2}, NPG_FLOAT64, NPG_SHAPE(3), NPG_OPTS(.requires_grad = true));
    npg_array *loss = npg_sum(npg_square(npg_matmul(x, w)), NPG_ALL_AXES, false);
    printf("loss = sum((x @ w)^2) = %g, produced by '%s'\n", npg_item(loss), npg_grad_fn_name(loss));
    npg_backward(loss, NULL);
    show("w.grad = 2 x.T (x @ w)", npg_grad(w));

    printf("\n-- higher order: d2/dz2 of z^3 at z = 2 is 12\n");
    npg_array *z = npg_scalar(2.0, NPG_OPTS(.dtype = NPG_FLOAT64, .requires_grad = true));
    npg_array *y = npg_pow_scalar(z, 3), *dz, *d2z;
    npg_grad_of(&y, 1, NULL, &z, 1, &dz, NPG_BACKWARD_OPTS(.create_graph = true));
    npg_grad_of(&dz, 1, NULL, &z, 1, &d2z, NULL);
    printf("dy/dz = %g, d2y/dz2 = %g\n", npg_item(dz), npg_item(d2z));

    printf("\n-- no-grad mode records nothing\n");
    npg_no_grad_begin();
    npg_array *p = npg_multiply_scalar(w, 2);
    npg_no_grad_end();
    printf("requires_grad of w * 2 inside no-grad: %s\n", npg_requires_grad(p) ? "true" : "false");

    printf("\n-- errors are values, not crashes\n");
    npg_array *bad = npg_matmul(x, npg_ones(NPG_SHAPE(4, 2), NULL));
    printf("matmul (2,3) @ (4,2): %s -> \"%s\"\n", bad ? "ok?" : "NULL", npg_last_error());
    npg_array *chained = npg_exp(npg_add(bad, x));
    printf("exp(add(NULL, x)) is %s and keeps the first error: \"%s\"\n", chained ? "?" : "NULL", npg_last_error());
    npg_clear_error();

    printf("\n-- version counters catch in-place writes to saved arrays\n");
    npg_array *a = npg_ones(NPG_SHAPE(3), NPG_OPTS(.dtype = NPG_FLOAT64, .requires_grad = true));
    npg_array *k = npg_full(NPG_SHAPE(3), 3.0, NPG_OPTS(.dtype = NPG_FLOAT64));
    npg_array *out = npg_sum(npg_multiply(a, k), NPG_ALL_AXES, false); /* saves k */
    npg_fill(k, 0.0);                                                    /* k changes */
    npg_status st = npg_backward(out, NULL);
    printf("backward after writing into k: %s\n  %s\n", npg_status_string(st), npg_last_error());

    npg_scope_end(s);
    return 0;
}
