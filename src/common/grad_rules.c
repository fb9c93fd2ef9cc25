/*
 * grad_rules.c — one backward rule per differentiable op, written with
 * npg's own public ops so they run on any device and can themselves be
 * differentiated (create_graph). Each rule receives the gradient of the
 * node's output and writes one gradient per input (NULL for none); the
 * engine checks shapes and sums what meets. Arrays a rule creates are owned
 * by the engine's scope; a rule may also pass `g` itself through.
 *
 * The save masks below say which arrays each op keeps for its rule.
 */
#include "internal.h"

#include <math.h>

#define IN0 1u
#define IN1 2u
#define IN2 4u
#define OUT 8u

unsigned npg__save_mask(npg_op op, bool has_scalar) {
    switch (op) {
    case NPG_OP_ABS: case NPG_OP_SQUARE: case NPG_OP_LOG: case NPG_OP_LOG1P: case NPG_OP_LOG2:
    case NPG_OP_LOG10: case NPG_OP_SIN: case NPG_OP_COS: case NPG_OP_ASIN: case NPG_OP_ACOS:
    case NPG_OP_ATAN: case NPG_OP_SINH: case NPG_OP_COSH: case NPG_OP_ASINH: case NPG_OP_ACOSH:
    case NPG_OP_ATANH: case NPG_OP_ERF: case NPG_OP_CLIP: case NPG_OP_RELU: case NPG_OP_LEAKY_RELU:
    case NPG_OP_SILU: case NPG_OP_GELU: case NPG_OP_GELU_TANH: case NPG_OP_SOFTPLUS:
        return IN0;
    case NPG_OP_SQRT: case NPG_OP_EXP: case NPG_OP_EXPM1: case NPG_OP_TAN: case NPG_OP_TANH:
    case NPG_OP_RECIPROCAL: case NPG_OP_SIGMOID: case NPG_OP_SOFTMAX: case NPG_OP_LOG_SOFTMAX:
        return OUT;
    case NPG_OP_MULTIPLY: return has_scalar ? 0 : IN0 | IN1;
    case NPG_OP_DIVIDE: return has_scalar ? IN0 | OUT : IN1 | OUT;
    case NPG_OP_REMAINDER: return has_scalar ? IN0 : IN0 | IN1;
    case NPG_OP_POW: return has_scalar ? IN0 | OUT : IN0 | IN1 | OUT;
    case NPG_OP_ATAN2: return has_scalar ? IN0 : IN0 | IN1;
    case NPG_OP_COPYSIGN: return IN0 | OUT;
    case NPG_OP_HYPOT: return has_scalar ? IN0 | OUT : IN0 | IN1 | OUT;
    case NPG_OP_LOGADDEXP: return has_scalar ? IN0 | OUT : IN0 | IN1 | OUT;
    case NPG_OP_MAXIMUM: case NPG_OP_MINIMUM: return has_scalar ? IN0 : IN0 | IN1;
    case NPG_OP_WHERE: return IN0;
    case NPG_OP_PROD: case NPG_OP_MAX: case NPG_OP_MIN: case NPG_OP_CUMPROD: return IN0 | OUT;
    case NPG_OP_MATMUL: return IN0 | IN1;
    default: return 0;
    }
}

#define UNPACK(var, slot)                        \
    npg_array *var = npg__unpack(n, slot);       \
    if (!var) return npg_last_status();

#define NEED(i) npg__needs_input_grad(n, i)
#define META(i) (&n->in_meta[i])
#define OK_IF(cond) return (cond) ? NPG_OK : (npg_last_status() ? npg_last_status() : NPG_ERR_INTERNAL)

static npg_array *sum_to_meta(npg_array *g, const npg_meta *m) { return npg__sum_to(g, m->ndim, m->shape); }

/* 0/1 float mask of a bool array, in dtype dt */
static npg_array *fmask(npg_array *b, npg_dtype dt) { return npg_astype(b, dt); }

/* ------------------------------------------------------------------------
 * Unary
 * ------------------------------------------------------------------------ */

