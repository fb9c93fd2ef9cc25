/*
 * bench_report.c — what npg-bench writes and reads: the stdout table, the
 * JSON document, the SVG bar chart, and a small JSON reader (for
 * torch_ref.py's output and the tests). The reader keeps the whole document
 * in memory and handles what JSON allows; it does not stream.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

/* ---- JSON writer ----------------------------------------------------------- */

static void json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (*p < 0x20) fprintf(f, "\\u%04x", *p);
            else fputc(*p, f);
        }
    }
    fputc('"', f);
}

static void json_string_or_null(FILE *f, const char *s, bool present) {
    if (present && s && *s) json_string(f, s);
    else fputs("null", f);
}

static void json_number(FILE *f, double v) {
    if (isfinite(v)) fprintf(f, "%.6g", v);
    else fputs("null", f);
}

int bench_write_json(FILE *f, const bench_machine *m, const bench_results *r) {
    fputs("{\n  \"machine\": {\n    \"cpu\": ", f);
    json_string(f, m->cpu);
    fprintf(f, ",\n    \"cores\": %d,\n    \"threads\": %d,\n    \"gpu\": ", m->cores, m->threads);
    json_string_or_null(f, m->gpu, m->has_gpu);
    fputs(",\n    \"os\": ", f);
    json_string(f, m->os);
    fputs(",\n    \"npg_version\": ", f);
    json_string(f, m->npg_version);
    fputs(",\n    \"blas\": ", f);
    json_string(f, m->blas);
    fputs(",\n    \"torch_version\": ", f);
    json_string_or_null(f, m->torch_version, m->has_torch);
    fputs(",\n    \"torch_note\": ", f);
    json_string(f, m->torch_note);
    fputs(",\n    \"date\": ", f);
    json_string(f, m->date);
    fprintf(f, ",\n    \"quick\": %s\n  },\n  \"results\": [", m->quick ? "true" : "false");
    for (int i = 0; i < r->n; i++) {
        const bench_result *x = &r->v[i];
        fputs(i ? ",\n    {" : "\n    {", f);
        fputs("\"name\": ", f);
        json_string(f, x->name);
        fputs(", \"device\": ", f);
        json_string(f, x->device);
        fputs(", \"dtype\": ", f);
        json_string(f, x->dtype);
        fprintf(f, ", \"size\": %lld, \"metric\": ", (long long)x->size);
        json_string(f, x->metric);
        fputs(", \"unit\": ", f);
        json_string(f, x->unit);
        fputs(", \"value\": ", f);
        json_number(f, x->value);
        fputs(", \"ceiling_name\": ", f);
        json_string_or_null(f, x->ceiling_name, true);
        fputs(", \"ceiling\": ", f);
        json_number(f, x->ceiling_name[0] ? x->ceiling : NAN);
        fputs(", \"ratio\": ", f);
        json_number(f, x->ceiling_name[0] ? bench_result_ratio(x) : NAN);
        fputs(", \"torch\": ", f);
        json_number(f, x->torch);
        fputs(", \"torch_ratio\": ", f);
        json_number(f, bench_result_torch_ratio(x));
        fputs(", \"note\": ", f);
        json_string_or_null(f, x->note, true);
        fputc('}', f);
    }
    fputs(r->n ? "\n  ]\n}\n" : "]\n}\n", f);
    return ferror(f) ? -1 : 0;
}

/* ---- JSON reader ------------------------------------------------------------- */

typedef struct jparser {
    const char *p;
    char *err;
    size_t errlen;
    int depth;
} jparser;

static int jfail(jparser *j, const char *what) {
    if (j->err && j->errlen && !j->err[0]) snprintf(j->err, j->errlen, "%s near '%.20s'", what, j->p);
    return -1;
}

