/*
 * test_decomp.c — the linear algebra of npg/linalg.h (src/common/ops_decomp.c
 * on LAPACK / cuSOLVER): cholesky, qr, eigh, eigvalsh, svd, svdvals, solve,
 * solve_triangular, inv, det, slogdet, pinv, matrix_rank, matrix_power,
 * vector_norm, matrix_norm and cross, on the device under test.
 *
 * Values are checked two ways, both in float64 on the host: properties of
 * the result (A = L L^T with L lower triangular and a positive diagonal,
 * Q^T Q = I, A = Q R, A V = V diag(w), the residual of A X = B, the four
 * Moore-Penrose conditions...) against inputs whose answers are known by
 * construction (Q diag(w) Q^T with a chosen spectrum, Q1 S Q2^T with chosen
 * singular values) or computed here (LU, Gauss-Jordan, substitution); and
 * constants computed with NumPy 1.24 (marked "NumPy 1.24"). Shapes: odd
 * sizes, tall and wide, batches, broadcast batches, empty matrices and empty
 * batches; layouts: contiguous, matrix-transposed (column-major), fully
 * transposed, step-2 and reversed views; float32 (1e-4 relative) and float64
 * (1e-10); integer and bool inputs (float32 results). Every value call also
 * checks that its input was not modified (LAPACK works in place).
 * Gradients through npg_gradcheck in float64 (sign-invariant functions of
 * eigenvectors and singular vectors), second order through create_graph
 * against finite differences, and every error path (status, a message
 * naming the function, outputs NULL, inputs unchanged, nothing leaked).
 */
#include "test_util.h"
#include "ops_shared.h"

#include <criterion/logging.h>
#include <stdio.h>

static void setup(void) { t_require_device(); }
TestSuite(decomp, .init = setup);

#define OPT(...) NPG_OPTS(.device = t_dev(), __VA_ARGS__)

static long g_checks;

/* ------------------------------------------------------------------------
 * Inputs: host values laid out as views
 * ------------------------------------------------------------------------ */

/* ops_shared's view kinds, plus the matrix transpose of a base array (a
 * column-major matrix: LAPACK's own layout, which an in-place
 * implementation might overwrite). */
enum { L_C = V_C, L_T = V_T, L_S2 = V_S2, L_NEG = V_NEG, L_MT };
static const char *const LNAME[] = {"contiguous", "transposed", "step-2 slice", "reversed", "matrix-transposed"};

/* An array of logical shape s and logical (row-major) values hv, built as
 * the view `lay` of a base array; entries of the base the view skips hold
 * junk. */
static npg_array *mk(npg_shape s, int lay, npg_dtype dt, const double *hv) {
    if (s.ndim == 0 || (lay == L_MT && s.ndim < 2)) lay = L_C;
    npg_shape bs = s;
    if (lay == L_MT) {
        bs.dims[s.ndim - 1] = s.dims[s.ndim - 2];
        bs.dims[s.ndim - 2] = s.dims[s.ndim - 1];
    } else {
        bs = base_shape(s, (vkind)lay);
    }
    int64_t nb = numel(bs), n = numel(s);
    double *bv = malloc(sizeof(double) * (size_t)(nb + 1));
    for (int64_t k = 0; k < nb; k++) bv[k] = 77 + (double)(k % 5);
    for (int64_t k = 0; k < n; k++) {
        int64_t off;
        if (lay == L_MT) {
            int64_t idx[NPG_MAX_DIMS] = {0};
            unravel(k, s, idx);
            int64_t t = idx[s.ndim - 1];
            idx[s.ndim - 1] = idx[s.ndim - 2];
            idx[s.ndim - 2] = t;
            off = ravel(idx, bs);
        } else {
            off = view_offset(k, s, (vkind)lay, bs);
        }
        bv[off] = hv[k];
    }
    npg_array *base = t_arr(bv, dt, bs);
    npg_array *x = lay == L_MT ? npg_matrix_transpose(base) : view_of(base, (vkind)lay);
    cr_assert(x, "building a %s view: %s", LNAME[lay], npg_last_error());
    free(bv);
    return x;
}

static double *dalloc(int64_t n) {
    double *p = calloc((size_t)(n > 0 ? n : 1), sizeof(double));
    cr_assert(p);
    return p;
}
/* Values as the dtype stores them (the host reference uses exactly those). */
static void round_dt(double *v, int64_t n, npg_dtype dt) {
    if (dt == NPG_FLOAT32)
        for (int64_t i = 0; i < n; i++) v[i] = (double)(float)v[i];
}
static double tol_of(npg_dtype dt) { return dt == NPG_FLOAT64 ? 1e-10 : 1e-4; }
static double amax(const double *v, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++)
        if (fabs(v[i]) > m) m = fabs(v[i]);
    return m;
}

/* The shape of the batch (s without its last `core` axes) and s's batch
 * with tail dims appended. */
static npg_shape batch_of(npg_shape s, int core) {
    npg_shape b = {.ndim = s.ndim - core};
    for (int i = 0; i < b.ndim; i++) b.dims[i] = s.dims[i];
    return b;
}
static npg_shape with_tail(npg_shape b, int nt, int64_t d0, int64_t d1) {
    npg_shape s = b;
    if (nt >= 1) s.dims[s.ndim++] = d0;
    if (nt >= 2) s.dims[s.ndim++] = d1;
    return s;
}

/* y's dtype and shape (expect: the sweep goes on). */
static bool expect_meta(const npg_array *y, npg_dtype dt, npg_shape s, const char *label) {
    char b1[96], b2[96];
    g_checks++;
    cr_expect(y != NULL, "%s: NULL: %s", label, npg_last_error());
    if (!y) return false;
    cr_expect_eq(npg_dtype_of(y), dt, "%s: dtype %s, want %s", label, npg_dtype_name(npg_dtype_of(y)), npg_dtype_name(dt));
    bool ok = same_shape(npg_shape_of(y), s);
    cr_expect(ok, "%s: shape %s, want %s", label, sstr(npg_shape_of(y), b1), sstr(s, b2));
    return ok && npg_dtype_of(y) == dt;
}
/* |got - want| <= tol * scale element by element (scale at least 1e-300). */
static bool near(const double *got, const double *want, int64_t n, double tol, double scale, const char *label,
                 const char *what) {
    if (scale < 1e-300) scale = 1e-300;
    for (int64_t i = 0; i < n; i++) {
        bool ok = isnan(want[i]) ? isnan(got[i]) : isinf(want[i]) ? got[i] == want[i] : fabs(got[i] - want[i]) <= tol * scale;
        if (!ok) {
            cr_expect(0, "%s: %s: element %lld: got %.17g, want %.17g (tol %g x scale %g)", label, what, (long long)i, got[i],
                      want[i], tol, scale);
            return false;
        }
    }
    return true;
}

/* ------------------------------------------------------------------------
 * Host linear algebra in double (row-major, one matrix at a time)
 * ------------------------------------------------------------------------ */

static void h_mm(const double *a, const double *b, double *c, int64_t m, int64_t k, int64_t n) {
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0;
            for (int64_t l = 0; l < k; l++) s += a[i * k + l] * b[l * n + j];
            c[i * n + j] = s;
        }
}
static void h_tr(const double *a, double *t, int64_t m, int64_t n) {
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) t[j * m + i] = a[i * n + j];
}
static void h_eye(double *e, int64_t n) {
    for (int64_t i = 0; i < n * n; i++) e[i] = 0;
    for (int64_t i = 0; i < n; i++) e[i * n + i] = 1;
}
/* Determinant by LU with partial pivoting. */
static double h_det(const double *a, int64_t n) {
    double *w = dalloc(n * n), d = 1;
    memcpy(w, a, sizeof(double) * (size_t)(n * n));
    for (int64_t c = 0; c < n; c++) {
        int64_t p = c;
        for (int64_t r = c + 1; r < n; r++)
            if (fabs(w[r * n + c]) > fabs(w[p * n + c])) p = r;
        if (w[p * n + c] == 0) {
            free(w);
            return 0;
        }
        if (p != c) {
            for (int64_t j = 0; j < n; j++) {
                double t = w[c * n + j];
                w[c * n + j] = w[p * n + j];
                w[p * n + j] = t;
            }
            d = -d;
        }
        d *= w[c * n + c];
        for (int64_t r = c + 1; r < n; r++) {
            double f = w[r * n + c] / w[c * n + c];
            for (int64_t j = c; j < n; j++) w[r * n + j] -= f * w[c * n + j];
        }
    }
    free(w);
    return d;
}
/* X = A^-1 B (Gauss-Jordan with partial pivoting), B (n, k). */
static void h_solve(const double *a, const double *b, double *x, int64_t n, int64_t k) {
    double *w = dalloc(n * n);
    memcpy(w, a, sizeof(double) * (size_t)(n * n));
    memcpy(x, b, sizeof(double) * (size_t)(n * k));
    for (int64_t c = 0; c < n; c++) {
        int64_t p = c;
        for (int64_t r = c + 1; r < n; r++)
            if (fabs(w[r * n + c]) > fabs(w[p * n + c])) p = r;
        for (int64_t j = 0; j < n; j++) {
            double t = w[c * n + j];
            w[c * n + j] = w[p * n + j];
            w[p * n + j] = t;
        }
        for (int64_t j = 0; j < k; j++) {
            double t = x[c * k + j];
            x[c * k + j] = x[p * k + j];
            x[p * k + j] = t;
        }
        double piv = w[c * n + c];
        for (int64_t j = 0; j < n; j++) w[c * n + j] /= piv;
        for (int64_t j = 0; j < k; j++) x[c * k + j] /= piv;
        for (int64_t r = 0; r < n; r++) {
            if (r == c) continue;
            double f = w[r * n + c];
            for (int64_t j = 0; j < n; j++) w[r * n + j] -= f * w[c * n + j];
            for (int64_t j = 0; j < k; j++) x[r * k + j] -= f * x[c * k + j];
        }
    }
    free(w);
}
static void h_inv(const double *a, double *out, int64_t n) {
    double *e = dalloc(n * n);
    h_eye(e, n);
    h_solve(a, e, out, n, n);
    free(e);
}
/* Lower Cholesky factor of SPD a (reads the lower triangle). */
static void h_chol(const double *a, double *l, int64_t n) {
    for (int64_t i = 0; i < n * n; i++) l[i] = 0;
    for (int64_t j = 0; j < n; j++) {
        double s = a[j * n + j];
        for (int64_t k = 0; k < j; k++) s -= l[j * n + k] * l[j * n + k];
        l[j * n + j] = sqrt(s);
        for (int64_t i = j + 1; i < n; i++) {
            double t = a[i * n + j];
            for (int64_t k = 0; k < j; k++) t -= l[i * n + k] * l[j * n + k];
            l[i * n + j] = t / l[j * n + j];
        }
    }
}
/* X = T^-1 B, T the upper / lower triangle of a (diagonal 1 when unit). */
static void h_trisolve(const double *a, const double *b, double *x, int64_t n, int64_t k, bool upper, bool unit) {
    for (int64_t j = 0; j < k; j++)
        for (int64_t ii = 0; ii < n; ii++) {
            int64_t i = upper ? n - 1 - ii : ii;
            double s = b[i * k + j];
            if (upper)
                for (int64_t l = i + 1; l < n; l++) s -= a[i * n + l] * x[l * k + j];
            else
                for (int64_t l = 0; l < i; l++) s -= a[i * n + l] * x[l * k + j];
            x[i * k + j] = unit ? s : s / a[i * n + i];
        }
}

/* A random orthogonal n x n matrix: a product of Givens rotations. */
static void rand_orth(double *q, int64_t n, uint64_t seed) {
    h_eye(q, n);
    double th[1];
    for (int64_t p = 0; p + 1 < n; p++)
        for (int64_t r = p + 1; r < n; r++) {
            t_fill_uniform(th, 1, 0, 6.283185307179586, seed * 131 + (uint64_t)(p * 17 + r));
            double c = cos(th[0]), s = sin(th[0]);
            for (int64_t i = 0; i < n; i++) {
                double x = q[i * n + p], y = q[i * n + r];
                q[i * n + p] = c * x - s * y;
                q[i * n + r] = s * x + c * y;
            }
        }
}
/* a (m x n) = Q1[:, :k] diag(sv) Q2[:, :k]^T, k = min(m, n); pinv (n x m,
 * optional) = Q2[:, :k] diag(1 / sv) Q1[:, :k]^T (zero where sv == 0). */
static void spectral(double *a, double *pinv, int64_t m, int64_t n, const double *sv, uint64_t seed) {
    int64_t k = m < n ? m : n;
    double *q1 = dalloc(m * m), *q2 = dalloc(n * n);
    rand_orth(q1, m, seed * 2 + 1);
    rand_orth(q2, n, seed * 2 + 2);
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0;
            for (int64_t l = 0; l < k; l++) s += q1[i * m + l] * sv[l] * q2[j * n + l];
            a[i * n + j] = s;
        }
    if (pinv)
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < m; j++) {
                double s = 0;
                for (int64_t l = 0; l < k; l++)
                    if (sv[l] != 0) s += q2[i * n + l] / sv[l] * q1[j * m + l];
                pinv[i * m + j] = s;
            }
    free(q1), free(q2);
}

/* Input generators for a batch of nb matrices. The known spectra depend on
 * the matrix's index b in the batch. */
static void sv_of(double *sv, int64_t k, int64_t b) { /* descending, gaps 1.5, min 0.5 */
    for (int64_t i = 0; i < k; i++) sv[i] = 1.5 * (double)(k - 1 - i) + 0.5 + 0.1 * (double)b;
}
static void eig_of(double *w, int64_t n, int64_t b) { /* ascending, gaps 3, signs mixed */
    for (int64_t i = 0; i < n; i++) w[i] = -4 + 3 * (double)i + 0.25 * (double)b;
}
/* Symmetric Q diag(w) Q^T (exactly symmetric). */
static void gen_sym(double *v, int64_t nb, int64_t n, uint64_t seed) {
    double *w = dalloc(n), *q = dalloc(n * n);
    for (int64_t b = 0; b < nb; b++) {
        eig_of(w, n, b);
        rand_orth(q, n, seed * 1000 + (uint64_t)b);
        double *a = v + b * n * n;
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j <= i; j++) {
                double s = 0;
                for (int64_t l = 0; l < n; l++) s += q[i * n + l] * w[l] * q[j * n + l];
                a[i * n + j] = a[j * n + i] = s;
            }
    }
    free(q), free(w);
}
/* Symmetric positive definite: M M^T + I, M uniform in [-1, 1]. */
static void gen_spd(double *v, int64_t nb, int64_t n, uint64_t seed) {
    double *m = dalloc(n * n);
    for (int64_t b = 0; b < nb; b++) {
        t_fill_uniform(m, n * n, -1, 1, seed * 1000 + (uint64_t)b);
        double *a = v + b * n * n;
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j <= i; j++) {
                double s = i == j ? 1 : 0;
                for (int64_t l = 0; l < n; l++) s += m[i * n + l] * m[j * n + l];
                a[i * n + j] = a[j * n + i] = s;
            }
    }
    free(m);
}
/* Square, well conditioned (diagonally dominant); odd matrices of the batch
 * have their first row negated, so determinants of both signs appear. */
static void gen_sq(double *v, int64_t nb, int64_t n, uint64_t seed) {
    for (int64_t b = 0; b < nb; b++) {
        double *a = v + b * n * n;
        t_fill_uniform(a, n * n, -1, 1, seed * 1000 + (uint64_t)b);
        for (int64_t i = 0; i < n; i++) a[i * n + i] += (a[i * n + i] < 0 ? -1 : 1) * ((double)n + 1);
        if (b % 2)
            for (int64_t j = 0; j < n; j++) a[j] = -a[j];
    }
}
/* Rectangular with known singular values sv_of(k, b). */
static void gen_spec(double *v, double *pinv, int64_t nb, int64_t m, int64_t n, uint64_t seed) {
    int64_t k = m < n ? m : n;
    double *sv = dalloc(k);
    for (int64_t b = 0; b < nb; b++) {
        sv_of(sv, k, b);
        spectral(v + b * m * n, pinv ? pinv + b * m * n : NULL, m, n, sv, seed * 1000 + (uint64_t)b);
    }
    free(sv);
}

/* Q^T Q = I for q (m x c) (columns orthonormal). */
static bool check_orth_cols(const double *q, int64_t m, int64_t c, double tol, const char *label, const char *what) {
    double *qt = dalloc(c * m), *p = dalloc(c * c), *e = dalloc(c * c);
    h_tr(q, qt, m, c);
    h_mm(qt, q, p, c, m, c);
    h_eye(e, c);
    bool ok = near(p, e, c * c, tol, 1, label, what);
    free(qt), free(p), free(e);
    return ok;
}

/* ------------------------------------------------------------------------
 * Shapes and layouts of the sweeps
 * ------------------------------------------------------------------------ */

static const npg_dtype FDT[2] = {NPG_FLOAT32, NPG_FLOAT64};
static const int LAYS[5] = {L_C, L_MT, L_T, L_S2, L_NEG};
#define NLAYS 5
/* Square inputs: odd sizes, a (2,3) batch, empty matrices and batches. */
static const npg_shape SQ[] = {SH(1, 1), SH(3, 3), SH(5, 5), SH(2, 3, 4, 4), SH(0, 0), SH(0, 3, 3), SH(2, 0, 0)};
#define NSQ ((int)(sizeof SQ / sizeof SQ[0]))
/* Rectangular inputs: tall, wide, square, batches, empty. */
static const npg_shape RECT[] = {SH(4, 2), SH(2, 5), SH(3, 3), SH(1, 1), SH(5, 1), SH(2, 3, 4, 3), SH(3, 2, 5),
                                 SH(3, 0), SH(0, 3), SH(0, 4, 2), SH(2, 0, 0)};
#define NRECT ((int)(sizeof RECT / sizeof RECT[0]))

static int64_t nbatch(npg_shape s, int core) { return numel(batch_of(s, core)); }
static char *label_of(char *buf, size_t len, const char *fn, npg_dtype dt, npg_shape s, int lay, const char *extra) {
    char b[96];
    snprintf(buf, len, "%s(%s %s %s%s%s)", fn, npg_dtype_name(dt), sstr(s, b), LNAME[lay], extra ? ", " : "", extra ? extra : "");
    return buf;
}

/* ------------------------------------------------------------------------
 * cholesky
 * ------------------------------------------------------------------------ */

Test(decomp, cholesky_values) {
    t_live l0 = t_live_now();
    for (int si = 0; si < NSQ; si++)
        for (int li = 0; li < NLAYS; li++)
            for (int di = 0; di < 2; di++)
                for (int up = 0; up < 2; up++) {
                    npg_scope sc = npg_scope_begin();
                    npg_shape s = SQ[si];
                    npg_dtype dt = FDT[di];
                    int64_t n = s.dims[s.ndim - 1], nb = nbatch(s, 2), ne = numel(s);
                    double tol = tol_of(dt), *hv = dalloc(ne), *l = dalloc(n * n), *p = dalloc(n * n), *t = dalloc(n * n);
                    gen_spd(hv, nb, n, (uint64_t)(si * 10 + li));
                    round_dt(hv, ne, dt);
                    npg_array *x = mk(s, LAYS[li], dt, hv);
                    char label[256];
                    label_of(label, sizeof label, "npg_linalg_cholesky", dt, s, LAYS[li], up ? "upper" : "lower");
                    npg_array *y = npg_linalg_cholesky(x, up);
                    if (expect_meta(y, dt, s, label)) {
                        double *g = t_read(y);
                        for (int64_t b = 0; b < nb; b++) {
                            const double *a = hv + b * n * n, *f = g + b * n * n;
                            bool tri = true, pos = true;
                            for (int64_t i = 0; i < n; i++) {
                                pos &= f[i * n + i] > 0;
                                for (int64_t j = 0; j < n; j++)
                                    if ((up ? i > j : i < j) && f[i * n + j] != 0) tri = false;
                            }
                            cr_expect(tri, "%s: matrix %lld is not %s triangular (exact zeros)", label, (long long)b, up ? "upper" : "lower");
                            cr_expect(pos, "%s: matrix %lld: the diagonal is not positive", label, (long long)b);
                            h_chol(a, l, n);
                            if (up) {
                                h_tr(l, t, n, n);
                                memcpy(l, t, sizeof(double) * (size_t)(n * n));
                            }
                            near(f, l, n * n, tol, amax(l, n * n), label, "factor vs host Cholesky");
                            h_tr(f, t, n, n); /* A = L L^T, or U^T U */
                            if (up)
                                h_mm(t, f, p, n, n, n);
                            else
                                h_mm(f, t, p, n, n, n);
                            near(p, a, n * n, tol, amax(a, n * n), label, "reconstruction");
                        }
                        free(g);
                    }
                    t_expect_unchanged(x, hv, ne, label);
                    free(hv), free(l), free(p), free(t);
                    npg_scope_end(sc);
                }
    t_assert_no_leak(l0, "cholesky sweep");
    cr_log_info("cholesky_values: %ld checks", g_checks);
}

/* NumPy 1.24: np.linalg.cholesky([[4,1,2],[1,5,3],[2,3,6]]) */
static const double A3[9] = {4, 1, 2, 1, 5, 3, 2, 3, 6};
static const double NP_CHOL_A3[9] = {2.0, 0.0, 0.0, 0.5, 2.179449471770337, 0.0, 1.0, 1.1470786693528088, 1.9194297398747862};
/* NumPy 1.24: np.linalg.eigvalsh(A3) and eigh(A3)[1], each column's
 * largest-magnitude component made positive */
static const double NP_EIGVALSH_A3[3] = {2.194397167422409, 3.3867701566075485, 9.418832675970037};
static const double NP_EIGVEC_A3[9] = {-0.44122469687346505, 0.8155834192895001, 0.3743587224160361,
                                       -0.5773502691896252,  -0.5773502691896263, 0.5773502691896256,
                                       0.6870134158337713,   0.03860508835262344, 0.725618504186394};

Test(decomp, cholesky_numpy_lower_triangle_and_dtypes) {
    t_live l0 = t_live_now();
    npg_scope sc = npg_scope_begin();
    double ut[9];
    h_tr(NP_CHOL_A3, ut, 3, 3);
    for (int di = 0; di < 2; di++) {
        npg_dtype dt = FDT[di];
        double tol = tol_of(dt) * 10;
        npg_array *x = t_arr(A3, dt, NPG_SHAPE(3, 3));
        t_assert_close(npg_linalg_cholesky(x, false), NP_CHOL_A3, 9, tol, tol, "cholesky(A3) vs NumPy");
        t_assert_close(npg_linalg_cholesky(x, true), ut, 9, tol, tol, "cholesky(A3, upper) vs NumPy's L^T");
        /* only the lower triangle is read: NaN and junk above the diagonal */
        double junk[9] = {4, NAN, 1e30, 1, 5, -7, 2, 3, 6};
        npg_array *xj = t_arr(junk, dt, NPG_SHAPE(3, 3));
        t_assert_close(npg_linalg_cholesky(xj, false), NP_CHOL_A3, 9, tol, tol, "cholesky reads only the lower triangle");
        t_assert_close(npg_linalg_cholesky(xj, true), ut, 9, tol, tol, "cholesky(upper) reads only the lower triangle");
    }
    /* integer and bool inputs compute in float32 */
    npg_array *xi = t_arr(A3, NPG_INT32, NPG_SHAPE(3, 3));
    npg_array *y = npg_linalg_cholesky(xi, false);
    cr_assert(expect_meta(y, NPG_FLOAT32, NPG_SHAPE(3, 3), "cholesky(int32)"));
    t_assert_close(y, NP_CHOL_A3, 9, 1e-5, 1e-5, "cholesky(int32)");
    double e[9];
    h_eye(e, 3);
    npg_array *yb = npg_linalg_cholesky(t_arr(e, NPG_BOOL, NPG_SHAPE(3, 3)), false);
    cr_assert(expect_meta(yb, NPG_FLOAT32, NPG_SHAPE(3, 3), "cholesky(bool identity)"));
    t_assert_close(yb, e, 9, 0, 0, "cholesky(bool identity)");
    npg_scope_end(sc);
    t_assert_no_leak(l0, "cholesky numpy");
}

/* ------------------------------------------------------------------------
 * qr
 * ------------------------------------------------------------------------ */

Test(decomp, qr_values) {
    t_live l0 = t_live_now();
    for (int si = 0; si < NRECT; si++)
        for (int li = 0; li < NLAYS; li++)
            for (int di = 0; di < 2; di++)
                for (int cm = 0; cm < 2; cm++) {
                    npg_scope sc = npg_scope_begin();
                    npg_shape s = RECT[si];
                    npg_dtype dt = FDT[di];
                    int64_t m = s.dims[s.ndim - 2], n = s.dims[s.ndim - 1], k = m < n ? m : n, qc = cm ? m : k;
                    int64_t nb = nbatch(s, 2), ne = numel(s);
                    double tol = tol_of(dt), *hv = dalloc(ne), *p = dalloc(m * n);
                    t_fill_uniform(hv, ne, -1, 1, (uint64_t)(si * 10 + li + 1));
                    round_dt(hv, ne, dt);
                    npg_array *x = mk(s, LAYS[li], dt, hv), *q = NULL, *r = NULL;
                    char label[256];
                    label_of(label, sizeof label, "npg_linalg_qr", dt, s, LAYS[li], cm ? "complete" : "reduced");
                    npg_status st = npg_linalg_qr(x, cm, &q, &r);
                    cr_expect_eq(st, NPG_OK, "%s: %s", label, npg_last_error());
                    npg_shape bs = batch_of(s, 2);
                    bool okq = expect_meta(q, dt, with_tail(bs, 2, m, qc), label);
                    bool okr = expect_meta(r, dt, with_tail(bs, 2, qc, n), label);
                    if (okq && okr) {
                        double *gq = t_read(q), *gr = t_read(r);
                        for (int64_t b = 0; b < nb; b++) {
                            const double *Q = gq + b * m * qc, *R = gr + b * qc * n, *a = hv + b * m * n;
                            check_orth_cols(Q, m, qc, tol, label, "Q^T Q = I");
                            bool tri = true;
                            for (int64_t i = 0; i < qc; i++)
                                for (int64_t j = 0; j < i && j < n; j++) tri &= R[i * n + j] == 0;
                            cr_expect(tri, "%s: matrix %lld: R is not upper triangular (exact zeros)", label, (long long)b);
                            h_mm(Q, R, p, m, qc, n);
                            near(p, a, m * n, tol, 1, label, "Q R = A");
                        }
                        free(gq), free(gr);
                    }
                    t_expect_unchanged(x, hv, ne, label);
                    free(hv), free(p);
                    npg_scope_end(sc);
                }
    t_assert_no_leak(l0, "qr sweep");
}

