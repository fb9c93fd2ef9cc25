/*
 * bench.h — npg-bench's shared declarations: options, results, the timing
 * harness, the machine record, the JSON writer and reader, the table and SVG
 * reports, the PyTorch side-by-side run, and the workloads.
 *
 * Every figure is a ratio against a reference measured in the same run on
 * the same machine (a copy/triad ceiling, a direct BLAS call, PyTorch).
 * Ratios are speed ratios: above 1 means npg is faster than the reference
 * (value / reference for throughputs, reference / value for times).
 * Nothing here asserts on a timing.
 */
#ifndef NPG_BENCH_H
#define NPG_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "npg.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- options ----------------------------------------------------------- */

enum { BENCH_DEV_CPU = 1, BENCH_DEV_CUDA = 2, BENCH_DEV_ALL = 3 };

typedef struct bench_opts {
    bool help;
    bool quick;              /* small sizes, few repetitions (< 1 minute on 2 cores) */
    bool tiny;               /* tiny sizes for the test suite (no option) */
    bool no_torch;           /* skip PyTorch */
    int devices;             /* BENCH_DEV_* mask; 0 = every available device */
    int threads;             /* CPU threads for npg (0: npg's default) */
    int reps;                /* timed repetitions (0: 3 quick, 7 full) */
    const char *json_path;   /* --json FILE */
    const char *svg_path;    /* --svg FILE */
    const char *filter;      /* --filter SUBSTR */
    const char *torch_python; /* --torch PYTHON (NULL: /usr/bin/python3, then python3) */
    const char *torch_script; /* --torch-script PATH (NULL: found next to the binary or in the source tree) */
    const char *data_dir;    /* --data DIR (default /usr/share/datasets/fashion-mnist) */
} bench_opts;

/* Parse argv into *o (zeroed first). Returns 0 on success, 1 for --help,
 * -1 on bad input with a message in err. */
int bench_parse_args(int argc, char **argv, bench_opts *o, char *err, size_t errlen);
void bench_usage(FILE *f, const char *argv0);
/* Whether workload `name` passes --filter. */
bool bench_selected(const bench_opts *o, const char *name);
/* Default data directory. */
const char *bench_data_dir(const bench_opts *o);

/* ---- results ------------------------------------------------------------ */

typedef struct bench_result {
    char name[32];          /* workload: "add", "matmul", "mlp_step", ... */
    char device[16];        /* "cpu", "cuda" */
    char dtype[12];         /* "float32", "float64" */
    int64_t size;           /* elements, matrix order, batch or images */
    char size_label[24];    /* "16M", "1024", "b128" (table only) */
    char metric[16];        /* "time", "bandwidth", "throughput" */
    char unit[12];          /* "us", "ms", "s", "GB/s", "GFLOP/s" */
    bool lower_is_better;   /* times */
    double value;           /* NaN: not measured (note says why) */
    char ceiling_name[40];  /* "" : no ceiling */
    double ceiling;         /* NaN: none */
    double torch;           /* NaN: none */
    char note[200];         /* an error or a remark, "" if none */
} bench_result;

typedef struct bench_results {
    bench_result *v;
    int n, cap;
} bench_results;

/* Append a result with value/ceiling/torch = NaN; NULL on OOM. */
bench_result *bench_results_add(bench_results *r, const char *name, const char *device, const char *dtype,
                                int64_t size);
void bench_results_free(bench_results *r);
/* Sort into the report order: device, workload, dtype, size. */
void bench_results_sort(bench_results *r);
/* Index of a workload name in the report order (-1 if unknown). */
int bench_workload_rank(const char *name);
/* The workloads, in report order, NULL-terminated. */
extern const char *const bench_workloads[];

/* Speed ratio of value against reference: value/reference when higher is
 * better, reference/value for times. NaN ("null") when either is missing,
 * non-finite or not positive. */
double bench_ratio(double value, double reference, bool lower_is_better);
double bench_result_ratio(const bench_result *r);       /* against the ceiling */
double bench_result_torch_ratio(const bench_result *r); /* against PyTorch */

/* Median of v[0..n-1] (sorts v in place); NaN for n <= 0. */
double bench_median(double *v, int n);

/* "1K", "64K", "16M" for powers of two of elements; else the number. */
void bench_format_count(int64_t n, char *buf, size_t len);

/* ---- timing --------------------------------------------------------------- */

/* Runs `iters` iterations of a workload; 0 on success, -1 on failure. */
typedef int (*bench_body)(void *ctx, int64_t iters);
/* Waits until queued device work has finished (NULL: nothing to wait for). */
typedef void (*bench_sync)(void *ctx);

typedef struct bench_timing {
    double min_rep_s;   /* grow the iteration count until one repetition takes this long */
    int reps;           /* timed repetitions (the median is reported) */
    double max_total_s; /* fewer repetitions (at least one) when a repetition is this slow */
} bench_timing;

double bench_now(void); /* monotonic seconds */
/* Median seconds per iteration: calibration runs (also the warm-up), then
 * reps timed repetitions, each wrapped in sync. NaN if body fails. */
double bench_time(bench_body body, bench_sync sync, void *ctx, const bench_timing *t);

