/*
 * test_nn.cpp (CUDA emulator, tests/cuemu) — src/cuda/nn.cu's kernels, run
 * on the CPU by the emulator, against the CPU backend (src/cpu/nn.c):
 * softmax / log_softmax forward and backward, cross-entropy forward and
 * backward (label smoothing, ignore_index, labels out of range: the CPU
 * returns NPG_ERR_INDEX, the kernels write NaN rows and set the deferred
 * flag, so the reference is the CPU on labels made harmless and the flag
 * must be set exactly then), and the SGD (momentum, dampening, Nesterov,
 * weight decay, first step) and Adam / AdamW steps. float32 and float64 (the
 * only dtypes nn.cu takes: there are no half kernels). Every launcher path:
 * a warp per row (C <= 1024) or a block per row (longer rows), 16-byte
 * vectors or not (C a multiple of the width and every pointer aligned, else
 * one element per thread), odd sizes, a grid-stride loop over more rows than
 * the grid has groups; logits with ties, -inf, NaN and large magnitudes.
 * Row results: tests/cuda/test_cuda_nn.c's tolerances (the kernels sum in
 * another order and use scalar_ops.h's exp where the CPU uses vmath.h's,
 * which may differ in the last bit), scaled by the row's magnitude where the
 * formula subtracts; optimizers: bit for bit (same rounded operations in the
 * same order). Deterministic seeds.
 */
#include "cuemu_test.h"


using namespace cuemu;

