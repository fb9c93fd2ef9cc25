/*
 * test_fuzz2.c — the API-misuse fuzzer of test_fuzz.c (its machinery is in
 * tests/support/fuzz_shared.h; test_fuzz.c's opening comment describes the
 * checks made after every call) on the functions added after it:
 *   - moveaxis, roll, tile, unstack, broadcast_arrays, meshgrid, tril, triu,
 *     diff; tensordot (both forms) and einsum, with subscripts built from the
 *     operands (letters, repeated letters, ellipses, implicit and explicit
 *     outputs) and malformed ones (bad characters, wrong operand counts, "..",
 *     repeated or unknown output letters, mismatched lengths, too many
 *     dimensions);
 *   - batch_norm, group_norm, pad, scaled_dot_product_attention;
 *   - npg_custom with backward rules that misbehave, npg_checkpoint with
 *     functions that do, gradient hooks (npg_register_hook /
 *     npg_remove_hook) that replace gradients badly or fail;
 *   - npg_to_dlpack / npg_from_dlpack with hand-made DLManagedTensors;
 *   - every function of npg/linalg.h (cholesky, qr, eigh, eigvalsh, svd,
 *     svdvals, solve, solve_triangular, lstsq, inv, det, slogdet, pinv,
 *     matrix_rank, matrix_power, vector_norm, matrix_norm, cross) with every
 *     combination of NULL outputs and flags, bad ords, NaN rtols, huge and
 *     negative powers, on matrices whose values are wild (NaN, infinities),
 *     well conditioned (diagonally dominant), singular (zero rows or columns,
 *     repeated rows), not positive definite or small integers, and on
 *     broadcast views too large to copy;
 *   - the layers of nn_layers.c: conv1d, conv_transpose1d and 2d (groups,
 *     strides, paddings, output paddings and dilations, zero = default,
 *     negative or huge), adaptive_avg_pool2d, interpolate (every mode, bad
 *     naxes, sizes and modes), rms_norm, lstm_cell, gru_cell and rnn_cell
 *     (states that broadcast or not, NULL states and biases, wrong
 *     weights), the activations elu ... logsigmoid and glu (bad alphas and
 *     bounds, odd axes), one_hot (labels out of range, num_classes -1), cosine_similarity
 *     and the losses l1, smooth_l1, huber, kl_div and binary_cross_entropy
 *     (bad reductions, betas and deltas), on operands of every dtype, and on
 *     broadcast views too large to materialise (the failure must name the
 *     function called first: "npg_rms_norm: npg_square: ...");
 *   - npg_rnn, npg_bernoulli and npg_multinomial, and the autograd engine's
 *     in-place accumulation of gradients (below).
 * Besides those checks, a call this file knows to be valid must succeed, and
 * its result is compared with a host reference (shape, and the values of
 * every rearranging op, of pad, tensordot and einsum on small integers, and
 * of the gradients that custom rules, checkpointed functions and hooks
 * produce); a failed backward leaves .grad as it was; every context passed
 * to npg (ctx_free) is freed exactly once, and every DLPack deleter runs
 * exactly once after a successful import and never after a failed one.
 * A linear algebra result is checked against properties computed on the
 * host where its input is tame (Q R = A, L L^T = A, A X = b, A inv(A) = I,
 * det and its gradient by the Leibniz formula, the sum of the eigenvalues
 * = the trace, sum S^2 = |A|_F^2, pinv(A) A = I for a well conditioned A,
 * exact integer matrix powers, norms and cross products); a matrix with a
 * zero row or column must make solve, inv and negative powers fail with
 * NPG_ERR_LINALG (and have det 0), one with a diagonal element <= 0 must
 * make cholesky fail; a NaN must not vanish from eigenvalues, singular
 * values or norms; results require grad exactly when an input does, and
 * backward through them succeeds (with finite gradients where the function
 * is smooth there) or, where the contract allows, fails with a status and a
 * message leaving .grad as it was; a call that hangs aborts the test after
 * 30 s, naming it.
 * A layer's result has the shape of the header's formulas (conv and
 * transposed conv lengths, pooled and resampled sizes, one_hot's last axis,
 * a loss's broadcast shape with reduction NONE), its dtype, and requires
 * grad exactly when an operand does; where the inputs are tame its values
 * match host references (direct convolution loops, window means, exact
 * nearest gathers and linear taps, rms_norm, the recurrent cells, the
 * activations, glu, cosine similarity, the pointwise losses and their sums),
 * hardtanh is exactly the clip, one_hot rows are exact unit rows, cosine
 * similarity is within [-1, 1] for finite inputs, |h'| of an LSTM or tanh
 * cell is at most 1 (a GRU's at most max(1, |h|), a relu cell's h' >= 0); a
 * label out of range is NPG_ERR_INDEX; npg_gradcheck
 * passes on small calls away from the kinks; every failure's message begins
 * with the function's name.
 * The statistics of ops_stats.c (quantile, nanquantile with every method and
 * bad ones, median, nanmedian, nansum, nanmean, topk with NULL outputs,
 * isclose, allclose, cov, corrcoef, bincount, histogram) run on every dtype,
 * 0-d, empty and 7- and 8-d operands and views, with repeated, negative and
 * out-of-range axes, q outside [0, 1] or NaN, k out of range, negative and
 * huge labels and minlengths, weights of the wrong shape, empty, reversed
 * and non-finite histogram ranges, huge bins, negative and NaN tolerances,
 * values with ties, signed zeros, NaN of both signs and infinities; a
 * failure with one invalid argument has its status (NPG_ERR_DTYPE, _AXIS,
 * _SHAPE, _INVALID_ARG, _INDEX for a negative label). Results are compared
 * with host references: quantiles exactly with NumPy 1.24's arithmetic (in
 * float32 for float32 and integer input), medians with NumPy's median (the
 * middle element, or the mean of the middle two), nansum of integers
 * exactly (wrapping), the other sums and means, cov and corrcoef (NaN for a
 * constant row, within [-1, 1]) within tolerances, topk's values and
 * indices against a sort (NaN largest; each index distinct and pointing at
 * its value, bit for bit), isclose elementwise and allclose exactly (in the
 * promoted dtype's arithmetic), bincount and histogram counts exactly
 * (NumPy's bin rule, in float32 for float32 input) and their weighted sums;
 * calls on broadcast views of 2^47 elements fail naming the function.
 * The recurrent layers: npg_rnn in every mode (tanh, relu, LSTM, GRU) with
 * 0 to 3 layers, one or two directions, batch_first, unbatched input,
 * sequences of 0 to 5 steps, batches of 0 to 3, with and without biases,
 * h0 and c0 given or not, h_n and c_n wanted or not, x of every dtype and
 * transposed, strided (negative steps too) or broadcast, mixed parameter
 * dtypes, one array passed as two parameters, dropout off, total (1) or
 * random while training (two equally seeded generators give the same
 * result) or set but not training (no dropout); and the wrong calls: wrong
 * n_params, parameter shapes and states, c0 or c_n in a mode without c, bad
 * modes, negative num_layers, dropout outside [0, 1] or NaN, NULL x, out,
 * params or entries of params, x of 0, 1 or 4 axes, and x of 2^46 steps or
 * batches (a broadcast view). A valid call's out, h_n and c_n have the
 * header's shapes and dtype (x's promoted with the parameters') and require
 * grad exactly when an operand reaching them does; their values match a
 * host float64 implementation of PyTorch's equations (gate orders i, f, g, o
 * and r, z, n; n = tanh(W_in x + b_in + r (W_hn h + b_hn))), layers stacked
 * and directions joined as the header says; npg_gradcheck passes on tiny
 * float64 calls away from relu's kink. The cells (npg_rnn_cell, and
 * npg_lstm_cell and npg_gru_cell above) are checked against the same host
 * step. A NULL among params with an error pending and the dtype rule where
 * a parameter goes unused are checked once, after the random calls.
 * Sampling: npg_bernoulli and npg_multinomial on every dtype and shape
 * (0-d, empty, 8-d, views), probabilities outside [0, 1], NaN and infinite,
 * weights with zeros, zero rows, negative, NaN and infinite ones, with and
 * without replacement, num_samples from 0 past K to huge: valid calls give
 * exactly the definitions recomputed on the host from the uniforms an
 * equally seeded generator gives (u < p; the inverse CDF of the normalised
 * cumulative weights, clamped to the last positive weight; the smallest keys
 * -log1p(-u) / w in order), the next call on a generator the next uniforms;
 * invalid ones fail as the header lists; a huge p fails naming the function.
 * The autograd engine's in-place accumulation: a random graph (leaves of
 * small integers; slices with steps of either sign and out-of-range bounds,
 * integer indices, new axes, ellipses, diagonals with offsets, views of
 * views and of intermediates; add, subtract, reshape, transpose, expand,
 * positive, copies, sums, products) is built twice from the same draws, with
 * gradient hooks that see, keep (the gradient, a view of it) or replace it
 * (keeping the replacement or not), a scalar root or a non-scalar one with a
 * caller's gradient (transposed, strided or broadcast); a normal backward
 * (once, or twice through a retained graph) and npg_grad_of on the first
 * must give exactly what a create_graph backward (the out-of-place paths)
 * gives on the second: the leaves' .grad, npg_grad_of's results and every
 * gradient a hook saw; what a hook kept, npg_grad_of's results and the
 * caller's gradient never change afterwards.
 * NPG_FUZZ_SCALE, NPG_FUZZ_SEED and NPG_FUZZ_TRACE work as in test_fuzz.c.
 */
#define _POSIX_C_SOURCE 200809L /* alarm, write */
#include "fuzz_shared.h"

#include <signal.h>

#if defined(__has_include)
#if __has_include(<dlpack/dlpack.h>)
#include <npg/dlpack.h>
#define FUZZ_DLPACK 1
#endif
#endif

TestSuite(fuzz2, .init = suite_init, .fini = suite_fini);

/* ------------------------------------------------------------------------
 * Helpers: snapshots, references, element access
 * ------------------------------------------------------------------------ */

/* The row-major bytes of operand x as they were when the call began. */
static const unsigned char *snap(const npg_array *x) {
    for (int i = 0; i < C.nw; i++)
        if (C.w[i].x == x) return C.w[i].bytes;
    cr_assert_fail("fuzz: an operand without a snapshot");
    return NULL;
}

static unsigned char *read_bytes(const npg_array *r) {
    size_t nb = npg_nbytes(r);
    unsigned char *b = malloc(nb ? nb : 1);
    cr_assert(b);
    cr_assert_eq(npg_copy_to_host(r, b, nb), NPG_OK, "fuzz: reading an array: %s", npg_last_error());
    return b;
}

static bool same_shape(npg_shape a, npg_shape b) {
    return a.ndim == b.ndim && memcmp(a.dims, b.dims, sizeof(int64_t) * (size_t)a.ndim) == 0;
}

static void expect_shape(const npg_array *r, npg_shape want, const char *what) {
    npg_shape s = npg_shape_of(r);
    char a[128], b[128];
    CHECK(same_shape(s, want), "%s: result shape %s, expected %s", what, shape_str(&s, a, sizeof a),
          shape_str(&want, b, sizeof b));
}

static void unravel(int64_t flat, const npg_shape *s, int64_t *idx) {
    for (int d = s->ndim - 1; d >= 0; d--) {
        int64_t n = s->dims[d] ? s->dims[d] : 1;
        idx[d] = flat % n;
        flat /= n;
    }
}
static int64_t ravel(const int64_t *idx, const npg_shape *s) {
    int64_t f = 0;
    for (int d = 0; d < s->ndim; d++) f = f * s->dims[d] + idx[d];
    return f;
}

static int64_t *alloc_i64(int64_t n) {
    int64_t *p = malloc(sizeof(int64_t) * (size_t)(n > 0 ? n : 1));
    cr_assert(p);
    return p;
}

/* r holds, at each flat index j, x's element src[j] (x's row-major index as
 * the call began), or the itemsize bytes `fill` (NULL: zero bytes) where
 * src[j] < 0. Takes src. */
static void expect_gather(const npg_array *r, const npg_array *x, int64_t *src, const unsigned char *fill,
                          const char *what) {
    static const unsigned char zero[8];
    CHECK(npg_dtype_of(r) == npg_dtype_of(x), "%s: result dtype %s, expected %s", what,
          npg_dtype_name(npg_dtype_of(r)), npg_dtype_name(npg_dtype_of(x)));
    size_t is = npg_itemsize(x);
    int64_t n = npg_size(r);
    unsigned char *got = read_bytes(r);
    const unsigned char *xb = snap(x);
    for (int64_t j = 0; j < n; j++) {
        const unsigned char *want = src[j] >= 0 ? xb + (size_t)src[j] * is : fill ? fill : zero;
        if (memcmp(got + (size_t)j * is, want, is) != 0) {
            long long s = (long long)src[j];
            free(got);
            free(src);
            fail("%s: element %lld of the result differs from the reference (%s %lld)", what, (long long)j,
                 s >= 0 ? "the operand's element" : "padding", s);
        }
    }
    free(got);
    free(src);
}

/* Element i of row-major bytes b of dtype dt, as a double. */
static double elem_f(const unsigned char *b, npg_dtype dt, int64_t i) { return fz_get_f(b, dt, i); }

/* d = hi - lo in dtype dt (integers wrap; bool: hi != lo; the half types
 * in float32, rounded once). */
static void sub_elem(npg_dtype dt, unsigned char *d, const unsigned char *hi, const unsigned char *lo) {
    switch (dt) {
    case NPG_BOOL: *d = (*hi != 0) != (*lo != 0); break;
    case NPG_UINT8:
    case NPG_UINT16:
    case NPG_UINT32:
    case NPG_UINT64:
    case NPG_INT8:
    case NPG_INT16:
    case NPG_INT32:
    case NPG_INT64: t_put_bits(dt, d, 0, t_get_bits(dt, hi, 0) - t_get_bits(dt, lo, 0)); break;
    case NPG_FLOAT32: {
        float a, b;
        memcpy(&a, hi, 4);
        memcpy(&b, lo, 4);
        float r = a - b;
        memcpy(d, &r, 4);
        break;
    }
    case NPG_FLOAT64: {
        double a, b;
        memcpy(&a, hi, 8);
        memcpy(&b, lo, 8);
        double r = a - b;
        memcpy(d, &r, 8);
        break;
    }
    case NPG_FLOAT16:
    case NPG_BFLOAT16: {
        uint16_t a, b;
        memcpy(&a, hi, 2);
        memcpy(&b, lo, 2);
        float r = (float)elem_f((const unsigned char *)&a, dt, 0) - (float)elem_f((const unsigned char *)&b, dt, 0);
        uint16_t h = dt == NPG_FLOAT16 ? npg_s_f32_to_f16(r) : npg_s_f32_to_bf16(r);
        memcpy(d, &h, 2);
        break;
    }
    default: cr_assert_fail("fuzz: sub_elem of a %s element", npg_dtype_name(dt));
    }
}

/* Host values (as doubles) of r against want[0..n): equal, NaN matching NaN. */
static void expect_values(const npg_array *r, const double *want, int64_t n, double tol, const char *what) {
    CHECK(npg_size(r) == n, "%s: %lld elements, expected %lld", what, (long long)npg_size(r), (long long)n);
    double *got = t_read(r);
    cr_assert(got || n == 0);
    for (int64_t j = 0; j < n; j++) {
        double g = got[j], w = want[j];
        bool ok = (isnan(g) && isnan(w)) || g == w || fabs(g - w) <= tol * (1 + fabs(w));
        if (!ok) {
            free(got);
            fail("%s: element %lld is %.17g, expected %.17g", what, (long long)j, g, w);
        }
    }
    free(got);
}

/* A random subset of k of ndim axes, in random order, some negative. */
static npg_axes distinct_axes(int ndim, int k) {
    int perm[NPG_MAX_DIMS];
    for (int i = 0; i < ndim; i++) perm[i] = i;
    for (int i = ndim - 1; i > 0; i--) {
        int j = rint_in(0, i), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    npg_axes a = {.n = k};
    for (int i = 0; i < k; i++) a.axes[i] = perm[i] - (chance(30) ? ndim : 0);
    return a;
}

/* Normalise axes for ndim dims into out: in range, no repeats, 0 <= n <= 8. */
static bool norm_unique(npg_axes a, int ndim, int *out) {
    if (a.n < 0 || a.n > NPG_MAX_DIMS) return false;
    for (int i = 0; i < a.n; i++) {
        int x = a.axes[i];
        if (x < -ndim || x >= ndim) return false;
        out[i] = x < 0 ? x + ndim : x;
        for (int j = 0; j < i; j++)
            if (out[j] == out[i]) return false;
    }
    return true;
}

static bool norm_axis(int axis, int ndim, int *out) {
    if (axis < -ndim || axis >= ndim) return false;
    *out = axis < 0 ? axis + ndim : axis;
    return true;
}

/* The broadcast of n shapes into *out; false if they do not broadcast. */
static bool bcast_shapes(const npg_shape *s, int n, npg_shape *out) {
    npg_shape r = {0};
    for (int i = 0; i < n; i++) r.ndim = s[i].ndim > r.ndim ? s[i].ndim : r.ndim;
    if (r.ndim > NPG_MAX_DIMS) return false;
    for (int d = 0; d < r.ndim; d++) r.dims[d] = 1;
    for (int i = 0; i < n; i++)
        for (int d = 0; d < s[i].ndim; d++) {
            int64_t v = s[i].dims[d], *o = &r.dims[r.ndim - s[i].ndim + d];
            if (v == 1) continue;
            if (*o != 1 && *o != v) return false;
            *o = v;
        }
    *out = r;
    return true;
}

/* Index into an operand of shape s broadcast to shape full, at full's idx. */
static int64_t bcast_src(const int64_t *idx, const npg_shape *full, const npg_shape *s) {
    int64_t f = 0;
    for (int d = 0; d < s->ndim; d++) {
        int64_t v = idx[full->ndim - s->ndim + d];
        f = f * s->dims[d] + (s->dims[d] == 1 ? 0 : v);
    }
    return f;
}

/* Operands filled with small integers (exact sums in any dtype). */
static npg_array *small_operand(npg_dtype dt, npg_shape s) {
    g_fill.ranged = true;
    g_fill.lo = -2;
    g_fill.hi = 2;
    g_fill.bad = 0;
    npg_array *x = operand(dt, s);
    g_fill.ranged = false;
    return x;
}

/* An operand of small integers that requires grad half of the time (when
 * floating). */
static npg_array *small_make(npg_dtype dt, npg_shape s) {
    g_fill.ranged = true;
    g_fill.lo = -2;
    g_fill.hi = 2;
    g_fill.bad = 0;
    npg_array *x = make(dt, s, 50);
    g_fill.ranged = false;
    return x;
}

/* Has the array a zero stride over a dimension longer than 1 (read-only)? */
static bool is_broadcast(const npg_array *x) {
    int64_t st[NPG_MAX_DIMS];
    npg_shape s = npg_shape_of(x);
    if (npg_strides(x, st) != NPG_OK) return false;
    for (int i = 0; i < s.ndim; i++)
        if (st[i] == 0 && s.dims[i] > 1) return true;
    return false;
}

static bool g_ng; /* no-grad mode entered for this call */
static void ng_maybe(void) {
    g_ng = chance(8);
    if (g_ng) npg_no_grad_begin();
}
static void ng_end(void) {
    if (g_ng) npg_no_grad_end();
    g_ng = false;
}

#define VALID_FAILED(r) CHECK((r) != NULL, "a valid call failed: %s", npg_last_error())

/* ------------------------------------------------------------------------
 * moveaxis, roll, tile, unstack, broadcast_arrays, meshgrid, tril, triu, diff
 * ------------------------------------------------------------------------ */

static void fz_moveaxis(void) {
    npg_array *x = any_operand();
    int nd = x ? npg_ndim(x) : rint_in(0, 3);
    int k = rint_in(0, nd);
    npg_axes src = distinct_axes(nd, k), dst = distinct_axes(nd, k);
    if (chance(15)) {
        if (chance(50)) src = rand_axes(nd);
        else dst = rand_axes(nd);
    }
    if (chance(4)) dst.n = src.n + (chance(50) ? 1 : -1);
    int s[NPG_MAX_DIMS], d[NPG_MAX_DIMS], perm[NPG_MAX_DIMS];
    bool ok = src.n == dst.n && norm_unique(src, nd, s) && norm_unique(dst, nd, d);
    if (ok) { /* NumPy: the other axes in order, then each source inserted at its destination, by destination */
        int m = 0;
        for (int i = 0; i < nd; i++) {
            bool moved = false;
            for (int j = 0; j < src.n; j++) moved |= s[j] == i;
            if (!moved) perm[m++] = i;
        }
        for (int pos = 0; pos < nd; pos++)
            for (int j = 0; j < src.n; j++)
                if (d[j] == pos) {
                    memmove(perm + pos + 1, perm + pos, sizeof(int) * (size_t)(m - pos));
                    perm[pos] = s[j];
                    m++;
                }
    }
    char a1[96], a2[96];
    call("npg_moveaxis(x, %s, %s)", axes_str(src, a1, sizeof a1), axes_str(dst, a2, sizeof a2));
    arg(x);
    if (!ok) must_fail();
    go();
    npg_array *r = npg_moveaxis(x, src, dst);
    if (x && ok) {
        VALID_FAILED(r);
        npg_shape xs = npg_shape_of(x), want = {.ndim = nd};
        for (int i = 0; i < nd; i++) want.dims[i] = xs.dims[perm[i]];
        expect_shape(r, want, "moveaxis");
        int64_t n = npg_size(r), *ref = alloc_i64(n), o[NPG_MAX_DIMS], in[NPG_MAX_DIMS];
        for (int64_t j = 0; j < n; j++) {
            unravel(j, &want, o);
            for (int i = 0; i < nd; i++) in[perm[i]] = o[i];
            ref[j] = ravel(in, &xs);
        }
        expect_gather(r, x, ref, NULL, "moveaxis");
    }
    done(r);
}

static void fz_roll(void) {
    npg_array *x = any_operand();
    int nd = x ? npg_ndim(x) : rint_in(0, 3);
    int64_t shift = chance(60) ? rint_in(-7, 7) : weird_i64();
    int axis = chance(25) ? NPG_FLAT : rand_axis(nd), a = 0;
    bool ok = axis == NPG_FLAT || norm_axis(axis, nd, &a);
    call("npg_roll(x, %lld, %d)", (long long)shift, axis);
    arg(x);
    if (!ok) must_fail();
    go();
    npg_array *r = npg_roll(x, shift, axis);
    if (x && ok) {
        VALID_FAILED(r);
        npg_shape xs = npg_shape_of(x);
        expect_shape(r, xs, "roll");
        int64_t n = npg_size(x), *ref = alloc_i64(n), idx[NPG_MAX_DIMS];
        for (int64_t j = 0; j < n; j++) {
            if (axis == NPG_FLAT) {
                int64_t k = ((shift % n) + n) % n;
                ref[j] = (j - k + n) % n;
            } else {
                int64_t len = xs.dims[a], k = ((shift % len) + len) % len;
                unravel(j, &xs, idx);
                idx[a] = (idx[a] - k + len) % len;
                ref[j] = ravel(idx, &xs);
            }
        }
        expect_gather(r, x, ref, NULL, "roll");
    }
    done(r);
}

static void fz_tile(void) {
    npg_array *x = any_operand();
    npg_shape reps;
    if (chance(80)) {
        reps = (npg_shape){.ndim = rint_in(0, 4)};
        for (int i = 0; i < reps.ndim; i++) reps.dims[i] = chance(8) ? 0 : rint_in(1, 3);
    } else {
        reps = rand_shape_arg();
    }
    bool ok = reps.ndim >= 0 && reps.ndim <= NPG_MAX_DIMS;
    for (int i = 0; ok && i < reps.ndim; i++) ok = reps.dims[i] >= 0;
    npg_shape xs = x ? npg_shape_of(x) : (npg_shape){0}, want = {0};
    bool small = false;
    if (ok && x) {
        /* representable (each length, and the product of the nonzero ones in
         * bytes, as for any array) and small: must succeed */
        int m = xs.ndim > reps.ndim ? xs.ndim : reps.ndim;
        want.ndim = m;
        double total = 1, nonzero = 1;
        small = true;
        for (int i = 0; i < m; i++) {
            int xi = i - (m - xs.ndim), ri = i - (m - reps.ndim);
            int64_t a = xi >= 0 ? xs.dims[xi] : 1, b = ri >= 0 ? reps.dims[ri] : 1;
            if (__builtin_mul_overflow(a, b, &want.dims[i])) small = false;
            total *= (double)a * (double)b;
            if (a && b) nonzero *= (double)a * (double)b;
        }
        small = small && total <= 4096 && nonzero <= 0x1p59;
    }
    char sb[128];
    call("npg_tile(x, %s)", shape_str(&reps, sb, sizeof sb));
    arg(x);
    if (!ok) must_fail();
    go();
    npg_array *r = npg_tile(x, reps);
    if (x && ok && small) {
        VALID_FAILED(r);
        expect_shape(r, want, "tile");
        int64_t n = npg_size(r), *ref = alloc_i64(n), o[NPG_MAX_DIMS], in[NPG_MAX_DIMS];
        for (int64_t j = 0; j < n; j++) {
            unravel(j, &want, o);
            for (int i = 0; i < xs.ndim; i++) in[i] = o[want.ndim - xs.ndim + i] % xs.dims[i];
            ref[j] = ravel(in, &xs);
        }
        expect_gather(r, x, ref, NULL, "tile");
    }
    done(r);
}

/* A stand-in for "not written": outputs must be NULL after a failure. */
static char g_unset;
#define UNSET ((npg_array *)&g_unset)

/* After a multi-output call: on failure out[0..n) are NULL; on success each
 * is a sane array. */
static void check_outputs(npg_status st, npg_array **out, int n) {
    for (int i = 0; i < n; i++) {
        if (st != NPG_OK) {
            CHECK(out[i] == NULL, "failed but output %d is not NULL", i);
            continue;
        }
        CHECK(out[i] != NULL && out[i] != UNSET, "succeeded without output %d", i);
        check_sane(out[i]);
    }
}
static void free_outputs(npg_status st, npg_array **out, int n) {
    if (st != NPG_OK) return;
    for (int i = 0; i < n; i++) {
        if (i == 0) maybe_backward(out[i]);
        npg_free(out[i]);
    }
}

static void fz_unstack(void) {
    npg_array *x = any_operand();
    int nd = x ? npg_ndim(x) : rint_in(0, 3);
    int axis = rand_axis(nd), a = 0;
    bool axis_ok = norm_axis(axis, nd, &a);
    int64_t len = x && axis_ok ? npg_dim(x, a) : -1;
    int cnt = axis_ok && x && chance(85) ? (int)len : rint_in(-2, 12);
    bool null_out = chance(4);
    npg_array *out[16];
    for (int i = 0; i < 16; i++) out[i] = UNSET;
    call("npg_unstack(x, %d, %s, %d)", axis, null_out ? "NULL" : "out", cnt);
    arg(x);
    if (null_out || (x && (!axis_ok || cnt != len))) must_fail();
    go();
    npg_status st = npg_unstack(x, axis, null_out ? NULL : out, cnt);
    done_status(st);
    if (null_out) return;
    check_outputs(st, out, cnt);
    if (st == NPG_OK) {
        npg_shape xs = npg_shape_of(x), want = {.ndim = nd - 1};
        for (int i = 0, k = 0; i < nd; i++)
            if (i != a) want.dims[k++] = xs.dims[i];
        for (int s = 0; s < cnt; s++) {
            expect_shape(out[s], want, "unstack");
            int64_t n = npg_size(out[s]), *ref = alloc_i64(n), o[NPG_MAX_DIMS], in[NPG_MAX_DIMS];
            for (int64_t j = 0; j < n; j++) {
                unravel(j, &want, o);
                for (int i = 0, k = 0; i < nd; i++) in[i] = i == a ? s : o[k++];
                ref[j] = ravel(in, &xs);
            }
            expect_gather(out[s], x, ref, NULL, "unstack");
        }
    }
    free_outputs(st, out, cnt);
}

static void fz_broadcast_arrays(void) {
    int cnt = chance(92) ? rint_in(0, 4) : rint_in(-2, -1);
    npg_shape base = rand_shape();
    npg_array *arrs[4] = {0};
    npg_shape shapes[4] = {{0}};
    int nn = 0;
    for (int i = 0; i < cnt; i++) {
        arrs[i] = operand(NPG_DTYPE_DEFAULT, chance(85) ? bcast_partner(base) : rand_shape());
        if (arrs[i]) shapes[nn++] = npg_shape_of(arrs[i]);
    }
    npg_shape full;
    bool compat = bcast_shapes(shapes, nn, &full);
    bool null_list = cnt > 0 && chance(4), null_out = chance(4);
    npg_array *out[8];
    for (int i = 0; i < 8; i++) out[i] = UNSET;
    call("npg_broadcast_arrays(%s, %d, %s)", null_list ? "NULL" : "arrays", cnt, null_out ? "NULL" : "out");
    for (int i = 0; i < cnt; i++) arg(arrs[i]);
    if (null_list || null_out || cnt < 0 || !compat) must_fail();
    go();
    npg_status st = npg_broadcast_arrays(null_list ? NULL : arrs, cnt, null_out ? NULL : out);
    done_status(st);
    if (null_out) return;
    check_outputs(st, out, cnt);
    for (int i = 0; st == NPG_OK && i < cnt; i++) {
        expect_shape(out[i], full, "broadcast_arrays");
        npg_shape s = npg_shape_of(arrs[i]);
        int64_t n = npg_size(out[i]), *ref = alloc_i64(n), o[NPG_MAX_DIMS];
        for (int64_t j = 0; j < n; j++) {
            unravel(j, &full, o);
            ref[j] = bcast_src(o, &full, &s);
        }
        expect_gather(out[i], arrs[i], ref, NULL, "broadcast_arrays");
    }
    free_outputs(st, out, cnt);
}

static void fz_meshgrid(void) {
    int cnt = chance(90) ? rint_in(0, 4) : chance(50) ? rint_in(-2, -1) : rint_in(5, 9);
    npg_array *arrs[9] = {0};
    bool all_1d = true;
    for (int i = 0; i < cnt; i++) {
        npg_shape s = chance(92) ? (npg_shape){1, {chance(8) ? 0 : rint_in(1, 3)}} : rand_shape();
        if (cnt > 4) s = (npg_shape){1, {rint_in(1, 2)}};
        arrs[i] = operand(NPG_DTYPE_DEFAULT, s);
        if (arrs[i] && npg_ndim(arrs[i]) != 1) all_1d = false;
    }
    static const char *const idxs[] = {NULL, "xy", "ij", "xy", "ij", "XY", "", "ijk", "i", "yx"};
    const char *ix = PICK(idxs);
    bool ix_ok = !ix || !strcmp(ix, "xy") || !strcmp(ix, "ij");
    bool null_list = cnt > 0 && chance(4), null_out = chance(4);
    npg_array *out[12];
    for (int i = 0; i < 12; i++) out[i] = UNSET;
    call("npg_meshgrid(%s, %d, %s%s%s, %s)", null_list ? "NULL" : "arrays", cnt, ix ? "\"" : "", ix ? ix : "NULL",
         ix ? "\"" : "", null_out ? "NULL" : "out");
    for (int i = 0; i < cnt; i++) arg(arrs[i]);
    if (null_list || null_out || cnt < 0 || cnt > NPG_MAX_DIMS || !ix_ok || !all_1d) must_fail();
    go();
    npg_status st = npg_meshgrid(null_list ? NULL : arrs, cnt, ix, null_out ? NULL : out);
    done_status(st);
    if (null_out || cnt < 0 || cnt > NPG_MAX_DIMS) return;
    check_outputs(st, out, cnt);
    if (st == NPG_OK) {
        bool swap = (!ix || !strcmp(ix, "xy")) && cnt >= 2;
        npg_shape full = {.ndim = cnt};
        for (int i = 0; i < cnt; i++) full.dims[i] = npg_dim(arrs[i], 0);
        if (swap) {
            int64_t t = full.dims[0];
            full.dims[0] = full.dims[1];
            full.dims[1] = t;
        }
        for (int i = 0; i < cnt; i++) {
            expect_shape(out[i], full, "meshgrid");
            int pos = swap && i < 2 ? 1 - i : i;
            int64_t n = npg_size(out[i]), *ref = alloc_i64(n), o[NPG_MAX_DIMS];
            for (int64_t j = 0; j < n; j++) {
                unravel(j, &full, o);
                ref[j] = o[pos];
            }
            expect_gather(out[i], arrs[i], ref, NULL, "meshgrid");
        }
    }
    free_outputs(st, out, cnt);
}

static void fz_tri(void) {
    npg_array *x = any_operand();
    int nd = x ? npg_ndim(x) : 2;
    int64_t k = chance(70) ? rint_in(-4, 4) : weird_i64();
    bool upper = chance(50);
    call("npg_%s(x, %lld)", upper ? "triu" : "tril", (long long)k);
    arg(x);
    if (nd < 2) must_fail();
    go();
    npg_array *r = upper ? npg_triu(x, k) : npg_tril(x, k);
    if (x && nd >= 2) {
        VALID_FAILED(r);
        npg_shape xs = npg_shape_of(x);
        expect_shape(r, xs, upper ? "triu" : "tril");
        int64_t n = npg_size(x), *ref = alloc_i64(n), idx[NPG_MAX_DIMS];
        for (int64_t j = 0; j < n; j++) {
            unravel(j, &xs, idx);
            int64_t d = idx[nd - 1] - idx[nd - 2];
            ref[j] = (upper ? d >= k : d <= k) ? j : -1;
        }
        expect_gather(r, x, ref, NULL, upper ? "triu" : "tril");
    }
    done(r);
}

static void fz_diff(void) {
    npg_array *x = any_operand();
    int nd = x ? npg_ndim(x) : rint_in(0, 3);
    int nn = chance(75) ? rint_in(0, 3) : weird_int();
    int axis = chance(80) ? rand_axis(nd) : (nd ? nd - 1 : 0), a = 0;
    bool ok = nn >= 0 && norm_axis(axis, nd, &a);
    call("npg_diff(x, %d, %d)", nn, axis);
    arg(x);
    if (!ok) must_fail();
    go();
    npg_array *r = npg_diff(x, nn, axis);
    if (x && ok) {
        VALID_FAILED(r);
        /* the reference: n differences along a, in x's dtype */
        npg_dtype dt = npg_dtype_of(x);
        size_t is = (size_t)fz_size(dt);
        npg_shape cs = npg_shape_of(x);
        int64_t cn = npg_size(x);
        unsigned char *cur = malloc((size_t)(cn ? cn : 1) * is);
        cr_assert(cur);
        memcpy(cur, snap(x), (size_t)cn * is);
        for (int step = 0; step < nn && cs.dims[a] > 0; step++) {
            npg_shape ns = cs;
            ns.dims[a]--;
            int64_t m = numel_of(ns), idx[NPG_MAX_DIMS];
            unsigned char *nxt = malloc((size_t)(m ? m : 1) * is);
            cr_assert(nxt);
            for (int64_t j = 0; j < m; j++) {
                unravel(j, &ns, idx);
                int64_t lo = ravel(idx, &cs);
                idx[a]++;
                int64_t hi = ravel(idx, &cs);
                sub_elem(dt, nxt + (size_t)j * is, cur + (size_t)hi * is, cur + (size_t)lo * is);
            }
            free(cur);
            cur = nxt;
            cs = ns;
        }
        expect_shape(r, cs, "diff");
        CHECK(npg_dtype_of(r) == dt, "diff: result dtype %s, expected %s", npg_dtype_name(npg_dtype_of(r)),
              npg_dtype_name(dt));
        unsigned char *got = read_bytes(r);
        int64_t m = numel_of(cs);
        for (int64_t j = 0; j < m; j++) {
            bool same = memcmp(got + (size_t)j * is, cur + (size_t)j * is, is) == 0;
            if (!same && npg_is_floating(dt)) same = isnan(elem_f(got, dt, j)) && isnan(elem_f(cur, dt, j));
            if (!same) {
                double g = elem_f(got, dt, j), w = elem_f(cur, dt, j);
                free(got);
                free(cur);
                fail("diff: element %lld is %.17g, expected %.17g", (long long)j, g, w);
            }
        }
        free(got);
        free(cur);
    }
    done(r);
}

Test(fuzz2, manip) {
    int n = start("manip", 21, 6000);
    for (int it = 0; it < n; it++) {
        iter_begin(it);
        switch (rint_in(0, 8)) {
        case 0: fz_moveaxis(); break;
        case 1: fz_roll(); break;
        case 2: fz_tile(); break;
        case 3: fz_unstack(); break;
        case 4: fz_broadcast_arrays(); break;
        case 5: fz_meshgrid(); break;
        case 6: fz_tri(); break;
        default: fz_diff(); break;
        }
        iter_end();
    }
    finish();
}

/* ------------------------------------------------------------------------
 * tensordot and einsum
 * ------------------------------------------------------------------------ */

/* The largest integer magnitude a result or intermediate of dtype dt holds
 * exactly and that the host's double references add exactly (2^53). */
static double exact_limit(npg_dtype dt) {
    switch (dt) {
    case NPG_INT8: return INT8_MAX;
    case NPG_UINT8: return UINT8_MAX;
    case NPG_INT16: return INT16_MAX;
    case NPG_UINT16: return UINT16_MAX;
    case NPG_INT32: return INT32_MAX;
    case NPG_UINT32: return UINT32_MAX;
    case NPG_INT64:
    case NPG_UINT64:
    case NPG_FLOAT64: return 0x1p53;
    case NPG_FLOAT32: return 0x1p24;
    case NPG_FLOAT16: return 0x1p11;
    case NPG_BFLOAT16: return 0x1p8;
    case NPG_BOOL: return 0; /* products are ands, sums ors */
    default: cr_assert_fail("fuzz: exact_limit of dtype %d", (int)dt);
    }
    return 0;
}
/* The largest magnitude among the n elements of x as the call began (at
 * least 1); false where one is not an integer. */
static bool int_maxabs(const npg_array *x, double *m) {
    const unsigned char *b = snap(x);
    npg_dtype dt = npg_dtype_of(x);
    *m = 1;
    for (int64_t i = 0; i < npg_size(x); i++) {
        double v = elem_f(b, dt, i);
        if (!(v == floor(v))) return false;
        if (fabs(v) > *m) *m = fabs(v);
    }
    return true;
}

static void fz_tensordot(void) {
    npg_shape sa = rand_shape();
    if (sa.ndim > 5) sa.ndim = 5;
    int k = rint_in(0, sa.ndim < 3 ? sa.ndim : 3);
    bool with_axes = chance(50);
    /* a's contracted axes ca[], paired with b's cb[] */
    int ca[NPG_MAX_DIMS], cb[NPG_MAX_DIMS];
    npg_axes aa = distinct_axes(sa.ndim, k);
    if (!with_axes)
        for (int i = 0; i < k; i++) aa.axes[i] = sa.ndim - k + i;
    for (int i = 0; i < k; i++) ca[i] = aa.axes[i] < 0 ? aa.axes[i] + sa.ndim : aa.axes[i];
    int extra = rint_in(0, 2);
    npg_shape sb = {.ndim = k + extra};
    npg_axes ab = with_axes ? distinct_axes(sb.ndim, k) : (npg_axes){.n = k};
    for (int i = 0; i < k; i++) {
        if (!with_axes) ab.axes[i] = i;
        cb[i] = ab.axes[i] < 0 ? ab.axes[i] + sb.ndim : ab.axes[i];
    }
    for (int i = 0; i < sb.ndim; i++) sb.dims[i] = rint_in(1, 3);
    for (int i = 0; i < k; i++) sb.dims[cb[i]] = sa.dims[ca[i]];
    if (k > 0 && chance(8)) sb.dims[cb[rint_in(0, k - 1)]] += 1;
    npg_array *a = small_operand(NPG_DTYPE_DEFAULT, sa), *b = chance(5) ? a : small_operand(NPG_DTYPE_DEFAULT, sb);
    int nd_a = a ? npg_ndim(a) : sa.ndim, nd_b = b ? npg_ndim(b) : sb.ndim;
    int nn = chance(85) ? k : chance(50) ? rint_in(-1, 5) : weird_int();
    if (chance(10)) {
        if (chance(50)) aa = rand_axes(nd_a);
        else ab = rand_axes(nd_b);
    }
    if (chance(3)) ab.n = aa.n + (chance(50) ? 1 : -1);
    /* validity, with the contracted pairs as npg must see them */
    bool ok;
    int kk;
    if (with_axes) {
        kk = aa.n;
        ok = aa.n == ab.n && norm_unique(aa, nd_a, ca) && norm_unique(ab, nd_b, cb);
    } else {
        kk = nn;
        ok = nn >= 0 && nn <= nd_a && nn <= nd_b;
        for (int i = 0; ok && i < nn; i++) {
            ca[i] = nd_a - nn + i;
            cb[i] = i;
        }
    }
    if (ok && a && b)
        for (int i = 0; i < kk; i++) ok &= npg_dim(a, ca[i]) == npg_dim(b, cb[i]);
    if (ok) ok = nd_a + nd_b - 2 * kk <= NPG_MAX_DIMS;
    char a1[96], a2[96];
    if (with_axes)
        call("npg_tensordot_axes(a, b, %s, %s)", axes_str(aa, a1, sizeof a1), axes_str(ab, a2, sizeof a2));
    else
        call("npg_tensordot(a, b, %d)", nn);
    arg(a);
    arg(b);
    if (!ok) must_fail();
    go();
    npg_array *r = with_axes ? npg_tensordot_axes(a, b, aa, ab) : npg_tensordot(a, b, nn);
    if (a && b && ok) {
        VALID_FAILED(r);
        npg_shape xa = npg_shape_of(a), xb = npg_shape_of(b), want = {0}, kshape = {.ndim = kk};
        int fa[NPG_MAX_DIMS], fb[NPG_MAX_DIMS], nfa = 0, nfb = 0;
        for (int i = 0; i < nd_a; i++) {
            bool c = false;
            for (int j = 0; j < kk; j++) c |= ca[j] == i;
            if (!c) fa[nfa++] = i, want.dims[want.ndim++] = xa.dims[i];
        }
        for (int i = 0; i < nd_b; i++) {
            bool c = false;
            for (int j = 0; j < kk; j++) c |= cb[j] == i;
            if (!c) fb[nfb++] = i, want.dims[want.ndim++] = xb.dims[i];
        }
        for (int j = 0; j < kk; j++) kshape.dims[j] = xa.dims[ca[j]];
        expect_shape(r, want, "tensordot");
        /* one matmul in the promoted dtype: integers wrap in it (exact here
         * modulo 2^64, then wrapped), bool is an or of ands, floats are
         * compared where the values are integers whose sums it holds */
        npg_dtype da = npg_dtype_of(a), db = npg_dtype_of(b), dt = fz_result_type(da, db);
        CHECK(npg_dtype_of(r) == dt, "tensordot: result dtype %s, expected %s", npg_dtype_name(npg_dtype_of(r)),
              npg_dtype_name(dt));
        int64_t n = numel_of(want), K = numel_of(kshape);
        double ma, mb;
        bool exact = !npg_is_floating(dt) ||
                     (int_maxabs(a, &ma) && int_maxabs(b, &mb) && (double)K * ma * mb <= exact_limit(dt));
        if (exact) {
            const unsigned char *ba = snap(a), *bb = snap(b);
            int64_t o[NPG_MAX_DIMS], kc[NPG_MAX_DIMS], ia[NPG_MAX_DIMS], ib[NPG_MAX_DIMS];
            double *ref = malloc(sizeof(double) * (size_t)(n ? n : 1));
            unsigned char *iref = malloc((size_t)(n ? n : 1) * 8);
            cr_assert(ref && iref);
            for (int64_t j = 0; j < n; j++) {
                unravel(j, &want, o);
                for (int i = 0; i < nfa; i++) ia[fa[i]] = o[i];
                for (int i = 0; i < nfb; i++) ib[fb[i]] = o[nfa + i];
                double acc = 0;
                uint64_t iacc = 0;
                for (int64_t q = 0; q < K; q++) {
                    unravel(q, &kshape, kc);
                    for (int i = 0; i < kk; i++) ia[ca[i]] = ib[cb[i]] = kc[i];
                    int64_t ja = ravel(ia, &xa), jb = ravel(ib, &xb);
                    if (npg_is_floating(dt)) {
                        acc += elem_f(ba, da, ja) * elem_f(bb, db, jb);
                    } else {
                        uint64_t p = t_get_bits(da, ba, ja) * t_get_bits(db, bb, jb);
                        iacc = dt == NPG_BOOL ? (iacc | p) : iacc + p;
                    }
                }
                ref[j] = acc;
                if (!npg_is_floating(dt)) t_put_bits(dt, iref, j, iacc);
            }
            if (npg_is_floating(dt)) {
                expect_values(r, ref, n, 0, "tensordot");
            } else {
                size_t is = (size_t)fz_size(dt);
                unsigned char *got = read_bytes(r);
                int64_t bad = -1;
                for (int64_t j = 0; j < n && bad < 0; j++)
                    if (memcmp(got + (size_t)j * is, iref + (size_t)j * is, is) != 0) bad = j;
                double g = bad >= 0 ? elem_f(got, dt, bad) : 0, w = bad >= 0 ? elem_f(iref, dt, bad) : 0;
                free(got);
                if (bad >= 0) {
                    free(ref);
                    free(iref);
                    fail("tensordot: element %lld is %.17g, expected %.17g (in %s)", (long long)bad, g, w,
                         npg_dtype_name(dt));
                }
            }
            free(ref);
            free(iref);
        }
    }
    done(r);
}

/* einsum: a call described by letters per operand (an ellipsis among them),
 * built into the subscripts string and the operands' shapes. Ellipsis
 * dimensions are labelled ELL + r, r counted from the right. */
#define ELL 1000
#define EIN_MAX_OPS 4

typedef struct ein_op {
    int nlet;
    char let[12];
    int ellpos; /* -1: no '...'; else the number of letters before it */
    int e;      /* dimensions the ellipsis stands for */
    npg_shape shape;
} ein_op;

typedef struct ein_call {
    int n;
    ein_op op[EIN_MAX_OPS];
    bool arrow;
    int nout;
    char out[12];
    int out_ellpos;
    int64_t lsize[128];
    int64_t esize[NPG_MAX_DIMS];
    int emax;
} ein_call;

static const char EIN_LETTERS_ALL[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/* The labels of op's dimensions, in order. */
static int ein_labels(const ein_op *op, int *lab) {
    int n = 0;
    for (int k = 0; k <= op->nlet; k++) {
        if (k == op->ellpos)
            for (int t = 0; t < op->e; t++) lab[n++] = ELL + op->e - 1 - t;
        if (k < op->nlet) lab[n++] = (unsigned char)op->let[k];
    }
    return n;
}

static int ein_str(const ein_call *ec, char *buf, size_t len, bool spaces) {
    int k = 0;
    buf[0] = '\0';
    for (int i = 0; i < ec->n; i++) {
        if (i) k += snprintf(buf + k, len - (size_t)k, ",");
        const ein_op *op = &ec->op[i];
        for (int j = 0; j <= op->nlet; j++) {
            if (j == op->ellpos) k += snprintf(buf + k, len - (size_t)k, "...");
            if (j < op->nlet) k += snprintf(buf + k, len - (size_t)k, "%s%c", spaces && chance(5) ? " " : "", op->let[j]);
        }
    }
    if (ec->arrow) {
        k += snprintf(buf + k, len - (size_t)k, "->");
        for (int j = 0; j <= ec->nout; j++) {
            if (j == ec->out_ellpos) k += snprintf(buf + k, len - (size_t)k, "...");
            if (j < ec->nout) k += snprintf(buf + k, len - (size_t)k, "%c", ec->out[j]);
        }
    }
    return k;
}

/* A valid call: at most 6 letters and 2 ellipsis dimensions in all (so no
 * intermediate result needs more than NPG_MAX_DIMS dimensions). */
static void ein_gen(ein_call *ec) {
    memset(ec, 0, sizeof *ec);
    ec->n = chance(10) ? 3 : rint_in(1, 2);
    char pool[8];
    int np = rint_in(1, 6);
    for (int i = 0; i < np; i++) {
        char c;
        bool dup;
        do {
            c = chance(75) ? (char)('a' + rint_in(0, 5)) : EIN_LETTERS_ALL[rint_in(0, 51)];
            dup = false;
            for (int j = 0; j < i; j++) dup |= pool[j] == c;
        } while (dup);
        pool[i] = c;
        ec->lsize[(unsigned char)c] = chance(6) ? 0 : rint_in(1, 3);
    }
    int E = chance(25) ? rint_in(1, 2) : 0;
    for (int r = 0; r < E; r++) ec->esize[r] = chance(5) ? 0 : rint_in(1, 3);
    for (int i = 0; i < ec->n; i++) {
        ein_op *op = &ec->op[i];
        op->nlet = rint_in(0, 3);
        for (int k = 0; k < op->nlet; k++)
            op->let[k] = k > 0 && chance(12) ? op->let[rint_in(0, k - 1)] : pool[rint_in(0, np - 1)];
        op->ellpos = E && chance(70) ? rint_in(0, op->nlet) : -1;
        op->e = op->ellpos >= 0 ? rint_in(0, E) : 0;
        if (op->e > ec->emax) ec->emax = op->e;
        int lab[NPG_MAX_DIMS], nl = ein_labels(op, lab);
        op->shape.ndim = nl;
        for (int d = 0; d < nl; d++)
            op->shape.dims[d] = lab[d] >= ELL ? (chance(30) ? 1 : ec->esize[lab[d] - ELL]) : ec->lsize[lab[d]];
    }
    ec->arrow = chance(70);
    ec->out_ellpos = -1;
    if (ec->arrow) {
        bool used[128] = {false};
        for (int i = 0; i < ec->n; i++)
            for (int k = 0; k < ec->op[i].nlet; k++) used[(unsigned char)ec->op[i].let[k]] = true;
        for (int c = 0; c < 128; c++)
            if (used[c] && chance(60)) ec->out[ec->nout++] = (char)c;
        for (int j = ec->nout - 1; j > 0; j--) {
            int q = rint_in(0, j);
            char t = ec->out[j];
            ec->out[j] = ec->out[q];
            ec->out[q] = t;
        }
        bool any_ell = false;
        for (int i = 0; i < ec->n; i++) any_ell |= ec->op[i].ellpos >= 0;
        if (any_ell ? chance(75) : chance(5)) ec->out_ellpos = rint_in(0, ec->nout);
    }
}

/* The output labels of a valid call (NumPy's rules); returns their count. */
static int ein_out_labels(const ein_call *ec, int *lab) {
    int n = 0;
    if (ec->arrow) {
        for (int j = 0; j <= ec->nout; j++) {
            if (j == ec->out_ellpos)
                for (int t = 0; t < ec->emax; t++) lab[n++] = ELL + ec->emax - 1 - t;
            if (j < ec->nout) lab[n++] = (unsigned char)ec->out[j];
        }
        return n;
    }
    /* implicit: the ellipsis dimensions, then the letters written once, in
     * the order of their character codes (NumPy's: 'A'-'Z' before 'a'-'z') */
    for (int t = 0; t < ec->emax; t++) lab[n++] = ELL + ec->emax - 1 - t;
    int count[128] = {0};
    for (int i = 0; i < ec->n; i++)
        for (int k = 0; k < ec->op[i].nlet; k++) count[(unsigned char)ec->op[i].let[k]]++;
    for (int c = 0; c < 128; c++)
        if (count[c] == 1) lab[n++] = c;
    return n;
}

/* Length of a label: a letter's, or the broadcast of an ellipsis dimension. */
static int64_t ein_len(const ein_call *ec, int l) {
    if (l < ELL) return ec->lsize[l];
    int64_t s = 1;
    for (int i = 0; i < ec->n; i++) {
        int lab[NPG_MAX_DIMS], nl = ein_labels(&ec->op[i], lab);
        for (int d = 0; d < nl; d++)
            if (lab[d] == l && ec->op[i].shape.dims[d] != 1) s = ec->op[i].shape.dims[d];
    }
    return s;
}

/* Expected shape and (when ops are not NULL) values of a valid call. */
static void ein_reference(const ein_call *ec, npg_shape *shape, double **values, npg_array *const *ops) {
    int olab[NPG_MAX_DIMS], no = ein_out_labels(ec, olab);
    shape->ndim = no;
    for (int d = 0; d < no; d++) shape->dims[d] = ein_len(ec, olab[d]);
    *values = NULL;
    if (!ops) return;
    /* every label, and an odometer over their values */
    int all[2 * NPG_MAX_DIMS], na = 0;
    int oplab[EIN_MAX_OPS][NPG_MAX_DIMS], opn[EIN_MAX_OPS];
    for (int i = 0; i < ec->n; i++) {
        opn[i] = ein_labels(&ec->op[i], oplab[i]);
        for (int d = 0; d < opn[i]; d++) {
            bool seen = false;
            for (int j = 0; j < na; j++) seen |= all[j] == oplab[i][d];
            if (!seen) all[na++] = oplab[i][d];
        }
    }
    npg_shape full = {.ndim = na};
    for (int j = 0; j < na; j++) full.dims[j] = ein_len(ec, all[j]);
    int64_t nout = numel_of(*shape), total = numel_of(full);
    double *acc = calloc((size_t)(nout ? nout : 1), sizeof *acc);
    cr_assert(acc);
    int64_t v[2 * NPG_MAX_DIMS], idx[NPG_MAX_DIMS];
    for (int64_t q = 0; q < total; q++) {
        unravel(q, &full, v);
        double prod = 1;
        for (int i = 0; i < ec->n; i++) {
            for (int d = 0; d < opn[i]; d++) {
                int j = 0;
                while (all[j] != oplab[i][d]) j++;
                idx[d] = ec->op[i].shape.dims[d] == 1 ? 0 : v[j];
            }
            prod *= elem_f(snap(ops[i]), npg_dtype_of(ops[i]), ravel(idx, &ec->op[i].shape));
        }
        for (int d = 0; d < no; d++) {
            int j = 0;
            while (all[j] != olab[d]) j++;
            idx[d] = v[j];
        }
        acc[ravel(idx, shape)] += prod;
    }
    *values = acc;
}

static void fz_einsum(void) {
    ein_call ec;
    ein_gen(&ec);
    char sub[256];
    int kind = chance(60) ? 0 : rint_in(1, 13);
    bool valid = kind == 0;
    const char *what = "valid";
    /* corruptions of the call itself (before the string is built) */
    switch (kind) {
    case 4: { /* an output letter repeated */
        what = "an output letter repeated";
        ec.arrow = true;
        int i = rint_in(0, ec.n - 1);
        char c = ec.op[i].nlet ? ec.op[i].let[0] : 'a';
        if (!ec.op[i].nlet) {
            ec.op[i].let[ec.op[i].nlet++] = c;
            ec.op[i].shape.dims[ec.op[i].shape.ndim++] = 1;
            if (ec.op[i].ellpos >= 0) ec.op[i].ellpos = 0; /* the letter goes after the ellipsis... */
        }
        ec.out[ec.nout++] = c;
        ec.out[ec.nout++] = c;
        if (ec.out_ellpos > ec.nout) ec.out_ellpos = ec.nout;
        break;
    }
    case 5: { /* an output letter in no operand */
        what = "an output letter in no operand";
        ec.arrow = true;
        bool used[128] = {false};
        for (int i = 0; i < ec.n; i++)
            for (int k = 0; k < ec.op[i].nlet; k++) used[(unsigned char)ec.op[i].let[k]] = true;
        char c;
        do c = EIN_LETTERS_ALL[rint_in(0, 51)];
        while (used[(unsigned char)c]);
        int at = rint_in(0, ec.nout);
        memmove(ec.out + at + 1, ec.out + at, (size_t)(ec.nout - at));
        ec.out[at] = c;
        ec.nout++;
        if (ec.out_ellpos > at) ec.out_ellpos++;
        break;
    }
    case 6: { /* a letter standing for two lengths */
        what = "a letter standing for two lengths";
        int i = rint_in(0, ec.n - 1), lab[NPG_MAX_DIMS], nl = ein_labels(&ec.op[i], lab);
        int cand[NPG_MAX_DIMS], nc = 0;
        for (int d = 0; d < nl; d++) {
            if (lab[d] >= ELL) continue;
            int uses = 0;
            for (int j = 0; j < ec.n; j++)
                for (int k = 0; k < ec.op[j].nlet; k++) uses += (unsigned char)ec.op[j].let[k] == lab[d];
            if (uses >= 2) cand[nc++] = d;
        }
        if (nc == 0) { /* make a second use: the letter again, in a new operand */
            if (ec.n < EIN_MAX_OPS && nl > 0 && lab[0] < ELL) {
                ein_op *op = &ec.op[ec.n++];
                memset(op, 0, sizeof *op);
                op->nlet = 1;
                op->let[0] = (char)lab[0];
                op->ellpos = -1;
                op->shape = (npg_shape){1, {ec.lsize[lab[0]] + 1}};
            } else {
                valid = true; /* nothing to mismatch */
            }
        } else {
            ec.op[i].shape.dims[cand[rint_in(0, nc - 1)]] += 1;
        }
        break;
    }
    case 7: { /* an operand with more letters than dimensions (or fewer) */
        what = "letters and dimensions differ";
        int i = rint_in(0, ec.n - 1);
        ein_op *op = &ec.op[i];
        if (op->ellpos < 0 || chance(30)) {
            if (op->nlet > 0 && chance(40) && op->ellpos < 0) {
                op->nlet--; /* fewer letters */
                if (op->ellpos > op->nlet) op->ellpos = op->nlet;
            } else {
                int add = op->ellpos >= 0 ? op->shape.ndim + 1 - op->nlet : 1; /* more than the dims */
                for (int a = 0; a < add && op->nlet < 11; a++) op->let[op->nlet++] = 'z';
            }
        } else {
            int add = op->shape.ndim + 1 - op->nlet;
            for (int a = 0; a < add && op->nlet < 11; a++) op->let[op->nlet++] = 'y';
        }
        break;
    }
    case 8: { /* more than NPG_MAX_DIMS output dimensions: 9 or more letters, each once */
        what = "more than 8 output dimensions";
        memset(&ec, 0, sizeof ec);
        ec.n = 3;
        int c = 0;
        for (int i = 0; i < 3; i++) {
            ein_op *op = &ec.op[i];
            op->ellpos = -1;
            op->nlet = rint_in(3, 4);
            op->shape.ndim = op->nlet;
            for (int k = 0; k < op->nlet; k++) {
                op->let[k] = EIN_LETTERS_ALL[c++];
                op->shape.dims[k] = 1;
            }
        }
        ec.arrow = chance(30);
        ec.out_ellpos = -1;
        if (ec.arrow)
            for (int k = 0; k < c && ec.nout < 11; k++) ec.out[ec.nout++] = EIN_LETTERS_ALL[k];
        break;
    }
    default: break;
    }
    int len = ein_str(&ec, sub, sizeof sub - 8, kind == 0);
    int nops = ec.n;
    /* corruptions of the string or the count */
    switch (kind) {
    case 1:
    case 2: { /* a character that is no subscript */
        what = "a bad character";
        static const char bad[] = "1#_!*-\t>";
        int at = rint_in(0, len);
        memmove(sub + at + 1, sub + at, (size_t)(len - at + 1));
        sub[at] = bad[rint_in(0, (int)sizeof bad - 2)];
        break;
    }
    case 3: { /* ".." */
        what = "\"..\"";
        char *e = strstr(sub, "...");
        if (e && chance(50)) {
            memmove(e + 2, e + 3, strlen(e + 3) + 1);
        } else {
            int at = rint_in(0, len);
            memmove(sub + at + 2, sub + at, (size_t)(len - at + 1));
            sub[at] = sub[at + 1] = '.';
        }
        break;
    }
    case 9: /* one operand more than the terms */
        what = "more operands than terms";
        nops = ec.n + 1;
        break;
    case 10: /* one operand fewer */
        what = "fewer operands than terms";
        nops = ec.n - 1;
        break;
    case 11: { /* an ellipsis twice in one term */
        what = "two ellipses in one term";
        char *e = strstr(sub, "...");
        if (!e) e = sub;
        memmove(e + 4, e, strlen(e) + 1);
        memcpy(e, "...a", 4);
        break;
    }
    case 12: /* a trailing comma */
        what = "a trailing comma";
        if (ec.arrow) {
            char *ar = strstr(sub, "->");
            memmove(ar + 1, ar, strlen(ar) + 1);
            *ar = ',';
        } else {
            strcat(sub, ",");
        }
        break;
    case 13: /* "->" twice */
        what = "two arrows";
        strcat(sub, ec.arrow ? "->" : "->->");
        break;
    default: break;
    }
    /* the operands: small integers, so that sums are exact */
    npg_array *ops[EIN_MAX_OPS + 1] = {0};
    for (int i = 0; i < ec.n; i++) {
        ops[i] = small_operand(NPG_DTYPE_DEFAULT, ec.op[i].shape);
        for (int j = 0; j < i; j++) /* one array twice */
            if (ops[j] && same_shape(ec.op[j].shape, ec.op[i].shape) && chance(15)) ops[i] = ops[j];
    }
    if (nops > ec.n) ops[ec.n] = small_operand(NPG_DTYPE_DEFAULT, rand_shape());
    bool null_sub = chance(2), null_ops = chance(2);
    call("npg_einsum(\"%s\", %s, %d) [%s]", null_sub ? "(NULL)" : sub, null_ops ? "NULL" : "operands", nops, what);
    for (int i = 0; i < nops; i++) arg(ops[i]);
    if (!valid || null_sub || (null_ops && nops > 0) || nops < 1) must_fail();
    go();
    npg_array *r = npg_einsum(null_sub ? NULL : sub, null_ops ? NULL : ops, nops);
    /* values are compared where no product, sum or intermediate (each in
     * the dtype its operands promote to, sums of integers in int64 or
     * uint64) can leave the range the narrowest operand dtype holds exactly:
     * the terms' count times the product of the operands' largest
     * magnitudes bounds every one of them */
    bool all_ops = true, exact = true;
    double bound = 1; /* the terms: the product of every label's length */
    bool seen[ELL + NPG_MAX_DIMS] = {false};
    for (int i = 0; valid && i < ec.n; i++) {
        int lab[NPG_MAX_DIMS], nl = ein_labels(&ec.op[i], lab);
        for (int d = 0; d < nl; d++)
            if (!seen[lab[d]]) {
                seen[lab[d]] = true;
                bound *= (double)ein_len(&ec, lab[d]);
            }
    }
    for (int i = 0; i < nops; i++) {
        all_ops &= ops[i] != NULL;
        double m;
        if (ops[i]) exact = exact && int_maxabs(ops[i], &m) && (bound *= m, true);
    }
    for (int i = 0; i < nops && exact; i++)
        if (ops[i]) exact = bound <= exact_limit(npg_dtype_of(ops[i]));
    if (valid && all_ops && !null_sub && !null_ops) {
        VALID_FAILED(r);
        npg_shape want;
        double *ref;
        ein_reference(&ec, &want, &ref, exact ? ops : NULL);
        expect_shape(r, want, "einsum");
        if (ref) expect_values(r, ref, numel_of(want), 0, "einsum");
        free(ref);
    }
    done(r);
}

Test(fuzz2, contractions) {
    int n = start("contractions", 22, 3000);
    for (int it = 0; it < n; it++) {
        iter_begin(it);
        if (chance(30)) fz_tensordot();
        else fz_einsum();
        iter_end();
    }
    finish();
}

/* ------------------------------------------------------------------------
 * batch_norm, group_norm, pad, scaled_dot_product_attention
 * ------------------------------------------------------------------------ */

/* (N, C, ...) for the normalisations: mostly 2 to 4 dims. */
static npg_shape norm_shape(void) {
    npg_shape s = rand_shape();
    if (s.ndim < 2 && chance(85)) {
        s.ndim = rint_in(2, 4);
        int64_t n = 1;
        for (int i = 0; i < s.ndim; i++) {
            s.dims[i] = chance(5) ? 0 : rint_in(1, 3);
            if (n * s.dims[i] > 64) s.dims[i] = 1;
            n *= s.dims[i] ? s.dims[i] : 1;
        }
    }
    return s;
}

/* A per-channel vector (C) for a normalisation: NULL, right, or wrong. */
static npg_array *channel_vec(int64_t c, bool *right) {
    *right = true;
    if (chance(30)) return NULL;
    npg_shape s = {1, {c}};
    if (chance(8)) {
        s = rand_shape();
        *right = s.ndim == 1 && s.dims[0] == c;
    }
    npg_dtype dt = chance(90) ? rand_float_dtype() : rand_dtype();
    npg_array *v = operand(dt, s);
    if (!v) *right = true; /* NULL is "none" */
    return v;
}

static double norm_eps(void) { return chance(80) ? 1e-5 : chance(50) ? runit() : weird_double(); }

static void fz_batch_norm(void) {
    npg_shape xs = norm_shape();
    npg_array *x = operand(chance(85) ? rand_float_dtype() : rand_dtype(), xs);
    int64_t nc = xs.ndim >= 2 ? xs.dims[1] : 1;
    bool rm_ok, rv_ok, w_ok, b_ok;
    npg_array *rm = channel_vec(nc, &rm_ok), *rv = chance(4) ? rm : channel_vec(nc, &rv_ok);
    if (rv == rm) rv_ok = rm_ok;
    npg_array *w = channel_vec(nc, &w_ok), *b = channel_vec(nc, &b_ok);
    bool training = chance(60);
    double momentum = chance(70) ? 0.1 : chance(60) ? runit() : weird_double(), eps = norm_eps();
    int64_t count = 1;
    for (int i = 0; i < xs.ndim; i++)
        if (i != 1) count *= xs.dims[i];
    bool updates = training && rm && rv;
    bool ok = x && npg_ndim(x) >= 2 && npg_is_floating(npg_dtype_of(x)) && rm_ok && rv_ok && w_ok && b_ok &&
              (training || (rm && rv)) && eps >= 0 && momentum >= 0 && momentum <= 1 && (!training || count >= 2);
    /* floating running statistics (the arithmetic refuses bool), writable
     * when they are updated: must succeed */
    bool clean = ok && (!rm || npg_is_floating(npg_dtype_of(rm))) && (!rv || npg_is_floating(npg_dtype_of(rv))) &&
                 (!updates || (rm != rv && !is_broadcast(rm) && !is_broadcast(rv)));
    call("npg_batch_norm(x, %s, %s, %s, %s, training=%d, momentum=%g, eps=%g)", rm ? "rm" : "NULL",
         rv == rm && rm ? "rm" : rv ? "rv" : "NULL", w ? "w" : "NULL", b ? "b" : "NULL", training, momentum, eps);
    arg(x);
    if (updates) {
        target(rm);
        target(rv);
    } else {
        opt_arg(rm);
        opt_arg(rv);
    }
    opt_arg(w);
    opt_arg(b);
    bool x_ok_alone = !x || (npg_ndim(x) >= 2 && npg_is_floating(npg_dtype_of(x)));
    if (x_ok_alone && x && !ok) must_fail();
    if (!x && (!rm_ok || !rv_ok || !w_ok || !b_ok || (!training && !(rm && rv)) || !(eps >= 0) ||
               !(momentum >= 0 && momentum <= 1)))
        must_fail(); /* the arguments are checked after x, but either error may win */
    if (x && !x_ok_alone) must_fail();
    ng_maybe();
    go();
    npg_array *r = npg_batch_norm(x, rm, rv, w, b, training, momentum, eps);
    ng_end();
    if (clean) {
        VALID_FAILED(r);
        expect_shape(r, xs, "batch_norm");
        CHECK(npg_is_floating(npg_dtype_of(r)), "batch_norm: a %s result", npg_dtype_name(npg_dtype_of(r)));
    }
    done(r);
}

static void fz_group_norm(void) {
    npg_shape xs = norm_shape();
    npg_array *x = operand(chance(80) ? rand_float_dtype() : rand_dtype(), xs);
    int64_t nc = xs.ndim >= 2 ? xs.dims[1] : 1;
    int g;
    if (chance(75) && nc > 0) {
        do g = rint_in(1, (int)nc);
        while (nc % g);
    } else {
        g = chance(50) ? rint_in(-1, 4) : weird_int();
    }
    bool w_ok, b_ok;
    npg_array *w = channel_vec(nc, &w_ok), *b = channel_vec(nc, &b_ok);
    double eps = norm_eps();
    bool ok = xs.ndim >= 2 && g >= 1 && nc % g == 0 && w_ok && b_ok && eps >= 0;
    call("npg_group_norm(x, %d, %s, %s, %g)", g, w ? "w" : "NULL", b ? "b" : "NULL", eps);
    arg(x);
    opt_arg(w);
    opt_arg(b);
    if (!ok) must_fail();
    ng_maybe();
    go();
    npg_array *r = npg_group_norm(x, g, w, b, eps);
    ng_end();
    if (x && ok) {
        VALID_FAILED(r);
        expect_shape(r, xs, "group_norm");
        CHECK(npg_is_floating(npg_dtype_of(r)), "group_norm: a %s result", npg_dtype_name(npg_dtype_of(r)));
    }
    done(r);
}

static void fz_pad(void) {
    npg_array *x = any_operand();
    int nd = x ? npg_ndim(x) : rint_in(0, 3);
    int64_t pw[2 * NPG_MAX_DIMS];
    for (int i = 0; i < 2 * NPG_MAX_DIMS; i++) pw[i] = chance(60) ? 0 : rint_in(0, 2);
    if (chance(12)) pw[rint_in(0, 2 * (nd ? nd : 1) - 1)] = weird_count(); /* never a satisfiable huge size */
    int mode = chance(95) ? rint_in(0, 2) : PICK(((const int[]){-1, 3, 100, INT_MIN}));
    double value = chance(60) ? rint_in(-3, 3) : weird_double();
    bool null_pw = chance(3);
    npg_shape xs = x ? npg_shape_of(x) : (npg_shape){.ndim = nd}, want = {.ndim = nd};
    bool ok = mode >= 0 && mode <= 2 && (!null_pw || nd == 0), small = true;
    double total = 1;
    for (int i = 0; ok && i < nd; i++) {
        int64_t bw = pw[2 * i], aw = pw[2 * i + 1], n = xs.dims[i];
        if (bw < 0 || aw < 0 || bw > ((int64_t)1 << 40) || aw > ((int64_t)1 << 40)) {
            small = false; /* huge padding: may fail (too large), or not */
            ok = bw >= 0 && aw >= 0;
        }
        if ((bw || aw) && mode == NPG_PAD_EDGE && n == 0) ok = false;
        if ((bw || aw) && mode == NPG_PAD_REFLECT && (bw >= n || aw >= n)) ok = false;
        want.dims[i] = n + (small ? bw + aw : 0);
        total *= (double)n + (double)bw + (double)aw;
    }
    small = small && total <= 4096;
    /* the padding value as pad writes it */
    unsigned char fill[8] = {0};
    if (x) {
        npg_array *f = npg_full(NPG_SHAPE(1), value, NPG_OPTS(.dtype = npg_dtype_of(x), .device = t_dev()));
        cr_assert(f, "fuzz setup: npg_full: %s", npg_last_error());
        cr_assert_eq(npg_copy_to_host(f, fill, npg_itemsize(f)), NPG_OK);
        npg_free(f);
    }
    char pb[400];
    int pk = snprintf(pb, sizeof pb, "%s{", null_pw ? "NULL " : "");
    for (int i = 0; i < 2 * nd; i++) pk += snprintf(pb + pk, sizeof pb - (size_t)pk, i ? " %lld" : "%lld", (long long)pw[i]);
    snprintf(pb + pk, sizeof pb - (size_t)pk, "}");
    call("npg_pad(x, %s, mode %d, %g)", pb, mode, value);
    arg(x);
    if (!ok) must_fail();
    go();
    npg_array *r = npg_pad(x, null_pw ? NULL : pw, (npg_pad_mode)mode, value);
    if (x && ok && small) {
        VALID_FAILED(r);
        expect_shape(r, want, "pad");
        int64_t n = npg_size(r), *ref = alloc_i64(n), o[NPG_MAX_DIMS], in[NPG_MAX_DIMS];
        for (int64_t j = 0; j < n; j++) {
            unravel(j, &want, o);
            bool outside = false;
            for (int i = 0; i < nd; i++) {
                int64_t t = o[i] - pw[2 * i], len = xs.dims[i];
                if (t < 0 || t >= len) {
                    if (mode == NPG_PAD_CONSTANT) outside = true;
                    else if (mode == NPG_PAD_EDGE) t = t < 0 ? 0 : len - 1;
                    else t = t < 0 ? -t : 2 * (len - 1) - t;
                }
                in[i] = t;
            }
            ref[j] = outside ? -1 : ravel(in, &xs);
        }
        expect_gather(r, x, ref, fill, "pad");
    }
    done(r);
}

static void fz_attention(void) {
    /* batch axes that broadcast, then (L, E), (S, E), (S, Ev) */
    npg_shape B = rand_shape();
    if (B.ndim > 2) B.ndim = 2;
    int64_t L = chance(8) ? 0 : rint_in(1, 3), S = chance(8) ? 0 : rint_in(1, 3), E = rint_in(0, 3),
            Ev = rint_in(1, 3);
    npg_shape bq = chance(70) ? B : bcast_partner(B), bk = chance(70) ? B : bcast_partner(B),
              bv = chance(70) ? B : bcast_partner(B);
    npg_shape sq = bq, sk = bk, sv = bv;
    if (sq.ndim > 6) sq.ndim = 6;
    if (sk.ndim > 6) sk.ndim = 6;
    if (sv.ndim > 6) sv.ndim = 6;
    sq.dims[sq.ndim++] = L, sq.dims[sq.ndim++] = E;
    sk.dims[sk.ndim++] = S, sk.dims[sk.ndim++] = chance(5) ? E + 1 : E;
    sv.dims[sv.ndim++] = chance(5) ? S + 1 : S, sv.dims[sv.ndim++] = Ev;
    if (chance(4)) sq = rand_shape();
    npg_dtype dt = chance(90) ? rand_float_dtype() : rand_dtype();
    npg_array *q = operand(dt, sq), *k = operand(chance(85) ? dt : rand_dtype(), sk),
              *v = operand(chance(85) ? dt : rand_dtype(), sv);
    /* mask: NULL, bool or additive, shaped (L, S), batched, or wrong */
    npg_array *mask = NULL;
    npg_shape sm = {0};
    int mk = rint_in(0, 99);
    if (mk >= 45) {
        npg_shape ls = {2, {L, S}};
        int r = rint_in(0, 99);
        if (r < 40) sm = ls;
        else if (r < 55) sm = (npg_shape){1, {chance(50) ? S : 1}};
        else if (r < 70) sm = (npg_shape){2, {chance(50) ? L : 1, chance(50) ? S : 1}};
        else if (r < 85) {
            sm = bcast_partner(B);
            if (sm.ndim > 6) sm.ndim = 6;
            sm.dims[sm.ndim++] = chance(70) ? L : 1;
            sm.dims[sm.ndim++] = chance(70) ? S : 1;
        } else sm = rand_shape();
        npg_dtype mdt = mk < 75 ? NPG_BOOL : mk < 95 ? rand_float_dtype() : rand_dtype();
        mask = make(mdt, sm, 10);
    }
    bool causal = chance(30);
    double scale = chance(50) ? 0 : chance(60) ? runit() * 2 : weird_double();
    /* validity and the expected shape: batch axes broadcast; the mask
     * broadcasts to (..., L, S) */
    bool ok = q && k && v;
    npg_shape want = {0};
    if (ok) {
        npg_shape a = npg_shape_of(q), bk_ = npg_shape_of(k), c = npg_shape_of(v);
        ok = a.ndim >= 2 && bk_.ndim >= 2 && c.ndim >= 2;
        if (ok) ok = bk_.dims[bk_.ndim - 1] == a.dims[a.ndim - 1] && c.dims[c.ndim - 2] == bk_.dims[bk_.ndim - 2];
        if (ok) ok = npg_is_floating(npg_dtype_of(q)) && npg_is_floating(npg_dtype_of(k)) &&
                     npg_is_floating(npg_dtype_of(v));
        if (ok && mask) ok = npg_dtype_of(mask) == NPG_BOOL || npg_is_floating(npg_dtype_of(mask));
        if (ok) ok = scale >= 0;
        if (ok) {
            int64_t l = a.dims[a.ndim - 2], s = bk_.dims[bk_.ndim - 2];
            npg_shape bs[4] = {a, bk_, c, {0}};
            int nb = 3;
            bs[0].ndim -= 2, bs[1].ndim -= 2, bs[2].ndim -= 2;
            if (mask) {
                npg_shape m = npg_shape_of(mask);
                if (m.ndim >= 1 && m.dims[m.ndim - 1] != 1 && m.dims[m.ndim - 1] != s) ok = false;
                if (m.ndim >= 2 && m.dims[m.ndim - 2] != 1 && m.dims[m.ndim - 2] != l) ok = false;
                m.ndim = m.ndim >= 2 ? m.ndim - 2 : 0;
                bs[nb++] = m;
            }
            if (ok) ok = bcast_shapes(bs, nb, &want) && want.ndim + 2 <= NPG_MAX_DIMS;
            want.dims[want.ndim++] = l;
            want.dims[want.ndim++] = c.dims[c.ndim - 1];
        }
    }
    call("npg_scaled_dot_product_attention(q, k, v, %s, causal=%d, scale=%g)",
         mask ? (npg_dtype_of(mask) == NPG_BOOL ? "bool mask" : "mask") : "NULL", causal, scale);
    arg(q);
    arg(k);
    arg(v);
    opt_arg(mask);
    if (q && k && v && !ok) must_fail();
    ng_maybe();
    go();
    npg_array *r = npg_scaled_dot_product_attention(q, k, v, mask, causal, scale);
    ng_end();
    if (ok) {
        VALID_FAILED(r);
        expect_shape(r, want, "attention");
    }
    done(r);
}

Test(fuzz2, nn) {
    int n = start("nn", 23, 4000);
    for (int it = 0; it < n; it++) {
        iter_begin(it);
        switch (rint_in(0, 3)) {
        case 0: fz_batch_norm(); break;
        case 1: fz_group_norm(); break;
        case 2: fz_pad(); break;
        default: fz_attention(); break;
        }
        iter_end();
    }
    finish();
}

/* ------------------------------------------------------------------------
 * npg_custom, npg_checkpoint and gradient hooks
 * ------------------------------------------------------------------------ */

/* A context handed to npg: it must be freed exactly once. */
typedef struct fz_ctx {
    int kind;
    int calls, frees;
    bool has_free;       /* a ctx_free was passed with it */
    bool bad;            /* npg called the rule or hook with wrong arguments */
    char why[160];       /* ... which */
    npg_status err;      /* the error a failing rule or hook made */
    npg_array *other;    /* a hook's replacement that belongs to someone else */
    struct fz_ctx *next; /* a nested checkpoint's own */
} fz_ctx;

#define MAX_CTX 16
static fz_ctx g_ctx[MAX_CTX];
static int g_nctx;

static fz_ctx *new_ctx(int kind, bool has_free) {
    cr_assert(g_nctx < MAX_CTX);
    fz_ctx *c = &g_ctx[g_nctx++];
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->has_free = has_free;
    return c;
}
static void count_free(void *p) { ((fz_ctx *)p)->frees++; }

/* After the iteration freed its arrays: every context was freed once (none
 * twice), and npg never passed a rule or hook bad arguments. */
static void check_contexts(void) {
    for (int i = 0; i < g_nctx; i++) {
        fz_ctx *c = &g_ctx[i];
        CHECK(!c->bad, "context %d: %s", i, c->why);
        CHECK(c->frees == (c->has_free ? 1 : 0), "context %d (kind %d) was freed %d times, expected %d", i, c->kind,
              c->frees, c->has_free ? 1 : 0);
    }
    g_nctx = 0;
}

static void mark_bad(fz_ctx *c, const char *why) {
    if (c->bad) return;
    c->bad = true;
    snprintf(c->why, sizeof c->why, "%s", why);
}

/* The leaves in the pool that require grad, their .grad as it was. */
typedef struct grad_snap {
    int n;
    npg_array *leaf[POOL_CAP];
    unsigned char *bytes[POOL_CAP]; /* NULL: no .grad */
} grad_snap;

static void grads_take(grad_snap *s) {
    s->n = 0;
    for (int i = 0; i < g_npool; i++) {
        npg_array *x = g_pool[i].x;
        if (!x || !npg_requires_grad(x) || !npg_is_leaf(x)) continue;
        npg_array *g = npg_grad(x);
        s->leaf[s->n] = x;
        s->bytes[s->n] = g ? read_bytes(g) : NULL;
        s->n++;
        npg_free(g);
    }
}
static void grads_drop(grad_snap *s) {
    for (int i = 0; i < s->n; i++) free(s->bytes[i]);
    s->n = 0;
}
/* After a failed backward: every .grad as it was. */
static void grads_unchanged(grad_snap *s) {
    for (int i = 0; i < s->n; i++) {
        npg_array *g = npg_grad(s->leaf[i]);
        bool same = (g == NULL) == (s->bytes[i] == NULL);
        if (same && g) {
            unsigned char *now = read_bytes(g);
            same = memcmp(now, s->bytes[i], npg_nbytes(g)) == 0;
            free(now);
        }
        npg_free(g);
        CHECK(same, "a failed backward changed the .grad of a leaf");
    }
}

/* Expected gradients: per array, host values (NULL: none expected). */
typedef struct grad_want {
    int n;
    npg_array *x[8];
    double *v[8];
} grad_want;

static double *want_of(grad_want *w, npg_array *x, bool create) {
    for (int i = 0; i < w->n; i++)
        if (w->x[i] == x) {
            if (!w->v[i] && create) w->v[i] = calloc((size_t)(npg_size(x) ? npg_size(x) : 1), sizeof(double));
            return w->v[i];
        }
    if (!create) return NULL;
    cr_assert(w->n < 8);
    w->x[w->n] = x;
    w->v[w->n] = calloc((size_t)(npg_size(x) ? npg_size(x) : 1), sizeof(double));
    cr_assert(w->v[w->n]);
    return w->v[w->n++];
}
/* x expects no gradient (unless it has an entry already). */
static void want_none(grad_want *w, npg_array *x) {
    for (int i = 0; i < w->n; i++)
        if (w->x[i] == x) return;
    cr_assert(w->n < 8);
    w->x[w->n] = x;
    w->v[w->n++] = NULL;
}
static void want_free(grad_want *w) {
    for (int i = 0; i < w->n; i++) free(w->v[i]);
    w->n = 0;
}
/* Each array in w has a gradient g(x) with the expected values (or none). */
static void want_check(grad_want *w, npg_array *(*get)(npg_array *x, void *u), void *u, const char *what) {
    for (int i = 0; i < w->n; i++) {
        npg_array *g = get(w->x[i], u);
        if (!w->v[i]) {
            CHECK(g == NULL, "%s: input %d got a gradient, but none was expected", what, i);
            continue;
        }
        CHECK(g != NULL, "%s: input %d got no gradient", what, i);
        char buf[64];
        snprintf(buf, sizeof buf, "%s: the gradient of input %d", what, i);
        expect_values(g, w->v[i], npg_size(w->x[i]), 0, buf);
        npg_free(g);
    }
}
static npg_array *get_leaf_grad(npg_array *x, void *u) {
    (void)u;
    return npg_grad(x);
}

/* ---- npg_custom ----------------------------------------------------------- */

enum {
    RL_OK,             /* (i + 1) * sum(g) for every input */
    RL_NONE,           /* no gradients */
    RL_SHAPE,          /* a gradient of another shape */
    RL_SHAPE_UNNEEDED, /* wrong shapes only for the inputs that need no gradient */
    RL_DTYPE,          /* RL_OK as int64 */
    RL_ERR_MSG,        /* an npg call fails: its error */
    RL_ERR_NOMSG,      /* an error status without a message */
    RL_ERR_AFTER,      /* RL_OK's gradients, then an error status */
    RL_PASS_G,         /* g itself where the shapes agree */
    RL_PASS_INPUT,     /* the input itself */
    RL_BCAST,          /* RL_OK's values as a broadcast view */
    RL_KINDS
};

/* x with another shape (one axis more or fewer). */
static npg_array *reshaped(npg_array *x) {
    return npg_ndim(x) > 0 ? npg_sum(x, NPG_ALL_AXES, false) : npg_expand_dims(x, 0);
}

static npg_array *rule_grad(npg_array *in, int i, npg_array *g) {
    return npg_multiply(npg_full_like(in, i + 1, NULL), npg_sum(g, NPG_ALL_AXES, false));
}

static npg_status fz_rule(void *ctx, npg_array *g, int n, npg_array *const *in, npg_array *out, npg_array **gin) {
    fz_ctx *c = ctx;
    c->calls++;
    if (!g || !out || (n > 0 && !in) || !gin) {
        mark_bad(c, "a backward rule was given a NULL argument");
        return NPG_ERR_NULL_ARG;
    }
    if (!same_shape(npg_shape_of(g), npg_shape_of(out)) || npg_dtype_of(g) != npg_dtype_of(out))
        mark_bad(c, "a backward rule's grad_output has another shape or dtype than its output");
    for (int i = 0; i < n; i++) {
        if (gin[i]) mark_bad(c, "grad_inputs were not all NULL on entry to a backward rule");
        bool need = npg_requires_grad(in[i]);
        switch (c->kind) {
        case RL_OK: gin[i] = rule_grad(in[i], i, g); break;
        case RL_SHAPE: gin[i] = reshaped(rule_grad(in[i], i, g)); break;
        case RL_SHAPE_UNNEEDED: gin[i] = need ? rule_grad(in[i], i, g) : reshaped(rule_grad(in[i], i, g)); break;
        case RL_DTYPE: gin[i] = npg_astype(rule_grad(in[i], i, g), NPG_INT64); break;
        case RL_ERR_MSG:
            if (!npg_expand_dims(g, 100)) return c->err = npg_last_status();
            break;
        case RL_ERR_NOMSG: return NPG_ERR_INVALID_ARG;
        case RL_ERR_AFTER: gin[i] = rule_grad(in[i], i, g); break;
        case RL_PASS_G: gin[i] = same_shape(npg_shape_of(g), npg_shape_of(in[i])) ? g : NULL; break;
        case RL_PASS_INPUT: gin[i] = in[i]; break;
        case RL_BCAST:
            gin[i] = npg_broadcast_to(npg_multiply_scalar(npg_sum(g, NPG_ALL_AXES, false), i + 1), npg_shape_of(in[i]));
            break;
        default: break;
        }
    }
    return c->kind == RL_ERR_AFTER ? NPG_ERR_UNSUPPORTED : NPG_OK;
}

/* The status a backward through a custom function with this rule must give
 * (NPG_OK: success). */
static npg_status rule_expect(const fz_ctx *c) {
    switch (c->kind) {
    case RL_SHAPE: return NPG_ERR_SHAPE;
    case RL_ERR_MSG: return NPG_ERR_AXIS; /* npg_expand_dims' */
    case RL_ERR_NOMSG: return NPG_ERR_INVALID_ARG;
    case RL_ERR_AFTER: return NPG_ERR_UNSUPPORTED;
    default: return NPG_OK;
    }
}
/* The rule's contribution to the gradient of input i (in) added into v, for
 * the root sum(r); false when it gives none. */
static bool rule_contrib(const fz_ctx *c, npg_array *in, int i, npg_array *r, double *v) {
    int64_t n = npg_size(in), nr = npg_size(r);
    switch (c->kind) {
    case RL_OK:
    case RL_SHAPE_UNNEEDED:
    case RL_DTYPE:
    case RL_BCAST:
        for (int64_t j = 0; j < n; j++) v[j] += (double)(i + 1) * (double)nr;
        return true;
    case RL_PASS_G:
        if (!same_shape(npg_shape_of(in), npg_shape_of(r))) return false;
        for (int64_t j = 0; j < n; j++) v[j] += 1;
        return true;
    case RL_PASS_INPUT: {
        const unsigned char *b = snap(in);
        for (int64_t j = 0; j < n; j++) v[j] += elem_f(b, npg_dtype_of(in), j);
        return true;
    }
    default: return false;
    }
}

typedef struct results {
    int n;
    npg_array *in[8], *res[8];
} results;
static npg_array *get_result(npg_array *x, void *u) {
    results *rs = u;
    for (int i = 0; i < rs->n; i++)
        if (rs->in[i] == x) return npg_retain(rs->res[i]);
    return NULL;
}

/* After npg_custom / npg_checkpoint: a backward (or npg_grad_of) through r,
 * maybe twice, that must give `want_st`; gradients against `want` (when
 * not NULL) on success, .grad untouched on failure. Returns how many
 * backward passes added to .grad. */
static int backward_through(npg_array *r, npg_array *const *ins, int nin, npg_status want_st, grad_want *want,
                            const char *what) {
    int added = 0;
    if (!r || !npg_requires_grad(r)) return 0;
    npg_array *root = npg_ndim(r) == 0 && chance(50) ? npg_retain(r) : npg_sum(r, NPG_ALL_AXES, false);
    cr_assert(root, "fuzz: sum: %s", npg_last_error());
    pool_add(root, NULL);
    /* the distinct inputs that require grad */
    npg_array *rg[9] = {0};
    int nrg = 0;
    for (int i = 0; i < nin; i++) {
        bool seen = false;
        for (int j = 0; j < nrg; j++) seen |= rg[j] == ins[i];
        if (!seen && npg_requires_grad(ins[i]) && nrg < 8) rg[nrg++] = ins[i];
    }
    bool functional = chance(30) && nrg > 0;
    npg_backward_opts bo = {.retain_graph = chance(40), .create_graph = chance(12)};
    if (bo.create_graph && !strcmp(what, "checkpoint")) want_st = NPG_ERR_UNSUPPORTED; /* checked first */
    int passes = chance(30) ? 2 : 1;
    for (int p = 0; p < passes; p++) {
        grad_snap gs;
        grads_take(&gs);
        npg_status expect = p == 1 && !bo.retain_graph && !bo.create_graph ? NPG_ERR_AUTOGRAD : want_st;
        npg_array *res[8] = {0};
        call("%s through %s: %s(retain=%d create=%d) pass %d", functional ? "npg_grad_of" : "npg_backward_ex", what,
             functional ? "inputs" : "", bo.retain_graph, bo.create_graph, p);
        arg(root);
        go();
        npg_status st = functional ? npg_grad_of(&root, 1, NULL, rg, nrg, res, &bo) : npg_backward_ex(root, NULL, &bo);
        done_status(st);
        if (expect != NPG_OK) {
            CHECK(st == expect, "%s: status %d (%s), expected %d (%s)", what, (int)st, npg_last_error(), (int)expect,
                  npg_status_string(expect));
        } else {
            CHECK(st == NPG_OK, "%s: failed: %s", what, npg_last_error());
        }
        if (st != NPG_OK) {
            grads_unchanged(&gs);
            for (int i = 0; i < nrg; i++) CHECK(res[i] == NULL, "npg_grad_of failed but left result %d", i);
        } else if (functional) {
            grads_unchanged(&gs); /* npg_grad_of does not touch .grad */
            results rs = {.n = nrg};
            for (int i = 0; i < nrg; i++) {
                CHECK(res[i] != NULL, "npg_grad_of succeeded without result %d", i);
                check_sane(res[i]);
                rs.in[i] = rg[i];
                rs.res[i] = res[i];
            }
            if (want && p == 0) {
                /* npg_grad_of gives zeros where backward gives nothing */
                for (int i = 0; i < want->n; i++) want_of(want, want->x[i], true);
                want_check(want, get_result, &rs, what);
            }
            for (int i = 0; i < nrg; i++) npg_free(res[i]);
        } else {
            added++;
            check_leaf_grads();
            if (want) {
                want_check(want, get_leaf_grad, NULL, what);
                /* a second pass adds the same again */
                for (int i = 0; i < want->n; i++) {
                    double *v = want_of(want, want->x[i], false);
                    int64_t n = npg_size(want->x[i]);
                    for (int64_t j = 0; v && j < n; j++) v[j] *= 2;
                }
            }
        }
        grads_drop(&gs);
        if (st != NPG_OK || functional) break;
    }
    return added;
}

static void fz_custom(void) {
    int nin = chance(92) ? rint_in(0, 3) : rint_in(-1, 0);
    npg_array *ins[4] = {0};
    for (int i = 0; i < (nin > 0 ? nin : 0); i++) {
        if (i > 0 && chance(10)) ins[i] = ins[rint_in(0, i - 1)]; /* the same input twice */
        else ins[i] = chance(g_null_pct) ? NULL : small_make(chance(85) ? rand_float_dtype() : rand_dtype(), rand_shape());
    }
    /* the output: anything, an array computed (with its own graph) from an
     * input, the input itself, or not floating */
    npg_array *out;
    int ok_kind = rint_in(0, 99);
    if (nin > 0 && ins[0] && ok_kind < 20) {
        out = npg_multiply_scalar(ins[0], 2);
        if (out) pool_add(out, NULL);
    } else if (nin > 0 && ok_kind < 35) {
        out = ins[0];
    } else if (ok_kind < 45) {
        out = operand(rand_dtype(), rand_shape());
    } else {
        out = float_operand(rand_shape());
    }
    int kind = rint_in(0, RL_KINDS - 1);
    bool has_free = chance(85), null_name = chance(2), null_bw = chance(2), null_list = nin > 0 && chance(2);
    fz_ctx *c = new_ctx(kind, has_free);
    call("npg_custom(%s, out, %d, %s, rule %d%s, ctx, %s)", null_name ? "NULL" : "\"fz\"", nin,
         null_list ? "NULL" : "inputs", kind, null_bw ? " (NULL)" : "", has_free ? "free" : "NULL");
    arg(out);
    for (int i = 0; i < (nin > 0 ? nin : 0); i++) arg(ins[i]);
    if (null_name || null_bw || null_list || nin < 0) must_fail();
    ng_maybe();
    bool grad_on = npg_is_grad_enabled();
    go();
    npg_array *r = npg_custom(null_name ? NULL : "fz", out, nin, null_list ? NULL : ins, null_bw ? NULL : fz_rule, c,
                              has_free ? count_free : NULL);
    ng_end();
    after(r == NULL);
    bool node = false;
    if (r) {
        check_sane(r);
        CHECK(npg_data(r) == npg_data(out) && same_shape(npg_shape_of(r), npg_shape_of(out)) &&
                  npg_dtype_of(r) == npg_dtype_of(out),
              "npg_custom's result is not its output's data");
        bool any = false;
        for (int i = 0; i < nin; i++) any |= npg_requires_grad(ins[i]);
        node = grad_on && any && npg_is_floating(npg_dtype_of(out));
        CHECK(npg_requires_grad(r) == node, "npg_custom's result %s grad", node ? "does not require" : "requires");
        if (node) CHECK(npg_grad_fn_name(r) && !strcmp(npg_grad_fn_name(r), "fz"), "npg_custom's node is not named");
    }
    check_unchanged(r != NULL);
    if (!node) CHECK(c->frees == (has_free ? 1 : 0), "npg_custom recorded no node but freed its context %d times",
                     c->frees);
    else CHECK(c->frees == 0, "npg_custom freed the context of a node it recorded");
    if (r) pool_add(r, NULL);
    if (!node) return;
    /* an input written in place since the call fails the backward */
    npg_status want_st = rule_expect(c);
    if (chance(8)) {
        int j = rint_in(0, nin - 1);
        if (!npg_requires_grad(ins[j]) && !is_broadcast(ins[j]) && npg_fill(ins[j], 0.5) == NPG_OK)
            want_st = NPG_ERR_INPLACE; /* the version counts, even of an empty array */
        npg_clear_error();
    }
    /* expected gradients, when every input is an array of its own */
    grad_want want = {0};
    bool simple = want_st == NPG_OK, any[8] = {false};
    for (int i = 0; i < nin; i++) simple &= pool_base(ins[i]) == NULL && (!npg_requires_grad(ins[i]) || npg_is_leaf(ins[i]));
    for (int i = 0; simple && i < nin; i++) {
        if (!npg_requires_grad(ins[i])) continue;
        double *v = want_of(&want, ins[i], true); /* snapshots: the npg_custom call's, still in C */
        int k = 0;
        while (want.x[k] != ins[i]) k++;
        any[k] |= rule_contrib(c, ins[i], i, r, v);
    }
    for (int k = 0; k < want.n; k++) /* no contribution: no gradient */
        if (!any[k]) {
            free(want.v[k]);
            want.v[k] = NULL;
        }
    backward_through(r, ins, nin, want_st, simple ? &want : NULL, "custom");
    want_free(&want);
}

/* ---- npg_checkpoint ------------------------------------------------------- */

enum {
    CK_OK,          /* sum of the squares of the inputs */
    CK_NULL_NOERR,  /* NULL without an error */
    CK_NULL_ERR,    /* NULL from a failing npg call */
    CK_SECOND_NULL, /* CK_OK, then (the recompute) NULL without an error */
    CK_SECOND_ERR,  /* CK_OK, then a failing npg call */
    CK_SHAPE,       /* CK_OK, then another shape */
    CK_INT,         /* an int64 result */
    CK_INPUT,       /* the first input itself */
    CK_CONST,       /* zeros that depend on no input */
    CK_DROPOUT,     /* random numbers (replayed by the recompute) */
    CK_NESTED,      /* a checkpoint inside */
    CK_KINDS
};

static npg_array *sum_squares(npg_array *const *in, int n) {
    npg_array *acc = npg_zeros(NPG_SHAPE0, NPG_OPTS(.device = t_dev()));
    for (int i = 0; i < n && acc; i++) acc = npg_add(acc, npg_sum(npg_multiply(in[i], in[i]), NPG_ALL_AXES, false));
    return acc;
}
static npg_array *failing_call(void) { return npg_squeeze(npg_zeros(NPG_SHAPE(2), NPG_OPTS(.device = t_dev())), NPG_AXES(0)); }

static npg_array *ck_fn_body(npg_array *const *in, int n, fz_ctx *c);
/* Intermediates in a scope of their own: npg_checkpoint may call fn outside any. */
static npg_array *ck_fn(npg_array *const *in, int n, void *user) {
    npg_scope s = npg_scope_begin();
    npg_array *r = npg_keep(ck_fn_body(in, n, user));
    npg_scope_end(s);
    return r;
}
static npg_array *ck_fn_body(npg_array *const *in, int n, fz_ctx *c) {
    int k = c->calls++;
    switch (c->kind) {
    case CK_OK: return sum_squares(in, n);
    case CK_NULL_NOERR: return NULL;
    case CK_NULL_ERR: return failing_call();
    case CK_SECOND_NULL: return k == 0 ? sum_squares(in, n) : NULL;
    case CK_SECOND_ERR: return k == 0 ? sum_squares(in, n) : failing_call();
    case CK_SHAPE: return k == 0 ? sum_squares(in, n) : npg_expand_dims(sum_squares(in, n), 0);
    case CK_INT: return npg_astype(sum_squares(in, n), NPG_INT64);
    case CK_INPUT: return n > 0 ? npg_contiguous(in[0]) : npg_zeros(NPG_SHAPE0, NPG_OPTS(.device = t_dev()));
    case CK_CONST: return npg_zeros(NPG_SHAPE0, NPG_OPTS(.device = t_dev()));
    case CK_DROPOUT:
        return n > 0 ? npg_sum(npg_dropout(npg_multiply(in[0], in[0]), 0.5, true, NULL), NPG_ALL_AXES, false)
                     : sum_squares(in, n);
    default: return npg_checkpoint(ck_fn, c->next, in, n);
    }
}

static void fz_checkpoint(void) {
    int nin = chance(94) ? rint_in(0, 3) : -1;
    npg_array *ins[4] = {0};
    for (int i = 0; i < (nin > 0 ? nin : 0); i++) {
        if (i > 0 && chance(10)) ins[i] = ins[rint_in(0, i - 1)];
        else {
            npg_shape s = rand_shape();
            while (numel_of(s) > 12) s.dims[rint_in(0, s.ndim - 1)] = 1;
            ins[i] = chance(g_null_pct) ? NULL : small_make(chance(85) ? rand_float_dtype() : rand_dtype(), s);
        }
    }
    int kind = rint_in(0, CK_KINDS - 1);
    fz_ctx *c = new_ctx(kind, false);
    if (kind == CK_NESTED) c->next = new_ctx(CK_OK, false);
    bool null_fn = chance(2), null_list = nin > 0 && chance(2);
    call("npg_checkpoint(fn %d%s, %s, %d)", kind, null_fn ? " (NULL)" : "", null_list ? "NULL" : "inputs", nin);
    for (int i = 0; i < (nin > 0 ? nin : 0); i++) arg(ins[i]);
    bool all = true;
    for (int i = 0; i < (nin > 0 ? nin : 0); i++) all &= ins[i] != NULL;
    if (null_fn || null_list || nin < 0) must_fail();
    else if (all && (kind == CK_NULL_NOERR || kind == CK_NULL_ERR)) must_fail();
    ng_maybe();
    go();
    npg_array *r = npg_checkpoint(null_fn ? NULL : ck_fn, c, null_list ? NULL : ins, nin);
    ng_end();
    after(r == NULL);
    if (r) check_sane(r);
    check_unchanged(r != NULL);
    if (!r) return;
    pool_add(r, NULL);
    npg_status want_st = kind == CK_SECOND_NULL ? NPG_ERR_INVALID_ARG
                       : kind == CK_SECOND_ERR || kind == CK_SHAPE ? NPG_ERR_SHAPE : NPG_OK;
    /* expected gradients (of the root sum(r) = r): 2x for CK_OK and CK_NESTED,
     * ones for the first input of CK_INPUT (zeros for the others), none when
     * the recomputed result depends on no input */
    grad_want want = {0};
    bool fresh = true; /* every input an array of its own */
    for (int i = 0; i < nin; i++) fresh &= pool_base(ins[i]) == NULL && (!npg_requires_grad(ins[i]) || npg_is_leaf(ins[i]));
    bool simple = fresh && (kind == CK_OK || kind == CK_NESTED || kind == CK_INPUT || kind == CK_CONST);
    bool first_rg = nin > 0 && npg_requires_grad(ins[0]);
    for (int i = 0; simple && i < nin; i++) {
        if (!npg_requires_grad(ins[i])) continue;
        if (kind == CK_CONST || (kind == CK_INPUT && !first_rg)) {
            want_none(&want, ins[i]);
            continue;
        }
        double *v = want_of(&want, ins[i], true);
        const unsigned char *b = snap(ins[i]);
        for (int64_t j = 0; j < npg_size(ins[i]); j++)
            v[j] += kind == CK_INPUT ? (i == 0 ? 1.0 : 0.0) : 2 * elem_f(b, npg_dtype_of(ins[i]), j);
    }
    int added = backward_through(r, ins, nin, want_st, simple ? &want : NULL, "checkpoint");
    want_free(&want);
    if (kind == CK_DROPOUT && added && fresh && first_rg) {
        /* r = sum(m x^2) / (1 - p) with the forward's mask m, and the
         * recompute's dr/dx = 2 m x / (1 - p): sum(x dr/dx) = 2 r only when
         * it replayed the same mask */
        npg_array *g = npg_grad(ins[0]);
        CHECK(g != NULL, "checkpoint: no gradient through dropout");
        double *gv = t_read(g), *xv = t_read(ins[0]), dot = 0, rv = npg_item(r);
        for (int64_t j = 0; j < npg_size(ins[0]); j++) dot += gv[j] * xv[j];
        free(gv);
        free(xv);
        npg_free(g);
        CHECK(dot == 2 * added * rv, "checkpoint: the recompute drew other random numbers (x . dr/dx = %g, 2 r = %g)",
              dot, 2 * added * rv);
    }
}

/* ---- gradient hooks ------------------------------------------------------- */

enum {
    HK_PASS,      /* keeps g */
    HK_SCALE,     /* 2 g */
    HK_SHAPE,     /* g as another shape */
    HK_DTYPE,     /* 2 g as int64 */
    HK_ERR_MSG,   /* an npg call fails: its error */
    HK_ERR_NOMSG, /* an error status without a message */
    HK_SELF,      /* g itself */
    HK_BCAST,     /* 5, broadcast */
    HK_OTHER,     /* someone else's array (the leaf) */
    HK_KINDS
};

static npg_status fz_hook(void *ctx, npg_array *g, npg_array **r) {
    fz_ctx *c = ctx;
    c->calls++;
    if (!g || !r) {
        mark_bad(c, "a hook was given a NULL argument");
        return NPG_ERR_NULL_ARG;
    }
    if (*r) mark_bad(c, "a hook's replacement was not NULL on entry");
    switch (c->kind) {
    case HK_SCALE: *r = npg_multiply_scalar(g, 2); break;
    case HK_SHAPE: *r = reshaped(g); break;
    case HK_DTYPE: *r = npg_astype(npg_multiply_scalar(g, 2), NPG_INT64); break;
    case HK_ERR_MSG:
        if (!npg_expand_dims(g, 100)) return c->err = npg_last_status();
        break;
    case HK_ERR_NOMSG: return NPG_ERR_INVALID_ARG;
    case HK_SELF: *r = g; break;
    case HK_BCAST:
        *r = npg_broadcast_to(npg_full(NPG_SHAPE0, 5, NPG_OPTS(.dtype = npg_dtype_of(g), .device = t_dev())),
                              npg_shape_of(g));
        break;
    case HK_OTHER: *r = c->other; break;
    default: break;
    }
    return NPG_OK;
}

typedef struct hook_rec {
    npg_array *x;
    int handle;
    fz_ctx *c;
    bool removed;
} hook_rec;

/* The hooks of x, in order, applied to v (n values; `other` is HK_OTHER's
 * replacement): NPG_OK or the status the first failing one gives. */
static npg_status apply_hooks(const hook_rec *h, int nh, const npg_array *x, double *v, int64_t n,
                              const double *other) {
    for (int i = 0; i < nh; i++) {
        if (h[i].x != x || h[i].removed) continue;
        switch (h[i].c->kind) {
        case HK_SCALE:
            for (int64_t j = 0; j < n; j++) v[j] *= 2;
            break;
        case HK_DTYPE:
            for (int64_t j = 0; j < n; j++) v[j] = trunc(v[j] * 2);
            break;
        case HK_SHAPE: return NPG_ERR_SHAPE;
        case HK_ERR_MSG: return NPG_ERR_AXIS;
        case HK_ERR_NOMSG: return NPG_ERR_INVALID_ARG;
        case HK_BCAST:
            for (int64_t j = 0; j < n; j++) v[j] = 5;
            break;
        case HK_OTHER:
            for (int64_t j = 0; j < n; j++) v[j] = other[j];
            break;
        default: break;
        }
    }
    return NPG_OK;
}

static void fz_hooks(void) {
    /* L (a leaf of small integers), maybe N = 2 L, root = sum(3 T), T = N or L */
    npg_shape s = rand_shape();
    while (numel_of(s) > 16) s.dims[rint_in(0, s.ndim - 1)] = 1;
    npg_array *L = NULL;
    int lk = rint_in(0, 99);
    if (lk < 90) {
        g_fill.ranged = true;
        g_fill.lo = -2;
        g_fill.hi = 2;
        g_fill.bad = 0;
        L = pool_add(fresh(rand_float_dtype(), s), NULL);
        g_fill.ranged = false;
        setup_rg(L);
    } else if (lk < 96) {
        L = make(rand_dtype(), s, 0); /* no grad */
    }
    bool rg = L && npg_requires_grad(L);
    npg_array *N = rg && chance(50) ? pool_add(npg_multiply_scalar(L, 2), NULL) : NULL;
    npg_array *T = N ? N : L;
    npg_array *root = NULL;
    if (rg) {
        npg_array *Y = pool_add(npg_multiply_scalar(T, 3), NULL);
        root = pool_add(npg_sum(Y, NPG_ALL_AXES, false), NULL);
    }
    int64_t n = L ? npg_size(L) : 0;
    double *other = calloc((size_t)(n ? n : 1), sizeof(double));
    cr_assert(other);
    if (L) {
        double *lv = t_read(L);
        for (int64_t j = 0; j < n; j++) other[j] = lv[j];
        free(lv);
    }
    /* register and remove hooks */
    hook_rec h[8];
    int nh = 0;
    int nreg = rint_in(0, 4);
    for (int k = 0; k < nreg; k++) {
        npg_array *x = N && chance(50) ? N : L;
        int kind = rint_in(0, HK_KINDS - 1);
        bool has_free = chance(85), null_hook = chance(4);
        fz_ctx *c = new_ctx(kind, has_free);
        c->other = L;
        call("npg_register_hook(%s, hook %d%s, ctx, %s)", x == N ? "N" : "L", kind, null_hook ? " (NULL)" : "",
             has_free ? "free" : "NULL");
        arg(x);
        if (null_hook || (x && !npg_requires_grad(x))) must_fail();
        go();
        int hd = npg_register_hook(x, null_hook ? NULL : fz_hook, c, has_free ? count_free : NULL);
        after(hd <= 0);
        if (hd <= 0) {
            CHECK(hd < 0 && hd == (int)npg_last_status(), "npg_register_hook returned %d, the last status is %d", hd,
                  (int)npg_last_status());
            CHECK(c->frees == (has_free ? 1 : 0), "a failed npg_register_hook freed its context %d times", c->frees);
        } else {
            for (int i = 0; i < nh; i++) CHECK(h[i].handle != hd, "npg_register_hook gave handle %d twice", hd);
            CHECK(c->frees == 0, "npg_register_hook freed the context of a hook it registered");
            h[nh++] = (hook_rec){x, hd, c, false};
        }
        check_unchanged(hd > 0);
        if (nh > 0 && chance(20)) {
            /* remove one: a hook of x's, or a handle x does not have */
            int i = rint_in(0, nh - 1);
            npg_array *y = chance(85) ? h[i].x : (h[i].x == L && N ? N : L);
            int handle = chance(85) ? h[i].handle : PICK(((const int[]){0, -1, INT_MAX, -7}));
            bool valid = y == h[i].x && handle == h[i].handle && !h[i].removed;
            call("npg_remove_hook(%s, %d)", y == N ? "N" : "L", handle);
            arg(y);
            if (!valid) must_fail();
            go();
            npg_status st = npg_remove_hook(y, handle);
            done_status(st);
            if (st == NPG_OK) {
                h[i].removed = true;
                CHECK(h[i].c->frees == (h[i].c->has_free ? 1 : 0), "npg_remove_hook freed the context %d times",
                      h[i].c->frees);
            }
        }
    }
    if (!root) {
        free(other);
        return;
    }
    /* backward (twice, maybe) or npg_grad_of of L or N */
    bool functional = chance(30);
    npg_array *in = functional && N && chance(50) ? N : L;
    npg_backward_opts bo = {.retain_graph = chance(40), .create_graph = chance(12)};
    double *acc = calloc((size_t)(n ? n : 1), sizeof(double)), *v = malloc(sizeof(double) * (size_t)(n ? n : 1));
    cr_assert(acc && v);
    int passes = !functional && chance(30) ? 2 : 1;
    for (int p = 0; p < passes; p++) {
        /* the expected outcome: T's hooks, then (T = N) L's */
        for (int64_t j = 0; j < n; j++) v[j] = 3;
        npg_status want = apply_hooks(h, nh, T, v, n, other), want_without_l = want;
        double *vn = NULL;
        if (want == NPG_OK && N) {
            if (in == N) {
                vn = malloc(sizeof(double) * (size_t)(n ? n : 1));
                cr_assert(vn);
                memcpy(vn, v, sizeof(double) * (size_t)n);
            }
            for (int64_t j = 0; j < n; j++) v[j] *= 2;
            want = apply_hooks(h, nh, L, v, n, other);
        }
        if (p == 1 && !bo.retain_graph && !bo.create_graph) want = want_without_l = NPG_ERR_AUTOGRAD;
        grad_snap gs;
        grads_take(&gs);
        npg_array *res = NULL;
        call("%s(hooks) retain=%d create=%d pass %d", functional ? (in == N ? "npg_grad_of(N)" : "npg_grad_of(L)")
                                                                  : "npg_backward_ex", bo.retain_graph,
             bo.create_graph, p);
        arg(root);
        go();
        npg_status st = functional ? npg_grad_of(&root, 1, NULL, &in, 1, &res, &bo) : npg_backward_ex(root, NULL, &bo);
        done_status(st);
        /* npg_grad_of(N) computes L's gradient too: L's hooks may or may not run */
        bool as_expected = st == want || (functional && in == N && st == want_without_l);
        CHECK(as_expected, "hooks: status %d (%s), expected %d", (int)st, npg_last_error(), (int)want);
        if (st != NPG_OK) {
            grads_unchanged(&gs);
            CHECK(res == NULL, "npg_grad_of failed but left a result");
        } else if (functional) {
            grads_unchanged(&gs);
            CHECK(res != NULL, "npg_grad_of succeeded without a result");
            check_sane(res);
            expect_values(res, in == N ? vn : v, n, 0, "hooks: npg_grad_of");
            npg_free(res);
        } else {
            for (int64_t j = 0; j < n; j++) acc[j] += v[j];
            npg_array *g = npg_grad(L);
            CHECK(g != NULL, "hooks: backward left L without a gradient");
            expect_values(g, acc, n, 0, "hooks: L's gradient");
            npg_free(g);
        }
        free(vn);
        grads_drop(&gs);
        if (st != NPG_OK) break;
    }
    free(acc);
    free(v);
    free(other);
}

Test(fuzz2, autograd) {
    int n = start("autograd", 24, 4000);
    for (int it = 0; it < n; it++) {
        iter_begin(it);
        switch (rint_in(0, 2)) {
        case 0: fz_custom(); break;
        case 1: fz_checkpoint(); break;
        default: fz_hooks(); break;
        }
        iter_end();
        check_contexts();
    }
    finish();
}

/* ------------------------------------------------------------------------
 * DLPack
 * ------------------------------------------------------------------------ */

#ifdef FUZZ_DLPACK

/* Deleters that count, by tensor; an exported tensor's own deleter is
 * called through them. */
#define MAX_DL 4
static struct {
    DLManagedTensor *t;
    void (*inner)(DLManagedTensor *);
    int deletes;
} g_dl[MAX_DL];
static int g_ndl;

static int dl_slot(DLManagedTensor *t, void (*inner)(DLManagedTensor *)) {
    cr_assert(g_ndl < MAX_DL);
    g_dl[g_ndl].t = t;
    g_dl[g_ndl].inner = inner;
    g_dl[g_ndl].deletes = 0;
    return g_ndl++;
}
static void dl_count_deleter(DLManagedTensor *t) {
    for (int i = 0; i < g_ndl; i++)
        if (g_dl[i].t == t) {
            g_dl[i].deletes++;
            if (g_dl[i].inner && g_dl[i].deletes == 1) g_dl[i].inner(t);
            return;
        }
    cr_assert_fail("fuzz: a DLPack deleter called with an unknown tensor");
}

/* The memory hand-made tensors point into. */
static _Alignas(64) unsigned char g_dlbuf[8192];

/* A hand-made tensor: random dtype, device, shape, strides, data and
 * byte_offset, valid or not; *why says how it is invalid ("" when valid;
 * the status npg must give in *want). */
typedef struct dl_case {
    DLManagedTensor mt;
    int64_t shape[12], strides[12];
    npg_dtype dtype; /* when valid */
    npg_status want;
    char why[80];
} dl_case;

static void dl_invalid(dl_case *d, npg_status st, const char *why) {
    if (d->want != NPG_OK) return; /* the first reason npg meets wins */
    d->want = st;
    snprintf(d->why, sizeof d->why, "%s", why);
}

static void dl_make(dl_case *d) {
    memset(d, 0, sizeof *d);
    DLTensor *t = &d->mt.dl_tensor;
    /* dtype (checked first) */
    static const struct {
        uint8_t code, bits;
        npg_dtype dt;
    } types[] = {{6, 8, NPG_BOOL},           {kDLUInt, 8, NPG_UINT8},     {kDLInt, 32, NPG_INT32},
                 {kDLInt, 64, NPG_INT64},    {kDLFloat, 32, NPG_FLOAT32}, {kDLFloat, 64, NPG_FLOAT64},
                 {kDLInt, 16, NPG_INT16},    {kDLFloat, 16, NPG_FLOAT16}, {kDLBfloat, 16, NPG_BFLOAT16},
                 {kDLUInt, 32, NPG_UINT32},  {kDLInt, 8, NPG_INT8},       {kDLUInt, 16, NPG_UINT16},
                 {kDLUInt, 64, NPG_UINT64},  /* the valid ones above, then */
                 {6, 1, 0},                  {kDLInt, 128, 0},            {kDLComplex, 64, 0},
                 {99, 32, 0},                {kDLFloat, 0, 0},            {kDLOpaqueHandle, 64, 0},
                 {kDLFloat, 8, 0},           {kDLUInt, 1, 0},             {kDLInt, 24, 0}};
    enum { DL_VALID = 13 };
    int ti = chance(85) ? rint_in(0, DL_VALID - 1) : rint_in(DL_VALID, NELEM(types) - 1);
    t->dtype.code = types[ti].code;
    t->dtype.bits = types[ti].bits;
    t->dtype.lanes = chance(95) ? 1 : (uint16_t)PICK(((const int[]){0, 2, 4}));
    d->dtype = types[ti].dt;
    if (!d->dtype || t->dtype.lanes != 1) dl_invalid(d, NPG_ERR_DTYPE, "an unsupported dtype");
    size_t is = d->dtype ? (size_t)fz_size(d->dtype) : 1;
    /* device */
    int r = rint_in(0, 99);
    if (r < 80) t->device = (DLDevice){kDLCPU, chance(95) ? 0 : rint_in(1, 3)};
    else if (r < 86) t->device = (DLDevice){kDLCUDAHost, 0};
    else if (r < 92 && !npg_cuda_available()) t->device = (DLDevice){kDLCUDA, rint_in(0, 2)};
    else t->device = (DLDevice){(DLDeviceType)PICK(((const int[]){0, kDLOpenCL, kDLVulkan, kDLMetal, kDLROCM, 99, -1})), 0};
    /* an unknown type is refused at once, CUDA (without a GPU) last */
    bool cuda = t->device.device_type == kDLCUDA;
    if (t->device.device_type != kDLCPU && t->device.device_type != kDLCUDAHost && !cuda)
        dl_invalid(d, NPG_ERR_DEVICE, "a device npg does not have");
    /* geometry */
    t->ndim = chance(92) ? rint_in(0, 4) : PICK(((const int[]){-1, NPG_MAX_DIMS + 1, 100, INT32_MIN}));
    if (t->ndim < 0 || t->ndim > NPG_MAX_DIMS) {
        dl_invalid(d, NPG_ERR_SHAPE, "a bad ndim");
        if (cuda) dl_invalid(d, NPG_ERR_DEVICE, "no CUDA device");
        t->shape = d->shape;
        for (int i = 0; i < 12; i++) d->shape[i] = 1;
        t->strides = NULL;
        t->data = g_dlbuf;
        return;
    }
    int nd = t->ndim;
    t->shape = nd > 0 && chance(3) ? NULL : d->shape;
    if (!t->shape) dl_invalid(d, NPG_ERR_NULL_ARG, "no shape");
    bool empty = false;
    for (int i = 0; i < nd; i++) {
        d->shape[i] = chance(4) ? -rint_in(1, 3) : chance(8) ? 0 : rint_in(1, 3);
        if (d->shape[i] == 0) empty = true;
    }
    for (int i = 0; t->shape && i < nd; i++)
        if (d->shape[i] < 0) dl_invalid(d, NPG_ERR_SHAPE, "a negative dimension");
    /* strides (in elements): row-major, permuted, negative, 0, or huge */
    int64_t rm[NPG_MAX_DIMS], acc = 1;
    for (int i = nd - 1; i >= 0; i--) {
        rm[i] = acc;
        acc *= d->shape[i] > 0 ? d->shape[i] : 1;
    }
    bool null_strides = chance(40);
    for (int i = 0; i < nd; i++) {
        int k = rint_in(0, 99);
        d->strides[i] = k < 50 ? rm[i] : k < 65 ? -rm[i] : k < 75 ? 0 : k < 96 ? rint_in(-6, 6)
                      : PICK(((const int64_t[]){INT64_MAX, INT64_MIN, (int64_t)1 << 62, -((int64_t)1 << 61)}));
    }
    if (null_strides)
        for (int i = 0; i < nd; i++) d->strides[i] = rm[i];
    t->strides = null_strides ? NULL : d->strides;
    /* the extent npg computes: overflow is an error, else it must fit g_dlbuf */
    int64_t lo = 0, hi = 0;
    bool overflow = false;
    if (!empty && d->want == NPG_OK) {
        for (int i = 0; i < nd; i++) {
            int64_t span;
            if (__builtin_mul_overflow(d->shape[i] - 1, d->strides[i], &span) ||
                (span < 0 ? __builtin_add_overflow(lo, span, &lo) : __builtin_add_overflow(hi, span, &hi)))
                overflow = true;
        }
        int64_t cnt, nb;
        if (!overflow && (__builtin_sub_overflow(hi, lo, &cnt) || __builtin_add_overflow(cnt, 1, &cnt) ||
                          __builtin_mul_overflow(cnt, (int64_t)is, &nb)))
            overflow = true;
        if (overflow) {
            dl_invalid(d, NPG_ERR_SHAPE, "an extent that overflows");
            lo = hi = 0;
        } else if ((hi - lo + 8) * (int64_t)is > (int64_t)sizeof g_dlbuf) {
            for (int i = 0; i < nd; i++) d->strides[i] = rm[i]; /* too far for the buffer */
            lo = 0;
            hi = acc - 1;
        }
    }
    /* data + byte_offset: the lowest element inside g_dlbuf, maybe
     * misaligned; or no memory at all (fine without elements) */
    if (chance(4)) {
        t->data = NULL;
        t->byte_offset = chance(50) ? 0 : (uint64_t)rint_in(1, 64) * is;
        if (!empty && t->shape) dl_invalid(d, NPG_ERR_NULL_ARG, "no data");
    } else {
        int64_t first = (-lo + rint_in(0, 4)) * (int64_t)is;
        if (is > 1 && chance(6)) {
            first += rint_in(1, (int)is - 1);
            dl_invalid(d, NPG_ERR_INVALID_ARG, "data + byte_offset misaligned");
        }
        int64_t split = rint_in(0, 2) == 0 ? 0 : chance(50) ? first : (first / (int64_t)is / 2) * (int64_t)is;
        t->data = g_dlbuf + split;
        t->byte_offset = (uint64_t)(first - split);
    }
    if (cuda) dl_invalid(d, NPG_ERR_DEVICE, "no CUDA device");
    /* the bytes (bool: 0 and 1 only) */
    for (size_t i = 0; i < sizeof g_dlbuf; i++) g_dlbuf[i] = d->dtype == NPG_BOOL ? (unsigned char)(rnd() & 1) : (unsigned char)rnd();
    d->mt.manager_ctx = d;
    d->mt.deleter = chance(92) ? dl_count_deleter : NULL;
}

/* The element at index idx of a tensor (data, byte_offset and strides in
 * elements). */
static const unsigned char *dl_elem(const DLTensor *t, const int64_t *st, const int64_t *idx, size_t is) {
    int64_t off = 0;
    for (int i = 0; i < t->ndim; i++) off += idx[i] * st[i];
    return (const unsigned char *)t->data + t->byte_offset + off * (int64_t)is;
}

static void fz_from_dlpack(void) {
    dl_case d;
    dl_make(&d);
    bool null_t = chance(2);
    DLTensor *t = &d.mt.dl_tensor;
    dl_case before = d;
    int slot = dl_slot(&d.mt, NULL);
    call("npg_from_dlpack(%s: code %u bits %u lanes %u, device %d:%d, ndim %d, %s strides, offset %llu) [%s]",
         null_t ? "NULL" : "t", t->dtype.code, t->dtype.bits, t->dtype.lanes, (int)t->device.device_type,
         t->device.device_id, t->ndim, t->strides ? "with" : "no", (unsigned long long)t->byte_offset,
         d.want == NPG_OK ? "valid" : d.why);
    if (null_t) C.null_op = true;
    else if (d.want != NPG_OK) must_fail();
    go();
    npg_array *r = npg_from_dlpack(null_t ? NULL : &d.mt);
    after(r == NULL);
    if (!r) {
        if (!null_t && d.want != NPG_OK)
            CHECK(npg_last_status() == d.want, "status %d (%s), expected %d", (int)npg_last_status(),
                  npg_last_error(), (int)d.want);
        CHECK(memcmp(&before, &d, sizeof d) == 0, "a failed npg_from_dlpack changed the tensor");
        CHECK(g_dl[slot].deletes == 0, "a failed npg_from_dlpack called the deleter");
        return;
    }
    check_sane(r);
    int nd = t->ndim;
    size_t is = (size_t)fz_size(d.dtype);
    npg_shape want = {.ndim = nd};
    for (int i = 0; i < nd; i++) want.dims[i] = d.shape[i];
    expect_shape(r, want, "npg_from_dlpack");
    CHECK(npg_dtype_of(r) == d.dtype, "npg_from_dlpack gave dtype %s", npg_dtype_name(npg_dtype_of(r)));
    CHECK(!npg_requires_grad(r) && npg_is_leaf(r), "npg_from_dlpack's result requires grad or is not a leaf");
    int64_t st[NPG_MAX_DIMS];
    cr_assert_eq(npg_strides(r, st), NPG_OK);
    int64_t n = numel_of(want);
    for (int i = 0; i < nd; i++) /* the others are never used */
        if (n > 0 && d.shape[i] > 1)
            CHECK(st[i] == d.strides[i] * (int64_t)is, "stride %d is %lld bytes, expected %lld", i, (long long)st[i],
                  (long long)(d.strides[i] * (int64_t)is));
    if (n > 0)
        CHECK(npg_data(r) == (char *)t->data + t->byte_offset, "npg_from_dlpack copied (data %p, tensor %p)",
              npg_data(r), (void *)((char *)t->data + t->byte_offset));
    /* values: the tensor's, read through its strides */
    unsigned char *got = read_bytes(r);
    int64_t idx[NPG_MAX_DIMS];
    for (int64_t j = 0; j < n; j++) {
        unravel(j, &want, idx);
        if (memcmp(got + (size_t)j * is, dl_elem(t, d.strides, idx, is), is) != 0) {
            free(got);
            fail("npg_from_dlpack: element %lld is not the tensor's", (long long)j);
        }
    }
    free(got);
    CHECK(g_dl[slot].deletes == 0, "the deleter ran while the array lives");
    /* a view outlives r; a write through it is the tensor's */
    npg_array *v = npg_flip(r, NPG_ALL_AXES);
    cr_assert(v, "fuzz: npg_flip: %s", npg_last_error());
    bool ro = false;
    for (int i = 0; i < nd; i++) ro |= n > 0 && d.strides[i] == 0 && d.shape[i] > 1;
    npg_status fs = npg_fill(chance(50) ? r : v, 1);
    npg_free(r);
    CHECK(g_dl[slot].deletes == 0, "the deleter ran while a view lives");
    if (ro) {
        CHECK(fs == NPG_ERR_INPLACE, "a write into a broadcast tensor gave %d", (int)fs);
    } else {
        CHECK(fs == NPG_OK, "a write into an imported tensor failed: %s", npg_last_error());
        for (int64_t j = 0; j < n; j++) {
            unravel(j, &want, idx);
            CHECK(elem_f(dl_elem(t, d.strides, idx, is), d.dtype, 0) == 1, "a write did not reach the tensor");
        }
    }
    npg_clear_error();
    npg_free(v);
    CHECK(g_dl[slot].deletes == (d.mt.deleter ? 1 : 0), "the deleter ran %d times after the last view went",
          g_dl[slot].deletes);
}

static void fz_to_dlpack(void) {
    npg_array *x = any_operand();
    bool rg = x && npg_requires_grad(x);
    call("npg_to_dlpack(x)");
    arg(x);
    if (rg) must_fail();
    go();
    DLManagedTensor *mt = npg_to_dlpack(x);
    after(mt == NULL);
    check_unchanged(mt != NULL);
    if (!mt) {
        if (x && rg) CHECK(npg_last_status() == NPG_ERR_AUTOGRAD, "status %d", (int)npg_last_status());
        return;
    }
    const DLTensor *t = &mt->dl_tensor;
    /* a CUDA array's tensor is device memory: its elements are read through npg */
    const npg_device xdev = npg_device_of(x);
    const bool host = xdev.type != NPG_DEVICE_CUDA;
    npg_shape xs = npg_shape_of(x);
    npg_dtype dt = npg_dtype_of(x);
    size_t is = npg_dtype_size(dt);
    static const uint8_t codes[NPG_DTYPE_COUNT] = {
        [NPG_BOOL] = 6,           [NPG_UINT8] = kDLUInt,   [NPG_INT32] = kDLInt,  [NPG_INT64] = kDLInt,
        [NPG_FLOAT32] = kDLFloat, [NPG_FLOAT64] = kDLFloat, [NPG_FLOAT16] = kDLFloat, [NPG_BFLOAT16] = kDLBfloat,
        [NPG_INT8] = kDLInt,      [NPG_INT16] = kDLInt,    [NPG_UINT16] = kDLUInt, [NPG_UINT32] = kDLUInt,
        [NPG_UINT64] = kDLUInt};
    cr_assert(dt > NPG_DTYPE_DEFAULT && dt < NPG_DTYPE_COUNT);
    CHECK(t->ndim == xs.ndim && t->dtype.code == codes[dt] && t->dtype.bits == 8 * (size_t)fz_size(dt) &&
              is == (size_t)fz_size(dt) && t->dtype.lanes == 1 &&
              t->device.device_type == (host ? kDLCPU : kDLCUDA) && t->device.device_id == (host ? 0 : xdev.index) &&
              t->byte_offset == 0 && mt->deleter,
          "npg_to_dlpack: wrong fields");
    int64_t st[NPG_MAX_DIMS];
    cr_assert_eq(npg_strides(x, st), NPG_OK);
    for (int i = 0; i < xs.ndim; i++)
        CHECK(t->shape[i] == xs.dims[i] && t->strides[i] * (int64_t)is == st[i], "npg_to_dlpack: axis %d differs", i);
    int64_t n = numel_of(xs), idx[NPG_MAX_DIMS];
    if (n > 0) CHECK(t->data == npg_data(x), "npg_to_dlpack copied");
    int slot = dl_slot(mt, mt->deleter);
    mt->deleter = dl_count_deleter;
    unsigned char *xb = read_bytes(x); /* x's values (unchanged, as checked) */
    /* the tensor outlives the array: a copy exported, then freed */
    npg_array *own = NULL;
    if (chance(25)) {
        npg_array *c = npg_copy(x);
        cr_assert(c, "fuzz: npg_copy: %s", npg_last_error());
        npg_clear_error();
        DLManagedTensor *m2 = npg_to_dlpack(c);
        cr_assert(m2, "fuzz: npg_to_dlpack of a copy: %s", npg_last_error());
        npg_free(c);
        own = npg_from_dlpack(m2); /* npg owns m2 now */
        cr_assert(own, "fuzz: npg_from_dlpack of a copy: %s", npg_last_error());
        unsigned char *ob = read_bytes(own); /* through m2's data and strides */
        bool kept = memcmp(ob, xb, (size_t)n * is) == 0;
        free(ob);
        CHECK(kept, "an exported copy lost its values once the array was freed");
        npg_free(own);
    }
    /* the tensor's elements are x's (on the host; a CUDA tensor's are read
     * back through the round trip below) */
    for (int64_t j = 0; host && j < n; j++) {
        unravel(j, &xs, idx);
        CHECK(memcmp(dl_elem(t, t->strides, idx, is), xb + (size_t)j * is, is) == 0,
              "npg_to_dlpack: element %lld is not x's", (long long)j);
    }
    if (chance(50)) {
        /* back: zero-copy, the same values, the deleter once after the array */
        call("npg_from_dlpack(npg_to_dlpack(x))");
        arg(x);
        go();
        npg_array *y = npg_from_dlpack(mt);
        CHECK(y != NULL, "npg_from_dlpack of an exported tensor failed: %s", npg_last_error());
        after(false);
        check_sane(y);
        expect_shape(y, xs, "round trip");
        unsigned char *got = read_bytes(y);
        bool same = memcmp(got, xb, (size_t)n * is) == 0;
        free(got);
        CHECK(same, "a DLPack round trip changed the values");
        if (n > 0) CHECK(npg_data(y) == npg_data(x), "a DLPack round trip copied");
        CHECK(g_dl[slot].deletes == 0, "the deleter ran while the array lives");
        check_unchanged(true);
        npg_free(y);
    } else {
        mt->deleter(mt);
    }
    free(xb);
    CHECK(g_dl[slot].deletes == 1, "an exported tensor's deleter ran %d times", g_dl[slot].deletes);
}

Test(fuzz2, dlpack) {
    int n = start("dlpack", 25, 5000);
    for (int it = 0; it < n; it++) {
        iter_begin(it);
        g_ndl = 0;
        if (chance(60)) fz_from_dlpack();
        else fz_to_dlpack();
        iter_end();
    }
    finish();
}

#endif /* FUZZ_DLPACK */

/* ------------------------------------------------------------------------
 * Linear algebra (npg/linalg.h)
 * ------------------------------------------------------------------------ */

/* How a matrix operand's values are drawn. Apart from LA_WILD (the values
 * of any operand: NaN, infinities and huge integers now and then) they are
 * a function of (batch index, row, column) of the operand as the call sees
 * it, laid out in the base array of a view so that the view reads them. */
enum {
    LA_WILD,
    LA_UNIFORM,  /* uniform in [-2, 2) */
    LA_DIAGDOM,  /* off the diagonal in [-1, 1) (less in large matrices), on it > columns + 1: nonsingular, and
                    SPD read from any triangle */
    LA_SMALLINT, /* integers in [-2, 2] */
    LA_ZERO,     /* zeros */
    LA_ZERO_ROW, /* uniform, one row zero */
    LA_ZERO_COL, /* uniform, one column zero */
    LA_REPEAT,   /* uniform, one row repeating another */
    LA_NEG_DIAG, /* LA_DIAGDOM with one diagonal element negative: not positive definite */
    LA_KINDS
};
static const char *const LA_KIND[LA_KINDS] = {"wild",     "uniform",  "diagdom",      "smallint",         "zero",
                                              "zero-row", "zero-col", "repeated-row", "negative-diagonal"};

static int la_kind(void) {
    int r = rint_in(0, 99);
    return r < 18   ? LA_WILD
           : r < 32 ? LA_UNIFORM
           : r < 58 ? LA_DIAGDOM
           : r < 67 ? LA_SMALLINT
           : r < 72 ? LA_ZERO
           : r < 79 ? LA_ZERO_ROW
           : r < 86 ? LA_ZERO_COL
           : r < 93 ? LA_REPEAT
                    : LA_NEG_DIAG;
}

/* Mostly float64 (the values are checked there), float32, any dtype. */
static npg_dtype la_dtype_pick(void) {
    int r = rint_in(0, 99);
    return r < 50 ? NPG_FLOAT64 : r < 75 ? NPG_FLOAT32 : rand_dtype();
}

/* The dtype linear algebra computes in (npg/linalg.h: the FLOAT rule). */
static npg_dtype la_dt(npg_dtype d) { return npg_is_floating(d) ? d : npg__default_float(); }

typedef struct la_fill {
    int kind;
    uint64_t seed;
    int64_t cols, r0, r1; /* r0: the zero row or column, or the repeated row; r1 the row repeating it */
} la_fill;

static uint64_t la_hash(uint64_t seed, uint64_t b, uint64_t i, uint64_t j) {
    uint64_t z =
        seed ^ (b + 1) * 0x9E3779B97F4A7C15ull ^ (i + 1) * 0xC2B2AE3D27D4EB4Full ^ (j + 1) * 0x165667B19E3779F9ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double la_value(const la_fill *f, int64_t b, int64_t i, int64_t j) {
    if (f->kind == LA_REPEAT && i == f->r1) i = f->r0;
    uint64_t h = la_hash(f->seed, (uint64_t)b, (uint64_t)i, (uint64_t)j);
    double u = (double)(h >> 11) * 0x1p-53 * 4 - 2;
    switch (f->kind) {
    case LA_ZERO: return 0;
    case LA_SMALLINT: return (double)(int)(h % 5) - 2;
    case LA_ZERO_ROW: return i == f->r0 ? 0 : u;
    case LA_ZERO_COL: return j == f->r0 ? 0 : u;
    case LA_DIAGDOM:
    case LA_NEG_DIAG: {
        if (i != j) return f->cols > 5 ? u * 2.5 / (double)f->cols : u / 2;
        double d = (double)f->cols + 1 + fabs(u);
        return f->kind == LA_NEG_DIAG && i == f->r0 ? -d : d;
    }
    default: return u;
    }
}

/* v (small: la_value's) as element i of dtype dt: integers rounded to the
 * nearest and wrapped (-2 is 254 in uint8), bool nonzero after rounding. */
static void la_store(unsigned char *buf, npg_dtype dt, int64_t i, double v) {
    if (dt == NPG_BOOL || t_is_int(dt)) t_put_bits(dt, buf, i, (uint64_t)llround(v));
    else fz_put_f(buf, dt, i, v);
}

/* make() with values of `kind`: a fresh array, or a transposed, strided or
 * broadcast (read-only) view of one; floating operands require grad
 * grad_pct percent of the time. */
static npg_array *la_make(npg_dtype dt, npg_shape s, int grad_pct, int kind) {
    if (dt == NPG_DTYPE_DEFAULT) dt = la_dtype_pick();
    bool grad = npg_is_floating(dt) && chance(grad_pct);
    const int nd = s.ndim;
    const int64_t rows = nd >= 2 ? s.dims[nd - 2] : 1;
    la_fill f = {.kind = kind, .seed = rnd(), .cols = nd >= 1 ? s.dims[nd - 1] : 1};
    int64_t lines = kind == LA_ZERO_COL ? f.cols : rows;
    f.r0 = lines > 0 ? (int64_t)(rnd() % (uint64_t)lines) : 0;
    f.r1 = rows > 1 ? (f.r0 + 1 + (int64_t)(rnd() % (uint64_t)(rows - 1))) % rows : 0;
    int r = nd ? rint_in(0, 99) : 0;
    int how = r < 55 ? 0 : r < 70 && nd >= 2 ? 1 : r < 85 ? 2 : 3;
    npg_shape bs = s;
    npg_axes p = {.n = nd};
    int k = 0, drop = 0;
    int64_t step = 1, as = 1, start = 0;
    if (how == 1) { /* x = permute_dims(base, p) */
        p = rand_perm_of(s, &bs);
    } else if (how == 2) { /* a step-k slice along one axis */
        static const int64_t steps[] = {2, 3, -1, -2};
        k = rint_in(0, nd - 1);
        step = PICK(steps);
        as = step < 0 ? -step : step;
        bs.dims[k] = s.dims[k] * as;
        start = step > 0 ? rint_in(0, (int)as - 1) : 0;
    } else if (how == 3) { /* a broadcast view */
        drop = rint_in(0, nd);
        bs.ndim = nd - drop;
        for (int i = 0; i < bs.ndim; i++) bs.dims[i] = chance(50) ? 1 : s.dims[i + drop];
    }
    int64_t bn = numel_of(bs);
    unsigned char *buf = malloc((size_t)(bn > 0 ? bn : 1) * 8);
    cr_assert(buf);
    if (kind == LA_WILD) {
        fill_host(buf, dt, bn);
    } else {
        for (int64_t fb = 0; fb < bn; fb++) {
            int64_t bi[NPG_MAX_DIMS] = {0}, xi[NPG_MAX_DIMS] = {0};
            unravel(fb, &bs, bi);
            if (how == 0) {
                memcpy(xi, bi, sizeof(int64_t) * (size_t)nd);
            } else if (how == 1) {
                for (int i = 0; i < nd; i++) xi[i] = bi[p.axes[i]];
            } else if (how == 2) {
                memcpy(xi, bi, sizeof(int64_t) * (size_t)nd);
                int64_t t = step < 0 ? bs.dims[k] - 1 - bi[k] : bi[k] - start;
                xi[k] = t >= 0 ? t / as : 0; /* elements the view skips get any index */
            } else {
                for (int i = 0; i < bs.ndim; i++) xi[i + drop] = bi[i];
            }
            int64_t b = 0;
            for (int d = 0; d < nd - 2; d++) b = b * s.dims[d] + xi[d];
            la_store(buf, dt, fb, la_value(&f, b, nd >= 2 ? xi[nd - 2] : 0, nd >= 1 ? xi[nd - 1] : 0));
        }
    }
    npg_array *base = npg_from_data(buf, dt, bs, NPG_OPTS(.device = t_dev()));
    free(buf);
    cr_assert(base, "fuzz setup: npg_from_data: %s", npg_last_error());
    if (grad) setup_rg(base);
    if (how == 0) return pool_add(base, NULL);
    npg_array *x;
    if (how == 1) {
        x = npg_permute_dims(base, p);
    } else if (how == 2) {
        npg_idx idx[NPG_MAX_DIMS];
        for (int i = 0; i < nd; i++) idx[i] = NPG_ALL;
        idx[k] = NPG_SLICE(step > 0 ? start : NPG_NONE, NPG_NONE, step);
        x = npg_index(base, idx, nd);
    } else {
        x = npg_broadcast_to(base, s);
    }
    cr_assert(x, "fuzz setup: linalg view: %s", npg_last_error());
    npg_shape got = npg_shape_of(x);
    cr_assert(same_shape(got, s), "fuzz setup: a linalg view has the wrong shape");
    pool_add(base, NULL);
    return pool_add(x, base);
}

static npg_array *la_operand(npg_dtype dt, npg_shape s, int kind) {
    return chance(g_null_pct) ? NULL : la_make(dt, s, 30, kind);
}

/* A matrix dimension: mostly 2 to 4, now and then 0, 1 or 5, rarely 60 to
 * 100 (LAPACK's threaded paths; no batch then). */
static int64_t la_dim(void) {
    int r = rint_in(0, 999);
    return r < 50 ? 0 : r < 150 ? 1 : r < 920 ? rint_in(2, 4) : r < 992 ? 5 : rint_in(60, 100);
}

/* A batch shape: mostly none or one or two axes of 1 to 3 (0 now and then),
 * sometimes up to NPG_MAX_DIMS - 2 axes; at most about 96 elements with a
 * matrix of `mat` elements. */
static npg_shape la_batch(int64_t mat) {
    npg_shape s = {.ndim = chance(6) ? rint_in(3, NPG_MAX_DIMS - 2) : chance(50) ? 0 : rint_in(1, 2)};
    int64_t tot = mat > 0 ? mat : 1;
    for (int i = 0; i < s.ndim; i++) {
        int r = rint_in(0, 99);
        int64_t d = r < 6 ? 0 : r < 45 ? 1 : rint_in(2, 3);
        if (tot * (d ? d : 1) > 96) d = 1;
        if (d) tot *= d;
        s.dims[i] = d;
    }
    return s;
}

static npg_shape la_join(npg_shape batch, int nt, int64_t d0, int64_t d1) {
    npg_shape s = batch;
    while (s.ndim + nt > NPG_MAX_DIMS) { /* drop leading batch axes */
        memmove(s.dims, s.dims + 1, sizeof(int64_t) * (size_t)(s.ndim - 1));
        s.ndim--;
    }
    if (nt >= 1) s.dims[s.ndim++] = d0;
    if (nt >= 2) s.dims[s.ndim++] = d1;
    return s;
}

/* A stack of matrices (square when asked, nearly always), or now and then
 * any shape. */
static npg_shape la_mat_shape(bool square) {
    if (chance(6)) return rand_shape();
    int64_t m = la_dim(), n = square && chance(94) ? m : la_dim();
    return la_join(la_batch(m * n), 2, m, n);
}

/* ---- what the call saw ---- */

typedef struct la_in {
    npg_shape s, bs;     /* shape; batch shape (all but the last two axes) */
    int64_t batch, m, n; /* matrices, rows, columns */
    npg_dtype dt;
    double *v; /* row-major values when the call began */
} la_in;

static la_in la_read(const npg_array *x) {
    la_in in = {.s = npg_shape_of(x), .dt = npg_dtype_of(x)};
    int nd = in.s.ndim;
    in.m = nd >= 2 ? in.s.dims[nd - 2] : 1;
    in.n = nd >= 1 ? in.s.dims[nd - 1] : 1;
    in.bs.ndim = nd >= 2 ? nd - 2 : 0;
    memcpy(in.bs.dims, in.s.dims, sizeof(int64_t) * (size_t)in.bs.ndim);
    in.batch = numel_of(in.bs);
    int64_t total = numel_of(in.s);
    in.v = malloc(sizeof(double) * (size_t)(total > 0 ? total : 1));
    cr_assert(in.v);
    const unsigned char *b = snap(x);
    for (int64_t i = 0; i < total; i++) in.v[i] = elem_f(b, in.dt, i);
    return in;
}

static double la_at(const la_in *in, int64_t b, int64_t i, int64_t j) { return in->v[(b * in->m + i) * in->n + j]; }

/* Which elements a function reads. */
enum { RD_ALL, RD_LOWER, RD_UPPER, RD_LOWER_STRICT, RD_UPPER_STRICT };
static bool la_reads(int rd, int64_t i, int64_t j) {
    switch (rd) {
    case RD_LOWER: return i >= j;
    case RD_UPPER: return i <= j;
    case RD_LOWER_STRICT: return i > j;
    case RD_UPPER_STRICT: return i < j;
    default: return true;
    }
}

/* Values the host checks compute with in either float dtype: 0 or a
 * magnitude in [1e-6, 1e6] (no NaN, infinity, overflow or underflow). */
static bool tame(double v) { return v == 0 || (fabs(v) >= 1e-6 && fabs(v) <= 1e6); }

static bool la_tame(const la_in *in, int64_t b, int rd) {
    for (int64_t i = 0; i < in->m; i++)
        for (int64_t j = 0; j < in->n; j++)
            if (la_reads(rd, i, j) && !tame(la_at(in, b, i, j))) return false;
    return true;
}
static bool la_tame_all(const la_in *in, int rd) {
    for (int64_t b = 0; b < in->batch; b++)
        if (!la_tame(in, b, rd)) return false;
    return true;
}
static bool la_has_nan(const la_in *in, int64_t b, int rd) {
    for (int64_t i = 0; i < in->m; i++)
        for (int64_t j = 0; j < in->n; j++)
            if (la_reads(rd, i, j) && isnan(la_at(in, b, i, j))) return true;
    return false;
}
static double la_maxabs(const la_in *in, int64_t b, int rd) {
    double mx = 0;
    for (int64_t i = 0; i < in->m; i++)
        for (int64_t j = 0; j < in->n; j++)
            if (la_reads(rd, i, j)) mx = fmax(mx, fabs(la_at(in, b, i, j)));
    return mx;
}

/* Element (i, j) of matrix b as a function reading triangle rd sees it:
 * the symmetric matrix of the lower triangle (sym), or the triangle with
 * ones on the diagonal (unit), or the matrix. */
static double la_elem(const la_in *in, int64_t b, int64_t i, int64_t j, bool sym, int tri, bool unit) {
    if (sym) return i >= j ? la_at(in, b, i, j) : la_at(in, b, j, i);
    if (tri == RD_LOWER && j > i) return 0;
    if (tri == RD_UPPER && j < i) return 0;
    if (unit && i == j && tri != RD_ALL) return 1;
    return la_at(in, b, i, j);
}

/* Matrix b (square) strictly diagonally dominant by rows, with a margin of
 * a tenth of the diagonal and tame values: nonsingular and well
 * conditioned (and positive definite when its diagonal is positive and it
 * is symmetric: sym). Elements read as la_elem does. */
static bool la_dominant(const la_in *in, int64_t b, bool sym, int tri, bool unit, bool positive) {
    if (in->m != in->n) return false;
    for (int64_t i = 0; i < in->n; i++) {
        double d = la_elem(in, b, i, i, sym, tri, unit), off = 0;
        for (int64_t j = 0; j < in->n; j++) {
            double v = la_elem(in, b, i, j, sym, tri, unit);
            if (!tame(v)) return false;
            if (j != i) off += fabs(v);
        }
        if ((positive && d <= 0) || d == 0 || fabs(d) - off <= 0.1 * fabs(d)) return false;
    }
    return true;
}
static bool la_dominant_all(const la_in *in, bool sym, int tri, bool unit, bool positive) {
    for (int64_t b = 0; b < in->batch; b++)
        if (!la_dominant(in, b, sym, tri, unit, positive)) return false;
    return true;
}

/* Matrix b has a zero row or a zero column, and tame values (no overflow
 * on the way): any LU factorization meets an exact zero pivot. */
static bool la_struct_singular(const la_in *in, int64_t b) {
    if (in->m != in->n || in->n == 0) return false;
    bool zr = false, zc = false;
    for (int64_t i = 0; i < in->n; i++) {
        bool r = true, c = true;
        for (int64_t j = 0; j < in->n; j++) {
            if (!tame(la_at(in, b, i, j))) return false;
            r = r && la_at(in, b, i, j) == 0;
            c = c && la_at(in, b, j, i) == 0;
        }
        zr = zr || r;
        zc = zc || c;
    }
    return zr || zc;
}

/* The determinant of the n x n row-major a by the Leibniz formula (n small):
 * the sum over the permutations of the rows' remaining columns. */
static double la_leibniz(const double *a, int n, int row, unsigned used) {
    if (row == n) return 1;
    double det = 0;
    for (int j = 0, sign = 1; j < n; j++) {
        if (used >> j & 1) continue;
        det += sign * a[row * n + j] * la_leibniz(a, n, row + 1, used | 1u << j);
        sign = -sign;
    }
    return det;
}
static double la_det_host(const double *a, int n) { return la_leibniz(a, n, 0, 0); }
/* The host references that work on dense copies take matrices up to 5 x 5. */
#define LA_HOST_MAX 5

/* Matrix b of in as a dense n x n buffer (at most LA_HOST_MAX square). */
static void la_mat(const la_in *in, int64_t b, double *a) {
    for (int64_t i = 0; i < in->m; i++)
        for (int64_t j = 0; j < in->n; j++) a[i * in->n + j] = la_at(in, b, i, j);
}
/* A bound on the error of an LU determinant of an n x n matrix with
 * elements of magnitude <= mx, relative to the unit roundoff: n! mx^n. */
static double la_det_scale(int n, double mx) {
    double s = 1;
    for (int i = 1; i <= n; i++) s *= i * mx;
    return s;
}

static double la_tol(npg_dtype dt) { return dt == NPG_FLOAT64 ? 1e-9 : 2e-3; }

static void la_expect(const npg_array *r, npg_shape want, npg_dtype dt, const char *what) {
    expect_shape(r, want, what);
    CHECK(npg_dtype_of(r) == dt, "%s: result dtype %s, expected %s", what, npg_dtype_name(npg_dtype_of(r)),
          npg_dtype_name(dt));
}

/* A differentiable floating result requires grad exactly when an operand
 * does and grad mode is on. */
static bool g_la_ng; /* the call ran in no-grad mode */
static void la_ng_end(void) {
    g_la_ng = g_ng;
    ng_end();
}
static bool la_rg_in(npg_array *a, npg_array *b) {
    return !g_la_ng && ((a && npg_requires_grad(a)) || (b && npg_requires_grad(b)));
}
static void la_expect_rg(const npg_array *r, bool want, const char *what) {
    CHECK(npg_requires_grad(r) == want, "%s: the result %s grad", what, want ? "does not require" : "requires");
}

/* batch shape + tail */
static npg_shape la_out(npg_shape batch, int nt, int64_t d0, int64_t d1) {
    npg_shape s = batch;
    if (nt >= 1) s.dims[s.ndim++] = d0;
    if (nt >= 2) s.dims[s.ndim++] = d1;
    return s;
}

/* A valid call failed: with `want` (or any status when want is NPG_OK),
 * unless it had to succeed. */
static void la_valid_failed(npg_status st, const char *msg, npg_status want, bool must_succeed, const char *what) {
    CHECK(!must_succeed, "%s: a valid call failed: %s", what, msg);
    CHECK(want == NPG_OK || st == want, "%s: a valid call failed with status %d (%s) instead of %s: %s", what, (int)st,
          npg_status_string(st), npg_status_string(want), msg);
}

enum { BW_OK, BW_MAY_FAIL, BW_UNSUPPORTED };

/* Backward through the sum of the sums of the results that require grad
 * (or of result g_la_only alone):
 * it must succeed (BW_OK), may fail with a status and a message (BW_MAY_FAIL)
 * or must fail with NPG_ERR_UNSUPPORTED; a failure leaves every .grad as it
 * was; on success every leaf's gradient has the leaf's shape and dtype, and
 * finite values when `finite`. Returns true when it ran and succeeded. */
static int g_la_only = -1; /* >= 0: the backward goes through that result alone */
static bool la_backward(npg_array *const *res, int nres, int mode, bool finite, const char *what) {
    npg_array *tmp[8], *root = NULL;
    int nt = 0, only = g_la_only;
    g_la_only = -1;
    for (int i = 0; i < nres; i++) {
        if (!res[i] || !npg_requires_grad(res[i]) || (only >= 0 && i != only)) continue;
        npg_array *s = npg_sum(res[i], NPG_ALL_AXES, false);
        CHECK(s, "%s: the sum of a result failed: %s", what, npg_last_error());
        tmp[nt++] = s;
        if (root) {
            root = npg_add(root, s);
            CHECK(root, "%s: adding the sums of the results failed: %s", what, npg_last_error());
            tmp[nt++] = root;
        } else {
            root = s;
        }
    }
    if (!root) return false;
    grad_snap gs;
    grads_take(&gs);
    npg_clear_error();
    g_bug = false;
    npg_status st = npg_backward(root, NULL);
    CHECK(!g_bug, "%s: an internal assertion fired in backward: %s", what, g_bug_msg);
    if (st == NPG_OK) {
        CHECK(mode != BW_UNSUPPORTED, "%s: backward succeeded, expected NPG_ERR_UNSUPPORTED", what);
        check_leaf_grads();
        for (int i = 0; finite && i < g_npool; i++) {
            npg_array *x = g_pool[i].x;
            if (!npg_requires_grad(x) || !npg_is_leaf(x)) continue;
            npg_array *g = npg_grad(x);
            if (!g) continue;
            double *v = t_read(g);
            int64_t n = npg_size(g), bad = -1;
            for (int64_t j = 0; j < n && bad < 0; j++)
                if (!isfinite(v[j])) bad = j;
            double bv = bad >= 0 ? v[bad] : 0;
            free(v);
            npg_free(g);
            CHECK(bad < 0, "%s: backward left gradient element %lld = %g (finite expected)", what, (long long)bad, bv);
        }
    } else {
        const char *msg = npg_last_error();
        CHECK(st == npg_last_status(), "%s: backward returned %d but the last status is %d", what, (int)st,
              (int)npg_last_status());
        CHECK(msg && msg[0], "%s: backward failed (status %d) with an empty message", what, (int)st);
        CHECK(st != NPG_ERR_INTERNAL, "%s: backward: internal error: %s", what, msg);
        CHECK(mode != BW_OK, "%s: backward failed: %s", what, msg);
        CHECK(mode != BW_UNSUPPORTED || st == NPG_ERR_UNSUPPORTED, "%s: backward failed with %s, expected %s: %s", what,
              npg_status_string(st), npg_status_string(NPG_ERR_UNSUPPORTED), msg);
        grads_unchanged(&gs);
    }
    grads_drop(&gs);
    for (int i = 0; i < nt; i++) npg_free(tmp[i]);
    return st == NPG_OK;
}

/* The end of a call: backward (la_backward), operands unchanged, results
 * freed. Returns whether a backward ran and succeeded. */
static bool la_end(npg_array **res, int nres, bool ok, int mode, bool finite, const char *what) {
    bool bw = ok && la_backward(res, nres, mode, finite, what);
    check_unchanged(ok);
    for (int i = 0; i < nres; i++) {
        if (res[i] && res[i] != UNSET) npg_free(res[i]);
        res[i] = NULL;
    }
    return bw;
}

/* The gradient of fresh leaf x (NULL when x is a view or has none). */
static double *la_leaf_grad(npg_array *x) {
    if (!x || pool_base(x) || !npg_is_leaf(x) || !npg_requires_grad(x)) return NULL;
    npg_array *g = npg_grad(x);
    if (!g) return NULL;
    double *v = t_read(g);
    npg_free(g);
    return v;
}

/* Multi-output calls: an output not asked for becomes NULL; after a failure
 * the others are NULL, after success sane arrays. */
static void la_outputs(npg_status st, npg_array **out, const bool *want, int n, const char *what) {
    for (int i = 0; i < n; i++) {
        if (!want[i]) {
            out[i] = NULL;
            continue;
        }
        if (st != NPG_OK) {
            CHECK(out[i] == NULL, "%s failed but output %d is not NULL", what, i);
            continue;
        }
        CHECK(out[i] != NULL && out[i] != UNSET, "%s succeeded without output %d", what, i);
        check_sane(out[i]);
    }
}

/* The status and message of the call just made (before anything else
 * touches the error state). */
static npg_status g_la_st;
static char g_la_msg[512];
static void la_capture(void) {
    g_la_st = npg_last_status();
    snprintf(g_la_msg, sizeof g_la_msg, "%s", npg_last_error());
}

/* A gradient check (npg_gradcheck) of solve, solve_triangular or cross on
 * its operands when both are fresh float64 arrays (one requiring grad) of
 * few elements: their batches broadcast, so the gradients are summed back
 * to each operand's shape. */
typedef struct la_gc {
    int op; /* 0 solve, 1 solve_triangular, 2 cross */
    bool upper, unit;
    int axis;
} la_gc;
static npg_array *la_gc_fn(npg_array *const *in, int n, void *user) {
    const la_gc *c = user;
    (void)n;
    if (c->op == 0) return npg_linalg_solve(in[0], in[1]);
    if (c->op == 1) return npg_linalg_solve_triangular(in[0], in[1], c->upper, c->unit);
    return npg_linalg_cross(in[0], in[1], c->axis);
}
static void la_gradcheck(la_gc c, npg_array *a, npg_array *b, const char *what) {
    if (pool_base(a) || pool_base(b) || npg_dtype_of(a) != NPG_FLOAT64 || npg_dtype_of(b) != NPG_FLOAT64) return;
    if ((!npg_requires_grad(a) && !npg_requires_grad(b)) || npg_size(a) + npg_size(b) > 40) return;
    npg_clear_error();
    g_bug = false;
    npg_status st = npg_gradcheck(la_gc_fn, &c, (npg_array *[]){a, b}, 2, NULL);
    CHECK(!g_bug, "%s: an internal assertion fired in npg_gradcheck: %s", what, g_bug_msg);
    CHECK(st == NPG_OK, "%s: npg_gradcheck: %s", what, npg_last_error());
}

/* ---- cholesky, qr, eigh, svd ---- */

static void fz_la_cholesky(void) {
    int kind = la_kind();
    npg_array *x = la_operand(NPG_DTYPE_DEFAULT, la_mat_shape(true), kind);
    bool upper = chance(50);
    npg_shape xs = x ? npg_shape_of(x) : (npg_shape){0};
    bool ok = xs.ndim >= 2 && xs.dims[xs.ndim - 1] == xs.dims[xs.ndim - 2];
    call("npg_linalg_cholesky(x, %s) [%s]", upper ? "true" : "false", LA_KIND[kind]);
    arg(x);
    if (x && !ok) must_fail();
    ng_maybe();
    go();
    npg_array *r = npg_linalg_cholesky(x, upper);
    la_ng_end();
    la_capture();
    after(r == NULL);
    bool finite = false;
    if (x && ok) {
        la_in in = la_read(x);
        npg_dtype dt = la_dt(in.dt);
        const int64_t n = in.n;
        bool pd = true, not_pd = false;
        for (int64_t b = 0; b < in.batch && n > 0; b++) {
            pd = pd && la_dominant(&in, b, true, RD_ALL, false, true);
            if (la_tame(&in, b, RD_LOWER))
                for (int64_t i = 0; i < n; i++) not_pd = not_pd || la_at(&in, b, i, i) <= 0;
        }
        if (!r) {
            la_valid_failed(g_la_st, g_la_msg, NPG_ERR_LINALG, pd, "cholesky");
        } else {
            CHECK(!not_pd, "cholesky: succeeded on a matrix with a diagonal element <= 0");
            la_expect(r, xs, dt, "cholesky");
            la_expect_rg(r, la_rg_in(x, NULL), "cholesky");
            if (n > 0 && in.batch > 0 && la_tame_all(&in, RD_LOWER)) {
                double *L = t_read(r);
                for (int64_t b = 0; b < in.batch; b++) {
                    const double *R = L + b * n * n;
                    double tol = la_tol(dt) * (1 + la_maxabs(&in, b, RD_LOWER)) * (double)n;
                    for (int64_t i = 0; i < n; i++)
                        for (int64_t j = 0; j < n; j++) {
                            if (upper ? i > j : j > i)
                                CHECK(R[i * n + j] == 0,
                                      "cholesky: element (%lld, %lld) of matrix %lld is %g, outside the triangle",
                                      (long long)i, (long long)j, (long long)b, R[i * n + j]);
                            if (j > i) continue;
                            double s = 0;
                            for (int64_t k = 0; k < n; k++)
                                s += (upper ? R[k * n + i] : R[i * n + k]) * (upper ? R[k * n + j] : R[j * n + k]);
                            CHECK(fabs(s - la_at(&in, b, i, j)) <= tol,
                                  "cholesky: (L L^T)[%lld, %lld] of matrix %lld is %.17g, the input's %.17g",
                                  (long long)i, (long long)j, (long long)b, s, la_at(&in, b, i, j));
                        }
                }
                free(L);
            }
            finite = pd;
        }
        free(in.v);
    }
    la_end(&r, 1, r != NULL, BW_OK, finite, "cholesky");
}

static void fz_la_qr(void) {
    int kind = la_kind();
    npg_array *x = la_operand(NPG_DTYPE_DEFAULT, la_mat_shape(false), kind);
    bool complete = chance(40);
    int o = rint_in(0, 99);
    bool wq = o < 78, wr = o < 60 || (o >= 78 && o < 96);
    npg_array *out[2] = {UNSET, UNSET};
    npg_shape xs = x ? npg_shape_of(x) : (npg_shape){0};
    call("npg_linalg_qr(x, %s, %s, %s) [%s]", complete ? "true" : "false", wq ? "&q" : "NULL", wr ? "&r" : "NULL",
         LA_KIND[kind]);
    arg(x);
    if (x && xs.ndim < 2) must_fail();
    ng_maybe();
    go();
    npg_status st = npg_linalg_qr(x, complete, wq ? &out[0] : NULL, wr ? &out[1] : NULL);
    la_ng_end();
    la_capture();
    if (st != NPG_OK) CHECK(st == g_la_st, "returned %d but the last status is %d", (int)st, (int)g_la_st);
    after(st != NPG_OK);
    la_outputs(st, out, (bool[]){wq, wr}, 2, "qr");
    int mode = BW_OK;
    if (x && xs.ndim >= 2) {
        la_in in = la_read(x);
        npg_dtype dt = la_dt(in.dt);
        const int64_t m = in.m, n = in.n, k = m < n ? m : n, qc = complete ? m : k;
        if (st != NPG_OK) {
            la_valid_failed(g_la_st, g_la_msg, NPG_OK, true, "qr");
        } else {
            bool rg = la_rg_in(x, NULL);
            if (out[0]) la_expect(out[0], la_out(in.bs, 2, m, qc), dt, "qr: q");
            if (out[0]) la_expect_rg(out[0], rg, "qr: q");
            if (out[1]) la_expect(out[1], la_out(in.bs, 2, qc, n), dt, "qr: r");
            if (out[1]) la_expect_rg(out[1], rg, "qr: r");
            if (in.batch > 0 && la_tame_all(&in, RD_ALL)) {
                double *Q = out[0] ? t_read(out[0]) : NULL, *R = out[1] ? t_read(out[1]) : NULL;
                for (int64_t b = 0; b < in.batch; b++) {
                    const double *q = Q ? Q + b * m * qc : NULL, *r = R ? R + b * qc * n : NULL;
                    double tol = la_tol(dt) * (double)(m + n + 1);
                    for (int64_t i = 0; r && i < qc; i++)
                        for (int64_t j = 0; j < i && j < n; j++)
                            CHECK(r[i * n + j] == 0,
                                  "qr: R[%lld, %lld] of matrix %lld is %g (upper triangular expected)", (long long)i,
                                  (long long)j, (long long)b, r[i * n + j]);
                    for (int64_t c1 = 0; q && c1 < qc; c1++)
                        for (int64_t c2 = 0; c2 < qc; c2++) {
                            double s = 0;
                            for (int64_t i = 0; i < m; i++) s += q[i * qc + c1] * q[i * qc + c2];
                            CHECK(fabs(s - (c1 == c2)) <= tol, "qr: (Q^T Q)[%lld, %lld] of matrix %lld is %.17g",
                                  (long long)c1, (long long)c2, (long long)b, s);
                        }
                    double at = tol * (1 + la_maxabs(&in, b, RD_ALL));
                    for (int64_t i = 0; q && r && i < m; i++)
                        for (int64_t j = 0; j < n; j++) {
                            double s = 0;
                            for (int64_t c = 0; c < qc; c++) s += q[i * qc + c] * r[c * n + j];
                            CHECK(fabs(s - la_at(&in, b, i, j)) <= at,
                                  "qr: (Q R)[%lld, %lld] of matrix %lld is %.17g, the input's %.17g", (long long)i,
                                  (long long)j, (long long)b, s, la_at(&in, b, i, j));
                        }
                }
                free(Q);
                free(R);
            }
            if (complete && m > n) mode = BW_UNSUPPORTED;
        }
        free(in.v);
    }
    la_end(out, 2, st == NPG_OK, mode, false, "qr");
}

/* eigh (with or without vectors, and w NULL now and then) and eigvalsh */
static void fz_la_eigh(void) {
    int kind = la_kind();
    npg_array *x = la_operand(NPG_DTYPE_DEFAULT, la_mat_shape(true), kind);
    int form = rint_in(0, 99);
    bool values = form < 97, vectors = form < 45 || form >= 97, fn_vals = form >= 75 && form < 97;
    npg_array *out[2] = {UNSET, UNSET};
    npg_shape xs = x ? npg_shape_of(x) : (npg_shape){0};
    bool ok = xs.ndim >= 2 && xs.dims[xs.ndim - 1] == xs.dims[xs.ndim - 2];
    const char *what = fn_vals ? "eigvalsh" : "eigh";
    if (fn_vals) call("npg_linalg_eigvalsh(x) [%s]", LA_KIND[kind]);
    else call("npg_linalg_eigh(x, %s, %s) [%s]", values ? "&w" : "NULL", vectors ? "&v" : "NULL", LA_KIND[kind]);
    arg(x);
    if (x && !ok) must_fail();
    ng_maybe();
    go();
    npg_status st;
    if (fn_vals) {
        out[0] = npg_linalg_eigvalsh(x);
        st = out[0] ? NPG_OK : npg_last_status();
    } else {
        st = npg_linalg_eigh(x, values ? &out[0] : NULL, vectors ? &out[1] : NULL);
    }
    la_ng_end();
    la_capture();
    if (st != NPG_OK) CHECK(st == g_la_st, "returned %d but the last status is %d", (int)st, (int)g_la_st);
    after(st != NPG_OK);
    la_outputs(st, out, (bool[]){values, vectors}, 2, what);
    bool finite = false, tm = false, wonly = false;
    if (x && ok) {
        la_in in = la_read(x);
        npg_dtype dt = la_dt(in.dt);
        const int64_t n = in.n;
        tm = la_tame_all(&in, RD_LOWER);
        if (st != NPG_OK) {
            la_valid_failed(g_la_st, g_la_msg, NPG_ERR_LINALG, tm, what);
        } else {
            bool rg = la_rg_in(x, NULL);
            if (out[0]) la_expect(out[0], la_out(in.bs, 1, n, 0), dt, what);
            if (out[0]) la_expect_rg(out[0], rg, what);
            if (out[1]) la_expect(out[1], la_out(in.bs, 2, n, n), dt, "eigh: v");
            if (out[1]) la_expect_rg(out[1], rg, "eigh: v");
            double *W = out[0] ? t_read(out[0]) : NULL, *V = out[1] ? t_read(out[1]) : NULL;
            for (int64_t b = 0; b < in.batch && n > 0; b++) {
                const double *w = W ? W + b * n : NULL, *v = V ? V + b * n * n : NULL;
                if (w && la_has_nan(&in, b, RD_LOWER)) {
                    bool nan = false;
                    for (int64_t i = 0; i < n; i++) nan = nan || isnan(w[i]);
                    CHECK(nan, "%s: matrix %lld has a NaN in its lower triangle, but no eigenvalue is NaN", what,
                          (long long)b);
                }
                if (!la_tame(&in, b, RD_LOWER)) continue;
                double mx = la_maxabs(&in, b, RD_LOWER), tol = la_tol(dt) * (1 + mx) * (double)n, tr = 0, sw = 0;
                for (int64_t i = 0; w && i < n; i++) {
                    tr += la_at(&in, b, i, i);
                    sw += w[i];
                    if (i)
                        CHECK(w[i - 1] <= w[i] + tol, "%s: eigenvalues of matrix %lld not ascending: %.17g, %.17g",
                              what, (long long)b, w[i - 1], w[i]);
                }
                if (w)
                    CHECK(fabs(sw - tr) <= tol, "%s: the eigenvalues of matrix %lld sum to %.17g, its trace is %.17g",
                          what, (long long)b, sw, tr);
                for (int64_t i = 0; v && i < n; i++)
                    for (int64_t j = 0; j < n; j++) {
                        double s = 0, av = 0;
                        for (int64_t k = 0; k < n; k++) {
                            s += v[k * n + i] * v[k * n + j];
                            av += la_elem(&in, b, i, k, true, RD_ALL, false) * v[k * n + j];
                        }
                        CHECK(fabs(s - (i == j)) <= la_tol(dt) * (double)n,
                              "eigh: (V^T V)[%lld, %lld] of matrix %lld is %.17g", (long long)i, (long long)j,
                              (long long)b, s);
                        if (w)
                            CHECK(fabs(av - v[i * n + j] * w[j]) <= tol,
                                  "eigh: (A V)[%lld, %lld] of matrix %lld is %.17g, (V diag(w)) %.17g", (long long)i,
                                  (long long)j, (long long)b, av, v[i * n + j] * w[j]);
                    }
            }
            free(W);
            free(V);
            /* a loss of the eigenvalues alone differentiates (no NaN from repeated ones) */
            wonly = values && (!vectors || chance(50));
            finite = tm && wonly;
        }
        free(in.v);
    }
    if (wonly) g_la_only = 0;
    bool bw = la_end(out, 2, st == NPG_OK, BW_OK, finite, what);
    double *g = bw && finite ? la_leaf_grad(x) : NULL;
    if (g) { /* d sum(w) / dA = I */
        npg_shape s = npg_shape_of(x);
        int64_t n = s.dims[s.ndim - 1], cnt = numel_of(s);
        npg_dtype dt = la_dt(npg_dtype_of(x));
        for (int64_t e = 0; e < cnt; e++) {
            double want = (e % (n * n)) / n == e % n;
            CHECK(fabs(g[e] - want) <= la_tol(dt) * (double)n,
                  "%s: gradient element %lld of sum(w) is %.17g, expected %g", what, (long long)e, g[e], want);
        }
        free(g);
    }
}

/* svd (u, vh NULL or not, full or not; s NULL now and then) and svdvals */
static void fz_la_svd(void) {
    int kind = la_kind();
    npg_array *x = la_operand(NPG_DTYPE_DEFAULT, la_mat_shape(false), kind);
    int form = rint_in(0, 99);
    bool fn_vals = form >= 70 && form < 97, full = chance(40);
    bool wu = !fn_vals && chance(60), ws = form < 97, wv = !fn_vals && chance(60);
    npg_array *out[3] = {UNSET, UNSET, UNSET};
    npg_shape xs = x ? npg_shape_of(x) : (npg_shape){0};
    bool ok = xs.ndim >= 2;
    const char *what = fn_vals ? "svdvals" : "svd";
    if (fn_vals) call("npg_linalg_svdvals(x) [%s]", LA_KIND[kind]);
    else
        call("npg_linalg_svd(x, %s, %s, %s, %s) [%s]", full ? "true" : "false", wu ? "&u" : "NULL", ws ? "&s" : "NULL",
             wv ? "&vh" : "NULL", LA_KIND[kind]);
    arg(x);
    if (x && !ok) must_fail();
    ng_maybe();
    go();
    npg_status st;
    if (fn_vals) {
        out[1] = npg_linalg_svdvals(x);
        st = out[1] ? NPG_OK : npg_last_status();
    } else {
        st = npg_linalg_svd(x, full, wu ? &out[0] : NULL, ws ? &out[1] : NULL, wv ? &out[2] : NULL);
    }
    la_ng_end();
    la_capture();
    if (st != NPG_OK) CHECK(st == g_la_st, "returned %d but the last status is %d", (int)st, (int)g_la_st);
    after(st != NPG_OK);
    la_outputs(st, out, (bool[]){wu, ws, wv}, 3, what);
    bool finite = false, sonly = false;
    if (x && ok) {
        la_in in = la_read(x);
        npg_dtype dt = la_dt(in.dt);
        const int64_t m = in.m, n = in.n, k = m < n ? m : n;
        const bool fm = full && (wu || wv);
        const int64_t uc = fm ? m : k, vr = fm ? n : k;
        bool tm = la_tame_all(&in, RD_ALL);
        if (st != NPG_OK) {
            la_valid_failed(g_la_st, g_la_msg, NPG_ERR_LINALG, tm, what);
        } else {
            bool rg = la_rg_in(x, NULL);
            if (out[0]) la_expect(out[0], la_out(in.bs, 2, m, uc), dt, "svd: u");
            if (out[1]) la_expect(out[1], la_out(in.bs, 1, k, 0), dt, what);
            if (out[2]) la_expect(out[2], la_out(in.bs, 2, vr, n), dt, "svd: vh");
            for (int i = 0; i < 3; i++)
                if (out[i]) la_expect_rg(out[i], rg, what);
            double *U = out[0] ? t_read(out[0]) : NULL, *S = out[1] ? t_read(out[1]) : NULL;
            double *Vh = out[2] ? t_read(out[2]) : NULL;
            for (int64_t b = 0; b < in.batch && k > 0; b++) {
                const double *u = U ? U + b * m * uc : NULL, *s = S ? S + b * k : NULL,
                             *vh = Vh ? Vh + b * vr * n : NULL;
                if (s && la_has_nan(&in, b, RD_ALL)) {
                    bool nan = false;
                    for (int64_t i = 0; i < k; i++) nan = nan || isnan(s[i]);
                    CHECK(nan, "%s: matrix %lld has a NaN element, but its singular values are %g ... %g (no NaN)",
                          what, (long long)b, s[0], s[k - 1]);
                }
                if (!la_tame(&in, b, RD_ALL)) continue;
                double mx = la_maxabs(&in, b, RD_ALL), tol = la_tol(dt) * (double)(m + n), f2 = 0, s2 = 0;
                for (int64_t i = 0; i < m; i++)
                    for (int64_t j = 0; j < n; j++) f2 += la_at(&in, b, i, j) * la_at(&in, b, i, j);
                for (int64_t i = 0; s && i < k; i++) {
                    s2 += s[i] * s[i];
                    CHECK(s[i] >= 0 && (i == 0 || s[i] <= s[i - 1] + tol * (1 + mx)),
                          "%s: singular values of matrix %lld not descending and >= 0 at %lld: %.17g", what,
                          (long long)b, (long long)i, s[i]);
                }
                if (s)
                    CHECK(fabs(s2 - f2) <= tol * (1 + f2),
                          "%s: the squared singular values of matrix %lld sum to %.17g, its squared Frobenius norm is "
                          "%.17g",
                          what, (long long)b, s2, f2);
                for (int64_t c1 = 0; u && c1 < uc; c1++)
                    for (int64_t c2 = 0; c2 < uc; c2++) {
                        double d = 0;
                        for (int64_t i = 0; i < m; i++) d += u[i * uc + c1] * u[i * uc + c2];
                        CHECK(fabs(d - (c1 == c2)) <= tol, "svd: (U^T U)[%lld, %lld] of matrix %lld is %.17g",
                              (long long)c1, (long long)c2, (long long)b, d);
                    }
                for (int64_t r1 = 0; vh && r1 < vr; r1++)
                    for (int64_t r2 = 0; r2 < vr; r2++) {
                        double d = 0;
                        for (int64_t j = 0; j < n; j++) d += vh[r1 * n + j] * vh[r2 * n + j];
                        CHECK(fabs(d - (r1 == r2)) <= tol, "svd: (Vh Vh^T)[%lld, %lld] of matrix %lld is %.17g",
                              (long long)r1, (long long)r2, (long long)b, d);
                    }
                for (int64_t i = 0; u && s && vh && i < m; i++)
                    for (int64_t j = 0; j < n; j++) {
                        double d = 0;
                        for (int64_t c = 0; c < k; c++) d += u[i * uc + c] * s[c] * vh[c * n + j];
                        CHECK(fabs(d - la_at(&in, b, i, j)) <= tol * (1 + mx),
                              "svd: (U S Vh)[%lld, %lld] of matrix %lld is %.17g, the input's %.17g", (long long)i,
                              (long long)j, (long long)b, d, la_at(&in, b, i, j));
                    }
            }
            free(U);
            free(S);
            free(Vh);
            /* a loss of the singular values alone differentiates (no NaN from repeated ones) */
            sonly = ws && ((!wu && !wv) || chance(50));
            finite = tm && sonly;
        }
        free(in.v);
    }
    if (sonly) g_la_only = 1;
    la_end(out, 3, st == NPG_OK, BW_OK, finite, what);
}

/* ---- solve, solve_triangular, inv, det, slogdet ---- */

/* a (..., n, n) and b: (..., n, k) with a batch that mostly broadcasts with
 * a's, or one vector (n) (solve), now and then of a wrong length or any
 * shape. */
static void la_solve_operands(bool tri, npg_array **a, npg_array **b, int *ka) {
    *ka = la_kind();
    npg_shape as = la_mat_shape(true);
    int64_t n = as.ndim >= 1 ? as.dims[as.ndim - 1] : 2;
    npg_shape bsh;
    int r = rint_in(0, 99);
    if (r < (tri ? 6 : 25)) {
        bsh = (npg_shape){.ndim = 1, .dims = {chance(92) ? n : n + 1}};
    } else if (r < 95) {
        npg_shape ab = {.ndim = as.ndim >= 2 ? as.ndim - 2 : 0};
        memcpy(ab.dims, as.dims, sizeof(int64_t) * (size_t)ab.ndim);
        npg_shape pb = chance(85) ? bcast_partner(ab) : la_batch(4);
        bsh = la_join(pb, 2, chance(94) ? n : n + 1, chance(8) ? 0 : rint_in(1, 3));
    } else {
        bsh = rand_shape();
    }
    int kb = chance(60) ? LA_UNIFORM : chance(50) ? LA_SMALLINT : LA_WILD;
    *a = la_operand(NPG_DTYPE_DEFAULT, as, *ka);
    *b = la_operand(chance(85) ? NPG_DTYPE_DEFAULT : rand_dtype(), bsh, kb);
}

/* solve and solve_triangular: A X = b, or T X = b with T a's triangle */
static void fz_la_solve(bool tri) {
    npg_array *a, *b;
    int ka;
    la_solve_operands(tri, &a, &b, &ka);
    bool upper = chance(50), unit = chance(30);
    npg_shape sa = a ? npg_shape_of(a) : (npg_shape){0}, sb = b ? npg_shape_of(b) : (npg_shape){0};
    bool ok = sa.ndim >= 2 && sa.dims[sa.ndim - 1] == sa.dims[sa.ndim - 2];
    bool vec = ok && sb.ndim == 1;
    npg_shape ob = {0}; /* the batch of the result */
    if (ok && vec) {
        ok = !tri && sb.dims[0] == sa.dims[sa.ndim - 1];
        ob.ndim = sa.ndim - 2;
        memcpy(ob.dims, sa.dims, sizeof(int64_t) * (size_t)ob.ndim);
    } else if (ok) {
        npg_shape bat[2] = {{.ndim = sa.ndim - 2}, {.ndim = sb.ndim - 2}};
        memcpy(bat[0].dims, sa.dims, sizeof(int64_t) * (size_t)bat[0].ndim);
        if (sb.ndim >= 2) memcpy(bat[1].dims, sb.dims, sizeof(int64_t) * (size_t)bat[1].ndim);
        ok = sb.ndim >= 2 && sb.dims[sb.ndim - 2] == sa.dims[sa.ndim - 1] && bcast_shapes(bat, 2, &ob);
    }
    const char *what = tri ? "solve_triangular" : "solve";
    if (tri)
        call("npg_linalg_solve_triangular(a, b, %s, %s) [a: %s]", upper ? "true" : "false", unit ? "true" : "false",
             LA_KIND[ka]);
    else call("npg_linalg_solve(a, b) [a: %s]", LA_KIND[ka]);
    arg(a);
    arg(b);
    if (a && b && !ok) must_fail();
    ng_maybe();
    go();
    npg_array *r = tri ? npg_linalg_solve_triangular(a, b, upper, unit) : npg_linalg_solve(a, b);
    la_ng_end();
    la_capture();
    after(r == NULL);
    bool cert = false, finite = false;
    if (a && b && ok) {
        la_in A = la_read(a), B = la_read(b);
        npg_dtype dt = la_dt(fz_result_type(A.dt, B.dt));
        const int64_t n = A.n, k = vec ? 1 : B.n, nob = numel_of(ob);
        const int trd = upper ? RD_UPPER : RD_LOWER;
        const int rd = !tri ? RD_ALL : unit ? (upper ? RD_UPPER_STRICT : RD_LOWER_STRICT) : trd;
        bool sing = false, trivial = n == 0 || k == 0 || nob == 0;
        cert = true;
        for (int64_t i = 0; i < A.batch; i++) {
            cert = cert && la_dominant(&A, i, false, tri ? trd : RD_ALL, tri && unit, false);
            sing = sing || (!tri && la_struct_singular(&A, i));
        }
        if (!r) {
            la_valid_failed(g_la_st, g_la_msg, tri ? NPG_OK : NPG_ERR_LINALG, tri || trivial || cert, what);
        } else {
            CHECK(tri || trivial || !sing, "solve: succeeded although a matrix has a zero row or column");
            la_expect(r, vec ? la_out(ob, 1, n, 0) : la_out(ob, 2, n, k), dt, what);
            la_expect_rg(r, la_rg_in(a, b), what);
            double *X = t_read(r);
            bool tm = la_tame_all(&A, rd) && la_tame_all(&B, RD_ALL);
            for (int64_t o = 0; o < nob && !trivial; o++) {
                int64_t idx[NPG_MAX_DIMS] = {0};
                unravel(o, &ob, idx);
                int64_t ai = bcast_src(idx, &ob, &A.bs), bi = vec ? 0 : bcast_src(idx, &ob, &B.bs);
                const double *x = X + o * n * k;
                bool fin = true, zdiag = false;
                for (int64_t i = 0; i < n * k; i++) fin = fin && isfinite(x[i]);
                for (int64_t i = 0; tri && !unit && i < n; i++) zdiag = zdiag || la_at(&A, ai, i, i) == 0;
                /* a zero on the diagonal gives inf or NaN */
                CHECK(!zdiag || !fin,
                      "solve_triangular: matrix %lld has a zero on its diagonal, but its solution is finite",
                      (long long)ai);
                if (!tm || !fin) continue;
                double na = 0, nx = 0, nb = 0;
                for (int64_t i = 0; i < n; i++) {
                    double rs = 0;
                    for (int64_t j = 0; j < n; j++)
                        rs += fabs(la_elem(&A, ai, i, j, false, tri ? trd : RD_ALL, tri && unit));
                    na = fmax(na, rs);
                    for (int64_t c = 0; c < k; c++) {
                        nx = fmax(nx, fabs(x[i * k + c]));
                        nb = fmax(nb, fabs(vec ? B.v[i] : la_at(&B, bi, i, c)));
                    }
                }
                for (int64_t i = 0; i < n; i++)
                    for (int64_t c = 0; c < k; c++) {
                        double s = -(vec ? B.v[i] : la_at(&B, bi, i, c));
                        for (int64_t j = 0; j < n; j++)
                            s += la_elem(&A, ai, i, j, false, tri ? trd : RD_ALL, tri && unit) * x[j * k + c];
                        CHECK(fabs(s) <= la_tol(dt) * (na * nx + nb),
                              "%s: the residual (A X - b)[%lld, %lld] of result matrix %lld is %.17g (|A| %g, |X| %g, "
                              "|b| %g)",
                              what, (long long)i, (long long)c, (long long)o, s, na, nx, nb);
                    }
            }
            free(X);
            finite = cert && la_tame_all(&B, RD_ALL);
        }
        free(A.v);
        free(B.v);
    }
    la_end(&r, 1, r != NULL, tri || cert ? BW_OK : BW_MAY_FAIL, finite, what);
    if (finite) la_gradcheck((la_gc){.op = tri, .upper = upper, .unit = unit}, a, b, what);
}

static void fz_la_inv(void) {
    int kind = la_kind();
    npg_array *x = la_operand(NPG_DTYPE_DEFAULT, la_mat_shape(true), kind);
    npg_shape xs = x ? npg_shape_of(x) : (npg_shape){0};
    bool ok = xs.ndim >= 2 && xs.dims[xs.ndim - 1] == xs.dims[xs.ndim - 2];
    call("npg_linalg_inv(x) [%s]", LA_KIND[kind]);
    arg(x);
    if (x && !ok) must_fail();
    ng_maybe();
    go();
    npg_array *r = npg_linalg_inv(x);
    la_ng_end();
    la_capture();
    after(r == NULL);
    bool cert = false;
    if (x && ok) {
        la_in in = la_read(x);
        npg_dtype dt = la_dt(in.dt);
        const int64_t n = in.n;
        bool sing = false, trivial = n == 0 || in.batch == 0;
        cert = la_dominant_all(&in, false, RD_ALL, false, false);
        for (int64_t b = 0; b < in.batch; b++) sing = sing || la_struct_singular(&in, b);
        if (!r) {
            la_valid_failed(g_la_st, g_la_msg, NPG_ERR_LINALG, trivial || cert, "inv");
        } else {
            CHECK(trivial || !sing, "inv: succeeded although a matrix has a zero row or column");
            la_expect(r, xs, dt, "inv");
            la_expect_rg(r, la_rg_in(x, NULL), "inv");
            double *X = t_read(r);
            for (int64_t b = 0; b < in.batch && n > 0; b++) {
                const double *xi = X + b * n * n;
                bool fin = true;
                for (int64_t i = 0; i < n * n; i++) fin = fin && isfinite(xi[i]);
                if (!fin || !la_tame(&in, b, RD_ALL)) continue;
                double na = 0, nx = 0;
                for (int64_t i = 0; i < n; i++) {
                    double ra = 0, rx = 0;
                    for (int64_t j = 0; j < n; j++) {
                        ra += fabs(la_at(&in, b, i, j));
                        rx += fabs(xi[i * n + j]);
                    }
                    na = fmax(na, ra);
                    nx = fmax(nx, rx);
                }
                for (int64_t i = 0; i < n; i++)
                    for (int64_t j = 0; j < n; j++) {
                        double s = -(double)(i == j);
                        for (int64_t c = 0; c < n; c++) s += la_at(&in, b, i, c) * xi[c * n + j];
                        CHECK(fabs(s) <= la_tol(dt) * (1 + na * nx),
                              "inv: (A inv(A) - I)[%lld, %lld] of matrix %lld is %.17g", (long long)i, (long long)j,
                              (long long)b, s);
                    }
            }
            free(X);
        }
        free(in.v);
    }
    la_end(&r, 1, r != NULL, cert ? BW_OK : BW_MAY_FAIL, cert, "inv");
}

/* det, or slogdet with sign / logabsdet NULL or not */
static void fz_la_det(bool slog) {
    int kind = la_kind();
    npg_array *x = la_operand(NPG_DTYPE_DEFAULT, la_mat_shape(true), kind);
    int o = rint_in(0, 99);
    bool wsg = slog && (o < 75 || o >= 95), wla = slog && (o < 60 || (o >= 75 && o < 95)); /* o >= 95: neither */
    npg_shape xs = x ? npg_shape_of(x) : (npg_shape){0};
    bool ok = xs.ndim >= 2 && xs.dims[xs.ndim - 1] == xs.dims[xs.ndim - 2];
    npg_array *out[2] = {UNSET, UNSET};
    const char *what = slog ? "slogdet" : "det";
    if (slog)
        call("npg_linalg_slogdet(x, %s, %s) [%s]", wsg ? "&sign" : "NULL", wla ? "&logabsdet" : "NULL", LA_KIND[kind]);
    else call("npg_linalg_det(x) [%s]", LA_KIND[kind]);
    arg(x);
    if (x && !ok) must_fail();
    ng_maybe();
    go();
    npg_status st;
    if (slog) {
        st = npg_linalg_slogdet(x, wsg ? &out[0] : NULL, wla ? &out[1] : NULL);
    } else {
        out[1] = npg_linalg_det(x);
        st = out[1] ? NPG_OK : npg_last_status();
    }
    la_ng_end();
    la_capture();
    if (st != NPG_OK) CHECK(st == g_la_st, "returned %d but the last status is %d", (int)st, (int)g_la_st);
    after(st != NPG_OK);
    la_outputs(st, out, (bool[]){wsg, !slog || wla}, 2, what);
    bool cert = false;
    if (x && ok) {
        la_in in = la_read(x);
        npg_dtype dt = la_dt(in.dt);
        const int64_t n = in.n;
        cert = la_dominant_all(&in, false, RD_ALL, false, false);
        if (st != NPG_OK) {
            la_valid_failed(g_la_st, g_la_msg, NPG_OK, true, what);
        } else {
            if (out[0]) la_expect(out[0], in.bs, dt, "slogdet: sign");
            if (out[0]) la_expect_rg(out[0], false, "slogdet: sign");
            if (out[1]) la_expect(out[1], in.bs, dt, what);
            if (out[1]) la_expect_rg(out[1], la_rg_in(x, NULL), what);
            double *S = out[0] ? t_read(out[0]) : NULL, *D = out[1] ? t_read(out[1]) : NULL;
            for (int64_t b = 0; b < in.batch; b++) {
                if (S)
                    CHECK(isnan(S[b]) || S[b] == 0 || S[b] == 1 || S[b] == -1, "slogdet: sign %lld is %g", (long long)b,
                          S[b]);
                if (n == 0) { /* det of a 0 x 0 matrix is 1 */
                    if (S) CHECK(S[b] == 1, "slogdet: the sign of a 0 x 0 matrix is %g", S[b]);
                    if (D) CHECK(D[b] == (slog ? 0 : 1), "%s: %g for a 0 x 0 matrix", what, D[b]);
                    continue;
                }
                if (la_struct_singular(&in, b)) {
                    if (S) CHECK(S[b] == 0, "slogdet: the sign of singular matrix %lld is %g", (long long)b, S[b]);
                    if (D)
                        CHECK(slog ? D[b] == -INFINITY : D[b] == 0, "%s: %.17g for matrix %lld (a zero row or column)",
                              what, D[b], (long long)b);
                }
                if (!la_tame(&in, b, RD_ALL) || n > LA_HOST_MAX) continue;
                double a[25], mx = la_maxabs(&in, b, RD_ALL);
                la_mat(&in, b, a);
                double h = la_det_host(a, (int)n), tol = la_tol(dt) * la_det_scale((int)n, mx);
                if (D && !slog)
                    CHECK(fabs(D[b] - h) <= tol, "det: %.17g for matrix %lld, expected %.17g", D[b], (long long)b, h);
                if (!la_dominant(&in, b, false, RD_ALL, false, false)) continue;
                if (S)
                    CHECK(S[b] == (h > 0 ? 1 : -1), "slogdet: sign %g for matrix %lld of determinant %.17g", S[b],
                          (long long)b, h);
                if (D && slog)
                    CHECK(fabs(D[b] - log(fabs(h))) <= la_tol(dt) * (double)n,
                          "slogdet: logabsdet %.17g for matrix %lld, expected %.17g", D[b], (long long)b, log(fabs(h)));
            }
            free(S);
            free(D);
        }
        free(in.v);
    }
    /* the cofactors of a large matrix (det's gradient) may overflow even
     * where det does not: finite gradients are required of small ones */
    bool small = ok && xs.dims[xs.ndim - 1] <= LA_HOST_MAX;
    bool bw = la_end(out, 2, st == NPG_OK, cert ? BW_OK : BW_MAY_FAIL, cert && (slog || small), what);
    double *g = bw && cert && small ? la_leaf_grad(x) : NULL;
    if (g) { /* d det / dA: the cofactors; d log|det| / dA = A^-T: cofactors / det */
        la_in in = la_read(x);
        const int64_t n = in.n;
        npg_dtype dt = la_dt(in.dt);
        for (int64_t b = 0; b < in.batch; b++) {
            double a[25], mn[16], mx = la_maxabs(&in, b, RD_ALL);
            la_mat(&in, b, a);
            double det = la_det_host(a, (int)n);
            for (int64_t i = 0; i < n; i++)
                for (int64_t j = 0; j < n; j++) {
                    int q = 0;
                    for (int64_t r = 0; r < n; r++)
                        for (int64_t c = 0; c < n; c++)
                            if (r != i && c != j) mn[q++] = a[r * n + c];
                    double cof = ((i + j) & 1 ? -1 : 1) * la_det_host(mn, (int)n - 1), want = slog ? cof / det : cof;
                    double tol = la_tol(dt) * la_det_scale((int)n, mx) / (slog ? fabs(det) : 1);
                    double got = g[(b * n + i) * n + j];
                    CHECK(fabs(got - want) <= tol, "%s: gradient (%lld, %lld) of matrix %lld is %.17g, expected %.17g",
                          what, (long long)i, (long long)j, (long long)b, got, want);
                }
        }
        free(in.v);
        free(g);
    }
}

/* ---- pinv, matrix_rank, matrix_power ---- */

static double la_rtol(void) {
    static const double v[] = {-1, -0.5, 0, 1e-300, 1e-3, 0.25, 0.9, 1, 2, INFINITY, -INFINITY, NAN};
    return chance(35) ? -1 : PICK(v);
}

/* A lower bound c > 0 on s_min / s_max of matrix b with tame values, from
 * Gershgorin discs of its Gram matrix (A^T A or A A^T, the smaller); 0 when
 * the discs prove nothing (or the Gram matrix is larger than LA_HOST_MAX). */
static double la_sv_ratio(const la_in *in, int64_t b) {
    const int64_t m = in->m, n = in->n, g = m < n ? m : n;
    if (g == 0 || g > LA_HOST_MAX || !la_tame(in, b, RD_ALL)) return 0;
    double G[25], lo = INFINITY, hi = 0;
    for (int64_t i = 0; i < g; i++)
        for (int64_t j = 0; j < g; j++) {
            double s = 0;
            if (m >= n)
                for (int64_t r = 0; r < m; r++) s += la_at(in, b, r, i) * la_at(in, b, r, j);
            else
                for (int64_t c = 0; c < n; c++) s += la_at(in, b, i, c) * la_at(in, b, j, c);
            G[i * g + j] = s;
        }
    for (int64_t i = 0; i < g; i++) {
        double off = 0;
        for (int64_t j = 0; j < g; j++)
            if (j != i) off += fabs(G[i * g + j]);
        lo = fmin(lo, G[i * g + i] - off);
        hi = fmax(hi, G[i * g + i] + off);
    }
    return lo > 0 ? sqrt(lo / hi) : 0;
}

static bool la_all_zero(const la_in *in, int64_t b) {
    for (int64_t i = 0; i < in->m; i++)
        for (int64_t j = 0; j < in->n; j++)
            if (la_at(in, b, i, j) != 0) return false;
    return true;
}

/* pinv and matrix_rank */
static void fz_la_pinv(bool rank) {
    int kind = la_kind();
    npg_array *x = la_operand(NPG_DTYPE_DEFAULT, la_mat_shape(false), kind);
    double rtol = la_rtol();
    npg_shape xs = x ? npg_shape_of(x) : (npg_shape){0};
    bool ok = xs.ndim >= 2 && !isnan(rtol);
    const char *what = rank ? "matrix_rank" : "pinv";
    call("npg_linalg_%s(x, %g) [%s]", what, rtol, LA_KIND[kind]);
    arg(x);
    if (x && !ok) must_fail();
    ng_maybe();
    go();
    npg_array *r = rank ? npg_linalg_matrix_rank(x, rtol) : npg_linalg_pinv(x, rtol);
    la_ng_end();
    la_capture();
    after(r == NULL);
    if (x && isnan(rtol) && xs.ndim >= 2)
        CHECK(g_la_st == NPG_ERR_INVALID_ARG, "%s: rtol NaN gave status %d (%s)", what, (int)g_la_st, g_la_msg);
    if (x && ok) {
        la_in in = la_read(x);
        npg_dtype dt = la_dt(in.dt);
        const int64_t m = in.m, n = in.n, k = m < n ? m : n;
        const double eff = rtol >= 0 ? rtol : (double)(m > n ? m : n) * (dt == NPG_FLOAT64 ? DBL_EPSILON : FLT_EPSILON);
        if (!r) {
            la_valid_failed(g_la_st, g_la_msg, NPG_ERR_LINALG, la_tame_all(&in, RD_ALL), what);
        } else if (rank) {
            la_expect(r, in.bs, NPG_INT64, what);
            la_expect_rg(r, false, what);
            double *R = t_read(r);
            for (int64_t b = 0; b < in.batch; b++) {
                CHECK(R[b] >= 0 && R[b] <= k, "matrix_rank: %g for matrix %lld of %lld x %lld", R[b], (long long)b,
                      (long long)m, (long long)n);
                if (!la_tame(&in, b, RD_ALL)) continue;
                double c = la_sv_ratio(&in, b);
                int64_t want = rtol >= 1 || la_all_zero(&in, b) ? 0 : c > 2 * eff ? k : -1;
                if (want >= 0)
                    CHECK(R[b] == want, "matrix_rank: %g for matrix %lld, expected %lld (s_min / s_max >= %g)", R[b],
                          (long long)b, (long long)want, c);
            }
            free(R);
        } else {
            la_expect(r, la_out(in.bs, 2, n, m), dt, what);
            la_expect_rg(r, la_rg_in(x, NULL), what);
            double *X = t_read(r);
            for (int64_t b = 0; b < in.batch && k > 0; b++) {
                if (!la_tame(&in, b, RD_ALL)) continue;
                const double *p = X + b * n * m;
                if (rtol >= 1 || la_all_zero(&in, b)) {
                    for (int64_t i = 0; i < n * m; i++)
                        CHECK(p[i] == 0, "pinv: element %lld of matrix %lld is %g, expected 0 (%s)", (long long)i,
                              (long long)b, p[i], rtol >= 1 ? "rtol >= 1" : "a zero matrix");
                    continue;
                }
                double c = la_sv_ratio(&in, b);
                if (!(c > 2 * eff)) continue;
                /* full rank, well conditioned: pinv(A) A = I (m >= n) or A pinv(A) = I */
                double tol = la_tol(dt) * (double)(m + n) / (c * c);
                for (int64_t i = 0; i < k; i++)
                    for (int64_t j = 0; j < k; j++) {
                        double s = -(double)(i == j);
                        if (m >= n)
                            for (int64_t t = 0; t < m; t++) s += p[i * m + t] * la_at(&in, b, t, j);
                        else
                            for (int64_t t = 0; t < n; t++) s += la_at(&in, b, i, t) * p[t * m + j];
                        CHECK(fabs(s) <= tol,
                              "pinv: (%s - I)[%lld, %lld] of matrix %lld is %.17g (s_min / s_max >= %g)",
                              m >= n ? "pinv(A) A" : "A pinv(A)", (long long)i, (long long)j, (long long)b, s, c);
                    }
            }
            free(X);
        }
        free(in.v);
    }
    la_end(&r, 1, r != NULL, BW_OK, false, what);
}

/* c = a b for n x n matrices in the ring of integer dtype dt (wrapping), or
 * with or and and for bool */
static void la_imatmul(npg_dtype dt, const uint64_t *a, const uint64_t *b, uint64_t *c, int64_t n) {
    uint64_t t[25];
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) {
            uint64_t s = 0;
            for (int64_t k = 0; k < n; k++) {
                if (dt == NPG_BOOL) s |= a[i * n + k] & b[k * n + j];
                else s += a[i * n + k] * b[k * n + j];
            }
            t[i * n + j] = s;
        }
    memcpy(c, t, sizeof(uint64_t) * (size_t)(n * n));
}
static void la_fmatmul(const double *a, const double *b, double *c, int64_t n) {
    double t[25];
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0;
            for (int64_t k = 0; k < n; k++) s += a[i * n + k] * b[k * n + j];
            t[i * n + j] = s;
        }
    memcpy(c, t, sizeof(double) * (size_t)(n * n));
}
/* Gauss-Jordan inverse with partial pivoting (n <= 5); false if singular. */
static bool la_inv_host(const double *a, double *inv, int64_t n) {
    double w[5][10];
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < 2 * n; j++) w[i][j] = j < n ? a[i * n + j] : (double)(j - n == i);
    for (int64_t c = 0; c < n; c++) {
        int64_t p = c;
        for (int64_t i = c + 1; i < n; i++)
            if (fabs(w[i][c]) > fabs(w[p][c])) p = i;
        if (w[p][c] == 0) return false;
        for (int64_t j = 0; j < 2 * n; j++) {
            double t = w[c][j];
            w[c][j] = w[p][j];
            w[p][j] = t;
        }
        double d = w[c][c];
        for (int64_t j = 0; j < 2 * n; j++) w[c][j] /= d;
        for (int64_t i = 0; i < n; i++) {
            if (i == c) continue;
            double f = w[i][c];
            for (int64_t j = 0; j < 2 * n; j++) w[i][j] -= f * w[c][j];
        }
    }
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) inv[i * n + j] = w[i][n + j];
    return true;
}

/* lstsq: a (..., m, n) with b (m), (..., m, k) or a mismatched shape. A
 * valid call succeeds or fails with NPG_ERR_LINALG (a non-finite a); the
 * result's shape, dtype and grad flag; the residual is orthogonal to a's
 * columns (a^T (a x - b) = 0) for a tame, well-conditioned a. */
static void fz_la_lstsq(void) {
    int kind = la_kind();
    npg_array *a = la_operand(NPG_DTYPE_DEFAULT, la_mat_shape(false), kind);
    npg_shape sa = a ? npg_shape_of(a) : (npg_shape){0};
    const int64_t m = sa.ndim >= 2 ? sa.dims[sa.ndim - 2] : 1, n = sa.ndim >= 2 ? sa.dims[sa.ndim - 1] : 1;
    int form = rint_in(0, 9), k = (int)rint_in(0, 3);
    npg_shape sb = form < 4 ? (npg_shape){1, {m}} : form < 9 ? (npg_shape){2, {m, k}} : rand_shape();
    npg_array *b = la_operand(NPG_DTYPE_DEFAULT, sb, LA_UNIFORM);
    double rtol = la_rtol();
    sb = b ? npg_shape_of(b) : (npg_shape){0};
    const bool vec = sb.ndim == 1;
    bool ok = sa.ndim >= 2 && !isnan(rtol) && (vec ? sb.dims[0] == m : sb.ndim >= 2 && sb.dims[sb.ndim - 2] == m);
    npg_shape ob = {0};
    if (ok && !vec) {
        npg_shape bat[2] = {{.ndim = sa.ndim - 2}, {.ndim = sb.ndim - 2}};
        memcpy(bat[0].dims, sa.dims, sizeof(int64_t) * (size_t)bat[0].ndim);
        memcpy(bat[1].dims, sb.dims, sizeof(int64_t) * (size_t)bat[1].ndim);
        ok = bcast_shapes(bat, 2, &ob);
    } else if (ok) {
        ob.ndim = sa.ndim - 2;
        memcpy(ob.dims, sa.dims, sizeof(int64_t) * (size_t)ob.ndim);
    }
    /* now and then through lstsq_ex, with a random set of its outputs */
    const bool ex = chance(40);
    bool want[4] = {true, chance(60), chance(50), chance(50)}; /* x, residuals, rank, sv */
    npg_array *eo[4] = {UNSET, UNSET, UNSET, UNSET};
    call("npg_linalg_lstsq%s(a, b, %g) [a: %s; outputs %d%d%d%d]", ex ? "_ex" : "", rtol, LA_KIND[kind], want[0],
         want[1], want[2], want[3]);
    arg(a);
    arg(b);
    if (a && b && !ok) must_fail();
    ng_maybe();
    go();
    npg_array *r;
    if (ex) {
        npg_status est = npg_linalg_lstsq_ex(a, b, rtol, &eo[0], want[1] ? &eo[1] : NULL, want[2] ? &eo[2] : NULL,
                                             want[3] ? &eo[3] : NULL);
        la_ng_end();
        la_capture();
        la_outputs(est, eo, want, 4, "lstsq_ex");
        r = eo[0];
        if (est == NPG_OK && a && b && ok) {
            /* the shapes of the other results */
            npg_shape bat = {.ndim = sa.ndim - 2};
            memcpy(bat.dims, sa.dims, sizeof(int64_t) * (size_t)bat.ndim);
            if (eo[2]) {
                expect_shape(eo[2], bat, "lstsq_ex rank");
                CHECK(npg_dtype_of(eo[2]) == NPG_INT64, "lstsq_ex: rank is %s", npg_dtype_name(npg_dtype_of(eo[2])));
            }
            if (eo[3]) {
                npg_shape ss = bat;
                ss.dims[ss.ndim++] = m < n ? m : n;
                expect_shape(eo[3], ss, "lstsq_ex singular values");
            }
            if (eo[1]) {
                npg_shape rs = ob;
                rs.dims[rs.ndim++] = vec ? 1 : sb.dims[sb.ndim - 1]; /* a 1-d b: (..., 1), NumPy's (1,) */
                npg_shape rsh = npg_shape_of(eo[1]);
                CHECK((rsh.ndim == 1 && rsh.dims[0] == 0) || same_shape(rsh, rs),
                      "lstsq_ex: residuals of an unexpected shape (%d-d)", rsh.ndim);
                if (m <= n) CHECK(rsh.ndim == 1 && rsh.dims[0] == 0, "lstsq_ex: residuals although m <= n");
            }
        }
    } else {
        r = npg_linalg_lstsq(a, b, rtol);
        la_ng_end();
        la_capture();
    }
    after(r == NULL);
    bool cert = false;
    if (a && b && ok) {
        la_in A = la_read(a);
        /* a and b's common dtype, floating (int32 with uint64: float64) */
        npg_dtype dt = la_dt(fz_result_type(A.dt, npg_dtype_of(b)));
        cert = la_tame_all(&A, RD_ALL);
        if (!r) {
            la_valid_failed(g_la_st, g_la_msg, NPG_ERR_LINALG, cert, "lstsq");
        } else {
            la_expect(r, vec ? la_out(ob, 1, n, 0) : la_out(ob, 2, n, sb.dims[sb.ndim - 1]), dt, "lstsq");
            la_expect_rg(r, la_rg_in(a, b), "lstsq");
            /* normal equations on one tame, well-conditioned 2-d case */
            if (sa.ndim == 2 && vec && cert && m >= n && n > 0 && m <= LA_HOST_MAX && la_sv_ratio(&A, 0) > 0.05 &&
                rtol < 0.01) {
                double *X = t_read(r), *B = t_read(b), av[25];
                la_mat(&A, 0, av);
                /* b moderate too (an unsigned b holds -2 as 2^k - 2: the
                 * tolerance below does not scale with such values) */
                bool b_tame = true;
                for (int64_t i = 0; i < m; i++) b_tame = b_tame && fabs(B[i]) <= 1e6;
                for (int64_t j = 0; j < n && b_tame; j++) {
                    double g = 0;
                    for (int64_t i = 0; i < m; i++) {
                        double ri = -B[i];
                        for (int64_t l = 0; l < n; l++) ri += av[i * n + l] * X[l];
                        g += av[i * n + j] * ri;
                    }
                    CHECK(fabs(g) <= 100 * la_tol(dt) * (1 + la_maxabs(&A, 0, RD_ALL)) * (1 + fabs(B[0])) * (double)m,
                          "lstsq: a^T (a x - b)[%lld] = %g (not orthogonal)", (long long)j, g);
                }
                free(X);
                free(B);
            }
        }
        free(A.v);
    }
    if (ex) {
        /* rank is an integer output: freed here, the others go through la_end */
        if (eo[2] && eo[2] != UNSET) npg_free(eo[2]);
        npg_array *out[3] = {eo[0], eo[1] == UNSET ? NULL : eo[1], eo[3] == UNSET ? NULL : eo[3]};
        la_end(out, 3, r != NULL, BW_MAY_FAIL, false, "lstsq_ex");
        return;
    }
    npg_array *out[1] = {r};
    la_end(out, 1, r != NULL, BW_MAY_FAIL, false, "lstsq");
}

static void fz_la_matrix_power(void) {
    static const int64_t big[] = {
        INT64_MIN, INT64_MIN + 1, INT64_MAX, INT64_MAX - 1, (int64_t)1 << 40, -((int64_t)1 << 40), 63,
        64,        -64,           1000003};
    int kind = la_kind();
    npg_array *x = la_operand(NPG_DTYPE_DEFAULT, la_mat_shape(true), kind);
    int64_t p = chance(85) ? rint_in(-3, 5) : PICK(big);
    npg_shape xs = x ? npg_shape_of(x) : (npg_shape){0};
    npg_dtype xdt = x ? npg_dtype_of(x) : NPG_FLOAT64;
    bool ok = xs.ndim >= 2 && xs.dims[xs.ndim - 1] == xs.dims[xs.ndim - 2] && (p >= 0 || npg_is_floating(xdt));
    call("npg_linalg_matrix_power(x, %lld) [%s]", (long long)p, LA_KIND[kind]);
    arg(x);
    if (x && !ok) must_fail();
    ng_maybe();
    go();
    npg_array *r = npg_linalg_matrix_power(x, p);
    la_ng_end();
    la_capture();
    after(r == NULL);
    if (x && !ok && xs.ndim >= 2 && xs.dims[xs.ndim - 1] == xs.dims[xs.ndim - 2])
        CHECK(g_la_st == NPG_ERR_DTYPE, "matrix_power: a negative power of a %s matrix gave status %d (%s)",
              npg_dtype_name(xdt), (int)g_la_st, g_la_msg);
    bool cert = false, finite = false;
    if (x && ok) {
        la_in in = la_read(x);
        const int64_t n = in.n;
        bool sing = false, trivial = n == 0 || in.batch == 0;
        cert = la_dominant_all(&in, false, RD_ALL, false, false);
        for (int64_t b = 0; b < in.batch; b++) sing = sing || la_struct_singular(&in, b);
        if (!r) {
            la_valid_failed(g_la_st, g_la_msg, NPG_ERR_LINALG, p >= 0 || trivial || cert, "matrix_power");
        } else {
            CHECK(p >= 0 || trivial || !sing,
                  "matrix_power: a negative power of a matrix with a zero row or column succeeded");
            la_expect(r, xs, in.dt, "matrix_power");
            if (p != 0) la_expect_rg(r, la_rg_in(x, NULL), "matrix_power");
            size_t is = npg_dtype_size(in.dt);
            unsigned char *got = read_bytes(r);
            const unsigned char *xb = snap(x);
            if (p == 1) {
                CHECK(memcmp(got, xb, (size_t)in.batch * (size_t)(n * n) * is) == 0,
                      "matrix_power: the first power differs from the matrix");
            } else if (n > LA_HOST_MAX) {
                /* no host reference */
            } else if (p == 0 || !npg_is_floating(in.dt)) { /* exact */
                unsigned char *want = malloc((size_t)(in.batch * n * n + 1) * is);
                cr_assert(want);
                for (int64_t b = 0; b < in.batch; b++) {
                    uint64_t acc[25], base[25];
                    for (int64_t i = 0; i < n * n; i++) {
                        acc[i] = i / n == i % n;
                        base[i] = p == 0 ? 0 : t_get_bits(in.dt, xb, b * n * n + i);
                    }
                    for (uint64_t e = (uint64_t)p; e; e >>= 1) {
                        if (e & 1) la_imatmul(in.dt, acc, base, acc, n);
                        if (e > 1) la_imatmul(in.dt, base, base, base, n);
                    }
                    for (int64_t i = 0; i < n * n; i++) {
                        if (npg_is_floating(in.dt)) la_store(want, in.dt, b * n * n + i, (double)acc[i]);
                        else t_put_bits(in.dt, want, b * n * n + i, acc[i]);
                    }
                }
                int64_t bad = -1;
                for (int64_t i = 0; i < in.batch * n * n && bad < 0; i++)
                    if (memcmp(got + (size_t)i * is, want + (size_t)i * is, is) != 0) bad = i;
                free(want);
                CHECK(bad < 0, "matrix_power: element %lld differs from the host's power", (long long)bad);
            } else if (p >= -3 && p <= 5) {
                for (int64_t b = 0; b < in.batch && n > 0; b++) {
                    double a[25], acc[25], mx = la_maxabs(&in, b, RD_ALL), scale;
                    la_mat(&in, b, a);
                    if (!la_tame(&in, b, RD_ALL)) continue;
                    if (p < 0) {
                        double inv[25], mi = 0;
                        if (!la_dominant(&in, b, false, RD_ALL, false, false) || !la_inv_host(a, inv, n)) continue;
                        for (int64_t i = 0; i < n * n; i++) mi = fmax(mi, fabs(inv[i]));
                        memcpy(a, inv, sizeof a);
                        scale = pow((double)n * mi, (double)-p) * (double)n * mx * (double)n * mi;
                    } else {
                        scale = pow((double)n * mx, (double)p);
                    }
                    for (int64_t i = 0; i < n * n; i++) acc[i] = i / n == i % n;
                    for (int64_t e = 0; e < (p < 0 ? -p : p); e++) la_fmatmul(acc, a, acc, n);
                    for (int64_t i = 0; i < n * n; i++) {
                        double g = elem_f(got, in.dt, b * n * n + i);
                        CHECK(fabs(g - acc[i]) <= la_tol(in.dt) * scale,
                              "matrix_power: element %lld of matrix %lld is %.17g, expected %.17g", (long long)i,
                              (long long)b, g, acc[i]);
                    }
                }
            }
            free(got);
            if (p >= 0 && p <= 5 && la_tame_all(&in, RD_ALL)) {
                double bound = 1;
                for (int64_t b = 0; b < in.batch; b++) bound = fmax(bound, (double)n * la_maxabs(&in, b, RD_ALL));
                finite = pow(bound, (double)p) * (double)(p + 1) < 1e30;
            }
            finite = finite || (p < 0 && p >= -3 && cert);
        }
        free(in.v);
    }
    la_end(&r, 1, r != NULL, p >= 0 || cert ? BW_OK : BW_MAY_FAIL, finite, "matrix_power");
}

/* ---- vector_norm, matrix_norm, cross ---- */

/* The host's vector norm of values v (already in the compute dtype). */
static double la_vnorm_acc(double ord, double acc, double v) {
    double a = fabs(v);
    if (ord == 2) return acc + a * a;
    if (ord == 1) return acc + a;
    if (ord == 0) return acc + (v != 0);
    if (ord == INFINITY) return isnan(acc) || isnan(a) ? NAN : fmax(acc, a);
    if (ord == -INFINITY) return isnan(acc) || isnan(a) ? NAN : fmin(acc, a);
    return acc + pow(a, ord);
}
static double la_vnorm_end(double ord, double acc) {
    if (ord == 2) return sqrt(acc);
    if (ord == 1 || ord == 0 || isinf(ord)) return acc;
    return pow(acc, 1 / ord);
}

static void fz_la_vector_norm(void) {
    static const double ords[] = {2, 2, 1, 0, 3, 0.5, -1, -2, INFINITY, -INFINITY, NAN};
    double ord = PICK(ords);
    int kind = chance(60) ? LA_WILD : la_kind();
    npg_array *x = la_operand(chance(80) ? NPG_DTYPE_DEFAULT : rand_dtype(), rand_shape(), kind);
    int nd = x ? npg_ndim(x) : rint_in(0, 3);
    npg_axes axes = chance(25) ? NPG_ALL_AXES : rand_axes(nd);
    bool keepdims = chance(50);
    int ax[NPG_MAX_DIMS];
    bool ok = !isnan(ord) && norm_unique(axes, nd, ax);
    char ab[96];
    call("npg_linalg_vector_norm(x, %g, %s, %s) [%s]", ord, axes_str(axes, ab, sizeof ab), keepdims ? "true" : "false",
         LA_KIND[kind]);
    arg(x);
    if (x && !ok) must_fail();
    ng_maybe();
    go();
    npg_array *r = npg_linalg_vector_norm(x, ord, axes, keepdims);
    la_ng_end();
    la_capture();
    after(r == NULL);
    bool finite = false;
    double *want = NULL;
    uint32_t mask = 0;
    npg_shape os = {0};
    if (x && ok) {
        npg_shape xs = npg_shape_of(x);
        npg_dtype xdt = npg_dtype_of(x), dt = la_dt(xdt);
        for (int i = 0; i < axes.n; i++) mask |= 1u << ax[i];
        if (axes.n == 0) mask = nd ? (1u << nd) - 1 : 0;
        int64_t group = 1;
        for (int i = 0; i < nd; i++) {
            if (mask >> i & 1) {
                group *= xs.dims[i];
                if (keepdims) os.dims[os.ndim++] = 1;
            } else {
                os.dims[os.ndim++] = xs.dims[i];
            }
        }
        if (!r) {
            la_valid_failed(g_la_st, g_la_msg, NPG_ERR_SHAPE, !(isinf(ord) && group == 0), "vector_norm");
        } else if (isinf(ord) && group == 0 && numel_of(os) > 0) {
            fail("vector_norm: the %s-norm of empty sets of values succeeded (NPG_ERR_SHAPE expected)",
                 ord > 0 ? "inf" : "-inf");
        } else {
            la_expect(r, os, dt, "vector_norm");
            la_expect_rg(r, la_rg_in(x, NULL), "vector_norm");
            int64_t total = numel_of(xs), no = numel_of(os);
            const unsigned char *xb = snap(x);
            bool tm = true;
            for (int64_t i = 0; i < total; i++) tm = tm && tame(elem_f(xb, xdt, i));
            if (tm) {
                want = malloc(sizeof(double) * (size_t)(no > 0 ? no : 1));
                cr_assert(want);
                for (int64_t o = 0; o < no; o++) want[o] = ord == -INFINITY ? INFINITY : 0;
                for (int64_t i = 0; i < total; i++) {
                    int64_t idx[NPG_MAX_DIMS], o = 0;
                    unravel(i, &xs, idx);
                    for (int d = 0, q = 0; d < nd; d++) {
                        if (mask >> d & 1) {
                            if (keepdims) q++;
                            continue;
                        }
                        o = o * os.dims[q] + idx[d];
                        q++;
                    }
                    double v = elem_f(xb, xdt, i);
                    if (dt == NPG_FLOAT32) v = (float)v;
                    want[o] = nd == 0 ? (ord == 0 ? v != 0 : fabs(v)) : la_vnorm_acc(ord, want[o], v);
                }
                for (int64_t o = 0; o < no && nd > 0; o++) want[o] = la_vnorm_end(ord, want[o]);
                double *got = t_read(r), tol = dt == NPG_FLOAT64 ? 1e-10 : 1e-4;
                for (int64_t o = 0; o < no; o++)
                    CHECK(got[o] == want[o] || fabs(got[o] - want[o]) <= tol * fabs(want[o]),
                          "vector_norm: element %lld is %.17g, expected %.17g", (long long)o, got[o], want[o]);
                free(got);
            }
            finite = tm;
        }
    }
    bool bw = la_end(&r, 1, r != NULL, BW_OK, finite, "vector_norm");
    double *g = bw && want && (ord == 2 || ord == 1) ? la_leaf_grad(x) : NULL;
    if (g) { /* ord 2: x / norm (0 where the norm is 0); ord 1: sign(x) */
        npg_shape xs = npg_shape_of(x);
        npg_dtype xdt = npg_dtype_of(x);
        const unsigned char *xb = snap(x);
        for (int64_t i = 0; i < numel_of(xs); i++) {
            int64_t idx[NPG_MAX_DIMS], o = 0;
            unravel(i, &xs, idx);
            for (int d = 0, q = 0; d < nd; d++) {
                if (mask >> d & 1) {
                    if (keepdims) q++;
                    continue;
                }
                o = o * os.dims[q] + idx[d];
                q++;
            }
            double v = elem_f(xb, xdt, i), w = ord == 1 ? (v > 0) - (v < 0) : want[o] == 0 ? 0 : v / want[o];
            CHECK(fabs(g[i] - w) <= la_tol(xdt) * (1 + fabs(w)),
                  "vector_norm: gradient element %lld is %.17g, expected %.17g", (long long)i, g[i], w);
        }
        free(g);
    }
    free(want);
}

static void fz_la_matrix_norm(void) {
    static const char *const good[] = {NULL, "fro", "nuc", "2", "-2", "1", "-1", "inf", "-inf"};
    static char long_ord[301];
    if (!long_ord[0]) {
        memset(long_ord, 'f', 300);
        memcpy(long_ord, "fro", 3);
    }
    static const char *const bad[] = {"", "Fro", "3", long_ord, "fro ", "-", "INF", "2.0", "+2", "nuc\n", "f"};
    bool valid_ord = chance(88);
    int which = valid_ord ? rint_in(0, NELEM(good) - 1) : -1;
    const char *ord = valid_ord ? good[which] : PICK(bad);
    if (which == 0) which = 1; /* NULL is "fro" */
    int kind = la_kind();
    npg_array *x = la_operand(NPG_DTYPE_DEFAULT, la_mat_shape(false), kind);
    bool keepdims = chance(40);
    npg_shape xs = x ? npg_shape_of(x) : (npg_shape){0};
    bool ok = xs.ndim >= 2 && valid_ord;
    call("npg_linalg_matrix_norm(x, %s%.40s%s%s, %s) [%s]", ord ? "\"" : "", ord ? ord : "NULL",
         ord && strlen(ord) > 40 ? "..." : "", ord ? "\"" : "", keepdims ? "true" : "false", LA_KIND[kind]);
    arg(x);
    if (x && !ok) must_fail();
    ng_maybe();
    go();
    npg_array *r = npg_linalg_matrix_norm(x, ord, keepdims);
    la_ng_end();
    la_capture();
    after(r == NULL);
    if (x && xs.ndim >= 2 && !valid_ord) {
        CHECK(g_la_st == NPG_ERR_INVALID_ARG, "matrix_norm: a bad ord gave status %d (%s)", (int)g_la_st, g_la_msg);
        CHECK(strlen(g_la_msg) < 400, "matrix_norm: a message of %zu characters", strlen(g_la_msg));
    }
    bool finite = false;
    if (x && ok) {
        la_in in = la_read(x);
        npg_dtype dt = la_dt(in.dt);
        const int64_t m = in.m, n = in.n, k = m < n ? m : n;
        bool svd = which == 2 || which == 3 || which == 4, tm = la_tame_all(&in, RD_ALL);
        bool empty = (m == 0 || n == 0) && which > 2; /* NPG_ERR_SHAPE */
        if (!r) {
            la_valid_failed(g_la_st, g_la_msg,
                            empty ? NPG_ERR_SHAPE
                            : svd ? NPG_ERR_LINALG
                                  : NPG_OK,
                            !empty && (!svd || tm), "matrix_norm");
        } else {
            CHECK(!empty, "matrix_norm: ord %s of empty matrices succeeded (NPG_ERR_SHAPE expected)", ord);
            la_expect(r, keepdims ? la_out(in.bs, 2, 1, 1) : in.bs, dt, "matrix_norm");
            la_expect_rg(r, la_rg_in(x, NULL), "matrix_norm");
            double *R = t_read(r);
            for (int64_t b = 0; b < in.batch; b++) {
                if (la_has_nan(&in, b, RD_ALL))
                    CHECK(isnan(R[b]), "matrix_norm: matrix %lld has a NaN element, but its norm is %.17g",
                          (long long)b, R[b]);
                if (!la_tame(&in, b, RD_ALL)) continue;
                double f2 = 0, want = NAN, cmax = 0, cmin = INFINITY, rmax = 0, rmin = INFINITY;
                for (int64_t i = 0; i < m; i++)
                    for (int64_t j = 0; j < n; j++) {
                        double v = la_at(&in, b, i, j);
                        if (dt == NPG_FLOAT32) v = (float)v;
                        f2 += v * v;
                    }
                for (int64_t j = 0; j < n; j++) {
                    double s = 0;
                    for (int64_t i = 0; i < m; i++) s += fabs(la_at(&in, b, i, j));
                    cmax = fmax(cmax, s);
                    cmin = fmin(cmin, s);
                }
                for (int64_t i = 0; i < m; i++) {
                    double s = 0;
                    for (int64_t j = 0; j < n; j++) s += fabs(la_at(&in, b, i, j));
                    rmax = fmax(rmax, s);
                    rmin = fmin(rmin, s);
                }
                double f = sqrt(f2), tol = la_tol(dt) * (1 + f), sk = sqrt((double)(k ? k : 1));
                switch (which) {
                case 1: want = f; break;
                case 5: want = cmax; break;
                case 6: want = cmin; break;
                case 7: want = rmax; break;
                case 8: want = rmin; break;
                default: break;
                }
                if (!isnan(want))
                    CHECK(fabs(R[b] - want) <= tol, "matrix_norm: %.17g for matrix %lld, expected %.17g", R[b],
                          (long long)b, want);
                else if (which == 2) /* nuc in [F, sqrt(k) F] */
                    CHECK(R[b] >= f - tol && R[b] <= sk * f + tol,
                          "matrix_norm: nuclear norm %.17g of matrix %lld, Frobenius norm %.17g", R[b], (long long)b,
                          f);
                else if (which == 3) /* 2 in [F / sqrt(k), F] */
                    CHECK(R[b] >= f / sk - tol && R[b] <= f + tol,
                          "matrix_norm: 2-norm %.17g of matrix %lld, Frobenius norm %.17g", R[b], (long long)b, f);
                else if (which == 4) /* -2 in [0, F / sqrt(k)] */
                    CHECK(R[b] >= 0 && R[b] <= f / sk + tol,
                          "matrix_norm: -2-norm %.17g of matrix %lld, Frobenius norm %.17g", R[b], (long long)b, f);
            }
            free(R);
            finite = tm;
        }
        free(in.v);
    }
    la_end(&r, 1, r != NULL, BW_OK, finite, "matrix_norm");
}

static void fz_la_cross(void) {
    npg_shape s = {.ndim = chance(90) ? rint_in(1, 4) : rint_in(0, 6)};
    for (int i = 0; i < s.ndim; i++) s.dims[i] = chance(5) ? 0 : rint_in(1, 3);
    int ax = s.ndim ? rint_in(0, s.ndim - 1) : 0;
    if (s.ndim) s.dims[ax] = chance(92) ? 3 : rint_in(1, 4);
    npg_shape t = s;
    int drop = chance(40) ? rint_in(0, ax) : 0;
    t.ndim -= drop;
    memmove(t.dims, t.dims + drop, sizeof(int64_t) * (size_t)t.ndim);
    for (int i = 0; i < t.ndim; i++)
        if (i != ax - drop && chance(25)) t.dims[i] = 1;
    if (t.ndim && chance(8)) t.dims[rint_in(0, t.ndim - 1)] = rint_in(0, 4);
    if (t.ndim < NPG_MAX_DIMS && chance(8)) {
        memmove(t.dims + 1, t.dims, sizeof(int64_t) * (size_t)t.ndim);
        t.dims[0] = rint_in(1, 2);
        t.ndim++;
    }
    if (chance(4)) t = rand_shape();
    int outnd = s.ndim > t.ndim ? s.ndim : t.ndim;
    int r0 = rint_in(0, 99);
    int axis = r0 < 50 ? ax - s.ndim : r0 < 85 ? ax + outnd - s.ndim : rand_axis(outnd);
    bool fl = chance(70);
    int kind = chance(60) ? LA_UNIFORM : chance(50) ? LA_SMALLINT : LA_WILD;
    npg_array *a = la_operand(fl ? la_dtype_pick() : rand_dtype(), s, kind);
    npg_array *b = la_operand(fl ? la_dtype_pick() : rand_dtype(), t, kind);
    if (chance(50)) {
        npg_array *tmp = a;
        a = b;
        b = tmp;
    }
    npg_shape sh[2] = {a ? npg_shape_of(a) : s, b ? npg_shape_of(b) : t}, os;
    int o = 0;
    bool ok = bcast_shapes(sh, 2, &os) && norm_axis(axis, os.ndim, &o);
    for (int i = 0; ok && i < 2; i++) {
        int oa = o - (os.ndim - sh[i].ndim);
        ok = oa >= 0 && sh[i].dims[oa] == 3;
    }
    call("npg_linalg_cross(a, b, %d) [%s]", axis, LA_KIND[kind]);
    arg(a);
    arg(b);
    if (a && b && !ok) must_fail();
    ng_maybe();
    go();
    npg_array *r = npg_linalg_cross(a, b, axis);
    la_ng_end();
    la_capture();
    after(r == NULL);
    bool finite = false;
    if (a && b && ok) {
        npg_dtype da = npg_dtype_of(a), db = npg_dtype_of(b), dt = fz_result_type(da, db);
        if (!r) {
            la_valid_failed(g_la_st, g_la_msg, NPG_ERR_DTYPE, dt != NPG_BOOL, "cross");
        } else {
            la_expect(r, os, dt, "cross");
            la_expect_rg(r, la_rg_in(a, b) && npg_is_floating(dt), "cross");
            const unsigned char *ab = snap(a), *bb = snap(b);
            int64_t no = numel_of(os);
            bool tm = true;
            for (int64_t i = 0; i < numel_of(sh[0]); i++) tm = tm && tame(elem_f(ab, da, i));
            for (int64_t i = 0; i < numel_of(sh[1]); i++) tm = tm && tame(elem_f(bb, db, i));
            unsigned char *got = read_bytes(r);
            size_t is = (size_t)fz_size(dt);
            for (int64_t e = 0; e < no && dt != NPG_BOOL; e++) {
                int64_t idx[NPG_MAX_DIMS];
                unravel(e, &os, idx);
                int64_t c = idx[o], ia[2], ib[2];
                for (int q = 0; q < 2; q++) {
                    idx[o] = (c + 1 + q) % 3;
                    ia[q] = bcast_src(idx, &os, &sh[0]);
                    ib[q] = bcast_src(idx, &os, &sh[1]);
                }
                if (npg_is_floating(dt)) {
                    if (!tm) continue;
                    double a1 = elem_f(ab, da, ia[0]), a2 = elem_f(ab, da, ia[1]);
                    double b1 = elem_f(bb, db, ib[0]), b2 = elem_f(bb, db, ib[1]);
                    double w = a1 * b2 - a2 * b1, g = elem_f(got, dt, e);
                    double tol = (dt == NPG_FLOAT64 ? 1e-12 : 1e-6) * (fabs(a1 * b2) + fabs(a2 * b1));
                    CHECK(fabs(g - w) <= tol, "cross: element %lld is %.17g, expected %.17g", (long long)e, g, w);
                } else { /* exact, wrapping in the promoted dtype */
                    uint64_t w =
                        t_get_bits(da, ab, ia[0]) * t_get_bits(db, bb, ib[1]) - t_get_bits(da, ab, ia[1]) * t_get_bits(db, bb, ib[0]);
                    unsigned char wb[8];
                    t_put_bits(dt, wb, 0, w);
                    if (memcmp(got + (size_t)e * is, wb, is) != 0) {
                        free(got);
                        fail("cross: element %lld differs from a1 b2 - a2 b1 in %s", (long long)e, npg_dtype_name(dt));
                    }
                }
            }
            free(got);
            finite = tm;
        }
    }
    la_end(&r, 1, r != NULL, BW_OK, finite, "cross");
    if (finite) la_gradcheck((la_gc){.op = 2, .axis = axis}, a, b, "cross");
}

/* A watchdog: a call that has not returned after LA_WATCHDOG_S seconds
 * (LAPACK looping forever on an infinity, say) aborts the test, naming it
 * (NPG_FUZZ_TRACE=1 shows its operands). */
#define LA_WATCHDOG_S 30
#define LA_STR_(x) #x
#define LA_STR(x) LA_STR_(x)
static void la_on_alarm(int sig) {
    (void)sig;
    static const char head[] = "\nfuzz linalg: a call did not return within " LA_STR(LA_WATCHDOG_S) " s: ";
    ssize_t w = write(2, head, sizeof head - 1);
    w = write(2, C.what, strlen(C.what));
    w = write(2, "\n", 1);
    (void)w;
    abort();
}

/* Every function on a broadcast view too large to copy (2^47 or more
 * elements, which no allocation can hold): a failure with a status and a
 * message (NPG_ERR_OOM, say), nothing leaked, no hang. The huge view is not
 * snapshotted (it cannot be read); the other operand is. */
static void fz_la_huge(void) {
    static const npg_shape shapes[] = {{2, {(int64_t)1 << 24, (int64_t)1 << 24}},
                                       {3, {(int64_t)1 << 46, 2, 2}},
                                       {2, {(int64_t)1 << 24, ((int64_t)1 << 24) + 1}},
                                       {2, {3, (int64_t)1 << 47}},
                                       {3, {(int64_t)1 << 20, 3, (int64_t)1 << 28}}};
    npg_shape big = PICK(shapes), bs = big;
    for (int i = 0; i < bs.ndim; i++)
        if (bs.dims[i] > 3 || chance(50)) bs.dims[i] = 1;
    npg_array *base = la_make(la_dtype_pick(), bs, 30, la_kind());
    npg_array *x = npg_broadcast_to(base, big);
    cr_assert(x, "fuzz setup: a huge broadcast view: %s", npg_last_error());
    pool_add(x, base);
    static const npg_shape smalls[] = {{2, {3, 3}}, {2, {2, 3}}, {2, {3, 1}}, {2, {2, 2}}};
    int f = rint_in(0, 17);
    npg_shape ss = f == 15 || f == 17 ? (npg_shape){2, {3, 1}} : PICK(smalls);
    npg_array *small = la_make(NPG_DTYPE_DEFAULT, ss, 30, LA_UNIFORM);
    char sb[128];
    call("huge operand %s, function %d", shape_str(&big, sb, sizeof sb), f);
    opt_arg(small);
    go();
    npg_array *out[3] = {NULL, NULL, NULL};
    npg_status st = NPG_OK;
    switch (f) {
    case 0: out[0] = npg_linalg_cholesky(x, chance(50)); break;
    case 1: st = npg_linalg_qr(x, chance(50), &out[0], &out[1]); break;
    case 2: st = npg_linalg_eigh(x, &out[0], chance(50) ? &out[1] : NULL); break;
    case 3: st = npg_linalg_svd(x, chance(50), &out[0], &out[1], &out[2]); break;
    case 4: out[0] = npg_linalg_svdvals(x); break;
    case 5: out[0] = chance(50) ? npg_linalg_solve(x, small) : npg_linalg_solve(small, x); break;
    case 6: out[0] = npg_linalg_solve_triangular(x, small, chance(50), chance(50)); break;
    case 7: out[0] = npg_linalg_inv(x); break;
    case 8: out[0] = npg_linalg_det(x); break;
    case 9: st = npg_linalg_slogdet(x, &out[0], &out[1]); break;
    case 10: out[0] = npg_linalg_pinv(x, la_rtol()); break;
    case 11: out[0] = npg_linalg_matrix_rank(x, -1); break;
    case 12: out[0] = npg_linalg_matrix_power(x, rint_in(-1, 3)); break;
    case 13:
        out[0] = npg_linalg_vector_norm(x, PICK(((const double[]){2, 1, 0, INFINITY, 0.5})), NPG_ALL_AXES, chance(50));
        break;
    case 14:
        out[0] = npg_linalg_matrix_norm(x, PICK(((const char *const[]){NULL, "nuc", "2", "1", "-inf"})), false);
        break;
    case 15: out[0] = npg_linalg_cross(x, small, chance(50) ? 0 : -2); break;
    case 16: out[0] = npg_linalg_eigvalsh(x); break;
    default: out[0] = npg_linalg_cross(small, x, -1); break;
    }
    bool single = f != 1 && f != 2 && f != 3 && f != 9;
    if (single) st = out[0] ? NPG_OK : npg_last_status();
    la_capture();
    after(st != NPG_OK);
    for (int i = 0; i < 3; i++) {
        if (st != NPG_OK) CHECK(out[i] == NULL, "huge: failed but output %d is not NULL", i);
        else if (out[i]) check_sane(out[i]);
    }
    check_unchanged(st == NPG_OK);
    for (int i = 0; i < 3; i++) npg_free(out[i]);
}

Test(fuzz2, linalg) {
    int n = start("linalg", 26, 1500);
    signal(SIGALRM, la_on_alarm);
    for (int it = 0; it < n; it++) {
        iter_begin(it);
        alarm(LA_WATCHDOG_S);
        switch (rint_in(0, 18)) {
        case 18: fz_la_lstsq(); break;
        case 0: fz_la_cholesky(); break;
        case 1: fz_la_qr(); break;
        case 2:
        case 3: fz_la_eigh(); break;
        case 4:
        case 5: fz_la_svd(); break;
        case 6: fz_la_solve(false); break;
        case 7: fz_la_solve(true); break;
        case 8: fz_la_inv(); break;
        case 9: fz_la_det(false); break;
        case 10: fz_la_det(true); break;
        case 11: fz_la_pinv(false); break;
        case 12: fz_la_pinv(true); break;
        case 13: fz_la_matrix_power(); break;
        case 14: fz_la_vector_norm(); break;
        case 15: fz_la_matrix_norm(); break;
        case 16: fz_la_cross(); break;
        default:
            if (chance(20)) fz_la_huge();
            else fz_la_solve(false);
            break;
        }
        alarm(0);
        iter_end();
    }
    finish();
}

/* ------------------------------------------------------------------------
 * The layers of nn_layers.c and their kin: conv1d, conv_transpose1d and 2d,
 * adaptive_avg_pool2d, interpolate, rms_norm, lstm_cell, gru_cell, the
 * activations elu ... logsigmoid, glu, one_hot, cosine_similarity and the
 * losses l1, smooth_l1, huber, kl_div, binary_cross_entropy
 * ------------------------------------------------------------------------ */

static npg_dtype nn_dt(void) { return chance(82) ? rand_float_dtype() : rand_dtype(); }
static npg_dtype nn_float_of(npg_dtype dt) { return npg_is_floating(dt) ? dt : npg__default_float(); }
/* The tolerance of a call's values: float64's where every operand is float64,
 * else float32's (a float32 or integer operand makes part of the work
 * float32 even when the result is float64). */
static double nn_tol(npg_dtype dt) {
    bool f64 = dt == NPG_FLOAT64;
    for (int i = 0; i < C.nops; i++)
        if (C.ops[i] && npg_dtype_of(C.ops[i]) != NPG_FLOAT64) f64 = false;
    return f64 ? 1e-9 : 2e-4;
}
/* v as dtype dt holds it (float32 or float64; out of range: an infinity). */
static double nn_round(npg_dtype dt, double v) {
    if (dt != NPG_FLOAT32 || isnan(v)) return v;
    if (fabs(v) > FLT_MAX) return v > 0 ? INFINITY : -INFINITY;
    return (double)(float)v;
}
/* A parameter: tame, or wild now and then. */
static double nn_param(double lo, double hi, int wild_pct) {
    return chance(wild_pct) ? weird_double() : lo + runit() * (hi - lo);
}
static bool nn_tame_param(double v) { return tame(v); }

static bool g_nn_ng; /* the call ran in no-grad mode */
static void nn_ng_end(void) {
    g_nn_ng = g_ng;
    ng_end();
}

/* A failed call's message begins with the name of the function called
 * ("fn: ...": a composed function prefixes the inner op's message), unless
 * a NULL operand kept the error pending before the call. */
static void nn_named(bool failed, const char *fn) {
    if (!failed || C.sentinel) return;
    const char *msg = npg_last_error();
    size_t n = strlen(fn);
    CHECK(msg && strncmp(msg, fn, n) == 0 && msg[n] == ':',
          "%s failed with a message that does not begin with its name: %s", fn, msg ? msg : "(null)");
}

/* A result requires grad exactly when an operand does (outside no-grad
 * mode); an operand that cannot reach the result is g_nn_unused (w_hh
 * without h: W_hh 0 is 0, and a zero gradient may be left out). */
static const npg_array *g_nn_unused;
static void nn_expect_rg(const npg_array *r, const char *fn) {
    bool want = false;
    for (int i = 0; i < C.nops; i++)
        if (C.ops[i] && C.ops[i] != g_nn_unused && npg_requires_grad(C.ops[i])) want = true;
    if (g_nn_ng) want = false;
    CHECK(npg_requires_grad(r) == want, "%s: the result %s grad", fn, want ? "does not require" : "requires");
}
static void nn_expect_dtype(const npg_array *r, npg_dtype want, const char *fn) {
    CHECK(npg_dtype_of(r) == want, "%s: result dtype %s, expected %s", fn, npg_dtype_name(npg_dtype_of(r)),
          npg_dtype_name(want));
}
static void nn_expect_floating(const npg_array *r, const char *fn) {
    CHECK(npg_is_floating(npg_dtype_of(r)), "%s: a %s result", fn, npg_dtype_name(npg_dtype_of(r)));
}

/* Operand x's values as the call began (row-major doubles; NULL for NULL). */
static double *nn_in(const npg_array *x) {
    if (!x) return NULL;
    int64_t n = npg_size(x);
    double *v = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    cr_assert(v);
    const unsigned char *b = snap(x);
    for (int64_t i = 0; i < n; i++) v[i] = elem_f(b, npg_dtype_of(x), i);
    return v;
}
static bool nn_tame(const double *v, int64_t n) {
    for (int64_t i = 0; v && i < n; i++)
        if (!tame(v[i])) return false;
    return true;
}
static double nn_maxabs(const double *v, int64_t n) {
    double m = 0;
    for (int64_t i = 0; v && i < n; i++)
        if (fabs(v[i]) > m) m = fabs(v[i]);
    return m;
}

/* r's values against want where chk[j] (chk NULL: everywhere): NaN where
 * want is NaN, an infinity equal, else |got - want| <= tol (1 + scale[j])
 * (scale NULL: |want|). */
static void nn_expect_close(const npg_array *r, const double *want, const double *scale, const bool *chk, double tol,
                            const char *what) {
    int64_t n = npg_size(r);
    double *got = t_read(r);
    for (int64_t j = 0; j < n; j++) {
        if (chk && !chk[j]) continue;
        double g = got[j], w = want[j], s = scale ? scale[j] : fabs(w);
        bool ok = isnan(w) ? isnan(g) : isinf(w) ? g == w : isfinite(g) && fabs(g - w) <= tol * (1 + s);
        if (!ok) {
            free(got);
            fail("%s: element %lld is %.17g, expected %.17g (tolerance %g)", what, (long long)j, g, w, tol * (1 + s));
        }
    }
    free(got);
}

/* A fresh floating operand of shape s with values from gen (a broadcast view
 * of one now and then); NULL g_null_pct percent of the time. */
static npg_array *nn_vals_operand(npg_dtype dt, npg_shape s, double (*gen)(void)) {
    if (chance(g_null_pct)) return NULL;
    npg_shape bs = s;
    bool view = s.ndim > 0 && chance(20);
    if (view)
        for (int i = 0; i < bs.ndim; i++)
            if (chance(50)) bs.dims[i] = 1;
    int64_t n = numel_of(bs);
    double *v = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    cr_assert(v);
    for (int64_t i = 0; i < n; i++) v[i] = gen();
    npg_array *x = t_arr(v, dt, bs);
    free(v);
    if (chance(25)) setup_rg(x);
    pool_add(x, NULL);
    if (!view) return x;
    npg_array *y = npg_broadcast_to(x, s);
    cr_assert(y, "fuzz setup: broadcast_to: %s", npg_last_error());
    return pool_add(y, x);
}
/* Probabilities: mostly in [0, 1], the ends included, sometimes outside or NaN. */
static double gen_prob(void) {
    static const double e[] = {0.0, 1.0, 0.5, -0.0, 1e-300, 0.999999, 1e-7, NAN, -0.25, 1.5};
    return chance(75) ? runit() : PICK(e);
}

/* ---- gradient checks ---- */

/* A call to repeat under npg_gradcheck: the function, its parameters and
 * which of its (up to 7) array arguments are present. */
typedef struct nn_gc {
    const char *fn;
    int kind, f;
    int nd;
    bool tr;
    int stride[2], pad[2], opad[2], dil[2], groups;
    int64_t oh, ow, size[4];
    int naxes, mode, k, axis;
    bool align, logt;
    double eps, a, lo, hi, prm;
    npg_reduction red;
    uint8_t present; /* bit i: argument i is an array (else NULL) */
} nn_gc;
enum { GC_CONV, GC_POOL, GC_INTERP, GC_RMS, GC_LSTM, GC_GRU, GC_ACT, GC_GLU, GC_COS, GC_LOSS, GC_ELMAN };

static npg_array *nn_act_call(int f, npg_array *x, double a, double lo, double hi);
static npg_array *nn_loss_call(int f, npg_array *p, npg_array *t, npg_reduction red, double prm, bool logt);

static npg_array *nn_gc_fn(npg_array *const *in, int n, void *user) {
    const nn_gc *g = user;
    npg_array *a[7] = {NULL};
    for (int i = 0, k = 0; i < 7; i++)
        if (g->present >> i & 1) a[i] = k < n ? in[k++] : NULL;
    switch (g->kind) {
    case GC_CONV:
        if (g->nd == 1 && !g->tr)
            return npg_conv1d(a[0], a[1], a[2],
                              NPG_CONV1D_OPTS(.stride = g->stride[0], .padding = g->pad[0], .dilation = g->dil[0],
                                              .groups = g->groups));
        if (g->nd == 1)
            return npg_conv_transpose1d(a[0], a[1], a[2],
                                        NPG_CONV_TRANSPOSE1D_OPTS(.stride = g->stride[0], .padding = g->pad[0],
                                                                  .output_padding = g->opad[0], .dilation = g->dil[0],
                                                                  .groups = g->groups));
        return npg_conv_transpose2d(a[0], a[1], a[2],
                                    NPG_CONV_TRANSPOSE2D_OPTS(.stride = {g->stride[0], g->stride[1]},
                                                              .padding = {g->pad[0], g->pad[1]},
                                                              .output_padding = {g->opad[0], g->opad[1]},
                                                              .dilation = {g->dil[0], g->dil[1]}, .groups = g->groups));
    case GC_POOL: return npg_adaptive_avg_pool2d(a[0], g->oh, g->ow);
    case GC_INTERP: return npg_interpolate(a[0], g->naxes, g->size, (npg_interp_mode)g->mode, g->align);
    case GC_RMS: return npg_rms_norm(a[0], g->k, a[1], g->eps);
    case GC_LSTM: {
        npg_array *h = NULL, *c = NULL;
        if (npg_lstm_cell(a[0], a[1], a[2], a[3], a[4], a[5], a[6], &h, &c) != NPG_OK) return NULL;
        npg_array *r = npg_add(h, npg_multiply_scalar(c, 0.5)); /* both outputs */
        npg_free(h);
        npg_free(c);
        return r;
    }
    case GC_GRU: return npg_gru_cell(a[0], a[1], a[3], a[4], a[5], a[6]);
    case GC_ELMAN: return npg_rnn_cell(a[0], a[1], a[3], a[4], a[5], a[6], g->f != 0);
    case GC_ACT: return nn_act_call(g->f, a[0], g->a, g->lo, g->hi);
    case GC_GLU: return npg_glu(a[0], g->axis);
    case GC_COS: return npg_cosine_similarity(a[0], a[1], g->axis, g->eps);
    default: return nn_loss_call(g->f, a[0], a[1], g->red, g->prm, g->logt);
    }
}

/* npg_gradcheck of the call just made (on float64 copies of its floating
 * operands), some of the time, when its array operands (ops[0..7), NULL for
 * none) have few elements, all tame and at most 10 in magnitude, one
 * requires grad, and `smooth` (the caller's word that no input sits near a
 * kink). */
static void nn_gradcheck(nn_gc g, npg_array *const *ops, int nops, bool smooth) {
    if (!smooth || g_nn_ng || !chance(35)) return;
    npg_array *in[7];
    int n = 0;
    int64_t total = 0;
    bool rg = false;
    g.present = 0;
    for (int i = 0; i < nops; i++) {
        npg_array *x = ops[i];
        if (!x) continue;
        double *v = nn_in(x);
        bool t = nn_tame(v, npg_size(x)) && nn_maxabs(v, npg_size(x)) <= 10;
        free(v);
        if (!t) return;
        rg = rg || npg_requires_grad(x);
        total += npg_size(x);
        g.present |= (uint8_t)(1u << i);
        in[n++] = x;
    }
    if (!rg || total > 48) return;
    npg_clear_error();
    g_bug = false;
    npg_status st = npg_gradcheck(nn_gc_fn, &g, in, n, NULL);
    CHECK(!g_bug, "%s: an internal assertion fired in npg_gradcheck: %s", g.fn, g_bug_msg);
    CHECK(st == NPG_OK, "%s: npg_gradcheck: %s", g.fn, npg_last_error());
}

/* ---- conv1d, conv_transpose1d, conv_transpose2d ---- */

typedef struct nn_conv {
    int nd;  /* spatial axes: 1 or 2 */
    bool tr; /* transposed */
    npg_shape xs, ws, bs;
    bool has_b;
    int stride[2], pad[2], opad[2], dil[2], groups; /* as passed (zero: the default) */
} nn_conv;

/* Whether the call is valid (the header's shapes and formulas; a kernel
 * and, transposed, an input length of at least 1), its output shape, and the
 * elements it materialises (output, unfolded matrix); *nominal: the product
 * of the output's nonzero dims. */
static bool nn_conv_eval(const nn_conv *c, npg_shape *out, double *work, double *nominal) {
    const int nd = c->nd;
    *work = *nominal = 0;
    if (c->xs.ndim != nd + 2 || c->ws.ndim != nd + 2 || c->groups < 0) return false;
    const int64_t G = c->groups > 0 ? c->groups : 1;
    for (int i = 0; i < nd; i++)
        if (c->stride[i] < 0 || c->pad[i] < 0 || c->dil[i] < 0 || (c->tr && c->opad[i] < 0)) return false;
    const int64_t *x = c->xs.dims, *w = c->ws.dims, N = x[0], CH = x[1];
    int64_t OC;
    if (c->tr) {
        if (CH % G || w[0] != CH) return false;
        OC = w[1] * G;
    } else {
        if (CH % G || w[0] % G || w[1] * G != CH) return false;
        OC = w[0];
    }
    if (c->has_b && (c->bs.ndim != 1 || c->bs.dims[0] != OC)) return false;
    *out = (npg_shape){.ndim = nd + 2, .dims = {N, OC}};
    double n_out = (double)N * (double)OC, n_cols = (double)N * (double)(c->tr ? OC : CH);
    double nom = (N ? (double)N : 1) * (OC ? (double)OC : 1);
    for (int i = 0; i < nd; i++) {
        const int64_t L = x[2 + i], K = w[2 + i], s = c->stride[i] ? c->stride[i] : 1, d = c->dil[i] ? c->dil[i] : 1,
                      p = c->pad[i];
        if (K < 1) return false;
        int64_t o;
        if (c->tr) {
            const int64_t op = c->opad[i];
            if (L < 1 || (op >= s && op >= d)) return false;
            o = (L - 1) * s - 2 * p + d * (K - 1) + op + 1;
            if (o < 1) return false;
            n_cols *= (double)K * (double)L;
        } else {
            const int64_t e = L + 2 * p - d * (K - 1) - 1;
            if (e < 0) return false;
            o = e / s + 1;
            n_cols *= (double)K * (double)o;
        }
        out->dims[2 + i] = o;
        n_out *= (double)o;
        nom *= (double)o;
    }
    *work = n_out > n_cols ? n_out : n_cols;
    *nominal = nom;
    return true;
}

/* Direct references (loops over the definitions, independent of im2col and
 * col2im) on (N, C, H, W) images; a 1-d call is H = 1. y and its scale (the
 * sum of the magnitudes of its terms) are filled for the output yd. */
static void nn_conv_ref(const nn_conv *c, const double *x, const double *w, const double *b, const int64_t xd[4],
                        const int64_t wd[4], const int64_t yd[4], double *y, double *sc) {
    const int64_t G = c->groups > 0 ? c->groups : 1;
    int64_t s[2] = {1, 1}, p[2] = {0, 0}, d[2] = {1, 1};
    for (int i = 0; i < c->nd; i++) {
        int k = c->nd == 1 ? 1 : i;
        s[k] = c->stride[i] ? c->stride[i] : 1;
        p[k] = c->pad[i];
        d[k] = c->dil[i] ? c->dil[i] : 1;
    }
    const int64_t N = yd[0], OC = yd[1], OH = yd[2], OW = yd[3], CH = xd[1], H = xd[2], W = xd[3], KH = wd[2],
                  KW = wd[3];
    const int64_t Cg = CH / G, OCg = OC / G;
    for (int64_t j = 0; j < N * OC * OH * OW; j++) {
        int64_t oc = (j / (OH * OW)) % OC;
        y[j] = b ? b[oc] : 0;
        sc[j] = b ? fabs(b[oc]) : 0;
    }
    if (!c->tr) {
        for (int64_t n = 0; n < N; n++)
            for (int64_t oc = 0; oc < OC; oc++)
                for (int64_t oh = 0; oh < OH; oh++)
                    for (int64_t ow = 0; ow < OW; ow++) {
                        int64_t j = ((n * OC + oc) * OH + oh) * OW + ow, g = oc / OCg;
                        for (int64_t ci = 0; ci < Cg; ci++)
                            for (int64_t kh = 0; kh < KH; kh++)
                                for (int64_t kw = 0; kw < KW; kw++) {
                                    int64_t ih = oh * s[0] - p[0] + kh * d[0], iw = ow * s[1] - p[1] + kw * d[1];
                                    if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                                    double t = w[((oc * Cg + ci) * KH + kh) * KW + kw] *
                                               x[((n * CH + g * Cg + ci) * H + ih) * W + iw];
                                    y[j] += t;
                                    sc[j] += fabs(t);
                                }
                    }
        return;
    }
    for (int64_t n = 0; n < N; n++)
        for (int64_t ch = 0; ch < CH; ch++)
            for (int64_t i = 0; i < H; i++)
                for (int64_t jw = 0; jw < W; jw++)
                    for (int64_t ol = 0; ol < OCg; ol++)
                        for (int64_t kh = 0; kh < KH; kh++)
                            for (int64_t kw = 0; kw < KW; kw++) {
                                int64_t oh = i * s[0] - p[0] + kh * d[0], ow = jw * s[1] - p[1] + kw * d[1];
                                if (oh < 0 || oh >= OH || ow < 0 || ow >= OW) continue;
                                int64_t oc = (ch / Cg) * OCg + ol, j = ((n * OC + oc) * OH + oh) * OW + ow;
                                double t =
                                    x[((n * CH + ch) * H + i) * W + jw] * w[((ch * OCg + ol) * KH + kh) * KW + kw];
                                y[j] += t;
                                sc[j] += fabs(t);
                            }
}

static int nn_conv_int(int lo, int hi) {
    static const int v[] = {INT_MIN, -1, -2, INT_MAX, 100, 1 << 30};
    return chance(92) ? rint_in(lo, hi) : PICK(v);
}

static void nn_conv_params(nn_conv *c, bool small) {
    for (int i = 0; i < 2; i++) {
        c->stride[i] = small ? rint_in(0, 2) : nn_conv_int(0, 3);
        c->pad[i] = small || chance(85) ? rint_in(0, 2) : nn_conv_int(0, 2);
        c->dil[i] = small ? rint_in(0, 2) : nn_conv_int(0, 2);
        c->opad[i] = chance(60) ? 0 : small ? rint_in(0, 1) : nn_conv_int(0, 2);
    }
}

static void fz_nn_conv(int nd, bool tr) {
    const char *fn = nd == 1 ? (tr ? "npg_conv_transpose1d" : "npg_conv1d") : "npg_conv_transpose2d";
    nn_conv c = {.nd = nd, .tr = tr};
    int G = chance(65) ? 1 : rint_in(2, 3);
    int64_t N = chance(8) ? 0 : rint_in(1, 2), Cg = chance(6) ? 0 : rint_in(1, 2), OCg = chance(5) ? 0 : rint_in(1, 2);
    int64_t CH = G * Cg, OC = G * OCg;
    c.xs = (npg_shape){nd + 2, {N, CH}};
    c.ws = (npg_shape){nd + 2, {tr ? CH : OC, tr ? OCg : Cg}};
    for (int i = 0; i < nd; i++) {
        c.xs.dims[2 + i] = chance(6) ? 0 : rint_in(1, nd == 1 ? 6 : 4);
        c.ws.dims[2 + i] = chance(3) ? 0 : rint_in(1, 3);
    }
    int r = rint_in(0, 99);
    if (r < 4) c.xs = rand_shape();
    else if (r < 8) c.ws = rand_shape();
    else if (r < 14) c.ws.dims[rint_in(0, 1)] += chance(50) ? 1 : -1;   /* channels that do not fit */
    else if (r < 17) c.xs.ndim = c.ws.ndim = nd + (chance(50) ? 1 : 3); /* the other rank */
    if (c.ws.ndim > 0 && c.ws.dims[0] < 0) c.ws.dims[0] = 0;
    if (c.ws.ndim > 1 && c.ws.dims[1] < 0) c.ws.dims[1] = 0;
    c.has_b = chance(55);
    c.bs = (npg_shape){1, {OC}};
    if (c.has_b && chance(10)) c.bs = chance(50) ? rand_shape() : (npg_shape){1, {OC + 1}};
    c.groups = chance(80) ? (G == 1 && chance(30) ? 0 : G) : nn_conv_int(-1, 4);
    bool use_opts = chance(85);
    npg_dtype dt = nn_dt();
    npg_array *x = operand(chance(85) ? dt : nn_dt(), c.xs), *w = operand(chance(85) ? dt : nn_dt(), c.ws);
    npg_array *b = c.has_b ? operand(chance(80) ? dt : nn_dt(), c.bs) : NULL;
    c.has_b = b != NULL; /* NULL: no bias */
    npg_shape want = {0};
    double work = 0, nominal = 0;
    bool valid = false;
    for (int tries = 0; tries < 8; tries++) {
        if (use_opts) {
            nn_conv_params(&c, tries > 0);
        } else {
            memset(c.stride, 0, sizeof c.stride);
            memset(c.pad, 0, sizeof c.pad);
            memset(c.dil, 0, sizeof c.dil);
            memset(c.opad, 0, sizeof c.opad);
            c.groups = 0;
        }
        valid = nn_conv_eval(&c, &want, &work, &nominal);
        if (!valid || work <= 65536) break;
    }
    if (valid && work > 65536) return; /* nothing small found: skip */
    /* clean: must succeed (the shapes are small enough to allocate) */
    bool clean = valid && nominal <= 0x1p40;
    call("%s(x, w, %s, %s{stride=%d,%d pad=%d,%d out_pad=%d,%d dil=%d,%d groups=%d})", fn, b ? "b" : "NULL",
         use_opts ? "" : "NULL ", c.stride[0], c.stride[1], c.pad[0], c.pad[1], c.opad[0], c.opad[1], c.dil[0],
         c.dil[1], c.groups);
    arg(x);
    arg(w);
    opt_arg(b);
    if (!valid) must_fail();
    ng_maybe();
    go();
    npg_array *y;
    if (nd == 1 && !tr)
        y = npg_conv1d(x, w, b,
                       use_opts ? NPG_CONV1D_OPTS(.stride = c.stride[0], .padding = c.pad[0], .dilation = c.dil[0],
                                                  .groups = c.groups)
                                : NULL);
    else if (nd == 1)
        y = npg_conv_transpose1d(x, w, b,
                                 use_opts ? NPG_CONV_TRANSPOSE1D_OPTS(.stride = c.stride[0], .padding = c.pad[0],
                                                                      .output_padding = c.opad[0], .dilation = c.dil[0],
                                                                      .groups = c.groups)
                                          : NULL);
    else
        y = npg_conv_transpose2d(
            x, w, b,
            use_opts ? NPG_CONV_TRANSPOSE2D_OPTS(.stride = {c.stride[0], c.stride[1]}, .padding = {c.pad[0], c.pad[1]},
                                                 .output_padding = {c.opad[0], c.opad[1]},
                                                 .dilation = {c.dil[0], c.dil[1]}, .groups = c.groups)
                     : NULL);
    nn_named(y == NULL, fn);
    nn_ng_end();
    if (x && w && clean) VALID_FAILED(y);
    if (y && valid) { /* an invalid call that succeeded: done() says so */
        expect_shape(y, want, fn);
        nn_expect_floating(y, fn);
        nn_expect_rg(y, fn);
        /* values against the direct loops, where every input is tame */
        double *xv = nn_in(x), *wv = nn_in(w), *bv = nn_in(b);
        int64_t nx = npg_size(x), nw = npg_size(w), nb = b ? npg_size(b) : 0, ny = npg_size(y);
        if (nn_tame(xv, nx) && nn_tame(wv, nw) && nn_tame(bv, nb) && ny <= 65536) {
            int64_t xd[4] = {c.xs.dims[0], c.xs.dims[1], nd == 2 ? c.xs.dims[2] : 1, c.xs.dims[nd + 1]};
            int64_t wd[4] = {c.ws.dims[0], c.ws.dims[1], nd == 2 ? c.ws.dims[2] : 1, c.ws.dims[nd + 1]};
            int64_t yd[4] = {want.dims[0], want.dims[1], nd == 2 ? want.dims[2] : 1, want.dims[nd + 1]};
            double *ref = malloc(sizeof(double) * (size_t)(ny + 1)), *sc = malloc(sizeof(double) * (size_t)(ny + 1));
            cr_assert(ref && sc);
            nn_conv_ref(&c, xv, wv, bv, xd, wd, yd, ref, sc);
            nn_expect_close(y, ref, sc, NULL, nn_tol(npg_dtype_of(y)), fn);
            free(ref);
            free(sc);
        }
        free(xv);
        free(wv);
        free(bv);
    }
    bool ok = y != NULL;
    done(y);
    nn_gc g = {.fn = fn, .kind = GC_CONV, .nd = nd, .tr = tr, .groups = c.groups};
    memcpy(g.stride, c.stride, sizeof g.stride);
    memcpy(g.pad, c.pad, sizeof g.pad);
    memcpy(g.opad, c.opad, sizeof g.opad);
    memcpy(g.dil, c.dil, sizeof g.dil);
    if (ok) nn_gradcheck(g, (npg_array *[]){x, w, b}, 3, true);
}

/* ---- adaptive_avg_pool2d, interpolate ---- */

/* (..., H, W): batch axes, then two of 0 to 5. */
static npg_shape nn_image_shape(void) {
    if (chance(6)) return rand_shape();
    npg_shape s = {.ndim = rint_in(0, 2)};
    for (int i = 0; i < s.ndim; i++) s.dims[i] = chance(6) ? 0 : rint_in(1, 2);
    s.dims[s.ndim++] = chance(5) ? 0 : rint_in(1, 5);
    s.dims[s.ndim++] = chance(5) ? 0 : rint_in(1, 5);
    return s;
}

static void fz_nn_adaptive_pool(void) {
    const char *fn = "npg_adaptive_avg_pool2d";
    npg_shape xs = nn_image_shape();
    npg_array *x = operand(nn_dt(), xs);
    int64_t oh = chance(88) ? rint_in(1, 6) : weird_count(), ow = chance(88) ? rint_in(1, 6) : weird_count();
    int nd = xs.ndim;
    int64_t H = nd >= 2 ? xs.dims[nd - 2] : 0, W = nd >= 2 ? xs.dims[nd - 1] : 0;
    bool valid = nd >= 2 && oh >= 1 && ow >= 1;
    /* an empty image has no cells to average (the library refuses it) */
    bool clean = valid && H >= 1 && W >= 1 && oh <= 6 && ow <= 6;
    call("%s(x, %lld, %lld)", fn, (long long)oh, (long long)ow);
    arg(x);
    if (!valid) must_fail();
    ng_maybe();
    go();
    npg_array *y = npg_adaptive_avg_pool2d(x, oh, ow);
    nn_named(y == NULL, fn);
    nn_ng_end();
    if (x && clean) VALID_FAILED(y);
    if (y && valid) { /* an invalid call that succeeded: done() says so */
        npg_shape want = xs;
        want.dims[nd - 2] = oh;
        want.dims[nd - 1] = ow;
        expect_shape(y, want, fn);
        nn_expect_dtype(y, nn_float_of(npg_dtype_of(x)), fn);
        nn_expect_rg(y, fn);
        /* each cell is the mean of its window [floor(i H / oh), ceil((i + 1) H / oh)): checked where the
         * window's values are tame (whatever the rest of the image holds) */
        int64_t nb = numel_of(xs) / (H * W > 0 ? H * W : 1), ny = npg_size(y);
        if (H * W > 0 && ny <= 65536) {
            double *xv = nn_in(x), *ref = malloc(sizeof(double) * (size_t)(ny + 1)),
                   *sc = malloc(sizeof(double) * (size_t)(ny + 1));
            bool *chk = malloc((size_t)ny + 1);
            cr_assert(ref && sc && chk);
            for (int64_t bi = 0; bi < nb; bi++)
                for (int64_t i = 0; i < oh; i++)
                    for (int64_t j = 0; j < ow; j++) {
                        int64_t a0 = i * H / oh, a1 = ((i + 1) * H + oh - 1) / oh, b0 = j * W / ow,
                                b1 = ((j + 1) * W + ow - 1) / ow, k = (bi * oh + i) * ow + j;
                        double s = 0, m = 0;
                        bool t = true;
                        for (int64_t a = a0; a < a1; a++)
                            for (int64_t bb = b0; bb < b1; bb++) {
                                double v = xv[(bi * H + a) * W + bb];
                                t = t && tame(v);
                                s += v;
                                m += fabs(v);
                            }
                        double cnt = (double)((a1 - a0) * (b1 - b0));
                        ref[k] = s / cnt;
                        sc[k] = m / cnt;
                        chk[k] = t;
                    }
            nn_expect_close(y, ref, sc, chk, nn_tol(npg_dtype_of(y)), fn);
            free(xv);
            free(ref);
            free(sc);
            free(chk);
        }
    }
    bool ok = y != NULL;
    done(y);
    if (ok) nn_gradcheck((nn_gc){.fn = fn, .kind = GC_POOL, .oh = oh, .ow = ow}, (npg_array *[]){x}, 1, true);
}

/* Source index of output i along an axis of length in resampled to out. */
static int64_t nn_nearest(int mode, int64_t i, int64_t in, int64_t out) {
    int64_t k = mode == NPG_INTERP_NEAREST ? i * in / out : (2 * i + 1) * in / (2 * out);
    return k < in - 1 ? k : in - 1;
}

static void fz_nn_interpolate(void) {
    const char *fn = "npg_interpolate";
    npg_shape xs = rand_shape();
    if (xs.ndim < 3 && chance(60)) {
        xs.ndim = rint_in(1, 4);
        for (int i = 0; i < xs.ndim; i++) xs.dims[i] = chance(5) ? 0 : rint_in(1, i < xs.ndim - 3 ? 2 : 4);
    }
    int nd = xs.ndim, na;
    if (chance(88) && nd > 0) {
        na = rint_in(1, nd < 3 ? nd : 3);
    } else {
        static const int bad[] = {0, -1, 4, 9, INT_MIN, INT_MAX};
        na = chance(40) ? nd + 1 : PICK(bad);
    }
    int64_t size[4];
    for (int k = 0; k < 4; k++) size[k] = chance(90) ? rint_in(1, 6) : weird_count();
    bool null_size = chance(3);
    int mode = chance(95) ? rint_in(0, 2) : PICK(((const int[]){-1, 3, 100, INT_MIN}));
    bool align = chance(50);
    npg_dtype dt = nn_dt();
    if (mode != NPG_INTERP_LINEAR && chance(20)) dt = rand_dtype(); /* the nearest modes keep any dtype */
    npg_array *x = operand(dt, xs);
    bool valid = na >= 1 && na <= 3 && na <= nd && mode >= 0 && mode <= 2, small = true;
    npg_shape want = xs;
    for (int k = 0; valid && k < na; k++) {
        int64_t in = xs.dims[nd - na + k];
        if (size[k] < 1 || in < 1) valid = false; /* "each size >= 1; an interpolated axis of length 0 is an error" */
        if (size[k] > 6) small = false;
        want.dims[nd - na + k] = size[k];
    }
    char sb[160];
    int sk = snprintf(sb, sizeof sb, "%s{", null_size ? "NULL " : "");
    for (int k = 0; k < 3; k++)
        sk += snprintf(sb + sk, sizeof sb - (size_t)sk, k ? " %lld" : "%lld", (long long)size[k]);
    snprintf(sb + sk, sizeof sb - (size_t)sk, "}");
    call("%s(x, naxes=%d, size=%s, mode=%d, align_corners=%d)", fn, na, sb, mode, align);
    arg(x);
    if (null_size) arg(NULL); /* a NULL size is a NULL argument */
    if (!valid) must_fail();
    ng_maybe();
    go();
    npg_array *y = npg_interpolate(x, na, null_size ? NULL : size, (npg_interp_mode)mode, align);
    nn_named(y == NULL, fn);
    nn_ng_end();
    if (x && !null_size && valid && small) VALID_FAILED(y);
    if (y && valid) { /* an invalid call that succeeded: done() says so */
        expect_shape(y, want, fn);
        nn_expect_dtype(y, mode == NPG_INTERP_LINEAR ? nn_float_of(npg_dtype_of(x)) : npg_dtype_of(x), fn);
        nn_expect_rg(y, fn);
        int64_t ny = npg_size(y), o[NPG_MAX_DIMS];
        if (mode != NPG_INTERP_LINEAR) {
            /* the nearest modes gather: exact integer source indices */
            int64_t *src = alloc_i64(ny);
            for (int64_t j = 0; j < ny; j++) {
                unravel(j, &want, o);
                for (int k = 0; k < na; k++) {
                    int a = nd - na + k;
                    o[a] = nn_nearest(mode, o[a], xs.dims[a], size[k]);
                }
                src[j] = ravel(o, &xs);
            }
            expect_gather(y, x, src, NULL, fn);
        } else {
            /* linear, axis after axis: (1 - l) y0 + l y1 in double, where the input is tame */
            double *v = nn_in(x);
            int64_t n = npg_size(x);
            if (nn_tame(v, n) && ny <= 65536) {
                double m = nn_maxabs(v, n);
                npg_shape cur = xs;
                for (int k = 0; k < na; k++) {
                    int a = nd - na + k;
                    int64_t in = cur.dims[a], out = size[k];
                    if (in == out) continue;
                    npg_shape nx = cur;
                    nx.dims[a] = out;
                    int64_t nn = numel_of(nx);
                    double *w = malloc(sizeof(double) * (size_t)(nn + 1));
                    cr_assert(w);
                    for (int64_t j = 0; j < nn; j++) {
                        unravel(j, &nx, o);
                        int64_t i = o[a];
                        double s = align ? (out > 1 ? (double)i * (double)(in - 1) / (double)(out - 1) : 0.0)
                                         : ((double)i + 0.5) * (double)in / (double)out - 0.5;
                        if (s < 0) s = 0;
                        int64_t k0 = (int64_t)floor(s);
                        if (k0 > in - 1) k0 = in - 1;
                        int64_t k1 = k0 + 1 < in ? k0 + 1 : in - 1;
                        double l = s - (double)k0;
                        o[a] = k0;
                        double y0 = v[ravel(o, &cur)];
                        o[a] = k1;
                        double y1 = v[ravel(o, &cur)];
                        w[j] = (1 - l) * y0 + l * y1;
                    }
                    free(v);
                    v = w;
                    cur = nx;
                }
                double *sc = malloc(sizeof(double) * (size_t)(ny + 1));
                cr_assert(sc);
                for (int64_t j = 0; j < ny; j++) sc[j] = m;
                nn_expect_close(y, v, sc, NULL, nn_tol(npg_dtype_of(y)), fn);
                free(sc);
            }
            free(v);
        }
    }
    bool ok = y != NULL;
    done(y);
    nn_gc g = {.fn = fn, .kind = GC_INTERP, .naxes = na, .mode = mode, .align = align};
    memcpy(g.size, size, sizeof g.size);
    if (ok) nn_gradcheck(g, (npg_array *[]){x}, 1, true);
}

/* ---- rms_norm ---- */

static void fz_nn_rms_norm(void) {
    const char *fn = "npg_rms_norm";
    npg_shape xs = rand_shape();
    int nd = xs.ndim;
    int k = chance(85) && nd > 0 ? rint_in(1, nd) : PICK(((const int[]){0, -1, nd + 1, INT_MIN, INT_MAX}));
    npg_shape wsh = {0};
    bool has_w = chance(60), w_ok = true;
    if (has_w) {
        if (k >= 1 && k <= nd) {
            wsh.ndim = k;
            memcpy(wsh.dims, xs.dims + nd - k, sizeof(int64_t) * (size_t)k);
        }
        int r = rint_in(0, 99);
        if (r < 6) wsh = rand_shape();
        else if (r < 12 && wsh.ndim > 0) wsh.dims[rint_in(0, wsh.ndim - 1)] = 1; /* broadcastable, but not the shape */
        else if (r < 16 && wsh.ndim > 1) wsh.ndim--;                             /* fewer axes */
        w_ok =
            wsh.ndim == k && k >= 1 && k <= nd && memcmp(wsh.dims, xs.dims + nd - k, sizeof(int64_t) * (size_t)k) == 0;
    }
    double eps = chance(60)   ? (chance(50) ? 1e-5 : 1e-6)
                 : chance(50) ? PICK(((const double[]){0, 1, 0.25, INFINITY}))
                              : weird_double();
    npg_dtype dt = nn_dt();
    npg_array *x = operand(dt, xs), *w = has_w ? operand(chance(85) ? nn_float_of(dt) : nn_dt(), wsh) : NULL;
    if (!w) w_ok = true;
    bool valid = k >= 1 && k <= nd && eps >= 0 && w_ok;
    call("%s(x, %d, %s, %g)", fn, k, w ? "w" : "NULL", eps);
    arg(x);
    opt_arg(w);
    if (!valid) must_fail();
    ng_maybe();
    go();
    npg_array *y = npg_rms_norm(x, k, w, eps);
    nn_named(y == NULL, fn);
    nn_ng_end();
    if (x && valid) VALID_FAILED(y);
    if (y && valid) { /* an invalid call that succeeded: done() says so */
        expect_shape(y, xs, fn);
        nn_expect_floating(y, fn);
        nn_expect_rg(y, fn);
        /* x / sqrt(mean(x^2) + eps) * w where x and w are tame */
        double *xv = nn_in(x), *wv = nn_in(w);
        int64_t n = npg_size(x), m = 1;
        for (int i = nd - k; i < nd; i++) m *= xs.dims[i];
        if (nn_tame(xv, n) && nn_tame(wv, w ? npg_size(w) : 0) && isfinite(eps) && eps <= 1e6 && m > 0) {
            double *ref = malloc(sizeof(double) * (size_t)(n + 1));
            cr_assert(ref);
            double epsr = nn_round(nn_float_of(npg_dtype_of(x)), eps); /* as x's float dtype holds it */
            for (int64_t r0 = 0; r0 < n; r0 += m) {
                double ss = 0;
                for (int64_t j = 0; j < m; j++) ss += xv[r0 + j] * xv[r0 + j];
                double d = sqrt(ss / (double)m + epsr);
                for (int64_t j = 0; j < m; j++) ref[r0 + j] = xv[r0 + j] / d * (wv ? wv[j] : 1.0);
            }
            nn_expect_close(y, ref, NULL, NULL, nn_tol(npg_dtype_of(y)), fn);
            free(ref);
        }
        free(xv);
        free(wv);
    }
    bool ok = y != NULL;
    done(y);
    if (ok)
        nn_gradcheck((nn_gc){.fn = fn, .kind = GC_RMS, .k = k, .eps = eps}, (npg_array *[]){x, w}, 2,
                     eps >= 1e-6 && eps <= 1e6);
}

/* ---- host references of the recurrent cells (PyTorch's equations) ---- */

/* Gate blocks of a mode: Elman 1, LSTM 4 (i, f, g, o), GRU 3 (r, z, n). */
static int rnn_gates_of(int mode) { return mode == NPG_RNN_LSTM ? 4 : mode == NPG_RNN_GRU ? 3 : 1; }
static double rnn_sigmoid(double v) { return 1 / (1 + exp(-v)); }

#define RNN_MAX_GH 64 /* G * H of the references (G <= 4, H <= 16) */

/* One step of a cell for one batch row, in float64: x (in), h and c (H;
 * NULL: zeros), w_ih (G H, in), w_hh (G H, H), biases (G H; NULL: none) ->
 * h2 and, for the LSTM, c2. *scale grows to the largest sum of magnitudes of
 * the terms of a pre-activation (plus |c| and |h| where they enter), *kink
 * shrinks to the smallest |pre-activation| of a relu. */
static void rnn_ref_step(int mode, int64_t H, int64_t in, const double *x, const double *h, const double *c,
                         const double *wih, const double *whh, const double *bih, const double *bhh, double *h2,
                         double *c2, double *scale, double *kink) {
    const int64_t GH = rnn_gates_of(mode) * H;
    cr_assert(GH <= RNN_MAX_GH, "fuzz: a reference cell too large");
    double gi[RNN_MAX_GH], gh[RNN_MAX_GH], si[RNN_MAX_GH], sh[RNN_MAX_GH];
    for (int64_t r = 0; r < GH; r++) {
        gi[r] = bih ? bih[r] : 0;
        si[r] = fabs(gi[r]);
        for (int64_t i = 0; i < in; i++) {
            double t = wih[r * in + i] * x[i];
            gi[r] += t;
            si[r] += fabs(t);
        }
        gh[r] = bhh ? bhh[r] : 0;
        sh[r] = fabs(gh[r]);
        for (int64_t m = 0; h && m < H; m++) {
            double t = whh[r * H + m] * h[m];
            gh[r] += t;
            sh[r] += fabs(t);
        }
    }
    double s = 0;
    for (int64_t j = 0; j < H; j++) {
        double hv = h ? h[j] : 0, cv = c ? c[j] : 0;
        switch (mode) {
        case NPG_RNN_LSTM: {
            double ig = rnn_sigmoid(gi[j] + gh[j]), fg = rnn_sigmoid(gi[H + j] + gh[H + j]);
            double gg = tanh(gi[2 * H + j] + gh[2 * H + j]), og = rnn_sigmoid(gi[3 * H + j] + gh[3 * H + j]);
            c2[j] = fg * cv + ig * gg;
            h2[j] = og * tanh(c2[j]);
            for (int k = 0; k < 4; k++) s = fmax(s, si[k * H + j] + sh[k * H + j]);
            s = fmax(s, fabs(cv) + 1);
            break;
        }
        case NPG_RNN_GRU: {
            double r = rnn_sigmoid(gi[j] + gh[j]), z = rnn_sigmoid(gi[H + j] + gh[H + j]);
            double n = tanh(gi[2 * H + j] + r * gh[2 * H + j]);
            h2[j] = (1 - z) * n + z * hv;
            for (int k = 0; k < 2; k++) s = fmax(s, si[k * H + j] + sh[k * H + j]);
            s = fmax(s, fmax(si[2 * H + j] + sh[2 * H + j], fabs(hv) + 1));
            break;
        }
        default: {
            double pre = gi[j] + gh[j];
            h2[j] = mode == NPG_RNN_RELU ? (pre > 0 ? pre : 0) : tanh(pre);
            s = fmax(s, si[j] + sh[j]);
            if (mode == NPG_RNN_RELU) *kink = fmin(*kink, fabs(pre));
            break;
        }
        }
    }
    *scale = fmax(*scale, s);
}

/* ---- lstm_cell, gru_cell, rnn_cell ---- */

/* A state (h or c) for batch B and hidden size H: batched, a batch of 1,
 * unbatched, or wrong. */
static npg_shape nn_state_shape(int64_t B, int64_t H) {
    int r = rint_in(0, 99);
    if (r < 55) return (npg_shape){2, {B, H}};
    if (r < 72) return (npg_shape){2, {1, H}};
    if (r < 90) return (npg_shape){1, {H}};
    if (r < 95) return (npg_shape){2, {B + 1 + (B == 0), H}};
    if (r < 98) return (npg_shape){2, {B, H + 1}};
    return rand_shape();
}

/* The batch of a cell's operand of shape s (1-d: none, -1). */
static int64_t nn_batch(npg_shape s) { return s.ndim == 2 ? s.dims[0] : -1; }

/* A cell: kind NPG_RNN_LSTM (npg_lstm_cell), NPG_RNN_GRU (npg_gru_cell),
 * NPG_RNN_TANH or NPG_RNN_RELU (npg_rnn_cell). */
static void fz_nn_cell(int kind) {
    const bool lstm = kind == NPG_RNN_LSTM, elman = kind == NPG_RNN_TANH || kind == NPG_RNN_RELU;
    const char *fn = lstm ? "npg_lstm_cell" : elman ? "npg_rnn_cell" : "npg_gru_cell";
    const int64_t G = rnn_gates_of(kind);
    int64_t B = chance(8) ? 0 : rint_in(1, 3), I = chance(5) ? 0 : rint_in(1, 3), H = chance(4) ? 0 : rint_in(1, 3);
    int r = rint_in(0, 99);
    npg_shape xs = r < 70 ? (npg_shape){2, {B, I}} : r < 93 ? (npg_shape){1, {I}} : rand_shape();
    bool has_h = chance(70), has_c = lstm && chance(70);
    npg_shape hs = nn_state_shape(B, H), cs = nn_state_shape(B, H);
    npg_shape wis = {2, {G * H, I}}, whs = {2, {G * H, H}}, bis = {1, {G * H}}, bhs = {1, {G * H}};
    r = rint_in(0, 99);
    if (r < 4) wis = rand_shape();
    else if (r < 8) wis.dims[0]++;
    else if (r < 12) wis.dims[1]++;
    else if (r < 16) whs = rand_shape();
    else if (r < 20) whs.dims[0] += G; /* (G (H + 1), H) */
    else if (r < 23) whs.dims[1]++;
    if (chance(5)) bis = chance(50) ? rand_shape() : (npg_shape){1, {G * H + 1}};
    if (chance(5)) bhs = chance(50) ? rand_shape() : (npg_shape){1, {G * H + 1}};
    npg_dtype dt = rand_float_dtype();
#define NN_OP(s) operand(chance(88) ? dt : nn_dt(), s)
    npg_array *x = operand(chance(80) ? dt : nn_dt(), xs), *h = has_h ? NN_OP(hs) : NULL, *c = has_c ? NN_OP(cs) : NULL;
    npg_array *wi = NN_OP(wis), *wh = NN_OP(whs), *bi = chance(60) ? NN_OP(bis) : NULL,
              *bh = chance(60) ? NN_OP(bhs) : NULL;
#undef NN_OP
    bool null_ho = lstm && chance(2), null_co = lstm && chance(2);
    /* validity: the header's layouts; x, h and c broadcast against each other */
    bool valid = xs.ndim >= 1 && xs.ndim <= 2 && whs.ndim == 2 && whs.dims[0] == G * whs.dims[1];
    int64_t Hh = valid ? whs.dims[1] : 0;
    valid = valid && wis.ndim == 2 && wis.dims[0] == G * Hh && wis.dims[1] == xs.dims[xs.ndim - 1];
    if (bi) valid = valid && bis.ndim == 1 && bis.dims[0] == G * Hh;
    if (bh) valid = valid && bhs.ndim == 1 && bhs.dims[0] == G * Hh;
    int64_t batch = -1; /* -1: unbatched so far */
    const npg_shape *st[3] = {&xs, h ? &hs : NULL, c ? &cs : NULL};
    for (int i = 0; valid && i < 3; i++) {
        if (!st[i]) continue;
        if (i > 0) valid = st[i]->ndim >= 1 && st[i]->ndim <= 2 && st[i]->dims[st[i]->ndim - 1] == Hh;
        int64_t b = nn_batch(*st[i]);
        if (!valid || b < 0) continue;
        if (batch < 0 || batch == 1) batch = b;
        else if (b != 1 && b != batch) valid = false;
    }
    npg_shape want = batch >= 0 ? (npg_shape){2, {batch, Hh}} : (npg_shape){1, {Hh}};
    /* floating weights, biases and states: must succeed (x may be of any dtype) */
    npg_array *const fl[6] = {h, c, wi, wh, bi, bh};
    bool clean = valid;
    for (int i = 0; i < 6; i++)
        if (fl[i] && !npg_is_floating(npg_dtype_of(fl[i]))) clean = false;
    call("%s(x, %s, %s, w_ih, w_hh, %s, %s%s%s%s)", fn, h ? "h" : "NULL", lstm ? (c ? "c" : "NULL") : "-",
         bi ? "b_ih" : "NULL", bh ? "b_hh" : "NULL", null_ho ? ", h_out NULL" : "", null_co ? ", c_out NULL" : "",
         kind == NPG_RNN_RELU ? ", relu" : kind == NPG_RNN_TANH ? ", tanh" : "");
    arg(x);
    opt_arg(h);
    opt_arg(c);
    arg(wi);
    arg(wh);
    opt_arg(bi);
    opt_arg(bh);
    if (!valid || null_ho || null_co) must_fail();
    ng_maybe();
    go();
    npg_array *out[2] = {UNSET, UNSET};
    npg_status s;
    if (lstm) {
        s = npg_lstm_cell(x, h, c, wi, wh, bi, bh, null_ho ? NULL : &out[0], null_co ? NULL : &out[1]);
    } else {
        out[0] = elman ? npg_rnn_cell(x, h, wi, wh, bi, bh, kind == NPG_RNN_RELU) : npg_gru_cell(x, h, wi, wh, bi, bh);
        out[1] = NULL;
        s = out[0] ? NPG_OK : npg_last_status();
    }
    nn_named(s != NPG_OK, fn);
    nn_ng_end();
    if (s != NPG_OK)
        CHECK(s == npg_last_status(), "returned %d but the last status is %d", (int)s, (int)npg_last_status());
    after(s != NPG_OK);
    if (x && wi && wh && clean && !null_ho && !null_co) CHECK(s == NPG_OK, "a valid call failed: %s", npg_last_error());
    int nout = lstm ? 2 : 1;
    if (s != NPG_OK) {
        for (int i = 0; i < nout; i++)
            if (!(i == 0 ? null_ho : null_co))
                CHECK(out[i] == NULL, "%s failed but %s is not NULL (both NULL on failure)", fn,
                      i ? "*c_out" : "*h_out");
        check_unchanged(false);
        return;
    }
    /* |h'| <= 1 (lstm: sigmoid times tanh; gru: a convex mix of tanh and h,
     * when |h| <= 1; tanh cell: tanh); a relu cell's h' >= 0 */
    double hmax = kind == NPG_RNN_RELU ? INFINITY : 1;
    if (h && kind == NPG_RNN_GRU) {
        double *hv = nn_in(h);
        int64_t n = npg_size(h);
        for (int64_t j = 0; j < n; j++)
            hmax = isfinite(hv[j]) && fabs(hv[j]) > hmax ? fabs(hv[j]) : isfinite(hv[j]) ? hmax : INFINITY;
        free(hv);
    }
    g_nn_unused = h ? NULL : wh;
    for (int i = 0; i < nout; i++) {
        CHECK(out[i] != NULL && out[i] != UNSET, "%s succeeded without output %d", fn, i);
        check_sane(out[i]);
        if (!valid) continue; /* after() has complained */
        expect_shape(out[i], want, fn);
        nn_expect_floating(out[i], fn);
        nn_expect_rg(out[i], fn);
    }
    g_nn_unused = NULL;
    if (valid) {
        double *v = t_read(out[0]);
        int64_t n = npg_size(out[0]);
        for (int64_t j = 0; j < n; j++)
            if (!isnan(v[j]) && (fabs(v[j]) > hmax * (1 + 1e-6) || (kind == NPG_RNN_RELU && v[j] < 0))) {
                double bad = v[j];
                free(v);
                fail("%s: h' element %lld is %g, outside [%g, %g]", fn, (long long)j, bad,
                     kind == NPG_RNN_RELU ? 0 : -hmax, hmax);
            }
        free(v);
    }
    /* the values, row by row (x, h and c broadcast), where every operand is tame */
    double kink = INFINITY;
    if (valid) {
        double *xv = nn_in(x), *hv = nn_in(h), *cv = nn_in(c), *wiv = nn_in(wi), *whv = nn_in(wh), *biv = nn_in(bi),
               *bhv = nn_in(bh);
        bool tm = nn_tame(xv, npg_size(x)) && nn_tame(wiv, npg_size(wi)) && nn_tame(whv, npg_size(wh));
        tm = tm && nn_tame(hv, h ? npg_size(h) : 0) && nn_tame(cv, c ? npg_size(c) : 0) &&
             nn_tame(biv, bi ? npg_size(bi) : 0) && nn_tame(bhv, bh ? npg_size(bh) : 0);
        if (tm && G * Hh <= RNN_MAX_GH) {
            int64_t rows = batch >= 0 ? batch : 1, ny = rows * Hh;
            double *yh = malloc(sizeof(double) * (size_t)(ny + 1)), *yc = malloc(sizeof(double) * (size_t)(ny + 1));
            cr_assert(yh && yc);
            double sc = 0;
            /* row b of an operand of shape s with last axis n: its batch row, or the only one */
#define NN_ROW(v, s, n) ((v) ? (v) + ((s).ndim == 2 && (s).dims[0] != 1 ? b : 0) * (n) : NULL)
            for (int64_t b = 0; b < rows; b++)
                rnn_ref_step(kind, Hh, xs.dims[xs.ndim - 1], NN_ROW(xv, xs, xs.dims[xs.ndim - 1]), NN_ROW(hv, hs, Hh),
                             NN_ROW(cv, cs, Hh), wiv, whv, biv, bhv, yh + b * Hh, yc + b * Hh, &sc, &kink);
#undef NN_ROW
            double *scale = malloc(sizeof(double) * (size_t)(ny + 1));
            cr_assert(scale);
            for (int64_t j = 0; j < ny; j++) scale[j] = sc;
            double tol = nn_tol(npg_dtype_of(out[0]));
            nn_expect_close(out[0], yh, scale, NULL, tol, lstm ? "npg_lstm_cell: h'" : fn);
            if (lstm) nn_expect_close(out[1], yc, scale, NULL, tol, "npg_lstm_cell: c'");
            free(scale);
            free(yh);
            free(yc);
        } else {
            kink = 0; /* unknown: no gradient check of a relu */
        }
        free(xv);
        free(hv);
        free(cv);
        free(wiv);
        free(whv);
        free(biv);
        free(bhv);
    }
    for (int i = 0; i < nout; i++) maybe_backward(out[i]);
    check_unchanged(true);
    for (int i = 0; i < nout; i++) npg_free(out[i]);
    nn_gradcheck((nn_gc){.fn = fn, .kind = lstm ? GC_LSTM : elman ? GC_ELMAN : GC_GRU, .f = kind == NPG_RNN_RELU},
                 (npg_array *[]){x, h, c, wi, wh, bi, bh}, 7, kind != NPG_RNN_RELU || kink > 1e-3);
}

/* ---- activations, glu ---- */

static double nn_softplus(double v) { return v > 0 ? v + log1p(exp(-v)) : log1p(exp(v)); }

enum { NN_ELU, NN_SELU, NN_CELU, NN_HARDTANH, NN_HARDSIGMOID, NN_HARDSWISH, NN_MISH, NN_LOGSIGMOID, NN_NACT };
static const char *const NN_ACT_NAME[NN_NACT] = {"npg_elu",         "npg_selu",      "npg_celu", "npg_hardtanh",
                                                 "npg_hardsigmoid", "npg_hardswish", "npg_mish", "npg_logsigmoid"};

static double nn_act_ref(int f, double v, double a, double lo, double hi) {
    static const double SA = 1.6732632423543772848170429916717, SS = 1.0507009873554804934193349852946;
    switch (f) {
    case NN_ELU: return v > 0 ? v : a * expm1(v);
    case NN_SELU: return SS * (v > 0 ? v : SA * expm1(v));
    case NN_CELU: return v > 0 ? v : a * expm1(v / a);
    case NN_HARDTANH: return v < lo ? lo : v > hi ? hi : v;
    case NN_HARDSIGMOID: return (v + 3 < 0 ? 0 : v + 3 > 6 ? 6 : v + 3) / 6;
    case NN_HARDSWISH: return v * (v + 3 < 0 ? 0 : v + 3 > 6 ? 6 : v + 3) / 6;
    case NN_MISH: return v * tanh(nn_softplus(v));
    default: return -nn_softplus(-v);
    }
}

static npg_array *nn_act_call(int f, npg_array *x, double a, double lo, double hi) {
    switch (f) {
    case NN_ELU: return npg_elu(x, a);
    case NN_SELU: return npg_selu(x);
    case NN_CELU: return npg_celu(x, a);
    case NN_HARDTANH: return npg_hardtanh(x, lo, hi);
    case NN_HARDSIGMOID: return npg_hardsigmoid(x);
    case NN_HARDSWISH: return npg_hardswish(x);
    case NN_MISH: return npg_mish(x);
    default: return npg_logsigmoid(x);
    }
}

static void fz_nn_activation(void) {
    int f = rint_in(0, NN_NACT - 1);
    const char *fn = NN_ACT_NAME[f];
    npg_shape xs = rand_shape();
    npg_array *x = operand(nn_dt(), xs);
    double a = chance(80) ? (chance(30) ? 1.0 : nn_param(-2, 2, 0)) : weird_double();
    double lo = chance(80) ? (chance(50) ? -1.0 : nn_param(-3, 1, 0)) : weird_double();
    double hi = chance(80) ? (chance(50) ? 1.0 : nn_param(-1, 3, 0)) : weird_double();
    if (chance(3)) hi = lo;
    bool valid = f == NN_CELU ? a != 0 && isfinite(a) : f == NN_HARDTANH ? lo <= hi : true;
    call("%s(x, alpha=%g, lo=%g, hi=%g)", fn, a, lo, hi);
    arg(x);
    if (!valid) must_fail();
    ng_maybe();
    go();
    npg_array *y = nn_act_call(f, x, a, lo, hi);
    nn_named(y == NULL, fn);
    nn_ng_end();
    if (x && valid) VALID_FAILED(y);
    if (y && valid) {
        npg_dtype dt = nn_float_of(npg_dtype_of(x));
        expect_shape(y, xs, fn);
        nn_expect_dtype(y, dt, fn);
        nn_expect_rg(y, fn);
        double *xv = nn_in(x);
        int64_t n = npg_size(x);
        double *ref = malloc(sizeof(double) * (size_t)(n + 1));
        bool *chk = malloc((size_t)n + 1);
        cr_assert(ref && chk);
        if (f == NN_HARDTANH) {
            /* exactly clip(x, lo, hi) as the dtype holds them: within [lo, hi], NaN kept */
            double l = nn_round(dt, lo), h = nn_round(dt, hi);
            for (int64_t j = 0; j < n; j++) {
                double v = nn_round(dt, xv[j]);
                ref[j] = isnan(v) ? NAN : nn_act_ref(f, v, 0, l, h);
                chk[j] = true;
            }
            nn_expect_close(y, ref, NULL, chk, 0, fn);
        } else if (nn_tame_param(a)) {
            for (int64_t j = 0; j < n; j++) {
                double v = nn_round(dt, xv[j]);
                ref[j] = nn_act_ref(f, v, a, 0, 0);
                chk[j] = tame(v) && (f != NN_CELU || fabs(v / a) <= 80);
            }
            nn_expect_close(y, ref, NULL, chk, nn_tol(dt), fn);
        }
        free(xv);
        free(ref);
        free(chk);
    }
    /* celu (alpha > 0) and elu with alpha 1 are differentiable at 0 (derivative 1); elu's other alphas and
     * selu have a kink there; a tiny or negative alpha makes celu too steep for central differences */
    bool ok = y != NULL,
         smooth = ok && valid && (f != NN_CELU || (a >= 0.05 && a <= 10)) && (f != NN_ELU || fabs(a) <= 10);
    if (smooth) { /* away from the kinks */
        double *xv = nn_in(x);
        for (int64_t j = 0, n = npg_size(x); j < n; j++) {
            double v = xv[j];
            if (((f == NN_ELU && a != 1) || f == NN_SELU) && fabs(v) < 1e-3) smooth = false;
            if (f == NN_HARDTANH && (fabs(v - lo) < 1e-3 || fabs(v - hi) < 1e-3 || lo == INFINITY || hi == -INFINITY))
                smooth = false; /* (an infinite output too) */
            if ((f == NN_HARDSIGMOID || f == NN_HARDSWISH) && (fabs(v - 3) < 1e-3 || fabs(v + 3) < 1e-3))
                smooth = false;
        }
        free(xv);
    }
    done(y);
    if (ok)
        nn_gradcheck((nn_gc){.fn = fn, .kind = GC_ACT, .f = f, .a = a, .lo = lo, .hi = hi}, (npg_array *[]){x}, 1,
                     smooth);
}

static void fz_nn_glu(void) {
    const char *fn = "npg_glu";
    npg_shape xs = rand_shape();
    if (xs.ndim > 0 && chance(60)) xs.dims[rint_in(0, xs.ndim - 1)] = 2 * rint_in(0, 2);
    int nd = xs.ndim, axis = rand_axis(nd), a = 0;
    bool valid = nd >= 1 && norm_axis(axis, nd, &a) && xs.dims[a] % 2 == 0;
    npg_array *x = operand(nn_dt(), xs);
    call("%s(x, %d)", fn, axis);
    arg(x);
    if (!valid) must_fail();
    ng_maybe();
    go();
    npg_array *y = npg_glu(x, axis);
    nn_named(y == NULL, fn);
    nn_ng_end();
    if (x && valid) VALID_FAILED(y);
    if (y && valid) {
        npg_dtype dt = nn_float_of(npg_dtype_of(x));
        npg_shape want = xs;
        want.dims[a] /= 2;
        expect_shape(y, want, fn);
        nn_expect_dtype(y, dt, fn);
        nn_expect_rg(y, fn);
        /* a sigmoid(b), a and b the halves along the axis */
        double *xv = nn_in(x);
        int64_t ny = npg_size(y), o[NPG_MAX_DIMS];
        double *ref = malloc(sizeof(double) * (size_t)(ny + 1));
        bool *chk = malloc((size_t)ny + 1);
        cr_assert(ref && chk);
        for (int64_t j = 0; j < ny; j++) {
            unravel(j, &want, o);
            double va = nn_round(dt, xv[ravel(o, &xs)]);
            o[a] += want.dims[a];
            double vb = nn_round(dt, xv[ravel(o, &xs)]);
            ref[j] = va / (1 + exp(-vb));
            chk[j] = tame(va) && tame(vb);
        }
        nn_expect_close(y, ref, NULL, chk, nn_tol(dt), fn);
        free(xv);
        free(ref);
        free(chk);
    }
    bool ok = y != NULL;
    done(y);
    if (ok) nn_gradcheck((nn_gc){.fn = fn, .kind = GC_GLU, .axis = axis}, (npg_array *[]){x}, 1, true);
}

/* ---- one_hot ---- */

static void fz_nn_one_hot(void) {
    const char *fn = "npg_one_hot";
    static const int64_t wild[] = {0, -2, INT64_MIN, INT64_MAX, (int64_t)1 << 47, (int64_t)1 << 62};
    int64_t nc = chance(20) ? -1 : chance(85) ? rint_in(1, 5) : PICK(wild);
    npg_shape ls = rand_shape();
    /* wild labels only against a given num_classes (-1 would make one of 2^31 a class count); -1 with
     * labels near INT64_MAX now and then (max + 1 must not overflow) */
    npg_array *lab = nc == -1 && chance(4)
                         ? int_operand(ls, INT64_MAX - 1, INT64_MAX, 0)
                         : int_operand(ls, 0, nc > 0 && nc <= 5 ? nc - 1 : 4, nc == -1 || chance(70) ? 0 : 8);
    bool valid = false, range_err = false, small = true;
    int64_t lo = 0, hi = -1, n = numel_of(ls), eff = nc;
    if (lab) {
        npg_dtype dt = npg_dtype_of(lab);
        bool ok = t_is_int(dt) && ls.ndim < NPG_MAX_DIMS && (nc >= 1 || nc == -1) && !(n == 0 && nc == -1);
        if (ok && n > 0) {
            unsigned char *b = read_bytes(lab);
            for (int64_t j = 0; j < n; j++) {
                int64_t l = fz_get_i64(b, dt, j); /* a uint64 past INT64_MAX: INT64_MAX, as far outside */
                if (j == 0 || l < lo) lo = l;
                if (j == 0 || l > hi) hi = l;
            }
            free(b);
            if (nc == -1) eff = hi < INT64_MAX ? hi + 1 : hi;
            range_err = lo < 0 || hi >= eff;
        }
        valid = ok && !range_err;
        small = eff <= 64 && (double)(n ? n : 1) * (double)eff <= 65536;
    }
    call("%s(labels, %lld)", fn, (long long)nc);
    arg(lab);
    if (lab && !valid) must_fail();
    go();
    npg_array *y = npg_one_hot(lab, nc);
    nn_named(y == NULL, fn);
    if (lab && valid && small) VALID_FAILED(y);
    if (!y && lab && range_err && !C.sentinel)
        CHECK(npg_last_status() == NPG_ERR_INDEX,
              "%s: a label outside [0, %lld) gave status %s instead of NPG_ERR_INDEX: %s", fn, (long long)eff,
              npg_status_string(npg_last_status()), npg_last_error());
    if (y && valid) {
        npg_shape want = ls;
        want.dims[want.ndim++] = eff;
        expect_shape(y, want, fn);
        nn_expect_dtype(y, NPG_INT64, fn);
        CHECK(!npg_requires_grad(y), "%s: the result requires grad", fn);
        /* row j is 1 at its label and 0 elsewhere (so it sums to 1) */
        int64_t ny = npg_size(y);
        if (ny <= 65536) {
            int64_t *got = (int64_t *)read_bytes(y);
            double *v = nn_in(lab);
            for (int64_t j = 0; j < ny; j++) {
                int64_t l = (int64_t)v[j / eff], w = l == j % eff;
                if (got[j] != w) {
                    long long g = (long long)got[j];
                    free(got);
                    free(v);
                    fail("%s: element %lld is %lld, expected %lld (label %lld)", fn, (long long)j, g, (long long)w,
                         (long long)l);
                }
            }
            free(got);
            free(v);
        }
    }
    done(y);
}

/* ---- cosine_similarity ---- */

static void fz_nn_cosine(void) {
    const char *fn = "npg_cosine_similarity";
    npg_shape s1 = rand_shape(), s2 = chance(85) ? bcast_partner(s1) : rand_shape();
    if (chance(50)) {
        npg_shape t = s1;
        s1 = s2;
        s2 = t;
    }
    npg_shape bs = {0};
    npg_shape pair[2] = {s1, s2};
    bool bc = bcast_shapes(pair, 2, &bs);
    int axis = rand_axis(bc ? bs.ndim : 2), a = 0;
    double eps = chance(70) ? 1e-8 : chance(50) ? PICK(((const double[]){0, 1e-3, 1, INFINITY})) : weird_double();
    npg_dtype dt = nn_dt();
    npg_array *x1 = operand(chance(85) ? dt : nn_dt(), s1), *x2 = operand(chance(85) ? dt : nn_dt(), s2);
    bool valid = bc && bs.ndim >= 1 && norm_axis(axis, bs.ndim, &a) && eps >= 0;
    call("%s(x1, x2, %d, %g)", fn, axis, eps);
    arg(x1);
    arg(x2);
    if (!valid) must_fail();
    ng_maybe();
    go();
    npg_array *y = npg_cosine_similarity(x1, x2, axis, eps);
    nn_named(y == NULL, fn);
    nn_ng_end();
    if (x1 && x2 && valid) VALID_FAILED(y);
    double minnorm = INFINITY; /* the smallest norm of a vector compared */
    if (y && valid) {
        npg_shape want = {.ndim = bs.ndim - 1};
        for (int i = 0, k = 0; i < bs.ndim; i++)
            if (i != a) want.dims[k++] = bs.dims[i];
        expect_shape(y, want, fn);
        nn_expect_floating(y, fn);
        nn_expect_rg(y, fn);
        npg_dtype rdt = npg_dtype_of(y);
        double epsr = nn_round(rdt, eps); /* eps as the dtype holds it (1e-310 is 0 in float32) */
        double *v1 = nn_in(x1), *v2 = nn_in(x2);
        int64_t ny = npg_size(y), o[NPG_MAX_DIMS], len = bs.dims[a];
        double *ref = malloc(sizeof(double) * (size_t)(ny + 1));
        bool *chk = malloc((size_t)ny + 1), *fin = malloc((size_t)ny + 1);
        if (len == 0) minnorm = 0;
        cr_assert(ref && chk && fin);
        for (int64_t j = 0; j < ny; j++) {
            unravel(j, &want, o);
            int64_t idx[NPG_MAX_DIMS];
            for (int i = 0, k = 0; i < bs.ndim; i++) idx[i] = i == a ? 0 : o[k++];
            double d = 0, n1 = 0, n2 = 0;
            bool t = true, f = true;
            for (int64_t l = 0; l < len; l++) {
                idx[a] = l;
                double p = nn_round(rdt, v1[bcast_src(idx, &bs, &s1)]), q = nn_round(rdt, v2[bcast_src(idx, &bs, &s2)]);
                t = t && tame(p) && tame(q);
                f = f && isfinite(p) && isfinite(q);
                d += p * q;
                n1 += p * p;
                n2 += q * q;
            }
            n1 = sqrt(n1);
            n2 = sqrt(n2);
            if (n1 < minnorm) minnorm = n1;
            if (n2 < minnorm) minnorm = n2;
            ref[j] = d / (n1 > epsr ? n1 : epsr) / (n2 > epsr ? n2 : epsr);
            /* an empty axis with eps 0: 0 / 0 by the formula, but 0 as a sum of nothing; either will do */
            chk[j] = t && isfinite(eps) && !(len == 0 && epsr == 0);
            /* the header's limit: norms are sqrt(sum(x^2)), whose squares
             * underflow below about 1e-154 (1e-19 in float32), so the bound
             * holds for eps above that */
            fin[j] = f && epsr > 0 && epsr >= (rdt == NPG_FLOAT64 ? 1e-150 : 1e-18);
        }
        /* within [-1, 1] for finite inputs (eps > 0: a zero vector gives 0, not NaN) */
        double *got = t_read(y);
        for (int64_t j = 0; j < ny; j++)
            if (fin[j] && !(got[j] >= -1 - 1e-6 && got[j] <= 1 + 1e-6)) {
                double g = got[j];
                free(got);
                fail("%s: element %lld is %.17g, outside [-1, 1] for finite inputs", fn, (long long)j, g);
            }
        free(got);
        nn_expect_close(y, ref, NULL, chk, nn_tol(rdt), fn);
        free(v1);
        free(v2);
        free(ref);
        free(chk);
        free(fin);
    }
    bool ok = y != NULL;
    done(y);
    if (ok)
        nn_gradcheck((nn_gc){.fn = fn, .kind = GC_COS, .axis = axis, .eps = eps}, (npg_array *[]){x1, x2}, 2,
                     eps <= 1e-3 && minnorm >= 0.01 && isfinite(minnorm));
}

/* ---- losses ---- */

enum { NN_L1, NN_SMOOTH_L1, NN_HUBER, NN_KL, NN_BCE, NN_NLOSS };
static const char *const NN_LOSS_NAME[NN_NLOSS] = {"npg_l1_loss", "npg_smooth_l1_loss", "npg_huber_loss", "npg_kl_div",
                                                   "npg_binary_cross_entropy"};

/* Pointwise loss and the scale of its rounding (the magnitudes it sums). */
static double nn_clamped_log(double q) {
    if (q == 0) return -100;
    double l = log(q);
    return isnan(l) ? l : l > -100 ? l : -100;
}
static double nn_loss_ref(int f, double p, double t, double prm, bool logt, double *sc) {
    double d = p - t, ad = fabs(d);
    *sc = fabs(p) + fabs(t);
    switch (f) {
    case NN_L1: return ad;
    case NN_SMOOTH_L1:
        if (prm == 0) return ad;
        *sc = *sc * (1 + *sc / prm) + prm;
        return ad < prm ? 0.5 * d * d / prm : ad - 0.5 * prm;
    case NN_HUBER:
        *sc = *sc * (*sc + prm) + prm * prm;
        return ad < prm ? 0.5 * d * d : prm * (ad - 0.5 * prm);
    case NN_KL:
        if (logt) {
            *sc = exp(t) * (fabs(t) + fabs(p));
            return exp(t) * (t - p);
        }
        if (t == 0) return 0;
        *sc = fabs(t) * (fabs(log(fabs(t))) + fabs(p));
        return t * (log(t) - p);
    default:
        if (p < 0 || p > 1) return NAN;
        *sc = (fabs(t) + fabs(1 - t)) * 100;
        return -(t * nn_clamped_log(p) + (1 - t) * nn_clamped_log(1 - p));
    }
}

static npg_array *nn_loss_call(int f, npg_array *p, npg_array *t, npg_reduction red, double prm, bool logt) {
    switch (f) {
    case NN_L1: return npg_l1_loss(p, t, red);
    case NN_SMOOTH_L1: return npg_smooth_l1_loss(p, t, red, prm);
    case NN_HUBER: return npg_huber_loss(p, t, red, prm);
    case NN_KL: return npg_kl_div(p, t, red, logt);
    default: return npg_binary_cross_entropy(p, t, red);
    }
}

static void fz_nn_loss(void) {
    int f = rint_in(0, NN_NLOSS - 1);
    const char *fn = NN_LOSS_NAME[f];
    npg_shape s1 = rand_shape(), s2 = chance(80) ? (chance(50) ? s1 : bcast_partner(s1)) : rand_shape();
    if (chance(50)) {
        npg_shape t = s1;
        s1 = s2;
        s2 = t;
    }
    npg_shape bs = {0};
    npg_shape pair[2] = {s1, s2};
    bool bc = bcast_shapes(pair, 2, &bs);
    npg_reduction red = chance(95) ? (npg_reduction)rint_in(0, 2) : (npg_reduction)PICK(((const int[]){-1, 3, 100}));
    double prm = f == NN_SMOOTH_L1 || f == NN_HUBER ? (chance(10)   ? 0.0
                                                       : chance(80) ? (chance(30) ? 1.0 : nn_param(0, 2, 0))
                                                                    : weird_double())
                                                    : 0;
    bool logt = chance(40);
    bool valid = bc && red >= NPG_REDUCTION_MEAN && red <= NPG_REDUCTION_NONE &&
                 (f == NN_SMOOTH_L1 ? prm >= 0 && isfinite(prm)
                  : f == NN_HUBER   ? prm > 0 && isfinite(prm)
                                    : true);
    npg_dtype dt = nn_dt();
    npg_array *p, *t;
    if (f == NN_BCE && npg_is_floating(dt) && chance(70)) p = nn_vals_operand(dt, s1, gen_prob);
    else p = operand(dt, s1);
    if (f == NN_KL && !logt && chance(60)) t = nn_vals_operand(rand_float_dtype(), s2, gen_prob);
    else t = operand(chance(85) ? dt : nn_dt(), s2);
    call("%s(pred, target, reduction %d, %s%g)", fn, (int)red, f == NN_KL ? "log_target " : "param ",
         f == NN_KL ? (double)logt : prm);
    arg(p);
    arg(t);
    if (!valid) must_fail();
    ng_maybe();
    go();
    npg_array *y = nn_loss_call(f, p, t, red, prm, logt);
    nn_named(y == NULL, fn);
    nn_ng_end();
    if (p && t && valid) VALID_FAILED(y);
    bool smooth = true;
    if (y && valid) {
        npg_shape want = red == NPG_REDUCTION_NONE ? bs : (npg_shape){0};
        expect_shape(y, want, fn);
        nn_expect_floating(y, fn);
        nn_expect_rg(y, fn);
        /* pointwise references where the inputs and parameters are tame */
        npg_dtype rdt = npg_dtype_of(y);
        double *pv = nn_in(p), *tv = nn_in(t);
        int64_t n = numel_of(bs), o[NPG_MAX_DIMS];
        double *ref = malloc(sizeof(double) * (size_t)(n + 1)), *sc = malloc(sizeof(double) * (size_t)(n + 1));
        bool *chk = malloc((size_t)n + 1), all = true;
        cr_assert(ref && sc && chk);
        double sum = 0, ssum = 0;
        for (int64_t j = 0; j < n; j++) {
            unravel(j, &bs, o);
            double a = nn_round(rdt, pv[bcast_src(o, &bs, &s1)]), b = nn_round(rdt, tv[bcast_src(o, &bs, &s2)]);
            ref[j] = nn_loss_ref(f, a, b, prm, logt, &sc[j]);
            chk[j] = tame(a) && tame(b) && (f != NN_KL || !logt || fabs(b) <= 30) && nn_tame_param(prm) &&
                     (prm == 0 || prm >= 1e-3);
            all = all && chk[j];
            sum += ref[j];
            ssum += sc[j];
        }
        if (red == NPG_REDUCTION_NONE) {
            nn_expect_close(y, ref, sc, chk, nn_tol(rdt), fn);
        } else if (all) {
            double w = red == NPG_REDUCTION_SUM ? sum : sum / (double)n,
                   ws = red == NPG_REDUCTION_SUM ? ssum : ssum / (double)n;
            if (n == 0) ws = 0;
            nn_expect_close(y, &w, &ws, NULL, nn_tol(rdt) * 4, fn);
        }
        for (int64_t j = 0; j < n; j++) { /* away from the kinks and the domain's ends */
            unravel(j, &bs, o);
            double a = pv[bcast_src(o, &bs, &s1)], b = tv[bcast_src(o, &bs, &s2)], d = fabs(a - b);
            if ((f == NN_L1 || f == NN_SMOOTH_L1 || f == NN_HUBER) && d < 1e-3) smooth = false;
            if ((f == NN_SMOOTH_L1 || f == NN_HUBER) && fabs(d - prm) < 1e-3) smooth = false;
            if (f == NN_KL && !logt && b < 1e-3) smooth = false;
            if (f == NN_BCE && (a < 1e-3 || a > 1 - 1e-3)) smooth = false;
        }
        free(pv);
        free(tv);
        free(ref);
        free(sc);
        free(chk);
    }
    bool ok = y != NULL && !(red == NPG_REDUCTION_MEAN && numel_of(bs) == 0); /* the mean of nothing is NaN */
    done(y);
    if (ok)
        nn_gradcheck((nn_gc){.fn = fn, .kind = GC_LOSS, .f = f, .red = red, .prm = prm, .logt = logt},
                     (npg_array *[]){p, t}, 2, smooth && nn_tame_param(prm));
}

/* ---- huge broadcast views ---- */

#define NN_BIG(...) ((npg_shape){NELEM(((const int64_t[]){__VA_ARGS__})), {__VA_ARGS__}})

/* A broadcast view of shape big (of 2^47 or more elements, which no
 * allocation can hold in any dtype) of a small fresh array, pooled; *base
 * receives the array it views. */
static npg_array *nn_huge(npg_dtype dt, npg_shape big, npg_array **base) {
    npg_shape bs = big;
    for (int i = 0; i < bs.ndim; i++)
        if (bs.dims[i] > 4 || chance(50)) bs.dims[i] = 1;
    *base = fresh(dt, bs);
    if (npg_is_floating(dt) && chance(30)) setup_rg(*base);
    pool_add(*base, NULL);
    npg_array *x = npg_broadcast_to(*base, big);
    cr_assert(x, "fuzz setup: a huge broadcast view: %s", npg_last_error());
    return pool_add(x, *base);
}
/* A small fresh operand (never NULL). */
static npg_array *nn_small(npg_dtype dt, npg_shape s) { return make(dt, s, 30); }

enum {
    NNH_CONV1D,
    NNH_CONVT1D,
    NNH_CONVT2D,
    NNH_POOL,
    NNH_INTERP,
    NNH_RMS,
    NNH_LSTM,
    NNH_GRU,
    NNH_ACT,
    NNH_GLU,
    NNH_COS,
    NNH_LOSS,
    NNH_COUNT
};

/* Every function on a huge broadcast view, shaped so that the first op that
 * materialises anything must allocate at least 2^46 elements (never a
 * reduction over a long broadcast axis, which would compute for hours;
 * one_hot is left out: it reads the labels' min and max first): the call
 * fails with a status and a message that begins with the function's name,
 * nothing leaked, the small operands and the view's base unchanged. */
static void fz_nn_huge(void) {
    int f = rint_in(0, NNH_COUNT - 1);
    npg_dtype dt = nn_dt();
    npg_array *base = NULL, *x = NULL, *sm[6] = {NULL};
    int nsm = 0;
    char what[200];
    const char *fn = NULL;
    npg_array *y = NULL, *o2 = UNSET;
    npg_status st = NPG_OK;
    int r = rint_in(0, 99);
    switch (f) {
    case NNH_CONV1D:
    case NNH_CONVT1D: {
        bool tr = f == NNH_CONVT1D;
        fn = tr ? "npg_conv_transpose1d" : "npg_conv1d";
        x = nn_huge(dt, NN_BIG((int64_t)1 << 45, 2, 4), &base);
        npg_array *w = sm[nsm++] = nn_small(dt, tr ? NN_BIG(2, 3, 2) : NN_BIG(3, 2, 2));
        npg_array *b = chance(50) ? (sm[nsm++] = nn_small(dt, NN_BIG(3))) : NULL;
        snprintf(what, sizeof what, "%s(huge x (2^45, 2, 4), w, %s)", fn, b ? "b" : "NULL");
        call("%s", what);
        for (int i = 0; i < nsm; i++) opt_arg(sm[i]);
        opt_arg(base);
        must_fail();
        go();
        y = tr ? npg_conv_transpose1d(x, w, b, r < 50 ? NULL : NPG_CONV_TRANSPOSE1D_OPTS(.stride = 2, .padding = 1))
               : npg_conv1d(x, w, b, r < 50 ? NULL : NPG_CONV1D_OPTS(.padding = 1));
        break;
    }
    case NNH_CONVT2D: {
        fn = "npg_conv_transpose2d";
        x = nn_huge(dt, NN_BIG((int64_t)1 << 43, 2, 2, 4), &base);
        npg_array *w = sm[nsm++] = nn_small(dt, NN_BIG(2, 3, 2, 2));
        call("%s(huge x (2^43, 2, 2, 4), w, NULL)", fn);
        for (int i = 0; i < nsm; i++) opt_arg(sm[i]);
        opt_arg(base);
        must_fail();
        go();
        y = npg_conv_transpose2d(x, w, NULL, r < 50 ? NULL : NPG_CONV_TRANSPOSE2D_OPTS(.stride = {2, 1}));
        break;
    }
    case NNH_POOL: {
        fn = "npg_adaptive_avg_pool2d";
        x = nn_huge(dt, r < 50 ? NN_BIG((int64_t)1 << 46, 2, 2) : NN_BIG((int64_t)1 << 24, (int64_t)1 << 23, 2, 2),
                    &base);
        int64_t oh = rint_in(1, 3), ow = rint_in(1, 3);
        call("%s(huge x (%s), %lld, %lld)", fn, r < 50 ? "2^46, 2, 2" : "2^24, 2^23, 2, 2", (long long)oh,
             (long long)ow);
        opt_arg(base);
        must_fail();
        go();
        y = npg_adaptive_avg_pool2d(x, oh, ow);
        break;
    }
    case NNH_INTERP: {
        fn = "npg_interpolate";
        int na = rint_in(1, 2);
        x = nn_huge(dt, na == 1 ? NN_BIG((int64_t)1 << 46, 2) : NN_BIG((int64_t)1 << 45, 2, 2), &base);
        int64_t size[2] = {rint_in(3, 4), rint_in(1, 4)}; /* the first axis resampled grows */
        int mode = rint_in(0, 2);
        call("%s(huge x, naxes=%d, size={%lld %lld}, mode=%d)", fn, na, (long long)size[0], (long long)size[1], mode);
        opt_arg(base);
        must_fail();
        go();
        y = npg_interpolate(x, na, size, (npg_interp_mode)mode, chance(50));
        break;
    }
    case NNH_RMS: {
        fn = "npg_rms_norm";
        bool sq = r < 50;
        x = nn_huge(dt, sq ? NN_BIG((int64_t)1 << 24, (int64_t)1 << 24) : NN_BIG((int64_t)1 << 46, 2), &base);
        npg_array *w = !sq && chance(60) ? (sm[nsm++] = nn_small(rand_float_dtype(), NN_BIG(2))) : NULL;
        int k = sq ? rint_in(1, 2) : 1;
        call("%s(huge x, %d, %s, 1e-6)", fn, k, w ? "w" : "NULL");
        for (int i = 0; i < nsm; i++) opt_arg(sm[i]);
        opt_arg(base);
        must_fail();
        go();
        y = npg_rms_norm(x, k, w, 1e-6);
        break;
    }
    case NNH_LSTM:
    case NNH_GRU: {
        bool lstm = f == NNH_LSTM;
        fn = lstm ? "npg_lstm_cell" : "npg_gru_cell";
        int64_t G = lstm ? 4 : 3, H = rint_in(1, 2);
        bool big_x = r < 50;
        npg_array *h = NULL, *c = NULL, *xx;
        if (big_x) {
            xx = x = nn_huge(dt, NN_BIG((int64_t)1 << 46, 2), &base);
            if (chance(50)) h = sm[nsm++] = nn_small(dt, chance(50) ? NN_BIG(1, H) : NN_BIG(H));
        } else {
            xx = sm[nsm++] = nn_small(dt, chance(50) ? NN_BIG(1, 2) : NN_BIG(2));
            h = x = nn_huge(dt, NN_BIG((int64_t)1 << 46, H), &base);
        }
        if (lstm && chance(50)) c = sm[nsm++] = nn_small(dt, NN_BIG(H));
        npg_array *wi = sm[nsm++] = nn_small(dt, NN_BIG(G * H, 2)), *wh = sm[nsm++] = nn_small(dt, NN_BIG(G * H, H));
        npg_array *bi = chance(50) ? (sm[nsm++] = nn_small(dt, NN_BIG(G * H))) : NULL;
        call("%s(%s, %s, %s, w_ih, w_hh, %s, NULL)", fn, big_x ? "huge x (2^46, 2)" : "x",
             big_x ? (h ? "h" : "NULL") : "huge h (2^46, H)", c ? "c" : "NULL", bi ? "b_ih" : "NULL");
        for (int i = 0; i < nsm; i++) opt_arg(sm[i]);
        opt_arg(base);
        must_fail();
        go();
        if (lstm) {
            st = npg_lstm_cell(xx, h, c, wi, wh, bi, NULL, &y, &o2);
        } else {
            y = npg_gru_cell(xx, h, wi, wh, bi, NULL);
            o2 = NULL;
        }
        break;
    }
    case NNH_ACT: {
        static const char *const shn[] = {"2^24, 2^24", "2^47", "3, 2^46", "2^20, 3, 2^28"};
        int k = rint_in(0, 3), a = rint_in(0, NN_NACT - 1);
        npg_shape s = k == 0   ? NN_BIG((int64_t)1 << 24, (int64_t)1 << 24)
                      : k == 1 ? NN_BIG((int64_t)1 << 47)
                      : k == 2 ? NN_BIG(3, (int64_t)1 << 46)
                               : NN_BIG((int64_t)1 << 20, 3, (int64_t)1 << 28);
        fn = NN_ACT_NAME[a];
        x = nn_huge(dt, s, &base);
        call("%s(huge x (%s))", fn, shn[k]);
        opt_arg(base);
        must_fail();
        go();
        y = nn_act_call(a, x, 0.5, -1, 1);
        break;
    }
    case NNH_GLU: {
        fn = "npg_glu";
        int k = rint_in(0, 2), axis;
        npg_shape s;
        if (k == 0) s = NN_BIG((int64_t)1 << 24, (int64_t)1 << 24), axis = rint_in(-2, 1);
        else if (k == 1) s = NN_BIG(2, (int64_t)1 << 47), axis = chance(50) ? 0 : -2;
        else s = NN_BIG((int64_t)1 << 47, 2), axis = chance(50) ? 1 : -1;
        x = nn_huge(dt, s, &base);
        call("%s(huge x, %d)", fn, axis);
        opt_arg(base);
        must_fail();
        go();
        y = npg_glu(x, axis);
        break;
    }
    case NNH_COS: {
        fn = "npg_cosine_similarity";
        /* the similarity axis is the short one */
        bool tall = r < 50, swap = chance(50);
        x = nn_huge(dt, tall ? NN_BIG((int64_t)1 << 46, 2) : NN_BIG(2, (int64_t)1 << 46), &base);
        npg_array *o = sm[nsm++] =
            nn_small(chance(80) ? dt : nn_dt(), tall ? (chance(50) ? NN_BIG(2) : NN_BIG(1, 2)) : NN_BIG(2, 1));
        int axis = tall ? (chance(50) ? 1 : -1) : (chance(50) ? 0 : -2);
        call("%s(%s, %s, %d, 1e-8)", fn, swap ? "x1" : "huge x1", swap ? "huge x2" : "x2", axis);
        for (int i = 0; i < nsm; i++) opt_arg(sm[i]);
        opt_arg(base);
        must_fail();
        go();
        y = swap ? npg_cosine_similarity(o, x, axis, 1e-8) : npg_cosine_similarity(x, o, axis, 1e-8);
        break;
    }
    default: {
        int l = rint_in(0, NN_NLOSS - 1);
        fn = NN_LOSS_NAME[l];
        bool sq = r < 50, swap = chance(40);
        x = nn_huge(dt, sq ? NN_BIG((int64_t)1 << 24, (int64_t)1 << 24) : NN_BIG((int64_t)1 << 46, 2), &base);
        npg_shape ss = sq ? (chance(50) ? (npg_shape){0} : NN_BIG(1, 1)) : (chance(50) ? NN_BIG(2) : NN_BIG(1));
        npg_array *o = sm[nsm++] = nn_small(chance(80) ? dt : nn_dt(), ss);
        npg_reduction red = (npg_reduction)rint_in(0, 2);
        call("%s(%s, %s, reduction %d)", fn, swap ? "pred" : "huge pred", swap ? "huge target" : "target", (int)red);
        for (int i = 0; i < nsm; i++) opt_arg(sm[i]);
        opt_arg(base);
        must_fail();
        go();
        y = nn_loss_call(l, swap ? o : x, swap ? x : o, red, 1.0, chance(50));
        break;
    }
    }
    if (f != NNH_LSTM) st = y ? NPG_OK : npg_last_status();
    nn_named(st != NPG_OK, fn);
    after(st != NPG_OK);
    if (st != NPG_OK) {
        CHECK(y == NULL && (o2 == NULL || o2 == UNSET) && (f != NNH_LSTM || o2 == NULL),
              "huge: %s failed but left an output", fn);
    } else {
        check_sane(y);
        if (o2 && o2 != UNSET) check_sane(o2);
    }
    check_unchanged(st == NPG_OK);
    npg_free(y);
    if (o2 != UNSET) npg_free(o2);
}

/* ---- the test ---- */

Test(fuzz2, nn_layers) {
    int n = start("nn_layers", 29, 1500);
    for (int it = 0; it < n; it++) {
        iter_begin(it);
        int r = rint_in(0, 99);
        if (r < 8) fz_nn_conv(1, false);
        else if (r < 15) fz_nn_conv(1, true);
        else if (r < 22) fz_nn_conv(2, true);
        else if (r < 28) fz_nn_adaptive_pool();
        else if (r < 36) fz_nn_interpolate();
        else if (r < 42) fz_nn_rms_norm();
        else if (r < 48) fz_nn_cell(NPG_RNN_LSTM);
        else if (r < 53) fz_nn_cell(NPG_RNN_GRU);
        else if (r < 65) fz_nn_activation();
        else if (r < 70) fz_nn_glu();
        else if (r < 76) fz_nn_one_hot();
        else if (r < 82) fz_nn_cosine();
        else if (r < 96) fz_nn_loss();
        else fz_nn_huge();
        iter_end();
    }
    finish();
}

/* ------------------------------------------------------------------------
 * Statistics and comparisons (ops_stats.c): quantile, nanquantile, median,
 * nanmedian, nansum, nanmean, topk, isclose, allclose, cov, corrcoef,
 * bincount, histogram
 * ------------------------------------------------------------------------ */

static npg_dtype st_dt(void) {
    static const npg_dtype w[] = {NPG_BOOL,    NPG_UINT8,   NPG_INT32,   NPG_INT64,   NPG_INT64,   NPG_INT8,
                                  NPG_INT16,   NPG_UINT16,  NPG_UINT32,  NPG_UINT64,  NPG_FLOAT32, NPG_FLOAT32,
                                  NPG_FLOAT32, NPG_FLOAT32, NPG_FLOAT32, NPG_FLOAT64, NPG_FLOAT64, NPG_FLOAT64,
                                  NPG_FLOAT64, NPG_FLOAT64, NPG_FLOAT64};
    return PICK(w);
}

/* A shape: rand_shape's, or 7 and 8 axes (the library's limit) of lengths
 * 1 to 3 (at most 64 elements) now and then. */
static npg_shape st_shape(void) {
    if (!chance(15)) return rand_shape();
    npg_shape s = {.ndim = chance(50) ? NPG_MAX_DIMS : NPG_MAX_DIMS - 1};
    int64_t n = 1;
    for (int i = 0; i < s.ndim; i++) {
        int64_t d = chance(5) ? 0 : chance(55) ? 1 : rint_in(2, 3);
        if (n * d > 64) d = 1;
        if (d) n *= d;
        s.dims[i] = d;
    }
    return s;
}

/* Values with ties (small integers and halves, signed zeros), NaN of both
 * signs, infinities, tiny and huge values, and the integer extremes. */
static void st_fill_vals(void *buf, npg_dtype dt, int64_t n) {
    static const double e[] = {NAN, -NAN, INFINITY, -INFINITY, -0.0, 0.0, 1e-310, 1e30, -1e30, 0.1, 1.0, -1.0};
    static const int8_t e8[] = {INT8_MIN, INT8_MAX, -7, INT8_MIN + 1};
    static const int16_t e16[] = {INT16_MIN, INT16_MAX, -7, 2049};
    static const int32_t e32[] = {INT32_MIN, INT32_MAX, (1 << 24) + 1, -7};
    static const int64_t e64[] = {INT64_MIN, INT64_MAX, ((int64_t)1 << 53) + 1, -((int64_t)1 << 40)};
    static const uint16_t eu16[] = {UINT16_MAX, 0x8000, 2049, 7};
    static const uint32_t eu32[] = {UINT32_MAX, 0x80000000u, (1u << 24) + 1, UINT32_MAX - 1};
    static const uint64_t eu64[] = {UINT64_MAX, (uint64_t)1 << 63, ((uint64_t)1 << 53) + 1, UINT64_MAX - 1,
                                    (uint64_t)INT64_MAX};
    for (int64_t i = 0; i < n; i++) {
        int r = rint_in(0, 99);
        double v = r < 50 ? rint_in(-3, 3) * (chance(25) ? 0.5 : 1.0) : r < 82 ? runit() * 6 - 3 : PICK(e);
        switch (dt) {
        case NPG_BOOL: ((uint8_t *)buf)[i] = (uint8_t)(rnd() & 1); break;
        case NPG_UINT8: ((uint8_t *)buf)[i] = chance(90) ? (uint8_t)rint_in(0, 5) : (uint8_t)rnd(); break;
        case NPG_INT8: ((int8_t *)buf)[i] = chance(92) ? (int8_t)rint_in(-3, 3) : PICK(e8); break;
        case NPG_INT16: ((int16_t *)buf)[i] = chance(92) ? (int16_t)rint_in(-3, 3) : PICK(e16); break;
        case NPG_INT32: ((int32_t *)buf)[i] = chance(92) ? rint_in(-3, 3) : PICK(e32); break;
        case NPG_INT64: ((int64_t *)buf)[i] = chance(92) ? rint_in(-3, 3) : PICK(e64); break;
        case NPG_UINT16: ((uint16_t *)buf)[i] = chance(92) ? (uint16_t)rint_in(0, 5) : PICK(eu16); break;
        case NPG_UINT32: ((uint32_t *)buf)[i] = chance(92) ? (uint32_t)rint_in(0, 5) : PICK(eu32); break;
        case NPG_UINT64: ((uint64_t *)buf)[i] = chance(92) ? (uint64_t)rint_in(0, 5) : PICK(eu64); break;
        case NPG_FLOAT32:
        case NPG_FLOAT64:
        case NPG_FLOAT16:
        case NPG_BFLOAT16: fz_put_f(buf, dt, i, v); break;
        default: cr_assert_fail("fuzz: st_fill_vals: bad dtype %d", (int)dt);
        }
    }
}

/* Labels for bincount: mostly 0 to 8, sometimes negative or so large that
 * no count array of that length can be allocated (never a length of more
 * than 2^20 that could be). */
static int st_label_bad; /* percent of wild labels */
static void st_fill_labels(void *buf, npg_dtype dt, int64_t n) {
    static const int64_t big[] = {INT64_MAX, INT64_MAX - 1, (int64_t)1 << 47, (int64_t)1 << 62, -1, -2, INT64_MIN,
                                  INT32_MIN};
    static const int32_t big32[] = {-1, -2, INT32_MIN, -100};
    static const int16_t big16[] = {-1, -2, INT16_MIN, INT16_MAX};
    static const int8_t big8[] = {-1, -2, INT8_MIN, INT8_MAX};
    /* unsigned: long but allocatable, or (uint64) past 2^40, past INT64_MAX */
    static const uint32_t bigu32[] = {255, 256, 1000, UINT16_MAX};
    static const uint64_t bigu64[] = {UINT64_MAX, (uint64_t)1 << 63, (uint64_t)1 << 62, (uint64_t)1 << 47,
                                      (uint64_t)INT64_MAX};
    for (int64_t i = 0; i < n; i++) {
        bool wild = chance(st_label_bad);
        int64_t v = rint_in(0, 8);
        switch (dt) {
        case NPG_BOOL: ((uint8_t *)buf)[i] = (uint8_t)(rnd() & 1); break;
        case NPG_UINT8: ((uint8_t *)buf)[i] = wild ? (uint8_t)rnd() : (uint8_t)v; break;
        case NPG_INT8: ((int8_t *)buf)[i] = wild ? PICK(big8) : (int8_t)v; break;
        case NPG_INT16: ((int16_t *)buf)[i] = wild ? PICK(big16) : (int16_t)v; break;
        case NPG_INT32: ((int32_t *)buf)[i] = wild ? PICK(big32) : (int32_t)v; break;
        case NPG_INT64: ((int64_t *)buf)[i] = wild ? PICK(big) : v; break;
        case NPG_UINT16: ((uint16_t *)buf)[i] = wild ? (uint16_t)PICK(bigu32) : (uint16_t)v; break;
        case NPG_UINT32: ((uint32_t *)buf)[i] = wild ? PICK(bigu32) : (uint32_t)v; break;
        case NPG_UINT64: ((uint64_t *)buf)[i] = wild ? PICK(bigu64) : (uint64_t)v; break;
        case NPG_FLOAT32:
        case NPG_FLOAT64:
        case NPG_FLOAT16:
        case NPG_BFLOAT16: fz_put_f(buf, dt, i, wild ? (dt == NPG_FLOAT64 ? NAN : -1.5) : (double)v); break;
        default: cr_assert_fail("fuzz: st_fill_labels: bad dtype %d", (int)dt);
        }
    }
}


/* make()'s operands (a fresh array, or a permuted, step-sliced or broadcast
 * view of one) with values from fill; floating ones require grad grad_pct
 * percent of the time. */
static npg_array *st_make(npg_dtype dt, npg_shape s, int grad_pct, void (*fill)(void *, npg_dtype, int64_t)) {
    bool grad = npg_is_floating(dt) && chance(grad_pct);
    int r = s.ndim ? rint_in(0, 99) : 0;
    if (r < 50) {
        npg_array *x = fresh_with(dt, s, fill);
        if (grad) setup_rg(x);
        return pool_add(x, NULL);
    }
    npg_shape bs = s;
    npg_array *base, *x;
    if (r < 65 && s.ndim >= 2) {
        npg_axes p = rand_perm_of(s, &bs);
        base = fresh_with(dt, bs, fill);
        if (grad) setup_rg(base);
        x = npg_permute_dims(base, p);
    } else if (r < 85) {
        static const int64_t steps[] = {2, 3, -1, -2};
        int k = rint_in(0, s.ndim - 1);
        int64_t step = PICK(steps), as = step < 0 ? -step : step;
        bs.dims[k] = s.dims[k] * as;
        npg_idx idx[NPG_MAX_DIMS];
        for (int i = 0; i < s.ndim; i++) idx[i] = NPG_ALL;
        idx[k] = NPG_SLICE(step > 0 ? rint_in(0, (int)as - 1) : NPG_NONE, NPG_NONE, step);
        base = fresh_with(dt, bs, fill);
        if (grad) setup_rg(base);
        x = npg_index(base, idx, s.ndim);
    } else {
        int drop = rint_in(0, s.ndim);
        bs.ndim = s.ndim - drop;
        for (int i = 0; i < bs.ndim; i++) bs.dims[i] = chance(50) ? 1 : s.dims[i + drop];
        base = fresh_with(dt, bs, fill);
        if (grad) setup_rg(base);
        x = npg_broadcast_to(base, s);
    }
    cr_assert(x, "fuzz setup: a view: %s", npg_last_error());
    cr_assert(same_shape(npg_shape_of(x), s), "fuzz setup: a view of the wrong shape");
    pool_add(base, NULL);
    return pool_add(x, base);
}

/* An operand: NULL g_null_pct percent of the time, else make()'s common
 * values or the statistics' own. */
static npg_array *st_operand(npg_dtype dt, npg_shape s) {
    if (chance(g_null_pct)) return NULL;
    return chance(30) ? make(dt, s, 25) : st_make(dt, s, 25, st_fill_vals);
}

/* A set of axes: all, distinct valid ones (some negative), or rand_axes'
 * (repeated, out of range, bad counts). */
static npg_axes st_axes(int nd) {
    int r = rint_in(0, 99);
    if (r < 20) return NPG_ALL_AXES;
    if (r < 80 && nd > 0) return distinct_axes(nd, rint_in(1, nd));
    return rand_axes(nd);
}
/* The axes' mask for nd dims (n == 0: all), false when invalid. */
static bool st_mask(npg_axes a, int nd, uint32_t *mask) {
    int ax[NPG_MAX_DIMS];
    if (a.n == 0) {
        *mask = nd ? (1u << nd) - 1 : 0;
        return true;
    }
    if (!norm_unique(a, nd, ax)) return false;
    *mask = 0;
    for (int i = 0; i < a.n; i++) *mask |= 1u << ax[i];
    return true;
}

/* The reduction of shape xs over mask: *out the result shape, and for each
 * of the *nout results the row-major flat indices of its *nred reduced
 * elements (plan[j * nred + r], in row-major order of the reduced axes). */
static int64_t *st_plan(npg_shape xs, uint32_t mask, bool keepdims, npg_shape *out, int64_t *nout, int64_t *nred) {
    npg_shape ks = {0}, rs = {0};
    out->ndim = 0;
    for (int i = 0; i < xs.ndim; i++) {
        bool red = mask >> i & 1u;
        if (red) rs.dims[rs.ndim++] = xs.dims[i];
        else ks.dims[ks.ndim++] = xs.dims[i];
        if (keepdims) out->dims[out->ndim++] = red ? 1 : xs.dims[i];
        else if (!red) out->dims[out->ndim++] = xs.dims[i];
    }
    *nout = numel_of(ks);
    *nred = numel_of(rs);
    int64_t *plan = alloc_i64(*nout * *nred);
    int64_t ko[NPG_MAX_DIMS], ro[NPG_MAX_DIMS], idx[NPG_MAX_DIMS];
    for (int64_t j = 0; j < *nout; j++) {
        unravel(j, &ks, ko);
        for (int64_t r = 0; r < *nred; r++) {
            unravel(r, &rs, ro);
            for (int i = 0, a = 0, b = 0; i < xs.ndim; i++) idx[i] = mask >> i & 1u ? ro[b++] : ko[a++];
            plan[j * *nred + r] = ravel(idx, &xs);
        }
    }
    return plan;
}

/* Element i of row-major bytes b of dtype sd converted to floating dtype dd
 * as a cast does (int64 and uint64 -> float32 round once). */
static double st_conv(const unsigned char *b, npg_dtype sd, int64_t i, npg_dtype dd) {
    if (dd == NPG_FLOAT64) return elem_f(b, sd, i);
    cr_assert(dd == NPG_FLOAT32, "fuzz: st_conv to %s", npg_dtype_name(dd));
    if (sd == NPG_INT64) return (double)(float)((const int64_t *)b)[i];
    if (sd == NPG_UINT64) return (double)(float)((const uint64_t *)b)[i];
    return nn_round(NPG_FLOAT32, elem_f(b, sd, i));
}
/* Operand x's values as the call began, converted to dd (floating). */
static double *st_in(const npg_array *x, npg_dtype dd) {
    int64_t n = npg_size(x);
    double *v = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    cr_assert(v);
    const unsigned char *b = snap(x);
    for (int64_t i = 0; i < n; i++) v[i] = st_conv(b, npg_dtype_of(x), i, dd);
    return v;
}

/* r's values equal want exactly (NaN matching NaN, -0 matching 0). */
static void st_expect_exact(const npg_array *r, const double *want, const char *what) {
    int64_t n = npg_size(r);
    double *got = t_read(r);
    for (int64_t j = 0; j < n; j++) {
        double g = got[j], w = want[j];
        if (isnan(w) ? isnan(g) : g == w) continue;
        free(got);
        fail("%s: element %lld is %.17g, expected %.17g", what, (long long)j, g, w);
    }
    free(got);
}

/* A failed call with exactly one invalid argument reports its status. */
static void st_expect_status(bool failed, int causes, npg_status want, const char *fn) {
    if (!failed || causes != 1 || C.sentinel || C.null_op) return;
    npg_status st = npg_last_status();
    CHECK(st == want, "%s failed with status %d (%s), expected %d (%s): %s", fn, (int)st, npg_status_string(st),
          (int)want, npg_status_string(want), npg_last_error());
}

/* The result does not require grad, or requires it exactly when `want`. */
static void st_expect_rg(const npg_array *r, bool want, const char *fn) {
    if (g_nn_ng) want = false;
    CHECK(npg_requires_grad(r) == want, "%s: the result %s grad", fn, want ? "does not require" : "requires");
}

/* ---- quantile, nanquantile, median, nanmedian ---- */

static int st_cmp_nan_last(const void *pa, const void *pb) {
    double a = *(const double *)pa, b = *(const double *)pb;
    if (isnan(a) || isnan(b)) return isnan(a) - isnan(b);
    return a < b ? -1 : a > b;
}

/* npg.h's lerp between the order statistics a <= b at fraction t, in dt's
 * arithmetic: NumPy 1.24's (a + d t below 1/2, b - d (1 - t) from 1/2 on)
 * for finite values, but a where t = 0 or a = b, and the form that keeps an
 * infinite end (a + d t toward +inf, b - d (1 - t) from -inf), where NumPy
 * gives NaN (its open bug #21091). */
static double st_lerp(double a, double b, double t, bool f32) {
    if (!(t > 0) || a == b) return a;
    const bool hi = (t >= 0.5 && !isinf(b)) || isinf(a);
    if (f32) {
        float af = (float)a, bf = (float)b, tf = (float)t, df = bf - af;
        return hi ? bf - df * (1.0f - tf) : af + df * tf;
    }
    double d = b - a;
    return hi ? b - d * (1.0 - t) : a + d * t;
}

/* The quantile of v[0..n) (values in dtype dt) by NumPy 1.24's rules:
 * virtual index (count - 1) q; LINEAR the lerp above; LOWER floor, HIGHER
 * ceil, NEAREST round half to even; MIDPOINT the lerp at 1/2 where the index
 * is fractional, else the order statistic itself. NaN in v: NaN, or
 * (skip_nan) left out; nothing left: NaN. Sorts v. */
static double st_quantile_ref(double *v, int64_t n, double q, int method, bool skip_nan, npg_dtype dt) {
    qsort(v, (size_t)n, sizeof *v, st_cmp_nan_last);
    int64_t c = 0;
    while (c < n && !isnan(v[c])) c++;
    if (c < n && !skip_nan) return NAN;
    if (c == 0) return NAN;
    double pos = (double)(c - 1) * q, fl = floor(pos);
    int64_t lo = (int64_t)fl, hi = lo + 1 < c ? lo + 1 : c - 1;
    if (lo > c - 1) lo = c - 1;
    double a = v[lo], b = v[hi], t = pos - fl;
    bool f32 = dt == NPG_FLOAT32;
    switch (method) {
    case NPG_QUANTILE_LINEAR: return st_lerp(a, b, t, f32);
    case NPG_QUANTILE_LOWER: return a;
    case NPG_QUANTILE_HIGHER: return t > 0 ? b : a;
    case NPG_QUANTILE_NEAREST: {
        double r = nearbyint(pos);
        int64_t k = r < 0 ? 0 : r > (double)(c - 1) ? c - 1 : (int64_t)r;
        return v[k];
    }
    default: return t > 0 ? st_lerp(a, b, 0.5, f32) : a;
    }
}

/* NumPy's median of the sorted v[0..n) (NaN last): the middle element, or
 * (a + b) / 2 of the middle two in dt's arithmetic (npg.h: to the bit;
 * infinities give that infinity, or NaN for both signs). *slack is 0. */
static double st_median_ref(const double *v, int64_t n, bool skip_nan, npg_dtype dt, double *slack) {
    int64_t c = 0;
    while (c < n && !isnan(v[c])) c++;
    *slack = 0;
    if ((c < n && !skip_nan) || c == 0) return NAN;
    if (c % 2) return v[c / 2];
    double a = v[c / 2 - 1], b = v[c / 2];
    if (dt == NPG_FLOAT32) return (double)(((float)a + (float)b) * 0.5f);
    return (a + b) * 0.5;
}

static double st_q(void) {
    static const double good[] = {0.0, 1.0, 0.5, 0.25, 0.75, 1.0 / 3, 2.0 / 3, 0.1, 0.9, -0.0, 1e-300, 0.999999999};
    static const double bad[] = {NAN, -NAN, INFINITY, -INFINITY, -1e-300, 1.0000000000000002, -0.5, 2.0, 100.0};
    int r = rint_in(0, 99);
    return r < 45 ? PICK(good) : r < 90 ? runit() : PICK(bad);
}
static int st_method(void) {
    static const int bad[] = {-1, 5, 6, 100, INT_MIN, INT_MAX};
    return chance(93) ? rint_in(0, 4) : PICK(bad);
}

static void fz_st_quantile(int kind) {
    static const char *const name[] = {"npg_quantile", "npg_nanquantile", "npg_median", "npg_nanmedian"};
    const char *fn = name[kind];
    const bool skip = kind == 1 || kind == 3;
    npg_dtype dt = st_dt();
    npg_shape s = st_shape();
    npg_array *x = st_operand(dt, s);
    npg_axes axes = st_axes(s.ndim);
    bool kd = chance(50);
    double q = kind >= 2 ? 0.5 : st_q();
    int method = kind >= 2 ? NPG_QUANTILE_LINEAR : st_method();
    uint32_t mask = 0;
    bool ax_ok = st_mask(axes, s.ndim, &mask);
    int64_t nsel = 1;
    for (int i = 0; i < s.ndim; i++)
        if (mask >> i & 1u) nsel *= s.dims[i];
    bool q_ok = q >= 0 && q <= 1, m_ok = method >= NPG_QUANTILE_LINEAR && method <= NPG_QUANTILE_MIDPOINT;
    bool empty = ax_ok && nsel == 0;
    int causes = (dt == NPG_BOOL) + !q_ok + !m_ok + !ax_ok + empty;
    char ab[96];
    call("%s(x, q %.17g, axes %s, keepdims %d, method %d)", fn, q, axes_str(axes, ab, sizeof ab), kd, method);
    arg(x);
    if (causes) must_fail();
    ng_maybe();
    go();
    npg_array *y = kind == 0   ? npg_quantile(x, q, axes, kd, (npg_quantile_method)method)
                   : kind == 1 ? npg_nanquantile(x, q, axes, kd, (npg_quantile_method)method)
                   : kind == 2 ? npg_median(x, axes, kd)
                               : npg_nanmedian(x, axes, kd);
    nn_named(y == NULL, fn);
    nn_ng_end();
    st_expect_status(y == NULL, causes,
                     dt == NPG_BOOL ? NPG_ERR_DTYPE
                     : !q_ok || !m_ok ? NPG_ERR_INVALID_ARG
                     : !ax_ok         ? NPG_ERR_AXIS
                                      : NPG_ERR_SHAPE,
                     fn);
    if (x && !causes) {
        VALID_FAILED(y);
        npg_dtype rdt = nn_float_of(dt);
        npg_shape out;
        int64_t nout, nred, *plan = st_plan(s, mask, kd, &out, &nout, &nred);
        expect_shape(y, out, fn);
        nn_expect_dtype(y, rdt, fn);
        nn_expect_rg(y, fn);
        double *v = st_in(x, rdt), *row = malloc(sizeof(double) * (size_t)(nred + 1)),
               *want = malloc(sizeof(double) * (size_t)(nout + 1));
        cr_assert(row && want);
        double *slack = malloc(sizeof(double) * (size_t)(nout + 1));
        cr_assert(slack);
        for (int64_t j = 0; j < nout; j++) {
            for (int64_t r = 0; r < nred; r++) row[r] = v[plan[j * nred + r]];
            want[j] = st_quantile_ref(row, nred, q, method, skip, rdt);
            slack[j] = 0;
            if (kind >= 2) want[j] = st_median_ref(row, nred, skip, rdt, &slack[j]);
        }
        if (kind < 2) {
            st_expect_exact(y, want, fn);
        } else {
            double *got = t_read(y);
            for (int64_t j = 0; j < nout; j++) {
                double g = got[j], w = want[j];
                if (isnan(w) ? isnan(g) : g == w || fabs(g - w) <= slack[j]) continue;
                free(got);
                fail("%s: element %lld is %.17g, expected %.17g (NumPy's median: the middle element, or the mean of "
                     "the middle two)",
                     fn, (long long)j, g, w);
            }
            free(got);
        }
        free(slack);
        free(v);
        free(row);
        free(want);
        free(plan);
    }
    done(y);
}

/* ---- nansum, nanmean ---- */

static void fz_st_nansum(bool mean) {
    const char *fn = mean ? "npg_nanmean" : "npg_nansum";
    npg_dtype dt = st_dt();
    npg_shape s = st_shape();
    npg_array *x = st_operand(dt, s);
    npg_axes axes = st_axes(s.ndim);
    bool kd = chance(50);
    uint32_t mask = 0;
    bool ax_ok = st_mask(axes, s.ndim, &mask);
    char ab[96];
    call("%s(x, axes %s, keepdims %d)", fn, axes_str(axes, ab, sizeof ab), kd);
    arg(x);
    if (!ax_ok) must_fail();
    ng_maybe();
    go();
    npg_array *y = mean ? npg_nanmean(x, axes, kd) : npg_nansum(x, axes, kd);
    nn_named(y == NULL, fn);
    nn_ng_end();
    st_expect_status(y == NULL, !ax_ok, NPG_ERR_AXIS, fn);
    if (x && ax_ok) {
        VALID_FAILED(y);
        bool fl = npg_is_floating(dt);
        npg_dtype rdt = fl ? dt : mean ? npg__default_float() : dt == NPG_UINT64 ? NPG_UINT64 : NPG_INT64;
        npg_shape out;
        int64_t nout, nred, *plan = st_plan(s, mask, kd, &out, &nout, &nred);
        expect_shape(y, out, fn);
        nn_expect_dtype(y, rdt, fn);
        nn_expect_rg(y, fn);
        double *want = malloc(sizeof(double) * (size_t)(nout + 1)), *sc = malloc(sizeof(double) * (size_t)(nout + 1));
        bool *chk = malloc((size_t)nout + 1);
        cr_assert(want && sc && chk);
        if (!fl && !mean) { /* integer sums: exact, wrapping in int64 (uint64: in uint64, the same bits) */
            /* compared as int64 (t_read's doubles would round) */
            int64_t *got = (int64_t *)read_bytes(y);
            const unsigned char *xb = snap(x);
            for (int64_t j = 0; j < nout; j++) {
                uint64_t acc = 0;
                for (int64_t r = 0; r < nred; r++) acc += t_get_bits(dt, xb, plan[j * nred + r]);
                if (got[j] != (int64_t)acc) {
                    long long g = got[j];
                    free(got);
                    fail("%s: element %lld is %lld, expected %lld", fn, (long long)j, g, (long long)(int64_t)acc);
                }
            }
            free(got);
        } else {
            /* float sums where the values are tame (or infinite: then an
             * infinity, NaN with both signs) */
            double *v = st_in(x, rdt);
            for (int64_t j = 0; j < nout; j++) {
                double sum = 0, scale = 0;
                int64_t cnt = 0;
                bool pinf = false, ninf = false, ok = true;
                for (int64_t r = 0; r < nred; r++) {
                    double e = v[plan[j * nred + r]];
                    if (isnan(e)) continue;
                    cnt++;
                    if (isinf(e)) {
                        if (e > 0) pinf = true;
                        else ninf = true;
                        continue;
                    }
                    if (!tame(e)) ok = false;
                    sum += e;
                    scale += fabs(e);
                }
                if (pinf || ninf) sum = pinf && ninf ? NAN : pinf ? INFINITY : -INFINITY;
                if (mean) {
                    sum = cnt ? sum / (double)cnt : NAN;
                    scale = cnt ? scale / (double)cnt : 0;
                }
                want[j] = sum;
                sc[j] = scale;
                chk[j] = ok;
            }
            free(v);
            nn_expect_close(y, want, sc, chk, rdt == NPG_FLOAT64 ? 1e-12 : 1e-5, fn);
        }
        free(want);
        free(sc);
        free(chk);
        free(plan);
    }
    done(y);
}

/* ---- topk ---- */

/* Element i of bytes b of dtype dt, exactly (int64 too). */
static long double st_ld(const unsigned char *b, npg_dtype dt, int64_t i) {
    _Static_assert(LDBL_MANT_DIG >= 64, "long double holds every int64 and uint64");
    if (dt == NPG_INT64) return (long double)((const int64_t *)b)[i];
    if (dt == NPG_UINT64) return (long double)((const uint64_t *)b)[i];
    return (long double)elem_f(b, dt, i);
}
static bool st_ld_same(long double a, long double b) { return isnan(a) ? isnan(b) : a == b; }
static bool g_st_largest;
/* topk's order: largest first with NaN before everything, or smallest
 * first with NaN after everything. */
static int st_cmp_top(const void *pa, const void *pb) {
    long double a = *(const long double *)pa, b = *(const long double *)pb;
    int an = isnan(a) != 0, bn = isnan(b) != 0;
    if (an || bn) return g_st_largest ? bn - an : an - bn;
    int c = a < b ? -1 : a > b;
    return g_st_largest ? -c : c;
}

static void fz_st_topk(void) {
    const char *fn = "npg_topk";
    static const int64_t badk[] = {-1, -2, INT64_MIN, INT64_MAX, (int64_t)1 << 47, INT32_MAX};
    npg_dtype dt = st_dt();
    npg_shape s = st_shape();
    npg_array *x = st_operand(dt, s);
    int axis = rand_axis(s.ndim), a = 0;
    bool ax_ok = s.ndim > 0 && norm_axis(axis, s.ndim, &a);
    int64_t len = ax_ok ? s.dims[a] : 0;
    int64_t k = chance(85) ? rint_in(0, (int)len) : chance(40) ? len + 1 : PICK(badk);
    bool k_ok = k >= 0 && k <= len, largest = chance(60), want_v = chance(85), want_i = chance(80);
    npg_array *vals = UNSET, *inds = UNSET;
    call("npg_topk(x, k %lld, axis %d, largest %d, %s, %s)", (long long)k, axis, largest,
         want_v ? "&values" : "NULL", want_i ? "&indices" : "NULL");
    arg(x);
    if (!ax_ok || !k_ok) must_fail();
    ng_maybe();
    go();
    npg_status st = npg_topk(x, k, axis, largest, want_v ? &vals : NULL, want_i ? &inds : NULL);
    nn_named(st != NPG_OK, fn);
    nn_ng_end();
    if (st != NPG_OK) CHECK(st == npg_last_status(), "returned %d but the last status is %d", (int)st,
                            (int)npg_last_status());
    st_expect_status(st != NPG_OK, !ax_ok || !k_ok, !ax_ok ? NPG_ERR_AXIS : NPG_ERR_INVALID_ARG, fn);
    after(st != NPG_OK);
    if (!want_v) CHECK(vals == UNSET, "npg_topk wrote through a NULL values pointer");
    if (!want_i) CHECK(inds == UNSET, "npg_topk wrote through a NULL indices pointer");
    if (!want_v) vals = NULL;
    if (!want_i) inds = NULL;
    if (st != NPG_OK) {
        CHECK(vals == NULL && inds == NULL, "npg_topk failed but left an output");
    } else {
        CHECK(want_v == (vals != NULL) && want_i == (inds != NULL), "npg_topk succeeded without a wanted output");
        if (vals) check_sane(vals);
        if (inds) check_sane(inds);
    }
    if (st == NPG_OK && x && (vals || inds)) {
        npg_shape os = s;
        os.dims[a] = k;
        const size_t is = (size_t)fz_size(dt);
        if (vals) {
            expect_shape(vals, os, fn);
            nn_expect_dtype(vals, dt, fn);
            nn_expect_rg(vals, fn);
        }
        if (inds) {
            expect_shape(inds, os, fn);
            nn_expect_dtype(inds, NPG_INT64, fn);
            CHECK(!npg_requires_grad(inds), "npg_topk: the indices require grad");
        }
        const unsigned char *xb = snap(x);
        unsigned char *vb = vals ? read_bytes(vals) : NULL;
        int64_t *ib = inds ? (int64_t *)read_bytes(inds) : NULL;
        npg_shape rs = s;
        rs.dims[a] = 1;
        int64_t nrow = numel_of(rs), idx[NPG_MAX_DIMS];
        long double *row = malloc(sizeof(long double) * (size_t)(len + 1));
        cr_assert(row);
        g_st_largest = largest;
        char why[200] = "";
        for (int64_t r = 0; r < nrow && !why[0] && k > 0; r++) {
            unravel(r, &rs, idx);
            for (int64_t l = 0; l < len; l++) {
                idx[a] = l;
                row[l] = st_ld(xb, dt, ravel(idx, &s));
            }
            qsort(row, (size_t)len, sizeof *row, st_cmp_top);
            for (int64_t p = 0; p < k && !why[0]; p++) {
                idx[a] = p;
                int64_t j = ravel(idx, &os);
                if (vb && !st_ld_same(st_ld(vb, dt, j), row[p]))
                    snprintf(why, sizeof why, "value %lld (row %lld, position %lld) is %.17Lg, expected %.17Lg",
                             (long long)j, (long long)r, (long long)p, st_ld(vb, dt, j), row[p]);
                if (!ib || why[0]) continue;
                int64_t ix = ib[j];
                if (ix < 0 || ix >= len) {
                    snprintf(why, sizeof why, "index %lld is %lld, outside [0, %lld)", (long long)j, (long long)ix,
                             (long long)len);
                    continue;
                }
                for (int64_t p2 = 0; p2 < p; p2++) {
                    idx[a] = p2;
                    if (ib[ravel(idx, &os)] == ix)
                        snprintf(why, sizeof why, "index %lld repeats %lld in its row", (long long)j, (long long)ix);
                }
                idx[a] = ix;
                int64_t src = ravel(idx, &s);
                if (!why[0] && !st_ld_same(st_ld(xb, dt, src), row[p]))
                    snprintf(why, sizeof why, "index %lld points at %.17Lg, expected a %.17Lg", (long long)j,
                             st_ld(xb, dt, src), row[p]);
                if (!why[0] && vb && memcmp(xb + (size_t)src * is, vb + (size_t)j * is, is) != 0)
                    snprintf(why, sizeof why, "value %lld is not bitwise the element its index points at",
                             (long long)j);
            }
        }
        free(row);
        free(vb);
        free(ib);
        if (why[0]) {
            npg_free(vals);
            npg_free(inds);
            fail("%s: %s", fn, why);
        }
    }
    if (vals) maybe_backward(vals);
    check_unchanged(st == NPG_OK);
    npg_free(vals);
    npg_free(inds);
}

/* ---- isclose, allclose ---- */

static double st_tol(void) {
    static const double good[] = {1e-5, 1e-8, 0.0, 1.0, 0.5, 1e-3, 2.0, 0.25, -0.0, INFINITY, 1e300, 5e-324};
    static const double bad[] = {-1e-5, -1.0, NAN, -NAN, -INFINITY, -5e-324};
    return chance(90) ? (chance(70) ? PICK(good) : runit() * 2) : PICK(bad);
}

/* numpy.isclose of a and b (in dt: their promoted floating dtype). */
static bool st_close(double a, double b, double rtol, double atol, bool equal_nan, npg_dtype dt) {
    if (dt == NPG_FLOAT32) {
        float af = (float)a, bf = (float)b, rt = (float)nn_round(NPG_FLOAT32, rtol),
              at = (float)nn_round(NPG_FLOAT32, atol);
        float tol = fabsf(bf) * rt;
        tol = tol + at;
        float d = fabsf(af - bf);
        bool near = d <= tol && isfinite(af) && isfinite(bf);
        return af == bf || near || (equal_nan && isnan(af) && isnan(bf));
    }
    double tol = fabs(b) * rtol;
    tol = tol + atol;
    bool near = fabs(a - b) <= tol && isfinite(a) && isfinite(b);
    return a == b || near || (equal_nan && isnan(a) && isnan(b));
}

/* Values for isclose: few, so that pairs are often equal, within the usual
 * tolerances of each other, NaN or infinite together. */
static void st_fill_close(void *buf, npg_dtype dt, int64_t n) {
    static const double e[] = {NAN,          -NAN,       INFINITY, -INFINITY, 0.0,  -0.0,   1.0,  1.0 + 1e-6,
                               1.0 + 1e-9, 1.0 - 1e-8, 100.0,    100.0001,  1e-9, 1e-300, -1.0, 2.0};
    for (int64_t i = 0; i < n; i++) {
        double v = PICK(e);
        switch (dt) {
        case NPG_BOOL: ((uint8_t *)buf)[i] = (uint8_t)(rnd() & 1); break;
        case NPG_UINT8:
        case NPG_UINT16:
        case NPG_UINT32: t_put_bits(dt, buf, i, (uint64_t)rint_in(0, 3)); break;
        case NPG_INT8: ((int8_t *)buf)[i] = chance(90) ? (int8_t)rint_in(-2, 3) : INT8_MIN; break;
        case NPG_INT16:
        case NPG_INT32: t_put_bits(dt, buf, i, (uint64_t)(int64_t)rint_in(-2, 3)); break;
        case NPG_INT64: ((int64_t *)buf)[i] = chance(90) ? rint_in(-2, 3) : INT64_MAX; break;
        case NPG_UINT64: ((uint64_t *)buf)[i] = chance(90) ? (uint64_t)rint_in(0, 3) : UINT64_MAX - 1; break;
        case NPG_FLOAT32:
        case NPG_FLOAT64:
        case NPG_FLOAT16:
        case NPG_BFLOAT16: fz_put_f(buf, dt, i, v); break;
        default: cr_assert_fail("fuzz: st_fill_close: bad dtype %d", (int)dt);
        }
    }
}
static npg_array *st_close_operand(npg_dtype dt, npg_shape s) {
    if (chance(g_null_pct)) return NULL;
    if (chance(60)) return st_make(dt, s, 25, st_fill_close);
    return chance(50) ? make(dt, s, 25) : st_make(dt, s, 25, st_fill_vals);
}

static void fz_st_isclose(bool all) {
    const char *fn = all ? "npg_allclose" : "npg_isclose";
    npg_dtype da = st_dt(), db = chance(60) ? da : st_dt();
    npg_shape s1 = st_shape(), s2 = chance(85) ? (chance(50) ? s1 : bcast_partner(s1)) : st_shape();
    if (chance(50)) {
        npg_shape t = s1;
        s1 = s2;
        s2 = t;
    }
    npg_shape bs = {0}, pair[2] = {s1, s2};
    bool bc = bcast_shapes(pair, 2, &bs);
    npg_array *xa = st_close_operand(da, s1), *xb = chance(3) ? xa : st_close_operand(db, s2);
    if (xb == xa) s2 = s1, db = da, bc = bcast_shapes((npg_shape[]){s1, s1}, 2, &bs);
    double rtol = st_tol(), atol = st_tol();
    bool en = chance(50);
    bool tol_ok = rtol >= 0 && atol >= 0;
    call("%s(a, b, rtol %.17g, atol %.17g, equal_nan %d)", fn, rtol, atol, en);
    arg(xa);
    arg(xb);
    if (!bc || !tol_ok) must_fail();
    ng_maybe();
    go();
    npg_array *y = NULL;
    int res = 0;
    if (all) res = npg_allclose(xa, xb, rtol, atol, en);
    else y = npg_isclose(xa, xb, rtol, atol, en);
    bool failed = all ? res == -1 : y == NULL;
    nn_named(failed, fn);
    nn_ng_end();
    if (all) CHECK(res >= -1 && res <= 1, "npg_allclose returned %d", res);
    st_expect_status(failed, !bc + !tol_ok, !bc ? NPG_ERR_SHAPE : NPG_ERR_INVALID_ARG, fn);
    if (xa && xb && bc && tol_ok) {
        CHECK(!failed, "a valid call failed: %s", npg_last_error());
        npg_dtype dt = fz_result_type(da, db);
        if (!npg_is_floating(dt)) dt = NPG_FLOAT64;
        const unsigned char *ba = snap(xa), *bb = snap(xb);
        int64_t n = numel_of(bs), o[NPG_MAX_DIMS];
        double *want = malloc(sizeof(double) * (size_t)(n + 1));
        cr_assert(want);
        bool every = true;
        for (int64_t j = 0; j < n; j++) {
            unravel(j, &bs, o);
            double va = st_conv(ba, da, bcast_src(o, &bs, &s1), dt), vb = st_conv(bb, db, bcast_src(o, &bs, &s2), dt);
            want[j] = st_close(va, vb, rtol, atol, en, dt);
            every = every && want[j] != 0;
        }
        if (all) {
            CHECK(res == (int)every, "npg_allclose returned %d, expected %d", res, (int)every);
        } else {
            expect_shape(y, bs, fn);
            nn_expect_dtype(y, NPG_BOOL, fn);
            st_expect_rg(y, false, fn);
            st_expect_exact(y, want, fn);
        }
        free(want);
    }
    if (all) done_value(failed);
    else done(y);
}

/* ---- cov, corrcoef ---- */

/* The same value everywhere (constant rows): a small integer or half
 * (whose mean is exact), or 0.1 now and then. */
static double g_st_const;
static void st_fill_const(void *buf, npg_dtype dt, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        switch (dt) {
        case NPG_BOOL: ((uint8_t *)buf)[i] = (uint8_t)fabs(g_st_const); break;
        case NPG_UINT8:
        case NPG_UINT16:
        case NPG_UINT32:
        case NPG_UINT64: fz_put_f(buf, dt, i, fabs(g_st_const)); break; /* truncated */
        case NPG_INT8:
        case NPG_INT16:
        case NPG_INT32:
        case NPG_INT64:
        case NPG_FLOAT32:
        case NPG_FLOAT64:
        case NPG_FLOAT16:
        case NPG_BFLOAT16: fz_put_f(buf, dt, i, g_st_const); break;
        default: cr_assert_fail("fuzz: st_fill_const: bad dtype %d", (int)dt);
        }
    }
}

static void fz_st_cov(bool corr) {
    const char *fn = corr ? "npg_corrcoef" : "npg_cov";
    npg_dtype dt = st_dt();
    npg_shape s;
    if (chance(85)) {
        s.ndim = chance(30) ? 1 : 2;
        int64_t v = chance(8) ? 0 : rint_in(1, 4), o = chance(8) ? 0 : chance(10) ? 1 : rint_in(2, 6);
        s.dims[0] = s.ndim == 1 ? o : v;
        s.dims[1] = o;
    } else {
        s = st_shape();
    }
    npg_array *x;
    if (chance(10) && !chance(g_null_pct)) {
        g_st_const = chance(80) ? rint_in(-3, 3) * 0.5 : 0.1;
        x = st_make(dt, s, 25, st_fill_const);
    } else {
        x = st_operand(dt, s);
    }
    double corrn = 1;
    if (!corr) {
        static const double bad[] = {NAN, INFINITY, -INFINITY, 1e300, -1e300, 7.0, -0.0, 6.0, 5.0};
        int r = rint_in(0, 99);
        corrn = r < 50 ? 1 : r < 70 ? 0 : r < 85 ? runit() * 8 - 2 : PICK(bad);
    }
    bool nd_ok = s.ndim == 1 || s.ndim == 2, c_ok = isfinite(corrn);
    if (corr) call("npg_corrcoef(x)");
    else call("npg_cov(x, correction %.17g)", corrn);
    arg(x);
    if (!nd_ok || !c_ok) must_fail();
    ng_maybe();
    go();
    npg_array *y = corr ? npg_corrcoef(x) : npg_cov(x, corrn);
    nn_named(y == NULL, fn);
    nn_ng_end();
    st_expect_status(y == NULL, !nd_ok + !c_ok, !nd_ok ? NPG_ERR_SHAPE : NPG_ERR_INVALID_ARG, fn);
    if (x && nd_ok && c_ok) {
        VALID_FAILED(y);
        npg_dtype rdt = nn_float_of(dt == NPG_BOOL ? NPG_INT64 : dt);
        int64_t V = s.ndim == 1 ? 1 : s.dims[0], N = s.dims[s.ndim - 1];
        npg_shape want_s = s.ndim == 1 ? (npg_shape){0} : (npg_shape){2, {V, V}};
        expect_shape(y, want_s, fn);
        nn_expect_dtype(y, rdt, fn);
        nn_expect_rg(y, fn);
        double *v = st_in(x, rdt), *mean = malloc(sizeof(double) * (size_t)(V + 1));
        bool *tm = malloc((size_t)V + 1), *cst = malloc((size_t)V + 1);
        cr_assert(mean && tm && cst);
        for (int64_t i = 0; i < V; i++) {
            double sum = 0;
            tm[i] = true;
            cst[i] = N > 0;
            for (int64_t o = 0; o < N; o++) {
                double e = v[i * N + o];
                sum += e;
                tm[i] = tm[i] && tame(e);
                cst[i] = cst[i] && e == v[i * N] && e == floor(e * 2) / 2 && fabs(e) <= 1e6;
            }
            mean[i] = sum / (double)N;
        }
        const double div = (double)N - corrn > 0 ? (double)N - corrn : 0;
        const double tol = rdt == NPG_FLOAT64 && dt != NPG_FLOAT32 ? 1e-9 : 2e-4;
        int64_t nc = V * V;
        double *c = malloc(sizeof(double) * (size_t)(nc + 1)), *sc = malloc(sizeof(double) * (size_t)(nc + 1));
        bool *chk = malloc((size_t)nc + 1);
        cr_assert(c && sc && chk);
        for (int64_t i = 0; i < V; i++)
            for (int64_t j = 0; j < V; j++) {
                double sum = 0, mag = 0;
                for (int64_t o = 0; o < N; o++) {
                    double t = (v[i * N + o] - mean[i]) * (v[j * N + o] - mean[j]);
                    sum += t;
                    mag += fabs(t);
                }
                c[i * V + j] = N == 0 ? (div > 0 ? 0 : NAN) : sum / div;
                sc[i * V + j] = mag / (div > 0 ? div : 1);
                chk[i * V + j] = tm[i] && tm[j] && (div >= 0.5 || N == 0);
            }
        if (!corr) {
            nn_expect_close(y, c, sc, chk, tol, fn);
        } else {
            /* within [-1, 1]; NaN for a constant row; else c_ij / sqrt(c_ii c_jj)
             * where the variances are not cancellation noise */
            double *got = t_read(y), *r = malloc(sizeof(double) * (size_t)(nc + 1));
            cr_assert(r);
            for (int64_t j = 0; j < nc; j++)
                if (!isnan(got[j]) && !(got[j] >= -1 && got[j] <= 1)) {
                    double g = got[j];
                    free(got);
                    fail("%s: element %lld is %.17g, outside [-1, 1]", fn, (long long)j, g);
                }
            free(got);
            for (int64_t i = 0; i < V; i++)
                for (int64_t j = 0; j < V; j++) {
                    int64_t e = i * V + j;
                    double cii = c[i * V + i], cjj = c[j * V + j];
                    double q = c[e] / sqrt(cii) / sqrt(cjj);
                    r[e] = q > 1 ? 1 : q < -1 ? -1 : q;
                    bool noisy = !(cii > 1e-3 * sc[i * V + i] && cjj > 1e-3 * sc[j * V + j]);
                    if (cst[i] || cst[j]) {
                        r[e] = NAN;
                        chk[e] = true;
                    } else {
                        chk[e] = chk[e] && N >= 2 && !noisy;
                    }
                }
            nn_expect_close(y, r, NULL, chk, tol * 10, fn);
            free(r);
        }
        free(v);
        free(mean);
        free(tm);
        free(cst);
        free(c);
        free(sc);
        free(chk);
    }
    done(y);
}

/* ---- bincount ---- */

static void fz_st_bincount(void) {
    const char *fn = "npg_bincount";
    static const npg_dtype idt[] = {NPG_UINT8, NPG_INT32, NPG_INT64, NPG_INT64, NPG_INT8,
                                    NPG_INT16, NPG_UINT16, NPG_UINT32, NPG_UINT64};
    static const int64_t badmin[] = {-1, -2, INT64_MIN, (int64_t)1 << 47, (int64_t)1 << 62, INT64_MAX};
    npg_dtype dt = chance(85) ? PICK(idt) : st_dt();
    npg_shape s = chance(85) ? (npg_shape){1, {chance(10) ? 0 : rint_in(1, 8)}} : st_shape();
    st_label_bad = chance(65) ? 0 : rint_in(5, 40);
    npg_array *x = chance(g_null_pct) ? NULL : st_make(dt, s, 20, st_fill_labels);
    npg_array *w = NULL;
    npg_shape ws = s;
    npg_dtype wdt = st_dt();
    if (chance(55)) {
        ws = chance(85) ? s : chance(50) ? st_shape() : bcast_partner(s);
        w = st_operand(wdt, ws);
    }
    int64_t minlength = chance(85) ? rint_in(0, 10) : PICK(badmin);
    bool dt_ok = t_is_int(dt), nd_ok = s.ndim == 1, ml_ok = minlength >= 0, w_ok = !w || same_shape(ws, s);
    bool args_ok = dt_ok && nd_ok && ml_ok && w_ok;
    /* the labels (read before the call): a negative one is an index error,
     * a huge one or minlength a length that cannot be allocated */
    int64_t lo = 0, hi = -1, n = numel_of(s);
    if (x && args_ok) {
        unsigned char *b = read_bytes(x);
        for (int64_t i = 0; i < n; i++) {
            int64_t e = fz_get_i64(b, dt, i);
            if (i == 0 || e < lo) lo = e;
            if (i == 0 || e > hi) hi = e;
        }
        free(b);
    }
    bool neg = n > 0 && lo < 0, huge = minlength > ((int64_t)1 << 40) || (n > 0 && hi > ((int64_t)1 << 40));
    int causes = !dt_ok + !nd_ok + !ml_ok + !w_ok;
    call("npg_bincount(x, %s, minlength %lld)", w ? "weights" : "NULL", (long long)minlength);
    arg(x);
    opt_arg(w);
    if (!args_ok || (x && (neg || huge))) must_fail();
    ng_maybe();
    go();
    npg_array *y = npg_bincount(x, w, minlength);
    nn_named(y == NULL, fn);
    nn_ng_end();
    st_expect_status(y == NULL, causes, !dt_ok ? NPG_ERR_DTYPE : !nd_ok || !w_ok ? NPG_ERR_SHAPE : NPG_ERR_INVALID_ARG,
                     fn);
    if (args_ok && !huge) st_expect_status(y == NULL, neg, NPG_ERR_INDEX, fn);
    if (x && args_ok && !neg && !huge) {
        VALID_FAILED(y);
        int64_t len = n > 0 && hi + 1 > minlength ? hi + 1 : minlength;
        npg_dtype odt = w ? nn_float_of(wdt == NPG_BOOL ? NPG_INT64 : wdt) : NPG_INT64;
        expect_shape(y, (npg_shape){1, {len}}, fn);
        nn_expect_dtype(y, odt, fn);
        st_expect_rg(y, w && npg_requires_grad(w), fn);
        const unsigned char *b = snap(x);
        double *want = calloc((size_t)len + 1, sizeof(double)), *sc = calloc((size_t)len + 1, sizeof(double));
        bool *chk = malloc((size_t)len + 1);
        cr_assert(want && sc && chk);
        for (int64_t i = 0; i < len; i++) chk[i] = true;
        double *wv = w ? st_in(w, odt) : NULL;
        for (int64_t i = 0; i < n; i++) {
            int64_t l = fz_get_i64(b, dt, i);
            double e = wv ? wv[i] : 1;
            want[l] += e;
            sc[l] += fabs(e);
            if (!tame(e)) chk[l] = false;
        }
        nn_expect_close(y, want, sc, chk, odt == NPG_FLOAT64 ? 1e-12 : 1e-5, fn);
        free(wv);
        free(want);
        free(sc);
        free(chk);
    }
    done(y);
}

/* ---- histogram ---- */

/* numpy.histogram's bin of x among bins equal bins over [lo, hi] (edges
 * linspace(lo, hi, bins + 1)), computed in float32 for float32 input
 * (float32 edges, lo, hi and hi - lo, as NumPy's value-based casting does)
 * and in float64 otherwise; -1: left out (outside, NaN). *ok false where
 * float32 cannot hold the range (then no reference). */
static int64_t st_hist_bin(double x, int64_t bins, double lo, double hi, bool f32, bool *ok) {
    const double step = (hi - lo) / (double)bins;
    if (f32) {
        float xf = (float)x, lof = (float)nn_round(NPG_FLOAT32, lo), hif = (float)nn_round(NPG_FLOAT32, hi),
              den = (float)nn_round(NPG_FLOAT32, hi - lo);
        if (!isfinite(lof) || !isfinite(hif) || !isfinite(den) || den == 0) {
            *ok = false;
            return -1;
        }
        if (!(xf >= lof && xf <= hif)) return -1;
        float f = (xf - lof) / den * (float)bins;
        int64_t i = (int64_t)f;
        if (i > bins - 1) i = bins - 1;
#define ST_EF(k) ((k) == bins ? hif : (float)nn_round(NPG_FLOAT32, (double)(k) * step + lo))
        if (xf < ST_EF(i)) i--;
        if (xf >= ST_EF(i + 1) && i != bins - 1) i++;
#undef ST_EF
        return i;
    }
    if (!(x >= lo && x <= hi)) return -1;
    double f = (x - lo) / (hi - lo) * (double)bins;
    int64_t i = (int64_t)f;
    if (i > bins - 1) i = bins - 1;
#define ST_E(k) ((k) == bins ? hi : (double)(k) * step + lo)
    if (x < ST_E(i)) i--;
    if (x >= ST_E(i + 1) && i != bins - 1) i++;
#undef ST_E
    return i;
}

static void fz_st_histogram(void) {
    const char *fn = "npg_histogram";
    static const int64_t badbins[] = {0, -1, INT64_MIN, (int64_t)INT32_MAX + 1, (int64_t)1 << 40, INT64_MAX};
    static const double los[] = {-3, -2, -1, -0.5, 0, 0.5, 1, -0.0};
    static const double wid[] = {0.5, 1, 2, 3, 4.5, 6, 0.1};
    static const double odd[][2] = {{0, 5e-324}, {0, 1e-310}, {-1e300, 1e300}, {-DBL_MAX / 2, DBL_MAX / 2},
                                    {1e15, 1e15 + 1}, {-1e-30, 1e-30}, {1e30, 3e30}, {0, 1e39}};
    static const double bad[][2] = {{1, 1},         {2, 1},           {NAN, 1},         {0, NAN},
                                    {-INFINITY, 0}, {0, INFINITY},    {-DBL_MAX, DBL_MAX}, {INFINITY, INFINITY},
                                    {-0.0, 0.0},    {5e-324, 5e-324}};
    npg_dtype dt = st_dt();
    npg_shape s = st_shape();
    npg_array *x = st_operand(dt, s);
    int64_t bins = chance(88) ? rint_in(1, 8) : PICK(badbins);
    double lo, hi;
    int r = rint_in(0, 99);
    if (r < 72) {
        lo = PICK(los);
        hi = lo + PICK(wid);
    } else if (r < 88) {
        int k = rint_in(0, NELEM(odd) - 1);
        lo = odd[k][0];
        hi = odd[k][1];
    } else {
        int k = rint_in(0, NELEM(bad) - 1);
        lo = bad[k][0];
        hi = bad[k][1];
    }
    npg_array *w = NULL;
    npg_shape ws = s;
    npg_dtype wdt = st_dt();
    if (chance(45)) {
        ws = chance(85) ? s : chance(50) ? st_shape() : bcast_partner(s);
        w = st_operand(wdt, ws);
    }
    bool dt_ok = dt != NPG_BOOL, b_ok = bins >= 1, r_ok = isfinite(lo) && isfinite(hi) && lo < hi && isfinite(hi - lo),
         w_ok = !w || same_shape(ws, s);
    bool big = bins > ((int64_t)1 << 20); /* a length no allocation can hold, or refused */
    int causes = !dt_ok + !b_ok + !r_ok + !w_ok;
    call("npg_histogram(x, bins %lld, lo %.17g, hi %.17g, %s)", (long long)bins, lo, hi, w ? "weights" : "NULL");
    arg(x);
    opt_arg(w);
    if (causes || bins >= ((int64_t)1 << 40)) must_fail();
    ng_maybe();
    go();
    npg_array *y = npg_histogram(x, bins, lo, hi, w);
    nn_named(y == NULL, fn);
    nn_ng_end();
    st_expect_status(y == NULL, big ? 0 : causes, /* a huge bins fails with some status */
                     !dt_ok ? NPG_ERR_DTYPE : !b_ok || !r_ok ? NPG_ERR_INVALID_ARG : NPG_ERR_SHAPE, fn);
    if (x && !causes && !big) {
        VALID_FAILED(y);
        npg_dtype odt = w ? nn_float_of(wdt == NPG_BOOL ? NPG_INT64 : wdt) : NPG_INT64;
        expect_shape(y, (npg_shape){1, {bins}}, fn);
        nn_expect_dtype(y, odt, fn);
        st_expect_rg(y, w && npg_requires_grad(w), fn);
        int64_t n = numel_of(s);
        const unsigned char *b = snap(x);
        double *want = calloc((size_t)bins + 1, sizeof(double)), *sc = calloc((size_t)bins + 1, sizeof(double));
        bool *chk = malloc((size_t)bins + 1), ok = true;
        cr_assert(want && sc && chk);
        for (int64_t i = 0; i < bins; i++) chk[i] = true;
        double *wv = w ? st_in(w, odt) : NULL;
        for (int64_t i = 0; i < n && ok; i++) {
            int64_t k = st_hist_bin(elem_f(b, dt, i), bins, lo, hi, dt == NPG_FLOAT32, &ok);
            if (k < 0) continue;
            CHECK(k < bins, "fuzz: a reference bin %lld of %lld", (long long)k, (long long)bins);
            double e = wv ? wv[i] : 1;
            want[k] += e;
            sc[k] += fabs(e);
            if (!tame(e)) chk[k] = false;
        }
        if (ok) nn_expect_close(y, want, sc, chk, odt == NPG_FLOAT64 ? 1e-12 : 1e-5, fn);
        free(wv);
        free(want);
        free(sc);
        free(chk);
    }
    done(y);
}

/* ---- huge broadcast views ---- */

enum {
    STH_QUANT,
    STH_NANSUM,
    STH_NANMEAN,
    STH_TOPK,
    STH_ISCLOSE,
    STH_ALLCLOSE,
    STH_COV,
    STH_CORR,
    STH_HIST,
    STH_COUNT
};

/* The functions on broadcast views of 2^47 and more elements, shaped so
 * that the first op that allocates needs at least 2^46 elements (never a
 * reduction over a long broadcast axis: nansum of integers, a mean or
 * cov's mean along a long axis, bincount, which reads its labels' range
 * first, are left out): the call fails with a message that begins with the
 * function's name, nothing leaks, the operands are unchanged. */
static void fz_st_huge(void) {
    int f = rint_in(0, STH_COUNT - 1);
    npg_dtype dt = st_dt();
    npg_array *base = NULL, *x = NULL, *o = NULL;
    const char *fn = NULL;
    npg_array *y = NULL, *y2 = UNSET;
    bool failed;
    int r = rint_in(0, 99);
    switch (f) {
    case STH_QUANT: {
        static const char *const name[] = {"npg_quantile", "npg_nanquantile", "npg_median", "npg_nanmedian"};
        int kind = rint_in(0, 3);
        fn = name[kind];
        if (dt == NPG_BOOL) dt = NPG_FLOAT32;
        npg_axes ax;
        if (r < 40) {
            x = nn_huge(dt, NN_BIG((int64_t)1 << 24, (int64_t)1 << 24), &base);
            ax = chance(50) ? NPG_AXES(1) : chance(50) ? NPG_AXES(-1) : NPG_ALL_AXES;
        } else if (r < 70) {
            x = nn_huge(dt, NN_BIG((int64_t)1 << 47), &base);
            ax = chance(50) ? NPG_AXES(0) : NPG_ALL_AXES;
        } else {
            x = nn_huge(dt, NN_BIG((int64_t)1 << 46, 2), &base);
            ax = chance(50) ? NPG_AXES(1) : NPG_AXES(0);
        }
        int m = rint_in(0, 4);
        bool kd = chance(50);
        call("%s(huge x, axes n=%d, keepdims %d, method %d)", fn, ax.n, kd, m);
        opt_arg(base);
        must_fail();
        go();
        y = kind == 0   ? npg_quantile(x, 0.3, ax, kd, (npg_quantile_method)m)
            : kind == 1 ? npg_nanquantile(x, 0.7, ax, kd, (npg_quantile_method)m)
            : kind == 2 ? npg_median(x, ax, kd)
                        : npg_nanmedian(x, ax, kd);
        break;
    }
    case STH_NANSUM:
    case STH_NANMEAN: {
        bool mean = f == STH_NANMEAN;
        fn = mean ? "npg_nanmean" : "npg_nansum";
        if (!mean || dt == NPG_BOOL) dt = rand_float_dtype(); /* an integer nansum is a plain sum */
        x = nn_huge(dt, r < 50 ? NN_BIG((int64_t)1 << 24, (int64_t)1 << 24) : NN_BIG((int64_t)1 << 47), &base);
        npg_axes ax = chance(50) ? NPG_ALL_AXES : NPG_AXES(-1);
        call("%s(huge x, axes n=%d)", fn, ax.n);
        opt_arg(base);
        must_fail();
        go();
        y = mean ? npg_nanmean(x, ax, chance(50)) : npg_nansum(x, ax, chance(50));
        break;
    }
    case STH_TOPK: {
        fn = "npg_topk";
        int axis;
        if (r < 40) x = nn_huge(dt, NN_BIG((int64_t)1 << 46, 2), &base), axis = chance(50) ? 1 : -1;
        else if (r < 70) x = nn_huge(dt, NN_BIG(2, (int64_t)1 << 46), &base), axis = chance(50) ? 0 : -2;
        else x = nn_huge(dt, NN_BIG((int64_t)1 << 47), &base), axis = 0;
        int64_t k = rint_in(0, 2);
        bool wv = chance(70), wi = !wv || chance(50);
        call("npg_topk(huge x, k %lld, axis %d, %s, %s)", (long long)k, axis, wv ? "&values" : "NULL",
             wi ? "&indices" : "NULL");
        opt_arg(base);
        must_fail();
        go();
        npg_array *v = UNSET, *ix = UNSET;
        npg_status st = npg_topk(x, k, axis, chance(50), wv ? &v : NULL, wi ? &ix : NULL);
        failed = st != NPG_OK;
        CHECK(!failed || ((!wv || v == NULL) && (!wi || ix == NULL)), "huge: npg_topk failed but left an output");
        y = wv ? v : NULL;
        y2 = wi ? ix : UNSET;
        if (!failed) CHECK(y && y != UNSET, "huge: npg_topk succeeded without its values");
        break;
    }
    case STH_ISCLOSE:
    case STH_ALLCLOSE: {
        bool all = f == STH_ALLCLOSE, swap = chance(50);
        fn = all ? "npg_allclose" : "npg_isclose";
        x = nn_huge(dt, r < 50 ? NN_BIG((int64_t)1 << 24, (int64_t)1 << 24) : NN_BIG((int64_t)1 << 47), &base);
        o = nn_small(chance(70) ? dt : st_dt(), chance(50) ? (npg_shape){0} : NN_BIG(1));
        call("%s(%s, %s, 1e-5, 1e-8)", fn, swap ? "b" : "huge a", swap ? "huge b" : "b");
        opt_arg(o);
        opt_arg(base);
        must_fail();
        go();
        if (all) {
            int res = swap ? npg_allclose(o, x, 1e-5, 1e-8, chance(50)) : npg_allclose(x, o, 1e-5, 1e-8, chance(50));
            failed = res == -1;
            y = NULL;
            y2 = UNSET;
            nn_named(failed, fn);
            after(failed);
            check_unchanged(!failed);
            return;
        }
        y = swap ? npg_isclose(o, x, 1e-5, 1e-8, chance(50)) : npg_isclose(x, o, 1e-5, 1e-8, chance(50));
        break;
    }
    case STH_COV:
    case STH_CORR: {
        bool corr = f == STH_CORR;
        fn = corr ? "npg_corrcoef" : "npg_cov";
        x = nn_huge(dt, NN_BIG((int64_t)1 << 46, 2), &base);
        call("%s(huge x (2^46, 2))", fn);
        opt_arg(base);
        must_fail();
        go();
        y = corr ? npg_corrcoef(x) : npg_cov(x, 1.0);
        break;
    }
    default: {
        fn = "npg_histogram";
        if (dt == NPG_BOOL) dt = NPG_INT32;
        x = nn_huge(dt, r < 50 ? NN_BIG((int64_t)1 << 24, (int64_t)1 << 24) : NN_BIG((int64_t)1 << 47), &base);
        npg_array *w = NULL;
        if (chance(40)) { /* weights of the same huge shape: another view of a small array */
            npg_array *wb;
            w = nn_huge(rand_float_dtype(), npg_shape_of(x), &wb);
            opt_arg(wb);
        }
        int64_t bins = rint_in(1, 4);
        call("npg_histogram(huge x, bins %lld, 0, 1, %s)", (long long)bins, w ? "huge weights" : "NULL");
        opt_arg(base);
        must_fail();
        go();
        y = npg_histogram(x, bins, 0, 1, w);
        break;
    }
    }
    if (f != STH_TOPK) failed = y == NULL;
    nn_named(failed, fn);
    after(failed);
    if (!failed) {
        check_sane(y);
        if (y2 && y2 != UNSET) check_sane(y2);
    }
    check_unchanged(!failed);
    npg_free(y);
    if (y2 != UNSET) npg_free(y2);
}

/* ---- the test ---- */

Test(fuzz2, stats) {
    int n = start("stats", 31, 1500);
    for (int it = 0; it < n; it++) {
        iter_begin(it);
        int r = rint_in(0, 99);
        if (r < 14) fz_st_quantile(0);
        else if (r < 24) fz_st_quantile(1);
        else if (r < 29) fz_st_quantile(2);
        else if (r < 34) fz_st_quantile(3);
        else if (r < 40) fz_st_nansum(false);
        else if (r < 46) fz_st_nansum(true);
        else if (r < 57) fz_st_topk();
        else if (r < 65) fz_st_isclose(false);
        else if (r < 70) fz_st_isclose(true);
        else if (r < 76) fz_st_cov(false);
        else if (r < 81) fz_st_cov(true);
        else if (r < 88) fz_st_bincount();
        else if (r < 96) fz_st_histogram();
        else fz_st_huge();
        iter_end();
    }
    finish();
}

/* ------------------------------------------------------------------------
 * Recurrent layers over sequences: npg_rnn (and the cells, above)
 * ------------------------------------------------------------------------ */

/* Element values of the recurrent fuzzers' operands: floats uniform in
 * [-g_rnn_amp, g_rnn_amp], small integers, and g_rnn_wild percent of wild
 * ones (NaN, infinities, huge). */
static double g_rnn_amp = 1;
static int g_rnn_wild;
static void rnn_fill(void *buf, npg_dtype dt, int64_t n) {
    static const double wild[] = {NAN, INFINITY, -INFINITY, 1e30, -1e300};
    for (int64_t i = 0; i < n; i++) {
        double v = chance(g_rnn_wild) ? PICK(wild) : (runit() * 2 - 1) * g_rnn_amp;
        int64_t iv = rint_in(-2, 2);
        if (dt == NPG_BOOL) ((uint8_t *)buf)[i] = (uint8_t)(rnd() & 1);
        else if (t_is_unsigned(dt)) t_put_bits(dt, buf, i, (uint64_t)(iv + 2));
        else if (fz_is_sint(dt)) t_put_bits(dt, buf, i, (uint64_t)iv);
        else fz_put_f(buf, dt, i, v); /* fails for a bad dtype */
    }
}

/* make() with values from fill: a fresh array, or a transposed, strided
 * (negative steps too) or broadcast view of one; floating ones require grad
 * grad_pct percent of the time. */
static npg_array *make_with(npg_dtype dt, npg_shape s, int grad_pct, void (*fill)(void *, npg_dtype, int64_t)) {
    bool grad = npg_is_floating(dt) && chance(grad_pct);
    int r = s.ndim ? rint_in(0, 99) : 0;
    if (r < 50) {
        npg_array *x = fresh_with(dt, s, fill);
        if (grad) setup_rg(x);
        return pool_add(x, NULL);
    }
    npg_shape bs = s;
    npg_array *base, *x;
    if (r < 70 && s.ndim >= 2) { /* permute_dims(base, p) */
        npg_axes p = rand_perm_of(s, &bs);
        base = fresh_with(dt, bs, fill);
        if (grad) setup_rg(base);
        x = npg_permute_dims(base, p);
    } else if (r < 90) { /* a step-k slice along one axis */
        static const int64_t steps[] = {2, 3, -1, -2};
        int k = rint_in(0, s.ndim - 1);
        int64_t step = PICK(steps), as = step < 0 ? -step : step;
        bs.dims[k] = s.dims[k] * as;
        npg_idx idx[NPG_MAX_DIMS];
        for (int i = 0; i < s.ndim; i++) idx[i] = NPG_ALL;
        idx[k] = NPG_SLICE(step > 0 ? rint_in(0, (int)as - 1) : NPG_NONE, NPG_NONE, step);
        base = fresh_with(dt, bs, fill);
        if (grad) setup_rg(base);
        x = npg_index(base, idx, s.ndim);
    } else { /* a broadcast view */
        int drop = rint_in(0, s.ndim);
        bs.ndim = s.ndim - drop;
        for (int i = 0; i < bs.ndim; i++) bs.dims[i] = chance(50) ? 1 : s.dims[i + drop];
        base = fresh_with(dt, bs, fill);
        if (grad) setup_rg(base);
        x = npg_broadcast_to(base, s);
    }
    cr_assert(x, "fuzz setup: a view: %s", npg_last_error());
    pool_add(base, NULL);
    return pool_add(x, base);
}

static npg_array *rnn_make(npg_dtype dt, npg_shape s, int grad_pct) { return make_with(dt, s, grad_pct, rnn_fill); }

#define RNN_MAXP 64 /* room for the parameters of 3 layers, 2 directions, 4 each, and more */

/* One call of npg_rnn as the fuzzer drew it. */
typedef struct rnn_call {
    int mode;                 /* as passed */
    bool has_opts;            /* opts not NULL */
    npg_rnn_opts o;           /* the options passed */
    npg_array *x, *h0, *c0;   /* NULL: none */
    npg_array *p[RNN_MAXP];   /* params[0 .. n_params) (NULL past those built) */
    bool null_params;         /* params itself NULL */
    int n_params;             /* as passed */
    bool want_hn, want_cn, null_out;
} rnn_call;

static npg_status rnn_run(const rnn_call *k, npg_array **out, npg_array **hn, npg_array **cn) {
    return npg_rnn((npg_rnn_mode)k->mode, k->x, k->h0, k->c0, k->null_params ? NULL : k->p, k->n_params,
                   k->has_opts ? &k->o : NULL, k->null_out ? NULL : out, k->want_hn ? hn : NULL,
                   k->want_cn ? cn : NULL);
}

/* What the header makes of a call: whether it is valid; whether it is
 * valid but for NULL operands (x, entries of params) and then whether it
 * has one; its geometry (L layers, D directions, P parameters per layer and
 * direction, G gate blocks, T steps, B batch, input size IN, hidden size H). */
typedef struct rnn_geo {
    bool valid, other_ok, null_entry;
    int L, D, P, G;
    bool unbatched, bf;
    int64_t T, B, IN, H;
} rnn_geo;

static bool rnn_shape_is(const npg_array *a, int nd, int64_t d0, int64_t d1, int64_t d2) {
    npg_shape s = npg_shape_of(a);
    if (s.ndim != nd) return false;
    const int64_t d[3] = {d0, d1, d2};
    for (int i = 0; i < nd; i++)
        if (s.dims[i] != d[i]) return false;
    return true;
}

static rnn_geo rnn_validate(const rnn_call *k) {
    rnn_geo g = {0};
    const npg_rnn_opts o = k->has_opts ? k->o : (npg_rnn_opts){0};
    g.L = o.num_layers ? o.num_layers : 1;
    g.D = o.bidirectional ? 2 : 1;
    g.bf = o.batch_first;
    g.G = rnn_gates_of(k->mode);
    const bool lstm = k->mode == NPG_RNN_LSTM;
    if (k->mode < NPG_RNN_TANH || k->mode > NPG_RNN_GRU || o.num_layers < 0) return g;
    if (!(o.dropout >= 0 && o.dropout <= 1)) return g;
    if ((k->c0 || k->want_cn) && !lstm) return g;
    if (k->null_out || k->null_params) return g;
    const int64_t LD = (int64_t)g.L * g.D;
    if (k->n_params != 4 * LD && k->n_params != 2 * LD) return g;
    g.P = (int)(k->n_params / LD);
    for (int i = 0; i < k->n_params; i++) g.null_entry |= k->p[i] == NULL;
    if (k->x) {
        npg_shape xs = npg_shape_of(k->x);
        if (xs.ndim != 2 && xs.ndim != 3) return g;
        g.unbatched = xs.ndim == 2;
        g.T = g.unbatched || !g.bf ? xs.dims[0] : xs.dims[1];
        g.B = g.unbatched ? 1 : g.bf ? xs.dims[0] : xs.dims[1];
        g.IN = xs.dims[xs.ndim - 1];
    }
    /* the hidden size: the first w_hh's (G H, H) */
    g.H = -1;
    for (int64_t kk = 0; kk < LD && g.H < 0; kk++) {
        const npg_array *w = k->p[kk * g.P + 1];
        if (!w) continue;
        npg_shape ws = npg_shape_of(w);
        if (ws.ndim != 2 || ws.dims[0] != g.G * ws.dims[1]) return g;
        g.H = ws.dims[1];
    }
    const int64_t GH = g.G * g.H;
    for (int l = 0; g.H >= 0 && l < g.L; l++)
        for (int d = 0; d < g.D; d++) {
            npg_array *const *q = k->p + (l * g.D + d) * g.P;
            if (q[0] && (l > 0 || k->x) && !rnn_shape_is(q[0], 2, GH, l == 0 ? g.IN : g.D * g.H, 0)) return g;
            if (q[0] && !(l > 0 || k->x) && !(npg_ndim(q[0]) == 2 && npg_dim(q[0], 0) == GH)) return g;
            if (q[1] && !rnn_shape_is(q[1], 2, GH, g.H, 0)) return g;
            for (int j = 2; j < g.P; j++)
                if (q[j] && !rnn_shape_is(q[j], 1, GH, 0, 0)) return g;
        }
    npg_array *const st[2] = {k->h0, k->c0};
    for (int i = 0; k->x && g.H >= 0 && i < 2; i++)
        if (st[i] && !(g.unbatched ? rnn_shape_is(st[i], 2, LD, g.H, 0) : rnn_shape_is(st[i], 3, LD, g.B, g.H)))
            return g;
    g.other_ok = true;
    g.valid = k->x && !g.null_entry;
    return g;
}

/* Host values of a (row-major doubles), read now. */
static double *rnn_vals(const npg_array *a) { return a ? t_read(a) : NULL; }

/* The reference: every layer and direction in float64 over x (T, B, IN)
 * (already in time-major order), with h0, c0 (LD, B, H) or NULL; dropout
 * between layers either off or zeroing (p = 1 while training). out (T, B,
 * D H), hn and cn (LD, B, H). */
static void rnn_reference(int mode, const rnn_geo *g, const double *x, double *const *pv, const double *h0,
                          const double *c0, bool drop_all, double *out, double *hn, double *cn, double *scale,
                          double *kink) {
    const int64_t T = g->T, B = g->B, H = g->H, DH = g->D * g->H;
    int64_t inw = g->IN;
    double *in = malloc(sizeof(double) * (size_t)(T * B * (g->IN > DH ? g->IN : DH) + 1));
    double *h = malloc(sizeof(double) * (size_t)(H + 1)), *c = malloc(sizeof(double) * (size_t)(H + 1));
    double *h2 = malloc(sizeof(double) * (size_t)(H + 1)), *c2 = malloc(sizeof(double) * (size_t)(H + 1));
    cr_assert(in && h && c && h2 && c2);
    memcpy(in, x, sizeof(double) * (size_t)(T * B * g->IN));
    for (int l = 0; l < g->L; l++) {
        if (l > 0) { /* the previous layer's output, through dropout */
            for (int64_t j = 0; j < T * B * DH; j++) in[j] = drop_all ? 0 : out[j];
            inw = DH;
        }
        for (int d = 0; d < g->D; d++) {
            const int kk = l * g->D + d;
            double *const *q = pv + kk * g->P;
            for (int64_t b = 0; b < B; b++) {
                for (int64_t j = 0; j < H; j++) {
                    h[j] = h0 ? h0[(kk * B + b) * H + j] : 0;
                    c[j] = c0 ? c0[(kk * B + b) * H + j] : 0;
                }
                for (int64_t s = 0; s < T; s++) {
                    int64_t t = d ? T - 1 - s : s;
                    rnn_ref_step(mode, H, inw, in + (t * B + b) * inw, h, c, q[0], q[1], g->P == 4 ? q[2] : NULL,
                                 g->P == 4 ? q[3] : NULL, h2, c2, scale, kink);
                    memcpy(h, h2, sizeof(double) * (size_t)H);
                    if (mode == NPG_RNN_LSTM) memcpy(c, c2, sizeof(double) * (size_t)H);
                    for (int64_t j = 0; j < H; j++) out[(t * B + b) * DH + d * H + j] = h[j];
                }
                for (int64_t j = 0; j < H; j++) {
                    hn[(kk * B + b) * H + j] = h[j];
                    if (cn) cn[(kk * B + b) * H + j] = c[j];
                }
            }
        }
    }
    free(in);
    free(h);
    free(c);
    free(h2);
    free(c2);
}

/* npg_gradcheck of a call: inputs x, h0, c0 (those present) and every
 * parameter; the output is out, h_n / 2 and c_n / 4, flattened and joined. */
typedef struct rnn_gc {
    rnn_call k;
    bool has_h0, has_c0;
} rnn_gc;

static npg_array *rnn_gc_fn(npg_array *const *in, int n, void *user) {
    const rnn_gc *u = user;
    rnn_call k = u->k;
    int i = 0;
    k.x = in[i++];
    k.h0 = u->has_h0 ? in[i++] : NULL;
    k.c0 = u->has_c0 ? in[i++] : NULL;
    for (int j = 0; j < k.n_params; j++) k.p[j] = in[i++];
    cr_assert(i == n);
    k.want_hn = true;
    k.want_cn = k.mode == NPG_RNN_LSTM;
    k.null_out = false;
    npg_array *out = NULL, *hn = NULL, *cn = NULL;
    if (rnn_run(&k, &out, &hn, &cn) != NPG_OK) return NULL;
    npg_scope s = npg_scope_begin();
    npg_array *parts[3] = {npg_reshape(out, NPG_SHAPE(npg_size(out))),
                           npg_multiply_scalar(npg_reshape(hn, NPG_SHAPE(npg_size(hn))), 0.5),
                           cn ? npg_multiply_scalar(npg_reshape(cn, NPG_SHAPE(npg_size(cn))), 0.25) : NULL};
    npg_array *r = npg_concat(parts, cn ? 3 : 2, 0);
    npg_keep(r);
    npg_scope_end(s);
    npg_free(out);
    npg_free(hn);
    npg_free(cn);
    return r;
}

/* Own snapshots of the parameters (more than the per-call watch holds). */
typedef struct rnn_snap {
    int n;
    const npg_array *a[2 * RNN_MAXP];
    unsigned char *b[2 * RNN_MAXP];
    uint64_t ver[2 * RNN_MAXP];
} rnn_snap;

static void rnn_snap_add(rnn_snap *s, const npg_array *a) {
    if (!a) return;
    for (int i = 0; i < s->n; i++)
        if (s->a[i] == a) return;
    cr_assert(s->n < 2 * RNN_MAXP);
    s->a[s->n] = a;
    s->b[s->n] = read_bytes(a);
    s->ver[s->n] = npg_version(a);
    s->n++;
}
static void rnn_snap_check(rnn_snap *s) {
    for (int i = 0; i < s->n; i++) {
        unsigned char *now = read_bytes(s->a[i]);
        bool same = memcmp(now, s->b[i], npg_nbytes(s->a[i])) == 0;
        free(now);
        CHECK(same && npg_version(s->a[i]) == s->ver[i], "npg_rnn: a parameter (or the array it views) was modified");
    }
}
static void rnn_snap_free(rnn_snap *s) {
    for (int i = 0; i < s->n; i++) free(s->b[i]);
    s->n = 0;
}

/* The results of a valid call that succeeded: shapes, dtypes, requires
 * grad, values against the reference, dropout's determinism, gradients. */
static void rnn_check_results(const rnn_call *kp, const rnn_geo *gp, npg_array *const *res, const double *xv,
                              const double *h0v, const double *c0v, double *const *pv) {
    const rnn_call k = *kp;
    const rnn_geo g = *gp;
    const bool lstm = k.mode == NPG_RNN_LSTM;
    npg_array *const out = res[0], *const hn = res[1], *const cn = res[2];
    static const char *const rname[3] = {"out", "h_n", "c_n"};
    const int64_t DH = g.D * g.H, LDg = (int64_t)g.L * g.D;
    npg_shape wo = g.unbatched ? (npg_shape){2, {g.T, DH}}
                   : g.bf      ? (npg_shape){3, {g.B, g.T, DH}}
                               : (npg_shape){3, {g.T, g.B, DH}};
    npg_shape wh = g.unbatched ? (npg_shape){2, {LDg, g.H}} : (npg_shape){3, {LDg, g.B, g.H}};
    expect_shape(out, wo, "npg_rnn: out");
    if (hn) expect_shape(hn, wh, "npg_rnn: h_n");
    if (cn) expect_shape(cn, wh, "npg_rnn: c_n");
    /* dtypes (the header): every result has x's dtype promoted with all
     * parameters' and the states' (the default float for integers), whichever
     * parameters the call uses, an empty sequence included */
    npg_array *ops[RNN_MAXP + 3] = {k.x, k.h0, k.c0};
    for (int i = 0; i < k.n_params; i++) ops[3 + i] = k.p[i];
    npg_dtype want = npg_dtype_of(k.x);
    for (int i = 0; i < k.n_params; i++) want = fz_result_type(want, npg_dtype_of(k.p[i]));
    if (k.h0) want = fz_result_type(want, npg_dtype_of(k.h0));
    if (k.c0) want = fz_result_type(want, npg_dtype_of(k.c0));
    want = nn_float_of(want);
    for (int i = 0; i < 3; i++) {
        if (!res[i]) continue;
        npg_dtype rd = npg_dtype_of(res[i]);
        CHECK(rd == want, "npg_rnn: %s is %s, expected x's dtype promoted with the parameters' and states': %s",
              rname[i], npg_dtype_name(rd), npg_dtype_name(want));
    }
    /* requires grad: exactly when an operand reaching the result does
     * (outside no-grad mode). Must reach: everything, with T >= 1; may: w_hh
     * when h0 is NULL and T = 1 (h is then zero at the only step), x and
     * the layers below the last for out when dropout zeroes their output,
     * everything but h0 (c0) for h_n (c_n) when T = 0 (out is then empty and
     * the states stay) */
    const bool drop_all = g.L > 1 && k.o.training && k.o.dropout == 1;
    for (int r = 0; r < 3; r++) {
        if (!res[r]) continue;
        bool must = false, may = false;
        for (int i = 0; i < 3 + k.n_params; i++) {
            if (!ops[i] || !npg_requires_grad(ops[i])) continue;
            const int which = i >= 3 ? (i - 3) % g.P : -1, layer = i >= 3 ? (i - 3) / g.P / g.D : -1;
            bool m;
            if (g.T == 0) m = i == r && r > 0;
            else if (which == 1 && g.T == 1 && !k.h0) m = false;
            else if (r == 0 && drop_all && (i == 0 || (i >= 3 && layer < g.L - 1))) m = false;
            else m = true;
            if (m) must = true;
            else may = true;
        }
        if (g_nn_ng) must = may = false;
        bool rg = npg_requires_grad(res[r]);
        CHECK(rg || !must, "npg_rnn: %s does not require grad, but an operand reaching it does", rname[r]);
        CHECK(!rg || must || may, "npg_rnn: %s requires grad, but no operand does", rname[r]);
    }
    /* the values, where every operand is tame and dropout is off or total */
    const bool random_drop = g.L > 1 && k.o.training && k.o.dropout > 0 && k.o.dropout < 1;
    bool tm = !random_drop && nn_tame(xv, npg_size(k.x)) && nn_tame(h0v, k.h0 ? npg_size(k.h0) : 0) &&
              nn_tame(c0v, k.c0 ? npg_size(k.c0) : 0) && g.G * g.H <= RNN_MAX_GH;
    for (int i = 0; i < k.n_params; i++) tm = tm && nn_tame(pv[i], npg_size(k.p[i]));
    double kink = INFINITY;
    if (tm) {
        const int64_t T_ = g.T, B_ = g.B, IN_ = g.IN, H_ = g.H;
        double *xt = malloc(sizeof(double) * (size_t)(T_ * B_ * IN_ + 1));
        double *ro = malloc(sizeof(double) * (size_t)(T_ * B_ * DH + 1));
        double *rh = malloc(sizeof(double) * (size_t)(LDg * B_ * H_ + 1)), *rc = malloc(sizeof(double) * (size_t)(LDg * B_ * H_ + 1));
        double *wo_v = malloc(sizeof(double) * (size_t)(T_ * B_ * DH + 1));
        cr_assert(xt && ro && rh && rc && wo_v);
        for (int64_t t = 0; t < T_; t++) /* x in time-major order */
            for (int64_t b = 0; b < B_; b++)
                for (int64_t i = 0; i < IN_; i++)
                    xt[(t * B_ + b) * IN_ + i] = xv[((g.bf && !g.unbatched ? b * T_ + t : t * B_ + b)) * IN_ + i];
        double sc = 0;
        rnn_reference(k.mode, &g, xt, pv, h0v, c0v, drop_all, ro, rh, lstm ? rc : NULL, &sc, &kink);
        for (int64_t t = 0; t < T_; t++) /* out in the caller's order */
            for (int64_t b = 0; b < B_; b++)
                for (int64_t j = 0; j < DH; j++)
                    wo_v[((g.bf && !g.unbatched ? b * T_ + t : t * B_ + b)) * DH + j] = ro[(t * B_ + b) * DH + j];
        int64_t nmax = T_ * B_ * DH > LDg * B_ * H_ ? T_ * B_ * DH : LDg * B_ * H_;
        double *scale = malloc(sizeof(double) * (size_t)(nmax + 1));
        cr_assert(scale);
        for (int64_t j = 0; j < nmax; j++) scale[j] = sc;
        double tol = nn_tol(npg_dtype_of(out));
        for (int i = 0; i < k.n_params; i++)
            if (npg_dtype_of(k.p[i]) != NPG_FLOAT64) tol = 2e-4;
        nn_expect_close(out, wo_v, scale, NULL, tol, "npg_rnn: out");
        if (hn) nn_expect_close(hn, rh, scale, NULL, tol, "npg_rnn: h_n");
        if (cn) nn_expect_close(cn, rc, scale, NULL, tol, "npg_rnn: c_n");
        free(scale);
        free(xt);
        free(ro);
        free(rh);
        free(rc);
        free(wo_v);
    }
    /* random dropout: the same generator state gives the same result */
    if (random_drop && chance(30)) {
        uint64_t seed = rnd();
        rnn_call k2 = k, k3 = k;
        k2.o.gen = npg_generator_new(seed);
        k3.o.gen = npg_generator_new(seed);
        k2.want_hn = k3.want_hn = false;
        k2.want_cn = k3.want_cn = false;
        npg_array *o2 = NULL, *o3 = NULL;
        npg_clear_error();
        npg_status s2 = rnn_run(&k2, &o2, NULL, NULL), s3 = rnn_run(&k3, &o3, NULL, NULL);
        CHECK(s2 == NPG_OK && s3 == NPG_OK, "npg_rnn: a call with a seeded dropout generator failed: %s",
              npg_last_error());
        unsigned char *b2 = read_bytes(o2), *b3 = read_bytes(o3);
        bool same = npg_nbytes(o2) == npg_nbytes(o3) && memcmp(b2, b3, npg_nbytes(o2)) == 0;
        free(b2);
        free(b3);
        npg_free(o2);
        npg_free(o3);
        npg_generator_free(k2.o.gen);
        npg_generator_free(k3.o.gen);
        CHECK(same, "npg_rnn: two calls with equally seeded dropout generators differ");
    }
    /* gradients, on tiny calls away from relu's kink */
    bool rg_any = false;
    for (int i = 0; i < 3 + k.n_params; i++) rg_any |= ops[i] && npg_requires_grad(ops[i]);
    int64_t total = 0;
    bool small = true;
    for (int i = 0; i < 3 + k.n_params; i++) {
        if (!ops[i]) continue;
        total += npg_size(ops[i]);
        const double *v = i == 0 ? xv : i == 1 ? h0v : i == 2 ? c0v : pv[i - 3];
        small = small && nn_maxabs(v, npg_size(ops[i])) <= 10;
    }
    if (tm && small && rg_any && !g_nn_ng && g.T >= 1 && total <= 96 &&
        (k.mode != NPG_RNN_RELU || kink > 1e-3) && chance(35)) {
        rnn_gc u = {.k = k, .has_h0 = k.h0 != NULL, .has_c0 = k.c0 != NULL};
        npg_array *in[RNN_MAXP + 3];
        int n = 0;
        in[n++] = k.x;
        if (k.h0) in[n++] = k.h0;
        if (k.c0) in[n++] = k.c0;
        for (int i = 0; i < k.n_params; i++) in[n++] = k.p[i];
        npg_clear_error();
        g_bug = false;
        npg_status gs = npg_gradcheck(rnn_gc_fn, &u, in, n, NULL);
        CHECK(!g_bug, "npg_rnn: an internal assertion fired in npg_gradcheck: %s", g_bug_msg);
        CHECK(gs == NPG_OK, "npg_rnn: npg_gradcheck: %s", npg_last_error());
    }
}

static const char *const RNN_MODE_NAME[] = {"?", "TANH", "RELU", "LSTM", "GRU"};

static void fz_nn_rnn(void) {
    const char *fn = "npg_rnn";
    rnn_call k;
    memset(&k, 0, sizeof k);
    k.mode = chance(95) ? rint_in(NPG_RNN_TANH, NPG_RNN_GRU) : PICK(((const int[]){0, 5, -1, 100, INT_MIN}));
    const int mode_b = k.mode >= NPG_RNN_TANH && k.mode <= NPG_RNN_GRU ? k.mode : NPG_RNN_TANH; /* to build with */
    const bool lstm = k.mode == NPG_RNN_LSTM;
    const int64_t G = rnn_gates_of(mode_b);
    k.has_opts = chance(90);
    if (k.has_opts) {
        k.o.num_layers = chance(93) ? rint_in(0, 3) : PICK(((const int[]){-1, -3, INT_MIN, INT_MAX, (1 << 20) + 1}));
        k.o.bidirectional = chance(40);
        k.o.batch_first = chance(35);
        k.o.training = chance(35);
        int r = rint_in(0, 99);
        k.o.dropout = r < 55   ? 0
                      : r < 90 ? PICK(((const double[]){0.0, 1.0, 0.5, 0.25, -0.0}))
                               : PICK(((const double[]){-0.1, 1.5, NAN, INFINITY, -INFINITY, 1e-300, 0.999}));
        k.o.gen = chance(50) ? g_gen : NULL;
    }
    /* the geometry to build with (an invalid num_layers builds 1 or 2) */
    const int nl = k.o.num_layers, L = nl >= 1 && nl <= 3 ? nl : nl == 0 ? 1 : rint_in(1, 2);
    const int D = k.o.bidirectional ? 2 : 1;
    const bool unb = chance(20), bias = chance(65), bf = k.o.batch_first;
    const bool tiny = chance(30); /* small enough for npg_gradcheck */
    int64_t T = chance(8) ? 0 : rint_in(1, tiny ? 3 : 5), B = chance(8) ? 0 : rint_in(1, tiny ? 2 : 3);
    int64_t IN = rint_in(1, tiny ? 2 : 4), H = rint_in(1, tiny ? 2 : 4);
    const npg_dtype dt = rand_float_dtype();
    g_rnn_wild = chance(6) ? 5 : 0;
    /* x: (T, B, IN), (B, T, IN) or (T, IN); now and then 1-d, 4-d or 0-d */
    npg_shape xs = unb ? (npg_shape){2, {T, IN}} : bf ? (npg_shape){3, {B, T, IN}} : (npg_shape){3, {T, B, IN}};
    if (chance(3)) {
        int r = rint_in(0, 2);
        xs = r == 0 ? (npg_shape){1, {IN}} : r == 1 ? (npg_shape){4, {T, B, IN, 1}} : (npg_shape){0};
    }
    npg_dtype xdt = dt;
    int r = rint_in(0, 99);
    if (r < 14)
        xdt = PICK(((const npg_dtype[]){NPG_INT32, NPG_INT64, NPG_UINT8, NPG_BOOL, NPG_INT8, NPG_INT16, NPG_UINT16,
                                        NPG_UINT32, NPG_UINT64}));
    else if (r < 22) xdt = dt == NPG_FLOAT32 ? NPG_FLOAT64 : NPG_FLOAT32;
    g_rnn_amp = 2;
    k.x = chance(3) ? NULL : rnn_make(xdt, xs, 30);
    /* parameters, l-major, forward first; weights uniform in [-0.8, 0.8] */
    g_rnn_amp = 0.8;
    const int P = bias ? 4 : 2, LD = L * D, np = LD * P;
    for (int l = 0; l < L; l++)
        for (int d = 0; d < D; d++)
            for (int j = 0; j < P; j++) {
                npg_shape s = j == 0   ? (npg_shape){2, {G * H, l == 0 ? IN : D * H}}
                              : j == 1 ? (npg_shape){2, {G * H, H}}
                                       : (npg_shape){1, {G * H}};
                int q = rint_in(0, 99);
                npg_dtype pdt = q < 92   ? dt
                                : q < 98 ? rand_float_dtype()
                                         : PICK(((const npg_dtype[]){NPG_INT32, NPG_INT64, NPG_INT32, NPG_INT64, NPG_UINT8,
                                                                     NPG_INT8, NPG_INT16, NPG_UINT16, NPG_UINT32,
                                                                     NPG_UINT64}));
                k.p[(l * D + d) * P + j] = rnn_make(pdt, s, 30);
            }
    /* one array passed twice: b_hh is b_ih, or w_hh is w_ih (in = H) */
    if (bias && chance(5)) {
        int kk = rint_in(0, LD - 1);
        k.p[kk * P + 3] = k.p[kk * P + 2];
    }
    if (IN == H && chance(5)) k.p[1] = k.p[0];
    /* wrong parameters now and then */
    r = rint_in(0, 99);
    if (r < 3) {
        k.p[rint_in(0, np - 1)] = NULL;
    } else if (r < 14) {
        int i = rint_in(0, np - 1);
        npg_shape s = npg_shape_of(k.p[i]);
        int w = rint_in(0, 5);
        if (w == 0) s.dims[0]++;
        else if (w == 1 && s.ndim == 2) s.dims[1] += chance(50) ? 1 : -1;
        else if (w == 2) s = s.ndim == 2 ? (npg_shape){1, {s.dims[0]}} : (npg_shape){2, {s.dims[0], H}};
        else if (w == 3 && s.ndim == 2 && i >= D * P && i % P == 0) s.dims[1] = IN; /* layer l > 0 takes D H */
        else if (w == 4) s = rand_shape();
        else s.dims[0] = (G == 4 ? 3 : 4) * H; /* another mode's gates */
        k.p[i] = rnn_make(dt, s, 30);
    } else if (r < 17 && np >= 2) { /* two swapped */
        int i = rint_in(0, np - 1), j = rint_in(0, np - 1);
        npg_array *t = k.p[i];
        k.p[i] = k.p[j];
        k.p[j] = t;
    }
    k.n_params = np;
    r = rint_in(0, 99);
    if (r < 6) k.n_params = np + PICK(((const int[]){1, -1, 2, -2}));
    else if (r < 9) k.n_params = bias ? LD * 2 : LD * 4; /* the other layout's count */
    else if (r < 11) k.n_params = PICK(((const int[]){0, -1, INT_MIN, INT_MAX}));
    k.null_params = chance(1);
    /* states: (L D, B, H) or (L D, H) unbatched; wrong now and then */
    g_rnn_amp = 1;
    npg_shape ss = unb ? (npg_shape){2, {LD, H}} : (npg_shape){3, {LD, B, H}};
    for (int i = 0; i < 2; i++) {
        if (!(i == 0 ? chance(45) : lstm ? chance(45) : chance(4))) continue;
        npg_shape s = ss;
        if (chance(8)) {
            int w = rint_in(0, 4);
            if (w == 0) s.dims[0] += chance(50) ? 1 : -1;
            else if (w == 1) s.dims[s.ndim - 1]++;
            else if (w == 2 && s.ndim == 3) s.dims[1] = B == 1 ? 2 : 1; /* broadcastable, still wrong */
            else if (w == 3) s = s.ndim == 3 ? (npg_shape){2, {LD, H}} : (npg_shape){3, {LD, 1, H}};
            else s = rand_shape();
        }
        npg_array *a = rnn_make(chance(88) ? dt : rand_float_dtype(), s, 30);
        if (i == 0) k.h0 = a;
        else k.c0 = a;
    }
    k.want_hn = chance(65);
    k.want_cn = lstm ? chance(55) : chance(3);
    k.null_out = chance(2);
    const rnn_geo g = rnn_validate(&k);
    bool clean = g.valid; /* floating parameters (x may be of any dtype): the call must succeed */
    char xd[200];
    describe(k.x, xd, sizeof xd);
    call("%s(mode %d %s, x %s, h0 %s, c0 %s, params%s [%d built%s], n_params %d, opts %s{num_layers %d, bidir %d, "
         "batch_first %d, dropout %g, training %d, gen %s}, out%s, h_n %s, c_n %s) [L %d D %d T %lld B%s %lld in "
         "%lld H %lld]",
         fn, k.mode, RNN_MODE_NAME[k.mode >= 1 && k.mode <= 4 ? k.mode : 0], xd, k.h0 ? "given" : "NULL",
         k.c0 ? "given" : "NULL", k.null_params ? " NULL" : "", np, bias ? " with biases" : "", k.n_params,
         k.has_opts ? "" : "NULL ", k.o.num_layers, k.o.bidirectional, k.o.batch_first, k.o.dropout, k.o.training,
         k.o.gen ? "g" : "NULL", k.null_out ? " NULL" : "", k.want_hn ? "wanted" : "NULL",
         k.want_cn ? "wanted" : "NULL", L, D, (long long)T, unb ? "(unbatched)" : "", (long long)B, (long long)IN,
         (long long)H);
    arg(k.x);
    opt_arg(k.h0);
    opt_arg(k.c0);
    if (g.null_entry) C.null_op = true; /* a NULL operand among params */
    if (!g.other_ok) must_fail();        /* wrong besides any NULL operand */
    rnn_snap sn = {0};
    for (int i = 0; i < np && i < RNN_MAXP; i++) {
        rnn_snap_add(&sn, k.p[i]);
        rnn_snap_add(&sn, pool_base(k.p[i]));
    }
    for (int i = 0; clean && i < k.n_params; i++)
        if (!npg_is_floating(npg_dtype_of(k.p[i]))) clean = false;
    /* values as the call begins */
    double *xv = NULL, *h0v = NULL, *c0v = NULL, *pv[RNN_MAXP] = {NULL};
    if (g.valid) {
        xv = rnn_vals(k.x);
        h0v = rnn_vals(k.h0);
        c0v = rnn_vals(k.c0);
        for (int i = 0; i < k.n_params; i++) pv[i] = rnn_vals(k.p[i]);
    }
    ng_maybe();
    go();
    g_force_sentinel = -1;
    npg_array *out = UNSET, *hn = UNSET, *cn = UNSET;
    npg_status st = rnn_run(&k, &out, &hn, &cn);
    nn_named(st != NPG_OK, fn);
    nn_ng_end();
    if (st != NPG_OK)
        CHECK(st == npg_last_status(), "returned %d but the last status is %d", (int)st, (int)npg_last_status());
    after(st != NPG_OK);
    if (clean) CHECK(st == NPG_OK, "a valid call failed: %s", npg_last_error());
    if (st != NPG_OK && k.null_params && k.x && !g.null_entry) { /* the header: a NULL params list is NPG_ERR_NULL_ARG */
        rnn_call k2 = k;
        k2.null_params = false;
        if (rnn_validate(&k2).valid)
            CHECK(st == NPG_ERR_NULL_ARG, "%s: a NULL params list gave status %d, not NPG_ERR_NULL_ARG: %s", fn, (int)st,
                  npg_last_error());
    }
    if (st != NPG_OK) {
        CHECK(k.null_out || out == NULL, "%s failed but *out is not NULL", fn);
        CHECK(!k.want_hn || hn == NULL, "%s failed but *h_n is not NULL", fn);
        CHECK(!k.want_cn || cn == NULL, "%s failed but *c_n is not NULL", fn);
        check_unchanged(false);
        rnn_snap_check(&sn);
    } else {
        CHECK(out != NULL && out != UNSET, "%s succeeded without *out", fn);
        CHECK(!k.want_hn || (hn != NULL && hn != UNSET), "%s succeeded without *h_n", fn);
        CHECK(!k.want_cn || (cn != NULL && cn != UNSET), "%s succeeded without *c_n", fn);
        CHECK(k.want_hn || hn == UNSET, "%s wrote h_n, which was not asked for", fn);
        CHECK(k.want_cn || cn == UNSET, "%s wrote c_n, which was not asked for", fn);
        npg_array *res[3] = {out, k.want_hn ? hn : NULL, k.want_cn ? cn : NULL};
        for (int i = 0; i < 3; i++)
            if (res[i]) check_sane(res[i]);
        if (g.valid) rnn_check_results(&k, &g, res, xv, h0v, c0v, pv);
        for (int i = 0; i < 3; i++)
            if (res[i]) maybe_backward(res[i]);
        check_unchanged(true);
        rnn_snap_check(&sn);
        for (int i = 0; i < 3; i++) npg_free(res[i]);
    }
    rnn_snap_free(&sn);
    free(xv);
    free(h0v);
    free(c0v);
    for (int i = 0; i < RNN_MAXP; i++) free(pv[i]);
}

/* npg_rnn on a broadcast view of 2^46 or more elements (a sequence longer
 * than any, a batch no memory holds): fails, naming npg_rnn, with nothing
 * leaked and the small operands and the view's base unchanged. */
static void fz_nn_rnn_huge(void) {
    const char *fn = "npg_rnn";
    rnn_call k;
    memset(&k, 0, sizeof k);
    k.mode = rint_in(NPG_RNN_TANH, NPG_RNN_GRU);
    const int64_t G = rnn_gates_of(k.mode), H = rint_in(1, 2), IN = rint_in(1, 2);
    const int D = chance(40) ? 2 : 1, P = chance(50) ? 4 : 2;
    k.has_opts = true;
    k.o.bidirectional = D == 2;
    k.o.batch_first = chance(40);
    npg_dtype dt = rand_float_dtype();
    static const char *const hn[] = {"T = 2^46", "B = 2^46", "T = B = 2^23"};
    int h = rint_in(0, 2);
    int64_t T = h == 0 ? (int64_t)1 << 46 : h == 1 ? 2 : (int64_t)1 << 23;
    int64_t B = h == 0 ? 2 : h == 1 ? (int64_t)1 << 46 : (int64_t)1 << 23;
    npg_shape xs = k.o.batch_first ? NN_BIG(B, T, IN) : NN_BIG(T, B, IN);
    npg_array *base;
    k.x = nn_huge(chance(85) ? dt
                             : PICK(((const npg_dtype[]){NPG_INT32, NPG_FLOAT32, NPG_FLOAT64, NPG_INT8, NPG_UINT16,
                                                         NPG_UINT64})),
                  xs, &base);
    for (int d = 0; d < D; d++)
        for (int j = 0; j < P; j++)
            k.p[d * P + j] = nn_small(dt, j == 0 ? NN_BIG(G * H, IN) : j == 1 ? NN_BIG(G * H, H) : NN_BIG(G * H));
    k.n_params = D * P;
    k.want_hn = chance(50);
    k.want_cn = k.mode == NPG_RNN_LSTM && chance(50);
    call("%s(mode %d, huge x (%s%s), NULL, NULL, params, %d, {bidir %d}, out, h_n %s, c_n %s)", fn, k.mode, hn[h],
         k.o.batch_first ? ", batch_first" : "", k.n_params, D == 2, k.want_hn ? "wanted" : "NULL",
         k.want_cn ? "wanted" : "NULL");
    for (int i = 0; i < k.n_params; i++) opt_arg(k.p[i]);
    opt_arg(base);
    must_fail();
    go();
    npg_array *out = UNSET, *hno = UNSET, *cno = UNSET;
    npg_status st = rnn_run(&k, &out, &hno, &cno);
    nn_named(st != NPG_OK, fn);
    after(st != NPG_OK);
    if (st == NPG_OK) {
        npg_free(out);
        if (k.want_hn) npg_free(hno);
        if (k.want_cn) npg_free(cno);
    } else {
        CHECK(out == NULL && (!k.want_hn || hno == NULL) && (!k.want_cn || cno == NULL), "huge: %s failed but left an output", fn);
    }
    check_unchanged(st == NPG_OK);
}

/* Two rules (broken once, found by this fuzzer) checked for every mode
 * once per test, after the random calls; every violation is listed.
 *  - A NULL among params, as a failed call leaves it, with that call's
 *    error still pending: npg_rnn fails keeping the pending error (it
 *    names the real cause), as for any NULL operand (npg_stack and
 *    npg_concat keep it for a NULL in their arrays).
 *  - The result dtype is x's promoted with the parameters' (the header),
 *    whatever the parameters the call happens to use: w_hh float64 with
 *    everything else float32 gives float64 for T = 1 without h0 (h is zero
 *    at the only step) as for T = 2; so does a GRU's b_hh for T = 0. */
static void rnn_focused_checks(int it) {
    /* per rule: the modes that broke it, and the first case's words */
    bool broke[2][NPG_RNN_GRU + 1] = {{false}};
    char first[2][240] = {"", ""};
#define RNN_BAD(r, ...)                                                      \
    do {                                                                     \
        if (!first[r][0]) snprintf(first[r], sizeof first[r], __VA_ARGS__); \
        broke[r][mode] = true;                                               \
    } while (0)
    for (int mode = NPG_RNN_TANH; mode <= NPG_RNN_GRU; mode++) {
        const int64_t G = rnn_gates_of(mode);
        /* a NULL entry, with an error pending */
        iter_begin(it);
        rnn_call k;
        memset(&k, 0, sizeof k);
        k.mode = mode;
        k.x = make(NPG_FLOAT32, (npg_shape){3, {2, 1, 3}}, 0);
        for (int j = 0; j < 4; j++)
            k.p[j] = make(NPG_FLOAT32, j == 0 ? (npg_shape){2, {G * 2, 3}} : j == 1 ? (npg_shape){2, {G * 2, 2}}
                                                                              : (npg_shape){1, {G * 2}}, 0);
        const int nulled = mode - 1;
        k.p[nulled] = NULL;
        k.n_params = 4;
        call("npg_rnn(mode %d, x, NULL, NULL, params with params[%d] NULL, 4, NULL, out, NULL, NULL) with an error "
             "pending",
             mode, nulled);
        arg(k.x);
        g_force_sentinel = 1;
        C.null_op = true;
        go();
        g_force_sentinel = -1;
        npg_array *out = UNSET;
        npg_status st = rnn_run(&k, &out, NULL, NULL);
        CHECK(st != NPG_OK && out == NULL, "npg_rnn succeeded with params[%d] NULL (or left *out)", nulled);
        if (!(npg_last_status() == NPG_ERR_FORMAT && strcmp(npg_last_error(), g_sentinel_msg) == 0))
            RNN_BAD(0, "params[%d] NULL with an error pending: replaced by status %d: %s", nulled,
                    (int)npg_last_status(), npg_last_error());
        check_unchanged(false);
        iter_end();
        /* the result dtype: w_hh float64, everything else float32, no h0, T = 1 and 2; b_hh float64 and T = 0 */
        for (int c = 0; c < 3; c++) {
            if (c == 2 && mode != NPG_RNN_GRU) continue;
            const int64_t T = c == 0 ? 1 : c == 1 ? 2 : 0;
            iter_begin(it);
            memset(&k, 0, sizeof k);
            k.mode = mode;
            k.x = make(NPG_FLOAT32, (npg_shape){3, {T, 1, 2}}, 0);
            for (int j = 0; j < 4; j++) {
                npg_dtype dt = (c < 2 ? j == 1 : j == 3) ? NPG_FLOAT64 : NPG_FLOAT32;
                k.p[j] = make(dt, j == 0 ? (npg_shape){2, {G * 2, 2}} : j == 1 ? (npg_shape){2, {G * 2, 2}}
                                                                       : (npg_shape){1, {G * 2}}, 0);
            }
            k.n_params = 4;
            k.want_hn = true;
            npg_array *hn = NULL;
            out = NULL;
            npg_clear_error();
            st = rnn_run(&k, &out, &hn, NULL);
            CHECK(st == NPG_OK, "npg_rnn(mode %d, T %lld, mixed dtypes) failed: %s", mode, (long long)T, npg_last_error());
            if (npg_dtype_of(out) != NPG_FLOAT64 || npg_dtype_of(hn) != NPG_FLOAT64)
                RNN_BAD(1, "x (T = %lld, 1, 2) float32, %s float64, the other parameters float32, no h0: out %s, h_n %s",
                        (long long)T, c < 2 ? "w_hh" : "b_hh", npg_dtype_name(npg_dtype_of(out)),
                        npg_dtype_name(npg_dtype_of(hn)));
            npg_free(out);
            npg_free(hn);
            iter_end();
        }
    }
#undef RNN_BAD
    static const char *const rule[2] = {"a NULL among params must keep the pending error",
                                        "the result dtype is x's promoted with the parameters'"};
    char msg[640] = "";
    for (int r = 0; r < 2; r++) {
        if (!first[r][0]) continue;
        size_t m = strlen(msg);
        m += (size_t)snprintf(msg + m, sizeof msg - m, "%s%s: broken in modes", m ? "; " : "", rule[r]);
        for (int mode = NPG_RNN_TANH; mode <= NPG_RNN_GRU && m < sizeof msg; mode++)
            if (broke[r][mode]) m += (size_t)snprintf(msg + m, sizeof msg - m, " %d", mode);
        if (m < sizeof msg) snprintf(msg + m, sizeof msg - m, ", e.g. %s", first[r]);
    }
    C.nops = 0;
    snprintf(C.what, sizeof C.what, "npg_rnn: the focused checks after the random calls");
    CHECK(!msg[0], "npg_rnn: %s", msg);
}

/* ---- the test ---- */

Test(fuzz2, rnn) {
    int n = start("rnn", 32, 2500);
    for (int it = 0; it < n; it++) {
        iter_begin(it);
        int r = rint_in(0, 99);
        if (r < 74) fz_nn_rnn();
        else if (r < 77) fz_nn_rnn_huge();
        else fz_nn_cell(PICK(((const int[]){NPG_RNN_TANH, NPG_RNN_RELU, NPG_RNN_LSTM, NPG_RNN_GRU})));
        iter_end();
    }
    rnn_focused_checks(n);
    finish();
}

/* ------------------------------------------------------------------------
 * Sampling from given probabilities: npg_bernoulli, npg_multinomial
 * ------------------------------------------------------------------------ */

/* Probabilities: mostly in [0, 1] (the ends, ties with common uniforms
 * impossible), some below 0, above 1, NaN and infinite; integers -1 .. 2. */
static void sm_prob_fill(void *buf, npg_dtype dt, int64_t n) {
    static const double e[] = {0.0, 1.0, -0.0, 0.5, -0.25, 1.5, NAN, INFINITY, -INFINITY, 1e-300, 0.999999};
    for (int64_t i = 0; i < n; i++) {
        double v = chance(75) ? runit() : PICK(e);
        int64_t iv = rint_in(-1, 2);
        if (dt == NPG_BOOL) ((uint8_t *)buf)[i] = (uint8_t)(rnd() & 1);
        else if (t_is_int(dt)) t_put_bits(dt, buf, i, (uint64_t)iv); /* -1 wraps to the largest unsigned */
        else fz_put_f(buf, dt, i, v);                                    /* fails for a bad dtype */
    }
}

/* Weights: non-negative, zero a third of the time; g_sm_bad percent wild
 * (negative, NaN, infinite). */
static int g_sm_bad;
static void sm_weight_fill(void *buf, npg_dtype dt, int64_t n) {
    static const double bad[] = {-1.0, -0.5, NAN, INFINITY, -INFINITY, -1e-300};
    for (int64_t i = 0; i < n; i++) {
        bool zero = chance(33), wild = chance(g_sm_bad);
        double v = wild ? PICK(bad) : zero ? 0.0 : 0.05 + runit() * 3;
        int64_t iv = wild ? -1 : zero ? 0 : rint_in(1, 3);
        if (dt == NPG_BOOL) ((uint8_t *)buf)[i] = (uint8_t)(rnd() & 1);
        else if (t_is_unsigned(dt)) t_put_bits(dt, buf, i, (uint64_t)(wild ? 0 : iv));
        else if (fz_is_sint(dt)) t_put_bits(dt, buf, i, (uint64_t)iv);
        else fz_put_f(buf, dt, i, v); /* fails for a bad dtype */
    }
}

/* The generator of a call: a fresh one seeded `seed` (its twin, equally
 * seeded, gives the uniforms the call consumes), the suite's or the global
 * one (NULL). */
typedef struct sm_gen {
    npg_generator *g, *twin; /* twin NULL: the draws cannot be predicted */
    uint64_t seed;
} sm_gen;

static sm_gen sm_gen_new(void) {
    sm_gen r = {0};
    int k = rint_in(0, 99);
    if (k < 75) {
        r.seed = chance(20) ? (uint64_t)rint_in(0, 3) : rnd();
        r.g = npg_generator_new(r.seed);
        r.twin = npg_generator_new(r.seed);
        cr_assert(r.g && r.twin, "fuzz setup: npg_generator_new: %s", npg_last_error());
    } else if (k < 88) {
        r.g = g_gen;
    }
    return r;
}
static void sm_gen_free(sm_gen *r) {
    if (r->twin) {
        npg_generator_free(r->g);
        npg_generator_free(r->twin);
    }
    memset(r, 0, sizeof *r);
}

/* The next float64 uniforms of shape s that twin gives (row-major). */
static double *sm_uniforms(npg_generator *twin, npg_shape s) {
    npg_array *u = npg_rand(s, NPG_OPTS(.dtype = NPG_FLOAT64, .device = t_dev(), .generator = twin));
    cr_assert(u, "fuzz: npg_rand of the twin generator: %s", npg_last_error());
    double *v = t_read(u);
    npg_free(u);
    return v;
}

/* r's values against want, exactly (NaN matching NaN). */
static void sm_expect_exact(const npg_array *r, const double *want, int64_t n, const char *what) {
    double *got = t_read(r);
    for (int64_t j = 0; j < n; j++)
        if (!(got[j] == want[j] || (isnan(got[j]) && isnan(want[j])))) {
            double g = got[j], w = want[j];
            free(got);
            fail("%s: element %lld is %.17g, expected %.17g", what, (long long)j, g, w);
        }
    free(got);
}

/* bernoulli's definition on p's values (as float64) and uniforms u. */
static double *sm_bernoulli_ref(const npg_array *p, const double *u) {
    int64_t n = npg_size(p);
    double *pv = t_read(p), *w = malloc(sizeof(double) * (size_t)(n + 1));
    cr_assert(w);
    for (int64_t j = 0; j < n; j++) w[j] = isnan(pv[j]) ? NAN : u[j] < pv[j] ? 1.0 : 0.0;
    free(pv);
    return w;
}

static void fz_sm_bernoulli(void) {
    const char *fn = "npg_bernoulli";
    npg_dtype dt = chance(75) ? rand_float_dtype() : rand_dtype();
    bool huge = chance(4);
    npg_array *p, *base = NULL;
    if (huge) {
        static const char *const hn[] = {"2^47", "2^24, 2^24", "3, 2^46", "2^20, 1, 2^28"};
        int h = rint_in(0, 3);
        npg_shape big = h == 0   ? NN_BIG((int64_t)1 << 47)
                        : h == 1 ? NN_BIG((int64_t)1 << 24, (int64_t)1 << 24)
                        : h == 2 ? NN_BIG(3, (int64_t)1 << 46)
                                 : NN_BIG((int64_t)1 << 20, 1, (int64_t)1 << 28);
        p = nn_huge(dt, big, &base);
        call("%s(huge p (%s), gen)", fn, hn[h]);
    } else {
        p = chance(3) ? NULL : make_with(dt, rand_shape(), 25, sm_prob_fill);
        call("%s(p, gen)", fn);
    }
    if (!huge) arg(p); /* too large to snapshot: its base is watched */
    opt_arg(base);
    if (huge) must_fail();
    sm_gen gen = sm_gen_new();
    ng_maybe();
    go();
    npg_array *y = npg_bernoulli(p, gen.g);
    nn_named(y == NULL, fn);
    ng_end();
    after(y == NULL);
    if (p && !huge) VALID_FAILED(y);
    if (y && !huge) {
        check_sane(y);
        expect_shape(y, npg_shape_of(p), fn);
        npg_dtype want = npg_is_floating(npg_dtype_of(p)) ? npg_dtype_of(p) : npg__default_float();
        CHECK(npg_dtype_of(y) == want, "%s: result dtype %s, expected %s", fn, npg_dtype_name(npg_dtype_of(y)),
              npg_dtype_name(want));
        CHECK(!npg_requires_grad(y), "%s: the draws require grad", fn);
        int64_t n = npg_size(y);
        double *pv = t_read(p), *v = t_read(y);
        for (int64_t j = 0; j < n; j++) { /* 0 or 1 (NaN for NaN); certain where p <= 0 or p >= 1 */
            bool ok = isnan(pv[j]) ? isnan(v[j]) : pv[j] <= 0 ? v[j] == 0 : pv[j] >= 1 ? v[j] == 1 : v[j] == 0 || v[j] == 1;
            if (!ok) {
                double a = pv[j], b = v[j];
                free(pv);
                free(v);
                fail("%s: draw %lld is %g for p = %g", fn, (long long)j, b, a);
            }
        }
        free(pv);
        free(v);
        if (gen.twin) { /* exactly u < p with the uniforms an equally seeded generator gives */
            double *u = sm_uniforms(gen.twin, npg_shape_of(p)), *w = sm_bernoulli_ref(p, u);
            sm_expect_exact(y, w, n, "npg_bernoulli: u < p with the same uniforms");
            free(u);
            free(w);
            if (chance(40)) { /* the next call takes the next uniforms */
                npg_array *p2 = make_with(chance(70) ? npg_dtype_of(p) : rand_dtype(), rand_shape(), 0, sm_prob_fill);
                npg_clear_error();
                npg_array *y2 = npg_bernoulli(p2, gen.g);
                CHECK(y2, "%s: a second draw failed: %s", fn, npg_last_error());
                u = sm_uniforms(gen.twin, npg_shape_of(p2));
                w = sm_bernoulli_ref(p2, u);
                sm_expect_exact(y2, w, npg_size(p2), "npg_bernoulli: a second draw from the same generator");
                free(u);
                free(w);
                npg_free(y2);
            }
        }
    }
    check_unchanged(y != NULL);
    npg_free(y);
    sm_gen_free(&gen);
}

/* With replacement: the category of uniform u for a row of K weights (the
 * count of normalised cumulative weights <= u, clamped to the last positive
 * weight). */
static int64_t sm_inverse_cdf(const double *w, int64_t K, double u) {
    double total = 0, c = 0;
    for (int64_t k = 0; k < K; k++) total += w[k];
    int64_t cnt = 0, last = -1;
    for (int64_t k = 0; k < K; k++) {
        c += w[k];
        if (c / total <= u) cnt++;
        if (w[k] > 0) last = k;
    }
    return cnt < last ? cnt : last;
}

static void fz_sm_multinomial(void) {
    const char *fn = "npg_multinomial";
    int r = rint_in(0, 99);
    int64_t N = chance(8) ? 0 : rint_in(1, 4), K = chance(5) ? 0 : rint_in(1, 6);
    npg_shape ws = r < 60 ? (npg_shape){2, {N, K}} : r < 94 ? (npg_shape){1, {K}} : rand_shape();
    npg_dtype dt = chance(8)    ? NPG_BOOL
                   : chance(75) ? rand_float_dtype()
                                : PICK(((const npg_dtype[]){NPG_UINT8, NPG_INT32, NPG_INT64, NPG_INT8, NPG_INT16,
                                                            NPG_UINT16, NPG_UINT32, NPG_UINT64}));
    g_sm_bad = chance(12) ? 8 : 0;
    npg_array *w = chance(3) ? NULL : make_with(dt, ws, 20, sm_weight_fill);
    bool repl = chance(50);
    int64_t S = chance(92) ? rint_in(0, (int)K + 2) : weird_count();
    if (ws.ndim == 2 && chance(6) && N > 0) { /* a row of zeros */
        npg_array *z = npg_zeros(NPG_SHAPE(1, K), NPG_OPTS(.dtype = dt, .device = t_dev()));
        cr_assert(z);
        pool_add(z, NULL);
        npg_array *parts[2] = {z, w};
        if (w) w = pool_add(npg_concat(parts, 2, 0), NULL);
        if (w) N++;
        ws = w ? npg_shape_of(w) : ws;
    }
    /* validity, from the header, and the values the host reads */
    const int64_t Kw = ws.ndim >= 1 ? ws.dims[ws.ndim - 1] : 0, Nw = ws.ndim == 2 ? ws.dims[0] : 1;
    bool valid = w && (ws.ndim == 1 || ws.ndim == 2) && dt != NPG_BOOL && S >= 0, either = false;
    double *wv = w ? t_read(w) : NULL;
    if (valid) {
        if (Nw == 0 && (Kw == 0 || (!repl && S > Kw))) either = true; /* no rows: the header does not say */
        else if (Kw == 0 || (!repl && S > Kw)) valid = false;
        for (int64_t i = 0; valid && i < Nw; i++) {
            double sum = 0;
            int64_t pos = 0;
            for (int64_t k = 0; k < Kw; k++) {
                double v = wv[i * Kw + k];
                if (!(v >= 0) || !isfinite(v)) valid = false;
                sum += v > 0 ? v : 0;
                pos += v > 0;
            }
            if (!(sum > 0) || (!repl && pos < S)) valid = false;
        }
    }
    /* samples that cannot be held: fails (out of memory or too many) when there is a row */
    bool huge = S > 4096;
    if (valid && huge && Nw > 0) valid = false;
    if (valid && huge) either = true;
    char wd[200];
    describe(w, wd, sizeof wd);
    call("%s(weights, %lld, %s, gen)", fn, (long long)S, repl ? "replacement" : "no replacement");
    arg(w);
    if (!valid && !either && w) must_fail();
    sm_gen gen = sm_gen_new();
    ng_maybe();
    go();
    npg_array *y = npg_multinomial(w, S, repl, gen.g);
    nn_named(y == NULL, fn);
    ng_end();
    after(y == NULL);
    if (valid && !either) VALID_FAILED(y);
    if (y && (valid || either)) {
        check_sane(y);
        npg_shape want = ws.ndim == 2 ? (npg_shape){2, {Nw, S}} : (npg_shape){1, {S}};
        expect_shape(y, want, fn);
        CHECK(npg_dtype_of(y) == NPG_INT64, "%s: result dtype %s, expected int64", fn, npg_dtype_name(npg_dtype_of(y)));
        CHECK(!npg_requires_grad(y), "%s: the draws require grad", fn);
        int64_t n = npg_size(y);
        double *v = n <= 4096 ? t_read(y) : NULL;
        for (int64_t j = 0; v && j < n; j++) { /* a category of positive weight; without replacement, each once */
            int64_t row = j / (S ? S : 1), c = (int64_t)v[j];
            bool ok = v[j] == (double)c && c >= 0 && c < Kw && wv[row * Kw + c] > 0;
            for (int64_t i = row * S; ok && !repl && i < j; i++) ok = v[i] != v[j];
            if (!ok) {
                double b = v[j];
                free(v);
                free(wv);
                fail("%s: draw %lld (row %lld) is %g: not a category of positive weight%s", fn, (long long)j,
                     (long long)row, b, repl ? "" : ", or drawn twice");
            }
        }
        if (v && gen.twin) { /* exactly the definition with an equally seeded generator's uniforms */
            double *u = sm_uniforms(gen.twin, repl ? (npg_shape){2, {Nw, S}} : (npg_shape){2, {Nw, Kw}});
            double *ref = malloc(sizeof(double) * (size_t)(n + 1)), *key = malloc(sizeof(double) * (size_t)(Kw + 1));
            bool *taken = malloc((size_t)Kw + 1);
            cr_assert(ref && key && taken);
            for (int64_t i = 0; i < Nw; i++) {
                if (repl) {
                    for (int64_t j = 0; j < S; j++) ref[i * S + j] = (double)sm_inverse_cdf(wv + i * Kw, Kw, u[i * S + j]);
                    continue;
                }
                for (int64_t k = 0; k < Kw; k++) {
                    double wk = wv[i * Kw + k];
                    key[k] = wk > 0 ? -log1p(-u[i * Kw + k]) / wk : INFINITY;
                    taken[k] = false;
                }
                for (int64_t j = 0; j < S; j++) {
                    int64_t best = -1;
                    for (int64_t k = 0; k < Kw; k++)
                        if (!taken[k] && (best < 0 || key[k] < key[best])) best = k;
                    taken[best] = true;
                    ref[i * S + j] = (double)best;
                }
            }
            sm_expect_exact(y, ref, n, repl ? "npg_multinomial: the inverse CDF of the same uniforms"
                                            : "npg_multinomial: the smallest keys -log1p(-u)/w of the same uniforms");
            free(u);
            free(ref);
            free(key);
            free(taken);
        }
        free(v);
    }
    free(wv);
    check_unchanged(y != NULL);
    npg_free(y);
    sm_gen_free(&gen);
}

/* ---- the test ---- */

Test(fuzz2, sampling) {
    int n = start("sampling", 33, 12000);
    for (int it = 0; it < n; it++) {
        iter_begin(it);
        if (chance(45)) fz_sm_bernoulli();
        else fz_sm_multinomial();
        iter_end();
    }
    finish();
}

/* ------------------------------------------------------------------------
 * The autograd engine's in-place accumulation: one random graph built
 * twice; a normal backward (in-place adds, views into their input's
 * gradient) against a create_graph backward (the out-of-place paths)
 * ------------------------------------------------------------------------ */

/* Small integers in [-2, 2] (constants, leaves, gradients): sums and
 * products stay exact in both float dtypes. */
static void ga_fill(void *buf, npg_dtype dt, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        int64_t v = rint_in(-2, 2);
        cr_assert(dt == NPG_FLOAT32 || dt == NPG_FLOAT64, "fuzz: ga_fill: a %s array", npg_dtype_name(dt));
        fz_put_f(buf, dt, i, (double)v);
    }
}

/* A gradient hook's record: what it saw and what it kept. */
enum { GH_SEE, GH_KEEP, GH_KEEP_VIEW, GH_REPLACE_KEEP, GH_REPLACE, GH_KINDS };
#define GA_PASSES 3 /* grad_of and two backward passes */
typedef struct ga_hook {
    int kind, calls;
    double *seen[GA_PASSES];      /* the values of g at each call */
    int64_t n;                    /* their count */
    npg_array *kept[GA_PASSES];   /* what it kept (g, a view of g, its replacement) */
    unsigned char *bytes[GA_PASSES]; /* ... and its bytes then */
    bool bad;
} ga_hook;

static npg_status ga_hook_fn(void *ctx, npg_array *g, npg_array **r) {
    ga_hook *h = ctx;
    if (h->calls >= GA_PASSES || !g) {
        h->bad = true;
        return NPG_OK;
    }
    int c = h->calls++;
    h->seen[c] = t_read(g);
    h->n = npg_size(g);
    npg_array *keep = NULL;
    switch (h->kind) {
    case GH_KEEP: keep = npg_retain(g); break;
    case GH_KEEP_VIEW: keep = npg_retain(npg_detach(g)); break; /* a view of g's storage */
    case GH_REPLACE_KEEP:
        *r = npg_multiply_scalar(g, 2);
        keep = *r ? npg_retain(*r) : NULL;
        break;
    case GH_REPLACE: *r = npg_negative(g); break;
    default: break;
    }
    if (keep) {
        h->kept[c] = keep;
        h->bytes[c] = read_bytes(keep);
    }
    return NPG_OK;
}

#define GA_MAXN 32
#define GA_MAXH 8
typedef struct ga_graph {
    int n, nleaf;
    npg_array *a[GA_MAXN]; /* the graph's arrays (pooled): leaves first */
    npg_array *root, *G;   /* G: the caller's gradient of a non-scalar root, or NULL */
    int nh;
    ga_hook h[GA_MAXH];
    char ops[600]; /* how it was built, for messages */
    int nops;
} ga_graph;

static void ga_note(ga_graph *gr, const char *fmt, ...) {
    int k = (int)strlen(gr->ops);
    if (k > (int)sizeof gr->ops - 40) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(gr->ops + k, sizeof gr->ops - (size_t)k, fmt, ap);
    va_end(ap);
}

/* A random basic index of an array of shape s into idx: slices (steps of
 * either sign, bounds out of range), integers, new axes, an ellipsis. */
static int ga_rand_index(npg_shape s, npg_idx *idx) {
    int n = 0, nd = s.ndim, consumed = rint_in(0, nd), first = 0;
    if (consumed < nd && chance(30)) { /* an ellipsis, then the last axes */
        idx[n++] = NPG_ELLIPSIS;
        first = nd - consumed;
    }
    for (int a = first; a < first + consumed; a++) {
        int64_t d = s.dims[a];
        if (n < NPG_MAX_DIMS - 1 && chance(8)) idx[n++] = NPG_NEWAXIS;
        if (d > 0 && chance(25)) {
            idx[n++] = NPG_I(rint_in(-(int)d, (int)d - 1));
        } else {
            static const int64_t steps[] = {1, 1, 2, 3, -1, -1, -2};
            int64_t st = PICK(steps);
            int64_t b0 = chance(30) ? NPG_NONE : rint_in(-(int)d - 1, (int)d + 1);
            int64_t b1 = chance(30) ? NPG_NONE : rint_in(-(int)d - 1, (int)d + 1);
            idx[n++] = NPG_SLICE(b0, b1, st);
        }
    }
    return n;
}

#define GA_MAXOWN 192
static struct {
    int n;
    npg_array *a[GA_MAXOWN];
} g_ga_own; /* the arrays of both graphs (more than the operand pool holds) */

static npg_array *ga_pool(npg_array *x, const char *what) {
    cr_assert(x, "fuzz setup: building a graph: %s: %s", what, npg_last_error());
    cr_assert(g_ga_own.n < GA_MAXOWN, "fuzz setup: too many arrays in two graphs");
    return g_ga_own.a[g_ga_own.n++] = x;
}
static void ga_own_free(void) {
    while (g_ga_own.n > 0) npg_free(g_ga_own.a[--g_ga_own.n]);
}

/* A fresh array of small integers (no grad). */
static npg_array *ga_const(npg_dtype dt, npg_shape s) { return ga_pool(fresh_with(dt, s, ga_fill), "a constant"); }

static bool ga_small(npg_shape s) { return s.ndim <= 6 && numel_of(s) <= 96; }

/* Build a graph from the generator's draws (the same draws give the same
 * graph): 1 to 3 leaves, then views (slices, diagonals, views of views and
 * of intermediates), pass-through ops (add, reshape, transpose, expand,
 * positive) and others, hooks on some arrays, and a root: the sum of
 * weighted sums of some arrays, or one array plus that (non-scalar, with a
 * caller's gradient). */
static void ga_build(ga_graph *gr) {
    memset(gr, 0, sizeof *gr);
    gr->nleaf = rint_in(1, 3);
    for (int i = 0; i < gr->nleaf; i++) {
        npg_shape s = {.ndim = chance(8) ? 0 : rint_in(1, 3)};
        for (int d = 0; d < s.ndim; d++) s.dims[d] = chance(5) ? 0 : rint_in(1, 4);
        npg_array *x = ga_pool(fresh_with(rand_float_dtype(), s, ga_fill), "a leaf");
        setup_rg(x);
        gr->a[gr->n++] = x;
        char sb[64];
        ga_note(gr, "L%d=%s%s ", i, npg_dtype_of(x) == NPG_FLOAT32 ? "f32" : "f64", shape_str(&s, sb, sizeof sb));
    }
    int nops = rint_in(2, 14);
    for (int k = 0; k < nops && gr->n < GA_MAXN - 2; k++) {
        int xi = chance(50) ? rint_in(gr->n > 3 ? gr->n - 3 : 0, gr->n - 1) : rint_in(0, gr->n - 1);
        npg_array *x = gr->a[xi], *y = NULL;
        npg_shape s = npg_shape_of(x);
        char what[120];
        int op = rint_in(0, 99);
        if (op < 30) { /* a basic slice */
            npg_idx idx[NPG_MAX_DIMS];
            int m = ga_rand_index(s, idx);
            y = npg_index(x, idx, m);
            snprintf(what, sizeof what, "index(%d, %d idx)", xi, m);
        } else if (op < 40 && s.ndim >= 2) { /* a diagonal */
            int a1 = rint_in(0, s.ndim - 1), a2 = (a1 + rint_in(1, s.ndim - 1)) % s.ndim;
            int64_t off = rint_in(-2, 2);
            y = npg_diagonal(x, off, a1 - (chance(30) ? s.ndim : 0), a2);
            snprintf(what, sizeof what, "diagonal(%d, %lld, %d, %d)", xi, (long long)off, a1, a2);
        } else if (op < 48) { /* reshape: flat, or split the flat length */
            int64_t n = numel_of(s);
            npg_shape t = {1, {n}};
            if (n >= 4 && n % 2 == 0 && chance(50)) t = (npg_shape){2, {2, n / 2}};
            if (chance(15)) t = (npg_shape){.ndim = s.ndim + 1};
            if (t.ndim == s.ndim + 1 && s.ndim < NPG_MAX_DIMS) { /* a leading 1 */
                t.dims[0] = 1;
                memcpy(t.dims + 1, s.dims, sizeof(int64_t) * (size_t)s.ndim);
            }
            y = npg_reshape(x, t);
            snprintf(what, sizeof what, "reshape(%d)", xi);
        } else if (op < 55 && s.ndim >= 1) { /* transpose */
            npg_axes p = {.n = s.ndim};
            for (int i = 0; i < s.ndim; i++) p.axes[i] = s.ndim - 1 - i;
            if (chance(50) && s.ndim >= 2) {
                p.axes[0] = 0;
                for (int i = 1; i < s.ndim; i++) p.axes[i] = s.ndim - i;
            }
            y = npg_permute_dims(x, p);
            snprintf(what, sizeof what, "permute_dims(%d)", xi);
        } else if (op < 61) { /* expand: a new leading axis, size-1 axes grown */
            npg_shape t = s;
            if (t.ndim < 4 && chance(60)) {
                memmove(t.dims + 1, t.dims, sizeof(int64_t) * (size_t)t.ndim);
                t.dims[0] = rint_in(1, 3);
                t.ndim++;
            }
            for (int i = 0; i < t.ndim; i++)
                if (t.dims[i] == 1 && chance(50)) t.dims[i] = rint_in(2, 3);
            if (!ga_small(t)) t = s;
            y = npg_broadcast_to(x, t);
            snprintf(what, sizeof what, "broadcast_to(%d)", xi);
        } else if (op < 67) {
            y = npg_positive(x);
            snprintf(what, sizeof what, "positive(%d)", xi);
        } else if (op < 82) { /* add or subtract: another array that broadcasts, or x itself */
            int yi = xi;
            for (int tries = 0; tries < 6; tries++) {
                int c = rint_in(0, gr->n - 1);
                npg_shape two[2] = {s, npg_shape_of(gr->a[c])}, b;
                if (bcast_shapes(two, 2, &b) && ga_small(b)) {
                    yi = c;
                    break;
                }
            }
            bool sub = chance(25);
            y = sub ? npg_subtract(x, gr->a[yi]) : npg_add(x, gr->a[yi]);
            snprintf(what, sizeof what, "%s(%d, %d)", sub ? "subtract" : "add", xi, yi);
        } else if (op < 88) { /* times a constant, or a scalar */
            if (chance(50)) {
                y = npg_multiply(x, ga_const(rand_float_dtype(), s));
                snprintf(what, sizeof what, "multiply(%d, const)", xi);
            } else {
                double c = PICK(((const double[]){-1, 2, 3, -2}));
                y = npg_multiply_scalar(x, c);
                snprintf(what, sizeof what, "multiply_scalar(%d, %g)", xi, c);
            }
        } else if (op < 91) { /* times another array of the same shape (or itself) */
            int yi = xi;
            for (int c = 0; c < gr->n; c++)
                if (c != xi && same_shape(npg_shape_of(gr->a[c]), s) && chance(50)) yi = c;
            y = npg_multiply(x, gr->a[yi]);
            snprintf(what, sizeof what, "multiply(%d, %d)", xi, yi);
        } else if (op < 95 && s.ndim >= 1) { /* a sum over one axis */
            int ax = rint_in(0, s.ndim - 1);
            bool kd = chance(50);
            y = npg_sum(x, NPG_AXES(ax), kd);
            snprintf(what, sizeof what, "sum(%d, axis %d%s)", xi, ax, kd ? ", keepdims" : "");
        } else { /* expand_dims / squeeze / a copy */
            int w = rint_in(0, 2);
            if (w == 0 && s.ndim < 6) y = npg_expand_dims(x, rint_in(0, s.ndim));
            else if (w == 1) y = npg_squeeze(x, (npg_axes){0});
            else y = npg_copy(x);
            snprintf(what, sizeof what, "%s(%d)", w == 0 && s.ndim < 6 ? "expand_dims" : w == 1 ? "squeeze" : "copy",
                     xi);
        }
        if (!y) {
            y = npg_positive(x);
            snprintf(what, sizeof what, "positive(%d)", xi);
        }
        cr_assert(y, "fuzz setup: building a graph: %s: %s", what, npg_last_error());
        if (!ga_small(npg_shape_of(y))) { /* keep graphs small */
            npg_free(y);
            continue;
        }
        gr->a[gr->n++] = ga_pool(y, "an op");
        ga_note(gr, "%d=%s ", gr->n - 1, what);
    }
    /* hooks on some arrays (leaves and intermediates) */
    int nh = chance(60) ? rint_in(1, 4) : 0;
    for (int i = 0; i < nh && gr->nh < GA_MAXH; i++) {
        int xi = rint_in(0, gr->n - 1);
        ga_hook *h = &gr->h[gr->nh];
        h->kind = rint_in(0, GH_KINDS - 1);
        int hd = npg_register_hook(gr->a[xi], ga_hook_fn, h, NULL);
        cr_assert(hd > 0, "fuzz setup: npg_register_hook: %s", npg_last_error());
        gr->nh++;
        ga_note(gr, "hook%d(%d) ", h->kind, xi);
    }
    /* the root: sum_i sum(a_i * W_i) over some arrays (the last always) */
    npg_array *s = NULL;
    for (int i = 0; i < gr->n; i++) {
        if (i != gr->n - 1 && !chance(45)) continue;
        npg_array *x = gr->a[i];
        npg_array *w = ga_const(rand_float_dtype(), npg_shape_of(x));
        npg_array *t = ga_pool(npg_sum(ga_pool(npg_multiply(x, w), "weighting"), NPG_ALL_AXES, false), "sum");
        s = s ? ga_pool(npg_add(s, t), "the root sum") : t;
        ga_note(gr, "+w%d ", i);
    }
    if (chance(35)) { /* a non-scalar root r + s, and the caller's gradient for it */
        int ri = rint_in(0, gr->n - 1);
        npg_array *r = gr->a[ri];
        gr->root = ga_pool(npg_add(r, s), "the root");
        npg_shape rs = npg_shape_of(gr->root);
        gr->G = make_with(rand_float_dtype(), rs, 0, ga_fill); /* fresh, transposed, strided or broadcast */
        ga_note(gr, "root=%d+sum, caller's G", ri);
    } else {
        gr->root = s;
    }
}

/* A hook record's memory (and what it kept). */
static void ga_hooks_free(ga_graph *gr) {
    for (int i = 0; i < gr->nh; i++)
        for (int c = 0; c < GA_PASSES; c++) {
            free(gr->h[i].seen[c]);
            free(gr->h[i].bytes[c]);
            npg_free(gr->h[i].kept[c]);
        }
}

/* What a hook kept has its bytes of when it kept it. */
static void ga_kept_unchanged(const ga_graph *gr, const char *when) {
    for (int i = 0; i < gr->nh; i++)
        for (int c = 0; c < GA_PASSES; c++) {
            const ga_hook *h = &gr->h[i];
            if (!h->kept[c]) continue;
            unsigned char *now = read_bytes(h->kept[c]);
            bool same = memcmp(now, h->bytes[c], npg_nbytes(h->kept[c])) == 0;
            free(now);
            CHECK(same, "grad_accum: the gradient hook %d (kind %d) kept at call %d changed %s", i, h->kind, c, when);
        }
}

/* a and b hold the same values (exactly), or are both NULL. */
static void ga_same(const npg_array *a, const npg_array *b, const char *what, int i) {
    CHECK((a == NULL) == (b == NULL), "grad_accum: %s %d: %s after a normal backward, %s with create_graph", what, i,
          a ? "a gradient" : "none", b ? "a gradient" : "none");
    if (!a) return;
    CHECK(same_shape(npg_shape_of(a), npg_shape_of(b)), "grad_accum: %s %d: shapes differ", what, i);
    CHECK(npg_dtype_of(a) == npg_dtype_of(b), "grad_accum: %s %d: dtypes differ", what, i);
    int64_t n = npg_size(a);
    double *va = t_read(a), *vb = t_read(b);
    for (int64_t j = 0; j < n; j++)
        if (va[j] != vb[j]) {
            double x = va[j], y = vb[j];
            free(va);
            free(vb);
            fail("grad_accum: %s %d: element %lld is %.17g after a normal backward, %.17g with create_graph (the "
                 "out-of-place paths)",
                 what, i, (long long)j, x, y);
        }
    free(va);
    free(vb);
}

static void fz_grad_accum(void) {
    ga_graph *A = calloc(1, sizeof *A), *B = calloc(1, sizeof *B);
    cr_assert(A && B);
    const uint64_t s0 = g_rng;
    ga_build(A);
    const uint64_t s1 = g_rng;
    g_rng = s0;
    ga_build(B); /* the same draws: the same graph */
    cr_assert(g_rng == s1 && A->n == B->n && strcmp(A->ops, B->ops) == 0, "fuzz: the two graphs differ");
    /* the plan: maybe npg_grad_of first (the graph retained), then one or
     * two backward passes (the first retaining the graph) */
    const bool functional = chance(35), two = chance(40);
    int nin = 0, in_idx[4];
    if (functional) {
        nin = rint_in(1, 4);
        for (int i = 0; i < nin; i++) in_idx[i] = rint_in(0, A->n - 1); /* repeats too */
    }
    npg_array *resA[4] = {NULL}, *resB[4] = {NULL};
    unsigned char *resA_bytes[4] = {NULL};
    char what[900];
    snprintf(what, sizeof what, "%s%s%s", A->ops, functional ? " | grad_of" : "", two ? " | two passes" : "");
    if (functional) {
        npg_array *inA[4], *inB[4];
        for (int i = 0; i < nin; i++) {
            inA[i] = A->a[in_idx[i]];
            inB[i] = B->a[in_idx[i]];
        }
        call("npg_grad_of: %s", what);
        arg(A->root);
        opt_arg(A->G);
        go();
        npg_status st = npg_grad_of(&A->root, 1, A->G ? &A->G : NULL, inA, nin, resA,
                                    NPG_BACKWARD_OPTS(.retain_graph = true));
        done_status(st);
        CHECK(st == NPG_OK, "grad_accum: npg_grad_of failed: %s", npg_last_error());
        npg_clear_error();
        st = npg_grad_of(&B->root, 1, B->G ? &B->G : NULL, inB, nin, resB, NPG_BACKWARD_OPTS(.create_graph = true));
        CHECK(st == NPG_OK, "grad_accum: npg_grad_of with create_graph failed: %s", npg_last_error());
        for (int i = 0; i < nin; i++) {
            ga_same(resA[i], resB[i], "npg_grad_of result", i);
            resA_bytes[i] = read_bytes(resA[i]);
        }
        for (int i = 0; i < A->nleaf; i++) {
            npg_array *g = npg_grad(A->a[i]);
            CHECK(g == NULL, "grad_accum: npg_grad_of gave leaf %d a .grad", i);
        }
        ga_kept_unchanged(A, "after npg_grad_of");
    }
    for (int p = 0; p < (two ? 2 : 1); p++) {
        call("npg_backward_ex pass %d: %s", p, what);
        arg(A->root);
        opt_arg(A->G);
        go();
        npg_status st = npg_backward_ex(A->root, A->G, NPG_BACKWARD_OPTS(.retain_graph = two && p == 0));
        done_status(st);
        CHECK(st == NPG_OK, "grad_accum: backward pass %d failed: %s", p, npg_last_error());
        npg_clear_error();
        st = npg_backward_ex(B->root, B->G, NPG_BACKWARD_OPTS(.create_graph = true));
        CHECK(st == NPG_OK, "grad_accum: backward pass %d with create_graph failed: %s", p, npg_last_error());
        /* the leaves' gradients, the hooks' views of the gradients */
        for (int i = 0; i < A->nleaf; i++) {
            npg_array *ga = npg_grad(A->a[i]), *gb = npg_grad(B->a[i]);
            ga_same(ga, gb, "the .grad of leaf", i);
            npg_free(ga);
            npg_free(gb);
        }
        ga_kept_unchanged(A, "after a later backward");
        ga_kept_unchanged(B, "after a later backward (create_graph)");
        for (int i = 0; i < nin; i++) {
            unsigned char *now = read_bytes(resA[i]);
            bool same = memcmp(now, resA_bytes[i], npg_nbytes(resA[i])) == 0;
            free(now);
            CHECK(same, "grad_accum: npg_grad_of result %d changed in backward pass %d", i, p);
        }
    }
    for (int i = 0; i < A->nh; i++) {
        const ga_hook *ha = &A->h[i], *hb = &B->h[i];
        CHECK(!ha->bad && !hb->bad, "grad_accum: hook %d called too often or without a gradient", i);
        CHECK(ha->calls == hb->calls, "grad_accum: hook %d ran %d times, %d with create_graph", i, ha->calls, hb->calls);
        for (int c = 0; c < ha->calls; c++)
            for (int64_t j = 0; j < ha->n; j++)
                CHECK(ha->seen[c][j] == hb->seen[c][j],
                      "grad_accum: hook %d, call %d saw element %lld = %g, with create_graph %g", i, c, (long long)j,
                      ha->seen[c][j], hb->seen[c][j]);
    }
    /* the caller's gradient is the caller's: unchanged (the watch of the last call), and in B */
    /* free: B's gradients may hold graphs through their leaves (create_graph) */
    for (int i = 0; i < A->nleaf; i++) {
        npg_zero_grad(A->a[i]);
        npg_zero_grad(B->a[i]);
    }
    for (int i = 0; i < nin; i++) {
        npg_free(resA[i]);
        npg_free(resB[i]);
        free(resA_bytes[i]);
    }
    ga_hooks_free(A);
    ga_hooks_free(B);
    ga_own_free();
    free(A);
    free(B);
}

/* ---- the test ---- */

Test(fuzz2, grad_accum) {
    int n = start("grad_accum", 34, 4000);
    for (int it = 0; it < n; it++) {
        iter_begin(it);
        fz_grad_accum();
        iter_end();
    }
    finish();
}
