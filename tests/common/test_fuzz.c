/*
 * test_fuzz.c — deterministic randomized misuse of the public API.
 *
 * Each iteration builds a few operands at random — any dtype, 0 to
 * NPG_MAX_DIMS axes, dims of 0 and 1, transposed / strided / broadcast
 * views, floating operands that require grad, NULLs — and makes one call
 * with random and often invalid arguments (axes out of range or repeated,
 * bad shapes, slices and indices, NaN and infinite parameters). After each
 * call it holds the library to the promise of npg.h's ERRORS section:
 *   - a result has a sane shape and dtype and reads back; when it requires
 *     grad, backward through its sum succeeds and gives every leaf a
 *     gradient of the leaf's shape and dtype;
 *   - a failure (NULL or an error status) comes with a status other than
 *     NPG_OK and NPG_ERR_INTERNAL and a non-empty message; a NULL operand
 *     makes the call fail with NPG_ERR_NULL_ARG, or keeps the error that was
 *     pending before the call (a sentinel set half of the time);
 *   - no operand changed: bytes (memcmp, so NaN payloads count), shape,
 *     dtype, requires_grad and storage version, and neither did the arrays
 *     the operands view — except the target of a successful in-place write;
 *   - nothing leaked: live arrays and storages return to their count at the
 *     start of the iteration (LSan checks the rest in the sanitizer build);
 *   - no internal assertion fired (the log callback sees them);
 *   - dtypes and values where the rules are simple: npg_result_type against
 *     npg.h's promotion table (fuzz_shared.h: fz_result_type) for every
 *     pair; the arithmetic, bitwise and shift ops give the promoted dtype
 *     (the array's with a weak scalar) and, on integers and bool, every
 *     element of src/common/scalar_ops.h's npg_s_<op>_<t> (wrapping, with
 *     the weak scalar truncated, saturated and wrapped into the dtype);
 *     npg_astype to every dtype gives each element cast bit for bit as npg.h
 *     says; sum and prod give int64 (uint64 for uint64), max and min keep
 *     the dtype.
 * Criterion runs each test in a child process, so a crash or abort fails
 * the test too. The generator is seeded per test: a failure reproduces, and
 * its message names the test, the iteration, the call and its operands.
 * NPG_FUZZ_SCALE=k runs k times the iterations, NPG_FUZZ_SEED=s another
 * sequence (for longer hunts by hand; ctest uses the defaults), and
 * NPG_FUZZ_TRACE=1 prints each call before making it (to find a crash).
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include "fuzz_shared.h"

TestSuite(fuzz, .init = suite_init, .fini = suite_fini);

/* ------------------------------------------------------------------------
 * Elementwise
 * ------------------------------------------------------------------------ */

typedef npg_array *(*unary_fn)(npg_array *);
typedef npg_array *(*binary_fn)(npg_array *, npg_array *);
typedef npg_array *(*binary_s_fn)(npg_array *, double);
typedef npg_array *(*s_binary_fn)(double, npg_array *);

#define U(name) {#name, npg_##name}
static const struct {
    const char *name;
    unary_fn fn;
} UNARY[] = {
    U(negative), U(positive), U(abs),      U(sign),     U(sqrt),     U(square),     U(exp),        U(expm1),
    U(log),      U(log1p),    U(log2),     U(log10),    U(sin),      U(cos),        U(tan),        U(asin),
    U(acos),     U(atan),     U(sinh),     U(cosh),     U(tanh),     U(asinh),      U(acosh),      U(atanh),
    U(erf),      U(floor),    U(ceil),     U(trunc),    U(reciprocal), U(isnan),    U(isinf),      U(isfinite), U(signbit),
    U(logical_not), U(bitwise_invert), U(relu), U(sigmoid), U(silu), U(gelu),       U(gelu_tanh),  U(softplus),
    U(copy),     U(contiguous), U(detach), U(flatten),  U(T),        U(matrix_transpose), U(nonzero),
};
#undef U

#define B(name) {#name, npg_##name, npg_##name##_scalar, npg_scalar_##name}
static const struct {
    const char *name;
    binary_fn fn;
    binary_s_fn fn_s;
    s_binary_fn s_fn;
} BINARY[] = {
    B(add),        B(subtract),   B(multiply),    B(divide),      B(floor_divide), B(remainder),   B(pow),
    B(atan2),      B(logaddexp),  B(maximum),     B(minimum),     B(equal),        B(not_equal),   B(less),
    B(less_equal), B(greater),    B(greater_equal), B(logical_and), B(logical_or), B(logical_xor), B(bitwise_and),
    B(bitwise_or), B(bitwise_xor), B(bitwise_left_shift), B(bitwise_right_shift), B(copysign), B(hypot),
    B(nextafter),
};
#undef B

/* Two operands that mostly broadcast together (sometimes one array twice). */
static void operand_pair(npg_array **a, npg_array **b) {
    npg_shape s = rand_shape();
    *a = operand(NPG_DTYPE_DEFAULT, s);
    *b = chance(8) ? *a : operand(NPG_DTYPE_DEFAULT, chance(85) ? bcast_partner(s) : rand_shape());
    if (chance(50)) {
        npg_array *t = *a;
        *a = *b;
        *b = t;
    }
}

/* The ops whose result has the operands' promoted dtype whenever they
 * succeed, with their values on integers and bool (src/common/scalar_ops.h,
 * npg_s_<op>_<t>); -1: none. */
enum { IO_ADD, IO_SUB, IO_MUL, IO_MAX, IO_MIN, IO_FDIV, IO_REM, IO_POW, IO_AND, IO_OR, IO_XOR, IO_SHL, IO_SHR };
static int int_op(const char *name) {
    static const char *const k[] = {"add",       "subtract",     "multiply",    "maximum",    "minimum",
                                    "floor_divide", "remainder", "pow",         "bitwise_and", "bitwise_or",
                                    "bitwise_xor", "bitwise_left_shift", "bitwise_right_shift"};
    for (int i = 0; i < NELEM(k); i++)
        if (!strcmp(name, k[i])) return i;
    return -1;
}
static bool keeps_promoted(const char *name) { return int_op(name) >= 0; }

#define IREF_T(T, t)                                                                                   \
    {                                                                                                  \
        T x, y, r;                                                                                     \
        memcpy(&x, ba, sizeof x);                                                                      \
        memcpy(&y, bb, sizeof y);                                                                      \
        switch (op) {                                                                                  \
        case IO_ADD: r = npg_s_add_##t(x, y); break;                                                   \
        case IO_SUB: r = npg_s_subtract_##t(x, y); break;                                              \
        case IO_MUL: r = npg_s_multiply_##t(x, y); break;                                              \
        case IO_MAX: r = npg_s_maximum_##t(x, y); break;                                               \
        case IO_MIN: r = npg_s_minimum_##t(x, y); break;                                               \
        case IO_FDIV: r = npg_s_floor_divide_##t(x, y); break;                                         \
        case IO_REM: r = npg_s_remainder_##t(x, y); break;                                             \
        case IO_POW: r = npg_s_pow_##t(x, y); break;                                                   \
        case IO_AND: r = npg_s_bitwise_and_##t(x, y); break;                                           \
        case IO_OR: r = npg_s_bitwise_or_##t(x, y); break;                                             \
        case IO_XOR: r = npg_s_bitwise_xor_##t(x, y); break;                                           \
        case IO_SHL: r = npg_s_bitwise_left_shift_##t(x, y); break;                                    \
        case IO_SHR: r = npg_s_bitwise_right_shift_##t(x, y); break;                                   \
        default: return false;                                                                         \
        }                                                                                              \
        memcpy(out, &r, sizeof r);                                                                     \
        return true;                                                                                   \
    }
/* out = a OP b for elements of integer dtype dt (false: no reference). */
static bool int_ref(int op, npg_dtype dt, const unsigned char *ba, const unsigned char *bb, unsigned char *out) {
    switch (dt) {
    case NPG_INT8: IREF_T(int8_t, i8)
    case NPG_INT16: IREF_T(int16_t, i16)
    case NPG_INT32: IREF_T(int32_t, i32)
    case NPG_INT64: IREF_T(int64_t, i64)
    case NPG_UINT8: IREF_T(uint8_t, u8)
    case NPG_UINT16: IREF_T(uint16_t, u16)
    case NPG_UINT32: IREF_T(uint32_t, u32)
    case NPG_UINT64: IREF_T(uint64_t, u64)
    case NPG_BOOL: {
        uint8_t x = *ba != 0, y = *bb != 0;
        switch (op) {
        case IO_MAX: *out = npg_s_maximum_b(x, y); return true;
        case IO_MIN: *out = npg_s_minimum_b(x, y); return true;
        case IO_AND: *out = npg_s_bitwise_and_b(x, y); return true;
        case IO_OR: *out = npg_s_bitwise_or_b(x, y); return true;
        case IO_XOR: *out = npg_s_bitwise_xor_b(x, y); return true;
        default: return false;
        }
    }
    default: return false;
    }
}
#undef IREF_T

/* A weak scalar v as an array of integer or bool dtype dt holds it (npg.h):
 * truncated and saturated to int64, then wrapped (uint64 from 2^63 up:
 * saturated in uint64). */
static void weak_int(npg_dtype dt, double v, unsigned char *out) {
    if (dt == NPG_BOOL) *out = v != 0;
    else if (dt == NPG_UINT64 && v >= 0x1p63) t_put_bits(dt, out, 0, npg_s_f64_to_u64(v));
    else t_put_bits(dt, out, 0, (uint64_t)npg_s_f64_to_i64(v));
}

/* Element i of bytes b of dtype sd cast to dtype td (npg.h: floats to
 * integers truncated and saturated, NaN 0; integers to integers wrapped;
 * integers to floats rounded once; NaN bits kept between floats, the half
 * types going through float32). */
static void cast_ref(const unsigned char *b, npg_dtype sd, int64_t i, npg_dtype td, unsigned char *out) {
    const size_t is = (size_t)fz_size(sd);
    if (sd == td) {
        memcpy(out, b + (size_t)i * is, is);
    } else if (sd == NPG_BOOL || t_is_int(sd)) {
        uint64_t u = t_get_bits(sd, b, i);
        bool un = sd == NPG_UINT64;
        if (td == NPG_BOOL || t_is_int(td)) {
            t_put_bits(td, out, 0, u);
        } else if (td == NPG_FLOAT64) {
            double d = un ? (double)u : (double)(int64_t)u;
            memcpy(out, &d, 8);
        } else if (td == NPG_FLOAT32) {
            float f = un ? (float)u : (float)(int64_t)u;
            memcpy(out, &f, 4);
        } else { /* a half type: from the integer rounded to odd, so rounded once */
            fz_put_f(out, td, 0, un ? npg_s_u64_to_f64_odd(u) : npg_s_i64_to_f64_odd((int64_t)u));
        }
    } else if (sd == NPG_FLOAT64) {
        fz_put_f(out, td, 0, ((const double *)b)[i]);
    } else { /* float32 or a half type: its float32 value */
        float f;
        if (sd == NPG_FLOAT32) memcpy(&f, b + (size_t)i * 4, 4);
        else f = (float)fz_get_f(b, sd, i); /* exact, NaN bits kept */
        if (td == NPG_FLOAT32) {
            memcpy(out, &f, 4);
        } else if (td == NPG_FLOAT16 || td == NPG_BFLOAT16) {
            uint16_t h = td == NPG_FLOAT16 ? npg_s_f32_to_f16(f) : npg_s_f32_to_bf16(f);
            memcpy(out, &h, 2);
        } else {
            fz_put_f(out, td, 0, npg_s_f32_to_f64(f));
        }
    }
}

/* The operand bytes as the call began. */
static const unsigned char *snap_of(const npg_array *x) {
    for (int i = 0; i < C.nw; i++)
        if (C.w[i].x == x) return C.w[i].bytes;
    cr_assert_fail("fuzz: an operand without a snapshot");
    return NULL;
}
/* Row-major index into an operand of shape s broadcast to shape full, at full's flat index j. */
static int64_t bsrc(int64_t j, const npg_shape *full, const npg_shape *s) {
    int64_t idx[NPG_MAX_DIMS], f = 0;
    for (int d = full->ndim - 1; d >= 0; d--) {
        int64_t n = full->dims[d] ? full->dims[d] : 1;
        idx[d] = j % n;
        j /= n;
    }
    for (int d = 0; d < s->ndim; d++) f = f * s->dims[d] + (s->dims[d] == 1 ? 0 : idx[full->ndim - s->ndim + d]);
    return f;
}
/* The values of r = a OP b (a or b NULL: the weak scalar sv in its place),
 * computed in r's dtype where it is an integer or bool one. */
