/*
 * io_npy.c — NumPy's .npy files (read and write), and the small file and
 * error helpers the .npz code (io_npz.c) shares through io_internal.h.
 *
 * .npy: a magic string, a version, a Python dict literal describing dtype,
 * order and shape, then the raw elements. We parse the dict with a small
 * tokenizer (no eval), convert the elements on the host (byte order, widening
 * to an npg dtype, Fortran order to C order) and upload with npg_from_data.
 * Saving reproduces np.save byte for byte (NumPy >= 1.23 header layout).
 */
#define _POSIX_C_SOURCE 200809L
#include "internal.h"
#include "npg/io.h"
#include "io_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>

#ifdef NPG_HAVE_ZLIB
#include <zlib.h>
#endif


/* ------------------------------------------------------------------------
 * Error context: every message is "fn: 'path'[ entry 'name']: what"
 * ------------------------------------------------------------------------ */


npg_status npg__io_err(const ioctx *c, npg_status st, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c->entry) return npg__set_error(st, "%s: '%s' entry '%s': %s", c->fn, c->path, c->entry, msg);
    return npg__set_error(st, "%s: '%s': %s", c->fn, c->path, msg);
}

/* An NPG_ERR_IO error with the text of errno value e. */
static npg_status syserr(const ioctx *c, int e, const char *what) {
    char eb[128];
    if (strerror_r(e, eb, sizeof eb) != 0) snprintf(eb, sizeof eb, "error %d", e);
    return npg__io_err(c, NPG_ERR_IO, "%s: %s", what, eb);
}

/* Prefix the pending error (from a library call) with the file context. */
static void wrap_error(const ioctx *c) {
    char prev[512];
    snprintf(prev, sizeof prev, "%s", npg_last_error());
    npg_status st = npg_last_status();
    npg__io_err(c, st != NPG_OK ? st : NPG_ERR_INTERNAL, "%s", prev);
}

/* ------------------------------------------------------------------------
 * Little helpers: byte order, CRC-32
 * ------------------------------------------------------------------------ */

static bool host_is_little(void) {
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

uint64_t npg__io_rd_le(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int k = n - 1; k >= 0; k--) v = v << 8 | p[k];
    return v;
}

void npg__io_wr_le(unsigned char *p, uint64_t v, int n) {
    for (int k = 0; k < n; k++) p[k] = (unsigned char)(v >> (8 * k));
}

uint32_t npg__io_crc32(uint32_t crc, const unsigned char *p, size_t n) {
#ifdef NPG_HAVE_ZLIB
    while (n) {
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        crc = (uint32_t)crc32((uLong)crc, p, k);
        p += k;
        n -= k;
    }
    return crc;
#else
    uint32_t table[256];
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    crc = ~crc;
    for (size_t i = 0; i < n; i++) crc = table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
    return ~crc;
#endif
}

/* ------------------------------------------------------------------------
 * Files: read everything; write through PATH.tmp and rename
 * ------------------------------------------------------------------------ */

/* Open path for reading; a directory is an NPG_ERR_IO error. *size is the
 * file size for regular files, 0 otherwise. */
FILE *npg__io_open_read(const ioctx *c, uint64_t *size) {
    errno = 0;
    FILE *f = fopen(c->path, "rb");
    if (!f) {
        syserr(c, errno ? errno : ENOENT, "cannot open");
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        int e = errno;
        fclose(f);
        syserr(c, e, "cannot stat");
        return NULL;
    }
    if (S_ISDIR(st.st_mode)) {
        fclose(f);
        syserr(c, EISDIR, "cannot read");
        return NULL;
    }
    *size = S_ISREG(st.st_mode) && st.st_size > 0 ? (uint64_t)st.st_size : 0;
    return f;
}