static npg_status bw_negative(npg_node *n, npg_array *g, npg_array **gin) {
    gin[0] = npg_negative(g);
    OK_IF(gin[0]);
}
static npg_status bw_identity(npg_node *n, npg_array *g, npg_array **gin) {
    gin[0] = g;
    return NPG_OK;
}
static npg_status bw_zero(npg_node *n, npg_array *g, npg_array **gin) {
    gin[0] = npg_zeros_like(g, NULL);
    OK_IF(gin[0]);
}
static npg_status bw_abs(npg_node *n, npg_array *g, npg_array **gin) {
    UNPACK(x, 0);
    gin[0] = npg_multiply(g, npg_sign(x));
    OK_IF(gin[0]);
}
static npg_status bw_sqrt(npg_node *n, npg_array *g, npg_array **gin) {
    UNPACK(y, 3);
    gin[0] = npg_divide(g, npg_multiply_scalar(y, 2.0));
    OK_IF(gin[0]);
}
static npg_status bw_square(npg_node *n, npg_array *g, npg_array **gin) {
    UNPACK(x, 0);
    gin[0] = npg_multiply(g, npg_multiply_scalar(x, 2.0));
    OK_IF(gin[0]);
}
static npg_status bw_exp(npg_node *n, npg_array *g, npg_array **gin) {
    UNPACK(y, 3);
    gin[0] = npg_multiply(g, y);
    OK_IF(gin[0]);
}
static npg_status bw_expm1(npg_node *n, npg_array *g, npg_array **gin) {
    UNPACK(y, 3);
    gin[0] = npg_multiply(g, npg_add_scalar(y, 1.0));
    OK_IF(gin[0]);
}
static npg_status bw_log(npg_node *n, npg_array *g, npg_array **gin) {
    UNPACK(x, 0);
    gin[0] = npg_divide(g, x);
    OK_IF(gin[0]);
}
static npg_status bw_log1p(npg_node *n, npg_array *g, npg_array **gin) {
    UNPACK(x, 0);
    gin[0] = npg_divide(g, npg_add_scalar(x, 1.0));
    OK_IF(gin[0]);
}
static npg_status bw_log2(npg_node *n, npg_array *g, npg_array **gin) {
    UNPACK(x, 0);
    gin[0] = npg_divide(g, npg_multiply_scalar(x, NPG_LN2));
    OK_IF(gin[0]);
}
static npg_status bw_log10(npg_node *n, npg_array *g, npg_array **gin) {
    UNPACK(x, 0);
    gin[0] = npg_divide(g, npg_multiply_scalar(x, NPG_LN10));
    OK_IF(gin[0]);
}
static npg_status bw_sin(npg_node *n, npg_array *g, npg_array **gin) {
    UNPACK(x, 0);
    gin[0] = npg_multiply(g, npg_cos(x));
    OK_IF(gin[0]);
}
static npg_status bw_cos(npg_node *n, npg_array *g, npg_array **gin) {
    UNPACK(x, 0);
    gin[0] = npg_negative(npg_multiply(g, npg_sin(x)));
    OK_IF(gin[0]);
}
static npg_status bw_tan(npg_node *n, npg_array *g, npg_array **gin) {
    UNPACK(y, 3);
    gin[0] = npg_multiply(g, npg_add_scalar(npg_square(y), 1.0));
    OK_IF(gin[0]);
}
/* 1 / sqrt(1 - x^2) */
static npg_array *inv_sqrt_1mx2(npg_array *x) { return npg_reciprocal(npg_sqrt(npg_scalar_subtract(1.0, npg_square(x)))); }
static npg_status bw_asin(npg_node *n, npg_array *g, npg_array **gin) {
    UNPACK(x, 0);
    gin[0] = npg_multiply(g, inv_sqrt_1mx2(x));
    OK_IF(gin[0]);
}
static npg_status bw_acos(npg_node *n, npg_array *g, npg_array **gin) {
    UNPACK(x, 0);
    gin[0] = npg_negative(npg_multiply(g, inv_sqrt_1mx2(x)));
    OK_IF(gin[0]);
}
static npg_status bw_atan(npg_node *n, npg_array *g, npg_array **gin) {
    UNPACK(x, 0);
    gin[0] = npg_divide(g, npg_add_scalar(npg_square(x), 1.0));
    OK_IF(gin[0]);
}
static npg_status bw_sinh(npg_node *n, npg_array *g, npg_array **gin) {
    UNPACK(x, 0);
    gin[0] = npg_multiply(g, npg_cosh(x));
    OK_IF(gin[0]);
}
static npg_status bw_cosh(npg_node *n, npg_array *g, npg_array **gin) {
    UNPACK(x, 0);
    gin[0] = npg_multiply(g, npg_sinh(x));
    OK_IF(gin[0]);
}
static npg_status bw_tanh(npg_node *n, npg_array *g, npg_array **gin) {
    UNPACK(y, 3);
    gin[0] = npg_multiply(g, npg_scalar_subtract(1.0, npg_square(y)));
    OK_IF(gin[0]);
}
static npg_status bw_asinh(npg_node *n, npg_array *g, npg_array **gin) {
    UNPACK(x, 0);
    gin[0] = npg_divide(g, npg_sqrt(npg_add_scalar(npg_square(x), 1.0)));
    OK_IF(gin[0]);
}
static npg_status bw_acosh(npg_node *n, npg_array *g, npg_array **gin) {
    UNPACK(x, 0);
    gin[0] = npg_divide(g, npg_sqrt(npg_subtract_scalar(npg_square(x), 1.0)));
    OK_IF(gin[0]);
}
static npg_status bw_atanh(npg_node *n, npg_array *g, npg_array **gin) {
    UNPACK(x, 0);
    gin[0] = npg_divide(g, npg_scalar_subtract(1.0, npg_square(x)));
    OK_IF(gin[0]);
}
static npg_status bw_erf(npg_node *n, npg_array *g, npg_array **gin) {
    UNPACK(x, 0);
    /* 2/sqrt(pi) * exp(-x^2) */
    gin[0] = npg_multiply(g, npg_multiply_scalar(npg_exp(npg_negative(npg_square(x))), 1.12837916709551257390));
    OK_IF(gin[0]);
}
static npg_status bw_reciprocal(npg_node *n, npg_array *g, npg_array **gin) {
    UNPACK(y, 3);
    gin[0] = npg_negative(npg_multiply(g, npg_square(y)));
    OK_IF(gin[0]);
}
static npg_status bw_clip(npg_node *n, npg_array *g, npg_array **gin) {
    UNPACK(x, 0);
    double lo = n->p.f[0], hi = n->p.f[1];
    npg_array *m = NULL;
    if (lo == lo) m = npg_greater_equal_scalar(x, lo);
    if (hi == hi) {
        npg_array *mh = npg_less_equal_scalar(x, hi);
        m = m ? npg_logical_and(m, mh) : mh;
    }
    gin[0] = m ? npg_where_scalar(m, g, 0.0) : g;
    OK_IF(gin[0]);
}
static npg_status bw_relu(npg_node *n, npg_array *g, npg_array **gin) {
    UNPACK(x, 0);
    gin[0] = npg_where_scalar(npg_greater_scalar(x, 0.0), g, 0.0);
    OK_IF(gin[0]);
}
static npg_status bw_leaky_relu(npg_node *n, npg_array *g, npg_array **gin) {
    UNPACK(x, 0);
    gin[0] = npg_where(npg_greater_scalar(x, 0.0), g, npg_multiply_scalar(g, n->p.f[0]));
    OK_IF(gin[0]);
}
static npg_status bw_sigmoid(npg_node *n, npg_array *g, npg_array **gin) {
    UNPACK(y, 3);
    gin[0] = npg_multiply(g, npg_multiply(y, npg_scalar_subtract(1.0, y)));
    OK_IF(gin[0]);
}
static npg_status bw_silu(npg_node *n, npg_array *g, npg_array **gin) {
    UNPACK(x, 0);
    npg_array *s = npg_sigmoid(x);
    /* s * (1 + x * (1 - s)) */
    gin[0] = npg_multiply(g, npg_multiply(s, npg_add_scalar(npg_multiply(x, npg_scalar_subtract(1.0, s)), 1.0)));
    OK_IF(gin[0]);
}
static npg_status bw_gelu(npg_node *n, npg_array *g, npg_array **gin) {
    UNPACK(x, 0);
    /* Phi(x) + x * phi(x) */
    npg_array *cdf = npg_multiply_scalar(npg_add_scalar(npg_erf(npg_multiply_scalar(x, NPG_SQRT1_2)), 1.0), 0.5);
    npg_array *pdf = npg_multiply_scalar(npg_exp(npg_multiply_scalar(npg_square(x), -0.5)), 0.39894228040143267794);
    gin[0] = npg_multiply(g, npg_add(cdf, npg_multiply(x, pdf)));
    OK_IF(gin[0]);
}
static npg_status bw_gelu_tanh(npg_node *n, npg_array *g, npg_array **gin) {
    UNPACK(x, 0);
    const double c = 0.79788456080286535588, k = 0.044715;
    npg_array *x2 = npg_square(x);
    npg_array *u = npg_multiply_scalar(npg_multiply(x, npg_add_scalar(npg_multiply_scalar(x2, k), 1.0)), c);
    npg_array *t = npg_tanh(u);
    npg_array *du = npg_multiply_scalar(npg_add_scalar(npg_multiply_scalar(x2, 3.0 * k), 1.0), c);
    /* 0.5 (1 + t) + 0.5 x (1 - t^2) du */
    npg_array *d = npg_add(npg_multiply_scalar(npg_add_scalar(t, 1.0), 0.5),
                           npg_multiply(npg_multiply_scalar(x, 0.5), npg_multiply(npg_scalar_subtract(1.0, npg_square(t)), du)));
    gin[0] = npg_multiply(g, d);
    OK_IF(gin[0]);
}
static npg_status bw_softplus(npg_node *n, npg_array *g, npg_array **gin) {
    UNPACK(x, 0);
    gin[0] = npg_multiply(g, npg_sigmoid(x));
    OK_IF(gin[0]);
}

