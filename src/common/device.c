/*
 * device.c — the backend registry, the process default device (from
 * NPG_DEVICE), device queries, and thread control.
 */
#define _POSIX_C_SOURCE 200809L
#include "internal.h"

#include <ctype.h>
#include <pthread.h>

/* One registration line per backend. */
static const npg_backend *const g_backends[NPG_DEVICE_TYPE_COUNT] = {
    [NPG_DEVICE_CPU] = &npg_cpu_backend,
#ifdef NPG_HAVE_CUDA
    [NPG_DEVICE_CUDA] = &npg_cuda_backend,
#endif
};

static const char *type_name(npg_device_type t) {
    return t == NPG_DEVICE_CPU ? "cpu" : t == NPG_DEVICE_CUDA ? "cuda" : "default";
}

static int backend_count(const npg_backend *be) {
    /* device_count can be slow (driver init): cache per backend */
    static int cached[NPG_DEVICE_TYPE_COUNT] = {-1, -1, -1};
    int t = (int)be->type;
    int c = __atomic_load_n(&cached[t], __ATOMIC_ACQUIRE);
    if (c < 0) {
        c = be->device_count();
        if (c < 0) c = 0;
        __atomic_store_n(&cached[t], c, __ATOMIC_RELEASE);
    }
    return c;
}

npg_status npg_parse_device(const char *text, npg_device *out) {
    if (!text || !out) {
        npg__null_arg("npg_parse_device");
        return NPG_ERR_NULL_ARG;
    }
    char buf[32];
    size_t n = 0;
    for (const char *p = text; *p && n + 1 < sizeof buf; p++)
        if (!isspace((unsigned char)*p)) buf[n++] = (char)tolower((unsigned char)*p);
    buf[n] = '\0';
    if (!strcmp(buf, "cpu")) {
        *out = NPG_CPU;
        return NPG_OK;
    }
    if (!strcmp(buf, "auto") || !strcmp(buf, "")) {
        *out = npg_cuda_available() ? NPG_CUDA(0) : NPG_CPU;
        return NPG_OK;
    }
    if (!strncmp(buf, "cuda", 4) || !strncmp(buf, "gpu", 3)) {
        const char *rest = buf + (buf[0] == 'c' ? 4 : 3);
        int idx = 0;
        if (*rest == ':') {
            char *end;
            long v = strtol(rest + 1, &end, 10);
            if (end == rest + 1 || *end || v < 0 || v > 1024) goto bad;
            idx = (int)v;
        } else if (*rest) {
            goto bad;
        }
        *out = NPG_CUDA(idx);
        return NPG_OK;
    }
bad:
    return npg__set_error(NPG_ERR_INVALID_ARG, "npg_parse_device: unknown device '%s' (expected cpu, cuda, cuda:N or auto)",
                          text);
}

/* The process default, packed into 64 bits so that any thread may read it
 * while another sets it (relaxed atomics: a reader sees the old or the new
 * device, never half of each). */
_Static_assert(sizeof(npg_device) == sizeof(uint64_t), "npg_device packs into 64 bits");
static uint64_t g_default_bits;
static npg_device g_env_default; /* what NPG_DEVICE asked for (set once) */
static pthread_once_t g_default_once = PTHREAD_ONCE_INIT;

static void default_store(npg_device d) {
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    __atomic_store_n(&g_default_bits, u, __ATOMIC_RELAXED);
}

static void init_default(void) {
    const char *env = getenv("NPG_DEVICE");
    npg_device d = NPG_CPU;
    if (env && *env) {
        npg_status saved = npg_last_status();
        char msg[512];
        snprintf(msg, sizeof msg, "%s", npg_last_error());
        if (npg_parse_device(env, &d) != NPG_OK) {
            npg__log(NPG_LOG_WARN, "NPG_DEVICE='%s' is not a device (cpu, cuda, cuda:N, auto); using cpu", env);
            d = NPG_CPU;
        }
        /* parsing must not leave an error behind for the caller */
        if (saved == NPG_OK)
            npg_clear_error();
        else
            npg__set_error(saved, "%s", msg);
    }
    g_env_default = d;
    default_store(d);
}

npg_device npg_default_device(void) {
    pthread_once(&g_default_once, init_default);
    uint64_t u = __atomic_load_n(&g_default_bits, __ATOMIC_RELAXED);
    npg_device d;
    memcpy(&d, &u, sizeof d);
    return d;
}

npg_status npg_set_default_device(npg_device d) {
    const npg_backend *be;
    npg_device r;
    pthread_once(&g_default_once, init_default); /* NPG_DEVICE is read first, never after */
    if (d.type == NPG_DEVICE_DEFAULT) { /* back to NPG_DEVICE's choice */
        default_store(g_env_default);
        return NPG_OK;
    }
    if (!npg__resolve_device("npg_set_default_device", d, &r, &be)) return npg_last_status();
    default_store(r);
    return NPG_OK;
}

