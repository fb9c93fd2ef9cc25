/*
 * test_autograd.c — the graph engine: backward, accumulation, retain and
 * create graph, no-grad, detach, zero_grad, functional grad, deep graphs,
 * ownership of graphs, and version counters on in-place writes.
 */
#include "test_util.h"

static void setup(void) { t_require_device(); }
TestSuite(autograd, .init = setup);

#define OPT(...) NPG_OPTS(.device = t_dev(), __VA_ARGS__)

Test(autograd, numpygrad_backward_example) {
    t_live live = t_live_now();
    npg_scope s = npg_scope_begin();
    npg_array *a = npg_scalar(3.0, OPT(.requires_grad = true));
    npg_array *b = npg_scalar(4.0, OPT(.requires_grad = true));
    npg_array *c = npg_sqrt(npg_add(npg_pow_scalar(a, 2), npg_pow_scalar(b, 2)));
    cr_assert_float_eq(npg_item(c), 5.0, 1e-6);
    cr_assert_eq(npg_backward(c, NULL), NPG_OK, "%s", npg_last_error());
    cr_assert_float_eq(npg_item(npg_grad(a)), 0.6, 1e-6);
    cr_assert_float_eq(npg_item(npg_grad(b)), 0.8, 1e-6);
    cr_assert_str_eq(npg_grad_fn_name(c), "sqrt");
    cr_assert_null(npg_grad_fn_name(a));
    npg_scope_end(s);
    t_assert_no_leak(live, "numpygrad example");
}

Test(autograd, randn_times_two_with_upstream_ones) {
    npg_scope s = npg_scope_begin();
    npg_array *x = npg_randn(NPG_SHAPE(3, 4), OPT(.requires_grad = true));
    npg_array *out = npg_multiply_scalar(x, 2);
    cr_assert_eq(npg_backward(out, npg_ones(NPG_SHAPE(3, 4), OPT())), NPG_OK, "%s", npg_last_error());
    double want[12];
    for (int i = 0; i < 12; i++) want[i] = 2.0;
    t_assert_close(npg_grad(x), want, 12, 0, 0, "grad");
    npg_scope_end(s);
}

Test(autograd, accumulates_across_backwards_and_zero_grad) {
    npg_scope s = npg_scope_begin();
    double xv[3] = {1, 2, 3};
    npg_array *x = npg_from_data(xv, NPG_FLOAT64, NPG_SHAPE(3), OPT(.requires_grad = true));
    for (int k = 0; k < 3; k++) {
        npg_array *y = npg_sum(npg_square(x), NPG_ALL_AXES, false);
        cr_assert_eq(npg_backward(y, NULL), NPG_OK, "%s", npg_last_error());
    }
    double want[3] = {6, 12, 18};
    t_assert_close(npg_grad(x), want, 3, 1e-12, 0, "accumulated");
    cr_assert_eq(npg_zero_grad(x), NPG_OK);
    cr_assert_null(npg_grad(x));
    cr_assert_eq(npg_last_status(), NPG_OK);
    npg_scope_end(s);
}

Test(autograd, shared_subexpressions_and_broadcast) {
    npg_scope s = npg_scope_begin();
    double xv[3] = {1, -2, 0.5}, bv[4] = {1, 2, 3, 4};
    npg_array *x = npg_from_data(xv, NPG_FLOAT64, NPG_SHAPE(3, 1), OPT(.requires_grad = true));
    npg_array *b = npg_from_data(bv, NPG_FLOAT64, NPG_SHAPE(4), OPT(.requires_grad = true));
    /* y = sum(x*x + x + b) over a (3,4) broadcast */
    npg_array *y = npg_sum(npg_add(npg_add(npg_multiply(x, x), x), b), NPG_ALL_AXES, false);
    cr_assert_eq(npg_backward(y, NULL), NPG_OK, "%s", npg_last_error());
    double gx[3], gb[4] = {3, 3, 3, 3};
    for (int i = 0; i < 3; i++) gx[i] = 4 * (2 * xv[i] + 1);
    t_assert_close(npg_grad(x), gx, 3, 1e-12, 0, "grad x");
    t_assert_shape(npg_grad(x), NPG_SHAPE(3, 1));
    t_assert_close(npg_grad(b), gb, 4, 1e-12, 0, "grad b");
    npg_scope_end(s);
}

Test(autograd, retain_graph_and_freed_graph_error) {
    npg_scope s = npg_scope_begin();
    npg_array *x = npg_scalar(2.0, OPT(.dtype = NPG_FLOAT64, .requires_grad = true));
    npg_array *y = npg_multiply(npg_exp(x), x);
    cr_assert_eq(npg_backward_ex(y, NULL, NPG_BACKWARD_OPTS(.retain_graph = true)), NPG_OK, "%s", npg_last_error());
    cr_assert_eq(npg_backward(y, NULL), NPG_OK, "%s", npg_last_error());
    double g = npg_item(npg_grad(x));
    cr_assert_float_eq(g, 2 * (exp(2.0) * 3.0), 1e-9);
    cr_assert_eq(npg_backward(y, NULL), NPG_ERR_AUTOGRAD);
    t_assert_error(NPG_ERR_AUTOGRAD, "already freed");
    /* the failed backward changed nothing */
    cr_assert_float_eq(npg_item(npg_grad(x)), g, 0);
    npg_scope_end(s);
}

Test(autograd, backward_errors) {
    t_live live = t_live_now();
    npg_scope s = npg_scope_begin();
    npg_array *x = npg_ones(NPG_SHAPE(2, 3), OPT(.requires_grad = true));
    npg_array *y = npg_multiply_scalar(x, 3);
    cr_assert_eq(npg_backward(y, NULL), NPG_ERR_AUTOGRAD);
    t_assert_error(NPG_ERR_AUTOGRAD, "scalar");
    cr_assert_eq(npg_backward(y, npg_ones(NPG_SHAPE(3, 2), OPT())), NPG_ERR_SHAPE);
    t_assert_error(NPG_ERR_SHAPE, "(2,3)");
    npg_array *c = npg_ones(NPG_SHAPE(2), OPT());
    cr_assert_eq(npg_backward(c, NULL), NPG_ERR_AUTOGRAD);
    t_assert_error(NPG_ERR_AUTOGRAD, "does not require grad");
    npg_clear_error();
    cr_assert_eq(npg_backward(NULL, NULL), NPG_ERR_NULL_ARG);
    cr_assert_null(npg_grad(x));
    /* a valid backward still works after the failures */
    cr_assert_eq(npg_backward(npg_sum(y, NPG_ALL_AXES, false), NULL), NPG_OK, "%s", npg_last_error());
    double want[6] = {3, 3, 3, 3, 3, 3};
    t_assert_close(npg_grad(x), want, 6, 0, 0, "grad");
    npg_scope_end(s);
    t_assert_no_leak(live, "backward errors");
}

Test(autograd, create_graph_higher_order) {
    npg_scope s = npg_scope_begin();
    double xv[3] = {0.5, -1.0, 2.0};
    npg_array *x = npg_from_data(xv, NPG_FLOAT64, NPG_SHAPE(3), OPT(.requires_grad = true));
    npg_array *y = npg_sum(npg_pow_scalar(x, 3), NPG_ALL_AXES, false);
    npg_array *g1;
    cr_assert_eq(npg_grad_of(&y, 1, NULL, &x, 1, &g1, NPG_BACKWARD_OPTS(.create_graph = true)), NPG_OK, "%s",
                 npg_last_error());
    double w1[3], w2[3], w3[3];
    for (int i = 0; i < 3; i++) {
        w1[i] = 3 * xv[i] * xv[i];
        w2[i] = 6 * xv[i];
        w3[i] = 6;
    }
    t_assert_close(g1, w1, 3, 1e-12, 0, "first derivative");
    cr_assert(npg_requires_grad(g1));
    npg_array *s1 = npg_sum(g1, NPG_ALL_AXES, false), *g2;
    cr_assert_eq(npg_grad_of(&s1, 1, NULL, &x, 1, &g2, NPG_BACKWARD_OPTS(.create_graph = true)), NPG_OK, "%s",
                 npg_last_error());
    t_assert_close(g2, w2, 3, 1e-12, 0, "second derivative");
    npg_array *s2 = npg_sum(g2, NPG_ALL_AXES, false), *g3;
    cr_assert_eq(npg_grad_of(&s2, 1, NULL, &x, 1, &g3, NULL), NPG_OK, "%s", npg_last_error());
    t_assert_close(g3, w3, 3, 1e-12, 0, "third derivative");
    /* grad_of leaves .grad alone */
    cr_assert_null(npg_grad(x));
    /* backward with create_graph: .grad carries a graph */
    npg_array *z = npg_sum(npg_multiply(npg_sin(x), x), NPG_ALL_AXES, false);
    cr_assert_eq(npg_backward_ex(z, NULL, NPG_BACKWARD_OPTS(.create_graph = true)), NPG_OK, "%s", npg_last_error());
    npg_array *gx = npg_grad(x);
    cr_assert(npg_requires_grad(gx));
    npg_array *h;
    npg_array *sg = npg_sum(gx, NPG_ALL_AXES, false);
    cr_assert_eq(npg_grad_of(&sg, 1, NULL, &x, 1, &h, NULL), NPG_OK, "%s", npg_last_error());
    double wh[3];
    for (int i = 0; i < 3; i++) wh[i] = 2 * cos(xv[i]) - xv[i] * sin(xv[i]);
    t_assert_close(h, wh, 3, 1e-12, 1e-12, "d/dx (sin x + x cos x)");
    npg_zero_grad(x); /* breaks the graph held by .grad */
    npg_scope_end(s);
}

