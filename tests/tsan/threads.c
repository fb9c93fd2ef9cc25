/*
 * threads.c — a data-race check of the library under ThreadSanitizer (built
 * by -DNPG_SANITIZE_THREAD=ON, run by scripts/test.sh; Criterion itself does
 * not start under TSan, so this is a plain program). Four threads train a
 * small linear model, sort, gather, format, reshape into errors, toggle
 * no-grad, the TF32 switch, the default device and the log callback, each
 * on its own data, read one shared weight matrix at once (views, graph
 * nodes, inference, backward passes that add into one leaf's gradient,
 * linear algebra: solve, and svdvals with its backward),
 * then hand arrays to one another to free. Exit 0 when every value checks
 * out; TSan makes any race an exit of 66. Run with
 * OMP_NUM_THREADS=1: libgomp is not instrumented, so its barriers would read
 * as races.
 */
#include <npg.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define NT 4
#define ITERS 30

static npg_array *handoff[NT][32];
static int failures[NT];
static npg_array *shared_w; /* one weight matrix every thread reads at once */
static npg_array *shared_v; /* a shared leaf whose gradient every thread adds to */

static void *worker(void *p) {
    const int id = (int)(long)p;
    const double k = id + 1;
    npg_generator *gen = npg_generator_new(100 + (uint64_t)id);
    for (int it = 0; it < ITERS; it++) {
        npg_scope s = npg_scope_begin();
        npg_array *x = npg_randn(NPG_SHAPE(32, 20), NPG_OPTS(.generator = gen));
        npg_array *w = npg_randn(NPG_SHAPE(10, 20), NPG_OPTS(.requires_grad = true));
        npg_array *lab = npg_randint(0, 10, NPG_SHAPE(32), NULL);
        npg_array *l = npg_cross_entropy(npg_linear(x, w, NULL), lab, NULL);
        if (!l || npg_backward(l, NULL) != NPG_OK || !npg_grad(w)) failures[id]++;
        npg_array *v = npg_full(NPG_SHAPE(64), k, NPG_OPTS(.dtype = NPG_FLOAT64, .requires_grad = true));
        npg_array *y = npg_sum(npg_multiply(v, v), NPG_ALL_AXES, false);
        if (npg_backward(y, NULL) != NPG_OK || npg_item(y) != 64 * k * k) failures[id]++;
        npg_array *big = npg_ones(NPG_SHAPE(100000 + (it % 3) * 4096), NULL);
        if (npg_item(npg_sum(big, NPG_ALL_AXES, false)) != (double)npg_size(big)) failures[id]++;
        npg_array *srt = npg_sort(x, -1, false), *am = npg_argmax(x, 1, true);
        if (!srt || !npg_take_along_axis(x, am, 1)) failures[id]++;
        if (npg_reshape(v, NPG_SHAPE(1000 + id)) || npg_last_status() != NPG_ERR_SHAPE) failures[id]++;
        char needle[32];
        snprintf(needle, sizeof needle, "(%d,)", 1000 + id);
        if (!strstr(npg_last_error(), needle)) failures[id]++;
        npg_clear_error();
        char text[2048]; /* formatting, and the process-wide TF32 switch any thread may flip */
        npg_print_options po = {.precision = 3 + id % 4, .threshold = 1000, .edgeitems = 3, .linewidth = 75};
        if (npg_set_print_options(id % 2 ? &po : NULL) != NPG_OK) failures[id]++; /* process-wide too */
        if (npg_format(x, text, sizeof text) <= 0) failures[id]++;
        npg_set_allow_tf32(false);
        npg_set_default_device(NPG_CPU); /* process-wide settings any thread may change */
        npg_set_log_callback(NULL, NULL, NPG_LOG_WARN);
        if (id % 2) npg_no_grad_begin();
        if (npg_requires_grad(npg_exp(w)) != (id % 2 == 0)) failures[id]++;
        if (id % 2) npg_no_grad_end();
        /* the shared weights: views, graph nodes and backward passes from
         * every thread at once, and inference under no-grad */
        npg_array *h = npg_linear(x, shared_w, NULL); /* takes a view of shared_w */
        if (!h || !npg_requires_grad(h)) failures[id]++;
        if (npg_backward(npg_sum(npg_multiply(h, h), NPG_ALL_AXES, false), NULL) != NPG_OK) failures[id]++;
        if (npg_backward(npg_sum(npg_multiply_scalar(shared_v, k), NPG_ALL_AXES, false), NULL) != NPG_OK)
            failures[id]++;
        npg_no_grad_begin();
        npg_array *hi = npg_matmul(x, npg_matrix_transpose(shared_w));
        npg_no_grad_end();
        if (!hi || npg_item(npg_max(npg_abs(npg_subtract(h, hi)), NPG_ALL_AXES, false)) != 0) failures[id]++;
        /* half types: conversions, and the bfloat16 GEMM's run-time CPU
         * detection, which any thread may be the first to do */
        npg_array *hb = npg_matmul(npg_astype(x, NPG_BFLOAT16), npg_astype(npg_matrix_transpose(shared_w), NPG_BFLOAT16));
        npg_array *hh = npg_matmul(npg_astype(x, NPG_FLOAT16), npg_astype(npg_matrix_transpose(shared_w), NPG_FLOAT16));
        if (!hb || !hh || npg_item(npg_max(npg_abs(npg_subtract(npg_astype(hb, NPG_FLOAT32), hi)), NPG_ALL_AXES, false)) >
                              0.5 ||
            npg_item(npg_max(npg_abs(npg_subtract(npg_astype(hh, NPG_FLOAT32), hi)), NPG_ALL_AXES, false)) > 0.1)
            failures[id]++;
        /* linear algebra on the shared weights (LAPACK with per-thread
         * workspaces and thread counts), with backward passes into them */
        npg_array *gram = npg_add(npg_matmul(shared_w, npg_matrix_transpose(shared_w)),
                                  npg_multiply_scalar(npg_eye(10, NULL), 20));
        npg_array *rhs = npg_sum(shared_w, NPG_AXES(-1), true); /* (10, 1) */
        npg_array *sol = npg_linalg_solve(gram, rhs);
        npg_array *chk = npg_subtract(npg_matmul(gram, sol), rhs);
        if (!chk || npg_item(npg_max(npg_abs(chk), NPG_ALL_AXES, false)) > 1e-3) failures[id]++;
        npg_array *sv = npg_linalg_svdvals(shared_w);
        if (!sv || npg_backward(npg_sum(sv, NPG_ALL_AXES, false), NULL) != NPG_OK) failures[id]++;
        npg_scope_end(s);
    }
    npg_generator_free(gen);
    for (int i = 0; i < 32; i++) handoff[id][i] = npg_full(NPG_SHAPE(i % 2 ? 5 : 30000), i, NULL);
    return NULL;
}