static void check_int_values(const char *name, npg_array *r, const npg_array *a, const npg_array *b, double sv) {
    int op = int_op(name);
    npg_dtype dt = npg_dtype_of(r);
    unsigned char tmp[8] = {0};
    if (op < 0 || !(t_is_int(dt) || dt == NPG_BOOL) || !int_ref(op, dt, tmp, tmp, tmp)) return;
    const size_t is = (size_t)fz_size(dt);
    npg_shape rs = npg_shape_of(r), sa = a ? npg_shape_of(a) : (npg_shape){0}, sb = b ? npg_shape_of(b) : (npg_shape){0};
    const unsigned char *xa = a ? snap_of(a) : NULL, *xb = b ? snap_of(b) : NULL;
    npg_dtype da = a ? npg_dtype_of(a) : dt, db = b ? npg_dtype_of(b) : dt;
    unsigned char s_bytes[8] = {0};
    weak_int(dt, sv, s_bytes);
    int64_t n = npg_size(r);
    unsigned char *got = malloc((size_t)(n ? n : 1) * is);
    cr_assert(got);
    cr_assert_eq(npg_copy_to_host(r, got, (size_t)n * is), NPG_OK, "fuzz: reading a result: %s", npg_last_error());
    for (int64_t j = 0; j < n; j++) {
        unsigned char va[8], vb[8], want[8];
        /* the operands promoted (exactly: every promotion to an integer keeps the value) */
        if (a) t_put_bits(dt, va, 0, t_get_bits(da, xa, bsrc(j, &rs, &sa)));
        else memcpy(va, s_bytes, is);
        if (b) t_put_bits(dt, vb, 0, t_get_bits(db, xb, bsrc(j, &rs, &sb)));
        else memcpy(vb, s_bytes, is);
        int_ref(op, dt, va, vb, want);
        if (memcmp(got + (size_t)j * is, want, is) != 0) {
            unsigned long long g = (unsigned long long)t_get_bits(dt, got + (size_t)j * is, 0),
                               w = (unsigned long long)t_get_bits(dt, want, 0),
                               x = (unsigned long long)t_get_bits(dt, va, 0),
                               y = (unsigned long long)t_get_bits(dt, vb, 0);
            free(got);
            const char *f = t_is_unsigned(dt) ? "npg_%s: element %lld is %llu, expected %llu = %llu OP %llu in %s"
                                           : "npg_%s: element %lld is %lld, expected %lld = %lld OP %lld in %s";
            fail(f, name, (long long)j, g, w, x, y, npg_dtype_name(dt));
        }
    }
    free(got);
}

Test(fuzz, elementwise) {
    int n = start("elementwise", 1, 8000);
    /* npg_result_type agrees with the rules of npg.h (fz_result_type) */
    for (int i = 0; i < NELEM(ALL_DTYPES); i++)
        for (int j = 0; j < NELEM(ALL_DTYPES); j++) {
            npg_dtype a = ALL_DTYPES[i], b = ALL_DTYPES[j], got = npg_result_type(a, b), want = fz_result_type(a, b);
            cr_assert_eq(got, want, "npg_result_type(%s, %s) is %s, expected %s", npg_dtype_name(a), npg_dtype_name(b),
                         npg_dtype_name(got), npg_dtype_name(want));
        }
    /* every op on every dtype (pair), on random shapes and layouts */
    int it = 0;
    for (int k = 0; k < NELEM(UNARY); k++)
        for (int d = 0; d < NELEM(ALL_DTYPES); d++, it++) {
            iter_begin(it);
            npg_array *x = make(ALL_DTYPES[d], rand_shape(), 30);
            call("npg_%s(x) [sweep]", UNARY[k].name);
            arg(x);
            go();
            done(UNARY[k].fn(x));
            iter_end();
        }
    for (int k = 0; k < NELEM(BINARY); k++)
        for (int d = 0; d < NELEM(ALL_DTYPES) * NELEM(ALL_DTYPES); d++, it++) {
            iter_begin(it);
            npg_shape sh = rand_shape();
            npg_array *a = make(ALL_DTYPES[d / NELEM(ALL_DTYPES)], sh, 30);
            npg_array *b = make(ALL_DTYPES[d % NELEM(ALL_DTYPES)], chance(85) ? bcast_partner(sh) : rand_shape(), 30);
            double sv = chance(50) ? (double)weird_i64() : weird_double();
            call("npg_%s(a, b), npg_%s_scalar(a, %.17g), npg_scalar_%s(%.17g, b) [sweep]", BINARY[k].name,
                 BINARY[k].name, sv, BINARY[k].name, sv);
            arg(a);
            arg(b);
            go();
            npg_array *r = BINARY[k].fn(a, b);
            npg_dtype da = npg_dtype_of(a), db = npg_dtype_of(b), rd = r ? npg_dtype_of(r) : NPG_DTYPE_DEFAULT;
            if (r && keeps_promoted(BINARY[k].name)) {
                CHECK(rd == fz_result_type(da, db), "npg_%s of %s and %s gave %s, expected %s", BINARY[k].name,
                      npg_dtype_name(da), npg_dtype_name(db), npg_dtype_name(rd),
                      npg_dtype_name(fz_result_type(da, db)));
                check_int_values(BINARY[k].name, r, a, b, 0);
            }
            done(r);
            /* a weak scalar adopts the array's dtype */
            go();
            r = BINARY[k].fn_s(a, sv);
            rd = r ? npg_dtype_of(r) : NPG_DTYPE_DEFAULT;
            if (r && keeps_promoted(BINARY[k].name)) {
                CHECK(rd == da, "npg_%s_scalar of %s gave %s", BINARY[k].name, npg_dtype_name(da), npg_dtype_name(rd));
                check_int_values(BINARY[k].name, r, a, NULL, sv);
            }
            done(r);
            go();
            r = BINARY[k].s_fn(sv, b);
            rd = r ? npg_dtype_of(r) : NPG_DTYPE_DEFAULT;
            if (r && keeps_promoted(BINARY[k].name)) {
                CHECK(rd == db, "npg_scalar_%s of %s gave %s", BINARY[k].name, npg_dtype_name(db), npg_dtype_name(rd));
                check_int_values(BINARY[k].name, r, NULL, b, sv);
            }
            done(r);
            iter_end();
        }
    for (it = 0; it < n; it++) {
        iter_begin(it);
        switch (rint_in(0, 11)) {
        case 0:
        case 1: {
            int k = rint_in(0, NELEM(UNARY) - 1);
            npg_array *x = any_operand();
            call("npg_%s(x)", UNARY[k].name);
            arg(x);
            go();
            done(UNARY[k].fn(x));
            break;
        }
        case 2: {
            npg_array *x = any_operand();
            int which = rint_in(0, 2);
            if (which == 0) {
                int dec = chance(70) ? rint_in(-3, 3) : weird_int();
                call("npg_round(x, %d)", dec);
                arg(x);
                go();
                done(npg_round(x, dec));
            } else if (which == 1) {
                double lo = chance(30) ? NAN : weird_double(), hi = chance(30) ? NAN : weird_double();
                call("npg_clip(x, %g, %g)", lo, hi);
                arg(x);
                go();
                done(npg_clip(x, lo, hi));
            } else {
                double slope = weird_double();
                call("npg_leaky_relu(x, %g)", slope);
                arg(x);
                go();
                done(npg_leaky_relu(x, slope));
            }
            break;
        }
        case 3:
        case 4:
        case 5:
        case 6: {
            int k = rint_in(0, NELEM(BINARY) - 1);
            npg_array *a, *b;
            operand_pair(&a, &b);
            call("npg_%s(a, b)", BINARY[k].name);
            arg(a);
            arg(b);
            go();
            npg_array *r = BINARY[k].fn(a, b);
            if (r && keeps_promoted(BINARY[k].name)) check_int_values(BINARY[k].name, r, a, b, 0);
            done(r);
            break;
        }
        case 7: {
            int k = rint_in(0, NELEM(BINARY) - 1);
            npg_array *x = any_operand();
            double s = chance(50) ? (double)weird_i64() : weird_double();
            bool first = chance(50);
            call(first ? "npg_scalar_%s(%.17g, x)" : "npg_%s_scalar(x, %.17g)", BINARY[k].name, s);
            arg(x);
            go();
            npg_array *r = first ? BINARY[k].s_fn(s, x) : BINARY[k].fn_s(x, s);
            if (r && keeps_promoted(BINARY[k].name))
                check_int_values(BINARY[k].name, r, first ? NULL : x, first ? x : NULL, s);
            done(r);
            break;
        }
        case 8: {
            npg_shape s = rand_shape();
            npg_array *c = operand(chance(60) ? NPG_BOOL : NPG_DTYPE_DEFAULT, s);
            npg_array *a = operand(NPG_DTYPE_DEFAULT, chance(85) ? bcast_partner(s) : rand_shape());
            npg_array *b = operand(NPG_DTYPE_DEFAULT, chance(85) ? bcast_partner(s) : rand_shape());
            double v = weird_double();
            int which = rint_in(0, 2);
            call(which == 0 ? "npg_where(cond, a, b)" : which == 1 ? "npg_where_scalar(cond, a, %g)"
                                                                    : "npg_scalar_where(cond, %g, b)", v);
            arg(c);
            if (which != 2) arg(a);
            if (which != 1) arg(b);
            go();
            done(which == 0 ? npg_where(c, a, b) : which == 1 ? npg_where_scalar(c, a, v) : npg_scalar_where(c, v, b));
            break;
        }
        case 9:
        case 10: {
            npg_array *x = any_operand();
            npg_dtype dt = rand_dtype_arg();
            call("npg_astype(x, %d)", (int)dt);
            arg(x);
            go();
            done(npg_astype(x, dt));
            break;
        }
        default: {
            /* npg_astype to every dtype in turn, from one operand */
            npg_array *x = make(NPG_DTYPE_DEFAULT, rand_shape(), 40);
            for (int d = 0; d < NELEM(ALL_DTYPES); d++) {
                npg_dtype td = ALL_DTYPES[d], sd = npg_dtype_of(x);
                call("npg_astype(x, %s)", npg_dtype_name(td));
                arg(x);
                go();
                npg_array *r = npg_astype(x, td);
                if (r) { /* every element as cast_ref casts it, to the bit */
                    CHECK(npg_dtype_of(r) == td, "npg_astype gave %s", npg_dtype_name(npg_dtype_of(r)));
                    const size_t is = (size_t)fz_size(td);
                    int64_t m = npg_size(r);
                    unsigned char *got = malloc((size_t)(m ? m : 1) * is);
                    cr_assert(got);
                    cr_assert_eq(npg_copy_to_host(r, got, (size_t)m * is), NPG_OK, "fuzz: %s", npg_last_error());
                    const unsigned char *xb = snap_of(x);
                    for (int64_t j = 0; j < m; j++) {
                        unsigned char want[8];
                        cast_ref(xb, sd, j, td, want);
                        if (memcmp(got + (size_t)j * is, want, is) != 0) {
                            double v = fz_get_f(xb, sd, j), g = fz_get_f(got, td, j), w = fz_get_f(want, td, 0);
                            free(got);
                            fail("npg_astype: element %lld (%.17g) became %.17g, expected %.17g", (long long)j, v, g,
                                 w);
                        }
                    }
                    free(got);
                }
                done(r);
            }
            break;
        }
        }
        iter_end();
    }
    finish();
}

/* ------------------------------------------------------------------------
 * Reductions and scans
 * ------------------------------------------------------------------------ */

typedef npg_array *(*reduce_fn)(npg_array *, npg_axes, bool);
#define R(name) {#name, npg_##name}
static const struct {
    const char *name;
    reduce_fn fn;
} REDUCE[] = {R(sum), R(mean), R(prod), R(max), R(min), R(all), R(any), R(logsumexp)};
#undef R

Test(fuzz, reductions) {
    int n = start("reductions", 2, 6000);
    /* every reduction on every dtype */
    int it = 0;
    for (int k = 0; k < NELEM(REDUCE); k++)
        for (int d = 0; d < NELEM(ALL_DTYPES); d++, it++) {
            iter_begin(it);
            npg_array *x = make(ALL_DTYPES[d], rand_shape(), 30);
            npg_axes ax = rand_axes(npg_ndim(x));
            bool keep = chance(40);
            char ab[96];
            call("npg_%s(x, %s, keepdims=%d) [sweep]", REDUCE[k].name, axes_str(ax, ab, sizeof ab), keep);
            arg(x);
            go();
            npg_array *r = REDUCE[k].fn(x, ax, keep);
            /* sum and prod: int64 for bool and the integers but uint64, which keeps uint64; max, min: x's */
            npg_dtype xd = npg_dtype_of(x), want = NPG_DTYPE_DEFAULT;
            if (!strcmp(REDUCE[k].name, "sum") || !strcmp(REDUCE[k].name, "prod"))
                want = fz_is_float(xd) ? xd : xd == NPG_UINT64 ? NPG_UINT64 : NPG_INT64;
            else if (!strcmp(REDUCE[k].name, "max") || !strcmp(REDUCE[k].name, "min"))
                want = xd;
            if (r && want != NPG_DTYPE_DEFAULT)
                CHECK(npg_dtype_of(r) == want, "npg_%s of %s gave %s, expected %s", REDUCE[k].name,
                      npg_dtype_name(xd), npg_dtype_name(npg_dtype_of(r)), npg_dtype_name(want));
            done(r);
            iter_end();
        }
    for (it = 0; it < n; it++) {
        iter_begin(it);
        npg_array *x = any_operand();
        int nd = x ? npg_ndim(x) : rint_in(0, 3);
        bool keep = chance(40);
        char ab[96];
        switch (rint_in(0, 5)) {
        case 0:
        case 1:
        case 2: {
            int k = rint_in(0, NELEM(REDUCE) - 1);
            npg_axes ax = rand_axes(nd);
            call("npg_%s(x, %s, keepdims=%d)", REDUCE[k].name, axes_str(ax, ab, sizeof ab), keep);
            arg(x);
            go();
            done(REDUCE[k].fn(x, ax, keep));
            break;
        }
        case 3: {
            npg_axes ax = rand_axes(nd);
            double corr = chance(60) ? rint_in(0, 2) : weird_double();
            bool is_std = chance(50);
            call("npg_%s(x, %s, correction=%g, keepdims=%d)", is_std ? "std" : "var", axes_str(ax, ab, sizeof ab), corr,
                 keep);
            arg(x);
            go();
            done(is_std ? npg_std(x, ax, corr, keep) : npg_var(x, ax, corr, keep));
            break;
        }
        case 4: {
            int axis = chance(20) ? NPG_FLAT : rand_axis(nd);
            bool is_max = chance(50);
            call("npg_%s(x, %d, keepdims=%d)", is_max ? "argmax" : "argmin", axis, keep);
            arg(x);
            go();
            done(is_max ? npg_argmax(x, axis, keep) : npg_argmin(x, axis, keep));
            break;
        }
        default: {
            int axis = chance(20) ? NPG_FLAT : rand_axis(nd);
            bool is_sum = chance(50);
            call("npg_%s(x, %d)", is_sum ? "cumsum" : "cumprod", axis);
            arg(x);
            go();
            done(is_sum ? npg_cumsum(x, axis) : npg_cumprod(x, axis));
            break;
        }
        }
        iter_end();
    }
    finish();
}

