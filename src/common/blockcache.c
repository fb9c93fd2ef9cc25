/*
 * blockcache.c — see blockcache.h.
 */
#include "blockcache.h"

#include <stdint.h>
#include <string.h>

size_t npg__bc_round(size_t n, size_t granule) {
    if (n == 0) n = 1;
    if (granule == 0) granule = 1;
    if (n <= 4 * granule) return (n + granule - 1) / granule * granule;
    size_t top = (size_t)1 << (63 - __builtin_clzll((unsigned long long)n)), step = top / 4;
    if (n > SIZE_MAX - step) return n;
    return (n + step - 1) / step * step;
}

/* Remove entry i, keeping the others in order. */
static void remove_at(npg_block_cache *c, int i) {
    c->bytes -= c->sizes[i];
    memmove(c->sizes + i, c->sizes + i + 1, sizeof c->sizes[0] * (size_t)(c->n - i - 1));
    memmove(c->ptrs + i, c->ptrs + i + 1, sizeof c->ptrs[0] * (size_t)(c->n - i - 1));
    c->n--;
}

void *npg__bc_take(npg_block_cache *c, size_t size) {
    void *p = NULL;
    pthread_mutex_lock(&c->lock);
    for (int i = c->n - 1; i >= 0; i--) /* newest first: a loop finds last round's block near the end */
        if (c->sizes[i] == size) {
            p = c->ptrs[i];
            remove_at(c, i);
            break;
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
        while (c->n > 0 && (c->bytes + size > c->limit || c->n == NPG_BC_SLOTS)) { /* the oldest go */
            out_p[nout] = c->ptrs[0];
            out_s[nout++] = c->sizes[0];
            remove_at(c, 0);
        }
        c->ptrs[c->n] = ptr;
        c->sizes[c->n] = size;
        c->n++;
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
        pthread_mutex_lock(&c->lock);
        if (c->n == 0) {
            pthread_mutex_unlock(&c->lock);
            return total;
        }
        void *p = c->ptrs[c->n - 1];
        size_t s = c->sizes[c->n - 1];
        remove_at(c, c->n - 1);
        pthread_mutex_unlock(&c->lock);
        release(p, s, ctx);
        total += s;
    }
}
