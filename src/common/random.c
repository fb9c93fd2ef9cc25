/*
 * random.c — generators and the random creation functions. One counter-based
 * generator (Philox-4x32-10, rng.h) on every device: a value depends only on
 * (seed, stream offset, element index), and each call consumes one offset.
 */
#include "internal.h"

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
        if (npg__backend_of(x)->random(x->storage->dev, op, &d, seed, off, &p) != NPG_OK) {
            npg_free(x);
            return NULL;
        }
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
    int64_t lo = dt == NPG_UINT8 ? 0 : dt == NPG_INT32 ? INT32_MIN : INT64_MIN;
    int64_t hi = dt == NPG_UINT8 ? 256 : dt == NPG_INT32 ? (int64_t)INT32_MAX + 1 : INT64_MAX;
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
