/*
 * test_linalg_sort.c — matmul (2-d, 1-d promotion, batch broadcasting,
 * non-contiguous operands, K = 0, integer dtypes), vecdot, dot, outer;
 * sort / argsort (stable, descending, NaN placement, NPG_FLAT, every axis),
 * sort_inplace, nonzero and count_nonzero. Host references in float64 /
 * exact integers, gradients through npg_gradcheck, and the error paths.
 * A new SORT or MATMUL op does not compile here until it has a row.
 */
#include "test_util.h"
#include "ops_shared.h"

#include <criterion/logging.h>
#include <stdio.h>

#define NDTS 11
static const npg_dtype DTS[NDTS] = {NPG_BOOL, NPG_UINT8, NPG_INT32, NPG_INT64,  NPG_FLOAT32, NPG_FLOAT64,
                                    NPG_INT8, NPG_INT16, NPG_UINT16, NPG_UINT32, NPG_UINT64};
static bool isf(npg_dtype d) { return d == NPG_FLOAT32 || d == NPG_FLOAT64; }


/* Values: small integers (exact everywhere), halves for floats, ties on
 * purpose; `nan` puts NaNs in float arrays. */
static double val(uint64_t k, npg_dtype dt, bool nan) {
    uint64_t h = (k + 11) * 0x9E3779B97F4A7C15ull;
    h ^= h >> 29;
    double v = (double)(h % 9) - 4;
    if (dt == NPG_BOOL) return h % 3 != 0;
    if (t_is_unsigned(dt)) return v + 4;
    if (isf(dt)) v += (h >> 8) % 2 ? 0.5 : 0;
    if (nan && isf(dt) && (h >> 12) % 7 == 0) return NAN;
    return v;
}
/* Logical shape s as view vk; hv gets the view's row-major values. */
static npg_array *mk(npg_shape s, vkind vk, npg_dtype dt, uint64_t seed, bool nan, double *hv) {
    if (s.ndim == 0) vk = V_C;
    npg_shape bs = base_shape(s, vk);
    int64_t nb = numel(bs), n = numel(s);
    double *bv = malloc(sizeof(double) * (size_t)(nb + 1));
    for (int64_t k = 0; k < nb; k++) bv[k] = val(seed * 1000 + (uint64_t)k, dt, nan);
    npg_array *x = view_of(t_arr(bv, dt, bs), vk);
    cr_assert(x, "building a %s view: %s", VNAME[vk], npg_last_error());
    for (int64_t k = 0; k < n; k++) hv[k] = bv[view_offset(k, s, vk, bs)];
    free(bv);
    return x;
}

static long g_checks;
static bool expect_meta(const npg_array *y, npg_dtype dt, npg_shape s, const char *label) {
    char b1[96], b2[96];
    cr_expect(y != NULL, "%s: NULL: %s", label, npg_last_error());
    if (!y) return false;
    cr_expect_eq(npg_dtype_of(y), dt, "%s: dtype %s, want %s", label, npg_dtype_name(npg_dtype_of(y)), npg_dtype_name(dt));
    bool ok = same_shape(npg_shape_of(y), s);
    cr_expect(ok, "%s: shape %s, want %s", label, sstr(npg_shape_of(y), b1), sstr(s, b2));
    return ok;
}

/* The ops of these families and where each is covered (a new one must be listed). */
#define ROW(ID, name) [NPG_OP_##ID] = #name,
#define SKIP(ID, name)
#define F_SORT ROW
#define F_MATMUL ROW
#define F_UNARY SKIP
#define F_UNARY_P SKIP
#define F_BINARY SKIP
#define F_WHERE SKIP
#define F_REDUCE SKIP
#define F_COMPOSITE SKIP
#define F_SCAN SKIP
#define F_COPY SKIP
#define F_VIEW SKIP
#define F_INDEX SKIP
#define F_RANDOM SKIP
#define F_NN SKIP
static const char *const ROWS[NPG_OP_COUNT] = {
#define NPG_OP(ID, name, family, arity, diff, rule) F_##family(ID, name)
#include "ops.def"
#undef NPG_OP
};
enum { covered_sort = 1, covered_nonzero = 1, covered_matmul = 1 }; /* each row's op has tests below */
#define COVERED(ID, name) (void)covered_##name;
#define F2_SORT COVERED
#define F2_MATMUL COVERED

Test(linalg_sort, op_table_is_complete) {
#define NPG_OP(ID, name, family, arity, diff, rule) F2_##family(ID, name)
#define F2_UNARY SKIP
#define F2_UNARY_P SKIP
#define F2_BINARY SKIP
#define F2_WHERE SKIP
#define F2_REDUCE SKIP
#define F2_COMPOSITE SKIP
#define F2_SCAN SKIP
#define F2_COPY SKIP
#define F2_VIEW SKIP
#define F2_INDEX SKIP
#define F2_RANDOM SKIP
#define F2_NN SKIP
#include "ops.def"
#undef NPG_OP
    for (int oi = 0; oi < NPG_OP_COUNT; oi++) {
        npg_family f = npg__op_info[oi].family;
        if (f == NPG_FAM_SORT || f == NPG_FAM_MATMUL) cr_assert(ROWS[oi], "%s has no row", npg__op_info[oi].name);
    }
}

/* ------------------------------------------------------------------------
 * matmul, vecdot, dot, outer
 * ------------------------------------------------------------------------ */

/* Host matmul with NumPy's rules (1-d promotion, batch broadcast). */
static npg_shape host_matmul(npg_shape sa, const double *a, npg_shape sb, const double *b, double *out) {
    bool a1 = sa.ndim == 1, b1 = sb.ndim == 1;
    npg_shape A = a1 ? (npg_shape){.ndim = 2, .dims = {1, sa.dims[0]}} : sa;
    npg_shape B = b1 ? (npg_shape){.ndim = 2, .dims = {sb.dims[0], 1}} : sb;
    int64_t M = A.dims[A.ndim - 2], K = A.dims[A.ndim - 1], N = B.dims[B.ndim - 1];
    int na = A.ndim - 2, nb = B.ndim - 2, nd = na > nb ? na : nb;
    npg_shape batch = {.ndim = nd}, res = {.ndim = 0};
    for (int i = 0; i < nd; i++) {
        int ia = i - (nd - na), ib = i - (nd - nb);
        int64_t da = ia >= 0 ? A.dims[ia] : 1, db = ib >= 0 ? B.dims[ib] : 1;
        batch.dims[i] = da == 1 ? db : da;
        res.dims[res.ndim++] = batch.dims[i];
    }
    if (!a1) res.dims[res.ndim++] = M;
    if (!b1) res.dims[res.ndim++] = N;
    for (int64_t t = 0; t < numel(batch); t++) {
        int64_t bi[NPG_MAX_DIMS], oa = 0, ob = 0;
        unravel(t, batch, bi);
        for (int i = 0; i < na; i++) oa = oa * A.dims[i] + (A.dims[i] == 1 ? 0 : bi[i + nd - na]);
        for (int i = 0; i < nb; i++) ob = ob * B.dims[i] + (B.dims[i] == 1 ? 0 : bi[i + nd - nb]);
        for (int64_t m = 0; m < M; m++)
            for (int64_t n = 0; n < N; n++) {
                double s = 0;
                for (int64_t k = 0; k < K; k++) s += a[(oa * M + m) * K + k] * b[(ob * K + k) * N + n];
                out[(t * M + m) * N + n] = s;
            }
    }
    return res;
}

