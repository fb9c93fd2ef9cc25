/*
 * blockcache.c — see blockcache.h.
 */
#include "blockcache.h"

#include <stdint.h>

size_t npg__bc_round(size_t n, size_t granule) {
    if (n == 0) n = 1;
    if (granule == 0) granule = 1;
    if (n <= 4 * granule) return (n + granule - 1) / granule * granule;
    size_t top = (size_t)1 << (63 - __builtin_clzll((unsigned long long)n)), step = top / 4;
    if (n > SIZE_MAX - step) return n;
    return (n + step - 1) / step * step;
}

void *npg__bc_take(npg_block_cache *c, size_t size) {
    void *p = NULL;
    pthread_mutex_lock(&c->lock);
    int best = -1;
    for (int i = 0; i < NPG_BC_SLOTS; i++)
        if (c->ptrs[i] && c->sizes[i] == size && (best < 0 || c->stamps[i] > c->stamps[best])) best = i;
    if (best >= 0) {
        p = c->ptrs[best];
        c->ptrs[best] = NULL;
        c->bytes -= size;
    }
    pthread_mutex_unlock(&c->lock);
    return p;
}

/* The occupied slot put longest ago, or -1. */
static int oldest(const npg_block_cache *c) {
    int o = -1;
    for (int i = 0; i < NPG_BC_SLOTS; i++)
        if (c->ptrs[i] && (o < 0 || c->stamps[i] < c->stamps[o])) o = i;
    return o;
}

void npg__bc_put(npg_block_cache *c, void *ptr, size_t size, npg_bc_release_fn release, void *ctx) {
    if (!ptr) return;
    /* evicted blocks are released after the lock is dropped */
    void *out_p[NPG_BC_SLOTS + 1];
    size_t out_s[NPG_BC_SLOTS + 1];
    int nout = 0;
    pthread_mutex_lock(&c->lock);
    if (size > c->limit) {
        out_p[nout] = ptr;
        out_s[nout++] = size;
    } else {
        int slot = -1;
        while (c->bytes + size > c->limit || slot < 0) {
            if (slot < 0) /* a free slot, if there is one */
                for (int i = 0; i < NPG_BC_SLOTS && slot < 0; i++)
                    if (!c->ptrs[i]) slot = i;
            if (c->bytes + size <= c->limit && slot >= 0) break;
            int o = oldest(c); /* exists: bytes > 0 or every slot is taken */
            out_p[nout] = c->ptrs[o];
            out_s[nout++] = c->sizes[o];
            c->bytes -= c->sizes[o];
            c->ptrs[o] = NULL;
            if (slot < 0) slot = o;
        }
        c->ptrs[slot] = ptr;
        c->sizes[slot] = size;
        c->stamps[slot] = ++c->clock;
        c->bytes += size;
    }
    pthread_mutex_unlock(&c->lock);
    for (int i = 0; i < nout; i++) release(out_p[i], out_s[i], ctx);
}

size_t npg__bc_bytes(npg_block_cache *c) {
    pthread_mutex_lock(&c->lock);
    size_t b = c->bytes;
    pthread_mutex_unlock(&c->lock);
    return b;
}

size_t npg__bc_drain(npg_block_cache *c, npg_bc_release_fn release, void *ctx) {
    size_t total = 0;
    for (;;) {
        void *p = NULL;
        size_t s = 0;
        pthread_mutex_lock(&c->lock);
        for (int i = 0; i < NPG_BC_SLOTS; i++) {
            if (c->ptrs[i]) {
                p = c->ptrs[i];
                s = c->sizes[i];
                c->ptrs[i] = NULL;
                c->bytes -= s;
                break;
            }
        }
        pthread_mutex_unlock(&c->lock);
        if (!p) return total;
        release(p, s, ctx);
        total += s;
    }
}
