/*
 * test_reduce.c — reductions (sum, mean, prod, max, min, all, any, argmax,
 * argmin, var, std, logsumexp) and scans (cumsum, cumprod), table-driven
 * from ops.def: every op x dtype x input (odd, 0-d, empty, transposed /
 * step-2 / reversed views) x axes (subsets, negative, NPG_ALL_AXES,
 * NPG_FLAT) x keepdims, against float64 host references; result dtypes and
 * shapes; gradients through npg_gradcheck (ties, zeros in products); the
 * error paths. A new REDUCE or SCAN op (or COMPOSITE reduction) does not
 * compile here until it has a row.
 */
#include "test_util.h"
#include "ops_shared.h"

#include <criterion/logging.h>
#include <stdio.h>

#define NDTS 13
static const npg_dtype DTS[NDTS] = {NPG_BOOL,     NPG_UINT8, NPG_INT32, NPG_INT64,  NPG_FLOAT32, NPG_FLOAT64, NPG_FLOAT16,
                                    NPG_BFLOAT16, NPG_INT8,  NPG_INT16, NPG_UINT16, NPG_UINT32,  NPG_UINT64};
static bool ishalf(npg_dtype d) { return d == NPG_FLOAT16 || d == NPG_BFLOAT16; }
static bool isf(npg_dtype d) { return d == NPG_FLOAT32 || d == NPG_FLOAT64 || ishalf(d); }

/* ------------------------------------------------------------------------
 * Inputs: values from a domain, built as views, row-major host copies
 * ------------------------------------------------------------------------ */

typedef struct tdom {
    double lo, hi, ilo, ihi, pzero; /* pzero: probability of an exact 0 */
    bool coarse;                    /* floats on a 0.5 grid (ties) */
} tdom;
typedef struct trng {
    uint64_t s;
} trng;
static double urand(trng *r) {
    r->s = r->s * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(r->s >> 11) * (1.0 / 9007199254740992.0);
}
static double gen_val(const tdom *D, npg_dtype dt, trng *r) {
    if (urand(r) < D->pzero) return 0;
    double u = urand(r);
    if (dt == NPG_BOOL) return D->pzero > 0 ? 1 : u < 0.5;
    if (!isf(dt)) {
        double lo = t_is_unsigned(dt) && D->ilo < 0 ? 0 : D->ilo, v = floor(lo + (D->ihi - lo + 1) * u);
        return v > D->ihi ? D->ihi : v;
    }
    double v = D->lo + (D->hi - D->lo) * u;
    if (D->coarse) v = round(v * 2) / 2;
    return qfloat(v, dt);
}


/* Logical shape s as view vk of a base array; hv gets the view's values. */
static npg_array *mk(npg_shape s, vkind vk, npg_dtype dt, const tdom *D, uint64_t seed, double *hv) {
    if (s.ndim == 0) vk = V_C;
    npg_shape bs = base_shape(s, vk);
    int64_t nb = numel(bs), n = numel(s);
    double *bv = malloc(sizeof(double) * (size_t)(nb + 1));
    trng r = {seed * 0x9E3779B97F4A7C15ull + 3};
    for (int64_t k = 0; k < nb; k++) bv[k] = gen_val(D, dt, &r);
    npg_array *base = t_arr(bv, dt, bs), *x = view_of(base, vk);
    cr_assert(x, "building a %s view: %s", VNAME[vk], npg_last_error());
    cr_assert(vk == V_C || n <= 1 || !npg_is_contiguous(x), "the %s view is contiguous", VNAME[vk]);
    for (int64_t k = 0; k < n; k++) hv[k] = bv[view_offset(k, s, vk, bs)];
    free(bv);
    return x;
}

static long g_checks;

/* ------------------------------------------------------------------------
 * References: a group of values (row-major over the reduced axes) -> out
 * ------------------------------------------------------------------------ */

typedef void (*rref_fn)(const double *v, int64_t n, double *out, double param);
#define RREF(name) static void ref_##name(const double *v, int64_t n, double *out, double param)
static double dsum(const double *v, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += v[i];
    return s;
}
static double dvar(const double *v, int64_t n, double corr) {
    double m = dsum(v, n) / (double)n, ss = 0;
    for (int64_t i = 0; i < n; i++) ss += (v[i] - m) * (v[i] - m);
    return (double)n - corr > 0 ? ss / ((double)n - corr) : ss / 0.0;
}
RREF(sum) { out[0] = dsum(v, n); }
RREF(mean) { out[0] = n ? dsum(v, n) / (double)n : NAN; }
RREF(prod) {
    out[0] = 1;
    for (int64_t i = 0; i < n; i++) out[0] *= v[i];
}
RREF(max) {
    out[0] = -INFINITY;
    for (int64_t i = 0; i < n; i++) out[0] = (isnan(v[i]) || v[i] > out[0]) && !isnan(out[0]) ? v[i] : out[0];
}
RREF(min) {
    out[0] = INFINITY;
    for (int64_t i = 0; i < n; i++) out[0] = (isnan(v[i]) || v[i] < out[0]) && !isnan(out[0]) ? v[i] : out[0];
}
RREF(all) {
    out[0] = 1;
    for (int64_t i = 0; i < n; i++) out[0] = out[0] && v[i] != 0;
}
RREF(any) {
    out[0] = 0;
    for (int64_t i = 0; i < n; i++) out[0] = out[0] || v[i] != 0;
}
RREF(argmax) {
    out[0] = 0;
    for (int64_t i = 1; i < n; i++)
        if (v[i] > v[(int64_t)out[0]]) out[0] = (double)i;
}
RREF(argmin) {
    out[0] = 0;
    for (int64_t i = 1; i < n; i++)
        if (v[i] < v[(int64_t)out[0]]) out[0] = (double)i;
}
RREF(var) { out[0] = dvar(v, n, param); }
RREF(std) { out[0] = sqrt(dvar(v, n, param)); }
RREF(logsumexp) {
    double m = -INFINITY, s = 0;
    for (int64_t i = 0; i < n; i++) m = v[i] > m ? v[i] : m;
    if (!isfinite(m)) {
        out[0] = n ? m : -INFINITY;
        return;
    }
    for (int64_t i = 0; i < n; i++) s += exp(v[i] - m);
    out[0] = m + log(s);
}
RREF(cumsum) {
    for (int64_t i = 0; i < n; i++) out[i] = (i ? out[i - 1] : 0) + v[i];
}
RREF(cumprod) {
    for (int64_t i = 0; i < n; i++) out[i] = (i ? out[i - 1] : 1) * v[i];
}

/* ------------------------------------------------------------------------
 * The table (from ops.def)
 * ------------------------------------------------------------------------ */