static void jskip(jparser *j) {
    while (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r') j->p++;
}

static void json_clear(bench_json *v) {
    if (!v) return;
    free(v->string);
    for (int i = 0; i < v->n; i++) {
        json_clear(&v->items[i]);
        if (v->keys) free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    memset(v, 0, sizeof *v);
}

static void put_utf8(char *out, size_t *o, unsigned cp) {
    if (cp < 0x80) out[(*o)++] = (char)cp;
    else if (cp < 0x800) {
        out[(*o)++] = (char)(0xC0 | (cp >> 6));
        out[(*o)++] = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out[(*o)++] = (char)(0xE0 | (cp >> 12));
        out[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[(*o)++] = (char)(0x80 | (cp & 0x3F));
    } else {
        out[(*o)++] = (char)(0xF0 | (cp >> 18));
        out[(*o)++] = (char)(0x80 | ((cp >> 12) & 0x3F));
        out[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[(*o)++] = (char)(0x80 | (cp & 0x3F));
    }
}

static int hex4(const char *s, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return -1;
    }
    *out = v;
    return 0;
}

/* A string starting at the opening quote; *out is malloc'd. */
static int jstring(jparser *j, char **out) {
    if (*j->p != '"') return jfail(j, "expected a string");
    const char *s = ++j->p;
    size_t cap = 1;
    for (const char *q = s; *q && *q != '"'; q++, cap++) /* the text never grows when unescaped */
        if (*q == '\\' && q[1]) q++, cap++;
    char *buf = malloc(cap + 4);
    if (!buf) return jfail(j, "out of memory");
    size_t o = 0;
    for (;;) {
        unsigned char c = (unsigned char)*j->p;
        if (!c) {
            free(buf);
            return jfail(j, "unterminated string");
        }
        if (c == '"') {
            j->p++;
            break;
        }
        if (c < 0x20) {
            free(buf);
            return jfail(j, "control character in a string");
        }
        if (c != '\\') {
            buf[o++] = (char)c;
            j->p++;
            continue;
        }
        char e = j->p[1];
        j->p += 2;
        switch (e) {
        case '"': buf[o++] = '"'; break;
        case '\\': buf[o++] = '\\'; break;
        case '/': buf[o++] = '/'; break;
        case 'b': buf[o++] = '\b'; break;
        case 'f': buf[o++] = '\f'; break;
        case 'n': buf[o++] = '\n'; break;
        case 'r': buf[o++] = '\r'; break;
        case 't': buf[o++] = '\t'; break;
        case 'u': {
            unsigned cp;
            if (hex4(j->p, &cp) != 0) {
                free(buf);
                return jfail(j, "bad \\u escape");
            }
            j->p += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && j->p[0] == '\\' && j->p[1] == 'u') {
                unsigned lo;
                if (hex4(j->p + 2, &lo) == 0 && lo >= 0xDC00 && lo < 0xE000) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    j->p += 6;
                }
            }
            put_utf8(buf, &o, cp);
            break;
        }
        default: free(buf); return jfail(j, "bad escape");
        }
    }
    buf[o] = 0;
    *out = buf;
    return 0;
}

static int jvalue(jparser *j, bench_json *v);

static int jappend(jparser *j, bench_json *v, int *cap, char *key) {
    if (v->n == *cap) {
        int nc = *cap ? 2 * *cap : 8;
        bench_json *items = realloc(v->items, (size_t)nc * sizeof *items);
        if (!items) return free(key), jfail(j, "out of memory");
        v->items = items;
        if (v->type == BENCH_JSON_OBJECT) {
            char **keys = realloc(v->keys, (size_t)nc * sizeof *keys);
            if (!keys) return free(key), jfail(j, "out of memory");
            v->keys = keys;
        }
        *cap = nc;
    }
    bench_json *item = &v->items[v->n];
    memset(item, 0, sizeof *item);
    if (v->type == BENCH_JSON_OBJECT) v->keys[v->n] = key;
    v->n++;
    return jvalue(j, item);
}

static int jvalue(jparser *j, bench_json *v) {
    memset(v, 0, sizeof *v);
    if (++j->depth > 200) return jfail(j, "nesting too deep");
    jskip(j);
    int rc = 0;
    char c = *j->p;
    if (c == '{' || c == '[') {
        bool obj = c == '{';
        v->type = obj ? BENCH_JSON_OBJECT : BENCH_JSON_ARRAY;
        j->p++;
        jskip(j);
        int cap = 0;
        if (*j->p == (obj ? '}' : ']')) {
            j->p++;
        } else {
            for (;;) {
                char *key = NULL;
                jskip(j);
                if (obj) {
                    if (jstring(j, &key) != 0) return -1;
                    jskip(j);
                    if (*j->p != ':') return free(key), jfail(j, "expected ':'");
                    j->p++;
                }
                if (jappend(j, v, &cap, key) != 0) return -1;
                jskip(j);
                if (*j->p == ',') {
                    j->p++;
                    continue;
                }
                if (*j->p == (obj ? '}' : ']')) {
                    j->p++;
                    break;
                }
                return jfail(j, obj ? "expected ',' or '}'" : "expected ',' or ']'");
            }
        }
    } else if (c == '"') {
        v->type = BENCH_JSON_STRING;
        rc = jstring(j, &v->string);
    } else if (!strncmp(j->p, "true", 4) || !strncmp(j->p, "false", 5)) {
        v->type = BENCH_JSON_BOOL;
        v->boolean = c == 't';
        j->p += v->boolean ? 4 : 5;
    } else if (!strncmp(j->p, "null", 4)) {
        v->type = BENCH_JSON_NULL;
        j->p += 4;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        /* JSON's grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
        const char *q = j->p;
        if (*q == '-') q++;
        if (*q == '0') q++;
        else if (*q >= '1' && *q <= '9')
            while (*q >= '0' && *q <= '9') q++;
        else return jfail(j, "bad number");
        if (*q == '.') {
            q++;
            if (!(*q >= '0' && *q <= '9')) return jfail(j, "bad number");
            while (*q >= '0' && *q <= '9') q++;
        }
        if (*q == 'e' || *q == 'E') {
            q++;
            if (*q == '+' || *q == '-') q++;
            if (!(*q >= '0' && *q <= '9')) return jfail(j, "bad number");
            while (*q >= '0' && *q <= '9') q++;
        }
        v->type = BENCH_JSON_NUMBER;
        v->number = strtod(j->p, NULL);
        j->p = q;
    } else {
        rc = jfail(j, "unexpected character");
    }
    j->depth--;
    return rc;
}

bench_json *bench_json_parse(const char *text, char *err, size_t errlen) {
    if (err && errlen) err[0] = 0;
    if (!text) {
        if (err && errlen) snprintf(err, errlen, "no text");
        return NULL;
    }
    jparser j = {.p = text, .err = err, .errlen = errlen};
    bench_json *v = calloc(1, sizeof *v);
    if (!v) return NULL;
    if (jvalue(&j, v) != 0) {
        bench_json_free(v);
        return NULL;
    }
    jskip(&j);
    if (*j.p) {
        jfail(&j, "trailing characters");
        bench_json_free(v);
        return NULL;
    }
    return v;
}

void bench_json_free(bench_json *v) {
    if (!v) return;
    json_clear(v);
    free(v);
}

const bench_json *bench_json_get(const bench_json *obj, const char *key) {
    if (!obj || obj->type != BENCH_JSON_OBJECT) return NULL;
    for (int i = 0; i < obj->n; i++)
        if (!strcmp(obj->keys[i], key)) return &obj->items[i];
    return NULL;
}

/* ---- table ------------------------------------------------------------------- */

/* A figure with its unit, about four significant digits. */
static void fmt_value(char *buf, size_t len, double v, const char *unit) {
    if (!isfinite(v)) {
        snprintf(buf, len, "-");
        return;
    }
    double a = fabs(v);
    const char *f = a >= 1000 ? "%.0f %s" : a >= 100 ? "%.1f %s" : a >= 10 ? "%.2f %s" : a >= 1 ? "%.3f %s" : "%.3g %s";
    snprintf(buf, len, f, v, unit);
}

static void fmt_ratio(char *buf, size_t len, double r) {
    if (!isfinite(r)) snprintf(buf, len, "-");
    else snprintf(buf, len, "%.2f", r);
}

void bench_print_table(FILE *f, const bench_machine *m, const bench_results *r) {
    fprintf(f, "npg-bench %s%s  %s\n", m->npg_version, m->quick ? " (--quick)" : "", m->date);
    fprintf(f, "cpu: %s, %d logical processors, npg threads %d; %s\n", m->cpu, m->cores, m->threads, m->os);
    fprintf(f, "gpu: %s\n", m->has_gpu ? m->gpu : "none (no CUDA device available to npg)");
    fprintf(f, "blas: %s\n", m->blas);
    fprintf(f, "torch: %s%s\n", m->torch_note[0] ? m->torch_note : "not run",
            m->has_torch ? " (passive OpenMP waiting: PyTorch's default active waiting slows its CPU MLP step)" : "");
    fprintf(f, "ratios are speed ratios (>1: npg faster than the reference); medians after warm-up\n\n");
    fprintf(f, "%-16s %-5s %-7s %-6s %13s  %-20s %13s %7s %13s %8s\n", "workload", "dev", "dtype", "size", "npg",
            "ceiling", "", "/ceil", "torch", "/torch");
    const char *last = "";
    for (int i = 0; i < r->n; i++) {
        const bench_result *x = &r->v[i];
        if (i && (strcmp(last, x->name) || strcmp(x->device, r->v[i - 1].device))) fputc('\n', f);
        last = x->name;
        char v[32], c[32], t[32], rc[16], rt[16];
        fmt_value(v, sizeof v, x->value, x->unit);
        fmt_value(c, sizeof c, x->ceiling_name[0] ? x->ceiling : NAN, x->unit);
        fmt_value(t, sizeof t, x->torch, x->unit);
        fmt_ratio(rc, sizeof rc, x->ceiling_name[0] ? bench_result_ratio(x) : NAN);
        fmt_ratio(rt, sizeof rt, bench_result_torch_ratio(x));
        fprintf(f, "%-16s %-5s %-7s %-6s %13s  %-20s %13s %7s %13s %8s", x->name, x->device, x->dtype, x->size_label,
                v, x->ceiling_name[0] ? x->ceiling_name : "-", c, rc, t, rt);
        if (x->note[0]) fprintf(f, "  %s", x->note);
        fputc('\n', f);
    }
    fprintf(f, "\nGB/s counts bytes read + written. Ceilings, each timed interleaved with its npg figure:\n"
               "  copy: memcpy split over npg's threads; triad: STREAM a = b + s*c (on the CPU the better of 1\n"
               "  and N threads below 1M elements); d2d copy: cudaMemcpyAsync or a copy kernel, the better;\n"
               "  cblas/cublas gemm: a direct call on the same buffers; gemm-only: the MLP step's 8 GEMMs alone.\n");
}

/* ---- SVG -------------------------------------------------------------------- */

static void svg_text(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '&') fputs("&amp;", f);
        else if (*s == '"') fputs("&quot;", f);
        else fputc(*s, f);
    }
}

/* Speed (higher is better) for a figure. */
static double speed(double v, bool lower_is_better) {
    if (!isfinite(v) || v <= 0) return NAN;
    return lower_is_better ? 1.0 / v : v;
}

int bench_write_svg(FILE *f, const bench_machine *m, const bench_results *r) {
    int rows = 0;
    for (int i = 0; i < r->n; i++)
        if (isfinite(r->v[i].value) || isfinite(r->v[i].torch)) rows++;
    const int W = 1180, L = 300, top = 70, rowh = 34, barh = 9, right = 350;
    int H = top + rows * rowh + 40;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" "
               "font-size=\"11\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", W, H);
    fprintf(f, "<text x=\"10\" y=\"20\" font-size=\"14\">npg-bench %s: ", m->npg_version);
    svg_text(f, m->cpu);
    fprintf(f, " (%d threads)%s", m->threads, m->has_gpu ? ", " : "");
    if (m->has_gpu) svg_text(f, m->gpu);
    fprintf(f, ", %s</text>\n", m->date);
    fprintf(f, "<text x=\"10\" y=\"38\">relative speed per workload (longest bar = fastest of the three); "
               "label: npg's figure and ratios</text>\n");
    const char *col[3] = {"#36c", "#999", "#e80"}, *lab[3] = {"npg", "ceiling", "PyTorch"};
    for (int k = 0; k < 3; k++)
        fprintf(f, "<rect x=\"%d\" y=\"48\" width=\"12\" height=\"10\" fill=\"%s\"/><text x=\"%d\" y=\"57\">%s</text>\n",
                L + 100 * k, col[k], L + 100 * k + 16, lab[k]);
    int row = 0;
    for (int i = 0; i < r->n; i++) {
        const bench_result *x = &r->v[i];
        if (!(isfinite(x->value) || isfinite(x->torch))) continue;
        double s[3] = {speed(x->value, x->lower_is_better),
                       x->ceiling_name[0] ? speed(x->ceiling, x->lower_is_better) : NAN,
                       speed(x->torch, x->lower_is_better)};
        double mx = 0;
        for (int k = 0; k < 3; k++)
            if (isfinite(s[k]) && s[k] > mx) mx = s[k];
        int y = top + row * rowh;
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", L - 8, y + 15);
        char label[160];
        snprintf(label, sizeof label, "%s %s %s %s", x->name, x->device, x->dtype, x->size_label);
        svg_text(f, label);
        fputs("</text>\n", f);
        for (int k = 0; k < 3; k++) {
            if (!isfinite(s[k]) || mx <= 0) continue;
            double w = (W - L - right) * s[k] / mx;
            fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"/>\n", L, y + 2 + k * (barh + 1),
                    w, barh, col[k]);
        }
        char v[32], rc[16], rt[16];
        fmt_value(v, sizeof v, x->value, x->unit);
        fmt_ratio(rc, sizeof rc, x->ceiling_name[0] ? bench_result_ratio(x) : NAN);
        fmt_ratio(rt, sizeof rt, bench_result_torch_ratio(x));
        fprintf(f, "<text x=\"%d\" y=\"%d\">", W - right + 6, y + 15);
        snprintf(label, sizeof label, "%s  ceil x%s  torch x%s", v, rc, rt);
        svg_text(f, label);
        fputs("</text>\n", f);
        row++;
    }
    fputs("</svg>\n", f);
    return ferror(f) ? -1 : 0;
}