/* ------------------------------------------------------------------------
 * Shapes and views
 * ------------------------------------------------------------------------ */

/* A target shape for reshaping n elements: a factorisation, with -1s, or
 * wrong sizes. */
static npg_shape reshape_target(int64_t n) {
    if (chance(15)) return rand_shape_arg();
    npg_shape t = {.ndim = rint_in(0, 5)};
    if (t.ndim == 0 && n != 1 && chance(80)) t.ndim = 1;
    int64_t rem = n;
    for (int i = 0; i < t.ndim; i++) {
        if (i == t.ndim - 1) {
            t.dims[i] = rem;
            break;
        }
        if (n == 0) {
            t.dims[i] = rint_in(0, 3);
            continue;
        }
        int64_t cand[8];
        int nc = 0;
        for (int64_t d = 1; d <= 8 && d <= rem; d++)
            if (rem % d == 0) cand[nc++] = d;
        t.dims[i] = nc ? cand[rnd() % (uint64_t)nc] : 1;
        rem /= t.dims[i];
    }
    if (n == 0 && t.ndim > 0) t.dims[rint_in(0, t.ndim - 1)] = 0;
    if (t.ndim > 0 && chance(30)) t.dims[rint_in(0, t.ndim - 1)] = -1;
    if (t.ndim > 0 && chance(8)) t.dims[rint_in(0, t.ndim - 1)] = -1;
    if (t.ndim > 0 && chance(10)) t.dims[rint_in(0, t.ndim - 1)] += chance(50) ? 1 : -2;
    return t;
}

/* n operands for concat/stack: one shape, varied along axis (concat) or not,
 * sometimes a random shape or dtype. */
static void join_operands(npg_array **arrs, int n, int *axis_out, bool stack) {
    npg_shape s = rand_shape();
    if (s.ndim == 0 && !stack && chance(70)) s = (npg_shape){.ndim = 1, .dims = {2}};
    int axis = rand_axis(stack ? s.ndim + 1 : s.ndim);
    int a = axis < 0 ? axis + s.ndim : axis;
    npg_dtype dt = chance(70) ? rand_dtype() : NPG_DTYPE_DEFAULT;
    for (int i = 0; i < n; i++) {
        npg_shape si = s;
        if (!stack && a >= 0 && a < s.ndim) si.dims[a] = rint_in(0, 3);
        if (chance(10)) si = rand_shape();
        arrs[i] = operand(dt, si);
    }
    *axis_out = axis;
}

Test(fuzz, shapes) {
    int n = start("shapes", 3, 8000);
    for (int it = 0; it < n; it++) {
        iter_begin(it);
        npg_array *x = any_operand();
        int nd = x ? npg_ndim(x) : rint_in(0, 3);
        char sb[128], ab[96];
        switch (rint_in(0, 15)) {
        case 0:
        case 1: {
            npg_shape t = reshape_target(x ? npg_size(x) : rint_in(0, 6));
            call("npg_reshape(x, %s)", shape_str(&t, sb, sizeof sb));
            arg(x);
            go();
            done(npg_reshape(x, t));
            break;
        }
        case 2: {
            npg_axes p = rand_perm(nd);
            call("npg_permute_dims(x, %s)", axes_str(p, ab, sizeof ab));
            arg(x);
            go();
            done(npg_permute_dims(x, p));
            break;
        }
        case 3: {
            int a1 = rand_axis(nd), a2 = rand_axis(nd);
            call("npg_swapaxes(x, %d, %d)", a1, a2);
            arg(x);
            go();
            done(npg_swapaxes(x, a1, a2));
            break;
        }
        case 4: {
            npg_axes ax = rand_axes(nd);
            call("npg_squeeze(x, %s)", axes_str(ax, ab, sizeof ab));
            arg(x);
            go();
            done(npg_squeeze(x, ax));
            break;
        }
        case 5: {
            int axis = rand_axis(nd + 1);
            call("npg_expand_dims(x, %d)", axis);
            arg(x);
            go();
            done(npg_expand_dims(x, axis));
            break;
        }
        case 6: {
            /* a target x broadcasts to, mostly */
            npg_shape t = npg_shape_of(x);
            if (!x) t = rand_shape();
            if (chance(80)) {
                npg_shape u = {0};
                int add = rint_in(0, 2);
                if (t.ndim + add > NPG_MAX_DIMS) add = 0;
                for (int i = 0; i < add; i++) u.dims[u.ndim++] = rint_in(0, 3);
                for (int i = 0; i < t.ndim; i++) u.dims[u.ndim++] = t.dims[i] == 1 && chance(50) ? rint_in(0, 3) : t.dims[i];
                t = u;
            } else {
                t = chance(50) ? rand_shape_arg() : bcast_partner(t);
            }
            call("npg_broadcast_to(x, %s)", shape_str(&t, sb, sizeof sb));
            arg(x);
            go();
            done(npg_broadcast_to(x, t));
            break;
        }
        case 7: {
            npg_axes ax = rand_axes(nd);
            call("npg_flip(x, %s)", axes_str(ax, ab, sizeof ab));
            arg(x);
            go();
            done(npg_flip(x, ax));
            break;
        }
        case 8: {
            int64_t reps = chance(70) ? rint_in(0, 3) : weird_count();
            int axis = chance(25) ? NPG_FLAT : rand_axis(nd);
            call("npg_repeat(x, %lld, %d)", (long long)reps, axis);
            arg(x);
            go();
            done(npg_repeat(x, reps, axis));
            break;
        }
        case 9:
        case 10: {
            bool stack = chance(50);
            int cnt = chance(90) ? rint_in(0, 4) : rint_in(-3, -1);
            npg_array *arrs[4] = {0};
            int axis;
            join_operands(arrs, cnt > 0 ? cnt : 0, &axis, stack);
            bool null_list = cnt > 0 && chance(5);
            call("npg_%s(%s, %d, axis=%d)", stack ? "stack" : "concat", null_list ? "NULL" : "arrays", cnt, axis);
            for (int i = 0; i < cnt; i++) arg(arrs[i]);
            if (null_list || cnt <= 0) must_fail();
            go();
            npg_array *const *list = null_list ? NULL : arrs;
            done(stack ? npg_stack(list, cnt, axis) : npg_concat(list, cnt, axis));
            break;
        }
        case 11:
        case 12: {
            int64_t off = chance(70) ? rint_in(-3, 3) : weird_i64();
            int a1 = chance(70) ? (nd >= 2 ? nd - 2 : 0) : rand_axis(nd), a2 = chance(70) ? nd - 1 : rand_axis(nd);
            bool tr = chance(50);
            call("npg_%s(x, %lld, %d, %d)", tr ? "trace" : "diagonal", (long long)off, a1, a2);
            arg(x);
            go();
            done(tr ? npg_trace(x, off, a1, a2) : npg_diagonal(x, off, a1, a2));
            break;
        }
        case 13: {
            int axis = rand_axis(nd);
            call("npg_flatten_from(x, %d)", axis);
            arg(x);
            go();
            done(npg_flatten_from(x, axis));
            break;
        }
        default: {
            static const struct {
                const char *name;
                unary_fn fn;
            } views[] = {{"flatten", npg_flatten}, {"T", npg_T}, {"matrix_transpose", npg_matrix_transpose},
                         {"contiguous", npg_contiguous}, {"copy", npg_copy}, {"detach", npg_detach}};
            int k = rint_in(0, NELEM(views) - 1);
            call("npg_%s(x)", views[k].name);
            arg(x);
            go();
            done(views[k].fn(x));
            break;
        }
        }
        iter_end();
    }
    finish();
}

/* ------------------------------------------------------------------------
 * Indexing and in-place writes
 * ------------------------------------------------------------------------ */

#define MAX_IDX 12

static int64_t rand_bound(int64_t d) {
    int r = rint_in(0, 99);
    if (r < 30) return NPG_NONE;
    if (r < 85) return rint_in(-(int)d - 2, (int)d + 2);
    return weird_i64();
}

/* Random index list for an array of ndim axes with shape s. */
static int rand_idx(npg_idx *idx, npg_shape s) {
    int n = chance(90) ? rint_in(0, s.ndim + 2) : rint_in(-2, MAX_IDX);
    if (n > MAX_IDX) n = MAX_IDX;
    int axis = 0;
    for (int i = 0; i < MAX_IDX; i++) {
        int64_t d = axis < s.ndim ? s.dims[axis] : 1;
        int r = rint_in(0, 99);
        if (r < 30) {
            int64_t v = chance(85) ? rint_in(-(int)d - 1, (int)d) : weird_i64();
            idx[i] = NPG_I(v);
            axis++;
        } else if (r < 78) {
            static const int64_t steps[] = {1, 1, 1, 2, 3, -1, -1, -2, 0, NPG_NONE, INT64_MAX, INT64_MIN + 1};
            idx[i] = NPG_SLICE(rand_bound(d), rand_bound(d), chance(60) ? 1 : PICK(steps));
            axis++;
        } else if (r < 88) {
            idx[i] = NPG_NEWAXIS;
        } else if (r < 97) {
            idx[i] = NPG_ELLIPSIS;
        } else {
            idx[i] = (npg_idx){(npg_idx_kind)(chance(50) ? 0 : 99), 0, 0, 0};
        }
    }
    return n;
}

static char *idx_str(const npg_idx *idx, int n, char *buf, size_t len) {
    int k = snprintf(buf, len, "[");
    for (int i = 0; i < n && i < MAX_IDX && k < (int)len; i++) {
        const npg_idx *e = &idx[i];
        const char *sep = i ? ", " : "";
        if (e->kind == NPG_IDX_INT)
            k += snprintf(buf + k, len - (size_t)k, "%s%lld", sep, (long long)e->start);
        else if (e->kind == NPG_IDX_SLICE)
            k += snprintf(buf + k, len - (size_t)k, "%s%lld:%lld:%lld", sep, (long long)e->start, (long long)e->stop,
                          (long long)e->step);
        else if (e->kind == NPG_IDX_NEWAXIS)
            k += snprintf(buf + k, len - (size_t)k, "%sNEWAXIS", sep);
        else if (e->kind == NPG_IDX_ELLIPSIS)
            k += snprintf(buf + k, len - (size_t)k, "%s...", sep);
        else
            k += snprintf(buf + k, len - (size_t)k, "%skind=%d", sep, (int)e->kind);
    }
    if (k < (int)len) snprintf(buf + k, len - (size_t)k, "] (n=%d)", n);
    return buf;
}

/* Run f between npg_no_grad_begin/end some of the time. */
static bool maybe_no_grad(void) {
    bool ng = chance(20);
    if (ng) npg_no_grad_begin();
    return ng;
}
static void end_no_grad(bool ng) {
    if (ng) npg_no_grad_end();
}