enum { K_RED, K_ARG, K_SCAN };
enum { O_SAME, O_INT64, O_FLOATING, O_BOOL }; /* result dtype rule */
typedef struct rspec {
    npg_axes axes; /* K_RED */
    int axis;      /* K_ARG, K_SCAN */
    bool keepdims;
    double param; /* var/std correction */
} rspec;
typedef npg_array *(*rcall_fn)(npg_array *x, const rspec *sp);
typedef struct rinfo {
    int kind, out;
    bool no_bool, diff, empty_err; /* empty_err: a zero-size reduction is an NPG_ERR_SHAPE error */
    tdom dom;
    double params[2];
    int nparams;
} rinfo;

#define CALL_RED(name) \
    static npg_array *call_##name(npg_array *x, const rspec *sp) { return npg_##name(x, sp->axes, sp->keepdims); }
#define CALL_ARG(name) \
    static npg_array *call_##name(npg_array *x, const rspec *sp) { return npg_##name(x, sp->axis, sp->keepdims); }
#define CALL_SCAN(name) \
    static npg_array *call_##name(npg_array *x, const rspec *sp) { return npg_##name(x, sp->axis); }
#define CALL_CORR(name) \
    static npg_array *call_##name(npg_array *x, const rspec *sp) { return npg_##name(x, sp->axes, sp->param, sp->keepdims); }
CALL_RED(sum) CALL_RED(mean) CALL_RED(prod) CALL_RED(max) CALL_RED(min) CALL_RED(all) CALL_RED(any) CALL_RED(logsumexp)
CALL_ARG(argmax) CALL_ARG(argmin) CALL_SCAN(cumsum) CALL_SCAN(cumprod) CALL_CORR(var) CALL_CORR(std)

#define GEN {-2, 2, -3, 3, 0, false}
#define TIES {-2, 2, -3, 3, 0, true}
#define PRODD {0.5, 1.5, -1, 1, 0, false}
#define ZEROS {-2, 2, -3, 3, 0.1, false}
static const rinfo info_sum = {K_RED, O_INT64, false, true, false, GEN, {0}, 1};
static const rinfo info_mean = {K_RED, O_FLOATING, false, true, false, GEN, {0}, 1};
static const rinfo info_prod = {K_RED, O_INT64, false, true, false, PRODD, {0}, 1};
static const rinfo info_max = {K_RED, O_SAME, false, true, true, TIES, {0}, 1};
static const rinfo info_min = {K_RED, O_SAME, false, true, true, TIES, {0}, 1};
static const rinfo info_all = {K_RED, O_BOOL, false, false, false, ZEROS, {0}, 1};
static const rinfo info_any = {K_RED, O_BOOL, false, false, false, ZEROS, {0}, 1};
static const rinfo info_argmax = {K_ARG, O_INT64, false, false, true, TIES, {0}, 1};
static const rinfo info_argmin = {K_ARG, O_INT64, false, false, true, TIES, {0}, 1};
static const rinfo info_var = {K_RED, O_FLOATING, true, true, false, GEN, {0, 1}, 2};
static const rinfo info_std = {K_RED, O_FLOATING, true, true, false, GEN, {0, 1}, 2};
static const rinfo info_logsumexp = {K_RED, O_FLOATING, false, true, false, GEN, {0}, 1};
static const rinfo info_cumsum = {K_SCAN, O_INT64, false, true, false, GEN, {0}, 1};
static const rinfo info_cumprod = {K_SCAN, O_INT64, false, true, false, PRODD, {0}, 1};

typedef struct rop {
    const char *name;
    const rinfo *info;
    rref_fn ref;
    rcall_fn call;
} rop;
#define ROW(ID, name) [NPG_OP_##ID] = {#name, &info_##name, ref_##name, call_##name},
#define SKIP(ID, name)
#define F_REDUCE ROW
#define F_SCAN ROW
#define F_COMPOSITE(ID, name) COMPOSITE_##name(ID, name) /* each composite op says whether it reduces */
#define COMPOSITE_var ROW
#define COMPOSITE_std ROW
#define COMPOSITE_logsumexp ROW
#define COMPOSITE_concat SKIP   /* test_shape.c */
#define COMPOSITE_stack SKIP    /* test_shape.c */
#define COMPOSITE_repeat SKIP   /* test_shape.c */
#define COMPOSITE_strided_scatter SKIP
#define F_UNARY SKIP
#define F_UNARY_P SKIP
#define F_BINARY SKIP
#define F_WHERE SKIP
#define F_COPY SKIP
#define F_VIEW SKIP
#define F_INDEX SKIP
#define F_SORT SKIP
#define F_MATMUL SKIP
#define F_RANDOM SKIP
#define F_NN SKIP
#define COMPOSITE_linear SKIP /* the composite nn ops: tests/nn */
#define COMPOSITE_conv2d SKIP
#define COMPOSITE_avg_pool2d SKIP
#define COMPOSITE_layer_norm SKIP
#define COMPOSITE_embedding SKIP
#define COMPOSITE_dropout SKIP
#define COMPOSITE_nll_loss SKIP
#define COMPOSITE_mse_loss SKIP
#define COMPOSITE_binary_cross_entropy_with_logits SKIP
#define COMPOSITE_custom SKIP /* npg_custom: tests/common/test_autograd.c */
static const rop ROPS[NPG_OP_COUNT] = {
#define NPG_OP(ID, name, family, arity, diff, rule) F_##family(ID, name)
#include "ops.def"
#undef NPG_OP
};

static npg_dtype out_dtype(const rinfo *I, npg_dtype in) {
    if (I->kind == K_ARG) return NPG_INT64;
    switch (I->out) {
    case O_INT64: return isf(in) ? in : in == NPG_UINT64 ? NPG_UINT64 : NPG_INT64; /* npg.h: uint64 keeps uint64 */
    case O_FLOATING: return isf(in) ? in : NPG_FLOAT32;
    case O_BOOL: return NPG_BOOL;
    default: return in;
    }
}

/* ------------------------------------------------------------------------
 * Host reduction / scan over a set of axes
 * ------------------------------------------------------------------------ */

/* Reduced-axes mask and the result shape of spec sp on shape s (K_SCAN:
 * the scanned axis; NPG_FLAT scans the flattened array). */
