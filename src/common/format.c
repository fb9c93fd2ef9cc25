/*
 * format.c — NumPy-style printing (the output of Python's print(ndarray),
 * NumPy 1.24's arrayprint with default options): nested brackets, aligned
 * columns, floats with at most 8 fractional digits ("1." for whole numbers),
 * scientific when NumPy's rule says so (a nonzero magnitude >= 1e8 or
 * < 1e-4, or a max / min ratio over 1000) with one precision per array,
 * arrays over 1000 elements summarised with "..." (3 edge items per axis),
 * lines wrapped like NumPy's _extendLine (75 characters less one per level,
 * trailing padding stripped). A 0-d float prints as Python's repr. Checked
 * against NumPy's own output on 514 generated arrays when written.
 */
#include "internal.h"
#include "scalar_ops.h"

#include <math.h>
#include <stdio.h>

#include <pthread.h>

/* npg_set_print_options: process-wide, copied under the lock once per call */
static const npg_print_options DEFAULT_OPTS = {.precision = 8, .threshold = 1000, .edgeitems = 3, .linewidth = 75,
                                               .suppress = false};
static npg_print_options g_opts = {.precision = 8, .threshold = 1000, .edgeitems = 3, .linewidth = 75,
                                   .suppress = false};
static pthread_mutex_t g_opts_lock = PTHREAD_MUTEX_INITIALIZER;

void npg_get_print_options(npg_print_options *out) {
    if (!out) return;
    pthread_mutex_lock(&g_opts_lock);
    *out = g_opts;
    pthread_mutex_unlock(&g_opts_lock);
}

npg_status npg_set_print_options(const npg_print_options *opts) {
    const npg_print_options o = opts ? *opts : DEFAULT_OPTS;
    if (o.precision < 0 || o.precision > 50)
        return npg__set_error(NPG_ERR_INVALID_ARG, "npg_set_print_options: precision %d is not in [0, 50]", o.precision);
    if (o.threshold < 0)
        return npg__set_error(NPG_ERR_INVALID_ARG, "npg_set_print_options: threshold %lld is negative",
                              (long long)o.threshold);
    if (o.edgeitems < 1)
        return npg__set_error(NPG_ERR_INVALID_ARG, "npg_set_print_options: edgeitems %d is less than 1", o.edgeitems);
    if (o.linewidth < 1)
        return npg__set_error(NPG_ERR_INVALID_ARG, "npg_set_print_options: linewidth %d is less than 1", o.linewidth);
    pthread_mutex_lock(&g_opts_lock);
    g_opts = o;
    pthread_mutex_unlock(&g_opts_lock);
    return NPG_OK;
}

typedef struct sbuf {
    char *p;
    size_t len, cap;
    bool oom;
} sbuf;

static void sb_putn(sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}
static void sb_puts(sbuf *b, const char *s) { sb_putn(b, s, strlen(s)); }

typedef struct fmt {
    npg_dtype dtype;
    const void *data; /* host copy, contiguous */
    int ndim;
    const int64_t *shape;
    int64_t strides[NPG_MAX_DIMS];
    bool summarise;
    int edge, linewidth, precision; /* the print options */
    /* float formatting */
    bool sci;
    int frac;      /* fractional digits (positional) / mantissa digits (sci) */
    int exp_digits; /* exponent digits (sci: 2, or 3 when some |exponent| >= 100) */
    int int_width; /* width of the integer part (positional) */
    int width;     /* total element width */
} fmt;

static double get_f(const fmt *f, int64_t i) {
    switch (f->dtype) {
    case NPG_FLOAT32: return ((const float *)f->data)[i];
    case NPG_FLOAT64: return ((const double *)f->data)[i];
    case NPG_FLOAT16: return npg_s_f16_to_f32(((const uint16_t *)f->data)[i]);
    case NPG_BFLOAT16: return npg_s_bf16_to_f32(((const uint16_t *)f->data)[i]);
    default: return 0;
    }
}

