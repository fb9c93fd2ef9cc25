/*
 * dtype.c — dtypes, the op-info table generated from ops.def, and the type
 * promotion rules (array API: decided by dtypes alone, never by values).
 */
#include "internal.h"

const npg_op_info npg__op_info[NPG_OP_COUNT] = {
#define NPG_OP(ID, name, family, arity, diff, rule) \
    [NPG_OP_##ID] = {#name, NPG_FAM_##family, arity, diff, NPG_RULE_##rule},
#include "ops.def"
#undef NPG_OP
};

const char *npg__op_name(npg_op op) {
    return (unsigned)op < NPG_OP_COUNT ? npg__op_info[op].name : "?";
}

static const size_t g_sizes[NPG_DTYPE_COUNT] = {
    [NPG_BOOL] = 1,    [NPG_UINT8] = 1,   [NPG_INT32] = 4,  [NPG_INT64] = 8,  [NPG_FLOAT32] = 4,
    [NPG_FLOAT64] = 8, [NPG_FLOAT16] = 2, [NPG_BFLOAT16] = 2, [NPG_INT8] = 1, [NPG_INT16] = 2,
    [NPG_UINT16] = 2,  [NPG_UINT32] = 4,  [NPG_UINT64] = 8,
};
static const char *const g_names[NPG_DTYPE_COUNT] = {
    [NPG_DTYPE_DEFAULT] = "default", [NPG_BOOL] = "bool",       [NPG_UINT8] = "uint8",     [NPG_INT32] = "int32",
    [NPG_INT64] = "int64",           [NPG_FLOAT32] = "float32", [NPG_FLOAT64] = "float64",
    [NPG_FLOAT16] = "float16",       [NPG_BFLOAT16] = "bfloat16", [NPG_INT8] = "int8",
    [NPG_INT16] = "int16",           [NPG_UINT16] = "uint16",   [NPG_UINT32] = "uint32",
    [NPG_UINT64] = "uint64",
};

bool npg__dtype_valid(npg_dtype d) { return d > NPG_DTYPE_DEFAULT && d < NPG_DTYPE_COUNT; }
size_t npg__dtype_size(npg_dtype d) { return (unsigned)d < NPG_DTYPE_COUNT ? g_sizes[d] : 0; }
size_t npg_dtype_size(npg_dtype d) { return npg__dtype_size(d); }
const char *npg_dtype_name(npg_dtype d) { return (unsigned)d < NPG_DTYPE_COUNT ? g_names[d] : "invalid"; }
bool npg_is_floating(npg_dtype d) {
    return d == NPG_FLOAT32 || d == NPG_FLOAT64 || d == NPG_FLOAT16 || d == NPG_BFLOAT16;
}
bool npg__is_half(npg_dtype d) { return d == NPG_FLOAT16 || d == NPG_BFLOAT16; }
static bool is_unsigned(npg_dtype d) {
    return d == NPG_UINT8 || d == NPG_UINT16 || d == NPG_UINT32 || d == NPG_UINT64;
}
static bool is_signed_int(npg_dtype d) {
    return d == NPG_INT8 || d == NPG_INT16 || d == NPG_INT32 || d == NPG_INT64;
}
bool npg_is_integer(npg_dtype d) { return is_unsigned(d) || is_signed_int(d); }
npg_dtype npg__default_float(void) { return NPG_FLOAT32; }
npg_dtype npg__float_dtype(npg_dtype dt) { return npg_is_floating(dt) ? dt : npg__default_float(); }
npg_dtype npg__int_sum_dtype(npg_dtype dt) { return dt == NPG_UINT64 ? NPG_UINT64 : NPG_INT64; }

static npg_dtype signed_of_bits(size_t bytes) {
    return bytes == 1 ? NPG_INT8 : bytes == 2 ? NPG_INT16 : bytes == 4 ? NPG_INT32 : NPG_INT64;
}

/* Promotion (the array API's lattice): bool below everything; within the
 * signed and within the unsigned integers the wider; a signed with an
 * unsigned integer the smallest signed type holding both (uint8 + int8 ->
 * int16, uint32 + int64 -> int64), except that uint64 with a signed integer
 * gives float64 (NumPy's choice; the standard leaves it open); an integer
 * with a float gives that float (PyTorch's choice: int64 + float32 ->
 * float32); among floats the wider, and the two half types meet at float32
 * (PyTorch's choice too). */
static int float_rank(npg_dtype d) {
    return d == NPG_FLOAT64 ? 3 : d == NPG_FLOAT32 ? 2 : 1; /* the half types share 1 */
}

npg_dtype npg_result_type(npg_dtype a, npg_dtype b) {
    if (!npg__dtype_valid(a) || !npg__dtype_valid(b)) return NPG_DTYPE_DEFAULT;
    if (a == b || b == NPG_BOOL) return a;
    if (a == NPG_BOOL) return b;
    const bool fa = npg_is_floating(a), fb = npg_is_floating(b);
    if (fa && fb) {
        int ra = float_rank(a), rb = float_rank(b);
        if (ra == rb) return NPG_FLOAT32; /* float16 with bfloat16 */
        return ra > rb ? a : b;
    }
    if (fa) return a;
    if (fb) return b;
    const size_t sa = g_sizes[a], sb = g_sizes[b];
    const bool ua = is_unsigned(a), ub = is_unsigned(b);
    if (ua == ub) return sa >= sb ? a : b;
    const size_t ss = ua ? sb : sa, us = ua ? sa : sb; /* the signed one's size, the unsigned one's */
    if (ss > us) return ua ? b : a;
    if (us == 8) return NPG_FLOAT64;
    return signed_of_bits(2 * us);
}

bool npg__elementwise_dtypes(npg_op op, const char *fn, npg_dtype in, npg_dtype *compute, npg_dtype *out) {
    npg_rule rule = npg__op_info[op].rule;
    /* the half types compute in float32: float32's next value rounds back */
    if (op == NPG_OP_NEXTAFTER && npg__is_half(in)) goto bad;
    bool fl = npg_is_floating(in), integer = npg_is_integer(in), b = in == NPG_BOOL;
    switch (rule) {
    case NPG_RULE_ARITH:
        if (b) goto bad;
        *compute = *out = in;
        if (op == NPG_OP_LEAKY_RELU && !fl) *compute = *out = npg__default_float();
        return true;
    case NPG_RULE_ANY:
        *compute = *out = in;
        return true;
    case NPG_RULE_FLOAT:
        *compute = *out = fl ? in : npg__default_float();
        return true;
    case NPG_RULE_CMP:
        *compute = in;
        *out = NPG_BOOL;
        return true;
    case NPG_RULE_LOGICAL:
    case NPG_RULE_TEST:
        *compute = in;
        *out = NPG_BOOL;
        return true;
    case NPG_RULE_BITWISE:
        if (fl) goto bad;
        *compute = *out = in;
        return true;
    case NPG_RULE_SHIFT:
        if (!integer) goto bad;
        *compute = *out = in;
        return true;
    case NPG_RULE_ROUND:
        if (b) goto bad;
        *compute = *out = in;
        return true;
    case NPG_RULE_NONE:
        break;
    }
bad:
    npg__set_error(NPG_ERR_DTYPE, "%s: dtype %s is not supported", fn, npg_dtype_name(in));
    return false;
}
