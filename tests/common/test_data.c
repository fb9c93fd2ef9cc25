/*
 * test_data.c — the mini-batch loader: batch counts, the last partial batch
 * and drop_last, every row exactly once per epoch with x and y paired, new
 * permutations each epoch, reproducibility with a seeded generator, scopes,
 * and argument errors.
 */
#include "test_util.h"
#include "npg/io.h"

static void setup(void) { t_require_device(); }
TestSuite(data, .init = setup);

#define OPT(...) NPG_OPTS(.device = t_dev(), __VA_ARGS__)

/* x: (n, 2) float32 with rows (i, 100 + i); y: (n,) int64 with 10 * i. */
static void dataset(int64_t n, npg_array **x, npg_array **y) {
    double *xv = malloc(sizeof(double) * (size_t)(2 * n + 1)), *yv = malloc(sizeof(double) * (size_t)(n + 1));
    for (int64_t i = 0; i < n; i++) {
        xv[2 * i] = (double)i;
        xv[2 * i + 1] = 100.0 + (double)i;
        yv[i] = 10.0 * (double)i;
    }
    *x = npg_from_data(xv, NPG_FLOAT64, NPG_SHAPE(n, 2), OPT(.dtype = NPG_FLOAT32));
    *y = npg_from_data(yv, NPG_FLOAT64, NPG_SHAPE(n), OPT(.dtype = NPG_INT64));
    cr_assert(*x && *y, "%s", npg_last_error());
    free(xv);
    free(yv);
}

/* Run one epoch; returns the row order seen (malloc'd, *count rows) and
 * checks the batch shapes and the x/y pairing. */
static int64_t *run_epoch(npg_loader *l, int64_t n, int64_t bs, bool drop_last, int64_t *count) {
    int64_t *order = malloc(sizeof(int64_t) * (size_t)(n + 1));
    int64_t seen = 0, batches = 0;
    npg_array *xb, *yb;
    npg_clear_error();
    while (npg_loader_next(l, &xb, &yb)) {
        cr_assert(xb && yb);
        int64_t rows = npg_dim(xb, 0);
        bool last = seen + rows == (drop_last ? n / bs * bs : n);
        cr_assert(rows == bs || (last && !drop_last && rows == n % bs), "batch %lld has %lld rows", (long long)batches,
                  (long long)rows);
        t_assert_shape(xb, NPG_SHAPE(rows, 2));
        t_assert_shape(yb, NPG_SHAPE(rows));
        cr_assert_eq(npg_dtype_of(xb), NPG_FLOAT32);
        cr_assert_eq(npg_dtype_of(yb), NPG_INT64);
        double *xv = t_read(xb), *yv = t_read(yb);
        for (int64_t r = 0; r < rows; r++) {
            cr_assert_eq(xv[2 * r + 1], xv[2 * r] + 100, "x row intact");
            cr_assert_eq(yv[r], 10 * xv[2 * r], "x and y rows stay paired");
            order[seen++] = (int64_t)xv[2 * r];
        }
        free(xv);
        free(yv);
        npg_free(xb);
        npg_free(yb);
        batches++;
    }
    cr_assert_eq(npg_last_status(), NPG_OK, "the epoch ended with an error: %s", npg_last_error());
    cr_assert_null(xb, "*xb is NULL at the end of an epoch");
    cr_assert_null(yb);
    cr_assert_eq(batches, npg_loader_num_batches(l));
    *count = seen;
    return order;
}

static bool each_once(const int64_t *order, int64_t count, int64_t n) {
    bool *hit = calloc((size_t)n + 1, 1);
    bool ok = true;
    for (int64_t i = 0; i < count; i++) {
        if (order[i] < 0 || order[i] >= n || hit[order[i]]) ok = false;
        else hit[order[i]] = true;
    }
    free(hit);
    return ok;
}

