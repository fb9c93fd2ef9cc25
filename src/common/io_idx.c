/*
 * io_idx.c — the IDX format of MNIST and Fashion-MNIST, plain or gzipped.
 *
 * Layout: two zero bytes, an element-type byte, a dimension count, that many
 * big-endian uint32 dimensions, then the big-endian elements in C order.
 * The reader checks the header, refuses data beyond or short of what the
 * dimensions promise, and never allocates more than the data it has
 * actually read (a gzip stream's size is only known once it is inflated).
 * Leaves out: writing IDX files.
 */
#define _POSIX_C_SOURCE 200809L
#include "internal.h"
#include "npg/io.h"

#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>

#ifdef NPG_HAVE_ZLIB
#include <zlib.h>
#endif

#define IDX_MAX_BYTES ((uint64_t)1 << 40)

static const char *const FN = "npg_load_idx";

static npg_status idx_err(const char *path, npg_status st, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return npg__set_error(st, "%s: '%s': %s", FN, path, msg);
}

static npg_status idx_syserr(const char *path, int e, const char *what) {
    char eb[128];
    if (strerror_r(e, eb, sizeof eb) != 0) snprintf(eb, sizeof eb, "error %d", e);
    return idx_err(path, NPG_ERR_IO, "%s: %s", what, eb);
}

/* A byte source: a plain FILE or a gzip stream. */
typedef struct src {
    const char *path;
    FILE *f;
#ifdef NPG_HAVE_ZLIB
    gzFile gz;
#endif
} src;

/* Read up to n bytes; returns the count (short only at the end of the data)
 * or -1 with an error set. */
static int64_t src_read(src *s, void *dst, size_t n) {
    size_t got = 0;
#ifdef NPG_HAVE_ZLIB
    if (s->gz) {
        while (got < n) {
            unsigned k = n - got > (1u << 30) ? (1u << 30) : (unsigned)(n - got);
            int r = gzread(s->gz, (unsigned char *)dst + got, k);
            if (r < 0) break;
            got += (size_t)r;
            if (r == 0 || (unsigned)r < k) break;
        }
        int zerr = Z_OK;
        const char *msg = gzerror(s->gz, &zerr);
        if (zerr == Z_ERRNO) {
            idx_syserr(s->path, errno ? errno : EIO, "read failed");
            return -1;
        }
        if (zerr != Z_OK && zerr != Z_STREAM_END) {
            idx_err(s->path, NPG_ERR_FORMAT, "corrupt gzip data (%s)", msg ? msg : "error");
            return -1;
        }
        return (int64_t)got;
    }
#endif
    got = fread(dst, 1, n, s->f);
    if (got < n && ferror(s->f)) {
        idx_syserr(s->path, errno ? errno : EIO, "read failed");
        return -1;
    }
    return (int64_t)got;
}

static void src_close(src *s) {
#ifdef NPG_HAVE_ZLIB
    if (s->gz) gzclose(s->gz);
#endif
    if (s->f) fclose(s->f);
}

/* Open path as a plain or gzip source. *plain_size is the file size of a
 * plain regular file (to check the data length before allocating), else 0. */
static bool src_open(src *s, const char *path, uint64_t *plain_size, bool *known_size) {
    memset(s, 0, sizeof *s);
    s->path = path;
    errno = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        idx_syserr(path, errno ? errno : ENOENT, "cannot open");
        return false;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        int e = errno;
        fclose(f);
        idx_syserr(path, e, "cannot stat");
        return false;
    }
    if (S_ISDIR(st.st_mode)) {
        fclose(f);
        idx_syserr(path, EISDIR, "cannot read");
        return false;
    }
    unsigned char magic[2];
    size_t m = fread(magic, 1, 2, f);
    if (m < 2 && ferror(f)) {
        int e = errno ? errno : EIO;
        fclose(f);
        idx_syserr(path, e, "read failed");
        return false;
    }
    if (m == 0) {
        fclose(f);
        idx_err(path, NPG_ERR_FORMAT, "file is empty");
        return false;
    }
    bool gz = m == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
    if (!gz) {
        rewind(f);
        s->f = f;
        *known_size = S_ISREG(st.st_mode);
        *plain_size = *known_size ? (uint64_t)st.st_size : 0;
        return true;
    }
    fclose(f);
