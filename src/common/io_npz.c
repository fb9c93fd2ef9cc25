/*
 * io_npz.c — .npz files: a ZIP archive of "<name>.npy" entries.
 *
 * The reader trusts only the central directory (so data descriptors and
 * local ZIP64 fields need no special care), bounds-checks every offset
 * against the file, refuses deflate sizes no real stream could have, and
 * checks each CRC-32. The writer emits stored or raw-deflate entries with
 * sizes known up front (no data descriptors) and ZIP64 records only where a
 * size, offset or count needs them. Leaves out: encryption, multi-disk
 * archives, methods other than stored/deflate, non-.npy entries (skipped).
 */
#define _POSIX_C_SOURCE 200809L
#include "internal.h"
#include "npg/io.h"
#include "io_internal.h"

#include <errno.h>
#include <stdio.h>

#ifdef NPG_HAVE_ZLIB
#include <zlib.h>
#endif

/* Test hook: write ZIP64 fields and end records even for small archives. */
bool npg__npz_force_zip64 = false;

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
        return npg__io_err(c, NPG_ERR_OOM, "deflateInit failed"), false;
    uint64_t total = b->hdr_len + b->data_len;
    size_t cap = (size_t)deflateBound(&zs, (uLong)total) + 64, used = 0;
    unsigned char *buf = malloc(cap);
    if (!buf) {
        deflateEnd(&zs);
        return npg__io_err(c, NPG_ERR_OOM, "out of host memory (%zu bytes)", cap), false;
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
            if (k) p += k; /* p may be NULL for an empty part: no arithmetic on it */
            left -= k;
            int flush = (part == 1 && left == 0) ? Z_FINISH : Z_NO_FLUSH;
            do {
                if (used == cap) {
                    unsigned char *nb = realloc(buf, cap * 2);
                    if (!nb) {
                        free(buf);
                        deflateEnd(&zs);
                        return npg__io_err(c, NPG_ERR_OOM, "out of host memory"), false;
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
                    return npg__io_err(c, NPG_ERR_INTERNAL, "deflate failed"), false;
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
    if (n == 0) return npg__io_err(c, NPG_ERR_INVALID_ARG, "arrays[%d].name is empty", i), false;
    if (n > 65535 - 4) return npg__io_err(c, NPG_ERR_INVALID_ARG, "arrays[%d].name is too long (%zu bytes)", i, n), false;
    for (int j = 0; j < i; j++)
        if (strcmp(arrays[j].name, nm) == 0)
            return npg__io_err(c, NPG_ERR_INVALID_ARG, "two arrays are named '%s' (arrays[%d] and arrays[%d])", nm, j, i),
                   false;
    return true;
}

static void put_zip64_end(writer *w, uint64_t count, uint64_t cd_size, uint64_t cd_off) {
    unsigned char r[ZIP64_END_LEN + ZIP64_LOC_LEN];
    uint64_t at = w->pos;
    npg__io_wr_le(r, ZIP64_END_SIG, 4);
    npg__io_wr_le(r + 4, ZIP64_END_LEN - 12, 8);
    npg__io_wr_le(r + 12, 0x032D, 2); /* made by: unix, 4.5 */
    npg__io_wr_le(r + 14, 45, 2);
    npg__io_wr_le(r + 16, 0, 4);
    npg__io_wr_le(r + 20, 0, 4);
    npg__io_wr_le(r + 24, count, 8);
    npg__io_wr_le(r + 32, count, 8);
    npg__io_wr_le(r + 40, cd_size, 8);
    npg__io_wr_le(r + 48, cd_off, 8);
    unsigned char *l = r + ZIP64_END_LEN;
    npg__io_wr_le(l, ZIP64_LOC_SIG, 4);
    npg__io_wr_le(l + 4, 0, 4);
    npg__io_wr_le(l + 8, at, 8);
    npg__io_wr_le(l + 16, 1, 4);
    npg__io_w_put(w, r, sizeof r);
}

npg_status npg_save_npz(const char *path, const npg_named *arrays, int n, bool compress) {
    ioctx c = {"npg_save_npz", path, NULL};
    if (!path || (n > 0 && !arrays)) {
        npg__null_arg(c.fn);
        return npg_last_status();
    }
    if (n < 0) return npg__io_err(&c, NPG_ERR_INVALID_ARG, "n must be non-negative (got %d)", n);
    for (int i = 0; i < n; i++) {
        if (!arrays[i].array) {
            npg__null_arg(c.fn);
            return npg_last_status();
        }
        if (!name_ok(&c, arrays, i)) return npg_last_status();
        if (!npg__npy_descr(arrays[i].array->dtype))
            return npg__io_err(&c, NPG_ERR_DTYPE, "arrays[%d] has dtype %s, which cannot be saved", i,
                         npg_dtype_name(arrays[i].array->dtype));
    }
#ifndef NPG_HAVE_ZLIB
    if (compress) return npg__io_err(&c, NPG_ERR_UNSUPPORTED, "compression needs zlib, and npg was built without it");
#endif
    const bool force64 = npg__npz_force_zip64;
    zentry *ents = calloc(n > 0 ? (size_t)n : 1, sizeof *ents);
    if (!ents) return npg__io_err(&c, NPG_ERR_OOM, "out of host memory");
    writer w;
    if (!npg__io_w_open(&w, &c)) {
        free(ents);
        return npg_last_status();
    }
    bool ok = true;
    for (int i = 0; i < n && ok; i++) {
        ioctx ec = {c.fn, path, arrays[i].name};
        npy_blob b;
        if (!npg__npy_encode(&ec, arrays[i].array, &b)) {
            ok = false;
            break;
        }
        zentry *e = &ents[i];
        e->offset = w.pos;
        e->usize = b.hdr_len + b.data_len;
        e->crc = npg__io_crc32(npg__io_crc32(0, b.hdr, b.hdr_len), b.data, b.data_len);
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
        npg__io_wr_le(lh, ZIP_LOCAL_SIG, 4);
        npg__io_wr_le(lh + 4, z64 ? 45 : 20, 2);
        npg__io_wr_le(lh + 6, e->flags, 2);
        npg__io_wr_le(lh + 8, e->method, 2);
        npg__io_wr_le(lh + 10, 0, 2);
        npg__io_wr_le(lh + 12, ZIP_DOS_DATE, 2);
        npg__io_wr_le(lh + 14, e->crc, 4);
        npg__io_wr_le(lh + 18, z64 ? ZIP_MAX32 : e->csize, 4);
        npg__io_wr_le(lh + 22, z64 ? ZIP_MAX32 : e->usize, 4);
        npg__io_wr_le(lh + 26, nl + 4, 2);
        npg__io_wr_le(lh + 28, z64 ? 20 : 0, 2);
        if (z64) {
            npg__io_wr_le(lh + 30, 0x0001, 2);
            npg__io_wr_le(lh + 32, 16, 2);
            npg__io_wr_le(lh + 34, e->usize, 8);
            npg__io_wr_le(lh + 42, e->csize, 8);
        }
        npg__io_w_put(&w, lh, ZIP_LOCAL_LEN);
        npg__io_w_put(&w, nm, nl);
        npg__io_w_put(&w, ".npy", 4);
        if (z64) npg__io_w_put(&w, lh + ZIP_LOCAL_LEN, 20);
        if (z) {
            npg__io_w_put(&w, z, (size_t)zlen);
            free(z);
        } else {
            npg__io_w_put(&w, b.hdr, b.hdr_len);
            npg__io_w_put(&w, b.data, b.data_len);
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
            if (bu) npg__io_wr_le(x + xl, e->usize, 8), xl += 8;
            if (bc) npg__io_wr_le(x + xl, e->csize, 8), xl += 8;
            if (bo) npg__io_wr_le(x + xl, e->offset, 8), xl += 8;
            bool z64 = xl > 0;
            npg__io_wr_le(ch, ZIP_CENTRAL_SIG, 4);
            npg__io_wr_le(ch + 4, z64 ? 0x032D : 0x0314, 2); /* made by: unix, 4.5 / 2.0 */
            npg__io_wr_le(ch + 6, z64 ? 45 : 20, 2);
            npg__io_wr_le(ch + 8, e->flags, 2);
            npg__io_wr_le(ch + 10, e->method, 2);
            npg__io_wr_le(ch + 12, 0, 2);
            npg__io_wr_le(ch + 14, ZIP_DOS_DATE, 2);
            npg__io_wr_le(ch + 16, e->crc, 4);
            npg__io_wr_le(ch + 20, bc ? ZIP_MAX32 : e->csize, 4);
            npg__io_wr_le(ch + 24, bu ? ZIP_MAX32 : e->usize, 4);
            npg__io_wr_le(ch + 28, nl + 4, 2);
            npg__io_wr_le(ch + 30, z64 ? xl + 4 : 0, 2);
            npg__io_wr_le(ch + 32, 0, 2);
            npg__io_wr_le(ch + 34, 0, 2);
            npg__io_wr_le(ch + 36, 0, 2);
            npg__io_wr_le(ch + 38, (uint64_t)0100644 << 16, 4); /* regular file, rw-r--r-- */
            npg__io_wr_le(ch + 42, bo ? ZIP_MAX32 : e->offset, 4);
            if (z64) {
                npg__io_wr_le(ch + ZIP_CENTRAL_LEN, 0x0001, 2);
                npg__io_wr_le(ch + ZIP_CENTRAL_LEN + 2, xl, 2);
            }
            npg__io_w_put(&w, ch, ZIP_CENTRAL_LEN);
            npg__io_w_put(&w, nm, nl);
            npg__io_w_put(&w, ".npy", 4);
            if (z64) npg__io_w_put(&w, ch + ZIP_CENTRAL_LEN, xl + 4);
        }
        uint64_t cd_size = w.pos - cd_off, count = (uint64_t)n;
        bool z64 = force64 || count >= 0xFFFF || cd_size >= ZIP_MAX32 || cd_off >= ZIP_MAX32;
        if (z64) put_zip64_end(&w, count, cd_size, cd_off);
        unsigned char er[ZIP_END_LEN];
        npg__io_wr_le(er, ZIP_END_SIG, 4);
        npg__io_wr_le(er + 4, 0, 2);
        npg__io_wr_le(er + 6, 0, 2);
        npg__io_wr_le(er + 8, z64 ? 0xFFFF : count, 2);
        npg__io_wr_le(er + 10, z64 ? 0xFFFF : count, 2);
        npg__io_wr_le(er + 12, z64 ? ZIP_MAX32 : cd_size, 4);
        npg__io_wr_le(er + 16, z64 ? ZIP_MAX32 : cd_off, 4);
        npg__io_wr_le(er + 20, 0, 2);
        npg__io_w_put(&w, er, sizeof er);
    }
    free(ents);
    if (!ok) {
        npg__io_w_abort(&w);
        return npg_last_status();
    }
    return npg__io_w_close(&w);
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
    npg__io_sanitize(shown, sizeof shown, name, strlen(name));
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
        unsigned id = (unsigned)npg__io_rd_le(x + p, 2), sz = (unsigned)npg__io_rd_le(x + p + 2, 2);
        if (p + 4 + sz > xl) break;
        if (id == 0x0001) {
            const unsigned char *d = x + p + 4;
            size_t q = 0;
            if (need_u) {
                if (q + 8 > sz) goto bad;
                e->usize = npg__io_rd_le(d + q, 8), q += 8, need_u = false;
            }
            if (need_c) {
                if (q + 8 > sz) goto bad;
                e->csize = npg__io_rd_le(d + q, 8), q += 8, need_c = false;
            }
            if (need_o) {
                if (q + 8 > sz) goto bad;
                e->offset = npg__io_rd_le(d + q, 8), q += 8, need_o = false;
            }
            break;
        }
        p += 4 + sz;
    }
    if (!need_u && !need_c && !need_o) return true;
bad:
    npg__io_err(c, NPG_ERR_FORMAT, "bad central directory: ZIP64 sizes missing");
    return false;
}

#ifdef NPG_HAVE_ZLIB
static bool inflate_raw(const ioctx *c, const unsigned char *in, uint64_t inlen, unsigned char *out, uint64_t outlen) {
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, -15) != Z_OK) return npg__io_err(c, NPG_ERR_OOM, "inflateInit failed"), false;
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
            return npg__io_err(c, NPG_ERR_FORMAT, "deflate data is larger than its declared size (%llu bytes)",
                         (unsigned long long)outlen), false;
        }
        if (zs.avail_in == before_in && zs.avail_out == before_out && in_left == 0) {
            inflateEnd(&zs);
            return npg__io_err(c, NPG_ERR_FORMAT, "deflate data is truncated"), false;
        }
        if (probing) zs.avail_out = 0;
    }
    const char *msg = zs.msg;
    uint64_t produced = zs.total_out;
    inflateEnd(&zs);
    if (ret != Z_STREAM_END) return npg__io_err(c, NPG_ERR_FORMAT, "corrupt deflate data (%s)", msg ? msg : "error"), false;
    if (produced != outlen)
        return npg__io_err(c, NPG_ERR_FORMAT, "deflate data gives %llu bytes, the directory says %llu",
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
    if (size == 0) return npg__io_err(c, NPG_ERR_FORMAT, "file is empty"), false;
    if (size < ZIP_END_LEN)
        return npg__io_err(c, NPG_ERR_FORMAT, "not a ZIP file (%llu bytes)", (unsigned long long)size), false;
    size_t tl = size < ZIP_END_LEN + 65535 ? (size_t)size : ZIP_END_LEN + 65535;
    unsigned char *tail = malloc(tl);
    if (!tail) return npg__io_err(c, NPG_ERR_OOM, "out of host memory"), false;
    if (!npg__io_read_at(c, f, size - tl, tail, tl)) {
        free(tail);
        return false;
    }
    size_t at = SIZE_MAX;
    for (size_t i = tl - ZIP_END_LEN + 1; i-- > 0;) {
        if (npg__io_rd_le(tail + i, 4) == ZIP_END_SIG && i + ZIP_END_LEN + npg__io_rd_le(tail + i + 20, 2) <= tl) {
            at = i;
            break;
        }
    }
    if (at == SIZE_MAX) {
        free(tail);
        return npg__io_err(c, NPG_ERR_FORMAT, "not a ZIP file (no end of central directory record)"), false;
    }
    const unsigned char *er = tail + at;
    uint64_t end_pos = size - tl + at;
    uint64_t disk = npg__io_rd_le(er + 4, 2), cd_disk = npg__io_rd_le(er + 6, 2);
    uint64_t n = npg__io_rd_le(er + 10, 2), cd_size = npg__io_rd_le(er + 12, 4), cd_off = npg__io_rd_le(er + 16, 4);
    free(tail);
    uint64_t cd_limit = end_pos; /* the directory ends before the (ZIP64) end record */
    unsigned char loc[ZIP64_LOC_LEN];
    bool have_loc = false;
    if (end_pos >= ZIP64_LOC_LEN) {
        if (!npg__io_read_at(c, f, end_pos - ZIP64_LOC_LEN, loc, sizeof loc)) return false;
        have_loc = npg__io_rd_le(loc, 4) == ZIP64_LOC_SIG;
    }
    if (have_loc) {
        uint64_t z_off = npg__io_rd_le(loc + 8, 8);
        if (z_off > end_pos - ZIP64_LOC_LEN || end_pos - ZIP64_LOC_LEN - z_off < ZIP64_END_LEN)
            return npg__io_err(c, NPG_ERR_FORMAT, "bad ZIP64 end record offset %llu", (unsigned long long)z_off), false;
        unsigned char zr[ZIP64_END_LEN];
        if (!npg__io_read_at(c, f, z_off, zr, sizeof zr)) return false;
        if (npg__io_rd_le(zr, 4) != ZIP64_END_SIG) return npg__io_err(c, NPG_ERR_FORMAT, "bad ZIP64 end record signature"), false;
        disk = npg__io_rd_le(zr + 16, 4);
        cd_disk = npg__io_rd_le(zr + 20, 4);
        n = npg__io_rd_le(zr + 32, 8);
        cd_size = npg__io_rd_le(zr + 40, 8);
        cd_off = npg__io_rd_le(zr + 48, 8);
        cd_limit = z_off;
    } else if (n == 0xFFFF || cd_size == ZIP_MAX32 || cd_off == ZIP_MAX32) {
        return npg__io_err(c, NPG_ERR_FORMAT, "ZIP64 end record locator missing"), false;
    }
    if (disk != 0 || cd_disk != 0) return npg__io_err(c, NPG_ERR_FORMAT, "multi-disk ZIP archives are not supported"), false;
    if (cd_off > cd_limit || cd_size > cd_limit - cd_off)
        return npg__io_err(c, NPG_ERR_FORMAT, "bad central directory (offset %llu, size %llu, in a file of %llu bytes)",
                     (unsigned long long)cd_off, (unsigned long long)cd_size, (unsigned long long)size), false;
    if (n > cd_size / ZIP_CENTRAL_LEN)
        return npg__io_err(c, NPG_ERR_FORMAT, "bad central directory (%llu entries in %llu bytes)", (unsigned long long)n,
                     (unsigned long long)cd_size), false;
    unsigned char *cd = malloc(cd_size ? (size_t)cd_size : 1);
    zcd *ents = calloc(n ? (size_t)n : 1, sizeof *ents);
    if (!cd || !ents) {
        free(cd);
        free(ents);
        return npg__io_err(c, NPG_ERR_OOM, "out of host memory"), false;
    }
    if (!npg__io_read_at(c, f, cd_off, cd, (size_t)cd_size)) {
        free(cd);
        free(ents);
        return false;
    }
    size_t p = 0;
    bool ok = true;
    for (uint64_t i = 0; i < n && ok; i++) {
        if (cd_size - p < ZIP_CENTRAL_LEN || npg__io_rd_le(cd + p, 4) != ZIP_CENTRAL_SIG) {
            npg__io_err(c, NPG_ERR_FORMAT, "bad central directory (entry %llu has no valid header)", (unsigned long long)i);
            ok = false;
            break;
        }
        const unsigned char *h = cd + p;
        size_t nl = (size_t)npg__io_rd_le(h + 28, 2), xl = (size_t)npg__io_rd_le(h + 30, 2), cl = (size_t)npg__io_rd_le(h + 32, 2);
        if (cd_size - p - ZIP_CENTRAL_LEN < nl + xl + cl) {
            npg__io_err(c, NPG_ERR_FORMAT, "bad central directory (entry %llu overruns it)", (unsigned long long)i);
            ok = false;
            break;
        }
        zcd *e = &ents[i];
        e->flags = (uint16_t)npg__io_rd_le(h + 8, 2);
        e->method = (uint16_t)npg__io_rd_le(h + 10, 2);
        e->crc = (uint32_t)npg__io_rd_le(h + 16, 4);
        e->csize = npg__io_rd_le(h + 20, 4);
        e->usize = npg__io_rd_le(h + 24, 4);
        e->offset = npg__io_rd_le(h + 42, 4);
        e->name = malloc(nl + 1);
        if (!e->name) {
            npg__io_err(c, NPG_ERR_OOM, "out of host memory");
            ok = false;
            break;
        }
        memcpy(e->name, h + ZIP_CENTRAL_LEN, nl);
        e->name[nl] = '\0';
        if (memchr(e->name, '\0', nl)) {
            npg__io_err(c, NPG_ERR_FORMAT, "bad central directory (entry %llu has a NUL in its name)", (unsigned long long)i);
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
    if (e->flags & 1) return npg__io_err(c, NPG_ERR_FORMAT, "entry is encrypted"), NULL;
    if (e->method != 0 && e->method != 8)
        return npg__io_err(c, NPG_ERR_FORMAT, "unsupported compression method %u", (unsigned)e->method), NULL;
#ifndef NPG_HAVE_ZLIB
    if (e->method == 8)
        return npg__io_err(c, NPG_ERR_UNSUPPORTED, "entry is deflate-compressed, and npg was built without zlib"), NULL;
#endif
    unsigned char lh[ZIP_LOCAL_LEN];
    if (e->offset > data_end || data_end - e->offset < ZIP_LOCAL_LEN)
        return npg__io_err(c, NPG_ERR_FORMAT, "local header offset %llu is outside the data", (unsigned long long)e->offset),
               NULL;
    if (!npg__io_read_at(c, f, e->offset, lh, sizeof lh)) return NULL;
    if (npg__io_rd_le(lh, 4) != ZIP_LOCAL_SIG) return npg__io_err(c, NPG_ERR_FORMAT, "bad local header signature"), NULL;
    uint64_t data_off = e->offset + ZIP_LOCAL_LEN + npg__io_rd_le(lh + 26, 2) + npg__io_rd_le(lh + 28, 2);
    if (data_off > data_end || data_end - data_off < e->csize)
        return npg__io_err(c, NPG_ERR_FORMAT, "entry data (%llu bytes at offset %llu) overruns the archive",
                     (unsigned long long)e->csize, (unsigned long long)data_off), NULL;
    if (e->method == 0 && e->csize != e->usize)
        return npg__io_err(c, NPG_ERR_FORMAT, "stored entry has compressed size %llu but size %llu",
                     (unsigned long long)e->csize, (unsigned long long)e->usize), NULL;
    /* deflate expands at most 1032:1; a larger claim is corrupt (and would
     * make us allocate for nothing) */
    if (e->method == 8 && e->usize > e->csize * 1032 + 1024)
        return npg__io_err(c, NPG_ERR_FORMAT, "declared size %llu is impossible for %llu compressed bytes",
                     (unsigned long long)e->usize, (unsigned long long)e->csize), NULL;
    if (e->usize >= SIZE_MAX / 2) return npg__io_err(c, NPG_ERR_OOM, "entry is too large for memory"), NULL;
    unsigned char *out = malloc(e->usize ? (size_t)e->usize : 1);
    if (!out) return npg__io_err(c, NPG_ERR_OOM, "out of host memory (%llu bytes)", (unsigned long long)e->usize), NULL;
    if (e->method == 0) {
        if (!npg__io_read_at(c, f, data_off, out, (size_t)e->usize)) {
            free(out);
            return NULL;
        }
    }
#ifdef NPG_HAVE_ZLIB
    else {
        unsigned char *in = malloc(e->csize ? (size_t)e->csize : 1);
        if (!in) {
            free(out);
            return npg__io_err(c, NPG_ERR_OOM, "out of host memory (%llu bytes)", (unsigned long long)e->csize), NULL;
        }
        bool ok = npg__io_read_at(c, f, data_off, in, (size_t)e->csize) && inflate_raw(c, in, e->csize, out, e->usize);
        free(in);
        if (!ok) {
            free(out);
            return NULL;
        }
    }
#endif
    uint32_t crc = npg__io_crc32(0, out, (size_t)e->usize);
    if (crc != e->crc) {
        free(out);
        return npg__io_err(c, NPG_ERR_FORMAT, "CRC-32 mismatch (data %08lx, directory %08lx)", (unsigned long)crc,
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
    FILE *f = npg__io_open_read(&c, &size);
    if (!f) return NULL;
    zcd *ents = NULL;
    uint64_t n = 0, data_end = 0;
    npg_npz *z = NULL;
    if (!read_directory(&c, f, size, &ents, &n, &data_end)) goto fail;
    uint64_t m = 0;
    for (uint64_t i = 0; i < n; i++) m += ends_with_npy(ents[i].name);
    if (m > INT32_MAX) {
        npg__io_err(&c, NPG_ERR_FORMAT, "too many entries (%llu)", (unsigned long long)m);
        goto fail;
    }
    z = calloc(1, sizeof *z);
    if (z) z->names = calloc(m ? (size_t)m : 1, sizeof *z->names);
    if (z) z->arrays = calloc(m ? (size_t)m : 1, sizeof *z->arrays);
    if (!z || !z->names || !z->arrays) {
        npg__io_err(&c, NPG_ERR_OOM, "out of host memory");
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
        npg_array *a = npg__npy_decode(&ec, bytes, (size_t)e->usize, &o);
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