Test(fuzz, indexing) {
    int n = start("indexing", 4, 8000);
    for (int it = 0; it < n; it++) {
        iter_begin(it);
        npg_array *x = any_operand();
        npg_shape s = x ? npg_shape_of(x) : rand_shape();
        int nd = s.ndim;
        npg_idx idx[MAX_IDX];
        int ni = rand_idx(idx, s);
        bool null_idx = ni > 0 && chance(4);
        const npg_idx *ip = null_idx ? NULL : idx;
        char ib[400];
        switch (rint_in(0, 10)) {
        case 0:
        case 1: {
            call("npg_index(x, %s)", null_idx ? "NULL" : idx_str(idx, ni, ib, sizeof ib));
            arg(x);
            if (null_idx || ni < 0) must_fail();
            go();
            done(npg_index(x, ip, ni));
            break;
        }
        case 2:
        case 3: {
            npg_array *v = chance(10) ? x : operand(NPG_DTYPE_DEFAULT, chance(50) ? rand_shape() : bcast_partner(s));
            bool sc = chance(30);
            double sv = weird_double();
            call(sc ? "npg_setitem_scalar(x, %s, %g)" : "npg_setitem(x, %s, value)",
                 null_idx ? "NULL" : idx_str(idx, ni, ib, sizeof ib), sv);
            target(x);
            if (!sc) arg(v);
            if (null_idx || ni < 0) must_fail();
            go();
            bool ng = maybe_no_grad();
            npg_status st = sc ? npg_setitem_scalar(x, ip, ni, sv) : npg_setitem(x, ip, ni, v);
            end_no_grad(ng);
            done_status(st);
            break;
        }
        case 4: {
            double v = weird_double();
            call("npg_fill(x, %g)", v);
            target(x);
            go();
            bool ng = maybe_no_grad();
            npg_status st = npg_fill(x, v);
            end_no_grad(ng);
            done_status(st);
            break;
        }
        case 5: {
            npg_array *src = chance(10) ? x : operand(NPG_DTYPE_DEFAULT, chance(80) ? bcast_partner(s) : rand_shape());
            call("npg_assign(x, src)");
            target(x);
            arg(src);
            go();
            bool ng = maybe_no_grad();
            npg_status st = npg_assign(x, src);
            end_no_grad(ng);
            done_status(st);
            break;
        }
        case 6: {
            int axis = chance(15) ? NPG_FLAT : rand_axis(nd);
            bool desc = chance(50);
            call("npg_sort_inplace(x, %d, %d)", axis, desc);
            target(x);
            go();
            bool ng = maybe_no_grad();
            npg_status st = npg_sort_inplace(x, axis, desc);
            end_no_grad(ng);
            done_status(st);
            break;
        }
        case 7:
        case 8: {
            int axis = rand_axis(nd);
            int a = axis < 0 ? axis + nd : axis;
            int64_t d = (a >= 0 && a < nd) ? s.dims[a] : 3;
            bool along = chance(50);
            npg_shape is = rand_shape();
            if (along) {
                is = bcast_partner(s);
                if (chance(80) && is.ndim != nd) is = s;
                if (a >= 0 && a < is.ndim && chance(70)) is.dims[a] = rint_in(0, 3);
            } else if (is.ndim > 3) {
                is.ndim = 3;
            }
            npg_array *ind = int_operand(is, -d, d - 1, 6);
            call("npg_%s(x, indices, %d)", along ? "take_along_axis" : "take", axis);
            arg(x);
            arg(ind);
            go();
            done(along ? npg_take_along_axis(x, ind, axis) : npg_take(x, ind, axis));
            break;
        }
        case 9: {
            call("npg_nonzero(x)");
            arg(x);
            go();
            done(npg_nonzero(x));
            break;
        }
        default: {
            call("npg_count_nonzero(x)");
            arg(x);
            go();
            int64_t c = npg_count_nonzero(x);
            done_value(c < 0);
            if (c >= 0) CHECK(c <= npg_size(x), "count_nonzero %lld > size", (long long)c);
            break;
        }
        }
        iter_end();
    }
    finish();
}

/* ------------------------------------------------------------------------
 * Linear algebra and sorting
 * ------------------------------------------------------------------------ */

/* Operand shapes for matmul: 0- to 4-d, matching inner dims and
 * broadcasting batches mostly. */
static void matmul_shapes(npg_shape *a, npg_shape *b) {
    static const int nds[] = {0, 1, 1, 2, 2, 2, 3, 3, 4};
    int na = PICK(nds), nb = PICK(nds);
    int64_t m = rint_in(0, 4), k = rint_in(0, 4), nn = rint_in(0, 4);
    npg_shape batch = rand_shape();
    if (batch.ndim > 2) batch.ndim = 2;
    *a = (npg_shape){0};
    *b = (npg_shape){0};
    if (na >= 3)
        for (int i = 0; i < na - 2 && i < batch.ndim; i++) a->dims[a->ndim++] = batch.dims[i];
    if (na >= 2) a->dims[a->ndim++] = m;
    if (na >= 1) a->dims[a->ndim++] = k;
    if (nb >= 3) {
        npg_shape pb = bcast_partner(batch);
        for (int i = 0; i < nb - 2 && i < pb.ndim; i++) b->dims[b->ndim++] = pb.dims[i];
    }
    if (nb >= 2) b->dims[b->ndim++] = k;
    if (nb >= 1) b->dims[b->ndim++] = nn;
    if (nb == 1) b->dims[0] = k;
    if (chance(12) && a->ndim) a->dims[rint_in(0, a->ndim - 1)] = rint_in(0, 4);
}

Test(fuzz, linalg_sort) {
    int n = start("linalg_sort", 5, 6000);
    for (int it = 0; it < n; it++) {
        iter_begin(it);
        switch (rint_in(0, 6)) {
        case 0:
        case 1:
        case 2: {
            npg_shape sa, sb;
            matmul_shapes(&sa, &sb);
            npg_dtype dt = chance(60) ? rand_float_dtype() : NPG_DTYPE_DEFAULT;
            npg_array *a = operand(dt, sa), *b = operand(chance(80) ? dt : NPG_DTYPE_DEFAULT, sb);
            bool dot = chance(30);
            call(dot ? "npg_dot(a, b)" : "npg_matmul(a, b)");
            arg(a);
            arg(b);
            go();
            done(dot ? npg_dot(a, b) : npg_matmul(a, b));
            break;
        }
        case 3: {
            npg_array *a, *b;
            operand_pair(&a, &b);
            int nd = a ? npg_ndim(a) : 2;
            int axis = rand_axis(nd);
            call("npg_vecdot(a, b, %d)", axis);
            arg(a);
            arg(b);
            go();
            done(npg_vecdot(a, b, axis));
            break;
        }
        case 4: {
            npg_array *a = any_operand(), *b = any_operand();
            call("npg_outer(a, b)");
            arg(a);
            arg(b);
            go();
            done(npg_outer(a, b));
            break;
        }
        default: {
            npg_array *x = any_operand();
            int nd = x ? npg_ndim(x) : 1;
            int axis = chance(15) ? NPG_FLAT : rand_axis(nd);
            bool desc = chance(50), arg_sort = chance(50);
            call("npg_%s(x, %d, descending=%d)", arg_sort ? "argsort" : "sort", axis, desc);
            arg(x);
            go();
            done(arg_sort ? npg_argsort(x, axis, desc) : npg_sort(x, axis, desc));
            break;
        }
        }
        iter_end();
    }
    finish();
}

/* ------------------------------------------------------------------------
 * Neural-network functions
 * ------------------------------------------------------------------------ */

/* Convolution and pooling parameters: mostly small, sometimes negative or
 * huge — but never a valid size that makes a huge output (a padding of
 * 2^30 on one side alone would ask for gigabytes): huge paddings come in
 * pairs, whose output size overflows. */
static int conv_param(int lo, int hi) {
    static const int v[] = {INT_MIN, -1, -100, INT_MAX, 100, 1 << 30};
    return chance(90) ? rint_in(lo, hi) : PICK(v);
}
static void conv_padding(int pad[2], int kernel_max) {
    static const int v[] = {INT_MIN, -1, 100};
    int r = rint_in(0, 99), huge = chance(50) ? 1 << 30 : INT_MAX;
    pad[0] = r < 88 ? rint_in(0, 2) : r < 95 ? PICK(v) : huge;
    pad[1] = r < 88 ? rint_in(0, 2) : r < 95 ? PICK(v) : huge;
    if (r >= 95 && kernel_max > 0 && chance(50)) pad[rint_in(0, 1)] = kernel_max / 2; /* pooling: at most half */
}

/* Whether a conv/pool call on input x (N, C, H, W) with OC output channels
 * and a KH x KW window would be valid but materialise a huge im2col matrix
 * or output (from 2^24 elements up to sizes that cannot be allocated):
 * then the caller picks small paddings. Strides and dilations as the
 * library reads them (<= 0: the default). */
static bool conv_too_big(npg_shape x, double OC, double KH, double KW, const int stride[2], const int pad[2],
                         const int dil[2]) {
    double s0 = stride[0] > 0 ? stride[0] : 1, s1 = stride[1] > 0 ? stride[1] : 1;
    double d0 = dil[0] > 0 ? dil[0] : 1, d1 = dil[1] > 0 ? dil[1] : 1;
    double eh = (double)x.dims[2] + 2.0 * pad[0] - d0 * (KH - 1) - 1, ew = (double)x.dims[3] + 2.0 * pad[1] - d1 * (KW - 1) - 1;
    if (eh < 0 || ew < 0) return false;
    double OH = floor(eh / s0) + 1, OW = floor(ew / s1) + 1;
    double n = x.dims[0] > 1 ? (double)x.dims[0] : 1, c = x.dims[1] > 1 ? (double)x.dims[1] : 1;
    double out = n * (OC > 1 ? OC : 1) * OH * OW, unfolded = n * c * KH * KW * OH * OW;
    return (out > 0x1p24 && out < 0x1p52) || (unfolded > 0x1p24 && unfolded < 0x1p52);
}

static npg_reduction rand_reduction(void) {
    return chance(95) ? (npg_reduction)rint_in(0, 2) : (npg_reduction)(chance(50) ? 3 : -1);
}

