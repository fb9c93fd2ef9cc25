/*
 * test_bench.c — npg-bench's own logic: argument parsing (every option and
 * the errors), the median, ratios (value/ceiling, times inverted, missing ->
 * null), the JSON writer against the documented schema (parsed back by the
 * bench's reader and, when present, by Python's json), the reader on
 * malformed input, merging PyTorch's JSON, the SVG and the table, the timing
 * harness, and a smoke run of the micro set on tiny CPU sizes (finite,
 * positive figures; nothing leaks). Never asserts on a timing's size.
 *
 * The bench sources are compiled into this test directly, so it needs no
 * extra link line; the CUDA ceilings (NPG_BENCH_CUDA) are left out here.
 */
#define _POSIX_C_SOURCE 200809L
#include "test_util.h"

#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../bench/bench_util.c"
#include "../../bench/bench_report.c"
#include "../../bench/bench_torch.c"
#include "../../bench/bench_micro.c"
#include "../../bench/bench_macro.c"

static void quiet(void) { bench_quiet = true; }

TestSuite(bench, .init = quiet);

/* ---- arguments ------------------------------------------------------------------ */

static int parse(bench_opts *o, char *err, int argc, const char **argv) {
    return bench_parse_args(argc, (char **)argv, o, err, 256);
}
#define PARSE(o, err, ...) parse((o), (err), (int)(sizeof((const char *[]){"npg-bench", __VA_ARGS__}) / sizeof(char *)), \
                                 (const char *[]){"npg-bench", __VA_ARGS__})

Test(bench, args_defaults) {
    bench_opts o;
    char err[256] = "";
    const char *argv[] = {"npg-bench"};
    cr_assert_eq(parse(&o, err, 1, argv), 0);
    cr_assert(!o.quick && !o.no_torch && !o.help);
    cr_assert_eq(o.devices, 0);
    cr_assert_null(o.json_path);
    cr_assert_null(o.svg_path);
    cr_assert_null(o.filter);
    cr_assert_null(o.torch_python);
    cr_assert_eq(o.threads, 0);
    cr_assert_eq(o.reps, 0);
    cr_assert_str_eq(bench_data_dir(&o), "/usr/share/datasets/fashion-mnist");
    cr_assert(bench_selected(&o, "anything"));
}

Test(bench, args_every_option) {
    bench_opts o;
    char err[256] = "";
    cr_assert_eq(PARSE(&o, err, "--quick", "--json", "a.json", "--svg", "b.svg", "--device", "cpu", "--filter", "add",
                       "--torch", "/opt/py", "--torch-script", "t.py", "--threads", "3", "--reps", "5", "--data", "/d"),
                 0, "%s", err);
    cr_assert(o.quick);
    cr_assert_str_eq(o.json_path, "a.json");
    cr_assert_str_eq(o.svg_path, "b.svg");
    cr_assert_eq(o.devices, BENCH_DEV_CPU);
    cr_assert_str_eq(o.filter, "add");
    cr_assert_str_eq(o.torch_python, "/opt/py");
    cr_assert_str_eq(o.torch_script, "t.py");
    cr_assert_eq(o.threads, 3);
    cr_assert_eq(o.reps, 5);
    cr_assert_str_eq(bench_data_dir(&o), "/d");
    cr_assert(bench_selected(&o, "add"));
    cr_assert(bench_selected(&o, "overhead_add"));
    cr_assert(!bench_selected(&o, "mul"));

    cr_assert_eq(PARSE(&o, err, "--device", "cuda", "--no-torch"), 0);
    cr_assert_eq(o.devices, BENCH_DEV_CUDA);
    cr_assert(o.no_torch);
    cr_assert_eq(PARSE(&o, err, "--device", "all"), 0);
    cr_assert_eq(o.devices, 0);
    /* --opt=value */
    cr_assert_eq(PARSE(&o, err, "--device=cpu", "--filter=matmul", "--json=x.json", "--threads=2"), 0, "%s", err);
    cr_assert_eq(o.devices, BENCH_DEV_CPU);
    cr_assert_str_eq(o.filter, "matmul");
    cr_assert_str_eq(o.json_path, "x.json");
    cr_assert_eq(o.threads, 2);
    cr_assert_eq(PARSE(&o, err, "--help"), 1);
    cr_assert(o.help);
    cr_assert_eq(PARSE(&o, err, "-h"), 1);
}