Test(data, batch_counts_and_last_batch) {
    t_live before = t_live_now();
    npg_array *x, *y;
    dataset(10, &x, &y);
    struct {
        int64_t bs;
        bool drop_last;
        int64_t batches;
    } cases[] = {{3, false, 4}, {3, true, 3}, {5, false, 2}, {5, true, 2}, {1, false, 10}, {10, true, 1},
                 {11, false, 1}, {11, true, 0}, {0, false, 10},
                 /* found by test_fuzz.c: the count overflowed (n + batch_size - 1) */
                 {INT64_MAX, false, 1}, {INT64_MAX, true, 0}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        for (int shuffle = 0; shuffle < 2; shuffle++) {
            npg_loader *l = npg_loader_new(x, y, NPG_LOADER_OPTS(.batch_size = cases[c].bs, .shuffle = shuffle,
                                                                 .drop_last = cases[c].drop_last));
            cr_assert(l, "%s", npg_last_error());
            cr_assert_eq(npg_loader_num_batches(l), cases[c].batches, "bs %lld drop_last %d", (long long)cases[c].bs,
                         cases[c].drop_last);
            int64_t bs = cases[c].bs ? cases[c].bs : 1, count;
            for (int epoch = 0; epoch < 2; epoch++) {
                int64_t *order = run_epoch(l, 10, bs, cases[c].drop_last, &count);
                cr_assert_eq(count, cases[c].drop_last ? 10 / bs * bs : 10);
                cr_assert(each_once(order, count, 10), "a row repeats");
                if (!shuffle)
                    for (int64_t i = 0; i < count; i++) cr_assert_eq(order[i], i, "without shuffle rows come in order");
                free(order);
            }
            npg_loader_free(l);
        }
    }
    npg_free(x);
    npg_free(y);
    t_assert_no_leak(before, "batch counts");
}

Test(data, every_row_once_and_new_permutation_each_epoch) {
    t_live before = t_live_now();
    npg_array *x, *y;
    dataset(50, &x, &y);
    npg_loader *l = npg_loader_new(x, y, NPG_LOADER_OPTS(.batch_size = 8, .shuffle = true));
    cr_assert(l);
    int64_t c1, c2, c3;
    int64_t *e1 = run_epoch(l, 50, 8, false, &c1), *e2 = run_epoch(l, 50, 8, false, &c2);
    int64_t *e3 = run_epoch(l, 50, 8, false, &c3);
    cr_assert_eq(c1, 50);
    cr_assert(each_once(e1, c1, 50) && each_once(e2, c2, 50) && each_once(e3, c3, 50));
    cr_assert(memcmp(e1, e2, sizeof(int64_t) * 50) != 0, "epochs 1 and 2 have the same order");
    cr_assert(memcmp(e2, e3, sizeof(int64_t) * 50) != 0, "epochs 2 and 3 have the same order");
    bool identity = true;
    for (int i = 0; i < 50; i++) identity = identity && e1[i] == i;
    cr_assert(!identity, "a shuffled epoch came in order");
    free(e1), free(e2), free(e3);
    npg_loader_free(l);
    npg_free(x), npg_free(y);
    t_assert_no_leak(before, "permutations");
}

