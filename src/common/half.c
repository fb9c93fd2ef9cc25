/*
 * half.c — kernels on float16 / bfloat16 operands run in float32.
 *
 * The backends store and convert the half types (fill, copy) and compute in
 * float32 and float64 only, except where backend.h says an entry takes the
 * half types itself (unary, binary, where, gather always; matmul, reduce and
 * im2col when half_matmul / half_reduce / half_im2col is set). Every other
 * kernel call in src/common goes through an npg_wide: each half operand is
 * replaced by a float32 buffer
 * (inputs converted into it first, outputs converted back after the kernel),
 * so an op on a half array computes in float32 and rounds its result once:
 * PyTorch's CPU semantics, the same bits on every device (the conversions
 * are scalar_ops.h's). Operands of other dtypes pass through untouched.
 *
 *   npg_wide w;
 *   npg__wide_begin(&w, be, dev);
 *   const npg_tdesc *o = npg__wide_out(&w, &out), *i = npg__wide_in(&w, &in);
 *   npg_status st = npg__wide_status(&w);
 *   if (st == NPG_OK) st = be->scan(dev, op, o, i, axis);
 *   st = npg__wide_end(&w, st);
 *
 * Scratch comes from the backend's allocator (its cache once warm) and is
 * released at npg__wide_end, after the kernel is queued: the backends' free
 * is ordered after queued work on their stream.
 */
#include "internal.h"

void npg__wide_begin(npg_wide *w, const npg_backend *be, int dev) {
    memset(w, 0, sizeof *w);
    w->be = be;
    w->dev = dev;
}

/* A float32 layout for d's elements: broadcast (stride 0) and size-1 dims
 * take no room, the rest are row-major. Returns the element count. */
static int64_t wide_layout(const npg_tdesc *d, npg_tdesc *wd) {
    *wd = *d;
    wd->dtype = NPG_FLOAT32;
    wd->data = NULL;
    int64_t run = 1;
    for (int i = d->ndim - 1; i >= 0; i--) {
        if (d->strides[i] == 0 || d->shape[i] == 1) {
            wd->strides[i] = 0;
        } else {
            wd->strides[i] = run;
            run *= d->shape[i];
        }
    }
    return run;
}

/* The descriptors of one element per broadcast dim (a copy writes each
 * float32 element once). */
static void squeeze_bcast(const npg_tdesc *like, npg_tdesc *d) {
    for (int i = 0; i < like->ndim; i++)
        if (like->strides[i] == 0) d->shape[i] = 1;
}

static const npg_tdesc *wide_slot(npg_wide *w, const npg_tdesc *d, bool load, bool store) {
    if (!d || !npg__is_half(d->dtype) || w->st != NPG_OK) return d;
    if (w->n >= NPG_WIDE_MAX) {
        w->st = npg__set_error(NPG_ERR_INTERNAL, "float32 scratch for half operands: more than %d operands",
                               NPG_WIDE_MAX);
        return d;
    }
    npg_wide_slot *s = &w->s[w->n];
    memset(s, 0, sizeof *s);
    s->orig = d;
    NPG_ASSERT(!d->is_scalar); /* weak scalars reach only binary and where, which take half themselves */
    int64_t n = wide_layout(d, &s->w);
    s->nbytes = (size_t)n * sizeof(float);
    npg_status st = w->be->alloc(w->dev, s->nbytes, &s->buf);
    if (st != NPG_OK) {
        w->st = st;
        return d;
    }
    s->w.data = s->buf;
    s->store = store;
    w->n++;
    if (load) {
        npg_tdesc dst = s->w, src = *d;
        squeeze_bcast(d, &dst);
        squeeze_bcast(d, &src);
        st = w->be->copy(w->dev, &dst, &src);
        if (st != NPG_OK) w->st = st;
    }
    return &s->w;
}

const npg_tdesc *npg__wide_in(npg_wide *w, const npg_tdesc *d) { return wide_slot(w, d, true, false); }
const npg_tdesc *npg__wide_out(npg_wide *w, const npg_tdesc *d) { return wide_slot(w, d, false, true); }
const npg_tdesc *npg__wide_inout(npg_wide *w, const npg_tdesc *d) { return wide_slot(w, d, true, true); }
npg_status npg__wide_status(const npg_wide *w) { return w->st; }