#ifdef NPG_HAVE_ZLIB
    *known_size = false;
    *plain_size = 0;
    errno = 0;
    s->gz = gzopen(path, "rb");
    if (!s->gz) {
        idx_syserr(path, errno ? errno : ENOMEM, "cannot open");
        return false;
    }
    gzbuffer(s->gz, 1u << 17);
    return true;
#else
    idx_err(path, NPG_ERR_UNSUPPORTED, "the file is gzip-compressed, and npg was built without zlib");
    return false;
#endif
}

/* The host dtype each IDX element type becomes, and its size in the file. */
static bool idx_type(int code, npg_dtype *t, int *fsize) {
    switch (code) {
    case 0x08: *t = NPG_UINT8, *fsize = 1; return true;
    case 0x09: *t = NPG_INT8, *fsize = 1; return true;
    case 0x0B: *t = NPG_INT16, *fsize = 2; return true;
    case 0x0C: *t = NPG_INT32, *fsize = 4; return true;
    case 0x0D: *t = NPG_FLOAT32, *fsize = 4; return true;
    case 0x0E: *t = NPG_FLOAT64, *fsize = 8; return true;
    default: return false;
    }
}

/* Big-endian file elements -> host values of dtype t, in place (every
 * dtype has the file's element size). Returns raw. */
static unsigned char *idx_convert(unsigned char *raw, uint64_t n, npg_dtype t) {
    size_t sz = npg_dtype_size(t);
    for (uint64_t i = 0; sz > 1 && i < n; i++) {
        unsigned char *p = raw + i * sz;
        uint64_t v = 0;
        for (size_t b = 0; b < sz; b++) v = v << 8 | p[b];
        if (sz == 2) {
            uint16_t u = (uint16_t)v;
            memcpy(p, &u, 2);
        } else if (sz == 4) {
            uint32_t u = (uint32_t)v;
            memcpy(p, &u, 4);
        } else {
            memcpy(p, &v, 8);
        }
    }
    return raw;
}

