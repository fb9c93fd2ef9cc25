/*
 * npg.h — NumPy-style n-dimensional arrays with reverse-mode automatic
 * differentiation, on the CPU (C kernels, OpenBLAS) and NVIDIA GPUs (CUDA,
 * cuBLAS, cuRAND). This header is the manual.
 *
 * OVERVIEW
 *   An npg_array has a dtype, a shape of up to NPG_MAX_DIMS (8) dimensions,
 *   strides, and a device. Ops follow NumPy / the Python array API standard:
 *   broadcasting everywhere, type promotion decided by dtypes alone, views for
 *   reshape/transpose/slicing. An op whose inputs require grad records a node;
 *   npg_backward replays the graph backwards on the device that holds the data.
 *
 * OWNERSHIP (read this once; every function below says which rule applies)
 *   [new]      The function returns a new reference. Outside any scope the
 *              caller owns it and releases it with npg_free. Inside
 *              npg_scope_begin()/npg_scope_end() the innermost scope owns it
 *              and releases it at the end (npg_keep hands it outwards; calling
 *              npg_free on it earlier is allowed and removes it from the scope).
 *   [borrowed] The result belongs to the argument; do not free it; it stays
 *              valid while the argument lives and is not modified.
 *   Arguments are never consumed: ops take their own references where they
 *   need them (autograd nodes keep what backward needs), so freeing an
 *   intermediate never breaks a later backward.
 *
 * ERRORS
 *   Functions returning npg_array* return NULL on failure; functions returning
 *   npg_status return NPG_OK (0) or a negative code. The thread-local last
 *   error holds the code and a message naming the function and the operands
 *   (npg_last_status, npg_last_error). Every op accepts NULL inputs and returns
 *   NULL without overwriting the error that produced the NULL, so a whole
 *   expression can be checked once at the end. On failure nothing leaks and no
 *   input is modified. Nothing a caller can do makes npg abort or exit.
 *
 * DEVICES
 *   npg_device{0} means "the process default", which starts from the
 *   environment variable NPG_DEVICE (cpu, cuda, cuda:N, auto). Ops require all
 *   array operands on one device; npg_to moves data (differentiably). CUDA work
 *   is asynchronous on one stream per device; reading values on the host
 *   (npg_copy_to_host, npg_item, npg_print) synchronises.
 *
 * THREADS
 *   Any number of threads may call npg at once. Per thread: the last error,
 *   the scope stack (scopes left open end when the thread exits) and no-grad
 *   mode. Process-wide, and safe to change while other threads run ops: the
 *   default device, npg_set_allow_tf32, the log callback, the global random
 *   generator (each draw takes its own stream offset atomically). Arrays may
 *   be shared between threads and freed on any thread: reference counts are
 *   atomic, so threads may read one array at once (ops, views, inference
 *   with shared weights, recording graphs on a shared leaf). Threads may run
 *   backward passes through one shared leaf at once (data-parallel training
 *   on shared weights): each pass gathers its own gradients and adds them to
 *   the leaf's .grad under a per-leaf lock, so every pass counts. npg does
 *   not lock an array's data otherwise: concurrent writes to one array
 *   (in-place ops, optimizer steps, npg_zero_grad) and reading .grad while
 *   another thread's backward adds to it need the caller's own
 *   synchronisation, as would writes to one C array; and one recorded graph
 *   (its non-leaf nodes) is backwarded by one thread at a time. An array a scope owns is released by that scope's
 *   thread: hand arrays over with npg_keep or npg_retain. On CUDA each
 *   device keeps one stream for all threads, so their work is ordered, and a
 *   deferred index error is reported to whichever thread synchronises next.
 *   The ThreadSanitizer check in tests/tsan holds the library to this.
 *
 * WEAK SCALARS
 *   The *_scalar forms take a plain C double that adopts the array's dtype and
 *   device and never allocates device memory: int32 array * 2 stays int32,
 *   float32 array + 1.5 stays float32. C doubles carry no int/float kind, so
 *   the value is converted to the array's dtype (an int32 array times 0.5
 *   multiplies by 0); cast the array with npg_astype first to compute in
 *   floating point. Into an integer dtype the double is truncated,
 *   saturated to int64 and then wrapped to the dtype's width, as PyTorch
 *   wraps Python ints (int8 array + 200 adds -56; a uint64 array takes
 *   values up to 2^64 - 1 as they are).
 */
#ifndef NPG_H
#define NPG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NPG_VERSION_MAJOR 0
#define NPG_VERSION_MINOR 1
#define NPG_VERSION_PATCH 0
#define NPG_VERSION "0.1.0"

#define NPG_MAX_DIMS 8

/* ========================================================================
 * Types
 * ======================================================================== */

typedef struct npg_array npg_array;         /* opaque */
typedef struct npg_generator npg_generator; /* opaque random generator */

/* Element types. 0 means "the default" (float32 for creation functions). */
typedef enum npg_dtype {
    NPG_DTYPE_DEFAULT = 0,
    NPG_BOOL,
    NPG_UINT8,
    NPG_INT32,
    NPG_INT64,
    NPG_FLOAT32,
    NPG_FLOAT64,
    /* IEEE binary16 and bfloat16 (8-bit exponent, 7-bit mantissa). Every op
     * on them computes in float32 and rounds its result once (PyTorch's CPU
     * semantics); an op composed of several steps rounds after each, except
     * those whose intermediates leave float16's range or cancel (var, std,
     * logsumexp, the norms, the normalisation layers, distances), which run
     * wholly in float32.
     * Conversions round to nearest even with the same bits on every device
     * (a float16 NaN keeps its sign and payload's top and is quieted, as
     * x86's F16C converts it; a bfloat16 NaN is 0x7fc0 with its sign; casts
     * between float32 and float64 keep NaN bits as x86 does on CUDA too,
     * but a NaN computed by arithmetic is a GPU's one canonical NaN there);
     * a weak scalar takes the half type's rounding. float16 or bfloat16
     * with an integer or bool gives the half type; with float32 / float64
     * the wider float; float16 with bfloat16 gives float32. Optimizers keep
     * float32 state for half parameters (npg/nn.h: npg_grad_scaler for
     * float16 training). Linear algebra (npg/linalg.h) and npg_nextafter
     * refuse them (NPG_ERR_DTYPE). */
    NPG_FLOAT16,
    NPG_BFLOAT16,
    /* The array API's other integers (appended, so the values above keep
     * their numbers). Integer arithmetic wraps (two's complement), as in
     * NumPy and PyTorch. Promotion follows the array API: within a kind the
     * wider type; a signed with an unsigned integer gives the smallest
     * signed type holding both (uint8 + int8 -> int16, uint32 + int32 ->
     * int64); uint64 with a signed integer gives float64 (NumPy's choice,
     * the array API leaves it open); an integer with a float gives the
     * float. sum, prod and the cumulative ones give int64 for every integer
     * except uint64, which keeps uint64 (the same bits wrapped either way). */
    NPG_INT8,
    NPG_INT16,
    NPG_UINT16,
    NPG_UINT32,
    NPG_UINT64,
    NPG_DTYPE_COUNT
} npg_dtype;

typedef enum npg_device_type {
    NPG_DEVICE_DEFAULT = 0,
    NPG_DEVICE_CPU = 1,
    NPG_DEVICE_CUDA = 2,
    NPG_DEVICE_TYPE_COUNT
} npg_device_type;