namespace {
/* the launches of the last call: kernel name and block size */
struct Launch {
    std::string k;
    unsigned block;
};
std::vector<Launch> g_launched;
void on_launch(const char *k, dim3, dim3 b) { g_launched.push_back({k, b.x}); }

int take_flag() {
    npg_emu::npg_cu_ctx *c;
    npg_emu::npg_cu_ctx_get(0, &c);
    int f = *c->flag_host;
    *c->flag_host = 0;
    return f;
}

/* a contiguous buffer of n elements; misaligned: the data one element past
 * a 16-byte boundary (the kernels' scalar path) */
struct Buf {
    std::vector<char> st;
    npg_tdesc d;
    double at(int64_t i) const {
        if (d.dtype == NPG_FLOAT32) return ((const float *)d.data)[i];
        if (d.dtype == NPG_FLOAT64) return ((const double *)d.data)[i];
        return (double)((const int64_t *)d.data)[i];
    }
    void set(int64_t i, double v) {
        if (d.dtype == NPG_FLOAT32) ((float *)d.data)[i] = (float)v;
        else if (d.dtype == NPG_FLOAT64) ((double *)d.data)[i] = v;
        else ((int64_t *)d.data)[i] = (int64_t)v;
    }
};
void make_buf(Buf &b, npg_dtype dt, int nd, const int64_t *shape, bool misalign) {
    make_contig(b.st, b.d, dt, nd, shape, misalign);
}
void copy_buf(Buf &dst, const Buf &src, bool misalign) {
    make_buf(dst, src.d.dtype, src.d.ndim, src.d.shape, misalign);
    memcpy(dst.d.data, src.d.data, (size_t)numel(src.d) * esize(src.d.dtype));
}

double tol_of(npg_dtype dt) { return dt == NPG_FLOAT32 ? 2e-6 : 1e-13; }

struct NnRun : Stats {
    long paths[2][2][2] = {}; /* [f64][block][vec] */
    long oor = 0, ign = 0;
    NnRun(const char *s) : Stats(s) {
        npg_emu_on_launch = on_launch;
        take_flag();
    }
    ~NnRun() { npg_emu_on_launch = nullptr; }
    bool status(npg_status s1, npg_status s2, const std::string &w) {
        runs++;
        if (s1 != s2) {
            if (fails++ < 10) cr_log_error("%s: status cpu %d emu %d (%s)", w.c_str(), s1, s2, npg_last_error());
            return false;
        }
        return s1 == NPG_OK;
    }
    void fail(const std::string &w, const char *fmt, double a, double b, int64_t i) {
        if (fails++ < 10) cr_log_error("%s: %s element %lld: cpu %.17g emu %.17g", w.c_str(), fmt, (long long)i, a, b);
    }
    /* |emu - cpu| <= tol (scale[i / per] + |cpu|); NaN == NaN, infinities
     * exactly; tol 0: bit for bit. want_nan[row]: the row must be NaN. */
    bool near(const Buf &c, const Buf &g, double tol, const std::string &w, const char *what,
              const std::vector<double> *scale = nullptr, int64_t per = 1, const std::vector<char> *want_nan = nullptr) {
        int64_t n = numel(c.d);
        size_t es = esize(c.d.dtype);
        for (int64_t i = 0; i < n; i++) {
            double p = c.at(i), q = g.at(i);
            if (want_nan && (*want_nan)[i / per]) {
                if (q == q) { fail(w, what, NAN, q, i); return false; }
                continue;
            }
            if (tol == 0) {
                if (memcmp((const char *)c.d.data + i * es, (const char *)g.d.data + i * es, es) && !(p != p && q != q)) {
                    fail(w, what, p, q, i);
                    return false;
                }
                continue;
            }
            bool ok = p != p ? q != q : isinf(p) ? p == q : fabs(q - p) <= tol * ((scale ? (*scale)[i / per] : 1) + fabs(p));
            if (!ok) { fail(w, what, p, q, i); return false; }
        }
        return true;
    }
    /* the launcher path the last call should have taken, and that it did */
    bool path(npg_dtype dt, int64_t C, bool aligned, const char *kernel, const std::string &w) {
        const int VW = dt == NPG_FLOAT32 ? 4 : 2;
        bool block = C > 1024, vec = aligned && C % VW == 0;
        if (g_launched.size() != 1 || g_launched[0].k != kernel || g_launched[0].block != (block ? 512u : 256u)) {
            if (fails++ < 10)
                cr_log_error("%s: %zu launches, first %s block %u; want one %s", w.c_str(), g_launched.size(),
                             g_launched.empty() ? "-" : g_launched[0].k.c_str(),
                             g_launched.empty() ? 0 : g_launched[0].block, kernel);
            return false;
        }
        paths[dt == NPG_FLOAT64][block][vec]++;
        return true;
    }
    void flag_check(bool want, const std::string &w) {
        int f = take_flag();
        if ((f != 0) != want && fails++ < 10) cr_log_error("%s: flag %d, want %d", w.c_str(), f, (int)want);
    }
    void finish(long min_ok, long min_path) {
        for (int d = 0; d < 2; d++)
            for (int b = 0; b < 2; b++)
                for (int v = 0; v < 2; v++) {
                    fprintf(stderr, "cuemu %s: %s %s %s: %ld\n", suite, d ? "f64" : "f32", b ? "block" : "warp",
                            v ? "vector" : "scalar", paths[d][b][v]);
                    cr_expect_geq(paths[d][b][v], min_path, "%s: path f64=%d block=%d vec=%d taken %ld times", suite,
                                  d, b, v, paths[d][b][v]);
                }
        if (oor || ign) fprintf(stderr, "cuemu %s: %ld with labels out of range, %ld with ignore_index\n", suite, oor, ign);
        Stats::finish(min_ok);
    }
};

/* a row shape (nd, shape) with last dim C; returns R. Half the cases have
 * block rows (C > 1024); C a multiple of 4 or odd. */
int64_t rand_rows(Rng &r, int &nd, int64_t *shape, bool allow_empty) {
    int64_t C;
    if (r.one_in(3)) C = r.in(1025, 2600);
    else if (r.one_in(3)) C = r.in(1, 8);
    else C = r.in(9, 1024);
    if (r.one_in(2)) C = (C + 3) / 4 * 4;
    if (C > 1024 && r.one_in(5)) C = 1024 + 1; /* just past the warp limit */
    if (!r.one_in(8) && C <= 1024 && r.one_in(6)) C = 1024;
    int64_t R = C > 1024 ? r.in(1, 4) : C > 64 ? r.in(1, 40) : r.in(1, 300);
    if (C <= 8 && r.one_in(4)) R = r.in(520, 1100); /* more rows than one pass of the grid's warps */
    if (allow_empty && r.one_in(25)) R = 0;
    nd = (int)r.in(1, 3);
    if (R != 1 && nd == 1) nd = 2;
    for (int i = 0; i < nd; i++) shape[i] = 1;
    shape[nd - 1] = C;
    if (nd == 3 && R % 2 == 0) {
        shape[0] = 2;
        shape[1] = R / 2;
    } else if (nd >= 2) shape[nd - 2] = R;
    return R;
}

/* logits: normal of a random spread, sometimes small integers (ties), a
 * few -inf, rarely a NaN or a row all -inf */
void fill_logits(Rng &r, Buf &x, int64_t R, int64_t C) {
    double sd = r.one_in(3) ? 30 : r.one_in(2) ? 5 : 1;
    bool ties = r.one_in(5);
    for (int64_t i = 0; i < R; i++) {
        int kind = (int)r.in(0, 40);
        for (int64_t c = 0; c < C; c++) {
            double v = ties ? (double)r.in(-2, 2) : r.normal(sd);
            if (kind == 0 && r.one_in(4)) v = -INFINITY;
            if (kind == 1 && r.one_in((int)std::min<int64_t>(C, 50))) v = NAN;
            if (kind == 2) v = -INFINITY;
            x.set(i * C + c, v);
        }
    }
}

std::string desc(const char *op, npg_dtype dt, int64_t R, int64_t C, bool al) {
    char b[160];
    snprintf(b, sizeof b, "%s %s R=%lld C=%lld %s", op, npg_dtype_name(dt), (long long)R, (long long)C,
             al ? "aligned" : "misaligned");
    return b;
}

void softmax_case(NnRun &t, Rng &r, npg_dtype dt, bool log) {
    int nd;
    int64_t shape[NPG_MAX_DIMS];
    int64_t R = rand_rows(r, nd, shape, true), C = shape[nd - 1];
    bool mis_in = r.one_in(4), mis_out = r.one_in(6);
    Buf x, yc, yg, g, gc, gg;
    make_buf(x, dt, nd, shape, mis_in);
    fill_logits(r, x, R, C);
    make_buf(yc, dt, nd, shape, false);
    make_buf(yg, dt, nd, shape, mis_out);
    std::string w = desc(log ? "log_softmax" : "softmax", dt, R, C, !mis_in && !mis_out);
    npg_status s1 = npg__cpu_softmax(0, &yc.d, &x.d, log);
    g_launched.clear();
    npg_status s2 = npg_emu::npg_cu_softmax(0, &yg.d, &x.d, log);
    if (!t.status(s1, s2, w)) return;
    if (R == 0) {
        if (!g_launched.empty() && t.fails++ < 10) cr_log_error("%s: launched on an empty array", w.c_str());
        return;
    }
    if (!t.path(dt, C, !mis_in && !mis_out, "npg_cu_nn_softmax_kernel", w)) return;
    const double tol = tol_of(dt) * 2;
    if (t.near(yc, yg, tol, w, "y")) t.ok++;
    else return;

    /* backward from the CPU's y, g normal; scale: the row's |sum| */
    bool mis_g = r.one_in(5);
    make_buf(g, dt, nd, shape, mis_g);
    for (int64_t i = 0; i < R * C; i++) g.set(i, r.one_in(10) ? 0.0 : r.normal(1));
    make_buf(gc, dt, nd, shape, false);
    make_buf(gg, dt, nd, shape, !mis_g && r.one_in(5));
    bool al = !mis_g && ((uintptr_t)gg.d.data % 16) == 0;
    std::vector<double> scale((size_t)R);
    for (int64_t i = 0; i < R; i++) {
        double s = 0, mx = 0;
        for (int64_t c = 0; c < C; c++) {
            double gv = g.at(i * C + c), yv = yc.at(i * C + c);
            s += log ? fabs(gv) : fabs(gv * yv);
            mx = std::max(mx, fabs(gv));
        }
        scale[i] = 1 + s + mx;
    }
    w = desc(log ? "log_softmax backward" : "softmax backward", dt, R, C, al);
    s1 = npg__cpu_softmax_backward(0, &gc.d, &g.d, &yc.d, log);
    g_launched.clear();
    s2 = npg_emu::npg_cu_softmax_backward(0, &gg.d, &g.d, &yc.d, log);
    if (!t.status(s1, s2, w)) return;
    if (!t.path(dt, C, al, "npg_cu_nn_softmax_bw_kernel", w)) return;
    if (t.near(gc, gg, tol * 2, w, "gin", &scale, C)) t.ok++;
}

void ce_case(NnRun &t, Rng &r, npg_dtype dt) {
    int nd;
    int64_t shape[NPG_MAX_DIMS];
    int64_t R = rand_rows(r, nd, shape, true), C = shape[nd - 1];
    bool mis_x = r.one_in(4);
    double eps = r.one_in(2) ? 0 : r.one_in(3) ? 1 : r.in(1, 30) / 100.0;
    bool has_ignore = r.one_in(2);
    int64_t ignore = r.one_in(2) ? -100 : r.in(0, C - 1);
    int bad_in = r.one_in(3) ? (int)r.in(1, 20) : 0;
    Buf x, lab, fix, lc, lg, sc, sg;
    make_buf(x, dt, nd, shape, mis_x);
    fill_logits(r, x, R, C);
    int64_t rshape[1] = {R};
    make_buf(lab, NPG_INT64, 1, rshape, false);
    std::vector<char> bad((size_t)R, 0), ignored((size_t)R, 0);
    long nbad = 0, nign = 0;
    for (int64_t i = 0; i < R; i++) {
        int64_t y = r.in(0, C - 1);
        if (has_ignore && r.one_in(6)) y = ignore;
        else if (bad_in && r.one_in(bad_in)) {
            switch (r() % 4) {
            case 0: y = C; break;
            case 1: y = -1; break;
            case 2: y = C + r.in(1, 1000); break;
            default: y = r.one_in(2) ? INT64_MAX : INT64_MIN; break;
            }
            if (has_ignore && y == ignore) y = C;
        }
        ((int64_t *)lab.d.data)[i] = y;
        ignored[i] = has_ignore && y == ignore;
        bad[i] = !ignored[i] && (y < 0 || y >= C);
        nbad += bad[i];
        nign += ignored[i];
    }
    copy_buf(fix, lab, false);
    for (int64_t i = 0; i < R; i++)
        if (bad[i]) ((int64_t *)fix.d.data)[i] = 0;
    make_buf(lc, dt, 1, rshape, false);
    make_buf(sc, dt, 1, rshape, false);
    make_buf(lg, dt, 1, rshape, r.one_in(4)); /* loss and lse: scalar stores, any alignment */
    make_buf(sg, dt, 1, rshape, r.one_in(4));
    char e[64];
    snprintf(e, sizeof e, " eps=%g ignore=%d:%lld bad=%ld", eps, (int)has_ignore, (long long)ignore, nbad);
    std::string w = desc("cross_entropy", dt, R, C, !mis_x) + e;
    if (nbad) {
        Buf p1, p2;
        copy_buf(p1, lc, false);
        copy_buf(p2, sc, false);
        npg_status st = npg__cpu_cross_entropy(0, &p1.d, &p2.d, &x.d, &lab.d, eps, has_ignore, ignore);
        if (st != NPG_ERR_INDEX && t.fails++ < 10) cr_log_error("%s: cpu status %d with a bad label", w.c_str(), st);
        t.oor++;
    }
    if (nign) t.ign++;
    npg_status s1 = npg__cpu_cross_entropy(0, &lc.d, &sc.d, &x.d, &fix.d, eps, has_ignore, ignore);
    g_launched.clear();
    npg_status s2 = npg_emu::npg_cu_cross_entropy(0, &lg.d, &sg.d, &x.d, &lab.d, eps, has_ignore, ignore);
    t.flag_check(nbad > 0 && s2 == NPG_OK, w);
    if (!t.status(s1, s2, w)) return;
    if (R == 0) return;
    if (!t.path(dt, C, !mis_x, "npg_cu_nn_ce_kernel", w)) return;
    const double tol = tol_of(dt);
    /* loss: the scale of the row's logits (lse - x_y, mean x cancel) */
    std::vector<double> xs((size_t)R);
    for (int64_t i = 0; i < R; i++) {
        double mx = 0;
        for (int64_t c = 0; c < C; c++) {
            double v = x.at(i * C + c);
            if (isfinite(v)) mx = std::max(mx, fabs(v));
        }
        xs[i] = 1 + mx;
    }
    if (!t.near(sc, sg, 2 * tol, w, "lse", &xs)) return;
    if (!t.near(lc, lg, 4 * tol, w, "loss", &xs, 1, &bad)) return;
    for (int64_t i = 0; i < R; i++)
        if (ignored[i] && lg.at(i) != 0) {
            t.fail(w, "ignored loss", 0, lg.at(i), i);
            return;
        }
    t.ok++;

    /* backward from the CPU's lse, gloss normal */
    if (C == 0) return;
    Buf gl, gc, gg;
    make_buf(gl, dt, 1, rshape, r.one_in(4));
    for (int64_t i = 0; i < R; i++) gl.set(i, r.one_in(8) ? 1.0 : r.normal(2));
    bool mis_gx = r.one_in(5);
    make_buf(gc, dt, nd, shape, false);
    make_buf(gg, dt, nd, shape, mis_gx);
    std::vector<double> gs((size_t)R);
    for (int64_t i = 0; i < R; i++) gs[i] = 1 + fabs(gl.at(i));
    w = desc("cross_entropy backward", dt, R, C, !mis_x && !mis_gx) + e;
    if (nbad) {
        Buf p;
        copy_buf(p, gc, false);
        npg_status st = npg__cpu_cross_entropy_backward(0, &p.d, &gl.d, &x.d, &sc.d, &lab.d, eps, has_ignore, ignore);
        if (st != NPG_ERR_INDEX && t.fails++ < 10) cr_log_error("%s: cpu status %d with a bad label", w.c_str(), st);
    }
    s1 = npg__cpu_cross_entropy_backward(0, &gc.d, &gl.d, &x.d, &sc.d, &fix.d, eps, has_ignore, ignore);
    g_launched.clear();
    s2 = npg_emu::npg_cu_cross_entropy_backward(0, &gg.d, &gl.d, &x.d, &sc.d, &lab.d, eps, has_ignore, ignore);
    t.flag_check(nbad > 0 && s2 == NPG_OK, w);
    if (!t.status(s1, s2, w)) return;
    if (!t.path(dt, C, !mis_x && !mis_gx, "npg_cu_nn_ce_bw_kernel", w)) return;
    if (!t.near(gc, gg, 4 * tol, w, "gx", &gs, C, &bad)) return;
    for (int64_t i = 0; i < R * C; i++)
        if (ignored[i / C] && gg.at(i) != 0) {
            t.fail(w, "ignored gx", 0, gg.at(i), i);
            return;
        }
    t.ok++;
}

/* ---- optimizers ---- */
struct OptRun : Stats {
    long vec[2][2] = {}; /* [f64][vector path] */
    OptRun(const char *s) : Stats(s) { npg_emu_on_launch = on_launch; }
    ~OptRun() { npg_emu_on_launch = nullptr; }
    void finish(long min_ok, long min_path) {
        for (int d = 0; d < 2; d++)
            for (int v = 0; v < 2; v++) {
                fprintf(stderr, "cuemu %s: %s %s: %ld\n", suite, d ? "f64" : "f32", v ? "vector" : "scalar", vec[d][v]);
                cr_expect_geq(vec[d][v], min_path, "%s: path f64=%d vec=%d taken %ld times", suite, d, v, vec[d][v]);
            }
        Stats::finish(min_ok);
    }
};

/* a 1-d or 2-d shape of n elements: odd sizes, more than the grid covers */
int64_t rand_n(Rng &r, int &nd, int64_t *shape) {
    int64_t n = r.one_in(10) ? 0 : r.one_in(3) ? r.in(1, 9) : r.one_in(2) ? r.in(10, 600) : r.in(600, 70000);
    nd = 1;
    shape[0] = n;
    if (n % 3 == 0 && n && r.one_in(2)) {
        nd = 2;
        shape[0] = 3;
        shape[1] = n / 3;
    }
    return n;
}
void fill_normal(Rng &r, Buf &b, double sd, bool pos) {
    for (int64_t i = 0; i < numel(b.d); i++) {
        double v = r.one_in(20) ? 0 : r.normal(sd);
        b.set(i, pos ? v * v : v);
    }
}
bool opt_check(OptRun &t, const Buf &c, const Buf &g, const char *what, const std::string &w) {
    Arr a, b;
    a.d = c.d;
    b.d = g.d;
    long f0 = t.fails;
    t.runs--; /* check counts a run; one per case */
    t.check(a, b, NPG_OK, NPG_OK, w + " " + what);
    t.ok--;
    return t.fails == f0;
}

void sgd_case(OptRun &t, Rng &r, npg_dtype dt) {
    int nd;
    int64_t shape[NPG_MAX_DIMS];
    int64_t n = rand_n(r, nd, shape);
    npg_sgd_hp h;
    memset(&h, 0, sizeof h);
    h.lr = r.one_in(2) ? 0.1 : r.in(1, 1000) * 1e-4;
    h.momentum = r.one_in(3) ? 0 : r.one_in(2) ? 0.9 : r.in(1, 99) / 100.0;
    h.dampening = r.one_in(2) ? 0 : r.in(1, 9) / 10.0;
    h.weight_decay = r.one_in(2) ? 0 : r.in(1, 100) * 1e-4;
    h.nesterov = r.one_in(2);
    h.first_step = r.one_in(3);
    bool with_buf = h.momentum != 0 || r.one_in(2);
    bool mis = r.one_in(3);
    int which = (int)r.in(0, 2); /* the misaligned operand */
    Buf p, g, b, pc, pg, bc, bg;
    make_buf(p, dt, nd, shape, false);
    fill_normal(r, p, 1, false);
    make_buf(g, dt, nd, shape, mis && which == 1);
    fill_normal(r, g, 0.5, false);
    make_buf(b, dt, nd, shape, false);
    fill_normal(r, b, 0.3, false);
    copy_buf(pc, p, false);
    copy_buf(pg, p, mis && which == 0);
    copy_buf(bc, b, false);
    copy_buf(bg, b, mis && which == 2 && with_buf);
    char e[200];
    snprintf(e, sizeof e, "sgd %s n=%lld lr=%g mom=%g damp=%g wd=%g nest=%d first=%d buf=%d mis=%d:%d", npg_dtype_name(dt),
             (long long)n, h.lr, h.momentum, h.dampening, h.weight_decay, (int)h.nesterov, (int)h.first_step,
             (int)with_buf, (int)mis, which);
    std::string w = e;
    for (int step = 0; step < 2; step++) { /* then a second step on the results */
        npg_status s1 = npg__cpu_sgd_step(0, &pc.d, &g.d, with_buf ? &bc.d : nullptr, &h);
        g_launched.clear();
        npg_status s2 = npg_emu::npg_cu_sgd_step(0, &pg.d, &g.d, with_buf ? &bg.d : nullptr, &h);
        t.runs++;
        if (s1 != s2) {
            if (t.fails++ < 10) cr_log_error("%s: status cpu %d emu %d (%s)", w.c_str(), s1, s2, npg_last_error());
            return;
        }
        if (s1 != NPG_OK) return;
        if (n > 0) {
            if (g_launched.size() != 1 || g_launched[0].k != "npg_cu_nn_sgd_kernel") {
                if (t.fails++ < 10) cr_log_error("%s: no single sgd launch", w.c_str());
                return;
            }
            bool al = (uintptr_t)pg.d.data % 16 == 0 && (uintptr_t)g.d.data % 16 == 0 &&
                      (h.momentum == 0 || (uintptr_t)bg.d.data % 16 == 0);
            t.vec[dt == NPG_FLOAT64][al]++;
        }
        if (!opt_check(t, pc, pg, "p", w)) return;
        if (h.momentum != 0 && !opt_check(t, bc, bg, "buf", w)) return;
        t.ok++;
        h.first_step = false;
    }
}

void adam_case(OptRun &t, Rng &r, npg_dtype dt) {
    int nd;
    int64_t shape[NPG_MAX_DIMS];
    int64_t n = rand_n(r, nd, shape);
    npg_adam_hp h;
    memset(&h, 0, sizeof h);
    h.lr = r.one_in(2) ? 1e-3 : r.in(1, 1000) * 1e-4;
    h.beta1 = r.one_in(2) ? 0.9 : r.in(50, 99) / 100.0;
    h.beta2 = r.one_in(2) ? 0.999 : r.in(900, 999) / 1000.0;
    h.eps = r.one_in(2) ? 1e-8 : 1e-6;
    h.weight_decay = r.one_in(3) ? 0 : r.in(1, 100) * 1e-3;
    h.decoupled = r.one_in(2);
    int step = (int)r.in(1, 50);
    h.bias_correction1 = 1 - pow(h.beta1, step);
    h.bias_correction2 = 1 - pow(h.beta2, step);
    bool mis = r.one_in(3);
    int which = (int)r.in(0, 3);
    Buf p, g, m, v, pc, pg, mc, mg, vc, vg;
    make_buf(p, dt, nd, shape, false);
    fill_normal(r, p, 1, false);
    make_buf(g, dt, nd, shape, mis && which == 1);
    fill_normal(r, g, 0.5, false);
    make_buf(m, dt, nd, shape, false);
    fill_normal(r, m, step == 1 ? 0 : 0.2, false);
    make_buf(v, dt, nd, shape, false);
    fill_normal(r, v, step == 1 ? 0 : 0.3, true);
    copy_buf(pc, p, false);
    copy_buf(pg, p, mis && which == 0);
    copy_buf(mc, m, false);
    copy_buf(mg, m, mis && which == 2);
    copy_buf(vc, v, false);
    copy_buf(vg, v, mis && which == 3);
    char e[200];
    snprintf(e, sizeof e, "adam %s n=%lld lr=%g b1=%g b2=%g eps=%g wd=%g decoupled=%d step=%d mis=%d:%d",
             npg_dtype_name(dt), (long long)n, h.lr, h.beta1, h.beta2, h.eps, h.weight_decay, (int)h.decoupled, step,
             (int)mis, which);
    std::string w = e;
    npg_status s1 = npg__cpu_adam_step(0, &pc.d, &g.d, &mc.d, &vc.d, &h);
    g_launched.clear();
    npg_status s2 = npg_emu::npg_cu_adam_step(0, &pg.d, &g.d, &mg.d, &vg.d, &h);
    t.runs++;
    if (s1 != s2) {
        if (t.fails++ < 10) cr_log_error("%s: status cpu %d emu %d (%s)", w.c_str(), s1, s2, npg_last_error());
        return;
    }
    if (s1 != NPG_OK) return;
    if (n > 0) {
        if (g_launched.size() != 1 || g_launched[0].k != "npg_cu_nn_adam_kernel") {
            if (t.fails++ < 10) cr_log_error("%s: no single adam launch", w.c_str());
            return;
        }
        t.vec[dt == NPG_FLOAT64][!mis]++;
    }
    if (!opt_check(t, pc, pg, "p", w) || !opt_check(t, mc, mg, "m", w) || !opt_check(t, vc, vg, "v", w)) return;
    t.ok++;
}

const npg_dtype FLT[2] = {NPG_FLOAT32, NPG_FLOAT64};
} // namespace