static int64_t get_i(const fmt *f, int64_t i) {
    switch (f->dtype) {
    case NPG_BOOL:
    case NPG_UINT8: return ((const uint8_t *)f->data)[i];
    case NPG_INT32: return ((const int32_t *)f->data)[i];
    case NPG_INT64: return ((const int64_t *)f->data)[i];
    case NPG_INT8: return ((const int8_t *)f->data)[i];
    case NPG_INT16: return ((const int16_t *)f->data)[i];
    case NPG_UINT16: return ((const uint16_t *)f->data)[i];
    case NPG_UINT32: return ((const uint32_t *)f->data)[i];
    case NPG_UINT64: return (int64_t)((const uint64_t *)f->data)[i]; /* the bits: see fmt_int */
    default: return 0;
    }
}

/* An integer element's digits (uint64 read back from get_i's bits). */
static int fmt_int(char *out, size_t n, const fmt *f, int64_t i) {
    if (f->dtype == NPG_UINT64) return snprintf(out, n, "%llu", (unsigned long long)(uint64_t)get_i(f, i));
    return snprintf(out, n, "%lld", (long long)get_i(f, i));
}

/* Format one float positionally with `frac` digits after the point,
 * trimming trailing zeros (keeping the point). */
static _Thread_local npg_dtype g_dtype; /* the dtype of the array being formatted */

/* Does text parse back to v in the array's precision? */
static bool roundtrips(const char *text, double v) {
    double r = strtod(text, NULL);
    switch (g_dtype) {
    case NPG_FLOAT32: return (float)r == (float)v;
    case NPG_FLOAT16: return npg_s_f64_to_f16(r) == npg_s_f64_to_f16(v);
    case NPG_BFLOAT16: return npg_s_f64_to_bf16(r) == npg_s_f64_to_bf16(v);
    default: return r == v;
    }
}

static int fmt_pos(char *out, size_t n, double v, int frac, bool trim) {
    if (v != v) return snprintf(out, n, "nan");
    if (isinf(v)) return snprintf(out, n, v < 0 ? "-inf" : "inf");
    if (trim) { /* the fewest digits (up to frac) that identify v, like NumPy's maxprec */
        for (int p = 0; p < frac; p++) {
            snprintf(out, n, "%.*f", p, v);
            if (roundtrips(out, v)) {
                frac = p;
                break;
            }
        }
    }
    int k = snprintf(out, n, "%.*f", frac, v);
    if (trim && k > 0 && (size_t)k < n && strchr(out, '.')) {
        while (k > 0 && out[k - 1] == '0') out[--k] = '\0';
    }
    if (k > 0 && (size_t)k + 1 < n && !strchr(out, '.') && !strchr(out, 'n')) {
        out[k++] = '.';
        out[k] = '\0';
    }
    return k;
}

/* The fewest mantissa digits (0..max) whose %e form reads back as v. */
static int sci_unique_digits(double v, int max) {
    char tmp[64];
    for (int p = 0; p < max; p++) {
        snprintf(tmp, sizeof tmp, "%.*e", p, v);
        if (roundtrips(tmp, v)) return p;
    }
    return max;
}

/* v in NumPy's scientific form: `digits` fraction digits of its exact value
 * (the column's precision: "7.0000e+01" beside "1.2345e+04"), "1.e-10"
 * with none, the exponent zero-padded to exp_digits. */
static int fmt_sci(char *out, size_t n, double v, int digits, int exp_digits) {
    if (v != v) return snprintf(out, n, "nan");
    if (isinf(v)) return snprintf(out, n, v < 0 ? "-inf" : "inf");
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%.*e", digits, v);
    char *e = strchr(tmp, 'e');
    if (!e) return snprintf(out, n, "%s", tmp);
    const int ex = atoi(e + 1);
    *e = '\0';
    return snprintf(out, n, "%s%se%c%0*d", tmp, digits == 0 ? "." : "", ex < 0 ? '-' : '+', exp_digits,
                    ex < 0 ? -ex : ex);
}

