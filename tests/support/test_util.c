/*
 * test_util.c — see test_util.h.
 */
#include "test_util.h"

#include <stdio.h>

npg_device t_dev(void) { return npg_default_device(); }

void t_require_device(void) {
    npg_device d = npg_default_device();
    if (d.type == NPG_DEVICE_CUDA && !npg_cuda_available()) cr_skip_test("NPG_DEVICE selects CUDA but no CUDA device is available");
}

void t_require_cuda(void) {
    if (!npg_cuda_available()) cr_skip_test("no CUDA device (this build or machine has none)");
}

double *t_read(const npg_array *x) {
    int64_t n = npg_size(x);
    double *out = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    cr_assert(out);
    if (n == 0) return out;
    npg_array *f = npg_astype((npg_array *)x, NPG_FLOAT64);
    cr_assert(f, "t_read: astype failed: %s", npg_last_error());
    npg_status st = npg_copy_to_host(f, out, sizeof(double) * (size_t)n);
    cr_assert_eq(st, NPG_OK, "t_read: copy_to_host failed: %s", npg_last_error());
    npg_free(f);
    return out;
}

npg_array *t_arr(const double *v, npg_dtype dtype, npg_shape shape) {
    npg_array *x = npg_from_data(v, NPG_FLOAT64, shape, NPG_OPTS(.dtype = dtype, .device = t_dev()));
    cr_assert(x, "t_arr failed: %s", npg_last_error());
    return x;
}

void t_assert_close_buf(const double *got, const double *want, int64_t n, double rtol, double atol, const char *what) {
    for (int64_t i = 0; i < n; i++) {
        double g = got[i], w = want[i];
        bool ok;
        if (isnan(w))
            ok = isnan(g);
        else if (isinf(w))
            ok = g == w;
        else
            ok = fabs(g - w) <= atol + rtol * fabs(w);
        if (!ok) cr_assert_fail("%s: element %lld: got %.17g, want %.17g (rtol %g, atol %g)", what, (long long)i, g, w, rtol, atol);
    }
}

void t_assert_close(const npg_array *x, const double *want, int64_t n, double rtol, double atol, const char *what) {
    cr_assert(x, "%s: array is NULL (%s)", what, npg_last_error());
    cr_assert_eq(npg_size(x), n, "%s: size %lld, want %lld", what, (long long)npg_size(x), (long long)n);
    double *got = t_read(x);
    t_assert_close_buf(got, want, n, rtol, atol, what);
    free(got);
}

void t_assert_shape(const npg_array *x, npg_shape shape) {
    cr_assert(x, "array is NULL (%s)", npg_last_error());
    npg_shape s = npg_shape_of(x);
    cr_assert_eq(s.ndim, shape.ndim, "ndim %d, want %d", s.ndim, shape.ndim);
    for (int i = 0; i < s.ndim; i++) cr_assert_eq(s.dims[i], shape.dims[i], "dim %d: %lld, want %lld", i, (long long)s.dims[i], (long long)shape.dims[i]);
}

t_live t_live_now(void) { return (t_live){npg__live_arrays(), npg__live_storages()}; }

void t_assert_no_leak(t_live before, const char *what) {
    t_live now = t_live_now();
    cr_assert_eq(now.arrays, before.arrays, "%s: %lld arrays leaked", what, (long long)(now.arrays - before.arrays));
    cr_assert_eq(now.storages, before.storages, "%s: %lld storages leaked", what, (long long)(now.storages - before.storages));
}

void t_assert_error(npg_status want, const char *needle) {
    npg_status st = npg_last_status();
    cr_assert_eq(st, want, "status %d (%s), want %d (%s); message: %s", st, npg_status_string(st), want, npg_status_string(want),
                 npg_last_error());
    if (needle) cr_assert(strstr(npg_last_error(), needle), "message '%s' does not contain '%s'", npg_last_error(), needle);
}

void t_fill_uniform(double *v, int64_t n, double lo, double hi, uint64_t seed) {
    uint64_t s = seed * 6364136223846793005ull + 1442695040888963407ull;
    for (int64_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        double u = (double)(s >> 11) * (1.0 / 9007199254740992.0);
        v[i] = lo + (hi - lo) * u;
    }
}

void t_expect_unchanged(const npg_array *x, const double *hv, int64_t n, const char *label) {
    if (n <= 0) return;
    double *got = t_read(x);
    for (int64_t i = 0; got && i < n; i++)
        if (!(got[i] == hv[i] || (isnan(got[i]) && isnan(hv[i])))) {
            cr_expect(0, "%s: input modified at element %lld (%.17g -> %.17g)", label, (long long)i, hv[i], got[i]);
            break;
        }
    free(got);
}

int64_t t_numel(npg_shape s) {
    int64_t n = 1;
    for (int i = 0; i < s.ndim; i++) n *= s.dims[i];
    return n;
}

