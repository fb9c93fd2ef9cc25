/*
 * array.c — the array and its storage: allocation, reference counts,
 * scopes, descriptors for kernels, and the properties of the public API.
 *
 * Ownership model (DESIGN.md §3): each npg_array has a refcount; a scope
 * frame holds one reference to every array created while it is innermost.
 * Storage is refcounted separately and shared by views.
 */
#include "internal.h"
#include "scalar_ops.h"

#include <pthread.h>

/* Live object counters (for leak checks in tests; relaxed atomics). */
static int64_t g_live_arrays, g_live_storages;
int64_t npg__live_arrays(void) { return __atomic_load_n(&g_live_arrays, __ATOMIC_RELAXED); }
int64_t npg__live_storages(void) { return __atomic_load_n(&g_live_storages, __ATOMIC_RELAXED); }

/* ------------------------------------------------------------------------
 * Struct recycling: every op allocates an array struct and a storage
 * struct; a small per-thread free list of each keeps malloc out of the
 * per-op path (a struct freed on another thread joins that thread's list).
 * ------------------------------------------------------------------------ */

#define RECYCLE_MAX 256
typedef struct recycled {
    struct recycled *next;
} recycled;
static _Thread_local recycled *tl_free_arrays, *tl_free_storages;
static _Thread_local int tl_n_arrays, tl_n_storages;

static void *recycle_take(recycled **list, int *n, size_t size) {
    recycled *r = *list;
    if (r) {
        *list = r->next;
        (*n)--;
        memset(r, 0, size);
        return r;
    }
    return calloc(1, size);
}

/* At thread exit, hand the thread's lists back to malloc. */
static pthread_key_t g_recycle_key;
static pthread_once_t g_recycle_once = PTHREAD_ONCE_INIT;
static _Thread_local bool tl_recycle_registered;

static void drain(recycled **list, int *n) {
    while (*list) {
        recycled *r = *list;
        *list = r->next;
        free(r);
    }
    *n = 0;
}
static void recycle_thread_exit(void *unused) {
    (void)unused;
    drain(&tl_free_arrays, &tl_n_arrays);
    drain(&tl_free_storages, &tl_n_storages);
}
static void recycle_make_key(void) { pthread_key_create(&g_recycle_key, recycle_thread_exit); }

static void recycle_put(recycled **list, int *n, void *p) {
    if (*n >= RECYCLE_MAX) {
        free(p);
        return;
    }
    if (!tl_recycle_registered) {
        pthread_once(&g_recycle_once, recycle_make_key);
        pthread_setspecific(g_recycle_key, (void *)1);
        tl_recycle_registered = true;
    }
    recycled *r = p;
    r->next = *list;
    *list = r;
    (*n)++;
}

/* ------------------------------------------------------------------------
 * Storage
 * ------------------------------------------------------------------------ */

/* A storage record with no memory yet (data NULL), counted live. */
static npg_storage *storage_struct(const char *fn, const npg_backend *be, int dev, size_t nbytes) {
    npg_storage *s = recycle_take(&tl_free_storages, &tl_n_storages, sizeof *s);
    if (!s) {
        npg__set_error(NPG_ERR_OOM, "%s: out of host memory", fn);
        return NULL;
    }
    s->backend = be;
    s->dev = dev;
    s->nbytes = nbytes;
    s->refcount = 1;
    __atomic_add_fetch(&g_live_storages, 1, __ATOMIC_RELAXED);
    return s;
}

static npg_storage *storage_new(const char *fn, const npg_backend *be, int dev, size_t nbytes) {
    npg_storage *s = storage_struct(fn, be, dev, nbytes);
    if (s && nbytes > 0) {
        npg_status st = be->alloc(dev, nbytes, &s->data);
        if (st != NPG_OK) {
            __atomic_sub_fetch(&g_live_storages, 1, __ATOMIC_RELAXED);
            recycle_put(&tl_free_storages, &tl_n_storages, s);
            /* the backend set the error; make sure it names the function */
            char msg[512];
            snprintf(msg, sizeof msg, "%s", npg_last_error());
            npg__set_error(st, "%s: cannot allocate %zu bytes on %s: %s", fn, nbytes, be->name, msg);
            return NULL;
        }
    }
    return s;
}

