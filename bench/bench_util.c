/*
 * bench_util.c — npg-bench's plumbing: argument parsing, the result list and
 * its ratios, the median, the timing harness, and the machine record.
 * Leaves out: the workloads (bench_micro.c, bench_macro.c), the reports
 * (bench_report.c) and PyTorch (bench_torch.c).
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <cblas.h>

#include "bench.h"

bool bench_quiet = false;

void bench_progress(const char *fmt, ...) {
    if (bench_quiet) return;
    va_list ap;
    va_start(ap, fmt);
    fputs("npg-bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

const char *bench_device_str(npg_device d) { return d.type == NPG_DEVICE_CUDA ? "cuda" : "cpu"; }

void bench_note_error(bench_result *x, const char *what) {
    if (!x) return;
    const char *e = npg_last_error();
    snprintf(x->note, sizeof x->note, "%s%s%.180s", what, e && *e ? ": " : "", e && *e ? e : "");
    npg_clear_error();
}

void bench_set_unit(bench_result *x, const char *metric, const char *unit, bool lower_is_better) {
    snprintf(x->metric, sizeof x->metric, "%s", metric);
    snprintf(x->unit, sizeof x->unit, "%s", unit);
    x->lower_is_better = lower_is_better;
}

/* ---- options ------------------------------------------------------------- */

void bench_usage(FILE *f, const char *argv0) {
    fprintf(f,
            "usage: %s [options]\n"
            "Measures npg against the machine's own limits (copy/triad bandwidth, direct\n"
            "OpenBLAS/cuBLAS calls) and against PyTorch, in one run.\n"
            "\n"
            "  --device cpu|cuda|all   devices to measure (default: all available)\n"
            "  --filter SUBSTR         only workloads whose name contains SUBSTR\n"
            "                          (overhead_add overhead_fwd_bwd exp add mul sum sum_axis0\n"
            "                           sum_axis0_wide matmul solve mlp_step cnn_step lstm_step mlp_epoch)\n"
            "  --quick                 small sizes and few repetitions (under a minute)\n"
            "  --json FILE             write the results as JSON\n"
            "  --svg FILE              write a bar chart (npg vs ceiling vs PyTorch)\n"
            "  --torch PYTHON          the Python that has PyTorch (default: /usr/bin/python3,\n"
            "                          then python3 on PATH)\n"
            "  --torch-script FILE     torch_ref.py (default: next to npg-bench, then the source tree)\n"
            "  --no-torch              skip the PyTorch comparison\n"
            "  --threads N             CPU threads for npg, the ceilings and PyTorch\n"
            "                          (default: npg's, one per processor)\n"
            "  --reps N                timed repetitions per figure (default 7; 3 with --quick)\n"
            "  --data DIR              Fashion-MNIST IDX files (default /usr/share/datasets/fashion-mnist)\n"
            "  --help                  this text\n"
            "\n"
            "Figures are medians after a warm-up. Ratios are speed ratios: >1 means npg is\n"
            "faster than the reference (value/ceiling for GB/s and GFLOP/s, ceiling/value for\n"
            "times). The machine is shared and noisy: compare within one run.\n",
            argv0);
}

static int parse_int(const char *s, int *out) {
    if (!s || !*s) return -1;
    errno = 0;
    char *end;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < 1 || v > 1000000) return -1;
    *out = (int)v;
    return 0;
}