typedef struct mcase {
    npg_shape a;
    vkind va;
    npg_shape b;
    vkind vb;
} mcase;
static const mcase MCASES[] = {
    {SH(3, 4), V_C, SH(4, 5), V_C},          {SH(4), V_C, SH(4, 5), V_C},          {SH(3, 4), V_C, SH(4), V_C},
    {SH(4), V_C, SH(4), V_C},                {SH(2, 1, 3, 4), V_C, SH(5, 4, 2), V_C}, {SH(3, 4), V_T, SH(4, 5), V_C},
    {SH(3, 4), V_C, SH(4, 5), V_T},          {SH(3, 4), V_S2, SH(4, 5), V_NEG},    {SH(2, 3, 4), V_T, SH(2, 4, 5), V_S2},
    {SH(3, 0), V_C, SH(0, 5), V_C},          {SH(0, 4), V_C, SH(4, 5), V_C},       {SH(3, 4), V_C, SH(4, 0), V_C},
    {SH(4), V_NEG, SH(2, 4, 5), V_C},        {SH(2, 3, 4), V_C, SH(4), V_S2},      {SH(1, 7), V_C, SH(7, 1), V_C},
    {SH(33, 17), V_C, SH(17, 9), V_T},       {SH(0), V_C, SH(0), V_C},             {SH(3, 1, 2, 3), V_NEG, SH(1, 4, 3, 2), V_C},
    {SH(5, 3, 4), V_C, SH(2, 1, 4, 2), V_T},
};
#define NMC ((int)(sizeof MCASES / sizeof MCASES[0]))

Test(linalg_sort, matmul_values) {
    t_require_device();
    t_live l0 = t_live_now();
    static const npg_dtype mdts[][2] = {{NPG_FLOAT32, NPG_FLOAT32}, {NPG_FLOAT64, NPG_FLOAT64}, {NPG_INT32, NPG_INT32},
                                        {NPG_INT64, NPG_INT64},     {NPG_UINT8, NPG_UINT8},     {NPG_INT32, NPG_FLOAT32},
                                        {NPG_FLOAT32, NPG_FLOAT64}, {NPG_UINT8, NPG_INT64},     {NPG_INT8, NPG_INT8},
                                        {NPG_INT16, NPG_INT16},     {NPG_UINT16, NPG_UINT16},   {NPG_UINT32, NPG_UINT32},
                                        {NPG_UINT64, NPG_UINT64},   {NPG_INT8, NPG_UINT8},      {NPG_UINT16, NPG_INT8},
                                        {NPG_UINT32, NPG_INT32},    {NPG_UINT64, NPG_INT8},     {NPG_INT16, NPG_FLOAT32}};
    const int nmd = (int)(sizeof mdts / sizeof mdts[0]);
    for (int ci = 0; ci < NMC; ci++)
        for (int di = 0; di < nmd; di++) {
            const mcase *c = &MCASES[ci];
            npg_dtype da = mdts[di][0], db = mdts[di][1], odt = npg_result_type(da, db);
            npg_scope sc = npg_scope_begin();
            double *ha = malloc(sizeof(double) * (size_t)(numel(c->a) + 1)), *hb = malloc(sizeof(double) * (size_t)(numel(c->b) + 1));
            double *want = malloc(sizeof(double) * 4096);
            npg_array *a = mk(c->a, c->va, da, (uint64_t)ci * 2, false, ha), *b = mk(c->b, c->vb, db, (uint64_t)ci * 2 + 1, false, hb);
            npg_shape so = host_matmul(c->a, ha, c->b, hb, want);
            char label[512], s1[96], s2[96];
            snprintf(label, sizeof label, "npg_matmul(%s %s %s, %s %s %s)", npg_dtype_name(da), sstr(c->a, s1), VNAME[c->va],
                     npg_dtype_name(db), sstr(c->b, s2), VNAME[c->vb]);
            npg_array *y = npg_matmul(a, b);
            g_checks++;
            if (expect_meta(y, odt, so, label)) {
                /* integer products wrap at the result's width (int8: K = 17 of +-16 do) */
                for (int64_t k = 0; k < numel(so) && t_is_int(odt); k++) want[k] = t_wrap_val(odt, (uint64_t)(int64_t)want[k]);
                expect_vals(y, want, numel(so), isf(odt) ? 1e-5 : 0, isf(odt) ? 1e-5 : 0, label);
            }
            double *got = t_read(a);
            for (int64_t k = 0; k < numel(c->a); k++) cr_expect(got[k] == ha[k], "%s: input a modified", label);
            free(got), free(ha), free(hb), free(want);
            npg_scope_end(sc);
        }
    t_assert_no_leak(l0, "matmul sweep");
    cr_log_info("matmul: %ld checks", g_checks);
}

