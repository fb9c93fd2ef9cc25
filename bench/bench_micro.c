/*
 * bench_micro.c — npg's micro workloads and their ceilings, measured side by
 * side in one run on one device:
 *   overhead_add      a 1-element add (host overhead per op)        us/op
 *                     (CUDA ceiling: an empty kernel's launch)
 *   overhead_fwd_bwd  ((a*b+c).relu().sum()) forward+backward, 1 elem us
 *   exp / add / mul   elementwise, 1K..64M elements                  GB/s (read + written)
 *   sum / sum_axis0   full sum; column sums of (n/1024, 1024)         GB/s
 *   sum_axis0_wide    column sums of (n/4096, 4096) (a wide layer's bias gradient) GB/s
 *   matmul            square n x n, n = 64..4096                      GFLOP/s
 *   solve             A x = b, A n x n, b a vector, n = 256..2048      GFLOP/s (2/3 n^3 + 2 n^2)
 * in float32 and float64. Ceilings: on the CPU a copy (memcpy per thread) and
 * a STREAM triad a = b + s*c with npg's thread count (the better of 1 and N
 * threads below 1M elements), and direct cblas_sgemm/dgemm on the same
 * buffers, and for solve LAPACK's ?gesv called directly on copies of the
 * same operands (it overwrites them: the copies are part of the ceiling, as
 * npg's are part of its figure); on CUDA a device-to-device copy (cudaMemcpyAsync or a copy
 * kernel, the better) and direct cublasSgemm/Dgemm. Each ceiling is timed
 * interleaved with the figure it bounds (bench_time_group), so that the
 * shared machine's changing load reaches both alike. Outputs are allocated
 * per op, as in PyTorch's eager mode; nothing is fused across ops.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "bench.h"

/* ---- shared context -------------------------------------------------------- */

typedef struct wctx {
    npg_device dev;
    npg_array *a, *b, *c, *a2, *a3; /* operands; a2, a3: a as (n/1024, 1024), (n/4096, 4096) */
    void *pa, *pb, *pc;        /* raw data pointers for the ceilings */
    void *pd;                  /* solve: the right-hand side's copy */
    int *ipiv;                 /* solve: LAPACK's pivots */
    int64_t n;                 /* elements, or the matrix order */
    npg_dtype dt;
    int threads;               /* CPU ceiling threads */
    int kernel;                /* CUDA copy: 0 cudaMemcpyAsync, 1 kernel */
} wctx;

static void sync_dev(void *p) {
    wctx *w = p;
    if (w->dev.type != NPG_DEVICE_CUDA) return;
    npg_synchronize(w->dev);
#ifdef NPG_BENCH_CUDA
    npgb_cuda_sync();
#endif
}

/* ---- npg bodies ------------------------------------------------------------ */

#define NPG_BODY(fname, expr)                           \
    static int fname(void *p, int64_t iters) {          \
        wctx *w = p;                                    \
        for (int64_t i = 0; i < iters; i++) {           \
            npg_array *r_ = (expr);                     \
            if (!r_) return -1;                         \
            npg_free(r_);                               \
        }                                               \
        return 0;                                       \
    }

NPG_BODY(body_add, npg_add(w->a, w->b))
#ifdef NPG_BENCH_CUDA
static int body_launch(void *p, int64_t iters) {
    (void)p;
    return npgb_cuda_launch_empty(iters);
}
#endif
NPG_BODY(body_mul, npg_multiply(w->a, w->b))
NPG_BODY(body_exp, npg_exp(w->a))
NPG_BODY(body_sum, npg_sum(w->a, NPG_ALL_AXES, false))
NPG_BODY(body_sum_axis0, npg_sum(w->a2, NPG_AXES(0), false))
NPG_BODY(body_sum_axis0_wide, npg_sum(w->a3, NPG_AXES(0), false))
NPG_BODY(body_matmul, npg_matmul(w->a, w->b))
NPG_BODY(body_solve, npg_linalg_solve(w->a, w->b))

/* ((a*b+c).relu().sum()).backward(), gradients dropped after each pass
 * (PyTorch side: a.grad = None) */
