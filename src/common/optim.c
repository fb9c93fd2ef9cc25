/*
 * optim.c — optimizers (SGD with momentum/nesterov/weight decay, Adam,
 * AdamW, RMSprop, Adagrad) with their state on each parameter's device. SGD
 * and Adam(W) make one fused update per parameter tensor (backend sgd_step /
 * adam_step; composed from elementwise ops where a backend lacks them);
 * RMSprop and Adagrad are always composed (no fused kernels); gradient
 * clipping; learning-rate schedules; weight initialisation; named parameter
 * lists. Not included: PyTorch's maximize, foreach and parameter groups.
 */
#include "internal.h"

#include <math.h>

#include "npg/io.h"

/* ------------------------------------------------------------------------
 * Optimizers
 * ------------------------------------------------------------------------ */

typedef enum { OPT_SGD, OPT_ADAM, OPT_ADAMW, OPT_RMSPROP, OPT_ADAGRAD } opt_kind;

/* Per-parameter state, each created at the parameter's first update:
 *   SGD      s1 momentum buffer (momentum != 0 only)
 *   Adam(W)  s1 first moment, s2 second moment
 *   RMSprop  s1 square_avg, s2 grad_avg (centered only), s3 momentum buffer
 *            (momentum > 0 only)
 *   Adagrad  s1 sum of squares (starts at initial_accumulator_value) */
struct npg_optimizer {
    opt_kind kind;
    int n;
    npg_array **params; /* retained */
    npg_array **s1, **s2, **s3;
    int64_t *steps; /* per-parameter step counts (Adam's bias correction, Adagrad's lr_decay) */
    npg_sgd_opts sgd;
    npg_adam_opts adam;
    npg_rmsprop_opts rmsprop;
    npg_adagrad_opts adagrad;
};

/* A NULL parameter, reported before anything else about the call: it
 * carries the error that produced it. */
static bool null_param(const char *fn, npg_array *const *params, int n) {
    for (int i = 0; params && i < n; i++)
        if (!params[i]) {
            npg__null_arg(fn);
            return true;
        }
    return false;
}

static npg_optimizer *opt_new(const char *fn, opt_kind kind, npg_array *const *params, int n) {
    if (!params || n <= 0) {
        if (!params) {
            npg__null_arg(fn);
            return NULL;
        }
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: need at least one parameter", fn);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        if (!params[i]) {
            npg__null_arg(fn);
            return NULL;
        }
        if (!npg_is_floating(params[i]->dtype) || params[i]->grad_fn) {
            npg__set_error(NPG_ERR_INVALID_ARG, "%s: parameter %d must be a floating-point leaf", fn, i);
            return NULL;
        }
    }
    npg_optimizer *o = calloc(1, sizeof *o);
    if (o) {
        o->params = calloc((size_t)n, sizeof *o->params);
        o->s1 = calloc((size_t)n, sizeof *o->s1);
        o->s2 = calloc((size_t)n, sizeof *o->s2);
        o->s3 = calloc((size_t)n, sizeof *o->s3);
        o->steps = calloc((size_t)n, sizeof *o->steps);
    }
    if (!o || !o->params || !o->s1 || !o->s2 || !o->s3 || !o->steps) {
        if (o) {
            free(o->params);
            free(o->s1);
            free(o->s2);
            free(o->s3);
            free(o->steps);
        }
        free(o);
        npg__set_error(NPG_ERR_OOM, "%s: out of memory", fn);
        return NULL;
    }
    o->kind = kind;
    o->n = n;
    for (int i = 0; i < n; i++) o->params[i] = npg_retain(params[i]);
    return o;
}

npg_optimizer *npg_sgd_new(npg_array *const *params, int n, const npg_sgd_opts *opts) {
    const char *fn = "npg_sgd_new";
    if (null_param(fn, params, n)) return NULL;
    if (!opts || !(opts->lr > 0) || opts->momentum < 0 || opts->weight_decay < 0 ||
        (opts->nesterov && (opts->momentum <= 0 || opts->dampening != 0))) {
        if (!opts) {
            npg__null_arg(fn);
            return NULL;
        }
        npg__set_error(NPG_ERR_INVALID_ARG,
                       "%s: need lr > 0, momentum >= 0, weight_decay >= 0, and nesterov only with momentum > 0 and "
                       "dampening 0",
                       fn);
        return NULL;
    }
    npg_optimizer *o = opt_new(fn, OPT_SGD, params, n);
    if (o) o->sgd = *opts;
    return o;
}

static npg_optimizer *adam_new(const char *fn, opt_kind kind, npg_array *const *params, int n, const npg_adam_opts *opts) {
    if (null_param(fn, params, n)) return NULL;
    npg_adam_opts a = opts ? *opts : (npg_adam_opts){0};
    if (a.lr == 0) a.lr = 1e-3;
    if (a.beta1 == 0 && !(opts && opts->beta1 == 0 && opts->beta2 != 0)) a.beta1 = 0.9;
    if (a.beta2 == 0) a.beta2 = 0.999;
    if (a.eps == 0) a.eps = 1e-8;
    if (kind == OPT_ADAMW && !(opts && opts->weight_decay != 0)) a.weight_decay = 0.01;
    if (!(a.lr > 0) || a.beta1 < 0 || a.beta1 >= 1 || a.beta2 < 0 || a.beta2 >= 1 || a.eps < 0 || a.weight_decay < 0) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: invalid hyper-parameters (lr %g, betas %g %g, eps %g, weight_decay %g)",
                       fn, a.lr, a.beta1, a.beta2, a.eps, a.weight_decay);
        return NULL;
    }
    npg_optimizer *o = opt_new(fn, kind, params, n);
    if (o) o->adam = a;
    return o;
}