bool npg__resolve_device(const char *fn, npg_device d, npg_device *out, const npg_backend **be) {
    if (d.type == NPG_DEVICE_DEFAULT) d = npg_default_device();
    if ((int)d.type <= 0 || d.type >= NPG_DEVICE_TYPE_COUNT) {
        npg__set_error(NPG_ERR_DEVICE, "%s: invalid device type %d", fn, (int)d.type);
        return false;
    }
    const npg_backend *b = g_backends[d.type];
    if (!b) {
        npg__set_error(NPG_ERR_DEVICE, "%s: %s support is not compiled into this build of npg", fn, type_name(d.type));
        return false;
    }
    int count = backend_count(b);
    if (d.index < 0 || d.index >= count) {
        if (count == 0)
            npg__set_error(NPG_ERR_DEVICE, "%s: no %s device is available", fn, type_name(d.type));
        else
            npg__set_error(NPG_ERR_DEVICE, "%s: %s:%d does not exist (%d device%s)", fn, type_name(d.type), d.index,
                           count, count == 1 ? "" : "s");
        return false;
    }
    *out = d;
    *be = b;
    return true;
}

bool npg_cuda_available(void) {
    const npg_backend *b = g_backends[NPG_DEVICE_CUDA];
    return b && backend_count(b) > 0;
}

int npg_device_count(npg_device_type type) {
    if ((int)type <= 0 || type >= NPG_DEVICE_TYPE_COUNT || !g_backends[type]) return 0;
    return backend_count(g_backends[type]);
}

/* The backend's device_info for `device`, naming fn in errors. */
static npg_status info_of(const char *fn, npg_device device, npg_device *d, npg_device_info *info) {
    const npg_backend *be;
    if (!npg__resolve_device(fn, device, d, &be)) return npg_last_status();
    memset(info, 0, sizeof *info);
    return be->device_info(d->index, info);
}

npg_status npg_device_name(npg_device device, char *buf, size_t len) {
    npg_device d;
    npg_device_info info;
    if (!buf) {
        npg__null_arg("npg_device_name");
        return NPG_ERR_NULL_ARG;
    }
    npg_status st = info_of("npg_device_name", device, &d, &info);
    if (st != NPG_OK) return st;
    if (d.type == NPG_DEVICE_CPU)
        snprintf(buf, len, "%s", info.name);
    else
        snprintf(buf, len, "%s:%d (%s)", type_name(d.type), d.index, info.name);
    return NPG_OK;
}

npg_status npg_device_memory(npg_device device, size_t *free_bytes, size_t *total_bytes) {
    npg_device d;
    npg_device_info info;
    npg_status st = info_of("npg_device_memory", device, &d, &info);
    if (st != NPG_OK) return st;
    if (free_bytes) *free_bytes = info.free_bytes;
    if (total_bytes) *total_bytes = info.total_bytes;
    return NPG_OK;
}

npg_status npg_cached_memory(npg_device device, size_t *cached_bytes) {
    npg_device d;
    npg_device_info info;
    if (!cached_bytes) {
        npg__null_arg("npg_cached_memory");
        return NPG_ERR_NULL_ARG;
    }
    npg_status st = info_of("npg_cached_memory", device, &d, &info);
    if (st != NPG_OK) return st;
    *cached_bytes = info.cached_bytes;
    return NPG_OK;
}

npg_status npg_empty_cache(npg_device device) {
    const npg_backend *be;
    npg_device d;
    if (!npg__resolve_device("npg_empty_cache", device, &d, &be)) return npg_last_status();
    return be->empty_cache ? be->empty_cache(d.index) : NPG_OK;
}

npg_status npg_synchronize(npg_device device) {
    const npg_backend *be;
    npg_device d;
    if (!npg__resolve_device("npg_synchronize", device, &d, &be)) return npg_last_status();
    return be->synchronize(d.index);
}

/* CPU threads: the CPU backend owns the pool (OpenMP shared with OpenBLAS). */
void npg__cpu_set_num_threads(int n);
int npg__cpu_get_num_threads(void);
void npg_set_num_threads(int n) {
    if (n >= 1) npg__cpu_set_num_threads(n);
}
int npg_get_num_threads(void) { return npg__cpu_get_num_threads(); }

bool npg__tf32 = false; /* read and written atomically: any thread may set it */
bool npg_set_allow_tf32(bool allow) { return __atomic_exchange_n(&npg__tf32, allow, __ATOMIC_RELAXED); }
