/*
 * test_devices.c — moving arrays between devices, gradients through npg_to,
 * mixed-device errors, CUDA out-of-memory, and CPU/GPU agreement: the same
 * Philox bits, and every elementwise op, reduction, scan, sort and matmul
 * computed on both devices from the same inputs. Tests that need a GPU skip
 * with a reason when there is none.
 */
#include "test_util.h"

#define CPU_OPT(...) NPG_OPTS(.device = NPG_CPU, __VA_ARGS__)
#define GPU_OPT(...) NPG_OPTS(.device = NPG_CUDA(0), __VA_ARGS__)

Test(devices, default_device_follows_environment) {
    const char *env = getenv("NPG_DEVICE");
    npg_device d = npg_default_device();
    if (!env || !strcmp(env, "cpu") || !strcmp(env, ""))
        cr_assert_eq(d.type, NPG_DEVICE_CPU);
    else if (!strncmp(env, "cuda", 4))
        cr_assert_eq(d.type, NPG_DEVICE_CUDA);
    cr_assert_eq(npg_set_default_device(NPG_CPU), NPG_OK);
    cr_assert_eq(npg_default_device().type, NPG_DEVICE_CPU);
    npg_array *x = npg_zeros(NPG_SHAPE(2), NULL);
    cr_assert_eq(npg_device_of(x).type, NPG_DEVICE_CPU);
    npg_free(x);
    cr_assert_eq(npg_set_default_device(NPG_DEFAULT_DEVICE), NPG_OK);
    cr_assert_eq(npg_default_device().type, d.type);
}

Test(devices, to_same_device_is_a_cheap_alias) {
    npg_scope s = npg_scope_begin();
    npg_array *x = npg_arange(0, 5, 1, CPU_OPT(.dtype = NPG_FLOAT64));
    npg_array *y = npg_to(x, NPG_CPU);
    cr_assert_eq(npg_data(x), npg_data(y));
    npg_scope_end(s);
}

Test(devices, cuda_unavailable_is_an_error_not_a_crash) {
    if (npg_cuda_available()) cr_skip_test("a GPU is present");
    npg_scope s = npg_scope_begin();
    npg_array *x = npg_ones(NPG_SHAPE(3), CPU_OPT());
    cr_assert_null(npg_to(x, NPG_CUDA(0)));
    t_assert_error(NPG_ERR_DEVICE, "npg_to");
    cr_assert_eq(npg_synchronize(NPG_CUDA(0)), NPG_ERR_DEVICE);
    size_t f, t;
    cr_assert_eq(npg_device_memory(NPG_CUDA(0), &f, &t), NPG_ERR_DEVICE);
    npg_scope_end(s);
}

Test(devices, round_trip_and_gradient) {
    t_require_cuda();
    t_live live = t_live_now();
    npg_scope s = npg_scope_begin();
    double v[6] = {1, -2, 3.5, 4, 0, -6};
    for (int d = 1; d < NPG_DTYPE_COUNT; d++) {
        npg_array *x = npg_from_data(v, NPG_FLOAT64, NPG_SHAPE(2, 3), CPU_OPT(.dtype = (npg_dtype)d));
        npg_array *g = npg_to(npg_T(x), NPG_CUDA(0)); /* non-contiguous source */
        cr_assert(g, "%s", npg_last_error());
        cr_assert_eq(npg_device_of(g).type, NPG_DEVICE_CUDA);
        npg_array *back = npg_to(g, NPG_CPU);
        double *a = t_read(npg_T(x)), *b = t_read(back);
        t_assert_close_buf(b, a, 6, 0, 0, npg_dtype_name((npg_dtype)d));
        free(a);
        free(b);
    }
    npg_array *x = npg_from_data(v, NPG_FLOAT64, NPG_SHAPE(6), CPU_OPT(.requires_grad = true));
    npg_array *y = npg_sum(npg_square(npg_to(x, NPG_CUDA(0))), NPG_ALL_AXES, false);
    cr_assert_eq(npg_device_of(y).type, NPG_DEVICE_CUDA);
    cr_assert_eq(npg_backward(y, NULL), NPG_OK, "%s", npg_last_error());
    npg_array *gx = npg_grad(x);
    cr_assert_eq(npg_device_of(gx).type, NPG_DEVICE_CPU, "the gradient moves back");
    double want[6];
    for (int i = 0; i < 6; i++) want[i] = 2 * v[i];
    t_assert_close(gx, want, 6, 1e-6, 0, "grad through npg_to");
    npg_scope_end(s);
    t_assert_no_leak(live, "transfers");
}

