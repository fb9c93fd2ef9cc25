/*
 * internal.h — the array, storage and autograd structs and the helpers that
 * src/common shares. Not installed; backends include backend.h only.
 */
#ifndef NPG_INTERNAL_H
#define NPG_INTERNAL_H

#include "backend.h"
#include "npg.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- asserts: broken invariants are bugs, reported with file and line ---- */
void npg__assert_fail(const char *expr, const char *file, int line);
#define NPG_ASSERT(e) ((e) ? (void)0 : npg__assert_fail(#e, __FILE__, __LINE__))

#define NPG_LN2 0.69314718055994530942
#define NPG_LN10 2.30258509299404568402
#define NPG_SQRT1_2 0.70710678118654752440

/* ---- reference counts ----
 * Arrays, storages, graph nodes and leaf accumulators may be reached from
 * several threads at once (weights shared for inference: every view of them
 * takes a storage reference), so counts change atomically. A release that
 * sees a count of 1 holds the only reference, which no other thread can
 * take meanwhile (taking one needs a reference): it frees without a locked
 * instruction, which keeps the per-op cost of single-owner arrays down. */
static inline void npg__ref_inc(int *rc) { __atomic_add_fetch(rc, 1, __ATOMIC_RELAXED); }
/* Drop one reference; true when it was the last. */
static inline bool npg__ref_dec(int *rc) {
    if (__atomic_load_n(rc, __ATOMIC_ACQUIRE) == 1) return true;
    return __atomic_sub_fetch(rc, 1, __ATOMIC_ACQ_REL) == 0;
}
static inline int npg__ref_count(const int *rc) { return __atomic_load_n(rc, __ATOMIC_RELAXED); }

/* ---- storage ---- */
typedef struct npg_storage {
    const npg_backend *backend;
    int dev;            /* device index within the backend */
    void *data;         /* NULL only when nbytes == 0 */
    size_t nbytes;
    int refcount;
    uint64_t version;   /* bumped by every in-place write */
    void (*deleter)(void *data, void *ctx); /* for memory npg did not allocate (optional) */
    void *deleter_ctx;
} npg_storage;

/* ---- flags ---- */
enum {
    NPG_AF_READONLY = 1u << 0, /* broadcast (self-overlapping) view: writes refused */
};

struct npg_node;

struct npg_array {
    npg_dtype dtype;
    int ndim;
    int64_t shape[NPG_MAX_DIMS];
    int64_t strides[NPG_MAX_DIMS]; /* elements */
    int64_t offset;                /* elements */
    npg_storage *storage;
    int refcount;
    uint32_t flags;
    bool requires_grad;
    npg_array *grad;           /* owned reference (no scope) */
    struct npg_leafacc *acc;   /* owned; created when first used as a leaf edge */
    struct npg_node *grad_fn;  /* owned reference */
    int64_t scope_slot;        /* index in its scope frame, -1 if none */
    int scope_depth;           /* depth of that frame (1 = outermost) */
};

/* Live arrays / storages in the process (leak checks in tests). */
int64_t npg__live_arrays(void);
int64_t npg__live_storages(void);

/* ---- errors ---- */
/* npg__set_error is in backend.h. Records the NULL-input error without
 * overwriting a pending one. */
void npg__null_arg(const char *fn);
/* True if any of the n arrays is NULL (and records NPG_ERR_NULL_ARG unless
 * an error is already pending from the call that produced the NULL). */
bool npg__any_null(const char *fn, int n, ...);
/* A composed function (built from other public ops) failed: prefix the
 * pending error's message with "fn: " unless it already names fn, so the
 * message names the function the caller called as well as the inner op. */
void npg__error_context(const char *fn);
/* The end of a composed function: keep r, end scope s and, when r is NULL,
 * name fn in the pending error (npg__error_context). Returns r. */
npg_array *npg__finish(const char *fn, npg_scope s, npg_array *r);
void npg__log(npg_log_level level, const char *fmt, ...);
/* Text of a shape "(3,4)" into buf. Returns buf. */
char *npg__shape_str(char *buf, size_t len, int ndim, const int64_t *shape);
#define NPG_SHAPE_BUF 96

