/*
 * custom.c — npg_custom: user-defined differentiable functions (npg.h,
 * Autograd). The node's extra holds the caller's rule and context and the
 * inputs as they were at the call (with their storage versions); the output
 * is saved in the node's output slot, so npg__unpack re-attaches it under
 * create_graph as it does for the built-in rules.
 */
#include "internal.h"

typedef struct custom_fn {
    char *name;
    npg_custom_backward backward;
    void *ctx;
    void (*ctx_free)(void *ctx);
    int n;
    npg_saved *in; /* n */
} custom_fn;

static void custom_release(void *p) {
    custom_fn *c = p;
    for (int i = 0; i < c->n; i++) {
        if (c->in[i].arr) npg__release(c->in[i].arr);
        c->in[i].arr = NULL;
    }
}

static void custom_free(void *p) {
    custom_fn *c = p;
    if (!c) return;
    custom_release(c);
    if (c->ctx_free) c->ctx_free(c->ctx);
    free(c->in);
    free(c->name);
    free(c);
}

npg_array *npg_custom(const char *name, npg_array *output, int n_inputs, npg_array *const *inputs,
                      npg_custom_backward backward, void *ctx, void (*ctx_free)(void *ctx)) {
    const char *fn = "npg_custom";
    npg_array *y = NULL;
    custom_fn *c = NULL;
    if (!name || !backward || (n_inputs > 0 && !inputs)) {
        npg__set_error(NPG_ERR_NULL_ARG, "%s: %s is NULL", fn,
                       !name ? "name" : !backward ? "the backward rule" : "the inputs array");
        goto fail;
    }
    if (n_inputs < 0) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s('%s'): n_inputs is %d", fn, name, n_inputs);
        goto fail;
    }
    if (!output) {
        npg__null_arg(fn);
        goto fail;
    }
    for (int i = 0; i < n_inputs; i++) {
        if (!inputs[i]) {
            npg__null_arg(fn);
            goto fail;
        }
    }
    y = npg__view_raw(output, output->ndim, output->shape, output->strides, output->offset);
    if (!y) goto fail;
    if (!npg_is_floating(output->dtype) || !npg__needs_grad(n_inputs, inputs)) {
        if (ctx_free) ctx_free(ctx);
        return y;
    }
    c = calloc(1, sizeof *c);
    if (c) {
        size_t len = strlen(name) + 1;
        if ((c->name = malloc(len))) memcpy(c->name, name, len);
        c->in = calloc((size_t)(n_inputs ? n_inputs : 1), sizeof *c->in);
    }
    if (!c || !c->name || !c->in) {
        npg__set_error(NPG_ERR_OOM, "%s('%s'): out of memory recording the graph", fn, name);
        goto fail;
    }
    c->backward = backward;
    c->ctx = ctx;
    c->ctx_free = ctx_free;
    c->n = n_inputs;
    for (int i = 0; i < n_inputs; i++) {
        c->in[i].arr = npg_retain(inputs[i]);
        c->in[i].version = inputs[i]->storage->version;
    }
    npg_node *node = npg__record(NPG_OP_CUSTOM, y, n_inputs, inputs);
    if (!node) {
        c->ctx_free = NULL; /* called once, below */
        custom_free(c);
        c = NULL;
        goto fail;
    }
    node->name = c->name;
    node->extra = c;
    node->extra_free = custom_free;
    node->extra_release = custom_release;
    if (!npg__save(node, NPG_SAVE_OUT, y, true)) {
        npg__set_error(NPG_ERR_OOM, "%s('%s'): out of memory recording the graph", fn, name);
        npg_free(y); /* frees the node, which frees c and calls ctx_free */
        return NULL;
    }
    return y;

fail:
    npg_free(y);
    if (ctx_free) ctx_free(ctx);
    return NULL;
}

