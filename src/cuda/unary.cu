/*
 * unary.cu — the UNARY family: out[i] = op(in[i]). One functor per op, one
 * line per dtype, each calling scalar_ops.h so CPU and GPU agree on
 * semantics; kernels come from elementwise.cuh (16-byte vectors when flat,
 * strided otherwise).
 *
 * A functor has an overload for exactly the dtypes backend.h admits for its
 * op (FLOAT-rule ops: float32/float64; ARITH/ROUND: the integers and floats;
 * BITWISE: bool and integers; TEST, LOGICAL_NOT: all but the half types);
 * any other dtype is NPG_ERR_UNSUPPORTED. bool_out marks the ops whose
 * output is bool; sign_free the ops that run a signed integer dtype as the
 * unsigned one of its width (the same bits, one kernel per width).
 * float16 / bfloat16 run the float32 overload between conversions
 * (elementwise.cuh's half bodies).
 */
#include "elementwise.cuh"

/* out: (n,) contiguous (any strides accepted), dtype DO; in: (n,) any strides, dtype DI */
template <class F, npg_dtype DI, npg_dtype DO> struct npg_cu_unary_body {
    typedef CT<DI> TI;
    typedef CT<DO> TO;
    static constexpr int W = 16 / npg_cu_max_size<TI, TO>::value;
    TO *out;
    npg_cu_src<TI> in;
    F f;

    template <int V> __device__ __forceinline__ void vec(int64_t i) const {
        TI x[V];
        in.template load<V>(x, i);
        TO y[V];
#pragma unroll
        for (int k = 0; k < V; k++) y[k] = (TO)f(DT<DI>{}, x[k]);
        npg_cu_vstore<V>(out + i, y);
    }
    __device__ __forceinline__ void at(const int64_t (&off)[2]) const {
        out[off[0]] = (TO)f(DT<DI>{}, in.at(off[1]));
    }
};

/* ---- functors ----------------------------------------------------------------------- */

#define NPG_CU_HD __host__ __device__ __forceinline__
#define U1(name, D, t) \
    NPG_CU_HD CT<D> operator()(DT<D>, CT<D> x) const { return npg_s_##name##_##t(x); }
#define U1_F(name) U1(name, NPG_FLOAT32, f32) U1(name, NPG_FLOAT64, f64)
#define U1_I(name)                                                                                   \
    U1(name, NPG_UINT8, u8) U1(name, NPG_INT32, i32) U1(name, NPG_INT64, i64) U1(name, NPG_INT8, i8)  \
    U1(name, NPG_INT16, i16) U1(name, NPG_UINT16, u16) U1(name, NPG_UINT32, u32) U1(name, NPG_UINT64, u64)
#define U_ID(D) \
    NPG_CU_HD CT<D> operator()(DT<D>, CT<D> x) const { return x; }
#define U_ID_I                                                                                        \
    U_ID(NPG_UINT8) U_ID(NPG_INT32) U_ID(NPG_INT64) U_ID(NPG_INT8) U_ID(NPG_INT16) U_ID(NPG_UINT16) \
    U_ID(NPG_UINT32) U_ID(NPG_UINT64)

/* float-only ops */
#define U_FLOAT(name)                         \
    struct npg_cu_u_##name {                  \
        static constexpr bool bool_out = false; \
        U1_F(name)                            \
    };
/* numeric ops: floats and integers */
#define U_NUM(name)                           \
    struct npg_cu_u_##name {                  \
        static constexpr bool bool_out = false; \
        U1_F(name) U1_I(name)                 \
    };
/* the same, wrapping: one kernel per integer width (elementwise.cuh's sign_free) */
#define U_NUM_WRAP(name)                      \
    struct npg_cu_u_##name {                  \
        static constexpr bool bool_out = false; \
        static constexpr bool sign_free = true; \
        U1_F(name) U1_I(name)                 \
    };
/* rounding ops: identity on integers */
#define U_ROUNDING(name)                      \
    struct npg_cu_u_##name {                  \
        static constexpr bool bool_out = false; \
        static constexpr bool sign_free = true; \
        U1_F(name) U_ID_I                     \
    };