/* Read the rest of f into a malloc'd buffer (*len bytes). */
static bool read_all(const ioctx *c, FILE *f, uint64_t hint, unsigned char **out, size_t *len) {
    if (hint >= SIZE_MAX / 2) {
        npg__io_err(c, NPG_ERR_OOM, "file of %llu bytes does not fit in memory", (unsigned long long)hint);
        return false;
    }
    size_t cap = hint ? (size_t)hint + 1 : 65536, n = 0;
    unsigned char *buf = malloc(cap);
    if (!buf) {
        npg__io_err(c, NPG_ERR_OOM, "out of host memory (%zu bytes)", cap);
        return false;
    }
    for (;;) {
        if (n == cap) {
            unsigned char *nb = cap < SIZE_MAX / 4 ? realloc(buf, cap * 2) : NULL;
            if (!nb) {
                free(buf);
                npg__io_err(c, NPG_ERR_OOM, "out of host memory (%zu bytes)", cap);
                return false;
            }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (n < cap) {
            if (ferror(f)) {
                int e = errno ? errno : EIO;
                free(buf);
                syserr(c, e, "read failed");
                return false;
            }
            break; /* EOF */
        }
    }
    *out = buf;
    *len = n;
    return true;
}

bool npg__io_read_at(const ioctx *c, FILE *f, uint64_t off, void *dst, size_t n) {
    if (n == 0) return true;
    if (off > (uint64_t)INT64_MAX || fseeko(f, (off_t)off, SEEK_SET) != 0) {
        syserr(c, errno ? errno : EINVAL, "seek failed");
        return false;
    }
    if (fread(dst, 1, n, f) != n) {
        if (ferror(f))
            syserr(c, errno ? errno : EIO, "read failed");
        else
            npg__io_err(c, NPG_ERR_FORMAT, "file is truncated (reading %zu bytes at offset %llu)", n,
                  (unsigned long long)off);
        return false;
    }
    return true;
}


bool npg__io_w_open(writer *w, const ioctx *c) {
    memset(w, 0, sizeof *w);
    w->c = c;
    size_t n = strlen(c->path);
    w->tmp = malloc(n + 5);
    if (!w->tmp) {
        npg__io_err(c, NPG_ERR_OOM, "out of host memory");
        return false;
    }
    memcpy(w->tmp, c->path, n);
    memcpy(w->tmp + n, ".tmp", 5);
    errno = 0;
    w->f = fopen(w->tmp, "wb");
    if (!w->f) {
        syserr(c, errno ? errno : EIO, "cannot create");
        free(w->tmp);
        return false;
    }
    return true;
}

void npg__io_w_put(writer *w, const void *p, size_t n) {
    if (w->err || n == 0) return;
    errno = 0;
    if (fwrite(p, 1, n, w->f) != n) w->err = errno ? errno : EIO;
    w->pos += n;
}

/* Abandon the write (an error is already set). */
void npg__io_w_abort(writer *w) {
    fclose(w->f);
    remove(w->tmp);
    free(w->tmp);
}

/* Finish: flush, close and rename over the destination. */
npg_status npg__io_w_close(writer *w) {
    errno = 0;
    if (fclose(w->f) != 0 && !w->err) w->err = errno ? errno : EIO;
    npg_status st = NPG_OK;
    if (w->err) {
        st = syserr(w->c, w->err, "write failed");
        remove(w->tmp);
    } else if (rename(w->tmp, w->c->path) != 0) {
        st = syserr(w->c, errno ? errno : EIO, "cannot rename the temporary file into place");
        remove(w->tmp);
    }
    free(w->tmp);
    return st;
}

/* ------------------------------------------------------------------------
 * .npy header: parse
 * ------------------------------------------------------------------------ */

typedef struct npy_hdr {
    char order;  /* '<', '>', '|' or '=' */
    char kind;   /* 'b', 'u', 'i', 'f' */
    int size;    /* bytes per element */
    bool fortran;
    int ndim;
    int64_t shape[NPG_MAX_DIMS];
    size_t data_off;
} npy_hdr;

typedef struct cursor {
    const char *p, *end;
} cursor;

static void skip_ws(cursor *k) {
    while (k->p < k->end && (*k->p == ' ' || *k->p == '\t' || *k->p == '\n' || *k->p == '\r')) k->p++;
}

static bool eat(cursor *k, char ch) {
    skip_ws(k);
    if (k->p < k->end && *k->p == ch) {
        k->p++;
        return true;
    }
    return false;
}

static bool peek(cursor *k, char ch) {
    skip_ws(k);
    return k->p < k->end && *k->p == ch;
}

/* A quoted string without escapes. */
static bool parse_str(cursor *k, const char **s, size_t *n) {
    skip_ws(k);
    if (k->p >= k->end || (*k->p != '\'' && *k->p != '"')) return false;
    char q = *k->p++;
    const char *start = k->p;
    while (k->p < k->end && *k->p != q) {
        if (*k->p == '\\' || *k->p == '\n') return false;
        k->p++;
    }
    if (k->p >= k->end) return false;
    *s = start;
    *n = (size_t)(k->p - start);
    k->p++;
    return true;
}

static bool parse_word(cursor *k, const char *word) {
    skip_ws(k);
    size_t n = strlen(word);
    if ((size_t)(k->end - k->p) < n || memcmp(k->p, word, n) != 0) return false;
    const char *after = k->p + n;
    if (after < k->end && ((*after >= 'a' && *after <= 'z') || (*after >= 'A' && *after <= 'Z') || *after == '_'))
        return false;
    k->p = after;
    return true;
}

/* A non-negative decimal integer (Python 2's 'L' suffix allowed). */
static bool parse_dim(cursor *k, int64_t *v) {
    skip_ws(k);
    if (k->p >= k->end || *k->p < '0' || *k->p > '9') return false;
    int64_t x = 0;
    while (k->p < k->end && *k->p >= '0' && *k->p <= '9') {
        if (x > (INT64_MAX - 9) / 10) return false;
        x = x * 10 + (*k->p - '0');
        k->p++;
    }
    if (k->p < k->end && *k->p == 'L') k->p++;
    *v = x;
    return true;
}

/* Printable copy of untrusted text for messages. */
void npg__io_sanitize(char *dst, size_t cap, const char *s, size_t n) {
    size_t j = 0;
    for (; j < n && j + 1 < cap; j++) dst[j] = (s[j] >= 32 && s[j] < 127) ? s[j] : '?';
    if (j < n && cap > 4) memcpy(dst + cap - 4, "...", 3);
    dst[j] = '\0';
}

static bool parse_descr(const ioctx *c, const char *s, size_t n, npy_hdr *h) {
    char shown[40];
    npg__io_sanitize(shown, sizeof shown, s, n);
    size_t i = 0;
    h->order = '=';
    if (n > 0 && (s[0] == '<' || s[0] == '>' || s[0] == '|' || s[0] == '=')) h->order = s[i++];
    if (i >= n) goto unsupported;
    h->kind = s[i++];
    if (i >= n || i + 2 < n) goto unsupported; /* one or two size digits */
    int size = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') goto unsupported;
        size = size * 10 + (s[i] - '0');
    }
    h->size = size;
    switch (h->kind) {
    case 'b': if (size == 1) return true; break;
    case 'u':
    case 'i': if (size == 1 || size == 2 || size == 4 || size == 8) return true; break;
    case 'f': if (size == 2 || size == 4 || size == 8) return true; break;
    default: break;
    }
unsupported:
    npg__io_err(c, NPG_ERR_FORMAT, "unsupported dtype descr '%s' (npg reads b1 u1 u2 u4 u8 i1 i2 i4 i8 f2 f4 f8)", shown);
    return false;
}

