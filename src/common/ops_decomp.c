/*
 * ops_decomp.c — linear algebra (npg/linalg.h): decompositions, solves,
 * inverses, determinants, norms.
 *
 * The factorizations run on the backend's LAPACK-style entries (backend.h:
 * potrf, getrf, getrs, trsm, qr, syevd, gesvd), which take batches of
 * column-major matrices. A row-major matrix's transpose is its column-major
 * self, so an input goes to the backend as a contiguous copy of its
 * transposed view (colmajor below), and a column-major result comes back as
 * the transposed view of its buffer: one copy in, none out.
 *
 * Autograd: the forward runs without recording, and npg_custom then gives
 * the result a node whose rule is written in npg ops (so create_graph
 * differentiates it again). A function with several differentiable results
 * (qr, eigh, svd) packs them into one array per batch element — (..., sum of
 * the parts' sizes) — recorded as one node, and returns strided views into
 * it: backward sees every part's gradient at once, the rule reads the parts
 * back as views of the saved output and of the incoming gradient, and no
 * reference cycle forms between results. Everything else (inv, det, pinv,
 * norms, matrix_power, cross) is composed from these and from other ops.
 */
#include "internal.h"

#include <math.h>

/* ---- shared helpers ------------------------------------------------------------------------- */

/* Linear algebra computes in the input's floating dtype, or float32. */

/* x is a stack of matrices (square when asked). */
static bool mat_check(const char *fn, const npg_array *x, bool square) {
    char sa[NPG_SHAPE_BUF];
    if (x->ndim < 2) {
        npg__set_error(NPG_ERR_SHAPE, "%s: the input has shape %s (a matrix needs at least 2 dimensions)", fn,
                       npg__shape_str(sa, sizeof sa, x->ndim, x->shape));
        return false;
    }
    if (square && x->shape[x->ndim - 1] != x->shape[x->ndim - 2]) {
        npg__set_error(NPG_ERR_SHAPE, "%s: the matrices of shape %s are not square", fn,
                       npg__shape_str(sa, sizeof sa, x->ndim, x->shape));
        return false;
    }
    return true;
}

/* LAPACK and cuSOLVER factor float32 and float64 only; like NumPy and
 * PyTorch, the half types are refused rather than silently widened. */
static bool lapack_check(const char *fn, const npg_array *x) {
    if (!npg__is_half(x->dtype)) return true;
    npg__set_error(NPG_ERR_DTYPE, "%s: %s matrices are not supported (cast them to float32)", fn,
                   npg_dtype_name(x->dtype));
    return false;
}

static int64_t batch_count(const npg_array *x) { return npg__numel(x->ndim - 2, x->shape); }

/* x's matrices in column-major order: a new contiguous (..., c, r) array of
 * dtype dt holding the transpose of each (r, c) matrix. */
static npg_array *colmajor(npg_array *x, npg_dtype dt) {
    npg_array *c = npg_astype(npg_matrix_transpose(x), dt);
    NPG_ASSERT(!c || npg__is_contiguous(c));
    return c;
}

/* The column-major (r, c) matrices held in contiguous buf (..., c, r), as a
 * row-major (..., r, c) view. */
static npg_array *rowmajor(npg_array *buf) { return npg_matrix_transpose(buf); }

/* A new uninitialised array of x's device: shape = x's batch dims + tail. */
static npg_array *alloc_batch(const char *fn, npg_dtype dt, const npg_array *x, int nb, const int64_t *bshape,
                              int nt, const int64_t *tail) {
    int64_t shape[NPG_MAX_DIMS + 2];
    memcpy(shape, bshape, sizeof(int64_t) * (size_t)nb);
    memcpy(shape + nb, tail, sizeof(int64_t) * (size_t)nt);
    if (nb + nt > NPG_MAX_DIMS) {
        npg__set_error(NPG_ERR_SHAPE, "%s: the result would have %d dimensions (at most %d)", fn, nb + nt,
                       NPG_MAX_DIMS);
        return NULL;
    }
    return npg__alloc_like_dev(fn, dt, nb + nt, shape, x);
}

enum { LA_NOT_PD, LA_SINGULAR, LA_NO_CONVERGENCE };

/* NPG_ERR_LINALG for the first matrix whose LAPACK info is > 0. */
static bool info_ok(const char *fn, const int *info, int64_t batch, int kind) {
    for (int64_t k = 0; k < batch; k++) {
        if (info[k] <= 0) continue;
        char where[64] = "";
        if (batch > 1) snprintf(where, sizeof where, " %lld of the batch", (long long)k);
        if (kind == LA_NOT_PD)
            npg__set_error(NPG_ERR_LINALG,
                           "%s: matrix%s is not positive definite (its leading minor of order %d is not)", fn, where,
                           info[k]);
        else if (kind == LA_SINGULAR)
            npg__set_error(NPG_ERR_LINALG, "%s: matrix%s is singular (U[%d, %d] of its LU factorization is zero)",
                           fn, where, info[k] - 1, info[k] - 1);
        else
            npg__set_error(NPG_ERR_LINALG, "%s: the decomposition of matrix%s did not converge (LAPACK info %d)", fn,
                           where, info[k]);
        return false;
    }
    return true;
}

/* NPG_ERR_LINALG unless every entry of each matrix of m (..., r, c) is
 * finite. cholesky, eigh and svd check their input first: LAPACK's syevd
 * turns a NaN into finite eigenvalues, OpenBLAS 0.3.21's gesdd never returns
 * on an infinity, potrf passes an infinity through, and cuSOLVER documents
 * none of these: one rule for both devices. Reads one bool per
 * matrix on the host (a synchronisation on CUDA, as the info read is). */
static bool finite_ok(const char *fn, npg_array *m) {
    if (!m) return false; /* the error that made it NULL stands */
    if (!npg_is_floating(m->dtype)) return true;
    npg_array *fin = npg_all(npg_isfinite(m), NPG_AXES(-2, -1), false);
    if (!fin) return false;
    const int64_t nb = npg_size(fin);
    bool one, *h = nb <= 1 ? &one : malloc((size_t)nb);
    bool ok = h && npg_copy_to_host(fin, h, (size_t)nb) == NPG_OK;
    if (!h) npg__set_error(NPG_ERR_OOM, "%s: out of memory", fn);
    for (int64_t k = 0; ok && k < nb; k++) {
        if (h[k]) continue;
        char where[64] = "";
        if (nb > 1) snprintf(where, sizeof where, " %lld of the batch", (long long)k);
        npg__set_error(NPG_ERR_LINALG, "%s: matrix%s has non-finite entries (inf or NaN)", fn, where);
        ok = false;
    }
    if (h != &one) free(h);
    return ok;
}

/* A host int per matrix (at least one). */
static int *info_new(const char *fn, int64_t batch) {
    int *p = calloc((size_t)(batch > 0 ? batch : 1), sizeof(int));
    if (!p) npg__set_error(NPG_ERR_OOM, "%s: out of memory", fn);
    return p;
}

/* Backend status -> false (the backend has set the error). */
static bool be_ok(npg_status st) { return st == NPG_OK; }

/* Give y (computed without recording) a node over inputs with rule bw; y
 * itself when no input needs a gradient. */
static npg_array *record(const char *name, npg_array *y, int n, npg_array *const *in, npg_custom_backward bw,
                         intptr_t flags) {
    if (!y || !npg__needs_grad(n, in)) return y;
    return npg_custom(name, y, n, in, bw, (void *)flags, NULL);
}

/* x[..., :, c0:c1] and x[..., r0:r1, :]: views (no copy), differentiable. */
static npg_array *cols(npg_array *x, int64_t c0, int64_t c1) { return NPG_INDEX(x, NPG_ELLIPSIS, NPG_SLICE(c0, c1, 1)); }
static npg_array *rows(npg_array *x, int64_t r0, int64_t r1) {
    return NPG_INDEX(x, NPG_ELLIPSIS, NPG_SLICE(r0, r1, 1), NPG_ALL);
}

/* ---- sign conventions ---------------------------------------------------------------------- */

/* LAPACK and cuSOLVER may return a QR factor, an eigenvector or a pair of
 * singular vectors with opposite signs (both are right). npg fixes them, so
 * both devices give the same answer: R's diagonal is >= 0, and each
 * eigenvector and left singular vector has its entry of largest magnitude
 * positive (the first such entry on ties; its right singular vector follows).
 * The backward rules hold for any valid signs, so they are unaffected. */

/* -1 where v < 0, else 1 (v's shape and dtype). */
static npg_array *sign_pm(npg_array *v) {
    return v ? npg_scalar_where(npg_less_scalar(v, 0), -1, npg_ones_like(v, NULL)) : NULL;
}