/* A device; the zero value is the process default device. */
typedef struct npg_device {
    npg_device_type type;
    int index;
} npg_device;

#define NPG_DEFAULT_DEVICE ((npg_device){NPG_DEVICE_DEFAULT, 0})
#define NPG_CPU ((npg_device){NPG_DEVICE_CPU, 0})
#define NPG_CUDA(i) ((npg_device){NPG_DEVICE_CUDA, (i)})

/* A shape: NPG_SHAPE(2, 3). A 0-d shape is NPG_SHAPE0. */
typedef struct npg_shape {
    int ndim;
    int64_t dims[NPG_MAX_DIMS];
} npg_shape;

#define NPG_SHAPE(...)                                                              \
    ((npg_shape){.ndim = (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), \
                 .dims = {__VA_ARGS__}})
#define NPG_SHAPE0 ((npg_shape){.ndim = 0})

/* A set of axes: NPG_AXES(0, 2). The zero value (NPG_ALL_AXES) means every
 * axis. Negative axes count from the end. */
typedef struct npg_axes {
    int n;
    int axes[NPG_MAX_DIMS];
} npg_axes;

#define NPG_AXES(...)                                                        \
    ((npg_axes){.n = (int)(sizeof((int[]){__VA_ARGS__}) / sizeof(int)), \
                .axes = {__VA_ARGS__}})
#define NPG_ALL_AXES ((npg_axes){.n = 0})

/* "No axis": flatten first (argmax, repeat, sort with NumPy's axis=None). */
#define NPG_FLAT INT32_MIN

/* Options for functions that create arrays. Zero fields mean defaults:
 * dtype float32 (or the function's documented default), the default device,
 * requires_grad false, the global generator. Pass NULL for all defaults. */
typedef struct npg_opts {
    npg_dtype dtype;
    npg_device device;
    bool requires_grad;
    npg_generator *generator;
} npg_opts;

#define NPG_OPTS(...) (&(const npg_opts){__VA_ARGS__})

/* Status codes: 0 is success, errors are negative. */
typedef enum npg_status {
    NPG_OK = 0,
    NPG_ERR_NULL_ARG = -1,     /* a required argument was NULL */
    NPG_ERR_INVALID_ARG = -2,  /* an argument has an invalid value */
    NPG_ERR_SHAPE = -3,        /* shapes do not match / cannot broadcast */
    NPG_ERR_DTYPE = -4,        /* dtype not supported by the operation */
    NPG_ERR_AXIS = -5,         /* axis out of range or repeated */
    NPG_ERR_INDEX = -6,        /* index out of range */
    NPG_ERR_DEVICE = -7,       /* device unavailable or operands on different devices */
    NPG_ERR_OOM = -8,          /* out of memory (host or device) */
    NPG_ERR_INPLACE = -9,      /* in-place write conflicts with autograd */
    NPG_ERR_AUTOGRAD = -10,    /* misuse of backward / graph already freed */
    NPG_ERR_IO = -11,          /* file could not be read or written */
    NPG_ERR_FORMAT = -12,      /* malformed or unsupported file contents */
    NPG_ERR_UNSUPPORTED = -13, /* op not implemented for this dtype/device */
    NPG_ERR_GRADCHECK = -14,   /* npg_gradcheck found a mismatch */
    NPG_ERR_CUDA = -15,        /* a CUDA runtime/library error */
    NPG_ERR_INTERNAL = -16,    /* a bug in npg */
    NPG_ERR_LINALG = -17       /* a matrix is singular or not positive definite, or a decomposition did
                                  not converge (NumPy's LinAlgError) */
} npg_status;

/* A scope: arrays created between npg_scope_begin and npg_scope_end are
 * released at the end. */
typedef struct npg_scope {
    int depth;
} npg_scope;

/* ========================================================================
 * Errors and logging
 * ======================================================================== */

/* The status of the last failed call on this thread (NPG_OK if none). */
npg_status npg_last_status(void);
/* The message of the last failed call on this thread ("" if none). [borrowed] */
const char *npg_last_error(void);
/* A static description of a status code. [borrowed, static] */
const char *npg_status_string(npg_status status);
/* Clear this thread's last error. */
void npg_clear_error(void);

typedef enum npg_log_level { NPG_LOG_DEBUG = 0, NPG_LOG_INFO, NPG_LOG_WARN, NPG_LOG_ERROR } npg_log_level;
typedef void (*npg_log_fn)(npg_log_level level, const char *message, void *user);
/* Route library log messages (warnings, errors) to fn; NULL restores stderr.
 * Messages below min_level are dropped (default NPG_LOG_WARN). */
void npg_set_log_callback(npg_log_fn fn, void *user, npg_log_level min_level);

/* ========================================================================
 * Memory: reference counts and scopes
 * ======================================================================== */

/* Release one reference to x (NULL is a no-op). If x is owned by an active
 * scope it is removed from that scope. */
void npg_free(npg_array *x);
/* Take an extra reference to x; the caller must npg_free it. Returns x. */
npg_array *npg_retain(npg_array *x);
/* Begin a scope: every array created on this thread until the matching
 * npg_scope_end is owned by it. Scopes nest. */
npg_scope npg_scope_begin(void);
/* End scope s (and any inner scope left open), releasing what it owns.
 * Scopes a thread leaves open end when the thread exits. */
void npg_scope_end(npg_scope s);
/* Move x out of the innermost scope to the enclosing one (at the top level:
 * to the caller, who then frees it). Returns x. NULL passes through. */
npg_array *npg_keep(npg_array *x);

/* ========================================================================
 * Dtypes
 * ======================================================================== */

/* Name of a dtype ("float32"). [static] */
const char *npg_dtype_name(npg_dtype dtype);
/* Bytes per element (0 for an invalid dtype). */
size_t npg_dtype_size(npg_dtype dtype);
/* The dtype two operands promote to (array API rules; int with float gives
 * the float; bool with a number gives the number). */
npg_dtype npg_result_type(npg_dtype a, npg_dtype b);
bool npg_is_floating(npg_dtype dtype); /* float16, bfloat16, float32, float64 */
bool npg_is_integer(npg_dtype dtype); /* uint8, int32, int64 (not bool) */

/* ========================================================================
 * Creation — every function here returns [new]
 * ======================================================================== */

/* Copy n = prod(shape) row-major elements of type `dtype` from host memory.
 * The result has opts->dtype (default: `dtype`), converting values. Host
 * float16 / bfloat16 elements are uint16_t bit patterns; to make a half
 * array from float data pass NPG_FLOAT32 and .dtype = NPG_FLOAT16. */
npg_array *npg_from_data(const void *data, npg_dtype dtype, npg_shape shape, const npg_opts *opts);
/* A 0-d array holding v (default dtype float32). */
npg_array *npg_scalar(double v, const npg_opts *opts);
/* A 0-d int64 (or opts->dtype) array holding v exactly. */
npg_array *npg_scalar_int(int64_t v, const npg_opts *opts);
/* Uninitialised contents. */
npg_array *npg_empty(npg_shape shape, const npg_opts *opts);
npg_array *npg_zeros(npg_shape shape, const npg_opts *opts);
npg_array *npg_ones(npg_shape shape, const npg_opts *opts);
npg_array *npg_full(npg_shape shape, double value, const npg_opts *opts);
/* *_like: x's shape; opts' dtype/device default to x's (not opts' defaults). */
npg_array *npg_empty_like(const npg_array *x, const npg_opts *opts);
npg_array *npg_zeros_like(const npg_array *x, const npg_opts *opts);
npg_array *npg_ones_like(const npg_array *x, const npg_opts *opts);
npg_array *npg_full_like(const npg_array *x, double value, const npg_opts *opts);
/* Values start, start+step, ... < stop (> stop for negative step); 1-d.
 * Default dtype float32; pass .dtype = NPG_INT64 for integers. */