/* ------------------------------------------------------------------------
 * Binary (array-array and weak-scalar forms)
 * ------------------------------------------------------------------------ */

static npg_status bw_add(npg_node *n, npg_array *g, npg_array **gin) {
    gin[0] = sum_to_meta(g, META(0));
    if (!n->has_scalar) gin[1] = sum_to_meta(g, META(1));
    OK_IF(gin[0] && (n->has_scalar || gin[1]));
}
static npg_status bw_subtract(npg_node *n, npg_array *g, npg_array **gin) {
    if (n->has_scalar) {
        gin[0] = n->scalar_first ? npg_negative(g) : g;
        OK_IF(gin[0]);
    }
    gin[0] = NEED(0) ? sum_to_meta(g, META(0)) : NULL;
    gin[1] = NEED(1) ? sum_to_meta(npg_negative(g), META(1)) : NULL;
    OK_IF((!NEED(0) || gin[0]) && (!NEED(1) || gin[1]));
}
static npg_status bw_multiply(npg_node *n, npg_array *g, npg_array **gin) {
    if (n->has_scalar) {
        gin[0] = npg_multiply_scalar(g, n->scalar);
        OK_IF(gin[0]);
    }
    if (NEED(0)) {
        UNPACK(b, 1);
        gin[0] = sum_to_meta(npg_multiply(g, b), META(0));
        if (!gin[0]) return npg_last_status();
    }
    if (NEED(1)) {
        UNPACK(a, 0);
        gin[1] = sum_to_meta(npg_multiply(g, a), META(1));
        if (!gin[1]) return npg_last_status();
    }
    return NPG_OK;
}
static npg_status bw_divide(npg_node *n, npg_array *g, npg_array **gin) {
    if (n->has_scalar) {
        if (!n->scalar_first) {
            gin[0] = npg_divide_scalar(g, n->scalar);
        } else { /* s / x: -g * out / x */
            UNPACK(x, 0);
            UNPACK(y, 3);
            gin[0] = npg_negative(npg_divide(npg_multiply(g, y), x));
        }
        OK_IF(gin[0]);
    }
    UNPACK(b, 1);
    if (NEED(0)) {
        gin[0] = sum_to_meta(npg_divide(g, b), META(0));
        if (!gin[0]) return npg_last_status();
    }
    if (NEED(1)) {
        UNPACK(y, 3);
        gin[1] = sum_to_meta(npg_negative(npg_divide(npg_multiply(g, y), b)), META(1));
        if (!gin[1]) return npg_last_status();
    }
    return NPG_OK;
}
static npg_status bw_remainder(npg_node *n, npg_array *g, npg_array **gin) {
    if (n->has_scalar) {
        if (!n->scalar_first) {
            gin[0] = g;
        } else { /* s - floor(s/x) x: -g floor(s/x) */
            UNPACK(x, 0);
            gin[0] = npg_negative(npg_multiply(g, npg_floor(npg_scalar_divide(n->scalar, x))));
        }
        OK_IF(gin[0]);
    }
    if (NEED(0)) gin[0] = sum_to_meta(g, META(0));
    if (NEED(1)) {
        UNPACK(a, 0);
        UNPACK(b, 1);
        gin[1] = sum_to_meta(npg_negative(npg_multiply(g, npg_floor(npg_divide(a, b)))), META(1));
    }
    OK_IF((!NEED(0) || gin[0]) && (!NEED(1) || gin[1]));
}
/* d(a^b)/da = b a^(b-1), 0 where b == 0 */
static npg_array *dpow_base(npg_array *a, npg_array *b, double bs, bool scalar) {
    if (scalar) {
        if (bs == 0) return npg_zeros_like(a, NULL);
        return npg_multiply_scalar(npg_pow_scalar(a, bs - 1.0), bs);
    }
    npg_array *d = npg_multiply(b, npg_pow(a, npg_subtract_scalar(b, 1.0)));
    return npg_scalar_where(npg_equal_scalar(b, 0.0), 0.0, d);
}
static npg_status bw_pow(npg_node *n, npg_array *g, npg_array **gin) {
    if (n->has_scalar) {
        UNPACK(x, 0);
        if (!n->scalar_first) { /* x ^ s */
            gin[0] = npg_multiply(g, dpow_base(x, NULL, n->scalar, true));
        } else { /* s ^ x: out * ln(s), 0 where s == 0 and x >= 0 */
            UNPACK(y, 3);
            if (n->scalar == 0)
                gin[0] = npg_where(npg_greater_equal_scalar(x, 0.0), npg_zeros_like(g, NULL),
                                   npg_multiply_scalar(npg_multiply(g, y), -INFINITY));
            else
                gin[0] = npg_multiply_scalar(npg_multiply(g, y), log(n->scalar));
        }
        OK_IF(gin[0]);
    }
    UNPACK(a, 0);
    UNPACK(b, 1);
    if (NEED(0)) {
        gin[0] = sum_to_meta(npg_multiply(g, dpow_base(a, b, 0, false)), META(0));
        if (!gin[0]) return npg_last_status();
    }
    if (NEED(1)) {
        UNPACK(y, 3);
        npg_array *d = npg_multiply(npg_multiply(g, y), npg_log(a));
        npg_array *mask = npg_logical_and(npg_equal_scalar(a, 0.0), npg_greater_equal_scalar(b, 0.0));
        gin[1] = sum_to_meta(npg_scalar_where(mask, 0.0, d), META(1));
        if (!gin[1]) return npg_last_status();
    }
    return NPG_OK;
}
static npg_status bw_atan2(npg_node *n, npg_array *g, npg_array **gin) {
    if (n->has_scalar) {
        UNPACK(x, 0);
        double s = n->scalar;
        npg_array *den = npg_add_scalar(npg_square(x), s * s);
        /* atan2(x, s): s / den;  atan2(s, x): -s / den */
        gin[0] = npg_divide(npg_multiply_scalar(g, n->scalar_first ? -s : s), den);
        OK_IF(gin[0]);
    }
    UNPACK(a, 0);
    UNPACK(b, 1);
    npg_array *den = npg_add(npg_square(a), npg_square(b));
    if (NEED(0)) gin[0] = sum_to_meta(npg_divide(npg_multiply(g, b), den), META(0));
    if (NEED(1)) gin[1] = sum_to_meta(npg_negative(npg_divide(npg_multiply(g, a), den)), META(1));
    OK_IF((!NEED(0) || gin[0]) && (!NEED(1) || gin[1]));
}
/* copysign(a, b): d/da = +-1 (-1 where the sign changed), 0 at a = 0 (as
 * PyTorch); b gets no gradient. */