static int body_fwd_bwd(void *p, int64_t iters) {
    wctx *w = p;
    for (int64_t i = 0; i < iters; i++) {
        npg_scope s = npg_scope_begin();
        npg_array *y = npg_sum(npg_relu(npg_add(npg_multiply(w->a, w->b), w->c)), NPG_ALL_AXES, false);
        int rc = y && npg_backward(y, NULL) == NPG_OK ? 0 : -1;
        npg_zero_grad(w->a);
        npg_zero_grad(w->b);
        npg_zero_grad(w->c);
        npg_scope_end(s);
        if (rc) return -1;
    }
    return 0;
}

/* ---- CPU ceilings ---------------------------------------------------------- */

static int body_copy_cpu(void *p, int64_t iters) {
    wctx *w = p;
    size_t bytes = (size_t)w->n * npg_dtype_size(w->dt);
    for (int64_t it = 0; it < iters; it++) {
#ifdef _OPENMP
#pragma omp parallel num_threads(w->threads)
        {
            size_t nt = (size_t)omp_get_num_threads(), t = (size_t)omp_get_thread_num();
            size_t chunk = ((bytes + nt - 1) / nt + 63) & ~(size_t)63;
            size_t lo = t * chunk < bytes ? t * chunk : bytes, hi = lo + chunk < bytes ? lo + chunk : bytes;
            if (hi > lo) memcpy((char *)w->pc + lo, (const char *)w->pa + lo, hi - lo);
        }
#else
        memcpy(w->pc, w->pa, bytes);
#endif
    }
    return 0;
}

static void triad_f32(float *restrict a, const float *restrict b, const float *restrict c, float s, int64_t n,
                      int threads) {
    (void)threads;
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(static)
#endif
    for (int64_t i = 0; i < n; i++) a[i] = b[i] + s * c[i];
}

static void triad_f64(double *restrict a, const double *restrict b, const double *restrict c, double s, int64_t n,
                      int threads) {
    (void)threads;
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(static)
#endif
    for (int64_t i = 0; i < n; i++) a[i] = b[i] + s * c[i];
}

/* STREAM triad: c = a + 3 * b */
static int body_triad_cpu(void *p, int64_t iters) {
    wctx *w = p;
    for (int64_t it = 0; it < iters; it++) {
        if (w->dt == NPG_FLOAT64) triad_f64(w->pc, w->pa, w->pb, 3.0, w->n, w->threads);
        else triad_f32(w->pc, w->pa, w->pb, 3.0f, w->n, w->threads);
    }
    return 0;
}

/* cblas ?gemm on pa, pb -> pc (float32 buffers for the half types: what
 * OpenBLAS, which has no half GEMM here, does for the same product). */
static int body_gemm_cpu(void *p, int64_t iters) {
    wctx *w = p;
    int n = (int)w->n;
    for (int64_t it = 0; it < iters; it++) {
        if (w->dt == NPG_FLOAT64)
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, w->pa, n, w->pb, n, 0.0, w->pc, n);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, w->pa, n, w->pb, n, 0.0f, w->pc, n);
    }
    return 0;
}

/* LAPACK (OpenBLAS exports it; LP64 integers) */
void sgesv_(const int *n, const int *nrhs, float *a, const int *lda, int *ipiv, float *b, const int *ldb, int *info);
void dgesv_(const int *n, const int *nrhs, double *a, const int *lda, int *ipiv, double *b, const int *ldb,
            int *info);

/* A x = b on copies: pc <- pa (n x n), pd <- pb (n), then ?gesv. */
static int body_gesv_cpu(void *p, int64_t iters) {
    wctx *w = p;
    int n = (int)w->n, one = 1, info = 0;
    size_t es = npg_dtype_size(w->dt);
    for (int64_t it = 0; it < iters; it++) {
        memcpy(w->pc, w->pa, (size_t)n * (size_t)n * es);
        memcpy(w->pd, w->pb, (size_t)n * es);
        if (w->dt == NPG_FLOAT64) dgesv_(&n, &one, w->pc, &n, w->ipiv, w->pd, &n, &info);
        else sgesv_(&n, &one, w->pc, &n, w->ipiv, w->pd, &n, &info);
        if (info != 0) return -1;
    }
    return 0;
}

