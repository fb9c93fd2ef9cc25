/*
 * test_conv.cpp (CUDA emulator, tests/cuemu) — src/cuda/conv.cu's kernels,
 * run on the CPU by the emulator, against the CPU backend (src/cpu/nn.c):
 * im2col for every dtype it takes (the integers, float32, float64 and the
 * half types' bit gather), col2im (the integers wrapping, float32, float64;
 * onto a non-zero x), max pooling (argmax included) and average pooling
 * (both divisors), and both pooling backward passes (float32, float64), with
 * random geometries (strides, padding, dilation, windows partly or wholly
 * outside the image) in the 32-bit index path and, with a huge stride or
 * padding on a small array, the 64-bit one. Bit for bit (conv.cu sums in
 * the CPU's order). Deterministic seeds.
 */
#include "cuemu_test.h"


using namespace cuemu;

namespace {
/* which index width the launches took: 0 32-bit, 1 64-bit (the kernels are
 * told apart by the `small` rule of conv.cu, recomputed here) */
bool small_geom(const npg_conv_geom &g) {
    const int64_t lim = (int64_t)1 << 30;
    const int64_t xs = g.N * g.C * g.H * g.W, cs = g.N * g.C * g.KH * g.KW * g.OH * g.OW, os = g.N * g.C * g.OH * g.OW;
    return xs < lim && cs < lim && os < lim && g.H + 2 * g.pad_h < lim && g.W + 2 * g.pad_w < lim &&
           g.KH * g.dil_h < lim && g.KW * g.dil_w < lim && g.OH * g.stride_h < lim && g.OW * g.stride_w < lim &&
           g.KH * g.KW < lim && g.H * g.W < lim;
}

long g_launches;
void on_launch(const char *, dim3, dim3) { g_launches++; }

/* a random geometry with OH, OW >= 1; wide: one side with a 2^30 stride or
 * 2^29 padding (64-bit indices, small arrays) */
bool rand_geom(Rng &r, npg_conv_geom &g, bool pool, bool wide) {
    memset(&g, 0, sizeof g);
    g.N = r.in(1, 3);
    g.C = r.in(1, 4);
    g.H = r.in(1, 14);
    g.W = r.in(1, 14);
    g.KH = r.in(1, 4);
    g.KW = r.in(1, 4);
    g.stride_h = r.in(1, 3);
    g.stride_w = r.in(1, 3);
    g.dil_h = pool && r.one_in(2) ? 1 : r.in(1, 2);
    g.dil_w = pool && r.one_in(2) ? 1 : r.in(1, 2);
    g.pad_h = r.in(0, pool ? (g.KH - 1) / 2 + 1 : 3);
    g.pad_w = r.in(0, pool ? (g.KW - 1) / 2 + 1 : 3);
    g.count_include_pad = r.one_in(2);
    if (wide) {
        if (r.one_in(2)) g.stride_w = (int64_t)1 << 30;
        else {
            g.pad_h = (int64_t)1 << 29;
            g.stride_h = (int64_t)1 << 28;
        }
    }
    int64_t nh = g.H + 2 * g.pad_h - g.dil_h * (g.KH - 1) - 1, nw = g.W + 2 * g.pad_w - g.dil_w * (g.KW - 1) - 1;
    if (nh < 0 || nw < 0) return false;
    g.OH = nh / g.stride_h + 1;
    g.OW = nw / g.stride_w + 1;
    if (g.N * g.C * g.OH * g.OW * g.KH * g.KW > 200000) return false;
    return small_geom(g) != wide;
}

std::string geom_str(const npg_conv_geom &g) {
    char b[256];
    snprintf(b, sizeof b, "N%lld C%lld H%lld W%lld K%lldx%lld O%lldx%lld s%lld,%lld p%lld,%lld d%lld,%lld cip%d",
             (long long)g.N, (long long)g.C, (long long)g.H, (long long)g.W, (long long)g.KH, (long long)g.KW,
             (long long)g.OH, (long long)g.OW, (long long)g.stride_h, (long long)g.stride_w, (long long)g.pad_h,
             (long long)g.pad_w, (long long)g.dil_h, (long long)g.dil_w, (int)g.count_include_pad);
    return b;
}

/* a contiguous (n0, n1, n2, n3) array with random contents */
void rand_contig(Rng &r, Arr &A, npg_dtype dt, int64_t n0, int64_t n1, int64_t n2, int64_t n3, int mode) {
    int64_t shape[4] = {n0, n1, n2, n3};
    make_out(A, dt, 4, shape);
    int64_t n = numel(A.d);
    for (int64_t k = 0; k < n; k++) rand_elem(r, A.d.data, dt, k, mode);
}

struct ConvRun : Stats {
    long dts[NPG_DTYPE_COUNT] = {0}, wide = 0, narrow = 0;
    ConvRun(const char *s) : Stats(s) { npg_emu_on_launch = on_launch; }
    ~ConvRun() { npg_emu_on_launch = nullptr; }
    void counted(npg_status s1, npg_dtype dt, const npg_conv_geom &g, long launches_before) {
        if (s1 != NPG_OK) return;
        dts[dt]++;
        if (g_launches == launches_before) {
            fails++;
            cr_log_error("%s: %s: no launch", suite, geom_str(g).c_str());
        }
        (small_geom(g) ? narrow : wide)++;
    }
    void finish(long min_ok, long min_wide) {
        fprintf(stderr, "cuemu %s: %ld in 32-bit indices, %ld in 64-bit\n", suite, narrow, wide);
        Stats::finish(min_ok);
        cr_expect_geq(wide, min_wide, "%s: %ld cases with 64-bit indices", suite, wide);
        cr_expect_geq(narrow, min_ok / 2, "%s: %ld cases with 32-bit indices", suite, narrow);
    }
};

const npg_dtype NUM_DTS[] = {NPG_INT8,   NPG_INT16,  NPG_INT32,   NPG_INT64,   NPG_UINT8,    NPG_UINT16,
                             NPG_UINT32, NPG_UINT64, NPG_FLOAT32, NPG_FLOAT64, NPG_FLOAT16, NPG_BFLOAT16};
const int N_NUM = 12, N_NUM_NOHALF = 10;
} // namespace