Test(fuzz, nn) {
    int n = start("nn", 6, 6000);
    for (int it = 0; it < n; it++) {
        iter_begin(it);
        char sb[128];
        switch (rint_in(0, 13)) {
        case 0: {
            npg_array *x = float_operand(rand_shape());
            int nd = x ? npg_ndim(x) : 1, axis = rand_axis(nd);
            bool lg = chance(50);
            call("npg_%s(x, %d)", lg ? "log_softmax" : "softmax", axis);
            arg(x);
            go();
            done(lg ? npg_log_softmax(x, axis) : npg_softmax(x, axis));
            break;
        }
        case 1:
        case 2: {
            int64_t N = rint_in(0, 4), Cn = rint_in(0, 5);
            npg_shape ls = chance(85) ? (npg_shape){2, {N, Cn}} : rand_shape();
            npg_shape ys = chance(85) ? (npg_shape){1, {N}} : rand_shape();
            npg_array *logits = float_operand(ls);
            npg_array *labels = int_operand(ys, 0, Cn - 1, 6);
            npg_ce_opts o = {.reduction = rand_reduction(),
                             .label_smoothing = chance(70) ? 0 : chance(50) ? 0.1 : weird_double(),
                             .has_ignore_index = chance(30),
                             .ignore_index = chance(60) ? rint_in(-1, (int)Cn) : weird_i64()};
            bool use_opts = chance(70), nll = chance(50);
            call("npg_%s(x, labels, opts{reduction=%d, smoothing=%g, ignore=%d:%lld})",
                 nll ? "nll_loss" : "cross_entropy", (int)o.reduction, o.label_smoothing, o.has_ignore_index,
                 (long long)o.ignore_index);
            arg(logits);
            arg(labels);
            go();
            const npg_ce_opts *op = use_opts ? &o : NULL;
            done(nll ? npg_nll_loss(logits, labels, op) : npg_cross_entropy(logits, labels, op));
            break;
        }
        case 3: {
            npg_array *a, *b;
            operand_pair(&a, &b);
            npg_reduction red = rand_reduction();
            bool bce = chance(50);
            call("npg_%s(a, b, %d)", bce ? "binary_cross_entropy_with_logits" : "mse_loss", (int)red);
            arg(a);
            arg(b);
            go();
            done(bce ? npg_binary_cross_entropy_with_logits(a, b, red) : npg_mse_loss(a, b, red));
            break;
        }
        case 4:
        case 5: {
            int groups = chance(70) ? 1 : rint_in(1, 3);
            int64_t N = rint_in(0, 2), Ci = groups * rint_in(0, 2), H = rint_in(0, 5), W = rint_in(0, 5);
            int64_t OC = groups * rint_in(1, 2), KH = rint_in(1, 3), KW = rint_in(1, 3);
            npg_shape xs = {4, {N, Ci, H, W}}, ws = {4, {OC, groups ? Ci / groups : Ci, KH, KW}}, bs = {1, {OC}};
            if (chance(15)) xs = rand_shape();
            if (chance(10)) ws = rand_shape();
            if (chance(10)) bs = rand_shape();
            npg_dtype dt = rand_float_dtype();
            npg_array *x = operand(chance(90) ? dt : NPG_DTYPE_DEFAULT, xs);
            npg_array *w = operand(chance(90) ? dt : NPG_DTYPE_DEFAULT, ws);
            npg_array *b = chance(50) ? NULL : operand(dt, bs);
            npg_conv2d_opts o = {.stride = {conv_param(0, 2), conv_param(0, 2)},
                                 .dilation = {conv_param(0, 2), conv_param(0, 2)},
                                 .groups = chance(80) ? groups : conv_param(-1, 4)};
            conv_padding(o.padding, 0);
            if (x && w && npg_ndim(x) == 4 && npg_ndim(w) == 4) {
                npg_shape ws_ = npg_shape_of(w);
                if (conv_too_big(npg_shape_of(x), (double)ws_.dims[0], (double)ws_.dims[2], (double)ws_.dims[3], o.stride,
                                 o.padding, o.dilation))
                    o.padding[0] = o.padding[1] = 0;
            }
            bool use_opts = chance(70);
            call("npg_conv2d(x, w, b, opts{stride=%d,%d pad=%d,%d dil=%d,%d groups=%d}%s)", o.stride[0], o.stride[1],
                 o.padding[0], o.padding[1], o.dilation[0], o.dilation[1], o.groups, use_opts ? "" : " (NULL)");
            arg(x);
            arg(w);
            opt_arg(b);
            go();
            done(npg_conv2d(x, w, b, use_opts ? &o : NULL));
            break;
        }
        case 6:
        case 7: {
            npg_shape xs = {4, {rint_in(0, 2), rint_in(0, 3), rint_in(0, 6), rint_in(0, 6)}};
            if (chance(12)) xs = rand_shape();
            npg_array *x = operand(chance(85) ? rand_float_dtype() : NPG_DTYPE_DEFAULT, xs);
            npg_pool2d_opts o = {.kernel = {conv_param(0, 4), conv_param(0, 4)},
                                 .stride = {conv_param(0, 3), conv_param(0, 3)},
                                 .count_include_pad = chance(50)};
            conv_padding(o.padding, o.kernel[0] > o.kernel[1] ? o.kernel[1] : o.kernel[0]);
            if (x && npg_ndim(x) == 4 && o.kernel[0] > 0 && o.kernel[1] > 0) {
                int st[2] = {o.stride[0] ? o.stride[0] : o.kernel[0], o.stride[1] ? o.stride[1] : o.kernel[1]};
                npg_shape xs_ = npg_shape_of(x);
                if (conv_too_big(xs_, (double)xs_.dims[1], o.kernel[0], o.kernel[1], st, o.padding, (int[2]){1, 1}))
                    o.padding[0] = o.padding[1] = 0;
            }
            bool use_opts = chance(95), avg = chance(50);
            call("npg_%s(x, opts{kernel=%d,%d stride=%d,%d pad=%d,%d incl=%d}%s)", avg ? "avg_pool2d" : "max_pool2d",
                 o.kernel[0], o.kernel[1], o.stride[0], o.stride[1], o.padding[0], o.padding[1], o.count_include_pad,
                 use_opts ? "" : " (NULL)");
            arg(x);
            go();
            const npg_pool2d_opts *op = use_opts ? &o : NULL;
            done(avg ? npg_avg_pool2d(x, op) : npg_max_pool2d(x, op));
            break;
        }
        case 8: {
            npg_shape xs = rand_shape();
            int na = chance(85) ? rint_in(0, xs.ndim) : weird_int();
            npg_shape ns = {0};
            if (na >= 0 && na <= xs.ndim) {
                ns.ndim = na;
                memcpy(ns.dims, xs.dims + xs.ndim - na, sizeof(int64_t) * (size_t)na);
            }
            if (chance(10)) ns = rand_shape();
            npg_dtype dt = rand_float_dtype();
            npg_array *x = operand(chance(90) ? dt : NPG_DTYPE_DEFAULT, xs);
            npg_array *w = chance(40) ? NULL : operand(dt, ns);
            npg_array *b = chance(40) ? NULL : operand(dt, chance(90) ? ns : rand_shape());
            double eps = chance(70) ? 1e-5 : weird_double();
            call("npg_layer_norm(x, %d, w, b, %g)", na, eps);
            arg(x);
            opt_arg(w);
            opt_arg(b);
            go();
            done(npg_layer_norm(x, na, w, b, eps));
            break;
        }
        case 9: {
            int64_t num = rint_in(0, 5), dim = rint_in(0, 3);
            npg_shape is = rand_shape();
            if (is.ndim > 3) is.ndim = 3;
            npg_array *ind = int_operand(is, 0, num - 1, 6);
            npg_array *w = float_operand(chance(85) ? (npg_shape){2, {num, dim}} : rand_shape());
            call("npg_embedding(indices, weight)");
            arg(ind);
            arg(w);
            go();
            done(npg_embedding(ind, w));
            break;
        }
        case 10: {
            int64_t in = rint_in(0, 4), out = rint_in(0, 4);
            npg_shape xs = rand_shape();
            if (xs.ndim == 0 || chance(80)) {
                if (xs.ndim == 0) xs.ndim = 1;
                xs.dims[xs.ndim - 1] = in;
            }
            npg_dtype dt = rand_float_dtype();
            npg_array *x = operand(chance(85) ? dt : NPG_DTYPE_DEFAULT, xs);
            npg_array *w = operand(chance(90) ? dt : NPG_DTYPE_DEFAULT, chance(85) ? (npg_shape){2, {out, in}} : rand_shape());
            npg_array *b = chance(40) ? NULL : operand(dt, chance(85) ? (npg_shape){1, {out}} : rand_shape());
            call("npg_linear(x, w, b)");
            arg(x);
            arg(w);
            opt_arg(b);
            go();
            done(npg_linear(x, w, b));
            break;
        }
        case 11: {
            npg_array *x = any_operand();
            double p = chance(60) ? runit() : weird_double();
            bool train = chance(70);
            npg_generator *gen = chance(50) ? g_gen : NULL;
            call("npg_dropout(x, %g, training=%d, %s)", p, train, gen ? "gen" : "NULL");
            arg(x);
            go();
            done(npg_dropout(x, p, train, gen));
            break;
        }
        case 12: {
            npg_shape ws = rand_shape();
            npg_array *w = operand(NPG_DTYPE_DEFAULT, ws);
            npg_init_opts o = {.mode = chance(90) ? (npg_fan_mode)rint_in(0, 1) : (npg_fan_mode)7,
                               .gain = chance(60) ? 0 : weird_double(),
                               .generator = chance(50) ? g_gen : NULL};
            bool use_opts = chance(60);
            int k = rint_in(0, 5);
            static const char *names[] = {"kaiming_uniform", "kaiming_normal", "xavier_uniform", "xavier_normal",
                                          "zeros", "ones"};
            call("npg_init_%s(w, opts{mode=%d gain=%g}%s) on %s", names[k], (int)o.mode, o.gain,
                 use_opts ? "" : " (NULL)", shape_str(&ws, sb, sizeof sb));
            target(w);
            go();
            const npg_init_opts *op = use_opts ? &o : NULL;
            bool ng = maybe_no_grad();
            npg_status st = k == 0 ? npg_init_kaiming_uniform(w, op)
                          : k == 1 ? npg_init_kaiming_normal(w, op)
                          : k == 2 ? npg_init_xavier_uniform(w, op)
                          : k == 3 ? npg_init_xavier_normal(w, op)
                          : k == 4 ? npg_init_zeros(w)
                                   : npg_init_ones(w);
            end_no_grad(ng);
            done_status(st);
            break;
        }
        default: {
            /* activations on floating inputs */
            static const struct {
                const char *name;
                unary_fn fn;
            } acts[] = {{"relu", npg_relu}, {"sigmoid", npg_sigmoid}, {"silu", npg_silu}, {"gelu", npg_gelu},
                        {"gelu_tanh", npg_gelu_tanh}, {"softplus", npg_softplus}, {"tanh", npg_tanh}};
            int k = rint_in(0, NELEM(acts) - 1);
            npg_array *x = float_operand(rand_shape());
            call("npg_%s(x)", acts[k].name);
            arg(x);
            go();
            done(acts[k].fn(x));
            break;
        }
        }
        iter_end();
    }
    finish();
}

/* ------------------------------------------------------------------------
 * Creation and random numbers
 * ------------------------------------------------------------------------ */

static void opts_str(const npg_opts *o, char *buf, size_t len) {
    if (!o)
        snprintf(buf, len, "NULL");
    else
        snprintf(buf, len, "{dtype=%d device=%d:%d rg=%d gen=%d}", (int)o->dtype, (int)o->device.type, o->device.index,
                 o->requires_grad, o->generator != NULL);
}

Test(fuzz, creation) {
    int n = start("creation", 7, 6000);
    for (int it = 0; it < n; it++) {
        iter_begin(it);
        npg_opts ob;
        const npg_opts *o = rand_opts(&ob);
        char osb[96], sb[160];
        opts_str(o, osb, sizeof osb);
        npg_shape s = rand_shape_arg();
        shape_str(&s, sb, sizeof sb);
        double v = weird_double();
        switch (rint_in(0, 13)) {
        case 0: {
            npg_dtype dt = rand_dtype_arg();
            bool ok_dt = dt >= NPG_BOOL && dt < NPG_DTYPE_COUNT;
            /* valid: the call would read cnt elements (cnt > 256: "many") */
            bool valid = ok_dt && s.ndim >= 0 && s.ndim <= NPG_MAX_DIMS;
            int64_t cnt = 1;
            for (int i = 0; valid && i < s.ndim; i++) {
                if (s.dims[i] < 0) valid = false;
                else if (cnt <= 256 && s.dims[i] <= 256) cnt *= s.dims[i];
                else if (cnt != 0) cnt = s.dims[i] == 0 ? 0 : 257;
            }
            void *buf = NULL;
            if (valid && cnt <= 256 && chance(95)) {
                buf = malloc((size_t)(cnt > 0 ? cnt : 1) * 8);
                cr_assert(buf);
                fill_host(buf, dt, cnt);
            } else if (!valid && chance(50)) {
                buf = calloc(1, 64); /* never read: the call fails first */
                cr_assert(buf);
            }
            call("npg_from_data(%s, dtype %d, %s, %s)", buf ? "data" : "NULL", (int)dt, sb, osb);
            go();
            done(npg_from_data(buf, dt, s, o));
            free(buf);
            break;
        }
        case 1: {
            bool is_int = chance(50);
            int64_t iv = weird_i64();
            call(is_int ? "npg_scalar_int(%lld, %s)" : "npg_scalar(%g, %s)", is_int ? (long long)iv : 0LL, osb);
            if (!is_int) call("npg_scalar(%g, %s)", v, osb);
            go();
            done(is_int ? npg_scalar_int(iv, o) : npg_scalar(v, o));
            break;
        }
        case 2:
        case 3: {
            int k = rint_in(0, 3);
            static const char *names[] = {"empty", "zeros", "ones", "full"};
            call("npg_%s(%s, %g, %s)", names[k], sb, v, osb);
            go();
            done(k == 0 ? npg_empty(s, o) : k == 1 ? npg_zeros(s, o) : k == 2 ? npg_ones(s, o) : npg_full(s, v, o));
            break;
        }
        case 4: {
            npg_array *x = any_operand();
            int k = rint_in(0, 3);
            static const char *names[] = {"empty_like", "zeros_like", "ones_like", "full_like"};
            call("npg_%s(x, %g, %s)", names[k], v, osb);
            arg(x);
            go();
            done(k == 0 ? npg_empty_like(x, o) : k == 1 ? npg_zeros_like(x, o) : k == 2 ? npg_ones_like(x, o)
                                                                                        : npg_full_like(x, v, o));
            break;
        }
        case 5: {
            double a = chance(60) ? rint_in(-5, 5) : weird_double(), b = chance(60) ? rint_in(-5, 5) : weird_double();
            double st = chance(60) ? (chance(50) ? 1 : -0.5) : weird_double();
            call("npg_arange(%g, %g, %g, %s)", a, b, st, osb);
            go();
            done(npg_arange(a, b, st, o));
            break;
        }
        case 6: {
            double a = weird_double(), b = weird_double();
            int64_t cnt = weird_count();
            call("npg_linspace(%g, %g, %lld, %s)", a, b, (long long)cnt, osb);
            go();
            done(npg_linspace(a, b, cnt, o));
            break;
        }
        case 7: {
            int64_t m = chance(80) ? weird_count() : INT32_MAX; /* n * n overflows int64 / 8 */
            call("npg_eye(%lld, %s)", (long long)m, osb);
            go();
            done(npg_eye(m, o));
            break;
        }
        case 8:
        case 9: {
            int k = rint_in(0, 3);
            double a = weird_double(), b = weird_double();
            static const char *names[] = {"rand", "uniform", "randn", "normal"};
            call("npg_%s(%g, %g, %s, %s)", names[k], a, b, sb, osb);
            go();
            done(k == 0 ? npg_rand(s, o) : k == 1 ? npg_uniform(a, b, s, o) : k == 2 ? npg_randn(s, o)
                                                                                 : npg_normal(a, b, s, o));
            break;
        }
        case 10: {
            int64_t lo = weird_i64(), hi = weird_i64(), d = rint_in(-1, 5);
            if (chance(50) && lo <= INT64_MAX - 5 && lo >= INT64_MIN + 1) hi = lo + d;
            call("npg_randint(%lld, %lld, %s, %s)", (long long)lo, (long long)hi, sb, osb);
            go();
            done(npg_randint(lo, hi, s, o));
            break;
        }
        case 11: {
            int64_t m = weird_count();
            call("npg_permutation(%lld, %s)", (long long)m, osb);
            go();
            done(npg_permutation(m, o));
            break;
        }
        case 12: {
            npg_array *x = any_operand();
            npg_device d = o ? o->device : NPG_CPU;
            call("npg_to(x, %d:%d)", (int)d.type, d.index);
            arg(x);
            go();
            done(npg_to(x, d));
            break;
        }
        default: {
            /* reading: item, item_int, format, copy_to_host with short buffers, dim */
            npg_array *x = any_operand();
            int k = rint_in(0, 4);
            if (k == 0) {
                call("npg_item(x)");
                arg(x);
                go();
                double r = npg_item(x);
                done_value(npg_last_status() != NPG_OK);
                (void)r;
            } else if (k == 1) {
                call("npg_item_int(x)");
                arg(x);
                go();
                int64_t r = npg_item_int(x);
                done_value(npg_last_status() != NPG_OK);
                (void)r;
            } else if (k == 2) {
                size_t len = chance(20) ? 0 : (size_t)rint_in(1, 200);
                char *buf = chance(10) ? NULL : malloc(len + 1);
                call("npg_format(x, %s, %zu)", buf ? "buf" : "NULL", len);
                arg(x);
                go();
                int64_t r = npg_format(x, buf, len);
                done_value(r < 0);
                if (r >= 0 && buf && len > 0) CHECK(strlen(buf) < len, "npg_format wrote past len");
                free(buf);
            } else if (k == 3) {
                size_t need = x ? npg_nbytes(x) : 8;
                size_t len = chance(50) ? need : (size_t)rint_in(0, (int)need + 1);
                unsigned char *buf = chance(10) ? NULL : malloc(len + 1);
                call("npg_copy_to_host(x, %s, %zu) (needs %zu)", buf ? "buf" : "NULL", len, need);
                arg(x);
                if (len < need) must_fail();
                if (!buf && need > 0) must_fail();
                go();
                done_status(npg_copy_to_host(x, buf, len));
                free(buf);
            } else {
                int axis = weird_int();
                call("npg_dim(x, %d)", axis);
                arg(x);
                go();
                int64_t r = npg_dim(x, axis);
                done_value(r < 0);
            }
            break;
        }
        }
        iter_end();
    }
    finish();
}