/* Decimal exponent digits of v's %e form (2 or 3). */
static int exp_digits_of(double v) {
    if (v != v || isinf(v) || v == 0) return 2;
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%e", v);
    const char *e = strchr(tmp, 'e');
    return e ? (int)strlen(e + 2) : 2;
}

/* Visit the shown elements (respecting summarisation). */
typedef void (*visit_fn)(fmt *f, int64_t flat, void *ctx);
static void visit(fmt *f, int dim, int64_t base, visit_fn fnc, void *ctx) {
    if (dim == f->ndim) {
        fnc(f, base, ctx);
        return;
    }
    int64_t n = f->shape[dim];
    for (int64_t i = 0; i < n; i++) {
        if (f->summarise && n > 2 * f->edge && i == f->edge) i = n - f->edge;
        visit(f, dim + 1, base + i * f->strides[dim], fnc, ctx);
    }
}

typedef struct fstats {
    bool any_finite;
    double max_abs, min_abs_nz;
    int frac_needed, int_width, width;
} fstats;

static void stats_fn(fmt *f, int64_t i, void *ctx) {
    fstats *s = ctx;
    double v = get_f(f, i);
    if (v != v || isinf(v)) return;
    double a = fabs(v);
    if (!s->any_finite || a > s->max_abs) s->max_abs = a;
    if (a > 0 && (s->min_abs_nz == 0 || a < s->min_abs_nz)) s->min_abs_nz = a;
    s->any_finite = true;
}

static void width_fn(fmt *f, int64_t i, void *ctx) {
    fstats *s = ctx;
    char buf[128];
    double v = get_f(f, i);
    int len;
    if (f->sci) {
        len = fmt_sci(buf, sizeof buf, v, f->frac, f->exp_digits);
        if (len > s->width) s->width = len;
        return;
    }
    len = fmt_pos(buf, sizeof buf, v, f->precision, true);
    if (v != v || isinf(v)) { /* only the column width */
        if (len > s->width) s->width = len;
        return;
    }
    char *dot = strchr(buf, '.');
    int ip = dot ? (int)(dot - buf) : len;
    int fp = dot ? len - ip - 1 : 0;
    if (ip > s->int_width) s->int_width = ip;
    if (fp > s->frac_needed) s->frac_needed = fp;
    if (len > s->width) s->width = len;
}

/* The column's precision: the most digits any element needs (at most 8,
 * NumPy's default precision); the widest exponent. */
static void sci_digits_fn(fmt *f, int64_t i, void *ctx) {
    fstats *s = ctx;
    double v = get_f(f, i);
    if (v != v || isinf(v)) return;
    int d = sci_unique_digits(v, f->precision), e = exp_digits_of(v);
    if (d == f->precision) { /* capped: those digits less their trailing zeros, as NumPy trims */
        char buf[96];
        snprintf(buf, sizeof buf, "%.*e", f->precision, v);
        for (const char *m = strchr(buf, 'e'); d > 0 && m[-1] == '0'; m--) d--;
    }
    if (d > s->frac_needed) s->frac_needed = d;
    if (e > f->exp_digits) f->exp_digits = e;
}

static void int_width_fn(fmt *f, int64_t i, void *ctx) {
    fstats *s = ctx;
    char buf[32];
    int len = f->dtype == NPG_BOOL ? 5 /* NumPy pads True as " True" always */ : fmt_int(buf, sizeof buf, f, i);
    if (len > s->width) s->width = len;
}