npg_array *npg_load_idx(const char *path, const npg_opts *opts) {
    if (!path) {
        npg__null_arg(FN);
        return NULL;
    }
    src s;
    uint64_t file_size = 0;
    bool known = false;
    if (!src_open(&s, path, &file_size, &known)) return NULL;

    npg_array *x = NULL;
    unsigned char *raw = NULL;
    unsigned char hdr[4 + 4 * 255];
    int64_t r = src_read(&s, hdr, 4);
    if (r < 0) goto done;
    if (r == 0) {
        idx_err(path, NPG_ERR_FORMAT, "file is empty");
        goto done;
    }
    if (r < 4 && !(r >= 2 && (hdr[0] || hdr[1]))) {
        idx_err(path, NPG_ERR_FORMAT, "truncated header (%lld of 4 magic bytes)", (long long)r);
        goto done;
    }
    if (hdr[0] != 0 || hdr[1] != 0) {
        idx_err(path, NPG_ERR_FORMAT, "bad magic %02x %02x (an IDX file starts with 00 00)", hdr[0], hdr[1]);
        goto done;
    }
    int code = hdr[2], ndim = hdr[3];
    npg_dtype t;
    int fsize;
    if (!idx_type(code, &t, &fsize)) {
        idx_err(path, NPG_ERR_FORMAT, "unknown element type 0x%02x", code);
        goto done;
    }
    if (ndim == 0) {
        idx_err(path, NPG_ERR_FORMAT, "the header declares zero dimensions");
        goto done;
    }
    if (ndim > NPG_MAX_DIMS) {
        idx_err(path, NPG_ERR_FORMAT, "the header declares %d dimensions (at most %d are supported)", ndim,
                NPG_MAX_DIMS);
        goto done;
    }
    r = src_read(&s, hdr + 4, (size_t)ndim * 4);
    if (r < 0) goto done;
    if (r < ndim * 4) {
        idx_err(path, NPG_ERR_FORMAT, "truncated header (%lld of %d dimension bytes)", (long long)r, ndim * 4);
        goto done;
    }
    npg_shape shape = {.ndim = ndim};
    bool empty = false, over = false;
    for (int i = 0; i < ndim; i++) {
        const unsigned char *p = hdr + 4 + 4 * i;
        shape.dims[i] = (int64_t)((uint64_t)p[0] << 24 | (uint64_t)p[1] << 16 | (uint64_t)p[2] << 8 | p[3]);
        if (shape.dims[i] == 0) empty = true;
    }
    uint64_t n = empty ? 0 : 1;
    for (int i = 0; i < ndim && !empty && !over; i++) {
        if (n > IDX_MAX_BYTES / (uint64_t)shape.dims[i])
            over = true;
        else
            n *= (uint64_t)shape.dims[i];
    }
    uint64_t nbytes = over ? 0 : n * (uint64_t)fsize;
    char sb[NPG_SHAPE_BUF];
    if (over || nbytes > IDX_MAX_BYTES) {
        idx_err(path, NPG_ERR_FORMAT, "dimensions %s exceed the limit of 2^40 bytes of data",
                npg__shape_str(sb, sizeof sb, ndim, shape.dims));
        goto done;
    }
    uint64_t header_len = 4 + 4 * (uint64_t)ndim;
    if (known) {
        uint64_t have = file_size >= header_len ? file_size - header_len : 0;
        if (have < nbytes) {
            idx_err(path, NPG_ERR_FORMAT, "data is truncated (%llu of %llu bytes for shape %s)",
                    (unsigned long long)have, (unsigned long long)nbytes,
                    npg__shape_str(sb, sizeof sb, ndim, shape.dims));
            goto done;
        }
        if (have > nbytes) {
            idx_err(path, NPG_ERR_FORMAT, "%llu bytes of data beyond the %llu that shape %s holds",
                    (unsigned long long)(have - nbytes), (unsigned long long)nbytes,
                    npg__shape_str(sb, sizeof sb, ndim, shape.dims));
            goto done;
        }
    }
    /* Read the data, growing the buffer only as data actually arrives. */
    size_t cap = nbytes < (1u << 24) || known ? (size_t)nbytes : (1u << 24), got = 0;
    raw = malloc(cap ? cap : 1);
    if (!raw) {
        idx_err(path, NPG_ERR_OOM, "out of host memory (%zu bytes)", cap);
        goto done;
    }
    while (got < nbytes) {
        if (got == cap) {
            size_t ncap = cap * 2 > nbytes ? (size_t)nbytes : cap * 2;
            unsigned char *nb = realloc(raw, ncap);
            if (!nb) {
                idx_err(path, NPG_ERR_OOM, "out of host memory (%zu bytes)", ncap);
                goto done;
            }
            raw = nb;
            cap = ncap;
        }
        size_t want = cap - got;
        r = src_read(&s, raw + got, want);
        if (r < 0) goto done;
        got += (size_t)r;
        if ((size_t)r < want) break; /* a short read: the data ended */
    }
    if (got < nbytes) {
        idx_err(path, NPG_ERR_FORMAT, "data is truncated (%zu of %llu bytes for shape %s)", got,
                (unsigned long long)nbytes, npg__shape_str(sb, sizeof sb, ndim, shape.dims));
        goto done;
    }
    unsigned char extra;
    r = src_read(&s, &extra, 1);
    if (r < 0) goto done;
    if (r > 0) {
        idx_err(path, NPG_ERR_FORMAT, "more data than the %llu bytes that shape %s holds", (unsigned long long)nbytes,
                npg__shape_str(sb, sizeof sb, ndim, shape.dims));
        goto done;
    }
    x = npg_from_data(idx_convert(raw, n, t), t, shape, opts);
    if (!x) {
        char prev[512];
        snprintf(prev, sizeof prev, "%s", npg_last_error());
        npg_status st = npg_last_status();
        idx_err(path, st != NPG_OK ? st : NPG_ERR_INTERNAL, "%s", prev);
    }
done:
    free(raw);
    src_close(&s);
    return x;
}
