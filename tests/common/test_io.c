/*
 * test_io.c — IDX, .npy and .npz: round trips for every dtype and shape,
 * interop with NumPy in both directions (fixtures written at test time by
 * Debian's /usr/bin/python3 with numpy; skipped without it), the real
 * Fashion-MNIST files (skipped when absent), and malformed inputs — each
 * with its status, a message and no leak.
 */
#define _POSIX_C_SOURCE 200809L
#include "test_util.h"
#include "npg/io.h"

#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

extern bool npg__npz_force_zip64; /* io_npy.c test hook */

/* ------------------------------------------------------------------------
 * Fixtures: a temporary directory per test, files, python
 * ------------------------------------------------------------------------ */

static char g_dir[64];

static void setup(void) {
    t_require_device();
    snprintf(g_dir, sizeof g_dir, "/tmp/npg_io_XXXXXX");
    cr_assert(mkdtemp(g_dir), "mkdtemp failed");
}

static void teardown(void) {
    if (!g_dir[0]) return;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) cr_log_warn("could not remove %s", g_dir);
}

TestSuite(io, .init = setup, .fini = teardown);

#define OPT(...) NPG_OPTS(.device = t_dev(), __VA_ARGS__)

/* g_dir/name in one of 8 rotating buffers. */
static const char *P(const char *name) {
    static char bufs[8][256];
    static int k;
    char *b = bufs[k++ % 8];
    snprintf(b, 256, "%s/%s", g_dir, name);
    return b;
}

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    cr_assert(f, "cannot create %s", path);
    cr_assert_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

static unsigned char *read_bytes(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    cr_assert(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)len + 1);
    cr_assert(b);
    cr_assert_eq(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return b;
}

static bool file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static bool have_numpy(void) {
    static int cached = -1;
    if (cached < 0) cached = system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0;
    return cached == 1;
}

static void need_numpy(void) {
    if (!have_numpy()) cr_skip_test("/usr/bin/python3 cannot import numpy");
}

/* Run a python script in g_dir; fail the test with its output unless it
 * exits 0. */
static void py(const char *script) {
    write_bytes(P("script.py"), script, strlen(script));
    char cmd[256];
    snprintf(cmd, sizeof cmd, "cd '%s' && /usr/bin/python3 script.py 2>&1", g_dir);
    FILE *p = popen(cmd, "r");
    cr_assert(p, "popen failed");
    char out[4096];
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    cr_assert_eq(st, 0, "python failed (status %d):\n%s", st, out);
}

/* Expect a failed call: the status, a message containing needle and the
 * function name, and nothing leaked since `before`. */
static void expect_error(npg_status want, const char *fn, const char *needle, t_live before, const char *what) {
    npg_status st = npg_last_status();
    cr_assert_eq(st, want, "%s: status %d (%s), want %d; message: %s", what, st, npg_status_string(st), want,
                 npg_last_error());
    cr_assert(strstr(npg_last_error(), fn), "%s: message '%s' does not name %s", what, npg_last_error(), fn);
    if (needle)
        cr_assert(strstr(npg_last_error(), needle), "%s: message '%s' does not contain '%s'", what, npg_last_error(),
                  needle);
    t_assert_no_leak(before, what);
    npg_clear_error();
}

/* Same dtype, shape and bytes. */
static void assert_same(const npg_array *want, const npg_array *got, const char *what) {
    cr_assert(got, "%s: NULL (%s)", what, npg_last_error());
    cr_assert_eq(npg_dtype_of(got), npg_dtype_of(want), "%s: dtype %s, want %s", what,
                 npg_dtype_name(npg_dtype_of(got)), npg_dtype_name(npg_dtype_of(want)));
    npg_shape a = npg_shape_of(want), b = npg_shape_of(got);
    cr_assert_eq(a.ndim, b.ndim, "%s: ndim %d, want %d", what, b.ndim, a.ndim);
    for (int i = 0; i < a.ndim; i++) cr_assert_eq(a.dims[i], b.dims[i], "%s: dim %d", what, i);
    size_t n = npg_nbytes(want);
    unsigned char *x = malloc(n + 1), *y = malloc(n + 1);
    cr_assert_eq(npg_copy_to_host(want, x, n), NPG_OK);
    cr_assert_eq(npg_copy_to_host(got, y, n), NPG_OK);
    cr_assert(memcmp(x, y, n) == 0, "%s: contents differ", what);
    free(x);
    free(y);
}

/* Read g_dir/name.bin (little-endian float64) and compare with x exactly. */
static void assert_bin(const npg_array *x, const char *name, npg_dtype dtype, npg_shape shape) {
    cr_assert(x, "%s: NULL (%s)", name, npg_last_error());
    cr_assert_eq(npg_dtype_of(x), dtype, "%s: dtype %s, want %s", name, npg_dtype_name(npg_dtype_of(x)),
                 npg_dtype_name(dtype));
    t_assert_shape(x, shape);
    char fn[128];
    snprintf(fn, sizeof fn, "%s.bin", name);
    size_t n;
    unsigned char *raw = read_bytes(P(fn), &n);
    cr_assert_eq(n, (size_t)npg_size(x) * 8, "%s: %zu expected bytes for %lld elements", name, n,
                 (long long)npg_size(x));
    double *want = malloc(n + 8);
    memcpy(want, raw, n);
    t_assert_close(x, want, npg_size(x), 0, 0, name);
    free(raw);
    free(want);
}

static const npg_dtype all_dtypes[] = {NPG_BOOL,    NPG_UINT8,   NPG_INT32,  NPG_INT64, NPG_FLOAT32,
                                       NPG_FLOAT64, NPG_FLOAT16, NPG_INT8,   NPG_INT16, NPG_UINT16,
                                       NPG_UINT32,  NPG_UINT64};
#define N_DTYPES 12 /* every dtype but bfloat16, which NumPy lacks */

/* Shapes used by the round trips: 0-d, empty, 1-d, 2-d, 3-d, 8-d. */
static const npg_shape *shapes(int *n) {
    static npg_shape s[7];
    s[0] = NPG_SHAPE0;
    s[1] = NPG_SHAPE(0);
    s[2] = NPG_SHAPE(3, 0, 2);
    s[3] = NPG_SHAPE(7);
    s[4] = NPG_SHAPE(2, 3);
    s[5] = NPG_SHAPE(3, 1, 5);
    s[6] = NPG_SHAPE(2, 1, 2, 1, 3, 1, 1, 2);
    *n = 7;
    return s;
}

/* Deterministic test data with negative, fractional and large values. */
static npg_array *sample(npg_dtype dt, npg_shape shape, uint64_t seed) {
    int64_t n = 1;
    for (int i = 0; i < shape.ndim; i++) n *= shape.dims[i];
    double *v = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    t_fill_uniform(v, n, -300, 300, seed);
    if (dt == NPG_UINT8)
        for (int64_t i = 0; i < n; i++) v[i] = fabs(v[i]) < 256 ? fabs(v[i]) : 7;
    if (dt == NPG_INT8)
        for (int64_t i = 0; i < n; i++) v[i] = fmod(v[i], 128.0);
    if (dt == NPG_UINT16 || dt == NPG_UINT32 || dt == NPG_UINT64)
        for (int64_t i = 0; i < n; i++) v[i] = fabs(v[i]) * (dt == NPG_UINT16 ? 200 : 1e6);
    if (dt == NPG_UINT64 && n > 1) v[1] = 1.8e19; /* above int64's range */
    if (dt == NPG_INT64 && n > 1) v[0] = -4.0e15, v[1] = 9.0e15;
    npg_array *x = npg_from_data(v, NPG_FLOAT64, shape, OPT(.dtype = dt));
    free(v);
    cr_assert(x, "sample: %s", npg_last_error());
    return x;
}

/* ------------------------------------------------------------------------
 * .npy round trips
 * ------------------------------------------------------------------------ */

Test(io, npy_round_trip_every_dtype_and_shape) {
    t_live before = t_live_now();
    int ns;
    const npg_shape *sh = shapes(&ns);
    for (int d = 0; d < N_DTYPES; d++) {
        for (int s = 0; s < ns; s++) {
            npg_scope sc = npg_scope_begin();
            npg_array *x = sample(all_dtypes[d], sh[s], (uint64_t)(d * 10 + s));
            const char *path = P("rt.npy");
            cr_assert_eq(npg_save_npy(path, x), NPG_OK, "%s", npg_last_error());
            char what[64];
            snprintf(what, sizeof what, "%s shape #%d", npg_dtype_name(all_dtypes[d]), s);
            assert_same(x, npg_load_npy(path, OPT()), what);
            npg_scope_end(sc);
        }
    }
    cr_assert(!file_exists(P("rt.npy.tmp")), "the temporary file is left behind");
    t_assert_no_leak(before, "npy round trips");
}

Test(io, npy_int64_extremes_and_float_specials) {
    t_live before = t_live_now();
    int64_t iv[4] = {INT64_MIN, INT64_MAX, -1, 0};
    double fv[5] = {NAN, INFINITY, -INFINITY, -0.0, 5e-324};
    npg_array *a = npg_from_data(iv, NPG_INT64, NPG_SHAPE(4), OPT());
    npg_array *b = npg_from_data(fv, NPG_FLOAT64, NPG_SHAPE(5), OPT());
    cr_assert_eq(npg_save_npy(P("a.npy"), a), NPG_OK);
    cr_assert_eq(npg_save_npy(P("b.npy"), b), NPG_OK);
    npg_array *a2 = npg_load_npy(P("a.npy"), OPT()), *b2 = npg_load_npy(P("b.npy"), OPT());
    assert_same(a, a2, "int64 extremes");
    assert_same(b, b2, "float64 specials");
    npg_free(a), npg_free(b), npg_free(a2), npg_free(b2);
    t_assert_no_leak(before, "extremes");
}