static npg_status bw_copysign(npg_node *n, npg_array *g, npg_array **gin) {
    if (n->has_scalar && n->scalar_first) return NPG_OK; /* copysign(s, b): nothing flows to b */
    if (!NEED(0)) return NPG_OK;
    UNPACK(a, 0);
    UNPACK(y, 3);
    npg_array *flip = npg_logical_xor(npg_signbit(a), npg_signbit(y));
    npg_array *d = npg_where(flip, npg_negative(g), g);
    gin[0] = sum_to_meta(npg_scalar_where(npg_equal_scalar(a, 0.0), 0.0, d), META(0));
    OK_IF(gin[0]);
}
/* hypot(a, b): a / y and b / y, 0 where y = 0. */
static npg_status bw_hypot(npg_node *n, npg_array *g, npg_array **gin) {
    UNPACK(y, 3);
    npg_array *zero = npg_equal_scalar(y, 0.0);
    const int nin = n->has_scalar ? 1 : 2;
    for (int i = 0; i < nin; i++) {
        if (!NEED(i)) continue;
        UNPACK(v, i);
        gin[i] = sum_to_meta(npg_scalar_where(zero, 0.0, npg_divide(npg_multiply(g, v), y)), META(i));
        if (!gin[i]) return npg_last_status();
    }
    return NPG_OK;
}
static npg_status bw_logaddexp(npg_node *n, npg_array *g, npg_array **gin) {
    UNPACK(a, 0);
    UNPACK(y, 3);
    if (n->has_scalar) {
        gin[0] = npg_multiply(g, npg_exp(npg_subtract(a, y)));
        OK_IF(gin[0]);
    }
    if (NEED(0)) gin[0] = sum_to_meta(npg_multiply(g, npg_exp(npg_subtract(a, y))), META(0));
    if (NEED(1)) {
        UNPACK(b, 1);
        gin[1] = sum_to_meta(npg_multiply(g, npg_exp(npg_subtract(b, y))), META(1));
    }
    OK_IF((!NEED(0) || gin[0]) && (!NEED(1) || gin[1]));
}
/* maximum/minimum: the gradient goes to the winner, split evenly on ties */
static npg_status bw_maxmin(npg_node *n, npg_array *g, npg_array **gin, bool is_max) {
    UNPACK(a, 0);
    npg_dtype dt = META(0)->dtype;
    if (n->has_scalar) {
        double s = n->scalar;
        npg_array *win = is_max ? npg_greater_scalar(a, s) : npg_less_scalar(a, s);
        npg_array *w = npg_add(fmask(win, dt), npg_multiply_scalar(fmask(npg_equal_scalar(a, s), dt), 0.5));
        gin[0] = npg_multiply(g, w);
        OK_IF(gin[0]);
    }
    UNPACK(b, 1);
    npg_array *tie = npg_multiply_scalar(fmask(npg_equal(a, b), dt), 0.5);
    if (NEED(0)) {
        npg_array *wa = npg_add(fmask(is_max ? npg_greater(a, b) : npg_less(a, b), dt), tie);
        gin[0] = sum_to_meta(npg_multiply(g, wa), META(0));
    }
    if (NEED(1)) {
        npg_array *wb = npg_add(fmask(is_max ? npg_greater(b, a) : npg_less(b, a), dt), tie);
        gin[1] = sum_to_meta(npg_multiply(g, wb), META(1));
    }
    OK_IF((!NEED(0) || gin[0]) && (!NEED(1) || gin[1]));
}
static npg_status bw_maximum(npg_node *n, npg_array *g, npg_array **gin) { return bw_maxmin(n, g, gin, true); }
static npg_status bw_minimum(npg_node *n, npg_array *g, npg_array **gin) { return bw_maxmin(n, g, gin, false); }

