/*
 * test_dlpack.c — npg_to_dlpack / npg_from_dlpack (include/npg/dlpack.h) on
 * the device under test: zero-copy round trips of every dtype and of 0-d,
 * empty and non-contiguous arrays (transposed, strided, flipped), tensors
 * made by a foreign producer (NULL strides, byte_offset, broadcast strides,
 * a deleter that must run exactly once, after the last view), and every
 * error path, which leaves the tensor with its owner and calls no deleter.
 * tests/interop/dlpack_torch.py exchanges arrays with PyTorch.
 */
#include <npg/dlpack.h>

#include "test_util.h"

static void setup(void) { t_require_device(); }
TestSuite(dlpack, .init = setup);

#define OPT(...) NPG_OPTS(.device = t_dev(), __VA_ARGS__)

static DLDeviceType dl_dev_type(void) { return t_dev().type == NPG_DEVICE_CUDA ? kDLCUDA : kDLCPU; }

Test(dlpack, export_fields_and_zero_copy_round_trip) {
    t_live live = t_live_now();
    npg_scope s = npg_scope_begin();
    npg_array *x = npg_reshape(npg_arange(0, 12, 1, OPT(.dtype = NPG_FLOAT32)), NPG_SHAPE(3, 4));
    DLManagedTensor *t = npg_to_dlpack(x);
    cr_assert_not_null(t, "%s", npg_last_error());
    cr_assert_eq(t->dl_tensor.ndim, 2);
    cr_assert_eq(t->dl_tensor.shape[0], 3);
    cr_assert_eq(t->dl_tensor.shape[1], 4);
    cr_assert_eq(t->dl_tensor.strides[0], 4);
    cr_assert_eq(t->dl_tensor.strides[1], 1);
    cr_assert_eq(t->dl_tensor.dtype.code, kDLFloat);
    cr_assert_eq(t->dl_tensor.dtype.bits, 32);
    cr_assert_eq(t->dl_tensor.dtype.lanes, 1);
    cr_assert_eq(t->dl_tensor.device.device_type, dl_dev_type());
    cr_assert_eq(t->dl_tensor.device.device_id, t_dev().index);
    cr_assert_eq(t->dl_tensor.byte_offset, 0);
    cr_assert_eq(t->dl_tensor.data, npg_data(x), "data is x's first element");
    npg_array *y = npg_from_dlpack(t); /* npg owns t now */
    cr_assert_not_null(y, "%s", npg_last_error());
    cr_assert_eq(npg_data(y), npg_data(x), "zero-copy");
    cr_assert_not(npg_requires_grad(y));
    /* a write through y is seen through x */
    cr_assert_eq(npg_setitem_scalar(y, (const npg_idx[]){NPG_I(1), NPG_I(2)}, 2, -5.0), NPG_OK, "%s",
                 npg_last_error());
    double want[12];
    for (int i = 0; i < 12; i++) want[i] = i;
    want[6] = -5;
    t_assert_close(x, want, 12, 0, 0, "x after a write through the imported array");
    npg_scope_end(s);
    t_assert_no_leak(live, "round trip");
}

