/*
 * test_half_sweep.c — a sweep of the public API with float16 and bfloat16
 * inputs, looking for places where the half types misbehave.
 *
 * Method: every function runs on half inputs of odd shapes and on float32
 * copies of the same values (npg_astype(x, NPG_FLOAT32)); the float32 run is
 * the independent reference. The half result must have the half dtype where
 * PyTorch gives it (or the documented dtype: int64 indices, bool masks) and
 * values within a few units in the last place of the half type (eps 2^-10
 * for float16, 2^-7 for bfloat16): an op that is one kernel rounds once (1
 * ulp relative allows for that), an op composed of several kernels rounds
 * after each (a few ulps relative, plus a few ulps of the result's largest
 * magnitude where an intermediate rounding is absolute, e.g. a cancellation).
 * Differentiable functions are also run backward (the sum of the output
 * times fixed random half weights) and the gradients must have the half
 * dtype and match the float32 gradients with the same kind of tolerance.
 *
 * Covered: creation, shape ops, indexing and in-place writes, reductions,
 * statistics, products and norms (and the LAPACK functions' refusal),
 * elementwise functions not in test_half.c, activations, softmax and the
 * normalisations, dropout / embedding / one_hot, convolutions, pools and
 * interpolation, attention, the recurrent layers and cells, the losses,
 * distances, the optimizers (with zero and small gradients),
 * npg_clip_grad_norm, loss scaling, random draws and initialisers, device
 * moves and .npz files, and float16 inputs whose results fit float16 but
 * whose intermediates (x^2) do not.
 *
 * The sweep found three library bugs, fixed since, whose checks pin the
 * fixes: dropout drew its uniforms in the half type (the wrong kept
 * fraction for a large p, not float32's mask for the same seed); float16
 * optimizer state underflowed and eps rounded to 0 (state is float32 now);
 * composed reductions and normalisations squared in float16 (they run in
 * float32 now and round once).
 * HALF_SWEEP_VERBOSE=1 prints how much of its tolerance each check used.
 */
#define _POSIX_C_SOURCE 200809L
#include "test_util.h"

#include <float.h>
#include <unistd.h>

#include "npg/io.h"
#include "npg/linalg.h"
#include "npg/nn.h"

static void setup(void) { t_require_device(); }
TestSuite(half_sweep, .init = setup);

#define OPT(...) NPG_OPTS(.device = t_dev(), __VA_ARGS__)
static const npg_dtype HALVES[2] = {NPG_FLOAT16, NPG_BFLOAT16};

/* ---- helpers ------------------------------------------------------------------ */

static int n_checks; /* per test (each Test runs in its own process) */

static bool is_half(npg_dtype dt) { return dt == NPG_FLOAT16 || dt == NPG_BFLOAT16; }
/* The spacing of the dtype's values at 1. */
static double eps_of(npg_dtype dt) {
    switch (dt) {
    case NPG_FLOAT16: return 0x1p-10;
    case NPG_BFLOAT16: return 0x1p-7;
    case NPG_FLOAT32: return 0x1p-23;
    case NPG_FLOAT64: return 0x1p-52;
    default: return 0;
    }
}

static bool same_shape(const npg_array *a, const npg_array *b) {
    npg_shape x = npg_shape_of(a), y = npg_shape_of(b);
    if (x.ndim != y.ndim) return false;
    for (int i = 0; i < x.ndim; i++)
        if (x.dims[i] != y.dims[i]) return false;
    return true;
}

/* The spacing of the dtype's subnormals. */
static double tiny_of(npg_dtype dt) {
    switch (dt) {
    case NPG_FLOAT16: return 0x1p-24;
    case NPG_BFLOAT16: return 0x1p-133;
    case NPG_FLOAT32: return 0x1p-149;
    default: return 0;
    }
}

/* got against want (the same function on float32 inputs): got has dtype dt
 * and want's shape, and |got - want| <= rel max(eps |want|, tiny) + abs eps
 * scale for every element, eps the spacing of dt at 1, tiny that of its
 * subnormals and scale the largest finite |want| (integer and bool dtypes:
 * equal). NaN matches NaN, infinities must be equal. Non-fatal (cr_expect):
 * the sweep goes on. */
static bool close_to(const npg_array *got, const npg_array *want, npg_dtype dt, double rel, double abs,
                     const char *what) {
    n_checks++;
    if (!got) {
        cr_expect(0, "%s: NULL (%s)", what, npg_last_error());
        npg_clear_error();
        return false;
    }
    if (!want) {
        cr_expect(0, "%s: the reference is NULL (%s)", what, npg_last_error());
        npg_clear_error();
        return false;
    }
    if (npg_dtype_of(got) != dt) {
        cr_expect(0, "%s: dtype %s, want %s", what, npg_dtype_name(npg_dtype_of(got)), npg_dtype_name(dt));
        return false;
    }
    if (!same_shape(got, want)) {
        npg_shape a = npg_shape_of(got), b = npg_shape_of(want);
        cr_expect(0, "%s: shape (ndim %d, %lld, %lld, ...) vs the reference's (ndim %d, %lld, %lld, ...)", what, a.ndim,
                  (long long)a.dims[0], (long long)a.dims[1], b.ndim, (long long)b.dims[0], (long long)b.dims[1]);
        return false;
    }
    int64_t n = npg_size(want);
    double *g = t_read(got), *w = t_read(want), e = eps_of(dt), tiny = tiny_of(dt), scale = 0;
    for (int64_t i = 0; i < n; i++)
        if (isfinite(w[i])) scale = fmax(scale, fabs(w[i]));
    bool ok = true;
    double worst = 0; /* the largest |got - want| / tol (HALF_SWEEP_VERBOSE=1 prints it) */
    for (int64_t i = 0; i < n && ok; i++) {
        double tol = rel * fmax(e * fabs(w[i]), tiny) + abs * e * scale;
        if (isnan(w[i]))
            ok = isnan(g[i]);
        else if (isinf(w[i]))
            ok = g[i] == w[i];
        else
            ok = fabs(g[i] - w[i]) <= tol;
        if (ok && isfinite(w[i]) && g[i] != w[i]) worst = fmax(worst, tol > 0 ? fabs(g[i] - w[i]) / tol : INFINITY);
        if (!ok)
            cr_expect(
                0,
                "%s: element %lld of %lld: got %.9g, want %.9g (diff %.3g = %.2f ulps of |want|, %.2f of scale %.4g)",
                what, (long long)i, (long long)n, g[i], w[i], fabs(g[i] - w[i]), fabs(g[i] - w[i]) / (e * fabs(w[i])),
                fabs(g[i] - w[i]) / (e * scale), scale);
    }
    if (ok && getenv("HALF_SWEEP_VERBOSE")) fprintf(stderr, "%-80s used %.2f of the tolerance\n", what, worst);
    free(g);
    free(w);
    return ok;
}

/* Expect a status (non-fatal). */
static void expect_ok(npg_status st, const char *what) {
    n_checks++;
    cr_expect_eq(st, NPG_OK, "%s: status %d (%s)", what, st, npg_last_error());
    npg_clear_error();
}

/* A function to sweep: in[0..n) are its inputs. */
typedef npg_array *(*sweep_fn)(npg_array *const *in, int n, void *user);
#define FN(name, expr)                                                                                                 \
    static npg_array *name(npg_array *const *in, int n, void *user) {                                                  \
        (void)in, (void)n, (void)user;                                                                                 \
        return (expr);                                                                                                 \
    }

typedef struct sweep {
    const char *name;
    sweep_fn fn;
    void *user;
    int n;
    npg_array *in[8];  /* half inputs, or integer/bool ones used as they are */
    unsigned grad;     /* bit i: differentiate with respect to in[i] */
    npg_dtype want;    /* the result's dtype; 0: the half type of the inputs */
    double rel, abs;   /* forward tolerance (close_to) */
    double grel, gabs; /* gradient tolerance */
} sweep;

/* The sweep: fn on the half inputs and on their float32 copies; the forward
 * results compared, then (when grad) the gradients of sum(y * w) for fixed
 * random half weights w. Returns the half result (owned by the scope). */
static npg_array *run_sweep(const sweep *s) {
    npg_dtype dt = 0;
    for (int i = 0; i < s->n; i++)
        if (s->in[i] && is_half(npg_dtype_of(s->in[i]))) {
            dt = npg_dtype_of(s->in[i]);
            break;
        }
    cr_assert(dt, "%s: no half input", s->name);
    npg_array *h[8] = {0}, *f[8] = {0};
    for (int i = 0; i < s->n; i++) {
        npg_array *x = s->in[i];
        if (!x) continue;
        if (s->grad >> i & 1) {
            h[i] = t_leaf(npg_copy(npg_detach(x)));
            f[i] = t_leaf(npg_astype(npg_detach(x), NPG_FLOAT32));
        } else {
            h[i] = x;
            f[i] = is_half(npg_dtype_of(x)) ? npg_astype(x, NPG_FLOAT32) : x;
        }
    }
    char what[160];
    snprintf(what, sizeof what, "%s (%s)", s->name, npg_dtype_name(dt));
    npg_array *y = s->fn(h, s->n, s->user);
    if (!y) {
        n_checks++;
        cr_expect(0, "%s: NULL (%s)", what, npg_last_error());
        npg_clear_error();
        return NULL;
    }
    npg_array *y32 = s->fn(f, s->n, s->user);
    npg_dtype want = s->want ? s->want : dt;
    /* an integer or bool result is compared exactly */
    bool ok = close_to(y, y32, want, s->rel, s->abs, what);
    if (!s->grad || !ok) return y;
    npg_array *w = t_urand(npg_shape_of(y), -1, 1, 977, dt, NULL);
    npg_array *l = npg_sum(npg_multiply(y, w), NPG_ALL_AXES, false);
    npg_array *l32 = npg_sum(npg_multiply(y32, npg_astype(w, NPG_FLOAT32)), NPG_ALL_AXES, false);
    n_checks++;
    npg_status st = npg_backward(l, NULL);
    cr_expect_eq(st, NPG_OK, "%s: backward: %s", what, npg_last_error());
    npg_clear_error();
    cr_assert_eq(npg_backward(l32, NULL), NPG_OK, "%s: float32 backward: %s", what, npg_last_error());
    if (st != NPG_OK) return y;
    for (int i = 0; i < s->n; i++) {
        if (!(s->grad >> i & 1)) continue;
        char gw[200];
        snprintf(gw, sizeof gw, "%s: gradient of input %d", what, i);
        npg_array *g = npg_grad(h[i]), *g32 = npg_grad(f[i]);
        cr_assert(g32, "%s: no float32 gradient", gw);
        if (!g) {
            n_checks++;
            cr_expect(0, "%s: missing", gw);
            continue;
        }
        close_to(g, g32, dt, s->grel, s->gabs, gw);
    }
    return y;
}
#define SWEEP(...) run_sweep(&(const sweep){__VA_ARGS__})

/* Both fail with the same status, or both succeed with equal results (the
 * half one rounded): half behaves as float32 does. */
static void same_outcome(npg_array *got, npg_array *want32, npg_status st_got, npg_status st_want, npg_dtype dt,
                         const char *what) {
    n_checks++;
    if (!got || !want32) {
        cr_expect(!got && !want32 && st_got == st_want, "%s: half %s (status %d), float32 %s (status %d)", what,
                  got ? "succeeds" : "fails", st_got, want32 ? "succeeds" : "fails", st_want);
        return;
    }
    close_to(got, want32, dt, 1, 0, what);
}

#define END_TEST_LOG(name) cr_log_info("%s: %d checks", name, n_checks)

/* ---- creation ---------------------------------------------------------------- */

/* got's values against exact float64 values: correctly rounded (half an ulp,
 * relative; at is a tiny absolute slack for exact zeros). */
static void expect_values(const npg_array *got, npg_dtype dt, const double *exact, int64_t n, double at,
                          const char *what) {
    n_checks++;
    cr_expect(got, "%s: NULL (%s)", what, npg_last_error());
    if (!got) return;
    cr_expect_eq(npg_dtype_of(got), dt, "%s: dtype %s", what, npg_dtype_name(npg_dtype_of(got)));
    cr_expect_eq(npg_size(got), n, "%s: %lld elements, want %lld", what, (long long)npg_size(got), (long long)n);
    if (npg_size(got) != n) return;
    double *g = t_read(got);
    for (int64_t i = 0; i < n; i++)
        if (!(fabs(g[i] - exact[i]) <= eps_of(dt) / 2 * fabs(exact[i]) + at)) {
            cr_expect(0, "%s: element %lld: %.9g, want %.9g rounded", what, (long long)i, g[i], exact[i]);
            break;
        }
    free(g);
}

Test(half_sweep, creation) {
    t_live live = t_live_now();
    for (int d = 0; d < 2; d++) {
        npg_scope s = npg_scope_begin();
        npg_dtype dt = HALVES[d];
        double v[105];
        for (int i = 0; i < 105; i++) v[i] = 0;
        expect_values(npg_zeros(NPG_SHAPE(3, 5, 7), OPT(.dtype = dt)), dt, v, 105, 0, "zeros");
        for (int i = 0; i < 105; i++) v[i] = 1;
        expect_values(npg_ones(NPG_SHAPE(3, 5, 7), OPT(.dtype = dt)), dt, v, 105, 0, "ones");
        for (int i = 0; i < 105; i++) v[i] = -2.7182818;
        expect_values(npg_full(NPG_SHAPE(7, 15), -2.7182818, OPT(.dtype = dt)), dt, v, 105, 0, "full");
        /* arange: start + i step, rounded once; its length */
        for (int i = 0; i < 15; i++) v[i] = -3.5 + 0.75 * i;
        expect_values(npg_arange(-3.5, 7.25, 0.75, OPT(.dtype = dt)), dt, v, 15, 0, "arange(-3.5, 7.25, 0.75)");
        double big[2100];
        for (int i = 0; i < 2100; i++) big[i] = 2099 - i;
        expect_values(npg_arange(2099, -1, -1, OPT(.dtype = dt)), dt, big, 2100, 0, "arange(2099, -1, -1)");
        for (int i = 0; i < 13; i++) v[i] = -1 + 3.0 * i / 12;
        expect_values(npg_linspace(-1, 2, 13, OPT(.dtype = dt)), dt, v, 13, 1e-6, "linspace(-1, 2, 13)");
        for (int i = 0; i < 7; i++) v[i] = 1000 + 0.1 * i;
        expect_values(npg_linspace(1000, 1000.6, 7, OPT(.dtype = dt)), dt, v, 7, 0, "linspace(1000, 1000.6, 7)");
        for (int i = 0; i < 25; i++) v[i] = i % 6 == 0;
        expect_values(npg_eye(5, OPT(.dtype = dt)), dt, v, 25, 0, "eye(5)");
        v[0] = 1.0 / 3;
        expect_values(npg_scalar(1.0 / 3, OPT(.dtype = dt)), dt, v, 1, 0, "scalar(1/3)");
        /* the *_like functions keep the half type (or take opts') */
        npg_array *x = t_urand(NPG_SHAPE(3, 1, 7), -1, 1, 1 + d, dt, NULL);
        npg_array *e = npg_empty_like(x, NULL);
        n_checks++;
        cr_expect(e && npg_dtype_of(e) == dt && same_shape(e, x), "empty_like: %s",
                  e ? npg_dtype_name(npg_dtype_of(e)) : npg_last_error());
        for (int i = 0; i < 21; i++) v[i] = 0;
        expect_values(npg_zeros_like(x, NULL), dt, v, 21, 0, "zeros_like");
        for (int i = 0; i < 21; i++) v[i] = 1;
        expect_values(npg_ones_like(x, NULL), dt, v, 21, 0, "ones_like");
        for (int i = 0; i < 21; i++) v[i] = 65519.0; /* float16: rounds to 65504, not inf */
        expect_values(npg_full_like(x, 65519.0, NULL), dt, v, 21, 0, "full_like(65519)");
        npg_array *fl = npg_full_like(x, 0.1, OPT(.dtype = NPG_FLOAT32));
        n_checks++;
        cr_expect(fl && npg_dtype_of(fl) == NPG_FLOAT32, "full_like with a float32 dtype");
        /* from_data: float32 host values into a half array, rounded once */
        float hf[6] = {0.1f, -1e-5f, 3.14159f, 70000.f, 1e-40f, -0.0f};
        double hd[6];
        for (int i = 0; i < 6; i++) hd[i] = hf[i];
        if (dt == NPG_FLOAT16) hd[3] = INFINITY; /* past 65520: inf */
        npg_array *fd = npg_from_data(hf, NPG_FLOAT32, NPG_SHAPE(2, 3), OPT(.dtype = dt));
        if (dt == NPG_FLOAT16) {
            double *g = t_read(fd);
            n_checks++;
            cr_expect(g[3] == INFINITY, "from_data(70000) as float16: %g", g[3]);
            free(g);
            hd[3] = 0; /* checked above */
            npg_setitem_scalar(fd, (npg_idx[]){NPG_I(1), NPG_I(0)}, 2, 0);
        }
        expect_values(fd, dt, hd, 6, dt == NPG_FLOAT16 ? 0x1p-25 : 0x1p-134,
                      "from_data(float32)"); /* subnormals: half their spacing */
        /* copy and positive keep the half type */
        n_checks++;
        cr_expect_eq(npg_dtype_of(npg_copy(x)), dt, "copy");
        cr_expect_eq(npg_dtype_of(npg_positive(x)), dt, "positive");
        npg_scope_end(s);
    }
    END_TEST_LOG("creation");
    t_assert_no_leak(live, "creation");
}

/* ---- shape ops ------------------------------------------------------------------ */