Test(autograd, grad_of_unreachable_and_intermediate) {
    npg_scope s = npg_scope_begin();
    npg_array *x = npg_full(NPG_SHAPE(2), 3.0, OPT(.dtype = NPG_FLOAT64, .requires_grad = true));
    npg_array *w = npg_full(NPG_SHAPE(2), 5.0, OPT(.dtype = NPG_FLOAT64, .requires_grad = true));
    npg_array *h = npg_multiply_scalar(x, 2.0); /* intermediate */
    npg_array *y = npg_sum(npg_square(h), NPG_ALL_AXES, false);
    npg_array *ins[3] = {x, w, h}, *res[3];
    cr_assert_eq(npg_grad_of(&y, 1, NULL, ins, 3, res, NULL), NPG_OK, "%s", npg_last_error());
    double gx[2] = {24, 24}, gw[2] = {0, 0}, gh[2] = {12, 12};
    t_assert_close(res[0], gx, 2, 1e-12, 0, "dx");
    t_assert_close(res[1], gw, 2, 0, 0, "dw (unreachable)");
    t_assert_close(res[2], gh, 2, 1e-12, 0, "dh (intermediate)");
    cr_assert_null(npg_grad(x));
    npg_scope_end(s);
}

Test(autograd, no_grad_detach_requires_grad) {
    npg_scope s = npg_scope_begin();
    npg_array *x = npg_ones(NPG_SHAPE(2), OPT(.requires_grad = true));
    cr_assert(npg_is_grad_enabled());
    npg_no_grad_begin();
    npg_no_grad_begin();
    npg_array *y = npg_exp(x);
    npg_no_grad_end();
    cr_assert_not(npg_is_grad_enabled());
    npg_no_grad_end();
    cr_assert(npg_is_grad_enabled());
    cr_assert_not(npg_requires_grad(y));
    cr_assert_null(npg_grad_fn_name(y));
    npg_array *z = npg_exp(x);
    npg_array *d = npg_detach(z);
    cr_assert(npg_requires_grad(z));
    cr_assert_not(npg_requires_grad(d));
    cr_assert(npg_is_leaf(d));
    cr_assert_eq(npg_data(d), npg_data(z), "detach shares storage");
    /* toggling */
    npg_array *i = npg_ones(NPG_SHAPE(2), OPT(.dtype = NPG_INT32));
    cr_assert_eq(npg_set_requires_grad(i, true), NPG_ERR_DTYPE);
    cr_assert_eq(npg_set_requires_grad(z, false), NPG_ERR_AUTOGRAD);
    t_assert_error(NPG_ERR_AUTOGRAD, "exp");
    npg_array *l = npg_ones(NPG_SHAPE(2), OPT());
    cr_assert_eq(npg_set_requires_grad(l, true), NPG_OK);
    cr_assert(npg_requires_grad(npg_multiply(l, l)));
    cr_assert_eq(npg_set_requires_grad(l, false), NPG_OK);
    cr_assert_not(npg_requires_grad(npg_multiply(l, l)));
    cr_assert_null(npg_ones(NPG_SHAPE(2), OPT(.dtype = NPG_INT64, .requires_grad = true)));
    t_assert_error(NPG_ERR_DTYPE, "floating");
    npg_scope_end(s);
}

Test(autograd, freeing_intermediates_keeps_backward_valid) {
    t_live live = t_live_now();
    npg_array *x = npg_full(NPG_SHAPE(3), 2.0, OPT(.dtype = NPG_FLOAT64, .requires_grad = true));
    npg_array *a = npg_exp(x);
    npg_array *b = npg_multiply(a, x);
    npg_array *c = npg_sum(b, NPG_ALL_AXES, false);
    npg_free(a);
    npg_free(b);
    cr_assert_eq(npg_backward(c, NULL), NPG_OK, "%s", npg_last_error());
    npg_array *g = npg_grad(x);
    double w[3];
    for (int i = 0; i < 3; i++) w[i] = exp(2.0) * 3.0;
    t_assert_close(g, w, 3, 1e-12, 0, "grad");
    npg_free(g);
    npg_free(c);
    npg_free(x);
    t_assert_no_leak(live, "graph freed with its arrays");
}

Test(autograd, deep_graph_no_stack_overflow) {
    t_live live = t_live_now();
    npg_scope s = npg_scope_begin();
    npg_array *x = npg_scalar(1.0, OPT(.dtype = NPG_FLOAT64, .requires_grad = true));
    npg_array *y = x;
    npg_scope inner = npg_scope_begin();
    for (int i = 0; i < 200000; i++) {
        npg_array *next = npg_add_scalar(y, 1.0);
        y = next;
    }
    npg_keep(y);
    npg_scope_end(inner); /* the chain lives on through the graph */
    cr_assert_float_eq(npg_item(y), 200001.0, 0);
    cr_assert_eq(npg_backward(y, NULL), NPG_OK, "%s", npg_last_error());
    cr_assert_float_eq(npg_item(npg_grad(x)), 1.0, 0);
    /* and a retained deep graph is freed iteratively too */
    npg_array *z = x;
    for (int i = 0; i < 200000; i++) z = npg_multiply_scalar(z, 1.0);
    npg_scope_end(s);
    t_assert_no_leak(live, "deep graphs");
}

Test(autograd, scope_training_loop_does_not_leak) {
    npg_seed(7);
    npg_array *w = npg_randn(NPG_SHAPE(4, 3), OPT(.requires_grad = true));
    npg_array *x = npg_randn(NPG_SHAPE(8, 4), OPT());
    t_live live = t_live_now();
    double first = 0, last = 0;
    for (int step = 0; step < 50; step++) {
        npg_scope s = npg_scope_begin();
        npg_array *loss = npg_mean(npg_square(npg_matmul(x, w)), NPG_ALL_AXES, false);
        cr_assert_eq(npg_backward(loss, NULL), NPG_OK, "%s", npg_last_error());
        if (step == 0) first = npg_item(loss);
        last = npg_item(loss);
        npg_no_grad_begin();
        npg_array *g = npg_grad(w);
        cr_assert_eq(npg_assign(w, npg_subtract(w, npg_multiply_scalar(g, 0.1))), NPG_OK, "%s", npg_last_error());
        npg_no_grad_end();
        npg_zero_grad(w);
        npg_scope_end(s);
    }
    t_assert_no_leak(live, "50 training steps");
    cr_assert_lt(last, first * 0.5, "loss went from %g to %g", first, last);
    npg_free(x);
    npg_free(w);
}

/* ------------------------------------------------------------------------
 * In-place writes and version counters
 * ------------------------------------------------------------------------ */

