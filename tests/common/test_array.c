/*
 * test_array.c — creation, dtypes and promotion, properties, reading data,
 * printing, scopes and reference counts, random numbers, error state.
 */
#include "test_util.h"

static void setup(void) { t_require_device(); }
TestSuite(array, .init = setup);

#define OPT(...) NPG_OPTS(.device = t_dev(), __VA_ARGS__)

static const npg_dtype all_dtypes[] = {NPG_BOOL,  NPG_UINT8, NPG_INT32,  NPG_INT64,  NPG_FLOAT32, NPG_FLOAT64,
                                       NPG_INT8,  NPG_INT16, NPG_UINT16, NPG_UINT32, NPG_UINT64};
#define N_ALL ((int)(sizeof all_dtypes / sizeof all_dtypes[0]))

/* A float value v as integer dtype d holds it: truncated and saturated. */
static double sat_ref(npg_dtype d, double v) {
    double lo = t_int_min(d), hi = t_int_max(d);
    v = trunc(v);
    return v < lo ? lo : v > hi ? hi : v;
}

Test(array, from_data_every_dtype_pair) {
    double src[8] = {0, 1, -2, 3.75, 255, -0.5, 40000.5, -129};
    for (int i = 0; i < N_ALL; i++) {
        for (int j = 0; j < N_ALL; j++) {
            npg_scope s = npg_scope_begin();
            npg_dtype in = all_dtypes[i], out = all_dtypes[j];
            /* host data in dtype `in` */
            npg_array *h = npg_from_data(src, NPG_FLOAT64, NPG_SHAPE(2, 4), NPG_OPTS(.dtype = in, .device = NPG_CPU));
            cr_assert(h, "%s", npg_last_error());
            unsigned char raw[64];
            cr_assert_eq(npg_copy_to_host(h, raw, sizeof raw), NPG_OK);
            npg_array *x = npg_from_data(raw, in, NPG_SHAPE(2, 4), OPT(.dtype = out));
            cr_assert(x, "%s", npg_last_error());
            cr_assert_eq(npg_dtype_of(x), out);
            t_assert_shape(x, NPG_SHAPE(2, 4));
            double *hv = t_read(h), want[8];
            for (int k = 0; k < 8; k++) {
                double v = hv[k];
                /* the source first holds src as `in` does */
                cr_assert_eq(v, in == NPG_BOOL ? src[k] != 0 : npg_is_floating(in) ? (in == NPG_FLOAT32 ? (float)src[k] : src[k])
                                                                                   : sat_ref(in, src[k]));
                if (out == NPG_BOOL)
                    want[k] = v != 0;
                else if (t_is_int(out)) /* integers wrap (two's complement), floats saturate */
                    want[k] = npg_is_floating(in) ? sat_ref(out, v) : t_wrap_val(out, (uint64_t)(int64_t)v);
                else
                    want[k] = out == NPG_FLOAT32 ? (float)v : v;
            }
            char what[64];
            snprintf(what, sizeof what, "%s -> %s", npg_dtype_name(in), npg_dtype_name(out));
            t_assert_close(x, want, 8, 0, 0, what);
            free(hv);
            npg_scope_end(s);
        }
    }
}