static const int64_t PAD_W[6] = {1, 0, 0, 2, 3, 1};
FN(f_reshape, npg_reshape(in[0], NPG_SHAPE(7, -1, 3)))
FN(f_reshape_view, npg_reshape(npg_permute_dims(in[0], NPG_AXES(2, 0, 1)), NPG_SHAPE(5, 21)))
FN(f_flatten, npg_flatten(npg_swapaxes(in[0], 0, 2)))
FN(f_permute, npg_permute_dims(in[0], NPG_AXES(2, 0, 1)))
FN(f_T, npg_T(in[0]))
FN(f_mT, npg_matrix_transpose(in[0]))
FN(f_squeeze, npg_squeeze(in[0], NPG_AXES(1)))
FN(f_expand_dims, npg_expand_dims(in[0], -1))
FN(f_broadcast_to, npg_broadcast_to(in[0], NPG_SHAPE(2, 3, 5, 7)))
FN(f_flip, npg_flip(in[0], NPG_AXES(0, 2)))
FN(f_repeat, npg_repeat(in[0], 3, 1))
FN(f_repeat_flat, npg_repeat(in[0], 2, NPG_FLAT))
FN(f_concat, npg_concat((npg_array *const[]){in[0], in[1], in[0]}, 3, 1))
FN(f_stack, npg_stack((npg_array *const[]){in[0], npg_flip(in[0], NPG_AXES(1))}, 2, 2))
FN(f_diagonal, npg_diagonal(in[0], 1, 1, 2))
FN(f_trace, npg_trace(in[0], -1, 1, 2))
FN(f_moveaxis, npg_moveaxis(in[0], NPG_AXES(0), NPG_AXES(-1)))
FN(f_roll, npg_roll(in[0], 4, 2))
FN(f_roll_flat, npg_roll(in[0], -3, NPG_FLAT))
FN(f_tile, npg_tile(in[0], NPG_SHAPE(2, 1, 3)))
FN(f_tril, npg_tril(in[0], 1))
FN(f_triu, npg_triu(in[0], -1))
FN(f_diff, npg_diff(in[0], 2, 2))
FN(f_pad_const, npg_pad(in[0], PAD_W, NPG_PAD_CONSTANT, 0.3))
FN(f_pad_edge, npg_pad(in[0], PAD_W, NPG_PAD_EDGE, 0))
FN(f_pad_reflect, npg_pad(in[0], PAD_W, NPG_PAD_REFLECT, 0))
FN(f_pixel_shuffle, npg_pixel_shuffle(in[0], 2))
FN(f_pixel_unshuffle, npg_pixel_unshuffle(in[0], 2))
FN(f_flatten_from, npg_flatten_from(in[0], 1))
FN(f_contiguous, npg_contiguous(npg_T(in[0])))
FN(f_split_mid, NPG_INDEX(in[0], NPG_ALL, NPG_SLICE(1, 4, 1)))
static npg_array *f_unstack(npg_array *const *in, int n, void *user) {
    (void)n, (void)user;
    npg_array *out[5];
    if (npg_unstack(in[0], 1, out, 5) != NPG_OK) return NULL;
    return npg_stack((npg_array *const[]){out[3], out[0]}, 2, 0); /* two of the slices, exactly */
}
static npg_array *f_broadcast_arrays(npg_array *const *in, int n, void *user) {
    (void)n, (void)user;
    npg_array *out[2];
    if (npg_broadcast_arrays(in, 2, out) != NPG_OK) return NULL;
    return npg_concat(out, 2, 0);
}
static npg_array *f_meshgrid(npg_array *const *in, int n, void *user) {
    (void)n, (void)user;
    npg_array *out[2];
    if (npg_meshgrid(in, 2, "xy", out) != NPG_OK) return NULL;
    return npg_stack(out, 2, 0);
}

Test(half_sweep, shape_ops) {
    t_live live = t_live_now();
    for (int d = 0; d < 2; d++) {
        npg_scope s = npg_scope_begin();
        npg_dtype dt = HALVES[d];
        npg_array *x = t_urand(NPG_SHAPE(3, 5, 7), -2, 2, 10 + d, dt, NULL);
        npg_array *x2 = t_urand(NPG_SHAPE(3, 2, 7), -2, 2, 20 + d, dt, NULL);
        npg_array *x1 = t_urand(NPG_SHAPE(3, 1, 7), -2, 2, 30 + d, dt, NULL);
        npg_array *col = t_urand(NPG_SHAPE(5, 1), -2, 2, 40 + d, dt, NULL);
        npg_array *img = t_urand(NPG_SHAPE(2, 8, 3, 5), -2, 2, 50 + d, dt, NULL);
        npg_array *img2 = t_urand(NPG_SHAPE(2, 3, 6, 4), -2, 2, 60 + d, dt, NULL);
        npg_array *v5 = t_urand(NPG_SHAPE(5), -2, 2, 70 + d, dt, NULL),
                  *v3 = t_urand(NPG_SHAPE(3), -2, 2, 71 + d, dt, NULL);
        /* moving values is exact; so are the gradients (moved back) except
         * where they add up (broadcast, repeat, tile, edge/reflect padding,
         * diff): sums over one axis at a time, each rounded, so an absolute
         * error of the addends' size where they cancel (gabs) */
        SWEEP("reshape", f_reshape, .n = 1, .in = {x}, .grad = 1);
        SWEEP("reshape of a permuted view", f_reshape_view, .n = 1, .in = {x}, .grad = 1);
        SWEEP("flatten", f_flatten, .n = 1, .in = {x}, .grad = 1);
        SWEEP("permute_dims", f_permute, .n = 1, .in = {x}, .grad = 1);
        SWEEP("T", f_T, .n = 1, .in = {x}, .grad = 1);
        SWEEP("matrix_transpose", f_mT, .n = 1, .in = {x}, .grad = 1);
        SWEEP("squeeze", f_squeeze, .n = 1, .in = {x1}, .grad = 1);
        SWEEP("expand_dims", f_expand_dims, .n = 1, .in = {x}, .grad = 1);
        SWEEP("broadcast_to", f_broadcast_to, .n = 1, .in = {col}, .grad = 1, .grel = 1);
        SWEEP("flip", f_flip, .n = 1, .in = {x}, .grad = 1);
        SWEEP("repeat", f_repeat, .n = 1, .in = {x}, .grad = 1, .grel = 1);
        SWEEP("repeat (flat)", f_repeat_flat, .n = 1, .in = {x}, .grad = 1, .grel = 1);
        SWEEP("concat", f_concat, .n = 2, .in = {x, x2}, .grad = 3, .grel = 1);
        SWEEP("stack", f_stack, .n = 1, .in = {x}, .grad = 1, .grel = 1);
        SWEEP("unstack", f_unstack, .n = 1, .in = {x}, .grad = 1);
        SWEEP("split (a slice)", f_split_mid, .n = 1, .in = {x}, .grad = 1);
        SWEEP("diagonal", f_diagonal, .n = 1, .in = {x}, .grad = 1);
        SWEEP("trace", f_trace, .n = 1, .in = {x}, .grad = 1, .rel = 1, .abs = 0.5);
        SWEEP("moveaxis", f_moveaxis, .n = 1, .in = {x}, .grad = 1);
        SWEEP("roll", f_roll, .n = 1, .in = {x}, .grad = 1);
        SWEEP("roll (flat)", f_roll_flat, .n = 1, .in = {x}, .grad = 1);
        SWEEP("tile", f_tile, .n = 1, .in = {x}, .grad = 1, .grel = 1, .gabs = 1);
        SWEEP("tril", f_tril, .n = 1, .in = {x}, .grad = 1);
        SWEEP("triu", f_triu, .n = 1, .in = {x}, .grad = 1);
        /* diff twice: two roundings, the second of a difference of rounded values */
        SWEEP("diff", f_diff, .n = 1, .in = {x}, .grad = 1, .rel = 1, .abs = 1, .grel = 1, .gabs = 1);
        SWEEP("pad (constant 0.3: the value is rounded)", f_pad_const, .n = 1, .in = {x}, .grad = 1, .rel = 1);
        SWEEP("pad (edge)", f_pad_edge, .n = 1, .in = {x}, .grad = 1, .grel = 1, .gabs = 1);
        SWEEP("pad (reflect)", f_pad_reflect, .n = 1, .in = {x}, .grad = 1, .grel = 1, .gabs = 1);
        SWEEP("pixel_shuffle", f_pixel_shuffle, .n = 1, .in = {img}, .grad = 1);
        SWEEP("pixel_unshuffle", f_pixel_unshuffle, .n = 1, .in = {img2}, .grad = 1);
        SWEEP("flatten_from", f_flatten_from, .n = 1, .in = {x}, .grad = 1);
        SWEEP("contiguous", f_contiguous, .n = 1, .in = {x}, .grad = 1);
        SWEEP("broadcast_arrays", f_broadcast_arrays, .n = 2, .in = {col, x1}, .grad = 3, .grel = 1);
        SWEEP("meshgrid", f_meshgrid, .n = 2, .in = {v5, v3}, .grad = 3, .grel = 1);
        /* a mixed concat promotes like PyTorch's cat */
        npg_array *other = npg_astype(x2, HALVES[1 - d]);
        npg_array *ints = npg_astype(x2, NPG_INT32);
        n_checks++;
        cr_expect_eq(npg_dtype_of(npg_concat((npg_array *const[]){x, other}, 2, 1)), NPG_FLOAT32, "concat f16+bf16");
        cr_expect_eq(npg_dtype_of(npg_concat((npg_array *const[]){ints, x}, 2, 1)), dt, "concat int32+half");
        npg_scope_end(s);
    }
    END_TEST_LOG("shape_ops");
    t_assert_no_leak(live, "shape ops");
}

/* ---- indexing, masks, in-place writes ------------------------------------------- */

FN(f_index, NPG_INDEX(in[0], NPG_SLICE(NPG_NONE, NPG_NONE, -1), NPG_NEWAXIS, NPG_I(-2), NPG_SLICE(1, 7, 2)))
FN(f_index_ell, NPG_INDEX(in[0], NPG_ELLIPSIS, NPG_SLICE(6, 0, -3)))
FN(f_take, npg_take(in[0], in[1], 1))
FN(f_take_flat_axis0, npg_take(npg_reshape(in[0], NPG_SHAPE(-1)), in[1], 0))
FN(f_take_along, npg_take_along_axis(in[0], in[1], 1))
FN(f_scatter_add, npg_scatter_add(in[0], 1, in[2], in[1]))
FN(f_index_add, npg_index_add(in[0], 1, in[2], in[1]))
FN(f_where, npg_where(in[2], in[0], in[1]))
FN(f_where_scalar, npg_where_scalar(in[1], in[0], 0.7))
FN(f_scalar_where, npg_scalar_where(in[1], -1.3, in[0]))
FN(f_mask_mul, npg_multiply(in[0], in[1]))
FN(f_nonzero, npg_nonzero(npg_greater_scalar(in[0], 0.375)))
FN(f_embedding, npg_embedding(in[1], in[0]))
FN(f_clip, npg_clip(in[0], -0.5, NAN))

Test(half_sweep, indexing_and_masks) {
    t_live live = t_live_now();
    for (int d = 0; d < 2; d++) {
        npg_scope s = npg_scope_begin();
        npg_dtype dt = HALVES[d];
        npg_array *x = t_urand(NPG_SHAPE(3, 5, 7), -2, 2, 100 + d, dt, NULL);
        npg_array *y = t_urand(NPG_SHAPE(5, 7), -2, 2, 110 + d, dt, NULL);
        int64_t iv[5] = {2, -1, 0, 2, 4};
        npg_array *idx = npg_from_data(iv, NPG_INT64, NPG_SHAPE(5), OPT());
        npg_array *idx32 = npg_from_data((int32_t[]){2, -1, 0, 2, 4}, NPG_INT32, NPG_SHAPE(5), OPT());
        double av[3 * 4 * 7];
        t_fill_uniform(av, 84, 0, 5, 7);
        for (int i = 0; i < 84; i++) av[i] = floor(av[i]);
        npg_array *along = t_arr(av, NPG_INT64, NPG_SHAPE(3, 4, 7));
        npg_array *src = t_urand(NPG_SHAPE(3, 4, 7), -1, 1, 120 + d, dt, NULL);
        npg_array *src5 = t_urand(NPG_SHAPE(3, 5, 7), -1, 1, 130 + d, dt, NULL);
        npg_array *mask = npg_greater_scalar(t_urand(NPG_SHAPE(3, 1, 7), 0, 1, 140 + d, NPG_FLOAT32, NULL), 0.4);
        SWEEP("index (slices, newaxis, int)", f_index, .n = 1, .in = {x}, .grad = 1);
        SWEEP("index (ellipsis, negative step)", f_index_ell, .n = 1, .in = {x}, .grad = 1);
        /* repeated indices: their gradients add (float32, rounded once) */
        SWEEP("take", f_take, .n = 2, .in = {x, idx}, .grad = 1, .grel = 1);
        SWEEP("take (int32 indices)", f_take, .n = 2, .in = {x, idx32}, .grad = 1, .grel = 1);
        SWEEP("take (flattened, axis 0)", f_take_flat_axis0, .n = 2, .in = {x, idx}, .grad = 1, .grel = 1);
        SWEEP("take_along_axis", f_take_along, .n = 2, .in = {x, along}, .grad = 1, .grel = 1);
        /* scatter-adds: the additions scattered into zeros (rounded) then
         * added to x (rounded again: an absolute error where they cancel);
         * PyTorch keeps x's dtype */
        SWEEP("scatter_add", f_scatter_add, .n = 3, .in = {x, src, along}, .grad = 3, .rel = 1, .abs = 1, .grel = 1);
        SWEEP("index_add", f_index_add, .n = 3, .in = {x, src5, idx}, .grad = 3, .rel = 1, .abs = 1, .grel = 1);
        SWEEP("where", f_where, .n = 3, .in = {x, y, mask}, .grad = 3, .grel = 1);
        SWEEP("where_scalar", f_where_scalar, .n = 2, .in = {x, mask}, .grad = 1, .rel = 1);
        SWEEP("scalar_where", f_scalar_where, .n = 2, .in = {x, mask}, .grad = 1, .rel = 1);
        SWEEP("x * bool mask", f_mask_mul, .n = 2, .in = {x, mask}, .grad = 1);
        SWEEP("clip(x, -0.5, NaN)", f_clip, .n = 1, .in = {x}, .grad = 1);
        SWEEP("nonzero", f_nonzero, .n = 1, .in = {x}, .want = NPG_INT64);
        n_checks++;
        cr_expect_eq(npg_count_nonzero(npg_greater_scalar(x, 0.375)),
                     npg_count_nonzero(npg_greater_scalar(npg_astype(x, NPG_FLOAT32), 0.375)), "count_nonzero");
        npg_array *emb_w = t_urand(NPG_SHAPE(7, 5), -1, 1, 150 + d, dt, NULL);
        int64_t ev[6] = {3, 0, 6, 3, 3, 1};
        npg_array *eidx = npg_from_data(ev, NPG_INT64, NPG_SHAPE(2, 3), OPT());
        SWEEP("embedding", f_embedding, .n = 2, .in = {emb_w, eidx}, .grad = 1, .grel = 1);

        /* in-place writes on half arrays, against the same writes on float32 */
        npg_array *a = npg_copy(x), *af = npg_astype(x, NPG_FLOAT32);
        const npg_idx sl[2] = {NPG_I(1), NPG_SLICE(0, 5, 2)};
        expect_ok(npg_setitem_scalar(a, sl, 2, 0.1), "setitem_scalar");
        npg_setitem_scalar(af, sl, 2, 0.1);
        npg_array *val = t_urand(NPG_SHAPE(7), -3, 3, 160 + d, NPG_FLOAT32, NULL); /* cast to half */
        const npg_idx sl2[1] = {NPG_I(2)};
        expect_ok(npg_setitem(a, sl2, 1, val), "setitem (float32 value)");
        npg_setitem(af, sl2, 1, val);
        close_to(a, af, dt, 1, 0, "setitem");
        expect_ok(npg_assign(NPG_INDEX(a, NPG_I(0)), npg_astype(y, NPG_FLOAT64)), "assign (float64 source)");
        npg_assign(NPG_INDEX(af, NPG_I(0)), npg_astype(y, NPG_FLOAT64));
        close_to(a, af, dt, 1, 0, "assign");
        expect_ok(npg_sort_inplace(a, 1, true), "sort_inplace");
        npg_sort_inplace(af, 1, true);
        close_to(a, af, dt, 1, 0, "sort_inplace");
        expect_ok(npg_fill(NPG_INDEX(a, NPG_ELLIPSIS, NPG_I(3)), -1e-3), "fill");
        npg_fill(NPG_INDEX(af, NPG_ELLIPSIS, NPG_I(3)), -1e-3);
        close_to(a, af, dt, 1, 0, "fill");
        npg_scope_end(s);
    }
    END_TEST_LOG("indexing");
    t_assert_no_leak(live, "indexing");
}

/* ---- reductions ------------------------------------------------------------------- */

/* On a permuted (non-contiguous) view of a (5, 9, 6) input: (6, 5, 9). */
#define PERM(x) npg_permute_dims((x), NPG_AXES(2, 0, 1))
FN(f_sum, npg_sum(PERM(in[0]), NPG_AXES(0, 2), true))
FN(f_sum_all, npg_sum(PERM(in[0]), NPG_ALL_AXES, false))
FN(f_mean, npg_mean(PERM(in[0]), NPG_AXES(1), false))
FN(f_var, npg_var(PERM(in[0]), NPG_AXES(2), 1, false))
FN(f_std, npg_std(PERM(in[0]), NPG_AXES(0, 1), 0, true))
FN(f_min, npg_min(PERM(in[0]), NPG_AXES(1), false))
FN(f_max, npg_max(PERM(in[0]), NPG_ALL_AXES, false))
FN(f_max_ties, npg_max(in[0], NPG_AXES(1), false))
FN(f_argmin, npg_argmin(PERM(in[0]), 2, false))
FN(f_argmax, npg_argmax(PERM(in[0]), NPG_FLAT, false))
FN(f_prod, npg_prod(PERM(in[0]), NPG_AXES(0), false))
FN(f_all, npg_all(npg_greater_scalar(PERM(in[0]), -1.5), NPG_AXES(2), false))
FN(f_any, npg_any(PERM(in[0]), NPG_AXES(0, 1), false))
FN(f_cumsum, npg_cumsum(PERM(in[0]), 2))
FN(f_cumsum_flat, npg_cumsum(in[0], NPG_FLAT))
FN(f_cumprod, npg_cumprod(PERM(in[0]), 0))
FN(f_logsumexp, npg_logsumexp(PERM(in[0]), NPG_AXES(1), true))

