/*
 * desc.c — small helpers on kernel descriptors shared by every backend.
 */
#include "internal.h"

int64_t npg__desc_numel(const npg_tdesc *d) {
    int64_t n = 1;
    for (int i = 0; i < d->ndim; i++) n *= d->shape[i];
    return n;
}

/* Row-major, as npg__is_contiguous decides it: an empty array always is
 * (npg_contiguous hands such arrays over as they are). */
bool npg__desc_contiguous(const npg_tdesc *d) {
    int64_t expect = 1;
    for (int i = d->ndim - 1; i >= 0; i--) {
        if (d->shape[i] == 0) return true;
        if (d->shape[i] != 1 && d->strides[i] != expect) return false;
        expect *= d->shape[i];
    }
    return true;
}