npg_array *t_urand(npg_shape s, double lo, double hi, uint64_t seed, npg_dtype dt, double **host) {
    int64_t n = t_numel(s);
    double *v = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    t_fill_uniform(v, n, lo, hi, seed);
    npg_array *x = t_arr(v, dt ? dt : NPG_FLOAT64, s);
    free(v);
    if (host) *host = t_read(x);
    return x;
}

npg_array *t_leaf(npg_array *x) {
    cr_assert_eq(npg_set_requires_grad(x, true), NPG_OK, "%s", npg_last_error());
    return x;
}

bool t_is_unsigned(npg_dtype d) { return d == NPG_UINT8 || d == NPG_UINT16 || d == NPG_UINT32 || d == NPG_UINT64; }

bool t_is_int(npg_dtype d) { return t_is_unsigned(d) || d == NPG_INT8 || d == NPG_INT16 || d == NPG_INT32 || d == NPG_INT64; }

int t_int_bits(npg_dtype d) {
    switch (d) {
    case NPG_BOOL: case NPG_UINT8: case NPG_INT8: return 8;
    case NPG_UINT16: case NPG_INT16: return 16;
    case NPG_UINT32: case NPG_INT32: return 32;
    case NPG_UINT64: case NPG_INT64: return 64;
    default: return 0;
    }
}

double t_int_min(npg_dtype d) {
    if (d == NPG_BOOL) return 0;
    if (!t_is_int(d)) cr_assert_fail("t_int_min: %s is not an integer dtype", npg_dtype_name(d));
    return t_is_unsigned(d) ? 0 : -ldexp(1, t_int_bits(d) - 1);
}

double t_int_max(npg_dtype d) {
    if (d == NPG_BOOL) return 1;
    if (!t_is_int(d)) cr_assert_fail("t_int_max: %s is not an integer dtype", npg_dtype_name(d));
    return ldexp(1, t_is_unsigned(d) ? t_int_bits(d) : t_int_bits(d) - 1) - 1;
}

uint64_t t_wrap_bits(npg_dtype d, uint64_t u) {
    if (d == NPG_BOOL) return u != 0;
    if (!t_is_int(d)) cr_assert_fail("t_wrap_bits: %s is not an integer dtype", npg_dtype_name(d));
    int b = t_int_bits(d);
    if (b == 64) return u;
    u &= (1ull << b) - 1;
    if (!t_is_unsigned(d) && (u >> (b - 1))) u |= ~0ull << b;
    return u;
}

double t_wrap_val(npg_dtype d, uint64_t u) {
    u = t_wrap_bits(d, u);
    return t_is_unsigned(d) || d == NPG_BOOL ? (double)u : (double)(int64_t)u;
}

uint64_t t_get_bits(npg_dtype d, const void *p, int64_t i) {
    switch (d) {
    case NPG_BOOL: return ((const uint8_t *)p)[i] != 0;
    case NPG_UINT8: return ((const uint8_t *)p)[i];
    case NPG_UINT16: return ((const uint16_t *)p)[i];
    case NPG_UINT32: return ((const uint32_t *)p)[i];
    case NPG_UINT64: return ((const uint64_t *)p)[i];
    case NPG_INT8: return (uint64_t)(int64_t)((const int8_t *)p)[i];
    case NPG_INT16: return (uint64_t)(int64_t)((const int16_t *)p)[i];
    case NPG_INT32: return (uint64_t)(int64_t)((const int32_t *)p)[i];
    case NPG_INT64: return (uint64_t)((const int64_t *)p)[i];
    default: cr_assert_fail("t_get_bits: element of a %s", npg_dtype_name(d));
    }
    return 0;
}

void t_put_bits(npg_dtype d, void *p, int64_t i, uint64_t v) {
    switch (d) { /* unsigned conversions keep the low bits; a signed one gets the wrapped value, in its range */
    case NPG_BOOL: ((uint8_t *)p)[i] = v != 0; break;
    case NPG_UINT8: ((uint8_t *)p)[i] = (uint8_t)v; break;
    case NPG_UINT16: ((uint16_t *)p)[i] = (uint16_t)v; break;
    case NPG_UINT32: ((uint32_t *)p)[i] = (uint32_t)v; break;
    case NPG_UINT64: ((uint64_t *)p)[i] = v; break;
    case NPG_INT8: ((int8_t *)p)[i] = (int8_t)(int64_t)t_wrap_bits(d, v); break;
    case NPG_INT16: ((int16_t *)p)[i] = (int16_t)(int64_t)t_wrap_bits(d, v); break;
    case NPG_INT32: ((int32_t *)p)[i] = (int32_t)(int64_t)t_wrap_bits(d, v); break;
    case NPG_INT64: ((int64_t *)p)[i] = (int64_t)v; break;
    default: cr_assert_fail("t_put_bits: into a %s element", npg_dtype_name(d));
    }
}