static bool bad_header(const ioctx *c, const char *what) {
    npg__io_err(c, NPG_ERR_FORMAT, "bad .npy header dict: %s", what);
    return false;
}

static bool npy_parse(const ioctx *c, const unsigned char *buf, size_t len, npy_hdr *h) {
    memset(h, 0, sizeof *h);
    if (len == 0) return npg__io_err(c, NPG_ERR_FORMAT, "file is empty"), false;
    if (len < 10) return npg__io_err(c, NPG_ERR_FORMAT, "truncated .npy header (%zu bytes)", len), false;
    if (memcmp(buf, "\x93NUMPY", 6) != 0) return npg__io_err(c, NPG_ERR_FORMAT, "not a .npy file (bad magic)"), false;
    int major = buf[6], minor = buf[7];
    size_t prefix, hlen;
    if (major == 1 && minor == 0) {
        prefix = 10;
        hlen = (size_t)npg__io_rd_le(buf + 8, 2);
    } else if ((major == 2 || major == 3) && minor == 0) {
        if (len < 12) return npg__io_err(c, NPG_ERR_FORMAT, "truncated .npy header (%zu bytes)", len), false;
        prefix = 12;
        hlen = (size_t)npg__io_rd_le(buf + 8, 4);
    } else {
        return npg__io_err(c, NPG_ERR_FORMAT, "unsupported .npy format version %d.%d", major, minor), false;
    }
    if (hlen > len - prefix)
        return npg__io_err(c, NPG_ERR_FORMAT, "truncated .npy header (%zu of %zu bytes)", len, prefix + hlen), false;
    h->data_off = prefix + hlen;

    cursor k = {(const char *)buf + prefix, (const char *)buf + prefix + hlen};
    bool have_descr = false, have_order = false, have_shape = false;
    if (!eat(&k, '{')) return bad_header(c, "it does not start with '{'");
    if (!eat(&k, '}')) {
        for (;;) {
            const char *key;
            size_t kn;
            if (!parse_str(&k, &key, &kn)) return bad_header(c, "expected a quoted key");
            if (!eat(&k, ':')) return bad_header(c, "expected ':' after a key");
            if (kn == 5 && memcmp(key, "descr", 5) == 0) {
                const char *s;
                size_t sn;
                if (peek(&k, '['))
                    return npg__io_err(c, NPG_ERR_FORMAT, "unsupported dtype descr (a structured dtype)"), false;
                if (!parse_str(&k, &s, &sn)) return bad_header(c, "'descr' is not a string");
                if (!parse_descr(c, s, sn, h)) return false;
                have_descr = true;
            } else if (kn == 13 && memcmp(key, "fortran_order", 13) == 0) {
                if (parse_word(&k, "True"))
                    h->fortran = true;
                else if (parse_word(&k, "False"))
                    h->fortran = false;
                else
                    return bad_header(c, "'fortran_order' is not True or False");
                have_order = true;
            } else if (kn == 5 && memcmp(key, "shape", 5) == 0) {
                if (!eat(&k, '(')) return bad_header(c, "'shape' is not a tuple");
                h->ndim = 0;
                if (!eat(&k, ')')) {
                    for (;;) {
                        int64_t d;
                        if (peek(&k, '-')) return bad_header(c, "negative dimension in 'shape'");
                        if (!parse_dim(&k, &d)) return bad_header(c, "'shape' holds something other than integers");
                        if (h->ndim == NPG_MAX_DIMS)
                            return npg__io_err(c, NPG_ERR_FORMAT, "the array has more than %d dimensions", NPG_MAX_DIMS),
                                   false;
                        h->shape[h->ndim++] = d;
                        if (eat(&k, ',')) {
                            if (eat(&k, ')')) break;
                            continue;
                        }
                        if (eat(&k, ')')) break;
                        return bad_header(c, "expected ',' or ')' in 'shape'");
                    }
                }
                have_shape = true;
            } else {
                char shown[40];
                npg__io_sanitize(shown, sizeof shown, key, kn);
                npg__io_err(c, NPG_ERR_FORMAT, "bad .npy header dict: unexpected key '%s'", shown);
                return false;
            }
            if (eat(&k, ',')) {
                if (eat(&k, '}')) break;
                continue;
            }
            if (eat(&k, '}')) break;
            return bad_header(c, "expected ',' or '}'");
        }
    }
    skip_ws(&k);
    if (k.p != k.end) return bad_header(c, "unexpected text after the dict");
    if (!have_descr) return bad_header(c, "missing 'descr'");
    if (!have_order) return bad_header(c, "missing 'fortran_order'");
    if (!have_shape) return bad_header(c, "missing 'shape'");
    return true;
}

