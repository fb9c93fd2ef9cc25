/*
 * random.c — generators and the random creation functions. One counter-based
 * generator (Philox-4x32-10, rng.h) on every device: a value depends only on
 * (seed, stream offset, element index), and each call consumes one offset.
 */
#include <math.h>

#include "internal.h"
#include "scalar_ops.h"

struct npg_generator {
    uint64_t seed;
    uint64_t offset; /* next stream offset; advanced atomically */
};

#define NPG_DEFAULT_SEED 0x5EEDull
static npg_generator g_global = {NPG_DEFAULT_SEED, 0};

void npg_seed(uint64_t seed) {
    __atomic_store_n(&g_global.seed, seed, __ATOMIC_RELAXED);
    __atomic_store_n(&g_global.offset, 0, __ATOMIC_RELAXED);
}

npg_generator *npg_generator_new(uint64_t seed) {
    npg_generator *g = calloc(1, sizeof *g);
    if (!g) {
        npg__set_error(NPG_ERR_OOM, "npg_generator_new: out of memory");
        return NULL;
    }
    g->seed = seed;
    return g;
}

void npg_generator_free(npg_generator *g) { free(g); }

static _Thread_local npg_rng_tape *tl_tape;

npg_rng_tape *npg__rng_tape_set(npg_rng_tape *t) {
    npg_rng_tape *old = tl_tape;
    tl_tape = t;
    return old;
}

/* The (seed, offset) of the next draw from g: a fresh offset, or the next
 * one of a tape being replayed; recorded on a tape being written. */
static void next_draw(npg_generator *g, uint64_t *seed, uint64_t *off) {
    npg_rng_tape *t = tl_tape;
    if (t && t->replay && t->pos < t->len) {
        *seed = t->e[t->pos][0];
        *off = t->e[t->pos][1];
        t->pos++;
        return;
    }
    *seed = __atomic_load_n(&g->seed, __ATOMIC_RELAXED);
    *off = __atomic_fetch_add(&g->offset, 1, __ATOMIC_RELAXED);
    if (t && !t->replay) {
        if (t->len == t->cap) {
            int64_t cap = t->cap ? 2 * t->cap : 8;
            uint64_t(*e)[2] = realloc(t->e, sizeof *e * (size_t)cap);
            if (!e) {
                t->failed = true;
                return;
            }
            t->e = e;
            t->cap = cap;
        }
        t->e[t->len][0] = *seed;
        t->e[t->len][1] = *off;
        t->len++;
    }
}

/* A float32 uniform rounded to a half type can reach `high` (every value
 * within half a half-ulp below it rounds up): those become the largest half
 * value below high (or low's rounding when no half value lies in between),
 * so the half draws keep [low, high). Takes x, returns the result. */
static npg_array *half_below_high(npg_array *x, double low, double high) {
    const bool f16 = x->dtype == NPG_FLOAT16;
    uint16_t h = f16 ? npg_s_f64_to_f16(high) : npg_s_f64_to_bf16(high);
    double hv = f16 ? npg_s_f16_to_f32(h) : npg_s_bf16_to_f32(h);
    if (hv >= high) { /* one step toward -inf */
        bool neg = (h & 0x8000u) || high <= 0;
        h = (h & 0x7fffu) == 0 ? 0x8001u : (uint16_t)(neg ? h + 1 : h - 1);
        hv = f16 ? npg_s_f16_to_f32(h) : npg_s_bf16_to_f32(h);
    }
    if (hv < low) hv = f16 ? npg_s_f16_to_f32(npg_s_f64_to_f16(low)) : npg_s_bf16_to_f32(npg_s_f64_to_bf16(low));
    npg_no_grad_begin();
    npg_array *mask = npg_greater_equal_scalar(x, high);
    npg_array *r = npg_scalar_where(mask, hv, x);
    npg_no_grad_end();
    npg_free(mask);
    npg_free(x);
    return r;
}