Test(autograd, inplace_refused_on_arrays_requiring_grad) {
    npg_scope s = npg_scope_begin();
    npg_array *x = npg_ones(NPG_SHAPE(3), OPT(.requires_grad = true));
    uint64_t v = npg_version(x);
    cr_assert_eq(npg_fill(x, 2.0), NPG_ERR_INPLACE);
    t_assert_error(NPG_ERR_INPLACE, "npg_fill");
    cr_assert_eq(npg_setitem_scalar(x, (npg_idx[]){NPG_I(0)}, 1, 5.0), NPG_ERR_INPLACE);
    cr_assert_eq(npg_assign(x, npg_zeros(NPG_SHAPE(3), OPT())), NPG_ERR_INPLACE);
    cr_assert_eq(npg_sort_inplace(x, 0, false), NPG_ERR_INPLACE);
    npg_array *y = npg_exp(x);
    cr_assert_eq(npg_fill(y, 0.0), NPG_ERR_INPLACE, "non-leaf with a graph");
    cr_assert_eq(npg_version(x), v);
    double want[3] = {1, 1, 1};
    t_assert_close(x, want, 3, 0, 0, "x unchanged");
    /* in no-grad mode the write is allowed and bumps the version */
    npg_no_grad_begin();
    cr_assert_eq(npg_fill(x, 2.0), NPG_OK);
    npg_no_grad_end();
    cr_assert_eq(npg_version(x), v + 1);
    /* a broadcast view cannot be written */
    npg_array *b = npg_broadcast_to(npg_ones(NPG_SHAPE(1), OPT()), NPG_SHAPE(4));
    cr_assert_eq(npg_fill(b, 1.0), NPG_ERR_INPLACE);
    t_assert_error(NPG_ERR_INPLACE, "broadcast");
    npg_scope_end(s);
}

typedef enum {
    W_FILL, W_SETITEM_SCALAR, W_SETITEM_ARRAY, W_VIEW_SLICE, W_BASE_OF_VIEW, W_TRANSPOSE_VIEW, W_RESHAPE_VIEW,
    W_SORT_INPLACE, W_ASSIGN, W_SAVED_OUTPUT, W_DIVISOR, W_MATMUL_OPERAND, W_POW_EXPONENT, W_DIAGONAL_VIEW,
    W_FLIP_VIEW, W_EXPAND_DIMS_VIEW, W_LEAF_NO_GRAD, W_INDEX_ARRAY, W_WHERE_COND, W_MAX_INPUT, W_COUNT
} writer;

static const char *const writer_names[W_COUNT] = {
    "fill", "setitem_scalar", "setitem_array", "view_slice", "base_of_view", "transpose_view", "reshape_view",
    "sort_inplace", "assign", "saved_output", "divisor", "matmul_operand", "pow_exponent", "diagonal_view",
    "flip_view", "expand_dims_view", "leaf_no_grad", "index_array", "where_cond", "max_input",
};

/* Build a graph that saves an array, write into that array in place by the
 * given route, and expect backward to fail naming the op. Returns the op
 * name that must appear. */
static const char *version_case(writer k, npg_array **root) {
    npg_opts o = {.dtype = NPG_FLOAT64, .device = t_dev()};
    npg_array *x = npg_full(NPG_SHAPE(3, 3), 1.5, NPG_OPTS(.dtype = NPG_FLOAT64, .device = t_dev(), .requires_grad = true));
    npg_array *w = npg_full(NPG_SHAPE(3, 3), 2.0, &o);
    npg_idx i00[2] = {NPG_I(0), NPG_I(0)};
    const char *op = "multiply";
    npg_array *y = NULL;
    switch (k) {
    case W_FILL: y = npg_multiply(x, w); npg_fill(w, 0); break;
    case W_SETITEM_SCALAR: y = npg_multiply(x, w); npg_setitem_scalar(w, i00, 2, 9); break;
    case W_SETITEM_ARRAY: y = npg_multiply(x, w); npg_setitem(w, (npg_idx[]){NPG_I(1)}, 1, npg_zeros(NPG_SHAPE(3), &o)); break;
    case W_VIEW_SLICE: {
        y = npg_multiply(x, w);
        npg_array *v = NPG_INDEX(w, NPG_SLICE(1, NPG_NONE, 1));
        npg_fill(v, 0);
        break;
    }
    case W_BASE_OF_VIEW: {
        npg_array *v = NPG_INDEX(w, NPG_SLICE(0, 2, 1));
        y = npg_multiply(NPG_INDEX(x, NPG_SLICE(0, 2, 1)), v);
        npg_setitem_scalar(w, i00, 2, 7);
        break;
    }
    case W_TRANSPOSE_VIEW: y = npg_multiply(x, w); npg_fill(npg_T(w), 3); break;
    case W_RESHAPE_VIEW: y = npg_multiply(x, w); npg_fill(npg_reshape(w, NPG_SHAPE(9)), 3); break;
    case W_SORT_INPLACE: y = npg_multiply(x, w); npg_sort_inplace(w, 1, true); break;
    case W_ASSIGN: y = npg_multiply(x, w); npg_assign(w, npg_ones(NPG_SHAPE(3), &o)); break;
    case W_SAVED_OUTPUT:
        op = "exp";
        y = npg_exp(x);
        npg_no_grad_begin();
        npg_fill(y, 1);
        npg_no_grad_end();
        break;
    case W_DIVISOR: op = "divide"; y = npg_divide(x, w); npg_fill(w, 4); break;
    case W_MATMUL_OPERAND: op = "matmul"; y = npg_matmul(x, w); npg_fill(w, 4); break;
    case W_POW_EXPONENT: op = "pow"; y = npg_pow(x, w); npg_fill(w, 3); break;
    case W_DIAGONAL_VIEW: y = npg_multiply(x, w); npg_fill(npg_diagonal(w, 0, 0, 1), 0); break;
    case W_FLIP_VIEW: y = npg_multiply(x, w); npg_fill(npg_flip(w, NPG_AXES(0)), 0); break;
    case W_EXPAND_DIMS_VIEW: y = npg_multiply(x, w); npg_fill(npg_expand_dims(w, 0), 0); break;
    case W_LEAF_NO_GRAD:
        op = "square";
        y = npg_square(x);
        npg_no_grad_begin();
        npg_setitem_scalar(x, i00, 2, 0);
        npg_no_grad_end();
        break;
    case W_INDEX_ARRAY: {
        op = "take_along_axis";
        int64_t iv[9] = {0, 1, 2, 2, 1, 0, 1, 1, 1};
        npg_array *idx = npg_from_data(iv, NPG_INT64, NPG_SHAPE(3, 3), NPG_OPTS(.device = t_dev()));
        y = npg_take_along_axis(x, idx, 1);
        npg_fill(idx, 0);
        break;
    }
    case W_WHERE_COND: {
        op = "where";
        npg_array *c = npg_greater_scalar(w, 1.0);
        y = npg_where(c, x, w);
        npg_fill(c, 0);
        break;
    }
    case W_MAX_INPUT:
        op = "max";
        y = npg_max(x, NPG_AXES(1), false);
        npg_no_grad_begin();
        npg_fill(x, 5);
        npg_no_grad_end();
        break;
    default: break;
    }
    cr_assert(y, "%s: building the graph failed: %s", writer_names[k], npg_last_error());
    *root = npg_sum(y, NPG_ALL_AXES, false);
    return op;
}

Test(autograd, version_counter_situations) {
    for (int k = 0; k < W_COUNT; k++) {
        npg_scope s = npg_scope_begin();
        npg_clear_error();
        npg_array *root;
        const char *op = version_case((writer)k, &root);
        npg_status st = npg_backward(root, NULL);
        cr_assert_eq(st, NPG_ERR_INPLACE, "case %s: backward returned %d (%s)", writer_names[k], st, npg_last_error());
        cr_assert(strstr(npg_last_error(), op), "case %s: message '%s' does not name '%s'", writer_names[k],
                  npg_last_error(), op);
        cr_assert(strstr(npg_last_error(), "in-place"), "case %s: %s", writer_names[k], npg_last_error());
        npg_scope_end(s);
    }
}

Test(autograd, write_to_unsaved_array_is_fine) {
    npg_scope s = npg_scope_begin();
    npg_array *x = npg_ones(NPG_SHAPE(3), OPT(.dtype = NPG_FLOAT64, .requires_grad = true));
    npg_array *w = npg_ones(NPG_SHAPE(3), OPT(.dtype = NPG_FLOAT64));
    npg_array *y = npg_sum(npg_add(x, w), NPG_ALL_AXES, false); /* add saves nothing */
    npg_fill(w, 10);
    cr_assert_eq(npg_backward(y, NULL), NPG_OK, "%s", npg_last_error());
    double want[3] = {1, 1, 1};
    t_assert_close(npg_grad(x), want, 3, 0, 0, "grad");
    npg_scope_end(s);
}

/* Second order through take (gather -> scatter-add -> gather) and through
 * max pooling's differentiable backward (scatter-add at the argmax). */
