/*
 * ops_elementwise.c — unary, binary and ternary (where) ops, casts and
 * copies: validation, type promotion, broadcasting and allocation happen
 * here once; the backend's family entry does the loop; the node is recorded
 * last. The public functions are generated from ops.def.
 */
#include "internal.h"

#include <math.h>

/* out (fresh, contiguous) = convert(in); same shape. */
static npg_status copy_kernel(npg_array *out, npg_array *in) {
    if (npg__numel(out->ndim, out->shape) == 0) return NPG_OK;
    npg_tdesc o, i;
    npg__desc(out, &o);
    npg__desc_bcast(in, out->ndim, out->shape, &i);
    npg_tdesc *ds[2] = {&o, &i};
    npg__coalesce(2, ds);
    return npg__backend_of(out)->copy(out->storage->dev, &o, &i);
}

/* ------------------------------------------------------------------------
 * Casts and copies
 * ------------------------------------------------------------------------ */

static npg_array *copy_as(npg_op op, const char *fn, npg_array *x, npg_dtype dtype) {
    if (!x) {
        npg__null_arg(fn);
        return NULL;
    }
    if (!npg__dtype_valid(dtype)) {
        npg__set_error(NPG_ERR_DTYPE, "%s: invalid dtype %d", fn, (int)dtype);
        return NULL;
    }
    npg_array *out = npg__alloc_like_dev(fn, dtype, x->ndim, x->shape, x);
    if (!out) return NULL;
    if (copy_kernel(out, x) != NPG_OK) {
        npg_free(out);
        return NULL;
    }
    if (npg_is_floating(dtype) && npg__needs_grad(1, &x)) npg__record(op, out, 1, &x);
    return out;
}

npg_array *npg__cast(npg_array *x, npg_dtype dtype) {
    if (x && x->dtype == dtype) return x;
    return copy_as(NPG_OP_ASTYPE, "npg_astype", x, dtype);
}

npg_array *npg_astype(npg_array *x, npg_dtype dtype) { return copy_as(NPG_OP_ASTYPE, "npg_astype", x, dtype); }
npg_array *npg_copy(npg_array *x) { return copy_as(NPG_OP_COPY, "npg_copy", x, x ? x->dtype : NPG_FLOAT32); }

/* ------------------------------------------------------------------------
 * Unary
 * ------------------------------------------------------------------------ */

npg_array *npg__unary(npg_op op, const char *fn, npg_array *x, const npg_kparams *p) {
    if (!x) {
        npg__null_arg(fn);
        return NULL;
    }
    npg_dtype cdt, odt;
    if (!npg__elementwise_dtypes(op, fn, x->dtype, &cdt, &odt)) return NULL;
    if (op == NPG_OP_POSITIVE) return copy_as(NPG_OP_POSITIVE, fn, x, x->dtype);
    npg_array *xc = npg__cast(x, cdt);
    if (!xc) return NULL;
    npg_array *out = npg__alloc_like_dev(fn, odt, x->ndim, x->shape, x);
    npg_status st = out ? NPG_OK : npg_last_status();
    if (out && npg__numel(x->ndim, x->shape) > 0) {
        npg_tdesc o, i;
        npg__desc(out, &o);
        npg__desc(xc, &i);
        npg_tdesc *ds[2] = {&o, &i};
        npg__coalesce(2, ds);
        npg_kparams none = {.f = {0}};
        st = npg__backend_of(x)->unary(x->storage->dev, op, &o, &i, p ? p : &none);
    }
    if (st != NPG_OK) {
        npg_free(out);
        if (xc != x) npg_free(xc);
        return NULL;
    }
    if (npg__op_info[op].differentiable && npg_is_floating(odt) && npg__needs_grad(1, &xc)) {
        npg_node *n = npg__record(op, out, 1, &xc);
        if (n && p) n->p = *p;
    }
    if (xc != x) npg_free(xc);
    return out;
}