static npg_array *random_impl(const char *fn, npg_op op, npg_shape shape, const npg_opts *opts, npg_kparams p,
                              npg_dtype dflt) {
    npg_dtype dt = (opts && opts->dtype) ? opts->dtype : dflt;
    bool want_float = op != NPG_OP_RAND_INT;
    if (want_float ? !npg_is_floating(dt) : !npg_is_integer(dt)) {
        npg__set_error(NPG_ERR_DTYPE, "%s: dtype %s is not supported (%s)", fn, npg_dtype_name(dt),
                       want_float ? "float32 or float64" : "uint8, int32 or int64");
        return NULL;
    }
    if (shape.ndim < 0 || shape.ndim > NPG_MAX_DIMS) {
        npg__set_error(NPG_ERR_SHAPE, "%s: %d dimensions requested; at most %d are supported", fn, shape.ndim, NPG_MAX_DIMS);
        return NULL;
    }
    npg_device dev = opts ? opts->device : NPG_DEFAULT_DEVICE;
    npg_array *x = npg__alloc(fn, dt, shape.ndim, shape.dims, dev);
    if (!x) return NULL;
    if (npg__numel(x->ndim, x->shape) > 0) {
        npg_generator *g = (opts && opts->generator) ? opts->generator : &g_global;
        uint64_t seed, off;
        next_draw(g, &seed, &off);
        npg_tdesc d;
        npg__desc(x, &d);
        if (npg__k_random(npg__backend_of(x), x->storage->dev, op, &d, seed, off, &p) != NPG_OK) {
            npg_free(x);
            return NULL;
        }
        if (op == NPG_OP_RAND_UNIFORM && npg__is_half(dt) && !(x = half_below_high(x, p.f[0], p.f[1]))) return NULL;
    }
    if (opts && opts->requires_grad) {
        if (!npg_is_floating(dt)) {
            npg__set_error(NPG_ERR_DTYPE, "%s: only floating-point arrays can require grad", fn);
            npg_free(x);
            return NULL;
        }
        x->requires_grad = true;
    }
    return x;
}

npg_array *npg_uniform(double low, double high, npg_shape shape, const npg_opts *opts) {
    if (!(low <= high) || low != low || high != high) {
        npg__set_error(NPG_ERR_INVALID_ARG, "npg_uniform: need low <= high (got %g, %g)", low, high);
        return NULL;
    }
    npg_kparams p = {.f = {low, high}};
    return random_impl("npg_uniform", NPG_OP_RAND_UNIFORM, shape, opts, p, NPG_FLOAT32);
}

npg_array *npg_rand(npg_shape shape, const npg_opts *opts) {
    npg_kparams p = {.f = {0.0, 1.0}};
    return random_impl("npg_rand", NPG_OP_RAND_UNIFORM, shape, opts, p, NPG_FLOAT32);
}

npg_array *npg_normal(double mean, double std, npg_shape shape, const npg_opts *opts) {
    if (!(std >= 0)) {
        npg__set_error(NPG_ERR_INVALID_ARG, "npg_normal: std must be non-negative (got %g)", std);
        return NULL;
    }
    npg_kparams p = {.f = {mean, std}};
    return random_impl("npg_normal", NPG_OP_RAND_NORMAL, shape, opts, p, NPG_FLOAT32);
}

npg_array *npg_randn(npg_shape shape, const npg_opts *opts) {
    npg_kparams p = {.f = {0.0, 1.0}};
    return random_impl("npg_randn", NPG_OP_RAND_NORMAL, shape, opts, p, NPG_FLOAT32);
}

npg_array *npg_randint(int64_t low, int64_t high, npg_shape shape, const npg_opts *opts) {
    const char *fn = "npg_randint";
    npg_dtype dt = (opts && opts->dtype) ? opts->dtype : NPG_INT64;
    if (low >= high) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: low >= high (%lld >= %lld)", fn, (long long)low, (long long)high);
        return NULL;
    }
    /* the dtype's range [lo, hi) (uint64's as far as int64 bounds reach) */
    int64_t lo = INT64_MIN, hi = INT64_MAX;
    switch (dt) {
    case NPG_INT8: lo = INT8_MIN, hi = (int64_t)INT8_MAX + 1; break;
    case NPG_INT16: lo = INT16_MIN, hi = (int64_t)INT16_MAX + 1; break;
    case NPG_INT32: lo = INT32_MIN, hi = (int64_t)INT32_MAX + 1; break;
    case NPG_UINT8: lo = 0, hi = (int64_t)UINT8_MAX + 1; break;
    case NPG_UINT16: lo = 0, hi = (int64_t)UINT16_MAX + 1; break;
    case NPG_UINT32: lo = 0, hi = (int64_t)UINT32_MAX + 1; break;
    case NPG_UINT64: lo = 0; break;
    default: break;
    }
    if (npg_is_integer(dt) && (low < lo || high > hi)) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: [%lld, %lld) is out of range for %s", fn, (long long)low,
                       (long long)high, npg_dtype_name(dt));
        return NULL;
    }
    npg_kparams p = {.i = {low, high}};
    return random_impl(fn, NPG_OP_RAND_INT, shape, opts, p, NPG_INT64);
}

