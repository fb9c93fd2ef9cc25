/*
 * test_elementwise.cpp (CUDA emulator, tests/cuemu) — src/cuda/unary.cu,
 * binary.cu and elementwise.cu (copy with casts, where, fill) through
 * elementwise.cuh's flat (vectorised) and strided kernels, run on the CPU by
 * the emulator against the CPU backend: every op and dtype (13, the 16-bit
 * floats included), the signed integer dtypes that run their unsigned
 * dtype's kernels (sign_free), weak (Python) scalars on either side,
 * broadcast, reversed and offset layouts (a misaligned vector access
 * aborts). Bit for bit; NaN payloads and signs may differ. Deterministic seeds.
 */
#include "cuemu_test.h"

using namespace cuemu;

namespace {
const npg_op UOPS[] = {NPG_OP_NEGATIVE, NPG_OP_POSITIVE, NPG_OP_ABS,      NPG_OP_SIGN,     NPG_OP_SQUARE,
                       NPG_OP_FLOOR,    NPG_OP_CEIL,     NPG_OP_TRUNC,    NPG_OP_ROUND,    NPG_OP_ISNAN,
                       NPG_OP_ISINF,    NPG_OP_ISFINITE, NPG_OP_SIGNBIT,  NPG_OP_LOGICAL_NOT, NPG_OP_BITWISE_INVERT,
                       NPG_OP_CLIP,     NPG_OP_RELU,     NPG_OP_SQRT,     NPG_OP_RECIPROCAL};
const npg_op BOPS[] = {NPG_OP_ADD,         NPG_OP_SUBTRACT,      NPG_OP_MULTIPLY,      NPG_OP_DIVIDE,
                       NPG_OP_FLOOR_DIVIDE, NPG_OP_REMAINDER,    NPG_OP_POW,           NPG_OP_COPYSIGN,
                       NPG_OP_MAXIMUM,     NPG_OP_MINIMUM,       NPG_OP_EQUAL,         NPG_OP_NOT_EQUAL,
                       NPG_OP_LESS,        NPG_OP_LESS_EQUAL,    NPG_OP_GREATER,       NPG_OP_GREATER_EQUAL,
                       NPG_OP_LOGICAL_AND, NPG_OP_LOGICAL_OR,    NPG_OP_LOGICAL_XOR,   NPG_OP_BITWISE_AND,
                       NPG_OP_BITWISE_OR,  NPG_OP_BITWISE_XOR,   NPG_OP_BITWISE_LEFT_SHIFT, NPG_OP_BITWISE_RIGHT_SHIFT};
const int NU = sizeof UOPS / sizeof *UOPS, NB = sizeof BOPS / sizeof *BOPS;

bool unary_bool_out(npg_op op) {
    return op == NPG_OP_ISNAN || op == NPG_OP_ISINF || op == NPG_OP_ISFINITE || op == NPG_OP_SIGNBIT ||
           op == NPG_OP_LOGICAL_NOT;
}
bool binary_bool_out(npg_op op) { return op >= NPG_OP_EQUAL && op <= NPG_OP_LOGICAL_XOR; }

/* an input: random bytes or small values, random layout, or (scalar_ok) a weak scalar */
void make_in(Rng &r, Arr &A, npg_dtype dt, int nd, const int64_t *shape, bool scalar) {
    memset(&A.d, 0, sizeof A.d);
    A.d.dtype = dt;
    A.d.ndim = nd;
    for (int i = 0; i < nd; i++) A.d.shape[i] = shape[i];
    if (scalar) {
        A.d.is_scalar = true;
        int64_t v = (int64_t)r() >> (r() % 64);
        if (r() % 2) v = r.in(-5, 300);
        A.d.iscalar = v;
        A.d.scalar = r() % 3 ? (double)v : r.normal(100);
        if (r.one_in(10)) A.d.scalar = NAN;
        return;
    }
    size_t es = esize(dt);
    int64_t st[NPG_MAX_DIMS], s = 1;
    int perm[NPG_MAX_DIMS];
    for (int i = 0; i < nd; i++) perm[i] = i;
    if (r.one_in(3)) std::shuffle(perm, perm + nd, r.g);
    for (int i = nd - 1; i >= 0; i--) {
        int d = perm[i];
        bool bc = r.one_in(6);
        st[d] = bc ? 0 : s;
        if (!bc) s *= shape[d];
    }
    int64_t off = r() % 2 ? 0 : r.in(1, 3);
    for (int d = 0; d < nd; d++)
        if (st[d] && r.one_in(6)) {
            off += (shape[d] - 1) * st[d];
            st[d] = -st[d];
        }
    A.store.assign((size_t)(s + 8) * es + 64, 0);
    char *base = aligned_base(A);
    int mode = dt == NPG_BOOL ? 0 : (r() % 2 ? 1 : 3);
    for (int64_t k = 0; k < s + 4; k++) {
        if (mode == 3) { /* random bits (NaNs, infinities, subnormals, extremes) */
            for (size_t b = 0; b < es; b++) base[k * es + b] = (char)r();
        } else {
            rand_elem(r, base, dt, k, 1);
            if (mode == 1 && !is_f(dt) && !is_half(dt) && dt != NPG_BOOL) { /* -9..9 */
                int64_t v = r.in(-9, 9);
                memcpy(base + k * es, &v, es);
            }
        }
    }
    A.d.data = base + off * es;
    for (int i = 0; i < nd; i++) A.d.strides[i] = st[i];
}

/* an output: contiguous, or (strided) one axis reversed or offset by one element */
void make_out2(Rng &r, Arr &A, npg_dtype dt, int nd, const int64_t *shape, bool strided) {
    make_out(A, dt, nd, shape); /* 64 bytes of slack: room for the offset */
    if (!strided) return;
    if (nd && r() % 2) {
        int d = (int)r.in(0, nd - 1);
        A.d.data = (char *)A.d.data + (shape[d] - 1) * A.d.strides[d] * esize(dt);
        A.d.strides[d] = -A.d.strides[d];
    } else if (r() % 2) {
        A.d.data = (char *)A.d.data + esize(dt);
    }
}

void rand_shape(Rng &r, int *nd, int64_t *shape) {
    *nd = (int)r.in(0, 3);
    for (int i = 0; i < *nd; i++) shape[i] = r() % 4 ? r.in(1, 9) : r.in(1, 70);
}

void unary_case(Stats &t, Rng &r, npg_op op, npg_dtype dt, int nd, const int64_t *shape) {
    Arr in, oc, og;
    make_in(r, in, dt, nd, shape, false);
    make_out2(r, oc, unary_bool_out(op) ? NPG_BOOL : dt, nd, shape, false);
    twin(og, oc);
    npg_kparams p;
    memset(&p, 0, sizeof p);
    p.i[0] = r.in(-3, 2);
    p.f[0] = r() % 4 ? (double)r.in(-50, 50) : NAN;
    p.f[1] = r() % 4 ? (double)r.in(-50, 300) : NAN;
    npg_status s1 = npg__cpu_unary(0, op, &oc.d, &in.d, &p), s2 = npg_emu::npg_cu_unary(0, op, &og.d, &in.d, &p);
    char what[96];
    snprintf(what, sizeof what, "unary %s %s ", npg__op_name(op), npg_dtype_name(dt));
    t.check(oc, og, s1, s2, what + shape_str(in.d));
}

/* sc: 0 arrays, 1 a weak scalar on the left, 2 on the right */
void binary_case(Stats &t, Rng &r, npg_op op, npg_dtype dt, int nd, const int64_t *shape, int sc) {
    Arr a, b, oc, og;
    make_in(r, a, dt, nd, shape, sc == 1);
    make_in(r, b, dt, nd, shape, sc == 2);
    make_out2(r, oc, binary_bool_out(op) ? NPG_BOOL : dt, nd, shape, false);
    twin(og, oc);
    npg_status s1 = npg__cpu_binary(0, op, &oc.d, &a.d, &b.d), s2 = npg_emu::npg_cu_binary(0, op, &og.d, &a.d, &b.d);
    char what[96];
    snprintf(what, sizeof what, "binary %s %s scalar=%d ", npg__op_name(op), npg_dtype_name(dt), sc);
    t.check(oc, og, s1, s2, what + shape_str(sc == 1 ? b.d : a.d));
}

void copy_case(Stats &t, Rng &r, npg_dtype odt, npg_dtype dt, int nd, const int64_t *shape, bool scalar) {
    Arr in, oc, og;
    make_in(r, in, dt, nd, shape, scalar);
    make_out2(r, oc, odt, nd, shape, true);
    twin(og, oc);
    npg_status s1 = npg__cpu_copy(0, &oc.d, &in.d), s2 = npg_emu::npg_cu_copy(0, &og.d, &in.d);
    char what[96];
    snprintf(what, sizeof what, "copy %s <- %s scalar=%d ", npg_dtype_name(odt), npg_dtype_name(dt), scalar);
    t.check(oc, og, s1, s2, what + shape_str(oc.d));
}

void where_case(Stats &t, Rng &r, npg_dtype dt, int nd, const int64_t *shape) {
    Arr c, a, b, oc, og;
    make_in(r, c, NPG_BOOL, nd, shape, false);
    make_in(r, a, dt, nd, shape, r.one_in(5));
    make_in(r, b, dt, nd, shape, r.one_in(5));
    make_out2(r, oc, dt, nd, shape, true);
    twin(og, oc);
    npg_status s1 = npg__cpu_where(0, &oc.d, &c.d, &a.d, &b.d), s2 = npg_emu::npg_cu_where(0, &og.d, &c.d, &a.d, &b.d);
    t.check(oc, og, s1, s2, std::string("where ") + npg_dtype_name(dt) + " " + shape_str(oc.d));
}

void fill_case(Stats &t, Rng &r, npg_dtype dt, int nd, const int64_t *shape) {
    Arr oc, og;
    make_out2(r, oc, dt, nd, shape, true);
    twin(og, oc);
    int64_t iv = (int64_t)r() >> (r() % 64);
    double fv = r() % 2 ? (double)iv : r.normal(1e5);
    npg_status s1 = npg__cpu_fill(0, &oc.d, fv, iv), s2 = npg_emu::npg_cu_fill(0, &og.d, fv, iv);
    t.check(oc, og, s1, s2, std::string("fill ") + npg_dtype_name(dt) + " " + shape_str(oc.d));
}
} // namespace