npg_optimizer *npg_adam_new(npg_array *const *params, int n, const npg_adam_opts *opts) {
    return adam_new("npg_adam_new", OPT_ADAM, params, n, opts);
}
npg_optimizer *npg_adamw_new(npg_array *const *params, int n, const npg_adam_opts *opts) {
    return adam_new("npg_adamw_new", OPT_ADAMW, params, n, opts);
}

/* Whether 0 <= v <= hi (false for NaN); else an error naming fn and the option. */
static bool hp_ok(const char *fn, const char *name, double v, double hi) {
    if (v >= 0 && v <= hi) return true;
    if (hi == INFINITY)
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: %s must be >= 0 (got %g)", fn, name, v);
    else
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: %s must be in [0, %g] (got %g)", fn, name, hi, v);
    return false;
}

npg_optimizer *npg_rmsprop_new(npg_array *const *params, int n, const npg_rmsprop_opts *opts) {
    const char *fn = "npg_rmsprop_new";
    if (null_param(fn, params, n)) return NULL;
    npg_rmsprop_opts r = opts ? *opts : (npg_rmsprop_opts){0};
    if (r.lr == 0) r.lr = 0.01;
    if (r.alpha == 0) r.alpha = 0.99;
    if (r.eps == 0) r.eps = 1e-8;
    if (!hp_ok(fn, "lr", r.lr, INFINITY) || !hp_ok(fn, "alpha", r.alpha, 1) || !hp_ok(fn, "eps", r.eps, INFINITY) ||
        !hp_ok(fn, "weight_decay", r.weight_decay, INFINITY) || !hp_ok(fn, "momentum", r.momentum, INFINITY))
        return NULL;
    npg_optimizer *o = opt_new(fn, OPT_RMSPROP, params, n);
    if (o) o->rmsprop = r;
    return o;
}

npg_optimizer *npg_adagrad_new(npg_array *const *params, int n, const npg_adagrad_opts *opts) {
    const char *fn = "npg_adagrad_new";
    if (null_param(fn, params, n)) return NULL;
    npg_adagrad_opts a = opts ? *opts : (npg_adagrad_opts){0};
    if (a.lr == 0) a.lr = 0.01;
    if (a.eps == 0) a.eps = 1e-10;
    if (!hp_ok(fn, "lr", a.lr, INFINITY) || !hp_ok(fn, "lr_decay", a.lr_decay, INFINITY) ||
        !hp_ok(fn, "weight_decay", a.weight_decay, INFINITY) ||
        !hp_ok(fn, "initial_accumulator_value", a.initial_accumulator_value, INFINITY) ||
        !hp_ok(fn, "eps", a.eps, INFINITY))
        return NULL;
    npg_optimizer *o = opt_new(fn, OPT_ADAGRAD, params, n);
    if (o) o->adagrad = a;
    return o;
}

void npg_optimizer_free(npg_optimizer *o) {
    if (!o) return;
    for (int i = 0; i < o->n; i++) {
        npg__release(o->params[i]);
        if (o->s1[i]) npg__release(o->s1[i]);
        if (o->s2[i]) npg__release(o->s2[i]);
        if (o->s3[i]) npg__release(o->s3[i]);
    }
    free(o->params);
    free(o->s1);
    free(o->s2);
    free(o->s3);
    free(o->steps);
    free(o);
}

/* The learning rate of o, where it lives for o's kind. */
static double *lr_of(npg_optimizer *o) {
    switch (o->kind) {
    case OPT_SGD: return &o->sgd.lr;
    case OPT_RMSPROP: return &o->rmsprop.lr;
    case OPT_ADAGRAD: return &o->adagrad.lr;
    default: return &o->adam.lr;
    }
}

void npg_optimizer_set_lr(npg_optimizer *o, double lr) {
    if (o) *lr_of(o) = lr;
}

double npg_optimizer_get_lr(const npg_optimizer *o) { return o ? *lr_of((npg_optimizer *)o) : NAN; }

npg_status npg_optimizer_zero_grad(npg_optimizer *o) {
    if (!o) {
        npg__null_arg("npg_optimizer_zero_grad");
        return npg_last_status();
    }
    for (int i = 0; i < o->n; i++) npg_zero_grad(o->params[i]);
    return NPG_OK;
}

/* State array like p, filled with v, unscoped, owned by the optimizer. A
 * float16 / bfloat16 parameter keeps float32 state (its moments underflow
 * in float16: g^2 of 1e-3 is 0 there; eps too), so its update is computed
 * in float32 and rounded once into the parameter. */
static npg_array *state_like(npg_array *p, double v) {
    const npg_opts *o = npg__is_half(p->dtype) ? NPG_OPTS(.dtype = NPG_FLOAT32) : NULL;
    npg_array *z = v == 0 ? npg_zeros_like(p, o) : npg_full_like(p, v, o);
    if (z) npg__unscope(z);
    return z;
}