Test(devices, mixed_devices_are_an_error) {
    t_require_cuda();
    npg_scope s = npg_scope_begin();
    npg_array *a = npg_ones(NPG_SHAPE(3), CPU_OPT()), *b = npg_ones(NPG_SHAPE(3), GPU_OPT());
    cr_assert_null(npg_add(a, b));
    t_assert_error(NPG_ERR_DEVICE, "cuda:0");
    cr_assert(strstr(npg_last_error(), "cpu"), "%s", npg_last_error());
    cr_assert_null(npg_matmul(npg_ones(NPG_SHAPE(2, 2), CPU_OPT()), npg_ones(NPG_SHAPE(2, 2), GPU_OPT())));
    t_assert_error(NPG_ERR_DEVICE, "npg_matmul");
    cr_assert_null(npg_where(npg_ones(NPG_SHAPE(3), CPU_OPT(.dtype = NPG_BOOL)), a, b));
    t_assert_error(NPG_ERR_DEVICE, "npg_where");
    npg_scope_end(s);
}

/* Two GPUs (the emulated pass has two: NPG_EMU_DEVICES=2): arrays on each,
 * a move between them through npg_to (and its gradient), the mixed-device
 * error naming both, and each device's own context and memory. */
Test(devices, two_gpus_move_compute_and_differentiate) {
    if (npg_device_count(NPG_DEVICE_CUDA) < 2) cr_skip_test("fewer than two CUDA devices");
    t_live live = t_live_now();
    npg_scope s = npg_scope_begin();
    double v[6] = {1, -2, 3.5, 4, 0, -6};
    npg_array *x0 = npg_from_data(v, NPG_FLOAT64, NPG_SHAPE(2, 3), NPG_OPTS(.device = NPG_CUDA(0), .requires_grad = true));
    cr_assert(x0, "%s", npg_last_error());
    npg_array *x1 = npg_to(npg_T(x0), NPG_CUDA(1)); /* non-contiguous source, device to device */
    cr_assert(x1, "%s", npg_last_error());
    cr_assert_eq(npg_device_of(x1).type, NPG_DEVICE_CUDA);
    cr_assert_eq(npg_device_of(x1).index, 1);
    double want_t[6] = {1, 4, -2, 0, 3.5, -6};
    t_assert_close(x1, want_t, 6, 0, 0, "cuda:0 -> cuda:1");
    /* compute on cuda:1, differentiate back to cuda:0 */
    npg_array *y = npg_sum(npg_multiply(x1, x1), NPG_ALL_AXES, false);
    cr_assert_eq(npg_device_of(y).index, 1);
    cr_assert_eq(npg_backward(y, NULL), NPG_OK, "%s", npg_last_error());
    npg_array *g = npg_grad(x0);
    cr_assert(g);
    cr_assert_eq(npg_device_of(g).type, NPG_DEVICE_CUDA);
    cr_assert_eq(npg_device_of(g).index, 0, "the gradient moves back to cuda:0");
    double want_g[6];
    for (int i = 0; i < 6; i++) want_g[i] = 2 * v[i];
    t_assert_close(g, want_g, 6, 0, 0, "gradient through cuda:0 -> cuda:1");
    /* operands on the two GPUs: an error naming both */
    cr_assert_null(npg_add(npg_ones(NPG_SHAPE(3), NPG_OPTS(.device = NPG_CUDA(0))),
                           npg_ones(NPG_SHAPE(3), NPG_OPTS(.device = NPG_CUDA(1)))));
    t_assert_error(NPG_ERR_DEVICE, "cuda:0");
    cr_assert(strstr(npg_last_error(), "cuda:1"), "%s", npg_last_error());
    npg_clear_error();
    /* a matmul and a random draw on cuda:1 agree with the CPU */
    npg_array *a = npg_randn(NPG_SHAPE(5, 7), NPG_OPTS(.device = NPG_CPU)),
              *b = npg_randn(NPG_SHAPE(7, 3), NPG_OPTS(.device = NPG_CPU));
    npg_array *m1 = npg_matmul(npg_to(a, NPG_CUDA(1)), npg_to(b, NPG_CUDA(1)));
    cr_assert(m1, "%s", npg_last_error());
    double *got = t_read(m1), *want = t_read(npg_matmul(a, b));
    t_assert_close_buf(got, want, 15, 1e-5, 1e-6, "matmul on cuda:1");
    free(got);
    free(want);
    char name[160];
    cr_assert_eq(npg_device_name(NPG_CUDA(1), name, sizeof name), NPG_OK, "%s", npg_last_error());
    cr_assert(!strncmp(name, "cuda:1", 6), "%s", name);
    size_t fr = 0, tot = 0;
    cr_assert_eq(npg_device_memory(NPG_CUDA(1), &fr, &tot), NPG_OK, "%s", npg_last_error());
    cr_assert(tot > 0 && fr <= tot);
    cr_assert_eq(npg_synchronize(NPG_CUDA(1)), NPG_OK, "%s", npg_last_error());
    npg_scope_end(s);
    t_assert_no_leak(live, "two GPUs");
}