static npg_status bw_where(npg_node *n, npg_array *g, npg_array **gin) {
    UNPACK(c, 0);
    if (n->has_scalar) { /* inputs {cond, x} */
        gin[1] = sum_to_meta(n->scalar_first ? npg_scalar_where(c, 0.0, g) : npg_where_scalar(c, g, 0.0), META(1));
        OK_IF(gin[1]);
    }
    if (NEED(1)) gin[1] = sum_to_meta(npg_where_scalar(c, g, 0.0), META(1));
    if (NEED(2)) gin[2] = sum_to_meta(npg_scalar_where(c, 0.0, g), META(2));
    OK_IF((!NEED(1) || gin[1]) && (!NEED(2) || gin[2]));
}

/* ------------------------------------------------------------------------
 * Reductions and scans
 * ------------------------------------------------------------------------ */

/* g (reduced shape) -> broadcast view over the input's shape */
static npg_array *expand_reduced(npg_node *n, npg_array *g) {
    const npg_meta *m = META(0);
    uint32_t mask = (uint32_t)n->p.i[0];
    npg_shape ks = {.ndim = m->ndim}, full = {.ndim = m->ndim};
    for (int i = 0; i < m->ndim; i++) {
        ks.dims[i] = (mask & (1u << i)) ? 1 : m->shape[i];
        full.dims[i] = m->shape[i];
    }
    return npg_broadcast_to(npg_reshape(g, ks), full);
}
static int64_t reduced_count(npg_node *n) {
    int64_t c = 1;
    for (int i = 0; i < META(0)->ndim; i++)
        if ((uint64_t)n->p.i[0] & (1u << i)) c *= META(0)->shape[i];
    return c;
}
static npg_status bw_sum(npg_node *n, npg_array *g, npg_array **gin) {
    gin[0] = expand_reduced(n, g);
    OK_IF(gin[0]);
}
static npg_status bw_mean(npg_node *n, npg_array *g, npg_array **gin) {
    gin[0] = expand_reduced(n, npg_divide_scalar(g, (double)reduced_count(n)));
    OK_IF(gin[0]);
}
static npg_status bw_maxmin_reduce(npg_node *n, npg_array *g, npg_array **gin) {
    UNPACK(x, 0);
    UNPACK(y, 3);
    npg_array *yb = expand_reduced(n, y);
    npg_array *mask = fmask(npg_equal(x, yb), x->dtype);
    npg_axes axes = {0};
    for (int i = 0; i < x->ndim; i++)
        if ((uint64_t)n->p.i[0] & (1u << i)) axes.axes[axes.n++] = i;
    npg_array *cnt = npg_sum(mask, axes.n ? axes : NPG_ALL_AXES, true);
    npg_shape full = npg_shape_of(x);
    npg_array *share = npg_broadcast_to(npg_divide(npg_reshape(g, npg_shape_of(cnt)), cnt), full);
    gin[0] = npg_multiply(mask, share);
    OK_IF(gin[0]);
}
/* prod: products of all other elements, exact with zeros. The reduced axes
 * are moved last and flattened into one; there grad_i = g * L_i * R_i with
 * L, R the exclusive prefix/suffix products. */