static void storage_release(npg_storage *s) {
    if (!s || !npg__ref_dec(&s->refcount)) return;
    if (s->deleter)
        s->deleter(s->data, s->deleter_ctx);
    else if (s->data)
        s->backend->free(s->dev, s->data, s->nbytes);
    __atomic_sub_fetch(&g_live_storages, 1, __ATOMIC_RELAXED);
    recycle_put(&tl_free_storages, &tl_n_storages, s);
}

/* ------------------------------------------------------------------------
 * Scopes: one stack of frames per thread, each a growable list of arrays.
 * ------------------------------------------------------------------------ */

typedef struct scope_frame {
    npg_array **items;
    int64_t len, cap;
} scope_frame;

static _Thread_local scope_frame *tl_frames; /* tl_frames[1..tl_depth] */
static _Thread_local int tl_depth, tl_frames_cap;

static void array_release(npg_array *x);

/* At thread exit: scopes the thread left open end (their arrays are
 * released as npg_scope_end would), then the frames themselves go. */
static pthread_key_t g_scope_key;
static pthread_once_t g_scope_once = PTHREAD_ONCE_INIT;
static void scope_thread_exit(void *unused) {
    (void)unused;
    if (tl_depth > 0) npg_scope_end((npg_scope){1});
    for (int i = 0; i < tl_frames_cap; i++) free(tl_frames[i].items);
    free(tl_frames);
    tl_frames = NULL;
    tl_frames_cap = 0;
    tl_depth = 0;
}
static void scope_make_key(void) { pthread_key_create(&g_scope_key, scope_thread_exit); }

npg_scope npg_scope_begin(void) {
    if (tl_depth + 1 >= tl_frames_cap) {
        if (tl_frames_cap == 0) { /* this thread's first frames: free them when it exits */
            pthread_once(&g_scope_once, scope_make_key);
            pthread_setspecific(g_scope_key, (void *)1);
        }
        int cap = tl_frames_cap ? tl_frames_cap * 2 : 16;
        scope_frame *f = realloc(tl_frames, sizeof *f * (size_t)cap);
        if (!f) {
            npg__log(NPG_LOG_ERROR, "npg_scope_begin: out of memory; arrays go to the enclosing scope");
            return (npg_scope){tl_depth};
        }
        memset(f + tl_frames_cap, 0, sizeof *f * (size_t)(cap - tl_frames_cap));
        tl_frames = f;
        tl_frames_cap = cap;
    }
    tl_depth++;
    tl_frames[tl_depth].len = 0;
    return (npg_scope){tl_depth};
}

void npg_scope_end(npg_scope s) {
    int target = s.depth - 1;
    if (target < 0) target = 0;
    while (tl_depth > target) {
        scope_frame *f = &tl_frames[tl_depth];
        /* release in reverse creation order; releasing never adds items */
        for (int64_t i = f->len - 1; i >= 0; i--) {
            npg_array *x = f->items[i];
            if (!x) continue;
            f->items[i] = NULL;
            x->scope_slot = -1;
            x->scope_depth = 0;
            array_release(x);
        }
        f->len = 0;
        if (f->cap > 4096) { /* do not keep a huge list alive forever */
            free(f->items);
            f->items = NULL;
            f->cap = 0;
        }
        tl_depth--;
    }
}

static bool frame_push(int depth, npg_array *x) {
    scope_frame *f = &tl_frames[depth];
    if (f->len == f->cap) {
        int64_t cap = f->cap ? f->cap * 2 : 64;
        npg_array **items = realloc(f->items, sizeof *items * (size_t)cap);
        if (!items) return false;
        f->items = items;
        f->cap = cap;
    }
    x->scope_slot = f->len;
    x->scope_depth = depth;
    f->items[f->len++] = x;
    return true;
}

void npg__scope_adopt(npg_array *x) {
    if (!x || tl_depth == 0 || x->scope_slot >= 0) return;
    if (!frame_push(tl_depth, x)) npg__log(NPG_LOG_WARN, "scope: out of memory; an array is left to the caller");
}

void npg__unscope(npg_array *x) {
    if (!x || x->scope_slot < 0) return;
    if (x->scope_depth >= 1 && x->scope_depth <= tl_depth) {
        scope_frame *f = &tl_frames[x->scope_depth];
        if (x->scope_slot < f->len && f->items[x->scope_slot] == x) f->items[x->scope_slot] = NULL;
    }
    x->scope_slot = -1;
    x->scope_depth = 0;
}