npg_status npg__wide_end(npg_wide *w, npg_status st) {
    if (st == NPG_OK && w->st != NPG_OK) st = w->st;
    for (int k = 0; k < w->n; k++) {
        npg_wide_slot *s = &w->s[k];
        if (st == NPG_OK && s->store) {
            npg_tdesc src = s->w, dst = *s->orig;
            squeeze_bcast(s->orig, &src);
            squeeze_bcast(s->orig, &dst);
            st = w->be->copy(w->dev, &dst, &src);
        }
    }
    for (int k = 0; k < w->n; k++)
        if (w->s[k].buf) w->be->free(w->dev, w->s[k].buf, w->s[k].nbytes);
    w->n = 0;
    return st;
}

npg_array *npg__as_f32(npg_array *x) { return x && npg__is_half(x->dtype) ? npg__cast(x, NPG_FLOAT32) : x; }

/* ---- the family entries through npg_wide -------------------------------- */

#define WIDE_CALL(CALL)                          \
    npg_status st = npg__wide_status(&w);        \
    if (st == NPG_OK) st = (CALL);               \
    return npg__wide_end(&w, st)

npg_status npg__k_reduce(const npg_backend *be, int dev, npg_op op, const npg_tdesc *out, const npg_tdesc *in,
                         int nred) {
    if (be->half_reduce) return be->reduce(dev, op, out, in, nred);
    npg_wide w;
    npg__wide_begin(&w, be, dev);
    const npg_tdesc *o = npg__wide_out(&w, out), *i = npg__wide_in(&w, in);
    WIDE_CALL(be->reduce(dev, op, o, i, nred));
}

npg_status npg__k_scan(const npg_backend *be, int dev, npg_op op, const npg_tdesc *out, const npg_tdesc *in,
                       int axis) {
    npg_wide w;
    npg__wide_begin(&w, be, dev);
    const npg_tdesc *o = npg__wide_out(&w, out), *i = npg__wide_in(&w, in);
    WIDE_CALL(be->scan(dev, op, o, i, axis));
}

npg_status npg__k_scatter_add(const npg_backend *be, int dev, const npg_tdesc *out, const npg_tdesc *src,
                              const npg_tdesc *idx, int axis) {
    npg_wide w;
    npg__wide_begin(&w, be, dev);
    const npg_tdesc *o = npg__wide_inout(&w, out), *s = npg__wide_in(&w, src);
    WIDE_CALL(be->scatter_add(dev, o, s, idx, axis));
}

npg_status npg__k_matmul(const npg_backend *be, int dev, const npg_tdesc *out, const npg_tdesc *a,
                         const npg_tdesc *b, bool allow_tf32) {
    if (be->half_matmul) return be->matmul(dev, out, a, b, allow_tf32);
    npg_wide w;
    npg__wide_begin(&w, be, dev);
    const npg_tdesc *o = npg__wide_out(&w, out), *da = npg__wide_in(&w, a), *db = npg__wide_in(&w, b);
    WIDE_CALL(be->matmul(dev, o, da, db, allow_tf32));
}

npg_status npg__k_random(const npg_backend *be, int dev, npg_op op, const npg_tdesc *out, uint64_t seed,
                         uint64_t offset, const npg_kparams *p) {
    npg_wide w;
    npg__wide_begin(&w, be, dev);
    const npg_tdesc *o = npg__wide_out(&w, out);
    WIDE_CALL(be->random(dev, op, o, seed, offset, p));
}

npg_status npg__k_sort(const npg_backend *be, int dev, const npg_tdesc *values, const npg_tdesc *indices,
                       const npg_tdesc *in, bool descending) {
    npg_wide w;
    npg__wide_begin(&w, be, dev);
    const npg_tdesc *v = npg__wide_out(&w, values), *i = npg__wide_in(&w, in);
    WIDE_CALL(be->sort(dev, v, indices, i, descending));
}

npg_status npg__k_nonzero(const npg_backend *be, int dev, const npg_tdesc *out, const npg_tdesc *in) {
    npg_wide w;
    npg__wide_begin(&w, be, dev);
    const npg_tdesc *i = npg__wide_in(&w, in);
    WIDE_CALL(be->nonzero(dev, out, i));
}

npg_status npg__k_softmax(const npg_backend *be, int dev, const npg_tdesc *out, const npg_tdesc *in, bool log) {
    npg_wide w;
    npg__wide_begin(&w, be, dev);
    const npg_tdesc *o = npg__wide_out(&w, out), *i = npg__wide_in(&w, in);
    WIDE_CALL(be->softmax(dev, o, i, log));
}

npg_status npg__k_softmax_backward(const npg_backend *be, int dev, const npg_tdesc *gin, const npg_tdesc *g,
                                   const npg_tdesc *y, bool log) {
    npg_wide w;
    npg__wide_begin(&w, be, dev);
    const npg_tdesc *o = npg__wide_out(&w, gin), *dg = npg__wide_in(&w, g), *dy = npg__wide_in(&w, y);
    WIDE_CALL(be->softmax_backward(dev, o, dg, dy, log));
}