npg_status npg__bw_custom(npg_node *n, npg_array *g, npg_array **gin) {
    custom_fn *c = n->extra;
    const char *fn = "npg_backward";
    npg_array *out = npg__unpack(n, NPG_SAVE_OUT);
    if (!out) return npg_last_status();
    npg_array *one_in[8], *one_g[8];
    npg_array **ins = c->n <= 8 ? one_in : calloc((size_t)c->n, sizeof *ins);
    npg_array **gs = c->n <= 8 ? one_g : calloc((size_t)c->n, sizeof *gs);
    npg_status st = NPG_OK;
    if (!ins || !gs) {
        st = npg__set_error(NPG_ERR_OOM, "%s: out of memory in custom function '%s'", fn, c->name);
        goto done;
    }
    for (int i = 0; i < c->n; i++) {
        npg_saved *s = &c->in[i];
        gs[i] = NULL;
        ins[i] = s->arr;
        if (!s->arr) {
            st = npg__set_error(NPG_ERR_AUTOGRAD,
                                "%s: the graph through '%s' was already freed by an earlier backward (pass "
                                "retain_graph to backward through it again)",
                                fn, c->name);
            goto done;
        }
        if (s->arr->storage->version != s->version) {
            st = npg__set_error(NPG_ERR_INPLACE,
                                "%s: input %d of custom function '%s' was modified by an in-place operation (its "
                                "version is %llu, expected %llu)",
                                fn, i, c->name, (unsigned long long)s->arr->storage->version,
                                (unsigned long long)s->version);
            goto done;
        }
    }
    npg_clear_error();
    st = c->backward(c->ctx, g, c->n, ins, out, gs);
    if (st != NPG_OK) {
        if (npg_last_status() == NPG_OK)
            npg__set_error(st, "%s: the backward rule of custom function '%s' returned %s", fn, c->name,
                           npg_status_string(st));
        st = npg_last_status();
        goto done;
    }
    for (int i = 0; i < c->n; i++) {
        npg_array *gi = gs[i];
        const npg_meta *m = &n->in_meta[i];
        if (!gi || (!n->edges[i].node && !n->edges[i].acc)) continue; /* none, or not needed */
        if (gi->ndim != m->ndim || memcmp(gi->shape, m->shape, sizeof(int64_t) * (size_t)m->ndim) != 0) {
            char sa[NPG_SHAPE_BUF], sb[NPG_SHAPE_BUF];
            st = npg__set_error(NPG_ERR_SHAPE,
                                "%s: the backward rule of custom function '%s' gave input %d a gradient of shape %s "
                                "(the input's shape is %s)",
                                fn, c->name, i, npg__shape_str(sa, sizeof sa, gi->ndim, gi->shape),
                                npg__shape_str(sb, sizeof sb, m->ndim, m->shape));
            goto done;
        }
        npg_device gd = npg__device_of(gi);
        if (gd.type != m->device.type || gd.index != m->device.index) {
            st = npg__set_error(NPG_ERR_DEVICE,
                                "%s: the backward rule of custom function '%s' gave input %d a gradient on another "
                                "device than the input",
                                fn, c->name, i);
            goto done;
        }
        if (gi->dtype != m->dtype && !(gi = npg_astype(gi, m->dtype))) {
            st = npg_last_status();
            goto done;
        }
        gin[i] = gi;
    }
done:
    if (ins != one_in) free(ins);
    if (gs != one_g) free(gs);
    return st;
}

/* ------------------------------------------------------------------------
 * npg_checkpoint: a custom function whose rule runs the forward again
 * ------------------------------------------------------------------------ */

/* fn(inputs, n, user), with an error when it returns NULL without one (as in
 * npg_gradcheck). */
static npg_array *ckpt_run(const char *who, npg_fn fn, npg_array *const *inputs, int n, void *user) {
    npg_array *y = fn(inputs, n, user);
    if (!y && npg_last_status() == NPG_OK)
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: npg_checkpoint's function returned NULL without an error", who);
    return y;
}

typedef struct ckpt {
    npg_fn fn;
    void *user;
    npg_rng_tape tape; /* the forward's random draws, replayed by the recompute */
} ckpt;

static void ckpt_free(void *p) {
    ckpt *c = p;
    free(c->tape.e);
    free(c);
}