/* ---- dtype rules (dtype.c) ---- */
typedef enum npg_rule {
    NPG_RULE_ARITH, NPG_RULE_ANY, NPG_RULE_FLOAT, NPG_RULE_CMP, NPG_RULE_LOGICAL,
    NPG_RULE_BITWISE, NPG_RULE_SHIFT, NPG_RULE_ROUND, NPG_RULE_TEST, NPG_RULE_NONE
} npg_rule;
typedef enum npg_family {
    NPG_FAM_UNARY, NPG_FAM_UNARY_P, NPG_FAM_BINARY, NPG_FAM_WHERE, NPG_FAM_REDUCE, NPG_FAM_SCAN, NPG_FAM_COPY,
    NPG_FAM_COMPOSITE, NPG_FAM_VIEW, NPG_FAM_INDEX, NPG_FAM_SORT, NPG_FAM_MATMUL, NPG_FAM_RANDOM, NPG_FAM_NN
} npg_family;
typedef struct npg_op_info {
    const char *name;
    npg_family family;
    int arity;
    bool differentiable;
    npg_rule rule;
} npg_op_info;
extern const npg_op_info npg__op_info[NPG_OP_COUNT];

npg_dtype npg__default_float(void);
/* dt itself if floating, else the default float dtype (what integer and
 * bool inputs of a floating function compute in). */
npg_dtype npg__float_dtype(npg_dtype dt);
bool npg__dtype_valid(npg_dtype d);
/* float16 or bfloat16: kernels other than fill and copy run them in float32 (half.c). */
bool npg__is_half(npg_dtype d);
/* What sum, prod, cumsum and cumprod of a bool or integer dtype give:
 * int64, or uint64 for uint64 (PyTorch's int64, NumPy's uint64 for uint64). */
npg_dtype npg__int_sum_dtype(npg_dtype dt);
/* i as an integer dtype (or bool) holds it: wrapped to the type's width and
 * widened back (uint64 keeps the bits). */
int64_t npg__wrap_int(npg_dtype dt, int64_t i);
/* A double as the int64 a fill or weak scalar of dtype dt carries: truncated
 * and saturated to int64, NaN 0; for uint64 above int64's range, the bits of
 * the saturated uint64. */
int64_t npg__f64_to_ivalue(npg_dtype dt, double v);
/* Resolve compute and output dtypes for an elementwise op on inputs of
 * dtype `in` (already promoted). Returns false (with error set, naming fn)
 * when the op does not accept that dtype. */
bool npg__elementwise_dtypes(npg_op op, const char *fn, npg_dtype in, npg_dtype *compute, npg_dtype *out);

/* ---- shapes (shape.c) ---- */
int64_t npg__numel(int ndim, const int64_t *shape);
void npg__contiguous_strides(int ndim, const int64_t *shape, int64_t *strides);
bool npg__is_contiguous(const npg_array *x);
/* Broadcast two shapes into out (error names fn). */
bool npg__broadcast_shapes(const char *fn, int na, const int64_t *a, int nb, const int64_t *b, int *nout, int64_t *out);
/* Normalise an axis into [0, ndim); false and NPG_ERR_AXIS on error. */
bool npg__norm_axis(const char *fn, int axis, int ndim, int *out);
/* Normalise a set of axes into a bitmask (all axes when axes.n == 0). */
bool npg__axes_mask(const char *fn, npg_axes axes, int ndim, uint32_t *mask);

/* ---- arrays and storage (array.c) ---- */
/* Resolve the device (default -> process default) and find its backend;
 * errors name fn. */
bool npg__resolve_device(const char *fn, npg_device d, npg_device *out, const npg_backend **be);
const npg_backend *npg__backend_of(const npg_array *x);
/* ---- half operands run in float32 (half.c) ---- */
#define NPG_WIDE_MAX 6
typedef struct npg_wide_slot {
    const npg_tdesc *orig; /* the caller's half descriptor */
    npg_tdesc w;           /* its float32 stand-in */
    void *buf;
    size_t nbytes;
    bool store; /* convert back into orig after the kernel */
} npg_wide_slot;
typedef struct npg_wide {
    const npg_backend *be;
    int dev;
    npg_status st;
    int n;
    npg_wide_slot s[NPG_WIDE_MAX];
} npg_wide;
void npg__wide_begin(npg_wide *w, const npg_backend *be, int dev);
/* d itself unless it is float16 / bfloat16, else a float32 stand-in that
 * lives until npg__wide_end: _in holds d's values, _out is converted into d
 * by npg__wide_end, _inout both. NULL passes through. */
const npg_tdesc *npg__wide_in(npg_wide *w, const npg_tdesc *d);
const npg_tdesc *npg__wide_out(npg_wide *w, const npg_tdesc *d);
const npg_tdesc *npg__wide_inout(npg_wide *w, const npg_tdesc *d);
/* NPG_OK, or the status of a failed scratch allocation / conversion (the
 * kernel must then not run). */