npg_array *npg_arange(double start, double stop, double step, const npg_opts *opts);
/* n evenly spaced values from start to stop inclusive; 1-d. */
npg_array *npg_linspace(double start, double stop, int64_t n, const npg_opts *opts);
/* The n x n identity matrix. */
npg_array *npg_eye(int64_t n, const npg_opts *opts);
/* A copy of x with dtype `dtype` (a copy even when the dtype is the same).
 * Differentiable between floating dtypes. */
npg_array *npg_astype(npg_array *x, npg_dtype dtype);
/* A contiguous copy of x (differentiable). */
npg_array *npg_copy(npg_array *x);

/* ========================================================================
 * Random numbers (Philox-4x32-10; identical bits on CPU and CUDA)
 * ======================================================================== */

/* Seed the global generator (and reset its stream offset). */
void npg_seed(uint64_t seed);
/* A new generator with its own seed and offset. [caller frees with
 * npg_generator_free] */
npg_generator *npg_generator_new(uint64_t seed);
void npg_generator_free(npg_generator *gen);
/* Each call below consumes one stream offset of opts->generator (default:
 * the global one): a value depends only on (seed, offset, element index).
 * All return [new]; default dtype float32 (randint: int64, permutation: int64).
 * randint takes any integer dtype; [low, high) must lie within its range
 * (NPG_ERR_INVALID_ARG otherwise; for uint64 the int64 bounds limit it). */
npg_array *npg_rand(npg_shape shape, const npg_opts *opts);                           /* U[0,1) */
npg_array *npg_uniform(double low, double high, npg_shape shape, const npg_opts *opts); /* U[low,high) */
npg_array *npg_randn(npg_shape shape, const npg_opts *opts);                          /* N(0,1) */
npg_array *npg_normal(double mean, double std, npg_shape shape, const npg_opts *opts);
npg_array *npg_randint(int64_t low, int64_t high, npg_shape shape, const npg_opts *opts); /* [low,high) */
/* A random permutation of 0..n-1. */
npg_array *npg_permutation(int64_t n, const npg_opts *opts);
/* Sampling from given probabilities (PyTorch's). gen NULL: the global
 * generator; each call consumes one offset of it, so a seed gives the same
 * draws on every device. The results carry no gradient. [new] each.
 * bernoulli: 1 with probability p, else 0, elementwise; p's shape and
 * dtype (the default float for integer and bool p); p below 0 counts as 0,
 * above 1 as 1, NaN gives NaN (PyTorch: an error). */
npg_array *npg_bernoulli(npg_array *p, npg_generator *gen);
/* multinomial: num_samples category indices (int64) for each row of weights
 * ((K) -> (num_samples), (N, K) -> (N, num_samples)): non-negative, finite,
 * each row with a positive sum (need not sum to 1); without replacement a
 * row needs at least num_samples positive weights, and the indices come in
 * the order drawn. Validating the weights reads four numbers back to the
 * host (a synchronisation). */
npg_array *npg_multinomial(npg_array *weights, int64_t num_samples, bool replacement, npg_generator *gen);

/* ========================================================================
 * Properties (never fail on a valid array; on NULL they return 0 / a zero
 * value and set NPG_ERR_NULL_ARG)
 * ======================================================================== */

int npg_ndim(const npg_array *x);
npg_shape npg_shape_of(const npg_array *x);
/* Length of axis `axis` (negative counts from the end); -1 on a bad axis. */
int64_t npg_dim(const npg_array *x, int axis);
int64_t npg_size(const npg_array *x);
npg_dtype npg_dtype_of(const npg_array *x);
npg_device npg_device_of(const npg_array *x);
size_t npg_itemsize(const npg_array *x);
size_t npg_nbytes(const npg_array *x); /* size * itemsize */
/* Byte strides (NumPy's convention) into out[0..ndim-1]. */
npg_status npg_strides(const npg_array *x, int64_t *out);
bool npg_is_contiguous(const npg_array *x);
/* The storage's version counter (bumped by every in-place write). */
uint64_t npg_version(const npg_array *x);
bool npg_requires_grad(const npg_array *x);
/* True if x was not produced by a recorded op. */
bool npg_is_leaf(const npg_array *x);
/* The accumulated gradient of x, or NULL (no error) if there is none. [new] */
npg_array *npg_grad(const npg_array *x);
/* Name of the op that produced x ("MulBackward"-style: "multiply"), or NULL
 * for leaves. [static] */
const char *npg_grad_fn_name(const npg_array *x);

/* ========================================================================
 * Reading data
 * ======================================================================== */

/* Copy x's elements, row-major, in x's dtype, into dst (nbytes must be at
 * least npg_nbytes(x); half types as uint16_t bit patterns: npg_astype to
 * NPG_FLOAT32 first for numbers). Synchronises with the device. */
npg_status npg_copy_to_host(const npg_array *x, void *dst, size_t nbytes);
/* The single element of x as a double; NaN and NPG_ERR_SHAPE unless x has
 * exactly one element. */
double npg_item(const npg_array *x);
/* The single element of x as int64_t (truncated from a float, saturated;
 * a uint64 above INT64_MAX comes back as its bits: cast the result to
 * uint64_t); 0 and an error unless exactly one. */
int64_t npg_item_int(const npg_array *x);
/* Pointer to x's first element (a device pointer for CUDA arrays); strides
 * from npg_strides. [borrowed] */
void *npg_data(const npg_array *x);
/* Print x as NumPy's str() does under the print options below (a 0-d float
 * as Python's repr, "70.0", whatever the precision) to stdout / f. bfloat16
 * prints like the other floats, with the digits that read back in bfloat16. */
npg_status npg_print(const npg_array *x);
npg_status npg_fprint(FILE *f, const npg_array *x);
/* Format x into buf (always NUL-terminated when len > 0). Returns the length
 * the full text needs (excluding the NUL), like snprintf, or -1 on error. */
int64_t npg_format(const npg_array *x, char *buf, size_t len);
/* NumPy's print options (np.set_printoptions), process-wide; the defaults
 * are NumPy's. */
typedef struct npg_print_options {
    int precision;     /* at most this many digits after the point (positional) or in the
                        * mantissa (scientific), fewer when they identify the value: 8 */
    int64_t threshold; /* arrays with more elements are summarised with "...": 1000 */
    int edgeitems;     /* items shown at each end of a summarised axis: 3 */
    int linewidth;     /* characters per line: 75 */
    bool suppress;     /* no scientific notation for small values (they print as 0.):
                        * false; magnitudes >= 1e8 still switch to it, as in NumPy */
} npg_print_options;
/* The current options into *out. */
void npg_get_print_options(npg_print_options *out);
/* Set the options (NULL: the defaults). NPG_ERR_INVALID_ARG, and nothing
 * changed, for precision outside [0, 50], a negative threshold, edgeitems or
 * linewidth below 1. */
