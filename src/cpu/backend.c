/*
 * backend.c — the CPU backend's vtable, device description, memory and
 * thread control. Memory is plain 64-byte-aligned heap memory; "device"
 * copies are memcpy (split across threads when large). The op families live
 * in one file each (elementwise.c, reduce.c, index.c, sort.c, matmul.c,
 * random.c, nn.c). OpenMP and OpenBLAS share one thread count.
 */
#define _POSIX_C_SOURCE 200809L
#include "cpu.h"

#include "blockcache.h"

#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

#include <cblas.h>

npg_status npg__cpu_unsupported(npg_op op, npg_dtype dt) {
    return npg__set_error(NPG_ERR_UNSUPPORTED, "cpu %s: dtype %s not supported", npg__op_name(op),
                          npg_dtype_name(dt));
}

/* ---- threads ---------------------------------------------------------------- */

int npg__cpu_threads(void) {
#ifdef NPG_HAVE_OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

/* n <= 0 restores the default (one thread per processor). */
void npg__cpu_set_num_threads(int n) {
#ifdef NPG_HAVE_OPENMP
    if (n <= 0) n = omp_get_num_procs();
    omp_set_num_threads(n);
#else
    if (n <= 0) n = 1;
#endif
    openblas_set_num_threads(n);
}

int npg__cpu_get_num_threads(void) { return npg__cpu_threads(); }

/* ---- devices ---------------------------------------------------------------- */

static int cpu_device_count(void) { return 1; }

/* The value of "key : value" lines in a /proc file, or false. */
static bool proc_field(const char *path, const char *key, char *val, size_t len) {
    FILE *f = fopen(path, "r");
    if (!f) return false;
    char line[512];
    size_t klen = strlen(key);
    bool found = false;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, klen) != 0) continue;
        char *colon = strchr(line + klen, ':');
        if (!colon) continue;
        colon++;
        while (*colon == ' ' || *colon == '\t') colon++;
        size_t n = strcspn(colon, "\n");
        if (n >= len) n = len - 1;
        memcpy(val, colon, n);
        val[n] = '\0';
        found = true;
        break;
    }
    fclose(f);
    return found;
}

static size_t cpu_cached_bytes(void);