/* NumPy 1.24: np.linalg.qr(T42), each Q column / R row multiplied by the
 * sign of R's diagonal */
static const double T42[8] = {1, 2, 3, -1, 0.5, 4, -2, 1};
static const double NP_QR_T42_Q[8] = {0.2649064714130087,   0.4420685030665595, 0.7947194142390263, -0.16858544608470497,
                                      0.13245323570650439,  0.8616589466551584, -0.5298129428260175, 0.183570819070012};
static const double NP_QR_T42_R[4] = {3.774917217635375, -0.26490647141300894, 0.0, 4.68292905790847};

Test(decomp, qr_numpy_optional_outputs_and_empty) {
    t_live l0 = t_live_now();
    npg_scope sc = npg_scope_begin();
    for (int di = 0; di < 2; di++) {
        npg_dtype dt = FDT[di];
        double tol = tol_of(dt) * 10;
        npg_array *x = t_arr(T42, dt, NPG_SHAPE(4, 2)), *q = NULL, *r = NULL;
        cr_assert_eq(npg_linalg_qr(x, false, &q, &r), NPG_OK, "%s", npg_last_error());
        double *gq = t_read(q), *gr = t_read(r);
        for (int j = 0; j < 2; j++) {
            double sg = gr[j * 2 + j] < 0 ? -1 : 1;
            for (int i = 0; i < 4; i++) gq[i * 2 + j] *= sg;
            for (int i = 0; i < 2; i++) gr[j * 2 + i] *= sg;
        }
        t_assert_close_buf(gq, NP_QR_T42_Q, 8, tol, tol, "qr(T42) Q vs NumPy (signs normalised)");
        t_assert_close_buf(gr, NP_QR_T42_R, 4, tol, tol, "qr(T42) R vs NumPy (signs normalised)");
        free(gq), free(gr);
        /* q or r alone: the same values as with both */
        npg_array *r_only = NULL, *q_only = NULL;
        cr_assert_eq(npg_linalg_qr(x, false, NULL, &r_only), NPG_OK, "%s", npg_last_error());
        cr_assert_eq(npg_linalg_qr(x, false, &q_only, NULL), NPG_OK, "%s", npg_last_error());
        double *w = t_read(r);
        t_assert_close(r_only, w, 4, 0, 0, "qr with q NULL");
        free(w);
        w = t_read(q);
        t_assert_close(q_only, w, 8, 0, 0, "qr with r NULL");
        free(w);
    }
    /* integer input: float32 */
    npg_array *q = NULL, *r = NULL;
    cr_assert_eq(npg_linalg_qr(t_arr(A3, NPG_INT32, NPG_SHAPE(3, 3)), true, &q, &r), NPG_OK, "%s", npg_last_error());
    expect_meta(q, NPG_FLOAT32, NPG_SHAPE(3, 3), "qr(int32) q");
    expect_meta(r, NPG_FLOAT32, NPG_SHAPE(3, 3), "qr(int32) r");
    /* empty: NumPy gives q (3,0), r (0,0) reduced and an orthogonal q (3,3),
     * r (3,0) complete; (0,3): q (0,0), r (0,3) */
    npg_array *z = npg_zeros(NPG_SHAPE(3, 0), OPT(.dtype = NPG_FLOAT64));
    cr_assert_eq(npg_linalg_qr(z, true, &q, &r), NPG_OK, "%s", npg_last_error());
    t_assert_shape(q, NPG_SHAPE(3, 3));
    t_assert_shape(r, NPG_SHAPE(3, 0));
    double *gq = t_read(q);
    check_orth_cols(gq, 3, 3, 1e-12, "qr of a (3,0) matrix, complete", "Q^T Q = I");
    free(gq);
    cr_assert_eq(npg_linalg_qr(npg_zeros(NPG_SHAPE(0, 3), OPT()), true, &q, &r), NPG_OK, "%s", npg_last_error());
    t_assert_shape(q, NPG_SHAPE(0, 0));
    t_assert_shape(r, NPG_SHAPE(0, 3));
    npg_scope_end(sc);
    t_assert_no_leak(l0, "qr numpy");
}

/* ------------------------------------------------------------------------
 * eigh / eigvalsh
 * ------------------------------------------------------------------------ */

Test(decomp, eigh_values) {
    t_live l0 = t_live_now();
    for (int si = 0; si < NSQ; si++)
        for (int li = 0; li < NLAYS; li++)
            for (int di = 0; di < 2; di++) {
                npg_scope sc = npg_scope_begin();
                npg_shape s = SQ[si];
                npg_dtype dt = FDT[di];
                int64_t n = s.dims[s.ndim - 1], nb = nbatch(s, 2), ne = numel(s);
                double tol = tol_of(dt), *hv = dalloc(ne), *p1 = dalloc(n * n), *p2 = dalloc(n * n), w0[64];
                gen_sym(hv, nb, n, (uint64_t)(si * 10 + li + 2));
                round_dt(hv, ne, dt);
                npg_array *x = mk(s, LAYS[li], dt, hv), *w = NULL, *v = NULL;
                char label[256];
                label_of(label, sizeof label, "npg_linalg_eigh", dt, s, LAYS[li], NULL);
                cr_expect_eq(npg_linalg_eigh(x, &w, &v), NPG_OK, "%s: %s", label, npg_last_error());
                npg_shape bs = batch_of(s, 2);
                bool okw = expect_meta(w, dt, with_tail(bs, 1, n, 0), label), okv = expect_meta(v, dt, s, label);
                double *gw = okw ? t_read(w) : NULL;
                if (okw && okv) {
                    double *gv = t_read(v);
                    for (int64_t b = 0; b < nb; b++) {
                        const double *W = gw + b * n, *V = gv + b * n * n, *a = hv + b * n * n;
                        eig_of(w0, n, b);
                        near(W, w0, n, tol, 10, label, "eigenvalues vs the constructed spectrum");
                        bool asc = true;
                        for (int64_t i = 1; i < n; i++) asc &= W[i] >= W[i - 1];
                        cr_expect(asc, "%s: matrix %lld: eigenvalues not ascending", label, (long long)b);
                        check_orth_cols(V, n, n, tol, label, "V^T V = I");
                        h_mm(a, V, p1, n, n, n); /* A V = V diag(w) */
                        for (int64_t i = 0; i < n; i++)
                            for (int64_t j = 0; j < n; j++) p2[i * n + j] = V[i * n + j] * W[j];
                        near(p1, p2, n * n, tol, 10, label, "A V = V diag(w)");
                    }
                    free(gv);
                }
                /* eigvalsh, and eigh without vectors: the same eigenvalues */
                npg_array *w2 = npg_linalg_eigvalsh(x), *w3 = NULL;
                char l2[300];
                snprintf(l2, sizeof l2, "%s: eigvalsh", label);
                cr_expect_eq(npg_linalg_eigh(x, &w3, NULL), NPG_OK, "%s: v NULL: %s", label, npg_last_error());
                if (okw && expect_meta(w2, dt, with_tail(bs, 1, n, 0), l2)) {
                    double *g2 = t_read(w2);
                    near(g2, gw, nb * n, tol, 10, l2, "eigvalsh vs eigh");
                    free(g2);
                }
                snprintf(l2, sizeof l2, "%s: v NULL", label);
                if (okw && expect_meta(w3, dt, with_tail(bs, 1, n, 0), l2)) {
                    double *g3 = t_read(w3);
                    near(g3, gw, nb * n, tol, 10, l2, "eigh(v NULL) vs eigh");
                    free(g3);
                }
                t_expect_unchanged(x, hv, ne, label);
                free(gw), free(hv), free(p1), free(p2);
                npg_scope_end(sc);
            }
    t_assert_no_leak(l0, "eigh sweep");
}

Test(decomp, eigh_numpy_lower_triangle_and_dtypes) {
    t_live l0 = t_live_now();
    npg_scope sc = npg_scope_begin();
    double junk[9] = {4, NAN, -1e30, 1, 5, 9, 2, 3, 6}; /* A3's lower triangle */
    for (int di = 0; di < 2; di++) {
        npg_dtype dt = FDT[di];
        double tol = tol_of(dt) * 10;
        for (int j = 0; j < 2; j++) {
            npg_array *x = t_arr(j ? junk : A3, dt, NPG_SHAPE(3, 3)), *w = NULL, *v = NULL;
            const char *what = j ? "eigh reads only the lower triangle" : "eigh(A3) vs NumPy";
            cr_assert_eq(npg_linalg_eigh(x, &w, &v), NPG_OK, "%s: %s", what, npg_last_error());
            t_assert_close(w, NP_EIGVALSH_A3, 3, tol, tol, what);
            t_assert_close(npg_linalg_eigvalsh(x), NP_EIGVALSH_A3, 3, tol, tol, what);
            double *gv = t_read(v);
            for (int c = 0; c < 3; c++) {
                int km = 0;
                for (int i = 1; i < 3; i++)
                    if (fabs(gv[i * 3 + c]) > fabs(gv[km * 3 + c])) km = i;
                double sg = gv[km * 3 + c] < 0 ? -1 : 1;
                for (int i = 0; i < 3; i++) gv[i * 3 + c] *= sg;
            }
            t_assert_close_buf(gv, NP_EIGVEC_A3, 9, tol, tol, what);
            free(gv);
        }
    }
    npg_array *w = npg_linalg_eigvalsh(t_arr(A3, NPG_INT64, NPG_SHAPE(3, 3)));
    cr_assert(expect_meta(w, NPG_FLOAT32, NPG_SHAPE(3), "eigvalsh(int64)"));
    t_assert_close(w, NP_EIGVALSH_A3, 3, 1e-5, 1e-5, "eigvalsh(int64)");
    npg_array *v = NULL;
    cr_assert_eq(npg_linalg_eigh(t_arr(A3, NPG_UINT8, NPG_SHAPE(3, 3)), &w, &v), NPG_OK, "%s", npg_last_error());
    expect_meta(w, NPG_FLOAT32, NPG_SHAPE(3), "eigh(uint8) w");
    expect_meta(v, NPG_FLOAT32, NPG_SHAPE(3, 3), "eigh(uint8) v");
    npg_scope_end(sc);
    t_assert_no_leak(l0, "eigh numpy");
}

/* ------------------------------------------------------------------------
 * svd / svdvals
 * ------------------------------------------------------------------------ */

Test(decomp, svd_values) {
    t_live l0 = t_live_now();
    for (int si = 0; si < NRECT; si++)
        for (int li = 0; li < NLAYS; li++)
            for (int di = 0; di < 2; di++)
                for (int fm = 0; fm < 2; fm++) {
                    npg_scope sc = npg_scope_begin();
                    npg_shape s = RECT[si];
                    npg_dtype dt = FDT[di];
                    int64_t m = s.dims[s.ndim - 2], n = s.dims[s.ndim - 1], k = m < n ? m : n;
                    int64_t uc = fm ? m : k, vr = fm ? n : k, nb = nbatch(s, 2), ne = numel(s);
                    double tol = tol_of(dt), *hv = dalloc(ne), *p = dalloc(m * n), sv[64];
                    gen_spec(hv, NULL, nb, m, n, (uint64_t)(si * 10 + li + 3));
                    round_dt(hv, ne, dt);
                    npg_array *x = mk(s, LAYS[li], dt, hv), *u = NULL, *sa = NULL, *vh = NULL;
                    char label[256];
                    label_of(label, sizeof label, "npg_linalg_svd", dt, s, LAYS[li], fm ? "full_matrices" : "reduced");
                    cr_expect_eq(npg_linalg_svd(x, fm, &u, &sa, &vh), NPG_OK, "%s: %s", label, npg_last_error());
                    npg_shape bs = batch_of(s, 2);
                    bool oks = expect_meta(sa, dt, with_tail(bs, 1, k, 0), label);
                    bool oku = expect_meta(u, dt, with_tail(bs, 2, m, uc), label);
                    bool okv = expect_meta(vh, dt, with_tail(bs, 2, vr, n), label);
                    double *gs = oks ? t_read(sa) : NULL;
                    if (oks && oku && okv) {
                        double *gu = t_read(u), *gv = t_read(vh), *vt = dalloc(n * vr);
                        for (int64_t b = 0; b < nb; b++) {
                            const double *U = gu + b * m * uc, *S = gs + b * k, *V = gv + b * vr * n, *a = hv + b * m * n;
                            sv_of(sv, k, b);
                            near(S, sv, k, tol, 10, label, "singular values vs the constructed ones");
                            check_orth_cols(U, m, uc, tol, label, "U^T U = I");
                            h_tr(V, vt, vr, n);
                            check_orth_cols(vt, n, vr, tol, label, "Vh Vh^T = I");
                            for (int64_t i = 0; i < m; i++) /* U[:, :k] diag(S) Vh[:k, :] */
                                for (int64_t j = 0; j < n; j++) {
                                    double t = 0;
                                    for (int64_t l = 0; l < k; l++) t += U[i * uc + l] * S[l] * V[l * n + j];
                                    p[i * n + j] = t;
                                }
                            near(p, a, m * n, tol, 10, label, "U diag(S) Vh = A");
                        }
                        free(gu), free(gv), free(vt);
                    }
                    /* svdvals, and svd without vectors */
                    npg_array *s2 = npg_linalg_svdvals(x), *s3 = NULL;
                    char l2[300];
                    snprintf(l2, sizeof l2, "%s: svdvals", label);
                    if (oks && expect_meta(s2, dt, with_tail(bs, 1, k, 0), l2)) {
                        double *g2 = t_read(s2);
                        near(g2, gs, nb * k, tol, 10, l2, "svdvals vs svd");
                        free(g2);
                    }
                    snprintf(l2, sizeof l2, "%s: u, vh NULL", label);
                    cr_expect_eq(npg_linalg_svd(x, fm, NULL, &s3, NULL), NPG_OK, "%s: %s", l2, npg_last_error());
                    if (oks && expect_meta(s3, dt, with_tail(bs, 1, k, 0), l2)) {
                        double *g3 = t_read(s3);
                        near(g3, gs, nb * k, tol, 10, l2, "values-only svd vs svd");
                        free(g3);
                    }
                    t_expect_unchanged(x, hv, ne, label);
                    free(gs), free(hv), free(p);
                    npg_scope_end(sc);
                }
    t_assert_no_leak(l0, "svd sweep");
}

/* NumPy 1.24: np.linalg.svd(T42 / W25, compute_uv=False) */
static const double W25[10] = {1, -2, 0.5, 3, 2, 0, 1, 4, -1, 2.5};
static const double NP_SVDVALS_T42[2] = {4.703929490159852, 3.7580643091363504};
static const double NP_SVDVALS_W25[2] = {4.985534201614104, 4.2005295766767325};

Test(decomp, svd_numpy_dtypes_and_empty) {
    t_live l0 = t_live_now();
    npg_scope sc = npg_scope_begin();
    for (int di = 0; di < 2; di++) {
        npg_dtype dt = FDT[di];
        double tol = tol_of(dt) * 10;
        t_assert_close(npg_linalg_svdvals(t_arr(T42, dt, NPG_SHAPE(4, 2))), NP_SVDVALS_T42, 2, tol, tol, "svdvals(T42) vs NumPy");
        t_assert_close(npg_linalg_svdvals(t_arr(W25, dt, NPG_SHAPE(2, 5))), NP_SVDVALS_W25, 2, tol, tol, "svdvals(W25) vs NumPy");
        npg_array *u = NULL, *s = NULL, *vh = NULL;
        cr_assert_eq(npg_linalg_svd(t_arr(W25, dt, NPG_SHAPE(2, 5)), true, &u, &s, &vh), NPG_OK, "%s", npg_last_error());
        t_assert_close(s, NP_SVDVALS_W25, 2, tol, tol, "svd(W25, full) vs NumPy");
        t_assert_shape(u, NPG_SHAPE(2, 2));
        t_assert_shape(vh, NPG_SHAPE(5, 5));
    }
    double ti[8] = {1, 2, 3, -1, 0, 4, -2, 1};
    npg_array *s = npg_linalg_svdvals(t_arr(ti, NPG_INT32, NPG_SHAPE(4, 2)));
    npg_array *s64 = npg_linalg_svdvals(t_arr(ti, NPG_FLOAT64, NPG_SHAPE(4, 2)));
    cr_assert(expect_meta(s, NPG_FLOAT32, NPG_SHAPE(2), "svdvals(int32)"));
    double *w = t_read(s64);
    t_assert_close(s, w, 2, 1e-5, 1e-5, "svdvals(int32) vs float64");
    free(w);
    /* empty: NumPy gives u (3,0), s (0,), vh (0,0); full: an orthogonal
     * u (3,3) (wide: vh (3,3)) */
    npg_array *u = NULL, *vh = NULL;
    npg_array *z = npg_zeros(NPG_SHAPE(3, 0), OPT(.dtype = NPG_FLOAT64)), *zt = npg_zeros(NPG_SHAPE(0, 3), OPT(.dtype = NPG_FLOAT64));
    cr_assert_eq(npg_linalg_svd(z, true, &u, &s, &vh), NPG_OK, "%s", npg_last_error());
    t_assert_shape(u, NPG_SHAPE(3, 3));
    t_assert_shape(s, NPG_SHAPE(0));
    t_assert_shape(vh, NPG_SHAPE(0, 0));
    double *g = t_read(u);
    check_orth_cols(g, 3, 3, 1e-12, "svd of a (3,0) matrix, full", "U^T U = I");
    free(g);
    cr_assert_eq(npg_linalg_svd(zt, true, &u, &s, &vh), NPG_OK, "%s", npg_last_error());
    t_assert_shape(u, NPG_SHAPE(0, 0));
    t_assert_shape(vh, NPG_SHAPE(3, 3));
    g = t_read(vh);
    check_orth_cols(g, 3, 3, 1e-12, "svd of a (0,3) matrix, full", "Vh^T Vh = I");
    free(g);
    /* a zero matrix: all singular values 0 */
    t_assert_close(npg_linalg_svdvals(npg_zeros(NPG_SHAPE(3, 2), OPT())), (double[]){0, 0}, 2, 0, 0, "svdvals of zeros");
    npg_scope_end(sc);
    t_assert_no_leak(l0, "svd numpy");
}

/* ------------------------------------------------------------------------
 * solve / solve_triangular
 * ------------------------------------------------------------------------ */

typedef struct pcase {
    npg_shape a, b;
} pcase;
/* a (..., n, n) with b (..., n, k) or a 1-d b (n): batches broadcast. */
static const pcase SOLVE_CASES[] = {
    {SH(3, 3), SH(3, 2)},       {SH(1, 1), SH(1, 1)},       {SH(5, 5), SH(5)},    {SH(2, 3, 4, 4), SH(2, 3, 4, 2)},
    {SH(3, 1, 4, 4), SH(2, 4, 3)}, {SH(2, 3, 3), SH(3)},    {SH(4, 4), SH(2, 4, 1)}, {SH(0, 0), SH(0, 2)},
    {SH(0, 3, 3), SH(3, 2)},    {SH(3, 3), SH(3, 0)},       {SH(2, 2, 2), SH(0, 1, 2, 3)}, {SH(0, 0), SH(0)},
};
#define NSOLVE ((int)(sizeof SOLVE_CASES / sizeof SOLVE_CASES[0]))
static const pcase TRI_CASES[] = {
    {SH(3, 3), SH(3, 2)},          {SH(1, 1), SH(1, 1)},    {SH(5, 5), SH(5, 3)},    {SH(3, 1, 4, 4), SH(2, 4, 3)},
    {SH(2, 3, 3), SH(3, 1)},       {SH(0, 0), SH(0, 2)},    {SH(0, 3, 3), SH(3, 2)}, {SH(3, 3), SH(3, 0)},
    {SH(4, 4), SH(2, 1, 4, 2)},
};
#define NTRI ((int)(sizeof TRI_CASES / sizeof TRI_CASES[0]))
static const int BLAYS[5] = {L_C, L_T, L_NEG, L_MT, L_S2};

/* The output shape of solve(a, b) and, for each output matrix t, the batch
 * indices of its a and b. */
static npg_shape solve_shape(npg_shape sa, npg_shape sb, npg_shape *bo, npg_shape *ba, npg_shape *bb) {
    bool vec = sb.ndim == 1;
    int64_t n = sa.dims[sa.ndim - 1], k = vec ? 1 : sb.dims[sb.ndim - 1];
    *ba = batch_of(sa, 2);
    *bb = vec ? (npg_shape){.ndim = 0} : batch_of(sb, 2);
    *bo = bshape(*ba, *bb);
    return vec ? with_tail(*bo, 1, n, 0) : with_tail(*bo, 2, n, k);
}

Test(decomp, solve_values) {
    t_live l0 = t_live_now();
    for (int ci = 0; ci < NSOLVE; ci++)
        for (int li = 0; li < NLAYS; li++)
            for (int di = 0; di < 2; di++) {
                npg_scope sc = npg_scope_begin();
                const pcase *c = &SOLVE_CASES[ci];
                npg_dtype dt = FDT[di];
                npg_shape bo, ba, bb, so = solve_shape(c->a, c->b, &bo, &ba, &bb);
                bool vec = c->b.ndim == 1;
                int64_t n = c->a.dims[c->a.ndim - 1], k = vec ? 1 : c->b.dims[c->b.ndim - 1];
                int64_t na = numel(c->a), nbv = numel(c->b), no = numel(so);
                double tol = tol_of(dt), *ha = dalloc(na), *hb = dalloc(nbv), *want = dalloc(no), *r = dalloc(n * k);
                gen_sq(ha, numel(ba), n, (uint64_t)(ci * 10 + li + 4));
                t_fill_uniform(hb, nbv, -2, 2, (uint64_t)(ci * 10 + li + 5));
                round_dt(ha, na, dt);
                round_dt(hb, nbv, dt);
                npg_array *a = mk(c->a, LAYS[li], dt, ha), *b = mk(c->b, BLAYS[li], dt, hb);
                char label[300], s1[96], s2[96];
                snprintf(label, sizeof label, "npg_linalg_solve(%s %s %s, %s %s)", npg_dtype_name(dt), sstr(c->a, s1), LNAME[LAYS[li]],
                         sstr(c->b, s2), LNAME[BLAYS[li]]);
                for (int64_t t = 0; t < numel(bo); t++)
                    h_solve(ha + bidx(t, bo, ba) * n * n, hb + bidx(t, bo, bb) * n * k, want + t * n * k, n, k);
                npg_array *y = npg_linalg_solve(a, b);
                if (expect_meta(y, dt, so, label)) {
                    double *g = t_read(y);
                    near(g, want, no, tol, 1 + amax(want, no), label, "X vs host Gauss-Jordan");
                    for (int64_t t = 0; t < numel(bo); t++) { /* residual A X - B */
                        h_mm(ha + bidx(t, bo, ba) * n * n, g + t * n * k, r, n, n, k);
                        near(r, hb + bidx(t, bo, bb) * n * k, n * k, tol, 10 * (1 + amax(want, no)), label, "A X = B");
                    }
                    free(g);
                }
                t_expect_unchanged(a, ha, na, label);
                t_expect_unchanged(b, hb, nbv, label);
                free(ha), free(hb), free(want), free(r);
                npg_scope_end(sc);
            }
    t_assert_no_leak(l0, "solve sweep");
}

/* NumPy 1.24: np.linalg.solve(G3, [[1,2],[-1,0.5],[3,-2]]) and
 * solve(G3, [1,-1,3]) */
static const double G3[9] = {2, -1, 0.5, 1, 3, -2, 0.5, 4, 1};
static const double NP_SOLVE_G3[6] = {0.3762376237623763,  0.891089108910891,   0.38613861386138615,
                                      -0.4801980198019802, 1.2673267326732671, -0.5247524752475247};
static const double NP_SOLVE_G3_VEC[3] = {0.37623762376237624, 0.3861386138613861, 1.2673267326732673};

Test(decomp, solve_numpy_and_dtypes) {
    t_live l0 = t_live_now();
    npg_scope sc = npg_scope_begin();
    double bm[6] = {1, 2, -1, 0.5, 3, -2}, bv[3] = {1, -1, 3};
    for (int di = 0; di < 2; di++) {
        npg_dtype dt = FDT[di];
        double tol = tol_of(dt) * 10;
        npg_array *a = t_arr(G3, dt, NPG_SHAPE(3, 3));
        t_assert_close(npg_linalg_solve(a, t_arr(bm, dt, NPG_SHAPE(3, 2))), NP_SOLVE_G3, 6, tol, tol, "solve(G3, B) vs NumPy");
        npg_array *x = npg_linalg_solve(a, t_arr(bv, dt, NPG_SHAPE(3)));
        cr_assert(expect_meta(x, dt, NPG_SHAPE(3), "solve(G3, 1-d b)"));
        t_assert_close(x, NP_SOLVE_G3_VEC, 3, tol, tol, "solve(G3, 1-d b) vs NumPy");
    }
    /* promotion: float32 with float64 -> float64; integers -> float32;
     * int32 with float64 -> float64 */
    double gi[9] = {2, -1, 0, 1, 3, -2, 0, 4, 1};
    static const npg_dtype pairs[][3] = {{NPG_FLOAT32, NPG_FLOAT64, NPG_FLOAT64}, {NPG_FLOAT64, NPG_FLOAT32, NPG_FLOAT64},
                                         {NPG_INT32, NPG_INT32, NPG_FLOAT32},     {NPG_INT64, NPG_BOOL, NPG_FLOAT32},
                                         {NPG_INT32, NPG_FLOAT64, NPG_FLOAT64}};
    for (int p = 0; p < 5; p++) {
        double bb[3] = {1, -1, 3};
        if (pairs[p][1] == NPG_BOOL) bb[0] = 1, bb[1] = 0, bb[2] = 1;
        double w[3];
        h_solve(gi, bb, w, 3, 1);
        char label[128];
        snprintf(label, sizeof label, "solve(%s, %s)", npg_dtype_name(pairs[p][0]), npg_dtype_name(pairs[p][1]));
        npg_array *x = npg_linalg_solve(t_arr(gi, pairs[p][0], NPG_SHAPE(3, 3)), t_arr(bb, pairs[p][1], NPG_SHAPE(3)));
        if (expect_meta(x, pairs[p][2], NPG_SHAPE(3), label)) t_assert_close(x, w, 3, 1e-5, 1e-5, label);
    }
    npg_scope_end(sc);
    t_assert_no_leak(l0, "solve numpy");
}