npg_status npg_set_print_options(const npg_print_options *opts);

/* ========================================================================
 * Elementwise ops — all return [new], broadcast NumPy-style, and propagate
 * NULL inputs. For every binary op npg_NAME(a, b) there are also
 *   npg_NAME_scalar(a, s)   = a OP s      (s a weak scalar)
 *   npg_scalar_NAME(s, b)   = s OP b
 * Dtype rules: arithmetic keeps the promoted dtype (bool rejected, except
 * in divide); divide and the transcendental functions give floating results
 * (integers become float32); comparisons and logical ops give bool; bitwise
 * ops take integers and bool; shifts take integers.
 * Integer arithmetic wraps on overflow; integer division or remainder by
 * zero gives 0; integer pow with a negative exponent gives 0 (1 for base
 * 1, +-1 for base -1).
 * ======================================================================== */

#define NPG_DECLARE_BINARY(name)                             \
    npg_array *npg_##name(npg_array *a, npg_array *b);       \
    npg_array *npg_##name##_scalar(npg_array *a, double s);  \
    npg_array *npg_scalar_##name(double s, npg_array *b);

NPG_DECLARE_BINARY(add)
NPG_DECLARE_BINARY(subtract)
NPG_DECLARE_BINARY(multiply)
NPG_DECLARE_BINARY(divide)       /* true division */
NPG_DECLARE_BINARY(floor_divide) /* floor(a / b), Python semantics */
NPG_DECLARE_BINARY(remainder)    /* a - floor(a/b)*b: sign of b, like Python */
NPG_DECLARE_BINARY(pow)
NPG_DECLARE_BINARY(atan2)
NPG_DECLARE_BINARY(logaddexp)    /* log(exp(a) + exp(b)), stable */
NPG_DECLARE_BINARY(copysign)     /* |a| with b's sign bit (-0.0 and NaN signs count); gradient in a only */
NPG_DECLARE_BINARY(hypot)        /* sqrt(a^2 + b^2) without overflow or underflow; gradient 0 at (0, 0) */
NPG_DECLARE_BINARY(nextafter)    /* the next representable value after a towards b (in the result dtype);
                                    not differentiable; float16 / bfloat16 are NPG_ERR_DTYPE */
NPG_DECLARE_BINARY(maximum)      /* NaN propagates */
NPG_DECLARE_BINARY(minimum)
NPG_DECLARE_BINARY(equal)
NPG_DECLARE_BINARY(not_equal)
NPG_DECLARE_BINARY(less)
NPG_DECLARE_BINARY(less_equal)
NPG_DECLARE_BINARY(greater)
NPG_DECLARE_BINARY(greater_equal)
NPG_DECLARE_BINARY(logical_and)
NPG_DECLARE_BINARY(logical_or)
NPG_DECLARE_BINARY(logical_xor)
NPG_DECLARE_BINARY(bitwise_and)
NPG_DECLARE_BINARY(bitwise_or)
NPG_DECLARE_BINARY(bitwise_xor)
NPG_DECLARE_BINARY(bitwise_left_shift)  /* shift >= width gives 0 */
NPG_DECLARE_BINARY(bitwise_right_shift) /* arithmetic; shift >= width gives 0 or -1 */

/* Unary ops: npg_NAME(x) [new]. */
npg_array *npg_negative(npg_array *x);
npg_array *npg_positive(npg_array *x); /* a copy */
npg_array *npg_abs(npg_array *x);
npg_array *npg_sign(npg_array *x);     /* -1, 0, 1 (NaN stays NaN) */
npg_array *npg_sqrt(npg_array *x);
npg_array *npg_square(npg_array *x);
npg_array *npg_exp(npg_array *x);
npg_array *npg_expm1(npg_array *x);
npg_array *npg_log(npg_array *x);
npg_array *npg_log1p(npg_array *x);
npg_array *npg_log2(npg_array *x);
npg_array *npg_log10(npg_array *x);
npg_array *npg_sin(npg_array *x);
npg_array *npg_cos(npg_array *x);
npg_array *npg_tan(npg_array *x);
npg_array *npg_asin(npg_array *x);
npg_array *npg_acos(npg_array *x);
npg_array *npg_atan(npg_array *x);
npg_array *npg_sinh(npg_array *x);
npg_array *npg_cosh(npg_array *x);
npg_array *npg_tanh(npg_array *x);
npg_array *npg_asinh(npg_array *x);
npg_array *npg_acosh(npg_array *x);
npg_array *npg_atanh(npg_array *x);
npg_array *npg_erf(npg_array *x);
npg_array *npg_floor(npg_array *x);    /* integers pass through unchanged */
npg_array *npg_ceil(npg_array *x);
npg_array *npg_trunc(npg_array *x);
/* Round half to even at `decimals` decimal places (NumPy's np.round). */
npg_array *npg_round(npg_array *x, int decimals);
npg_array *npg_reciprocal(npg_array *x); /* 1 / x, floating result */
npg_array *npg_isnan(npg_array *x);      /* bool */
npg_array *npg_isinf(npg_array *x);      /* bool */
npg_array *npg_isfinite(npg_array *x);   /* bool */
npg_array *npg_signbit(npg_array *x);    /* bool: the sign bit (true for -0.0 and negative NaNs; x < 0 for integers) */
npg_array *npg_logical_not(npg_array *x);
npg_array *npg_bitwise_invert(npg_array *x);
/* Clamp to [lo, hi]; pass NAN for an open side. Gradient 1 inside the
 * closed interval, 0 outside (PyTorch's clamp). */
npg_array *npg_clip(npg_array *x, double lo, double hi);
/* cond ? a : b, broadcasting all three; a and b promote. */
npg_array *npg_where(npg_array *cond, npg_array *a, npg_array *b);
/* cond ? a : s and cond ? s : b with a weak scalar. */
npg_array *npg_where_scalar(npg_array *cond, npg_array *a, double s);
npg_array *npg_scalar_where(npg_array *cond, double s, npg_array *b);

/* Activations (elementwise, differentiable; integers become float32 except
 * relu, which keeps integer dtypes). */
npg_array *npg_relu(npg_array *x);
npg_array *npg_leaky_relu(npg_array *x, double negative_slope);
npg_array *npg_sigmoid(npg_array *x);   /* 1 / (1 + exp(-x)), stable */
npg_array *npg_silu(npg_array *x);      /* x * sigmoid(x) */
npg_array *npg_gelu(npg_array *x);      /* x * Phi(x), the exact erf form */
npg_array *npg_gelu_tanh(npg_array *x); /* the tanh approximation */
npg_array *npg_softplus(npg_array *x);  /* log(1 + exp(x)), stable */

/* ========================================================================
 * Reductions and scans — all return [new]. `axes` = NPG_ALL_AXES reduces
 * every axis; keepdims keeps reduced axes with length 1.
 * sum/prod of bool and integers give int64 (uint8 to uint32 too), of uint64
 * uint64 (both wrap on overflow); mean, var, std and
 * logsumexp give floating results. max/min of an empty selection is an
 * NPG_ERR_SHAPE error; sum of it is 0, prod 1, mean NaN.
 * ======================================================================== */