Test(dlpack, every_dtype_and_geometry_round_trips) {
    t_live live = t_live_now();
    const npg_dtype dts[] = {NPG_BOOL,     NPG_UINT8, NPG_INT32, NPG_INT64,  NPG_FLOAT32, NPG_FLOAT64, NPG_FLOAT16,
                             NPG_BFLOAT16, NPG_INT8,  NPG_INT16, NPG_UINT16, NPG_UINT32,  NPG_UINT64};
    const uint8_t codes[] = {6,         kDLUInt, kDLInt, kDLInt,  kDLFloat, kDLFloat, kDLFloat,
                             kDLBfloat, kDLInt,  kDLInt, kDLUInt, kDLUInt,  kDLUInt};
    _Static_assert(sizeof dts / sizeof dts[0] == NPG_DTYPE_COUNT - 1, "every dtype");
    for (int d = 0; d < NPG_DTYPE_COUNT - 1; d++) {
        npg_scope s = npg_scope_begin();
        double v[5 * 7];
        for (int i = 0; i < 35; i++)
            v[i] = dts[d] == NPG_BOOL ? (i % 3 == 0) : t_is_unsigned(dts[d]) ? i * 7 : i - 11;
        npg_array *base = t_arr(v, dts[d], NPG_SHAPE(5, 7));
        npg_array *cases[] = {
            base,
            npg_permute_dims(base, NPG_AXES(1, 0)),                                           /* transposed */
            NPG_INDEX(base, NPG_SLICE(1, 5, 2), NPG_SLICE(NPG_NONE, NPG_NONE, 3)),            /* strided */
            npg_flip(base, NPG_AXES(0, 1)),                                                   /* negative strides */
            NPG_INDEX(base, NPG_I(2), NPG_I(3)),                                              /* 0-d, offset */
            NPG_INDEX(base, NPG_SLICE(2, 2, 1)),                                              /* empty */
        };
        for (int c = 0; c < 6; c++) {
            npg_array *x = cases[c];
            cr_assert_not_null(x, "%s", npg_last_error());
            DLManagedTensor *t = npg_to_dlpack(x);
            cr_assert_not_null(t, "dtype %s case %d: %s", npg_dtype_name(dts[d]), c, npg_last_error());
            cr_assert_eq(t->dl_tensor.dtype.code, codes[d]);
            cr_assert_eq(t->dl_tensor.dtype.bits, 8 * npg_dtype_size(dts[d]));
            cr_assert_eq(t->dl_tensor.ndim, npg_ndim(x));
            int64_t st[NPG_MAX_DIMS];
            cr_assert_eq(npg_strides(x, st), NPG_OK);
            for (int i = 0; i < npg_ndim(x); i++) {
                cr_assert_eq(t->dl_tensor.shape[i], npg_shape_of(x).dims[i]);
                cr_assert_eq(t->dl_tensor.strides[i] * (int64_t)npg_itemsize(x), st[i]); /* elements vs bytes */
            }
            npg_array *y = npg_from_dlpack(t);
            cr_assert_not_null(y, "dtype %s case %d: %s", npg_dtype_name(dts[d]), c, npg_last_error());
            cr_assert_eq(npg_dtype_of(y), dts[d]);
            cr_assert_eq(npg_ndim(y), npg_ndim(x));
            cr_assert_eq(npg_size(y), npg_size(x));
            if (npg_size(x) > 0) cr_assert_eq(npg_data(y), npg_data(x), "dtype %s case %d: %p vs %p", npg_dtype_name(dts[d]), c, npg_data(y), npg_data(x));
            double *want = t_read(x);
            char what[64];
            snprintf(what, sizeof what, "dtype %s case %d", npg_dtype_name(dts[d]), c);
            t_assert_close(y, want, npg_size(x), 0, 0, what);
            free(want);
        }
        npg_scope_end(s);
    }
    t_assert_no_leak(live, "every dtype and geometry");
}

/* A producer of our own: its memory and a deleter that counts calls. */
typedef struct producer {
    DLManagedTensor mt;
    int64_t shape[3], strides[3];
    double buf[64];
    int *deleted;
} producer;

static void producer_deleter(DLManagedTensor *self) {
    producer *p = self->manager_ctx;
    (*p->deleted)++;
    free(p);
}

static producer *producer_new(int *deleted) {
    producer *p = calloc(1, sizeof *p);
    cr_assert_not_null(p);
    for (int i = 0; i < 64; i++) p->buf[i] = i;
    p->deleted = deleted;
    p->mt.manager_ctx = p;
    p->mt.deleter = producer_deleter;
    p->mt.dl_tensor.data = p->buf;
    p->mt.dl_tensor.device = (DLDevice){kDLCPU, 0};
    p->mt.dl_tensor.dtype = (DLDataType){kDLFloat, 64, 1};
    p->mt.dl_tensor.shape = p->shape;
    return p;
}

Test(dlpack, foreign_cpu_tensor_deleter_runs_once_after_the_last_view) {
    if (t_dev().type != NPG_DEVICE_CPU) cr_skip_test("a host-memory producer: the CPU device");
    t_live live = t_live_now();
    int deleted = 0;
    producer *p = producer_new(&deleted);
    /* (2, 3) row-major from element 5: NULL strides, byte_offset */
    p->mt.dl_tensor.ndim = 2;
    p->shape[0] = 2, p->shape[1] = 3;
    p->mt.dl_tensor.strides = NULL;
    p->mt.dl_tensor.byte_offset = 5 * sizeof(double);
    npg_array *x = npg_from_dlpack(&p->mt);
    cr_assert_not_null(x, "%s", npg_last_error());
    double want[6] = {5, 6, 7, 8, 9, 10};
    t_assert_close(x, want, 6, 0, 0, "NULL strides and byte_offset");
    npg_array *v = NPG_INDEX(x, NPG_I(1)); /* a view keeps the memory */
    npg_free(x);
    cr_assert_eq(deleted, 0, "deleter ran while a view still used the memory");
    double wv[3] = {8, 9, 10};
    t_assert_close(v, wv, 3, 0, 0, "view after the import was freed");
    npg_free(v);
    cr_assert_eq(deleted, 1, "deleter ran %d times", deleted);
    t_assert_no_leak(live, "foreign tensor");
}