npg_status npg__wide_status(const npg_wide *w);
/* After the kernel (its status st): store the outputs when st is NPG_OK,
 * release the scratch, return the first failure. */
npg_status npg__wide_end(npg_wide *w, npg_status st);
/* x, or (float16 / bfloat16) its float32 copy, differentiable, in the current
 * scope. Composed ops whose intermediates leave the half range (squares and
 * their sums: var, std, logsumexp, norms, normalisation layers, distances) run on such
 * copies and round their result once, as PyTorch's single kernels do
 * (NPG_HALF_VIA_F32). */
npg_array *npg__as_f32(npg_array *x);
/* In such an op, after its argument checks: when dt (its result dtype) is a
 * half type, return CALL (the op on npg__as_f32 copies) rounded to dt. */
#define NPG_HALF_VIA_F32(fn, dt, CALL)                                   \
    do {                                                                 \
        if (npg__is_half(dt)) {                                          \
            npg_scope s_ = npg_scope_begin();                            \
            return npg__finish((fn), s_, npg__cast((CALL), (dt)));       \
        }                                                                \
    } while (0)
/* The backend's family entries with half operands widened as above; the
 * same arguments and contracts as backend.h's. */
npg_status npg__k_reduce(const npg_backend *be, int dev, npg_op op, const npg_tdesc *out, const npg_tdesc *in,
                         int nred);
npg_status npg__k_scan(const npg_backend *be, int dev, npg_op op, const npg_tdesc *out, const npg_tdesc *in,
                       int axis);
npg_status npg__k_scatter_add(const npg_backend *be, int dev, const npg_tdesc *out, const npg_tdesc *src,
                              const npg_tdesc *idx, int axis);
npg_status npg__k_matmul(const npg_backend *be, int dev, const npg_tdesc *out, const npg_tdesc *a,
                         const npg_tdesc *b, bool allow_tf32);
npg_status npg__k_random(const npg_backend *be, int dev, npg_op op, const npg_tdesc *out, uint64_t seed,
                         uint64_t offset, const npg_kparams *p);
npg_status npg__k_sort(const npg_backend *be, int dev, const npg_tdesc *values, const npg_tdesc *indices,
                       const npg_tdesc *in, bool descending);
npg_status npg__k_nonzero(const npg_backend *be, int dev, const npg_tdesc *out, const npg_tdesc *in);
npg_status npg__k_softmax(const npg_backend *be, int dev, const npg_tdesc *out, const npg_tdesc *in, bool log);
npg_status npg__k_softmax_backward(const npg_backend *be, int dev, const npg_tdesc *gin, const npg_tdesc *g,
                                   const npg_tdesc *y, bool log);
npg_status npg__k_cross_entropy(const npg_backend *be, int dev, const npg_tdesc *loss, const npg_tdesc *lse,
                                const npg_tdesc *x, const npg_tdesc *labels, double eps, bool has_ignore,
                                int64_t ignore_index);
npg_status npg__k_cross_entropy_backward(const npg_backend *be, int dev, const npg_tdesc *gx,
                                         const npg_tdesc *gloss, const npg_tdesc *x, const npg_tdesc *lse,
                                         const npg_tdesc *labels, double eps, bool has_ignore,
                                         int64_t ignore_index);
npg_status npg__k_im2col(const npg_backend *be, int dev, const npg_tdesc *cols, const npg_tdesc *x,
                         const npg_conv_geom *g);
npg_status npg__k_col2im(const npg_backend *be, int dev, const npg_tdesc *x, const npg_tdesc *cols,
                         const npg_conv_geom *g);
npg_status npg__k_pool2d(const npg_backend *be, int dev, bool is_max, const npg_tdesc *out,
                         const npg_tdesc *argmax, const npg_tdesc *x, const npg_conv_geom *g);
npg_status npg__k_pool2d_backward(const npg_backend *be, int dev, bool is_max, const npg_tdesc *gx,
                                  const npg_tdesc *gout, const npg_tdesc *argmax, const npg_conv_geom *g);
npg_status npg__k_sgd_step(const npg_backend *be, int dev, const npg_tdesc *param, const npg_tdesc *grad,
                           const npg_tdesc *buf, const npg_sgd_hp *hp);
npg_status npg__k_adam_step(const npg_backend *be, int dev, const npg_tdesc *param, const npg_tdesc *grad,
                            const npg_tdesc *m, const npg_tdesc *v, const npg_adam_hp *hp);