Test(data, same_seed_same_permutations) {
    t_live before = t_live_now();
    npg_array *x, *y;
    dataset(40, &x, &y);
    npg_generator *g1 = npg_generator_new(1234), *g2 = npg_generator_new(1234), *g3 = npg_generator_new(99);
    npg_loader *a = npg_loader_new(x, y, NPG_LOADER_OPTS(.batch_size = 7, .shuffle = true, .generator = g1));
    npg_loader *b = npg_loader_new(x, y, NPG_LOADER_OPTS(.batch_size = 7, .shuffle = true, .generator = g2));
    npg_loader *c = npg_loader_new(x, y, NPG_LOADER_OPTS(.batch_size = 7, .shuffle = true, .generator = g3));
    cr_assert(a && b && c);
    for (int epoch = 0; epoch < 3; epoch++) {
        int64_t ca, cb, cc;
        int64_t *oa = run_epoch(a, 40, 7, false, &ca), *ob = run_epoch(b, 40, 7, false, &cb);
        int64_t *oc = run_epoch(c, 40, 7, false, &cc);
        cr_assert(memcmp(oa, ob, sizeof(int64_t) * 40) == 0, "epoch %d: the same seed gave different orders", epoch);
        cr_assert(memcmp(oa, oc, sizeof(int64_t) * 40) != 0, "epoch %d: different seeds gave the same order", epoch);
        free(oa), free(ob), free(oc);
    }
    /* the global generator: npg_seed makes it reproducible too */
    npg_seed(7);
    npg_loader *g = npg_loader_new(x, NULL, NPG_LOADER_OPTS(.batch_size = 40, .shuffle = true));
    npg_array *b1, *b2, *none = (npg_array *)&none;
    cr_assert(npg_loader_next(g, &b1, &none));
    cr_assert_null(none, "*yb is NULL when y is NULL");
    npg_loader_free(g);
    npg_seed(7);
    g = npg_loader_new(x, NULL, NPG_LOADER_OPTS(.batch_size = 40, .shuffle = true));
    cr_assert(npg_loader_next(g, &b2, NULL));
    double *v1 = t_read(b1), *v2 = t_read(b2);
    cr_assert(memcmp(v1, v2, sizeof(double) * 80) == 0, "npg_seed did not reproduce the order");
    free(v1), free(v2);
    npg_free(b1), npg_free(b2);
    npg_loader_free(g);
    npg_loader_free(a), npg_loader_free(b), npg_loader_free(c);
    npg_generator_free(g1), npg_generator_free(g2), npg_generator_free(g3);
    npg_free(x), npg_free(y);
    t_assert_no_leak(before, "seeds");
}

Test(data, higher_rank_rows_without_y_and_empty) {
    t_live before = t_live_now();
    npg_scope s = npg_scope_begin();
    npg_array *x = npg_arange(0, 5 * 2 * 3, 1, OPT(.dtype = NPG_INT32));
    x = npg_reshape(x, NPG_SHAPE(5, 2, 3));
    npg_loader *l = npg_loader_new(x, NULL, NPG_LOADER_OPTS(.batch_size = 2));
    npg_array *xb, *yb;
    cr_assert(npg_loader_next(l, &xb, &yb));
    cr_assert_null(yb);
    t_assert_shape(xb, NPG_SHAPE(2, 2, 3));
    double want[12];
    for (int i = 0; i < 12; i++) want[i] = i;
    t_assert_close(xb, want, 12, 0, 0, "first batch");
    npg_loader_free(l);
    /* an empty dataset: no batches, every call ends an epoch */
    npg_array *e = npg_zeros(NPG_SHAPE(0, 4), OPT());
    npg_loader *le = npg_loader_new(e, NULL, NPG_LOADER_OPTS(.batch_size = 3, .shuffle = true));
    cr_assert(le, "%s", npg_last_error());
    cr_assert_eq(npg_loader_num_batches(le), 0);
    npg_clear_error();
    cr_assert(!npg_loader_next(le, &xb, NULL));
    cr_assert(!npg_loader_next(le, &xb, NULL));
    cr_assert_eq(npg_last_status(), NPG_OK);
    npg_loader_free(le);
    npg_scope_end(s);
    t_assert_no_leak(before, "rank and empty");
}

Test(data, loader_retains_and_lives_across_scopes) {
    t_live before = t_live_now();
    npg_loader *l;
    {
        npg_scope s = npg_scope_begin();
        npg_array *x, *y;
        dataset(9, &x, &y);
        l = npg_loader_new(x, y, NPG_LOADER_OPTS(.batch_size = 4, .shuffle = true));
        cr_assert(l);
        npg_scope_end(s); /* the caller's references are gone; the loader keeps its own */
    }
    for (int epoch = 0; epoch < 2; epoch++) {
        int64_t rows = 0;
        for (;;) {
            npg_scope s = npg_scope_begin(); /* one scope per step, as in a training loop */
            npg_array *xb, *yb;
            bool more = npg_loader_next(l, &xb, &yb);
            if (more) rows += npg_dim(xb, 0);
            npg_scope_end(s);
            if (!more) break;
        }
        cr_assert_eq(rows, 9);
    }
    /* free in the middle of an epoch */
    npg_array *xb, *yb;
    cr_assert(npg_loader_next(l, &xb, &yb));
    npg_free(xb), npg_free(yb);
    npg_loader_free(l);
    t_assert_no_leak(before, "retain");
}