/* ------------------------------------------------------------------------
 * .npy data: convert to an npg dtype, C order, host byte order
 * ------------------------------------------------------------------------ */

static npg_dtype npy_target(const npy_hdr *h) {
    switch (h->kind) {
    case 'b': return NPG_BOOL;
    case 'u': return h->size == 1 ? NPG_UINT8 : h->size == 2 ? NPG_UINT16 : h->size == 4 ? NPG_UINT32 : NPG_UINT64;
    case 'i': return h->size == 1 ? NPG_INT8 : h->size == 2 ? NPG_INT16 : h->size == 4 ? NPG_INT32 : NPG_INT64;
    default: return h->size == 8 ? NPG_FLOAT64 : (h->size == 2 ? NPG_FLOAT16 : NPG_FLOAT32);
    }
}

/* Element-wise conversion of n file elements at src into dst (dtype t, of
 * the file's element size): host byte order, bool normalised to 0 / 1. */
static void npy_convert(const npy_hdr *h, const unsigned char *src, int64_t n, void *dst, npg_dtype t) {
    bool big = h->order == '>' || ((h->order == '=' || h->order == '|') && !host_is_little());
    int sz = h->size;
    for (int64_t i = 0; i < n; i++) {
        const unsigned char *p = src + (size_t)i * (size_t)sz;
        uint64_t v = 0;
        if (big)
            for (int b = 0; b < sz; b++) v = v << 8 | p[b];
        else
            v = npg__io_rd_le(p, sz);
        /* every target has the file's element size: store the value's bytes */
        switch (sz) {
        case 1: ((unsigned char *)dst)[i] = t == NPG_BOOL ? (v != 0) : (unsigned char)v; break;
        case 2: ((uint16_t *)dst)[i] = (uint16_t)v; break;
        case 4: ((uint32_t *)dst)[i] = (uint32_t)v; break;
        default: ((uint64_t *)dst)[i] = v; break;
        }
    }
}