/* s (..., k) padded with ones to (..., c) along `axis` (-1 or -2). */
static npg_array *pad_ones(npg_array *s, int64_t c, int axis) {
    if (!s) return NULL;
    const int a = s->ndim + axis;
    if (s->shape[a] >= c) return s;
    npg_shape sh = npg_shape_of(s);
    sh.dims[a] = c - s->shape[a];
    npg_array *one = npg_ones(sh, NPG_OPTS(.dtype = s->dtype, .device = npg__device_of(s)));
    return one ? npg_concat((npg_array *[]){s, one}, 2, axis) : NULL;
}

/* The signs (..., 1, k) that make the first k columns of V (..., r, c) have
 * their largest-magnitude entry positive. */
static npg_array *col_signs(npg_array *V, int64_t k) {
    npg_array *Vk = cols(V, 0, k);
    return sign_pm(npg_take_along_axis(Vk, npg_argmax(npg_abs(Vk), -2, true), -2));
}

/* ---- packing several results into one recorded array ------------------------------------- */

/* parts[i] (..., dims) flattened and joined along a last axis: (..., total). */
static npg_array *pack(npg_array *const *parts, int n, int nb) {
    npg_array *flat[4];
    for (int i = 0; i < n; i++) {
        if (!parts[i]) return NULL;
        npg_shape s = {.ndim = nb + 1};
        memcpy(s.dims, parts[i]->shape, sizeof(int64_t) * (size_t)nb);
        s.dims[nb] = npg__numel(parts[i]->ndim - nb, parts[i]->shape + nb);
        flat[i] = npg_reshape(parts[i], s);
    }
    return npg_concat(flat, n, nb);
}

/* The part (..., dims) at offset `off` of each row of packed P (..., total):
 * a strided view, differentiable. */
static npg_array *part(npg_array *P, int nb, int nt, const int64_t *dims, int64_t off) {
    if (!P) return NULL;
    int64_t shape[NPG_MAX_DIMS], strides[NPG_MAX_DIMS];
    int64_t st = 1;
    for (int i = nt - 1; i >= 0; i--) {
        shape[nb + i] = dims[i];
        strides[nb + i] = st;
        st *= dims[i];
    }
    int64_t row = P->shape[nb];
    for (int i = nb - 1; i >= 0; i--) {
        shape[i] = P->shape[i];
        strides[i] = row;
        row *= P->shape[i];
    }
    return npg__strided_view(P, nb + nt, shape, strides, off);
}

/* ---- triangular solve ---------------------------------------------------------------------- */

enum { TRI_UPPER = 1, TRI_UNIT = 2 };

/* The gradients of X = A^-1 B (A triangular when tri_flags >= 0): gB =
 * A^-T gX is given; gA = -gB X^T, kept to A's triangle for a triangular
 * solve; each summed down to its operand's (broadcast) shape. */
static npg_status solve_grads(npg_array *a, npg_array *b, npg_array *gb, npg_array *x, intptr_t tri_flags,
                              npg_array **gin) {
    if (npg_requires_grad(a)) {
        npg_array *ga = npg_negative(npg_matmul(gb, npg_matrix_transpose(x)));
        if (tri_flags >= 0) {
            bool unit = tri_flags & TRI_UNIT;
            ga = tri_flags & TRI_UPPER ? npg_triu(ga, unit ? 1 : 0) : npg_tril(ga, unit ? -1 : 0);
        }
        gin[0] = ga ? npg__sum_to(ga, a->ndim, a->shape) : NULL;
        if (!gin[0]) return npg_last_status();
    }
    if (npg_requires_grad(b)) {
        gin[1] = gb ? npg__sum_to(gb, b->ndim, b->shape) : NULL;
        if (!gin[1]) return npg_last_status();
    }
    return NPG_OK;
}

static npg_status tri_bw(void *ctx, npg_array *g, int n, npg_array *const *in, npg_array *x, npg_array **gin) {
    (void)n;
    intptr_t f = (intptr_t)ctx;
    /* T X = B: gB = T^-T gX (T^T is the other triangle) */
    npg_array *gb = npg_linalg_solve_triangular(npg_matrix_transpose(in[0]), g, !(f & TRI_UPPER), f & TRI_UNIT);
    return solve_grads(in[0], in[1], gb, x, f, gin);
}

/* Broadcast the batches of a (..., n, n) and b (..., n, k); shapes into
 * *nb / bshape. */
static bool batch_bcast(const char *fn, const npg_array *a, const npg_array *b, int *nb, int64_t *bshape) {
    return npg__broadcast_shapes(fn, a->ndim - 2, a->shape, b->ndim - 2, b->shape, nb, bshape);
}

/* x broadcast to bshape + its own last two dims. */
static npg_array *bcast_mat(npg_array *x, int nb, const int64_t *bshape) {
    npg_shape s = {.ndim = nb + 2};
    memcpy(s.dims, bshape, sizeof(int64_t) * (size_t)nb);
    s.dims[nb] = x->shape[x->ndim - 2];
    s.dims[nb + 1] = x->shape[x->ndim - 1];
    return npg_broadcast_to(x, s);
}

/* Checks shared by solve and solve_triangular: a square, b (..., n, k). */
static bool solve_check(const char *fn, npg_array *a, npg_array *b) {
    if (!npg__check_devices(fn, 2, (npg_array *[]){a, b}) || !lapack_check(fn, a) || !lapack_check(fn, b) || !mat_check(fn, a, true)) return false;
    char sa[NPG_SHAPE_BUF], sb[NPG_SHAPE_BUF];
    if (b->ndim < 2 || b->shape[b->ndim - 2] != a->shape[a->ndim - 1]) {
        npg__set_error(NPG_ERR_SHAPE, "%s: a of shape %s and b of shape %s do not match (b must be (..., %lld, k))",
                       fn, npg__shape_str(sa, sizeof sa, a->ndim, a->shape),
                       npg__shape_str(sb, sizeof sb, b->ndim, b->shape), (long long)a->shape[a->ndim - 1]);
        return false;
    }
    return true;
}

npg_array *npg_linalg_solve_triangular(npg_array *a, npg_array *b, bool upper, bool unitriangular) {
    const char *fn = "npg_linalg_solve_triangular";
    if (npg__any_null(fn, 2, a, b) || !solve_check(fn, a, b)) return NULL;
    int nb;
    int64_t bshape[NPG_MAX_DIMS];
    if (!batch_bcast(fn, a, b, &nb, bshape)) return NULL;
    npg_dtype dt = npg__float_dtype(npg_result_type(a->dtype, b->dtype));
    const int64_t n = a->shape[a->ndim - 1], k = b->shape[b->ndim - 1], batch = npg__numel(nb, bshape);
    npg_scope s = npg_scope_begin();
    npg_no_grad_begin();
    npg_array *y;
    if (n == 0 || k == 0 || batch == 0) {
        y = alloc_batch(fn, dt, a, nb, bshape, 2, (int64_t[]){n, k}); /* empty */
    } else {
        /* a's row-major copy is A^T column-major, whose lower triangle is A's
         * upper one: T X = B is (A^T's triangle)^T X = B, no transposing copy */
        npg_array *ta = npg_astype(bcast_mat(a, nb, bshape), dt), *tb = colmajor(bcast_mat(b, nb, bshape), dt);
        y = NULL;
        if (ta && tb &&
            be_ok(npg__backend_of(a)->trsm(a->storage->dev, dt, batch, n, k, npg_data(ta), npg_data(tb), upper, true,
                                            unitriangular)))
            y = rowmajor(tb);
    }
    npg_no_grad_end();
    y = record("linalg_solve_triangular", y, 2, (npg_array *[]){a, b}, tri_bw,
               (upper ? TRI_UPPER : 0) | (unitriangular ? TRI_UNIT : 0));
    return npg__finish(fn, s, y);
}

/* ---- cholesky ------------------------------------------------------------------------------------ */

static npg_status chol_bw(void *ctx, npg_array *g, int n, npg_array *const *in, npg_array *y, npg_array **gin) {
    (void)n;
    (void)in;
    bool upper = (intptr_t)ctx != 0;
    /* Murray (2016): gA = L^-T Phi(L^T gL) L^-1, symmetrised */
    npg_array *L = upper ? npg_matrix_transpose(y) : y, *gL = upper ? npg_matrix_transpose(g) : g;
    npg_array *Lt = npg_matrix_transpose(L);
    npg_array *P = npg_tril(npg_matmul(Lt, gL), 0);
    npg_array *S = npg_multiply_scalar(npg_add(P, npg_matrix_transpose(npg_tril(P, -1))), 0.5);
    npg_array *Y = npg_linalg_solve_triangular(Lt, S, true, false);                      /* L^-T S */
    npg_array *Z = npg_linalg_solve_triangular(Lt, npg_matrix_transpose(Y), true, false); /* (Y L^-1)^T */
    gin[0] = npg_matrix_transpose(Z);
    return gin[0] ? NPG_OK : npg_last_status();
}