static uint32_t spec_mask(int kind, const rspec *sp, npg_shape s, npg_shape *out) {
    uint32_t mask = 0;
    if (kind == K_RED && sp->axes.n == 0) mask = (1u << s.ndim) - 1;
    for (int k = 0; kind == K_RED && k < sp->axes.n; k++) mask |= 1u << (sp->axes.axes[k] < 0 ? sp->axes.axes[k] + s.ndim : sp->axes.axes[k]);
    if (kind != K_RED) mask = sp->axis == NPG_FLAT ? (1u << s.ndim) - 1 : 1u << (sp->axis < 0 ? sp->axis + s.ndim : sp->axis);
    if (kind == K_SCAN) {
        *out = s;
        if (sp->axis == NPG_FLAT) *out = (npg_shape){.ndim = 1, .dims = {numel(s)}};
        return mask;
    }
    out->ndim = 0;
    for (int i = 0; i < s.ndim; i++)
        if (!(mask & (1u << i)))
            out->dims[out->ndim++] = s.dims[i];
        else if (sp->keepdims)
            out->dims[out->ndim++] = 1;
    return mask;
}

/* want[] for every result element (scans: every input element). */
static void host_reduce(const rop *op, const rspec *sp, npg_shape s, const double *hv, uint32_t mask, double *want) {
    int64_t n = numel(s), ng = 1, gs = 1;
    for (int i = 0; i < s.ndim; i++) (mask & (1u << i)) ? (gs *= s.dims[i]) : (ng *= s.dims[i]);
    double *grp = malloc(sizeof(double) * (size_t)(n + 1)), *res = malloc(sizeof(double) * (size_t)(n + 1));
    int64_t *fill = calloc((size_t)(ng + 1), sizeof(int64_t)), *gid = malloc(sizeof(int64_t) * (size_t)(n + 1));
    for (int64_t k = 0; k < n; k++) { /* group id = row-major index over the kept axes */
        int64_t rem = k, g = 0, mul = 1;
        for (int i = s.ndim - 1; i >= 0; i--) {
            int64_t ii = rem % s.dims[i];
            rem /= s.dims[i];
            if (!(mask & (1u << i))) g += ii * mul, mul *= s.dims[i];
        }
        gid[k] = g;
        grp[g * gs + fill[g]++] = hv[k];
    }
    for (int64_t g = 0; g < ng; g++) {
        op->ref(grp + g * gs, gs, res + g * gs, sp->param);
        if (op->info->kind != K_SCAN) want[g] = res[g * gs];
    }
    if (op->info->kind == K_SCAN) {
        memset(fill, 0, sizeof(int64_t) * (size_t)(ng + 1));
        for (int64_t k = 0; k < n; k++) want[k] = res[gid[k] * gs + fill[gid[k]]++];
    }
    free(grp), free(res), free(fill), free(gid);
}

/* ------------------------------------------------------------------------
 * The value sweep
 * ------------------------------------------------------------------------ */

typedef struct icase {
    npg_shape s;
    vkind v;
    int specs; /* which spec list: 0 = the 3-d list, 1 = 1-d, 2 = all axes only, 3 = empty 3-d */
} icase;
static const icase ICASES[] = {
    {SH(5, 7, 3), V_C, 0}, {SH(5, 7, 3), V_T, 0}, {SH(5, 7, 3), V_S2, 0}, {SH(5, 7, 3), V_NEG, 0}, {SH(13), V_C, 1},
    {SH(13), V_NEG, 1},    {SH0, V_C, 2},         {SH(0), V_C, 1},        {SH(3, 0, 2), V_C, 3},
};
#define NIC ((int)(sizeof ICASES / sizeof ICASES[0]))
static const npg_axes AXES3[] = {{0}, {1, {0}}, {1, {1}}, {1, {2}}, {1, {-1}}, {2, {0, 2}}, {2, {-3, -1}}, {2, {1, 2}}, {3, {2, 0, 1}}};
static const npg_axes AXES1[] = {{0}, {1, {0}}, {1, {-1}}};
static const npg_axes AXESE[] = {{0}, {1, {0}}, {1, {1}}, {2, {0, 2}}};
static const int IAX3[] = {0, 1, 2, -1, -3, NPG_FLAT}, IAX1[] = {0, -1, NPG_FLAT}, IAXE[] = {0, 1, 2, NPG_FLAT};

static void check_one(int oi, npg_dtype dt, int ci, const rspec *sp) {
    const rop *op = &ROPS[oi];
    const rinfo *I = op->info;
    const icase *c = &ICASES[ci];
    npg_dtype odt = out_dtype(I, dt);
    npg_shape so;
    uint32_t mask = spec_mask(I->kind, sp, c->s, &so);
    int64_t n = numel(c->s), nred = 1;
    for (int i = 0; i < c->s.ndim; i++)
        if (mask & (1u << i)) nred *= c->s.dims[i];
    char label[512], b1[96], ax[64] = "";
    if (I->kind == K_RED) {
        int k = sprintf(ax, sp->axes.n ? "axes (" : "NPG_ALL_AXES");
        for (int i = 0; i < sp->axes.n; i++) k += sprintf(ax + k, i ? ",%d" : "%d", sp->axes.axes[i]);
        if (sp->axes.n) sprintf(ax + k, ")");
    } else {
        sp->axis == NPG_FLAT ? sprintf(ax, "NPG_FLAT") : sprintf(ax, "axis %d", sp->axis);
    }
    snprintf(label, sizeof label, "npg_%s(%s %s %s, %s, keepdims %d, param %g)", op->name, npg_dtype_name(dt), sstr(c->s, b1),
             VNAME[c->v], ax, sp->keepdims, sp->param);
    npg_scope sc = npg_scope_begin();
    double *hx = malloc(sizeof(double) * (size_t)(n + 1)), *want = malloc(sizeof(double) * (size_t)(n + numel(so) + 1));
    npg_array *x = mk(c->s, c->v, dt, &I->dom, (uint64_t)(oi * 1000 + dt * 50 + ci), hx);
    t_live before = t_live_now();
    npg_array *y = op->call(x, sp);
    g_checks++;
    if (I->empty_err && nred == 0) {
        cr_expect(y == NULL, "%s: a zero-size reduction must fail", label);
        cr_expect_eq(npg_last_status(), NPG_ERR_SHAPE, "%s: status %s", label, npg_status_string(npg_last_status()));
        cr_expect(strstr(npg_last_error(), op->name) != NULL, "%s: message '%s'", label, npg_last_error());
        t_live now = t_live_now();
        cr_expect(now.arrays == before.arrays, "%s: failed call leaked", label);
    } else {
        cr_expect(y != NULL, "%s: NULL: %s", label, npg_last_error());
        if (y) {
            char b2[96];
            cr_expect_eq(npg_dtype_of(y), odt, "%s: dtype %s, want %s", label, npg_dtype_name(npg_dtype_of(y)), npg_dtype_name(odt));
            bool ok = same_shape(npg_shape_of(y), so);
            cr_expect(ok, "%s: shape %s, want %s", label, sstr(npg_shape_of(y), b1), sstr(so, b2));
            if (ok) {
                double *hq = malloc(sizeof(double) * (size_t)(n + 1)); /* values as the op computes them */
                for (int64_t k = 0; k < n; k++) hq[k] = odt == NPG_FLOAT32 ? (double)(float)hx[k] : hx[k];
                host_reduce(op, sp, c->s, hq, mask, want);
                /* float32 results rounded to float32; the half types' are
                 * float32's rounded once (composed ones, logsumexp, after
                 * each step: a few units) */
                for (int64_t k = 0; k < numel(so) && (odt == NPG_FLOAT32 || ishalf(odt)); k++)
                    want[k] = qfloat((double)(float)want[k], odt);
                const double heps = odt == NPG_FLOAT16 ? 0x1p-11 : 0x1p-8;
                double rtol = odt == NPG_FLOAT32 ? 1e-4 : odt == NPG_FLOAT64 ? 1e-12 : ishalf(odt) ? 4 * heps : 0;
                double atol = odt == NPG_FLOAT32 || ishalf(odt) ? 1e-4 : odt == NPG_FLOAT64 ? 1e-12 : 0;
                expect_vals(y, want, numel(so), rtol, atol, label);
                free(hq);
            }
        }
    }
    t_expect_unchanged(x, hx, n, label);
    free(hx), free(want);
    npg_scope_end(sc);
}