/* dst (C order) = src (Fortran order) for elements of isz bytes. */
static void fortran_to_c(unsigned char *dst, const unsigned char *src, size_t isz, int ndim, const int64_t *shape,
                         int64_t n) {
    int64_t fstride[NPG_MAX_DIMS], idx[NPG_MAX_DIMS] = {0}, off = 0;
    for (int d = 0; d < ndim; d++) fstride[d] = d == 0 ? 1 : fstride[d - 1] * shape[d - 1];
    for (int64_t i = 0; i < n; i++) {
        memcpy(dst + (size_t)i * isz, src + (size_t)off * isz, isz);
        for (int d = ndim - 1; d >= 0; d--) {
            off += fstride[d];
            if (++idx[d] < shape[d]) break;
            off -= fstride[d] * shape[d];
            idx[d] = 0;
        }
    }
}

/* The array held by the .npy bytes buf[0..len). [new] */
npg_array *npg__npy_decode(const ioctx *c, const unsigned char *buf, size_t len, const npg_opts *opts) {
    npy_hdr h;
    if (!npy_parse(c, buf, len, &h)) return NULL;
    uint64_t n = 1;
    bool zero = false, over = false;
    for (int i = 0; i < h.ndim; i++) {
        if (h.shape[i] == 0) zero = true;
        else if (n > (uint64_t)INT64_MAX / (uint64_t)h.shape[i]) over = true;
        else n *= (uint64_t)h.shape[i];
    }
    if (zero) n = 0;
    char sb[NPG_SHAPE_BUF];
    if (over || n > ((uint64_t)1 << 60) / 8) {
        npg__io_err(c, NPG_ERR_FORMAT, "shape %s is too large", npg__shape_str(sb, sizeof sb, h.ndim, h.shape));
        return NULL;
    }
    uint64_t nbytes = n * (uint64_t)h.size, have = len - h.data_off;
    if (have < nbytes) {
        npg__io_err(c, NPG_ERR_FORMAT, "data is truncated (%llu of %llu bytes for shape %s)", (unsigned long long)have,
              (unsigned long long)nbytes, npg__shape_str(sb, sizeof sb, h.ndim, h.shape));
        return NULL;
    }
    if (have > nbytes) {
        npg__io_err(c, NPG_ERR_FORMAT, "%llu bytes of trailing data after the array of shape %s",
              (unsigned long long)(have - nbytes), npg__shape_str(sb, sizeof sb, h.ndim, h.shape));
        return NULL;
    }
    npg_dtype t = npy_target(&h);
    size_t tsz = npg_dtype_size(t);
    const unsigned char *src = buf + h.data_off;
    bool native = h.size == 1 || h.order == (host_is_little() ? '<' : '>') || h.order == '=';
    /* bytes usable as they are: native order and not bool (normalised to 0/1) */
    bool same = (size_t)h.size == tsz && h.kind != 'b' && native;
    unsigned char *conv = NULL, *tr = NULL;
    const void *data = src;
    if (n > 0 && !(same && (uintptr_t)src % tsz == 0)) {
        conv = malloc((size_t)n * tsz);
        if (!conv) {
            npg__io_err(c, NPG_ERR_OOM, "out of host memory (%llu bytes)", (unsigned long long)(n * tsz));
            return NULL;
        }
        if (same)
            memcpy(conv, src, (size_t)n * tsz);
        else
            npy_convert(&h, src, (int64_t)n, conv, t);
        data = conv;
    }
    if (h.fortran && h.ndim > 1 && n > 1) {
        tr = malloc((size_t)n * tsz);
        if (!tr) {
            free(conv);
            npg__io_err(c, NPG_ERR_OOM, "out of host memory (%llu bytes)", (unsigned long long)(n * tsz));
            return NULL;
        }
        fortran_to_c(tr, data, tsz, h.ndim, h.shape, (int64_t)n);
        data = tr;
    }
    npg_shape shape = {.ndim = h.ndim};
    for (int i = 0; i < h.ndim; i++) shape.dims[i] = h.shape[i];
    npg_array *x = npg_from_data(data, t, shape, opts);
    if (!x) wrap_error(c);
    free(conv);
    free(tr);
    return x;
}