npg_array *npg_linalg_cholesky(npg_array *x, bool upper) {
    const char *fn = "npg_linalg_cholesky";
    if (npg__any_null(fn, 1, x) || !lapack_check(fn, x) || !mat_check(fn, x, true)) return NULL;
    npg_dtype dt = npg__float_dtype(x->dtype);
    const int64_t n = x->shape[x->ndim - 1], batch = batch_count(x);
    npg_scope s = npg_scope_begin();
    npg_no_grad_begin();
    npg_array *y = NULL;
    if (n == 0 || batch == 0) {
        y = npg_astype(x, dt);
    } else if (finite_ok(fn, npg_tril(x, 0))) { /* the triangle potrf reads */
        npg_array *a = colmajor(x, dt);
        int *info = a ? info_new(fn, batch) : NULL;
        if (info && be_ok(npg__backend_of(x)->potrf(x->storage->dev, dt, batch, n, npg_data(a), info)) &&
            info_ok(fn, info, batch, LA_NOT_PD))
            /* a's row-major reading is L^T in its upper triangle */
            y = upper ? npg_triu(a, 0) : npg_tril(rowmajor(a), 0);
        free(info);
    }
    npg_no_grad_end();
    y = record("linalg_cholesky", y, 1, &x, chol_bw, upper);
    return npg__finish(fn, s, y);
}

/* ---- solve, inv ---------------------------------------------------------------------------------- */

/* The forward's LU of A^T (and its pivots), kept for the backward. */
typedef struct lu_ctx {
    npg_array *lu, *piv; /* owned references (unscoped) */
} lu_ctx;

static void lu_ctx_free(void *p) {
    lu_ctx *c = p;
    if (!c) return;
    npg__release(c->lu);
    npg__release(c->piv);
    free(c);
}

static npg_status solve_bw(void *ctx, npg_array *g, int n, npg_array *const *in, npg_array *x, npg_array **gin) {
    (void)n;
    const lu_ctx *c = ctx;
    /* A X = B: gB = A^-T gX. The forward factored A^T: solve with its LU
     * (getrs, untransposed) instead of factoring again, unless the backward
     * is itself recorded (create_graph), where gB must depend on A */
    npg_array *gb;
    if (npg_is_grad_enabled() || !c) { /* c is NULL for empty operands */
        gb = npg_linalg_solve(npg_matrix_transpose(in[0]), g);
    } else {
        const npg_array *lu = c->lu;
        const int64_t nn = lu->shape[lu->ndim - 1], k = g->shape[g->ndim - 1];
        npg_array *tg = colmajor(g, lu->dtype);
        gb = tg && be_ok(npg__backend_of(lu)->getrs(lu->storage->dev, lu->dtype, npg__numel(lu->ndim - 2, lu->shape),
                                                     nn, k, npg_data(lu), npg_data(c->piv), npg_data(tg), false))
                 ? rowmajor(tg)
                 : NULL;
    }
    return solve_grads(in[0], in[1], gb, x, -1, gin);
}

/* a X = b for matrices b (checked by the caller); errors name fn. */
static npg_array *solve_mat(const char *fn, npg_array *a, npg_array *b) {
    int nb;
    int64_t bshape[NPG_MAX_DIMS];
    if (!batch_bcast(fn, a, b, &nb, bshape)) return NULL;
    npg_dtype dt = npg__float_dtype(npg_result_type(a->dtype, b->dtype));
    const int64_t n = a->shape[a->ndim - 1], k = b->shape[b->ndim - 1], batch = npg__numel(nb, bshape);
    const bool grad = npg__needs_grad(2, (npg_array *[]){a, b});
    npg_scope s = npg_scope_begin();
    npg_no_grad_begin();
    npg_array *y = NULL;
    lu_ctx *c = NULL;
    if (n == 0 || k == 0 || batch == 0) {
        y = alloc_batch(fn, dt, a, nb, bshape, 2, (int64_t[]){n, k}); /* empty */
    } else {
        /* LU of A^T, which a's row-major copy is in column-major terms, then
         * A X = (A^T)^T X = B with getrs's transposed solve: no transposing
         * copy of a */
        const npg_backend *be = npg__backend_of(a);
        npg_array *lu = npg_astype(bcast_mat(a, nb, bshape), dt), *tb = colmajor(bcast_mat(b, nb, bshape), dt);
        npg_array *piv = lu && tb ? alloc_batch(fn, NPG_INT32, a, nb, bshape, 1, &n) : NULL;
        int *info = piv ? info_new(fn, batch) : NULL;
        if (info && be_ok(be->getrf(a->storage->dev, dt, batch, n, npg_data(lu), npg_data(piv), info)) &&
            info_ok(fn, info, batch, LA_SINGULAR) &&
            be_ok(be->getrs(a->storage->dev, dt, batch, n, k, npg_data(lu), npg_data(piv), npg_data(tb), true))) {
            y = rowmajor(tb);
            if (grad) {
                c = malloc(sizeof *c);
                if (c) *c = (lu_ctx){.lu = npg_retain(lu), .piv = npg_retain(piv)};
                else y = NULL, npg__set_error(NPG_ERR_OOM, "%s: out of memory recording the graph", fn);
            }
        }
        free(info);
    }
    npg_no_grad_end();
    if (c) /* y is set; on failure npg_custom frees c */
        y = npg_custom("linalg_solve", y, 2, (npg_array *[]){a, b}, solve_bw, c, lu_ctx_free);
    else /* no gradient wanted, or empty operands (the backward solves afresh) */
        y = record("linalg_solve", y, 2, (npg_array *[]){a, b}, solve_bw, 0);
    return npg__finish(fn, s, y);
}

npg_array *npg_linalg_solve(npg_array *a, npg_array *b) {
    const char *fn = "npg_linalg_solve";
    if (npg__any_null(fn, 2, a, b)) return NULL;
    if (b->ndim != 1) return solve_check(fn, a, b) ? solve_mat(fn, a, b) : NULL;
    /* one vector: solve for (n, 1) and drop the column axis */
    npg_scope s = npg_scope_begin();
    npg_array *b2 = npg_expand_dims(b, -1);
    npg_array *y = b2 && solve_check(fn, a, b2) ? npg_squeeze(solve_mat(fn, a, b2), NPG_AXES(-1)) : NULL;
    return npg__finish(fn, s, y);
}

static npg_array *inv_impl(const char *fn, npg_array *x) {
    if (npg__any_null(fn, 1, x) || !lapack_check(fn, x) || !mat_check(fn, x, true)) return NULL;
    npg_scope s = npg_scope_begin();
    npg_array *eye = npg_eye(x->shape[x->ndim - 1], NPG_OPTS(.dtype = npg__float_dtype(x->dtype), .device = npg__device_of(x)));
    npg_array *y = eye ? solve_mat(fn, x, eye) : NULL;
    return npg__finish(fn, s, y);
}

npg_array *npg_linalg_inv(npg_array *x) { return inv_impl("npg_linalg_inv", x); }

/* ---- det, slogdet ---------------------------------------------------------------------------------- */

/* The diagonal of U (..., n) and the permutation's sign (...) in dtype dt,
 * from an LU factorization of x^T (det x^T = det x: x's row-major copy is
 * x^T column-major; no recording). */
static bool lu_parts(const char *fn, npg_array *x, npg_dtype dt, npg_array **diag, npg_array **psign) {
    const int64_t n = x->shape[x->ndim - 1], batch = batch_count(x);
    *diag = *psign = NULL;
    npg_array *lu = npg_astype(x, dt);
    npg_array *piv = lu ? alloc_batch(fn, NPG_INT32, x, x->ndim - 2, x->shape, 1, &n) : NULL;
    if (!piv || !be_ok(npg__backend_of(x)->getrf(x->storage->dev, dt, batch, n, npg_data(lu), npg_data(piv), NULL)))
        return false;
    *diag = npg_diagonal(lu, 0, -2, -1);
    /* row i was swapped with row piv[i] (1-based): the parity of the swaps */
    npg_array *at = npg_arange(1, (double)n + 1, 1, NPG_OPTS(.dtype = NPG_INT32, .device = npg__device_of(x)));
    npg_array *swaps = npg_sum(npg_not_equal(piv, at), NPG_AXES(-1), false);
    npg_array *odd = npg_remainder_scalar(swaps, 2);
    *psign = npg_astype(npg_add_scalar(npg_multiply_scalar(odd, -2), 1), dt);
    return *diag && *psign;
}

static npg_status det_bw(void *ctx, npg_array *g, int n, npg_array *const *in, npg_array *y, npg_array **gin) {
    (void)n;
    bool logabs = (intptr_t)ctx != 0;
    /* d det / dA = det * A^-T; d log|det| / dA = A^-T */
    npg_array *c = logabs ? g : npg_multiply(g, y);
    c = npg_expand_dims(npg_expand_dims(c, -1), -1);
    gin[0] = npg_multiply(c, npg_matrix_transpose(npg_linalg_inv(in[0])));
    return gin[0] ? NPG_OK : npg_last_status();
}