npg_array *npg_sum(npg_array *x, npg_axes axes, bool keepdims);
npg_array *npg_mean(npg_array *x, npg_axes axes, bool keepdims);
npg_array *npg_prod(npg_array *x, npg_axes axes, bool keepdims);
/* max/min: NaN propagates; the gradient goes to the maximal elements, split
 * evenly between ties (PyTorch's amax/amin). */
npg_array *npg_max(npg_array *x, npg_axes axes, bool keepdims);
npg_array *npg_min(npg_array *x, npg_axes axes, bool keepdims);
/* Index (int64) of the first maximum/minimum along axis (NPG_FLAT: of the
 * flattened array). */
npg_array *npg_argmax(npg_array *x, int axis, bool keepdims);
npg_array *npg_argmin(npg_array *x, int axis, bool keepdims);
/* Variance / standard deviation with divisor N - correction (NumPy's ddof). */
npg_array *npg_var(npg_array *x, npg_axes axes, double correction, bool keepdims);
npg_array *npg_std(npg_array *x, npg_axes axes, double correction, bool keepdims);
npg_array *npg_all(npg_array *x, npg_axes axes, bool keepdims); /* bool */
npg_array *npg_any(npg_array *x, npg_axes axes, bool keepdims); /* bool */
/* log(sum(exp(x))), computed stably. */
npg_array *npg_logsumexp(npg_array *x, npg_axes axes, bool keepdims);
/* Cumulative sum / product along axis (NPG_FLAT: of the flattened array).
 * Bool and integer inputs give int64 (uint64 gives uint64), like npg_sum. */
npg_array *npg_cumsum(npg_array *x, int axis);
npg_array *npg_cumprod(npg_array *x, int axis);

/* ========================================================================
 * Shapes and views — views share storage with x (writes through one are
 * seen by the other). All return [new].
 * ======================================================================== */

/* New shape with the same size; one dim may be -1. A view when strides
 * allow, else a copy. */
npg_array *npg_reshape(npg_array *x, npg_shape shape);
/* 1-d (view when possible). */
npg_array *npg_flatten(npg_array *x);
/* Reorder axes: result axis i is x's axis axes.axes[i] (a permutation). */
npg_array *npg_permute_dims(npg_array *x, npg_axes axes);
/* All axes reversed (NumPy's x.T). */
npg_array *npg_T(npg_array *x);
/* Swap the last two axes (ndim >= 2). */
npg_array *npg_matrix_transpose(npg_array *x);
npg_array *npg_swapaxes(npg_array *x, int axis1, int axis2);
/* Remove the given length-1 axes (NPG_ALL_AXES: every length-1 axis). */
npg_array *npg_squeeze(npg_array *x, npg_axes axes);
/* Insert a length-1 axis at position axis (-1 appends). */
npg_array *npg_expand_dims(npg_array *x, int axis);
/* A read-only broadcast view of x with the given shape. */
npg_array *npg_broadcast_to(npg_array *x, npg_shape shape);
/* Reverse the order of elements along the given axes (a view). */
npg_array *npg_flip(npg_array *x, npg_axes axes);
/* Repeat each element `repeats` times along axis (NPG_FLAT: flatten first). */
npg_array *npg_repeat(npg_array *x, int64_t repeats, int axis);
/* Join n arrays along an existing axis / a new axis. Dtypes promote. */
npg_array *npg_concat(npg_array *const *arrays, int n, int axis);
npg_array *npg_stack(npg_array *const *arrays, int n, int axis);
/* Diagonal of the 2-d planes (axis1, axis2), offset above (>0) or below the
 * main diagonal; the diagonal axis is appended last (a view). */
npg_array *npg_diagonal(npg_array *x, int64_t offset, int axis1, int axis2);
/* Sum of that diagonal. */
npg_array *npg_trace(npg_array *x, int64_t offset, int axis1, int axis2);
/* x itself (a new reference) if C-contiguous, else a contiguous copy. */
npg_array *npg_contiguous(npg_array *x);
/* Move axes source[i] to positions destination[i]; the others keep their
 * order (NumPy's moveaxis; a view). */
npg_array *npg_moveaxis(npg_array *x, npg_axes source, npg_axes destination);
/* Elements shifted by `shift` along axis, wrapping around (NPG_FLAT: over the
 * flattened array, shape kept). A copy. */
npg_array *npg_roll(npg_array *x, int64_t shift, int axis);
/* x repeated reps.dims[i] times along each axis (NumPy's tile: the shorter of
 * x's shape and reps gets leading 1s). A copy. */
npg_array *npg_tile(npg_array *x, npg_shape reps);
/* The n = x.shape[axis] slices of x along axis, as views into out[0..n)
 * ([new] each; all NULL on failure). */
npg_status npg_unstack(npg_array *x, int axis, npg_array **out, int n);
/* Read-only views of the n arrays broadcast to their common shape, into
 * out[0..n) ([new] each; all NULL on failure). */
npg_status npg_broadcast_arrays(npg_array *const *arrays, int n, npg_array **out);
/* Coordinate grids from n one-dimensional arrays: out[i] is arrays[i] along
 * axis i, broadcast over the others (read-only views; npg_contiguous for a
 * copy). indexing "xy" (or NULL; Cartesian: the first two axes swap) or "ij"
 * (matrix). [new] each; all NULL on failure. */
npg_status npg_meshgrid(npg_array *const *arrays, int n, const char *indexing, npg_array **out);
/* The lower / upper triangle of the last two axes: elements with
 * col - row <= k (tril) or >= k (triu) kept, the others 0. */
npg_array *npg_tril(npg_array *x, int64_t k);
npg_array *npg_triu(npg_array *x, int64_t k);
/* n-th discrete difference along axis: out[i] = x[i+1] - x[i], n times (bool:
 * x[i+1] != x[i]). n = 0 copies x. */
npg_array *npg_diff(npg_array *x, int n, int axis);

/* ========================================================================
 * Indexing — a C form of NumPy basic indexing
 *
 *   NPG_INDEX(x, NPG_I(1), NPG_SLICE(NPG_NONE, NPG_NONE, -1), NPG_NEWAXIS)
 *   is x[1, ::-1, None]. NPG_ALL is ':', NPG_ELLIPSIS is '...'.
 * ======================================================================== */

typedef enum npg_idx_kind { NPG_IDX_INT = 1, NPG_IDX_SLICE, NPG_IDX_NEWAXIS, NPG_IDX_ELLIPSIS } npg_idx_kind;
typedef struct npg_idx {
    npg_idx_kind kind;
    int64_t start, stop, step; /* for NPG_IDX_INT, start is the index */
} npg_idx;

#define NPG_NONE INT64_MIN /* an omitted slice bound */
#define NPG_I(i) ((npg_idx){NPG_IDX_INT, (i), 0, 0})
#define NPG_SLICE(start, stop, step) ((npg_idx){NPG_IDX_SLICE, (start), (stop), (step)})
#define NPG_ALL ((npg_idx){NPG_IDX_SLICE, NPG_NONE, NPG_NONE, 1})
#define NPG_NEWAXIS ((npg_idx){NPG_IDX_NEWAXIS, 0, 0, 0})
#define NPG_ELLIPSIS ((npg_idx){NPG_IDX_ELLIPSIS, 0, 0, 0})
#define NPG_IDX_COUNT_(...) ((int)(sizeof((npg_idx[]){__VA_ARGS__}) / sizeof(npg_idx)))
#define NPG_INDEX(x, ...) npg_index((x), (const npg_idx[]){__VA_ARGS__}, NPG_IDX_COUNT_(__VA_ARGS__))