/* ------------------------------------------------------------------------
 * .npy: encode
 * ------------------------------------------------------------------------ */



const char *npg__npy_descr(npg_dtype t) {
    switch (t) {
    case NPG_BOOL: return "|b1";
    case NPG_UINT8: return "|u1";
    case NPG_INT32: return "<i4";
    case NPG_INT64: return "<i8";
    case NPG_INT8: return "|i1";
    case NPG_INT16: return "<i2";
    case NPG_UINT16: return "<u2";
    case NPG_UINT32: return "<u4";
    case NPG_UINT64: return "<u8";
    case NPG_FLOAT32: return "<f4";
    case NPG_FLOAT64: return "<f8";
    case NPG_FLOAT16: return "<f2";
    default: return NULL; /* bfloat16: NumPy has no such dtype */
    }
}

/* np.save's header: the dict, 21 - len(repr(shape[0])) spare spaces, then
 * spaces and '\n' up to a multiple of 64 bytes (at least one space). */
static size_t npy_header(unsigned char *out, const char *descr, int ndim, const int64_t *shape) {
    char dict[NPY_HDR_MAX];
    int len = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    for (int i = 0; i < ndim; i++)
        len += snprintf(dict + len, sizeof dict - (size_t)len, i ? ", %lld" : "%lld", (long long)shape[i]);
    len += snprintf(dict + len, sizeof dict - (size_t)len, "%s), }", ndim == 1 ? "," : "");
    if (ndim > 0) {
        char d0[24];
        int digits = snprintf(d0, sizeof d0, "%lld", (long long)shape[0]);
        for (int i = digits; i < 21; i++) dict[len++] = ' ';
    }
    size_t hlen = (size_t)len + 1, prefix = 10;
    size_t pad = 64 - (prefix + hlen) % 64;
    if (hlen + pad > 65535) { /* version 2.0: a 4-byte length (never with <= 8 dims, kept for the format) */
        prefix = 12;
        pad = 64 - (prefix + hlen) % 64;
    }
    memcpy(out, "\x93NUMPY", 6);
    out[6] = prefix == 10 ? 1 : 2;
    out[7] = 0;
    npg__io_wr_le(out + 8, hlen + pad, (int)(prefix - 8));
    memcpy(out + prefix, dict, (size_t)len);
    memset(out + prefix + (size_t)len, ' ', pad);
    out[prefix + hlen + pad - 1] = '\n';
    return prefix + hlen + pad;
}