U_NUM_WRAP(negative)
U_NUM(abs)
U_NUM(sign)
U_NUM_WRAP(square)
U_NUM(relu)
U_FLOAT(sqrt)
U_FLOAT(exp)
U_FLOAT(expm1)
U_FLOAT(log)
U_FLOAT(log1p)
U_FLOAT(log2)
U_FLOAT(log10)
U_FLOAT(sin)
U_FLOAT(cos)
U_FLOAT(tan)
U_FLOAT(asin)
U_FLOAT(acos)
U_FLOAT(atan)
U_FLOAT(sinh)
U_FLOAT(cosh)
U_FLOAT(tanh)
U_FLOAT(asinh)
U_FLOAT(acosh)
U_FLOAT(atanh)
U_FLOAT(erf)
U_FLOAT(reciprocal)
U_FLOAT(sigmoid)
U_FLOAT(silu)
U_FLOAT(gelu)
U_FLOAT(gelu_tanh)
U_FLOAT(softplus)
U_ROUNDING(floor)
U_ROUNDING(ceil)
U_ROUNDING(trunc)

struct npg_cu_u_positive {
    static constexpr bool bool_out = false;
    static constexpr bool sign_free = true;
    U_ID(NPG_FLOAT32) U_ID(NPG_FLOAT64) U_ID_I
};

