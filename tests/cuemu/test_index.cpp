/*
 * test_index.cpp (CUDA emulator, tests/cuemu) — src/cuda/index.cu's kernels,
 * run on the CPU by the emulator, against the CPU backend: gather
 * (take_along_axis) for every dtype (per element size 1, 2, 4, 8),
 * scatter_add for every dtype the kernels take (8- and 16-bit integers
 * through the 32-bit compare-and-swap, at every byte offset of the word:
 * random offsets, steps and reversed strides of the accumulator), negative
 * indices, random layouts, and indices out of range: there the CPU returns
 * NPG_ERR_INDEX while the kernels set the context's deferred flag (gather
 * writes 0, scatter_add skips the element), so the reference is the CPU
 * backend on a copy with those elements made harmless (index 0; source -0.0
 * or 0, the additive identity) and the flag must be set exactly then.
 * nonzero: the flags kernel, CUB's DeviceSelect::Flagged (a host stand-in,
 * include/cub/) and the unravel kernel. Float scatter_add: the atomics add
 * repeated indices in another order than the CPU, so small integer values
 * (exact) or tests/cuda's tolerance. Deterministic seeds.
 */
#include "cuemu_test.h"

extern long npg_emu_cas, npg_emu_cub_calls;

using namespace cuemu;