/* im2col: every dtype it takes (the half types: their bits gathered, NaNs included) */
Test(cuemu_conv, im2col, .timeout = 300) {
    ConvRun t("conv.im2col");
    Rng r(1001);
    for (int it = 0; it < 900; it++) {
        npg_emu_sms = (int)r.in(1, 2);
        npg_dtype dt = NUM_DTS[it % N_NUM];
        npg_conv_geom g;
        if (!rand_geom(r, g, false, it % 7 == 6)) continue;
        Arr x, cc, cg;
        rand_contig(r, x, dt, g.N, g.C, g.H, g.W, (int)r.in(0, 2));
        int64_t cshape[3] = {g.N, g.C * g.KH * g.KW, g.OH * g.OW};
        make_out(cc, dt, 3, cshape);
        twin(cg, cc);
        npg_status s1 = npg__cpu_im2col(0, &cc.d, &x.d, &g);
        long l0 = g_launches;
        npg_status s2 = npg_emu::npg_cu_im2col(0, &cg.d, &x.d, &g);
        t.counted(s1, dt, g, l0);
        t.check(cc, cg, s1, s2, std::string("im2col ") + npg_dtype_name(dt) + " " + geom_str(g));
    }
    t.finish(600, 40);
    for (int i = 0; i < N_NUM; i++) cr_expect_geq(t.dts[NUM_DTS[i]], 30, "im2col %s: %ld", npg_dtype_name(NUM_DTS[i]), t.dts[NUM_DTS[i]]);
}

/* col2im onto a random x (it adds): the integers (wrapping) and the floats;
 * the half types are unsupported on both */