Test(devices, cuda_out_of_memory_is_an_error) {
    t_require_cuda();
    size_t fr = 0, tot = 0;
    cr_assert_eq(npg_device_memory(NPG_CUDA(0), &fr, &tot), NPG_OK);
    cr_assert_gt(tot, 0);
    int64_t n = (int64_t)(tot / 4) * 2; /* twice the card's memory in float32 */
    cr_assert_null(npg_empty(NPG_SHAPE(n), GPU_OPT()));
    t_assert_error(NPG_ERR_OOM, "npg_empty");
    /* the process carries on */
    npg_array *x = npg_ones(NPG_SHAPE(1000), GPU_OPT());
    cr_assert(x, "%s", npg_last_error());
    cr_assert_float_eq(npg_item(npg_sum(x, NPG_ALL_AXES, false)), 1000.0, 0);
    npg_free(x);
    char name[256];
    cr_assert_eq(npg_device_name(NPG_CUDA(0), name, sizeof name), NPG_OK);
    cr_assert(strstr(name, "cuda:0"), "%s", name);
    cr_assert_eq(npg_synchronize(NPG_CUDA(0)), NPG_OK);
}

/* Freed blocks stay cached for reuse until npg_empty_cache gives them back
 * (blocks of `n` float32; on CUDA a large one, so that the pool's chunks
 * holding it are its own and the driver must see them come back). */
static void check_cache(npg_device dev, int64_t n) {
    char name[256];
    const size_t nb = (size_t)n * 4;
    cr_assert_eq(npg_device_name(dev, name, sizeof name), NPG_OK);
    size_t c0 = 1, c1 = 0, c2 = 0, c3 = 0, c4 = 1;
    cr_assert_eq(npg_empty_cache(dev), NPG_OK, "%s: %s", name, npg_last_error());
    cr_assert_eq(npg_cached_memory(dev, &c0), NPG_OK);
    cr_assert_eq(c0, 0, "%s: %zu bytes cached right after npg_empty_cache", name, c0);
    npg_scope s = npg_scope_begin();
    npg_array *x = npg_ones(NPG_SHAPE(n), NPG_OPTS(.device = dev));
    cr_assert(x, "%s", npg_last_error());
    cr_assert_eq(npg_synchronize(dev), NPG_OK);
    npg_free(x);
    cr_assert_eq(npg_cached_memory(dev, &c1), NPG_OK);
    cr_assert_geq(c1, nb, "%s: the freed block of %zu bytes is cached (%zu bytes)", name, nb, c1);
    npg_array *y = npg_zeros(NPG_SHAPE(n), NPG_OPTS(.device = dev)); /* takes the block back */
    cr_assert(y, "%s", npg_last_error());
    cr_assert_eq(npg_cached_memory(dev, &c2), NPG_OK);
    cr_assert_leq(c2 + nb, c1, "%s: the block was reused (%zu then %zu bytes cached)", name, c1, c2);
    cr_assert_float_eq(npg_item(npg_sum(y, NPG_ALL_AXES, false)), 0.0, 0, "%s: the reused block holds zeros", name);
    npg_scope_end(s);
    size_t free_before = 0, free_after = 0;
    cr_assert_eq(npg_synchronize(dev), NPG_OK);
    cr_assert_eq(npg_device_memory(dev, &free_before, NULL), NPG_OK);
    cr_assert_eq(npg_cached_memory(dev, &c3), NPG_OK);
    cr_assert_geq(c3, nb);
    cr_assert_eq(npg_empty_cache(dev), NPG_OK, "%s: %s", name, npg_last_error());
    cr_assert_eq(npg_cached_memory(dev, &c4), NPG_OK);
    cr_assert_eq(c4, 0, "%s: %zu bytes still cached", name, c4);
    cr_assert_eq(npg_device_memory(dev, &free_after, NULL), NPG_OK);
    if (dev.type == NPG_DEVICE_CUDA) /* the pool gave the memory back to the driver */
        cr_assert_geq(free_after, free_before + nb / 2, "%s: free %zu -> %zu", name, free_before, free_after);
}