static uint64_t mix64(uint64_t *st) {
    uint64_t z = (*st += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Integer matmul wraps at the dtype's width (two's complement), as its
 * elementwise products and sums would: fixed cases, then full-range random
 * operands (K long enough for any blocking, a transposed operand, batches)
 * against exact sums modulo 2^64 wrapped to the dtype. */
Test(linalg_sort, matmul_integer_wrap) {
    t_require_device();
    t_live l0 = t_live_now();
    npg_scope sc = npg_scope_begin();
    const uint64_t H = 1ull << 63, M = UINT64_MAX;
    npg_array *a8 = npg_reshape(from_bits(UB64(100, 100, (uint64_t)-128, 1), 4, NPG_INT8), (npg_shape)SH(2, 2));
    npg_array *b8 = npg_reshape(from_bits(UB64(2, 0, 1, (uint64_t)-1), 4, NPG_INT8), (npg_shape)SH(2, 2));
    expect_bits(npg_reshape(npg_matmul(a8, b8), (npg_shape)SH(4)), NPG_INT8, UB64(44, (uint64_t)-100, 1, (uint64_t)-1), 4,
                "matmul int8 (300 -> 44, -255 -> 1)");
    expect_bits(npg_dot(from_bits(UB64(100, 100), 2, NPG_INT8), from_bits(UB64(2, 1), 2, NPG_INT8)), NPG_INT8, UB64(44), 1,
                "dot int8 wraps");
    expect_bits(npg_vecdot(from_bits(UB64((uint64_t)-128, (uint64_t)-128), 2, NPG_INT8),
                           from_bits(UB64((uint64_t)-1, (uint64_t)-1), 2, NPG_INT8), 0),
                NPG_INT8, UB64(0), 1, "vecdot int8: 256 wraps to 0");
    npg_array *a16 = npg_reshape(from_bits(UB64(65535, 2, 300, 300), 4, NPG_UINT16), (npg_shape)SH(2, 2));
    npg_array *b16 = npg_reshape(from_bits(UB64(65535, 32768), 2, NPG_UINT16), (npg_shape)SH(2, 1));
    expect_bits(npg_reshape(npg_matmul(a16, b16), (npg_shape)SH(2)), NPG_UINT16, UB64(1, 65236), 2,
                "matmul uint16 (65535^2 + 65536 -> 1; 300 * 98303 -> 65236)");
    npg_array *a64 = npg_reshape(from_bits(UB64(H, 3, M, M, 1ull << 32, 1ull << 32), 6, NPG_UINT64), (npg_shape)SH(3, 2));
    npg_array *b64 = npg_reshape(from_bits(UB64(2, M), 2, NPG_UINT64), (npg_shape)SH(2, 1));
    expect_bits(npg_reshape(npg_matmul(a64, b64), (npg_shape)SH(3)), NPG_UINT64, UB64(M - 2, M, 1ull << 32), 3,
                "matmul uint64 (2^63 * 2 + 3 * (2^64 - 1) -> 2^64 - 3)");
    expect_bits(npg_outer(from_bits(UB64(H, 3), 2, NPG_UINT64), from_bits(UB64(2, H), 2, NPG_UINT64)), NPG_UINT64,
                UB64(0, 0, 6, H), 4, "outer uint64 wraps");
    /* random, full range */
    static const npg_dtype idts[8] = {NPG_INT8, NPG_UINT16, NPG_UINT64, NPG_INT16, NPG_UINT32, NPG_INT32, NPG_INT64, NPG_UINT8};
    static const struct {
        int64_t batch, m, k, n;
        bool bt; /* b as the transpose of a contiguous (n, k) */
    } RC[] = {{1, 5, 37, 4, false}, {1, 3, 130, 7, true}, {2, 4, 9, 3, false}, {1, 1, 300, 1, true}};
    uint64_t st = 12345;
    for (int di = 0; di < 8; di++)
        for (int r = 0; r < (int)(sizeof RC / sizeof RC[0]); r++) {
            npg_dtype dt = idts[di];
            int64_t B = RC[r].batch, m = RC[r].m, k = RC[r].k, n = RC[r].n;
            uint64_t *va = malloc(sizeof(uint64_t) * (size_t)(B * m * k)), *vb = malloc(sizeof(uint64_t) * (size_t)(B * k * n));
            uint64_t *want = malloc(sizeof(uint64_t) * (size_t)(B * m * n));
            for (int64_t i = 0; i < B * m * k; i++) va[i] = t_wrap_bits(dt, mix64(&st));
            for (int64_t i = 0; i < B * k * n; i++) vb[i] = t_wrap_bits(dt, mix64(&st)); /* b[bb][kk][nn], row-major */
            for (int64_t bb = 0; bb < B; bb++)
                for (int64_t i = 0; i < m; i++)
                    for (int64_t j = 0; j < n; j++) {
                        uint64_t acc = 0; /* sums modulo 2^64 wrap to any narrower width the same */
                        for (int64_t kk = 0; kk < k; kk++) acc += va[(bb * m + i) * k + kk] * vb[(bb * k + kk) * n + j];
                        want[(bb * m + i) * n + j] = t_wrap_bits(dt, acc);
                    }
            npg_array *a = npg_reshape(from_bits(va, (int)(B * m * k), dt), (npg_shape)SH(B, m, k)), *b;
            if (RC[r].bt) { /* the same values through a transposed view */
                uint64_t *vt = malloc(sizeof(uint64_t) * (size_t)(B * k * n));
                for (int64_t bb = 0; bb < B; bb++)
                    for (int64_t kk = 0; kk < k; kk++)
                        for (int64_t j = 0; j < n; j++) vt[(bb * n + j) * k + kk] = vb[(bb * k + kk) * n + j];
                b = npg_matrix_transpose(npg_reshape(from_bits(vt, (int)(B * k * n), dt), (npg_shape)SH(B, n, k)));
                free(vt);
            } else {
                b = npg_reshape(from_bits(vb, (int)(B * k * n), dt), (npg_shape)SH(B, k, n));
            }
            char l[128];
            snprintf(l, sizeof l, "matmul %s (%lld, %lld, %lld) @ (%lld, %lld)%s, full-range values", npg_dtype_name(dt), (long long)B,
                     (long long)m, (long long)k, (long long)k, (long long)n, RC[r].bt ? " transposed" : "");
            npg_array *y = npg_reshape(npg_matmul(a, b), (npg_shape)SH(B * m * n));
            g_checks++;
            expect_bits(y, dt, want, (int)(B * m * n), l);
            free(va), free(vb), free(want);
        }
    npg_scope_end(sc);
    t_assert_no_leak(l0, "integer matmul");
}

Test(linalg_sort, vecdot_dot_outer_values) {
    t_require_device();
    npg_scope sc = npg_scope_begin();
    double va[105], vb[21];
    for (int d = 2; d < NDTS; d++) { /* the integers and float32 / float64 */
        npg_dtype dt = DTS[d];
        for (int i = 0; i < 105; i++) va[i] = val((uint64_t)i, t_is_unsigned(dt) ? dt : NPG_INT32, false);
        for (int i = 0; i < 21; i++) vb[i] = val((uint64_t)i + 500, t_is_unsigned(dt) ? dt : NPG_INT32, false);
        npg_array *a = t_arr(va, dt, (npg_shape)SH(5, 7, 3)), *b = t_arr(vb, dt, (npg_shape)SH(7, 3));
        double want[105];
        for (int i = 0; i < 35; i++) {
            want[i] = 0;
            for (int k = 0; k < 3; k++) want[i] += va[i * 3 + k] * vb[(i % 7) * 3 + k];
        }
        npg_array *y = npg_vecdot(a, b, -1);
        if (expect_meta(y, dt, (npg_shape)SH(5, 7), "vecdot axis -1")) expect_vals(y, want, 35, 1e-6, 1e-6, "vecdot axis -1");
        npg_array *a2 = t_arr(va, dt, (npg_shape)SH(3, 4)), *b2 = t_arr(vb, dt, (npg_shape)SH(3, 4));
        for (int j = 0; j < 4; j++) want[j] = va[j] * vb[j] + va[4 + j] * vb[4 + j] + va[8 + j] * vb[8 + j];
        y = npg_vecdot(a2, b2, 0);
        if (expect_meta(y, dt, (npg_shape)SH(4), "vecdot axis 0")) expect_vals(y, want, 4, 1e-6, 1e-6, "vecdot axis 0");
        npg_array *v1 = t_arr(va, dt, (npg_shape)SH(4)), *v2 = t_arr(vb, dt, (npg_shape)SH(4));
        double dd = va[0] * vb[0] + va[1] * vb[1] + va[2] * vb[2] + va[3] * vb[3];
        y = npg_dot(v1, v2);
        if (expect_meta(y, dt, (npg_shape)SH0, "dot 1-d 1-d")) expect_vals(y, &dd, 1, 1e-6, 1e-6, "dot 1-d 1-d");
        npg_shape so = host_matmul((npg_shape)SH(3, 4), va, (npg_shape)SH(4), vb, want);
        y = npg_dot(a2 = t_arr(va, dt, (npg_shape)SH(3, 4)), v2);
        if (expect_meta(y, dt, so, "dot 2-d 1-d")) expect_vals(y, want, numel(so), 1e-6, 1e-6, "dot 2-d 1-d");
        so = host_matmul((npg_shape)SH(3, 4), va, (npg_shape)SH(4, 3), vb, want);
        y = npg_dot(a2, t_arr(vb, dt, (npg_shape)SH(4, 3)));
        if (expect_meta(y, dt, so, "dot 2-d 2-d")) expect_vals(y, want, numel(so), 1e-6, 1e-6, "dot 2-d 2-d");
        npg_array *s = t_arr((double[]){2}, dt, (npg_shape)SH0);
        for (int i = 0; i < 12; i++) want[i] = 2 * va[i];
        y = npg_dot(s, a2);
        if (expect_meta(y, dt, (npg_shape)SH(3, 4), "dot 0-d 2-d")) expect_vals(y, want, 12, 0, 0, "dot 0-d 2-d");
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 3; j++) want[i * 3 + j] = va[i] * vb[j];
        y = npg_outer(t_arr(va, dt, (npg_shape)SH(2, 2)), t_arr(vb, dt, (npg_shape)SH(3)));
        if (expect_meta(y, dt, (npg_shape)SH(4, 3), "outer (2,2) x (3,)")) expect_vals(y, want, 12, 1e-6, 1e-6, "outer");
        g_checks += 7;
    }
    npg_scope_end(sc);
}