Test(io, npy_saves_non_contiguous_views) {
    t_live before = t_live_now();
    npg_scope sc = npg_scope_begin();
    npg_array *x = sample(NPG_FLOAT32, NPG_SHAPE(4, 6), 3);
    npg_array *views[4] = {
        npg_T(x),
        NPG_INDEX(x, NPG_SLICE(NPG_NONE, NPG_NONE, -2), NPG_SLICE(1, 5, 3)),
        npg_broadcast_to(NPG_INDEX(x, NPG_I(1)), NPG_SHAPE(3, 6)),
        npg_permute_dims(npg_reshape(x, NPG_SHAPE(2, 3, 4)), NPG_AXES(2, 0, 1)),
    };
    for (int i = 0; i < 4; i++) {
        cr_assert(views[i], "%s", npg_last_error());
        cr_assert_eq(npg_save_npy(P("v.npy"), views[i]), NPG_OK, "%s", npg_last_error());
        npg_array *back = npg_load_npy(P("v.npy"), OPT());
        cr_assert(npg_is_contiguous(back));
        assert_same(npg_contiguous(views[i]), back, "view");
    }
    npg_scope_end(sc);
    t_assert_no_leak(before, "views");
}

Test(io, npy_load_options_convert_and_place) {
    t_live before = t_live_now();
    npg_scope sc = npg_scope_begin();
    double v[4] = {1.5, -2.5, 3, 0};
    npg_array *x = t_arr(v, NPG_FLOAT64, NPG_SHAPE(2, 2));
    cr_assert_eq(npg_save_npy(P("o.npy"), x), NPG_OK);
    npg_array *y = npg_load_npy(P("o.npy"), OPT(.dtype = NPG_INT32));
    cr_assert_eq(npg_dtype_of(y), NPG_INT32);
    double want[4] = {1, -2, 3, 0};
    t_assert_close(y, want, 4, 0, 0, "npy as int32");
    npg_array *g = npg_load_npy(P("o.npy"), OPT(.requires_grad = true));
    cr_assert(npg_requires_grad(g));
    cr_assert(npg_device_of(g).type == t_dev().type);
    npg_scope_end(sc);
    t_assert_no_leak(before, "options");
}

/* ------------------------------------------------------------------------
 * .npy interop with NumPy
 * ------------------------------------------------------------------------ */

static const char *numpy_dtype(npg_dtype d) {
    switch (d) {
    case NPG_BOOL: return "bool_";
    case NPG_UINT8: return "uint8";
    case NPG_INT32: return "int32";
    case NPG_INT64: return "int64";
    case NPG_INT8: return "int8";
    case NPG_INT16: return "int16";
    case NPG_UINT16: return "uint16";
    case NPG_UINT32: return "uint32";
    case NPG_UINT64: return "uint64";
    case NPG_FLOAT32: return "float32";
    case NPG_FLOAT16: return "float16";
    default: return "float64";
    }
}

static void shape_py(char *buf, size_t len, npg_shape s) {
    int k = snprintf(buf, len, "(");
    for (int i = 0; i < s.ndim; i++) k += snprintf(buf + k, len - (size_t)k, "%lld,", (long long)s.dims[i]);
    snprintf(buf + k, len - (size_t)k, ")");
}

Test(io, npy_bytes_equal_np_save) {
    need_numpy();
    t_live before = t_live_now();
    const npg_shape sh[] = {NPG_SHAPE0, NPG_SHAPE(0), NPG_SHAPE(7), NPG_SHAPE(2, 3), NPG_SHAPE(3, 0, 2),
                            NPG_SHAPE(100000), NPG_SHAPE(2, 1, 2, 1, 3, 1, 1, 2)};
    const int nsh = (int)(sizeof sh / sizeof sh[0]);
    char *script = malloc(1 << 16);
    int k = snprintf(script, 1 << 16, "import numpy as np\nbad = []\n");
    int count = 0;
    for (int d = 0; d < N_DTYPES; d++) {
        for (int s = 0; s < nsh; s++) {
            int64_t n = 1;
            for (int i = 0; i < sh[s].ndim; i++) n *= sh[s].dims[i];
            double *v = malloc(sizeof(double) * (size_t)(n + 1));
            for (int64_t i = 0; i < n; i++) v[i] = (double)(i % 97) * 0.5;
            npg_array *x = npg_from_data(v, NPG_FLOAT64, sh[s], OPT(.dtype = all_dtypes[d]));
            free(v);
            char name[64], shp[128];
            snprintf(name, sizeof name, "c_%d_%d.npy", d, s);
            cr_assert_eq(npg_save_npy(P(name), x), NPG_OK, "%s", npg_last_error());
            npg_free(x);
            shape_py(shp, sizeof shp, sh[s]);
            k += snprintf(script + k, (size_t)((1 << 16) - k),
                          "a = (np.arange(%lld) %% 97 * 0.5).astype(np.%s).reshape(%s)\n"
                          "np.save('p_%d_%d.npy', a)\n"
                          "if open('p_%d_%d.npy','rb').read() != open('%s','rb').read(): bad.append('%s')\n",
                          (long long)n, numpy_dtype(all_dtypes[d]), shp, d, s, d, s, name, name);
            count++;
        }
    }
    snprintf(script + k, (size_t)((1 << 16) - k), "assert not bad, bad\nprint(%d)\n", count);
    py(script);
    free(script);
    t_assert_no_leak(before, "np.save bytes");
}

Test(io, npy_files_from_numpy_load) {
    need_numpy();
    py("import numpy as np\n"
       "rng = np.random.default_rng(0)\n"
       "def save(name, a):\n"
       "    np.save(name + '.npy', a)\n"
       "    np.ascontiguousarray(a).astype('<f8').tofile(name + '.bin')\n"
       "save('f4', rng.standard_normal((3, 4)).astype('<f4'))\n"
       "save('f8be', rng.standard_normal((2, 5)).astype('>f8'))\n"
       "save('f4be', rng.standard_normal((5,)).astype('>f4'))\n"
       "save('i4be', np.arange(-6, 6, dtype='>i4').reshape(3, 4))\n"
       "save('i8', np.array([-2**40, -1, 0, 7, 2**50], dtype='<i8'))\n"
       "save('i8be', np.array([-2**40, -1, 0, 7, 2**50], dtype='>i8'))\n"
       "save('b1', np.array([[True, False, True], [False, False, True]]))\n"
       "save('u1', np.arange(250, 256, dtype='u1'))\n"
       "save('i1', np.array([-128, -1, 0, 127], 'i1'))\n"
       "save('i2be', np.array([-32768, 5, 32767], '>i2'))\n"
       "save('u2', np.array([0, 65535, 3], '<u2'))\n"
       "save('u4be', np.array([0, 4294967295, 12], '>u4'))\n"
       "save('u8', np.array([0, 2**53, 5], '<u8'))\n"
       "save('i2', np.array([-32768, -1, 32767], '<i2'))\n"
       "save('u8be', np.array([2**64 - 1, 2**63, 1], '>u8'))\n"
       "save('f2', np.array([0.5, -2.0, 65504.0, 6e-8, np.inf, -0.0], '<f2'))\n"
       "save('fort2', np.asfortranarray(np.arange(12.).reshape(3, 4)))\n"
       "save('fort3', np.asfortranarray(np.arange(24, dtype='>i4').reshape(2, 3, 4)))\n"
       "save('fort_be', np.asfortranarray(rng.standard_normal((4, 3)).astype('>f4')))\n"
       "save('scalar', np.float64(3.5))\n"
       "save('empty', np.zeros((0, 3), '<f4'))\n"
       "save('d8', rng.standard_normal((2, 1, 2, 1, 2, 1, 1, 2)))\n"
       "a = rng.standard_normal((3, 2))\n"
       "for v in (2, 3):\n"
       "    with open('v%d.npy' % v, 'wb') as f: np.lib.format.write_array(f, a, version=(v, 0))\n"
       "    a.astype('<f8').tofile('v%d.bin' % v)\n"
       "assert open('fort2.npy', 'rb').read().find(b\"'fortran_order': True\") > 0\n");
    t_live before = t_live_now();
    struct {
        const char *name;
        npg_dtype dtype;
        npg_shape shape;
    } cases[] = {
        {"f4", NPG_FLOAT32, NPG_SHAPE(3, 4)},
        {"f8be", NPG_FLOAT64, NPG_SHAPE(2, 5)},
        {"f4be", NPG_FLOAT32, NPG_SHAPE(5)},
        {"i4be", NPG_INT32, NPG_SHAPE(3, 4)},
        {"i8", NPG_INT64, NPG_SHAPE(5)},
        {"i8be", NPG_INT64, NPG_SHAPE(5)},
        {"b1", NPG_BOOL, NPG_SHAPE(2, 3)},
        {"u1", NPG_UINT8, NPG_SHAPE(6)},
        {"i1", NPG_INT8, NPG_SHAPE(4)},
        {"i2be", NPG_INT16, NPG_SHAPE(3)},
        {"i2", NPG_INT16, NPG_SHAPE(3)},
        {"u2", NPG_UINT16, NPG_SHAPE(3)},
        {"u4be", NPG_UINT32, NPG_SHAPE(3)},
        {"u8", NPG_UINT64, NPG_SHAPE(3)},
        {"u8be", NPG_UINT64, NPG_SHAPE(3)},
        {"f2", NPG_FLOAT16, NPG_SHAPE(6)},
        {"fort2", NPG_FLOAT64, NPG_SHAPE(3, 4)},
        {"fort3", NPG_INT32, NPG_SHAPE(2, 3, 4)},
        {"fort_be", NPG_FLOAT32, NPG_SHAPE(4, 3)},
        {"scalar", NPG_FLOAT64, NPG_SHAPE0},
        {"empty", NPG_FLOAT32, NPG_SHAPE(0, 3)},
        {"d8", NPG_FLOAT64, NPG_SHAPE(2, 1, 2, 1, 2, 1, 1, 2)},
        {"v2", NPG_FLOAT64, NPG_SHAPE(3, 2)},
        {"v3", NPG_FLOAT64, NPG_SHAPE(3, 2)},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char fn[64];
        snprintf(fn, sizeof fn, "%s.npy", cases[i].name);
        npg_array *x = npg_load_npy(P(fn), OPT());
        assert_bin(x, cases[i].name, cases[i].dtype, cases[i].shape);
        npg_free(x);
    }
    t_assert_no_leak(before, "numpy fixtures");
}