/* det, or sign and log|det| (the outputs asked for are not NULL). */
static npg_status det_impl(const char *fn, npg_array *x, npg_array **det, npg_array **sign, npg_array **logabs) {
    if (npg__any_null(fn, 1, x) || !lapack_check(fn, x) || !mat_check(fn, x, true)) return npg_last_status();
    npg_dtype dt = npg__float_dtype(x->dtype);
    const int64_t n = x->shape[x->ndim - 1];
    npg_scope s = npg_scope_begin();
    npg_no_grad_begin();
    npg_array *d = NULL, *sg = NULL, *la = NULL;
    npg_shape bs = {.ndim = x->ndim - 2};
    memcpy(bs.dims, x->shape, sizeof(int64_t) * (size_t)bs.ndim);
    if (n == 0 || batch_count(x) == 0) {
        npg_opts o = {.dtype = dt, .device = npg__device_of(x)};
        d = npg_ones(bs, &o);
        sg = npg_ones(bs, &o);
        la = npg_zeros(bs, &o);
    } else {
        npg_array *diag, *psign;
        if (lu_parts(fn, x, dt, &diag, &psign)) {
            if (det) d = npg_multiply(psign, npg_prod(diag, NPG_AXES(-1), false));
            if (sign) sg = npg_multiply(psign, npg_prod(npg_sign(diag), NPG_AXES(-1), false));
            if (logabs) la = npg_sum(npg_log(npg_abs(diag)), NPG_AXES(-1), false);
        }
    }
    npg_no_grad_end();
    npg_status st = NPG_OK;
    if (det) {
        *det = record("linalg_det", d, 1, &x, det_bw, 0);
        if (!*det) st = npg_last_status();
    }
    if (sign) {
        *sign = sg;
        if (!sg) st = npg_last_status();
    }
    if (logabs) {
        *logabs = record("linalg_slogdet", la, 1, &x, det_bw, 1);
        if (!*logabs) st = npg_last_status();
    }
    if (st != NPG_OK) {
        if (det) *det = NULL;
        if (sign) *sign = NULL;
        if (logabs) *logabs = NULL;
    } else {
        if (det) npg_keep(*det);
        if (sign) npg_keep(*sign);
        if (logabs) npg_keep(*logabs);
    }
    npg_scope_end(s);
    return st;
}

npg_array *npg_linalg_det(npg_array *x) {
    npg_array *d = NULL;
    det_impl("npg_linalg_det", x, &d, NULL, NULL);
    return d;
}

npg_status npg_linalg_slogdet(npg_array *x, npg_array **sign, npg_array **logabsdet) {
    if (sign) *sign = NULL;
    if (logabsdet) *logabsdet = NULL;
    return det_impl("npg_linalg_slogdet", x, NULL, sign, logabsdet);
}

/* ---- qr -------------------------------------------------------------------------------------------------- */

/* gA for A = QR with R square and invertible (m >= n):
 * gA = (gQ + Q copyltu(M)) R^-T, M = R gR^T - gQ^T Q, copyltu(M) the
 * symmetric matrix with M's lower triangle. */
static npg_array *qr_bw_core(npg_array *Q, npg_array *R, npg_array *gQ, npg_array *gR) {
    npg_array *M = npg_subtract(npg_matmul(R, npg_matrix_transpose(gR)), npg_matmul(npg_matrix_transpose(gQ), Q));
    npg_array *low = npg_tril(M, -1);
    npg_array *E = npg_add(npg_tril(M, 0), npg_matrix_transpose(low));
    npg_array *Z = npg_add(gQ, npg_matmul(Q, E));
    /* Z R^-T = (R^-1 Z^T)^T */
    return npg_matrix_transpose(npg_linalg_solve_triangular(R, npg_matrix_transpose(Z), true, false));
}

/* flags: bit 0 complete; m and n are read from the input. */
static npg_status qr_bw(void *ctx, npg_array *g, int n_in, npg_array *const *in, npg_array *P, npg_array **gin) {
    (void)n_in;
    bool complete = (intptr_t)ctx != 0;
    npg_array *x = in[0];
    const int nb = x->ndim - 2;
    const int64_t m = x->shape[nb], n = x->shape[nb + 1], k = m < n ? m : n, qc = complete ? m : k;
    if (complete && m > n)
        return npg__set_error(NPG_ERR_UNSUPPORTED,
                              "npg_backward: npg_linalg_qr with complete = true is not differentiable when m > n "
                              "(%lld > %lld); use the reduced decomposition",
                              (long long)m, (long long)n);
    const int64_t qd[2] = {m, qc}, rd[2] = {qc, n};
    npg_array *Q = part(P, nb, 2, qd, 0), *R = part(P, nb, 2, rd, m * qc);
    npg_array *gQ = part(g, nb, 2, qd, 0), *gR = part(g, nb, 2, rd, m * qc);
    npg_array *ga;
    if (m >= n) {
        ga = qr_bw_core(Q, R, gQ, gR);
    } else {
        /* A = [X | Y], R = [U | V]: Q and U are X's QR, V = Q^T Y */
        npg_array *xf = npg__cast(x, P->dtype);
        npg_array *Y = cols(xf, m, n), *U = cols(R, 0, m), *gU = cols(gR, 0, m), *gV = cols(gR, m, n);
        npg_array *gX = qr_bw_core(Q, U, npg_add(gQ, npg_matmul(Y, npg_matrix_transpose(gV))), gU);
        npg_array *gY = npg_matmul(Q, gV);
        ga = gX && gY ? npg_concat((npg_array *[]){gX, gY}, 2, -1) : NULL;
    }
    gin[0] = ga;
    return ga ? NPG_OK : npg_last_status();
}

npg_status npg_linalg_qr(npg_array *x, bool complete, npg_array **q, npg_array **r) {
    const char *fn = "npg_linalg_qr";
    if (q) *q = NULL;
    if (r) *r = NULL;
    if (npg__any_null(fn, 1, x) || !lapack_check(fn, x) || !mat_check(fn, x, false)) return npg_last_status();
    npg_dtype dt = npg__float_dtype(x->dtype);
    const int nb = x->ndim - 2;
    const int64_t m = x->shape[nb], n = x->shape[nb + 1], k = m < n ? m : n, qc = complete ? m : k,
                  batch = batch_count(x);
    npg_scope s = npg_scope_begin();
    npg_no_grad_begin();
    npg_array *Q = NULL, *R = NULL;
    npg_opts o = {.dtype = dt, .device = npg__device_of(x)};
    if (batch == 0 || m == 0 || n == 0) {
        /* k == 0 (or no matrices): Q is the identity's first qc columns, R zeros */
        npg_array *eye = npg_eye(m, &o);
        Q = eye ? npg_copy(bcast_mat(cols(eye, 0, qc), nb, x->shape)) : NULL;
        R = alloc_batch(fn, dt, x, nb, x->shape, 2, (int64_t[]){qc, n}); /* empty: qc == 0 or n == 0 */
    } else {
        npg_array *a = colmajor(x, dt);
        npg_array *qb = a ? alloc_batch(fn, dt, x, nb, x->shape, 2, (int64_t[]){qc, m}) : NULL;
        npg_array *rb = qb ? alloc_batch(fn, dt, x, nb, x->shape, 2, (int64_t[]){n, qc}) : NULL;
        if (rb && be_ok(npg__backend_of(x)->qr(x->storage->dev, dt, batch, m, n, qc, npg_data(a), npg_data(qb), npg_data(rb)))) {
            /* R's diagonal made >= 0: Q D, D R with D = sign(diag(R)) */
            npg_array *d = pad_ones(sign_pm(npg_diagonal(rowmajor(rb), 0, -2, -1)), qc, -1);
            Q = npg_multiply(rowmajor(qb), npg_expand_dims(d, -2));
            R = npg_triu(npg_multiply(rowmajor(rb), npg_expand_dims(d, -1)), 0); /* no -0 below */
        }
    }
    npg_no_grad_end();
    npg_status st = NPG_OK;
    if (!Q || !R) {
        st = npg_last_status();
    } else if (npg__needs_grad(1, &x)) {
        npg_array *P = record("linalg_qr", pack((npg_array *[]){Q, R}, 2, nb), 1, &x, qr_bw, complete);
        Q = part(P, nb, 2, (int64_t[]){m, qc}, 0);
        R = part(P, nb, 2, (int64_t[]){qc, n}, m * qc);
        if (!Q || !R) st = npg_last_status();
    }
    if (st == NPG_OK) {
        if (q) *q = npg_keep(Q);
        if (r) *r = npg_keep(R);
    }
    npg_scope_end(s);
    return st;
}

/* ---- eigh ------------------------------------------------------------------------------------------------- */

/* The n x n identity in x's dtype and device. */
static npg_array *eye_like(npg_array *x, int64_t n) {
    return x ? npg_eye(n, NPG_OPTS(.dtype = x->dtype, .device = npg__device_of(x))) : NULL;
}

/* v (..., n) as diagonal matrices (..., n, n). */
static npg_array *diag_embed(npg_array *v, npg_array *eye) { return npg_multiply(npg_expand_dims(v, -2), eye); }