/* Create the state parameter i needs before its update (see the struct).
 * A slot whose allocation fails stays NULL and is tried again at the next
 * step; nothing was updated, so the slots made already are still fresh.
 * *first: SGD's momentum buffer is new (its first value is the gradient). */
static npg_status ensure_state(npg_optimizer *o, int i, npg_array *p, bool *first) {
    bool n1 = false, n2 = false, n3 = false;
    double v1 = 0;
    switch (o->kind) {
    case OPT_SGD: n1 = o->sgd.momentum != 0; break;
    case OPT_ADAM:
    case OPT_ADAMW: n1 = n2 = true; break;
    case OPT_RMSPROP:
        n1 = true;
        n2 = o->rmsprop.centered;
        n3 = o->rmsprop.momentum > 0;
        break;
    case OPT_ADAGRAD:
        n1 = true;
        v1 = o->adagrad.initial_accumulator_value;
        break;
    }
    *first = o->kind == OPT_SGD && n1 && !o->s1[i];
    if (n1 && !o->s1[i] && !(o->s1[i] = state_like(p, v1))) return npg_last_status();
    if (n2 && !o->s2[i] && !(o->s2[i] = state_like(p, 0))) return npg_last_status();
    if (n3 && !o->s3[i] && !(o->s3[i] = state_like(p, 0))) return npg_last_status();
    return NPG_OK;
}

/* torch.optim.RMSprop, in the current scope. g here includes weight_decay p:
 *   sq = alpha sq + (1 - alpha) g^2
 *   centered: ga = alpha ga + (1 - alpha) g, avg = sqrt(sq - ga^2) + eps
 *   else:     avg = sqrt(sq) + eps
 *   momentum > 0: buf = momentum buf + g / avg, p -= lr buf
 *   else:         p -= lr g / avg */
static npg_status rmsprop_update(npg_optimizer *o, int i, npg_array *p, npg_array *g) {
    const npg_rmsprop_opts *h = &o->rmsprop;
    npg_array *sq = o->s1[i], *ga = o->s2[i], *buf = o->s3[i];
    if (h->weight_decay) g = npg_add(g, npg_multiply_scalar(p, h->weight_decay));
    npg_status st =
        npg_assign(sq, npg_add(npg_multiply_scalar(sq, h->alpha), npg_multiply_scalar(npg_square(g), 1 - h->alpha)));
    npg_array *var = sq;
    if (st == NPG_OK && h->centered) {
        st = npg_assign(ga, npg_add(npg_multiply_scalar(ga, h->alpha), npg_multiply_scalar(g, 1 - h->alpha)));
        var = npg_subtract(sq, npg_square(ga));
    }
    if (st != NPG_OK) return st;
    npg_array *d = npg_divide(g, npg_add_scalar(npg_sqrt(var), h->eps));
    if (h->momentum > 0) {
        st = npg_assign(buf, npg_add(npg_multiply_scalar(buf, h->momentum), d));
        d = buf;
    }
    if (st == NPG_OK) st = npg_assign(p, npg_subtract(p, npg_multiply_scalar(d, h->lr)));
    return st;
}

/* torch.optim.Adagrad at step t (1-based), in the current scope; g here
 * includes weight_decay p:
 *   clr = lr / (1 + (t - 1) lr_decay), sum += g^2, p -= clr g / (sqrt(sum) + eps) */
static npg_status adagrad_update(npg_optimizer *o, int i, npg_array *p, npg_array *g) {
    const npg_adagrad_opts *h = &o->adagrad;
    npg_array *sum = o->s1[i];
    double clr = h->lr / (1 + (double)(o->steps[i] - 1) * h->lr_decay);
    if (h->weight_decay) g = npg_add(g, npg_multiply_scalar(p, h->weight_decay));
    npg_status st = npg_assign(sum, npg_add(sum, npg_square(g)));
    if (st == NPG_OK) {
        npg_array *d = npg_divide(g, npg_add_scalar(npg_sqrt(sum), h->eps));
        st = npg_assign(p, npg_subtract(p, npg_multiply_scalar(d, clr)));
    }
    return st;
}

/* The composed update (backends without the fused entry, odd layouts, and
 * RMSprop and Adagrad always). */
