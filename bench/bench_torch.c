/*
 * bench_torch.c — the PyTorch side of npg-bench. npg-bench writes the list
 * of workloads it measured (a plan: "name device dtype size" per line), runs
 * bench/torch_ref.py on it in a child process with the same thread count and
 * OMP_WAIT_POLICY=PASSIVE (PyTorch's OpenMP otherwise spins between ops,
 * which slows its CPU MLP step on a small machine), reads the JSON it writes
 * and puts each PyTorch figure next to npg's. When no Python with PyTorch is
 * found it says so and the run carries on without the column.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#ifndef NPG_BENCH_SOURCE_DIR
#define NPG_BENCH_SOURCE_DIR "bench"
#endif

/* ---- merging ------------------------------------------------------------------ */

static const char *jstr(const bench_json *o, const char *key) {
    const bench_json *v = bench_json_get(o, key);
    return v && v->type == BENCH_JSON_STRING ? v->string : NULL;
}

int bench_torch_merge(const char *json_text, bench_results *r, bench_machine *m) {
    char err[160];
    bench_json *doc = bench_json_parse(json_text, err, sizeof err);
    if (!doc) return -1;
    const bench_json *res = bench_json_get(doc, "results");
    if (doc->type != BENCH_JSON_OBJECT || !res || res->type != BENCH_JSON_ARRAY) {
        bench_json_free(doc);
        return -1;
    }
    const char *ver = jstr(doc, "torch_version"), *note = jstr(doc, "note");
    if (ver) {
        m->has_torch = true;
        snprintf(m->torch_version, sizeof m->torch_version, "%s", ver);
    }
    if (note) snprintf(m->torch_note, sizeof m->torch_note, "%s", note);
    int matched = 0;
    for (int i = 0; i < res->n; i++) {
        const bench_json *e = &res->items[i];
        const char *name = jstr(e, "name"), *dev = jstr(e, "device"), *dt = jstr(e, "dtype");
        const bench_json *size = bench_json_get(e, "size"), *val = bench_json_get(e, "value");
        if (!name || !dev || !dt || !size || size->type != BENCH_JSON_NUMBER) continue;
        for (int k = 0; k < r->n; k++) {
            bench_result *x = &r->v[k];
            if (strcmp(x->name, name) || strcmp(x->device, dev) || strcmp(x->dtype, dt) || (double)x->size != size->number)
                continue;
            if (val && val->type == BENCH_JSON_NUMBER && isfinite(val->number) && val->number > 0) {
                x->torch = val->number;
                matched++;
            } else {
                const char *terr = jstr(e, "error");
                size_t used = strlen(x->note);
                if (terr && used + 10 < sizeof x->note)
                    snprintf(x->note + used, sizeof x->note - used, "%storch: %s", used ? "; " : "", terr);
            }
            break;
        }
    }
    bench_json_free(doc);
    return matched;
}

/* ---- running torch_ref.py -------------------------------------------------- */

static bool is_file(const char *p) {
    struct stat st;
    return p && stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* torch_ref.py: --torch-script, $NPG_BENCH_TORCH_REF, next to the binary, the source tree, ./bench */
static bool find_script(const bench_opts *o, char *out, size_t len) {
    if (o->torch_script) {
        snprintf(out, len, "%s", o->torch_script);
        return is_file(out);
    }
    const char *env = getenv("NPG_BENCH_TORCH_REF");
    if (env && is_file(env)) {
        snprintf(out, len, "%s", env);
        return true;
    }
    char exe[1024];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            snprintf(out, len, "%s/torch_ref.py", exe);
            if (is_file(out)) return true;
        }
    }
    snprintf(out, len, "%s/torch_ref.py", NPG_BENCH_SOURCE_DIR);
    if (is_file(out)) return true;
    snprintf(out, len, "bench/torch_ref.py");
    return is_file(out);
}

static char *read_all(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (n + 1 < cap) break;
        char *nb = realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    fclose(f);
    if (buf) buf[n] = 0;
    return buf;
}

/* Run python on the script; the child's stdout goes to our stderr. Returns
 * the exit status, 127 if it could not be started, -1 on a signal. */