npg_array *npg_permutation(int64_t n, const npg_opts *opts) {
    const char *fn = "npg_permutation";
    if (n < 0) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: n must be non-negative (got %lld)", fn, (long long)n);
        return NULL;
    }
    npg_dtype dt = (opts && opts->dtype) ? opts->dtype : NPG_INT64;
    if (!npg_is_integer(dt) && !npg_is_floating(dt)) {
        npg__set_error(NPG_ERR_DTYPE, "%s: dtype %s is not supported", fn, npg_dtype_name(dt));
        return NULL;
    }
    npg_opts o = opts ? *opts : (npg_opts){0};
    o.dtype = NPG_FLOAT64;
    o.requires_grad = false;
    npg_scope s = npg_scope_begin();
    npg_array *keys = npg_rand(NPG_SHAPE(n), &o);
    npg_array *r = npg_argsort(keys, 0, false);
    if (r && dt != NPG_INT64) r = npg_astype(r, dt);
    npg_keep(r);
    npg_scope_end(s);
    return r;
}

/* ------------------------------------------------------------------------
 * Sampling from given probabilities
 * ------------------------------------------------------------------------ */

/* Uniform float64 draws in [0, 1) of the given shape on x's device. */
static npg_array *uniform_on(const npg_array *x, npg_shape shape, npg_generator *gen) {
    return npg_rand(shape, NPG_OPTS(.dtype = NPG_FLOAT64, .device = npg_device_of(x), .generator = gen));
}

npg_array *npg_bernoulli(npg_array *p, npg_generator *gen) {
    const char *fn = "npg_bernoulli";
    if (!p) {
        npg__null_arg(fn);
        return NULL;
    }
    npg_scope s = npg_scope_begin();
    npg_no_grad_begin();
    npg_dtype dt = npg__float_dtype(p->dtype);
    npg_array *u = uniform_on(p, npg_shape_of(p), gen);
    npg_array *pf = npg__cast(p, NPG_FLOAT64);
    npg_array *y = u && pf ? npg_astype(npg_less(u, pf), dt) : NULL;
    if (y) y = npg_scalar_where(npg_isnan(pf), NAN, y);
    npg_no_grad_end();
    return npg__finish(fn, s, y);
}

/* Reads the n float64 values of the 0-d arrays in v to the host (one
 * transfer). */
static bool read_scalars(npg_array *const *v, int n, double *out) {
    npg_array *all = npg_stack(v, n, 0);
    if (!all) return false;
    npg_array *f = npg_astype(all, NPG_FLOAT64);
    npg_free(all);
    if (!f) return false;
    npg_status st = npg_copy_to_host(f, out, sizeof(double) * (size_t)n);
    npg_free(f);
    return st == NPG_OK;
}