/* ---- CUDA ceilings -------------------------------------------------------- */

#ifdef NPG_BENCH_CUDA
static int body_copy_cuda(void *p, int64_t iters) {
    wctx *w = p;
    size_t bytes = (size_t)w->n * npg_dtype_size(w->dt);
    for (int64_t it = 0; it < iters; it++)
        if (npgb_cuda_copy(w->pc, w->pa, bytes, w->kernel) != 0) return -1;
    return 0;
}

static int body_gemm_cuda(void *p, int64_t iters) {
    wctx *w = p;
    int n = (int)w->n;
    for (int64_t it = 0; it < iters; it++)
        if (npgb_cuda_gemm(w->dt == NPG_FLOAT64   ? NPGB_GEMM_F64
                           : w->dt == NPG_FLOAT16 ? NPGB_GEMM_F16
                           : w->dt == NPG_BFLOAT16 ? NPGB_GEMM_BF16
                                                   : NPGB_GEMM_F32,
                           0, 0, n, n, n, w->pa, w->pb, w->pc) != 0)
            return -1;
    return 0;
}
#endif

/* The ceiling's variants for w's size and dtype, as jobs to time beside an
 * npg op: on the CPU the copy or the triad with npg's thread count and, below
 * 1M elements, with one thread (the better counts); on CUDA cudaMemcpyAsync
 * and the copy kernel. vars holds their contexts. Returns how many (0: none
 * available). *bytes: bytes read + written per iteration; *name: its name. */
static int ceiling_jobs(const wctx *w, bool triad, wctx vars[2], bench_job jobs[2], double *bytes, const char **name) {
    size_t es = npg_dtype_size(w->dt);
    int n = 0;
    if (w->dev.type == NPG_DEVICE_CUDA) {
        *name = "d2d copy";
        *bytes = 2.0 * (double)w->n * (double)es;
#ifdef NPG_BENCH_CUDA
        for (int k = 0; k < 2; k++) {
            vars[n] = *w;
            vars[n].kernel = k;
            jobs[n] = (bench_job){body_copy_cuda, sync_dev, &vars[n]};
            n++;
        }
#endif
        return n;
    }
    *name = triad ? "triad" : "copy";
    *bytes = (triad ? 3.0 : 2.0) * (double)w->n * (double)es;
    int nt = npg_get_num_threads();
    for (int k = 0; k < 2; k++) {
        if (k == 1 && (nt == 1 || w->n > ((int64_t)1 << 20))) break;
        vars[n] = *w;
        vars[n].threads = k == 0 ? nt : 1;
        jobs[n] = (bench_job){triad ? body_triad_cpu : body_copy_cpu, NULL, &vars[n]};
        n++;
    }
    return n;
}

/* Time an npg job beside its ceiling's variants. Returns npg's seconds per
 * iteration; *ceiling_bw gets the best variant's GB/s (NaN if none). */
static double time_with_ceiling(const bench_job *npg, const wctx *w, bool triad, const bench_timing *tm,
                                double *ceiling_bw, const char **ceiling_name) {
    wctx vars[2];
    bench_job jobs[BENCH_MAX_JOBS];
    double bytes, out[BENCH_MAX_JOBS];
    int n = ceiling_jobs(w, triad, vars, jobs, &bytes, ceiling_name);
    jobs[n] = *npg;
    bench_time_group(n + 1, jobs, tm, out);
    *ceiling_bw = NAN;
    for (int i = 0; i < n; i++) {
        double bw = bytes / out[i] / 1e9;
        if (isfinite(bw) && !(bw <= *ceiling_bw)) *ceiling_bw = bw;
    }
    return out[n];
}

/* ---- sizes ------------------------------------------------------------------- */

static int elem_sizes(const bench_opts *o, int64_t *out) {
    static const int64_t full[] = {1 << 10, 1 << 14, 1 << 18, 1 << 22, 1 << 24, 1 << 26};
    static const int64_t quick[] = {1 << 10, 1 << 16, 1 << 20, 1 << 24};
    static const int64_t tiny[] = {1 << 10, 1 << 12};
    const int64_t *s = o->tiny ? tiny : o->quick ? quick : full;
    int n = o->tiny ? 2 : o->quick ? 4 : 6;
    memcpy(out, s, (size_t)n * sizeof *s);
    return n;
}