Test(bench, args_errors) {
    bench_opts o;
    char err[256];
    struct {
        const char *argv[4];
        int argc;
        const char *needle;
    } bad[] = {
        {{"npg-bench", "--bogus"}, 2, "unknown argument"},
        {{"npg-bench", "extra"}, 2, "unknown argument"},
        {{"npg-bench", "--json"}, 2, "needs a value"},
        {{"npg-bench", "--svg"}, 2, "needs a value"},
        {{"npg-bench", "--filter"}, 2, "needs a value"},
        {{"npg-bench", "--torch"}, 2, "needs a value"},
        {{"npg-bench", "--torch-script"}, 2, "needs a value"},
        {{"npg-bench", "--data"}, 2, "needs a value"},
        {{"npg-bench", "--device"}, 2, "needs a value"},
        {{"npg-bench", "--device", "tpu"}, 3, "--device must be"},
        {{"npg-bench", "--device", "CPU"}, 3, "--device must be"},
        {{"npg-bench", "--filter", ""}, 3, "non-empty"},
        {{"npg-bench", "--json="}, 2, "non-empty"},
        {{"npg-bench", "--threads", "0"}, 3, "positive integer"},
        {{"npg-bench", "--threads", "-2"}, 3, "positive integer"},
        {{"npg-bench", "--threads", "2x"}, 3, "positive integer"},
        {{"npg-bench", "--threads", ""}, 3, "positive integer"},
        {{"npg-bench", "--reps", "65"}, 3, "up to 64"},
        {{"npg-bench", "--reps", "abc"}, 3, "positive integer"},
        {{"npg-bench", "--quick=1"}, 2, "takes no value"},
        {{"npg-bench", "--no-torch=yes"}, 2, "takes no value"},
        {{"npg-bench", "--torch", "python3", "--no-torch"}, 4, "contradict"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        int rc = bench_parse_args(bad[i].argc, (char **)bad[i].argv, &o, err, sizeof err);
        cr_assert_eq(rc, -1, "case %zu (%s %s) should fail", i, bad[i].argv[1], bad[i].argv[2] ? bad[i].argv[2] : "");
        cr_assert(strstr(err, bad[i].needle), "case %zu: message '%s' lacks '%s'", i, err, bad[i].needle);
    }
}

Test(bench, usage_names_every_option) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    bench_usage(f, "npg-bench");
    fclose(f);
    const char *opts[] = {"--device", "--filter", "--quick", "--json", "--svg", "--torch", "--no-torch",
                          "--torch-script", "--threads", "--reps", "--data", "--help"};
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) cr_assert(strstr(buf, opts[i]), "usage lacks %s", opts[i]);
    for (int i = 0; bench_workloads[i]; i++) cr_assert(strstr(buf, bench_workloads[i]), "usage lacks %s", bench_workloads[i]);
    free(buf);
}

/* ---- median, ratios, formatting ----------------------------------------------- */

Test(bench, median) {
    double a[] = {5, 1, 3};
    cr_assert_float_eq(bench_median(a, 3), 3, 0);
    double b[] = {4, 1, 3, 2};
    cr_assert_float_eq(bench_median(b, 4), 2.5, 0);
    double c[] = {7};
    cr_assert_float_eq(bench_median(c, 1), 7, 0);
    double d[] = {2, 2, 9, 2, 1};
    cr_assert_float_eq(bench_median(d, 5), 2, 0);
    cr_assert(isnan(bench_median(d, 0)));
    double e[] = {1e-6, 3e-6, 1.0}; /* an outlier does not move the median */
    cr_assert_float_eq(bench_median(e, 3), 3e-6, 0);
}

