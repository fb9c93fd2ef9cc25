/*
 * backend.h — the interface between src/common and a device backend.
 *
 * A backend is one `const npg_backend` struct of function pointers plus one
 * registration line in dispatch.c. Entries are per op FAMILY; the op code is
 * passed in. Kernels receive plain descriptors (npg_tdesc: pointer, dtype,
 * shape, element strides), never npg_array: backends know nothing of
 * autograd, refcounts or scopes.
 *
 * What src/common guarantees before any kernel call (so kernels need not
 * re-check): dtypes are valid for the op (see each entry), shapes are
 * consistent, outputs are freshly allocated or validated writable (no two
 * output elements alias), every pointer is on the backend's device `dev`,
 * and n-element loops with n == 0 are never issued (empty results are
 * handled in common). Descriptors are already coalesced where that helps
 * (adjacent dims merged when strides allow), but kernels must accept any
 * ndim from 0 to NPG_MAX_DIMS and any strides, including 0 (broadcast) and
 * negative ones.
 *
 * Errors: return NPG_OK or a negative npg_status after calling
 * npg__set_error(status, "fmt", ...) with a message naming the op. CUDA
 * kernels run asynchronously; an out-of-range index found by a CUDA kernel
 * is recorded in a device flag and reported by the next synchronising call.
 *
 * Shapes in comments follow llm.c: out: (B, M, N) means out has that shape.
 */
#ifndef NPG_BACKEND_H
#define NPG_BACKEND_H

#include "npg.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The op enum, generated from ops.def. */
typedef enum npg_op {
#define NPG_OP(ID, name, family, arity, diff, rule) NPG_OP_##ID,
#include "ops.def"
#undef NPG_OP
    NPG_OP_COUNT
} npg_op;

/* A tensor descriptor as kernels see it.
 *   data     pointer to the element at index (0, ..., 0) — already offset;
 *            a device pointer for device backends
 *   strides  in ELEMENTS (not bytes); may be 0 or negative
 *   is_scalar  when true the operand is a weak scalar: data is NULL, shape
 *            and strides are meaningless (treat as broadcast), and the value
 *            is `scalar` converted to `dtype` (for integer and bool dtypes
 *            use `iscalar`, which common fills with the exact value).     */
typedef struct npg_tdesc {
    void *data;
    npg_dtype dtype;
    int ndim;
    int64_t shape[NPG_MAX_DIMS];
    int64_t strides[NPG_MAX_DIMS];
    bool is_scalar;
    double scalar;
    int64_t iscalar;
} npg_tdesc;

/* Small per-call parameters (meaning per op in ops.def comments). */
typedef struct npg_kparams {
    double f[4];
    int64_t i[4];
} npg_kparams;

/* Geometry of a 2-d convolution / pooling window over x (N, C, H, W):
 * output (N, C', OH, OW) with OH = (H + 2*pad_h - dil_h*(KH-1) - 1) / stride_h + 1. */
typedef struct npg_conv_geom {
    int64_t N, C, H, W;
    int64_t KH, KW, OH, OW;
    int64_t stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;
    bool count_include_pad; /* avg pooling: divide by KH*KW even at borders */
} npg_conv_geom;

/* Optimizer hyper-parameters for the fused update entries. */
typedef struct npg_sgd_hp {
    double lr, momentum, dampening, weight_decay;
    bool nesterov;
    bool first_step; /* momentum buffer is initialised to the gradient */
} npg_sgd_hp;
typedef struct npg_adam_hp {
    double lr, beta1, beta2, eps, weight_decay;
    bool decoupled;           /* AdamW: p -= lr * wd * p before the Adam update */
    double bias_correction1;  /* 1 - beta1^t */
    double bias_correction2;  /* 1 - beta2^t */
} npg_adam_hp;

/* Device information. */
typedef struct npg_device_info {
    char name[128];
    size_t total_bytes;
    size_t free_bytes;
    size_t cached_bytes; /* freed blocks the backend keeps for reuse */
} npg_device_info;