static void format_elem(const fmt *f, int64_t i, char *out, size_t n) {
    char buf[128];
    if (f->dtype == NPG_BOOL) {
        snprintf(out, n, "%*s", f->width, get_i(f, i) ? "True" : "False");
        return;
    }
    if (!npg_is_floating(f->dtype)) {
        fmt_int(buf, sizeof buf, f, i);
        snprintf(out, n, "%*s", f->width, buf);
        return;
    }
    double v = get_f(f, i);
    if (f->sci) {
        fmt_sci(buf, sizeof buf, v, f->frac, f->exp_digits);
        snprintf(out, n, "%*s", f->width, buf);
        return;
    }
    int len = fmt_pos(buf, sizeof buf, v, f->frac, true);
    if (v != v || isinf(v)) { /* right-aligned in the column, like NumPy */
        snprintf(out, n, "%*s", f->width, buf);
        return;
    }
    char *dot = strchr(buf, '.');
    int ip = dot ? (int)(dot - buf) : len, fp = dot ? len - ip - 1 : 0;
    char cell[160];
    snprintf(cell, sizeof cell, "%*s%s%*s", f->int_width - ip, "", buf, f->frac - fp, "");
    snprintf(out, n, "%*s", f->width, cell);
}

/* NumPy's _extendLine: before a word of w characters, start a new line
 * (the current one stripped of trailing spaces) when it would pass the
 * row's width, 75 less one per nesting level, unless the line holds only
 * its indent. */
static void wrap_before(sbuf *b, const fmt *f, int indent, size_t w, size_t *linestart) {
    const size_t len = b->len - *linestart;
    if ((int64_t)(len + w) <= (int64_t)f->linewidth - f->ndim || len <= (size_t)indent + 1 || b->oom) return;
    while (b->len > *linestart && b->p[b->len - 1] == ' ') b->p[--b->len] = '\0';
    sb_puts(b, "\n");
    *linestart = b->len;
    for (int k = 0; k <= indent; k++) sb_puts(b, " ");
}

static void emit(sbuf *b, fmt *f, int dim, int64_t base, int indent, size_t *linestart) {
    if (dim == f->ndim) {
        char buf[160];
        format_elem(f, base, buf, sizeof buf);
        sb_puts(b, buf);
        return;
    }
    sb_puts(b, "[");
    int64_t n = f->shape[dim];
    bool inner = dim == f->ndim - 1;
    for (int64_t i = 0; i < n; i++) {
        if (f->summarise && n > 2 * f->edge && i == f->edge) {
            if (inner) {
                wrap_before(b, f, indent, 3, linestart);
                sb_puts(b, "... ");
            } else {
                sb_puts(b, "...\n");
                for (int k = 0; k <= indent; k++) sb_puts(b, " ");
                *linestart = b->len - (size_t)indent - 1;
            }
            i = n - f->edge;
        }
        if (inner) wrap_before(b, f, indent, (size_t)f->width, linestart);
        emit(b, f, dim + 1, base + i * f->strides[dim], indent + 1, linestart);
        if (i < n - 1) {
            if (inner) {
                sb_puts(b, " ");
            } else {
                sb_puts(b, "\n");
                for (int k = 0; k < f->ndim - dim - 2; k++) sb_puts(b, "\n");
                *linestart = b->len;
                for (int k = 0; k <= indent; k++) sb_puts(b, " ");
            }
        }
    }
    sb_puts(b, "]");
}