Test(io, npy_saved_here_loads_in_numpy) {
    need_numpy();
    t_live before = t_live_now();
    npg_scope sc = npg_scope_begin();
    npg_array *base = sample(NPG_FLOAT64, NPG_SHAPE(4, 6), 11);
    npg_array *arrs[] = {
        sample(NPG_BOOL, NPG_SHAPE(3, 2), 1),
        sample(NPG_UINT8, NPG_SHAPE(5), 2),
        sample(NPG_INT32, NPG_SHAPE(2, 2, 2), 3),
        sample(NPG_INT64, NPG_SHAPE(4), 4),
        sample(NPG_FLOAT32, NPG_SHAPE0, 5),
        sample(NPG_FLOAT64, NPG_SHAPE(0, 4), 6),
        sample(NPG_FLOAT32, NPG_SHAPE(2, 1, 2, 1, 2, 1, 1, 2), 7),
        sample(NPG_INT8, NPG_SHAPE(3), 8),
        sample(NPG_INT16, NPG_SHAPE(2, 3), 9),
        sample(NPG_UINT16, NPG_SHAPE(4), 10),
        sample(NPG_UINT32, NPG_SHAPE(1, 3), 11),
        sample(NPG_UINT64, NPG_SHAPE(5), 12),
        npg_T(base),
        NPG_INDEX(base, NPG_SLICE(NPG_NONE, NPG_NONE, -1), NPG_SLICE(0, 6, 2)),
    };
    const int n = (int)(sizeof arrs / sizeof arrs[0]);
    char script[8192];
    int k = snprintf(script, sizeof script, "import numpy as np\n");
    for (int i = 0; i < n; i++) {
        char name[32], bin[32], shp[128];
        snprintf(name, sizeof name, "s%d.npy", i);
        snprintf(bin, sizeof bin, "s%d.bin", i);
        cr_assert_eq(npg_save_npy(P(name), arrs[i]), NPG_OK, "%s", npg_last_error());
        double *v = t_read(arrs[i]);
        write_bytes(P(bin), v, sizeof(double) * (size_t)npg_size(arrs[i]));
        free(v);
        shape_py(shp, sizeof shp, npg_shape_of(arrs[i]));
        k += snprintf(script + k, sizeof script - (size_t)k,
                      "a = np.load('%s')\n"
                      "assert a.dtype == np.%s, ('%s', a.dtype)\n"
                      "assert a.shape == %s, ('%s', a.shape)\n"
                      "assert a.flags.c_contiguous\n"
                      "assert np.array_equal(a.astype('<f8').ravel(), np.fromfile('%s', '<f8'), equal_nan=True), '%s'\n",
                      name, numpy_dtype(npg_dtype_of(arrs[i])), name, shp, name, bin, name);
    }
    py(script);
    npg_scope_end(sc);
    t_assert_no_leak(before, "C -> numpy");
}

/* ------------------------------------------------------------------------
 * .npy malformed inputs
 * ------------------------------------------------------------------------ */

/* A v1.0 .npy file with the given header dict (padded to 64) and data. */
static size_t make_npy(unsigned char *out, const char *dict, const void *data, size_t n) {
    size_t dl = strlen(dict), hl = dl + 1, pad = (64 - (10 + hl) % 64) % 64;
    memcpy(out, "\x93NUMPY\x01\x00", 8);
    out[8] = (unsigned char)((hl + pad) & 0xFF);
    out[9] = (unsigned char)((hl + pad) >> 8);
    memcpy(out + 10, dict, dl);
    memset(out + 10 + dl, ' ', pad);
    out[10 + dl + pad] = '\n';
    memcpy(out + 10 + hl + pad, data, n);
    return 10 + hl + pad + n;
}

Test(io, npy_missing_directory_empty_and_bad_magic) {
    t_live before = t_live_now();
    cr_assert_null(npg_load_npy(P("nope.npy"), NULL));
    expect_error(NPG_ERR_IO, "npg_load_npy", "No such file", before, "missing");
    cr_assert_null(npg_load_npy(g_dir, NULL));
    expect_error(NPG_ERR_IO, "npg_load_npy", "directory", before, "directory");
    write_bytes(P("empty.npy"), "", 0);
    cr_assert_null(npg_load_npy(P("empty.npy"), NULL));
    expect_error(NPG_ERR_FORMAT, "npg_load_npy", "empty", before, "empty");
    write_bytes(P("magic.npy"), "\x93NUMPX\x01\x00\x10\x00{}                \n", 26);
    cr_assert_null(npg_load_npy(P("magic.npy"), NULL));
    expect_error(NPG_ERR_FORMAT, "npg_load_npy", "magic", before, "magic");
    cr_assert(strstr(npg_last_error(), "") != NULL);
    unsigned char v4[256];
    size_t n = make_npy(v4, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", "\0\0\0\0", 4);
    v4[6] = 4;
    write_bytes(P("v4.npy"), v4, n);
    cr_assert_null(npg_load_npy(P("v4.npy"), NULL));
    expect_error(NPG_ERR_FORMAT, "npg_load_npy", "version 4.0", before, "version");
    cr_assert_null(npg_load_npy(NULL, NULL));
    expect_error(NPG_ERR_NULL_ARG, "npg_load_npy", NULL, before, "NULL path");
}

Test(io, npy_message_names_the_file) {
    cr_assert_null(npg_load_npy(P("nope.npy"), NULL));
    cr_assert(strstr(npg_last_error(), P("nope.npy")), "%s", npg_last_error());
}

Test(io, npy_truncated_everywhere) {
    t_live before = t_live_now();
    npg_array *x = sample(NPG_FLOAT64, NPG_SHAPE(3, 5), 9);
    cr_assert_eq(npg_save_npy(P("t.npy"), x), NPG_OK);
    npg_free(x);
    size_t n;
    unsigned char *full = read_bytes(P("t.npy"), &n);
    cr_assert_eq(n, 128 + 120);
    /* every header length, then mid-data and one byte short */
    size_t cuts[140];
    int nc = 0;
    for (size_t i = 0; i <= 128; i++) cuts[nc++] = i;
    cuts[nc++] = 128 + 1;
    cuts[nc++] = 128 + 60;
    cuts[nc++] = n - 1;
    for (int i = 0; i < nc; i++) {
        write_bytes(P("cut.npy"), full, cuts[i]);
        cr_assert_null(npg_load_npy(P("cut.npy"), NULL), "cut at %zu loaded", cuts[i]);
        char what[32];
        snprintf(what, sizeof what, "cut at %zu", cuts[i]);
        expect_error(NPG_ERR_FORMAT, "npg_load_npy", NULL, before, what);
    }
    /* one byte too many */
    unsigned char *more = malloc(n + 1);
    memcpy(more, full, n);
    more[n] = 0;
    write_bytes(P("more.npy"), more, n + 1);
    cr_assert_null(npg_load_npy(P("more.npy"), NULL));
    expect_error(NPG_ERR_FORMAT, "npg_load_npy", "trailing", before, "trailing data");
    free(more);
    free(full);
}

Test(io, npy_bad_header_dicts) {
    t_live before = t_live_now();
    const char *dicts[] = {
        "{'descr': '<f4', 'fortran_order': False}",
        "{'descr': '<f4', 'shape': (1,)}",
        "{'fortran_order': False, 'shape': (1,)}",
        "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (1,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1,-1)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 1}",
        "{'descr': '<f4' 'fortran_order': False, 'shape': (1,)}",
        "{'descr': '<f4",
        "{'descr': <f4, 'fortran_order': False, 'shape': (1,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': [1]}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 'a')}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), } trailing",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)",
        "[1, 2, 3]",
        "",
        "{'descr': 7, 'fortran_order': False, 'shape': (1,)}",
    };
    for (size_t i = 0; i < sizeof dicts / sizeof dicts[0]; i++) {
        unsigned char buf[256];
        size_t n = make_npy(buf, dicts[i], "\0\0\x80\x3f", 4);
        write_bytes(P("h.npy"), buf, n);
        cr_assert_null(npg_load_npy(P("h.npy"), NULL), "dict %zu loaded", i);
        char what[32];
        snprintf(what, sizeof what, "dict %zu", i);
        expect_error(NPG_ERR_FORMAT, "npg_load_npy", "header", before, what);
    }
    /* 9 dimensions */
    unsigned char buf[256];
    size_t n =
        make_npy(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }", "\0\0\x80\x3f", 4);
    write_bytes(P("d9.npy"), buf, n);
    cr_assert_null(npg_load_npy(P("d9.npy"), NULL));
    expect_error(NPG_ERR_FORMAT, "npg_load_npy", "more than 8 dimensions", before, "9-d");
    /* a shape whose product overflows */
    n = make_npy(buf, "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296), }", "",
                 0);
    write_bytes(P("big.npy"), buf, n);
    cr_assert_null(npg_load_npy(P("big.npy"), NULL));
    expect_error(NPG_ERR_FORMAT, "npg_load_npy", "too large", before, "huge shape");
    /* a valid dict in double quotes, keys in another order, still loads */
    n = make_npy(buf, "{\"shape\": (1,), \"fortran_order\": False, \"descr\": \"<f4\"}", "\0\0\x80\x3f", 4);
    write_bytes(P("ok.npy"), buf, n);
    npg_array *x = npg_load_npy(P("ok.npy"), NULL);
    cr_assert(x, "%s", npg_last_error());
    cr_assert_eq(npg_item(x), 1.0);
    npg_free(x);
    t_assert_no_leak(before, "ok dict");
}