/* p.i[0] = decimals (half to even) */
struct npg_cu_u_round {
    static constexpr bool bool_out = false;
    int64_t d;
#define U_ROUND(D, t) \
    NPG_CU_HD CT<D> operator()(DT<D>, CT<D> x) const { return npg_s_round_##t(x, d); }
    U_ROUND(NPG_FLOAT32, f32) U_ROUND(NPG_FLOAT64, f64) U_ROUND(NPG_UINT8, u8) U_ROUND(NPG_INT32, i32)
    U_ROUND(NPG_INT64, i64) U_ROUND(NPG_INT8, i8) U_ROUND(NPG_INT16, i16) U_ROUND(NPG_UINT16, u16)
    U_ROUND(NPG_UINT32, u32) U_ROUND(NPG_UINT64, u64)
#undef U_ROUND
};

/* p.f[0] = lo, p.f[1] = hi (NaN bound: open) */
struct npg_cu_u_clip {
    static constexpr bool bool_out = false;
    double lo, hi;
#define U_CLIP(D, t) \
    NPG_CU_HD CT<D> operator()(DT<D>, CT<D> x) const { return npg_s_clip_##t(x, lo, hi); }
    U_CLIP(NPG_FLOAT32, f32) U_CLIP(NPG_FLOAT64, f64) U_CLIP(NPG_UINT8, u8) U_CLIP(NPG_INT32, i32)
    U_CLIP(NPG_INT64, i64) U_CLIP(NPG_INT8, i8) U_CLIP(NPG_INT16, i16) U_CLIP(NPG_UINT16, u16)
    U_CLIP(NPG_UINT32, u32) U_CLIP(NPG_UINT64, u64)
#undef U_CLIP
};

/* p.f[0] = negative slope */
struct npg_cu_u_leaky_relu {
    static constexpr bool bool_out = false;
    double slope;
    NPG_CU_HD float operator()(DT<NPG_FLOAT32>, float x) const { return npg_s_leaky_relu_f32(x, slope); }
    NPG_CU_HD double operator()(DT<NPG_FLOAT64>, double x) const { return npg_s_leaky_relu_f64(x, slope); }
};

/* tests: bool out; integers and bool are never NaN or infinite */
#define U_TEST_K(D, int_value) \
    NPG_CU_HD uint8_t operator()(DT<D>, CT<D>) const { return int_value; }
#define U_TEST(name, int_value)                                                                   \
    struct npg_cu_u_##name {                                                                      \
        static constexpr bool bool_out = true;                                                    \
        static constexpr bool sign_free = true;                                                   \
        NPG_CU_HD uint8_t operator()(DT<NPG_FLOAT32>, float x) const { return npg_s_##name##_f32(x); } \
        NPG_CU_HD uint8_t operator()(DT<NPG_FLOAT64>, double x) const { return npg_s_##name##_f64(x); } \
        U_TEST_K(NPG_BOOL, int_value) U_TEST_K(NPG_UINT8, int_value) U_TEST_K(NPG_INT32, int_value)   \
        U_TEST_K(NPG_INT64, int_value) U_TEST_K(NPG_INT8, int_value) U_TEST_K(NPG_INT16, int_value)   \
        U_TEST_K(NPG_UINT16, int_value) U_TEST_K(NPG_UINT32, int_value) U_TEST_K(NPG_UINT64, int_value) \
    };
U_TEST(isnan, 0)
U_TEST(isinf, 0)
U_TEST(isfinite, 1)

/* the sign bit of floats (-0.0 and negative NaNs too); x < 0 for integers */
struct npg_cu_u_signbit {
    static constexpr bool bool_out = true;
    NPG_CU_HD uint8_t operator()(DT<NPG_FLOAT32>, float x) const { return npg_s_signbit_f32(x); }
    NPG_CU_HD uint8_t operator()(DT<NPG_FLOAT64>, double x) const { return npg_s_signbit_f64(x); }
    NPG_CU_HD uint8_t operator()(DT<NPG_BOOL>, uint8_t) const { return 0; }
    NPG_CU_HD uint8_t operator()(DT<NPG_UINT8>, uint8_t) const { return 0; }
    NPG_CU_HD uint8_t operator()(DT<NPG_INT32>, int32_t x) const { return (uint8_t)(x < 0); }
    NPG_CU_HD uint8_t operator()(DT<NPG_INT64>, int64_t x) const { return (uint8_t)(x < 0); }
    NPG_CU_HD uint8_t operator()(DT<NPG_INT8>, int8_t x) const { return (uint8_t)(x < 0); }
    NPG_CU_HD uint8_t operator()(DT<NPG_INT16>, int16_t x) const { return (uint8_t)(x < 0); }
    NPG_CU_HD uint8_t operator()(DT<NPG_UINT16>, uint16_t) const { return 0; }
    NPG_CU_HD uint8_t operator()(DT<NPG_UINT32>, uint32_t) const { return 0; }
    NPG_CU_HD uint8_t operator()(DT<NPG_UINT64>, uint64_t) const { return 0; }
};

/* any dtype read as a truth value (NaN is true, so not NaN is false) */
struct npg_cu_u_logical_not {
    static constexpr bool bool_out = true;
    static constexpr bool sign_free = true;
#define U_NOT(D) \
    NPG_CU_HD uint8_t operator()(DT<D>, CT<D> x) const { return (uint8_t)(x == 0); }
    U_NOT(NPG_BOOL) U_NOT(NPG_UINT8) U_NOT(NPG_INT32) U_NOT(NPG_INT64) U_NOT(NPG_FLOAT32) U_NOT(NPG_FLOAT64)
    U_NOT(NPG_INT8) U_NOT(NPG_INT16) U_NOT(NPG_UINT16) U_NOT(NPG_UINT32) U_NOT(NPG_UINT64)
#undef U_NOT
};

struct npg_cu_u_bitwise_invert {
    static constexpr bool bool_out = false;
    static constexpr bool sign_free = true;
    U1(bitwise_invert, NPG_BOOL, b) U1_I(bitwise_invert)
};

/* ---- entry ---------------------------------------------------------------------------- */

template <class F> static npg_status npg_cu_unary_run(npg_cu_ctx *ctx, const F &f, npg_op op, const npg_tdesc *out,
                                                      const npg_tdesc *in) {
    const char *what = npg__op_name(op);
    if (npg_cu_is_half(in->dtype)) {
        if constexpr (!npg_cu_has_op<F, NPG_FLOAT32, 1>::value) {
            return npg_cu_unsupported(what, in->dtype);
        } else {
            const npg_tdesc *d[2] = {out, in};
            return npg_cu_half_entry<npg_cu_unary_half_body, 2>(ctx, f, in->dtype, d, what);
        }
    }
    return npg_cu_dispatch(in->dtype, what, [&](auto tag) -> npg_status {
        constexpr npg_dtype D = decltype(tag)::value;
        if constexpr (!npg_cu_has_op<F, D, 1>::value) {
            return npg_cu_unsupported(what, D);
        } else {
            constexpr npg_dtype DO = F::bool_out ? NPG_BOOL : D;
            if (out->dtype != DO)
                return npg__set_error(NPG_ERR_DTYPE, "cuda %s: output dtype %s, expected %s", what,
                                      npg_dtype_name(out->dtype), npg_dtype_name(DO));
            /* the kernel's dtypes: DK = D, or the unsigned one of its width (sign_free) */
            constexpr npg_dtype DK = npg_cu_kernel_dtype<F, D>;
            constexpr npg_dtype DKO = F::bool_out ? NPG_BOOL : DK;
            static_assert(npg_cu_has_op<F, DK, 1>::value, "a sign_free functor covers every integer dtype");
            typedef npg_cu_unary_body<F, DK, DKO> Body;
            npg_cu_ew_setup<2> s;
            const npg_tdesc *d[2] = {out, in};
            npg_cu_ew_prepare<2>(s, d, Body::W);
            if (s.n == 0) return NPG_OK;
            Body body;
            body.out = (CT<DKO> *)out->data;
            body.in = npg_cu_src_of<DK>(in);
            body.in.mode = s.mode[1];
            body.f = f;
            return npg_cu_ew_run(ctx, body, s.flat, s.g, s.n, what);
        }
    });
}

npg_status npg_cu_unary(int dev, npg_op op, const npg_tdesc *out, const npg_tdesc *in, const npg_kparams *p) {
    NPG_CU_CTX(ctx, dev);
#define CASE(ID, name) \
    case NPG_OP_##ID: return npg_cu_unary_run(ctx, npg_cu_u_##name{}, op, out, in);
    switch (op) {
        CASE(NEGATIVE, negative)
        CASE(POSITIVE, positive)
        CASE(ABS, abs)
        CASE(SIGN, sign)
        CASE(SQRT, sqrt)
        CASE(SQUARE, square)
        CASE(EXP, exp)
        CASE(EXPM1, expm1)
        CASE(LOG, log)
        CASE(LOG1P, log1p)
        CASE(LOG2, log2)
        CASE(LOG10, log10)
        CASE(SIN, sin)
        CASE(COS, cos)
        CASE(TAN, tan)
        CASE(ASIN, asin)
        CASE(ACOS, acos)
        CASE(ATAN, atan)
        CASE(SINH, sinh)
        CASE(COSH, cosh)
        CASE(TANH, tanh)
        CASE(ASINH, asinh)
        CASE(ACOSH, acosh)
        CASE(ATANH, atanh)
        CASE(ERF, erf)
        CASE(FLOOR, floor)
        CASE(CEIL, ceil)
        CASE(TRUNC, trunc)
        CASE(RECIPROCAL, reciprocal)
        CASE(ISNAN, isnan)
        CASE(ISINF, isinf)
        CASE(ISFINITE, isfinite)
        CASE(SIGNBIT, signbit)
        CASE(LOGICAL_NOT, logical_not)
        CASE(BITWISE_INVERT, bitwise_invert)
        CASE(RELU, relu)
        CASE(SIGMOID, sigmoid)
        CASE(SILU, silu)
        CASE(GELU, gelu)
        CASE(GELU_TANH, gelu_tanh)
        CASE(SOFTPLUS, softplus)
    case NPG_OP_ROUND: {
        npg_cu_u_round f;
        f.d = p ? p->i[0] : 0;
        return npg_cu_unary_run(ctx, f, op, out, in);
    }
    case NPG_OP_CLIP: {
        npg_cu_u_clip f;
        f.lo = p ? p->f[0] : NAN;
        f.hi = p ? p->f[1] : NAN;
        return npg_cu_unary_run(ctx, f, op, out, in);
    }
    case NPG_OP_LEAKY_RELU: {
        npg_cu_u_leaky_relu f;
        f.slope = p ? p->f[0] : 0.01;
        return npg_cu_unary_run(ctx, f, op, out, in);
    }
    default:
        return npg__set_error(NPG_ERR_UNSUPPORTED, "cuda unary: op %s is not a unary op", npg__op_name(op));
    }
#undef CASE
}