Test(half_sweep, reductions) {
    t_live live = t_live_now();
    for (int d = 0; d < 2; d++) {
        npg_scope s = npg_scope_begin();
        npg_dtype dt = HALVES[d];
        npg_array *x = t_urand(NPG_SHAPE(5, 9, 6), -2, 2, 200 + d, dt, NULL);
        npg_array *xp = t_urand(NPG_SHAPE(5, 9, 6), 0.6, 1.5, 210 + d, dt, NULL); /* products stay moderate */
        double tv[12] = {1, 3, 3, 0, -2, -2, 5, 5, 5, 1, 0.5, 1};
        npg_array *ties = t_arr(tv, dt, NPG_SHAPE(2, 6));
        SWEEP("sum", f_sum, .n = 1, .in = {x}, .grad = 1, .rel = 1);
        SWEEP("sum (all)", f_sum_all, .n = 1, .in = {x}, .grad = 1, .rel = 1);
        SWEEP("mean", f_mean, .n = 1, .in = {x}, .grad = 1, .rel = 1, .grel = 1);
        /* var and std: a mean, deviations, squares, a mean (several roundings) */
        SWEEP("var", f_var, .n = 1, .in = {x}, .grad = 1, .rel = 3, .abs = 1, .grel = 3, .gabs = 1);
        SWEEP("std", f_std, .n = 1, .in = {x}, .grad = 1, .rel = 3, .abs = 1, .grel = 3, .gabs = 1);
        SWEEP("min", f_min, .n = 1, .in = {x}, .grad = 1);
        SWEEP("max (all)", f_max, .n = 1, .in = {x}, .grad = 1);
        SWEEP("max (ties share the gradient)", f_max_ties, .n = 1, .in = {ties}, .grad = 1, .grel = 1);
        SWEEP("argmin", f_argmin, .n = 1, .in = {x}, .want = NPG_INT64);
        SWEEP("argmax (flat)", f_argmax, .n = 1, .in = {x}, .want = NPG_INT64);
        SWEEP("prod", f_prod, .n = 1, .in = {xp}, .grad = 1, .rel = 1, .grel = 3, .gabs = 1);
        SWEEP("all", f_all, .n = 1, .in = {x}, .want = NPG_BOOL);
        SWEEP("any", f_any, .n = 1, .in = {x}, .want = NPG_BOOL);
        SWEEP("cumsum", f_cumsum, .n = 1, .in = {x}, .grad = 1, .rel = 1, .grel = 1);
        SWEEP("cumsum (flat)", f_cumsum_flat, .n = 1, .in = {x}, .grad = 1, .rel = 1, .grel = 1);
        SWEEP("cumprod", f_cumprod, .n = 1, .in = {xp}, .grad = 1, .rel = 1, .grel = 3, .gabs = 1);
        SWEEP("logsumexp", f_logsumexp, .n = 1, .in = {x}, .grad = 1, .rel = 2, .abs = 1, .grel = 3, .gabs = 1);
        npg_scope_end(s);
    }
    END_TEST_LOG("reductions");
    t_assert_no_leak(live, "reductions");
}

/* ---- statistics, sorting, searching ------------------------------------------------- */

FN(f_median, npg_median(in[0], NPG_AXES(1), false))
FN(f_median_all, npg_median(in[0], NPG_ALL_AXES, false))
FN(f_quantile, npg_quantile(in[0], 0.3, NPG_AXES(0), true, NPG_QUANTILE_LINEAR))
FN(f_quantile_mid, npg_quantile(in[0], 0.75, NPG_AXES(1), false, NPG_QUANTILE_MIDPOINT))
FN(f_quantile_near, npg_quantile(in[0], 0.4, NPG_AXES(1), false, NPG_QUANTILE_NEAREST))
FN(f_nanquantile, npg_nanquantile(in[0], 0.6, NPG_AXES(1), false, NPG_QUANTILE_LINEAR))
FN(f_nanmedian, npg_nanmedian(in[0], NPG_AXES(1), false))
FN(f_nansum, npg_nansum(in[0], NPG_AXES(1), false))
FN(f_nanmean, npg_nanmean(in[0], NPG_AXES(0), false))
FN(f_sort, npg_sort(in[0], 1, false))
FN(f_sort_desc, npg_sort(npg_T(in[0]), 0, true))
FN(f_argsort, npg_argsort(in[0], 1, true))
static npg_array *f_topk(npg_array *const *in, int n, void *user) {
    (void)n, (void)user;
    npg_array *v = NULL;
    return npg_topk(in[0], 4, 1, true, &v, NULL) == NPG_OK ? v : NULL;
}
static npg_array *f_topk_idx(npg_array *const *in, int n, void *user) {
    (void)n, (void)user;
    npg_array *i = NULL;
    return npg_topk(in[0], 3, 0, false, NULL, &i) == NPG_OK ? i : NULL;
}
static npg_array *f_unique(npg_array *const *in, int n, void *user) {
    (void)n;
    npg_array *out[4] = {0};
    if (npg_unique_all(in[0], &out[0], &out[1], &out[2], &out[3]) != NPG_OK) return NULL;
    return out[*(int *)user];
}
FN(f_searchsorted, npg_searchsorted(in[0], in[1], "left"))
FN(f_searchsorted_r, npg_searchsorted(in[0], in[1], "right"))
FN(f_histogram, npg_histogram(in[0], 7, -1.5, 2.0, NULL))
FN(f_histogram_w, npg_histogram(in[1], 7, -1.5, 2.0, in[0]))
FN(f_bincount_w, npg_bincount(in[1], in[0], 9))
FN(f_cov, npg_cov(in[0], 1))
FN(f_cov1, npg_cov(npg_reshape(in[0], NPG_SHAPE(-1)), 0))
FN(f_corrcoef, npg_corrcoef(in[0]))
FN(f_isclose, npg_isclose(in[0], in[1], 0.01, 0.05, false))

Test(half_sweep, statistics) {
    t_live live = t_live_now();
    for (int d = 0; d < 2; d++) {
        npg_scope s = npg_scope_begin();
        npg_dtype dt = HALVES[d];
        npg_array *x = t_urand(NPG_SHAPE(6, 9), -2, 2, 300 + d, dt, NULL);
        npg_array *xe = t_urand(NPG_SHAPE(4, 8), -2, 2, 310 + d, dt, NULL); /* even counts: midpoints */
        /* NaNs for the nan* functions */
        npg_array *xn = npg_copy(x);
        npg_setitem_scalar(xn, (npg_idx[]){NPG_I(1), NPG_SLICE(0, 9, 4)}, 2, NAN);
        npg_setitem_scalar(xn, (npg_idx[]){NPG_I(4), NPG_I(7)}, 2, NAN);
        /* many equal values: unique, ties in sorts */
        npg_array *xr = npg_round(t_urand(NPG_SHAPE(5, 7), -3, 3, 320 + d, dt, NULL), 0);
        SWEEP("median", f_median, .n = 1, .in = {x}, .grad = 1, .rel = 1, .grel = 1);
        SWEEP("median (even count)", f_median_all, .n = 1, .in = {xe}, .grad = 1, .rel = 1, .grel = 1);
        SWEEP("quantile (linear)", f_quantile, .n = 1, .in = {x}, .grad = 1, .rel = 2, .abs = 1, .grel = 2);
        SWEEP("quantile (midpoint)", f_quantile_mid, .n = 1, .in = {xe}, .grad = 1, .rel = 1, .grel = 1);
        SWEEP("quantile (nearest)", f_quantile_near, .n = 1, .in = {x}, .grad = 1);
        SWEEP("nanquantile", f_nanquantile, .n = 1, .in = {xn}, .rel = 2, .abs = 1);
        SWEEP("nanmedian", f_nanmedian, .n = 1, .in = {xn}, .rel = 1);
        SWEEP("nansum", f_nansum, .n = 1, .in = {xn}, .rel = 1);
        SWEEP("nanmean", f_nanmean, .n = 1, .in = {xn}, .rel = 2, .abs = 0.5);
        SWEEP("sort", f_sort, .n = 1, .in = {xr}, .grad = 1);
        SWEEP("sort (descending, a view)", f_sort_desc, .n = 1, .in = {x}, .grad = 1);
        SWEEP("argsort (ties, stable)", f_argsort, .n = 1, .in = {xr}, .want = NPG_INT64);
        SWEEP("topk values", f_topk, .n = 1, .in = {x}, .grad = 1);
        SWEEP("topk indices (smallest)", f_topk_idx, .n = 1, .in = {x}, .want = NPG_INT64);
        int which[4] = {0, 1, 2, 3};
        SWEEP("unique values", f_unique, .user = &which[0], .n = 1, .in = {xr});
        SWEEP("unique indices", f_unique, .user = &which[1], .n = 1, .in = {xr}, .want = NPG_INT64);
        SWEEP("unique inverse", f_unique, .user = &which[2], .n = 1, .in = {xr}, .want = NPG_INT64);
        SWEEP("unique counts", f_unique, .user = &which[3], .n = 1, .in = {xr}, .want = NPG_INT64);
        npg_array *sorted = npg_sort(npg_reshape(xr, NPG_SHAPE(-1)), 0, false);
        SWEEP("searchsorted (left)", f_searchsorted, .n = 2, .in = {sorted, x}, .want = NPG_INT64);
        SWEEP("searchsorted (right)", f_searchsorted_r, .n = 2, .in = {sorted, xr}, .want = NPG_INT64);
        SWEEP("histogram", f_histogram, .n = 1, .in = {x}, .want = NPG_INT64);
        npg_array *wts = t_urand(NPG_SHAPE(6, 9), 0, 1, 330 + d, dt, NULL);
        SWEEP("histogram (weights)", f_histogram_w, .n = 2, .in = {wts, x}, .grad = 1, .rel = 1);
        double bv[20];
        t_fill_uniform(bv, 20, 0, 7, 340 + d);
        for (int i = 0; i < 20; i++) bv[i] = floor(bv[i]);
        npg_array *bins = t_arr(bv, NPG_INT64, NPG_SHAPE(20));
        npg_array *bw = t_urand(NPG_SHAPE(20), -1, 1, 350 + d, dt, NULL);
        SWEEP("bincount (weights)", f_bincount_w, .n = 2, .in = {bw, bins}, .grad = 1, .rel = 1);
        /* cov: a mean, deviations, a product, a division */
        npg_array *obs = t_urand(NPG_SHAPE(3, 11), -2, 2, 360 + d, dt, NULL);
        SWEEP("cov", f_cov, .n = 1, .in = {obs}, .grad = 1, .rel = 3, .abs = 1, .grel = 3, .gabs = 1);
        SWEEP("cov (1-d, 0-d result)", f_cov1, .n = 1, .in = {obs}, .grad = 1, .rel = 3, .abs = 1, .grel = 3,
              .gabs = 1);
        SWEEP("corrcoef", f_corrcoef, .n = 1, .in = {obs}, .grad = 1, .rel = 4, .abs = 2, .grel = 4, .gabs = 2);
        npg_array *near = npg_add(x, npg_multiply_scalar(t_urand(NPG_SHAPE(6, 9), -1, 1, 370 + d, dt, NULL), 0.06));
        /* isclose against float64 where the decision is clear (away from
         * the boundary by 4 ulps: a composed isclose may round |a - b|) */
        npg_array *ic = f_isclose((npg_array *const[]){x, near}, 2, NULL);
        n_checks++;
        cr_expect(ic && npg_dtype_of(ic) == NPG_BOOL, "isclose: %s",
                  ic ? npg_dtype_name(npg_dtype_of(ic)) : npg_last_error());
        if (ic) {
            double *ha = t_read(x), *hb = t_read(near), *hc = t_read(ic);
            int decided = 0;
            for (int i = 0; i < 54; i++) {
                double lhs = fabs(ha[i] - hb[i]), rhs = 0.05 + 0.01 * fabs(hb[i]);
                if (fabs(lhs - rhs) <= 4 * eps_of(dt) * rhs) continue;
                decided++;
                cr_expect_eq(hc[i] != 0, lhs <= rhs, "isclose (%s) element %d: |%g - %g| vs %g", npg_dtype_name(dt), i,
                             ha[i], hb[i], rhs);
            }
            cr_expect_gt(decided, 40, "isclose: too few clear cases");
            free(ha), free(hb), free(hc);
        }
        n_checks++;
        cr_expect_eq(npg_allclose(x, npg_add_scalar(x, 0.04), 0, 0.05, false), 1, "allclose within atol");
        cr_expect_eq(npg_allclose(x, npg_add_scalar(x, 0.0625), 0, 0.05, false), 0, "allclose beyond atol");
        cr_expect_eq(npg_allclose(x, npg_copy(x), 0, 0, false), 1, "allclose(x, x)");
        npg_scope_end(s);
    }
    END_TEST_LOG("statistics");
    t_assert_no_leak(live, "statistics");
}

/* ---- products, norms, linear algebra ------------------------------------------------- */

FN(f_matmul, npg_matmul(in[0], in[1]))
FN(f_matmul_vec, npg_matmul(in[1], in[2]))
FN(f_linear, npg_linear(in[0], in[1], in[2]))
FN(f_einsum_bmm, npg_einsum("bij,bjk->bik", (npg_array *const[]){in[0], in[1]}, 2))
FN(f_einsum_diag, npg_einsum("ii->i", (npg_array *const[]){in[0]}, 1))
FN(f_einsum_3, npg_einsum("ij,jk,k->i", (npg_array *const[]){in[0], in[1], in[2]}, 3))
FN(f_einsum_sum, npg_einsum("bij->j", (npg_array *const[]){in[0]}, 1))
FN(f_tensordot, npg_tensordot(in[0], in[1], 2))
FN(f_tensordot_axes, npg_tensordot_axes(in[0], in[1], NPG_AXES(0, 2), NPG_AXES(1, 0)))
FN(f_vecdot, npg_vecdot(in[0], in[1], -1))
FN(f_dot, npg_dot(in[0], in[1]))
FN(f_outer, npg_outer(in[0], in[1]))
FN(f_vnorm2, npg_linalg_vector_norm(in[0], 2, NPG_AXES(1), false))
FN(f_vnorm1, npg_linalg_vector_norm(in[0], 1, NPG_ALL_AXES, false))
FN(f_vnorm3, npg_linalg_vector_norm(in[0], 3, NPG_AXES(0, 2), true))
FN(f_vnorminf, npg_linalg_vector_norm(in[0], INFINITY, NPG_AXES(2), false))
FN(f_vnorm0, npg_linalg_vector_norm(in[0], 0, NPG_AXES(1), false))
FN(f_vnormm1, npg_linalg_vector_norm(in[0], -1, NPG_AXES(2), false))
FN(f_mnorm_fro, npg_linalg_matrix_norm(in[0], "fro", false))
FN(f_mnorm_1, npg_linalg_matrix_norm(in[0], "1", true))
FN(f_mnorm_inf, npg_linalg_matrix_norm(in[0], "-inf", false))
FN(f_cross, npg_linalg_cross(in[0], in[1], 1))
FN(f_mpow3, npg_linalg_matrix_power(in[0], 3))
FN(f_mpow1, npg_linalg_matrix_power(in[0], 1))
FN(f_mpow0, npg_linalg_matrix_power(in[0], 0))