Test(autograd, second_order_through_gather_and_max_pool) {
    npg_scope s = npg_scope_begin();
    double xv[4] = {0.5, -1.0, 2.0, 1.5};
    npg_array *x = npg_from_data(xv, NPG_FLOAT64, NPG_SHAPE(4), OPT(.requires_grad = true));
    int64_t iv[5] = {2, 0, 2, 3, 2};
    npg_array *idx = npg_from_data(iv, NPG_INT64, NPG_SHAPE(5), OPT());
    /* y = sum(take(x, idx)^3): dy/dx_j = 3 c_j x_j^2, d2y/dx_j2 = 6 c_j x_j (c_j: times j is taken) */
    npg_array *y = npg_sum(npg_pow_scalar(npg_take(x, idx, 0), 3), NPG_ALL_AXES, false), *g1, *g2;
    cr_assert_eq(npg_grad_of(&y, 1, NULL, &x, 1, &g1, NPG_BACKWARD_OPTS(.create_graph = true)), NPG_OK, "%s",
                 npg_last_error());
    npg_array *s1 = npg_sum(g1, NPG_ALL_AXES, false);
    cr_assert_eq(npg_grad_of(&s1, 1, NULL, &x, 1, &g2, NULL), NPG_OK, "%s", npg_last_error());
    double c[4] = {1, 0, 3, 1}, w1[4], w2[4];
    for (int j = 0; j < 4; j++) {
        w1[j] = 3 * c[j] * xv[j] * xv[j];
        w2[j] = 6 * c[j] * xv[j];
    }
    t_assert_close(g1, w1, 4, 1e-12, 1e-12, "first derivative through take");
    t_assert_close(g2, w2, 4, 1e-12, 1e-12, "second derivative through take");
    /* max pooling: y = sum(maxpool(x)^2), windows of 2x2 over a 2x4 image */
    double pv[8] = {1, 3, -2, 0.5, 2, -1, 4, 1};
    npg_array *p = npg_from_data(pv, NPG_FLOAT64, NPG_SHAPE(1, 1, 2, 4), OPT(.requires_grad = true));
    npg_array *yp = npg_sum(npg_square(npg_max_pool2d(p, NPG_POOL2D_OPTS(.kernel = {2, 2}))), NPG_ALL_AXES, false);
    npg_array *h1, *h2;
    cr_assert_eq(npg_grad_of(&yp, 1, NULL, &p, 1, &h1, NPG_BACKWARD_OPTS(.create_graph = true)), NPG_OK, "%s",
                 npg_last_error());
    npg_array *sh = npg_sum(h1, NPG_ALL_AXES, false);
    cr_assert_eq(npg_grad_of(&sh, 1, NULL, &p, 1, &h2, NULL), NPG_OK, "%s", npg_last_error());
    double wh1[8] = {0, 6, 0, 0, 0, 0, 8, 0}, wh2[8] = {0, 2, 0, 0, 0, 0, 2, 0};
    t_assert_close(h1, wh1, 8, 1e-12, 1e-12, "max_pool2d first derivative");
    t_assert_close(h2, wh2, 8, 1e-12, 1e-12, "max_pool2d second derivative");
    npg_scope_end(s);
}

/* Many leaves in one pass (more than the pass's inline table holds, so its
 * hash index is used), each reached twice, some only through another leaf's
 * path; backward, then the functional form, must give every leaf its own. */
Test(autograd, many_leaves_in_one_pass) {
    t_live live = t_live_now();
    npg_scope s = npg_scope_begin();
    enum { NL = 70 };
    npg_array *x[NL], *res[NL];
    npg_array *y = NULL;
    for (int i = 0; i < NL; i++) {
        x[i] = npg_full(NPG_SHAPE(3), 1.0, OPT(.dtype = NPG_FLOAT64, .requires_grad = true));
        /* x_i * (i + 1) + x_i * x_i: d/dx_i = (i + 1) + 2 x_i = i + 3 */
        npg_array *t = npg_add(npg_multiply_scalar(x[i], i + 1), npg_multiply(x[i], x[i]));
        y = y ? npg_add(y, t) : t;
    }
    y = npg_sum(y, NPG_ALL_AXES, false);
    cr_assert_eq(npg_grad_of(&y, 1, NULL, x, NL, res, NPG_BACKWARD_OPTS(.retain_graph = true)), NPG_OK, "%s",
                 npg_last_error());
    cr_assert_eq(npg_backward(y, NULL), NPG_OK, "%s", npg_last_error());
    for (int i = 0; i < NL; i++) {
        double want[3] = {i + 3, i + 3, i + 3};
        char what[64];
        snprintf(what, sizeof what, "grad_of result %d", i);
        t_assert_close(res[i], want, 3, 0, 0, what);
        snprintf(what, sizeof what, "grad %d", i);
        t_assert_close(npg_grad(x[i]), want, 3, 0, 0, what);
    }
    npg_scope_end(s);
    t_assert_no_leak(live, "many leaves");
}

/* ---- npg_custom ---------------------------------------------------------- */

static int g_ctx_freed;
static void count_free(void *ctx) {
    (void)ctx;
    g_ctx_freed++;
}

/* f(a, b) = a^3 * b (b broadcast over a's rows): da = 3 a^2 b g, db = sum_rows(a^3 g).
 * The forward is computed without a graph; the rule uses npg ops, so it is
 * recorded under create_graph. */
static npg_status cube_mul_backward(void *ctx, npg_array *g, int n, npg_array *const *in, npg_array *out,
                                    npg_array **gin) {
    (void)ctx;
    cr_assert_eq(n, 2);
    npg_array *a = in[0], *b = in[1];
    gin[0] = npg_multiply(npg_multiply_scalar(npg_square(a), 3), npg_multiply(b, g));
    gin[1] = npg_sum(npg_multiply(npg_divide(out, npg_broadcast_to(b, npg_shape_of(out))), g), NPG_AXES(0), false);
    return gin[0] && gin[1] ? NPG_OK : npg_last_status();
}

static npg_array *cube_mul(npg_array *a, npg_array *b, void *ctx, void (*ctx_free)(void *)) {
    npg_no_grad_begin();
    npg_array *y = npg_multiply(npg_multiply(npg_square(a), a), b);
    npg_no_grad_end();
    npg_array *in[2] = {a, b};
    return npg_custom("cube_mul", y, 2, in, cube_mul_backward, ctx, ctx_free);
}

static npg_array *cube_mul_fn(npg_array *const *in, int n, void *user) {
    (void)n;
    (void)user;
    return cube_mul(in[0], in[1], NULL, NULL);
}

Test(autograd, custom_function_values_gradcheck_and_second_order) {
    t_live live = t_live_now();
    npg_scope s = npg_scope_begin();
    double av[6] = {0.5, -1.25, 2, 0.75, -0.3, 1.1}, bv[3] = {1.5, -2, 0.25};
    npg_array *a = npg_from_data(av, NPG_FLOAT64, NPG_SHAPE(2, 3), OPT(.requires_grad = true));
    npg_array *b = npg_from_data(bv, NPG_FLOAT64, NPG_SHAPE(3), OPT(.requires_grad = true));
    g_ctx_freed = 0;
    npg_array *y = cube_mul(a, b, &g_ctx_freed, count_free);
    cr_assert_not_null(y, "%s", npg_last_error());
    cr_assert_str_eq(npg_grad_fn_name(y), "cube_mul");
    double want[6];
    for (int i = 0; i < 6; i++) want[i] = av[i] * av[i] * av[i] * bv[i % 3];
    t_assert_close(y, want, 6, 1e-15, 0, "forward");
    cr_assert_eq(npg_backward(npg_sum(y, NPG_ALL_AXES, false), NULL), NPG_OK, "%s", npg_last_error());
    double ga[6], gb[3] = {0};
    for (int i = 0; i < 6; i++) {
        ga[i] = 3 * av[i] * av[i] * bv[i % 3];
        gb[i % 3] += av[i] * av[i] * av[i];
    }
    t_assert_close(npg_grad(a), ga, 6, 1e-14, 0, "da");
    t_assert_close(npg_grad(b), gb, 3, 1e-14, 0, "db");
    /* central differences through the same rule */
    npg_array *in[2] = {a, b};
    cr_assert_eq(npg_gradcheck(cube_mul_fn, NULL, in, 2, NULL), NPG_OK, "%s", npg_last_error());
    /* second order: d/da sum(da) = 6 a b */
    npg_array *a2 = npg_from_data(av, NPG_FLOAT64, NPG_SHAPE(2, 3), OPT(.requires_grad = true));
    npg_array *y2 = cube_mul(a2, b, NULL, NULL);
    npg_array *d1 = NULL, *d2 = NULL;
    npg_array *sy = npg_sum(y2, NPG_ALL_AXES, false);
    cr_assert_eq(npg_grad_of(&sy, 1, NULL, &a2, 1, &d1, NPG_BACKWARD_OPTS(.create_graph = true)), NPG_OK, "%s",
                 npg_last_error());
    npg_array *sd1 = npg_sum(d1, NPG_ALL_AXES, false);
    cr_assert_eq(npg_grad_of(&sd1, 1, NULL, &a2, 1, &d2, NULL), NPG_OK, "%s", npg_last_error());
    double h[6];
    for (int i = 0; i < 6; i++) h[i] = 6 * av[i] * bv[i % 3];
    t_assert_close(d2, h, 6, 1e-14, 0, "second derivative");
    npg_scope_end(s);
    cr_assert_eq(g_ctx_freed, 1, "ctx freed %d times", g_ctx_freed);
    t_assert_no_leak(live, "custom function");
}

