/* probe.c: host enqueue vs total time per small npg op on CUDA (see README.md). */
#define _POSIX_C_SOURCE 200809L
#include <npg.h>
#include <stdio.h>
#include <time.h>
void raw_probe(void);
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
int main(void) {
    npg_device d = NPG_CUDA(0);
    npg_array *big = npg_ones(NPG_SHAPE(1 << 24), NPG_OPTS(.device = d));
    if (!big) { printf("%s\n", npg_last_error()); return 1; }
    for (int i = 0; i < 300; i++) npg_free(npg_add(big, big)); /* warm the clocks */
    npg_synchronize(d);
    int ns[3] = {1, 1024, 1 << 20};
    for (int k = 0; k < 3; k++) {
        npg_array *a = npg_ones(NPG_SHAPE(ns[k]), NPG_OPTS(.device = d)), *b = npg_ones(NPG_SHAPE(ns[k]), NPG_OPTS(.device = d));
        npg_free(npg_add(a, b)); npg_synchronize(d);
        for (int N = 100; N <= 10000; N *= 100)
            for (int rep = 0; rep < 3; rep++) {
                double t0 = now();
                for (int i = 0; i < N; i++) npg_free(npg_add(a, b));
                double t1 = now();
                npg_synchronize(d);
                double t2 = now();
                printf("npg_add n=%-8d N=%-6d host %.2f us/op  total %.2f us/op\n", ns[k], N, (t1 - t0) / N * 1e6, (t2 - t0) / N * 1e6);
            }
        npg_free(a); npg_free(b);
    }
    raw_probe();
    npg_array *m = npg_ones(NPG_SHAPE(64, 64), NPG_OPTS(.device = d));
    npg_free(npg_matmul(m, m)); npg_synchronize(d);
    for (int rep = 0; rep < 3; rep++) {
        int N = 1000; double t0 = now();
        for (int i = 0; i < N; i++) npg_free(npg_matmul(m, m));
        double t1 = now(); npg_synchronize(d); double t2 = now();
        printf("npg_matmul 64 N=%d host %.2f us/op  total %.2f us/op\n", N, (t1 - t0) / N * 1e6, (t2 - t0) / N * 1e6);
    }
    return 0;
}