/* every unary op x dtype, a few shapes each */
Test(cuemu_elementwise, unary_all, .timeout = 300) {
    Stats t("elementwise.unary_all");
    Rng r(11);
    npg_emu_sms = 1;
    for (int rep = 0; rep < 12; rep++)
        for (int o = 0; o < NU; o++)
            for (int di = 0; di < N_ALL; di++) {
                int nd;
                int64_t shape[NPG_MAX_DIMS];
                rand_shape(r, &nd, shape);
                unary_case(t, r, UOPS[o], ALL_DTYPES[di], nd, shape);
            }
    t.finish(2400);
}

/* every binary op x dtype x {arrays, weak scalar left, weak scalar right} */
Test(cuemu_elementwise, binary_all, .timeout = 300) {
    Stats t("elementwise.binary_all");
    Rng r(12);
    npg_emu_sms = 1;
    for (int rep = 0; rep < 6; rep++)
        for (int sc = 0; sc < 3; sc++)
            for (int o = 0; o < NB; o++)
                for (int di = 0; di < N_ALL; di++) {
                    int nd;
                    int64_t shape[NPG_MAX_DIMS];
                    rand_shape(r, &nd, shape);
                    binary_case(t, r, BOPS[o], ALL_DTYPES[di], nd, shape, sc);
                }
    t.finish(4500);
}