/* unary ops without parameters: npg_NAME(x) */
#define NPG_GEN_UNARY(ID, name) \
    npg_array *npg_##name(npg_array *x) { return npg__unary(NPG_OP_##ID, "npg_" #name, x, NULL); }
#define NPG_GEN_UNARY_P(ID, name)
#define NPG_GEN_BINARY(ID, name)                                                                         \
    npg_array *npg_##name(npg_array *a, npg_array *b) { return npg__binary(NPG_OP_##ID, "npg_" #name, a, b); } \
    npg_array *npg_##name##_scalar(npg_array *a, double s) {                                            \
        return npg__binary_scalar(NPG_OP_##ID, "npg_" #name "_scalar", a, s, false);                   \
    }                                                                                                    \
    npg_array *npg_scalar_##name(double s, npg_array *b) {                                              \
        return npg__binary_scalar(NPG_OP_##ID, "npg_scalar_" #name, b, s, true);                        \
    }
#define NPG_GEN_WHERE(ID, name)
#define NPG_GEN_REDUCE(ID, name)
#define NPG_GEN_COMPOSITE(ID, name)
#define NPG_GEN_SCAN(ID, name)
#define NPG_GEN_COPY(ID, name)
#define NPG_GEN_VIEW(ID, name)
#define NPG_GEN_INDEX(ID, name)
#define NPG_GEN_SORT(ID, name)
#define NPG_GEN_MATMUL(ID, name)
#define NPG_GEN_RANDOM(ID, name)
#define NPG_GEN_NN(ID, name)
#define NPG_OP(ID, name, family, arity, diff, rule) NPG_GEN_##family(ID, name)
#include "ops.def"
#undef NPG_OP

npg_array *npg_round(npg_array *x, int decimals) {
    npg_kparams p = {.f = {0}};
    p.i[0] = decimals;
    return npg__unary(NPG_OP_ROUND, "npg_round", x, &p);
}

npg_array *npg_clip(npg_array *x, double lo, double hi) {
    if (lo == lo && hi == hi && lo > hi) {
        /* NumPy gives hi everywhere; keep that */
    }
    npg_kparams p = {.f = {0}};
    p.f[0] = lo;
    p.f[1] = hi;
    return npg__unary(NPG_OP_CLIP, "npg_clip", x, &p);
}

npg_array *npg_leaky_relu(npg_array *x, double negative_slope) {
    npg_kparams p = {.f = {0}};
    p.f[0] = negative_slope;
    return npg__unary(NPG_OP_LEAKY_RELU, "npg_leaky_relu", x, &p);
}

/* ------------------------------------------------------------------------
 * Binary
 * ------------------------------------------------------------------------ */

static bool binary_dtypes(npg_op op, const char *fn, npg_dtype a, npg_dtype b, npg_dtype *cdt, npg_dtype *odt) {
    npg_dtype promoted = npg_result_type(a, b);
    if (op == NPG_OP_DIVIDE && promoted == NPG_BOOL) promoted = NPG_FLOAT32;
    if (!npg__elementwise_dtypes(op, fn, promoted, cdt, odt)) {
        if (a != b)
            npg__set_error(NPG_ERR_DTYPE, "%s: dtypes %s and %s are not supported (they promote to %s)", fn,
                           npg_dtype_name(a), npg_dtype_name(b), npg_dtype_name(promoted));
        return false;
    }
    return true;
}