/* num / den, with 0 where num is 0 (even where den is 0 too: a part of
 * the gradient the loss does not use must not turn into 0/0 = NaN; where
 * num is not 0 and den is, the result is inf, the honest answer). The
 * denominator is made safe before dividing, so the unused branch's own
 * gradient (create_graph) is finite as well. */
static npg_array *div_nz(npg_array *num, npg_array *den) {
    npg_array *zero = npg_equal_scalar(num, 0);
    return npg_scalar_where(zero, 0, npg_divide(num, npg_scalar_where(zero, 1, den)));
}

static npg_status eigh_bw(void *ctx, npg_array *g, int n_in, npg_array *const *in, npg_array *P, npg_array **gin) {
    (void)ctx;
    (void)n_in;
    const int nb = in[0]->ndim - 2;
    const int64_t n = in[0]->shape[nb + 1], vd[2] = {n, n};
    npg_array *w = part(P, nb, 1, &n, 0), *V = part(P, nb, 2, vd, n);
    npg_array *gw = part(g, nb, 1, &n, 0), *gV = part(g, nb, 2, vd, n);
    npg_array *I = eye_like(P, n);
    /* V (diag(gw) + (V^T gV) / E) V^T, E_ij = w_j - w_i off the diagonal
     * (the diagonal of V^T gV drops out: E is 1 there, the term is masked) */
    npg_array *E = npg_add(npg_subtract(npg_expand_dims(w, -2), npg_expand_dims(w, -1)), I);
    npg_array *off = npg_multiply(npg_matmul(npg_matrix_transpose(V), gV), npg_scalar_subtract(1, I));
    npg_array *inner = npg_add(diag_embed(gw, I), div_nz(off, E));
    npg_array *ga = npg_matmul(npg_matmul(V, inner), npg_matrix_transpose(V));
    gin[0] = npg_multiply_scalar(npg_add(ga, npg_matrix_transpose(ga)), 0.5);
    return gin[0] ? NPG_OK : npg_last_status();
}

/* The values-only results (eigvalsh, svdvals) get a node of their own whose
 * rule is U diag(g) Vh alone (V diag(g) V^T for eigh), with U and Vh the
 * graph-connected vectors of the full decomposition's node: a first-order
 * backward never runs that node (no 0/0 from repeated values), and a second
 * one reaches it through U and Vh with their true gradients. */
typedef struct vals_ctx {
    npg_array *u, *vh; /* owned references (unscoped) */
} vals_ctx;

static void vals_ctx_free(void *p) {
    vals_ctx *c = p;
    if (!c) return;
    if (c->u) npg__release(c->u);
    if (c->vh) npg__release(c->vh);
    free(c);
}

static npg_status vals_bw(void *ctx, npg_array *g, int n_in, npg_array *const *in, npg_array *y, npg_array **gin) {
    (void)n_in;
    (void)in;
    (void)y;
    const vals_ctx *c = ctx;
    npg_array *ga = npg_matmul(npg_multiply(c->u, npg_expand_dims(g, -2)), c->vh);
    gin[0] = ga;
    return ga ? NPG_OK : npg_last_status();
}

/* vals (computed without recording) as a node over x whose rule uses u and
 * vh (retained). */
static npg_array *record_vals(const char *name, npg_array *vals, npg_array *x, npg_array *u, npg_array *vh) {
    if (!vals || !u || !vh) return NULL;
    vals_ctx *c = malloc(sizeof *c);
    if (!c) {
        npg__set_error(NPG_ERR_OOM, "%s: out of memory recording the graph", name);
        return NULL;
    }
    c->u = npg_retain(u);
    c->vh = npg_retain(vh);
    return npg_custom(name, vals, 1, &x, vals_bw, c, vals_ctx_free);
}

/* eigh; w or v may be NULL (eigvalsh: v NULL). */
static npg_status eigh_impl(const char *fn, npg_array *x, npg_array **w, npg_array **v) {
    if (w) *w = NULL;
    if (v) *v = NULL;
    if (npg__any_null(fn, 1, x) || !lapack_check(fn, x) || !mat_check(fn, x, true)) return npg_last_status();
    npg_dtype dt = npg__float_dtype(x->dtype);
    const int nb = x->ndim - 2;
    const int64_t n = x->shape[nb], batch = batch_count(x);
    const bool grad = npg__needs_grad(1, &x), vectors = v || grad;
    npg_scope s = npg_scope_begin();
    npg_no_grad_begin();
    npg_array *W = NULL, *V = NULL;
    if (batch == 0 || n == 0) {
        W = alloc_batch(fn, dt, x, nb, x->shape, 1, &n);
        V = npg_astype(x, dt); /* empty */
    } else if (finite_ok(fn, npg_tril(x, 0))) { /* the triangle syevd reads */
        npg_array *a = colmajor(x, dt);
        npg_array *wb = a ? alloc_batch(fn, dt, x, nb, x->shape, 1, &n) : NULL;
        int *info = wb ? info_new(fn, batch) : NULL;
        if (info && be_ok(npg__backend_of(x)->syevd(x->storage->dev, dt, batch, n, npg_data(a), npg_data(wb), vectors, info)) &&
            info_ok(fn, info, batch, LA_NO_CONVERGENCE)) {
            W = wb;
            V = a;
            if (vectors) { /* column j of the column-major buffer is vector j */
                V = rowmajor(a);
                V = npg_multiply(V, col_signs(V, n));
            }
        }
        free(info);
    }
    npg_no_grad_end();
    npg_status st = NPG_OK;
    if (!W || !V) {
        st = npg_last_status();
    } else if (grad) {
        npg_array *P = record("linalg_eigh", pack((npg_array *[]){W, V}, 2, nb), 1, &x, eigh_bw, 0);
        npg_array *Vg = part(P, nb, 2, (int64_t[]){n, n}, n);
        if (v) {
            W = part(P, nb, 1, &n, 0);
            V = Vg;
        } else {
            W = record_vals("linalg_eigvalsh", W, x, Vg, Vg ? npg_matrix_transpose(Vg) : NULL);
        }
        if (!W || !V || !Vg) st = npg_last_status();
    }
    if (st == NPG_OK) {
        if (w) *w = npg_keep(W);
        if (v) *v = npg_keep(V);
    }
    npg_scope_end(s);
    return st;
}

npg_status npg_linalg_eigh(npg_array *x, npg_array **w, npg_array **v) {
    return eigh_impl("npg_linalg_eigh", x, w, v);
}

npg_array *npg_linalg_eigvalsh(npg_array *x) {
    npg_array *w = NULL;
    eigh_impl("npg_linalg_eigvalsh", x, &w, NULL);
    return w;
}

/* ---- svd ----------------------------------------------------------------------------------------------------- */

enum { SVD_FULL = 1 };

static npg_status svd_bw(void *ctx, npg_array *g, int n_in, npg_array *const *in, npg_array *P, npg_array **gin) {
    (void)n_in;
    const bool full = (intptr_t)ctx & SVD_FULL;
    const int nb = in[0]->ndim - 2;
    const int64_t m = in[0]->shape[nb], n = in[0]->shape[nb + 1], k = m < n ? m : n;
    const int64_t uc = full ? m : k, vr = full ? n : k;
    const int64_t ud[2] = {m, uc}, vd[2] = {vr, n};
    npg_array *U = part(P, nb, 2, ud, 0), *S = part(P, nb, 1, &k, m * uc), *Vh = part(P, nb, 2, vd, m * uc + k);
    npg_array *gU = part(g, nb, 2, ud, 0), *gS = part(g, nb, 1, &k, m * uc), *gVh = part(g, nb, 2, vd, m * uc + k);
    if (full) { /* only the first k singular vectors are determined */
        U = cols(U, 0, k);
        gU = cols(gU, 0, k);
        Vh = rows(Vh, 0, k);
        gVh = rows(gVh, 0, k);
    }
    npg_array *I = eye_like(P, k);
    npg_array *ret = diag_embed(gS, I);
    /* PyTorch's svd_backward for real matrices:
     * ret = (skew(U^T gU) S_col + S_row skew(Vh gV)) / E + diag(gS),
     * E_jk = S_k^2 - S_j^2 (1 on the diagonal), skew(X) = X - X^T; the
     * divisions give 0, not NaN, where the numerator is 0 (div_nz) */
    npg_array *UtgU = npg_matmul(npg_matrix_transpose(U), gU);
    npg_array *VhgV = npg_matmul(Vh, npg_matrix_transpose(gVh));
    UtgU = npg_subtract(UtgU, npg_matrix_transpose(UtgU));
    VhgV = npg_subtract(VhgV, npg_matrix_transpose(VhgV));
    npg_array *S2 = npg_square(S);
    npg_array *E = npg_add(npg_subtract(npg_expand_dims(S2, -2), npg_expand_dims(S2, -1)), I);
    npg_array *num = npg_add(npg_multiply(UtgU, npg_expand_dims(S, -2)), npg_multiply(npg_expand_dims(S, -1), VhgV));
    ret = npg_add(div_nz(num, E), ret);
    npg_array *ga;
    if (m > n) {
        /* gA = [U ret + (I - U U^T) gU S^-1] Vh */
        npg_array *gUSinv = div_nz(gU, npg_expand_dims(S, -2));
        npg_array *t = npg_add(npg_matmul(U, ret), gUSinv);
        t = npg_subtract(t, npg_matmul(U, npg_matmul(npg_matrix_transpose(U), gUSinv)));
        ga = npg_matmul(t, Vh);
    } else if (m < n) {
        /* gA = U [ret Vh + S^-1 gVh (I - V Vh)] */
        npg_array *SinvgVh = div_nz(gVh, npg_expand_dims(S, -1));
        npg_array *t = npg_add(npg_matmul(ret, Vh), SinvgVh);
        t = npg_subtract(t, npg_matmul(npg_matmul(SinvgVh, npg_matrix_transpose(Vh)), Vh));
        ga = npg_matmul(U, t);
    } else {
        ga = npg_matmul(npg_matmul(U, ret), Vh);
    }
    gin[0] = ga;
    return ga ? NPG_OK : npg_last_status();
}

