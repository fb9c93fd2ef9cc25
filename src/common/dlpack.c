/*
 * dlpack.c — npg_to_dlpack / npg_from_dlpack (include/npg/dlpack.h): arrays
 * shared with other libraries through DLPack, zero-copy both ways.
 *
 * Export: one heap block holds the DLManagedTensor, its shape and strides and
 * a detached alias of the array (its own reference to the storage); the
 * deleter frees the block and releases the alias. Import: the storage wraps
 * the producer's memory (from its lowest to its highest element) and calls
 * the producer's deleter when its last reference goes.
 */
#include "internal.h"

#include <npg/dlpack.h>

#include <stdint.h>

/* DLPack 0.8 added kDLBool (6); Debian 12 ships the 0.6 header. */
#define NPG_DL_BOOL 6u

typedef struct export_block {
    DLManagedTensor mt;
    int64_t shape[NPG_MAX_DIMS];
    int64_t strides[NPG_MAX_DIMS];
    npg_array *alias; /* keeps the storage alive */
} export_block;

static void export_deleter(DLManagedTensor *self) {
    if (!self) return;
    export_block *b = self->manager_ctx;
    npg_free(b->alias);
    free(b);
}

/* npg dtype <-> DLPack (code, bits), one lane: both directions read this. */
static const struct {
    npg_dtype npg;
    uint8_t code, bits;
} g_dl_dtypes[] = {
    {NPG_BOOL, NPG_DL_BOOL, 8},  {NPG_UINT8, kDLUInt, 8},    {NPG_INT32, kDLInt, 32},
    {NPG_INT64, kDLInt, 64},     {NPG_FLOAT32, kDLFloat, 32}, {NPG_FLOAT64, kDLFloat, 64},
    {NPG_FLOAT16, kDLFloat, 16}, {NPG_BFLOAT16, kDLBfloat, 16}, {NPG_INT8, kDLInt, 8},
    {NPG_INT16, kDLInt, 16},     {NPG_UINT16, kDLUInt, 16},   {NPG_UINT32, kDLUInt, 32},
    {NPG_UINT64, kDLUInt, 64},
};
#define NPG_DL_NDTYPES ((int)(sizeof g_dl_dtypes / sizeof g_dl_dtypes[0]))

DLManagedTensor *npg_to_dlpack(npg_array *x) {
    const char *fn = "npg_to_dlpack";
    if (!x) {
        npg__null_arg(fn);
        return NULL;
    }
    if (x->requires_grad) {
        npg__set_error(NPG_ERR_AUTOGRAD, "%s: the array requires grad; export npg_detach(x) instead", fn);
        return NULL;
    }
    npg_device dev = npg__device_of(x);
    if (dev.type == NPG_DEVICE_CUDA && npg_synchronize(dev) != NPG_OK) return NULL;
    export_block *b = calloc(1, sizeof *b);
    if (!b) {
        npg__set_error(NPG_ERR_OOM, "%s: out of host memory", fn);
        return NULL;
    }
    b->alias = npg__view_raw(x, x->ndim, x->shape, x->strides, x->offset);
    if (!b->alias) {
        free(b);
        return NULL;
    }
    npg__unscope(b->alias); /* owned by the tensor, not by a scope */
    for (int i = 0; i < x->ndim; i++) {
        b->shape[i] = x->shape[i];
        b->strides[i] = x->strides[i];
    }
    DLTensor *t = &b->mt.dl_tensor;
    t->data = x->storage->data ? (char *)x->storage->data + x->offset * (int64_t)npg__dtype_size(x->dtype) : NULL;
    t->device.device_type = dev.type == NPG_DEVICE_CUDA ? kDLCUDA : kDLCPU;
    t->device.device_id = dev.type == NPG_DEVICE_CUDA ? dev.index : 0;
    t->ndim = x->ndim;
    for (int i = 0; i < NPG_DL_NDTYPES; i++)
        if (g_dl_dtypes[i].npg == x->dtype) t->dtype = (DLDataType){g_dl_dtypes[i].code, g_dl_dtypes[i].bits, 1};
    t->shape = b->shape;
    t->strides = b->strides;
    t->byte_offset = 0;
    b->mt.manager_ctx = b;
    b->mt.deleter = export_deleter;
    return &b->mt;
}

static void import_deleter(void *data, void *ctx) {
    (void)data;
    DLManagedTensor *t = ctx;
    if (t->deleter) t->deleter(t);
}