typedef struct npg_backend {
    const char *name;     /* "cpu", "cuda" */
    npg_device_type type;
    /* float16 / bfloat16 reach fill, copy, where and gather (which move
     * them as they are) and unary and binary (each element computed by the
     * float32 op and rounded once, exactly as on float32 copies) in every
     * backend; matmul when half_matmul is set (float32 accumulation, the
     * result rounded once), reduce when half_reduce is set (the float32
     * reduction's result, rounded) and im2col when half_im2col is set (a
     * gather: the elements moved as they are). common runs every other
     * kernel on float32 stand-ins (half.c). */
    bool half_matmul;
    bool half_reduce;
    bool half_im2col;
    /* wide_int_sum: reduce's SUM and PROD also take bool and integer
     * inputs of any width with an int64 output (uint64 for uint64 input),
     * accumulating as they read; wide_int_scan: the same for scan's CUMSUM
     * and CUMPROD. Without them common widens the input to int64 first. */
    bool wide_int_sum;
    bool wide_int_scan;

    /* ---- devices ---- */
    /* Number of usable devices (0 if none: the backend is then unavailable). */
    int (*device_count)(void);
    npg_status (*device_info)(int dev, npg_device_info *info);
    /* Block until all work queued on dev is complete; reports deferred
     * kernel errors (CUDA index flag). */
    npg_status (*synchronize)(int dev);

    /* ---- memory ---- */
    /* Allocate nbytes (> 0) on dev, 64-byte aligned at least. OOM must be
     * NPG_ERR_OOM, never a crash. */
    npg_status (*alloc)(int dev, size_t nbytes, void **out_ptr);
    /* Release a block from alloc; nbytes is the size it was allocated with. */
    void (*free)(int dev, void *ptr, size_t nbytes);
    /* Give every cached free block back (to the system or the device's
     * pool), after the device's queued work. Live blocks are untouched. */
    npg_status (*empty_cache)(int dev);
    /* Contiguous byte copies. h2d/d2h are synchronous with respect to the
     * host buffer (d2h returns when dst holds the data). */
    npg_status (*copy_h2d)(int dev, void *dst, const void *src, size_t nbytes);
    npg_status (*copy_d2h)(int dev, void *dst, const void *src, size_t nbytes);
    npg_status (*copy_d2d)(int dev, void *dst, const void *src, size_t nbytes);

    /* ---- families ---- */

    /* out[i] = value, out any strides (no aliasing), any dtype. The value is
     * `value` for floating dtypes, `ivalue` for integers, ivalue != 0 for
     * bool. */
    npg_status (*fill)(int dev, const npg_tdesc *out, double value, int64_t ivalue);

    /* out[i] = (out.dtype) in[i]; same shape (in may have 0 strides); any
     * dtype pair. Conversions: float->int truncates toward zero (NaN -> 0,
     * out of range -> saturates to the target's min/max); anything->bool is
     * x != 0; bool->number is 0/1; int->narrower int wraps (two's
     * complement). Never undefined behaviour. */
    npg_status (*copy)(int dev, const npg_tdesc *out, const npg_tdesc *in);

    /* out[i] = op(in[i]); same shape. in.dtype is the compute dtype, out is
     * contiguous; out.dtype is in.dtype except bool for ISNAN, ISINF,
     * ISFINITE, LOGICAL_NOT. Only float dtypes reach FLOAT-rule ops; integer
     * dtypes reach ARITH/ROUND/BITWISE ops (ROUND-rule ops on integers are
     * the identity; ROUND with negative decimals on integers rounds half to
     * even at 10^-decimals). LOGICAL_NOT/TEST ops may get any dtype. */
    npg_status (*unary)(int dev, npg_op op, const npg_tdesc *out, const npg_tdesc *in, const npg_kparams *p);

    /* out[i] = op(a[i], b[i]); a, b have out's shape (broadcast strides 0)
     * and the same dtype (the compute dtype); either may be is_scalar.
     * out.dtype is bool for CMP and LOGICAL ops (LOGICAL ops get any input
     * dtype and read them as truth values), else the compute dtype. out is
     * contiguous. */
    npg_status (*binary)(int dev, npg_op op, const npg_tdesc *out, const npg_tdesc *a, const npg_tdesc *b);

    /* out[i] = cond[i] ? a[i] : b[i]; cond is bool; a, b have out's dtype
     * and shape (broadcast strides); a or b may be is_scalar. */
    npg_status (*where)(int dev, const npg_tdesc *out, const npg_tdesc *cond, const npg_tdesc *a, const npg_tdesc *b);

    /* Reduction over the LAST `nred` axes of in.
     *   in: (K..., R...) with in.ndim = out.ndim + nred; out: (K...)
     *   contiguous. nred >= 0 (nred == 0 copies), the reduced count may be
     *   0 (SUM -> 0, PROD -> 1, MEAN -> NaN, ALL -> true, ANY -> false; MAX,
     *   MIN, ARGMAX, ARGMIN never get an empty reduction).
     * dtypes: SUM, PROD: in.dtype == out.dtype (any integer, wrapping; or
     *   floating), or with wide_int_sum bool / integer in and int64 out
     *   (uint64 for uint64); float32
     *   must accumulate in float64 or pairwise (results are compared with
     *   float64 references at ~1e-5 relative). MEAN: floating, same dtype.
     *   MAX, MIN: same dtype, any numeric or bool; NaN propagates.
     *   ALL, ANY: in bool, out bool. ARGMAX, ARGMIN: any numeric/bool in,
     *   out int64, the index is the flat index within the reduced block
     *   (row-major over the R axes), first occurrence wins, NaN counts as
     *   the maximum (and minimum) like NumPy. */
    npg_status (*reduce)(int dev, npg_op op, const npg_tdesc *out, const npg_tdesc *in, int nred);

    /* Inclusive scan (CUMSUM, CUMPROD) along `axis`; out and in same shape
     * and dtype (any integer, wrapping; or floating), or with wide_int_scan
     * bool / integer in and int64 out; out contiguous. */
    npg_status (*scan)(int dev, npg_op op, const npg_tdesc *out, const npg_tdesc *in, int axis);

    /* GATHER:  out[i_0..i_{n-1}] = in[i_0, .., idx[i_0..i_{n-1}], .., i_{n-1}]
     *          (the index replaces coordinate `axis`). out, idx same shape
     *          (idx may have 0 strides); in.ndim == out.ndim; on axes other
     *          than `axis` in.shape == out.shape. idx int64; values in
     *          [-in.shape[axis], in.shape[axis]) (negatives wrap); anything
     *          else is NPG_ERR_INDEX (CPU: returned; CUDA: deferred flag,
     *          element set to 0). out contiguous, any dtype.
     * SCATTER_ADD: out[i_0, .., idx[i_0..], .., i_{n-1}] += src[i_0..i_{n-1}]
     *          (the inverse of GATHER: `in` is the src with idx's shape, out
     *          is the accumulator, already initialised, with out.ndim ==
     *          src.ndim). Dtypes: every integer, float32, float64; duplicate
     *          indices accumulate (atomics on CUDA: float32's flush subnormal
     *          inputs and sums to zero). An index out of range: CPU, the
     *          error returned and out untouched; CUDA, the deferred flag, the
     *          in-range elements added and the others skipped. */
    npg_status (*gather)(int dev, const npg_tdesc *out, const npg_tdesc *in, const npg_tdesc *idx, int axis);
    npg_status (*scatter_add)(int dev, const npg_tdesc *out, const npg_tdesc *src, const npg_tdesc *idx, int axis);

    /* Batched matrix product.
     *   out: (B..., M, N) contiguous; a: (B..., M, K); b: (B..., K, N) with
     *   the same ndim >= 2 and the same batch dims (batch strides may be 0).
     *   For each of a and b, common guarantees one of the last two strides
     *   is 1 (row- or column-major matrix) with the other >= max(1, that
     *   matrix dim), so BLAS can take it with a transpose flag. dtype: all
     *   three the same; floats through BLAS (sgemm/dgemm; cuBLAS honours the
     *   TF32 setting passed in allow_tf32), the integer dtypes (wrapping)
     *   and bool (logical or-of-ands) by a plain kernel.
     *   K may be 0 (out = 0). */
    npg_status (*matmul)(int dev, const npg_tdesc *out, const npg_tdesc *a, const npg_tdesc *b, bool allow_tf32);

    /* Random numbers into contiguous out, Philox-4x32-10 (see rng.h for the
     * exact word->value mapping that both backends implement):
     *   RAND_UNIFORM  float32/float64 in [p.f[0], p.f[1])
     *   RAND_NORMAL   float32/float64, mean p.f[0], std p.f[1]
     *   RAND_INT      any integer dtype in [p.i[0], p.i[1]) (p.i[1] > p.i[0]):
     *                 the int64 value, wrapped to the dtype */
    npg_status (*random)(int dev, npg_op op, const npg_tdesc *out, uint64_t seed, uint64_t offset,
                         const npg_kparams *p);

    /* Stable sort of each row along the LAST axis of in (contiguous rows:
     * in.strides[ndim-1] == 1 and rows laid out contiguously, i.e. in is
     * C-contiguous). values: same shape/dtype as in, contiguous (may be
     * NULL when only indices are wanted); indices: int64, same shape,
     * contiguous (may be NULL). NaN sorts last ascending, first descending;
     * equal elements keep their order in both directions. ndim >= 1. */
    npg_status (*sort)(int dev, const npg_tdesc *values, const npg_tdesc *indices, const npg_tdesc *in, bool descending);

    /* Coordinates of nonzero elements of contiguous `in` (ndim >= 1),
     * row-major order, into out: int64 (in.ndim, count) contiguous, where
     * count is exactly the number of nonzeros (common counts first). */
    npg_status (*nonzero)(int dev, const npg_tdesc *out, const npg_tdesc *in);

    /* ---- fused neural-network kernels (optional: NULL entries make
     *      src/common compose the op from the families above) ---- */

    /* Softmax (log=false) or log-softmax (log=true) of each row: in, out
     * (R, C) contiguous, float32/float64, numerically stable (max
     * subtracted). */
    npg_status (*softmax)(int dev, const npg_tdesc *out, const npg_tdesc *in, bool log);
    /* Backward of the above from the forward output y, all (R, C):
     *   softmax:     gin = y * (g - sum_c(g * y))
     *   log_softmax: gin = g - exp(y) * sum_c(g) */
    npg_status (*softmax_backward)(int dev, const npg_tdesc *gin, const npg_tdesc *g, const npg_tdesc *y, bool log);
    /* Cross-entropy from logits x (R, C) contiguous float and labels (R)
     * int64, with label smoothing eps:
     *   lse[r]  = log(sum_c exp(x[r,c]))                      (saved for backward)
     *   loss[r] = (1-eps)*(lse[r] - x[r,y_r]) + eps*(lse[r] - mean_c x[r,c])
     * rows whose label == ignore_index (when has_ignore) get loss 0; other
     * labels outside [0, C) are NPG_ERR_INDEX (CUDA: deferred flag, loss NaN).
     * loss, lse: (R) in x's dtype. */
    npg_status (*cross_entropy)(int dev, const npg_tdesc *loss, const npg_tdesc *lse, const npg_tdesc *x,
                                const npg_tdesc *labels, double eps, bool has_ignore, int64_t ignore_index);
    /* gx[r,c] = gloss[r] * (exp(x[r,c] - lse[r]) - (1-eps)*[c == y_r] - eps/C);
     * 0 for ignored rows. gx (R, C), gloss (R) contiguous. */
    npg_status (*cross_entropy_backward)(int dev, const npg_tdesc *gx, const npg_tdesc *gloss, const npg_tdesc *x,
                                         const npg_tdesc *lse, const npg_tdesc *labels, double eps, bool has_ignore,
                                         int64_t ignore_index);
    /* im2col: x (N, C, H, W) contiguous -> cols (N, C*KH*KW, OH*OW)
     * contiguous, row index (c*KH + kh)*KW + kw, zero outside the image. */
    npg_status (*im2col)(int dev, const npg_tdesc *cols, const npg_tdesc *x, const npg_conv_geom *g);
    /* col2im, the adjoint: x (N, C, H, W) (pre-zeroed by common) +=
     * the entries of cols (N, C*KH*KW, OH*OW) at their source pixels. */
    npg_status (*col2im)(int dev, const npg_tdesc *x, const npg_tdesc *cols, const npg_conv_geom *g);
    /* Pooling x (N, C, H, W) -> out (N, C, OH, OW), all contiguous. max:
     * argmax (int64, same shape as out) gets the flat index h*W + w of the
     * maximum (first one; padding never wins; NaN propagates; a window with no
 * pixel of x: the dtype's lowest value, -inf for floats, and -1); avg: argmax is
     * NULL and the divisor is KH*KW (count_include_pad) or the number of
     * in-image pixels. */
    npg_status (*pool2d)(int dev, bool is_max, const npg_tdesc *out, const npg_tdesc *argmax, const npg_tdesc *x,
                         const npg_conv_geom *g);
    /* gx (N, C, H, W) (pre-zeroed) += the pooling adjoint of gout (N, C, OH, OW). */
    npg_status (*pool2d_backward)(int dev, bool is_max, const npg_tdesc *gx, const npg_tdesc *gout,
                                  const npg_tdesc *argmax, const npg_conv_geom *g);
    /* In-place optimizer updates over contiguous float arrays of one shape.
     * SGD (PyTorch's): d = g + wd*p; if momentum: buf = first ? d :
     *   momentum*buf + (1-dampening)*d; d = nesterov ? d + momentum*buf : buf;
     *   p -= lr*d.  buf may be NULL when momentum == 0. */
    npg_status (*sgd_step)(int dev, const npg_tdesc *param, const npg_tdesc *grad, const npg_tdesc *buf,
                           const npg_sgd_hp *hp);
    /* Adam / AdamW (PyTorch's): if decoupled: p -= lr*wd*p else g += wd*p;
     *   m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g*g;
     *   p -= lr * (m / bc1) / (sqrt(v / bc2) + eps). */
    npg_status (*adam_step)(int dev, const npg_tdesc *param, const npg_tdesc *grad, const npg_tdesc *m,
                            const npg_tdesc *v, const npg_adam_hp *hp);

    /* ---- dense linear algebra (LAPACK / cuSOLVER; src/common/ops_decomp.c)
     *
     * Unlike the families above these entries take no op code and have no
     * line in ops.def: the npg_linalg_* functions that call them record
     * their results through npg_custom (named graph nodes whose rules are
     * written in npg ops), not as ops of their own.
     *
     * Every matrix argument is a batch of `batch` matrices stored one after
     * another, each COLUMN-MAJOR and contiguous: element (i, j) of matrix k
     * of an (r x c) batch is at k*r*c + i + j*r. Vectors (piv, w, s) are
     * `batch` rows one after another. All float arguments have dtype dt,
     * float32 or float64; every pointer is device memory of dev, and
     * batch, n, m, nrhs >= 1 (common handles empty matrices).
     *
     * info: a HOST array of `batch` ints the entry fills with LAPACK's info
     * per matrix: 0 success, > 0 the numerical failure LAPACK documents for
     * that routine (below). A device backend synchronises to fill it; info
     * may be NULL (not wanted), and then nothing synchronises. The
     * returned status is for everything else (NPG_ERR_OOM, CUDA errors);
     * an info > 0 is not an error status. */

    /* Cholesky: a (n, n) in place; its lower triangle becomes L with
     * A = L L^T (only the lower triangle of A is read; the strict upper
     * triangle is left unspecified: common zeroes it). info = i > 0: the
     * leading minor of order i is not positive definite. */
    npg_status (*potrf)(int dev, npg_dtype dt, int64_t batch, int64_t n, void *a, int *info);
    /* LU with partial pivoting: a (n, n) in place becomes L\U (L unit lower,
     * U upper), piv (batch, n) int32 gets LAPACK's 1-based row interchanges
     * (row i was swapped with row piv[i]). info = i > 0: U(i,i) is exactly
     * zero (the factorization is still complete: det = 0). */
    npg_status (*getrf)(int dev, npg_dtype dt, int64_t batch, int64_t n, void *a, int32_t *piv, int *info);
    /* Solve A X = B (trans: A^T X = B) with getrf's lu (n, n) and piv;
     * b (n, nrhs) in place becomes X. */
    npg_status (*getrs)(int dev, npg_dtype dt, int64_t batch, int64_t n, int64_t nrhs, const void *lu,
                        const int32_t *piv, void *b, bool trans);
    /* Triangular solve: b (n, nrhs) in place becomes op(T)^-1 b, where T is
     * the lower (lower) or upper triangle of a (n, n) (the other triangle
     * is not read), op(T) = T^T when trans, and T's diagonal is taken as
     * ones when unit. A zero on T's diagonal gives inf/NaN, not an error. */
    npg_status (*trsm)(int dev, npg_dtype dt, int64_t batch, int64_t n, int64_t nrhs, const void *a, void *b,
                       bool lower, bool trans, bool unit);
    /* Householder QR: a (m, n) (contents destroyed) -> q (m, qc) with
     * orthonormal columns and r (qc, n) upper trapezoidal (zeros below the
     * diagonal written), A = Q R, where qc is min(m, n) ("reduced") or m
     * ("complete"). LAPACK's signs: R's diagonal may be negative. */
    npg_status (*qr)(int dev, npg_dtype dt, int64_t batch, int64_t m, int64_t n, int64_t qc, void *a, void *q,
                     void *r);
    /* Symmetric eigendecomposition: a (n, n), only its LOWER triangle read;
     * w (batch, n) gets the eigenvalues in ascending order; when vectors, a
     * is overwritten with orthonormal eigenvectors (column j belongs to
     * w[j]), else a's contents are unspecified afterwards. info > 0: the
     * algorithm did not converge. */
    npg_status (*syevd)(int dev, npg_dtype dt, int64_t batch, int64_t n, void *a, void *w, bool vectors,
                        int *info);
    /* Singular value decomposition of a (m, n) with m >= n (common
     * transposes wider matrices); a's contents are destroyed. s (batch, n)
     * gets the singular values, descending, >= 0. When u and vt are not
     * NULL: u (m, full ? m : n) the left singular vectors, vt (n, n) the
     * right ones transposed (A = U diag(s) Vt); both are NULL for values
     * only. info > 0: the algorithm did not converge. */
    npg_status (*gesvd)(int dev, npg_dtype dt, int64_t batch, int64_t m, int64_t n, bool full, void *a, void *s,
                        void *u, void *vt, int *info);
} npg_backend;

/* Error helpers shared with backends (error.c). */
npg_status npg__set_error(npg_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Helpers for backends. */
size_t npg__dtype_size(npg_dtype dtype);
const char *npg__op_name(npg_op op);
/* Number of elements of a descriptor (product of shape; 1 for ndim 0). */
int64_t npg__desc_numel(const npg_tdesc *d);
/* True if d is C-contiguous (ignoring is_scalar). */
bool npg__desc_contiguous(const npg_tdesc *d);

/* Registered backends (NULL when not compiled in). */
extern const npg_backend npg_cpu_backend;
#ifdef NPG_HAVE_CUDA
extern const npg_backend npg_cuda_backend;
#endif

#ifdef __cplusplus
}
#endif

#endif /* NPG_BACKEND_H */
