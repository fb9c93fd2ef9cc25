/*
 * test_sort.cpp (CUDA emulator, tests/cuemu) — src/cuda/sort.cu's kernels and
 * its use of CUB's DeviceRadixSort (a host stand-in, include/cub/: stable,
 * bits [begin_bit, end_bit) only, the result in either DoubleBuffer half),
 * run on the CPU by the emulator, against the CPU backend: every dtype,
 * ascending and descending, values and/or indices, ties (stability), NaN,
 * -0.0 and +0.0, infinities; each key layout: 32-bit composite keys (row <<
 * key bits | key), 64-bit composite keys, and the two-pass sort of 64-bit
 * keys over several rows. Deterministic seeds.
 */
#include "cuemu_test.h"

extern long npg_emu_radix_sorts;

using namespace cuemu;

namespace {
enum Path { K32, K64, TWO_PASS, NPATH };
const char *const PATH_NAME[NPATH] = {"32-bit keys", "64-bit keys", "two-pass"};

/* the key layout sort.cu picks for n elements in rows of len */
Path path_of(npg_dtype dt, int64_t n, int64_t len) {
    int64_t nrows = n / len;
    int rbits = 0;
    while (rbits < 32 && (1ll << rbits) < nrows) rbits++;
    int kbits = 8 * (int)esize(dt);
    if (kbits + (nrows > 1 ? rbits : 0) <= 32) return K32;
    if (nrows > 1 && kbits + rbits > 64) return TWO_PASS;
    return K64;
}

void special(Rng &r, char *p, npg_dtype dt) {
    static const double SPECIAL[] = {0.0, -0.0, INFINITY, -INFINITY, NAN, -NAN, 1.0, -1.0};
    double v = SPECIAL[r() % 8];
    if (dt == NPG_FLOAT32) { float f = (float)v; memcpy(p, &f, 4); }
    else memcpy(p, &v, 8);
}
} // namespace

Test(cuemu_sort, random, .timeout = 300) {
    Stats t("sort.random");
    Rng r(60606);
    long paths[NPATH] = {0}, desc = 0, vonly = 0, ionly = 0, s0 = npg_emu_radix_sorts;
    long per_dt[NPG_DTYPE_COUNT] = {0};
    for (int it = 0; it < 900; it++) {
        npg_emu_sms = (int)r.in(1, 2);
        npg_dtype dt = ALL_DTYPES[it % N_NOHALF];
        int nd = (int)r.in(1, 3);
        int64_t shape[NPG_MAX_DIMS];
        for (int i = 0; i < nd; i++) shape[i] = r.one_in(3) ? r.in(1, 200) : r.in(1, 6);
        if (nd == 1 && r.one_in(2)) shape[0] = r.in(1, 5000);
        if (r.one_in(40)) shape[r() % nd] = 0;
        Arr in;
        make_out(in, dt, nd, shape); /* contiguous, as sort.cu requires */
        int64_t n = numel(in.d);
        if (n > 60000) continue;
        int mode = (int)r.in(0, 2);
        for (int64_t k = 0; k < n; k++) {
            char *p = (char *)in.d.data + k * esize(dt);
            rand_elem(r, in.d.data, dt, k, mode);
            if (is_f(dt) && r.one_in(8)) special(r, p, dt);
        }
        bool descending = r.one_in(2);
        int which = (int)r.in(0, 3); /* 0, 3: both; 1 values only; 2 indices only */
        Arr vc, vg, ic, ig;
        make_out(vc, dt, nd, shape);
        twin(vg, vc);
        make_out(ic, NPG_INT64, nd, shape);
        twin(ig, ic);
        const npg_tdesc *V1 = which == 2 ? nullptr : &vc.d, *V2 = which == 2 ? nullptr : &vg.d;
        const npg_tdesc *I1 = which == 1 ? nullptr : &ic.d, *I2 = which == 1 ? nullptr : &ig.d;
        npg_status s1 = npg__cpu_sort(0, V1, I1, &in.d, descending);
        npg_status s2 = npg_emu::npg_cu_sort(0, V2, I2, &in.d, descending);
        int64_t len = shape[nd - 1];
        if (s1 == NPG_OK && n > 0) {
            paths[path_of(dt, n, len)]++;
            per_dt[dt]++;
            desc += descending;
            vonly += which == 1;
            ionly += which == 2;
        }
        char what[128];
        snprintf(what, sizeof what, "sort %s %s which=%d path=%s ", npg_dtype_name(dt), descending ? "desc" : "asc",
                 which, n > 0 && len > 0 ? PATH_NAME[path_of(dt, n, len)] : "none");
        std::string w = what + shape_str(in.d);
        t.check(vc, vg, s1, s2, w + " values");
        t.check(ic, ig, s1, s2, w + " indices");
    }
    fprintf(stderr, "cuemu sort.random paths: %s %ld, %s %ld, %s %ld; %ld descending, %ld values only, %ld indices only, %ld radix sorts\n",
            PATH_NAME[0], paths[0], PATH_NAME[1], paths[1], PATH_NAME[2], paths[2], desc, vonly, ionly,
            npg_emu_radix_sorts - s0);
    t.finish(1600);
    for (int p = 0; p < NPATH; p++) cr_expect_geq(paths[p], 60, "sort path %s: %ld cases", PATH_NAME[p], paths[p]);
    for (int i = 0; i < N_NOHALF; i++)
        cr_expect_geq(per_dt[ALL_DTYPES[i]], 50, "sort %s: %ld cases", npg_dtype_name(ALL_DTYPES[i]), per_dt[ALL_DTYPES[i]]);
    cr_expect_geq(desc, 300);
    cr_expect_geq(vonly, 150);
    cr_expect_geq(ionly, 150);
    cr_expect_geq(npg_emu_radix_sorts - s0, 800);
}