/* ------------------------------------------------------------------------
 * Autograd
 * ------------------------------------------------------------------------ */

/* Functions for npg_gradcheck, chosen by the user argument. Results are
 * [new] in gradcheck's scope, as any op's. */
typedef struct gc_user {
    int kind;
    int calls, fail_at; /* kinds 5 and 6 fail from call fail_at on */
} gc_user;

static npg_array *gc_sum_squares(npg_array *const *in, int n) {
    npg_array *acc = NULL;
    for (int i = 0; i < n; i++) {
        npg_array *sq = npg_multiply(in[i], in[i]);
        npg_array *t = npg_sum(sq, NPG_ALL_AXES, false);
        npg_free(sq);
        if (!acc) {
            acc = t;
            continue;
        }
        npg_array *next = npg_add(acc, t);
        npg_free(acc);
        npg_free(t);
        acc = next;
    }
    return acc;
}

static npg_array *gc_fn(npg_array *const *in, int n, void *user) {
    gc_user *u = user;
    int call_no = u->calls++;
    switch (u->kind) {
    case 0: return gc_sum_squares(in, n);                           /* smooth */
    case 1: return NULL;                                            /* fails without setting an error */
    case 2: return n > 0 ? npg_exp(in[0]) : NULL;                   /* non-scalar */
    case 3: return n > 0 ? npg_astype(in[0], NPG_INT64) : NULL;     /* not floating */
    case 4: return n > 0 ? npg_contiguous(in[0]) : NULL;            /* an input itself, when contiguous */
    case 5:
        if (call_no < u->fail_at) return gc_sum_squares(in, n);
        npg__set_error(NPG_ERR_INVALID_ARG, "gc_fn: failing at call %d", call_no);
        return NULL;
    default: return call_no < u->fail_at ? gc_sum_squares(in, n) : NULL;
    }
}

Test(fuzz, autograd) {
    int n = start("autograd", 8, 5000);
    for (int it = 0; it < n; it++) {
        iter_begin(it);
        switch (rint_in(0, 8)) {
        case 0:
        case 1: {
            /* backward from a result of a random op, with a random gradient */
            npg_array *x = float_operand(rand_shape());
            npg_array *root = NULL;
            if (x) {
                int k = rint_in(0, 3);
                root = k == 0 ? npg_multiply_scalar(x, 2) : k == 1 ? npg_sum(x, NPG_ALL_AXES, false)
                       : k == 2 ? npg_exp(x) : npg_retain(x);
                if (root) pool_add(root, NULL); /* else (bool x) a NULL root */
            }
            npg_array *g = chance(40) ? NULL
                         : operand(chance(70) ? rand_float_dtype() : NPG_DTYPE_DEFAULT,
                                   chance(70) && root ? npg_shape_of(root) : rand_shape());
            npg_backward_opts bo = {.retain_graph = chance(30), .create_graph = chance(15)};
            bool use_opts = chance(50);
            int times = chance(20) ? 2 : 1;
            for (int t = 0; t < times; t++) {
                call("npg_backward_ex(root, %s, opts{retain=%d create=%d}%s) #%d", g ? "grad" : "NULL", bo.retain_graph,
                     bo.create_graph, use_opts ? "" : " (NULL)", t);
                arg(root);
                opt_arg(g);
                go();
                npg_status st = npg_backward_ex(root, g, use_opts ? &bo : NULL);
                done_status(st);
                if (st == NPG_OK) check_leaf_grads();
            }
            break;
        }
        case 2: {
            npg_array *x = any_operand();
            bool on = chance(70);
            call("npg_set_requires_grad(x, %d)", on);
            target(x);
            go();
            done_status(npg_set_requires_grad(x, on));
            break;
        }
        case 3: {
            npg_array *x = any_operand();
            int k = rint_in(0, 3);
            if (k == 0) {
                call("npg_grad(x)");
                arg(x);
                go();
                npg_array *g = npg_grad(x);
                if (x && !g) CHECK(npg_last_status() == NPG_OK, "npg_grad without a gradient set an error");
                if (g) check_sane(g);
                after(x == NULL);
                check_unchanged(true);
                npg_free(g);
            } else if (k == 1) {
                call("npg_zero_grad(x)");
                arg(x);
                go();
                done_status(npg_zero_grad(x));
            } else if (k == 2) {
                call("npg_detach(x)");
                arg(x);
                go();
                done(npg_detach(x));
            } else {
                /* an in-place write to a saved operand, then backward */
                npg_array *leaf = make(rand_float_dtype(), npg_shape_of(x), 0);
                setup_rg(leaf);
                npg_array *c = make(npg_dtype_of(leaf), npg_shape_of(leaf), 0);
                npg_array *y = npg_multiply(leaf, c);
                cr_assert(y, "fuzz setup: %s", npg_last_error());
                pool_add(y, NULL);
                npg_array *s = npg_sum(y, NPG_ALL_AXES, false);
                cr_assert(s, "fuzz setup: %s", npg_last_error());
                pool_add(s, NULL);
                npg_status fst = npg_fill(c, 1.5);
                call("npg_backward(sum(leaf * c)) after npg_fill(c) -> %d", (int)fst);
                arg(s);
                go();
                npg_status st = npg_backward(s, NULL);
                after(st != NPG_OK);
                check_unchanged(st == NPG_OK);
                if (fst == NPG_OK && npg_size(c) > 0) CHECK(st != NPG_OK, "backward used a saved operand written in place");
            }
            break;
        }
        case 4:
        case 5: {
            /* npg_grad_of */
            npg_array *x = float_operand(rand_shape());
            npg_array *w = float_operand(rand_shape());
            npg_array *outs[3] = {0}, *gos[3] = {0}, *ins[4] = {0}, *res[4] = {0};
            int nout = chance(90) ? rint_in(1, 2) : rint_in(-1, 0);
            int nin = chance(90) ? rint_in(1, 3) : rint_in(-1, 0);
            for (int i = 0; i < (nout > 0 ? nout : 0); i++) {
                npg_array *y = x ? (i == 0 ? npg_sum(x, NPG_ALL_AXES, false) : npg_multiply_scalar(x, 3)) : NULL;
                if (y) pool_add(y, NULL);
                outs[i] = y;
                gos[i] = chance(50) && y ? make(rand_float_dtype(), npg_shape_of(y), 0) : float_operand(rand_shape());
            }
            npg_array *cands[3] = {x, w, outs[0]};
            for (int i = 0; i < (nin > 0 ? nin : 0); i++) ins[i] = cands[rint_in(0, 2)];
            bool use_go = chance(50);
            npg_backward_opts bo = {.retain_graph = chance(30), .create_graph = chance(15)};
            call("npg_grad_of(outputs, %d, %s, inputs, %d, results, opts{retain=%d create=%d})", nout,
                 use_go ? "grads" : "NULL", nin, bo.retain_graph, bo.create_graph);
            for (int i = 0; i < (nout > 0 ? nout : 0); i++) {
                arg(outs[i]);
                if (outs[i] && !npg_requires_grad(outs[i])) must_fail(); /* NPG_ERR_AUTOGRAD */
                if (use_go) opt_arg(gos[i]);
            }
            for (int i = 0; i < (nin > 0 ? nin : 0); i++) {
                arg(ins[i]);
                if (ins[i] && !npg_requires_grad(ins[i])) must_fail(); /* NPG_ERR_AUTOGRAD */
            }
            if (nout <= 0 || nin <= 0) must_fail();
            go();
            npg_status st = npg_grad_of(outs, nout, use_go ? gos : NULL, ins, nin, res, chance(70) ? &bo : NULL);
            done_status(st);
            for (int i = 0; i < (nin > 0 ? nin : 0); i++) {
                if (st != NPG_OK) {
                    CHECK(res[i] == NULL, "npg_grad_of failed but left a result %d", i);
                    continue;
                }
                CHECK(res[i] != NULL, "npg_grad_of succeeded without result %d", i);
                check_sane(res[i]);
                npg_shape rs = npg_shape_of(res[i]), is = npg_shape_of(ins[i]);
                CHECK(rs.ndim == is.ndim && memcmp(rs.dims, is.dims, sizeof(int64_t) * (size_t)is.ndim) == 0,
                      "npg_grad_of result %d has another shape than its input", i);
                npg_free(res[i]);
            }
            break;
        }
        case 6:
        case 7: {
            /* npg_gradcheck with odd functions, inputs and options */
            int cnt = chance(90) ? rint_in(1, 3) : rint_in(-1, 0);
            npg_array *ins[3] = {0};
            for (int i = 0; i < (cnt > 0 ? cnt : 0); i++) {
                npg_shape s = rand_shape();
                while (numel_of(s) > 6) s.dims[rint_in(0, s.ndim - 1)] = 1;
                ins[i] = chance(80) ? float_operand(s) : any_operand();
                if (ins[i] && npg_size(ins[i]) > 6) ins[i] = make(NPG_FLOAT64, (npg_shape){1, {2}}, 50);
            }
            gc_user gu = {.kind = chance(50) ? 0 : rint_in(1, 6), .fail_at = rint_in(0, 4)};
            npg_gradcheck_opts go_ = {.eps = chance(70) ? 0 : weird_double(),
                                      .atol = chance(70) ? 0 : weird_double(),
                                      .rtol = chance(70) ? 0 : weird_double(),
                                      .keep_dtype = chance(30)};
            bool use_opts = chance(50), null_fn = chance(3);
            call("npg_gradcheck(fn %d/%d%s, inputs, %d, opts{eps=%g atol=%g rtol=%g keep=%d}%s)", gu.kind, gu.fail_at,
                 null_fn ? " NULL" : "",
                 cnt, go_.eps, go_.atol, go_.rtol, go_.keep_dtype, use_opts ? "" : " (NULL)");
            for (int i = 0; i < (cnt > 0 ? cnt : 0); i++) arg(ins[i]);
            if (null_fn || cnt < 0) must_fail();
            go();
            npg_status st = npg_gradcheck(null_fn ? NULL : gc_fn, &gu, ins, cnt, use_opts ? &go_ : NULL);
            done_status(st);
            break;
        }
        default: {
            /* requires_grad through creation opts, and on integer arrays */
            npg_dtype dt = rand_dtype_arg();
            call("npg_zeros((2), opts{dtype=%d requires_grad})", (int)dt);
            bool ok = dt == NPG_DTYPE_DEFAULT || dt == NPG_FLOAT32 || dt == NPG_FLOAT64;
            if (!ok) must_fail();
            go();
            npg_array *z = npg_zeros(NPG_SHAPE(2), NPG_OPTS(.dtype = dt, .device = t_dev(), .requires_grad = true));
            if (z) CHECK(npg_requires_grad(z), "requires_grad option ignored");
            done(z);
            break;
        }
        }
        iter_end();
    }
    finish();
}

/* ------------------------------------------------------------------------
 * NULL operands, systematically: every array argument of every op, with
 * and without a pending error
 * ------------------------------------------------------------------------ */