Test(devices, freed_blocks_are_cached_until_emptied) {
    check_cache(NPG_CPU, (int64_t)1 << 20);                           /* 4 MiB */
    if (npg_cuda_available()) check_cache(NPG_CUDA(0), (int64_t)1 << 28); /* 1 GiB */
    size_t c;
    cr_assert_eq(npg_cached_memory(NPG_CPU, NULL), NPG_ERR_NULL_ARG);
    t_assert_error(NPG_ERR_NULL_ARG, "npg_cached_memory");
    if (!npg_cuda_available()) {
        cr_assert_eq(npg_cached_memory(NPG_CUDA(0), &c), NPG_ERR_DEVICE);
        t_assert_error(NPG_ERR_DEVICE, "npg_cached_memory");
        cr_assert_eq(npg_empty_cache(NPG_CUDA(0)), NPG_ERR_DEVICE);
        t_assert_error(NPG_ERR_DEVICE, "npg_empty_cache");
    }
}

Test(devices, rng_bits_identical_across_devices) {
    t_require_cuda();
    npg_scope s = npg_scope_begin();
    int64_t sizes[3] = {1, 13, 100003};
    for (int k = 0; k < 3; k++) {
        for (int dt = 0; dt < 2; dt++) {
            npg_dtype d = dt ? NPG_FLOAT64 : NPG_FLOAT32;
            npg_generator *gc = npg_generator_new(42 + k), *gg = npg_generator_new(42 + k);
            npg_array *uc = npg_uniform(-1, 3, NPG_SHAPE(sizes[k]), CPU_OPT(.dtype = d, .generator = gc));
            npg_array *ug = npg_uniform(-1, 3, NPG_SHAPE(sizes[k]), GPU_OPT(.dtype = d, .generator = gg));
            double *a = t_read(uc), *b = t_read(ug);
            t_assert_close_buf(b, a, sizes[k], 0, 0, "uniform bits");
            free(a);
            free(b);
            npg_array *nc = npg_normal(0.5, 2, NPG_SHAPE(sizes[k]), CPU_OPT(.dtype = d, .generator = gc));
            npg_array *ng = npg_normal(0.5, 2, NPG_SHAPE(sizes[k]), GPU_OPT(.dtype = d, .generator = gg));
            a = t_read(nc);
            b = t_read(ng);
            /* a few ulp: libm vs CUDA's log/sin/cos */
            t_assert_close_buf(b, a, sizes[k], d == NPG_FLOAT32 ? 4e-6 : 1e-13, d == NPG_FLOAT32 ? 4e-6 : 1e-13,
                               "normal values");
            free(a);
            free(b);
            npg_array *ic = npg_randint(-5, 1000, NPG_SHAPE(sizes[k]), CPU_OPT(.generator = gc));
            npg_array *ig = npg_randint(-5, 1000, NPG_SHAPE(sizes[k]), GPU_OPT(.generator = gg));
            a = t_read(ic);
            b = t_read(ig);
            t_assert_close_buf(b, a, sizes[k], 0, 0, "randint");
            free(a);
            free(b);
            npg_generator_free(gc);
            npg_generator_free(gg);
        }
    }
    npg_scope_end(s);
}