npg_array *npg_keep(npg_array *x) {
    if (!x || x->scope_slot < 0) return x;
    int parent = x->scope_depth - 1;
    npg__unscope(x);
    if (parent >= 1 && !frame_push(parent, x))
        npg__log(NPG_LOG_WARN, "npg_keep: out of memory; the array is left to the caller");
    return x;
}

/* ------------------------------------------------------------------------
 * Arrays
 * ------------------------------------------------------------------------ */

static npg_array *array_struct_new(const char *fn) {
    npg_array *x = recycle_take(&tl_free_arrays, &tl_n_arrays, sizeof *x);
    if (!x) {
        npg__set_error(NPG_ERR_OOM, "%s: out of host memory", fn);
        return NULL;
    }
    x->refcount = 1;
    x->scope_slot = -1;
    __atomic_add_fetch(&g_live_arrays, 1, __ATOMIC_RELAXED);
    return x;
}

static void array_release(npg_array *x) {
    if (!x) return;
    NPG_ASSERT(npg__ref_count(&x->refcount) > 0);
    if (!npg__ref_dec(&x->refcount)) return;
    npg__unscope(x);
    storage_release(x->storage);
    if (x->grad) array_release(x->grad);
    if (x->grad_fn) npg__node_release(x->grad_fn);
    if (x->acc) npg__leafacc_detach(x->acc);
    __atomic_sub_fetch(&g_live_arrays, 1, __ATOMIC_RELAXED);
    recycle_put(&tl_free_arrays, &tl_n_arrays, x);
}

void npg_free(npg_array *x) {
    if (!x) return;
    if (x->scope_slot >= 0) npg__unscope(x);
    array_release(x);
}

/* Internal: release a reference that is not the scope's (e.g. a node's). */
void npg__release(npg_array *x);
void npg__release(npg_array *x) { array_release(x); }

npg_array *npg_retain(npg_array *x) {
    if (x) npg__ref_inc(&x->refcount);
    return x;
}

static bool check_shape(const char *fn, int ndim, const int64_t *shape, size_t itemsize, size_t *nbytes) {
    if (ndim < 0 || ndim > NPG_MAX_DIMS) {
        npg__set_error(NPG_ERR_SHAPE, "%s: %d dimensions requested; at most %d are supported", fn, ndim, NPG_MAX_DIMS);
        return false;
    }
    /* n: the product with length-0 axes counted as 1, which the strides
     * reach even when the array is empty; it must fit too */
    uint64_t n = 1;
    bool overflow = false, zero = false;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) {
            char sb[NPG_SHAPE_BUF];
            npg__set_error(NPG_ERR_SHAPE, "%s: negative dimension in shape %s", fn,
                           npg__shape_str(sb, sizeof sb, ndim, shape));
            return false;
        }
        if (shape[i] == 0) zero = true;
        if (shape[i] && n > UINT64_MAX / (uint64_t)shape[i]) overflow = true;
        if (shape[i]) n *= (uint64_t)shape[i];
    }
    if (overflow || n > (uint64_t)INT64_MAX / 8) {
        char sb[NPG_SHAPE_BUF];
        npg__set_error(NPG_ERR_OOM, "%s: shape %s is too large", fn, npg__shape_str(sb, sizeof sb, ndim, shape));
        return false;
    }
    *nbytes = zero ? 0 : (size_t)(n * itemsize);
    return true;
}

npg_array *npg__alloc(const char *fn, npg_dtype dtype, int ndim, const int64_t *shape, npg_device device) {
    const npg_backend *be;
    npg_device dev;
    size_t nbytes;
    if (!npg__dtype_valid(dtype)) {
        npg__set_error(NPG_ERR_DTYPE, "%s: invalid dtype %d", fn, (int)dtype);
        return NULL;
    }
    if (!check_shape(fn, ndim, shape, npg__dtype_size(dtype), &nbytes)) return NULL;
    if (!npg__resolve_device(fn, device, &dev, &be)) return NULL;
    npg_array *x = array_struct_new(fn);
    if (!x) return NULL;
    x->storage = storage_new(fn, be, dev.index, nbytes);
    if (!x->storage) {
        __atomic_sub_fetch(&g_live_arrays, 1, __ATOMIC_RELAXED);
        recycle_put(&tl_free_arrays, &tl_n_arrays, x);
        return NULL;
    }
    x->dtype = dtype;
    x->ndim = ndim;
    if (ndim) memcpy(x->shape, shape, sizeof(int64_t) * (size_t)ndim);
    npg__contiguous_strides(ndim, shape, x->strides);
    npg__scope_adopt(x);
    return x;
}