/* x[idx[0], ..., idx[n-1]]: a view. Integer indices may be negative. [new] */
npg_array *npg_index(npg_array *x, const npg_idx *idx, int n);
/* x[idx...] = value (broadcast to the selection, cast to x's dtype). Writes
 * in place and bumps the storage version. Fails with NPG_ERR_INPLACE when x
 * requires grad (outside no-grad mode) or the selection overlaps itself. */
npg_status npg_setitem(npg_array *x, const npg_idx *idx, int n, npg_array *value);
npg_status npg_setitem_scalar(npg_array *x, const npg_idx *idx, int n, double value);
/* Elements of x at integer `indices` (any shape, integer dtype, negative
 * wraps) along axis; the result's axis is replaced by indices' shape
 * (NumPy's take). Differentiable in x. An index out of range is an
 * NPG_ERR_INDEX error — on CUDA, where kernels run asynchronously, it is
 * reported by the next synchronising call (npg_synchronize, npg_item,
 * npg_copy_to_host...) instead, and the affected elements read 0. */
npg_array *npg_take(npg_array *x, npg_array *indices, int axis);
/* NumPy's take_along_axis: indices has x's ndim and broadcasts with x on the
 * other axes. Differentiable in x. */
npg_array *npg_take_along_axis(npg_array *x, npg_array *indices, int axis);
/* x with src added at indices along axis, out of place (PyTorch's
 * scatter_add; the adjoint of take_along_axis): out[.., indices[i], ..] +=
 * src[i] where i runs over src's elements and indices[i] replaces the axis
 * coordinate. indices (integers) and src have one shape, equal to x's on
 * every axis but `axis`; repeated indices accumulate; negative ones wrap.
 * Result dtype: x and src promoted (any integer, wrapping, or floating;
 * bool is NPG_ERR_DTYPE).
 * Differentiable in x and src. An index out of range is NPG_ERR_INDEX
 * (on CUDA reported by the next synchronising call, as in npg_take, and
 * the result then holds the in-range elements' sums). On CUDA, float32
 * (and the half types, which add in float32) accumulate with the GPU's
 * float atomics: repeated indices add in a varying order, and subnormal
 * values and sums flush to zero there (float64 and the integers are
 * exact). */
npg_array *npg_scatter_add(npg_array *x, int axis, npg_array *indices, npg_array *src);
/* x with src's slices added at the 1-d index along axis (PyTorch's
 * index_add, NumPy's np.add.at(x, index, src) for axis 0): src has x's
 * shape with that axis of the index's length. As npg_scatter_add otherwise. */
npg_array *npg_index_add(npg_array *x, int axis, npg_array *index, npg_array *src);

/* ========================================================================
 * In-place writes — each bumps the storage version of x; each fails with
 * NPG_ERR_INPLACE when x requires grad outside no-grad mode, or when x is a
 * broadcast (self-overlapping) view.
 * ======================================================================== */

/* Set every element of x to value. */
npg_status npg_fill(npg_array *x, double value);
/* Copy src into x (broadcast, cast to x's dtype). */
npg_status npg_assign(npg_array *x, npg_array *src);
/* Sort x along axis in place. */
npg_status npg_sort_inplace(npg_array *x, int axis, bool descending);

/* ========================================================================
 * Sorting and searching — [new]
 * ======================================================================== */

/* Stable sort along axis (NPG_FLAT: flattened): equal elements keep their
 * original order in both directions. NaN sorts last ascending, first
 * descending. Differentiable. */
npg_array *npg_sort(npg_array *x, int axis, bool descending);
/* The int64 indices that sort x stably along axis. */
npg_array *npg_argsort(npg_array *x, int axis, bool descending);
/* Coordinates of the nonzero elements of x (ndim >= 1): an int64 array of
 * shape (ndim, count) whose row k holds NumPy's nonzero(x)[k]. */
npg_array *npg_nonzero(npg_array *x);
/* Number of nonzero elements (-1 on error). Synchronises. */
int64_t npg_count_nonzero(npg_array *x);
/* The array API's unique functions, over the flattened x, values sorted
 * ascending; each NaN is its own value (the standard's rule). values: the
 * distinct values (x's dtype); indices: where each first occurs in the
 * flattened x; inverse: for each element of x, its value's position in
 * values (x's shape); counts: how often each occurs (int64). Any output of
 * npg_unique_all may be NULL (not computed), not all. [new] each; all NULL on
 * failure. A stable sort, a cumulative sum and gathers: O(n log n). */
npg_status npg_unique_all(npg_array *x, npg_array **values, npg_array **indices, npg_array **inverse,
                          npg_array **counts);
npg_array *npg_unique_values(npg_array *x);
npg_status npg_unique_counts(npg_array *x, npg_array **values, npg_array **counts);
npg_status npg_unique_inverse(npg_array *x, npg_array **values, npg_array **inverse);
/* For each element v of x2 (any shape): the index at which v would be
 * inserted into the ascending one-dimensional x1 to keep it sorted, before
 * equal elements (side "left" or NULL) or after them ("right"); int64 with
 * x2's shape. NaN sorts last, as in npg_sort. Numeric dtypes (promoted). */
npg_array *npg_searchsorted(npg_array *x1, npg_array *x2, const char *side);

/* ========================================================================
 * Statistics and comparisons — [new] (composed from sort, gathers, scatter-
 * adds and elementwise ops: they run on every device and differentiate
 * through those ops where a gradient makes sense)
 * ======================================================================== */

/* How a quantile between two order statistics a <= b (at positions i and
 * i + 1, with q (n - 1) = i + t) is taken; NumPy's method names. */
typedef enum npg_quantile_method {
    NPG_QUANTILE_LINEAR = 0, /* a + t (b - a) (NumPy's default) */
    NPG_QUANTILE_LOWER,      /* a */
    NPG_QUANTILE_HIGHER,     /* b */
    NPG_QUANTILE_NEAREST,    /* a or b, whichever is nearer (ties to the even position) */
    NPG_QUANTILE_MIDPOINT    /* (a + b) / 2 */
} npg_quantile_method;
/* The q-th quantile (q in [0, 1]) of x over axes (NPG_ALL_AXES: every axis),
 * like numpy.quantile: floating result (integers give the default float
 * dtype), NaN where the reduced elements contain NaN. Finite values match
 * NumPy's bit for bit in float64; between an infinite and another order
 * statistic the result is that infinity (NumPy: NaN), NaN only between -inf
 * and inf. An empty selection is an NPG_ERR_SHAPE error; bool is an
 * NPG_ERR_DTYPE error. Differentiable (the gradient flows to the order
 * statistics used). */
npg_array *npg_quantile(npg_array *x, double q, npg_axes axes, bool keepdims, npg_quantile_method method);
/* Like npg_quantile over the non-NaN elements only (numpy.nanquantile);
 * NaN where every element is NaN. */
npg_array *npg_nanquantile(npg_array *x, double q, npg_axes axes, bool keepdims, npg_quantile_method method);
/* The middle element, or (a + b) / 2 of the two middle ones for an even
 * count (numpy.median / nanmedian, to the bit; torch.median takes the lower
 * one); otherwise as npg_quantile / npg_nanquantile. */
