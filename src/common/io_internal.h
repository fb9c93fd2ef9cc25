/*
 * io_internal.h — what io_npy.c shares with io_npz.c: the error context
 * ("fn: 'path'[ entry 'name']: what"), little-endian and CRC helpers, file
 * reading with bounds checks, an all-or-nothing writer (PATH.tmp renamed
 * over PATH), and .npy encode/decode of one array.
 */
#ifndef NPG_IO_INTERNAL_H
#define NPG_IO_INTERNAL_H

#include <stdio.h>

#include "internal.h"
#include "npg/io.h"

typedef struct ioctx {
    const char *fn;
    const char *path;
    const char *entry; /* npz entry name, or NULL */
} ioctx;

typedef struct writer {
    const ioctx *c;
    FILE *f;
    char *tmp;
    uint64_t pos;
    int err; /* errno of the first failed write, 0 if none */
} writer;

#define NPY_HDR_MAX 512

/* One array encoded as .npy: the header, then the raw little-endian data. */
typedef struct npy_blob {
    unsigned char hdr[NPY_HDR_MAX];
    size_t hdr_len;
    unsigned char *data; /* malloc'd (NULL when empty) */
    size_t data_len;
} npy_blob;

/* Record status st with a message naming c's function, file and entry. */
npg_status npg__io_err(const ioctx *c, npg_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
uint64_t npg__io_rd_le(const unsigned char *p, int n);
void npg__io_wr_le(unsigned char *p, uint64_t v, int n);
uint32_t npg__io_crc32(uint32_t crc, const unsigned char *p, size_t n);
/* A printable, bounded copy of s (n bytes) for messages. */
void npg__io_sanitize(char *dst, size_t cap, const char *s, size_t n);
/* Open for reading (regular files only); *size gets its length. */
FILE *npg__io_open_read(const ioctx *c, uint64_t *size);
/* n bytes at offset off, or false with an error. */
bool npg__io_read_at(const ioctx *c, FILE *f, uint64_t off, void *dst, size_t n);
bool npg__io_w_open(writer *w, const ioctx *c);
void npg__io_w_put(writer *w, const void *p, size_t n);
void npg__io_w_abort(writer *w);
npg_status npg__io_w_close(writer *w);
/* The .npy descr of an npg dtype ("<f4"), NULL if none. */
const char *npg__npy_descr(npg_dtype t);
/* Encode x (any device) as .npy into b (b->data malloc'd). */
bool npg__npy_encode(const ioctx *c, const npg_array *x, npy_blob *b);
/* Decode a whole .npy image into an array ([new]). */
npg_array *npg__npy_decode(const ioctx *c, const unsigned char *buf, size_t len, const npg_opts *opts);

#endif
