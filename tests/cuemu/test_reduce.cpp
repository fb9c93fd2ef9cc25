/*
 * test_reduce.cpp (CUDA emulator, tests/cuemu) — src/cuda/reduce.cu's kernels,
 * run on the CPU by the emulator, against the CPU backend: every reduction op
 * (sum, prod, mean, max, min, all, any, argmax, argmin) and every dtype the
 * kernels take, random shapes and layouts, and each launcher path: the
 * one-launch split row (retirement counter; blocks run in order here, so the
 * inter-block race itself is not exercised), split columns, columns, split
 * rows (+ partials kernel), warp per row, block per row, plus empty arrays
 * and 0-d. Floats: bit for bit except sum/prod/mean (another summation order:
 * tests/cuda/test_cuda_kernels.c's tolerance). Deterministic seeds.
 */
#include "cuemu_test.h"

using namespace cuemu;

namespace {
enum Path { ONE_LAUNCH, COLS_SPLIT, COLS, ROWS_SPLIT, ROWS_WARP, ROWS_BLOCK, NO_LAUNCH, NPATH };
const char *const PATH_NAME[NPATH] = {"one-launch", "cols-split", "cols", "rows-split", "rows-warp", "rows-block", "none"};
const npg_op ROPS[] = {NPG_OP_SUM, NPG_OP_PROD, NPG_OP_MEAN, NPG_OP_MAX, NPG_OP_MIN,
                       NPG_OP_ALL, NPG_OP_ANY,  NPG_OP_ARGMAX, NPG_OP_ARGMIN};

std::vector<std::string> g_launched;
bool g_split_cols;
void on_launch(const char *k, dim3 grid, dim3) {
    g_launched.push_back(k);
    if (!strcmp(k, "npg_cu_reduce_cols_kernel")) g_split_cols = grid.y > 1;
}

struct ReduceRun : Stats {
    long paths[NPATH] = {0};
    ReduceRun(const char *s) : Stats(s) { npg_emu_on_launch = on_launch; }
    ~ReduceRun() { npg_emu_on_launch = nullptr; }

    /* which launcher path the last npg_cu_reduce took */
    Path path(int64_t nrows, int64_t rlen, long atomics_before) {
        bool rows = false, part = false, cols = false;
        for (auto &k : g_launched) {
            rows |= k == "npg_cu_reduce_rows_kernel";
            part |= k == "npg_cu_reduce_partials_kernel";
            cols |= k == "npg_cu_reduce_cols_kernel";
        }
        if (cols) return g_split_cols ? COLS_SPLIT : COLS;
        if (!rows) return NO_LAUNCH;
        if (part) return ROWS_SPLIT;
        if (npg_emu_atomics != atomics_before) return ONE_LAUNCH;
        return nrows < npg_emu_sms * 32 && rlen > 256 ? ROWS_BLOCK : ROWS_WARP;
    }

    void run(npg_op op, const Arr &in, int nred) {
        const npg_tdesc &d = in.d;
        int nd = d.ndim;
        npg_dtype dt = d.dtype;
        npg_dtype odt = (op == NPG_OP_ARGMAX || op == NPG_OP_ARGMIN) ? NPG_INT64
                        : (op == NPG_OP_ALL || op == NPG_OP_ANY)     ? NPG_BOOL
                                                                     : dt;
        Arr oc, og;
        make_out(oc, odt, nd - nred, d.shape);
        twin(og, oc);
        int64_t nrows = 1, rlen = 1;
        for (int i = 0; i < nd; i++) (i < nd - nred ? nrows : rlen) *= d.shape[i];
        npg_status s1 = npg__cpu_reduce(0, op, &oc.d, &d, nred);
        g_launched.clear();
        long at = npg_emu_atomics;
        npg_status s2 = npg_emu::npg_cu_reduce(0, op, &og.d, &d, nred);
        Path p = path(nrows, rlen, at);
        paths[p]++;
        char what[128];
        snprintf(what, sizeof what, "reduce %s %s sms=%d nred=%d path=%s ", npg__op_name(op), npg_dtype_name(dt),
                 npg_emu_sms, nred, PATH_NAME[p]);
        bool approx = is_f(dt) && (op == NPG_OP_SUM || op == NPG_OP_PROD || op == NPG_OP_MEAN);
        check(oc, og, s1, s2, what + shape_str(d), approx ? TOL_REDUCE : TOL_NONE);
    }
    void report() {
        fprintf(stderr, "cuemu %s paths:", suite);
        for (int p = 0; p < NPATH; p++) fprintf(stderr, " %s %ld", PATH_NAME[p], paths[p]);
        fprintf(stderr, "\n");
    }
};

npg_dtype pick_dtype(Rng &r, npg_op op) {
    if (op == NPG_OP_ALL || op == NPG_OP_ANY) return NPG_BOOL;
    npg_dtype dt = ALL_DTYPES[r() % N_NOHALF];
    if ((op == NPG_OP_SUM || op == NPG_OP_PROD) && !is_f(dt) && r() % 2) dt = r() % 2 ? NPG_INT64 : NPG_UINT64;
    return dt;
}

/* (K, R) reduced over R, shaped to hit `kind`: 0 columns (K unit stride,
 * long R: split when K is small), 1 one row split over blocks (K = 1), 2 a
 * few long rows (split rows) */
void targeted(Rng &r, Arr &in, npg_dtype dt, int kind, int mode) {
    if (kind == 0) {
        int64_t C = r.in(32, 100), R = r.in(256, 3000);
        size_t es = esize(dt);
        in.store.assign((size_t)(C * R + 8) * es + 64, 0);
        char *base = aligned_base(in);
        for (int64_t k = 0; k < C * R + 4; k++) rand_elem(r, base, dt, k, mode);
        memset(&in.d, 0, sizeof in.d);
        in.d.data = base;
        in.d.dtype = dt;
        in.d.ndim = 2;
        in.d.shape[0] = C;
        in.d.shape[1] = R;
        in.d.strides[0] = 1;
        in.d.strides[1] = C;
        if (r.one_in(3)) {
            in.d.strides[1] = -C;
            in.d.data = base + (R - 1) * C * es;
        }
    } else {
        int64_t shape[2] = {kind == 1 ? 1 : r.in(2, 40), r.in(4097, kind == 1 ? 40000 : 12000)};
        make_arr(r, in, dt, 2, shape, mode, false);
    }
}
} // namespace