/* Op k of the table below on operands in[0..arity-1]; NULL name ends it. */
static const struct {
    const char *name;
    int arity;
} NULL_OPS[] = {
    {"where", 3},       {"where_scalar", 2}, {"scalar_where", 2}, {"round", 1},          {"clip", 1},
    {"leaky_relu", 1},  {"astype", 1},       {"var", 1},          {"std", 1},            {"argmax", 1},
    {"argmin", 1},      {"cumsum", 1},       {"cumprod", 1},      {"reshape", 1},        {"permute_dims", 1},
    {"swapaxes", 1},    {"squeeze", 1},      {"expand_dims", 1},  {"broadcast_to", 1},   {"flip", 1},
    {"repeat", 1},      {"concat", 2},       {"stack", 2},        {"diagonal", 1},       {"trace", 1},
    {"index", 1},       {"take", 2},         {"take_along_axis", 2}, {"sort", 1},        {"argsort", 1},
    {"matmul", 2},      {"vecdot", 2},       {"dot", 2},          {"outer", 2},          {"softmax", 1},
    {"log_softmax", 1}, {"linear", 3},       {"conv2d", 3},       {"max_pool2d", 1},     {"avg_pool2d", 1},
    {"layer_norm", 3},  {"embedding", 2},    {"dropout", 1},      {"flatten_from", 1},   {"cross_entropy", 2},
    {"nll_loss", 2},    {"mse_loss", 2},     {"binary_cross_entropy_with_logits", 2},   {"empty_like", 1},
    {"zeros_like", 1},  {"ones_like", 1},    {"full_like", 1},    {"to", 1},             {"sum", 1},
};
/* required[k]: which operands must not be NULL (linear, conv2d, layer_norm
 * take optional ones). */
static bool null_op_required(int k, int i) {
    const char *nm = NULL_OPS[k].name;
    if (!strcmp(nm, "linear") || !strcmp(nm, "conv2d")) return i < 2;
    if (!strcmp(nm, "layer_norm")) return i == 0;
    return true;
}
static npg_array *null_op_call(int k, npg_array *const *in) {
    npg_array *const a = in[0], *const b = in[1], *const c = in[2];
    npg_array *pair[2] = {a, b};
    const npg_idx i0[] = {NPG_I(0)};
    switch (k) {
    case 0: return npg_where(a, b, c);
    case 1: return npg_where_scalar(a, b, 1);
    case 2: return npg_scalar_where(a, 1, b);
    case 3: return npg_round(a, 1);
    case 4: return npg_clip(a, 0, 1);
    case 5: return npg_leaky_relu(a, 0.1);
    case 6: return npg_astype(a, NPG_FLOAT32);
    case 7: return npg_var(a, NPG_ALL_AXES, 0, false);
    case 8: return npg_std(a, NPG_ALL_AXES, 1, true);
    case 9: return npg_argmax(a, 0, false);
    case 10: return npg_argmin(a, NPG_FLAT, false);
    case 11: return npg_cumsum(a, 0);
    case 12: return npg_cumprod(a, -1);
    case 13: return npg_reshape(a, NPG_SHAPE(-1));
    case 14: return npg_permute_dims(a, NPG_AXES(1, 0));
    case 15: return npg_swapaxes(a, 0, 1);
    case 16: return npg_squeeze(a, NPG_ALL_AXES);
    case 17: return npg_expand_dims(a, 0);
    case 18: return npg_broadcast_to(a, NPG_SHAPE(3, 2, 2));
    case 19: return npg_flip(a, NPG_ALL_AXES);
    case 20: return npg_repeat(a, 2, 0);
    case 21: return npg_concat(pair, 2, 0);
    case 22: return npg_stack(pair, 2, 0);
    case 23: return npg_diagonal(a, 0, 0, 1);
    case 24: return npg_trace(a, 0, 0, 1);
    case 25: return npg_index(a, i0, 1);
    case 26: return npg_take(a, b, 0);
    case 27: return npg_take_along_axis(a, b, 1);
    case 28: return npg_sort(a, -1, false);
    case 29: return npg_argsort(a, 0, true);
    case 30: return npg_matmul(a, b);
    case 31: return npg_vecdot(a, b, -1);
    case 32: return npg_dot(a, b);
    case 33: return npg_outer(a, b);
    case 34: return npg_softmax(a, -1);
    case 35: return npg_log_softmax(a, 0);
    case 36: return npg_linear(a, b, c);
    case 37: return npg_conv2d(a, b, c, NULL);
    case 38: return npg_max_pool2d(a, NPG_POOL2D_OPTS(.kernel = {1, 1}));
    case 39: return npg_avg_pool2d(a, NPG_POOL2D_OPTS(.kernel = {1, 1}));
    case 40: return npg_layer_norm(a, 1, b, c, 1e-5);
    case 41: return npg_embedding(b, a);
    case 42: return npg_dropout(a, 0.5, true, g_gen);
    case 43: return npg_flatten_from(a, 1);
    case 44: return npg_cross_entropy(a, b, NULL);
    case 45: return npg_nll_loss(a, b, NPG_CE_OPTS(.reduction = NPG_REDUCTION_SUM));
    case 46: return npg_mse_loss(a, b, NPG_REDUCTION_MEAN);
    case 47: return npg_binary_cross_entropy_with_logits(a, b, NPG_REDUCTION_NONE);
    case 48: return npg_empty_like(a, NULL);
    case 49: return npg_zeros_like(a, NULL);
    case 50: return npg_ones_like(a, NULL);
    case 51: return npg_full_like(a, 2, NULL);
    case 52: return npg_to(a, t_dev());
    default: return npg_sum(a, NPG_ALL_AXES, false);
    }
}

/* Valid-looking operands for null_op_call: a float64 (2, 2) (conv and pooling
 * get (1, 1, 2, 2) ones), integer indices of (2, 2) for take, embedding and
 * the losses' labels. */
static npg_array *null_op_operand(int k, int i) {
    const char *nm = NULL_OPS[k].name;
    bool conv = !strcmp(nm, "conv2d") || strstr(nm, "pool2d");
    if (i == 1 && (!strcmp(nm, "take") || !strcmp(nm, "take_along_axis") || !strcmp(nm, "embedding")))
        return int_operand((npg_shape){2, {2, 2}}, 0, 1, 0);
    if (i == 1 && (!strcmp(nm, "cross_entropy") || !strcmp(nm, "nll_loss")))
        return int_operand((npg_shape){1, {2}}, 0, 1, 0);
    if (i == 0 && !strcmp(nm, "where")) return make(NPG_BOOL, (npg_shape){2, {2, 2}}, 0);
    if (i == 2 && (!strcmp(nm, "linear") || !strcmp(nm, "conv2d") || !strcmp(nm, "layer_norm")))
        return make(NPG_FLOAT64, (npg_shape){1, {conv ? 1 : 2}}, 30);
    if (conv && i == 1) return make(NPG_FLOAT64, (npg_shape){4, {1, 1, 1, 1}}, 30);
    return make(NPG_FLOAT64, conv ? (npg_shape){4, {1, 1, 2, 2}} : (npg_shape){2, {2, 2}}, 30);
}

Test(fuzz, null_operands) {
    start("null_operands", 10, 1);
    int it = 0;
    for (int k = 0; k < NELEM(NULL_OPS); k++)
        for (int i = 0; i < NULL_OPS[k].arity; i++)
            for (int pending = 0; pending < 2; pending++, it++) {
                iter_begin(it);
                g_null_pct = 0;
                npg_array *in[3] = {0};
                for (int j = 0; j < NULL_OPS[k].arity; j++) in[j] = j == i ? NULL : null_op_operand(k, j);
                call("npg_%s with operand %d NULL%s [null sweep]", NULL_OPS[k].name, i, pending ? ", an error pending" : "");
                for (int j = 0; j < NULL_OPS[k].arity; j++) {
                    if (null_op_required(k, j)) arg(in[j]);
                    else opt_arg(in[j]);
                }
                g_force_sentinel = pending;
                go();
                g_force_sentinel = -1;
                npg_array *r = null_op_call(k, in);
                if (!null_op_required(k, i)) { /* an optional operand: the call may succeed */
                    done(r);
                } else {
                    CHECK(r == NULL, "a NULL operand gave a result");
                    done(r);
                }
                iter_end();
            }
    /* the same for the ops of the tables above */
    for (int k = 0; k < NELEM(UNARY); k++, it++) {
        iter_begin(it);
        call("npg_%s(NULL) [null sweep]", UNARY[k].name);
        arg(NULL);
        g_force_sentinel = k % 2;
        go();
        g_force_sentinel = -1;
        done(UNARY[k].fn(NULL));
        iter_end();
    }
    for (int k = 0; k < NELEM(BINARY); k++)
        for (int form = 0; form < 4; form++, it++) {
            iter_begin(it);
            npg_array *x = make(NPG_FLOAT64, (npg_shape){1, {2}}, 30);
            call("npg_%s form %d with a NULL [null sweep]", BINARY[k].name, form);
            arg(form == 0 ? NULL : x);
            arg(form == 1 ? NULL : x);
            g_force_sentinel = form % 2;
            go();
            g_force_sentinel = -1;
            done(form == 0   ? BINARY[k].fn(NULL, x)
                 : form == 1 ? BINARY[k].fn(x, NULL)
                 : form == 2 ? BINARY[k].fn_s(NULL, 2)
                             : BINARY[k].s_fn(2, NULL));
            iter_end();
        }
    for (int k = 0; k < NELEM(REDUCE); k++, it++) {
        iter_begin(it);
        call("npg_%s(NULL) [null sweep]", REDUCE[k].name);
        arg(NULL);
        g_force_sentinel = k % 2;
        go();
        g_force_sentinel = -1;
        done(REDUCE[k].fn(NULL, NPG_AXES(0), true));
        iter_end();
    }
    /* status-returning calls */
    for (int k = 0; k < 12; k++)
        for (int pending = 0; pending < 2; pending++, it++) {
            iter_begin(it);
            static const char *names[] = {"fill", "assign(NULL, src)", "assign(x, NULL)", "setitem(NULL, .., v)",
                                          "setitem(x, .., NULL)", "setitem_scalar", "sort_inplace",
                                          "set_requires_grad", "zero_grad", "backward", "init_xavier_uniform",
                                          "copy_to_host"};
            npg_array *x = make(NPG_FLOAT64, (npg_shape){1, {2}}, 0);
            const npg_idx i0[] = {NPG_I(0)};
            double buf[2];
            call("npg_%s with a NULL array%s [null sweep]", names[k], pending ? ", an error pending" : "");
            if (k == 2 || k == 4) {
                arg(x);
                arg(NULL);
            } else {
                arg(NULL);
                if (k == 1 || k == 3) arg(x);
            }
            g_force_sentinel = pending;
            go();
            g_force_sentinel = -1;
            npg_status st = k == 0   ? npg_fill(NULL, 1)
                          : k == 1   ? npg_assign(NULL, x)
                          : k == 2   ? npg_assign(x, NULL)
                          : k == 3   ? npg_setitem(NULL, i0, 1, x)
                          : k == 4   ? npg_setitem(x, i0, 1, NULL)
                          : k == 5   ? npg_setitem_scalar(NULL, i0, 1, 2)
                          : k == 6   ? npg_sort_inplace(NULL, 0, false)
                          : k == 7   ? npg_set_requires_grad(NULL, true)
                          : k == 8   ? npg_zero_grad(NULL)
                          : k == 9   ? npg_backward(NULL, NULL)
                          : k == 10  ? npg_init_xavier_uniform(NULL, NULL)
                                     : npg_copy_to_host(NULL, buf, sizeof buf);
            CHECK(st != NPG_OK, "a NULL array gave NPG_OK");
            done_status(st);
            iter_end();
        }
    finish();
}

/* ------------------------------------------------------------------------
 * Scopes, optimizers, loaders, parameter lists, schedules
 * ------------------------------------------------------------------------ */