/* Every elementwise op of ops.def on both devices, float32 and float64. */
Test(devices, elementwise_ops_agree) {
    t_require_cuda();
    npg_scope s = npg_scope_begin();
    double va[35], vb[35];
    t_fill_uniform(va, 35, 0.2, 0.9, 1);
    t_fill_uniform(vb, 35, 0.3, 1.7, 2);
    for (int dt = 0; dt < 2; dt++) {
        npg_dtype d = dt ? NPG_FLOAT64 : NPG_FLOAT32;
        npg_array *ac = npg_from_data(va, NPG_FLOAT64, NPG_SHAPE(5, 7), CPU_OPT(.dtype = d));
        npg_array *bc = npg_from_data(vb, NPG_FLOAT64, NPG_SHAPE(5, 7), CPU_OPT(.dtype = d));
        npg_array *ag = npg_to(ac, NPG_CUDA(0)), *bg = npg_to(bc, NPG_CUDA(0));
        for (int op = 0; op < NPG_OP_COUNT; op++) {
            const npg_op_info *info = &npg__op_info[op];
            npg_array *rc = NULL, *rg = NULL;
            npg_dtype cdt, odt;
            bool ok_dtype = npg__elementwise_dtypes((npg_op)op, info->name, d, &cdt, &odt);
            npg_clear_error();
            if (!ok_dtype) continue; /* e.g. bitwise ops on floats: refused on both devices */
            if (info->family == NPG_FAM_UNARY) {
                rc = npg__unary((npg_op)op, info->name, ac, NULL);
                rg = npg__unary((npg_op)op, info->name, ag, NULL);
            } else if (info->family == NPG_FAM_BINARY) {
                rc = npg__binary((npg_op)op, info->name, ac, bc);
                rg = npg__binary((npg_op)op, info->name, ag, bg);
            } else {
                continue;
            }
            cr_assert(rc && rg, "%s %s: %s", info->name, npg_dtype_name(d), npg_last_error());
            double *x = t_read(rc), *y = t_read(rg);
            char what[96];
            snprintf(what, sizeof what, "%s %s cpu vs cuda", info->name, npg_dtype_name(d));
            t_assert_close_buf(y, x, 35, d == NPG_FLOAT32 ? 2e-6 : 1e-14, d == NPG_FLOAT32 ? 2e-6 : 1e-14, what);
            free(x);
            free(y);
        }
    }
    npg_scope_end(s);
}

static void agree(npg_array *c, npg_array *g, double tol, const char *what) {
    cr_assert(c && g, "%s: %s", what, npg_last_error());
    cr_assert_eq(npg_size(c), npg_size(g), "%s: sizes", what);
    double *x = t_read(c), *y = t_read(g);
    t_assert_close_buf(y, x, npg_size(c), tol, tol, what);
    free(x);
    free(y);
}