Test(io, npy_unsupported_descrs) {
    t_live before = t_live_now();
    const char *descrs[] = {"'<c16'", "'<U3'", "'|O'", "'|S4'", "'<f16'", "'<m8[s]'", "'<M8[D]'", "'|V8'",
                            "'<i3'", "'<b2'", "[('a', '<f4')]", "''", "'<'"};
    for (size_t i = 0; i < sizeof descrs / sizeof descrs[0]; i++) {
        char dict[128];
        snprintf(dict, sizeof dict, "{'descr': %s, 'fortran_order': False, 'shape': (1,), }", descrs[i]);
        unsigned char buf[256];
        size_t n = make_npy(buf, dict, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16);
        write_bytes(P("u.npy"), buf, n);
        cr_assert_null(npg_load_npy(P("u.npy"), NULL), "descr %s loaded", descrs[i]);
        expect_error(NPG_ERR_FORMAT, "npg_load_npy", "unsupported dtype", before, descrs[i]);
    }
    /* u8 values above INT64_MAX load as uint64, bit for bit (big-endian too) */
    unsigned char buf[256];
    const uint64_t want[2] = {1, (uint64_t)1 << 63};
    for (int big = 0; big < 2; big++) {
        size_t n = make_npy(buf, big ? "{'descr': '>u8', 'fortran_order': False, 'shape': (2,), }"
                                     : "{'descr': '<u8', 'fortran_order': False, 'shape': (2,), }",
                            big ? "\0\0\0\0\0\0\0\1\x80\0\0\0\0\0\0\0" : "\1\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x80", 16);
        write_bytes(P("u8.npy"), buf, n);
        npg_array *x = npg_load_npy(P("u8.npy"), NULL);
        cr_assert(x, "%s", npg_last_error());
        cr_assert_eq(npg_dtype_of(x), NPG_UINT64);
        uint64_t got[2];
        cr_assert_eq(npg_copy_to_host(x, got, sizeof got), NPG_OK);
        cr_assert(got[0] == want[0] && got[1] == want[1], "u8 values %llu %llu", (unsigned long long)got[0],
                  (unsigned long long)got[1]);
        npg_free(x);
    }
    t_assert_no_leak(before, "u8");
}

Test(io, npy_unsupported_from_numpy) {
    need_numpy();
    py("import numpy as np\n"
       "np.save('c16.npy', np.array([1+2j]))\n"
       "np.save('u3.npy', np.array(['abc']))\n"
       "np.save('obj.npy', np.array([{}, 1], dtype=object), allow_pickle=True)\n"
       "np.save('rec.npy', np.zeros(2, dtype=[('a', '<f4'), ('b', '<i4')]))\n");
    t_live before = t_live_now();
    const char *files[] = {"c16.npy", "u3.npy", "obj.npy", "rec.npy"};
    for (int i = 0; i < 4; i++) {
        cr_assert_null(npg_load_npy(P(files[i]), NULL), "%s loaded", files[i]);
        expect_error(NPG_ERR_FORMAT, "npg_load_npy", "unsupported dtype", before, files[i]);
    }
}

Test(io, npy_save_errors) {
    t_live start = t_live_now();
    npg_array *x = sample(NPG_FLOAT32, NPG_SHAPE(2), 1);
    t_live before = t_live_now();
    cr_assert_eq(npg_save_npy("/nonexistent-dir/x.npy", x), NPG_ERR_IO);
    expect_error(NPG_ERR_IO, "npg_save_npy", "/nonexistent-dir/x.npy", before, "bad dir");
    cr_assert_eq(npg_save_npy(NULL, x), NPG_ERR_NULL_ARG);
    expect_error(NPG_ERR_NULL_ARG, "npg_save_npy", NULL, before, "NULL path");
    cr_assert_eq(npg_save_npy(P("n.npy"), NULL), NPG_ERR_NULL_ARG);
    expect_error(NPG_ERR_NULL_ARG, "npg_save_npy", NULL, before, "NULL array");
    /* a pending error from the call that produced the NULL is kept */
    npg_array *bad = npg_reshape(x, NPG_SHAPE(3));
    cr_assert_null(bad);
    cr_assert_eq(npg_save_npy(P("n.npy"), bad), NPG_ERR_SHAPE);
    cr_assert(!file_exists(P("n.npy")));
    npg_clear_error();
    /* saving over a directory fails and leaves no temporary file */
    mkdir(P("adir"), 0755);
    cr_assert_eq(npg_save_npy(P("adir"), x), NPG_ERR_IO);
    cr_assert(!file_exists(P("adir.tmp")));
    npg_clear_error();
    npg_free(x);
    t_assert_no_leak(start, "save errors");
}

/* ------------------------------------------------------------------------
 * .npz
 * ------------------------------------------------------------------------ */

static void npz_round_trip(bool compress) {
    t_live before = t_live_now();
    int ns;
    const npg_shape *sh = shapes(&ns);
    npg_named items[N_DTYPES * 7];
    char names[N_DTYPES * 7][32];
    int n = 0;
    for (int d = 0; d < N_DTYPES; d++) {
        for (int s = 0; s < ns; s++) {
            snprintf(names[n], sizeof names[n], "%s_%d", npg_dtype_name(all_dtypes[d]), s);
            items[n].name = names[n];
            items[n].array = sample(all_dtypes[d], sh[s], (uint64_t)(100 + n));
            n++;
        }
    }
    cr_assert_eq(npg_save_npz(P("r.npz"), items, n, compress), NPG_OK, "%s", npg_last_error());
    npg_npz *z = npg_load_npz(P("r.npz"), OPT());
    cr_assert(z, "%s", npg_last_error());
    cr_assert_eq(npg_npz_count(z), n);
    for (int i = 0; i < n; i++) {
        cr_assert_str_eq(npg_npz_name(z, i), names[i]);
        npg_array *a = npg_npz_get(z, names[i]);
        assert_same(items[i].array, a, names[i]);
        npg_free(a);
    }
    npg_npz_free(z);
    for (int i = 0; i < n; i++) npg_free(items[i].array);
    t_assert_no_leak(before, compress ? "npz compressed" : "npz stored");
}

Test(io, npz_round_trip_stored) { npz_round_trip(false); }

Test(io, npz_round_trip_compressed) {
    npg_array *x = npg_zeros(NPG_SHAPE(2), NULL);
    npg_named it = {"x", x};
    npg_status st = npg_save_npz(P("probe.npz"), &it, 1, true);
    npg_free(x);
    if (st == NPG_ERR_UNSUPPORTED) cr_skip_test("npg was built without zlib");
    npz_round_trip(true);
}

Test(io, npz_round_trip_forced_zip64) {
    npg__npz_force_zip64 = true;
    npz_round_trip(false);
    npg__npz_force_zip64 = false;
}

Test(io, npz_get_name_count_and_options) {
    t_live before = t_live_now();
    npg_array *a = sample(NPG_FLOAT64, NPG_SHAPE(2, 3), 1), *b = sample(NPG_INT32, NPG_SHAPE(4), 2);
    npg_array *c = npg_T(a);
    npg_named items[] = {{"weights", a}, {"labels", b}, {"w.T", c}};
    cr_assert_eq(npg_save_npz(P("g.npz"), items, 3, false), NPG_OK, "%s", npg_last_error());
    npg_npz *z = npg_load_npz(P("g.npz"), OPT(.requires_grad = true));
    cr_assert(z, "%s", npg_last_error());
    cr_assert_eq(npg_npz_count(z), 3);
    cr_assert_str_eq(npg_npz_name(z, 2), "w.T");
    cr_assert_null(npg_npz_name(z, 3));
    expect_error(NPG_ERR_INDEX, "npg_npz_name", NULL, t_live_now(), "name out of range");
    cr_assert_null(npg_npz_name(z, -1));
    expect_error(NPG_ERR_INDEX, "npg_npz_name", NULL, t_live_now(), "negative index");
    t_live mid = t_live_now();
    cr_assert_null(npg_npz_get(z, "bias"));
    expect_error(NPG_ERR_INVALID_ARG, "npg_npz_get", "no array named 'bias'", mid, "missing name");
    npg_array *w = npg_npz_get(z, "weights"), *l = npg_npz_get(z, "labels"), *wt = npg_npz_get(z, "w.T");
    cr_assert(npg_requires_grad(w), "floating arrays require grad");
    cr_assert(!npg_requires_grad(l), "integer arrays do not");
    assert_same(a, w, "weights");
    assert_same(b, l, "labels");
    npg_array *cc = npg_contiguous(c);
    assert_same(cc, wt, "transposed");
    npg_free(cc);
    /* a get inside a scope belongs to the scope; the npz outlives it */
    npg_scope s = npg_scope_begin();
    cr_assert(npg_npz_get(z, "labels"));
    npg_scope_end(s);
    /* arrays from get outlive the npz */
    npg_npz_free(z);
    assert_same(b, l, "labels after free");
    npg_npz *zi = npg_load_npz(P("g.npz"), OPT(.dtype = NPG_FLOAT32));
    cr_assert(zi, "%s", npg_last_error());
    npg_array *lf = npg_npz_get(zi, "labels");
    cr_assert_eq(npg_dtype_of(lf), NPG_FLOAT32);
    npg_npz_free(zi);
    npg_free(lf);
    npg_free(w), npg_free(l), npg_free(wt);
    npg_free(a), npg_free(b), npg_free(c);
    /* NULL handling */
    cr_assert_eq(npg_npz_count(NULL), -1);
    npg_clear_error();
    cr_assert_null(npg_npz_get(NULL, "x"));
    npg_clear_error();
    npg_npz_free(NULL);
    t_assert_no_leak(before, "npz get");
}