static npg_status bw_prod(npg_node *n, npg_array *g, npg_array **gin) {
    UNPACK(x, 0);
    uint32_t mask = (uint32_t)n->p.i[0];
    npg_axes perm = {.n = x->ndim}, inv = {.n = x->ndim};
    int k = 0;
    npg_shape kept = {.ndim = 0};
    int64_t reduced = 1; /* not -1 in the reshape: x may be empty */
    for (int i = 0; i < x->ndim; i++)
        if (!(mask & (1u << i))) {
            perm.axes[k++] = i;
            kept.dims[kept.ndim++] = x->shape[i];
        }
    for (int i = 0; i < x->ndim; i++)
        if (mask & (1u << i)) {
            perm.axes[k++] = i;
            reduced *= x->shape[i];
        }
    for (int i = 0; i < x->ndim; i++) inv.axes[perm.axes[i]] = i;
    npg_shape flat = kept;
    flat.dims[flat.ndim++] = reduced;
    npg_array *xp = npg_reshape(npg_permute_dims(x, perm), flat); /* (kept..., R) */
    if (!xp) return npg_last_status();
    int ax = xp->ndim - 1;
    int64_t R = xp->shape[ax];
    npg_array *res;
    if (R == 0) {
        res = xp;
    } else {
        npg_array *ones = npg_ones_like(npg_index(xp, (npg_idx[]){NPG_ELLIPSIS, NPG_SLICE(0, 1, 1)}, 2), NULL);
        npg_array *head = npg_index(xp, (npg_idx[]){NPG_ELLIPSIS, NPG_SLICE(0, R - 1, 1)}, 2);
        npg_array *tail = npg_index(xp, (npg_idx[]){NPG_ELLIPSIS, NPG_SLICE(1, NPG_NONE, 1)}, 2);
        npg_array *left = npg_concat((npg_array *[]){ones, npg_cumprod(head, ax)}, 2, ax);
        npg_array *tf = npg_flip(tail, NPG_AXES(ax));
        npg_array *right = npg_flip(npg_concat((npg_array *[]){ones, npg_cumprod(tf, ax)}, 2, ax), NPG_AXES(ax));
        npg_shape gk = kept;
        gk.dims[gk.ndim++] = 1;
        res = npg_multiply(npg_multiply(left, right), npg_reshape(g, gk));
    }
    /* back to x's layout */
    npg_shape ps = {.ndim = x->ndim};
    for (int i = 0; i < x->ndim; i++) ps.dims[i] = x->shape[perm.axes[i]];
    gin[0] = npg_permute_dims(npg_reshape(res, ps), inv);
    OK_IF(gin[0]);
}

static npg_array *rev_cumsum(npg_array *g, int ax) {
    return npg_flip(npg_cumsum(npg_flip(g, NPG_AXES(ax)), ax), NPG_AXES(ax));
}
static npg_status bw_cumsum(npg_node *n, npg_array *g, npg_array **gin) {
    gin[0] = rev_cumsum(g, n->axis);
    OK_IF(gin[0]);
}
static npg_status bw_cumprod(npg_node *n, npg_array *g, npg_array **gin) {
    UNPACK(x, 0);
    UNPACK(y, 3);
    int ax = n->axis;
    npg_array *zero = npg_equal_scalar(x, 0.0);
    npg_array *nz = npg_cumsum(zero, ax); /* zeros seen so far (int64) */
    npg_array *before = npg_equal_scalar(nz, 0.0);
    npg_array *first = npg_logical_and(zero, npg_equal_scalar(nz, 1.0));
    /* before the first zero: sum_{k>=i} g_k y_k / x_i */
    npg_array *ga = npg_divide(rev_cumsum(npg_multiply(g, y), ax), npg_where_scalar(before, x, 1.0));
    /* at the first zero: sum_{k>=z} g_k * cumprod(x with x_z = 1)_k */
    npg_array *xs = npg_scalar_where(first, 1.0, x);
    npg_array *gb = npg_where_scalar(first, rev_cumsum(npg_multiply(g, npg_cumprod(xs, ax)), ax), 0.0);
    gin[0] = npg_where(before, ga, gb);
    OK_IF(gin[0]);
}

