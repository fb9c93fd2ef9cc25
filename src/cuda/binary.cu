/*
 * binary.cu — the BINARY family: out[i] = op(a[i], b[i]) with broadcast
 * strides or weak scalars on either side. One functor per op, one line per
 * dtype calling scalar_ops.h; kernels from elementwise.cuh (16-byte vectors
 * when the operands are flat and aligned, which is the case for same-shape
 * contiguous arrays and array-scalar ops).
 *
 * Dtypes per rule (backend.h / ops.def): ARITH the integers and floats;
 * FLOAT floats; ANY (maximum, minimum) all non-half dtypes; CMP and LOGICAL
 * all non-half dtypes in, bool out; BITWISE bool and integers; SHIFT
 * integers. Anything else is
 * NPG_ERR_UNSUPPORTED. float16 / bfloat16 run the float32 overload between
 * conversions (elementwise.cuh's half bodies).
 */
#include "elementwise.cuh"

/* out: (S...) contiguous (any strides accepted), dtype DO; a, b: (S...)
 * broadcast strides or weak scalars, dtype D */
template <class F, npg_dtype D, npg_dtype DO> struct npg_cu_binary_body {
    typedef CT<D> T;
    typedef CT<DO> TO;
    static constexpr int W = 16 / npg_cu_max_size<T, TO>::value;
    TO *out;
    npg_cu_src<T> a, b;
    F f;

    template <int V> __device__ __forceinline__ void vec(int64_t i) const {
        T x[V], y[V];
        a.template load<V>(x, i);
        b.template load<V>(y, i);
        TO r[V];
#pragma unroll
        for (int k = 0; k < V; k++) r[k] = (TO)f(DT<D>{}, x[k], y[k]);
        npg_cu_vstore<V>(out + i, r);
    }
    __device__ __forceinline__ void at(const int64_t (&off)[3]) const {
        out[off[0]] = (TO)f(DT<D>{}, a.at(off[1]), b.at(off[2]));
    }
};

/* ---- functors -------------------------------------------------------------------------- */

#define NPG_CU_HD __host__ __device__ __forceinline__
#define B1(name, D, t) \
    NPG_CU_HD CT<D> operator()(DT<D>, CT<D> x, CT<D> y) const { return npg_s_##name##_##t(x, y); }
#define B1_F(name) B1(name, NPG_FLOAT32, f32) B1(name, NPG_FLOAT64, f64)
#define B1_I(name)                                                                                   \
    B1(name, NPG_UINT8, u8) B1(name, NPG_INT32, i32) B1(name, NPG_INT64, i64) B1(name, NPG_INT8, i8)  \
    B1(name, NPG_INT16, i16) B1(name, NPG_UINT16, u16) B1(name, NPG_UINT32, u32) B1(name, NPG_UINT64, u64)

/* sign_free (elementwise.cuh): the op's integer results are the same bits
 * for signed and unsigned operands of one width, so one kernel per width */
#define B_STRUCT(name, sf, body)                \
    struct npg_cu_b_##name {                    \
        static constexpr bool bool_out = false; \
        static constexpr bool sign_free = sf;   \
        body                                    \
    };
#define B_NUM(name) B_STRUCT(name, false, B1_F(name) B1_I(name))
#define B_WRAP(name) B_STRUCT(name, true, B1_F(name) B1_I(name))
#define B_FLOAT(name) B_STRUCT(name, false, B1_F(name))
#define B_ANY(name) B_STRUCT(name, false, B1_F(name) B1_I(name) B1(name, NPG_BOOL, b))
#define B_BITS(name) B_STRUCT(name, true, B1_I(name) B1(name, NPG_BOOL, b))
#define B_SHIFT(name) B_STRUCT(name, false, B1_I(name))

B_WRAP(add)
B_WRAP(subtract)
B_WRAP(multiply)
B_NUM(floor_divide)
B_NUM(remainder)
B_NUM(pow)
B_FLOAT(divide)
B_FLOAT(atan2)
B_FLOAT(logaddexp)
B_FLOAT(copysign)
B_FLOAT(hypot)
B_FLOAT(nextafter)
B_ANY(maximum)
B_ANY(minimum)
B_BITS(bitwise_and)
B_BITS(bitwise_or)
B_BITS(bitwise_xor)
B_SHIFT(bitwise_left_shift)
B_SHIFT(bitwise_right_shift)

/* bool-out ops on every non-half dtype: `expr` in x, y */
#define B_BOOL1(D, expr) \
    NPG_CU_HD uint8_t operator()(DT<D>, CT<D> x, CT<D> y) const { return (uint8_t)(expr); }
#define B_BOOL(name, sf, expr)                                                                         \
    struct npg_cu_b_##name {                                                                           \
        static constexpr bool bool_out = true;                                                         \
        static constexpr bool sign_free = sf;                                                          \
        B_BOOL1(NPG_BOOL, expr) B_BOOL1(NPG_UINT8, expr) B_BOOL1(NPG_INT32, expr) B_BOOL1(NPG_INT64, expr) \
        B_BOOL1(NPG_FLOAT32, expr) B_BOOL1(NPG_FLOAT64, expr) B_BOOL1(NPG_INT8, expr)                  \
        B_BOOL1(NPG_INT16, expr) B_BOOL1(NPG_UINT16, expr) B_BOOL1(NPG_UINT32, expr)                   \
        B_BOOL1(NPG_UINT64, expr)                                                                      \
    };