npg_array *npg_multinomial(npg_array *weights, int64_t num_samples, bool replacement, npg_generator *gen) {
    const char *fn = "npg_multinomial";
    if (!weights) {
        npg__null_arg(fn);
        return NULL;
    }
    if (weights->ndim != 1 && weights->ndim != 2) {
        npg__set_error(NPG_ERR_SHAPE, "%s: the weights must be 1-d (K) or 2-d (N, K) (got %d-d)", fn, weights->ndim);
        return NULL;
    }
    if (weights->dtype == NPG_BOOL) {
        npg__set_error(NPG_ERR_DTYPE, "%s: bool weights are not supported", fn);
        return NULL;
    }
    const int64_t K = weights->shape[weights->ndim - 1], N = weights->ndim == 2 ? weights->shape[0] : 1;
    if (num_samples < 0) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: num_samples must be >= 0 (got %lld)", fn, (long long)num_samples);
        return NULL;
    }
    if (K == 0) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: there are no categories to draw from", fn);
        return NULL;
    }
    if (!replacement && num_samples > K) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: cannot draw %lld samples from %lld categories without replacement", fn,
                       (long long)num_samples, (long long)K);
        return NULL;
    }
    if (N > 0 && num_samples > INT64_MAX / 8 / N) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: %lld samples per row is too many", fn, (long long)num_samples);
        return NULL;
    }
    npg_scope s = npg_scope_begin();
    npg_no_grad_begin();
    npg_array *y = NULL;
    npg_array *P = npg__cast(weights, NPG_FLOAT64);
    if (P && weights->ndim == 1) P = npg_expand_dims(P, 0); /* (1, K) */
    if (!P) goto out;
    if (N > 0) {
        /* one transfer: the smallest weight, the count of non-finite ones,
         * the smallest row sum and the fewest positive weights in a row */
        npg_array *pos = npg_greater_scalar(P, 0.0);
        npg_array *checks[4] = {
            npg_min(P, NPG_ALL_AXES, false),
            npg_sum(npg_logical_not(npg_isfinite(P)), NPG_ALL_AXES, false),
            npg_min(npg_sum(P, NPG_AXES(-1), false), NPG_ALL_AXES, false),
            npg_min(npg_sum(pos, NPG_AXES(-1), false), NPG_ALL_AXES, false),
        };
        double c[4];
        if (!pos || !checks[0] || !checks[1] || !checks[2] || !checks[3] || !read_scalars(checks, 4, c)) goto out;
        if (c[1] > 0) {
            npg__set_error(NPG_ERR_INVALID_ARG, "%s: the weights must be finite", fn);
            goto out;
        }
        if (c[0] < 0) {
            npg__set_error(NPG_ERR_INVALID_ARG, "%s: the weights must be non-negative (found %g)", fn, c[0]);
            goto out;
        }
        if (!(c[2] > 0)) {
            npg__set_error(NPG_ERR_INVALID_ARG, "%s: every row of weights needs a positive sum", fn);
            goto out;
        }
        if (!replacement && c[3] < (double)num_samples) {
            npg__set_error(NPG_ERR_INVALID_ARG,
                           "%s: a row has only %.0f positive weights, too few for %lld samples without replacement", fn,
                           c[3], (long long)num_samples);
            goto out;
        }
    }
    const npg_shape drawn = {.ndim = 2, .dims = {N, num_samples}};
    npg_array *u = uniform_on(P, replacement ? drawn : npg_shape_of(P), gen);
    if (!u) goto out;
    if (replacement) {
        /* inverse CDF: row r's normalised cumulative weights, shifted by r,
         * make one ascending sequence; u + r falls in row r's part, and the
         * count of entries <= u + r past the r*K of earlier rows is the
         * category. Zero weights have empty intervals; rounding u + r up to
         * r + 1 is caught by the clamp to the row's last positive weight. */
        npg_array *cdf = npg_cumsum(P, 1);
        npg_array *total = cdf ? NPG_INDEX(cdf, NPG_ALL, NPG_SLICE(K - 1, K, 1)) : NULL;
        npg_array *r = npg_arange(0, (double)N, 1, NPG_OPTS(.dtype = NPG_FLOAT64, .device = npg_device_of(P)));
        npg_array *rc = r ? npg_expand_dims(r, 1) : NULL; /* (N, 1) */
        npg_array *flat = rc && total ? npg_reshape(npg_add(npg_divide(cdf, total), rc), NPG_SHAPE(N * K)) : NULL;
        npg_array *q = rc ? npg_reshape(npg_add(u, rc), NPG_SHAPE(N * num_samples)) : NULL;
        npg_array *pos = flat && q ? npg_searchsorted(flat, q, "right") : NULL;
        npg_array *idx = pos ? npg_subtract(npg_reshape(pos, drawn), npg_astype(npg_multiply_scalar(rc, (double)K), NPG_INT64)) : NULL;
        npg_array *k = npg_arange(0, (double)K, 1, NPG_OPTS(.dtype = NPG_INT64, .device = npg_device_of(P)));
        npg_array *last = k ? npg_max(npg_where_scalar(npg_greater_scalar(P, 0.0), k, -1), NPG_AXES(1), true) : NULL;
        y = idx && last ? npg_minimum(idx, last) : NULL;
    } else {
        /* the exponential race: E / w with E ~ Exp(1); the num_samples
         * smallest keys, in order, are a draw without replacement in the
         * order drawn. Zero weights get +inf and are never reached. */
        npg_array *E = npg_negative(npg_log1p(npg_negative(u))); /* finite: 1 - u is in (0, 1] */
        npg_array *keys = E ? npg_where_scalar(npg_greater_scalar(P, 0.0), npg_divide(E, P), INFINITY) : NULL;
        if (keys) npg_topk(keys, num_samples, 1, false, NULL, &y);
    }
    if (y && weights->ndim == 1) y = npg_reshape(y, NPG_SHAPE(num_samples));
out:
    npg_no_grad_end();
    return npg__finish(fn, s, y);
}