Test(cuemu_conv, col2im, .timeout = 300) {
    ConvRun t("conv.col2im");
    Rng r(1002);
    long half = 0;
    for (int it = 0; it < 900; it++) {
        npg_emu_sms = (int)r.in(1, 2);
        npg_dtype dt = it % 60 == 59 ? NUM_DTS[N_NUM - 1 - it / 60 % 2] : NUM_DTS[it % N_NUM_NOHALF];
        npg_conv_geom g;
        if (!rand_geom(r, g, false, it % 7 == 6)) continue;
        half += is_half(dt);
        Arr cols, xc, xg;
        rand_contig(r, cols, dt, g.N, g.C * g.KH * g.KW, g.OH * g.OW, 1, (int)r.in(0, 2));
        cols.d.ndim = 3;
        rand_contig(r, xc, dt, g.N, g.C, g.H, g.W, (int)r.in(0, 1));
        twin(xg, xc);
        npg_status s1 = npg__cpu_col2im(0, &xc.d, &cols.d, &g);
        long l0 = g_launches;
        npg_status s2 = npg_emu::npg_cu_col2im(0, &xg.d, &cols.d, &g);
        t.counted(s1, dt, g, l0);
        t.check(xc, xg, s1, s2, std::string("col2im ") + npg_dtype_name(dt) + " " + geom_str(g));
    }
    t.finish(600, 40);
    for (int i = 0; i < N_NUM_NOHALF; i++)
        cr_expect_geq(t.dts[NUM_DTS[i]], 30, "col2im %s: %ld", npg_dtype_name(NUM_DTS[i]), t.dts[NUM_DTS[i]]);
    cr_expect_gt(half, 0);
}

/* max pooling (the integers and floats, argmax too) and average pooling
 * (floats, both divisors), forward and backward */
Test(cuemu_conv, pool, .timeout = 300) {
    ConvRun t("conv.pool");
    Rng r(1003);
    long bw = 0, avg = 0, mx = 0;
    for (int it = 0; it < 1400; it++) {
        npg_emu_sms = (int)r.in(1, 2);
        bool is_max = it % 3 != 0;
        npg_dtype dt = is_max ? NUM_DTS[it % N_NUM_NOHALF] : (it % 2 ? NPG_FLOAT32 : NPG_FLOAT64);
        npg_conv_geom g;
        if (!rand_geom(r, g, true, it % 9 == 8)) continue;
        Arr x, oc, og, ac, ag;
        rand_contig(r, x, dt, g.N, g.C, g.H, g.W, (int)r.in(0, 2));
        int64_t oshape[4] = {g.N, g.C, g.OH, g.OW};
        make_out(oc, dt, 4, oshape);
        twin(og, oc);
        make_out(ac, NPG_INT64, 4, oshape);
        twin(ag, ac);
        npg_status s1 = npg__cpu_pool2d(0, is_max, &oc.d, is_max ? &ac.d : nullptr, &x.d, &g);
        long l0 = g_launches;
        npg_status s2 = npg_emu::npg_cu_pool2d(0, is_max, &og.d, is_max ? &ag.d : nullptr, &x.d, &g);
        t.counted(s1, dt, g, l0);
        std::string w = std::string(is_max ? "max_pool2d " : "avg_pool2d ") + npg_dtype_name(dt) + " " + geom_str(g);
        t.check(oc, og, s1, s2, w);
        if (is_max) t.check(ac, ag, s1, s2, w + " argmax");
        (is_max ? mx : avg)++;
        if (!is_f(dt) || s1 != NPG_OK) continue;
        /* backward from the CPU's argmax, onto a random gx */
        Arr gout, gc, gg;
        rand_contig(r, gout, dt, g.N, g.C, g.OH, g.OW, (int)r.in(0, 1));
        rand_contig(r, gc, dt, g.N, g.C, g.H, g.W, 1);
        twin(gg, gc);
        s1 = npg__cpu_pool2d_backward(0, is_max, &gc.d, &gout.d, is_max ? &ac.d : nullptr, &g);
        l0 = g_launches;
        s2 = npg_emu::npg_cu_pool2d_backward(0, is_max, &gg.d, &gout.d, is_max ? &ac.d : nullptr, &g);
        t.counted(s1, dt, g, l0);
        t.check(gc, gg, s1, s2, w + " backward");
        bw++;
    }
    fprintf(stderr, "cuemu conv.pool: %ld max, %ld avg, %ld backward\n", mx, avg, bw);
    t.finish(1200, 80);
    cr_expect_geq(mx, 600);
    cr_expect_geq(avg, 300);
    cr_expect_geq(bw, 400);
}
