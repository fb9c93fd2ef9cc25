/*
 * create.c — creation functions (from host data, constants, ranges, eye)
 * and reading data back to the host.
 */
#include "internal.h"
#include "scalar_ops.h"

#include <math.h>

/* ---- options ---- */

static npg_dtype opt_dtype(const npg_opts *o, npg_dtype dflt) {
    return (o && o->dtype != NPG_DTYPE_DEFAULT) ? o->dtype : dflt;
}
static npg_device opt_device(const npg_opts *o, npg_device dflt) {
    return (o && o->device.type != NPG_DEVICE_DEFAULT) ? o->device : dflt;
}

/* Apply opts->requires_grad to a freshly created leaf. */
static npg_array *finish(const char *fn, npg_array *x, const npg_opts *o) {
    if (!x) return NULL;
    if (o && o->requires_grad) {
        if (!npg_is_floating(x->dtype)) {
            npg__set_error(NPG_ERR_DTYPE, "%s: only floating-point arrays can require grad (dtype %s)", fn,
                           npg_dtype_name(x->dtype));
            npg_free(x);
            return NULL;
        }
        x->requires_grad = true;
    }
    return x;
}

static bool shape_ok(const char *fn, npg_shape s) {
    if (s.ndim < 0 || s.ndim > NPG_MAX_DIMS) {
        npg__set_error(NPG_ERR_SHAPE, "%s: %d dimensions requested; at most %d are supported", fn, s.ndim, NPG_MAX_DIMS);
        return false;
    }
    return true;
}

/* Write n contiguous host elements of `src_dtype` into contiguous array x
 * (converting). */
static npg_status upload(const char *fn, npg_array *x, const void *src, npg_dtype src_dtype) {
    int64_t n = npg__numel(x->ndim, x->shape);
    if (n == 0) return NPG_OK;
    const npg_backend *be = npg__backend_of(x);
    npg_tdesc out, in;
    npg__desc(x, &out);
    in = out;
    in.data = (void *)src;
    in.dtype = src_dtype;
    npg__coalesce(1, (npg_tdesc *[]){&out});
    npg__coalesce(1, (npg_tdesc *[]){&in});
    if (be == &npg_cpu_backend) {
        if (src_dtype == x->dtype) {
            memcpy(out.data, src, (size_t)n * npg__dtype_size(x->dtype));
            return NPG_OK;
        }
        return npg_cpu_backend.copy(0, &out, &in);
    }
    if (src_dtype == x->dtype) return be->copy_h2d(x->storage->dev, out.data, src, (size_t)n * npg__dtype_size(x->dtype));
    size_t nb = (size_t)n * npg__dtype_size(x->dtype);
    void *tmp = malloc(nb);
    if (!tmp) return npg__set_error(NPG_ERR_OOM, "%s: out of host memory", fn);
    npg_tdesc t = out;
    t.data = tmp;
    npg_status st = npg_cpu_backend.copy(0, &t, &in);
    if (st == NPG_OK) st = be->copy_h2d(x->storage->dev, out.data, tmp, nb);
    free(tmp);
    return st;
}

npg_array *npg_from_data(const void *data, npg_dtype dtype, npg_shape shape, const npg_opts *opts) {
    const char *fn = "npg_from_data";
    if (!shape_ok(fn, shape)) return NULL;
    if (!npg__dtype_valid(dtype)) {
        npg__set_error(NPG_ERR_DTYPE, "%s: invalid dtype %d", fn, (int)dtype);
        return NULL;
    }
    bool empty = false; /* (or invalid: npg__alloc says why) */
    for (int i = 0; i < shape.ndim; i++) empty |= shape.dims[i] <= 0;
    if (!data && !empty) {
        npg__null_arg(fn);
        return NULL;
    }
    npg_array *x = npg__alloc(fn, opt_dtype(opts, dtype), shape.ndim, shape.dims, opt_device(opts, NPG_DEFAULT_DEVICE));
    if (!x) return NULL;
    if (upload(fn, x, data, dtype) != NPG_OK) {
        npg_free(x);
        return NULL;
    }
    return finish(fn, x, opts);
}

/* iv: the exact integer value for npg_scalar_int, NULL to derive it from v. */
static npg_array *full_impl(const char *fn, npg_shape shape, double v, const int64_t *ivp, npg_dtype dtype,
                            npg_device dev, const npg_opts *opts, bool init) {
    if (!shape_ok(fn, shape)) return NULL;
    npg_array *x = npg__alloc(fn, dtype, shape.ndim, shape.dims, dev);
    if (!x) return NULL;
    const int64_t iv = ivp ? *ivp : npg__f64_to_ivalue(dtype, v);
    if (init && npg__numel(x->ndim, x->shape) > 0) {
        npg_tdesc d;
        npg__desc(x, &d);
        npg__coalesce(1, (npg_tdesc *[]){&d});
        if (npg__backend_of(x)->fill(x->storage->dev, &d, v, iv) != NPG_OK) {
            npg_free(x);
            return NULL;
        }
    }
    return finish(fn, x, opts);
}