npg_array *npg_median(npg_array *x, npg_axes axes, bool keepdims);
npg_array *npg_nanmedian(npg_array *x, npg_axes axes, bool keepdims);
/* Sum / mean treating NaN as absent (numpy.nansum, nanmean): nansum of all
 * NaN is 0, nanmean of all NaN is NaN. nansum keeps npg_sum's dtypes;
 * nanmean is floating. */
npg_array *npg_nansum(npg_array *x, npg_axes axes, bool keepdims);
npg_array *npg_nanmean(npg_array *x, npg_axes axes, bool keepdims);
/* The k largest (or smallest) elements along axis, sorted (largest first, or
 * smallest first), and their int64 indices into x; NaN counts as the
 * largest (PyTorch's topk). 0 <= k <= the axis length. values and indices
 * [new] (either may be NULL: not wanted); both NULL on failure.
 * Differentiable in x through values. */
npg_status npg_topk(npg_array *x, int64_t k, int axis, bool largest, npg_array **values, npg_array **indices);
/* |a - b| <= atol + rtol |b| elementwise, broadcast (numpy.isclose: not
 * symmetric in a and b); infinities are close only to themselves; NaN is
 * close to NaN only when equal_nan. bool result. */
npg_array *npg_isclose(npg_array *a, npg_array *b, double rtol, double atol, bool equal_nan);
/* 1 when every element of npg_isclose(a, b, ...) is true, 0 when not, -1 on
 * error. Synchronises. */
int npg_allclose(npg_array *a, npg_array *b, double rtol, double atol, bool equal_nan);
/* Covariance of the rows of x (variables, observations) — or of a 1-d x's
 * values (0-d result) — with divisor observations - correction (1: the
 * unbiased estimate; torch.cov, numpy.cov with ddof). Floating result. */
npg_array *npg_cov(npg_array *x, double correction);
/* Pearson correlation coefficients of the rows of x (numpy.corrcoef),
 * clipped to [-1, 1]; NaN for a row whose variance is 0 (as in NumPy,
 * equal values whose mean is inexact can leave a tiny variance instead). */
npg_array *npg_corrcoef(npg_array *x);
/* Counts of each value 0, 1, ... in the 1-d non-negative integer array x
 * (numpy.bincount): length max(max(x) + 1, minlength); int64, or the sums of
 * weights (x's shape, floating result) when weights is not NULL,
 * differentiable in weights. A negative value is an NPG_ERR_INDEX error.
 * Synchronises (the length depends on the values). */
npg_array *npg_bincount(npg_array *x, npg_array *weights, int64_t minlength);
/* numpy.histogram's counts with `bins` equal bins over [lo, hi] (the last
 * bin includes hi; elements outside and NaN are left out): int64 (bins), or
 * the sums of weights (x's shape, floating) per bin, differentiable in
 * weights. lo < hi with lo, hi and hi - lo finite; 1 <= bins <= 2^31 - 1. */
npg_array *npg_histogram(npg_array *x, int64_t bins, double lo, double hi, npg_array *weights);

/* ========================================================================
 * Linear algebra — [new]
 * ======================================================================== */

/* NumPy's matmul: 1-d operands are promoted (and the added axis removed),
 * batch dimensions broadcast. Float32/64 through BLAS (OpenBLAS / cuBLAS),
 * integers by a plain kernel that wraps on overflow like elementwise
 * arithmetic (uint8 modulo 256), bool as OR of ANDs. float16 / bfloat16
 * accumulate in float32 and round once: cuBLAS's tensor cores on CUDA;
 * on x86 CPUs with AVX512-BF16, bfloat16 uses its dot-product instructions,
 * which (as oneDNN's, PyTorch's CPU bfloat16 GEMM) treat subnormal inputs
 * and results as zero; otherwise OpenBLAS's sgemm on float32 copies. */
npg_array *npg_matmul(npg_array *a, npg_array *b);
/* Sum over `axis` of a * b after broadcasting (array API vecdot). */
npg_array *npg_vecdot(npg_array *a, npg_array *b, int axis);
/* NumPy's dot for 1-d and 2-d operands (vecdot for two vectors, else
 * matmul); higher ranks are an NPG_ERR_SHAPE error. */
npg_array *npg_dot(npg_array *a, npg_array *b);
/* Outer product of two vectors (inputs flattened). */
npg_array *npg_outer(npg_array *a, npg_array *b);
/* Sum of products over the last n axes of a and the first n of b: the
 * result has a's other axes, then b's (array API tensordot with an int). */
npg_array *npg_tensordot(npg_array *a, npg_array *b, int n);
/* The same over a's axes_a[i] paired with b's axes_b[i] (equal lengths). */
npg_array *npg_tensordot_axes(npg_array *a, npg_array *b, npg_axes axes_a, npg_axes axes_b);
/* Einstein summation, NumPy's subscripts: "ij,jk->ik", "bij,bjk->bik",
 * "ii->i", "ii" (implicit output: the letters used once, in alphabetical
 * order, 'A'-'Z' before 'a'-'z' as in NumPy), "...ij,...jk" (an ellipsis
 * broadcasts). Letters a-z, A-Z; a letter repeated in one operand takes its
 * diagonal; letters missing from the output are summed (ellipsis dimensions
 * too, when the output has no '...'). Contracts left to right, each pair as
 * one matmul. The result may share memory with the operand when there is one
 * and nothing is summed (as NumPy's may). Differentiable. */
npg_array *npg_einsum(const char *subscripts, npg_array *const *operands, int n);
/* Float32 matrix products on CUDA may use TF32 tensor cores when enabled
 * (default: off, exact FP32). Returns the previous setting. */
bool npg_set_allow_tf32(bool allow);

/* ========================================================================
 * Autograd
 * ======================================================================== */

/* Backward from root. grad NULL means 1 for a scalar root (a non-scalar root
 * without grad is NPG_ERR_AUTOGRAD). Gradients accumulate into the .grad of
 * leaves that require grad. The graph is freed afterwards. */
npg_status npg_backward(npg_array *root, npg_array *grad);

typedef struct npg_backward_opts {
    bool retain_graph; /* keep the graph for another backward */
    bool create_graph; /* record the backward pass (higher-order gradients);
                          implies retain_graph */
} npg_backward_opts;
#define NPG_BACKWARD_OPTS(...) (&(const npg_backward_opts){__VA_ARGS__})
npg_status npg_backward_ex(npg_array *root, npg_array *grad, const npg_backward_opts *opts);

/* Functional gradient: results[i] = d(sum_j outputs[j] * grad_outputs[j]) /
 * d inputs[i] ([new] each; a zero array when an input is unreachable).
 * grad_outputs may be NULL (all outputs scalar). Does not touch .grad. */
npg_status npg_grad_of(npg_array *const *outputs, int n_outputs, npg_array *const *grad_outputs,
                       npg_array *const *inputs, int n_inputs, npg_array **results,
                       const npg_backward_opts *opts);

/* Custom differentiable functions (like torch.autograd.Function): compute
 * an output from inputs by any means (a kernel of your own on npg_data, a
 * library call, npg ops), then give it a backward rule with npg_custom.
 *
 * The rule: given grad_output (output's shape and dtype), set
 * grad_inputs[i] (all NULL on entry) to d(loss)/d(inputs[i]) with inputs[i]'s
 * shape (its dtype is converted to the input's), or leave it NULL for no
 * gradient; return NPG_OK or an error status, which fails the backward.
 * inputs and output are as they were at the call (an in-place write to one
 * since is an NPG_ERR_INPLACE error). Arrays the rule makes, grad_inputs
 * included, belong to the backward pass: do not free them. Written with npg
 * ops, the rule is itself recorded under create_graph (higher-order
 * gradients). */