npg_status npg__k_cross_entropy(const npg_backend *be, int dev, const npg_tdesc *loss, const npg_tdesc *lse,
                                const npg_tdesc *x, const npg_tdesc *labels, double eps, bool has_ignore,
                                int64_t ignore_index) {
    npg_wide w;
    npg__wide_begin(&w, be, dev);
    const npg_tdesc *dl = npg__wide_out(&w, loss), *ds = npg__wide_out(&w, lse), *dx = npg__wide_in(&w, x);
    WIDE_CALL(be->cross_entropy(dev, dl, ds, dx, labels, eps, has_ignore, ignore_index));
}

npg_status npg__k_cross_entropy_backward(const npg_backend *be, int dev, const npg_tdesc *gx,
                                         const npg_tdesc *gloss, const npg_tdesc *x, const npg_tdesc *lse,
                                         const npg_tdesc *labels, double eps, bool has_ignore,
                                         int64_t ignore_index) {
    npg_wide w;
    npg__wide_begin(&w, be, dev);
    const npg_tdesc *o = npg__wide_out(&w, gx), *dg = npg__wide_in(&w, gloss), *dx = npg__wide_in(&w, x),
                    *ds = npg__wide_in(&w, lse);
    WIDE_CALL(be->cross_entropy_backward(dev, o, dg, dx, ds, labels, eps, has_ignore, ignore_index));
}

npg_status npg__k_im2col(const npg_backend *be, int dev, const npg_tdesc *cols, const npg_tdesc *x,
                         const npg_conv_geom *g) {
    if (be->half_im2col) return be->im2col(dev, cols, x, g);
    npg_wide w;
    npg__wide_begin(&w, be, dev);
    const npg_tdesc *o = npg__wide_out(&w, cols), *i = npg__wide_in(&w, x);
    WIDE_CALL(be->im2col(dev, o, i, g));
}

npg_status npg__k_col2im(const npg_backend *be, int dev, const npg_tdesc *x, const npg_tdesc *cols,
                         const npg_conv_geom *g) {
    npg_wide w;
    npg__wide_begin(&w, be, dev);
    const npg_tdesc *o = npg__wide_inout(&w, x), *i = npg__wide_in(&w, cols);
    WIDE_CALL(be->col2im(dev, o, i, g));
}

npg_status npg__k_pool2d(const npg_backend *be, int dev, bool is_max, const npg_tdesc *out,
                         const npg_tdesc *argmax, const npg_tdesc *x, const npg_conv_geom *g) {
    npg_wide w;
    npg__wide_begin(&w, be, dev);
    const npg_tdesc *o = npg__wide_out(&w, out), *i = npg__wide_in(&w, x);
    WIDE_CALL(be->pool2d(dev, is_max, o, argmax, i, g));
}

npg_status npg__k_pool2d_backward(const npg_backend *be, int dev, bool is_max, const npg_tdesc *gx,
                                  const npg_tdesc *gout, const npg_tdesc *argmax, const npg_conv_geom *g) {
    npg_wide w;
    npg__wide_begin(&w, be, dev);
    const npg_tdesc *o = npg__wide_inout(&w, gx), *i = npg__wide_in(&w, gout);
    WIDE_CALL(be->pool2d_backward(dev, is_max, o, i, argmax, g));
}

npg_status npg__k_sgd_step(const npg_backend *be, int dev, const npg_tdesc *param, const npg_tdesc *grad,
                           const npg_tdesc *buf, const npg_sgd_hp *hp) {
    npg_wide w;
    npg__wide_begin(&w, be, dev);
    const npg_tdesc *p = npg__wide_inout(&w, param), *g = npg__wide_in(&w, grad), *b = npg__wide_inout(&w, buf);
    WIDE_CALL(be->sgd_step(dev, p, g, b, hp));
}

npg_status npg__k_adam_step(const npg_backend *be, int dev, const npg_tdesc *param, const npg_tdesc *grad,
                            const npg_tdesc *m, const npg_tdesc *v, const npg_adam_hp *hp) {
    npg_wide w;
    npg__wide_begin(&w, be, dev);
    const npg_tdesc *p = npg__wide_inout(&w, param), *g = npg__wide_in(&w, grad), *dm = npg__wide_inout(&w, m),
                    *dv = npg__wide_inout(&w, v);
    WIDE_CALL(be->adam_step(dev, p, g, dm, dv, hp));
}