int bench_parse_args(int argc, char **argv, bench_opts *o, char *err, size_t errlen) {
    memset(o, 0, sizeof *o);
    bool torch_given = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        /* --opt=value and --opt value */
        char key[64];
        const char *val = NULL;
        const char *eq = strncmp(a, "--", 2) == 0 ? strchr(a, '=') : NULL;
        if (eq) {
            size_t k = (size_t)(eq - a);
            if (k >= sizeof key) k = sizeof key - 1;
            memcpy(key, a, k);
            key[k] = 0;
            val = eq + 1;
        } else {
            snprintf(key, sizeof key, "%s", a);
        }
        bool takes = !strcmp(key, "--device") || !strcmp(key, "--filter") || !strcmp(key, "--json") ||
                     !strcmp(key, "--svg") || !strcmp(key, "--torch") || !strcmp(key, "--torch-script") ||
                     !strcmp(key, "--threads") || !strcmp(key, "--reps") || !strcmp(key, "--data");
        if (takes && !val) {
            if (i + 1 >= argc) {
                snprintf(err, errlen, "%s needs a value", key);
                return -1;
            }
            val = argv[++i];
        } else if (!takes && val) {
            snprintf(err, errlen, "%s takes no value", key);
            return -1;
        }
        if (!strcmp(key, "--help") || !strcmp(key, "-h")) {
            o->help = true;
        } else if (!strcmp(key, "--quick")) {
            o->quick = true;
        } else if (!strcmp(key, "--no-torch")) {
            o->no_torch = true;
        } else if (!strcmp(key, "--device")) {
            if (!strcmp(val, "cpu")) o->devices = BENCH_DEV_CPU;
            else if (!strcmp(val, "cuda")) o->devices = BENCH_DEV_CUDA;
            else if (!strcmp(val, "all")) o->devices = 0;
            else {
                snprintf(err, errlen, "--device must be cpu, cuda or all (got '%s')", val);
                return -1;
            }
        } else if (!strcmp(key, "--filter")) {
            if (!*val) {
                snprintf(err, errlen, "--filter needs a non-empty substring");
                return -1;
            }
            o->filter = val;
        } else if (!strcmp(key, "--json") || !strcmp(key, "--svg") || !strcmp(key, "--torch") ||
                   !strcmp(key, "--torch-script") || !strcmp(key, "--data")) {
            if (!*val) {
                snprintf(err, errlen, "%s needs a non-empty value", key);
                return -1;
            }
            if (!strcmp(key, "--json")) o->json_path = val;
            else if (!strcmp(key, "--svg")) o->svg_path = val;
            else if (!strcmp(key, "--torch")) o->torch_python = val, torch_given = true;
            else if (!strcmp(key, "--torch-script")) o->torch_script = val;
            else o->data_dir = val;
        } else if (!strcmp(key, "--threads") || !strcmp(key, "--reps")) {
            int v;
            if (parse_int(val, &v) != 0 || (!strcmp(key, "--reps") && v > 64)) {
                snprintf(err, errlen, "%s needs a positive integer%s (got '%s')", key,
                         !strcmp(key, "--reps") ? " up to 64" : "", val);
                return -1;
            }
            if (!strcmp(key, "--threads")) o->threads = v;
            else o->reps = v;
        } else {
            snprintf(err, errlen, "unknown argument '%s' (try --help)", a);
            return -1;
        }
    }
    if (torch_given && o->no_torch) {
        snprintf(err, errlen, "--torch and --no-torch contradict each other");
        return -1;
    }
    return o->help ? 1 : 0;
}

bool bench_selected(const bench_opts *o, const char *name) {
    return !o->filter || strstr(name, o->filter) != NULL;
}

const char *bench_data_dir(const bench_opts *o) {
    return o->data_dir ? o->data_dir : "/usr/share/datasets/fashion-mnist";
}

/* ---- results ------------------------------------------------------------- */

const char *const bench_workloads[] = {"overhead_add", "overhead_fwd_bwd", "exp",      "add",       "mul",
                                       "sum",          "sum_axis0",        "sum_axis0_wide", "matmul",   "solve",     "mlp_step",  "cnn_step",
                                       "lstm_step",    "mlp_epoch",        NULL};

int bench_workload_rank(const char *name) {
    for (int i = 0; bench_workloads[i]; i++)
        if (!strcmp(bench_workloads[i], name)) return i;
    return -1;
}