typedef struct gctx {
    int op; /* 0 matmul, 1 vecdot, 2 dot, 3 outer, 4 sort */
    vkind va, vb;
    int axis;
    bool desc;
} gctx;
static npg_array *gfn(npg_array *const *in, int n, void *user) {
    const gctx *c = user;
    npg_array *a = view_of(in[0], c->va), *b = n > 1 ? view_of(in[1], c->vb) : NULL;
    switch (c->op) {
    case 0: return npg_matmul(a, b);
    case 1: return npg_vecdot(a, b, c->axis);
    case 2: return npg_dot(a, b);
    case 3: return npg_outer(a, b);
    default: return npg_sort(a, c->axis, c->desc);
    }
}
static npg_array *gleaf(npg_shape s, uint64_t seed, bool distinct) {
    int64_t n = numel(s);
    double *v = malloc(sizeof(double) * (size_t)(n + 1));
    for (int64_t k = 0; k < n; k++) v[k] = distinct ? (double)((k * 7 + seed) % (uint64_t)n) / 4 - 1 : val(seed * 100 + (uint64_t)k, NPG_FLOAT64, false) / 3 + 0.01 * (double)k;
    npg_array *x = t_arr(v, NPG_FLOAT64, s);
    free(v);
    npg_set_requires_grad(x, true);
    return x;
}

Test(linalg_sort, gradcheck_matmul_family) {
    t_require_device();
    t_live l0 = t_live_now();
    static const struct {
        int op;
        npg_shape a, b;
        vkind va, vb;
        int axis;
    } G[] = {
        {0, SH(3, 4), SH(4, 2), V_C, V_C, 0},      {0, SH(4), SH(4, 2), V_C, V_C, 0},       {0, SH(3, 4), SH(4), V_C, V_C, 0},
        {0, SH(4), SH(4), V_C, V_C, 0},            {0, SH(2, 1, 2, 3), SH(3, 3, 2), V_C, V_C, 0}, {0, SH(3, 4), SH(4, 2), V_T, V_T, 0},
        {0, SH(3, 4), SH(4, 2), V_S2, V_NEG, 0},   {0, SH(3, 0), SH(0, 2), V_C, V_C, 0},    {0, SH(4), SH(2, 4, 3), V_NEG, V_C, 0},
        {1, SH(2, 3, 4), SH(3, 4), V_C, V_C, -1},  {1, SH(3, 4), SH(4), V_C, V_C, 1},       {1, SH(3, 4), SH(3, 4), V_T, V_C, 0},
        {2, SH(4), SH(4), V_C, V_C, 0},            {2, SH(3, 4), SH(4, 2), V_C, V_C, 0},    {2, SH(3, 4), SH(4), V_C, V_C, 0},
        {2, SH0, SH(3, 2), V_C, V_C, 0},           {3, SH(3), SH(4), V_C, V_C, 0},          {3, SH(2, 2), SH(3), V_C, V_NEG, 0},
    };
    static const char *const names[] = {"matmul", "vecdot", "dot", "outer"};
    for (int k = 0; k < (int)(sizeof G / sizeof G[0]); k++) {
        npg_scope sc = npg_scope_begin();
        gctx c = {G[k].op, G[k].va, G[k].vb, G[k].axis, false};
        npg_array *xs[2] = {gleaf(base_shape(G[k].a, G[k].va), (uint64_t)k, false), gleaf(base_shape(G[k].b, G[k].vb), (uint64_t)k + 50, false)};
        char s1[96], s2[96];
        g_checks++;
        cr_expect_eq(npg_gradcheck(gfn, &c, xs, 2, NULL), NPG_OK, "gradcheck npg_%s(%s %s, %s %s): %s", names[G[k].op], sstr(G[k].a, s1),
                     VNAME[G[k].va], sstr(G[k].b, s2), VNAME[G[k].vb], npg_last_error());
        npg_scope_end(sc);
    }
    t_assert_no_leak(l0, "gradcheck matmul");
}