static npg_status composed_step(npg_optimizer *o, int i, npg_array *p, npg_array *g, bool first) {
    npg_scope s = npg_scope_begin();
    npg_status st = NPG_OK;
    g = npg__as_f32(g); /* a half gradient: its square and moments in float32, like the state */
    if (!g) {
        npg_scope_end(s);
        return npg_last_status();
    }
    if (o->kind == OPT_SGD) {
        const npg_sgd_opts *h = &o->sgd;
        npg_array *d = h->weight_decay ? npg_add(g, npg_multiply_scalar(p, h->weight_decay)) : g;
        if (h->momentum) {
            npg_array *buf = o->s1[i];
            npg_array *nb = first ? d : npg_add(npg_multiply_scalar(buf, h->momentum), npg_multiply_scalar(d, 1 - h->dampening));
            st = npg_assign(buf, nb);
            d = h->nesterov ? npg_add(d, npg_multiply_scalar(buf, h->momentum)) : buf;
        }
        if (st == NPG_OK) st = npg_assign(p, npg_subtract(p, npg_multiply_scalar(d, h->lr)));
    } else if (o->kind == OPT_RMSPROP) {
        st = rmsprop_update(o, i, p, g);
    } else if (o->kind == OPT_ADAGRAD) {
        st = adagrad_update(o, i, p, g);
    } else {
        const npg_adam_opts *h = &o->adam;
        int64_t t = o->steps[i];
        double bc1 = 1 - pow(h->beta1, (double)t), bc2 = 1 - pow(h->beta2, (double)t);
        npg_array *gg = g;
        if (o->kind == OPT_ADAMW && h->weight_decay)
            st = npg_assign(p, npg_multiply_scalar(p, 1 - h->lr * h->weight_decay));
        else if (h->weight_decay)
            gg = npg_add(g, npg_multiply_scalar(p, h->weight_decay));
        if (st == NPG_OK)
            st = npg_assign(o->s1[i], npg_add(npg_multiply_scalar(o->s1[i], h->beta1), npg_multiply_scalar(gg, 1 - h->beta1)));
        if (st == NPG_OK)
            st = npg_assign(o->s2[i],
                            npg_add(npg_multiply_scalar(o->s2[i], h->beta2), npg_multiply_scalar(npg_square(gg), 1 - h->beta2)));
        if (st == NPG_OK) {
            npg_array *den = npg_add_scalar(npg_sqrt(npg_divide_scalar(o->s2[i], bc2)), h->eps);
            st = npg_assign(p, npg_subtract(p, npg_multiply_scalar(npg_divide(o->s1[i], den), h->lr / bc1)));
        }
    }
    npg_scope_end(s);
    return st;
}

npg_status npg_optimizer_step(npg_optimizer *o) {
    const char *fn = "npg_optimizer_step";
    if (!o) {
        npg__null_arg(fn);
        return npg_last_status();
    }
    npg_status st = NPG_OK;
    npg_no_grad_begin();
    for (int i = 0; i < o->n && st == NPG_OK; i++) {
        npg_array *p = o->params[i], *g = p->grad;
        if (!g) continue;
        if (!npg__same_device(p, g) || g->ndim != p->ndim ||
            memcmp(g->shape, p->shape, sizeof(int64_t) * (size_t)p->ndim) != 0) {
            st = npg__set_error(NPG_ERR_SHAPE, "%s: the gradient of parameter %d does not match it", fn, i);
            break;
        }
        bool first;
        if ((st = ensure_state(o, i, p, &first)) != NPG_OK) break;
        o->steps[i]++;
        npg_array *gc = g->dtype == p->dtype ? g : npg_astype(g, p->dtype);
        const npg_backend *be = npg__backend_of(p);
        bool has_fused = o->kind == OPT_SGD                            ? be->sgd_step != NULL
                         : o->kind == OPT_ADAM || o->kind == OPT_ADAMW ? be->adam_step != NULL
                                                                       : false;
        bool fused =
            gc && has_fused && npg__is_contiguous(p) && npg__is_contiguous(gc) && !(p->flags & NPG_AF_READONLY);
        if (!gc) {
            st = npg_last_status();
        } else if (fused) {
            if (npg__numel(p->ndim, p->shape) > 0) {
                npg_tdesc dp, dg, d1, d2;
                npg__desc(p, &dp);
                npg__desc(gc, &dg);
                npg_tdesc *ds[2] = {&dp, &dg};
                npg__coalesce(2, ds);
                if (o->s1[i]) {
                    npg__desc(o->s1[i], &d1);
                    npg__coalesce(1, (npg_tdesc *[]){&d1});
                }
                if (o->kind == OPT_SGD) {
                    npg_sgd_hp hp = {o->sgd.lr, o->sgd.momentum, o->sgd.dampening, o->sgd.weight_decay, o->sgd.nesterov,
                                     first};
                    st = npg__k_sgd_step(be, p->storage->dev, &dp, &dg, o->s1[i] ? &d1 : NULL, &hp);
                } else {
                    npg__desc(o->s2[i], &d2);
                    npg__coalesce(1, (npg_tdesc *[]){&d2});
                    double t = (double)o->steps[i];
                    npg_adam_hp hp = {o->adam.lr,           o->adam.beta1, o->adam.beta2,
                                      o->adam.eps,          o->adam.weight_decay, o->kind == OPT_ADAMW,
                                      1 - pow(o->adam.beta1, t), 1 - pow(o->adam.beta2, t)};
                    st = npg__k_adam_step(be, p->storage->dev, &dp, &dg, &d1, &d2, &hp);
                }
            }
            npg__bump_version(p);
            if (o->s1[i]) npg__bump_version(o->s1[i]);
            if (o->s2[i]) npg__bump_version(o->s2[i]);
        } else {
            st = composed_step(o, i, p, gc, first);
        }
        if (gc && gc != g) npg_free(gc);
    }
    npg_no_grad_end();
    return st;
}

/* The sum over the parameters' gradients of term(g) (a 0-d float64 array
 * per gradient): each device's partial sum stays on the device and is read
 * once, so there is one synchronisation per device, not one per parameter.
 * Call inside a scope. */