/* A forward written as a host loop on the data itself (the CPU device). */
static npg_status relu6_backward(void *ctx, npg_array *g, int n, npg_array *const *in, npg_array *out,
                                 npg_array **gin) {
    (void)ctx, (void)n, (void)out;
    npg_array *x = in[0];
    npg_array *mask = npg_logical_and(npg_greater_scalar(x, 0), npg_less_scalar(x, 6));
    gin[0] = npg_where(mask, g, npg_zeros_like(g, NULL));
    return gin[0] ? NPG_OK : npg_last_status();
}

Test(autograd, custom_function_with_a_host_kernel) {
    if (t_dev().type != NPG_DEVICE_CPU) cr_skip_test("a host loop on the data: the CPU device");
    t_live live = t_live_now();
    npg_scope s = npg_scope_begin();
    float xv[7] = {-1, 0.5f, 3, 6.5f, 5.9f, -0.1f, 2};
    npg_array *x = npg_from_data(xv, NPG_FLOAT32, NPG_SHAPE(7), OPT(.requires_grad = true));
    npg_array *raw = npg_empty_like(x, NULL);
    const float *px = npg_data(x);
    float *py = npg_data(raw);
    for (int i = 0; i < 7; i++) py[i] = px[i] < 0 ? 0 : px[i] > 6 ? 6 : px[i];
    npg_array *y = npg_custom("relu6", raw, 1, &x, relu6_backward, NULL, NULL);
    cr_assert_not_null(y, "%s", npg_last_error());
    cr_assert_eq(npg_data(y), npg_data(raw), "shares the output's data");
    cr_assert_eq(npg_backward(npg_sum(npg_multiply_scalar(y, 2), NPG_ALL_AXES, false), NULL), NPG_OK, "%s",
                 npg_last_error());
    double want[7] = {0, 2, 2, 0, 2, 0, 2};
    t_assert_close(npg_grad(x), want, 7, 0, 0, "relu6 gradient");
    npg_scope_end(s);
    t_assert_no_leak(live, "host-kernel custom function");
}

/* Rules that misbehave, and the cases where no node is recorded. */
static npg_status bad_shape_backward(void *ctx, npg_array *g, int n, npg_array *const *in, npg_array *out,
                                     npg_array **gin) {
    (void)ctx, (void)n, (void)out, (void)in;
    gin[0] = npg_sum(g, NPG_ALL_AXES, false);
    return NPG_OK;
}
static npg_status silent_error_backward(void *ctx, npg_array *g, int n, npg_array *const *in, npg_array *out,
                                        npg_array **gin) {
    (void)ctx, (void)g, (void)n, (void)in, (void)out, (void)gin;
    return NPG_ERR_UNSUPPORTED;
}
static npg_status f64_backward(void *ctx, npg_array *g, int n, npg_array *const *in, npg_array *out,
                               npg_array **gin) {
    (void)ctx, (void)n, (void)in, (void)out;
    gin[0] = npg_astype(npg_multiply_scalar(g, 3), NPG_FLOAT64); /* the input is float32: converted */
    gin[1] = npg_ones_like(g, NULL);                             /* the input needs no gradient: ignored */
    return NPG_OK;
}

Test(autograd, custom_function_errors_and_no_node_cases) {
    t_live live = t_live_now();
    npg_scope s = npg_scope_begin();
    npg_array *x = npg_ones(NPG_SHAPE(2, 3), OPT(.requires_grad = true));
    npg_array *c = npg_ones(NPG_SHAPE(2, 3), OPT());
    npg_array *in2[2] = {x, c};
    /* a wrongly shaped gradient is the rule's error, naming the function */
    npg_array *y = npg_custom("badshape", npg_multiply_scalar(npg_detach(x), 2), 1, &x, bad_shape_backward, NULL, NULL);
    cr_assert_not_null(y, "%s", npg_last_error());
    cr_assert_eq(npg_backward(npg_sum(y, NPG_ALL_AXES, false), NULL), NPG_ERR_SHAPE);
    t_assert_error(NPG_ERR_SHAPE, "'badshape' gave input 0 a gradient of shape ()");
    cr_assert_null(npg_grad(x), "a failed backward changed .grad");
    npg_clear_error();
    /* a status without a message gets one */
    y = npg_custom("silent", npg_detach(x), 1, &x, silent_error_backward, NULL, NULL);
    cr_assert_eq(npg_backward(npg_sum(y, NPG_ALL_AXES, false), NULL), NPG_ERR_UNSUPPORTED);
    t_assert_error(NPG_ERR_UNSUPPORTED, "custom function 'silent' returned");
    npg_clear_error();
    /* dtype conversion, and gradients for inputs that need none are ignored */
    y = npg_custom("f64", npg_detach(x), 2, in2, f64_backward, NULL, NULL);
    cr_assert_eq(npg_backward(npg_sum(y, NPG_ALL_AXES, false), NULL), NPG_OK, "%s", npg_last_error());
    cr_assert_eq(npg_dtype_of(npg_grad(x)), NPG_FLOAT32);
    double three[6] = {3, 3, 3, 3, 3, 3};
    t_assert_close(npg_grad(x), three, 6, 0, 0, "converted gradient");
    cr_assert_null(npg_grad(c));
    /* an input written in place after the call */
    npg_array *w = npg_ones(NPG_SHAPE(3), OPT(.requires_grad = true));
    npg_array *v = npg_ones(NPG_SHAPE(3), OPT());
    npg_array *in_wv[2] = {w, v};
    y = npg_custom("f64", npg_detach(w), 2, in_wv, f64_backward, NULL, NULL);
    cr_assert_eq(npg_setitem_scalar(v, (const npg_idx[]){NPG_I(0)}, 1, 5.0), NPG_OK, "%s", npg_last_error());
    cr_assert_eq(npg_backward(npg_sum(y, NPG_ALL_AXES, false), NULL), NPG_ERR_INPLACE);
    t_assert_error(NPG_ERR_INPLACE, "input 1 of custom function 'f64'");
    npg_clear_error();
    /* a second backward through a freed graph */
    y = npg_custom("f64", npg_detach(w), 1, &w, bad_shape_backward, NULL, NULL);
    npg_array *sy = npg_sum(npg_custom("f64", npg_detach(w), 2, in_wv, f64_backward, NULL, NULL), NPG_ALL_AXES, false);
    cr_assert_eq(npg_backward(sy, NULL), NPG_OK, "%s", npg_last_error());
    cr_assert_eq(npg_backward(sy, NULL), NPG_ERR_AUTOGRAD);
    npg_clear_error();
    /* no node: grad mode off, no input requiring grad, an integer output; ctx freed at once */
    g_ctx_freed = 0;
    npg_no_grad_begin();
    y = npg_custom("off", npg_detach(x), 1, &x, f64_backward, &g_ctx_freed, count_free);
    npg_no_grad_end();
    cr_assert_not_null(y);
    cr_assert_not(npg_requires_grad(y));
    y = npg_custom("none", npg_ones(NPG_SHAPE(2), OPT()), 1, &c, f64_backward, &g_ctx_freed, count_free);
    cr_assert(y && !npg_requires_grad(y) && npg_grad_fn_name(y) == NULL);
    y = npg_custom("int", npg_ones(NPG_SHAPE(2), OPT(.dtype = NPG_INT32)), 1, &x, f64_backward, &g_ctx_freed,
                   count_free);
    cr_assert(y && !npg_requires_grad(y));
    cr_assert_eq(g_ctx_freed, 3);
    /* argument errors free ctx too */
    g_ctx_freed = 0;
    cr_assert_null(npg_custom(NULL, x, 1, &x, f64_backward, &g_ctx_freed, count_free));
    t_assert_error(NPG_ERR_NULL_ARG, "name");
    npg_clear_error();
    cr_assert_null(npg_custom("f", x, 1, &x, NULL, &g_ctx_freed, count_free));
    t_assert_error(NPG_ERR_NULL_ARG, "backward rule");
    npg_clear_error();
    cr_assert_null(npg_custom("f", x, 1, NULL, f64_backward, &g_ctx_freed, count_free));
    t_assert_error(NPG_ERR_NULL_ARG, "inputs");
    npg_clear_error();
    cr_assert_null(npg_custom("f", x, -1, &x, f64_backward, &g_ctx_freed, count_free));
    t_assert_error(NPG_ERR_INVALID_ARG, "n_inputs is -1");
    npg_clear_error();
    npg_array *with_null[2] = {x, NULL};
    cr_assert_null(npg_custom("f", x, 2, with_null, f64_backward, &g_ctx_freed, count_free));
    cr_assert_eq(npg_last_status(), NPG_ERR_NULL_ARG);
    npg_clear_error();
    cr_assert_null(npg_custom("f", NULL, 1, &x, f64_backward, &g_ctx_freed, count_free));
    cr_assert_eq(npg_last_status(), NPG_ERR_NULL_ARG);
    npg_clear_error();
    cr_assert_eq(g_ctx_freed, 6);
    npg_scope_end(s);
    t_assert_no_leak(live, "custom function errors");
}