npg_array *npg_empty(npg_shape shape, const npg_opts *opts) {
    return full_impl("npg_empty", shape, 0, NULL, opt_dtype(opts, NPG_FLOAT32), opt_device(opts, NPG_DEFAULT_DEVICE), opts,
                     false);
}
npg_array *npg_zeros(npg_shape shape, const npg_opts *opts) {
    return full_impl("npg_zeros", shape, 0, NULL, opt_dtype(opts, NPG_FLOAT32), opt_device(opts, NPG_DEFAULT_DEVICE), opts,
                     true);
}
npg_array *npg_ones(npg_shape shape, const npg_opts *opts) {
    return full_impl("npg_ones", shape, 1, NULL, opt_dtype(opts, NPG_FLOAT32), opt_device(opts, NPG_DEFAULT_DEVICE), opts,
                     true);
}
npg_array *npg_full(npg_shape shape, double v, const npg_opts *opts) {
    return full_impl("npg_full", shape, v, NULL, opt_dtype(opts, NPG_FLOAT32), opt_device(opts, NPG_DEFAULT_DEVICE),
                     opts, true);
}
npg_array *npg_scalar(double v, const npg_opts *opts) {
    return full_impl("npg_scalar", NPG_SHAPE0, v, NULL, opt_dtype(opts, NPG_FLOAT32),
                     opt_device(opts, NPG_DEFAULT_DEVICE), opts, true);
}
npg_array *npg_scalar_int(int64_t v, const npg_opts *opts) {
    return full_impl("npg_scalar_int", NPG_SHAPE0, (double)v, &v, opt_dtype(opts, NPG_INT64),
                     opt_device(opts, NPG_DEFAULT_DEVICE), opts, true);
}

static npg_array *like_impl(const char *fn, const npg_array *x, double v, const npg_opts *opts, bool init) {
    if (!x) {
        npg__null_arg(fn);
        return NULL;
    }
    npg_shape s = npg_shape_of(x);
    return full_impl(fn, s, v, NULL, opt_dtype(opts, x->dtype), opt_device(opts, npg__device_of(x)), opts, init);
}
npg_array *npg_empty_like(const npg_array *x, const npg_opts *o) { return like_impl("npg_empty_like", x, 0, o, false); }
npg_array *npg_zeros_like(const npg_array *x, const npg_opts *o) { return like_impl("npg_zeros_like", x, 0, o, true); }
npg_array *npg_ones_like(const npg_array *x, const npg_opts *o) { return like_impl("npg_ones_like", x, 1, o, true); }
npg_array *npg_full_like(const npg_array *x, double v, const npg_opts *o) {
    return like_impl("npg_full_like", x, v, o, true);
}

/* Build a 1-d array from n host doubles computed by f(i). */
static npg_array *from_f64_fn(const char *fn, int64_t n, double a, double b, int kind, const npg_opts *opts) {
    npg_dtype dt = opt_dtype(opts, NPG_FLOAT32);
    npg_array *x = npg__alloc(fn, dt, 1, &n, opt_device(opts, NPG_DEFAULT_DEVICE));
    if (!x) return NULL;
    if (n > 0) {
        double *buf = malloc(sizeof(double) * (size_t)n);
        if (!buf) {
            npg_free(x);
            npg__set_error(NPG_ERR_OOM, "%s: out of host memory", fn);
            return NULL;
        }
        for (int64_t i = 0; i < n; i++) {
            if (kind == 0) { /* arange: start + i*step */
                buf[i] = a + (double)i * b;
            } else { /* linspace */
                buf[i] = (n == 1) ? a : (i == n - 1 ? b : a + (double)i * ((b - a) / (double)(n - 1)));
            }
        }
        npg_status st = upload(fn, x, buf, NPG_FLOAT64);
        free(buf);
        if (st != NPG_OK) {
            npg_free(x);
            return NULL;
        }
    }
    return finish(fn, x, opts);
}

npg_array *npg_arange(double start, double stop, double step, const npg_opts *opts) {
    const char *fn = "npg_arange";
    if (step == 0 || step != step || start != start || stop != stop || isinf(start) || isinf(stop)) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: step must be nonzero and bounds finite (start %g, stop %g, step %g)",
                       fn, start, stop, step);
        return NULL;
    }
    double len = ceil((stop - start) / step);
    if (!(len > 0)) len = 0;
    if (len > 1e15) {
        npg__set_error(NPG_ERR_OOM, "%s: %g elements requested", fn, len);
        return NULL;
    }
    return from_f64_fn(fn, (int64_t)len, start, step, 0, opts);
}

npg_array *npg_linspace(double start, double stop, int64_t n, const npg_opts *opts) {
    if (n < 0) {
        npg__set_error(NPG_ERR_INVALID_ARG, "npg_linspace: number of samples %lld must be non-negative", (long long)n);
        return NULL;
    }
    return from_f64_fn("npg_linspace", n, start, stop, 1, opts);
}