/* ------------------------------------------------------------------------
 * sort / argsort / sort_inplace
 * ------------------------------------------------------------------------ */

/* a before b? ascending: NaN last; descending: NaN first. Ties: not before
 * (the sort is stable). */
static bool before(double a, double b, bool desc) {
    if (isnan(a) || isnan(b)) return desc ? (isnan(a) && !isnan(b)) : (!isnan(a) && isnan(b));
    return desc ? a > b : a < b;
}
/* Stable host argsort of n values (insertion sort). */
static void host_argsort(const double *v, int64_t n, bool desc, int64_t *perm) {
    for (int64_t i = 0; i < n; i++) {
        int64_t j = i;
        while (j > 0 && before(v[i], v[perm[j - 1]], desc)) perm[j] = perm[j - 1], j--;
        perm[j] = i;
    }
}
/* Along axis a of shape s (NPG_FLAT: of the flattened array): the sorted
 * values and the indices. */
static void host_sort(npg_shape s, const double *hv, int axis, bool desc, double *vals, double *idx) {
    int64_t n = numel(s);
    if (axis == NPG_FLAT) s = (npg_shape){.ndim = 1, .dims = {n}}, axis = 0;
    int a = axis < 0 ? axis + s.ndim : axis;
    int64_t len = s.dims[a], line[512], perm[512];
    double lv[512];
    for (int64_t k = 0; k < n; k++) {
        int64_t ix[NPG_MAX_DIMS];
        unravel(k, s, ix);
        if (ix[a] != 0) continue; /* one line per start element */
        for (int64_t j = 0; j < len; j++) ix[a] = j, line[j] = ravel(ix, s), lv[j] = hv[line[j]];
        host_argsort(lv, len, desc, perm);
        for (int64_t j = 0; j < len; j++) vals[line[j]] = lv[perm[j]], idx[line[j]] = (double)perm[j];
    }
}

typedef struct scase {
    npg_shape s;
    vkind v;
} scase;
static const scase SCASES[] = {{SH(5, 7, 3), V_C}, {SH(5, 7, 3), V_T},  {SH(5, 7, 3), V_S2}, {SH(5, 7, 3), V_NEG},
                               {SH(13), V_C},      {SH(13), V_NEG},     {SH(3, 0, 2), V_C},  {SH(0), V_C},
                               {SH(1), V_C},       {SH(2, 64), V_C}};
#define NSC ((int)(sizeof SCASES / sizeof SCASES[0]))

Test(linalg_sort, sort_argsort_values) {
    t_require_device();
    t_live l0 = t_live_now();
    static const int axes[] = {0, 1, 2, -1, NPG_FLAT};
    for (int ci = 0; ci < NSC; ci++)
        for (int d = 0; d < NDTS; d++)
            for (int ai = 0; ai < 5; ai++)
                for (int desc = 0; desc < 2; desc++) {
                    const scase *c = &SCASES[ci];
                    int axis = axes[ai];
                    if (axis != NPG_FLAT && (axis >= c->s.ndim || axis < -c->s.ndim)) continue;
                    npg_scope sc = npg_scope_begin();
                    npg_dtype dt = DTS[d];
                    int64_t n = numel(c->s);
                    double *hv = malloc(sizeof(double) * (size_t)(n + 1)), *wv = malloc(sizeof(double) * (size_t)(n + 1));
                    double *wi = malloc(sizeof(double) * (size_t)(n + 1));
                    npg_array *x = mk(c->s, c->v, dt, (uint64_t)(ci * 7 + d), true, hv);
                    host_sort(c->s, hv, axis, desc, wv, wi);
                    npg_shape so = axis == NPG_FLAT ? (npg_shape){.ndim = 1, .dims = {n}} : c->s;
                    char label[512], b1[96];
                    snprintf(label, sizeof label, "%s %s %s axis %d desc %d", npg_dtype_name(dt), sstr(c->s, b1), VNAME[c->v], axis, desc);
                    npg_array *ys = npg_sort(x, axis, desc), *yi = npg_argsort(x, axis, desc);
                    g_checks += 2;
                    if (expect_meta(ys, dt, so, label)) expect_vals(ys, wv, n, 0, 0, label);
                    if (expect_meta(yi, NPG_INT64, so, label)) expect_vals(yi, wi, n, 0, 0, label);
                    if (axis != NPG_FLAT || c->v == V_C) { /* sort_inplace on a copy of the input's layout */
                        npg_array *z = mk(c->s, c->v, dt, (uint64_t)(ci * 7 + d), true, hv);
                        uint64_t v0 = npg_version(z);
                        g_checks++;
                        cr_expect_eq(npg_sort_inplace(z, axis, desc), NPG_OK, "sort_inplace %s: %s", label, npg_last_error());
                        if (n) cr_expect(npg_version(z) > v0, "sort_inplace %s: version not bumped", label);
                        expect_vals(z, wv, n, 0, 0, label);
                    }
                    free(hv), free(wv), free(wi);
                    npg_scope_end(sc);
                }
    t_assert_no_leak(l0, "sort sweep");
    cr_log_info("sort: %ld checks", g_checks);
}