Test(half_sweep, products_and_norms) {
    t_live live = t_live_now();
    for (int d = 0; d < 2; d++) {
        npg_scope s = npg_scope_begin();
        npg_dtype dt = HALVES[d];
        npg_array *a = t_urand(NPG_SHAPE(3, 5, 7), -1, 1, 400 + d, dt, NULL);
        npg_array *b = t_urand(NPG_SHAPE(3, 7, 4), -1, 1, 410 + d, dt, NULL);
        npg_array *b2 = t_urand(NPG_SHAPE(7, 4), -1, 1, 420 + d, dt, NULL);
        npg_array *v7 = t_urand(NPG_SHAPE(7), -1, 1, 430 + d, dt, NULL),
                  *v4 = t_urand(NPG_SHAPE(4), -1, 1, 440 + d, dt, NULL);
        npg_array *w = t_urand(NPG_SHAPE(6, 7), -1, 1, 450 + d, dt, NULL),
                  *bias = t_urand(NPG_SHAPE(6), -1, 1, 460 + d, dt, NULL);
        npg_array *sq = t_urand(NPG_SHAPE(5, 5), -0.6, 0.6, 470 + d, dt, NULL);
        npg_array *m57 = t_urand(NPG_SHAPE(5, 7), -1, 1, 480 + d, dt, NULL);
        /* one GEMM in float32, rounded once; its gradients are GEMMs too */
        SWEEP("matmul (batched)", f_matmul, .n = 2, .in = {a, b}, .grad = 3, .rel = 1, .grel = 1, .gabs = 0.5);
        SWEEP("matmul (broadcast batch)", f_matmul, .n = 2, .in = {a, b2}, .grad = 3, .rel = 1, .grel = 1, .gabs = 0.5);
        SWEEP("matmul (vector)", f_matmul_vec, .n = 3, .in = {NULL, a, v7}, .grad = 6, .rel = 1, .grel = 1,
              .gabs = 0.5);
        /* the bias is one more rounding */
        SWEEP("linear", f_linear, .n = 3, .in = {a, w, bias}, .grad = 7, .rel = 1, .abs = 1, .grel = 1, .gabs = 0.5);
        SWEEP("linear (no bias)", f_linear, .n = 3, .in = {a, w, NULL}, .grad = 3, .rel = 1, .grel = 1, .gabs = 0.5);
        SWEEP("einsum bij,bjk->bik", f_einsum_bmm, .n = 2, .in = {a, b}, .grad = 3, .rel = 1, .grel = 1, .gabs = 0.5);
        SWEEP("einsum ii->i", f_einsum_diag, .n = 1, .in = {sq}, .grad = 1);
        SWEEP("einsum ij,jk,k->i", f_einsum_3, .n = 3, .in = {m57, b2, v4}, .grad = 7, .rel = 2, .abs = 1, .grel = 2,
              .gabs = 1);
        SWEEP("einsum bij->j", f_einsum_sum, .n = 1, .in = {a}, .grad = 1, .rel = 1, .abs = 0.5);
        npg_array *t0 = t_urand(NPG_SHAPE(5, 7, 2), -1, 1, 485 + d, dt, NULL);
        SWEEP("tensordot 2", f_tensordot, .n = 2, .in = {a, t0}, .grad = 3, .rel = 1, .abs = 0.5, .grel = 1,
              .gabs = 0.5);
        npg_array *t1 = t_urand(NPG_SHAPE(3, 5, 7), -1, 1, 490 + d, dt, NULL);
        npg_array *t2 = t_urand(NPG_SHAPE(7, 3, 2), -1, 1, 491 + d, dt, NULL);
        SWEEP("tensordot (axes)", f_tensordot_axes, .n = 2, .in = {t1, t2}, .grad = 3, .rel = 1, .abs = 0.5, .grel = 1,
              .gabs = 0.5);
        SWEEP("vecdot", f_vecdot, .n = 2, .in = {a, v7}, .grad = 3, .rel = 1, .abs = 0.5, .grel = 1, .gabs = 0.5);
        SWEEP("dot (vectors)", f_dot, .n = 2, .in = {v7, npg_flip(v7, NPG_AXES(0))}, .grad = 3, .rel = 1, .abs = 0.5,
              .grel = 1);
        SWEEP("dot (matrix, vector)", f_dot, .n = 2, .in = {m57, v7}, .grad = 3, .rel = 1, .abs = 0.5, .grel = 1,
              .gabs = 0.5);
        SWEEP("outer", f_outer, .n = 2, .in = {v7, v4}, .grad = 3, .rel = 1, .grel = 1, .gabs = 0.5);
        SWEEP("vector_norm 2", f_vnorm2, .n = 1, .in = {a}, .grad = 1, .rel = 2, .grel = 2, .gabs = 1);
        SWEEP("vector_norm 1", f_vnorm1, .n = 1, .in = {a}, .grad = 1, .rel = 2, .grel = 1);
        SWEEP("vector_norm 3", f_vnorm3, .n = 1, .in = {a}, .grad = 1, .rel = 3, .grel = 3, .gabs = 1);
        SWEEP("vector_norm inf", f_vnorminf, .n = 1, .in = {a}, .grad = 1, .rel = 1, .grel = 1);
        SWEEP("vector_norm 0", f_vnorm0, .n = 1, .in = {a}, .rel = 0);
        SWEEP("vector_norm -1", f_vnormm1, .n = 1, .in = {a}, .grad = 1, .rel = 3, .grel = 3, .gabs = 1);
        SWEEP("matrix_norm fro", f_mnorm_fro, .n = 1, .in = {a}, .grad = 1, .rel = 2, .grel = 2, .gabs = 1);
        SWEEP("matrix_norm 1", f_mnorm_1, .n = 1, .in = {a}, .grad = 1, .rel = 2, .grel = 1);
        SWEEP("matrix_norm -inf", f_mnorm_inf, .n = 1, .in = {a}, .grad = 1, .rel = 2, .grel = 1);
        npg_array *c1 = t_urand(NPG_SHAPE(4, 3, 2), -1, 1, 500 + d, dt, NULL),
                  *c2 = t_urand(NPG_SHAPE(4, 3, 2), -1, 1, 501 + d, dt, NULL);
        SWEEP("cross", f_cross, .n = 2, .in = {c1, c2}, .grad = 3, .rel = 1, .abs = 1, .grel = 1, .gabs = 1);
        SWEEP("matrix_power 3", f_mpow3, .n = 1, .in = {sq}, .grad = 1, .rel = 2, .abs = 2, .grel = 2, .gabs = 2);
        SWEEP("matrix_power 1", f_mpow1, .n = 1, .in = {sq}, .grad = 1);
        SWEEP("matrix_power 0", f_mpow0, .n = 1, .in = {sq});

        /* LAPACK-backed functions refuse the half types (by design) */
        npg_array *spd = npg_add(npg_matmul(sq, npg_matrix_transpose(sq)), npg_eye(5, OPT(.dtype = dt)));
        npg_array *o1 = NULL, *o2 = NULL, *o3 = NULL, *o4 = NULL;
        n_checks += 16;
        npg_clear_error();
        cr_expect_eq(npg_linalg_qr(sq, false, &o1, &o2), NPG_ERR_DTYPE, "qr");
        cr_expect(!o1 && !o2, "qr outputs");
        cr_expect_eq(npg_linalg_eigh(spd, &o1, &o2), NPG_ERR_DTYPE, "eigh");
        cr_expect(!o1 && !o2, "eigh outputs");
        cr_expect_eq(npg_linalg_svd(m57, false, &o1, &o2, &o3), NPG_ERR_DTYPE, "svd");
        cr_expect(!o1 && !o2 && !o3, "svd outputs");
        cr_expect_eq(npg_linalg_slogdet(sq, &o1, &o2), NPG_ERR_DTYPE, "slogdet");
        cr_expect_eq(npg_linalg_lstsq_ex(m57, NPG_INDEX(v7, NPG_SLICE(0, 5, 1)), -1, &o1, &o2, &o3, &o4), NPG_ERR_DTYPE,
                     "lstsq_ex");
        cr_expect(!o1 && !o2 && !o3 && !o4, "lstsq_ex outputs");
        npg_clear_error();
        T_EXPECT_FAIL(npg_linalg_eigvalsh(spd), NPG_ERR_DTYPE, NULL);
        T_EXPECT_FAIL(npg_linalg_svdvals(m57), NPG_ERR_DTYPE, NULL);
        T_EXPECT_FAIL(npg_linalg_pinv(m57, -1), NPG_ERR_DTYPE, NULL);
        T_EXPECT_FAIL(npg_linalg_lstsq(npg_matrix_transpose(m57), v7, -1), NPG_ERR_DTYPE, NULL);
        T_EXPECT_FAIL(npg_linalg_matrix_rank(m57, -1), NPG_ERR_DTYPE, NULL);
        T_EXPECT_FAIL(npg_linalg_matrix_norm(m57, "nuc", false), NPG_ERR_DTYPE, NULL);
        T_EXPECT_FAIL(npg_linalg_matrix_norm(m57, "2", false), NPG_ERR_DTYPE, NULL);
        T_EXPECT_FAIL(npg_linalg_matrix_power(spd, -2), NPG_ERR_DTYPE, NULL);
        T_EXPECT_FAIL(npg_linalg_det(sq), NPG_ERR_DTYPE, NULL);
        T_EXPECT_FAIL(npg_linalg_inv(sq), NPG_ERR_DTYPE, NULL);
        /* solve_triangular: refused like the rest, or right */
        npg_clear_error();
        npg_array *tri = npg_add(npg_tril(sq, 0), npg_multiply_scalar(npg_eye(5, OPT(.dtype = dt)), 2));
        npg_array *rhs = t_urand(NPG_SHAPE(5, 3), -1, 1, 510 + d, dt, NULL);
        npg_array *st = npg_linalg_solve_triangular(tri, rhs, false, false);
        npg_status sst = npg_last_status();
        npg_clear_error();
        npg_array *st32 =
            npg_linalg_solve_triangular(npg_astype(tri, NPG_FLOAT32), npg_astype(rhs, NPG_FLOAT32), false, false);
        n_checks++;
        if (st)
            close_to(st, st32, dt, 2, 2, "solve_triangular");
        else
            cr_expect_eq(sst, NPG_ERR_DTYPE, "solve_triangular: status %d", sst);
        npg_clear_error();
        npg_scope_end(s);
    }
    END_TEST_LOG("products");
    t_assert_no_leak(live, "products and norms");
}

/* ---- elementwise functions not in test_half.c ---------------------------------------- */

/* A unary function with its input range and tolerances (ulps). */
typedef npg_array *(*un_fn)(npg_array *);
typedef struct un_case {
    un_fn f;
    const char *name;
    double lo, hi, rel, abs, grel, gabs;
} un_case;
static npg_array *f_unary(npg_array *const *in, int n, void *user) {
    (void)n;
    return ((const un_case *)user)->f(in[0]);
}
typedef npg_array *(*bin_fn)(npg_array *, npg_array *);
typedef struct bin_case {
    bin_fn f;
    const char *name;
    double rel, grel;
    unsigned grad; /* the differentiable operands */
    bool cmp;
} bin_case;
static npg_array *f_binary(npg_array *const *in, int n, void *user) {
    (void)n;
    return ((const bin_case *)user)->f(in[0], in[1]);
}
static npg_array *round2(npg_array *x) { return npg_round(x, 2); }
static npg_array *pow_s(npg_array *x) { return npg_pow_scalar(x, 1.75); }
static npg_array *s_pow(npg_array *x) { return npg_scalar_pow(1.25, x); }
static npg_array *div_s(npg_array *x) { return npg_divide_scalar(x, 3.0); }
static npg_array *s_div(npg_array *x) { return npg_scalar_divide(-2.5, x); }
static npg_array *floordiv_s(npg_array *x) { return npg_floor_divide_scalar(x, 0.75); }
static npg_array *sub_s(npg_array *x) { return npg_subtract_scalar(x, 0.3125); }
static npg_array *max_s(npg_array *x) { return npg_maximum_scalar(x, 0.25); }
static npg_array *less_s(npg_array *x) { return npg_less_scalar(x, 0.25); }
static npg_array *lrelu(npg_array *x) { return npg_leaky_relu(x, 0.1); }

/* The bits h of half x (not NaN) moved one step towards y (the next
 * representable half value): an independent reference for nextafter. Both
 * half formats are sign-magnitude, so the step is +-1 on the bits. */
static uint16_t next_half(uint16_t h, double x, double y) {
    if (x == y) return h;
    bool up = y > x;
    if ((h & 0x7fff) == 0) return up ? 0x0001 : 0x8001;
    bool neg = h & 0x8000;
    return up != neg ? (uint16_t)(h + 1) : (uint16_t)(h - 1);
}

Test(half_sweep, elementwise_functions) {
    t_live live = t_live_now();
    /* one kernel each: rounded once; gradients: a product or two of rounded
     * values (erf's: exp(-x^2) of a rounded x^2, relative error x^2 eps/2) */
    static const un_case un[] = {
        {npg_log1p, "log1p", -0.9, 3, 1, 0, 1, 0},   {npg_log2, "log2", 0.05, 9, 1, 0, 2, 0},
        {npg_log10, "log10", 0.05, 9, 1, 0, 2, 0},   {npg_cos, "cos", -3, 3, 1, 0, 2, 0},
        {npg_tan, "tan", -1.3, 1.3, 1, 0, 2, 0},     {npg_asin, "asin", -0.95, 0.95, 1, 0, 2, 0},
        {npg_acos, "acos", -0.95, 0.95, 1, 0, 2, 0}, {npg_atan, "atan", -4, 4, 1, 0, 2, 0},
        {npg_sinh, "sinh", -3, 3, 1, 0, 1, 0},       {npg_cosh, "cosh", -3, 3, 1, 0, 1, 0},
        {npg_asinh, "asinh", -4, 4, 1, 0, 2, 0},     {npg_acosh, "acosh", 1.05, 6, 1, 0, 2, 0},
        {npg_atanh, "atanh", -0.9, 0.9, 1, 0, 2, 0}, {npg_erf, "erf", -2.5, 2.5, 1, 0, 4, 0},
        {npg_ceil, "ceil", -4, 4, 0, 0, 0, 0},       {npg_trunc, "trunc", -4, 4, 0, 0, 0, 0},
        {round2, "round(x, 2)", -4, 4, 1, 0, 0, 0},  {pow_s, "x ** 1.75", 0.1, 4, 1, 0, 2, 0},
        {s_pow, "1.25 ** x", -4, 4, 1, 0, 2, 0},     {div_s, "x / 3", -4, 4, 1, 0, 1, 0},
        {s_div, "-2.5 / x", 0.2, 4, 1, 0, 2, 0},     {floordiv_s, "x // 0.75", -4, 4, 0, 0, -1, 0},
        {sub_s, "x - 0.3125", -4, 4, 1, 0, 0, 0},    {max_s, "maximum(x, 0.25)", -4, 4, 0, 0, 0, 0},
        {lrelu, "leaky_relu", -4, 4, 1, 0, 1, 0},    {npg_positive, "positive", -4, 4, 0, 0, 0, 0},
    };
    static const bin_case bin[] = {
        {npg_logaddexp, "logaddexp", 2, 2, 3, false},   {npg_copysign, "copysign", 0, 0, 1, false},
        {npg_minimum, "minimum", 0, 0, 3, false},       {npg_floor_divide, "floor_divide", 0, 0, 0, false},
        {npg_not_equal, "not_equal", 0, 0, 0, true},    {npg_less_equal, "less_equal", 0, 0, 0, true},
        {npg_logical_xor, "logical_xor", 0, 0, 0, true}};
    static const un_case boolean[] = {{npg_isinf, "isinf", 0, 0, 0, 0, 0, 0},
                                      {npg_isfinite, "isfinite", 0, 0, 0, 0, 0, 0},
                                      {npg_signbit, "signbit", 0, 0, 0, 0, 0, 0},
                                      {npg_logical_not, "logical_not", 0, 0, 0, 0, 0, 0},
                                      {less_s, "less(x, 0.25)", 0, 0, 0, 0, 0, 0}};
    for (int d = 0; d < 2; d++) {
        npg_scope s = npg_scope_begin();
        npg_dtype dt = HALVES[d];
        for (size_t k = 0; k < sizeof un / sizeof un[0]; k++) {
            npg_array *x =
                npg_matrix_transpose(t_urand(NPG_SHAPE(13, 7), un[k].lo, un[k].hi, 600 + k + 50 * d, dt, NULL));
            SWEEP(un[k].name, f_unary, .user = (void *)&un[k], .n = 1, .in = {x}, .grad = un[k].grel >= 0,
                  .rel = un[k].rel, .grel = un[k].grel);
        }
        npg_array *x = t_urand(NPG_SHAPE(7, 13), -4, 4, 700 + d, dt, NULL);
        npg_array *y = t_urand(NPG_SHAPE(13), -4, 4, 710 + d, dt, NULL);
        for (size_t k = 0; k < sizeof bin / sizeof bin[0]; k++) {
            SWEEP(bin[k].name, f_binary, .user = (void *)&bin[k], .n = 2, .in = {x, y}, .grad = bin[k].grad,
                  .want = bin[k].cmp ? NPG_BOOL : 0, .rel = bin[k].rel, .grel = bin[k].grel,
                  .gabs = bin[k].grad ? 0.5 : 0);
        }
        npg_array *sp = npg_copy(x);
        npg_setitem_scalar(sp, (npg_idx[]){NPG_I(2), NPG_SLICE(0, 13, 3)}, 2, INFINITY);
        npg_setitem_scalar(sp, (npg_idx[]){NPG_I(3), NPG_SLICE(1, 13, 5)}, 2, -0.0);
        npg_setitem_scalar(sp, (npg_idx[]){NPG_I(4), NPG_I(4)}, 2, NAN);
        for (int k = 0; k < 5; k++)
            SWEEP(boolean[k].name, f_unary, .user = (void *)&boolean[k], .n = 1, .in = {sp}, .want = NPG_BOOL);

        /* nextafter: refused (NPG_ERR_DTYPE, as npg.h says), or the next
         * value of the half type, not float32's next value rounded back
         * (which is the input itself: what it gave before the refusal) */
        npg_array *to =
            npg_where(npg_greater_scalar(t_urand(NPG_SHAPE(7, 13), 0, 1, 720 + d, NPG_FLOAT32, NULL), 0.5),
                      npg_full(NPG_SHAPE0, 100, OPT(.dtype = dt)), npg_full(NPG_SHAPE0, -100, OPT(.dtype = dt)));
        npg_setitem_scalar(sp, (npg_idx[]){NPG_I(4), NPG_I(4)}, 2, 0.0);
        npg_setitem_scalar(sp, (npg_idx[]){NPG_I(2), NPG_SLICE(0, 13, 3)}, 2, 1.0);
        npg_clear_error();
        npg_array *nx = npg_nextafter(sp, to);
        n_checks++;
        if (!nx) t_assert_error(NPG_ERR_DTYPE, "npg_nextafter");
        npg_clear_error();
        cr_expect(!nx || npg_dtype_of(nx) == dt, "nextafter dtype");
        if (nx) {
            uint16_t hb[91], nb[91], want[91];
            npg_copy_to_host(sp, hb, sizeof hb);
            npg_copy_to_host(nx, nb, sizeof nb);
            double *hx = t_read(sp), *ht = t_read(to);
            int bad = -1;
            for (int i = 0; i < 91; i++) {
                want[i] = next_half(hb[i], hx[i], ht[i]);
                if (want[i] != nb[i] && bad < 0) bad = i;
            }
            cr_expect(bad < 0, "nextafter (%s): element %d: nextafter(%.9g, %g) has bits %04x, want %04x",
                      npg_dtype_name(dt), bad, bad < 0 ? 0 : hx[bad], bad < 0 ? 0 : ht[bad], bad < 0 ? 0 : nb[bad],
                      bad < 0 ? 0 : want[bad]);
            free(hx), free(ht);
        }
        npg_scope_end(s);
    }
    END_TEST_LOG("elementwise");
    t_assert_no_leak(live, "elementwise functions");
}