npg_device npg__device_of(const npg_array *x);
bool npg__same_device(const npg_array *a, const npg_array *b);
/* NPG_ERR_DEVICE, naming fn and both devices, unless xs[0..n) share one. */
bool npg__check_devices(const char *fn, int n, npg_array *const *xs);
/* A new contiguous array with uninitialised data, registered in the current
 * scope (refcount 1). */
npg_array *npg__alloc(const char *fn, npg_dtype dtype, int ndim, const int64_t *shape, npg_device device);
/* Like npg__alloc on x's device. */
npg_array *npg__alloc_like_dev(const char *fn, npg_dtype dtype, int ndim, const int64_t *shape, const npg_array *x);
/* A new array struct viewing x's storage with the given geometry (storage
 * retained, scope-registered, no grad info). */
npg_array *npg__view_raw(npg_array *x, int ndim, const int64_t *shape, const int64_t *strides, int64_t offset);
/* An array over memory npg did not allocate (elements at data + (offset +
 * sum i_k strides_k) * itemsize, all within nbytes); deleter(data, ctx) runs
 * when the last array using it is released. A 0 stride over a dim > 1 makes
 * it read-only. Fails (no deleter call) on a bad device. [new] */
npg_array *npg__wrap_external(const char *fn, npg_dtype dtype, int ndim, const int64_t *shape,
                              const int64_t *strides, int64_t offset, npg_device device, void *data, size_t nbytes,
                              void (*deleter)(void *data, void *ctx), void *ctx);
/* Remove x from its scope without releasing it: the caller now owns the
 * reference. */
void npg__unscope(npg_array *x);
/* Register an unscoped array in the current scope (if any). */
void npg__scope_adopt(npg_array *x);
/* Build a kernel descriptor for x. */
void npg__desc(const npg_array *x, npg_tdesc *d);
void npg__desc_scalar(npg_dtype dtype, double v, npg_tdesc *d);
/* Descriptor of x broadcast to (ndim, shape) (x's shape must broadcast). */
void npg__desc_bcast(const npg_array *x, int ndim, const int64_t *shape, npg_tdesc *d);
/* Merge adjacent dims that are contiguous in every descriptor. */
void npg__coalesce(int n, npg_tdesc **descs);
/* Bump x's storage version. */
static inline void npg__bump_version(npg_array *x) { x->storage->version++; }
/* Check that x may be written in place by fn (not read-only, not a leaf
 * requiring grad outside no-grad mode). */
bool npg__check_writable(const char *fn, const npg_array *x);

/* A new array object viewing all of x (same geometry), differentiable. */
npg_array *npg__alias(npg_array *x);
/* Release a reference held by library code (not the scope's). */
void npg__release(npg_array *x);

/* ---- core ops used internally (ops_*.c); all scope-registered [new] ---- */
/* x itself (borrowed: no new reference) if it already has dtype, else a
 * converted copy [new]; differentiable between floats. */
npg_array *npg__cast(npg_array *x, npg_dtype dtype);
npg_array *npg__unary(npg_op op, const char *fn, npg_array *x, const npg_kparams *p);
npg_array *npg__binary(npg_op op, const char *fn, npg_array *a, npg_array *b);
npg_array *npg__binary_scalar(npg_op op, const char *fn, npg_array *a, double s, bool scalar_first);
npg_array *npg__reduce(npg_op op, const char *fn, npg_array *x, npg_axes axes, bool keepdims);
/* The least and greatest element of a non-empty integer array, read on the
 * host (synchronises; uint64 values above INT64_MAX read as INT64_MAX);
 * false with an error set on failure. */
bool npg__min_max_int(npg_array *x, int64_t *lo, int64_t *hi);
/* The checks of layer_norm and rms_norm (nn.c): x not NULL, 1 <= k <= ndim,
 * weight and bias NULL or of the last k axes' shape, one device; *axes gets
 * the last k axes. */
bool npg__norm_args(const char *fn, npg_array *x, int k, npg_array *weight, npg_array *bias, npg_axes *axes);
/* Sum grad g down to shape (ndim, shape) (undo broadcasting). */
npg_array *npg__sum_to(npg_array *g, int ndim, const int64_t *shape);
/* strided scatter: zeros(shape) with view(geometry) = g. */
npg_array *npg__strided_scatter(npg_array *g, int ndim, const int64_t *shape, int vndim, const int64_t *vshape,
                                const int64_t *vstrides, int64_t voffset);