static npg_status svd_impl(const char *fn, npg_array *x, bool full_matrices, npg_array **u, npg_array **s,
                           npg_array **vh) {
    if (u) *u = NULL;
    if (s) *s = NULL;
    if (vh) *vh = NULL;
    if (npg__any_null(fn, 1, x) || !lapack_check(fn, x) || !mat_check(fn, x, false)) return npg_last_status();
    npg_dtype dt = npg__float_dtype(x->dtype);
    const int nb = x->ndim - 2;
    const int64_t m = x->shape[nb], n = x->shape[nb + 1], k = m < n ? m : n, batch = batch_count(x);
    const bool grad = npg__needs_grad(1, &x), vectors = u || vh || grad;
    const bool full = full_matrices && (u || vh); /* values only: nothing to complete */
    const int64_t uc = full ? m : k, vr = full ? n : k;
    npg_scope sc = npg_scope_begin();
    npg_no_grad_begin();
    npg_array *U = NULL, *S = NULL, *Vh = NULL;
    npg_opts o = {.dtype = dt, .device = npg__device_of(x)};
    if (batch == 0 || k == 0) {
        /* no singular values: U and Vh are identities' first columns / rows */
        npg_array *em = npg_eye(m, &o), *en = npg_eye(n, &o);
        U = em ? npg_copy(bcast_mat(cols(em, 0, uc), nb, x->shape)) : NULL;
        Vh = en ? npg_copy(bcast_mat(rows(en, 0, vr), nb, x->shape)) : NULL;
        S = alloc_batch(fn, dt, x, nb, x->shape, 1, &k);
    } else if (finite_ok(fn, x)) {
        /* LAPACK gets m >= n: a wide matrix is decomposed through its transpose */
        const bool wide = m < n;
        const int64_t M = wide ? n : m, N = wide ? m : n, UC = full ? M : N;
        npg_array *a = wide ? npg_astype(x, dt) : colmajor(x, dt); /* A^T column-major = A row-major */
        npg_array *sb = a ? alloc_batch(fn, dt, x, nb, x->shape, 1, &k) : NULL;
        npg_array *ub = sb && vectors ? alloc_batch(fn, dt, x, nb, x->shape, 2, (int64_t[]){UC, M}) : NULL;
        npg_array *vb = ub ? alloc_batch(fn, dt, x, nb, x->shape, 2, (int64_t[]){N, N}) : NULL;
        int *info = sb && (!vectors || vb) ? info_new(fn, batch) : NULL;
        if (info &&
            be_ok(npg__backend_of(x)->gesvd(x->storage->dev, dt, batch, M, N, full, npg_data(a), npg_data(sb),
                                             vb ? npg_data(ub) : NULL, vb ? npg_data(vb) : NULL, info)) &&
            info_ok(fn, info, batch, LA_NO_CONVERGENCE)) {
            S = sb;
            if (vectors && !wide) {
                U = rowmajor(ub);  /* (m, uc) */
                Vh = rowmajor(vb); /* (n, n) */
            } else if (vectors) {
                /* A^T = U' S V'^T: U = V' = Vt'^T, whose row-major reading is vb;
                 * Vh = U'^T, the row-major reading of ub */
                U = vb;
                Vh = ub;
            }
            if (vectors) { /* the pairs' signs: U's columns, Vh's rows */
                npg_array *sg = col_signs(U, k);
                Vh = npg_multiply(Vh, pad_ones(npg_matrix_transpose(sg), vr, -2));
                U = npg_multiply(U, pad_ones(sg, uc, -1));
            }
        }
        free(info);
    }
    npg_no_grad_end();
    npg_status st = NPG_OK;
    if (!S || (vectors && (!U || !Vh))) {
        st = npg_last_status();
    } else if (grad) {
        npg_array *P = record("linalg_svd", pack((npg_array *[]){U, S, Vh}, 3, nb), 1, &x, svd_bw, full ? SVD_FULL : 0);
        npg_array *Ug = part(P, nb, 2, (int64_t[]){m, uc}, 0), *Vhg = part(P, nb, 2, (int64_t[]){vr, n}, m * uc + k);
        if (u || vh) {
            U = Ug;
            Vh = Vhg;
            S = part(P, nb, 1, &k, m * uc);
        } else {
            /* svdvals: not full, so Ug (m, k) and Vhg (k, n) */
            S = record_vals("linalg_svdvals", S, x, Ug, Vhg);
        }
        if (!U || !S || !Vh) st = npg_last_status();
    }
    if (st == NPG_OK) {
        if (u) *u = npg_keep(U);
        if (s) *s = npg_keep(S);
        if (vh) *vh = npg_keep(Vh);
    }
    npg_scope_end(sc);
    return st;
}

npg_status npg_linalg_svd(npg_array *x, bool full_matrices, npg_array **u, npg_array **s, npg_array **vh) {
    return svd_impl("npg_linalg_svd", x, full_matrices, u, s, vh);
}

npg_array *npg_linalg_svdvals(npg_array *x) {
    npg_array *s = NULL;
    svd_impl("npg_linalg_svdvals", x, false, NULL, &s, NULL);
    return s;
}

/* ---- pinv, matrix_rank ----------------------------------------------------------------------------------- */

static double default_rtol(const npg_array *x, npg_dtype dt) {
    int64_t m = x->shape[x->ndim - 2], n = x->shape[x->ndim - 1];
    return (double)(m > n ? m : n) * (dt == NPG_FLOAT64 ? 2.220446049250313e-16 : 1.1920928955078125e-07);
}

static bool rtol_ok(const char *fn, double rtol) {
    if (isnan(rtol)) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: rtol is NaN", fn);
        return false;
    }
    return true;
}

/* pinv(x) through one SVD; *sv and *rank (each may be NULL) receive its
 * singular values and the number above the cutoff (int64, no gradient),
 * scope-registered like the result. */
static npg_array *pinv_svd(const char *fn, npg_array *x, double rtol, npg_array **sv, npg_array **rank) {
    if (npg__any_null(fn, 1, x) || !lapack_check(fn, x) || !mat_check(fn, x, false) || !rtol_ok(fn, rtol)) return NULL;
    npg_dtype dt = npg__float_dtype(x->dtype);
    if (rtol < 0) rtol = default_rtol(x, dt);
    const int64_t m = x->shape[x->ndim - 2], n = x->shape[x->ndim - 1];
    npg_scope s = npg_scope_begin();
    npg_array *U, *S, *Vh, *y = NULL, *r = NULL;
    if (svd_impl(fn, x, false, &U, &S, &Vh) == NPG_OK) {
        if (m == 0 || n == 0) {
            y = npg_matmul(npg_matrix_transpose(Vh), npg_matrix_transpose(U)); /* zeros (n, m) */
            if (rank) {
                npg_shape bs = {.ndim = x->ndim - 2};
                memcpy(bs.dims, x->shape, sizeof(int64_t) * (size_t)bs.ndim);
                r = npg_zeros(bs, NPG_OPTS(.dtype = NPG_INT64, .device = npg__device_of(x)));
            }
        } else {
            /* 1/S above the cutoff, 0 below it (1/S is taken of a safe value so
             * its gradient is 0, not NaN, where it is not used) */
            npg_array *cut = npg_multiply_scalar(npg_max(S, NPG_AXES(-1), true), rtol);
            npg_array *keep = npg_greater(S, cut);
            npg_array *sinv = npg_where_scalar(keep, npg_reciprocal(npg_where_scalar(keep, S, 1)), 0);
            y = npg_matmul(npg_multiply(npg_matrix_transpose(Vh), npg_expand_dims(sinv, -2)), npg_matrix_transpose(U));
            if (rank) r = npg_astype(npg_sum(keep, NPG_AXES(-1), false), NPG_INT64);
        }
    }
    if (y && sv) *sv = npg_keep(S);
    if (y && rank) *rank = npg_keep(r);
    return npg__finish(fn, s, y);
}

