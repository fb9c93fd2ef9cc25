/*
 * gradcheck.c — npg_gradcheck: analytical gradients against central
 * differences. The output is projected on a fixed random vector v, so one
 * backward gives v^T J, compared element by element with
 * (v.f(x + eps e_i) - v.f(x - eps e_i)) / 2 eps. Float32 inputs are
 * promoted to float64 copies unless keep_dtype is set.
 */
#include "internal.h"

#include <math.h>

typedef struct gc_ctx {
    npg_fn fn;
    void *user;
    npg_array **xs;
    int n;
} gc_ctx;

/* v . f(xs) on the host, evaluated without recording a graph. */
static bool project(gc_ctx *c, npg_array *v, double *out) {
    npg_scope s = npg_scope_begin();
    npg_no_grad_begin();
    npg_array *y = c->fn(c->xs, c->n, c->user);
    bool ok = false;
    if (y) {
        npg_array *yf = npg_astype(y, NPG_FLOAT64);
        npg_array *d = npg_sum(npg_multiply(yf, v), NPG_ALL_AXES, false);
        if (d) {
            *out = npg_item(d);
            ok = true;
        }
    }
    npg_no_grad_end();
    npg_scope_end(s);
    return ok;
}

static void unravel(int64_t flat, int ndim, const int64_t *shape, npg_idx *idx) {
    for (int d = ndim - 1; d >= 0; d--) {
        int64_t len = shape[d] > 0 ? shape[d] : 1;
        idx[d] = NPG_I(flat % len);
        flat /= len;
    }
}