typedef npg_status (*npg_custom_backward)(void *ctx, npg_array *grad_output, int n_inputs,
                                          npg_array *const *inputs, npg_array *output,
                                          npg_array **grad_inputs);
/* An array sharing output's data whose grad_fn (named `name`) runs
 * backward(ctx, ...) to pass gradients to inputs (output's own graph, if it
 * has one, is not used). When grad mode is off, no input requires grad or
 * output is not floating, it is a plain detached alias. ctx passes to npg:
 * ctx_free(ctx), when not NULL, runs when the graph node is freed, at once
 * when no node is recorded, and on failure. Errors: NULL name, backward or
 * inputs (with n_inputs > 0), a NULL input, n_inputs < 0. [new] */
npg_array *npg_custom(const char *name, npg_array *output, int n_inputs, npg_array *const *inputs,
                      npg_custom_backward backward, void *ctx, void (*ctx_free)(void *ctx));

/* Activation checkpointing (torch.utils.checkpoint): fn(inputs, n, user)
 * (npg_fn, below) computed without keeping its intermediate arrays; the
 * backward runs fn again, with grad on and the same random numbers (its draws
 * are replayed, on any generator), to get the inputs' gradients: memory for
 * time. fn must compute the same function both times. Its gradient cannot be
 * differentiated again (create_graph through it is NPG_ERR_UNSUPPORTED). When
 * no input requires grad (or grad mode is off), it is fn(inputs, n, user).
 * [new] */
typedef npg_array *(*npg_fn)(npg_array *const *inputs, int n, void *user);
npg_array *npg_checkpoint(npg_fn fn, void *user, npg_array *const *inputs, int n);

/* Gradient hooks (like PyTorch's Tensor.register_hook): hook(ctx, g, &r)
 * runs whenever a backward pass (npg_backward or npg_grad_of) has the whole
 * gradient g of x: for a leaf, before g is added to x's .grad; for the result
 * of an op, before g flows on into the graph. Setting r (g's shape and
 * device; the dtype is converted) replaces g; leaving it NULL keeps g. g and
 * r belong to the backward pass (do not free them). A non-OK status fails the
 * backward with it. Hooks run in the order registered. */
typedef npg_status (*npg_grad_hook)(void *ctx, npg_array *grad, npg_array **replacement);
/* Register hook on x (which requires grad). Returns a handle > 0 for
 * npg_remove_hook, or a negative status. ctx passes to npg: ctx_free(ctx),
 * when not NULL, runs when the hook is removed, when x (a leaf) or x's graph
 * node is freed, and on failure. Registering is a write to x: not while
 * another thread runs a backward through x. */
int npg_register_hook(npg_array *x, npg_grad_hook hook, void *ctx, void (*ctx_free)(void *ctx));
/* Remove the hook with this handle from x (NPG_ERR_INVALID_ARG if x has none). */
npg_status npg_remove_hook(npg_array *x, int handle);

/* Make x (a leaf of floating dtype) require grad or not. */
npg_status npg_set_requires_grad(npg_array *x, bool requires_grad);
/* A view of x's data that is cut from the graph (requires_grad false). [new] */
npg_array *npg_detach(npg_array *x);
/* Drop x's accumulated gradient (npg_grad returns NULL afterwards). */
npg_status npg_zero_grad(npg_array *x);
/* Disable graph recording on this thread until the matching end (nests). */
void npg_no_grad_begin(void);
void npg_no_grad_end(void);
bool npg_is_grad_enabled(void);

/* gradcheck: compares the analytical gradient of fn with central
 * differences. fn maps inputs to one output array ([new]); it is called many
 * times. Float32 inputs are promoted to float64 copies first unless
 * opts->keep_dtype is set (then float32 tolerances apply). */
typedef struct npg_gradcheck_opts {
    double eps;      /* default 1e-6 (float64), 1e-3 (float32) */
    double atol;     /* default 1e-5 (float64), 1e-2 (float32) */
    double rtol;     /* default 1e-3 (float64), 1e-2 (float32) */
    bool keep_dtype; /* evaluate in the inputs' own dtypes */
} npg_gradcheck_opts;
#define NPG_GRADCHECK_OPTS(...) (&(const npg_gradcheck_opts){__VA_ARGS__})
/* NPG_OK when every input that requires grad passes; NPG_ERR_GRADCHECK with
 * the worst element in the message otherwise. */
npg_status npg_gradcheck(npg_fn fn, void *user, npg_array *const *inputs, int n, const npg_gradcheck_opts *opts);

/* ========================================================================
 * Devices
 * ======================================================================== */

/* x on `device` ([new]; a new reference to x itself if it is already
 * there). Differentiable: the gradient moves back. */
npg_array *npg_to(npg_array *x, npg_device device);
/* Set the process default device (overrides NPG_DEVICE). */
npg_status npg_set_default_device(npg_device device);
/* The resolved default device (never NPG_DEVICE_DEFAULT). */
npg_device npg_default_device(void);
/* Whether the CUDA backend is compiled in and a GPU is present. */
bool npg_cuda_available(void);
/* Number of devices of a type (CPU: 1). */
int npg_device_count(npg_device_type type);
/* Human-readable device name into buf ("cpu", "cuda:0 (NVIDIA H200)"). */
npg_status npg_device_name(npg_device device, char *buf, size_t len);
/* Free and total memory of a device in bytes. */
npg_status npg_device_memory(npg_device device, size_t *free_bytes, size_t *total_bytes);
/* Bytes of freed array memory npg keeps on a device for reuse, so that a
 * warm loop makes no allocator calls: on CUDA every freed block (up to
 * NPG_CUDA_CACHE_MB, default 4096), on the CPU blocks of 64 KiB and more (up
 * to NPG_CPU_CACHE_MB, default 1024) plus the calling thread's small blocks.
 * Included in neither free nor used memory as the system reports them. */
npg_status npg_cached_memory(npg_device device, size_t *cached_bytes);
/* Give the cached blocks back (CPU: to the C library; CUDA: to the device's
 * memory pool, which then releases its unused memory to the driver), after
 * the device's queued work; like torch.cuda.empty_cache(). Arrays are not
 * affected; the next allocations are slower until the cache refills. */
npg_status npg_empty_cache(npg_device device);
/* Wait until all queued work on device has finished. */
npg_status npg_synchronize(npg_device device);
/* Parse "cpu", "cuda", "cuda:N", "auto" into *out. */
npg_status npg_parse_device(const char *text, npg_device *out);

/* CPU threads used by npg's own loops and by BLAS (one shared OpenMP pool). */
void npg_set_num_threads(int n);
int npg_get_num_threads(void);

#ifdef __cplusplus
}
#endif

#include "npg/io.h" /* IDX, .npy/.npz files, mini-batch loader */
#include "npg/nn.h" /* neural-network functions, losses, optimizers */
#include "npg/linalg.h" /* decompositions, solve, inv, det, norms (LAPACK / cuSOLVER) */

#endif /* NPG_H */