Test(array, constants_ranges_eye) {
    npg_scope s = npg_scope_begin();
    npg_array *z = npg_zeros(NPG_SHAPE(2, 3), OPT());
    cr_assert_eq(npg_dtype_of(z), NPG_FLOAT32, "default dtype is float32");
    double zeros[6] = {0}, ones[6] = {1, 1, 1, 1, 1, 1}, sevens[6] = {7, 7, 7, 7, 7, 7};
    t_assert_close(z, zeros, 6, 0, 0, "zeros");
    t_assert_close(npg_ones(NPG_SHAPE(6), OPT(.dtype = NPG_INT32)), ones, 6, 0, 0, "ones");
    t_assert_close(npg_full(NPG_SHAPE(3, 2), 7, OPT(.dtype = NPG_INT64)), sevens, 6, 0, 0, "full");
    npg_array *like = npg_full_like(z, 7, NULL);
    cr_assert_eq(npg_dtype_of(like), NPG_FLOAT32);
    t_assert_shape(like, NPG_SHAPE(2, 3));
    t_assert_close(npg_ones_like(z, NPG_OPTS(.dtype = NPG_FLOAT64)), ones, 6, 0, 0, "ones_like");
    t_assert_close(npg_zeros_like(z, NULL), zeros, 6, 0, 0, "zeros_like");
    t_assert_shape(npg_empty_like(z, NULL), NPG_SHAPE(2, 3));
    t_assert_shape(npg_empty(NPG_SHAPE(0, 4), OPT()), NPG_SHAPE(0, 4));
    double ar[5] = {2, 2.5, 3, 3.5, 4};
    t_assert_close(npg_arange(2, 4.2, 0.5, OPT(.dtype = NPG_FLOAT64)), ar, 5, 1e-15, 0, "arange");
    double ari[4] = {10, 7, 4, 1};
    npg_array *ai = npg_arange(10, 0, -3, OPT(.dtype = NPG_INT64));
    cr_assert_eq(npg_dtype_of(ai), NPG_INT64);
    t_assert_close(ai, ari, 4, 0, 0, "arange int negative step");
    cr_assert_eq(npg_size(npg_arange(5, 0, 1, OPT())), 0);
    double ls[5] = {0, 0.25, 0.5, 0.75, 1};
    t_assert_close(npg_linspace(0, 1, 5, OPT(.dtype = NPG_FLOAT64)), ls, 5, 1e-15, 0, "linspace");
    double one[1] = {3};
    t_assert_close(npg_linspace(3, 9, 1, OPT()), one, 1, 0, 0, "linspace n=1");
    double eye[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    t_assert_close(npg_eye(3, OPT(.dtype = NPG_INT32)), eye, 9, 0, 0, "eye");
    npg_array *sc = npg_scalar(2.5, OPT());
    cr_assert_eq(npg_ndim(sc), 0);
    cr_assert_eq(npg_size(sc), 1);
    cr_assert_float_eq(npg_item(sc), 2.5, 0);
    npg_array *big = npg_scalar_int(INT64_MAX - 3, OPT());
    cr_assert_eq(npg_item_int(big), INT64_MAX - 3, "scalar_int keeps all 64 bits");
    npg_scope_end(s);
}

Test(array, creation_errors) {
    t_live live = t_live_now();
    cr_assert_null(npg_zeros((npg_shape){.ndim = 9}, OPT()));
    t_assert_error(NPG_ERR_SHAPE, "at most 8");
    cr_assert_null(npg_zeros(NPG_SHAPE(2, -1), OPT()));
    t_assert_error(NPG_ERR_SHAPE, "negative");
    cr_assert_null(npg_arange(0, 1, 0, OPT()));
    t_assert_error(NPG_ERR_INVALID_ARG, "npg_arange");
    cr_assert_null(npg_linspace(0, 1, -2, OPT()));
    t_assert_error(NPG_ERR_INVALID_ARG, "npg_linspace");
    cr_assert_null(npg_eye(-1, OPT()));
    cr_assert_null(npg_from_data(NULL, NPG_FLOAT32, NPG_SHAPE(2), OPT()));
    cr_assert_null(npg_from_data((double[]){1}, (npg_dtype)42, NPG_SHAPE(1), OPT()));
    t_assert_error(NPG_ERR_DTYPE, "npg_from_data");
    cr_assert_null(npg_zeros(NPG_SHAPE(1), NPG_OPTS(.device = {NPG_DEVICE_CUDA, 99})));
    t_assert_error(NPG_ERR_DEVICE, "npg_zeros");
    cr_assert_null(npg_zeros(NPG_SHAPE(1ll << 40, 1ll << 40), OPT()));
    t_assert_error(NPG_ERR_OOM, "too large");
    /* found by test_fuzz.c: with a length-0 axis the size is 0 but the
     * strides overflowed; and npg_from_data's count overflowed */
    cr_assert_null(npg_zeros(NPG_SHAPE(0, 1ll << 40, 1ll << 40), OPT()));
    t_assert_error(NPG_ERR_OOM, "too large");
    cr_assert_null(npg_from_data((double[]){1}, NPG_FLOAT64, NPG_SHAPE(1ll << 40, 1ll << 40, 1ll << 40), OPT()));
    t_assert_error(NPG_ERR_OOM, "too large");
    npg_array *e = npg_zeros(NPG_SHAPE(0, 1ll << 20, 1ll << 20), OPT());
    t_assert_shape(e, NPG_SHAPE(0, 1ll << 20, 1ll << 20));
    npg_free(e);
    cr_assert_null(npg_full(NPG_SHAPE(4), 1.0, OPT(.dtype = NPG_INT32, .requires_grad = true)));
    t_assert_error(NPG_ERR_DTYPE, "require grad");
    t_assert_no_leak(live, "creation errors");
}

Test(array, properties) {
    npg_scope s = npg_scope_begin();
    npg_array *x = npg_zeros(NPG_SHAPE(2, 3, 4), OPT(.dtype = NPG_FLOAT64));
    cr_assert_eq(npg_ndim(x), 3);
    cr_assert_eq(npg_size(x), 24);
    cr_assert_eq(npg_itemsize(x), 8);
    cr_assert_eq(npg_nbytes(x), 192);
    cr_assert_eq(npg_dim(x, -1), 4);
    cr_assert_eq(npg_dim(x, 3), -1);
    t_assert_error(NPG_ERR_AXIS, "out of bounds");
    int64_t st[3];
    npg_strides(x, st);
    cr_assert(st[0] == 96 && st[1] == 32 && st[2] == 8, "byte strides %lld %lld %lld", (long long)st[0], (long long)st[1],
              (long long)st[2]);
    npg_array *t = npg_T(x);
    t_assert_shape(t, NPG_SHAPE(4, 3, 2));
    npg_strides(t, st);
    cr_assert(st[0] == 8 && st[1] == 32 && st[2] == 96);
    cr_assert_not(npg_is_contiguous(t));
    cr_assert(npg_is_contiguous(x));
    npg_device d = npg_device_of(x);
    cr_assert_eq(d.type, t_dev().type);
    cr_assert(npg_is_leaf(x));
    cr_assert_not(npg_requires_grad(x));
    cr_assert_str_eq(npg_dtype_name(NPG_INT32), "int32");
    cr_assert_eq(npg_dtype_size(NPG_UINT8), 1);
    cr_assert_eq(npg_result_type(NPG_INT32, NPG_FLOAT32), NPG_FLOAT32);
    cr_assert_eq(npg_result_type(NPG_INT64, NPG_FLOAT32), NPG_FLOAT32);
    cr_assert_eq(npg_result_type(NPG_BOOL, NPG_UINT8), NPG_UINT8);
    cr_assert_eq(npg_result_type(NPG_UINT8, NPG_INT32), NPG_INT32);
    cr_assert_eq(npg_result_type(NPG_FLOAT32, NPG_FLOAT64), NPG_FLOAT64);
    cr_assert(npg_is_floating(NPG_FLOAT32) && !npg_is_floating(NPG_INT64));
    cr_assert(npg_is_integer(NPG_UINT8) && !npg_is_integer(NPG_BOOL));
    npg_clear_error();
    cr_assert_eq(npg_ndim(NULL), 0);
    t_assert_error(NPG_ERR_NULL_ARG, NULL);
    npg_scope_end(s);
}

Test(array, weak_scalars_keep_the_array_dtype) {
    npg_scope s = npg_scope_begin();
    npg_array *i = npg_arange(0, 4, 1, OPT(.dtype = NPG_INT32));
    npg_array *r = npg_multiply_scalar(i, 2);
    cr_assert_eq(npg_dtype_of(r), NPG_INT32);
    double w[4] = {0, 2, 4, 6};
    t_assert_close(r, w, 4, 0, 0, "int32 * 2");
    npg_array *f = npg_add_scalar(npg_ones(NPG_SHAPE(2), OPT()), 1.5);
    cr_assert_eq(npg_dtype_of(f), NPG_FLOAT32);
    double wf[2] = {2.5, 2.5};
    t_assert_close(f, wf, 2, 0, 0, "float32 + 1.5");
    npg_array *d = npg_divide_scalar(i, 2);
    cr_assert_eq(npg_dtype_of(d), NPG_FLOAT32, "true division of ints is floating");
    npg_array *u = npg_add_scalar(npg_full(NPG_SHAPE(1), 250, OPT(.dtype = NPG_UINT8)), 10);
    double wu[1] = {4};
    t_assert_close(u, wu, 1, 0, 0, "uint8 wraps");
    /* the narrow types wrap the same way; a uint64 scalar above int64's range */
    npg_array *i8 = npg_add_scalar(npg_full(NPG_SHAPE(1), 127, OPT(.dtype = NPG_INT8)), 1);
    cr_assert_eq(npg_dtype_of(i8), NPG_INT8);
    cr_assert_eq(npg_item_int(i8), -128);
    cr_assert_eq(npg_item_int(npg_multiply_scalar(npg_full(NPG_SHAPE(1), 300, OPT(.dtype = NPG_UINT16)), 300)),
                 90000 % 65536);
    cr_assert_eq(npg_item_int(npg_add_scalar(npg_full(NPG_SHAPE(1), 5, OPT(.dtype = NPG_INT16)), 70000)),
                 (int16_t)(uint16_t)(70005 & 0xFFFF));
    npg_array *top = npg_full(NPG_SHAPE0, 1e30, OPT(.dtype = NPG_UINT64)); /* saturates at 2^64 - 1 */
    cr_assert_eq((uint64_t)npg_item_int(top), UINT64_MAX);
    cr_assert_eq(npg_item(top), 18446744073709551616.0);
    cr_assert_eq(npg_item_int(npg_add_scalar(top, 1)), 0, "uint64 wraps");
    cr_assert_eq((uint64_t)npg_item_int(npg_subtract_scalar(npg_scalar(0, OPT(.dtype = NPG_UINT64)), 1.0e19)),
                 (uint64_t)0 - 10000000000000000000ull);
    cr_assert_eq((uint64_t)npg_item_int(npg_add_scalar(npg_scalar(1, OPT(.dtype = NPG_UINT64)), -1)), 0);
    cr_assert_eq(npg_item_int(npg_scalar_int(INT64_MAX, OPT(.dtype = NPG_UINT64))), INT64_MAX, "exact, not via double");
    /* doubles just below 2^63 are exact int64 values, not saturated ones */
    cr_assert_eq(npg_item_int(npg_full(NPG_SHAPE0, 9.21e18, OPT(.dtype = NPG_INT64))), 9210000000000000000ll);
    cr_assert_eq(npg_item_int(npg_add_scalar(npg_zeros(NPG_SHAPE0, OPT(.dtype = NPG_INT64)), -9.21e18)),
                 -9210000000000000000ll);
    npg_scope_end(s);
}

Test(array, copy_to_host_item_data) {
    npg_scope s = npg_scope_begin();
    float v[6] = {1, 2, 3, 4, 5, 6};
    npg_array *x = npg_from_data(v, NPG_FLOAT32, NPG_SHAPE(2, 3), OPT());
    float out[6];
    cr_assert_eq(npg_copy_to_host(npg_T(x), out, sizeof out), NPG_OK);
    float want[6] = {1, 4, 2, 5, 3, 6};
    for (int i = 0; i < 6; i++) cr_assert_eq(out[i], want[i], "transposed read %d", i);
    cr_assert_eq(npg_copy_to_host(x, out, 8), NPG_ERR_INVALID_ARG);
    t_assert_error(NPG_ERR_INVALID_ARG, "too small");
    cr_assert(isnan(npg_item(x)));
    t_assert_error(NPG_ERR_SHAPE, "exactly one element");
    cr_assert_float_eq(npg_item(NPG_INDEX(x, NPG_I(1), NPG_I(-1))), 6.0, 0);
    cr_assert_eq(npg_item_int(npg_sum(npg_astype(x, NPG_INT64), NPG_ALL_AXES, false)), 21);
    cr_assert_not_null(npg_data(x));
    if (t_dev().type == NPG_DEVICE_CPU) cr_assert_eq(((float *)npg_data(x))[4], 5.0f);
    npg_scope_end(s);
}

static bool same_opts(const npg_print_options *a, const npg_print_options *b) {
    return a->precision == b->precision && a->threshold == b->threshold && a->edgeitems == b->edgeitems &&
           a->linewidth == b->linewidth && a->suppress == b->suppress;
}

Test(array, print_options_like_numpy) {
    npg_scope s = npg_scope_begin();
    char buf[4096];
    npg_print_options def, o;
    npg_get_print_options(&def);
    cr_assert(def.precision == 8 && def.threshold == 1000 && def.edgeitems == 3 && def.linewidth == 75 &&
              !def.suppress);
    npg_array *a = npg_from_data((double[]){0.123456789, 1.5, -2.0}, NPG_FLOAT64, NPG_SHAPE(3), OPT());
    npg_array *b = npg_from_data((double[]){1e-12, 1.0, 0.5}, NPG_FLOAT64, NPG_SHAPE(3), OPT());
    npg_array *c = npg_arange(0, 10, 1, OPT(.dtype = NPG_FLOAT64));
    npg_array *d = npg_reshape(npg_arange(0, 30, 1, OPT(.dtype = NPG_INT64)), NPG_SHAPE(5, 6));
    npg_array *e = npg_arange(0, 12, 1, OPT(.dtype = NPG_FLOAT64));
    o = def, o.precision = 3;
    cr_assert_eq(npg_set_print_options(&o), NPG_OK);
    npg_format(a, buf, sizeof buf);
    cr_assert_str_eq(buf, "[ 0.123  1.5   -2.   ]");
    npg_format(npg_scalar(0.123456789, OPT(.dtype = NPG_FLOAT64)), buf, sizeof buf);
    cr_assert_str_eq(buf, "0.123456789", "0-d floats print as Python's repr");
    o = def, o.suppress = true;
    cr_assert_eq(npg_set_print_options(&o), NPG_OK);
    npg_format(b, buf, sizeof buf);
    cr_assert_str_eq(buf, "[0.  1.  0.5]");
    o = def, o.threshold = 5, o.edgeitems = 2, o.linewidth = 30;
    cr_assert_eq(npg_set_print_options(&o), NPG_OK);
    npg_format(c, buf, sizeof buf);
    cr_assert_str_eq(buf, "[0. 1. ... 8. 9.]");
    npg_format(d, buf, sizeof buf);
    cr_assert_str_eq(buf, "[[ 0  1 ...  4  5]\n [ 6  7 ... 10 11]\n ...\n [18 19 ... 22 23]\n [24 25 ... 28 29]]");
    o = def, o.linewidth = 20;
    cr_assert_eq(npg_set_print_options(&o), NPG_OK);
    npg_format(e, buf, sizeof buf);
    cr_assert_str_eq(buf, "[ 0.  1.  2.  3.\n  4.  5.  6.  7.\n  8.  9. 10. 11.]");
    /* refusals leave the options as they were */
    npg_print_options before, after;
    npg_get_print_options(&before);
    const npg_print_options bad[4] = {{.precision = 51, .threshold = 1, .edgeitems = 1, .linewidth = 1},
                                      {.precision = 1, .threshold = -1, .edgeitems = 1, .linewidth = 1},
                                      {.precision = 1, .threshold = 1, .edgeitems = 0, .linewidth = 1},
                                      {.precision = 1, .threshold = 1, .edgeitems = 1, .linewidth = 0}};
    const char *what[4] = {"precision 51", "threshold -1", "edgeitems 0", "linewidth 0"};
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(npg_set_print_options(&bad[i]), NPG_ERR_INVALID_ARG);
        cr_assert(strstr(npg_last_error(), what[i]), "%s", npg_last_error());
        npg_get_print_options(&after);
        cr_assert(same_opts(&before, &after), "%s changed the options", what[i]);
    }
    npg_clear_error();
    cr_assert_eq(npg_set_print_options(NULL), NPG_OK, "NULL restores the defaults");
    npg_get_print_options(&after);
    cr_assert(same_opts(&def, &after));
    npg_format(c, buf, sizeof buf);
    cr_assert_str_eq(buf, "[0. 1. 2. 3. 4. 5. 6. 7. 8. 9.]");
    npg_scope_end(s);
}