Test(bench, ratio) {
    cr_assert_float_eq(bench_ratio(9, 10, false), 0.9, 1e-15);     /* GB/s vs ceiling */
    cr_assert_float_eq(bench_ratio(12, 10, false), 1.2, 1e-15);
    cr_assert_float_eq(bench_ratio(2, 3, true), 1.5, 1e-15);       /* times: reference / value */
    cr_assert(isnan(bench_ratio(9, NAN, false)));                 /* missing ceiling -> null */
    cr_assert(isnan(bench_ratio(NAN, 10, false)));
    cr_assert(isnan(bench_ratio(9, 0, false)));
    cr_assert(isnan(bench_ratio(0, 10, true)));
    cr_assert(isnan(bench_ratio(-1, 10, false)));
    cr_assert(isnan(bench_ratio(INFINITY, 10, false)));
    bench_result r = {.value = 45, .ceiling = 50, .torch = 30, .lower_is_better = false};
    cr_assert_float_eq(bench_result_ratio(&r), 0.9, 1e-15);
    cr_assert_float_eq(bench_result_torch_ratio(&r), 1.5, 1e-15);
    r.lower_is_better = true; /* ms: npg 45, torch 30 -> npg is slower */
    cr_assert_float_eq(bench_result_torch_ratio(&r), 30.0 / 45.0, 1e-15);
    r.torch = NAN;
    cr_assert(isnan(bench_result_torch_ratio(&r)));
}

Test(bench, format_count_and_order) {
    char b[24];
    bench_format_count(1024, b, sizeof b);
    cr_assert_str_eq(b, "1K");
    bench_format_count((int64_t)1 << 24, b, sizeof b);
    cr_assert_str_eq(b, "16M");
    bench_format_count((int64_t)1 << 26, b, sizeof b);
    cr_assert_str_eq(b, "64M");
    bench_format_count(1000, b, sizeof b);
    cr_assert_str_eq(b, "1000");
    bench_format_count(1, b, sizeof b);
    cr_assert_str_eq(b, "1");

    bench_results r = {0};
    bench_results_add(&r, "matmul", "cuda", "float32", 64);
    bench_results_add(&r, "add", "cpu", "float64", 1024);
    bench_results_add(&r, "add", "cpu", "float32", 4096);
    bench_results_add(&r, "add", "cpu", "float32", 1024);
    bench_results_add(&r, "overhead_add", "cpu", "float32", 1);
    bench_results_sort(&r);
    cr_assert_str_eq(r.v[0].name, "overhead_add");
    cr_assert(!strcmp(r.v[1].name, "add") && r.v[1].size == 1024 && !strcmp(r.v[1].dtype, "float32"));
    cr_assert(r.v[2].size == 4096);
    cr_assert_str_eq(r.v[3].dtype, "float64");
    cr_assert_str_eq(r.v[4].device, "cuda");
    cr_assert(isnan(r.v[4].value) && isnan(r.v[4].ceiling) && isnan(r.v[4].torch));
    for (int i = 0; bench_workloads[i]; i++) cr_assert_eq(bench_workload_rank(bench_workloads[i]), i);
    cr_assert_eq(bench_workload_rank("nope"), -1);
    bench_results_free(&r);
}

/* ---- JSON ------------------------------------------------------------------------- */

static void sample(bench_machine *m, bench_results *r) {
    bench_opts o = {.quick = true};
    bench_machine_collect(m, &o);
    bench_result *x = bench_results_add(r, "add", "cpu", "float32", (int64_t)1 << 24);
    snprintf(x->metric, sizeof x->metric, "bandwidth");
    snprintf(x->unit, sizeof x->unit, "GB/s");
    snprintf(x->ceiling_name, sizeof x->ceiling_name, "triad");
    x->value = 15;
    x->ceiling = 20;
    x->torch = 10;
    x = bench_results_add(r, "overhead_add", "cpu", "float32", 1); /* no ceiling, no torch */
    snprintf(x->metric, sizeof x->metric, "time");
    snprintf(x->unit, sizeof x->unit, "us");
    x->lower_is_better = true;
    x->value = 0.5;
    x = bench_results_add(r, "cnn_step", "cpu", "float32", 128); /* failed, with a note to escape */
    snprintf(x->metric, sizeof x->metric, "time");
    snprintf(x->unit, sizeof x->unit, "ms");
    x->lower_is_better = true;
    snprintf(x->note, sizeof x->note, "failed: \"im2col\"\tnot implemented\\ <here>\n");
}

static char *json_of(const bench_machine *m, const bench_results *r) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cr_assert_eq(bench_write_json(f, m, r), 0);
    fclose(f);
    return buf;
}

static const bench_json *get_typed(const bench_json *o, const char *key, bench_json_type t1, bench_json_type t2) {
    const bench_json *v = bench_json_get(o, key);
    cr_assert_not_null(v, "missing key %s", key);
    cr_assert(v->type == t1 || v->type == t2, "key %s has type %d", key, (int)v->type);
    return v;
}