static npg_array *pinv_impl(const char *fn, npg_array *x, double rtol) { return pinv_svd(fn, x, rtol, NULL, NULL); }

npg_array *npg_linalg_pinv(npg_array *x, double rtol) { return pinv_impl("npg_linalg_pinv", x, rtol); }

/* a and b fit lstsq: a (..., m, n), b (m) or (..., m, k), one device. */
static bool lstsq_args(const char *fn, npg_array *a, npg_array *b) {
    if (npg__any_null(fn, 2, a, b) || !npg__check_devices(fn, 2, (npg_array *[]){a, b}) || !lapack_check(fn, a) ||
        !lapack_check(fn, b) || !mat_check(fn, a, false))
        return false;
    const int64_t m = a->shape[a->ndim - 2];
    const bool vec = b->ndim == 1;
    if ((vec ? b->shape[0] : b->ndim >= 2 ? b->shape[b->ndim - 2] : -1) != m) {
        char sa[NPG_SHAPE_BUF], sb[NPG_SHAPE_BUF];
        npg__set_error(NPG_ERR_SHAPE, "%s: a of shape %s and b of shape %s do not match (b must be (%lld) or (..., %lld, k))",
                       fn, npg__shape_str(sa, sizeof sa, a->ndim, a->shape),
                       npg__shape_str(sb, sizeof sb, b->ndim, b->shape), (long long)m, (long long)m);
        return false;
    }
    return true;
}

npg_array *npg_linalg_lstsq(npg_array *a, npg_array *b, double rtol) {
    const char *fn = "npg_linalg_lstsq";
    if (!lstsq_args(fn, a, b)) return NULL;
    npg_scope s = npg_scope_begin();
    /* the minimum-norm solution pinv(a) b (NumPy's gelsd computes the same),
     * in a and b's common dtype (a float32 a with a float64 b: float64) */
    npg_array *ac = npg__cast(a, npg__float_dtype(npg_result_type(a->dtype, b->dtype)));
    npg_array *y = ac ? npg_matmul(pinv_impl(fn, ac, rtol), b) : NULL;
    return npg__finish(fn, s, y);
}

npg_status npg_linalg_lstsq_ex(npg_array *a, npg_array *b, double rtol, npg_array **x, npg_array **residuals,
                               npg_array **rank, npg_array **sv) {
    const char *fn = "npg_linalg_lstsq_ex";
    npg_array **outs[4] = {x, residuals, rank, sv};
    for (int i = 0; i < 4; i++)
        if (outs[i]) *outs[i] = NULL;
    if (!lstsq_args(fn, a, b)) return npg_last_status();
    const int64_t m = a->shape[a->ndim - 2], n = a->shape[a->ndim - 1];
    npg_scope s = npg_scope_begin();
    npg_array *S = NULL, *r = NULL;
    a = npg__cast(a, npg__float_dtype(npg_result_type(a->dtype, b->dtype))); /* the common dtype, as lstsq */
    npg_array *p = a ? pinv_svd(fn, a, rtol, &S, &r) : NULL;
    npg_array *y = p ? npg_matmul(p, b) : NULL;
    npg_array *res = NULL;
    bool ok = y != NULL;
    if (ok && residuals) {
        /* PyTorch's rule: the squared residual norms when m > n and every
         * matrix has full rank n, else an empty array (reading the ranks
         * synchronises) */
        bool full = m > n;
        if (full && npg__numel(r->ndim, r->shape) > 0) {
            npg_array *lowest = npg_min(r, NPG_ALL_AXES, false);
            double v = lowest ? npg_item(lowest) : NAN;
            ok = !isnan(v);
            full = v == (double)n;
        }
        if (ok && full) {
            if (b->ndim == 1) { /* y (..., n): as columns (..., n, 1) against b (m, 1) */
                npg_array *d = npg_subtract(npg_matmul(a, npg_expand_dims(y, -1)), npg_expand_dims(b, -1));
                res = npg_sum(npg_square(d), NPG_AXES(-2), false); /* (..., 1), NumPy's (1,) */
            } else {
                res = npg_sum(npg_square(npg_subtract(npg_matmul(a, y), b)), NPG_AXES(-2), false);
            }
        } else if (ok) {
            res = npg_zeros(NPG_SHAPE(0), NPG_OPTS(.dtype = y->dtype, .device = npg__device_of(a)));
        }
        ok = ok && res;
    }
    if (!ok) {
        npg_scope_end(s);
        npg__error_context(fn);
        return npg_last_status();
    }
    npg_array *vals[4] = {y, res, r, S};
    for (int i = 0; i < 4; i++)
        if (outs[i]) *outs[i] = npg_keep(vals[i]);
    npg_scope_end(s);
    return NPG_OK;
}

npg_array *npg_linalg_matrix_rank(npg_array *x, double rtol) {
    const char *fn = "npg_linalg_matrix_rank";
    if (npg__any_null(fn, 1, x) || !lapack_check(fn, x) || !mat_check(fn, x, false) || !rtol_ok(fn, rtol)) return NULL;
    npg_dtype dt = npg__float_dtype(x->dtype);
    if (rtol < 0) rtol = default_rtol(x, dt);
    const int64_t k = x->shape[x->ndim - 2] < x->shape[x->ndim - 1] ? x->shape[x->ndim - 2] : x->shape[x->ndim - 1];
    npg_scope s = npg_scope_begin();
    npg_no_grad_begin();
    npg_array *y = NULL;
    if (k == 0) {
        npg_shape bs = {.ndim = x->ndim - 2};
        memcpy(bs.dims, x->shape, sizeof(int64_t) * (size_t)bs.ndim);
        y = npg_zeros(bs, NPG_OPTS(.dtype = NPG_INT64, .device = npg__device_of(x)));
    } else {
        npg_array *S = NULL;
        if (svd_impl(fn, x, false, NULL, &S, NULL) == NPG_OK) {
            npg_array *cut = npg_multiply_scalar(npg_max(S, NPG_AXES(-1), true), rtol);
            y = npg_astype(npg_sum(npg_greater(S, cut), NPG_AXES(-1), false), NPG_INT64);
        }
    }
    npg_no_grad_end();
    return npg__finish(fn, s, y);
}

/* ---- matrix_power ------------------------------------------------------------------------------------------- */

npg_array *npg_linalg_matrix_power(npg_array *x, int64_t n) {
    const char *fn = "npg_linalg_matrix_power";
    if (npg__any_null(fn, 1, x) || !mat_check(fn, x, true)) return NULL;
    if (n < 0 && !npg_is_floating(x->dtype)) {
        npg__set_error(NPG_ERR_DTYPE, "%s: a negative power (%lld) needs a floating matrix (got %s)", fn,
                       (long long)n, npg_dtype_name(x->dtype));
        return NULL;
    }
    if (n == 1) return npg_copy(x);
    npg_scope s = npg_scope_begin();
    npg_array *y = NULL;
    if (n == 0) {
        npg_array *eye = npg_eye(x->shape[x->ndim - 1], NPG_OPTS(.dtype = x->dtype, .device = npg__device_of(x)));
        npg_shape sh = npg_shape_of(x);
        y = npg_copy(npg_broadcast_to(eye, sh));
    } else {
        npg_array *base = n < 0 ? inv_impl(fn, x) : x;
        /* repeated squaring (INT64_MIN's magnitude fits in uint64) */
        uint64_t e = n < 0 ? (uint64_t)0 - (uint64_t)n : (uint64_t)n;
        bool ok = base != NULL;
        while (ok && e) {
            if (e & 1) {
                y = y ? npg_matmul(y, base) : base == x ? npg_copy(x) : base;
                ok = y != NULL;
            }
            e >>= 1;
            if (ok && e) ok = (base = npg_matmul(base, base)) != NULL;
        }
        if (!ok) y = NULL;
    }
    return npg__finish(fn, s, y);
}

/* ---- norms --------------------------------------------------------------------------------------------------- */

typedef struct vnorm_ctx {
    double ord;
    uint32_t mask; /* reduced axes of the input */
    bool keepdims;
} vnorm_ctx;

/* t (reduced over mask without keepdims) reshaped to keepdims form. */
static npg_array *unreduce(npg_array *t, const npg_array *x, uint32_t mask, bool keepdims) {
    if (keepdims || !t) return t;
    npg_shape s = {.ndim = x->ndim};
    for (int i = 0; i < x->ndim; i++) s.dims[i] = mask >> i & 1 ? 1 : x->shape[i];
    return npg_reshape(t, s);
}

