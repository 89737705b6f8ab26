/* Minimal test harness: tests register themselves at load time, run in
 * file order, and the runner prints "N passed, N failed" as its last line.
 *
 *   TEST(f16_roundtrip) { CHECK(x == y); CHECK_MSG(d < tol, "max diff %g", d); }
 *
 * CHECK records a failure and continues; REQUIRE records and returns from
 * the test. A test with no failed check passes; SKIP(reason) marks a test
 * that cannot run here (counted apart, never as passed). */
#ifndef SDC_TESTS_HARNESS_H
#define SDC_TESTS_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef void (*sdc_test_fn)(void);

void sdc_test_register(const char *name, sdc_test_fn fn, const char *file);
void sdc_test_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void sdc_test_skip(const char *reason);
bool sdc_test_failed(void); /* has the running test failed so far */

#define TEST(name)                                                                                    \
    static void name(void);                                                                           \
    __attribute__((constructor)) static void register_##name(void) { sdc_test_register(#name, name, __FILE__); } \
    static void name(void)

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) sdc_test_fail(__FILE__, __LINE__, "check failed: %s", #cond); \
    } while (0)
#define CHECK_MSG(cond, ...)                                     \
    do {                                                         \
        if (!(cond)) sdc_test_fail(__FILE__, __LINE__, __VA_ARGS__); \
    } while (0)
#define REQUIRE(cond)                                                        \
    do {                                                                     \
        if (!(cond)) {                                                       \
            sdc_test_fail(__FILE__, __LINE__, "required: %s", #cond);        \
            return;                                                          \
        }                                                                    \
    } while (0)
#define REQUIRE_MSG(cond, ...)                                   \
    do {                                                         \
        if (!(cond)) {                                           \
            sdc_test_fail(__FILE__, __LINE__, __VA_ARGS__);      \
            return;                                              \
        }                                                        \
    } while (0)
#define SKIP(reason)          \
    do {                      \
        sdc_test_skip(reason); \
        return;               \
    } while (0)

/* Path of a file under the shared data folder (../shared, or $SDC_SHARED).
 * Returns a static buffer overwritten by the next call. */
const char *sdc_test_shared(const char *rel);
/* A fresh private temporary directory for this test run (created once,
 * removed at exit unless SDC_KEEP_TMP is set). Returns `dir/name`. */
const char *sdc_test_tmp(const char *name);

/* Deterministic pseudo-random numbers for test data (not the product RNG). */
typedef struct sdc_test_rng {
    uint64_t s;
} sdc_test_rng;
float sdc_test_uniform(sdc_test_rng *r, float lo, float hi);
float sdc_test_normal(sdc_test_rng *r);
void sdc_test_fill(sdc_test_rng *r, float *x, size_t n, float lo, float hi);

/* max |a - b| and whether |a - b| <= atol + rtol * |b| holds everywhere
 * (b is the reference). Prints the first mismatch on failure. */
typedef struct sdc_cmp {
    double max_abs, max_rel;
    size_t worst, n_bad;
    bool ok;
} sdc_cmp;
sdc_cmp sdc_test_compare(const float *a, const float *ref, size_t n, double atol, double rtol);

#endif