npg_status npg_gradcheck(npg_fn fn, void *user, npg_array *const *inputs, int n, const npg_gradcheck_opts *opts) {
    const char *fname = "npg_gradcheck";
    if (!fn || !inputs || n <= 0) {
        if (!fn || !inputs) {
            npg__null_arg(fname);
            return npg_last_status();
        }
        return npg__set_error(NPG_ERR_INVALID_ARG, "%s: need at least one input", fname);
    }
    for (int i = 0; i < n; i++)
        if (!inputs[i]) {
            npg__null_arg(fname);
            return npg_last_status();
        }
    bool keep = opts && opts->keep_dtype;
    bool f32 = false;
    for (int i = 0; i < n; i++)
        if (inputs[i]->dtype == NPG_FLOAT32) f32 = true;
    bool low = keep && f32;
    double eps = (opts && opts->eps > 0) ? opts->eps : (low ? 1e-3 : 1e-6);
    double atol = (opts && opts->atol > 0) ? opts->atol : (low ? 1e-2 : 1e-5);
    double rtol = (opts && opts->rtol > 0) ? opts->rtol : (low ? 1e-2 : 1e-3);

    npg_status st = NPG_OK;
    npg_scope scope = npg_scope_begin();
    npg_array *xs[64];
    if (n > 64) {
        st = npg__set_error(NPG_ERR_INVALID_ARG, "%s: at most 64 inputs", fname);
        goto done;
    }
    /* leaf copies (float64 unless keep_dtype) that require grad as the originals do */
    npg_no_grad_begin();
    for (int i = 0; i < n; i++) {
        npg_array *x = inputs[i];
        npg_dtype dt = (!keep && npg_is_floating(x->dtype)) ? NPG_FLOAT64 : x->dtype;
        xs[i] = npg_astype(x, dt);
        if (!xs[i]) {
            npg_no_grad_end();
            st = npg_last_status();
            goto done;
        }
        if (x->requires_grad) npg_set_requires_grad(xs[i], true);
    }
    npg_no_grad_end();
    gc_ctx c = {fn, user, xs, n};

    /* analytical: d(v . f)/dx */
    npg_array *y = fn(xs, n, user);
    if (!y) {
        st = npg_last_status() ? npg_last_status()
                               : npg__set_error(NPG_ERR_INVALID_ARG, "%s: the function returned NULL", fname);
        goto done;
    }
    if (!npg_is_floating(y->dtype)) {
        st = npg__set_error(NPG_ERR_DTYPE, "%s: the function's output has dtype %s (floating required)", fname,
                            npg_dtype_name(y->dtype));
        goto done;
    }
    int64_t ny = npg__numel(y->ndim, y->shape);
    double *vh = malloc(sizeof(double) * (size_t)(ny > 0 ? ny : 1));
    if (!vh) {
        st = npg__set_error(NPG_ERR_OOM, "%s: out of memory", fname);
        goto done;
    }
    uint64_t s = 0x9E3779B97F4A7C15ull;
    for (int64_t k = 0; k < ny; k++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        double u = (double)(s >> 11) * (1.0 / 9007199254740992.0);
        vh[k] = (0.5 + u) * ((s & 1) ? 1.0 : -1.0);
    }
    npg_array *v = npg_from_data(vh, NPG_FLOAT64, npg_shape_of(y), NPG_OPTS(.device = npg__device_of(y)));
    free(vh);
    npg_array *proj = npg_sum(npg_multiply(npg_astype(y, NPG_FLOAT64), v), NPG_ALL_AXES, false);
    if (!proj) {
        st = npg_last_status();
        goto done;
    }
    npg_array *want[64] = {0}, *grads[64] = {0};
    int nw = 0;
    for (int i = 0; i < n; i++)
        if (xs[i]->requires_grad) want[nw++] = xs[i];
    if (nw == 0) {
        st = npg__set_error(NPG_ERR_INVALID_ARG, "%s: no input requires grad", fname);
        goto done;
    }
    if (!proj->requires_grad) {
        /* the output does not depend on any input: all gradients are zero */
        for (int k = 0; k < nw; k++) grads[k] = npg_zeros_like(want[k], NULL);
    } else {
        st = npg_grad_of(&proj, 1, NULL, want, nw, grads, NULL);
        if (st != NPG_OK) goto done;
    }

    /* numerical, one element at a time */
    for (int i = 0, w = 0; i < n; i++) {
        npg_array *x = xs[i];
        if (!x->requires_grad) continue;
        npg_array *g = grads[w++];
        int64_t nx = npg__numel(x->ndim, x->shape);
        double *ga = malloc(sizeof(double) * (size_t)(nx > 0 ? nx : 1));
        double *xh = malloc(sizeof(double) * (size_t)(nx > 0 ? nx : 1));
        npg_array *gf = npg_astype(g, NPG_FLOAT64), *xf = npg_astype(x, NPG_FLOAT64);
        if (!ga || !xh || !gf || !xf || npg_copy_to_host(gf, ga, sizeof(double) * (size_t)nx) != NPG_OK ||
            npg_copy_to_host(xf, xh, sizeof(double) * (size_t)nx) != NPG_OK) {
            free(ga);
            free(xh);
            st = npg_last_status() ? npg_last_status() : npg__set_error(NPG_ERR_OOM, "%s: out of memory", fname);
            goto done;
        }
        for (int64_t k = 0; k < nx && st == NPG_OK; k++) {
            npg_idx idx[NPG_MAX_DIMS];
            unravel(k, x->ndim, x->shape, idx);
            double fp, fm, orig = xh[k];
            npg_no_grad_begin();
            npg_setitem_scalar(x, idx, x->ndim, orig + eps);
            bool ok1 = project(&c, v, &fp);
            npg_setitem_scalar(x, idx, x->ndim, orig - eps);
            bool ok2 = project(&c, v, &fm);
            npg_setitem_scalar(x, idx, x->ndim, orig);
            npg_no_grad_end();
            if (!ok1 || !ok2) {
                st = npg_last_status() ? npg_last_status()
                                       : npg__set_error(NPG_ERR_INVALID_ARG, "%s: the function returned NULL", fname);
                break;
            }
            double num = (fp - fm) / (2 * eps), ana = ga[k];
            bool same_nonfinite = (isnan(num) && isnan(ana)) || (isinf(num) && num == ana);
            if (!same_nonfinite && !(fabs(ana - num) <= atol + rtol * fabs(num))) {
                st = npg__set_error(NPG_ERR_GRADCHECK,
                                    "%s: input %d, element %lld: analytical %.10g vs numerical %.10g (atol %g, rtol %g)",
                                    fname, i, (long long)k, ana, num, atol, rtol);
            }
        }
        free(ga);
        free(xh);
        if (st != NPG_OK) goto done;
    }
done:
    npg_scope_end(scope);
    return st;
}