Test(array, printing_like_numpy) {
    npg_scope s = npg_scope_begin();
    char buf[4096];
    struct {
        npg_array *x;
        const char *want;
    } cases[] = {
        {npg_arange(0, 6, 1, OPT(.dtype = NPG_FLOAT32)), "[0. 1. 2. 3. 4. 5.]"},
        {npg_reshape(npg_arange(0, 6, 1, OPT(.dtype = NPG_INT64)), NPG_SHAPE(2, 3)), "[[0 1 2]\n [3 4 5]]"},
        {npg_from_data((double[]){0.1, 2.25, -3}, NPG_FLOAT64, NPG_SHAPE(3), OPT()), "[ 0.1   2.25 -3.  ]"},
        {npg_from_data((double[]){1, 0}, NPG_FLOAT64, NPG_SHAPE(2), OPT(.dtype = NPG_BOOL)), "[ True False]"},
        {npg_scalar(2.5, OPT()), "2.5"},
        {npg_scalar(5, OPT()), "5.0"},
        {npg_zeros(NPG_SHAPE(2, 0), OPT()), "[]"},
        {npg_from_data((double[]){1e-10, 1}, NPG_FLOAT64, NPG_SHAPE(2), OPT()), "[1.e-10 1.e+00]"},
        {npg_from_data((double[]){NAN, 1.5, -INFINITY}, NPG_FLOAT64, NPG_SHAPE(3), OPT()), "[ nan  1.5 -inf]"},
        {npg_reshape(npg_arange(0, 8, 1, OPT(.dtype = NPG_INT32)), NPG_SHAPE(2, 2, 2)), "[[[0 1]\n  [2 3]]\n\n [[4 5]\n  [6 7]]]"},
        {npg_scalar(0.1f, OPT()), "0.1"},
        /* NumPy 1.24's str() of these arrays (514 generated arrays of every
         * float dtype, shape and scale matched it when written): scientific
         * columns padded to one precision with exact digits, the magnitude-
         * ratio rule, 3-digit exponents, the 8-digit cap, wrapped lines
         * stripped of their padding, summaries that wrap like any word,
         * bools padded, 0-d floats as Python's repr */
        {npg_from_data((double[]){70, 100, 1e4, 12345, 0.5, 3e-5, 65504, 1e5}, NPG_FLOAT64, NPG_SHAPE(8),
                       OPT(.dtype = NPG_FLOAT32)),
         "[7.0000e+01 1.0000e+02 1.0000e+04 1.2345e+04 5.0000e-01 3.0000e-05\n 6.5504e+04 1.0000e+05]"},
        {npg_from_data((double[]){1, 1000, 10000}, NPG_FLOAT64, NPG_SHAPE(3), OPT()), "[1.e+00 1.e+03 1.e+04]"},
        {npg_from_data((double[]){1e-5, 1e100}, NPG_FLOAT64, NPG_SHAPE(2), OPT()), "[1.e-005 1.e+100]"},
        {npg_from_data((double[]){-9.120973801e-09}, NPG_FLOAT64, NPG_SHAPE(1), OPT()), "[-9.1209738e-09]"},
        {npg_from_data((double[]){0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.25, 2.5, 2.75, 3.0, 3.125, 0.5,
                                  0.1, 0.2},
                       NPG_FLOAT64, NPG_SHAPE(17), OPT()),
         "[0.    0.25  0.5   0.75  1.    1.25  1.5   1.75  2.    2.25  2.5   2.75\n 3.    3.125 0.5   0.1   0.2  ]"},
        {npg_from_data((double[]){1, 1}, NPG_FLOAT64, NPG_SHAPE(2), OPT(.dtype = NPG_BOOL)), "[ True  True]"},
        {npg_multiply_scalar(npg_arange(0, 1200, 1, OPT(.dtype = NPG_FLOAT64)), 1.5e-5),
         "[0.0000e+00 1.5000e-05 3.0000e-05 ... 1.7955e-02 1.7970e-02 1.7985e-02]"},
        {npg_scalar(-1303157248.0, OPT(.dtype = NPG_FLOAT32)), "-1303157200.0"},
        {npg_scalar(1e16, OPT(.dtype = NPG_FLOAT64)), "1e+16"},
        {npg_scalar(1.5e-5, OPT(.dtype = NPG_FLOAT64)), "1.5e-05"},
        {npg_scalar(70, OPT(.dtype = NPG_FLOAT32)), "70.0"},
        {npg_scalar(12345, OPT(.dtype = NPG_FLOAT16)), "12344.0"},
        {npg_scalar(-0.0, OPT(.dtype = NPG_FLOAT64)), "-0.0"},
        {npg_scalar(0.00015, OPT(.dtype = NPG_FLOAT64)), "0.00015"},
        {npg_scalar(123456789.0, OPT(.dtype = NPG_FLOAT64)), "123456789.0"},
        /* the narrow and unsigned integers; uint64 beyond int64's range */
        {npg_from_data((double[]){-128, 0, 127}, NPG_FLOAT64, NPG_SHAPE(3), OPT(.dtype = NPG_INT8)), "[-128    0  127]"},
        {npg_from_data((uint64_t[]){UINT64_MAX, 0}, NPG_UINT64, NPG_SHAPE(2), OPT()),
         "[18446744073709551615                    0]"},
        {npg_scalar(65535, OPT(.dtype = NPG_UINT16)), "65535"},
        {npg_reshape(npg_arange(-3, 3, 1, OPT(.dtype = NPG_INT16)), NPG_SHAPE(2, 3)), "[[-3 -2 -1]\n [ 0  1  2]]"},
        {npg_from_data((double[]){4294967295.0, 7}, NPG_FLOAT64, NPG_SHAPE(2), OPT(.dtype = NPG_UINT32)),
         "[4294967295          7]"},
        {npg_full(NPG_SHAPE(1), 1e30, OPT(.dtype = NPG_UINT64)), "[18446744073709551615]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cr_assert(cases[i].x, "case %zu: %s", i, npg_last_error());
        int64_t n = npg_format(cases[i].x, buf, sizeof buf);
        cr_assert_eq(n, (int64_t)strlen(cases[i].want), "case %zu: length %lld for '%s'", i, (long long)n, buf);
        cr_assert_str_eq(buf, cases[i].want, "case %zu", i);
    }
    /* summarised */
    npg_array *big = npg_arange(0, 2000, 1, OPT(.dtype = NPG_INT64));
    npg_format(big, buf, sizeof buf);
    cr_assert_str_eq(buf, "[   0    1    2 ... 1997 1998 1999]");
    npg_array *big2 = npg_reshape(npg_arange(0, 10000, 1, OPT(.dtype = NPG_INT64)), NPG_SHAPE(100, 100));
    npg_format(big2, buf, sizeof buf);
    cr_assert(strstr(buf, "[[   0    1    2 ...   97   98   99]\n [ 100  101  102 ...  197  198  199]\n [ 200"),
              "%s", buf);
    cr_assert(strstr(buf, " ...\n [9700"), "%s", buf);
    /* snprintf semantics */
    char small[4];
    int64_t need = npg_format(cases[0].x, small, sizeof small);
    cr_assert_eq(need, (int64_t)strlen(cases[0].want));
    cr_assert_str_eq(small, "[0.");
    cr_assert_eq(npg_format(NULL, buf, sizeof buf), -1);
    FILE *f = tmpfile();
    cr_assert_eq(npg_fprint(f, cases[1].x), NPG_OK);
    rewind(f);
    char line[64] = {0};
    cr_assert(fgets(line, sizeof line, f));
    cr_assert_str_eq(line, "[[0 1 2]\n");
    fclose(f);
    npg_scope_end(s);
}

Test(array, scopes_own_and_keep) {
    t_live live = t_live_now();
    npg_array *kept;
    npg_scope outer = npg_scope_begin();
    {
        npg_scope inner = npg_scope_begin();
        npg_array *a = npg_ones(NPG_SHAPE(3), OPT());
        npg_array *b = npg_add(a, a);
        npg_free(a); /* early free inside a scope is fine */
        kept = npg_keep(b);
        npg_scope_end(inner);
    }
    double w[3] = {2, 2, 2};
    t_assert_close(kept, w, 3, 0, 0, "kept survives the inner scope");
    npg_keep(kept); /* to the caller */
    npg_scope_end(outer);
    t_assert_close(kept, w, 3, 0, 0, "kept by the caller");
    npg_array *r = npg_retain(kept);
    cr_assert_eq(r, kept);
    npg_free(kept);
    npg_free(kept);
    t_assert_no_leak(live, "scopes");
    /* nested scopes ended by an outer end */
    npg_scope a = npg_scope_begin();
    npg_ones(NPG_SHAPE(1), OPT());
    npg_scope_begin();
    npg_ones(NPG_SHAPE(1), OPT());
    npg_scope_end(a);
    t_assert_no_leak(live, "inner scope left open");
    npg_free(NULL);
    cr_assert_null(npg_keep(NULL));
}

Test(array, errors_propagate_through_expressions) {
    t_live live = t_live_now();
    npg_scope s = npg_scope_begin();
    npg_array *a = npg_ones(NPG_SHAPE(3, 4), OPT()), *b = npg_ones(NPG_SHAPE(5, 6), OPT());
    npg_clear_error();
    npg_array *r = npg_exp(npg_add(npg_matmul(a, b), a));
    cr_assert_null(r);
    t_assert_error(NPG_ERR_SHAPE, "npg_matmul: shapes (3,4) and (5,6) are not aligned (4 != 5)");
    npg_clear_error();
    cr_assert_null(npg_exp(NULL));
    t_assert_error(NPG_ERR_NULL_ARG, "npg_exp");
    cr_assert_eq(npg_last_status(), NPG_ERR_NULL_ARG);
    npg_clear_error();
    cr_assert_eq(npg_last_status(), NPG_OK);
    cr_assert_str_eq(npg_last_error(), "");
    cr_assert_str_eq(npg_status_string(NPG_ERR_OOM), "out of memory");
    npg_scope_end(s);
    t_assert_no_leak(live, "error expression");
}

Test(array, random_reproducible_and_in_range) {
    npg_scope s = npg_scope_begin();
    npg_seed(123);
    npg_array *a = npg_rand(NPG_SHAPE(1000), OPT(.dtype = NPG_FLOAT64));
    npg_seed(123);
    npg_array *b = npg_rand(NPG_SHAPE(1000), OPT(.dtype = NPG_FLOAT64));
    npg_array *c = npg_rand(NPG_SHAPE(1000), OPT(.dtype = NPG_FLOAT64));
    double *va = t_read(a), *vb = t_read(b), *vc = t_read(c);
    double mean = 0;
    int same_c = 0;
    for (int i = 0; i < 1000; i++) {
        cr_assert_eq(va[i], vb[i], "same seed, same values");
        cr_assert(va[i] >= 0 && va[i] < 1);
        same_c += va[i] == vc[i];
        mean += va[i] / 1000;
    }
    cr_assert_lt(same_c, 5, "the next call uses a new stream offset");
    cr_assert(fabs(mean - 0.5) < 0.05, "mean %g", mean);
    free(va);
    free(vb);
    free(vc);
    /* generator objects are independent of the global one */
    npg_generator *g = npg_generator_new(99), *h = npg_generator_new(99);
    npg_array *n1 = npg_normal(3.0, 2.0, NPG_SHAPE(4000), OPT(.generator = g, .dtype = NPG_FLOAT64));
    npg_array *n2 = npg_normal(3.0, 2.0, NPG_SHAPE(4000), OPT(.generator = h, .dtype = NPG_FLOAT64));
    double *v1 = t_read(n1), *v2 = t_read(n2), m = 0, sq = 0;
    for (int i = 0; i < 4000; i++) {
        cr_assert_eq(v1[i], v2[i]);
        m += v1[i] / 4000;
    }
    for (int i = 0; i < 4000; i++) sq += (v1[i] - m) * (v1[i] - m) / 4000;
    cr_assert(fabs(m - 3.0) < 0.15 && fabs(sqrt(sq) - 2.0) < 0.15, "mean %g std %g", m, sqrt(sq));
    free(v1);
    free(v2);
    npg_array *u = npg_uniform(-2, 5, NPG_SHAPE(500), OPT());
    double *vu = t_read(u);
    for (int i = 0; i < 500; i++) cr_assert(vu[i] >= -2 && vu[i] < 5);
    free(vu);
    npg_array *ri = npg_randint(-3, 4, NPG_SHAPE(2000), OPT(.dtype = NPG_INT32));
    cr_assert_eq(npg_dtype_of(ri), NPG_INT32);
    double *vr = t_read(ri);
    int seen[7] = {0};
    for (int i = 0; i < 2000; i++) {
        cr_assert(vr[i] >= -3 && vr[i] < 4 && vr[i] == floor(vr[i]));
        seen[(int)vr[i] + 3]++;
    }
    for (int k = 0; k < 7; k++) cr_assert_gt(seen[k], 200, "value %d seen %d times", k - 3, seen[k]);
    free(vr);
    npg_array *p = npg_permutation(50, OPT());
    double *vp = t_read(p);
    int hit[50] = {0};
    for (int i = 0; i < 50; i++) hit[(int)vp[i]]++;
    for (int i = 0; i < 50; i++) cr_assert_eq(hit[i], 1);
    free(vp);
    cr_assert_null(npg_randint(3, 3, NPG_SHAPE(2), OPT()));
    t_assert_error(NPG_ERR_INVALID_ARG, "low >= high");
    cr_assert_null(npg_randint(0, 300, NPG_SHAPE(2), OPT(.dtype = NPG_UINT8)));
    /* every integer dtype: its whole range is allowed, one past it is not,
     * and the draws are those of int64 (the same stream), narrowed */
    const struct {
        npg_dtype dt;
        int64_t lo, hi;
    } rr[] = {{NPG_INT8, -128, 128},    {NPG_INT16, -32768, 32768},   {NPG_UINT16, 0, 65536},
              {NPG_UINT32, 0, 1ll << 32}, {NPG_UINT64, 0, INT64_MAX}, {NPG_INT32, INT32_MIN, 1ll << 31}};
    for (size_t k = 0; k < sizeof rr / sizeof rr[0]; k++) {
        npg_generator *g1 = npg_generator_new(5), *g2 = npg_generator_new(5);
        npg_array *r = npg_randint(rr[k].lo, rr[k].hi, NPG_SHAPE(500), OPT(.dtype = rr[k].dt, .generator = g1));
        npg_array *r64 = npg_randint(rr[k].lo, rr[k].hi, NPG_SHAPE(500), OPT(.dtype = NPG_INT64, .generator = g2));
        cr_assert(r && r64, "%s: %s", npg_dtype_name(rr[k].dt), npg_last_error());
        cr_assert_eq(npg_dtype_of(r), rr[k].dt);
        cr_assert(npg_item(npg_all(npg_equal(npg_astype(r, NPG_INT64), r64), NPG_ALL_AXES, false)) == 1, "%s: not int64's draws",
                  npg_dtype_name(rr[k].dt));
        npg_generator_free(g1);
        npg_generator_free(g2);
        cr_assert_null(npg_randint(rr[k].lo - 1, rr[k].hi, NPG_SHAPE(2), OPT(.dtype = rr[k].dt)), "%s below",
                       npg_dtype_name(rr[k].dt));
        t_assert_error(NPG_ERR_INVALID_ARG, "out of range");
        if (rr[k].hi < INT64_MAX) {
            cr_assert_null(npg_randint(rr[k].lo, rr[k].hi + 1, NPG_SHAPE(2), OPT(.dtype = rr[k].dt)));
            t_assert_error(NPG_ERR_INVALID_ARG, "out of range");
        }
    }
    cr_assert_null(npg_rand(NPG_SHAPE(2), OPT(.dtype = NPG_INT32)));
    t_assert_error(NPG_ERR_DTYPE, "npg_rand");
    cr_assert_null(npg_normal(0, -1, NPG_SHAPE(2), OPT()));
    npg_generator_free(g);
    npg_generator_free(h);
    npg_scope_end(s);
}

Test(array, devices_and_threads) {
    npg_device d;
    cr_assert_eq(npg_parse_device("cpu", &d), NPG_OK);
    cr_assert_eq(d.type, NPG_DEVICE_CPU);
    cr_assert_eq(npg_parse_device(" CUDA:3 ", &d), NPG_OK);
    cr_assert(d.type == NPG_DEVICE_CUDA && d.index == 3);
    cr_assert_eq(npg_parse_device("tpu", &d), NPG_ERR_INVALID_ARG);
    cr_assert_eq(npg_parse_device("cuda:x", &d), NPG_ERR_INVALID_ARG);
    cr_assert_eq(npg_parse_device("auto", &d), NPG_OK);
    cr_assert_eq(d.type, npg_cuda_available() ? NPG_DEVICE_CUDA : NPG_DEVICE_CPU);
    char name[256];
    cr_assert_eq(npg_device_name(NPG_CPU, name, sizeof name), NPG_OK);
    cr_assert(strncmp(name, "cpu", 3) == 0, "%s", name);
    size_t fr = 0, tot = 0;
    cr_assert_eq(npg_device_memory(NPG_CPU, &fr, &tot), NPG_OK);
    cr_assert(tot > 0 && fr <= tot);
    cr_assert_eq(npg_device_count(NPG_DEVICE_CPU), 1);
    cr_assert_eq(npg_synchronize(NPG_CPU), NPG_OK);
    int nt = npg_get_num_threads();
    cr_assert_geq(nt, 1);
    npg_set_num_threads(1);
    cr_assert_eq(npg_get_num_threads(), 1);
    npg_set_num_threads(nt);
    if (!npg_cuda_available()) {
        cr_assert_eq(npg_device_count(NPG_DEVICE_CUDA), 0);
        cr_assert_null(npg_zeros(NPG_SHAPE(2), NPG_OPTS(.device = NPG_CUDA(0))));
        t_assert_error(NPG_ERR_DEVICE, "cuda");
    }
}