/* copy between every pair of dtypes (arrays and weak scalars), where and fill for every dtype */
Test(cuemu_elementwise, copy_where_fill_all, .timeout = 300) {
    Stats t("elementwise.copy_where_fill");
    Rng r(13);
    npg_emu_sms = 1;
    int nd;
    int64_t shape[NPG_MAX_DIMS];
    for (int rep = 0; rep < 6; rep++)
        for (int i = 0; i < N_ALL; i++) {
            for (int j = 0; j < N_ALL; j++) {
                rand_shape(r, &nd, shape);
                copy_case(t, r, ALL_DTYPES[i], ALL_DTYPES[j], nd, shape, rep % 3 == 2);
            }
            rand_shape(r, &nd, shape);
            where_case(t, r, ALL_DTYPES[i], nd, shape);
            rand_shape(r, &nd, shape);
            fill_case(t, r, ALL_DTYPES[i], nd, shape);
        }
    t.finish(1100);
}

/* random mix of all of the above */
Test(cuemu_elementwise, random, .timeout = 300) {
    Stats t("elementwise.random");
    Rng r(777);
    for (int it = 0; it < 20000; it++) {
        npg_emu_sms = (int)r.in(1, 2);
        int nd;
        int64_t shape[NPG_MAX_DIMS];
        rand_shape(r, &nd, shape);
        npg_dtype dt = ALL_DTYPES[r() % N_ALL];
        switch (r() % 5) {
        case 0: unary_case(t, r, UOPS[r() % NU], dt, nd, shape); break;
        case 1: {
            npg_op op = BOPS[r() % NB];
            int sc = r.one_in(5) ? 1 : r.one_in(4) ? 2 : 0;
            binary_case(t, r, op, dt, nd, shape, sc);
            break;
        }
        case 2: copy_case(t, r, ALL_DTYPES[r() % N_ALL], dt, nd, shape, r.one_in(5)); break;
        case 3: where_case(t, r, dt, nd, shape); break;
        default: fill_case(t, r, dt, nd, shape); break;
        }
    }
    t.finish(18000);
}