Test(linalg_sort, sort_stability_and_nan) {
    t_require_device();
    npg_scope sc = npg_scope_begin();
    for (int f = 0; f < 2; f++) {
        npg_dtype dt = f ? NPG_FLOAT64 : NPG_FLOAT32;
        npg_array *x = t_arr((double[]){2, NAN, 1, 2, -INFINITY, NAN, 1, INFINITY, 2}, dt, (npg_shape)SH(9));
        t_assert_close(npg_argsort(x, 0, false), (double[]){4, 2, 6, 0, 3, 8, 7, 1, 5}, 9, 0, 0, "argsort: stable, NaN last");
        t_assert_close(npg_argsort(x, 0, true), (double[]){1, 5, 7, 0, 3, 8, 2, 6, 4}, 9, 0, 0, "argsort descending: stable, NaN first");
        t_assert_close(npg_sort(x, -1, true), (double[]){NAN, NAN, INFINITY, 2, 2, 2, 1, 1, -INFINITY}, 9, 0, 0, "sort descending");
    }
    npg_array *b = t_arr((double[]){1, 0, 1, 0, 0, 1}, NPG_BOOL, (npg_shape)SH(6));
    t_assert_close(npg_argsort(b, 0, false), (double[]){1, 3, 4, 0, 2, 5}, 6, 0, 0, "argsort bool stable");
    npg_array *big = npg_arange(0, 2000, 1, NPG_OPTS(.dtype = NPG_INT64, .device = t_dev()));
    npg_array *r = npg_remainder_scalar(big, 7);
    double *want = malloc(sizeof(double) * 2000);
    for (int i = 0, k = 0; i < 7; i++)
        for (int j = i; j < 2000; j += 7) want[k++] = j;
    t_assert_close(npg_argsort(r, 0, false), want, 2000, 0, 0, "argsort of 2000 keys with long tie runs is stable");
    free(want);
    npg_scope_end(sc);
}

/* Integer order is the dtype's: unsigned values above INT64_MAX after the
 * small ones, int8's negatives first; ties stable either way. */
Test(linalg_sort, sort_integer_extremes) {
    t_require_device();
    t_live l0 = t_live_now();
    npg_scope sc = npg_scope_begin();
    static const struct {
        npg_dtype dt;
        int n;
        uint64_t v[9];
        uint64_t asc[9], desc[9]; /* stable argsort */
    } C[] = {
        {NPG_UINT64, 9, {5, 1ull << 63, UINT64_MAX, 0, (1ull << 63) - 1, (1ull << 63) + 1, 1, UINT64_MAX - 1, 1ull << 63},
         {3, 6, 0, 4, 1, 8, 5, 7, 2}, {2, 7, 5, 1, 8, 4, 0, 6, 3}},
        {NPG_INT8, 8, {3, (uint64_t)-128, 127, (uint64_t)-1, 0, (uint64_t)-128, 1, (uint64_t)-2}, {1, 5, 7, 3, 4, 6, 0, 2},
         {2, 0, 6, 4, 3, 7, 1, 5}},
        {NPG_UINT32, 5, {2147483648u, 1, 4294967295u, 2147483647u, 2147483648u}, {1, 3, 0, 4, 2}, {2, 0, 4, 3, 1}},
        {NPG_INT16, 5, {(uint64_t)-32768, 32767, (uint64_t)-1, 256, (uint64_t)-32768}, {0, 4, 2, 3, 1}, {1, 3, 2, 0, 4}},
        {NPG_UINT16, 5, {65535, 32768, 32767, 0, 32768}, {3, 2, 1, 4, 0}, {0, 1, 4, 2, 3}},
        {NPG_INT64, 5, {(uint64_t)INT64_MIN, (uint64_t)INT64_MAX, (uint64_t)-1, 0, (uint64_t)INT64_MIN}, {0, 4, 2, 3, 1}, {1, 3, 2, 0, 4}},
    };
    for (int c = 0; c < (int)(sizeof C / sizeof C[0]); c++)
        for (int desc = 0; desc < 2; desc++) {
            char l[96];
            snprintf(l, sizeof l, "%s %s", npg_dtype_name(C[c].dt), desc ? "descending" : "ascending");
            const uint64_t *perm = desc ? C[c].desc : C[c].asc;
            uint64_t sorted[9];
            for (int i = 0; i < C[c].n; i++) sorted[i] = C[c].v[perm[i]];
            npg_array *x = from_bits(C[c].v, C[c].n, C[c].dt);
            g_checks += 3;
            expect_bits(npg_argsort(x, 0, desc), NPG_INT64, perm, C[c].n, l);
            expect_bits(npg_sort(x, -1, desc), C[c].dt, sorted, C[c].n, l);
            /* reversed view, sorted in place on a copy */
            npg_array *z = npg_copy(x);
            cr_expect_eq(npg_sort_inplace(z, 0, desc), NPG_OK, "sort_inplace %s: %s", l, npg_last_error());
            expect_bits(z, C[c].dt, sorted, C[c].n, l);
        }
    npg_scope_end(sc);
    t_assert_no_leak(l0, "integer extremes");
}

/* (value, index) in the dtype's order; ties by index: a stable sort. */
static npg_dtype g_cmp_dt;
static int g_cmp_desc;
typedef struct vi {
    uint64_t v;
    int64_t i;
} vi;
static int cmp_vi(const void *pa, const void *pb) {
    const vi *a = pa, *b = pb;
    int c;
    if (t_is_unsigned(g_cmp_dt) || g_cmp_dt == NPG_BOOL)
        c = (a->v > b->v) - (a->v < b->v);
    else
        c = ((int64_t)a->v > (int64_t)b->v) - ((int64_t)a->v < (int64_t)b->v);
    if (g_cmp_desc) c = -c;
    return c ? c : (a->i > b->i) - (a->i < b->i);
}

/* Long full-range integer rows (radix / merge paths) against a host stable
 * sort, exactly, along both axes of a (2, n) array. */
Test(linalg_sort, sort_random_integers) {
    t_require_device();
    t_live l0 = t_live_now();
    uint64_t st = 777;
    for (int di = 0; di < 8; di++)
        for (int desc = 0; desc < 2; desc++) {
            npg_scope sc = npg_scope_begin();
            npg_dtype dt = INT_DTS[di];
            const int64_t n = 1500;
            uint64_t *v = malloc(sizeof(uint64_t) * 2 * n), *ws = malloc(sizeof(uint64_t) * 2 * n), *wi = malloc(sizeof(uint64_t) * 2 * n);
            for (int64_t i = 0; i < 2 * n; i++) {
                uint64_t r = mix64(&st);
                v[i] = t_wrap_bits(dt, i % 3 == 0 ? r % 7 : r); /* ties and extremes */
            }
            vi *row = malloc(sizeof(vi) * (size_t)n);
            g_cmp_dt = dt, g_cmp_desc = desc;
            for (int r = 0; r < 2; r++) {
                for (int64_t i = 0; i < n; i++) row[i] = (vi){v[r * n + i], i};
                qsort(row, (size_t)n, sizeof(vi), cmp_vi);
                for (int64_t i = 0; i < n; i++) ws[r * n + i] = row[i].v, wi[r * n + i] = (uint64_t)row[i].i;
            }
            npg_array *x = npg_reshape(from_bits(v, (int)(2 * n), dt), (npg_shape)SH(2, n));
            char l[96];
            snprintf(l, sizeof l, "%s (2, %lld) axis 1 %s", npg_dtype_name(dt), (long long)n, desc ? "descending" : "ascending");
            g_checks += 2;
            expect_bits(npg_reshape(npg_sort(x, 1, desc), (npg_shape)SH(2 * n)), dt, ws, (int)(2 * n), l);
            expect_bits(npg_reshape(npg_argsort(x, -1, desc), (npg_shape)SH(2 * n)), NPG_INT64, wi, (int)(2 * n), l);
            /* the transposed (n, 2) along axis 0: the same lines */
            npg_array *xt = npg_T(x);
            snprintf(l, sizeof l, "%s (%lld, 2) transposed axis 0 %s", npg_dtype_name(dt), (long long)n, desc ? "descending" : "ascending");
            expect_bits(npg_reshape(npg_T(npg_argsort(xt, 0, desc)), (npg_shape)SH(2 * n)), NPG_INT64, wi, (int)(2 * n), l);
            free(v), free(ws), free(wi), free(row);
            npg_scope_end(sc);
        }
    t_assert_no_leak(l0, "random integer sort");
}