static int matmul_sizes(const bench_opts *o, int64_t *out) {
    static const int64_t full[] = {64, 128, 256, 512, 1024, 2048, 4096};
    static const int64_t quick[] = {64, 256, 1024};
    static const int64_t tiny[] = {64};
    const int64_t *s = o->tiny ? tiny : o->quick ? quick : full;
    int n = o->tiny ? 1 : o->quick ? 3 : 7;
    memcpy(out, s, (size_t)n * sizeof *s);
    return n;
}

/* ---- the runs ----------------------------------------------------------------- */

static void run_overhead(const bench_opts *o, npg_device dev, bench_results *r, const bench_timing *tm) {
    const char *d = bench_device_str(dev);
    if (bench_selected(o, "overhead_add")) {
        bench_result *x = bench_results_add(r, "overhead_add", d, "float32", 1);
        if (x) {
            bench_set_unit(x, "time", "us", true);
            npg_scope s = npg_scope_begin();
            wctx w = {.dev = dev, .n = 1, .dt = NPG_FLOAT32};
            w.a = npg_ones(NPG_SHAPE(1), NPG_OPTS(.device = dev));
            w.b = npg_ones(NPG_SHAPE(1), NPG_OPTS(.device = dev));
            /* host overhead: enqueue many tiny ops, synchronise once per
             * repetition; on CUDA interleaved with the floor, an empty
             * kernel's launch */
            bench_job jobs[2] = {{body_add, sync_dev, &w}};
            int k = 1;
#ifdef NPG_BENCH_CUDA
            if (dev.type == NPG_DEVICE_CUDA) jobs[k++] = (bench_job){body_launch, sync_dev, &w};
#endif
            double t[2] = {NAN, NAN};
            if (w.a && w.b) bench_time_group(k, jobs, tm, t);
            if (isfinite(t[0])) x->value = t[0] * 1e6;
            else bench_note_error(x, "failed");
            if (k == 2 && isfinite(t[1])) {
                x->ceiling = t[1] * 1e6;
                snprintf(x->ceiling_name, sizeof x->ceiling_name, "empty kernel launch");
            }
            npg_scope_end(s);
            bench_progress("%s overhead_add: %.3f us", d, x->value);
        }
    }
    if (bench_selected(o, "overhead_fwd_bwd")) {
        bench_result *x = bench_results_add(r, "overhead_fwd_bwd", d, "float32", 1);
        if (x) {
            bench_set_unit(x, "time", "us", true);
            npg_scope s = npg_scope_begin();
            wctx w = {.dev = dev, .n = 1, .dt = NPG_FLOAT32};
            w.a = npg_full(NPG_SHAPE(1), 1.5, NPG_OPTS(.device = dev, .requires_grad = true));
            w.b = npg_full(NPG_SHAPE(1), 2.0, NPG_OPTS(.device = dev, .requires_grad = true));
            w.c = npg_full(NPG_SHAPE(1), -1.0, NPG_OPTS(.device = dev, .requires_grad = true));
            double t = w.a && w.b && w.c ? bench_time(body_fwd_bwd, sync_dev, &w, tm) : NAN;
            if (isfinite(t)) x->value = t * 1e6;
            else bench_note_error(x, "failed");
            npg_scope_end(s);
            bench_progress("%s overhead_fwd_bwd: %.3f us", d, x->value);
        }
    }
}

typedef struct ew_op {
    const char *name;
    bench_body body;
    double bytes_per_elem; /* in units of the element size: reads + writes */
    bool triad;            /* CPU ceiling is the triad (binary ops) rather than the copy */
} ew_op;