Test(dlpack, foreign_broadcast_and_negative_strides) {
    if (t_dev().type != NPG_DEVICE_CPU) cr_skip_test("a host-memory producer: the CPU device");
    t_live live = t_live_now();
    int deleted = 0;
    npg_scope s = npg_scope_begin();
    /* (3, 4) with strides (0, -2) starting at element 20: rows repeat,
     * columns run 20, 18, 16, 14 */
    producer *p = producer_new(&deleted);
    p->mt.dl_tensor.ndim = 2;
    p->shape[0] = 3, p->shape[1] = 4;
    p->strides[0] = 0, p->strides[1] = -2;
    p->mt.dl_tensor.strides = p->strides;
    p->mt.dl_tensor.data = p->buf + 20;
    npg_array *x = npg_from_dlpack(&p->mt);
    cr_assert_not_null(x, "%s", npg_last_error());
    double want[12] = {20, 18, 16, 14, 20, 18, 16, 14, 20, 18, 16, 14};
    t_assert_close(x, want, 12, 0, 0, "broadcast rows, reversed columns");
    cr_assert_float_eq(npg_item(npg_sum(x, NPG_ALL_AXES, false)), 3 * (20 + 18 + 16 + 14), 0);
    /* a broadcast tensor overlaps itself: read-only, like npg_broadcast_to */
    cr_assert_neq(npg_setitem_scalar(x, (const npg_idx[]){NPG_I(0), NPG_I(0)}, 2, 1.0), NPG_OK);
    cr_assert_eq(p->buf[20], 20, "the refused write changed the producer's memory");
    npg_clear_error();
    /* a 0-d tensor (ndim 0, no shape) */
    int deleted0 = 0;
    producer *q = producer_new(&deleted0);
    q->mt.dl_tensor.ndim = 0;
    q->mt.dl_tensor.shape = NULL;
    q->mt.dl_tensor.data = q->buf + 7;
    npg_array *z = npg_from_dlpack(&q->mt);
    cr_assert_not_null(z, "%s", npg_last_error());
    cr_assert_eq(npg_ndim(z), 0);
    cr_assert_float_eq(npg_item(z), 7, 0);
    npg_scope_end(s);
    cr_assert_eq(deleted, 1);
    cr_assert_eq(deleted0, 1);
    t_assert_no_leak(live, "broadcast and negative strides");
}

Test(dlpack, errors_leave_the_tensor_with_its_owner) {
    t_live live = t_live_now();
    int deleted = 0;
    producer *p = producer_new(&deleted);
    p->mt.dl_tensor.ndim = 1;
    p->shape[0] = 4;
    struct {
        const char *what;
        npg_status want;
        const char *needle;
    } cases[] = {
        {"int128", NPG_ERR_DTYPE, "code 0, 128 bits"},
        {"float8", NPG_ERR_DTYPE, "code 2, 8 bits"},
        {"two lanes", NPG_ERR_DTYPE, "2 lanes"},
        {"OpenCL", NPG_ERR_DEVICE, "device type 4"},
        {"nine dims", NPG_ERR_SHAPE, "9 dimensions"},
        {"negative size", NPG_ERR_SHAPE, "negative size"},
        {"misaligned", NPG_ERR_INVALID_ARG, "not aligned"},
        {"no shape", NPG_ERR_NULL_ARG, "no shape"},
        {"no data", NPG_ERR_NULL_ARG, "data pointer is NULL"},
    };
    for (int c = 0; c < (int)(sizeof cases / sizeof cases[0]); c++) {
        DLTensor saved = p->mt.dl_tensor;
        DLTensor *t = &p->mt.dl_tensor;
        switch (c) {
        case 0: t->dtype = (DLDataType){kDLInt, 128, 1}; break;
        case 1: t->dtype = (DLDataType){kDLFloat, 8, 1}; break;
        case 2: t->dtype = (DLDataType){kDLFloat, 32, 2}; break;
        case 3: t->device = (DLDevice){kDLOpenCL, 0}; break;
        case 4: t->ndim = 9; break;
        case 5: p->shape[0] = -1; break;
        case 6: t->byte_offset = 3; break;
        case 7: t->shape = NULL; break;
        case 8: t->data = NULL; break;
        }
        DLTensor before = *t;
        cr_assert_null(npg_from_dlpack(&p->mt), "%s: accepted", cases[c].what);
        t_assert_error(cases[c].want, cases[c].needle);
        cr_assert_eq(memcmp(&before, t, sizeof before), 0, "%s: the tensor changed", cases[c].what);
        cr_assert_eq(deleted, 0, "%s: the deleter ran on failure", cases[c].what);
        npg_clear_error();
        *t = saved;
        p->shape[0] = 4;
    }
    /* a CUDA tensor on a machine without that device */
    if (!npg_cuda_available()) {
        p->mt.dl_tensor.device = (DLDevice){kDLCUDA, 0};
        cr_assert_null(npg_from_dlpack(&p->mt));
        cr_assert_eq(npg_last_status(), NPG_ERR_DEVICE, "%s", npg_last_error());
        npg_clear_error();
        p->mt.dl_tensor.device = (DLDevice){kDLCPU, 0};
    }
    cr_assert_null(npg_from_dlpack(NULL));
    cr_assert_eq(npg_last_status(), NPG_ERR_NULL_ARG);
    npg_clear_error();
    p->mt.deleter(&p->mt); /* still the caller's */
    cr_assert_eq(deleted, 1);

    /* export: NULL, and an array that requires grad */
    npg_clear_error();
    cr_assert_null(npg_to_dlpack(NULL));
    cr_assert_eq(npg_last_status(), NPG_ERR_NULL_ARG);
    npg_clear_error();
    npg_array *w = npg_ones(NPG_SHAPE(3), OPT(.requires_grad = true));
    cr_assert_null(npg_to_dlpack(w));
    t_assert_error(NPG_ERR_AUTOGRAD, "npg_detach");
    npg_clear_error();
    npg_array *wd = npg_detach(w);
    DLManagedTensor *t = npg_to_dlpack(wd);
    cr_assert_not_null(t, "%s", npg_last_error());
    npg_free(wd);
    npg_free(w);
    t->deleter(t); /* the consumer's side: frees the memory last */
    t_assert_no_leak(live, "errors");
}