Test(decomp, solve_triangular_values) {
    t_live l0 = t_live_now();
    for (int ci = 0; ci < NTRI; ci++)
        for (int li = 0; li < 3; li++)
            for (int di = 0; di < 2; di++)
                for (int up = 0; up < 2; up++)
                    for (int unit = 0; unit < 2; unit++) {
                        npg_scope sc = npg_scope_begin();
                        const pcase *c = &TRI_CASES[ci];
                        npg_dtype dt = FDT[di];
                        npg_shape bo, ba, bb, so = solve_shape(c->a, c->b, &bo, &ba, &bb);
                        int64_t n = c->a.dims[c->a.ndim - 1], k = c->b.dims[c->b.ndim - 1];
                        int64_t na = numel(c->a), nbv = numel(c->b), no = numel(so);
                        double tol = tol_of(dt), *ha = dalloc(na), *hb = dalloc(nbv), *want = dalloc(no), *r = dalloc(n * k);
                        double *tm = dalloc(n * n);
                        t_fill_uniform(ha, na, -1, 1, (uint64_t)(ci * 10 + li + 6));
                        for (int64_t m = 0; m < numel(ba); m++) /* a strong diagonal; junk where T is not read */
                            for (int64_t i = 0; i < n; i++)
                                for (int64_t j = 0; j < n; j++) {
                                    double *e = ha + (m * n + i) * n + j;
                                    if (i == j) *e = unit ? 99 : (*e < 0 ? -1.5 : 1.5) + *e / 2;
                                    else if (up ? i > j : i < j) *e = 99;
                                }
                        t_fill_uniform(hb, nbv, -2, 2, (uint64_t)(ci * 10 + li + 7));
                        round_dt(ha, na, dt);
                        round_dt(hb, nbv, dt);
                        int la = li == 0 ? L_C : li == 1 ? L_MT : L_NEG, lb = li == 0 ? L_C : li == 1 ? L_T : L_S2;
                        npg_array *a = mk(c->a, la, dt, ha), *b = mk(c->b, lb, dt, hb);
                        char label[300], s1[96], s2[96];
                        snprintf(label, sizeof label, "npg_linalg_solve_triangular(%s %s %s, %s %s, upper %d, unit %d)", npg_dtype_name(dt),
                                 sstr(c->a, s1), LNAME[la], sstr(c->b, s2), LNAME[lb], up, unit);
                        for (int64_t t = 0; t < numel(bo); t++)
                            h_trisolve(ha + bidx(t, bo, ba) * n * n, hb + bidx(t, bo, bb) * n * k, want + t * n * k, n, k, up, unit);
                        npg_array *y = npg_linalg_solve_triangular(a, b, up, unit);
                        if (expect_meta(y, dt, so, label)) {
                            double *g = t_read(y);
                            near(g, want, no, tol, 1 + amax(want, no), label, "X vs host substitution");
                            for (int64_t t = 0; t < numel(bo); t++) { /* residual T X - B with the triangle alone */
                                const double *A = ha + bidx(t, bo, ba) * n * n;
                                for (int64_t i = 0; i < n; i++)
                                    for (int64_t j = 0; j < n; j++)
                                        tm[i * n + j] = i == j ? (unit ? 1 : A[i * n + j]) : (up ? i < j : i > j) ? A[i * n + j] : 0;
                                h_mm(tm, g + t * n * k, r, n, n, k);
                                near(r, hb + bidx(t, bo, bb) * n * k, n * k, tol, 10 * (1 + amax(want, no)), label, "T X = B");
                            }
                            free(g);
                        }
                        t_expect_unchanged(a, ha, na, label);
                        t_expect_unchanged(b, hb, nbv, label);
                        free(ha), free(hb), free(want), free(r), free(tm);
                        npg_scope_end(sc);
                    }
    t_assert_no_leak(l0, "solve_triangular sweep");
}

Test(decomp, solve_triangular_reads_only_its_triangle) {
    t_live l0 = t_live_now();
    npg_scope sc = npg_scope_begin();
    /* NaN in the other triangle (and on the diagonal when unitriangular)
     * must not reach the result */
    double b[6] = {1, 2, -1, 0.5, 3, -2};
    for (int up = 0; up < 2; up++)
        for (int unit = 0; unit < 2; unit++)
            for (int di = 0; di < 2; di++) {
                double a[9] = {2, 0.5, -1, 1, 3, 0.25, -0.5, 1.5, 4}, want[6];
                h_trisolve(a, b, want, 3, 2, up, unit);
                for (int i = 0; i < 3; i++)
                    for (int j = 0; j < 3; j++)
                        if ((up ? i > j : i < j) || (unit && i == j)) a[i * 3 + j] = NAN;
                char label[96];
                snprintf(label, sizeof label, "solve_triangular(NaN outside T, upper %d, unit %d, %s)", up, unit, npg_dtype_name(FDT[di]));
                npg_array *y = npg_linalg_solve_triangular(t_arr(a, FDT[di], NPG_SHAPE(3, 3)), t_arr(b, FDT[di], NPG_SHAPE(3, 2)), up, unit);
                cr_assert(y, "%s: %s", label, npg_last_error());
                t_assert_close(y, want, 6, tol_of(FDT[di]), tol_of(FDT[di]), label);
            }
    /* a zero on the diagonal: inf/NaN, not an error */
    double z[4] = {1, 0, 2, 0}, bz[2] = {1, 1};
    npg_array *y = npg_linalg_solve_triangular(t_arr(z, NPG_FLOAT64, NPG_SHAPE(2, 2)), t_arr(bz, NPG_FLOAT64, NPG_SHAPE(2, 1)), false, false);
    cr_assert(y, "a zero on the diagonal is not an error: %s", npg_last_error());
    double *g = t_read(y);
    cr_expect(!isfinite(g[1]), "solve_triangular with a zero pivot: x[1] = %g, want inf or NaN", g[1]);
    free(g);
    /* integer inputs: float32 */
    double ai[4] = {2, 0, 1, 4}, bi[2] = {2, 6};
    y = npg_linalg_solve_triangular(t_arr(ai, NPG_INT32, NPG_SHAPE(2, 2)), t_arr(bi, NPG_INT32, NPG_SHAPE(2, 1)), false, false);
    if (expect_meta(y, NPG_FLOAT32, NPG_SHAPE(2, 1), "solve_triangular(int32, int32)"))
        t_assert_close(y, (double[]){1, 1.25}, 2, 1e-6, 1e-6, "solve_triangular(int32, int32)");
    npg_scope_end(sc);
    t_assert_no_leak(l0, "solve_triangular triangle");
}

/* ------------------------------------------------------------------------
 * inv, det, slogdet
 * ------------------------------------------------------------------------ */

Test(decomp, inv_values) {
    t_live l0 = t_live_now();
    for (int si = 0; si < NSQ; si++)
        for (int li = 0; li < NLAYS; li++)
            for (int di = 0; di < 2; di++) {
                npg_scope sc = npg_scope_begin();
                npg_shape s = SQ[si];
                npg_dtype dt = FDT[di];
                int64_t n = s.dims[s.ndim - 1], nb = nbatch(s, 2), ne = numel(s);
                double tol = tol_of(dt), *hv = dalloc(ne), *want = dalloc(ne), *p = dalloc(n * n), *e = dalloc(n * n);
                gen_sq(hv, nb, n, (uint64_t)(si * 10 + li + 8));
                round_dt(hv, ne, dt);
                for (int64_t b = 0; b < nb; b++) h_inv(hv + b * n * n, want + b * n * n, n);
                npg_array *x = mk(s, LAYS[li], dt, hv);
                char label[256];
                label_of(label, sizeof label, "npg_linalg_inv", dt, s, LAYS[li], NULL);
                npg_array *y = npg_linalg_inv(x);
                if (expect_meta(y, dt, s, label)) {
                    double *g = t_read(y);
                    near(g, want, ne, tol, 1, label, "inverse vs host Gauss-Jordan");
                    h_eye(e, n);
                    for (int64_t b = 0; b < nb; b++) {
                        h_mm(hv + b * n * n, g + b * n * n, p, n, n, n);
                        near(p, e, n * n, tol, 10, label, "A inv(A) = I");
                    }
                    free(g);
                }
                t_expect_unchanged(x, hv, ne, label);
                free(hv), free(want), free(p), free(e);
                npg_scope_end(sc);
            }
    t_assert_no_leak(l0, "inv sweep");
}

Test(decomp, det_slogdet_values) {
    t_live l0 = t_live_now();
    for (int si = 0; si < NSQ; si++)
        for (int li = 0; li < NLAYS; li++)
            for (int di = 0; di < 2; di++) {
                npg_scope sc = npg_scope_begin();
                npg_shape s = SQ[si], bs = batch_of(s, 2);
                npg_dtype dt = FDT[di];
                int64_t n = s.dims[s.ndim - 1], nb = nbatch(s, 2), ne = numel(s);
                double tol = tol_of(dt), *hv = dalloc(ne), *want = dalloc(nb);
                gen_sq(hv, nb, n, (uint64_t)(si * 10 + li + 9));
                round_dt(hv, ne, dt);
                for (int64_t b = 0; b < nb; b++) want[b] = h_det(hv + b * n * n, n);
                npg_array *x = mk(s, LAYS[li], dt, hv), *sg = NULL, *ld = NULL;
                char label[256];
                label_of(label, sizeof label, "npg_linalg_det", dt, s, LAYS[li], NULL);
                npg_array *y = npg_linalg_det(x);
                if (expect_meta(y, dt, bs, label)) {
                    double *g = t_read(y);
                    for (int64_t b = 0; b < nb; b++) near(g + b, want + b, 1, tol, fabs(want[b]), label, "det vs host LU");
                    free(g);
                }
                label_of(label, sizeof label, "npg_linalg_slogdet", dt, s, LAYS[li], NULL);
                cr_expect_eq(npg_linalg_slogdet(x, &sg, &ld), NPG_OK, "%s: %s", label, npg_last_error());
                if (expect_meta(sg, dt, bs, label) && expect_meta(ld, dt, bs, label)) {
                    double *gs = t_read(sg), *gl = t_read(ld);
                    for (int64_t b = 0; b < nb; b++) {
                        double ws = want[b] > 0 ? 1 : -1, wl = log(fabs(want[b]));
                        cr_expect_eq(gs[b], ws, "%s: matrix %lld: sign %g, want %g", label, (long long)b, gs[b], ws);
                        near(gl + b, &wl, 1, tol, 1 + fabs(wl), label, "logabsdet vs host LU");
                    }
                    free(gs), free(gl);
                }
                t_expect_unchanged(x, hv, ne, label);
                free(hv), free(want);
                npg_scope_end(sc);
            }
    t_assert_no_leak(l0, "det sweep");
}

/* NumPy 1.24: det(G3) = 25.25, inv(G3); N3 = [[1,-1,3],[0,2,1],[2,1,0]]:
 * det -15, slogdet (-1, log 15) */
static const double NP_INV_G3[9] = {0.43564356435643564, 0.1188118811881188,  0.019801980198019806,
                                    -0.0792079207920792, 0.0693069306930693,  0.1782178217821782,
                                    0.099009900990099,   -0.3366336633663366, 0.2772277227722772};
static const double N3[9] = {1, -1, 3, 0, 2, 1, 2, 1, 0};
/* rank 2; NumPy 1.24: det 0, slogdet (0, -inf), matrix_rank 2, pinv: */
static const double R3[9] = {1, 2, 3, 2, 4, 6, 1, 0, 1};
/* Singular with exact pivoting: LU with partial pivoting of S3 and of its
 * transpose has multipliers 1/2 and 1/4, so the zero pivot is exactly 0 in
 * any evaluation order, fused multiply-adds included. R3's LU (transposed:
 * pivot 3, multipliers 1/3 and 2/3) reaches 0 only by luck of rounding:
 * cuSOLVER on an H100 gave a nonzero pivot, so the singular-matrix tests
 * use S3. dup = {1, 2, 1, 2} (2x2) is exact too. */
static const double S3[9] = {4, 2, 2, 2, 1, 1, 1, 3, 0};
static const double NP_PINV_R3[9] = {-0.033333333333333964, -0.06666666666666651, 0.833333333333334,
                                     0.06666666666666715,   0.1333333333333331,   -0.6666666666666667,
                                     0.033333333333333236,  0.06666666666666668,  0.1666666666666667};

Test(decomp, inv_det_slogdet_numpy_singular_and_dtypes) {
    t_live l0 = t_live_now();
    npg_scope sc = npg_scope_begin();
    for (int di = 0; di < 2; di++) {
        npg_dtype dt = FDT[di];
        double tol = tol_of(dt) * 10;
        npg_array *g3 = t_arr(G3, dt, NPG_SHAPE(3, 3)), *n3 = t_arr(N3, dt, NPG_SHAPE(3, 3)), *sg = NULL, *ld = NULL;
        t_assert_close(npg_linalg_inv(g3), NP_INV_G3, 9, tol, tol, "inv(G3) vs NumPy");
        t_assert_close(npg_linalg_det(g3), (double[]){25.25}, 1, tol, tol, "det(G3) vs NumPy");
        t_assert_close(npg_linalg_det(n3), (double[]){-15}, 1, tol, tol, "det(N3) vs NumPy (negative)");
        cr_assert_eq(npg_linalg_slogdet(n3, &sg, &ld), NPG_OK, "%s", npg_last_error());
        t_assert_close(sg, (double[]){-1}, 1, 0, 0, "slogdet(N3) sign");
        t_assert_close(ld, (double[]){2.70805020110221}, 1, tol, tol, "slogdet(N3) logabsdet vs NumPy");
        /* singular: det 0, sign 0, logabsdet -inf (S3 and dup: exact
         * multipliers, so the zero pivot is exactly 0; see S3) */
        double dup[4] = {1, 2, 1, 2};
        npg_array *sing[2] = {t_arr(S3, dt, NPG_SHAPE(3, 3)), t_arr(dup, dt, NPG_SHAPE(2, 2))};
        for (int k = 0; k < 2; k++) {
            t_assert_close(npg_linalg_det(sing[k]), (double[]){0}, 1, 0, 0, "det of a singular matrix");
            cr_assert_eq(npg_linalg_slogdet(sing[k], &sg, &ld), NPG_OK, "%s", npg_last_error());
            t_assert_close(sg, (double[]){0}, 1, 0, 0, "slogdet sign of a singular matrix");
            t_assert_close(ld, (double[]){-INFINITY}, 1, 0, 0, "slogdet logabsdet of a singular matrix");
        }
        /* slogdet without overflow: det = 1e60 (float32) / 1e600 (float64) */
        double big = dt == NPG_FLOAT32 ? 1e20 : 1e200, d3[9] = {big, 1, 0, 0, -big, 1, 0, 0, big};
        cr_assert_eq(npg_linalg_slogdet(t_arr(d3, dt, NPG_SHAPE(3, 3)), &sg, &ld), NPG_OK, "%s", npg_last_error());
        t_assert_close(sg, (double[]){-1}, 1, 0, 0, "slogdet sign of a huge determinant");
        double wl = 3 * log(dt == NPG_FLOAT32 ? (double)(float)1e20 : 1e200);
        t_assert_close(ld, &wl, 1, tol, 0, "slogdet logabsdet of a determinant beyond the dtype's range");
        /* either output may be NULL */
        npg_array *only = NULL;
        cr_assert_eq(npg_linalg_slogdet(n3, NULL, &only), NPG_OK, "%s", npg_last_error());
        t_assert_close(only, (double[]){2.70805020110221}, 1, tol, tol, "slogdet with sign NULL");
        cr_assert_eq(npg_linalg_slogdet(n3, &only, NULL), NPG_OK, "%s", npg_last_error());
        t_assert_close(only, (double[]){-1}, 1, 0, 0, "slogdet with logabsdet NULL");
    }
    /* empty: det of a 0 x 0 matrix is 1 (NumPy), sign 1, logabsdet 0;
     * an empty batch gives an empty result */
    npg_array *e0 = npg_zeros(NPG_SHAPE(0, 0), OPT(.dtype = NPG_FLOAT64)), *sg = NULL, *ld = NULL;
    npg_array *d = npg_linalg_det(e0);
    if (expect_meta(d, NPG_FLOAT64, NPG_SHAPE0, "det of 0x0")) t_assert_close(d, (double[]){1}, 1, 0, 0, "det of 0x0");
    cr_assert_eq(npg_linalg_slogdet(e0, &sg, &ld), NPG_OK, "%s", npg_last_error());
    t_assert_close(sg, (double[]){1}, 1, 0, 0, "slogdet sign of 0x0");
    t_assert_close(ld, (double[]){0}, 1, 0, 0, "slogdet logabsdet of 0x0");
    t_assert_shape(npg_linalg_inv(e0), NPG_SHAPE(0, 0));
    /* integer and bool inputs: float32 */
    npg_array *di = npg_linalg_det(t_arr(N3, NPG_INT32, NPG_SHAPE(3, 3)));
    if (expect_meta(di, NPG_FLOAT32, NPG_SHAPE0, "det(int32)")) t_assert_close(di, (double[]){-15}, 1, 1e-5, 0, "det(int32)");
    double eb[4] = {1, 1, 0, 1};
    npg_array *db = npg_linalg_det(t_arr(eb, NPG_BOOL, NPG_SHAPE(2, 2)));
    if (expect_meta(db, NPG_FLOAT32, NPG_SHAPE0, "det(bool)")) t_assert_close(db, (double[]){1}, 1, 1e-6, 0, "det(bool)");
    cr_assert_eq(npg_linalg_slogdet(t_arr(N3, NPG_INT64, NPG_SHAPE(3, 3)), &sg, &ld), NPG_OK, "%s", npg_last_error());
    expect_meta(sg, NPG_FLOAT32, NPG_SHAPE0, "slogdet(int64) sign");
    expect_meta(ld, NPG_FLOAT32, NPG_SHAPE0, "slogdet(int64) logabsdet");
    npg_array *ii = npg_linalg_inv(t_arr(N3, NPG_INT32, NPG_SHAPE(3, 3)));
    double wi[9];
    h_inv(N3, wi, 3);
    if (expect_meta(ii, NPG_FLOAT32, NPG_SHAPE(3, 3), "inv(int32)")) t_assert_close(ii, wi, 9, 1e-5, 1e-6, "inv(int32)");
    npg_scope_end(sc);
    t_assert_no_leak(l0, "inv/det numpy");
}

/* ------------------------------------------------------------------------
 * pinv, matrix_rank
 * ------------------------------------------------------------------------ */

/* The four Moore-Penrose conditions for a (m x n) and p (n x m). */
static void check_moore_penrose(const double *a, const double *p, int64_t m, int64_t n, double tol, double scale,
                                const char *label) {
    double *ap = dalloc(m * m), *pa = dalloc(n * n), *apa = dalloc(m * n), *pap = dalloc(n * m), *t1 = dalloc(m * m),
           *t2 = dalloc(n * n);
    h_mm(a, p, ap, m, n, m);
    h_mm(p, a, pa, n, m, n);
    h_mm(ap, a, apa, m, m, n);
    h_mm(pa, p, pap, n, n, m);
    near(apa, a, m * n, tol, scale, label, "A P A = A");
    near(pap, p, n * m, tol, scale * (1 + amax(p, n * m)), label, "P A P = P");
    h_tr(ap, t1, m, m);
    near(t1, ap, m * m, tol, scale, label, "(A P)^T = A P");
    h_tr(pa, t2, n, n);
    near(t2, pa, n * n, tol, scale, label, "(P A)^T = P A");
    free(ap), free(pa), free(apa), free(pap), free(t1), free(t2);
}

Test(decomp, pinv_values) {
    t_live l0 = t_live_now();
    for (int si = 0; si < NRECT; si++)
        for (int li = 0; li < NLAYS; li++)
            for (int di = 0; di < 2; di++) {
                npg_scope sc = npg_scope_begin();
                npg_shape s = RECT[si];
                npg_dtype dt = FDT[di];
                int64_t m = s.dims[s.ndim - 2], n = s.dims[s.ndim - 1], nb = nbatch(s, 2), ne = numel(s);
                double tol = tol_of(dt), *hv = dalloc(ne), *want = dalloc(ne);
                gen_spec(hv, want, nb, m, n, (uint64_t)(si * 10 + li + 11));
                round_dt(hv, ne, dt);
                npg_array *x = mk(s, LAYS[li], dt, hv);
                char label[256];
                label_of(label, sizeof label, "npg_linalg_pinv", dt, s, LAYS[li], "default rtol");
                npg_array *y = npg_linalg_pinv(x, -1);
                if (expect_meta(y, dt, with_tail(batch_of(s, 2), 2, n, m), label)) {
                    double *g = t_read(y);
                    near(g, want, ne, tol, 10, label, "pinv vs the constructed Q2 S^-1 Q1^T");
                    for (int64_t b = 0; b < nb; b++) check_moore_penrose(hv + b * m * n, g + b * m * n, m, n, tol, 10, label);
                    free(g);
                }
                t_expect_unchanged(x, hv, ne, label);
                free(hv), free(want);
                npg_scope_end(sc);
            }
    t_assert_no_leak(l0, "pinv sweep");
}

/* NumPy 1.24: np.linalg.pinv(W25) */
static const double NP_PINV_W25[10] = {0.055294285307111314, -0.0045603534273906225, -0.11514892404161325, 0.05073393187972071,
                                       0.009405728943993146, 0.1641727233860625,     0.1704432093487246,   -0.055294285307111335,
                                       0.09918768704574607,  0.09491235570756738};

Test(decomp, pinv_rank_deficient_wide_rtol) {
    t_live l0 = t_live_now();
    npg_scope sc = npg_scope_begin();
    for (int di = 0; di < 2; di++) {
        npg_dtype dt = FDT[di];
        double tol = tol_of(dt) * 10;
        npg_array *p = npg_linalg_pinv(t_arr(R3, dt, NPG_SHAPE(3, 3)), -1);
        t_assert_close(p, NP_PINV_R3, 9, tol, tol, "pinv(R3), rank 2, vs NumPy");
        double *g = t_read(p);
        check_moore_penrose(R3, g, 3, 3, tol, 10, "pinv(R3)");
        free(g);
        p = npg_linalg_pinv(t_arr(W25, dt, NPG_SHAPE(2, 5)), -1);
        if (expect_meta(p, dt, NPG_SHAPE(5, 2), "pinv(W25)")) t_assert_close(p, NP_PINV_W25, 10, tol, tol, "pinv(W25) vs NumPy");
        g = t_read(p);
        check_moore_penrose(W25, g, 2, 5, tol, 10, "pinv(W25)");
        free(g);
        /* rtol: singular values (10, 1, 1e-3); with rtol 1e-2 the last
         * counts as zero */
        double a[9], w[9], sv[3] = {10, 1, 1e-3}, sv2[3] = {10, 1, 0};
        spectral(a, NULL, 3, 3, sv, 77);
        spectral(w, w, 3, 3, sv2, 77); /* same Q1, Q2: the truncated pseudo-inverse */
        round_dt(a, 9, dt);
        p = npg_linalg_pinv(t_arr(a, dt, NPG_SHAPE(3, 3)), 1e-2);
        t_assert_close(p, w, 9, tol, tol, "pinv with rtol 1e-2 drops the singular value 1e-3");
    }
    /* a zero matrix: a zero pseudo-inverse (NumPy) */
    npg_array *pz = npg_linalg_pinv(npg_zeros(NPG_SHAPE(2, 3), OPT(.dtype = NPG_FLOAT64)), -1);
    if (expect_meta(pz, NPG_FLOAT64, NPG_SHAPE(3, 2), "pinv of zeros")) t_assert_close(pz, (double[6]){0}, 6, 0, 0, "pinv of zeros");
    /* empty and integer inputs */
    npg_array *p = npg_linalg_pinv(npg_zeros(NPG_SHAPE(3, 0), OPT(.dtype = NPG_FLOAT64)), -1);
    expect_meta(p, NPG_FLOAT64, NPG_SHAPE(0, 3), "pinv of (3,0)");
    p = npg_linalg_pinv(t_arr(R3, NPG_INT32, NPG_SHAPE(3, 3)), -1);
    if (expect_meta(p, NPG_FLOAT32, NPG_SHAPE(3, 3), "pinv(int32)")) t_assert_close(p, NP_PINV_R3, 9, 1e-4, 1e-4, "pinv(int32 R3)");
    npg_scope_end(sc);
    t_assert_no_leak(l0, "pinv");
}

Test(decomp, matrix_rank_values) {
    t_live l0 = t_live_now();
    npg_scope sc = npg_scope_begin();
    for (int di = 0; di < 2; di++) {
        npg_dtype dt = FDT[di];
        char label[128];
        /* full rank: tall, wide, square; rank-deficient R3; zero matrix */
        double t43[12], w25[10], sq[25];
        gen_spec(t43, NULL, 1, 4, 3, 5);
        gen_spec(w25, NULL, 1, 2, 5, 6);
        gen_sq(sq, 1, 5, 7);
        struct {
            const double *v;
            npg_shape s;
            double rank;
        } cs[] = {{t43, NPG_SHAPE(4, 3), 3}, {w25, NPG_SHAPE(2, 5), 2}, {sq, NPG_SHAPE(5, 5), 5},
                  {R3, NPG_SHAPE(3, 3), 2},   {(double[6]){0}, NPG_SHAPE(2, 3), 0}, {(double[1]){-3}, NPG_SHAPE(1, 1), 1}};
        for (int k = 0; k < 6; k++) {
            snprintf(label, sizeof label, "matrix_rank(%s case %d)", npg_dtype_name(dt), k);
            npg_array *r = npg_linalg_matrix_rank(t_arr(cs[k].v, dt, cs[k].s), -1);
            if (expect_meta(r, NPG_INT64, NPG_SHAPE0, label)) t_assert_close(r, &cs[k].rank, 1, 0, 0, label);
        }
        /* a batch: R3, the identity, zeros, a transposed view */
        double b3[27] = {0};
        memcpy(b3, R3, sizeof R3);
        b3[9] = b3[13] = b3[17] = 1;
        npg_array *r = npg_linalg_matrix_rank(npg_matrix_transpose(t_arr(b3, dt, NPG_SHAPE(3, 3, 3))), -1);
        if (expect_meta(r, NPG_INT64, NPG_SHAPE(3), "matrix_rank of a batch"))
            t_assert_close(r, (double[]){2, 3, 0}, 3, 0, 0, "matrix_rank of a batch");
        /* rtol against singular values (10, 1, 1e-3) */
        double a[9], sv[3] = {10, 1, 1e-3};
        spectral(a, NULL, 3, 3, sv, 78);
        npg_array *x = t_arr(a, dt, NPG_SHAPE(3, 3));
        static const double rt[4] = {-1, 1e-5, 1e-2, 0.5}, want[4] = {3, 3, 2, 1};
        for (int k = 0; k < 4; k++) {
            snprintf(label, sizeof label, "matrix_rank(%s, rtol %g), singular values (10, 1, 1e-3)", npg_dtype_name(dt), rt[k]);
            t_assert_close(npg_linalg_matrix_rank(x, rt[k]), &want[k], 1, 0, 0, label);
        }
    }
    /* the default rtol is max(m, n) * eps of the dtype: singular values
     * (1, 0.5, 1e-7) are rank 3 in float64 and rank 2 in float32 */
    {
        double a[9], sv[3] = {1, 0.5, 1e-7};
        spectral(a, NULL, 3, 3, sv, 79);
        t_assert_close(npg_linalg_matrix_rank(t_arr(a, NPG_FLOAT64, NPG_SHAPE(3, 3)), -1), (double[]){3}, 1, 0, 0,
                       "matrix_rank default rtol, float64");
        t_assert_close(npg_linalg_matrix_rank(t_arr(a, NPG_FLOAT32, NPG_SHAPE(3, 3)), -1), (double[]){2}, 1, 0, 0,
                       "matrix_rank default rtol, float32");
    }
    npg_array *r = npg_linalg_matrix_rank(t_arr(R3, NPG_INT32, NPG_SHAPE(3, 3)), -1);
    if (expect_meta(r, NPG_INT64, NPG_SHAPE0, "matrix_rank(int32)")) t_assert_close(r, (double[]){2}, 1, 0, 0, "matrix_rank(int32)");
    /* empty matrices have rank 0 (PyTorch; NumPy 1.24 raises), empty
     * batches an empty result */
    r = npg_linalg_matrix_rank(npg_zeros(NPG_SHAPE(2, 3, 0), OPT()), -1);
    if (expect_meta(r, NPG_INT64, NPG_SHAPE(2), "matrix_rank of (2,3,0)")) t_assert_close(r, (double[]){0, 0}, 2, 0, 0, "rank of empty");
    r = npg_linalg_matrix_rank(npg_zeros(NPG_SHAPE(0, 3, 3), OPT()), -1);
    expect_meta(r, NPG_INT64, NPG_SHAPE(0), "matrix_rank of (0,3,3)");
    npg_scope_end(sc);
    t_assert_no_leak(l0, "matrix_rank");
}

