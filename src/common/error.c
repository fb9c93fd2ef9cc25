/*
 * error.c — the thread-local last error, status strings, logging and the
 * internal assert. Library code never aborts or exits on user input; a
 * broken invariant (a bug) is reported with file and line through the log
 * and then aborts only in builds with NPG_ABORT_ON_BUG (the sanitizer test
 * build, -DNPG_SANITIZE=ON).
 */
#define _POSIX_C_SOURCE 200809L
#include "internal.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

static _Thread_local npg_status tl_status = NPG_OK;
static _Thread_local char tl_msg[512];

npg_status npg_last_status(void) { return tl_status; }
const char *npg_last_error(void) { return tl_msg; }

void npg_clear_error(void) {
    tl_status = NPG_OK;
    tl_msg[0] = '\0';
}

npg_status npg__set_error(npg_status status, const char *fmt, ...) {
    tl_status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tl_msg, sizeof tl_msg, fmt, ap);
    va_end(ap);
    return status;
}

void npg__error_context(const char *fn) {
    if (tl_status == NPG_OK) return;
    size_t n = strlen(fn);
    if (strncmp(tl_msg, fn, n) == 0 && tl_msg[n] == ':') return;
    char old[sizeof tl_msg];
    memcpy(old, tl_msg, sizeof old);
    int k = snprintf(tl_msg, sizeof tl_msg, "%s: ", fn); /* then as much of the old message as fits */
    if (k > 0 && (size_t)k < sizeof tl_msg) {
        size_t m = strlen(old), room = sizeof tl_msg - (size_t)k - 1;
        memcpy(tl_msg + k, old, m < room ? m : room);
        tl_msg[(size_t)k + (m < room ? m : room)] = '\0';
    }
}

npg_array *npg__finish(const char *fn, npg_scope s, npg_array *r) {
    npg_keep(r);
    npg_scope_end(s);
    if (!r) npg__error_context(fn);
    return r;
}

void npg__null_arg(const char *fn) {
    /* A NULL input usually comes from an earlier failed call whose error is
     * still pending: keep that one, it names the real cause. */
    if (tl_status == NPG_OK) npg__set_error(NPG_ERR_NULL_ARG, "%s: argument is NULL", fn);
}

bool npg__any_null(const char *fn, int n, ...) {
    va_list ap;
    va_start(ap, n);
    bool any = false;
    for (int i = 0; i < n; i++)
        if (va_arg(ap, const void *) == NULL) any = true;
    va_end(ap);
    if (any) npg__null_arg(fn);
    return any;
}

const char *npg_status_string(npg_status s) {
    switch (s) {
    case NPG_OK: return "ok";
    case NPG_ERR_NULL_ARG: return "NULL argument";
    case NPG_ERR_INVALID_ARG: return "invalid argument";
    case NPG_ERR_SHAPE: return "shape error";
    case NPG_ERR_DTYPE: return "dtype error";
    case NPG_ERR_AXIS: return "axis error";
    case NPG_ERR_INDEX: return "index out of range";
    case NPG_ERR_DEVICE: return "device error";
    case NPG_ERR_OOM: return "out of memory";
    case NPG_ERR_INPLACE: return "in-place conflict";
    case NPG_ERR_AUTOGRAD: return "autograd error";
    case NPG_ERR_IO: return "I/O error";
    case NPG_ERR_FORMAT: return "malformed data";
    case NPG_ERR_UNSUPPORTED: return "unsupported";
    case NPG_ERR_GRADCHECK: return "gradient check failed";
    case NPG_ERR_CUDA: return "CUDA error";
    case NPG_ERR_INTERNAL: return "internal error";
    case NPG_ERR_LINALG: return "linear algebra error";
    }
    return "unknown status";
}

/* ---- logging ---- */
/* The callback and its user pointer change together under a lock (any
 * thread may log while another sets them); the level is also kept atomic so
 * that a filtered message costs no lock. */
static pthread_mutex_t g_log_lock = PTHREAD_MUTEX_INITIALIZER;
static npg_log_fn g_log_fn = NULL;
static void *g_log_user = NULL;
static int g_log_min = NPG_LOG_WARN;

void npg_set_log_callback(npg_log_fn fn, void *user, npg_log_level min_level) {
    pthread_mutex_lock(&g_log_lock);
    g_log_fn = fn;
    g_log_user = user;
    __atomic_store_n(&g_log_min, (int)min_level, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&g_log_lock);
}

void npg__log(npg_log_level level, const char *fmt, ...) {
    if ((int)level < __atomic_load_n(&g_log_min, __ATOMIC_RELAXED)) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&g_log_lock);
    npg_log_fn fn = g_log_fn;
    void *user = g_log_user;
    pthread_mutex_unlock(&g_log_lock);
    if (fn) {
        fn(level, buf, user);
    } else {
        static const char *names[] = {"debug", "info", "warning", "error"};
        fprintf(stderr, "npg %s: %s\n", names[level & 3], buf);
    }
}

void npg__assert_fail(const char *expr, const char *file, int line) {
    npg__set_error(NPG_ERR_INTERNAL, "internal error: assertion '%s' failed at %s:%d", expr, file, line);
    npg__log(NPG_LOG_ERROR, "assertion '%s' failed at %s:%d (a bug in npg; please report it)", expr, file, line);
#ifdef NPG_ABORT_ON_BUG
    abort();
#endif
}

char *npg__shape_str(char *buf, size_t len, int ndim, const int64_t *shape) {
    size_t k = 0;
    k += (size_t)snprintf(buf + k, len - k, "(");
    for (int i = 0; i < ndim && k < len; i++)
        k += (size_t)snprintf(buf + k, len - k, i ? ",%lld" : "%lld", (long long)shape[i]);
    if (ndim == 1 && k < len) k += (size_t)snprintf(buf + k, len - k, ",");
    if (k < len) snprintf(buf + k, len - k, ")");
    return buf;
}