/* ---- activations ----------------------------------------------------------------- */

static npg_array *elu(npg_array *x) { return npg_elu(x, 0.8); }
static npg_array *celu(npg_array *x) { return npg_celu(x, 1.5); }
static npg_array *hardtanh(npg_array *x) { return npg_hardtanh(x, -1.25, 2.5); }
FN(f_glu, npg_glu(in[0], 1))
FN(f_glu0, npg_glu(in[0], 0))

Test(half_sweep, activations) {
    t_live live = t_live_now();
    /* forward: one kernel each (rounded once) or a few (a few roundings).
     * Backward rules use the rounded output or intermediates: 1 - tanh^2 and
     * s (1 - s) of a rounded tanh / sigmoid near 1 cancel, so the gradients'
     * errors are ulps of O(1) values (gabs), not of the small results */
    static const un_case act[] = {
        {npg_relu, "relu", 0, 0, 0, 0, 0, 0},
        {npg_sigmoid, "sigmoid", 0, 0, 1, 0, 2, 1},
        {npg_tanh, "tanh", 0, 0, 1, 0, 2, 1},
        {npg_softplus, "softplus", 0, 0, 1, 0, 2, 1},
        {npg_gelu, "gelu", 0, 0, 1, 0.5, 2, 1},
        {npg_gelu_tanh, "gelu_tanh", 0, 0, 1, 0.5, 2, 2},
        {npg_silu, "silu", 0, 0, 2, 0.5, 2, 1},
        {elu, "elu", 0, 0, 2, 0, 2, 1},
        {npg_selu, "selu", 0, 0, 2, 0, 2, 1},
        {celu, "celu", 0, 0, 2, 0, 2, 1},
        {hardtanh, "hardtanh", 0, 0, 0, 0, 0, 0},
        {npg_hardsigmoid, "hardsigmoid", 0, 0, 2, 0, 1, 0},
        {npg_hardswish, "hardswish", 0, 0, 2, 0.5, 2, 1},
        {npg_mish, "mish", 0, 0, 3, 0.5, 3, 2},
        {npg_logsigmoid, "logsigmoid", 0, 0, 2, 0, 2, 1},
        {lrelu, "leaky_relu", 0, 0, 1, 0, 1, 0},
    };
    for (int d = 0; d < 2; d++) {
        npg_scope s = npg_scope_begin();
        npg_dtype dt = HALVES[d];
        /* a range across every kink, with the kinks themselves */
        npg_array *x = npg_copy(npg_matrix_transpose(t_urand(NPG_SHAPE(13, 7), -5, 5, 800 + d, dt, NULL)));
        double kinks[7] = {0, -3, 3, -1.25, 2.5, 1, -1};
        npg_setitem(x, (npg_idx[]){NPG_I(6)}, 1, t_arr(kinks, dt, NPG_SHAPE(7)));
        for (size_t k = 0; k < sizeof act / sizeof act[0]; k++)
            SWEEP(act[k].name, f_unary, .user = (void *)&act[k], .n = 1, .in = {x}, .grad = 1, .rel = act[k].rel,
                  .abs = act[k].abs, .grel = act[k].grel, .gabs = act[k].gabs);
        npg_array *g = t_urand(NPG_SHAPE(6, 4, 3), -4, 4, 810 + d, dt, NULL);
        SWEEP("glu", f_glu, .n = 1, .in = {g}, .grad = 1, .rel = 2, .grel = 2, .gabs = 0.5);
        SWEEP("glu (axis 0)", f_glu0, .n = 1, .in = {g}, .grad = 1, .rel = 2, .grel = 2, .gabs = 0.5);
        npg_scope_end(s);
    }
    END_TEST_LOG("activations");
    t_assert_no_leak(live, "activations");
}

/* ---- softmax and normalisations --------------------------------------------------- */

FN(f_softmax, npg_softmax(in[0], 1))
FN(f_softmax_last, npg_softmax(npg_T(in[0]), -1))
FN(f_log_softmax, npg_log_softmax(in[0], 0))
FN(f_layer_norm, npg_layer_norm(in[0], 2, in[1], in[2], 1e-5))
FN(f_layer_norm_plain, npg_layer_norm(in[0], 1, NULL, NULL, 1e-5))
FN(f_rms_norm, npg_rms_norm(in[0], 1, in[1], 1e-6))
FN(f_rms_norm_plain, npg_rms_norm(in[0], 2, NULL, 1e-5))
FN(f_group_norm, npg_group_norm(in[0], 2, in[1], in[2], 1e-5))
FN(f_batch_norm_eval, npg_batch_norm(in[0], in[3], in[4], in[1], in[2], false, 0.1, 1e-5))
FN(f_batch_norm_train, npg_batch_norm(in[0], NULL, NULL, in[1], in[2], true, 0.1, 1e-5))

Test(half_sweep, softmax_and_normalisation) {
    t_live live = t_live_now();
    for (int d = 0; d < 2; d++) {
        npg_scope s = npg_scope_begin();
        npg_dtype dt = HALVES[d];
        npg_array *x = t_urand(NPG_SHAPE(5, 9, 7), -3, 3, 900 + d, dt, NULL);
        /* the fused kernels round once; their gradients are fused too */
        SWEEP("softmax", f_softmax, .n = 1, .in = {x}, .grad = 1, .rel = 1, .grel = 2, .gabs = 1);
        SWEEP("softmax (a view)", f_softmax_last, .n = 1, .in = {x}, .grad = 1, .rel = 1, .grel = 2, .gabs = 1);
        SWEEP("log_softmax", f_log_softmax, .n = 1, .in = {x}, .grad = 1, .rel = 1, .abs = 0.5, .grel = 2, .gabs = 1);
        npg_array *lw = t_urand(NPG_SHAPE(9, 7), 0.5, 1.5, 910 + d, dt, NULL),
                  *lb = t_urand(NPG_SHAPE(9, 7), -1, 1, 920 + d, dt, NULL);
        /* normalisations: mean, deviations, variance, a root, a division,
         * scale and shift: about a rounding each (relative to the outputs,
         * which are O(1)) */
        SWEEP("layer_norm", f_layer_norm, .n = 3, .in = {x, lw, lb}, .grad = 7, .rel = 3, .abs = 2, .grel = 3,
              .gabs = 2);
        SWEEP("layer_norm (no affine)", f_layer_norm_plain, .n = 1, .in = {x}, .grad = 1, .rel = 3, .abs = 2, .grel = 3,
              .gabs = 2);
        npg_array *rw = t_urand(NPG_SHAPE(7), 0.5, 1.5, 930 + d, dt, NULL);
        SWEEP("rms_norm", f_rms_norm, .n = 2, .in = {x, rw}, .grad = 3, .rel = 3, .abs = 1, .grel = 3, .gabs = 2);
        SWEEP("rms_norm (no weight)", f_rms_norm_plain, .n = 1, .in = {x}, .grad = 1, .rel = 3, .abs = 1, .grel = 3,
              .gabs = 2);
        npg_array *img = t_urand(NPG_SHAPE(3, 4, 5, 3), -2, 3, 940 + d, dt, NULL);
        npg_array *cw = t_urand(NPG_SHAPE(4), 0.5, 1.5, 950 + d, dt, NULL),
                  *cb = t_urand(NPG_SHAPE(4), -1, 1, 960 + d, dt, NULL);
        SWEEP("group_norm", f_group_norm, .n = 3, .in = {img, cw, cb}, .grad = 7, .rel = 3, .abs = 2, .grel = 3,
              .gabs = 2);
        SWEEP("batch_norm (training)", f_batch_norm_train, .n = 3, .in = {img, cw, cb}, .grad = 7, .rel = 3, .abs = 2,
              .grel = 3, .gabs = 2);
        npg_array *rm = t_urand(NPG_SHAPE(4), -0.5, 0.5, 970 + d, dt, NULL),
                  *rv = t_urand(NPG_SHAPE(4), 0.5, 2, 980 + d, dt, NULL);
        SWEEP("batch_norm (evaluation)", f_batch_norm_eval, .n = 5, .in = {img, cw, cb, rm, rv}, .grad = 7, .rel = 3,
              .abs = 2, .grel = 3, .gabs = 2);
        /* the running statistics: half arrays updated in place like float32 ones */
        npg_array *rm16 = npg_copy(rm), *rv16 = npg_copy(rv);
        npg_array *rm32 = npg_astype(rm, NPG_FLOAT32), *rv32 = npg_astype(rv, NPG_FLOAT32);
        for (int step = 0; step < 3; step++) {
            npg_array *xb = t_urand(NPG_SHAPE(3, 4, 5, 3), -2, 3, 990 + step + 10 * d, dt, NULL);
            npg_array *y = npg_batch_norm(xb, rm16, rv16, cw, cb, true, 0.1, 1e-5);
            npg_array *y32 = npg_batch_norm(npg_astype(xb, NPG_FLOAT32), rm32, rv32, npg_astype(cw, NPG_FLOAT32),
                                            npg_astype(cb, NPG_FLOAT32), true, 0.1, 1e-5);
            close_to(y, y32, dt, 3, 2, "batch_norm with running statistics");
        }
        close_to(rm16, rm32, dt, 3, 2, "batch_norm running_mean");
        close_to(rv16, rv32, dt, 3, 2, "batch_norm running_var");
        npg_scope_end(s);
    }
    END_TEST_LOG("normalisation");
    t_assert_no_leak(live, "softmax and normalisation");
}

/* ---- dropout, embedding, one_hot -------------------------------------------------- */

Test(half_sweep, dropout_and_one_hot) {
    t_live live = t_live_now();
    for (int d = 0; d < 2; d++) {
        npg_scope s = npg_scope_begin();
        npg_dtype dt = HALVES[d];
        const int64_t n = 20000;
        npg_array *x = t_leaf(t_urand(NPG_SHAPE(n), 0.5, 2, 1000 + d, dt, NULL));
        npg_array *x32 = t_leaf(npg_astype(npg_detach(x), NPG_FLOAT32));
        npg_generator *g1 = npg_generator_new(41), *g2 = npg_generator_new(41);
        npg_array *y = npg_dropout(x, 0.3, true, g1), *y32 = npg_dropout(x32, 0.3, true, g2);
        npg_generator_free(g1);
        npg_generator_free(g2);
        /* each element dropped (0) or kept and scaled by 1 / 0.7 (float64
         * reference), the gradient likewise */
        npg_array *w = t_urand(NPG_SHAPE(n), -1, 1, 1010 + d, dt, NULL);
        cr_assert_eq(npg_backward(npg_sum(npg_multiply(y, w), NPG_ALL_AXES, false), NULL), NPG_OK, "%s",
                     npg_last_error());
        cr_assert_eq(npg_backward(npg_sum(npg_multiply(y32, npg_astype(w, NPG_FLOAT32)), NPG_ALL_AXES, false), NULL),
                     NPG_OK);
        {
            n_checks++;
            cr_expect(y && npg_dtype_of(y) == dt && npg_grad(x) && npg_dtype_of(npg_grad(x)) == dt, "dropout dtypes");
            double *hx = t_read(x), *hy = t_read(y), *hw = t_read(w), *hg = t_read(npg_grad(x));
            for (int64_t i = 0; i < n; i++) {
                bool kept = hy[i] != 0;
                double wy = kept ? hx[i] / 0.7 : 0, wg = kept ? hw[i] / 0.7 : 0;
                if (fabs(hy[i] - wy) > 2 * eps_of(dt) * fabs(wy) ||
                    fabs(hg[i] - wg) > 2 * eps_of(dt) * fabs(wg) + tiny_of(dt)) {
                    cr_expect(0, "dropout (%s) element %lld: x %g, y %g, gradient %g (w %g)", npg_dtype_name(dt),
                              (long long)i, hx[i], hy[i], hg[i], hw[i]);
                    break;
                }
            }
            free(hx), free(hy), free(hw), free(hg);
        }
        /* the same seed gives float32's mask (the uniforms are float32) */
        close_to(y, y32, dt, 1, 0, "dropout (the float32 draws with the same seed)");
        close_to(npg_grad(x), npg_grad(x32), dt, 1, 0, "dropout gradient (the same seed)");
        /* and statistically: about 30% zeros */
        double zeros = (double)(n - npg_count_nonzero(y)) / n;
        n_checks++;
        cr_expect(fabs(zeros - 0.3) < 0.015, "dropout zeroed %.4f of the elements, want 0.3", zeros);
        npg_array *ev = npg_dropout(x, 0.3, false, NULL);
        close_to(ev, x, dt, 0, 0, "dropout (evaluation)");
        /* a large p: the kept fraction is still 1 - p (the output's mean is
         * the input's). Drawing the uniforms in the half type and comparing
         * them with a rounded p keeps 0.00122 instead of 0.001 (float16, p
         * 0.999) or 0.0137 instead of 0.01 (bfloat16, p 0.99) */
        {
            const int64_t big = 2000000;
            double pbig = dt == NPG_FLOAT16 ? 0.999 : 0.99;
            npg_array *ones = npg_ones(NPG_SHAPE(big), OPT(.dtype = dt));
            int64_t kept = npg_count_nonzero(npg_dropout(ones, pbig, true, NULL));
            double want = (1 - pbig) * big, sd = sqrt(want * pbig);
            n_checks++;
            cr_expect(fabs(kept - want) < 5 * sd, "dropout(p = %g) (%s) kept %lld of %lld, want %.0f +- %.0f", pbig,
                      npg_dtype_name(dt), (long long)kept, (long long)big, want, 5 * sd);
        }
        /* p = 0 and p = 1 */
        close_to(npg_dropout(x, 0, true, NULL), x, dt, 0, 0, "dropout(p = 0)");
        npg_array *all = npg_dropout(x, 1, true, NULL);
        n_checks++;
        cr_expect(all && npg_count_nonzero(all) == 0, "dropout(p = 1) leaves %lld nonzero",
                  (long long)(all ? npg_count_nonzero(all) : -1));
        /* one_hot takes integer labels: half labels behave as float32 ones */
        double lv[6] = {0, 4, 2, 2, 1, 3};
        npg_array *lab = t_arr(lv, dt, NPG_SHAPE(2, 3));
        npg_clear_error();
        npg_array *oh = npg_one_hot(lab, 5);
        npg_status st = npg_last_status();
        npg_clear_error();
        npg_array *oh32 = npg_one_hot(npg_astype(lab, NPG_FLOAT32), 5);
        npg_status st32 = npg_last_status();
        npg_clear_error();
        same_outcome(oh, oh32, st, st32, NPG_INT64, "one_hot of half labels");
        npg_scope_end(s);
    }
    END_TEST_LOG("dropout");
    t_assert_no_leak(live, "dropout and one_hot");
}

/* ---- convolutions ----------------------------------------------------------------- */

FN(f_conv1d, npg_conv1d(in[0], in[1], in[2], NPG_CONV1D_OPTS(.stride = 2, .padding = 1)))
FN(f_conv1d_g, npg_conv1d(in[0], in[1], NULL, NPG_CONV1D_OPTS(.dilation = 2, .groups = 2)))
FN(f_conv2d, npg_conv2d(in[0], in[1], in[2], NPG_CONV2D_OPTS(.stride = {2, 1}, .padding = {1, 2}, .dilation = {1, 2})))
FN(f_conv2d_g, npg_conv2d(in[0], in[1], NULL, NPG_CONV2D_OPTS(.groups = 2)))
FN(f_convt2d,
   npg_conv_transpose2d(in[0], in[1], in[2],
                        NPG_CONV_TRANSPOSE2D_OPTS(.stride = {2, 2}, .padding = {1, 0}, .output_padding = {1, 0})))
FN(f_convt1d, npg_conv_transpose1d(in[0], in[1], in[2], NPG_CONV_TRANSPOSE1D_OPTS(.stride = 3, .padding = 1)))
FN(f_unfold, npg_unfold(in[0], NPG_HW(2, 3), NPG_HW(1, 1), NPG_HW(1, 0), NPG_HW(1, 2)))
FN(f_fold, npg_fold(in[0], NPG_HW(5, 6), NPG_HW(2, 2), NPG_HW(1, 1), NPG_HW(0, 0), NPG_HW(1, 1)))

