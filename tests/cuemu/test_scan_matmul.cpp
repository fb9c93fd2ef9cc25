/*
 * test_scan_matmul.cpp (CUDA emulator, tests/cuemu) — src/cuda/scan.cu
 * (cumsum, cumprod: thread per row, warp per row, and the long-row path of
 * totals + carries + chunks kernels) and src/cuda/matmul.cu's integer kernel
 * (bool and every integer dtype; float matmul is cuBLAS, not emulated), run
 * on the CPU by the emulator against the CPU backend. Integers bit for bit;
 * float running sums and products with tests/cuda/test_cuda_kernels.c's
 * tolerance (another summation order). Deterministic seeds.
 */
#include "cuemu_test.h"

using namespace cuemu;

namespace {
/* bool: the CPU backend takes no bool scan (the front end casts first) */
const npg_dtype SCAN_DTS[] = {NPG_INT8,   NPG_INT16,  NPG_INT32,  NPG_INT64,   NPG_UINT8,
                              NPG_UINT16, NPG_UINT32, NPG_UINT64, NPG_FLOAT32, NPG_FLOAT64};
const int NSD = sizeof SCAN_DTS / sizeof *SCAN_DTS;
std::vector<std::string> g_launched;
void on_launch(const char *k, dim3, dim3) { g_launched.push_back(k); }

void scan_case(Stats &t, Rng &r, npg_op op, npg_dtype dt, int nd, const int64_t *shape, int axis, long *chunked) {
    Arr in, oc, og;
    make_arr(r, in, dt, nd, shape, (int)r.in(0, 1), true);
    make_out(oc, dt, nd, shape);
    twin(og, oc);
    npg_status s1 = npg__cpu_scan(0, op, &oc.d, &in.d, axis);
    g_launched.clear();
    npg_status s2 = npg_emu::npg_cu_scan(0, op, &og.d, &in.d, axis);
    for (auto &k : g_launched)
        if (k == "npg_cu_scan_chunks_kernel") { (*chunked)++; break; }
    char what[96];
    snprintf(what, sizeof what, "scan %s %s axis=%d ", npg__op_name(op), npg_dtype_name(dt), axis);
    t.check(oc, og, s1, s2, what + shape_str(in.d), is_f(dt) ? TOL_SCAN : TOL_NONE);
}
} // namespace

/* random shapes, axes and dtypes; 1 or 2 SMs */
Test(cuemu_scan, random, .timeout = 300) {
    Stats t("scan.random");
    npg_emu_on_launch = on_launch;
    Rng r(2024);
    long chunked = 0;
    for (int it = 0; it < 1500; it++) {
        npg_emu_sms = (int)r.in(1, 2);
        npg_op op = r() % 2 ? NPG_OP_CUMSUM : NPG_OP_CUMPROD;
        npg_dtype dt = SCAN_DTS[r() % NSD];
        int nd = (int)r.in(0, 4);
        int64_t shape[NPG_MAX_DIMS], tot = 1;
        for (int i = 0; i < nd; i++) {
            shape[i] = r.one_in(3) ? r.in(1, 100) : r.in(1, 6);
            tot *= shape[i];
        }
        if (tot > 100000) continue;
        scan_case(t, r, op, dt, nd, shape, nd ? (int)r.in(0, nd - 1) : 0, &chunked);
    }
    t.finish(1300);
}

/* long rows (the chunked path: totals, carries, chunks), every dtype */
Test(cuemu_scan, long_rows, .timeout = 300) {
    Stats t("scan.long_rows");
    npg_emu_on_launch = on_launch;
    Rng r(99);
    long chunked = 0;
    for (int it = 0; it < 2 * NSD * 8; it++) {
        npg_emu_sms = 1 + it % 2;
        npg_op op = it % 2 ? NPG_OP_CUMSUM : NPG_OP_CUMPROD;
        npg_dtype dt = SCAN_DTS[(it / 2) % NSD];
        int64_t shape[2] = {r.in(1, 3), r.in(4097, 12000)};
        int axis = 1;
        if (r.one_in(3)) { std::swap(shape[0], shape[1]); axis = 0; }
        scan_case(t, r, op, dt, 2, shape, axis, &chunked);
    }
    fprintf(stderr, "cuemu scan.long_rows: %ld chunked launches\n", chunked);
    cr_expect_geq(chunked, 2 * NSD * 8 / 2, "the long-row path ran %ld times", chunked);
    t.finish(2 * NSD * 8);
}

/* integer matmul: batched (broadcast, strided) and plain; K = 0 included */
Test(cuemu_matmul, integer, .timeout = 300) {
    Stats t("matmul.integer");
    Rng r(31337);
    const npg_dtype MDTS[] = {NPG_BOOL, NPG_INT8, NPG_INT16, NPG_INT32, NPG_INT64,
                              NPG_UINT8, NPG_UINT16, NPG_UINT32, NPG_UINT64};
    for (int it = 0; it < 1350; it++) {
        npg_dtype dt = MDTS[it % 9];
        int nb = (int)r.in(0, 2), nd = nb + 2;
        int64_t M = r.in(1, 40), N = r.in(1, 40), K = r.in(0, 40);
        int64_t sa[NPG_MAX_DIMS], sb[NPG_MAX_DIMS], so[NPG_MAX_DIMS];
        for (int i = 0; i < nb; i++) sa[i] = sb[i] = so[i] = r.in(1, 3);
        sa[nb] = M; sa[nb + 1] = K;
        sb[nb] = K; sb[nb + 1] = N;
        so[nb] = M; so[nb + 1] = N;
        Arr a, b, oc, og;
        make_arr(r, a, dt, nd, sa, 0, true);
        make_arr(r, b, dt, nd, sb, 0, true);
        make_out(oc, dt, nd, so);
        twin(og, oc);
        npg_status s1 = npg__cpu_matmul(0, &oc.d, &a.d, &b.d, false);
        npg_status s2 = npg_emu::npg_cu_matmul(0, &og.d, &a.d, &b.d, false);
        char what[128];
        snprintf(what, sizeof what, "matmul %s batch=%d M=%lld N=%lld K=%lld", npg_dtype_name(dt), nb, (long long)M,
                 (long long)N, (long long)K);
        t.check(oc, og, s1, s2, what);
    }
    t.finish(1350);
}