/* ------------------------------------------------------------------------
 * Data movement and views
 * ------------------------------------------------------------------------ */

static npg_status bw_astype(npg_node *n, npg_array *g, npg_array **gin) {
    gin[0] = npg__cast(g, META(0)->dtype);
    OK_IF(gin[0]);
}
static npg_status bw_to(npg_node *n, npg_array *g, npg_array **gin) {
    gin[0] = npg_to(g, META(0)->device);
    OK_IF(gin[0]);
}
static npg_status bw_concat(npg_node *n, npg_array *g, npg_array **gin) {
    int64_t pos = 0;
    for (int i = 0; i < n->n_in; i++) {
        int64_t len = META(i)->shape[n->axis];
        if (NEED(i)) {
            npg_idx idx[NPG_MAX_DIMS];
            for (int d = 0; d < g->ndim; d++) idx[d] = d == n->axis ? NPG_SLICE(pos, pos + len, 1) : NPG_ALL;
            gin[i] = npg_index(g, idx, g->ndim);
            if (!gin[i]) return npg_last_status();
        }
        pos += len;
    }
    return NPG_OK;
}
static npg_status bw_reshape(npg_node *n, npg_array *g, npg_array **gin) {
    npg_shape s = {.ndim = META(0)->ndim};
    memcpy(s.dims, META(0)->shape, sizeof(int64_t) * (size_t)s.ndim);
    gin[0] = npg_reshape(g, s);
    OK_IF(gin[0]);
}
static npg_status bw_permute(npg_node *n, npg_array *g, npg_array **gin) {
    npg_axes inv = {.n = n->axes.n};
    for (int i = 0; i < n->axes.n; i++) inv.axes[n->axes.axes[i]] = i;
    gin[0] = npg_permute_dims(g, inv);
    OK_IF(gin[0]);
}
static npg_status bw_expand(npg_node *n, npg_array *g, npg_array **gin) {
    gin[0] = sum_to_meta(g, META(0));
    OK_IF(gin[0]);
}
static npg_status bw_index(npg_node *n, npg_array *g, npg_array **gin) {
    gin[0] = npg__strided_scatter(g, META(0)->ndim, META(0)->shape, n->vndim, n->vshape, n->vstrides, n->voffset);
    OK_IF(gin[0]);
}
static npg_status bw_strided_scatter(npg_node *n, npg_array *g, npg_array **gin) {
    gin[0] = npg__strided_view(g, n->vndim, n->vshape, n->vstrides, n->voffset);
    OK_IF(gin[0]);
}
static npg_status bw_gather(npg_node *n, npg_array *g, npg_array **gin) {
    UNPACK(idx, 1);
    gin[0] = npg__scatter_add_zeros(META(0)->ndim, META(0)->shape, g, idx, n->axis);
    OK_IF(gin[0]);
}
static npg_status bw_scatter_add(npg_node *n, npg_array *g, npg_array **gin) {
    UNPACK(idx, 1);
    gin[0] = npg__gather(g, idx, n->axis);
    OK_IF(gin[0]);
}
/* A matrix stored column-major (its last two axes transposed in memory). */
static bool col_major(const npg_array *x) {
    int r = x->ndim - 2, c = x->ndim - 1;
    return x->ndim >= 2 && x->shape[r] > 1 && x->shape[c] > 1 && x->strides[r] == 1 && x->strides[c] != 1;
}
static npg_shape swapped_last2(const npg_array *x) {
    npg_shape s = npg_shape_of(x);
    int64_t t = s.dims[s.ndim - 1];
    s.dims[s.ndim - 1] = s.dims[s.ndim - 2];
    s.dims[s.ndim - 2] = t;
    return s;
}
static npg_status bw_matmul(npg_node *n, npg_array *g, npg_array **gin) {
    UNPACK(a, 0);
    UNPACK(b, 1);
    bool a1 = a->ndim == 1, b1 = b->ndim == 1;
    npg_array *A = a1 ? npg_expand_dims(a, 0) : a; /* (1, K) */
    npg_array *B = b1 ? npg_expand_dims(b, -1) : b; /* (K, 1) */
    npg_array *G = g;
    if (a1) G = npg_expand_dims(G, G->ndim - (b1 ? 0 : 1)); /* restore the M axis */
    if (b1) G = npg_expand_dims(G, -1);                      /* restore the N axis */
    if (!A || !B || !G) return npg_last_status();
    /* Each gradient is produced in its operand's memory layout: for a
     * column-major operand (e.g. W.T in x @ W.T) the transposed product is
     * computed contiguously and viewed back, so the gradient that reaches W
     * through the transpose is contiguous and needs no copy. */
    if (NEED(0)) {
        npg_array *ga;
        if (col_major(A)) {
            npg_array *t = npg_matmul(B, npg_matrix_transpose(G)); /* (.., K, M) */
            ga = npg_matrix_transpose(npg__sum_to(t, A->ndim, swapped_last2(A).dims));
        } else {
            ga = npg__sum_to(npg_matmul(G, npg_matrix_transpose(B)), A->ndim, A->shape);
        }
        gin[0] = a1 ? npg_reshape(ga, npg_shape_of(a)) : ga;
        if (!gin[0]) return npg_last_status();
    }
    if (NEED(1)) {
        npg_array *gb;
        if (col_major(B)) {
            npg_array *t = npg_matmul(npg_matrix_transpose(G), A); /* (.., N, K) */
            gb = npg_matrix_transpose(npg__sum_to(t, B->ndim, swapped_last2(B).dims));
        } else {
            gb = npg__sum_to(npg_matmul(npg_matrix_transpose(A), G), B->ndim, B->shape);
        }
        gin[1] = b1 ? npg_reshape(gb, npg_shape_of(b)) : gb;
        if (!gin[1]) return npg_last_status();
    }
    return NPG_OK;
}

