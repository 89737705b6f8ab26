/* Test runner (see harness.h). Usage: sdc_tests [-v] [substring...]
 * Runs the tests whose name or file contains any of the substrings. */
#include "harness.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    const char *name, *file;
    sdc_test_fn fn;
} test_entry;

static test_entry *g_tests;
static int g_n, g_cap;
static int g_cur_failed, g_cur_skipped;
static char g_skip_reason[256];
static int g_fail_lines;

void sdc_test_register(const char *name, sdc_test_fn fn, const char *file) {
    if (g_n == g_cap) {
        g_cap = g_cap ? g_cap * 2 : 64;
        g_tests = realloc(g_tests, (size_t)g_cap * sizeof *g_tests);
        if (!g_tests) abort();
    }
    g_tests[g_n++] = (test_entry){name, file, fn};
}

void sdc_test_fail(const char *file, int line, const char *fmt, ...) {
    g_cur_failed = 1;
    if (++g_fail_lines > 20) return; /* keep the log readable */
    va_list ap;
    va_start(ap, fmt);
    printf("    %s:%d: ", file, line);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
}

void sdc_test_skip(const char *reason) {
    g_cur_skipped = 1;
    snprintf(g_skip_reason, sizeof g_skip_reason, "%s", reason);
}

bool sdc_test_failed(void) { return g_cur_failed != 0; }

const char *sdc_test_shared(const char *rel) {
    static char buf[4096];
    const char *root = getenv("SDC_SHARED");
    snprintf(buf, sizeof buf, "%s/%s", root ? root : "../shared", rel);
    return buf;
}

static char g_tmpdir[256];

static void remove_tmpdir(void) {
    if (!g_tmpdir[0] || getenv("SDC_KEEP_TMP")) return;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", g_tmpdir);
}

const char *sdc_test_tmp(const char *name) {
    static char buf[4096];
    if (!g_tmpdir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(g_tmpdir, sizeof g_tmpdir, "%s/sdc-test-XXXXXX", base ? base : "/tmp");
        if (!mkdtemp(g_tmpdir)) {
            perror("mkdtemp");
            abort();
        }
        atexit(remove_tmpdir);
    }
    snprintf(buf, sizeof buf, "%s/%s", g_tmpdir, name);
    return buf;
}

static uint64_t rng_next(sdc_test_rng *r) {
    /* splitmix64 */
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

float sdc_test_uniform(sdc_test_rng *r, float lo, float hi) {
    double u = (double)(rng_next(r) >> 11) * 0x1p-53;
    return (float)(lo + (hi - lo) * u);
}

float sdc_test_normal(sdc_test_rng *r) {
    double u1 = ((double)(rng_next(r) >> 11) + 1.0) * 0x1p-53, u2 = (double)(rng_next(r) >> 11) * 0x1p-53;
    return (float)(sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
}

void sdc_test_fill(sdc_test_rng *r, float *x, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++) x[i] = sdc_test_uniform(r, lo, hi);
}

sdc_cmp sdc_test_compare(const float *a, const float *ref, size_t n, double atol, double rtol) {
    sdc_cmp c = {0, 0, 0, 0, true};
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)ref[i]);
        if (isnan(a[i]) != isnan(ref[i])) d = INFINITY;
        else if (isnan(a[i])) d = 0;
        double rel = d / (fabs((double)ref[i]) + 1e-30);
        if (d > c.max_abs || (isinf(d) && !isinf(c.max_abs))) {
            c.max_abs = d;
            c.worst = i;
        }
        if (rel > c.max_rel && fabs(ref[i]) > atol) c.max_rel = rel;
        if (!(d <= atol + rtol * fabs((double)ref[i]))) {
            if (c.n_bad == 0)
                printf("    first mismatch at %zu: got %.9g, expected %.9g (diff %.3g)\n", i, a[i],
                        ref[i], d);
            c.n_bad++;
            c.ok = false;
        }
    }
    return c;
}

static bool selected(const test_entry *t, int argc, char **argv, int first) {
    if (first >= argc) return true;
    for (int i = first; i < argc; i++)
        if (strstr(t->name, argv[i]) || strstr(t->file, argv[i])) return true;
    return false;
}

int main(int argc, char **argv) {
    int first = 1, verbose = 0;
    if (argc > 1 && strcmp(argv[1], "-v") == 0) {
        verbose = 1;
        first = 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    int passed = 0, failed = 0, skipped = 0;
    for (int i = 0; i < g_n; i++) {
        test_entry *t = &g_tests[i];
        if (!selected(t, argc, argv, first)) continue;
        g_cur_failed = g_cur_skipped = g_fail_lines = 0;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (verbose) fprintf(stderr, "RUN  %s\n", t->name);
        t->fn();
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-6;
        if (g_cur_failed) {
            failed++;
            printf("FAIL %s (%s, %.0f ms)\n", t->name, t->file, ms);
        } else if (g_cur_skipped) {
            skipped++;
            printf("SKIP %s: %s\n", t->name, g_skip_reason);
        } else {
            passed++;
            printf("ok   %s (%.0f ms)\n", t->name, ms);
        }
    }
    if (skipped) printf("%d skipped\n", skipped);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