/* One of several workloads timed side by side. */
typedef struct bench_job {
    bench_body body;
    bench_sync sync;
    void *ctx;
} bench_job;
enum { BENCH_MAX_JOBS = 4 };
/* Time k <= BENCH_MAX_JOBS jobs side by side: each is calibrated (and warmed
 * up) alone, then their timed repetitions alternate (a b c a b c ...), so
 * that a change in the machine's load reaches a figure and its ceiling
 * alike. out[i]: median seconds per iteration of job i, NaN if it failed
 * (a failing job does not stop the others). */
void bench_time_group(int k, const bench_job *jobs, const bench_timing *t, double *out);
/* The timing recipe for the options (quick, tiny, full). */
bench_timing bench_timing_for(const bench_opts *o);

/* ---- the machine -------------------------------------------------------- */

typedef struct bench_machine {
    char cpu[128];
    int cores;            /* online logical processors */
    int threads;          /* npg's CPU threads (npg_get_num_threads) */
    bool has_gpu;
    char gpu[160];        /* npg_device_name of cuda:0 */
    char os[160];
    char npg_version[16];
    char blas[200];       /* OpenBLAS configuration */
    bool has_torch;
    char torch_version[48];
    char torch_note[240]; /* how PyTorch ran, or why it did not */
    char date[32];        /* UTC, ISO 8601 */
    bool quick;
} bench_machine;

void bench_machine_collect(bench_machine *m, const bench_opts *o);

/* ---- reports ------------------------------------------------------------ */

/* The JSON document: {"machine": {...}, "results": [...]}. 0 on success. */
int bench_write_json(FILE *f, const bench_machine *m, const bench_results *r);
/* A bar chart: per workload, npg vs ceiling vs PyTorch as relative speed. */
int bench_write_svg(FILE *f, const bench_machine *m, const bench_results *r);
/* The table on stdout. */
void bench_print_table(FILE *f, const bench_machine *m, const bench_results *r);

/* ---- a small JSON reader (PyTorch's results; the tests) ------------------ */

typedef enum bench_json_type {
    BENCH_JSON_NULL = 0,
    BENCH_JSON_BOOL,
    BENCH_JSON_NUMBER,
    BENCH_JSON_STRING,
    BENCH_JSON_ARRAY,
    BENCH_JSON_OBJECT
} bench_json_type;

typedef struct bench_json bench_json;
struct bench_json {
    bench_json_type type;
    bool boolean;
    double number;
    char *string;      /* BENCH_JSON_STRING */
    int n;             /* items of an array or object */
    bench_json *items; /* values */
    char **keys;       /* object keys (n of them) */
};

/* Parse a whole document; NULL with a message in err on malformed input. */
bench_json *bench_json_parse(const char *text, char *err, size_t errlen);
void bench_json_free(bench_json *v);
/* The member `key` of an object, or NULL. */
const bench_json *bench_json_get(const bench_json *obj, const char *key);

/* ---- PyTorch --------------------------------------------------------------- */

/* Fill r's torch values from a torch_ref.py JSON document (matched on name,
 * device, dtype and size); sets m's torch fields. Returns the number of
 * values matched, -1 if the document is malformed. */
int bench_torch_merge(const char *json_text, bench_results *r, bench_machine *m);
/* Run torch_ref.py on the workloads in r and merge its results. Returns
 * the number matched, or -1 (with m->torch_note saying why) when PyTorch
 * is absent or failed. */
int bench_torch_run(const bench_opts *o, bench_results *r, bench_machine *m);

/* ---- workloads ------------------------------------------------------------ */

/* Per-op overhead, elementwise, reductions, matmul, with their ceilings. */
int bench_run_micro(const bench_opts *o, npg_device dev, bench_results *r);
/* MLP step (batch 128, 1024), CNN step, Fashion-MNIST epoch. */
int bench_run_macro(const bench_opts *o, npg_device dev, bench_results *r);

/* Helpers shared by the workloads. */
const char *bench_device_str(npg_device d); /* "cpu", "cuda" */
/* Record why a measurement failed (with npg's last error) and clear it. */
void bench_note_error(bench_result *x, const char *what);
void bench_set_unit(bench_result *x, const char *metric, const char *unit, bool lower_is_better);

/* Progress messages go to stderr unless quiet. */
extern bool bench_quiet;
void bench_progress(const char *fmt, ...);

/* ---- CUDA ceilings (bench_cuda.cu; only with NPG_BENCH_CUDA) -------------- */
#ifdef NPG_BENCH_CUDA
/* Enqueue a device-to-device copy of `bytes` (best of cudaMemcpyAsync and a
 * vectorised copy kernel is chosen by the caller via `kernel`). 0 on success. */
int npgb_cuda_copy(void *dst, const void *src, size_t bytes, int kernel);
/* Row-major C (m, n) = op(A) op(B) with cuBLAS: kind NPGB_GEMM_F32 / F64
 * (exact, no TF32) or F16 / BF16 (cublasGemmEx, float32 compute). */
enum { NPGB_GEMM_F32 = 0, NPGB_GEMM_F64 = 1, NPGB_GEMM_F16 = 2, NPGB_GEMM_BF16 = 3 };
int npgb_cuda_gemm(int kind, int ta, int tb, int m, int n, int k, const void *a, const void *b, void *c);
/* Enqueue n launches of an empty kernel: the host cost of a launch, the
 * floor under overhead_add. 0 on success. */
int npgb_cuda_launch_empty(int64_t n);
int npgb_cuda_sync(void);
const char *npgb_cuda_last_error(void);
void npgb_cuda_shutdown(void);
#endif

#ifdef __cplusplus
}
#endif

#endif /* NPG_BENCH_H */