npg_array *npg__binary(npg_op op, const char *fn, npg_array *a, npg_array *b) {
    if (npg__any_null(fn, 2, a, b)) return NULL;
    npg_array *xs[2] = {a, b};
    if (!npg__check_devices(fn, 2, xs)) return NULL;
    npg_dtype cdt, odt;
    if (!binary_dtypes(op, fn, a->dtype, b->dtype, &cdt, &odt)) return NULL;
    int nd;
    int64_t shape[NPG_MAX_DIMS];
    if (!npg__broadcast_shapes(fn, a->ndim, a->shape, b->ndim, b->shape, &nd, shape)) return NULL;
    npg_array *ac = npg__cast(a, cdt);
    npg_array *bc = ac ? npg__cast(b, cdt) : NULL;
    npg_array *out = bc ? npg__alloc_like_dev(fn, odt, nd, shape, a) : NULL;
    npg_status st = out ? NPG_OK : npg_last_status();
    if (out && npg__numel(nd, shape) > 0) {
        npg_tdesc o, da, db;
        npg__desc(out, &o);
        npg__desc_bcast(ac, nd, shape, &da);
        npg__desc_bcast(bc, nd, shape, &db);
        npg_tdesc *ds[3] = {&o, &da, &db};
        npg__coalesce(3, ds);
        st = npg__backend_of(a)->binary(a->storage->dev, op, &o, &da, &db);
    }
    if (st == NPG_OK && npg__op_info[op].differentiable && npg_is_floating(odt)) {
        npg_array *ins[2] = {ac, bc};
        if (npg__needs_grad(2, ins)) npg__record(op, out, 2, ins);
    }
    if (ac && ac != a) npg_free(ac);
    if (bc && bc != b) npg_free(bc);
    if (st != NPG_OK) {
        npg_free(out);
        return NULL;
    }
    return out;
}

npg_array *npg__binary_scalar(npg_op op, const char *fn, npg_array *a, double s, bool scalar_first) {
    if (!a) {
        npg__null_arg(fn);
        return NULL;
    }
    npg_dtype cdt, odt;
    if (!binary_dtypes(op, fn, a->dtype, a->dtype, &cdt, &odt)) return NULL;
    npg_array *ac = npg__cast(a, cdt);
    if (!ac) return NULL;
    npg_array *out = npg__alloc_like_dev(fn, odt, a->ndim, a->shape, a);
    npg_status st = out ? NPG_OK : npg_last_status();
    if (out && npg__numel(a->ndim, a->shape) > 0) {
        npg_tdesc o, da, ds_;
        npg__desc(out, &o);
        npg__desc(ac, &da);
        npg__desc_scalar(cdt, s, &ds_);
        npg_tdesc *ds[3] = {&o, &da, &ds_};
        npg__coalesce(3, ds);
        st = scalar_first ? npg__backend_of(a)->binary(a->storage->dev, op, &o, &ds_, &da)
                          : npg__backend_of(a)->binary(a->storage->dev, op, &o, &da, &ds_);
    }
    if (st == NPG_OK && npg__op_info[op].differentiable && npg_is_floating(odt) && npg__needs_grad(1, &ac)) {
        npg_node *n = npg__record_ex(op, out, 1, &ac, true);
        if (n) {
            n->has_scalar = true;
            n->scalar_first = scalar_first;
            npg_tdesc sd;
            npg__desc_scalar(cdt, s, &sd);
            n->scalar = sd.scalar; /* the value as the kernel saw it */
        }
    }
    if (ac != a) npg_free(ac);
    if (st != NPG_OK) {
        npg_free(out);
        return NULL;
    }
    return out;
}

/* ------------------------------------------------------------------------
 * where
 * ------------------------------------------------------------------------ */

