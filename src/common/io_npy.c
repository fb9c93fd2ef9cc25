/*
 * io_npy.c — NumPy's .npy and .npz files: read and write.
 *
 * .npy: a magic string, a version, a Python dict literal describing dtype,
 * order and shape, then the raw elements. We parse the dict with a small
 * tokenizer (no eval), convert the elements on the host (byte order, widening
 * to an npg dtype, Fortran order to C order) and upload with npg_from_data.
 * Saving reproduces np.save byte for byte (NumPy >= 1.23 header layout).
 *
 * .npz: a ZIP archive of "<name>.npy" entries. The reader trusts only the
 * central directory (so data descriptors and local ZIP64 fields need no
 * special care), bounds-checks every offset against the file, refuses
 * deflate sizes no real stream could have, and checks each CRC-32. The
 * writer emits stored or raw-deflate entries with sizes known up front (no
 * data descriptors) and ZIP64 records only where a size, offset or count
 * needs them. Leaves out: encryption, multi-disk archives, methods other
 * than stored/deflate, non-.npy entries (skipped).
 */
#define _POSIX_C_SOURCE 200809L
#include "internal.h"
#include "npg/io.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>

#ifdef NPG_HAVE_ZLIB
#include <zlib.h>
#endif

/* Test hook: write ZIP64 fields and end records even for small archives. */
bool npg__npz_force_zip64 = false;

/* ------------------------------------------------------------------------
 * Error context: every message is "fn: 'path'[ entry 'name']: what"
 * ------------------------------------------------------------------------ */

typedef struct ioctx {
    const char *fn;
    const char *path;
    const char *entry; /* npz entry name, or NULL */
} ioctx;

static npg_status ioerr(const ioctx *c, npg_status st, const char *fmt, ...) {
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
    return ioerr(c, NPG_ERR_IO, "%s: %s", what, eb);
}

/* Prefix the pending error (from a library call) with the file context. */
static void wrap_error(const ioctx *c) {
    char prev[512];
    snprintf(prev, sizeof prev, "%s", npg_last_error());
    npg_status st = npg_last_status();
    ioerr(c, st != NPG_OK ? st : NPG_ERR_INTERNAL, "%s", prev);
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

static uint64_t rd_le(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int k = n - 1; k >= 0; k--) v = v << 8 | p[k];
    return v;
}

static void wr_le(unsigned char *p, uint64_t v, int n) {
    for (int k = 0; k < n; k++) p[k] = (unsigned char)(v >> (8 * k));
}