static npg_status cpu_device_info(int dev, npg_device_info *info) {
    char model[96];
    memset(info, 0, sizeof *info);
    if (proc_field("/proc/cpuinfo", "model name", model, sizeof model))
        snprintf(info->name, sizeof info->name, "cpu (%s, %d threads)", model, npg__cpu_threads());
    else
        snprintf(info->name, sizeof info->name, "cpu (%d threads)", npg__cpu_threads());
    long pages = sysconf(_SC_PHYS_PAGES), avail = sysconf(_SC_AVPHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    if (pages > 0 && psize > 0) info->total_bytes = (size_t)pages * (size_t)psize;
    if (avail > 0 && psize > 0) info->free_bytes = (size_t)avail * (size_t)psize;
    /* MemAvailable counts reclaimable page cache too: what a user means by free. */
    char kb[64];
    if (proc_field("/proc/meminfo", "MemAvailable", kb, sizeof kb)) {
        unsigned long long v = strtoull(kb, NULL, 10);
        if (v > 0) info->free_bytes = (size_t)v * 1024u;
    }
    info->cached_bytes = cpu_cached_bytes();
    return NPG_OK;
}

static npg_status cpu_synchronize(int dev) { return NPG_OK; }

/* ---- memory ----------------------------------------------------------------- */

/* ---- memory ----------------------------------------------------------------------
 * Large arrays come from mmap in glibc, so every fresh allocation costs page
 * faults and zeroing (more than the op itself at 16M elements). Freed blocks
 * of 64 KiB or more go to a block cache (src/common/blockcache.h) and are
 * handed out again; it holds at most NPG_CPU_CACHE_MB megabytes (default
 * 1024; 0 disables it). */

#define CACHE_MIN ((size_t)64 << 10)

static npg_block_cache g_cache = NPG_BLOCK_CACHE_INIT;

static pthread_once_t g_cache_once = PTHREAD_ONCE_INIT;
static void cache_limit_from_env(void) {
    const char *e = getenv("NPG_CPU_CACHE_MB");
    g_cache.limit = (e && *e) ? (size_t)strtoull(e, NULL, 10) << 20 : (size_t)1024 << 20;
}
/* Once, whichever thread frees first (the limit is read under the cache's lock). */
static void cache_init_limit(void) { pthread_once(&g_cache_once, cache_limit_from_env); }

static size_t block_size(size_t nbytes) { return nbytes < CACHE_MIN ? (nbytes ? nbytes : 1) : npg__bc_round(nbytes, CACHE_MIN); }

/* Small blocks (up to 1 KiB, in 64-byte classes) are recycled through
 * per-thread free lists: a 1-element op then costs no malloc. */
#define SMALL_MAX 1024
#define SMALL_CLASSES (SMALL_MAX / 64)
#define SMALL_KEEP 64
typedef struct small_block {
    struct small_block *next;
} small_block;
static _Thread_local small_block *tl_small[SMALL_CLASSES];
static _Thread_local int tl_small_n[SMALL_CLASSES];
static _Thread_local bool tl_small_registered;
static pthread_key_t g_small_key;
static pthread_once_t g_small_once = PTHREAD_ONCE_INIT;

static void small_thread_exit(void *unused) {
    (void)unused;
    for (int c = 0; c < SMALL_CLASSES; c++) { /* also npg_empty_cache for the calling thread */
        while (tl_small[c]) {
            small_block *b = tl_small[c];
            tl_small[c] = b->next;
            free(b);
        }
        tl_small_n[c] = 0;
    }
}
static void small_make_key(void) { pthread_key_create(&g_small_key, small_thread_exit); }

static int small_class(size_t nbytes) { return nbytes == 0 ? 0 : (int)((nbytes - 1) / 64); }

static npg_status cpu_alloc(int dev, size_t nbytes, void **out_ptr) {
    if (nbytes <= SMALL_MAX) {
        int c = small_class(nbytes);
        small_block *b = tl_small[c];
        if (b) {
            tl_small[c] = b->next;
            tl_small_n[c]--;
            *out_ptr = b;
            return NPG_OK;
        }
        void *p = NULL;
        if (posix_memalign(&p, 64, (size_t)(c + 1) * 64) != 0 || !p) {
            *out_ptr = NULL;
            return npg__set_error(NPG_ERR_OOM, "cpu: out of memory allocating %zu bytes", nbytes);
        }
        *out_ptr = p;
        return NPG_OK;
    }
    size_t size = block_size(nbytes);
    void *p = size >= CACHE_MIN ? npg__bc_take(&g_cache, size) : NULL;
    *out_ptr = NULL;
    if (!p && (posix_memalign(&p, 64, size) != 0 || !p))
        return npg__set_error(NPG_ERR_OOM, "cpu: out of memory allocating %zu bytes", nbytes);
    *out_ptr = p;
    return NPG_OK;
}

static void release_block(void *ptr, size_t size, void *ctx) {
    (void)size;
    (void)ctx;
    free(ptr);
}

static void cpu_free(int dev, void *ptr, size_t nbytes) {
    if (!ptr) return;
    if (nbytes <= SMALL_MAX) {
        int c = small_class(nbytes);
        if (tl_small_n[c] >= SMALL_KEEP) {
            free(ptr);
            return;
        }
        if (!tl_small_registered) {
            pthread_once(&g_small_once, small_make_key);
            pthread_setspecific(g_small_key, (void *)1);
            tl_small_registered = true;
        }
        small_block *b = ptr;
        b->next = tl_small[c];
        tl_small[c] = b;
        tl_small_n[c]++;
        return;
    }
    size_t size = block_size(nbytes);
    if (size < CACHE_MIN) {
        free(ptr);
        return;
    }
    cache_init_limit();
    npg__bc_put(&g_cache, ptr, size, release_block, NULL);
}

static size_t cpu_cached_bytes(void) {
    size_t b = npg__bc_bytes(&g_cache);
    for (int c = 0; c < SMALL_CLASSES; c++) b += (size_t)tl_small_n[c] * (size_t)(c + 1) * 64;
    return b;
}

/* The shared large-block cache and the calling thread's small-block lists
 * (other threads' lists go when those threads exit). */
static npg_status cpu_empty_cache(int dev) {
    (void)dev;
    npg__bc_drain(&g_cache, release_block, NULL);
    small_thread_exit(NULL);
    return NPG_OK;
}

/* memcpy split across threads for large buffers (one core cannot saturate
 * the memory bus on most machines). */
void npg__cpu_memcpy(void *dst, const void *src, size_t nbytes) {
    const size_t min_par = (size_t)1 << 20;
    int64_t parts = nbytes >= min_par ? npg__cpu_threads() : 1;
    if (parts <= 1) {
        memcpy(dst, src, nbytes);
        return;
    }
    NPG_OMP_FOR(parts > 1)
    for (int64_t k = 0; k < parts; k++) {
        int64_t lo = npg__cpu_split((int64_t)nbytes, parts, k), hi = npg__cpu_split((int64_t)nbytes, parts, k + 1);
        memcpy((char *)dst + lo, (const char *)src + lo, (size_t)(hi - lo));
    }
}

static npg_status cpu_copy(int dev, void *dst, const void *src, size_t nbytes) {
    if (nbytes && dst != src) npg__cpu_memcpy(dst, src, nbytes);
    return NPG_OK;
}

const npg_backend npg_cpu_backend = {
    .name = "cpu",
    .type = NPG_DEVICE_CPU,
    .half_matmul = true, /* bfloat16 dot products, or sgemm on float32 copies */
    .half_reduce = true, /* elements widened as they are read */
    .half_im2col = true, /* a gather of the 2-byte elements */
    .wide_int_sum = true, /* integers summed into int64 as they are read */
    .wide_int_scan = true,
    .device_count = cpu_device_count,
    .device_info = cpu_device_info,
    .synchronize = cpu_synchronize,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .empty_cache = cpu_empty_cache,
    .copy_h2d = cpu_copy,
    .copy_d2h = cpu_copy,
    .copy_d2d = cpu_copy,
    .fill = npg__cpu_fill,
    .copy = npg__cpu_copy,
    .unary = npg__cpu_unary,
    .binary = npg__cpu_binary,
    .where = npg__cpu_where,
    .reduce = npg__cpu_reduce,
    .scan = npg__cpu_scan,
    .gather = npg__cpu_gather,
    .scatter_add = npg__cpu_scatter_add,
    .matmul = npg__cpu_matmul,
    .random = npg__cpu_random,
    .sort = npg__cpu_sort,
    .nonzero = npg__cpu_nonzero,
    .softmax = npg__cpu_softmax,
    .softmax_backward = npg__cpu_softmax_backward,
    .cross_entropy = npg__cpu_cross_entropy,
    .cross_entropy_backward = npg__cpu_cross_entropy_backward,
    .im2col = npg__cpu_im2col,
    .col2im = npg__cpu_col2im,
    .pool2d = npg__cpu_pool2d,
    .pool2d_backward = npg__cpu_pool2d_backward,
    .sgd_step = npg__cpu_sgd_step,
    .adam_step = npg__cpu_adam_step,
    .potrf = npg__cpu_potrf,
    .getrf = npg__cpu_getrf,
    .getrs = npg__cpu_getrs,
    .trsm = npg__cpu_trsm,
    .qr = npg__cpu_qr,
    .syevd = npg__cpu_syevd,
    .gesvd = npg__cpu_gesvd,
};