bool npg__npy_encode(const ioctx *c, const npg_array *x, npy_blob *b) {
    memset(b, 0, sizeof *b);
    const char *descr = npg__npy_descr(x->dtype);
    if (!descr) return npg__io_err(c, NPG_ERR_DTYPE, "dtype %s cannot be saved", npg_dtype_name(x->dtype)), false;
    b->hdr_len = npy_header(b->hdr, descr, x->ndim, x->shape);
    b->data_len = npg_nbytes(x);
    if (b->data_len == 0) return true;
    b->data = malloc(b->data_len);
    if (!b->data) return npg__io_err(c, NPG_ERR_OOM, "out of host memory (%zu bytes)", b->data_len), false;
    if (npg_copy_to_host(x, b->data, b->data_len) != NPG_OK) {
        wrap_error(c);
        free(b->data);
        b->data = NULL;
        return false;
    }
    size_t isz = npg_dtype_size(x->dtype);
    if (!host_is_little() && isz > 1) {
        for (size_t i = 0; i < b->data_len; i += isz)
            for (size_t j = 0; j < isz / 2; j++) {
                unsigned char tmp = b->data[i + j];
                b->data[i + j] = b->data[i + isz - 1 - j];
                b->data[i + isz - 1 - j] = tmp;
            }
    }
    return true;
}

npg_status npg_save_npy(const char *path, const npg_array *x) {
    ioctx c = {"npg_save_npy", path, NULL};
    if (!path || !x) {
        npg__null_arg(c.fn);
        return npg_last_status();
    }
    npy_blob b;
    if (!npg__npy_encode(&c, x, &b)) return npg_last_status();
    writer w;
    if (!npg__io_w_open(&w, &c)) {
        free(b.data);
        return npg_last_status();
    }
    npg__io_w_put(&w, b.hdr, b.hdr_len);
    npg__io_w_put(&w, b.data, b.data_len);
    npg_status st = npg__io_w_close(&w);
    free(b.data);
    return st;
}

npg_array *npg_load_npy(const char *path, const npg_opts *opts) {
    ioctx c = {"npg_load_npy", path, NULL};
    if (!path) {
        npg__null_arg(c.fn);
        return NULL;
    }
    uint64_t size;
    FILE *f = npg__io_open_read(&c, &size);
    if (!f) return NULL;
    unsigned char *buf;
    size_t len;
    bool ok = read_all(&c, f, size, &buf, &len);
    fclose(f);
    if (!ok) return NULL;
    npg_array *x = npg__npy_decode(&c, buf, len, opts);
    free(buf);
    return x;
}