npg_array *npg__alloc_like_dev(const char *fn, npg_dtype dtype, int ndim, const int64_t *shape, const npg_array *x) {
    return npg__alloc(fn, dtype, ndim, shape, npg__device_of(x));
}

/* x's geometry; a 0 stride over a dim > 1 overlaps itself: read-only. */
static void set_geometry(npg_array *x, int ndim, const int64_t *shape, const int64_t *strides, int64_t offset) {
    x->ndim = ndim;
    if (ndim) {
        memcpy(x->shape, shape, sizeof(int64_t) * (size_t)ndim);
        memcpy(x->strides, strides, sizeof(int64_t) * (size_t)ndim);
    }
    x->offset = offset;
    for (int i = 0; i < ndim; i++)
        if (strides[i] == 0 && shape[i] > 1) x->flags |= NPG_AF_READONLY;
}

npg_array *npg__wrap_external(const char *fn, npg_dtype dtype, int ndim, const int64_t *shape,
                              const int64_t *strides, int64_t offset, npg_device device, void *data, size_t nbytes,
                              void (*deleter)(void *data, void *ctx), void *ctx) {
    const npg_backend *be;
    npg_device dev;
    if (!npg__resolve_device(fn, device, &dev, &be)) return NULL;
    npg_array *x = array_struct_new(fn);
    if (!x) return NULL;
    npg_storage *st = storage_struct(fn, be, dev.index, nbytes);
    if (!st) {
        __atomic_sub_fetch(&g_live_arrays, 1, __ATOMIC_RELAXED);
        recycle_put(&tl_free_arrays, &tl_n_arrays, x);
        return NULL;
    }
    st->data = data;
    st->deleter = deleter;
    st->deleter_ctx = ctx;
    x->storage = st;
    x->dtype = dtype;
    set_geometry(x, ndim, shape, strides, offset);
    npg__scope_adopt(x);
    return x;
}

npg_array *npg__view_raw(npg_array *x, int ndim, const int64_t *shape, const int64_t *strides, int64_t offset) {
    npg_array *v = array_struct_new("view");
    if (!v) return NULL;
    v->dtype = x->dtype;
    v->storage = x->storage;
    npg__ref_inc(&v->storage->refcount);
    v->flags = x->flags;
    set_geometry(v, ndim, shape, strides, offset);
    npg__scope_adopt(v);
    return v;
}

const npg_backend *npg__backend_of(const npg_array *x) { return x->storage->backend; }

npg_device npg__device_of(const npg_array *x) {
    return (npg_device){x->storage->backend->type, x->storage->dev};
}

bool npg__check_devices(const char *fn, int n, npg_array *const *xs) {
    for (int i = 1; i < n; i++) {
        if (!npg__same_device(xs[0], xs[i])) {
            char a[64], b[64];
            npg_device_name(npg__device_of(xs[0]), a, sizeof a);
            npg_device_name(npg__device_of(xs[i]), b, sizeof b);
            npg__set_error(NPG_ERR_DEVICE, "%s: operands are on different devices (%s and %s); move one with npg_to",
                           fn, a, b);
            return false;
        }
    }
    return true;
}

bool npg__same_device(const npg_array *a, const npg_array *b) {
    return a->storage->backend == b->storage->backend && a->storage->dev == b->storage->dev;
}

/* ------------------------------------------------------------------------
 * Descriptors
 * ------------------------------------------------------------------------ */