static void sweep(int kind) {
    t_require_device();
    t_live l0 = t_live_now();
    for (int oi = 0; oi < NPG_OP_COUNT; oi++) {
        const rop *op = &ROPS[oi];
        if (!op->name || op->info->kind != kind) continue;
        for (int di = 0; di < NDTS; di++) {
            if (DTS[di] == NPG_BOOL && op->info->no_bool) continue;
            for (int ci = 0; ci < NIC; ci++) {
                int sl = ICASES[ci].specs;
                int nax = sl == 0 ? 9 : sl == 1 ? 3 : sl == 2 ? 1 : 4;
                const npg_axes *axl = sl == 0 ? AXES3 : sl == 1 ? AXES1 : sl == 2 ? AXES1 : AXESE;
                int niax = sl == 0 ? 6 : sl == 1 ? 3 : sl == 2 ? 1 : 4;
                const int *iax = sl == 0 ? IAX3 : sl == 1 ? IAX1 : sl == 2 ? (const int[]){NPG_FLAT} : IAXE;
                for (int kd = 0; kd < 2; kd++)
                    for (int pi = 0; pi < op->info->nparams; pi++) {
                        if (kind == K_RED)
                            for (int a = 0; a < nax; a++)
                                check_one(oi, DTS[di], ci, &(rspec){axl[a], 0, kd, op->info->params[pi]});
                        else
                            for (int a = 0; a < niax && (kind != K_SCAN || kd == 0); a++)
                                check_one(oi, DTS[di], ci, &(rspec){{0}, iax[a], kd, 0});
                    }
            }
        }
    }
    t_assert_no_leak(l0, "reduce sweep");
    cr_log_info("sweep kind %d: %ld checks", kind, g_checks);
}
Test(reduce, reductions_values) { sweep(K_RED); }
Test(reduce, argmax_argmin_values) { sweep(K_ARG); }
Test(reduce, scans_values) { sweep(K_SCAN); }

/* ------------------------------------------------------------------------
 * Documented special cases
 * ------------------------------------------------------------------------ */

Test(reduce, empty_and_special_values) {
    t_require_device();
    npg_scope sc = npg_scope_begin();
    for (int f = 0; f < 2; f++) {
        npg_dtype dt = f ? NPG_FLOAT64 : NPG_FLOAT32;
        npg_array *e = t_arr((double[]){0}, dt, (npg_shape)SH(0));
        t_assert_close(npg_sum(e, NPG_ALL_AXES, false), (double[]){0}, 1, 0, 0, "sum of empty is 0");
        t_assert_close(npg_prod(e, NPG_ALL_AXES, false), (double[]){1}, 1, 0, 0, "prod of empty is 1");
        t_assert_close(npg_mean(e, NPG_ALL_AXES, false), (double[]){NAN}, 1, 0, 0, "mean of empty is NaN");
        t_assert_close(npg_logsumexp(e, NPG_ALL_AXES, false), (double[]){-INFINITY}, 1, 0, 0, "logsumexp of empty is -inf");
        t_assert_close(npg_all(e, NPG_ALL_AXES, false), (double[]){1}, 1, 0, 0, "all of empty is true");
        t_assert_close(npg_any(e, NPG_ALL_AXES, false), (double[]){0}, 1, 0, 0, "any of empty is false");
        npg_array *x = t_arr((double[]){1, NAN, 3, 2, 5, 4}, dt, (npg_shape)SH(2, 3));
        t_assert_close(npg_max(x, NPG_AXES(1), false), (double[]){NAN, 5}, 2, 0, 0, "max: NaN propagates");
        t_assert_close(npg_min(x, NPG_AXES(1), false), (double[]){NAN, 2}, 2, 0, 0, "min: NaN propagates");
        t_assert_close(npg_sum(x, NPG_AXES(-1), false), (double[]){NAN, 11}, 2, 0, 0, "sum: NaN propagates");
        npg_array *big = t_arr((double[]){1000, 1000, -1000, -1000, -INFINITY, -INFINITY, INFINITY, 1}, dt, (npg_shape)SH(4, 2));
        t_assert_close(npg_logsumexp(big, NPG_AXES(1), false), (double[]){1000 + log(2.0), -1000 + log(2.0), -INFINITY, INFINITY}, 4, 1e-6,
                       0, "logsumexp is stable");
        npg_array *t = t_arr((double[]){3, 1, 3, 2, 0, 0}, dt, (npg_shape)SH(6));
        t_assert_close(npg_argmax(t, 0, false), (double[]){0}, 1, 0, 0, "argmax: the first maximum");
        t_assert_close(npg_argmin(t, NPG_FLAT, false), (double[]){4}, 1, 0, 0, "argmin: the first minimum");
        t_assert_close(npg_var(t_arr((double[]){5}, dt, (npg_shape)SH(1)), NPG_ALL_AXES, 1, false), (double[]){NAN}, 1, 0, 0,
                       "var with N - correction = 0");
    }
    npg_array *pi = t_arr((double[]){2, 3, 4, 5}, NPG_INT32, (npg_shape)SH(2, 2));
    npg_array *p = npg_prod(pi, NPG_AXES(0), false);
    cr_assert(p && npg_dtype_of(p) == NPG_INT64, "prod of int32 is int64");
    t_assert_close(p, (double[]){8, 15}, 2, 0, 0, "prod int32");
    npg_array *cp = npg_cumprod(pi, NPG_FLAT);
    cr_assert(cp && npg_dtype_of(cp) == NPG_INT64, "cumprod of int32 is int64");
    t_assert_close(cp, (double[]){2, 6, 24, 120}, 4, 0, 0, "cumprod int32 NPG_FLAT");
    npg_array *u = t_arr((double[]){200, 100}, NPG_UINT8, (npg_shape)SH(2));
    t_assert_close(npg_sum(u, NPG_ALL_AXES, false), (double[]){300}, 1, 0, 0, "sum of uint8 accumulates in int64");
    npg_array *m = npg_mean(u, NPG_ALL_AXES, false);
    cr_assert(m && npg_dtype_of(m) == NPG_FLOAT32, "mean of uint8 is float32");
    t_assert_close(m, (double[]){150}, 1, 0, 0, "mean uint8");
    npg_scope_end(sc);
}