Test(bench, json_schema) {
    bench_machine m;
    bench_results r = {0};
    sample(&m, &r);
    char *text = json_of(&m, &r);
    char err[160];
    bench_json *doc = bench_json_parse(text, err, sizeof err);
    cr_assert_not_null(doc, "the writer's JSON does not parse: %s\n%s", err, text);
    cr_assert_eq(doc->type, BENCH_JSON_OBJECT);

    const bench_json *mach = get_typed(doc, "machine", BENCH_JSON_OBJECT, BENCH_JSON_OBJECT);
    get_typed(mach, "cpu", BENCH_JSON_STRING, BENCH_JSON_STRING);
    cr_assert_geq(get_typed(mach, "cores", BENCH_JSON_NUMBER, BENCH_JSON_NUMBER)->number, 1);
    cr_assert_geq(get_typed(mach, "threads", BENCH_JSON_NUMBER, BENCH_JSON_NUMBER)->number, 1);
    get_typed(mach, "gpu", BENCH_JSON_STRING, BENCH_JSON_NULL);
    get_typed(mach, "os", BENCH_JSON_STRING, BENCH_JSON_STRING);
    cr_assert_str_eq(get_typed(mach, "npg_version", BENCH_JSON_STRING, BENCH_JSON_STRING)->string, NPG_VERSION);
    get_typed(mach, "torch_version", BENCH_JSON_STRING, BENCH_JSON_NULL);
    const bench_json *date = get_typed(mach, "date", BENCH_JSON_STRING, BENCH_JSON_STRING);
    cr_assert_eq(strlen(date->string), 20, "date %s is not YYYY-MM-DDTHH:MM:SSZ", date->string);
    cr_assert(get_typed(mach, "quick", BENCH_JSON_BOOL, BENCH_JSON_BOOL)->boolean);

    const bench_json *res = get_typed(doc, "results", BENCH_JSON_ARRAY, BENCH_JSON_ARRAY);
    cr_assert_eq(res->n, 3);
    for (int i = 0; i < res->n; i++) {
        const bench_json *e = &res->items[i];
        cr_assert_eq(e->type, BENCH_JSON_OBJECT);
        get_typed(e, "name", BENCH_JSON_STRING, BENCH_JSON_STRING);
        get_typed(e, "device", BENCH_JSON_STRING, BENCH_JSON_STRING);
        get_typed(e, "dtype", BENCH_JSON_STRING, BENCH_JSON_STRING);
        get_typed(e, "size", BENCH_JSON_NUMBER, BENCH_JSON_NUMBER);
        get_typed(e, "metric", BENCH_JSON_STRING, BENCH_JSON_STRING);
        get_typed(e, "unit", BENCH_JSON_STRING, BENCH_JSON_STRING);
        get_typed(e, "value", BENCH_JSON_NUMBER, BENCH_JSON_NULL);
        get_typed(e, "ceiling_name", BENCH_JSON_STRING, BENCH_JSON_NULL);
        get_typed(e, "ceiling", BENCH_JSON_NUMBER, BENCH_JSON_NULL);
        get_typed(e, "ratio", BENCH_JSON_NUMBER, BENCH_JSON_NULL);
        get_typed(e, "torch", BENCH_JSON_NUMBER, BENCH_JSON_NULL);
        get_typed(e, "torch_ratio", BENCH_JSON_NUMBER, BENCH_JSON_NULL);
    }
    const bench_json *a = &res->items[0];
    cr_assert_str_eq(bench_json_get(a, "name")->string, "add");
    cr_assert_float_eq(bench_json_get(a, "size")->number, 16777216, 0);
    cr_assert_str_eq(bench_json_get(a, "ceiling_name")->string, "triad");
    cr_assert_float_eq(bench_json_get(a, "ratio")->number, 0.75, 1e-6);       /* 15 / 20 */
    cr_assert_float_eq(bench_json_get(a, "torch_ratio")->number, 1.5, 1e-6);  /* 15 / 10 */
    const bench_json *b = &res->items[1];
    cr_assert_eq(bench_json_get(b, "ceiling_name")->type, BENCH_JSON_NULL);
    cr_assert_eq(bench_json_get(b, "ceiling")->type, BENCH_JSON_NULL);
    cr_assert_eq(bench_json_get(b, "ratio")->type, BENCH_JSON_NULL);           /* missing ceiling -> null */
    cr_assert_eq(bench_json_get(b, "torch_ratio")->type, BENCH_JSON_NULL);
    const bench_json *c = &res->items[2];
    cr_assert_eq(bench_json_get(c, "value")->type, BENCH_JSON_NULL);           /* NaN -> null */
    cr_assert_str_eq(bench_json_get(c, "note")->string, r.v[2].note);          /* escapes round-trip */
    bench_json_free(doc);

    /* and Python's json module agrees, when Debian's python3 is there */
    if (access("/usr/bin/python3", X_OK) == 0) {
        char path[] = "/tmp/npg-bench-test-XXXXXX";
        int fd = mkstemp(path);
        cr_assert_geq(fd, 0);
        FILE *f = fdopen(fd, "w");
        fputs(text, f);
        fclose(f);
        char cmd[256];
        snprintf(cmd, sizeof cmd,
                 "/usr/bin/python3 -c \"import json; d=json.load(open('%s')); "
                 "assert len(d['results']) == 3 and d['machine']['npg_version']\"",
                 path);
        int rc = system(cmd);
        unlink(path);
        cr_assert_eq(rc, 0, "python3 json.load rejected the document");
    }
    free(text);
    bench_results_free(&r);
}