bench_result *bench_results_add(bench_results *r, const char *name, const char *device, const char *dtype,
                                int64_t size) {
    if (r->n == r->cap) {
        int cap = r->cap ? 2 * r->cap : 64;
        bench_result *v = realloc(r->v, (size_t)cap * sizeof *v);
        if (!v) return NULL;
        r->v = v;
        r->cap = cap;
    }
    bench_result *x = &r->v[r->n++];
    memset(x, 0, sizeof *x);
    snprintf(x->name, sizeof x->name, "%s", name);
    snprintf(x->device, sizeof x->device, "%s", device);
    snprintf(x->dtype, sizeof x->dtype, "%s", dtype);
    x->size = size;
    bench_format_count(size, x->size_label, sizeof x->size_label);
    x->value = x->ceiling = x->torch = NAN;
    return x;
}

void bench_results_free(bench_results *r) {
    free(r->v);
    r->v = NULL;
    r->n = r->cap = 0;
}

static int device_rank(const char *d) { return !strcmp(d, "cpu") ? 0 : 1; }

static int cmp_result(const void *pa, const void *pb) {
    const bench_result *a = pa, *b = pb;
    int c = device_rank(a->device) - device_rank(b->device);
    if (c) return c;
    c = bench_workload_rank(a->name) - bench_workload_rank(b->name);
    if (c) return c;
    c = strcmp(a->dtype, b->dtype);
    if (c) return c;
    return a->size < b->size ? -1 : a->size > b->size;
}

void bench_results_sort(bench_results *r) {
    if (r->n > 1) qsort(r->v, (size_t)r->n, sizeof *r->v, cmp_result);
}

double bench_ratio(double value, double reference, bool lower_is_better) {
    if (!isfinite(value) || !isfinite(reference) || value <= 0 || reference <= 0) return NAN;
    return lower_is_better ? reference / value : value / reference;
}

double bench_result_ratio(const bench_result *r) { return bench_ratio(r->value, r->ceiling, r->lower_is_better); }
double bench_result_torch_ratio(const bench_result *r) { return bench_ratio(r->value, r->torch, r->lower_is_better); }

static int cmp_double(const void *pa, const void *pb) {
    double a = *(const double *)pa, b = *(const double *)pb;
    return a < b ? -1 : a > b;
}