Test(dlpack, exported_tensor_outlives_the_array) {
    t_live live = t_live_now();
    npg_scope s = npg_scope_begin();
    npg_array *x = npg_full(NPG_SHAPE(1000), 2.5, OPT(.dtype = NPG_FLOAT64));
    DLManagedTensor *t = npg_to_dlpack(x);
    cr_assert_not_null(t, "%s", npg_last_error());
    npg_free(x);
    /* the memory is still there for the consumer */
    npg_array *y = npg_from_dlpack(t);
    cr_assert_not_null(y, "%s", npg_last_error());
    cr_assert_float_eq(npg_item(npg_sum(y, NPG_ALL_AXES, false)), 2500, 0);
    npg_scope_end(s);
    t_assert_no_leak(live, "exported tensor");
}

/* Found by tests/common/test_fuzz2.c: strides that never step between
 * elements (of a length-1 dimension, or of an empty tensor) may be anything;
 * huge ones overflowed when npg computed byte strides (UB). And an empty
 * tensor may come without memory, even with a byte_offset. */
Test(dlpack, unused_strides_may_be_anything) {
    if (t_dev().type != NPG_DEVICE_CPU) cr_skip_test("a host-memory producer: the CPU device");
    t_live live = t_live_now();
    int deleted = 0;
    for (int c = 0; c < 3; c++) {
        producer *p = producer_new(&deleted);
        DLTensor *t = &p->mt.dl_tensor;
        t->ndim = 3;
        p->shape[0] = 2, p->shape[1] = 1, p->shape[2] = c == 0 ? 3 : 0;
        p->strides[0] = 3, p->strides[1] = INT64_MAX, p->strides[2] = c == 0 ? 1 : INT64_MIN;
        t->strides = p->strides;
        if (c == 2) {
            t->data = NULL;
            t->byte_offset = 64;
        }
        npg_array *x = npg_from_dlpack(&p->mt);
        cr_assert_not_null(x, "case %d: %s", c, npg_last_error());
        int64_t st[3];
        cr_assert_eq(npg_strides(x, st), NPG_OK);
        if (c == 0) {
            cr_assert(st[0] == 24 && st[1] == 24 && st[2] == 8, "case 0: strides %lld %lld %lld", (long long)st[0],
                      (long long)st[1], (long long)st[2]);
            double want[6] = {0, 1, 2, 3, 4, 5};
            t_assert_close(x, want, 6, 0, 0, "a length-1 dimension with a huge stride");
        } else { /* npg's own row-major strides */
            int64_t rm[3];
            npg_array *z = npg_zeros(NPG_SHAPE(2, 1, 0), OPT(.dtype = NPG_FLOAT64));
            cr_assert_eq(npg_strides(z, rm), NPG_OK);
            npg_free(z);
            cr_assert(st[0] == rm[0] && st[1] == rm[1] && st[2] == rm[2], "case %d: strides %lld %lld %lld", c,
                      (long long)st[0], (long long)st[1], (long long)st[2]);
            t_assert_shape(x, NPG_SHAPE(2, 1, 0));
            cr_assert_eq(npg_nbytes(x), 0);
        }
        npg_free(x);
        cr_assert_eq(deleted, c + 1);
    }
    t_assert_no_leak(live, "unused strides");
}