namespace {
std::vector<std::string> g_launched;
void on_launch(const char *k, dim3, dim3) { g_launched.push_back(k); }
bool launched(const char *k) {
    for (auto &s : g_launched)
        if (s == k) return true;
    return false;
}

/* the deferred flag, read and cleared */
int take_flag() {
    npg_emu::npg_cu_ctx *c;
    npg_emu::npg_cu_ctx_get(0, &c);
    int f = *c->flag_host;
    *c->flag_host = 0;
    return f;
}

/* element offsets of d, row-major */
std::vector<int64_t> offsets(const npg_tdesc &d) {
    int64_t n = numel(d);
    std::vector<int64_t> res((size_t)n);
    for (int64_t i = 0; i < n; i++) {
        int64_t rem = i, off = 0;
        for (int k = d.ndim - 1; k >= 0; k--) {
            off += (rem % d.shape[k]) * d.strides[k];
            rem /= d.shape[k];
        }
        res[i] = off;
    }
    return res;
}

/* an index array of shape (nd, shape) with a random layout, values in
 * [-n, n), about one in `bad_in` out of range (0: none); bad[i] (row-major)
 * marks those. Broadcast (0) strides repeat one value, so the marks follow
 * the values actually stored. */
void make_idx(Rng &r, Arr &I, int nd, const int64_t *shape, int64_t n, int bad_in, std::vector<char> &bad) {
    make_arr(r, I, NPG_INT64, nd, shape, 0, true);
    std::vector<int64_t> off = offsets(I.d);
    int64_t *p = (int64_t *)I.d.data;
    for (int64_t o : off) {
        int64_t v;
        if (n > 0 && !(bad_in && r.one_in(bad_in))) v = r.in(-n, n - 1);
        else {
            switch (r() % 5) {
            case 0: v = n; break;
            case 1: v = -n - 1; break;
            case 2: v = n + r.in(1, 1000); break;
            case 3: v = -n - r.in(2, 1000); break;
            default: v = r.one_in(2) ? INT64_MAX : INT64_MIN; break;
            }
        }
        p[o] = v;
    }
    bad.assign(off.size(), 0);
    for (size_t i = 0; i < off.size(); i++) {
        int64_t v = p[off[i]];
        bad[i] = n == 0 || v < -n || v >= n;
    }
}

/* a contiguous copy of A (same shape and values) */
void contig_copy(Arr &C, const Arr &A) {
    make_out(C, A.d.dtype, A.d.ndim, A.d.shape);
    std::vector<char> v = gather(A.d);
    memcpy(C.d.data, v.data(), v.size());
}

struct IndexRun : Stats {
    long dts[NPG_DTYPE_COUNT] = {0}, oor = 0, cas0 = 0, flag_fail = 0;
    IndexRun(const char *s) : Stats(s) { npg_emu_on_launch = on_launch; take_flag(); }
    ~IndexRun() { npg_emu_on_launch = nullptr; }
    void flag_check(bool want, const std::string &what) {
        int f = take_flag();
        if ((f != 0) != want) {
            if (flag_fail++ < 10) cr_log_error("%s: flag %d, want %d", what.c_str(), f, (int)want);
            fails++;
        }
    }
    void finish(long min_ok) {
        fprintf(stderr, "cuemu %s: %ld with indices out of range, %ld atomicCAS\n", suite, oor, npg_emu_cas - cas0);
        Stats::finish(min_ok);
    }
};

/* shape (nd) with small sizes; returns the element count */
int64_t rand_shape(Rng &r, int nd, int64_t *shape, int64_t big) {
    int64_t tot = 1;
    for (int i = 0; i < nd; i++) {
        shape[i] = r.one_in(4) ? r.in(1, big) : r.in(1, 5);
        if (r.one_in(40)) shape[i] = 0;
        tot *= shape[i];
    }
    return tot;
}

void gather_case(IndexRun &t, Rng &r, npg_dtype dt, int bad_in) {
    int nd = (int)r.in(1, 4), axis = (int)r.in(0, nd - 1);
    int64_t shape[NPG_MAX_DIMS], ishape[NPG_MAX_DIMS];
    if (rand_shape(r, nd, shape, 60) > 50000) return;
    memcpy(ishape, shape, sizeof shape);
    ishape[axis] = r.one_in(30) ? 0 : r.one_in(3) ? r.in(1, 300) : r.in(1, 6);
    Arr in, idx, oc, og;
    make_arr(r, in, dt, nd, ishape, (int)r.in(0, 2), true);
    std::vector<char> bad;
    make_idx(r, idx, nd, shape, ishape[axis], bad_in, bad);
    long nbad = 0;
    for (char b : bad) nbad += b;
    make_out(oc, dt, nd, shape);
    twin(og, oc);
    npg_status s1;
    if (nbad) { /* reference: index 0 in place of the bad ones, then 0 there */
        Arr fix;
        contig_copy(fix, idx);
        int64_t *fp = (int64_t *)fix.d.data;
        for (size_t i = 0; i < bad.size(); i++)
            if (bad[i]) fp[i] = 0;
        npg_status e = npg__cpu_gather(0, &oc.d, &in.d, &idx.d, axis);
        if (e != NPG_ERR_INDEX) {
            if (t.fails++ < 10) cr_log_error("gather: cpu status %d with an index out of range", e);
            return;
        }
        s1 = ishape[axis] > 0 ? npg__cpu_gather(0, &oc.d, &in.d, &fix.d, axis) : NPG_OK;
        size_t es = esize(dt);
        for (size_t i = 0; i < bad.size(); i++)
            if (bad[i]) memset((char *)oc.d.data + i * es, 0, es);
        t.oor++;
    } else {
        s1 = npg__cpu_gather(0, &oc.d, &in.d, &idx.d, axis);
    }
    g_launched.clear();
    npg_status s2 = npg_emu::npg_cu_gather(0, &og.d, &in.d, &idx.d, axis);
    char what[128];
    snprintf(what, sizeof what, "gather %s axis=%d n=%lld bad=%ld ", npg_dtype_name(dt), axis,
             (long long)ishape[axis], nbad);
    std::string w = what + shape_str(in.d) + " idx " + shape_str(idx.d);
    t.flag_check(nbad > 0, w);
    if (s2 == NPG_OK && numel(og.d) > 0 && !launched("npg_cu_gather_kernel")) {
        t.fails++;
        cr_log_error("%s: no gather kernel launched", w.c_str());
    }
    if (s1 == NPG_OK && numel(oc.d) > 0) t.dts[dt]++;
    t.check(oc, og, s1, s2, w);
}

void scatter_case(IndexRun &t, Rng &r, npg_dtype dt, int bad_in) {
    int nd = (int)r.in(1, 4), axis = (int)r.in(0, nd - 1);
    int64_t shape[NPG_MAX_DIMS], oshape[NPG_MAX_DIMS];
    if (rand_shape(r, nd, shape, 60) > 50000) return;
    memcpy(oshape, shape, sizeof shape);
    /* few slots along the axis: many repeated indices (colliding atomics) */
    oshape[axis] = r.one_in(30) ? 0 : r.one_in(3) ? r.in(1, 40) : r.in(1, 4);
    if (dt == NPG_BOOL) { /* unsupported by both, but the kernels return NPG_OK on an empty source first */
        bad_in = 0;
        for (int i = 0; i < nd; i++) shape[i] = std::max<int64_t>(shape[i], 1), oshape[i] = std::max<int64_t>(oshape[i], 1);
    }
    int mode = is_f(dt) && !r.one_in(4) ? 1 : (int)r.in(0, 1);
    Arr src, idx, oc, og;
    make_arr(r, src, dt, nd, shape, mode, true);
    make_arr(r, oc, dt, nd, oshape, mode, false); /* the accumulator: offsets, steps, reversals */
    twin(og, oc);
    std::vector<char> bad;
    make_idx(r, idx, nd, shape, oshape[axis], bad_in, bad);
    long nbad = 0;
    for (char b : bad) nbad += b;
    npg_status s1;
    if (nbad) { /* reference: the bad elements add the identity at index 0 */
        Arr fi, fs;
        contig_copy(fi, idx);
        contig_copy(fs, src);
        int64_t *ip = (int64_t *)fi.d.data;
        size_t es = esize(dt);
        for (size_t i = 0; i < bad.size(); i++)
            if (bad[i]) {
                ip[i] = 0;
                char *sp = (char *)fs.d.data + i * es;
                memset(sp, 0, es);
                if (dt == NPG_FLOAT32) { float z = -0.0f; memcpy(sp, &z, 4); }
                if (dt == NPG_FLOAT64) { double z = -0.0; memcpy(sp, &z, 8); }
            }
        Arr probe;
        twin(probe, oc);
        npg_status e = npg__cpu_scatter_add(0, &probe.d, &src.d, &idx.d, axis);
        if (e != NPG_ERR_INDEX) {
            if (t.fails++ < 10) cr_log_error("scatter_add: cpu status %d with an index out of range", e);
            return;
        }
        s1 = oshape[axis] > 0 ? npg__cpu_scatter_add(0, &oc.d, &fs.d, &fi.d, axis) : NPG_OK;
        t.oor++;
    } else {
        s1 = npg__cpu_scatter_add(0, &oc.d, &src.d, &idx.d, axis);
    }
    g_launched.clear();
    npg_status s2 = npg_emu::npg_cu_scatter_add(0, &og.d, &src.d, &idx.d, axis);
    char what[128];
    snprintf(what, sizeof what, "scatter_add %s axis=%d n=%lld bad=%ld ", npg_dtype_name(dt), axis,
             (long long)oshape[axis], nbad);
    std::string w = what + shape_str(src.d) + " out " + shape_str(oc.d) + " idx " + shape_str(idx.d);
    t.flag_check(nbad > 0 && s2 == NPG_OK, w);
    if (s2 == NPG_OK && numel(src.d) > 0 && !launched("npg_cu_scatter_add_kernel")) {
        t.fails++;
        cr_log_error("%s: no scatter_add kernel launched", w.c_str());
    }
    if (s1 == NPG_OK && numel(src.d) > 0) t.dts[dt]++;
    t.check(oc, og, s1, s2, w, is_f(dt) ? TOL_REDUCE : TOL_NONE);
}

const npg_dtype SCATTER_DTS[] = {NPG_INT8,   NPG_INT16,  NPG_INT32,  NPG_INT64,   NPG_UINT8,
                                 NPG_UINT16, NPG_UINT32, NPG_UINT64, NPG_FLOAT32, NPG_FLOAT64};
} // namespace