/* An empty array whose other dims pass 2^32: the CUDA backend's 32-bit
 * index path was chosen from the element count alone (0) and divided by the
 * 2^50-long dim truncated to 32 bits, a SIGFPE in host code (found by the
 * fuzzer on the emulated CUDA backend, seed 104, scale 2). */
Test(reduce, empty_with_dims_past_2_to_the_32) {
    t_require_device();
    npg_scope sc = npg_scope_begin();
    const int64_t huge = (int64_t)1 << 50;
    npg_array *e = npg_zeros(NPG_SHAPE(huge, 2, 0, 3), NULL);
    cr_assert(e, "%s", npg_last_error());
    t_assert_close(npg_sum(e, NPG_ALL_AXES, false), (double[]){0}, 1, 0, 0, "sum of an empty (2^50, 2, 0, 3)");
    t_assert_close(npg_prod(e, NPG_ALL_AXES, false), (double[]){1}, 1, 0, 0, "prod of an empty (2^50, 2, 0, 3)");
    npg_array *s1 = npg_sum(e, NPG_AXES(0, 1), false);
    cr_assert(s1, "%s", npg_last_error());
    cr_assert_eq(npg_size(s1), 0);
    npg_array *a = npg_add(e, e);
    cr_assert(a, "%s", npg_last_error());
    cr_assert_eq(npg_size(a), 0);
    npg_array *c = npg_cumsum(e, 0);
    cr_assert(c, "%s", npg_last_error());
    cr_assert_eq(npg_size(c), 0);
    npg_scope_end(sc);
}

/* The result dtypes, written out (npg.h): sum, prod, cumsum, cumprod give
 * int64 for bool and every integer but uint64, which keeps uint64; floats
 * keep theirs; mean / var / std / logsumexp give float32 for bool and the
 * integers; max / min keep the dtype; argmax / argmin int64; all / any bool. */
Test(reduce, result_dtypes_every_dtype) {
    t_require_device();
    npg_scope sc = npg_scope_begin();
    static const struct {
        npg_dtype in, acc, fl;
    } T[NDTS] = {
        {NPG_BOOL, NPG_INT64, NPG_FLOAT32},       {NPG_UINT8, NPG_INT64, NPG_FLOAT32},       {NPG_INT32, NPG_INT64, NPG_FLOAT32},
        {NPG_INT64, NPG_INT64, NPG_FLOAT32},      {NPG_FLOAT32, NPG_FLOAT32, NPG_FLOAT32},   {NPG_FLOAT64, NPG_FLOAT64, NPG_FLOAT64},
        {NPG_FLOAT16, NPG_FLOAT16, NPG_FLOAT16},  {NPG_BFLOAT16, NPG_BFLOAT16, NPG_BFLOAT16}, {NPG_INT8, NPG_INT64, NPG_FLOAT32},
        {NPG_INT16, NPG_INT64, NPG_FLOAT32},      {NPG_UINT16, NPG_INT64, NPG_FLOAT32},      {NPG_UINT32, NPG_INT64, NPG_FLOAT32},
        {NPG_UINT64, NPG_UINT64, NPG_FLOAT32},
    };
    for (int i = 0; i < NDTS; i++) {
        npg_dtype d = T[i].in;
        cr_assert_eq(d, DTS[i], "row %d", i);
        npg_array *x = t_arr((double[]){1, 0, 1, 1, 1, 0}, d, (npg_shape)SH(2, 3));
        struct {
            const char *name;
            npg_array *y;
            npg_dtype want;
        } R[] = {
            {"sum", npg_sum(x, NPG_ALL_AXES, false), T[i].acc},
            {"sum axis 1", npg_sum(x, NPG_AXES(1), true), T[i].acc},
            {"prod", npg_prod(x, NPG_AXES(0), false), T[i].acc},
            {"cumsum", npg_cumsum(x, 1), T[i].acc},
            {"cumprod", npg_cumprod(x, NPG_FLAT), T[i].acc},
            {"mean", npg_mean(x, NPG_ALL_AXES, false), T[i].fl},
            {"logsumexp", npg_logsumexp(x, NPG_AXES(1), false), T[i].fl},
            {"var", d == NPG_BOOL ? NULL : npg_var(x, NPG_ALL_AXES, 0, false), T[i].fl},
            {"std", d == NPG_BOOL ? NULL : npg_std(x, NPG_AXES(0), 1, false), T[i].fl},
            {"max", npg_max(x, NPG_AXES(1), false), d},
            {"min", npg_min(x, NPG_ALL_AXES, false), d},
            {"argmax", npg_argmax(x, 1, false), NPG_INT64},
            {"argmin", npg_argmin(x, NPG_FLAT, false), NPG_INT64},
            {"all", npg_all(x, NPG_ALL_AXES, false), NPG_BOOL},
            {"any", npg_any(x, NPG_AXES(0), false), NPG_BOOL},
        };
        for (int k = 0; k < (int)(sizeof R / sizeof R[0]); k++) {
            if (d == NPG_BOOL && (k == 7 || k == 8)) continue; /* var / std refuse bool */
            cr_expect(R[k].y != NULL, "npg_%s(%s): %s", R[k].name, npg_dtype_name(d), npg_last_error());
            if (R[k].y)
                cr_expect_eq(npg_dtype_of(R[k].y), R[k].want, "npg_%s(%s): dtype %s, want %s", R[k].name, npg_dtype_name(d),
                             npg_dtype_name(npg_dtype_of(R[k].y)), npg_dtype_name(R[k].want));
        }
        npg_clear_error();
    }
    npg_scope_end(sc);
}

/* Exact values on the narrow and unsigned integers: the int64 accumulator
 * (no wrap at the input's width), uint64 wrapping modulo 2^64, and orders
 * and extremes that hold only for unsigned compares above INT64_MAX. */