Test(half_sweep, convolutions) {
    t_live live = t_live_now();
    for (int d = 0; d < 2; d++) {
        npg_scope s = npg_scope_begin();
        npg_dtype dt = HALVES[d];
        npg_array *x1 = t_urand(NPG_SHAPE(2, 4, 11), -1, 1, 1100 + d, dt, NULL);
        npg_array *w1 = t_urand(NPG_SHAPE(5, 4, 3), -0.5, 0.5, 1110 + d, dt, NULL);
        npg_array *w1g = t_urand(NPG_SHAPE(6, 2, 3), -0.5, 0.5, 1115 + d, dt, NULL);
        npg_array *b5 = t_urand(NPG_SHAPE(5), -0.5, 0.5, 1120 + d, dt, NULL);
        npg_array *x2 = t_urand(NPG_SHAPE(2, 4, 7, 6), -1, 1, 1130 + d, dt, NULL);
        npg_array *w2 = t_urand(NPG_SHAPE(5, 4, 3, 2), -0.5, 0.5, 1140 + d, dt, NULL);
        npg_array *w2g = t_urand(NPG_SHAPE(6, 2, 3, 3), -0.5, 0.5, 1145 + d, dt, NULL);
        npg_array *wt2 = t_urand(NPG_SHAPE(4, 5, 3, 2), -0.5, 0.5, 1150 + d, dt, NULL);
        npg_array *wt1 = t_urand(NPG_SHAPE(4, 5, 4), -0.5, 0.5, 1160 + d, dt, NULL);
        /* im2col + GEMM in float32, rounded; a bias adds a rounding */
        SWEEP("conv1d", f_conv1d, .n = 3, .in = {x1, w1, b5}, .grad = 7, .rel = 1, .abs = 1, .grel = 1, .gabs = 1);
        SWEEP("conv1d (groups, dilation)", f_conv1d_g, .n = 2, .in = {x1, w1g}, .grad = 3, .rel = 1, .abs = 0.5,
              .grel = 1, .gabs = 1);
        SWEEP("conv2d", f_conv2d, .n = 3, .in = {x2, w2, b5}, .grad = 7, .rel = 1, .abs = 1, .grel = 1, .gabs = 1);
        SWEEP("conv2d (groups)", f_conv2d_g, .n = 2, .in = {x2, w2g}, .grad = 3, .rel = 1, .abs = 0.5, .grel = 1,
              .gabs = 1);
        SWEEP("conv_transpose2d", f_convt2d, .n = 3, .in = {x2, wt2, b5}, .grad = 7, .rel = 1, .abs = 1, .grel = 1,
              .gabs = 1);
        SWEEP("conv_transpose1d", f_convt1d, .n = 3, .in = {x1, wt1, b5}, .grad = 7, .rel = 1, .abs = 1, .grel = 1,
              .gabs = 1);
        SWEEP("unfold", f_unfold, .n = 1, .in = {x2}, .grad = 1, .grel = 1);
        npg_array *cols = t_urand(NPG_SHAPE(2, 12, 20), -1, 1, 1170 + d, dt, NULL);
        SWEEP("fold", f_fold, .n = 1, .in = {cols}, .grad = 1, .rel = 1, .abs = 0.5);
        npg_scope_end(s);
    }
    END_TEST_LOG("convolutions");
    t_assert_no_leak(live, "convolutions");
}

/* ---- pools and interpolation --------------------------------------------------------- */

FN(f_maxpool2d, npg_max_pool2d(in[0], NPG_POOL2D_OPTS(.kernel = {3, 2}, .stride = {2, 1}, .padding = {1, 1})))
FN(f_avgpool2d, npg_avg_pool2d(in[0], NPG_POOL2D_OPTS(.kernel = {3, 2}, .stride = {2, 1}, .padding = {1, 1})))
FN(f_avgpool2d_pad,
   npg_avg_pool2d(in[0], NPG_POOL2D_OPTS(.kernel = {3, 3}, .padding = {1, 1}, .count_include_pad = true)))
FN(f_maxpool1d,
   npg_max_pool1d(in[0], NPG_POOL1D_OPTS(.kernel = 3, .stride = 2, .padding = 1, .dilation = 2, .ceil_mode = true)))
FN(f_avgpool1d,
   npg_avg_pool1d(in[0], NPG_POOL1D_OPTS(.kernel = 4, .stride = 3, .padding = 2, .count_include_pad = true)))
FN(f_avgpool1d_ceil, npg_avg_pool1d(in[0], NPG_POOL1D_OPTS(.kernel = 3, .stride = 2, .ceil_mode = true)))
FN(f_adavg2d, npg_adaptive_avg_pool2d(in[0], 3, 4))
FN(f_admax2d, npg_adaptive_max_pool2d(in[0], 4, 3))
FN(f_adavg1d, npg_adaptive_avg_pool1d(in[0], 4))
FN(f_admax1d, npg_adaptive_max_pool1d(in[0], 5))
static const int64_t SZ2[2] = {11, 4}, SZ1[1] = {17};
FN(f_interp_near, npg_interpolate(in[0], 2, SZ2, NPG_INTERP_NEAREST, false))
FN(f_interp_exact, npg_interpolate(in[0], 2, SZ2, NPG_INTERP_NEAREST_EXACT, false))
FN(f_interp_lin2, npg_interpolate(in[0], 2, SZ2, NPG_INTERP_LINEAR, false))
FN(f_interp_lin2ac, npg_interpolate(in[0], 2, SZ2, NPG_INTERP_LINEAR, true))
FN(f_interp_lin1, npg_interpolate(in[0], 1, SZ1, NPG_INTERP_LINEAR, false))

Test(half_sweep, pools_and_interpolation) {
    t_live live = t_live_now();
    for (int d = 0; d < 2; d++) {
        npg_scope s = npg_scope_begin();
        npg_dtype dt = HALVES[d];
        npg_array *x = t_urand(NPG_SHAPE(2, 3, 7, 6), -2, 2, 1200 + d, dt, NULL);
        npg_array *x1 = t_urand(NPG_SHAPE(2, 3, 13), -2, 2, 1210 + d, dt, NULL);
        /* max pools move values; averages are a sum and a division */
        SWEEP("max_pool2d", f_maxpool2d, .n = 1, .in = {x}, .grad = 1, .grel = 1);
        SWEEP("avg_pool2d", f_avgpool2d, .n = 1, .in = {x}, .grad = 1, .rel = 2, .abs = 0.5, .grel = 2, .gabs = 0.5);
        SWEEP("avg_pool2d (count_include_pad)", f_avgpool2d_pad, .n = 1, .in = {x}, .grad = 1, .rel = 2, .abs = 0.5,
              .grel = 2, .gabs = 0.5);
        SWEEP("max_pool1d (dilation, ceil_mode)", f_maxpool1d, .n = 1, .in = {x1}, .grad = 1, .grel = 1);
        SWEEP("avg_pool1d (count_include_pad)", f_avgpool1d, .n = 1, .in = {x1}, .grad = 1, .rel = 2, .abs = 0.5,
              .grel = 2, .gabs = 0.5);
        SWEEP("avg_pool1d (ceil_mode)", f_avgpool1d_ceil, .n = 1, .in = {x1}, .grad = 1, .rel = 2, .abs = 0.5,
              .grel = 2, .gabs = 0.5);
        SWEEP("adaptive_avg_pool2d", f_adavg2d, .n = 1, .in = {x}, .grad = 1, .rel = 2, .abs = 0.5, .grel = 2,
              .gabs = 0.5);
        SWEEP("adaptive_max_pool2d", f_admax2d, .n = 1, .in = {x}, .grad = 1, .grel = 1);
        SWEEP("adaptive_avg_pool1d", f_adavg1d, .n = 1, .in = {x1}, .grad = 1, .rel = 2, .abs = 0.5, .grel = 2,
              .gabs = 0.5);
        SWEEP("adaptive_max_pool1d", f_admax1d, .n = 1, .in = {x1}, .grad = 1, .grel = 1);
        SWEEP("interpolate nearest", f_interp_near, .n = 1, .in = {x}, .grad = 1, .grel = 1);
        SWEEP("interpolate nearest-exact", f_interp_exact, .n = 1, .in = {x}, .grad = 1, .grel = 1);
        /* linear: weighted sums of two or four taps */
        SWEEP("interpolate bilinear", f_interp_lin2, .n = 1, .in = {x}, .grad = 1, .rel = 2, .abs = 1, .grel = 2,
              .gabs = 1);
        SWEEP("interpolate bilinear (align_corners)", f_interp_lin2ac, .n = 1, .in = {x}, .grad = 1, .rel = 2, .abs = 1,
              .grel = 2, .gabs = 1);
        SWEEP("interpolate linear", f_interp_lin1, .n = 1, .in = {x1}, .grad = 1, .rel = 2, .abs = 1, .grel = 2,
              .gabs = 1);
        npg_scope_end(s);
    }
    END_TEST_LOG("pools");
    t_assert_no_leak(live, "pools and interpolation");
}

/* ---- attention -------------------------------------------------------------------- */

FN(f_sdpa, npg_scaled_dot_product_attention(in[0], in[1], in[2], NULL, false, 0))
FN(f_sdpa_causal, npg_scaled_dot_product_attention(in[0], in[1], in[2], NULL, true, 0.3))
FN(f_sdpa_bool, npg_scaled_dot_product_attention(in[0], in[1], in[2], in[3], false, 0))
FN(f_sdpa_float, npg_scaled_dot_product_attention(in[0], in[1], in[2], in[3], false, 0))

Test(half_sweep, attention) {
    t_live live = t_live_now();
    for (int d = 0; d < 2; d++) {
        npg_scope s = npg_scope_begin();
        npg_dtype dt = HALVES[d];
        npg_array *q = t_urand(NPG_SHAPE(2, 3, 5, 8), -1, 1, 1300 + d, dt, NULL);
        npg_array *k = t_urand(NPG_SHAPE(2, 1, 7, 8), -1, 1, 1310 + d, dt, NULL);
        npg_array *v = t_urand(NPG_SHAPE(2, 1, 7, 6), -1, 1, 1320 + d, dt, NULL);
        npg_array *kc = t_urand(NPG_SHAPE(2, 3, 5, 8), -1, 1, 1330 + d, dt, NULL);
        npg_array *vc = t_urand(NPG_SHAPE(2, 3, 5, 6), -1, 1, 1340 + d, dt, NULL);
        npg_array *bm = npg_greater_scalar(t_urand(NPG_SHAPE(5, 7), 0, 1, 1350 + d, NPG_FLOAT32, NULL), 0.3);
        npg_setitem_scalar(bm, (npg_idx[]){NPG_ALL, NPG_I(0)}, 2, 1); /* every query keeps a key */
        npg_array *fm = t_urand(NPG_SHAPE(5, 7), -2, 0, 1360 + d, dt, NULL);
        /* a product, a scale, a softmax, a product: a few roundings */
        SWEEP("scaled_dot_product_attention", f_sdpa, .n = 3, .in = {q, k, v}, .grad = 7, .rel = 3, .abs = 2, .grel = 3,
              .gabs = 2);
        SWEEP("sdpa (causal, scale)", f_sdpa_causal, .n = 3, .in = {q, kc, vc}, .grad = 7, .rel = 3, .abs = 2,
              .grel = 3, .gabs = 2);
        SWEEP("sdpa (bool mask)", f_sdpa_bool, .n = 4, .in = {q, k, v, bm}, .grad = 7, .rel = 3, .abs = 2, .grel = 3,
              .gabs = 2);
        SWEEP("sdpa (half additive mask)", f_sdpa_float, .n = 4, .in = {q, k, v, fm}, .grad = 15, .rel = 3, .abs = 2,
              .grel = 3, .gabs = 2);
        npg_scope_end(s);
    }
    END_TEST_LOG("attention");
    t_assert_no_leak(live, "attention");
}

/* ---- recurrent layers -------------------------------------------------------------- */

typedef struct rnn_case {
    npg_rnn_mode mode;
    int n_params;
    const npg_rnn_opts *opts;
} rnn_case;
/* in[0] x, in[1] h0, in[2] c0, in[3..] the parameters; the result: out, h_n
 * (and c_n) flattened and joined (an exact concatenation). */
static npg_array *f_rnn(npg_array *const *in, int n, void *user) {
    (void)n;
    const rnn_case *c = user;
    npg_array *out = NULL, *hn = NULL, *cn = NULL;
    npg_status st = npg_rnn(c->mode, in[0], in[1], in[2], in + 3, c->n_params, c->opts, &out, &hn,
                            c->mode == NPG_RNN_LSTM ? &cn : NULL);
    if (st != NPG_OK) return NULL;
    npg_array *parts[3] = {npg_flatten(out), npg_flatten(hn), cn ? npg_flatten(cn) : NULL};
    return npg_concat(parts, cn ? 3 : 2, 0);
}
static npg_array *f_lstm_cell(npg_array *const *in, int n, void *user) {
    (void)n, (void)user;
    npg_array *h = NULL, *c = NULL;
    if (npg_lstm_cell(in[0], in[1], in[2], in[3], in[4], in[5], in[6], &h, &c) != NPG_OK) return NULL;
    return npg_concat((npg_array *const[]){h, c}, 2, 1);
}
FN(f_gru_cell, npg_gru_cell(in[0], in[1], in[3], in[4], in[5], in[6]))
FN(f_rnn_cell, npg_rnn_cell(in[0], in[1], in[3], in[4], in[5], in[6], false))

Test(half_sweep, recurrent) {
    t_live live = t_live_now();
    for (int d = 0; d < 2; d++) {
        npg_scope s = npg_scope_begin();
        npg_dtype dt = HALVES[d];
        enum { B = 3, T = 5, IN = 4, H = 6 };
        const int G[3] = {4, 3, 1};
        const npg_rnn_mode modes[3] = {NPG_RNN_LSTM, NPG_RNN_GRU, NPG_RNN_TANH};
        const char *names[3] = {"rnn LSTM (2 layers, bidirectional, batch_first)", "rnn GRU (2 layers, bidirectional)",
                                "rnn tanh (2 layers, bidirectional)"};
        for (int m = 0; m < 3; m++) {
            /* 2 layers x 2 directions x (w_ih, w_hh, b_ih, b_hh) */
            npg_array *in[3 + 16] = {0};
            in[0] = t_urand(m == 0 ? NPG_SHAPE(B, T, IN) : NPG_SHAPE(T, B, IN), -1, 1, 1400 + d + 10 * m, dt, NULL);
            in[1] = t_urand(NPG_SHAPE(4, B, H), -0.5, 0.5, 1401 + d + 10 * m, dt, NULL);
            in[2] = m == 0 ? t_urand(NPG_SHAPE(4, B, H), -0.5, 0.5, 1402 + d, dt, NULL) : NULL;
            for (int l = 0; l < 2; l++)
                for (int dir = 0; dir < 2; dir++) {
                    int p = 3 + 4 * (2 * l + dir);
                    uint64_t seed = 1500 + 100 * m + 10 * p + d;
                    in[p] = t_urand(NPG_SHAPE(G[m] * H, l == 0 ? IN : 2 * H), -0.4, 0.4, seed, dt, NULL);
                    in[p + 1] = t_urand(NPG_SHAPE(G[m] * H, H), -0.4, 0.4, seed + 1, dt, NULL);
                    in[p + 2] = t_urand(NPG_SHAPE(G[m] * H), -0.4, 0.4, seed + 2, dt, NULL);
                    in[p + 3] = t_urand(NPG_SHAPE(G[m] * H), -0.4, 0.4, seed + 3, dt, NULL);
                }
            rnn_case c = {modes[m], 16, NPG_RNN_OPTS(.num_layers = 2, .bidirectional = true, .batch_first = m == 0)};
            /* the sweep takes at most 8 inputs: x, h0, c0 and the first layer's
             * forward parameters are differentiated, the rest ride along as
             * half inputs (float32 copies on the reference path) */
            npg_array *h[19], *f[19];
            for (int i = 0; i < 19; i++) {
                h[i] = in[i];
                f[i] = in[i] ? npg_astype(in[i], NPG_FLOAT32) : NULL;
            }
            for (int i = 0; i < 7; i++)
                if (h[i]) {
                    h[i] = t_leaf(npg_copy(in[i]));
                    f[i] = t_leaf(npg_astype(in[i], NPG_FLOAT32));
                }
            npg_array *y = f_rnn(h, 19, &c), *y32 = f_rnn(f, 19, &c);
            /* T steps of about ten roundings each, through saturating gates
             * (which damp the errors: about an ulp of O(1) in the end) */
            if (!close_to(y, y32, dt, 2, 3, names[m])) continue;
            npg_array *w = t_urand(npg_shape_of(y), -1, 1, 1600 + d, dt, NULL);
            n_checks++;
            cr_expect_eq(npg_backward(npg_sum(npg_multiply(y, w), NPG_ALL_AXES, false), NULL), NPG_OK,
                         "%s backward: %s", names[m], npg_last_error());
            cr_assert_eq(
                npg_backward(npg_sum(npg_multiply(y32, npg_astype(w, NPG_FLOAT32)), NPG_ALL_AXES, false), NULL),
                NPG_OK);
            for (int i = 0; i < 7; i++) {
                if (!h[i]) continue;
                char what[160];
                snprintf(what, sizeof what, "%s (%s): gradient of input %d", names[m], npg_dtype_name(dt), i);
                close_to(npg_grad(h[i]), npg_grad(f[i]), dt, 2, 4, what);
            }
        }
        /* the cells */
        npg_array *x = t_urand(NPG_SHAPE(B, IN), -1, 1, 1700 + d, dt, NULL);
        npg_array *h0 = t_urand(NPG_SHAPE(B, H), -0.5, 0.5, 1701 + d, dt, NULL);
        npg_array *c0 = t_urand(NPG_SHAPE(1, H), -0.5, 0.5, 1702 + d, dt, NULL); /* broadcasts */
        for (int m = 0; m < 3; m++) {
            npg_array *wih = t_urand(NPG_SHAPE(G[m] * H, IN), -0.4, 0.4, 1710 + d + 10 * m, dt, NULL);
            npg_array *whh = t_urand(NPG_SHAPE(G[m] * H, H), -0.4, 0.4, 1711 + d + 10 * m, dt, NULL);
            npg_array *bih = t_urand(NPG_SHAPE(G[m] * H), -0.4, 0.4, 1712 + d + 10 * m, dt, NULL);
            npg_array *bhh = t_urand(NPG_SHAPE(G[m] * H), -0.4, 0.4, 1713 + d + 10 * m, dt, NULL);
            sweep_fn fn = m == 0 ? f_lstm_cell : m == 1 ? f_gru_cell : f_rnn_cell;
            const char *cell[3] = {"lstm_cell", "gru_cell", "rnn_cell"};
            SWEEP(cell[m], fn, .n = 7, .in = {x, h0, m == 0 ? c0 : NULL, wih, whh, bih, bhh}, .grad = m == 0 ? 127 : 123,
                  .rel = 3, .abs = 2, .grel = 3, .gabs = 3);
        }
        npg_scope_end(s);
    }
    END_TEST_LOG("recurrent");
    t_assert_no_leak(live, "recurrent");
}