static void run_elementwise(const bench_opts *o, npg_device dev, bench_results *r, const bench_timing *tm,
                            npg_dtype dt, int64_t n) {
    static const ew_op ops[] = {{"exp", body_exp, 2, false},
                                {"add", body_add, 3, true},
                                {"mul", body_mul, 3, true},
                                {"sum", body_sum, 1, false},
                                {"sum_axis0", body_sum_axis0, 1, false},
                                {"sum_axis0_wide", body_sum_axis0_wide, 1, false}};
    enum { NOPS = sizeof ops / sizeof ops[0] };
    bool want[NOPS], any = false;
    for (int i = 0; i < NOPS; i++) {
        want[i] = bench_selected(o, ops[i].name);
        any |= want[i];
    }
    if (!any) return;
    const char *d = bench_device_str(dev), *dts = npg_dtype_name(dt);
    size_t es = npg_dtype_size(dt);
    npg_scope s = npg_scope_begin();
    wctx w = {.dev = dev, .n = n, .dt = dt};
    /* integers: small values (their sums stay exact, as torch_ref.py's) */
    const bool fl = npg_is_floating(dt);
    w.a = fl ? npg_rand(NPG_SHAPE(n), NPG_OPTS(.dtype = dt, .device = dev))
             : npg_randint(0, 100, NPG_SHAPE(n), NPG_OPTS(.dtype = dt, .device = dev));
    w.b = fl ? npg_rand(NPG_SHAPE(n), NPG_OPTS(.dtype = dt, .device = dev))
             : npg_randint(0, 100, NPG_SHAPE(n), NPG_OPTS(.dtype = dt, .device = dev));
    w.c = npg_empty(NPG_SHAPE(n), NPG_OPTS(.dtype = dt, .device = dev));
    int64_t cols = n >= 1024 ? 1024 : n, wcols = n >= 4096 ? 4096 : n;
    w.a2 = npg_reshape(w.a, NPG_SHAPE(n / cols, cols));
    w.a3 = npg_reshape(w.a, NPG_SHAPE(n / wcols, wcols));
    bool ok = w.a && w.b && w.c && w.a2 && w.a3 && npg_synchronize(dev) == NPG_OK;
    char why[200] = "";
    if (!ok) snprintf(why, sizeof why, "allocation failed: %.170s", npg_last_error());
    else {
        w.pa = npg_data(w.a);
        w.pb = npg_data(w.b);
        w.pc = npg_data(w.c);
    }
    for (int i = 0; i < NOPS; i++) {
        if (!want[i] || (!fl && ops[i].body == body_exp)) continue; /* exp of an integer is a float op */
        bench_result *x = bench_results_add(r, ops[i].name, d, dts, n);
        if (!x) break;
        bench_set_unit(x, "bandwidth", "GB/s", false);
        if (!ok) {
            snprintf(x->note, sizeof x->note, "%s", why);
            continue;
        }
        double bytes = ops[i].bytes_per_elem * (double)n * (double)es;
        if (!strcmp(ops[i].name, "sum_axis0")) bytes += (double)cols * (double)es;
        if (!strcmp(ops[i].name, "sum_axis0_wide")) bytes += (double)wcols * (double)es;
        bench_job job = {ops[i].body, sync_dev, &w};
        const char *cname = "";
        /* binary ops against the triad on the CPU; everything else, and the half
         * types (no half triad), against the copy of the same bytes */
        const bool triad = ops[i].triad && dev.type == NPG_DEVICE_CPU && (dt == NPG_FLOAT32 || dt == NPG_FLOAT64);
        double t = time_with_ceiling(&job, &w, triad, tm, &x->ceiling, &cname);
        snprintf(x->ceiling_name, sizeof x->ceiling_name, "%s", cname);
        if (isfinite(t)) x->value = bytes / t / 1e9;
        else bench_note_error(x, "failed");
        bench_progress("%s %s %s %s: %.2f GB/s (%s %.2f)", d, ops[i].name, dts, x->size_label, x->value, cname,
                       x->ceiling);
    }
    npg_clear_error();
    npg_scope_end(s);
}