Test(reduce, integer_dtypes_exact) {
    t_require_device();
    npg_scope sc = npg_scope_begin();
    const uint64_t H = 1ull << 63, M = UINT64_MAX;
    const uint64_t neg128 = (uint64_t)-128;
    npg_array *i8 = from_bits(UB64(100, 100, 100, neg128), 4, NPG_INT8);
    expect_bits(npg_sum(i8, NPG_ALL_AXES, false), NPG_INT64, UB64(172), 1, "sum(int8) accumulates in int64");
    expect_bits(npg_cumsum(i8, 0), NPG_INT64, UB64(100, 200, 300, 172), 4, "cumsum(int8) in int64");
    expect_bits(npg_prod(from_bits(UB64(neg128, neg128, (uint64_t)-1), 3, NPG_INT8), NPG_ALL_AXES, false), NPG_INT64,
                UB64((uint64_t)-16384), 1, "prod(int8)");
    expect_bits(npg_cumprod(from_bits(UB64(neg128, neg128, neg128), 3, NPG_INT8), 0), NPG_INT64,
                UB64(neg128, 16384, (uint64_t)-2097152), 3, "cumprod(int8)");
    expect_bits(npg_max(i8, NPG_ALL_AXES, false), NPG_INT8, UB64(100), 1, "max(int8)");
    expect_bits(npg_min(i8, NPG_ALL_AXES, false), NPG_INT8, UB64(neg128), 1, "min(int8)");
    npg_array *i8b = from_bits(UB64(3, neg128, 127, (uint64_t)-1), 4, NPG_INT8);
    expect_bits(npg_argmax(i8b, 0, false), NPG_INT64, UB64(2), 1, "argmax(int8)");
    expect_bits(npg_argmin(i8b, NPG_FLAT, false), NPG_INT64, UB64(1), 1, "argmin(int8)");
    npg_array *i16 = from_bits(UB64((uint64_t)-32768, (uint64_t)-32768), 2, NPG_INT16);
    expect_bits(npg_sum(i16, NPG_ALL_AXES, false), NPG_INT64, UB64((uint64_t)-65536), 1, "sum(int16)");
    expect_bits(npg_prod(i16, NPG_ALL_AXES, false), NPG_INT64, UB64(1073741824), 1, "prod(int16)");
    npg_array *u16 = from_bits(UB64(65535, 65535, 32768), 3, NPG_UINT16);
    expect_bits(npg_sum(u16, NPG_ALL_AXES, false), NPG_INT64, UB64(163838), 1, "sum(uint16)");
    expect_bits(npg_cumprod(u16, 0), NPG_INT64, UB64(65535, 4294836225u, 140733193420800u), 3, "cumprod(uint16)");
    expect_bits(npg_argmax(from_bits(UB64(32768, 32767, 65535), 3, NPG_UINT16), 0, false), NPG_INT64, UB64(2), 1, "argmax(uint16)");
    npg_array *u32 = from_bits(UB64(UINT32_MAX, UINT32_MAX, 2147483648u), 3, NPG_UINT32);
    expect_bits(npg_sum(u32, NPG_ALL_AXES, false), NPG_INT64, UB64(10737418238u), 1, "sum(uint32)");
    expect_bits(npg_prod(u32, NPG_AXES(0), false), NPG_INT64, UB64(2147483648u), 1,
                "prod(uint32): (2^32 - 1)^2 * 2^31 wraps in int64"); /* (2^64 - 2^33 + 1) * 2^31 = 2^31 mod 2^64 */
    expect_bits(npg_cumsum(u32, 0), NPG_INT64, UB64(UINT32_MAX, 8589934590u, 10737418238u), 3, "cumsum(uint32)");
    expect_bits(npg_max(u32, NPG_ALL_AXES, false), NPG_UINT32, UB64(UINT32_MAX), 1, "max(uint32)");
    expect_bits(npg_min(u32, NPG_ALL_AXES, false), NPG_UINT32, UB64(2147483648u), 1, "min(uint32)");
    npg_array *u64 = from_bits(UB64(M, 2, H, H - 1), 4, NPG_UINT64);
    expect_bits(npg_sum(u64, NPG_ALL_AXES, false), NPG_UINT64, UB64(0), 1, "sum(uint64) wraps modulo 2^64");
    expect_bits(npg_sum(from_bits(UB64(H, H - 1), 2, NPG_UINT64), NPG_ALL_AXES, false), NPG_UINT64, UB64(M), 1,
                "sum(uint64) = 2^64 - 1 exactly");
    expect_bits(npg_cumsum(u64, 0), NPG_UINT64, UB64(M, 1, H + 1, 0), 4, "cumsum(uint64) wraps");
    expect_bits(npg_prod(from_bits(UB64(1ull << 32, 1ull << 32), 2, NPG_UINT64), NPG_ALL_AXES, false), NPG_UINT64, UB64(0), 1,
                "prod(uint64) wraps");
    expect_bits(npg_prod(from_bits(UB64(M, M, 3), 3, NPG_UINT64), NPG_ALL_AXES, false), NPG_UINT64, UB64(3), 1, "prod(uint64) of -1s");
    expect_bits(npg_cumprod(from_bits(UB64(H, 2, 3), 3, NPG_UINT64), 0), NPG_UINT64, UB64(H, 0, 0), 3, "cumprod(uint64)");
    npg_array *u64b = from_bits(UB64(1, H + 1, H, 5), 4, NPG_UINT64);
    expect_bits(npg_max(u64b, NPG_ALL_AXES, false), NPG_UINT64, UB64(H + 1), 1, "max(uint64) above INT64_MAX");
    expect_bits(npg_min(u64b, NPG_AXES(0), true), NPG_UINT64, UB64(1), 1, "min(uint64)");
    expect_bits(npg_argmax(u64b, 0, false), NPG_INT64, UB64(1), 1, "argmax(uint64)");
    expect_bits(npg_argmin(from_bits(UB64(H, M, H + 1, 7), 4, NPG_UINT64), 0, false), NPG_INT64, UB64(3), 1, "argmin(uint64)");
    expect_bits(npg_argmax(from_bits(UB64(5, H, M, 7), 4, NPG_UINT64), NPG_FLAT, false), NPG_INT64, UB64(2), 1, "argmax(uint64) at 2^64-1");
    /* per row along an axis (2, 3) */
    npg_array *m2 = npg_reshape(from_bits(UB64(M, 0, H, 3, H - 1, 9), 6, NPG_UINT64), (npg_shape)SH(2, 3));
    expect_bits(npg_max(m2, NPG_AXES(1), false), NPG_UINT64, UB64(M, H - 1), 2, "max(uint64, axis 1)");
    expect_bits(npg_min(m2, NPG_AXES(0), false), NPG_UINT64, UB64(3, 0, 9), 3, "min(uint64, axis 0)");
    expect_bits(npg_argmin(m2, 1, false), NPG_INT64, UB64(1, 0), 2, "argmin(uint64, axis 1)");
    expect_bits(npg_all(from_bits(UB64(H, 1ull << 32, 256), 3, NPG_UINT64), NPG_ALL_AXES, false), NPG_BOOL, UB64(1), 1,
                "all(uint64): high bits count");
    expect_bits(npg_any(from_bits(UB64(0, 256), 2, NPG_INT8), NPG_ALL_AXES, false), NPG_BOOL, UB64(0), 1,
                "any(int8 [0, 256 -> 0])");
    npg_array *mu = npg_mean(from_bits(UB64(M, M - 1), 2, NPG_UINT64), NPG_ALL_AXES, false);
    cr_expect(mu && npg_dtype_of(mu) == NPG_FLOAT32, "mean(uint64) is float32");
    t_assert_close(mu, (double[]){18446744073709551615.0}, 1, 1e-6, 0, "mean(uint64) near 2^64");
    t_assert_close(npg_mean(i16, NPG_ALL_AXES, false), (double[]){-32768}, 1, 0, 0, "mean(int16)");
    t_assert_close(npg_var(from_bits(UB64(neg128, 127), 2, NPG_INT8), NPG_ALL_AXES, 0, false), (double[]){16256.25}, 1, 0, 0,
                   "var(int8 [-128, 127])");
    npg_scope_end(sc);
}