static npg_array *where_impl(const char *fn, npg_array *cond, npg_array *a, npg_array *b, double s, int scalar_pos) {
    /* scalar_pos: 0 none, 1 = a is the scalar s, 2 = b is the scalar s */
    npg_array *x = scalar_pos == 1 ? b : a; /* the array operand that sets dtype when one is scalar */
    if (scalar_pos == 0 ? npg__any_null(fn, 3, cond, a, b) : npg__any_null(fn, 2, cond, x)) return NULL;
    npg_array *xs[3] = {cond, scalar_pos == 1 ? b : a, b};
    if (!npg__check_devices(fn, scalar_pos ? 2 : 3, xs)) return NULL;
    npg_dtype dt = scalar_pos ? x->dtype : npg_result_type(a->dtype, b->dtype);
    int nd;
    int64_t shape[NPG_MAX_DIMS];
    if (!npg__broadcast_shapes(fn, cond->ndim, cond->shape, x->ndim, x->shape, &nd, shape)) return NULL;
    if (!scalar_pos && !npg__broadcast_shapes(fn, nd, shape, b->ndim, b->shape, &nd, shape)) return NULL;
    npg_array *cb = npg__cast(cond, NPG_BOOL);
    npg_array *ac = NULL, *bc = NULL;
    if (cb && scalar_pos != 1) ac = npg__cast(a, dt);
    if (cb && scalar_pos != 2 && (scalar_pos == 1 || ac)) bc = npg__cast(b, dt);
    bool ok = cb && (scalar_pos == 1 || ac) && (scalar_pos == 2 || bc);
    npg_array *out = ok ? npg__alloc_like_dev(fn, dt, nd, shape, x) : NULL;
    npg_status st = out ? NPG_OK : npg_last_status();
    if (out && npg__numel(nd, shape) > 0) {
        npg_tdesc o, dc, da, db;
        npg__desc(out, &o);
        npg__desc_bcast(cb, nd, shape, &dc);
        if (scalar_pos == 1)
            npg__desc_scalar(dt, s, &da);
        else
            npg__desc_bcast(ac, nd, shape, &da);
        if (scalar_pos == 2)
            npg__desc_scalar(dt, s, &db);
        else
            npg__desc_bcast(bc, nd, shape, &db);
        npg_tdesc *ds[4] = {&o, &dc, &da, &db};
        npg__coalesce(4, ds);
        st = npg__backend_of(x)->where(x->storage->dev, &o, &dc, &da, &db);
    }
    if (st == NPG_OK && npg_is_floating(dt)) {
        npg_array *ins[3] = {cb, scalar_pos == 1 ? bc : ac, bc};
        int n = scalar_pos ? 2 : 3;
        if (npg__needs_grad(n, ins)) {
            npg_node *node = npg__record_ex(NPG_OP_WHERE, out, n, ins, scalar_pos != 0);
            if (node && scalar_pos) {
                node->has_scalar = true;
                node->scalar_first = scalar_pos == 1;
                node->scalar = s;
            }
        }
    }
    if (cb && cb != cond) npg_free(cb);
    if (ac && ac != a) npg_free(ac);
    if (bc && bc != b) npg_free(bc);
    if (st != NPG_OK) {
        npg_free(out);
        return NULL;
    }
    return out;
}

npg_array *npg_where(npg_array *cond, npg_array *a, npg_array *b) { return where_impl("npg_where", cond, a, b, 0, 0); }
npg_array *npg_where_scalar(npg_array *cond, npg_array *a, double s) {
    return where_impl("npg_where_scalar", cond, a, NULL, s, 2);
}
npg_array *npg_scalar_where(npg_array *cond, double s, npg_array *b) {
    return where_impl("npg_scalar_where", cond, NULL, b, s, 1);
}

/* ------------------------------------------------------------------------
 * In-place writes
 * ------------------------------------------------------------------------ */

npg_status npg_fill(npg_array *x, double value) {
    const char *fn = "npg_fill";
    if (!x) {
        npg__null_arg(fn);
        return npg_last_status();
    }
    if (!npg__check_writable(fn, x)) return npg_last_status();
    if (npg__numel(x->ndim, x->shape) > 0) {
        npg_tdesc d;
        npg__desc(x, &d);
        npg__coalesce(1, (npg_tdesc *[]){&d});
        int64_t iv = npg__f64_to_ivalue(x->dtype, value);
        npg_status st = npg__backend_of(x)->fill(x->storage->dev, &d, value, iv);
        if (st != NPG_OK) return st;
    }
    npg__bump_version(x);
    return NPG_OK;
}