/* A gradcheck function that returns NULL without an error (found by
 * test_fuzz.c: npg_gradcheck then failed with an empty message, and with
 * NPG_ERR_INTERNAL when it happened during the numerical pass). */
static npg_array *null_after(npg_array *const *in, int n, void *user) {
    int *calls = user;
    (void)n;
    return (*calls)-- > 0 ? npg_sum(npg_square(in[0]), NPG_ALL_AXES, false) : NULL;
}

Test(autograd, gradcheck_function_returning_null) {
    t_live live = t_live_now();
    npg_array *x = npg_ones(NPG_SHAPE(3), OPT(.dtype = NPG_FLOAT64, .requires_grad = true));
    for (int ok_calls = 0; ok_calls < 3; ok_calls += 2) { /* fails at once / in the numerical pass */
        int calls = ok_calls;
        npg_clear_error();
        cr_assert_eq(npg_gradcheck(null_after, &calls, &x, 1, NULL), NPG_ERR_INVALID_ARG);
        t_assert_error(NPG_ERR_INVALID_ARG, "returned NULL");
    }
    npg_clear_error();
    npg_free(x);
    t_assert_no_leak(live, "gradcheck with a failing function");
}

/* ---- gradient hooks -------------------------------------------------------- */

typedef struct hook_log {
    int calls, freed;
    double scale, add;
    npg_array *seen; /* retained copy of the last gradient seen */
} hook_log;

static npg_status scale_hook(void *ctx, npg_array *g, npg_array **r) {
    hook_log *h = ctx;
    h->calls++;
    npg_free(h->seen);
    h->seen = npg_retain(g);
    *r = npg_add_scalar(npg_multiply_scalar(g, h->scale), h->add);
    return *r ? NPG_OK : npg_last_status();
}
static void hook_log_free(void *ctx) { ((hook_log *)ctx)->freed++; }

static npg_status fail_hook(void *ctx, npg_array *g, npg_array **r) {
    (void)ctx, (void)g, (void)r;
    return NPG_ERR_INVALID_ARG;
}
static npg_status shape_hook(void *ctx, npg_array *g, npg_array **r) {
    (void)ctx;
    *r = npg_sum(g, NPG_ALL_AXES, true);
    return NPG_OK;
}
static npg_status f32_hook(void *ctx, npg_array *g, npg_array **r) {
    (void)ctx;
    *r = npg_astype(npg_multiply_scalar(g, 2), NPG_FLOAT32); /* g is float64: converted back */
    return NPG_OK;
}

Test(autograd, hooks_on_leaves_and_results) {
    t_live live = t_live_now();
    npg_scope s = npg_scope_begin();
    double xv[3] = {1, -2, 3};
    npg_array *x = npg_from_data(xv, NPG_FLOAT64, NPG_SHAPE(3), OPT(.requires_grad = true));
    /* a leaf reached twice: the hook sees the whole gradient once, 2x + 1 */
    hook_log hl = {.scale = 10};
    int id = npg_register_hook(x, scale_hook, &hl, hook_log_free);
    cr_assert_gt(id, 0, "%s", npg_last_error());
    npg_array *y = npg_sum(npg_add(npg_square(x), x), NPG_ALL_AXES, false);
    cr_assert_eq(npg_backward(y, NULL), NPG_OK, "%s", npg_last_error());
    cr_assert_eq(hl.calls, 1);
    double seen[3] = {3, -3, 7}, want[3] = {30, -30, 70};
    t_assert_close(hl.seen, seen, 3, 0, 0, "leaf hook input");
    t_assert_close(npg_grad(x), want, 3, 0, 0, "leaf hook output in .grad");
    /* two hooks run in order: (g * 10) then (g * 1 + 1) */
    hook_log h2 = {.scale = 1, .add = 1};
    int id2 = npg_register_hook(x, scale_hook, &h2, hook_log_free);
    cr_assert_gt(id2, id);
    npg_zero_grad(x);
    cr_assert_eq(npg_backward(npg_sum(x, NPG_ALL_AXES, false), NULL), NPG_OK, "%s", npg_last_error());
    double w2[3] = {11, 11, 11};
    t_assert_close(npg_grad(x), w2, 3, 0, 0, "two hooks in order");
    /* npg_grad_of sees the hooks too, and leaves .grad alone */
    npg_array *d = NULL, *sy = npg_sum(npg_multiply_scalar(x, 2), NPG_ALL_AXES, false);
    cr_assert_eq(npg_grad_of(&sy, 1, NULL, &x, 1, &d, NULL), NPG_OK, "%s", npg_last_error());
    double w3[3] = {21, 21, 21};
    t_assert_close(d, w3, 3, 0, 0, "grad_of through hooks");
    t_assert_close(npg_grad(x), w2, 3, 0, 0, ".grad untouched by grad_of");
    /* removal frees the context; the other hook stays */
    cr_assert_eq(npg_remove_hook(x, id), NPG_OK);
    cr_assert_eq(hl.freed, 1);
    cr_assert_eq(npg_remove_hook(x, id), NPG_ERR_INVALID_ARG);
    npg_clear_error();
    npg_zero_grad(x);
    cr_assert_eq(npg_backward(npg_sum(x, NPG_ALL_AXES, false), NULL), NPG_OK);
    double w4[3] = {2, 2, 2};
    t_assert_close(npg_grad(x), w4, 3, 0, 0, "after removal");
    /* a hook on an op's result: changes what flows on to x */
    npg_zero_grad(x);
    npg_array *h = npg_multiply_scalar(x, 3);
    hook_log hh = {.scale = -1};
    cr_assert_gt(npg_register_hook(h, scale_hook, &hh, hook_log_free), 0, "%s", npg_last_error());
    cr_assert_eq(npg_backward(npg_sum(npg_add(h, h), NPG_ALL_AXES, false), NULL), NPG_OK, "%s", npg_last_error());
    double wh_seen[3] = {2, 2, 2}, wh[3] = {-5, -5, -5}; /* dL/dh = 2, hooked to -2; x's own hook: (-6) + 1 */
    t_assert_close(hh.seen, wh_seen, 3, 0, 0, "result hook input");
    t_assert_close(npg_grad(x), wh, 3, 0, 0, "result hook, then the leaf's hook");
    npg_free(hl.seen);
    npg_free(h2.seen);
    npg_free(hh.seen);
    npg_scope_end(s);
    cr_assert_eq(hh.freed, 1, "the result's hook is freed with its node");
    cr_assert_eq(h2.freed, 1, "the leaf's hook is freed with the leaf");
    t_assert_no_leak(live, "hooks");
}