/* random shapes (0-d to 4-d), layouts and ops; 1 or 2 SMs */
Test(cuemu_reduce, random, .timeout = 300) {
    ReduceRun t("reduce.random");
    Rng r(12345);
    for (int it = 0; it < 2500; it++) {
        npg_emu_sms = (int)r.in(1, 2);
        npg_op op = ROPS[r() % 9];
        npg_dtype dt = pick_dtype(r, op);
        int nd = (int)r.in(0, 4), nred = (int)r.in(0, nd);
        int64_t shape[NPG_MAX_DIMS], tot = 1, budget = r.one_in(4) ? 40000 : 3000;
        for (int i = 0; i < nd; i++) {
            shape[i] = r.one_in(3) ? r.in(1, 300) : r.in(1, 6);
            tot *= shape[i];
        }
        if (nred > 0 && r.one_in(3)) { /* a long reduced axis */
            int i = nd - 1 - (int)(r() % nred);
            int64_t rest = tot / shape[i];
            shape[i] = std::max<int64_t>(1, budget * 4 / std::max<int64_t>(rest, 1));
            tot = rest * shape[i];
        }
        if (tot > 200000) continue;
        Arr in;
        make_arr(r, in, dt, nd, shape, (int)r.in(0, 2), true);
        t.run(op, in, nred);
    }
    t.report();
    t.finish(2000);
}

/* zero-size reduced axes (the identities, or the same error on both
 * backends) and zero-size kept axes (no launch) */
Test(cuemu_reduce, empty) {
    ReduceRun t("reduce.empty");
    Rng r(4242);
    for (int it = 0; it < 300; it++) {
        npg_emu_sms = 1;
        npg_op op = ROPS[r() % 9];
        npg_dtype dt = pick_dtype(r, op);
        int nd = (int)r.in(1, 3), nred = (int)r.in(0, nd);
        int64_t shape[NPG_MAX_DIMS];
        for (int i = 0; i < nd; i++) shape[i] = r.in(1, 5);
        shape[r() % nd] = 0;
        Arr in;
        make_arr(r, in, dt, nd, shape, 0, true);
        t.run(op, in, nred);
    }
    t.report();
    t.finish(150);
    cr_expect_gt(t.paths[NO_LAUNCH], 0);
}

/* every op x dtype x targeted path: each launcher path must be taken */
Test(cuemu_reduce, paths_all_dtypes, .timeout = 300) {
    ReduceRun t("reduce.paths");
    Rng r(777);
    for (int rep = 0; rep < 2; rep++)
    for (int kind = 0; kind < 3; kind++)
        for (int sms = 1; sms <= 2; sms++)
            for (npg_op op : ROPS)
                for (int di = 0; di < N_NOHALF; di++) {
                    npg_dtype dt = ALL_DTYPES[di];
                    if ((op == NPG_OP_ALL || op == NPG_OP_ANY) && dt != NPG_BOOL) continue;
                    npg_emu_sms = sms;
                    Arr in;
                    targeted(r, in, dt, kind, (int)r.in(0, 2));
                    t.run(op, in, 1);
                }
    /* unsplit columns (at most 8 long), warp per row (many short rows), block per row (few long rows) */
    for (int it = 0; it < 300; it++) {
        npg_emu_sms = 1;
        npg_op op = ROPS[r() % 9];
        npg_dtype dt = pick_dtype(r, op);
        int64_t shape[2] = {it % 3 == 0 ? r.in(1, 2000) : it % 3 == 1 ? r.in(40, 300) : r.in(1, 20),
                            it % 3 == 0 ? r.in(1, 8) : it % 3 == 1 ? r.in(9, 200) : r.in(257, 3000)};
        Arr in;
        make_arr(r, in, dt, 2, shape, (int)r.in(0, 2), false);
        t.run(op, in, 1);
    }
    t.report();
    for (int p = 0; p < NO_LAUNCH; p++) cr_expect_geq(t.paths[p], 10, "path %s taken %ld times", PATH_NAME[p], t.paths[p]);
    t.finish(1000);
}