static uint32_t crc32_update(uint32_t crc, const unsigned char *p, size_t n) {
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
static FILE *open_read(const ioctx *c, uint64_t *size) {
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
        ioerr(c, NPG_ERR_OOM, "file of %llu bytes does not fit in memory", (unsigned long long)hint);
        return false;
    }
    size_t cap = hint ? (size_t)hint + 1 : 65536, n = 0;
    unsigned char *buf = malloc(cap);
    if (!buf) {
        ioerr(c, NPG_ERR_OOM, "out of host memory (%zu bytes)", cap);
        return false;
    }
    for (;;) {
        if (n == cap) {
            unsigned char *nb = cap < SIZE_MAX / 4 ? realloc(buf, cap * 2) : NULL;
            if (!nb) {
                free(buf);
                ioerr(c, NPG_ERR_OOM, "out of host memory (%zu bytes)", cap);
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

static bool read_at(const ioctx *c, FILE *f, uint64_t off, void *dst, size_t n) {
    if (n == 0) return true;
    if (off > (uint64_t)INT64_MAX || fseeko(f, (off_t)off, SEEK_SET) != 0) {
        syserr(c, errno ? errno : EINVAL, "seek failed");
        return false;
    }
    if (fread(dst, 1, n, f) != n) {
        if (ferror(f))
            syserr(c, errno ? errno : EIO, "read failed");
        else
            ioerr(c, NPG_ERR_FORMAT, "file is truncated (reading %zu bytes at offset %llu)", n,
                  (unsigned long long)off);
        return false;
    }
    return true;
}

typedef struct writer {
    const ioctx *c;
    FILE *f;
    char *tmp;
    uint64_t pos;
    int err; /* errno of the first failed write, 0 if none */
} writer;

static bool w_open(writer *w, const ioctx *c) {
    memset(w, 0, sizeof *w);
    w->c = c;
    size_t n = strlen(c->path);
    w->tmp = malloc(n + 5);
    if (!w->tmp) {
        ioerr(c, NPG_ERR_OOM, "out of host memory");
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

static void w_put(writer *w, const void *p, size_t n) {
    if (w->err || n == 0) return;
    errno = 0;
    if (fwrite(p, 1, n, w->f) != n) w->err = errno ? errno : EIO;
    w->pos += n;
}

/* Abandon the write (an error is already set). */
static void w_abort(writer *w) {
    fclose(w->f);
    remove(w->tmp);
    free(w->tmp);
}

/* Finish: flush, close and rename over the destination. */
static npg_status w_close(writer *w) {
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
static void sanitize(char *dst, size_t cap, const char *s, size_t n) {
    size_t j = 0;
    for (; j < n && j + 1 < cap; j++) dst[j] = (s[j] >= 32 && s[j] < 127) ? s[j] : '?';
    if (j < n && cap > 4) memcpy(dst + cap - 4, "...", 3);
    dst[j] = '\0';
}

static bool parse_descr(const ioctx *c, const char *s, size_t n, npy_hdr *h) {
    char shown[40];
    sanitize(shown, sizeof shown, s, n);
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
    ioerr(c, NPG_ERR_FORMAT, "unsupported dtype descr '%s' (npg reads b1 u1 u2 u4 u8 i1 i2 i4 i8 f2 f4 f8)", shown);
    return false;
}

static bool bad_header(const ioctx *c, const char *what) {
    ioerr(c, NPG_ERR_FORMAT, "bad .npy header dict: %s", what);
    return false;
}

static bool npy_parse(const ioctx *c, const unsigned char *buf, size_t len, npy_hdr *h) {
    memset(h, 0, sizeof *h);
    if (len == 0) return ioerr(c, NPG_ERR_FORMAT, "file is empty"), false;
    if (len < 10) return ioerr(c, NPG_ERR_FORMAT, "truncated .npy header (%zu bytes)", len), false;
    if (memcmp(buf, "\x93NUMPY", 6) != 0) return ioerr(c, NPG_ERR_FORMAT, "not a .npy file (bad magic)"), false;
    int major = buf[6], minor = buf[7];
    size_t prefix, hlen;
    if (major == 1 && minor == 0) {
        prefix = 10;
        hlen = (size_t)rd_le(buf + 8, 2);
    } else if ((major == 2 || major == 3) && minor == 0) {
        if (len < 12) return ioerr(c, NPG_ERR_FORMAT, "truncated .npy header (%zu bytes)", len), false;
        prefix = 12;
        hlen = (size_t)rd_le(buf + 8, 4);
    } else {
        return ioerr(c, NPG_ERR_FORMAT, "unsupported .npy format version %d.%d", major, minor), false;
    }
    if (hlen > len - prefix)
        return ioerr(c, NPG_ERR_FORMAT, "truncated .npy header (%zu of %zu bytes)", len, prefix + hlen), false;
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
                    return ioerr(c, NPG_ERR_FORMAT, "unsupported dtype descr (a structured dtype)"), false;
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
                            return ioerr(c, NPG_ERR_FORMAT, "the array has more than %d dimensions", NPG_MAX_DIMS),
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
                sanitize(shown, sizeof shown, key, kn);
                ioerr(c, NPG_ERR_FORMAT, "bad .npy header dict: unexpected key '%s'", shown);
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
    case 'u': return h->size == 1 ? NPG_UINT8 : (h->size == 2 ? NPG_INT32 : NPG_INT64);
    case 'i': return h->size <= 4 ? NPG_INT32 : NPG_INT64;
    default: return h->size == 8 ? NPG_FLOAT64 : NPG_FLOAT32;
    }
}

static float half_to_float(uint16_t x) {
    int e = (x >> 10) & 0x1f, m = x & 0x3ff;
    float f;
    if (e == 0)
        f = ldexpf((float)m, -24);
    else if (e == 31)
        f = m ? NAN : INFINITY;
    else
        f = ldexpf((float)(m | 0x400), e - 25);
    return (x & 0x8000) ? -f : f;
}

/* Element-wise conversion of n file elements at src into dst (dtype t). */
static bool npy_convert(const ioctx *c, const npy_hdr *h, const unsigned char *src, int64_t n, void *dst,
                        npg_dtype t) {
    bool big = h->order == '>' || ((h->order == '=' || h->order == '|') && !host_is_little());
    int sz = h->size, bits = sz * 8;
    for (int64_t i = 0; i < n; i++) {
        const unsigned char *p = src + (size_t)i * (size_t)sz;
        uint64_t v = 0;
        if (big)
            for (int b = 0; b < sz; b++) v = v << 8 | p[b];
        else
            v = rd_le(p, sz);
        if (h->kind == 'i' && bits < 64 && (v >> (bits - 1)) & 1) v |= ~(uint64_t)0 << bits;
        int64_t s;
        memcpy(&s, &v, sizeof s);
        switch (t) {
        case NPG_BOOL:
        case NPG_UINT8: ((unsigned char *)dst)[i] = h->kind == 'b' ? (v != 0) : (unsigned char)v; break;
        case NPG_INT32: ((int32_t *)dst)[i] = (int32_t)s; break;
        case NPG_INT64:
            if (h->kind == 'u' && sz == 8 && v > (uint64_t)INT64_MAX) {
                ioerr(c, NPG_ERR_FORMAT, "uint64 value %llu at element %lld does not fit int64", (unsigned long long)v,
                      (long long)i);
                return false;
            }
            ((int64_t *)dst)[i] = s;
            break;
        case NPG_FLOAT32:
            if (sz == 2) {
                ((float *)dst)[i] = half_to_float((uint16_t)v);
            } else {
                uint32_t u = (uint32_t)v;
                memcpy((float *)dst + i, &u, 4);
            }
            break;
        default: memcpy((double *)dst + i, &v, 8); break;
        }
    }
    return true;
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
static npg_array *npy_decode(const ioctx *c, const unsigned char *buf, size_t len, const npg_opts *opts) {
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
        ioerr(c, NPG_ERR_FORMAT, "shape %s is too large", npg__shape_str(sb, sizeof sb, h.ndim, h.shape));
        return NULL;
    }
    uint64_t nbytes = n * (uint64_t)h.size, have = len - h.data_off;
    if (have < nbytes) {
        ioerr(c, NPG_ERR_FORMAT, "data is truncated (%llu of %llu bytes for shape %s)", (unsigned long long)have,
              (unsigned long long)nbytes, npg__shape_str(sb, sizeof sb, h.ndim, h.shape));
        return NULL;
    }
    if (have > nbytes) {
        ioerr(c, NPG_ERR_FORMAT, "%llu bytes of trailing data after the array of shape %s",
              (unsigned long long)(have - nbytes), npg__shape_str(sb, sizeof sb, h.ndim, h.shape));
        return NULL;
    }
    npg_dtype t = npy_target(&h);
    size_t tsz = npg_dtype_size(t);
    const unsigned char *src = buf + h.data_off;
    bool native = h.size == 1 || h.order == (host_is_little() ? '<' : '>') || h.order == '=';
    /* bytes usable as they are: same size, native order, and no value check
     * (bool is normalised to 0/1, uint64 checked against INT64_MAX) */
    bool same = (size_t)h.size == tsz && h.kind != 'b' && !(h.kind == 'u' && h.size == 8) && native;
    unsigned char *conv = NULL, *tr = NULL;
    const void *data = src;
    if (n > 0 && !(same && (uintptr_t)src % tsz == 0)) {
        conv = malloc((size_t)n * tsz);
        if (!conv) {
            ioerr(c, NPG_ERR_OOM, "out of host memory (%llu bytes)", (unsigned long long)(n * tsz));
            return NULL;
        }
        if (same)
            memcpy(conv, src, (size_t)n * tsz);
        else if (!npy_convert(c, &h, src, (int64_t)n, conv, t)) {
            free(conv);
            return NULL;
        }
        data = conv;
    }
    if (h.fortran && h.ndim > 1 && n > 1) {
        tr = malloc((size_t)n * tsz);
        if (!tr) {
            free(conv);
            ioerr(c, NPG_ERR_OOM, "out of host memory (%llu bytes)", (unsigned long long)(n * tsz));
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

#define NPY_HDR_MAX 512

typedef struct npy_blob {
    unsigned char hdr[NPY_HDR_MAX];
    size_t hdr_len;
    unsigned char *data; /* malloc'd (NULL when empty) */
    size_t data_len;
} npy_blob;

static const char *npy_descr(npg_dtype t) {
    switch (t) {
    case NPG_BOOL: return "|b1";
    case NPG_UINT8: return "|u1";
    case NPG_INT32: return "<i4";
    case NPG_INT64: return "<i8";
    case NPG_FLOAT32: return "<f4";
    case NPG_FLOAT64: return "<f8";
    default: return NULL;
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
    wr_le(out + 8, hlen + pad, (int)(prefix - 8));
    memcpy(out + prefix, dict, (size_t)len);
    memset(out + prefix + (size_t)len, ' ', pad);
    out[prefix + hlen + pad - 1] = '\n';
    return prefix + hlen + pad;
}

static bool npy_encode(const ioctx *c, const npg_array *x, npy_blob *b) {
    memset(b, 0, sizeof *b);
    const char *descr = npy_descr(x->dtype);
    if (!descr) return ioerr(c, NPG_ERR_DTYPE, "dtype %s cannot be saved", npg_dtype_name(x->dtype)), false;
    b->hdr_len = npy_header(b->hdr, descr, x->ndim, x->shape);
    b->data_len = npg_nbytes(x);
    if (b->data_len == 0) return true;
    b->data = malloc(b->data_len);
    if (!b->data) return ioerr(c, NPG_ERR_OOM, "out of host memory (%zu bytes)", b->data_len), false;
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
    if (!npy_encode(&c, x, &b)) return npg_last_status();
    writer w;
    if (!w_open(&w, &c)) {
        free(b.data);
        return npg_last_status();
    }
    w_put(&w, b.hdr, b.hdr_len);
    w_put(&w, b.data, b.data_len);
    npg_status st = w_close(&w);
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
    FILE *f = open_read(&c, &size);
    if (!f) return NULL;
    unsigned char *buf;
    size_t len;
    bool ok = read_all(&c, f, size, &buf, &len);
    fclose(f);
    if (!ok) return NULL;
    npg_array *x = npy_decode(&c, buf, len, opts);
    free(buf);
    return x;
}

/* ------------------------------------------------------------------------
 * ZIP records
 * ------------------------------------------------------------------------ */

#define ZIP_LOCAL_SIG 0x04034b50u
#define ZIP_CENTRAL_SIG 0x02014b50u
#define ZIP_END_SIG 0x06054b50u
#define ZIP64_END_SIG 0x06064b50u
#define ZIP64_LOC_SIG 0x07064b50u
#define ZIP_LOCAL_LEN 30
#define ZIP_CENTRAL_LEN 46
#define ZIP_END_LEN 22
#define ZIP64_END_LEN 56
#define ZIP64_LOC_LEN 20
#define ZIP_MAX32 0xFFFFFFFFull
#define ZIP_DOS_DATE 0x0021 /* 1980-01-01, as np.savez writes */

/* ------------------------------------------------------------------------
 * .npz: write
 * ------------------------------------------------------------------------ */

typedef struct zentry {
    uint64_t offset, csize, usize;
    uint32_t crc;
    uint16_t method, flags;
} zentry;

#ifdef NPG_HAVE_ZLIB
/* Raw deflate of hdr then data into a malloc'd buffer. */
static bool deflate_blob(const ioctx *c, const npy_blob *b, unsigned char **out, uint64_t *out_len) {
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return ioerr(c, NPG_ERR_OOM, "deflateInit failed"), false;
    uint64_t total = b->hdr_len + b->data_len;
    size_t cap = (size_t)deflateBound(&zs, (uLong)total) + 64, used = 0;
    unsigned char *buf = malloc(cap);
    if (!buf) {
        deflateEnd(&zs);
        return ioerr(c, NPG_ERR_OOM, "out of host memory (%zu bytes)", cap), false;
    }
    const unsigned char *parts[2] = {b->hdr, b->data};
    size_t lens[2] = {b->hdr_len, b->data_len};
    int ret = Z_OK;
    for (int part = 0; part < 2 && ret != Z_STREAM_END; part++) {
        const unsigned char *p = parts[part];
        size_t left = lens[part];
        do {
            uInt k = left > (1u << 30) ? (1u << 30) : (uInt)left;
            zs.next_in = (Bytef *)(uintptr_t)p;
            zs.avail_in = k;
            p += k;
            left -= k;
            int flush = (part == 1 && left == 0) ? Z_FINISH : Z_NO_FLUSH;
            do {
                if (used == cap) {
                    unsigned char *nb = realloc(buf, cap * 2);
                    if (!nb) {
                        free(buf);
                        deflateEnd(&zs);
                        return ioerr(c, NPG_ERR_OOM, "out of host memory"), false;
                    }
                    buf = nb;
                    cap *= 2;
                }
                size_t room = cap - used > (1u << 30) ? (1u << 30) : cap - used;
                zs.next_out = buf + used;
                zs.avail_out = (uInt)room;
                ret = deflate(&zs, flush);
                used += room - zs.avail_out;
                if (ret == Z_STREAM_ERROR) {
                    free(buf);
                    deflateEnd(&zs);
                    return ioerr(c, NPG_ERR_INTERNAL, "deflate failed"), false;
                }
            } while (ret != Z_STREAM_END && (zs.avail_out == 0 || flush == Z_FINISH));
        } while (left > 0);
    }
    deflateEnd(&zs);
    *out = buf;
    *out_len = used;
    return true;
}
#endif

static bool name_ok(const ioctx *c, const npg_named *arrays, int i) {
    const char *nm = arrays[i].name;
    if (!nm) return npg__set_error(NPG_ERR_NULL_ARG, "%s: '%s': arrays[%d].name is NULL", c->fn, c->path, i), false;
    size_t n = strlen(nm);
    if (n == 0) return ioerr(c, NPG_ERR_INVALID_ARG, "arrays[%d].name is empty", i), false;
    if (n > 65535 - 4) return ioerr(c, NPG_ERR_INVALID_ARG, "arrays[%d].name is too long (%zu bytes)", i, n), false;
    for (int j = 0; j < i; j++)
        if (strcmp(arrays[j].name, nm) == 0)
            return ioerr(c, NPG_ERR_INVALID_ARG, "two arrays are named '%s' (arrays[%d] and arrays[%d])", nm, j, i),
                   false;
    return true;
}

static void put_zip64_end(writer *w, uint64_t count, uint64_t cd_size, uint64_t cd_off) {
    unsigned char r[ZIP64_END_LEN + ZIP64_LOC_LEN];
    uint64_t at = w->pos;
    wr_le(r, ZIP64_END_SIG, 4);
    wr_le(r + 4, ZIP64_END_LEN - 12, 8);
    wr_le(r + 12, 0x032D, 2); /* made by: unix, 4.5 */
    wr_le(r + 14, 45, 2);
    wr_le(r + 16, 0, 4);
    wr_le(r + 20, 0, 4);
    wr_le(r + 24, count, 8);
    wr_le(r + 32, count, 8);
    wr_le(r + 40, cd_size, 8);
    wr_le(r + 48, cd_off, 8);
    unsigned char *l = r + ZIP64_END_LEN;
    wr_le(l, ZIP64_LOC_SIG, 4);
    wr_le(l + 4, 0, 4);
    wr_le(l + 8, at, 8);
    wr_le(l + 16, 1, 4);
    w_put(w, r, sizeof r);
}

npg_status npg_save_npz(const char *path, const npg_named *arrays, int n, bool compress) {
    ioctx c = {"npg_save_npz", path, NULL};
    if (!path || (n > 0 && !arrays)) {
        npg__null_arg(c.fn);
        return npg_last_status();
    }
    if (n < 0) return ioerr(&c, NPG_ERR_INVALID_ARG, "n must be non-negative (got %d)", n);
    for (int i = 0; i < n; i++) {
        if (!arrays[i].array) {
            npg__null_arg(c.fn);
            return npg_last_status();
        }
        if (!name_ok(&c, arrays, i)) return npg_last_status();
        if (!npy_descr(arrays[i].array->dtype))
            return ioerr(&c, NPG_ERR_DTYPE, "arrays[%d] has dtype %s, which cannot be saved", i,
                         npg_dtype_name(arrays[i].array->dtype));
    }
#ifndef NPG_HAVE_ZLIB
    if (compress) return ioerr(&c, NPG_ERR_UNSUPPORTED, "compression needs zlib, and npg was built without it");
#endif
    const bool force64 = npg__npz_force_zip64;
    zentry *ents = calloc(n > 0 ? (size_t)n : 1, sizeof *ents);
    if (!ents) return ioerr(&c, NPG_ERR_OOM, "out of host memory");
    writer w;
    if (!w_open(&w, &c)) {
        free(ents);
        return npg_last_status();
    }
    bool ok = true;
    for (int i = 0; i < n && ok; i++) {
        ioctx ec = {c.fn, path, arrays[i].name};
        npy_blob b;
        if (!npy_encode(&ec, arrays[i].array, &b)) {
            ok = false;
            break;
        }
        zentry *e = &ents[i];
        e->offset = w.pos;
        e->usize = b.hdr_len + b.data_len;
        e->crc = crc32_update(crc32_update(0, b.hdr, b.hdr_len), b.data, b.data_len);
        unsigned char *z = NULL;
        uint64_t zlen = e->usize;
#ifdef NPG_HAVE_ZLIB
        if (compress && !deflate_blob(&c, &b, &z, &zlen)) {
            free(b.data);
            ok = false;
            break;
        }
#endif
        e->method = compress ? 8 : 0;
        e->csize = zlen;
        const char *nm = arrays[i].name;
        size_t nl = strlen(nm);
        e->flags = 0;
        for (size_t k = 0; k < nl; k++)
            if ((unsigned char)nm[k] >= 0x80) e->flags = 0x0800; /* UTF-8 name */
        bool z64 = force64 || e->usize >= ZIP_MAX32 || e->csize >= ZIP_MAX32;
        unsigned char lh[ZIP_LOCAL_LEN + 20];
        wr_le(lh, ZIP_LOCAL_SIG, 4);
        wr_le(lh + 4, z64 ? 45 : 20, 2);
        wr_le(lh + 6, e->flags, 2);
        wr_le(lh + 8, e->method, 2);
        wr_le(lh + 10, 0, 2);
        wr_le(lh + 12, ZIP_DOS_DATE, 2);
        wr_le(lh + 14, e->crc, 4);
        wr_le(lh + 18, z64 ? ZIP_MAX32 : e->csize, 4);
        wr_le(lh + 22, z64 ? ZIP_MAX32 : e->usize, 4);
        wr_le(lh + 26, nl + 4, 2);
        wr_le(lh + 28, z64 ? 20 : 0, 2);
        if (z64) {
            wr_le(lh + 30, 0x0001, 2);
            wr_le(lh + 32, 16, 2);
            wr_le(lh + 34, e->usize, 8);
            wr_le(lh + 42, e->csize, 8);
        }
        w_put(&w, lh, ZIP_LOCAL_LEN);
        w_put(&w, nm, nl);
        w_put(&w, ".npy", 4);
        if (z64) w_put(&w, lh + ZIP_LOCAL_LEN, 20);
        if (z) {
            w_put(&w, z, (size_t)zlen);
            free(z);
        } else {
            w_put(&w, b.hdr, b.hdr_len);
            w_put(&w, b.data, b.data_len);
        }
        free(b.data);
    }
    if (ok) {
        uint64_t cd_off = w.pos;
        for (int i = 0; i < n; i++) {
            const zentry *e = &ents[i];
            const char *nm = arrays[i].name;
            size_t nl = strlen(nm);
            bool bu = force64 || e->usize >= ZIP_MAX32, bc = force64 || e->csize >= ZIP_MAX32;
            bool bo = force64 || e->offset >= ZIP_MAX32;
            unsigned char ch[ZIP_CENTRAL_LEN + 28];
            size_t xl = 0;
            unsigned char *x = ch + ZIP_CENTRAL_LEN + 4;
            if (bu) wr_le(x + xl, e->usize, 8), xl += 8;
            if (bc) wr_le(x + xl, e->csize, 8), xl += 8;
            if (bo) wr_le(x + xl, e->offset, 8), xl += 8;
            bool z64 = xl > 0;
            wr_le(ch, ZIP_CENTRAL_SIG, 4);
            wr_le(ch + 4, z64 ? 0x032D : 0x0314, 2); /* made by: unix, 4.5 / 2.0 */
            wr_le(ch + 6, z64 ? 45 : 20, 2);
            wr_le(ch + 8, e->flags, 2);
            wr_le(ch + 10, e->method, 2);
            wr_le(ch + 12, 0, 2);
            wr_le(ch + 14, ZIP_DOS_DATE, 2);
            wr_le(ch + 16, e->crc, 4);
            wr_le(ch + 20, bc ? ZIP_MAX32 : e->csize, 4);
            wr_le(ch + 24, bu ? ZIP_MAX32 : e->usize, 4);
            wr_le(ch + 28, nl + 4, 2);
            wr_le(ch + 30, z64 ? xl + 4 : 0, 2);
            wr_le(ch + 32, 0, 2);
            wr_le(ch + 34, 0, 2);
            wr_le(ch + 36, 0, 2);
            wr_le(ch + 38, (uint64_t)0100644 << 16, 4); /* regular file, rw-r--r-- */
            wr_le(ch + 42, bo ? ZIP_MAX32 : e->offset, 4);
            if (z64) {
                wr_le(ch + ZIP_CENTRAL_LEN, 0x0001, 2);
                wr_le(ch + ZIP_CENTRAL_LEN + 2, xl, 2);
            }
            w_put(&w, ch, ZIP_CENTRAL_LEN);
            w_put(&w, nm, nl);
            w_put(&w, ".npy", 4);
            if (z64) w_put(&w, ch + ZIP_CENTRAL_LEN, xl + 4);
        }
        uint64_t cd_size = w.pos - cd_off, count = (uint64_t)n;
        bool z64 = force64 || count >= 0xFFFF || cd_size >= ZIP_MAX32 || cd_off >= ZIP_MAX32;
        if (z64) put_zip64_end(&w, count, cd_size, cd_off);
        unsigned char er[ZIP_END_LEN];
        wr_le(er, ZIP_END_SIG, 4);
        wr_le(er + 4, 0, 2);
        wr_le(er + 6, 0, 2);
        wr_le(er + 8, z64 ? 0xFFFF : count, 2);
        wr_le(er + 10, z64 ? 0xFFFF : count, 2);
        wr_le(er + 12, z64 ? ZIP_MAX32 : cd_size, 4);
        wr_le(er + 16, z64 ? ZIP_MAX32 : cd_off, 4);
        wr_le(er + 20, 0, 2);
        w_put(&w, er, sizeof er);
    }
    free(ents);
    if (!ok) {
        w_abort(&w);
        return npg_last_status();
    }
    return w_close(&w);
}

/* ------------------------------------------------------------------------
 * .npz: read
 * ------------------------------------------------------------------------ */

struct npg_npz {
    int n;
    char **names;        /* without ".npy" */
    npg_array **arrays;  /* unscoped references owned by the npz */
    bool requires_grad;
};

void npg_npz_free(npg_npz *z) {
    if (!z) return;
    for (int i = 0; i < z->n; i++) {
        free(z->names[i]);
        npg__release(z->arrays[i]);
    }
    free(z->names);
    free(z->arrays);
    free(z);
}

int npg_npz_count(const npg_npz *z) {
    if (!z) {
        npg__null_arg("npg_npz_count");
        return -1;
    }
    return z->n;
}

const char *npg_npz_name(const npg_npz *z, int i) {
    if (!z) {
        npg__null_arg("npg_npz_name");
        return NULL;
    }
    if (i < 0 || i >= z->n) {
        npg__set_error(NPG_ERR_INDEX, "npg_npz_name: index %d is out of range for %d arrays", i, z->n);
        return NULL;
    }
    return z->names[i];
}

npg_array *npg_npz_get(const npg_npz *z, const char *name) {
    const char *fn = "npg_npz_get";
    if (!z || !name) {
        npg__null_arg(fn);
        return NULL;
    }
    for (int i = z->n - 1; i >= 0; i--) { /* the last of duplicate names, as np.load picks */
        if (strcmp(z->names[i], name) != 0) continue;
        npg_array *a = z->arrays[i];
        npg_array *v = npg__view_raw(a, a->ndim, a->shape, a->strides, a->offset);
        if (v && z->requires_grad && npg_is_floating(v->dtype)) v->requires_grad = true;
        return v;
    }
    char shown[80];
    sanitize(shown, sizeof shown, name, strlen(name));
    npg__set_error(NPG_ERR_INVALID_ARG, "%s: no array named '%s' (the file holds %d)", fn, shown, z->n);
    return NULL;
}

typedef struct zcd {
    char *name; /* entry name as stored (malloc'd) */
    uint64_t csize, usize, offset;
    uint32_t crc;
    uint16_t method, flags;
} zcd;

/* The ZIP64 extended-information extra field: replaces the 0xFFFFFFFF fields. */
static bool zip64_extra(const ioctx *c, const unsigned char *x, size_t xl, zcd *e, bool need_u, bool need_c,
                        bool need_o) {
    size_t p = 0;
    while (p + 4 <= xl) {
        unsigned id = (unsigned)rd_le(x + p, 2), sz = (unsigned)rd_le(x + p + 2, 2);
        if (p + 4 + sz > xl) break;
        if (id == 0x0001) {
            const unsigned char *d = x + p + 4;
            size_t q = 0;
            if (need_u) {
                if (q + 8 > sz) goto bad;
                e->usize = rd_le(d + q, 8), q += 8, need_u = false;
            }
            if (need_c) {
                if (q + 8 > sz) goto bad;
                e->csize = rd_le(d + q, 8), q += 8, need_c = false;
            }
            if (need_o) {
                if (q + 8 > sz) goto bad;
                e->offset = rd_le(d + q, 8), q += 8, need_o = false;
            }
            break;
        }
        p += 4 + sz;
    }
    if (!need_u && !need_c && !need_o) return true;
bad:
    ioerr(c, NPG_ERR_FORMAT, "bad central directory: ZIP64 sizes missing");
    return false;
}

#ifdef NPG_HAVE_ZLIB
static bool inflate_raw(const ioctx *c, const unsigned char *in, uint64_t inlen, unsigned char *out, uint64_t outlen) {
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, -15) != Z_OK) return ioerr(c, NPG_ERR_OOM, "inflateInit failed"), false;
    uint64_t in_left = inlen, out_left = outlen;
    int ret = Z_OK;
    for (;;) {
        if (zs.avail_in == 0 && in_left > 0) {
            uInt k = in_left > (1u << 30) ? (1u << 30) : (uInt)in_left;
            zs.next_in = (Bytef *)(uintptr_t)(in + (inlen - in_left));
            zs.avail_in = k;
            in_left -= k;
        }
        if (zs.avail_out == 0 && out_left > 0) {
            uInt k = out_left > (1u << 30) ? (1u << 30) : (uInt)out_left;
            zs.next_out = out + (outlen - out_left);
            zs.avail_out = k;
            out_left -= k;
        }
        uInt before_in = zs.avail_in, before_out = zs.avail_out;
        unsigned char spare;
        bool probing = zs.avail_out == 0; /* output full: does the stream want more? */
        if (probing) {
            zs.next_out = &spare;
            zs.avail_out = 1;
            before_out = 1;
        }
        ret = inflate(&zs, Z_NO_FLUSH);
        if (ret == Z_STREAM_END && !(probing && zs.avail_out == 0)) break;
        if (ret == Z_NEED_DICT || ret == Z_DATA_ERROR || ret == Z_MEM_ERROR || ret == Z_STREAM_ERROR) break;
        if (probing && zs.avail_out == 0) {
            inflateEnd(&zs);
            return ioerr(c, NPG_ERR_FORMAT, "deflate data is larger than its declared size (%llu bytes)",
                         (unsigned long long)outlen), false;
        }
        if (zs.avail_in == before_in && zs.avail_out == before_out && in_left == 0) {
            inflateEnd(&zs);
            return ioerr(c, NPG_ERR_FORMAT, "deflate data is truncated"), false;
        }
        if (probing) zs.avail_out = 0;
    }
    const char *msg = zs.msg;
    uint64_t produced = zs.total_out;
    inflateEnd(&zs);
    if (ret != Z_STREAM_END) return ioerr(c, NPG_ERR_FORMAT, "corrupt deflate data (%s)", msg ? msg : "error"), false;
    if (produced != outlen)
        return ioerr(c, NPG_ERR_FORMAT, "deflate data gives %llu bytes, the directory says %llu",
                     (unsigned long long)produced, (unsigned long long)outlen), false;
    return true;
}
#endif

static void zcd_free(zcd *ents, uint64_t n) {
    if (!ents) return;
    for (uint64_t i = 0; i < n; i++) free(ents[i].name);
    free(ents);
}

/* Read the central directory: *ents (count *count), *data_end = where entry
 * data must end (the start of the central directory). */
static bool read_directory(const ioctx *c, FILE *f, uint64_t size, zcd **out, uint64_t *count, uint64_t *data_end) {
    *out = NULL;
    *count = 0;
    if (size == 0) return ioerr(c, NPG_ERR_FORMAT, "file is empty"), false;
    if (size < ZIP_END_LEN)
        return ioerr(c, NPG_ERR_FORMAT, "not a ZIP file (%llu bytes)", (unsigned long long)size), false;
    size_t tl = size < ZIP_END_LEN + 65535 ? (size_t)size : ZIP_END_LEN + 65535;
    unsigned char *tail = malloc(tl);
    if (!tail) return ioerr(c, NPG_ERR_OOM, "out of host memory"), false;
    if (!read_at(c, f, size - tl, tail, tl)) {
        free(tail);
        return false;
    }
    size_t at = SIZE_MAX;
    for (size_t i = tl - ZIP_END_LEN + 1; i-- > 0;) {
        if (rd_le(tail + i, 4) == ZIP_END_SIG && i + ZIP_END_LEN + rd_le(tail + i + 20, 2) <= tl) {
            at = i;
            break;
        }
    }
    if (at == SIZE_MAX) {
        free(tail);
        return ioerr(c, NPG_ERR_FORMAT, "not a ZIP file (no end of central directory record)"), false;
    }
    const unsigned char *er = tail + at;
    uint64_t end_pos = size - tl + at;
    uint64_t disk = rd_le(er + 4, 2), cd_disk = rd_le(er + 6, 2);
    uint64_t n = rd_le(er + 10, 2), cd_size = rd_le(er + 12, 4), cd_off = rd_le(er + 16, 4);
    free(tail);
    uint64_t cd_limit = end_pos; /* the directory ends before the (ZIP64) end record */
    unsigned char loc[ZIP64_LOC_LEN];
    bool have_loc = false;
    if (end_pos >= ZIP64_LOC_LEN) {
        if (!read_at(c, f, end_pos - ZIP64_LOC_LEN, loc, sizeof loc)) return false;
        have_loc = rd_le(loc, 4) == ZIP64_LOC_SIG;
    }
    if (have_loc) {
        uint64_t z_off = rd_le(loc + 8, 8);
        if (z_off > end_pos - ZIP64_LOC_LEN || end_pos - ZIP64_LOC_LEN - z_off < ZIP64_END_LEN)
            return ioerr(c, NPG_ERR_FORMAT, "bad ZIP64 end record offset %llu", (unsigned long long)z_off), false;
        unsigned char zr[ZIP64_END_LEN];
        if (!read_at(c, f, z_off, zr, sizeof zr)) return false;
        if (rd_le(zr, 4) != ZIP64_END_SIG) return ioerr(c, NPG_ERR_FORMAT, "bad ZIP64 end record signature"), false;
        disk = rd_le(zr + 16, 4);
        cd_disk = rd_le(zr + 20, 4);
        n = rd_le(zr + 32, 8);
        cd_size = rd_le(zr + 40, 8);
        cd_off = rd_le(zr + 48, 8);
        cd_limit = z_off;
    } else if (n == 0xFFFF || cd_size == ZIP_MAX32 || cd_off == ZIP_MAX32) {
        return ioerr(c, NPG_ERR_FORMAT, "ZIP64 end record locator missing"), false;
    }
    if (disk != 0 || cd_disk != 0) return ioerr(c, NPG_ERR_FORMAT, "multi-disk ZIP archives are not supported"), false;
    if (cd_off > cd_limit || cd_size > cd_limit - cd_off)
        return ioerr(c, NPG_ERR_FORMAT, "bad central directory (offset %llu, size %llu, in a file of %llu bytes)",
                     (unsigned long long)cd_off, (unsigned long long)cd_size, (unsigned long long)size), false;
    if (n > cd_size / ZIP_CENTRAL_LEN)
        return ioerr(c, NPG_ERR_FORMAT, "bad central directory (%llu entries in %llu bytes)", (unsigned long long)n,
                     (unsigned long long)cd_size), false;
    unsigned char *cd = malloc(cd_size ? (size_t)cd_size : 1);
    zcd *ents = calloc(n ? (size_t)n : 1, sizeof *ents);
    if (!cd || !ents) {
        free(cd);
        free(ents);
        return ioerr(c, NPG_ERR_OOM, "out of host memory"), false;
    }
    if (!read_at(c, f, cd_off, cd, (size_t)cd_size)) {
        free(cd);
        free(ents);
        return false;
    }
    size_t p = 0;
    bool ok = true;
    for (uint64_t i = 0; i < n && ok; i++) {
        if (cd_size - p < ZIP_CENTRAL_LEN || rd_le(cd + p, 4) != ZIP_CENTRAL_SIG) {
            ioerr(c, NPG_ERR_FORMAT, "bad central directory (entry %llu has no valid header)", (unsigned long long)i);
            ok = false;
            break;
        }
        const unsigned char *h = cd + p;
        size_t nl = (size_t)rd_le(h + 28, 2), xl = (size_t)rd_le(h + 30, 2), cl = (size_t)rd_le(h + 32, 2);
        if (cd_size - p - ZIP_CENTRAL_LEN < nl + xl + cl) {
            ioerr(c, NPG_ERR_FORMAT, "bad central directory (entry %llu overruns it)", (unsigned long long)i);
            ok = false;
            break;
        }
        zcd *e = &ents[i];
        e->flags = (uint16_t)rd_le(h + 8, 2);
        e->method = (uint16_t)rd_le(h + 10, 2);
        e->crc = (uint32_t)rd_le(h + 16, 4);
        e->csize = rd_le(h + 20, 4);
        e->usize = rd_le(h + 24, 4);
        e->offset = rd_le(h + 42, 4);
        e->name = malloc(nl + 1);
        if (!e->name) {
            ioerr(c, NPG_ERR_OOM, "out of host memory");
            ok = false;
            break;
        }
        memcpy(e->name, h + ZIP_CENTRAL_LEN, nl);
        e->name[nl] = '\0';
        if (memchr(e->name, '\0', nl)) {
            ioerr(c, NPG_ERR_FORMAT, "bad central directory (entry %llu has a NUL in its name)", (unsigned long long)i);
            ok = false;
            break;
        }
        bool nu = e->usize == ZIP_MAX32, nc = e->csize == ZIP_MAX32, no = e->offset == ZIP_MAX32;
        if ((nu || nc || no) && !zip64_extra(c, h + ZIP_CENTRAL_LEN + nl, xl, e, nu, nc, no)) ok = false;
        p += ZIP_CENTRAL_LEN + nl + xl + cl;
    }
    free(cd);
    if (!ok) {
        zcd_free(ents, n);
        return false;
    }
    *out = ents;
    *count = n;
    *data_end = cd_off;
    return true;
}

/* The .npy bytes of entry e (malloc'd, e->usize bytes), CRC checked. */
static unsigned char *read_entry(const ioctx *c, FILE *f, const zcd *e, uint64_t data_end) {
    if (e->flags & 1) return ioerr(c, NPG_ERR_FORMAT, "entry is encrypted"), NULL;
    if (e->method != 0 && e->method != 8)
        return ioerr(c, NPG_ERR_FORMAT, "unsupported compression method %u", (unsigned)e->method), NULL;
#ifndef NPG_HAVE_ZLIB
    if (e->method == 8)
        return ioerr(c, NPG_ERR_UNSUPPORTED, "entry is deflate-compressed, and npg was built without zlib"), NULL;
#endif
    unsigned char lh[ZIP_LOCAL_LEN];
    if (e->offset > data_end || data_end - e->offset < ZIP_LOCAL_LEN)
        return ioerr(c, NPG_ERR_FORMAT, "local header offset %llu is outside the data", (unsigned long long)e->offset),
               NULL;
    if (!read_at(c, f, e->offset, lh, sizeof lh)) return NULL;
    if (rd_le(lh, 4) != ZIP_LOCAL_SIG) return ioerr(c, NPG_ERR_FORMAT, "bad local header signature"), NULL;
    uint64_t data_off = e->offset + ZIP_LOCAL_LEN + rd_le(lh + 26, 2) + rd_le(lh + 28, 2);
    if (data_off > data_end || data_end - data_off < e->csize)
        return ioerr(c, NPG_ERR_FORMAT, "entry data (%llu bytes at offset %llu) overruns the archive",
                     (unsigned long long)e->csize, (unsigned long long)data_off), NULL;
    if (e->method == 0 && e->csize != e->usize)
        return ioerr(c, NPG_ERR_FORMAT, "stored entry has compressed size %llu but size %llu",
                     (unsigned long long)e->csize, (unsigned long long)e->usize), NULL;
    /* deflate expands at most 1032:1; a larger claim is corrupt (and would
     * make us allocate for nothing) */
    if (e->method == 8 && e->usize > e->csize * 1032 + 1024)
        return ioerr(c, NPG_ERR_FORMAT, "declared size %llu is impossible for %llu compressed bytes",
                     (unsigned long long)e->usize, (unsigned long long)e->csize), NULL;
    if (e->usize >= SIZE_MAX / 2) return ioerr(c, NPG_ERR_OOM, "entry is too large for memory"), NULL;
    unsigned char *out = malloc(e->usize ? (size_t)e->usize : 1);
    if (!out) return ioerr(c, NPG_ERR_OOM, "out of host memory (%llu bytes)", (unsigned long long)e->usize), NULL;
    if (e->method == 0) {
        if (!read_at(c, f, data_off, out, (size_t)e->usize)) {
            free(out);
            return NULL;
        }
    }
#ifdef NPG_HAVE_ZLIB
    else {
        unsigned char *in = malloc(e->csize ? (size_t)e->csize : 1);
        if (!in) {
            free(out);
            return ioerr(c, NPG_ERR_OOM, "out of host memory (%llu bytes)", (unsigned long long)e->csize), NULL;
        }
        bool ok = read_at(c, f, data_off, in, (size_t)e->csize) && inflate_raw(c, in, e->csize, out, e->usize);
        free(in);
        if (!ok) {
            free(out);
            return NULL;
        }
    }
#endif
    uint32_t crc = crc32_update(0, out, (size_t)e->usize);
    if (crc != e->crc) {
        free(out);
        return ioerr(c, NPG_ERR_FORMAT, "CRC-32 mismatch (data %08lx, directory %08lx)", (unsigned long)crc,
                     (unsigned long)e->crc), NULL;
    }
    return out;
}

static bool ends_with_npy(const char *s) {
    size_t n = strlen(s);
    return n >= 4 && strcmp(s + n - 4, ".npy") == 0;
}

npg_npz *npg_load_npz(const char *path, const npg_opts *opts) {
    ioctx c = {"npg_load_npz", path, NULL};
    if (!path) {
        npg__null_arg(c.fn);
        return NULL;
    }
    uint64_t size;
    FILE *f = open_read(&c, &size);
    if (!f) return NULL;
    zcd *ents = NULL;
    uint64_t n = 0, data_end = 0;
    npg_npz *z = NULL;
    if (!read_directory(&c, f, size, &ents, &n, &data_end)) goto fail;
    uint64_t m = 0;
    for (uint64_t i = 0; i < n; i++) m += ends_with_npy(ents[i].name);
    if (m > INT32_MAX) {
        ioerr(&c, NPG_ERR_FORMAT, "too many entries (%llu)", (unsigned long long)m);
        goto fail;
    }
    z = calloc(1, sizeof *z);
    if (z) z->names = calloc(m ? (size_t)m : 1, sizeof *z->names);
    if (z) z->arrays = calloc(m ? (size_t)m : 1, sizeof *z->arrays);
    if (!z || !z->names || !z->arrays) {
        ioerr(&c, NPG_ERR_OOM, "out of host memory");
        goto fail;
    }
    z->requires_grad = opts && opts->requires_grad;
    npg_opts o = opts ? *opts : (npg_opts){0};
    o.requires_grad = false;
    for (uint64_t i = 0; i < n; i++) {
        zcd *e = &ents[i];
        if (!ends_with_npy(e->name)) continue; /* np.load also keeps non-.npy entries out of the arrays */
        ioctx ec = {c.fn, path, e->name};
        unsigned char *bytes = read_entry(&ec, f, e, data_end);
        if (!bytes) goto fail;
        npg_array *a = npy_decode(&ec, bytes, (size_t)e->usize, &o);
        free(bytes);
        if (!a) goto fail;
        npg__unscope(a); /* owned by the npz, not by the caller's scope */
        size_t nl = strlen(e->name) - 4;
        e->name[nl] = '\0';
        z->names[z->n] = e->name; /* take the allocation */
        e->name = NULL;
        z->arrays[z->n++] = a;
    }
    zcd_free(ents, n);
    fclose(f);
    return z;
fail:
    zcd_free(ents, n);
    npg_npz_free(z);
    fclose(f);
    return NULL;
}