/* .npy / .npz round trips of random operands, and bad paths and names. */
static void fuzz_io(const char *dir) {
    char path[300];
    snprintf(path, sizeof path, "%s/f.np%c", dir, chance(50) ? 'y' : 'z');
    bool npz = path[strlen(path) - 1] == 'z';
    npg_array *x = any_operand(), *y = any_operand();
    static const char *paths[] = {"/nonexistent/dir/f.npy", "/", ""};
    const char *p = chance(85) ? path : chance(20) ? NULL : PICK(paths);
    static const char *names[] = {"a", "b", "", "a", "w.1"};
    npg_named nm[2] = {{chance(10) ? NULL : PICK(names), x}, {PICK(names), y}};
    int cnt = npz ? rint_in(chance(90) ? 1 : -1, 2) : 1;
    bool compress = chance(50);
    call("npg_save_%s(%s, ...) n=%d names '%s' '%s'", npz ? "npz" : "npy", p ? p : "NULL", cnt, nm[0].name ? nm[0].name : "NULL",
         nm[1].name);
    if (!npz || cnt >= 1) arg(x);
    if (npz && cnt == 2) arg(y);
    if (!p || cnt < 0) must_fail();
    for (int i = 0; npz && i < cnt; i++)
        if (!nm[i].name || !nm[i].name[0]) must_fail(); /* names must be non-empty */
    if (npz && cnt == 2 && nm[0].name && !strcmp(nm[0].name, nm[1].name)) must_fail(); /* and distinct */
    go();
    npg_status st = npz ? npg_save_npz(p, nm, cnt, compress) : npg_save_npy(p, x);
    done_status(st);
    if (st != NPG_OK || cnt < 1) return;
    /* read it back: the same bytes, dtype and shape */
    npg_array *back = NULL;
    npg_npz *z = NULL;
    npg_clear_error();
    if (npz) {
        z = npg_load_npz(p, NULL);
        CHECK(z, "npg_load_npz of what npg_save_npz wrote: %s", npg_last_error());
        CHECK(npg_npz_count(z) == cnt, "npz has %d arrays, %d were saved", npg_npz_count(z), cnt);
        back = npg_npz_get(z, nm[0].name);
    } else {
        back = npg_load_npy(p, NULL);
    }
    CHECK(back, "loading what was saved: %s", npg_last_error());
    npg_shape bs = npg_shape_of(back), xs = npg_shape_of(x);
    size_t nb = npg_nbytes(x);
    unsigned char *a = malloc(nb + 1), *b = malloc(nb + 1);
    cr_assert(a && b);
    bool same = npg_dtype_of(back) == npg_dtype_of(x) && bs.ndim == xs.ndim &&
                memcmp(bs.dims, xs.dims, sizeof(int64_t) * (size_t)xs.ndim) == 0 && npg_nbytes(back) == nb &&
                npg_copy_to_host(x, a, nb) == NPG_OK && npg_copy_to_host(back, b, nb) == NPG_OK && memcmp(a, b, nb) == 0;
    free(a);
    free(b);
    npg_free(back);
    npg_npz_free(z);
    CHECK(same, "the %s round trip changed the array", npz ? ".npz" : ".npy");
    unlink(path);
}

Test(fuzz, misc) {
    int n = start("misc", 9, 5000);
    char dir[] = "/tmp/npg_fuzz_XXXXXX";
    cr_assert(mkdtemp(dir));
    for (int it = 0; it < n; it++) {
        iter_begin(it);
        switch (rint_in(0, 7)) {
        case 7: fuzz_io(dir); break;
        case 0: {
            /* scopes: results released at the end, npg_keep, npg_free inside,
             * and bad depths */
            npg_array *x = any_operand(); /* the pool's, outside the scope */
            npg_scope s = npg_scope_begin();
            npg_array *y = x ? npg_add_scalar(x, 1) : NULL;
            npg_array *z = y ? npg_multiply(y, y) : NULL;
            if (chance(50)) npg_free(z);
            npg_array *kept = chance(50) ? npg_keep(y) : NULL;
            if (chance(30)) {
                npg_scope inner = npg_scope_begin();
                npg_array *t = npg_zeros(NPG_SHAPE(2), NPG_OPTS(.device = t_dev()));
                (void)t;
                if (chance(50)) npg_scope_end(inner); /* else ended by s */
            }
            npg_scope bad = {chance(50) ? s.depth + rint_in(1, 5) : -rint_in(0, 5)};
            call("npg_scope_end({%d}) with scope %d open", bad.depth, s.depth);
            go();
            npg_scope_end(bad);
            CHECK(!g_bug, "an internal assertion fired: %s", g_bug_msg);
            npg_scope_end(s);
            npg_free(kept);
            break;
        }
        case 1:
        case 2: {
            /* optimizers */
            int cnt = chance(90) ? rint_in(0, 3) : -1;
            npg_array *ps[3] = {0};
            for (int i = 0; i < (cnt > 0 ? cnt : 0); i++) {
                ps[i] = operand(chance(80) ? rand_float_dtype() : NPG_DTYPE_DEFAULT, rand_shape());
                if (ps[i] && npg_is_floating(npg_dtype_of(ps[i])) && npg_is_leaf(ps[i]) && !npg_requires_grad(ps[i]) &&
                    chance(70))
                    setup_rg(ps[i]);
                if (ps[i] && npg_requires_grad(ps[i]) && npg_is_leaf(ps[i]) && chance(70)) {
                    npg_array *sq = npg_square(ps[i]);
                    npg_array *s = npg_sum(sq, NPG_ALL_AXES, false);
                    cr_assert(s, "fuzz setup: %s", npg_last_error());
                    cr_assert_eq(npg_backward(s, NULL), NPG_OK, "fuzz setup: %s", npg_last_error());
                    npg_free(sq);
                    npg_free(s);
                }
            }
            int k = rint_in(0, 4); /* sgd, adam, adamw, rmsprop, adagrad */
            npg_sgd_opts so = {.lr = chance(70) ? 0.1 : weird_double(), .momentum = chance(50) ? 0 : weird_double(),
                               .dampening = chance(70) ? 0 : weird_double(),
                               .weight_decay = chance(70) ? 0 : weird_double(), .nesterov = chance(30)};
            npg_adam_opts ao = {.lr = chance(50) ? 0 : weird_double(), .beta1 = chance(50) ? 0 : weird_double(),
                                .beta2 = chance(50) ? 0 : weird_double(), .eps = chance(50) ? 0 : weird_double(),
                                .weight_decay = chance(50) ? 0 : weird_double()};
            npg_rmsprop_opts ro = {.lr = chance(50) ? 0 : weird_double(), .alpha = chance(50) ? 0 : weird_double(),
                                   .eps = chance(50) ? 0 : weird_double(),
                                   .weight_decay = chance(60) ? 0 : weird_double(),
                                   .momentum = chance(50) ? 0 : weird_double(), .centered = chance(50)};
            npg_adagrad_opts go_ = {.lr = chance(50) ? 0 : weird_double(), .lr_decay = chance(60) ? 0 : weird_double(),
                                    .weight_decay = chance(60) ? 0 : weird_double(),
                                    .initial_accumulator_value = chance(60) ? 0 : weird_double(),
                                    .eps = chance(50) ? 0 : weird_double()};
            bool null_list = cnt > 0 && chance(5), use_opts = chance(85);
            for (int i = 0; i < (cnt > 0 ? cnt : 0); i++)
                if (!ps[i]) { /* the NULL alone is wrong: its error must win */
                    so = (npg_sgd_opts){.lr = 0.1};
                    ao = (npg_adam_opts){0};
                    ro = (npg_rmsprop_opts){0};
                    go_ = (npg_adagrad_opts){0};
                }
            npg_array *const *list = null_list ? NULL : ps;
            static const char *const kinds[5] = {"sgd", "adam", "adamw", "rmsprop", "adagrad"};
            call("npg_%s_new(params, %d, opts{lr=%g ...}) + step", kinds[k], cnt,
                 k == 0 ? so.lr : k <= 2 ? ao.lr : k == 3 ? ro.lr : go_.lr);
            for (int i = 0; i < (cnt > 0 ? cnt : 0); i++) {
                arg(ps[i]);
                if (ps[i] && (!npg_is_floating(npg_dtype_of(ps[i])) || !npg_is_leaf(ps[i])))
                    must_fail(); /* "must be a floating-point leaf" */
            }
            if (null_list || cnt < 0) must_fail();
            go();
            npg_optimizer *opt = k == 0   ? npg_sgd_new(list, cnt, use_opts ? &so : NULL)
                               : k == 1 ? npg_adam_new(list, cnt, use_opts ? &ao : NULL)
                               : k == 2 ? npg_adamw_new(list, cnt, use_opts ? &ao : NULL)
                               : k == 3 ? npg_rmsprop_new(list, cnt, use_opts ? &ro : NULL)
                                        : npg_adagrad_new(list, cnt, use_opts ? &go_ : NULL);
            after(opt == NULL);
            check_unchanged(false); /* creating an optimizer writes nothing */
            if (opt) {
                for (int step = 0; step < 2; step++) {
                    npg_clear_error();
                    npg_status st = npg_optimizer_step(opt);
                    CHECK(!g_bug, "an internal assertion fired: %s", g_bug_msg);
                    if (st != NPG_OK) CHECK(npg_last_error()[0] && st != NPG_ERR_INTERNAL, "step: %s", npg_last_error());
                }
                npg_optimizer_set_lr(opt, weird_double());
                (void)npg_optimizer_get_lr(opt);
                npg_clear_error();
                npg_status st = npg_optimizer_zero_grad(opt);
                CHECK(st == NPG_OK, "npg_optimizer_zero_grad: %s", npg_last_error());
                npg_optimizer_free(opt);
            }
            double mx = weird_double();
            call("npg_clip_grad_norm(params, %d, %g)", cnt, mx);
            go();
            double norm = npg_clip_grad_norm(list, cnt, mx);
            CHECK(!g_bug, "an internal assertion fired: %s", g_bug_msg);
            if (isnan(norm) && npg_last_status() != NPG_OK)
                CHECK(npg_last_error()[0] && npg_last_status() != NPG_ERR_INTERNAL, "clip: %s", npg_last_error());
            break;
        }
        case 3: {
            /* loaders */
            npg_array *x = any_operand();
            npg_array *y = chance(30) ? NULL : any_operand();
            npg_loader_opts lo = {.batch_size = chance(80) ? rint_in(0, 4) : weird_i64(), .shuffle = chance(50),
                                  .drop_last = chance(30), .generator = chance(50) ? g_gen : NULL};
            call("npg_loader_new(x, y, opts{batch=%lld shuffle=%d drop_last=%d})", (long long)lo.batch_size,
                 lo.shuffle, lo.drop_last);
            arg(x);
            opt_arg(y);
            go();
            npg_loader *l = npg_loader_new(x, y, chance(90) ? &lo : NULL);
            done_value(l == NULL);
            if (l) {
                int64_t nb = npg_loader_num_batches(l);
                CHECK(nb >= 0, "num_batches %lld", (long long)nb);
                for (int e = 0; e < 2; e++) {
                    npg_clear_error();
                    int got = 0;
                    npg_array *xb, *yb;
                    bool skip_y = chance(20);
                    while (got <= nb + 1 && npg_loader_next(l, &xb, skip_y ? NULL : &yb)) {
                        check_sane(xb);
                        npg_free(xb);
                        if (!skip_y) npg_free(yb);
                        got++;
                    }
                    CHECK(npg_last_status() == NPG_OK, "loader_next failed: %s", npg_last_error());
                    CHECK(got == nb, "an epoch gave %d batches, num_batches says %lld", got, (long long)nb);
                }
                npg_loader_free(l);
                check_unchanged(false);
            }
            break;
        }
        case 4: {
            /* parameter lists */
            npg_params *p = npg_params_new();
            cr_assert(p);
            static const char *names[] = {"w", "b", "", "w", "layer.0.weight"};
            for (int i = 0; i < 4; i++) {
                npg_array *x = any_operand();
                const char *nm = chance(10) ? NULL : PICK(names);
                call("npg_params_add(p, %s, x)", nm ? nm : "NULL");
                arg(x);
                if (!nm) must_fail();
                go();
                done_status(npg_params_add(p, nm, x));
            }
            int cnt = npg_params_count(p);
            for (int i = -1; i <= cnt; i++) {
                npg_clear_error();
                npg_array *g = npg_params_get(p, i);
                if (i < 0 || i >= cnt) CHECK(!g && npg_last_status() != NPG_OK, "npg_params_get(%d) of %d", i, cnt);
                (void)npg_params_name(p, i);
            }
            (void)npg_params_find(p, chance(20) ? NULL : PICK(names));
            (void)npg_params_numel(p);
            (void)npg_params_arrays(p);
            CHECK(!g_bug, "an internal assertion fired: %s", g_bug_msg);
            npg_params_free(p);
            break;
        }
        case 5: {
            /* learning-rate schedules: pure functions, any arguments */
            int64_t a = weird_i64(), b = weird_i64();
            double base = weird_double(), g = weird_double();
            call("npg_lr_*(%g, %lld, %lld, %g)", base, (long long)a, (long long)b, g);
            go();
            (void)npg_lr_step(base, a, b, g);
            (void)npg_lr_cosine(base, a, b, g);
            (void)npg_lr_warmup(base, a, b);
            CHECK(!g_bug, "an internal assertion fired: %s", g_bug_msg);
            break;
        }
        default: {
            /* properties on NULL and odd arrays */
            npg_array *x = any_operand();
            call("properties of x");
            arg(x);
            go();
            int64_t st[NPG_MAX_DIMS];
            (void)npg_ndim(x);
            (void)npg_shape_of(x);
            (void)npg_dim(x, weird_int());
            (void)npg_size(x);
            (void)npg_itemsize(x);
            (void)npg_nbytes(x);
            npg_status s1 = npg_strides(x, chance(10) ? NULL : st);
            (void)npg_is_contiguous(x);
            (void)npg_requires_grad(x);
            (void)npg_is_leaf(x);
            (void)npg_grad_fn_name(x);
            (void)npg_data(x);
            if (s1 != NPG_OK) CHECK(npg_last_error()[0], "npg_strides failed without a message");
            CHECK(!g_bug, "an internal assertion fired: %s", g_bug_msg);
            check_unchanged(false);
            break;
        }
        }
        iter_end();
    }
    rmdir(dir);
    finish();
}