void npg__desc(const npg_array *x, npg_tdesc *d) {
    static const uint8_t sizes[NPG_DTYPE_COUNT] = {0, 1, 1, 4, 8, 4, 8, 2, 2, 1, 2, 2, 4, 8};
    _Static_assert(NPG_DTYPE_COUNT == 14, "one size per dtype");
    char *base = x->storage->data;
    d->data = base ? base + x->offset * (int64_t)sizes[x->dtype] : NULL;
    d->dtype = x->dtype;
    d->ndim = x->ndim;
    /* whole arrays: entries past ndim are zero in every array */
    memcpy(d->shape, x->shape, sizeof d->shape);
    memcpy(d->strides, x->strides, sizeof d->strides);
    d->is_scalar = false;
    d->scalar = 0;
    d->iscalar = 0;
}

int64_t npg__f64_to_ivalue(npg_dtype dt, double v) {
    if (dt == NPG_UINT64 && v >= 9223372036854775808.0) return (int64_t)npg_s_f64_to_u64(v); /* 2^63 up: the bits */
    return npg_s_f64_to_i64(v); /* saturate: converting a double outside int64's range is UB */
}

int64_t npg__wrap_int(npg_dtype dt, int64_t i) {
    switch (dt) {
    case NPG_BOOL: return i != 0;
    case NPG_UINT8: return npg_s_i64_to_u8(i);
    case NPG_UINT16: return npg_s_i64_to_u16(i);
    case NPG_UINT32: return npg_s_i64_to_u32(i);
    case NPG_INT8: return npg_s_i64_to_i8(i);
    case NPG_INT16: return npg_s_i64_to_i16(i);
    case NPG_INT32: return npg_s_i64_to_i32(i);
    default: return i; /* int64; uint64 keeps the bits */
    }
}

void npg__desc_scalar(npg_dtype dtype, double v, npg_tdesc *d) {
    memset(d, 0, sizeof *d);
    d->dtype = dtype;
    d->is_scalar = true;
    d->scalar = v;
    if (dtype == NPG_BOOL)
        d->iscalar = v != 0;
    else if (npg_is_integer(dtype))
        d->iscalar = npg__wrap_int(dtype, npg__f64_to_ivalue(dtype, v));
    if (dtype == NPG_UINT64)
        d->scalar = (double)(uint64_t)d->iscalar;
    else if (npg_is_integer(dtype) || dtype == NPG_BOOL)
        d->scalar = (double)d->iscalar;
    if (dtype == NPG_FLOAT32) d->scalar = (double)(float)v;
    if (dtype == NPG_FLOAT16) d->scalar = (double)npg_s_f16_to_f32(npg_s_f64_to_f16(v));
    if (dtype == NPG_BFLOAT16) d->scalar = (double)npg_s_bf16_to_f32(npg_s_f64_to_bf16(v));
}

void npg__desc_bcast(const npg_array *x, int ndim, const int64_t *shape, npg_tdesc *d) {
    npg__desc(x, d);
    int off = ndim - x->ndim;
    NPG_ASSERT(off >= 0);
    d->ndim = ndim;
    for (int i = ndim - 1; i >= 0; i--) {
        int j = i - off;
        d->shape[i] = shape[i];
        d->strides[i] = (j >= 0 && x->shape[j] == shape[i] && shape[i] != 1) ? x->strides[j] : 0;
        if (j >= 0 && x->shape[j] == shape[i] && shape[i] == 1) d->strides[i] = 0;
    }
}

void npg__coalesce(int n, npg_tdesc **descs) {
    npg_tdesc *ref = NULL;
    for (int k = 0; k < n; k++)
        if (!descs[k]->is_scalar) ref = descs[k];
    if (!ref) return;
    int ndim = ref->ndim;
    int64_t shape[NPG_MAX_DIMS];
    int64_t st[8][NPG_MAX_DIMS];
    int m = 0;
    for (int i = 0; i < ndim; i++) {
        if (ref->shape[i] == 1) continue; /* drop length-1 dims */
        if (m > 0) {
            bool merge = true;
            for (int k = 0; k < n && merge; k++) {
                if (descs[k]->is_scalar) continue;
                if (st[k][m - 1] != descs[k]->strides[i] * ref->shape[i]) merge = false;
            }
            if (merge) {
                shape[m - 1] *= ref->shape[i];
                for (int k = 0; k < n; k++) st[k][m - 1] = descs[k]->is_scalar ? 0 : descs[k]->strides[i];
                continue;
            }
        }
        shape[m] = ref->shape[i];
        for (int k = 0; k < n; k++) st[k][m] = descs[k]->is_scalar ? 0 : descs[k]->strides[i];
        m++;
    }
    for (int k = 0; k < n; k++) {
        if (descs[k]->is_scalar) continue;
        descs[k]->ndim = m;
        for (int i = 0; i < m; i++) {
            descs[k]->shape[i] = shape[i];
            descs[k]->strides[i] = st[k][i];
        }
    }
}