/* ------------------------------------------------------------------------
 * matrix_power
 * ------------------------------------------------------------------------ */

static void h_mpow(const double *a, double *out, int64_t n, int64_t p) {
    double *base = dalloc(n * n), *t = dalloc(n * n);
    if (p < 0)
        h_inv(a, base, n);
    else
        memcpy(base, a, sizeof(double) * (size_t)(n * n));
    h_eye(out, n);
    for (int64_t i = 0; i < (p < 0 ? -p : p); i++) {
        h_mm(out, base, t, n, n, n);
        memcpy(out, t, sizeof(double) * (size_t)(n * n));
    }
    free(base), free(t);
}

/* NumPy 1.24: matrix_power(G3, 5), matrix_power(G3, -2) and, int32,
 * matrix_power([[1,2,0],[0,1,-1],[3,0,1]], 5) */
static const double NP_MPOW_G3_5[9] = {85.25, 156.6875, -69.84375, -152.4375, -98.0, 307.0, -61.34375, -611.875, 212.1875};
static const double NP_MPOW_G3_M2[9] = {0.18233506518968728,  0.05332810508773649,  0.035290657778649155,
                                        -0.022350749926477786, -0.06460150965591607, 0.060190177433584936,
                                        0.09724536810116653,  -0.10489167728654052, 0.018821684148612877};
static const double I3[9] = {1, 2, 0, 0, 1, -1, 3, 0, 1};
static const double NP_MPOW_I3_5[9] = {-59, -50, -8, -12, -59, 25, -75, 24, -59};

Test(decomp, matrix_power_values) {
    t_live l0 = t_live_now();
    static const npg_shape shapes[] = {SH(1, 1), SH(3, 3), SH(2, 3, 4, 4), SH(0, 0), SH(0, 3, 3)};
    static const int64_t pows[] = {0, 1, 2, 5, -1, -2};
    for (int si = 0; si < 5; si++)
        for (int pi = 0; pi < 6; pi++)
            for (int di = 0; di < 2; di++)
                for (int li = 0; li < 2; li++) {
                    npg_scope sc = npg_scope_begin();
                    npg_shape s = shapes[si];
                    npg_dtype dt = FDT[di];
                    int lay = li ? L_MT : L_C;
                    int64_t n = s.dims[s.ndim - 1], nb = nbatch(s, 2), ne = numel(s);
                    double tol = tol_of(dt), *hv = dalloc(ne), *want = dalloc(ne);
                    gen_sq(hv, nb, n, (uint64_t)(si * 10 + pi + 12));
                    for (int64_t i = 0; i < ne; i++) hv[i] /= (double)n + 1; /* keep the powers moderate */
                    round_dt(hv, ne, dt);
                    for (int64_t b = 0; b < nb; b++) h_mpow(hv + b * n * n, want + b * n * n, n, pows[pi]);
                    npg_array *x = mk(s, lay, dt, hv);
                    char label[256], e[32];
                    snprintf(e, sizeof e, "n = %lld", (long long)pows[pi]);
                    label_of(label, sizeof label, "npg_linalg_matrix_power", dt, s, lay, e);
                    npg_array *y = npg_linalg_matrix_power(x, pows[pi]);
                    if (expect_meta(y, dt, s, label)) {
                        double *g = t_read(y);
                        for (int64_t b = 0; b < nb; b++)
                            near(g + b * n * n, want + b * n * n, n * n, tol, 1 + amax(want + b * n * n, n * n), label, "vs host powers");
                        free(g);
                    }
                    t_expect_unchanged(x, hv, ne, label);
                    free(hv), free(want);
                    npg_scope_end(sc);
                }
    npg_scope sc = npg_scope_begin();
    for (int di = 0; di < 2; di++) {
        double tol = tol_of(FDT[di]) * 10;
        npg_array *g3 = t_arr(G3, FDT[di], NPG_SHAPE(3, 3));
        t_assert_close(npg_linalg_matrix_power(g3, 5), NP_MPOW_G3_5, 9, tol, tol, "matrix_power(G3, 5) vs NumPy");
        t_assert_close(npg_linalg_matrix_power(g3, -2), NP_MPOW_G3_M2, 9, tol, tol, "matrix_power(G3, -2) vs NumPy");
    }
    /* integers keep their dtype */
    npg_array *i3 = t_arr(I3, NPG_INT32, NPG_SHAPE(3, 3)), *y;
    y = npg_linalg_matrix_power(i3, 5);
    if (expect_meta(y, NPG_INT32, NPG_SHAPE(3, 3), "matrix_power(int32, 5)")) t_assert_close(y, NP_MPOW_I3_5, 9, 0, 0, "matrix_power(int32, 5) vs NumPy");
    double e[9];
    h_eye(e, 3);
    y = npg_linalg_matrix_power(i3, 0);
    if (expect_meta(y, NPG_INT32, NPG_SHAPE(3, 3), "matrix_power(int32, 0)")) t_assert_close(y, e, 9, 0, 0, "matrix_power(int32, 0) is I");
    y = npg_linalg_matrix_power(i3, 1);
    if (expect_meta(y, NPG_INT32, NPG_SHAPE(3, 3), "matrix_power(int32, 1)")) t_assert_close(y, I3, 9, 0, 0, "matrix_power(int32, 1)");
    /* products that overflow int32 wrap like matmul (exact in uint32) */
    double big[9] = {1000, -999, 7, 3, 998, -1000, -500, 250, 999};
    for (int p = 2; p <= 7; p++) {
        uint32_t acc[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1}, t[9];
        for (int r = 0; r < p; r++) {
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++) {
                    uint32_t s = 0;
                    for (int k = 0; k < 3; k++) s += acc[i * 3 + k] * (uint32_t)(int32_t)big[k * 3 + j];
                    t[i * 3 + j] = s;
                }
            memcpy(acc, t, sizeof t);
        }
        double want[9];
        for (int i = 0; i < 9; i++) want[i] = (double)(int32_t)acc[i];
        char label[64];
        snprintf(label, sizeof label, "matrix_power(int32, %d) wraps", p);
        y = npg_linalg_matrix_power(npg_matrix_transpose(npg_matrix_transpose(t_arr(big, NPG_INT32, NPG_SHAPE(3, 3)))), p);
        if (expect_meta(y, NPG_INT32, NPG_SHAPE(3, 3), label)) t_assert_close(y, want, 9, 0, 0, label);
    }
    y = npg_linalg_matrix_power(t_arr(I3, NPG_INT64, NPG_SHAPE(1, 3, 3)), 5);
    if (expect_meta(y, NPG_INT64, NPG_SHAPE(1, 3, 3), "matrix_power(int64, 5)")) t_assert_close(y, NP_MPOW_I3_5, 9, 0, 0, "matrix_power(int64, 5)");
    npg_scope_end(sc);
    t_assert_no_leak(l0, "matrix_power");
}

/* ------------------------------------------------------------------------
 * vector_norm, matrix_norm
 * ------------------------------------------------------------------------ */

/* Host vector norm of x (shape s) over the axes marked in red; returns the
 * result's shape (keepdims or not). */
static npg_shape h_vnorm(const double *x, npg_shape s, const bool *red, bool keep, double ord, double *out) {
    npg_shape ko = s, o = {.ndim = 0};
    for (int i = 0; i < s.ndim; i++) {
        if (red[i]) ko.dims[i] = 1;
        else o.dims[o.ndim++] = s.dims[i];
    }
    int64_t no = numel(ko);
    for (int64_t j = 0; j < no; j++) out[j] = ord == -INFINITY ? INFINITY : 0;
    for (int64_t k = 0; k < numel(s); k++) {
        int64_t idx[NPG_MAX_DIMS];
        unravel(k, s, idx);
        for (int i = 0; i < s.ndim; i++)
            if (red[i]) idx[i] = 0;
        int64_t j = ravel(idx, ko);
        double v = fabs(x[k]);
        if (ord == INFINITY) out[j] = v > out[j] ? v : out[j];
        else if (ord == -INFINITY) out[j] = v < out[j] ? v : out[j];
        else if (ord == 0) out[j] += v != 0;
        else if (ord == 1) out[j] += v;
        else if (ord == 2) out[j] += v * v;
        else out[j] += pow(v, ord);
    }
    for (int64_t j = 0; j < no; j++) {
        if (ord == 2) out[j] = sqrt(out[j]);
        else if (ord != 0 && ord != 1 && !isinf(ord)) out[j] = pow(out[j], 1 / ord);
    }
    return keep ? ko : o;
}

Test(decomp, vector_norm_values) {
    t_live l0 = t_live_now();
    static const double ords[] = {2, 1, 3, 0.5, INFINITY, -INFINITY, 0, -1};
    static const npg_axes axs[] = {{0}, {1, {-1}}, {2, {0, 2}}, {1, {1}}, {2, {2, 0}}, {3, {0, 1, 2}}};
    static const npg_dtype dts[] = {NPG_FLOAT32, NPG_FLOAT64, NPG_INT32};
    npg_shape s = NPG_SHAPE(3, 4, 5);
    double hv[60], want[60];
    for (int li = 0; li < NLAYS; li++)
        for (int di = 0; di < 3; di++) {
            npg_scope sc = npg_scope_begin();
            npg_dtype dt = dts[di];
            t_fill_uniform(hv, 60, -3, 3, (uint64_t)(li * 3 + di + 13));
            for (int i = 0; i < 60; i++) hv[i] = dt == NPG_INT32 ? round(hv[i]) : round(hv[i] * 4) / 4; /* some exact zeros */
            npg_array *x = mk(s, LAYS[li], dt, hv);
            npg_dtype odt = dt == NPG_INT32 ? NPG_FLOAT32 : dt;
            for (int oi = 0; oi < 8; oi++)
                for (int ai = 0; ai < 6; ai++)
                    for (int keep = 0; keep < 2; keep++) {
                        bool red[3] = {axs[ai].n == 0, axs[ai].n == 0, axs[ai].n == 0};
                        for (int i = 0; i < axs[ai].n; i++) red[(axs[ai].axes[i] + 3) % 3] = true;
                        npg_shape so = h_vnorm(hv, s, red, keep, ords[oi], want);
                        char label[256], e[64];
                        snprintf(e, sizeof e, "ord %g, axes case %d, keepdims %d", ords[oi], ai, keep);
                        label_of(label, sizeof label, "npg_linalg_vector_norm", dt, s, LAYS[li], e);
                        npg_array *y = npg_linalg_vector_norm(x, ords[oi], axs[ai], keep);
                        if (expect_meta(y, odt, so, label)) {
                            double *g = t_read(y);
                            for (int64_t j = 0; j < numel(so); j++) near(g + j, want + j, 1, tol_of(odt), 1 + fabs(want[j]), label, "vs host");
                            free(g);
                        }
                    }
            t_expect_unchanged(x, hv, 60, "vector_norm input");
            npg_scope_end(sc);
        }
    t_assert_no_leak(l0, "vector_norm sweep");
}

/* NumPy 1.24: np.linalg.norm([3,-4,0,1.5,-0.5,2], ord) for ord 2, 1, 3, 0.5,
 * inf, -inf, 0, -1 */
static const double NP_VNORM[8] = {5.612486080160912, 11.0, 4.679950811570578, 50.099726428255885, 4.0, 0.0, 5.0, 0.0};

Test(decomp, vector_norm_numpy_and_empty) {
    t_live l0 = t_live_now();
    npg_scope sc = npg_scope_begin();
    static const double ords[] = {2, 1, 3, 0.5, INFINITY, -INFINITY, 0, -1};
    double v[6] = {3, -4, 0, 1.5, -0.5, 2};
    for (int di = 0; di < 2; di++) {
        npg_array *x = t_arr(v, FDT[di], NPG_SHAPE(6));
        for (int oi = 0; oi < 8; oi++) {
            char label[64];
            snprintf(label, sizeof label, "vector_norm(%s, ord %g) vs NumPy", npg_dtype_name(FDT[di]), ords[oi]);
            npg_array *y = npg_linalg_vector_norm(x, ords[oi], NPG_ALL_AXES, false);
            if (expect_meta(y, FDT[di], NPG_SHAPE0, label)) t_assert_close(y, &NP_VNORM[oi], 1, tol_of(FDT[di]), 0, label);
        }
    }
    /* empty: the sums are 0 */
    npg_array *e = npg_zeros(NPG_SHAPE(0), OPT(.dtype = NPG_FLOAT64)), *e2 = npg_zeros(NPG_SHAPE(3, 0), OPT(.dtype = NPG_FLOAT64));
    for (int oi = 0; oi < 3; oi++) {
        double o = oi == 0 ? 2 : oi == 1 ? 1 : 0;
        t_assert_close(npg_linalg_vector_norm(e, o, NPG_ALL_AXES, false), (double[]){0}, 1, 0, 0, "vector_norm of an empty vector");
        npg_array *y = npg_linalg_vector_norm(e2, o, NPG_AXES(-1), false);
        if (expect_meta(y, NPG_FLOAT64, NPG_SHAPE(3), "vector_norm over an empty axis"))
            t_assert_close(y, (double[]){0, 0, 0}, 3, 0, 0, "vector_norm over an empty axis");
    }
    /* bool: float32 */
    npg_array *y = npg_linalg_vector_norm(t_arr((double[]){1, 0, 1, 1}, NPG_BOOL, NPG_SHAPE(4)), 2, NPG_ALL_AXES, false);
    if (expect_meta(y, NPG_FLOAT32, NPG_SHAPE0, "vector_norm(bool)")) t_assert_close(y, (double[]){sqrt(3)}, 1, 1e-6, 0, "vector_norm(bool)");
    npg_scope_end(sc);
    t_assert_no_leak(l0, "vector_norm numpy");
}

static const char *const MORDS[] = {NULL, "fro", "nuc", "2", "-2", "1", "-1", "inf", "-inf"};
#define NMORD 9
/* Host matrix norm of a (m x n) with singular values sv (descending). */
static double h_mnorm(const double *a, int64_t m, int64_t n, const double *sv, const char *ord) {
    int64_t k = m < n ? m : n;
    double r = 0;
    if (!ord || !strcmp(ord, "fro")) {
        for (int64_t i = 0; i < m * n; i++) r += a[i] * a[i];
        return sqrt(r);
    }
    if (!strcmp(ord, "nuc")) {
        for (int64_t i = 0; i < k; i++) r += sv[i];
        return r;
    }
    if (!strcmp(ord, "2")) return sv[0];
    if (!strcmp(ord, "-2")) return sv[k - 1];
    bool col = !strcmp(ord, "1") || !strcmp(ord, "-1"), mx = ord[0] != '-';
    r = mx ? 0 : INFINITY;
    for (int64_t o = 0; o < (col ? n : m); o++) {
        double t = 0;
        for (int64_t i = 0; i < (col ? m : n); i++) t += fabs(col ? a[i * n + o] : a[o * n + i]);
        r = mx ? (t > r ? t : r) : (t < r ? t : r);
    }
    return r;
}

Test(decomp, matrix_norm_values) {
    t_live l0 = t_live_now();
    static const npg_shape shapes[] = {SH(3, 4), SH(4, 3), SH(2, 3, 4), SH(1, 1), SH(5, 5), SH(3, 2, 2)};
    for (int si = 0; si < 6; si++)
        for (int li = 0; li < NLAYS; li++)
            for (int di = 0; di < 2; di++) {
                npg_scope sc = npg_scope_begin();
                npg_shape s = shapes[si], bs = batch_of(s, 2);
                npg_dtype dt = FDT[di];
                int64_t m = s.dims[s.ndim - 2], n = s.dims[s.ndim - 1], k = m < n ? m : n, nb = nbatch(s, 2), ne = numel(s);
                double *hv = dalloc(ne), *want = dalloc(nb), sv[64];
                gen_spec(hv, NULL, nb, m, n, (uint64_t)(si * 10 + li + 14));
                round_dt(hv, ne, dt);
                npg_array *x = mk(s, LAYS[li], dt, hv);
                for (int oi = 0; oi < NMORD; oi++)
                    for (int keep = 0; keep < 2; keep++) {
                        for (int64_t b = 0; b < nb; b++) {
                            sv_of(sv, k, b);
                            want[b] = h_mnorm(hv + b * m * n, m, n, sv, MORDS[oi]);
                        }
                        char label[256], e[64];
                        snprintf(e, sizeof e, "ord %s, keepdims %d", MORDS[oi] ? MORDS[oi] : "NULL", keep);
                        label_of(label, sizeof label, "npg_linalg_matrix_norm", dt, s, LAYS[li], e);
                        npg_array *y = npg_linalg_matrix_norm(x, MORDS[oi], keep);
                        if (expect_meta(y, dt, keep ? with_tail(bs, 2, 1, 1) : bs, label)) {
                            double *g = t_read(y);
                            near(g, want, nb, tol_of(dt), 10, label, "vs host");
                            free(g);
                        }
                    }
                t_expect_unchanged(x, hv, ne, "matrix_norm input");
                free(hv), free(want);
                npg_scope_end(sc);
            }
    t_assert_no_leak(l0, "matrix_norm sweep");
}

/* NumPy 1.24: np.linalg.norm(M34, ord) for 'fro', 'nuc', 2, -2, 1, -1, inf,
 * -inf */
static const double M34[12] = {1, -2, 3, 0.5, -4, 5, -0.25, 2, 0, 1.5, -3, 4};
static const double NP_MNORM_M34[8] = {9.303897032964198, 14.830299155017029, 7.800243623202017, 2.8051478364494233,
                                       8.5,               5.0,                11.25,             6.5};

Test(decomp, matrix_norm_numpy_empty_and_dtypes) {
    t_live l0 = t_live_now();
    npg_scope sc = npg_scope_begin();
    for (int di = 0; di < 2; di++) {
        npg_array *x = t_arr(M34, FDT[di], NPG_SHAPE(3, 4));
        for (int oi = 1; oi < NMORD; oi++) {
            char label[64];
            snprintf(label, sizeof label, "matrix_norm(M34, %s) vs NumPy (%s)", MORDS[oi], npg_dtype_name(FDT[di]));
            t_assert_close(npg_linalg_matrix_norm(x, MORDS[oi], false), &NP_MNORM_M34[oi - 1], 1, tol_of(FDT[di]) * 10, 0, label);
        }
        t_assert_close(npg_linalg_matrix_norm(x, NULL, false), &NP_MNORM_M34[0], 1, tol_of(FDT[di]) * 10, 0, "matrix_norm(M34, NULL) is fro");
    }
    /* an empty batch: an empty result for every ord; 0 x 0 and 3 x 0
     * matrices: Frobenius norm 0 */
    npg_array *eb = npg_zeros(NPG_SHAPE(0, 3, 3), OPT(.dtype = NPG_FLOAT64));
    for (int oi = 0; oi < NMORD; oi++) {
        char label[64];
        snprintf(label, sizeof label, "matrix_norm of (0,3,3), ord %s", MORDS[oi] ? MORDS[oi] : "NULL");
        expect_meta(npg_linalg_matrix_norm(eb, MORDS[oi], false), NPG_FLOAT64, NPG_SHAPE(0), label);
    }
    t_assert_close(npg_linalg_matrix_norm(npg_zeros(NPG_SHAPE(0, 0), OPT()), "fro", false), (double[]){0}, 1, 0, 0, "fro of 0x0");
    t_assert_close(npg_linalg_matrix_norm(npg_zeros(NPG_SHAPE(3, 0), OPT()), NULL, false), (double[]){0}, 1, 0, 0, "fro of 3x0");
    /* integers: float32 */
    double mi[6] = {1, -2, 3, 4, 0, -6};
    npg_array *y = npg_linalg_matrix_norm(t_arr(mi, NPG_INT32, NPG_SHAPE(2, 3)), "1", true);
    if (expect_meta(y, NPG_FLOAT32, NPG_SHAPE(1, 1), "matrix_norm(int32, 1, keepdims)")) t_assert_close(y, (double[]){9}, 1, 0, 0, "matrix_norm(int32, 1)");
    y = npg_linalg_matrix_norm(t_arr(mi, NPG_INT32, NPG_SHAPE(2, 3)), "inf", false);
    if (expect_meta(y, NPG_FLOAT32, NPG_SHAPE0, "matrix_norm(int32, inf)")) t_assert_close(y, (double[]){10}, 1, 0, 0, "matrix_norm(int32, inf)");
    double mu[4] = {3, 0, 4, 0};
    y = npg_linalg_matrix_norm(t_arr(mu, NPG_UINT8, NPG_SHAPE(2, 2)), "fro", false);
    if (expect_meta(y, NPG_FLOAT32, NPG_SHAPE0, "matrix_norm(uint8, fro)")) t_assert_close(y, (double[]){5}, 1, 1e-6, 0, "matrix_norm(uint8)");
    npg_scope_end(sc);
    t_assert_no_leak(l0, "matrix_norm numpy");
}

/* ------------------------------------------------------------------------
 * cross
 * ------------------------------------------------------------------------ */

static npg_shape h_cross(const double *a, npg_shape sa, const double *b, npg_shape sb, int axis, double *out) {
    npg_shape o = bshape(sa, sb);
    int ax = axis < 0 ? axis + o.ndim : axis;
    for (int64_t k = 0; k < numel(o); k++) {
        int64_t idx[NPG_MAX_DIMS];
        unravel(k, o, idx);
        if (idx[ax] != 0) continue;
        double u[3], v[3];
        int64_t pos[3];
        for (int c = 0; c < 3; c++) {
            idx[ax] = c;
            pos[c] = ravel(idx, o);
            u[c] = a[bidx(pos[c], o, sa)];
            v[c] = b[bidx(pos[c], o, sb)];
        }
        out[pos[0]] = u[1] * v[2] - u[2] * v[1];
        out[pos[1]] = u[2] * v[0] - u[0] * v[2];
        out[pos[2]] = u[0] * v[1] - u[1] * v[0];
    }
    return o;
}

/* NumPy 1.24: np.cross([[1,2,3],[-1,0.5,2]], [4,-5,6]) */
static const double NP_CROSS[6] = {27.0, 6.0, -13.0, 13.0, 14.0, 3.0};

Test(decomp, cross_values) {
    t_live l0 = t_live_now();
    static const struct {
        npg_shape a, b;
        int axis;
    } cs[] = {{SH(2, 3), SH(3), -1},         {SH(3, 4), SH(3, 1), 0},       {SH(2, 1, 3), SH(4, 3), -1}, {SH(5, 3), SH(5, 3), 1},
              {SH(3), SH(3), 0},             {SH(2, 3, 5), SH(1, 3, 1), 1}, {SH(0, 3), SH(3), -1},       {SH(4, 3, 2), SH(3, 2), -2}};
    static const npg_dtype dts[][3] = {{NPG_FLOAT32, NPG_FLOAT32, NPG_FLOAT32}, {NPG_FLOAT64, NPG_FLOAT64, NPG_FLOAT64},
                                       {NPG_INT32, NPG_INT32, NPG_INT32},       {NPG_INT64, NPG_INT64, NPG_INT64},
                                       {NPG_INT32, NPG_FLOAT32, NPG_FLOAT32},   {NPG_INT32, NPG_INT64, NPG_INT64},
                                       {NPG_FLOAT32, NPG_FLOAT64, NPG_FLOAT64}};
    static const int la[] = {L_C, L_T, L_NEG, L_S2};
    for (int ci = 0; ci < 8; ci++)
        for (int di = 0; di < 7; di++)
            for (int li = 0; li < 4; li++) {
                npg_scope sc = npg_scope_begin();
                npg_shape sa = cs[ci].a, sb = cs[ci].b;
                double ha[64], hb[64], want[128];
                t_fill_uniform(ha, numel(sa), -5, 5, (uint64_t)(ci * 100 + di * 10 + li));
                t_fill_uniform(hb, numel(sb), -5, 5, (uint64_t)(ci * 100 + di * 10 + li + 50));
                for (int i = 0; i < numel(sa); i++) ha[i] = round(ha[i] * 2) / 2;
                for (int i = 0; i < numel(sb); i++) hb[i] = round(hb[i] * 2) / 2;
                if (!npg_is_floating(dts[di][0])) for (int i = 0; i < numel(sa); i++) ha[i] = round(ha[i]);
                if (!npg_is_floating(dts[di][1])) for (int i = 0; i < numel(sb); i++) hb[i] = round(hb[i]);
                npg_array *a = mk(sa, la[li], dts[di][0], ha), *b = mk(sb, la[(li + 1) % 4], dts[di][1], hb);
                npg_shape so = h_cross(ha, sa, hb, sb, cs[ci].axis, want);
                char label[256], s1[96], s2[96];
                snprintf(label, sizeof label, "npg_linalg_cross(%s %s %s, %s %s %s, axis %d)", npg_dtype_name(dts[di][0]), sstr(sa, s1),
                         LNAME[la[li]], npg_dtype_name(dts[di][1]), sstr(sb, s2), LNAME[la[(li + 1) % 4]], cs[ci].axis);
                npg_array *y = npg_linalg_cross(a, b, cs[ci].axis);
                if (expect_meta(y, dts[di][2], so, label)) expect_vals(y, want, numel(so), 0, 0, label); /* halves: exact */
                t_expect_unchanged(a, ha, numel(sa), label);
                npg_scope_end(sc);
            }
    npg_scope sc = npg_scope_begin();
    double a[6] = {1, 2, 3, -1, 0.5, 2}, b[3] = {4, -5, 6};
    for (int di = 0; di < 2; di++)
        t_assert_close(npg_linalg_cross(t_arr(a, FDT[di], NPG_SHAPE(2, 3)), t_arr(b, FDT[di], NPG_SHAPE(3)), -1), NP_CROSS, 6, 0, 0,
                       "cross vs NumPy");
    npg_scope_end(sc);
    t_assert_no_leak(l0, "cross sweep");
}