Test(bench, json_empty_results) {
    bench_machine m;
    bench_opts o = {0};
    bench_machine_collect(&m, &o);
    bench_results r = {0};
    char *text = json_of(&m, &r);
    bench_json *doc = bench_json_parse(text, NULL, 0);
    cr_assert_not_null(doc, "%s", text);
    cr_assert_eq(bench_json_get(doc, "results")->n, 0);
    bench_json_free(doc);
    free(text);
}

Test(bench, json_reader) {
    char err[160];
    bench_json *v = bench_json_parse(" {\"a\": [1, -2.5e3, true, false, null, \"x\\u00e9\\n\\ud83d\\ude00\"], \"b\": {}} ",
                                     err, sizeof err);
    cr_assert_not_null(v, "%s", err);
    const bench_json *a = bench_json_get(v, "a");
    cr_assert_eq(a->n, 6);
    cr_assert_float_eq(a->items[1].number, -2500, 0);
    cr_assert(a->items[2].boolean && !a->items[3].boolean);
    cr_assert_eq(a->items[4].type, BENCH_JSON_NULL);
    cr_assert_str_eq(a->items[5].string, "x\xc3\xa9\n\xf0\x9f\x98\x80");
    cr_assert_eq(bench_json_get(v, "b")->type, BENCH_JSON_OBJECT);
    cr_assert_null(bench_json_get(v, "c"));
    bench_json_free(v);
    const char *bad[] = {"", "{", "[1,]", "{\"a\" 1}", "{\"a\":1,}", "\"abc", "01", "1.", "1e", "-", "tru",
                         "[1] x", "{1: 2}", "\"\\q\"", "\"\\u12g4\"", "[\"a\nb\"]", "nul"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        v = bench_json_parse(bad[i], err, sizeof err);
        cr_assert_null(v, "'%s' should not parse", bad[i]);
        cr_assert(err[0], "no message for '%s'", bad[i]);
    }
    cr_assert_null(bench_json_parse(NULL, err, sizeof err));
}

/* ---- PyTorch's JSON ------------------------------------------------------------------ */

Test(bench, torch_merge) {
    bench_machine m;
    bench_results r = {0};
    sample(&m, &r);
    const char *doc =
        "{\"torch_version\": \"9.9.9\", \"threads\": 2, \"cuda\": null, \"note\": \"PyTorch 9.9.9, 2 CPU threads\","
        " \"results\": ["
        "{\"name\": \"add\", \"device\": \"cpu\", \"dtype\": \"float32\", \"size\": 16777216, \"value\": 12.5},"
        "{\"name\": \"add\", \"device\": \"cuda\", \"dtype\": \"float32\", \"size\": 16777216, \"value\": 99},"
        "{\"name\": \"overhead_add\", \"device\": \"cpu\", \"dtype\": \"float32\", \"size\": 1, \"value\": 2.0},"
        "{\"name\": \"cnn_step\", \"device\": \"cpu\", \"dtype\": \"float32\", \"size\": 128, \"value\": null,"
        " \"error\": \"RuntimeError: boom\"}]}";
    r.v[2].note[0] = 0;
    cr_assert_eq(bench_torch_merge(doc, &r, &m), 2);
    cr_assert_float_eq(r.v[0].torch, 12.5, 0);
    cr_assert_float_eq(r.v[1].torch, 2.0, 0);
    cr_assert_float_eq(bench_result_torch_ratio(&r.v[1]), 4.0, 1e-12); /* 2 us vs 0.5 us */
    cr_assert(isnan(r.v[2].torch));
    cr_assert(strstr(r.v[2].note, "torch: RuntimeError: boom"), "%s", r.v[2].note);
    cr_assert(m.has_torch);
    cr_assert_str_eq(m.torch_version, "9.9.9");
    cr_assert_str_eq(m.torch_note, "PyTorch 9.9.9, 2 CPU threads");
    cr_assert_eq(bench_torch_merge("{\"results\": 3}", &r, &m), -1);
    cr_assert_eq(bench_torch_merge("not json", &r, &m), -1);
    bench_results_free(&r);
}