static bool grad_total(const char *fn, npg_array *const *params, int n, npg_array *(*term)(npg_array *g),
                       double *out) {
    double total = 0;
    npg_array *acc[NPG_DEVICE_TYPE_COUNT][8] = {{NULL}};
    for (int i = 0; i < n; i++) {
        if (!params[i]) {
            npg__null_arg(fn);
            return false;
        }
        npg_array *g = params[i]->grad;
        if (!g) continue;
        npg_array *t = term(g);
        npg_device d = npg__device_of(g);
        npg_array **slot = d.index < 8 ? &acc[d.type][d.index] : NULL;
        if (!t) return false;
        if (!slot) {
            total += npg_item(t);
        } else {
            *slot = *slot ? npg_add(*slot, t) : t;
            if (!*slot) return false;
        }
    }
    for (int t = 0; t < NPG_DEVICE_TYPE_COUNT; t++)
        for (int d = 0; d < 8; d++)
            if (acc[t][d]) total += npg_item(acc[t][d]);
    *out = total;
    return npg_last_status() == NPG_OK;
}

static npg_array *sum_of_squares(npg_array *g) {
    return npg_sum(npg_square(npg_astype(g, NPG_FLOAT64)), NPG_ALL_AXES, false);
}

double npg_clip_grad_norm(npg_array *const *params, int n, double max_norm) {
    const char *fn = "npg_clip_grad_norm";
    if (!params || n < 0) {
        npg__null_arg(fn);
        return NAN;
    }
    if (!(max_norm > 0)) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: max_norm must be positive (got %g)", fn, max_norm);
        return NAN;
    }
    npg_scope s = npg_scope_begin();
    npg_no_grad_begin();
    double total = 0;
    bool ok = grad_total(fn, params, n, sum_of_squares, &total);
    total = sqrt(total);
    if (ok && total > max_norm) {
        double coef = max_norm / (total + 1e-6);
        for (int i = 0; i < n && ok; i++) {
            npg_array *g = params[i]->grad;
            if (g && npg_assign(g, npg_multiply_scalar(g, coef)) != NPG_OK) ok = false;
        }
    }
    npg_no_grad_end();
    npg_scope_end(s);
    return ok ? total : NAN;
}

/* ------------------------------------------------------------------------
 * Gradient scaling (PyTorch's torch.cuda.amp.GradScaler)
 * ------------------------------------------------------------------------ */

typedef enum { SCALER_READY = 0, SCALER_UNSCALED, SCALER_STEPPED } scaler_stage;

struct npg_grad_scaler {
    npg_grad_scaler_opts o;
    double scale;
    int64_t tracker; /* successful updates since the scale last changed */
    int nopt, cap;   /* the optimizers seen since the last update */
    struct {
        const npg_optimizer *opt;
        scaler_stage stage;
        bool found_inf;
    } *seen;
};

npg_grad_scaler *npg_grad_scaler_new(const npg_grad_scaler_opts *opts) {
    const char *fn = "npg_grad_scaler_new";
    npg_grad_scaler_opts o = opts ? *opts : (npg_grad_scaler_opts){0};
    if (o.init_scale == 0) o.init_scale = 65536.0;
    if (o.growth_factor == 0) o.growth_factor = 2.0;
    if (o.backoff_factor == 0) o.backoff_factor = 0.5;
    if (o.growth_interval == 0) o.growth_interval = 2000;
    if (!(o.init_scale > 0) || isinf(o.init_scale) || !(o.growth_factor > 1) || isinf(o.growth_factor) ||
        !(o.backoff_factor > 0 && o.backoff_factor < 1) || o.growth_interval < 1) {
        npg__set_error(NPG_ERR_INVALID_ARG,
                       "%s: need init_scale > 0, growth_factor > 1, 0 < backoff_factor < 1, growth_interval >= 1 "
                       "(got %g, %g, %g, %lld)",
                       fn, o.init_scale, o.growth_factor, o.backoff_factor, (long long)o.growth_interval);
        return NULL;
    }
    npg_grad_scaler *s = calloc(1, sizeof *s);
    if (!s) {
        npg__set_error(NPG_ERR_OOM, "%s: out of host memory", fn);
        return NULL;
    }
    s->o = o;
    s->scale = o.init_scale;
    return s;
}

void npg_grad_scaler_free(npg_grad_scaler *s) {
    if (!s) return;
    free(s->seen);
    free(s);
}

double npg_grad_scaler_get_scale(const npg_grad_scaler *s) { return s ? (s->o.disabled ? 1.0 : s->scale) : NAN; }

npg_array *npg_grad_scaler_scale(npg_grad_scaler *s, npg_array *loss) {
    const char *fn = "npg_grad_scaler_scale";
    if (!s || !loss) {
        npg__null_arg(fn);
        return NULL;
    }
    if (!npg_is_floating(loss->dtype)) {
        npg__set_error(NPG_ERR_DTYPE, "%s: the loss has dtype %s (floating required)", fn, npg_dtype_name(loss->dtype));
        return NULL;
    }
    return s->o.disabled ? npg__alias(loss) : npg_multiply_scalar(loss, s->scale); /* disabled: no kernel */
}