/* A view of contiguous-equivalent x with the given geometry (relative to a
 * C-contiguous layout of x). Differentiable. */
npg_array *npg__strided_view(npg_array *x, int vndim, const int64_t *vshape, const int64_t *vstrides,
                             int64_t voffset);
/* zeros(shape) + src scatter-added at idx along axis (differentiable in src). */
npg_array *npg__scatter_add_zeros(int ndim, const int64_t *shape, npg_array *src, npg_array *idx, int axis);
npg_array *npg__gather(npg_array *x, npg_array *idx, int axis);

/* ---- autograd (autograd.c) ---- */
typedef struct npg_meta {
    npg_dtype dtype;
    int ndim;
    int64_t shape[NPG_MAX_DIMS];
    npg_device device;
} npg_meta;

/* A leaf's gradient accumulator: edges point here, not at the leaf, so a
 * graph stored in x.grad (create_graph) does not keep x alive. */
/* A gradient hook (npg_register_hook), in a singly linked list kept in
 * registration order. */
typedef struct npg_hook {
    int id;
    npg_grad_hook fn;
    void *ctx;
    void (*ctx_free)(void *ctx);
    struct npg_hook *next;
} npg_hook;

typedef struct npg_leafacc {
    int refcount;
    npg_array *leaf;      /* weak: cleared when the leaf is freed */
    npg_hook *hooks;      /* owned: run on each pass's gradient before it reaches .grad */
} npg_leafacc;

typedef struct npg_edge {
    struct npg_node *node; /* producer of the input (owned ref), or NULL */
    npg_leafacc *acc;      /* accumulator of a leaf requiring grad (owned ref), or NULL */
} npg_edge;

typedef struct npg_saved {
    npg_array *arr;   /* owned reference (unscoped) */
    uint64_t version; /* storage version at save time */
    bool is_output;   /* saved output: re-attached to the node on unpack */
} npg_saved;

#define NPG_MAX_SAVED 4

struct npg_node;
/* A backward rule: given the output gradient, produce one gradient per
 * input (NULL where the input needs none or the rule gives none). Written
 * with public ops. Returns NPG_OK or an error. */
typedef npg_status (*npg_backward_fn)(struct npg_node *n, npg_array *gout, npg_array **gin);

typedef struct npg_node {
    npg_op op;
    const char *name;
    npg_backward_fn backward;
    int refcount;
    uint64_t seq;          /* creation order */
    bool released;         /* saved arrays freed by a backward */
    int n_in;
    npg_edge *edges;       /* n_in */
    npg_meta *in_meta;     /* n_in */
    npg_meta out_meta;
    npg_saved saved[NPG_MAX_SAVED]; /* slot i < 3: input i; slot 3: the output */
    /* op parameters */
    bool has_scalar;               /* binary op with a weak scalar operand */
    bool scalar_first;             /* s OP x rather than x OP s */
    double scalar;
    npg_kparams p;
    npg_axes axes;
    bool keepdims;
    int axis;
    int vndim;                     /* strided-view geometry (views) */
    int64_t vshape[NPG_MAX_DIMS];
    int64_t vstrides[NPG_MAX_DIMS];
    int64_t voffset;
    void *extra;                   /* owned, freed with free() unless extra_free is set */
    void (*extra_free)(void *extra);        /* frees extra when the node goes (optional) */
    void (*extra_release)(void *extra);     /* drops saved arrays in extra after a backward (optional) */
    npg_hook *hooks;               /* owned: run on the output's gradient before the rule */
    /* backward bookkeeping */
    npg_array *grad_acc;
    int pending;
    int mark;
} npg_node;

bool npg__grad_enabled(void);
/* Set this thread's no-grad nesting depth (0: grad mode on); returns the old
 * one (npg_checkpoint recomputes with grad on inside a backward). */
int npg__no_grad_depth_set(int depth);

/* A record of the (seed, stream offset) pairs this thread's random draws
 * used, to draw the same numbers again (npg_checkpoint's recompute). While a
 * tape is set on a thread (npg__rng_tape_set), draws append to it, or, when
 * replaying, take its entries in order (then fresh ones once it runs out). */
typedef struct npg_rng_tape {
    bool replay;
    bool failed; /* an append ran out of memory: replaying would not be faithful */
    int64_t len, cap, pos;
    uint64_t (*e)[2]; /* seed, offset */
} npg_rng_tape;
npg_rng_tape *npg__rng_tape_set(npg_rng_tape *t); /* returns the previous tape */
/* True if any input requires grad and grad mode is on (and the op is
 * differentiable). */