bool npg__check_writable(const char *fn, const npg_array *x) {
    if (x->flags & NPG_AF_READONLY) {
        npg__set_error(NPG_ERR_INPLACE, "%s: the array is a broadcast view whose elements overlap; it cannot be written",
                       fn);
        return false;
    }
    if (npg__grad_enabled() && (x->requires_grad || x->grad_fn)) {
        npg__set_error(NPG_ERR_INPLACE,
                       "%s: in-place write into an array that requires grad (use npg_no_grad_begin/end, or "
                       "compute out of place)",
                       fn);
        return false;
    }
    return true;
}

/* ------------------------------------------------------------------------
 * Properties
 * ------------------------------------------------------------------------ */

#define NULL_GUARD(x, ret)                  \
    do {                                    \
        if (!(x)) {                         \
            npg__null_arg(__func__);        \
            return ret;                     \
        }                                   \
    } while (0)

int npg_ndim(const npg_array *x) {
    NULL_GUARD(x, 0);
    return x->ndim;
}

npg_shape npg_shape_of(const npg_array *x) {
    npg_shape s = {0};
    NULL_GUARD(x, s);
    s.ndim = x->ndim;
    for (int i = 0; i < x->ndim; i++) s.dims[i] = x->shape[i];
    return s;
}

int64_t npg_dim(const npg_array *x, int axis) {
    NULL_GUARD(x, -1);
    int a;
    if (!npg__norm_axis("npg_dim", axis, x->ndim, &a)) return -1;
    return x->shape[a];
}

int64_t npg_size(const npg_array *x) {
    NULL_GUARD(x, 0);
    return npg__numel(x->ndim, x->shape);
}

npg_dtype npg_dtype_of(const npg_array *x) {
    NULL_GUARD(x, NPG_DTYPE_DEFAULT);
    return x->dtype;
}

npg_device npg_device_of(const npg_array *x) {
    NULL_GUARD(x, NPG_DEFAULT_DEVICE);
    return npg__device_of(x);
}

size_t npg_itemsize(const npg_array *x) {
    NULL_GUARD(x, 0);
    return npg__dtype_size(x->dtype);
}

size_t npg_nbytes(const npg_array *x) {
    NULL_GUARD(x, 0);
    return (size_t)npg__numel(x->ndim, x->shape) * npg__dtype_size(x->dtype);
}

npg_status npg_strides(const npg_array *x, int64_t *out) {
    if (!x || !out) {
        npg__null_arg("npg_strides");
        return NPG_ERR_NULL_ARG;
    }
    for (int i = 0; i < x->ndim; i++) out[i] = x->strides[i] * (int64_t)npg__dtype_size(x->dtype);
    return NPG_OK;
}

bool npg_is_contiguous(const npg_array *x) {
    NULL_GUARD(x, false);
    return npg__is_contiguous(x);
}

uint64_t npg_version(const npg_array *x) {
    NULL_GUARD(x, 0);
    return x->storage->version;
}

bool npg_requires_grad(const npg_array *x) {
    NULL_GUARD(x, false);
    return x->requires_grad;
}

bool npg_is_leaf(const npg_array *x) {
    NULL_GUARD(x, false);
    return x->grad_fn == NULL;
}

npg_array *npg_grad(const npg_array *x) {
    NULL_GUARD(x, NULL);
    if (!x->grad) return NULL;
    /* a new array object sharing the gradient's storage, so the caller's
     * reference can be owned by a scope like any other result */
    return npg__alias(x->grad);
}

const char *npg_grad_fn_name(const npg_array *x) {
    NULL_GUARD(x, NULL);
    return x->grad_fn ? x->grad_fn->name : NULL;
}

void *npg_data(const npg_array *x) {
    NULL_GUARD(x, NULL);
    npg_tdesc d;
    npg__desc(x, &d);
    return d.data;
}