/* The optimizer's entry (added when new; NULL when out of memory). */
static int scaler_entry(const char *fn, npg_grad_scaler *s, const npg_optimizer *opt) {
    for (int i = 0; i < s->nopt; i++)
        if (s->seen[i].opt == opt) return i;
    if (s->nopt == s->cap) {
        int cap = s->cap ? 2 * s->cap : 4;
        void *p = realloc(s->seen, (size_t)cap * sizeof *s->seen);
        if (!p) {
            npg__set_error(NPG_ERR_OOM, "%s: out of host memory", fn);
            return -1;
        }
        s->seen = p;
        s->cap = cap;
    }
    s->seen[s->nopt].opt = opt;
    s->seen[s->nopt].stage = SCALER_READY;
    s->seen[s->nopt].found_inf = false;
    return s->nopt++;
}

static npg_array *nonfinite_count(npg_array *g) {
    return npg_astype(npg_sum(npg_logical_not(npg_isfinite(g)), NPG_ALL_AXES, false), NPG_FLOAT64);
}

/* Divide the gradients by the scale and record whether any was inf or NaN. */
static npg_status scaler_unscale(const char *fn, npg_grad_scaler *s, int e) {
    const npg_optimizer *o = s->seen[e].opt;
    npg_scope sc = npg_scope_begin();
    npg_no_grad_begin();
    double bad = 0;
    bool ok = grad_total(fn, o->params, o->n, nonfinite_count, &bad);
    const double inv = 1.0 / s->scale;
    for (int i = 0; i < o->n && ok; i++) {
        npg_array *g = o->params[i]->grad;
        if (g && npg_assign(g, npg_multiply_scalar(g, inv)) != NPG_OK) ok = false;
    }
    npg_no_grad_end();
    npg_scope_end(sc);
    if (!ok) return npg_last_status();
    s->seen[e].stage = SCALER_UNSCALED;
    s->seen[e].found_inf = bad > 0;
    return NPG_OK;
}

npg_status npg_grad_scaler_unscale(npg_grad_scaler *s, npg_optimizer *opt) {
    const char *fn = "npg_grad_scaler_unscale";
    if (!s || !opt) return npg__null_arg(fn), npg_last_status();
    if (s->o.disabled) return NPG_OK;
    int e = scaler_entry(fn, s, opt);
    if (e < 0) return npg_last_status();
    if (s->seen[e].stage != SCALER_READY)
        return npg__set_error(NPG_ERR_INVALID_ARG, "%s: this optimizer's gradients were already %s since the last update",
                              fn, s->seen[e].stage == SCALER_STEPPED ? "stepped" : "unscaled");
    return scaler_unscale(fn, s, e);
}

npg_status npg_grad_scaler_step(npg_grad_scaler *s, npg_optimizer *opt, bool *stepped) {
    const char *fn = "npg_grad_scaler_step";
    if (stepped) *stepped = false;
    if (!s || !opt) return npg__null_arg(fn), npg_last_status();
    if (s->o.disabled) {
        npg_status st = npg_optimizer_step(opt);
        if (stepped) *stepped = st == NPG_OK;
        return st;
    }
    int e = scaler_entry(fn, s, opt);
    if (e < 0) return npg_last_status();
    if (s->seen[e].stage == SCALER_STEPPED)
        return npg__set_error(NPG_ERR_INVALID_ARG, "%s: this optimizer already stepped since the last update", fn);
    if (s->seen[e].stage == SCALER_READY) {
        npg_status st = scaler_unscale(fn, s, e);
        if (st != NPG_OK) return st;
    }
    s->seen[e].stage = SCALER_STEPPED;
    if (s->seen[e].found_inf) return NPG_OK; /* skipped: update() lowers the scale */
    npg_status st = npg_optimizer_step(opt);
    if (stepped) *stepped = st == NPG_OK;
    return st;
}

npg_status npg_grad_scaler_update(npg_grad_scaler *s) {
    const char *fn = "npg_grad_scaler_update";
    if (!s) return npg__null_arg(fn), npg_last_status();
    if (s->o.disabled) return NPG_OK;
    if (s->nopt == 0)
        return npg__set_error(NPG_ERR_INVALID_ARG, "%s: no optimizer was unscaled or stepped since the last update", fn);
    bool inf = false;
    for (int i = 0; i < s->nopt; i++) inf |= s->seen[i].found_inf;
    if (inf) {
        s->scale *= s->o.backoff_factor;
        s->tracker = 0;
    } else if (++s->tracker == s->o.growth_interval) {
        double grown = s->scale * s->o.growth_factor;
        if (!isinf(grown)) s->scale = grown; /* PyTorch keeps the old scale when growing would overflow */
        s->tracker = 0;
    }
    s->nopt = 0;
    return NPG_OK;
}

/* ------------------------------------------------------------------------
 * Learning-rate schedules
 * ------------------------------------------------------------------------ */

double npg_lr_step(double base, int64_t step, int64_t step_size, double gamma) {
    if (step_size <= 0 || step < 0) return base;
    return base * pow(gamma, (double)(step / step_size));
}