/* ------------------------------------------------------------------------
 * The table
 * ------------------------------------------------------------------------ */

static const npg_backward_fn g_rules[NPG_OP_COUNT] = {
    [NPG_OP_NEGATIVE] = bw_negative, [NPG_OP_POSITIVE] = bw_identity, [NPG_OP_ABS] = bw_abs,
    [NPG_OP_SIGN] = bw_zero, [NPG_OP_SQRT] = bw_sqrt, [NPG_OP_SQUARE] = bw_square, [NPG_OP_EXP] = bw_exp,
    [NPG_OP_EXPM1] = bw_expm1, [NPG_OP_LOG] = bw_log, [NPG_OP_LOG1P] = bw_log1p, [NPG_OP_LOG2] = bw_log2,
    [NPG_OP_LOG10] = bw_log10, [NPG_OP_SIN] = bw_sin, [NPG_OP_COS] = bw_cos, [NPG_OP_TAN] = bw_tan,
    [NPG_OP_ASIN] = bw_asin, [NPG_OP_ACOS] = bw_acos, [NPG_OP_ATAN] = bw_atan, [NPG_OP_SINH] = bw_sinh,
    [NPG_OP_COSH] = bw_cosh, [NPG_OP_TANH] = bw_tanh, [NPG_OP_ASINH] = bw_asinh, [NPG_OP_ACOSH] = bw_acosh,
    [NPG_OP_ATANH] = bw_atanh, [NPG_OP_ERF] = bw_erf, [NPG_OP_FLOOR] = bw_zero, [NPG_OP_CEIL] = bw_zero,
    [NPG_OP_TRUNC] = bw_zero, [NPG_OP_ROUND] = bw_zero, [NPG_OP_RECIPROCAL] = bw_reciprocal,
    [NPG_OP_CLIP] = bw_clip, [NPG_OP_RELU] = bw_relu, [NPG_OP_LEAKY_RELU] = bw_leaky_relu,
    [NPG_OP_SIGMOID] = bw_sigmoid, [NPG_OP_SILU] = bw_silu, [NPG_OP_GELU] = bw_gelu,
    [NPG_OP_GELU_TANH] = bw_gelu_tanh, [NPG_OP_SOFTPLUS] = bw_softplus,
    [NPG_OP_ADD] = bw_add, [NPG_OP_SUBTRACT] = bw_subtract, [NPG_OP_MULTIPLY] = bw_multiply,
    [NPG_OP_DIVIDE] = bw_divide, [NPG_OP_REMAINDER] = bw_remainder, [NPG_OP_POW] = bw_pow,
    [NPG_OP_ATAN2] = bw_atan2, [NPG_OP_COPYSIGN] = bw_copysign, [NPG_OP_HYPOT] = bw_hypot,
    [NPG_OP_LOGADDEXP] = bw_logaddexp, [NPG_OP_MAXIMUM] = bw_maximum,
    [NPG_OP_MINIMUM] = bw_minimum, [NPG_OP_WHERE] = bw_where,
    [NPG_OP_SUM] = bw_sum, [NPG_OP_MEAN] = bw_mean, [NPG_OP_PROD] = bw_prod, [NPG_OP_MAX] = bw_maxmin_reduce,
    [NPG_OP_MIN] = bw_maxmin_reduce, [NPG_OP_CUMSUM] = bw_cumsum, [NPG_OP_CUMPROD] = bw_cumprod,
    [NPG_OP_COPY] = bw_identity, [NPG_OP_ASTYPE] = bw_astype, [NPG_OP_TO_DEVICE] = bw_to,
    [NPG_OP_CONCAT] = bw_concat, [NPG_OP_RESHAPE] = bw_reshape, [NPG_OP_PERMUTE] = bw_permute,
    [NPG_OP_EXPAND] = bw_expand, [NPG_OP_INDEX] = bw_index, [NPG_OP_STRIDED_SCATTER] = bw_strided_scatter,
    [NPG_OP_GATHER] = bw_gather, [NPG_OP_SCATTER_ADD] = bw_scatter_add, [NPG_OP_MATMUL] = bw_matmul,
    /* nn.c */
    [NPG_OP_SOFTMAX] = npg__bw_softmax, [NPG_OP_LOG_SOFTMAX] = npg__bw_log_softmax,
    [NPG_OP_CROSS_ENTROPY] = npg__bw_cross_entropy, [NPG_OP_IM2COL] = npg__bw_im2col,
    [NPG_OP_COL2IM] = npg__bw_col2im, [NPG_OP_MAX_POOL2D] = npg__bw_max_pool2d,
    /* custom.c */
    [NPG_OP_CUSTOM] = npg__bw_custom,
};

npg_backward_fn npg__backward_fn(npg_op op) { return (unsigned)op < NPG_OP_COUNT ? g_rules[op] : NULL; }