Test(data, batches_on_cuda_with_labels_on_cpu) {
    t_require_cuda();
    t_live before = t_live_now();
    npg_array *x, *y;
    dataset(12, &x, &y);
    npg_array *xc = npg_to(x, NPG_CUDA(0)), *yh = npg_to(y, NPG_CPU);
    npg_loader *l = npg_loader_new(xc, yh, NPG_LOADER_OPTS(.batch_size = 5, .shuffle = true));
    cr_assert(l, "%s", npg_last_error());
    npg_array *xb, *yb;
    while (npg_loader_next(l, &xb, &yb)) {
        cr_assert_eq(npg_device_of(xb).type, NPG_DEVICE_CUDA);
        cr_assert_eq(npg_device_of(yb).type, NPG_DEVICE_CPU);
        double *xv = t_read(xb), *yv = t_read(yb);
        for (int64_t r = 0; r < npg_dim(xb, 0); r++) cr_assert_eq(yv[r], 10 * xv[2 * r]);
        free(xv), free(yv);
        npg_free(xb), npg_free(yb);
    }
    npg_loader_free(l);
    npg_free(x), npg_free(y), npg_free(xc), npg_free(yh);
    t_assert_no_leak(before, "cuda");
}

Test(data, argument_errors) {
    t_live before = t_live_now();
    npg_array *x, *y;
    dataset(6, &x, &y);
    npg_clear_error();
    cr_assert_null(npg_loader_new(NULL, y, NULL));
    t_assert_error(NPG_ERR_NULL_ARG, "npg_loader_new");
    npg_clear_error();
    cr_assert_null(npg_loader_new(x, y, NPG_LOADER_OPTS(.batch_size = -2)));
    t_assert_error(NPG_ERR_INVALID_ARG, "batch_size");
    npg_clear_error();
    npg_array *y5 = npg_zeros(NPG_SHAPE(5), OPT());
    cr_assert_null(npg_loader_new(x, y5, NULL));
    t_assert_error(NPG_ERR_SHAPE, "different numbers of rows");
    npg_clear_error();
    npg_array *s0 = npg_scalar(1, OPT());
    cr_assert_null(npg_loader_new(s0, NULL, NULL));
    t_assert_error(NPG_ERR_SHAPE, "0-d");
    npg_clear_error();
    cr_assert_null(npg_loader_new(x, s0, NULL));
    t_assert_error(NPG_ERR_SHAPE, "0-d");
    npg_clear_error();
    /* a NULL from a failed call keeps its error */
    npg_array *bad = npg_reshape(x, NPG_SHAPE(7));
    cr_assert_null(npg_loader_new(bad, NULL, NULL));
    t_assert_error(NPG_ERR_SHAPE, "npg_reshape");
    npg_clear_error();
    npg_array *xb = (npg_array *)&xb, *yb = (npg_array *)&yb;
    cr_assert(!npg_loader_next(NULL, &xb, &yb));
    t_assert_error(NPG_ERR_NULL_ARG, "npg_loader_next");
    cr_assert_null(xb);
    cr_assert_null(yb);
    npg_clear_error();
    npg_loader *l = npg_loader_new(x, y, NULL);
    cr_assert(l);
    cr_assert_eq(npg_loader_num_batches(l), 6, "NULL opts: batch_size 1");
    cr_assert(!npg_loader_next(l, NULL, &yb));
    t_assert_error(NPG_ERR_NULL_ARG, "npg_loader_next");
    npg_clear_error();
    cr_assert_eq(npg_loader_num_batches(NULL), -1);
    t_assert_error(NPG_ERR_NULL_ARG, "npg_loader_num_batches");
    npg_clear_error();
    npg_loader_free(NULL);
    npg_loader_free(l);
    npg_free(x), npg_free(y), npg_free(y5), npg_free(s0);
    t_assert_no_leak(before, "argument errors");
}