static void run_matmul(const bench_opts *o, npg_device dev, bench_results *r, const bench_timing *tm, npg_dtype dt,
                       int64_t n) {
    if (!bench_selected(o, "matmul")) return;
    const char *d = bench_device_str(dev), *dts = npg_dtype_name(dt);
    bench_result *x = bench_results_add(r, "matmul", d, dts, n);
    if (!x) return;
    snprintf(x->size_label, sizeof x->size_label, "%lld", (long long)n);
    bench_set_unit(x, "throughput", "GFLOP/s", false);
    snprintf(x->ceiling_name, sizeof x->ceiling_name, "%s", dev.type == NPG_DEVICE_CUDA ? "cublas gemm" : "cblas gemm");
    npg_scope s = npg_scope_begin();
    wctx w = {.dev = dev, .n = n, .dt = dt, .threads = npg_get_num_threads()};
    w.a = npg_randn(NPG_SHAPE(n, n), NPG_OPTS(.dtype = dt, .device = dev));
    w.b = npg_randn(NPG_SHAPE(n, n), NPG_OPTS(.dtype = dt, .device = dev));
    w.c = npg_empty(NPG_SHAPE(n, n), NPG_OPTS(.dtype = dt, .device = dev));
    /* the CPU ceiling of a half product: sgemm on float32 copies */
    const bool half32 = dev.type == NPG_DEVICE_CPU && (dt == NPG_FLOAT16 || dt == NPG_BFLOAT16);
    wctx w32 = w;
    if (half32) {
        snprintf(x->ceiling_name, sizeof x->ceiling_name, "cblas sgemm (float32)");
        w32.dt = NPG_FLOAT32;
        w32.a = npg_astype(w.a, NPG_FLOAT32);
        w32.b = npg_astype(w.b, NPG_FLOAT32);
        w32.c = npg_empty(NPG_SHAPE(n, n), NPG_OPTS(.device = dev));
    }
    double flops = 2.0 * (double)n * (double)n * (double)n;
    if (!(w.a && w.b && w.c && w32.a && w32.b && w32.c) || npg_synchronize(dev) != NPG_OK) {
        bench_note_error(x, "allocation failed");
    } else {
        w.pa = npg_data(w.a);
        w.pb = npg_data(w.b);
        w.pc = npg_data(w.c);
        w32.pa = npg_data(w32.a);
        w32.pb = npg_data(w32.b);
        w32.pc = npg_data(w32.c);
        /* the direct BLAS call and npg side by side, on the same buffers */
        bench_job jobs[2] = {{body_matmul, sync_dev, &w}, {body_gemm_cpu, NULL, &w32}};
        int k = 2;
        if (dev.type == NPG_DEVICE_CUDA) {
#ifdef NPG_BENCH_CUDA
            jobs[1] = (bench_job){body_gemm_cuda, sync_dev, &w};
#else
            k = 1; /* no direct cuBLAS call in this build */
#endif
        }
        double out[2] = {NAN, NAN};
        bench_time_group(k, jobs, tm, out);
        x->ceiling = flops / out[1] / 1e9;
        if (isfinite(out[0])) x->value = flops / out[0] / 1e9;
        else bench_note_error(x, "failed");
    }
    bench_progress("%s matmul %s %lld: %.1f GFLOP/s (ceiling %.1f)", d, dts, (long long)n, x->value, x->ceiling);
    npg_clear_error();
    npg_scope_end(s);
}

static int solve_sizes(const bench_opts *o, int64_t *out) {
    static const int64_t full[] = {256, 1024, 2048};
    static const int64_t quick[] = {256, 1024};
    static const int64_t tiny[] = {64};
    const int64_t *s = o->tiny ? tiny : o->quick ? quick : full;
    int n = o->tiny ? 1 : o->quick ? 2 : 3;
    memcpy(out, s, (size_t)n * sizeof *s);
    return n;
}