double npg_lr_cosine(double base, int64_t step, int64_t total, double min_lr) {
    if (total <= 0 || step >= total) return step >= total && total > 0 ? min_lr : base;
    if (step < 0) step = 0;
    return min_lr + (base - min_lr) * (1 + cos(3.14159265358979323846 * (double)step / (double)total)) / 2;
}

double npg_lr_warmup(double base, int64_t step, int64_t warmup) {
    if (warmup <= 0 || step >= warmup) return base;
    if (step < 0) step = 0;
    return base * (double)(step + 1) / (double)warmup;
}

/* ------------------------------------------------------------------------
 * Initialisation
 * ------------------------------------------------------------------------ */

static bool fans(const char *fn, npg_array *w, double *fan_in, double *fan_out) {
    if (!w) {
        npg__null_arg(fn);
        return false;
    }
    if (!npg_is_floating(w->dtype)) {
        npg__set_error(NPG_ERR_DTYPE, "%s: dtype %s is not floating", fn, npg_dtype_name(w->dtype));
        return false;
    }
    if (w->ndim == 0) {
        npg__set_error(NPG_ERR_SHAPE, "%s: cannot compute fans of a 0-d array", fn);
        return false;
    }
    if (w->ndim == 1) {
        *fan_in = *fan_out = (double)w->shape[0];
    } else {
        double rf = 1;
        for (int i = 2; i < w->ndim; i++) rf *= (double)w->shape[i];
        *fan_in = (double)w->shape[1] * rf;
        *fan_out = (double)w->shape[0] * rf;
    }
    if (*fan_in <= 0 || *fan_out <= 0) {
        npg__set_error(NPG_ERR_SHAPE, "%s: empty array", fn);
        return false;
    }
    return true;
}

/* Overwrite w with uniform(-b, b) (normal=false) or normal(0, b). */
static npg_status fill_random(const char *fn, npg_array *w, double b, bool normal, npg_generator *gen) {
    npg_scope s = npg_scope_begin();
    npg_no_grad_begin();
    npg_opts o = {.dtype = w->dtype, .device = npg__device_of(w), .generator = gen};
    npg_array *r = normal ? npg_normal(0, b, npg_shape_of(w), &o) : npg_uniform(-b, b, npg_shape_of(w), &o);
    npg_status st = r ? npg_assign(w, r) : npg_last_status();
    npg_no_grad_end();
    npg_scope_end(s);
    if (st != NPG_OK && strncmp(npg_last_error(), fn, strlen(fn)) != 0) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", npg_last_error());
        npg__set_error(st, "%s: %s", fn, msg);
    }
    return st;
}

static npg_status kaiming(const char *fn, npg_array *w, const npg_init_opts *o, bool normal) {
    double fi, fo;
    if (!fans(fn, w, &fi, &fo)) return npg_last_status();
    double gain = (o && o->gain > 0) ? o->gain : sqrt(2.0);
    double fan = (o && o->mode == NPG_FAN_OUT) ? fo : fi;
    double std = gain / sqrt(fan);
    return fill_random(fn, w, normal ? std : std * sqrt(3.0), normal, o ? o->generator : NULL);
}

static npg_status xavier(const char *fn, npg_array *w, const npg_init_opts *o, bool normal) {
    double fi, fo;
    if (!fans(fn, w, &fi, &fo)) return npg_last_status();
    double gain = (o && o->gain > 0) ? o->gain : 1.0;
    double std = gain * sqrt(2.0 / (fi + fo));
    return fill_random(fn, w, normal ? std : std * sqrt(3.0), normal, o ? o->generator : NULL);
}

npg_status npg_init_kaiming_uniform(npg_array *w, const npg_init_opts *o) {
    return kaiming("npg_init_kaiming_uniform", w, o, false);
}
npg_status npg_init_kaiming_normal(npg_array *w, const npg_init_opts *o) {
    return kaiming("npg_init_kaiming_normal", w, o, true);
}
npg_status npg_init_xavier_uniform(npg_array *w, const npg_init_opts *o) {
    return xavier("npg_init_xavier_uniform", w, o, false);
}
npg_status npg_init_xavier_normal(npg_array *w, const npg_init_opts *o) {
    return xavier("npg_init_xavier_normal", w, o, true);
}

static npg_status init_const(const char *fn, npg_array *w, double v) {
    if (!w) {
        npg__null_arg(fn);
        return npg_last_status();
    }
    npg_no_grad_begin();
    npg_status st = npg_fill(w, v);
    npg_no_grad_end();
    return st;
}
npg_status npg_init_zeros(npg_array *w) { return init_const("npg_init_zeros", w, 0.0); }
npg_status npg_init_ones(npg_array *w) { return init_const("npg_init_ones", w, 1.0); }

/* ------------------------------------------------------------------------
 * Parameter lists
 * ------------------------------------------------------------------------ */

struct npg_params {
    int n, cap;
    char **names;
    npg_array **arrays;
};

npg_params *npg_params_new(void) {
    npg_params *p = calloc(1, sizeof *p);
    if (!p) npg__set_error(NPG_ERR_OOM, "npg_params_new: out of memory");
    return p;
}