Test(linalg_sort, gradcheck_sort) {
    t_require_device();
    t_live l0 = t_live_now();
    static const int axes[] = {0, 1, -1, NPG_FLAT};
    for (int ai = 0; ai < 4; ai++)
        for (int desc = 0; desc < 2; desc++)
            for (int v = 0; v < 2; v++) {
                npg_scope sc = npg_scope_begin();
                gctx c = {4, v ? V_T : V_C, V_C, axes[ai], desc};
                npg_array *x = gleaf((npg_shape)SH(3, 4), (uint64_t)(ai + 3 * desc + 1), true);
                g_checks++;
                cr_expect_eq(npg_gradcheck(gfn, &c, &x, 1, NULL), NPG_OK, "gradcheck sort axis %d desc %d %s: %s", axes[ai], desc,
                             VNAME[c.va], npg_last_error());
                npg_scope_end(sc);
            }
    t_assert_no_leak(l0, "gradcheck sort");
}

/* ------------------------------------------------------------------------
 * nonzero / count_nonzero
 * ------------------------------------------------------------------------ */

Test(linalg_sort, nonzero_values) {
    t_require_device();
    t_live l0 = t_live_now();
    for (int ci = 0; ci < NSC; ci++)
        for (int d = 0; d < NDTS; d++) {
            const scase *c = &SCASES[ci];
            npg_scope sc = npg_scope_begin();
            npg_dtype dt = DTS[d];
            int64_t n = numel(c->s), cnt = 0;
            double *hv = malloc(sizeof(double) * (size_t)(n + 1)), *want = malloc(sizeof(double) * (size_t)(8 * n + 1));
            npg_array *x = mk(c->s, c->v, dt, (uint64_t)(ci * 13 + d), true, hv);
            for (int64_t k = 0; k < n; k++) cnt += hv[k] != 0; /* NaN is nonzero */
            for (int64_t k = 0, j = 0; k < n; k++) {
                if (hv[k] == 0) continue;
                int64_t ix[NPG_MAX_DIMS];
                unravel(k, c->s, ix);
                for (int i = 0; i < c->s.ndim; i++) want[i * cnt + j] = (double)ix[i];
                j++;
            }
            char label[512], b1[96];
            snprintf(label, sizeof label, "npg_nonzero(%s %s %s)", npg_dtype_name(dt), sstr(c->s, b1), VNAME[c->v]);
            npg_array *y = npg_nonzero(x);
            g_checks += 2;
            if (expect_meta(y, NPG_INT64, (npg_shape){.ndim = 2, .dims = {c->s.ndim, cnt}}, label))
                expect_vals(y, want, c->s.ndim * cnt, 0, 0, label);
            int64_t got = npg_count_nonzero(x);
            cr_expect_eq(got, cnt, "npg_count_nonzero(%s %s %s): %lld, want %lld", npg_dtype_name(dt), b1, VNAME[c->v], (long long)got,
                         (long long)cnt);
            free(hv), free(want);
            npg_scope_end(sc);
        }
    npg_scope sc = npg_scope_begin();
    cr_expect_eq(npg_count_nonzero(t_arr((double[]){0}, NPG_FLOAT32, (npg_shape)SH0)), 0, "count_nonzero of a 0-d zero");
    cr_expect_eq(npg_count_nonzero(t_arr((double[]){NAN}, NPG_FLOAT32, (npg_shape)SH0)), 1, "count_nonzero of a 0-d NaN");
    /* only high bits set still count (uint64 2^63, 2^32; int16 -32768) */
    npg_array *u64 = from_bits(UB64(0, 1ull << 63, 0, 1ull << 32), 4, NPG_UINT64);
    expect_bits(npg_nonzero(u64), NPG_INT64, UB64(1, 3), 2, "nonzero(uint64 [0, 2^63, 0, 2^32])");
    cr_expect_eq(npg_count_nonzero(u64), 2, "count_nonzero(uint64 high bits)");
    npg_array *i16 = from_bits(UB64(0, (uint64_t)-32768, 256, 65536 /* wraps to 0 */), 4, NPG_INT16);
    expect_bits(npg_nonzero(i16), NPG_INT64, UB64(1, 2), 2, "nonzero(int16 [0, -32768, 256, 0])");
    cr_expect_eq(npg_count_nonzero(npg_astype(u64, NPG_UINT32)), 0, "count_nonzero(uint32 [0, 0, 0, 0]): 2^32 and 2^63 wrap to 0");
    npg_scope_end(sc);
    t_assert_no_leak(l0, "nonzero sweep");
}

/* ------------------------------------------------------------------------
 * Errors: status, message naming the function, no leak, inputs unchanged
 * ------------------------------------------------------------------------ */