Test(autograd, hook_errors) {
    t_live live = t_live_now();
    npg_scope s = npg_scope_begin();
    npg_array *x = npg_ones(NPG_SHAPE(2, 2), OPT(.dtype = NPG_FLOAT64, .requires_grad = true));
    int id = npg_register_hook(x, fail_hook, NULL, NULL);
    cr_assert_gt(id, 0);
    cr_assert_eq(npg_backward(npg_sum(x, NPG_ALL_AXES, false), NULL), NPG_ERR_INVALID_ARG);
    t_assert_error(NPG_ERR_INVALID_ARG, "gradient hook");
    cr_assert_null(npg_grad(x), "a failed backward changed .grad");
    npg_clear_error();
    cr_assert_eq(npg_remove_hook(x, id), NPG_OK);
    id = npg_register_hook(x, shape_hook, NULL, NULL);
    cr_assert_eq(npg_backward(npg_sum(x, NPG_ALL_AXES, false), NULL), NPG_ERR_SHAPE);
    t_assert_error(NPG_ERR_SHAPE, "with shape (1,1)");
    npg_clear_error();
    cr_assert_eq(npg_remove_hook(x, id), NPG_OK);
    cr_assert_gt(npg_register_hook(x, f32_hook, NULL, NULL), 0);
    cr_assert_eq(npg_backward(npg_sum(x, NPG_ALL_AXES, false), NULL), NPG_OK, "%s", npg_last_error());
    cr_assert_eq(npg_dtype_of(npg_grad(x)), NPG_FLOAT64);
    double two[4] = {2, 2, 2, 2};
    t_assert_close(npg_grad(x), two, 4, 0, 0, "converted replacement");
    /* registration errors free ctx */
    hook_log hl = {0};
    cr_assert_eq(npg_register_hook(npg_ones(NPG_SHAPE(2), OPT()), scale_hook, &hl, hook_log_free), NPG_ERR_AUTOGRAD);
    t_assert_error(NPG_ERR_AUTOGRAD, "does not require grad");
    npg_clear_error();
    cr_assert_eq(npg_register_hook(x, NULL, &hl, hook_log_free), NPG_ERR_NULL_ARG);
    npg_clear_error();
    cr_assert_eq(npg_register_hook(NULL, scale_hook, &hl, hook_log_free), NPG_ERR_NULL_ARG);
    npg_clear_error();
    cr_assert_eq(hl.freed, 3);
    cr_assert_eq(npg_remove_hook(NULL, 1), NPG_ERR_NULL_ARG);
    npg_clear_error();
    npg_scope_end(s);
    t_assert_no_leak(live, "hook errors");
}

/* ---- npg_checkpoint ---------------------------------------------------------- */

/* relu(x @ w) with dropout, then a sum over the last axis: random draws inside */
static npg_array *block_fn(npg_array *const *in, int n, void *u) {
    (void)n, (void)u;
    npg_array *h = npg_relu(npg_matmul(in[0], in[1]));
    return npg_sum(npg_dropout(h, 0.3, true, NULL), NPG_AXES(-1), false);
}

static int g_calls;
static npg_array *shape_changing_fn(npg_array *const *in, int n, void *u) {
    (void)n, (void)u;
    return g_calls++ == 0 ? npg_multiply_scalar(in[0], 2) : npg_sum(in[0], NPG_ALL_AXES, false);
}

Test(autograd, checkpoint_matches_the_direct_graph) {
    t_live live = t_live_now();
    npg_scope s = npg_scope_begin();
    npg_array *x = npg_randn(NPG_SHAPE(6, 5), OPT(.dtype = NPG_FLOAT64, .requires_grad = true));
    npg_array *w = npg_randn(NPG_SHAPE(5, 7), OPT(.dtype = NPG_FLOAT64, .requires_grad = true));
    npg_array *c = npg_ones(NPG_SHAPE(6, 7), OPT(.dtype = NPG_FLOAT64)); /* an input needing no gradient */
    npg_array *in[3] = {x, w, c};
    /* direct */
    npg_seed(77);
    npg_array *yd = block_fn(in, 3, NULL);
    cr_assert_eq(npg_backward(npg_sum(npg_square(yd), NPG_ALL_AXES, false), NULL), NPG_OK, "%s", npg_last_error());
    double *gx = t_read(npg_grad(x)), *gw = t_read(npg_grad(w)), *vd = t_read(yd);
    npg_zero_grad(x);
    npg_zero_grad(w);
    /* checkpointed: same values, one node, and the same gradients (the
     * recompute replays the dropout mask; other draws in between must not matter) */
    npg_seed(77);
    npg_array *yc = npg_checkpoint(block_fn, NULL, in, 3);
    cr_assert_not_null(yc, "%s", npg_last_error());
    cr_assert_str_eq(npg_grad_fn_name(yc), "npg_checkpoint");
    t_assert_close(yc, vd, 6, 0, 0, "checkpoint forward");
    npg_rand(NPG_SHAPE(100), NULL); /* advances the global generator */
    cr_assert_eq(npg_backward(npg_sum(npg_square(yc), NPG_ALL_AXES, false), NULL), NPG_OK, "%s", npg_last_error());
    t_assert_close(npg_grad(x), gx, 30, 1e-12, 1e-12, "checkpoint dx");
    t_assert_close(npg_grad(w), gw, 35, 1e-12, 1e-12, "checkpoint dw");
    free(gx), free(gw), free(vd);
    /* no input requiring grad: plain fn; grad mode off too */
    npg_array *cin[2] = {npg_detach(x), npg_detach(w)};
    npg_array *yp = npg_checkpoint(block_fn, NULL, cin, 2);
    cr_assert(yp && !npg_requires_grad(yp));
    /* create_graph through it, a function that changes shape, argument errors */
    npg_array *y2 = npg_checkpoint(block_fn, NULL, in, 3);
    npg_array *sy = npg_sum(y2, NPG_ALL_AXES, false), *dd = NULL;
    cr_assert_eq(npg_grad_of(&sy, 1, NULL, &x, 1, &dd, NPG_BACKWARD_OPTS(.create_graph = true)), NPG_ERR_UNSUPPORTED);
    t_assert_error(NPG_ERR_UNSUPPORTED, "create_graph through npg_checkpoint");
    npg_clear_error();
    g_calls = 0;
    npg_array *y3 = npg_checkpoint(shape_changing_fn, NULL, &x, 1);
    cr_assert_eq(npg_backward(npg_sum(y3, NPG_ALL_AXES, false), NULL), NPG_ERR_SHAPE);
    t_assert_error(NPG_ERR_SHAPE, "different shape");
    npg_clear_error();
    cr_assert_null(npg_checkpoint(NULL, NULL, in, 3));
    cr_assert_eq(npg_last_status(), NPG_ERR_NULL_ARG);
    npg_clear_error();
    cr_assert_null(npg_checkpoint(block_fn, NULL, in, -1));
    cr_assert_eq(npg_last_status(), NPG_ERR_INVALID_ARG);
    npg_clear_error();
    npg_scope_end(s);
    t_assert_no_leak(live, "checkpoint");
}

/* A NULL operand carries the error that produced it: npg_grad_of reports it
 * before anything else about the call. */
Test(autograd, grad_of_null_operand_keeps_the_pending_error) {
    npg_scope s = npg_scope_begin();
    npg_array *x = npg_ones(NPG_SHAPE(2), OPT(.requires_grad = true));
    npg_array *y = npg_sum(x, NPG_ALL_AXES, false);
    npg_array *bad = npg_reshape(x, NPG_SHAPE(3)); /* NULL, NPG_ERR_SHAPE pending */
    cr_assert_null(bad);
    npg_array *r[2];
    npg_array *outs[2] = {y, bad}, *ins[2] = {x, bad};
    cr_assert_eq(npg_grad_of(outs, 2, NULL, &x, 1, r, NULL), NPG_ERR_SHAPE);
    cr_assert_eq(npg_grad_of(&y, 1, NULL, ins, 2, r, NULL), NPG_ERR_SHAPE);
    cr_assert_eq(npg_grad_of(&y, 0, NULL, ins, 2, r, NULL), NPG_ERR_SHAPE); /* not "need at least one output" */
    npg_array *ni = npg_ones(NPG_SHAPE(2), OPT()); /* does not require grad */
    npg_array *ins2[2] = {ni, bad};
    cr_assert_eq(npg_grad_of(&y, 1, NULL, ins2, 2, r, NULL), NPG_ERR_SHAPE);
    cr_assert(r[0] == NULL && r[1] == NULL);
    npg_clear_error();
    npg_scope_end(s);
}

/* Found by tests/common/test_fuzz2.c: a checkpointed function that returns
 * NULL without setting an error gave NULL with no error (forward) and an
 * internal error (the recompute in backward). */
static int g_null_calls;
static npg_array *null_fn(npg_array *const *in, int n, void *u) {
    (void)n;
    return u && g_null_calls++ == 0 ? npg_multiply(in[0], in[0]) : NULL;
}

