/*
 * test_blockcache.c — the block cache both backends keep freed memory in.
 */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "blockcache.h"

static int released;
static size_t released_bytes;
static void rel(void *p, size_t size, void *ctx) {
    (void)ctx;
    free(p);
    released++;
    released_bytes += size;
}

Test(blockcache, rounding) {
    cr_assert_eq(npg__bc_round(1, 512), 512);
    cr_assert_eq(npg__bc_round(513, 512), 1024);
    cr_assert_eq(npg__bc_round(2048, 512), 2048);
    cr_assert_eq(npg__bc_round(4097, 512), 5120); /* quarter of 4096 */
    cr_assert_eq(npg__bc_round(1 << 20, 512), 1 << 20);
    cr_assert_eq(npg__bc_round((1 << 20) + 1, 512), (1 << 20) + (1 << 18));
    for (size_t n = 1; n < 100000; n += 997) {
        size_t r = npg__bc_round(n, 64);
        cr_assert(r >= n && r <= n + n / 4 + 64, "n %zu -> %zu", n, r);
        cr_assert_eq(npg__bc_round(r, 64), r, "rounding is idempotent at %zu", n);
    }
}

Test(blockcache, take_put_limit_drain) {
    npg_block_cache c = NPG_BLOCK_CACHE_INIT;
    c.limit = 1000;
    released = 0;
    released_bytes = 0;
    cr_assert_null(npg__bc_take(&c, 100));
    void *a = malloc(100), *b = malloc(300), *d = malloc(800), *big = malloc(2000);
    npg__bc_put(&c, a, 100, rel, NULL);
    npg__bc_put(&c, b, 300, rel, NULL);
    cr_assert_eq(c.bytes, 400);
    cr_assert_eq(npg__bc_bytes(&c), 400);
    cr_assert_eq(npg__bc_take(&c, 100), a, "exact size match");
    cr_assert_null(npg__bc_take(&c, 100), "taken once");
    cr_assert_null(npg__bc_take(&c, 200), "no other size matches");
    npg__bc_put(&c, a, 100, rel, NULL);
    npg__bc_put(&c, d, 800, rel, NULL); /* 400 + 800 > 1000: something is evicted */
    cr_assert_leq(c.bytes, 1000);
    cr_assert_gt(released, 0);
    npg__bc_put(&c, big, 2000, rel, NULL); /* over the limit: released at once */
    cr_assert_leq(c.bytes, 1000);
    size_t before = released_bytes;
    size_t drained = npg__bc_drain(&c, rel, NULL);
    cr_assert_eq(c.bytes, 0);
    cr_assert_eq(npg__bc_bytes(&c), 0);
    cr_assert_eq(released_bytes - before, drained);
    cr_assert_eq(released, 4, "every block released exactly once");
}

Test(blockcache, full_slots_replace) {
    npg_block_cache c = NPG_BLOCK_CACHE_INIT;
    c.limit = (size_t)1 << 40;
    released = 0;
    for (int i = 0; i < NPG_BC_SLOTS + 10; i++) npg__bc_put(&c, malloc(16), 16, rel, NULL);
    cr_assert_eq(released, 10);
    cr_assert_eq(npg__bc_drain(&c, rel, NULL), (size_t)NPG_BC_SLOTS * 16);
    cr_assert_eq(released, NPG_BC_SLOTS + 10);
}

/* Room is made by releasing the blocks put longest ago, whatever slots they
 * sit in: a block taken and put back is recent again and survives. */
Test(blockcache, evicts_least_recently_put) {
    npg_block_cache c = NPG_BLOCK_CACHE_INIT;
    c.limit = 1000;
    released = 0;
    released_bytes = 0;
    void *x = malloc(600), *y = malloc(300), *z = malloc(300);
    npg__bc_put(&c, x, 600, rel, NULL); /* slot 0 */
    npg__bc_put(&c, y, 300, rel, NULL); /* slot 1 */
    cr_assert_eq(npg__bc_take(&c, 600), x);
    npg__bc_put(&c, x, 600, rel, NULL); /* back in slot 0, now the most recent */
    npg__bc_put(&c, z, 300, rel, NULL); /* 1200 > 1000: y, the oldest, goes */
    cr_assert_eq(released, 1);
    cr_assert_eq(released_bytes, 300);
    cr_assert_eq(npg__bc_take(&c, 600), x, "the recently used block survived");
    cr_assert_eq(npg__bc_take(&c, 300), z);
    cr_assert_null(npg__bc_take(&c, 300), "y was released");
    cr_assert_eq(c.bytes, 0);
    free(x);
    free(z);
}

/* Among blocks of the same size, the most recently put comes back first. */
Test(blockcache, takes_the_most_recent_of_a_size) {
    npg_block_cache c = NPG_BLOCK_CACHE_INIT;
    c.limit = (size_t)1 << 30;
    void *a = malloc(64), *b = malloc(64);
    npg__bc_put(&c, a, 64, rel, NULL);
    npg__bc_put(&c, b, 64, rel, NULL);
    cr_assert_eq(npg__bc_take(&c, 64), b);
    cr_assert_eq(npg__bc_take(&c, 64), a);
    free(a);
    free(b);
}