static int run_child(const char *python, char *const argv[], int threads) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return 127;
    if (pid == 0) {
        char nt[16];
        snprintf(nt, sizeof nt, "%d", threads);
        setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
        setenv("OMP_NUM_THREADS", nt, 1);
        dup2(2, 1);
        execvp(python, argv);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int bench_torch_run(const bench_opts *o, bench_results *r, bench_machine *m) {
    if (o->no_torch) {
        snprintf(m->torch_note, sizeof m->torch_note, "skipped (--no-torch)");
        return -1;
    }
    if (r->n == 0) {
        snprintf(m->torch_note, sizeof m->torch_note, "not run (no workloads)");
        return -1;
    }
    char script[1200];
    if (!find_script(o, script, sizeof script)) {
        snprintf(m->torch_note, sizeof m->torch_note, "not run: torch_ref.py not found (pass --torch-script)");
        return -1;
    }
    char plan[] = "/tmp/npg-bench-plan-XXXXXX", out[] = "/tmp/npg-bench-torch-XXXXXX";
    int fdp = mkstemp(plan);
    if (fdp < 0) {
        snprintf(m->torch_note, sizeof m->torch_note, "not run: cannot create a temporary file");
        return -1;
    }
    int fdo = mkstemp(out);
    if (fdo < 0) {
        close(fdp);
        unlink(plan);
        snprintf(m->torch_note, sizeof m->torch_note, "not run: cannot create a temporary file");
        return -1;
    }
    close(fdo);
    FILE *pf = fdopen(fdp, "w");
    if (!pf) {
        close(fdp);
        unlink(plan);
        unlink(out);
        return -1;
    }
    for (int i = 0; i < r->n; i++)
        fprintf(pf, "%s %s %s %lld\n", r->v[i].name, r->v[i].device, r->v[i].dtype, (long long)r->v[i].size);
    fclose(pf);

    bench_timing tm = bench_timing_for(o);
    char threads[16], reps[16], min_rep[32], max_total[32];
    snprintf(threads, sizeof threads, "%d", m->threads);
    snprintf(reps, sizeof reps, "%d", tm.reps);
    snprintf(min_rep, sizeof min_rep, "%g", tm.min_rep_s);
    snprintf(max_total, sizeof max_total, "%g", tm.max_total_s);
    const char *cands[2] = {"/usr/bin/python3", "python3"};
    int ncand = 2;
    if (o->torch_python) {
        cands[0] = o->torch_python;
        ncand = 1;
    }
    int matched = -1;
    char tried[300] = "";
    for (int c = 0; c < ncand; c++) {
        size_t used = strlen(tried);
        bool missing = cands[c][0] == '/' && !is_file(cands[c]);
        snprintf(tried + used, sizeof tried - used, "%s%s%s", used ? ", " : "", cands[c], missing ? " (absent)" : "");
        if (missing) continue;
        char *argv[] = {(char *)cands[c], script, "--plan", plan, "--json", out, "--threads", threads, "--reps", reps,
                        "--min-time", min_rep, "--max-total", max_total, "--data", (char *)bench_data_dir(o),
                        (o->quick || o->tiny) ? "--quick" : NULL, NULL};
        bench_progress("running PyTorch: %s %s (OMP_WAIT_POLICY=PASSIVE, %s threads)", cands[c], script, threads);
        int rc = run_child(cands[c], argv, m->threads);
        if (rc == 3 || rc == 127) continue; /* no torch in that Python / no such Python */
        if (rc != 0) {
            snprintf(m->torch_note, sizeof m->torch_note, "torch_ref.py failed under %s (exit %d); see stderr",
                     cands[c], rc);
            break;
        }
        char *text = read_all(out);
        matched = text ? bench_torch_merge(text, r, m) : -1;
        free(text);
        if (matched < 0)
            snprintf(m->torch_note, sizeof m->torch_note, "torch_ref.py wrote no readable JSON (%s)", cands[c]);
        break;
    }
    if (matched < 0 && !m->has_torch && strncmp(m->torch_note, "torch_ref.py", 12) != 0)
        snprintf(m->torch_note, sizeof m->torch_note, "PyTorch not found (tried %.150s); npg/PyTorch ratios omitted",
                 tried);
    unlink(plan);
    unlink(out);
    return matched;
}
