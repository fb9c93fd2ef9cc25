/*
 * blockcache.h — a small cache of freed memory blocks, shared by the
 * backends: the CPU keeps large blocks (no page faults for fresh mmap'd
 * memory), CUDA keeps every block (no allocator API call per op, like
 * PyTorch's caching allocator; reuse is safe because each device has one
 * stream). Blocks are matched by exact rounded size. Thread-safe.
 */
#ifndef NPG_BLOCKCACHE_H
#define NPG_BLOCKCACHE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NPG_BC_SLOTS 256

typedef struct npg_block_cache {
    pthread_mutex_t lock;
    size_t limit; /* most bytes kept; (size_t)-1 until set */
    size_t bytes; /* bytes kept now */
    int n;        /* blocks kept: entries [0, n), oldest first */
    size_t sizes[NPG_BC_SLOTS];
    void *ptrs[NPG_BC_SLOTS];
} npg_block_cache;

#define NPG_BLOCK_CACHE_INIT {PTHREAD_MUTEX_INITIALIZER, (size_t)-1, 0, 0, {0}, {0}}

typedef void (*npg_bc_release_fn)(void *ptr, size_t size, void *ctx);

/* n rounded up: to `granule` below 4*granule... in general to a quarter of
 * its power of two, so that similar sizes share blocks (waste <= 25%). */
size_t npg__bc_round(size_t n, size_t granule);
/* A cached block of exactly `size` bytes (the most recently put one: the
 * likeliest to be warm), or NULL. */
void *npg__bc_take(npg_block_cache *c, size_t size);
/* Keep `ptr` (of `size` bytes) for reuse. To stay under the limit, and when
 * every slot is taken, the least recently put blocks are released through
 * `release` (so a loop's working set survives stale blocks from an earlier
 * phase); ptr itself is released if it alone exceeds the limit. */
void npg__bc_put(npg_block_cache *c, void *ptr, size_t size, npg_bc_release_fn release, void *ctx);
/* Bytes held in the cache now. */
size_t npg__bc_bytes(npg_block_cache *c);
/* Release every cached block. Returns the bytes released. */
size_t npg__bc_drain(npg_block_cache *c, npg_bc_release_fn release, void *ctx);

#ifdef __cplusplus
}
#endif

#endif