/* ------------------------------------------------------------------------
 * Gradients (npg_gradcheck, float64)
 * ------------------------------------------------------------------------ */

enum { G_CHOL, G_QR, G_EIGVALSH, G_EIGH, G_SVD, G_SVDVALS, G_SOLVE, G_TRI, G_INV, G_DET, G_SLOGDET, G_PINV, G_MPOW, G_VNORM, G_MNORM, G_CROSS };
typedef struct gx {
    int op;
    bool mt;      /* input 0 as a matrix-transposed view */
    bool f1, f2;  /* upper / complete / full_matrices; unitriangular */
    int out;      /* which output (or function of it) */
    int64_t p;    /* matrix_power's n */
    double ord;   /* vector_norm's ord */
    const char *mord;
    npg_axes axes;
    bool keep;
    int axis;
} gx;

static npg_array *symm(npg_array *x) { return npg_multiply_scalar(npg_add(x, npg_matrix_transpose(x)), 0.5); }
/* (x + x^T) / 2 + (n + 1) I: symmetric positive definite for x in [-1, 1] */
static npg_array *spd_of(npg_array *x) {
    int64_t n = npg_dim(x, -1);
    return npg_add(symm(x), npg_multiply_scalar(npg_eye(n, NPG_OPTS(.dtype = npg_dtype_of(x), .device = npg_device_of(x))), (double)n + 1));
}
/* The first k columns (cols) or rows of the last two axes. */
static npg_array *first_cols(npg_array *u, int64_t k) { return NPG_INDEX(u, NPG_ELLIPSIS, NPG_SLICE(0, k, 1)); }
static npg_array *first_rows(npg_array *v, int64_t k) { return NPG_INDEX(v, NPG_ELLIPSIS, NPG_SLICE(0, k, 1), NPG_ALL); }

static npg_array *gfn(npg_array *const *in, int nin, void *user) {
    const gx *c = user;
    npg_array *a = c->mt ? npg_matrix_transpose(in[0]) : in[0], *b = nin > 1 ? in[1] : NULL;
    npg_array *o1 = NULL, *o2 = NULL, *o3 = NULL;
    switch (c->op) {
    case G_CHOL: return npg_linalg_cholesky(spd_of(a), c->f1);
    case G_QR:
        if (npg_linalg_qr(a, c->f1, &o1, &o2) != NPG_OK) return NULL;
        return c->out ? o2 : o1;
    case G_EIGVALSH: return npg_linalg_eigvalsh(symm(a));
    case G_EIGH:
        if (npg_linalg_eigh(symm(a), &o1, &o2) != NPG_OK) return NULL;
        if (c->out == 0) return o1;
        if (c->out == 1) return npg_multiply(o2, o2); /* sign-invariant */
        return npg_matmul(npg_multiply(o2, npg_expand_dims(o1, -2)), npg_matrix_transpose(o2)); /* V diag(w) V^T */
    case G_SVD: {
        if (npg_linalg_svd(a, c->f1, &o1, &o2, &o3) != NPG_OK) return NULL;
        int64_t k = npg_dim(o2, -1);
        if (c->out == 0) return o2;
        if (c->out == 1) {
            npg_array *u = first_cols(o1, k);
            return npg_multiply(u, u);
        }
        if (c->out == 2) {
            npg_array *v = first_rows(o3, k);
            return npg_multiply(v, v);
        }
        /* U[:, :k] diag(s) Vh[:k] with the squares of s: sign-invariant */
        return npg_matmul(npg_multiply(first_cols(o1, k), npg_expand_dims(npg_square(o2), -2)), first_rows(o3, k));
    }
    case G_SVDVALS: return npg_linalg_svdvals(a);
    case G_SOLVE: return npg_linalg_solve(a, b);
    case G_TRI: return npg_linalg_solve_triangular(a, b, c->f1, c->f2);
    case G_INV: return npg_linalg_inv(a);
    case G_DET: return npg_linalg_det(a);
    case G_SLOGDET:
        if (npg_linalg_slogdet(a, &o1, &o2) != NPG_OK) return NULL;
        return o2;
    case G_PINV: return npg_linalg_pinv(a, -1);
    case G_MPOW: return npg_linalg_matrix_power(a, c->p);
    case G_VNORM: return npg_linalg_vector_norm(a, c->ord, c->axes, c->keep);
    case G_MNORM: return npg_linalg_matrix_norm(a, c->mord, c->keep);
    case G_CROSS: return npg_linalg_cross(a, b, c->axis);
    }
    return NULL;
}

static npg_array *leaf(const double *v, npg_shape s) {
    npg_array *x = t_arr(v, NPG_FLOAT64, s);
    cr_assert_eq(npg_set_requires_grad(x, true), NPG_OK);
    return x;
}
static npg_array *rleaf(npg_shape s, double lo, double hi, uint64_t seed) {
    double *v = dalloc(numel(s));
    t_fill_uniform(v, numel(s), lo, hi, seed);
    npg_array *x = leaf(v, s);
    free(v);
    return x;
}
static void gcheck(const gx *c, npg_array *const *xs, int n, const char *what) {
    g_checks++;
    npg_status st = npg_gradcheck(gfn, (void *)c, xs, n, NULL);
    cr_expect_eq(st, NPG_OK, "gradcheck %s: %s", what, npg_last_error());
    npg_clear_error();
}

Test(decomp, gradcheck_cholesky) {
    t_live l0 = t_live_now();
    static const npg_shape shapes[] = {SH(1, 1), SH(3, 3), SH(2, 4, 4)};
    for (int si = 0; si < 3; si++)
        for (int up = 0; up < 2; up++)
            for (int mt = 0; mt < 2; mt++) {
                npg_scope sc = npg_scope_begin();
                gx c = {.op = G_CHOL, .f1 = up, .mt = mt};
                npg_array *x = rleaf(shapes[si], -1, 1, (uint64_t)(si * 4 + up * 2 + mt + 20));
                char w[256], b[96];
                snprintf(w, sizeof w, "cholesky(spd %s, upper %d%s)", sstr(shapes[si], b), up, mt ? ", transposed" : "");
                gcheck(&c, &x, 1, w);
                npg_scope_end(sc);
            }
    t_assert_no_leak(l0, "gradcheck cholesky");
}

Test(decomp, cholesky_and_eigh_gradients_are_symmetric) {
    t_live l0 = t_live_now();
    npg_scope sc = npg_scope_begin();
    /* a leaf A (not symmetrised by the loss): the gradient is the symmetric
     * one (PyTorch's convention), d(sum c_j w_j)/dA = V diag(c) V^T */
    double a[16], cw[4] = {0.5, -1, 2, 0.25};
    gen_sym(a, 1, 4, 30);
    npg_array *x = leaf(a, NPG_SHAPE(4, 4)), *w = NULL, *v = NULL, *g = NULL;
    cr_assert_eq(npg_linalg_eigh(x, &w, &v), NPG_OK, "%s", npg_last_error());
    npg_array *loss = npg_sum(npg_multiply(w, t_arr(cw, NPG_FLOAT64, NPG_SHAPE(4))), NPG_ALL_AXES, false);
    cr_assert_eq(npg_grad_of(&loss, 1, NULL, &x, 1, &g, NULL), NPG_OK, "%s", npg_last_error());
    double *gv = t_read(v), want[16];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) {
            want[i * 4 + j] = 0;
            for (int l = 0; l < 4; l++) want[i * 4 + j] += gv[i * 4 + l] * cw[l] * gv[j * 4 + l];
        }
    t_assert_close(g, want, 16, 1e-9, 1e-9, "d(sum c w)/dA = V diag(c) V^T (eigh)");
    npg_array *g2 = NULL;
    loss = npg_sum(npg_multiply(npg_linalg_eigvalsh(x), t_arr(cw, NPG_FLOAT64, NPG_SHAPE(4))), NPG_ALL_AXES, false);
    cr_assert_eq(npg_grad_of(&loss, 1, NULL, &x, 1, &g2, NULL), NPG_OK, "%s", npg_last_error());
    t_assert_close(g2, want, 16, 1e-9, 1e-9, "d(sum c w)/dA = V diag(c) V^T (eigvalsh)");
    free(gv);
    /* cholesky: symmetric gradient; a symmetric direction's derivative
     * (perturbing the lower element, the only one read) is 2 G_ij */
    double s[9], cc[9];
    gen_spd(s, 1, 3, 31);
    t_fill_uniform(cc, 9, -1, 1, 32);
    npg_array *y = leaf(s, NPG_SHAPE(3, 3)), *C = t_arr(cc, NPG_FLOAT64, NPG_SHAPE(3, 3)), *gc = NULL;
    loss = npg_sum(npg_multiply(npg_linalg_cholesky(y, false), C), NPG_ALL_AXES, false);
    cr_assert_eq(npg_grad_of(&loss, 1, NULL, &y, 1, &gc, NULL), NPG_OK, "%s", npg_last_error());
    double *hg = t_read(gc), l1[9], l2[9], h = 1e-6;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            cr_expect(fabs(hg[i * 3 + j] - hg[j * 3 + i]) <= 1e-12 * (1 + fabs(hg[i * 3 + j])), "cholesky gradient not symmetric at (%d,%d): %g vs %g",
                      i, j, hg[i * 3 + j], hg[j * 3 + i]);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j <= i; j++) {
            double sp[9], sm[9];
            memcpy(sp, s, sizeof s), memcpy(sm, s, sizeof s);
            sp[i * 3 + j] += h, sm[i * 3 + j] -= h;
            h_chol(sp, l1, 3), h_chol(sm, l2, 3);
            double fd = 0;
            for (int k = 0; k < 9; k++) fd += cc[k] * (l1[k] - l2[k]) / (2 * h);
            double an = i == j ? hg[i * 3 + j] : 2 * hg[i * 3 + j];
            cr_expect(fabs(an - fd) <= 1e-6 * (1 + fabs(fd)), "cholesky gradient at (%d,%d): %.12g, finite difference %.12g", i, j, an, fd);
        }
    free(hg);
    npg_scope_end(sc);
    t_assert_no_leak(l0, "symmetric gradients");
}

Test(decomp, gradcheck_qr) {
    t_live l0 = t_live_now();
    static const struct {
        npg_shape s;
        bool complete;
    } cs[] = {{SH(4, 3), false}, {SH(3, 3), false}, {SH(3, 5), true}, {SH(3, 5), false}, {SH(2, 4, 2), false}, {SH(2, 2, 4), true}};
    for (int ci = 0; ci < 6; ci++)
        for (int out = 0; out < 2; out++)
            for (int mt = 0; mt < 2; mt++) {
                npg_scope sc = npg_scope_begin();
                npg_shape bs = cs[ci].s;
                if (mt) { /* the leaf is the transpose */
                    bs.dims[bs.ndim - 1] = cs[ci].s.dims[bs.ndim - 2];
                    bs.dims[bs.ndim - 2] = cs[ci].s.dims[bs.ndim - 1];
                }
                gx c = {.op = G_QR, .f1 = cs[ci].complete, .out = out, .mt = mt};
                npg_array *x = rleaf(bs, -1, 1, (uint64_t)(ci * 4 + out * 2 + mt + 40));
                char w[256], b[96];
                snprintf(w, sizeof w, "qr(%s, %s) %s%s", sstr(cs[ci].s, b), cs[ci].complete ? "complete" : "reduced", out ? "R" : "Q",
                         mt ? ", transposed" : "");
                gcheck(&c, &x, 1, w);
                npg_scope_end(sc);
            }
    t_assert_no_leak(l0, "gradcheck qr");
}

Test(decomp, qr_complete_tall_backward_is_refused) {
    t_live l0 = t_live_now();
    npg_scope sc = npg_scope_begin();
    /* header: qr's backward needs mode "reduced" or m <= n */
    npg_array *x = rleaf(NPG_SHAPE(4, 2), -1, 1, 50), *q = NULL, *r = NULL, *g = NULL;
    npg_status st = npg_linalg_qr(x, true, &q, &r);
    if (st == NPG_OK) {
        npg_array *loss = npg_sum(npg_square(q), NPG_ALL_AXES, false);
        st = npg_grad_of(&loss, 1, NULL, &x, 1, &g, NULL);
        cr_expect_neq(st, NPG_OK, "the backward of a complete QR of a tall matrix must fail, not give a gradient");
        cr_log_info("complete tall QR backward: %s (%s)", npg_status_string(st), npg_last_error());
        cr_expect(strstr(npg_last_error(), "qr") != NULL, "the message names qr: %s", npg_last_error());
    } else {
        cr_log_info("complete tall QR of a leaf refused at the forward: %s", npg_last_error());
    }
    npg_clear_error();
    npg_scope_end(sc);
    t_assert_no_leak(l0, "qr complete tall");
}

Test(decomp, gradcheck_eigh) {
    t_live l0 = t_live_now();
    static const npg_shape shapes[] = {SH(1, 1), SH(3, 3), SH(4, 4), SH(2, 3, 3)};
    for (int si = 0; si < 4; si++)
        for (int out = 0; out < 4; out++) {
            npg_scope sc = npg_scope_begin();
            npg_shape s = shapes[si];
            int64_t n = s.dims[s.ndim - 1], ne = numel(s);
            double *v = dalloc(ne);
            gen_sym(v, ne / (n * n), n, (uint64_t)(si + 60)); /* eigenvalues 3 apart */
            npg_array *x = leaf(v, s);
            free(v);
            gx c = {.op = out == 3 ? G_EIGVALSH : G_EIGH, .out = out, .mt = si == 2};
            static const char *const what[] = {"w", "V*V", "V diag(w) V^T", "eigvalsh"};
            char w[256], b[96];
            snprintf(w, sizeof w, "eigh(%s) %s", sstr(s, b), what[out]);
            gcheck(&c, &x, 1, w);
            npg_scope_end(sc);
        }
    t_assert_no_leak(l0, "gradcheck eigh");
}

Test(decomp, gradcheck_svd) {
    t_live l0 = t_live_now();
    static const struct {
        npg_shape s;
        bool full;
    } cs[] = {{SH(4, 3), false}, {SH(3, 4), false}, {SH(3, 3), false}, {SH(2, 3, 2), false}, {SH(4, 2), true}, {SH(2, 4), true}};
    for (int ci = 0; ci < 6; ci++)
        for (int out = 0; out < 5; out++) {
            npg_scope sc = npg_scope_begin();
            npg_shape s = cs[ci].s;
            int64_t m = s.dims[s.ndim - 2], n = s.dims[s.ndim - 1];
            double *v = dalloc(numel(s));
            gen_spec(v, NULL, numel(s) / (m * n), m, n, (uint64_t)(ci + 70)); /* singular values 1.5 apart */
            npg_array *x = leaf(v, s);
            free(v);
            gx c = {.op = out == 4 ? G_SVDVALS : G_SVD, .f1 = cs[ci].full, .out = out};
            static const char *const what[] = {"S", "U*U", "Vh*Vh", "U diag(S^2) Vh", "svdvals"};
            char w[256], b[96];
            snprintf(w, sizeof w, "svd(%s, full_matrices %d) %s", sstr(s, b), cs[ci].full, what[out]);
            gcheck(&c, &x, 1, w);
            npg_scope_end(sc);
        }
    t_assert_no_leak(l0, "gradcheck svd");
}

Test(decomp, gradcheck_solve_and_solve_triangular) {
    t_live l0 = t_live_now();
    static const pcase cs[] = {{SH(3, 3), SH(3, 2)}, {SH(3, 3), SH(3)}, {SH(3, 1, 3, 3), SH(2, 3, 2)}, {SH(2, 3, 3), SH(3)}, {SH(1, 1), SH(1, 1)}};
    for (int ci = 0; ci < 5; ci++)
        for (int mt = 0; mt < 2; mt++) {
            npg_scope sc = npg_scope_begin();
            int64_t n = cs[ci].a.dims[cs[ci].a.ndim - 1], ne = numel(cs[ci].a);
            double *v = dalloc(ne);
            gen_sq(v, ne / (n * n), n, (uint64_t)(ci + 80));
            npg_array *xs[2] = {leaf(v, cs[ci].a), rleaf(cs[ci].b, -2, 2, (uint64_t)(ci + 90))};
            free(v);
            gx c = {.op = G_SOLVE, .mt = mt};
            char w[256], b1[96], b2[96];
            snprintf(w, sizeof w, "solve(%s%s, %s)", sstr(cs[ci].a, b1), mt ? " transposed" : "", sstr(cs[ci].b, b2));
            gcheck(&c, xs, 2, w);
            npg_scope_end(sc);
        }
    static const pcase ts[] = {{SH(3, 3), SH(3, 2)}, {SH(3, 1, 3, 3), SH(2, 3, 2)}, {SH(1, 1), SH(1, 2)}};
    for (int ci = 0; ci < 3; ci++)
        for (int up = 0; up < 2; up++)
            for (int unit = 0; unit < 2; unit++) {
                npg_scope sc = npg_scope_begin();
                int64_t n = ts[ci].a.dims[ts[ci].a.ndim - 1], ne = numel(ts[ci].a);
                double *v = dalloc(ne);
                t_fill_uniform(v, ne, -1, 1, (uint64_t)(ci * 4 + up * 2 + unit + 100));
                for (int64_t i = 0; i < ne; i += n * n)
                    for (int64_t d = 0; d < n; d++) v[i + d * n + d] += v[i + d * n + d] < 0 ? -2 : 2;
                npg_array *xs[2] = {leaf(v, ts[ci].a), rleaf(ts[ci].b, -2, 2, (uint64_t)(ci + 110))};
                free(v);
                gx c = {.op = G_TRI, .f1 = up, .f2 = unit, .mt = ci == 0};
                char w[256], b1[96], b2[96];
                snprintf(w, sizeof w, "solve_triangular(%s, %s, upper %d, unit %d)", sstr(ts[ci].a, b1), sstr(ts[ci].b, b2), up, unit);
                gcheck(&c, xs, 2, w);
                npg_scope_end(sc);
            }
    t_assert_no_leak(l0, "gradcheck solve");
}

Test(decomp, gradcheck_inv_det_slogdet_pinv_matrix_power) {
    t_live l0 = t_live_now();
    static const npg_shape shapes[] = {SH(1, 1), SH(3, 3), SH(2, 3, 3)};
    for (int si = 0; si < 3; si++)
        for (int op = 0; op < 6; op++)
            for (int mt = 0; mt < 2; mt++) {
                npg_scope sc = npg_scope_begin();
                npg_shape s = shapes[si];
                int64_t n = s.dims[s.ndim - 1], ne = numel(s);
                double *v = dalloc(ne);
                gen_sq(v, ne / (n * n), n, (uint64_t)(si * 12 + op * 2 + mt + 120)); /* odd matrices: negative det */
                for (int64_t i = 0; i < ne; i++) v[i] /= (double)n + 1;
                npg_array *x = leaf(v, s);
                free(v);
                static const int ops[] = {G_INV, G_DET, G_SLOGDET, G_MPOW, G_MPOW, G_MPOW};
                static const int64_t pw[] = {0, 0, 0, 3, -2, 0};
                static const char *const names[] = {"inv", "det", "slogdet logabsdet", "matrix_power 3", "matrix_power -2", "matrix_power 0"};
                gx c = {.op = ops[op], .p = pw[op], .mt = mt};
                char w[256], b[96];
                snprintf(w, sizeof w, "%s(%s%s)", names[op], sstr(s, b), mt ? " transposed" : "");
                gcheck(&c, &x, 1, w);
                npg_scope_end(sc);
            }
    /* pinv of full-rank tall, wide, square and batched matrices */
    static const npg_shape ps[] = {SH(4, 3), SH(2, 4), SH(3, 3), SH(2, 3, 2)};
    for (int si = 0; si < 4; si++) {
        npg_scope sc = npg_scope_begin();
        npg_shape s = ps[si];
        int64_t m = s.dims[s.ndim - 2], n = s.dims[s.ndim - 1];
        double *v = dalloc(numel(s));
        gen_spec(v, NULL, numel(s) / (m * n), m, n, (uint64_t)(si + 140));
        npg_array *x = leaf(v, s);
        free(v);
        gx c = {.op = G_PINV};
        char w[256], b[96];
        snprintf(w, sizeof w, "pinv(%s)", sstr(s, b));
        gcheck(&c, &x, 1, w);
        npg_scope_end(sc);
    }
    t_assert_no_leak(l0, "gradcheck inv/det");
}

Test(decomp, det_and_logabsdet_gradients_match_closed_forms) {
    t_live l0 = t_live_now();
    npg_scope sc = npg_scope_begin();
    /* d det / dA = det(A) A^-T, d log|det| / dA = A^-T (N3: negative det) */
    npg_array *x = leaf(N3, NPG_SHAPE(3, 3)), *g = NULL, *s = NULL, *l = NULL;
    double inv[9], want[9];
    h_inv(N3, inv, 3);
    h_tr(inv, want, 3, 3);
    cr_assert_eq(npg_linalg_slogdet(x, &s, &l), NPG_OK, "%s", npg_last_error());
    cr_assert_eq(npg_grad_of(&l, 1, NULL, &x, 1, &g, NULL), NPG_OK, "%s", npg_last_error());
    t_assert_close(g, want, 9, 1e-12, 1e-12, "d logabsdet / dA = A^-T");
    npg_array *d = npg_linalg_det(x);
    cr_assert_eq(npg_grad_of(&d, 1, NULL, &x, 1, &g, NULL), NPG_OK, "%s", npg_last_error());
    for (int i = 0; i < 9; i++) want[i] *= -15;
    t_assert_close(g, want, 9, 1e-12, 1e-12, "d det / dA = det(A) A^-T");
    npg_scope_end(sc);
    t_assert_no_leak(l0, "det gradient closed forms");
}