/* every dtype (1-, 2-, 4-, 8-byte kernels), random shapes, axes, layouts,
 * negative indices; a few out of range */
Test(cuemu_index, gather, .timeout = 300) {
    IndexRun t("index.gather");
    Rng r(9001);
    for (int it = 0; it < 1300; it++) {
        npg_emu_sms = (int)r.in(1, 2);
        gather_case(t, r, ALL_DTYPES[it % N_ALL], it % 3 == 2 ? (int)r.in(1, 50) : 0);
    }
    t.finish(1000);
    for (int i = 0; i < N_ALL; i++)
        cr_expect_geq(t.dts[ALL_DTYPES[i]], 40, "gather %s: %ld cases", npg_dtype_name(ALL_DTYPES[i]),
                      t.dts[ALL_DTYPES[i]]);
    cr_expect_geq(t.oor, 200, "gather: %ld cases with an index out of range", t.oor);
}

/* every dtype the atomics take (and bool, unsupported on both), colliding
 * indices, the sub-word CAS at every byte offset; a few out of range */
Test(cuemu_index, scatter_add, .timeout = 300) {
    IndexRun t("index.scatter_add");
    t.cas0 = npg_emu_cas;
    Rng r(31337);
    long bool_cases = 0;
    for (int it = 0; it < 1500; it++) {
        npg_emu_sms = (int)r.in(1, 2);
        npg_dtype dt = it % 50 == 49 ? NPG_BOOL : SCATTER_DTS[it % 10];
        bool_cases += dt == NPG_BOOL;
        scatter_case(t, r, dt, it % 3 == 2 ? (int)r.in(1, 50) : 0);
    }
    t.finish(1000);
    for (npg_dtype dt : SCATTER_DTS)
        cr_expect_geq(t.dts[dt], 60, "scatter_add %s: %ld cases", npg_dtype_name(dt), t.dts[dt]);
    cr_expect_geq(t.oor, 200, "scatter_add: %ld cases with an index out of range", t.oor);
    cr_expect_geq(npg_emu_cas - t.cas0, 10000, "scatter_add: %ld atomicCAS", npg_emu_cas - t.cas0);
    cr_expect_gt(bool_cases, 0);
}

/* the sub-word CAS at each byte offset: a 1-d int8 / int16 / uint8 / uint16
 * accumulator starting at byte offsets 0..3 of a word, every index hit */