B_BOOL(equal, true, x == y)
B_BOOL(not_equal, true, x != y)
B_BOOL(less, false, x < y)
B_BOOL(less_equal, false, x <= y)
B_BOOL(greater, false, x > y)
B_BOOL(greater_equal, false, x >= y)
B_BOOL(logical_and, true, (x != 0) && (y != 0))
B_BOOL(logical_or, true, (x != 0) || (y != 0))
B_BOOL(logical_xor, true, (x != 0) != (y != 0))

/* ---- entry -------------------------------------------------------------------------------- */

template <class F>
static npg_status npg_cu_binary_run(npg_cu_ctx *ctx, npg_op op, const npg_tdesc *out, const npg_tdesc *a,
                                    const npg_tdesc *b) {
    const char *what = npg__op_name(op);
    if (a->dtype != b->dtype)
        return npg__set_error(NPG_ERR_DTYPE, "cuda %s: operand dtypes %s and %s differ", what,
                              npg_dtype_name(a->dtype), npg_dtype_name(b->dtype));
    if (npg_cu_is_half(a->dtype)) {
        if constexpr (!npg_cu_has_op<F, NPG_FLOAT32, 2>::value) {
            return npg_cu_unsupported(what, a->dtype);
        } else {
            const npg_tdesc *d[3] = {out, a, b};
            return npg_cu_half_entry<npg_cu_binary_half_body, 3>(ctx, F{}, a->dtype, d, what);
        }
    }
    return npg_cu_dispatch(a->dtype, what, [&](auto tag) -> npg_status {
        constexpr npg_dtype D = decltype(tag)::value;
        if constexpr (!npg_cu_has_op<F, D, 2>::value) {
            return npg_cu_unsupported(what, D);
        } else {
            constexpr npg_dtype DO = F::bool_out ? NPG_BOOL : D;
            if (out->dtype != DO)
                return npg__set_error(NPG_ERR_DTYPE, "cuda %s: output dtype %s, expected %s", what,
                                      npg_dtype_name(out->dtype), npg_dtype_name(DO));
            /* the kernel's dtypes: DK = D, or the unsigned one of its width (sign_free) */
            constexpr npg_dtype DK = npg_cu_kernel_dtype<F, D>;
            constexpr npg_dtype DKO = F::bool_out ? NPG_BOOL : DK;
            static_assert(npg_cu_has_op<F, DK, 2>::value, "a sign_free functor covers every integer dtype");
            typedef npg_cu_binary_body<F, DK, DKO> Body;
            npg_cu_ew_setup<3> s;
            const npg_tdesc *d[3] = {out, a, b};
            npg_cu_ew_prepare<3>(s, d, Body::W);
            if (s.n == 0) return NPG_OK;
            Body body;
            body.out = (CT<DKO> *)out->data;
            body.a = npg_cu_src_of<DK>(a);
            body.b = npg_cu_src_of<DK>(b);
            body.a.mode = s.mode[1];
            body.b.mode = s.mode[2];
            body.f = F{};
            return npg_cu_ew_run(ctx, body, s.flat, s.g, s.n, what);
        }
    });
}

npg_status npg_cu_binary(int dev, npg_op op, const npg_tdesc *out, const npg_tdesc *a, const npg_tdesc *b) {
    NPG_CU_CTX(ctx, dev);
#define CASE(ID, name) \
    case NPG_OP_##ID: return npg_cu_binary_run<npg_cu_b_##name>(ctx, op, out, a, b);
    switch (op) {
        CASE(ADD, add)
        CASE(SUBTRACT, subtract)
        CASE(MULTIPLY, multiply)
        CASE(DIVIDE, divide)
        CASE(FLOOR_DIVIDE, floor_divide)
        CASE(REMAINDER, remainder)
        CASE(POW, pow)
        CASE(ATAN2, atan2)
        CASE(LOGADDEXP, logaddexp)
        CASE(COPYSIGN, copysign)
        CASE(HYPOT, hypot)
        CASE(NEXTAFTER, nextafter)
        CASE(MAXIMUM, maximum)
        CASE(MINIMUM, minimum)
        CASE(EQUAL, equal)
        CASE(NOT_EQUAL, not_equal)
        CASE(LESS, less)
        CASE(LESS_EQUAL, less_equal)
        CASE(GREATER, greater)
        CASE(GREATER_EQUAL, greater_equal)
        CASE(LOGICAL_AND, logical_and)
        CASE(LOGICAL_OR, logical_or)
        CASE(LOGICAL_XOR, logical_xor)
        CASE(BITWISE_AND, bitwise_and)
        CASE(BITWISE_OR, bitwise_or)
        CASE(BITWISE_XOR, bitwise_xor)
        CASE(BITWISE_LEFT_SHIFT, bitwise_left_shift)
        CASE(BITWISE_RIGHT_SHIFT, bitwise_right_shift)
    default:
        return npg__set_error(NPG_ERR_UNSUPPORTED, "cuda binary: op %s is not a binary op", npg__op_name(op));
    }
#undef CASE
}