static void *freer(void *p) {
    const int id = (int)(long)p, from = (id + 1) % NT;
    for (int i = 0; i < 32; i++) {
        npg_array *a = handoff[from][i], *sum = npg_sum(a, NPG_ALL_AXES, false);
        if (npg_item(sum) != (double)i * (double)npg_size(a)) failures[id]++;
        npg_free(sum);
        npg_free(a);
    }
    return NULL;
}

int main(void) {
    pthread_t t[NT];
    shared_w = npg_randn(NPG_SHAPE(10, 20), NPG_OPTS(.requires_grad = true));
    shared_v = npg_zeros(NPG_SHAPE(50), NPG_OPTS(.requires_grad = true));
    for (long i = 0; i < NT; i++) pthread_create(&t[i], NULL, worker, (void *)i);
    for (int i = 0; i < NT; i++) pthread_join(t[i], NULL);
    for (long i = 0; i < NT; i++) pthread_create(&t[i], NULL, freer, (void *)i);
    for (int i = 0; i < NT; i++) pthread_join(t[i], NULL);
    npg_free(shared_w);
    npg_scope s = npg_scope_begin();
    npg_array *gv = npg_grad(shared_v); /* every pass added k = 1..NT: ITERS * NT(NT+1)/2 */
    if (!gv || npg_item(npg_min(gv, NPG_ALL_AXES, false)) != ITERS * NT * (NT + 1) / 2.0 ||
        npg_item(npg_max(gv, NPG_ALL_AXES, false)) != ITERS * NT * (NT + 1) / 2.0)
        failures[0]++;
    npg_scope_end(s);
    npg_free(shared_v);
    int bad = 0;
    for (int i = 0; i < NT; i++) bad += failures[i];
    printf("threads: %d failed checks\n", bad);
    return bad ? 1 : 0;
}
