/*
 * ops_linalg.c — matmul with NumPy's rules (1-d promotion, broadcast batch
 * dims) on the backend's batched matmul entry, and vecdot / dot / outer.
 */
#include "internal.h"

/* Make the last two dims of d a BLAS-ready matrix if the strides allow:
 * row-major (column stride 1) or column-major (row stride 1). Strides of
 * length-1 dims are free to choose. */
static bool blas_ready(npg_tdesc *d) {
    int r = d->ndim - 2, c = d->ndim - 1;
    int64_t R = d->shape[r], C = d->shape[c], sr = d->strides[r], sc = d->strides[c];
    int64_t mc = C > 1 ? C : 1, mr = R > 1 ? R : 1;
    if ((C == 1 || sc == 1) && (R == 1 || sr >= mc)) {
        d->strides[c] = 1;
        d->strides[r] = R == 1 ? mc : sr;
        return true;
    }
    if ((R == 1 || sr == 1) && (C == 1 || sc >= mr)) {
        d->strides[r] = 1;
        d->strides[c] = C == 1 ? mr : sc;
        return true;
    }
    return false;
}

npg_array *npg_matmul(npg_array *a, npg_array *b) {
    const char *fn = "npg_matmul";
    if (npg__any_null(fn, 2, a, b)) return NULL;
    if (!npg__check_devices(fn, 2, (npg_array *[]){a, b})) return NULL;
    if (a->ndim == 0 || b->ndim == 0) {
        npg__set_error(NPG_ERR_SHAPE, "%s: input operand %d does not have enough dimensions (0-d; use npg_multiply)", fn,
                       a->ndim == 0 ? 0 : 1);
        return NULL;
    }
    npg_dtype dt = npg_result_type(a->dtype, b->dtype);
    bool a1 = a->ndim == 1, b1 = b->ndim == 1;
    /* matrix views of the shapes */
    int an = a1 ? 2 : a->ndim, bn = b1 ? 2 : b->ndim;
    int64_t as[NPG_MAX_DIMS + 1], bs[NPG_MAX_DIMS + 1];
    if (a1) {
        as[0] = 1;
        as[1] = a->shape[0];
    } else {
        memcpy(as, a->shape, sizeof(int64_t) * (size_t)an);
    }
    if (b1) {
        bs[0] = b->shape[0];
        bs[1] = 1;
    } else {
        memcpy(bs, b->shape, sizeof(int64_t) * (size_t)bn);
    }
    int64_t M = as[an - 2], K = as[an - 1], K2 = bs[bn - 2], N = bs[bn - 1];
    if (K != K2) {
        char sa[NPG_SHAPE_BUF], sb[NPG_SHAPE_BUF];
        npg__set_error(NPG_ERR_SHAPE, "%s: shapes %s and %s are not aligned (%lld != %lld)", fn,
                       npg__shape_str(sa, sizeof sa, a->ndim, a->shape), npg__shape_str(sb, sizeof sb, b->ndim, b->shape),
                       (long long)K, (long long)K2);
        return NULL;
    }
    int nb;
    int64_t batch[NPG_MAX_DIMS];
    if (!npg__broadcast_shapes(fn, an - 2, as, bn - 2, bs, &nb, batch)) return NULL;
    int od = nb + 2;
    int64_t oshape[NPG_MAX_DIMS + 2];
    memcpy(oshape, batch, sizeof(int64_t) * (size_t)nb);
    oshape[nb] = M;
    oshape[nb + 1] = N;
    /* the result's shape drops the axes added for 1-d operands */
    int64_t rshape[NPG_MAX_DIMS];
    int rd = 0;
    for (int i = 0; i < nb; i++) rshape[rd++] = batch[i];
    if (!a1) rshape[rd++] = M;
    if (!b1) rshape[rd++] = N;
    if (od > NPG_MAX_DIMS) {
        npg__set_error(NPG_ERR_SHAPE, "%s: too many dimensions", fn);
        return NULL;
    }
    npg_scope s = npg_scope_begin();
    npg_status st = NPG_OK;
    npg_array *ac = npg__cast(a, dt), *bc = ac ? npg__cast(b, dt) : NULL;
    npg_array *out = bc ? npg__alloc_like_dev(fn, dt, rd, rshape, a) : NULL;
    if (!out) st = npg_last_status();
    if (st == NPG_OK && npg__numel(rd, rshape) > 0) {
        npg_tdesc o, da, db;
        npg__desc(out, &o);
        o.ndim = od;
        for (int i = 0; i < od; i++) o.shape[i] = oshape[i];
        npg__contiguous_strides(od, o.shape, o.strides);
        /* operands as (batch..., M, K) and (batch..., K, N) */
        npg_array *av = ac, *bv = bc;
        for (int pass = 0; pass < 2 && st == NPG_OK; pass++) {
            npg__desc(av, &da);
            npg__desc(bv, &db);
            npg_tdesc ta = da, tb = db;
            ta.ndim = an;
            tb.ndim = bn;
            if (a1) {
                ta.shape[0] = 1;
                ta.shape[1] = K;
                ta.strides[0] = K;
                ta.strides[1] = av->strides[0];
            }
            if (b1) {
                tb.shape[0] = K;
                tb.shape[1] = 1;
                tb.strides[0] = bv->strides[0];
                tb.strides[1] = 1;
            }
            /* broadcast batch dims */
            npg_tdesc fa = ta, fb = tb;
            fa.ndim = fb.ndim = od;
            for (int i = od - 1; i >= 0; i--) {
                int ja = i - (od - an), jb = i - (od - bn);
                fa.shape[i] = i >= nb ? ta.shape[ja] : batch[i];
                fb.shape[i] = i >= nb ? tb.shape[jb] : batch[i];
                fa.strides[i] = (ja >= 0 && (i >= nb || ta.shape[ja] == batch[i])) ? ta.strides[ja] : 0;
                fb.strides[i] = (jb >= 0 && (i >= nb || tb.shape[jb] == batch[i])) ? tb.strides[jb] : 0;
            }
            bool ra = blas_ready(&fa), rb = blas_ready(&fb);
            if (ra && rb) {
                const bool tf32 = __atomic_load_n(&npg__tf32, __ATOMIC_RELAXED);
                st = npg__k_matmul(npg__backend_of(a), a->storage->dev, &o, &fa, &fb, tf32);
                break;
            }
            if (pass == 1) {
                st = npg__set_error(NPG_ERR_INTERNAL, "%s: could not lay out operands for BLAS", fn);
                break;
            }
            npg_no_grad_begin();
            if (!ra) av = npg_copy(ac);
            if (!rb) bv = npg_copy(bc);
            npg_no_grad_end();
            if (!av || !bv) st = npg_last_status();
        }
    }
    if (st == NPG_OK && npg_is_floating(dt)) {
        npg_array *ins[2] = {ac, bc};
        if (npg__needs_grad(2, ins)) npg__record(NPG_OP_MATMUL, out, 2, ins);
    }
    if (st != NPG_OK) {
        npg_free(out);
        out = NULL;
    }
    return npg__finish(fn, s, out);
}