Test(devices, reductions_scans_sort_matmul_agree) {
    t_require_cuda();
    npg_scope s = npg_scope_begin();
    npg_seed(5);
    npg_array *xc = npg_randn(NPG_SHAPE(6, 33, 17), CPU_OPT(.dtype = NPG_FLOAT64));
    npg_array *xg = npg_to(xc, NPG_CUDA(0));
    npg_axes sets[4] = {NPG_ALL_AXES, NPG_AXES(0), NPG_AXES(1, 2), NPG_AXES(0, 2)};
    for (int k = 0; k < 4; k++) {
        agree(npg_sum(xc, sets[k], false), npg_sum(xg, sets[k], false), 1e-12, "sum");
        agree(npg_mean(xc, sets[k], true), npg_mean(xg, sets[k], true), 1e-12, "mean");
        agree(npg_max(xc, sets[k], false), npg_max(xg, sets[k], false), 0, "max");
        agree(npg_min(xc, sets[k], false), npg_min(xg, sets[k], false), 0, "min");
        agree(npg_prod(npg_add_scalar(npg_multiply_scalar(xc, 0.01), 1), sets[k], false),
              npg_prod(npg_add_scalar(npg_multiply_scalar(xg, 0.01), 1), sets[k], false), 1e-12, "prod");
        agree(npg_var(xc, sets[k], 1, false), npg_var(xg, sets[k], 1, false), 1e-12, "var");
        agree(npg_logsumexp(xc, sets[k], false), npg_logsumexp(xg, sets[k], false), 1e-12, "logsumexp");
    }
    for (int ax = 0; ax < 3; ax++) {
        agree(npg_argmax(xc, ax, false), npg_argmax(xg, ax, false), 0, "argmax");
        agree(npg_argmin(xc, ax, false), npg_argmin(xg, ax, false), 0, "argmin");
        agree(npg_cumsum(xc, ax), npg_cumsum(xg, ax), 1e-12, "cumsum");
        agree(npg_cumprod(xc, ax), npg_cumprod(xg, ax), 1e-12, "cumprod");
        agree(npg_sort(xc, ax, false), npg_sort(xg, ax, false), 0, "sort");
        agree(npg_argsort(xc, ax, true), npg_argsort(xg, ax, true), 0, "argsort desc");
    }
    npg_array *bc = npg_astype(npg_greater_scalar(xc, 0.5), NPG_BOOL), *bg = npg_to(bc, NPG_CUDA(0));
    agree(npg_nonzero(bc), npg_nonzero(bg), 0, "nonzero");
    agree(npg_all(bc, NPG_AXES(1), false), npg_all(bg, NPG_AXES(1), false), 0, "all");
    agree(npg_any(bc, NPG_AXES(2), false), npg_any(bg, NPG_AXES(2), false), 0, "any");
    for (int dt = 0; dt < 2; dt++) {
        npg_dtype d = dt ? NPG_FLOAT64 : NPG_FLOAT32;
        npg_array *a = npg_astype(npg_randn(NPG_SHAPE(3, 65, 40), CPU_OPT()), d);
        npg_array *b = npg_astype(npg_randn(NPG_SHAPE(40, 31), CPU_OPT()), d);
        npg_array *ga = npg_to(a, NPG_CUDA(0)), *gb = npg_to(b, NPG_CUDA(0));
        agree(npg_matmul(a, b), npg_matmul(ga, gb), d == NPG_FLOAT32 ? 1e-4 : 1e-12, "batched matmul");
        agree(npg_matmul(npg_matrix_transpose(b), npg_matrix_transpose(a)),
              npg_matmul(npg_matrix_transpose(gb), npg_matrix_transpose(ga)), d == NPG_FLOAT32 ? 1e-4 : 1e-12,
              "transposed matmul");
    }
    npg_array *ia = npg_randint(-50, 50, NPG_SHAPE(7, 9), CPU_OPT(.dtype = NPG_INT32));
    npg_array *ib = npg_randint(-50, 50, NPG_SHAPE(9, 5), CPU_OPT(.dtype = NPG_INT32));
    agree(npg_matmul(ia, ib), npg_matmul(npg_to(ia, NPG_CUDA(0)), npg_to(ib, NPG_CUDA(0))), 0, "int matmul");
    int64_t iv[5] = {4, 0, -1, 2, 2};
    npg_array *idx = npg_from_data(iv, NPG_INT64, NPG_SHAPE(5), CPU_OPT());
    agree(npg_take(xc, idx, 1), npg_take(xg, npg_to(idx, NPG_CUDA(0)), 1), 0, "take");
    npg_scope_end(s);
}

Test(devices, gradients_agree) {
    t_require_cuda();
    npg_scope s = npg_scope_begin();
    npg_seed(11);
    npg_array *wc = npg_randn(NPG_SHAPE(20, 7), CPU_OPT(.dtype = NPG_FLOAT64, .requires_grad = true));
    npg_array *xc = npg_randn(NPG_SHAPE(16, 20), CPU_OPT(.dtype = NPG_FLOAT64));
    npg_array *wg = npg_detach(npg_to(wc, NPG_CUDA(0)));
    npg_set_requires_grad(wg, true);
    npg_array *xg = npg_to(xc, NPG_CUDA(0));
    npg_array *lc = npg_mean(npg_logsumexp(npg_tanh(npg_matmul(xc, wc)), NPG_AXES(1), false), NPG_ALL_AXES, false);
    npg_array *lg = npg_mean(npg_logsumexp(npg_tanh(npg_matmul(xg, wg)), NPG_AXES(1), false), NPG_ALL_AXES, false);
    cr_assert_eq(npg_backward(lc, NULL), NPG_OK);
    cr_assert_eq(npg_backward(lg, NULL), NPG_OK, "%s", npg_last_error());
    agree(lc, lg, 1e-12, "loss");
    agree(npg_grad(wc), npg_grad(wg), 1e-12, "grad");
    npg_scope_end(s);
}