npg_status npg_assign(npg_array *x, npg_array *src) {
    const char *fn = "npg_assign";
    if (npg__any_null(fn, 2, x, src)) return npg_last_status();
    npg_array *xs[2] = {x, src};
    if (!npg__check_devices(fn, 2, xs)) return npg_last_status();
    if (!npg__check_writable(fn, x)) return npg_last_status();
    int nd;
    int64_t shape[NPG_MAX_DIMS];
    if (!npg__broadcast_shapes(fn, x->ndim, x->shape, src->ndim, src->shape, &nd, shape)) return npg_last_status();
    if (nd != x->ndim || memcmp(shape, x->shape, sizeof(int64_t) * (size_t)nd) != 0) {
        char sa[NPG_SHAPE_BUF], sb[NPG_SHAPE_BUF];
        return npg__set_error(NPG_ERR_SHAPE, "%s: value of shape %s cannot be broadcast to the target shape %s", fn,
                              npg__shape_str(sa, sizeof sa, src->ndim, src->shape),
                              npg__shape_str(sb, sizeof sb, x->ndim, x->shape));
    }
    if (npg__numel(x->ndim, x->shape) > 0) {
        /* if src shares storage with x, copy it first (overlap) */
        npg_array *s = src;
        if (src->storage == x->storage) {
            s = npg_copy(src);
            if (!s) return npg_last_status();
        }
        npg_tdesc o, i;
        npg__desc(x, &o);
        npg__desc_bcast(s, x->ndim, x->shape, &i);
        npg_tdesc *ds[2] = {&o, &i};
        npg__coalesce(2, ds);
        npg_status st = npg__backend_of(x)->copy(x->storage->dev, &o, &i);
        if (s != src) npg_free(s);
        if (st != NPG_OK) return st;
    }
    npg__bump_version(x);
    return NPG_OK;
}

/* ------------------------------------------------------------------------
 * Moving between devices
 * ------------------------------------------------------------------------ */

npg_array *npg_to(npg_array *x, npg_device device) {
    const char *fn = "npg_to";
    if (!x) {
        npg__null_arg(fn);
        return NULL;
    }
    npg_device d;
    const npg_backend *be;
    if (!npg__resolve_device(fn, device, &d, &be)) return NULL;
    if (be == npg__backend_of(x) && d.index == x->storage->dev) return npg__alias(x);
    npg_no_grad_begin();
    npg_array *xc = npg_contiguous(x);
    npg_no_grad_end();
    if (!xc) return NULL;
    npg_array *out = npg__alloc(fn, x->dtype, x->ndim, x->shape, d);
    npg_status st = out ? NPG_OK : npg_last_status();
    size_t nb = (size_t)npg__numel(x->ndim, x->shape) * npg__dtype_size(x->dtype);
    if (out && nb > 0) {
        const npg_backend *src = npg__backend_of(xc);
        npg_tdesc s, o;
        npg__desc(xc, &s);
        npg__desc(out, &o);
        if (src == &npg_cpu_backend) {
            st = be->copy_h2d(d.index, o.data, s.data, nb);
        } else if (be == &npg_cpu_backend) {
            st = src->copy_d2h(xc->storage->dev, o.data, s.data, nb);
        } else { /* device to device through the host */
            void *tmp = malloc(nb);
            if (!tmp) st = npg__set_error(NPG_ERR_OOM, "%s: out of host memory", fn);
            if (st == NPG_OK) st = src->copy_d2h(xc->storage->dev, tmp, s.data, nb);
            if (st == NPG_OK) st = be->copy_h2d(d.index, o.data, tmp, nb);
            free(tmp);
        }
    }
    npg_free(xc);
    if (st != NPG_OK) {
        npg_free(out);
        return NULL;
    }
    if (npg_is_floating(x->dtype) && npg__needs_grad(1, &x)) npg__record(NPG_OP_TO_DEVICE, out, 1, &x);
    return out;
}