Test(io, npz_empty_archive) {
    t_live before = t_live_now();
    cr_assert_eq(npg_save_npz(P("e.npz"), NULL, 0, false), NPG_OK, "%s", npg_last_error());
    npg_npz *z = npg_load_npz(P("e.npz"), NULL);
    cr_assert(z, "%s", npg_last_error());
    cr_assert_eq(npg_npz_count(z), 0);
    npg_npz_free(z);
    t_assert_no_leak(before, "empty npz");
}

Test(io, npz_save_argument_errors) {
    t_live start = t_live_now();
    npg_array *x = sample(NPG_FLOAT32, NPG_SHAPE(2), 1);
    t_live before = t_live_now();
    npg_named dup[] = {{"a", x}, {"a", x}};
    cr_assert_eq(npg_save_npz(P("d.npz"), dup, 2, false), NPG_ERR_INVALID_ARG);
    expect_error(NPG_ERR_INVALID_ARG, "npg_save_npz", "two arrays are named 'a'", before, "duplicate");
    npg_named empty[] = {{"", x}};
    cr_assert_eq(npg_save_npz(P("d.npz"), empty, 1, false), NPG_ERR_INVALID_ARG);
    expect_error(NPG_ERR_INVALID_ARG, "npg_save_npz", "empty", before, "empty name");
    npg_named noname[] = {{NULL, x}};
    cr_assert_eq(npg_save_npz(P("d.npz"), noname, 1, false), NPG_ERR_NULL_ARG);
    expect_error(NPG_ERR_NULL_ARG, "npg_save_npz", "name", before, "NULL name");
    npg_named noarr[] = {{"a", x}, {"b", NULL}};
    cr_assert_eq(npg_save_npz(P("d.npz"), noarr, 2, false), NPG_ERR_NULL_ARG);
    expect_error(NPG_ERR_NULL_ARG, "npg_save_npz", NULL, before, "NULL array");
    cr_assert_eq(npg_save_npz(P("d.npz"), dup, -1, false), NPG_ERR_INVALID_ARG);
    expect_error(NPG_ERR_INVALID_ARG, "npg_save_npz", "non-negative", before, "negative n");
    cr_assert_eq(npg_save_npz(P("d.npz"), NULL, 1, false), NPG_ERR_NULL_ARG);
    expect_error(NPG_ERR_NULL_ARG, "npg_save_npz", NULL, before, "NULL list");
    cr_assert_eq(npg_save_npz(NULL, dup, 1, false), NPG_ERR_NULL_ARG);
    expect_error(NPG_ERR_NULL_ARG, "npg_save_npz", NULL, before, "NULL path");
    cr_assert_eq(npg_save_npz("/nonexistent-dir/d.npz", dup, 1, false), NPG_ERR_IO);
    expect_error(NPG_ERR_IO, "npg_save_npz", "No such file", before, "bad dir");
    cr_assert(!file_exists(P("d.npz")), "a failed save left a file");
    cr_assert(!file_exists(P("d.npz.tmp")), "a failed save left a temporary file");
    npg_free(x);
    t_assert_no_leak(start, "npz save errors");
}

/* The numbers np.savez writes on this machine: stored entries whose local
 * headers carry a ZIP64 extra field (force_zip64), no data descriptors. */
static const char *NPZ_FIXTURES =
    "import numpy as np, zipfile\n"
    "rng = np.random.default_rng(1)\n"
    "arrs = dict(a=rng.standard_normal((3, 4)).astype('<f4'),\n"
    "            b=np.arange(-5, 5, dtype='>i8'),\n"
    "            fort=np.asfortranarray(rng.standard_normal((3, 5))),\n"
    "            mask=np.array([True, False, True]),\n"
    "            s=np.float32(2.5),\n"
    "            e=np.zeros((0, 2), '<i4'),\n"
    "            u=np.arange(7, dtype='u1'))\n"
    "np.savez('s.npz', **arrs)\n"
    "np.savez_compressed('c.npz', **arrs)\n"
    "for k, v in arrs.items(): np.ascontiguousarray(v).astype('<f8').tofile('z_' + k + '.bin')\n"
    "class W:\n"
    "    def __init__(s, f): s.f = f\n"
    "    def write(s, d): return s.f.write(d)\n"
    "    def flush(s): s.f.flush()\n"
    "for comp, fname in ((zipfile.ZIP_STORED, 'dd_s.npz'), (zipfile.ZIP_DEFLATED, 'dd_c.npz')):\n"
    "    with open(fname, 'wb') as raw:\n"
    "        with zipfile.ZipFile(W(raw), 'w', compression=comp) as z:\n"
    "            for k, v in arrs.items():\n"
    "                with z.open(k + '.npy', 'w', force_zip64=True) as f: np.lib.format.write_array(f, np.asanyarray(v))\n"
    "            z.writestr('readme.txt', 'not an array')\n"
    "    assert all(i.flag_bits & 8 for i in zipfile.ZipFile(fname).infolist())\n"
    "raw = open('s.npz', 'rb').read()\n"
    "assert raw[28:30] == b'\\x14\\x00' and raw[30 + 5:30 + 7] == b'\\x01\\x00', 'np.savez wrote no zip64 local extra'\n";

static void check_npz_fixture(const char *file, int expect_count) {
    t_live before = t_live_now();
    npg_npz *z = npg_load_npz(P(file), OPT());
    cr_assert(z, "%s: %s", file, npg_last_error());
    cr_assert_eq(npg_npz_count(z), expect_count, "%s: %d arrays", file, npg_npz_count(z));
    struct {
        const char *name;
        npg_dtype dtype;
        npg_shape shape;
    } want[] = {
        {"a", NPG_FLOAT32, NPG_SHAPE(3, 4)}, {"b", NPG_INT64, NPG_SHAPE(10)}, {"fort", NPG_FLOAT64, NPG_SHAPE(3, 5)},
        {"mask", NPG_BOOL, NPG_SHAPE(3)},    {"s", NPG_FLOAT32, NPG_SHAPE0},  {"e", NPG_INT32, NPG_SHAPE(0, 2)},
        {"u", NPG_UINT8, NPG_SHAPE(7)},
    };
    for (int i = 0; i < 7; i++) {
        cr_assert_str_eq(npg_npz_name(z, i), want[i].name, "%s: entry order", file);
        npg_array *x = npg_npz_get(z, want[i].name);
        char bin[32];
        snprintf(bin, sizeof bin, "z_%s", want[i].name);
        assert_bin(x, bin, want[i].dtype, want[i].shape);
        npg_free(x);
    }
    npg_npz_free(z);
    t_assert_no_leak(before, file);
}

Test(io, npz_files_from_numpy_load) {
    need_numpy();
    py(NPZ_FIXTURES);
    check_npz_fixture("s.npz", 7);
    check_npz_fixture("dd_s.npz", 7);
    npg_npz *probe = npg_load_npz(P("c.npz"), NULL);
    if (!probe && npg_last_status() == NPG_ERR_UNSUPPORTED) cr_skip_test("npg was built without zlib");
    npg_npz_free(probe);
    check_npz_fixture("c.npz", 7);
    check_npz_fixture("dd_c.npz", 7);
}