/* ------------------------------------------------------------------------
 * Gradients
 * ------------------------------------------------------------------------ */

typedef struct gctx {
    const rop *op;
    rspec sp;
    bool view;
} gctx;
static npg_array *gfn(npg_array *const *in, int n, void *user) {
    const gctx *c = user;
    return c->op->call(c->view ? npg_T(in[0]) : in[0], &c->sp);
}
static npg_array *leaf(const double *v, npg_shape s) {
    npg_array *x = t_arr(v, NPG_FLOAT64, s);
    cr_assert_eq(npg_set_requires_grad(x, true), NPG_OK, "%s", npg_last_error());
    return x;
}
static void gcheck(const char *label, gctx *c, npg_array *x) {
    g_checks++;
    npg_status st = npg_gradcheck(gfn, c, &x, 1, NULL);
    cr_expect_eq(st, NPG_OK, "gradcheck %s: %s", label, npg_last_error());
}

Test(reduce, gradcheck_all_differentiable) {
    t_require_device();
    t_live l0 = t_live_now();
    double v[60];
    trng r = {42};
    static const npg_axes axl[] = {{0}, {1, {1}}, {1, {-1}}, {2, {0, 2}}};
    static const int iax[] = {0, 2, -1, NPG_FLAT};
    for (int oi = 0; oi < NPG_OP_COUNT; oi++) {
        const rop *op = &ROPS[oi];
        if (!op->name || !op->info->diff) continue;
        cr_assert(npg__op_info[oi].differentiable, "%s: differentiable in the test table but not in ops.def", op->name);
        tdom d = op->info->dom;
        d.coarse = false; /* no ties here; ties have their own test */
        for (int k = 0; k < 60; k++) v[k] = gen_val(&d, NPG_FLOAT64, &r);
        if (op->ref == ref_var || op->ref == ref_std || op->ref == ref_logsumexp || op->ref == ref_sum || op->ref == ref_mean)
            for (int k = 0; k < 60; k++) v[k] *= 1.5;
        for (int a = 0; a < 4; a++)
            for (int kd = 0; kd < 2; kd++)
                for (int view = 0; view < 2; view++) {
                    npg_scope sc = npg_scope_begin();
                    gctx c = {op, {axl[a], iax[a], kd, op->info->params[op->info->nparams - 1]}, view};
                    if (op->info->kind == K_SCAN && kd) c.sp.axis = 1;
                    npg_array *x = leaf(v, view ? (npg_shape)SH(3, 4, 5) : (npg_shape)SH(5, 4, 3));
                    char label[160];
                    snprintf(label, sizeof label, "npg_%s spec %d keepdims %d %s", op->name, a, kd, view ? "transposed input" : "");
                    gcheck(label, &c, x);
                    npg_scope_end(sc);
                }
    }
    t_assert_no_leak(l0, "gradcheck reductions");
    cr_log_info("gradcheck: %ld checks", g_checks);
}


Test(reduce, gradient_ties_and_zeros) {
    t_require_device();
    npg_scope sc = npg_scope_begin();
    /* max/min: split evenly between ties (2 and 3 way), per group */
    npg_array *x = leaf((double[]){1, 3, 3, 2, 5, 5, 5, 0}, (npg_shape)SH(2, 4));
    double *g = grad_of_sum(npg_max(x, NPG_AXES(1), false), x);
    t_assert_close_buf(g, (double[]){0, 0.5, 0.5, 0, 1. / 3, 1. / 3, 1. / 3, 0}, 8, 1e-15, 0, "d max / dx with ties");
    free(g);
    g = grad_of_sum(npg_max(x, NPG_ALL_AXES, true), x);
    t_assert_close_buf(g, (double[]){0, 0, 0, 0, 1. / 3, 1. / 3, 1. / 3, 0}, 8, 1e-15, 0, "d max(all) / dx with ties");
    free(g);
    npg_array *xm = leaf((double[]){1, 0, 0, 2, 7, 7, 9, 9}, (npg_shape)SH(2, 4));
    g = grad_of_sum(npg_min(xm, NPG_AXES(-1), true), xm);
    t_assert_close_buf(g, (double[]){0, 0.5, 0.5, 0, 0.5, 0.5, 0, 0}, 8, 1e-15, 0, "d min / dx with ties");
    free(g);
    gctx c = {&ROPS[NPG_OP_MAX], {NPG_AXES(1), 0, false, 0}, false};
    gcheck("max with two-way ties (central differences give 1/2)", &c, xm);
    c.op = &ROPS[NPG_OP_MIN];
    gcheck("min with two-way ties", &c, xm);
    /* prod: no zero, one zero, two zeros in a reduced group */
    npg_array *p = leaf((double[]){2, 3, 4, 0, 3, 4, 0, 3, 0}, (npg_shape)SH(3, 3));
    g = grad_of_sum(npg_prod(p, NPG_AXES(1), false), p);
    t_assert_close_buf(g, (double[]){12, 8, 6, 12, 0, 0, 0, 0, 0}, 9, 1e-15, 0, "d prod / dx with zeros");
    free(g);
    c = (gctx){&ROPS[NPG_OP_PROD], {NPG_AXES(1), 0, false, 0}, false};
    gcheck("prod with 0, 1 and 2 zeros per group", &c, p);
    c.sp.axes = NPG_ALL_AXES;
    gcheck("prod over all axes with zeros", &c, p);
    c.view = true;
    gcheck("prod of a transposed input with zeros", &c, p);
    /* cumprod / cumsum with zeros */
    npg_array *q = leaf((double[]){2, 0, 3, 4, 1.5, 0, 0, 2, 0.5, 3, 0, 2}, (npg_shape)SH(3, 4));
    g = grad_of_sum(npg_cumprod(q, 1), q);
    /* row 0: [2,0,3,4] -> outputs 2,0,0,0: d/dx0 = 1, d/dx1 = 2 + 2*3 + 2*3*4 = 32, others 0 */
    t_assert_close_buf(g, (double[]){1, 32, 0, 0, 1, 1.5, 0, 0, 1 + 3, 0.5 + 0.5 * 3 * 0, 1.5 + 1.5 * 2, 0}, 12, 1e-14, 0,
                       "d cumprod / dx with zeros");
    free(g);
    for (int ax = -1; ax <= 1; ax++) {
        char l[64];
        c = (gctx){&ROPS[NPG_OP_CUMPROD], {{0}, ax, false, 0}, false};
        snprintf(l, sizeof l, "cumprod axis %d with zeros", ax);
        gcheck(l, &c, q);
        c.op = &ROPS[NPG_OP_CUMSUM];
        snprintf(l, sizeof l, "cumsum axis %d", ax);
        gcheck(l, &c, q);
    }
    c = (gctx){&ROPS[NPG_OP_CUMPROD], {{0}, NPG_FLAT, false, 0}, true};
    gcheck("cumprod NPG_FLAT of a transposed input with zeros", &c, q);
    /* an empty input whose kept axes are not all empty (found by
     * test_fuzz.c: the backward reshaped to (2, 0, -1), which is ambiguous) */
    npg_array *e = leaf((double[]){0}, (npg_shape)SH(2, 2, 0));
    for (int ax = 0; ax < 3; ax++) {
        npg_array *pe = npg_prod(e, NPG_AXES(ax), ax == 1);
        npg_array *s = npg_sum(pe, NPG_ALL_AXES, false), *ge = NULL;
        cr_assert_eq(npg_grad_of(&s, 1, NULL, &e, 1, &ge, NULL), NPG_OK, "prod of (2,2,0) over axis %d: %s", ax,
                     npg_last_error());
        t_assert_shape(ge, (npg_shape)SH(2, 2, 0));
    }
    npg_scope_end(sc);
}