npg_array *npg_eye(int64_t n, const npg_opts *opts) {
    const char *fn = "npg_eye";
    if (n < 0) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: n = %lld must be non-negative", fn, (long long)n);
        return NULL;
    }
    npg_opts o = opts ? *opts : (npg_opts){0};
    bool rg = o.requires_grad;
    o.requires_grad = false;
    npg_array *x = npg_zeros(NPG_SHAPE(n, n), &o);
    if (!x) return NULL;
    if (n > 0) {
        npg_tdesc d;
        npg__desc(x, &d);
        d.ndim = 1;
        d.shape[0] = n;
        d.strides[0] = n + 1;
        if (npg__backend_of(x)->fill(x->storage->dev, &d, 1.0, 1) != NPG_OK) {
            npg_free(x);
            return NULL;
        }
    }
    o.requires_grad = rg;
    return finish(fn, x, &o);
}

/* ------------------------------------------------------------------------
 * Reading
 * ------------------------------------------------------------------------ */

npg_status npg_copy_to_host(const npg_array *x, void *dst, size_t nbytes) {
    const char *fn = "npg_copy_to_host";
    if (!x || !dst) {
        if (!x || npg_nbytes(x) > 0) {
            npg__null_arg(fn);
            return npg_last_status() ? npg_last_status() : NPG_ERR_NULL_ARG;
        }
    }
    size_t need = npg_nbytes(x);
    if (nbytes < need) {
        return npg__set_error(NPG_ERR_INVALID_ARG, "%s: buffer of %zu bytes is too small for %zu bytes", fn, nbytes,
                              need);
    }
    if (need == 0) return NPG_OK;
    const npg_backend *be = npg__backend_of(x);
    npg_tdesc src;
    npg__desc(x, &src);
    if (npg__is_contiguous(x)) return be->copy_d2h(x->storage->dev, dst, src.data, need);
    if (be == &npg_cpu_backend) {
        npg_tdesc out = src;
        out.data = dst;
        npg__contiguous_strides(out.ndim, out.shape, out.strides);
        npg_tdesc *ds[2] = {&out, &src};
        npg__coalesce(2, ds);
        return be->copy(0, &out, &src);
    }
    npg_array *tmp = npg__alloc(fn, x->dtype, x->ndim, x->shape, npg__device_of(x));
    if (!tmp) return npg_last_status();
    npg_tdesc out;
    npg__desc(tmp, &out);
    npg_tdesc *ds[2] = {&out, &src};
    npg__coalesce(2, ds);
    npg_status st = be->copy(x->storage->dev, &out, &src);
    if (st == NPG_OK) st = be->copy_d2h(x->storage->dev, dst, tmp->storage->data, need);
    npg_free(tmp);
    return st;
}

static bool read_one(const char *fn, const npg_array *x, double *f, int64_t *i) {
    if (!x) {
        npg__null_arg(fn);
        return false;
    }
    int64_t n = npg__numel(x->ndim, x->shape);
    if (n != 1) {
        char sb[NPG_SHAPE_BUF];
        npg__set_error(NPG_ERR_SHAPE, "%s: only an array with exactly one element can be converted (shape %s, %lld elements)",
                       fn, npg__shape_str(sb, sizeof sb, x->ndim, x->shape), (long long)n);
        return false;
    }
    union {
        uint8_t u8;
        int8_t i8;
        uint16_t u16;
        int16_t i16;
        uint32_t u32;
        uint64_t u64;
        int32_t i32;
        int64_t i64;
        float f32;
        double f64;
    } v;
    memset(&v, 0, sizeof v);
    if (npg_copy_to_host(x, &v, sizeof v) != NPG_OK) return false;
    switch (x->dtype) {
    case NPG_BOOL:
    case NPG_UINT8: *i = v.u8; *f = v.u8; break;
    case NPG_INT32: *i = v.i32; *f = v.i32; break;
    case NPG_INT64: *i = v.i64; *f = (double)v.i64; break;
    case NPG_INT8: *i = v.i8; *f = v.i8; break;
    case NPG_INT16: *i = v.i16; *f = v.i16; break;
    case NPG_UINT16: *i = v.u16; *f = v.u16; break;
    case NPG_UINT32: *i = v.u32; *f = v.u32; break;
    case NPG_UINT64: *i = (int64_t)v.u64; *f = (double)v.u64; break; /* the bits in *i */
    case NPG_FLOAT32: *f = v.f32; *i = npg_s_f64_to_i64(v.f32); break;
    case NPG_FLOAT64: *f = v.f64; *i = npg_s_f64_to_i64(v.f64); break;
    case NPG_FLOAT16: *f = npg_s_f16_to_f32(v.u16); *i = npg_s_f64_to_i64(*f); break;
    case NPG_BFLOAT16: *f = npg_s_bf16_to_f32(v.u16); *i = npg_s_f64_to_i64(*f); break;
    default: return false;
    }
    return true;
}

double npg_item(const npg_array *x) {
    double f;
    int64_t i;
    return read_one("npg_item", x, &f, &i) ? f : NAN;
}

int64_t npg_item_int(const npg_array *x) {
    double f;
    int64_t i;
    return read_one("npg_item_int", x, &f, &i) ? i : 0;
}