npg_array *npg_vecdot(npg_array *a, npg_array *b, int axis) {
    const char *fn = "npg_vecdot";
    if (npg__any_null(fn, 2, a, b)) return NULL;
    int nd, ax;
    int64_t shape[NPG_MAX_DIMS];
    if (!npg__broadcast_shapes(fn, a->ndim, a->shape, b->ndim, b->shape, &nd, shape)) return NULL;
    if (!npg__norm_axis(fn, axis, nd, &ax)) return NULL;
    npg_dtype dt = npg_result_type(a->dtype, b->dtype);
    npg_scope s = npg_scope_begin();
    npg_array *r = npg_sum(npg_multiply(a, b), NPG_AXES(ax), false);
    /* the sum of integers widens to int64; vecdot keeps the promoted dtype (like NumPy) */
    if (r && r->dtype != dt) r = npg_astype(r, dt);
    return npg__finish(fn, s, r);
}

npg_array *npg_dot(npg_array *a, npg_array *b) {
    const char *fn = "npg_dot";
    if (npg__any_null(fn, 2, a, b)) return NULL;
    if (a->ndim == 0 || b->ndim == 0) return npg_multiply(a, b);
    if (a->ndim > 2 || b->ndim > 2) {
        npg__set_error(NPG_ERR_SHAPE, "%s: only 0-d, 1-d and 2-d operands are supported (got %d-d and %d-d; use npg_matmul)",
                       fn, a->ndim, b->ndim);
        return NULL;
    }
    if (a->ndim == 1 && b->ndim == 1) {
        if (a->shape[0] != b->shape[0]) {
            npg__set_error(NPG_ERR_SHAPE, "%s: shapes (%lld,) and (%lld,) are not aligned", fn, (long long)a->shape[0],
                           (long long)b->shape[0]);
            return NULL;
        }
        return npg_vecdot(a, b, 0);
    }
    int64_t ka = a->shape[a->ndim - 1], kb = b->shape[b->ndim == 1 ? 0 : b->ndim - 2];
    if (ka != kb) {
        char sa[NPG_SHAPE_BUF], sb[NPG_SHAPE_BUF];
        npg__set_error(NPG_ERR_SHAPE, "%s: shapes %s and %s are not aligned (%lld != %lld)", fn,
                       npg__shape_str(sa, sizeof sa, a->ndim, a->shape), npg__shape_str(sb, sizeof sb, b->ndim, b->shape),
                       (long long)ka, (long long)kb);
        return NULL;
    }
    return npg_matmul(a, b);
}

npg_array *npg_outer(npg_array *a, npg_array *b) {
    const char *fn = "npg_outer";
    if (npg__any_null(fn, 2, a, b)) return NULL;
    npg_scope s = npg_scope_begin();
    npg_array *r = npg_multiply(npg_reshape(a, NPG_SHAPE(-1, 1)), npg_reshape(b, NPG_SHAPE(1, -1)));
    return npg__finish(fn, s, r);
}