Test(bench, torch_absent_is_reported) {
    bench_machine m;
    bench_results r = {0};
    sample(&m, &r);
    bench_opts o = {.torch_python = "/nonexistent/python3", .torch_script = "/nonexistent/torch_ref.py"};
    cr_assert_eq(bench_torch_run(&o, &r, &m), -1);
    cr_assert(strstr(m.torch_note, "not found"), "%s", m.torch_note);
    cr_assert(!m.has_torch);
    o.torch_script = NULL; /* the script is found, the Python is not */
    cr_assert_eq(bench_torch_run(&o, &r, &m), -1);
    cr_assert(strstr(m.torch_note, "not found"), "%s", m.torch_note);
    o = (bench_opts){.no_torch = true};
    cr_assert_eq(bench_torch_run(&o, &r, &m), -1);
    cr_assert(strstr(m.torch_note, "--no-torch"), "%s", m.torch_note);
    bench_results_free(&r);
}

/* ---- table and SVG ----------------------------------------------------------------------- */

Test(bench, table_and_svg) {
    bench_machine m;
    bench_results r = {0};
    sample(&m, &r);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    bench_print_table(f, &m, &r);
    fclose(f);
    cr_assert(strstr(buf, "overhead_add") && strstr(buf, "triad") && strstr(buf, "0.75") && strstr(buf, "1.50"), "%s",
              buf);
    cr_assert(strstr(buf, m.cpu));
    free(buf);
    buf = NULL;
    f = open_memstream(&buf, &len);
    cr_assert_eq(bench_write_svg(f, &m, &r), 0);
    fclose(f);
    cr_assert_eq(strncmp(buf, "<svg", 4), 0);
    cr_assert(len > 7 && !strcmp(buf + len - 7, "</svg>\n"));
    cr_assert(strstr(buf, "add cpu float32 16M"));
    cr_assert_null(strstr(buf, "<here>"));
    free(buf);
    bench_results_free(&r);
}

/* ---- timing --------------------------------------------------------------------------------- */

static int spin_body(void *ctx, int64_t iters) {
    volatile double *acc = ctx;
    for (int64_t i = 0; i < iters; i++)
        for (int k = 0; k < 100; k++) *acc += 1e-9 * k;
    return 0;
}

static int failing_body(void *ctx, int64_t iters) {
    (void)ctx;
    (void)iters;
    return -1;
}

static int g_syncs;
static void count_sync(void *ctx) {
    (void)ctx;
    g_syncs++;
}

Test(bench, timing_harness) {
    volatile double acc = 0;
    bench_timing t = {.min_rep_s = 0.001, .reps = 3, .max_total_s = 1};
    g_syncs = 0;
    double s = bench_time(spin_body, count_sync, (void *)&acc, &t);
    cr_assert(isfinite(s) && s > 0, "seconds per iteration %g", s);
    cr_assert_geq(g_syncs, 2 * 4, "every repetition is wrapped in sync (%d)", g_syncs);
    cr_assert(isnan(bench_time(failing_body, NULL, NULL, &t)));
    bench_opts q = {.quick = true}, full = {0}, reps = {.reps = 9};
    cr_assert_eq(bench_timing_for(&q).reps, 3);
    cr_assert_eq(bench_timing_for(&full).reps, 7);
    cr_assert_eq(bench_timing_for(&reps).reps, 9);
}