static void npz_to_numpy(bool compress, bool zip64) {
    need_numpy();
    t_live before = t_live_now();
    npg_scope sc = npg_scope_begin();
    npg_array *base = sample(NPG_FLOAT32, NPG_SHAPE(3, 4), 5);
    npg_named items[] = {
        {"b", sample(NPG_BOOL, NPG_SHAPE(2, 2), 1)},
        {"u8", sample(NPG_UINT8, NPG_SHAPE(6), 2)},
        {"i32", sample(NPG_INT32, NPG_SHAPE0, 3)},
        {"i64", sample(NPG_INT64, NPG_SHAPE(0), 4)},
        {"f32T", npg_T(base)},
        {"f64", sample(NPG_FLOAT64, NPG_SHAPE(2, 1, 2, 1, 2, 1, 1, 2), 6)},
        {"long name with spaces", sample(NPG_FLOAT64, NPG_SHAPE(2), 7)},
    };
    const int n = (int)(sizeof items / sizeof items[0]);
    npg__npz_force_zip64 = zip64;
    npg_status st = npg_save_npz(P("out.npz"), items, n, compress);
    npg__npz_force_zip64 = false;
    if (st == NPG_ERR_UNSUPPORTED) cr_skip_test("npg was built without zlib");
    cr_assert_eq(st, NPG_OK, "%s", npg_last_error());
    char script[8192];
    int k = snprintf(script, sizeof script,
                     "import numpy as np, zipfile\n"
                     "zf = zipfile.ZipFile('out.npz')\n"
                     "assert zf.testzip() is None\n"
                     "assert all(i.compress_type == %d for i in zf.infolist())\n"
                     "z = np.load('out.npz')\n"
                     "assert len(z.files) == %d, z.files\n",
                     compress ? 8 : 0, n);
    for (int i = 0; i < n; i++) {
        char bin[32], shp[128];
        snprintf(bin, sizeof bin, "o%d.bin", i);
        double *v = t_read(items[i].array);
        write_bytes(P(bin), v, sizeof(double) * (size_t)npg_size(items[i].array));
        free(v);
        shape_py(shp, sizeof shp, npg_shape_of(items[i].array));
        k += snprintf(script + k, sizeof script - (size_t)k,
                      "a = z['%s']\n"
                      "assert a.dtype == np.%s and a.shape == %s, ('%s', a.dtype, a.shape)\n"
                      "assert np.array_equal(a.astype('<f8').ravel(), np.fromfile('%s', '<f8')), '%s'\n",
                      items[i].name, numpy_dtype(npg_dtype_of(items[i].array)), shp, items[i].name, bin, items[i].name);
    }
    py(script);
    npg_scope_end(sc);
    t_assert_no_leak(before, "C npz -> numpy");
}

Test(io, npz_saved_here_loads_in_numpy_stored) { npz_to_numpy(false, false); }
Test(io, npz_saved_here_loads_in_numpy_compressed) { npz_to_numpy(true, false); }
Test(io, npz_saved_here_loads_in_numpy_zip64) { npz_to_numpy(false, true); }
Test(io, npz_saved_here_loads_in_numpy_zip64_compressed) { npz_to_numpy(true, true); }

/* ------------------------------------------------------------------------
 * .npz malformed inputs
 * ------------------------------------------------------------------------ */

static uint32_t rd32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Offset of the last occurrence of a 4-byte little-endian signature. */
static size_t find_sig(const unsigned char *b, size_t n, uint32_t sig) {
    for (size_t i = n - 4 + 1; i-- > 0;)
        if (rd32(b + i) == sig) return i;
    return (size_t)-1;
}

static void expect_npz_fail(const unsigned char *bytes, size_t n, npg_status want, const char *needle,
                            const char *what) {
    t_live before = t_live_now();
    write_bytes(P("bad.npz"), bytes, n);
    npg_npz *z = npg_load_npz(P("bad.npz"), NULL);
    cr_assert_null(z, "%s: loaded", what);
    expect_error(want, "npg_load_npz", needle, before, what);
}

static unsigned char *make_valid_npz(bool compress, size_t *n) {
    npg_array *a = sample(NPG_FLOAT64, NPG_SHAPE(10, 10), 1), *b = sample(NPG_INT32, NPG_SHAPE(5), 2);
    npg_named items[] = {{"a", a}, {"b", b}};
    npg_status st = npg_save_npz(P("v.npz"), items, 2, compress);
    npg_free(a);
    npg_free(b);
    if (st == NPG_ERR_UNSUPPORTED) return NULL;
    cr_assert_eq(st, NPG_OK, "%s", npg_last_error());
    return read_bytes(P("v.npz"), n);
}

Test(io, npz_not_a_zip_missing_empty_directory) {
    t_live before = t_live_now();
    expect_npz_fail((const unsigned char *)"", 0, NPG_ERR_FORMAT, "empty", "empty");
    expect_npz_fail((const unsigned char *)"hello, this is not a zip file at all", 36, NPG_ERR_FORMAT, "not a ZIP",
                    "text");
    cr_assert_null(npg_load_npz(P("missing.npz"), NULL));
    expect_error(NPG_ERR_IO, "npg_load_npz", "No such file", before, "missing");
    cr_assert_null(npg_load_npz(g_dir, NULL));
    expect_error(NPG_ERR_IO, "npg_load_npz", "directory", before, "directory");
    cr_assert_null(npg_load_npz(NULL, NULL));
    expect_error(NPG_ERR_NULL_ARG, "npg_load_npz", NULL, before, "NULL path");
}

Test(io, npz_truncated_everywhere) {
    size_t n;
    unsigned char *b = make_valid_npz(false, &n);
    for (size_t cut = 0; cut < n; cut += (cut < 64 ? 1 : 13)) {
        char what[32];
        snprintf(what, sizeof what, "cut at %zu", cut);
        expect_npz_fail(b, cut, NPG_ERR_FORMAT, NULL, what);
    }
    free(b);
}

Test(io, npz_bad_central_directory) {
    size_t n;
    unsigned char *b = make_valid_npz(false, &n);
    size_t end = find_sig(b, n, 0x06054b50u), cd = find_sig(b, n, 0x02014b50u);
    cr_assert(end != (size_t)-1 && cd != (size_t)-1);
    unsigned char *m = malloc(n);
    /* central directory offset beyond the file */
    memcpy(m, b, n);
    m[end + 16] = 0xF0, m[end + 17] = 0xFF, m[end + 18] = 0xFF, m[end + 19] = 0x7F;
    expect_npz_fail(m, n, NPG_ERR_FORMAT, "central directory", "cd offset");
    /* more entries than the directory can hold */
    memcpy(m, b, n);
    m[end + 10] = 0xFF, m[end + 11] = 0x7F, m[end + 8] = 0xFF, m[end + 9] = 0x7F;
    expect_npz_fail(m, n, NPG_ERR_FORMAT, "central directory", "entry count");
    /* a corrupt central header signature */
    memcpy(m, b, n);
    m[cd] = 'X';
    expect_npz_fail(m, n, NPG_ERR_FORMAT, "central directory", "cd signature");
    /* a name length that overruns the directory */
    memcpy(m, b, n);
    m[cd + 28] = 0xFF, m[cd + 29] = 0xFF;
    expect_npz_fail(m, n, NPG_ERR_FORMAT, "central directory", "name length");
    /* a local header offset pointing into the directory */
    memcpy(m, b, n);
    m[cd + 42] = 0xFF, m[cd + 43] = 0xFF, m[cd + 44] = 0, m[cd + 45] = 0;
    expect_npz_fail(m, n, NPG_ERR_FORMAT, "outside", "local offset");
    /* a compressed size larger than the data */
    memcpy(m, b, n);
    m[cd + 20] = 0xFF, m[cd + 21] = 0xFF, m[cd + 22] = 0x0F, m[cd + 23] = 0;
    expect_npz_fail(m, n, NPG_ERR_FORMAT, NULL, "csize");
    /* a ZIP64 marker without the ZIP64 records */
    memcpy(m, b, n);
    m[end + 16] = 0xFF, m[end + 17] = 0xFF, m[end + 18] = 0xFF, m[end + 19] = 0xFF;
    expect_npz_fail(m, n, NPG_ERR_FORMAT, "ZIP64", "zip64 locator");
    /* a corrupt local header signature */
    memcpy(m, b, n);
    m[0] = 'Q';
    expect_npz_fail(m, n, NPG_ERR_FORMAT, "local header", "local signature");
    /* an unknown compression method */
    memcpy(m, b, n);
    m[cd + 10] = 12;
    expect_npz_fail(m, n, NPG_ERR_FORMAT, "compression method 12", "bzip2");
    /* an encrypted entry */
    memcpy(m, b, n);
    m[cd + 8] |= 1;
    expect_npz_fail(m, n, NPG_ERR_FORMAT, "encrypted", "encrypted");
    free(m);
    free(b);
}

Test(io, npz_crc_mismatch_and_bad_entry) {
    size_t n;
    unsigned char *b = make_valid_npz(false, &n);
    unsigned char *m = malloc(n);
    /* flip a data byte of the first (stored) entry */
    memcpy(m, b, n);
    m[30 + 5 + 128 + 3] ^= 0x40;
    expect_npz_fail(m, n, NPG_ERR_FORMAT, "CRC-32 mismatch", "crc");
    /* a bad .npy inside, with a matching CRC: patch the header's magic and
     * the directory's CRC to match */
    memcpy(m, b, n);
    m[30 + 5 + 1] = 'X';
    size_t cd = find_sig(m, n, 0x02014b50u);
    /* the first central entry comes first: search forward for it */
    for (size_t i = 0; i + 4 <= n; i++)
        if (rd32(m + i) == 0x02014b50u) {
            cd = i;
            break;
        }
    uint32_t usize = rd32(m + cd + 24);
    /* crc of the patched entry */
    uint32_t table[256];
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    uint32_t crc = 0xFFFFFFFFu;
    for (uint32_t i = 0; i < usize; i++) crc = table[(crc ^ m[30 + 5 + i]) & 0xFF] ^ (crc >> 8);
    crc = ~crc;
    for (int i = 0; i < 4; i++) m[cd + 16 + i] = (unsigned char)(crc >> (8 * i));
    expect_npz_fail(m, n, NPG_ERR_FORMAT, "entry 'a.npy': not a .npy file", "bad npy entry");
    free(m);
    free(b);
}