/* softmax and log_softmax, forward and backward, random row shapes */
Test(cuemu_nn, softmax, .timeout = 300) {
    NnRun t("nn softmax");
    Rng r(0x5f7a11);
    for (int i = 0; i < 160; i++) {
        npg_emu_sms = (int)r.in(1, 2);
        softmax_case(t, r, FLT[i % 2], (i / 2) % 2);
    }
    npg_emu_sms = 1;
    t.finish(250, 4);
}

/* cross-entropy forward and backward: smoothing, ignore_index, bad labels */
Test(cuemu_nn, cross_entropy, .timeout = 300) {
    NnRun t("nn cross_entropy");
    Rng r(0xce0e17);
    for (int i = 0; i < 160; i++) {
        npg_emu_sms = (int)r.in(1, 2);
        ce_case(t, r, FLT[i % 2]);
    }
    npg_emu_sms = 1;
    t.finish(250, 4);
    cr_expect_geq(t.oor, 20, "only %ld cases with bad labels", t.oor);
    cr_expect_geq(t.ign, 20, "only %ld cases with ignored rows", t.ign);
}

/* the unsupported dtypes: both backends refuse them alike */
Test(cuemu_nn, unsupported) {
    Stats t("nn unsupported");
    const npg_dtype dts[] = {NPG_FLOAT16, NPG_BFLOAT16, NPG_INT32};
    for (npg_dtype dt : dts) {
        int64_t shape[2] = {3, 5};
        Buf a, b;
        make_buf(a, dt, 2, shape, false);
        make_buf(b, dt, 2, shape, false);
        npg_status s1 = npg__cpu_softmax(0, &b.d, &a.d, false), s2 = npg_emu::npg_cu_softmax(0, &b.d, &a.d, false);
        t.runs++;
        if ((s1 != NPG_OK) != (s2 != NPG_OK) || s2 != NPG_ERR_UNSUPPORTED) t.fails++;
        else t.ok++;
        npg_sgd_hp h = {0.1, 0, 0, 0, false, false};
        s1 = npg__cpu_sgd_step(0, &a.d, &b.d, nullptr, &h);
        s2 = npg_emu::npg_cu_sgd_step(0, &a.d, &b.d, nullptr, &h);
        t.runs++;
        if (s1 != s2 || s2 != NPG_ERR_UNSUPPORTED) t.fails++;
        else t.ok++;
    }
    t.finish(6);
}

/* SGD (two steps: the first one maybe initialising the buffer) and Adam/AdamW */
Test(cuemu_nn, optim, .timeout = 300) {
    OptRun t("nn optim");
    Rng r(0x0971a);
    for (int i = 0; i < 240; i++) {
        npg_emu_sms = (int)r.in(1, 2);
        if (i % 4 < 2) sgd_case(t, r, FLT[i % 2]);
        else adam_case(t, r, FLT[i % 2]);
    }
    npg_emu_sms = 1;
    t.finish(250, 10);
}