Test(autograd, checkpoint_function_returning_null_without_an_error) {
    t_live live = t_live_now();
    npg_scope s = npg_scope_begin();
    npg_array *x = npg_ones(NPG_SHAPE(3), OPT(.requires_grad = true)), *xd = npg_detach(x);
    for (int rg = 0; rg < 2; rg++) { /* recorded, and plain (no input requires grad) */
        npg_clear_error();
        cr_assert_null(npg_checkpoint(null_fn, NULL, rg ? &x : &xd, 1));
        t_assert_error(NPG_ERR_INVALID_ARG, "returned NULL");
    }
    npg_clear_error();
    g_null_calls = 0;
    npg_array *y = npg_checkpoint(null_fn, "once", &x, 1);
    cr_assert_not_null(y, "%s", npg_last_error());
    cr_assert_eq(npg_backward(npg_sum(y, NPG_ALL_AXES, false), NULL), NPG_ERR_INVALID_ARG);
    t_assert_error(NPG_ERR_INVALID_ARG, "returned NULL");
    cr_assert_null(npg_grad(x), "a failed backward set .grad");
    npg_clear_error();
    npg_scope_end(s);
    t_assert_no_leak(live, "checkpoint returning NULL");
}

/* ---- gradients of views meet in one buffer ------------------------------- */

/* The engine adds the gradient of a view (slice, diagonal) into the part of
 * its input's gradient it views, and adds gradients into a buffer it alone
 * holds in place. Overlapping slices, strided slices, a diagonal, a view of
 * an intermediate and the whole array all reach x. */
Test(autograd, gradients_of_overlapping_views_sum) {
    t_live live = t_live_now();
    for (int f = 0; f < 2; f++) {
        npg_dtype dt = f ? NPG_FLOAT32 : NPG_FLOAT64;
        npg_scope s = npg_scope_begin();
        enum { R = 4, C = 6 };
        double xv[R * C], want[R * C];
        for (int i = 0; i < R * C; i++) xv[i] = 0.25 * i - 2;
        npg_array *x = npg_astype(npg_from_data(xv, NPG_FLOAT64, NPG_SHAPE(R, C), OPT()), dt);
        cr_assert_eq(npg_set_requires_grad(x, true), NPG_OK);
        npg_array *z = npg_multiply_scalar(x, 1.5); /* a node whose views meet too */
        npg_array *parts[6] = {
            NPG_INDEX(x, NPG_ALL, NPG_SLICE(0, 3, 1)),
            NPG_INDEX(x, NPG_ALL, NPG_SLICE(2, 6, 1)),
            NPG_INDEX(x, NPG_SLICE(1, 4, 2), NPG_SLICE(NPG_NONE, NPG_NONE, 2)),
            npg_diagonal(x, 1, 0, 1),
            NPG_INDEX(z, NPG_SLICE(NPG_NONE, NPG_NONE, -1), NPG_SLICE(1, 5, 1)),
            x,
        };
        npg_array *loss = npg_zeros(NPG_SHAPE0, OPT(.dtype = dt));
        for (int k = 0; k < 6; k++) {
            cr_assert_not_null(parts[k], "%s", npg_last_error());
            /* weight k + 1 + position: every element's share differs */
            npg_array *w = npg_add_scalar(npg_arange(0, (double)npg_size(parts[k]), 1, OPT(.dtype = dt)), k + 1);
            w = npg_reshape(w, npg_shape_of(parts[k]));
            loss = npg_add(loss, npg_sum(npg_multiply(parts[k], w), NPG_ALL_AXES, false));
        }
        cr_assert_eq(npg_backward(loss, NULL), NPG_OK, "%s", npg_last_error());
        for (int i = 0; i < R * C; i++) want[i] = 0;
        for (int i = 0; i < R; i++)
            for (int j = 0; j < 3; j++) want[i * C + j] += 1 + (i * 3 + j);
        for (int i = 0; i < R; i++)
            for (int j = 2; j < 6; j++) want[i * C + j] += 2 + (i * 4 + (j - 2));
        for (int a = 0, i = 1; i < 4; i += 2, a++)
            for (int b = 0, j = 0; j < C; j += 2, b++) want[i * C + j] += 3 + (a * 3 + b);
        for (int d = 0; d + 1 < C && d < R; d++) want[d * C + d + 1] += 4 + d;
        for (int a = 0; a < R; a++)
            for (int b = 0; b < 4; b++) want[(R - 1 - a) * C + 1 + b] += 1.5 * (5 + (a * 4 + b));
        for (int i = 0; i < R * C; i++) want[i] += 6 + i;
        t_assert_close(npg_grad(x), want, R * C, 0, 0, "views' gradients");
        npg_scope_end(s);
    }
    t_assert_no_leak(live, "views' gradients");
}

typedef struct keep_log {
    npg_array *kept; /* the gradient the hook saw, retained */
    double *at_hook; /* its values when the hook ran */
} keep_log;
static npg_status keep_hook(void *ctx, npg_array *g, npg_array **r) {
    keep_log *k = ctx;
    (void)r;
    npg_free(k->kept);
    free(k->at_hook);
    k->kept = npg_retain(g);
    k->at_hook = t_read(g);
    return NPG_OK;
}

/* Gradients held outside the engine (by a hook, or passed by the caller)
 * flow on unchanged into slots that later receive more: adding in place
 * must never write into them. Both orders in which the two consumers run. */
Test(autograd, gradients_held_outside_are_never_written) {
    t_live live = t_live_now();
    for (int order = 0; order < 2; order++) {
        npg_scope s = npg_scope_begin();
        double xv[8] = {1, -2, 3, 0.5, 4, -1, 2, 7}, wv[3] = {2, -3, 5};
        npg_array *x = npg_from_data(xv, NPG_FLOAT64, NPG_SHAPE(8), OPT(.requires_grad = true));
        npg_array *w = npg_from_data(wv, NPG_FLOAT64, NPG_SHAPE(3), OPT());
        npg_array *y = NPG_INDEX(x, NPG_SLICE(2, 5, 1));
        npg_array *c1 = npg_add_scalar(y, 1), *c2 = npg_multiply_scalar(y, 5);
        keep_log kl = {0};
        cr_assert_gt(npg_register_hook(c1, keep_hook, &kl, NULL), 0, "%s", npg_last_error());
        npg_array *l1 = npg_sum(npg_multiply(c1, w), NPG_ALL_AXES, false), *l2 = npg_sum(c2, NPG_ALL_AXES, false);
        npg_array *loss = order ? npg_add(l1, l2) : npg_add(l2, l1);
        cr_assert_eq(npg_backward(loss, NULL), NPG_OK, "%s", npg_last_error());
        cr_assert_not_null(kl.kept);
        t_assert_close(kl.kept, wv, 3, 0, 0, "the hook's gradient after backward");
        t_assert_close_buf(kl.at_hook, wv, 3, 0, 0, "the hook's gradient when it ran");
        double want[8] = {0, 0, 7, 2, 10, 0, 0, 0};
        t_assert_close(npg_grad(x), want, 8, 0, 0, "grad x");

        /* a caller's gradient for a non-scalar result made of two views */
        npg_zero_grad(x);
        double gv[3] = {1, 10, 100};
        npg_array *G = npg_from_data(gv, NPG_FLOAT64, NPG_SHAPE(3), OPT());
        npg_array *r = order ? npg_add(NPG_INDEX(x, NPG_SLICE(0, 3, 1)), NPG_INDEX(x, NPG_SLICE(1, 4, 1)))
                             : npg_add(NPG_INDEX(x, NPG_SLICE(1, 4, 1)), NPG_INDEX(x, NPG_SLICE(0, 3, 1)));
        cr_assert_eq(npg_backward(r, G), NPG_OK, "%s", npg_last_error());
        t_assert_close(G, gv, 3, 0, 0, "the caller's gradient");
        double want2[8] = {1, 11, 110, 100, 0, 0, 0, 0};
        t_assert_close(npg_grad(x), want2, 8, 0, 0, "grad x from two views");
        /* twice through a retained graph: the same again, added to .grad */
        npg_array *r2 = npg_add(NPG_INDEX(x, NPG_SLICE(0, 3, 1)), NPG_INDEX(x, NPG_SLICE(1, 4, 1)));
        npg_backward_opts o = {.retain_graph = true};
        cr_assert_eq(npg_backward_ex(r2, G, &o), NPG_OK, "%s", npg_last_error());
        cr_assert_eq(npg_backward_ex(r2, G, &o), NPG_OK, "%s", npg_last_error());
        double want3[8] = {3, 33, 330, 300, 0, 0, 0, 0};
        t_assert_close(npg_grad(x), want3, 8, 0, 0, "retained graph, twice");
        t_assert_close(G, gv, 3, 0, 0, "the caller's gradient, reused");
        npg_free(kl.kept);
        free(kl.at_hook);
        npg_scope_end(s);
    }
    t_assert_no_leak(live, "gradients held outside");
}