Test(io, npz_corrupt_deflate) {
    size_t n;
    unsigned char *b = make_valid_npz(true, &n);
    if (!b) cr_skip_test("npg was built without zlib");
    unsigned char *m = malloc(n);
    /* garbage in the compressed stream: a deflate error or a CRC mismatch */
    memcpy(m, b, n);
    for (int i = 0; i < 16; i++) m[30 + 5 + 10 + i] ^= 0xA5;
    expect_npz_fail(m, n, NPG_ERR_FORMAT, NULL, "deflate garbage");
    /* a declared size that a deflate stream cannot produce */
    memcpy(m, b, n);
    size_t cd = 0;
    for (size_t i = 0; i + 4 <= n; i++)
        if (rd32(m + i) == 0x02014b50u) {
            cd = i;
            break;
        }
    m[cd + 24] = 0, m[cd + 25] = 0, m[cd + 26] = 0, m[cd + 27] = 0x40;
    expect_npz_fail(m, n, NPG_ERR_FORMAT, "impossible", "bomb size");
    /* a declared size one byte smaller / larger than the stream gives */
    uint32_t us = rd32(b + cd + 24);
    memcpy(m, b, n);
    uint32_t u2 = us - 1;
    for (int i = 0; i < 4; i++) m[cd + 24 + i] = (unsigned char)(u2 >> (8 * i));
    expect_npz_fail(m, n, NPG_ERR_FORMAT, "larger than its declared size", "size - 1");
    memcpy(m, b, n);
    u2 = us + 1;
    for (int i = 0; i < 4; i++) m[cd + 24 + i] = (unsigned char)(u2 >> (8 * i));
    expect_npz_fail(m, n, NPG_ERR_FORMAT, NULL, "size + 1");
    /* the compressed stream cut short (the directory's csize shrunk) */
    memcpy(m, b, n);
    uint32_t cs = rd32(b + cd + 20) / 2;
    for (int i = 0; i < 4; i++) m[cd + 20 + i] = (unsigned char)(cs >> (8 * i));
    expect_npz_fail(m, n, NPG_ERR_FORMAT, "truncated", "short stream");
    free(m);
    free(b);
}

/* ------------------------------------------------------------------------
 * IDX
 * ------------------------------------------------------------------------ */

static const char *FMNIST = "/usr/share/datasets/fashion-mnist";

Test(io, idx_fashion_mnist) {
    char p[4][256];
    const char *names[4] = {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                            "t10k-labels-idx1-ubyte.gz"};
    for (int i = 0; i < 4; i++) {
        snprintf(p[i], sizeof p[i], "%s/%s", FMNIST, names[i]);
        if (!file_exists(p[i])) cr_skip_test("%s is absent", p[i]);
    }
    t_live before = t_live_now();
    npg_array *xi = npg_load_idx(p[0], OPT());
    if (!xi && npg_last_status() == NPG_ERR_UNSUPPORTED) cr_skip_test("npg was built without zlib");
    cr_assert(xi, "%s", npg_last_error());
    cr_assert_eq(npg_dtype_of(xi), NPG_UINT8);
    t_assert_shape(xi, NPG_SHAPE(60000, 28, 28));
    npg_array *yl = npg_load_idx(p[1], OPT());
    cr_assert(yl, "%s", npg_last_error());
    cr_assert_eq(npg_dtype_of(yl), NPG_UINT8);
    t_assert_shape(yl, NPG_SHAPE(60000));
    npg_scope s = npg_scope_begin();
    cr_assert_eq(npg_item(npg_min(yl, NPG_ALL_AXES, false)), 0);
    cr_assert_eq(npg_item(npg_max(yl, NPG_ALL_AXES, false)), 9);
    /* each of the 10 classes has 6000 training examples */
    npg_array *counts = npg_sum(npg_equal(npg_expand_dims(npg_astype(yl, NPG_INT32), 1),
                                          npg_arange(0, 10, 1, OPT(.dtype = NPG_INT32))),
                                NPG_AXES(0), false);
    double want[10];
    for (int i = 0; i < 10; i++) want[i] = 6000;
    t_assert_close(counts, want, 10, 0, 0, "class counts");
    cr_assert_eq(npg_item(npg_max(xi, NPG_ALL_AXES, false)), 255);
    npg_scope_end(s);
    npg_array *ti = npg_load_idx(p[2], OPT(.dtype = NPG_FLOAT32));
    cr_assert(ti, "%s", npg_last_error());
    cr_assert_eq(npg_dtype_of(ti), NPG_FLOAT32);
    t_assert_shape(ti, NPG_SHAPE(10000, 28, 28));
    npg_array *tl = npg_load_idx(p[3], OPT(.dtype = NPG_INT64));
    cr_assert(tl, "%s", npg_last_error());
    t_assert_shape(tl, NPG_SHAPE(10000));
    cr_assert_eq(npg_dtype_of(tl), NPG_INT64);
    npg_free(xi), npg_free(yl), npg_free(ti), npg_free(tl);
    t_assert_no_leak(before, "fashion-mnist");
}

/* A gzip member holding `in` in stored deflate blocks (no zlib needed). */
static uint32_t crc32_of(const unsigned char *p, size_t n) {
    uint32_t table[256];
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) crc = table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

static unsigned char *gzip_stored(const unsigned char *in, size_t n, size_t *out_len) {
    unsigned char *o = malloc(n + 32 + 5 * (n / 65535 + 1));
    size_t k = 0;
    const unsigned char hdr[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff};
    memcpy(o, hdr, 10);
    k = 10;
    size_t pos = 0;
    do {
        size_t len = n - pos > 65535 ? 65535 : n - pos;
        o[k++] = pos + len == n ? 1 : 0;
        o[k++] = (unsigned char)(len & 0xFF);
        o[k++] = (unsigned char)(len >> 8);
        o[k++] = (unsigned char)(~len & 0xFF);
        o[k++] = (unsigned char)((~len >> 8) & 0xFF);
        memcpy(o + k, in + pos, len);
        k += len;
        pos += len;
    } while (pos < n);
    uint32_t crc = crc32_of(in, n);
    for (int i = 0; i < 4; i++) o[k++] = (unsigned char)(crc >> (8 * i));
    for (int i = 0; i < 4; i++) o[k++] = (unsigned char)((uint32_t)n >> (8 * i));
    *out_len = k;
    return o;
}

/* An IDX file: type code, dims, big-endian element bytes. */
static size_t make_idx(unsigned char *out, int code, int ndim, const uint32_t *dims, const void *data, size_t n) {
    out[0] = 0, out[1] = 0, out[2] = (unsigned char)code, out[3] = (unsigned char)ndim;
    for (int i = 0; i < ndim; i++)
        for (int b = 0; b < 4; b++) out[4 + 4 * i + b] = (unsigned char)(dims[i] >> (24 - 8 * b));
    memcpy(out + 4 + 4 * ndim, data, n);
    return 4 + 4 * (size_t)ndim + n;
}

static void put_be(unsigned char *p, uint64_t v, int size) {
    for (int b = 0; b < size; b++) p[b] = (unsigned char)(v >> (8 * (size - 1 - b)));
}

static bool idx_gzip_supported(void) {
    unsigned char f[64];
    uint32_t d[1] = {1};
    size_t n = make_idx(f, 0x08, 1, d, "\x07", 1), gl;
    unsigned char *g = gzip_stored(f, n, &gl);
    write_bytes(P("probe.idx.gz"), g, gl);
    free(g);
    npg_array *x = npg_load_idx(P("probe.idx.gz"), NULL);
    bool ok = x != NULL;
    npg_free(x);
    npg_clear_error();
    return ok;
}