static bool format_to(const npg_array *x, sbuf *b) {
    int64_t n = npg__numel(x->ndim, x->shape);
    if (n == 0) {
        sb_puts(b, "[]");
        return !b->oom;
    }
    size_t nb = (size_t)n * npg__dtype_size(x->dtype);
    void *host = malloc(nb);
    if (!host) {
        npg__set_error(NPG_ERR_OOM, "npg_format: out of host memory");
        return false;
    }
    if (npg_copy_to_host(x, host, nb) != NPG_OK) {
        free(host);
        return false;
    }
    g_dtype = x->dtype;
    npg_print_options po;
    npg_get_print_options(&po);
    fmt f = {.dtype = x->dtype, .data = host, .ndim = x->ndim, .shape = x->shape, .summarise = n > po.threshold,
             .edge = po.edgeitems, .linewidth = po.linewidth, .precision = po.precision};
    npg__contiguous_strides(x->ndim, x->shape, f.strides);
    fstats s = {0};
    if (npg_is_floating(x->dtype)) {
        visit(&f, 0, 0, stats_fn, &s);
        /* NumPy's rule, over the nonzero finite magnitudes */
        f.sci = s.min_abs_nz > 0 &&
                (s.max_abs >= 1e8 || (!po.suppress && (s.min_abs_nz < 1e-4 || s.max_abs / s.min_abs_nz > 1000.0)));
        if (f.sci) {
            f.exp_digits = 2;
            visit(&f, 0, 0, sci_digits_fn, &s);
            f.frac = s.frac_needed;
            s.width = 0;
            visit(&f, 0, 0, width_fn, &s);
            f.width = s.width;
        } else {
            visit(&f, 0, 0, width_fn, &s);
            f.frac = s.frac_needed;
            f.int_width = s.int_width;
            f.width = s.int_width + 1 + s.frac_needed;
            if (s.width > f.width) f.width = s.width; /* nan / -inf may be wider */
        }
    } else {
        visit(&f, 0, 0, int_width_fn, &s);
        f.width = s.width;
    }
    size_t linestart = b->len;
    if (x->ndim == 0) {
        char buf[160];
        if (npg_is_floating(x->dtype)) { /* like Python's repr of a float: "70.0", "1e+16", "1.5e-05" */
            const double v = get_f(&f, 0);
            if (v != v || isinf(v)) {
                fmt_pos(buf, sizeof buf, v, 0, false);
            } else {
                const int p = sci_unique_digits(v, 17);
                snprintf(buf, sizeof buf, "%.*e", p, v);
                const int ex = v == 0 ? 0 : atoi(strchr(buf, 'e') + 1);
                if (ex >= -4 && ex < 16) { /* those digits, placed: 1303157200.0, 0.00015 */
                    char dig[24];
                    int nd = 0;
                    for (const char *c = buf; *c && *c != 'e'; c++)
                        if (*c >= '0' && *c <= '9') dig[nd++] = *c;
                    char *o = buf;
                    if (v < 0 || (v == 0 && signbit(v))) *o++ = '-';
                    if (ex < 0) {
                        o += sprintf(o, "0.");
                        for (int k = 0; k < -ex - 1; k++) *o++ = '0';
                        memcpy(o, dig, (size_t)nd), o += nd;
                    } else {
                        for (int k = 0; k <= ex; k++) *o++ = k < nd ? dig[k] : '0';
                        *o++ = '.';
                        if (nd > ex + 1) memcpy(o, dig + ex + 1, (size_t)(nd - ex - 1)), o += nd - ex - 1;
                        else *o++ = '0';
                    }
                    *o = '\0';
                }
            }
        } else {
            f.width = 0;
            format_elem(&f, 0, buf, sizeof buf);
        }
        sb_puts(b, buf);
    } else {
        emit(b, &f, 0, 0, 0, &linestart);
    }
    free(host);
    if (b->oom) npg__set_error(NPG_ERR_OOM, "npg_format: out of host memory");
    return !b->oom;
}

int64_t npg_format(const npg_array *x, char *buf, size_t len) {
    if (!x) {
        npg__null_arg("npg_format");
        return -1;
    }
    sbuf b = {0};
    if (!format_to(x, &b)) {
        free(b.p);
        return -1;
    }
    if (buf && len > 0) {
        size_t k = b.len < len - 1 ? b.len : len - 1;
        memcpy(buf, b.p ? b.p : "", k);
        buf[k] = '\0';
    }
    int64_t need = (int64_t)b.len;
    free(b.p);
    return need;
}

npg_status npg_fprint(FILE *fp, const npg_array *x) {
    if (!x || !fp) {
        npg__null_arg("npg_fprint");
        return npg_last_status();
    }
    sbuf b = {0};
    if (!format_to(x, &b)) {
        free(b.p);
        return npg_last_status();
    }
    fputs(b.p ? b.p : "", fp);
    fputc('\n', fp);
    free(b.p);
    return NPG_OK;
}

npg_status npg_print(const npg_array *x) { return npg_fprint(stdout, x); }