/* ---- losses ------------------------------------------------------------------------ */

static const npg_reduction REDS[3] = {NPG_REDUCTION_MEAN, NPG_REDUCTION_SUM, NPG_REDUCTION_NONE};
#define RED (*(const npg_reduction *)user)
FN(f_mse, npg_mse_loss(in[0], in[1], RED))
FN(f_l1, npg_l1_loss(in[0], in[1], RED))
FN(f_smooth_l1, npg_smooth_l1_loss(in[0], in[1], RED, 0.5))
FN(f_huber, npg_huber_loss(in[0], in[1], RED, 0.7))
FN(f_bce, npg_binary_cross_entropy(in[0], in[1], RED))
FN(f_bce_logits, npg_binary_cross_entropy_with_logits(in[0], in[1], RED))
FN(f_kl, npg_kl_div(npg_log_softmax(in[0], 1), in[1], RED, false))
FN(f_kl_log, npg_kl_div(npg_log_softmax(in[0], 1), npg_log_softmax(in[1], 1), RED, true))
FN(f_nll, npg_nll_loss(npg_log_softmax(in[0], 1), in[1],
                       NPG_CE_OPTS(.reduction = RED, .has_ignore_index = true, .ignore_index = 2)))
FN(f_ce, npg_cross_entropy(in[0], in[1], NPG_CE_OPTS(.reduction = RED, .label_smoothing = 0.1)))
FN(f_ce_ignore,
   npg_cross_entropy(in[0], in[1], NPG_CE_OPTS(.reduction = RED, .has_ignore_index = true, .ignore_index = 0)))
FN(f_margin_ranking, npg_margin_ranking_loss(in[0], in[1], in[2], 0.2, RED))
FN(f_hinge, npg_hinge_embedding_loss(in[0], in[1], 1.1, RED))
FN(f_soft_margin, npg_soft_margin_loss(in[0], in[1], RED))
FN(f_cos_emb, npg_cosine_embedding_loss(in[0], in[1], in[2], 0.1, RED))
FN(f_triplet, npg_triplet_margin_loss(in[0], in[1], in[2], 0.5, 2, 1e-6, true, RED))
FN(f_multilabel, npg_multilabel_soft_margin_loss(in[0], in[1], in[2], RED))
FN(f_multi_margin, npg_multi_margin_loss(in[0], in[1], 1, 0.9, in[2], RED))
FN(f_multi_margin2, npg_multi_margin_loss(in[0], in[1], 2, 1.0, NULL, RED))
FN(f_poisson, npg_poisson_nll_loss(in[0], in[1], true, true, 1e-8, RED))
FN(f_poisson_lin, npg_poisson_nll_loss(in[0], in[1], false, false, 1e-8, RED))
FN(f_gaussian, npg_gaussian_nll_loss(in[0], in[1], in[2], true, 1e-6, RED))

Test(half_sweep, losses) {
    t_live live = t_live_now();
    for (int d = 0; d < 2; d++) {
        npg_dtype dt = HALVES[d];
        for (int r = 0; r < 3; r++) {
            npg_scope s = npg_scope_begin();
            void *red = (void *)&REDS[r];
            npg_array *p = t_urand(NPG_SHAPE(7, 5), -2, 2, 1800 + d, dt, NULL);
            npg_array *t = t_urand(NPG_SHAPE(7, 5), -2, 2, 1810 + d, dt, NULL);
            npg_array *prob = t_urand(NPG_SHAPE(7, 5), 0.02, 0.98, 1820 + d, dt, NULL);
            npg_array *tgt01 = t_urand(NPG_SHAPE(7, 5), 0, 1, 1830 + d, dt, NULL);
            npg_array *tprob = npg_softmax(t, 1);
            double lv[7] = {0, 4, 2, 2, 1, 3, 0};
            npg_array *lab = t_arr(lv, NPG_INT64, NPG_SHAPE(7));
            double yv[7] = {1, -1, -1, 1, 1, -1, 1};
            npg_array *y7 = t_arr(yv, dt, NPG_SHAPE(7));
            npg_array *ypm = npg_where(npg_greater_scalar(t, 0), npg_ones(NPG_SHAPE0, OPT(.dtype = dt)),
                                       npg_full(NPG_SHAPE0, -1, OPT(.dtype = dt)));
            npg_array *v1 = t_urand(NPG_SHAPE(7), -2, 2, 1840 + d, dt, NULL),
                      *v2 = t_urand(NPG_SHAPE(7), -2, 2, 1850 + d, dt, NULL);
            npg_array *cw = t_urand(NPG_SHAPE(5), 0.5, 1.5, 1860 + d, dt, NULL);
            npg_array *var = t_urand(NPG_SHAPE(7, 5), 0.2, 2, 1870 + d, dt, NULL);
            npg_array *cnt = npg_round(t_urand(NPG_SHAPE(7, 5), 0, 5, 1880 + d, dt, NULL), 0);
            npg_array *pos = t_urand(NPG_SHAPE(7, 5), 0.1, 3, 1890 + d, dt, NULL);
            npg_array *neg = t_urand(NPG_SHAPE(7, 5), -2, 2, 1895 + d, dt, NULL);
            /* elementwise losses: a few roundings per element; a mean or sum adds one */
            double rel = 3, abs = 1, grel = 3, gabs = 1;
#define L(name, fn, nn, g, ...)                                                                                        \
    SWEEP(name, fn, .user = red, .n = nn, .in = {__VA_ARGS__}, .grad = g, .rel = rel, .abs = abs, .grel = grel,        \
          .gabs = gabs)
            L("mse_loss", f_mse, 2, 3, p, t);
            L("l1_loss", f_l1, 2, 3, p, t);
            L("smooth_l1_loss", f_smooth_l1, 2, 3, p, t);
            L("huber_loss", f_huber, 2, 3, p, t);
            L("binary_cross_entropy", f_bce, 2, 3, prob, tgt01);
            L("binary_cross_entropy_with_logits", f_bce_logits, 2, 3, p, tgt01);
            L("kl_div", f_kl, 2, 3, p, tprob);
            L("kl_div (log_target)", f_kl_log, 2, 3, p, t);
            L("nll_loss (ignore_index)", f_nll, 2, 1, p, lab);
            L("cross_entropy (label_smoothing)", f_ce, 2, 1, p, lab);
            L("cross_entropy (ignore_index)", f_ce_ignore, 2, 1, p, lab);
            L("margin_ranking_loss", f_margin_ranking, 3, 7, v1, v2, y7);
            L("hinge_embedding_loss", f_hinge, 2, 1, p, ypm);
            L("soft_margin_loss", f_soft_margin, 2, 3, p, ypm);
            /* gradients that are differences of two terms several times
             * larger than the result (the two distances; the two terms of
             * d cos / dx): ulps of those terms */
            gabs = 6;
            L("cosine_embedding_loss", f_cos_emb, 3, 3, p, t, y7);
            L("triplet_margin_loss (swap)", f_triplet, 3, 7, p, t, neg);
            gabs = 1;
            L("multilabel_soft_margin_loss", f_multilabel, 3, 1, p, tgt01, cw);
            L("multi_margin_loss (p 1, weight)", f_multi_margin, 3, 5, p, lab, cw);
            L("multi_margin_loss (p 2)", f_multi_margin2, 2, 1, p, lab);
            L("poisson_nll_loss (log_input, full)", f_poisson, 2, 1, p, cnt);
            L("poisson_nll_loss", f_poisson_lin, 2, 1, pos, cnt);
            L("gaussian_nll_loss", f_gaussian, 3, 7, p, t, var);
#undef L
            npg_scope_end(s);
        }
    }
    END_TEST_LOG("losses");
    t_assert_no_leak(live, "losses");
}

/* ---- distances --------------------------------------------------------------------- */

FN(f_cos_sim, npg_cosine_similarity(in[0], in[1], 1, 1e-8))
FN(f_cos_sim0, npg_cosine_similarity(in[0], in[1], 0, 1e-8))
FN(f_pdist2, npg_pairwise_distance(in[0], in[1], 2, 1e-6, false))
FN(f_pdist1, npg_pairwise_distance(in[0], in[1], 1, 1e-6, true))
FN(f_pdist3, npg_pairwise_distance(in[0], in[1], 3, 1e-6, false))
FN(f_pdistinf, npg_pairwise_distance(in[0], in[1], INFINITY, 1e-6, false))

Test(half_sweep, distances) {
    t_live live = t_live_now();
    for (int d = 0; d < 2; d++) {
        npg_scope s = npg_scope_begin();
        npg_dtype dt = HALVES[d];
        npg_array *a = t_urand(NPG_SHAPE(6, 9), -2, 2, 1900 + d, dt, NULL);
        npg_array *b = t_urand(NPG_SHAPE(6, 9), -2, 2, 1910 + d, dt, NULL);
        npg_array *row = t_urand(NPG_SHAPE(9), -2, 2, 1920 + d, dt, NULL);
        /* a dot product, two norms, a division: a few roundings of O(1) values */
        SWEEP("cosine_similarity", f_cos_sim, .n = 2, .in = {a, b}, .grad = 3, .rel = 3, .abs = 2, .grel = 3,
              .gabs = 2);
        SWEEP("cosine_similarity (broadcast)", f_cos_sim, .n = 2, .in = {a, row}, .grad = 3, .rel = 3, .abs = 2,
              .grel = 3, .gabs = 2);
        SWEEP("cosine_similarity (axis 0)", f_cos_sim0, .n = 2, .in = {a, b}, .grad = 3, .rel = 3, .abs = 2, .grel = 3,
              .gabs = 2);
        SWEEP("pairwise_distance 2", f_pdist2, .n = 2, .in = {a, b}, .grad = 3, .rel = 3, .grel = 3, .gabs = 1);
        SWEEP("pairwise_distance 1 (keepdim)", f_pdist1, .n = 2, .in = {a, row}, .grad = 3, .rel = 3, .grel = 3,
              .gabs = 1);
        SWEEP("pairwise_distance 3", f_pdist3, .n = 2, .in = {a, b}, .grad = 3, .rel = 3, .grel = 3, .gabs = 1);
        SWEEP("pairwise_distance inf", f_pdistinf, .n = 2, .in = {a, b}, .grad = 3, .rel = 2, .grel = 2, .gabs = 1);
        npg_scope_end(s);
    }
    END_TEST_LOG("distances");
    t_assert_no_leak(live, "distances");
}

/* ---- optimizers, clip_grad_norm ------------------------------------------------------ */

static npg_optimizer *make_opt(int o, npg_array *const *ps, int n) {
    switch (o) {
    case 0: return npg_sgd_new(ps, n, NPG_SGD_OPTS(.lr = 0.05, .momentum = 0.9, .weight_decay = 0.01));
    case 1: return npg_sgd_new(ps, n, NPG_SGD_OPTS(.lr = 0.05, .momentum = 0.8, .nesterov = true));
    case 2: return npg_adam_new(ps, n, NPG_ADAM_OPTS(.lr = 0.01));
    case 3: return npg_adamw_new(ps, n, NPG_ADAM_OPTS(.lr = 0.01, .weight_decay = 0.05));
    case 4: return npg_rmsprop_new(ps, n, NPG_RMSPROP_OPTS(.lr = 0.01));
    case 5: return npg_rmsprop_new(ps, n, NPG_RMSPROP_OPTS(.lr = 0.01, .momentum = 0.5, .centered = true));
    default: return npg_adagrad_new(ps, n, NPG_ADAGRAD_OPTS(.lr = 0.05, .lr_decay = 0.01));
    }
}
static const char *OPT_NAMES[7] = {
    "sgd (momentum, weight_decay)", "sgd (nesterov)", "adam", "adamw", "rmsprop", "rmsprop (centered, momentum)",
    "adagrad (lr_decay)",
};

Test(half_sweep, optimizers) {
    t_live live = t_live_now();
    for (int d = 0; d < 2; d++) {
        npg_dtype dt = HALVES[d];
        for (int o = 0; o < 7; o++) {
            npg_scope s = npg_scope_begin();
            /* two parameters of odd shapes; the loss sum(target * p^2 / 2) + sum(p * c) */
            npg_array *p[2] = {t_leaf(t_urand(NPG_SHAPE(33), -1, 1, 2000 + d, dt, NULL)),
                               t_leaf(t_urand(NPG_SHAPE(5, 7), -1, 1, 2010 + d, dt, NULL))};
            npg_array *q[2] = {t_leaf(npg_astype(npg_detach(p[0]), NPG_FLOAT32)),
                               t_leaf(npg_astype(npg_detach(p[1]), NPG_FLOAT32))};
            npg_array *c[2] = {t_urand(NPG_SHAPE(33), -1, 1, 2020 + d, dt, NULL),
                               t_urand(NPG_SHAPE(5, 7), -1, 1, 2030 + d, dt, NULL)};
            npg_optimizer *op[2] = {make_opt(o, p, 2), make_opt(o, q, 2)};
            cr_assert(op[0] && op[1], "%s: %s", OPT_NAMES[o], npg_last_error());
            const int steps = 4;
            for (int step = 0; step < steps; step++)
                for (int k = 0; k < 2; k++) {
                    npg_array **w = k ? q : p;
                    npg_array *l = NULL;
                    for (int j = 0; j < 2; j++) {
                        npg_array *cj = k ? npg_astype(c[j], NPG_FLOAT32) : c[j];
                        npg_array *lj =
                            npg_sum(npg_add(npg_multiply_scalar(npg_square(w[j]), 0.5), npg_multiply(w[j], cj)),
                                    NPG_ALL_AXES, false);
                        l = l ? npg_add(l, lj) : lj;
                    }
                    cr_assert_eq(npg_backward(l, NULL), NPG_OK, "%s", npg_last_error());
                    expect_ok(npg_optimizer_step(op[k]), OPT_NAMES[o]);
                    npg_optimizer_zero_grad(op[k]);
                }
            /* each step rounds the parameter (half an ulp) and computes its
             * update from rounded values: about an ulp of O(1) per step. The
             * composed RMSprop and Adagrad also round their half state
             * (g^2 / 100 of a small g is subnormal in float16): two */
            for (int j = 0; j < 2; j++) {
                char what[120];
                snprintf(what, sizeof what, "%s (%s), parameter %d after %d steps", OPT_NAMES[o], npg_dtype_name(dt), j,
                         steps);
                close_to(p[j], q[j], dt, 0, o >= 4 ? 2 * steps : steps, what);
            }
            npg_optimizer_free(op[0]);
            npg_optimizer_free(op[1]);
            npg_scope_end(s);
        }
        /* zero and small gradients (unused embedding rows, dead units): a
         * zero gradient leaves the parameter as it is (eps 1e-8 / 1e-10 must
         * not round to 0 and make 0 / 0), a small one (1e-3, whose square
         * times 1 - beta2 is below float16's range) moves it as in float32.
         * A transposed (non-contiguous) parameter takes the composed update
         * instead of the fused kernels of SGD and Adam. */
        for (int o = 0; o < 14; o++) {
            npg_scope s = npg_scope_begin();
            bool view = o >= 7;
            npg_array *base = t_urand(NPG_SHAPE(3, 3), -1, 1, 2040 + d, dt, NULL);
            npg_array *p = t_leaf(view ? npg_detach(npg_matrix_transpose(base)) : base);
            npg_array *q = t_leaf(npg_astype(npg_detach(p), NPG_FLOAT32));
            npg_optimizer *op[2] = {make_opt(o % 7, (npg_array *[]){p}, 1), make_opt(o % 7, (npg_array *[]){q}, 1)};
            double mv[9] = {1e-3, 0, 0, 1e-3, 0, 2e-3, 0, 0, -1e-3};
            npg_array *m = t_arr(mv, dt, NPG_SHAPE(3, 3));
            const int steps = 5;
            for (int step = 0; step < steps; step++)
                for (int k = 0; k < 2; k++) {
                    npg_array *w = k ? q : p;
                    npg_array *mk = k ? npg_astype(m, NPG_FLOAT32) : m;
                    cr_assert_eq(npg_backward(npg_sum(npg_multiply(w, mk), NPG_ALL_AXES, false), NULL), NPG_OK);
                    expect_ok(npg_optimizer_step(op[k]), OPT_NAMES[o % 7]);
                    npg_optimizer_zero_grad(op[k]);
                }
            char what[160];
            snprintf(what, sizeof what, "%s (%s%s): zero and small gradients, %d steps", OPT_NAMES[o % 7],
                     npg_dtype_name(dt), view ? ", a transposed parameter" : "", steps);
            /* float32 state: float16's would underflow and round eps to 0 */
            close_to(p, q, dt, 1, steps, what);
            npg_optimizer_free(op[0]);
            npg_optimizer_free(op[1]);
            npg_scope_end(s);
        }
    }
    /* clip_grad_norm: half gradients scaled in place, the norm as float32's */
    for (int d = 0; d < 2; d++) {
        npg_scope s = npg_scope_begin();
        npg_dtype dt = HALVES[d];
        npg_array *p[2] = {t_leaf(t_urand(NPG_SHAPE(17), -1, 1, 2100 + d, dt, NULL)),
                           t_leaf(t_urand(NPG_SHAPE(3, 5), -1, 1, 2110 + d, dt, NULL))};
        npg_array *q[2] = {t_leaf(npg_astype(npg_detach(p[0]), NPG_FLOAT32)),
                           t_leaf(npg_astype(npg_detach(p[1]), NPG_FLOAT32))};
        npg_array *c[2] = {t_urand(NPG_SHAPE(17), -3, 3, 2120 + d, dt, NULL),
                           t_urand(NPG_SHAPE(3, 5), -3, 3, 2130 + d, dt, NULL)};
        for (int k = 0; k < 2; k++)
            for (int j = 0; j < 2; j++) {
                npg_array *w = k ? q[j] : p[j];
                cr_assert_eq(
                    npg_backward(
                        npg_sum(npg_multiply(w, k ? npg_astype(c[j], NPG_FLOAT32) : c[j]), NPG_ALL_AXES, false), NULL),
                    NPG_OK);
            }
        double nh = npg_clip_grad_norm(p, 2, 1.5), nf = npg_clip_grad_norm(q, 2, 1.5);
        n_checks++;
        cr_expect(fabs(nh - nf) <= 2 * eps_of(dt) * nf, "clip_grad_norm (%s): norm %.9g, float32 %.9g",
                  npg_dtype_name(dt), nh, nf);
        for (int j = 0; j < 2; j++)
            close_to(npg_grad(p[j]), npg_grad(q[j]), dt, 2, 0.5, "clip_grad_norm: the gradient");
        npg_scope_end(s);
    }
    END_TEST_LOG("optimizers");
    t_assert_no_leak(live, "optimizers");
}