static npg_array *gc_fn(npg_array *const *in, int n, void *user) {
    (void)n;
    (void)user;
    return npg_sum(npg_multiply(npg_sin(in[0]), npg_matmul(in[0], in[1])), NPG_AXES(0), false);
}

Test(devices, gradcheck_on_gpu) {
    t_require_cuda();
    npg_scope s = npg_scope_begin();
    npg_array *a = npg_randn(NPG_SHAPE(4, 4), GPU_OPT(.dtype = NPG_FLOAT64, .requires_grad = true));
    npg_array *b = npg_randn(NPG_SHAPE(4, 4), GPU_OPT(.dtype = NPG_FLOAT64, .requires_grad = true));
    npg_array *in[2] = {a, b};
    cr_assert_eq(npg_gradcheck(gc_fn, NULL, in, 2, NULL), NPG_OK, "%s", npg_last_error());
    npg_scope_end(s);
}

Test(devices, cuda_index_errors_are_reported) {
    t_require_cuda();
    npg_scope s = npg_scope_begin();
    npg_array *x = npg_ones(NPG_SHAPE(4), GPU_OPT());
    int64_t iv[2] = {1, 9};
    npg_array *idx = npg_from_data(iv, NPG_INT64, NPG_SHAPE(2), GPU_OPT());
    npg_array *r = npg_take(x, idx, 0);
    /* CUDA reports it at the next synchronising call */
    npg_status st = r ? npg_synchronize(NPG_CUDA(0)) : npg_last_status();
    cr_assert_eq(st, NPG_ERR_INDEX, "status %d: %s", st, npg_last_error());
    cr_assert_eq(npg_synchronize(NPG_CUDA(0)), NPG_OK, "the flag is reset");
    npg_scope_end(s);
}

/* One training step of a small MLP (linear, relu, cross-entropy, Adam) gives
 * the same loss and the same updated weights on the CPU and on CUDA. */
Test(devices, training_step_agrees) {
    t_require_cuda();
    npg_scope s = npg_scope_begin();
    npg_seed(21);
    npg_array *x = npg_randn(NPG_SHAPE(64, 20), CPU_OPT());
    npg_array *y = npg_randint(0, 5, NPG_SHAPE(64), CPU_OPT());
    npg_array *w1 = npg_randn(NPG_SHAPE(32, 20), CPU_OPT()), *w2 = npg_randn(NPG_SHAPE(5, 32), CPU_OPT());
    double loss[2][3];
    double *final[2];
    for (int d = 0; d < 2; d++) {
        npg_device dev = d ? NPG_CUDA(0) : NPG_CPU;
        /* copies: npg_to onto the array's own device returns the array itself,
         * and the CPU run's Adam steps would move w1 / w2 under the CUDA run */
        npg_array *a = npg_detach(npg_copy(npg_to(w1, dev))), *b = npg_detach(npg_copy(npg_to(w2, dev)));
        npg_set_requires_grad(a, true);
        npg_set_requires_grad(b, true);
        npg_array *ps[2] = {a, b};
        npg_optimizer *o = npg_adam_new(ps, 2, NPG_ADAM_OPTS(.lr = 0.01));
        npg_array *xd = npg_to(x, dev), *yd = npg_to(y, dev);
        for (int step = 0; step < 3; step++) {
            npg_array *l = npg_cross_entropy(npg_linear(npg_relu(npg_linear(xd, a, NULL)), b, NULL), yd,
                                             NPG_CE_OPTS(.label_smoothing = 0.1));
            cr_assert_eq(npg_backward(l, NULL), NPG_OK, "%s", npg_last_error());
            cr_assert_eq(npg_optimizer_step(o), NPG_OK, "%s", npg_last_error());
            npg_optimizer_zero_grad(o);
            loss[d][step] = npg_item(l);
        }
        final[d] = t_read(b);
        npg_optimizer_free(o);
    }
    t_assert_close_buf(loss[1], loss[0], 3, 1e-5, 1e-6, "loss per step, cuda vs cpu");
    t_assert_close_buf(final[1], final[0], 5 * 32, 1e-4, 1e-5, "weights after 3 Adam steps");
    free(final[0]);
    free(final[1]);
    npg_scope_end(s);
}
