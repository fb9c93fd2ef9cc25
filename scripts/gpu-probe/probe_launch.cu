/* probe_launch.cu: bare kernel launches on a non-blocking stream, for probe.c. */
#include <cuda_runtime.h>
#include <stdio.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
__global__ void empty_k(void) {}
__global__ void add1_k(float *o, const float *a, const float *b, long n) { long i = blockIdx.x * (long)blockDim.x + threadIdx.x; if (i < n) o[i] = a[i] + b[i]; }
extern "C" void raw_probe(void) {
    float *x, *y, *z;
    cudaMalloc(&x, 4 << 20); cudaMalloc(&y, 4 << 20); cudaMalloc(&z, 4 << 20);
    cudaStream_t s; cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
    for (int which = 0; which < 2; which++)
        for (int N = 100; N <= 10000; N *= 100)
            for (int rep = 0; rep < 3; rep++) {
                double t0 = now();
                for (int i = 0; i < N; i++) { if (which) add1_k<<<1, 256, 0, s>>>(z, x, y, 1); else empty_k<<<1, 32, 0, s>>>(); }
                double t1 = now();
                cudaStreamSynchronize(s);
                double t2 = now();
                printf("%s N=%-6d host %.2f us/op  total %.2f us/op\n", which ? "raw add1 kernel" : "empty kernel   ", N, (t1 - t0) / N * 1e6, (t2 - t0) / N * 1e6);
            }
}
