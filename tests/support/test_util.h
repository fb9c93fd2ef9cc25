/*
 * test_util.h — helpers shared by the Criterion suites: the device under
 * test (NPG_DEVICE, so the same binaries run on CPU and GPU), reading
 * arrays as float64, closeness checks with readable failures, and live-
 * object counters for leak checks.
 */
#ifndef NPG_TEST_UTIL_H
#define NPG_TEST_UTIL_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "npg.h"

/* The device tests run on: the process default (NPG_DEVICE). */
npg_device t_dev(void);
/* Skip the current test when the device under test is unavailable (e.g.
 * NPG_DEVICE=cuda on a machine without a GPU). Call at the start of tests. */
void t_require_device(void);
/* Skip unless a CUDA device is present. */
void t_require_cuda(void);

/* Read any array as row-major doubles (malloc'd; caller frees). */
double *t_read(const npg_array *x);
/* Build an array on the test device from doubles, converted to dtype. */
npg_array *t_arr(const double *v, npg_dtype dtype, npg_shape shape);

/* Element-wise |got - want| <= atol + rtol * |want|; NaN matches NaN and
 * infinities must match exactly. Reports the first mismatch. */
void t_assert_close_buf(const double *got, const double *want, int64_t n, double rtol, double atol, const char *what);
void t_assert_close(const npg_array *x, const double *want, int64_t n, double rtol, double atol, const char *what);
/* x has exactly `shape` and `dtype`. */
void t_assert_shape(const npg_array *x, npg_shape shape);

/* Leak checks: live arrays and storages must return to the starting counts. */
typedef struct t_live {
    int64_t arrays, storages;
} t_live;
t_live t_live_now(void);
void t_assert_no_leak(t_live before, const char *what);

/* Expect (cr_expect, not fatal) x's row-major values to still be hv[0..n):
 * an input an operation must not have modified; NaN matches NaN. */
void t_expect_unchanged(const npg_array *x, const double *hv, int64_t n, const char *label);

/* Expect an error status and a message containing `needle`. */
void t_assert_error(npg_status want, const char *needle);

/* Simple deterministic pseudo-random doubles in [lo, hi) for test inputs. */
void t_fill_uniform(double *v, int64_t n, double lo, double hi, uint64_t seed);

/* The number of elements of shape s. */
int64_t t_numel(npg_shape s);
/* Uniform values in [lo, hi) (t_fill_uniform with seed) as an array of dtype
 * dt (float64 when 0) on the test device. *host, when given, receives the
 * array's values as read back (so float32 rounding is included; free it). */
npg_array *t_urand(npg_shape s, double lo, double hi, uint64_t seed, npg_dtype dt, double **host);
/* x with requires_grad set (asserted); returns x. */
npg_array *t_leaf(npg_array *x);

/* ---- bool and the integer dtypes (npg.h: two's complement, wrapping) -----
 * One copy for every suite; written without the library's own conversions
 * (scalar_ops.h), so references built on them stay independent of it. */
/* d is an unsigned integer dtype (uint8, uint16, uint32, uint64; not bool). */
bool t_is_unsigned(npg_dtype d);
/* d is one of the eight integer dtypes, signed or unsigned (not bool). */
bool t_is_int(npg_dtype d);
/* Bits of an element of an integer dtype (8, 16, 32, 64) or bool (8); 0 for
 * the floating dtypes and anything else. */
int t_int_bits(npg_dtype d);
/* The smallest and largest value of integer dtype d (bool: 0 and 1) as
 * doubles (int64's and uint64's largest round up to 2^63 and 2^64); any
 * other dtype fails the test. */
double t_int_min(npg_dtype d);
double t_int_max(npg_dtype d);
/* The two's-complement bits u wrapped to integer dtype d: the low bits
 * sign-extended for a signed dtype, zero-extended for an unsigned one (int64
 * and uint64: u itself); bool: u != 0. Any other dtype fails the test. */
uint64_t t_wrap_bits(npg_dtype d, uint64_t u);
/* The value t_wrap_bits(d, u) stands for, as a double (rounded to nearest
 * beyond 2^53, as astype(float64) rounds it). */
double t_wrap_val(npg_dtype d, uint64_t u);
/* Element i of memory p holding bool or integer dtype d, as t_wrap_bits
 * gives it (bool: the byte != 0); any other dtype fails the test. */
uint64_t t_get_bits(npg_dtype d, const void *p, int64_t i);
/* Store v wrapped to bool or integer dtype d (bool: v != 0) as element i of
 * memory p; any other dtype fails the test. */
void t_put_bits(npg_dtype d, void *p, int64_t i, uint64_t v);

/* A call that must fail: NULL, the status, a message containing needle; the
 * error cleared before and after. */
#define T_EXPECT_FAIL(call, status, needle)                                                                    \
    do {                                                                                                       \
        npg_clear_error();                                                                                     \
        npg_array *r_ = (call);                                                                                \
        cr_assert_null(r_, "line %d: %s: expected %s to fail", __LINE__, #call, needle);                       \
        t_assert_error(status, needle);                                                                        \
        npg_clear_error();                                                                                     \
    } while (0)

#endif
