/*
 * data.c — mini-batches over the rows of a dataset (x and optional labels y).
 *
 * Each epoch walks a row order — a fresh npg_permutation when shuffling,
 * 0..n-1 otherwise — in slices of batch_size and gathers those rows with
 * npg_take on the arrays' own devices, so a GPU dataset never round-trips
 * through the host. Leaves out: background prefetching and worker threads.
 */
#include "internal.h"
#include "npg/io.h"

struct npg_loader {
    npg_array *x, *y;        /* retained references */
    int64_t n;               /* rows */
    int64_t batch_size, num_batches;
    bool shuffle, drop_last;
    npg_generator *gen;      /* borrowed; NULL: the global generator */
    npg_array *order;        /* this epoch's row order on x's device (unscoped), NULL between epochs */
    npg_array *order_y;      /* the same on y's device when it differs from x's, else NULL */
    int64_t next;            /* index of the next batch in the epoch */
};

npg_loader *npg_loader_new(npg_array *x, npg_array *y, const npg_loader_opts *opts) {
    const char *fn = "npg_loader_new";
    if (!x) {
        npg__null_arg(fn);
        return NULL;
    }
    npg_loader_opts o = opts ? *opts : (npg_loader_opts){0};
    if (o.batch_size < 0) {
        npg__set_error(NPG_ERR_INVALID_ARG, "%s: batch_size must be positive (got %lld)", fn, (long long)o.batch_size);
        return NULL;
    }
    if (o.batch_size == 0) o.batch_size = 1;
    if (x->ndim == 0 || (y && y->ndim == 0)) {
        npg__set_error(NPG_ERR_SHAPE, "%s: %s is 0-d; a loader needs rows along axis 0", fn, x->ndim == 0 ? "x" : "y");
        return NULL;
    }
    if (y && y->shape[0] != x->shape[0]) {
        char sx[NPG_SHAPE_BUF], sy[NPG_SHAPE_BUF];
        npg__set_error(NPG_ERR_SHAPE, "%s: x %s and y %s have different numbers of rows (%lld != %lld)", fn,
                       npg__shape_str(sx, sizeof sx, x->ndim, x->shape),
                       npg__shape_str(sy, sizeof sy, y->ndim, y->shape), (long long)x->shape[0],
                       (long long)y->shape[0]);
        return NULL;
    }
    npg_loader *l = calloc(1, sizeof *l);
    if (!l) {
        npg__set_error(NPG_ERR_OOM, "%s: out of host memory", fn);
        return NULL;
    }
    l->x = npg_retain(x);
    l->y = y ? npg_retain(y) : NULL;
    l->n = x->shape[0];
    l->batch_size = o.batch_size;
    l->shuffle = o.shuffle;
    l->drop_last = o.drop_last;
    l->gen = o.generator;
    l->num_batches = l->n / o.batch_size + (!o.drop_last && l->n % o.batch_size != 0); /* no overflow */
    return l;
}

int64_t npg_loader_num_batches(const npg_loader *l) {
    if (!l) {
        npg__null_arg("npg_loader_num_batches");
        return -1;
    }
    return l->num_batches;
}

static void end_epoch(npg_loader *l) {
    if (l->order) npg__release(l->order);
    if (l->order_y) npg__release(l->order_y);
    l->order = l->order_y = NULL;
    l->next = 0;
}

/* Draw this epoch's row order (on x's device, and y's if different). */
static bool start_epoch(npg_loader *l) {
    npg_device dx = npg__device_of(l->x);
    npg_opts o = {.dtype = NPG_INT64, .device = dx, .generator = l->gen};
    npg_scope s = npg_scope_begin();
    npg_array *ord = l->shuffle ? npg_permutation(l->n, &o) : npg_arange(0, (double)l->n, 1, &o);
    npg_array *ord_y = NULL;
    bool ok = ord != NULL;
    if (ok && l->y && !npg__same_device(l->x, l->y)) {
        ord_y = npg_to(ord, npg__device_of(l->y));
        ok = ord_y != NULL;
    }
    if (ok) {
        npg__unscope(ord); /* the loader owns them across the caller's scopes */
        if (ord_y) npg__unscope(ord_y);
        l->order = ord;
        l->order_y = ord_y;
    }
    npg_scope_end(s);
    return ok;
}

bool npg_loader_next(npg_loader *l, npg_array **xb, npg_array **yb) {
    const char *fn = "npg_loader_next";
    if (xb) *xb = NULL;
    if (yb) *yb = NULL;
    if (!l || !xb) {
        npg__null_arg(fn);
        return false;
    }
    if (l->next >= l->num_batches) {
        end_epoch(l);
        return false;
    }
    if (!l->order && !start_epoch(l)) {
        char prev[512];
        snprintf(prev, sizeof prev, "%s", npg_last_error());
        npg_status st = npg_last_status();
        npg__set_error(st != NPG_OK ? st : NPG_ERR_INTERNAL, "%s: drawing the epoch's row order: %s", fn, prev);
        return false;
    }
    int64_t start = l->next * l->batch_size;
    int64_t stop = l->n - start > l->batch_size ? start + l->batch_size : l->n;
    npg_scope s = npg_scope_begin();
    npg_array *ix = NPG_INDEX(l->order, NPG_SLICE(start, stop, 1));
    npg_array *bx = npg_take(l->x, ix, 0), *by = NULL;
    bool ok = bx != NULL;
    if (ok && l->y && yb) {
        npg_array *iy = l->order_y ? NPG_INDEX(l->order_y, NPG_SLICE(start, stop, 1)) : ix;
        by = npg_take(l->y, iy, 0);
        ok = by != NULL;
    }
    if (ok) {
        npg_keep(bx);
        npg_keep(by);
    }
    npg_scope_end(s);
    if (!ok) return false;
    *xb = bx;
    if (yb) *yb = by;
    l->next++;
    return true;
}

void npg_loader_free(npg_loader *l) {
    if (!l) return;
    end_epoch(l);
    npg__release(l->x);
    if (l->y) npg__release(l->y);
    free(l);
}