static void run_solve(const bench_opts *o, npg_device dev, bench_results *r, const bench_timing *tm, npg_dtype dt,
                      int64_t n) {
    if (!bench_selected(o, "solve")) return;
    const char *d = bench_device_str(dev), *dts = npg_dtype_name(dt);
    bench_result *x = bench_results_add(r, "solve", d, dts, n);
    if (!x) return;
    snprintf(x->size_label, sizeof x->size_label, "%lld", (long long)n);
    bench_set_unit(x, "throughput", "GFLOP/s", false);
    if (dev.type == NPG_DEVICE_CPU) snprintf(x->ceiling_name, sizeof x->ceiling_name, "lapack gesv");
    npg_scope s = npg_scope_begin();
    wctx w = {.dev = dev, .n = n, .dt = dt};
    /* well conditioned: randn + n I */
    w.a = npg_add(npg_randn(NPG_SHAPE(n, n), NPG_OPTS(.dtype = dt, .device = dev)),
                  npg_multiply_scalar(npg_eye(n, NPG_OPTS(.dtype = dt, .device = dev)), (double)n));
    w.b = npg_randn(NPG_SHAPE(n), NPG_OPTS(.dtype = dt, .device = dev));
    double flops = 2.0 / 3.0 * (double)n * (double)n * (double)n + 2.0 * (double)n * (double)n;
    size_t es = npg_dtype_size(dt);
    if (dev.type == NPG_DEVICE_CPU) {
        w.pc = malloc((size_t)n * (size_t)n * es);
        w.pd = malloc((size_t)n * es);
        w.ipiv = malloc((size_t)n * sizeof(int));
    }
    if (!(w.a && w.b) || npg_synchronize(dev) != NPG_OK ||
        (dev.type == NPG_DEVICE_CPU && !(w.pc && w.pd && w.ipiv))) {
        bench_note_error(x, "allocation failed");
    } else {
        bench_job jobs[2] = {{body_solve, sync_dev, &w}, {body_gesv_cpu, NULL, &w}};
        int k = 1;
        if (dev.type == NPG_DEVICE_CPU) {
            w.pa = npg_data(w.a);
            w.pb = npg_data(w.b);
            k = 2;
        } else {
            snprintf(x->note, sizeof x->note, "no direct cuSOLVER ceiling in npg-bench yet");
        }
        double out[2] = {NAN, NAN};
        bench_time_group(k, jobs, tm, out);
        x->ceiling = k == 2 ? flops / out[1] / 1e9 : NAN;
        if (isfinite(out[0])) x->value = flops / out[0] / 1e9;
        else bench_note_error(x, "failed");
    }
    free(w.pc);
    free(w.pd);
    free(w.ipiv);
    bench_progress("%s solve %s %lld: %.1f GFLOP/s (ceiling %.1f)", d, dts, (long long)n, x->value, x->ceiling);
    npg_clear_error();
    npg_scope_end(s);
}

/* An idle GPU runs at low clocks (an H200's SM clock read 345 MHz idle,
 * 1980 MHz under load): tiny kernels then likely take longer on the device
 * than to launch. overhead_add, the first figure, read 13.5 us on an H100 in
 * a full run after an idle spell, and 3.7 us (an empty kernel's launch: 3.4)
 * on the same kind of machine right after other GPU work. Half a second of
 * adds on 16M floats first. */
static void warm_gpu(npg_device dev) {
    if (dev.type != NPG_DEVICE_CUDA) return;
    npg_scope s = npg_scope_begin();
    npg_array *a = npg_ones(NPG_SHAPE((int64_t)1 << 24), NPG_OPTS(.device = dev));
    double t0 = bench_now();
    while (a && bench_now() - t0 < 0.5) {
        for (int i = 0; i < 20; i++) npg_free(npg_add(a, a));
        npg_synchronize(dev);
    }
    npg_clear_error();
    npg_scope_end(s);
}

int bench_run_micro(const bench_opts *o, npg_device dev, bench_results *r) {
    bench_timing tm = bench_timing_for(o);
    int before = r->n;
    warm_gpu(dev);
    run_overhead(o, dev, r, &tm);
    int64_t sizes[8];
    int ns = elem_sizes(o, sizes);
    const npg_dtype dts[5] = {NPG_FLOAT32, NPG_FLOAT64, NPG_BFLOAT16, NPG_FLOAT16, NPG_INT8};
    /* size outermost: each size's ceilings are measured right before its ops */
    for (int i = 0; i < ns; i++)
        for (int k = 0; k < 5; k++) run_elementwise(o, dev, r, &tm, dts[k], sizes[i]);
    ns = matmul_sizes(o, sizes);
    for (int k = 0; k < 4; k++)
        for (int i = 0; i < ns; i++) run_matmul(o, dev, r, &tm, dts[k], sizes[i]);
    ns = solve_sizes(o, sizes);
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < ns; i++) run_solve(o, dev, r, &tm, dts[k], sizes[i]);
    return r->n - before;
}