/* ---- random draws and initialisers ---------------------------------------------------- */

Test(half_sweep, random) {
    t_live live = t_live_now();
    for (int d = 0; d < 2; d++) {
        npg_scope s = npg_scope_begin();
        npg_dtype dt = HALVES[d];
        const int64_t n = 4001;
        /* the same seed: the float32 draws, rounded (uniform draws that
         * round up to the upper bound may be redrawn: at most 1 ulp) */
        npg_generator *g[2];
#define PAIR(call32, callh, what, rel)                                                                                 \
    do {                                                                                                               \
        g[0] = npg_generator_new(99), g[1] = npg_generator_new(99);                                                    \
        npg_array *a_ = (callh), *b_ = (call32);                                                                       \
        close_to(a_, b_, dt, rel, 0, what);                                                                            \
        npg_generator_free(g[0]), npg_generator_free(g[1]);                                                            \
    } while (0)
        PAIR(npg_rand(NPG_SHAPE(n), OPT(.generator = g[1])),
             npg_rand(NPG_SHAPE(n), OPT(.dtype = dt, .generator = g[0])), "rand", 1);
        PAIR(npg_uniform(-3, 5, NPG_SHAPE(7, 9), OPT(.generator = g[1])),
             npg_uniform(-3, 5, NPG_SHAPE(7, 9), OPT(.dtype = dt, .generator = g[0])), "uniform", 1);
        PAIR(npg_randn(NPG_SHAPE(n), OPT(.generator = g[1])),
             npg_randn(NPG_SHAPE(n), OPT(.dtype = dt, .generator = g[0])), "randn", 0.5);
        /* bernoulli with half probabilities: p's dtype, the float32 draws */
        npg_array *p = t_urand(NPG_SHAPE(11, 13), -0.1, 1.1, 2200 + d, dt, NULL);
        PAIR(npg_bernoulli(npg_astype(p, NPG_FLOAT32), g[1]), npg_bernoulli(p, g[0]), "bernoulli", 0);
        npg_array *pm = npg_full(NPG_SHAPE(n), 0.3, OPT(.dtype = dt));
        double frac = npg_item(npg_mean(npg_astype(npg_bernoulli(pm, NULL), NPG_FLOAT64), NPG_ALL_AXES, false));
        n_checks++;
        cr_expect(fabs(frac - 0.3) < 0.03, "bernoulli(0.3) mean %g", frac);
        /* multinomial: int64 indices, as with float32 weights */
        npg_array *wts = t_urand(NPG_SHAPE(4, 7), 0, 2, 2210 + d, dt, NULL);
        npg_setitem_scalar(wts, (npg_idx[]){NPG_I(1), NPG_I(3)}, 2, 0);
        for (int rep = 0; rep < 2; rep++) {
            g[0] = npg_generator_new(5), g[1] = npg_generator_new(5);
            npg_array *a = npg_multinomial(wts, 5, rep, g[0]);
            npg_array *b = npg_multinomial(npg_astype(wts, NPG_FLOAT32), 5, rep, g[1]);
            close_to(a, b, NPG_INT64, 0, 0, rep ? "multinomial (replacement)" : "multinomial");
            npg_generator_free(g[0]), npg_generator_free(g[1]);
        }
        /* multinomial of a single row: its distribution */
        double wv[4] = {0.1, 0, 0.6, 0.3};
        npg_array *draws = npg_multinomial(t_arr(wv, dt, NPG_SHAPE(4)), 20000, true, NULL);
        npg_array *counts = npg_bincount(draws, NULL, 4);
        double *cv = t_read(counts);
        n_checks++;
        for (int i = 0; i < 4; i++)
            cr_expect(fabs(cv[i] / 20000 - wv[i]) < 0.015, "multinomial frequency of %d: %g, want %g", i, cv[i] / 20000,
                      wv[i]);
        free(cv);
        /* initialisers on half weights: the float32 draws, rounded */
        for (int k = 0; k < 4; k++) {
            npg_array *w = npg_zeros(NPG_SHAPE(6, 5, 3), OPT(.dtype = dt)), *w32 = npg_zeros(NPG_SHAPE(6, 5, 3), OPT());
            g[0] = npg_generator_new(17), g[1] = npg_generator_new(17);
            npg_status (*init)(npg_array *, const npg_init_opts *) = k == 0   ? npg_init_kaiming_uniform
                                                                     : k == 1 ? npg_init_kaiming_normal
                                                                     : k == 2 ? npg_init_xavier_uniform
                                                                              : npg_init_xavier_normal;
            expect_ok(init(w, NPG_INIT_OPTS(.generator = g[0])), "init");
            init(w32, NPG_INIT_OPTS(.generator = g[1]));
            close_to(w, w32, dt, 1, 0, "init (kaiming/xavier uniform/normal)");
            npg_generator_free(g[0]), npg_generator_free(g[1]);
        }
        npg_scope_end(s);
#undef PAIR
    }
    END_TEST_LOG("random");
    t_assert_no_leak(live, "random");
}

/* ---- float16's range: intermediates that overflow or underflow ---------------------

 * float16 holds magnitudes up to 65504 (normal ones from 6.1e-5). A function
 * whose result fits must not lose it to an intermediate out of that range:
 * PyTorch's reductions, norms and normalisations accumulate half inputs in
 * float32 (its var, vector_norm, layer_norm, rms_norm, group_norm,
 * batch_norm; cosine_similarity and pairwise_distance take vector norms),
 * so x^2 of |x| > 256 is no overflow there. (bfloat16 has float32's range:
 * nothing to see.) cov and corrcoef are left out: their sum of products of
 * deviations, (n - 1) cov, is one GEMM whose result overflows in PyTorch
 * too; so is mse_loss's squared error when it exceeds 65504 (the case here
 * keeps it below). The float32 run is the reference, with a composed op's
 * tolerance. */

typedef struct range_case {
    const char *name;
    sweep_fn fn;
    int which;  /* 0: |x| up to 300; 1: |x| in [1e-4, 1e-3]; 2: x in [30000, 60000] */
    bool grad;  /* softmax's gradient is not: with one-hot-like outputs it is a
                   difference of O(1) values, ulps of 1 rather than of its
                   tiny result (PyTorch's backward uses the rounded output too) */
} range_case;
FN(f_var1, npg_var(in[0], NPG_AXES(1), 1, false))
FN(f_std1, npg_std(in[0], NPG_AXES(1), 0, false))
FN(f_mean1, npg_mean(in[0], NPG_AXES(1), false))
FN(f_vn2, npg_linalg_vector_norm(in[0], 2, NPG_AXES(1), false))
FN(f_fro, npg_linalg_matrix_norm(in[0], "fro", false))
FN(f_ln, npg_layer_norm(in[0], 1, NULL, NULL, 1e-5))
FN(f_rms, npg_rms_norm(in[0], 1, NULL, 1e-6))
FN(f_gn, npg_group_norm(npg_reshape(in[0], NPG_SHAPE(2, 4, 37)), 2, NULL, NULL, 1e-5))
FN(f_bn, npg_batch_norm(npg_reshape(in[0], NPG_SHAPE(2, 4, 37)), NULL, NULL, NULL, NULL, true, 0.1, 1e-5))
FN(f_cos, npg_cosine_similarity(in[0], npg_flip(in[0], NPG_AXES(0)), 1, 1e-8))
FN(f_pd, npg_pairwise_distance(in[0], npg_flip(in[0], NPG_AXES(0)), 2, 1e-6, false))
/* differences below 256: each squared error fits, their mean too */
FN(f_mse_mean, npg_mse_loss(npg_multiply_scalar(in[0], 0.375), npg_multiply_scalar(npg_flip(in[0], NPG_AXES(1)), 0.375),
                            NPG_REDUCTION_MEAN))
FN(f_lse, npg_logsumexp(in[0], NPG_AXES(1), false))
FN(f_softmax1, npg_softmax(in[0], 1))

Test(half_sweep, float16_range_of_intermediates) {
    t_live live = t_live_now();
    npg_scope s = npg_scope_begin();
    npg_dtype dt = NPG_FLOAT16;
    npg_array *big = t_urand(NPG_SHAPE(8, 37), -300, 300, 2400, dt, NULL);
    npg_array *huge = t_urand(NPG_SHAPE(8, 37), 30000, 60000, 2410, dt, NULL);
    /* small magnitudes with random signs */
    npg_array *small = npg_multiply(t_urand(NPG_SHAPE(8, 37), 1e-4, 1e-3, 2420, dt, NULL),
                                    npg_sign(t_urand(NPG_SHAPE(8, 37), -1, 1, 2430, dt, NULL)));
    static const range_case cases[] = {
        {"var", f_var1, 0, true},
        {"std", f_std1, 0, true},
        {"mean", f_mean1, 2, true},
        {"vector_norm 2", f_vn2, 0, true},
        {"matrix_norm fro", f_fro, 0, true},
        {"layer_norm", f_ln, 0, true},
        {"rms_norm", f_rms, 0, true},
        {"group_norm", f_gn, 0, true},
        {"batch_norm", f_bn, 0, true},
        {"cosine_similarity", f_cos, 0, true},
        {"pairwise_distance", f_pd, 0, true},
        {"mse_loss (mean)", f_mse_mean, 0, true},
        {"logsumexp", f_lse, 0, true},
        {"softmax", f_softmax1, 0, false},
        {"vector_norm 2 (small)", f_vn2, 1, true},
        {"std (small)", f_std1, 1, true},
        {"rms_norm (small)", f_rms, 1, true},
        {"cosine_similarity (small)", f_cos, 1, true},
        {"pairwise_distance (small)", f_pd, 1, true},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        npg_array *x = cases[k].which == 0 ? big : cases[k].which == 1 ? small : huge;
        SWEEP(cases[k].name, cases[k].fn, .n = 1, .in = {x}, .grad = cases[k].grad, .rel = 4, .abs = 2, .grel = 4,
              .gabs = 2);
    }
    npg_scope_end(s);
    END_TEST_LOG("range");
    t_assert_no_leak(live, "float16 range");
}

/* ---- loss scaling ------------------------------------------------------------------ */

/* sum(p^2 c) / 100, the scaler test's loss */
static npg_array *scaler_loss(npg_array *p, npg_array *c) {
    return npg_multiply_scalar(npg_sum(npg_multiply(npg_square(p), c), NPG_ALL_AXES, false), 0.01);
}

Test(half_sweep, grad_scaler) {
    t_live live = t_live_now();
    for (int d = 0; d < 2; d++) {
        npg_scope s = npg_scope_begin();
        npg_dtype dt = HALVES[d];
        /* a scale that fits: the scaled gradients are unscaled before the
         * step, which then matches plain float32 training */
        npg_array *p = t_leaf(t_urand(NPG_SHAPE(5, 7), -1, 1, 2500 + d, dt, NULL));
        npg_array *q = t_leaf(npg_astype(npg_detach(p), NPG_FLOAT32));
        npg_array *c = t_urand(NPG_SHAPE(5, 7), -1, 1, 2510 + d, dt, NULL);
        npg_optimizer *op[2] = {npg_sgd_new((npg_array *[]){p}, 1, NPG_SGD_OPTS(.lr = 0.1)),
                                npg_sgd_new((npg_array *[]){q}, 1, NPG_SGD_OPTS(.lr = 0.1))};
        npg_grad_scaler *sc = npg_grad_scaler_new(NPG_GRAD_SCALER_OPTS(.init_scale = 1024));
        cr_assert(sc, "%s", npg_last_error());
        for (int step = 0; step < 3; step++) {
            npg_array *l = scaler_loss(p, c);
            cr_assert_eq(npg_backward(npg_grad_scaler_scale(sc, l), NULL), NPG_OK, "%s", npg_last_error());
            bool stepped = false;
            expect_ok(npg_grad_scaler_step(sc, op[0], &stepped), "grad_scaler_step");
            n_checks++;
            cr_expect(stepped, "grad_scaler (%s, scale 1024): step %d skipped", npg_dtype_name(dt), step);
            expect_ok(npg_grad_scaler_update(sc), "grad_scaler_update");
            npg_optimizer_zero_grad(op[0]);
            npg_array *l32 = scaler_loss(q, npg_astype(c, NPG_FLOAT32));
            cr_assert_eq(npg_backward(l32, NULL), NPG_OK);
            npg_optimizer_step(op[1]);
            npg_optimizer_zero_grad(op[1]);
        }
        close_to(p, q, dt, 0, 3, "grad_scaler: parameters after 3 steps");
        /* the default scale (65536, float16's inf): steps are skipped and
         * the scale backs off until the scaled gradients are finite; then
         * it steps */
        npg_grad_scaler *sd = npg_grad_scaler_new(NULL);
        bool any = false;
        for (int step = 0; step < 4 && !any; step++) {
            npg_array *l = scaler_loss(p, c);
            cr_assert_eq(npg_backward(npg_grad_scaler_scale(sd, l), NULL), NPG_OK, "%s", npg_last_error());
            expect_ok(npg_grad_scaler_step(sd, op[0], &any), "grad_scaler_step");
            expect_ok(npg_grad_scaler_update(sd), "grad_scaler_update");
            npg_optimizer_zero_grad(op[0]);
        }
        n_checks++;
        cr_expect(any, "grad_scaler (%s, default scale): no step in 4 iterations (scale now %g)", npg_dtype_name(dt),
                  npg_grad_scaler_get_scale(sd));
        npg_grad_scaler_free(sc);
        npg_grad_scaler_free(sd);
        npg_optimizer_free(op[0]);
        npg_optimizer_free(op[1]);
        npg_scope_end(s);
    }
    END_TEST_LOG("grad_scaler");
    t_assert_no_leak(live, "grad scaler");
}

/* ---- devices and files ------------------------------------------------------------ */

Test(half_sweep, devices_and_files) {
    t_live live = t_live_now();
    for (int d = 0; d < 2; d++) {
        npg_scope s = npg_scope_begin();
        npg_dtype dt = HALVES[d];
        npg_array *x = t_leaf(t_urand(NPG_SHAPE(3, 5), -2, 2, 2300 + d, dt, NULL));
        npg_device other = t_dev().type == NPG_DEVICE_CUDA ? NPG_CPU : (npg_cuda_available() ? NPG_CUDA(0) : NPG_CPU);
        npg_array *y = npg_to(x, other);
        close_to(y, x, dt, 0, 0, "npg_to");
        npg_array *back = npg_to(npg_multiply_scalar(y, 3), t_dev());
        close_to(back, npg_multiply_scalar(npg_astype(npg_detach(x), NPG_FLOAT32), 3), dt, 1, 0, "3 x, moved back");
        cr_assert_eq(npg_backward(npg_sum(back, NPG_ALL_AXES, false), NULL), NPG_OK, "%s", npg_last_error());
        npg_array *three = npg_full(NPG_SHAPE(3, 5), 3, OPT(.dtype = NPG_FLOAT32));
        close_to(npg_grad(x), three, dt, 0, 0, "the gradient through npg_to");
        /* .npz holds float16 (NumPy has no bfloat16: an error naming it) */
        char path[] = "/tmp/npg_half_sweep_XXXXXX";
        int fd = mkstemp(path);
        cr_assert_geq(fd, 0);
        close(fd);
        npg_array *ints = npg_arange(0, 5, 1, OPT(.dtype = NPG_INT64));
        npg_named items[2] = {{"x", npg_detach(x)}, {"i", ints}};
        npg_status st = npg_save_npz(path, items, 2, d == 0);
        n_checks++;
        if (dt == NPG_FLOAT16) {
            cr_expect_eq(st, NPG_OK, "save_npz float16: %s", npg_last_error());
            npg_npz *z = npg_load_npz(path, OPT());
            cr_expect(z, "load_npz: %s", npg_last_error());
            if (z) {
                close_to(npg_npz_get(z, "x"), x, dt, 0, 0, "npz round trip");
                npg_npz_free(z);
            }
        } else {
            cr_expect_eq(st, NPG_ERR_DTYPE, "save_npz bfloat16: status %d", st);
        }
        npg_clear_error();
        /* parameter lists: float16 parameters saved and loaded in place */
        if (dt == NPG_FLOAT16) {
            npg_params *ps = npg_params_new();
            npg_params_add(ps, "w", npg_detach(x));
            expect_ok(npg_params_save(ps, path), "params_save");
            npg_array *z = npg_zeros(NPG_SHAPE(3, 5), OPT(.dtype = dt));
            npg_params *pl = npg_params_new();
            npg_params_add(pl, "w", z);
            expect_ok(npg_params_load(pl, path), "params_load");
            close_to(z, x, dt, 0, 0, "params round trip");
            npg_params_free(ps);
            npg_params_free(pl);
        }
        unlink(path);
        npg_scope_end(s);
    }
    END_TEST_LOG("devices");
    t_assert_no_leak(live, "devices and files");
}
