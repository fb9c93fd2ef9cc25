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
    for (int i = 0; i < NPG_BC_SLOTS; i++) {
        if (c->ptrs[i] && c->sizes[i] == size) {
            p = c->ptrs[i];
            c->ptrs[i] = NULL;
            c->bytes -= size;
            break;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return p;
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
        int free_slot = -1;
        for (int i = 0; i < NPG_BC_SLOTS && (c->bytes + size > c->limit || free_slot < 0); i++) {
            if (!c->ptrs[i]) {
                if (free_slot < 0) free_slot = i;
                continue;
            }
            if (c->bytes + size > c->limit) { /* make room */
                out_p[nout] = c->ptrs[i];
                out_s[nout++] = c->sizes[i];
                c->bytes -= c->sizes[i];
                c->ptrs[i] = NULL;
                if (free_slot < 0) free_slot = i;
            }
        }
        if (free_slot < 0) { /* every slot busy: replace slot 0 (the oldest of the scan) */
            out_p[nout] = c->ptrs[0];
            out_s[nout++] = c->sizes[0];
            c->bytes -= c->sizes[0];
            c->ptrs[0] = NULL;
            free_slot = 0;
        }
        c->ptrs[free_slot] = ptr;
        c->sizes[free_slot] = size;
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