bool npg__needs_grad(int n, npg_array *const *inputs);
/* Create a node for op with inputs; attaches it to out (out->grad_fn,
 * out->requires_grad). Returns the node for saving/params or NULL on OOM
 * (error set; out is left without a graph). */
npg_node *npg__record(npg_op op, npg_array *out, int n, npg_array *const *inputs);
/* The same for a binary op with a weak scalar operand (the rule's save mask
 * for that form applies). */
npg_node *npg__record_ex(npg_op op, npg_array *out, int n, npg_array *const *inputs, bool has_scalar);
/* Save x into slot (0..2 inputs, 3 output) for backward; done by
 * npg__record from the op's save mask, callable for extra arrays. */
bool npg__save(npg_node *n, int slot, npg_array *x, bool is_output);
#define NPG_SAVE_OUT 3
/* Saved array of a slot, checking its version (error names the op).
 * [borrowed] — or, for a saved output while grad mode is on (create_graph),
 * a scope-owned alias attached to the node. NULL on error. */
npg_array *npg__unpack(npg_node *n, int slot);
/* Which slots an op saves: bit i = input i, bit 3 = output. */
unsigned npg__save_mask(npg_op op, bool has_scalar);
/* Does input i of n need a gradient? */
static inline bool npg__needs_input_grad(const npg_node *n, int i) { return n->edges[i].node || n->edges[i].acc; }
void npg__node_release(npg_node *n);
/* The leaf is going away: clear the accumulator's weak pointer, drop the leaf's reference. */
void npg__leafacc_detach(npg_leafacc *acc);
npg_backward_fn npg__backward_fn(npg_op op);
/* rules that live beside their forward (nn.c) */
npg_status npg__bw_softmax(npg_node *n, npg_array *g, npg_array **gin);
npg_status npg__bw_custom(npg_node *n, npg_array *g, npg_array **gin); /* custom.c */
npg_status npg__bw_log_softmax(npg_node *n, npg_array *g, npg_array **gin);
npg_status npg__bw_cross_entropy(npg_node *n, npg_array *g, npg_array **gin);
/* nn.c's unfold / fold kernels, recorded for autograd (each the other's
 * backward): cols = im2col(x): (N, C, H, W) -> (N, C*KH*KW, OH*OW); x =
 * col2im(cols), overlapping taps summed. [new] */
npg_array *npg__im2col(npg_array *x, const npg_conv_geom *g);
npg_array *npg__col2im(npg_array *cols, const npg_conv_geom *g);
/* The fused max-pool kernel over x (contiguous-equivalent, N, C, H, W) with
 * geometry g, recorded for autograd (floating x), in the caller's scope;
 * fn names errors. Windows with no element of x are the kernel's. [new] */
npg_array *npg__max_pool_run(const char *fn, npg_array *x, const npg_conv_geom *g);
/* Losses (nn.c): whether r is a known reduction (else an error naming fn);
 * l itself (NONE), its sum or its mean; NULL for a NULL l. */
bool npg__check_reduction(const char *fn, npg_reduction r);
npg_array *npg__reduce_loss(npg_array *l, npg_reduction r);
/* Adaptive pooling along one axis (nn_layers.c): the mean (is_max false) or
 * the first maximum over each of `out` windows [floor(i in / out),
 * ceil((i + 1) in / out)) of axis `axis` of x (length in). The windows'
 * elements are gathered into a new axis, padded to the longest window by
 * repeating its last element: masked out of the mean (so a padded tap never
 * meets a non-finite value), never winning the max (argmax keeps the first),
 * so the max's gradient reaches one element. Differentiable. [new] */
npg_array *npg__adaptive_pool_axis(const char *fn, npg_array *x, int axis, int64_t in, int64_t out, bool is_max);
/* A malloc'd copy of g (a node's extra). */
void *npg__geom_copy(const npg_conv_geom *g);
npg_status npg__bw_im2col(npg_node *n, npg_array *g, npg_array **gin);
npg_status npg__bw_col2im(npg_node *n, npg_array *g, npg_array **gin);
npg_status npg__bw_max_pool2d(npg_node *n, npg_array *g, npg_array **gin);

/* ---- dispatch helpers ---- */
extern bool npg__tf32; /* process-wide TF32 permission (npg_set_allow_tf32); read with __atomic_load_n */

#endif /* NPG_INTERNAL_H */
