/*
 * test_threads.c — npg used from several threads at once, on the device
 * under test (NPG_DEVICE): each thread's error state, scopes, no-grad mode
 * and graphs are its own; arrays made on one thread can be freed on another
 * (the recycled structs and small blocks then join that thread's lists);
 * the backends' block caches take concurrent allocations of sizes that
 * collide. Worker threads record failures instead of asserting (Criterion's
 * asserts belong to the test's own thread); the test checks after joining.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

#include "test_util.h"

#define NT 4
#define ITERS 150

typedef struct work {
    int id;
    npg_device dev;
    int failures;
    char first[256];
    npg_array *handoff[64]; /* made by one thread, freed by another */
} work;

static void fail(work *w, const char *fmt, ...) {
    if (w->failures++ == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(w->first, sizeof w->first, fmt, ap);
        va_end(ap);
    }
}

static void *worker(void *p) {
    work *w = p;
    const double k = w->id + 1;
    for (int it = 0; it < ITERS && w->failures == 0; it++) {
        npg_scope s = npg_scope_begin();
        /* this thread's own graph: y = sum(x * x), dy/dx = 2x */
        npg_array *x = npg_full(NPG_SHAPE(64), k, NPG_OPTS(.device = w->dev, .dtype = NPG_FLOAT64));
        if (npg_set_requires_grad(x, true) != NPG_OK) fail(w, "set_requires_grad: %s", npg_last_error());
        npg_array *y = npg_sum(npg_multiply(x, x), NPG_ALL_AXES, false);
        if (!y || npg_backward(y, NULL) != NPG_OK) {
            fail(w, "thread %d backward: %s", w->id, npg_last_error());
            npg_scope_end(s);
            break;
        }
        double v = npg_item(y), g = npg_item(npg_sum(npg_grad(x), NPG_ALL_AXES, false));
        if (v != 64 * k * k || g != 128 * k)
            fail(w, "thread %d: sum %g (want %g), grad sum %g (want %g)", w->id, v, 64 * k * k, g, 128 * k);
        /* large blocks of sizes the threads share or not: the block caches */
        int64_t n = 100000 + (it % 3) * 4096 + (w->id % 2);
        npg_array *big = npg_ones(NPG_SHAPE(n), NPG_OPTS(.device = w->dev));
        double bs = npg_item(npg_sum(npg_multiply_scalar(big, k), NPG_ALL_AXES, false));
        if (bs != (double)n * k) fail(w, "thread %d: big sum %g, want %g", w->id, bs, (double)n * k);
        /* an error names this thread's own operands */
        int64_t want = 1000 + w->id;
        if (npg_reshape(x, NPG_SHAPE(want)) != NULL) fail(w, "thread %d: a bad reshape succeeded", w->id);
        char needle[32];
        snprintf(needle, sizeof needle, "(%lld,)", (long long)want);
        if (npg_last_status() != NPG_ERR_SHAPE || !strstr(npg_last_error(), needle))
            fail(w, "thread %d: last error %d '%s', want NPG_ERR_SHAPE naming %s", w->id, (int)npg_last_status(),
                 npg_last_error(), needle);
        npg_clear_error();
        /* no-grad mode on odd threads only */
        if (w->id % 2) npg_no_grad_begin();
        npg_array *z = npg_multiply_scalar(x, 2);
        bool want_rg = w->id % 2 == 0;
        if (!z || npg_requires_grad(z) != want_rg)
            fail(w, "thread %d: requires_grad %d under %s", w->id, z ? (int)npg_requires_grad(z) : -1,
                 w->id % 2 ? "no-grad" : "grad mode");
        if (w->id % 2) npg_no_grad_end();
        if (npg_is_grad_enabled() != true) fail(w, "thread %d: grad mode not restored", w->id);
        npg_scope_end(s);
    }
    return NULL;
}

/* Run fn on NT threads (ids 0..NT-1, the device under test) and check that
 * none recorded a failure. */
static void run_on_threads(void *(*fn)(void *)) {
    pthread_t th[NT];
    work w[NT];
    memset(w, 0, sizeof w);
    for (int i = 0; i < NT; i++) {
        w[i].id = i;
        w[i].dev = t_dev();
        cr_assert_eq(pthread_create(&th[i], NULL, fn, &w[i]), 0);
    }
    for (int i = 0; i < NT; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < NT; i++) cr_assert_eq(w[i].failures, 0, "%d failures; first: %s", w[i].failures, w[i].first);
}

Test(threads, independent_state_on_each_thread) {
    t_require_device();
    t_live live = t_live_now();
    run_on_threads(worker);
    cr_assert_eq(npg_synchronize(t_dev()), NPG_OK, "%s", npg_last_error());
    t_assert_no_leak(live, "four threads");
}

static void *make(void *p) {
    work *w = p;
    for (int i = 0; i < 64; i++) {
        /* small (per-thread lists) and large (shared caches) blocks */
        int64_t n = i % 2 ? 3 + i : 40000 + 97 * i;
        w->handoff[i] = npg_full(NPG_SHAPE(n), i, NPG_OPTS(.device = w->dev)); /* no scope: owned here */
        if (!w->handoff[i]) fail(w, "make %d: %s", i, npg_last_error());
    }
    return NULL;
}

