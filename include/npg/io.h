/*
 * npg/io.h — data and checkpoint files, and shuffled mini-batches.
 *
 * Included at the end of npg.h; it can also be included on its own.
 *
 * FILES
 *   IDX      MNIST-style datasets, plain or gzip-compressed (read only).
 *   .npy     one array in NumPy's format (read and write).
 *   .npz     a ZIP of .npy files, as np.savez / np.savez_compressed write
 *            them (read and write).
 *   Every loader reads the file on the host, converts it, and places the
 *   result on opts->device (zero: the default device) with opts->dtype (zero:
 *   the dtype the file implies). Savers copy any device's array to the host
 *   first and write row-major (C order) little-endian data.
 *
 * ERRORS (besides the usual NULL-argument rules; messages name the function
 * and the file path)
 *   NPG_ERR_IO           the file cannot be opened, read or written (missing,
 *                        a directory, no permission, disk full); the message
 *                        carries strerror.
 *   NPG_ERR_FORMAT       the contents are malformed, truncated, larger than
 *                        the header says, or hold something npg cannot
 *                        represent (a complex, string, object or structured
 *                        dtype; a uint64 value above INT64_MAX; more than
 *                        NPG_MAX_DIMS dimensions; a CRC-32 mismatch).
 *   NPG_ERR_UNSUPPORTED  gzip or deflate data when npg was built without zlib.
 *   A failed call leaks nothing and never reads outside the file's bytes.
 *   Savers write PATH.tmp and rename it over PATH only when every byte was
 *   written, so a failed save leaves an existing PATH as it was.
 */
#ifndef NPG_IO_H
#define NPG_IO_H

#include "../npg.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ========================================================================
 * IDX (MNIST, Fashion-MNIST)
 * ======================================================================== */

/* The array stored in an IDX file, plain or gzip-compressed (detected by the
 * 1f 8b magic). Element types map to: 0x08 ubyte -> uint8; 0x09 sbyte ->
 * int8; 0x0B short -> int16; 0x0C int -> int32; 0x0D float -> float32;
 * 0x0E double -> float64. At most NPG_MAX_DIMS dimensions and 2^40 bytes of data. [new] */
npg_array *npg_load_idx(const char *path, const npg_opts *opts);

/* ========================================================================
 * .npy
 * ======================================================================== */

/* Write x to path in .npy format 1.0 (2.0 if the header needs it): C order,
 * little-endian descr ('|b1' '|i1' '|u1' '<i2' '<u2' '<i4' '<u4' '<i8' '<u8'
 * '<f2' '<f4' '<f8'; bfloat16,
 * which NumPy lacks, is NPG_ERR_DTYPE), the header
 * padded exactly as np.save pads it, so the bytes equal np.save's. x may be
 * any view on any device. */
npg_status npg_save_npy(const char *path, const npg_array *x);

/* The array in a .npy file (format 1.0, 2.0 or 3.0; '<', '>', '|' or '='
 * byte order; C or Fortran order). Dtypes: b1 -> bool, i1 i2 i4 i8 ->
 * int8 int16 int32 int64, u1 u2 u4 u8 -> uint8 uint16 uint32 uint64, f2 ->
 * float16, f4 -> float32, f8 -> float64. [new] */
npg_array *npg_load_npy(const char *path, const npg_opts *opts);

/* ========================================================================
 * .npz
 * ======================================================================== */

/* One named array for npg_save_npz. */
typedef struct npg_named {
    const char *name;  /* the entry is "<name>.npy"; np.load(path)[name] reads it */
    npg_array *array;
} npg_named;

/* Write n arrays to a .npz file: stored entries (np.savez) or, with compress,
 * deflated ones (np.savez_compressed). Names must be non-empty and distinct
 * (NPG_ERR_INVALID_ARG otherwise). ZIP64 records are written only where
 * sizes or offsets need them. compress without zlib is NPG_ERR_UNSUPPORTED. */
npg_status npg_save_npz(const char *path, const npg_named *arrays, int n, bool compress);

typedef struct npg_npz npg_npz; /* opaque: the arrays of a loaded .npz */

/* Read every "*.npy" entry of a .npz (stored or deflated; with or without
 * data descriptors and ZIP64 fields; CRC-32 checked). Other entries are
 * ignored. opts->dtype and opts->device apply to every array;
 * opts->requires_grad applies to the floating ones (at npg_npz_get).
 * [caller frees with npg_npz_free] */
npg_npz *npg_load_npz(const char *path, const npg_opts *opts);
/* Number of arrays (-1 and NPG_ERR_NULL_ARG for NULL). */
int npg_npz_count(const npg_npz *z);
/* Name of array i, without ".npy", in file order; NULL and NPG_ERR_INDEX when
 * i is out of range. [borrowed: valid until npg_npz_free] */
const char *npg_npz_name(const npg_npz *z, int i);
/* The array called name: a new array object that shares the loaded data (an
 * in-place write to it is seen by later npg_npz_get calls). NULL and
 * NPG_ERR_INVALID_ARG "no array named ..." if absent. [new] */
npg_array *npg_npz_get(const npg_npz *z, const char *name);
/* Release the loaded arrays (arrays returned by npg_npz_get stay valid).
 * NULL is a no-op. */
void npg_npz_free(npg_npz *z);

/* ========================================================================
 * Mini-batches
 * ======================================================================== */

typedef struct npg_loader npg_loader; /* opaque */

/* Zero fields mean defaults. */
typedef struct npg_loader_opts {
    int64_t batch_size;       /* rows per batch; 0 means 1 */
    bool shuffle;             /* a new random order every epoch (default: in order) */
    bool drop_last;           /* skip a last batch smaller than batch_size */
    npg_generator *generator; /* for the permutations; NULL: the global generator */
} npg_loader_opts;
#define NPG_LOADER_OPTS(...) (&(const npg_loader_opts){__VA_ARGS__})

/* A loader over the rows (axis 0) of x and, when y is not NULL, the paired
 * rows of y. x and y need ndim >= 1 and the same first dimension
 * (NPG_ERR_SHAPE otherwise); they may live on different devices. A negative
 * batch_size is NPG_ERR_INVALID_ARG. Retains x and y (the caller may free its
 * own references). NULL on error. [caller frees with npg_loader_free] */
npg_loader *npg_loader_new(npg_array *x, npg_array *y, const npg_loader_opts *opts);

/* The next batch of the current epoch: *xb gets rows of x and *yb the same
 * rows of y ([new] each, copies gathered with npg_take on the arrays'
 * devices; *yb is NULL when y is NULL; yb itself may be NULL to skip y).
 * With shuffle, each epoch draws a
 * permutation with npg_permutation from the loader's generator. Returns true
 * with a batch; false at the end of an epoch (with *xb = *yb = NULL and the
 * error state untouched; the next call starts a new epoch); false with an
 * error set on failure (the position does not advance). To tell the two
 * false cases apart, call npg_clear_error() before the epoch and check
 * npg_last_status() after it. */
bool npg_loader_next(npg_loader *l, npg_array **xb, npg_array **yb);

/* Batches per epoch: ceil(n / batch_size), or floor with drop_last (-1 and
 * NPG_ERR_NULL_ARG for NULL). */
int64_t npg_loader_num_batches(const npg_loader *l);

/* Release the loader and its references to x and y. NULL is a no-op. */
void npg_loader_free(npg_loader *l);

#ifdef __cplusplus
}
#endif

#endif /* NPG_IO_H */