static npg_status ckpt_backward(void *ctx, npg_array *g, int n, npg_array *const *inputs, npg_array *output,
                                npg_array **gin) {
    (void)output;
    ckpt *c = ctx;
    const char *fn = "npg_backward";
    if (npg_is_grad_enabled())
        return npg__set_error(NPG_ERR_UNSUPPORTED,
                              "%s: create_graph through npg_checkpoint is not supported (its gradient is not "
                              "differentiable again)",
                              fn);
    /* d: fresh leaves over the inputs' data (the recompute's graph ends
     * there); in: those that require grad; r: their gradients */
    npg_array **d = calloc((size_t)(3 * n + 1), sizeof *d), **in = d + n, **r = in + n;
    if (!d) return npg__set_error(NPG_ERR_OOM, "%s: out of host memory in npg_checkpoint", fn);
    npg_status st = NPG_OK;
    for (int i = 0; i < n; i++) {
        d[i] = npg_detach(inputs[i]);
        if (!d[i]) {
            st = npg_last_status();
            break;
        }
        if (inputs[i]->requires_grad) d[i]->requires_grad = true;
    }
    npg_array *y = NULL;
    if (st == NPG_OK) {
        int depth = npg__no_grad_depth_set(0);
        c->tape.replay = true;
        c->tape.pos = 0;
        npg_rng_tape *prev = npg__rng_tape_set(&c->tape);
        y = ckpt_run(fn, c->fn, d, n, c->user);
        npg__rng_tape_set(prev);
        npg__no_grad_depth_set(depth);
        if (!y) st = npg_last_status();
    }
    if (st == NPG_OK && (y->ndim != g->ndim || memcmp(y->shape, g->shape, sizeof(int64_t) * (size_t)g->ndim) != 0))
        st = npg__set_error(NPG_ERR_SHAPE, "%s: npg_checkpoint's function gave a different shape when run again", fn);
    if (st == NPG_OK && y->requires_grad) {
        /* only the inputs that require grad: the others get no gradient */
        int m = 0;
        for (int i = 0; i < n; i++)
            if (d[i]->requires_grad) in[m++] = d[i];
        if (m > 0) st = npg_grad_of(&y, 1, &g, in, m, r, NULL);
        for (int i = 0, k = 0; st == NPG_OK && i < n; i++)
            if (d[i]->requires_grad) gin[i] = r[k++];
    }
    free(d);
    return st;
}

npg_array *npg_checkpoint(npg_fn fn, void *user, npg_array *const *inputs, int n) {
    const char *name = "npg_checkpoint";
    if (!fn || (n > 0 && !inputs)) {
        npg__set_error(NPG_ERR_NULL_ARG, "%s: %s is NULL", name, !fn ? "fn" : "inputs");
        return NULL;
    }
    if (n < 0) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: n is %d", name, n);
        return NULL;
    }
    for (int i = 0; i < n; i++)
        if (!inputs[i]) {
            npg__null_arg(name);
            return NULL;
        }
    if (!npg__needs_grad(n, inputs)) return ckpt_run(name, fn, inputs, n, user); /* nothing to save memory for */
    ckpt *c = calloc(1, sizeof *c);
    if (!c) {
        npg__set_error(NPG_ERR_OOM, "%s: out of host memory", name);
        return NULL;
    }
    c->fn = fn;
    c->user = user;
    npg_scope s = npg_scope_begin();
    npg_no_grad_begin();
    npg_rng_tape *prev = npg__rng_tape_set(&c->tape);
    npg_array *y = ckpt_run(name, fn, inputs, n, user);
    npg__rng_tape_set(prev);
    npg_no_grad_end();
    npg_array *r = NULL;
    if (y && c->tape.failed) {
        npg__set_error(NPG_ERR_OOM, "%s: out of host memory recording the random draws", name);
    } else if (y) {
        r = npg_custom(name, y, n, inputs, ckpt_backward, c, ckpt_free);
        c = NULL; /* npg_custom owns it now, and freed it if it failed */
    }
    if (c) ckpt_free(c);
    npg_keep(r);
    npg_scope_end(s);
    return r;
}
