/*
 * main.c — npg-bench: measures npg on every available device and says, in
 * one run, how close each figure is to the machine's own limit (copy/triad
 * bandwidth, direct OpenBLAS/cuBLAS) and to PyTorch (bench/torch_ref.py).
 * Prints a table on stdout (progress on stderr); --json and --svg write the
 * same results to files. See bench_usage() for the options.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static int write_file(const char *path, int (*fn)(FILE *, const bench_machine *, const bench_results *),
                      const bench_machine *m, const bench_results *r) {
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "npg-bench: cannot write %s\n", path);
        return -1;
    }
    int rc = fn(f, m, r);
    if (fclose(f) != 0) rc = -1;
    if (rc) fprintf(stderr, "npg-bench: error writing %s\n", path);
    return rc;
}

int main(int argc, char **argv) {
    bench_opts o;
    char err[256];
    int rc = bench_parse_args(argc, argv, &o, err, sizeof err);
    if (rc == 1) {
        bench_usage(stdout, argv[0]);
        return 0;
    }
    if (rc < 0) {
        fprintf(stderr, "npg-bench: %s\n", err);
        bench_usage(stderr, argv[0]);
        return 2;
    }
    if (o.threads > 0) npg_set_num_threads(o.threads);
    else npg_set_num_threads(npg_get_num_threads()); /* OpenMP and OpenBLAS agree from here on */

    bench_machine m;
    bench_machine_collect(&m, &o);
    bool cuda = npg_cuda_available();
    int devices = o.devices ? o.devices : (BENCH_DEV_CPU | (cuda ? BENCH_DEV_CUDA : 0));
    if ((devices & BENCH_DEV_CUDA) && !cuda) {
        fprintf(stderr, "npg-bench: --device cuda: no CUDA device is available (%s)\n",
#ifdef NPG_BENCH_CUDA
                "npg was built with CUDA but found no GPU"
#else
                "npg was built without CUDA"
#endif
        );
        return 1;
    }
    if (!cuda && o.devices == 0)
        bench_progress("no CUDA device available: measuring the CPU only");

    double t0 = bench_now();
    bench_results r = {0};
    if (devices & BENCH_DEV_CPU) {
        bench_run_micro(&o, NPG_CPU, &r);
        bench_run_macro(&o, NPG_CPU, &r);
    }
    if (devices & BENCH_DEV_CUDA) {
        bench_run_micro(&o, NPG_CUDA(0), &r);
        bench_run_macro(&o, NPG_CUDA(0), &r);
#ifdef NPG_BENCH_CUDA
        npgb_cuda_shutdown();
#endif
    }
    if (r.n == 0) fprintf(stderr, "npg-bench: no workload matches --filter '%s'\n", o.filter ? o.filter : "");
    double t_npg = bench_now() - t0;
    bench_torch_run(&o, &r, &m);
    bench_progress("npg %.1f s, PyTorch %.1f s", t_npg, bench_now() - t0 - t_npg);

    bench_results_sort(&r);
    bench_print_table(stdout, &m, &r);
    int status = 0;
    if (o.json_path && write_file(o.json_path, bench_write_json, &m, &r) != 0) status = 1;
    if (o.svg_path && write_file(o.svg_path, bench_write_svg, &m, &r) != 0) status = 1;
    bench_results_free(&r);
    return status;
}