/* ------------------------------------------------------------------------
 * Errors: status, message naming the function, no leak, input unchanged
 * ------------------------------------------------------------------------ */

Test(reduce, errors) {
    t_require_device();
    npg_scope sc = npg_scope_begin();
    double v[24];
    for (int i = 0; i < 24; i++) v[i] = i - 7.5;
    npg_array *x = t_arr(v, NPG_FLOAT32, (npg_shape)SH(2, 3, 4));
    static const npg_axes bad[] = {{1, {3}}, {1, {-4}}, {2, {0, 0}}, {2, {1, -2}}};
    npg_array *e30 = t_arr((double[]){0}, NPG_FLOAT32, (npg_shape)SH(3, 0)), *e0 = t_arr((double[]){0}, NPG_INT32, (npg_shape)SH(0));
    npg_array *z = t_arr((double[]){1}, NPG_FLOAT32, (npg_shape)SH0);
    t_live before = t_live_now();
    for (int oi = 0; oi < NPG_OP_COUNT; oi++) {
        const rop *op = &ROPS[oi];
        if (!op->name) continue;
        char fname[64], l[128];
        snprintf(fname, sizeof fname, "npg_%s", op->name);
        for (int k = 0; k < 4; k++) {
            rspec sp = {bad[k], k == 0 ? 3 : k == 1 ? -4 : 7, false, 0};
            if (op->info->kind != K_RED && k > 1) continue; /* repeated axes only make sense for sets */
            snprintf(l, sizeof l, "%s bad axis spec %d", fname, k);
            cr_expect(op->call(x, &sp) == NULL, "%s must fail", l);
            cr_expect_eq(npg_last_status(), NPG_ERR_AXIS, "%s: status %s (%s)", l, npg_status_string(npg_last_status()), npg_last_error());
            cr_expect(strstr(npg_last_error(), fname) != NULL, "%s: message '%s'", l, npg_last_error());
        }
        npg_clear_error();
        rspec sp = {NPG_ALL_AXES, 0, false, 0};
        cr_expect(op->call(NULL, &sp) == NULL, "%s(NULL)", fname);
        cr_expect_eq(npg_last_status(), NPG_ERR_NULL_ARG, "%s(NULL): status %s", fname, npg_status_string(npg_last_status()));
        cr_expect(strstr(npg_last_error(), fname) != NULL, "%s(NULL): message '%s'", fname, npg_last_error());
        /* a NULL from a failed call keeps that call's error */
        npg_array *bad_mm = npg_matmul(x, x);
        cr_expect(op->call(bad_mm, &sp) == NULL, "%s(NULL from matmul)", fname);
        t_assert_error(NPG_ERR_SHAPE, "npg_matmul");
    }
    cr_expect(npg_max(e30, NPG_AXES(1), false) == NULL, "max over an empty axis");
    t_assert_error(NPG_ERR_SHAPE, "npg_max");
    cr_expect(npg_argmin(e0, NPG_FLAT, false) == NULL, "argmin of empty");
    t_assert_error(NPG_ERR_SHAPE, "npg_argmin");
    cr_expect(npg_sum(z, NPG_AXES(0), false) == NULL, "axis 0 of a 0-d array");
    t_assert_error(NPG_ERR_AXIS, "npg_sum");
    cr_expect(npg_cumsum(z, 0) == NULL, "cumsum axis 0 of a 0-d array");
    t_assert_error(NPG_ERR_AXIS, "npg_cumsum");
    t_assert_no_leak(before, "failed reductions");
    t_expect_unchanged(x, v, 24, "reduce errors");
    npg_clear_error();
    npg_scope_end(sc);
}

Test(reduce, op_table_is_complete) {
    int n = 0;
    for (int oi = 0; oi < NPG_OP_COUNT; oi++) {
        npg_family f = npg__op_info[oi].family;
        if (f == NPG_FAM_REDUCE || f == NPG_FAM_SCAN) cr_assert(ROPS[oi].name, "%s has no row", npg__op_info[oi].name);
        if (!ROPS[oi].name) continue;
        n++;
        cr_assert_str_eq(ROPS[oi].name, npg__op_info[oi].name, "row %d", oi);
        cr_assert_eq(ROPS[oi].info->diff, npg__op_info[oi].differentiable, "%s: differentiable flag differs from ops.def", ROPS[oi].name);
    }
    cr_assert_eq(n, 14, "%d reduction rows", n);
}