npg_status npg_params_add(npg_params *p, const char *name, npg_array *x) {
    const char *fn = "npg_params_add";
    if (!p || !name || !x) {
        npg__null_arg(fn);
        return npg_last_status();
    }
    if (npg_params_find(p, name)) return npg__set_error(NPG_ERR_INVALID_ARG, "%s: a parameter named '%s' exists", fn, name);
    if (p->n == p->cap) {
        int cap = p->cap ? p->cap * 2 : 16;
        char **nn = realloc(p->names, sizeof *nn * (size_t)cap);
        if (nn) p->names = nn;
        npg_array **na = nn ? realloc(p->arrays, sizeof *na * (size_t)cap) : NULL;
        if (!nn || !na) return npg__set_error(NPG_ERR_OOM, "%s: out of memory", fn);
        p->arrays = na;
        p->cap = cap;
    }
    size_t len = strlen(name);
    char *copy = malloc(len + 1);
    if (!copy) return npg__set_error(NPG_ERR_OOM, "%s: out of memory", fn);
    memcpy(copy, name, len + 1);
    p->names[p->n] = copy;
    p->arrays[p->n] = npg_retain(x);
    p->n++;
    return NPG_OK;
}

int npg_params_count(const npg_params *p) { return p ? p->n : 0; }
/* Whether i indexes p (else the error names fn). */
static bool params_index_ok(const char *fn, const npg_params *p, int i) {
    if (!p) {
        npg__null_arg(fn);
        return false;
    }
    if (i < 0 || i >= p->n) {
        npg__set_error(NPG_ERR_INDEX, "%s: index %d is out of range for %d parameters", fn, i, p->n);
        return false;
    }
    return true;
}
npg_array *npg_params_get(const npg_params *p, int i) {
    return params_index_ok("npg_params_get", p, i) ? p->arrays[i] : NULL;
}
const char *npg_params_name(const npg_params *p, int i) {
    return params_index_ok("npg_params_name", p, i) ? p->names[i] : NULL;
}
npg_array *const *npg_params_arrays(const npg_params *p) { return p ? p->arrays : NULL; }

npg_array *npg_params_find(const npg_params *p, const char *name) {
    if (!p || !name) return NULL;
    for (int i = 0; i < p->n; i++)
        if (!strcmp(p->names[i], name)) return p->arrays[i];
    return NULL;
}

int64_t npg_params_numel(const npg_params *p) {
    int64_t n = 0;
    for (int i = 0; p && i < p->n; i++) n += npg__numel(p->arrays[i]->ndim, p->arrays[i]->shape);
    return n;
}

void npg_params_free(npg_params *p) {
    if (!p) return;
    for (int i = 0; i < p->n; i++) {
        free(p->names[i]);
        npg__release(p->arrays[i]);
    }
    free(p->names);
    free(p->arrays);
    free(p);
}

npg_status npg_params_save(const npg_params *p, const char *path) {
    if (!p || !path) {
        npg__null_arg("npg_params_save");
        return npg_last_status();
    }
    npg_named *items = calloc((size_t)(p->n ? p->n : 1), sizeof *items);
    if (!items) return npg__set_error(NPG_ERR_OOM, "npg_params_save: out of memory");
    for (int i = 0; i < p->n; i++) items[i] = (npg_named){p->names[i], p->arrays[i]};
    npg_status st = npg_save_npz(path, items, p->n, false);
    free(items);
    return st;
}

npg_status npg_params_load(npg_params *p, const char *path) {
    const char *fn = "npg_params_load";
    if (!p || !path) {
        npg__null_arg(fn);
        return npg_last_status();
    }
    npg_npz *z = npg_load_npz(path, NULL);
    if (!z) return npg_last_status();
    npg_status st = NPG_OK;
    /* check everything before writing anything */
    npg_array **vals = calloc((size_t)(p->n ? p->n : 1), sizeof *vals);
    if (!vals) st = npg__set_error(NPG_ERR_OOM, "%s: out of memory", fn);
    for (int i = 0; i < p->n && st == NPG_OK; i++) {
        vals[i] = npg_npz_get(z, p->names[i]);
        if (!vals[i]) {
            st = npg__set_error(NPG_ERR_FORMAT, "%s: %s has no array named '%s'", fn, path, p->names[i]);
        } else if (vals[i]->ndim != p->arrays[i]->ndim ||
                   memcmp(vals[i]->shape, p->arrays[i]->shape, sizeof(int64_t) * (size_t)vals[i]->ndim) != 0) {
            char sa[NPG_SHAPE_BUF], sb[NPG_SHAPE_BUF];
            st = npg__set_error(NPG_ERR_SHAPE, "%s: '%s' has shape %s in %s but %s here", fn, p->names[i],
                                npg__shape_str(sa, sizeof sa, vals[i]->ndim, vals[i]->shape), path,
                                npg__shape_str(sb, sizeof sb, p->arrays[i]->ndim, p->arrays[i]->shape));
        }
    }
    npg_no_grad_begin();
    for (int i = 0; i < p->n && st == NPG_OK; i++) {
        npg_array *v = npg_to(vals[i], npg__device_of(p->arrays[i]));
        st = v ? npg_assign(p->arrays[i], v) : npg_last_status();
        npg_free(v);
    }
    npg_no_grad_end();
    for (int i = 0; vals && i < p->n; i++) npg_free(vals[i]);
    free(vals);
    npg_npz_free(z);
    return st;
}