npg_array *npg_from_dlpack(DLManagedTensor *mt) {
    const char *fn = "npg_from_dlpack";
    if (!mt) {
        npg__null_arg(fn);
        return NULL;
    }
    const DLTensor *t = &mt->dl_tensor;
    /* dtype */
    npg_dtype dtype = 0;
    const DLDataType dt = t->dtype;
    for (int i = 0; i < NPG_DL_NDTYPES && dt.lanes == 1; i++)
        if (dt.code == g_dl_dtypes[i].code && dt.bits == g_dl_dtypes[i].bits) dtype = g_dl_dtypes[i].npg;
    if (!dtype) {
        npg__set_error(NPG_ERR_DTYPE,
                       "%s: DLPack dtype (code %u, %u bits, %u lanes) has no npg dtype (npg has bool, uint8, int32, int64, "
                       "float32 and float64, one lane)",
                       fn, (unsigned)dt.code, (unsigned)dt.bits, (unsigned)dt.lanes);
        return NULL;
    }
    /* device */
    npg_device dev;
    switch (t->device.device_type) {
    case kDLCPU:
    case kDLCUDAHost: dev = NPG_CPU; break;
    case kDLCUDA: dev = NPG_CUDA(t->device.device_id); break;
    default:
        npg__set_error(NPG_ERR_DEVICE, "%s: DLPack device type %d is not supported (npg has kDLCPU and kDLCUDA)", fn,
                       (int)t->device.device_type);
        return NULL;
    }
    /* geometry */
    if (t->ndim < 0 || t->ndim > NPG_MAX_DIMS) {
        npg__set_error(NPG_ERR_SHAPE, "%s: %d dimensions (npg supports 0 to %d)", fn, t->ndim, NPG_MAX_DIMS);
        return NULL;
    }
    if (t->ndim > 0 && !t->shape) {
        npg__set_error(NPG_ERR_NULL_ARG, "%s: the tensor has %d dimensions but no shape", fn, t->ndim);
        return NULL;
    }
    const int nd = t->ndim;
    const int64_t itemsize = (int64_t)npg__dtype_size(dtype);
    int64_t shape[NPG_MAX_DIMS], strides[NPG_MAX_DIMS];
    bool empty = false;
    for (int i = 0; i < nd; i++) {
        shape[i] = t->shape[i];
        if (shape[i] < 0) {
            npg__set_error(NPG_ERR_SHAPE, "%s: dimension %d has negative size %lld", fn, i, (long long)shape[i]);
            return NULL;
        }
        if (shape[i] == 0) empty = true;
    }
    /* row-major strides, or the tensor's where they step between elements:
     * those of a length-1 dimension or an empty tensor are never used, and
     * may be anything (huge ones would overflow in bytes) */
    npg__contiguous_strides(nd, shape, strides);
    if (t->strides && !empty)
        for (int i = 0; i < nd; i++)
            if (shape[i] > 1) strides[i] = t->strides[i];
    /* the memory spans its lowest to its highest element (strides may be
     * negative); the storage starts at the lowest */
    int64_t lo = 0, hi = 0;
    if (!empty) {
        for (int i = 0; i < nd; i++) {
            int64_t span;
            if (__builtin_mul_overflow(shape[i] - 1, strides[i], &span) ||
                (span < 0 ? __builtin_add_overflow(lo, span, &lo) : __builtin_add_overflow(hi, span, &hi))) {
                npg__set_error(NPG_ERR_SHAPE, "%s: the tensor's extent overflows 64 bits", fn);
                return NULL;
            }
        }
    }
    int64_t count, nbytes;
    if (empty) {
        nbytes = 0;
    } else if (__builtin_sub_overflow(hi, lo, &count) || __builtin_add_overflow(count, 1, &count) ||
               __builtin_mul_overflow(count, itemsize, &nbytes)) {
        npg__set_error(NPG_ERR_SHAPE, "%s: the tensor's extent overflows 64 bits", fn);
        return NULL;
    }
    char *first = t->data ? (char *)t->data + t->byte_offset : NULL; /* no offset from NULL (UB) */
    if (!empty && !t->data) {
        npg__set_error(NPG_ERR_NULL_ARG, "%s: the tensor has elements but its data pointer is NULL", fn);
        return NULL;
    }
    if ((uintptr_t)first % (uintptr_t)itemsize != 0) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: data + byte_offset (%p) is not aligned to the %lld-byte element size",
                       fn, (void *)first, (long long)itemsize);
        return NULL;
    }
    void *base = empty ? NULL : first + lo * itemsize;
    return npg__wrap_external(fn, dtype, nd, shape, strides, empty ? 0 : -lo, dev, base, (size_t)nbytes,
                              import_deleter, mt);
}