Test(cuemu_index, scatter_add_subword) {
    IndexRun t("index.scatter_add_subword");
    Rng r(4711);
    const npg_dtype DTS[] = {NPG_INT8, NPG_UINT8, NPG_INT16, NPG_UINT16};
    for (int rep = 0; rep < 6; rep++)
        for (npg_dtype dt : DTS)
            for (int off = 0; off < 4; off++) {
                size_t es = esize(dt);
                int64_t n = r.in(1, 9), m = r.in(1, 3000);
                Arr oc, og, src, idx;
                make_out(oc, dt, 1, &n);
                oc.d.data = (char *)oc.d.data + off * es; /* the slack of make_out's store covers it */
                for (int64_t k = 0; k < n; k++) rand_elem(r, oc.d.data, dt, k, 0);
                twin(og, oc);
                make_arr(r, src, dt, 1, &m, 0, false);
                std::vector<char> bad;
                make_idx(r, idx, 1, &m, n, 0, bad);
                npg_status s1 = npg__cpu_scatter_add(0, &oc.d, &src.d, &idx.d, 0);
                npg_status s2 = npg_emu::npg_cu_scatter_add(0, &og.d, &src.d, &idx.d, 0);
                char what[96];
                snprintf(what, sizeof what, "scatter_add %s n=%lld m=%lld element offset %d", npg_dtype_name(dt),
                         (long long)n, (long long)m, off);
                t.flag_check(false, what);
                t.check(oc, og, s1, s2, what);
            }
    t.finish(96);
}

/* nonzero of every dtype it takes: 1-d (no unravel) and 2- to 4-d */
Test(cuemu_index, nonzero, .timeout = 300) {
    IndexRun t("index.nonzero");
    Rng r(2718);
    long unravel = 0, flat = 0, cub0 = npg_emu_cub_calls;
    for (int it = 0; it < 600; it++) {
        npg_emu_sms = (int)r.in(1, 2);
        npg_dtype dt = ALL_DTYPES[it % N_NOHALF];
        int nd = (int)r.in(1, 4);
        int64_t shape[NPG_MAX_DIMS];
        if (rand_shape(r, nd, shape, 80) > 100000) continue;
        if (nd == 1 && r.one_in(2)) shape[0] = r.in(1, 20000);
        Arr in;
        make_out(in, dt, nd, shape); /* contiguous */
        int64_t n = numel(in.d);
        int mode = (int)r.in(0, 2);
        for (int64_t k = 0; k < n; k++) {
            rand_elem(r, in.d.data, dt, k, mode);
            if (r.one_in(3)) memset((char *)in.d.data + k * esize(dt), 0, esize(dt));
            if (is_f(dt) && r.one_in(10)) { /* -0.0 counts as zero */
                if (dt == NPG_FLOAT32) { float z = -0.0f; memcpy((char *)in.d.data + k * 4, &z, 4); }
                else { double z = -0.0; memcpy((char *)in.d.data + k * 8, &z, 8); }
            }
        }
        int64_t count = 0;
        for (int64_t k = 0; k < n; k++) {
            const char *p = (const char *)in.d.data + k * esize(dt);
            if (dt == NPG_FLOAT32) { float f; memcpy(&f, p, 4); count += f != 0; }
            else if (dt == NPG_FLOAT64) { double f; memcpy(&f, p, 8); count += f != 0; }
            else {
                uint64_t v = 0;
                memcpy(&v, p, esize(dt));
                count += v != 0;
            }
        }
        int64_t oshape[2] = {nd, count};
        Arr oc, og;
        make_out(oc, NPG_INT64, 2, oshape);
        twin(og, oc);
        npg_status s1 = npg__cpu_nonzero(0, &oc.d, &in.d);
        g_launched.clear();
        npg_status s2 = npg_emu::npg_cu_nonzero(0, &og.d, &in.d);
        if (s2 == NPG_OK && count > 0) (nd > 1 ? unravel : flat) += 1;
        if (s2 == NPG_OK && count > 0 && nd > 1 && !launched("npg_cu_unravel_kernel")) {
            t.fails++;
            cr_log_error("nonzero: no unravel launch");
        }
        char what[96];
        snprintf(what, sizeof what, "nonzero %s count=%lld ", npg_dtype_name(dt), (long long)count);
        t.check(oc, og, s1, s2, what + shape_str(in.d));
    }
    t.finish(500);
    cr_expect_geq(unravel, 200, "nonzero: %ld cases unravelled", unravel);
    cr_expect_geq(flat, 50, "nonzero: %ld 1-d cases", flat);
    cr_expect_geq(npg_emu_cub_calls - cub0, 250, "nonzero: %ld DeviceSelect::Flagged runs", npg_emu_cub_calls - cub0);
}