static void *consume(void *p) {
    work *w = p;
    for (int i = 0; i < 64; i++) {
        npg_array *a = w->handoff[i];
        if (!a) continue;
        double want = (double)i * (double)npg_size(a);
        npg_array *sum = npg_sum(a, NPG_ALL_AXES, false); /* no scope: owned here */
        double got = npg_item(sum);
        if (got != want) fail(w, "consume %d: sum %g, want %g", i, got, want);
        npg_free(sum);
        npg_free(a);
        w->handoff[i] = NULL;
    }
    npg_clear_error();
    return NULL;
}

Test(threads, arrays_freed_on_another_thread) {
    t_require_device();
    t_live live = t_live_now();
    for (int round = 0; round < 3; round++) {
        work w;
        memset(&w, 0, sizeof w);
        w.dev = t_dev();
        pthread_t a, b;
        cr_assert_eq(pthread_create(&a, NULL, make, &w), 0);
        pthread_join(a, NULL);
        cr_assert_eq(pthread_create(&b, NULL, consume, &w), 0);
        pthread_join(b, NULL);
        cr_assert_eq(w.failures, 0, "round %d: %d failures; first: %s", round, w.failures, w.first);
    }
    t_assert_no_leak(live, "arrays handed between threads");
}

static void *leave_scope_open(void *p) {
    work *w = p;
    npg_scope_begin();
    npg_scope_begin(); /* nested, both left open */
    for (int i = 0; i < 10; i++)
        if (!npg_ones(NPG_SHAPE(i + 1, 50000), NPG_OPTS(.device = w->dev))) fail(w, "%s", npg_last_error());
    return NULL; /* the thread's exit ends both scopes */
}

Test(threads, open_scopes_end_at_thread_exit) {
    t_require_device();
    t_live live = t_live_now();
    work w;
    memset(&w, 0, sizeof w);
    w.dev = t_dev();
    pthread_t a;
    cr_assert_eq(pthread_create(&a, NULL, leave_scope_open, &w), 0);
    pthread_join(a, NULL);
    cr_assert_eq(w.failures, 0, "%s", w.first);
    cr_assert_eq(npg_synchronize(t_dev()), NPG_OK, "%s", npg_last_error());
    t_assert_no_leak(live, "arrays of scopes a thread left open");
}

/* Backward passes through one shared leaf at once (data-parallel training on
 * shared weights): each thread's graph reaches the leaf W twice (through a
 * product and through a strided view), and every pass adds its own gradient
 * to W.grad. With small integers the sum is exact in any order. */
#define SHARED_ITERS 200
static npg_array *g_shared_leaf;

static void *backward_shared(void *p) {
    work *w = p;
    const double k = w->id + 1;
    for (int it = 0; it < SHARED_ITERS && w->failures == 0; it++) {
        npg_scope s = npg_scope_begin();
        npg_array *y = npg_add(npg_sum(npg_multiply_scalar(g_shared_leaf, k), NPG_ALL_AXES, false),
                               npg_sum(NPG_INDEX(g_shared_leaf, NPG_SLICE(NPG_NONE, NPG_NONE, 2)), NPG_ALL_AXES, false));
        if (!y || npg_backward(y, NULL) != NPG_OK) fail(w, "thread %d backward: %s", w->id, npg_last_error());
        /* the functional form through the same leaf: this thread's gradient only */
        npg_array *y2 = npg_sum(npg_multiply_scalar(g_shared_leaf, k), NPG_ALL_AXES, false);
        npg_array *dw = NULL;
        if (!y2 || npg_grad_of(&y2, 1, NULL, &g_shared_leaf, 1, &dw, NULL) != NPG_OK || !dw)
            fail(w, "thread %d grad_of: %s", w->id, npg_last_error());
        else if (npg_item(npg_min(dw, NPG_ALL_AXES, false)) != k || npg_item(npg_max(dw, NPG_ALL_AXES, false)) != k)
            fail(w, "thread %d: grad_of gave values other than %g", w->id, k);
        npg_scope_end(s);
    }
    return NULL;
}

Test(threads, backward_through_a_shared_leaf_adds_every_pass) {
    t_require_device();
    t_live live = t_live_now();
    g_shared_leaf = npg_full(NPG_SHAPE(33, 7), 0.5, NPG_OPTS(.device = t_dev(), .dtype = NPG_FLOAT64));
    cr_assert_eq(npg_set_requires_grad(g_shared_leaf, true), NPG_OK);
    run_on_threads(backward_shared);
    /* every element: SHARED_ITERS * (1 + 2 + 3 + 4), plus SHARED_ITERS * 4 on even rows */
    double want[33 * 7], got[33 * 7];
    for (int r = 0; r < 33; r++)
        for (int c = 0; c < 7; c++) want[r * 7 + c] = SHARED_ITERS * 10.0 + (r % 2 == 0 ? SHARED_ITERS * 4.0 : 0);
    npg_array *gw = npg_grad(g_shared_leaf); /* [new] */
    cr_assert_not_null(gw);
    cr_assert_eq(npg_copy_to_host(gw, got, sizeof got), NPG_OK, "%s", npg_last_error());
    npg_free(gw);
    for (int i = 0; i < 33 * 7; i++) cr_assert_eq(got[i], want[i], "W.grad[%d] = %g, want %g", i, got[i], want[i]);
    npg_free(g_shared_leaf);
    g_shared_leaf = NULL;
    t_assert_no_leak(live, "backward through a shared leaf");
}