Test(io, idx_every_element_type_plain_and_gzip) {
    t_live before = t_live_now();
    bool gz = idx_gzip_supported();
    struct {
        int code, size;
        npg_dtype dtype;
        double vals[4];
    } cases[] = {
        {0x08, 1, NPG_UINT8, {0, 7, 200, 255}},
        {0x09, 1, NPG_INT8, {-128, -1, 0, 127}},
        {0x0B, 2, NPG_INT16, {-32768, -2, 300, 32767}},
        {0x0C, 4, NPG_INT32, {-2147483648.0, -70000, 123456, 2147483647}},
        {0x0D, 4, NPG_FLOAT32, {1.5, -2.25, 0, 3.0e38}},
        {0x0E, 8, NPG_FLOAT64, {1e-300, -2.5, 1.0 / 3, 1e300}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        unsigned char data[32], file[128];
        for (int i = 0; i < 4; i++) {
            double v = cases[c].vals[i];
            uint64_t bits;
            if (cases[c].code == 0x0D) {
                float f = (float)v;
                uint32_t u;
                memcpy(&u, &f, 4);
                bits = u;
            } else if (cases[c].code == 0x0E) {
                memcpy(&bits, &v, 8);
            } else {
                bits = (uint64_t)(int64_t)v;
            }
            put_be(data + i * cases[c].size, bits, cases[c].size);
        }
        uint32_t dims[2] = {2, 2};
        size_t n = make_idx(file, cases[c].code, 2, dims, data, 4 * (size_t)cases[c].size);
        for (int g = 0; g < (gz ? 2 : 1); g++) {
            const char *path = P(g ? "t.idx.gz" : "t.idx");
            if (g) {
                size_t gl;
                unsigned char *gzb = gzip_stored(file, n, &gl);
                write_bytes(path, gzb, gl);
                free(gzb);
            } else {
                write_bytes(path, file, n);
            }
            npg_array *x = npg_load_idx(path, OPT());
            cr_assert(x, "type 0x%02x: %s", cases[c].code, npg_last_error());
            cr_assert_eq(npg_dtype_of(x), cases[c].dtype, "type 0x%02x", cases[c].code);
            t_assert_shape(x, NPG_SHAPE(2, 2));
            double want[4];
            for (int i = 0; i < 4; i++)
                want[i] = cases[c].code == 0x0D ? (double)(float)cases[c].vals[i] : cases[c].vals[i];
            t_assert_close(x, want, 4, 0, 0, "idx values");
            npg_free(x);
        }
    }
    /* opts convert and place; 1-d and empty arrays */
    uint32_t d1[1] = {3};
    unsigned char f[64];
    size_t n = make_idx(f, 0x08, 1, d1, "\x01\x02\x03", 3);
    write_bytes(P("l.idx"), f, n);
    npg_array *x = npg_load_idx(P("l.idx"), OPT(.dtype = NPG_FLOAT64));
    double w3[3] = {1, 2, 3};
    cr_assert_eq(npg_dtype_of(x), NPG_FLOAT64);
    t_assert_close(x, w3, 3, 0, 0, "idx as float64");
    npg_free(x);
    uint32_t d0[3] = {0, 28, 28};
    n = make_idx(f, 0x08, 3, d0, "", 0);
    write_bytes(P("e.idx"), f, n);
    x = npg_load_idx(P("e.idx"), OPT());
    cr_assert(x, "%s", npg_last_error());
    t_assert_shape(x, NPG_SHAPE(0, 28, 28));
    npg_free(x);
    /* a large gzip stream (several stored blocks, grows the buffer) */
    if (gz) {
        size_t big = 3u << 20;
        unsigned char *raw = malloc(big + 16);
        uint32_t db[2] = {3, 1u << 20};
        size_t bn = make_idx(raw, 0x08, 2, db, "", 0);
        for (size_t i = 0; i < big; i++) raw[bn + i] = (unsigned char)(i * 31);
        size_t gl;
        unsigned char *g = gzip_stored(raw, bn + big, &gl);
        write_bytes(P("big.idx.gz"), g, gl);
        x = npg_load_idx(P("big.idx.gz"), OPT());
        cr_assert(x, "%s", npg_last_error());
        t_assert_shape(x, NPG_SHAPE(3, 1 << 20));
        unsigned char *back = malloc(big);
        cr_assert_eq(npg_copy_to_host(x, back, big), NPG_OK);
        cr_assert(memcmp(back, raw + bn, big) == 0);
        npg_free(x);
        free(back);
        free(g);
        free(raw);
    }
    t_assert_no_leak(before, "idx types");
}

static void expect_idx_fail(const unsigned char *bytes, size_t n, npg_status want, const char *needle,
                            const char *what) {
    t_live before = t_live_now();
    write_bytes(P("bad.idx"), bytes, n);
    cr_assert_null(npg_load_idx(P("bad.idx"), NULL), "%s: loaded", what);
    expect_error(want, "npg_load_idx", needle, before, what);
    cr_assert(strstr(npg_last_error(), "") != NULL);
}

Test(io, idx_malformed) {
    t_live before = t_live_now();
    cr_assert_null(npg_load_idx(P("missing.idx"), NULL));
    expect_error(NPG_ERR_IO, "npg_load_idx", "No such file", before, "missing");
    cr_assert_null(npg_load_idx(g_dir, NULL));
    expect_error(NPG_ERR_IO, "npg_load_idx", "directory", before, "directory");
    cr_assert_null(npg_load_idx(NULL, NULL));
    expect_error(NPG_ERR_NULL_ARG, "npg_load_idx", NULL, before, "NULL path");
    expect_idx_fail((const unsigned char *)"", 0, NPG_ERR_FORMAT, "empty", "empty");

    unsigned char f[256];
    uint32_t dims[3] = {2, 3, 4};
    unsigned char data[24];
    for (int i = 0; i < 24; i++) data[i] = (unsigned char)i;
    size_t n = make_idx(f, 0x08, 3, dims, data, 24);
    /* truncated at every header boundary and inside the data */
    for (size_t cut = 1; cut < n; cut++) {
        char what[32];
        snprintf(what, sizeof what, "cut at %zu", cut);
        expect_idx_fail(f, cut, NPG_ERR_FORMAT, "truncated", what);
    }
    /* one byte more than the header says */
    unsigned char g[256];
    memcpy(g, f, n);
    g[n] = 9;
    expect_idx_fail(g, n + 1, NPG_ERR_FORMAT, "beyond", "oversized");
    /* the magic, the type, the dimension count */
    memcpy(g, f, n);
    g[0] = 1;
    expect_idx_fail(g, n, NPG_ERR_FORMAT, "magic", "magic");
    memcpy(g, f, n);
    g[2] = 0x0A;
    expect_idx_fail(g, n, NPG_ERR_FORMAT, "element type 0x0a", "type");
    memcpy(g, f, n);
    g[3] = 0;
    expect_idx_fail(g, n, NPG_ERR_FORMAT, "zero dimensions", "zero dims");
    memcpy(g, f, n);
    g[3] = 9;
    expect_idx_fail(g, n, NPG_ERR_FORMAT, "9 dimensions", "9 dims");
    /* huge dimensions: overflow and over the limit, with almost no data */
    uint32_t huge[4] = {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu};
    n = make_idx(f, 0x0E, 4, huge, "\0\0\0\0\0\0\0\0", 8);
    expect_idx_fail(f, n, NPG_ERR_FORMAT, "exceed", "overflowing dims");
    uint32_t big[2] = {1u << 20, 1u << 21};
    n = make_idx(f, 0x08, 2, big, "\0", 1);
    expect_idx_fail(f, n, NPG_ERR_FORMAT, "exceed", "over the limit");
    uint32_t fits[2] = {1u << 16, 1u << 16};
    n = make_idx(f, 0x08, 2, fits, "\0", 1);
    expect_idx_fail(f, n, NPG_ERR_FORMAT, "truncated", "4 GiB promised, 1 byte given");
}

Test(io, idx_gzip_malformed) {
    if (!idx_gzip_supported()) {
        /* without zlib a gzip file is NPG_ERR_UNSUPPORTED */
        t_live before = t_live_now();
        cr_assert_null(npg_load_idx(P("probe.idx.gz"), NULL));
        expect_error(NPG_ERR_UNSUPPORTED, "npg_load_idx", "zlib", before, "no zlib");
        return;
    }
    unsigned char f[256];
    uint32_t dims[2] = {4, 5};
    unsigned char data[20];
    for (int i = 0; i < 20; i++) data[i] = (unsigned char)(i * 3);
    size_t n = make_idx(f, 0x08, 2, dims, data, 20), gl;
    unsigned char *g = gzip_stored(f, n, &gl);
    unsigned char *m = malloc(gl + 16);
    /* a corrupt stored-block length check */
    memcpy(m, g, gl);
    m[13] ^= 0xFF;
    expect_idx_fail(m, gl, NPG_ERR_FORMAT, "gzip", "bad block");
    /* a wrong CRC in the trailer */
    memcpy(m, g, gl);
    m[gl - 8] ^= 1;
    expect_idx_fail(m, gl, NPG_ERR_FORMAT, "gzip", "bad crc");
    /* truncated inside the compressed data, and inside the trailer */
    expect_idx_fail(g, gl - 12, NPG_ERR_FORMAT, NULL, "cut in data");
    expect_idx_fail(g, gl - 3, NPG_ERR_FORMAT, "gzip", "cut in trailer");
    /* only the gzip header */
    expect_idx_fail(g, 10, NPG_ERR_FORMAT, NULL, "header only");
    /* a gzip whose contents are too long for the dims */
    unsigned char f2[256];
    memcpy(f2, f, n);
    f2[n] = 1;
    size_t gl2;
    unsigned char *g2 = gzip_stored(f2, n + 1, &gl2);
    expect_idx_fail(g2, gl2, NPG_ERR_FORMAT, "more data", "gzip oversized");
    free(g2);
    /* a gzip whose header promises 2^32 elements but holds one */
    uint32_t fits[2] = {1u << 16, 1u << 16};
    size_t hn = make_idx(f2, 0x08, 2, fits, "\0", 1);
    g2 = gzip_stored(f2, hn, &gl2);
    expect_idx_fail(g2, gl2, NPG_ERR_FORMAT, "truncated", "gzip promises 4 GiB");
    free(g2);
    free(m);
    free(g);
}

Test(io, idx_gzip_from_gzip_tool) {
    /* real deflate data from the gzip program, when installed */
    if (system("command -v gzip >/dev/null 2>&1") != 0) cr_skip_test("no gzip program");
    if (!idx_gzip_supported()) cr_skip_test("npg was built without zlib");
    unsigned char f[4096];
    uint32_t dims[2] = {40, 50};
    unsigned char data[2000];
    for (int i = 0; i < 2000; i++) data[i] = (unsigned char)(i % 7 * 11);
    size_t n = make_idx(f, 0x08, 2, dims, data, 2000);
    write_bytes(P("d.idx"), f, n);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "gzip -9 -c '%s' > '%s'", P("d.idx"), P("d.idx.gz"));
    cr_assert_eq(system(cmd), 0);
    t_live before = t_live_now();
    npg_array *x = npg_load_idx(P("d.idx.gz"), OPT());
    cr_assert(x, "%s", npg_last_error());
    unsigned char back[2000];
    cr_assert_eq(npg_copy_to_host(x, back, sizeof back), NPG_OK);
    cr_assert(memcmp(back, data, 2000) == 0);
    npg_free(x);
    /* flip bytes in the middle of the deflate stream */
    size_t gl;
    unsigned char *g = read_bytes(P("d.idx.gz"), &gl);
    for (size_t i = gl / 2; i < gl / 2 + 4; i++) g[i] ^= 0x5A;
    expect_idx_fail(g, gl, NPG_ERR_FORMAT, NULL, "corrupt deflate");
    free(g);
    t_assert_no_leak(before, "gzip tool");
}