static npg_status vnorm_bw(void *ctx, npg_array *g, int n_in, npg_array *const *in, npg_array *y, npg_array **gin) {
    (void)n_in;
    const vnorm_ctx *c = ctx;
    npg_array *x = npg__cast(in[0], y->dtype);
    npg_array *gk = unreduce(g, x, c->mask, c->keepdims), *nk = unreduce(y, x, c->mask, c->keepdims);
    npg_axes axes = {.n = 0};
    for (int i = 0; i < x->ndim; i++)
        if (c->mask >> i & 1) axes.axes[axes.n++] = i;
    const double p = c->ord;
    npg_array *sx = npg_sign(x), *r;
    if (p == 0) {
        r = npg_zeros_like(x, NULL); /* piecewise constant */
    } else if (p == 1) {
        r = npg_multiply(gk, sx);
    } else if (isinf(p)) {
        /* the extreme elements share the gradient equally */
        npg_array *hit = npg_astype(npg_equal(npg_abs(x), nk), x->dtype);
        npg_array *cnt = npg_sum(hit, axes, true);
        r = npg_divide(npg_multiply(npg_multiply(gk, sx), hit), cnt);
    } else if (p == 2) {
        npg_array *safe = npg_where_scalar(npg_not_equal_scalar(nk, 0), nk, 1);
        r = npg_divide(npg_multiply(gk, x), safe);
    } else {
        /* g sign(x) |x|^(p-1) / norm^(p-1), 0 where x or the norm is 0 */
        npg_array *ax = npg_abs(x);
        npg_array *safe_x = npg_where_scalar(npg_not_equal_scalar(ax, 0), ax, 1);
        npg_array *safe_n = npg_where_scalar(npg_not_equal_scalar(nk, 0), nk, 1);
        r = npg_multiply(npg_multiply(gk, sx),
                         npg_pow_scalar(npg_divide(safe_x, safe_n), p - 1));
    }
    gin[0] = r;
    return r ? NPG_OK : npg_last_status();
}

npg_array *npg_linalg_vector_norm(npg_array *x, double ord, npg_axes axes, bool keepdims) {
    const char *fn = "npg_linalg_vector_norm";
    if (npg__any_null(fn, 1, x)) return NULL;
    NPG_HALF_VIA_F32(fn, x->dtype, npg_linalg_vector_norm(npg__as_f32(x), ord, axes, keepdims));
    if (isnan(ord)) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: ord is NaN", fn);
        return NULL;
    }
    uint32_t mask;
    if (!npg__axes_mask(fn, axes, x->ndim, &mask)) return NULL;
    if (isinf(ord)) {
        int64_t count = 1;
        for (int i = 0; i < x->ndim; i++)
            if (mask >> i & 1) count *= x->shape[i];
        if (count == 0) {
            npg__set_error(NPG_ERR_SHAPE, "%s: the %s-norm of an empty set of values is undefined", fn,
                           ord > 0 ? "inf" : "-inf");
            return NULL;
        }
    }
    npg_dtype dt = npg__float_dtype(x->dtype);
    npg_axes ax = {.n = 0};
    for (int i = 0; i < x->ndim; i++)
        if (mask >> i & 1) ax.axes[ax.n++] = i;
    if (x->ndim == 0) ax = (npg_axes){.n = 0};
    npg_scope s = npg_scope_begin();
    npg_no_grad_begin();
    npg_array *a = npg_abs(npg__cast(x, dt)), *y;
    if (x->ndim == 0) {
        /* the norm of a scalar is |x| (ord 0: x != 0) */
        y = ord == 0 ? npg_astype(npg_not_equal_scalar(a, 0), dt) : npg_copy(a);
    } else if (isinf(ord)) {
        y = ord > 0 ? npg_max(a, ax, keepdims) : npg_min(a, ax, keepdims);
    } else if (ord == 0) {
        y = npg_sum(npg_astype(npg_not_equal_scalar(a, 0), dt), ax, keepdims);
    } else if (ord == 1) {
        y = npg_sum(a, ax, keepdims);
    } else if (ord == 2) {
        y = npg_sqrt(npg_sum(npg_square(a), ax, keepdims));
    } else {
        y = npg_pow_scalar(npg_sum(npg_pow_scalar(a, ord), ax, keepdims), 1 / ord);
    }
    npg_no_grad_end();
    if (y && npg__needs_grad(1, &x)) {
        vnorm_ctx *c = malloc(sizeof *c);
        if (c) *c = (vnorm_ctx){.ord = ord, .mask = mask, .keepdims = keepdims};
        else npg__set_error(NPG_ERR_OOM, "%s: out of memory recording the graph", fn);
        y = c ? npg_custom("linalg_vector_norm", y, 1, &x, vnorm_bw, c, free) : NULL;
    }
    return npg__finish(fn, s, y);
}

npg_array *npg_linalg_matrix_norm(npg_array *x, const char *ord, bool keepdims) {
    const char *fn = "npg_linalg_matrix_norm";
    if (npg__any_null(fn, 1, x) || !mat_check(fn, x, false)) return NULL;
    if (!ord) ord = "fro";
    static const char *const names[] = {"fro", "nuc", "2", "-2", "1", "-1", "inf", "-inf"};
    int which = -1;
    for (int i = 0; i < 8; i++)
        if (!strcmp(ord, names[i])) which = i;
    if (which < 0) {
        npg__set_error(NPG_ERR_INVALID_ARG,
                       "%s: ord \"%.32s\" is not one of \"fro\", \"nuc\", \"2\", \"-2\", \"1\", \"-1\", \"inf\", "
                       "\"-inf\"",
                       fn, ord);
        return NULL;
    }
    if (which >= 2 && (x->shape[x->ndim - 1] == 0 || x->shape[x->ndim - 2] == 0)) {
        char sa[NPG_SHAPE_BUF];
        npg__set_error(NPG_ERR_SHAPE, "%s: the \"%s\" norm of empty matrices %s is undefined", fn, ord,
                       npg__shape_str(sa, sizeof sa, x->ndim, x->shape));
        return NULL;
    }
    npg_scope s = npg_scope_begin();
    npg_array *xf = npg__cast(x, npg__float_dtype(x->dtype)), *y;
    switch (which) {
    case 0: y = npg_linalg_vector_norm(xf, 2, NPG_AXES(-2, -1), false); break;
    case 1: y = npg_sum(npg_linalg_svdvals(xf), NPG_AXES(-1), false); break;
    case 2: y = npg_max(npg_linalg_svdvals(xf), NPG_AXES(-1), false); break;
    case 3: y = npg_min(npg_linalg_svdvals(xf), NPG_AXES(-1), false); break;
    case 4: y = npg_max(npg_sum(npg_abs(xf), NPG_AXES(-2), false), NPG_AXES(-1), false); break;
    case 5: y = npg_min(npg_sum(npg_abs(xf), NPG_AXES(-2), false), NPG_AXES(-1), false); break;
    case 6: y = npg_max(npg_sum(npg_abs(xf), NPG_AXES(-1), false), NPG_AXES(-1), false); break;
    default: y = npg_min(npg_sum(npg_abs(xf), NPG_AXES(-1), false), NPG_AXES(-1), false); break;
    }
    if (keepdims) y = npg_expand_dims(npg_expand_dims(y, -1), -1);
    return npg__finish(fn, s, y);
}

/* ---- cross --------------------------------------------------------------------------------------------------- */

npg_array *npg_linalg_cross(npg_array *a, npg_array *b, int axis) {
    const char *fn = "npg_linalg_cross";
    if (npg__any_null(fn, 2, a, b) || !npg__check_devices(fn, 2, (npg_array *[]){a, b})) return NULL;
    int nd;
    int64_t shape[NPG_MAX_DIMS];
    if (!npg__broadcast_shapes(fn, a->ndim, a->shape, b->ndim, b->shape, &nd, shape)) return NULL;
    int ax;
    if (!npg__norm_axis(fn, axis, nd, &ax)) return NULL;
    const npg_array *ops[2] = {a, b};
    for (int i = 0; i < 2; i++) {
        int oa = ax - (nd - ops[i]->ndim);
        if (oa < 0 || ops[i]->shape[oa] != 3) {
            npg__set_error(NPG_ERR_SHAPE, "%s: %s has %s %lld along axis %d (3-vectors only)", fn, i ? "b" : "a",
                           oa < 0 ? "no axis" : "length", oa < 0 ? 0LL : (long long)ops[i]->shape[oa], axis);
            return NULL;
        }
    }
    npg_scope s = npg_scope_begin();
    npg_shape sh = {.ndim = nd};
    memcpy(sh.dims, shape, sizeof(int64_t) * (size_t)nd);
    npg_array *A = npg_broadcast_to(a, sh), *B = npg_broadcast_to(b, sh);
    /* c_i = a_{i+1} b_{i+2} - a_{i+2} b_{i+1} */
    npg_array *y = npg_subtract(npg_multiply(npg_roll(A, -1, ax), npg_roll(B, -2, ax)),
                                npg_multiply(npg_roll(A, -2, ax), npg_roll(B, -1, ax)));
    return npg__finish(fn, s, y);
}