#define FAILS(expr, st, needle)                                                                                         \
    do {                                                                                                                \
        t_live b_ = t_live_now();                                                                                       \
        npg_clear_error();                                                                                              \
        npg_array *r_ = (expr);                                                                                         \
        cr_expect(r_ == NULL, "%s must fail", #expr);                                                                   \
        cr_expect_eq(npg_last_status(), st, "%s: status %s, want %s (%s)", #expr, npg_status_string(npg_last_status()), \
                     npg_status_string(st), npg_last_error());                                                          \
        cr_expect(strstr(npg_last_error(), needle) != NULL, "%s: message '%s' does not contain '%s'", #expr, npg_last_error(), needle); \
        t_live a_ = t_live_now();                                                                                       \
        cr_expect(a_.arrays == b_.arrays && a_.storages == b_.storages, "%s: failed call leaked", #expr);              \
    } while (0)
#define FAILS_ST(expr, st, needle)                                                                                      \
    do {                                                                                                                \
        t_live b_ = t_live_now();                                                                                       \
        npg_clear_error();                                                                                              \
        npg_status s_ = (expr);                                                                                         \
        cr_expect_eq(s_, st, "%s: %s, want %s (%s)", #expr, npg_status_string(s_), npg_status_string(st), npg_last_error()); \
        cr_expect(strstr(npg_last_error(), needle) != NULL, "%s: message '%s' does not contain '%s'", #expr, npg_last_error(), needle); \
        t_live a_ = t_live_now();                                                                                       \
        cr_expect(a_.arrays == b_.arrays && a_.storages == b_.storages, "%s: failed call leaked", #expr);              \
    } while (0)

Test(linalg_sort, errors) {
    t_require_device();
    npg_scope sc = npg_scope_begin();
    double v[60];
    for (int i = 0; i < 60; i++) v[i] = 0.5 * i - 7;
    npg_array *a = t_arr(v, NPG_FLOAT32, (npg_shape)SH(3, 4)), *b = t_arr(v, NPG_FLOAT32, (npg_shape)SH(5, 6));
    npg_array *v4 = t_arr(v, NPG_FLOAT32, (npg_shape)SH(4)), *v5 = t_arr(v, NPG_FLOAT32, (npg_shape)SH(5));
    npg_array *s = t_arr(v, NPG_FLOAT32, (npg_shape)SH0), *b3 = t_arr(v, NPG_FLOAT32, (npg_shape)SH(2, 3, 4));
    npg_array *c3 = t_arr(v, NPG_FLOAT32, (npg_shape)SH(3, 4, 5)), *g = t_arr(v, NPG_FLOAT64, (npg_shape)SH(3, 4));
    npg_array *bc = npg_broadcast_to(v4, (npg_shape)SH(3, 4)), *tv = npg_T(a);
    npg_set_requires_grad(g, true);
    FAILS(npg_matmul(a, b), NPG_ERR_SHAPE, "npg_matmul: shapes (3,4) and (5,6) are not aligned (4 != 5)");
    FAILS(npg_matmul(v4, v5), NPG_ERR_SHAPE, "npg_matmul: shapes (4,) and (5,) are not aligned (4 != 5)");
    FAILS(npg_matmul(a, s), NPG_ERR_SHAPE, "npg_matmul");
    FAILS(npg_matmul(b3, c3), NPG_ERR_SHAPE, "npg_matmul");
    FAILS(npg_matmul(NULL, a), NPG_ERR_NULL_ARG, "npg_matmul");
    FAILS(npg_matmul(a, NULL), NPG_ERR_NULL_ARG, "npg_matmul");
    FAILS(npg_vecdot(a, b, -1), NPG_ERR_SHAPE, "npg_vecdot");
    FAILS(npg_vecdot(a, a, 2), NPG_ERR_AXIS, "npg_vecdot");
    FAILS(npg_vecdot(NULL, a, 0), NPG_ERR_NULL_ARG, "npg_vecdot");
    FAILS(npg_dot(b3, a), NPG_ERR_SHAPE, "npg_dot");
    FAILS(npg_dot(v4, v5), NPG_ERR_SHAPE, "npg_dot");
    FAILS(npg_dot(a, a), NPG_ERR_SHAPE, "npg_dot");
    FAILS(npg_dot(a, NULL), NPG_ERR_NULL_ARG, "npg_dot");
    FAILS(npg_outer(NULL, a), NPG_ERR_NULL_ARG, "npg_outer");
    FAILS(npg_sort(s, 0, false), NPG_ERR_SHAPE, "npg_sort");
    FAILS(npg_sort(a, 2, false), NPG_ERR_AXIS, "npg_sort");
    FAILS(npg_sort(a, -3, true), NPG_ERR_AXIS, "npg_sort");
    FAILS(npg_sort(NULL, 0, false), NPG_ERR_NULL_ARG, "npg_sort");
    FAILS(npg_argsort(s, 0, false), NPG_ERR_SHAPE, "npg_argsort");
    FAILS(npg_argsort(a, 2, false), NPG_ERR_AXIS, "npg_argsort");
    FAILS(npg_argsort(NULL, 0, false), NPG_ERR_NULL_ARG, "npg_argsort");
    FAILS(npg_nonzero(s), NPG_ERR_SHAPE, "npg_nonzero");
    FAILS(npg_nonzero(NULL), NPG_ERR_NULL_ARG, "npg_nonzero");
    FAILS_ST(npg_sort_inplace(g, 0, false), NPG_ERR_INPLACE, "npg_sort_inplace");
    FAILS_ST(npg_sort_inplace(bc, 0, false), NPG_ERR_INPLACE, "npg_sort_inplace");
    FAILS_ST(npg_sort_inplace(tv, NPG_FLAT, false), NPG_ERR_INVALID_ARG, "npg_sort_inplace");
    FAILS_ST(npg_sort_inplace(a, 2, false), NPG_ERR_AXIS, "npg_sort_inplace");
    FAILS_ST(npg_sort_inplace(s, 0, false), NPG_ERR_SHAPE, "npg_sort_inplace");
    FAILS_ST(npg_sort_inplace(NULL, 0, false), NPG_ERR_NULL_ARG, "npg_sort_inplace");
    npg_clear_error();
    cr_expect_eq(npg_count_nonzero(NULL), -1, "count_nonzero(NULL) is -1");
    t_assert_error(NPG_ERR_NULL_ARG, "npg_count_nonzero");
    /* a NULL from a failed call keeps that call's error */
    FAILS(npg_sort(npg_matmul(a, b), 0, false), NPG_ERR_SHAPE, "npg_matmul: shapes (3,4) and (5,6)");
    FAILS(npg_outer(npg_matmul(a, b), a), NPG_ERR_SHAPE, "npg_matmul");
    FAILS(npg_matmul(npg_dot(b3, a), a), NPG_ERR_SHAPE, "npg_dot");
    double *got = t_read(a);
    t_assert_close_buf(got, v, 12, 0, 0, "a unchanged");
    free(got);
    got = t_read(g);
    t_assert_close_buf(got, v, 12, 0, 0, "g unchanged by the refused in-place sort");
    free(got);
    got = t_read(tv);
    double tw[12];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++) tw[i * 3 + j] = v[j * 4 + i];
    t_assert_close_buf(got, tw, 12, 0, 0, "transposed view unchanged by the refused sort");
    free(got);
    npg_clear_error();
    npg_scope_end(sc);
}