static int g_order[16], g_norder;
static int tag_body(void *ctx, int64_t iters) {
    (void)iters;
    if (g_norder < 16) g_order[g_norder++] = *(int *)ctx;
    return 0;
}

Test(bench, timing_group_interleaves) {
    int a = 1, b = 2, c = 3;
    bench_job jobs[3] = {{tag_body, NULL, &a}, {failing_body, NULL, NULL}, {tag_body, NULL, &c}};
    (void)b;
    /* min_rep_s 0: one calibration run and one warm-up each, then the reps alternate */
    bench_timing t = {.min_rep_s = 0, .reps = 3, .max_total_s = 10};
    double out[3];
    g_norder = 0;
    bench_time_group(3, jobs, &t, out);
    cr_assert(isfinite(out[0]) && out[0] >= 0);
    cr_assert(isnan(out[1]), "a failing job is NaN");
    cr_assert(isfinite(out[2]) && out[2] >= 0, "and does not stop the others");
    cr_assert_eq(g_norder, 10, "calls: %d", g_norder);
    const int want[10] = {1, 1, 3, 3, 1, 3, 1, 3, 1, 3};
    for (int i = 0; i < 10; i++) cr_assert_eq(g_order[i], want[i], "call %d was job %d", i, g_order[i]);
}

/* ---- smoke: the micro set on tiny CPU sizes ------------------------------------------------ */

Test(bench, smoke_micro_cpu, .timeout = 300) {
    t_live live = t_live_now();
    bench_opts o = {.tiny = true, .devices = BENCH_DEV_CPU};
    bench_results r = {0};
    int n = bench_run_micro(&o, NPG_CPU, &r);
    cr_assert_eq(n, r.n);
    /* 2 overhead + 6 ops x 2 sizes x 4 dtypes (float32, float64, bfloat16, float16) +
     * 5 ops (no exp) x 2 sizes in int8 + matmul in the 4 float dtypes and solve in
     * 2, 1 size each */
    cr_assert_eq(r.n, 2 + 48 + 10 + 4 + 2, "got %d results", r.n);
    for (int i = 0; i < r.n; i++) {
        const bench_result *x = &r.v[i];
        cr_assert(isfinite(x->value) && x->value > 0, "%s %s %s: value %g (%s)", x->name, x->dtype, x->size_label,
                  x->value, x->note);
        cr_assert(x->unit[0] && x->metric[0]);
        if (strncmp(x->name, "overhead", 8) != 0) {
            cr_assert(x->ceiling_name[0], "%s has no ceiling", x->name);
            cr_assert(isfinite(x->ceiling) && x->ceiling > 0, "%s %s: ceiling %g", x->name, x->size_label, x->ceiling);
            double ratio = bench_result_ratio(x);
            cr_assert(isfinite(ratio) && ratio > 0);
        }
    }
    bench_results_free(&r);
    t_assert_no_leak(live, "bench_run_micro");
}

Test(bench, smoke_filter_and_mlp_step, .timeout = 300) {
    t_live live = t_live_now();
    bench_opts o = {.tiny = true, .filter = "mlp_step"};
    bench_results r = {0};
    cr_assert_eq(bench_run_micro(&o, NPG_CPU, &r), 0, "the filter leaves no micro workload");
    cr_assert_eq(bench_run_macro(&o, NPG_CPU, &r), 1);
    const bench_result *x = &r.v[0];
    cr_assert_str_eq(x->name, "mlp_step");
    cr_assert_eq(x->size, 128);
    cr_assert(isfinite(x->value) && x->value > 0, "mlp_step: %g (%s)", x->value, x->note);
    cr_assert(isfinite(x->ceiling) && x->ceiling > 0, "gemm-only ceiling %g", x->ceiling);
    bench_results_free(&r);
    t_assert_no_leak(live, "bench_run_macro");
}

Test(bench, epoch_without_data_is_skipped) {
    bench_opts o = {.tiny = true, .filter = "mlp_epoch", .data_dir = "/nonexistent"};
    bench_results r = {0};
    cr_assert_eq(bench_run_macro(&o, NPG_CPU, &r), 1);
    cr_assert(isnan(r.v[0].value));
    cr_assert(strstr(r.v[0].note, "skipped") && strstr(r.v[0].note, "/nonexistent"), "%s", r.v[0].note);
    bench_results_free(&r);
}