double bench_median(double *v, int n) {
    if (n <= 0) return NAN;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

void bench_format_count(int64_t n, char *buf, size_t len) {
    if (n >= 1024 && (n & (n - 1)) == 0) {
        if (n >= ((int64_t)1 << 30)) snprintf(buf, len, "%lldG", (long long)(n >> 30));
        else if (n >= ((int64_t)1 << 20)) snprintf(buf, len, "%lldM", (long long)(n >> 20));
        else snprintf(buf, len, "%lldK", (long long)(n >> 10));
    } else {
        snprintf(buf, len, "%lld", (long long)n);
    }
}

/* ---- timing ------------------------------------------------------------- */

double bench_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

bench_timing bench_timing_for(const bench_opts *o) {
    bench_timing t;
    if (o->tiny) t = (bench_timing){.min_rep_s = 0.0005, .reps = 2, .max_total_s = 0.2};
    else if (o->quick) t = (bench_timing){.min_rep_s = 0.004, .reps = 3, .max_total_s = 0.6};
    else t = (bench_timing){.min_rep_s = 0.05, .reps = 7, .max_total_s = 12};
    if (o->reps > 0) t.reps = o->reps;
    return t;
}

static double time_rep(bench_body body, bench_sync sync, void *ctx, int64_t iters) {
    if (sync) sync(ctx);
    double t0 = bench_now();
    if (body(ctx, iters) != 0) return NAN;
    if (sync) sync(ctx);
    return bench_now() - t0;
}

/* Grow the iteration count until one repetition takes min_rep_s (these runs
 * warm up); one more warm-up repetition when that is cheap. Returns the
 * seconds of the last repetition, NaN if the body failed. */
static double calibrate(const bench_job *j, const bench_timing *t, int64_t *iters_out) {
    int64_t iters = 1;
    double dt = time_rep(j->body, j->sync, j->ctx, iters);
    int grown = 0;
    while (!isnan(dt) && dt < t->min_rep_s && iters < ((int64_t)1 << 26)) {
        double f = dt > 0 ? 1.3 * t->min_rep_s / dt : 100;
        if (f < 2) f = 2;
        if (f > 100) f = 100;
        iters = (int64_t)ceil((double)iters * f);
        dt = time_rep(j->body, j->sync, j->ctx, iters);
        grown++;
    }
    if (!isnan(dt) && grown == 0 && dt < 0.25 * t->max_total_s) dt = time_rep(j->body, j->sync, j->ctx, iters);
    *iters_out = iters;
    return dt;
}

void bench_time_group(int k, const bench_job *jobs, const bench_timing *t, double *out) {
    enum { MAX_REPS = 64 };
    if (k > BENCH_MAX_JOBS) k = BENCH_MAX_JOBS;
    int64_t iters[BENCH_MAX_JOBS];
    double rep_s = 0;
    bool ok[BENCH_MAX_JOBS];
    for (int i = 0; i < k; i++) {
        double dt = calibrate(&jobs[i], t, &iters[i]);
        ok[i] = !isnan(dt);
        out[i] = NAN;
        if (ok[i]) rep_s += dt;
    }
    int reps = t->reps < 1 ? 1 : t->reps > MAX_REPS ? MAX_REPS : t->reps;
    double budget = t->max_total_s * k;
    if (rep_s * reps > budget) {
        int r = (int)(budget / rep_s);
        reps = r < 1 ? 1 : r < reps ? r : reps;
    }
    double per[BENCH_MAX_JOBS][MAX_REPS];
    for (int r = 0; r < reps; r++)
        for (int i = 0; i < k; i++) {
            if (!ok[i]) continue;
            double d = time_rep(jobs[i].body, jobs[i].sync, jobs[i].ctx, iters[i]);
            if (isnan(d)) ok[i] = false;
            else per[i][r] = d / (double)iters[i];
        }
    for (int i = 0; i < k; i++)
        if (ok[i]) out[i] = bench_median(per[i], reps);
}

double bench_time(bench_body body, bench_sync sync, void *ctx, const bench_timing *t) {
    bench_job j = {body, sync, ctx};
    double s;
    bench_time_group(1, &j, t, &s);
    return s;
}

/* ---- the machine -------------------------------------------------------- */

static void cpu_model(char *buf, size_t len) {
    snprintf(buf, len, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) != 0 && strncmp(line, "Model", 5) != 0) continue;
        char *c = strchr(line, ':');
        if (!c) continue;
        c++;
        while (*c == ' ' || *c == '\t') c++;
        size_t n = strlen(c);
        while (n && (c[n - 1] == '\n' || c[n - 1] == ' ')) c[--n] = 0;
        snprintf(buf, len, "%s", c);
        break;
    }
    fclose(f);
}

void bench_machine_collect(bench_machine *m, const bench_opts *o) {
    memset(m, 0, sizeof *m);
    cpu_model(m->cpu, sizeof m->cpu);
    long nproc = sysconf(_SC_NPROCESSORS_ONLN);
    m->cores = nproc > 0 ? (int)nproc : 1;
    m->threads = npg_get_num_threads();
    m->has_gpu = npg_cuda_available();
    if (m->has_gpu && npg_device_name(NPG_CUDA(0), m->gpu, sizeof m->gpu) != NPG_OK) snprintf(m->gpu, sizeof m->gpu, "cuda:0");
    struct utsname u;
    if (uname(&u) == 0) snprintf(m->os, sizeof m->os, "%.40s %.70s %.40s", u.sysname, u.release, u.machine);
    else snprintf(m->os, sizeof m->os, "unknown");
    snprintf(m->npg_version, sizeof m->npg_version, "%s", NPG_VERSION);
    const char *cfg = openblas_get_config();
    const char *core = openblas_get_corename();
    snprintf(m->blas, sizeof m->blas, "%.150s%s%.40s", cfg ? cfg : "OpenBLAS", core ? " core " : "", core ? core : "");
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(m->date, sizeof m->date, "%Y-%m-%dT%H:%M:%SZ", &tm);
    m->quick = o->quick;
    snprintf(m->torch_note, sizeof m->torch_note, "not run");
}