Test(decomp, repeated_values_and_unused_outputs_differentiate) {
    t_live l0 = t_live_now();
    npg_scope sc = npg_scope_begin();
    /* eigvalsh / svdvals of matrices with repeated values: the gradient of
     * sum(c * values) is V diag(c) V^T (U diag(c) Vh), finite, never the
     * 0/0 of the vector terms; the same through eigh / svd when the loss
     * ignores the vectors that were returned */
    double twoI[9] = {2, 0, 0, 0, 2, 0, 0, 0, 2}, c[3] = {1, 2, 3}, want[9] = {0};
    for (int i = 0; i < 3; i++) want[i * 4] = c[i];
    npg_array *x = leaf(twoI, NPG_SHAPE(3, 3)), *C = t_arr(c, NPG_FLOAT64, NPG_SHAPE(3)), *g = NULL;
    npg_array *loss = npg_sum(npg_multiply(npg_linalg_eigvalsh(x), C), NPG_ALL_AXES, false);
    cr_assert_eq(npg_grad_of(&loss, 1, NULL, &x, 1, &g, NULL), NPG_OK, "%s", npg_last_error());
    t_assert_close(g, want, 9, 1e-12, 1e-12, "eigvalsh of 2I");
    npg_array *w = NULL, *v = NULL;
    cr_assert_eq(npg_linalg_eigh(x, &w, &v), NPG_OK, "%s", npg_last_error());
    loss = npg_sum(npg_multiply(w, C), NPG_ALL_AXES, false);
    cr_assert_eq(npg_grad_of(&loss, 1, NULL, &x, 1, &g, NULL), NPG_OK, "%s", npg_last_error());
    t_assert_close(g, want, 9, 1e-12, 1e-12, "eigh of 2I, vectors unused");
    /* svd: 2I has singular values 2, 2, 2 in some order of U's columns; the
     * gradient of sum(S) is U Vh = I whichever they are */
    double ones[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    loss = npg_sum(npg_linalg_svdvals(x), NPG_ALL_AXES, false);
    cr_assert_eq(npg_grad_of(&loss, 1, NULL, &x, 1, &g, NULL), NPG_OK, "%s", npg_last_error());
    t_assert_close(g, ones, 9, 1e-12, 1e-12, "svdvals of 2I");
    npg_array *u = NULL, *s = NULL, *vh = NULL;
    cr_assert_eq(npg_linalg_svd(x, false, &u, &s, &vh), NPG_OK, "%s", npg_last_error());
    loss = npg_sum(s, NPG_ALL_AXES, false);
    cr_assert_eq(npg_grad_of(&loss, 1, NULL, &x, 1, &g, NULL), NPG_OK, "%s", npg_last_error());
    t_assert_close(g, ones, 9, 1e-12, 1e-12, "svd of 2I, vectors unused");
    /* a rank-deficient tall matrix: sum(S) differentiates to U Vh (reduced) */
    double r[6] = {1, 0, 0, 0, 0, 0}, wr[6] = {1, 0, 0, 0, 0, 0};
    npg_array *y = leaf(r, NPG_SHAPE(3, 2));
    loss = npg_sum(npg_linalg_svdvals(y), NPG_ALL_AXES, false);
    cr_assert_eq(npg_grad_of(&loss, 1, NULL, &y, 1, &g, NULL), NPG_OK, "%s", npg_last_error());
    double *hg = t_read(g);
    cr_expect(fabs(hg[0] - wr[0]) < 1e-12 && isfinite(hg[1]) && isfinite(hg[2]) && isfinite(hg[3]) &&
                  isfinite(hg[4]) && isfinite(hg[5]),
              "svdvals of a rank-1 (3,2) matrix: gradient %g %g %g %g %g %g", hg[0], hg[1], hg[2], hg[3], hg[4], hg[5]);
    free(hg);
    npg_scope_end(sc);
    t_assert_no_leak(l0, "repeated values");
}

Test(decomp, logdet_through_cholesky_differentiates_to_the_inverse) {
    t_live l0 = t_live_now();
    npg_scope sc = npg_scope_begin();
    /* the README's example: d(2 sum log diag(chol(A)))/dA = A^-1 (A symmetric) */
    double a[16], inv[16];
    gen_spd(a, 1, 4, 77);
    h_inv(a, inv, 4);
    npg_array *x = leaf(a, NPG_SHAPE(4, 4)), *g = NULL;
    npg_array *L = npg_linalg_cholesky(x, false);
    npg_array *logdet = npg_multiply_scalar(npg_sum(npg_log(npg_diagonal(L, 0, -2, -1)), NPG_ALL_AXES, false), 2);
    cr_assert_eq(npg_grad_of(&logdet, 1, NULL, &x, 1, &g, NULL), NPG_OK, "%s", npg_last_error());
    t_assert_close(g, inv, 16, 1e-10, 1e-10, "grad log det = A^-1");
    npg_scope_end(sc);
    t_assert_no_leak(l0, "logdet");
}

Test(decomp, det_backward_of_a_singular_matrix_is_an_error) {
    t_live l0 = t_live_now();
    npg_scope sc = npg_scope_begin();
    /* header: det's gradient needs an invertible matrix (NPG_ERR_LINALG from the backward) */
    npg_array *x = leaf(S3, NPG_SHAPE(3, 3)), *g = NULL;
    npg_array *d = npg_linalg_det(x);
    cr_assert(d, "%s", npg_last_error());
    npg_clear_error();
    npg_status st = npg_grad_of(&d, 1, NULL, &x, 1, &g, NULL);
    cr_expect_eq(st, NPG_ERR_LINALG, "det backward of a singular matrix: %s, want NPG_ERR_LINALG (%s)", npg_status_string(st), npg_last_error());
    cr_expect(g == NULL || st == NPG_OK, "no gradient on failure");
    npg_clear_error();
    npg_scope_end(sc);
    t_assert_no_leak(l0, "det singular backward");
}

Test(decomp, gradcheck_norms_and_cross) {
    t_live l0 = t_live_now();
    /* vector_norm: no ties among |x|, no zeros */
    static const double vo[] = {2, 1, 3, INFINITY, -INFINITY, 0.5, -1, 0};
    static const npg_axes va[] = {{0}, {1, {-1}}, {1, {0}}, {2, {0, 1}}};
    double xv[12];
    for (int i = 0; i < 12; i++) xv[i] = (i % 2 ? -1 : 1) * (0.3 + 0.17 * (double)((i * 5) % 12));
    for (int oi = 0; oi < 8; oi++)
        for (int ai = 0; ai < 4; ai++) {
            npg_scope sc = npg_scope_begin();
            npg_array *x = leaf(xv, NPG_SHAPE(3, 4));
            gx c = {.op = G_VNORM, .ord = vo[oi], .axes = va[ai], .keep = ai == 2, .mt = ai == 3};
            char w[96];
            snprintf(w, sizeof w, "vector_norm(ord %g, axes case %d)", vo[oi], ai);
            gcheck(&c, &x, 1, w);
            npg_scope_end(sc);
        }
    /* matrix_norm: distinct singular values, no ties among row / column sums */
    static const npg_shape ms[] = {SH(3, 4), SH(2, 3, 3)};
    for (int si = 0; si < 2; si++)
        for (int oi = 0; oi < NMORD; oi++) {
            npg_scope sc = npg_scope_begin();
            npg_shape s = ms[si];
            int64_t m = s.dims[s.ndim - 2], n = s.dims[s.ndim - 1];
            double *v = dalloc(numel(s));
            gen_spec(v, NULL, numel(s) / (m * n), m, n, (uint64_t)(si + 150));
            npg_array *x = leaf(v, s);
            free(v);
            gx c = {.op = G_MNORM, .mord = MORDS[oi], .keep = si == 1};
            char w[256], b[96];
            snprintf(w, sizeof w, "matrix_norm(%s, %s)", sstr(s, b), MORDS[oi] ? MORDS[oi] : "NULL");
            gcheck(&c, &x, 1, w);
            npg_scope_end(sc);
        }
    /* cross, with broadcasting, along the last and the first axis */
    static const struct {
        npg_shape a, b;
        int axis;
    } cc[] = {{SH(2, 3), SH(3), -1}, {SH(3, 4), SH(3, 1), 0}, {SH(2, 1, 3), SH(4, 3), -1}};
    for (int ci = 0; ci < 3; ci++) {
        npg_scope sc = npg_scope_begin();
        npg_array *xs[2] = {rleaf(cc[ci].a, -2, 2, (uint64_t)(ci + 160)), rleaf(cc[ci].b, -2, 2, (uint64_t)(ci + 170))};
        gx c = {.op = G_CROSS, .axis = cc[ci].axis};
        char w[256], b1[96], b2[96];
        snprintf(w, sizeof w, "cross(%s, %s, axis %d)", sstr(cc[ci].a, b1), sstr(cc[ci].b, b2), cc[ci].axis);
        gcheck(&c, xs, 2, w);
        npg_scope_end(sc);
    }
    t_assert_no_leak(l0, "gradcheck norms");
}

Test(decomp, vector_norm_zero_subgradient_and_ties) {
    t_live l0 = t_live_now();
    npg_scope sc = npg_scope_begin();
    /* the gradient of the 2-norm (and of p-norms) at a zero vector is 0, not NaN */
    static const double ords[] = {2, 3, 1, 0.5, INFINITY};
    for (int oi = 0; oi < 5; oi++) {
        npg_array *z = leaf((double[4]){0, 0, 0, 0}, NPG_SHAPE(4)), *g = NULL;
        npg_array *y = npg_linalg_vector_norm(z, ords[oi], NPG_ALL_AXES, false);
        cr_assert_eq(npg_grad_of(&y, 1, NULL, &z, 1, &g, NULL), NPG_OK, "%s", npg_last_error());
        char label[96];
        snprintf(label, sizeof label, "vector_norm(zeros, ord %g): gradient 0", ords[oi]);
        t_assert_close(g, (double[]){0, 0, 0, 0}, 4, 0, 0, label);
    }
    /* a zero row among nonzero ones: only that row's gradient is 0 */
    npg_array *x = leaf((double[6]){0, 0, 0, 3, -4, 0}, NPG_SHAPE(2, 3)), *g = NULL;
    npg_array *y = npg_sum(npg_linalg_vector_norm(x, 2, NPG_AXES(-1), false), NPG_ALL_AXES, false);
    cr_assert_eq(npg_grad_of(&y, 1, NULL, &x, 1, &g, NULL), NPG_OK, "%s", npg_last_error());
    t_assert_close(g, (double[]){0, 0, 0, 0.6, -0.8, 0}, 6, 1e-15, 0, "vector_norm rows: zero row gradient 0");
    /* ties of the inf-norms share the gradient equally */
    npg_array *t = leaf((double[4]){3, -3, 1, 2}, NPG_SHAPE(4)), *gt = NULL;
    y = npg_linalg_vector_norm(t, INFINITY, NPG_ALL_AXES, false);
    cr_assert_eq(npg_grad_of(&y, 1, NULL, &t, 1, &gt, NULL), NPG_OK, "%s", npg_last_error());
    t_assert_close(gt, (double[]){0.5, -0.5, 0, 0}, 4, 1e-15, 0, "inf-norm ties share the gradient");
    npg_array *t2 = leaf((double[4]){-1, 4, 1, 2}, NPG_SHAPE(4));
    y = npg_linalg_vector_norm(t2, -INFINITY, NPG_ALL_AXES, false);
    cr_assert_eq(npg_grad_of(&y, 1, NULL, &t2, 1, &gt, NULL), NPG_OK, "%s", npg_last_error());
    t_assert_close(gt, (double[]){-0.5, 0, 0.5, 0}, 4, 1e-15, 0, "-inf-norm ties share the gradient");
    npg_scope_end(sc);
    t_assert_no_leak(l0, "zero subgradient");
}

/* ------------------------------------------------------------------------
 * Second order: create_graph through inv and det, against central
 * differences of the first-order gradient
 * ------------------------------------------------------------------------ */

/* h(X) = sum(D * dF/dX), F = sum(C * f(X)) (f: inv) or det(X); with grad2,
 * also dh/dX through create_graph. */
static double second_h(const double *xv, int which, const double *C, const double *D, double *grad2, bool via_backward) {
    npg_scope sc = npg_scope_begin();
    npg_array *x = leaf(xv, NPG_SHAPE(3, 3)), *g = NULL;
    npg_array *F = which == 0 ? npg_sum(npg_multiply(npg_linalg_inv(x), t_arr(C, NPG_FLOAT64, NPG_SHAPE(3, 3))), NPG_ALL_AXES, false)
                              : npg_linalg_det(x);
    cr_assert(F, "%s", npg_last_error());
    if (via_backward) {
        cr_assert_eq(npg_backward_ex(F, NULL, NPG_BACKWARD_OPTS(.create_graph = true)), NPG_OK, "%s", npg_last_error());
        g = npg_grad(x);
        cr_assert(g, "no x.grad after backward_ex");
        cr_assert(npg_requires_grad(g), "create_graph: x.grad does not require grad");
    } else {
        cr_assert_eq(npg_grad_of(&F, 1, NULL, &x, 1, &g, NPG_BACKWARD_OPTS(.create_graph = grad2 != NULL)), NPG_OK, "%s", npg_last_error());
    }
    npg_array *h = npg_sum(npg_multiply(g, t_arr(D, NPG_FLOAT64, NPG_SHAPE(3, 3))), NPG_ALL_AXES, false);
    double hv = npg_item(h);
    if (grad2) {
        npg_array *g2 = NULL;
        if (via_backward) npg_zero_grad(x);
        cr_assert_eq(npg_grad_of(&h, 1, NULL, &x, 1, &g2, NULL), NPG_OK, "second-order grad: %s", npg_last_error());
        double *r = t_read(g2);
        memcpy(grad2, r, sizeof(double) * 9);
        free(r);
    }
    npg_scope_end(sc);
    return hv;
}

Test(decomp, second_order_inv_and_det) {
    t_live l0 = t_live_now();
    double pair[18], x[9], C[9], D[9];
    gen_sq(pair, 2, 3, 180);
    memcpy(x, pair + 9, sizeof x); /* the second matrix of the pair: negative det */
    t_fill_uniform(C, 9, -1, 1, 181);
    t_fill_uniform(D, 9, -1, 1, 182);
    for (int which = 0; which < 2; which++)
        for (int vb = 0; vb < 2; vb++) {
            double an[9], fd[9], h = 1e-5;
            second_h(x, which, C, D, an, vb);
            for (int k = 0; k < 9; k++) {
                double xp[9], xm[9];
                memcpy(xp, x, sizeof x), memcpy(xm, x, sizeof x);
                xp[k] += h, xm[k] -= h;
                fd[k] = (second_h(xp, which, C, D, NULL, false) - second_h(xm, which, C, D, NULL, false)) / (2 * h);
            }
            char label[96];
            snprintf(label, sizeof label, "second derivative through %s (%s)", which ? "det" : "inv", vb ? "backward_ex" : "grad_of");
            t_assert_close_buf(an, fd, 9, 1e-5, 1e-7 * (1 + amax(fd, 9)), label);
        }
    t_assert_no_leak(l0, "second order");
}

/* The same for most functions through gfn: h(X) = sum(D * dF/dX) with
 * F = sum(C * f(X, b)), b (when given) a constant second operand. */
static double gg_h(const gx *c, const double *xv, npg_shape xs, const double *bv, npg_shape bs, const double *C, const double *D,
                   double *grad2, npg_shape *ys) {
    npg_scope sc = npg_scope_begin();
    npg_array *in[2] = {leaf(xv, xs), bv ? t_arr(bv, NPG_FLOAT64, bs) : NULL}, *g = NULL;
    npg_array *y = gfn(in, bv ? 2 : 1, (void *)c);
    cr_assert(y, "%s", npg_last_error());
    double hv = 0;
    if (ys) *ys = npg_shape_of(y);
    if (C) {
        npg_array *F = npg_sum(npg_multiply(y, t_arr(C, NPG_FLOAT64, npg_shape_of(y))), NPG_ALL_AXES, false);
        cr_assert_eq(npg_grad_of(&F, 1, NULL, in, 1, &g, NPG_BACKWARD_OPTS(.create_graph = grad2 != NULL)), NPG_OK, "%s", npg_last_error());
        npg_array *h = npg_sum(npg_multiply(g, t_arr(D, NPG_FLOAT64, xs)), NPG_ALL_AXES, false);
        hv = npg_item(h);
        if (grad2) {
            npg_array *g2 = NULL;
            cr_assert(npg_requires_grad(h), "create_graph: the first-order gradient was not recorded");
            cr_assert_eq(npg_grad_of(&h, 1, NULL, in, 1, &g2, NULL), NPG_OK, "second-order grad: %s", npg_last_error());
            double *r = t_read(g2);
            memcpy(grad2, r, sizeof(double) * (size_t)numel(xs));
            free(r);
        }
    }
    npg_scope_end(sc);
    return hv;
}
static void gradgrad(const gx *c, const double *xv, npg_shape xs, const double *bv, npg_shape bs, uint64_t seed, const char *what) {
    npg_shape ys;
    int64_t nx = numel(xs);
    gg_h(c, xv, xs, bv, bs, NULL, NULL, NULL, &ys);
    double *C = dalloc(numel(ys)), *D = dalloc(nx), *an = dalloc(nx), *fd = dalloc(nx), *xp = dalloc(nx), h = 1e-5;
    t_fill_uniform(C, numel(ys), -1, 1, seed);
    t_fill_uniform(D, nx, -1, 1, seed + 1);
    gg_h(c, xv, xs, bv, bs, C, D, an, NULL);
    for (int64_t k = 0; k < nx; k++) {
        memcpy(xp, xv, sizeof(double) * (size_t)nx);
        xp[k] = xv[k] + h;
        double hp = gg_h(c, xp, xs, bv, bs, C, D, NULL, NULL);
        xp[k] = xv[k] - h;
        fd[k] = (hp - gg_h(c, xp, xs, bv, bs, C, D, NULL, NULL)) / (2 * h);
    }
    g_checks++;
    char label[160];
    snprintf(label, sizeof label, "second derivative through %s", what);
    near(an, fd, nx, 1e-5, 1 + amax(fd, nx), label, "create_graph vs central differences");
    free(C), free(D), free(an), free(fd), free(xp);
}

Test(decomp, second_order_through_every_function) {
    t_live l0 = t_live_now();
    double sq[9], sym[9], tall[12], wide[12], tri[9], b[6], v12[12];
    gen_sq(sq, 1, 3, 200);
    for (int i = 0; i < 9; i++) sq[i] /= 4;
    gen_sym(sym, 1, 3, 201);
    gen_spec(tall, NULL, 1, 4, 3, 202);
    gen_spec(wide, NULL, 1, 3, 4, 203);
    t_fill_uniform(tri, 9, -1, 1, 204);
    for (int i = 0; i < 3; i++) tri[i * 3 + i] += tri[i * 3 + i] < 0 ? -2 : 2;
    t_fill_uniform(b, 6, -2, 2, 205);
    for (int i = 0; i < 12; i++) v12[i] = (i % 2 ? -1 : 1) * (0.3 + 0.17 * (double)((i * 5) % 12));
    double spdin[9];
    t_fill_uniform(spdin, 9, -1, 1, 206);
    npg_shape s33 = NPG_SHAPE(3, 3), s43 = NPG_SHAPE(4, 3), s34 = NPG_SHAPE(3, 4), s32 = NPG_SHAPE(3, 2);
    static const struct {
        gx c;
        int in; /* 0 sq, 1 sym, 2 tall, 3 wide, 4 tri, 5 spd input, 6 v12 (3,4) */
        bool rhs;
        const char *name;
    } cs[] = {
        {{.op = G_CHOL}, 5, false, "cholesky"},
        {{.op = G_CHOL, .f1 = true}, 5, false, "cholesky(upper)"},
        {{.op = G_QR, .out = 0}, 2, false, "qr Q (tall)"},
        {{.op = G_QR, .out = 1}, 2, false, "qr R (tall)"},
        {{.op = G_QR, .f1 = true, .out = 0}, 3, false, "qr Q (complete, wide)"},
        {{.op = G_EIGVALSH}, 1, false, "eigvalsh"},
        {{.op = G_EIGH, .out = 1}, 1, false, "eigh V*V"},
        {{.op = G_SVDVALS}, 2, false, "svdvals"},
        {{.op = G_SVD, .out = 1}, 3, false, "svd U*U"},
        {{.op = G_SVD, .out = 2}, 2, false, "svd Vh*Vh"},
        {{.op = G_SOLVE}, 0, true, "solve"},
        {{.op = G_TRI, .f1 = true}, 4, true, "solve_triangular(upper)"},
        {{.op = G_TRI, .f2 = true}, 4, true, "solve_triangular(lower, unit)"},
        {{.op = G_SLOGDET}, 0, false, "slogdet logabsdet"},
        {{.op = G_PINV}, 2, false, "pinv"},
        {{.op = G_MPOW, .p = -2}, 0, false, "matrix_power -2"},
        {{.op = G_MPOW, .p = 3}, 0, false, "matrix_power 3"},
        {{.op = G_VNORM, .ord = 3, .axes = {1, {-1}}}, 6, false, "vector_norm ord 3"},
        {{.op = G_VNORM, .ord = 2}, 6, false, "vector_norm ord 2"},
        {{.op = G_MNORM, .mord = "nuc"}, 2, false, "matrix_norm nuc"},
        {{.op = G_MNORM, .mord = "2"}, 3, false, "matrix_norm 2"},
        {{.op = G_MNORM, .mord = "fro"}, 3, false, "matrix_norm fro"},
    };
    const double *ins[] = {sq, sym, tall, wide, tri, spdin, v12};
    npg_shape shs[] = {s33, s33, s43, s34, s33, s33, s34};
    for (int k = 0; k < (int)(sizeof cs / sizeof cs[0]); k++)
        gradgrad(&cs[k].c, ins[cs[k].in], shs[cs[k].in], cs[k].rhs ? b : NULL, s32, (uint64_t)(210 + 2 * k), cs[k].name);
    t_assert_no_leak(l0, "second order, every function");
}

/* Results require grad exactly when an input does; slogdet's sign and
 * matrix_rank carry no gradient. */
Test(decomp, grad_flags) {
    t_live l0 = t_live_now();
    npg_scope sc = npg_scope_begin();
    npg_array *x = leaf(A3, NPG_SHAPE(3, 3)), *c = t_arr(A3, NPG_FLOAT64, NPG_SHAPE(3, 3)), *o1 = NULL, *o2 = NULL;
    cr_expect(npg_requires_grad(npg_linalg_inv(x)), "inv of a leaf that requires grad");
    cr_expect(!npg_requires_grad(npg_linalg_inv(c)), "inv of a constant");
    cr_expect(npg_requires_grad(npg_linalg_cholesky(x, false)), "cholesky of a leaf");
    cr_expect(!npg_requires_grad(npg_linalg_det(c)), "det of a constant");
    cr_assert_eq(npg_linalg_eigh(x, &o1, &o2), NPG_OK, "%s", npg_last_error());
    cr_expect(npg_requires_grad(o1) && npg_requires_grad(o2), "eigh of a leaf");
    npg_no_grad_begin();
    cr_expect(!npg_requires_grad(npg_linalg_inv(x)), "inv in no-grad mode");
    cr_assert_eq(npg_linalg_svd(x, false, &o1, &o2, NULL), NPG_OK, "%s", npg_last_error());
    cr_expect(!npg_requires_grad(o1) && !npg_requires_grad(o2), "svd in no-grad mode");
    npg_no_grad_end();
    npg_array *r = npg_linalg_matrix_rank(x, -1);
    cr_expect(r && !npg_requires_grad(r), "matrix_rank is not differentiable");
    /* slogdet's sign: no gradient (zero if reached at all) */
    cr_assert_eq(npg_linalg_slogdet(x, &o1, &o2), NPG_OK, "%s", npg_last_error());
    npg_array *loss = npg_sum(o1, NPG_ALL_AXES, false), *g = NULL;
    npg_status st = npg_grad_of(&loss, 1, NULL, &x, 1, &g, NULL);
    if (st == NPG_OK)
        t_assert_close(g, (double[9]){0}, 9, 0, 0, "gradient through slogdet's sign");
    else
        cr_log_info("slogdet sign: grad_of says %s", npg_last_error());
    npg_clear_error();
    npg_scope_end(sc);
    t_assert_no_leak(l0, "grad flags");
}

/* Matrices past the batch-parallel size (LAPACK's own threads), float32
 * and float64. */
Test(decomp, larger_matrices) {
    t_live l0 = t_live_now();
    enum { N = 130, M = 100 };
    double *a = dalloc(2 * N * N), *s = dalloc(2 * N * N), *r = dalloc(2 * N * M), *b = dalloc(2 * N * 3), *w = dalloc(N * N), *p = dalloc(N * N);
    gen_sq(a, 2, N, 300);
    gen_spd(s, 2, N, 301);
    gen_spec(r, NULL, 2, N, M, 302);
    t_fill_uniform(b, 2 * N * 3, -1, 1, 303);
    for (int di = 0; di < 2; di++) {
        npg_scope sc = npg_scope_begin();
        npg_dtype dt = FDT[di];
        double tol = tol_of(dt) * 10;
        double *ha = dalloc(2 * N * N), *hs = dalloc(2 * N * N), *hr = dalloc(2 * N * M), *hb = dalloc(2 * N * 3);
        memcpy(ha, a, sizeof(double) * 2 * N * N), memcpy(hs, s, sizeof(double) * 2 * N * N);
        memcpy(hr, r, sizeof(double) * 2 * N * M), memcpy(hb, b, sizeof(double) * 2 * N * 3);
        round_dt(ha, 2 * N * N, dt), round_dt(hs, 2 * N * N, dt), round_dt(hr, 2 * N * M, dt), round_dt(hb, 2 * N * 3, dt);
        npg_array *xa = mk(NPG_SHAPE(2, N, N), L_MT, dt, ha), *xs = mk(NPG_SHAPE(2, N, N), L_C, dt, hs);
        npg_array *xr = mk(NPG_SHAPE(2, N, M), L_C, dt, hr), *xb = mk(NPG_SHAPE(2, N, 3), L_C, dt, hb);
        char label[64];
        snprintf(label, sizeof label, "%dx%d (%s)", N, N, npg_dtype_name(dt));
        double *x = t_read(npg_linalg_solve(xa, xb)), *iv = t_read(npg_linalg_inv(xa)), *l = t_read(npg_linalg_cholesky(xs, false));
        npg_array *ew = NULL, *ev = NULL, *u = NULL, *sv = NULL, *vh = NULL, *q = NULL, *rr = NULL;
        cr_assert_eq(npg_linalg_eigh(xs, &ew, &ev), NPG_OK, "%s", npg_last_error());
        cr_assert_eq(npg_linalg_svd(xr, false, &u, &sv, &vh), NPG_OK, "%s", npg_last_error());
        cr_assert_eq(npg_linalg_qr(xr, false, &q, &rr), NPG_OK, "%s", npg_last_error());
        double *hw = t_read(ew), *hv = t_read(ev), *hu = t_read(u), *hsv = t_read(sv), *hvh = t_read(vh), *hq = t_read(q), *hrr = t_read(rr);
        for (int k = 0; k < 2; k++) {
            double *A = ha + k * N * N, *S = hs + k * N * N, *R = hr + k * N * M, *t = dalloc(N * M), sv0[M];
            h_mm(A, x + k * N * 3, t, N, N, 3);
            near(t, hb + k * N * 3, N * 3, tol, 10, label, "solve: A X = B");
            h_mm(A, iv + k * N * N, p, N, N, N);
            h_eye(w, N);
            near(p, w, N * N, tol, 10, label, "inv: A inv(A) = I");
            h_tr(l + k * N * N, w, N, N);
            h_mm(l + k * N * N, w, p, N, N, N);
            near(p, S, N * N, tol, amax(S, N * N), label, "cholesky: L L^T = A");
            h_mm(S, hv + k * N * N, p, N, N, N);
            for (int i = 0; i < N; i++)
                for (int j = 0; j < N; j++) w[i * N + j] = hv[k * N * N + i * N + j] * hw[k * N + j];
            near(p, w, N * N, tol, amax(S, N * N), label, "eigh: A V = V diag(w)");
            sv_of(sv0, M, k);
            near(hsv + k * M, sv0, M, tol, sv0[0], label, "svd: the constructed singular values");
            for (int i = 0; i < N; i++)
                for (int j = 0; j < M; j++) {
                    double acc = 0, acq = 0;
                    for (int c = 0; c < M; c++) {
                        acc += hu[k * N * M + i * M + c] * hsv[k * M + c] * hvh[k * M * M + c * M + j];
                        acq += hq[k * N * M + i * M + c] * hrr[k * M * M + c * M + j];
                    }
                    t[i * M + j] = acc;
                    p[i * M + j] = acq;
                }
            near(t, R, N * M, tol, sv0[0], label, "svd: U diag(S) Vh = A");
            near(p, R, N * M, tol, sv0[0], label, "qr: Q R = A");
            check_orth_cols(hq + k * N * M, N, M, tol, label, "qr: Q^T Q = I");
            check_orth_cols(hu + k * N * M, N, M, tol, label, "svd: U^T U = I");
            free(t);
        }
        t_expect_unchanged(xa, ha, 2 * N * N, "larger matrices: a");
        free(x), free(iv), free(l), free(hw), free(hv), free(hu), free(hsv), free(hvh), free(hq), free(hrr);
        free(ha), free(hs), free(hr), free(hb);
        npg_scope_end(sc);
    }
    free(a), free(s), free(r), free(b), free(w), free(p);
    t_assert_no_leak(l0, "larger matrices");
}

/* matrix_power's repeated squaring for large |n|: a 3-cycle permutation P
 * has P^3 = I, so P^n = P^(n mod 3) */
Test(decomp, matrix_power_large_exponents) {
    t_live l0 = t_live_now();
    npg_scope sc = npg_scope_begin();
    double P[9] = {0, 1, 0, 0, 0, 1, 1, 0, 0}, P2[9], e[9];
    h_mm(P, P, P2, 3, 3, 3);
    h_eye(e, 3);
    const double *pw[3] = {e, P, P2};
    static const int64_t ns[] = {1000000, 1000001, 999999, -1000000, -1000001, 65536, INT64_MAX, INT64_MIN + 1, INT64_MIN};
    for (int k = 0; k < 9; k++) {
        int64_t n = ns[k];
        int64_t r = ((n % 3) + 3) % 3;
        if (n == INT64_MIN) r = 1; /* -2^63 = -(3 * 3074457345618258602 + 2) */
        char label[96];
        snprintf(label, sizeof label, "matrix_power(3-cycle, %lld)", (long long)n);
        npg_array *y = npg_linalg_matrix_power(t_arr(P, NPG_FLOAT64, NPG_SHAPE(3, 3)), n);
        if (expect_meta(y, NPG_FLOAT64, NPG_SHAPE(3, 3), label)) t_assert_close(y, pw[r], 9, 1e-12, 1e-12, label);
        if (n > 0) {
            y = npg_linalg_matrix_power(t_arr(P, NPG_INT32, NPG_SHAPE(3, 3)), n);
            if (expect_meta(y, NPG_INT32, NPG_SHAPE(3, 3), label)) t_assert_close(y, pw[r], 9, 0, 0, label);
        }
    }
    /* bool: matmul's OR of ANDs */
    double bm[4] = {1, 1, 0, 1};
    npg_array *y = npg_linalg_matrix_power(t_arr(bm, NPG_BOOL, NPG_SHAPE(2, 2)), 3);
    if (expect_meta(y, NPG_BOOL, NPG_SHAPE(2, 2), "matrix_power(bool, 3)")) t_assert_close(y, bm, 4, 0, 0, "matrix_power(bool, 3)");
    npg_scope_end(sc);
    t_assert_no_leak(l0, "matrix_power large exponents");
}

/* A NaN in the input: a decomposition that cannot run reports
 * NPG_ERR_LINALG (NumPy: "SVD did not converge", PyTorch: LinAlgError) or
 * gives NaN; it never returns values that were not computed. */
static void expect_nan_or_linalg(npg_array *y, npg_status st, const char *what) {
    g_checks++;
    if (!y || st != NPG_OK) {
        cr_expect_eq(npg_last_status(), NPG_ERR_LINALG, "%s of a NaN matrix: %s (%s)", what, npg_status_string(npg_last_status()),
                     npg_last_error());
        npg_clear_error();
        return;
    }
    double *g = t_read(y);
    bool all_nan = true;
    for (int64_t i = 0; i < npg_size(y); i++) all_nan &= isnan(g[i]);
    cr_expect(all_nan, "%s of a NaN matrix: status OK but not all NaN (first value %.17g): values that were not computed", what,
              npg_size(y) ? g[0] : 0.0);
    free(g);
}

Test(decomp, non_finite_inputs) {
    t_live l0 = t_live_now();
    npg_scope sc = npg_scope_begin();
    for (int di = 0; di < 2; di++) {
        double v[9];
        memcpy(v, A3, sizeof v);
        v[4] = NAN;
        npg_array *x = t_arr(v, FDT[di], NPG_SHAPE(3, 3)), *u = NULL, *s = NULL, *vh = NULL, *w = NULL;
        npg_status st = npg_linalg_svd(x, false, &u, &s, &vh);
        expect_nan_or_linalg(s, st, "svd");
        expect_nan_or_linalg(npg_linalg_svdvals(x), NPG_OK, "svdvals");
        st = npg_linalg_svd(x, false, NULL, &s, NULL);
        expect_nan_or_linalg(s, st, "svd (values only)");
        expect_nan_or_linalg(npg_linalg_matrix_norm(x, "nuc", false), NPG_OK, "matrix_norm nuc");
        expect_nan_or_linalg(npg_linalg_matrix_norm(x, "2", false), NPG_OK, "matrix_norm 2");
        expect_nan_or_linalg(npg_linalg_pinv(x, -1), NPG_OK, "pinv");
        st = npg_linalg_eigh(x, &w, NULL);
        expect_nan_or_linalg(w, st, "eigh");
        expect_nan_or_linalg(npg_linalg_det(x), NPG_OK, "det");
        expect_nan_or_linalg(npg_linalg_inv(x), NPG_OK, "inv");
        expect_nan_or_linalg(npg_linalg_matrix_norm(x, "fro", false), NPG_OK, "matrix_norm fro");
        /* a batch: only the matrix holding the NaN gives NaN (the CUDA
         * backend marks NaN matrices itself: cuSOLVER's getrf need not
         * carry a NaN into the factors) */
        double bt[12] = {2, 1, 1, 3, 1, NAN, 0, 1, 4, 0, 0, 0.5};
        npg_array *xb = t_arr(bt, FDT[di], NPG_SHAPE(3, 2, 2)), *db = npg_linalg_det(xb);
        cr_assert(db, "det of a batch with a NaN matrix: %s", npg_last_error());
        double *dv = t_read(db);
        cr_expect(fabs(dv[0] - 5) < 1e-5 && isnan(dv[1]) && fabs(dv[2] - 2) < 1e-5,
                  "det of a batch with a NaN in matrix 1: %g %g %g, want 5 NaN 2", dv[0], dv[1], dv[2]);
        free(dv);
        /* NumPy 1.24 with an inf on the diagonal: det inf, inv finite */
        v[4] = INFINITY;
        npg_array *xi = t_arr(v, FDT[di], NPG_SHAPE(3, 3));
        t_assert_close(npg_linalg_det(xi), (double[]){INFINITY}, 1, 0, 0, "det with an inf on the diagonal");
        t_assert_close(npg_linalg_inv(xi), (double[]){0.3, 0, -0.1, 0, 0, 0, -0.1, 0, 0.2}, 9, 1e-6, 1e-7,
                       "inv with an inf on the diagonal (NumPy 1.24)");
    }
    npg_scope_end(sc);
    t_assert_no_leak(l0, "non-finite inputs");
}

/* ------------------------------------------------------------------------
 * Errors: status, a message naming the function, NULL outputs, inputs
 * unchanged, nothing leaked
 * ------------------------------------------------------------------------ */

#define FAILS(expr, st, needle)                                                                                                     \
    do {                                                                                                                            \
        t_live b_ = t_live_now();                                                                                                   \
        npg_clear_error();                                                                                                          \
        npg_array *r_ = (expr);                                                                                                     \
        g_checks++;                                                                                                                 \
        cr_expect(r_ == NULL, "%s must fail", #expr);                                                                               \
        cr_expect_eq(npg_last_status(), st, "%s: status %s, want %s (%s)", #expr, npg_status_string(npg_last_status()),            \
                     npg_status_string(st), npg_last_error());                                                                      \
        cr_expect(strstr(npg_last_error(), needle) != NULL, "%s: message '%s' does not contain '%s'", #expr, npg_last_error(), needle); \
        t_live a_ = t_live_now();                                                                                                   \
        cr_expect(a_.arrays == b_.arrays && a_.storages == b_.storages, "%s: failed call leaked", #expr);                          \
    } while (0)
/* A status function with outputs o1, o2, o3 (set to a non-NULL pointer
 * first: a failure must leave them NULL). */
#define FAILS_ST(expr, st, needle)                                                                                                  \
    do {                                                                                                                            \
        t_live b_ = t_live_now();                                                                                                   \
        npg_clear_error();                                                                                                          \
        o1 = o2 = o3 = sentinel;                                                                                                    \
        npg_status s_ = (expr);                                                                                                     \
        g_checks++;                                                                                                                 \
        cr_expect_eq(s_, st, "%s: %s, want %s (%s)", #expr, npg_status_string(s_), npg_status_string(st), npg_last_error());       \
        cr_expect_eq(npg_last_status(), st, "%s: last status %s", #expr, npg_status_string(npg_last_status()));                    \
        cr_expect(strstr(npg_last_error(), needle) != NULL, "%s: message '%s' does not contain '%s'", #expr, npg_last_error(), needle); \
        t_live a_ = t_live_now();                                                                                                   \
        cr_expect(a_.arrays == b_.arrays && a_.storages == b_.storages, "%s: failed call leaked", #expr);                          \
    } while (0)

Test(decomp, argument_errors) {
    npg_scope sc = npg_scope_begin();
    double v[64];
    for (int i = 0; i < 64; i++) v[i] = 0.5 * i - 7;
    npg_array *sentinel = npg_zeros(NPG_SHAPE(1), OPT()), *o1, *o2, *o3;
    npg_array *s0 = t_arr(v, NPG_FLOAT64, NPG_SHAPE0), *v3 = t_arr(v, NPG_FLOAT64, NPG_SHAPE(3)), *m34 = t_arr(v, NPG_FLOAT64, NPG_SHAPE(3, 4));
    npg_array *g3 = t_arr(G3, NPG_FLOAT64, NPG_SHAPE(3, 3)), *b42 = t_arr(v, NPG_FLOAT64, NPG_SHAPE(4, 2)), *v4 = t_arr(v, NPG_FLOAT64, NPG_SHAPE(4));
    npg_array *a233 = t_arr(v, NPG_FLOAT64, NPG_SHAPE(2, 3, 3)), *b332 = t_arr(v, NPG_FLOAT64, NPG_SHAPE(3, 3, 2));
    npg_array *i3 = t_arr(I3, NPG_INT32, NPG_SHAPE(3, 3)), *c2 = t_arr(v, NPG_FLOAT64, NPG_SHAPE(4, 2)), *c3 = t_arr(v, NPG_FLOAT64, NPG_SHAPE(4, 3));
    npg_array *c53 = t_arr(v, NPG_FLOAT64, NPG_SHAPE(5, 3)), *g3t = npg_matrix_transpose(t_arr(G3, NPG_FLOAT64, NPG_SHAPE(3, 3)));

    /* NULL inputs */
    FAILS(npg_linalg_cholesky(NULL, false), NPG_ERR_NULL_ARG, "npg_linalg_cholesky");
    FAILS(npg_linalg_eigvalsh(NULL), NPG_ERR_NULL_ARG, "npg_linalg_eigvalsh");
    FAILS(npg_linalg_svdvals(NULL), NPG_ERR_NULL_ARG, "npg_linalg_svdvals");
    FAILS(npg_linalg_solve(NULL, g3), NPG_ERR_NULL_ARG, "npg_linalg_solve");
    FAILS(npg_linalg_solve(g3, NULL), NPG_ERR_NULL_ARG, "npg_linalg_solve");
    FAILS(npg_linalg_solve_triangular(NULL, g3, true, false), NPG_ERR_NULL_ARG, "npg_linalg_solve_triangular");
    FAILS(npg_linalg_solve_triangular(g3, NULL, true, false), NPG_ERR_NULL_ARG, "npg_linalg_solve_triangular");
    FAILS(npg_linalg_inv(NULL), NPG_ERR_NULL_ARG, "npg_linalg_inv");
    FAILS(npg_linalg_det(NULL), NPG_ERR_NULL_ARG, "npg_linalg_det");
    FAILS(npg_linalg_pinv(NULL, -1), NPG_ERR_NULL_ARG, "npg_linalg_pinv");
    FAILS(npg_linalg_matrix_rank(NULL, -1), NPG_ERR_NULL_ARG, "npg_linalg_matrix_rank");
    FAILS(npg_linalg_matrix_power(NULL, 2), NPG_ERR_NULL_ARG, "npg_linalg_matrix_power");
    FAILS(npg_linalg_vector_norm(NULL, 2, NPG_ALL_AXES, false), NPG_ERR_NULL_ARG, "npg_linalg_vector_norm");
    FAILS(npg_linalg_matrix_norm(NULL, "fro", false), NPG_ERR_NULL_ARG, "npg_linalg_matrix_norm");
    FAILS(npg_linalg_cross(NULL, v3, -1), NPG_ERR_NULL_ARG, "npg_linalg_cross");
    FAILS(npg_linalg_cross(v3, NULL, -1), NPG_ERR_NULL_ARG, "npg_linalg_cross");
    FAILS_ST(npg_linalg_qr(NULL, false, &o1, &o2), NPG_ERR_NULL_ARG, "npg_linalg_qr");
    cr_expect(o1 == NULL && o2 == NULL, "qr(NULL): outputs not NULL");
    FAILS_ST(npg_linalg_eigh(NULL, &o1, &o2), NPG_ERR_NULL_ARG, "npg_linalg_eigh");
    cr_expect(o1 == NULL && o2 == NULL, "eigh(NULL): outputs not NULL");
    FAILS_ST(npg_linalg_svd(NULL, false, &o1, &o2, &o3), NPG_ERR_NULL_ARG, "npg_linalg_svd");
    cr_expect(o1 == NULL && o2 == NULL && o3 == NULL, "svd(NULL): outputs not NULL");
    FAILS_ST(npg_linalg_slogdet(NULL, &o1, &o2), NPG_ERR_NULL_ARG, "npg_linalg_slogdet");
    cr_expect(o1 == NULL && o2 == NULL, "slogdet(NULL): outputs not NULL");
    /* the header documents v (eigh) and u, vh (svd) as optional; the
     * implementation also takes w NULL and s NULL: the other outputs are
     * then the same as with all of them */
    {
        npg_array *sym = t_arr(A3, NPG_FLOAT64, NPG_SHAPE(3, 3)), *w = NULL, *vv = NULL, *v2 = NULL, *u = NULL, *sv = NULL, *vh = NULL;
        npg_array *u2 = NULL, *vh2 = NULL;
        cr_assert_eq(npg_linalg_eigh(sym, &w, &vv), NPG_OK, "%s", npg_last_error());
        npg_status st = npg_linalg_eigh(sym, NULL, &v2);
        cr_expect_eq(st, NPG_OK, "eigh(x, NULL, &v): %s", npg_last_error());
        if (st == NPG_OK) {
            double *want = t_read(vv);
            t_assert_close(v2, want, 9, 1e-12, 1e-12, "eigh with w NULL: v");
            free(want);
        }
        cr_assert_eq(npg_linalg_svd(g3, false, &u, &sv, &vh), NPG_OK, "%s", npg_last_error());
        st = npg_linalg_svd(g3, false, &u2, NULL, &vh2);
        cr_expect_eq(st, NPG_OK, "svd(x, &u, NULL, &vh): %s", npg_last_error());
        if (st == NPG_OK) {
            double *want = t_read(u);
            t_assert_close(u2, want, 9, 1e-12, 1e-12, "svd with s NULL: u");
            free(want);
            want = t_read(vh);
            t_assert_close(vh2, want, 9, 1e-12, 1e-12, "svd with s NULL: vh");
            free(want);
        }
    }

    /* an earlier error is kept when its NULL is passed on */
    FAILS(npg_linalg_inv(npg_matmul(m34, m34)), NPG_ERR_SHAPE, "npg_matmul");
    FAILS(npg_linalg_solve(g3, npg_matmul(m34, m34)), NPG_ERR_SHAPE, "npg_matmul");
    FAILS(npg_linalg_vector_norm(npg_linalg_inv(m34), 2, NPG_ALL_AXES, false), NPG_ERR_SHAPE, "npg_linalg_inv");
    FAILS_ST(npg_linalg_qr(npg_matmul(m34, m34), false, &o1, &o2), NPG_ERR_SHAPE, "npg_matmul");
    cr_expect(o1 == NULL && o2 == NULL, "qr(failed input): outputs not NULL");
    FAILS_ST(npg_linalg_svd(npg_linalg_det(v3), true, &o1, &o2, &o3), NPG_ERR_SHAPE, "npg_linalg_det");
    cr_expect(o1 == NULL && o2 == NULL && o3 == NULL, "svd(failed input): outputs not NULL");
    FAILS_ST(npg_linalg_slogdet(npg_linalg_cholesky(m34, false), &o1, &o2), NPG_ERR_SHAPE, "npg_linalg_cholesky");

    /* 0-d and 1-d inputs to matrix functions */
    npg_array *bad[2] = {s0, v3};
    for (int k = 0; k < 2; k++) {
        npg_array *x = bad[k];
        FAILS(npg_linalg_cholesky(x, false), NPG_ERR_SHAPE, "npg_linalg_cholesky");
        FAILS(npg_linalg_eigvalsh(x), NPG_ERR_SHAPE, "npg_linalg_eigvalsh");
        FAILS(npg_linalg_svdvals(x), NPG_ERR_SHAPE, "npg_linalg_svdvals");
        FAILS(npg_linalg_inv(x), NPG_ERR_SHAPE, "npg_linalg_inv");
        FAILS(npg_linalg_det(x), NPG_ERR_SHAPE, "npg_linalg_det");
        FAILS(npg_linalg_pinv(x, -1), NPG_ERR_SHAPE, "npg_linalg_pinv");
        FAILS(npg_linalg_matrix_rank(x, -1), NPG_ERR_SHAPE, "npg_linalg_matrix_rank");
        FAILS(npg_linalg_matrix_power(x, 2), NPG_ERR_SHAPE, "npg_linalg_matrix_power");
        FAILS(npg_linalg_matrix_norm(x, "fro", false), NPG_ERR_SHAPE, "npg_linalg_matrix_norm");
        FAILS(npg_linalg_solve(x, v3), NPG_ERR_SHAPE, "npg_linalg_solve");
        FAILS(npg_linalg_solve_triangular(x, b42, false, false), NPG_ERR_SHAPE, "npg_linalg_solve_triangular");
        FAILS(npg_linalg_solve_triangular(g3, x, false, false), NPG_ERR_SHAPE, "npg_linalg_solve_triangular");
        FAILS_ST(npg_linalg_qr(x, false, &o1, &o2), NPG_ERR_SHAPE, "npg_linalg_qr");
        cr_expect(o1 == NULL && o2 == NULL, "qr(1-d): outputs not NULL");
        FAILS_ST(npg_linalg_eigh(x, &o1, &o2), NPG_ERR_SHAPE, "npg_linalg_eigh");
        cr_expect(o1 == NULL && o2 == NULL, "eigh(1-d): outputs not NULL");
        FAILS_ST(npg_linalg_svd(x, false, &o1, &o2, &o3), NPG_ERR_SHAPE, "npg_linalg_svd");
        cr_expect(o1 == NULL && o2 == NULL && o3 == NULL, "svd(1-d): outputs not NULL");
        FAILS_ST(npg_linalg_slogdet(x, &o1, &o2), NPG_ERR_SHAPE, "npg_linalg_slogdet");
        cr_expect(o1 == NULL && o2 == NULL, "slogdet(1-d): outputs not NULL");
    }
    FAILS(npg_linalg_vector_norm(m34, 2, NPG_AXES(2), false), NPG_ERR_AXIS, "npg_linalg_vector_norm");
    FAILS(npg_linalg_vector_norm(m34, 2, NPG_AXES(0, -2), false), NPG_ERR_AXIS, "npg_linalg_vector_norm");

    /* non-square matrices */
    FAILS(npg_linalg_cholesky(m34, false), NPG_ERR_SHAPE, "npg_linalg_cholesky");
    FAILS(npg_linalg_inv(m34), NPG_ERR_SHAPE, "npg_linalg_inv");
    FAILS(npg_linalg_det(m34), NPG_ERR_SHAPE, "npg_linalg_det");
    FAILS(npg_linalg_eigvalsh(m34), NPG_ERR_SHAPE, "npg_linalg_eigvalsh");
    FAILS(npg_linalg_matrix_power(m34, 2), NPG_ERR_SHAPE, "npg_linalg_matrix_power");
    FAILS(npg_linalg_solve(m34, b42), NPG_ERR_SHAPE, "npg_linalg_solve");
    FAILS(npg_linalg_solve_triangular(m34, b42, true, false), NPG_ERR_SHAPE, "npg_linalg_solve_triangular");
    FAILS_ST(npg_linalg_eigh(m34, &o1, &o2), NPG_ERR_SHAPE, "npg_linalg_eigh");
    FAILS_ST(npg_linalg_slogdet(m34, &o1, &o2), NPG_ERR_SHAPE, "npg_linalg_slogdet");

    /* mismatched solve shapes, batches that do not broadcast */
    FAILS(npg_linalg_solve(g3, b42), NPG_ERR_SHAPE, "npg_linalg_solve");
    FAILS(npg_linalg_solve(g3, v4), NPG_ERR_SHAPE, "npg_linalg_solve");
    FAILS(npg_linalg_solve(a233, b332), NPG_ERR_SHAPE, "npg_linalg_solve");
    FAILS(npg_linalg_solve_triangular(g3, b42, false, false), NPG_ERR_SHAPE, "npg_linalg_solve_triangular");
    FAILS(npg_linalg_solve_triangular(a233, b332, true, true), NPG_ERR_SHAPE, "npg_linalg_solve_triangular");

    /* matrix_norm's ord */
    static const char *const bad_ords[] = {"3", "", "Fro", "fro ", "nuclear", "+inf", "0"};
    for (int k = 0; k < 7; k++) FAILS(npg_linalg_matrix_norm(m34, bad_ords[k], false), NPG_ERR_INVALID_ARG, "npg_linalg_matrix_norm");

    /* cross: length 2 along the axis, unequal lengths, a bad axis, batches */
    FAILS(npg_linalg_cross(c2, c2, -1), NPG_ERR_SHAPE, "npg_linalg_cross");
    FAILS(npg_linalg_cross(c3, c2, -1), NPG_ERR_SHAPE, "npg_linalg_cross");
    FAILS(npg_linalg_cross(c3, c3, 0), NPG_ERR_SHAPE, "npg_linalg_cross"); /* axis 0 has length 4 */
    FAILS(npg_linalg_cross(c3, c3, 2), NPG_ERR_AXIS, "npg_linalg_cross");
    FAILS(npg_linalg_cross(c3, c3, -3), NPG_ERR_AXIS, "npg_linalg_cross");
    FAILS(npg_linalg_cross(c3, c53, -1), NPG_ERR_SHAPE, "npg_linalg_cross");

    /* rtol NaN */
    FAILS(npg_linalg_pinv(g3, NAN), NPG_ERR_INVALID_ARG, "npg_linalg_pinv");
    FAILS(npg_linalg_matrix_rank(g3, NAN), NPG_ERR_INVALID_ARG, "npg_linalg_matrix_rank");

    /* a negative power of an integer matrix (floating only) */
    FAILS(npg_linalg_matrix_power(i3, -1), NPG_ERR_DTYPE, "npg_linalg_matrix_power");
    FAILS(npg_linalg_matrix_power(i3, -2), NPG_ERR_DTYPE, "npg_linalg_matrix_power");

    /* inputs unchanged */
    double *got = t_read(m34);
    t_assert_close_buf(got, v, 12, 0, 0, "m34 unchanged");
    free(got);
    got = t_read(g3);
    t_assert_close_buf(got, G3, 9, 0, 0, "g3 unchanged");
    free(got);
    got = t_read(i3);
    t_assert_close_buf(got, I3, 9, 0, 0, "i3 unchanged");
    free(got);
    double g3tv[9];
    h_tr(G3, g3tv, 3, 3);
    got = t_read(g3t);
    t_assert_close_buf(got, g3tv, 9, 0, 0, "a transposed view unchanged");
    free(got);
    npg_clear_error();
    npg_scope_end(sc);
}

Test(decomp, numerical_errors_name_the_batch_index) {
    t_live l0 = t_live_now();
    npg_scope sc = npg_scope_begin();
    for (int di = 0; di < 2; di++) {
        npg_dtype dt = FDT[di];
        /* a batch of 7 2x2 matrices; matrix 5 is singular (not positive
         * definite for cholesky); the digit 5 appears nowhere else */
        double b[28], pd[28], rhs[2] = {1, 2};
        for (int k = 0; k < 7; k++) {
            double *m = b + 4 * k, *p = pd + 4 * k;
            m[0] = 2 + k, m[1] = 1, m[2] = -1, m[3] = 3;
            p[0] = 4, p[1] = 99, p[2] = 1, p[3] = 3; /* upper entry junk: only the lower triangle is read */
        }
        b[20] = 1, b[21] = 2, b[22] = 2, b[23] = 4;  /* singular */
        pd[20] = 1, pd[21] = 0, pd[22] = 2, pd[23] = 1; /* [[1,2],[2,1]]: indefinite */
        npg_array *a = t_arr(b, dt, NPG_SHAPE(7, 2, 2)), *p = t_arr(pd, dt, NPG_SHAPE(7, 2, 2)), *r = t_arr(rhs, dt, NPG_SHAPE(2));
        npg_array *r2 = t_arr(rhs, dt, NPG_SHAPE(2, 1));
        char msg[512];
        FAILS(npg_linalg_inv(a), NPG_ERR_LINALG, "npg_linalg_inv");
        snprintf(msg, sizeof msg, "%s", npg_last_error());
        cr_expect(strstr(msg, "matrix 5") != NULL, "inv: the message does not name matrix 5 of the batch: %s", msg);
        FAILS(npg_linalg_solve(a, r), NPG_ERR_LINALG, "npg_linalg_solve");
        snprintf(msg, sizeof msg, "%s", npg_last_error());
        cr_expect(strstr(msg, "matrix 5") != NULL, "solve: the message does not name matrix 5 of the batch: %s", msg);
        FAILS(npg_linalg_solve(a, r2), NPG_ERR_LINALG, "npg_linalg_solve");
        FAILS(npg_linalg_cholesky(p, false), NPG_ERR_LINALG, "npg_linalg_cholesky");
        snprintf(msg, sizeof msg, "%s", npg_last_error());
        cr_expect(strstr(msg, "matrix 5") != NULL, "cholesky: the message does not name matrix 5 of the batch: %s", msg);
        FAILS(npg_linalg_cholesky(p, true), NPG_ERR_LINALG, "npg_linalg_cholesky");
        /* a single matrix */
        npg_array *s3 = t_arr(S3, dt, NPG_SHAPE(3, 3)), *n3 = t_arr(N3, dt, NPG_SHAPE(3, 3)), *ones = npg_ones(NPG_SHAPE(3), OPT(.dtype = dt));
        FAILS(npg_linalg_inv(s3), NPG_ERR_LINALG, "npg_linalg_inv");
        FAILS(npg_linalg_solve(s3, ones), NPG_ERR_LINALG, "npg_linalg_solve");
        FAILS(npg_linalg_cholesky(n3, false), NPG_ERR_LINALG, "npg_linalg_cholesky");
        /* the same singular matrices are fine for det, slogdet, pinv, svd */
        npg_array *d = npg_linalg_det(a);
        cr_expect(d != NULL, "det of a batch with a singular matrix: %s", npg_last_error());
        /* inputs unchanged */
        double *g = t_read(a);
        double bw[28];
        memcpy(bw, b, sizeof b);
        round_dt(bw, 28, dt);
        t_assert_close_buf(g, bw, 28, 0, 0, "the singular batch unchanged");
        free(g);
        g = t_read(p);
        memcpy(bw, pd, sizeof pd);
        t_assert_close_buf(g, bw, 28, 0, 0, "the indefinite batch unchanged");
        free(g);
    }
    npg_clear_error();
    npg_scope_end(sc);
    t_assert_no_leak(l0, "numerical errors");
}

/* Functions composed from others report their errors under their own
 * name (npg.h: the message names the function). */
Test(decomp, errors_from_composed_functions_name_the_called_function) {
    t_live l0 = t_live_now();
    npg_scope sc = npg_scope_begin();
    npg_array *s3 = t_arr(S3, NPG_FLOAT64, NPG_SHAPE(3, 3)), *e00 = npg_zeros(NPG_SHAPE(0, 0), OPT(.dtype = NPG_FLOAT64));
    npg_array *e30 = npg_zeros(NPG_SHAPE(3, 0), OPT(.dtype = NPG_FLOAT64)), *e0 = npg_zeros(NPG_SHAPE(0), OPT(.dtype = NPG_FLOAT64));
    /* a negative power of a singular matrix */
    FAILS(npg_linalg_matrix_power(s3, -1), NPG_ERR_LINALG, "npg_linalg_matrix_power");
    FAILS(npg_linalg_matrix_power(s3, -3), NPG_ERR_LINALG, "npg_linalg_matrix_power");
    /* max / min over nothing (NumPy and PyTorch refuse these too) */
    FAILS(npg_linalg_matrix_norm(e00, "2", false), NPG_ERR_SHAPE, "npg_linalg_matrix_norm");
    FAILS(npg_linalg_matrix_norm(e30, "1", false), NPG_ERR_SHAPE, "npg_linalg_matrix_norm");
    FAILS(npg_linalg_vector_norm(e0, INFINITY, NPG_ALL_AXES, false), NPG_ERR_SHAPE, "npg_linalg_vector_norm");
    FAILS(npg_linalg_vector_norm(e0, -INFINITY, NPG_ALL_AXES, false), NPG_ERR_SHAPE, "npg_linalg_vector_norm");
    npg_clear_error();
    npg_scope_end(sc);
    t_assert_no_leak(l0, "composed errors");
}

Test(decomp, mixed_devices_are_an_error) {
    t_require_cuda();
    npg_scope sc = npg_scope_begin();
    npg_array *a = npg_from_data(G3, NPG_FLOAT64, NPG_SHAPE(3, 3), NPG_OPTS(.device = NPG_CPU));
    npg_array *b = npg_from_data(G3, NPG_FLOAT64, NPG_SHAPE(3, 3), NPG_OPTS(.device = NPG_CUDA(0)));
    npg_array *u = npg_from_data(G3, NPG_FLOAT64, NPG_SHAPE(3), NPG_OPTS(.device = NPG_CPU));
    npg_array *w = npg_from_data(G3, NPG_FLOAT64, NPG_SHAPE(3), NPG_OPTS(.device = NPG_CUDA(0)));
    FAILS(npg_linalg_solve(a, b), NPG_ERR_DEVICE, "npg_linalg_solve");
    FAILS(npg_linalg_solve(b, a), NPG_ERR_DEVICE, "npg_linalg_solve");
    FAILS(npg_linalg_solve(b, u), NPG_ERR_DEVICE, "npg_linalg_solve");
    FAILS(npg_linalg_solve_triangular(a, b, true, false), NPG_ERR_DEVICE, "npg_linalg_solve_triangular");
    FAILS(npg_linalg_cross(u, w, -1), NPG_ERR_DEVICE, "npg_linalg_cross");
    double *g = t_read(a);
    t_assert_close_buf(g, G3, 9, 0, 0, "a unchanged");
    free(g);
    npg_clear_error();
    npg_scope_end(sc);
}

/* On CUDA: the same calls as on the CPU give the same values (cuSOLVER vs
 * LAPACK), the factors of qr, eigh and svd included: npg fixes their signs
 * (the inputs have distinct eigenvalues and singular values). */
Test(decomp, cuda_matches_cpu) {
    t_require_cuda();
    t_live l0 = t_live_now();
    npg_scope sc = npg_scope_begin();
    double a[2 * 5 * 5], s[2 * 5 * 5], r[2 * 4 * 3];
    gen_sq(a, 2, 5, 190);
    gen_spd(s, 2, 5, 191);
    t_fill_uniform(r, 24, -1, 1, 192);
    for (int di = 0; di < 2; di++) {
        npg_dtype dt = FDT[di];
        double tol = tol_of(dt) * 10;
        npg_array *ac = npg_from_data(a, NPG_FLOAT64, NPG_SHAPE(2, 5, 5), NPG_OPTS(.dtype = dt, .device = NPG_CPU));
        npg_array *ag = npg_to(ac, NPG_CUDA(0));
        npg_array *sc_ = npg_from_data(s, NPG_FLOAT64, NPG_SHAPE(2, 5, 5), NPG_OPTS(.dtype = dt, .device = NPG_CPU));
        npg_array *sg = npg_to(sc_, NPG_CUDA(0));
        npg_array *rc = npg_from_data(r, NPG_FLOAT64, NPG_SHAPE(2, 4, 3), NPG_OPTS(.dtype = dt, .device = NPG_CPU));
        npg_array *rg = npg_to(rc, NPG_CUDA(0));
        npg_array *pairs[][2] = {
            {npg_linalg_inv(ac), npg_linalg_inv(ag)},
            {npg_linalg_det(ac), npg_linalg_det(ag)},
            {npg_linalg_cholesky(sc_, false), npg_linalg_cholesky(sg, false)},
            {npg_linalg_eigvalsh(sc_), npg_linalg_eigvalsh(sg)},
            {npg_linalg_svdvals(rc), npg_linalg_svdvals(rg)},
            {npg_linalg_pinv(rc, -1), npg_linalg_pinv(rg, -1)},
            {npg_linalg_solve(ac, sc_), npg_linalg_solve(ag, sg)},
            {npg_linalg_solve_triangular(ac, sc_, true, false), npg_linalg_solve_triangular(ag, sg, true, false)},
            {npg_linalg_matrix_power(ac, -2), npg_linalg_matrix_power(ag, -2)},
            {npg_linalg_matrix_norm(rc, "nuc", false), npg_linalg_matrix_norm(rg, "nuc", false)},
            {npg_linalg_vector_norm(rc, 3, NPG_AXES(-1), false), npg_linalg_vector_norm(rg, 3, NPG_AXES(-1), false)},
        };
        /* the factors themselves: npg's sign conventions make them agree */
        npg_array *fc[7] = {NULL}, *fg[7] = {NULL};
        cr_assert_eq(npg_linalg_qr(rc, false, &fc[0], &fc[1]), NPG_OK, "%s", npg_last_error());
        cr_assert_eq(npg_linalg_qr(rg, false, &fg[0], &fg[1]), NPG_OK, "%s", npg_last_error());
        cr_assert_eq(npg_linalg_eigh(sc_, &fc[2], &fc[3]), NPG_OK, "%s", npg_last_error());
        cr_assert_eq(npg_linalg_eigh(sg, &fg[2], &fg[3]), NPG_OK, "%s", npg_last_error());
        cr_assert_eq(npg_linalg_svd(rc, false, &fc[4], &fc[5], &fc[6]), NPG_OK, "%s", npg_last_error());
        cr_assert_eq(npg_linalg_svd(rg, false, &fg[4], &fg[5], &fg[6]), NPG_OK, "%s", npg_last_error());
        for (int k = 0; k < 7; k++) {
            double *c = t_read(fc[k]), *g = t_read(fg[k]);
            char label[64];
            snprintf(label, sizeof label, "CUDA vs CPU, factor %d of qr/eigh/svd (%s)", k, npg_dtype_name(dt));
            near(g, c, npg_size(fc[k]), tol, 1 + amax(c, npg_size(fc[k])), label, "values");
            free(c), free(g);
        }
        for (int k = 0; k < (int)(sizeof pairs / sizeof pairs[0]); k++) {
            cr_assert(pairs[k][0] && pairs[k][1], "pair %d: %s", k, npg_last_error());
            cr_expect_eq(npg_device_of(pairs[k][1]).type, NPG_DEVICE_CUDA, "pair %d: result not on the GPU", k);
            double *c = t_read(pairs[k][0]), *g = t_read(pairs[k][1]);
            char label[64];
            snprintf(label, sizeof label, "CUDA vs CPU, pair %d (%s)", k, npg_dtype_name(dt));
            near(g, c, npg_size(pairs[k][0]), tol, 1 + amax(c, npg_size(pairs[k][0])), label, "values");
            free(c), free(g);
        }
    }
    npg_scope_end(sc);
    t_assert_no_leak(l0, "cuda vs cpu");
}

/* ------------------------------------------------------------------------
 * lstsq
 * ------------------------------------------------------------------------ */

static npg_array *lstsq_fn(npg_array *const *in, int n, void *user) {
    (void)n;
    (void)user;
    return npg_linalg_lstsq(in[0], in[1], -1);
}

Test(decomp, lstsq) {
    t_live l0 = t_live_now();
    npg_scope sc = npg_scope_begin();
    /* NumPy 1.24, np.linalg.lstsq(A, b, rcond=None)[0] */
    double A[8] = {1, 2, 3, 4, 5, 7, -1, 0.5}, b[4] = {1, 0, 2, -1}, want_ab[2] = {0.56305506, -0.1705151};
    double R[9] = {1, 2, 3, 2, 4, 6, 1, 0, 1}, B[6] = {1, 2, 3, 4, 5, 6};
    double want_rb[6] = {3.93333333, 4.66666667, -2.86666667, -3.33333333, 1.06666667, 1.33333333};
    double W[6] = {1, 2, 3, 4, 5, 7}, wb[2] = {1, 2}, want_wb[3] = {-0.22857143, 0.14285714, 0.31428571};
    for (int di = 0; di < 2; di++) {
        npg_dtype dt = FDT[di];
        double tol = di == 0 ? 1e-4 : 1e-7; /* the NumPy constants carry 8 digits */
        npg_opts o = {.dtype = dt};
        npg_array *x = npg_linalg_lstsq(npg_from_data(A, NPG_FLOAT64, NPG_SHAPE(4, 2), &o),
                                        npg_from_data(b, NPG_FLOAT64, NPG_SHAPE(4), &o), -1);
        cr_assert(x, "%s", npg_last_error());
        cr_expect_eq(npg_dtype_of(x), dt);
        cr_expect(same_shape(npg_shape_of(x), NPG_SHAPE(2)));
        t_assert_close(x, want_ab, 2, tol, tol, "lstsq, overdetermined, 1-d b");
        /* rank 2 of 3: the minimum-norm solution */
        x = npg_linalg_lstsq(npg_from_data(R, NPG_FLOAT64, NPG_SHAPE(3, 3), &o),
                             npg_from_data(B, NPG_FLOAT64, NPG_SHAPE(3, 2), &o), -1);
        cr_assert(x, "%s", npg_last_error());
        t_assert_close(x, want_rb, 6, tol * 10, tol * 10, "lstsq, rank-deficient");
        /* underdetermined, batched by broadcasting: (2, 2, 3) a, (2) b */
        npg_array *w = npg_from_data(W, NPG_FLOAT64, NPG_SHAPE(2, 3), &o);
        npg_array *w2 = npg_broadcast_to(w, NPG_SHAPE(2, 2, 3));
        x = npg_linalg_lstsq(w2, npg_from_data(wb, NPG_FLOAT64, NPG_SHAPE(2), &o), -1);
        cr_assert(x, "%s", npg_last_error());
        cr_expect(same_shape(npg_shape_of(x), NPG_SHAPE(2, 3)));
        double want2[6];
        memcpy(want2, want_wb, sizeof want_wb), memcpy(want2 + 3, want_wb, sizeof want_wb);
        t_assert_close(x, want2, 6, tol, tol, "lstsq, underdetermined, broadcast batch");
    }
    /* gradients of both operands (full column rank: smooth) */
    npg_array *ga = rleaf(NPG_SHAPE(2, 5, 3), -1, 1, 600), *gb = rleaf(NPG_SHAPE(5, 2), -1, 1, 601);
    g_checks++;
    cr_expect_eq(npg_gradcheck(lstsq_fn, NULL, (npg_array *[]){ga, gb}, 2, NULL), NPG_OK, "gradcheck lstsq: %s",
                 npg_last_error());
    npg_clear_error();
    /* errors name lstsq (operands made first: FAILS counts live arrays) */
    npg_array *a4 = npg_from_data(A, NPG_FLOAT64, NPG_SHAPE(4, 2), NULL);
    npg_array *b32 = npg_from_data(B, NPG_FLOAT64, NPG_SHAPE(3, 2), NULL);
    npg_array *b22 = npg_from_data(b, NPG_FLOAT64, NPG_SHAPE(2, 2), NULL);
    npg_array *b4 = npg_from_data(b, NPG_FLOAT64, NPG_SHAPE(4), NULL);
    double inf4[8] = {1, 2, INFINITY, 4, 5, 7, -1, 0.5};
    npg_array *ainf = npg_from_data(inf4, NPG_FLOAT64, NPG_SHAPE(4, 2), NULL);
    FAILS(npg_linalg_lstsq(a4, b32, -1), NPG_ERR_SHAPE, "npg_linalg_lstsq");
    FAILS(npg_linalg_lstsq(a4, b22, -1), NPG_ERR_SHAPE, "npg_linalg_lstsq");
    FAILS(npg_linalg_lstsq(b4, a4, -1), NPG_ERR_SHAPE, "npg_linalg_lstsq");
    FAILS(npg_linalg_lstsq(a4, b4, NAN), NPG_ERR_INVALID_ARG, "npg_linalg_lstsq");
    FAILS(npg_linalg_lstsq(NULL, a4, -1), NPG_ERR_NULL_ARG, "npg_linalg_lstsq");
    FAILS(npg_linalg_lstsq(ainf, b4, -1), NPG_ERR_LINALG, "npg_linalg_lstsq");
    npg_clear_error();
    npg_scope_end(sc);
    t_assert_no_leak(l0, "lstsq");
}

Test(decomp, non_finite_matrices_are_linalg_errors) {
    t_live l0 = t_live_now();
    npg_scope sc = npg_scope_begin();
    /* an inf or NaN in the part cholesky / eigh / svd read: NPG_ERR_LINALG
     * naming the function and the matrix, on every device alike (LAPACK
     * alone would hang on inf in gesdd, or return finite eigenvalues) */
    const double bad[2] = {INFINITY, NAN};
    for (int i = 0; i < 2; i++) {
        double lo[18] = {4, 0, 0, 1, 5, 0, 0, 1, 6, 4, 0, 0, 1, 5, 0, 0, 1, 6};
        lo[9 + 3] = bad[i]; /* matrix 1, lower triangle (1, 0) */
        npg_array *x = npg_from_data(lo, NPG_FLOAT64, NPG_SHAPE(2, 3, 3), NULL), *w = NULL, *s = NULL;
        FAILS(npg_linalg_cholesky(x, false), NPG_ERR_LINALG, "matrix 1 of the batch has non-finite entries");
        FAILS(npg_linalg_eigvalsh(x), NPG_ERR_LINALG, "npg_linalg_eigvalsh: matrix 1");
        FAILS(npg_linalg_svdvals(x), NPG_ERR_LINALG, "npg_linalg_svdvals: matrix 1");
        FAILS(npg_linalg_pinv(x, -1), NPG_ERR_LINALG, "npg_linalg_pinv");
        FAILS(npg_linalg_matrix_norm(x, "nuc", false), NPG_ERR_LINALG, "non-finite");
        cr_expect_eq(npg_linalg_eigh(x, &w, NULL), NPG_ERR_LINALG, "eigh: %s", npg_last_error());
        cr_expect_eq(npg_linalg_svd(x, true, NULL, &s, NULL), NPG_ERR_LINALG, "svd: %s", npg_last_error());
        cr_expect(w == NULL && s == NULL, "outputs NULL on failure");
        /* in the triangle cholesky and eigh do not read: no error */
        double up[9] = {4, bad[i], 0, 1, 5, 0, 0, 1, 6};
        npg_array *y = npg_from_data(up, NPG_FLOAT64, NPG_SHAPE(3, 3), NULL);
        cr_expect(npg_linalg_cholesky(y, false) != NULL, "cholesky ignores the upper triangle: %s", npg_last_error());
        cr_expect(npg_linalg_eigvalsh(y) != NULL, "eigvalsh ignores the upper triangle: %s", npg_last_error());
        /* det and solve propagate instead (no check, no synchronisation) */
        cr_expect(npg_linalg_det(x) != NULL, "det: %s", npg_last_error());
    }
    npg_clear_error();
    npg_scope_end(sc);
    t_assert_no_leak(l0, "non-finite matrices");
}

Test(decomp, sign_conventions_fix_the_factors) {
    t_live l0 = t_live_now();
    npg_scope sc = npg_scope_begin();
    /* the header's conventions, which make every device agree: R's diagonal
     * >= 0; each eigenvector's and each left singular vector's entry of
     * largest magnitude > 0 (their product with the right vector unchanged:
     * U diag(S) Vh is checked elsewhere) */
    double a[2 * 5 * 4], s[2 * 4 * 4];
    t_fill_uniform(a, 40, -1, 1, 700);
    gen_sym(s, 2, 4, 701);
    static const npg_shape qs[] = {SH(2, 5, 4), SH(2, 4, 5)};
    for (int t = 0; t < 2; t++) {
        npg_array *x = t_arr(a, NPG_FLOAT64, qs[t]), *q = NULL, *r = NULL, *u = NULL, *sv = NULL, *vh = NULL;
        for (int complete = 0; complete < 2; complete++) {
            cr_assert_eq(npg_linalg_qr(x, complete, &q, &r), NPG_OK, "%s", npg_last_error());
            npg_shape rs = npg_shape_of(r);
            int64_t k = rs.dims[1] < rs.dims[2] ? rs.dims[1] : rs.dims[2];
            double *hr = t_read(r);
            for (int64_t b = 0; b < 2; b++)
                for (int64_t j = 0; j < k; j++) {
                    double d = hr[b * rs.dims[1] * rs.dims[2] + j * rs.dims[2] + j];
                    cr_expect(d >= 0 && !signbit(d), "qr %s (%lld): R[%lld][%lld] = %g", complete ? "complete" : "reduced",
                              (long long)b, (long long)j, (long long)j, d);
                }
            free(hr);
        }
        for (int full = 0; full < 2; full++) {
            cr_assert_eq(npg_linalg_svd(x, full, &u, &sv, &vh), NPG_OK, "%s", npg_last_error());
            npg_shape us = npg_shape_of(u);
            int64_t m = us.dims[1], c = us.dims[2], k = npg_shape_of(sv).dims[1];
            double *hu = t_read(u);
            for (int64_t b = 0; b < 2; b++)
                for (int64_t j = 0; j < k; j++) {
                    double best = 0;
                    for (int64_t i = 0; i < m; i++) {
                        double v = hu[b * m * c + i * c + j];
                        if (fabs(v) > fabs(best)) best = v;
                    }
                    cr_expect(best > 0, "svd: column %lld of U (matrix %lld) has its largest entry %g", (long long)j,
                              (long long)b, best);
                }
            free(hu);
        }
    }
    npg_array *w = NULL, *v = NULL;
    cr_assert_eq(npg_linalg_eigh(t_arr(s, NPG_FLOAT64, NPG_SHAPE(2, 4, 4)), &w, &v), NPG_OK, "%s", npg_last_error());
    double *hv = t_read(v);
    for (int64_t b = 0; b < 2; b++)
        for (int64_t j = 0; j < 4; j++) {
            double best = 0;
            for (int64_t i = 0; i < 4; i++)
                if (fabs(hv[b * 16 + i * 4 + j]) > fabs(best)) best = hv[b * 16 + i * 4 + j];
            cr_expect(best > 0, "eigh: vector %lld (matrix %lld) has its largest entry %g", (long long)j, (long long)b, best);
        }
    free(hv);
    npg_scope_end(sc);
    t_assert_no_leak(l0, "sign conventions");
}

/* lstsq_ex: NumPy 1.24's np.linalg.lstsq(A, B, rcond=None) results (x,
 * residuals, rank, singular values) for an overdetermined full-rank system,
 * a 1-d b, a rank-deficient a (no residuals), batches, NULL outputs, a
 * gradient through the residuals, and the errors. */
Test(decomp, lstsq_ex_matches_numpy) {
    t_live l0 = t_live_now();
    npg_scope s = npg_scope_begin();
    const double A[8] = {1, 2, 3, 4, 5, 7, 2, -1}, B[8] = {1, 0, 2, 1, 0, 3, 1, 1}, b[4] = {1, 2, 0, 1};
    const double wx[4] = {0.39731286, 0.52207294, -0.13819578, -0.00767754}, wr[2] = {3.66794626, 0.7428023},
                 ws[2] = {10.19754372, 2.23832572}, wx1[2] = {0.39731286, -0.13819578}, wr1 = 3.66794626, two = 2;
    for (int f = 0; f < 2; f++) {
        npg_dtype dt = f ? NPG_FLOAT32 : NPG_FLOAT64;
        double tol = f ? 1e-5 : 1e-7; /* the constants have 8 digits */
        npg_array *a = t_arr(A, dt, NPG_SHAPE(4, 2)), *x, *res, *rk, *sv;
        cr_assert_eq(npg_linalg_lstsq_ex(a, t_arr(B, dt, NPG_SHAPE(4, 2)), -1, &x, &res, &rk, &sv), NPG_OK, "%s",
                     npg_last_error());
        t_assert_close(x, wx, 4, tol, tol, "x");
        t_assert_shape(res, NPG_SHAPE(2));
        t_assert_close(res, wr, 2, tol, tol, "residuals");
        cr_assert_eq(npg_dtype_of(rk), NPG_INT64);
        t_assert_close(rk, &two, 1, 0, 0, "rank");
        t_assert_close(sv, ws, 2, tol, tol, "singular values");
        /* a 1-d b: 1-d x, residuals of shape (1,) as NumPy's; only some outputs wanted */
        cr_assert_eq(npg_linalg_lstsq_ex(a, t_arr(b, dt, NPG_SHAPE(4)), -1, &x, &res, NULL, NULL), NPG_OK, "%s",
                     npg_last_error());
        t_assert_close(x, wx1, 2, tol, tol, "x of a 1-d b");
        t_assert_shape(res, NPG_SHAPE(1));
        t_assert_close(res, &wr1, 1, tol, tol, "residual of a 1-d b");
    }
    /* rank deficient (rank 1 < n = 2): no residuals, NumPy's minimum-norm x */
    const double D[6] = {1, 2, 2, 4, 3, 6}, wxd[2] = {0.07142857, 0.14285714}, one = 1;
    npg_array *x, *res, *rk, *sv;
    cr_assert_eq(npg_linalg_lstsq_ex(t_arr(D, NPG_FLOAT64, NPG_SHAPE(3, 2)), t_arr(b, NPG_FLOAT64, NPG_SHAPE(3)), -1, &x,
                                     &res, &rk, &sv),
                 NPG_OK, "%s", npg_last_error());
    t_assert_close(x, wxd, 2, 1e-7, 1e-7, "minimum-norm x");
    t_assert_shape(res, NPG_SHAPE(0));
    t_assert_close(rk, &one, 1, 0, 0, "rank 1");
    /* a batch: the same system twice, broadcast b; residuals (2, 2) */
    npg_array *ab = npg_stack((npg_array *[]){t_arr(A, NPG_FLOAT64, NPG_SHAPE(4, 2)), t_arr(A, NPG_FLOAT64, NPG_SHAPE(4, 2))}, 2, 0);
    cr_assert_eq(npg_linalg_lstsq_ex(ab, t_arr(B, NPG_FLOAT64, NPG_SHAPE(4, 2)), -1, NULL, &res, &rk, NULL), NPG_OK, "%s",
                 npg_last_error());
    const double wrb[4] = {3.66794626, 0.7428023, 3.66794626, 0.7428023}, twos[2] = {2, 2};
    t_assert_shape(res, NPG_SHAPE(2, 2));
    t_assert_close(res, wrb, 4, 1e-7, 1e-7, "batched residuals");
    t_assert_close(rk, twos, 2, 0, 0, "batched ranks");
    /* the residuals' gradient in b: 2 (b - a x) (x depends on b too, but the
     * residual is orthogonal to a's columns, so that part vanishes) */
    npg_array *bg = t_arr(b, NPG_FLOAT64, NPG_SHAPE(4));
    npg_set_requires_grad(bg, true);
    cr_assert_eq(npg_linalg_lstsq_ex(t_arr(A, NPG_FLOAT64, NPG_SHAPE(4, 2)), bg, -1, &x, &res, NULL, NULL), NPG_OK);
    cr_assert_eq(npg_backward(res, NULL), NPG_OK, "%s", npg_last_error());
    double *xv = t_read(x), want[4];
    for (int i = 0; i < 4; i++) want[i] = 2 * (b[i] - (A[2 * i] * xv[0] + A[2 * i + 1] * xv[1]));
    free(xv);
    t_assert_close(npg_grad(bg), want, 4, 1e-10, 1e-10, "d residual / d b");
    /* a float32 a with a float64 b solves in float64 (found by the fuzzer:
     * pinv was taken in float32): the residual is orthogonal to a's columns
     * to float64 accuracy (A's entries are exact in float32) */
    for (int ex = 0; ex < 2; ex++) {
        npg_array *a32 = t_arr(A, NPG_FLOAT32, NPG_SHAPE(4, 2)), *b64 = t_arr(b, NPG_FLOAT64, NPG_SHAPE(4));
        if (ex) cr_assert_eq(npg_linalg_lstsq_ex(a32, b64, -1, &x, NULL, NULL, NULL), NPG_OK, "%s", npg_last_error());
        else x = npg_linalg_lstsq(a32, b64, -1);
        cr_assert(x && npg_dtype_of(x) == NPG_FLOAT64, "%s", npg_last_error());
        double *xs = t_read(x);
        for (int j = 0; j < 2; j++) {
            double g = 0;
            for (int i = 0; i < 4; i++) g += A[2 * i + j] * (A[2 * i] * xs[0] + A[2 * i + 1] * xs[1] - b[i]);
            cr_expect(fabs(g) < 1e-12, "%s: a^T (a x - b)[%d] = %g", ex ? "lstsq_ex" : "lstsq", j, g);
        }
        free(xs);
    }
    /* errors: every output set to NULL, the message names the function */
    x = res = rk = sv = t_arr(b, NPG_FLOAT64, NPG_SHAPE(4));
    cr_assert_eq(npg_linalg_lstsq_ex(t_arr(A, NPG_FLOAT64, NPG_SHAPE(4, 2)), t_arr(b, NPG_FLOAT64, NPG_SHAPE(3)), -1, &x,
                                     &res, &rk, &sv),
                 NPG_ERR_SHAPE);
    cr_assert(!x && !res && !rk && !sv);
    t_assert_error(NPG_ERR_SHAPE, "npg_linalg_lstsq_ex");
    npg_clear_error(); /* else the NULL operand would pass the pending error on */
    cr_assert_eq(npg_linalg_lstsq_ex(NULL, bg, -1, &x, NULL, NULL, NULL), NPG_ERR_NULL_ARG);
    cr_assert_null(x);
    npg_clear_error();
    npg_scope_end(s);
    t_assert_no_leak(l0, "lstsq_ex");
}
